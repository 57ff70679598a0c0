/* stand-in for MSVC's <malloc.h>, which the compiler's mm_malloc.h (via immintrin.h) includes */
#ifndef FNET_MSVC_STUB_MALLOC_H
#define FNET_MSVC_STUB_MALLOC_H
#include <stdlib.h>
#ifdef __cplusplus
extern "C" {
#endif
void *_aligned_malloc(size_t size, size_t align);
void _aligned_free(void *p);
#ifdef __cplusplus
}
#endif
#endif
