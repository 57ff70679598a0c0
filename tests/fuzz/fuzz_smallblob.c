/* fuzz_smallblob.c - libFuzzer target: the blob loader and every stage's prepare step on
   damaged SMALL complete blobs of each kind, each loaded model then run once (detect on a
   100x100 image, landmarks on a box, embed a crop), as fuzz_blob.c does. The seeds are blobs of
   a few KB (tests/fuzz/seeds.py: a HOG detector with 4x4 filters, 5-point shape predictors
   with f32, f16 and i16 leaves, networks of every op type on an 8x8 input), so a mutation
   costs microseconds and reaches the stages' checks, where fuzz_blob.c's real blobs of
   megabytes allow tens of inputs a second.
   Byte 0 holds options: bit 0 set fixes the header's file size and table CRC up after the
   mutation (so mutations reach the tables and the stages; clear: the checksum's refusals).
   The rest is the blob, in an exact-size 64-aligned heap block (zero-copy load: ASan sees
   any read past it). Nothing may crash, hang, leak or read out of bounds. */
#define LLVMFuzzerInitialize fuzz_smallblob_unused_init
#define LLVMFuzzerTestOneInput fuzz_smallblob_unused_one
#include "fuzz_blob.c"
#undef LLVMFuzzerInitialize
#undef LLVMFuzzerTestOneInput

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    void *p = NULL;
    static int ready;
    if (!ready) { /* the test image of fuzz_blob.c (its initializer would also load the real blobs) */
        int x, y, i;
        for (y = 0; y < 100; y++)
            for (x = 0; x < 100; x++)
                for (i = 0; i < 3; i++)
                    g_image[(y * 100 + x) * 3 + i] = (unsigned char)(128 + 100 * (1 - ((x - 50) * (x - 50) + (y - 45) * (y - 45)) / 2500.0) * (i + 1) / 3);
        ready = 1;
    }
    if (size < 1) return 0;
    g_run_network = 1; /* small networks embed in microseconds */
    if (posix_memalign(&p, 64, size - 1 ? size - 1 : 1) != 0) return 0;
    memcpy(p, data + 1, size - 1);
    if (data[0] & 1) fix_header((unsigned char *)p, size - 1);
    try_load((const unsigned char *)p, size - 1);
    free(p);
    return 0;
}
