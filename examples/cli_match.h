/* fnet CLI: matching commands (included by examples/fnet.c).

   fnet enroll [--net resnet|nn4] [--jitter N] GALLERY DIR
                                                  DIR/PERSON/IMAGE -> GALLERY (created or
                                                  extended; one face per photo: the largest),
                                                  each face the mean of N jittered copies
                                                  (see below)
   fnet identify [--k K] [--far F] [--calibration FILE] [--threshold T] [--no-cohort] GALLERY IMG...
                                                  every face: nearest people, or unknown; the
                                                  threshold accepts a share F (default 0.01)
                                                  of strangers over the whole gallery (see
                                                  below), --threshold sets it directly
   fnet calibrate [--net N] [--gallery GALLERY | --out FILE] [--roc OUT.png] [--far F] DIR
                                                  DIR/PERSON/IMAGE, labelled photos of the
                                                  user's own people: genuine and impostor
                                                  distances, ROC, equal-error rate, thresholds
                                                  for verify, identify (per gallery size) and
                                                  cluster; written to GALLERY.calib (where
                                                  identify looks) or FILE
   fnet verify [--net N] [--threshold T] IMG1 IMG2        same person? (largest face of each)
   fnet verify [--net N] [--threshold T] --pairs CSV [--root DIR]
                                                  labelled pairs "a,b,Yes|No" (deepface's
                                                  master.csv): each image embedded once,
                                                  accuracy at the threshold
   fnet cluster [--net N] [--method cw|kmeans] [--k K] [--threshold T] [--seed S] DIR|IMG...
                                                  every face of every image (folders: their
                                                  images, one level of sub-folders too);
                                                  k-means keeps the best of seeds S..S+9
   fnet train-classifier [--net N] [--kind softmax|mlp|knn] [--epochs E] [--hidden H] [--k K]
                         [--seed S] DIR MODEL     DIR/PERSON/IMAGE; MODEL written via a temp file
   fnet classify MODEL IMG...                     every face: class and probability

   Thresholds are on plain L2 distance; defaults: the network's, per use
   (fnet_network_threshold_for: verify, identify and cluster each have their own).
   identify: the threshold comes from a target false-accept rate for the whole gallery
   (--far, default FNET_DEFAULT_FAR = 1%), the gallery's number of embeddings and an
   impostor distance table (fnet_gallery_far_threshold): GALLERY.calib when it exists (written
   by fnet calibrate --gallery GALLERY), else --calibration FILE, else the table facenet.h
   ships for the network (LFW). Without a calibration, when the weights folder holds the
   network's cohort (NETWORK-ID.cohort, written by `make cohort`), faces are ranked and
   accepted by cohort-normalised scores instead (fnet_identify_cohort: a threshold that adapts
   to each face; --no-cohort turns it off); "distance" stays the plain distance and "score" is
   what was thresholded. The JSON says which ("calibration": a path, "built-in", "cohort" or
   "fixed"). verify and cluster take --calibration FILE too (their thresholds).

   enroll --jitter N: each face is embedded as the mean of N perturbed copies of its aligned
   chip (examples/jitter.h, dlib's jitter_image: shifts, zoom, turns, mirror; every face the
   same N perturbations, so the gallery depends on no order or thread count) while identify
   embeds probes plainly: such an embedding sits nearer its person's centre. Default
   FNET_ENROLL_JITTER (10) for a new gallery of a network with shipped tables for it (the
   ResNet), else 0 (one plain embedding); extending a gallery keeps its own N (another --jitter
   is refused). The gallery records N (fnet_gallery_set_jitter) and identify takes the tables
   measured for such galleries against plain probes; for an N without shipped tables it falls
   back to the fixed threshold. --jitter 0: the old plain gallery. On LFW people outside lfw-dev
   (eval_identify --tune, the cohort rule at FAR 1%, 40 people) jitter 10 accepted 95.2% of
   the right people against 94.5% plain (0.67% / 0.77% of strangers); the README has lfw-dev.
   Enrolment costs N embeddings per face (about N x 10 ms on one core). calibrate measures
   plain pairs only: its table used on a jittered gallery accepts somewhat more strangers than
   --far (with the shipped tables the plain ones would give 1.25% for 1% at 40 people);
   identify says so on stderr; enroll with --jitter 0 where a calibration is meant to hold.

   Calibration file (text, written by calibrate, read strictly: anything else is refused):
     fnet-calibration 1
     network ID
     pairs P                   pairs of people measured (one distance each: the median of
                               their photos' cross distances)
     verify_threshold T        balanced accuracy's best (same-person and different-person
                               pairs weigh the same)
     cluster_threshold T       Chinese whispers' best pairwise F1 (0: not measured)
     eer E                     equal-error rate, and its threshold
     eer_threshold T
     points N                  then N lines "distance log10_rate": the impostor table
   JSON on stdout (one object per line), progress and errors on stderr.
   Exit codes: 0 ok, 1 failure, 2 usage. */
#include "embcache.h"

static int cm__usage(const char *msg) {
    return usage_text(msg,
            "usage: fnet enroll [--net resnet|nn4] [--jitter N] GALLERY DIR\n"
            "       fnet identify [--k K] [--far F] [--calibration FILE] [--threshold T] [--no-cohort] GALLERY IMG...\n"
            "       fnet calibrate [--net N] [--gallery GALLERY | --out FILE] [--roc OUT.png] [--far F] DIR\n"
            "       fnet verify [--net N] [--threshold T] [--calibration FILE] IMG1 IMG2 | --pairs CSV [--root DIR]\n"
            "       fnet cluster [--net N] [--method cw|kmeans] [--k K] [--threshold T] [--calibration FILE] [--seed S] DIR|IMG...\n"
            "       fnet train-classifier [--net N] [--kind softmax|mlp|knn] [--epochs E] [--hidden H] [--k K] [--seed S] DIR MODEL\n"
            "       fnet classify MODEL IMG...\n");
}

typedef struct cm_opts {
    const char *net, *method, *kind, *pairs, *root, *calibration, *gallery, *out, *roc;
    float threshold;
    double far_rate;
    int k, k_set, epochs, hidden, upsample, no_cohort, jitter; /* jitter -1: not given */
    unsigned long long seed;
    int first; /* index of the first positional argument */
} cm_opts;

static int cm__float(const char *s, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 1e6) return 0;
    *out = (float)v;
    return 1;
}

/* Parses the options every match command shares; returns -1 on success, else an exit code. */
static int cm__parse(int argc, char **argv, cm_opts *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->net = "resnet";
    o->method = "cw";
    o->kind = "softmax";
    o->upsample = 1;
    o->seed = 1;
    o->far_rate = FNET_DEFAULT_FAR;
    o->jitter = -1;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--net") == 0 && has) {
            o->net = argv[++i];
            if (strcmp(o->net, "nn4") && strcmp(o->net, "resnet")) return cm__usage("--net takes nn4 or resnet");
        } else if (strcmp(a, "--threshold") == 0 && has) {
            if (!cm__float(argv[++i], &o->threshold)) return cm__usage("--threshold takes a positive number");
        } else if (strcmp(a, "--k") == 0 && has) {
            if (!parse_int(argv[++i], &o->k) || o->k < 1 || o->k > 10000) return cm__usage("--k takes 1 to 10000");
            o->k_set = 1;
        } else if (strcmp(a, "--epochs") == 0 && has) {
            if (!parse_int(argv[++i], &o->epochs) || o->epochs < 1 || o->epochs > 100000) return cm__usage("--epochs takes 1 to 100000");
        } else if (strcmp(a, "--hidden") == 0 && has) {
            if (!parse_int(argv[++i], &o->hidden) || o->hidden < 1 || o->hidden > 4096) return cm__usage("--hidden takes 1 to 4096");
        } else if (strcmp(a, "--upsample") == 0 && has) {
            if (!parse_int(argv[++i], &o->upsample) || o->upsample < 0 || o->upsample > FNET_MAX_UPSAMPLE) return cm__usage("--upsample takes 0 to 3");
        } else if (strcmp(a, "--seed") == 0 && has) {
            char *end;
            o->seed = strtoull(argv[++i], &end, 10);
            if (*end || end == argv[i]) return cm__usage("--seed takes a non-negative integer");
        } else if (strcmp(a, "--method") == 0 && has) {
            o->method = argv[++i];
            if (strcmp(o->method, "cw") && strcmp(o->method, "kmeans")) return cm__usage("--method takes cw or kmeans");
        } else if (strcmp(a, "--kind") == 0 && has) {
            o->kind = argv[++i];
            if (strcmp(o->kind, "softmax") && strcmp(o->kind, "mlp") && strcmp(o->kind, "knn"))
                return cm__usage("--kind takes softmax, mlp or knn");
        } else if (strcmp(a, "--far") == 0 && has) {
            char *end;
            o->far_rate = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(o->far_rate > 0.0) || !(o->far_rate < 1.0)) return cm__usage("--far takes a rate between 0 and 1 (0.01 = 1%)");
        } else if (strcmp(a, "--calibration") == 0 && has) {
            o->calibration = argv[++i];
        } else if (strcmp(a, "--jitter") == 0 && has) {
            if (!parse_int(argv[++i], &o->jitter) || o->jitter < 0 || o->jitter > FNET_GALLERY_MAX_JITTER)
                return cm__usage("--jitter takes 0 to 1000");
        } else if (strcmp(a, "--no-cohort") == 0) {
            o->no_cohort = 1;
        } else if (strcmp(a, "--gallery") == 0 && has) {
            o->gallery = argv[++i];
        } else if (strcmp(a, "--out") == 0 && has) {
            o->out = argv[++i];
        } else if (strcmp(a, "--roc") == 0 && has) {
            o->roc = argv[++i];
        } else if (strcmp(a, "--pairs") == 0 && has) {
            o->pairs = argv[++i];
        } else if (strcmp(a, "--root") == 0 && has) {
            o->root = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "fnet: unknown option or missing value: %s\n", a);
            return cm__usage(NULL);
        } else {
            break;
        }
    }
    o->first = i;
    /* options after the positional arguments are not accepted: keep it simple */
    for (; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1] && argv[i][1] == '-') {
            fprintf(stderr, "fnet: options go before the arguments: %s\n", argv[i]);
            return cm__usage(NULL);
        }
    return -1;
}

static int cm__open(embcache *ec, const char *net, int upsample) {
    if (!ec_open(ec, weights_dir(), net, NULL)) return 0;
    ec->upsample = upsample;
    ec->par = g_par; /* fnet --threads N */
    return 1;
}

/* Opens the blobs of the network that made a gallery's or a classifier's embeddings (what,
   network_id, dim). Returns 0 (printed why, nothing left open) when they cannot be loaded or
   make other embeddings. */
static int cm__open_for(embcache *ec, const char *what, const char *network_id, int dim, int upsample) {
    if (!cm__open(ec, ec_net_for_network(network_id), upsample)) return 0;
    if (strcmp(ec->network_id, network_id) != 0 || ec->dim != dim) {
        fprintf(stderr, "fnet: %s network %s, blob network %s: %s\n", what, network_id, ec->network_id,
                fnet_result_string(FNET_ERR_MISMATCH));
        ec_close(ec);
        return 0;
    }
    return 1;
}

static void cm__print_box(const fnet_box *b) {
    printf("\"box\":{\"left\":%d,\"top\":%d,\"right\":%d,\"bottom\":%d}", b->left, b->top, b->right, b->bottom);
}

/* What identify and classify share: each image of paths[0..n-1] through the pipeline, one JSON
   line per image: {"image":PATH,"faces":[{"box":{...}<face>},...]<tail>}, where face(ctx,
   path, face) prints what a face adds after its box (returns 1 on failure) and tail is printed
   after the faces. Returns 1 when an image or a face failed, else 0. */
typedef int (*cm__face_fn)(void *ctx, const char *path, const ec_face *face);

static int cm__each_face(embcache *ec, char **paths, int n, cm__face_fn face, void *ctx, const char *tail) {
    ec_result *res = (ec_result *)malloc(EC_BATCH * sizeof *res);
    int i, k, f, failed = 0, ok[EC_BATCH];
    for (i = 0; res && i < n; i += EC_BATCH) { /* EC_BATCH photos at a time: faces in batches */
        int m = n - i < EC_BATCH ? n - i : EC_BATCH;
        ec_images(ec, paths + i, m, res, ok);
        for (k = 0; k < m; k++) {
            if (!ok[k]) { failed = 1; continue; }
            printf("{\"image\":");
            json_string(stdout, paths[i + k]);
            printf(",\"faces\":[");
            for (f = 0; f < res[k].n; f++) {
                if (f) putchar(',');
                putchar('{');
                cm__print_box(&res[k].face[f].box);
                failed |= face(ctx, paths[i + k], &res[k].face[f]);
                putchar('}');
            }
            printf("]%s}\n", tail);
            fflush(stdout);
        }
    }
    free(res);
    return failed;
}

static int cm__write_file(const char *path, const void *data, size_t size) {
    char tmp[4200];
    FILE *f;
    int ok;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) { fprintf(stderr, "fnet: cannot write %s\n", tmp); return 0; }
    ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    if (ok) ok = pf_rename(tmp, path) == 0;
    if (!ok) { remove(tmp); fprintf(stderr, "fnet: cannot write %s\n", path); }
    return ok;
}

/* ---- calibration files (fnet calibrate writes them, identify/verify/cluster read them) ---- */
typedef struct cm_calibration {
    fnet_impostor_table table;
    double verify_threshold, cluster_threshold, eer, eer_threshold;
} cm_calibration;

static int cm__write_calibration(const char *path, const cm_calibration *c) {
    char *buf = (char *)malloc(8192);
    size_t at = 0;
    int i, ok;
    if (!buf) return 0;
    at += (size_t)snprintf(buf + at, 8192 - at,
                           "fnet-calibration 1\nnetwork %s\npairs %.0f\nverify_threshold %.6f\ncluster_threshold %.6f\n"
                           "eer %.6f\neer_threshold %.6f\npoints %d\n",
                           c->table.network, c->table.pairs, c->verify_threshold, c->cluster_threshold, c->eer,
                           c->eer_threshold, c->table.n);
    for (i = 0; i < c->table.n; i++)
        at += (size_t)snprintf(buf + at, 8192 - at, "%.6f %.6f\n", c->table.distance[i], c->table.log10_rate[i]);
    ok = cm__write_file(path, buf, at);
    free(buf);
    return ok;
}

/* A finite number that is the whole of s. */
static int cm__number(const char *s, double *out) {
    char *end;
    double v;
    if (!*s) return 0;
    v = strtod(s, &end);
    if (*end || end == s || !(v == v) || v > 1e300 || v < -1e300) return 0;
    *out = v;
    return 1;
}

/* Reads a calibration file strictly from f (format above; f is closed); 0 with *why set when
   it is not one. tests/fuzz/fuzz_calib.c feeds it damaged files. */
static int cm__read_calibration_from(FILE *f, cm_calibration *c, const char **why) {
    static const char *const keys[7] = {"network", "pairs", "verify_threshold", "cluster_threshold", "eer",
                                        "eer_threshold", "points"};
    char line[256];
    int i, k, points = 0;
    memset(c, 0, sizeof *c);
    *why = "cannot read it";
    if (!f) return 0;
    *why = "not an fnet calibration file (fnet calibrate writes them)";
    if (!fgets(line, sizeof line, f) || strcmp(line, "fnet-calibration 1\n") != 0) { fclose(f); return 0; }
    *why = "damaged calibration file: run fnet calibrate again";
    for (k = 0; k < 7; k++) {
        size_t n = strlen(keys[k]);
        double v = 0;
        if (!fgets(line, sizeof line, f) || !strchr(line, '\n')) break;
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, keys[k], n) != 0 || line[n] != ' ') break;
        if (k == 0) {
            size_t len = strlen(line + n + 1);
            if (len < 1 || len > FNET_NETWORK_ID_MAX) break;
            memcpy(c->table.network, line + n + 1, len + 1);
            continue;
        }
        if (!cm__number(line + n + 1, &v)) break;
        if (k == 1) c->table.pairs = v;
        else if (k == 2) c->verify_threshold = v;
        else if (k == 3) c->cluster_threshold = v;
        else if (k == 4) c->eer = v;
        else if (k == 5) c->eer_threshold = v;
        else if (v >= 2 && v <= FNET_IMPOSTOR_TABLE_MAX && v == (int)v) points = (int)v;
        else break;
    }
    if (k < 7 || !(c->verify_threshold > 0 && c->verify_threshold < 100) || !(c->cluster_threshold >= 0 && c->cluster_threshold < 100) ||
        !(c->eer >= 0 && c->eer <= 1) || !(c->eer_threshold >= 0 && c->eer_threshold < 100)) {
        fclose(f);
        return 0;
    }
    for (i = 0; i < points; i++) {
        char *sp;
        double d, y;
        if (!fgets(line, sizeof line, f) || !strchr(line, '\n')) break;
        line[strcspn(line, "\n")] = 0;
        sp = strchr(line, ' ');
        if (!sp) break;
        *sp = 0;
        if (!cm__number(line, &d) || !cm__number(sp + 1, &y) || fabs(d) > 1e4 || fabs(y) > 1e4) break;
        c->table.distance[i] = (float)d;
        c->table.log10_rate[i] = (float)y;
    }
    c->table.n = points;
    k = fgetc(f); /* nothing after the points */
    fclose(f);
    if (i < points || k != EOF) return 0;
    if (fnet_impostor_table_check(&c->table) != FNET_OK) return 0;
    return 1;
}

static int cm__read_calibration(const char *path, cm_calibration *c, const char **why) {
    return cm__read_calibration_from(fopen(path, "rb"), c, why);
}

/* The calibration a command uses: `explicit_path` (--calibration), else `beside` when that
   file exists (GALLERY.calib for identify; NULL: none). *used = 1 when one was read, 0 when
   there is none; returns 0 (printed why) when the one to use is unreadable or damaged, or
   made for another network than `network`. */
static int cm__calibration(const char *explicit_path, const char *beside, const char *network, cm_calibration *c,
                           const char **path_used) {
    const char *path = explicit_path, *why = NULL;
    FILE *f;
    *path_used = NULL;
    if (!path && beside && (f = fopen(beside, "rb")) != NULL) {
        fclose(f);
        path = beside;
    }
    if (!path) return 1;
    if (!cm__read_calibration(path, c, &why)) {
        fprintf(stderr, "fnet: %s: %s\n", path, why);
        return 0;
    }
    if (network && strcmp(c->table.network, network) != 0) {
        fprintf(stderr, "fnet: %s was made with %s embeddings, these are %s: %s\n", path, c->table.network, network,
                fnet_result_string(FNET_ERR_MISMATCH));
        return 0;
    }
    *path_used = path;
    return 1;
}

/* Embeddings of DIR/PERSON/IMAGE (largest face per photo): x n*128, y the person index of
   each, per the count of each person's photos with a face. Free with cm__labelled_free. */
typedef struct cm_labelled {
    ec_labelled lab;
    float *x;
    int *y, *per, n;
} cm_labelled;

static void cm__labelled_free(cm_labelled *l) {
    ec_labelled_free(&l->lab);
    free(l->x);
    free(l->y);
    free(l->per);
    memset(l, 0, sizeof *l);
}

static int cm__labelled_embeddings(embcache *ec, const char *dir, cm_labelled *l) {
    const ec_labelled *lab = &l->lab;
    int i, k, ok[EC_BATCH];
    ec_result *res = (ec_result *)malloc(EC_BATCH * sizeof *res);
    progress pr;
    memset(l, 0, sizeof *l);
    if (!res) return 0;
    if (!ec_labelled_dir(dir, &l->lab)) return 0;
    if (lab->n_people == 0) { fprintf(stderr, "fnet: %s has no person folders (DIR/person/*.jpg)\n", dir); return 0; }
    l->x = (float *)malloc((size_t)(lab->n ? lab->n : 1) * EC_DIM * sizeof(float));
    l->y = (int *)malloc((size_t)(lab->n ? lab->n : 1) * sizeof(int));
    l->per = (int *)calloc((size_t)lab->n_people, sizeof(int));
    if (!l->x || !l->y || !l->per) { free(res); return 0; }
    progress_start(&pr, "embedding", lab->n, "images");
    for (i = 0; i < lab->n; i += EC_BATCH) { /* EC_BATCH photos at a time: faces in batches */
        int m = lab->n - i < EC_BATCH ? lab->n - i : EC_BATCH;
        progress_step(&pr, i, lab->paths[i]);
        if (ec_images(ec, lab->paths + i, m, res, ok) < m) progress_break(&pr);
        for (k = 0; k < m; k++) {
            int f = ok[k] ? ec_largest(&res[k]) : -2;
            if (f == -1) {
                progress_break(&pr);
                fprintf(stderr, "fnet: %s: no face found, skipped\n", lab->paths[i + k]);
            }
            if (f < 0) continue;
            memcpy(l->x + (size_t)l->n * EC_DIM, res[k].face[f].emb, EC_DIM * sizeof(float));
            l->y[l->n] = lab->label[i + k];
            l->per[lab->label[i + k]]++;
            l->n++;
        }
    }
    progress_step(&pr, lab->n, NULL);
    progress_end(&pr);
    free(res);
    return 1;
}

/* ---- fnet enroll GALLERY DIR ---- */
static int cm_enroll(int argc, char **argv) {
    cm_opts o;
    embcache ec;
    cm_labelled le;
    fnet_gallery *g = NULL;
    int rc, i, j, failed = 0;
    fnet_result r;
    const char *gpath, *dir;
    FILE *exists;
    if ((rc = cm__parse(argc, argv, &o)) >= 0) return rc;
    if (argc - o.first != 2) return cm__usage("enroll needs GALLERY DIR");
    gpath = argv[o.first];
    dir = argv[o.first + 1];
    if (!cm__open(&ec, o.net, o.upsample)) return 1;
    exists = fopen(gpath, "rb");
    if (exists) {
        fclose(exists);
        r = fnet_gallery_load(gpath, &g);
        if (r != FNET_OK) {
            fprintf(stderr, "fnet: %s: %s (the file is left as it is)\n", gpath, fnet_result_string(r));
            ec_close(&ec);
            return 1;
        }
        if (fnet_gallery_check(g, ec.network_id, ec.dim) != FNET_OK) {
            fprintf(stderr, "fnet: %s holds %s embeddings; this run makes %s ones (--net %s): %s\n", gpath,
                    fnet_gallery_network(g), ec.network_id, ec.net_name, fnet_result_string(FNET_ERR_MISMATCH));
            fnet_gallery_free(g);
            ec_close(&ec);
            return 1;
        }
    } else if ((r = fnet_gallery_create(ec.network_id, ec.dim, &g)) != FNET_OK) {
        fprintf(stderr, "fnet: %s\n", fnet_result_string(r));
        ec_close(&ec);
        return 1;
    }
    /* the jitter: the gallery's own when it has embeddings, else --jitter, else the default
       where the network has tables for it */
    if (fnet_gallery_embedding_count(g) > 0) {
        if (o.jitter >= 0 && o.jitter != fnet_gallery_jitter(g)) {
            fprintf(stderr, "fnet: %s was enrolled with --jitter %d; this run would add --jitter %d embeddings: "
                            "one gallery, one kind (enroll into a new gallery)\n", gpath, fnet_gallery_jitter(g), o.jitter);
            fnet_gallery_free(g);
            ec_close(&ec);
            return 1;
        }
    } else {
        fnet_impostor_table t;
        int jitter = o.jitter >= 0 ? o.jitter
                   : fnet_network_impostor_table_jitter(ec.network_id, FNET_ENROLL_JITTER, &t) == FNET_OK ? FNET_ENROLL_JITTER : 0;
        fnet_gallery_set_jitter(g, jitter);
        if (jitter > 0 && fnet_network_impostor_table_jitter(ec.network_id, jitter, &t) != FNET_OK)
            fprintf(stderr, "fnet: no tables for %s galleries of --jitter %d: identify will use the fixed threshold\n",
                    ec.network_id, jitter);
    }
    ec.jitter = fnet_gallery_jitter(g);
    if (!cm__labelled_embeddings(&ec, dir, &le)) failed = 1;
    printf("{\"gallery\":");
    json_string(stdout, gpath);
    printf(",\"network\":");
    json_string(stdout, ec.network_id);
    printf(",\"enrolled\":[");
    for (i = 0, j = 0; !failed && i < le.lab.n_people; i++) {
        /* this person's embeddings are the y == i rows */
        float *e = (float *)malloc((size_t)(le.per[i] ? le.per[i] : 1) * EC_DIM * sizeof(float));
        int k, m = 0;
        if (!e) { failed = 1; break; }
        for (k = 0; k < le.n; k++)
            if (le.y[k] == i) memcpy(e + (size_t)m++ * EC_DIM, le.x + (size_t)k * EC_DIM, EC_DIM * sizeof(float));
        if (m == 0) {
            fprintf(stderr, "fnet: %s: no face in any photo, not enrolled\n", le.lab.people[i]);
        } else if ((r = fnet_gallery_add(g, le.lab.people[i], e, m)) != FNET_OK) {
            fprintf(stderr, "fnet: %s: %s\n", le.lab.people[i], fnet_result_string(r));
            failed = 1;
        } else {
            if (j++) putchar(',');
            printf("{\"name\":");
            json_string(stdout, le.lab.people[i]);
            printf(",\"embeddings\":%d}", m);
        }
        free(e);
    }
    printf("],\"people\":%d,\"embeddings\":%d,\"jitter\":%d", fnet_gallery_count(g), fnet_gallery_embedding_count(g),
           fnet_gallery_jitter(g));
    if (!failed && (r = fnet_gallery_save(g, gpath)) != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", gpath, fnet_result_string(r));
        failed = 1;
    }
    printf(",\"saved\":%s}\n", failed ? "false" : "true");
    fnet_gallery_free(g);
    cm__labelled_free(&le);
    ec_close(&ec);
    return failed;
}

/* ---- fnet identify GALLERY IMG... ---- */
typedef struct cm_identify_ctx {
    fnet_gallery *g;
    float thr;
    int k;
    fnet_gallery *cohort; /* NULL: plain distances */
    float *gallery_c;     /* the gallery's cohort distances (fnet_cohort_distances) */
} cm_identify_ctx;

/* One face: its name (null when unknown), the nearest distance and the k nearest people. */
static int cm__identify_face(void *ctx, const char *path, const ec_face *face) {
    const cm_identify_ctx *c = (const cm_identify_ctx *)ctx;
    fnet_match m[64];
    const char *name = NULL;
    int j, nm = 0, failed = 0;
    fnet_result r = c->cohort ? fnet_identify_cohort(c->g, c->cohort, c->gallery_c, face->emb, EC_DIM, c->thr, m, c->k, &nm)
                              : fnet_identify(c->g, face->emb, EC_DIM, c->thr, m, c->k, &nm);
    if (r != FNET_OK && r != FNET_ERR_NOT_FOUND) {
        fprintf(stderr, "fnet: %s: %s\n", path, fnet_result_string(r));
        failed = 1;
        nm = 0;
    }
    if (nm > 0 && m[0].accepted) fnet_gallery_person(c->g, m[0].person, &name, NULL, NULL);
    printf(",\"name\":");
    if (name) json_string(stdout, name);
    else printf("null");
    printf(",\"distance\":%.6f,\"matches\":[", nm > 0 ? m[0].distance : -1.0);
    for (j = 0; j < nm; j++) {
        const char *pn = "";
        fnet_gallery_person(c->g, m[j].person, &pn, NULL, NULL);
        if (j) putchar(',');
        printf("{\"name\":");
        json_string(stdout, pn);
        printf(",\"distance\":%.6f,\"score\":%.6f,\"accepted\":%s}", m[j].distance, m[j].score,
               m[j].accepted ? "true" : "false");
    }
    putchar(']');
    return failed;
}

/* The cohort of g's network (WEIGHTS/NETWORK-ID.cohort, `make cohort`) when there is one and
   a cohort table for it: loads it into ctx with the gallery's cohort distances and sets *thr
   for far_rate. 0 (nothing set) when the network has none; a damaged file is reported. */
static int cm__cohort(const fnet_gallery *g, double far_rate, cm_identify_ctx *ctx, float *thr) {
    char path[4200];
    fnet_impostor_table t;
    fnet_result r;
    FILE *f;
    if (fnet_network_cohort_table_jitter(fnet_gallery_network(g), fnet_gallery_jitter(g), &t) != FNET_OK) return 0;
    snprintf(path, sizeof path, "%s/%s.cohort", weights_dir(), fnet_gallery_network(g));
    if (!(f = fopen(path, "rb"))) return 0;
    fclose(f);
    if ((r = fnet_gallery_load(path, &ctx->cohort)) != FNET_OK ||
        (r = fnet_gallery_check(ctx->cohort, fnet_gallery_network(g), fnet_gallery_dim(g))) != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s (the cohort is ignored; rebuild it with make cohort)\n", path, fnet_result_string(r));
        fnet_gallery_free(ctx->cohort);
        ctx->cohort = NULL;
        return 0;
    }
    ctx->gallery_c = (float *)malloc(((size_t)fnet_gallery_embedding_count(g) + 1) * sizeof(float));
    if (!ctx->gallery_c || (r = fnet_cohort_distances(ctx->cohort, g, ctx->gallery_c)) != FNET_OK ||
        (r = fnet_far_threshold(&t, far_rate, fnet_gallery_embedding_count(g) > 0 ? fnet_gallery_embedding_count(g) : 1, thr)) != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s (the cohort is ignored)\n", path, ctx->gallery_c ? fnet_result_string(r) : "out of memory");
        free(ctx->gallery_c);
        fnet_gallery_free(ctx->cohort);
        ctx->gallery_c = NULL;
        ctx->cohort = NULL;
        return 0;
    }
    return 1;
}

static int cm_identify(int argc, char **argv) {
    cm_opts o;
    embcache ec;
    fnet_gallery *g = NULL;
    cm_identify_ctx ctx;
    cm_calibration cal;
    char tail[1400], beside[4200];
    const char *cal_path = NULL;
    int rc, failed, k;
    fnet_result r;
    float thr = 0;
    memset(&ctx, 0, sizeof ctx);
    if ((rc = cm__parse(argc, argv, &o)) >= 0) return rc;
    if (argc - o.first < 2) return cm__usage("identify needs GALLERY IMG...");
    if ((r = fnet_gallery_load(argv[o.first], &g)) != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", argv[o.first], fnet_result_string(r));
        return 1;
    }
    k = o.k_set ? (o.k > 64 ? 64 : o.k) : 3;
    /* the threshold: --threshold, else the target FAR through the calibration beside the
       gallery (or --calibration), else through the network's shipped impostor table */
    snprintf(beside, sizeof beside, "%s.calib", argv[o.first]);
    if (!cm__calibration(o.calibration, beside, fnet_gallery_network(g), &cal, &cal_path)) {
        fnet_gallery_free(g);
        return 1;
    }
    if (o.threshold > 0) {
        thr = o.threshold;
        snprintf(tail, sizeof tail, ",\"threshold\":%.4f,\"calibration\":\"--threshold\"", thr);
    } else if (cal_path) {
        fnet_gallery_far_threshold(g, &cal.table, o.far_rate, &thr);
        if (fnet_gallery_jitter(g) > 0) /* calibrate measures plain pairs only */
            fprintf(stderr, "fnet: %s: measured on plain embeddings, the gallery's are means of %d jitters (which sit "
                            "about 1%% nearer everyone): expect somewhat more than --far strangers accepted, or enroll "
                            "with --jitter 0\n", cal_path, fnet_gallery_jitter(g));
        snprintf(tail, sizeof tail, ",\"threshold\":%.4f,\"far\":%g,\"gallery_embeddings\":%d,\"calibration\":", thr,
                 o.far_rate, fnet_gallery_embedding_count(g));
    } else if (!o.no_cohort && cm__cohort(g, o.far_rate, &ctx, &thr)) {
        snprintf(tail, sizeof tail, ",\"threshold\":%.4f,\"far\":%g,\"gallery_embeddings\":%d,\"gallery_jitter\":%d,"
                 "\"calibration\":\"cohort\",\"cohort_embeddings\":%d", thr, o.far_rate, fnet_gallery_embedding_count(g),
                 fnet_gallery_jitter(g), fnet_gallery_embedding_count(ctx.cohort));
    } else if (fnet_gallery_far_threshold(g, NULL, o.far_rate, &thr) == FNET_OK) {
        snprintf(tail, sizeof tail, ",\"threshold\":%.4f,\"far\":%g,\"gallery_embeddings\":%d,\"gallery_jitter\":%d,"
                 "\"calibration\":\"built-in\"", thr, o.far_rate, fnet_gallery_embedding_count(g), fnet_gallery_jitter(g));
    } else {
        thr = fnet_network_threshold_for(fnet_gallery_network(g), FNET_THRESHOLD_IDENTIFY);
        snprintf(tail, sizeof tail, ",\"threshold\":%.4f,\"calibration\":\"fixed\"", thr);
    }
    if (cal_path) { /* the path as a JSON string */
        size_t at = strlen(tail);
        const char *q;
        tail[at++] = '"';
        for (q = cal_path; *q && at + 8 < sizeof tail; q++) {
            unsigned char ch = (unsigned char)*q;
            if (ch == '"' || ch == '\\') { tail[at++] = '\\'; tail[at++] = (char)ch; }
            else if (ch < 0x20) at += (size_t)snprintf(tail + at, sizeof tail - at, "\\u%04x", ch);
            else tail[at++] = (char)ch;
        }
        tail[at++] = '"';
        tail[at] = 0;
    }
    if (!(thr > 0)) {
        const char *gn = fnet_gallery_network(g);
        fprintf(stderr, "fnet: no default threshold for network %s: give --threshold or run fnet calibrate\n", gn ? gn : "?");
        fnet_gallery_free(g);
        return EXIT_USAGE;
    }
    fprintf(stderr, "fnet: identify: threshold %.4f (%s)\n", thr,
            o.threshold > 0 ? "--threshold" : cal_path ? cal_path : ctx.cohort ? "cohort-normalised scores, the network's LFW cohort table"
            : strstr(tail, "built-in") ? "the network's LFW impostor table" : "the network's fixed threshold");
    /* the gallery says which network made its embeddings */
    if (!cm__open_for(&ec, "gallery", fnet_gallery_network(g), fnet_gallery_dim(g), o.upsample)) {
        fnet_gallery_free(g);
        return 1;
    }
    ctx.g = g;
    ctx.thr = thr;
    ctx.k = k;
    failed = cm__each_face(&ec, argv + o.first + 1, argc - o.first - 1, cm__identify_face, &ctx, tail);
    fnet_gallery_free(ctx.cohort);
    free(ctx.gallery_c);
    fnet_gallery_free(g);
    ec_close(&ec);
    return failed;
}

/* ---- fnet calibrate DIR ----
   Every pair of the folder's photos is genuine (same person) or impostor (different people).
   From their distances: the ROC (true-accept rate against false-accept rate, one point per
   distinct distance), the equal-error rate (where the share of genuine pairs above the
   threshold equals the share of impostor pairs at or below it), the verify threshold (the
   best balanced accuracy: each class weighs the same whatever its number of pairs), the
   impostor table (fnet_impostor_table_build) and from it the identify thresholds per gallery
   size, and the cluster threshold (Chinese whispers' best pairwise F1 on these photos). */
typedef struct cm__scored {
    float d;
    int same;
} cm__scored;

static int cm__float_cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int cm__scored_cmp(const void *a, const void *b) {
    float x = ((const cm__scored *)a)->d, y = ((const cm__scored *)b)->d;
    return (x > y) - (x < y);
}

static void cm__quantiles(const char *name, const float *sorted, size_t n) {
    static const double q[5] = {0.01, 0.25, 0.5, 0.75, 0.99};
    int i;
    printf(",\"%s\":{\"pairs\":%lu,\"min\":%.4f", name, (unsigned long)n, n ? sorted[0] : 0.0);
    for (i = 0; i < 5; i++)
        printf(",\"q%02d\":%.4f", (int)(q[i] * 100 + 0.5), n ? sorted[(size_t)(q[i] * (double)(n - 1) + 0.5)] : 0.0);
    printf(",\"max\":%.4f,\"histogram\":[", n ? sorted[n - 1] : 0.0);
    { /* counts per 0.05 of distance, 0..1.5 (the last bin takes the rest) */
        size_t j = 0;
        for (i = 0; i < 30; i++) {
            size_t c = 0;
            while (j < n && (i == 29 || sorted[j] < 0.05f * (float)(i + 1))) { j++; c++; }
            printf(i ? ",%lu" : "%lu", (unsigned long)c);
        }
    }
    printf("]}");
}

/* Chinese whispers' best pairwise F1 over thresholds lo..hi (step): *best_t, returns F1. */
static double cm__best_cluster(const float *x, const int *y, int n, double lo, double hi, double step, double *best_t) {
    int *lab = (int *)malloc((size_t)n * sizeof(int)), nc = 0, i, j;
    double best = -1, t;
    *best_t = 0;
    for (t = lo; lab && t <= hi + 1e-9; t += step) {
        long tp = 0, fp = 0, fn = 0;
        double p, r, f1;
        if (fnet_chinese_whispers(x, n, EC_DIM, (float)t, 0, 1, NULL, 0, lab, &nc) != FNET_OK) continue;
        for (i = 0; i < n; i++)
            for (j = i + 1; j < n; j++) {
                int s = y[i] == y[j], c = lab[i] == lab[j];
                tp += s && c;
                fp += !s && c;
                fn += s && !c;
            }
        p = tp + fp ? (double)tp / (double)(tp + fp) : 1.0;
        r = tp + fn ? (double)tp / (double)(tp + fn) : 1.0;
        f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
        if (f1 > best) { best = f1; *best_t = t; }
    }
    free(lab);
    return best;
}

/* The median distance between the photos of each pair of people (the photos of person i are
   the le->y == i rows): out[] gets one value per pair of people with photos; returns how many. */
static size_t cm__people_pair_medians(const cm_labelled *le, float *out) {
    int a, b, i, j, m;
    size_t n = 0;
    float *cross;
    int most = 1;
    for (a = 0; a < le->lab.n_people; a++) most = le->per[a] > most ? le->per[a] : most;
    cross = (float *)malloc((size_t)most * (size_t)most * sizeof(float));
    if (!cross) return 0;
    for (a = 0; a < le->lab.n_people; a++)
        for (b = a + 1; b < le->lab.n_people; b++) {
            if (!le->per[a] || !le->per[b]) continue;
            m = 0;
            for (i = 0; i < le->n; i++)
                for (j = 0; le->y[i] == a && j < le->n; j++)
                    if (le->y[j] == b) cross[m++] = fnet_distance(le->x + (size_t)i * EC_DIM, le->x + (size_t)j * EC_DIM, EC_DIM);
            qsort(cross, (size_t)m, sizeof(float), cm__float_cmp);
            out[n++] = m % 2 ? cross[m / 2] : 0.5f * (cross[m / 2 - 1] + cross[m / 2]);
        }
    free(cross);
    return n;
}

static int cm_calibrate(int argc, char **argv) {
    cm_opts o;
    embcache ec;
    cm_labelled le;
    cm_calibration cal;
    fnet_impostor_table tail;
    int has_tail;
    float *pp = NULL;
    size_t n_pp = 0;
    cm__scored *sc = NULL;
    float *gen = NULL, *imp = NULL;
    size_t n_pairs, ng = 0, ni = 0, p;
    int rc, i, j, failed = 0, with_two = 0;
    char out[4200];
    const char *dir;
    fnet_result r;
    if ((rc = cm__parse(argc, argv, &o)) >= 0) return rc;
    if (argc - o.first != 1) return cm__usage("calibrate needs DIR (DIR/PERSON/IMAGE)");
    if (o.gallery && o.out) return cm__usage("calibrate takes --gallery GALLERY or --out FILE, not both");
    dir = argv[o.first];
    if (o.gallery) snprintf(out, sizeof out, "%s.calib", o.gallery);
    else if (o.out) snprintf(out, sizeof out, "%s", o.out);
    else out[0] = 0;
    if (!cm__open(&ec, o.net, o.upsample)) return 1;
    if (!cm__labelled_embeddings(&ec, dir, &le)) {
        cm__labelled_free(&le);
        ec_close(&ec);
        return 1;
    }
    for (i = 0; i < le.lab.n_people; i++) with_two += le.per[i] >= 2;
    if (le.n < 3 || with_two < 1 || le.lab.n_people < 2) {
        fprintf(stderr, "fnet: calibrate needs photos of at least 2 people, one of them with 2 photos or more "
                        "(%s: %d photos with a face, %d people)\n", dir, le.n, le.lab.n_people);
        cm__labelled_free(&le);
        ec_close(&ec);
        return 1;
    }
    n_pairs = (size_t)le.n * (size_t)(le.n - 1) / 2;
    sc = (cm__scored *)malloc(n_pairs * sizeof *sc);
    gen = (float *)malloc(n_pairs * sizeof(float));
    imp = (float *)malloc(n_pairs * sizeof(float));
    pp = (float *)malloc(((size_t)le.lab.n_people * (size_t)le.lab.n_people / 2 + 1) * sizeof(float));
    if (!sc || !gen || !imp || !pp) { fprintf(stderr, "fnet: calibrate: out of memory (%d photos)\n", le.n); failed = 1; }
    for (i = 0, p = 0; !failed && i < le.n; i++)
        for (j = i + 1; j < le.n; j++, p++) {
            sc[p].d = fnet_distance(le.x + (size_t)i * EC_DIM, le.x + (size_t)j * EC_DIM, EC_DIM);
            sc[p].same = le.y[i] == le.y[j];
            if (sc[p].same) gen[ng++] = sc[p].d;
            else imp[ni++] = sc[p].d;
        }
    memset(&cal, 0, sizeof cal);
    if (!failed && ni < 2) {
        fprintf(stderr, "fnet: calibrate: too few impostor pairs\n");
        failed = 1;
    }
    if (!failed) {
        double best_bacc = -1, *fpr, *tpr, eer = 1, eer_t = 0;
        size_t cg = 0, ci = 0, k = 0, q;
        qsort(sc, n_pairs, sizeof *sc, cm__scored_cmp);
        qsort(gen, ng, sizeof(float), cm__float_cmp);
        qsort(imp, ni, sizeof(float), cm__float_cmp);
        fpr = (double *)malloc((n_pairs + 1) * sizeof(double));
        tpr = (double *)malloc((n_pairs + 1) * sizeof(double));
        if (fpr && tpr) { fpr[k] = 0; tpr[k] = 0; k++; }
        /* thresholds between distinct distances: accept d <= t */
        for (q = 0; q < n_pairs;) {
            size_t e = q;
            double far_t, frr_t, t, bacc, next;
            while (e < n_pairs && sc[e].d == sc[q].d) { if (sc[e].same) cg++; else ci++; e++; }
            far_t = (double)ci / (double)ni;
            frr_t = 1.0 - (double)cg / (double)ng;
            next = e < n_pairs ? sc[e].d : sc[q].d + 0.01;
            t = 0.5 * (sc[q].d + next);
            bacc = 0.5 * ((double)cg / (double)ng + 1.0 - far_t);
            if (bacc > best_bacc) { best_bacc = bacc; cal.verify_threshold = t; }
            /* the crossing: the first threshold where the FAR reaches the FRR */
            if (far_t >= frr_t && eer == 1) { eer = 0.5 * (far_t + frr_t); eer_t = sc[q].d; }
            if (fpr && tpr) { fpr[k] = far_t; tpr[k] = (double)cg / (double)ng; k++; }
            q = e;
        }
        cal.eer = eer;
        cal.eer_threshold = eer_t;
        /* the folder's impostor table: one distance per pair of people (the median of their
           photos' cross distances: two look-alikes with ten photos each would otherwise be 100
           pairs at the bottom of the table), with the network's LFW tail below 100 of them
           (below the median for fewer than 200) */
        has_tail = fnet_network_impostor_table(ec.network_id, &tail) == FNET_OK;
        n_pp = cm__people_pair_medians(&le, pp);
        if ((r = fnet_impostor_table_build(ec.network_id, pp, n_pp, has_tail ? &tail : NULL, &cal.table)) != FNET_OK) {
            fprintf(stderr, "fnet: calibrate: %s\n", fnet_result_string(r));
            failed = 1;
        }
        {
            double ct = 0, f1 = cm__best_cluster(le.x, le.y, le.n, 0.5 * cal.verify_threshold, 1.2 * cal.verify_threshold, 0.005, &ct);
            cal.cluster_threshold = f1 >= 0 ? ct : 0;
            printf("{\"folder\":");
            json_string(stdout, dir);
            printf(",\"network\":");
            json_string(stdout, ec.network_id);
            printf(",\"people\":%d,\"photos\":%d,\"people_pairs\":%lu", le.lab.n_people, le.n, (unsigned long)n_pp);
            cm__quantiles("genuine", gen, ng);
            cm__quantiles("impostor", imp, ni);
            printf(",\"eer\":%.4f,\"eer_threshold\":%.4f,\"verify_threshold\":%.4f,\"verify_balanced_accuracy\":%.4f,"
                   "\"cluster_threshold\":%.4f,\"cluster_f1\":%.4f,\"far\":%g,\"identify\":[",
                   cal.eer, cal.eer_threshold, cal.verify_threshold, best_bacc, cal.cluster_threshold, f1, o.far_rate);
        }
        if (!failed) {
            static const int sizes[5] = {1, 10, 100, 1000, 10000};
            for (i = 0; i < 5; i++) {
                float t = 0;
                fnet_far_threshold(&cal.table, o.far_rate, sizes[i], &t);
                /* below 100 pairs of people: the network's tail (or an extrapolation): say so */
                printf("%s{\"gallery_embeddings\":%d,\"threshold\":%.4f,\"from\":\"%s\"}", i ? "," : "", sizes[i], t,
                       -expm1(log1p(-o.far_rate) / sizes[i]) * (double)n_pp >= (n_pp < 200 ? 0.5 * (double)n_pp : 100.0) ? "measured"
                       : has_tail ? "the network's LFW tail, shifted" : "extrapolated");
            }
        }
        printf("]");
        if (o.roc) {
            char title[96];
            int lo = (int)floor(log10(1.0 / (double)ni));
            snprintf(title, sizeof title, "EER %.2f%%  pairs: %lu same, %lu diff.", 100 * cal.eer, (unsigned long)ng,
                     (unsigned long)ni);
            if (lo > -1) lo = -1;
            if (!fpr || !tpr || !roc_plot_png_log(o.roc, fpr, tpr, (int)k, lo, title)) {
                fprintf(stderr, "fnet: cannot write %s\n", o.roc);
                failed = 1;
            }
            printf(",\"roc\":");
            json_string(stdout, o.roc);
        }
        free(fpr);
        free(tpr);
        if (!failed && out[0] && !cm__write_calibration(out, &cal)) failed = 1;
        printf(",\"calibration\":");
        if (out[0]) json_string(stdout, out);
        else printf("null");
        printf(",\"saved\":%s}\n", !failed && out[0] ? "true" : "false");
    }
    free(sc);
    free(gen);
    free(imp);
    free(pp);
    cm__labelled_free(&le);
    ec_close(&ec);
    return failed;
}

/* ---- fnet verify ---- */
typedef struct cm_img {
    char path[4096];
    int ok;
    float emb[EC_DIM];
} cm_img;

static int cm__embed_one(embcache *ec, const char *path, float *emb) {
    ec_result *r = (ec_result *)malloc(sizeof *r);
    int f, ok = 0;
    if (!r) return 0;
    if (ec_image(ec, path, r)) {
        f = ec_largest(r);
        if (f < 0) fprintf(stderr, "fnet: %s: no face found\n", path);
        else {
            memcpy(emb, r->face[f].emb, sizeof(float) * EC_DIM);
            ok = 1;
        }
    }
    free(r);
    return ok;
}

static int cm__find_or_add(cm_img **imgs, int *n, int *cap, const char *path) {
    int i;
    for (i = 0; i < *n; i++)
        if (strcmp((*imgs)[i].path, path) == 0) return i;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *imgs = (cm_img *)realloc(*imgs, (size_t)*cap * sizeof(cm_img));
    }
    snprintf((*imgs)[*n].path, sizeof(*imgs)[*n].path, "%s", path);
    (*imgs)[*n].ok = -1; /* not embedded yet */
    return (*n)++;
}

static int cm__verify_pairs(embcache *ec, const cm_opts *o, float thr) {
    FILE *f = fopen(o->pairs, "r");
    char line[8192];
    cm_img *imgs = NULL;
    int n_img = 0, cap = 0, n_pairs = 0, pcap = 0, i, right = 0, tp = 0, tn = 0, n_same = 0, skipped = 0;
    int (*pairs)[3] = NULL;
    char root[4096];
    progress pr;
    if (!f) { fprintf(stderr, "fnet: cannot read %s\n", o->pairs); return 1; }
    if (o->root) snprintf(root, sizeof root, "%s", o->root);
    else {
        const char *slash = strrchr(o->pairs, '/');
        snprintf(root, sizeof root, "%.*s", slash ? (int)(slash - o->pairs) : 1, slash ? o->pairs : ".");
    }
    while (fgets(line, sizeof line, f)) {
        char *a = line, *b, *c, *e;
        char pa[4096], pb[4096];
        int same;
        line[strcspn(line, "\r\n")] = 0;
        b = strchr(a, ',');
        if (!b) continue;
        *b++ = 0;
        c = strchr(b, ',');
        if (!c) continue;
        *c++ = 0;
        if ((e = strchr(c, ',')) != NULL) *e = 0;
        if (strcmp(c, "Yes") == 0 || strcmp(c, "yes") == 0 || strcmp(c, "1") == 0) same = 1;
        else if (strcmp(c, "No") == 0 || strcmp(c, "no") == 0 || strcmp(c, "0") == 0) same = 0;
        else continue; /* header */
        snprintf(pa, sizeof pa, "%.2000s/%.2000s", root, a);
        snprintf(pb, sizeof pb, "%.2000s/%.2000s", root, b);
        if (n_pairs == pcap) {
            pcap = pcap ? pcap * 2 : 256;
            pairs = (int(*)[3])realloc(pairs, (size_t)pcap * sizeof *pairs);
        }
        pairs[n_pairs][0] = cm__find_or_add(&imgs, &n_img, &cap, pa);
        pairs[n_pairs][1] = cm__find_or_add(&imgs, &n_img, &cap, pb);
        pairs[n_pairs][2] = same;
        n_pairs++;
    }
    fclose(f);
    progress_start(&pr, "verify", n_img, "images");
    for (i = 0; i < n_img; i++) {
        progress_step(&pr, i, imgs[i].path);
        imgs[i].ok = cm__embed_one(ec, imgs[i].path, imgs[i].emb);
        if (!imgs[i].ok) progress_break(&pr);
    }
    progress_step(&pr, n_img, NULL);
    progress_end(&pr);
    for (i = 0; i < n_pairs; i++) {
        cm_img *a = &imgs[pairs[i][0]], *b = &imgs[pairs[i][1]];
        float d = -1;
        int same = 0;
        if (!a->ok || !b->ok) { skipped++; continue; }
        fnet_verify(a->emb, b->emb, EC_DIM, thr, &d, &same);
        printf("{\"image1\":");
        json_string(stdout, a->path);
        printf(",\"image2\":");
        json_string(stdout, b->path);
        printf(",\"distance\":%.6f,\"same\":%s,\"label\":%s}\n", d, same ? "true" : "false", pairs[i][2] ? "true" : "false");
        right += same == pairs[i][2];
        n_same += pairs[i][2];
        tp += same && pairs[i][2];
        tn += !same && !pairs[i][2];
    }
    printf("{\"pairs\":%d,\"evaluated\":%d,\"skipped\":%d,\"correct\":%d,\"accuracy\":%.6f,\"true_accepts\":%d,"
           "\"same_pairs\":%d,\"true_rejects\":%d,\"different_pairs\":%d,\"threshold\":%.4f,\"network\":",
           n_pairs, n_pairs - skipped, skipped, right, n_pairs - skipped ? (double)right / (n_pairs - skipped) : 0.0, tp,
           n_same, tn, n_pairs - skipped - n_same, thr);
    json_string(stdout, ec->network_id);
    printf("}\n");
    free(imgs);
    free(pairs);
    return skipped ? 1 : 0;
}

static int cm_verify(int argc, char **argv) {
    cm_opts o;
    embcache ec;
    float a[EC_DIM], b[EC_DIM], d = 0, thr;
    int rc, same = 0, ok;
    if ((rc = cm__parse(argc, argv, &o)) >= 0) return rc;
    if (!o.pairs && argc - o.first != 2) return cm__usage("verify needs IMG1 IMG2 (or --pairs CSV)");
    if (!cm__open(&ec, o.net, o.upsample)) return 1;
    thr = o.threshold > 0 ? o.threshold : fnet_network_threshold(ec.network_id);
    if (o.calibration && !(o.threshold > 0)) {
        cm_calibration cal;
        const char *used;
        if (!cm__calibration(o.calibration, NULL, ec.network_id, &cal, &used)) { ec_close(&ec); return 1; }
        thr = (float)cal.verify_threshold;
    }
    if (o.pairs) {
        rc = cm__verify_pairs(&ec, &o, thr);
        ec_close(&ec);
        return rc;
    }
    ok = cm__embed_one(&ec, argv[o.first], a) && cm__embed_one(&ec, argv[o.first + 1], b);
    if (ok) {
        fnet_verify(a, b, EC_DIM, thr, &d, &same);
        printf("{\"image1\":");
        json_string(stdout, argv[o.first]);
        printf(",\"image2\":");
        json_string(stdout, argv[o.first + 1]);
        printf(",\"distance\":%.6f,\"threshold\":%.4f,\"same\":%s,\"network\":", d, thr, same ? "true" : "false");
        json_string(stdout, ec.network_id);
        printf("}\n");
    }
    ec_close(&ec);
    return ok ? 0 : 1;
}

/* ---- fnet cluster DIR|IMG... ---- */
static int cm__collect_images(const char *arg, char ***paths, int *n, int *cap, int depth) {
    int kind = pf_kind(arg, NULL, NULL);
    if (kind == PF_NONE) { fprintf(stderr, "fnet: %s: no such file or folder\n", arg); return 0; }
    if (kind == PF_DIR) {
        char **files = NULL, **dirs = NULL;
        int nf = ec_list(arg, 0, &files), nd = depth < 1 ? ec_list(arg, 1, &dirs) : 0, i;
        char p[4096];
        for (i = 0; i < nf; i++) {
            snprintf(p, sizeof p, "%s/%s", arg, files[i]);
            cm__collect_images(p, paths, n, cap, depth + 1);
        }
        for (i = 0; i < nd; i++) {
            snprintf(p, sizeof p, "%s/%s", arg, dirs[i]);
            cm__collect_images(p, paths, n, cap, depth + 1);
        }
        ec_free_list(files, nf);
        ec_free_list(dirs, nd > 0 ? nd : 0);
        return 1;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *paths = (char **)realloc(*paths, (size_t)*cap * sizeof(char *));
    }
    (*paths)[*n] = (char *)malloc(strlen(arg) + 1);
    strcpy((*paths)[(*n)++], arg);
    return 1;
}

static int cm_cluster(int argc, char **argv) {
    cm_opts o;
    embcache ec;
    char **paths = NULL;
    int n_paths = 0, cap = 0, rc, i, f, n = 0, fcap = 0, nc = 0, failed = 0;
    float *x = NULL, thr;
    int *img_of = NULL, *labels = NULL;
    fnet_box *boxes = NULL;
    ec_result *res;
    fnet_result r;
    progress pr;
    if ((rc = cm__parse(argc, argv, &o)) >= 0) return rc;
    if (argc - o.first < 1) return cm__usage("cluster needs DIR or IMG...");
    if (strcmp(o.method, "kmeans") == 0 && !o.k_set) return cm__usage("--method kmeans needs --k");
    for (i = o.first; i < argc; i++)
        if (!cm__collect_images(argv[i], &paths, &n_paths, &cap, 0)) failed = 1;
    if (!cm__open(&ec, o.net, o.upsample)) { ec_free_list(paths, n_paths); return 1; }
    thr = o.threshold > 0 ? o.threshold : fnet_network_threshold_for(ec.network_id, FNET_THRESHOLD_CLUSTER);
    if (o.calibration && !(o.threshold > 0)) {
        cm_calibration cal;
        const char *used;
        if (!cm__calibration(o.calibration, NULL, ec.network_id, &cal, &used)) {
            ec_free_list(paths, n_paths);
            ec_close(&ec);
            return 1;
        }
        if (cal.cluster_threshold > 0) thr = (float)cal.cluster_threshold;
    }
    res = (ec_result *)malloc(EC_BATCH * sizeof *res);
    progress_start(&pr, "cluster", n_paths, "images");
    for (i = 0; res && i < n_paths; i += EC_BATCH) { /* EC_BATCH photos at a time: faces in batches */
        int m = n_paths - i < EC_BATCH ? n_paths - i : EC_BATCH, k, ok[EC_BATCH];
        progress_step(&pr, i, paths[i]);
        if (ec_images(&ec, paths + i, m, res, ok) < m) progress_break(&pr);
        for (k = 0; k < m; k++) {
            if (!ok[k]) { failed = 1; continue; }
            for (f = 0; f < res[k].n; f++) {
                if (n == fcap) {
                    fcap = fcap ? fcap * 2 : 64;
                    x = (float *)realloc(x, (size_t)fcap * EC_DIM * sizeof(float));
                    img_of = (int *)realloc(img_of, (size_t)fcap * sizeof(int));
                    boxes = (fnet_box *)realloc(boxes, (size_t)fcap * sizeof(fnet_box));
                }
                memcpy(x + (size_t)n * EC_DIM, res[k].face[f].emb, EC_DIM * sizeof(float));
                img_of[n] = i + k;
                boxes[n++] = res[k].face[f].box;
            }
        }
    }
    if (res) progress_step(&pr, n_paths, NULL);
    progress_end(&pr);
    free(res);
    labels = (int *)malloc((size_t)(n ? n : 1) * sizeof(int));
    if (n == 0) {
        fprintf(stderr, "fnet: no faces found\n");
        r = FNET_OK;
    } else if (strcmp(o.method, "kmeans") == 0) {
        if (o.k > n) { fprintf(stderr, "fnet: --k %d but only %d faces\n", o.k, n); o.k = n; }
        /* k-means++ finds a local optimum that depends on the seed: keep the best of 10
           seeds (the smallest sum of squared distances to the centroids), as scikit-learn's
           n_init does */
        float *cent = (float *)malloc((size_t)o.k * EC_DIM * sizeof(float));
        int *lab2 = (int *)malloc((size_t)n * sizeof(int)), s;
        double best = -1;
        r = cent && lab2 ? FNET_OK : FNET_ERR_OUT_OF_MEMORY;
        for (s = 0; r == FNET_OK && s < 10; s++) {
            double inertia = 0;
            r = fnet_kmeans(x, n, EC_DIM, o.k, 0, o.seed + (unsigned long long)s, NULL, 0, lab2, cent);
            for (i = 0; r == FNET_OK && i < n; i++)
                inertia += fnet_distance_sq(x + (size_t)i * EC_DIM, cent + (size_t)lab2[i] * EC_DIM, EC_DIM);
            if (r == FNET_OK && (best < 0 || inertia < best)) {
                best = inertia;
                memcpy(labels, lab2, (size_t)n * sizeof(int));
            }
        }
        free(cent);
        free(lab2);
        nc = o.k;
    } else {
        r = fnet_chinese_whispers(x, n, EC_DIM, thr, 0, o.seed, NULL, 0, labels, &nc);
    }
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: cluster: %s\n", fnet_result_string(r));
        failed = 1;
    } else {
        int c;
        printf("{\"method\":\"%s\",\"faces\":%d,\"clusters\":%d", o.method, n, nc);
        if (strcmp(o.method, "cw") == 0) printf(",\"threshold\":%.4f", thr);
        printf(",\"groups\":[");
        for (c = 0; c < nc; c++) {
            int first = 1;
            printf(c ? ",[" : "[");
            for (i = 0; i < n; i++) {
                if (labels[i] != c) continue;
                if (!first) putchar(',');
                first = 0;
                printf("{\"image\":");
                json_string(stdout, paths[img_of[i]]);
                putchar(',');
                cm__print_box(&boxes[i]);
                putchar('}');
            }
            putchar(']');
        }
        printf("]}\n");
    }
    free(x);
    free(img_of);
    free(boxes);
    free(labels);
    ec_free_list(paths, n_paths);
    ec_close(&ec);
    return failed;
}

/* ---- fnet train-classifier DIR MODEL / fnet classify MODEL IMG... ---- */
static int cm_train_classifier(int argc, char **argv) {
    cm_opts o;
    embcache ec;
    cm_labelled le;
    int rc, i, correct = 0, failed = 0;
    fnet_train_opts t;
    fnet_classifier *c = NULL;
    fnet_classifier_kind kind;
    fnet_result r;
    if ((rc = cm__parse(argc, argv, &o)) >= 0) return rc;
    if (argc - o.first != 2) return cm__usage("train-classifier needs DIR MODEL");
    kind = strcmp(o.kind, "mlp") == 0 ? FNET_CLASSIFIER_MLP : strcmp(o.kind, "knn") == 0 ? FNET_CLASSIFIER_KNN : FNET_CLASSIFIER_SOFTMAX;
    if (!cm__open(&ec, o.net, o.upsample)) return 1;
    if (!cm__labelled_embeddings(&ec, argv[o.first], &le) || le.n == 0) {
        fprintf(stderr, "fnet: no training faces\n");
        cm__labelled_free(&le);
        ec_close(&ec);
        return 1;
    }
    memset(&t, 0, sizeof t);
    t.epochs = o.epochs;
    t.hidden = o.hidden;
    t.k = o.k_set ? o.k : 0;
    t.seed = o.seed;
    r = fnet_classifier_train(kind, ec.network_id, le.x, le.y, le.n, EC_DIM, le.lab.n_people, &t, &c);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: train: %s\n", fnet_result_string(r));
        failed = 1;
    } else {
        size_t size = 0;
        unsigned char *buf;
        for (i = 0; i < le.lab.n_people; i++) fnet_classifier_set_class_name(c, i, le.lab.people[i]);
        for (i = 0; i < le.n; i++) {
            int l = -1;
            fnet_classifier_predict(c, le.x + (size_t)i * EC_DIM, EC_DIM, &l, NULL);
            correct += l == le.y[i];
        }
        fnet_classifier_save_memory(c, NULL, 0, &size);
        buf = (unsigned char *)malloc(size);
        if (!buf || fnet_classifier_save_memory(c, buf, size, &size) != FNET_OK ||
            !cm__write_file(argv[o.first + 1], buf, size))
            failed = 1;
        free(buf);
        printf("{\"model\":");
        json_string(stdout, argv[o.first + 1]);
        printf(",\"kind\":\"%s\",\"network\":", o.kind);
        json_string(stdout, ec.network_id);
        printf(",\"samples\":%d,\"training_accuracy\":%.4f,\"classes\":[", le.n, (double)correct / le.n);
        for (i = 0; i < le.lab.n_people; i++) {
            if (i) putchar(',');
            printf("{\"name\":");
            json_string(stdout, le.lab.people[i]);
            printf(",\"samples\":%d}", le.per[i]);
        }
        printf("],\"saved\":%s}\n", failed ? "false" : "true");
    }
    fnet_classifier_free(c);
    cm__labelled_free(&le);
    ec_close(&ec);
    return failed;
}

typedef struct cm_classify_ctx {
    fnet_classifier *c;
    float *scores;
} cm_classify_ctx;

/* One face: its class name, index and probability. */
static int cm__classify_face(void *ctx, const char *path, const ec_face *face) {
    const cm_classify_ctx *c = (const cm_classify_ctx *)ctx;
    int l = -1;
    (void)path;
    if (fnet_classifier_predict(c->c, face->emb, EC_DIM, &l, c->scores) == FNET_OK) {
        printf(",\"label\":");
        json_string(stdout, fnet_classifier_class_name(c->c, l));
        printf(",\"class\":%d,\"probability\":%.6f", l, c->scores[l]);
    }
    return 0;
}

static int cm_classify(int argc, char **argv) {
    cm_opts o;
    embcache ec;
    fnet_classifier *c = NULL;
    unsigned char *buf;
    long len;
    FILE *f;
    int rc, failed = 0;
    fnet_result r;
    cm_classify_ctx ctx;
    if ((rc = cm__parse(argc, argv, &o)) >= 0) return rc;
    if (argc - o.first < 2) return cm__usage("classify needs MODEL IMG...");
    f = fopen(argv[o.first], "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 || len > (1L << 30)) {
        fprintf(stderr, "fnet: cannot read %s\n", argv[o.first]);
        if (f) fclose(f);
        return 1;
    }
    buf = (unsigned char *)malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "fnet: cannot read %s\n", argv[o.first]);
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    r = fnet_classifier_load_memory(buf, (size_t)len, &c);
    free(buf);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", argv[o.first], fnet_result_string(r));
        return 1;
    }
    if (!cm__open_for(&ec, "classifier", fnet_classifier_network(c), fnet_classifier_dim(c), o.upsample)) {
        fnet_classifier_free(c);
        return 1;
    }
    ctx.c = c;
    ctx.scores = (float *)malloc((size_t)fnet_classifier_classes(c) * sizeof(float));
    if (ctx.scores) failed = cm__each_face(&ec, argv + o.first + 1, argc - o.first - 1, cm__classify_face, &ctx, "");
    free(ctx.scores);
    fnet_classifier_free(c);
    ec_close(&ec);
    return failed;
}

static int cli_match_dispatch(const char *cmd, int argc, char **argv) {
    if (strcmp(cmd, "enroll") == 0) return cm_enroll(argc, argv);
    if (strcmp(cmd, "identify") == 0) return cm_identify(argc, argv);
    if (strcmp(cmd, "calibrate") == 0) return cm_calibrate(argc, argv);
    if (strcmp(cmd, "verify") == 0) return cm_verify(argc, argv);
    if (strcmp(cmd, "cluster") == 0) return cm_cluster(argc, argv);
    if (strcmp(cmd, "train-classifier") == 0) return cm_train_classifier(argc, argv);
    if (strcmp(cmd, "classify") == 0) return cm_classify(argc, argv);
    return -1;
}
