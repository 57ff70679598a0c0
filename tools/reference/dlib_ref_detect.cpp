// dlib's frontal face detector on every image (jpg, jpeg, png) under the given folders, as
// dlib's Python binding runs it: the image as RGB, pyramid_up N times for upsample N, detect,
// boxes mapped back with pyramid_down<2>::rect_down(rect, N). One JSON line per image:
//   {"image":"data/..","width":W,"height":H,"boxes":[[l,t,r,b],..],"scores":[..],"weight_index":[..]}
// Usage: dlib_ref_detect SHARED_ROOT UPSAMPLE [--gray] DIR...   (DIR relative to SHARED_ROOT)
//   --gray: decode the images as 8-bit gray (stb_image) and run dlib on array2d<unsigned char>.
// Built by tools/mk/detect.mk (make golden-detect) with -O2 -ffp-contract=off: fused
// multiply-adds change dlib's image resampling and therefore its boxes.
#include "../../examples/image_load.h" // the validating pre-pass, then stb_image (JPEG, PNG)

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <string>
#include <sys/stat.h>
#include <vector>

static void walk(const std::string &root, const std::string &rel, std::vector<std::string> &out) {
    DIR *d = opendir((root + "/" + rel).c_str());
    if (!d) return;
    std::vector<std::string> names;
    while (struct dirent *e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        names.push_back(e->d_name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string &n : names) {
        std::string r = rel + "/" + n;
        struct stat st;
        if (stat((root + "/" + r).c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) { walk(root, r, out); continue; }
        std::string low = n;
        for (char &c : low) c = (char)std::tolower((unsigned char)c);
        size_t dot = low.rfind('.');
        if (dot == std::string::npos) continue;
        std::string ext = low.substr(dot);
        if (ext == ".jpg" || ext == ".jpeg" || ext == ".png") out.push_back(r);
    }
}

template <typename image_type>
static void run(dlib::frontal_face_detector &det, const image_type &img, unsigned up,
                std::vector<dlib::rect_detection> &dets) {
    dlib::pyramid_down<2> pyr;
    if (up == 0) {
        det(img, dets, 0.0);
        return;
    }
    image_type temp;
    dlib::pyramid_up(img, temp, pyr);
    for (unsigned l = 1; l < up; l++) dlib::pyramid_up(temp);
    det(temp, dets, 0.0);
    for (auto &d : dets) d.rect = pyr.rect_down(d.rect, up);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s SHARED_ROOT UPSAMPLE DIR...\n", argv[0]);
        return 2;
    }
    std::string root = argv[1];
    unsigned up = (unsigned)std::atoi(argv[2]);
    std::vector<std::string> files;
    bool gray = false;
    for (int i = 3; i < argc; i++) {
        if (std::strcmp(argv[i], "--gray") == 0) gray = true;
        else walk(root, argv[i], files);
    }
    dlib::frontal_face_detector det = dlib::get_frontal_face_detector();
    for (const std::string &f : files) {
        int w, h;
        unsigned char *px = il_load_pixels((root + "/" + f).c_str(), gray ? 1 : 3, &w, &h, NULL, 0);
        if (!px) { std::fprintf(stderr, "cannot load %s\n", f.c_str()); continue; }
        std::vector<dlib::rect_detection> dets;
        if (gray) {
            dlib::array2d<unsigned char> img(h, w);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) img[y][x] = px[(size_t)y * w + x];
            run(det, img, up, dets);
        } else {
            dlib::array2d<dlib::rgb_pixel> img(h, w);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    const unsigned char *p = px + 3 * ((size_t)y * w + x);
                    img[y][x] = dlib::rgb_pixel(p[0], p[1], p[2]);
                }
            run(det, img, up, dets);
        }
        stbi_image_free(px);
        std::printf("{\"image\":\"%s\",\"width\":%d,\"height\":%d,\"boxes\":[", f.c_str(), w, h);
        for (size_t i = 0; i < dets.size(); i++)
            std::printf("%s[%ld,%ld,%ld,%ld]", i ? "," : "", dets[i].rect.left(), dets[i].rect.top(),
                        dets[i].rect.right(), dets[i].rect.bottom());
        std::printf("],\"scores\":[");
        for (size_t i = 0; i < dets.size(); i++)
            std::printf("%s%.9g", i ? "," : "", dets[i].detection_confidence);
        std::printf("],\"weight_index\":[");
        for (size_t i = 0; i < dets.size(); i++) std::printf("%s%lu", i ? "," : "", dets[i].weight_index);
        std::printf("]}\n");
        std::fflush(stdout);
    }
    return 0;
}
