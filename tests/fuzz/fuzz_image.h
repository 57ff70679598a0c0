/* fuzz_image.h - the body of the libFuzzer targets fuzz_jpeg.c and fuzz_png.c: the photo
   decoding path of fnet, from memory, as every program of the project runs it
   (examples/image_load.h: the validating pre-pass, then stb_image 2.27 with JPEG and PNG
   only), then the conversion to an fnet_image.
   The input is the file itself (the seeds are real photos: tests/fuzz/seeds.py); an input
   of the other format is ignored, so each target's time goes to its own format.
   A refusal must come with a message; a decoded image must have the size its header
   claims, at most IL_MAX_SIDE a side, and every one of its w*h*3 bytes is read (ASan: the
   buffer is that large). libFuzzer hands over an exact-size heap copy of the input, so a
   read past its end is caught too. */
#ifndef FUZZ_IMAGE_H
#define FUZZ_IMAGE_H
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define FNET_IMPLEMENTATION
#include "../../facenet.h"
#include "../../examples/image_load.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned long fuzz_image_sink; /* the pixel sum: every byte read, the reads not optimised away */

static void fuzz_image_fail(const char *what) {
    fprintf(stderr, "fuzz_image: %s\n", what);
    abort(); /* the fuzzer records the input */
}

static int fuzz_image_one(const uint8_t *data, size_t size, int png) {
    il_image im;
    fnet_image view;
    char why[256];
    int w = 0, h = 0;
    unsigned long sum = 0;
    size_t i;
    if (png ? size < 8 || memcmp(data, "\x89PNG", 4) != 0 : size < 2 || data[0] != 0xFF || data[1] != 0xD8) return 0;
    why[0] = 0;
    if (!il_check(data, size, &w, &h, why, sizeof why)) {
        if (!why[0]) fuzz_image_fail("refused without a message");
        return 0;
    }
    why[0] = 0;
    if (!il_decode_memory(data, size, 3, &im, why, sizeof why)) {
        if (!why[0]) fuzz_image_fail("decoding failed without a message");
        return 0;
    }
    if (im.width != w || im.height != h || w < 1 || h < 1 || w > IL_MAX_SIDE || h > IL_MAX_SIDE)
        fuzz_image_fail("decoded size differs from the header's");
    view = fnet_image_view(im.pixels, im.width, im.height, 3, im.width * 3);
    if (fnet__check_image(&view) != FNET_OK) fuzz_image_fail("fnet refuses the decoded image");
    for (i = 0; i < (size_t)w * h * 3; i++) sum += im.pixels[i];
    fuzz_image_sink += sum;
    il_free(&im);
    return 0;
}
#endif
