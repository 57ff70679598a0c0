/* memory_needs.c - what each pipeline stage needs in memory, measured by the library itself,
   for a device with a few MB of RAM (the README's table "Memory per stage" is this output).

   usage: memory_needs WEIGHTS_DIR [BLOB...]   (default blobs: hog_frontal.fnet landmarks5.fnet
                                                landmarks68.fnet nn4.small2.v1.fnet resnet34.fnet)

   Per blob: its size (flash or RAM: fnet_model_load_memory uses a 64-byte aligned blob in
   place, so on a microcontroller it can stay in flash), the heap the loader adds on top of a
   zero-copy load, and per stage the caller's workspace (the library's own *_workspace_size()
   calls) plus the heap the call allocates itself, counted through FNET_MALLOC. RAM for a stage
   = model heap + workspace + the call's own heap + the image (RGB, width * height * 3). Images:
   QVGA 320x240 and VGA 640x480, upsample 0 (faces from 80 px) and 1 (from 40 px). A blob
   "fits" a budget when its RAM and its size both fit in (blob in flash, RAM for the rest) and
   in RAM alone (no flash to execute from). Builds on any host: sizes do not depend on it
   except pointer width (this is a 64-bit host: a 32-bit MCU needs a little less). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counting allocator: every library allocation carries its size in a 64-byte header (64 keeps
   the library's own alignment logic unchanged). */
static size_t g_now, g_peak;
static void *count_malloc(size_t n) {
    unsigned char *p = (unsigned char *)malloc(n + 64);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    g_now += n;
    if (g_now > g_peak) g_peak = g_now;
    return p + 64;
}
static void count_free(void *q) {
    size_t n;
    if (!q) return;
    memcpy(&n, (unsigned char *)q - 64, sizeof n);
    g_now -= n;
    free((unsigned char *)q - 64);
}
static void *count_realloc(void *q, size_t n) {
    size_t old = 0;
    void *p;
    if (!q) return count_malloc(n);
    memcpy(&old, (unsigned char *)q - 64, sizeof old);
    p = count_malloc(n);
    if (!p) return NULL;
    memcpy(p, q, old < n ? old : n);
    count_free(q);
    return p;
}
#define FNET_MALLOC(n) count_malloc(n)
#define FNET_REALLOC(p, n) count_realloc(p, n)
#define FNET_FREE(p) count_free(p)
#define FNET_IMPLEMENTATION
#include "facenet.h"

#define KB(x) ((unsigned long)(((x) + 1023) / 1024))

static unsigned char *read_aligned(const char *path, size_t *size, void **raw) {
    FILE *f = fopen(path, "rb");
    long n;
    unsigned char *p;
    *raw = NULL;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    *raw = malloc((size_t)n + 64);
    if (!*raw) { fclose(f); return NULL; }
    p = (unsigned char *)(((size_t)*raw + 63) & ~(size_t)63);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(*raw); *raw = NULL; return NULL; }
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* A synthetic RGB image (content does not change the memory a stage takes). */
static unsigned char *make_image(int w, int h) {
    unsigned char *px = (unsigned char *)malloc((size_t)w * h * 3);
    int i;
    if (!px) return NULL;
    for (i = 0; i < w * h * 3; i++) px[i] = (unsigned char)((i * 7 + (i / (w * 3)) * 13) & 255);
    return px;
}

typedef struct stage {
    char what[96];
    size_t blob, model_heap, work, call_heap, image;
} stage;
static stage g_st[64];
static int g_n;

static void add(const char *what, size_t blob, size_t model_heap, size_t work, size_t call_heap, size_t image) {
    stage *s;
    if (g_n >= 64) return;
    s = &g_st[g_n++];
    snprintf(s->what, sizeof s->what, "%s", what);
    s->blob = blob;
    s->model_heap = model_heap;
    s->work = work;
    s->call_heap = call_heap;
    s->image = image;
}

/* The smallest common RAM size (1, 2, 4, 8, 16, 32 MB) that holds n bytes. */
static const char *budget(size_t n) {
    static char buf[3][16];
    static int which;
    int mb;
    which = (which + 1) % 3;
    for (mb = 1; mb <= 32; mb *= 2)
        if (n <= (size_t)mb << 20) {
            snprintf(buf[which], sizeof buf[which], "%d MB", mb);
            return buf[which];
        }
    return "> 32 MB";
}

int main(int argc, char **argv) {
    static const char *def[] = {"hog_frontal.fnet", "landmarks5.fnet", "landmarks68.fnet", "nn4.small2.v1.fnet", "resnet34.fnet"};
    const char **names = def;
    int n_names = 5, i, k;
    if (argc < 2) {
        fprintf(stderr, "usage: memory_needs WEIGHTS_DIR [BLOB...]\n");
        return 2;
    }
    if (argc > 2) { names = (const char **)(argv + 2); n_names = argc - 2; }
    for (i = 0; i < n_names; i++) {
        char path[4096], what[96];
        size_t size = 0, model_heap;
        void *raw;
        unsigned char *blob;
        fnet_model *m = NULL;
        fnet_result r;
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        blob = read_aligned(path, &size, &raw);
        if (!blob) { fprintf(stderr, "memory_needs: %s: cannot read (skipped)\n", path); continue; }
        g_now = g_peak = 0;
        r = fnet_model_load_memory(blob, size, &m);
        if (r != FNET_OK) { fprintf(stderr, "memory_needs: %s: %s\n", path, fnet_result_string(r)); free(raw); continue; }
        model_heap = g_now;
        switch (fnet_model_get_kind(m)) {
        case FNET_MODEL_DETECTOR: {
            static const int sz[2][2] = {{320, 240}, {640, 480}};
            for (k = 0; k < 4; k++) {
                int w = sz[k / 2][0], h = sz[k / 2][1], nb = 0;
                fnet_detect_opts o;
                size_t ws;
                void *work;
                unsigned char *px = make_image(w, h);
                fnet_box boxes[16];
                memset(&o, 0, sizeof o);
                o.upsample = k % 2;
                ws = fnet_detect_workspace_size(m, w, h, &o);
                work = malloc(ws ? ws : 1);
                g_now = g_peak = model_heap;
                r = px && work ? fnet_detect(m, fnet_image_view(px, w, h, 3, 0), &o, work, ws, boxes, 16, &nb) : FNET_ERR_OUT_OF_MEMORY;
                snprintf(what, sizeof what, "detect %dx%d, upsample %d", w, h, o.upsample);
                if (r == FNET_OK) add(what, size, model_heap, ws, g_peak - model_heap, (size_t)w * h * 3);
                else fprintf(stderr, "memory_needs: %s: %s\n", what, fnet_result_string(r));
                free(work);
                free(px);
            }
            break;
        }
        case FNET_MODEL_LANDMARKS: {
            fnet_point pts[256];
            fnet_box b;
            int w = 320, h = 240;
            unsigned char *px = make_image(w, h);
            memset(&b, 0, sizeof b);
            b.left = 100; b.top = 60; b.right = 219; b.bottom = 179;
            g_now = g_peak = model_heap;
            r = px && fnet_landmarks_count(m) <= 256 ? fnet_landmarks(m, fnet_image_view(px, w, h, 3, 0), b, pts) : FNET_ERR_OUT_OF_MEMORY;
            snprintf(what, sizeof what, "landmarks (%d points), %dx%d", fnet_landmarks_count(m), w, h);
            if (r == FNET_OK) add(what, size, model_heap, 0, g_peak - model_heap, (size_t)w * h * 3);
            else fprintf(stderr, "memory_needs: %s: %s\n", what, fnet_result_string(r));
            free(px);
            break;
        }
        case FNET_MODEL_NETWORK: {
            int s = fnet_embed_input_size(m);
            size_t ws = fnet_embed_workspace_size(m);
            void *work = malloc(ws ? ws : 1);
            unsigned char *crop = make_image(s, s);
            float emb[1024];
            g_now = g_peak = model_heap;
            r = work && crop && fnet_embed_dim(m) <= 1024 ? fnet_embed(m, crop, work, ws, emb) : FNET_ERR_OUT_OF_MEMORY;
            snprintf(what, sizeof what, "embed %s (%dx%d crop)", fnet_model_meta(m, "name") ? fnet_model_meta(m, "name") : names[i], s, s);
            if (r == FNET_OK) add(what, size, model_heap, ws, g_peak - model_heap, (size_t)s * s * 3);
            else fprintf(stderr, "memory_needs: %s: %s\n", what, fnet_result_string(r));
            free(work);
            free(crop);
            break;
        }
        default: break;
        }
        fnet_model_free(m);
        free(raw);
    }
    printf("| stage | blob | model heap | workspace | call's own heap | image | RAM (blob in flash) | RAM (blob in RAM) | fits in |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (i = 0; i < g_n; i++) {
        stage *s = &g_st[i];
        size_t ram = s->model_heap + s->work + s->call_heap + s->image;
        printf("| %s | %lu KB | %lu KB | %lu KB | %lu KB | %lu KB | %lu KB | %lu KB | %s RAM + %s flash, or %s RAM |\n",
               s->what, KB(s->blob), KB(s->model_heap), KB(s->work), KB(s->call_heap), KB(s->image), KB(ram),
               KB(ram + s->blob), budget(ram), budget(s->blob), budget(ram + s->blob));
    }
    return 0;
}
