/* nn4_driver: runs facenet.h's embedding engine for tests/test_nn4_numerics.py.

       nn4_driver BLOB ISA N [u8]  < N*H*W*3 float32 (little-endian, HWC, already normalised),
                                     or with u8: N*H*W*3 bytes (aligned RGB crops, fnet_embed)
                                   > N*D float32 embeddings

   ISA: scalar | sse2 | avx2 | neon | auto. Exit codes: 0 ok, 1 failure, 2 usage,
   3 kernel set not available here, 4 engine not implemented (FNET_ERR_UNSUPPORTED). */
#define FNET_IMPLEMENTATION
#include "facenet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    fnet_model *m = NULL;
    fnet_isa isa;
    fnet_result r;
    int n, i, side, dim;
    size_t in_count, ws;
    float *in = NULL, *out = NULL;
    void *work = NULL;
    int rc = 1, u8 = 0;
    unsigned char *in8 = NULL;
    if (argc == 5 && !strcmp(argv[4], "u8")) u8 = 1;
    else if (argc != 4) {
        fprintf(stderr, "usage: nn4_driver BLOB scalar|sse2|avx2|neon|auto N < inputs\n");
        return 2;
    }
    if (!strcmp(argv[2], "scalar")) isa = FNET_ISA_SCALAR;
    else if (!strcmp(argv[2], "sse2")) isa = FNET_ISA_SSE2;
    else if (!strcmp(argv[2], "avx2")) isa = FNET_ISA_AVX2;
    else if (!strcmp(argv[2], "neon")) isa = FNET_ISA_NEON;
    else if (!strcmp(argv[2], "auto")) isa = FNET_ISA_AUTO;
    else { fprintf(stderr, "unknown isa %s\n", argv[2]); return 2; }
    n = atoi(argv[3]);
    if (n < 1 || n > 10000) { fprintf(stderr, "bad N\n"); return 2; }
    r = fnet_model_load_file(argv[1], &m);
    if (r != FNET_OK) { fprintf(stderr, "load %s: %s\n", argv[1], fnet_result_string(r)); return 1; }
    if (!fnet_isa_supported(isa) || fnet_model_set_isa(m, isa) != FNET_OK) {
        fprintf(stderr, "kernel set %s not available\n", argv[2]);
        fnet_model_free(m);
        return 3;
    }
    side = fnet_embed_input_size(m);
    dim = fnet_embed_dim(m);
    if (side <= 0 || dim <= 0) {
        fprintf(stderr, "engine not implemented (input size %d, dim %d)\n", side, dim);
        fnet_model_free(m);
        return 4;
    }
    in_count = (size_t)side * (size_t)side * 3u;
    in = (float *)malloc(in_count * sizeof(float));
    in8 = (unsigned char *)malloc(in_count);
    out = (float *)malloc((size_t)dim * sizeof(float));
    ws = fnet_embed_workspace_size(m);
    work = ws ? malloc(ws) : NULL;
    if (!in || !in8 || !out || (ws && !work)) { fprintf(stderr, "out of memory\n"); goto done; }
    for (i = 0; i < n; i++) {
        if (u8 ? fread(in8, 1, in_count, stdin) != in_count
               : fread(in, sizeof(float), in_count, stdin) != in_count) {
            fprintf(stderr, "short input at %d\n", i);
            goto done;
        }
        r = u8 ? fnet_embed(m, in8, work, ws, out) : fnet_embed_tensor(m, in, work, ws, out);
        if (r == FNET_ERR_UNSUPPORTED) { fprintf(stderr, "fnet_embed_tensor: %s\n", fnet_result_string(r)); rc = 4; goto done; }
        if (r != FNET_OK) { fprintf(stderr, "fnet_embed_tensor: %s\n", fnet_result_string(r)); goto done; }
        fwrite(out, sizeof(float), (size_t)dim, stdout);
    }
    rc = 0;
done:
    free(in);
    free(in8);
    free(out);
    free(work);
    fnet_model_free(m);
    return rc;
}
