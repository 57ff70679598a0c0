/* bench_train.c - facenet.h's training step cost for `make bench` (tools/bench/bench_train.sh):
   forward + backward of a network on one batch with every conv and dense tensor trainable
   (the work PyTorch's tools/bench/bench_train_torch.py measures), median ms per batch over K
   iterations after one warm-up (and its CPU time: on a busy machine the steadier figure),
   and the optimizer update separately.

       build/bench_train BLOB BATCH [THREADS] [--iters K] [--trainable LIST] [--frontier]

   THREADS > 1 lends the trainer a pthread pool (examples/thread_pool.h) through
   opts.parallel_for, with grad_slots = max(4, THREADS). The loss is sum(r * emb) with a fixed
   random r; the inputs are uniform noise in the network's input range. --frontier trains
   from cached frozen-prefix outputs (fnet_trainer_frontier), as `fnet train` does. Prints
   one JSON line. */
#define _POSIX_C_SOURCE 199309L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include <stdio.h>
#include <string.h>
#include "thread_pool.h"
#include "bench_common.h"

/* CPU time of the process (all threads): steadier than wall time on a busy machine. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static unsigned long long rng = 0x9E3779B97F4A7C15ULL;
static float urand(void) { /* uniform [0, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 16777216.0f;
}

int main(int argc, char **argv) {
    fnet_model *m;
    fnet_trainer *tr;
    fnet_trainer_opts o;
    fnet_result r;
    tp_pool pool;
    const char *trainable = "*";
    int batch, threads = 1, iters = 10, frontier = 0, i, it, dim, S;
    size_t in, fs, k;
    float *x, *emb, *ge, *f = NULL;
    double *tb, *tu, *tc, t0, t1, t2, c0;
    if (argc < 3) {
        fprintf(stderr, "usage: bench_train BLOB BATCH [THREADS] [--iters K] [--trainable LIST] [--frontier]\n");
        return 2;
    }
    batch = atoi(argv[2]);
    for (i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--trainable") && i + 1 < argc) trainable = argv[++i];
        else if (!strcmp(argv[i], "--frontier")) frontier = 1;
        else threads = atoi(argv[i]);
    }
    if (batch < 1 || threads < 1 || iters < 1) { fprintf(stderr, "bench_train: bad arguments\n"); return 2; }
    if ((r = fnet_model_load_file(argv[1], &m)) != FNET_OK) {
        fprintf(stderr, "bench_train: %s: %s\n", argv[1], fnet_result_string(r));
        return 1;
    }
    threads = tp_start(&pool, threads);
    memset(&o, 0, sizeof o);
    o.trainable = trainable;
    o.max_batch = batch;
    o.grad_slots = threads > 4 ? threads : 4;
    if (threads > 1) { o.parallel_for = (fnet_parallel_for_fn)tp_run; o.parallel_user = &pool; }
    if ((r = fnet_trainer_create(m, &o, &tr)) != FNET_OK) {
        fprintf(stderr, "bench_train: trainer: %s\n", fnet_result_string(r));
        return 1;
    }
    S = fnet_embed_input_size(m);
    dim = fnet_embed_dim(m);
    in = (size_t)S * S * 3;
    fs = fnet_trainer_frontier_size(tr);
    x = (float *)malloc(in * batch * sizeof(float));
    emb = (float *)malloc((size_t)dim * batch * sizeof(float));
    ge = (float *)malloc((size_t)dim * batch * sizeof(float));
    tb = (double *)malloc(sizeof(double) * iters);
    tu = (double *)malloc(sizeof(double) * iters);
    tc = (double *)malloc(sizeof(double) * iters);
    if (!x || !emb || !ge || !tb || !tu || !tc) return 1;
    {   /* uniform noise in the input range: pixel values through the network's normalisation */
        unsigned char *px = (unsigned char *)malloc(in);
        for (i = 0; i < batch; i++) {
            for (k = 0; k < in; k++) px[k] = (unsigned char)(urand() * 256.0f);
            fnet_trainer_input_from_rgb(tr, px, x + (size_t)i * in);
        }
        free(px);
    }
    for (k = 0; k < (size_t)dim * batch; k++) ge[k] = urand() - 0.5f;
    if (frontier) {
        f = (float *)malloc(fs * batch * sizeof(float));
        for (i = 0; i < batch; i++) fnet_trainer_frontier(tr, x + (size_t)i * in, f + (size_t)i * fs);
    }
    for (it = -1; it < iters; it++) {
        t0 = now_ms();
        c0 = cpu_ms();
        r = fnet_trainer_forward(tr, frontier ? f : x, frontier, batch, emb);
        if (r == FNET_OK) r = fnet_trainer_backward(tr, ge, NULL);
        t1 = now_ms();
        if (it >= 0) tc[it] = cpu_ms() - c0;
        if (r == FNET_OK) r = fnet_trainer_update(tr);
        t2 = now_ms();
        if (r != FNET_OK) { fprintf(stderr, "bench_train: %s\n", fnet_result_string(r)); return 1; }
        if (it >= 0) { tb[it] = t1 - t0; tu[it] = t2 - t1; }
    }
    {
        double med = median_ms(tb, iters), mn = tb[0], upd = median_ms(tu, iters), cpu = median_ms(tc, iters);
        printf("{\"bench\": \"train_fnet\", \"blob\": \"%s\", \"batch\": %d, \"threads\": %d, \"iters\": %d, "
               "\"trainable\": \"%s\", \"frontier\": %d, \"trainable_tensors\": %d, \"median_ms\": %.2f, "
               "\"min_ms\": %.2f, \"ms_per_face\": %.3f, \"cpu_ms\": %.2f, \"update_ms\": %.2f, \"isa\": \"%s\", "
               "\"memory_mb\": %.1f}\n",
               argv[1], batch, threads, iters, trainable, frontier, fnet_trainer_trainable_count(tr), med, mn,
               med / batch, cpu, upd, fnet_isa_name(fnet_model_get_isa(m)), fnet_trainer_memory(tr) / 1e6);
    }
    fnet_trainer_free(tr);
    fnet_model_free(m);
    tp_stop(&pool);
    free(x); free(emb); free(ge); free(f); free(tb); free(tu); free(tc);
    return 0;
}
