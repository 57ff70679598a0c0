/* fuzz_jpeg.c - libFuzzer target: JPEG photos through fnet's decoding path (tests/fuzz/fuzz_image.h). */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_image_one(data, size, 0); }
