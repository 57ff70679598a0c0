/* stand-in for MSVC's <stdio.h>: what facenet.h uses (see README.md) */
#ifndef FNET_MSVC_STUB_STDIO_H
#define FNET_MSVC_STUB_STDIO_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct _iobuf { void *_Placeholder; } FILE;
#define EOF (-1)
#define SEEK_CUR 1
#define SEEK_END 2
#define SEEK_SET 0
FILE *fopen(const char *name, const char *mode);
int fclose(FILE *f);
size_t fread(void *p, size_t size, size_t n, FILE *f);
size_t fwrite(const void *p, size_t size, size_t n, FILE *f);
int fseek(FILE *f, long off, int whence);
long ftell(FILE *f);
int fflush(FILE *f);
int remove(const char *name);
int rename(const char *from, const char *to);
#ifdef __cplusplus
}
#endif
#endif
