/* test_kernels.c - every micro-kernel of the network engine against its scalar twin, and the
   scalar kernels against the naive double-precision definitions in tests/fnet_graph.h.
   Shapes are chosen odd on purpose: channel counts that are not a multiple of any vector
   width or of the 16-wide weight panels, 1x1, 7x7 stride 2, asymmetric pads, 1-pixel
   outputs (the dense case), tiles shorter than the micro-kernel's height.
   Tolerances: SIMD vs scalar 1e-6 and scalar vs double 1e-5, relative to the output scale
   (max(1, max |output|)): the kernels only reorder/fuse float roundings of the same sums. */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"
#include "fnet_graph.h"

static unsigned g_seed = 1u;
static float frand(void) {
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)((g_seed >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

typedef struct conv_case { int h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr; } conv_case;

static const conv_case g_cases[] = {
    {19, 17, 3, 64, 7, 7, 2, 2, 3, 3, 3, 3},   /* nn4's first layer shape, odd image */
    {13, 11, 3, 17, 7, 7, 2, 2, 3, 2, 4, 1},   /* 7x7 s2, asymmetric pads, Cout 17 */
    {9, 10, 13, 33, 1, 1, 1, 1, 0, 0, 0, 0},   /* 1x1: a plain GEMM */
    {1, 1, 37, 5, 1, 1, 1, 1, 0, 0, 0, 0},     /* the dense case: one output row */
    {1, 1, 736, 128, 1, 1, 1, 1, 0, 0, 0, 0},  /* nn4's dense layer */
    {8, 8, 5, 16, 3, 3, 1, 1, 1, 1, 1, 1},
    {11, 6, 7, 31, 5, 5, 2, 1, 2, 0, 1, 3},
    {3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {12, 12, 19, 48, 3, 3, 2, 2, 0, 0, 1, 1},
    {13, 1, 9, 7, 3, 1, 1, 1, 1, 0, 1, 0},
    {6, 7, 96, 129, 3, 3, 1, 1, 1, 1, 1, 1},   /* Cout one above a panel multiple */
    {7, 5, 11, 40, 3, 3, 1, 1, 0, 1, 2, 1},    /* panel pair + half panel (AVX-512 masks) */
    {4, 4, 8, 24, 1, 1, 1, 1, 0, 0, 0, 0},
    {5, 5, 2, 3, 5, 5, 1, 1, 4, 4, 0, 0},      /* windows mostly over padding */
    {9, 9, 7, 7, 1, 1, 1, 1, 1, 0, 0, 1},      /* 1x1 with one-sided pads (kernel rows of one pixel) */
    {20, 23, 3, 32, 7, 7, 2, 2, 0, 0, 0, 0},   /* the ResNet's first layer: inside windows take whole kernel rows */
};

static fnet_isa g_simd[4] = {FNET_ISA_SSE2, FNET_ISA_AVX2, FNET_ISA_NEON, FNET_ISA_WASM_SIMD};

/* Runs the engine's convolution with one kernel set. */
static void run_conv(int isa, const conv_case *c, const float *in, const float *bp,
                     const float *bias, const float *zeros, float *out, int oh, int ow, int relu) {
    fnet__geom g;
    const float **ptrs = (const float **)malloc((size_t)FNET__MR_MAX * c->kh * c->kw * sizeof(float *));
    g.kh = c->kh; g.kw = c->kw; g.sh = c->sh; g.sw = c->sw;
    g.pt = c->pt; g.pl = c->pl; g.pb = c->pb; g.pr = c->pr;
    fnet__conv(isa, in, c->h, c->w, c->cin, &g, oh, ow, c->cout, bp, bias, zeros, ptrs, out, relu);
    free((void *)ptrs);
}

static void test_conv_kernels(void) {
    size_t ci;
    for (ci = 0; ci < sizeof g_cases / sizeof g_cases[0]; ci++) {
        const conv_case *c = &g_cases[ci];
        int oh = (c->h + c->pt + c->pb - c->kh) / c->sh + 1, ow = (c->w + c->pl + c->pr - c->kw) / c->sw + 1;
        int np = (c->cout + 15) / 16, relu, k;
        size_t K = (size_t)c->kh * c->kw * c->cin, n_in = (size_t)c->h * c->w * c->cin;
        size_t n_out = (size_t)oh * ow * c->cout, i;
        float *in = (float *)malloc(n_in * sizeof(float)), *w = (float *)malloc(K * c->cout * sizeof(float));
        float *bp;
        void *bp_raw;
        float *bias = (float *)calloc((size_t)np * 16, sizeof(float)), *zeros = (float *)calloc((size_t)c->kw * c->cin + 16, sizeof(float));
        float *ref = (float *)malloc(n_out * sizeof(float)), *out = (float *)malloc(n_out * sizeof(float));
        double *dref = (double *)malloc(n_out * sizeof(double)), *din = (double *)malloc(n_in * sizeof(double));

        g_seed = 1000u + (unsigned)ci;
        bp = (float *)fnet__alloc_aligned(K * np * 16 * sizeof(float), &bp_raw);
        for (i = 0; i < n_in; i++) { in[i] = frand(); din[i] = in[i]; }
        for (i = 0; i < K * c->cout; i++) w[i] = frand() / sqrtf((float)K);
        for (i = 0; i < (size_t)c->cout; i++) bias[i] = 0.1f * frand();
        fnet__pack_b(w, (int)K, c->cout, bp);
        for (relu = 0; relu < 2; relu++) {
            double scale = 1.0, err = 0.0;
            run_conv(FNET_ISA_SCALAR, c, in, bp, bias, zeros, ref, oh, ow, relu);
            ref_window(G_CONV, din, c->h, c->w, c->cin, &c->kh, w, bias, oh, ow, c->cout, relu, dref);
            for (i = 0; i < n_out; i++) if (fabs(dref[i]) > scale) scale = fabs(dref[i]);
            for (i = 0; i < n_out; i++) if (fabs(ref[i] - dref[i]) > err) err = fabs(ref[i] - dref[i]);
            CHECK(err / scale <= 1e-5, "case %zu relu %d: scalar conv vs naive: rel err %.3g", ci, relu, err / scale);
            for (k = 0; k < 5; k++) {
                int kern = k < 4 ? (int)g_simd[k] : -1;
                const char *kname = k < 4 ? fnet_isa_name(g_simd[k]) : "avx512";
                if (k == 4) {
#if defined(FNET__AVX512)
                    if (fnet__cpu_has_avx512f()) kern = FNET__KERN_AVX512;
#endif
                    if (kern < 0) { if (ci == 0 && relu == 0) SKIP("avx512 kernel not supported here"); continue; }
                } else if (!fnet_isa_supported(g_simd[k])) {
                    if (ci == 0 && relu == 0) SKIP("%s kernels not supported here", kname);
                    continue;
                }
                for (i = 0; i < n_out; i++) out[i] = NAN;
                run_conv(kern, c, in, bp, bias, zeros, out, oh, ow, relu);
                err = 0.0;
                for (i = 0; i < n_out; i++) {
                    double d = fabs((double)out[i] - ref[i]);
                    if (!(d <= err)) err = d; /* NaN (an unwritten output) counts as an error */
                }
                CHECK(err / scale <= 1e-6, "case %zu (%dx%dx%d -> %d, k%dx%d s%d,%d) relu %d: %s vs scalar twin: rel diff %.3g",
                      ci, c->h, c->w, c->cin, c->cout, c->kh, c->kw, c->sh, c->sw, relu, kname, err / scale);
            }
        }
        free(in); free(w); FNET_FREE(bp_raw); free(bias); free(zeros); free(ref); free(out); free(dref); free(din);
    }
}

/* Pools, LRN and element-wise add on every kernel set: vs the naive definitions (1e-6) and
   vs the scalar twin (these kernels do the same float operations in the same order: equal). */
static const fnet_isa g_all[5] = {FNET_ISA_SCALAR, FNET_ISA_SSE2, FNET_ISA_AVX2, FNET_ISA_NEON, FNET_ISA_WASM_SIMD};

static void test_other_ops(void) {
    static const int pools[][8] = {{3, 3, 2, 2, 0, 1, 1, 0}, {3, 3, 1, 1, 1, 1, 1, 1}, {3, 3, 3, 3, 0, 0, 0, 0},
                                   {2, 5, 1, 2, 1, 2, 0, 3}, {1, 1, 2, 2, 0, 0, 0, 0}, {3, 3, 2, 2, 2, 2, 2, 2}};
    static const int chans[3] = {21, 64, 3};
    int H = 11, W = 9, C, p, t, k, ci;
    size_t n, i;
    float *in, *out, *ref, tmp[3 * 64 + 8];
    double *din, *dref;
    for (ci = 0; ci < 3; ci++) {
        C = chans[ci];
        n = (size_t)H * W * C;
        in = (float *)malloc(n * sizeof(float)); out = (float *)malloc(n * 4 * sizeof(float));
        ref = (float *)malloc(n * 4 * sizeof(float));
        din = (double *)malloc(n * sizeof(double)); dref = (double *)malloc(n * 4 * sizeof(double));
        g_seed = 42u + (unsigned)ci;
        for (i = 0; i < n; i++) { in[i] = frand(); din[i] = in[i]; }
        for (p = 0; p < 6; p++)
            for (t = G_MAXPOOL; t <= G_L2POOL; t++) {
                fnet__geom g;
                int ip[8], oh, ow;
                memcpy(ip, pools[p], sizeof ip);
                g.kh = ip[0]; g.kw = ip[1]; g.sh = ip[2]; g.sw = ip[3]; g.pt = ip[4]; g.pl = ip[5]; g.pb = ip[6]; g.pr = ip[7];
                oh = (H + ip[4] + ip[6] - ip[0]) / ip[2] + 1;
                ow = (W + ip[5] + ip[7] - ip[1]) / ip[3] + 1;
                ref_window(t, din, H, W, C, ip, NULL, NULL, oh, ow, C, 0, dref);
                fnet__pool(FNET_ISA_SCALAR, t, in, H, W, C, &g, ow, ref, 0, oh);
                for (k = 0; k < 5; k++) {
                    double err = 0, twin = 0;
                    if (!fnet_isa_supported(g_all[k])) continue;
                    fnet__pool(g_all[k], t, in, H, W, C, &g, ow, out, 0, oh / 2); /* in two row ranges, */
                    fnet__pool(g_all[k], t, in, H, W, C, &g, ow, out, oh / 2, oh); /* as the caller's threads */
                    for (i = 0; i < (size_t)oh * ow * C; i++) {
                        if (!(fabs(out[i] - dref[i]) <= err)) err = fabs(out[i] - dref[i]);
                        if (!(fabs(out[i] - ref[i]) <= twin)) twin = fabs(out[i] - ref[i]);
                    }
                    CHECK(err <= 1e-6 && twin <= 1e-6, "pool type %d case %d C %d on %s: err %.3g, vs scalar %.3g",
                          t, p, C, fnet_isa_name(g_all[k]), err, twin);
                }
            }
        {   /* LRN: tf.nn.lrn, several radii, the fast betas and a general one */
            static const float prm[5][4] = {{5, 1e-4f, 0.75f, 1.0f}, {2, 0.5f, 0.5f, 2.0f}, {0, 1.0f, 1.0f, 0.5f},
                                            {3, 0.3f, 0.6f, 1.5f}, {40, 0.1f, 0.75f, 1.0f}};
            for (p = 0; p < 5; p++) {
                fnet__lrn(FNET_ISA_SCALAR, in, (size_t)H * W, C, (int)prm[p][0], prm[p][1], prm[p][2], prm[p][3], ref, tmp);
                ref_lrn(din, (size_t)H * W, C, (int)prm[p][0], prm[p][1], prm[p][2], prm[p][3], dref);
                for (k = 0; k < 5; k++) {
                    double err = 0, scale = 1, twin = 0;
                    if (!fnet_isa_supported(g_all[k])) continue;
                    fnet__lrn(g_all[k], in, (size_t)H * W, C, (int)prm[p][0], prm[p][1], prm[p][2], prm[p][3], out, tmp);
                    for (i = 0; i < n; i++) {
                        if (fabs(dref[i]) > scale) scale = fabs(dref[i]);
                        if (!(fabs(out[i] - dref[i]) <= err)) err = fabs(out[i] - dref[i]);
                        if (!(fabs(out[i] - ref[i]) <= twin)) twin = fabs(out[i] - ref[i]);
                    }
                    CHECK(err / scale <= 1e-6 && twin / scale <= 1e-6, "LRN params %d C %d on %s: rel err %.3g, vs scalar %.3g",
                          p, C, fnet_isa_name(g_all[k]), err / scale, twin / scale);
                }
            }
        }
        /* add with and without b and ReLU, odd lengths */
        for (p = 0; p < 4; p++) {
            size_t len = n - 1 - (size_t)p * 3;
            fnet__add_scalar(ref, in, p & 1 ? NULL : in + 1, len, p >> 1);
            for (k = 1; k < 5; k++) {
                double twin = 0;
                if (!fnet_isa_supported(g_all[k])) continue;
                fnet__add(g_all[k], out, in, p & 1 ? NULL : in + 1, len, p >> 1);
                for (i = 0; i < len; i++) if (!(fabs(out[i] - ref[i]) <= twin)) twin = fabs(out[i] - ref[i]);
                CHECK(twin == 0, "add variant %d on %s vs scalar: %.3g", p, fnet_isa_name(g_all[k]), twin);
            }
            for (i = 0; i < len; i++) {
                double v = in[i] + (p & 1 ? 0.0 : in[i + 1]);
                if ((p >> 1) && v < 0) v = 0;
                if (fabs(ref[i] - v) > 1e-6) break;
            }
            CHECK(i == len, "scalar add variant %d vs definition", p);
        }
        /* the ReLU mask of the backward pass (dz = dy * [y > 0]), odd lengths, zeros and
           negative zeros in y: every kernel set bit-identical to the scalar twin */
        for (p = 0; p < 3; p++) {
            size_t len = n - 1 - (size_t)p * 5;
            in[3] = 0.0f; in[4] = -0.0f;
            for (i = 0; i < len; i++) { ref[i] = in[i + 1]; out[i] = in[i + 1]; }
            fnet__relu_mask_scalar(ref, in, len);
            for (i = 0; i < len; i++)
                if (ref[i] != (in[i] > 0.0f ? in[i + 1] : 0.0f)) break;
            CHECK(i == len, "scalar ReLU mask variant %d vs definition", p);
            for (k = 1; k < 5; k++) {
                double twin = 0;
                if (!fnet_isa_supported(g_all[k])) continue;
                for (i = 0; i < len; i++) out[i] = in[i + 1];
                fnet__relu_mask(g_all[k], out, in, len);
                for (i = 0; i < len; i++) if (!(fabs(out[i] - ref[i]) <= twin)) twin = fabs(out[i] - ref[i]);
                CHECK(twin == 0, "ReLU mask variant %d on %s vs scalar: %.3g", p, fnet_isa_name(g_all[k]), twin);
            }
        }
        free(in); free(out); free(ref); free(din); free(dref);
    }
}

#if defined(FNET__WINOGRAD)
/* Winograd F(m x m, 3x3), m = 2 or 4, on the AVX2 and (where the CPU has it) AVX-512 GEMMs,
   against the direct scalar convolution and float64 (tests/fnet_graph.h's ref_window): plain,
   with ReLU, and with the fused residual + ReLU; within 1e-5 of the output scale (the
   transforms add a few float roundings). *worst and *worst_direct take the largest errors
   of Winograd and of the direct sums against float64, relative to the output scale. With
   `twins` (m = 4), also the F(4x4) transforms' scalar twins against the AVX2 versions on one
   patch. */
static void wino_case(const conv_case *c, int m, unsigned seed, int twins, double *worst, double *worst_direct) {
    int oh = (c->h + c->pt + c->pb - 3) + 1, ow = (c->w + c->pl + c->pr - 3) + 1, mode, k;
    int np = (c->cout + 15) / 16, zl = FNET__MAX(3 * c->cin, np * 16 + 32), A = (m + 2) * (m + 2);
    int T = m == 4 ? FNET__WINO4_T : FNET__WINO_T;
    size_t K = (size_t)9 * c->cin, n_in = (size_t)c->h * c->w * c->cin, n_out = (size_t)oh * ow * c->cout, i;
    size_t un = (size_t)A * c->cin * np * 16 + (m == 2 ? (size_t)16 * c->cin * c->cout : 0); /* F(2x2): + packing tmp */
    void *raw_b, *raw_u;
    float *in = (float *)malloc(n_in * sizeof(float)), *w = (float *)malloc(K * c->cout * sizeof(float));
    float *bp = (float *)fnet__alloc_aligned(K * np * 16 * sizeof(float), &raw_b);
    float *up = (float *)fnet__alloc_aligned(un * sizeof(float), &raw_u);
    float *bias = (float *)calloc((size_t)np * 16, sizeof(float)), *zeros = (float *)calloc((size_t)zl, sizeof(float));
    float *ref = (float *)malloc(n_out * sizeof(float)), *out = (float *)malloc(n_out * sizeof(float));
    float *res = (float *)malloc(n_out * sizeof(float));
    float *vb = (float *)malloc((size_t)A * T * c->cin * sizeof(float));
    float *mb = (float *)malloc((size_t)A * T * np * 16 * sizeof(float));
    double *din = (double *)malloc(n_in * sizeof(double)), *dref = (double *)malloc(n_out * sizeof(double));
    const float **ptrs = (const float **)malloc((size_t)FNET__MR_MAX * 9 * sizeof(float *));
    fnet__geom g;
    g_seed = seed;
    for (i = 0; i < n_in; i++) { in[i] = frand(); din[i] = in[i]; }
    for (i = 0; i < K * c->cout; i++) w[i] = frand() / sqrtf((float)K);
    for (i = 0; i < (size_t)c->cout; i++) bias[i] = 0.1f * frand();
    for (i = 0; i < n_out; i++) res[i] = frand();
    fnet__pack_b(w, (int)K, c->cout, bp);
    if (m == 4) fnet__wino4_pack(w, c->cin, c->cout, up);
    else fnet__wino_pack(w, c->cin, c->cout, up, up + (size_t)16 * c->cin * np * 16);
    g.kh = 3; g.kw = 3; g.sh = 1; g.sw = 1; g.pt = c->pt; g.pl = c->pl; g.pb = c->pb; g.pr = c->pr;
    for (mode = 0; mode < 3; mode++) { /* 0 plain, 1 ReLU, 2 residual + ReLU */
        int relu = mode > 0;
        double scale = 1.0, errd = 0.0;
        fnet__conv(FNET_ISA_SCALAR, in, c->h, c->w, c->cin, &g, oh, ow, c->cout, bp, bias, zeros, ptrs, ref, 0);
        ref_window(G_CONV, din, c->h, c->w, c->cin, &c->kh, w, bias, oh, ow, c->cout, 0, dref);
        for (i = 0; i < n_out; i++) {
            if (mode == 2) { ref[i] = ref[i] + res[i]; dref[i] += res[i]; }
            if (relu) { ref[i] = ref[i] < 0.0f ? 0.0f : ref[i]; dref[i] = dref[i] < 0.0 ? 0.0 : dref[i]; }
            if (fabs(dref[i]) > scale) scale = fabs(dref[i]);
        }
        for (i = 0; i < n_out; i++) if (fabs(ref[i] - dref[i]) / scale > errd) errd = fabs(ref[i] - dref[i]) / scale;
        if (errd > *worst_direct) *worst_direct = errd;
        for (k = 0; k < 2; k++) {
            fnet__convjob j;
            int kern = FNET_ISA_AVX2;
            double err = 0, err64 = 0;
            if (k == 1) {
#if defined(FNET__AVX512)
                if (!fnet__cpu_has_avx512f()) continue;
                kern = FNET__KERN_AVX512;
#else
                continue;
#endif
            }
            for (i = 0; i < n_out; i++) out[i] = NAN;
            if (m == 4) fnet__wino4_setup(&j, kern, in, 0, 1, c->h, c->w, c->cin, &g, oh, ow, c->cout, up, bias, zeros, out, relu, 1);
            else fnet__wino_setup(&j, kern, in, 0, 1, c->h, c->w, c->cin, &g, oh, ow, c->cout, up, bias, zeros, out, relu, 1);
            if (mode == 2) j.res = res;
            fnet__wino_units(&j, 0, j.units, ptrs, vb, mb);
            for (i = 0; i < n_out; i++) {
                double d = fabs((double)out[i] - ref[i]), d64 = fabs((double)out[i] - dref[i]);
                if (!(d <= err)) err = d;
                if (!(d64 <= err64)) err64 = d64;
            }
            if (err64 / scale > *worst) *worst = err64 / scale;
            CHECK(err / scale <= 1e-5 && err64 / scale <= 1e-5,
                  "winograd F(%dx%d) (%dx%dx%d -> %d, pads %d,%d,%d,%d) mode %d %s: rel diff %.3g vs direct, %.3g vs float64",
                  m, m, c->h, c->w, c->cin, c->cout, c->pt, c->pl, c->pb, c->pr, mode, k ? "avx512" : "avx2", err / scale,
                  err64 / scale);
        }
    }
    if (twins) { /* the F(4x4) transforms' scalar twins, on 36 rows of 13 channels (8 + a tail of 5) */
        const float *pp[36];
        float *y[16], *ys[16], vv[36 * 13], vs[36 * 13], yo[16 * 13], yso[16 * 13];
        const float *rr[16];
        int q, bad = 0;
        for (q = 0; q < 36; q++) pp[q] = in + (size_t)q * 5 % (n_in - 13);
        fnet__wino4_in_avx2(pp, 13, vv, 13);
        fnet__wino4_in_scalar(pp, 0, 13, vs, 13);
        for (q = 0; q < 36 * 13; q++) bad += !(fabs(vv[q] - vs[q]) <= 1e-6 * (1.0 + fabs(vs[q])));
        for (q = 0; q < 16; q++) { y[q] = yo + q * 13; ys[q] = yso + q * 13; rr[q] = res + q * 13; }
        y[5] = ys[5] = NULL; /* a pixel outside the image: not stored */
        memset(yo, 0, sizeof yo);
        memset(yso, 0, sizeof yso);
        fnet__wino4_out_avx2(vs, 13, 13, bias, y, rr, 1);
        fnet__wino4_out_scalar(vs, 13, 0, 13, bias, ys, rr, 1);
        for (q = 0; q < 16 * 13; q++) bad += !(fabs(yo[q] - yso[q]) <= 1e-6 * (1.0 + fabs(yso[q])));
        CHECK(bad == 0, "winograd4 transforms: %d values differ from the scalar twins", bad);
    }
    free(in); free(w); FNET_FREE(raw_b); FNET_FREE(raw_u); free(bias); free(zeros); free(ref); free(out);
    free(res); free(vb); free(mb); free(din); free(dref); free((void *)ptrs);
}
#endif

/* How fnet__wino_split and fnet__wino_block cut a job's tiles, for 1 to 6 tasks and 1 to 400
   tiles (small U: tiles shared out; large U: panel chunks): the blocks cover the tiles in
   order, none holds more than the V buffer's FNET__WINO_T / FNET__WINO4_T tiles, each task's
   units are whole blocks, and shared-out tasks get micro-kernel tiles (groups of mr) that
   differ by at most one, none more than its share of them (blocks of equal tiles did not:
   81 tiles as 21 + 21 | 21 + 18 are 8 | 7 micro-kernel tiles, not 7 | 7). */
#if defined(FNET__WINOGRAD)
static void test_wino_cut(void) {
    int bad = 0, m, tasks, nt, big;
    for (m = 2; m <= 4; m += 2)
        for (big = 0; big < 2; big++)
            for (tasks = 1; tasks <= 6; tasks++)
                for (nt = 1; nt <= 400; nt++) {
                    fnet__convjob j;
                    int tmax = m == 4 ? FNET__WINO4_T : FNET__WINO_T, b, next = 0, t, gmin = 1 << 30, gmax = 0;
                    memset(&j, 0, sizeof j);
                    j.mr = 6;
                    j.Cin = j.Cout = big ? 256 : 32;
                    j.np = j.Cout / 16;
                    fnet__wino_split(&j, FNET_ISA_AVX2, (size_t)nt, tmax, m == 4 ? 36 : 16, tasks);
                    for (b = 0; b < j.nblk; b++) {
                        int t0, n;
                        fnet__wino_block(&j, nt, b, &t0, &n);
                        bad += t0 != next || n > tmax || n < 0;
                        next = t0 + n;
                    }
                    bad += next != nt || j.units != j.nblk * j.nchunk;
                    if (j.nchunk > 1 || tasks == 1 || j.units < tasks) continue;
                    for (t = 0; t < tasks; t++) { /* fnet__conv_task's shares: units u0..u1-1 */
                        int u0 = (int)((long)j.units * t / tasks), u1 = (int)((long)j.units * (t + 1) / tasks), g = 0, u;
                        for (u = u0; u < u1; u++) {
                            int t0, n;
                            fnet__wino_block(&j, nt, u, &t0, &n);
                            g += (n + 5) / 6;
                        }
                        if (g < gmin) gmin = g;
                        if (g > gmax) gmax = g;
                    }
                    if (j.nblk < 8 * tasks) bad += gmax - gmin > 1 || gmax > ((nt + 5) / 6 + tasks - 1) / tasks;
                }
    CHECK(bad == 0, "winograd cut: %d inconsistencies in the blocks of tiles", bad);
}
#endif

/* Winograd F(2x2,3x3) and F(4x4,3x3) (wino_case); prints the largest errors seen against
   float64 (relative to the output scale), which the header quotes as the measured bounds. */
static void test_winograd(void) {
#if defined(FNET__WINOGRAD)
    static const conv_case f2[] = {
        {7, 9, 5, 17, 3, 3, 1, 1, 1, 1, 1, 1}, {12, 12, 64, 40, 3, 3, 1, 1, 0, 2, 1, 0},
        {13, 6, 19, 33, 3, 3, 1, 1, 1, 0, 0, 1}, {6, 6, 96, 192, 3, 3, 1, 1, 1, 1, 1, 1},
        {8, 7, 8, 16, 3, 3, 1, 1, 2, 2, 2, 2}, {24, 24, 64, 192, 3, 3, 1, 1, 1, 1, 1, 1},
        {11, 10, 9, 100, 3, 3, 1, 1, 0, 0, 0, 0}};
    static const conv_case f4[] = {
        {35, 35, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1},  /* the ResNet's 35x35 layers */
        {17, 17, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1},  /* its 17x17 layers */
        {13, 14, 5, 17, 3, 3, 1, 1, 1, 1, 1, 1},   /* channels off every vector width */
        {12, 12, 64, 40, 3, 3, 1, 1, 0, 2, 1, 0},  /* asymmetric pads */
        {9, 7, 19, 33, 3, 3, 1, 1, 2, 2, 2, 2},
        {24, 24, 96, 192, 3, 3, 1, 1, 1, 1, 1, 1}};
    size_t ci;
    double worst2 = 0.0, worst4 = 0.0, worst_direct = 0.0;
    if (!fnet_isa_supported(FNET_ISA_AVX2)) { SKIP("winograd: no AVX2 here"); return; }
    for (ci = 0; ci < sizeof f2 / sizeof f2[0]; ci++) wino_case(&f2[ci], 2, 500u + (unsigned)ci, 0, &worst2, &worst_direct);
    for (ci = 0; ci < sizeof f4 / sizeof f4[0]; ci++) wino_case(&f4[ci], 4, 700u + (unsigned)ci, ci == 2, &worst4, &worst_direct);
    printf("winograd vs float64, max error of the output scale: F(2x2,3x3) %.3g, F(4x4,3x3) %.3g (direct scalar: %.3g)\n",
           worst2, worst4, worst_direct);
    test_wino_cut();
#else
    SKIP("winograd not compiled (FNET_NO_WINOGRAD or not x86)");
#endif
}

/* The packing: panel p row k column j holds W[k][16p + j], zero beyond Cout. */
static void test_pack(void) {
    float w[5 * 19], pk[5 * 32];
    int k, j, bad = 0;
    for (k = 0; k < 5 * 19; k++) w[k] = (float)k;
    fnet__pack_b(w, 5, 19, pk);
    for (k = 0; k < 5; k++)
        for (j = 0; j < 32; j++) {
            float want = j < 19 ? w[k * 19 + j] : 0.0f;
            if (pk[(j / 16) * 5 * 16 + k * 16 + j % 16] != want) bad++;
        }
    CHECK(bad == 0, "packed panels: %d wrong entries", bad);
}

int main(void) {
    test_pack();
    test_conv_kernels();
    test_other_ops();
    test_winograd();
    return test_finish();
}
