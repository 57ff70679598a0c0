/* hello.c - are the faces in two photos the same person? (make; build/hello A.jpg B.jpg) */
#define FNET_IMPLEMENTATION /* in one .c file of your program */
#include "facenet.h"
#include "image_load.h" /* il_load: JPEG/PNG to RGB (stb_image behind a checking pre-pass) */
#include <stdio.h>
#include <stdlib.h>

static int ok(fnet_result r, const char *what) { /* every call says what went wrong */
    if (r != FNET_OK) fprintf(stderr, "hello: %s: %s\n", what, fnet_result_string(r));
    return r == FNET_OK;
}

/* The embedding of the photo's best face: detect, 68 landmarks, align, embed. */
static int embed_photo(fnet_model *det, fnet_model *lm, fnet_model *net, const char *path, float *emb) {
    il_image im;
    char why[256];
    fnet_box box;
    fnet_point pts[68];
    int n = 0, size = fnet_embed_input_size(net), done = 0;
    unsigned char *crop = (unsigned char *)malloc((size_t)size * size * 3);
    if (!il_load_upright(path, 3, &im, NULL, why, sizeof why)) { /* turned as its EXIF says */
        fprintf(stderr, "hello: %s: %s\n", path, why);
        free(crop);
        return 0;
    }
    fnet_image img = fnet_image_view(im.pixels, im.width, im.height, 3, 0); /* your pixels, not copied */
    if (ok(fnet_detect(det, img, NULL, NULL, 0, &box, 1, &n), path) && n == 0) /* box: the best face */
        fprintf(stderr, "hello: %s: no face found\n", path);
    else if (n > 0 && ok(fnet_landmarks(lm, img, box, pts), path) &&
             ok(fnet_align(img, pts, 68, fnet_embed_align_kind(net), size, crop), path)) /* as the blob says */
        done = ok(fnet_embed(net, crop, NULL, 0, emb), path); /* NULL workspace: allocates its own */
    il_free(&im);
    free(crop);
    return done;
}

int main(int argc, char **argv) {
    const char *a = argc > 2 ? argv[1] : "../shared/data/openface-examples/lennon-1.jpg";
    const char *b = argc > 2 ? argv[2] : "../shared/data/openface-examples/lennon-2.jpg";
    fnet_model *det = NULL, *lm = NULL, *net = NULL;
    float ea[FNET_MAX_EMBED_DIM], eb[FNET_MAX_EMBED_DIM], d = 0;
    int same = 0, rc = 1;
    if (ok(fnet_model_load_file("weights/hog_frontal.fnet", &det), "weights/hog_frontal.fnet") &&
        ok(fnet_model_load_file("weights/landmarks68.fnet", &lm), "weights/landmarks68.fnet") &&
        ok(fnet_model_load_file("weights/resnet34.fnet", &net), "weights/resnet34.fnet") &&
        embed_photo(det, lm, net, a, ea) && embed_photo(det, lm, net, b, eb) &&
        ok(fnet_verify(ea, eb, fnet_embed_dim(net), fnet_network_threshold(fnet_network_id(net)), &d, &same),
           "verify")) { /* the network's 1:1 threshold: 0.62 for the ResNet */
        printf("distance %.4f: %s\n", d, same ? "same person" : "different people");
        rc = 0;
    }
    fnet_model_free(det); /* NULL is fine */
    fnet_model_free(lm);
    fnet_model_free(net);
    return rc;
}
