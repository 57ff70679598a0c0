/* fnet - the facenet.h command-line tool.

   fnet info MODEL.fnet...                     blob summary (JSON)
   fnet detect [--upsample N] [--threshold T] IMG...
   fnet landmarks [--upsample N] IMG...
   fnet draw IMG OUT.png                       boxes and landmarks drawn on the photo
   fnet align [--net nn4|resnet] [--size S] IMG OUT.png   the first face's crop, as the network wants it
   fnet embed [--net nn4|resnet] IMG...        detect, landmarks, align, embed
   fnet embed --aligned [--net nn4|resnet] CROP.png...
   fnet train --net nn4|resnet --trainable LIST --data LIST.txt|DIR --out OUT.fnet [options]

   Common options: --weights DIR (default $FNET_WEIGHTS, then ./weights), --timing, --no-exif
   (by default a JPEG is turned upright as its EXIF orientation says, as viewers show phone
   photos, and boxes and landmarks are coordinates in that upright photo).
   --threads N (detect, landmarks, draw, align, embed and the matching commands): a pool of N
   threads (examples/thread_pool.h) lent to the library through opts.parallel (pyramid levels,
   convolution tiles) and used for the landmarks of an image's faces; the output is the same
   for any N. Faces are embedded by fnet_embed_batch, an image's (or 8 photos') at once.
   JSON goes to stdout, one object per line; messages to stderr.
   Exit codes: 0 ok, 1 failure (bad file, bad image, no model), 2 usage error.

   Images are read by examples/image_load.h (a validating pre-pass, then Debian's stb_image
   with JPEG and PNG only); the library itself reads no files but its weight blobs. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, opendir, stat (examples/platform.h) */
#define FNET_IMPLEMENTATION
#include "facenet.h"

#include "image_load.h" /* il_load: every photo fnet reads */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include "embcache.h" /* ec_load_model, ec_blob_name; the pipeline of the cli_match.h commands */
#include "thread_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_USAGE 2
#define MAX_FACES 256

static const char *g_weights = NULL;
static int g_timing = 0;
static tp_pool g_pool;
static fnet_parallel g_par; /* --threads N: g_pool lent to the library (run NULL: one thread) */

static double now_ms(void) { return pf_now_ms(); }

/* Prints msg (when given) and then the usage text; returns EXIT_USAGE. */
static int usage_text(const char *msg, const char *text) {
    if (msg) fprintf(stderr, "fnet: %s\n", msg);
    fputs(text, stderr);
    return EXIT_USAGE;
}

static int usage(const char *msg) {
    return usage_text(msg,
            "usage: fnet COMMAND [options] ARGS\n"
            "  info MODEL.fnet...                     describe weight blobs\n"
            "  detect [--upsample N] [--threshold T] [--detector MODEL.fnet] IMG...\n"
            "  landmarks [--upsample N] [--landmarks MODEL.fnet] IMG...\n"
            "  draw [--upsample N] IMG OUT.png\n"
            "  align [--net nn4|resnet] [--size S] IMG OUT.png\n"
            "  embed [--net nn4|resnet] [--aligned] IMG...\n"
            "  enroll [--jitter N] GALLERY DIR | identify [--far F] GALLERY IMG... | verify IMG1 IMG2 | cluster DIR...\n"
            "  calibrate [--gallery GALLERY] [--roc OUT.png] DIR   thresholds from your own labelled photos\n"
            "  train-classifier DIR MODEL | classify MODEL IMG...   (options: examples/cli_match.h)\n"
            "  eval-lfw --pairs PAIRS --root DIR [--net resnet|nn4] [--roc OUT.png]   (LFW protocol)\n"
            "  train --net nn4|resnet --trainable LIST --data LIST.txt|DIR --out OUT.fnet [options]\n"
            "                                         learn tensors with the triplet loss (fnet train --help)\n"
            "  train-detector TRAIN.xml OUT.fnet [--C C --epsilon E --upsample N --flip --threads N --gray]\n"
            "  test-detector MODEL.fnet TEST.xml [--upsample N --flip --gray] | combine-detectors OUT.fnet A.fnet B.fnet...\n"
            "                                         HOG detectors from imglab XML (examples/cli_train_detector.h)\n"
            "  train-landmarks TRAIN.xml OUT.fnet [options] | test-landmarks MODEL.fnet TEST.xml\n"
            "                                         shape predictor from a dlib imglab dataset\n"
            "options: --weights DIR (default $FNET_WEIGHTS, then ./weights), --timing,\n"
            "  --no-exif (photos as stored: by default a JPEG is turned upright as its EXIF orientation says,\n"
            "  and boxes and landmarks are given in the upright photo),\n"
            "  --threads N (1..64; detect to classify: lent to the library, same output)\n");
}

/* ---- JSON output ---- */
static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* ---- models ---- */
static const char *weights_dir(void) {
    const char *e = getenv("FNET_WEIGHTS");
    if (g_weights) return g_weights;
    if (e && *e) return e;
    return "weights";
}

static fnet_model *load_model(const char *name) { return ec_load_model(weights_dir(), name); }

/* ---- images ---- */
typedef struct loaded_image {
    unsigned char *pixels;
    fnet_image view;
} loaded_image;

/* Reads a photo (examples/image_load.h refuses a damaged or hostile file with the reason),
   turned upright as its EXIF orientation says when `upright` (load_image: unless --no-exif). */
static int load_image_as(const char *path, loaded_image *out, int upright) {
    il_image im;
    char why[256];
    memset(out, 0, sizeof *out);
    if (!(upright ? il_load_upright(path, 3, &im, NULL, why, sizeof why) : il_load(path, 3, &im, why, sizeof why))) {
        fprintf(stderr, "fnet: %s: %s\n", path, why);
        return 0;
    }
    out->pixels = im.pixels;
    out->view = fnet_image_view(im.pixels, im.width, im.height, 3, im.width * 3);
    return 1;
}
static int load_image(const char *path, loaded_image *out) { return load_image_as(path, out, ec_exif); }

static int write_png(const char *path, const unsigned char *rgb, int w, int h) {
    /* write to a temporary name, then rename: a failure leaves nothing half-written */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!stbi_write_png(tmp, w, h, 3, rgb, w * 3)) {
        remove(tmp);
        fprintf(stderr, "fnet: cannot write %s\n", path);
        return 0;
    }
    if (pf_rename(tmp, path) != 0) {
        remove(tmp);
        fprintf(stderr, "fnet: cannot write %s\n", path);
        return 0;
    }
    return 1;
}

/* ---- fnet info ---- */
static int cmd_info(int argc, char **argv) {
    int i, failed = 0;
    if (argc < 1) return usage("info needs a blob path");
    for (i = 0; i < argc; i++) {
        fnet_model *m = NULL;
        fnet_result r = fnet_model_load_file(argv[i], &m);
        int k, n;
        if (r != FNET_OK) {
            fprintf(stderr, "fnet: %s: %s\n", argv[i], fnet_result_string(r));
            failed = 1;
            continue;
        }
        printf("{\"file\":");
        json_string(stdout, argv[i]);
        printf(",\"kind\":\"%s\",\"incomplete\":%s,\"isa\":\"%s\",\"ops\":%d,\"meta\":{",
               fnet_model_kind_name(fnet_model_get_kind(m)), fnet_model_incomplete(m) ? "true" : "false",
               fnet_isa_name(fnet_model_get_isa(m)), fnet_model_op_count(m));
        n = fnet_model_meta_count(m);
        for (k = 0; k < n; k++) {
            const char *key = "", *val = "";
            fnet_model_meta_at(m, k, &key, &val);
            if (k) putchar(',');
            json_string(stdout, key);
            putchar(':');
            json_string(stdout, val);
        }
        printf("},\"tensors\":[");
        n = fnet_model_tensor_count(m);
        {
            double params = 0, bytes = 0;
            for (k = 0; k < n; k++) {
                fnet_tensor_info t;
                int d;
                double cnt = 1;
                fnet_model_tensor_at(m, k, &t);
                if (k) putchar(',');
                printf("{\"name\":");
                json_string(stdout, t.name);
                printf(",\"dtype\":\"%s\",\"shape\":[", t.dtype);
                for (d = 0; d < t.ndim; d++) {
                    printf(d ? ",%d" : "%d", t.shape[d]);
                    cnt *= t.shape[d];
                }
                printf("]}");
                params += cnt;
                bytes += (double)t.bytes;
            }
            printf("],\"parameters\":%.0f,\"tensor_bytes\":%.0f}\n", params, bytes);
            if (fnet_model_incomplete(m))
                fprintf(stderr,
                        "fnet: %s is INCOMPLETE: tensors %s were filled, not trained; its embeddings "
                        "recognise people only weakly (see weights/README.md)\n",
                        argv[i], fnet_model_meta(m, "filled_tensors") ? fnet_model_meta(m, "filled_tensors") : "?");
        }
        fnet_model_free(m);
    }
    return failed;
}

/* ---- shared per-image pipeline ---- */
typedef struct pipeline {
    fnet_model *det, *lm, *net;
    fnet_detect_opts dopts;
    int want_landmarks, want_embed;
    const char *net_name;
} pipeline;

static void print_box(const fnet_box *b) {
    printf("{\"left\":%d,\"top\":%d,\"right\":%d,\"bottom\":%d,\"score\":%.6f,\"filter\":%d", b->left, b->top,
           b->right, b->bottom, b->score, b->filter);
}

/* The landmarks of an image's faces, one task per face (on g_pool with --threads). */
typedef struct lm_job {
    const fnet_model *lm;
    fnet_image img;
    const fnet_box *boxes;
    fnet_point *pts; /* 256 per face */
    fnet_result *r;
} lm_job;

static void lm_task(void *ctx, int i) {
    lm_job *j = (lm_job *)ctx;
    j->r[i] = fnet_landmarks(j->lm, j->img, j->boxes[i], j->pts + (size_t)i * 256);
}

static int run_image(pipeline *p, const char *path) {
    loaded_image im;
    fnet_box boxes[MAX_FACES];
    int n = 0, i, k, shown, size = p->want_embed ? fnet_embed_input_size(p->net) : 0, dim = p->want_embed ? fnet_embed_dim(p->net) : 0;
    double t0, t_det = 0, t_lm = 0, t_al = 0, t_emb = 0;
    fnet_result r, lr[MAX_FACES], er[MAX_FACES];
    fnet_point *pts = NULL;
    unsigned char *crops = NULL;
    float *emb = NULL;
    if (!load_image(path, &im)) return 1;
    t0 = now_ms();
    r = fnet_detect(p->det, im.view, &p->dopts, NULL, 0, boxes, MAX_FACES, &n);
    t_det = now_ms() - t0;
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: detect: %s\n", path, fnet_result_string(r));
        stbi_image_free(im.pixels);
        return 1;
    }
    shown = n < MAX_FACES ? n : MAX_FACES;
    if (shown && (p->want_landmarks || p->want_embed)) { /* a trained model (--landmarks) may have up to 256 points */
        lm_job j;
        pts = (fnet_point *)malloc(sizeof(fnet_point) * 256 * (size_t)shown);
        if (!pts) { stbi_image_free(im.pixels); return 1; }
        j.lm = p->lm; j.img = im.view; j.boxes = boxes; j.pts = pts; j.r = lr;
        t0 = now_ms();
        if (g_par.run) tp_run(&g_pool, shown, lm_task, &j);
        else for (i = 0; i < shown; i++) lm_task(&j, i);
        t_lm = now_ms() - t0;
    }
    if (shown && p->want_embed) { /* align every face, then one batch of embeddings */
        const unsigned char **chip = (const unsigned char **)malloc(sizeof(*chip) * (size_t)shown);
        int *of = (int *)malloc(sizeof(int) * (size_t)shown), nb = 0;
        fnet_align_kind kind = fnet_embed_align_kind(p->net);
        fnet_embed_opts eo;
        crops = (unsigned char *)malloc((size_t)size * size * 3 * (size_t)shown);
        emb = (float *)malloc(sizeof(float) * (size_t)dim * (size_t)shown);
        memset(&eo, 0, sizeof eo);
        eo.parallel = g_par;
        t0 = now_ms();
        for (i = 0; i < shown; i++) {
            er[i] = lr[i];
            if (lr[i] != FNET_OK) continue;
            er[i] = chip && of && crops && emb
                        ? fnet_align(im.view, pts + (size_t)i * 256, 68, kind, size, crops + (size_t)i * size * size * 3)
                        : FNET_ERR_OUT_OF_MEMORY;
            if (er[i] == FNET_OK) { chip[nb] = crops + (size_t)i * size * size * 3; of[nb++] = i; }
        }
        t_al = now_ms() - t0;
        t0 = now_ms();
        if (nb > 0) {
            float *e = (float *)malloc(sizeof(float) * (size_t)dim * (size_t)nb);
            r = e ? fnet_embed_batch(p->net, chip, nb, &eo, NULL, 0, e) : FNET_ERR_OUT_OF_MEMORY;
            for (k = 0; k < nb; k++) {
                er[of[k]] = r;
                if (r == FNET_OK) memcpy(emb + (size_t)of[k] * dim, e + (size_t)k * dim, sizeof(float) * (size_t)dim);
            }
            free(e);
        }
        t_emb = now_ms() - t0;
        free(chip);
        free(of);
    }
    printf("{\"image\":");
    json_string(stdout, path);
    printf(",\"width\":%d,\"height\":%d,\"faces\":[", im.view.width, im.view.height);
    for (i = 0; i < shown; i++) {
        if (i) putchar(',');
        print_box(&boxes[i]);
        if (p->want_landmarks || p->want_embed) {
            if (lr[i] != FNET_OK) {
                fprintf(stderr, "fnet: %s: landmarks: %s\n", path, fnet_result_string(lr[i]));
            } else if (p->want_landmarks) {
                printf(",\"landmarks\":[");
                for (k = 0; k < fnet_landmarks_count(p->lm); k++)
                    printf(k ? ",[%.2f,%.2f]" : "[%.2f,%.2f]", pts[(size_t)i * 256 + k].x, pts[(size_t)i * 256 + k].y);
                putchar(']');
            }
            if (lr[i] == FNET_OK && p->want_embed) {
                if (er[i] != FNET_OK) {
                    fprintf(stderr, "fnet: %s: embed: %s\n", path, fnet_result_string(er[i]));
                } else {
                    printf(",\"embedding\":[");
                    for (k = 0; k < dim; k++) printf(k ? ",%.7g" : "%.7g", emb[(size_t)i * dim + k]);
                    putchar(']');
                }
            }
        }
        putchar('}');
    }
    putchar(']');
    if (g_timing) {
        printf(",\"timing\":{\"detect\":%.3f", t_det);
        if (p->want_landmarks || p->want_embed) printf(",\"landmarks\":%.3f", t_lm);
        if (p->want_embed) printf(",\"align\":%.3f,\"embed\":%.3f", t_al, t_emb);
        putchar('}');
    }
    printf("}\n");
    fflush(stdout);
    free(pts);
    free(crops);
    free(emb);
    stbi_image_free(im.pixels);
    return 0;
}

static int parse_int(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < -1000000 || v > 1000000) return 0;
    *out = (int)v;
    return 1;
}

static int cmd_pipeline(int argc, char **argv, int landmarks, int embed) {
    pipeline p;
    int i, failed = 0, aligned = 0, first = -1;
    const char *detector = NULL; /* a trained detector (fnet train-detector) instead of the built-in one */
    const char *lm_file = NULL;
    memset(&p, 0, sizeof p);
    p.dopts.parallel = g_par;
    p.net_name = "resnet";
    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--upsample") == 0 && i + 1 < argc) {
            if (!parse_int(argv[++i], &p.dopts.upsample) || p.dopts.upsample < 0 || p.dopts.upsample > FNET_MAX_UPSAMPLE)
                return usage("--upsample takes 0 to 3");
        } else if (strcmp(argv[i], "--threshold") == 0 && i + 1 < argc) {
            p.dopts.threshold = (float)atof(argv[++i]);
        } else if (strcmp(argv[i], "--detector") == 0 && i + 1 < argc) {
            detector = argv[++i];
        } else if (embed && strcmp(argv[i], "--net") == 0 && i + 1 < argc) {
            p.net_name = argv[++i];
            if (strcmp(p.net_name, "nn4") && strcmp(p.net_name, "resnet")) return usage("--net takes nn4 or resnet");
        } else if (landmarks && strcmp(argv[i], "--landmarks") == 0 && i + 1 < argc) {
            lm_file = argv[++i]; /* a blob of fnet train-landmarks (any number of points) */
        } else if (embed && strcmp(argv[i], "--aligned") == 0) {
            aligned = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage("unknown option");
        } else {
            first = i;
            break;
        }
    }
    if (first < 0) return usage("no images given");
    if (embed) {
        p.net = load_model(ec_blob_name(p.net_name));
        if (!p.net) return 1;
    }
    if (embed && aligned) {
        int size = fnet_embed_input_size(p.net);
        float *emb = (float *)malloc(sizeof(float) * (size_t)fnet_embed_dim(p.net));
        for (i = first; emb && i < argc; i++) {
            int w, h, k;
            fnet_result r;
            loaded_image im;
            unsigned char *px;
            if (!load_image(argv[i], &im)) {
                failed = 1;
                continue;
            }
            px = im.pixels;
            w = im.view.width;
            h = im.view.height;
            if (w != size || h != size) {
                fprintf(stderr, "fnet: %s: an aligned crop must be %dx%d, not %dx%d\n", argv[i], size, size, w, h);
                stbi_image_free(px);
                failed = 1;
                continue;
            }
            {
                fnet_embed_opts eo;
                const unsigned char *one = px;
                memset(&eo, 0, sizeof eo);
                eo.parallel = g_par;
                r = fnet_embed_batch(p.net, &one, 1, &eo, NULL, 0, emb);
            }
            stbi_image_free(px);
            if (r != FNET_OK) {
                fprintf(stderr, "fnet: %s: %s\n", argv[i], fnet_result_string(r));
                failed = 1;
                continue;
            }
            printf("{\"image\":");
            json_string(stdout, argv[i]);
            printf(",\"embedding\":[");
            for (k = 0; k < fnet_embed_dim(p.net); k++) printf(k ? ",%.7g" : "%.7g", emb[k]);
            printf("]}\n");
        }
        if (!emb) fprintf(stderr, "fnet: %s\n", fnet_result_string(FNET_ERR_OUT_OF_MEMORY));
        free(emb);
        fnet_model_free(p.net);
        return failed || !emb;
    }
    if (detector) {
        fnet_result r = fnet_model_load_file(detector, &p.det);
        if (r != FNET_OK) fprintf(stderr, "fnet: %s: %s\n", detector, fnet_result_string(r));
    } else {
        p.det = load_model("hog_frontal.fnet");
    }
    if (p.det && lm_file) {
        fnet_result r = fnet_model_load_file(lm_file, &p.lm);
        if (r == FNET_OK && fnet_model_get_kind(p.lm) != FNET_MODEL_LANDMARKS) r = FNET_ERR_WRONG_MODEL;
        if (r != FNET_OK) {
            fprintf(stderr, "fnet: %s: %s\n", lm_file, fnet_result_string(r));
            fnet_model_free(p.lm);
            p.lm = NULL;
        }
    } else if (p.det && (landmarks || embed)) p.lm = load_model("landmarks68.fnet");
    if (!p.det || ((landmarks || embed) && !p.lm)) {
        fnet_model_free(p.det);
        fnet_model_free(p.lm);
        fnet_model_free(p.net);
        return 1;
    }
    p.want_landmarks = landmarks;
    p.want_embed = embed;
    for (i = first; i < argc; i++) failed |= run_image(&p, argv[i]);
    fnet_model_free(p.det);
    fnet_model_free(p.lm);
    fnet_model_free(p.net);
    return failed;
}

/* fnet align [--net nn4|resnet] [--size S] [--upsample N] IMG OUT.png: the first (highest-scoring)
   face, aligned as the network's blob says (its "align" metadata and input size: nn4 96x96
   OpenFace, resnet 150x150 dlib chip); without --net, OpenFace's outer eyes and nose (no blob
   is read); --size S gives another size. */
static int cmd_align(int argc, char **argv) {
    int i, size = 0, n = 0, ok = 0;
    const char *net_name = NULL;
    fnet_detect_opts dopts;
    fnet_model *det, *lm, *net;
    fnet_align_kind kind = FNET_ALIGN_OUTER_EYES_AND_NOSE;
    loaded_image im;
    fnet_box box;
    fnet_point pts[68];
    unsigned char *crop;
    fnet_result r;
    memset(&dopts, 0, sizeof dopts);
    dopts.parallel = g_par;
    for (i = 0; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            if (!parse_int(argv[++i], &size) || size < 8 || size > 1024) return usage("--size takes 8 to 1024");
        } else if (strcmp(argv[i], "--upsample") == 0 && i + 1 < argc) {
            if (!parse_int(argv[++i], &dopts.upsample) || dopts.upsample < 0 || dopts.upsample > FNET_MAX_UPSAMPLE)
                return usage("--upsample takes 0 to 3");
        } else if (strcmp(argv[i], "--net") == 0 && i + 1 < argc) {
            net_name = argv[++i];
            if (strcmp(net_name, "nn4") && strcmp(net_name, "resnet")) return usage("--net takes nn4 or resnet");
        } else {
            return usage("unknown option");
        }
    }
    if (argc - i != 2) return usage("align needs IMG OUT.png");
    if (net_name) {
        if (!(net = load_model(ec_blob_name(net_name)))) return 1;
        kind = fnet_embed_align_kind(net);
        if (size == 0) size = fnet_embed_input_size(net);
        fnet_model_free(net);
    } else if (size == 0) {
        size = 96;
    }
    if (size < 8 || size > 1024) {
        fprintf(stderr, "fnet: %s: input size %d: give --size\n", ec_blob_name(net_name ? net_name : "nn4"), size);
        return 1;
    }
    if (!load_image(argv[i], &im)) return 1;
    det = load_model("hog_frontal.fnet");
    lm = det ? load_model("landmarks68.fnet") : NULL;
    crop = (unsigned char *)malloc((size_t)size * size * 3);
    if (det && lm && crop) {
        r = fnet_detect(det, im.view, &dopts, NULL, 0, &box, 1, &n);
        if (r != FNET_OK) fprintf(stderr, "fnet: %s: detect: %s\n", argv[i], fnet_result_string(r));
        else if (n == 0) fprintf(stderr, "fnet: %s: no face found (try --upsample 1)\n", argv[i]);
        else if ((r = fnet_landmarks(lm, im.view, box, pts)) != FNET_OK)
            fprintf(stderr, "fnet: %s: landmarks: %s\n", argv[i], fnet_result_string(r));
        else if ((r = fnet_align(im.view, pts, 68, kind, size, crop)) != FNET_OK)
            fprintf(stderr, "fnet: %s: align: %s\n", argv[i], fnet_result_string(r));
        else
            ok = write_png(argv[i + 1], crop, size, size);
    }
    free(crop);
    fnet_model_free(det);
    fnet_model_free(lm);
    stbi_image_free(im.pixels);
    return ok ? 0 : 1;
}

/* Further commands live in their own files, one per pipeline stage, so that each stays short:
   cli_draw.h (draw), cli_lfw.h (eval-lfw), cli_match.h (enroll, identify, calibrate, verify,
   cluster, train-classifier, classify), cli_train.h (train). Each defines `static int cli_NAME_dispatch(const char *cmd,
   int argc, char **argv)` that returns -1 when `cmd` is not one of its commands. */
#include "cli_draw.h"
#include "cli_lfw.h"
#include "cli_match.h"
#include "cli_train.h" /* after cli_lfw.h and cli_match.h: uses lfw__pick, the ROC drawing, cm__write_file */
#include "cli_train_detector.h"
#include "cli_train_landmarks.h"

static int run_command(const char *cmd, int argc, char **argv) {
    int rc;
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(NULL);
        return 0;
    }
    if (strcmp(cmd, "info") == 0) return cmd_info(argc - 2, argv + 2);
    if (strcmp(cmd, "detect") == 0) return cmd_pipeline(argc - 2, argv + 2, 0, 0);
    if (strcmp(cmd, "landmarks") == 0) return cmd_pipeline(argc - 2, argv + 2, 1, 0);
    if (strcmp(cmd, "embed") == 0) return cmd_pipeline(argc - 2, argv + 2, 0, 1);
    if (strcmp(cmd, "align") == 0) return cmd_align(argc - 2, argv + 2);
    if ((rc = cli_draw_dispatch(cmd, argc - 2, argv + 2)) >= 0) return rc;
    if ((rc = cli_lfw_dispatch(cmd, argc - 2, argv + 2)) >= 0) return rc;
    if ((rc = cli_match_dispatch(cmd, argc - 2, argv + 2)) >= 0) return rc;
    if ((rc = cli_train_dispatch(cmd, argc - 2, argv + 2)) >= 0) return rc;
    if ((rc = cli_train_detector_dispatch(cmd, argc - 2, argv + 2)) >= 0) return rc;
    if ((rc = cli_train_landmarks_dispatch(cmd, argc - 2, argv + 2)) >= 0) return rc;
    return usage("unknown command");
}

int main(int argc, char **argv) {
    /* commands whose --threads lends a pool to the library (eval-lfw and the trainers parse
       their own --threads: they spread whole images or batches over their threads) */
    static const char *const lend[] = {"detect", "landmarks", "embed", "align", "draw", "enroll", "identify",
                                       "verify", "cluster", "train-classifier", "classify"};
    int i, j, rc, threads = 1, lends = 0;
    const char *cmd;
    /* strip common options wherever they are */
    for (i = 1, j = 1; i < argc; i++) {
        if (strcmp(argv[i], "--weights") == 0) {
            if (i + 1 >= argc) return usage("--weights needs a folder");
            g_weights = argv[++i];
        } else if (strcmp(argv[i], "--timing") == 0) {
            g_timing = 1;
        } else if (strcmp(argv[i], "--no-exif") == 0) {
            ec_exif = 0;
        } else {
            argv[j++] = argv[i];
        }
    }
    argc = j;
    if (argc < 2) return usage(NULL);
    cmd = argv[1];
    for (i = 0; i < (int)(sizeof lend / sizeof lend[0]); i++) lends |= strcmp(cmd, lend[i]) == 0;
    if (lends) {
        for (i = 2, j = 2; i < argc; i++) {
            if (strcmp(argv[i], "--threads") == 0) {
                if (i + 1 >= argc || !parse_int(argv[i + 1], &threads) || threads < 1 || threads > TP_MAX_THREADS)
                    return usage("--threads takes 1 to 64");
                i++;
            } else {
                argv[j++] = argv[i];
            }
        }
        argc = j;
    }
    if (threads > 1 && tp_start(&g_pool, threads) > 1) {
        g_par.run = tp_run;
        g_par.user = &g_pool;
        g_par.workers = g_pool.threads;
    }
    rc = run_command(cmd, argc, argv);
    if (g_par.run) tp_stop(&g_pool);
    return rc;
}
