/* pthread.h for wasm32-wasi (tools/wasm/cc.sh puts this folder on the include path): wasi-libc
   has no threads, so a "thread" runs to its end inside pthread_create and pthread_join returns
   its result. Enough for code (the tests, the CLI) that starts threads, waits for them and
   guards shared state with mutexes: it runs the same work on one thread, in creation order.
   Condition waits cannot block (nothing else runs): pthread_cond_wait returns at once, so
   code that waits on a condition another thread sets would spin; the CLI's pool never starts
   a worker here (thread_pool.h: no __unix__, TP_THREADS 0). */
#ifndef FNET_WASI_PTHREAD_H
#define FNET_WASI_PTHREAD_H
#include <stddef.h>

typedef struct { void *ret; int used; } pthread_t;
typedef int pthread_attr_t;
typedef int pthread_mutex_t;
typedef int pthread_mutexattr_t;
typedef int pthread_cond_t;
typedef int pthread_condattr_t;
#define PTHREAD_MUTEX_INITIALIZER 0
#define PTHREAD_COND_INITIALIZER 0

static __inline int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg) {
    (void)a;
    t->used = 1;
    t->ret = fn(arg);
    return 0;
}
static __inline int pthread_join(pthread_t t, void **ret) {
    if (ret) *ret = t.ret;
    return t.used ? 0 : 3; /* ESRCH */
}
static __inline int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a) { (void)a; *m = 0; return 0; }
static __inline int pthread_mutex_destroy(pthread_mutex_t *m) { (void)m; return 0; }
static __inline int pthread_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
static __inline int pthread_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }
static __inline int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) { (void)a; *c = 0; return 0; }
static __inline int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
static __inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c; (void)m; return 0; }
static __inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static __inline int pthread_cond_broadcast(pthread_cond_t *c) { (void)c; return 0; }
#endif
