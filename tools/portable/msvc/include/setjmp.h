/* stand-in for MSVC's <setjmp.h>, which the compiler's intrin.h includes */
#ifndef FNET_MSVC_STUB_SETJMP_H
#define FNET_MSVC_STUB_SETJMP_H
typedef struct { unsigned long long _Part[32]; } jmp_buf[1];
#endif
