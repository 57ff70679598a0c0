/* test_fuzz_regress.c - replays every input in tests/fuzz/regress/blob/, pipeline/,
   gallery/, jpeg/, png/ and imglab/ (inputs that once crashed a fuzz target: `make fuzz`;
   the jpeg/ and png/ ones are written by tests/fuzz/make_image_regress.py) through
   the same code as the fuzz targets, here under the normal build and ASan+UBSan (tests/run.sh).
   A regression shows as a sanitizer report or a crash, which tests/run.sh counts as a failure.
   A few hand-made hostile inputs are replayed too, so the test runs the targets even when
   no crash has been recorded. */
#define _POSIX_C_SOURCE 200809L
#define LLVMFuzzerInitialize fuzz_blob_init
#define LLVMFuzzerTestOneInput fuzz_blob_one
#include "fuzz/fuzz_blob.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerInitialize fuzz_pipeline_init
#define LLVMFuzzerTestOneInput fuzz_pipeline_one
#include "fuzz/fuzz_pipeline.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_gallery_one
#include "fuzz/fuzz_gallery.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_jpeg_one
#include "fuzz/fuzz_jpeg.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_png_one
#include "fuzz/fuzz_png.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_imglab_one
#include "fuzz/fuzz_imglab.c"
#undef LLVMFuzzerTestOneInput
#include "fnet_test.h"

#include <dirent.h>

static int replay_dir(const char *dir, int (*one)(const uint8_t *, size_t)) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        unsigned char *buf;
        size_t size = 0;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        buf = test_read_file(path, &size);
        if (!buf) continue;
        one(buf, size);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

int main(void) {
    int nb, np, ng, nj, npng, nx, i;
    static const char *const xml[] = {
        /* hand-made hostile imglab XML: truncations, nesting, entities, numbers, quotes */
        "<dataset><images><image file='a.jpg'><box top='1' left='2' width='3' height='4'><part name='0",
        "<dataset><images><image file='a.jpg'><box top='99999999999999999999' left='2' width='3' height='4'/>",
        "<dataset><images><image file='&#x110000;&#0;&#xFFFFFFFFFF;&bogus;&amp'/></images></dataset>",
        "<dataset><images><image file=\"a.jpg'></images></dataset>",
        "<!-- unterminated comment <dataset>",
        "<?xml <dataset></dataset>",
        "<dataset><images><image file='a'><box top='1' left='1' width='1' height='1'><label>"
        "0123456789012345678901234567890123456789012345678901234567890123456789</label></box></image></images></dataset>",
        "<dataset><images><image file='a'><box top='-2147483648' left='2147483647' width='-1' height='0'>"
        "<part name='a' x='nan' y='1e999'/><part name='a' x='1' y='2'/></box></image></images></dataset>",
        "</dataset>", "<", "<>", "<a b='", "<dataset><images></image></images></dataset>", ""};
    unsigned char in[64 + 22];
    fuzz_blob_init(NULL, NULL);
    fuzz_pipeline_init(NULL, NULL);
    nb = replay_dir("tests/fuzz/regress/blob", fuzz_blob_one);
    np = replay_dir("tests/fuzz/regress/pipeline", fuzz_pipeline_one);
    ng = replay_dir("tests/fuzz/regress/gallery", fuzz_gallery_one);
    nj = replay_dir("tests/fuzz/regress/jpeg", fuzz_jpeg_one);
    npng = replay_dir("tests/fuzz/regress/png", fuzz_png_one);
    nx = replay_dir("tests/fuzz/regress/imglab", fuzz_imglab_one);
    for (i = 0; i < (int)(sizeof xml / sizeof xml[0]); i++) { /* exact-size copies: ASan sees a read past the end */
        size_t n = strlen(xml[i]);
        char *c = (char *)malloc(n ? n : 1);
        memcpy(c, xml[i], n);
        fuzz_imglab_one((const uint8_t *)c, n);
        free(c);
    }
    {   /* 70 levels of nesting (the reader allows 64) */
        char deep[70 * 3 + 1];
        for (i = 0; i < 70; i++) memcpy(deep + 3 * i, "<a>", 3);
        fuzz_imglab_one((const uint8_t *)deep, 70 * 3);
    }
    printf("replayed %d blob, %d pipeline, %d gallery, %d jpeg, %d png and %d imglab inputs (+%d hand-made XML)\n", nb,
           np, ng, nj, npng, nx, (int)(sizeof xml / sizeof xml[0]) + 1);
    CHECK(nj >= 40 && npng >= 15, "the hostile images are there (%d jpeg, %d png; tests/fuzz/make_image_regress.py)", nj,
          npng);
    /* hand-made: garbage blobs in modes 0 and 1, a patch of every real blob's tables */
    for (i = 0; i < 6; i++) {
        memset(in, 0xA5, sizeof in);
        in[0] = (unsigned char)i;
        memcpy(in + 1, "FNETBLOB", 8);
        fuzz_blob_one(in, sizeof in);
    }
    /* hand-made: 1x1 gray, 200x1 RGBA with a padded stride, a box at INT_MIN/INT_MAX */
    memset(in, 0, sizeof in);
    fuzz_pipeline_one(in, sizeof in);
    in[0] = 199; in[4] = 2 | (7 << 2); in[5] = 1 | 6;
    fuzz_pipeline_one(in, sizeof in);
    memset(in + 6, 0x7f, 16);
    in[6] = 0; in[7] = 0; in[8] = 0; in[9] = 0x80;
    fuzz_pipeline_one(in, sizeof in);
    /* hand-made: a gallery header claiming 2^24 embeddings of 4096 floats, CRC fixed */
    {
        unsigned char gal[1 + 72 + 16];
        memset(gal, 0, sizeof gal);
        gal[0] = 1;
        memcpy(gal + 1, "FNETGALR", 8);
        gal[1 + 8] = 1;
        gal[1 + 12] = 4; gal[1 + 13] = 3; gal[1 + 14] = 2; gal[1 + 15] = 1;
        gal[1 + 17] = 0x10;                   /* dim 4096 */
        gal[1 + 20] = 1;                      /* 1 person */
        gal[1 + 27] = 1;                      /* 2^24 embeddings */
        memcpy(gal + 1 + 40, "nn4.small2.v1", 13);
        gal[1 + 72] = 4; gal[1 + 76] = 0xff; gal[1 + 77] = 0xff; /* name of 4 bytes, 65535 embeddings */
        memcpy(gal + 1 + 80, "abcd", 4);
        fuzz_gallery_one(gal, sizeof gal);
        gal[0] = 3;
        memcpy(gal + 1, "FNETCLSF", 8);
        fuzz_gallery_one(gal, sizeof gal);
    }
    /* a crash or sanitizer report ends the process before the closing line (a failure in
       tests/run.sh); here: every target has inputs to replay, minimised from a fuzz run
       (`FUZZ_REGRESS=1 make fuzz`, gallery) or hand-made (the others) */
    CHECK(ng >= 20, "minimised gallery inputs (FUZZ_REGRESS=1 make fuzz): %d", ng);
    (void)nb; (void)np; (void)nx; /* hand-made inputs above cover blob, pipeline and imglab */
    fnet_model_free(g_det);
    fnet_model_free(g_lm);
    fnet_model_free(g_net);
    for (i = 0; i < 4; i++) free(g_blob[i]);
    return test_finish();
}
