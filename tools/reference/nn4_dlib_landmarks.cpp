// nn4_dlib_landmarks: for tools/eval/nn4_fill_report.py --openface. Prints, per image, the largest
// face (dlib HOG detector, upsample 1, as OpenFace) and its 68 points (dlib shape predictor):
//   PATH left top right bottom x0 y0 ... x67 y67   (or PATH none)
// nn4_dlib_landmarks [--fallback L T R B] IMG...: with --fallback, an image without a detected
// face gets the predictor's points inside that box instead of "none".
#include "../../examples/image_load.h" // the validating pre-pass, then stb_image (JPEG, PNG)
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_processing.h>
#include <cstdio>
#include <cstdlib>
#include <string>
using namespace dlib;
int main(int argc, char **argv) {
    frontal_face_detector det = get_frontal_face_detector();
    shape_predictor sp;
    deserialize("/usr/share/dlib/shape_predictor_68_face_landmarks.dat") >> sp;
    int first = 1;
    bool fb = false;
    rectangle fallback;
    if (argc > 5 && std::string(argv[1]) == "--fallback") {
        fallback = rectangle(atol(argv[2]), atol(argv[3]), atol(argv[4]), atol(argv[5]));
        fb = true;
        first = 6;
    }
    for (int a = first; a < argc; a++) {
        int w, h;
        unsigned char *px = il_load_pixels(argv[a], 3, &w, &h, NULL, 0);
        if (!px) { printf("%s none\n", argv[a]); continue; }
        array2d<rgb_pixel> img(h, w);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) {
            unsigned char *p = px + 3 * (y * w + x);
            img[y][x] = rgb_pixel(p[0], p[1], p[2]);
        }
        std::vector<rectangle> faces = det(img, 1);
        if (faces.empty() && fb) faces.push_back(fallback);
        if (faces.empty()) { printf("%s none\n", argv[a]); stbi_image_free(px); continue; }
        rectangle best = faces[0];
        for (auto &r : faces) if (r.area() > best.area()) best = r;
        full_object_detection s = sp(img, best);
        printf("%s %ld %ld %ld %ld", argv[a], best.left(), best.top(), best.right(), best.bottom());
        for (unsigned i = 0; i < s.num_parts(); i++) printf(" %ld %ld", s.part(i).x(), s.part(i).y());
        printf("\n");
        stbi_image_free(px);
    }
}
