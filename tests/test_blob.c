/* test_blob.c - the weight-blob loader against good, truncated and hostile blobs.

   Blobs are written here by a small C writer that follows the format description in
   facenet.h independently of tools/convert/fnet_blob.py (tests/test_blob.py checks that the Python
   writer and this loader agree). The generic parser (fnet__parse_blob) is tested directly so
   that the tests do not depend on what each stage's prepare step wants; real blobs from
   weights/ go through the public loader when they are present. */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"

#include <math.h>

/* ---- a minimal blob writer ---- */
typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
} wbuf;

static void w_reserve(wbuf *b, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = (unsigned char *)realloc(b->p, b->cap);
    }
}
static void w_bytes(wbuf *b, const void *src, size_t n) {
    w_reserve(b, n);
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void w_u32(wbuf *b, unsigned long v) {
    unsigned char c[4];
    c[0] = (unsigned char)v; c[1] = (unsigned char)(v >> 8); c[2] = (unsigned char)(v >> 16); c[3] = (unsigned char)(v >> 24);
    w_bytes(b, c, 4);
}
static void w_u64(wbuf *b, unsigned long long v) {
    w_u32(b, (unsigned long)(v & 0xffffffffu));
    w_u32(b, (unsigned long)(v >> 32));
}
static void w_f32(wbuf *b, float f) {
    unsigned int u;
    memcpy(&u, &f, 4);
    w_u32(b, u);
}
static void w_zero(wbuf *b, size_t n) {
    w_reserve(b, n);
    memset(b->p + b->n, 0, n);
    b->n += n;
}
static void put_u32(unsigned char *p, unsigned long v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static void put_u64(unsigned char *p, unsigned long long v) {
    put_u32(p, (unsigned long)(v & 0xffffffffu));
    put_u32(p + 4, (unsigned long)(v >> 32));
}

/* The test blob: kind 3, meta {source: "unit test", incomplete: "1"},
   tensors a f32 [2,3] = 0..5, h f16 [4] = {1, -2, 0.5, 65504}, idx i32 [5] = {-2..2},
   one op "in" (type 0) and one op "c" (type 1) reading op 0 and tensors 0 and 2. */
static size_t g_tables_end; /* end of the op table in the test blob */
static unsigned char *make_blob(size_t *size) {
    wbuf b = {0, 0, 0};
    size_t meta_off = 96, tensor_off, op_off, data_off, off_a, off_h, off_i, fsize, i;
    const char *mk[2] = {"source", "incomplete"}, *mv[2] = {"unit test", "1"};
    static const unsigned short h16[4] = {0x3C00, 0xC000, 0x3800, 0x7BFF};
    w_zero(&b, 96);
    for (i = 0; i < 2; i++) {
        size_t kl = strlen(mk[i]), vl = strlen(mv[i]), rec = 8 + kl + vl + 2;
        w_u32(&b, (unsigned long)kl);
        w_u32(&b, (unsigned long)vl);
        w_bytes(&b, mk[i], kl + 1);
        w_bytes(&b, mv[i], vl + 1);
        w_zero(&b, (4 - rec % 4) % 4);
    }
    tensor_off = b.n;
    op_off = tensor_off + 3 * 96;
    data_off = (op_off + 2 * 136 + 63) / 64 * 64;
    off_a = data_off;
    off_h = off_a + 64;
    off_i = off_h + 64;
    fsize = off_i + 64;
    {
        struct { const char *name; int dt, nd, s0, s1; size_t off, nb; } t[3] = {
            {"a", 1, 2, 2, 3, 0, 24}, {"h", 2, 1, 4, 1, 0, 8}, {"idx", 5, 1, 5, 1, 0, 20}};
        t[0].off = off_a; t[1].off = off_h; t[2].off = off_i;
        for (i = 0; i < 3; i++) {
            char name[48];
            memset(name, 0, 48);
            strcpy(name, t[i].name);
            w_bytes(&b, name, 48);
            w_u32(&b, (unsigned long)t[i].dt);
            w_u32(&b, (unsigned long)t[i].nd);
            w_u32(&b, (unsigned long)t[i].s0);
            w_u32(&b, (unsigned long)t[i].s1);
            w_u32(&b, 1);
            w_u32(&b, 1);
            w_f32(&b, 1.0f);
            w_f32(&b, 0.0f);
            w_u64(&b, t[i].off);
            w_u64(&b, t[i].nb);
        }
    }
    for (i = 0; i < 2; i++) {
        char name[32];
        int k;
        memset(name, 0, 32);
        strcpy(name, i == 0 ? "in" : "c");
        w_bytes(&b, name, 32);
        w_u32(&b, (unsigned long)i); /* type */
        w_u32(&b, 0);                /* flags */
        for (k = 0; k < 4; k++) w_u32(&b, (i == 1 && k == 0) ? 0ul : 0xFFFFFFFFul);        /* inputs */
        for (k = 0; k < 4; k++) w_u32(&b, i == 1 && k < 2 ? (k == 0 ? 0ul : 2ul) : 0xFFFFFFFFul); /* tensors */
        for (k = 0; k < 12; k++) w_u32(&b, (unsigned long)(k + 1));
        for (k = 0; k < 4; k++) w_f32(&b, 0.25f * (float)k);
    }
    w_zero(&b, data_off - b.n);
    for (i = 0; i < 6; i++) w_f32(&b, (float)i);
    w_zero(&b, 64 - 24);
    for (i = 0; i < 4; i++) {
        unsigned char c[2];
        c[0] = (unsigned char)(h16[i] & 0xff);
        c[1] = (unsigned char)(h16[i] >> 8);
        w_bytes(&b, c, 2);
    }
    w_zero(&b, 64 - 8);
    for (i = 0; i < 5; i++) w_u32(&b, (unsigned long)((long)i - 2) & 0xffffffffUL);
    w_zero(&b, 64 - 20);
    /* header */
    memcpy(b.p, "FNETBLOB", 8);
    put_u32(b.p + 8, 1);
    put_u32(b.p + 12, 0x01020304UL);
    put_u32(b.p + 16, 3);
    put_u32(b.p + 20, 96);
    put_u64(b.p + 24, fsize);
    put_u32(b.p + 32, 2);
    put_u32(b.p + 36, 3);
    put_u32(b.p + 40, 2);
    put_u32(b.p + 44, 1);
    put_u64(b.p + 48, meta_off);
    put_u64(b.p + 56, tensor_off);
    put_u64(b.p + 64, op_off);
    put_u64(b.p + 72, data_off);
    put_u32(b.p + 80, fnet__crc32_update(fnet__crc32(b.p, 80), b.p + meta_off, op_off + 2 * 136 - meta_off));
    g_tables_end = op_off + 2 * 136;
    *size = b.n;
    return b.p;
}

/* Recomputes the checksum over the tables of the test blob's own layout (a flipped count or
   offset must not make the test itself read out of bounds). */
static void fix_crc(unsigned char *p) {
    put_u32(p + 80, fnet__crc32_update(fnet__crc32(p, 80), p + 96, g_tables_end - 96));
}

/* Parses with the generic parser only (no stage prepare); returns the result. */
static fnet_result parse_only(const unsigned char *data, size_t size, int check_bounds) {
    fnet_model *m = (fnet_model *)calloc(1, sizeof(fnet_model));
    unsigned char *copy = (unsigned char *)malloc(size ? size : 1);
    fnet_result r;
    int i;
    memcpy(copy, data, size); /* an exact-size heap copy: ASan sees any overread */
    m->blob = copy;
    m->size = size;
    r = fnet__parse_blob(m, NULL);
    if (r == FNET_OK && check_bounds) {
        for (i = 0; i < m->n_tensors; i++) {
            const unsigned char *d = (const unsigned char *)m->tensors[i].data;
            CHECK(d >= copy && d + m->tensors[i].nbytes <= copy + size, "tensor %d inside the blob", i);
        }
    }
    m->kind = (fnet_model_kind)0; /* no stage data to release */
    fnet__model_release(m);
    free(copy);
    return r;
}

static void test_good_blob(void) {
    size_t size;
    unsigned char *blob = make_blob(&size);
    fnet_model *m = (fnet_model *)calloc(1, sizeof(fnet_model));
    fnet_result r;
    const fnet__tensor *t;
    m->blob = blob;
    m->size = size;
    /* big-endian hosts: the parser byte-swaps the tensor data of a writable copy */
    r = fnet__parse_blob(m, fnet__host_is_little_endian() ? NULL : blob);
    CHECK(r == FNET_OK, "parse good blob: %s", fnet_result_string(r));
    if (r == FNET_OK) {
        const float *a;
        const unsigned short *h;
        const int *ix;
        CHECK(m->kind == FNET_MODEL_NETWORK, "kind %d", m->kind);
        CHECK(fnet_model_incomplete(m) == 1, "incomplete flag");
        CHECK(fnet_model_meta(m, "source") && strcmp(fnet_model_meta(m, "source"), "unit test") == 0, "meta source");
        CHECK(fnet_model_meta(m, "nope") == NULL, "absent meta key");
        CHECK(fnet_model_meta_count(m) == 2 && fnet_model_tensor_count(m) == 3 && fnet_model_op_count(m) == 2, "counts");
        t = fnet__get_tensor(m, "a", FNET__F32, 2, 2, 3, -1, -1);
        CHECK(t != NULL, "tensor a f32 [2,3]");
        CHECK(fnet__get_tensor(m, "a", FNET__F32, 2, 3, 2, -1, -1) == NULL, "shape mismatch rejected");
        CHECK(fnet__get_tensor(m, "a", FNET__F16, 2, 2, 3, -1, -1) == NULL, "dtype mismatch rejected");
        if (t) {
            a = (const float *)t->data;
            CHECK(a[0] == 0.0f && a[5] == 5.0f, "a values %g %g", a[0], a[5]);
            CHECK(((size_t)t->data & 63u) == ((size_t)blob & 63u), "64-byte offset");
        }
        t = fnet__find_tensor(m, "h");
        CHECK(t && t->dtype == FNET__F16 && t->count == 4, "tensor h");
        if (t) {
            h = (const unsigned short *)t->data;
            CHECK(fnet__f16_to_f32(h[0]) == 1.0f && fnet__f16_to_f32(h[1]) == -2.0f &&
                      fnet__f16_to_f32(h[2]) == 0.5f && fnet__f16_to_f32(h[3]) == 65504.0f,
                  "f16 decode %g %g %g %g", fnet__f16_to_f32(h[0]), fnet__f16_to_f32(h[1]),
                  fnet__f16_to_f32(h[2]), fnet__f16_to_f32(h[3]));
        }
        t = fnet__find_tensor(m, "idx");
        CHECK(t && t->dtype == FNET__I32, "tensor idx");
        if (t) {
            ix = (const int *)t->data;
            CHECK(ix[0] == -2 && ix[4] == 2, "i32 values %d %d", ix[0], ix[4]);
        }
        CHECK(m->ops[1].n_in == 1 && m->ops[1].in[0] == 0 && m->ops[1].tensor[1] == 2, "op inputs/tensors");
        CHECK(m->ops[1].ip[0] == 1 && m->ops[1].ip[11] == 12 && m->ops[1].fp[3] == 0.75f, "op params");
        CHECK(strcmp(m->ops[0].name, "in") == 0, "op name");
        {
            fnet_tensor_info info;
            CHECK(fnet_model_tensor_at(m, 0, &info) == FNET_OK && strcmp(info.dtype, "f32") == 0 &&
                      info.shape[1] == 3 && info.bytes == 24, "tensor_at");
            CHECK(fnet_model_tensor_at(m, 3, &info) == FNET_ERR_INVALID_ARGUMENT, "tensor_at out of range");
        }
    }
    m->kind = (fnet_model_kind)0;
    fnet__model_release(m);
    free(blob);
}

static void test_truncations(void) {
    size_t size, n;
    unsigned char *blob = make_blob(&size);
    int all_failed = 1;
    for (n = 0; n < size; n++) {
        fnet_result r = parse_only(blob, n, 1);
        if (r == FNET_OK) {
            all_failed = 0;
            fprintf(stderr, "prefix %zu of %zu parsed\n", n, size);
        }
    }
    CHECK(all_failed, "every proper prefix of the blob is rejected");
    CHECK(parse_only(blob, 10, 0) == FNET_ERR_TRUNCATED, "short header: TRUNCATED");
    CHECK(parse_only(blob, size - 1, 0) == FNET_ERR_TRUNCATED, "one byte short: TRUNCATED");
    free(blob);
}

/* Flips every byte of the header and tables (with and without a repaired checksum) and
   requires: no crash, no out-of-bounds tensor, and an error for every flip that the checksum
   does not hide. */
static void test_flips(void) {
    size_t size, i;
    unsigned char *blob = make_blob(&size);
    unsigned char *c = (unsigned char *)malloc(size);
    size_t tables_end = (size_t)(fnet__rd_u64(blob + 64) + 2 * 136);
    int undetected = 0, deep_ok = 0;
    for (i = 0; i < tables_end; i++) {
        int bit;
        for (bit = 0; bit < 8; bit += 7) {
            fnet_result r;
            memcpy(c, blob, size);
            c[i] ^= (unsigned char)(1u << bit);
            r = parse_only(c, size, 1);
            if (r == FNET_OK && !(i >= 84 && i < 96)) { /* bytes 84..95 are reserved */
                undetected++;
                fprintf(stderr, "flip at %zu bit %d undetected\n", i, bit);
            }
            if (i >= 80 && i < 84) continue;
            fix_crc(c); /* now the structural checks have to catch it (or it is harmless) */
            r = parse_only(c, size, 1);
            if (r == FNET_OK) deep_ok++;
        }
    }
    CHECK(undetected == 0, "%d flips in header/tables went undetected", undetected);
    fprintf(stderr, "flips with repaired checksum that still parse (harmless values): %d\n", deep_ok);
    free(c);
    free(blob);
}

static void test_hostile_fields(void) {
    size_t size;
    unsigned char *blob = make_blob(&size);
    unsigned char *c = (unsigned char *)malloc(size);
    size_t t0 = (size_t)fnet__rd_u64(blob + 56); /* first tensor entry */
#define MUTATE(stmt, expect, what)           \
    do {                                     \
        fnet_result r_;                      \
        memcpy(c, blob, size);               \
        stmt;                                \
        fix_crc(c);                          \
        r_ = parse_only(c, size, 1);         \
        CHECK(r_ == (expect), "%s: got %d (%s)", what, (int)r_, fnet_result_string(r_)); \
    } while (0)
    MUTATE(memcpy(c, "FNETBLOX", 8), FNET_ERR_BAD_MAGIC, "bad magic");
    MUTATE(put_u32(c + 8, 2), FNET_ERR_VERSION, "version 2");
    MUTATE(put_u32(c + 8, 0), FNET_ERR_VERSION, "version 0");
    MUTATE(put_u32(c + 12, 0x04030201UL), FNET_ERR_CORRUPT, "byte-swapped byte-order mark");
    MUTATE(put_u32(c + 16, 9), FNET_ERR_CORRUPT, "unknown kind");
    MUTATE(put_u64(c + 24, (unsigned long long)size + 64), FNET_ERR_TRUNCATED, "file size larger than data");
    MUTATE(put_u32(c + 36, 0xFFFFFFFFUL), FNET_ERR_CORRUPT, "absurd tensor count");
    MUTATE(put_u32(c + 36, 4), FNET_ERR_CORRUPT, "tensor count one too many");
    MUTATE(put_u32(c + 40, 100000), FNET_ERR_CORRUPT, "absurd op count");
    MUTATE(put_u64(c + 72, 0xFFFFFFFFFFFFFFC0ULL), FNET_ERR_CORRUPT, "data offset beyond the file");
    MUTATE(put_u64(c + 56, 0xFFFFFFFFFFFFFF00ULL), FNET_ERR_CORRUPT, "tensor table offset overflow");
    MUTATE(put_u32(c + t0 + 56, 0x7fffffffUL); put_u32(c + t0 + 60, 0x7fffffffUL), FNET_ERR_CORRUPT,
           "shape overflowing size_t arithmetic");
    MUTATE(put_u32(c + t0 + 56, 0), FNET_ERR_CORRUPT, "zero dimension");
    MUTATE(put_u32(c + t0 + 52, 5), FNET_ERR_CORRUPT, "ndim 5");
    MUTATE(put_u32(c + t0 + 48, 99), FNET_ERR_CORRUPT, "unknown dtype");
    MUTATE(put_u64(c + t0 + 80, fnet__rd_u64(c + t0 + 80) + 4), FNET_ERR_CORRUPT, "unaligned tensor offset");
    MUTATE(put_u64(c + t0 + 80, 0xFFFFFFFFFFFFFFC0ULL), FNET_ERR_CORRUPT, "tensor offset far beyond the file");
    MUTATE(put_u64(c + t0 + 80, (unsigned long long)size - 64 + 64), FNET_ERR_CORRUPT, "tensor data past the end");
    MUTATE(put_u64(c + t0 + 88, 28), FNET_ERR_CORRUPT, "tensor size disagrees with its shape");
    MUTATE(memset(c + t0, 'x', 48), FNET_ERR_CORRUPT, "tensor name without NUL");
    MUTATE(put_u32(c + 96, 0x7fffffffUL), FNET_ERR_CORRUPT, "metadata key length beyond the tables");
    {
        size_t op1 = (size_t)fnet__rd_u64(blob + 64) + 136;
        MUTATE(put_u32(c + op1 + 40, 1), FNET_ERR_CORRUPT, "op reads itself (not an earlier op)");
        MUTATE(put_u32(c + op1 + 56, 7), FNET_ERR_CORRUPT, "op names a tensor that does not exist");
        MUTATE(put_u32(c + op1 + 40, 0xFFFFFFFFUL); put_u32(c + op1 + 44, 0), FNET_ERR_CORRUPT,
               "op input after an unused slot");
        MUTATE(put_u32(c + 44, 2), FNET_ERR_CORRUPT, "unknown flag bit");
    }
#undef MUTATE
    free(c);
    free(blob);
}

static void test_public_loader(void) {
    size_t size;
    unsigned char *blob = make_blob(&size);
    fnet_model *m = (fnet_model *)1;
    unsigned char *mis;
    CHECK(fnet_model_load_memory(NULL, 10, &m) == FNET_ERR_INVALID_ARGUMENT && m == NULL, "NULL blob");
    CHECK(fnet_model_load_memory(blob, size, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL out");
    CHECK(fnet_model_load_memory(blob, 0, &m) == FNET_ERR_TRUNCATED, "empty blob");
    CHECK(fnet_model_load_file("/nonexistent/x.fnet", &m) == FNET_ERR_IO && m == NULL, "missing file: IO");
    /* misaligned memory: the loader copies (and must still parse the same blob) */
    mis = (unsigned char *)malloc(size + 1);
    memcpy(mis + 1, blob, size);
    {
        fnet_model *mm = (fnet_model *)calloc(1, sizeof(fnet_model));
        mm->blob = mis + 1;
        mm->size = size;
        CHECK(fnet__parse_blob(mm, NULL) == FNET_OK, "parse from an odd address");
        mm->kind = (fnet_model_kind)0;
        fnet__model_release(mm);
    }
    free(mis);
    free(blob);
    CHECK(strlen(fnet_result_string((fnet_result)-999)) > 0, "unknown result has a string");
    CHECK(strstr(fnet_result_string(FNET_ERR_VERSION), "convert_weights") != NULL, "version message names the fix");
}

/* Real blobs (when built): load, check kind, about 50 truncated prefixes and 200 flipped
   bytes of the header and tables through the public loader (all refused), and the header's
   own writer reproduces each byte for byte. */
static void test_real_blobs(void) {
    static const char *names[4] = {"hog_frontal.fnet", "landmarks68.fnet", "nn4.small2.v1.fnet", "resnet34.fnet"};
    static const fnet_model_kind kinds[4] = {FNET_MODEL_DETECTOR, FNET_MODEL_LANDMARKS, FNET_MODEL_NETWORK, FNET_MODEL_NETWORK};
    int i;
    for (i = 0; i < 4; i++) {
        const char *p = weights_path(names[i]);
        size_t size, n, step;
        unsigned char *data;
        fnet_model *m = NULL;
        fnet_result r;
        int bad = 0;
        if (!p) {
            SKIP("weights/%s not built (make weights)", names[i]);
            continue;
        }
        data = test_read_file(p, &size);
        CHECK(data != NULL, "read %s", p);
        if (!data) continue;
        r = fnet_model_load_file(p, &m);
        CHECK(r == FNET_OK, "load %s: %s", names[i], fnet_result_string(r));
        if (m) {
            int isa, k, nm = fnet_model_meta_count(m);
            const char *key = NULL, *val = NULL;
            CHECK(fnet_model_get_kind(m) == kinds[i], "%s kind", names[i]);
            CHECK(!strcmp(fnet_model_kind_name(fnet_model_get_kind(m)), i == 0 ? "detector" : i == 1 ? "landmarks" : "network"),
                  "%s kind name %s", names[i], fnet_model_kind_name(fnet_model_get_kind(m)));
            /* kernel sets: each supported one is selected and reported back, the others refused
               without changing the selection; AUTO picks the best */
            for (isa = FNET_ISA_SCALAR; isa <= FNET_ISA_WASM_SIMD; isa++) {
                fnet_isa before = fnet_model_get_isa(m);
                r = fnet_model_set_isa(m, (fnet_isa)isa);
                if (fnet_isa_supported((fnet_isa)isa))
                    CHECK(r == FNET_OK && fnet_model_get_isa(m) == (fnet_isa)isa, "%s: set_isa %s -> %s", names[i],
                          fnet_isa_name((fnet_isa)isa), fnet_isa_name(fnet_model_get_isa(m)));
                else
                    CHECK(r == FNET_ERR_UNSUPPORTED && fnet_model_get_isa(m) == before, "%s: unsupported %s refused",
                          names[i], fnet_isa_name((fnet_isa)isa));
            }
            CHECK(fnet_model_set_isa(m, FNET_ISA_AUTO) == FNET_OK && fnet_model_get_isa(m) != FNET_ISA_AUTO &&
                      (fnet_model_get_isa(m) == FNET_ISA_AVX2 || !fnet_isa_supported(FNET_ISA_AVX2)),
                  "%s: AUTO picks the best kernel set (%s)", names[i], fnet_isa_name(fnet_model_get_isa(m)));
            CHECK(fnet_model_set_isa(m, (fnet_isa)99) == FNET_ERR_UNSUPPORTED && fnet_model_set_isa(NULL, FNET_ISA_SCALAR) == FNET_ERR_INVALID_ARGUMENT,
                  "set_isa refuses an unknown kernel set and a NULL model");
            /* metadata by index agrees with metadata by key */
            CHECK(nm >= 2, "%s: %d metadata entries", names[i], nm);
            for (k = 0; k < nm; k++) {
                CHECK(fnet_model_meta_at(m, k, &key, &val) == FNET_OK && key && val && fnet_model_meta(m, key) == val,
                      "%s: meta_at %d is the entry fnet_model_meta finds by its key", names[i], k);
            }
            CHECK(fnet_model_meta_at(m, nm, &key, &val) == FNET_ERR_INVALID_ARGUMENT &&
                      fnet_model_meta_at(m, -1, &key, &val) == FNET_ERR_INVALID_ARGUMENT, "%s: meta_at out of range", names[i]);
            CHECK(fnet_model_meta(m, "source") != NULL && fnet_model_meta(m, "license") != NULL,
                  "%s has source and license metadata", names[i]);
            {   /* the header's own writer (what the trainers save with) rewrites the blob
                   that tools/convert/fnet_blob.py wrote byte for byte */
                fnet__blob_tensor *t = (fnet__blob_tensor *)malloc((size_t)m->n_tensors * sizeof *t);
                size_t need = 0;
                unsigned char *out;
                int k;
                for (k = 0; k < m->n_tensors; k++) {
                    t[k].name = m->tensors[k].name;
                    t[k].dtype = m->tensors[k].dtype;
                    t[k].ndim = m->tensors[k].ndim;
                    memcpy(t[k].shape, m->tensors[k].shape, sizeof t[k].shape);
                    t[k].scale = m->tensors[k].scale;
                    t[k].zero = m->tensors[k].zero;
                    t[k].data = m->tensors[k].data;
                }
                r = fnet__blob_write((int)m->kind, m->flags, m->meta_key, m->meta_val, m->n_meta, t, m->n_tensors,
                                     m->blob + (size_t)fnet__rd_u64(m->blob + 64), m->n_ops, NULL, 0, &need);
                CHECK(r == FNET_OK && need == size, "%s: writer sizes %lu bytes, the file has %lu", names[i],
                      (unsigned long)need, (unsigned long)size);
                out = (unsigned char *)malloc(need ? need : 1);
                CHECK(fnet__blob_write((int)m->kind, m->flags, m->meta_key, m->meta_val, m->n_meta, t, m->n_tensors,
                                       m->blob + (size_t)fnet__rd_u64(m->blob + 64), m->n_ops, out, need - 1, &need) ==
                          FNET_ERR_WORKSPACE_TOO_SMALL, "%s: writer refuses a short buffer", names[i]);
                r = fnet__blob_write((int)m->kind, m->flags, m->meta_key, m->meta_val, m->n_meta, t, m->n_tensors,
                                     m->blob + (size_t)fnet__rd_u64(m->blob + 64), m->n_ops, out, need, &need);
                CHECK(r == FNET_OK && need == size && memcmp(out, data, size) == 0,
                      "%s: the header's writer gives the same bytes as tools/convert/fnet_blob.py", names[i]);
                t[0].shape[1] = 0;
                CHECK(fnet__blob_write((int)m->kind, m->flags, m->meta_key, m->meta_val, m->n_meta, t, m->n_tensors,
                                       NULL, 0, NULL, 0, &need) == FNET_ERR_INVALID_ARGUMENT,
                      "%s: writer refuses a zero dimension", names[i]);
                free(out);
                free(t);
            }
            fnet_model_free(m);
        }
        step = size / 50 + 1;
        for (n = 0; n < size; n += step) {
            m = NULL;
            r = fnet_model_load_memory(data, n, &m);
            if (r == FNET_OK) { bad++; fnet_model_free(m); }
        }
        CHECK(bad == 0, "%s: %d truncated prefixes loaded", names[i], bad);
        {   /* flipped bits in the header and tables: the checksum (or a check) must refuse each */
            size_t tables_end = (size_t)fnet__rd_u64(data + 64) + (size_t)fnet__rd_u32(data + 40) * 136u, pos;
            unsigned char *c = (unsigned char *)malloc(size);
            int k, loaded = 0, tried = 0;
            for (k = 0; k < 200; k++) {
                pos = (size_t)k * 7919u % tables_end;
                if (pos >= 84 && pos < 96) continue; /* reserved bytes */
                memcpy(c, data, size);
                c[pos] ^= (unsigned char)(1u << (k & 7));
                m = NULL;
                tried++;
                if (fnet_model_load_memory(c, size, &m) == FNET_OK) { loaded++; fnet_model_free(m); }
            }
            CHECK(loaded == 0 && tried > 150, "%s: %d of %d flipped header/table bytes loaded", names[i], loaded, tried);
            free(c);
        }
        fnet_model_free(NULL);
        free(data);
    }
}

int main(void) {
    test_good_blob();
    test_truncations();
    test_flips();
    test_hostile_fields();
    test_public_loader();
    test_real_blobs();
    CHECK(!strcmp(fnet_isa_name(FNET_ISA_AUTO), "auto") && !strcmp(fnet_isa_name(FNET_ISA_SCALAR), "scalar") &&
              !strcmp(fnet_isa_name(FNET_ISA_SSE2), "sse2") && !strcmp(fnet_isa_name(FNET_ISA_AVX2), "avx2") &&
              !strcmp(fnet_isa_name(FNET_ISA_NEON), "neon") &&
              !strcmp(fnet_isa_name(FNET_ISA_WASM_SIMD), "wasm_simd128") && !strcmp(fnet_isa_name((fnet_isa)42), "unknown"),
          "fnet_isa_name");
    CHECK(!strcmp(fnet_model_kind_name((fnet_model_kind)0), "unknown"), "fnet_model_kind_name of a bad kind");
    CHECK(fnet_isa_supported(FNET_ISA_SCALAR) && fnet_isa_supported(FNET_ISA_AUTO) && !fnet_isa_supported((fnet_isa)42),
          "fnet_isa_supported: scalar and auto always, unknown never");
    {
        unsigned char e[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        fnet__swap_elements(e, 2, 4);
        CHECK(e[0] == 4 && e[3] == 1 && e[4] == 8 && e[7] == 5, "byte swap of 4-byte elements");
    }
    return test_finish();
}
