/* Driver for tests/test_align.py: aligns a raw RGB image with fnet_align.
   align_driver RAW W H KIND SIZE X0 Y0 ... X67 Y67 > CROP.raw   (SIZE*SIZE*3 bytes)
   KIND: 1 outer eyes and nose, 2 inner eyes and bottom lip, 3 dlib chip, 4 dlib 5-point chip
   (from points 45, 42, 36, 39, 33 of the 68 given, dlib's 5-point order). */
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int w, h, kind, size, i;
    fnet_point pts[68];
    unsigned char *img, *out;
    FILE *f;
    fnet_result r;
    if (argc != 6 + 136) { fprintf(stderr, "usage: align_driver RAW W H KIND SIZE 136 numbers\n"); return 2; }
    w = atoi(argv[2]); h = atoi(argv[3]); kind = atoi(argv[4]); size = atoi(argv[5]);
    for (i = 0; i < 68; i++) { pts[i].x = (float)atof(argv[6 + 2 * i]); pts[i].y = (float)atof(argv[7 + 2 * i]); }
    img = (unsigned char *)malloc((size_t)w * h * 3);
    out = (unsigned char *)malloc((size_t)size * size * 3);
    f = fopen(argv[1], "rb");
    if (!img || !out || !f || fread(img, 1, (size_t)w * h * 3, f) != (size_t)w * h * 3) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    fclose(f);
    if (kind == 4) {
        static const int five[5] = {45, 42, 36, 39, 33};
        fnet_point p5[5];
        for (i = 0; i < 5; i++) p5[i] = pts[five[i]];
        r = fnet_align(fnet_image_view(img, w, h, 3, 0), p5, 5, FNET_ALIGN_DLIB_CHIP_5, size, out);
    } else {
        r = fnet_align(fnet_image_view(img, w, h, 3, 0), pts, 68, (fnet_align_kind)kind, size, out);
    }
    if (r != FNET_OK) { fprintf(stderr, "fnet_align: %s\n", fnet_result_string(r)); return 1; }
    fwrite(out, 1, (size_t)size * size * 3, stdout);
    free(img); free(out);
    return 0;
}
