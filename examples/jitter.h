/* jitter.h - dlib-style random perturbations of an aligned face chip, for the fnet CLI:
   eval-lfw's test-time jitter (examples/cli_lfw.h) and train's augmentation
   (examples/cli_train.h).

   jitter_chip(in, out, size, &state) writes one perturbation of a size x size RGB chip in the
   manner of dlib's jitter_image; `state` is the 64-bit state of the LCG jitter_rand draws
   from (seed it as you like; the same state gives the same perturbation). */
#ifndef JITTER_H
#define JITTER_H
#include <math.h>
#include <stddef.h>

/* Uniform double in [lo, hi) from a 64-bit LCG (Knuth's MMIX constants). */
static double jitter_rand(unsigned long long *st, double lo, double hi) {
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(*st >> 11) / 9007199254740992.0;
}

/* One random perturbation of a size x size chip in the manner of dlib's jitter_image: a
   crop of the chip's inner square (3 px in from each side) grown by 1/U(0.97, 1), moved by
   up to 2% of its side, turned by up to 3 degrees, resampled bilinearly, mirrored with
   probability 1/2. Outside the chip reads as black. */
static void jitter_chip(const unsigned char *in, unsigned char *out, int size, unsigned long long *st) {
    double inner = size - 6, c0 = 0.5 * (size - 1);
    double tx = jitter_rand(st, -0.02, 0.02) * inner, ty = jitter_rand(st, -0.02, 0.02) * inner;
    double box = inner / jitter_rand(st, 0.97, 0.99999);
    double ang = jitter_rand(st, -3.0, 3.0) * 3.14159265358979323846 / 180.0;
    double k = (box - 1) / (size - 1), ca = cos(ang) * k, sa = sin(ang) * k;
    int flip = jitter_rand(st, 0, 1) > 0.5, u, v, ch;
    for (v = 0; v < size; v++)
        for (u = 0; u < size; u++) {
            double du = u - c0, dv = v - c0;
            double x = c0 + tx + ca * du - sa * dv, y = c0 + ty + sa * du + ca * dv;
            int x0 = (int)floor(x), y0 = (int)floor(y);
            double fx = x - x0, fy = y - y0;
            unsigned char *o = out + ((size_t)v * size + (flip ? size - 1 - u : u)) * 3;
            for (ch = 0; ch < 3; ch++) {
                double p[4];
                int q;
                for (q = 0; q < 4; q++) {
                    int xx = x0 + (q & 1), yy = y0 + (q >> 1);
                    p[q] = xx < 0 || yy < 0 || xx >= size || yy >= size ? 0.0 : in[((size_t)yy * size + xx) * 3 + ch];
                }
                o[ch] = (unsigned char)(((1 - fy) * ((1 - fx) * p[0] + fx * p[1]) + fy * ((1 - fx) * p[2] + fx * p[3])) + 0.5);
            }
        }
}
#endif
