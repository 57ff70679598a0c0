/* stand-in for MSVC's <string.h>: what facenet.h uses (see README.md) */
#ifndef FNET_MSVC_STUB_STRING_H
#define FNET_MSVC_STUB_STRING_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strcat(char *d, const char *s);
#ifdef __cplusplus
}
#endif
/* MSVC's string.h declares strstr and memchr twice in C++ (const and non-const overloads) */
#ifdef __cplusplus
extern "C++" {
inline const char *strstr(const char *h, const char *n) { return __builtin_strstr(h, n); }
inline char *strstr(char *h, const char *n) { return __builtin_strstr(h, n); }
inline const void *memchr(const void *p, int c, size_t n) { return __builtin_memchr(p, c, n); }
inline void *memchr(void *p, int c, size_t n) { return (void *)__builtin_memchr(p, c, n); }
}
#else
char *strstr(const char *h, const char *n);
void *memchr(const void *p, int c, size_t n);
#endif
#endif
