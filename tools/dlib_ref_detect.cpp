// dlib's frontal face detector on every image (jpg, jpeg, png) under the given folders, as
// dlib's Python binding runs it: the image as RGB, pyramid_up N times for upsample N, detect,
// boxes mapped back with pyramid_down<2>::rect_down(rect, N). One JSON line per image:
//   {"image":"data/..","width":W,"height":H,"boxes":[[l,t,r,b],..],"scores":[..],"weight_index":[..]}
// Usage: dlib_ref_detect SHARED_ROOT UPSAMPLE DIR...   (DIR relative to SHARED_ROOT)
// Built by tools/detect.mk (make golden-detect) with -O2 -ffp-contract=off: fused
// multiply-adds change dlib's image resampling and therefore its boxes.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#include <stb_image.h>

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

int main(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s SHARED_ROOT UPSAMPLE DIR...\n", argv[0]);
        return 2;
    }
    std::string root = argv[1];
    unsigned up = (unsigned)std::atoi(argv[2]);
    std::vector<std::string> files;
    for (int i = 3; i < argc; i++) walk(root, argv[i], files);
    dlib::frontal_face_detector det = dlib::get_frontal_face_detector();
    dlib::pyramid_down<2> pyr;
    for (const std::string &f : files) {
        int w, h, n;
        unsigned char *px = stbi_load((root + "/" + f).c_str(), &w, &h, &n, 3);
        if (!px) { std::fprintf(stderr, "cannot load %s\n", f.c_str()); continue; }
        dlib::array2d<dlib::rgb_pixel> img(h, w);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const unsigned char *p = px + 3 * ((size_t)y * w + x);
                img[y][x] = dlib::rgb_pixel(p[0], p[1], p[2]);
            }
        stbi_image_free(px);
        std::vector<dlib::rect_detection> dets;
        if (up == 0) {
            det(img, dets, 0.0);
        } else {
            dlib::array2d<dlib::rgb_pixel> temp;
            dlib::pyramid_up(img, temp, pyr);
            for (unsigned l = 1; l < up; l++) dlib::pyramid_up(temp);
            det(temp, dets, 0.0);
            for (auto &d : dets) d.rect = pyr.rect_down(d.rect, up);
        }
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
