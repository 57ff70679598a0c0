/* test_threads.c - several threads share one loaded model of each kind and must get
   bit-identical results to a single thread: boxes, landmarks, aligned crops and embeddings
   (facenet.h's contract: a loaded model is read-only, each call has its own scratch).

   Two photos; 4 threads each run the whole pipeline on both, twice, half of them with their
   own caller workspace and half with work == NULL. A stage whose blob is missing is skipped
   with the reason; a stage that errors is a failure.
   Then the caller's threads lent to one call (opts.parallel): detection (upsample 0 and 1;
   under the sanitizers, FNET_TEST_SANITIZED: upsample 0, 2 workers and backwards only)
   and batched embeddings (fnet_embed_batch, nn4 and ResNet, batches of 1 to 6 real face
   chips) with 1, 2, 3 and 4 workers of examples/thread_pool.h, and with a runner that runs
   the tasks backwards on one thread, must give bit-identical boxes and embeddings to plain
   single calls, in workspaces sized by the size queries with the same options.
   tools/portable/portable.sh also builds this file with ThreadSanitizer. */
#define _POSIX_C_SOURCE 200809L /* examples/platform.h: clock_gettime, fileno */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"

#include "../examples/image_load.h"

#include <pthread.h>
#include "../examples/thread_pool.h"

#define N_THREADS 4
#define N_IMAGES 2
#define MAX_F 8

typedef struct result {
    int det_r, n;
    fnet_box boxes[MAX_F];
    int lm_r[MAX_F];
    fnet_point pts[MAX_F][68];
    int al_r[MAX_F];
    unsigned long crop_crc[MAX_F];
    int emb_r[MAX_F];
    float emb[MAX_F][128];
    int fix_r[2];
    float fix[2][128];
} result;

static fnet_model *g_det, *g_lm, *g_net[2];
static unsigned char *g_px[N_IMAGES];
static int g_w[N_IMAGES], g_h[N_IMAGES];
static result g_ref[N_IMAGES];

/* The whole pipeline on image i into *r; own_work: use caller workspaces (else NULL). */
static void run_pipeline(int i, result *r, int own_work) {
    fnet_image img = fnet_image_view(g_px[i], g_w[i], g_h[i], 3, 0);
    void *work = NULL;
    size_t ws = 0;
    int f, k;
    memset(r, 0, sizeof *r);
    for (k = 0; k < 2; k++) { /* embeddings of a fixed crop: the engine alone */
        int size = g_net[k] ? fnet_embed_input_size(g_net[k]) : 0;
        r->fix_r[k] = FNET_ERR_NOT_FOUND;
        if (size > 0 && size <= 160 && size <= g_w[i] && size <= g_h[i] && fnet_embed_dim(g_net[k]) <= 128) {
            unsigned char *crop = (unsigned char *)malloc((size_t)size * size * 3);
            size_t ews = own_work ? fnet_embed_workspace_size(g_net[k]) : 0;
            void *ew = ews ? malloc(ews) : NULL;
            int y;
            for (y = 0; y < size; y++) /* the top-left corner of the photo */
                memcpy(crop + (size_t)y * size * 3, g_px[i] + (size_t)y * g_w[i] * 3, (size_t)size * 3);
            r->fix_r[k] = fnet_embed(g_net[k], crop, ew, ews, r->fix[k]);
            free(ew);
            free(crop);
        }
    }
    if (!g_det) {
        r->det_r = FNET_ERR_NOT_FOUND;
        return;
    }
    if (own_work) {
        ws = fnet_detect_workspace_size(g_det, g_w[i], g_h[i], NULL);
        work = ws ? malloc(ws) : NULL;
    }
    r->det_r = fnet_detect(g_det, img, NULL, work, ws, r->boxes, MAX_F, &r->n);
    free(work);
    if (r->det_r != FNET_OK) return;
    if (r->n > MAX_F) r->n = MAX_F;
    for (f = 0; f < r->n && g_lm; f++) {
        int size;
        unsigned char *crop;
        r->lm_r[f] = fnet_landmarks(g_lm, img, r->boxes[f], r->pts[f]);
        if (r->lm_r[f] != FNET_OK || !g_net[0]) continue;
        size = fnet_embed_input_size(g_net[0]);
        if (size <= 0 || size > 512) continue;
        crop = (unsigned char *)malloc((size_t)size * size * 3);
        r->al_r[f] = fnet_align(img, r->pts[f], 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, size, crop);
        if (r->al_r[f] == FNET_OK) {
            size_t ews = own_work ? fnet_embed_workspace_size(g_net[0]) : 0;
            void *ew = ews ? malloc(ews) : NULL;
            r->crop_crc[f] = fnet__crc32(crop, (size_t)size * size * 3);
            if (fnet_embed_dim(g_net[0]) <= 128) r->emb_r[f] = fnet_embed(g_net[0], crop, ew, ews, r->emb[f]);
            free(ew);
        }
        free(crop);
    }
}

typedef struct job {
    int id, mismatches;
} job;

static void *worker(void *arg) {
    job *j = (job *)arg;
    int rep, i;
    result *r = (result *)malloc(sizeof(result));
    for (rep = 0; rep < 2; rep++)
        for (i = 0; i < N_IMAGES; i++) {
            int img = (i + j->id) % N_IMAGES; /* threads work on different photos at once */
            run_pipeline(img, r, (j->id + rep) & 1);
            if (memcmp(r, &g_ref[img], sizeof *r) != 0) j->mismatches++;
        }
    free(r);
    return NULL;
}

static fnet_model *load(const char *name) {
    const char *p = weights_path(name);
    fnet_model *m = NULL;
    fnet_result r;
    if (!p) {
        SKIP("%s not built (make weights): its stage is not run in threads", name);
        return NULL;
    }
    r = fnet_model_load_file(p, &m);
    CHECK(r == FNET_OK, "load %s: %s", name, fnet_result_string(r));
    return m;
}

/* Says which stages really ran in the single-thread reference (others are skipped). */
static void report_stages(void) {
    int i, f, det = 0, lm = 0, emb = 0, fix = 0, k;
    for (i = 0; i < N_IMAGES; i++) {
        det += g_ref[i].det_r == FNET_OK;
        for (k = 0; k < 2; k++) fix += g_ref[i].fix_r[k] == FNET_OK;
        for (f = 0; f < g_ref[i].n; f++) {
            lm += g_ref[i].lm_r[f] == FNET_OK;
            emb += g_ref[i].emb_r[f] == FNET_OK && g_ref[i].al_r[f] == FNET_OK;
        }
    }
    /* a stage whose blob loaded must have run: an error on both sides would compare equal */
    if (g_det) CHECK(det == N_IMAGES, "detection ran on %d of %d photos (%s)", det, N_IMAGES, fnet_result_string((fnet_result)g_ref[0].det_r));
    if (g_det && g_lm) CHECK(lm > 0, "landmarks ran on no face");
    if (g_det && g_lm && g_net[0]) CHECK(emb > 0, "align + embed ran on no face");
    if (g_net[0]) CHECK(fix >= N_IMAGES, "fixed-crop embeddings: %d ran", fix);
    printf("single-thread reference: %d detections ok, %d landmark sets, %d face embeddings, %d fixed-crop embeddings\n",
           det, lm, emb, fix);
}

/* ---- the caller's threads lent to one call ---- */

/* A parallel-for that runs the tasks last to first on the calling thread. */
static void run_backwards(void *user, int n, fnet_task_fn fn, void *ctx) {
    int i;
    (void)user;
    for (i = n - 1; i >= 0; i--) fn(ctx, i);
}

#define MAXB 64
static int same_boxes(const fnet_box *a, int na, const fnet_box *b, int nb) {
    int i;
    if (na != nb) return 0;
    for (i = 0; i < na && i < MAXB; i++)
        if (a[i].left != b[i].left || a[i].top != b[i].top || a[i].right != b[i].right ||
            a[i].bottom != b[i].bottom || a[i].score != b[i].score || a[i].filter != b[i].filter)
            return 0;
    return 1;
}

/* fnet_detect with opts.parallel (pool workers, or backwards) equals the plain call. */
static void check_parallel_detect(void) {
    int i, up, w, ups = getenv("FNET_TEST_SANITIZED") ? 1 : 2; /* sanitizers: upsample 0 only */
    for (i = 0; i < N_IMAGES && g_det; i++)
        for (up = 0; up < ups; up++) {
            fnet_image img = fnet_image_view(g_px[i], g_w[i], g_h[i], 3, 0);
            fnet_detect_opts o;
            fnet_box ref[MAXB], b[MAXB];
            int nref = 0, nb = 0;
            fnet_result r;
            memset(&o, 0, sizeof o);
            o.upsample = up;
            r = fnet_detect(g_det, img, &o, NULL, 0, ref, MAXB, &nref);
            CHECK(r == FNET_OK && nref > 0, "photo %d upsample %d: plain detect (%s, %d faces)", i, up, fnet_result_string(r), nref);
            for (w = 1; w <= 5; w++) {
                tp_pool pool;
                size_t ws, ws1 = fnet_detect_workspace_size(g_det, g_w[i], g_h[i], &o);
                void *work;
                int threads;
                if (ups == 1 && w != 2 && w != 5) continue; /* sanitizers: 2 workers and backwards */
                threads = w == 5 ? 1 : tp_start(&pool, w);
                o.parallel.run = w == 5 ? run_backwards : tp_run;
                o.parallel.user = w == 5 ? NULL : &pool;
                o.parallel.workers = w == 5 ? 3 : w;
                ws = fnet_detect_workspace_size(g_det, g_w[i], g_h[i], &o);
                CHECK(w == 1 || ws > ws1, "photo %d: %d workers need more workspace than one (%lu vs %lu)", i, o.parallel.workers,
                      (unsigned long)ws, (unsigned long)ws1);
                work = malloc(ws);
                r = fnet_detect(g_det, img, &o, work, ws, b, MAXB, &nb);
                CHECK(r == FNET_OK && same_boxes(ref, nref, b, nb), "photo %d upsample %d, %d workers (%d threads%s): %d boxes, the plain call %d (%s)",
                      i, up, o.parallel.workers, threads, w == 5 ? ", backwards" : "", nb, nref, fnet_result_string(r));
                r = fnet_detect(g_det, img, &o, NULL, 0, b, MAXB, &nb);
                CHECK(r == FNET_OK && same_boxes(ref, nref, b, nb), "photo %d upsample %d, %d workers, own workspace", i, up, o.parallel.workers);
                if (w > 1) {
                    r = fnet_detect(g_det, img, &o, work, ws - 1, b, MAXB, &nb);
                    CHECK(r == FNET_ERR_WORKSPACE_TOO_SMALL, "photo %d: %d workers, workspace one byte short: %s", i, o.parallel.workers, fnet_result_string(r));
                }
                free(work);
                if (w != 5) tp_stop(&pool);
                o.parallel.run = NULL;
            }
        }
}

/* Real face chips of both photos for net k (its input size and alignment), up to max. */
static int face_chips(int k, unsigned char **chips, int max) {
    int size = fnet_embed_input_size(g_net[k]), n = 0, i, f;
    fnet_align_kind kind = size == 150 ? FNET_ALIGN_DLIB_CHIP : FNET_ALIGN_OUTER_EYES_AND_NOSE;
    for (i = 0; i < N_IMAGES && n < max; i++)
        for (f = 0; f < g_ref[i].n && n < max; f++) {
            fnet_image img = fnet_image_view(g_px[i], g_w[i], g_h[i], 3, 0);
            if (g_ref[i].lm_r[f] != FNET_OK) continue;
            chips[n] = (unsigned char *)malloc((size_t)size * size * 3);
            if (fnet_align(img, g_ref[i].pts[f], 68, kind, size, chips[n]) == FNET_OK) n++;
            else free(chips[n]);
        }
    return n;
}

/* fnet_embed_batch (any batch, any workers) equals fnet_embed of each chip alone. */
static void check_batch_embed(void) {
    int k, n, w, b, dim, si;
    for (k = 0; k < 2; k++) {
        unsigned char *chips[6];
        float ref[6][128], *out;
        int nc;
        if (!g_net[k] || !g_det || !g_lm) continue;
        dim = fnet_embed_dim(g_net[k]);
        if (dim > 128) continue;
        nc = face_chips(k, chips, 6);
        CHECK(nc >= 3, "net %d: %d face chips (need 3)", k, nc);
        for (b = 0; b < nc; b++) CHECK(fnet_embed(g_net[k], chips[b], NULL, 0, ref[b]) == FNET_OK, "net %d chip %d: fnet_embed", k, b);
        CHECK(fnet_embed_batch_workspace_size(g_net[k], 1, NULL) == fnet_embed_workspace_size(g_net[k]),
              "net %d: a batch of one needs fnet_embed's workspace", k);
        out = (float *)malloc(sizeof(float) * 6 * 128);
        for (w = 1; w <= 5; w++) {
            tp_pool pool;
            fnet_embed_opts o;
            int threads;
            if (getenv("FNET_TEST_SANITIZED") && w != 2 && w != 5) continue; /* as in detection */
            threads = w == 5 ? 1 : tp_start(&pool, w);
            memset(&o, 0, sizeof o);
            o.parallel.run = w == 5 ? run_backwards : tp_run;
            o.parallel.user = w == 5 ? NULL : &pool;
            o.parallel.workers = w == 5 ? 3 : w;
            for (si = 0; si < 3; si++) {
                size_t ws;
                void *work;
                fnet_result r;
                int bad = 0, start;
                n = si == 0 ? 1 : si == 1 ? 2 : nc; /* and the whole set at once */
                ws = fnet_embed_batch_workspace_size(g_net[k], n, &o);
                work = malloc(ws);
                for (start = 0; start + n <= nc; start += n) {
                    memset(out, 0xff, sizeof(float) * 6 * 128);
                    r = fnet_embed_batch(g_net[k], (const unsigned char *const *)(chips + start), n, &o, work, ws, out);
                    if (r != FNET_OK) bad = 1000 + (int)-r;
                    for (b = 0; b < n && r == FNET_OK; b++) bad += memcmp(out + b * dim, ref[start + b], sizeof(float) * dim) != 0;
                }
                CHECK(bad == 0, "net %d: batches of %d with %d workers (%d threads%s): %d embeddings differ from single calls",
                      k, n, o.parallel.workers, threads, w == 5 ? ", backwards" : "", bad);
                r = fnet_embed_batch(g_net[k], (const unsigned char *const *)chips, n, &o, work, ws - 1, out);
                CHECK(r == FNET_ERR_WORKSPACE_TOO_SMALL, "net %d batch %d: workspace one byte short: %s", k, n, fnet_result_string(r));
                free(work);
            }
            if (w != 5) tp_stop(&pool);
        }
        CHECK(fnet_embed_batch(g_net[k], (const unsigned char *const *)chips, 0, NULL, NULL, 0, out) == FNET_ERR_INVALID_ARGUMENT,
              "net %d: a batch of 0 is refused", k);
        if (k == 0) { /* the other kernel sets (tile heights 4 and 3): nn4, a batch of all, 2 workers */
            static const fnet_isa isas[2] = {FNET_ISA_SCALAR, FNET_ISA_SSE2};
            fnet_isa keep = fnet_model_get_isa(g_net[k]);
            int q;
            for (q = 0; q < 2; q++) {
                tp_pool pool;
                fnet_embed_opts o;
                int bad = 0;
                if (!fnet_isa_supported(isas[q]) || fnet_model_set_isa(g_net[k], isas[q]) != FNET_OK) continue;
                tp_start(&pool, 2);
                memset(&o, 0, sizeof o);
                o.parallel.run = tp_run;
                o.parallel.user = &pool;
                o.parallel.workers = 2;
                for (b = 0; b < nc; b++) bad |= fnet_embed(g_net[k], chips[b], NULL, 0, ref[b]) != FNET_OK;
                bad |= fnet_embed_batch(g_net[k], (const unsigned char *const *)chips, nc, &o, NULL, 0, out) != FNET_OK;
                for (b = 0; b < nc && !bad; b++) bad += memcmp(out + b * dim, ref[b], sizeof(float) * dim) != 0;
                CHECK(bad == 0, "net %d, kernels %s: a batch of %d with 2 workers differs from single calls (%d)", k,
                      fnet_isa_name(isas[q]), nc, bad);
                tp_stop(&pool);
            }
            fnet_model_set_isa(g_net[k], keep);
        }
        free(out);
        for (b = 0; b < nc; b++) free(chips[b]);
    }
}

int main(void) {
    static const char *const photos[N_IMAGES] = {"data/openface-examples/clapton-2.jpg",
                                                 "data/openface-examples/longoria-cooper.jpg"};
    pthread_t th[N_THREADS];
    job jobs[N_THREADS];
    int i;
    for (i = 0; i < N_IMAGES; i++) {
        const char *p = shared_path(photos[i]);
        if (!p) {
            SKIP("%s absent (shared data)", photos[i]);
            return test_finish();
        }
        g_px[i] = il_load_pixels(p, 3, &g_w[i], &g_h[i], NULL, 0);
        CHECK(g_px[i] != NULL, "decode %s", p);
        if (!g_px[i]) return test_finish();
    }
    g_det = load("hog_frontal.fnet");
    g_lm = load("landmarks68.fnet");
    g_net[0] = load("nn4.small2.v1.fnet");
    g_net[1] = getenv("FNET_TEST_SANITIZED") ? NULL : load("resnet34.fnet"); /* slow under ASan */
    for (i = 0; i < N_IMAGES; i++) run_pipeline(i, &g_ref[i], 0);
    report_stages();
    {   /* the reference is repeatable in one thread, with and without a caller workspace */
        result *r = (result *)malloc(sizeof(result));
        run_pipeline(0, r, 1);
        CHECK(memcmp(r, &g_ref[0], sizeof *r) == 0, "one thread: the caller's workspace gives the same results as work == NULL");
        free(r);
    }
    for (i = 0; i < N_THREADS; i++) {
        jobs[i].id = i;
        jobs[i].mismatches = 0;
        CHECK(pthread_create(&th[i], NULL, worker, &jobs[i]) == 0, "pthread_create %d", i);
    }
    for (i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].mismatches == 0, "thread %d: %d of %d pipeline runs differ from the single-thread results", i,
              jobs[i].mismatches, 2 * N_IMAGES);
    }
    check_parallel_detect();
    check_batch_embed();
    fnet_model_free(g_det);
    fnet_model_free(g_lm);
    fnet_model_free(g_net[0]);
    fnet_model_free(g_net[1]);
    for (i = 0; i < N_IMAGES; i++) stbi_image_free(g_px[i]);
    return test_finish();
}
