/* test_threads.c - several threads share one loaded model of each kind and must get
   bit-identical results to a single thread: boxes, landmarks, aligned crops and embeddings
   (facenet.h's contract: a loaded model is read-only, each call has its own scratch).

   Two photos; 4 threads each run the whole pipeline on both, twice, half of them with their
   own caller workspace and half with work == NULL. A stage whose blob is missing is skipped
   with the reason; a stage that errors is a failure.
   tools/portable/portable.sh also builds this file with ThreadSanitizer. */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"

#include "../examples/image_load.h"

#include <pthread.h>

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
    fnet_model_free(g_det);
    fnet_model_free(g_lm);
    fnet_model_free(g_net[0]);
    fnet_model_free(g_net[1]);
    for (i = 0; i < N_IMAGES; i++) stbi_image_free(g_px[i]);
    return test_finish();
}
