// dlib's shape_predictor_trainer on an imglab dataset: the reference that fnet train-landmarks
// (facenet.h section 2b) is compared with in tools/bench/bench_train_landmarks.sh.
//
//   dlib_train_shape TRAIN.xml TEST.xml [--out SP.dat] [--cascade N] [--trees N] [--depth N]
//                    [--nu X] [--oversampling N] [--features N] [--lambda X] [--splits N]
//                    [--padding X] [--threads N] [--seed TEXT]
//
// Faces as dlib's load_image_dataset makes them: every box not ignore='1', its parts in the
// order of the sorted part names, missing parts OBJECT_PART_NOT_PRESENT. Images are decoded
// with stb_image as RGB (the pixels fnet's CLI sees; dlib's features are (r+g+b)/3 of an
// rgb_pixel image, as of the gray image its example converts to). One JSON line on stdout:
// the training time, and the training and testing errors measured as test_shape_predictor
// does with dlib's example normaliser (eye centres, points 36-41 / 42-47: "mean_error") and
// with the outer eye corners (36, 45; 5-point models 0, 2: "nme_outer_corners").
//
// Build: make build/dlib_train_shape (tools/mk/landmarks.mk: -O2 -ffp-contract=off).
#include <dlib/image_processing.h>
#include <dlib/data_io.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include "../../examples/image_load.h" // the validating pre-pass, then stb_image (JPEG, PNG)

using namespace dlib;

static std::string dir_of(const std::string &p) {
    size_t k = p.find_last_of('/');
    return k == std::string::npos ? std::string(".") : p.substr(0, k);
}

static void load(const std::string &xml, dlib::array<array2d<rgb_pixel>> &images,
                 std::vector<std::vector<full_object_detection>> &objects) {
    image_dataset_metadata::dataset d;
    image_dataset_metadata::load_image_dataset_metadata(d, xml);
    std::set<std::string> names;
    for (auto &im : d.images)
        for (auto &b : im.boxes)
            for (auto &p : b.parts) names.insert(p.first);
    std::vector<std::string> order(names.begin(), names.end());
    images.clear();
    objects.clear();
    for (auto &im : d.images) {
        std::vector<full_object_detection> faces;
        for (auto &b : im.boxes) {
            if (b.ignore) continue;
            std::vector<point> parts;
            for (auto &n : order) {
                auto it = b.parts.find(n);
                parts.push_back(it == b.parts.end() ? OBJECT_PART_NOT_PRESENT : it->second);
            }
            faces.push_back(full_object_detection(b.rect, parts));
        }
        if (faces.empty()) continue;
        std::string path = im.filename[0] == '/' ? im.filename : dir_of(xml) + "/" + im.filename;
        int w, h;
        unsigned char *px = il_load_pixels(path.c_str(), 3, &w, &h, NULL, 0);
        if (!px) { fprintf(stderr, "cannot read %s\n", path.c_str()); exit(1); }
        images.resize(images.size() + 1);
        array2d<rgb_pixel> &a = images[images.size() - 1];
        a.set_size(h, w);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const unsigned char *q = px + ((size_t)y * w + x) * 3;
                a[y][x] = rgb_pixel(q[0], q[1], q[2]);
            }
        stbi_image_free(px);
        objects.push_back(faces);
    }
}

struct errs { double centres, outer, px; int faces; };

static errs test(const shape_predictor &sp, const dlib::array<array2d<rgb_pixel>> &images,
                 const std::vector<std::vector<full_object_detection>> &objects) {
    errs e = {0, 0, 0, 0};
    long cnt = 0;
    for (size_t i = 0; i < images.size(); i++)
        for (auto &t : objects[i]) {
            full_object_detection det = sp(images[i], t.get_rect());
            unsigned long N = t.num_parts();
            double dc = 1, doo = 1;
            if (N == 68) {
                dlib::vector<double, 2> l, r;
                for (int k = 36; k < 42; k++) l += t.part(k);
                for (int k = 42; k < 48; k++) r += t.part(k);
                dc = length(l / 6 - r / 6);
            }
            if (N == 68) doo = length(t.part(36) - t.part(45));
            if (N == 5) doo = length(t.part(0) - t.part(2));
            for (unsigned long k = 0; k < N; k++) {
                if (t.part(k) == OBJECT_PART_NOT_PRESENT) continue;
                double d = length(det.part(k) - t.part(k));
                e.px += d; e.centres += d / dc; e.outer += d / doo;
                cnt++;
            }
            e.faces++;
        }
    if (cnt) { e.px /= cnt; e.centres /= cnt; e.outer /= cnt; }
    return e;
}

static void print(const char *key, const errs &e, unsigned long N) {
    printf("\"%s\":{\"faces\":%d,\"mean_error\":", key, e.faces);
    if (N == 68) printf("%.6f", e.centres); else printf("null");
    printf(",\"nme_outer_corners\":");
    if (N == 68 || N == 5) printf("%.6f", e.outer); else printf("null");
    printf(",\"mean_error_px\":%.4f}", e.px);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: dlib_train_shape TRAIN.xml TEST.xml [--out SP.dat] [options]\n");
        return 2;
    }
    shape_predictor_trainer tr;
    std::string out;
    unsigned long threads = 1;
    for (int i = 3; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        const char *v = argv[i + 1];
        if (a == "--out") out = v;
        else if (a == "--cascade") tr.set_cascade_depth(atol(v));
        else if (a == "--trees") tr.set_num_trees_per_cascade_level(atol(v));
        else if (a == "--depth") tr.set_tree_depth(atol(v));
        else if (a == "--nu") tr.set_nu(atof(v));
        else if (a == "--oversampling") tr.set_oversampling_amount(atol(v));
        else if (a == "--features") tr.set_feature_pool_size(atol(v));
        else if (a == "--lambda") tr.set_lambda(atof(v));
        else if (a == "--splits") tr.set_num_test_splits(atol(v));
        else if (a == "--padding") tr.set_feature_pool_region_padding(atof(v));
        else if (a == "--threads") threads = atol(v);
        else if (a == "--seed") tr.set_random_seed(v);
        else { fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
    }
    tr.set_num_threads(threads);
    dlib::array<array2d<rgb_pixel>> itr, ite;
    std::vector<std::vector<full_object_detection>> otr, ote;
    load(argv[1], itr, otr);
    load(argv[2], ite, ote);
    auto t0 = std::chrono::steady_clock::now();
    shape_predictor sp = tr.train(itr, otr);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out.empty()) serialize(out) << sp;
    unsigned long N = sp.num_parts();
    int faces = 0;
    for (auto &v : otr) faces += (int)v.size();
    printf("{\"tool\":\"dlib shape_predictor_trainer\",\"faces\":%d,\"points\":%lu,\"threads\":%lu,\"seconds\":%.2f,"
           "\"cascade\":%lu,\"trees\":%lu,\"depth\":%lu,\"nu\":%g,\"oversampling\":%lu,\"features\":%lu,"
           "\"lambda\":%g,\"splits\":%lu,\"seed\":\"%s\",",
           faces, N, threads, secs, tr.get_cascade_depth(), tr.get_num_trees_per_cascade_level(),
           tr.get_tree_depth(), tr.get_nu(), tr.get_oversampling_amount(), tr.get_feature_pool_size(),
           tr.get_lambda(), tr.get_num_test_splits(), tr.get_random_seed().c_str());
    print("train", test(sp, itr, otr), N);
    putchar(',');
    print("test", test(sp, ite, ote), N);
    printf("}\n");
    return 0;
}
