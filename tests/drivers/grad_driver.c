/* grad_driver: facenet.h's trainer (backpropagation) for tests/test_grad_torch.py, which
   compares its gradients with PyTorch autograd (tools/reference/torch_ref.py).

       grad_driver BLOB N linear  [THREADS] < N*H*W*3 float32 inputs, then N*D float32 dL/d emb
       grad_driver BLOB N triplet ALPHA [THREADS] < N*H*W*3 float32 inputs (N = 3)

   Inputs are normalised (H, W, 3) tensors as fnet_embed_tensor takes them, little-endian.
   The trainer is created with every CONV and DENSE tensor trainable ("*") and input_grad = 1.
   linear: the caller gives dL/d emb (e.g. a fixed random r for L = sum r . emb).
   triplet: the driver computes L and dL/d emb itself with fnet_triplet_loss over the one
   triplet (anchor 0, positive 1, negative 2) of its own embeddings.
   THREADS (default 1): > 1 spreads the batch over that many pthreads (opts.parallel_for).

   Output on stdout (little-endian):
       int32 N, D, S (input side)
       float32 emb[N*D]             the trainer's forward
       float32 loss                 triplet: fnet_triplet_loss's; linear: 0
       float32 grad_emb[N*D]        the dL/d emb given to fnet_trainer_backward
       int32 T                      trainable tensors, then T times:
           int32 name_len, name bytes, int32 ndim, int32 shape[ndim], float32 grad[prod(shape)]
       float32 grad_input[N*S*S*3]
   Exit codes: 0 ok, 1 failure, 2 usage. */
#define FNET_IMPLEMENTATION
#include "facenet.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a parallel_for on pthreads: tasks handed out from a shared counter ---- */
typedef struct pool_job {
    pthread_mutex_t lock;
    int next, n_tasks;
    fnet_task_fn fn;
    void *ctx;
} pool_job;

static void *pool_worker(void *arg) {
    pool_job *j = (pool_job *)arg;
    for (;;) {
        int t;
        pthread_mutex_lock(&j->lock);
        t = j->next < j->n_tasks ? j->next++ : -1;
        pthread_mutex_unlock(&j->lock);
        if (t < 0) return NULL;
        j->fn(j->ctx, t);
    }
}

static void pool_parallel_for(void *user, int n_tasks, fnet_task_fn fn, void *ctx) {
    int threads = *(int *)user, i, started = 0;
    pthread_t th[64];
    pool_job j;
    if (threads > 64) threads = 64;
    pthread_mutex_init(&j.lock, NULL);
    j.next = 0; j.n_tasks = n_tasks; j.fn = fn; j.ctx = ctx;
    for (i = 1; i < threads; i++)
        if (pthread_create(&th[started], NULL, pool_worker, &j) == 0) started++;
    pool_worker(&j);
    for (i = 0; i < started; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j.lock);
}

static int put_i32(int v) { return fwrite(&v, 4, 1, stdout) == 1; }
static int put_f32(const float *v, size_t n) { return fwrite(v, sizeof(float), n, stdout) == n; }

int main(int argc, char **argv) {
    fnet_model *m = NULL;
    fnet_trainer *tr = NULL;
    fnet_trainer_opts o;
    fnet_result r;
    int n, side, dim, triplet, threads = 1, i, j, T, rc = 1;
    float alpha = 0.0f, loss = 0.0f;
    size_t in_count;
    float *in = NULL, *emb = NULL, *gemb = NULL, *gin = NULL;
    if (argc < 4) goto usage;
    n = atoi(argv[2]);
    triplet = !strcmp(argv[3], "triplet");
    if (!triplet && strcmp(argv[3], "linear")) goto usage;
    if (triplet) {
        if (argc < 5 || argc > 6) goto usage;
        alpha = (float)atof(argv[4]);
        if (argc == 6) threads = atoi(argv[5]);
        if (n != 3) { fprintf(stderr, "triplet needs N = 3\n"); return 2; }
    } else {
        if (argc > 5) goto usage;
        if (argc == 5) threads = atoi(argv[4]);
    }
    if (n < 1 || n > 64 || threads < 1) goto usage;
    r = fnet_model_load_file(argv[1], &m);
    if (r != FNET_OK) { fprintf(stderr, "load %s: %s\n", argv[1], fnet_result_string(r)); return 1; }
    side = fnet_embed_input_size(m);
    dim = fnet_embed_dim(m);
    memset(&o, 0, sizeof o);
    o.trainable = "*";
    o.input_grad = 1;
    o.max_batch = n;
    if (threads > 1) { o.parallel_for = pool_parallel_for; o.parallel_user = &threads; }
    r = fnet_trainer_create(m, &o, &tr);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet_trainer_create: %s (%s)\n", fnet_result_string(r),
                tr ? fnet_trainer_error_detail(tr) : "");
        goto done;
    }
    in_count = (size_t)n * (size_t)side * (size_t)side * 3u;
    in = (float *)malloc(in_count * sizeof(float));
    gin = (float *)malloc(in_count * sizeof(float));
    emb = (float *)malloc((size_t)n * (size_t)dim * sizeof(float));
    gemb = (float *)malloc((size_t)n * (size_t)dim * sizeof(float));
    if (!in || !gin || !emb || !gemb) { fprintf(stderr, "out of memory\n"); goto done; }
    if (fread(in, sizeof(float), in_count, stdin) != in_count) { fprintf(stderr, "short input\n"); goto done; }
    if (!triplet && fread(gemb, sizeof(float), (size_t)n * dim, stdin) != (size_t)n * dim) {
        fprintf(stderr, "short dL/d emb\n");
        goto done;
    }
    r = fnet_trainer_forward(tr, in, 0, n, emb);
    if (r != FNET_OK) { fprintf(stderr, "fnet_trainer_forward: %s\n", fnet_result_string(r)); goto done; }
    if (triplet) {
        fnet_triplet t;
        int active = 0;
        t.anchor = 0; t.positive = 1; t.negative = 2;
        r = fnet_triplet_loss(emb, n, dim, &t, 1, alpha, &loss, gemb, &active);
        if (r != FNET_OK) { fprintf(stderr, "fnet_triplet_loss: %s\n", fnet_result_string(r)); goto done; }
        if (active != 1) fprintf(stderr, "note: the triplet is not active (loss %g)\n", loss);
    }
    r = fnet_trainer_backward(tr, gemb, gin);
    if (r != FNET_OK) { fprintf(stderr, "fnet_trainer_backward: %s\n", fnet_result_string(r)); goto done; }

    T = fnet_trainer_trainable_count(tr);
    if (!put_i32(n) || !put_i32(dim) || !put_i32(side) || !put_f32(emb, (size_t)n * dim) ||
        !put_f32(&loss, 1) || !put_f32(gemb, (size_t)n * dim) || !put_i32(T))
        goto write_error;
    for (i = 0; i < T; i++) {
        const char *name = fnet_trainer_trainable_name(tr, i);
        const float *g = fnet_trainer_grad(tr, i);
        const fnet_model *tm = fnet_trainer_model(tr);
        fnet_tensor_info info;
        size_t count = 1;
        int k, found = 0;
        for (j = 0; j < fnet_model_tensor_count(tm) && !found; j++)
            if (fnet_model_tensor_at(tm, j, &info) == FNET_OK && !strcmp(info.name, name)) found = 1;
        if (!name || !g || !found) { fprintf(stderr, "trainable %d (%s): no gradient or no tensor\n", i, name ? name : "?"); goto done; }
        for (k = 0; k < info.ndim; k++) count *= (size_t)info.shape[k];
        if (!put_i32((int)strlen(name)) || fwrite(name, 1, strlen(name), stdout) != strlen(name) ||
            !put_i32(info.ndim))
            goto write_error;
        for (k = 0; k < info.ndim; k++)
            if (!put_i32(info.shape[k])) goto write_error;
        if (!put_f32(g, count)) goto write_error;
    }
    if (!put_f32(gin, in_count)) goto write_error;
    rc = fflush(stdout) == 0 ? 0 : 1;
    goto done;
write_error:
    fprintf(stderr, "cannot write the output\n");
done:
    free(in); free(gin); free(emb); free(gemb);
    fnet_trainer_free(tr);
    fnet_model_free(m);
    return rc;
usage:
    fprintf(stderr, "usage: grad_driver BLOB N linear [THREADS] < inputs grad_emb\n"
                    "       grad_driver BLOB N triplet ALPHA [THREADS] < inputs\n");
    return 2;
}
