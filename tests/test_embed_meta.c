/* test_embed_meta.c - a network blob says how to use it: fnet_embed_align_kind() from the
   "align" metadata (or the input size when a blob has none), the embedding size bounded by
   FNET_MAX_EMBED_DIM at load, and an embedding longer than 128 values computed in full
   (small graphs of tests/fnet_graph.h, checked against its double-precision reference). */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"
#include "fnet_graph.h"

/* Loads from an unaligned copy (the loader copies; the blob may be freed at once). */
static fnet_result load_graph(const graph *g, fnet_model **m) {
    size_t size;
    unsigned char *blob = g_write(g, &size), *raw = (unsigned char *)malloc(size + 65), *mis;
    fnet_result r = FNET_ERR_OUT_OF_MEMORY;
    *m = NULL;
    if (blob && raw) {
        mis = raw + (64 - (size_t)((unsigned long long)(size_t)raw & 63u)) % 64 + 1;
        memcpy(mis, blob, size);
        r = fnet_model_load_memory(mis, size, m);
    }
    free(blob);
    free(raw);
    return r;
}

/* input side x side, then global average pooling and a dense layer of `out` values */
static void build(graph *g, int side, int out, const char *align) {
    int x;
    g_init(g, 11u);
    x = g_input(g, side, side, 255.0f, 0, 0, 0);
    x = g_simple(g, G_GAP, x);
    g_dense(g, x, out, 0);
    if (align) { g->mk[0] = "align"; g->mv[0] = align; g->n_meta = 1; }
}

static void test_align_kind(void) {
    static const char *names[4] = {"outer_eyes_and_nose", "inner_eyes_and_bottom_lip", "dlib_chip", "dlib_chip_5"};
    static const fnet_align_kind kinds[4] = {FNET_ALIGN_OUTER_EYES_AND_NOSE, FNET_ALIGN_INNER_EYES_AND_BOTTOM_LIP,
                                             FNET_ALIGN_DLIB_CHIP, FNET_ALIGN_DLIB_CHIP_5};
    graph g;
    fnet_model *m;
    fnet_result r;
    int i;
    for (i = 0; i < 4; i++) { /* the metadata wins over the input size (here 150, the dlib chip's) */
        build(&g, 150, 4, names[i]);
        r = load_graph(&g, &m);
        CHECK(r == FNET_OK, "align=%s loads: %s", names[i], fnet_result_string(r));
        CHECK(fnet_embed_align_kind(m) == kinds[i], "align=%s -> %d (got %d)", names[i], (int)kinds[i],
              (int)fnet_embed_align_kind(m));
        fnet_model_free(m);
        g_free(&g);
    }
    build(&g, 150, 4, NULL); /* no metadata: the input size decides, as for the old blobs */
    CHECK(load_graph(&g, &m) == FNET_OK && fnet_embed_align_kind(m) == FNET_ALIGN_DLIB_CHIP, "no align, 150: dlib chip");
    fnet_model_free(m);
    g_free(&g);
    build(&g, 96, 4, NULL);
    CHECK(load_graph(&g, &m) == FNET_OK && fnet_embed_align_kind(m) == FNET_ALIGN_OUTER_EYES_AND_NOSE,
          "no align, 96: OpenFace outer eyes and nose");
    fnet_model_free(m);
    g_free(&g);
    {
        static const char *bad[4] = {"sideways", "", "dlib_chip ", "DLIB_CHIP"};
        for (i = 0; i < 4; i++) {
            build(&g, 8, 4, bad[i]);
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

static void test_embed_dim(void) {
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
        build(&g, 6, dims[i], "outer_eyes_and_nose");
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
    build(&g, 6, FNET_MAX_EMBED_DIM + 1, NULL);
    r = load_graph(&g, &m);
    CHECK(r == FNET_ERR_TOO_LARGE && m == NULL, "dim FNET_MAX_EMBED_DIM + 1 refused with TOO_LARGE (got %s)",
          fnet_result_string(r));
    fnet_model_free(m);
    g_free(&g);
    build(&g, 6, 300, NULL); /* metadata that disagrees with the graph stays an error */
    g.mk[0] = "embedding_dim"; g.mv[0] = "128"; g.n_meta = 1;
    r = load_graph(&g, &m);
    CHECK(r == FNET_ERR_CORRUPT && m == NULL, "embedding_dim 128 on a 300-value graph: CORRUPT (got %s)",
          fnet_result_string(r));
    fnet_model_free(m);
    g_free(&g);
}

int main(void) {
    test_align_kind();
    test_embed_dim();
    return test_finish();
}
