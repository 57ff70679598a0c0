/* oom_check.c - running out of wasm memory is an error, not a trap (issue 16).
   Built by tests/test_wasm.py for wasm32-wasi with a small maximum memory (-Wl,--max-memory),
   run under node:wasi: detection on images whose workspace cannot fit must return
   FNET_ERR_OUT_OF_MEMORY (malloc returns NULL when memory.grow fails), the size query must
   not wrap around (size_t is 32 bits here), and a small image must still work afterwards.
   usage: oom_check WEIGHTS_DIR        prints "oom ..." lines and "N passed, M failed" */
#define FNET_IMPLEMENTATION
#include "facenet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_pass, g_fail;
#define CHECK(c, ...) do { if (c) g_pass++; else { g_fail++; printf("FAIL: "); printf(__VA_ARGS__); printf("\n"); } } while (0)

int main(int argc, char **argv) {
    char path[1024];
    fnet_model *det = NULL;
    fnet_result r;
    static const int sides[3] = {FNET_MAX_IMAGE_SIDE, 12000, 6000}; /* the largest first: its pixels fit while the heap is fresh */
    int i, n = 0;
    fnet_box boxes[8];
    unsigned char *small;
    if (argc != 2) { fprintf(stderr, "usage: oom_check WEIGHTS_DIR\n"); return 2; }
    snprintf(path, sizeof path, "%s/hog_frontal.fnet", argv[1]);
    r = fnet_model_load_file(path, &det);
    if (r != FNET_OK) { printf("skip: %s: %s\n0 passed, 0 failed, 1 skipped\n", path, fnet_result_string(r)); return 0; }
    for (i = 0; i < 3; i++) {
        int s = sides[i];
        size_t ws = fnet_detect_workspace_size(det, s, s, NULL);
        /* one gray image of s x s: its pixels fit (a byte each), its workspace does not */
        unsigned char *px = (unsigned char *)malloc((size_t)s * s);
        if (!px) { printf("oom %dx%d: the image itself does not fit (%zu bytes)\n", s, s, (size_t)s * s); continue; }
        memset(px, 128, (size_t)s * s);
        CHECK(ws == 0 || ws >= (size_t)s * s, "workspace of %dx%d: %zu bytes, less than the pixels (wrapped?)", s, s, ws);
        r = fnet_detect(det, fnet_image_view(px, s, s, 1, 0), NULL, NULL, 0, boxes, 8, &n);
        printf("oom %dx%d: workspace %zu bytes, fnet_detect: %s\n", s, s, ws, fnet_result_string(r));
        CHECK(r == FNET_ERR_OUT_OF_MEMORY || r == FNET_ERR_TOO_LARGE, "%dx%d: %s", s, s, fnet_result_string(r));
        free(px);
    }
    small = (unsigned char *)calloc(200 * 200, 1);
    r = small ? fnet_detect(det, fnet_image_view(small, 200, 200, 1, 0), NULL, NULL, 0, boxes, 8, &n) : FNET_ERR_OUT_OF_MEMORY;
    CHECK(r == FNET_OK && n == 0, "a small image after the failures: %s, %d boxes", fnet_result_string(r), n);
    free(small);
    fnet_model_free(det);
    printf("%d passed, %d failed, 0 skipped\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
