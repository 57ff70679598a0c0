/* test_train_landmarks.c - the shape predictor trainer (facenet.h section 2b) on a tiny
   synthetic set: 5 bright dots on a textured background, moved, scaled and rotated per
   image, inside a fixed box. A few seconds of training must give a predictor that
   fnet_model_load reads and that finds the dots far better than the mean shape does; the
   same seed gives the same bytes, one and two threads give the same bytes, and bad input
   gets an error. */
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "fnet_test.h"

#include <math.h>
#include <pthread.h>

#define W 48
#define NP 5
#define N_TRAIN 40
#define N_TEST 20

static unsigned long long rs = 12345;
static double rnd(void) { /* [0, 1) */
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rs >> 11) / 9007199254740992.0;
}

static const double tmpl[NP][2] = {{0.3, 0.35}, {0.7, 0.35}, {0.5, 0.55}, {0.35, 0.75}, {0.65, 0.75}};
static const fnet_box box = {8, 8, 39, 39, 0, 0};

/* One image: its points (image coordinates) and pixels. */
static void make_face(unsigned char *px, fnet_point *pts) {
    double s = 0.85 + 0.3 * rnd(), a = (rnd() - 0.5) * 0.4, tx = (rnd() - 0.5) * 0.16, ty = (rnd() - 0.5) * 0.16;
    double side = box.right - box.left;
    int i, x, y;
    for (i = 0; i < NP; i++) {
        double u = tmpl[i][0] - 0.5, v = tmpl[i][1] - 0.5;
        double ru = s * (cos(a) * u - sin(a) * v) + 0.5 + tx + (rnd() - 0.5) * 0.04;
        double rv = s * (sin(a) * u + cos(a) * v) + 0.5 + ty + (rnd() - 0.5) * 0.04;
        pts[i].x = (float)(box.left + side * ru);
        pts[i].y = (float)(box.top + side * rv);
    }
    for (y = 0; y < W; y++)
        for (x = 0; x < W; x++) {
            double val = 40 + x + 0.5 * y + 20 * rnd();
            for (i = 0; i < NP; i++) {
                double dx = x - pts[i].x, dy = y - pts[i].y;
                val += 180 * exp(-(dx * dx + dy * dy) / 4.0);
            }
            px[y * W + x] = (unsigned char)(val > 255 ? 255 : val);
        }
}

static unsigned char pix[N_TRAIN + N_TEST][W * W];
static fnet_point pts[N_TRAIN + N_TEST][NP];
static fnet_shape_sample smp[N_TRAIN + N_TEST];

/* A two-thread parallel_for: odd tasks on a second thread, even ones here. */
typedef struct two { fnet_task_fn fn; void *ctx; int n; } two;
static void *odd_tasks(void *arg) {
    two *t = (two *)arg;
    int i;
    for (i = 1; i < t->n; i += 2) t->fn(t->ctx, i);
    return NULL;
}
static void par2(void *user, int n, fnet_task_fn fn, void *ctx) {
    pthread_t th;
    two t;
    int i;
    (void)user;
    t.fn = fn; t.ctx = ctx; t.n = n;
    if (pthread_create(&th, NULL, odd_tasks, &t) != 0) { for (i = 0; i < n; i++) fn(ctx, i); return; }
    for (i = 0; i < n; i += 2) fn(ctx, i);
    pthread_join(th, NULL);
}

static unsigned char *train_blob(const fnet_shape_train_opts *o, int n, size_t *size, fnet_result *res) {
    fnet_shape_model *m = NULL;
    unsigned char *b = NULL;
    *size = 0;
    *res = fnet_shape_train(smp, n, NP, o, &m);
    if (*res != FNET_OK) return NULL;
    *res = fnet_shape_model_save_blob(m, NULL, NULL, 0, NULL, 0, size);
    if (*res == FNET_OK) {
        b = (unsigned char *)malloc(*size);
        *res = b ? fnet_shape_model_save_blob(m, NULL, NULL, 0, b, *size, size) : FNET_ERR_OUT_OF_MEMORY;
    }
    fnet_shape_model_free(m);
    return b;
}

/* mean point error on the test faces, in box widths */
static double test_error(const fnet_model *lm, int use_mean) {
    double e = 0;
    int i, k;
    for (i = N_TRAIN; i < N_TRAIN + N_TEST; i++) {
        fnet_point p[NP];
        if (use_mean) {
            for (k = 0; k < NP; k++) { p[k].x = (float)(box.left + 31 * tmpl[k][0]); p[k].y = (float)(box.top + 31 * tmpl[k][1]); }
        } else if (fnet_landmarks(lm, smp[i].image, box, p) != FNET_OK) {
            return 1e9;
        }
        for (k = 0; k < NP; k++) e += hypot(p[k].x - pts[i][k].x, p[k].y - pts[i][k].y) / 31.0;
    }
    return e / (N_TEST * NP);
}

int main(void) {
    fnet_shape_train_opts o;
    fnet_model *lm = NULL;
    unsigned char *b1, *b2, *b3, *b4;
    size_t n1, n2, n3, n4;
    fnet_result r;
    int i;
    double e_mean, e_trained;
    for (i = 0; i < N_TRAIN + N_TEST; i++) {
        make_face(pix[i], pts[i]);
        smp[i].image = fnet_image_view(pix[i], W, W, 1, W);
        smp[i].box = box;
        smp[i].points = pts[i];
        smp[i].present = NULL;
    }
    memset(&o, 0, sizeof o);
    o.cascade_depth = 4;
    o.trees_per_level = 40;
    o.tree_depth = 3;
    o.oversampling = 8;
    o.feature_pool_size = 100;
    o.seed = 7;

    /* 1. a working predictor */
    b1 = train_blob(&o, N_TRAIN, &n1, &r);
    CHECK(r == FNET_OK && b1, "train: %s", fnet_result_string(r));
    r = b1 ? fnet_model_load_memory(b1, n1, &lm) : FNET_ERR_INVALID_ARGUMENT;
    CHECK(r == FNET_OK, "the trained blob loads: %s", fnet_result_string(r));
    if (lm) {
        CHECK(fnet_landmarks_count(lm) == NP, "points %d", fnet_landmarks_count(lm));
        CHECK(fnet_model_meta(lm, "source") && fnet_model_meta(lm, "trees") &&
              !strcmp(fnet_model_meta(lm, "trees"), "40"), "metadata");
        CHECK(fnet_model_meta(lm, "seed") && !strcmp(fnet_model_meta(lm, "seed"), "7"), "seed metadata");
        e_mean = test_error(lm, 1);
        e_trained = test_error(lm, 0);
        printf("held-out error (box widths): mean shape %.4f, trained %.4f\n", e_mean, e_trained);
        CHECK(e_mean > 0.05, "the synthetic faces move: mean-shape error %.4f", e_mean);
        CHECK(e_trained < 0.22 * e_mean, "trained error %.4f vs mean shape %.4f", e_trained, e_mean);
        fnet_model_free(lm);
    }
    /* 2. determinism: same seed, same bytes; another seed, another model */
    b2 = train_blob(&o, N_TRAIN, &n2, &r);
    CHECK(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1), "same seed, same blob");
    o.parallel_for = par2;
    b3 = train_blob(&o, N_TRAIN, &n3, &r);
    CHECK(b1 && b3 && n1 == n3 && !memcmp(b1, b3, n1), "two threads, the same blob as one");
    o.parallel_for = NULL;
    o.seed = 8;
    b4 = train_blob(&o, N_TRAIN, &n4, &r);
    CHECK(b1 && b4 && n1 == n4 && memcmp(b1, b4, n1) != 0, "another seed, another model");
    free(b1); free(b2); free(b3); free(b4);

    /* 3. absent points: point 4 missing from half the faces still trains (and loads) */
    {
        static unsigned char present[N_TRAIN][NP];
        fnet_shape_model *m = NULL;
        for (i = 0; i < N_TRAIN; i++) {
            memset(present[i], 1, NP);
            if (i % 2) present[i][4] = 0;
            smp[i].present = present[i];
        }
        o.seed = 7;
        o.cascade_depth = 2;
        r = fnet_shape_train(smp, N_TRAIN, NP, &o, &m);
        CHECK(r == FNET_OK, "absent points: %s", fnet_result_string(r));
        fnet_shape_model_free(m);
        for (i = 0; i < N_TRAIN; i++) present[i][4] = 0;
        r = fnet_shape_train(smp, N_TRAIN, NP, &o, &m);
        CHECK(r == FNET_ERR_INVALID_ARGUMENT && !m, "a point never present: %s", fnet_result_string(r));
        for (i = 0; i < N_TRAIN; i++) smp[i].present = NULL;
    }
    /* 4. the sum kernels equal their scalar twin bit for bit (136 = 2 strips of 64 + 8) */
    {
        static float rows[50 * 136], a0[136], a1[136];
        int idx[50], kk, n2s[3] = {136, 10, 512 / 4}, q;
        for (i = 0; i < 50 * 136; i++) rows[i] = (float)(rnd() - 0.5) * (float)(1 << (i % 7));
        for (i = 0; i < 50; i++) idx[i] = (i * 17) % 50;
        for (q = 0; q < 3; q++) {
            int n2 = n2s[q], same = 1;
            for (kk = 0; kk < 136; kk++) a0[kk] = a1[kk] = 0.25f * (float)kk;
            fnet__sp_sum_rows_scalar(a0, rows, idx + 49, -1, 40, n2);
#if defined(FNET__X86)
            fnet__sp_sum_rows_sse2(a1, rows, idx + 49, -1, 40, n2);
            same = !memcmp(a0, a1, sizeof(float) * (size_t)n2);
            if (fnet_isa_supported(FNET_ISA_AVX2)) {
                for (kk = 0; kk < 136; kk++) a1[kk] = 0.25f * (float)kk;
                fnet__sp_sum_rows_avx2(a1, rows, idx + 49, -1, 40, n2);
                same &= !memcmp(a0, a1, sizeof(float) * (size_t)n2);
            }
#endif
            CHECK(same, "sum kernels equal the scalar one (n2 %d)", n2);
            {   /* the fused update step */
                static float c0[136], c1[136], d0[136], d1[136], b0[136], b1[136];
                for (kk = 0; kk < 136; kk++) { c0[kk] = c1[kk] = rows[kk]; b0[kk] = b1[kk] = rows[200 + kk]; }
                fnet__sp_step_scalar(c0, rows + 400, rows + 600, d0, b0, n2);
#if defined(FNET__X86)
                fnet__sp_step_sse2(c1, rows + 400, rows + 600, d1, b1, n2);
                same = !memcmp(c0, c1, 4 * (size_t)n2) && !memcmp(d0, d1, 4 * (size_t)n2) && !memcmp(b0, b1, 4 * (size_t)n2);
                if (fnet_isa_supported(FNET_ISA_AVX2)) {
                    for (kk = 0; kk < 136; kk++) { c1[kk] = rows[kk]; b1[kk] = rows[200 + kk]; }
                    fnet__sp_step_avx2(c1, rows + 400, rows + 600, d1, b1, n2);
                    same &= !memcmp(c0, c1, 4 * (size_t)n2) && !memcmp(d0, d1, 4 * (size_t)n2) && !memcmp(b0, b1, 4 * (size_t)n2);
                }
#endif
                CHECK(same, "step kernels equal the scalar one (n2 %d)", n2);
            }
        }
    }
    /* 5. bad input */
    {
        fnet_shape_model *m = NULL;
        fnet_point keep = pts[3][2];
        CHECK(fnet_shape_train(NULL, 4, NP, &o, &m) == FNET_ERR_INVALID_ARGUMENT, "NULL samples");
        CHECK(fnet_shape_train(smp, 0, NP, &o, &m) == FNET_ERR_INVALID_ARGUMENT, "no samples");
        CHECK(fnet_shape_train(smp, 4, NP, &o, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL out");
        o.tree_depth = 9;
        CHECK(fnet_shape_train(smp, 4, NP, &o, &m) == FNET_ERR_TOO_LARGE, "depth 9");
        o.tree_depth = 3;
        o.nu = 1.5;
        CHECK(fnet_shape_train(smp, 4, NP, &o, &m) == FNET_ERR_INVALID_ARGUMENT, "nu 1.5");
        o.nu = 0;
        o.padding = -0.6;
        CHECK(fnet_shape_train(smp, 4, NP, &o, &m) == FNET_ERR_INVALID_ARGUMENT, "padding -0.6");
        o.padding = 0;
        CHECK(fnet_shape_train(smp, 4, 300, &o, &m) == FNET_ERR_TOO_LARGE, "300 points");
        CHECK(fnet_shape_train(smp, 4, 1, &o, &m) == FNET_ERR_INVALID_ARGUMENT, "1 point (the loader needs 2)");
        o.oversampling = 1000000;
        CHECK(fnet_shape_train(smp, 4000, NP, &o, &m) == FNET_ERR_TOO_LARGE, "4e9 samples");
        o.oversampling = 8;
        pts[3][2].x = (float)NAN;
        CHECK(fnet_shape_train(smp, 4, NP, &o, &m) == FNET_ERR_NOT_FINITE, "NaN point");
        pts[3][2] = keep;
        smp[1].box.right = smp[1].box.left;
        CHECK(fnet_shape_train(smp, 4, NP, &o, &m) == FNET_ERR_INVALID_ARGUMENT, "empty box");
        smp[1].box = box;
        smp[2].image.pixels = NULL;
        CHECK(fnet_shape_train(smp, 4, NP, &o, &m) == FNET_ERR_BAD_IMAGE, "no pixels");
        smp[2].image.pixels = pix[2];
        CHECK(m == NULL, "no model on error");
        CHECK(fnet_shape_model_save_blob(NULL, NULL, NULL, 0, NULL, 0, &n1) == FNET_ERR_INVALID_ARGUMENT, "save NULL");
        fnet_shape_model_free(NULL);
    }
    return test_finish();
}
