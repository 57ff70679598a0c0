/* embcache.h - faces and embeddings of photos through facenet.h's public API, computed once
   and (optionally) cached under build/embcache/ for the evaluation tools.

   Used by examples/cli_match.h (no cache), examples/triplet_train.c, tools/eval/eval_match.c and
   tools/bench/bench_match.c. The includer provides facenet.h's implementation; photos are read by
   examples/image_load.h (included here).

   Pipeline per image (as fnet embed / eval-lfw): detect (upsample ec->upsample, and once more
   with upsample+1 when nothing is found and ec->retry is set) -> 68 landmarks -> align (dlib's
   150 px chip for the ResNet, OpenFace's 96 px outer eyes and nose for nn4) -> embed.
   Every face found is embedded: ec_images runs several photos and embeds their faces by
   fnet_embed_batch, up to EC_BATCH chips at once (the weights are read once per batch; the
   embeddings are the same as one by one), and ec->par lends the caller's threads to the
   detector and the network (zero: one thread). With ec->centre_fallback, an image without any detection
   gets one face from a fixed central box (side 0.43 * min(w, h), as fnet eval-lfw does on
   LFW), flagged `fallback`.
   Augmented embeddings (what fnet enroll makes for a gallery): ec->jitter = N > 0 embeds N
   perturbed copies of each chip (examples/jitter.h, dlib's jitter_image) and keeps their mean;
   ec->flip = 1 (with jitter 0) the mean of the chip's and its mirror image's embeddings. Every
   face draws the same N perturbations (the jitter state starts at EC_JITTER_SEED for each
   chip), so the result depends neither on the order of the photos nor on batches or threads.

   Cache: one small file per image and setting, named by a 64-bit FNV-1a hash of the image
   path, size and mtime, the network, the detection options and the three blobs' sizes and
   mtimes (and, for augmented embeddings only, jitter and flip: plain entries keep their keys);
   FNET_EMBCACHE_CODE=1 adds the bytes of ./facenet.h (so that a changed pipeline
   never reuses old embeddings; otherwise `rm -rf build/embcache` after changing the code).
   Written to a temporary name and renamed. FNET_NO_EMBCACHE=1 turns the cache off. */
#ifndef EMBCACHE_H
#define EMBCACHE_H
/* Folders, file stamps and process ids through examples/platform.h (POSIX: define
   _POSIX_C_SOURCE 200809L before the first #include). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

#include "image_load.h" /* il_load: the validating pre-pass, then stb_image */
#include "jitter.h"     /* jitter_chip: dlib's jitter_image (augmented embeddings) */
#include "progress.h"   /* the progress line: count, rate, ETA */

#if defined(__GNUC__) || defined(__clang__)
#define EC_UNUSED __attribute__((unused))
#else
#define EC_UNUSED
#endif

#define EC_MAX_FACES 64
#define EC_DIM 128
#define EC_BATCH 8 /* chips per fnet_embed_batch call (and photos per ec_images group) */
#define EC_JITTER_MAX 1000
#define EC_JITTER_SEED 0x9E3779B97F4A7C15ULL /* each chip's jitter state (eval-lfw's image 0) */

/* 1: photos are turned upright as their JPEG EXIF orientation says (il_load_upright), so
   boxes and landmarks are where a viewer shows the face; fnet --no-exif sets 0 (as stored). */
static int ec_exif = 1;

typedef struct ec_face {
    fnet_box box;
    int fallback; /* 1: no detection, central box */
    float emb[EC_DIM];
} ec_face;

typedef struct ec_result {
    int width, height;
    int n; /* faces (0 when none) */
    ec_face face[EC_MAX_FACES];
} ec_result;

typedef struct embcache {
    fnet_model *det, *lm, *net;
    const char *net_name;   /* "resnet" or "nn4" */
    const char *network_id; /* fnet_network_id(net) */
    int dim;
    int upsample, retry, centre_fallback;
    int jitter, flip;       /* augmented embeddings: mean of `jitter` perturbed copies (0: none),
                               or with flip of the chip and its mirror image */
    fnet_parallel par;      /* the caller's threads, lent to fnet_detect and fnet_embed_batch */
    char cache_dir[1024];   /* "" = no cache */
    unsigned long long stamp;
    int hits, misses;
} embcache;

static unsigned long long ec__fnv(unsigned long long h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}
static unsigned long long ec__fnv_file_stat(unsigned long long h, const char *path) {
    long long v[2] = {-1, -1};
    pf_kind(path, &v[0], &v[1]); /* left -1 when the file is missing */
    h = ec__fnv(h, path, strlen(path));
    return ec__fnv(h, v, sizeof v);
}

static const char *ec_blob_name(const char *net) {
    return strcmp(net, "nn4") == 0 ? "nn4.small2.v1.fnet" : "resnet34.fnet";
}
static EC_UNUSED const char *ec_net_for_network(const char *network_id) {
    return network_id && strstr(network_id, "nn4") ? "nn4" : "resnet";
}

/* The blob DIR/NAME (also fnet's load_model); NULL when it cannot be loaded (printed why). */
static fnet_model *ec_load_model(const char *dir, const char *name) {
    char path[4096];
    fnet_model *m = NULL;
    fnet_result r;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    r = fnet_model_load_file(path, &m);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", path, fnet_result_string(r));
        if (r == FNET_ERR_IO) fprintf(stderr, "fnet: build the blobs with `make weights` or pass --weights DIR\n");
        return NULL;
    }
    return m;
}

/* ec_load_model, and the blob's path, size and mtime into the cache stamp. */
static fnet_model *ec__load(const char *dir, const char *name, unsigned long long *stamp) {
    char path[4096];
    fnet_model *m = ec_load_model(dir, name);
    if (!m) return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *stamp = ec__fnv_file_stat(*stamp, path);
    return m;
}

static void ec_close(embcache *ec) {
    fnet_model_free(ec->det);
    fnet_model_free(ec->lm);
    fnet_model_free(ec->net);
    memset(ec, 0, sizeof *ec);
}

/* Loads the three blobs from weights_dir (the network from net_blob instead when it is not
   NULL). cache_dir NULL: no cache. Returns 1 on success. */
static int ec_open_blob(embcache *ec, const char *weights_dir, const char *net, const char *net_blob,
                        const char *cache_dir) {
    memset(ec, 0, sizeof *ec);
    ec->stamp = 14695981039346656037ULL;
    ec->net_name = strcmp(net, "nn4") == 0 ? "nn4" : "resnet";
    ec->upsample = 1; /* face_recognition's and eval-lfw's default */
    ec->retry = 0;
    ec->det = ec__load(weights_dir, "hog_frontal.fnet", &ec->stamp);
    ec->lm = ec->det ? ec__load(weights_dir, "landmarks68.fnet", &ec->stamp) : NULL;
    if (net_blob) {
        const char *slash = strrchr(net_blob, '/');
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - net_blob) : 1, slash ? net_blob : ".");
        ec->net = ec->lm ? ec__load(dir, slash ? slash + 1 : net_blob, &ec->stamp) : NULL;
    } else {
        ec->net = ec->lm ? ec__load(weights_dir, ec_blob_name(ec->net_name), &ec->stamp) : NULL;
    }
    if (!ec->net) { ec_close(ec); return 0; }
    ec->network_id = fnet_network_id(ec->net);
    ec->dim = fnet_embed_dim(ec->net);
    if (ec->dim != EC_DIM) {
        fprintf(stderr, "fnet: %s: embedding size %d, expected %d\n", ec_blob_name(ec->net_name), ec->dim, EC_DIM);
        ec_close(ec);
        return 0;
    }
    if (cache_dir && *cache_dir && !getenv("FNET_NO_EMBCACHE")) {
        FILE *f = getenv("FNET_EMBCACHE_CODE") ? fopen("facenet.h", "rb") : NULL;
        char buf[65536];
        size_t got;
        if (f) {
            while ((got = fread(buf, 1, sizeof buf, f)) > 0) ec->stamp = ec__fnv(ec->stamp, buf, got);
            fclose(f);
        }
        snprintf(ec->cache_dir, sizeof ec->cache_dir, "%s", cache_dir);
    }
    return 1;
}
static EC_UNUSED int ec_open(embcache *ec, const char *weights_dir, const char *net, const char *cache_dir) {
    return ec_open_blob(ec, weights_dir, net, NULL, cache_dir);
}

static void ec__mkdirs(const char *dir) {
    char tmp[1024];
    size_t i, n = strlen(dir);
    if (n >= sizeof tmp) return;
    memcpy(tmp, dir, n + 1);
    for (i = 1; i <= n; i++)
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            pf_mkdir(tmp);
            tmp[i] = c;
        }
}

static unsigned long long ec__key(const embcache *ec, const char *path) {
    unsigned long long h = ec__fnv_file_stat(ec->stamp, path);
    int opts[3];
    opts[0] = ec->upsample; opts[1] = ec->retry; opts[2] = ec->centre_fallback;
    if (!ec_exif) h = ec__fnv(h, "no-exif", 7); /* other pixels, other faces */
    if (ec->jitter > 0 || ec->flip) { /* other embeddings; plain keys unchanged */
        int aug[3];
        aug[0] = ec->jitter; aug[1] = ec->flip; aug[2] = 1; /* 1: EC_JITTER_SEED's draws */
        h = ec__fnv(h, "augmented", 9);
        h = ec__fnv(h, aug, sizeof aug);
    }
    h = ec__fnv(h, ec->net_name, strlen(ec->net_name));
    return ec__fnv(h, opts, sizeof opts);
}

static int ec__cache_read(const embcache *ec, unsigned long long key, ec_result *out) {
    char path[1200];
    FILE *f;
    int ok;
    snprintf(path, sizeof path, "%s/%016llx.emb", ec->cache_dir, key);
    f = fopen(path, "rb");
    if (!f) return 0;
    ok = fread(out, sizeof *out, 1, f) == 1 && out->n >= 0 && out->n <= EC_MAX_FACES;
    fclose(f);
    return ok;
}

static void ec__cache_write(const embcache *ec, unsigned long long key, const ec_result *r) {
    char path[1200], tmp[1300];
    FILE *f;
    ec__mkdirs(ec->cache_dir);
    snprintf(path, sizeof path, "%s/%016llx.emb", ec->cache_dir, key);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, pf_getpid());
    f = fopen(tmp, "wb");
    if (!f) return;
    if (fwrite(r, sizeof *r, 1, f) != 1) { fclose(f); remove(tmp); return; }
    if (fclose(f) != 0 || pf_rename(tmp, path) != 0) remove(tmp);
}

/* Chips waiting for fnet_embed_batch, and which face of which result each one is. */
typedef struct ec__pending {
    int n;
    unsigned char chip[EC_BATCH][150 * 150 * 3];
    ec_face *dst[EC_BATCH];
    float emb[EC_BATCH * EC_DIM];
} ec__pending;

/* The augmented embeddings of the pending chips (ec->jitter > 0 or ec->flip): copies of each
   chip (N jitters, each from state EC_JITTER_SEED on; or the chip and its mirror) embedded
   EC_BATCH at a time, each chip's mean summed in the order of its copies. */
static fnet_result ec__flush_augmented(embcache *ec, ec__pending *pd, const fnet_embed_opts *eo) {
    int size = fnet_embed_input_size(ec->net), copies = ec->jitter > 0 ? ec->jitter : 2;
    int total = pd->n * copies, i, j, b, c, m;
    size_t chip = (size_t)size * size * 3;
    unsigned char *jc = (unsigned char *)malloc((size_t)EC_BATCH * chip);
    float *acc = (float *)calloc((size_t)pd->n * EC_DIM, sizeof(float)), e[EC_BATCH * EC_DIM];
    const unsigned char *chips[EC_BATCH];
    unsigned long long st = EC_JITTER_SEED;
    fnet_result r = jc && acc ? FNET_OK : FNET_ERR_OUT_OF_MEMORY;
    for (j = 0; r == FNET_OK && j < total; j += m) { /* copy q of chip q / copies */
        m = total - j < EC_BATCH ? total - j : EC_BATCH;
        for (b = 0; b < m; b++) {
            int q = j + b, v = q % copies, x, y;
            const unsigned char *in = pd->chip[q / copies];
            unsigned char *out = jc + (size_t)b * chip;
            chips[b] = out;
            if (ec->jitter > 0) {
                if (v == 0) st = EC_JITTER_SEED;
                jitter_chip(in, out, size, &st);
            } else if (v == 0) {
                memcpy(out, in, chip);
            } else {
                for (y = 0; y < size; y++)
                    for (x = 0; x < size; x++)
                        memcpy(out + ((size_t)y * size + x) * 3, in + ((size_t)y * size + (size - 1 - x)) * 3, 3);
            }
        }
        r = fnet_embed_batch(ec->net, chips, m, eo, NULL, 0, e);
        for (b = 0; r == FNET_OK && b < m; b++)
            for (c = 0; c < EC_DIM; c++) acc[(size_t)((j + b) / copies) * EC_DIM + c] += e[b * EC_DIM + c];
    }
    for (i = 0; i < pd->n && r == FNET_OK; i++)
        for (c = 0; c < EC_DIM; c++) pd->dst[i]->emb[c] = acc[(size_t)i * EC_DIM + c] / (float)copies;
    free(jc);
    free(acc);
    pd->n = 0;
    return r;
}

/* Embeds the pending chips in one batch; returns an fnet_result. */
static fnet_result ec__flush(embcache *ec, ec__pending *pd) {
    const unsigned char *chips[EC_BATCH];
    fnet_embed_opts eo;
    fnet_result r;
    int i;
    if (pd->n == 0) return FNET_OK;
    if (ec->jitter > 0 || ec->flip) {
        memset(&eo, 0, sizeof eo);
        eo.parallel = ec->par;
        return ec__flush_augmented(ec, pd, &eo);
    }
    for (i = 0; i < pd->n; i++) chips[i] = pd->chip[i];
    memset(&eo, 0, sizeof eo);
    eo.parallel = ec->par;
    r = fnet_embed_batch(ec->net, chips, pd->n, &eo, NULL, 0, pd->emb);
    for (i = 0; i < pd->n && r == FNET_OK; i++) memcpy(pd->dst[i]->emb, pd->emb + i * EC_DIM, EC_DIM * sizeof(float));
    pd->n = 0;
    return r;
}

/* Landmarks and the aligned chip of the face in `box`, queued for embedding into *out. */
static fnet_result ec__queue_box(embcache *ec, ec__pending *pd, fnet_image img, fnet_box box, ec_face *out) {
    fnet_point pts[68];
    int size = fnet_embed_input_size(ec->net);
    fnet_align_kind kind = fnet_embed_align_kind(ec->net);
    fnet_result r;
    if (size <= 0 || size > 150) return FNET_ERR_UNSUPPORTED;
    if (pd->n == EC_BATCH && (r = ec__flush(ec, pd)) != FNET_OK) return r;
    if ((r = fnet_landmarks(ec->lm, img, box, pts)) != FNET_OK) return r;
    if ((r = fnet_align(img, pts, 68, kind, size, pd->chip[pd->n])) != FNET_OK) return r;
    pd->dst[pd->n++] = out;
    out->box = box;
    out->fallback = 0;
    return FNET_OK;
}

/* All faces of a decoded image (RGB), queued on pd (their embeddings arrive at the flush). */
static fnet_result ec__queue_image(embcache *ec, ec__pending *pd, fnet_image img, ec_result *out) {
    fnet_box boxes[EC_MAX_FACES];
    fnet_detect_opts o;
    fnet_result r;
    int n = 0, i;
    memset(out, 0, sizeof *out);
    out->width = img.width;
    out->height = img.height;
    memset(&o, 0, sizeof o);
    o.upsample = ec->upsample;
    o.parallel = ec->par;
    if ((r = fnet_detect(ec->det, img, &o, NULL, 0, boxes, EC_MAX_FACES, &n)) != FNET_OK) return r;
    if (n == 0 && ec->retry) {
        o.upsample = ec->upsample + 1;
        if ((r = fnet_detect(ec->det, img, &o, NULL, 0, boxes, EC_MAX_FACES, &n)) != FNET_OK) return r;
    }
    if (n > EC_MAX_FACES) n = EC_MAX_FACES;
    if (n == 0 && ec->centre_fallback) {
        int side = (int)(0.43 * (img.width < img.height ? img.width : img.height));
        boxes[0].left = (img.width - side) / 2;
        boxes[0].top = (img.height - side) / 2;
        boxes[0].right = boxes[0].left + side - 1;
        boxes[0].bottom = boxes[0].top + side - 1;
        boxes[0].score = 0;
        boxes[0].filter = -1;
        if ((r = ec__queue_box(ec, pd, img, boxes[0], &out->face[0])) != FNET_OK) return r;
        out->face[0].fallback = 1;
        out->n = 1;
        return FNET_OK;
    }
    for (i = 0; i < n; i++)
        if ((r = ec__queue_box(ec, pd, img, boxes[i], &out->face[out->n])) == FNET_OK) out->n++;
        else return r;
    return FNET_OK;
}

/* All faces of a decoded image (RGB). */
static EC_UNUSED fnet_result ec_embed_image(embcache *ec, fnet_image img, ec_result *out) {
    ec__pending *pd = (ec__pending *)malloc(sizeof *pd);
    fnet_result r;
    if (!pd) return FNET_ERR_OUT_OF_MEMORY;
    pd->n = 0;
    r = ec__queue_image(ec, pd, img, out);
    if (r == FNET_OK) r = ec__flush(ec, pd);
    free(pd);
    return r;
}

/* Loads and embeds the images paths[0..n-1] (through the cache when one is set), their faces
   in batches. ok[i] = 0 (and printed why) when image i cannot be read or its pipeline fails.
   Returns the number of images done. */
static EC_UNUSED int ec_images(embcache *ec, char *const *paths, int n, ec_result *out, int *ok) {
    ec__pending *pd = (ec__pending *)malloc(sizeof *pd);
    unsigned long long *key = (unsigned long long *)calloc((size_t)(n > 0 ? n : 1), sizeof *key);
    fnet_result *err = (fnet_result *)calloc((size_t)(n > 0 ? n : 1), sizeof *err);
    int i, j, done = 0;
    if (!pd || !key || !err) { free(pd); free(key); free(err); for (i = 0; i < n; i++) ok[i] = 0; return 0; }
    pd->n = 0;
    for (i = 0; i < n; i++) {
        il_image im;
        char why[256];
        ok[i] = 0;
        err[i] = FNET_OK;
        if (ec->cache_dir[0]) {
            key[i] = ec__key(ec, paths[i]);
            if (ec__cache_read(ec, key[i], &out[i])) { ec->hits++; ok[i] = 2; continue; }
        }
        if (!(ec_exif ? il_load_upright(paths[i], 3, &im, NULL, why, sizeof why)
                      : il_load(paths[i], 3, &im, why, sizeof why))) {
            fprintf(stderr, "fnet: %s: %s\n", paths[i], why);
            continue;
        }
        err[i] = ec__queue_image(ec, pd, fnet_image_view(im.pixels, im.width, im.height, 3, im.width * 3), &out[i]);
        il_free(&im);
        if (err[i] != FNET_OK) { /* drop its queued faces: they will not be reported */
            int k = 0;
            for (j = 0; j < pd->n; j++)
                if (pd->dst[j] < out[i].face || pd->dst[j] >= out[i].face + EC_MAX_FACES) {
                    if (k != j) { memcpy(pd->chip[k], pd->chip[j], sizeof pd->chip[0]); pd->dst[k] = pd->dst[j]; }
                    k++;
                }
            pd->n = k;
            continue;
        }
        ok[i] = 1;
    }
    if (ec__flush(ec, pd) != FNET_OK) /* (an embedding error fails every image of the last batch) */
        for (i = 0; i < n; i++) if (ok[i] == 1) { ok[i] = 0; err[i] = FNET_ERR_NOT_FINITE; }
    for (i = 0; i < n; i++) {
        if (err[i] != FNET_OK) fprintf(stderr, "fnet: %s: %s\n", paths[i], fnet_result_string(err[i]));
        if (ok[i] == 1) {
            ec->misses++;
            if (ec->cache_dir[0]) ec__cache_write(ec, key[i], &out[i]);
        }
        ok[i] = ok[i] != 0;
        done += ok[i];
    }
    free(pd);
    free(key);
    free(err);
    return done;
}

/* Loads and embeds the image at `path` (through the cache when one is set).
   Returns 0 and prints why when the image cannot be read or the pipeline fails. */
static EC_UNUSED int ec_image(embcache *ec, const char *path, ec_result *out) {
    char *p = (char *)path;
    int ok = 0;
    ec_images(ec, &p, 1, out, &ok);
    return ok;
}

/* The face to use when a photo shows one person: the largest box (ties: the first). */
static EC_UNUSED int ec_largest(const ec_result *r) {
    int i, best = -1;
    long area = -1;
    for (i = 0; i < r->n; i++) {
        long a = (long)(r->face[i].box.right - r->face[i].box.left + 1) * (r->face[i].box.bottom - r->face[i].box.top + 1);
        if (a > area) { area = a; best = i; }
    }
    return best;
}
/* The face whose box centre is nearest the image centre (LFW's convention). */
static EC_UNUSED int ec_central(const ec_result *r) {
    int i, best = -1;
    double bd = 1e300;
    for (i = 0; i < r->n; i++) {
        double cx = 0.5 * (r->face[i].box.left + r->face[i].box.right) - 0.5 * (r->width - 1);
        double cy = 0.5 * (r->face[i].box.top + r->face[i].box.bottom) - 0.5 * (r->height - 1);
        if (cx * cx + cy * cy < bd) { bd = cx * cx + cy * cy; best = i; }
    }
    return best;
}

/* ---- folders ---- */
static int ec__ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        int x = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a, y = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;
        if (x != y) return 0;
    }
    return *a == *b;
}
static int ec__is_image(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return 0;
    return ec__ieq(dot, ".jpg") || ec__ieq(dot, ".jpeg") || ec__ieq(dot, ".png") ||
           ec__ieq(dot, ".bmp") || ec__ieq(dot, ".gif") || ec__ieq(dot, ".tga");
}
static int ec__strcmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the entries of `dir` (want_dirs: sub-folders, else image files).
   Returns the count (-1 when the folder cannot be read); free with ec_free_list. */
static EC_UNUSED int ec_list(const char *dir, int want_dirs, char ***out) {
    pf_dir *d = pf_dir_open(dir);
    const char *e;
    char **list = NULL, path[2048];
    int n = 0, cap = 0;
    *out = NULL;
    if (!d) return -1;
    while ((e = pf_dir_next(d)) != NULL) {
        int kind;
        if (e[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e);
        kind = pf_kind(path, NULL, NULL);
        if (want_dirs ? kind != PF_DIR : (kind != PF_FILE || !ec__is_image(e))) continue;
        if (n == cap) {
            char **nl;
            cap = cap ? cap * 2 : 64;
            nl = (char **)realloc(list, (size_t)cap * sizeof *list);
            if (!nl) break;
            list = nl;
        }
        list[n] = (char *)malloc(strlen(e) + 1);
        if (!list[n]) break;
        strcpy(list[n++], e);
    }
    pf_dir_close(d);
    if (n) qsort(list, (size_t)n, sizeof *list, ec__strcmp);
    *out = list;
    return n;
}
static EC_UNUSED void ec_free_list(char **list, int n) {
    int i;
    for (i = 0; i < n; i++) free(list[i]);
    free(list);
}

/* Labelled photos DIR/person/image: parallel arrays of paths and person indices. */
typedef struct ec_labelled {
    int n_people, n;
    char **people; /* names */
    char **paths;
    int *label;
} ec_labelled;

static EC_UNUSED void ec_labelled_free(ec_labelled *l) {
    ec_free_list(l->people, l->n_people);
    ec_free_list(l->paths, l->n);
    free(l->label);
    memset(l, 0, sizeof *l);
}

static EC_UNUSED int ec_labelled_dir(const char *dir, ec_labelled *out) {
    char **people = NULL;
    int np = ec_list(dir, 1, &people), i, cap = 0;
    memset(out, 0, sizeof *out);
    if (np < 0) { fprintf(stderr, "fnet: %s: cannot read folder\n", dir); return 0; }
    out->people = people;
    out->n_people = np;
    for (i = 0; i < np; i++) {
        char sub[2048], **files = NULL;
        int nf, j;
        snprintf(sub, sizeof sub, "%.1500s/%.500s", dir, people[i]);
        nf = ec_list(sub, 0, &files);
        for (j = 0; j < nf; j++) {
            char path[4096];
            if (out->n == cap) {
                cap = cap ? cap * 2 : 256;
                out->paths = (char **)realloc(out->paths, (size_t)cap * sizeof(char *));
                out->label = (int *)realloc(out->label, (size_t)cap * sizeof(int));
                if (!out->paths || !out->label) { ec_free_list(files, nf); return 0; }
            }
            snprintf(path, sizeof path, "%.2040s/%.2040s", sub, files[j]);
            out->paths[out->n] = (char *)malloc(strlen(path) + 1);
            if (!out->paths[out->n]) { ec_free_list(files, nf); return 0; }
            strcpy(out->paths[out->n], path);
            out->label[out->n++] = i;
        }
        ec_free_list(files, nf);
    }
    return 1;
}

/* Embeds every photo of a labelled folder (one face each: the central one, LFW style, or the
   largest). ok[i] = 0 when the image failed or had no face. Progress on stderr. */
static EC_UNUSED int ec_embed_all(embcache *ec, const ec_labelled *lab, int central, float **x, int **ok,
                                  int *n_fallback) {
    ec_result *res = (ec_result *)malloc(EC_BATCH * sizeof *res);
    int i, k, fb = 0, got[EC_BATCH];
    progress pr;
    *x = (float *)malloc((size_t)(lab->n ? lab->n : 1) * EC_DIM * sizeof(float));
    *ok = (int *)calloc((size_t)(lab->n ? lab->n : 1), sizeof(int));
    if (!res || !*x || !*ok) { free(res); return 0; }
    progress_start(&pr, "embedding", lab->n, "images");
    for (i = 0; i < lab->n; i += EC_BATCH) { /* EC_BATCH photos at a time: faces in batches */
        int m = lab->n - i < EC_BATCH ? lab->n - i : EC_BATCH;
        progress_step(&pr, i, lab->paths[i]);
        if (ec_images(ec, lab->paths + i, m, res, got) < m) progress_break(&pr);
        for (k = 0; k < m; k++) {
            const ec_result *r = &res[k];
            int f = got[k] ? (central ? ec_central(r) : ec_largest(r)) : -1;
            if (f < 0) continue;
            memcpy(*x + (size_t)(i + k) * EC_DIM, r->face[f].emb, EC_DIM * sizeof(float));
            (*ok)[i + k] = 1;
            fb += r->face[f].fallback;
        }
    }
    progress_step(&pr, lab->n, NULL);
    progress_end(&pr);
    free(res);
    if (n_fallback) *n_fallback = fb;
    return 1;
}

/* Index of DIR/NAME/NAME_%04d.jpg in a labelled folder (paths are sorted), or -1. */
static EC_UNUSED int ec_find_path(const ec_labelled *lab, const char *path) {
    int lo = 0, hi = lab->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(lab->paths[mid], path);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* The options the LFW tools (tools/eval/eval_match.c, examples/triplet_train.c) share. */
typedef struct ec_lfw_opts {
    const char *net;     /* --net resnet|nn4 (resnet) */
    const char *weights; /* --weights DIR ($FNET_WEIGHTS, else weights) */
    const char *lfw;     /* --lfw DIR (NULL: ec_lfw_paths' default) */
    const char *cache;   /* --cache DIR (build/embcache) */
    const char *net_blob; /* --net-blob FILE: this network blob instead of weights/'s (NULL) */
} ec_lfw_opts;

static EC_UNUSED void ec_lfw_opts_init(ec_lfw_opts *o) {
    o->net = "resnet";
    o->weights = getenv("FNET_WEIGHTS");
    if (!o->weights || !*o->weights) o->weights = "weights";
    o->lfw = NULL;
    o->cache = "build/embcache";
    o->net_blob = NULL;
}

/* 1 when argv[*i] is one of those options (its value taken: *i moves onto it), else 0. */
static EC_UNUSED int ec_lfw_option(ec_lfw_opts *o, int argc, char **argv, int *i) {
    const char **to = !strcmp(argv[*i], "--net") ? &o->net : !strcmp(argv[*i], "--weights") ? &o->weights
                    : !strcmp(argv[*i], "--lfw") ? &o->lfw : !strcmp(argv[*i], "--cache") ? &o->cache
                    : !strcmp(argv[*i], "--net-blob") ? &o->net_blob : NULL;
    if (!to || *i + 1 >= argc) return 0;
    *to = argv[++*i];
    return 1;
}

/* $FNET_SHARED/REL (../shared/REL when FNET_SHARED is unset or empty), the shared data. */
static EC_UNUSED void ec_shared_path(const char *rel, char *out, size_t size) {
    const char *sh = getenv("FNET_SHARED");
    snprintf(out, size, "%.2000s/%s", sh && *sh ? sh : "../shared", rel);
}

/* LFW dev's layout for the evaluation tools: `lfw` (NULL: ec_shared_path "data/lfw-dev") holds
   the person folders in lfw-deepfunneled/ (-> root) and the View 2 pairs in pairs.txt
   (-> pairs_path, for ec_lfw_pairs). */
static EC_UNUSED void ec_lfw_paths(const char *lfw, char *root, size_t root_size, char *pairs_path, size_t pairs_size) {
    char dflt[2048];
    if (!lfw) {
        ec_shared_path("data/lfw-dev", dflt, sizeof dflt);
        lfw = dflt;
    }
    snprintf(root, root_size, "%.2000s/lfw-deepfunneled", lfw);
    snprintf(pairs_path, pairs_size, "%.2000s/pairs.txt", lfw);
}

/* LFW pairs.txt ("FOLDS\tN" then per fold N matched "name i j" and N mismatched
   "name1 i name2 j") resolved against `lab` (root = the folder of person folders). */
typedef struct ec_pair {
    int a, b, same, fold;
} ec_pair;

static EC_UNUSED int ec_lfw_pairs(const char *pairs_path, const char *root, const ec_labelled *lab, ec_pair **out,
                                  int *n_out) {
    FILE *f = fopen(pairs_path, "r");
    char line[1024], n1[256], n2[256], pa[2048], pb[2048];
    int folds = 0, per = 0, n = 0, cap = 0, i1, i2, k;
    *out = NULL;
    *n_out = 0;
    if (!f) { fprintf(stderr, "cannot read %s\n", pairs_path); return 0; }
    if (!fgets(line, sizeof line, f) || sscanf(line, "%d %d", &folds, &per) != 2) { fclose(f); return 0; }
    for (k = 0; fgets(line, sizeof line, f); k++) {
        int same, fold = k / (2 * per);
        if (sscanf(line, "%255s %d %255s %d", n1, &i1, n2, &i2) == 4) {
            same = 0;
        } else if (sscanf(line, "%255s %d %d", n1, &i1, &i2) == 3) {
            strcpy(n2, n1);
            same = 1;
        } else {
            continue;
        }
        snprintf(pa, sizeof pa, "%.900s/%.250s/%.250s_%04d.jpg", root, n1, n1, i1);
        snprintf(pb, sizeof pb, "%.900s/%.250s/%.250s_%04d.jpg", root, n2, n2, i2);
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            *out = (ec_pair *)realloc(*out, (size_t)cap * sizeof(ec_pair));
        }
        (*out)[n].a = ec_find_path(lab, pa);
        (*out)[n].b = ec_find_path(lab, pb);
        (*out)[n].same = same;
        (*out)[n].fold = fold;
        if ((*out)[n].a < 0 || (*out)[n].b < 0) { fprintf(stderr, "pairs: %s or %s not found\n", pa, pb); continue; }
        n++;
    }
    fclose(f);
    *n_out = n;
    return folds;
}

/* Best threshold ("same" when distance < t) on the pairs with fold != skip (skip -1: all);
   candidates are midpoints of consecutive sorted distances. Returns the accuracy there. */
static int ec__dcmp(const void *x, const void *y) {
    const double *a = (const double *)x, *b = (const double *)y;
    return (a[0] > b[0]) - (a[0] < b[0]);
}
static EC_UNUSED double ec_best_threshold(const double *dist, const ec_pair *p, int n, int skip, double *thr) {
    double *s = (double *)malloc((n > 0 ? (size_t)n : 1u) * 2 * sizeof(double)), best = -1, bt = 0;
    int i, m = 0, same_total = 0, same_below = 0, diff_below = 0;
    for (i = 0; i < n; i++)
        if (p[i].fold != skip) { s[2 * m] = dist[i]; s[2 * m + 1] = p[i].same; same_total += p[i].same; m++; }
    qsort(s, (size_t)m, 2 * sizeof(double), ec__dcmp);
    for (i = 0; i <= m; i++) {
        double t = i == 0 ? s[0] - 1e-6 : i == m ? s[2 * (m - 1)] + 1e-6 : 0.5 * (s[2 * (i - 1)] + s[2 * i]);
        double acc = (double)(same_below + (m - same_total) - diff_below) / (m ? m : 1);
        if (acc > best && (i == 0 || i == m || s[2 * (i - 1)] < s[2 * i])) { best = acc; bt = t; }
        if (i < m) { if (s[2 * i + 1] != 0) same_below++; else diff_below++; }
    }
    free(s);
    *thr = bt;
    return best;
}
static EC_UNUSED double ec_accuracy(const double *dist, const ec_pair *p, int n, int fold, double t) {
    int i, right = 0, total = 0;
    for (i = 0; i < n; i++) {
        if (fold >= 0 && p[i].fold != fold) continue;
        total++;
        right += (dist[i] < t) == (p[i].same != 0);
    }
    return total ? (double)right / total : 0;
}

#endif
