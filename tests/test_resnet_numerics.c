/* dlib's ResNet-34 (resnet34.fnet, from face-api's weights) on facenet.h's engine against
   face-api's own descriptors computed in Node with tfjs (tests/golden/faceapi_descriptors.json,
   made by tools/make_resnet_golden.py): 8 real face chips (tests/golden/resnet_chips.png) and
   2 LCG noise images. The input is normalised as face-api does, (pixel - mean) / 255 in
   float32, and fed to fnet_embed_tensor; every element must agree within 1e-4, on every
   kernel set this CPU has. Also: fnet_embed (the blob's divisor 256) equals
   fnet_embed_tensor on (pixel - mean) / 256, the caller's workspace gives the same bits as
   work == NULL, a too-small workspace is refused. The sanitized run takes 3 inputs. */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb_image.h>

#include <math.h>

#define S 150
#define MAXIN 16

static const float MEAN[3] = {122.782f, 117.001f, 104.298f};

static void lcg_image(unsigned seed, unsigned char *px) {
    unsigned s = seed;
    int i;
    for (i = 0; i < S * S * 3; i++) {
        s = s * 1103515245u + 12345u;
        px[i] = (unsigned char)((s >> 16) & 255u);
    }
}

/* Minimal reader of the golden JSON: inputs in order ("chip": N or "lcg_seed": N), then the
   "descriptors" array of arrays of 128 numbers. Returns the number of inputs. */
static int read_golden(const char *json, int *chip, long *seed, float (*desc)[128]) {
    const char *p = strstr(json, "\"inputs\"");
    const char *d = strstr(json, "\"descriptors\"");
    int n = 0, k;
    if (!p || !d) return 0;
    while (n < MAXIN) {
        const char *c = strstr(p, "\"chip\":"), *l = strstr(p, "\"lcg_seed\":");
        if (c && c > d) c = NULL;
        if (l && l > d) l = NULL;
        if (!c && !l) break;
        if (c && (!l || c < l)) {
            chip[n] = (int)strtol(c + 7, NULL, 10);
            seed[n] = -1;
            p = c + 7;
        } else {
            chip[n] = -1;
            seed[n] = strtol(l + 11, NULL, 10);
            p = l + 11;
        }
        n++;
    }
    p = strchr(d, '[');
    for (k = 0; k < n; k++) {
        int i;
        p = p ? strchr(p + 1, '[') : NULL;
        if (!p) return 0;
        for (i = 0; i < 128; i++) {
            char *end;
            desc[k][i] = (float)strtod(p + 1, &end);
            if (end == p + 1) return 0;
            p = end;
            if (i < 127 && *p != ',') return 0;
        }
    }
    return n;
}

int main(void) {
    const char *wp = weights_path("resnet34.fnet");
    static float desc[MAXIN][128];
    static float input[S * S * 3], input256[S * S * 3];
    int chip[MAXIN];
    long seed[MAXIN];
    fnet_model *net = NULL;
    unsigned char *json, *chips = NULL, px[S * S * 3];
    size_t jsize = 0, wsize;
    void *work;
    int n, k, cw = 0, ch = 0, cn = 0, isa, limit;
    int sanitized = getenv("FNET_TEST_SANITIZED") != NULL;
    float worst_all = 0.0f;

    json = test_read_file("tests/golden/faceapi_descriptors.json", &jsize);
    CHECK(json != NULL, "tests/golden/faceapi_descriptors.json readable");
    if (!json) return test_finish();
    {
        unsigned char *z = (unsigned char *)realloc(json, jsize + 1);
        CHECK(z != NULL, "realloc");
        if (!z) return test_finish();
        json = z;
        json[jsize] = 0;
    }
    n = read_golden((const char *)json, chip, seed, desc);
    CHECK(n == 10, "golden has 10 inputs (got %d)", n);
    chips = stbi_load("tests/golden/resnet_chips.png", &cw, &ch, &cn, 3);
    CHECK(chips && cw == S && ch % S == 0, "resnet_chips.png: 150 wide, a multiple of 150 tall");
    if (!wp) {
        SKIP("resnet34.fnet not found in $FNET_WEIGHTS or weights/ (make weights)");
        free(json);
        stbi_image_free(chips);
        return test_finish();
    }
    CHECK(fnet_model_load_file(wp, &net) == FNET_OK, "load %s", wp);
    if (!net || !chips || n < 1) {
        fnet_model_free(net);
        free(json);
        stbi_image_free(chips);
        return test_finish();
    }
    CHECK(fnet_embed_input_size(net) == 150 && fnet_embed_dim(net) == 128, "150 px in, 128 out");
    CHECK(fnet_model_meta(net, "input_divisor") && strcmp(fnet_model_meta(net, "input_divisor"), "256") == 0,
          "blob divisor is dlib's 256");
    wsize = fnet_embed_workspace_size(net);
    work = malloc(wsize);
    CHECK(wsize > 0 && work != NULL, "workspace size %lu", (unsigned long)wsize);
    limit = sanitized ? 3 : n;

    for (isa = FNET_ISA_SCALAR; isa <= FNET_ISA_NEON; isa++) {
        float worst = 0.0f;
        if (!fnet_isa_supported((fnet_isa)isa)) continue;
        CHECK(fnet_model_set_isa(net, (fnet_isa)isa) == FNET_OK, "set isa %s", fnet_isa_name((fnet_isa)isa));
        for (k = 0; k < limit; k++) {
            float out[128], out2[128];
            int i;
            if (chip[k] >= 0) {
                if ((chip[k] + 1) * S > ch) { CHECK(0, "chip %d outside the PNG", chip[k]); continue; }
                memcpy(px, chips + (size_t)chip[k] * S * S * 3, sizeof px);
            } else {
                lcg_image((unsigned)seed[k], px);
            }
            for (i = 0; i < S * S * 3; i++) {
                input[i] = ((float)px[i] - MEAN[i % 3]) / 255.0f;
                input256[i] = ((float)px[i] - MEAN[i % 3]) / 256.0f;
            }
            CHECK(fnet_embed_tensor(net, input, work, wsize, out) == FNET_OK, "embed_tensor input %d", k);
            {
                float e = 0.0f;
                for (i = 0; i < 128; i++) {
                    float d = fabsf(out[i] - desc[k][i]);
                    if (!(d <= e)) e = d; /* NaN propagates as a failure */
                }
                CHECK(e <= 1e-4f, "%s input %d: max abs diff %.3g vs face-api > 1e-4",
                      fnet_isa_name((fnet_isa)isa), k, e);
                if (!(e <= worst)) worst = e;
            }
            if (k < 2) { /* the blob's own normalisation (divisor 256) = the tensor path on /256 */
                float e = 0.0f, moved = 0.0f;
                CHECK(fnet_embed(net, px, work, wsize, out2) == FNET_OK, "embed input %d", k);
                CHECK(fnet_embed_tensor(net, input256, NULL, 0, out) == FNET_OK, "embed_tensor /256 input %d", k);
                for (i = 0; i < 128; i++) {
                    if (fabsf(out[i] - out2[i]) > e) e = fabsf(out[i] - out2[i]);
                    if (fabsf(out2[i] - desc[k][i]) > moved) moved = fabsf(out2[i] - desc[k][i]);
                }
                CHECK(e <= 1e-6f, "fnet_embed (divisor 256) vs tensor path: %.3g", e);
                CHECK(moved > 1e-5f && moved < 5e-3f, "divisor 256 vs face-api's 255 moves the output by %.3g", moved);
            }
        }
        fprintf(stderr, "resnet vs face-api, %s: max abs diff %.3g over %d inputs\n", fnet_isa_name((fnet_isa)isa),
                worst, limit);
        if (worst > worst_all) worst_all = worst;
    }
    {
        float out[128];
        CHECK(fnet_embed_tensor(net, input, work, wsize - 1, out) == FNET_ERR_WORKSPACE_TOO_SMALL,
              "a workspace one byte short is refused");
        input[7] = NAN;
        CHECK(fnet_embed_tensor(net, input, NULL, 0, out) == FNET_ERR_NOT_FINITE, "NaN input refused");
    }
    fprintf(stderr, "resnet vs face-api: worst %.3g\n", worst_all);
    free(work);
    fnet_model_free(net);
    free(json);
    stbi_image_free(chips);
    return test_finish();
}
