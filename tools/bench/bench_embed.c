/* bench_embed.c - milliseconds per face of fnet_embed (batch 1), per kernel set.

   bench_embed [BLOB] [--iters N] [--isa scalar|sse2|avx2|neon|auto] [--threads T] [--profile] [--no-avx512]
               [--out FILE] [--workers W] [--batch N]

   BLOB defaults to $FNET_WEIGHTS/nn4.small2.v1.fnet; "--synthetic" builds an nn4.small2-shaped
   graph with random weights instead (same ops and shapes as tools/convert/keras_openface.py writes).
   Prints one line per kernel set: "fnet <isa> <ms> ms/face <GFLOP/s> GFLOP/s" (the median of
   N runs after a warm-up); --peak measures this core's FMA peak (register-only loop) and exits; --threads T runs T faces at once on one shared model (T
   workspaces) and reports ms per face. --profile adds the time per op type. --out writes the
   embedding of a fixed test input (for the peers' cross-check). --workers W times one face
   through fnet_embed_batch with W threads of examples/thread_pool.h lent through
   opts.parallel (what "2 threads" means for one face), --batch N one fnet_embed_batch of N
   faces on this thread (ms per face): lines "fnet-<isa> <ms> ms/face ... (W workers|batch N)". */
#define _POSIX_C_SOURCE 199309L
#define FNET_IMPLEMENTATION
#include "../../facenet.h"
#include "../../tests/fnet_test.h"
#include "../../tests/fnet_graph.h"

#include <pthread.h>
#include "../../examples/thread_pool.h"

#include "bench_common.h"

/* nn4.small2 (OpenFace, Keras port) shapes: 96x96x3 -> 128, ~0.2 G multiply-adds. */
static int inception(graph *g, int x, int c3r, int c3, int s3, int c5r, int c5, int s5, int pool, int pc, int c1) {
    int ins[4], n = 0, b;
    if (c3) { b = g_conv(g, x, 1, 1, 1, 1, 0, 0, 0, 0, c3r, 1); ins[n++] = g_conv(g, b, 3, 3, s3, s3, 1, 1, 1, 1, c3, 1); }
    if (c5) { b = g_conv(g, x, 1, 1, 1, 1, 0, 0, 0, 0, c5r, 1); ins[n++] = g_conv(g, b, 5, 5, s5, s5, 2, 2, 2, 2, c5, 1); }
    if (pool) {
        int h = g->op[x].h, p, oh;
        if (s3 == 2) { ins[n++] = g_pool(g, G_MAXPOOL, x, 3, 3, 2, 2, 0, 0, 1, 1); }
        else {
            if (pool == 1) p = g_pool(g, G_MAXPOOL, x, 3, 3, 2, 2, 0, 0, 0, 0);
            else p = g_pool(g, G_L2POOL, x, 3, 3, 3, 3, 0, 0, 0, 0);
            p = g_conv(g, p, 1, 1, 1, 1, 0, 0, 0, 0, pc, 1);
            oh = g->op[p].h;
            ins[n++] = g_pad(g, p, (h - oh) / 2, (h - oh) / 2, h - oh - (h - oh) / 2, h - oh - (h - oh) / 2);
        }
    }
    if (c1) ins[n++] = g_conv(g, x, 1, 1, 1, 1, 0, 0, 0, 0, c1, 1);
    return g_concat(g, n, ins);
}

static void build_nn4_like(graph *g) {
    int x;
    g_init(g, 2024u);
    x = g_input(g, 96, 96, 255.0f, 0, 0, 0);
    x = g_conv(g, x, 7, 7, 2, 2, 3, 3, 3, 3, 64, 1);
    x = g_pool(g, G_MAXPOOL, x, 3, 3, 2, 2, 1, 1, 1, 1);
    x = g_simple(g, G_LRN, x);
    x = g_conv(g, x, 1, 1, 1, 1, 0, 0, 0, 0, 64, 1);
    x = g_conv(g, x, 3, 3, 1, 1, 1, 1, 1, 1, 192, 1);
    x = g_simple(g, G_LRN, x);
    x = g_pool(g, G_MAXPOOL, x, 3, 3, 2, 2, 1, 1, 1, 1);
    x = inception(g, x, 96, 128, 1, 16, 32, 1, 1, 32, 64);   /* 3a -> 256 */
    x = inception(g, x, 96, 128, 1, 32, 64, 1, 2, 64, 64);   /* 3b -> 320 */
    x = inception(g, x, 128, 256, 2, 32, 64, 2, 1, 0, 0);    /* 3c -> 640 @ 6x6 */
    x = inception(g, x, 96, 192, 1, 32, 64, 1, 2, 128, 256); /* 4a -> 640 */
    x = inception(g, x, 160, 256, 2, 64, 128, 2, 1, 0, 0);   /* 4e -> 1024 @ 3x3 */
    x = inception(g, x, 96, 384, 1, 0, 0, 1, 2, 96, 256);    /* 5a -> 736 */
    x = inception(g, x, 96, 384, 1, 0, 0, 1, 1, 96, 256);    /* 5b -> 736 */
    x = g_simple(g, G_GAP, x);
    x = g_dense(g, x, 128, 0);
    g_simple(g, G_L2NORM, x);
    g->mk[0] = "network"; g->mv[0] = "nn4.small2-shaped (random weights)"; g->n_meta = 1;
}

static double model_flops(const fnet_model *m) {
    const fnet__net *net = (const fnet__net *)m->stage;
    double f = 0;
    int i;
    for (i = 1; i < m->n_ops; i++) {
        const fnet__op *o = &m->ops[i];
        const fnet__node *nd = &net->node[i], *a = &net->node[o->in[0]];
        if (o->type == FNET__OP_CONV) f += 2.0 * nd->h * nd->w * nd->c * o->ip[0] * o->ip[1] * a->c;
        if (o->type == FNET__OP_DENSE) f += 2.0 * nd->c * (double)a->elems;
    }
    return f;
}

/* Measured FMA peak of one core: 12 independent accumulator chains, registers only. One body
   for both vector widths (VEC of LANES floats and its intrinsics), compiled for its target. */
#define PEAK_BURST(NAME, TARGET, VEC, LANES, SET1, FMADD, ADD, STOREU)                                    \
    TARGET static double NAME(void) {                                                                    \
        VEC x = SET1(0.999f), y = SET1(0.001f);                                                          \
        VEC a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4), a5 = SET1(5);          \
        VEC a6 = SET1(6), a7 = SET1(7), a8 = SET1(8), a9 = SET1(9), a10 = SET1(10), a11 = SET1(11);      \
        long i, n = 2000000;                                                                             \
        double t0;                                                                                       \
        float sink[LANES];                                                                               \
        t0 = now_ms();                                                                                   \
        for (i = 0; i < n; i++) {                                                                        \
            a0 = FMADD(a0, x, y); a1 = FMADD(a1, x, y); a2 = FMADD(a2, x, y); a3 = FMADD(a3, x, y);      \
            a4 = FMADD(a4, x, y); a5 = FMADD(a5, x, y); a6 = FMADD(a6, x, y); a7 = FMADD(a7, x, y);      \
            a8 = FMADD(a8, x, y); a9 = FMADD(a9, x, y); a10 = FMADD(a10, x, y); a11 = FMADD(a11, x, y);  \
        }                                                                                                \
        t0 = now_ms() - t0;                                                                              \
        a0 = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));                          \
        a0 = ADD(a0, ADD(ADD(a8, a9), ADD(a10, a11)));                                                   \
        STOREU(sink, a0);                                                                                \
        return sink[0] == 12345.0f ? 0 : 2.0 * LANES * 12 * n / t0 / 1e6;                                \
    }
#if defined(FNET__X86)
PEAK_BURST(peak_avx2_burst, FNET__AVX2_FN, __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps)
#endif
#if defined(FNET__AVX512)
PEAK_BURST(peak_avx512_burst, FNET__AVX512_FN, __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
           _mm512_storeu_ps)
#endif

/* The best of 20 short bursts: on a shared machine, some burst runs alone on the core. */
static double best_of(double (*f)(void)) {
    double b = 0, v;
    int i;
    for (i = 0; i < 20; i++) if ((v = f()) > b) b = v;
    return b;
}
#if defined(FNET__X86)
static double peak_avx2(void) { return best_of(peak_avx2_burst); }
#endif
#if defined(FNET__AVX512)
static double peak_avx512(void) { return best_of(peak_avx512_burst); }
#endif

typedef struct job { const fnet_model *m; const unsigned char *rgb; int iters; float out[128]; } job;
static void *job_main(void *p) {
    job *j = (job *)p;
    size_t ws = fnet_embed_workspace_size(j->m);
    void *work = malloc(ws);
    int k;
    for (k = 0; k < j->iters; k++) fnet_embed(j->m, j->rgb, work, ws, j->out);
    free(work);
    return NULL;
}

/* Median ms per face of fnet_embed_batch: `batch` copies of rgb, `workers` threads. */
static double time_batch(const fnet_model *m, const unsigned char *rgb, int iters, int workers, int batch) {
    tp_pool pool;
    fnet_embed_opts o;
    const unsigned char *in[64];
    float *out = (float *)malloc((size_t)batch * 1024 * sizeof(float));
    double *ts = (double *)malloc((size_t)iters * sizeof(double)), med;
    size_t ws;
    void *work;
    int it, b;
    memset(&o, 0, sizeof o);
    if (workers > 1) {
        tp_start(&pool, workers);
        o.parallel.run = tp_run;
        o.parallel.user = &pool;
        o.parallel.workers = workers;
    }
    for (b = 0; b < batch; b++) in[b] = rgb;
    ws = fnet_embed_batch_workspace_size(m, batch, &o);
    work = malloc(ws);
    for (it = 0; it < 3; it++) fnet_embed_batch(m, in, batch, &o, work, ws, out);
    for (it = 0; it < iters; it++) {
        double t0 = now_ms();
        fnet_embed_batch(m, in, batch, &o, work, ws, out);
        ts[it] = (now_ms() - t0) / batch;
    }
    med = median_ms(ts, iters);
    if (workers > 1) tp_stop(&pool);
    free(work); free(out); free(ts);
    return med;
}

/* Time per op type: runs the forward pass op by op (same code as fnet__net_forward would). */
static void profile(fnet_model *m, const unsigned char *rgb, int iters) {
    static const char *names[13] = {"input", "conv", "maxpool", "avgpool", "l2pool", "lrn", "concat", "dense", "l2norm", "add", "gap", "pad", "relu"};
    const fnet__net *net = (const fnet__net *)m->stage;
    double t[13] = {0}, fl[13] = {0}, per[1024];
    size_t ws = fnet_embed_workspace_size(m);
    unsigned char *work = (unsigned char *)malloc(ws), *base = work + (64 - ((size_t)work & 63)) % 64;
    float out[1024];
    int it, i, n = m->n_ops;
    fnet_embed(m, rgb, work, ws, out); /* fills the input slot */
    for (it = 0; it < iters; it++)
        for (i = 1; i < n; i++) {
            const fnet__op *o = &m->ops[i];
            double t0 = now_ms();
            fnet__run_op(m, base, i);
            t0 = now_ms() - t0;
            t[o->type] += t0;
            if (getenv("BENCH_PER_OP") && o->type == FNET__OP_CONV)
                per[i] = it == 0 ? t0 : (t0 < per[i] ? t0 : per[i]);
            if (o->type == FNET__OP_CONV)
                fl[1] += 2.0 * net->node[i].elems * o->ip[0] * o->ip[1] * net->node[o->in[0]].c;
        }
    if (getenv("BENCH_PER_OP"))
        for (i = 1; i < n && i < 1024; i++)
            if (m->ops[i].type == FNET__OP_CONV) {
                const fnet__op *o = &m->ops[i];
                double f = 2.0 * net->node[i].elems * o->ip[0] * o->ip[1] * net->node[o->in[0]].c;
                printf("  %-28s %dx%d s%d %3dx%3dx%4d -> %4d  %.3f ms  %5.1f GFLOP/s\n", o->name, o->ip[0], o->ip[1], o->ip[2],
                       net->node[o->in[0]].h, net->node[o->in[0]].w, net->node[o->in[0]].c, net->node[i].c, per[i], f / per[i] / 1e6);
            }
    for (i = 0; i < 13; i++)
        if (t[i] > 0) printf("  %-8s %7.3f ms%s", names[i], t[i] / iters, i == 1 ? "" : "\n");
    printf("  (conv %.1f GFLOP/s)\n", fl[1] / iters / (t[1] / iters) / 1e6);
    free(work);
}

int main(int argc, char **argv) {
    const char *path = NULL, *outp = NULL;
    int iters = 50, threads = 1, prof = 0, i, k, synthetic = 0, no512 = 0, workers = 0, batch = 0;
    fnet_isa only = (fnet_isa)-1;
    fnet_model *m = NULL;
    fnet_result r;
    unsigned char *rgb;
    size_t n;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--profile")) prof = 1;
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc) workers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) outp = argv[++i];
        else if (!strcmp(argv[i], "--synthetic")) synthetic = 1;
        else if (!strcmp(argv[i], "--no-avx512")) no512 = 1;
        else if (!strcmp(argv[i], "--peak")) {
#if defined(FNET__X86)
            if (fnet_isa_supported(FNET_ISA_AVX2)) printf("peak avx2-fma %.1f GFLOP/s\n", peak_avx2());
#endif
#if defined(FNET__AVX512)
            if (fnet__cpu_has_avx512f()) printf("peak avx512-fma %.1f GFLOP/s\n", peak_avx512());
#endif
            return 0;
        }
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *s = argv[++i];
            for (k = 0; k <= 4; k++) if (!strcmp(s, fnet_isa_name((fnet_isa)k))) only = (fnet_isa)k;
        } else path = argv[i];
    }
    if (synthetic) {
        graph g;
        size_t size;
        unsigned char *blob;
        build_nn4_like(&g);
        blob = g_write(&g, &size);
        r = fnet_model_load_memory(blob, size, &m);
        free(blob);
        g_free(&g);
    } else {
        if (!path) path = weights_path("nn4.small2.v1.fnet");
        if (!path) { fprintf(stderr, "bench_embed: no blob (make weights, or --synthetic)\n"); return 2; }
        r = fnet_model_load_file(path, &m);
    }
    if (r != FNET_OK) { fprintf(stderr, "bench_embed: %s\n", fnet_result_string(r)); return 1; }
    if (no512) ((fnet__net *)m->stage)->avx512 = 0; /* the AVX2 kernels alone */
    n = (size_t)fnet_embed_input_size(m) * fnet_embed_input_size(m) * 3;
    rgb = (unsigned char *)malloc(n);
    for (i = 0; i < (int)n; i++) rgb[i] = (unsigned char)((i * 7 + (i / 300) * 13) % 256);
    printf("network %s: %d ops, %.3f GFLOP, workspace %.2f MB\n", synthetic ? "synthetic nn4-shaped" : path,
           m->n_ops, model_flops(m) / 1e9, fnet_embed_workspace_size(m) / 1048576.0);
    for (k = 1; k <= 4; k++) {
        double *ts, med;
        int it;
        if (only != (fnet_isa)-1 && only != (fnet_isa)k && only != FNET_ISA_AUTO) continue;
        if (!fnet_isa_supported((fnet_isa)k)) continue;
        if (only == FNET_ISA_AUTO && k != (int)fnet_model_get_isa(m)) { fnet_model_set_isa(m, FNET_ISA_AUTO); if (k != (int)fnet_model_get_isa(m)) continue; }
        fnet_model_set_isa(m, (fnet_isa)k);
        if (workers > 0 || batch > 0) {
            int wk = workers < 1 ? 1 : workers > 16 ? 16 : workers, bt = batch < 1 ? 1 : batch > 64 ? 64 : batch;
            med = time_batch(m, rgb, iters, wk, bt);
            printf("fnet-%s%s %.3f ms/face (%d workers, batch %d)\n", fnet_isa_name((fnet_isa)k),
                   k == FNET_ISA_AVX2 && ((const fnet__net *)m->stage)->avx512 ? "+avx512" : "", med, wk, bt);
            continue;
        }
        ts = (double *)malloc((size_t)iters * sizeof(double));
        {   /* warm-up */
            job j0; j0.m = m; j0.rgb = rgb; j0.iters = 3; job_main(&j0);
        }
        for (it = 0; it < iters; it++) {
            double t0 = now_ms();
            job jobs[16];
            pthread_t th[16];
            int t, nt = threads < 1 ? 1 : threads > 16 ? 16 : threads;
            for (t = 0; t < nt; t++) { jobs[t].m = m; jobs[t].rgb = rgb; jobs[t].iters = 1; }
            if (nt == 1) job_main(&jobs[0]);
            else {
                for (t = 0; t < nt; t++) pthread_create(&th[t], NULL, job_main, &jobs[t]);
                for (t = 0; t < nt; t++) pthread_join(th[t], NULL);
            }
            ts[it] = (now_ms() - t0) / nt;
        }
        med = median_ms(ts, iters);
        printf("fnet-%s%s %.3f ms/face (min %.3f) %.1f GFLOP/s%s\n", fnet_isa_name((fnet_isa)k),
               k == FNET_ISA_AVX2 && ((const fnet__net *)m->stage)->avx512 ? "+avx512" : "", med, ts[0],
               model_flops(m) / med / 1e6, threads > 1 ? " (per face, threads sharing the model)" : "");
        free(ts);
        if (prof) profile(m, rgb, 10);
    }
    if (outp) {
        float e[1024];
        FILE *f = fopen(outp, "w");
        fnet_model_set_isa(m, FNET_ISA_AUTO);
        if (f && fnet_embed(m, rgb, NULL, 0, e) == FNET_OK)
            for (i = 0; i < fnet_embed_dim(m); i++) fprintf(f, "%.9g\n", e[i]);
        if (f) fclose(f);
    }
    free(rgb);
    fnet_model_free(m);
    return 0;
}
