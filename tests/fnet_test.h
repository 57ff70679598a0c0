/* fnet_test.h - the tiny test harness of facenet.h's C tests.

   CHECK(cond, fmt, ...)  counts a pass or prints the failure with file:line.
   SKIP(fmt, ...)         counts a skipped check (e.g. ../shared/data absent) and says why.
   test_finish()          prints "N passed, M failed, K skipped" (the closing line CI reads)
                          and returns the process exit code.
   shared_path(rel)       ../shared/<rel> (or $FNET_SHARED/<rel>) if it exists, else NULL.
   weights_path(name)     $FNET_WEIGHTS/<name> or weights/<name> if it exists, else NULL.
*/
#ifndef FNET_TEST_H
#define FNET_TEST_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define TEST_UNUSED __attribute__((unused))
#else
#define TEST_UNUSED
#endif

static int test_passed, test_failed, test_skipped;

static TEST_UNUSED void test_check(int ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        test_passed++;
        return;
    }
    {
        va_list ap;
        test_failed++;
        fprintf(stderr, "FAIL %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
}
#define CHECK(cond, ...) test_check((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

static TEST_UNUSED void test_skip(const char *fmt, ...) {
    va_list ap;
    test_skipped++;
    fprintf(stderr, "skip: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
#define SKIP(...) test_skip(__VA_ARGS__)

static TEST_UNUSED int test_finish(void) {
    printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped);
    return test_failed ? 1 : 0;
}

#ifdef _WIN32
#include <sys/stat.h>
#endif
/* A file or a folder (shared_path asks about both). */
static TEST_UNUSED int test_file_exists(const char *p) {
#ifdef _WIN32
    struct _stat st; /* Windows' fopen cannot open a folder */
    return _stat(p, &st) == 0;
#else
    FILE *f = fopen(p, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
#endif
}

/* Returns a static buffer: copy it before calling again. */
static TEST_UNUSED const char *shared_path(const char *rel) {
    static char buf[4096];
    const char *root = getenv("FNET_SHARED");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : "../shared", rel);
    return test_file_exists(buf) ? buf : NULL;
}

static TEST_UNUSED const char *weights_path(const char *name) {
    static char buf[4096];
    const char *root = getenv("FNET_WEIGHTS");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : "weights", name);
    return test_file_exists(buf) ? buf : NULL;
}

static TEST_UNUSED unsigned char *test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = (unsigned char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf && size) *size = (size_t)n;
    return buf;
}
#endif
