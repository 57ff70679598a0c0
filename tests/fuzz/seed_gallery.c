/* seed_gallery.c - writes the seed corpus of fuzz_gallery: a gallery and a classifier of
   each kind built from real embeddings (nn4 on crops of real photos; synthetic embeddings
   when the blob is missing), each saved with the mode byte fuzz_gallery.c expects.
   usage: seed_gallery OUTDIR WEIGHTS_DIR PHOTO...      (run by tests/fuzz/run.sh) */
#define FNET_IMPLEMENTATION
#include "../../facenet.h"
#include "../../examples/image_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXE 64

static int write_seed(const char *dir, const char *name, int mode, const unsigned char *b, size_t n) {
    char path[4096];
    FILE *f;
    unsigned char m = (unsigned char)mode;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(&m, 1, 1, f);
    fwrite(b, 1, n, f);
    return fclose(f) == 0;
}

int main(int argc, char **argv) {
    static float emb[MAXE][128];
    int labels[MAXE], ne = 0, np = 0, a, i, k, dim = 128, written = 0;
    fnet_model *net = NULL;
    char path[4096];
    const char *netid = "nn4.small2.v1";
    fnet_gallery *g = NULL;
    size_t n;
    unsigned char *buf;
    if (argc < 3) {
        fprintf(stderr, "usage: seed_gallery OUTDIR WEIGHTS_DIR PHOTO...\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/nn4.small2.v1.fnet", argv[2]);
    if (fnet_model_load_file(path, &net) != FNET_OK || fnet_embed_input_size(net) <= 0) {
        fnet_model_free(net);
        net = NULL;
    }
    for (a = 3; a < argc && np < 8; a++) {
        int w, h, size = net ? fnet_embed_input_size(net) : 0;
        unsigned char *px = net ? il_load_pixels(argv[a], 3, &w, &h, NULL, 0) : NULL;
        if (!px) continue;
        for (k = 0; k < 4 && ne < MAXE; k++) { /* four nearest-neighbour crops around the centre */
            unsigned char *crop = (unsigned char *)malloc((size_t)size * size * 3);
            int side = (w < h ? w : h) * (5 + k) / 10, x0 = (w - side) / 2 + (k - 2) * side / 20, y0 = (h - side) / 2, x, y;
            if (x0 < 0) x0 = 0;
            for (y = 0; y < size; y++)
                for (x = 0; x < size; x++)
                    for (i = 0; i < 3; i++)
                        crop[(y * size + x) * 3 + i] = px[((size_t)(y0 + y * side / size) * w + (x0 + x * side / size)) * 3 + i];
            if (fnet_embed(net, crop, NULL, 0, emb[ne]) == FNET_OK) labels[ne++] = np;
            free(crop);
        }
        stbi_image_free(px);
        np++;
    }
    if (ne < 4) { /* no network: synthetic embeddings of 3 "people" */
        unsigned long x = 7;
        ne = 12;
        np = 3;
        for (i = 0; i < ne; i++) {
            labels[i] = i % 3;
            for (k = 0; k < dim; k++) {
                x = (x * 1103515245UL + 12345UL) & 0x7fffffffUL;
                emb[i][k] = (float)(labels[i] * 3 + (int)((x >> 16) % 7)) / 16.0f;
            }
        }
    }
    fnet_gallery_create(netid, dim, &g);
    for (i = 0; i < ne; i++) {
        char name[32];
        snprintf(name, sizeof name, "person %d", labels[i]);
        fnet_gallery_add(g, name, emb[i], 1);
    }
    if (g && fnet_gallery_save_memory(g, NULL, 0, &n) == FNET_OK && (buf = (unsigned char *)malloc(n)) != NULL) {
        if (fnet_gallery_save_memory(g, buf, n, &n) == FNET_OK) {
            written += write_seed(argv[1], "gallery", 0, buf, n);
            written += write_seed(argv[1], "gallery_fix", 1, buf, n);
        }
        free(buf);
    }
    fnet_gallery_free(g);
    for (k = FNET_CLASSIFIER_SOFTMAX; k <= FNET_CLASSIFIER_KNN; k++) {
        fnet_classifier *c = NULL;
        fnet_train_opts o;
        memset(&o, 0, sizeof o);
        o.epochs = 5;
        o.hidden = 8;
        if (fnet_classifier_train((fnet_classifier_kind)k, netid, &emb[0][0], labels, ne, dim, np, &o, &c) != FNET_OK)
            continue;
        fnet_classifier_set_class_name(c, 0, "first person");
        if (fnet_classifier_save_memory(c, NULL, 0, &n) == FNET_OK && (buf = (unsigned char *)malloc(n)) != NULL) {
            char name[32];
            if (fnet_classifier_save_memory(c, buf, n, &n) == FNET_OK) {
                snprintf(name, sizeof name, "classifier%d", k);
                written += write_seed(argv[1], name, 2, buf, n);
                snprintf(name, sizeof name, "classifier%d_fix", k);
                written += write_seed(argv[1], name, 3, buf, n);
            }
            free(buf);
        }
        fnet_classifier_free(c);
    }
    printf("seeds: %d gallery/classifier seeds (%d embeddings of %d photos%s) in %s\n", written, ne, np,
           net ? "" : ", synthetic: no nn4 blob", argv[1]);
    fnet_model_free(net);
    return 0;
}
