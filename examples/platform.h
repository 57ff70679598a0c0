/* platform.h - the few operating-system calls the examples make, for POSIX and Windows.

   facenet.h itself calls nothing beyond stdio (and only to read blobs); the CLI and the tools
   also make folders, list them, ask whether stderr is a terminal, read clocks and run
   threads. Those calls differ between POSIX (Linux, macOS, the BSDs) and Windows (MinGW-w64,
   MSVC), so they live here, each a few lines per side:

     pf_mkdir(path)                    make one folder (an existing one is fine)
     pf_kind(path, &size, &mtime)      PF_FILE, PF_DIR, PF_OTHER, or PF_NONE when it does not exist
     pf_dir_open / pf_dir_next / pf_dir_close
                                       the names in a folder (including "." and "..")
     pf_rename(from, to)               replace `to` (POSIX rename; Windows MoveFileEx, because
                                       Windows' rename() fails when `to` exists)
     pf_isatty(FILE *)                 is this stream a terminal (progress lines end in \r)
     pf_getpid()                       for unique temporary names
     pf_now_ms() / pf_cpu_ms()         monotonic wall clock / this process's CPU time, in ms
     pf_thread, pf_mutex, pf_cond      threads: pthreads on POSIX, Win32 threads, SRW locks and
                                       condition variables on Windows (Vista and later)

   POSIX needs _POSIX_C_SOURCE 200809L defined before the first #include (the includer does
   that: fnet.c). PF_THREADS is 1 where threads exist; elsewhere (bare metal, an unknown OS)
   the thread calls are absent and the callers run their tasks on one thread. */
#ifndef PLATFORM_H
#define PLATFORM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) || defined(__clang__)
#define PF_UNUSED __attribute__((unused))
#else
#define PF_UNUSED
#endif

enum { PF_NONE = 0, PF_FILE, PF_DIR, PF_OTHER };

#ifdef _WIN32
/* ------------------------------------------------------------------ Windows */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <direct.h>    /* _mkdir */
#include <io.h>        /* _isatty, _fileno */
#include <process.h>   /* _getpid */
#include <sys/stat.h>
#include <sys/types.h>

#define PF_THREADS 1

static PF_UNUSED int pf_mkdir(const char *path) { return _mkdir(path); }

static PF_UNUSED int pf_kind(const char *path, long long *size, long long *mtime) {
    struct _stat64 st;
    if (_stat64(path, &st) != 0) return PF_NONE;
    if (size) *size = (long long)st.st_size;
    if (mtime) *mtime = (long long)st.st_mtime;
    if (st.st_mode & _S_IFDIR) return PF_DIR;
    return (st.st_mode & _S_IFREG) ? PF_FILE : PF_OTHER;
}

typedef struct pf_dir {
    HANDLE h;
    WIN32_FIND_DATAA fd;
    int first; /* fd holds an entry not handed out yet */
} pf_dir;

static PF_UNUSED pf_dir *pf_dir_open(const char *dir) {
    char pattern[4096];
    pf_dir *d;
    size_t n = strlen(dir);
    if (n + 3 > sizeof pattern) return NULL;
    memcpy(pattern, dir, n);
    if (n > 0 && dir[n - 1] != '/' && dir[n - 1] != '\\') pattern[n++] = '\\';
    pattern[n++] = '*';
    pattern[n] = 0;
    d = (pf_dir *)malloc(sizeof *d);
    if (!d) return NULL;
    d->h = FindFirstFileA(pattern, &d->fd);
    if (d->h == INVALID_HANDLE_VALUE) { free(d); return NULL; }
    d->first = 1;
    return d;
}
static PF_UNUSED const char *pf_dir_next(pf_dir *d) {
    if (!d->first && !FindNextFileA(d->h, &d->fd)) return NULL;
    d->first = 0;
    return d->fd.cFileName;
}
static PF_UNUSED void pf_dir_close(pf_dir *d) {
    if (!d) return;
    FindClose(d->h);
    free(d);
}

static PF_UNUSED int pf_rename(const char *from, const char *to) {
    return MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING) ? 0 : -1;
}
static PF_UNUSED int pf_isatty(FILE *f) { return _isatty(_fileno(f)); }
static PF_UNUSED long pf_getpid(void) { return (long)_getpid(); }

static PF_UNUSED double pf_now_ms(void) {
    LARGE_INTEGER c, f;
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    return (double)c.QuadPart * 1e3 / (double)f.QuadPart;
}
static PF_UNUSED double pf_cpu_ms(void) {
    FILETIME created, exited, kernel, user; /* 100 ns units */
    if (!GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user)) return 0;
    return ((double)kernel.dwLowDateTime + (double)kernel.dwHighDateTime * 4294967296.0 +
            (double)user.dwLowDateTime + (double)user.dwHighDateTime * 4294967296.0) / 1e4;
}

/* Threads: a start routine of the POSIX shape, run through a small trampoline. */
typedef struct pf__start {
    void *(*fn)(void *);
    void *arg;
} pf__start;
typedef HANDLE pf_thread;
typedef SRWLOCK pf_mutex;
typedef CONDITION_VARIABLE pf_cond;

static DWORD WINAPI pf__trampoline(LPVOID p) {
    pf__start s = *(pf__start *)p;
    free(p);
    s.fn(s.arg);
    return 0;
}
static PF_UNUSED int pf_thread_start(pf_thread *t, void *(*fn)(void *), void *arg) {
    pf__start *s = (pf__start *)malloc(sizeof *s);
    if (!s) return -1;
    s->fn = fn;
    s->arg = arg;
    *t = CreateThread(NULL, 0, pf__trampoline, s, 0, NULL);
    if (!*t) { free(s); return -1; }
    return 0;
}
static PF_UNUSED void pf_thread_join(pf_thread t) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
static PF_UNUSED int pf_mutex_init(pf_mutex *m) { InitializeSRWLock(m); return 0; }
static PF_UNUSED void pf_mutex_destroy(pf_mutex *m) { (void)m; }
static PF_UNUSED void pf_mutex_lock(pf_mutex *m) { AcquireSRWLockExclusive(m); }
static PF_UNUSED void pf_mutex_unlock(pf_mutex *m) { ReleaseSRWLockExclusive(m); }
static PF_UNUSED int pf_cond_init(pf_cond *c) { InitializeConditionVariable(c); return 0; }
static PF_UNUSED void pf_cond_destroy(pf_cond *c) { (void)c; }
static PF_UNUSED void pf_cond_wait(pf_cond *c, pf_mutex *m) { SleepConditionVariableSRW(c, m, INFINITE, 0); }
static PF_UNUSED void pf_cond_broadcast(pf_cond *c) { WakeAllConditionVariable(c); }

#else
/* ------------------------------------------------------------------ POSIX */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static PF_UNUSED int pf_mkdir(const char *path) { return mkdir(path, 0777); }

static PF_UNUSED int pf_kind(const char *path, long long *size, long long *mtime) {
    struct stat st;
    if (stat(path, &st) != 0) return PF_NONE;
    if (size) *size = (long long)st.st_size;
    if (mtime) *mtime = (long long)st.st_mtime;
    if (S_ISDIR(st.st_mode)) return PF_DIR;
    return S_ISREG(st.st_mode) ? PF_FILE : PF_OTHER;
}

typedef DIR pf_dir;
static PF_UNUSED pf_dir *pf_dir_open(const char *dir) { return opendir(dir); }
static PF_UNUSED const char *pf_dir_next(pf_dir *d) {
    struct dirent *e = readdir(d);
    return e ? e->d_name : NULL;
}
static PF_UNUSED void pf_dir_close(pf_dir *d) {
    if (d) closedir(d);
}

static PF_UNUSED int pf_rename(const char *from, const char *to) { return rename(from, to); }
static PF_UNUSED int pf_isatty(FILE *f) { return isatty(fileno(f)); }
static PF_UNUSED long pf_getpid(void) { return (long)getpid(); }

static PF_UNUSED double pf_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
/* CPU time of the whole process (every thread); 0 where the clock is missing. */
static PF_UNUSED double pf_cpu_ms(void) {
#ifdef CLOCK_PROCESS_CPUTIME_ID
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0) return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
#endif
    return 0;
}

#if defined(__unix__) || defined(__APPLE__)
#define PF_THREADS 1
#include <pthread.h>
typedef pthread_t pf_thread;
typedef pthread_mutex_t pf_mutex;
typedef pthread_cond_t pf_cond;
static PF_UNUSED int pf_thread_start(pf_thread *t, void *(*fn)(void *), void *arg) {
    return pthread_create(t, NULL, fn, arg) == 0 ? 0 : -1;
}
static PF_UNUSED void pf_thread_join(pf_thread t) { pthread_join(t, NULL); }
static PF_UNUSED int pf_mutex_init(pf_mutex *m) { return pthread_mutex_init(m, NULL); }
static PF_UNUSED void pf_mutex_destroy(pf_mutex *m) { pthread_mutex_destroy(m); }
static PF_UNUSED void pf_mutex_lock(pf_mutex *m) { pthread_mutex_lock(m); }
static PF_UNUSED void pf_mutex_unlock(pf_mutex *m) { pthread_mutex_unlock(m); }
static PF_UNUSED int pf_cond_init(pf_cond *c) { return pthread_cond_init(c, NULL); }
static PF_UNUSED void pf_cond_destroy(pf_cond *c) { pthread_cond_destroy(c); }
static PF_UNUSED void pf_cond_wait(pf_cond *c, pf_mutex *m) { pthread_cond_wait(c, m); }
static PF_UNUSED void pf_cond_broadcast(pf_cond *c) { pthread_cond_broadcast(c); }
#else
#define PF_THREADS 0
#endif
#endif

#endif
