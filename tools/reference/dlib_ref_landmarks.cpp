// Reference landmarks from dlib itself, for tests/test_landmarks.c (golden files).
//
//   dlib_ref_landmarks photos DATA_ROOT SHAPE.dat REL...  > tests/golden/dlib_landmarks_up1.jsonl
//   dlib_ref_landmarks lfpw   DATA_ROOT SHAPE.dat         > tests/golden/dlib_landmarks_lfpw.jsonl
//
// Images are decoded with stb_image (as 3-channel RGB: alpha dropped), exactly as the C tests
// decode them, so both sides see the same pixels. Faces come from dlib's frontal face
// detector run the way dlib's Python binding runs detector(img, 1): pyramid_up the image,
// detect, map the boxes back with pyramid_down<2>::rect_down. Then shape_predictor(img, box) on
// the original RGB image; dlib rounds the points to whole pixels.
//
// lfpw: per image the detection that overlaps the ground-truth points' bounding box most
// (IoU >= 0.3); where dlib finds none, the box is that bounding box itself (rounded to
// whole pixels; "gt_box":1). Prints dlib's NME (mean point error / outer-eye-corner distance
// 36-45, averaged over images) on stderr.
//
// Build: make golden-landmarks (-O2 -ffp-contract=off, no -march=native: FMA changes dlib's
// floats and so some rounded points).
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include "dlib_load.h" // the pre-pass, then stb_image: the pixels the C tests see

using namespace dlib;

static std::vector<rectangle> detect_up1(frontal_face_detector &det, const array2d<rgb_pixel> &img) {
    pyramid_down<2> pyr;
    array2d<rgb_pixel> up;
    pyramid_up(img, up, pyr);
    std::vector<rectangle> r = det(up);
    for (auto &b : r) b = pyr.rect_down(b);
    return r;
}

static void print_shape(const full_object_detection &s) {
    std::printf("\"points\":[");
    for (unsigned long i = 0; i < s.num_parts(); i++)
        std::printf("%s%ld,%ld", i ? "," : "", s.part(i).x(), s.part(i).y());
    std::printf("]");
}

int main(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s photos|lfpw DATA_ROOT SHAPE.dat [REL...]\n", argv[0]);
        return 2;
    }
    std::string mode = argv[1], root = argv[2];
    shape_predictor sp;
    deserialize(argv[3]) >> sp;
    frontal_face_detector det = get_frontal_face_detector();
    if (mode == "photos") {
        for (int a = 4; a < argc; a++) {
            array2d<rgb_pixel> img;
            if (!load(root + "/" + argv[a], img)) { std::fprintf(stderr, "cannot load %s\n", argv[a]); continue; }
            std::vector<rectangle> boxes = detect_up1(det, img);
            std::printf("{\"image\":\"%s\",\"width\":%ld,\"height\":%ld,\"faces\":[", argv[a], img.nc(), img.nr());
            for (size_t i = 0; i < boxes.size(); i++) {
                const rectangle &b = boxes[i];
                std::printf("%s{\"box\":[%ld,%ld,%ld,%ld],", i ? "," : "", b.left(), b.top(), b.right(), b.bottom());
                print_shape(sp(img, b));
                std::printf("}");
            }
            std::printf("]}\n");
            std::fflush(stdout);
        }
        return 0;
    }
    if (mode != "lfpw") return 2;
    double nme_sum = 0;
    int n = 0, n_gt = 0;
    for (int k = 1; k < 2000; k++) {
        char name[64];
        std::snprintf(name, sizeof name, "lfpw-test68/image_%04d", k);
        std::ifstream pts(root + "/" + name + ".pts");
        if (!pts) continue; /* the numbering has gaps */
        std::string tok;
        while (pts >> tok && tok != "{") {}
        std::vector<dpoint> gt;
        double x, y;
        while (pts >> x >> y) gt.push_back(dpoint(x, y));
        if (gt.size() != 68) { std::fprintf(stderr, "%s: %zu points\n", name, gt.size()); return 1; }
        array2d<rgb_pixel> img;
        if (!load(root + "/" + name + ".jpg", img)) { std::fprintf(stderr, "cannot load %s\n", name); return 1; }
        double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
        for (auto &p : gt) { x0 = std::min(x0, p.x()); y0 = std::min(y0, p.y()); x1 = std::max(x1, p.x()); y1 = std::max(y1, p.y()); }
        rectangle gbox(std::lround(x0), std::lround(y0), std::lround(x1), std::lround(y1));
        rectangle best;
        double best_iou = 0.3;
        bool found = false;
        for (auto &b : detect_up1(det, img)) {
            double inter = b.intersect(gbox).area(), uni = b.area() + gbox.area() - inter;
            if (inter / uni >= best_iou) { best_iou = inter / uni; best = b; found = true; }
        }
        if (!found) { best = gbox; n_gt++; }
        full_object_detection s = sp(img, best);
        double iod = length(gt[36] - gt[45]), err = 0;
        for (int i = 0; i < 68; i++) err += length(dpoint(s.part(i)) - gt[i]);
        nme_sum += err / 68 / iod;
        n++;
        std::printf("{\"image\":\"%s.jpg\",\"width\":%ld,\"height\":%ld,\"gt_box\":%d,\"box\":[%ld,%ld,%ld,%ld],",
                    name, img.nc(), img.nr(), found ? 0 : 1, best.left(), best.top(), best.right(), best.bottom());
        print_shape(s);
        std::printf("}\n");
    }
    std::fprintf(stderr, "lfpw: %d images (%d on ground-truth boxes), dlib NME %.6f\n", n, n_gt, nme_sum / n);
    return 0;
}
