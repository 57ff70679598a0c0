/* fuzz_smallblob.c - libFuzzer target: the blob loader and every stage's prepare step on
   damaged SMALL complete blobs of each kind, each loaded model then run once (detect,
   landmarks on a box, embed a crop), as fuzz_blob.c does. The seeds are blobs of
   a few KB (tests/fuzz/seeds.py: HOG detectors with 2x2 and 2x3 filters, 5-point shape predictors
   with f32, f16 and i16 leaves, networks of every op type on an 8x8 input), so a mutation
   costs microseconds and reaches the stages' checks, where fuzz_blob.c's real blobs of
   megabytes allow tens of inputs a second.
   The models run on a 48x48 image (detectors: 40x40 of it; networks: inputs up to 32x32,
   workspaces up to 1 MB).
   Byte 0 holds options: bit 0 set fixes the header's file size and table CRC up after the
   mutation (so mutations reach the tables and the stages; clear: the checksum's refusals).
   The rest is the blob, in an exact-size 64-aligned heap block (zero-copy load: ASan sees
   any read past it). Nothing may crash, hang, leak or read out of bounds. */
#define LLVMFuzzerInitialize fuzz_smallblob_unused_init
#define LLVMFuzzerTestOneInput fuzz_smallblob_unused_one
#include "fuzz_blob.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput

/* fuzz_blob.c's exercise_with() on a small image, and embedding only for inputs up to 32x32
   with workspaces up to 1 MB: a mutated shape must not turn a small blob into seconds of
   arithmetic per input. */
static unsigned char g_small[48 * 48 * 3];

static void exercise_small(fnet_model *m) {
    fuzz_use u;
    u.px = g_small; u.w = u.h = 48; u.det_w = u.det_h = 40;
    u.box.left = 8; u.box.top = 6; u.box.right = 40; u.box.bottom = 38; u.box.score = 1; u.box.filter = 0;
    u.max_side = 32;
    u.max_work = 1u << 20;
    g_run_network = 1;
    exercise_with(m, &u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    void *p = NULL;
    fnet_model *m = NULL;
    static int ready;
    if (!ready) { /* a soft blob, as fuzz_blob.c's test image */
        int x, y, i;
        for (y = 0; y < 48; y++)
            for (x = 0; x < 48; x++)
                for (i = 0; i < 3; i++)
                    g_small[(y * 48 + x) * 3 + i] = (unsigned char)(128 + 100 * (1 - ((x - 24) * (x - 24) + (y - 22) * (y - 22)) / 600.0) * (i + 1) / 3);
        ready = 1;
    }
    if (size < 1) return 0;
    if (posix_memalign(&p, 64, size - 1 ? size - 1 : 1) != 0) return 0;
    memcpy(p, data + 1, size - 1);
    if (data[0] & 1) fix_header((unsigned char *)p, size - 1);
    if (fnet_model_load_memory(p, size - 1, &m) == FNET_OK) {
        exercise_small(m);
        fnet_model_free(m);
    }
    free(p);
    return 0;
}
