/* fuzz_calib.c - libFuzzer target: the calibration files `fnet calibrate` writes and
   identify, verify and cluster read (examples/cli_match.h, cm__read_calibration_from), on
   damaged and hostile text. The whole CLI is compiled in (its main renamed) so the parser
   is the one fnet runs; the input reaches it through fmemopen. A file that parses must hold a
   table fnet_impostor_table_check accepts, thresholds in their ranges, and give thresholds
   for 1 to 1,000,000 comparisons; a refusal must say why. Seeds: a calibration written by
   the CLI's own writer (tests/fuzz/seeds.py writes one in the same format). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fmemopen */
#endif
#define main fnet_cli_main
#include "../../examples/fnet.c"
#undef main

#include <stdint.h>

static void fuzz_calib_fail(const char *what) {
    fprintf(stderr, "fuzz_calib: %s\n", what);
    abort(); /* the fuzzer records the input */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cm_calibration c;
    const char *why = NULL;
    float thr = 0;
    double n;
    FILE *f;
    if (size == 0) return 0; /* fmemopen refuses an empty buffer */
    f = fmemopen((void *)(uintptr_t)data, size, "rb");
    if (!f) return 0;
    if (!cm__read_calibration_from(f, &c, &why)) {
        if (!why || !*why) fuzz_calib_fail("refused without a reason");
        return 0;
    }
    if (fnet_impostor_table_check(&c.table) != FNET_OK) fuzz_calib_fail("accepted a table the library refuses");
    if (!(c.verify_threshold > 0 && c.verify_threshold < 100) || !(c.eer >= 0 && c.eer <= 1))
        fuzz_calib_fail("accepted a threshold out of range");
    for (n = 1; n <= 1e6; n *= 10)
        if (fnet_far_threshold(&c.table, 0.01, n, &thr) != FNET_OK || !(thr > 0)) fuzz_calib_fail("no threshold from it");
    return 0;
}
