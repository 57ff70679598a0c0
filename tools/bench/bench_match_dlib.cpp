// The peer of tools/bench/bench_match.c with dlib's types: the gallery as
// std::vector<dlib::matrix<float,0,1>> and dlib::length(a - b) per entry (what dlib's
// dnn_face_recognition_ex and face_recognition's face_distance do), keeping the top 5.
// Reads build/bench_match.f32 written by bench_match. Prints "name ms".
#include <dlib/matrix.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

int main(int argc, char **argv) {
    const int NG = 10000, NP = 200, D = 128;
    int reps = argc > 1 ? std::atoi(argv[1]) : 5;
    std::vector<float> raw((size_t)(NG + NP) * D);
    FILE *f = std::fopen("build/bench_match.f32", "rb");
    if (!f || std::fread(raw.data(), sizeof(float), raw.size(), f) != raw.size()) return 1;
    std::fclose(f);
    std::vector<dlib::matrix<float, 0, 1>> v(NG + NP);
    for (int i = 0; i < NG + NP; i++) {
        v[i].set_size(D);
        for (int j = 0; j < D; j++) v[i](j) = raw[(size_t)i * D + j];
    }
    double best = 1e30, checksum = 0;
    for (int r = 0; r < reps; r++) {
        auto t0 = std::chrono::steady_clock::now();
        for (int p = 0; p < NP; p++) {
            std::vector<std::pair<float, int>> d(NG);
            for (int i = 0; i < NG; i++) d[i] = {dlib::length(v[i] - v[NG + p]), i};
            std::partial_sort(d.begin(), d.begin() + 5, d.end());
            checksum += d[0].second;
        }
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / NP;
        best = std::min(best, ms);
    }
    std::printf("identify_10k_top5 %.4f\nidentify_checksum %.0f\n", best, checksum / reps);
    return 0;
}
