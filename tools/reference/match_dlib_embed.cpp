// match_dlib_embed - fills an embedding cache (examples/embcache.h format and keys) with
// ResNet embeddings of faces found and aligned by dlib itself (frontal_face_detector with
// one upsampling, shape_predictor_68, get_face_chip_details(shape, 150, 0.25) +
// extract_image_chip), embedded by facenet.h's engine. tools/eval/eval_match then runs on
// that cache (--cache build/embcache-dlib): the matching figures with dlib's front end,
// to compare with facenet.h's own pipeline and to have figures before it is complete.
//   build/match_dlib_embed WEIGHTS_DIR CACHE_DIR IMAGE_OR_DIR...   (folders: recursively)
// Same keys as embcache (network resnet, upsample 1, central-box fallback on), so the
// cache answers exactly where eval_match would have run facenet.h's pipeline.
#define _POSIX_C_SOURCE 200809L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "../../examples/image_load.h" // the validating pre-pass, then stb_image (JPEG, PNG)
#include "examples/embcache.h"
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <algorithm>
#include <string>
#include <vector>

static void collect(const std::string &p, std::vector<std::string> &out) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) { out.push_back(p); return; }
    char **list = NULL;
    int n = ec_list(p.c_str(), 0, &list);
    for (int i = 0; i < n; i++) out.push_back(p + "/" + list[i]);
    ec_free_list(list, n);
    n = ec_list(p.c_str(), 1, &list);
    for (int i = 0; i < n; i++) collect(p + "/" + list[i], out);
    ec_free_list(list, n);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: match_dlib_embed WEIGHTS_DIR CACHE_DIR IMAGE_OR_DIR...\n");
        return 2;
    }
    embcache ec;
    if (!ec_open(&ec, argv[1], "resnet", argv[2])) return 1;
    ec.centre_fallback = 1;
    std::vector<std::string> paths;
    for (int i = 3; i < argc; i++) collect(argv[i], paths);
    dlib::frontal_face_detector det = dlib::get_frontal_face_detector();
    dlib::shape_predictor sp;
    dlib::deserialize("/usr/share/dlib/shape_predictor_68_face_landmarks.dat") >> sp;
    int done = 0, fallback = 0;
    for (size_t i = 0; i < paths.size(); i++) {
        unsigned long long key = ec__key(&ec, paths[i].c_str());
        static ec_result r;
        if (ec__cache_read(&ec, key, &r)) continue;
        int w, h;
        unsigned char *px = il_load_pixels(paths[i].c_str(), 3, &w, &h, NULL, 0);
        if (!px) { std::fprintf(stderr, "%s: cannot decode\n", paths[i].c_str()); continue; }
        dlib::matrix<dlib::rgb_pixel> img(h, w), up;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const unsigned char *p = px + ((size_t)y * w + x) * 3;
                img(y, x) = dlib::rgb_pixel(p[0], p[1], p[2]);
            }
        stbi_image_free(px);
        up = img;
        dlib::pyramid_up(up); // upsample 1, as face_recognition and the fnet CLI
        std::vector<dlib::rectangle> boxes;
        for (auto &d : det(up)) boxes.push_back(dlib::rectangle(d.left() / 2, d.top() / 2, d.right() / 2, d.bottom() / 2));
        std::memset(&r, 0, sizeof r);
        r.width = w;
        r.height = h;
        int fb = 0;
        if (boxes.empty()) {
            int side = (int)(0.43 * std::min(w, h)), l = (w - side) / 2, t = (h - side) / 2;
            boxes.push_back(dlib::rectangle(l, t, l + side - 1, t + side - 1));
            fb = 1;
            fallback++;
        }
        for (size_t k = 0; k < boxes.size() && k < EC_MAX_FACES; k++) {
            dlib::full_object_detection s = sp(img, boxes[k]);
            dlib::matrix<dlib::rgb_pixel> chip;
            dlib::extract_image_chip(img, dlib::get_face_chip_details(s, 150, 0.25), chip);
            std::vector<unsigned char> buf(150 * 150 * 3);
            for (int y = 0; y < 150; y++)
                for (int x = 0; x < 150; x++) {
                    buf[(y * 150 + x) * 3] = chip(y, x).red;
                    buf[(y * 150 + x) * 3 + 1] = chip(y, x).green;
                    buf[(y * 150 + x) * 3 + 2] = chip(y, x).blue;
                }
            ec_face *f = &r.face[r.n++];
            f->box.left = boxes[k].left(); f->box.top = boxes[k].top();
            f->box.right = boxes[k].right(); f->box.bottom = boxes[k].bottom();
            f->fallback = fb;
            fnet_result res = fnet_embed(ec.net, buf.data(), NULL, 0, f->emb);
            if (res != FNET_OK) { std::fprintf(stderr, "embed: %s\n", fnet_result_string(res)); return 1; }
        }
        ec__cache_write(&ec, key, &r);
        if (++done % 100 == 0) std::fprintf(stderr, "%d/%zu\n", done, paths.size());
    }
    std::fprintf(stderr, "%zu images, %d embedded now, %d with the central-box fallback\n", paths.size(), done, fallback);
    ec_close(&ec);
    return 0;
}
