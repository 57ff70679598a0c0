/* test_network.c - the network engine through the public API: small graphs built in C
   (tests/fnet_graph.h) against a naive double-precision reference, on every kernel set;
   hostile graphs; NaN input; workspace sizes; threads sharing one model; the real nn4 and
   ResNet blobs when they are built. */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"
#include "fnet_graph.h"

#include <pthread.h>

static const fnet_isa g_isas[5] = {FNET_ISA_SCALAR, FNET_ISA_SSE2, FNET_ISA_AVX2, FNET_ISA_NEON, FNET_ISA_WASM_SIMD};

static void put_le32(unsigned char *p, unsigned long v) { gb_set_u32(p, v & 0xffffffffUL); }

/* Loads from a copy at an address that is not 64-byte aligned, so the loader copies the blob
   (a 64-aligned malloc result would be used in place, and freeing it would leave the model
   pointing into freed memory). */
static fnet_result load_graph(const graph *g, fnet_model **m) {
    size_t size;
    unsigned char *blob = g_write(g, &size), *raw = (unsigned char *)malloc(size + 65), *mis;
    fnet_result r = FNET_ERR_OUT_OF_MEMORY;
    if (blob && raw) {
        mis = raw + (64 - (size_t)((unsigned long long)(size_t)raw & 63u)) % 64 + 1; /* 64k + 1 */
        memcpy(mis, blob, size);
        r = fnet_model_load_memory(mis, size, m);
    }
    free(blob);
    free(raw);
    return r;
}

static float *random_input(unsigned seed, size_t n) {
    float *x = (float *)malloc(n * sizeof(float));
    size_t i;
    for (i = 0; i < n; i++) { seed = seed * 1664525u + 1013904223u; x[i] = (float)((seed >> 8) & 0xffff) / 65536.0f; }
    return x;
}

/* max |a - ref| / max(1, max |ref|) */
static double rel_err(const float *a, const double *ref, size_t n) {
    double scale = 1.0, err = 0.0;
    size_t i;
    for (i = 0; i < n; i++) if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (i = 0; i < n; i++) if (fabs(a[i] - ref[i]) > err) err = fabs(a[i] - ref[i]);
    return err / scale;
}

/* An Inception-like graph that uses every op type, odd sizes and asymmetric pads. */
static void build_all_ops(graph *g, int out_l2) {
    int x, c1, p1, b1, b2, b3, b4, cat, pd, l, r, s, a, gp, cat4[4];
    g_init(g, 12345u);
    x = g_input(g, 19, 17, 255.0f, 0.5f, 0.25f, 0.125f);
    c1 = g_conv(g, x, 7, 7, 2, 2, 3, 2, 3, 4, 20, 1);          /* 7x7 s2, asymmetric pads */
    p1 = g_pool(g, G_MAXPOOL, c1, 3, 3, 2, 2, 0, 1, 1, 0);
    l = g_simple(g, G_LRN, p1);
    b1 = g_conv(g, l, 1, 1, 1, 1, 0, 0, 0, 0, 13, 1);          /* 1x1: plain GEMM */
    b2 = g_conv(g, l, 3, 3, 1, 1, 1, 1, 1, 1, 11, 1);
    b3 = g_pool(g, G_AVGPOOL, l, 3, 3, 1, 1, 1, 1, 1, 1);
    b4 = g_pool(g, G_L2POOL, l, 3, 3, 1, 1, 0, 0, 2, 2);
    cat4[0] = b1; cat4[1] = b2; cat4[2] = b3; cat4[3] = b4;
    cat = g_concat(g, 4, cat4);
    pd = g_pad(g, cat, 1, 0, 0, 1);
    r = g_conv(g, pd, 2, 2, 1, 1, 0, 0, 0, 0, 33, 0);          /* 2x2 valid after PAD: same size */
    s = g_conv(g, cat, 1, 1, 1, 1, 0, 0, 0, 0, 17, 0);         /* fewer channels: zero-extended */
    a = g_add(g, r, s, 1);
    a = g_simple(g, G_RELU, a);
    gp = g_simple(g, G_GAP, a);
    x = g_dense(g, a, 21, 0);
    (void)gp;
    x = g_dense(g, x, 19, 1);
    if (out_l2) x = g_simple(g, G_L2NORM, x);
    (void)x;
}

static void test_graph_outputs(void) {
    graph g;
    fnet_model *m = NULL;
    fnet_result r;
    int rep, k;
    build_all_ops(&g, 1);
    r = load_graph(&g, &m);
    CHECK(r == FNET_OK, "load the all-ops graph: %s", fnet_result_string(r));
    if (!m) { g_free(&g); return; }
    CHECK(fnet_embed_dim(m) == 19, "output dim %d", fnet_embed_dim(m));
    CHECK(fnet_embed_input_size(m) == 0, "non-square input: input_size 0");
    for (rep = 0; rep < 3; rep++) {
        size_t n_in = 19 * 17 * 3, n_out;
        float *in = random_input(7u + (unsigned)rep, n_in), out[19];
        double *ref = g_reference(&g, in, &n_out);
        for (k = 0; k < 5; k++) {
            if (!fnet_isa_supported(g_isas[k])) continue;
            CHECK(fnet_model_set_isa(m, g_isas[k]) == FNET_OK, "set isa");
            memset(out, 0, sizeof out);
            r = fnet_embed_tensor(m, in, NULL, 0, out);
            CHECK(r == FNET_OK, "embed_tensor on %s: %s", fnet_isa_name(g_isas[k]), fnet_result_string(r));
            CHECK(n_out == 19 && rel_err(out, ref, n_out) <= 1e-5, "all-ops graph on %s: rel err %.3g",
                  fnet_isa_name(g_isas[k]), rel_err(out, ref, n_out));
        }
        free(ref);
        free(in);
    }
    CHECK(fnet_embed(m, (const unsigned char *)"x", NULL, 0, (float *)&r) == FNET_ERR_UNSUPPORTED,
          "fnet_embed on a non-square input: UNSUPPORTED");
    fnet_model_free(m);
    g_free(&g);
}

/* A small ResNet: residual blocks whose ADD fuses into the convolution before it, on every
   path that epilogue has (Winograd F(4x4) at 26x26 and 12x12, F(2x2) at 6x6, the direct
   convolution at 1x1 with a cropped kernel), next to the float64 reference; and the load-time
   rewrite itself (which ADDs fused, which convolutions cropped). */
static void test_residual_blocks(void) {
    graph g;
    fnet_model *m = NULL;
    fnet_result r;
    int x, c0, c1, c2, a1, c3, c4, c5, a2, c6, c7, a3, c8, c9, c10, a4, k, rep;
    g_init(&g, 777u);
    x = g_input(&g, 26, 26, 64.0f, 0.5f, 0.25f, 0.125f);
    c0 = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 16, 1);
    c1 = g_conv(&g, c0, 3, 3, 1, 1, 1, 1, 1, 1, 16, 1);
    c2 = g_conv(&g, c1, 3, 3, 1, 1, 1, 1, 1, 1, 16, 0);
    a1 = g_add(&g, c2, c0, 1);                               /* F(4x4), 26x26 */
    c3 = g_conv(&g, a1, 3, 3, 2, 2, 0, 0, 0, 0, 24, 1);      /* 12x12 */
    c4 = g_conv(&g, c3, 3, 3, 1, 1, 1, 1, 1, 1, 24, 1);
    c5 = g_conv(&g, c4, 3, 3, 1, 1, 1, 1, 1, 1, 24, 0);
    a2 = g_add(&g, c5, c3, 1);                               /* F(4x4), 12x12 */
    c6 = g_conv(&g, a2, 3, 3, 2, 2, 1, 1, 1, 1, 32, 1);      /* 6x6 */
    c7 = g_conv(&g, c6, 3, 3, 1, 1, 1, 1, 1, 1, 32, 0);
    a3 = g_add(&g, c7, c6, 0);                               /* F(2x2), no ReLU */
    c8 = g_conv(&g, a3, 3, 3, 2, 2, 0, 0, 0, 0, 32, 1);      /* 2x2 */
    c9 = g_conv(&g, c8, 2, 2, 1, 1, 0, 0, 0, 0, 40, 1);      /* 1x1 */
    c10 = g_conv(&g, c9, 3, 3, 1, 1, 1, 1, 1, 1, 40, 0);     /* 1x1 input: only the centre tap */
    a4 = g_add(&g, c10, c9, 1);                              /* direct */
    x = g_simple(&g, G_GAP, a4);
    x = g_dense(&g, x, 16, 0);
    g_simple(&g, G_L2NORM, x);
    r = load_graph(&g, &m);
    CHECK(r == FNET_OK, "load the residual graph: %s", fnet_result_string(r));
    if (!m) { g_free(&g); return; }
    {
        const fnet__net *net = (const fnet__net *)m->stage;
        CHECK(net->node[c2].add == a1 && net->node[a1].fused == c2 && net->node[c5].add == a2 &&
              net->node[c7].add == a3 && net->node[c10].add == a4 && net->node[a4].fused == c10,
              "every residual ADD fuses into its convolution");
        CHECK(net->node[a1].off == net->node[c2].off, "a fused ADD shares its convolution's slot");
        CHECK(net->node[c10].ckh == 1 && net->node[c10].ckw == 1 && net->node[c9].ckh == 0 && net->node[c0].ckh == 0,
              "3x3 on a 1x1 input keeps its centre tap alone (others: whole kernels)");
#if defined(FNET__WINOGRAD)
        if (fnet_isa_supported(FNET_ISA_AVX2))
            CHECK(net->node[c2].wino == 2 && net->node[c5].wino == 2 && net->node[c7].wino == 1 && net->node[c10].wino == 0,
                  "Winograd F(4x4) at 26x26 and 12x12, F(2x2) at 6x6, direct at 1x1");
#endif
    }
    for (rep = 0; rep < 2; rep++) {
        size_t n_in = 26 * 26 * 3, n_out;
        float *in = random_input(31u + (unsigned)rep, n_in), out[16];
        double *ref = g_reference(&g, in, &n_out);
        for (k = 0; k < 5; k++) {
            if (!fnet_isa_supported(g_isas[k])) continue;
            CHECK(fnet_model_set_isa(m, g_isas[k]) == FNET_OK, "set isa");
            r = fnet_embed_tensor(m, in, NULL, 0, out);
            CHECK(r == FNET_OK && n_out == 16 && rel_err(out, ref, n_out) <= 1e-5, "residual graph on %s: %s, rel err %.3g",
                  fnet_isa_name(g_isas[k]), fnet_result_string(r), rel_err(out, ref, n_out));
        }
        free(ref);
        free(in);
    }
    fnet_model_free(m);
    g_free(&g);
}

/* Each op alone (after INPUT and a conv to get channels), every kernel set, vs the reference. */
static void test_single_ops(void) {
    int type;
    for (type = G_CONV; type <= G_RELU; type++) {
        graph g;
        fnet_model *m = NULL;
        fnet_result r;
        int x, c, k;
        size_t n_out, n_in = 9 * 11 * 3;
        float *in, *out;
        double *ref;
        g_init(&g, 99u + (unsigned)type);
        x = g_input(&g, 9, 11, 1.0f, 0, 0, 0);
        c = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 7, 0); /* signed values */
        switch (type) {
        case G_CONV: g_conv(&g, c, 5, 3, 2, 1, 0, 2, 1, 0, 37, 1); break;
        case G_MAXPOOL: case G_AVGPOOL: case G_L2POOL: g_pool(&g, type, c, 3, 2, 2, 1, 1, 0, 2, 1); break;
        case G_CONCAT: { int ins[3]; ins[0] = c; ins[1] = x; ins[2] = c; g_concat(&g, 3, ins); break; }
        case G_DENSE: g_dense(&g, c, 5, 0); break;
        case G_ADD: g_add(&g, c, x, 0); break;
        case G_PAD: g_pad(&g, c, 2, 0, 1, 3); break;
        default: g_simple(&g, type, c); break;
        }
        r = load_graph(&g, &m);
        CHECK(r == FNET_OK, "load single-op graph %d: %s", type, fnet_result_string(r));
        if (!m) { g_free(&g); continue; }
        in = random_input(3u * (unsigned)type, n_in);
        for (n_in = 0; n_in < 9 * 11 * 3; n_in++) in[n_in] = in[n_in] * 2.0f - 1.0f;
        ref = g_reference(&g, in, &n_out);
        out = (float *)malloc(n_out * sizeof(float));
        CHECK((size_t)fnet_embed_dim(m) == n_out, "op %d dim", type);
        for (k = 0; k < 5; k++) {
            if (!fnet_isa_supported(g_isas[k])) continue;
            fnet_model_set_isa(m, g_isas[k]);
            r = fnet_embed_tensor(m, in, NULL, 0, out);
            CHECK(r == FNET_OK && rel_err(out, ref, n_out) <= 1e-5, "op type %d on %s: %s, rel err %.3g", type,
                  fnet_isa_name(g_isas[k]), fnet_result_string(r), rel_err(out, ref, n_out));
        }
        free(out); free(ref); free(in);
        fnet_model_free(m);
        g_free(&g);
    }
}

/* fnet_embed normalises bytes per INPUT's fparams: compare with embed_tensor on the same values. */
static void test_embed_rgb(void) {
    graph g;
    fnet_model *m = NULL;
    int x;
    unsigned char rgb[8 * 8 * 3];
    float t[8 * 8 * 3], a[10], b[10];
    size_t i;
    g_init(&g, 5u);
    x = g_input(&g, 8, 8, 127.5f, 127.5f, 100.0f, 50.0f);
    x = g_conv(&g, x, 3, 3, 1, 1, 1, 1, 1, 1, 6, 1);
    x = g_dense(&g, x, 10, 0);
    g_simple(&g, G_L2NORM, x);
    g.mk[0] = "input_size"; g.mv[0] = "8"; g.mk[1] = "embedding_dim"; g.mv[1] = "10"; g.n_meta = 2;
    CHECK(load_graph(&g, &m) == FNET_OK, "load rgb graph");
    if (m) {
        static const float mean[3] = {127.5f, 100.0f, 50.0f};
        double s = 0;
        for (i = 0; i < sizeof rgb; i++) {
            rgb[i] = (unsigned char)(i * 37 % 256);
            t[i] = ((float)rgb[i] - mean[i % 3]) / 127.5f;
        }
        CHECK(fnet_embed_input_size(m) == 8 && fnet_embed_dim(m) == 10, "input size and dim from the graph");
        CHECK(fnet_embed(m, rgb, NULL, 0, a) == FNET_OK, "embed rgb");
        CHECK(fnet_embed_tensor(m, t, NULL, 0, b) == FNET_OK, "embed tensor");
        CHECK(memcmp(a, b, sizeof a) == 0, "rgb and normalised tensor give the same embedding");
        for (i = 0; i < 10; i++) s += (double)a[i] * a[i];
        CHECK(fabs(s - 1.0) < 1e-5, "L2-normalised output: |e|^2 = %.7f", s);
        fnet_model_free(m);
    }
    /* metadata that disagrees with the graph */
    g.mv[1] = "128";
    m = NULL;
    CHECK(load_graph(&g, &m) == FNET_ERR_CORRUPT && m == NULL, "embedding_dim meta disagreeing: CORRUPT");
    g_free(&g);
}

/* Mutations of a valid graph, each must be refused with the given code (never a crash). */
static void test_hostile(void) {
    graph g;
    fnet_model *m;
    fnet_result r;
#define HOSTILE(stmt, expect, what)                                                     \
    do {                                                                                \
        build_all_ops(&g, 1);                                                           \
        stmt;                                                                           \
        m = NULL;                                                                       \
        r = load_graph(&g, &m);                                                         \
        CHECK(r == (expect) && m == NULL, "%s: got %d (%s)", what, (int)r, fnet_result_string(r)); \
        if (m) fnet_model_free(m);                                                      \
        g_free(&g);                                                                     \
    } while (0)
    HOSTILE(g.op[3].in[0] = 3, FNET_ERR_CORRUPT, "op reads itself");
    HOSTILE(g.op[3].in[0] = 9, FNET_ERR_CORRUPT, "op reads a later op (cycle)");
    HOSTILE(g.op[3].in[0] = -5, FNET_ERR_CORRUPT, "negative input index");
    HOSTILE(g.op[3].in[1] = 1, FNET_ERR_CORRUPT, "pool with two inputs");
    HOSTILE(g.op[10].in[1] = -1; g.op[10].in[2] = -1; g.op[10].in[3] = -1; g.op[10].in[1] = 5; g.op[10].in[0] = -1,
            FNET_ERR_CORRUPT, "input after an unused slot");
    HOSTILE(g.op[1].ip[9] += 1, FNET_ERR_CORRUPT, "conv output H disagrees");
    HOSTILE(g.op[1].ip[11] = 21, FNET_ERR_CORRUPT, "conv output C disagrees");
    HOSTILE(g.op[2].ip[10] -= 1, FNET_ERR_CORRUPT, "pool output W disagrees");
    HOSTILE(g.op[8].ip[11] += 1, FNET_ERR_CORRUPT, "concat channels disagree");
    HOSTILE(g.t[0].shape[2] = 4; g.t[0].count = (size_t)7 * 7 * 4 * 20; g.t[0].data = (float *)realloc(g.t[0].data, g.t[0].count * 4),
            FNET_ERR_CORRUPT, "conv weight Cin disagrees with its input");
    HOSTILE(g.t[1].dtype = 2, FNET_ERR_CORRUPT, "f16 bias");
    HOSTILE(g.t[0].dtype = 5, FNET_ERR_CORRUPT, "i32 weights");
    HOSTILE(g.t[0].data[17] = NAN, FNET_ERR_CORRUPT, "NaN weight");
    HOSTILE(g.op[1].tensor[1] = -1, FNET_ERR_CORRUPT, "conv without bias");
    HOSTILE(g.op[3].tensor[0] = 0, FNET_ERR_CORRUPT, "LRN with a tensor");
    HOSTILE(g.op[3].type = 13, FNET_ERR_CORRUPT, "unknown op type");
    HOSTILE(g.op[3].type = -1, FNET_ERR_CORRUPT, "negative op type");
    HOSTILE(g.op[3].type = G_INPUT, FNET_ERR_CORRUPT, "second INPUT");
    HOSTILE(g.op[0].type = G_RELU, FNET_ERR_CORRUPT, "op 0 not INPUT");
    HOSTILE(g.op[3].flags = 1, FNET_ERR_CORRUPT, "ReLU flag on LRN");
    HOSTILE(g.op[1].flags = 2, FNET_ERR_CORRUPT, "unknown flag bit");
    HOSTILE(g.op[1].ip[2] = 0, FNET_ERR_CORRUPT, "stride 0");
    HOSTILE(g.op[1].ip[4] = -1, FNET_ERR_CORRUPT, "negative pad");
    HOSTILE(g.op[1].ip[2] = 0x7fffffff, FNET_ERR_TOO_LARGE, "huge stride");
    HOSTILE(g.op[9].ip[1] = 0x40000000, FNET_ERR_TOO_LARGE, "huge PAD");
    HOSTILE(g.op[2].ip[0] = 40, FNET_ERR_CORRUPT, "pool window larger than its padded input");
    HOSTILE(g.op[0].ip[0] = 0x7fffffff; g.op[0].ip[9] = 0x7fffffff, FNET_ERR_TOO_LARGE, "huge input H");
    HOSTILE(g.op[0].ip[0] = 60000; g.op[0].ip[1] = 60000; g.op[0].ip[9] = 60000; g.op[0].ip[10] = 60000,
            FNET_ERR_TOO_LARGE, "input of 60000x60000");
    HOSTILE(g.op[0].ip[2] = 4, FNET_ERR_CORRUPT, "input with 4 channels");
    HOSTILE(g.op[0].fp[0] = 0.0f, FNET_ERR_CORRUPT, "input divisor 0");
    HOSTILE(g.op[0].fp[1] = NAN, FNET_ERR_CORRUPT, "input mean NaN");
    HOSTILE(g.op[3].fp[2] = 0.0f, FNET_ERR_CORRUPT, "LRN bias 0");
    HOSTILE(g.op[g.n_op - 1].fp[0] = NAN, FNET_ERR_CORRUPT, "L2NORM eps NaN");
    HOSTILE(g.op[12].in[1] = 1, FNET_ERR_CORRUPT, "ADD of different H/W");
    HOSTILE(g.op[12].in[0] = 11; g.op[12].in[1] = 10; g.op[12].ip[11] = 17, FNET_ERR_CORRUPT, "ADD with more channels in input 1");
    HOSTILE(g.op[16].ip[0] += 1, FNET_ERR_CORRUPT, "DENSE In disagrees with its input");
    HOSTILE(g.n_op = 0, FNET_ERR_CORRUPT, "no ops");
#undef HOSTILE
}

static void test_run_errors(void) {
    graph g;
    fnet_model *m = NULL;
    size_t ws, n_in = 19 * 17 * 3;
    float *in, out[19], out2[19];
    unsigned char *work;
    build_all_ops(&g, 1);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); return; }
    in = random_input(1u, n_in);
    ws = fnet_embed_workspace_size(m);
    CHECK(ws > 0, "workspace size %zu", ws);
    work = (unsigned char *)malloc(ws + 8);
    CHECK(fnet_embed_tensor(m, in, work, ws, out) == FNET_OK, "caller workspace");
    CHECK(fnet_embed_tensor(m, in, work + 3, ws, out2) == FNET_OK && memcmp(out, out2, sizeof out) == 0,
          "misaligned caller workspace, same result");
    CHECK(fnet_embed_tensor(m, in, work, ws - 1, out) == FNET_ERR_WORKSPACE_TOO_SMALL, "workspace one byte short");
    CHECK(fnet_embed_tensor(m, in, work, 0, out) == FNET_ERR_WORKSPACE_TOO_SMALL, "workspace size 0");
    CHECK(fnet_embed_tensor(m, NULL, work, ws, out) == FNET_ERR_INVALID_ARGUMENT, "NULL input");
    CHECK(fnet_embed_tensor(m, in, work, ws, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL out");
    CHECK(fnet_embed_tensor(NULL, in, work, ws, out) == FNET_ERR_INVALID_ARGUMENT, "NULL model");
    CHECK(fnet_embed(m, NULL, work, ws, out) == FNET_ERR_INVALID_ARGUMENT, "NULL rgb");
    in[100] = NAN;
    CHECK(fnet_embed_tensor(m, in, work, ws, out) == FNET_ERR_NOT_FINITE, "NaN input: NOT_FINITE");
    in[100] = INFINITY;
    CHECK(fnet_embed_tensor(m, in, NULL, 0, out) == FNET_ERR_NOT_FINITE, "inf input: NOT_FINITE");
    /* the plan reuses memory: the workspace is well below the sum of all activations */
    {
        size_t sum = 0;
        int i;
        for (i = 0; i < g.n_op; i++) sum += (size_t)g.op[i].h * g.op[i].w * g.op[i].c * 4;
        CHECK(ws < sum, "workspace %zu below the sum of activations %zu", ws, sum);
    }
    CHECK(fnet_embed_workspace_size(NULL) == 0 && fnet_embed_dim(NULL) == 0 && fnet_embed_input_size(NULL) == 0,
          "NULL model queries give 0");
    free(work);
    free(in);
    fnet_model_free(m);
    /* a non-network model */
    g_free(&g);
    g_init(&g, 1u);
    g.kind = 2;
    m = NULL;
    if (load_graph(&g, &m) == FNET_OK && m) {
        float o[4] = {0, 0, 0, 0};
        CHECK(fnet_embed_tensor(m, o, NULL, 0, o) == FNET_ERR_WRONG_MODEL, "landmarks blob: WRONG_MODEL");
        CHECK(fnet_embed_dim(m) == 0, "landmarks blob: dim 0");
        fnet_model_free(m);
    }
    g_free(&g);
}

/* Finite weights and input whose activations overflow: the output check says NOT_FINITE. */
static void test_overflow(void) {
    graph g;
    fnet_model *m = NULL;
    int x, i;
    float in[4 * 4 * 3], out[3];
    size_t e;
    g_init(&g, 3u);
    x = g_input(&g, 4, 4, 1.0f, 0, 0, 0);
    x = g_dense(&g, x, 5, 0);
    x = g_dense(&g, x, 3, 0);
    for (i = 0; i < 2; i++)
        for (e = 0; e < g.t[2 * i].count; e++) g.t[2 * i].data[e] = 1e30f;
    for (e = 0; e < 48; e++) in[e] = 1.0f;
    CHECK(load_graph(&g, &m) == FNET_OK, "load overflow graph");
    if (m) {
        CHECK(fnet_embed_tensor(m, in, NULL, 0, out) == FNET_ERR_NOT_FINITE, "overflowing activations: NOT_FINITE");
        fnet_model_free(m);
    }
    g_free(&g);
}

/* Mutation fuzzing of a valid graph: random op-table fields set to interesting values (and
   random bytes flipped), checksum repaired, so that the graph checks (not the CRC) must catch
   them. Whatever loads must run without a crash (ASan/UBSan watch) and return OK or
   NOT_FINITE; nothing else is acceptable. */
static void test_fuzz(void) {
    static const long vals[] = {0, 1, 2, 3, -1, -2, 7, 16, 17, 64, 1023, 1024, 1025, 65535, 65536, 65537,
                                0x7fffffffL, -0x7fffffffL - 1, 0x40000000L, 100000};
    graph g;
    size_t size, op_off, n_ops;
    unsigned char *blob, *c;
    unsigned seed = 4242u;
    int it, n_iter = getenv("FNET_TEST_SANITIZED") ? 1500 : 6000, loaded = 0, bad = 0;
    float *in = random_input(9u, 19 * 17 * 3), out[64];
    build_all_ops(&g, 1);
    blob = g_write(&g, &size);
    c = (unsigned char *)malloc(size);
    op_off = (size_t)fnet__rd_u64(blob + 64);
    n_ops = fnet__rd_u32(blob + 40);
    for (it = 0; it < n_iter; it++) {
        fnet_model *m = NULL;
        fnet_result r;
        int k, muts = 1 + it % 3;
        memcpy(c, blob, size);
        for (k = 0; k < muts; k++) {
            size_t op, field;
            seed = seed * 1664525u + 1013904223u;
            op = (seed >> 8) % n_ops;
            seed = seed * 1664525u + 1013904223u;
            field = 32 + 4 * ((seed >> 8) % 26); /* type .. fparam[3] */
            seed = seed * 1664525u + 1013904223u;
            if ((seed >> 8) % 4 == 0) c[op_off + op * 136 + field + (seed >> 20) % 4] ^= (unsigned char)(1u << ((seed >> 12) % 8));
            else put_le32(c + op_off + op * 136 + field, (unsigned long)vals[(seed >> 8) % (sizeof vals / sizeof vals[0])]);
        }
        gb_set_u32(c + 80, g_crc(g_crc(0, c, 80), c + 96, op_off + n_ops * 136 - 96));
        r = fnet_model_load_memory(c, size, &m);
        if (r == FNET_OK) {
            size_t ws = fnet_embed_workspace_size(m);
            loaded++;
            if (fnet_embed_dim(m) <= 64 && (size_t)fnet_embed_input_size(m) <= 19 && ws < ((size_t)64 << 20)) {
                fnet_model_set_isa(m, g_isas[it % 3]);
                if (fnet_model_get_isa(m) != g_isas[it % 3]) fnet_model_set_isa(m, FNET_ISA_SCALAR);
                /* the input size may have changed: run only when it still is 19x17x3 */
                if (m->ops[0].ip[0] == 19 && m->ops[0].ip[1] == 17) {
                    r = fnet_embed_tensor(m, in, NULL, 0, out);
                    if (r != FNET_OK && r != FNET_ERR_NOT_FINITE) {
                        bad++;
                        fprintf(stderr, "fuzz %d: run gave %s\n", it, fnet_result_string(r));
                    }
                }
            }
            fnet_model_free(m);
        } else if (r != FNET_ERR_CORRUPT && r != FNET_ERR_TOO_LARGE && r != FNET_ERR_OUT_OF_MEMORY) {
            bad++;
            fprintf(stderr, "fuzz %d: load gave %s\n", it, fnet_result_string(r));
        }
    }
    fprintf(stderr, "fuzz: %d mutated graphs, %d still valid and run\n", n_iter, loaded);
    CHECK(bad == 0, "fuzz: %d mutated graphs gave an unexpected result", bad);
    free(c);
    free(blob);
    free(in);
    g_free(&g);
}

typedef struct thread_job {
    const fnet_model *m;
    const float *in;
    float out[8][19];
    fnet_result r;
} thread_job;

static void *thread_main(void *p) {
    thread_job *j = (thread_job *)p;
    size_t ws = fnet_embed_workspace_size(j->m);
    void *work = malloc(ws);
    int k;
    j->r = FNET_OK;
    for (k = 0; k < 8 && j->r == FNET_OK; k++)
        j->r = fnet_embed_tensor(j->m, j->in + (size_t)k * 19 * 17 * 3, work, ws, j->out[k]);
    free(work);
    return NULL;
}

static void test_threads(void) {
    graph g;
    fnet_model *m = NULL;
    float *in = random_input(77u, (size_t)8 * 19 * 17 * 3), ref[8][19];
    thread_job jobs[4];
    pthread_t th[4];
    int k, t, same = 1;
    build_all_ops(&g, 1);
    if (load_graph(&g, &m) != FNET_OK) { CHECK(0, "load"); g_free(&g); free(in); return; }
    for (k = 0; k < 8; k++) fnet_embed_tensor(m, in + (size_t)k * 19 * 17 * 3, NULL, 0, ref[k]);
    for (t = 0; t < 4; t++) {
        jobs[t].m = m;
        jobs[t].in = in;
        pthread_create(&th[t], NULL, thread_main, &jobs[t]);
    }
    for (t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CHECK(jobs[t].r == FNET_OK, "thread %d ran", t);
        if (memcmp(jobs[t].out, ref, sizeof ref) != 0) same = 0;
    }
    CHECK(same, "4 threads sharing one model give bit-identical results");
    fnet_model_free(m);
    g_free(&g);
    free(in);
}

/* The real networks, when built: they load, have the documented shapes, and every kernel set
   agrees with the scalar one (the numerics vs numpy/tfjs are tests/test_nn4*.py and resnet's). */
static void test_real_blobs(void) {
    static const char *names[2] = {"nn4.small2.v1.fnet", "resnet34.fnet"};
    static const int sizes[2] = {96, 150};
    int i, k;
    for (i = 0; i < 2; i++) {
        const char *p = weights_path(names[i]);
        fnet_model *m = NULL;
        fnet_result r;
        float ref[128], out[128];
        unsigned char *rgb;
        size_t n, e;
        if (!p) { SKIP("%s not built (make weights)", names[i]); continue; }
        r = fnet_model_load_file(p, &m);
        CHECK(r == FNET_OK, "load %s: %s", names[i], fnet_result_string(r));
        if (!m) continue;
        CHECK(fnet_embed_input_size(m) == sizes[i] && fnet_embed_dim(m) == 128, "%s: input %d dim %d",
              names[i], fnet_embed_input_size(m), fnet_embed_dim(m));
        fprintf(stderr, "%s: %d ops, workspace %zu bytes\n", names[i], fnet_model_op_count(m), fnet_embed_workspace_size(m));
        if (fnet_embed_dim(m) != 128 || fnet_embed_input_size(m) != sizes[i]) { fnet_model_free(m); continue; }
        n = (size_t)sizes[i] * sizes[i] * 3;
        rgb = (unsigned char *)malloc(n);
        for (e = 0; e < n; e++) rgb[e] = (unsigned char)((e * 7 + (e / 300) * 13) % 256);
        fnet_model_set_isa(m, FNET_ISA_SCALAR);
        r = fnet_embed(m, rgb, NULL, 0, ref);
        CHECK(r == FNET_OK, "%s scalar: %s", names[i], fnet_result_string(r));
        for (k = 1; k < 4 && r == FNET_OK; k++) {
            double err = 0;
            if (!fnet_isa_supported(g_isas[k])) continue;
            fnet_model_set_isa(m, g_isas[k]);
            CHECK(fnet_embed(m, rgb, NULL, 0, out) == FNET_OK, "%s on %s", names[i], fnet_isa_name(g_isas[k]));
            for (e = 0; e < 128; e++) if (fabs(out[e] - ref[e]) > err) err = fabs(out[e] - ref[e]); /* (fmax here: ICE in aarch64 gcc 12 -O2) */
            CHECK(err <= 1e-5, "%s: %s vs scalar max diff %.3g", names[i], fnet_isa_name(g_isas[k]), err);
        }
        free(rgb);
        fnet_model_free(m);
    }
}

/* ---- A blob says how to use it: fnet_embed_align_kind() from the "align" metadata (or the
   input size when a blob has none), the embedding size bounded by FNET_MAX_EMBED_DIM at load,
   and an embedding longer than 128 values computed in full. ---- */

/* input side x side, then global average pooling and a dense layer of `out` values */
static void meta_graph(graph *g, int side, int out, const char *align) {
    int x;
    g_init(g, 11u);
    x = g_input(g, side, side, 255.0f, 0, 0, 0);
    x = g_simple(g, G_GAP, x);
    g_dense(g, x, out, 0);
    if (align) { g->mk[0] = "align"; g->mv[0] = align; g->n_meta = 1; }
}

static void test_meta_align(void) {
    static const char *names[4] = {"outer_eyes_and_nose", "inner_eyes_and_bottom_lip", "dlib_chip", "dlib_chip_5"};
    static const fnet_align_kind kinds[4] = {FNET_ALIGN_OUTER_EYES_AND_NOSE, FNET_ALIGN_INNER_EYES_AND_BOTTOM_LIP,
                                             FNET_ALIGN_DLIB_CHIP, FNET_ALIGN_DLIB_CHIP_5};
    graph g;
    fnet_model *m;
    fnet_result r;
    int i;
    for (i = 0; i < 4; i++) { /* the metadata wins over the input size (here 150, the dlib chip's) */
        meta_graph(&g, 150, 4, names[i]);
        m = NULL;
        r = load_graph(&g, &m);
        CHECK(r == FNET_OK, "align=%s loads: %s", names[i], fnet_result_string(r));
        CHECK(fnet_embed_align_kind(m) == kinds[i], "align=%s -> %d (got %d)", names[i], (int)kinds[i],
              (int)fnet_embed_align_kind(m));
        fnet_model_free(m);
        g_free(&g);
    }
    meta_graph(&g, 150, 4, NULL); /* no metadata: the input size decides, as for the old blobs */
    m = NULL;
    CHECK(load_graph(&g, &m) == FNET_OK && fnet_embed_align_kind(m) == FNET_ALIGN_DLIB_CHIP, "no align, 150: dlib chip");
    fnet_model_free(m);
    g_free(&g);
    meta_graph(&g, 96, 4, NULL);
    m = NULL;
    CHECK(load_graph(&g, &m) == FNET_OK && fnet_embed_align_kind(m) == FNET_ALIGN_OUTER_EYES_AND_NOSE,
          "no align, 96: OpenFace outer eyes and nose");
    fnet_model_free(m);
    g_free(&g);
    {
        static const char *bad[4] = {"sideways", "", "dlib_chip ", "DLIB_CHIP"};
        for (i = 0; i < 4; i++) {
            meta_graph(&g, 8, 4, bad[i]);
            m = NULL;
        r = load_graph(&g, &m);
            CHECK(r == FNET_ERR_UNSUPPORTED && m == NULL, "align=\"%s\" refused with UNSUPPORTED (got %s)", bad[i],
                  fnet_result_string(r));
            fnet_model_free(m);
            g_free(&g);
        }
    }
    CHECK(fnet_embed_align_kind(NULL) == 0, "NULL model: 0");
    {
        const char *p = weights_path("hog_frontal.fnet");
        if (!p) SKIP("weights/hog_frontal.fnet not built (make weights): no non-network case");
        else if (fnet_model_load_file(p, &m) == FNET_OK) {
            CHECK(fnet_embed_align_kind(m) == 0 && fnet_embed_dim(m) == 0, "a detector is not a network: 0");
            fnet_model_free(m);
        } else CHECK(0, "load %s", p);
    }
    {
        static const char *blobs[2] = {"nn4.small2.v1.fnet", "resnet34.fnet"};
        static const fnet_align_kind want[2] = {FNET_ALIGN_OUTER_EYES_AND_NOSE, FNET_ALIGN_DLIB_CHIP};
        for (i = 0; i < 2; i++) {
            const char *p = weights_path(blobs[i]);
            if (!p) { SKIP("weights/%s not built (make weights)", blobs[i]); continue; }
            if (fnet_model_load_file(p, &m) != FNET_OK) { CHECK(0, "load %s", p); continue; }
            CHECK(fnet_embed_align_kind(m) == want[i] && fnet_embed_dim(m) == 128, "%s: align %d, dim 128", blobs[i],
                  (int)want[i]);
            fnet_model_free(m);
        }
    }
}

static void test_meta_dim(void) {
    static const int dims[3] = {129, 300, FNET_MAX_EMBED_DIM};
    graph g;
    fnet_model *m;
    fnet_result r;
    int i;
    for (i = 0; i < 3; i++) { /* longer than 128: every value computed, nothing past the end */
        unsigned char rgb[6 * 6 * 3];
        float *out;
        double *ref, err = 0;
        float t[6 * 6 * 3];
        size_t k, n_ref = 0;
        meta_graph(&g, 6, dims[i], "outer_eyes_and_nose");
        m = NULL;
        r = load_graph(&g, &m);
        CHECK(r == FNET_OK, "dim %d loads: %s", dims[i], fnet_result_string(r));
        if (r != FNET_OK) { g_free(&g); continue; }
        CHECK(fnet_embed_dim(m) == dims[i], "fnet_embed_dim %d (got %d)", dims[i], fnet_embed_dim(m));
        for (k = 0; k < sizeof rgb; k++) { rgb[k] = (unsigned char)(k * 29 % 256); t[k] = rgb[k] / 255.0f; }
        out = (float *)malloc(sizeof(float) * ((size_t)dims[i] + 1)); /* + a sentinel */
        out[dims[i]] = 12345.0f;
        r = fnet_embed(m, rgb, NULL, 0, out);
        CHECK(r == FNET_OK, "dim %d embeds: %s", dims[i], fnet_result_string(r));
        ref = g_reference(&g, t, &n_ref);
        CHECK(ref && n_ref == (size_t)dims[i], "reference has %d values", dims[i]);
        for (k = 0; ref && k < n_ref; k++) if (fabs(out[k] - ref[k]) > err) err = fabs(out[k] - ref[k]);
        CHECK(err < 1e-5, "dim %d: max diff from the reference %.3g", dims[i], err);
        CHECK(out[dims[i]] == 12345.0f, "dim %d: nothing written past the embedding", dims[i]);
        free(ref);
        free(out);
        fnet_model_free(m);
        g_free(&g);
    }
    meta_graph(&g, 6, FNET_MAX_EMBED_DIM + 1, NULL);
    m = NULL;
    r = load_graph(&g, &m);
    CHECK(r == FNET_ERR_TOO_LARGE && m == NULL, "dim FNET_MAX_EMBED_DIM + 1 refused with TOO_LARGE (got %s)",
          fnet_result_string(r));
    fnet_model_free(m);
    g_free(&g);
    meta_graph(&g, 6, 300, NULL); /* metadata that disagrees with the graph stays an error */
    g.mk[0] = "embedding_dim"; g.mv[0] = "128"; g.n_meta = 1;
    m = NULL;
    r = load_graph(&g, &m);
    CHECK(r == FNET_ERR_CORRUPT && m == NULL, "embedding_dim 128 on a 300-value graph: CORRUPT (got %s)",
          fnet_result_string(r));
    fnet_model_free(m);
    g_free(&g);
}

int main(void) {
    test_meta_align();
    test_meta_dim();
    test_graph_outputs();
    test_residual_blocks();
    test_single_ops();
    test_embed_rgb();
    test_hostile();
    test_run_errors();
    test_overflow();
    test_fuzz();
    test_threads();
    test_real_blobs();
    return test_finish();
}
