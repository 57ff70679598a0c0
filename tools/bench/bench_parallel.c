/* bench_parallel.c - the caller's threads and batches (issue 17 items 3 and 4), one run:
     1. detection, per image: plain fnet_detect against 2 workers of examples/thread_pool.h
        lent through opts.parallel (640 px WIDER photos, upsample 0 and 1);
     2. one ResNet-34 (and nn4) embedding: plain fnet_embed against fnet_embed_batch of one
        chip with 2 workers;
     3. throughput of batches: N single fnet_embed calls against one fnet_embed_batch of N,
        single thread (ResNet-34 N = 8, nn4 N = 8).
   Each comparison interleaves its variants rep by rep (so both see the same machine load)
   and prints the best and the median time; the results of every variant are checked equal.
   Two ways of interleaving, two rows for the 2-worker comparisons:
     "cold": the variants alternate call by call, so the pool's worker has gone to sleep
       during the single-thread call and the 2-worker call begins by waking it (a futex
       wake of an idle vCPU: about 50 us on average here, up to a few ms) with caches that
       hold the other variant's data: a call that comes rarely (one photo now and then);
     "warm": each variant runs a stream of calls (the 8 images; 8 embeddings), the
       variants alternate stream by stream: the worker stays awake between calls, as in a
       tool processing a folder or a game calling every frame. Each stream begins with one
       untimed call (for both variants): it wakes the worker, which "cold" measures.
   The load average (/proc/loadavg) is printed before and after: the machine is shared.
   A busy machine says little about wall-clock speedups, so each threaded call is also run
   through a "schedule" parallel-for that runs the tasks one after another on this thread
   and measures each task's CPU time: the call's critical path with 2 workers is its CPU
   time minus the tasks' total plus, per parallel-for, the longest task; CPU time over
   that critical path is the speedup 2 idle cores would give, apart from the hand-over
   latency (the number of parallel-for calls says how many hand-overs there are).
   Where the two cores sit matters: on a virtual machine the host may place the two vCPUs on
   cores that share an L3 or on cores that do not (another CCX of an EPYC), and move them
   from one minute to the next. Data one worker writes and the other reads then costs a trip
   between the caches: the run prints the core-to-core round trip (two threads pinned to
   CPUs 0 and 1 bouncing a cache line) before and after, and the ratios belong to it (here:
   about 60-70 ns with a shared L3, 430-480 ns without).
   Usage: bench_parallel REPS IMAGE...   (weights from $FNET_WEIGHTS or weights/; the chips are
   the detected faces of the images, aligned for each network). Built by bench_parallel.sh. */
#if defined(__linux__)
#define _GNU_SOURCE /* pthread_setaffinity_np: the core-to-core round trip */
#endif
#define _POSIX_C_SOURCE 199309L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "examples/image_load.h"
#include "examples/thread_pool.h"
#include "tools/bench/bench_common.h"
#include <stdio.h>
#include <string.h>

#define MAX_IMG 16
#define MAX_CHIPS 16

static void print_load(const char *when) {
    FILE *f = fopen("/proc/loadavg", "r");
    char buf[128] = "?";
    if (f) {
        if (!fgets(buf, sizeof buf, f)) strcpy(buf, "?");
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("load average %s: %s\n", when, buf);
}

/* The schedule parallel-for: tasks in order on this thread, each timed (thread CPU time); with
   2 workers the tasks of one call are shared so that the longest one bounds the call. */
typedef struct sched {
    int calls, workers;
    double tasks_ms, crit_ms; /* sum of all tasks; sum per call of the 2-worker makespan */
} sched;

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sched_run(void *user, int n, fnet_task_fn fn, void *ctx) {
    sched *s = (sched *)user;
    double t[FNET_MAX_WORKERS], load[FNET_MAX_WORKERS], mk = 0;
    int i, w;
    for (i = 0; i < n; i++) {
        double t0 = cpu_ms();
        fn(ctx, i);
        t[i] = cpu_ms() - t0;
        s->tasks_ms += t[i];
    }
    /* the tasks go to the first free worker, in order (as examples/thread_pool.h hands them out) */
    for (w = 0; w < s->workers; w++) load[w] = 0;
    for (i = 0; i < n; i++) {
        int best = 0;
        for (w = 1; w < s->workers; w++)
            if (load[w] < load[best]) best = w;
        load[best] += t[i];
    }
    for (w = 0; w < s->workers; w++)
        if (load[w] > mk) mk = load[w];
    s->crit_ms += mk;
    s->calls++;
}

/* Runs call(ctx) reps times through the schedule parallel-for; prints the bound. */
static void schedule_bound(const char *what, void (*call)(void *ctx, fnet_parallel *par), void *ctx, int reps) {
    sched s;
    fnet_parallel par;
    double best_cpu = 1e30, best_crit = 0;
    int rep, calls = 0;
    for (rep = 0; rep < reps; rep++) {
        double t0;
        memset(&s, 0, sizeof s);
        s.workers = 2;
        par.run = sched_run;
        par.user = &s;
        par.workers = 2;
        t0 = cpu_ms();
        call(ctx, &par);
        t0 = cpu_ms() - t0;
        if (t0 < best_cpu) {
            best_cpu = t0;
            best_crit = t0 - s.tasks_ms + s.crit_ms;
            calls = s.calls;
        }
    }
    printf("%-44s schedule bound, 2 workers: CPU %.3f ms, critical path %.3f ms -> %.2fx (%d parallel-for calls)\n", what,
           best_cpu, best_crit, best_cpu / best_crit, calls);
}

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
static volatile int pp_flag;
static void pp_pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}
static void *pp_other(void *arg) {
    int i;
    (void)arg;
    pp_pin(1);
    for (i = 0; i < 100000; i++) {
        while (__atomic_load_n(&pp_flag, __ATOMIC_ACQUIRE) != 2 * i + 1) {}
        __atomic_store_n(&pp_flag, 2 * i + 2, __ATOMIC_RELEASE);
    }
    return NULL;
}
/* Nanoseconds for a cache line to go from CPU 0 to CPU 1 and back (0: not measured). */
static double core_round_trip_ns(void) {
    pthread_t t;
    cpu_set_t old;
    double t0;
    int i;
    pthread_getaffinity_np(pthread_self(), sizeof old, &old);
    pp_flag = 0;
    pp_pin(0);
    if (pthread_create(&t, NULL, pp_other, NULL) != 0) return 0;
    t0 = now_ms();
    for (i = 0; i < 100000; i++) {
        __atomic_store_n(&pp_flag, 2 * i + 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&pp_flag, __ATOMIC_ACQUIRE) != 2 * i + 2) {}
    }
    t0 = now_ms() - t0;
    pthread_join(t, NULL);
    pthread_setaffinity_np(pthread_self(), sizeof old, &old);
    return t0 * 1e6 / 100000;
}
#else
static double core_round_trip_ns(void) { return 0; }
#endif

typedef struct det_call {
    const fnet_model *det;
    fnet_image *im;
    int n, up;
} det_call;

static void det_call_fn(void *ctx, fnet_parallel *par) {
    det_call *c = (det_call *)ctx;
    fnet_detect_opts o;
    fnet_box b[64];
    int i, nb;
    memset(&o, 0, sizeof o);
    o.upsample = c->up;
    o.parallel = *par;
    for (i = 0; i < c->n; i++) fnet_detect(c->det, c->im[i], &o, NULL, 0, b, 64, &nb);
}

typedef struct emb_call {
    const fnet_model *net;
    const unsigned char *chip;
} emb_call;

static void emb_call_fn(void *ctx, fnet_parallel *par) {
    emb_call *c = (emb_call *)ctx;
    fnet_embed_opts o;
    float e[128];
    memset(&o, 0, sizeof o);
    o.parallel = *par;
    fnet_embed_batch(c->net, &c->chip, 1, &o, NULL, 0, e);
}

static fnet_model *load(const char *name) {
    const char *wd = getenv("FNET_WEIGHTS");
    char path[4096];
    fnet_model *m = NULL;
    snprintf(path, sizeof path, "%s/%s", wd && *wd ? wd : "weights", name);
    if (fnet_model_load_file(path, &m) != FNET_OK) {
        fprintf(stderr, "bench_parallel: cannot load %s\n", path);
        return NULL;
    }
    return m;
}

static void report(const char *what, double *a, double *b, int reps, const char *na, const char *nb, double scale) {
    double ma = median_ms(a, reps), mb = median_ms(b, reps); /* sorts: a[0], b[0] are the best */
    printf("%-44s %s %8.3f ms (median %8.3f)  %s %8.3f ms (median %8.3f)  ratio best %.2fx median %.2fx\n", what, na,
           a[0] * scale, ma * scale, nb, b[0] * scale, mb * scale, a[0] / b[0], ma / mb);
}

int main(int argc, char **argv) {
    fnet_model *det = load("hog_frontal.fnet"), *lm = load("landmarks68.fnet");
    fnet_model *net[2];
    const char *net_name[2] = {"ResNet-34", "nn4.small2"};
    unsigned char *px[MAX_IMG], *chips[2][MAX_CHIPS];
    int w[MAX_IMG], h[MAX_IMG], nimg = 0, nchips[2] = {0, 0}, reps, i, k, rep, up;
    tp_pool pool;
    double *ta, *tb;
    if (argc < 3) { fprintf(stderr, "usage: %s REPS IMAGE...\n", argv[0]); return 2; }
    reps = atoi(argv[1]);
    if (reps < 1) reps = 1;
    net[0] = load("resnet34.fnet");
    net[1] = load("nn4.small2.v1.fnet");
    if (!det || !lm || !net[0] || !net[1]) return 1;
    ta = (double *)malloc(sizeof(double) * (size_t)reps);
    tb = (double *)malloc(sizeof(double) * (size_t)reps);
    for (i = 2; i < argc && nimg < MAX_IMG; i++) { /* 640 px wide, nearest neighbour (as bench_detect) */
        int w0, h0, x, y;
        char why[256];
        unsigned char *src = il_load_pixels(argv[i], 3, &w0, &h0, why, sizeof why);
        if (!src) { fprintf(stderr, "bench_parallel: %s: %s\n", argv[i], why); continue; }
        w[nimg] = 640;
        h[nimg] = (int)((long)h0 * 640 / w0);
        px[nimg] = (unsigned char *)malloc((size_t)w[nimg] * h[nimg] * 3);
        for (y = 0; y < h[nimg]; y++)
            for (x = 0; x < w[nimg]; x++)
                memcpy(px[nimg] + 3 * ((size_t)y * w[nimg] + x), src + 3 * ((size_t)(y * h0 / h[nimg]) * w0 + x * w0 / w[nimg]), 3);
        stbi_image_free(src);
        nimg++;
    }
    if (!nimg) return 1;
    for (i = 0; i < nimg; i++) { /* face chips for both networks */
        fnet_box boxes[32];
        int nb = 0, f;
        fnet_image im = fnet_image_view(px[i], w[i], h[i], 3, 0);
        fnet_detect_opts o;
        memset(&o, 0, sizeof o);
        o.upsample = 1;
        if (fnet_detect(det, im, &o, NULL, 0, boxes, 32, &nb) != FNET_OK) continue;
        for (f = 0; f < nb && f < 32; f++) {
            fnet_point pts[68];
            if (fnet_landmarks(lm, im, boxes[f], pts) != FNET_OK) continue;
            for (k = 0; k < 2; k++) {
                int size = fnet_embed_input_size(net[k]);
                if (nchips[k] >= MAX_CHIPS) continue;
                chips[k][nchips[k]] = (unsigned char *)malloc((size_t)size * size * 3);
                if (fnet_align(im, pts, 68, k == 0 ? FNET_ALIGN_DLIB_CHIP : FNET_ALIGN_OUTER_EYES_AND_NOSE, size,
                               chips[k][nchips[k]]) == FNET_OK)
                    nchips[k]++;
                else
                    free(chips[k][nchips[k]]);
            }
        }
    }
    printf("machine: %d images of 640 px, %d face chips, kernels %s, %d reps per comparison\n", nimg, nchips[0],
           fnet_isa_name(fnet_model_get_isa(det)), reps);
    print_load("before");
    printf("core-to-core round trip before: %.0f ns\n", core_round_trip_ns());
    if (tp_start(&pool, 2) != 2) { fprintf(stderr, "bench_parallel: no second thread\n"); return 1; }

    /* 1. detection: plain against 2 workers */
    for (up = 0; up < 2; up++) {
        fnet_detect_opts o1, o2;
        size_t ws1, ws2, wmax = 0;
        void *work;
        int mism = 0;
        memset(&o1, 0, sizeof o1);
        o1.upsample = up;
        o2 = o1;
        o2.parallel.run = tp_run;
        o2.parallel.user = &pool;
        o2.parallel.workers = 2;
        for (i = 0; i < nimg; i++) {
            ws2 = fnet_detect_workspace_size(det, w[i], h[i], &o2);
            if (ws2 > wmax) wmax = ws2;
        }
        work = malloc(wmax);
        for (rep = 0; rep < reps; rep++) { /* warm: all images with one variant, then the other */
            double t0;
            fnet_box bw[64];
            int nw = 0;
            fnet_detect(det, fnet_image_view(px[0], w[0], h[0], 3, 0), &o1, work,
                        fnet_detect_workspace_size(det, w[0], h[0], &o1), bw, 64, &nw); /* untimed */
            t0 = now_ms();
            for (i = 0; i < nimg; i++) {
                fnet_image im = fnet_image_view(px[i], w[i], h[i], 3, 0);
                fnet_box b1[64];
                int n1 = 0;
                fnet_detect(det, im, &o1, work, fnet_detect_workspace_size(det, w[i], h[i], &o1), b1, 64, &n1);
            }
            ta[rep] = (now_ms() - t0) / nimg;
            fnet_detect(det, fnet_image_view(px[0], w[0], h[0], 3, 0), &o2, work, wmax, bw, 64, &nw); /* untimed */
            t0 = now_ms();
            for (i = 0; i < nimg; i++) {
                fnet_image im = fnet_image_view(px[i], w[i], h[i], 3, 0);
                fnet_box b2[64];
                int n2 = 0;
                fnet_detect(det, im, &o2, work, wmax, b2, 64, &n2);
            }
            tb[rep] = (now_ms() - t0) / nimg;
        }
        {
            char what[64];
            snprintf(what, sizeof what, "detect 640 px, upsample %d, warm:", up);
            report(what, ta, tb, reps, "1 thread", "2 workers", 1.0);
        }
        for (rep = 0; rep < reps; rep++) { /* cold: call by call */
            double s1 = 0, s2 = 0;
            for (i = 0; i < nimg; i++) {
                fnet_image im = fnet_image_view(px[i], w[i], h[i], 3, 0);
                fnet_box b1[64], b2[64];
                int n1 = 0, n2 = 0;
                double t0 = now_ms();
                ws1 = fnet_detect_workspace_size(det, w[i], h[i], &o1);
                fnet_detect(det, im, &o1, work, ws1, b1, 64, &n1);
                s1 += now_ms() - t0;
                t0 = now_ms();
                fnet_detect(det, im, &o2, work, wmax, b2, 64, &n2);
                s2 += now_ms() - t0;
                if (n1 != n2 || memcmp(b1, b2, sizeof(fnet_box) * (size_t)(n1 < 64 ? n1 : 64))) mism++;
            }
            ta[rep] = s1 / nimg;
            tb[rep] = s2 / nimg;
        }
        free(work);
        {
            char what[64];
            snprintf(what, sizeof what, "detect 640 px, upsample %d, cold:", up);
            report(what, ta, tb, reps, "1 thread", "2 workers", 1.0);
        }
        if (mism) printf("  MISMATCH: %d detections differ\n", mism);
        {
            fnet_image ims[MAX_IMG];
            det_call c;
            char what[64];
            for (i = 0; i < nimg; i++) ims[i] = fnet_image_view(px[i], w[i], h[i], 3, 0);
            c.det = det; c.im = ims; c.n = nimg; c.up = up;
            snprintf(what, sizeof what, "detect 640 px, upsample %d, %d images:", up, nimg);
            schedule_bound(what, det_call_fn, &c, reps < 5 ? reps : 5);
        }
    }

    /* 2. one embedding: plain against 2 workers; 3. N singles against a batch of N */
    for (k = 0; k < 2; k++) {
        fnet_embed_opts o2, o1;
        int dim = fnet_embed_dim(net[k]), n = nchips[k] < 8 ? nchips[k] : 8, b, mism = 0;
        size_t ws1 = fnet_embed_workspace_size(net[k]), ws2, wsb;
        void *w1, *w2, *wb;
        float e1[128], e2[128], *eb = (float *)malloc(sizeof(float) * 128 * 8), es[8][128];
        if (n < 1) { printf("%s: no face chips\n", net_name[k]); continue; }
        memset(&o1, 0, sizeof o1);
        memset(&o2, 0, sizeof o2);
        o2.parallel.run = tp_run;
        o2.parallel.user = &pool;
        o2.parallel.workers = 2;
        ws2 = fnet_embed_batch_workspace_size(net[k], 1, &o2);
        wsb = fnet_embed_batch_workspace_size(net[k], n, &o1);
        w1 = malloc(ws1); w2 = malloc(ws2); wb = malloc(wsb);
        for (rep = 0; rep < reps; rep++) { /* warm: n embeddings with one variant, then the other */
            double t0;
            fnet_embed(net[k], chips[k][0], w1, ws1, e1); /* untimed */
            t0 = now_ms();
            for (b = 0; b < n; b++) fnet_embed(net[k], chips[k][b], w1, ws1, e1);
            ta[rep] = (now_ms() - t0) / n;
            fnet_embed_batch(net[k], (const unsigned char *const *)&chips[k][0], 1, &o2, w2, ws2, e2); /* untimed */
            t0 = now_ms();
            for (b = 0; b < n; b++)
                fnet_embed_batch(net[k], (const unsigned char *const *)&chips[k][b], 1, &o2, w2, ws2, e2);
            tb[rep] = (now_ms() - t0) / n;
        }
        {
            char what[64];
            snprintf(what, sizeof what, "%s, one embedding, warm:", net_name[k]);
            report(what, ta, tb, reps, "1 thread", "2 workers", 1.0);
        }
        for (rep = 0; rep < reps; rep++) { /* cold: call by call */
            double t0 = now_ms();
            fnet_embed(net[k], chips[k][rep % n], w1, ws1, e1);
            ta[rep] = now_ms() - t0;
            t0 = now_ms();
            fnet_embed_batch(net[k], (const unsigned char *const *)&chips[k][rep % n], 1, &o2, w2, ws2, e2);
            tb[rep] = now_ms() - t0;
            mism += memcmp(e1, e2, sizeof(float) * (size_t)dim) != 0;
        }
        {
            char what[64];
            emb_call c;
            snprintf(what, sizeof what, "%s, one embedding, cold:", net_name[k]);
            report(what, ta, tb, reps, "1 thread", "2 workers", 1.0);
            snprintf(what, sizeof what, "%s, one embedding:", net_name[k]);
            c.net = net[k];
            c.chip = chips[k][0];
            schedule_bound(what, emb_call_fn, &c, reps);
        }
        for (rep = 0; rep < reps; rep++) {
            double t0 = now_ms();
            for (b = 0; b < n; b++) fnet_embed(net[k], chips[k][b], w1, ws1, es[b]);
            ta[rep] = now_ms() - t0;
            t0 = now_ms();
            fnet_embed_batch(net[k], (const unsigned char *const *)chips[k], n, &o1, wb, wsb, eb);
            tb[rep] = now_ms() - t0;
            for (b = 0; b < n; b++) mism += memcmp(es[b], eb + b * dim, sizeof(float) * (size_t)dim) != 0;
        }
        {
            char what[64];
            snprintf(what, sizeof what, "%s, %d chips, per chip, 1 thread:", net_name[k], n);
            report(what, ta, tb, reps, "singles", "batch", 1.0 / n);
        }
        if (mism) printf("  MISMATCH: %d embeddings differ\n", mism);
        free(w1); free(w2); free(wb); free(eb);
    }
    print_load("after");
    printf("core-to-core round trip after: %.0f ns\n", core_round_trip_ns());
    tp_stop(&pool);
    return 0;
}
