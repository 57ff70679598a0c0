/* fuzz_gallery.c - libFuzzer target: the gallery and classifier file loaders
   (fnet_gallery_load_memory, fnet_classifier_load_memory) on damaged files.

   The first input byte picks a mode:
     0  the rest is a gallery file, as is
     1  the same with the file-size field (offset 32) and the CRC (offset 28) fixed up, so
        mutations reach the record checks
     2  the rest is a classifier file, as is
     3  the same with size and CRC fixed up
   A file that loads is then used: every person (or class name) read back, identify() /
   predict() with a probe, then saved again, loaded again and saved a third time: the two
   saves must be byte-identical (a loaded file is a fixed point), else the target traps.
   The input is copied to an exact-size heap block: ASan catches any read past its end. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define FNET_IMPLEMENTATION
#include "../../facenet.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_fail(const char *what) {
    fprintf(stderr, "fuzz_gallery: %s\n", what);
    abort(); /* the fuzzer records the input */
}

static void fix_file(unsigned char *b, size_t size) {
    unsigned long c;
    int k;
    if (size < 40) return;
    for (k = 0; k < 8; k++) b[32 + k] = (unsigned char)((unsigned long long)size >> (8 * k));
    c = fnet__crc32_update(fnet__crc32(b, 28), b + 32, size - 32);
    for (k = 0; k < 4; k++) b[28 + k] = (unsigned char)(c >> (8 * k));
}

static void gallery_case(const unsigned char *b, size_t size) {
    fnet_gallery *g = NULL, *g2 = NULL;
    size_t n1 = 0, n2 = 0;
    unsigned char *s1, *s2;
    int i, dim, n = 0;
    if (fnet_gallery_load_memory(b, size, &g) != FNET_OK) return;
    dim = fnet_gallery_dim(g);
    for (i = 0; i < fnet_gallery_count(g); i++) {
        const char *name;
        const float *e;
        int cnt;
        if (fnet_gallery_person(g, i, &name, &e, &cnt) != FNET_OK || fnet_gallery_find(g, name) != i)
            fuzz_fail("a loaded person cannot be found by name");
    }
    if (dim > 0 && dim <= FNET_GALLERY_MAX_DIM) {
        float *probe = (float *)calloc((size_t)dim, sizeof(float));
        fnet_match m[4];
        if (probe) (void)fnet_identify(g, probe, dim, 0.0f, m, 4, &n);
        free(probe);
    }
    if (fnet_gallery_save_memory(g, NULL, 0, &n1) != FNET_OK) fuzz_fail("size query of a loaded gallery fails");
    s1 = (unsigned char *)malloc(n1 ? n1 : 1);
    if (s1 && fnet_gallery_save_memory(g, s1, n1, &n1) == FNET_OK) {
        if (fnet_gallery_load_memory(s1, n1, &g2) != FNET_OK) fuzz_fail("a saved gallery does not load");
        if (fnet_gallery_save_memory(g2, NULL, 0, &n2) != FNET_OK || n2 != n1) fuzz_fail("re-save size differs");
        s2 = (unsigned char *)malloc(n2 ? n2 : 1);
        if (s2 && fnet_gallery_save_memory(g2, s2, n2, &n2) == FNET_OK && memcmp(s1, s2, n1) != 0)
            fuzz_fail("save(load(save(g))) differs from save(g)");
        free(s2);
    }
    free(s1);
    fnet_gallery_free(g2);
    fnet_gallery_free(g);
}

static void classifier_case(const unsigned char *b, size_t size) {
    fnet_classifier *c = NULL, *c2 = NULL;
    size_t n1 = 0, n2 = 0;
    unsigned char *s1, *s2;
    int i, dim, nc, label = -1;
    if (fnet_classifier_load_memory(b, size, &c) != FNET_OK) return;
    dim = fnet_classifier_dim(c);
    nc = fnet_classifier_classes(c);
    for (i = 0; i < nc; i++)
        if (!fnet_classifier_class_name(c, i)) fuzz_fail("class name NULL");
    if (dim > 0 && dim <= FNET_GALLERY_MAX_DIM && nc > 0 && nc <= FNET_CLASSIFIER_MAX_CLASSES) {
        float *x = (float *)calloc((size_t)dim, sizeof(float));
        float *scores = (float *)malloc((size_t)nc * sizeof(float));
        if (x && scores) {
            for (i = 0; i < dim; i++) x[i] = (float)(i % 7) * 0.1f - 0.3f;
            (void)fnet_classifier_predict(c, x, dim, &label, scores);
        }
        free(x);
        free(scores);
    }
    if (fnet_classifier_save_memory(c, NULL, 0, &n1) != FNET_OK) fuzz_fail("size query of a loaded classifier fails");
    s1 = (unsigned char *)malloc(n1 ? n1 : 1);
    if (s1 && fnet_classifier_save_memory(c, s1, n1, &n1) == FNET_OK) {
        if (fnet_classifier_load_memory(s1, n1, &c2) != FNET_OK) fuzz_fail("a saved classifier does not load");
        if (fnet_classifier_save_memory(c2, NULL, 0, &n2) != FNET_OK || n2 != n1) fuzz_fail("re-save size differs");
        s2 = (unsigned char *)malloc(n2 ? n2 : 1);
        if (s2 && fnet_classifier_save_memory(c2, s2, n2, &n2) == FNET_OK && memcmp(s1, s2, n1) != 0)
            fuzz_fail("save(load(save(c))) differs from save(c)");
        free(s2);
    }
    free(s1);
    fnet_classifier_free(c2);
    fnet_classifier_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int mode;
    unsigned char *b;
    if (size < 1) return 0;
    mode = data[0] & 3;
    data++;
    size--;
    b = (unsigned char *)malloc(size ? size : 1);
    if (!b) return 0;
    memcpy(b, data, size);
    if (mode & 1) fix_file(b, size);
    if (mode < 2) gallery_case(b, size);
    else classifier_case(b, size);
    free(b);
    return 0;
}
