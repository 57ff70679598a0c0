/* fnet CLI: matching commands (included by examples/fnet.c).

   fnet enroll [--net resnet|nn4] GALLERY DIR     DIR/PERSON/IMAGE -> GALLERY (created or
                                                  extended; one face per photo: the largest)
   fnet identify [--k K] [--threshold T] GALLERY IMG...   every face: nearest people, or unknown
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
   JSON on stdout (one object per line), progress and errors on stderr.
   Exit codes: 0 ok, 1 failure, 2 usage. */
#include "embcache.h"

static int cm__usage(const char *msg) {
    return usage_text(msg,
            "usage: fnet enroll [--net resnet|nn4] GALLERY DIR\n"
            "       fnet identify [--k K] [--threshold T] GALLERY IMG...\n"
            "       fnet verify [--net N] [--threshold T] IMG1 IMG2 | --pairs CSV [--root DIR]\n"
            "       fnet cluster [--net N] [--method cw|kmeans] [--k K] [--threshold T] [--seed S] DIR|IMG...\n"
            "       fnet train-classifier [--net N] [--kind softmax|mlp|knn] [--epochs E] [--hidden H] [--k K] [--seed S] DIR MODEL\n"
            "       fnet classify MODEL IMG...\n");
}

typedef struct cm_opts {
    const char *net, *method, *kind, *pairs, *root;
    float threshold;
    int k, k_set, epochs, hidden, upsample;
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
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) { remove(tmp); fprintf(stderr, "fnet: cannot write %s\n", path); }
    return ok;
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
    memset(l, 0, sizeof *l);
    if (!res) return 0;
    if (!ec_labelled_dir(dir, &l->lab)) return 0;
    if (lab->n_people == 0) { fprintf(stderr, "fnet: %s has no person folders (DIR/person/*.jpg)\n", dir); return 0; }
    l->x = (float *)malloc((size_t)(lab->n ? lab->n : 1) * EC_DIM * sizeof(float));
    l->y = (int *)malloc((size_t)(lab->n ? lab->n : 1) * sizeof(int));
    l->per = (int *)calloc((size_t)lab->n_people, sizeof(int));
    if (!l->x || !l->y || !l->per) { free(res); return 0; }
    for (i = 0; i < lab->n; i += EC_BATCH) { /* EC_BATCH photos at a time: faces in batches */
        int m = lab->n - i < EC_BATCH ? lab->n - i : EC_BATCH;
        fprintf(stderr, "\r[%d/%d] %s", i + m, lab->n, lab->paths[i + m - 1]);
        ec_images(ec, lab->paths + i, m, res, ok);
        for (k = 0; k < m; k++) {
            int f = ok[k] ? ec_largest(&res[k]) : -2;
            if (f == -1) fprintf(stderr, "\nfnet: %s: no face found, skipped\n", lab->paths[i + k]);
            if (f < 0) continue;
            memcpy(l->x + (size_t)l->n * EC_DIM, res[k].face[f].emb, EC_DIM * sizeof(float));
            l->y[l->n] = lab->label[i + k];
            l->per[lab->label[i + k]]++;
            l->n++;
        }
    }
    fprintf(stderr, "\n");
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
    printf("],\"people\":%d,\"embeddings\":%d", fnet_gallery_count(g), fnet_gallery_embedding_count(g));
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
} cm_identify_ctx;

/* One face: its name (null when unknown), the nearest distance and the k nearest people. */
static int cm__identify_face(void *ctx, const char *path, const ec_face *face) {
    const cm_identify_ctx *c = (const cm_identify_ctx *)ctx;
    fnet_match m[64];
    const char *name = NULL;
    int j, nm = 0, failed = 0;
    fnet_result r = fnet_identify(c->g, face->emb, EC_DIM, c->thr, m, c->k, &nm);
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
        printf(",\"distance\":%.6f,\"accepted\":%s}", m[j].distance, m[j].accepted ? "true" : "false");
    }
    putchar(']');
    return failed;
}

static int cm_identify(int argc, char **argv) {
    cm_opts o;
    embcache ec;
    fnet_gallery *g = NULL;
    cm_identify_ctx ctx;
    char tail[80];
    int rc, failed, k;
    fnet_result r;
    float thr;
    if ((rc = cm__parse(argc, argv, &o)) >= 0) return rc;
    if (argc - o.first < 2) return cm__usage("identify needs GALLERY IMG...");
    if ((r = fnet_gallery_load(argv[o.first], &g)) != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", argv[o.first], fnet_result_string(r));
        return 1;
    }
    k = o.k_set ? (o.k > 64 ? 64 : o.k) : 3;
    thr = o.threshold > 0 ? o.threshold : fnet_network_threshold_for(fnet_gallery_network(g), FNET_THRESHOLD_IDENTIFY);
    if (!(thr > 0)) {
        const char *gn = fnet_gallery_network(g);
        fprintf(stderr, "fnet: no default threshold for network %s: give --threshold\n", gn ? gn : "?");
        fnet_gallery_free(g);
        return EXIT_USAGE;
    }
    /* the gallery says which network made its embeddings */
    if (!cm__open_for(&ec, "gallery", fnet_gallery_network(g), fnet_gallery_dim(g), o.upsample)) {
        fnet_gallery_free(g);
        return 1;
    }
    ctx.g = g;
    ctx.thr = thr;
    ctx.k = k;
    snprintf(tail, sizeof tail, ",\"threshold\":%.4f", thr);
    failed = cm__each_face(&ec, argv + o.first + 1, argc - o.first - 1, cm__identify_face, &ctx, tail);
    fnet_gallery_free(g);
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
    for (i = 0; i < n_img; i++) {
        fprintf(stderr, "\r[%d/%d] %s", i + 1, n_img, imgs[i].path);
        imgs[i].ok = cm__embed_one(ec, imgs[i].path, imgs[i].emb);
    }
    fprintf(stderr, "\n");
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
    struct stat st;
    if (stat(arg, &st) != 0) { fprintf(stderr, "fnet: %s: no such file or folder\n", arg); return 0; }
    if (S_ISDIR(st.st_mode)) {
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
    if ((rc = cm__parse(argc, argv, &o)) >= 0) return rc;
    if (argc - o.first < 1) return cm__usage("cluster needs DIR or IMG...");
    if (strcmp(o.method, "kmeans") == 0 && !o.k_set) return cm__usage("--method kmeans needs --k");
    for (i = o.first; i < argc; i++)
        if (!cm__collect_images(argv[i], &paths, &n_paths, &cap, 0)) failed = 1;
    if (!cm__open(&ec, o.net, o.upsample)) { ec_free_list(paths, n_paths); return 1; }
    thr = o.threshold > 0 ? o.threshold : fnet_network_threshold_for(ec.network_id, FNET_THRESHOLD_CLUSTER);
    res = (ec_result *)malloc(EC_BATCH * sizeof *res);
    for (i = 0; res && i < n_paths; i += EC_BATCH) { /* EC_BATCH photos at a time: faces in batches */
        int m = n_paths - i < EC_BATCH ? n_paths - i : EC_BATCH, k, ok[EC_BATCH];
        fprintf(stderr, "\r[%d/%d] %s", i + m, n_paths, paths[i + m - 1]);
        ec_images(&ec, paths + i, m, res, ok);
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
    fprintf(stderr, "\n");
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
    if (strcmp(cmd, "verify") == 0) return cm_verify(argc, argv);
    if (strcmp(cmd, "cluster") == 0) return cm_cluster(argc, argv);
    if (strcmp(cmd, "train-classifier") == 0) return cm_train_classifier(argc, argv);
    if (strcmp(cmd, "classify") == 0) return cm_classify(argc, argv);
    return -1;
}
