/* test_limits.c - the documented limits are enforced with their own result codes, and size
   arithmetic cannot wrap:
     FNET_MAX_BLOB_SIZE   (default 1 GiB)     -> FNET_ERR_TOO_LARGE from load_memory/load_file
                                                 (a sparse file, a buffer size, a header field)
     FNET_MAX_IMAGE_SIDE  (default 16384)     -> FNET_ERR_IMAGE_TOO_LARGE from every stage that
                                                 takes an image, before a pixel is read
     max_boxes / n_boxes  (the caller's face limit: the count is reported, only max_boxes written)
     workspace sizes      a huge image with upsampling must not yield a wrapped "it fits"
     blob layout          overlapping tensors are rejected (they would be byte-swapped twice
                          on big-endian hosts)
   Image views here point at a tiny buffer while claiming huge sizes: a stage that read a
   pixel before checking would be caught by ASan (tests/run.sh) or crash. The file is also
   run on i386, aarch64 and s390x by tools/portable/portable.sh, where size_t is 32 bits or the host is
   big-endian. A stage reporting FNET_ERR_UNSUPPORTED is a failure. */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"

#include "../examples/image_load.h"

#include <limits.h>
#include <stdint.h>

static void put32(unsigned char *p, unsigned long v) {
    int k;
    for (k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
}
static void put64(unsigned char *p, unsigned long long v) {
    int k;
    for (k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}

/* A network blob with two f32 [16] tensors "a" and "b" at data offsets off_a and off_b,
   no metadata and no ops, padded to `fsize` bytes. Returns a calloc'd buffer. */
static unsigned char *tiny_blob(size_t fsize, unsigned long off_a, unsigned long off_b) {
    unsigned char *b = (unsigned char *)calloc(1, fsize);
    int i, k;
    memcpy(b, "FNETBLOB", 8);
    put32(b + 8, 1);
    put32(b + 12, 0x01020304UL);
    put32(b + 16, 3);
    put32(b + 20, 96);
    put64(b + 24, fsize);
    put32(b + 36, 2);
    put64(b + 48, 96);
    put64(b + 56, 96);
    put64(b + 64, 96 + 2 * 96);
    put64(b + 72, 320);
    for (i = 0; i < 2; i++) {
        unsigned char *e = b + 96 + 96 * i;
        e[0] = (unsigned char)('a' + i);
        put32(e + 48, 1);
        put32(e + 52, 1);
        put32(e + 56, 16);
        for (k = 1; k < 4; k++) put32(e + 56 + 4 * k, 1);
        put64(e + 80, i ? off_b : off_a);
        put64(e + 88, 64);
    }
    for (i = 0; i < 32 && 320 + 4 * i + 4 <= (int)fsize; i++) { /* values 1.0f, as little-endian bytes */
        put32(b + 320 + 4 * i, 0x3F800000UL);
    }
    put32(b + 80, fnet__crc32_update(fnet__crc32(b, 80), b + 96, 2 * 96));
    return b;
}

static fnet_result parse_only(const unsigned char *blob, size_t size) {
    fnet_model *m = (fnet_model *)calloc(1, sizeof(fnet_model));
    unsigned char *copy = (unsigned char *)malloc(size);
    fnet_result r;
    memcpy(copy, blob, size);
    m->blob = copy;
    m->size = size;
    r = fnet__parse_blob(m, fnet__host_is_little_endian() ? NULL : copy);
    if (r == FNET_OK && m->n_tensors == 2) {
        const float *a = (const float *)m->tensors[0].data;
        CHECK(a[0] == 1.0f && a[15] == 1.0f, "tensor values read in host byte order (%g)", (double)a[0]);
    }
    m->kind = (fnet_model_kind)0;
    fnet__model_release(m);
    free(copy);
    return r;
}

static void test_blob_limits(void) {
    unsigned char *b;
    fnet_model *m = NULL;
    fnet_result r;
    /* the tiny blob parses; overlapping or out-of-order tensors do not */
    b = tiny_blob(448, 320, 384);
    CHECK(parse_only(b, 448) == FNET_OK, "tiny blob parses");
    free(b);
    b = tiny_blob(448, 320, 320);
    CHECK(parse_only(b, 448) == FNET_ERR_CORRUPT, "two tensors sharing bytes: FNET_ERR_CORRUPT");
    free(b);
    b = tiny_blob(448, 384, 320);
    CHECK(parse_only(b, 448) == FNET_ERR_CORRUPT, "tensors out of table order: FNET_ERR_CORRUPT");
    free(b);
    /* FNET_MAX_BLOB_SIZE (1 GiB): the buffer size alone decides, nothing is read */
    {
        unsigned char one = 0;
        r = fnet_model_load_memory(&one, FNET_MAX_BLOB_SIZE + 1, &m);
        CHECK(r == FNET_ERR_TOO_LARGE && m == NULL, "load_memory of MAX+1 bytes: %s", fnet_result_string(r));
        r = fnet_model_load_memory(&one, (size_t)-1, &m);
        CHECK(r == FNET_ERR_TOO_LARGE, "load_memory of SIZE_MAX bytes: %s", fnet_result_string(r));
    }
    {   /* a header claiming MAX+64 bytes, with the model believing the buffer is that long
           (only the header is read before the limit check) */
        fnet_model *mm = (fnet_model *)calloc(1, sizeof(fnet_model));
        b = tiny_blob(448, 320, 384);
        put64(b + 24, (unsigned long long)FNET_MAX_BLOB_SIZE + 64);
        mm->blob = b;
        mm->size = FNET_MAX_BLOB_SIZE + 64;
        r = fnet__parse_blob(mm, NULL);
        CHECK(r == FNET_ERR_TOO_LARGE, "header file size MAX+64: %s", fnet_result_string(r));
        mm->kind = (fnet_model_kind)0;
        fnet__model_release(mm);
        free(b);
    }
    {   /* a sparse file of MAX+1 bytes: load_file refuses it before reading or allocating */
        const char *path = "build/tests/limits_sparse.fnet";
        FILE *f = fopen(path, "wb");
        if (f && fseek(f, (long)FNET_MAX_BLOB_SIZE, SEEK_SET) == 0 && fputc(0, f) != EOF && fclose(f) == 0) {
            r = fnet_model_load_file(path, &m);
            CHECK(r == FNET_ERR_TOO_LARGE && m == NULL, "load_file of a MAX+1-byte file: %s", fnet_result_string(r));
        } else {
            if (f) fclose(f);
            SKIP("cannot write %s: no load_file size-limit case", path);
        }
        remove(path);
    }
    {
        size_t out = 0;
        CHECK(fnet__mul_ok((size_t)-1, 2, &out) == 0, "mul_ok: SIZE_MAX*2 overflows");
        CHECK(fnet__mul_ok((size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4), &out) == 0,
              "mul_ok: 2^(bits/2) squared overflows");
        CHECK(fnet__mul_ok(65536, 16384, &out) == 1 && out == (size_t)65536 * 16384, "mul_ok: 2^30 fits");
    }
}

static fnet_model *load_stage(const char *name) {
    const char *p = weights_path(name);
    fnet_model *m = NULL;
    fnet_result r;
    if (!p) {
        SKIP("%s not built (make weights): its limits are not checked", name);
        return NULL;
    }
    r = fnet_model_load_file(p, &m);
    CHECK(r == FNET_OK, "%s loads: %s", name, fnet_result_string(r));
    return m;
}

/* Every stage has landed: FNET_ERR_UNSUPPORTED from one is a failure, not a skip. */
static int landed(fnet_result r, const char *stage) {
    CHECK(r != FNET_ERR_UNSUPPORTED, "%s reports FNET_ERR_UNSUPPORTED: its limits cannot be checked", stage);
    return r != FNET_ERR_UNSUPPORTED;
}

static void test_image_limits(void) {
    static unsigned char tiny[64];
    fnet_model *det = load_stage("hog_frontal.fnet");
    fnet_model *lm = load_stage("landmarks68.fnet");
    fnet_model *net = load_stage("nn4.small2.v1.fnet");
    fnet_image big = fnet_image_view(tiny, FNET_MAX_IMAGE_SIDE + 1, 10, 3, 0);
    fnet_image tall = fnet_image_view(tiny, 10, FNET_MAX_IMAGE_SIDE + 1, 1, 0);
    fnet_image neg = fnet_image_view(tiny, 10, 10, 3, -30);
    fnet_image hugeint = fnet_image_view(tiny, INT_MAX, INT_MAX, 4, 0);
    fnet_box boxes[4], box;
    fnet_point pts[68];
    int n = -1, i;
    fnet_result r;
    box.left = 0; box.top = 0; box.right = 5; box.bottom = 5; box.score = 0; box.filter = 0;
    for (i = 0; i < 68; i++) {
        pts[i].x = 3.0f + (float)(i % 5);
        pts[i].y = 3.0f + (float)(i % 7);
    }
    if (det) {
        r = fnet_detect(det, big, NULL, NULL, 0, boxes, 4, &n);
        if (landed(r, "detect")) {
            CHECK(r == FNET_ERR_IMAGE_TOO_LARGE, "detect: width MAX+1: %s", fnet_result_string(r));
            r = fnet_detect(det, tall, NULL, NULL, 0, boxes, 4, &n);
            CHECK(r == FNET_ERR_IMAGE_TOO_LARGE, "detect: height MAX+1: %s", fnet_result_string(r));
            r = fnet_detect(det, hugeint, NULL, NULL, 0, boxes, 4, &n);
            CHECK(r == FNET_ERR_IMAGE_TOO_LARGE, "detect: INT_MAX x INT_MAX: %s", fnet_result_string(r));
            r = fnet_detect(det, neg, NULL, NULL, 0, boxes, 4, &n);
            CHECK(r == FNET_ERR_BAD_IMAGE, "detect: negative stride: %s", fnet_result_string(r));
            r = fnet_detect(det, fnet_image_view(tiny, 4, 4, 3, 0), NULL, NULL, 0, boxes, -1, &n);
            CHECK(r == FNET_ERR_INVALID_ARGUMENT, "detect: max_boxes -1: %s", fnet_result_string(r));
            r = fnet_detect(det, fnet_image_view(tiny, 4, 4, 3, 0), NULL, NULL, 0, boxes, 4, NULL);
            CHECK(r == FNET_ERR_INVALID_ARGUMENT, "detect: n_boxes NULL: %s", fnet_result_string(r));
            r = fnet_detect(det, fnet_image_view(tiny, 4, 4, 3, 0), NULL, NULL, 0, NULL, 0, &n);
            CHECK(r == FNET_OK && n == 0, "detect: boxes NULL with max_boxes 0 counts only: %s", fnet_result_string(r));
            {   /* the largest image, upsampled 3 times (the most allowed): the size must not wrap
                   into "fits" */
                fnet_detect_opts o;
                fnet_image maxv = fnet_image_view(tiny, FNET_MAX_IMAGE_SIDE, FNET_MAX_IMAGE_SIDE, 4, 0);
                unsigned char work[256];
                size_t ws;
                memset(&o, 0, sizeof o);
                o.upsample = 3;
                ws = fnet_detect_workspace_size(det, FNET_MAX_IMAGE_SIDE, FNET_MAX_IMAGE_SIDE, &o);
                CHECK(ws == 0 || ws > (size_t)FNET_MAX_IMAGE_SIDE * 16, "detect workspace for the largest image, upsample 3: %lu",
                      (unsigned long)ws);
                r = fnet_detect(det, maxv, &o, work, sizeof work, boxes, 4, &n);
                CHECK(r == FNET_ERR_WORKSPACE_TOO_SMALL || r == FNET_ERR_TOO_LARGE || r == FNET_ERR_IMAGE_TOO_LARGE,
                      "detect: largest image upsampled 3 times into a 256-byte workspace: %s", fnet_result_string(r));
                o.upsample = 4;
                r = fnet_detect(det, fnet_image_view(tiny, 4, 4, 3, 0), &o, NULL, 0, boxes, 4, &n);
                CHECK(r == FNET_ERR_INVALID_ARGUMENT || r == FNET_ERR_TOO_LARGE, "detect: upsample 4: %s",
                      fnet_result_string(r));
                o.upsample = 1000;
                r = fnet_detect(det, fnet_image_view(tiny, 4, 4, 3, 0), &o, NULL, 0, boxes, 4, &n);
                CHECK(r == FNET_ERR_INVALID_ARGUMENT || r == FNET_ERR_TOO_LARGE, "detect: upsample 1000: %s",
                      fnet_result_string(r));
            }
        }
    }
    if (lm) {
        r = fnet_landmarks(lm, big, box, pts);
        if (landed(r, "landmarks")) {
            CHECK(r == FNET_ERR_IMAGE_TOO_LARGE, "landmarks: width MAX+1: %s", fnet_result_string(r));
            r = fnet_landmarks(lm, hugeint, box, pts);
            CHECK(r == FNET_ERR_IMAGE_TOO_LARGE, "landmarks: INT_MAX x INT_MAX: %s", fnet_result_string(r));
            box.left = INT_MIN; box.top = INT_MIN; box.right = INT_MAX; box.bottom = INT_MAX;
            r = fnet_landmarks(lm, fnet_image_view(tiny, 4, 4, 3, 0), box, pts);
            CHECK(r == FNET_OK || r == FNET_ERR_INVALID_ARGUMENT, "landmarks: box INT_MIN..INT_MAX: %s",
                  fnet_result_string(r));
        }
    }
    {
        unsigned char out[16 * 16 * 3];
        r = fnet_align(big, pts, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 16, out);
        if (landed(r, "align")) {
            CHECK(r == FNET_ERR_IMAGE_TOO_LARGE, "align: width MAX+1: %s", fnet_result_string(r));
            r = fnet_align(fnet_image_view(tiny, 4, 4, 3, 0), pts, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 1 << 20, out);
            CHECK(r == FNET_ERR_INVALID_ARGUMENT || r == FNET_ERR_TOO_LARGE, "align: size 2^20 (size*size*3 overflows int): %s",
                  fnet_result_string(r));
            r = fnet_align(fnet_image_view(tiny, 4, 4, 3, 0), pts, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, -5, out);
            CHECK(r == FNET_ERR_INVALID_ARGUMENT, "align: negative size: %s", fnet_result_string(r));
        }
    }
    if (net) {
        size_t ws = fnet_embed_workspace_size(net);
        int size = fnet_embed_input_size(net);
        float emb[128];
        unsigned char *crop = size > 0 ? (unsigned char *)calloc((size_t)size * size, 3) : NULL;
        r = crop ? fnet_embed(net, crop, NULL, 0, emb) : FNET_ERR_UNSUPPORTED;
        if (landed(r, "embed")) {
            void *w = malloc(ws ? ws : 1);
            CHECK(r == FNET_OK, "embed of a black crop: %s", fnet_result_string(r));
            CHECK(ws > 0, "embed workspace size > 0");
            r = fnet_embed(net, crop, w, ws - 1, emb);
            CHECK(r == FNET_ERR_WORKSPACE_TOO_SMALL, "embed: workspace one byte short: %s", fnet_result_string(r));
            r = fnet_embed(net, crop, w, ws, emb);
            CHECK(r == FNET_OK, "embed: workspace of exactly the queried size: %s", fnet_result_string(r));
            free(w);
        }
        free(crop);
    }
    fnet_model_free(det);
    fnet_model_free(lm);
    fnet_model_free(net);
}

static void test_max_faces(void) {
    /* the caller's face limit: n_boxes reports every face, only max_boxes are written */
    fnet_model *det = load_stage("hog_frontal.fnet");
    const char *p = shared_path("data/openface-examples/longoria-cooper.jpg");
    int w, h, n = -1, n1 = -1;
    unsigned char *px;
    fnet_box boxes[64], one[2];
    fnet_result r;
    if (!det) return;
    px = p ? il_load_pixels(p, 3, &w, &h, NULL, 0) : NULL;
    if (!px) {
        SKIP("longoria-cooper.jpg absent (shared data): no max_boxes case");
        fnet_model_free(det);
        return;
    }
    r = fnet_detect(det, fnet_image_view(px, w, h, 3, 0), NULL, NULL, 0, boxes, 64, &n);
    if (landed(r, "detect")) {
        CHECK(r == FNET_OK && n == 2, "longoria-cooper.jpg: 2 faces (%d): %s", n, fnet_result_string(r));
        memset(one, 0x5A, sizeof one);
        r = fnet_detect(det, fnet_image_view(px, w, h, 3, 0), NULL, NULL, 0, one, 1, &n1);
        CHECK(r == FNET_OK && n1 == n, "max_boxes 1 still reports every face (%d vs %d)", n1, n);
        CHECK(memcmp(&one[0], &boxes[0], sizeof one[0]) == 0, "max_boxes 1 writes the best box");
        CHECK(((unsigned char *)&one[1])[0] == 0x5A, "max_boxes 1 writes one box only");
    }
    stbi_image_free(px);
    fnet_model_free(det);
}

int main(void) {
    test_blob_limits();
    test_image_limits();
    test_max_faces();
    return test_finish();
}
