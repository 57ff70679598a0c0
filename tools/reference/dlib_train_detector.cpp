// dlib's HOG detector trainer as examples/fhog_object_detector_ex.cpp runs it, on an imglab XML
// dataset: the reference for `fnet train-detector` (issue 15).
//   load the images (stb_image, so both programs see the same pixels; --gray: 8-bit gray as
//   the example's array2d<unsigned char>), upsample_image_dataset<pyramid_down<2>> N times,
//   add_image_left_right_flips, scan_fhog_pyramid<pyramid_down<6>> with an 80x80 window
//   (padding 0: the frontal face detector's layout, 10x10 cells), structural_object_detection_
//   trainer with C, epsilon and the thread count; then test_object_detection_function on the
//   training set and on the test set (upsampled like the training set, not flipped).
// Usage: dlib_train_detector TRAIN.xml TEST.xml WEIGHTS_OUT [--gray] [--threads N] [--C c]
//        [--epsilon e] [--upsample n] [--noflip] [--verbose]
// stdout: one JSON object (train and test precision/recall/AP, training seconds, the overlap
// tester). WEIGHTS_OUT: the learned w, one number per line (31 planes x 10 x 10 plane-major,
// then the threshold), %.17g.
// Built by tools/mk/train_detector.mk with -O2 -ffp-contract=off.
#include "../../examples/image_load.h" // the validating pre-pass, then stb_image (JPEG, PNG)

#include <dlib/data_io.h>
#include <dlib/image_processing.h>
#include <dlib/svm_threaded.h>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace dlib;

template <typename image_type>
static int load_set(const std::string &xml, bool gray, unsigned up, bool flip, dlib::array<image_type> &images,
                    std::vector<std::vector<rectangle>> &boxes, std::vector<std::vector<rectangle>> &ignore) {
    image_dataset_metadata::dataset data;
    image_dataset_metadata::load_image_dataset_metadata(data, xml);
    std::string dir = xml.substr(0, xml.find_last_of('/') == std::string::npos ? 0 : xml.find_last_of('/') + 1);
    images.clear();
    boxes.clear();
    ignore.clear();
    for (const auto &im : data.images) {
        int w, h;
        std::string path = im.filename[0] == '/' ? im.filename : dir + im.filename;
        unsigned char *px = il_load_pixels(path.c_str(), gray ? 1 : 3, &w, &h, NULL, 0);
        if (!px) {
            std::fprintf(stderr, "cannot load %s\n", path.c_str());
            return 0;
        }
        image_type img;
        img.set_size(h, w);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const unsigned char *p = px + (size_t)(gray ? 1 : 3) * ((size_t)y * w + x);
                assign_pixel(img[y][x], gray ? (unsigned char)p[0] : p[0]);
                if (!gray) assign_pixel(img[y][x], rgb_pixel(p[0], p[1], p[2]));
            }
        stbi_image_free(px);
        images.push_back(std::move(img));
        std::vector<rectangle> b, ig;
        for (const auto &bx : im.boxes) (bx.ignore ? ig : b).push_back(bx.rect);
        boxes.push_back(b);
        ignore.push_back(ig);
    }
    for (unsigned i = 0; i < up; i++) upsample_image_dataset<pyramid_down<2>>(images, boxes, ignore);
    if (flip) add_image_left_right_flips(images, boxes, ignore);
    return 1;
}

template <typename image_type>
static int run(int argc, char **argv, bool gray) {
    unsigned threads = 1, up = 1;
    double C = 1, eps = 0.01;
    bool flip = true, verbose = false;
    for (int i = 4; i < argc; i++) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = (unsigned)std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--C") && i + 1 < argc) C = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--epsilon") && i + 1 < argc) eps = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--upsample") && i + 1 < argc) up = (unsigned)std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--noflip")) flip = false;
        else if (!std::strcmp(argv[i], "--verbose")) verbose = true;
    }
    dlib::array<image_type> train, test;
    std::vector<std::vector<rectangle>> tb, ti, sb, si;
    if (!load_set(argv[1], gray, up, flip, train, tb, ti) || !load_set(argv[2], gray, up, false, test, sb, si))
        return 1;
    typedef scan_fhog_pyramid<pyramid_down<6>> image_scanner_type;
    image_scanner_type scanner;
    scanner.set_detection_window_size(80, 80);
    scanner.set_padding(0);
    structural_object_detection_trainer<image_scanner_type> trainer(scanner);
    trainer.set_num_threads(threads);
    trainer.set_c(C);
    trainer.set_epsilon(eps);
    if (verbose) trainer.be_verbose(); /* on stdout, before the JSON line */
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t c0 = std::clock();
    object_detector<image_scanner_type> det = trainer.train(train, tb, ti);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu = (double)(std::clock() - c0) / CLOCKS_PER_SEC; /* all threads */
    matrix<double, 1, 3> rtr = test_object_detection_function(det, train, tb, ti);
    matrix<double, 1, 3> rte = test_object_detection_function(det, test, sb, si);
    FILE *f = std::fopen(argv[3], "w");
    if (!f) return 1;
    const matrix<double, 0, 1> &w = det.get_w();
    for (long i = 0; i < w.size(); i++) std::fprintf(f, "%.17g\n", w(i));
    std::fclose(f);
    std::printf("{\"train\":{\"precision\":%.17g,\"recall\":%.17g,\"ap\":%.17g},"
                "\"test\":{\"precision\":%.17g,\"recall\":%.17g,\"ap\":%.17g},"
                "\"seconds\":%.3f,\"cpu_seconds\":%.3f,\"threads\":%u,\"images\":%lu,\"iou_thresh\":%.17g,"
                "\"percent_covered_thresh\":%.17g,\"dims\":%ld}\n",
                rtr(0), rtr(1), rtr(2), rte(0), rte(1), rte(2), secs, cpu, threads, (unsigned long)train.size(),
                det.get_overlap_tester().get_iou_thresh(), det.get_overlap_tester().get_percent_covered_thresh(),
                (long)w.size());
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s TRAIN.xml TEST.xml WEIGHTS_OUT [--gray] [--threads N] [--C c] "
                             "[--epsilon e] [--upsample n] [--noflip]\n", argv[0]);
        return 2;
    }
    bool gray = false;
    for (int i = 4; i < argc; i++)
        if (!std::strcmp(argv[i], "--gray")) gray = true;
    try {
        return gray ? run<array2d<unsigned char>>(argc, argv, true) : run<array2d<rgb_pixel>>(argc, argv, false);
    } catch (std::exception &e) {
        std::fprintf(stderr, "dlib: %s\n", e.what());
        return 1;
    }
}
