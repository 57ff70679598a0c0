/* test_image_load.c - examples/image_load.h, the one photo decoder of the project (pre-pass +
   stb_image 2.27), on hostile and valid files. Built optimised and with ASan+UBSan by
   tests/run.sh: in the sanitized build any read or write out of bounds, or undefined
   arithmetic in stb_image, ends the process (a failure).
   1. tests/fuzz/regress/image_expect.txt (tests/fuzz/make_image_regress.py): every hand-built
      JPEG/PNG there is refused with the message named, or decodes to the size and pixel named
      (the valid JPEGs are flat: every byte 133 = 128 + DC 40 / 8).
   2. 400 mutated copies of LFW photos (../shared/data/lfw-dev; 1 to 8 bytes changed, half of
      them among the header segments, xorshift64 from seed 1): each is refused with a message
      or decodes to its header's size. stb_image 2.27 alone overflows its Huffman table on
      about 1 in 10 of them (tools/eval/image_sanity.sh shows it); here the DHT check must fire.
   3. il_load: a missing file and a folder are refused with a message.
   4. EXIF orientation: the parser on hand-built and hostile JPEG headers, the turning of
      images, and il_decode_memory_upright on a tagged JPEG. */
#define _POSIX_C_SOURCE 200809L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "../examples/image_load.h"
#include "fnet_test.h"

#include <dirent.h>

static void expect_file(void) {
    FILE *f = fopen("tests/fuzz/regress/image_expect.txt", "r");
    char line[512];
    int n = 0, ok_files = 0;
    CHECK(f != NULL, "tests/fuzz/regress/image_expect.txt missing (python3 tests/fuzz/make_image_regress.py)");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char path[600], *tab = strchr(line, '\t'), *want, why[256];
        unsigned char *buf;
        size_t size = 0;
        il_image im;
        int ok;
        if (line[0] == '#' || !tab) continue;
        *tab = 0;
        want = tab + 1;
        want[strcspn(want, "\r\n")] = 0;
        snprintf(path, sizeof path, "tests/fuzz/regress/%s", line);
        buf = test_read_file(path, &size);
        CHECK(buf != NULL, "%s missing", path);
        if (!buf) continue;
        why[0] = 0;
        ok = il_decode_memory(buf, size, 3, &im, why, sizeof why);
        if (strncmp(want, "refused: ", 9) == 0) {
            CHECK(!ok && strstr(why, want + 9) != NULL, "%s: refused with \"%s\" (got %s: \"%s\")", line, want + 9,
                  ok ? "decoded" : "refused", why);
        } else {
            int w = 0, h = 0, pix = -1;
            size_t i, same = 0;
            sscanf(want, "decoded %dx%d %d", &w, &h, &pix);
            CHECK(ok && im.width == w && im.height == h && im.pixels[0] == pix, "%s: %s (got %s %dx%d %d: %s)", line,
                  want, ok ? "decoded" : "refused", im.width, im.height, ok ? im.pixels[0] : -1, why);
            if (ok && strncmp(line, "jpeg/", 5) == 0) {
                for (i = 0; i < (size_t)im.width * im.height * 3; i++) same += im.pixels[i] == pix;
                CHECK(same == (size_t)im.width * im.height * 3, "%s: flat at %d (%zu of %d bytes)", line, pix, same,
                      im.width * im.height * 3);
                il_free(&im);
                /* the same file as one gray channel */
                CHECK(il_decode_memory(buf, size, 1, &im, why, sizeof why) && im.channels == 1 && im.pixels[0] == pix,
                      "%s as gray: %s", line, why);
            }
            ok_files += ok;
            il_free(&im);
        }
        free(buf);
        n++;
    }
    fclose(f);
    CHECK(n >= 60 && ok_files >= 5, "%d expectations (>= 60), %d valid files decoded (>= 5)", n, ok_files);
}

/* The LFW photos under dir (sorted names are not needed: the walk order is readdir's, and the
   picks are by index into the list, so collect and sort). */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_jpegs(const char *dir, char ***out, int *n, int *cap) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".jpg") == 0) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 1024;
                *out = (char **)realloc(*out, (size_t)*cap * sizeof **out);
            }
            (*out)[(*n)++] = strdup(path);
        } else {
            list_jpegs(path, out, n, cap); /* a person's folder */
        }
    }
    closedir(d);
    return 1;
}

static unsigned long long xs_state;
static unsigned long long xs(void) {
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return xs_state;
}

static void mutated_lfw(void) {
    const char *root = shared_path("data/lfw-dev");
    char **files = NULL, why[256];
    int n = 0, cap = 0, k, decoded = 0, refused = 0, dht = 0, silent = 0;
    if (!root) {
        SKIP("../shared/data/lfw-dev absent (set FNET_SHARED): mutated photos not checked");
        return;
    }
    list_jpegs(root, &files, &n, &cap);
    CHECK(n >= 100, "LFW photos under %s: %d", root, n);
    if (n < 100) return;
    qsort(files, (size_t)n, sizeof *files, cmp_str);
    xs_state = 0x9E3779B97F4A7C15ULL ^ 1; /* seed 1 */
    for (k = 0; k < 400; k++) {
        size_t size = 0, he = 2, i;
        unsigned char *b = test_read_file(files[xs() % (unsigned)n], &size);
        il_image im;
        int m, nm;
        if (!b || size < 600) { free(b); continue; }
        for (i = 2; i + 4 <= size && b[i] == 0xFF && b[i + 1] != 0xDA;) i += 2 + ((size_t)b[i + 2] << 8 | b[i + 3]);
        he = i < size ? i : 600;
        nm = 1 + (int)(xs() % 8);
        for (m = 0; m < nm; m++) {
            size_t pos = xs() % 2 ? 2 + xs() % (he - 2) : 2 + xs() % (size - 2);
            int kind = (int)(xs() % 3);
            b[pos] = kind == 0 ? (unsigned char)xs() : kind == 1 ? (unsigned char)(b[pos] ^ (1u << (xs() % 8))) : 0xFF;
        }
        why[0] = 0;
        if (il_decode_memory(b, size, 3, &im, why, sizeof why)) {
            decoded++;
            il_free(&im);
        } else {
            refused++;
            if (!why[0]) silent++;
            if (strstr(why, "DHT declares")) dht++;
        }
        free(b);
    }
    printf("mutated LFW photos: %d decoded, %d refused (%d by the DHT checks)\n", decoded, refused, dht);
    CHECK(decoded + refused == 400 && silent == 0, "400 mutated photos each decoded or refused with a message (%d silent)",
          silent);
    CHECK(dht >= 10 && decoded >= 40, "the DHT checks fired (%d, >= 10) and damage elsewhere still decodes (%d, >= 40)",
          dht, decoded);
    for (k = 0; k < n; k++) free(files[k]);
    free(files);
}

static void files(void) {
    il_image im;
    char why[256];
    why[0] = 0;
    CHECK(!il_load("tests/fuzz/regress/no_such_file.jpg", 3, &im, why, sizeof why) && strstr(why, "cannot open"),
          "a missing file: \"%s\"", why);
    why[0] = 0;
    CHECK(!il_load("tests/fuzz/regress", 3, &im, why, sizeof why) && why[0], "a folder: \"%s\"", why);
    CHECK(!il_load("tests/fuzz/regress/jpeg/ok_base.jpg", 5, &im, why, sizeof why) && strstr(why, "channels"),
          "5 channels: \"%s\"", why);
    CHECK(il_load("tests/fuzz/regress/jpeg/ok_base.jpg", 3, &im, NULL, 0) && im.width == 16, "il_load without why");
    il_free(&im);
    CHECK(!il_check((const unsigned char *)"\xff\xd8\xff", 3, NULL, NULL, NULL, 0), "3 bytes of JPEG, no why buffer");
}

/* ---- 4. EXIF orientation (facenet.h's fnet_jpeg_exif_orientation, fnet_image_orient,
   fnet_orient_point; il_decode_memory_upright): hand-built JPEG headers (both TIFF byte orders,
   every tag value, the tag among other entries, XMP before EXIF) and hostile ones (every
   truncation, offsets past the end or wrapping, huge entry counts, wrong types, segment
   lengths that lie, EXIF after the scan), each from an exact-size heap copy so the sanitized
   run catches a read past its end; turning images against the EXIF table written out. ---- */

typedef struct exif_buf {
    unsigned char b[512];
    size_t n;
} exif_buf;

static void ex_put(exif_buf *b, const void *p, size_t n) { memcpy(b->b + b->n, p, n); b->n += n; }
static void ex_put8(exif_buf *b, unsigned v) { b->b[b->n++] = (unsigned char)v; }
static void ex_put16(exif_buf *b, unsigned v, int be) {
    ex_put8(b, be ? v >> 8 & 255 : v & 255);
    ex_put8(b, be ? v & 255 : v >> 8 & 255);
}
static void ex_put32(exif_buf *b, unsigned long v, int be) {
    ex_put16(b, be ? (unsigned)(v >> 16) : (unsigned)(v & 0xffff), be);
    ex_put16(b, be ? (unsigned)(v & 0xffff) : (unsigned)(v >> 16), be);
}

/* Options of the EXIF block built by exif_jpeg. */
typedef struct exif_spec {
    int be, value, type, count;  /* orientation entry: value, TIFF type (3 SHORT), count (1) */
    int before;                  /* entries before it (Make, Model...) */
    unsigned long ifd;           /* IFD0 offset (8) */
    unsigned n_entries_claim;    /* entry count written (0: the real one) */
    int magic;                   /* 42 */
    int xmp_first;               /* an XMP APP1 before the EXIF one */
    int after_sos;               /* the EXIF segment after the scan marker */
} exif_spec;

static exif_spec exif_base(int value, int be) {
    exif_spec s;
    memset(&s, 0, sizeof s);
    s.be = be; s.value = value; s.type = 3; s.count = 1; s.before = 1; s.ifd = 8; s.magic = 42;
    return s;
}

/* SOI, [APP0 JFIF], [XMP], APP1 Exif (TIFF IFD0), [SOS], a few bytes, EOI. */
static void exif_jpeg(const exif_spec *s, exif_buf *b) {
    exif_buf t;
    int i, n = s->before + 1;
    memset(&t, 0, sizeof t);
    ex_put(&t, s->be ? "MM" : "II", 2);
    ex_put16(&t, (unsigned)s->magic, s->be);
    ex_put32(&t, s->ifd, s->be);
    while (t.n < s->ifd && t.n < 64) ex_put8(&t, 0);
    ex_put16(&t, s->n_entries_claim ? s->n_entries_claim : (unsigned)n, s->be);
    for (i = 0; i < s->before; i++) { /* e.g. XResolution RATIONAL at an offset */
        ex_put16(&t, 0x011A, s->be); ex_put16(&t, 5, s->be); ex_put32(&t, 1, s->be); ex_put32(&t, 200, s->be);
    }
    ex_put16(&t, 0x0112, s->be); ex_put16(&t, (unsigned)s->type, s->be); ex_put32(&t, (unsigned long)s->count, s->be);
    ex_put16(&t, (unsigned)s->value, s->be); ex_put16(&t, 0, s->be);
    ex_put32(&t, 0, s->be);
    b->n = 0;
    ex_put(b, "\xFF\xD8", 2);
    ex_put(b, "\xFF\xE0\x00\x10JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00", 18);
    if (s->xmp_first) {
        static const char x[] = "http://ns.adobe.com/xap/1.0/\0<x/>";
        ex_put(b, "\xFF\xE1", 2); ex_put16(b, (unsigned)sizeof x - 1 + 2, 1); ex_put(b, x, sizeof x - 1);
    }
    if (s->after_sos) ex_put(b, "\xFF\xDA\x00\x02", 4);
    ex_put(b, "\xFF\xE1", 2);
    ex_put16(b, (unsigned)(2 + 6 + t.n), 1);
    ex_put(b, "Exif\0\0", 6);
    ex_put(b, t.b, t.n);
    if (!s->after_sos) ex_put(b, "\xFF\xDA\x00\x02", 4);
    ex_put(b, "\x12\x34\xFF\xD9", 4);
}

/* The orientation of the n first bytes of data, read from an exact-size heap copy. */
static int exif_orient_of(const unsigned char *data, size_t n, fnet_result *res) {
    unsigned char *c = (unsigned char *)malloc(n ? n : 1);
    int o = -1;
    fnet_result r;
    memcpy(c, data, n);
    r = fnet_jpeg_exif_orientation(c, n, &o);
    free(c);
    if (res) *res = r;
    return o;
}

static void exif_parse(void) {
    exif_buf b;
    exif_spec s;
    int v, be, k;
    fnet_result r;
    for (be = 0; be < 2; be++)
        for (v = 0; v <= 10; v++) {
            s = exif_base(v, be);
            exif_jpeg(&s, &b);
            k = exif_orient_of(b.b, b.n, &r);
            CHECK(r == FNET_OK && k == (v >= 1 && v <= 8 ? v : 1), "%s tag %d -> %d", be ? "MM" : "II", v, k);
        }
    s = exif_base(6, 1); s.before = 5; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 6, "the tag after five other entries");
    s = exif_base(8, 0); s.xmp_first = 1; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 8, "an XMP APP1 before the EXIF one");
    s = exif_base(3, 0); s.ifd = 20; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 3, "IFD0 further in (offset 20)");
    {   /* fill bytes before a marker are allowed (T.81 B.1.1.2) */
        unsigned char f[600];
        s = exif_base(5, 0); exif_jpeg(&s, &b);
        memcpy(f, b.b, 2); f[2] = 0xFF; f[3] = 0xFF; memcpy(f + 4, b.b + 2, b.n - 2);
        CHECK(exif_orient_of(f, b.n + 2, NULL) == 5, "fill bytes FF FF before a segment");
    }

    /* hostile: each must give 1 (the photo as stored), never a read outside the buffer */
    s = exif_base(6, 0); exif_jpeg(&s, &b);
    {
        size_t n, full = 0;
        int bad = 0;
        for (n = 0; n < b.n; n++) {
            k = exif_orient_of(b.b, n, &r);
            if (r != FNET_OK || (k != 1 && k != 6)) bad++;
            if (k == 6 && !full) full = n;
        }
        CHECK(bad == 0, "every truncation: FNET_OK and 1 or the tag (%d bad)", bad);
        CHECK(full > 0 && full < b.n, "found once the EXIF segment is whole (%u of %u bytes)", (unsigned)full, (unsigned)b.n);
    }
    s = exif_base(6, 0); s.ifd = 0xFFFFFFF0UL; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "IFD0 offset near 2^32 (wraps on 32-bit sums)");
    s = exif_base(6, 1); s.ifd = 4; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "IFD0 offset inside the TIFF header");
    s = exif_base(6, 0); s.ifd = 1000; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "IFD0 offset past the segment");
    s = exif_base(6, 0); s.before = 2; s.n_entries_claim = 0xFFFF; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 6, "65535 entries claimed: the ones present are read, no further");
    s = exif_base(6, 0); s.before = 3; s.n_entries_claim = 2; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "the tag beyond the entry count is not read");
    s = exif_base(6, 0); s.type = 4; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "orientation as a LONG: refused");
    s = exif_base(6, 0); s.count = 2; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "two orientation values: refused");
    s = exif_base(6, 0); s.magic = 43; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "TIFF magic 43");
    s = exif_base(6, 0); s.after_sos = 1; exif_jpeg(&s, &b);
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "EXIF after the scan marker is entropy-coded data, not read");
    s = exif_base(6, 0); exif_jpeg(&s, &b);
    b.b[2 + 18 + 2] = 0xFF; b.b[2 + 18 + 3] = 0xF0; /* APP1 length 65520: past the end */
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "a segment length past the end");
    s = exif_base(6, 0); exif_jpeg(&s, &b);
    b.b[2 + 2] = 0; b.b[2 + 3] = 1; /* APP0 length 1 (< 2) */
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "a segment length below 2");
    s = exif_base(6, 0); exif_jpeg(&s, &b);
    b.b[2 + 18 + 4] = 'e'; /* "exif" */
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "APP1 without the Exif signature");
    s = exif_base(6, 0); exif_jpeg(&s, &b);
    b.b[2 + 18 + 2] = 0; b.b[2 + 18 + 3] = 7; /* APP1 too short for "Exif\0\0" */
    CHECK(exif_orient_of(b.b, b.n, NULL) == 1, "an APP1 of 5 bytes");
    CHECK(exif_orient_of((const unsigned char *)"\x89PNG\r\n\x1a\n\0\0\0\0", 12, &r) == 1 && r == FNET_OK, "a PNG: 1");
    CHECK(exif_orient_of((const unsigned char *)"\xFF\xD8", 2, &r) == 1 && r == FNET_OK, "SOI alone: 1");
    {   /* a long run of empty segments: bounded by the size, no recursion */
        static unsigned char many[65536];
        size_t p = 2;
        many[0] = 0xFF; many[1] = 0xD8;
        while (p + 4 <= sizeof many) { many[p] = 0xFF; many[p + 1] = 0xE5; many[p + 2] = 0; many[p + 3] = 2; p += 4; }
        CHECK(exif_orient_of(many, sizeof many, &r) == 1 && r == FNET_OK, "16383 empty segments: 1");
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
static void exif_expected_source(int o, int W, int H, int x, int y, int *u, int *v) {
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

static void exif_orient(void) {
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
                    exif_expected_source(o, W, H, x, y, &u, &v);
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

/* il_decode_memory_upright: a shared photo with an EXIF orientation inserted after SOI decodes
   to the stored pixels turned as the EXIF table says (orientations 6 and 3; 9, out of range,
   and no tag leave it as stored). */
static void exif_upright(void) {
    const char *path = shared_path("data/openface-examples/clapton-1.jpg");
    size_t size = 0;
    unsigned char *b = path ? test_read_file(path, &size) : NULL;
    static const int tags[4] = {6, 3, 9, 0};
    il_image st, up;
    char why[256];
    int t;
    if (!b) { SKIP("../shared/data/openface-examples/clapton-1.jpg absent: il_decode_memory_upright not checked"); return; }
    CHECK(il_decode_memory(b, size, 3, &st, why, sizeof why), "clapton-1.jpg decodes: %s", why);
    for (t = 0; t < 4 && st.pixels; t++) {
        exif_spec sp = exif_base(tags[t] ? tags[t] : 1, t % 2);
        exif_buf head;
        unsigned char *tagged = (unsigned char *)malloc(size + 600);
        size_t n = size;
        int o = -1, bad = 0, x, y, want = tags[t] >= 1 && tags[t] <= 8 ? tags[t] : 1;
        exif_jpeg(&sp, &head);
        /* SOI, then the APP1 segment of the hand-built header (after its SOI and JFIF APP0),
           then the photo's own segments */
        memcpy(tagged, b, 2);
        if (tags[t]) {
            size_t a = 2 + 18, len = ((size_t)head.b[a + 2] << 8 | head.b[a + 3]) + 2;
            memcpy(tagged + 2, head.b + a, len);
            memcpy(tagged + 2 + len, b + 2, size - 2);
            n = size + len;
        } else {
            memcpy(tagged + 2, b + 2, size - 2);
        }
        CHECK(il_decode_memory_upright(tagged, n, 3, &up, &o, why, sizeof why), "tag %d decodes: %s", tags[t], why);
        if (up.pixels) {
            CHECK(o == want, "tag %d: orientation %d applied (got %d)", tags[t], want, o);
            CHECK(up.width == (want >= 5 ? st.height : st.width) && up.height == (want >= 5 ? st.width : st.height),
                  "tag %d: upright size %dx%d", tags[t], up.width, up.height);
            for (y = 0; y < up.height && !bad; y++)
                for (x = 0; x < up.width; x++) {
                    int u, v;
                    exif_expected_source(want, st.width, st.height, x, y, &u, &v);
                    if (memcmp(up.pixels + ((size_t)y * up.width + x) * 3, st.pixels + ((size_t)v * st.width + u) * 3, 3)) {
                        bad = 1;
                        break;
                    }
                }
            CHECK(!bad, "tag %d: every pixel is the stored one the EXIF table names", tags[t]);
            il_free(&up);
        }
        free(tagged);
    }
    il_free(&st);
    free(b);
}

int main(void) {
    expect_file();
    mutated_lfw();
    files();
    exif_parse();
    exif_orient();
    exif_upright();
    return test_finish();
}
