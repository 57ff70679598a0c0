// Reference face chips from dlib itself, for tests/test_align.py (golden checksums).
//
//   dlib_ref_chips DATA_ROOT LANDMARKS.jsonl [--dump DIR] > tests/golden/dlib_chips.jsonl
//
// For the faces test_align.py compares (the first three faces of each image of
// openface-examples, dlib-examples and face_recognition-examples in
// tests/golden/dlib_landmarks_up1.jsonl, the first 40 in all), dlib's own chip:
// get_face_chip_details(full_object_detection(box, 68 points), 150, 0.25) and
// extract_image_chip on the stb_image-decoded RGB photo (the pixels the C tests see).
// One JSON line per face: image, face index, the chip's FNV-1a 64 and its per-channel sums;
// then the same for dlib's 5-point chip (fnv1a64_5, sum_5): get_face_chip_details of a
// 5-part full_object_detection holding points 45, 42, 36, 39, 33 (dlib's 5-point order).
// --dump DIR also writes each chip as DIR/N.rgb (150*150*3 bytes) for debugging.
//
// Build: make golden-chips (tools/mk/landmarks.mk).
#include <dlib/image_processing.h>
#include <dlib/image_transforms.h>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>
#include "dlib_load.h" // the pre-pass, then stb_image: the pixels the C tests see

using namespace dlib;

// the integers after "key":[ in s, from position pos (a tiny reader for our own golden files)
static std::vector<long> ints_after(const std::string &s, const std::string &key, size_t &pos) {
    std::vector<long> v;
    size_t k = s.find("\"" + key + "\":[", pos);
    if (k == std::string::npos) { pos = std::string::npos; return v; }
    k += key.size() + 4;
    while (k < s.size() && s[k] != ']') {
        char *end;
        long x = strtol(s.c_str() + k, &end, 10);
        if (end == s.c_str() + k) break;
        v.push_back(x);
        k = end - s.c_str();
        if (s[k] == ',') k++;
    }
    pos = k;
    return v;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: dlib_ref_chips DATA_ROOT LANDMARKS.jsonl [--dump DIR]\n");
        return 2;
    }
    std::string root = argv[1], dump = argc == 5 ? argv[4] : "";
    std::ifstream in(argv[2]);
    std::string line;
    int n = 0;
    while (std::getline(in, line) && n < 40) {
        size_t a = line.find("\"image\":\"");
        if (a == std::string::npos) continue;
        a += 9;
        std::string rel = line.substr(a, line.find('"', a) - a);
        std::string dir = rel.substr(0, rel.find('/'));
        if (dir != "openface-examples" && dir != "dlib-examples" && dir != "face_recognition-examples") continue;
        array2d<rgb_pixel> img;
        if (!load(root + "/" + rel, img)) { fprintf(stderr, "cannot read %s\n", rel.c_str()); return 1; }
        size_t pos = 0;
        for (int face = 0; face < 3 && n < 40; face++) {
            std::vector<long> box = ints_after(line, "box", pos);
            if (pos == std::string::npos || box.size() != 4) break;
            std::vector<long> pts = ints_after(line, "points", pos);
            if (pts.size() != 136) { fprintf(stderr, "%s: bad points\n", rel.c_str()); return 1; }
            std::vector<point> parts;
            for (int i = 0; i < 68; i++) parts.push_back(point(pts[2 * i], pts[2 * i + 1]));
            full_object_detection shape(rectangle(box[0], box[1], box[2], box[3]), parts);
            std::vector<point> parts5;
            for (int k : {45, 42, 36, 39, 33}) parts5.push_back(parts[k]);
            full_object_detection shape5(rectangle(box[0], box[1], box[2], box[3]), parts5);
            array2d<rgb_pixel> chip, chip5;
            extract_image_chip(img, get_face_chip_details(shape, 150, 0.25), chip);
            extract_image_chip(img, get_face_chip_details(shape5, 150, 0.25), chip5);
            unsigned long long h = 1469598103934665603ULL, h5 = h;
            unsigned long long sum[3] = {0, 0, 0}, sum5[3] = {0, 0, 0};
            std::vector<unsigned char> bytes;
            for (long y = 0; y < chip.nr(); y++)
                for (long x = 0; x < chip.nc(); x++) {
                    unsigned char px[3] = {chip[y][x].red, chip[y][x].green, chip[y][x].blue};
                    unsigned char p5[3] = {chip5[y][x].red, chip5[y][x].green, chip5[y][x].blue};
                    for (int c = 0; c < 3; c++) {
                        h = (h ^ px[c]) * 1099511628211ULL;
                        sum[c] += px[c];
                        bytes.push_back(px[c]);
                        h5 = (h5 ^ p5[c]) * 1099511628211ULL;
                        sum5[c] += p5[c];
                    }
                }
            if (!dump.empty()) {
                FILE *f = fopen((dump + "/" + std::to_string(n) + ".rgb").c_str(), "wb");
                if (f) { fwrite(bytes.data(), 1, bytes.size(), f); fclose(f); }
            }
            printf("{\"image\":\"%s\",\"face\":%d,\"size\":%ld,\"fnv1a64\":\"%016llx\",\"sum\":[%llu,%llu,%llu],"
                   "\"fnv1a64_5\":\"%016llx\",\"sum_5\":[%llu,%llu,%llu]}\n",
                   rel.c_str(), face, chip.nr(), h, sum[0], sum[1], sum[2], h5, sum5[0], sum5[1], sum5[2]);
            n++;
        }
    }
    fprintf(stderr, "dlib_ref_chips: %d chips\n", n);
    return n == 40 ? 0 : 1;
}
