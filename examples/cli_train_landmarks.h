/* cli_train_landmarks.h - `fnet train-landmarks` and `fnet test-landmarks`: a shape predictor
   trained on a dlib imglab dataset (facenet.h section 2b), and its error on another.

   fnet train-landmarks TRAIN.xml OUT.fnet [options]
       Every box of TRAIN.xml that has parts (and is not ignore='1') is a training face; its
       parts, in the dataset's part order (names sorted as dlib's load_image_dataset sorts
       them: "00".."67"), are the points; parts missing from a box are "not present" (dlib's
       OBJECT_PART_NOT_PRESENT). Options (dlib's defaults): --cascade 10 --trees 500
       --depth 4 --nu 0.1 --oversampling 20 --features 400 --lambda 0.1 --splits 20
       --padding 0 --jitter 0 --seed 0 --threads 1. Progress with an ETA on stderr; one
       JSON line on stdout with the training error (as test-landmarks measures it).
       The model is the same for any --threads.
   fnet test-landmarks MODEL.fnet TEST.xml
       The model on every box of TEST.xml (the boxes of the file: the boxes the model will
       see should come from the detector that will run before it). Points are rounded to
       whole pixels as dlib's full_object_detection holds them. Errors, on stdout as JSON:
         mean_error        mean point distance / the distance of the eye centres (mean of
                           points 36-41 and 42-47), as dlib's train_shape_predictor_ex
                           (68-point models only; else null)
         nme_outer_corners mean point distance / the outer eye corners' distance (36 and 45;
                           5-point models: 0 and 2)
         mean_error_px     mean point distance in pixels */
#include "imglab.h"
#include "thread_pool.h"

static int tl__usage(const char *msg) {
    return usage_text(msg,
            "usage: fnet train-landmarks TRAIN.xml OUT.fnet [options]\n"
            "  --cascade N (10)  --trees N (500)  --depth N (4)  --nu X (0.1)  --oversampling N (20)\n"
            "  --features N (400)  --lambda X (0.1)  --splits N (20)  --padding X (0)  --jitter X (0)\n"
            "  --seed S (0)  --threads N (1)\n"
            "       fnet test-landmarks MODEL.fnet TEST.xml\n");
}

typedef struct tl_faces {
    int n, n_images, n_points;
    fnet_shape_sample *s;
    fnet_point *pts;
    unsigned char *present;
    unsigned char **pixels; /* per image */
    int any_absent;
} tl_faces;

static void tl__free(tl_faces *f) {
    int i;
    for (i = 0; i < f->n_images; i++) stbi_image_free(f->pixels[i]);
    free(f->pixels);
    free(f->s);
    free(f->pts);
    free(f->present);
    memset(f, 0, sizeof *f);
}

/* The dataset's faces with their images loaded (one copy per image). */
static int tl__load(const char *xml, imglab_dataset *d, tl_faces *f) {
    char err[512];
    int i, j, k, total = 0, at = 0;
    memset(f, 0, sizeof *f);
    if (!imglab_load(xml, d, err, sizeof err)) {
        fprintf(stderr, "fnet: %s\n", err);
        return 0;
    }
    if (d->n_parts < 1) {
        fprintf(stderr, "fnet: %s: no box has parts (landmarks)\n", xml);
        return 0;
    }
    for (i = 0; i < d->n_images; i++)
        for (j = 0; j < d->images[i].n_boxes; j++)
            if (!d->images[i].boxes[j].ignore) total++;
    if (!total) {
        fprintf(stderr, "fnet: %s: no boxes\n", xml);
        return 0;
    }
    f->n_points = d->n_parts;
    f->s = (fnet_shape_sample *)calloc((size_t)total, sizeof *f->s);
    f->pts = (fnet_point *)calloc((size_t)total * d->n_parts, sizeof *f->pts);
    f->present = (unsigned char *)calloc((size_t)total * d->n_parts, 1);
    f->pixels = (unsigned char **)calloc((size_t)d->n_images + 1, sizeof *f->pixels);
    if (!f->s || !f->pts || !f->present || !f->pixels) {
        fprintf(stderr, "fnet: out of memory\n");
        return 0;
    }
    for (i = 0; i < d->n_images; i++) {
        const imglab_image *im = &d->images[i];
        loaded_image li;
        int used = 0;
        for (j = 0; j < im->n_boxes; j++) used |= !im->boxes[j].ignore;
        if (!used) continue;
        if (!load_image_as(im->path, &li, 0)) return 0; /* imglab's points are on the stored pixels (dlib ignores EXIF) */
        f->pixels[f->n_images++] = li.pixels;
        for (j = 0; j < im->n_boxes; j++) {
            const imglab_box *b = &im->boxes[j];
            fnet_shape_sample *s = &f->s[at];
            if (b->ignore) continue;
            if (b->width < 2 || b->height < 2) {
                fprintf(stderr, "fnet: %s: %s: a box of %dx%d pixels is too small to train on\n", xml, im->file, b->width,
                        b->height);
                return 0;
            }
            s->image = li.view;
            s->box.left = b->left;
            s->box.top = b->top;
            s->box.right = b->left + b->width - 1;
            s->box.bottom = b->top + b->height - 1;
            s->points = f->pts + (size_t)at * d->n_parts;
            s->present = f->present + (size_t)at * d->n_parts;
            for (k = 0; k < d->n_parts; k++) {
                f->pts[(size_t)at * d->n_parts + k].x = b->x ? b->x[k] : 0;
                f->pts[(size_t)at * d->n_parts + k].y = b->y ? b->y[k] : 0;
                f->present[(size_t)at * d->n_parts + k] = b->present ? b->present[k] : 0;
                if (!f->present[(size_t)at * d->n_parts + k]) f->any_absent = 1;
            }
            at++;
        }
    }
    f->n = at;
    return 1;
}

/* dlib's measure: mean over the present points of |round(predicted) - truth|, per face
   divided by the face's normaliser; averaged over every point of every face. */
typedef struct tl_err { double eye_centres, outer, px; int faces, has_centres, failed; } tl_err;

static tl_err tl__test(const fnet_model *lm, const tl_faces *f) {
    tl_err e;
    double s_c = 0, s_o = 0, s_p = 0;
    long cnt = 0;
    int i, k, N = f->n_points;
    fnet_point *p = (fnet_point *)malloc(sizeof(fnet_point) * (size_t)N);
    memset(&e, 0, sizeof e);
    e.has_centres = N == 68;
    for (i = 0; i < f->n && p; i++) {
        const fnet_shape_sample *s = &f->s[i];
        double dc = 1, doo = 1, lx = 0, ly = 0, rx = 0, ry = 0;
        int o1 = N == 68 ? 36 : 0, o2 = N == 68 ? 45 : 2;
        fnet_result r = fnet_landmarks(lm, s->image, s->box, p);
        if (r != FNET_OK) {
            fprintf(stderr, "fnet: landmarks: %s\n", fnet_result_string(r));
            e.failed = 1;
            break;
        }
        if (N == 68) {
            for (k = 36; k < 42; k++) { lx += s->points[k].x; ly += s->points[k].y; }
            for (k = 42; k < 48; k++) { rx += s->points[k].x; ry += s->points[k].y; }
            dc = hypot(lx / 6 - rx / 6, ly / 6 - ry / 6);
        }
        if (N == 68 || N == 5) doo = hypot((double)s->points[o1].x - s->points[o2].x, (double)s->points[o1].y - s->points[o2].y);
        for (k = 0; k < N; k++) {
            double dx, dy, dd;
            if (!s->present[k]) continue;
            dx = floor(p[k].x + 0.5) - s->points[k].x;
            dy = floor(p[k].y + 0.5) - s->points[k].y;
            dd = sqrt(dx * dx + dy * dy);
            s_p += dd;
            s_c += dd / dc;
            s_o += dd / doo;
            cnt++;
        }
        e.faces++;
    }
    free(p);
    if (cnt) { e.eye_centres = s_c / cnt; e.outer = s_o / cnt; e.px = s_p / cnt; }
    return e;
}

static void tl__print_err(const char *key, const tl_err *e, int n_points) {
    printf("\"%s\":{\"faces\":%d,\"mean_error\":", key, e->faces);
    if (e->has_centres) printf("%.6f", e->eye_centres);
    else printf("null");
    printf(",\"nme_outer_corners\":");
    if (n_points == 68 || n_points == 5) printf("%.6f", e->outer);
    else printf("null");
    printf(",\"mean_error_px\":%.4f}", e->px);
}

typedef struct tl_progress { double t0, last; int tty; } tl_progress;

static void tl__progress(void *user, int done, int total) {
    tl_progress *p = (tl_progress *)user;
    double t = now_ms();
    if (done < total && t - p->last < (p->tty ? 250 : 10000)) return;
    p->last = t;
    {
        double el = (t - p->t0) / 1000, eta = done ? el * (total - done) / done : 0;
        fprintf(stderr, "%strees %d/%d  %.0f s, ETA %.0f s%s", p->tty ? "\r" : "", done, total, el, eta,
                p->tty && done < total ? "   " : "\n");
        fflush(stderr);
    }
}

static int tl__num(const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

static int cmd_train_landmarks(int argc, char **argv) {
    fnet_shape_train_opts o;
    fnet_shape_model *sm = NULL;
    fnet_model *lm = NULL;
    imglab_dataset d;
    tl_faces f;
    tl_progress pr;
    tp_pool pool;
    fnet_result r;
    const char *pos[2];
    char src[4600], seedtxt[32];
    const char *keys[2], *vals[2];
    int i, np = 0, threads = 1, rc = 1;
    double v, t0, secs;
    memset(&o, 0, sizeof o);
    memset(&d, 0, sizeof d);
    memset(&f, 0, sizeof f);
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-' && i + 1 < argc) {
            const char *s = argv[++i];
#define TL_INT(name, lo, hi, field) else if (!strcmp(a, name)) { if (!tl__num(s, lo, hi, &v) || v != floor(v)) return tl__usage(name " takes a whole number in range"); field = (int)v; }
#define TL_DBL(name, lo, hi, field) else if (!strcmp(a, name)) { if (!tl__num(s, lo, hi, &v)) return tl__usage(name " takes a number in range"); field = v; }
            if (0) {}
            TL_INT("--cascade", 1, 64, o.cascade_depth)
            TL_INT("--trees", 1, 4096, o.trees_per_level)
            TL_INT("--depth", 1, 8, o.tree_depth)
            TL_DBL("--nu", 1e-9, 1, o.nu)
            TL_INT("--oversampling", 1, 100000, o.oversampling)
            TL_INT("--features", 2, 1024, o.feature_pool_size)
            TL_DBL("--lambda", 1e-9, 1e9, o.lambda)
            TL_INT("--splits", 1, 4096, o.num_test_splits)
            TL_DBL("--padding", -0.499, 100, o.padding)
            TL_DBL("--jitter", 0, 100, o.translation_jitter)
            TL_INT("--threads", 1, TP_MAX_THREADS, threads)
            else if (!strcmp(a, "--seed")) {
                char *end;
                o.seed = strtoull(s, &end, 10);
                if (end == s || *end) return tl__usage("--seed takes a whole number");
            } else return tl__usage("unknown option");
#undef TL_INT
#undef TL_DBL
        } else if (a[0] == '-' && a[1]) {
            return tl__usage("unknown option (or a missing value)");
        } else {
            if (np == 2) return tl__usage("train-landmarks needs TRAIN.xml OUT.fnet");
            pos[np++] = a;
        }
    }
    if (np != 2) return tl__usage("train-landmarks needs TRAIN.xml OUT.fnet");
    if (!tl__load(pos[0], &d, &f)) goto out0;
    tp_start(&pool, threads);
    o.parallel_for = tp_run;
    o.parallel_user = &pool;
    pr.t0 = pr.last = now_ms();
    pr.tty = pf_isatty(stderr);
    o.progress = tl__progress;
    o.progress_user = &pr;
    fprintf(stderr, "fnet: train-landmarks: %d faces of %d points, %d threads\n", f.n, f.n_points, threads);
    t0 = now_ms();
    r = fnet_shape_train(f.s, f.n, f.n_points, &o, &sm);
    secs = (now_ms() - t0) / 1000;
    tp_stop(&pool);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: train-landmarks: %s\n", fnet_result_string(r));
        goto out;
    }
    snprintf(src, sizeof src, "fnet train-landmarks on %s (%d faces)", pos[0], f.n);
    snprintf(seedtxt, sizeof seedtxt, "%llu", o.seed);
    keys[0] = "source"; vals[0] = src;
    keys[1] = "license"; vals[1] = "as the training annotations' license";
    r = fnet_shape_model_save_blob_file(sm, keys, vals, 2, pos[1]);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", pos[1], fnet_result_string(r));
        goto out;
    }
    r = fnet_model_load_file(pos[1], &lm);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: reloading: %s\n", pos[1], fnet_result_string(r));
        goto out;
    }
    {
        tl_err e = tl__test(lm, &f);
        FILE *bf = fopen(pos[1], "rb");
        long size = 0;
        if (bf) { fseek(bf, 0, SEEK_END); size = ftell(bf); fclose(bf); }
        if (e.failed) goto out;
        printf("{\"model\":");
        json_string(stdout, pos[1]);
        printf(",\"faces\":%d,\"points\":%d,\"threads\":%d,\"seconds\":%.2f,\"bytes\":%ld,"
               "\"cascade\":%d,\"trees\":%d,\"depth\":%d,\"nu\":%g,\"oversampling\":%d,\"features\":%d,"
               "\"lambda\":%g,\"splits\":%d,\"padding\":%g,\"seed\":%s,",
               f.n, f.n_points, threads, secs, size, o.cascade_depth ? o.cascade_depth : 10,
               o.trees_per_level ? o.trees_per_level : 500, o.tree_depth ? o.tree_depth : 4, o.nu ? o.nu : 0.1,
               o.oversampling ? o.oversampling : 20, o.feature_pool_size ? o.feature_pool_size : 400,
               o.lambda ? o.lambda : 0.1, o.num_test_splits ? o.num_test_splits : 20, o.padding, seedtxt);
        tl__print_err("train", &e, f.n_points);
        printf("}\n");
    }
    rc = 0;
out:
    fnet_model_free(lm);
    fnet_shape_model_free(sm);
out0:
    tl__free(&f);
    imglab_free(&d);
    return rc;
}

static int cmd_test_landmarks(int argc, char **argv) {
    fnet_model *lm = NULL;
    imglab_dataset d;
    tl_faces f;
    fnet_result r;
    tl_err e;
    int rc = 1;
    memset(&d, 0, sizeof d);
    memset(&f, 0, sizeof f);
    if (argc != 2 || argv[0][0] == '-' || argv[1][0] == '-') return tl__usage("test-landmarks needs MODEL.fnet TEST.xml");
    r = fnet_model_load_file(argv[0], &lm);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", argv[0], fnet_result_string(r));
        return 1;
    }
    if (fnet_model_get_kind(lm) != FNET_MODEL_LANDMARKS) {
        fprintf(stderr, "fnet: %s: not a landmarks model\n", argv[0]);
        fnet_model_free(lm);
        return 1;
    }
    if (!tl__load(argv[1], &d, &f)) goto out0;
    if (f.n_points != fnet_landmarks_count(lm)) {
        fprintf(stderr, "fnet: %s has %d points per box, the model %d\n", argv[1], f.n_points, fnet_landmarks_count(lm));
        goto out;
    }
    e = tl__test(lm, &f);
    if (e.failed) goto out;
    printf("{\"model\":");
    json_string(stdout, argv[0]);
    printf(",\"data\":");
    json_string(stdout, argv[1]);
    printf(",");
    tl__print_err("test", &e, f.n_points);
    printf("}\n");
    rc = 0;
out:
out0:
    tl__free(&f);
    imglab_free(&d);
    fnet_model_free(lm);
    return rc;
}

static int cli_train_landmarks_dispatch(const char *cmd, int argc, char **argv) {
    if (strcmp(cmd, "train-landmarks") == 0) return cmd_train_landmarks(argc, argv);
    if (strcmp(cmd, "test-landmarks") == 0) return cmd_test_landmarks(argc, argv);
    return -1;
}
