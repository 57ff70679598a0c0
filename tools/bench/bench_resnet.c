/* bench_resnet.c - whole-pipeline milliseconds per LFW image, single thread:
   detect (upsample 1) -> 68 landmarks -> dlib 150 px chip -> ResNet-34 descriptor.

   bench_resnet WEIGHTS_DIR IMG... [--iters N]

   Each image is decoded once (not timed), then processed N times (default 3; the median is
   kept per image); prints per stage the mean over images of those medians, and the total:
   "pipeline detect <ms> landmarks <ms> align <ms> embed <ms> total <ms> ms/image (<n> images,
   <f> faces found)". Workspaces are allocated once (the embed and detect size queries). */
#define _POSIX_C_SOURCE 199309L
#define FNET_IMPLEMENTATION
#include "../../facenet.h"

#include "examples/image_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

static fnet_model *load(const char *dir, const char *name) {
    char p[4096];
    fnet_model *m = NULL;
    fnet_result r;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if ((r = fnet_model_load_file(p, &m)) != FNET_OK) fprintf(stderr, "bench_resnet: %s: %s\n", p, fnet_result_string(r));
    return m;
}

int main(int argc, char **argv) {
    int i, it, iters = 3, n_img = 0, faces = 0;
    fnet_model *det, *lm, *net;
    fnet_detect_opts dopts;
    double sum[5] = {0, 0, 0, 0, 0};
    void *ework, *dwork = NULL;
    size_t esize, dsize = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: bench_resnet WEIGHTS_DIR IMG... [--iters N]\n");
        return 2;
    }
    for (i = 2; i < argc; i++)
        if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) iters = atoi(argv[i + 1]);
    if (iters < 1 || iters > 1000) iters = 3;
    det = load(argv[1], "hog_frontal.fnet");
    lm = load(argv[1], "landmarks68.fnet");
    net = load(argv[1], "resnet34.fnet");
    if (!det || !lm || !net) return 1;
    memset(&dopts, 0, sizeof dopts);
    dopts.upsample = 1;
    esize = fnet_embed_workspace_size(net);
    ework = malloc(esize);
    for (i = 2; i < argc; i++) {
        int w, h, k;
        unsigned char *px;
        char why[256];
        double t[5][64];
        fnet_image img;
        if (strcmp(argv[i], "--iters") == 0) { i++; continue; }
        px = il_load_pixels(argv[i], 3, &w, &h, why, sizeof why);
        if (!px) { fprintf(stderr, "bench_resnet: %s: %s\n", argv[i], why); continue; }
        img = fnet_image_view(px, w, h, 3, 0);
        {
            size_t need = fnet_detect_workspace_size(det, w, h, &dopts);
            if (need > dsize) { free(dwork); dwork = malloc(need); dsize = need; }
        }
        for (it = 0; it < iters && it < 64; it++) {
            fnet_box boxes[16], box;
            fnet_point pts[68];
            static unsigned char chip[150 * 150 * 3];
            float emb[128];
            int nb = 0, best = -1;
            double t0 = now_ms(), t1, t2, t3, t4, bd = 0;
            fnet_result r = fnet_detect(det, img, &dopts, dwork, dsize, boxes, 16, &nb);
            t1 = now_ms();
            if (r != FNET_OK) {
                fprintf(stderr, "bench_resnet: detect: %s\n", fnet_result_string(r));
                return 1;
            }
            if (nb > 16) nb = 16;
            for (k = 0; k < nb; k++) { /* the face nearest the centre, as eval-lfw picks it */
                double cx = 0.5 * (boxes[k].left + boxes[k].right) - 0.5 * (w - 1);
                double cy = 0.5 * (boxes[k].top + boxes[k].bottom) - 0.5 * (h - 1);
                if (best < 0 || cx * cx + cy * cy < bd) { best = k; bd = cx * cx + cy * cy; }
            }
            if (best >= 0) box = boxes[best];
            else {
                int s = (int)(0.43 * (w < h ? w : h) + 0.5);
                memset(&box, 0, sizeof box);
                box.left = (w - s) / 2; box.top = (h - s) / 2;
                box.right = box.left + s - 1; box.bottom = box.top + s - 1;
            }
            if (it == 0) faces += best >= 0;
            r = fnet_landmarks(lm, img, box, pts);
            t2 = now_ms();
            if (r == FNET_OK) r = fnet_align(img, pts, 68, FNET_ALIGN_DLIB_CHIP, 150, chip);
            t3 = now_ms();
            if (r == FNET_OK) r = fnet_embed(net, chip, ework, esize, emb);
            t4 = now_ms();
            if (r != FNET_OK) {
                fprintf(stderr, "bench_resnet: %s: %s\n", argv[i], fnet_result_string(r));
                return 1;
            }
            t[0][it] = t1 - t0; t[1][it] = t2 - t1; t[2][it] = t3 - t2; t[3][it] = t4 - t3; t[4][it] = t4 - t0;
        }
        for (k = 0; k < 5; k++) sum[k] += median_ms(t[k], iters < 64 ? iters : 64);
        n_img++;
        stbi_image_free(px);
    }
    if (n_img)
        printf("pipeline detect %.3f landmarks %.3f align %.3f embed %.3f total %.3f ms/image (%d images, %d faces found, isa %s)\n",
               sum[0] / n_img, sum[1] / n_img, sum[2] / n_img, sum[3] / n_img, sum[4] / n_img, n_img, faces,
               fnet_isa_name(fnet_model_get_isa(net)));
    free(ework);
    free(dwork);
    fnet_model_free(det);
    fnet_model_free(lm);
    fnet_model_free(net);
    return n_img ? 0 : 1;
}
