// Detection speed: facenet.h against dlib's frontal face detector on the same images, measured
// interleaved in one process (image by image: ours, dlib, ours, dlib...) so machine load hits
// both alike. Built by tools/bench/bench_detect.sh with -O3 -march=native (dlib's best build).
// Usage: dlib_bench_detect WIDTH REPS UPSAMPLE IMAGE...   (WIDTH 0: native size)
// Prints per-image medians, totals, the ratio, and 2-thread throughput of each.
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "../../examples/image_load.h" // the validating pre-pass, then stb_image (JPEG, PNG)

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

static double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

struct Img {
    std::vector<unsigned char> rgb;
    int w, h;
    dlib::array2d<dlib::rgb_pixel> d;
};

static void run_dlib(dlib::frontal_face_detector &det, const Img &im, int up, std::vector<dlib::rect_detection> &out) {
    if (up == 0) { det(im.d, out, 0.0); return; }
    dlib::pyramid_down<2> pyr;
    dlib::array2d<dlib::rgb_pixel> t;
    dlib::pyramid_up(im.d, t, pyr);
    for (int l = 1; l < up; l++) dlib::pyramid_up(t);
    det(t, out, 0.0);
}

int main(int argc, char **argv) {
    if (argc < 5) { std::fprintf(stderr, "usage: %s WIDTH REPS UPSAMPLE IMAGE...\n", argv[0]); return 2; }
    const int width = std::atoi(argv[1]), reps = std::max(1, std::atoi(argv[2])), up = std::atoi(argv[3]);
    const char *wp = std::getenv("FNET_WEIGHTS");
    std::string blob = std::string(wp && *wp ? wp : "weights") + "/hog_frontal.fnet";
    fnet_model *m = nullptr;
    if (fnet_model_load_file(blob.c_str(), &m) != FNET_OK) { std::fprintf(stderr, "cannot load %s\n", blob.c_str()); return 1; }
    dlib::frontal_face_detector det = dlib::get_frontal_face_detector();
    std::vector<Img> imgs;
    for (int i = 4; i < argc; i++) {
        int w, h;
        unsigned char *px = il_load_pixels(argv[i], 3, &w, &h, NULL, 0);
        if (!px) continue;
        Img im;
        dlib::array2d<dlib::rgb_pixel> src(h, w);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) { const unsigned char *p = px + 3 * ((size_t)y * w + x); src[y][x] = dlib::rgb_pixel(p[0], p[1], p[2]); }
        stbi_image_free(px);
        if (width > 0 && width != w) {
            im.d.set_size((long)h * width / w, width);
            dlib::resize_image(src, im.d);
        } else {
            dlib::swap(im.d, src);
        }
        im.w = (int)im.d.nc(); im.h = (int)im.d.nr();
        im.rgb.resize((size_t)im.w * im.h * 3);
        for (int y = 0; y < im.h; y++)
            for (int x = 0; x < im.w; x++) {
                unsigned char *p = &im.rgb[3 * ((size_t)y * im.w + x)];
                p[0] = im.d[y][x].red; p[1] = im.d[y][x].green; p[2] = im.d[y][x].blue;
            }
        imgs.push_back(std::move(im));
    }
    if (imgs.empty()) { std::fprintf(stderr, "no images\n"); return 1; }
    fnet_detect_opts o = {up, 0.0f};
    size_t maxws = 0;
    for (auto &im : imgs) maxws = std::max(maxws, fnet_detect_workspace_size(m, im.w, im.h, &o));
    std::vector<unsigned char> work(maxws);
    double tot_ours = 0, tot_dlib = 0;
    int same = 0, total_boxes = 0;
    for (auto &im : imgs) {
        std::vector<double> to, td;
        fnet_box boxes[256];
        int nb = 0;
        std::vector<dlib::rect_detection> dd;
        for (int r = 0; r < reps; r++) {
            double t0 = now_ms();
            fnet_detect(m, fnet_image_view(im.rgb.data(), im.w, im.h, 3, 0), &o, work.data(), work.size(), boxes, 256, &nb);
            double t1 = now_ms();
            run_dlib(det, im, up, dd);
            double t2 = now_ms();
            to.push_back(t1 - t0);
            td.push_back(t2 - t1);
        }
        tot_ours += median(to);
        tot_dlib += median(td);
        total_boxes += (int)dd.size();
        if ((int)dd.size() == nb) same++;
    }
    int n = (int)imgs.size();
    std::printf("upsample %d, %d images of %dx%d..: facenet.h %.2f ms/image, dlib %.2f ms/image, dlib/ours %.2fx "
                "(single thread, medians of %d interleaved runs; isa %s; same box count on %d/%d images, dlib %d boxes)\n",
                up, n, imgs[0].w, imgs[0].h, tot_ours / n, tot_dlib / n, tot_dlib / tot_ours, reps,
                fnet_isa_name(fnet_model_get_isa(m)), same, n, total_boxes);
    // 2 threads over all images: each thread takes every other image, one workspace each
    for (int which = 0; which < 2; which++) {
        double t0 = now_ms();
        std::vector<std::thread> th;
        for (int t = 0; t < 2; t++)
            th.emplace_back([&, t]() {
                std::vector<unsigned char> w(maxws);
                dlib::frontal_face_detector d2 = det;
                for (int r = 0; r < reps; r++)
                    for (int i = t; i < n; i += 2) {
                        if (which == 0) {
                            fnet_box b[256]; int k;
                            fnet_detect(m, fnet_image_view(imgs[i].rgb.data(), imgs[i].w, imgs[i].h, 3, 0), &o, w.data(), w.size(), b, 256, &k);
                        } else {
                            std::vector<dlib::rect_detection> dd;
                            run_dlib(d2, imgs[i], up, dd);
                        }
                    }
            });
        for (auto &t : th) t.join();
        double ms = (now_ms() - t0) / (reps * n);
        std::printf("  2 threads: %s %.2f ms/image (throughput)\n", which == 0 ? "facenet.h" : "dlib     ", ms);
    }
    fnet_model_free(m);
    return 0;
}
