/* test_match.c - section 5 (matching) on synthetic data: no blobs, no photos needed.

   Distances against a double-precision reference, the gallery (enroll/add/remove, duplicate
   names, NaN, mismatched network, save/load round trip, every truncation and every bit flip
   of a saved file, files on disk written by rename), identification against brute force,
   triplet loss values and gradients against central finite differences (exact up to
   rounding: the loss is piecewise quadratic), semi-hard/hard/batch-all selection on a batch
   built by hand, k-means and Chinese whispers on well-separated synthetic clusters, and the
   three classifiers on separable data (plus their file round trip and damage checks). */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"

#include <math.h>

static unsigned long long rng_state = 12345;
static double nrand(void) { return fnet__rng_normal(&rng_state); }

static void rand_vec(float *v, int n, double sd) {
    int i;
    for (i = 0; i < n; i++) v[i] = (float)(sd * nrand());
}

/* blobs: n_per points around each of `k` centres (centres at distance ~ spread apart) */
static void make_blobs(float *x, int *labels, int k, int n_per, int dim, double spread, double sd) {
    int c, i, j;
    float *centres = (float *)malloc((size_t)k * dim * sizeof(float));
    for (c = 0; c < k; c++)
        for (j = 0; j < dim; j++) centres[c * dim + j] = (float)(j % k == c ? spread : 0.0) + (float)(0.1 * nrand());
    for (c = 0; c < k; c++)
        for (i = 0; i < n_per; i++) {
            int idx = c * n_per + i;
            /* interleave classes so that order carries no information */
            int pos = i * k + c;
            for (j = 0; j < dim; j++) x[(size_t)pos * dim + j] = centres[c * dim + j] + (float)(sd * nrand());
            labels[pos] = c;
            (void)idx;
        }
    free(centres);
}

/* 1 when the two labelings are the same partition */
static int same_partition(const int *a, const int *b, int n) {
    int i, j;
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            if ((a[i] == a[j]) != (b[i] == b[j])) return 0;
    return 1;
}

static void test_crc(void) {
    /* the table CRC equals the foundation's bitwise one (zlib's CRC-32: "123456789" -> cbf43926) */
    unsigned char b[4096];
    int i;
    for (i = 0; i < 4096; i++) b[i] = (unsigned char)(i * 7 + (i >> 5));
    CHECK(fnet__crc_skip(b, 4096, 100) == fnet__crc32_update(fnet__crc32_update(0, b, 100), b + 104, 4096 - 104), "table CRC");
    memcpy(b, "123456789....", 13);
    CHECK(fnet__crc_skip(b, 13, 9) == 0xCBF43926UL, "CRC check value");
}

static void test_distances(void) {
    float a[131], b[131], v[3] = {3.0f, 4.0f, 0.0f}, bad[3] = {1.0f, NAN, 0.0f};
    double ref = 0.0;
    int i;
    rand_vec(a, 131, 1.0);
    rand_vec(b, 131, 1.0);
    for (i = 0; i < 131; i++) ref += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    CHECK(fabs(fnet_distance_sq(a, b, 131) - ref) < 1e-5 * ref, "distance_sq %g vs %g", fnet_distance_sq(a, b, 131), ref);
    CHECK(fabs(fnet_distance(a, b, 131) - sqrt(ref)) < 1e-5 * sqrt(ref), "distance");
    CHECK(fnet_distance(a, a, 131) == 0.0f, "distance to itself");
    CHECK(fnet_l2_normalize(v, 3) == FNET_OK && fabsf(v[0] - 0.6f) < 1e-7f && fabsf(v[1] - 0.8f) < 1e-7f, "normalize");
    CHECK(fnet_l2_normalize(bad, 3) == FNET_ERR_NOT_FINITE, "normalize NaN");
    bad[1] = INFINITY;
    CHECK(fnet_check_finite(bad, 3) == FNET_ERR_NOT_FINITE, "inf");
    CHECK(fnet_check_finite(a, 131) == FNET_OK, "finite");
    CHECK(fnet_check_finite(NULL, 1) == FNET_ERR_INVALID_ARGUMENT, "NULL");
}

static void test_verify(void) {
    float a[4] = {0, 0, 0, 0}, b[4] = {0.3f, 0.4f, 0, 0}, n[4] = {0, NAN, 0, 0}, d = -1;
    int same = -1;
    CHECK(fnet_verify(a, b, 4, 0.6f, &d, &same) == FNET_OK && fabsf(d - 0.5f) < 1e-7f && same == 1, "verify same");
    CHECK(fnet_verify(a, b, 4, 0.45f, &d, &same) == FNET_OK && same == 0, "verify different");
    CHECK(fnet_verify(a, b, 4, 0.5f, NULL, &same) == FNET_OK && same == 1, "threshold is inclusive");
    CHECK(fnet_verify(a, n, 4, 0.6f, &d, &same) == FNET_ERR_NOT_FINITE, "verify NaN");
    CHECK(fnet_verify(a, b, 4, 0.0f, &d, &same) == FNET_ERR_INVALID_ARGUMENT, "verify threshold 0");
    CHECK(fnet_verify(a, b, 4, NAN, &d, &same) == FNET_ERR_INVALID_ARGUMENT, "verify threshold NaN");
    CHECK(fnet_verify(NULL, b, 4, 0.6f, &d, &same) == FNET_ERR_INVALID_ARGUMENT, "verify NULL");
    /* plain vs squared: OpenFace's 0.99 is squared L2, so the plain threshold is sqrt(0.99) */
    CHECK(fabsf(fnet_network_threshold("nn4.small2.v1") - sqrtf(0.99f)) < 1e-3f, "nn4 threshold %g",
          fnet_network_threshold("nn4.small2.v1"));
    CHECK(fnet_network_threshold("resnet34-dlib") > 0.55f && fnet_network_threshold("resnet34-dlib") <= 0.65f,
          "resnet threshold %g (dlib's 0.6, calibrated on LFW dev)", fnet_network_threshold("resnet34-dlib"));
    CHECK(fnet_network_threshold_for("resnet34-dlib", FNET_THRESHOLD_IDENTIFY) < fnet_network_threshold("resnet34-dlib") &&
              fnet_network_threshold_for("resnet34-dlib", FNET_THRESHOLD_CLUSTER) < fnet_network_threshold("resnet34-dlib") &&
              fnet_network_threshold_for("nn4.small2.v1", FNET_THRESHOLD_IDENTIFY) < fnet_network_threshold("nn4.small2.v1"),
          "identification and clustering thresholds are stricter");
    CHECK(fnet_network_threshold_for("resnet34-dlib", (fnet_threshold_kind)3) == 0.0f, "bad threshold kind");
    CHECK(fnet_network_threshold("vgg") == 0.0f && fnet_network_threshold(NULL) == 0.0f, "unknown network");
    CHECK(fnet_network_id(NULL) == NULL, "network id of NULL");
    {   /* the blobs' ids: the incomplete (filled) nn4 is a space of its own */
        const char *names[2] = {"resnet34.fnet", "nn4.small2.v1.fnet"};
        int i;
        for (i = 0; i < 2; i++) {
            const char *p = weights_path(names[i]);
            fnet_model *m = NULL;
            if (!p) { SKIP("%s not built (make weights)", names[i]); continue; }
            if (fnet_model_load_file(p, &m) != FNET_OK) { CHECK(0, "load %s", p); continue; }
            if (i == 0) CHECK(strcmp(fnet_network_id(m), "resnet34-dlib") == 0, "resnet id %s", fnet_network_id(m));
            else CHECK(strcmp(fnet_network_id(m), fnet_model_incomplete(m) ? "nn4.small2.v1+filled" : "nn4.small2.v1") == 0,
                       "nn4 id %s", fnet_network_id(m));
            CHECK(fnet_network_threshold(fnet_network_id(m)) > 0.0f, "%s has thresholds", fnet_network_id(m));
            fnet_model_free(m);
        }
        CHECK(fnet_network_threshold("nn4.small2.v1+filled") < 0.5f, "filled nn4 threshold");
    }
}

#define D 8
static void fill_person(float *e, int n, float base) {
    int i, j;
    for (i = 0; i < n; i++)
        for (j = 0; j < D; j++) e[i * D + j] = base + 0.01f * (float)(i * D + j);
}

static void test_gallery_edit(void) {
    fnet_gallery *g = NULL;
    float e[3 * D], nan_e[D];
    const char *name;
    const float *emb;
    int n;
    char longname[FNET_GALLERY_MAX_NAME + 2];
    CHECK(fnet_gallery_create("", D, &g) == FNET_ERR_INVALID_ARGUMENT && !g, "empty network id");
    CHECK(fnet_gallery_create("0123456789012345678901234567890123", D, &g) == FNET_ERR_INVALID_ARGUMENT, "long id");
    CHECK(fnet_gallery_create("test_net", 0, &g) == FNET_ERR_INVALID_ARGUMENT, "dim 0");
    CHECK(fnet_gallery_create("test_net", D, &g) == FNET_OK && g, "create");
    if (!g) return;
    CHECK(fnet_gallery_count(g) == 0 && fnet_gallery_embedding_count(g) == 0, "empty");
    fill_person(e, 3, 1.0f);
    CHECK(fnet_gallery_enroll(g, "alice", e, 2) == FNET_OK, "enroll alice");
    fill_person(e, 3, 2.0f);
    CHECK(fnet_gallery_enroll(g, "bob", e, 1) == FNET_OK, "enroll bob");
    fill_person(e, 3, 3.0f);
    CHECK(fnet_gallery_enroll(g, "carol", e, 3) == FNET_OK, "enroll carol");
    CHECK(fnet_gallery_enroll(g, "bob", e, 1) == FNET_ERR_DUPLICATE, "duplicate name");
    CHECK(fnet_gallery_count(g) == 3 && fnet_gallery_embedding_count(g) == 6, "counts after duplicate");
    memcpy(nan_e, e, sizeof nan_e);
    nan_e[5] = NAN;
    CHECK(fnet_gallery_enroll(g, "dave", nan_e, 1) == FNET_ERR_NOT_FINITE, "NaN enroll");
    CHECK(fnet_gallery_add(g, "bob", nan_e, 1) == FNET_ERR_NOT_FINITE, "NaN add");
    CHECK(fnet_gallery_find(g, "dave") == -1 && fnet_gallery_embedding_count(g) == 6, "NaN left nothing");
    CHECK(fnet_gallery_enroll(g, "", e, 1) == FNET_ERR_INVALID_ARGUMENT, "empty name");
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK(fnet_gallery_enroll(g, longname, e, 1) == FNET_ERR_INVALID_ARGUMENT, "name too long");
    longname[FNET_GALLERY_MAX_NAME] = 0;
    CHECK(fnet_gallery_enroll(g, longname, e, 1) == FNET_OK, "longest name");
    CHECK(fnet_gallery_remove(g, longname) == FNET_OK, "remove longest");
    CHECK(fnet_gallery_enroll(g, "eve", e, 0) == FNET_ERR_INVALID_ARGUMENT, "0 embeddings");
    /* add to alice (in the middle of the storage): later people move */
    fill_person(e, 3, 5.0f);
    CHECK(fnet_gallery_add(g, "alice", e, 1) == FNET_OK, "add to alice");
    CHECK(fnet_gallery_person(g, 0, &name, &emb, &n) == FNET_OK && strcmp(name, "alice") == 0 && n == 3 &&
              emb[2 * D] == 5.0f && emb[0] == 1.0f,
          "alice has 3");
    CHECK(fnet_gallery_person(g, 1, &name, &emb, &n) == FNET_OK && strcmp(name, "bob") == 0 && n == 1 && emb[0] == 2.0f,
          "bob intact");
    CHECK(fnet_gallery_person(g, 2, &name, &emb, &n) == FNET_OK && n == 3 && emb[0] == 3.0f &&
              fabsf(emb[2 * D + 1] - (3.0f + 0.01f * 17)) < 1e-6f,
          "carol intact");
    CHECK(fnet_gallery_add(g, "frank", e, 2) == FNET_OK && fnet_gallery_find(g, "frank") == 3, "add enrolls");
    CHECK(fnet_gallery_remove(g, "bob") == FNET_OK && fnet_gallery_find(g, "bob") == -1, "remove bob");
    CHECK(fnet_gallery_remove(g, "bob") == FNET_ERR_NOT_FOUND, "remove twice");
    CHECK(fnet_gallery_count(g) == 3 && fnet_gallery_embedding_count(g) == 8, "counts after remove");
    CHECK(fnet_gallery_person(g, 1, &name, &emb, &n) == FNET_OK && strcmp(name, "carol") == 0 && emb[0] == 3.0f,
          "carol moved down");
    CHECK(fnet_gallery_person(g, 2, &name, &emb, &n) == FNET_OK && strcmp(name, "frank") == 0 && emb[0] == 5.0f &&
              n == 2,
          "frank");
    CHECK(fnet_gallery_person(g, 3, &name, &emb, &n) == FNET_ERR_INVALID_ARGUMENT, "index out of range");
    CHECK(fnet_gallery_check(g, "test_net", D) == FNET_OK, "check same");
    CHECK(fnet_gallery_check(g, "other_net", D) == FNET_ERR_MISMATCH, "check network");
    CHECK(fnet_gallery_check(g, "test_net", D + 1) == FNET_ERR_MISMATCH, "check dim");
    fnet_gallery_free(g);
}

static fnet_gallery *sample_gallery(void) {
    fnet_gallery *g = NULL;
    float e[3 * D];
    fnet_gallery_create("resnet34-dlib", D, &g);
    fill_person(e, 3, 0.1f);
    fnet_gallery_enroll(g, "Ada Lovelace", e, 3);
    fill_person(e, 1, -0.5f);
    fnet_gallery_enroll(g, "b", e, 1);
    fill_person(e, 2, 0.25f);
    fnet_gallery_enroll(g, "Ch\xc3\xa9rie", e, 2); /* UTF-8 */
    return g;
}

static int galleries_equal(const fnet_gallery *a, const fnet_gallery *b) {
    int i;
    if (strcmp(fnet_gallery_network(a), fnet_gallery_network(b)) || fnet_gallery_dim(a) != fnet_gallery_dim(b) ||
        fnet_gallery_count(a) != fnet_gallery_count(b) || fnet_gallery_embedding_count(a) != fnet_gallery_embedding_count(b))
        return 0;
    for (i = 0; i < fnet_gallery_count(a); i++) {
        const char *na, *nb;
        const float *ea, *eb;
        int ca, cb;
        fnet_gallery_person(a, i, &na, &ea, &ca);
        fnet_gallery_person(b, i, &nb, &eb, &cb);
        if (strcmp(na, nb) || ca != cb || memcmp(ea, eb, (size_t)ca * fnet_gallery_dim(a) * sizeof(float))) return 0;
    }
    return 1;
}

/* fnet_gallery_set_jitter: plain galleries stay version 1 byte for byte; a jittered one is
   version 2 (8 more header bytes) and loads back with its jitter; every truncation and a
   bad reserved word are refused. */
static void test_gallery_jitter(void) {
    fnet_gallery *g = sample_gallery(), *h = NULL;
    unsigned char *buf;
    size_t size0 = 0, size = 0, i;
    int bad = 0;
    CHECK(fnet_gallery_jitter(g) == 0 && fnet_gallery_jitter(NULL) == 0, "a new gallery is plain");
    CHECK(fnet_gallery_set_jitter(g, -1) == FNET_ERR_INVALID_ARGUMENT &&
          fnet_gallery_set_jitter(g, FNET_GALLERY_MAX_JITTER + 1) == FNET_ERR_INVALID_ARGUMENT &&
          fnet_gallery_set_jitter(NULL, 1) == FNET_ERR_INVALID_ARGUMENT, "jitter out of range refused");
    fnet_gallery_save_memory(g, NULL, 0, &size0);
    CHECK(fnet_gallery_set_jitter(g, FNET_ENROLL_JITTER) == FNET_OK && fnet_gallery_jitter(g) == FNET_ENROLL_JITTER, "set");
    fnet_gallery_save_memory(g, NULL, 0, &size);
    CHECK(size == size0 + 8, "version 2: 8 more bytes (%zu, %zu)", size, size0);
    buf = (unsigned char *)malloc(size);
    CHECK(fnet_gallery_save_memory(g, buf, size, &size) == FNET_OK && buf[8] == 2 && buf[72] == FNET_ENROLL_JITTER,
          "version 2 header");
    CHECK(fnet_gallery_load_memory(buf, size, &h) == FNET_OK && h && galleries_equal(g, h) &&
          fnet_gallery_jitter(h) == FNET_ENROLL_JITTER, "round trip keeps the jitter");
    fnet_gallery_free(h);
    h = NULL;
    for (i = 0; i < size; i++)
        if (fnet_gallery_load_memory(buf, i, &h) == FNET_OK || h) { bad++; fnet_gallery_free(h); h = NULL; }
    CHECK(bad == 0, "%d truncations of a version 2 file loaded", bad);
    buf[76] = 1; /* reserved word, CRC recomputed: still refused */
    {
        unsigned long crc = 0xFFFFFFFFul;
        size_t k;
        int b;
        for (k = 0; k < size; k++) {
            if (k >= 28 && k < 32) continue;
            crc ^= buf[k];
            for (b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xEDB88320ul & (0ul - (crc & 1ul)));
        }
        crc ^= 0xFFFFFFFFul;
        for (b = 0; b < 4; b++) buf[28 + b] = (unsigned char)(crc >> (8 * b));
    }
    CHECK(fnet_gallery_load_memory(buf, size, &h) == FNET_ERR_CORRUPT && !h, "reserved word not 0: corrupt");
    buf[76] = 0;
    buf[72] = 0; /* jitter 0 in a version 2 file (CRC now wrong too): refused */
    CHECK(fnet_gallery_load_memory(buf, size, &h) == FNET_ERR_CORRUPT && !h, "jitter 0 in version 2: corrupt");
    free(buf);
    fnet_gallery_free(g);
}

static void test_gallery_file(void) {
    fnet_gallery *g = sample_gallery(), *h = NULL, *e = NULL;
    unsigned char *buf, *copy;
    size_t size = 0, sz2, i;
    int bit, bad_trunc = 0, bad_flip = 0, n_flip = 0;
    CHECK(fnet_gallery_save_memory(g, NULL, 0, &size) == FNET_OK && size > 72, "size query %zu", size);
    /* 72 header + 3 people x 8 + names 12+4+8 + 6 embeddings x 8 x 4 */
    CHECK(size == 72 + 24 + 12 + 4 + 8 + 6 * D * 4, "file size %zu", size);
    buf = (unsigned char *)malloc(size);
    copy = (unsigned char *)malloc(size);
    CHECK(fnet_gallery_save_memory(g, buf, size - 1, &sz2) == FNET_ERR_WORKSPACE_TOO_SMALL, "small buffer");
    CHECK(fnet_gallery_save_memory(g, buf, size, &sz2) == FNET_OK && sz2 == size, "save");
    CHECK(memcmp(buf, "FNETGALR", 8) == 0 && buf[8] == 1 && buf[16] == D && buf[20] == 3 && buf[24] == 6, "header bytes");
    CHECK(fnet_gallery_load_memory(buf, size, &h) == FNET_OK && h && galleries_equal(g, h), "round trip");
    fnet_gallery_free(h);
    h = NULL;
    /* every truncation */
    for (i = 0; i < size; i++) {
        fnet_result r = fnet_gallery_load_memory(buf, i, &h);
        if (r == FNET_OK || h) { bad_trunc++; fnet_gallery_free(h); h = NULL; }
    }
    CHECK(bad_trunc == 0, "%d truncations loaded", bad_trunc);
    CHECK(fnet_gallery_load_memory(buf, 40, &h) == FNET_ERR_TRUNCATED, "truncated header code");
    CHECK(fnet_gallery_load_memory(buf, size - 4, &h) == FNET_ERR_TRUNCATED, "truncated body code");
    /* every bit flip */
    for (i = 0; i < size; i++)
        for (bit = 0; bit < 8; bit++) {
            fnet_result r;
            memcpy(copy, buf, size);
            copy[i] ^= (unsigned char)(1u << bit);
            r = fnet_gallery_load_memory(copy, size, &h);
            n_flip++;
            if (r == FNET_OK || h) { bad_flip++; fnet_gallery_free(h); h = NULL; }
        }
    CHECK(bad_flip == 0, "%d of %d bit flips loaded", bad_flip, n_flip);
    memcpy(copy, buf, size);
    copy[0] = 'X';
    CHECK(fnet_gallery_load_memory(copy, size, &h) == FNET_ERR_BAD_MAGIC, "bad magic code");
    memcpy(copy, buf, size);
    copy[8] = 3;
    CHECK(fnet_gallery_load_memory(copy, size, &h) == FNET_ERR_VERSION, "version code");
    memcpy(copy, buf, size);
    copy[size - 1] ^= 1;
    CHECK(fnet_gallery_load_memory(copy, size, &h) == FNET_ERR_CORRUPT, "checksum code");
    /* a NaN written with a valid checksum is still refused */
    memcpy(copy, buf, size);
    {
        float nanv = NAN;
        fnet__wr_f32(copy + size - 4, nanv); /* little-endian, as the file is on every host */
        fnet__wr_u32(copy + 28, fnet__crc_skip(copy, size, 28));
        CHECK(fnet_gallery_load_memory(copy, size, &h) == FNET_ERR_CORRUPT && !h, "NaN in file");
    }
    /* a duplicate name written with a valid checksum: "b" -> renamed to match nothing... make
       the third name equal the second by rewriting a consistent file by hand */
    {
        fnet_gallery *dup = NULL;
        float ee[D];
        unsigned char *db;
        size_t ds;
        fill_person(ee, 1, 0.0f);
        fnet_gallery_create("x", D, &dup);
        fnet_gallery_enroll(dup, "aa", ee, 1);
        fnet_gallery_enroll(dup, "ab", ee, 1);
        fnet_gallery_save_memory(dup, NULL, 0, &ds);
        db = (unsigned char *)malloc(ds);
        fnet_gallery_save_memory(dup, db, ds, &ds);
        db[72 + 8 + 4 + D * 4 + 8 + 1] = 'a'; /* second name "ab" -> "aa" */
        fnet__wr_u32(db + 28, fnet__crc_skip(db, ds, 28));
        CHECK(fnet_gallery_load_memory(db, ds, &h) == FNET_ERR_CORRUPT && !h, "duplicate name in file");
        free(db);
        fnet_gallery_free(dup);
    }
    CHECK(fnet_gallery_load_memory(NULL, size, &h) == FNET_ERR_INVALID_ARGUMENT, "NULL data");
    CHECK(fnet_gallery_load_memory(buf, size, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL out");
    /* empty gallery round trip */
    fnet_gallery_create("nn4.small2.v1", 128, &e);
    CHECK(fnet_gallery_save_memory(e, copy, size, &sz2) == FNET_OK && sz2 == 72, "empty size");
    CHECK(fnet_gallery_load_memory(copy, sz2, &h) == FNET_OK && h && fnet_gallery_count(h) == 0 &&
              fnet_gallery_dim(h) == 128 && strcmp(fnet_gallery_network(h), "nn4.small2.v1") == 0,
          "empty round trip");
    fnet_gallery_free(h);
    h = NULL;

    /* on disk: save, overwrite, failed save leaves the old file, damaged file refused */
    {
        const char *path = "build/tests/test_match.gallery";
        FILE *f;
        fnet_gallery_free(h);
        h = NULL;
        CHECK(fnet_gallery_save(e, path) == FNET_OK, "save empty to disk");
        CHECK(fnet_gallery_save(g, path) == FNET_OK, "overwrite");
        CHECK(!test_file_exists("build/tests/test_match.gallery.tmp"), "no temporary left");
        CHECK(fnet_gallery_load(path, &h) == FNET_OK && h && galleries_equal(g, h), "disk round trip");
        fnet_gallery_free(h);
        h = NULL;
        CHECK(fnet_gallery_save(e, "build/tests/no-such-dir/x.gallery") == FNET_ERR_IO, "save into missing dir");
        CHECK(fnet_gallery_load("build/tests/no-such-dir/x.gallery", &h) == FNET_ERR_IO && !h, "load missing");
        f = fopen(path, "r+b");
        if (f) {
            fseek(f, 100, SEEK_SET);
            fputc(0x5a, f);
            fclose(f);
        }
        CHECK(fnet_gallery_load(path, &h) == FNET_ERR_CORRUPT && !h, "damaged file on disk");
        remove(path);
    }
    fnet_gallery_free(e);
    fnet_gallery_free(g);
    free(buf);
    free(copy);
}

static void test_identify(void) {
    enum { P = 200, DIM = 16, K = 5 };
    fnet_gallery *g = NULL, *empty = NULL;
    float *emb = (float *)malloc((size_t)P * 3 * DIM * sizeof(float)), probe[DIM], nanp[DIM];
    fnet_match m[K], big[P + 5];
    int i, j, n = -1, errors = 0, t;
    fnet_gallery_create("resnet34-dlib", DIM, &g);
    fnet_gallery_create("resnet34-dlib", DIM, &empty);
    for (i = 0; i < P; i++) {
        char name[32];
        int cnt = 1 + i % 3;
        snprintf(name, sizeof name, "p%03d", i);
        rand_vec(emb + (size_t)i * 3 * DIM, cnt * DIM, 0.3);
        fnet_gallery_enroll(g, name, emb + (size_t)i * 3 * DIM, cnt);
    }
    for (t = 0; t < 20; t++) {
        /* brute force: per person the nearest embedding */
        double ref[P];
        int order[P];
        rand_vec(probe, DIM, 0.3);
        for (i = 0; i < P; i++) {
            ref[i] = 1e30;
            for (j = 0; j < 1 + i % 3; j++) {
                double d = fnet_distance(probe, emb + (size_t)i * 3 * DIM + (size_t)j * DIM, DIM);
                if (d < ref[i]) ref[i] = d;
            }
            order[i] = i;
        }
        for (i = 0; i < P; i++) /* selection sort of the first K */
            for (j = i + 1; j < P && i < K; j++)
                if (ref[order[j]] < ref[order[i]]) { int s = order[i]; order[i] = order[j]; order[j] = s; }
        if (fnet_identify(g, probe, DIM, 1.0f, m, K, &n) != FNET_OK || n != K) { errors++; continue; }
        for (i = 0; i < K; i++)
            if (m[i].person != order[i] || fabs(m[i].distance - ref[order[i]]) > 1e-5 ||
                m[i].accepted != (ref[order[i]] <= 1.0))
                errors++;
    }
    CHECK(errors == 0, "identify vs brute force: %d errors", errors);
    /* a probe equal to an enrolled embedding: found at distance 0, accepted */
    CHECK(fnet_identify(g, emb + (size_t)7 * 3 * DIM + DIM, DIM, 0.0f, m, 1, &n) == FNET_OK && n == 1 &&
              m[0].person == 7 && m[0].distance == 0.0f && m[0].accepted,
          "exact probe (default threshold)");
    /* a probe far from everyone: rejected as unknown */
    for (i = 0; i < DIM; i++) probe[i] = 10.0f;
    CHECK(fnet_identify(g, probe, DIM, 0.6f, m, 3, &n) == FNET_OK && n == 3 && !m[0].accepted && m[0].distance > 30.0f,
          "unknown rejected");
    CHECK(fnet_identify(g, probe, DIM, 0.6f, big, P + 5, &n) == FNET_OK && n == P, "k above people");
    for (i = 1; i < n; i++)
        if (big[i].distance < big[i - 1].distance) errors++;
    CHECK(errors == 0, "sorted");
    CHECK(fnet_identify(empty, probe, DIM, 0.6f, m, 3, &n) == FNET_ERR_NOT_FOUND && n == 0, "empty gallery");
    CHECK(fnet_identify(g, probe, DIM - 1, 0.6f, m, 3, &n) == FNET_ERR_MISMATCH, "dim mismatch");
    memcpy(nanp, probe, sizeof nanp);
    nanp[3] = NAN;
    CHECK(fnet_identify(g, nanp, DIM, 0.6f, m, 3, &n) == FNET_ERR_NOT_FINITE, "NaN probe");
    CHECK(fnet_identify(g, probe, DIM, 0.6f, m, 0, &n) == FNET_ERR_INVALID_ARGUMENT, "k 0");
    {
        fnet_gallery *u = NULL;
        fnet_gallery_create("mystery", DIM, &u);
        fnet_gallery_enroll(u, "x", probe, 1);
        CHECK(fnet_identify(u, probe, DIM, 0.0f, m, 1, &n) == FNET_ERR_INVALID_ARGUMENT, "no default threshold");
        CHECK(fnet_identify(u, probe, DIM, 0.5f, m, 1, &n) == FNET_OK && n == 1 && m[0].accepted, "explicit threshold");
        fnet_gallery_free(u);
    }
    fnet_gallery_free(g);
    fnet_gallery_free(empty);
    free(emb);
}

static void test_triplet(void) {
    /* hand-made batch in 2-d: anchor A0 (0,0) and positive A1 (1,0) of person 0;
       negatives of persons 1..4. From A0 (d_ap = 1): N1 0.25 (hard), N2 1.1025 (semi-hard,
       inside the 0.2 margin), N3 1.21 (easy), N4 4. From A1 (d_ap = 1): N2 0.0025, N4 1.0
       (= d_ap: not farther), N1 1.25 (semi-hard), N3 2.21. */
    float b[6 * 2] = {0, 0, 1, 0, 0, 0.5f, 1.05f, 0, 0, 1.1f, 2, 0};
    int lab[6] = {0, 0, 1, 2, 3, 4};
    fnet_triplet t[64];
    int n = -1;
    float loss = -1;
    CHECK(fnet_triplet_select(b, lab, 6, 2, 0.2f, FNET_TRIPLET_SEMI_HARD, t, 64, &n) == FNET_OK && n == 2, "semi n %d", n);
    CHECK(n == 2 && t[0].anchor == 0 && t[0].positive == 1 && t[0].negative == 3, "semi-hard from A0 -> N2 (%d)", t[0].negative);
    CHECK(n == 2 && t[1].anchor == 1 && t[1].positive == 0 && t[1].negative == 2, "semi-hard from A1 -> N1 (%d)", t[1].negative);
    CHECK(fnet_triplet_select(b, lab, 6, 2, 0.2f, FNET_TRIPLET_HARD, t, 64, &n) == FNET_OK && n == 2 &&
              t[0].negative == 2 && t[1].negative == 3 && t[0].positive == 1,
          "hard");
    CHECK(fnet_triplet_select(b, lab, 6, 2, 0.2f, FNET_TRIPLET_BATCH_ALL, t, 64, &n) == FNET_OK && n == 4, "batch-all %d", n);
    CHECK(n == 4 && t[0].negative == 2 && t[1].negative == 3 && t[2].negative == 3 && t[3].negative == 5, "batch-all set");
    /* loss of the batch-all set: (1-0.25+0.2) + (1-1.1025+0.2) + (1-0.0025+0.2) + (1-1+0.2), / 4 */
    CHECK(fnet_triplet_loss(b, 6, 2, t, 4, 0.2f, &loss, NULL, &n) == FNET_OK && n == 4 &&
              fabs(loss - (0.95 + 0.0975 + 1.1975 + 0.2) / 4) < 1e-6,
          "loss %g", loss);
    /* max_out smaller than the count */
    CHECK(fnet_triplet_select(b, lab, 6, 2, 0.2f, FNET_TRIPLET_BATCH_ALL, t, 1, &n) == FNET_OK && n == 4 &&
              t[0].negative == 2,
          "max_out");
    /* no negative farther than the positive: the farthest one */
    {
        float c[4 * 2] = {0, 0, 3, 0, 1, 0, 0, 2};
        int lc[4] = {0, 0, 1, 2};
        CHECK(fnet_triplet_select(c, lc, 4, 2, 0.2f, FNET_TRIPLET_SEMI_HARD, t, 64, &n) == FNET_OK && n == 2 &&
                  t[0].negative == 3,
              "semi-hard fallback %d", t[0].negative);
    }
    /* gradients vs central finite differences on random data */
    {
        enum { N = 12, DIM = 6 };
        float e[N * DIM], g[N * DIM];
        int l[N], i, bad = 0, nt = 0;
        double maxerr = 0.0;
        for (i = 0; i < N; i++) l[i] = i % 3;
        rand_vec(e, N * DIM, 0.4);
        /* valid triplets, active and inactive, away from the hinge (|l| > 0.05) so that a
           step of h cannot cross it */
        {
            int a, p, q;
            for (a = 0; a < N && nt < 64; a++)
                for (p = 0; p < N && nt < 64; p++)
                    for (q = 0; q < N && nt < 64; q++) {
                        double lv;
                        if (a == p || l[p] != l[a] || l[q] == l[a] || (a * 7 + p * 3 + q) % 2) continue;
                        lv = fnet_distance_sq(e + a * DIM, e + p * DIM, DIM) - fnet_distance_sq(e + a * DIM, e + q * DIM, DIM) + 0.2;
                        if (fabs(lv) < 0.05) continue;
                        t[nt].anchor = a; t[nt].positive = p; t[nt].negative = q; nt++;
                    }
        }
        CHECK(nt == 64, "enough triplets (%d)", nt);
        fnet_triplet_loss(e, N, DIM, t, nt, 0.2f, &loss, g, &n);
        CHECK(n > 5 && n < nt, "active and inactive triplets (%d of %d)", n, nt);
        for (i = 0; i < N * DIM; i++) {
            float keep = e[i], lp, lm;
            double fd;
            const float h = 1e-3f;
            e[i] = keep + h;
            fnet_triplet_loss(e, N, DIM, t, nt, 0.2f, &lp, NULL, NULL);
            e[i] = keep - h;
            fnet_triplet_loss(e, N, DIM, t, nt, 0.2f, &lm, NULL, NULL);
            e[i] = keep;
            fd = ((double)lp - lm) / (2.0 * h);
            if (fabs(fd - g[i]) > maxerr) maxerr = fabs(fd - g[i]);
            if (fabs(fd - g[i]) > 2e-4 + 1e-3 * fabs(fd)) bad++;
        }
        CHECK(bad == 0, "gradient vs finite differences: %d bad, max error %g", bad, maxerr);
        printf("triplet gradient: max |analytic - finite difference| = %.3g over %d values, %d triplets\n", maxerr,
               N * DIM, nt);
    }
    CHECK(fnet_triplet_loss(b, 6, 2, t, 0, 0.2f, &loss, NULL, &n) == FNET_OK && loss == 0.0f && n == 0, "no triplets");
    t[0].negative = 6;
    CHECK(fnet_triplet_loss(b, 6, 2, t, 1, 0.2f, &loss, NULL, NULL) == FNET_ERR_INVALID_ARGUMENT, "index out of range");
    b[3] = NAN;
    CHECK(fnet_triplet_select(b, lab, 6, 2, 0.2f, FNET_TRIPLET_HARD, t, 64, &n) == FNET_ERR_NOT_FINITE, "NaN select");
    CHECK(fnet_triplet_loss(b, 6, 2, t, 0, 0.2f, &loss, NULL, NULL) == FNET_ERR_NOT_FINITE, "NaN loss");
    b[3] = 0;
    CHECK(fnet_triplet_select(b, lab, 6, 2, 0.2f, (fnet_triplet_mining)9, t, 64, &n) == FNET_ERR_INVALID_ARGUMENT, "mode");
}

static void test_clustering(void) {
    enum { K = 5, PER = 30, N = K * PER, DIM = 16 };
    float *x = (float *)malloc(N * DIM * sizeof(float)), cent[8 * DIM];
    int truth[N], lab[N], lab2[N], nc = -1, i;
    size_t ws;
    void *work;
    make_blobs(x, truth, K, PER, DIM, 1.0, 0.05); /* centres ~1.4 apart, clusters ~0.2 wide */
    ws = fnet_kmeans_workspace_size(N, DIM, K);
    CHECK(ws > 0, "kmeans workspace");
    CHECK(fnet_kmeans(x, N, DIM, K, 0, 7, NULL, 0, lab, cent) == FNET_OK && same_partition(lab, truth, N), "k-means finds the blobs");
    {
        /* centroids are the means of their clusters */
        double err = 0;
        int c, j;
        for (c = 0; c < K; c++)
            for (j = 0; j < DIM; j++) {
                double s = 0;
                int cnt = 0;
                for (i = 0; i < N; i++)
                    if (lab[i] == c) { s += x[i * DIM + j]; cnt++; }
                if (cnt) err = fmax(err, fabs(s / cnt - cent[c * DIM + j]));
            }
        CHECK(err < 1e-5, "centroids are means (%g)", err);
    }
    {   /* Lloyd's fixed point on overlapping data (where the answer is not obvious): every point
           is nearest to its own centroid and every centroid is the mean of its points */
        float *y = (float *)malloc(N * DIM * sizeof(float));
        int bad = 0, c, j, la[N], lt[N];
        make_blobs(y, lt, K, PER, DIM, 0.3, 0.3);
        CHECK(fnet_kmeans(y, N, DIM, 7, 1000, 3, NULL, 0, la, cent) == FNET_OK, "k-means on overlapping blobs");
        for (i = 0; i < N; i++)
            for (c = 0; c < 7; c++)
                if (fnet_distance_sq(y + i * DIM, cent + c * DIM, DIM) < fnet_distance_sq(y + i * DIM, cent + la[i] * DIM, DIM) - 1e-5f) bad++;
        CHECK(bad == 0, "k-means converged: %d points nearer another centroid", bad);
        for (c = 0; c < 7; c++)
            for (j = 0; j < DIM; j++) {
                double s = 0;
                int cnt = 0;
                for (i = 0; i < N; i++)
                    if (la[i] == c) { s += y[i * DIM + j]; cnt++; }
                if (!cnt || fabs(s / cnt - cent[c * DIM + j]) > 1e-5) bad++;
            }
        CHECK(bad == 0, "k-means: every centroid the mean of a non-empty cluster (%d bad)", bad);
        free(y);
    }
    work = malloc(ws);
    CHECK(fnet_kmeans(x, N, DIM, K, 0, 7, work, ws, lab2, NULL) == FNET_OK && memcmp(lab, lab2, sizeof lab) == 0,
          "same seed, caller workspace: same labels");
    CHECK(fnet_kmeans(x, N, DIM, K, 0, 7, work, ws - 100, lab2, NULL) == FNET_ERR_WORKSPACE_TOO_SMALL, "small workspace");
    free(work);
    CHECK(fnet_kmeans(x, N, DIM, N + 1, 0, 7, NULL, 0, lab2, NULL) == FNET_ERR_INVALID_ARGUMENT, "k > n");
    CHECK(fnet_kmeans(x, N, DIM, N, 0, 7, NULL, 0, lab2, NULL) == FNET_OK, "k == n");
    {
        int seen[N], ok = 1;
        memset(seen, 0, sizeof seen);
        for (i = 0; i < N; i++) seen[lab2[i]]++;
        for (i = 0; i < N; i++) ok &= seen[i] == 1;
        CHECK(ok, "k == n: one point per cluster");
    }
    {   /* all points identical: no division by zero, no crash */
        float same[10 * 4];
        int l10[10];
        for (i = 0; i < 40; i++) same[i] = 1.0f;
        CHECK(fnet_kmeans(same, 10, 4, 3, 0, 1, NULL, 0, l10, NULL) == FNET_OK, "identical points");
    }
    /* Chinese whispers: threshold between the cluster width and the gap */
    ws = fnet_chinese_whispers_workspace_size(x, N, DIM, 0.7f);
    CHECK(ws > 0, "CW workspace");
    CHECK(fnet_chinese_whispers(x, N, DIM, 0.7f, 0, 3, NULL, 0, lab, &nc) == FNET_OK && nc == K &&
              same_partition(lab, truth, N),
          "Chinese whispers finds %d blobs (got %d)", K, nc);
    work = malloc(ws);
    CHECK(fnet_chinese_whispers(x, N, DIM, 0.7f, 0, 3, work, ws, lab2, &nc) == FNET_OK && memcmp(lab, lab2, sizeof lab) == 0,
          "CW caller workspace: same labels");
    CHECK(fnet_chinese_whispers(x, N, DIM, 0.7f, 0, 3, work, ws / 2, lab2, &nc) == FNET_ERR_WORKSPACE_TOO_SMALL,
          "CW small workspace");
    free(work);
    CHECK(lab[0] == 0, "clusters numbered by first appearance");
    CHECK(fnet_chinese_whispers(x, N, DIM, 1e-4f, 0, 3, NULL, 0, lab, &nc) == FNET_OK && nc == N, "tiny threshold: singletons");
    CHECK(fnet_chinese_whispers(x, N, DIM, 100.0f, 0, 3, NULL, 0, lab, &nc) == FNET_OK && nc == 1, "huge threshold: one");
    x[5] = NAN;
    CHECK(fnet_kmeans(x, N, DIM, K, 0, 7, NULL, 0, lab, NULL) == FNET_ERR_NOT_FINITE, "k-means NaN");
    CHECK(fnet_chinese_whispers(x, N, DIM, 0.7f, 0, 3, NULL, 0, lab, &nc) == FNET_ERR_NOT_FINITE, "CW NaN");
    free(x);
}

static void test_classifier_one(fnet_classifier_kind kind, const char *what, const fnet_train_opts *o,
                                const float *xtr, const int *ytr, int ntr, const float *xte, const int *yte, int nte,
                                int dim, int nc) {
    fnet_classifier *c = NULL, *c2 = NULL;
    int i, correct = 0, same = 1, bad = 0;
    unsigned char *buf, *copy;
    size_t size = 0;
    float sc[8], sc2[8];
    CHECK(fnet_classifier_train(kind, "dlib_resnet_v1", xtr, ytr, ntr, dim, nc, o, &c) == FNET_OK && c, "%s trains", what);
    if (!c) return;
    for (i = 0; i < nc; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "class%d", i);
        fnet_classifier_set_class_name(c, i, nm);
    }
    for (i = 0; i < nte; i++) {
        int l = -1;
        double s = 0;
        int j;
        fnet_classifier_predict(c, xte + (size_t)i * dim, dim, &l, sc);
        correct += l == yte[i];
        for (j = 0; j < nc; j++) s += sc[j];
        if (fabs(s - 1.0) > 1e-4) bad++;
    }
    CHECK(correct == nte, "%s accuracy %d/%d on separable data", what, correct, nte);
    CHECK(bad == 0, "%s scores sum to 1", what);
    fnet_classifier_save_memory(c, NULL, 0, &size);
    buf = (unsigned char *)malloc(size);
    copy = (unsigned char *)malloc(size);
    CHECK(fnet_classifier_save_memory(c, buf, size, &size) == FNET_OK, "%s save", what);
    CHECK(fnet_classifier_load_memory(buf, size, &c2) == FNET_OK && c2, "%s load", what);
    if (c2) {
        CHECK(fnet_classifier_get_kind(c2) == kind && fnet_classifier_classes(c2) == nc && fnet_classifier_dim(c2) == dim &&
                  strcmp(fnet_classifier_network(c2), "dlib_resnet_v1") == 0 &&
                  strcmp(fnet_classifier_class_name(c2, 1), "class1") == 0,
              "%s fields after load", what);
        for (i = 0; i < nte; i++) {
            int l1, l2;
            fnet_classifier_predict(c, xte + (size_t)i * dim, dim, &l1, sc);
            fnet_classifier_predict(c2, xte + (size_t)i * dim, dim, &l2, sc2);
            if (l1 != l2 || memcmp(sc, sc2, (size_t)nc * sizeof(float))) same = 0;
        }
        CHECK(same, "%s predicts the same after the round trip", what);
        fnet_classifier_free(c2);
        c2 = NULL;
    }
    {
        size_t k;
        int b, loaded = 0;
        for (k = 0; k < size; k++)
            if (fnet_classifier_load_memory(buf, k, &c2) == FNET_OK || c2) { loaded++; fnet_classifier_free(c2); c2 = NULL; }
        CHECK(loaded == 0, "%s: %d truncations loaded", what, loaded);
        /* every bit flip of the header and names, and a sample of the rest */
        for (k = 0; k < size; k += (k < 160 ? 1 : 7))
            for (b = 0; b < 8; b++) {
                memcpy(copy, buf, size);
                copy[k] ^= (unsigned char)(1u << b);
                if (fnet_classifier_load_memory(copy, size, &c2) == FNET_OK || c2) { loaded++; fnet_classifier_free(c2); c2 = NULL; }
            }
        CHECK(loaded == 0, "%s: %d bit flips loaded", what, loaded);
    }
    {
        float nanx[64];
        int l;
        memcpy(nanx, xte, (size_t)dim * sizeof(float));
        nanx[1] = NAN;
        CHECK(fnet_classifier_predict(c, nanx, dim, &l, NULL) == FNET_ERR_NOT_FINITE, "%s NaN predict", what);
        CHECK(fnet_classifier_predict(c, xte, dim + 1, &l, NULL) == FNET_ERR_MISMATCH, "%s dim mismatch", what);
    }
    free(buf);
    free(copy);
    fnet_classifier_free(c);
}

/* Cross-entropy gradient of the softmax and MLP layers vs central finite differences. */
static double clf_loss(const fnet_classifier *c, const float *x, const int *y, int n) {
    float h[64], p[8];
    double l = 0;
    int i;
    for (i = 0; i < n; i++) {
        fnet__clf_forward(c, x + (size_t)i * c->dim, h, p);
        l -= log((double)p[y[i]]);
    }
    return l;
}
static void test_classifier_gradient(void) {
    enum { N = 6, DIM = 5, C = 3, H = 7 };
    float x[N * DIM], g[H * DIM + H + C * H + C], h[H], p[C], dh[H];
    int y[N] = {0, 1, 2, 0, 1, 2}, kind, i;
    rand_vec(x, N * DIM, 1.0);
    for (kind = FNET_CLASSIFIER_SOFTMAX; kind <= FNET_CLASSIFIER_MLP; kind++) {
        fnet_classifier *c = NULL;
        double maxerr = 0;
        int bad = 0;
        fnet__clf_new((fnet_classifier_kind)kind, "n", DIM, C, kind == FNET_CLASSIFIER_MLP ? H : 0, 0, 0, &c);
        for (i = 0; i < (int)c->n_params; i++) c->params[i] = (float)(0.5 * nrand());
        memset(g, 0, sizeof g);
        for (i = 0; i < N; i++) {
            fnet__clf_forward(c, x + i * DIM, h, p);
            fnet__clf_backward(c, x + i * DIM, h, p, y[i], g, dh);
        }
        for (i = 0; i < (int)c->n_params; i++) {
            float keep = c->params[i];
            double lp, lm, fd;
            c->params[i] = keep + 1e-3f;
            lp = clf_loss(c, x, y, N);
            c->params[i] = keep - 1e-3f;
            lm = clf_loss(c, x, y, N);
            c->params[i] = keep;
            fd = (lp - lm) / 2e-3;
            if (fabs(fd - g[i]) > maxerr) maxerr = fabs(fd - g[i]);
            if (fabs(fd - g[i]) > 2e-3 + 1e-2 * fabs(fd)) bad++;
        }
        CHECK(bad == 0, "%s gradient vs finite differences: %d bad of %d, max error %g",
              kind == FNET_CLASSIFIER_MLP ? "MLP" : "softmax", bad, (int)c->n_params, maxerr);
        fnet_classifier_free(c);
    }
}

static void test_classifiers(void) {
    enum { K = 4, PER = 40, N = K * PER, DIM = 12 };
    float *x = (float *)malloc(N * DIM * sizeof(float));
    int y[N], i, ntr = N * 3 / 4;
    fnet_train_opts o;
    fnet_classifier *c = NULL;
    make_blobs(x, y, K, PER, DIM, 0.5, 0.08);
    memset(&o, 0, sizeof o);
    o.seed = 1;
    test_classifier_one(FNET_CLASSIFIER_SOFTMAX, "softmax (Adam)", &o, x, y, ntr, x + ntr * DIM, y + ntr, N - ntr, DIM, K);
    test_classifier_one(FNET_CLASSIFIER_MLP, "MLP (Adam)", &o, x, y, ntr, x + ntr * DIM, y + ntr, N - ntr, DIM, K);
    o.optimizer = FNET_OPTIMIZER_SGD;
    o.hidden = 16;
    o.weight_decay = 1e-4f;
    test_classifier_one(FNET_CLASSIFIER_MLP, "MLP (SGD)", &o, x, y, ntr, x + ntr * DIM, y + ntr, N - ntr, DIM, K);
    test_classifier_one(FNET_CLASSIFIER_SOFTMAX, "softmax (SGD)", &o, x, y, ntr, x + ntr * DIM, y + ntr, N - ntr, DIM, K);
    memset(&o, 0, sizeof o);
    test_classifier_one(FNET_CLASSIFIER_KNN, "3-NN", &o, x, y, ntr, x + ntr * DIM, y + ntr, N - ntr, DIM, K);
    /* determinism: the same seed gives the same weights */
    {
        fnet_classifier *a = NULL, *b = NULL;
        size_t sa, sb;
        unsigned char *ba, *bb;
        o.seed = 99;
        fnet_classifier_train(FNET_CLASSIFIER_MLP, "n", x, y, ntr, DIM, K, &o, &a);
        fnet_classifier_train(FNET_CLASSIFIER_MLP, "n", x, y, ntr, DIM, K, &o, &b);
        fnet_classifier_save_memory(a, NULL, 0, &sa);
        fnet_classifier_save_memory(b, NULL, 0, &sb);
        ba = (unsigned char *)malloc(sa);
        bb = (unsigned char *)malloc(sb);
        fnet_classifier_save_memory(a, ba, sa, &sa);
        fnet_classifier_save_memory(b, bb, sb, &sb);
        CHECK(sa == sb && memcmp(ba, bb, sa) == 0, "training is deterministic");
        free(ba);
        free(bb);
        fnet_classifier_free(a);
        fnet_classifier_free(b);
    }
    /* k-NN with k=1 is exact on the training set; a vote of 3 near a boundary */
    {
        float p[2 * 2] = {0, 0, 1, 0}, q[2] = {0.4f, 0};
        int lp[2] = {0, 1}, l = -1;
        float sc[2];
        o.k = 1;
        fnet_classifier_train(FNET_CLASSIFIER_KNN, "n", p, lp, 2, 2, 2, &o, &c);
        CHECK(c && fnet_classifier_predict(c, q, 2, &l, sc) == FNET_OK && l == 0 && sc[0] == 1.0f, "1-NN");
        fnet_classifier_free(c);
        c = NULL;
    }
    memset(&o, 0, sizeof o);
    y[3] = K;
    CHECK(fnet_classifier_train(FNET_CLASSIFIER_SOFTMAX, "n", x, y, ntr, DIM, K, &o, &c) == FNET_ERR_INVALID_ARGUMENT && !c,
          "label out of range");
    y[3] = 0;
    x[7] = NAN;
    CHECK(fnet_classifier_train(FNET_CLASSIFIER_SOFTMAX, "n", x, y, ntr, DIM, K, &o, &c) == FNET_ERR_NOT_FINITE && !c,
          "NaN training data");
    x[7] = 0;
    CHECK(fnet_classifier_train((fnet_classifier_kind)7, "n", x, y, ntr, DIM, K, &o, &c) == FNET_ERR_INVALID_ARGUMENT,
          "kind");
    o.k = 1000;
    CHECK(fnet_classifier_train(FNET_CLASSIFIER_KNN, "n", x, y, ntr, DIM, K, &o, &c) == FNET_ERR_INVALID_ARGUMENT, "k");
    for (i = 0; i < 1; i++) (void)i;
    free(x);
}

int main(void) {
    test_crc();
    test_distances();
    test_verify();
    test_gallery_edit();
    test_gallery_file();
    test_gallery_jitter();
    test_identify();
    test_triplet();
    test_clustering();
    test_classifier_gradient();
    test_classifiers();
    return test_finish();
}
