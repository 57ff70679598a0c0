// Landmarks benchmark, dlib side: deserialize time of shape_predictor_68_face_landmarks.dat
// and ms per face of shape_predictor on the same faces and boxes as tools/bench/bench_landmarks.c
// (golden boxes, images decoded with stb_image). Built -O3 -march=native (dlib's best case).
//   dlib_bench_landmarks DAT DATA_ROOT GOLDEN.jsonl ROUNDS
#include <dlib/image_processing.h>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include "../../examples/image_load.h" // the validating pre-pass, then stb_image (JPEG, PNG)
using namespace dlib;

static double now_ms() { /* CPU time of this single-threaded process: the machine may be shared */
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 5) { std::fprintf(stderr, "usage: dlib_bench_landmarks DAT DATA_ROOT GOLDEN ROUNDS\n"); return 2; }
    int rounds = std::atoi(argv[4]);
    std::vector<array2d<rgb_pixel> *> imgs;
    std::vector<std::pair<int, rectangle> > faces;
    std::ifstream g(argv[3]);
    std::string line;
    while (std::getline(g, line)) {
        size_t p = line.find("\"image\":\"");
        if (p == std::string::npos) continue;
        p += 9;
        std::string rel = line.substr(p, line.find('"', p) - p);
        if (rel.compare(0, 14, "wider-val-dev/") == 0) continue;
        int w, h;
        unsigned char *px = il_load_pixels((std::string(argv[2]) + "/" + rel).c_str(), 3, &w, &h, NULL, 0);
        if (!px) continue;
        array2d<rgb_pixel> *im = new array2d<rgb_pixel>(h, w);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const unsigned char *q = px + 3 * ((size_t)y * w + x);
                (*im)[y][x] = rgb_pixel(q[0], q[1], q[2]);
            }
        stbi_image_free(px);
        imgs.push_back(im);
        for (size_t b = line.find("\"box\":["); b != std::string::npos; b = line.find("\"box\":[", b + 1)) {
            long l, t, r, bt;
            if (std::sscanf(line.c_str() + b + 7, "%ld,%ld,%ld,%ld", &l, &t, &r, &bt) == 4)
                faces.push_back(std::make_pair((int)imgs.size() - 1, rectangle(l, t, r, bt)));
        }
    }
    shape_predictor sp;
    double best_load = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = now_ms();
        deserialize(argv[1]) >> sp;
        t = now_ms() - t;
        if (t < best_load) best_load = t;
    }
    long checksum = 0;
    double best = 1e30, best_wall = 1e30;
    for (int r = -1; r < rounds; r++) {
        long s = 0;
        auto w0 = std::chrono::steady_clock::now();
        double t = now_ms();
        for (auto &f : faces) {
            full_object_detection d = sp(*imgs[f.first], f.second);
            for (unsigned long k = 0; k < d.num_parts(); k++) s += d.part(k).x() + d.part(k).y();
        }
        t = (now_ms() - t) / faces.size();
        double w = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count() / faces.size();
        if (r >= 0 && t < best) best = t;
        if (r >= 0 && w < best_wall) best_wall = w;
        checksum = s;
    }
    std::printf("faces %zu\ndeserialize_ms %.4f\nms_per_face %.4f\nwall_ms_per_face %.4f\nchecksum %ld\n", faces.size(),
                best_load, best, best_wall, checksum);
    return 0;
}
