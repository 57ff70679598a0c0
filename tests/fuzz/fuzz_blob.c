/* fuzz_blob.c - libFuzzer target: the weight-blob loader and every stage's prepare step, fed
   damaged blobs, then each loaded model run once on a small fixed input.

   The first input byte picks a mode:
     0  the rest of the input is the blob, as is (mostly stopped by the checksum)
     1  the same with the header's file size and table CRC fixed up, so mutations reach the
        table parsing and the stage's checks of tensor shapes and values
     2-5 a real blob from $FNET_WEIGHTS (hog_frontal, landmarks68, nn4.small2.v1, resnet34;
        a missing one falls back to mode 1) patched by the rest of the input, read as records
        {u32 offset, u8 length, bytes}: an offset with the top bit set lands in the tables
        (header .. end of the op table), otherwise anywhere in the file (mostly tensor data:
        split indices, anchors, thresholds, op parameters). The CRC is fixed up after patching.
   A blob that loads is then used once: detect on a 100x100 image, landmarks on a box,
   embed a crop (networks: only when (byte 0 / 6) % 4 == 0, embedding is slow). Nothing may crash, hang, leak or read out of bounds; results are not judged.

   Build: clang -fsanitize=fuzzer,address,undefined (make fuzz, tests/fuzz/run.sh). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#endif
#define FNET_IMPLEMENTATION
#include "../../facenet.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_names[4] = {"hog_frontal.fnet", "landmarks68.fnet", "nn4.small2.v1.fnet",
                                       "resnet34.fnet"};
static unsigned char *g_blob[4]; /* 64-aligned copies of the real blobs (zero-copy loads) */
static size_t g_size[4], g_tables_end[4];
static unsigned char g_image[100 * 100 * 3];

static void load_real(int i) {
    char path[4096];
    const char *dir = getenv("FNET_WEIGHTS");
    FILE *f;
    long n;
    void *p = NULL;
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "weights", g_names[i]);
    f = fopen(path, "rb");
    if (!f) return;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 96 && fseek(f, 0, SEEK_SET) == 0 &&
        posix_memalign(&p, 64, (size_t)n) == 0) {
        if (fread(p, 1, (size_t)n, f) == (size_t)n) {
            unsigned char *b = (unsigned char *)p;
            g_blob[i] = b;
            g_size[i] = (size_t)n;
            g_tables_end[i] = (size_t)(fnet__rd_u64(b + 64) + 136ull * fnet__rd_u32(b + 40));
            if (g_tables_end[i] > g_size[i]) g_tables_end[i] = g_size[i];
        } else {
            free(p);
        }
    }
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    int i, x, y;
    (void)argc; (void)argv;
    for (i = 0; i < 4; i++) load_real(i);
    for (y = 0; y < 100; y++) /* a soft blob: something for every stage to work on */
        for (x = 0; x < 100; x++)
            for (i = 0; i < 3; i++)
                g_image[(y * 100 + x) * 3 + i] = (unsigned char)(128 + 100 * (1 - ((x - 50) * (x - 50) + (y - 45) * (y - 45)) / 2500.0) * (i + 1) / 3);
    return 0;
}

/* Fixes the file-size field and the CRC the way a careful attacker would. */
static void fix_header(unsigned char *b, size_t size) {
    unsigned long long op_off, n_ops, end;
    int k;
    if (size < 96) return;
    for (k = 0; k < 8; k++) b[24 + k] = (unsigned char)((unsigned long long)size >> (8 * k));
    op_off = fnet__rd_u64(b + 64);
    n_ops = fnet__rd_u32(b + 40);
    end = op_off + 136ull * n_ops;
    if (end < 96 || end > size) return; /* the loader rejects it before the CRC anyway */
    {
        unsigned long c = fnet__crc32_update(fnet__crc32(b, 80), b + 96, (size_t)(end - 96));
        for (k = 0; k < 4; k++) b[80 + k] = (unsigned char)(c >> (8 * k));
    }
}

static int g_run_network; /* embedding is slow (~0.2 s under ASan): 1 input in 4 runs it */

/* How exercise() uses a model that loaded (fuzz_smallblob.c uses it with a smaller image). */
typedef struct fuzz_use {
    const unsigned char *px; /* an RGB image w x h */
    int w, h;
    int det_w, det_h;        /* detection runs on the top-left det_w x det_h of it */
    fnet_box box;            /* landmarks run in this box */
    int max_side;            /* networks run only on inputs up to this side */
    size_t max_work;         /* ... and workspaces up to this many bytes (0: any) */
} fuzz_use;

/* One use of model m: its metadata and last tensor read, then detect, landmarks or embed (a
   crop filled from the image's bytes, when g_run_network). */
static void exercise_with(fnet_model *m, const fuzz_use *u) {
    fnet_image img = fnet_image_view(u->px, u->w, u->h, 3, 0);
    fnet_image det_img = fnet_image_view(u->px, u->det_w, u->det_h, 3, u->w * 3);
    fnet_box boxes[4];
    int n = 0, size, dim;
    fnet_tensor_info ti;
    const char *k, *v;
    (void)fnet_model_meta_at(m, 0, &k, &v);
    (void)fnet_model_tensor_at(m, fnet_model_tensor_count(m) - 1, &ti);
    switch (fnet_model_get_kind(m)) {
    case FNET_MODEL_DETECTOR:
        (void)fnet_detect_workspace_size(m, u->det_w, u->det_h, NULL);
        (void)fnet_detect(m, det_img, NULL, NULL, 0, boxes, 4, &n);
        break;
    case FNET_MODEL_LANDMARKS: {
        fnet_point pts[256];
        int np = fnet_landmarks_count(m);
        if (np > 0 && np <= 256) (void)fnet_landmarks(m, img, u->box, pts);
        break;
    }
    case FNET_MODEL_NETWORK:
        size = fnet_embed_input_size(m);
        dim = fnet_embed_dim(m);
        (void)fnet_embed_align_kind(m);
        if (g_run_network && size > 0 && size <= u->max_side && dim > 0 && dim <= 4096 &&
            (!u->max_work || fnet_embed_workspace_size(m) <= u->max_work)) {
            unsigned char *crop = (unsigned char *)malloc((size_t)size * size * 3);
            float *out = (float *)malloc((size_t)dim * sizeof(float));
            int i;
            if (crop && out) {
                for (i = 0; i < size * size * 3; i++) crop[i] = u->px[i % (u->w * u->h * 3)];
                (void)fnet_embed(m, crop, NULL, 0, out);
            }
            free(crop);
            free(out);
        }
        break;
    }
}

/* The 100x100 test image, whole; networks up to 160 px (the real ones). */
static void exercise(fnet_model *m) {
    fuzz_use u;
    u.px = g_image; u.w = u.h = u.det_w = u.det_h = 100;
    u.box.left = 20; u.box.top = 15; u.box.right = 80; u.box.bottom = 75; u.box.score = 1; u.box.filter = 0;
    u.max_side = 160;
    u.max_work = 0;
    exercise_with(m, &u);
}

static void try_load(const unsigned char *blob, size_t size) {
    fnet_model *m = NULL;
    if (fnet_model_load_memory(blob, size, &m) == FNET_OK) {
        exercise(m);
        fnet_model_free(m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int mode;
    if (size < 1) return 0;
    mode = data[0] % 6;
    g_run_network = (data[0] / 6) % 4 == 0;
    data++;
    size--;
    if (mode >= 2 && !g_blob[mode - 2]) mode = 1;
    if (mode < 2) {
        /* an exact-size 64-aligned heap block: zero-copy load, so ASan sees any overread */
        void *p = NULL;
        if (posix_memalign(&p, 64, size ? size : 1) != 0) return 0;
        memcpy(p, data, size);
        if (mode == 1) fix_header((unsigned char *)p, size);
        try_load((const unsigned char *)p, size);
        free(p);
    } else {
        int w = mode - 2;
        unsigned char *b = g_blob[w];
        size_t bs = g_size[w], pos = 0, np = 0, i;
        size_t off_saved[64];
        unsigned char saved[64][255 + 1];
        size_t len_saved[64];
        unsigned char crc_saved[12];
        memcpy(crc_saved, b + 24, 8);
        memcpy(crc_saved + 8, b + 80, 4);
        while (pos + 5 <= size && np < 64) {
            unsigned long o = (unsigned long)data[pos] | ((unsigned long)data[pos + 1] << 8) |
                              ((unsigned long)data[pos + 2] << 16) | ((unsigned long)data[pos + 3] << 24);
            size_t len = data[pos + 4], off;
            pos += 5;
            if (len > size - pos) len = size - pos;
            off = (o & 0x80000000UL) ? (size_t)(o & 0x7fffffffUL) % g_tables_end[w] : (size_t)o % bs;
            if (len > bs - off) len = bs - off;
            off_saved[np] = off;
            len_saved[np] = len;
            memcpy(saved[np], b + off, len);
            memcpy(b + off, data + pos, len);
            np++;
            pos += len;
        }
        /* fix the CRC (not the size: a patched size field is a case of its own) */
        {
            unsigned long long end = fnet__rd_u64(b + 64) + 136ull * fnet__rd_u32(b + 40);
            if (end >= 96 && end <= bs) {
                unsigned long c = fnet__crc32_update(fnet__crc32(b, 80), b + 96, (size_t)(end - 96));
                int k;
                for (k = 0; k < 4; k++) b[80 + k] = (unsigned char)(c >> (8 * k));
            }
        }
        try_load(b, bs);
        /* undo, last patch first (patches may overlap) */
        for (i = np; i-- > 0;) memcpy(b + off_saved[i], saved[i], len_saved[i]);
        memcpy(b + 24, crc_saved, 8);
        memcpy(b + 80, crc_saved + 8, 4);
    }
    return 0;
}
