/* test_grad.c - the learning API (section 6): backpropagation checked op by op against central
   finite differences of the double-precision reference forward in tests/fnet_graph.h, on every
   kernel set; then the trainer's contract: errors, frozen tensors, the frozen-prefix frontier,
   checkpoints, saved blobs, optimizer steps and schedules, step_triplet, and independence from
   the thread count.

   GRADIENT CHECKS. Each case is a tiny graph INPUT -> (maybe a conv) -> OP -> (maybe DENSE),
   with random shapes chosen to be awkward (odd sides, one-sided pads, stride 2, channel counts
   that are not multiples of 8 or 16, more than 16 output channels). A trainer (input_grad = 1)
   runs forward on a batch of random inputs and backward with a random r = dL/dy, so L = r . y.
   The analytic gradients (dL/d input and dL/d every trainable tensor) are compared with central
   differences D(h) = (L(v + h) - L(v - h)) / ((float)(v + h) - (float)(v - h)) where L is
   computed by g_reference in double: the perturbed value is rounded to float (the reference
   reads float inputs and weights), so the divisor is the step actually taken. The estimate is
   Richardson's (4 D(h/2) - D(h)) / 3 with h = 1e-4 * max(|v|, max |tensor|), accurate to
   ~1e-9 relative, far below the float32 gradient's own error.
   Kinks: inputs are redrawn until no ReLU pre-activation, max-pool gap, L2POOL output or L2NORM
   clamp is nearer than MARGIN to its kink (g_ref_margin), and a step that still crosses one
   (g_ref_pattern changes between v - h, v and v + h) is skipped (counted and printed; a case
   must keep most of its coordinates). The error of a gradient tensor is
   max |analytic - fd| / max |gradient| over its checked coordinates (all of them for small
   tensors, 150 for large ones, 300 of the input; fewer under the sanitizers). */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"
#include "fnet_graph.h"

#include <float.h>
#include <pthread.h>

/* Bounds, about twice the worst seen over this file's cases and 40 other draws of them
   (FNET_GRAD_SEED=1..40) on x86-64 with AVX2, gcc -O2 and clang ASan+UBSan builds. Errors
   are relative to the tensor's gradient scale (max |gradient|; a conv's or dense's weight and
   bias share the larger of theirs, see grad_case), printed per case and per op at the end.
   FD_BOUND: float32 analytic gradient vs double finite differences, every kernel set (worst
             9.8e-7, L2POOL on AVX2; most ops 2e-7 .. 6e-7).
   ISA_BOUND: each SIMD kernel set's gradients vs the scalar set's, over whole tensors (worst
             1.1e-6 on AVX2; SSE2 is bit-identical to scalar: same sums in the same order).
   FWD_BOUND: the trainer's forward vs the double reference (worst 1.5e-6). */
#define FD_BOUND 2e-6
#define ISA_BOUND 2e-6
#define FWD_BOUND 3e-6
/* Inputs are drawn so that no kink is nearer than MARGIN (see grad_case). */
#define MARGIN 2e-4

#define NISA 5 /* kernel sets: scalar, sse2, avx2, neon, wasm_simd128 */
static const fnet_isa g_isas[NISA] = {FNET_ISA_SCALAR, FNET_ISA_SSE2, FNET_ISA_AVX2, FNET_ISA_NEON, FNET_ISA_WASM_SIMD};
static int g_sanitized;

/* ---- small helpers ---- */

static unsigned g_seed = 20240613u;
static double urand(void) { /* uniform in [0, 1) */
    g_seed = g_seed * 1664525u + 1013904223u;
    return (double)(g_seed >> 8) / 16777216.0;
}
static int irand(int lo, int hi) { return lo + (int)(urand() * (hi - lo + 1)); }
/* A named random stream: each gradient case (by its label) and each test has its own.
   FNET_GRAD_SEED=n (environment) draws other shapes and values, to explore. */
static unsigned g_seed_base = 2166136261u;
static void reseed(const char *name) {
    unsigned h = g_seed_base;
    while (*name) h = (h ^ (unsigned char)*name++) * 16777619u;
    g_seed = h;
}
static float srand1(void) { return (float)(2.0 * urand() - 1.0); } /* [-1, 1) */

/* Loads a graph from a deliberately misaligned copy of its blob, so that the loader copies it
   and the blob can be freed at once (a 64-byte aligned blob would be used in place). */
static fnet_result load_graph(const graph *g, fnet_model **m) {
    size_t size;
    unsigned char *blob = g_write(g, &size), *raw = (unsigned char *)malloc(size + 128), *p = raw + 1;
    fnet_result r;
    while (((size_t)p & 63u) == 0) p++;
    memcpy(p, blob, size);
    r = fnet_model_load_memory(p, size, m);
    CHECK(r != FNET_OK || !fnet_model_is_zero_copy(*m), "a misaligned blob is copied");
    free(blob);
    free(raw);
    return r;
}

static size_t op_elems(const graph *g, int i) { return (size_t)g->op[i].h * g->op[i].w * g->op[i].c; }
static int find_g_tensor(const graph *g, const char *name) {
    int i;
    for (i = 0; i < g->n_t; i++) if (strcmp(g->t[i].name, name) == 0) return i;
    return -1;
}

/* A tensor of a blob in the documented format (absolute offsets), or NULL. */
static const unsigned char *blob_tensor(const unsigned char *b, size_t size, const char *name, size_t *nbytes) {
    size_t n_t, toff, i;
    if (size < 96) return NULL;
    n_t = fnet__rd_u32(b + 36);
    toff = (size_t)fnet__rd_u64(b + 56);
    for (i = 0; i < n_t; i++) {
        const unsigned char *e = b + toff + i * 96;
        size_t off, nb;
        if (toff + (i + 1) * 96 > size) return NULL;
        if (strncmp((const char *)e, name, 48) != 0) continue;
        off = (size_t)fnet__rd_u64(e + 80);
        nb = (size_t)fnet__rd_u64(e + 88);
        if (off + nb > size) return NULL;
        if (nbytes) *nbytes = nb;
        return b + off;
    }
    return NULL;
}

/* The trainer's current weights as a saved blob (malloc'd), NULL on failure. */
static unsigned char *trainer_blob(const fnet_trainer *tr, size_t *size) {
    unsigned char *buf;
    fnet_result r = fnet_trainer_save_blob(tr, NULL, NULL, 0, NULL, 0, size);
    if (r != FNET_OK || *size == 0) return NULL;
    buf = (unsigned char *)malloc(*size);
    r = fnet_trainer_save_blob(tr, NULL, NULL, 0, buf, *size, size);
    if (r != FNET_OK) { free(buf); return NULL; }
    return buf;
}

/* Copies tensor `name` of a saved blob (f32) into out[count]; 1 on success. */
static int blob_floats(const unsigned char *b, size_t size, const char *name, float *out, size_t count) {
    size_t nb = 0;
    const unsigned char *p = blob_tensor(b, size, name, &nb);
    if (!p || nb != count * sizeof(float)) return 0;
    memcpy(out, p, nb);
    return 1;
}

/* ---- statistics per op type, for the closing table ---- */

static const char *const g_op_names[14] = {"INPUT", "CONV", "MAXPOOL", "AVGPOOL", "L2POOL", "LRN", "CONCAT",
                                           "DENSE", "L2NORM", "ADD", "GAP", "PAD", "RELU", "all-ops graph"};
typedef struct op_stat {
    int cases, coords, kinks;
    double fd_max[NISA];  /* per kernel set: max error vs finite differences */
    double isa_max[NISA]; /* per kernel set: max error vs the scalar set */
} op_stat;
static op_stat g_stats[14];
static double g_fwd_max; /* the trainer's forward vs the reference, over every case */

/* ---- the gradient check of one graph ---- */

typedef struct fd_target {
    float *v;    /* the float being perturbed (an input value or a weight) */
    int sample;  /* input coordinate: its sample; weight: -1 (all samples) */
} fd_target;

/* L = sum over the samples (or one sample) of r_b . y_b by the double reference; *pat = the
   kink patterns of the runs, combined. */
static double ref_loss(const graph *g, const float *x, const float *r, int batch, int only, size_t in_n,
                       size_t dim, unsigned long *pat) {
    double L = 0.0;
    int b;
    *pat = 0;
    for (b = 0; b < batch; b++) {
        size_t n, e;
        double *y;
        if (only >= 0 && b != only) continue;
        y = g_reference(g, x + (size_t)b * in_n, &n);
        for (e = 0; e < n && e < dim; e++) L += (double)r[(size_t)b * dim + e] * y[e];
        *pat = (*pat * 31UL + g_ref_pattern) & 0xffffffffUL;
        free(y);
    }
    return L;
}

/* Central difference of L in the float *t.v with step h (the step taken: v +- h rounded to float). */
static double central_diff1(const graph *g, const float *x, const float *r, int batch, size_t in_n, size_t dim,
                            fd_target t, double h, unsigned long pat0, int *kink) {
    float v = *t.v, vp = (float)(v + h), vm = (float)(v - h);
    double lp, lm;
    unsigned long pp, pm;
    *t.v = vp;
    lp = ref_loss(g, x, r, batch, t.sample, in_n, dim, &pp);
    *t.v = vm;
    lm = ref_loss(g, x, r, batch, t.sample, in_n, dim, &pm);
    *t.v = v;
    if (pp != pat0 || pm != pat0) *kink = 1;
    return (lp - lm) / ((double)vp - (double)vm);
}

/* dL/d(*t.v): Richardson's extrapolation of the central differences with steps h and h/2,
   h = 1e-4 * max(|v|, hscale): (4 D(h/2) - D(h)) / 3 cancels the h^2 term (curvature near a
   small L2POOL output or L2NORM would otherwise show). 0 and *kink = 1 when a step crosses a
   kink. */
static double central_diff(const graph *g, const float *x, const float *r, int batch, size_t in_n, size_t dim,
                           fd_target t, double hscale, unsigned long pat0, int *kink) {
    double h = 1e-4 * (fabs(*t.v) > hscale ? fabs(*t.v) : hscale), d1, d2;
    *kink = 0;
    d1 = central_diff1(g, x, r, batch, in_n, dim, t, h, pat0, kink);
    d2 = central_diff1(g, x, r, batch, in_n, dim, t, h / 2, pat0, kink);
    return *kink ? 0.0 : (4.0 * d2 - d1) / 3.0;
}

static double max_abs_f(const float *a, size_t n) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* Coordinates to check: all when n <= cap, else cap of them (first, last and random ones). */
static size_t pick_coords(size_t n, size_t cap, size_t *idx) {
    size_t i;
    if (n <= cap) { for (i = 0; i < n; i++) idx[i] = i; return n; }
    idx[0] = 0; idx[1] = n - 1;
    for (i = 2; i < cap; i++) idx[i] = (size_t)(urand() * (double)n) % n;
    return cap;
}

#define MAX_GT 24 /* gradient tensors per case: the input + trainable tensors */

/* Checks one graph. stat: op type for the table; trainable: the pattern; want_t: the number of
   tensors it must select (-1: every tensor of the graph). */
static void grad_case(graph *g, const char *label, int stat, const char *trainable, int want_t, int batch) {
    fnet_model *m = NULL;
    fnet_result r;
    size_t in_n = op_elems(g, 0), dim = op_elems(g, g->n_op - 1), e;
    float *x, *rr, *emb;
    float *ga[NISA][MAX_GT]; /* analytic gradients per kernel set: [0] the input, then tensors */
    int gt_tensor[MAX_GT], n_gt = 0, k, j, isa_done[NISA] = {0, 0, 0, 0, 0};
    size_t gt_n[MAX_GT];
    double fd_err[NISA][MAX_GT], isa_err[NISA][MAX_GT], own[MAX_GT], scale[MAX_GT], *fd[MAX_GT];
    size_t *idx[MAX_GT], nidx[MAX_GT];
    int *kink[MAX_GT];
    int coords = 0, kinks = 0;
    unsigned long pat0_all, pat0_s[8];
    op_stat *st = &g_stats[stat];
    unsigned outer_seed = g_seed; /* the builders' stream, given back at the end */
    reseed(label);
    memset(ga, 0, sizeof ga);
    memset(fd_err, 0, sizeof fd_err);
    memset(isa_err, 0, sizeof isa_err);
    r = load_graph(g, &m);
    CHECK(r == FNET_OK, "%s: load: %s", label, fnet_result_string(r));
    if (!m) { g_seed = outer_seed; return; }
    x = (float *)malloc((size_t)batch * in_n * sizeof(float));
    rr = (float *)malloc((size_t)batch * dim * sizeof(float));
    emb = (float *)malloc((size_t)batch * dim * sizeof(float));
    { /* inputs away from the kinks: redraw until every ReLU pre-activation, max-pool gap, L2POOL
         output and L2NORM clamp is at least MARGIN from its kink (exact zeros of dead ReLUs aside) */
        int tries, b;
        double margin = 0;
        for (tries = 0; tries < 40; tries++) {
            margin = HUGE_VAL;
            for (e = 0; e < (size_t)batch * in_n; e++) x[e] = srand1();
            for (b = 0; b < batch; b++) {
                size_t n;
                free(g_reference(g, x + (size_t)b * in_n, &n));
                if (g_ref_margin < margin) margin = g_ref_margin;
            }
            if (margin >= MARGIN) break;
        }
        if (margin < MARGIN) fprintf(stderr, "  note: %s: no input with kink margin %.0e in 40 draws (%.2g)\n", label,
                                     MARGIN, margin);
    }
    for (e = 0; e < (size_t)batch * dim; e++) rr[e] = srand1();
    gt_tensor[0] = -1;
    gt_n[0] = (size_t)batch * in_n;
    n_gt = 1;

    /* analytic gradients on every kernel set */
    for (k = 0; k < NISA; k++) {
        fnet_trainer *tr = NULL;
        fnet_trainer_opts o;
        int nt, i;
        if (!fnet_isa_supported(g_isas[k])) continue;
        if (fnet_model_set_isa(m, g_isas[k]) != FNET_OK) continue;
        memset(&o, 0, sizeof o);
        o.trainable = trainable;
        o.input_grad = 1;
        o.max_batch = batch;
        r = fnet_trainer_create(m, &o, &tr);
        CHECK(r == FNET_OK && tr, "%s on %s: trainer_create: %s", label, fnet_isa_name(g_isas[k]),
              fnet_result_string(r));
        if (r != FNET_OK || !tr) { if (tr) fnet_trainer_free(tr); continue; }
        CHECK(fnet_model_get_isa(fnet_trainer_model(tr)) == g_isas[k], "%s: the trainer runs on %s (model's %s)", label,
              fnet_isa_name(fnet_model_get_isa(fnet_trainer_model(tr))), fnet_isa_name(g_isas[k]));
        nt = fnet_trainer_trainable_count(tr);
        CHECK(nt == (want_t < 0 ? g->n_t : want_t), "%s: %d trainable tensors, want %d", label, nt,
              want_t < 0 ? g->n_t : want_t);
        if (nt + 1 > MAX_GT) nt = MAX_GT - 1;
        r = fnet_trainer_forward(tr, x, 0, batch, emb);
        CHECK(r == FNET_OK, "%s on %s: forward: %s", label, fnet_isa_name(g_isas[k]), fnet_result_string(r));
        if (r == FNET_OK) { /* the forward agrees with the reference */
            double err = 0, scale = 1.0;
            int b;
            for (b = 0; b < batch; b++) {
                size_t n;
                double *y = g_reference(g, x + (size_t)b * in_n, &n);
                for (e = 0; e < n; e++) if (fabs(y[e]) > scale) scale = fabs(y[e]);
                for (e = 0; e < n; e++) if (fabs(emb[b * dim + e] - y[e]) > err) err = fabs(emb[b * dim + e] - y[e]);
                free(y);
            }
            if (err / scale > g_fwd_max) g_fwd_max = err / scale;
            CHECK(err / scale <= FWD_BOUND, "%s on %s: forward vs reference %.3g (bound %.2g)", label,
                  fnet_isa_name(g_isas[k]), err / scale, FWD_BOUND);
        }
        ga[k][0] = (float *)calloc(gt_n[0], sizeof(float));
        r = r == FNET_OK ? fnet_trainer_backward(tr, rr, ga[k][0]) : r;
        CHECK(r == FNET_OK, "%s on %s: backward: %s", label, fnet_isa_name(g_isas[k]), fnet_result_string(r));
        if (r != FNET_OK) { fnet_trainer_free(tr); continue; }
        for (i = 0; i < nt; i++) {
            const char *name = fnet_trainer_trainable_name(tr, i);
            const float *gr = fnet_trainer_grad(tr, i);
            int ti = name ? find_g_tensor(g, name) : -1, slot;
            CHECK(ti >= 0 && gr, "%s: trainable %d is '%s', a tensor of the graph, with a gradient", label, i,
                  name ? name : "(null)");
            if (ti < 0 || !gr) continue;
            for (slot = 1; slot < n_gt; slot++) if (gt_tensor[slot] == ti) break;
            if (slot == n_gt) {
                if (k != 0 && isa_done[0]) { CHECK(0, "%s: %s trains a tensor the scalar set did not", label, name); continue; }
                if (n_gt == MAX_GT) continue;
                gt_tensor[n_gt] = ti;
                gt_n[n_gt] = g->t[ti].count;
                n_gt++;
            }
            ga[k][slot] = (float *)malloc(gt_n[slot] * sizeof(float));
            memcpy(ga[k][slot], gr, gt_n[slot] * sizeof(float));
        }
        isa_done[k] = 1;
        fnet_trainer_free(tr);
    }
    if (!isa_done[0]) { CHECK(0, "%s: no scalar gradients", label); goto done; }

    /* finite differences at a subset of the coordinates, compared with every kernel set */
    pat0_all = 0;
    {
        int b;
        for (b = 0; b < batch && b < 8; b++) {
            unsigned long p;
            ref_loss(g, x, rr, batch, b, in_n, dim, &p);
            pat0_s[b] = p;
        }
        ref_loss(g, x, rr, batch, -1, in_n, dim, &pat0_all);
    }
    for (j = 0; j < n_gt; j++) {
        size_t cap = j == 0 ? (g_sanitized ? 60 : 300) : (g_sanitized ? 30 : 150), c;
        double hscale = j == 0 ? max_abs_f(x, gt_n[0]) : max_abs_f(g->t[gt_tensor[j]].data, gt_n[j]);
        int nk = 0;
        idx[j] = (size_t *)malloc(cap * sizeof(size_t));
        fd[j] = (double *)malloc(cap * sizeof(double));
        kink[j] = (int *)malloc(cap * sizeof(int));
        nidx[j] = pick_coords(gt_n[j], cap, idx[j]);
        for (c = 0; c < nidx[j]; c++) {
            fd_target t;
            if (j == 0) { t.v = &x[idx[j][c]]; t.sample = (int)(idx[j][c] / in_n); }
            else { t.v = &g->t[gt_tensor[j]].data[idx[j][c]]; t.sample = -1; }
            fd[j][c] = central_diff(g, x, rr, batch, in_n, dim, t, hscale,
                                    t.sample >= 0 ? pat0_s[t.sample] : pat0_all, &kink[j][c]);
            nk += kink[j][c];
        }
        coords += (int)nidx[j];
        kinks += nk;
        CHECK(nk * 4 <= (int)nidx[j], "%s: %d of %zu coordinates of %s cross a kink (the check would be empty)", label,
              nk, nidx[j], j == 0 ? "the input" : g->t[gt_tensor[j]].name);
        /* the tensor's gradient scale: max |analytic| (scalar set, whole tensor) and max |fd| */
        own[j] = ga[0][j] ? max_abs_f(ga[0][j], gt_n[j]) : 0.0;
        for (c = 0; c < nidx[j]; c++)
            if (!kink[j][c] && fabs(fd[j][c]) > own[j]) own[j] = fabs(fd[j][c]);
        /* a gradient that is zero everywhere checks nothing: the case must be rebuilt */
        CHECK(own[j] > 0, "%s: the gradient of %s is zero at every checked coordinate (a dead case)", label,
              j ? g->t[gt_tensor[j]].name : "the input");
    }
    /* A bias gradient is a sum over pixels and samples that may cancel (a 1-channel bias can
       be far below its terms), so the weight and the bias of one op share the larger scale. */
    for (j = 0; j < n_gt; j++) {
        int i2, op;
        scale[j] = own[j];
        if (j == 0) continue;
        for (op = 0; op < g->n_op; op++) {
            if (g->op[op].type != G_CONV && g->op[op].type != G_DENSE) continue;
            if (g->op[op].tensor[0] != gt_tensor[j] && g->op[op].tensor[1] != gt_tensor[j]) continue;
            for (i2 = 1; i2 < n_gt; i2++)
                if ((gt_tensor[i2] == g->op[op].tensor[0] || gt_tensor[i2] == g->op[op].tensor[1]) && own[i2] > scale[j])
                    scale[j] = own[i2];
        }
    }
    for (j = 0; j < n_gt; j++) {
        const char *tn = j ? g->t[gt_tensor[j]].name : "input";
        size_t c;
        for (k = 0; k < NISA; k++) {
            double err = 0;
            if (!isa_done[k]) continue;
            if (!ga[k][j]) { CHECK(0, "%s: no gradient of %s on %s", label, tn, fnet_isa_name(g_isas[k])); continue; }
            for (c = 0; c < nidx[j]; c++)
                if (!kink[j][c] && fabs(ga[k][j][idx[j][c]] - fd[j][c]) > err) err = fabs(ga[k][j][idx[j][c]] - fd[j][c]);
            fd_err[k][j] = scale[j] > 0 ? err / scale[j] : 0.0;
            CHECK(fd_err[k][j] <= FD_BOUND, "%s on %s: d/d %s: max |analytic - fd| / max |grad| = %.3g (bound %.2g)",
                  label, fnet_isa_name(g_isas[k]), tn, fd_err[k][j], FD_BOUND);
            if (fd_err[k][j] > FD_BOUND) { /* say where */
                size_t worst = 0;
                double we = -1;
                for (c = 0; c < nidx[j]; c++)
                    if (!kink[j][c] && fabs(ga[k][j][idx[j][c]] - fd[j][c]) > we) {
                        we = fabs(ga[k][j][idx[j][c]] - fd[j][c]);
                        worst = c;
                    }
                fprintf(stderr, "    worst at element %zu: analytic %.9g, finite difference %.9g (scale %.6g)\n",
                        idx[j][worst], ga[k][j][idx[j][worst]], fd[j][worst], scale[j]);
            }
            if (k > 0) { /* this kernel set vs the scalar one, over the whole tensor */
                double d = 0;
                for (e = 0; e < gt_n[j]; e++) if (fabs(ga[k][j][e] - ga[0][j][e]) > d) d = fabs(ga[k][j][e] - ga[0][j][e]);
                isa_err[k][j] = scale[j] > 0 ? d / scale[j] : d;
                CHECK(isa_err[k][j] <= ISA_BOUND, "%s: d/d %s on %s vs scalar: %.3g (bound %.2g)", label, tn,
                      fnet_isa_name(g_isas[k]), isa_err[k][j], ISA_BOUND);
            }
        }
        free(idx[j]); free(fd[j]); free(kink[j]);
    }
    { /* one line per case: the worst tensor per kernel set */
        double fdm[NISA] = {0, 0, 0, 0, 0}, ism[NISA] = {0, 0, 0, 0, 0};
        for (k = 0; k < NISA; k++)
            for (j = 0; j < n_gt; j++) {
                if (fd_err[k][j] > fdm[k]) fdm[k] = fd_err[k][j];
                if (isa_err[k][j] > ism[k]) ism[k] = isa_err[k][j];
            }
        fprintf(stderr, "%-58s b%d %2d grads %5d coords %3d kinks | vs fd: scalar %.1e", label, batch, n_gt, coords,
                kinks, fdm[0]);
        for (k = 1; k < NISA; k++)
            if (isa_done[k]) fprintf(stderr, " %s %.1e", fnet_isa_name(g_isas[k]), fdm[k]);
        fprintf(stderr, " | vs scalar:");
        for (k = 1; k < NISA; k++)
            if (isa_done[k]) fprintf(stderr, " %s %.1e", fnet_isa_name(g_isas[k]), ism[k]);
        fputc('\n', stderr);
        st->cases++;
        st->coords += coords;
        st->kinks += kinks;
        for (k = 0; k < NISA; k++) {
            if (fdm[k] > st->fd_max[k]) st->fd_max[k] = fdm[k];
            if (ism[k] > st->isa_max[k]) st->isa_max[k] = ism[k];
        }
    }
done:
    for (k = 0; k < NISA; k++)
        for (j = 0; j < MAX_GT; j++) free(ga[k][j]);
    free(x); free(rr); free(emb);
    fnet_model_free(m);
    g_seed = outer_seed;
}

/* ---- the cases ---- */

static const int g_chans[6] = {2, 3, 5, 7, 9, 13};
static const int g_couts[7] = {1, 4, 7, 16, 17, 19, 23};

/* INPUT of a random odd-ish size at least min_h x min_w. */
static int rand_input(graph *g, int min_h, int min_w, int extra) {
    return g_input(g, min_h + irand(0, extra), min_w + irand(0, extra), 1.0f, 0.0f, 0.0f, 0.0f);
}
/* A conv that gives `c` signed channels (no ReLU) of the same size: the op's input is then
   not the raw input. */
static int pre_conv(graph *g, int x, int c, int relu) {
    int k = irand(0, 1) ? 3 : 1;
    return g_conv(g, x, k, k, 1, 1, k / 2, k / 2, k / 2, k / 2, c, relu);
}
static int tail_dense(graph *g, int x, int relu) { return g_dense(g, x, irand(3, 9), relu); }

static void cases_conv(void) {
    static const int ks[4] = {1, 3, 5, 7};
    int ki, s, v;
    for (ki = 0; ki < 4; ki++)
        for (s = 1; s <= 2; s++)
            for (v = 0; v < 3; v++) {
                graph g;
                char label[96];
                int k = ks[ki], x, a, c, pt, pl, pb, pr, cout, relu = v != 1, pre = v != 1, dense = v != 0;
                const char *mode;
                if (g_sanitized && v == 2 && k >= 5) continue;
                g_init(&g, 1000u + (unsigned)(ki * 10 + s * 3 + v));
                if (v == 0) { pt = pl = pb = pr = k / 2; mode = "symmetric"; }
                else if (v == 1) { pt = irand(0, k - 1); pl = irand(0, k - 1); pb = irand(0, k - 1); pr = irand(0, k - 1); mode = "asymmetric"; }
                else { pt = k - 1; pl = k / 2; pb = 0; pr = 0; mode = "one-sided"; }
                if (k == 1 && v == 2) { pt = 1; pl = 0; pb = 0; pr = 1; } /* 1x1 with a pad: border = bias */
                x = rand_input(&g, k > 3 ? k : 4, k > 3 ? k : 3, k >= 5 ? 3 : 6);
                a = pre ? pre_conv(&g, x, g_chans[irand(0, 5)], 0) : x;
                cout = g_couts[irand(0, 6)];
                if (k == 7 && g.op[a].c > 5) cout = 5;
                c = g_conv(&g, a, k, k, s, s, pt, pl, pb, pr, cout, relu);
                if (dense) tail_dense(&g, c, 0);
                snprintf(label, sizeof label, "CONV %dx%d s%d %s pads %d,%d,%d,%d %dx%dx%d->%d%s%s%s", k, k, s, mode, pt, pl,
                         pb, pr, g.op[a].h, g.op[a].w, g.op[a].c, cout, relu ? " relu" : "", pre ? " (after conv)" : "",
                         dense ? " +dense" : "");
                grad_case(&g, label, G_CONV, "*", -1, 1 + (ki + s + v) % 3);
                g_free(&g);
            }
    { /* 3x3 stride 1, Cin >= 8, Cout >= 16, >= 36 output pixels: Winograd in the AVX2 forward */
        graph g;
        int x, c;
        g_init(&g, 1100u);
        x = g_input(&g, 9, 8, 1.0f, 0, 0, 0);
        x = pre_conv(&g, x, 9, 0);
        c = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 17, 1);
        tail_dense(&g, c, 0);
        grad_case(&g, "CONV 3x3 s1 9x8x9->17 relu (Winograd on AVX2) +dense", G_CONV, "*", -1, 2);
        g_free(&g);
    }
    { /* non-square kernels, unequal strides */
        graph g;
        int x, c;
        g_init(&g, 1101u);
        x = g_input(&g, 9, 11, 1.0f, 0, 0, 0);
        x = pre_conv(&g, x, 7, 0);
        c = g_conv(&g, x, 5, 3, 2, 1, 0, 2, 1, 0, 37, 1);
        grad_case(&g, "CONV 5x3 s2,1 pads 0,2,1,0 9x11x7->37 relu", G_CONV, "*", -1, 2);
        g_free(&g);
        g_init(&g, 1102u);
        x = g_input(&g, 6, 13, 1.0f, 0, 0, 0);
        c = g_conv(&g, x, 1, 7, 1, 2, 0, 3, 0, 3, 9, 0);
        tail_dense(&g, c, 1);
        grad_case(&g, "CONV 1x7 s1,2 pads 0,3,0,3 6x13x3->9 +dense relu", G_CONV, "*", -1, 3);
        g_free(&g);
    }
    { /* a subset trains: the frozen pre-conv still passes the input gradient */
        graph g;
        int x, c;
        g_init(&g, 1103u);
        x = g_input(&g, 7, 9, 1.0f, 0, 0, 0);
        x = g_conv(&g, x, 3, 3, 2, 2, 1, 0, 1, 1, 11, 0);
        c = g_conv(&g, x, 3, 3, 1, 1, 0, 1, 2, 1, 6, 1);
        tail_dense(&g, c, 0);
        grad_case(&g, "CONV subset (w2,b2 train; the rest frozen)", G_CONV, "w2,b2", 2, 2);
        grad_case(&g, "CONV subset (weights only: w*)", G_CONV, "w*", 3, 1);
        g_free(&g);
    }
}

static void cases_pool(void) {
    static const int types[3] = {G_MAXPOOL, G_AVGPOOL, G_L2POOL};
    static const int ks[3] = {2, 3, 5};
    int ti, ki, v;
    for (ti = 0; ti < 3; ti++)
        for (ki = 0; ki < 3; ki++)
            for (v = 0; v < 3; v++) {
                graph g;
                char label[96];
                int k = ks[ki], s = 1 + (ki + v) % 2, x, a, p, pt, pl, pb, pr, pre = v != 2;
                g_init(&g, 2000u + (unsigned)(ti * 100 + ki * 10 + v));
                if (v == 0) { pt = pl = pb = pr = k / 2; }
                else if (v == 1) { pt = irand(0, k - 1); pl = irand(0, k - 1); pb = irand(0, k - 1); pr = irand(0, k - 1); }
                else { pt = 0; pl = k - 1; pb = k - 1; pr = 0; }
                x = rand_input(&g, k + 1, k, 5);
                a = pre ? pre_conv(&g, x, g_chans[irand(0, 5)], 0) : x;
                p = g_pool(&g, types[ti], a, k, k, s, s, pt, pl, pb, pr);
                if (v != 0 || types[ti] != G_MAXPOOL) tail_dense(&g, p, 0);
                snprintf(label, sizeof label, "%s %dx%d s%d pads %d,%d,%d,%d %dx%dx%d%s", g_op_names[types[ti]], k, k, s, pt,
                         pl, pb, pr, g.op[a].h, g.op[a].w, g.op[a].c, pre ? " (after conv)" : " (raw input)");
                grad_case(&g, label, types[ti], "*", -1, 1 + (ki + v) % 3);
                g_free(&g);
            }
    { /* max pooling after a ReLU conv: exact zeros in the windows, padding zeros win */
        graph g;
        int x;
        g_init(&g, 2400u);
        x = g_input(&g, 8, 7, 1.0f, 0, 0, 0);
        x = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 6, 1);
        x = g_pool(&g, G_MAXPOOL, x, 3, 3, 2, 2, 1, 0, 1, 2);
        tail_dense(&g, x, 0);
        grad_case(&g, "MAXPOOL 3x3 s2 pads 1,0,1,2 after a ReLU conv", G_MAXPOOL, "*", -1, 2);
        g_free(&g);
        g_init(&g, 2401u);
        x = g_input(&g, 7, 7, 1.0f, 0, 0, 0);
        x = g_pool(&g, G_AVGPOOL, x, 7, 7, 1, 1, 0, 0, 0, 0);
        x = g_conv(&g, x, 1, 1, 1, 1, 0, 0, 0, 0, 5, 0);
        grad_case(&g, "AVGPOOL 7x7 over the whole 7x7 input, then 1x1 conv", G_AVGPOOL, "*", -1, 2);
        g_free(&g);
    }
}

static void cases_lrn(void) {
    static const struct { int radius, c; float alpha, beta, bias; } p[8] = {
        {5, 13, 0.3f, 0.75f, 1.0f}, {5, 7, 0.5f, 0.75f, 2.0f}, {5, 17, 0.1f, 0.6f, 1.0f}, {1, 9, 0.3f, 0.75f, 1.0f},
        {2, 17, 0.4f, 0.5f, 1.0f}, {2, 5, 0.2f, 1.0f, 1.0f}, {3, 11, 0.3f, 0.6f, 1.5f}, {0, 4, 0.5f, 0.75f, 1.0f}};
    int i;
    for (i = 0; i < 8; i++) {
        graph g;
        char label[96];
        int x, l;
        g_op *o;
        g_init(&g, 3000u + (unsigned)i);
        x = rand_input(&g, 3, 4, 4);
        x = pre_conv(&g, x, p[i].c, i == 3);
        l = g_simple(&g, G_LRN, x);
        o = &g.op[l];
        o->ip[0] = p[i].radius; o->fp[0] = p[i].alpha; o->fp[1] = p[i].beta; o->fp[2] = p[i].bias;
        if (i % 2) tail_dense(&g, l, 0);
        snprintf(label, sizeof label, "LRN radius %d C %d alpha %g beta %g bias %g%s", p[i].radius, p[i].c, p[i].alpha,
                 p[i].beta, p[i].bias, i % 2 ? " +dense" : "");
        grad_case(&g, label, G_LRN, "*", -1, 1 + i % 3);
        g_free(&g);
    }
}

static void cases_concat(void) {
    graph g;
    int x, c1, c2, ins[4], cat;
    g_init(&g, 4000u);
    x = g_input(&g, 5, 7, 1.0f, 0, 0, 0);
    c1 = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 5, 0);
    ins[0] = c1; ins[1] = x;
    cat = g_concat(&g, 2, ins);
    g_conv(&g, cat, 3, 3, 1, 1, 1, 0, 1, 2, 6, 0);
    grad_case(&g, "CONCAT of 2 (conv 5ch, input 3ch) -> conv", G_CONCAT, "*", -1, 2);
    g_free(&g);

    g_init(&g, 4001u);
    x = g_input(&g, 6, 5, 1.0f, 0, 0, 0);
    c1 = g_conv(&g, x, 1, 1, 1, 1, 0, 0, 0, 0, 7, 0);
    ins[0] = c1; ins[1] = x; ins[2] = c1;
    cat = g_concat(&g, 3, ins);
    tail_dense(&g, cat, 0);
    grad_case(&g, "CONCAT of 3 (conv, input, the same conv again) +dense", G_CONCAT, "*", -1, 3);
    g_free(&g);

    g_init(&g, 4002u);
    x = g_input(&g, 7, 6, 1.0f, 0, 0, 0);
    c1 = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 3, 1);
    c2 = g_conv(&g, x, 1, 1, 1, 1, 0, 0, 0, 0, 17, 0);
    ins[0] = c1; ins[1] = c2; ins[2] = x; ins[3] = c1;
    cat = g_concat(&g, 4, ins);
    g_conv(&g, cat, 3, 3, 2, 2, 0, 1, 1, 0, 9, 0);
    grad_case(&g, "CONCAT of 4 (relu conv 3ch, conv 17ch, input, relu conv) -> conv s2", G_CONCAT, "*", -1, 2);
    g_free(&g);
}

static void cases_dense(void) {
    graph g;
    int x;
    g_init(&g, 5000u);
    x = g_input(&g, 3, 5, 1.0f, 0, 0, 0);
    g_dense(&g, x, 7, 0);
    grad_case(&g, "DENSE 45->7 on the input", G_DENSE, "*", -1, 3);
    g_free(&g);

    g_init(&g, 5001u);
    x = g_input(&g, 5, 3, 1.0f, 0, 0, 0);
    x = pre_conv(&g, x, 7, 0);
    g_dense(&g, x, 17, 1);
    grad_case(&g, "DENSE 105->17 relu (after conv)", G_DENSE, "*", -1, 2);
    g_free(&g);

    g_init(&g, 5002u);
    x = g_input(&g, 4, 4, 1.0f, 0, 0, 0);
    x = g_dense(&g, x, 33, 1);
    g_dense(&g, x, 5, 1);
    grad_case(&g, "DENSE 48->33 relu ->5 relu", G_DENSE, "*", -1, 2);
    g_free(&g);

    g_init(&g, 5003u);
    x = g_input(&g, 3, 3, 1.0f, 0, 0, 0);
    x = g_dense(&g, x, 19, 0);
    g_dense(&g, x, 1, 0);
    grad_case(&g, "DENSE 27->19 ->1", G_DENSE, "*", -1, 1);
    g_free(&g);
}

static void cases_l2norm(void) {
    graph g;
    int x;
    g_init(&g, 6000u);
    x = g_input(&g, 5, 6, 1.0f, 0, 0, 0);
    x = pre_conv(&g, x, 5, 0);
    x = g_simple(&g, G_L2NORM, x);
    tail_dense(&g, x, 0);
    grad_case(&g, "L2NORM of a 5x6x5 conv output +dense", G_L2NORM, "*", -1, 2);
    g_free(&g);

    g_init(&g, 6001u);
    x = g_input(&g, 4, 5, 1.0f, 0, 0, 0);
    x = g_dense(&g, x, 13, 0);
    g_simple(&g, G_L2NORM, x);
    grad_case(&g, "L2NORM of a dense 13-vector (an embedding)", G_L2NORM, "*", -1, 3);
    g_free(&g);

    g_init(&g, 6002u);
    x = g_input(&g, 4, 3, 1.0f, 0, 0, 0);
    x = g_dense(&g, x, 6, 0);
    x = g_simple(&g, G_L2NORM, x);
    g.op[x].fp[0] = 100.0f; /* sum x^2 < eps: y = x / sqrt(eps) */
    grad_case(&g, "L2NORM clamped by eps 100", G_L2NORM, "*", -1, 2);
    g_free(&g);
}

static void cases_add(void) {
    graph g;
    int x, a, b;
    g_init(&g, 7000u);
    x = g_input(&g, 5, 7, 1.0f, 0, 0, 0);
    a = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 7, 0);
    b = g_conv(&g, x, 1, 1, 1, 1, 0, 0, 0, 0, 7, 0);
    x = g_add(&g, a, b, 0);
    tail_dense(&g, x, 0);
    grad_case(&g, "ADD conv + conv (7ch)", G_ADD, "*", -1, 2);
    g_free(&g);

    g_init(&g, 7001u);
    x = g_input(&g, 6, 5, 1.0f, 0, 0, 0);
    a = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 9, 0);
    b = g_conv(&g, x, 3, 3, 1, 1, 0, 2, 2, 0, 9, 1);
    g_add(&g, a, b, 1);
    grad_case(&g, "ADD relu conv + relu conv (9ch), last op", G_ADD, "*", -1, 3);
    g_free(&g);

    g_init(&g, 7002u);
    x = g_input(&g, 5, 5, 1.0f, 0, 0, 0);
    a = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 7, 0);
    x = g_add(&g, a, x, 1);
    tail_dense(&g, x, 0);
    grad_case(&g, "ADD relu conv 7ch + input 3ch (shortcut, fewer channels)", G_ADD, "*", -1, 2);
    g_free(&g);

    g_init(&g, 7003u);
    x = g_input(&g, 4, 6, 1.0f, 0, 0, 0);
    a = g_conv(&g, x, 1, 1, 1, 1, 0, 0, 0, 0, 19, 0);
    b = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 17, 0);
    x = g_add(&g, a, b, 0);
    tail_dense(&g, x, 0);
    grad_case(&g, "ADD conv 19ch + conv 17ch (fewer channels)", G_ADD, "*", -1, 1);
    g_free(&g);

    g_init(&g, 7004u);
    x = g_input(&g, 5, 4, 1.0f, 0, 0, 0);
    a = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 5, 0);
    x = g_add(&g, a, a, 0);
    tail_dense(&g, x, 1);
    grad_case(&g, "ADD of a conv to itself", G_ADD, "*", -1, 2);
    g_free(&g);
}

static void cases_gap_pad_relu(void) {
    graph g;
    int x;
    g_init(&g, 8000u);
    x = g_input(&g, 5, 7, 1.0f, 0, 0, 0);
    x = g_conv(&g, x, 3, 3, 2, 1, 1, 1, 1, 1, 17, 1);
    g_simple(&g, G_GAP, x);
    grad_case(&g, "GAP of a relu conv (17ch), last op", G_GAP, "*", -1, 3);
    g_free(&g);

    g_init(&g, 8001u);
    x = g_input(&g, 7, 4, 1.0f, 0, 0, 0);
    x = g_simple(&g, G_GAP, x);
    g_dense(&g, x, 4, 0);
    grad_case(&g, "GAP of the input +dense", G_GAP, "*", -1, 2);
    g_free(&g);

    g_init(&g, 8100u);
    x = g_input(&g, 5, 6, 1.0f, 0, 0, 0);
    x = pre_conv(&g, x, 5, 0);
    x = g_pad(&g, x, 2, 0, 1, 3);
    g_conv(&g, x, 3, 3, 1, 1, 0, 0, 0, 0, 7, 0);
    grad_case(&g, "PAD 2,0,1,3 then 3x3 valid conv", G_PAD, "*", -1, 2);
    g_free(&g);

    g_init(&g, 8101u);
    x = g_input(&g, 3, 4, 1.0f, 0, 0, 0);
    x = g_pad(&g, x, 0, 0, 0, 1);
    tail_dense(&g, x, 0);
    grad_case(&g, "PAD 0,0,0,1 of the input +dense", G_PAD, "*", -1, 3);
    g_free(&g);

    g_init(&g, 8200u);
    x = g_input(&g, 5, 5, 1.0f, 0, 0, 0);
    x = pre_conv(&g, x, 9, 0);
    x = g_simple(&g, G_RELU, x);
    tail_dense(&g, x, 0);
    grad_case(&g, "RELU after conv +dense", G_RELU, "*", -1, 2);
    g_free(&g);

    g_init(&g, 8201u);
    x = g_input(&g, 4, 5, 1.0f, 0, 0, 0);
    x = g_simple(&g, G_RELU, x);
    g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0);
    grad_case(&g, "RELU of the input -> conv", G_RELU, "*", -1, 2);
    g_free(&g);

    g_init(&g, 8202u);
    x = g_input(&g, 3, 3, 1.0f, 0, 0, 0);
    x = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 6, 0);
    g_simple(&g, G_RELU, x);
    grad_case(&g, "RELU as the last op", G_RELU, "*", -1, 1);
    g_free(&g);
}

/* The Inception-like graph of tests/test_network.c: every op type together. */
static void build_all_ops(graph *g, unsigned seed) {
    int x, c1, p1, b1, b2, b3, b4, cat, pd, l, r, s, a, cat4[4];
    g_init(g, seed);
    x = g_input(g, 13, 11, 1.0f, 0, 0, 0);
    c1 = g_conv(g, x, 7, 7, 2, 2, 3, 2, 3, 4, 10, 1);
    p1 = g_pool(g, G_MAXPOOL, c1, 3, 3, 2, 2, 0, 1, 1, 0);
    l = g_simple(g, G_LRN, p1);
    g->op[l].fp[0] = 0.2f;
    b1 = g_conv(g, l, 1, 1, 1, 1, 0, 0, 0, 0, 13, 1);
    b2 = g_conv(g, l, 3, 3, 1, 1, 1, 1, 1, 1, 11, 1);
    b3 = g_pool(g, G_AVGPOOL, l, 3, 3, 1, 1, 1, 1, 1, 1);
    b4 = g_pool(g, G_L2POOL, l, 3, 3, 1, 1, 0, 0, 2, 2);
    cat4[0] = b1; cat4[1] = b2; cat4[2] = b3; cat4[3] = b4;
    cat = g_concat(g, 4, cat4);
    pd = g_pad(g, cat, 1, 0, 0, 1);
    r = g_conv(g, pd, 2, 2, 1, 1, 0, 0, 0, 0, 21, 0);
    s = g_conv(g, cat, 1, 1, 1, 1, 0, 0, 0, 0, 17, 0);
    a = g_add(g, r, s, 1);
    a = g_simple(g, G_RELU, a);
    x = g_dense(g, a, 21, 0);
    x = g_dense(g, x, 19, 1);
    g_simple(g, G_L2NORM, x);
}

static void cases_all_ops(void) {
    graph g;
    build_all_ops(&g, 12345u);
    grad_case(&g, "all-ops graph (Inception-like, L2NORM output)", 13, "*", -1, 2);
    g_free(&g);
}

/* ---- the trainer's contract ---- */

/* A small graph for the API tests: INPUT 6x5 -> conv 3x3 relu -> maxpool -> dense 8 -> L2NORM.
   Tensors w1 b1 (conv), w3 b3 (dense). */
static void build_small(graph *g, unsigned seed) {
    int x;
    g_init(g, seed);
    x = g_input(g, 6, 5, 1.0f, 0, 0, 0);
    x = g_conv(g, x, 3, 3, 1, 1, 1, 1, 1, 1, 6, 1);
    x = g_pool(g, G_MAXPOOL, x, 2, 2, 2, 2, 0, 0, 0, 1);
    x = g_dense(g, x, 8, 0);
    g_simple(g, G_L2NORM, x);
    g->mk[0] = "network"; g->mv[0] = "gradnet"; g->n_meta = 1;
}

static float *rand_floats(size_t n) {
    float *p = (float *)malloc(n * sizeof(float));
    size_t i;
    for (i = 0; i < n; i++) p[i] = srand1();
    return p;
}

static void test_errors(void) {
    graph g;
    fnet_model *m = NULL;
    fnet_trainer *tr = NULL;
    fnet_trainer_opts o;
    fnet_result r;
    float *x, *gr, emb[3 * 8], gin[6 * 5 * 3 * 3];
    size_t in_n = 6 * 5 * 3;
    build_small(&g, 51u);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load small graph"); g_free(&g); return; }
    x = rand_floats(3 * in_n);
    gr = rand_floats(3 * 8);
    memset(&o, 0, sizeof o);

    /* a pattern that matches nothing */
    o.trainable = "w1,nomatch*";
    r = fnet_trainer_create(m, &o, &tr);
    CHECK(r == FNET_ERR_NOT_FOUND && tr == NULL, "trainable 'w1,nomatch*': %s, want NOT_FOUND", fnet_result_string(r));
    if (tr) fnet_trainer_free(tr);
    tr = NULL;
    {
        char pat[64];
        memset(pat, 'x', sizeof pat);
        r = fnet_trainer_unmatched(m, "w1,nomatch*,b3", pat, sizeof pat);
        CHECK(r == FNET_ERR_NOT_FOUND && strcmp(pat, "nomatch*") == 0, "unmatched names the pattern: %s, '%.20s'",
              fnet_result_string(r), pat);
        r = fnet_trainer_unmatched(m, "w1,nomatch*", pat, 4);
        CHECK(r == FNET_ERR_NOT_FOUND && strlen(pat) < 4, "unmatched into 4 bytes: a truncated, terminated name");
        r = fnet_trainer_unmatched(m, "w*,b1,*3", pat, sizeof pat);
        CHECK(r == FNET_OK && pat[0] == 0, "unmatched: every pattern matches: %s", fnet_result_string(r));
        CHECK(fnet_trainer_unmatched(m, NULL, pat, sizeof pat) == FNET_OK, "unmatched: NULL list means every tensor");
        CHECK(fnet_trainer_unmatched(NULL, "w1", pat, sizeof pat) == FNET_ERR_INVALID_ARGUMENT, "unmatched: NULL model");
    }
    o.trainable = "w9";
    r = fnet_trainer_create(m, &o, &tr);
    CHECK(r == FNET_ERR_NOT_FOUND, "trainable 'w9' (no such tensor): %s", fnet_result_string(r));
    if (tr) fnet_trainer_free(tr);
    tr = NULL;
    /* '.' and '_' alike */
    {
        graph g2;
        fnet_model *m2 = NULL;
        build_small(&g2, 52u);
        strcpy(g2.t[0].name, "block_a.conv_w");
        if (load_graph(&g2, &m2) == FNET_OK) {
            o.trainable = "block_a_conv_w";
            r = fnet_trainer_create(m2, &o, &tr);
            CHECK(r == FNET_OK && tr && fnet_trainer_trainable_count(tr) == 1 &&
                      strcmp(fnet_trainer_trainable_name(tr, 0), "block_a.conv_w") == 0,
                  "'block_a_conv_w' selects 'block_a.conv_w': %s", fnet_result_string(r));
            if (tr) fnet_trainer_free(tr);
            tr = NULL;
            o.trainable = "block?a*";
            r = fnet_trainer_create(m2, &o, &tr);
            CHECK(r == FNET_ERR_NOT_FOUND, "'?' is not a wildcard: %s", fnet_result_string(r));
            if (tr) fnet_trainer_free(tr);
            tr = NULL;
            fnet_model_free(m2);
        } else CHECK(0, "load renamed graph");
        g_free(&g2);
    }
    o.trainable = NULL;
    CHECK(fnet_trainer_create(NULL, &o, &tr) == FNET_ERR_INVALID_ARGUMENT && tr == NULL, "create from NULL model");
    CHECK(fnet_trainer_create(m, &o, NULL) == FNET_ERR_INVALID_ARGUMENT, "create into NULL");
    {
        graph g3;
        fnet_model *lm = NULL;
        g_init(&g3, 1u);
        g3.kind = 2;
        if (load_graph(&g3, &lm) == FNET_OK && lm) {
            r = fnet_trainer_create(lm, &o, &tr);
            CHECK(r != FNET_OK && tr == NULL, "create from a landmarks model: %s", fnet_result_string(r));
            if (tr) fnet_trainer_free(tr);
            tr = NULL;
            fnet_model_free(lm);
        }
        g_free(&g3);
    }

    o.max_batch = 2;
    o.input_grad = 1;
    r = fnet_trainer_create(m, &o, &tr);
    CHECK(r == FNET_OK && tr, "create (max_batch 2): %s", fnet_result_string(r));
    if (!tr) goto out;
    CHECK(fnet_trainer_trainable_count(tr) == 4, "NULL trainable: all 4 tensors (%d)", fnet_trainer_trainable_count(tr));
    CHECK(fnet_trainer_trainable_name(tr, 4) == NULL && fnet_trainer_grad(tr, -1) == NULL, "trainable index out of range: NULL");
    r = fnet_trainer_backward(tr, gr, gin);
    CHECK(r != FNET_OK, "backward before any forward: %s", fnet_result_string(r));
    r = fnet_trainer_forward(tr, x, 0, 3, emb);
    CHECK(r != FNET_OK, "forward of 3 > max_batch 2: %s", fnet_result_string(r));
    r = fnet_trainer_forward(tr, x, 0, 0, emb);
    CHECK(r == FNET_ERR_INVALID_ARGUMENT, "forward of 0 inputs: %s", fnet_result_string(r));
    CHECK(fnet_trainer_forward(NULL, x, 0, 1, emb) == FNET_ERR_INVALID_ARGUMENT, "forward NULL trainer");
    CHECK(fnet_trainer_forward(tr, NULL, 0, 1, emb) == FNET_ERR_INVALID_ARGUMENT, "forward NULL inputs");
    CHECK(fnet_trainer_frontier_size(tr) == 0, "input_grad: frontier size 0 (%zu)", fnet_trainer_frontier_size(tr));
    CHECK(fnet_trainer_forward(tr, x, 1, 1, emb) != FNET_OK, "input_grad: a forward from frontiers is refused");
    CHECK(fnet_trainer_forward(tr, x, 0, 1, NULL) == FNET_OK, "forward with emb NULL");
    {
        float keep = x[in_n + 7];
        x[in_n + 7] = NAN;
        r = fnet_trainer_forward(tr, x, 0, 2, emb);
        CHECK(r == FNET_ERR_NOT_FINITE, "NaN in input 1: %s, want NOT_FINITE", fnet_result_string(r));
        r = fnet_trainer_backward(tr, gr, gin);
        CHECK(r != FNET_OK, "backward after a failed forward: %s (there is no forward to go back through)",
              fnet_result_string(r));
        x[in_n + 7] = INFINITY;
        r = fnet_trainer_forward(tr, x, 0, 2, emb);
        CHECK(r == FNET_ERR_NOT_FINITE, "inf input: %s", fnet_result_string(r));
        x[in_n + 7] = keep;
    }
    /* gradient overflow: NOT_FINITE, and the accumulated gradients are cleared (all of them,
       not a half-added mix); the trainer then works as before */
    {
        float *g0 = (float *)malloc(g.t[0].count * sizeof(float)), *huge = (float *)malloc(16 * sizeof(float));
        const float *gw;
        int i, wi = -1, zero = 1;
        for (i = 0; i < fnet_trainer_trainable_count(tr); i++)
            if (strcmp(fnet_trainer_trainable_name(tr, i), "w1") == 0) wi = i;
        CHECK(wi >= 0, "w1 is trainable");
        r = fnet_trainer_forward(tr, x, 0, 2, emb);
        CHECK(r == FNET_OK, "forward: %s", fnet_result_string(r));
        r = fnet_trainer_backward(tr, gr, gin);
        CHECK(r == FNET_OK, "backward: %s", fnet_result_string(r));
        gw = wi >= 0 ? fnet_trainer_grad(tr, wi) : NULL;
        if (gw) memcpy(g0, gw, g.t[0].count * sizeof(float));
        CHECK(gw && max_abs_f(g0, g.t[0].count) > 0, "a gradient to lose");
        for (i = 0; i < 16; i++) huge[i] = (i % 2 ? -1.0f : 1.0f) * FLT_MAX;
        r = fnet_trainer_forward(tr, x, 0, 2, emb);
        r = r == FNET_OK ? fnet_trainer_backward(tr, huge, gin) : r;
        CHECK(r == FNET_ERR_NOT_FINITE, "grad_emb of +-FLT_MAX: %s, want NOT_FINITE", fnet_result_string(r));
        for (i = 0; i < fnet_trainer_trainable_count(tr); i++) {
            int ti = find_g_tensor(&g, fnet_trainer_trainable_name(tr, i));
            const float *gi = fnet_trainer_grad(tr, i);
            if (ti < 0 || !gi || max_abs_f(gi, g.t[ti].count) != 0) zero = 0;
        }
        CHECK(zero, "after the overflow every accumulated gradient is cleared");
        r = fnet_trainer_forward(tr, x, 0, 2, emb);
        r = r == FNET_OK ? fnet_trainer_backward(tr, gr, gin) : r;
        gw = wi >= 0 ? fnet_trainer_grad(tr, wi) : NULL;
        CHECK(r == FNET_OK && gw && memcmp(gw, g0, g.t[0].count * sizeof(float)) == 0,
              "after the overflow the same backward gives the same gradient again");
        huge[3] = NAN;
        for (i = 0; i < 16; i++) if (i != 3) huge[i] = 0.5f;
        r = fnet_trainer_forward(tr, x, 0, 2, emb);
        r = r == FNET_OK ? fnet_trainer_backward(tr, huge, gin) : r;
        CHECK(r == FNET_ERR_NOT_FINITE || r == FNET_ERR_INVALID_ARGUMENT, "NaN in grad_emb: %s", fnet_result_string(r));
        gw = wi >= 0 ? fnet_trainer_grad(tr, wi) : NULL;
        CHECK(gw && (memcmp(gw, g0, g.t[0].count * sizeof(float)) == 0 || max_abs_f(gw, g.t[0].count) == 0),
              "after a NaN grad_emb the gradients are unchanged or cleared (never NaN or half-added)");
        free(g0);
        free(huge);
    }
    fnet_trainer_free(tr);
    tr = NULL;
    /* input_grad 0: no input gradient to give */
    o.input_grad = 0;
    if (fnet_trainer_create(m, &o, &tr) == FNET_OK) {
        r = fnet_trainer_forward(tr, x, 0, 1, emb);
        CHECK(r == FNET_OK, "forward (input_grad 0)");
        r = fnet_trainer_backward(tr, gr, NULL);
        CHECK(r == FNET_OK, "backward with grad_input NULL (input_grad 0): %s", fnet_result_string(r));
        fnet_trainer_free(tr);
        tr = NULL;
    }
    /* an update whose new weights overflow: NOT_FINITE, weights unchanged */
    o.optimizer = FNET_OPTIMIZER_SGD;
    o.learning_rate = 1e30f;
    o.momentum = -1.0f;
    if (fnet_trainer_create(m, &o, &tr) == FNET_OK) {
        size_t s0 = 0, s1 = 0;
        unsigned char *b0, *b1;
        float big[2 * 8];
        int i;
        for (i = 0; i < 16; i++) big[i] = 1e20f * (i % 3 ? 1.0f : -1.0f);
        fnet_trainer_forward(tr, x, 0, 2, emb);
        r = fnet_trainer_backward(tr, big, NULL);
        b0 = trainer_blob(tr, &s0);
        r = r == FNET_OK ? fnet_trainer_update(tr) : r;
        CHECK(r == FNET_ERR_NOT_FINITE, "update to weights beyond FLT_MAX: %s, want NOT_FINITE", fnet_result_string(r));
        b1 = trainer_blob(tr, &s1);
        CHECK(b0 && b1 && s0 == s1 && memcmp(b0, b1, s0) == 0, "after the failed update the weights are unchanged");
        CHECK(fnet_trainer_step_count(tr) == 0, "failed update: step count %lld, want 0", fnet_trainer_step_count(tr));
        CHECK(find_g_tensor(&g, fnet_trainer_error_detail(tr)) >= 0, "error_detail names the tensor: '%s'",
              fnet_trainer_error_detail(tr));
        free(b0); free(b1);
        fnet_trainer_free(tr);
        tr = NULL;
    }
out:
    free(x); free(gr);
    fnet_model_free(m);
    g_free(&g);
}

/* Two steps of each optimizer against its formula (section 6), simulated in double from the
   gradients the trainer reports: SGD without and with momentum, Adam and AdaGrad, weight decay
   on weights and not on biases. Each step is compared, then the simulation takes the trainer's
   weights (so the bound measures one step's rounding). */
/* A few float roundings (6e-8 each) of the step and one of the weight: worst 2.3e-7 seen
   (Adam; FNET_GRAD_SEED=1..40). */
#define OPT_BOUND 4e-7
static void test_optimizer_steps(void) {
    static const char *const what[4] = {"SGD lr 0.05, no momentum, weight decay 0.1", "SGD lr 0.05, momentum 0.9",
                                        "Adam lr 0.01, weight decay 0.05", "AdaGrad lr 0.05"};
    graph g;
    fnet_model *m = NULL;
    int opt;
    size_t in_n = 6 * 5 * 3;
    float *x, *gr, emb[2 * 8];
    build_small(&g, 61u);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); return; }
    x = rand_floats(2 * in_n);
    gr = rand_floats(2 * 8);
    for (opt = 0; opt < 4; opt++) {
        fnet_trainer *tr = NULL;
        fnet_trainer_opts o;
        double *w[4], *s1[4], *s2[4], lr = opt == 2 ? 0.01 : 0.05, wd = opt == 0 ? 0.1 : opt == 2 ? 0.05 : 0.0;
        float *wf[4];
        size_t cnt[4];
        int i, nt, step;
        double worst = 0;
        memset(&o, 0, sizeof o);
        o.optimizer = opt < 2 ? FNET_OPTIMIZER_SGD : opt == 2 ? FNET_OPTIMIZER_ADAM : FNET_OPTIMIZER_ADAGRAD;
        o.learning_rate = (float)lr;
        o.momentum = opt == 0 ? -1.0f : 0.9f;
        o.weight_decay = (float)wd;
        if (fnet_trainer_create(m, &o, &tr) != FNET_OK) { CHECK(0, "create %s", what[opt]); continue; }
        nt = fnet_trainer_trainable_count(tr);
        CHECK(nt == 4, "4 trainable");
        if (nt != 4) { fnet_trainer_free(tr); continue; }
        CHECK(fabs(fnet_trainer_learning_rate(tr) - lr) < 1e-9, "%s: learning rate %g", what[opt],
              fnet_trainer_learning_rate(tr));
        for (i = 0; i < 4; i++) {
            int ti = find_g_tensor(&g, fnet_trainer_trainable_name(tr, i));
            size_t e;
            cnt[i] = g.t[ti].count;
            w[i] = (double *)malloc(cnt[i] * sizeof(double));
            s1[i] = (double *)calloc(cnt[i], sizeof(double));
            s2[i] = (double *)calloc(cnt[i], sizeof(double));
            wf[i] = (float *)malloc(cnt[i] * sizeof(float));
            for (e = 0; e < cnt[i]; e++) w[i][e] = g.t[ti].data[e];
        }
        for (step = 1; step <= 2; step++) {
            size_t sz = 0;
            unsigned char *blob;
            fnet_trainer_forward(tr, x + (size_t)(step - 1) * in_n, 0, 1, emb);
            fnet_trainer_backward(tr, gr + (step - 1) * 8, NULL);
            for (i = 0; i < 4; i++) { /* the formula, in double */
                const float *gi = fnet_trainer_grad(tr, i);
                int is_w = fnet_trainer_trainable_name(tr, i)[0] == 'w';
                size_t e;
                for (e = 0; e < cnt[i]; e++) {
                    double gg = gi[e] + (is_w ? wd * w[i][e] : 0.0);
                    if (opt < 2) {
                        s1[i][e] = (opt == 1 ? 0.9 * s1[i][e] : 0.0) + gg;
                        w[i][e] -= lr * s1[i][e];
                    } else if (opt == 2) {
                        s1[i][e] = 0.9 * s1[i][e] + 0.1 * gg;
                        s2[i][e] = 0.999 * s2[i][e] + 0.001 * gg * gg;
                        w[i][e] -= lr * (s1[i][e] / (1 - pow(0.9, step))) / (sqrt(s2[i][e] / (1 - pow(0.999, step))) + 1e-8);
                    } else {
                        s2[i][e] += gg * gg;
                        w[i][e] -= lr * gg / (sqrt(s2[i][e]) + 1e-8);
                    }
                }
            }
            CHECK(fnet_trainer_update(tr) == FNET_OK, "%s: update", what[opt]);
            CHECK(fnet_trainer_step_count(tr) == step, "%s: step count %d", what[opt], step);
            CHECK(max_abs_f(fnet_trainer_grad(tr, 0), cnt[0]) == 0, "%s: update zeroes the gradients", what[opt]);
            blob = trainer_blob(tr, &sz);
            for (i = 0; i < 4; i++) {
                const char *nm = fnet_trainer_trainable_name(tr, i);
                size_t e;
                if (!blob || !blob_floats(blob, sz, nm, wf[i], cnt[i])) { CHECK(0, "read %s", nm); continue; }
                for (e = 0; e < cnt[i]; e++) {
                    double d = fabs(wf[i][e] - w[i][e]) / (fabs(w[i][e]) + lr);
                    if (d > worst) worst = d;
                    w[i][e] = wf[i][e];
                }
            }
            free(blob);
        }
        fprintf(stderr, "optimizer %s: max deviation from the formula %.2e of (|w| + lr) (bound %.0e)\n", what[opt],
                worst, OPT_BOUND);
        CHECK(worst <= OPT_BOUND, "%s: 2 steps follow the formula (max deviation %.3g of |w| + lr)", what[opt], worst);
        for (i = 0; i < 4; i++) { free(w[i]); free(s1[i]); free(s2[i]); free(wf[i]); }
        fnet_trainer_free(tr);
    }
    free(x); free(gr);
    fnet_model_free(m);
    g_free(&g);
}

/* Learning-rate schedules: the rate for the next update after each step. */
static void test_schedules(void) {
    graph g;
    fnet_model *m = NULL;
    int sched, step;
    build_small(&g, 65u);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); return; }
    for (sched = 0; sched < 2; sched++) {
        fnet_trainer *tr = NULL;
        fnet_trainer_opts o;
        double worst = 0;
        memset(&o, 0, sizeof o);
        o.learning_rate = 0.1f;
        o.schedule = sched == 0 ? FNET_LR_STEP : FNET_LR_COSINE;
        o.step_every = 3;
        o.step_gamma = 0.5f;
        o.total_steps = 8;
        if (fnet_trainer_create(m, &o, &tr) != FNET_OK) { CHECK(0, "create"); continue; }
        for (step = 0; step <= 8; step++) {
            double want = sched == 0 ? 0.1 * pow(0.5, step / 3) : 0.1 * (1 + cos(3.14159265358979 * step / 8)) / 2;
            double d = fabs(fnet_trainer_learning_rate(tr) - want);
            if (d > worst) worst = d;
            fnet_trainer_update(tr); /* no gradients: the weights stay, the step counts */
        }
        CHECK(fnet_trainer_step_count(tr) == 9, "%s: 9 steps", sched == 0 ? "step" : "cosine");
        CHECK(worst <= 1e-8, "%s schedule: learning rate per step off by %.3g at most", sched == 0 ? "step" : "cosine",
              worst);
        fnet_trainer_free(tr);
    }
    fnet_model_free(m);
    g_free(&g);
}

/* fnet_trainer_step_triplet = forward, fnet_triplet_select, fnet_triplet_loss, backward, update
   by hand (bit-identical weights and the same loss); a batch without a triplet changes nothing. */
static void test_step_triplet(void) {
    graph g;
    fnet_model *m = NULL;
    fnet_trainer *ta = NULL, *tb = NULL;
    fnet_trainer_opts o;
    static const int labels[8] = {0, 0, 1, 1, 2, 2, 0, 1}, distinct[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    size_t in_n = 6 * 5 * 3, sa = 0, sb = 0;
    float *x, emb[8 * 8], grad[8 * 8], la = 0, lb = 0;
    fnet_triplet trip[512];
    int nt = 0, na = 0, nta = 0, naa = 0;
    unsigned char *ba, *bb;
    fnet_result r;
    build_small(&g, 131u);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); return; }
    x = rand_floats(8 * in_n);
    memset(&o, 0, sizeof o);
    o.max_batch = 8;
    o.learning_rate = 0.01f;
    if (fnet_trainer_create(m, &o, &ta) != FNET_OK || fnet_trainer_create(m, &o, &tb) != FNET_OK) {
        CHECK(0, "create");
        goto out;
    }
    r = fnet_trainer_step_triplet(ta, x, 0, labels, 8, 0.2f, FNET_TRIPLET_SEMI_HARD, &la, &nta, &naa);
    CHECK(r == FNET_OK && nta > 0 && naa > 0 && la > 0, "step_triplet: %s, loss %g, %d triplets, %d active",
          fnet_result_string(r), la, nta, naa);
    fnet_trainer_forward(tb, x, 0, 8, emb);
    fnet_triplet_select(emb, labels, 8, 8, 0.2f, FNET_TRIPLET_SEMI_HARD, trip, 512, &nt);
    fnet_triplet_loss(emb, 8, 8, trip, nt < 512 ? nt : 512, 0.2f, &lb, grad, &na);
    fnet_trainer_backward(tb, grad, NULL);
    fnet_trainer_update(tb);
    CHECK(nt == nta && na == naa && la == lb, "step_triplet: loss %g and counts %d/%d as by hand (%g, %d/%d)", la, nta,
          naa, lb, nt, na);
    ba = trainer_blob(ta, &sa);
    bb = trainer_blob(tb, &sb);
    CHECK(ba && bb && sa == sb && memcmp(ba, bb, sa) == 0, "step_triplet: weights bit-identical to the steps by hand");
    free(bb);
    r = fnet_trainer_step_triplet(ta, x, 0, distinct, 8, 0.2f, FNET_TRIPLET_SEMI_HARD, &la, &nta, &naa);
    bb = trainer_blob(ta, &sb);
    CHECK(r == FNET_OK && nta == 0 && la == 0, "step_triplet without positives: %s, %d triplets, loss %g",
          fnet_result_string(r), nta, la);
    CHECK(ba && bb && sa == sb && memcmp(ba, bb, sa) == 0 && fnet_trainer_step_count(ta) == 1,
          "a batch without a triplet changes nothing (step count %lld)", fnet_trainer_step_count(ta));
    free(ba); free(bb);
out:
    if (ta) fnet_trainer_free(ta);
    if (tb) fnet_trainer_free(tb);
    free(x);
    fnet_model_free(m);
    g_free(&g);
}

/* Frozen tensors stay byte-identical through updates; trained ones change; the original model
   (loaded zero-copy from the caller's 64-byte aligned blob) and its blob are untouched; the
   trainer's model embeds with the current weights. */
static void test_frozen(void) {
    graph g;
    fnet_model *m = NULL;
    fnet_trainer *tr = NULL;
    fnet_trainer_opts o;
    size_t in_n = 6 * 5 * 3, sz = 0, osz = 0;
    float *x, *gr, emb[3 * 8], before[8], after[8], tm[8];
    unsigned char *blob, *orig = NULL, *raw = NULL, *al;
    int step, i;
    build_small(&g, 71u);
    orig = g_write(&g, &osz);
    raw = (unsigned char *)malloc(osz + 64);
    al = raw + (64 - (size_t)raw % 64) % 64;
    memcpy(al, orig, osz);
    if (fnet_model_load_memory(al, osz, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); free(orig); free(raw); return; }
    CHECK(fnet_model_is_zero_copy(m), "an aligned blob is used in place");
    x = rand_floats(3 * in_n);
    gr = rand_floats(3 * 8);
    fnet_model_set_isa(m, FNET_ISA_SCALAR);
    fnet_embed_tensor(m, x, NULL, 0, before);
    memset(&o, 0, sizeof o);
    o.trainable = "w1,b3";
    o.learning_rate = 0.01f;
    if (fnet_trainer_create(m, &o, &tr) != FNET_OK) { CHECK(0, "create"); goto out; }
    CHECK(fnet_trainer_trainable_count(tr) == 2, "'w1,b3': 2 trainable (%d)", fnet_trainer_trainable_count(tr));
    CHECK(fnet_trainer_memory(tr) > 0, "trainer memory %zu bytes", fnet_trainer_memory(tr));
    for (step = 0; step < 3; step++) {
        CHECK(fnet_trainer_forward(tr, x, 0, 3, emb) == FNET_OK, "forward step %d", step);
        CHECK(fnet_trainer_backward(tr, gr, NULL) == FNET_OK, "backward step %d", step);
        CHECK(fnet_trainer_update(tr) == FNET_OK, "update step %d", step);
    }
    CHECK(fnet_trainer_step_count(tr) == 3, "3 steps (%lld)", fnet_trainer_step_count(tr));
    blob = trainer_blob(tr, &sz);
    CHECK(blob != NULL, "save_blob");
    for (i = 0; blob && i < g.n_t; i++) {
        size_t nb = 0;
        const unsigned char *p = blob_tensor(blob, sz, g.t[i].name, &nb);
        int trained = strcmp(g.t[i].name, "w1") == 0 || strcmp(g.t[i].name, "b3") == 0;
        CHECK(p && nb == g.t[i].count * 4, "saved blob has %s", g.t[i].name);
        if (!p || nb != g.t[i].count * 4) continue;
        if (trained) CHECK(memcmp(p, g.t[i].data, nb) != 0, "trained %s changed", g.t[i].name);
        else CHECK(memcmp(p, g.t[i].data, nb) == 0, "frozen %s byte-identical after 3 updates", g.t[i].name);
    }
    free(blob);
    fnet_embed_tensor(m, x, NULL, 0, after);
    CHECK(memcmp(before, after, sizeof before) == 0, "the original model is untouched");
    CHECK(memcmp(al, orig, osz) == 0, "the caller's blob under the zero-copy model is untouched");
    CHECK(fnet_trainer_forward(tr, x, 0, 1, emb) == FNET_OK &&
              fnet_embed_tensor(fnet_trainer_model(tr), x, NULL, 0, tm) == FNET_OK && memcmp(tm, emb, sizeof tm) == 0 &&
              memcmp(tm, before, sizeof tm) != 0,
          "fnet_trainer_model embeds with the trained weights (as the trainer's forward)");
    fnet_trainer_free(tr);
    tr = NULL;
    /* the model (and its blob) may be freed once the trainer exists */
    if (fnet_trainer_create(m, &o, &tr) == FNET_OK) {
        fnet_model_free(m);
        m = NULL;
        memset(raw, 0xAB, osz + 64);
        free(raw);
        raw = NULL;
        CHECK(fnet_trainer_forward(tr, x, 0, 3, emb) == FNET_OK && fnet_trainer_backward(tr, gr, NULL) == FNET_OK &&
                  fnet_trainer_update(tr) == FNET_OK,
              "a trainer runs after its model and the model's blob were freed");
        fnet_trainer_free(tr);
    }
out:
    free(x); free(gr); free(orig); free(raw);
    if (m) fnet_model_free(m);
    g_free(&g);
}

/* Frontier: forward from frontiers = forward from inputs (embeddings and gradients identical). */
static void test_frontier(void) {
    graph g;
    fnet_model *m = NULL;
    int x, c1, p, l, c2, c3, cat, d, ins[2], k;
    size_t in_n, fs, want_fs, dim = 10;
    float *xin, *gr;
    g_init(&g, 81u);
    x = g_input(&g, 9, 8, 1.0f, 0, 0, 0);
    c1 = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 6, 1);          /* frozen */
    p = g_pool(&g, G_MAXPOOL, c1, 3, 3, 2, 2, 1, 1, 1, 1);     /* frozen */
    l = g_simple(&g, G_LRN, p);                                /* frozen */
    c2 = g_conv(&g, l, 1, 1, 1, 1, 0, 0, 0, 0, 5, 1);          /* trained: w4 b4 */
    c3 = g_conv(&g, l, 3, 3, 1, 1, 1, 1, 1, 1, 7, 0);          /* frozen: w5 b5 */
    ins[0] = c2; ins[1] = c3;
    cat = g_concat(&g, 2, ins);
    d = g_dense(&g, cat, (int)dim, 0);                         /* trained: w7 b7 */
    g_simple(&g, G_L2NORM, d);
    in_n = op_elems(&g, 0);
    want_fs = op_elems(&g, l) + op_elems(&g, c3);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load frontier graph"); g_free(&g); return; }
    xin = rand_floats(3 * in_n);
    gr = rand_floats(3 * dim);
    for (k = 0; k < NISA; k++) {
        fnet_trainer *ta = NULL, *tb = NULL;
        fnet_trainer_opts o;
        float *fr, ea[3 * 10], eb[3 * 10];
        int i, same_g = 1;
        if (!fnet_isa_supported(g_isas[k])) continue;
        fnet_model_set_isa(m, g_isas[k]);
        memset(&o, 0, sizeof o);
        o.trainable = "w4,b4,*7";
        o.max_batch = 4;
        if (fnet_trainer_create(m, &o, &ta) != FNET_OK || fnet_trainer_create(m, &o, &tb) != FNET_OK) {
            CHECK(0, "create frontier trainers");
            if (ta) fnet_trainer_free(ta);
            if (tb) fnet_trainer_free(tb);
            continue;
        }
        CHECK(fnet_trainer_trainable_count(ta) == 4, "'w4,b4,*7': 4 trainable (%d)", fnet_trainer_trainable_count(ta));
        fs = fnet_trainer_frontier_size(ta);
        CHECK(fs == want_fs || fs == op_elems(&g, l),
              "frontier size %zu floats, want %zu (the LRN output read by the trained conv + the frozen conv's output "
              "read by the concat) or %zu (the LRN output alone)", fs, want_fs, op_elems(&g, l));
        if (k == 0) fprintf(stderr, "frontier: %zu floats per input (LRN output %zu, frozen conv output %zu)\n", fs,
                            op_elems(&g, l), op_elems(&g, c3));
        if (fs == 0) { fnet_trainer_free(ta); fnet_trainer_free(tb); continue; }
        fr = (float *)malloc(3 * fs * sizeof(float));
        for (i = 0; i < 3; i++)
            CHECK(fnet_trainer_frontier(ta, xin + i * in_n, fr + i * fs) == FNET_OK, "frontier of input %d", i);
        CHECK(fnet_trainer_forward(ta, xin, 0, 3, ea) == FNET_OK, "forward from inputs");
        CHECK(fnet_trainer_forward(tb, fr, 1, 3, eb) == FNET_OK, "forward from frontiers");
        CHECK(memcmp(ea, eb, sizeof ea) == 0, "%s: embeddings from frontiers identical to those from inputs",
              fnet_isa_name(g_isas[k]));
        CHECK(fnet_trainer_backward(ta, gr, NULL) == FNET_OK && fnet_trainer_backward(tb, gr, NULL) == FNET_OK, "backward");
        for (i = 0; i < 4; i++) {
            int ti = find_g_tensor(&g, fnet_trainer_trainable_name(ta, i));
            if (ti < 0 || memcmp(fnet_trainer_grad(ta, i), fnet_trainer_grad(tb, i), g.t[ti].count * sizeof(float)) != 0)
                same_g = 0;
        }
        CHECK(same_g, "%s: gradients from frontiers identical to those from inputs", fnet_isa_name(g_isas[k]));
        { /* and a NaN frontier is refused like a NaN input */
            fr[5] = NAN;
            CHECK(fnet_trainer_forward(tb, fr, 1, 1, eb) == FNET_ERR_NOT_FINITE, "NaN frontier: NOT_FINITE");
        }
        free(fr);
        fnet_trainer_free(ta);
        fnet_trainer_free(tb);
    }
    free(xin); free(gr);
    fnet_model_free(m);
    g_free(&g);
}

/* Runs `steps` forward/backward/update steps of Adam on fixed batches. */
static void run_steps(fnet_trainer *tr, const float *x, const float *gr, size_t in_n, size_t dim, int from, int steps) {
    int s;
    float emb[4 * 8];
    for (s = from; s < from + steps; s++) {
        fnet_trainer_forward(tr, x + (size_t)(s % 3) * in_n, 0, 2, emb);
        fnet_trainer_backward(tr, gr + (size_t)(s % 2) * dim, NULL);
        fnet_trainer_update(tr);
    }
}

static void test_state(void) {
    graph g;
    fnet_model *m = NULL;
    fnet_trainer *ta = NULL, *tb = NULL, *tc = NULL;
    fnet_trainer_opts o;
    size_t in_n = 6 * 5 * 3, ss = 0, s2 = 0, sa = 0, sb = 0;
    float *x, *gr;
    unsigned char *state = NULL, *ba = NULL, *bb = NULL;
    fnet_result r;
    build_small(&g, 91u);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); return; }
    x = rand_floats(4 * in_n);
    gr = rand_floats(4 * 8);
    memset(&o, 0, sizeof o);
    o.learning_rate = 0.01f;
    o.trainable = "w*,b3";
    if (fnet_trainer_create(m, &o, &ta) != FNET_OK || fnet_trainer_create(m, &o, &tb) != FNET_OK) {
        CHECK(0, "create");
        goto out;
    }
    run_steps(ta, x, gr, in_n, 8, 0, 2);
    r = fnet_trainer_save_state(ta, NULL, 0, &ss);
    CHECK(r == FNET_OK && ss > 0, "state size query: %s, %zu bytes", fnet_result_string(r), ss);
    state = (unsigned char *)malloc(ss + 1);
    CHECK(fnet_trainer_save_state(ta, state, ss - 1, &s2) != FNET_OK, "save_state into a buffer 1 byte short fails");
    r = fnet_trainer_save_state(ta, state, ss, &s2);
    CHECK(r == FNET_OK && s2 == ss, "save_state: %s", fnet_result_string(r));
    run_steps(ta, x, gr, in_n, 8, 2, 2);
    CHECK(fnet_trainer_load_state(tb, state, ss - 1) != FNET_OK, "truncated state refused");
    r = fnet_trainer_load_state(tb, state, ss);
    CHECK(r == FNET_OK, "load_state: %s", fnet_result_string(r));
    CHECK(fnet_trainer_step_count(tb) == 2, "loaded step count %lld, want 2", fnet_trainer_step_count(tb));
    run_steps(tb, x, gr, in_n, 8, 2, 2);
    ba = trainer_blob(ta, &sa);
    bb = trainer_blob(tb, &sb);
    CHECK(ba && bb && sa == sb && memcmp(ba, bb, sa) == 0,
          "2 steps, save, load into a fresh trainer, 2 more steps = 4 steps straight (Adam moments restored)");
    CHECK(fnet_trainer_step_count(tb) == 4, "step count 4");
    {
        unsigned char *bad = (unsigned char *)malloc(ss);
        memcpy(bad, state, ss);
        bad[ss / 2] ^= 0x5a;
        bad[ss - 1] ^= 0x5a;
        r = fnet_trainer_load_state(tb, bad, ss);
        CHECK(r != FNET_OK, "state with 2 flipped bytes refused: %s", fnet_result_string(r));
        CHECK(fnet_trainer_step_count(tb) == 4, "a refused state changes nothing (step count %lld)",
              fnet_trainer_step_count(tb));
        free(bad);
    }
    /* another trainable set */
    o.trainable = "w1";
    if (fnet_trainer_create(m, &o, &tc) == FNET_OK) {
        r = fnet_trainer_load_state(tc, state, ss);
        CHECK(r == FNET_ERR_MISMATCH, "state of another trainable set: %s, want MISMATCH", fnet_result_string(r));
        fnet_trainer_free(tc);
        tc = NULL;
    }
    o.trainable = "w*,b3";
    o.optimizer = FNET_OPTIMIZER_SGD;
    if (fnet_trainer_create(m, &o, &tc) == FNET_OK) {
        r = fnet_trainer_load_state(tc, state, ss);
        CHECK(r == FNET_ERR_MISMATCH, "state of another optimizer: %s, want MISMATCH", fnet_result_string(r));
        fnet_trainer_free(tc);
        tc = NULL;
    }
    o.optimizer = FNET_OPTIMIZER_ADAM;
    {
        graph g2;
        fnet_model *m2 = NULL;
        build_small(&g2, 92u); /* same shapes and names, other weights: another network? */
        g2.mv[0] = "othernet";
        if (load_graph(&g2, &m2) == FNET_OK && fnet_trainer_create(m2, &o, &tc) == FNET_OK) {
            r = fnet_trainer_load_state(tc, state, ss);
            CHECK(r == FNET_ERR_MISMATCH, "state of another network (id othernet): %s, want MISMATCH",
                  fnet_result_string(r));
            fnet_trainer_free(tc);
            tc = NULL;
        }
        fnet_model_free(m2);
        g_free(&g2);
    }
#ifndef FNET_NO_STDIO
    {
        const char *path = g_sanitized ? "build/tests/test_grad.san.state" : "build/tests/test_grad.state";
        fnet_trainer *td = NULL;
        o.trainable = "w*,b3";
        r = fnet_trainer_save_state_file(tb, path);
        CHECK(r == FNET_OK, "save_state_file: %s", fnet_result_string(r));
        if (fnet_trainer_create(m, &o, &td) == FNET_OK) {
            unsigned char *bd;
            size_t sd = 0;
            r = fnet_trainer_load_state_file(td, path);
            CHECK(r == FNET_OK && fnet_trainer_step_count(td) == 4, "load_state_file: %s", fnet_result_string(r));
            bd = trainer_blob(td, &sd);
            CHECK(bd && bb && sd == sb && memcmp(bd, bb, sd) == 0, "state file round trip gives the same weights");
            free(bd);
            fnet_trainer_free(td);
        }
        remove(path);
    }
#endif
out:
    if (ta) fnet_trainer_free(ta);
    if (tb) fnet_trainer_free(tb);
    if (tc) fnet_trainer_free(tc);
    free(state); free(ba); free(bb); free(x); free(gr);
    fnet_model_free(m);
    g_free(&g);
}

static void test_save_blob(void) {
    graph g;
    fnet_model *m = NULL, *m2 = NULL, *m3 = NULL;
    fnet_trainer *tr = NULL;
    fnet_trainer_opts o;
    size_t in_n = 6 * 5 * 3, sz = 0, sz2 = 0, e;
    float *x, *gr, a[8], b[8];
    unsigned char *blob = NULL;
    fnet_result r;
    build_small(&g, 101u);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); return; }
    x = rand_floats(4 * in_n);
    gr = rand_floats(4 * 8);
    memset(&o, 0, sizeof o);
    o.learning_rate = 0.01f;
    o.trainable = "w1,w3";
    fnet_model_set_isa(m, FNET_ISA_SCALAR);
    if (fnet_trainer_create(m, &o, &tr) != FNET_OK) { CHECK(0, "create"); goto out; }
    run_steps(tr, x, gr, in_n, 8, 0, 3);
    r = fnet_trainer_save_blob(tr, NULL, NULL, 0, NULL, 0, &sz);
    CHECK(r == FNET_OK && sz > 0, "save_blob size query: %s (%zu bytes)", fnet_result_string(r), sz);
    blob = (unsigned char *)malloc(sz);
    CHECK(fnet_trainer_save_blob(tr, NULL, NULL, 0, blob, sz - 1, &sz2) != FNET_OK, "save_blob 1 byte short fails");
    r = fnet_trainer_save_blob(tr, NULL, NULL, 0, blob, sz, &sz2);
    CHECK(r == FNET_OK && sz2 == sz, "save_blob: %s", fnet_result_string(r));
    r = fnet_model_load_memory(blob, sz, &m2);
    CHECK(r == FNET_OK, "the saved blob loads: %s", fnet_result_string(r));
    if (m2) {
        const char *id0 = fnet_network_id(m), *id1 = fnet_network_id(m2), *v;
        double err = 0;
        CHECK(id1 && strcmp(id0, "gradnet") == 0 && strcmp(id1, "gradnet+trained") == 0,
              "network id '%s' -> '%s' (want gradnet+trained)", id0, id1 ? id1 : "(null)");
        v = fnet_model_meta(m2, "trained_from");
        CHECK(v && strcmp(v, "gradnet") == 0, "trained_from = '%s'", v ? v : "(null)");
        v = fnet_model_meta(m2, "trained_steps");
        CHECK(v && strcmp(v, "3") == 0, "trained_steps = '%s'", v ? v : "(null)");
        v = fnet_model_meta(m2, "trained_tensors");
        CHECK(v && strstr(v, "w1") && strstr(v, "w3") && !strstr(v, "b1"), "trained_tensors = '%s'", v ? v : "(null)");
        /* its weights are the trainer's: same embeddings as the trainer's model, and as the
           reference run with the saved weights */
        fnet_model_set_isa(m2, FNET_ISA_SCALAR);
        fnet_embed_tensor(m2, x, NULL, 0, a);
        fnet_embed_tensor(fnet_trainer_model(tr), x, NULL, 0, b);
        CHECK(memcmp(a, b, sizeof a) == 0, "the loaded blob embeds as the trainer's model");
        {
            int i, ok = 1;
            size_t n;
            double *ref;
            for (i = 0; i < g.n_t; i++) ok &= blob_floats(blob, sz, g.t[i].name, g.t[i].data, g.t[i].count);
            CHECK(ok, "read the saved weights");
            ref = g_reference(&g, x, &n);
            for (e = 0; e < n; e++) if (fabs(a[e] - ref[e]) > err) err = fabs(a[e] - ref[e]);
            CHECK(n == 8 && err <= FWD_BOUND, "the loaded blob vs the reference with the saved weights: %.3g", err);
            free(ref);
        }
        fnet_model_free(m2);
    }
    { /* the caller's id and metadata */
        static const char *const keys[2] = {"network", "note"}, *const vals[2] = {"my-net", "fine-tuned"};
        size_t s3 = 0;
        unsigned char *b3;
        fnet_trainer_save_blob(tr, keys, vals, 2, NULL, 0, &s3);
        b3 = (unsigned char *)malloc(s3 ? s3 : 1);
        r = fnet_trainer_save_blob(tr, keys, vals, 2, b3, s3, &s3);
        CHECK(r == FNET_OK && fnet_model_load_memory(b3, s3, &m3) == FNET_OK, "save_blob with metadata");
        if (m3) {
            const char *v = fnet_model_meta(m3, "note");
            CHECK(strcmp(fnet_network_id(m3), "my-net") == 0, "network id given by the caller: '%s'", fnet_network_id(m3));
            CHECK(v && strcmp(v, "fine-tuned") == 0, "caller's metadata kept");
            fnet_model_free(m3);
        }
        free(b3);
    }
#ifndef FNET_NO_STDIO
    {
        const char *path = g_sanitized ? "build/tests/test_grad.san.fnet" : "build/tests/test_grad.fnet";
        fnet_model *m4 = NULL;
        r = fnet_trainer_save_blob_file(tr, NULL, NULL, 0, path);
        CHECK(r == FNET_OK && fnet_model_load_file(path, &m4) == FNET_OK, "save_blob_file + load_file: %s",
              fnet_result_string(r));
        if (m4) {
            fnet_model_set_isa(m4, FNET_ISA_SCALAR);
            fnet_embed_tensor(m4, x, NULL, 0, b);
            CHECK(memcmp(a, b, sizeof a) == 0, "the file blob embeds as the memory blob");
            fnet_model_free(m4);
        }
        remove(path);
    }
#endif
    fnet_trainer_free(tr);
out:
    free(blob); free(x); free(gr);
    fnet_model_free(m);
    g_free(&g);
}

/* After updates the trainer repacks what it changed (GEMM panels, W^T for dL/dx, Winograd U):
   its forward and backward then equal those of a fresh trainer made from its saved blob, bit
   for bit, on every kernel set, and its forward equals the reference with the saved weights. */
static void test_repack(void) {
    graph g;
    fnet_model *m = NULL;
    int x, k;
    size_t in_n, dim = 6, e;
    float *xin, *gr;
    g_init(&g, 141u);
    x = g_input(&g, 9, 8, 1.0f, 0, 0, 0);
    x = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 9, 1);
    x = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 17, 0); /* Cin >= 8, Cout >= 16, 72 pixels: Winograd on AVX2 */
    g_dense(&g, x, (int)dim, 0);
    in_n = op_elems(&g, 0);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); return; }
    xin = rand_floats(2 * in_n);
    gr = rand_floats(2 * dim);
    for (k = 0; k < NISA; k++) {
        fnet_trainer *ta = NULL, *tb = NULL;
        fnet_trainer_opts o;
        fnet_model *m2 = NULL;
        unsigned char *blob = NULL;
        size_t sz = 0;
        float ea[2 * 6], eb[2 * 6], *ga = (float *)malloc(2 * in_n * sizeof(float)),
              *gb = (float *)malloc(2 * in_n * sizeof(float));
        int step, i, same = 1;
        if (!fnet_isa_supported(g_isas[k])) { free(ga); free(gb); continue; }
        fnet_model_set_isa(m, g_isas[k]);
        memset(&o, 0, sizeof o);
        o.learning_rate = 0.05f;
        o.input_grad = 1;
        o.max_batch = 2;
        if (fnet_trainer_create(m, &o, &ta) != FNET_OK) { CHECK(0, "create"); free(ga); free(gb); continue; }
        for (step = 0; step < 2; step++) {
            fnet_trainer_forward(ta, xin, 0, 2, NULL);
            fnet_trainer_backward(ta, gr, ga);
            CHECK(fnet_trainer_update(ta) == FNET_OK, "update");
        }
        blob = trainer_blob(ta, &sz);
        if (blob && fnet_model_load_memory(blob, sz, &m2) == FNET_OK) {
            fnet_model_set_isa(m2, g_isas[k]);
            if (fnet_trainer_create(m2, &o, &tb) == FNET_OK) {
                double err = 0, scale = 1;
                CHECK(fnet_trainer_forward(ta, xin, 0, 2, ea) == FNET_OK && fnet_trainer_forward(tb, xin, 0, 2, eb) == FNET_OK,
                      "forward");
                if (memcmp(ea, eb, sizeof ea) != 0) same = 0;
                CHECK(fnet_trainer_backward(ta, gr, ga) == FNET_OK && fnet_trainer_backward(tb, gr, gb) == FNET_OK,
                      "backward");
                if (memcmp(ga, gb, 2 * in_n * sizeof(float)) != 0) same = 0;
                for (i = 0; i < fnet_trainer_trainable_count(ta); i++) {
                    int ti = find_g_tensor(&g, fnet_trainer_trainable_name(ta, i));
                    if (ti < 0 || memcmp(fnet_trainer_grad(ta, i), fnet_trainer_grad(tb, i), g.t[ti].count * sizeof(float)))
                        same = 0;
                }
                CHECK(same, "%s: after 2 updates, forward and backward bit-identical to a fresh trainer of the saved blob",
                      fnet_isa_name(g_isas[k]));
                for (i = 0; i < g.n_t; i++) CHECK(blob_floats(blob, sz, g.t[i].name, g.t[i].data, g.t[i].count), "read");
                for (i = 0; i < 2; i++) {
                    size_t n;
                    double *ref = g_reference(&g, xin + (size_t)i * in_n, &n);
                    for (e = 0; e < n; e++) if (fabs(ref[e]) > scale) scale = fabs(ref[e]);
                    for (e = 0; e < n; e++) if (fabs(ea[i * dim + e] - ref[e]) > err) err = fabs(ea[i * dim + e] - ref[e]);
                    free(ref);
                }
                CHECK(err / scale <= FWD_BOUND, "%s: after 2 updates the forward vs the reference with the saved weights: "
                      "%.3g (bound %.2g)", fnet_isa_name(g_isas[k]), err / scale, FWD_BOUND);
                fnet_trainer_free(tb);
            } else CHECK(0, "create from the saved blob");
            fnet_model_free(m2);
        } else CHECK(0, "save and load the blob");
        free(blob); free(ga); free(gb);
        fnet_trainer_free(ta);
    }
    free(xin); free(gr);
    fnet_model_free(m);
    g_free(&g);
}

/* input_from_rgb normalises as fnet_embed does. */
static void test_input_from_rgb(void) {
    graph g;
    fnet_model *m = NULL;
    fnet_trainer *tr = NULL;
    unsigned char rgb[8 * 8 * 3];
    float t[8 * 8 * 3], a[6], b[6];
    size_t i;
    int x;
    g_init(&g, 111u);
    x = g_input(&g, 8, 8, 127.5f, 127.5f, 100.0f, 50.0f);
    x = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1);
    g_dense(&g, x, 6, 0);
    g.mk[0] = "input_size"; g.mv[0] = "8"; g.n_meta = 1;
    if (load_graph(&g, &m) != FNET_OK || fnet_trainer_create(m, NULL, &tr) != FNET_OK) {
        CHECK(0, "load + create (opts NULL: defaults)");
    } else {
        for (i = 0; i < sizeof rgb; i++) rgb[i] = (unsigned char)(i * 53 % 256);
        CHECK(fnet_trainer_input_from_rgb(tr, rgb, t) == FNET_OK, "input_from_rgb");
        CHECK(fnet_embed(m, rgb, NULL, 0, a) == FNET_OK && fnet_embed_tensor(m, t, NULL, 0, b) == FNET_OK &&
                  memcmp(a, b, sizeof a) == 0,
              "embed(rgb) == embed_tensor(input_from_rgb(rgb))");
        CHECK(fabs(t[5] - (rgb[5] - 50.0f) / 127.5f) < 1e-6, "t[5] = (rgb - mean b) / divisor");
    }
    if (tr) fnet_trainer_free(tr);
    fnet_model_free(m);
    g_free(&g);
}

/* ---- thread-count independence ---- */

typedef struct pool_ctx {
    fnet_task_fn fn;
    void *ctx;
    int n_tasks, next;
    pthread_mutex_t mu;
} pool_ctx;
typedef struct pf_user {
    int threads;  /* 0: serial in order, -1: serial in reverse, n: n pthreads */
    int calls, max_tasks;
} pf_user;

static void *pool_worker(void *p) {
    pool_ctx *c = (pool_ctx *)p;
    for (;;) {
        int t;
        pthread_mutex_lock(&c->mu);
        t = c->next++;
        pthread_mutex_unlock(&c->mu);
        if (t >= c->n_tasks) break;
        c->fn(c->ctx, t);
    }
    return NULL;
}

static void test_parallel_for(void *user, int n_tasks, fnet_task_fn fn, void *ctx) {
    pf_user *u = (pf_user *)user;
    int i;
    u->calls++;
    if (n_tasks > u->max_tasks) u->max_tasks = n_tasks;
    if (u->threads == 0) { for (i = 0; i < n_tasks; i++) fn(ctx, i); return; }
    if (u->threads < 0) { for (i = n_tasks - 1; i >= 0; i--) fn(ctx, i); return; }
    {
        pool_ctx c;
        pthread_t th[8];
        int n = u->threads > 8 ? 8 : u->threads;
        c.fn = fn; c.ctx = ctx; c.n_tasks = n_tasks; c.next = 0;
        pthread_mutex_init(&c.mu, NULL);
        for (i = 0; i < n; i++) pthread_create(&th[i], NULL, pool_worker, &c);
        for (i = 0; i < n; i++) pthread_join(th[i], NULL);
        pthread_mutex_destroy(&c.mu);
    }
}

static void test_threads(void) {
    static const int modes[5] = {99, 0, -1, 2, 3}; /* 99: parallel_for NULL */
    graph g;
    fnet_model *m = NULL;
    size_t in_n, sz0 = 0, e;
    int mi, x, nt0 = 0, i;
    float *xin, *gr, emb0[7 * 6], *gin0 = NULL, *g0[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t gn[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    unsigned char *blob0 = NULL;
    g_init(&g, 121u);
    x = g_input(&g, 7, 6, 1.0f, 0, 0, 0);
    x = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 9, 1);
    x = g_pool(&g, G_AVGPOOL, x, 3, 3, 2, 2, 1, 1, 1, 1);
    x = g_dense(&g, x, 700, 1); /* 108 x 700 weights: more than one 64K chunk of the parallel update */
    x = g_dense(&g, x, 6, 0);
    g_simple(&g, G_L2NORM, x);
    in_n = op_elems(&g, 0);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); return; }
    xin = rand_floats(7 * in_n);
    gr = rand_floats(7 * 6);
    for (mi = 0; mi < 5; mi++) {
        fnet_trainer *tr = NULL;
        fnet_trainer_opts o;
        pf_user u;
        float emb[7 * 6], *gin = (float *)malloc(7 * in_n * sizeof(float));
        unsigned char *blob;
        size_t sz = 0;
        int same = 1, step;
        memset(&o, 0, sizeof o);
        memset(&u, 0, sizeof u);
        o.grad_slots = 3;
        o.max_batch = 7;
        o.input_grad = 1;
        o.learning_rate = 0.01f;
        u.threads = modes[mi];
        if (modes[mi] != 99) { o.parallel_for = test_parallel_for; o.parallel_user = &u; }
        if (fnet_trainer_create(m, &o, &tr) != FNET_OK) { CHECK(0, "create"); free(gin); continue; }
        for (step = 0; step < 2; step++) {
            CHECK(fnet_trainer_forward(tr, xin, 0, 7, emb) == FNET_OK, "forward");
            CHECK(fnet_trainer_backward(tr, gr, gin) == FNET_OK, "backward");
            if (step == 0) {
                if (mi == 0) {
                    memcpy(emb0, emb, sizeof emb0);
                    gin0 = (float *)malloc(7 * in_n * sizeof(float));
                    memcpy(gin0, gin, 7 * in_n * sizeof(float));
                    nt0 = fnet_trainer_trainable_count(tr);
                    CHECK(nt0 == 6, "6 trainable tensors (%d)", nt0);
                    for (i = 0; i < nt0 && i < 8; i++) {
                        gn[i] = g.t[find_g_tensor(&g, fnet_trainer_trainable_name(tr, i))].count;
                        g0[i] = (float *)malloc(gn[i] * sizeof(float));
                        memcpy(g0[i], fnet_trainer_grad(tr, i), gn[i] * sizeof(float));
                    }
                } else {
                    if (memcmp(emb, emb0, sizeof emb0) != 0 || memcmp(gin, gin0, 7 * in_n * sizeof(float)) != 0) same = 0;
                    for (i = 0; i < nt0 && i < 8; i++)
                        if (memcmp(fnet_trainer_grad(tr, i), g0[i], gn[i] * sizeof(float)) != 0) same = 0;
                }
            }
            CHECK(fnet_trainer_update(tr) == FNET_OK, "update");
        }
        blob = trainer_blob(tr, &sz);
        if (mi == 0) { blob0 = blob; sz0 = sz; blob = NULL; }
        else {
            CHECK(same, "grad_slots 3, batch 7, parallel_for %s: embeddings, input and tensor gradients bit-identical "
                  "to parallel_for NULL", modes[mi] == 0 ? "serial" : modes[mi] < 0 ? "serial reversed" :
                  modes[mi] == 2 ? "2 pthreads" : "3 pthreads");
            CHECK(blob && blob0 && sz == sz0 && memcmp(blob, blob0, sz) == 0,
                  "parallel_for mode %d: weights after 2 updates bit-identical", modes[mi]);
            CHECK(u.calls > 0, "parallel_for mode %d was used (%d calls, up to %d tasks)", modes[mi], u.calls, u.max_tasks);
        }
        free(blob);
        free(gin);
        fnet_trainer_free(tr);
    }
    for (e = 0; e < 8; e++) free(g0[e]);
    free(gin0); free(blob0); free(xin); free(gr);
    fnet_model_free(m);
    g_free(&g);
}

static void print_table(void) {
    int t, k;
    fprintf(stderr, "\nmax relative error per op (vs finite differences; each SIMD set also vs scalar):\n");
    fprintf(stderr, "%-14s %5s %7s %6s  %-9s", "op", "cases", "coords", "kinks", "scalar");
    for (k = 1; k < NISA; k++)
        if (fnet_isa_supported(g_isas[k])) fprintf(stderr, " %-9s %-11s", fnet_isa_name(g_isas[k]), "(vs scalar)");
    fputc('\n', stderr);
    for (t = 1; t < 14; t++) {
        const op_stat *s = &g_stats[t];
        if (!s->cases) continue;
        fprintf(stderr, "%-14s %5d %7d %6d  %-9.1e", g_op_names[t], s->cases, s->coords, s->kinks, s->fd_max[0]);
        for (k = 1; k < NISA; k++)
            if (fnet_isa_supported(g_isas[k])) fprintf(stderr, " %-9.1e (%-9.1e)", s->fd_max[k], s->isa_max[k]);
        fputc('\n', stderr);
    }
    fprintf(stderr, "bounds: vs fd %.2g, vs scalar %.2g; the forward vs the reference: %.1e (bound %.2g)\n\n",
            FD_BOUND, ISA_BOUND, g_fwd_max, FWD_BOUND);
}

/* Each part draws from its own random stream (reseed), so adding a case changes no other. */
#define RUN(f) (reseed(#f), f())
int main(void) {
    g_sanitized = getenv("FNET_TEST_SANITIZED") != NULL;
    if (getenv("FNET_GRAD_SEED")) {
        g_seed_base ^= (unsigned)strtoul(getenv("FNET_GRAD_SEED"), NULL, 10) * 2654435761u;
        fprintf(stderr, "FNET_GRAD_SEED=%s\n", getenv("FNET_GRAD_SEED"));
    }
    RUN(cases_conv);
    RUN(cases_pool);
    RUN(cases_lrn);
    RUN(cases_concat);
    RUN(cases_dense);
    RUN(cases_l2norm);
    RUN(cases_add);
    RUN(cases_gap_pad_relu);
    RUN(cases_all_ops);
    print_table();
    RUN(test_errors);
    RUN(test_optimizer_steps);
    RUN(test_schedules);
    RUN(test_step_triplet);
    RUN(test_frozen);
    RUN(test_frontier);
    RUN(test_state);
    RUN(test_save_blob);
    RUN(test_repack);
    RUN(test_input_from_rgb);
    RUN(test_threads);
    return test_finish();
}
