/* fnet_graph.h - for the engine tests: build small network graphs in C, write them as
   blobs (following the format text in facenet.h, independently of tools/convert/fnet_blob.py),
   and run them with a naive double-precision reference written from the op definitions
   in OPS.md (direct loops, no GEMM, no packing, no workspace plan).
   Included by tests/test_network.c and tests/test_kernels.c (after facenet.h). */
#ifndef FNET_GRAPH_H
#define FNET_GRAPH_H
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define G_MAX 256
enum { G_INPUT, G_CONV, G_MAXPOOL, G_AVGPOOL, G_L2POOL, G_LRN, G_CONCAT, G_DENSE, G_L2NORM,
       G_ADD, G_GAP, G_PAD, G_RELU };

typedef struct g_tensor {
    char name[48];
    int dtype, ndim, shape[4];
    float *data; /* f32 values (written as is for other dtypes: only their size changes) */
    size_t count;
} g_tensor;

typedef struct g_op {
    char name[32];
    int type, flags, in[4], tensor[4], ip[12];
    float fp[4];
    int h, w, c; /* output shape per the reference */
} g_op;

typedef struct graph {
    int kind;
    g_op op[G_MAX];
    int n_op;
    g_tensor t[G_MAX];
    int n_t;
    const char *mk[8], *mv[8];
    int n_meta;
    unsigned rng;
} graph;

static float g_rand(graph *g) { /* uniform in [-1, 1) */
    g->rng = g->rng * 1664525u + 1013904223u;
    return (float)((g->rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static TEST_UNUSED void g_init(graph *g, unsigned seed) {
    memset(g, 0, sizeof(*g));
    g->kind = 3;
    g->rng = seed;
}

static TEST_UNUSED int g_tensor_new(graph *g, const char *name, int ndim, int d0, int d1, int d2, int d3, float scale) {
    g_tensor *t = &g->t[g->n_t];
    size_t i;
    memset(t, 0, sizeof(*t));
    strncpy(t->name, name, 47);
    t->dtype = 1;
    t->ndim = ndim;
    t->shape[0] = d0; t->shape[1] = d1; t->shape[2] = d2; t->shape[3] = d3;
    t->count = (size_t)d0 * d1 * d2 * d3;
    t->data = (float *)malloc(t->count * sizeof(float));
    for (i = 0; i < t->count; i++) t->data[i] = scale * g_rand(g);
    return g->n_t++;
}

static TEST_UNUSED g_op *g_op_new(graph *g, int type, int in0) {
    g_op *o = &g->op[g->n_op];
    int k;
    memset(o, 0, sizeof(*o));
    snprintf(o->name, sizeof o->name, "op%d", g->n_op);
    o->type = type;
    for (k = 0; k < 4; k++) o->in[k] = o->tensor[k] = -1;
    o->in[0] = in0;
    g->n_op++;
    return o;
}
static TEST_UNUSED void g_set_out(g_op *o, int h, int w, int c) {
    o->h = h; o->w = w; o->c = c;
    o->ip[9] = h; o->ip[10] = w; o->ip[11] = c;
}

static TEST_UNUSED int g_input(graph *g, int h, int w, float divisor, float mr, float mg, float mb) {
    g_op *o = g_op_new(g, G_INPUT, -1);
    o->ip[0] = h; o->ip[1] = w; o->ip[2] = 3;
    o->fp[0] = divisor; o->fp[1] = mr; o->fp[2] = mg; o->fp[3] = mb;
    g_set_out(o, h, w, 3);
    return g->n_op - 1;
}

/* kernel/stride/pads in iparam[0..7] and the output shape of a windowed op */
static TEST_UNUSED void g_window(g_op *o, const g_op *a, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int c) {
    o->ip[0] = kh; o->ip[1] = kw; o->ip[2] = sh; o->ip[3] = sw;
    o->ip[4] = pt; o->ip[5] = pl; o->ip[6] = pb; o->ip[7] = pr;
    g_set_out(o, (a->h + pt + pb - kh) / sh + 1, (a->w + pl + pr - kw) / sw + 1, c);
}

static TEST_UNUSED int g_conv(graph *g, int in, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr,
                  int cout, int relu) {
    const g_op *a = &g->op[in];
    char nm[48];
    int wt, bt;
    g_op *o;
    snprintf(nm, sizeof nm, "w%d", g->n_op);
    wt = g_tensor_new(g, nm, 4, kh, kw, a->c, cout, 1.0f / sqrtf((float)(kh * kw * a->c)));
    snprintf(nm, sizeof nm, "b%d", g->n_op);
    bt = g_tensor_new(g, nm, 1, cout, 1, 1, 1, 0.1f);
    o = g_op_new(g, G_CONV, in);
    o->tensor[0] = wt; o->tensor[1] = bt;
    o->flags = relu ? 1 : 0;
    g_window(o, a, kh, kw, sh, sw, pt, pl, pb, pr, cout);
    return g->n_op - 1;
}

static TEST_UNUSED int g_pool(graph *g, int type, int in, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr) {
    const g_op *a = &g->op[in];
    g_op *o = g_op_new(g, type, in);
    g_window(o, a, kh, kw, sh, sw, pt, pl, pb, pr, a->c);
    return g->n_op - 1;
}

static TEST_UNUSED int g_simple(graph *g, int type, int in) { /* LRN, L2NORM, GAP, RELU */
    const g_op *a = &g->op[in];
    g_op *o = g_op_new(g, type, in);
    if (type == G_GAP) g_set_out(o, 1, 1, a->c);
    else g_set_out(o, a->h, a->w, a->c);
    if (type == G_LRN) { o->ip[0] = 2; o->fp[0] = 1e-2f; o->fp[1] = 0.75f; o->fp[2] = 1.0f; }
    if (type == G_L2NORM) o->fp[0] = 1e-12f;
    return g->n_op - 1;
}

static TEST_UNUSED int g_concat(graph *g, int n, const int *ins) {
    g_op *o = g_op_new(g, G_CONCAT, ins[0]);
    int k, c = 0;
    for (k = 0; k < n; k++) { o->in[k] = ins[k]; c += g->op[ins[k]].c; }
    g_set_out(o, g->op[ins[0]].h, g->op[ins[0]].w, c);
    return g->n_op - 1;
}

static TEST_UNUSED int g_add(graph *g, int a, int b, int relu) {
    g_op *o = g_op_new(g, G_ADD, a);
    o->in[1] = b;
    o->flags = relu ? 1 : 0;
    g_set_out(o, g->op[a].h, g->op[a].w, g->op[a].c);
    return g->n_op - 1;
}

static TEST_UNUSED int g_pad(graph *g, int in, int pt, int pl, int pb, int pr) {
    const g_op *a = &g->op[in];
    g_op *o = g_op_new(g, G_PAD, in);
    o->ip[0] = pt; o->ip[1] = pl; o->ip[2] = pb; o->ip[3] = pr;
    g_set_out(o, a->h + pt + pb, a->w + pl + pr, a->c);
    return g->n_op - 1;
}

static TEST_UNUSED int g_dense(graph *g, int in, int out, int relu) {
    const g_op *a = &g->op[in];
    int n_in = a->h * a->w * a->c, wt, bt;
    char nm[48];
    g_op *o;
    snprintf(nm, sizeof nm, "w%d", g->n_op);
    wt = g_tensor_new(g, nm, 2, n_in, out, 1, 1, 1.0f / sqrtf((float)n_in));
    snprintf(nm, sizeof nm, "b%d", g->n_op);
    bt = g_tensor_new(g, nm, 1, out, 1, 1, 1, 0.1f);
    o = g_op_new(g, G_DENSE, in);
    o->tensor[0] = wt; o->tensor[1] = bt;
    o->ip[0] = n_in; o->ip[1] = out;
    o->flags = relu ? 1 : 0;
    g_set_out(o, 1, 1, out);
    return g->n_op - 1;
}

static TEST_UNUSED void g_free(graph *g) {
    int i;
    for (i = 0; i < g->n_t; i++) free(g->t[i].data);
    g->n_t = 0;
}

/* ---- blob writer ---- */
typedef struct gbuf { unsigned char *p; size_t n, cap; } gbuf;
static TEST_UNUSED void gb_put(gbuf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) { b->cap = (b->n + n) * 2 + 1024; b->p = (unsigned char *)realloc(b->p, b->cap); }
    if (src) memcpy(b->p + b->n, src, n); else memset(b->p + b->n, 0, n);
    b->n += n;
}
static TEST_UNUSED void gb_u32(gbuf *b, unsigned long v) {
    unsigned char c[4];
    c[0] = (unsigned char)v; c[1] = (unsigned char)(v >> 8); c[2] = (unsigned char)(v >> 16); c[3] = (unsigned char)(v >> 24);
    gb_put(b, c, 4);
}
static void gb_u64(gbuf *b, unsigned long long v) { gb_u32(b, (unsigned long)(v & 0xffffffffu)); gb_u32(b, (unsigned long)(v >> 32)); }
static void gb_f32(gbuf *b, float f) { unsigned int u; memcpy(&u, &f, 4); gb_u32(b, u); }
static TEST_UNUSED void gb_set_u32(unsigned char *p, unsigned long v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static void gb_set_u64(unsigned char *p, unsigned long long v) { gb_set_u32(p, (unsigned long)(v & 0xffffffffu)); gb_set_u32(p + 4, (unsigned long)(v >> 32)); }

static TEST_UNUSED unsigned long g_crc(unsigned long crc, const unsigned char *p, size_t n) {
    unsigned long c = crc ^ 0xFFFFFFFFUL;
    size_t i; int k;
    for (i = 0; i < n; i++) { c ^= p[i]; for (k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xEDB88320UL : c >> 1; }
    return (c ^ 0xFFFFFFFFUL) & 0xFFFFFFFFUL;
}

static const size_t g_dsize[8] = {0, 4, 2, 1, 1, 4, 2, 2};

/* The blob bytes (malloc'd, caller frees) and their size. */
static TEST_UNUSED unsigned char *g_write(const graph *g, size_t *size) {
    gbuf b = {0, 0, 0};
    size_t tensor_off, op_off, data_off, off, i;
    int k;
    gb_put(&b, NULL, 96);
    for (i = 0; i < (size_t)g->n_meta; i++) {
        size_t kl = strlen(g->mk[i]), vl = strlen(g->mv[i]), rec = 8 + kl + vl + 2;
        gb_u32(&b, (unsigned long)kl); gb_u32(&b, (unsigned long)vl);
        gb_put(&b, g->mk[i], kl + 1); gb_put(&b, g->mv[i], vl + 1);
        gb_put(&b, NULL, (4 - rec % 4) % 4);
    }
    tensor_off = b.n;
    op_off = tensor_off + (size_t)g->n_t * 96;
    data_off = (op_off + (size_t)g->n_op * 136 + 63) / 64 * 64;
    off = data_off;
    for (i = 0; i < (size_t)g->n_t; i++) {
        const g_tensor *t = &g->t[i];
        size_t nb = t->count * g_dsize[t->dtype];
        gb_put(&b, t->name, 48);
        gb_u32(&b, (unsigned long)t->dtype); gb_u32(&b, (unsigned long)t->ndim);
        for (k = 0; k < 4; k++) gb_u32(&b, (unsigned long)t->shape[k]);
        gb_f32(&b, 1.0f); gb_f32(&b, 0.0f);
        gb_u64(&b, off); gb_u64(&b, nb);
        off += (nb + 63) / 64 * 64;
    }
    for (i = 0; i < (size_t)g->n_op; i++) {
        const g_op *o = &g->op[i];
        gb_put(&b, o->name, 32);
        gb_u32(&b, (unsigned long)o->type); gb_u32(&b, (unsigned long)o->flags);
        for (k = 0; k < 4; k++) gb_u32(&b, (unsigned long)o->in[k] & 0xffffffffUL);
        for (k = 0; k < 4; k++) gb_u32(&b, (unsigned long)o->tensor[k] & 0xffffffffUL);
        for (k = 0; k < 12; k++) gb_u32(&b, (unsigned long)o->ip[k] & 0xffffffffUL);
        for (k = 0; k < 4; k++) gb_f32(&b, o->fp[k]);
    }
    gb_put(&b, NULL, data_off - b.n);
    for (i = 0; i < (size_t)g->n_t; i++) {
        const g_tensor *t = &g->t[i];
        size_t nb = t->count * g_dsize[t->dtype], e;
        if (t->dtype == 1) for (e = 0; e < t->count; e++) gb_f32(&b, t->data[e]);
        else gb_put(&b, NULL, nb);
        gb_put(&b, NULL, (nb + 63) / 64 * 64 - nb);
    }
    memcpy(b.p, "FNETBLOB", 8);
    gb_set_u32(b.p + 8, 1); gb_set_u32(b.p + 12, 0x01020304UL); gb_set_u32(b.p + 16, (unsigned long)g->kind);
    gb_set_u32(b.p + 20, 96); gb_set_u64(b.p + 24, b.n);
    gb_set_u32(b.p + 32, (unsigned long)g->n_meta); gb_set_u32(b.p + 36, (unsigned long)g->n_t);
    gb_set_u32(b.p + 40, (unsigned long)g->n_op); gb_set_u32(b.p + 44, 0);
    gb_set_u64(b.p + 48, 96); gb_set_u64(b.p + 56, tensor_off); gb_set_u64(b.p + 64, op_off);
    gb_set_u64(b.p + 72, data_off);
    gb_set_u32(b.p + 80, g_crc(g_crc(0, b.p, 80), b.p + 96, op_off + (size_t)g->n_op * 136 - 96));
    *size = b.n;
    return b.p;
}

/* ---- naive reference (double precision) ---- */

/* The kink pattern of the last g_reference run: every ReLU decision (fused or RELU op), every
   max-pool argmax and every L2NORM clamp, hashed in op order. The outputs do not depend on it;
   gradient tests (tests/test_grad.c) compare it before and after a finite-difference step: a
   different pattern means the step crossed a kink and the difference quotient is not a
   derivative there.
   g_ref_margin is the distance to the nearest kink: the smallest |pre-activation| of a ReLU,
   gap between the two largest candidates of a max-pool window (the padding counts as one
   zero candidate), L2POOL output (sqrt: |x| for a window with one real pixel) and
   |sum x^2 - eps| of an L2NORM. Exact zeros are left out: they come from
   dead ReLUs upstream (or ties of them) and stay where they are under a small step. */
static TEST_UNUSED unsigned long g_ref_pattern;
static TEST_UNUSED double g_ref_margin;
#define G_KINK(d) (g_ref_pattern = ((g_ref_pattern ^ (unsigned long)(d)) * 16777619UL) & 0xffffffffUL)
#define G_MARGIN(v) (g_ref_margin = (v) != 0 && fabs(v) < g_ref_margin ? fabs(v) : g_ref_margin)

/* conv / pools: one output element at a time, straight from the definitions */
static TEST_UNUSED void ref_window(int type, const double *x, int H, int W, int C, const int *ip,
                       const float *w, const float *bias, int OH, int OW, int OC, int relu, double *y) {
    int oy, ox, oc, ky, kx, c;
    for (oy = 0; oy < OH; oy++)
        for (ox = 0; ox < OW; ox++)
            for (oc = 0; oc < OC; oc++) {
                double acc = type == G_CONV ? bias[oc] : 0.0, best = -HUGE_VAL, second = -HUGE_VAL;
                int arg = -1, pad_seen = 0;
                for (ky = 0; ky < ip[0]; ky++)
                    for (kx = 0; kx < ip[1]; kx++) {
                        int iy = oy * ip[2] - ip[4] + ky, ix = ox * ip[3] - ip[5] + kx;
                        int inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                        if (type == G_CONV) {
                            if (!inside) continue;
                            for (c = 0; c < C; c++)
                                acc += x[((size_t)iy * W + ix) * C + c] *
                                       (double)w[(((size_t)ky * ip[1] + kx) * C + c) * OC + oc];
                        } else {
                            double v = inside ? x[((size_t)iy * W + ix) * C + oc] : 0.0;
                            if (type == G_MAXPOOL) {
                                if (!inside && pad_seen) continue; /* the padding is one candidate */
                                pad_seen |= !inside;
                                if (v > best) { second = best; best = v; arg = ky * ip[1] + kx; }
                                else if (v > second) second = v;
                            } else if (type == G_AVGPOOL) acc += v;
                            else acc += v * v;
                        }
                    }
                if (type == G_MAXPOOL) {
                    acc = best;
                    G_KINK(arg);
                    if (second > -HUGE_VAL) G_MARGIN(best - second);
                }
                if (type == G_AVGPOOL) acc /= ip[0] * ip[1];
                if (type == G_L2POOL) { acc = sqrt(acc); G_MARGIN(acc); }
                if (relu) { G_KINK(acc < 0); G_MARGIN(acc); }
                if (relu && acc < 0) acc = 0;
                y[((size_t)oy * OW + ox) * OC + oc] = acc;
            }
}

static TEST_UNUSED void ref_lrn(const double *x, size_t px, int C, int r, double alpha, double beta, double bias, double *y) {
    size_t p;
    int c, k;
    for (p = 0; p < px; p++)
        for (c = 0; c < C; c++) {
            double s = 0;
            for (k = c - r; k <= c + r; k++)
                if (k >= 0 && k < C) s += x[p * C + k] * x[p * C + k];
            y[p * C + c] = x[p * C + c] / pow(bias + alpha * s, beta);
        }
}

/* Runs the whole graph from a float HWC input; returns the output (malloc'd) and its length. */
static TEST_UNUSED double *g_reference(const graph *g, const float *input, size_t *n_out) {
    double *buf[G_MAX];
    int i, k;
    size_t e;
    g_ref_pattern = 2166136261UL;
    g_ref_margin = HUGE_VAL;
    for (i = 0; i < g->n_op; i++) {
        const g_op *o = &g->op[i];
        size_t n = (size_t)o->h * o->w * o->c;
        const g_op *a = i ? &g->op[o->in[0]] : NULL;
        const double *x = i ? buf[o->in[0]] : NULL;
        double *y = (double *)calloc(n ? n : 1, sizeof(double));
        buf[i] = y;
        switch (o->type) {
        case G_INPUT: for (e = 0; e < n; e++) y[e] = input[e]; break;
        case G_CONV:
            ref_window(G_CONV, x, a->h, a->w, a->c, o->ip, g->t[o->tensor[0]].data, g->t[o->tensor[1]].data,
                       o->h, o->w, o->c, o->flags & 1, y);
            break;
        case G_MAXPOOL: case G_AVGPOOL: case G_L2POOL:
            ref_window(o->type, x, a->h, a->w, a->c, o->ip, NULL, NULL, o->h, o->w, o->c, 0, y);
            break;
        case G_LRN: ref_lrn(x, (size_t)a->h * a->w, a->c, o->ip[0], o->fp[0], o->fp[1], o->fp[2], y); break;
        case G_CONCAT: {
            size_t p;
            int c0 = 0, c;
            for (k = 0; k < 4 && o->in[k] >= 0; k++) {
                const g_op *b = &g->op[o->in[k]];
                for (p = 0; p < (size_t)o->h * o->w; p++)
                    for (c = 0; c < b->c; c++) y[p * o->c + c0 + c] = buf[o->in[k]][p * b->c + c];
                c0 += b->c;
            }
            break;
        }
        case G_DENSE: {
            const float *w = g->t[o->tensor[0]].data, *b = g->t[o->tensor[1]].data;
            size_t nin = (size_t)a->h * a->w * a->c;
            int j;
            for (j = 0; j < o->c; j++) {
                double s = b[j];
                for (e = 0; e < nin; e++) s += x[e] * (double)w[e * o->c + j];
                if (o->flags & 1) { G_KINK(s < 0); G_MARGIN(s); }
                y[j] = (o->flags & 1) && s < 0 ? 0 : s;
            }
            break;
        }
        case G_L2NORM: {
            double s = 0;
            for (e = 0; e < n; e++) s += x[e] * x[e];
            G_KINK(s < o->fp[0]);
            G_MARGIN(s - o->fp[0]);
            if (s < o->fp[0]) s = o->fp[0];
            for (e = 0; e < n; e++) y[e] = x[e] / sqrt(s);
            break;
        }
        case G_ADD: {
            const g_op *b = &g->op[o->in[1]];
            size_t p;
            int c;
            for (p = 0; p < (size_t)o->h * o->w; p++)
                for (c = 0; c < o->c; c++) {
                    double v = x[p * o->c + c] + (c < b->c ? buf[o->in[1]][p * b->c + c] : 0.0);
                    if (o->flags & 1) { G_KINK(v < 0); G_MARGIN(v); }
                    y[p * o->c + c] = (o->flags & 1) && v < 0 ? 0 : v;
                }
            break;
        }
        case G_GAP: {
            size_t p;
            int c;
            for (c = 0; c < o->c; c++) {
                double s = 0;
                for (p = 0; p < (size_t)a->h * a->w; p++) s += x[p * o->c + c];
                y[c] = s / ((double)a->h * a->w);
            }
            break;
        }
        case G_PAD: {
            int yy, xx, c;
            for (yy = 0; yy < a->h; yy++)
                for (xx = 0; xx < a->w; xx++)
                    for (c = 0; c < a->c; c++)
                        y[((size_t)(yy + o->ip[0]) * o->w + xx + o->ip[1]) * o->c + c] = x[((size_t)yy * a->w + xx) * a->c + c];
            break;
        }
        case G_RELU:
            for (e = 0; e < n; e++) { G_KINK(x[e] > 0); G_MARGIN(x[e]); y[e] = x[e] > 0 ? x[e] : 0; }
            break;
        }
    }
    for (i = 0; i < g->n_op - 1; i++) free(buf[i]);
    *n_out = (size_t)g->op[g->n_op - 1].h * g->op[g->n_op - 1].w * g->op[g->n_op - 1].c;
    return buf[g->n_op - 1];
}
#endif
