/* fuzz_imglab.c - libFuzzer target: dlib imglab XML datasets (examples/imglab.h,
   imglab_load_memory) on damaged and hostile text. Seeds: the dlib example XML files of the
   shared data (tests/fuzz/seeds.py). A file that parses is read back whole (every image path,
   box, label and part), and must be consistent: part names sorted and distinct, every box's
   part arrays n_parts long. A refusal must come with a message. libFuzzer hands over an
   exact-size heap copy of the input, so a read past its end is caught. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "../../examples/imglab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned long fuzz_imglab_sink; /* what was read back: the reads not optimised away */

static void fuzz_imglab_fail(const char *what) {
    fprintf(stderr, "fuzz_imglab: %s\n", what);
    abort(); /* the fuzzer records the input */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    imglab_dataset d;
    char err[512];
    unsigned long sum = 0;
    int i, j, k;
    err[0] = 0;
    if (!imglab_load_memory((const char *)data, size, "base/dir", "fuzz.xml", &d, err, sizeof err)) {
        if (!err[0]) fuzz_imglab_fail("refused without a message");
        return 0;
    }
    if (d.n_parts < 0 || d.n_images < 0 || (d.n_parts && !d.part_names)) fuzz_imglab_fail("bad counts");
    for (k = 0; k < d.n_parts; k++) {
        sum += strlen(d.part_names[k]);
        if (k && strcmp(d.part_names[k - 1], d.part_names[k]) >= 0) fuzz_imglab_fail("part names not sorted and distinct");
    }
    for (i = 0; i < d.n_images; i++) {
        const imglab_image *im = &d.images[i];
        sum += strlen(im->file) + strlen(im->path);
        if (im->n_boxes < 0) fuzz_imglab_fail("negative box count");
        for (j = 0; j < im->n_boxes; j++) {
            const imglab_box *b = &im->boxes[j];
            sum += (unsigned long)(b->left ^ b->top ^ b->width ^ b->height ^ b->ignore) + strlen(b->label);
            if (memchr(b->label, 0, sizeof b->label) == NULL) fuzz_imglab_fail("label not terminated");
            for (k = 0; k < d.n_parts; k++)
                sum += b->present[k] + (unsigned long)(b->x[k] != b->x[k]) + (unsigned long)(b->y[k] > 0);
        }
    }
    fuzz_imglab_sink += sum;
    imglab_free(&d);
    return 0;
}
