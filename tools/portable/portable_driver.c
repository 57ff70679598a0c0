/* portable_driver.c - runs the whole facenet.h pipeline on a few photos and prints every
   result as text, so that the builds of tools/portable/portable.sh (gcc/clang, C/C++, -O0/-O2,
   FNET_NO_SIMD, -m32, aarch64 NEON and big-endian s390x under qemu) can be compared line by
   line with the x86-64 scalar build (tools/portable/portable_compare.py).

   usage: portable_driver WEIGHTS_DIR IMAGE...

   Output lines (one result per line, floats with 9 significant digits so a float
   round-trips):
     platform ARCH ENDIAN ptr=BITS simd=...
     model NAME ok kind=K tensors=N ops=N isa=I datacrc=XXXXXXXX    (or: model NAME missing|error ...)
     image NAME WxH pixcrc=XXXXXXXX
     detect NAME ok n=N | detect NAME error CODE
     box NAME I left top right bottom score filter
     lm NAME I x0 y0 x1 y1 ...                    (or: lm NAME I error CODE)
     crop NAME I NET crc=XXXXXXXX                  the aligned crop's bytes
     emb NAME I NET v0 v1 ...                      embedding of that crop
     embfix NAME NET v0 v1 ...                     embedding of a fixed nearest-neighbour crop
                                                   of the image centre (engine only)
     lmfix NAME x0 y0 ...                          landmarks in a fixed box (the centre square)
     gallery NET bytes=N crc=XXXXXXXX ...          a gallery of this run's embeddings saved to
                                                   memory (the file format is little-endian
                                                   everywhere), loaded back, and identify()
   datacrc is the CRC-32 of every tensor's values written back little-endian: equal on every
   platform exactly when the loader's copies and byte swaps are right. pixcrc checks that the
   image decoder (stb_image, SIMD off) gave the same pixels. A stage that has not landed yet
   prints its result code ("unsupported") instead of numbers.

   Bare metal (tools/portable/baremetal.sh): -DDRIVER_LOAD_MEMORY reads each blob into a 64-byte
   aligned buffer itself and loads it with fnet_model_load_memory (zero-copy), so the library
   can be built with FNET_NO_STDIO; -DDRIVER_LANDMARKS5 uses landmarks5.fnet (make landmarks5,
   a blob that fits a small device) instead of landmarks68.fnet. */
#define FNET_IMPLEMENTATION
#include "facenet.h"

#define STBI_NO_SIMD /* the same integer IDCT on every platform */
#include "examples/image_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FACES 64

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* CRC-32 of every tensor's elements in little-endian byte order. */
static unsigned long model_data_crc(const fnet_model *m) {
    unsigned long crc = 0;
    int i;
    for (i = 0; i < m->n_tensors; i++) {
        const fnet__tensor *t = &m->tensors[i];
        const unsigned char *p = (const unsigned char *)t->data;
        size_t es = fnet__dtype_size[t->dtype], k, j;
        unsigned char le[8];
        if (fnet__host_is_little_endian() || es == 1) {
            crc = fnet__crc32_update(crc, p, t->nbytes);
            continue;
        }
        for (k = 0; k < t->count; k++, p += es) {
            for (j = 0; j < es; j++) le[j] = p[es - 1 - j];
            crc = fnet__crc32_update(crc, le, es);
        }
    }
    return crc;
}

static fnet_model *load(const char *dir, const char *name) {
    char path[4096];
    fnet_model *m = NULL;
    fnet_result r;
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f) {
        printf("model %s missing\n", name);
        return NULL;
    }
#ifdef DRIVER_LOAD_MEMORY
    {
        long n = 0;
        void *raw = NULL;
        unsigned char *blob = NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (raw = malloc((size_t)n + 64)) != NULL) {
            blob = (unsigned char *)(((size_t)raw + 63) & ~(size_t)63);
            if (fread(blob, 1, (size_t)n, f) != (size_t)n) blob = NULL;
        }
        fclose(f);
        r = blob ? fnet_model_load_memory(blob, (size_t)n, &m) : FNET_ERR_IO; /* raw outlives m: kept */
        if (!blob) free(raw);
    }
#else
    fclose(f);
    r = fnet_model_load_file(path, &m);
#endif
    if (r != FNET_OK) {
        printf("model %s error %d %s\n", name, (int)r, fnet_result_string(r));
        return NULL;
    }
    printf("model %s ok kind=%s tensors=%d ops=%d isa=%s datacrc=%08lx\n", name,
           fnet_model_kind_name(fnet_model_get_kind(m)), fnet_model_tensor_count(m), fnet_model_op_count(m),
           fnet_isa_name(fnet_model_get_isa(m)), model_data_crc(m));
    return m;
}

static void print_floats(const float *v, int n) {
    int i;
    for (i = 0; i < n; i++) printf(" %.9g", (double)v[i]);
    printf("\n");
}

static void embed_crop(fnet_model *net, const char *img, int face, const char *netname,
                       const unsigned char *crop) {
    float emb[1024];
    fnet_result r;
    int dim = fnet_embed_dim(net);
    if (dim <= 0 || dim > 1024) {
        printf("emb %s %d %s error dim %d\n", img, face, netname, dim);
        return;
    }
    r = fnet_embed(net, crop, NULL, 0, emb);
    if (face >= 0) printf("emb %s %d %s", img, face, netname);
    else printf("embfix %s %s", img, netname);
    if (r != FNET_OK) {
        printf(" error %d %s\n", (int)r, fnet_result_string(r));
        return;
    }
    print_floats(emb, dim);
}

/* A fixed crop: the image centre (a square 60% of the shorter side) sampled nearest-neighbour
   with integer arithmetic only, so every platform feeds the network the same bytes. */
static void fixed_crop(const unsigned char *px, int w, int h, int size, unsigned char *out) {
    int side = (w < h ? w : h) * 3 / 5, x0, y0, x, y, c;
    if (side < 1) side = 1;
    x0 = (w - side) / 2;
    y0 = (h - side) / 2;
    for (y = 0; y < size; y++)
        for (x = 0; x < size; x++) {
            int sx = x0 + (int)((long)x * side / size), sy = y0 + (int)((long)y * side / size);
            for (c = 0; c < 3; c++) out[(y * size + x) * 3 + c] = px[((long)sy * w + sx) * 3 + c];
        }
}

/* A gallery of synthetic embeddings (exact binary fractions: the same floats everywhere),
   saved to memory, loaded back and searched. The saved bytes must be identical on every
   platform (the file is little-endian), the distances equal to float rounding. */
static void gallery_check(void) {
    enum { DIM = 128, PEOPLE = 5, PER = 3 };
    static float e[PEOPLE * PER * DIM], probe[DIM];
    fnet_gallery *g = NULL, *g2 = NULL;
    fnet_match mt[3];
    size_t need = 0;
    unsigned char *buf;
    fnet_result r;
    int p, i, n = 0;
    char name[16];
    unsigned long x = 12345;
    for (i = 0; i < PEOPLE * PER * DIM; i++) {
        x = (x * 1103515245UL + 12345UL) & 0x7fffffffUL;
        e[i] = (float)((long)((x >> 16) % 129) - 64) / 256.0f;
    }
    for (i = 0; i < DIM; i++) probe[i] = e[7 * DIM + i] + (float)(i % 3) / 128.0f;
    r = fnet_gallery_create("nn4.small2.v1", DIM, &g);
    for (p = 0; r == FNET_OK && p < PEOPLE; p++) {
        snprintf(name, sizeof name, "person %d", p);
        r = fnet_gallery_enroll(g, name, e + (size_t)p * PER * DIM, PER);
    }
    if (r == FNET_OK) r = fnet_gallery_save_memory(g, NULL, 0, &need);
    if (r != FNET_OK) {
        printf("gallery synthetic error %d %s\n", (int)r, fnet_result_string(r));
        fnet_gallery_free(g);
        return;
    }
    buf = (unsigned char *)malloc(need);
    r = buf ? fnet_gallery_save_memory(g, buf, need, &need) : FNET_ERR_OUT_OF_MEMORY;
    if (r == FNET_OK) r = fnet_gallery_load_memory(buf, need, &g2);
    if (r == FNET_OK) r = fnet_identify(g2, probe, DIM, 10.0f, mt, 3, &n);
    if (r != FNET_OK) {
        printf("gallery synthetic error %d %s\n", (int)r, fnet_result_string(r));
    } else {
        printf("gallery synthetic bytes=%lu crc=%08lx people=%d embeddings=%d\n", (unsigned long)need,
               fnet__crc32(buf, need), fnet_gallery_count(g2), fnet_gallery_embedding_count(g2));
        printf("galid synthetic");
        for (i = 0; i < n; i++) printf(" %d %.9g", mt[i].person, (double)mt[i].distance);
        printf("\n");
    }
    free(buf);
    fnet_gallery_free(g);
    fnet_gallery_free(g2);
}

int main(int argc, char **argv) {
    fnet_model *det, *lm, *net[2];
    static const char *const net_names[2] = {"nn4", "resnet"};
    int a, k;
    if (argc < 3) {
        fprintf(stderr, "usage: portable_driver WEIGHTS_DIR IMAGE...\n");
        return 2;
    }
    printf("platform %s %s ptr=%d simd=%s\n",
#if defined(__x86_64__)
           "x86_64",
#elif defined(__i386__)
           "i386",
#elif defined(__aarch64__)
           "aarch64",
#elif defined(__s390x__)
           "s390x",
#elif defined(__arm__)
           "arm",
#elif defined(__riscv)
           "riscv",
#elif defined(__wasm32__)
           "wasm32",
#else
           "other",
#endif
           fnet__host_is_little_endian() ? "little-endian" : "big-endian", (int)(8 * sizeof(void *)),
#if defined(FNET__X86)
           "x86"
#elif defined(FNET__NEON)
           "neon"
#elif defined(FNET__WASM_SIMD)
           "wasm_simd128"
#else
           "none"
#endif
    );
    gallery_check();
    det = load(argv[1], "hog_frontal.fnet");
#ifdef DRIVER_LANDMARKS5
#define DRIVER_LANDMARKS "landmarks5.fnet"
#else
#define DRIVER_LANDMARKS "landmarks68.fnet"
#endif
    lm = load(argv[1], DRIVER_LANDMARKS);
    net[0] = load(argv[1], "nn4.small2.v1.fnet");
    net[1] = load(argv[1], "resnet34.fnet");
    for (a = 2; a < argc; a++) {
        int w, h, nb = 0, i;
        const char *name = base_name(argv[a]);
        char why[256];
        unsigned char *px = il_load_pixels(argv[a], 3, &w, &h, why, sizeof why);
        fnet_box boxes[MAX_FACES];
        fnet_result r;
        fnet_image img;
        if (!px) {
            printf("image %s error %s\n", name, why);
            continue;
        }
        printf("image %s %dx%d pixcrc=%08lx\n", name, w, h, fnet__crc32(px, (size_t)w * h * 3));
        img = fnet_image_view(px, w, h, 3, 0);
        for (k = 0; k < 2; k++) {
            int size;
            unsigned char *crop;
            if (!net[k]) continue;
            size = fnet_embed_input_size(net[k]);
            if (size <= 0 || size > 1024) {
                printf("embfix %s %s error input size %d\n", name, net_names[k], size);
                continue;
            }
            crop = (unsigned char *)malloc((size_t)size * size * 3);
            if (!crop) continue;
            fixed_crop(px, w, h, size, crop);
            embed_crop(net[k], name, -1, net_names[k], crop);
            free(crop);
        }
        if (lm) { /* landmarks on a fixed box (the centre square): the stage alone */
            fnet_point pts[68];
            fnet_box fb;
            int np = fnet_landmarks_count(lm), j, side = (w < h ? w : h) / 2;
            if (np <= 0 || np > 68) np = 68;
            fb.left = (w - side) / 2;
            fb.top = (h - side) / 2;
            fb.right = fb.left + side - 1;
            fb.bottom = fb.top + side - 1;
            fb.score = 0;
            fb.filter = 0;
            r = fnet_landmarks(lm, img, fb, pts);
            printf("lmfix %s", name);
            if (r != FNET_OK) {
                printf(" error %d %s\n", (int)r, fnet_result_string(r));
            } else {
                for (j = 0; j < np; j++) printf(" %.9g %.9g", (double)pts[j].x, (double)pts[j].y);
                printf("\n");
            }
        }
        if (!det) {
            stbi_image_free(px);
            continue;
        }
        r = fnet_detect(det, img, NULL, NULL, 0, boxes, MAX_FACES, &nb);
        if (r != FNET_OK) {
            printf("detect %s error %d %s\n", name, (int)r, fnet_result_string(r));
            stbi_image_free(px);
            continue;
        }
        if (nb > MAX_FACES) nb = MAX_FACES;
        printf("detect %s ok n=%d\n", name, nb);
        for (i = 0; i < nb; i++)
            printf("box %s %d %d %d %d %d %.9g %d\n", name, i, boxes[i].left, boxes[i].top, boxes[i].right,
                   boxes[i].bottom, (double)boxes[i].score, boxes[i].filter);
        for (i = 0; lm && i < nb; i++) {
            fnet_point pts[68];
            int np = fnet_landmarks_count(lm), j;
            if (np <= 0 || np > 68) np = 68;
            r = fnet_landmarks(lm, img, boxes[i], pts);
            if (r != FNET_OK) {
                printf("lm %s %d error %d %s\n", name, i, (int)r, fnet_result_string(r));
                continue;
            }
            printf("lm %s %d", name, i);
            for (j = 0; j < np; j++) printf(" %.9g %.9g", (double)pts[j].x, (double)pts[j].y);
            printf("\n");
            for (k = 0; k < 2; k++) {
                int size;
                unsigned char *crop;
                fnet_align_kind kind;
                if (!net[k]) continue;
                size = fnet_embed_input_size(net[k]);
                if (size <= 0 || size > 1024) continue;
                kind = fnet_embed_align_kind(net[k]);
                crop = (unsigned char *)malloc((size_t)size * size * 3);
                if (!crop) continue;
                r = fnet_align(img, pts, np, kind, size, crop);
                if (r != FNET_OK) {
                    printf("crop %s %d %s error %d %s\n", name, i, net_names[k], (int)r, fnet_result_string(r));
                } else {
                    printf("crop %s %d %s crc=%08lx\n", name, i, net_names[k],
                           fnet__crc32(crop, (size_t)size * size * 3));
                    embed_crop(net[k], name, i, net_names[k], crop);
                }
                free(crop);
            }
        }
        stbi_image_free(px);
    }
    fnet_model_free(det);
    fnet_model_free(lm);
    fnet_model_free(net[0]);
    fnet_model_free(net[1]);
    return 0;
}
