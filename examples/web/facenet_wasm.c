/* facenet_wasm.c - facenet.h as a WebAssembly library (build/wasm/facenet.wasm).

   The exports are thin wrappers over the public API, shaped for JavaScript: plain numbers
   and pointers into the module's memory, no structs passed by value. facenet.mjs (the ES
   module next to this file) is the user-facing side; read it for the calling conventions.

   Built as a WASI "reactor" (clang --target=wasm32-wasi -mexec-model=reactor): no main();
   the host calls _initialize() once (libc's constructors), then any export. Memory grows on
   demand (malloc -> memory.grow) up to the linker's --max-memory; when it cannot grow,
   malloc returns NULL and facenet.h returns FNET_ERR_OUT_OF_MEMORY: an error, not a trap.

   Nothing here keeps state between calls: every object lives behind a pointer that
   JavaScript owns and frees (models, galleries, buffers). */
#define _POSIX_C_SOURCE 200112L /* posix_memalign */
#define FNET_IMPLEMENTATION
#define FNET_NO_STDIO /* no files in a browser: blobs arrive as bytes */
#include "facenet.h"

#include <stdlib.h>
#include <string.h>

#define FW_EXPORT(name) __attribute__((export_name(#name))) /* clang, wasm32 */

/* ---- memory ---- */

/* 64-byte aligned bytes (NULL when the memory cannot grow). A weight blob copied into such
   a buffer is used in place by fnet_model_load_memory (zero-copy): one copy in all. */
FW_EXPORT(fw_alloc) void *fw_alloc(size_t size) {
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 1) != 0) return NULL;
    return p;
}
FW_EXPORT(fw_free) void fw_free(void *p) { free(p); }

/* ---- results ---- */
FW_EXPORT(fw_result_string) const char *fw_result_string(int r) {
    return fnet_result_string((fnet_result)r);
}

/* ---- models ---- */

/* Loads the blob at `blob` (size bytes) and writes the model to *out. */
FW_EXPORT(fw_model_load) int fw_model_load(const void *blob, size_t size, fnet_model **out) {
    return fnet_model_load_memory(blob, size, out);
}
FW_EXPORT(fw_model_free) void fw_model_free(fnet_model *m) { fnet_model_free(m); }
FW_EXPORT(fw_model_kind) int fw_model_kind(const fnet_model *m) { return (int)fnet_model_get_kind(m); }
FW_EXPORT(fw_model_zero_copy) int fw_model_zero_copy(const fnet_model *m) { return fnet_model_is_zero_copy(m); }
FW_EXPORT(fw_model_meta) const char *fw_model_meta(const fnet_model *m, const char *key) {
    return fnet_model_meta(m, key);
}
FW_EXPORT(fw_model_isa) int fw_model_isa(const fnet_model *m) { return (int)fnet_model_get_isa(m); }
FW_EXPORT(fw_isa_name) const char *fw_isa_name(int isa) { return fnet_isa_name((fnet_isa)isa); }
FW_EXPORT(fw_landmarks_count) int fw_landmarks_count(const fnet_model *m) { return fnet_landmarks_count(m); }
FW_EXPORT(fw_embed_input_size) int fw_embed_input_size(const fnet_model *m) { return fnet_embed_input_size(m); }
FW_EXPORT(fw_embed_dim) int fw_embed_dim(const fnet_model *m) { return fnet_embed_dim(m); }
FW_EXPORT(fw_embed_workspace_size) size_t fw_embed_workspace_size(const fnet_model *m) {
    return fnet_embed_workspace_size(m);
}
FW_EXPORT(fw_network_id) const char *fw_network_id(const fnet_model *m) { return fnet_network_id(m); }
FW_EXPORT(fw_network_threshold) float fw_network_threshold(const char *network, int kind) {
    return fnet_network_threshold_for(network, (fnet_threshold_kind)kind);
}

/* ---- detection: boxes are written as 6 int32 each (left, top, right, bottom, score as
   float bits, filter), i.e. fnet_box's own layout on wasm32, checked here. ---- */
typedef char fw__box_is_24_bytes[sizeof(fnet_box) == 24 ? 1 : -1];

FW_EXPORT(fw_detect) int fw_detect(const fnet_model *det, const unsigned char *px, int w, int h,
                                   int channels, int stride, int upsample, float threshold,
                                   fnet_box *boxes, int max_boxes, int *n_boxes) {
    fnet_detect_opts o;
    memset(&o, 0, sizeof o); /* every field zero first: fields added later keep their defaults */
    o.upsample = upsample;
    o.threshold = threshold;
    return fnet_detect(det, fnet_image_view(px, w, h, channels, stride), &o, NULL, 0, boxes,
                       max_boxes, n_boxes);
}

/* ---- landmarks: points are float pairs (x, y) ---- */
FW_EXPORT(fw_landmarks) int fw_landmarks(const fnet_model *lm, const unsigned char *px, int w, int h,
                                         int channels, int stride, const fnet_box *box,
                                         fnet_point *points) {
    if (!box) return FNET_ERR_INVALID_ARGUMENT;
    return fnet_landmarks(lm, fnet_image_view(px, w, h, channels, stride), *box, points);
}

/* ---- alignment ---- */
FW_EXPORT(fw_align) int fw_align(const unsigned char *px, int w, int h, int channels, int stride,
                                 const fnet_point *points, int n_points, int kind, int size,
                                 unsigned char *out_rgb) {
    return fnet_align(fnet_image_view(px, w, h, channels, stride), points, n_points,
                      (fnet_align_kind)kind, size, out_rgb);
}

/* ---- embeddings ---- */
FW_EXPORT(fw_embed) int fw_embed(const fnet_model *net, const unsigned char *rgb, void *work,
                                 size_t work_size, float *out) {
    return fnet_embed(net, rgb, work, work_size, out);
}

/* ---- matching ---- */
FW_EXPORT(fw_distance) float fw_distance(const float *a, const float *b, int dim) {
    return fnet_distance(a, b, dim);
}

FW_EXPORT(fw_gallery_create) int fw_gallery_create(const char *network, int dim, fnet_gallery **out) {
    return fnet_gallery_create(network, dim, out);
}
FW_EXPORT(fw_gallery_free) void fw_gallery_free(fnet_gallery *g) { fnet_gallery_free(g); }
FW_EXPORT(fw_gallery_count) int fw_gallery_count(const fnet_gallery *g) { return fnet_gallery_count(g); }
FW_EXPORT(fw_gallery_network) const char *fw_gallery_network(const fnet_gallery *g) {
    return fnet_gallery_network(g);
}
FW_EXPORT(fw_gallery_dim) int fw_gallery_dim(const fnet_gallery *g) { return fnet_gallery_dim(g); }
FW_EXPORT(fw_gallery_add) int fw_gallery_add(fnet_gallery *g, const char *name, const float *emb, int n) {
    return fnet_gallery_add(g, name, emb, n);
}
FW_EXPORT(fw_gallery_remove) int fw_gallery_remove(fnet_gallery *g, const char *name) {
    return fnet_gallery_remove(g, name);
}
/* Person i's name and embedding count (the embeddings stay inside the gallery). */
FW_EXPORT(fw_gallery_person) int fw_gallery_person(const fnet_gallery *g, int i, const char **name, int *n) {
    const float *e;
    return fnet_gallery_person(g, i, name, &e, n);
}
/* matches: k entries of (person int32, distance float32, accepted int32, score float32) =
   fnet_match. */
typedef char fw__match_is_16_bytes[sizeof(fnet_match) == 16 ? 1 : -1];
FW_EXPORT(fw_identify) int fw_identify(const fnet_gallery *g, const float *probe, int dim, float threshold,
                                       fnet_match *matches, int k, int *n_matches) {
    return fnet_identify(g, probe, dim, threshold, matches, k, n_matches);
}
FW_EXPORT(fw_gallery_save) int fw_gallery_save(const fnet_gallery *g, void *buf, size_t cap, size_t *size) {
    return fnet_gallery_save_memory(g, buf, cap, size);
}
FW_EXPORT(fw_gallery_load) int fw_gallery_load(const void *data, size_t size, fnet_gallery **out) {
    return fnet_gallery_load_memory(data, size, out);
}
