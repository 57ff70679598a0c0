/* fnet CLI: LFW face verification (included by examples/fnet.c).

   fnet eval-lfw --pairs PAIRS --root DIR [--net resnet|nn4] [--net-blob FILE] [--landmarks FILE] [--upsample N]
                 [--flip] [--jitter N] [--no-detect] [--retry-threshold T] [--threads N] [--jitter-seed S]
                 [--roc OUT.png] [--save-distances OUT.txt]
                 [--save-embeddings OUT.txt] [--pick centre|nearest]
   fnet eval-lfw --distances IN.txt [--roc OUT.png]

   PAIRS is LFW's pairs.txt: a header "FOLDS<TAB>N", then per fold N matched pairs
   (name i j) and N mismatched pairs (name1 i name2 j). Images are DIR/NAME/NAME_%04d.jpg
   (DIR may also be the folder holding lfw-deepfunneled/ or lfw/).

   Each image referenced by the pairs is embedded once: detect (upsample 1 by default) ->
   the face at the image centre (of the boxes that contain the image centre, the one whose
   centre is nearest it: LFW centred each image on its person, so a face elsewhere is a
   bystander; --pick nearest takes the nearest box wherever it is) -> 68 landmarks -> align
   (dlib's 150 px chip for the ResNet, OpenFace's 96 px outer-eyes-and-nose for nn4) -> embed.
   Where the detector finds no such face, a fixed central box is used instead and counted as
   a miss: a square of side 0.43 * min(width, height) centred on the image centre (on LFW's
   250x250 images: 108 px, about the size and place of dlib's detections there).

   Protocol (LFW View 2, "unrestricted" style as dlib and OpenFace report it): the distance of
   a pair is the Euclidean distance of its two embeddings; for each fold k, the threshold is
   the one that maximises accuracy on the other folds' pairs (candidates: midpoints between
   consecutive sorted distances; the first best one), and fold k's accuracy is measured with
   it ("same" when distance < threshold). Reported: mean and standard deviation (population,
   over folds) of the fold accuracies, the mean threshold, the AUC of the ROC over all pairs
   (the probability that a matched pair is closer than a mismatched one, ties count half),
   the detector misses and the ms per image of the whole pipeline.
   Progress goes to stderr; one JSON object to stdout.

   --jitter N embeds N randomly perturbed copies of each crop (as dlib's jitter_image: shifts
   up to 2%, zoom 1.0-1.03, turns up to 3 degrees, mirrored half the time; a fixed seed per
   image) and averages them: dlib's example says its 99.38% on LFW needs this (100 copies).
   --jitter-seed S draws other jitters (image i uses seed i + 65536 S; default 0): how much the
   figure depends on the random draw.
   --threads N embeds N images at a time (one shared set of models; same result for any N).
   --retry-threshold T (negative): where the detector finds nothing, detect once more with its
   threshold lowered by -T before falling back to the central box (close-ups such as
   Jelena_Dokic_0004 score just below 0); those images are counted as "found_on_retry".
   --no-detect skips the detector and uses the fixed central box for every image (counted as
   misses): how much the detector's box matters on LFW's centred images.
   --flip embeds each crop and its mirror image and averages the two (a cheap variant). --net-blob FILE uses that network blob instead of the --net
   one (e.g. the ResNet with face-api's divisor 255: `make resnet-255`).
   --landmarks FILE uses that landmarks blob (fnet train-landmarks) instead of landmarks68.fnet:
   68 points as usual, or 5 points (dlib's 5-point scheme) aligned with dlib's 5-point chip.
   --save-distances writes "fold same distance image1 image2 miss1 miss2" lines;
   --save-embeddings writes "image miss e1 ... e128" lines (one per distinct image).
   Measured on ../shared/data/lfw-dev (LFW deep-funneled, folds 1-3, 1800 pairs), ResNet-34:
     default (upsample 1, 17 images without a centred face)  98.44% +- 0.55, AUC 0.99875, thr 0.621
     same, face-api's divisor 255 (--net-blob)               98.28% +- 0.52, AUC 0.99875
     same, --pick nearest (the old rule, 16 misses)          98.22% +- 0.44, AUC 0.9975
     --retry-threshold -0.5 (3 misses)                       98.72% +- 0.34, AUC 0.99905
     --retry-threshold -0.5 --jitter 10                      99.06% +- 0.21, AUC 0.99927
     --retry-threshold -0.5 --jitter 100 (dlib's protocol)   99.11% +- 0.21, AUC 0.99925, thr 0.598
     same, --jitter-seed 1 (another draw of the jitters)     99.06% +- 0.08, AUC 0.99921
     --no-detect (central box for all)                       98.06% +- 0.28, AUC 0.9985
   (pipeline 20.7 ms per image and core unjittered, 594 ms with 100 jitters; --threads 2, 2 cores.)
   nn4.small2.v1 (incomplete blob, filled tensors): 69.78% +- 1.23, AUC 0.776.
   dlib reports 99.38% +- 0.27 over all 10 folds of the original LFW with 100 jitters per face
   and 99.13% without (dlib's examples/dnn_face_recognition_ex.cpp). The 16 pairs we still get
   wrong with 100 jitters are natural hard cases (turned heads, goggles, age); their chips are
   correctly aligned.
   --distances IN.txt evaluates a saved list (lines "fold same distance"; '#' comments) with the
   same protocol, without images: tests/test_eval_lfw.py checks the arithmetic this way. */
#include "roc_plot.h"
#include "jitter.h"      /* jitter_chip: dlib's jitter_image */
#include "thread_pool.h" /* --threads (POSIX or Win32 threads; elsewhere eval-lfw runs on one thread) */

typedef struct lfw_pair {
    int a, b;     /* image indices */
    int fold;
    int same;
    double dist;
} lfw_pair;

typedef struct lfw_image {
    char name[128];
    int num;
} lfw_image;

static int lfw__img_cmp(const void *x, const void *y) {
    const lfw_image *a = (const lfw_image *)x, *b = (const lfw_image *)y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->num > b->num) - (a->num < b->num);
}

/* Accuracy of "same iff dist < t" over the pairs with (fold == k) == in_fold. */
static double lfw__accuracy(const lfw_pair *p, int n, int k, int in_fold, double t) {
    int i, right = 0, total = 0;
    for (i = 0; i < n; i++) {
        if ((p[i].fold == k) != in_fold) continue;
        total++;
        right += (p[i].dist < t) == (p[i].same != 0);
    }
    return total ? (double)right / total : 0.0;
}

static int lfw__pair_cmp(const void *x, const void *y) {
    double a = ((const lfw_pair *)x)->dist, b = ((const lfw_pair *)y)->dist;
    return (a > b) - (a < b);
}

/* The pairs (all, or those outside fold `skip`), sorted by distance; *m = how many. */
static lfw_pair *lfw__sorted(const lfw_pair *p, int n, int skip, int *m) {
    lfw_pair *s = (lfw_pair *)malloc(sizeof(lfw_pair) * (size_t)(n ? n : 1));
    int i, j = 0;
    if (!s) return NULL;
    for (i = 0; i < n; i++)
        if (p[i].fold != skip) s[j++] = p[i];
    qsort(s, (size_t)j, sizeof *s, lfw__pair_cmp);
    *m = j;
    return s;
}

/* Best threshold on the pairs outside fold k. Candidates: below the smallest distance, the
   midpoints between consecutive distinct distances, above the largest; the first best wins.
   accuracy(t) = (#matched with d < t + #mismatched with d >= t) / m. */
static double lfw__best_threshold(const lfw_pair *p, int n, int k) {
    int m = 0, i, same_total = 0, same_below = 0, diff_below = 0;
    double best_t = 0, best = -1;
    lfw_pair *s = lfw__sorted(p, n, k, &m);
    if (!s || m == 0) { free(s); return 0; }
    for (i = 0; i < m; i++) same_total += s[i].same != 0;
    for (i = 0; i <= m;) {
        double t, acc;
        if (i == 0) t = s[0].dist - 1e-6;
        else if (i == m) t = s[m - 1].dist + 1e-6;
        else t = 0.5 * (s[i - 1].dist + s[i].dist);
        acc = (double)(same_below + (m - same_total) - diff_below) / m;
        if (acc > best) { best = acc; best_t = t; }
        if (i == m) break;
        {   /* move the whole group of equal distances below the threshold */
            int j = i;
            while (j < m && s[j].dist == s[i].dist) { if (s[j].same) same_below++; else diff_below++; j++; }
            i = j;
        }
    }
    free(s);
    return best_t;
}

/* AUC: P(d_matched < d_mismatched) + 0.5 P(equal), over all pairs (Mann-Whitney U). */
static double lfw__auc(const lfw_pair *p, int n) {
    int m = 0, i, n_same = 0, n_diff = 0;
    double wins = 0;
    lfw_pair *s = lfw__sorted(p, n, -1, &m);
    if (!s) return 0;
    for (i = 0; i < m;) {
        int j = i, ns = 0, nd = 0;
        while (j < m && s[j].dist == s[i].dist) { if (s[j].same) ns++; else nd++; j++; }
        wins += (double)nd * n_same + 0.5 * nd * ns; /* matched pairs closer, then ties */
        n_same += ns;
        n_diff += nd;
        i = j;
    }
    free(s);
    return n_same && n_diff ? wins / ((double)n_same * n_diff) : 0;
}

static int lfw__write_roc(const char *path, const lfw_pair *p, int n, double auc, double acc) {
    int m = 0, i, k = 0, ns = 0, nd = 0, cs = 0, cd = 0, ok = 0;
    lfw_pair *s = lfw__sorted(p, n, -1, &m);
    double *fpr = (double *)malloc(sizeof(double) * (size_t)(n + 2));
    double *tpr = (double *)malloc(sizeof(double) * (size_t)(n + 2));
    char title[96];
    if (s && fpr && tpr) {
        for (i = 0; i < m; i++) { if (s[i].same) ns++; else nd++; }
        fpr[k] = 0; tpr[k] = 0; k++;
        for (i = 0; i < m;) {   /* one ROC point per distinct distance */
            int j = i;
            while (j < m && s[j].dist == s[i].dist) { if (s[j].same) cs++; else cd++; j++; }
            fpr[k] = nd ? (double)cd / nd : 0;
            tpr[k] = ns ? (double)cs / ns : 0;
            k++;
            i = j;
        }
        snprintf(title, sizeof title, "AUC %.4f  acc %.2f%%  %d pairs", auc, 100 * acc, n);
        ok = roc_plot_png(path, fpr, tpr, k, title);
    }
    free(s); free(fpr); free(tpr);
    return ok;
}

/* Evaluates pairs[0..n) (folds 0..nfolds-1); prints the JSON fields of the protocol. */
static int lfw__protocol(lfw_pair *p, int n, int nfolds, const char *roc, double *mean_out) {
    double acc[64], thr[64], mean = 0, var = 0, tmean = 0, auc;
    int k;
    if (nfolds < 2 || nfolds > 64) {
        fprintf(stderr, "fnet: eval-lfw needs 2 to 64 folds, not %d\n", nfolds);
        return 1;
    }
    for (k = 0; k < nfolds; k++) {
        thr[k] = lfw__best_threshold(p, n, k);
        acc[k] = lfw__accuracy(p, n, k, 1, thr[k]);
        mean += acc[k];
        tmean += thr[k];
    }
    mean /= nfolds;
    tmean /= nfolds;
    for (k = 0; k < nfolds; k++) var += (acc[k] - mean) * (acc[k] - mean);
    var /= nfolds;
    auc = lfw__auc(p, n);
    printf("\"pairs\":%d,\"folds\":%d,\"accuracy\":%.9g,\"accuracy_std\":%.9g,\"auc\":%.9g,\"threshold\":%.9g,"
           "\"fold_accuracy\":[", n, nfolds, mean, sqrt(var), auc, tmean);
    for (k = 0; k < nfolds; k++) printf(k ? ",%.9g" : "%.9g", acc[k]);
    printf("],\"fold_threshold\":[");
    for (k = 0; k < nfolds; k++) printf(k ? ",%.9g" : "%.9g", thr[k]);
    printf("]");
    if (roc && !lfw__write_roc(roc, p, n, auc, mean)) {
        fprintf(stderr, "fnet: cannot write %s\n", roc);
        return 1;
    }
    if (mean_out) *mean_out = mean;
    return 0;
}

static int lfw__from_distances(const char *path, const char *roc) {
    FILE *f = fopen(path, "r");
    lfw_pair *p = NULL;
    int n = 0, cap = 0, nfolds = 0, rc;
    char line[512];
    if (!f) {
        fprintf(stderr, "fnet: cannot open %s\n", path);
        return 1;
    }
    while (fgets(line, sizeof line, f)) {
        int fold, same;
        double d;
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "%d %d %lf", &fold, &same, &d) != 3 || fold < 0 || fold >= 64 || d != d) {
            fprintf(stderr, "fnet: %s: bad line (want \"fold same distance\"): %s", path, line);
            fclose(f);
            free(p);
            return 1;
        }
        if (n == cap) {
            lfw_pair *q = (lfw_pair *)realloc(p, sizeof *p * (size_t)(cap = cap ? 2 * cap : 256));
            if (!q) { fclose(f); free(p); return 1; }
            p = q;
        }
        p[n].fold = fold; p[n].same = same != 0; p[n].dist = d; p[n].a = p[n].b = -1;
        if (fold + 1 > nfolds) nfolds = fold + 1;
        n++;
    }
    fclose(f);
    printf("{\"distances\":");
    json_string(stdout, path);
    putchar(',');
    rc = lfw__protocol(p, n, nfolds, roc, NULL);
    printf("}\n");
    free(p);
    return rc;
}

/* The face LFW labels an image with is the one at its centre (LFW centred every image on a
   Viola-Jones detection of that person): among the boxes that contain the image centre, the
   one whose centre is nearest it; -1 when no box contains the centre. A face elsewhere is
   someone else (Tung_Chee-hwa_0001: the only face dlib finds is a bystander at the edge).
   anywhere != 0 (--pick nearest): the nearest box wherever it is. */
static int lfw__pick(const fnet_box *boxes, int n, int width, int height, int anywhere) {
    double cx0 = 0.5 * (width - 1), cy0 = 0.5 * (height - 1), bestd = 0;
    int i, best = -1;
    for (i = 0; i < n; i++) {
        double cx = 0.5 * (boxes[i].left + boxes[i].right) - cx0;
        double cy = 0.5 * (boxes[i].top + boxes[i].bottom) - cy0;
        int holds = boxes[i].left <= cx0 && cx0 <= boxes[i].right && boxes[i].top <= cy0 && cy0 <= boxes[i].bottom;
        if (!holds && !anywhere) continue;
        if (best < 0 || cx * cx + cy * cy < bestd) { best = i; bestd = cx * cx + cy * cy; }
    }
    return best;
}

/* Embeds one image: returns 0 ok (*miss = 1 when the central box was used), 1 on failure. */
static int lfw__embed_image(fnet_model *det, fnet_model *lm, fnet_model *net, const fnet_detect_opts *dopts,
                            float relax, int anywhere, int flip, int jitter, int seed, const char *path, float *emb,
                            int *miss, int *relaxed, double *ms) {
    loaded_image im;
    fnet_box boxes[MAX_FACES], box;
    fnet_point pts[256]; /* --landmarks: a trained model, 68 or 5 points */
    int n = 0, best = -1, size = fnet_embed_input_size(net), np = fnet_landmarks_count(lm);
    double t0 = now_ms();
    size_t ws = fnet_embed_workspace_size(net);
    void *work;
    unsigned char *crop;
    fnet_result r;
    if (!load_image(path, &im)) return 1;
    r = dopts ? fnet_detect(det, im.view, dopts, NULL, 0, boxes, MAX_FACES, &n) : FNET_OK;
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: detect: %s\n", path, fnet_result_string(r));
        stbi_image_free(im.pixels);
        return 1;
    }
    if (dopts) best = lfw__pick(boxes, n < MAX_FACES ? n : MAX_FACES, im.view.width, im.view.height, anywhere);
    if (best < 0 && dopts && relax < 0.0f) { /* one more try, more permissive */
        fnet_detect_opts o2 = *dopts;
        o2.threshold = relax;
        r = fnet_detect(det, im.view, &o2, NULL, 0, boxes, MAX_FACES, &n);
        best = r == FNET_OK ? lfw__pick(boxes, n < MAX_FACES ? n : MAX_FACES, im.view.width, im.view.height, anywhere) : -1;
        if (best >= 0) *relaxed = 1;
    }
    if (best >= 0) {
        box = boxes[best];
        *miss = 0;
    } else {
        int s = (int)(0.43 * (im.view.width < im.view.height ? im.view.width : im.view.height) + 0.5);
        memset(&box, 0, sizeof box);
        box.left = (im.view.width - s) / 2;
        box.top = (im.view.height - s) / 2;
        box.right = box.left + s - 1;
        box.bottom = box.top + s - 1;
        *miss = 1;
    }
    crop = (unsigned char *)malloc((size_t)size * size * 3);
    work = malloc(ws ? ws : 1); /* one scratch for every embedding of this image */
    r = crop && work ? fnet_landmarks(lm, im.view, box, pts) : FNET_ERR_OUT_OF_MEMORY;
    if (r == FNET_OK)
        r = fnet_align(im.view, pts, np,
                       np == 5 ? FNET_ALIGN_DLIB_CHIP_5 : fnet_embed_align_kind(net),
                       size, crop);
    if (r == FNET_OK && jitter == 0) r = fnet_embed(net, crop, work, ws, emb);
    if (r == FNET_OK && jitter > 0) { /* mean embedding of `jitter` perturbed copies (not the crop's own) */
        /* the copies go through fnet_embed_batch LFW_BATCH at a time (weights read once per
           batch; each embedding as fnet_embed's, summed in the same order) */
        enum { LFW_BATCH = 8 };
        int j, c, b, m, d = fnet_embed_dim(net);
        float *e2 = (float *)malloc(sizeof(float) * LFW_BATCH * (size_t)d), acc[4096];
        unsigned char *jc = (unsigned char *)malloc((size_t)LFW_BATCH * size * size * 3);
        const unsigned char *chips[LFW_BATCH];
        unsigned long long st = 0x9E3779B97F4A7C15ULL ^ (unsigned long long)seed;
        size_t wsb = fnet_embed_batch_workspace_size(net, LFW_BATCH, NULL);
        void *wb = malloc(wsb ? wsb : 1);
        for (c = 0; c < d; c++) acc[c] = 0.0f;
        if (!jc || !e2 || !wb) r = FNET_ERR_OUT_OF_MEMORY;
        for (j = 0; r == FNET_OK && j < jitter; j += m) {
            m = jitter - j < LFW_BATCH ? jitter - j : LFW_BATCH;
            for (b = 0; b < m; b++) {
                chips[b] = jc + (size_t)b * size * size * 3;
                jitter_chip(crop, jc + (size_t)b * size * size * 3, size, &st);
            }
            r = fnet_embed_batch(net, chips, m, NULL, wb, wsb, e2);
            for (b = 0; r == FNET_OK && b < m; b++)
                for (c = 0; c < d; c++) acc[c] += e2[(size_t)b * d + c];
        }
        for (c = 0; c < d; c++) emb[c] = acc[c] / (float)jitter;
        free(wb);
        free(e2);
        free(jc);
    }
    if (r == FNET_OK && flip) { /* mean of the crop's and its mirror image's embeddings */
        float e2[4096];
        int x, y, c, d = fnet_embed_dim(net);
        for (y = 0; y < size; y++)
            for (x = 0; x < size / 2; x++)
                for (c = 0; c < 3; c++) {
                    unsigned char *a = crop + ((size_t)y * size + x) * 3 + c;
                    unsigned char *b = crop + ((size_t)y * size + (size - 1 - x)) * 3 + c, t = *a;
                    *a = *b;
                    *b = t;
                }
        r = fnet_embed(net, crop, work, ws, e2);
        for (c = 0; r == FNET_OK && c < d; c++) emb[c] = 0.5f * (emb[c] + e2[c]);
    }
    free(work);
    free(crop);
    stbi_image_free(im.pixels);
    *ms = now_ms() - t0;
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", path, fnet_result_string(r));
        return 1;
    }
    return 0;
}

static int lfw__image_path(const char *root, const lfw_image *im, char *out, size_t cap) {
    static const char *subs[] = {"", "/lfw-deepfunneled", "/lfw"};
    int s;
    for (s = 0; s < 3; s++) {
        FILE *f;
        snprintf(out, cap, "%s%s/%s/%s_%04d.jpg", root, subs[s], im->name, im->name, im->num);
        if ((f = fopen(out, "rb")) != NULL) {
            fclose(f);
            return 1;
        }
    }
    snprintf(out, cap, "%s/%s/%s_%04d.jpg", root, im->name, im->name, im->num);
    return 0;
}

/* The embedding work of eval-lfw, shared by the pool's threads. */
typedef struct lfw_work {
    fnet_model *det, *lm, *net;
    const fnet_detect_opts *dopts;
    float relax;
    int anywhere, flip, jitter, seed_base, dim, n_img;
    const char *root;
    const lfw_image *imgs;
    float *embs;
    int *missed;
    int threaded, failed, done, misses, relaxed; /* guarded by lock when threaded */
    double total_ms;
    progress progress; /* count, rate, ETA on stderr (examples/progress.h) */
#if TP_THREADS
    pf_mutex lock;
#endif
} lfw_work;

static void lfw__lock(lfw_work *w, int on) {
#if TP_THREADS
    if (!w->threaded) return;
    if (on) pf_mutex_lock(&w->lock);
    else pf_mutex_unlock(&w->lock);
#else
    (void)w; (void)on;
#endif
}

/* Image i (a pool task; once one failed, the rest are skipped). Images are independent and
   each jitter seed is the image's index, so the result does not depend on the thread count. */
static void lfw__task(void *arg, int i) {
    lfw_work *w = (lfw_work *)arg;
    char path[4096];
    double ms = 0;
    int miss = 0, relaxed = 0, bad;
    lfw__lock(w, 1);
    bad = w->failed;
    lfw__lock(w, 0);
    if (bad) return;
    bad = !lfw__image_path(w->root, &w->imgs[i], path, sizeof path);
    if (bad) fprintf(stderr, "fnet: %s: not found\n", path);
    else bad = lfw__embed_image(w->det, w->lm, w->net, w->dopts, w->relax, w->anywhere, w->flip, w->jitter, i + w->seed_base, path,
                                w->embs + (size_t)i * w->dim, &miss, &relaxed, &ms);
    lfw__lock(w, 1);
    w->missed[i] = miss;
    w->failed |= bad;
    w->misses += miss;
    w->relaxed += relaxed;
    w->total_ms += ms;
    w->done++;
    if (!bad) {
        char note[96];
        snprintf(note, sizeof note, "(%d without a detected face, %.1f ms/image on one thread)", w->misses,
                 w->total_ms / w->done);
        progress_step(&w->progress, w->done, note);
    }
    lfw__lock(w, 0);
}

/* Runs every image on a pool of `threads` threads (1: on this one); 0 ok, 1 when one failed. */
static int lfw__run_workers(lfw_work *w, int threads) {
    tp_pool pool;
#if TP_THREADS
    if (tp_start(&pool, threads) > 1) {
        if (pf_mutex_init(&w->lock) != 0) { tp_stop(&pool); return 1; }
        w->threaded = 1;
    }
#else
    tp_start(&pool, threads);
#endif
    progress_start(&w->progress, "eval-lfw", w->n_img, "images");
    tp_run(&pool, w->n_img, lfw__task, w);
    tp_stop(&pool);
    progress_end(&w->progress);
#if TP_THREADS
    if (w->threaded) pf_mutex_destroy(&w->lock);
#endif
    return w->failed;
}

/* ---- eval-lfw as its steps: options, pairs, models, embeddings, outputs, protocol ---- */

typedef struct lfw_opts {
    const char *pairs_path, *root, *net_name, *net_blob, *roc, *lm_blob, *dist_in, *dist_out, *emb_out;
    fnet_detect_opts dopts;
    int flip, jitter, no_detect, threads, anywhere, seed_base;
    float relax;
} lfw_opts;

/* What the steps build up; lfw__free releases it. */
typedef struct lfw_eval {
    lfw_pair *pairs;
    lfw_image *imgs;     /* the distinct images, sorted */
    int n_pairs, nfolds, n_img, dim;
    fnet_model *det, *lm, *net;
    float *embs;         /* n_img x dim */
    int *missed;         /* per image: the central box stood in for a detection */
    int misses, relaxed;
    double total_ms;
} lfw_eval;

/* Step 1: the command line. Returns -1 when it parsed, else the usage exit code. */
static int lfw__parse_args(int argc, char **argv, lfw_opts *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->net_name = "resnet";
    o->threads = 1;
    o->dopts.upsample = 1;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--flip") == 0) { o->flip = 1; continue; }
        if (strcmp(a, "--no-detect") == 0) { o->no_detect = 1; continue; }
        if (i + 1 >= argc) return usage("eval-lfw: every option but --flip and --no-detect takes a value");
        if (strcmp(a, "--pairs") == 0) o->pairs_path = argv[++i];
        else if (strcmp(a, "--root") == 0) o->root = argv[++i];
        else if (strcmp(a, "--net") == 0) o->net_name = argv[++i];
        else if (strcmp(a, "--net-blob") == 0) o->net_blob = argv[++i];
        else if (strcmp(a, "--landmarks") == 0) o->lm_blob = argv[++i]; /* 68 points, or 5 (dlib's 5-point chip) */
        else if (strcmp(a, "--roc") == 0) o->roc = argv[++i];
        else if (strcmp(a, "--distances") == 0) o->dist_in = argv[++i];
        else if (strcmp(a, "--save-distances") == 0) o->dist_out = argv[++i];
        else if (strcmp(a, "--save-embeddings") == 0) o->emb_out = argv[++i];
        else if (strcmp(a, "--retry-threshold") == 0) {
            o->relax = (float)atof(argv[++i]);
            if (!(o->relax < 0.0f && o->relax > -10.0f)) return usage("--retry-threshold takes a negative number above -10");
        } else if (strcmp(a, "--pick") == 0) {
            const char *v = argv[++i];
            if (strcmp(v, "centre") && strcmp(v, "center") && strcmp(v, "nearest"))
                return usage("--pick takes centre or nearest");
            o->anywhere = strcmp(v, "nearest") == 0;
        } else if (strcmp(a, "--jitter-seed") == 0) {
            if (!parse_int(argv[++i], &o->seed_base) || o->seed_base < 0 || o->seed_base > 30000)
                return usage("--jitter-seed takes 0 to 30000");
            o->seed_base *= 0x10000; /* image i's seed: i + 65536 * S, so runs with other S share no seed */
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_int(argv[++i], &o->threads) || o->threads < 1 || o->threads > TP_MAX_THREADS)
                return usage("--threads takes 1 to 64");
        } else if (strcmp(a, "--jitter") == 0) {
            if (!parse_int(argv[++i], &o->jitter) || o->jitter < 0 || o->jitter > 1000)
                return usage("--jitter takes 0 to 1000");
        } else if (strcmp(a, "--upsample") == 0) {
            if (!parse_int(argv[++i], &o->dopts.upsample) || o->dopts.upsample < 0 ||
                o->dopts.upsample > FNET_MAX_UPSAMPLE)
                return usage("--upsample takes 0 to 3");
        } else return usage("eval-lfw: unknown option");
    }
    if (o->dist_in) return -1;
    if (!o->pairs_path || !o->root) return usage("eval-lfw needs --pairs PAIRS --root DIR (or --distances FILE)");
    if (strcmp(o->net_name, "nn4") && strcmp(o->net_name, "resnet")) return usage("--net takes nn4 or resnet");
    return -1;
}

/* Step 2a: one pair line into e->pairs[e->n_pairs], its two images appended to e->imgs. */
static int lfw__add_pair(lfw_eval *e, int per, const char *line, int *cap_img) {
    char n1[128], n2[128], extra[8];
    int i1, i2, k, fields;
    lfw_pair *p = &e->pairs[e->n_pairs];
    lfw_image key[2];
    fields = sscanf(line, "%127s %d %127s %d %7s", n1, &i1, n2, &i2, extra);
    if (fields == 3 && sscanf(line, "%127s %d %d", n1, &i1, &i2) == 3) {
        strcpy(n2, n1);
        p->same = 1;
    } else if (fields == 4) {
        p->same = 0;
    } else return 0;
    if (i1 < 0 || i2 < 0 || i1 > 99999 || i2 > 99999) return 0;
    p->fold = e->n_pairs / (2 * per);
    strcpy(key[0].name, n1); key[0].num = i1;
    strcpy(key[1].name, n2); key[1].num = i2;
    for (k = 0; k < 2; k++) {
        if (e->n_img == *cap_img) {
            lfw_image *q = (lfw_image *)realloc(e->imgs, sizeof *e->imgs * (size_t)(*cap_img = *cap_img ? 2 * *cap_img : 512));
            if (!q) return -1;
            e->imgs = q;
        }
        e->imgs[e->n_img++] = key[k];
    }
    e->n_pairs++;
    return 1;
}

/* Step 2b: the list of images (two per pair) -> the distinct images, sorted, and each pair's
   indices into them (binary search). */
static int lfw__distinct_images(lfw_eval *e) {
    int i, w = 0, p;
    lfw_image *all = (lfw_image *)malloc(sizeof *all * (size_t)e->n_img);
    if (!all) return 0;
    memcpy(all, e->imgs, sizeof *all * (size_t)e->n_img);
    qsort(e->imgs, (size_t)e->n_img, sizeof *e->imgs, lfw__img_cmp);
    for (i = 0; i < e->n_img; i++)
        if (w == 0 || lfw__img_cmp(&e->imgs[w - 1], &e->imgs[i])) e->imgs[w++] = e->imgs[i];
    for (p = 0; p < e->n_pairs; p++) {
        lfw_image *x = (lfw_image *)bsearch(&all[2 * p], e->imgs, (size_t)w, sizeof *e->imgs, lfw__img_cmp);
        lfw_image *y = (lfw_image *)bsearch(&all[2 * p + 1], e->imgs, (size_t)w, sizeof *e->imgs, lfw__img_cmp);
        e->pairs[p].a = (int)(x - e->imgs);
        e->pairs[p].b = (int)(y - e->imgs);
    }
    free(all);
    e->n_img = w;
    return 1;
}

/* Step 2: LFW's pairs file -> e->pairs, e->imgs. 1 ok, 0 on an error (printed). */
static int lfw__read_pairs(const char *path, lfw_eval *e) {
    char line[1024];
    int per = 0, lineno = 1, cap_img = 0, r = 1;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "fnet: cannot open %s\n", path);
        return 0;
    }
    if (!fgets(line, sizeof line, f) || sscanf(line, "%d %d", &e->nfolds, &per) != 2 || e->nfolds < 2 ||
        e->nfolds > 64 || per < 1 || per > 100000) {
        fprintf(stderr, "fnet: %s: first line must be \"FOLDS N\" (2..64 folds)\n", path);
        fclose(f);
        return 0;
    }
    e->pairs = (lfw_pair *)calloc((size_t)e->nfolds * per * 2, sizeof *e->pairs);
    if (!e->pairs) { fclose(f); return 0; }
    while (e->n_pairs < e->nfolds * per * 2 && fgets(line, sizeof line, f)) {
        lineno++;
        if ((r = lfw__add_pair(e, per, line, &cap_img)) != 1) break;
    }
    fclose(f);
    if (r == 0) {
        fprintf(stderr, "fnet: %s:%d: want \"name i j\" or \"name1 i name2 j\" (image numbers 0-99999)\n", path, lineno);
        return 0;
    }
    if (r < 0) return 0;
    if (e->n_pairs != e->nfolds * per * 2) {
        fprintf(stderr, "fnet: %s: %d pairs, the header promises %d\n", path, e->n_pairs, e->nfolds * per * 2);
        return 0;
    }
    return lfw__distinct_images(e);
}

/* Step 3: detector, landmarks (68 points, or --landmarks), network (--net or --net-blob). */
static int lfw__load_models(const lfw_opts *o, lfw_eval *e) {
    e->det = load_model("hog_frontal.fnet");
    e->lm = e->det && !o->lm_blob ? load_model("landmarks68.fnet") : NULL;
    if (e->det && o->lm_blob) {
        fnet_result r = fnet_model_load_file(o->lm_blob, &e->lm);
        if (r == FNET_OK && fnet_landmarks_count(e->lm) != 68 && fnet_landmarks_count(e->lm) != 5)
            r = FNET_ERR_WRONG_MODEL;
        if (r != FNET_OK) {
            fprintf(stderr, "fnet: %s: %s (a 68- or 5-point landmarks blob)\n", o->lm_blob, fnet_result_string(r));
            fnet_model_free(e->lm);
            e->lm = NULL;
        }
    }
    if (e->lm) {
        if (o->net_blob) {
            fnet_result r = fnet_model_load_file(o->net_blob, &e->net);
            if (r != FNET_OK) fprintf(stderr, "fnet: %s: %s\n", o->net_blob, fnet_result_string(r));
        } else {
            e->net = load_model(ec_blob_name(o->net_name));
        }
    }
    if (!e->net) return 0;
    if (fnet_model_incomplete(e->net))
        fprintf(stderr, "fnet: note: the %s blob is INCOMPLETE (filled tensors): its accuracy is not the model's\n",
                o->net_name);
    e->dim = fnet_embed_dim(e->net);
    if (e->dim <= 0 || e->dim > FNET_MAX_EMBED_DIM) return 0;
    e->embs = (float *)calloc((size_t)e->n_img * e->dim, sizeof(float));
    e->missed = (int *)calloc((size_t)e->n_img, sizeof(int));
    return e->embs && e->missed;
}

/* Step 4: every distinct image embedded once, by --threads workers sharing the models (the
   library is thread-safe on one model); then each pair's distance. */
static int lfw__embed_images(const lfw_opts *o, lfw_eval *e) {
    lfw_work w;
    int i;
    memset(&w, 0, sizeof w);
    w.det = e->det; w.lm = e->lm; w.net = e->net; w.dopts = o->no_detect ? NULL : &o->dopts;
    w.relax = o->relax; w.anywhere = o->anywhere; w.flip = o->flip; w.jitter = o->jitter;
    w.seed_base = o->seed_base; w.root = o->root;
    w.imgs = e->imgs; w.n_img = e->n_img; w.dim = e->dim; w.embs = e->embs; w.missed = e->missed;
    if (lfw__run_workers(&w, o->threads)) return 0;
    e->misses = w.misses;
    e->relaxed = w.relaxed;
    e->total_ms = w.total_ms;
    for (i = 0; i < e->n_pairs; i++)
        e->pairs[i].dist = fnet_distance(e->embs + (size_t)e->pairs[i].a * e->dim,
                                         e->embs + (size_t)e->pairs[i].b * e->dim, e->dim);
    return 1;
}

/* Step 5: --save-distances and --save-embeddings. */
static int lfw__save(const lfw_opts *o, const lfw_eval *e) {
    int i, c;
    if (o->dist_out) {
        FILE *f = fopen(o->dist_out, "w");
        if (!f) {
            fprintf(stderr, "fnet: cannot write %s\n", o->dist_out);
            return 0;
        }
        fprintf(f, "# fold same distance image1 image2 miss1 miss2 (fnet eval-lfw, %s)\n", o->net_name);
        for (i = 0; i < e->n_pairs; i++) {
            const lfw_pair *p = &e->pairs[i];
            fprintf(f, "%d %d %.9g %s_%04d %s_%04d %d %d\n", p->fold, p->same, p->dist, e->imgs[p->a].name,
                    e->imgs[p->a].num, e->imgs[p->b].name, e->imgs[p->b].num, e->missed[p->a], e->missed[p->b]);
        }
        fclose(f);
    }
    if (o->emb_out) {
        FILE *f = fopen(o->emb_out, "w");
        if (!f) {
            fprintf(stderr, "fnet: cannot write %s\n", o->emb_out);
            return 0;
        }
        fprintf(f, "# image miss embedding[%d] (fnet eval-lfw, %s)\n", e->dim, o->net_name);
        for (i = 0; i < e->n_img; i++) {
            fprintf(f, "%s_%04d %d", e->imgs[i].name, e->imgs[i].num, e->missed[i]);
            for (c = 0; c < e->dim; c++) fprintf(f, " %.9g", e->embs[(size_t)i * e->dim + c]);
            fputc('\n', f);
        }
        if (fclose(f) != 0) {
            fprintf(stderr, "fnet: cannot write %s\n", o->emb_out);
            return 0;
        }
    }
    return 1;
}

/* Step 6: the settings and misses as JSON, then the protocol's figures (lfw__protocol). */
static int lfw__report(const lfw_opts *o, lfw_eval *e) {
    int i, shown = 0, rc;
    double mean;
    printf("{\"net\":\"%s\",\"divisor\":", o->net_name);
    json_string(stdout, fnet_model_meta(e->net, "input_divisor") ? fnet_model_meta(e->net, "input_divisor") : "");
    printf(",\"detector\":%s,\"pick\":\"%s\",\"retry_threshold\":%g,\"found_on_retry\":%d,\"jitter\":%d,"
           "\"jitter_seed\":%d,\"flip\":%s,\"upsample\":%d,\"images\":%d,\"misses\":%d,\"miss_images\":[",
           o->no_detect ? "false" : "true", o->anywhere ? "nearest" : "centre", o->relax, e->relaxed, o->jitter,
           o->seed_base / 0x10000, o->flip ? "true" : "false", o->dopts.upsample, e->n_img, e->misses);
    for (i = 0; i < e->n_img && shown < 50; i++)
        if (e->missed[i]) {
            char nm[160];
            snprintf(nm, sizeof nm, "%s_%04d", e->imgs[i].name, e->imgs[i].num);
            if (shown++) putchar(',');
            json_string(stdout, nm);
        }
    printf("],\"ms_per_image\":%.3f,", e->n_img ? e->total_ms / e->n_img : 0.0);
    rc = lfw__protocol(e->pairs, e->n_pairs, e->nfolds, o->roc, &mean);
    printf("}\n");
    fprintf(stderr, "eval-lfw: %s accuracy %.2f%%, %d misses\n", o->net_name, 100 * mean, e->misses);
    return rc;
}

static void lfw__free(lfw_eval *e) {
    free(e->pairs);
    free(e->imgs);
    free(e->embs);
    free(e->missed);
    fnet_model_free(e->det);
    fnet_model_free(e->lm);
    fnet_model_free(e->net);
}

static int cmd_eval_lfw(int argc, char **argv) {
    lfw_opts o;
    lfw_eval e;
    int rc = lfw__parse_args(argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.dist_in) return lfw__from_distances(o.dist_in, o.roc);
    memset(&e, 0, sizeof e);
    rc = 1;
    if (lfw__read_pairs(o.pairs_path, &e) &&   /* pairs.txt -> pairs, distinct images */
        lfw__load_models(&o, &e) &&            /* detector, landmarks, network */
        lfw__embed_images(&o, &e) &&           /* detect, landmarks, align, embed; distances */
        lfw__save(&o, &e))                     /* --save-distances, --save-embeddings */
        rc = lfw__report(&o, &e);              /* JSON: settings, misses, the protocol */
    lfw__free(&e);
    return rc;
}

static int cli_lfw_dispatch(const char *cmd, int argc, char **argv) {
    if (strcmp(cmd, "eval-lfw") == 0) return cmd_eval_lfw(argc, argv);
    return -1;
}
