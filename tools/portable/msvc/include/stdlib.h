/* stand-in for MSVC's <stdlib.h>: what facenet.h uses (see README.md) */
#ifndef FNET_MSVC_STUB_STDLIB_H
#define FNET_MSVC_STUB_STDLIB_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
void *malloc(size_t n);
void *realloc(void *p, size_t n);
void free(void *p);
void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
double strtod(const char *s, char **end);
long strtol(const char *s, char **end, int base);
#ifdef __cplusplus
}
#endif
#endif
