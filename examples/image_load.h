/* image_load.h - the one way the CLI, the examples, the tools and the tests decode photos.

   Photos come from anywhere, and the decoder is Debian's stb_image 2.27 (libstb-dev), whose
   JPEG reader trusts its input in ways that later stb_image releases fixed. This file puts a
   validating pre-pass in front of it, written here from the JPEG and PNG specifications
   (ITU T.81, ISO 15948), and refuses what 2.27 mishandles, with a message naming the problem:

   stb_image 2.27 weakness -> what the pre-pass refuses:
   1. stbi__build_huffman writes size[k++] for every code the 16 DHT counts declare: more
      than 256 run past size[257] into the decoder state (pointers included).
      -> a table whose counts sum past 256, or whose codes overflow their lengths (Kraft).
   2. The decoder state is malloc'ed, not zeroed: a scan using a Huffman table no DHT defined
      reads garbage maxcode/delta and then values[garbage]; an undefined DQT is garbage.
      -> a scan naming a Huffman table, or a component naming a quantisation table, that no
         earlier DHT/DQT defined.
   3. A component no scan codes (progressive: no DC-first scan before its other scans) leaves
      its samples or coefficients as uninitialised heap memory, which become the pixels.
      -> such a component.
   4. The DC predictor and its product with the quantiser are plain int: large DC differences
      overflow them (UB, CVE-2022-28041). Its fast AC table, EOB runs and refinement bits are
      read unchecked: when a scan's bits run out inside a block, code_bits goes negative and
      the next refill shifts by 32 or more (UB). Blocks past the data decode as zeros, so a
      1 KB file can claim, and cost, 16384x16384 pixels.
      -> every scan is Huffman-walked here bit for bit as stb_image reads it (baseline,
         progressive DC-first, AC first and AC refinement; a DC refinement reads one bit a
         block and is not walked), and refused when a DC value leaves +-32767, when the bits
         run out inside a block, or when a block lies past the scan's data.
   5. Segments whose length disagrees with their content (DQT, DHT, SOF, SOS) are read past.
      -> every segment must fit in the file and match its content exactly.
   plus the sanity of the frame (8-bit samples, 1, 3 or 4 components, sampling factors 1-4
   with integer ratios, width and height 1..IL_MAX_SIDE), of each scan (component count, ids,
   spectral selection, successive approximation), of DRI and DNL, and of the marker sequence
   (one SOI, one frame, no lossless/arithmetic/hierarchical frames, no stray RSTn, at most
   IL_MAX_SCANS scans: each progressive scan costs stb_image a pass over every block).
   Decoding work is bounded by the file's size: a walked scan must carry its blocks' bits
   (stb_image would otherwise decode blocks of zeros past the end for a header's claim).
   PNG: the signature, IHDR (size, valid bit depth for the colour type, compression, filter,
   interlace), every chunk inside the file, PLTE size, IDAT present and the first one not empty
   (stb_image 2.27 copies an empty first IDAT to NULL + 0: UB, found by fuzz_png), no Apple
   CgBI, no unknown critical chunk.

   Less to attack: stb_image is compiled here (its implementation: include this file in one
   translation unit per program) with only its JPEG and PNG readers (the formats fnet
   documents), no stdio, no HDR, and STBI_MAX_DIMENSIONS = IL_MAX_SIDE; the pre-pass already
   refuses larger headers with a message before anything is allocated.
   Not covered: the PNG zlib stream is inflated by stb_image without a size bound (a small
   file can ask for up to 1032 times its size in memory; stb_image fails cleanly when malloc
   fails), and a PNG's CRCs are not checked (stb_image ignores them too: a hostile file fixes
   them anyway). The pre-pass reads every bit once more: 0.4-0.6 of a decode's time (a
   250x250 LFW photo: 1.1 ms against 2.0 ms at -O2, AMD EPYC), nothing beside detection.
   Tests: tests/test_image_load.c, tests/test_hostile_files.py; fuzzing: tests/fuzz/fuzz_jpeg.c,
   fuzz_png.c; the hand-built hostile files: tests/fuzz/make_image_regress.py.

   usage: include after facenet.h (for FNET_MAX_IMAGE_SIDE) in ONE translation unit per
   program; do not include stb_image.h yourself (stb_image_write.h is fine).
     il_image im;  char why[256];
     if (!il_load(path, 3, &im, why, sizeof why)) fprintf(stderr, "%s: %s\n", path, why);
     ... im.pixels (im.width * im.height * 3 bytes) ...
     il_free(&im);
   il_decode_memory() does the same from a buffer; il_check() is the pre-pass alone.
   il_load_upright() / il_decode_memory_upright() (when facenet.h is included first) also turn
   the photo as its JPEG EXIF orientation says (phone photos), as a viewer shows it. */
#ifndef IMAGE_LOAD_H
#define IMAGE_LOAD_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef IL_MAX_SIDE
#ifdef FNET_MAX_IMAGE_SIDE
#define IL_MAX_SIDE FNET_MAX_IMAGE_SIDE
#else
#define IL_MAX_SIDE 16384
#endif
#endif
#ifndef IL_MAX_FILE_BYTES
#define IL_MAX_FILE_BYTES (256u << 20) /* 256 MB: far above any photo of IL_MAX_SIDE a side */
#endif

#ifndef IL_MAX_SCANS
#define IL_MAX_SCANS 64 /* progressive JPEGs have about 10 (libjpeg's default script) */
#endif
#define IL__STR2(x) #x
#define IL__STR(x) IL__STR2(x)

#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO /* files are read here, decoded from memory */
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS IL_MAX_SIDE
#define STB_IMAGE_IMPLEMENTATION
#if defined(__has_include) /* builds with -I/usr/include/stb (cross compilers) or without */
#if __has_include(<stb_image.h>)
#include <stb_image.h>
#else
#include <stb/stb_image.h>
#endif
#else
#include <stb/stb_image.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define IL_UNUSED __attribute__((unused))
#else
#define IL_UNUSED
#endif

typedef struct il_image {
    unsigned char *pixels; /* width * height * channels bytes, rows top to bottom */
    int width, height, channels;
} il_image;

/* ---- the pre-pass: JPEG ---- */

typedef struct il__jpeg {
    const unsigned char *p;
    size_t n;
    int frame, progressive, width, height, nf, restart;
    int id[4], h[4], v[4], tq[4], hmax, vmax, coded[4];
    int dq[4], dc[4], ac[4];     /* tables defined so far */
    unsigned char dc_count[4][16], dc_sym[4][256], ac_count[4][16], ac_sym[4][256];
    int dc_n[4], ac_n[4];
    unsigned long long *nz[4]; /* progressive: per block, the coefficients made nonzero so far */
    int nz_w[4];
    char *why;
    size_t cap;
} il__jpeg;

static int il__fail(char *why, size_t cap, const char *msg) {
    if (why && cap) snprintf(why, cap, "%s", msg);
    return 0;
}

/* DHT (T.81 B.2.4.2, C): class, id, 16 counts, the symbols. */
static int il__jpeg_dht(il__jpeg *j, const unsigned char *s, size_t len) {
    while (len > 0) {
        int tc, th, i, total = 0;
        long code = 0;
        if (len < 17) return il__fail(j->why, j->cap, "corrupt JPEG: DHT segment ends inside a table header");
        tc = s[0] >> 4;
        th = s[0] & 15;
        if (tc > 1 || th > 3) return il__fail(j->why, j->cap, "corrupt JPEG: DHT names a table class above 1 or id above 3");
        for (i = 0; i < 16; i++) total += s[1 + i];
        if (total > 256) { /* stb_image 2.27 would write total+1 entries of size[257] */
            if (j->why && j->cap)
                snprintf(j->why, j->cap, "corrupt JPEG: DHT declares %d Huffman codes, more than 256", total);
            return 0;
        }
        for (i = 0; i < 16; i++) { /* codes of length i+1: at most what the shorter ones left (Kraft) */
            code = (code + s[1 + i]) << 1;
            if (code > (2L << (i + 1)))
                return il__fail(j->why, j->cap,
                                "corrupt JPEG: DHT declares more Huffman codes of a length than that length can hold");
        }
        if (len < (size_t)17 + total) return il__fail(j->why, j->cap, "corrupt JPEG: DHT segment ends inside a table's symbols");
        if (tc == 0) {
            for (i = 0; i < total; i++)
                if (s[17 + i] > 15) return il__fail(j->why, j->cap, "corrupt JPEG: a DC Huffman symbol above 15");
            memcpy(j->dc_count[th], s + 1, 16);
            memcpy(j->dc_sym[th], s + 17, (size_t)total);
            j->dc_n[th] = total;
            j->dc[th] = 1;
        } else {
            memcpy(j->ac_count[th], s + 1, 16);
            memcpy(j->ac_sym[th], s + 17, (size_t)total);
            j->ac_n[th] = total;
            j->ac[th] = 1;
        }
        s += 17 + total;
        len -= 17 + (size_t)total;
    }
    return 1;
}

/* DQT (B.2.4.1): precision and id, then 64 values of 8 or 16 bits. */
static int il__jpeg_dqt(il__jpeg *j, const unsigned char *s, size_t len) {
    while (len > 0) {
        int pq = s[0] >> 4, tq = s[0] & 15;
        size_t need = pq ? 129 : 65;
        if (pq > 1) return il__fail(j->why, j->cap, "corrupt JPEG: DQT precision is neither 8 nor 16 bits");
        if (tq > 3) return il__fail(j->why, j->cap, "corrupt JPEG: DQT table id above 3");
        if (len < need) return il__fail(j->why, j->cap, "corrupt JPEG: DQT segment ends inside a table");
        j->dq[tq] = 1;
        s += need;
        len -= need;
    }
    return 1;
}

/* SOF0/1/2 (B.2.2). */
static int il__jpeg_sof(il__jpeg *j, const unsigned char *s, size_t len, int max_side) {
    int i, k;
    if (j->frame) return il__fail(j->why, j->cap, "corrupt JPEG: a second frame header (SOF)");
    if (len < 6) return il__fail(j->why, j->cap, "corrupt JPEG: SOF segment too short");
    if (s[0] != 8) return il__fail(j->why, j->cap, "JPEG with 12-bit samples: not supported (8-bit only)");
    j->height = (s[1] << 8) | s[2];
    j->width = (s[3] << 8) | s[4];
    j->nf = s[5];
    if (j->height == 0) return il__fail(j->why, j->cap, "JPEG with its height in a DNL marker: not supported");
    if (j->width == 0) return il__fail(j->why, j->cap, "corrupt JPEG: width 0");
    if (j->width > max_side || j->height > max_side) {
        if (j->why && j->cap)
            snprintf(j->why, j->cap, "%dx%d is larger than %d pixels a side; downscale it", j->width, j->height, max_side);
        return 0;
    }
    if (j->nf != 1 && j->nf != 3 && j->nf != 4) return il__fail(j->why, j->cap, "JPEG with a component count other than 1, 3 or 4: not supported");
    if (len != 6 + 3 * (size_t)j->nf) return il__fail(j->why, j->cap, "corrupt JPEG: SOF length does not match its component count");
    j->hmax = j->vmax = 1;
    for (i = 0; i < j->nf; i++) {
        j->id[i] = s[6 + 3 * i];
        j->h[i] = s[7 + 3 * i] >> 4;
        j->v[i] = s[7 + 3 * i] & 15;
        j->tq[i] = s[8 + 3 * i];
        for (k = 0; k < i; k++)
            if (j->id[k] == j->id[i]) return il__fail(j->why, j->cap, "corrupt JPEG: two components with the same id");
        if (j->h[i] < 1 || j->h[i] > 4 || j->v[i] < 1 || j->v[i] > 4)
            return il__fail(j->why, j->cap, "corrupt JPEG: a sampling factor outside 1..4");
        if (j->tq[i] > 3) return il__fail(j->why, j->cap, "corrupt JPEG: a quantisation table id above 3");
        if (j->h[i] > j->hmax) j->hmax = j->h[i];
        if (j->v[i] > j->vmax) j->vmax = j->v[i];
    }
    for (i = 0; i < j->nf; i++)
        if (j->hmax % j->h[i] || j->vmax % j->v[i])
            return il__fail(j->why, j->cap, "JPEG with fractional chroma subsampling: not supported");
    j->frame = 1;
    return 1;
}

/* ---- the entropy walk: baseline and DC-first scans, bit for bit as stb_image 2.27 reads them ---- */

typedef struct il__bits {
    const unsigned char *p, *end;
    unsigned long long buf; /* 32 valid bits at most, left-aligned in the low 32 */
    int bits, marker;  /* marker: stb_image's "nomore" (a marker was met: zeros follow) */
    int phantom;       /* how many of the held bits are those zeros, not data */
} il__bits;

typedef struct il__huff { /* canonical code: first code, first index and count per length */
    long first[17], index[17], count[17];
    const unsigned char *sym;
} il__huff;

static void il__huff_build(il__huff *h, const unsigned char *counts, const unsigned char *sym) {
    long code = 0, k = 0;
    int len;
    for (len = 1; len <= 16; len++) {
        h->first[len] = code;
        h->index[len] = k;
        h->count[len] = counts[len - 1];
        code = (code + counts[len - 1]) << 1;
        k += counts[len - 1];
    }
    h->sym = sym;
}

/* stb_image's refill: bytes until more than 24 bits are held; 0xFF00 is a 0xFF byte, 0xFF
   fill bytes are skipped, any other 0xFFxx is a marker: stop there for good (zeros after). */
static void il__bits_fill(il__bits *b) {
    do {
        unsigned c = 0;
        if (b->marker || b->p >= b->end) {
            b->phantom += 8;
        } else {
            c = *b->p++;
            if (c == 0xFF) {
                unsigned d = b->p < b->end ? *b->p++ : 0;
                while (d == 0xFF) d = b->p < b->end ? *b->p++ : 0;
                if (d != 0) {
                    b->marker = 1;
                    return;
                }
            }
        }
        b->buf |= (unsigned long long)c << (24 - b->bits);
        b->bits += 8;
    } while (b->bits <= 24);
}

/* One Huffman symbol; -1 where stb_image would report "bad huffman code" (it then stops). */
static int il__bits_huff(il__bits *b, const il__huff *h) {
    int len;
    if (b->bits < 16) il__bits_fill(b);
    for (len = 1; len <= 16; len++) {
        long code = (long)((b->buf >> (32 - len)) & ((1UL << len) - 1));
        if (code >= h->first[len] && code - h->first[len] < h->count[len]) {
            if (len > b->bits) return -1;
            b->buf = (b->buf << len) & 0xFFFFFFFFULL;
            b->bits -= len;
            return h->sym[h->index[len] + code - h->first[len]];
        }
    }
    return -1;
}

/* n raw bits (n <= 15) as JPEG's signed "extend"; 0 with *short_ = 1 when the scan's data
   ended inside them (stb_image 2.27 would read on with code_bits negative). */
static int il__bits_extend(il__bits *b, int n, int *short_) {
    unsigned long k;
    if (b->bits < n) il__bits_fill(b);
    if (b->bits < n) {
        *short_ = 1;
        return 0;
    }
    k = (b->buf >> (32 - n)) & ((1UL << n) - 1);
    b->buf = (b->buf << n) & 0xFFFFFFFFULL;
    b->bits -= n;
    return k >> (n - 1) ? (int)k : (int)k - (int)((1UL << n) - 1);
}

/* An AC symbol as stb_image 2.27 reads it: first its fast table (a code of at most 9 bits
   whose 1..7 magnitude bits fit in the same 9 bits is taken whole, WITHOUT checking how many
   bits are held: *bits may go negative), else the checked decode. *fast = 1 when the
   magnitude bits were taken too. */
static int il__bits_ac(il__bits *b, const il__huff *h, int *fast) {
    int len;
    *fast = 0;
    if (b->bits < 16) il__bits_fill(b);
    for (len = 1; len <= 9; len++) {
        long code = (long)((b->buf >> (32 - len)) & ((1UL << len) - 1));
        if (code >= h->first[len] && code - h->first[len] < h->count[len]) {
            int rs = h->sym[h->index[len] + code - h->first[len]], mag = rs & 15;
            if (mag >= 1 && mag <= 7 && len + mag <= 9) {
                b->buf = (b->buf << (len + mag)) & 0xFFFFFFFFULL;
                b->bits -= len + mag;
                *fast = 1;
                return rs;
            }
            break;
        }
    }
    return il__bits_huff(b, h);
}

/* n raw bits (n <= 14), unchecked like stb_image's get_bits/get_bit: *bits may go negative. */
static unsigned long il__bits_get(il__bits *b, int n) {
    unsigned long k;
    if (b->bits < n) il__bits_fill(b);
    k = (b->buf >> (32 - n)) & ((1UL << n) - 1);
    b->buf = (b->buf << n) & 0xFFFFFFFFULL;
    b->bits -= n;
    return k;
}

enum { IL__BASELINE, IL__DC_FIRST, IL__AC_FIRST, IL__AC_REFINE };

/* Walks one scan's blocks as stb_image's parse_entropy_coded_data does (same block order,
   same restart handling, same stopping points, the same bits read) and refuses what would
   make stb_image's arithmetic undefined: a DC value outside +-32767 (the largest for which
   its int products cannot overflow), a block that needs bits past the end of the scan's
   data (stb_image's bit count goes negative, and a later refill shifts by 32 or more), or
   zeros read past that end (a block the file does not carry: this bounds the decoding work
   by the file's size). AC refinement scans need to know which coefficients earlier scans
   made nonzero: j->nz keeps one 64-bit mask per block. */
static int il__jpeg_walk(il__jpeg *j, const unsigned char *data, const unsigned char *end, const int *comp, int ns,
                         const int *td, const int *ta, int kind, int ss, int se) {
    il__huff hdc[4], hac[4];
    il__bits b;
    long pred[4] = {0, 0, 0, 0}, eob = 0;
    int i, mcu_x, mcu_y, mx, my, todo, s;
    const char *cut = "corrupt JPEG: the entropy-coded data ends inside a block";
    for (i = 0; i < ns; i++) {
        if (kind == IL__BASELINE || kind == IL__DC_FIRST) il__huff_build(&hdc[i], j->dc_count[td[i]], j->dc_sym[td[i]]);
        if (kind != IL__DC_FIRST) il__huff_build(&hac[i], j->ac_count[ta[i]], j->ac_sym[ta[i]]);
    }
    if (kind != IL__BASELINE) /* the coefficient grid of each component (stb_image's coeff_w x coeff_h) */
        for (i = 0; i < j->nf; i++)
            if (!j->nz[i]) {
                size_t cw = (size_t)((j->width + 8 * j->hmax - 1) / (8 * j->hmax)) * j->h[i];
                size_t ch = (size_t)((j->height + 8 * j->vmax - 1) / (8 * j->vmax)) * j->v[i];
                j->nz_w[i] = (int)cw;
                if (!(j->nz[i] = (unsigned long long *)calloc(cw * ch, sizeof(unsigned long long))))
                    return il__fail(j->why, j->cap, "out of memory");
            }
    memset(&b, 0, sizeof b);
    b.p = data;
    b.end = end;
    if (ns == 1) { /* non-interleaved: one block per MCU, the component's own block grid */
        int c = comp[0];
        int cx = (j->width * j->h[c] + j->hmax - 1) / j->hmax, cy = (j->height * j->v[c] + j->vmax - 1) / j->vmax;
        mcu_x = (cx + 7) >> 3;
        mcu_y = (cy + 7) >> 3;
    } else {
        mcu_x = (j->width + 8 * j->hmax - 1) / (8 * j->hmax);
        mcu_y = (j->height + 8 * j->vmax - 1) / (8 * j->vmax);
    }
    todo = j->restart ? j->restart : 0x7fffffff;
    for (my = 0; my < mcu_y; my++)
        for (mx = 0; mx < mcu_x; mx++) {
            for (s = 0; s < ns; s++) {
                int c = comp[s], nb = ns == 1 ? 1 : j->h[c] * j->v[c], blk;
                for (blk = 0; blk < nb; blk++) {
                    int bx = ns == 1 ? mx : mx * j->h[c] + blk % j->h[c], by = ns == 1 ? my : my * j->v[c] + blk / j->h[c];
                    unsigned long long *nz = kind == IL__BASELINE ? NULL : &j->nz[c][(size_t)by * j->nz_w[c] + bx];
                    int k, fast, bad = 0;
                    if (kind == IL__BASELINE || kind == IL__DC_FIRST) {
                        int t = il__bits_huff(&b, &hdc[s]);
                        long diff;
                        if (t < 0 || t > 15) return 1; /* stb_image stops here: "bad huffman code" */
                        diff = t ? il__bits_extend(&b, t, &bad) : 0;
                        if (bad) return il__fail(j->why, j->cap, cut);
                        pred[s] += diff;
                        if (pred[s] > 32767 || pred[s] < -32767)
                            return il__fail(j->why, j->cap, "corrupt JPEG: a DC coefficient out of range");
                        if (nz) *nz = 0; /* stb_image zeroes the block */
                    }
                    if (kind == IL__BASELINE) {
                        for (k = 1; k < 64;) {
                            int rs = il__bits_ac(&b, &hac[s], &fast);
                            if (rs < 0) return 1; /* stb_image stops: "bad huffman code" */
                            if (fast) {
                                k += (rs >> 4) + 1;
                            } else if ((rs & 15) == 0) {
                                if (rs != 0xF0) break;
                                k += 16;
                            } else {
                                k += (rs >> 4) + 1;
                                il__bits_extend(&b, rs & 15, &bad);
                            }
                            if (bad || b.bits < 0) return il__fail(j->why, j->cap, cut);
                        }
                    } else if (kind == IL__AC_FIRST) {
                        if (eob) {
                            eob--;
                        } else {
                            for (k = ss; k <= se;) {
                                int rs = il__bits_ac(&b, &hac[s], &fast), r = rs >> 4;
                                if (rs < 0) return 1;
                                if (fast) { /* past 63, stb_image writes coefficient 63 */
                                    k += r;
                                    *nz |= 1ULL << (k < 64 ? k : 63);
                                    k++;
                                } else if ((rs & 15) == 0) {
                                    if (r < 15) {
                                        eob = (1L << r) - 1 + (r ? (long)il__bits_get(&b, r) : 0);
                                        if (b.bits < 0) return il__fail(j->why, j->cap, cut);
                                        break;
                                    }
                                    k += 16;
                                } else {
                                    k += r;
                                    *nz |= 1ULL << (k < 64 ? k : 63);
                                    k++;
                                    il__bits_extend(&b, rs & 15, &bad);
                                }
                                if (bad || b.bits < 0) return il__fail(j->why, j->cap, cut);
                            }
                        }
                    } else if (kind == IL__AC_REFINE) {
                        if (eob) {
                            eob--;
                            for (k = ss; k <= se; k++)
                                if (*nz >> k & 1) il__bits_get(&b, 1);
                            if (b.bits < 0) return il__fail(j->why, j->cap, cut);
                        } else {
                            for (k = ss; k <= se;) {
                                int rs = il__bits_huff(&b, &hac[s]), r = rs >> 4, sz = rs & 15, val = 0;
                                if (rs < 0) return 1;
                                if (sz == 0) {
                                    if (r < 15) {
                                        eob = (1L << r) - 1 + (r ? (long)il__bits_get(&b, r) : 0);
                                        r = 64;
                                    }
                                } else {
                                    if (sz != 1) return 1; /* stb_image stops: "bad huffman code" */
                                    il__bits_get(&b, 1);
                                    val = 1;
                                }
                                while (k <= se) { /* advance by r zero coefficients, refining the nonzero ones */
                                    int kk = k++;
                                    if (*nz >> kk & 1) {
                                        il__bits_get(&b, 1);
                                    } else {
                                        if (r == 0) {
                                            if (val) *nz |= 1ULL << kk;
                                            break;
                                        }
                                        --r;
                                    }
                                }
                                if (b.bits < 0) return il__fail(j->why, j->cap, cut);
                            }
                        }
                    }
                    if (b.bits < b.phantom) /* the block used zeros past the scan's data */
                        return il__fail(j->why, j->cap, "corrupt JPEG: a scan's data ends before its last block (truncated?)");
                }
            }
            if (--todo <= 0) { /* restart interval over: stb_image resyncs at RSTn or stops */
                if (b.bits < 24) il__bits_fill(&b);
                if (!b.marker || b.p < data + 1 || b.p[-1] < 0xD0 || b.p[-1] > 0xD7) return 1;
                b.buf = 0;
                b.bits = 0;
                b.marker = 0;
                b.phantom = 0;
                eob = 0;
                pred[0] = pred[1] = pred[2] = pred[3] = 0;
                todo = j->restart ? j->restart : 0x7fffffff;
            }
        }
    return 1;
}

/* SOS (B.2.3), then the entropy-coded data up to the next marker; *pos moves past it. */
static int il__jpeg_sos(il__jpeg *j, const unsigned char *s, size_t len, size_t *pos) {
    int ns, i, k, comp[4], td[4], ta[4], ss, se, ah, al;
    const unsigned char *p = j->p, *d;
    size_t at;
    if (!j->frame) return il__fail(j->why, j->cap, "corrupt JPEG: a scan (SOS) before the frame header (SOF)");
    if (len < 1) return il__fail(j->why, j->cap, "corrupt JPEG: SOS segment too short");
    ns = s[0];
    if (ns < 1 || ns > 4 || ns > j->nf) return il__fail(j->why, j->cap, "corrupt JPEG: SOS component count");
    if (len != 4 + 2 * (size_t)ns) return il__fail(j->why, j->cap, "corrupt JPEG: SOS length does not match its component count");
    for (i = 0; i < ns; i++) {
        for (comp[i] = 0; comp[i] < j->nf && j->id[comp[i]] != s[1 + 2 * i]; comp[i]++) {}
        if (comp[i] == j->nf) return il__fail(j->why, j->cap, "corrupt JPEG: a scan names a component the frame lacks");
        for (k = 0; k < i; k++)
            if (comp[k] == comp[i]) return il__fail(j->why, j->cap, "corrupt JPEG: a scan names a component twice");
        td[i] = s[2 + 2 * i] >> 4;
        ta[i] = s[2 + 2 * i] & 15;
        if (td[i] > 3 || ta[i] > 3) return il__fail(j->why, j->cap, "corrupt JPEG: a scan names a Huffman table above 3");
        if (!j->dq[j->tq[comp[i]]])
            return il__fail(j->why, j->cap, "corrupt JPEG: a scan's component uses a quantisation table no DQT defined");
    }
    ss = s[1 + 2 * ns];
    se = s[2 + 2 * ns];
    ah = s[3 + 2 * ns] >> 4;
    al = s[3 + 2 * ns] & 15;
    if (!j->progressive) {
        if (ss != 0 || ah != 0 || al != 0) return il__fail(j->why, j->cap, "corrupt JPEG: a baseline scan with progressive parameters");
        for (i = 0; i < ns; i++) {
            if (!j->dc[td[i]] || !j->ac[ta[i]])
                return il__fail(j->why, j->cap, "corrupt JPEG: a scan uses a Huffman table no DHT defined");
            j->coded[comp[i]] = 1;
        }
    } else {
        if (ss > 63 || se > 63 || ss > se || ah > 13 || al > 13)
            return il__fail(j->why, j->cap, "corrupt JPEG: progressive scan parameters out of range");
        if (ss == 0 && se != 0) return il__fail(j->why, j->cap, "corrupt JPEG: a progressive scan mixes DC and AC coefficients");
        if (ss > 0 && ns != 1) return il__fail(j->why, j->cap, "corrupt JPEG: a progressive AC scan with more than one component");
        for (i = 0; i < ns; i++) {
            if (ss == 0 && ah == 0) {
                if (!j->dc[td[i]]) return il__fail(j->why, j->cap, "corrupt JPEG: a scan uses a Huffman table no DHT defined");
                j->coded[comp[i]] = 1;
            } else {
                if (!j->coded[comp[i]])
                    return il__fail(j->why, j->cap, "corrupt JPEG: a progressive scan before its component's first DC scan");
                if (ss > 0 && !j->ac[ta[i]])
                    return il__fail(j->why, j->cap, "corrupt JPEG: a scan uses a Huffman table no DHT defined");
            }
        }
    }
    /* the entropy-coded data: up to the first 0xFF that is not 0xFF00, RSTn or fill */
    d = p + *pos;
    for (at = *pos; at < j->n;) {
        const unsigned char *ff = (const unsigned char *)memchr(p + at, 0xFF, j->n - at);
        if (!ff) {
            at = j->n;
            break;
        }
        at = (size_t)(ff - p);
        if (at + 1 >= j->n) {
            at = j->n;
            break;
        }
        if (p[at + 1] == 0x00 || (p[at + 1] >= 0xD0 && p[at + 1] <= 0xD7)) at += 2;
        else if (p[at + 1] == 0xFF) at += 1;
        else break;
    }
    *pos = at;
    if (!j->progressive) return il__jpeg_walk(j, d, p + j->n, comp, ns, td, ta, IL__BASELINE, 0, 63);
    if (ss == 0 && ah == 0) return il__jpeg_walk(j, d, p + j->n, comp, ns, td, ta, IL__DC_FIRST, 0, 0);
    if (ss > 0) return il__jpeg_walk(j, d, p + j->n, comp, ns, td, ta, ah ? IL__AC_REFINE : IL__AC_FIRST, ss, se);
    return 1;
}

static int il__check_jpeg(const unsigned char *p, size_t n, int max_side, int *w, int *h, char *why, size_t cap) {
    il__jpeg *j = (il__jpeg *)calloc(1, sizeof(il__jpeg));
    size_t i = 2;
    int ok = 0, scans = 0, c;
    if (!j) return il__fail(why, cap, "out of memory");
    j->p = p;
    j->n = n;
    j->why = why;
    j->cap = cap;
    for (;;) {
        int m;
        size_t len;
        const unsigned char *s;
        while (i < n && p[i] != 0xFF) i++; /* stb_image skips bytes between segments too */
        while (i < n && p[i] == 0xFF) i++;
        if (i >= n) {
            il__fail(why, cap, !j->frame ? "corrupt JPEG: truncated before its frame header (SOF)"
                               : !scans ? "corrupt JPEG: truncated before its first scan"
                                        : "corrupt JPEG: truncated (the file ends before its end-of-image marker)");
            break;
        }
        m = p[i++];
        if (m == 0xD9) {
            if (scans) ok = 1;
            else il__fail(why, cap, "corrupt JPEG: end of image before any scan");
            break;
        }
        if (m == 0xD8) { il__fail(why, cap, "corrupt JPEG: a second start-of-image marker"); break; }
        if (m >= 0xD0 && m <= 0xD7) { il__fail(why, cap, "corrupt JPEG: a restart marker outside a scan"); break; }
        if (m == 0xC3 || (m >= 0xC5 && m <= 0xCF && m != 0xC8 && m != 0xCC)) {
            il__fail(why, cap, "JPEG variant (lossless, hierarchical or arithmetic-coded) not supported: baseline and progressive only");
            break;
        }
        if (!(m == 0xC0 || m == 0xC1 || m == 0xC2 || m == 0xC4 || m == 0xDA || m == 0xDB || m == 0xDC || m == 0xDD ||
              (m >= 0xE0 && m <= 0xEF) || m == 0xFE)) {
            if (why && cap) snprintf(why, cap, "corrupt JPEG: unknown marker 0xFF%02X", m);
            break;
        }
        if (i + 2 > n) { il__fail(why, cap, "corrupt JPEG: truncated inside a segment length"); break; }
        len = ((size_t)p[i] << 8) | p[i + 1];
        if (len < 2) { il__fail(why, cap, "corrupt JPEG: a segment length below 2"); break; }
        if (len > n - i) {
            if (why && cap) snprintf(why, cap, "corrupt JPEG: truncated (a 0xFF%02X segment of %u bytes runs past the end of the file)", m, (unsigned)len);
            break;
        }
        s = p + i + 2;
        i += len;
        len -= 2;
        if (m == 0xC4) { if (!il__jpeg_dht(j, s, len)) break; }
        else if (m == 0xDB) { if (!il__jpeg_dqt(j, s, len)) break; }
        else if (m == 0xDD) {
            if (len != 2) { il__fail(why, cap, "corrupt JPEG: DRI length is not 4"); break; }
            j->restart = (s[0] << 8) | s[1];
        } else if (m == 0xDC) {
            if (!scans || len != 2 || ((s[0] << 8) | s[1]) != j->height) { il__fail(why, cap, "corrupt JPEG: a bad DNL marker"); break; }
        } else if (m >= 0xC0 && m <= 0xC2) {
            j->progressive = m == 0xC2;
            if (!il__jpeg_sof(j, s, len, max_side)) break;
        } else if (m == 0xDA) {
            if (++scans > IL_MAX_SCANS) { /* each progressive scan costs a pass over every block */
                il__fail(why, cap, "JPEG with more than " IL__STR(IL_MAX_SCANS) " scans (a photo has at most about 12): refused");
                break;
            }
            if (!il__jpeg_sos(j, s, len, &i)) break;
        }
    }
    for (c = 0; ok && c < j->nf; c++)
        if (!j->coded[c]) ok = il__fail(why, cap, "corrupt JPEG: a component no scan codes (its pixels would be uninitialised memory)");
    *w = j->width;
    *h = j->height;
    for (c = 0; c < 4; c++) free(j->nz[c]);
    free(j);
    return ok;
}

/* ---- the pre-pass: PNG ---- */

static unsigned long il__be32(const unsigned char *p) {
    return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) | ((unsigned long)p[2] << 8) | p[3];
}

static int il__check_png(const unsigned char *p, size_t n, int max_side, int *w, int *h, char *why, size_t cap) {
    size_t i = 8;
    int first = 1, idat = 0, plte = 0, type = 0;
    for (;;) {
        unsigned long len;
        const unsigned char *t;
        if (n - i < 12) return il__fail(why, cap, idat ? "corrupt PNG: truncated (no IEND chunk)" : "corrupt PNG: truncated before any image data");
        len = il__be32(p + i);
        t = p + i + 4;
        if (len > 0x7fffffffUL || len > n - i - 12)
            return il__fail(why, cap, "corrupt PNG: truncated (a chunk runs past the end of the file)");
        if (first) {
            static const int ok_depth[7] = {0x1F, 0, 0x18, 0x0F, 0x18, 0, 0x18}; /* bits 1,2,4,8,16 */
            const unsigned char *d = t + 4;
            unsigned long pw, ph;
            int depth, bit;
            if (memcmp(t, "CgBI", 4) == 0) return il__fail(why, cap, "Apple CgBI PNG (iPhone-optimised): not supported");
            if (memcmp(t, "IHDR", 4) != 0 || len != 13) return il__fail(why, cap, "corrupt PNG: the first chunk is not a 13-byte IHDR");
            pw = il__be32(d);
            ph = il__be32(d + 4);
            depth = d[8];
            type = d[9];
            if (pw == 0 || ph == 0) return il__fail(why, cap, "corrupt PNG: width or height 0");
            if (pw > (unsigned long)max_side || ph > (unsigned long)max_side) {
                if (why && cap)
                    snprintf(why, cap, "%lux%lu is larger than %d pixels a side; downscale it", pw, ph, max_side);
                return 0;
            }
            bit = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16 ? depth : 0;
            if (type > 6 || !(ok_depth[type] & bit))
                return il__fail(why, cap, "corrupt PNG: a bit depth not allowed for its colour type");
            if (d[10] != 0 || d[11] != 0 || d[12] > 1) return il__fail(why, cap, "corrupt PNG: unknown compression, filter or interlace method");
            *w = (int)pw;
            *h = (int)ph;
            first = 0;
        } else if (memcmp(t, "IHDR", 4) == 0) {
            return il__fail(why, cap, "corrupt PNG: a second IHDR");
        } else if (memcmp(t, "CgBI", 4) == 0) {
            return il__fail(why, cap, "Apple CgBI PNG (iPhone-optimised): not supported");
        } else if (memcmp(t, "PLTE", 4) == 0) {
            if (len == 0 || len > 768 || len % 3) return il__fail(why, cap, "corrupt PNG: a palette of a size that is not 1 to 256 entries");
            plte = 1;
        } else if (memcmp(t, "IDAT", 4) == 0) {
            if (type == 3 && !plte) return il__fail(why, cap, "corrupt PNG: palette image data before its PLTE chunk");
            if (len == 0 && !idat) /* stb_image 2.27 would copy it to NULL + 0 (UB) */
                return il__fail(why, cap, "corrupt PNG: an empty IDAT chunk before any image data");
            idat = 1;
        } else if (memcmp(t, "IEND", 4) == 0) {
            if (!idat) return il__fail(why, cap, "corrupt PNG: no image data (IDAT)");
            return 1;
        } else if (!(t[0] & 0x20)) { /* a critical chunk stb_image does not know */
            return il__fail(why, cap, "corrupt PNG: an unknown critical chunk");
        }
        i += 12 + len;
    }
}

/* The pre-pass alone: 1 when `data` is a PNG or JPEG that stb_image 2.27 can decode safely
   (it may still find the compressed data corrupt, and say so), else 0 and why. *w and *h get
   the size the header claims when it could be read (else 0). */
static IL_UNUSED int il_check(const unsigned char *data, size_t size, int *w, int *h, char *why, size_t cap) {
    int dw = 0, dh = 0;
    int ok;
    if (!w) w = &dw;
    if (!h) h = &dh;
    *w = *h = 0;
    if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) ok = il__check_png(data, size, IL_MAX_SIDE, w, h, why, cap);
    else if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) ok = il__check_jpeg(data, size, IL_MAX_SIDE, w, h, why, cap);
    else ok = il__fail(why, cap, "not a JPEG or PNG image (the formats fnet reads)");
    return ok;
}

/* Decodes a PNG or JPEG from memory to `channels` (1 gray, 3 RGB, 4 RGBA) 8-bit channels.
   Returns 1 and fills *out, or 0 with why. */
static IL_UNUSED int il_decode_memory(const unsigned char *data, size_t size, int channels, il_image *out, char *why,
                                      size_t cap) {
    int w, h, n;
    memset(out, 0, sizeof *out);
    if (channels < 1 || channels > 4) return il__fail(why, cap, "channels must be 1 to 4");
    if (size > 0x7fffffff) return il__fail(why, cap, "file too large");
    if (!il_check(data, size, &w, &h, why, cap)) return 0;
    out->pixels = stbi_load_from_memory(data, (int)size, &w, &h, &n, channels);
    if (!out->pixels) {
        if (why && cap) snprintf(why, cap, "cannot decode image: %s", stbi_failure_reason());
        return 0;
    }
    out->width = w;
    out->height = h;
    out->channels = channels;
    return 1;
}

/* Reads the file at `path` (at most IL_MAX_FILE_BYTES) into *buf (free() it). 1, or 0 with why. */
static IL_UNUSED int il__read_file(const char *path, unsigned char **buf_out, size_t *size, char *why, size_t cap) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, got;
    *buf_out = NULL;
    *size = 0;
    if (!f) return il__fail(why, cap, "cannot open the file");
    for (;;) { /* read in growing blocks: works for pipes and refuses huge files early */
        size_t want = n ? n : 1 << 16;
        unsigned char *nb;
        if (n + want > IL_MAX_FILE_BYTES) want = IL_MAX_FILE_BYTES + 1 - n;
        nb = (unsigned char *)realloc(buf, n + want);
        if (!nb) {
            free(buf);
            fclose(f);
            return il__fail(why, cap, "out of memory");
        }
        buf = nb;
        got = fread(buf + n, 1, want, f);
        n += got;
        if (got < want) break;
        if (n > IL_MAX_FILE_BYTES) break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return il__fail(why, cap, "cannot read the file");
    }
    fclose(f);
    if (n > IL_MAX_FILE_BYTES) {
        free(buf);
        return il__fail(why, cap, "file larger than IL_MAX_FILE_BYTES (256 MB): not a photo fnet reads");
    }
    *buf_out = buf;
    *size = n;
    return 1;
}

/* Reads the file at `path` and decodes it as il_decode_memory: the pixels as stored. */
static IL_UNUSED int il_load(const char *path, int channels, il_image *out, char *why, size_t cap) {
    unsigned char *buf;
    size_t n;
    int ok;
    memset(out, 0, sizeof *out);
    if (!il__read_file(path, &buf, &n, why, cap)) return 0;
    ok = il_decode_memory(buf, n, channels, out, why, cap);
    free(buf);
    return ok;
}

/* The same in stb_image's shape, for callers that keep their own width and height: the
   pixels (free them with il_free_pixels) or NULL with why. */
static IL_UNUSED unsigned char *il_load_pixels(const char *path, int channels, int *w, int *h, char *why, size_t cap) {
    il_image im;
    if (!il_load(path, channels, &im, why, cap)) return NULL;
    *w = im.width;
    *h = im.height;
    return im.pixels;
}

static IL_UNUSED void il_free_pixels(unsigned char *pixels) {
    if (pixels) stbi_image_free(pixels);
}

static IL_UNUSED void il_free(il_image *im) {
    if (im->pixels) stbi_image_free(im->pixels);
    im->pixels = NULL;
}

#ifdef FACENET_H
/* il_decode_memory, then the photo turned upright as its JPEG's EXIF orientation says
   (facenet.h: fnet_jpeg_exif_orientation, fnet_image_orient), so that boxes and landmarks
   found in it are where a viewer shows the face. *orientation (NULL: not wanted) receives the
   tag that was applied (1: none). Needs facenet.h included before this file. */
static IL_UNUSED int il_decode_memory_upright(const unsigned char *data, size_t size, int channels, il_image *out,
                                             int *orientation, char *why, size_t cap) {
    int o = 1, w, h;
    unsigned char *up;
    if (orientation) *orientation = 1;
    if (!il_decode_memory(data, size, channels, out, why, cap)) return 0;
    fnet_jpeg_exif_orientation(data, size, &o);
    if (o == 1) return 1;
    up = (unsigned char *)STBI_MALLOC((size_t)out->width * out->height * channels); /* freed by il_free */
    if (!up) {
        il_free(out);
        return il__fail(why, cap, "out of memory");
    }
    fnet_image_orient(fnet_image_view(out->pixels, out->width, out->height, channels, 0), o, up, &w, &h);
    stbi_image_free(out->pixels);
    out->pixels = up;
    out->width = w;
    out->height = h;
    if (orientation) *orientation = o;
    return 1;
}

/* il_load, turned upright as il_decode_memory_upright. */
static IL_UNUSED int il_load_upright(const char *path, int channels, il_image *out, int *orientation, char *why,
                                     size_t cap) {
    unsigned char *buf;
    size_t n;
    int ok;
    memset(out, 0, sizeof *out);
    if (orientation) *orientation = 1;
    if (!il__read_file(path, &buf, &n, why, cap)) return 0;
    ok = il_decode_memory_upright(buf, n, channels, out, orientation, why, cap);
    free(buf);
    return ok;
}
#endif

#endif /* IMAGE_LOAD_H */
