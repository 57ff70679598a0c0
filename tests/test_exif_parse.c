/* test_exif_parse.c - fnet_jpeg_exif_orientation on hand-built JPEG headers (both TIFF byte
   orders, every tag value, the tag among other entries, XMP before EXIF) and on hostile ones
   (every truncation, offsets past the end or wrapping, huge entry counts, wrong types, segment
   lengths that lie, EXIF after the scan); fnet_image_orient and fnet_orient_point against
   the EXIF definitions written out pixel by pixel. Each input is an exact-size heap copy, so
   the sanitized run catches a read past its end. */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"

typedef struct buf {
    unsigned char b[512];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n) { memcpy(b->b + b->n, p, n); b->n += n; }
static void put8(buf *b, unsigned v) { b->b[b->n++] = (unsigned char)v; }
static void put16(buf *b, unsigned v, int be) {
    put8(b, be ? v >> 8 & 255 : v & 255);
    put8(b, be ? v & 255 : v >> 8 & 255);
}
static void put32(buf *b, unsigned long v, int be) {
    put16(b, be ? (unsigned)(v >> 16) : (unsigned)(v & 0xffff), be);
    put16(b, be ? (unsigned)(v & 0xffff) : (unsigned)(v >> 16), be);
}

/* Options of the EXIF block built by make_jpeg. */
typedef struct spec {
    int be, value, type, count;  /* orientation entry: value, TIFF type (3 SHORT), count (1) */
    int before;                  /* entries before it (Make, Model...) */
    unsigned long ifd;           /* IFD0 offset (8) */
    unsigned n_entries_claim;    /* entry count written (0: the real one) */
    int magic;                   /* 42 */
    int xmp_first;               /* an XMP APP1 before the EXIF one */
    int after_sos;               /* the EXIF segment after the scan marker */
} spec;

static spec base(int value, int be) {
    spec s;
    memset(&s, 0, sizeof s);
    s.be = be; s.value = value; s.type = 3; s.count = 1; s.before = 1; s.ifd = 8; s.magic = 42;
    return s;
}

/* SOI, [APP0 JFIF], [XMP], APP1 Exif (TIFF IFD0), [SOS], a few bytes, EOI. */
static void make_jpeg(const spec *s, buf *b) {
    buf t;
    int i, n = s->before + 1;
    memset(&t, 0, sizeof t);
    put(&t, s->be ? "MM" : "II", 2);
    put16(&t, (unsigned)s->magic, s->be);
    put32(&t, s->ifd, s->be);
    while (t.n < s->ifd && t.n < 64) put8(&t, 0);
    put16(&t, s->n_entries_claim ? s->n_entries_claim : (unsigned)n, s->be);
    for (i = 0; i < s->before; i++) { /* e.g. XResolution RATIONAL at an offset */
        put16(&t, 0x011A, s->be); put16(&t, 5, s->be); put32(&t, 1, s->be); put32(&t, 200, s->be);
    }
    put16(&t, 0x0112, s->be); put16(&t, (unsigned)s->type, s->be); put32(&t, (unsigned long)s->count, s->be);
    put16(&t, (unsigned)s->value, s->be); put16(&t, 0, s->be);
    put32(&t, 0, s->be);
    b->n = 0;
    put(b, "\xFF\xD8", 2);
    put(b, "\xFF\xE0\x00\x10JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00", 18);
    if (s->xmp_first) {
        static const char x[] = "http://ns.adobe.com/xap/1.0/\0<x/>";
        put(b, "\xFF\xE1", 2); put16(b, (unsigned)sizeof x - 1 + 2, 1); put(b, x, sizeof x - 1);
    }
    if (s->after_sos) put(b, "\xFF\xDA\x00\x02", 4);
    put(b, "\xFF\xE1", 2);
    put16(b, (unsigned)(2 + 6 + t.n), 1);
    put(b, "Exif\0\0", 6);
    put(b, t.b, t.n);
    if (!s->after_sos) put(b, "\xFF\xDA\x00\x02", 4);
    put(b, "\x12\x34\xFF\xD9", 4);
}

/* The orientation of the n first bytes of data, read from an exact-size heap copy. */
static int orient_of(const unsigned char *data, size_t n, fnet_result *res) {
    unsigned char *c = (unsigned char *)malloc(n ? n : 1);
    int o = -1;
    fnet_result r;
    memcpy(c, data, n);
    r = fnet_jpeg_exif_orientation(c, n, &o);
    free(c);
    if (res) *res = r;
    return o;
}

static void test_parse(void) {
    buf b;
    spec s;
    int v, be, k;
    fnet_result r;
    for (be = 0; be < 2; be++)
        for (v = 0; v <= 10; v++) {
            s = base(v, be);
            make_jpeg(&s, &b);
            k = orient_of(b.b, b.n, &r);
            CHECK(r == FNET_OK && k == (v >= 1 && v <= 8 ? v : 1), "%s tag %d -> %d", be ? "MM" : "II", v, k);
        }
    s = base(6, 1); s.before = 5; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 6, "the tag after five other entries");
    s = base(8, 0); s.xmp_first = 1; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 8, "an XMP APP1 before the EXIF one");
    s = base(3, 0); s.ifd = 20; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 3, "IFD0 further in (offset 20)");
    {   /* fill bytes before a marker are allowed (T.81 B.1.1.2) */
        unsigned char f[600];
        s = base(5, 0); make_jpeg(&s, &b);
        memcpy(f, b.b, 2); f[2] = 0xFF; f[3] = 0xFF; memcpy(f + 4, b.b + 2, b.n - 2);
        CHECK(orient_of(f, b.n + 2, NULL) == 5, "fill bytes FF FF before a segment");
    }

    /* hostile: each must give 1 (the photo as stored), never a read outside the buffer */
    s = base(6, 0); make_jpeg(&s, &b);
    {
        size_t n, full = 0;
        int bad = 0;
        for (n = 0; n < b.n; n++) {
            k = orient_of(b.b, n, &r);
            if (r != FNET_OK || (k != 1 && k != 6)) bad++;
            if (k == 6 && !full) full = n;
        }
        CHECK(bad == 0, "every truncation: FNET_OK and 1 or the tag (%d bad)", bad);
        CHECK(full > 0 && full < b.n, "found once the EXIF segment is whole (%u of %u bytes)", (unsigned)full, (unsigned)b.n);
    }
    s = base(6, 0); s.ifd = 0xFFFFFFF0UL; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 1, "IFD0 offset near 2^32 (wraps on 32-bit sums)");
    s = base(6, 1); s.ifd = 4; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 1, "IFD0 offset inside the TIFF header");
    s = base(6, 0); s.ifd = 1000; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 1, "IFD0 offset past the segment");
    s = base(6, 0); s.before = 2; s.n_entries_claim = 0xFFFF; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 6, "65535 entries claimed: the ones present are read, no further");
    s = base(6, 0); s.before = 3; s.n_entries_claim = 2; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 1, "the tag beyond the entry count is not read");
    s = base(6, 0); s.type = 4; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 1, "orientation as a LONG: refused");
    s = base(6, 0); s.count = 2; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 1, "two orientation values: refused");
    s = base(6, 0); s.magic = 43; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 1, "TIFF magic 43");
    s = base(6, 0); s.after_sos = 1; make_jpeg(&s, &b);
    CHECK(orient_of(b.b, b.n, NULL) == 1, "EXIF after the scan marker is entropy-coded data, not read");
    s = base(6, 0); make_jpeg(&s, &b);
    b.b[2 + 18 + 2] = 0xFF; b.b[2 + 18 + 3] = 0xF0; /* APP1 length 65520: past the end */
    CHECK(orient_of(b.b, b.n, NULL) == 1, "a segment length past the end");
    s = base(6, 0); make_jpeg(&s, &b);
    b.b[2 + 2] = 0; b.b[2 + 3] = 1; /* APP0 length 1 (< 2) */
    CHECK(orient_of(b.b, b.n, NULL) == 1, "a segment length below 2");
    s = base(6, 0); make_jpeg(&s, &b);
    b.b[2 + 18 + 4] = 'e'; /* "exif" */
    CHECK(orient_of(b.b, b.n, NULL) == 1, "APP1 without the Exif signature");
    s = base(6, 0); make_jpeg(&s, &b);
    b.b[2 + 18 + 2] = 0; b.b[2 + 18 + 3] = 7; /* APP1 too short for "Exif\0\0" */
    CHECK(orient_of(b.b, b.n, NULL) == 1, "an APP1 of 5 bytes");
    CHECK(orient_of((const unsigned char *)"\x89PNG\r\n\x1a\n\0\0\0\0", 12, &r) == 1 && r == FNET_OK, "a PNG: 1");
    CHECK(orient_of((const unsigned char *)"\xFF\xD8", 2, &r) == 1 && r == FNET_OK, "SOI alone: 1");
    {   /* a long run of empty segments: bounded by the size, no recursion */
        static unsigned char many[65536];
        size_t p = 2;
        many[0] = 0xFF; many[1] = 0xD8;
        while (p + 4 <= sizeof many) { many[p] = 0xFF; many[p + 1] = 0xE5; many[p + 2] = 0; many[p + 3] = 2; p += 4; }
        CHECK(orient_of(many, sizeof many, &r) == 1 && r == FNET_OK, "16383 empty segments: 1");
    }
    {
        int o = 7;
        CHECK(fnet_jpeg_exif_orientation(NULL, 0, &o) == FNET_OK && o == 1, "NULL, 0 bytes: 1");
        CHECK(fnet_jpeg_exif_orientation(NULL, 5, &o) == FNET_ERR_INVALID_ARGUMENT, "NULL with 5 bytes: invalid argument");
        CHECK(fnet_jpeg_exif_orientation("\xFF\xD8", 2, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL orientation: invalid argument");
    }
}

/* The upright pixel (x, y) of a stored W x H image, from the EXIF 2.3 table: where row 0 and
   column 0 of the stored image are shown (written independently of fnet_orient_point). */
static void expected_source(int o, int W, int H, int x, int y, int *u, int *v) {
    switch (o) {
    case 1: *u = x; *v = y; break;                 /* row 0 top, column 0 left */
    case 2: *u = W - 1 - x; *v = y; break;         /* row 0 top, column 0 right */
    case 3: *u = W - 1 - x; *v = H - 1 - y; break; /* row 0 bottom, column 0 right */
    case 4: *u = x; *v = H - 1 - y; break;         /* row 0 bottom, column 0 left */
    case 5: *u = y; *v = x; break;                 /* row 0 left, column 0 top */
    case 6: *u = y; *v = H - 1 - x; break;         /* row 0 right, column 0 top */
    case 7: *u = W - 1 - y; *v = H - 1 - x; break; /* row 0 right, column 0 bottom */
    default: *u = W - 1 - y; *v = x; break;        /* 8: row 0 left, column 0 bottom */
    }
}

static void test_orient(void) {
    enum { W = 5, H = 3 };
    static const int chans[3] = {1, 3, 4};
    unsigned char src[H][W * 4 + 3], out[W * H * 4 + 1];
    int o, c, x, y, k, ow, oh;
    for (c = 0; c < 3; c++) {
        int ch = chans[c]; /* rows padded with 3 bytes of 0xEE */
        for (y = 0; y < H; y++)
            for (x = 0; x < W * ch + 3; x++) src[y][x] = (unsigned char)(x < W * ch ? 16 * y + x : 0xEE);
        for (o = 1; o <= 8; o++) {
            int bad = 0;
            fnet_image im = fnet_image_view(&src[0][0], W, H, ch, (int)sizeof src[0]);
            out[W * H * ch] = 0x5A;
            ow = oh = 0;
            CHECK(fnet_image_orient(im, o, out, &ow, &oh) == FNET_OK, "orient %d, %d channels", o, ch);
            CHECK(ow == (o >= 5 ? H : W) && oh == (o >= 5 ? W : H), "orient %d: size %dx%d", o, ow, oh);
            for (y = 0; y < oh; y++)
                for (x = 0; x < ow; x++) {
                    int u, v;
                    float su, sv;
                    expected_source(o, W, H, x, y, &u, &v);
                    for (k = 0; k < ch; k++) bad += out[(y * ow + x) * ch + k] != src[v][u * ch + k];
                    fnet_orient_point(o, W, H, (float)x, (float)y, &su, &sv);
                    bad += su != (float)u || sv != (float)v;
                }
            CHECK(bad == 0 && out[W * H * ch] == 0x5A, "orient %d, %d channels: every pixel from the EXIF table (%d bad)",
                  o, ch, bad);
        }
    }
    {
        fnet_image im = fnet_image_view(&src[0][0], W, H, 3, 0);
        float a, b;
        CHECK(fnet_image_orient(im, 0, out, NULL, NULL) == FNET_ERR_INVALID_ARGUMENT, "orientation 0");
        CHECK(fnet_image_orient(im, 9, out, NULL, NULL) == FNET_ERR_INVALID_ARGUMENT, "orientation 9");
        CHECK(fnet_image_orient(im, 6, NULL, NULL, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL out");
        CHECK(fnet_image_orient(fnet_image_view(NULL, W, H, 3, 0), 6, out, NULL, NULL) == FNET_ERR_BAD_IMAGE, "NULL pixels");
        CHECK(fnet_image_orient(fnet_image_view(&src[0][0], W, H, 2, 0), 6, out, NULL, NULL) == FNET_ERR_BAD_IMAGE, "2 channels");
        CHECK(fnet_orient_point(9, W, H, 0, 0, &a, &b) == FNET_ERR_INVALID_ARGUMENT, "point: orientation 9");
        CHECK(fnet_orient_point(6, W, H, 0, 0, NULL, &b) == FNET_ERR_INVALID_ARGUMENT, "point: NULL output");
    }
}

int main(void) {
    test_parse();
    test_orient();
    return test_finish();
}
