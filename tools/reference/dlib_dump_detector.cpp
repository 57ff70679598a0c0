// Prints numbers of dlib's own frontal face detector (thresholds, weight sums, a few single
// weights, NMS thresholds) so tests/test_dlib_detector.py can check tools/convert/dlib_detector.py's
// decoder against dlib itself. Output: tests/golden/dlib_detector_weights.txt
// (make golden-detect; needs libdlib-dev).
#include <dlib/image_processing/frontal_face_detector.h>
#include <cmath>
#include <cstdio>

int main() {
    dlib::frontal_face_detector d = dlib::get_frontal_face_detector();
    std::printf("filters %lu dims %ld iou %.17g covered %.17g\n", d.num_detectors(),
                d.get_scanner().get_num_dimensions(), d.get_overlap_tester().get_iou_thresh(),
                d.get_overlap_tester().get_percent_covered_thresh());
    for (unsigned long i = 0; i < d.num_detectors(); i++) {
        const dlib::matrix<double, 0, 1> &w = d.get_w(i);
        double s = 0, sa = 0;
        for (long k = 0; k + 1 < w.size(); k++) { s += w(k); sa += std::fabs(w(k)); }
        std::printf("filter %lu threshold %.17g sum %.17g abssum %.17g w0 %.17g w1234 %.17g w3099 %.17g\n",
                    i, w(w.size() - 1), s, sa, w(0), w(1234), w(3099));
    }
    return 0;
}
