/* thread_pool.h - a small persistent thread pool for the fnet CLI (POSIX threads or Win32
   threads, through examples/platform.h).

   tp_pool p; tp_start(&p, threads);       threads - 1 workers; the caller is the last one
   tp_run(&p, n, fn, ctx);                 fn(ctx, i) for every i in 0..n-1, on any of the
                                           threads, returning when all have finished
   tp_stop(&p);

   tp_run has the signature of facenet.h's fnet_parallel_for_fn (user = the pool), so a pool
   serves fnet_trainer_opts.parallel_for as well as the CLI's own loops over images. Tasks
   are handed out one at a time under a mutex; which thread runs a task never matters to a
   caller whose tasks write disjoint memory. Without threads (PF_THREADS 0), with one thread, or when
   no worker could start, the tasks run one after another on the caller's thread. Not
   reentrant: a task must not call tp_run on its own pool.
   A library call lent the pool (opts.parallel) hands out a job per convolution, dozens per
   embedding, each a fraction of a millisecond: waking a sleeping thread would cost a good
   part of that. So an idle worker, and a caller waiting for its job's last task, first spin
   a little (TP_SPIN polls of the job counter with a PAUSE each: 150 us on the project's AMD
   EPYC, whose PAUSE is long; GCC/clang atomics) before they sleep on the condition variable.
   A call after a longer idle spell first wakes the worker (about 50 us there, sometimes
   milliseconds): tools/bench/bench_parallel.sh reports such calls as "cold". */
#ifndef THREAD_POOL_H
#define THREAD_POOL_H

#include <string.h>
#include "platform.h"
#ifndef TP_THREADS
#define TP_THREADS PF_THREADS
#endif

#define TP_MAX_THREADS 64
#ifndef TP_SPIN
#define TP_SPIN 4000
#endif
#if TP_THREADS && (defined(__GNUC__) || defined(__clang__))
#define TP_LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define TP_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#if defined(__x86_64__) || defined(__i386__)
#define TP_PAUSE() __builtin_ia32_pause()
#else
#define TP_PAUSE() ((void)0)
#endif
#else /* no spinning: sleep at once */
#undef TP_SPIN
#define TP_SPIN 0
#define TP_LOAD(x) (x)
#define TP_STORE(x, v) ((x) = (v))
#define TP_PAUSE() ((void)0)
#endif

typedef struct tp_pool {
    int threads; /* workers + the caller */
#if TP_THREADS
    pf_thread th[TP_MAX_THREADS];
    int started, quit;           /* quit, gen and finished: written under lock, polled without */
    pf_mutex lock;
    pf_cond wake, done;
    unsigned long gen;           /* job number: a worker drains the job it has not seen yet */
    fnet_task_fn fn;
    void *ctx;
    int n, next, finished;
#endif
} tp_pool;

#if TP_THREADS
/* Runs the current job's tasks until none is left to take; lock held on entry and exit. */
static void tp__drain(tp_pool *p) {
    while (p->next < p->n) {
        int i = p->next++;
        fnet_task_fn fn = p->fn;
        void *ctx = p->ctx;
        pf_mutex_unlock(&p->lock);
        fn(ctx, i);
        pf_mutex_lock(&p->lock);
        TP_STORE(p->finished, p->finished + 1);
        if (p->finished == p->n) pf_cond_broadcast(&p->done);
    }
}

static void *tp__main(void *arg) {
    tp_pool *p = (tp_pool *)arg;
    unsigned long seen = 0;
    pf_mutex_lock(&p->lock);
    for (;;) {
        if (TP_SPIN && !p->quit && p->gen == seen) { /* spin a little before sleeping */
            int k;
            pf_mutex_unlock(&p->lock);
            for (k = 0; k < TP_SPIN && TP_LOAD(p->gen) == seen && !TP_LOAD(p->quit); k++) TP_PAUSE();
            pf_mutex_lock(&p->lock);
        }
        while (!p->quit && p->gen == seen) pf_cond_wait(&p->wake, &p->lock);
        if (p->quit) break;
        seen = p->gen;
        tp__drain(p);
    }
    pf_mutex_unlock(&p->lock);
    return NULL;
}
#endif

/* Starts threads - 1 workers (threads 1..TP_MAX_THREADS). Returns the threads that will run
   tasks (1 when none could start). */
static int tp_start(tp_pool *p, int threads) {
    memset(p, 0, sizeof *p);
    p->threads = 1;
#if TP_THREADS
    if (threads > TP_MAX_THREADS) threads = TP_MAX_THREADS;
    if (threads <= 1) return 1;
    if (pf_mutex_init(&p->lock) != 0) return 1;
    if (pf_cond_init(&p->wake) != 0) { pf_mutex_destroy(&p->lock); return 1; }
    if (pf_cond_init(&p->done) != 0) {
        pf_cond_destroy(&p->wake);
        pf_mutex_destroy(&p->lock);
        return 1;
    }
    while (p->started < threads - 1 && pf_thread_start(&p->th[p->started], tp__main, p) == 0) p->started++;
    p->threads = 1 + p->started;
#else
    (void)threads;
#endif
    return p->threads;
}

static void tp_run(void *user, int n, fnet_task_fn fn, void *ctx) {
    tp_pool *p = (tp_pool *)user;
    int i;
#if TP_THREADS
    if (p && p->started > 0 && n > 1) {
        pf_mutex_lock(&p->lock);
        p->fn = fn;
        p->ctx = ctx;
        p->n = n;
        p->next = 0;
        TP_STORE(p->finished, 0);
        TP_STORE(p->gen, p->gen + 1);
        pf_cond_broadcast(&p->wake);
        tp__drain(p);
        if (TP_SPIN && p->finished < p->n) { /* the others' last tasks: spin a little first */
            int k;
            pf_mutex_unlock(&p->lock);
            for (k = 0; k < TP_SPIN && TP_LOAD(p->finished) < n; k++) TP_PAUSE();
            pf_mutex_lock(&p->lock);
        }
        while (p->finished < p->n) pf_cond_wait(&p->done, &p->lock);
        p->n = 0; /* a worker waking late finds nothing left */
        pf_mutex_unlock(&p->lock);
        return;
    }
#else
    (void)p;
#endif
    for (i = 0; i < n; i++) fn(ctx, i);
}

static void tp_stop(tp_pool *p) {
#if TP_THREADS
    int t;
    if (p->started > 0) {
        pf_mutex_lock(&p->lock);
        TP_STORE(p->quit, 1);
        pf_cond_broadcast(&p->wake);
        pf_mutex_unlock(&p->lock);
        for (t = 0; t < p->started; t++) pf_thread_join(p->th[t]);
        pf_cond_destroy(&p->done);
        pf_cond_destroy(&p->wake);
        pf_mutex_destroy(&p->lock);
    }
#endif
    memset(p, 0, sizeof *p);
}
#endif
