/* fuzz_pipeline.c - libFuzzer target: detect + landmarks + align + embed on arbitrary small
   images with the real blobs from $FNET_WEIGHTS (hog_frontal, landmarks68, nn4.small2.v1;
   a stage whose blob is missing is left out).

   Input layout (tests/fuzz/seeds.py writes real photos in it):
     byte 0-1   width-1  (little-endian, mod 200)  -> 1..200
     byte 2-3   height-1 (little-endian, mod 200)  -> 1..200
     byte 4     channels (1, 3 or 4 by mod 3), bits 2-4: extra stride bytes 0..7
     byte 5     options: bit 0 upsample 1, bits 1-2 threshold (0, -0.5, +0.5, NaN),
                bits 3-4 align kind (1..3)
     byte 6-21  a caller-chosen box (4 x i32) run through landmarks too (any values)
     byte 22-   pixels, row by row, repeated cyclically when the input is shorter
   The pixel buffer is an exact-size heap block, so ASan catches any read past its end.
   Nothing may crash, hang, leak or read out of bounds; results are not judged here. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#endif
#define FNET_IMPLEMENTATION
#include "../../facenet.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fnet_model *g_det, *g_lm, *g_net;

static fnet_model *load(const char *name) {
    char path[4096];
    const char *dir = getenv("FNET_WEIGHTS");
    fnet_model *m = NULL;
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "weights", name);
    if (fnet_model_load_file(path, &m) != FNET_OK) return NULL;
    return m;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    g_det = load("hog_frontal.fnet");
    g_lm = load("landmarks68.fnet");
    g_net = load("nn4.small2.v1.fnet");
    return 0;
}

static int32_t rd_i32(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    int32_t v;
    memcpy(&v, &u, 4);
    return v;
}

static void after_landmarks(fnet_image img, const fnet_point *pts, int np, fnet_align_kind kind) {
    int size, dim;
    unsigned char *crop;
    float emb[512];
    if (!g_net) {
        unsigned char tiny[32 * 32 * 3];
        (void)fnet_align(img, pts, np, kind, 32, tiny);
        return;
    }
    size = fnet_embed_input_size(g_net);
    dim = fnet_embed_dim(g_net);
    if (size <= 0 || size > 512 || dim <= 0 || dim > 512) return;
    crop = (unsigned char *)malloc((size_t)size * size * 3);
    if (!crop) return;
    if (fnet_align(img, pts, np, kind, size, crop) == FNET_OK) (void)fnet_embed(g_net, crop, NULL, 0, emb);
    free(crop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int w, h, ch, pad, stride, n = 0, i, np;
    fnet_detect_opts o;
    fnet_box boxes[8], fb;
    fnet_point pts[256];
    fnet_align_kind kind;
    unsigned char *px;
    size_t total, k;
    const uint8_t *pix;
    size_t npix;
    fnet_image img;
    static const float thr[4] = {0.0f, -0.5f, 0.5f, 0.0f};
    if (size < 22) return 0;
    w = 1 + (int)((data[0] | (data[1] << 8)) % 200);
    h = 1 + (int)((data[2] | (data[3] << 8)) % 200);
    ch = (data[4] & 3) % 3 == 0 ? 1 : ((data[4] & 3) % 3 == 1 ? 3 : 4);
    pad = (data[4] >> 2) & 7;
    memset(&o, 0, sizeof o);
    o.upsample = data[5] & 1;
    o.threshold = ((data[5] >> 1) & 3) == 3 ? (float)NAN : thr[(data[5] >> 1) & 3];
    kind = (fnet_align_kind)(1 + ((data[5] >> 3) & 3) % 3);
    fb.left = rd_i32(data + 6);
    fb.top = rd_i32(data + 10);
    fb.right = rd_i32(data + 14);
    fb.bottom = rd_i32(data + 18);
    fb.score = 0;
    fb.filter = 0;
    pix = data + 22;
    npix = size - 22;
    stride = w * ch + pad;
    total = (size_t)stride * h;
    px = (unsigned char *)malloc(total);
    if (!px) return 0;
    for (k = 0; k < total; k++) px[k] = npix ? pix[k % npix] : (unsigned char)k;
    img = fnet_image_view(px, w, h, ch, stride);
    np = g_lm ? fnet_landmarks_count(g_lm) : 0;
    if (np < 0 || np > 256) np = 0;
    if (g_det && fnet_detect(g_det, img, &o, NULL, 0, boxes, 8, &n) == FNET_OK) {
        if (n > 8) n = 8;
        for (i = 0; i < n && i < 3; i++)
            if (g_lm && np && fnet_landmarks(g_lm, img, boxes[i], pts) == FNET_OK)
                after_landmarks(img, pts, np, kind);
    }
    if (g_lm && np && fnet_landmarks(g_lm, img, fb, pts) == FNET_OK) after_landmarks(img, pts, np, kind);
    {   /* align from points the input chooses (NaN, huge, degenerate) */
        fnet_point fp[68];
        for (i = 0; i < 68; i++) {
            float x, y;
            uint32_t ux = (uint32_t)rd_i32(data + 6 + (i % 4) * 4), uy = ux * 2654435761u + (uint32_t)i;
            memcpy(&x, &ux, 4);
            memcpy(&y, &uy, 4);
            fp[i].x = (i & 8) ? x : (float)(fb.left % 1000) + (float)i;
            fp[i].y = (i & 16) ? y : (float)(fb.top % 1000) + (float)(i / 3);
        }
        {
            unsigned char tiny[24 * 24 * 3];
            (void)fnet_align(img, fp, 68, kind, 24, tiny);
        }
    }
    free(px);
    return 0;
}
