/* stand-in for MSVC's <math.h>: what facenet.h uses (see README.md) */
#ifndef FNET_MSVC_STUB_MATH_H
#define FNET_MSVC_STUB_MATH_H
#ifdef __cplusplus
extern "C" {
#endif
/* UCRT's definitions: HUGE_VAL from a constant, INFINITY and NAN as float expressions */
#define _HUGE_ENUF 1e+300
#define INFINITY ((float)(_HUGE_ENUF * _HUGE_ENUF))
#define HUGE_VAL ((double)INFINITY)
#define NAN (-(float)(INFINITY * 0.0F))
double floor(double x);
double ceil(double x);
double sqrt(double x);
double fabs(double x);
double exp(double x);
double log(double x);
double log2(double x);
double pow(double x, double y);
double sin(double x);
double cos(double x);
double atan2(double y, double x);
double round(double x);
double fma(double x, double y, double z);
double frexp(double x, int *e);
long lrint(double x);
float sqrtf(float x);
float powf(float x, float y);
float ldexpf(float x, int e);
float nextafterf(float x, float y);
double log10(double x);
double fmin(double x, double y);
double expm1(double x);
double log1p(double x);
#ifdef __cplusplus
}
#endif
#endif
