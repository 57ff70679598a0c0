/* fuzz_exif.c - libFuzzer target: fnet_jpeg_exif_orientation on damaged and hostile JPEG
   headers. Seeds: JPEG headers with EXIF blocks of every orientation in both byte orders
   (tests/fuzz/seeds.py). The result must be FNET_OK and an orientation in 1..8; the input's
   last bytes then size a small image that fnet_image_orient turns, and every upright pixel
   must be the stored one fnet_orient_point names. libFuzzer hands over an exact-size heap
   copy of the input, so a read past its end is caught. */
#define FNET_IMPLEMENTATION
#include "../../facenet.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void fuzz_exif_fail(const char *what) {
    fprintf(stderr, "fuzz_exif: %s\n", what);
    abort(); /* the fuzzer records the input */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char px[17 * 13 * 4], out[17 * 13 * 4];
    int o = -1, w, h, ch, ow = 0, oh = 0, x, y, k;
    fnet_result r = fnet_jpeg_exif_orientation(data, size, &o);
    if (r != FNET_OK || o < 1 || o > 8) fuzz_exif_fail("not FNET_OK with 1..8");
    w = size ? 1 + data[size - 1] % 17 : 1;
    h = size > 1 ? 1 + data[size - 2] % 13 : 1;
    ch = size > 2 && data[size - 3] % 3 ? (data[size - 3] % 3 == 1 ? 3 : 4) : 1;
    for (k = 0; k < w * h * ch; k++) px[k] = (unsigned char)(k * 7 + o);
    if (fnet_image_orient(fnet_image_view(px, w, h, ch, 0), o, out, &ow, &oh) != FNET_OK) fuzz_exif_fail("orient failed");
    if (ow * oh != w * h || (o >= 5 ? ow != h : ow != w)) fuzz_exif_fail("upright size");
    for (y = 0; y < oh; y++)
        for (x = 0; x < ow; x++) {
            float u, v;
            fnet_orient_point(o, w, h, (float)x, (float)y, &u, &v);
            if (u < 0 || v < 0 || u >= w || v >= h) fuzz_exif_fail("point outside the stored image");
            for (k = 0; k < ch; k++)
                if (out[(y * ow + x) * ch + k] != px[((int)v * w + (int)u) * ch + k]) fuzz_exif_fail("pixel");
        }
    return 0;
}
