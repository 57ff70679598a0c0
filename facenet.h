/* facenet.h - v0.1 - face detection, landmarks, alignment and embeddings in one C99 header.

   The whole FaceNet/OpenFace pipeline, dependency-free (libc and libm only):

       image --detect--> boxes --landmarks--> 68 points --align--> crop --embed--> 128-d
             (HOG+SVM)         (regression trees)         (affine)        (CNN)

   0. Images    the caller's pixels; a JPEG's EXIF orientation read and applied.
   1. Detect    HOG + linear SVM over an image pyramid (dlib's frontal face detector).
   2. Landmarks ensemble of regression trees, 68 points (dlib's shape predictor).
   3. Align     affine warp to a canonical crop (OpenFace 96x96, dlib face chip 150x150).
   4. Embed     a small network engine reading a flat weight blob: OpenFace nn4.small2
                and dlib's ResNet-34 face descriptor.
   5. Match     distances, verify, identify, cluster.
   6. Learn     backpropagation and triplet training of the networks; and the trainers of
                the classic stages: 1b the detector (structural SVM), 2b the shape
                predictor (Kazemi & Sullivan's regression trees).

   USAGE
   Do this in *one* C or C++ file to create the implementation:

       #define FNET_IMPLEMENTATION
       #include "facenet.h"

   Every other file includes "facenet.h" without the define. Optional defines, placed before
   the #include that has FNET_IMPLEMENTATION:

       FNET_MALLOC(sz) / FNET_REALLOC(p,sz) / FNET_FREE(p)   your allocator (define all three)
       FNET_ASSERT(x)       internal consistency checks (default: nothing; the library
                            never aborts; define it to assert() while debugging)
       FNET_NO_SIMD         scalar kernels only (every SIMD kernel has a scalar twin)
       FNET_NO_STDIO        leave out fnet_model_load_file()
       FNET_API             linkage of the public functions (default: extern)
       FNET_NO_MMAP         fnet_model_load_file() reads with fread instead of mapping the
                            file (mapping is POSIX-only; on Windows and bare metal the
                            blob is always read with fread)
       FNET_NO_AVX512       keep the x86 convolution kernels to AVX2 on CPUs with AVX-512F
       FNET_NO_WINOGRAD     direct 3x3 convolutions everywhere (no Winograd F(2x2, 3x3))
       FNET_MAX_IMAGE_SIDE  largest accepted image width/height (default 16384)
       FNET_MAX_BLOB_SIZE   largest accepted weight blob in bytes (default 1 GiB)

   THE CONTRACT
   - Nothing prints, exits or aborts. Every fallible call returns an fnet_result;
     fnet_result_string() says what went wrong and what to do about it.
   - No global mutable state. A loaded fnet_model is read-only: any number of threads may
     use one model at once, each with its own workspace.
   - Option structs (fnet_detect_opts, fnet_embed_opts, ...) start from all zeros (memset, or
     `= {0}`): zero is every field's default, and fields added later keep that meaning.
   - Calls that need scratch memory take (work, work_size) sized by a *_workspace_size()
     query; they do not allocate. Passing work == NULL makes the call allocate and free its
     own scratch (convenient, not allocation-free).
   - No threads of its own: a caller may lend its thread pool to one call (opts.parallel of
     fnet_detect and fnet_embed_batch: a parallel-for callback); results are bit-identical
     for any number of workers.

   NAMES
   Objects are opaque handles with _create/_load/_free; a property is read by
   fnet_OBJECT_PROPERTY (fnet_embed_dim, fnet_gallery_count, fnet_trainer_learning_rate).
   "_get_" appears only where the plain name is taken: the property's type has that name
   (fnet_model_get_kind, fnet_classifier_get_kind: fnet_model_kind is the enum), or a
   setter pairs with it (fnet_model_get_isa / fnet_model_set_isa).

   SIMD DISPATCH
   x86: SSE2 and AVX2+FMA kernels are compiled with function target attributes (no -m flags
   needed) and one is picked at run time from cpuid when the model is loaded. ARM: NEON is
   used when the compiler targets it (__ARM_NEON) on little-endian ARM; big-endian ARM uses
   the scalar kernels. WebAssembly: the SIMD128 kernels (clang's <wasm_simd128.h> intrinsics)
   when the compiler targets SIMD128 (-msimd128, __wasm_simd128__); a wasm engine has no
   run-time feature query, so a module built without it runs the scalar kernels.
   fnet_model_set_isa() forces a kernel set
   (the tests use it to compare every SIMD kernel with its scalar twin). FNET_NO_SIMD builds
   the scalar kernels only.

   LICENSE: MIT (see end of file). The model weights have their own licenses (README.md).
*/

#ifndef FACENET_H
#define FACENET_H

#include <stddef.h>

#define FNET_VERSION_MAJOR 0
#define FNET_VERSION_MINOR 1
#define FNET_BLOB_VERSION 1 /* the weight blob format version this header reads */

#ifndef FNET_API
#ifdef __cplusplus
#define FNET_API extern "C"
#else
#define FNET_API extern
#endif
#endif

/* ==== Public API: results ================================================================ */

typedef enum fnet_result {
    FNET_OK = 0,
    FNET_ERR_INVALID_ARGUMENT = -1,   /* a NULL pointer or an out-of-range value */
    FNET_ERR_OUT_OF_MEMORY = -2,
    FNET_ERR_IO = -3,                 /* a file could not be opened, read or written */
    FNET_ERR_BAD_MAGIC = -4,          /* not a facenet.h blob (or gallery) */
    FNET_ERR_VERSION = -5,            /* blob written for another format version */
    FNET_ERR_TRUNCATED = -6,          /* file shorter than its header says */
    FNET_ERR_CORRUPT = -7,            /* inconsistent offsets, sizes, checksum or values */
    FNET_ERR_WRONG_MODEL = -8,        /* e.g. a landmarks blob passed to fnet_detect */
    FNET_ERR_BAD_IMAGE = -9,          /* NULL pixels, zero size, bad channels or stride */
    FNET_ERR_IMAGE_TOO_LARGE = -10,   /* width or height above FNET_MAX_IMAGE_SIDE */
    FNET_ERR_WORKSPACE_TOO_SMALL = -11,
    FNET_ERR_UNSUPPORTED = -12,       /* feature or kernel set not available here */
    FNET_ERR_NOT_FINITE = -13,        /* NaN or infinity in an input */
    FNET_ERR_NOT_FOUND = -14,
    FNET_ERR_DUPLICATE = -15,
    FNET_ERR_MISMATCH = -16,          /* embeddings of different networks or dimensions */
    FNET_ERR_TOO_LARGE = -17          /* a size above a documented limit */
} fnet_result;

/* A sentence about the result that names the fix. Never NULL. */
FNET_API const char *fnet_result_string(fnet_result r);

/* ==== Public API: the caller's threads ================================================== */

/* The library keeps no threads of its own. A caller with a thread pool (a game engine, a
   server) lends it through a parallel-for callback: the library cuts a call into independent
   tasks, the callback runs fn(ctx, i) for every i in 0..n_tasks-1, in any order, on any of
   its threads, and returns when all have finished. Tasks write disjoint memory and every
   output is computed by the same arithmetic whichever task computes it, so results are
   bit-identical for any number of workers (and with no callback at all).

   examples/thread_pool.h is a persistent pthread pool whose tp_run is such a callback; the
   simplest one starts a thread per task (a call never hands out more than `workers` tasks):
       struct job { fnet_task_fn fn; void *ctx; int i; };
       static void *trampoline(void *p) { struct job *j = p; j->fn(j->ctx, j->i); return NULL; }
       static void run(void *user, int n, fnet_task_fn fn, void *ctx) {
           pthread_t th[FNET_MAX_WORKERS]; struct job j[FNET_MAX_WORKERS]; int i;
           for (i = 0; i < n; i++) { j[i].fn = fn; j[i].ctx = ctx; j[i].i = i;
                                     pthread_create(&th[i], NULL, trampoline, &j[i]); }
           for (i = 0; i < n; i++) pthread_join(th[i], NULL);
       }
       fnet_detect_opts o = {0};
       o.parallel.run = run; o.parallel.workers = 2;
   Each task has its own scratch in the workspace: the *_workspace_size() functions take the
   same options and grow with `workers` (so size the workspace with the options you call with). */
typedef void (*fnet_task_fn)(void *ctx, int task);
typedef void (*fnet_parallel_for_fn)(void *user, int n_tasks, fnet_task_fn fn, void *ctx);

#define FNET_MAX_WORKERS 64

typedef struct fnet_parallel {
    fnet_parallel_for_fn run; /* NULL (or workers <= 1): everything on the calling thread */
    void *user;               /* passed to run */
    int workers;              /* the caller's threads for this call (1..FNET_MAX_WORKERS; more
                                 are taken as FNET_MAX_WORKERS): calls hand out up to this many
                                 tasks at once, each with its own scratch */
} fnet_parallel;

/* ==== Public API: images ================================================================= */

/* A view of the caller's pixels: 8-bit gray (channels 1), RGB (3) or RGBA (4, alpha ignored),
   rows `stride` bytes apart (stride 0 means width * channels). Nothing is copied. */
typedef struct fnet_image {
    const unsigned char *pixels;
    int width, height;
    int channels;
    int stride;
} fnet_image;

FNET_API fnet_image fnet_image_view(const unsigned char *pixels, int width, int height,
                                    int channels, int stride);

/* Phone cameras store the pixels as the sensor saw them and record in the JPEG's EXIF block
   (APP1 "Exif", TIFF tag 0x0112) how to turn them for display; decoders such as stb_image
   ignore it, so a face may reach fnet_detect lying on its side. For callers that decode
   themselves: the orientation of a JPEG file held in memory, 1..8:
     1 upright               2 mirrored left-right    3 turned 180 degrees   4 mirrored top-bottom
     5 transposed (mirrored along the main diagonal)  6 display turned 90 degrees clockwise
     7 transversed (the other diagonal)               8 display turned 90 degrees counter-clockwise
   Data that is not a JPEG, has no orientation tag, or whose EXIF block is damaged or holds a
   value outside 1..8 gives 1 (the photo as stored) and FNET_OK; NULL data (with size > 0) or
   orientation: FNET_ERR_INVALID_ARGUMENT. Reads nothing outside data[0, size). */
FNET_API fnet_result fnet_jpeg_exif_orientation(const void *data, size_t size, int *orientation);
/* Writes img turned upright as `orientation` (1..8, above) says into out: packed rows, the
   same channels, width * height * channels bytes. Orientations 5..8 swap width and height;
   *out_width and *out_height (either may be NULL) receive the upright size. Upright
   coordinates map back to stored ones as fnet_orient_point says. */
FNET_API fnet_result fnet_image_orient(fnet_image img, int orientation, unsigned char *out,
                                       int *out_width, int *out_height);
/* The stored-image pixel (*sx, *sy) shown at upright pixel (x, y) of an image stored
   width x height (before turning). FNET_ERR_INVALID_ARGUMENT for an orientation outside 1..8. */
FNET_API fnet_result fnet_orient_point(int orientation, int width, int height, float x, float y,
                                       float *sx, float *sy);

/* ==== Public API: models (weight blobs) ================================================== */

typedef struct fnet_model fnet_model;

typedef enum fnet_model_kind {
    FNET_MODEL_DETECTOR = 1,  /* HOG filters of the face detector */
    FNET_MODEL_LANDMARKS = 2, /* regression-tree cascade of the shape predictor */
    FNET_MODEL_NETWORK = 3    /* op graph + weights of an embedding network */
} fnet_model_kind;

typedef enum fnet_isa {
    FNET_ISA_AUTO = 0, /* best available (the default after loading) */
    FNET_ISA_SCALAR = 1,
    FNET_ISA_SSE2 = 2,
    FNET_ISA_AVX2 = 3, /* AVX2 + FMA */
    FNET_ISA_NEON = 4,
    FNET_ISA_WASM_SIMD = 5 /* WebAssembly SIMD128 (built with -msimd128) */
} fnet_isa;

/* Load a blob from memory. When the blob is 64-byte aligned and the host is little-endian,
   the model uses the bytes in place and `blob` must outlive the model (games embed it);
   otherwise the loader copies (and byte-swaps on big-endian hosts). Every offset, size
   and count in the blob is checked first: a damaged or hostile blob gives an error. */
FNET_API fnet_result fnet_model_load_memory(const void *blob, size_t size, fnet_model **out);
#ifndef FNET_NO_STDIO
FNET_API fnet_result fnet_model_load_file(const char *path, fnet_model **out);
#endif
FNET_API void fnet_model_free(fnet_model *m);

FNET_API fnet_model_kind fnet_model_get_kind(const fnet_model *m);
FNET_API const char *fnet_model_kind_name(fnet_model_kind kind);
/* Metadata value for `key` (e.g. "source", "license", "incomplete"), or NULL. */
FNET_API const char *fnet_model_meta(const fnet_model *m, const char *key);
FNET_API int fnet_model_meta_count(const fnet_model *m);
FNET_API fnet_result fnet_model_meta_at(const fnet_model *m, int i, const char **key,
                                        const char **value);
/* 1 when the blob was built with filled-in (not trained) tensors: see meta "filled_tensors". */
FNET_API int fnet_model_incomplete(const fnet_model *m);

typedef struct fnet_tensor_info {
    const char *name;
    const char *dtype; /* "f32", "f16", "i8", "u8", "i32", "i16", "u16" */
    int ndim;
    int shape[4];
    size_t bytes;
} fnet_tensor_info;
FNET_API int fnet_model_tensor_count(const fnet_model *m);
FNET_API fnet_result fnet_model_tensor_at(const fnet_model *m, int i, fnet_tensor_info *info);
FNET_API int fnet_model_op_count(const fnet_model *m);
/* 1 when the model's tensors point into the caller's blob (zero-copy load). */
FNET_API int fnet_model_is_zero_copy(const fnet_model *m);

/* Kernel set: what the model runs on. Call set_isa before sharing the model with threads. */
FNET_API fnet_isa fnet_model_get_isa(const fnet_model *m);
FNET_API fnet_result fnet_model_set_isa(fnet_model *m, fnet_isa isa);
FNET_API int fnet_isa_supported(fnet_isa isa);
FNET_API const char *fnet_isa_name(fnet_isa isa);

/* ==== Public API: detection ============================================================== */

/* A face box in dlib's rectangle convention: inclusive pixel coordinates. */
typedef struct fnet_box {
    int left, top, right, bottom;
    float score;  /* SVM score minus the filter's threshold: > 0 is a face */
    int filter;   /* which of the detector's filters fired (dlib's weight_index) */
} fnet_box;

/* The most upsampling fnet_detect accepts (each step doubles the image's width and height). */
#define FNET_MAX_UPSAMPLE 3

typedef struct fnet_detect_opts {
    int upsample;    /* 0 (default): faces from 80 px; 1: from about 40 px (4x the work) */
    float threshold; /* added to the filters' thresholds; 0 = dlib's default */
    fnet_parallel parallel; /* the caller's threads: pyramid levels run as tasks */
} fnet_detect_opts;

FNET_API size_t fnet_detect_workspace_size(const fnet_model *det, int width, int height,
                                           const fnet_detect_opts *opts);
/* Finds faces. Writes up to max_boxes boxes (highest score first) and the number found to
   *n_boxes (which may exceed max_boxes: then only the first max_boxes are written).
   Images smaller than the detection window give 0 boxes. */
FNET_API fnet_result fnet_detect(const fnet_model *det, fnet_image img,
                                 const fnet_detect_opts *opts, void *work, size_t work_size,
                                 fnet_box *boxes, int max_boxes, int *n_boxes);

/* ==== Public API: detector training ====================================================== */

/* Trains a HOG detector (one 10x10-cell filter, section 1b) on your boxes, as dlib's
   structural_object_detection_trainer over scan_fhog_pyramid<pyramid_down<6>> does, and
   returns it as a detector model that fnet_detect runs like the built-in one. */

/* A labelled box in dlib's rectangle convention (inclusive corners). ignore = 1: an "ignore"
   box of imglab (neither a face to find nor a false alarm when found). */
typedef struct fnet_train_box {
    int left, top, right, bottom;
    int ignore;
} fnet_train_box;

/* Where the solver is, after each cutting-plane iteration. */
typedef struct fnet_detector_train_status {
    int iteration;     /* 1, 2, ... */
    int planes;        /* cutting planes in the working set */
    int oracle_calls;  /* separation-oracle runs so far (the expensive part: one scan) */
    double objective;  /* 0.5 |w|^2 + C risk at the current w */
    double risk;       /* the empirical structural risk at w (a bound on the training loss) */
    double risk_gap;   /* risk minus the cutting-plane model's risk: stops below epsilon */
    double epsilon;
} fnet_detector_train_status;

/* Return nonzero to stop training early (the current w is kept). */
typedef int (*fnet_detector_progress_fn)(void *user, const fnet_detector_train_status *st);

/* Zero-initialised means dlib's example settings (fhog_object_detector_ex.cpp) */
typedef struct fnet_detector_train_opts {
    double C;              /* SVM regularisation: larger fits the training set harder. 0: 1 */
    double epsilon;        /* stop when the risk gap is below this. 0: 0.01 */
    int upsample;          /* double the images (and boxes) this many times first, so faces
                              of 40 px (1) or 20 px (2) fit the 80 px window; 0..FNET_MAX_UPSAMPLE */
    int flip;              /* 1: also train on left-right mirrored copies (dlib's
                              add_image_left_right_flips) */
    int window_width, window_height; /* 0: 80 x 80 (must give 10 x 10 HOG cells) */
    int max_iterations;    /* 0: 10000 (dlib's) */
    int max_cache_size;    /* oracle cache per image; 0: 5 (dlib's), negative: no cache */
    double match_eps;      /* a detection matches a box when IoU > this. 0: 0.5 */
    /* Runs fn(ctx, i) for i in 0..n_tasks-1 on the caller's threads (fnet_parallel_for_fn of
       the learning API); NULL: one after another. The result does not depend on it. */
    void (*parallel_for)(void *user, int n_tasks, void (*fn)(void *ctx, int task), void *ctx);
    void *parallel_user;
    fnet_detector_progress_fn progress;
    void *progress_user;
} fnet_detector_train_opts;

typedef struct fnet_detector_train_report {
    int images;            /* training images after upsampling and flips */
    int boxes, ignored;    /* truth boxes and ignore boxes in them */
    int iterations, oracle_calls;
    double objective, risk, risk_gap;
    double iou_thresh, percent_covered_thresh; /* the learned detector's NMS (dlib's tight tester) */
    int stopped;           /* 1: the progress callback or max_iterations stopped it */
    /* When training refuses a box (FNET_ERR_INVALID_ARGUMENT with bad_image >= 0): which box,
       how well the best window position matches it (IoU; needs > match_eps), the window's box
       there, and why: 1 no window matches (aspect ratio or size unlike the window's), 2 two
       boxes of one image would suppress each other in non-max suppression. Coordinates are
       those of the upsampled (and flipped: bad_image >= number of images) training image. */
    int bad_image, bad_box, bad_reason, bad_other_box;
    double bad_match;
    int bad_rect[4], bad_window[4];
} fnet_detector_train_report;

/* Trains on n_images images with n_boxes[i] boxes each (boxes[i], may be NULL when 0).
   *out receives the detector (free with fnet_model_free). report may be NULL. Errors:
   FNET_ERR_INVALID_ARGUMENT for a box the window cannot match (see the report) or no truth
   box at all; FNET_ERR_BAD_IMAGE for a bad image. */
FNET_API fnet_result fnet_detector_train(const fnet_image *images, const fnet_train_box *const *boxes,
                                         const int *n_boxes, int n_images,
                                         const fnet_detector_train_opts *opts, fnet_model **out,
                                         fnet_detector_train_report *report);

/* One detector from several: their filters side by side, scanned together with one
   non-max suppression (as dlib's frontal detector combines five). All must have the same
   filter size; the NMS thresholds are the first detector's. Up to 16 filters in all. */
FNET_API fnet_result fnet_detector_combine(const fnet_model *const *dets, int n, fnet_model **out);

/* The blob bytes of a detector (valid while the model lives) and a file of them. */
FNET_API fnet_result fnet_detector_blob(const fnet_model *det, const void **blob, size_t *size);
#ifndef FNET_NO_STDIO
FNET_API fnet_result fnet_detector_save_file(const fnet_model *det, const char *path);
#endif

/* dlib's test_object_detection_function: detect on every image (upsampled `upsample` times,
   boxes too, as training did), match detections to truth boxes (IoU > 0.5, each detection
   one box), skip detections on ignore boxes. precision = hits / detections, recall = hits /
   truth boxes, ap = average precision over the score-ranked detections. */
typedef struct fnet_detector_eval {
    double precision, recall, ap;
    int truth, detections, hits;
} fnet_detector_eval;
FNET_API fnet_result fnet_detector_evaluate(const fnet_model *det, const fnet_image *images,
                                            const fnet_train_box *const *boxes, const int *n_boxes,
                                            int n_images, int upsample, fnet_detector_eval *out);

/* ==== Public API: landmarks ============================================================== */

typedef struct fnet_point {
    float x, y;
} fnet_point;

FNET_API int fnet_landmarks_count(const fnet_model *lm); /* 68 for dlib's model */
/* Points for the face in `box`, unrounded (dlib rounds to whole pixels). */
FNET_API fnet_result fnet_landmarks(const fnet_model *lm, fnet_image img, fnet_box box,
                                    fnet_point *points);

/* ==== Public API: landmark training ====================================================== */

/* Trains a shape predictor (section 2b) as dlib's shape_predictor_trainer does, and gives
   a landmarks blob that fnet_model_load reads like dlib's converted model. Zero-initialised
   fields (or opts NULL) take dlib's defaults, given in brackets. */
typedef struct fnet_shape_train_opts {
    int cascade_depth;        /* [10] cascades; each re-reads the pixels around the shape */
    int tree_depth;           /* [4] splits per tree path: 2^depth leaves (1..8) */
    int trees_per_level;      /* [500] regression trees per cascade */
    double nu;                /* [0.1] shrinkage: each leaf adds nu * the mean residual */
    int oversampling;         /* [20] starting shapes per face (the first is the mean shape) */
    double translation_jitter;/* [0] starting shapes moved by up to this (box units) */
    int feature_pool_size;    /* [400] pixels sampled per cascade (2..1024) */
    double lambda;            /* [0.1] prior on split pixel pairs: exp(-distance / lambda) */
    int num_test_splits;      /* [20] random split candidates tried per tree node */
    double padding;           /* [0] feature pixels drawn this far beyond the mean shape's
                                 box (box units, > -0.5) */
    int pad_box_relative;     /* 0: padding around the mean shape (dlib's landmark_relative);
                                 1: around the unit box too (bounding_box_relative) */
    unsigned long long seed;  /* random draws (SplitMix64); the same seed, the same model */
    /* an fnet_parallel_for_fn (learning API): NULL runs one thread; the model is the same
       for any number of threads */
    void (*parallel_for)(void *user, int n_tasks, void (*fn)(void *ctx, int task), void *ctx);
    void *parallel_user;
    /* called after every tree with the trees done so far and the total (may be NULL) */
    void (*progress)(void *user, int trees_done, int trees_total);
    void *progress_user;
} fnet_shape_train_opts;

/* One training face: its image (gray or RGB; features are (r+g+b)/3 as dlib), its box
   (dlib's rectangle: the box the detector gives, so predictions start where they will
   start at run time), its n_points points in the image, and which of them are present
   (NULL: all; absent points are ignored by the fit, as dlib's OBJECT_PART_NOT_PRESENT).
   Several samples may share an image. */
typedef struct fnet_shape_sample {
    fnet_image image;
    fnet_box box;
    const fnet_point *points;
    const unsigned char *present;
} fnet_shape_sample;

typedef struct fnet_shape_model fnet_shape_model; /* a trained predictor, before saving */

/* Trains on n samples of n_points (2..256) points each (every point present in at least one
   sample). FNET_ERR_INVALID_ARGUMENT for an out-of-range option or a degenerate box,
   FNET_ERR_TOO_LARGE beyond the loader's limits (256 points, pool 1024, 4096 trees per
   cascade, depth 8, 64 cascades), FNET_ERR_NOT_FINITE for a NaN point, FNET_ERR_BAD_IMAGE
   for a bad image. */
FNET_API fnet_result fnet_shape_train(const fnet_shape_sample *samples, int n, int n_points,
                                      const fnet_shape_train_opts *opts, fnet_shape_model **out);
FNET_API void fnet_shape_model_free(fnet_shape_model *m);
/* The landmarks blob (buf NULL: size query; FNET_ERR_WORKSPACE_TOO_SMALL when cap is too
   small). Metadata: "source", "license" (the caller's or placeholders saying the model was
   trained here), the training parameters, then the n_meta pairs given. */
FNET_API fnet_result fnet_shape_model_save_blob(const fnet_shape_model *m, const char *const *keys,
                                                const char *const *values, int n_meta, void *buf,
                                                size_t cap, size_t *size);
#ifndef FNET_NO_STDIO
FNET_API fnet_result fnet_shape_model_save_blob_file(const fnet_shape_model *m,
                                                     const char *const *keys,
                                                     const char *const *values, int n_meta,
                                                     const char *path);
#endif

/* ==== Public API: alignment ============================================================== */

typedef enum fnet_align_kind {
    FNET_ALIGN_OUTER_EYES_AND_NOSE = 1,       /* OpenFace: points 36, 45, 33 */
    FNET_ALIGN_INNER_EYES_AND_BOTTOM_LIP = 2, /* OpenFace: points 39, 42, 57 */
    FNET_ALIGN_DLIB_CHIP = 3,                 /* dlib get_face_chip_details(shape, size, 0.25) */
    FNET_ALIGN_DLIB_CHIP_5 = 4                /* the same from dlib's 5 points (eye corners
                                                 45, 42, 36, 39 and the nose base 33 of the 68) */
} fnet_align_kind;

/* The landmark indices an alignment uses; returns how many (writes up to max). */
FNET_API int fnet_align_indices(fnet_align_kind kind, int *indices, int max);
/* Warps the face to a size x size RGB crop (out_rgb: size*size*3 bytes). */
FNET_API fnet_result fnet_align(fnet_image img, const fnet_point *points, int n_points,
                                fnet_align_kind kind, int size, unsigned char *out_rgb);

/* ==== Public API: embeddings ============================================================= */

/* The blob says how to use it: the crop size, the embedding size and the alignment the
   network was trained on (metadata "align": "outer_eyes_and_nose", "inner_eyes_and_bottom_lip",
   "dlib_chip" or "dlib_chip_5"; a blob without it: FNET_ALIGN_DLIB_CHIP for input 150, else
   FNET_ALIGN_OUTER_EYES_AND_NOSE). The loader refuses an unknown "align" name
   (FNET_ERR_UNSUPPORTED) and a network ending in more than FNET_MAX_EMBED_DIM values
   (FNET_ERR_TOO_LARGE), so a buffer of FNET_MAX_EMBED_DIM floats holds any embedding.
   All three give 0 for NULL or a model that is not a network. */
#define FNET_MAX_EMBED_DIM 4096
FNET_API int fnet_embed_input_size(const fnet_model *net); /* 96 (nn4) or 150 (ResNet) */
FNET_API int fnet_embed_dim(const fnet_model *net);        /* 128 */
FNET_API fnet_align_kind fnet_embed_align_kind(const fnet_model *net);
FNET_API size_t fnet_embed_workspace_size(const fnet_model *net);
/* Embeds an aligned RGB crop of fnet_embed_input_size() pixels square. */
FNET_API fnet_result fnet_embed(const fnet_model *net, const unsigned char *aligned_rgb,
                                void *work, size_t work_size, float *out);
/* Same from an already normalised float tensor, HWC (height, width, 3): for numerics tests. */
FNET_API fnet_result fnet_embed_tensor(const fnet_model *net, const float *input_hwc,
                                       void *work, size_t work_size, float *out);

/* Batches and the caller's threads. fnet_embed_batch embeds n crops at once: every
   convolution runs as one matrix product over the pixels of all n images, so each block of
   weights is read from memory once per batch instead of once per image (enrolment,
   clustering, evaluation). opts.parallel spreads each convolution's output tiles or channel
   blocks over the caller's threads. out receives n * fnet_embed_dim() floats; every
   embedding is bit-identical to fnet_embed of its crop alone, for any n and any workers.
   The workspace grows with n (the activations of n images) and workers (scratch per task);
   fnet_embed_workspace_size(net) == fnet_embed_batch_workspace_size(net, 1, NULL).
   FNET_ERR_TOO_LARGE when n times the activations exceed the 2 GiB workspace limit. */
typedef struct fnet_embed_opts {
    fnet_parallel parallel;
} fnet_embed_opts;
FNET_API size_t fnet_embed_batch_workspace_size(const fnet_model *net, int n,
                                                const fnet_embed_opts *opts);
FNET_API fnet_result fnet_embed_batch(const fnet_model *net, const unsigned char *const *aligned_rgb,
                                      int n, const fnet_embed_opts *opts, void *work,
                                      size_t work_size, float *out);

/* ==== Public API: matching =============================================================== */

/* Distances between embeddings. Plain L2 ||a-b|| and squared L2 ||a-b||^2 differ, and so do
   published thresholds: dlib's 0.6 is PLAIN L2 (ResNet embeddings, already of unit length);
   OpenFace's 0.99 is SQUARED L2 on L2-normalised nn4 vectors (= 0.995 plain). Every call
   below (verify, identify, clustering) uses plain L2; the triplet loss uses squared L2. */
FNET_API float fnet_distance(const float *a, const float *b, int dim);    /* ||a-b|| */
FNET_API float fnet_distance_sq(const float *a, const float *b, int dim); /* ||a-b||^2 */
FNET_API fnet_result fnet_l2_normalize(float *v, int dim);
/* FNET_OK when all n values are finite, else FNET_ERR_NOT_FINITE (NULL: invalid argument). */
FNET_API fnet_result fnet_check_finite(const float *v, size_t n);

/* Network ids. Embeddings of different networks live in different spaces: a gallery or a
   classifier records the id of the network that made its embeddings and refuses others
   (FNET_ERR_MISMATCH). The id is the blob's metadata "network"; blobs without it get
   "nn4.small2.v1" (input 96) or "resnet34-dlib" (input 150). An incomplete blob (tensors
   filled, not trained: fnet_model_incomplete) maps faces elsewhere than the trained network,
   so its id differs: "nn4.small2.v1+filled". NULL for non-networks. */
#define FNET_NETWORK_ID_MAX 31 /* longest id in bytes (without the NUL) */
FNET_API const char *fnet_network_id(const fnet_model *net);
/* Thresholds on PLAIN L2 distance for a network id (ids containing "resnet" or "nn4"),
   measured on LFW dev (section 5 has the figures); 0 for an unknown network. One number does
   not serve every use: with K people in a gallery an impostor gets K chances to fall under
   the threshold, and Chinese whispers chains clusters through any single close pair, so
   identification and clustering want stricter thresholds than 1:1 verification. */
typedef enum fnet_threshold_kind {
    FNET_THRESHOLD_VERIFY = 0,   /* 1:1: best accuracy on LFW dev pairs (held-out folds) */
    FNET_THRESHOLD_IDENTIFY = 1, /* 1:K open set: about 1% false accepts, 450-person gallery
                                    (fnet_identify's default only without an impostor table:
                                    fnet_gallery_far_threshold depends on the gallery's size) */
    FNET_THRESHOLD_CLUSTER = 2   /* Chinese whispers edges: best pairwise F1 */
} fnet_threshold_kind;
FNET_API float fnet_network_threshold_for(const char *network, fnet_threshold_kind kind);
/* = fnet_network_threshold_for(network, FNET_THRESHOLD_VERIFY) */
FNET_API float fnet_network_threshold(const char *network);

/* Verification (1:1): *distance = ||a-b||, *same = (distance <= threshold). threshold must be
   > 0 (use fnet_network_threshold()). Either output may be NULL. */
FNET_API fnet_result fnet_verify(const float *a, const float *b, int dim, float threshold,
                                 float *distance, int *same);

/* ---- Gallery: named people, each with one or more embeddings of one network ---- */
typedef struct fnet_gallery fnet_gallery;
#define FNET_GALLERY_VERSION 2       /* newest file format version (read: 1 and 2) */
#define FNET_GALLERY_MAX_NAME 255    /* bytes of a name, without the NUL */
#define FNET_GALLERY_MAX_DIM 4096
#define FNET_GALLERY_MAX_EMBEDDINGS (1 << 24)

/* An empty gallery for embeddings of `network` (an id, 1..31 bytes) of `dim` floats. */
FNET_API fnet_result fnet_gallery_create(const char *network, int dim, fnet_gallery **out);
FNET_API void fnet_gallery_free(fnet_gallery *g);
FNET_API const char *fnet_gallery_network(const fnet_gallery *g);
FNET_API int fnet_gallery_dim(const fnet_gallery *g);
FNET_API int fnet_gallery_count(const fnet_gallery *g);           /* people */
FNET_API int fnet_gallery_embedding_count(const fnet_gallery *g); /* all embeddings */
/* FNET_OK when embeddings of (network, dim) belong in g, else FNET_ERR_MISMATCH. */
FNET_API fnet_result fnet_gallery_check(const fnet_gallery *g, const char *network, int dim);
/* How g's embeddings were made, as the caller declares it: each the mean of `jitter`
   perturbed copies of its face (dlib's jitter_image; `fnet enroll` makes
   FNET_ENROLL_JITTER of them by default), 0 (a new gallery's): one plain embedding each. The
   shipped tables differ (such an embedding sits nearer its person, and nearer everyone
   else): fnet_gallery_far_threshold(g, NULL, ..), fnet_identify and fnet_identify_cohort
   without a threshold take g's (fnet_network_impostor_table_jitter). Saved with the gallery
   (file version 2; version 1 when it is 0). 0..FNET_GALLERY_MAX_JITTER, else
   FNET_ERR_INVALID_ARGUMENT. */
#define FNET_GALLERY_MAX_JITTER 1000
FNET_API fnet_result fnet_gallery_set_jitter(fnet_gallery *g, int jitter);
FNET_API int fnet_gallery_jitter(const fnet_gallery *g);
/* Enrolls a new person with n >= 1 embeddings (n*dim floats, copied). A name already in the
   gallery gives FNET_ERR_DUPLICATE (use fnet_gallery_add to give a person more photos).
   Names are 1..FNET_GALLERY_MAX_NAME bytes. NaN/inf: FNET_ERR_NOT_FINITE. On error the
   gallery is unchanged. */
FNET_API fnet_result fnet_gallery_enroll(fnet_gallery *g, const char *name,
                                         const float *embeddings, int n);
/* Adds embeddings to a person, enrolling the name when it is new. */
FNET_API fnet_result fnet_gallery_add(fnet_gallery *g, const char *name, const float *embeddings,
                                      int n);
FNET_API fnet_result fnet_gallery_remove(fnet_gallery *g, const char *name); /* or NOT_FOUND */
/* Index of a person (0..count-1), or -1. Indices shift down when a person is removed. */
FNET_API int fnet_gallery_find(const fnet_gallery *g, const char *name);
/* Person i: name, embeddings (n*dim floats, valid until the gallery changes), n. */
FNET_API fnet_result fnet_gallery_person(const fnet_gallery *g, int i, const char **name,
                                         const float **embeddings, int *n);
/* Serialises into buf (cap bytes); *size receives the bytes needed (buf NULL: size query;
   cap too small: FNET_ERR_WORKSPACE_TOO_SMALL). The format is in section 5. */
FNET_API fnet_result fnet_gallery_save_memory(const fnet_gallery *g, void *buf, size_t cap,
                                              size_t *size);
/* Parses and checks a saved gallery: magic, version, sizes, CRC, names, values. */
FNET_API fnet_result fnet_gallery_load_memory(const void *data, size_t size, fnet_gallery **out);
#ifndef FNET_NO_STDIO
/* Writes PATH.tmp, then renames it over PATH: a failed save leaves the old file intact. */
FNET_API fnet_result fnet_gallery_save(const fnet_gallery *g, const char *path);
FNET_API fnet_result fnet_gallery_load(const char *path, fnet_gallery **out);
#endif

/* ---- Identification (1:K) ---- */
typedef struct fnet_match {
    int person;     /* gallery index (fnet_gallery_person) */
    float distance; /* plain L2 distance to the person's embedding that scored best */
    int accepted;   /* score <= threshold: this could be the person */
    float score;    /* what is ranked and thresholded: the distance (fnet_identify), or the
                       cohort-normalised score (fnet_identify_cohort) */
} fnet_match;

/* The k people nearest to `probe` (ascending distance; a person counts once, by their nearest
   embedding). *n_matches = min(k, people). The probe is an unknown person when
   n_matches == 0 or !matches[0].accepted (open-set rejection). threshold <= 0 uses
   fnet_gallery_far_threshold(g, NULL, FNET_DEFAULT_FAR) (1% of strangers accepted at this
   gallery's size), or for a network without a shipped impostor table
   fnet_network_threshold_for(gallery network, FNET_THRESHOLD_IDENTIFY). Empty gallery:
   FNET_ERR_NOT_FOUND. dim must be the gallery's (else FNET_ERR_MISMATCH). No allocation. */
FNET_API fnet_result fnet_identify(const fnet_gallery *g, const float *probe, int dim,
                                   float threshold, fnet_match *matches, int k, int *n_matches);

/* ---- Open-set thresholds from a false-accept rate ----
   A stranger shown to a gallery of N embeddings gets N chances to fall under the threshold,
   so one fixed threshold is too strict for small galleries and too loose for big ones. The
   rule here: the caller names the false-accept rate it wants for the WHOLE gallery (FAR: the
   share of strangers accepted as someone; FNET_DEFAULT_FAR), and the threshold follows from
   the gallery's size and the network's impostor distance distribution F(d) = share of pairs
   of different people at distance <= d: each comparison may accept at most the rate p with
   1 - (1 - p)^N = FAR, and the threshold is F^-1(p). A person with several photos counts
   each (a probe is matched by its nearest photo), so N is the number of embeddings. */
#define FNET_DEFAULT_FAR 0.01
#define FNET_IMPOSTOR_TABLE_MAX 40 /* points of an impostor table */

/* F(d) as a table of points: log10_rate[i] = log10 F(distance[i]), rates strictly ascending
   (each <= 0), distances non-decreasing; between points log10 F is linear in d, and below the
   first point the slope of the decade above it continues (an exponential tail). */
typedef struct fnet_impostor_table {
    char network[FNET_NETWORK_ID_MAX + 1]; /* the network id whose distances these are */
    int n;                                 /* points, 2..FNET_IMPOSTOR_TABLE_MAX */
    float distance[FNET_IMPOSTOR_TABLE_MAX];
    float log10_rate[FNET_IMPOSTOR_TABLE_MAX];
    double pairs; /* impostor pairs measured: rates below ~10/pairs rest on few pairs */
} fnet_impostor_table;

/* FNET_OK when t is usable (as above, values finite, network a valid id), else FNET_ERR_CORRUPT
   (NULL: FNET_ERR_INVALID_ARGUMENT). Check a table read from a file with this. */
FNET_API fnet_result fnet_impostor_table_check(const fnet_impostor_table *t);
/* The table shipped for a network id (section 5 says how it was measured; only
   "resnet34-dlib" has one, networks trained from it do not inherit it);
   FNET_ERR_NOT_FOUND for a network without one. */
FNET_API fnet_result fnet_network_impostor_table(const char *network, fnet_impostor_table *out);
/* The same for galleries whose embeddings are means of `jitter` perturbed copies of each face
   (fnet_gallery_set_jitter) against plain probes: jitter 0 is fnet_network_impostor_table;
   "resnet34-dlib" also has one for FNET_ENROLL_JITTER (section 5); other counts
   FNET_ERR_NOT_FOUND. */
#define FNET_ENROLL_JITTER 10
FNET_API fnet_result fnet_network_impostor_table_jitter(const char *network, int jitter,
                                                        fnet_impostor_table *out);
/* A table from n >= 2 measured impostor distances (sorted in place): points every quarter
   decade of rate from 1 (the largest distance) down to 1/n (the smallest). With `tail` (a
   table of the same network, e.g. the shipped one; NULL: none), rates below 100/n (below the
   median when n < 200), which rest on fewer than 100 pairs, come from tail's shape instead,
   shifted in distance to meet the measured table there: a user's few thousand pairs set the
   level, LFW's million the shape of the tail. */
FNET_API fnet_result fnet_impostor_table_build(const char *network, float *distances, size_t n,
                                               const fnet_impostor_table *tail,
                                               fnet_impostor_table *out);
/* F(distance) by the table (0..1; 0 for a NULL table). */
FNET_API double fnet_impostor_rate(const fnet_impostor_table *t, float distance);
/* The threshold at which `comparisons` (>= 1) independent impostor comparisons accept with
   probability `far_rate` (0 < far_rate < 1) in all. The threshold is > 0. */
FNET_API fnet_result fnet_far_threshold(const fnet_impostor_table *t, double far_rate,
                                        double comparisons, float *threshold);
/* fnet_far_threshold for a gallery: comparisons = its embeddings. t NULL: the network's
   shipped table for the gallery's jitter (FNET_ERR_NOT_FOUND without one); t of another network: FNET_ERR_MISMATCH. */
FNET_API fnet_result fnet_gallery_far_threshold(const fnet_gallery *g,
                                                const fnet_impostor_table *t, double far_rate,
                                                float *threshold);

/* ---- Cohort normalisation: a threshold that adapts to each face ----
   Some faces sit near many strangers (a blurred photo, a common look), others far from
   everyone, so one distance threshold is loose for the first and strict for the second. A
   cohort is a fixed set of photos of other people, none of them enrolled or expected as
   probes (the one `make cohort` builds: LFW people outside lfw-dev, in weights/). A face's
   cohort distance c(x) is the mean distance from x to its FNET_COHORT_K nearest cohort
   embeddings, and the score of probe p against gallery photo e is the ratio
       s(p, e) = d(p, e) / ((c(p) + c(e)) / 2),
   below 1 where the two are closer than their neighbourhoods. This is symmetric adaptive
   score normalisation (Cumani et al. 2011; Matejka et al. 2017, "AS-norm") in ratio form.
   Thresholds come from an impostor table of s (fnet_network_cohort_table) through the
   false-accept rule above; the README gives the measured gain. The ratio form and K = 10
   were the best of the forms and K = 3..80 compared on LFW people outside lfw-dev
   (eval_identify --tune; the difference, the geometric mean and z-scores with the cohort's
   spread did no better). */
#define FNET_COHORT_K 10
/* c(x) over the cohort's embeddings (a gallery of x's network with >= FNET_COHORT_K of them;
   else FNET_ERR_INVALID_ARGUMENT; another network: FNET_ERR_MISMATCH). */
FNET_API fnet_result fnet_cohort_distance(const fnet_gallery *cohort, const float *x, int dim,
                                          float *c);
/* c(e) of every embedding of g, in gallery order: fnet_gallery_embedding_count(g) floats.
   Compute them once and pass them to fnet_identify_cohort for every probe. */
FNET_API fnet_result fnet_cohort_distances(const fnet_gallery *cohort, const fnet_gallery *g,
                                           float *c);
/* The impostor table of s for a network, measured with the cohort `make cohort` builds
   (section 5 says how); FNET_ERR_NOT_FOUND for a network without one. */
FNET_API fnet_result fnet_network_cohort_table(const char *network, fnet_impostor_table *out);
/* The cohort table for galleries of jittered embeddings (as fnet_network_impostor_table_jitter;
   the cohort and the probes stay plain). */
FNET_API fnet_result fnet_network_cohort_table_jitter(const char *network, int jitter,
                                                      fnet_impostor_table *out);
/* fnet_identify ranked and thresholded by s: matches[j].score = s of the person's best
   photo, .distance its plain distance, .accepted = score <= threshold. gallery_c: the
   output of fnet_cohort_distances(cohort, g) for g as it is now. threshold <= 0: the
   fnet_network_cohort_table_jitter threshold (g's jitter) at FNET_DEFAULT_FAR for g's
   embeddings. */
FNET_API fnet_result fnet_identify_cohort(const fnet_gallery *g, const fnet_gallery *cohort,
                                          const float *gallery_c, const float *probe, int dim,
                                          float threshold, fnet_match *matches, int k,
                                          int *n_matches);

/* ---- Clustering ---- */
/* k-means (Lloyd) with k-means++ seeding (Arthur & Vassilvitskii 2007) on n points x[n*dim].
   Writes labels[n] (0..k-1) and, when not NULL, centroids[k*dim]. Deterministic for a seed.
   max_iter 0 means 100. */
FNET_API size_t fnet_kmeans_workspace_size(int n, int dim, int k);
FNET_API fnet_result fnet_kmeans(const float *x, int n, int dim, int k, int max_iter,
                                 unsigned long long seed, void *work, size_t work_size,
                                 int *labels, float *centroids);
/* Chinese whispers (Biemann 2006, as dlib's chinese_whispers): a graph with an edge between
   every two points at plain L2 distance < threshold (and a self edge), then `iterations`
   (0: 100) rounds in which random nodes take the most common label of their neighbours.
   Needs no k. Writes labels[n] (0..n_clusters-1). The workspace holds the edges, so its size
   depends on the data. */
FNET_API size_t fnet_chinese_whispers_workspace_size(const float *x, int n, int dim,
                                                     float threshold);
FNET_API fnet_result fnet_chinese_whispers(const float *x, int n, int dim, float threshold,
                                           int iterations, unsigned long long seed, void *work,
                                           size_t work_size, int *labels, int *n_clusters);

/* ---- Classifiers on embeddings ---- */
typedef enum fnet_classifier_kind {
    FNET_CLASSIFIER_SOFTMAX = 1, /* linear layer + softmax, cross-entropy */
    FNET_CLASSIFIER_MLP = 2,     /* linear, ReLU, linear, softmax */
    FNET_CLASSIFIER_KNN = 3      /* k nearest neighbours (plain L2), majority vote */
} fnet_classifier_kind;

typedef enum fnet_optimizer {
    FNET_OPTIMIZER_ADAM = 0,   /* Kingma & Ba 2015 */
    FNET_OPTIMIZER_SGD = 1,    /* with momentum (0.9 unless set) */
    FNET_OPTIMIZER_ADAGRAD = 2 /* Duchi et al. 2011, as FaceNet trained (network trainer only) */
} fnet_optimizer;

/* Zero-initialised means defaults. */
typedef struct fnet_train_opts {
    int epochs;              /* 0: 100 */
    int batch_size;          /* 0: 16 */
    float learning_rate;     /* 0: 0.01 (Adam) or 0.1 (SGD, momentum 0.9) */
    float weight_decay;      /* L2 penalty on weights; 0: none */
    fnet_optimizer optimizer;
    int hidden;              /* MLP hidden units; 0: 64 */
    int k;                   /* k-NN neighbours; 0: 3 */
    unsigned long long seed; /* initial weights and batch order */
} fnet_train_opts;

typedef struct fnet_classifier fnet_classifier;
#define FNET_CLASSIFIER_VERSION 1
#define FNET_CLASSIFIER_MAX_CLASSES 65536

/* Trains on n embeddings x[n*dim] of `network` with labels[n] in 0..n_classes-1 (allocates;
   training is not a per-frame call). */
FNET_API fnet_result fnet_classifier_train(fnet_classifier_kind kind, const char *network,
                                           const float *x, const int *labels, int n, int dim,
                                           int n_classes, const fnet_train_opts *opts,
                                           fnet_classifier **out);
/* *label = the most likely class; scores (n_classes floats, may be NULL) = probabilities
   (softmax, MLP) or vote fractions (k-NN). */
FNET_API fnet_result fnet_classifier_predict(const fnet_classifier *c, const float *x, int dim,
                                             int *label, float *scores);
FNET_API void fnet_classifier_free(fnet_classifier *c);
FNET_API fnet_classifier_kind fnet_classifier_get_kind(const fnet_classifier *c);
FNET_API int fnet_classifier_classes(const fnet_classifier *c);
FNET_API int fnet_classifier_dim(const fnet_classifier *c);
FNET_API const char *fnet_classifier_network(const fnet_classifier *c);
/* Optional class names (kept in the saved file); "" until set. */
FNET_API fnet_result fnet_classifier_set_class_name(fnet_classifier *c, int i, const char *name);
FNET_API const char *fnet_classifier_class_name(const fnet_classifier *c, int i);
/* Same contract as the gallery's: size query with buf NULL; checked on load (magic, version,
   sizes, CRC, values). The caller writes the bytes where it wants. */
FNET_API fnet_result fnet_classifier_save_memory(const fnet_classifier *c, void *buf, size_t cap,
                                                 size_t *size);
FNET_API fnet_result fnet_classifier_load_memory(const void *data, size_t size,
                                                 fnet_classifier **out);

/* ---- Triplet loss (FaceNet, Schroff et al. 2015) ---- */
/* L = mean over triplets of max(||a-p||^2 - ||a-n||^2 + alpha, 0), alpha 0.2 in FaceNet. */
typedef struct fnet_triplet {
    int anchor, positive, negative; /* indices into the batch */
} fnet_triplet;

typedef enum fnet_triplet_mining {
    FNET_TRIPLET_BATCH_ALL = 1, /* every valid triplet with a positive loss */
    FNET_TRIPLET_HARD = 2,      /* per anchor: farthest positive, nearest negative */
    FNET_TRIPLET_SEMI_HARD = 3  /* per (anchor, positive): nearest negative farther than the
                                   positive; if none, the farthest negative */
} fnet_triplet_mining;

/* Selects triplets from a batch of n embeddings with labels[n]. Writes up to max_out
   triplets; *n_out receives how many there are (may exceed max_out). Deterministic (ties go
   to the lower index). No allocation. */
FNET_API fnet_result fnet_triplet_select(const float *emb, const int *labels, int n, int dim,
                                         float alpha, fnet_triplet_mining mining,
                                         fnet_triplet *out, int max_out, int *n_out);
/* Loss over n_t triplets (0 when n_t == 0) and, when grad is not NULL, dL/d(emb) in
   grad[n*dim] (overwritten). *n_active (may be NULL) = triplets with a positive loss. */
FNET_API fnet_result fnet_triplet_loss(const float *emb, int n, int dim, const fnet_triplet *t,
                                       int n_t, float alpha, float *loss, float *grad,
                                       int *n_active);

/* ==== Public API: learning (backpropagation and training) ================================ */

/* A trainer owns a private, writable copy of a network and learns some of its tensors by
   backpropagation (section 6). The usual step is
       fnet_trainer_forward  (a batch of inputs -> embeddings, activations kept)
       your loss             (dL/d embedding, e.g. fnet_triplet_loss)
       fnet_trainer_backward (accumulates dL/d tensor for the trainable tensors)
       fnet_trainer_update   (optimizer step; the network's weights change)
   or fnet_trainer_step_triplet, which does all four with FaceNet's online mining. Inputs are
   normalised float tensors (H, W, 3) as fnet_embed_tensor takes (fnet_trainer_input_from_rgb
   makes one from an aligned crop). A trainer is used by one thread at a time; it spreads a
   batch over the caller's threads through opts.parallel_for, with results that do not depend
   on how many threads run the tasks. */
typedef struct fnet_trainer fnet_trainer;

/* opts.parallel_for is an fnet_parallel_for_fn ("Public API: the caller's threads"). */

typedef enum fnet_lr_schedule {
    FNET_LR_CONSTANT = 0,
    FNET_LR_STEP = 1,  /* lr * step_gamma^(floor(step / step_every)) */
    FNET_LR_COSINE = 2 /* lr * (1 + cos(pi * step / total_steps)) / 2 */
} fnet_lr_schedule;

/* Zero-initialised means defaults. */
typedef struct fnet_trainer_opts {
    const char *trainable;   /* comma-separated tensor names with '*' wildcards, '.' and '_'
                                alike ("inception_5a_1x1_conv_w" = "inception_5a_1x1_conv.w");
                                NULL or "" or "*": every tensor of every CONV and DENSE op */
    fnet_optimizer optimizer;
    float learning_rate;     /* 0: 1e-3 (Adam), 0.01 (SGD), 0.05 (AdaGrad) */
    float momentum;          /* SGD; 0: 0.9 (negative: none) */
    float beta1, beta2, eps; /* Adam; 0: 0.9, 0.999, 1e-8 (eps also AdaGrad's, 0: 1e-8) */
    float weight_decay;      /* L2 penalty on trainable weights (not biases): g += wd * w */
    fnet_lr_schedule schedule;
    int total_steps;         /* FNET_LR_COSINE: the step at which the rate reaches 0 */
    int step_every;          /* FNET_LR_STEP: 0: 1000 */
    float step_gamma;        /* FNET_LR_STEP: 0: 0.1 */
    int warmup_steps;        /* linear warm-up over the first steps */
    int max_batch;           /* most inputs per forward; 0: 64 */
    int grad_slots;          /* gradient accumulators: samples i, i+G, ... share slot i, slots
                                are summed in order, so results do not depend on the thread
                                count; the batch runs on up to G threads. 0: 4 */
    int input_grad;          /* 1: backward also gives dL/d input (every op is on the path) */
    fnet_parallel_for_fn parallel_for; /* NULL: tasks run one after another */
    void *parallel_user;
} fnet_trainer_opts;

/* Copies `net` (which stays untouched and may be freed afterwards) and selects the trainable
   tensors: FNET_ERR_NOT_FOUND when a name or pattern matches no tensor of a CONV or DENSE op
   (fnet_trainer_unmatched says which). */
FNET_API fnet_result fnet_trainer_create(const fnet_model *net, const fnet_trainer_opts *opts,
                                         fnet_trainer **out);
FNET_API void fnet_trainer_free(fnet_trainer *tr);
/* FNET_ERR_NOT_FOUND and the first pattern of `trainable` that matches no trainable tensor of
   `net` (into pattern, cap bytes), or FNET_OK when every pattern matches. */
FNET_API fnet_result fnet_trainer_unmatched(const fnet_model *net, const char *trainable,
                                            char *pattern, size_t cap);
/* The tensor at fault after an update failed (FNET_ERR_NOT_FINITE), or "". */
FNET_API const char *fnet_trainer_error_detail(const fnet_trainer *tr);
/* The trainer's network with the current weights: embed with it like any network model
   (not while the trainer updates it). */
FNET_API const fnet_model *fnet_trainer_model(const fnet_trainer *tr);
FNET_API int fnet_trainer_trainable_count(const fnet_trainer *tr);
/* Trainable tensor i: its name and its gradient (same layout as the tensor, accumulated by
   fnet_trainer_backward since the last update). */
FNET_API const char *fnet_trainer_trainable_name(const fnet_trainer *tr, int i);
FNET_API const float *fnet_trainer_grad(const fnet_trainer *tr, int i);
FNET_API long long fnet_trainer_step_count(const fnet_trainer *tr);
FNET_API float fnet_trainer_learning_rate(const fnet_trainer *tr); /* for the next update */
/* Bytes the trainer holds (weights, optimizer state, activations of max_batch inputs). */
FNET_API size_t fnet_trainer_memory(const fnet_trainer *tr);

/* The normalised input tensor (H, W, 3) of an aligned RGB crop, as fnet_embed computes it. */
FNET_API fnet_result fnet_trainer_input_from_rgb(const fnet_trainer *tr, const unsigned char *rgb,
                                                 float *input_hwc);

/* Frozen prefix. The ops that no trainable tensor influences give the same outputs every
   epoch for the same input; the "frontier" is the set of those outputs that trainable ops
   read. Compute it once per input (and augmentation) with fnet_trainer_frontier and pass
   frontiers instead of inputs to fnet_trainer_forward (from_frontier = 1): only the ops
   above the frontier run. frontier_size is in floats per input (0 with opts.input_grad).
   fnet_trainer_frontier may run on several threads at once (it allocates its own scratch). */
FNET_API size_t fnet_trainer_frontier_size(const fnet_trainer *tr);
FNET_API fnet_result fnet_trainer_frontier(const fnet_trainer *tr, const float *input_hwc,
                                           float *frontier);

/* Forward pass of n <= max_batch inputs (n * H*W*3 floats, or n * frontier_size floats when
   from_frontier), keeping the activations for backward; emb (may be NULL) receives n * dim
   floats. */
FNET_API fnet_result fnet_trainer_forward(fnet_trainer *tr, const float *inputs, int from_frontier,
                                          int n, float *emb);
/* Backward pass for the last forward: grad_emb = dL/d emb (n * dim floats). Adds dL/d tensor
   to each trainable tensor's gradient; grad_input (opts.input_grad only, else NULL) receives
   n * H*W*3 floats. FNET_ERR_NOT_FINITE when a gradient overflows: the accumulated gradients
   are then cleared (the weights stay as they are). */
FNET_API fnet_result fnet_trainer_backward(fnet_trainer *tr, const float *grad_emb,
                                           float *grad_input);
/* One optimizer step with the accumulated gradients, then zeroes them. FNET_ERR_NOT_FINITE
   (weights unchanged; fnet_trainer_error_detail names the tensor) when a gradient or a new
   weight is not finite. */
FNET_API fnet_result fnet_trainer_update(fnet_trainer *tr);
/* Zeroes the accumulated gradients without updating. */
FNET_API void fnet_trainer_zero_grad(fnet_trainer *tr);

/* Starts the trainable weight tensors afresh (biases keep their values) and clears the
   optimizer state: FNET_INIT_HE draws He-normal weights, N(0, 2 / fan_in) with fan_in =
   KH*KW*Cin (He et al. 2015), from a splitmix64 stream per tensor (seed and the tensor's
   name); FNET_INIT_ZEROS sets them to 0. */
typedef enum fnet_init { FNET_INIT_HE = 1, FNET_INIT_ZEROS = 2 } fnet_init;
FNET_API fnet_result fnet_trainer_init_weights(fnet_trainer *tr, fnet_init kind,
                                               unsigned long long seed);

/* Distillation of distances (a teacher network's geometry, up to an affine map):
   L = 1 - r, where r is the Pearson correlation, over the pairs i < j of a batch of n, between
   the student's squared distances ||e_i - e_j||^2 (emb: n * dim) and the teacher's
   ||t_i - t_j||^2 (teacher: n * tdim). An affine map of the teacher's distances leaves r as
   it is, and a student that maps every face to one point gets no credit (r = 0). grad (may be
   NULL) receives dL/d emb (n * dim floats). n >= 3. */
FNET_API fnet_result fnet_distill_loss(const float *emb, const float *teacher, int n, int dim,
                                       int tdim, float *loss, float *grad);

/* One FaceNet step: forward, fnet_triplet_select (mining) and fnet_triplet_loss (alpha),
   backward, update. Returns the loss and the triplet counts (any output may be NULL). A batch
   without an active triplet changes nothing. FNET_ERR_NOT_FINITE: fnet_trainer_error_detail
   says "loss" (then *loss holds it) or names the tensor whose update was refused. */
FNET_API fnet_result fnet_trainer_step_triplet(fnet_trainer *tr, const float *inputs,
                                               int from_frontier, const int *labels, int n,
                                               float alpha, fnet_triplet_mining mining,
                                               float *loss, int *n_triplets, int *n_active);

/* Checkpoint: the trainable tensors, the optimizer state and the step count (buf NULL: size
   query). Loading checks that the checkpoint belongs to the same network, optimizer and
   trainable set (FNET_ERR_MISMATCH) and is undamaged (CRC). */
FNET_API fnet_result fnet_trainer_save_state(const fnet_trainer *tr, void *buf, size_t cap,
                                             size_t *size);
FNET_API fnet_result fnet_trainer_load_state(fnet_trainer *tr, const void *data, size_t size);

/* The trained network as a new blob (buf NULL: size query). Metadata: the original's, then
   the n_meta (key, value) pairs given (keys[i], values[i]; a key given replaces the
   original's), then "trained_tensors" (names), "trained_steps" and "trained_from" (the
   original network id). The network id ("network") must change: the caller's value, else
   the original id + "+trained" (galleries of the original refuse the new one). When every
   filled tensor of an incomplete blob was trained, the incomplete flag is cleared. */
FNET_API fnet_result fnet_trainer_save_blob(const fnet_trainer *tr, const char *const *keys,
                                            const char *const *values, int n_meta, void *buf,
                                            size_t cap, size_t *size);
#ifndef FNET_NO_STDIO
/* Writes PATH.tmp, then renames it over PATH: a failed save leaves the old file intact. */
FNET_API fnet_result fnet_trainer_save_blob_file(const fnet_trainer *tr, const char *const *keys,
                                                 const char *const *values, int n_meta,
                                                 const char *path);
FNET_API fnet_result fnet_trainer_save_state_file(const fnet_trainer *tr, const char *path);
FNET_API fnet_result fnet_trainer_load_state_file(fnet_trainer *tr, const char *path);
#endif

#endif /* FACENET_H */

/* ######################################################################################### */
/* ######################################################################################### */
/*                                     IMPLEMENTATION                                        */
/* ######################################################################################### */
/* ######################################################################################### */

#ifdef FNET_IMPLEMENTATION
#ifndef FNET__IMPLEMENTATION_DONE
#define FNET__IMPLEMENTATION_DONE

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifndef FNET_NO_STDIO
#include <stdio.h>
#endif
/* fnet_model_load_file maps the blob read-only (POSIX mmap) where available, so loading costs
   no copy and pages are read on first use; FNET_NO_MMAP (or a failed map) reads with fread.
   File mapping is POSIX-only: on Windows (and any other system) blobs are read with fread. */
#if !defined(FNET_NO_STDIO) && !defined(FNET_NO_MMAP) && (defined(__unix__) || defined(__APPLE__))
#define FNET__MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#if defined(FNET_MALLOC) && defined(FNET_FREE) && defined(FNET_REALLOC)
/* ok: all three given */
#elif !defined(FNET_MALLOC) && !defined(FNET_FREE) && !defined(FNET_REALLOC)
#define FNET_MALLOC(sz) malloc(sz)
#define FNET_REALLOC(p, sz) realloc(p, sz)
#define FNET_FREE(p) free(p)
#else
#error "facenet.h: define all three of FNET_MALLOC, FNET_REALLOC, FNET_FREE, or none"
#endif

#ifndef FNET_ASSERT
#define FNET_ASSERT(x) ((void)0)
#endif
#ifndef FNET_MAX_IMAGE_SIDE
#define FNET_MAX_IMAGE_SIDE 16384
#endif
#ifndef FNET_MAX_BLOB_SIZE
#define FNET_MAX_BLOB_SIZE ((size_t)1 << 30)
#endif

/* ---- SIMD availability (compile time) ---- */
/* Compilers: GCC and Clang compile the AVX2/AVX-512 kernels through per-function target
   attributes (the rest of the file stays baseline x86-64); MSVC has no such attribute and needs
   none: its intrinsics compile anywhere, and cpuid comes from <intrin.h>. clang-cl (Clang
   with _MSC_VER) takes the GCC/Clang path, but its <immintrin.h> declares only the
   instruction sets the command line enables, so the ones the kernels use are included by name. */
#if !defined(FNET_NO_SIMD) && (defined(__x86_64__) || defined(_M_X64) || \
                               (defined(__i386__) && defined(__SSE2__)) || \
                               (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#define FNET__X86 1
#include <immintrin.h>
#if defined(__GNUC__) || defined(__clang__)
#include <cpuid.h>
#define FNET__AVX2_FN __attribute__((target("avx2,fma")))
#if defined(_MSC_VER) && defined(__clang__)
#include <tmmintrin.h>
#include <smmintrin.h>
#include <avxintrin.h>
#include <avx2intrin.h>
#include <fmaintrin.h>
#include <avx512fintrin.h>
#endif
#else
#include <intrin.h>
#define FNET__AVX2_FN
#endif
#endif
/* NEON only on little-endian ARM: some kernels (the detector's 4-pixel loads) assume the
   lane order of a little-endian register; big-endian ARM runs the scalar kernels. */
#if !defined(FNET_NO_SIMD) && (defined(__ARM_NEON) || defined(__ARM_NEON__)) && !defined(__ARM_BIG_ENDIAN)
#define FNET__NEON 1
#include <arm_neon.h>
#endif
/* WebAssembly SIMD128: compiled in when the target has it (clang -msimd128; the intrinsics
   of clang's <wasm_simd128.h>). The kernels do the scalar twins' float operations in the same
   order, and wasm has no fused multiply-add for either side to contract into, so their
   results equal the scalar kernels' bit for bit (make portable compares the whole pipeline:
   identical to the x86-64 scalar build). */
#if !defined(FNET_NO_SIMD) && defined(__wasm_simd128__)
#define FNET__WASM_SIMD 1
#include <wasm_simd128.h>
#endif

/* Private helpers that some configurations leave unused (e.g. FNET_NO_SIMD builds). */
#if defined(__GNUC__) || defined(__clang__)
#define FNET__MAYBE_UNUSED __attribute__((unused))
#else
#define FNET__MAYBE_UNUSED
#endif

#define FNET__MIN(a, b) ((a) < (b) ? (a) : (b))
#define FNET__MAX(a, b) ((a) > (b) ? (a) : (b))

/* ==== Foundation: results, memory, byte order ============================================ */

FNET_API const char *fnet_result_string(fnet_result r) {
    switch (r) {
    case FNET_OK: return "ok";
    case FNET_ERR_INVALID_ARGUMENT: return "invalid argument: a required pointer is NULL or a value is out of range; check the call against facenet.h";
    case FNET_ERR_OUT_OF_MEMORY: return "out of memory: free memory or give a smaller image";
    case FNET_ERR_IO: return "cannot read or write the file: check the path and permissions";
    case FNET_ERR_BAD_MAGIC: return "not a facenet.h file (bad magic): build blobs with tools/convert_weights.py (make weights)";
    case FNET_ERR_VERSION: return "file format version differs from this header's: rebuild the blob with tools/convert_weights.py from the same release as facenet.h";
    case FNET_ERR_TRUNCATED: return "file is truncated (shorter than its header says): download or rebuild it (make weights)";
    case FNET_ERR_CORRUPT: return "file is damaged (an offset, size, checksum or value is inconsistent): rebuild it with tools/convert_weights.py";
    case FNET_ERR_WRONG_MODEL: return "wrong kind of model for this call (e.g. a landmarks blob passed to fnet_detect): check which .fnet file you loaded";
    case FNET_ERR_BAD_IMAGE: return "bad image: pixels must be non-NULL, width and height > 0, channels 1, 3 or 4, stride >= width*channels";
    case FNET_ERR_IMAGE_TOO_LARGE: return "image too large: width and height are limited to FNET_MAX_IMAGE_SIDE (16384 by default); downscale it";
    case FNET_ERR_WORKSPACE_TOO_SMALL: return "workspace too small: size it with the matching *_workspace_size() call for this image";
    case FNET_ERR_UNSUPPORTED: return "not supported by this build or CPU (e.g. a SIMD kernel set this CPU lacks)";
    case FNET_ERR_NOT_FINITE: return "input contains NaN or infinity: check the values you pass";
    case FNET_ERR_NOT_FOUND: return "not found";
    case FNET_ERR_DUPLICATE: return "already present: use another name or remove the old entry first";
    case FNET_ERR_MISMATCH: return "embeddings of different networks or dimensions cannot be compared: use one network throughout";
    case FNET_ERR_TOO_LARGE: return "above a documented size limit (see the limits in facenet.h)";
    }
    return "unknown result code";
}

/* Little-endian readers: the blob is little-endian on disk whatever the host is. */
static FNET__MAYBE_UNUSED unsigned fnet__rd_u16(const unsigned char *p) { return (unsigned)p[0] | ((unsigned)p[1] << 8); }
static unsigned long fnet__rd_u32(const unsigned char *p) {
    return (unsigned long)p[0] | ((unsigned long)p[1] << 8) | ((unsigned long)p[2] << 16) |
           ((unsigned long)p[3] << 24);
}
static unsigned long long fnet__rd_u64(const unsigned char *p) {
    return (unsigned long long)fnet__rd_u32(p) | ((unsigned long long)fnet__rd_u32(p + 4) << 32);
}
static long fnet__rd_i32(const unsigned char *p) {
    unsigned long u = fnet__rd_u32(p);
    return u >= 0x80000000UL ? (long)(u - 0x80000000UL) - 0x7fffffffL - 1 : (long)u;
}
static float fnet__rd_f32(const unsigned char *p) {
    unsigned long u = fnet__rd_u32(p);
    unsigned int w = (unsigned int)u;
    float f;
    memcpy(&f, &w, 4);
    return f;
}
/* ---- little-endian writers (blobs, gallery and classifier files) ---- */
static void fnet__wr_u32(unsigned char *p, unsigned long v) {
    p[0] = (unsigned char)(v & 255u); p[1] = (unsigned char)((v >> 8) & 255u);
    p[2] = (unsigned char)((v >> 16) & 255u); p[3] = (unsigned char)((v >> 24) & 255u);
}
static void fnet__wr_u64(unsigned char *p, unsigned long long v) {
    fnet__wr_u32(p, (unsigned long)(v & 0xFFFFFFFFULL));
    fnet__wr_u32(p + 4, (unsigned long)(v >> 32));
}
static void fnet__wr_f32(unsigned char *p, float f) {
    unsigned int u;
    memcpy(&u, &f, 4);
    fnet__wr_u32(p, (unsigned long)u);
}
static int fnet__host_is_little_endian(void) {
    unsigned int one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* IEEE half -> float (for f16 tensors). */
static FNET__MAYBE_UNUSED float fnet__f16_to_f32(unsigned h) {
    unsigned sign = (h >> 15) & 1, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 0) v = ldexpf((float)man, -24);
    else if (exp == 31) v = man ? NAN : INFINITY;
    else v = ldexpf((float)(man | 1024), (int)exp - 25);
    return sign ? -v : v;
}

/* CRC-32 (ISO-HDLC, as zlib's crc32) of the blob's tables. Bitwise: the tables are small. */
static unsigned long fnet__crc32_update(unsigned long crc, const unsigned char *p, size_t n) {
    unsigned long c = crc ^ 0xFFFFFFFFUL;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320UL & (0UL - (c & 1UL)));
    }
    return (c ^ 0xFFFFFFFFUL) & 0xFFFFFFFFUL;
}
static FNET__MAYBE_UNUSED unsigned long fnet__crc32(const unsigned char *p, size_t n) {
    return fnet__crc32_update(0, p, n);
}

/* Overflow-checked size arithmetic: returns 0 on overflow (callers treat 0 as failure). */
static int fnet__mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}

static void *fnet__alloc_aligned(size_t size, void **raw) {
    /* 64-byte aligned block; *raw is what FNET_FREE gets. */
    unsigned char *p = (unsigned char *)FNET_MALLOC(size + 64);
    size_t mis;
    *raw = p;
    if (!p) return NULL;
    mis = (size_t)(((unsigned long long)(size_t)p) & 63u);
    return p + (64 - mis) % 64;
}

FNET_API fnet_image fnet_image_view(const unsigned char *pixels, int width, int height,
                                    int channels, int stride) {
    fnet_image im;
    im.pixels = pixels;
    im.width = width;
    im.height = height;
    im.channels = channels;
    im.stride = stride;
    return im;
}

/* Validates an image view; fills in a zero stride. */
static FNET__MAYBE_UNUSED fnet_result fnet__check_image(fnet_image *img) {
    if (!img->pixels || img->width <= 0 || img->height <= 0) return FNET_ERR_BAD_IMAGE;
    if (img->channels != 1 && img->channels != 3 && img->channels != 4) return FNET_ERR_BAD_IMAGE;
    if (img->width > FNET_MAX_IMAGE_SIDE || img->height > FNET_MAX_IMAGE_SIDE)
        return FNET_ERR_IMAGE_TOO_LARGE;
    if (img->stride == 0) img->stride = img->width * img->channels;
    if (img->stride < img->width * img->channels) return FNET_ERR_BAD_IMAGE;
    return FNET_OK;
}

/* ==== Weight blob format (version 1) =====================================================

   One model per file. Little-endian on disk. Offsets are absolute file offsets.

     offset size  field
     0      8     magic "FNETBLOB"
     8      4     u32 format version (1)
     12     4     u32 byte-order mark 0x01020304 (bytes 04 03 02 01)
     16     4     u32 model kind: 1 detector, 2 landmarks, 3 network
     20     4     u32 header size (96)
     24     8     u64 file size in bytes
     32     4     u32 number of metadata entries
     36     4     u32 number of tensors
     40     4     u32 number of ops (network graph nodes; 0 for other kinds)
     44     4     u32 flags: bit 0 = incomplete (some tensors were filled, not trained)
     48     8     u64 offset of the metadata
     56     8     u64 offset of the tensor table
     64     8     u64 offset of the op table
     72     8     u64 offset of the tensor data (multiple of 64)
     80     4     u32 CRC-32 (zlib's) of header bytes 0..79 followed by the bytes from the
                  metadata to the end of the op table (tensor data is not checksummed)
     84     12    zero

   Metadata: entries of u32 key length, u32 value length, key bytes, NUL, value bytes, NUL,
   padded with zeros to a multiple of 4. Keys every blob has: source, license. Networks:
   input_size, embedding_dim, input_divisor, ...; incomplete blobs: incomplete=1 and
   filled_tensors=name,name,...

   Tensor table: entries of 96 bytes:
     char name[48] (NUL-terminated), u32 dtype (1 f32, 2 f16, 3 i8, 4 u8, 5 i32, 6 i16, 7 u16),
     u32 ndim (1..4), u32 shape[4] (unused dims 1; row-major, last index fastest),
     f32 scale, f32 zero (quantised types: value = scale * (q - zero)),
     u64 data offset (multiple of 64), u64 data size in bytes (= product(shape) * dtype size).

   Op table (networks): entries of 136 bytes:
     char name[32], u32 type, u32 flags, i32 input[4] (indices of earlier ops, -1 unused),
     i32 tensor[4] (tensor indices, -1 unused), i32 iparam[12], f32 fparam[4].
   Op types and their parameters are listed in section 4 (the op table under "4. Embedding
   network engine").

   The loader checks: magic, version, byte-order mark, that the file is as long as the
   header says, the table checksum, that every table and every tensor lies inside the file
   (tensors in table order, not overlapping) and every tensor's size matches its shape and dtype (with overflow checks), names are
   NUL-terminated, op inputs refer to earlier ops and tensors exist. Each stage then checks
   the values it uses as indices (split indices, anchors) before running anything.
*/

typedef struct fnet__tensor {
    const char *name;
    int dtype, ndim;
    int shape[4];
    size_t count, nbytes;
    float scale, zero;
    const void *data; /* host byte order */
} fnet__tensor;

typedef struct fnet__op {
    const char *name;
    int type, flags, n_in;
    int in[4];
    int tensor[4];
    int ip[12];
    float fp[4];
} fnet__op;

struct fnet_model {
    fnet_model_kind kind;
    unsigned flags;
    fnet_isa isa;             /* resolved kernel set (never AUTO after loading) */
    void *owned_raw;          /* our copy of the blob (FNET_FREE this), or NULL: zero-copy */
    void *mapped;             /* the blob's file mapping (munmap on free), or NULL */
    size_t mapped_size;
    const unsigned char *blob;
    size_t size;
    int n_meta;
    const char **meta_key, **meta_val;
    int n_tensors;
    fnet__tensor *tensors;
    int n_ops;
    fnet__op *ops;
    void *stage;              /* built by the stage's *_prepare(); freed by its *_release() */
};

#define FNET__HEADER_SIZE 96u
#define FNET__TENSOR_ENTRY 96u
#define FNET__OP_ENTRY 136u
#define FNET__MAX_TENSORS 65536u
#define FNET__MAX_OPS 65536u
#define FNET__MAX_META 4096u

enum { FNET__F32 = 1, FNET__F16, FNET__I8, FNET__U8, FNET__I32, FNET__I16, FNET__U16 };
static const char *const fnet__dtype_names[8] = {"?", "f32", "f16", "i8", "u8", "i32", "i16", "u16"};
static const size_t fnet__dtype_size[8] = {0, 4, 2, 1, 1, 4, 2, 2};

/* Each stage builds what it needs from the tensors once, at load (defined in its section). */
static fnet_result fnet__detector_prepare(fnet_model *m);
static void fnet__detector_release(fnet_model *m);
static fnet_result fnet__landmarks_prepare(fnet_model *m);
static void fnet__landmarks_release(fnet_model *m);
static fnet_result fnet__network_prepare(fnet_model *m);
static void fnet__network_release(fnet_model *m);

/* Finds a tensor by name; NULL when absent. */
static FNET__MAYBE_UNUSED const fnet__tensor *fnet__find_tensor(const fnet_model *m, const char *name) {
    int i;
    for (i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* Finds a tensor and checks its dtype and shape (dims < 0 match anything). */
static FNET__MAYBE_UNUSED const fnet__tensor *fnet__get_tensor(const fnet_model *m, const char *name, int dtype,
                                            int ndim, int d0, int d1, int d2, int d3) {
    const fnet__tensor *t = fnet__find_tensor(m, name);
    int want[4];
    int i;
    want[0] = d0; want[1] = d1; want[2] = d2; want[3] = d3;
    if (!t || t->dtype != dtype || t->ndim != ndim) return NULL;
    for (i = 0; i < ndim; i++)
        if (want[i] >= 0 && t->shape[i] != want[i]) return NULL;
    return t;
}

/* An integer metadata value, or `fallback` when absent or not a number. */
static FNET__MAYBE_UNUSED long fnet__meta_long(const fnet_model *m, const char *key, long fallback) {
    const char *v = fnet_model_meta(m, key);
    char *end;
    long x;
    if (!v) return fallback;
    x = strtol(v, &end, 10);
    return (end == v || *end) ? fallback : x;
}
static FNET__MAYBE_UNUSED double fnet__meta_double(const fnet_model *m, const char *key, double fallback) {
    const char *v = fnet_model_meta(m, key);
    char *end;
    double x;
    if (!v) return fallback;
    x = strtod(v, &end);
    return (end == v || *end) ? fallback : x;
}

static void fnet__model_release(fnet_model *m) {
    if (!m) return;
    if (m->stage) {
        if (m->kind == FNET_MODEL_DETECTOR) fnet__detector_release(m);
        else if (m->kind == FNET_MODEL_LANDMARKS) fnet__landmarks_release(m);
        else if (m->kind == FNET_MODEL_NETWORK) fnet__network_release(m);
    }
    FNET_FREE((void *)m->meta_key);
    FNET_FREE(m->tensors);
    FNET_FREE(m->ops);
    FNET_FREE(m->owned_raw);
#if defined(FNET__MMAP)
    if (m->mapped) munmap(m->mapped, m->mapped_size);
#endif
    FNET_FREE(m);
}

/* Byte-swaps tensor data in place (big-endian hosts, on our own copy of the blob). */
static void fnet__swap_elements(unsigned char *p, size_t count, size_t esize) {
    size_t i, k;
    for (i = 0; i < count; i++, p += esize)
        for (k = 0; k < esize / 2; k++) {
            unsigned char t = p[k];
            p[k] = p[esize - 1 - k];
            p[esize - 1 - k] = t;
        }
}

static fnet_result fnet__resolve_isa(fnet_isa want, fnet_isa *out);

/* Parses and checks the blob in `data` (which the model keeps: ours or the caller's). */
static fnet_result fnet__parse_blob(fnet_model *m, unsigned char *writable) {
    const unsigned char *b = m->blob;
    unsigned long long fsize, meta_off, tensor_off, op_off, data_off, end, data_end;
    unsigned long version, kind, n_meta, n_tensors, n_ops, hsize;
    size_t i, p;
    if (m->size < FNET__HEADER_SIZE) return FNET_ERR_TRUNCATED;
    if (memcmp(b, "FNETBLOB", 8) != 0) return FNET_ERR_BAD_MAGIC;
    version = fnet__rd_u32(b + 8);
    if (version != FNET_BLOB_VERSION) return FNET_ERR_VERSION;
    if (fnet__rd_u32(b + 12) != 0x01020304UL) return FNET_ERR_CORRUPT;
    kind = fnet__rd_u32(b + 16);
    hsize = fnet__rd_u32(b + 20);
    fsize = fnet__rd_u64(b + 24);
    n_meta = fnet__rd_u32(b + 32);
    n_tensors = fnet__rd_u32(b + 36);
    n_ops = fnet__rd_u32(b + 40);
    m->flags = (unsigned)fnet__rd_u32(b + 44);
    meta_off = fnet__rd_u64(b + 48);
    tensor_off = fnet__rd_u64(b + 56);
    op_off = fnet__rd_u64(b + 64);
    data_off = fnet__rd_u64(b + 72);
    if (fsize > (unsigned long long)m->size) return FNET_ERR_TRUNCATED;
    if (kind < 1 || kind > 3 || hsize != FNET__HEADER_SIZE) return FNET_ERR_CORRUPT;
    if (fsize > FNET_MAX_BLOB_SIZE) return FNET_ERR_TOO_LARGE;
    if (n_meta > FNET__MAX_META || n_tensors > FNET__MAX_TENSORS || n_ops > FNET__MAX_OPS)
        return FNET_ERR_CORRUPT;
    /* The tables follow each other: header | meta | tensors | ops | ... | data. */
    if (meta_off != FNET__HEADER_SIZE || tensor_off < meta_off || op_off < tensor_off)
        return FNET_ERR_CORRUPT;
    if (op_off - tensor_off != (unsigned long long)n_tensors * FNET__TENSOR_ENTRY)
        return FNET_ERR_CORRUPT;
    end = op_off + (unsigned long long)n_ops * FNET__OP_ENTRY;
    if (end > data_off || data_off > fsize || (data_off & 63u)) return FNET_ERR_CORRUPT;
    if (m->flags & ~1u) return FNET_ERR_CORRUPT; /* unknown flag bits */
    if (fnet__crc32_update(fnet__crc32_update(0, b, 80), b + meta_off, (size_t)(end - meta_off)) !=
        fnet__rd_u32(b + 80))
        return FNET_ERR_CORRUPT;
    m->kind = (fnet_model_kind)kind;
    m->size = (size_t)fsize;

    /* metadata: key and value strings point into the blob */
    if (n_meta) {
        m->meta_key = (const char **)FNET_MALLOC(2 * n_meta * sizeof(char *));
        if (!m->meta_key) return FNET_ERR_OUT_OF_MEMORY;
        m->meta_val = m->meta_key + n_meta;
    }
    p = (size_t)meta_off;
    for (i = 0; i < n_meta; i++) {
        unsigned long kl, vl;
        if (p + 8 > tensor_off) return FNET_ERR_CORRUPT;
        kl = fnet__rd_u32(b + p);
        vl = fnet__rd_u32(b + p + 4);
        if (kl > tensor_off || vl > tensor_off || p + 8 + kl + vl + 2 > tensor_off)
            return FNET_ERR_CORRUPT;
        if (b[p + 8 + kl] != 0 || b[p + 9 + kl + vl] != 0) return FNET_ERR_CORRUPT;
        m->meta_key[i] = (const char *)(b + p + 8);
        m->meta_val[i] = (const char *)(b + p + 9 + kl);
        if (strlen(m->meta_key[i]) != kl || strlen(m->meta_val[i]) != vl) return FNET_ERR_CORRUPT;
        p += (8 + kl + vl + 2 + 3) & ~(size_t)3;
    }
    if (p != tensor_off) return FNET_ERR_CORRUPT;
    m->n_meta = (int)n_meta;

    /* tensor table */
    data_end = data_off;
    if (n_tensors) {
        m->tensors = (fnet__tensor *)FNET_MALLOC(n_tensors * sizeof(fnet__tensor));
        if (!m->tensors) return FNET_ERR_OUT_OF_MEMORY;
    }
    for (i = 0; i < n_tensors; i++) {
        const unsigned char *e = b + tensor_off + i * FNET__TENSOR_ENTRY;
        fnet__tensor *t = &m->tensors[i];
        unsigned long dt = fnet__rd_u32(e + 48), nd = fnet__rd_u32(e + 52);
        unsigned long long off = fnet__rd_u64(e + 80), nb = fnet__rd_u64(e + 88);
        size_t count = 1;
        unsigned k;
        if (memchr(e, 0, 48) == NULL || e[0] == 0) return FNET_ERR_CORRUPT;
        if (dt < 1 || dt > 7 || nd < 1 || nd > 4) return FNET_ERR_CORRUPT;
        t->name = (const char *)e;
        t->dtype = (int)dt;
        t->ndim = (int)nd;
        for (k = 0; k < 4; k++) {
            unsigned long d = fnet__rd_u32(e + 56 + 4 * k);
            if (d < 1 || d > 0x7fffffffUL || (k >= nd && d != 1)) return FNET_ERR_CORRUPT;
            t->shape[k] = (int)d;
            if (!fnet__mul_ok(count, (size_t)d, &count)) return FNET_ERR_CORRUPT;
        }
        t->count = count;
        if (!fnet__mul_ok(count, fnet__dtype_size[dt], &t->nbytes)) return FNET_ERR_CORRUPT;
        if ((unsigned long long)t->nbytes != nb) return FNET_ERR_CORRUPT;
        if (off < data_off || (off & 63u) || off > fsize || nb > fsize - off) return FNET_ERR_CORRUPT;
        /* Tensors lie in table order without overlap (as tools/convert/fnet_blob.py writes them): two
           entries sharing bytes would be byte-swapped twice on a big-endian host. */
        if (off < data_end) return FNET_ERR_CORRUPT;
        data_end = off + nb;
        t->scale = fnet__rd_f32(e + 72);
        t->zero = fnet__rd_f32(e + 76);
        t->data = b + off;
        if (writable && fnet__dtype_size[dt] > 1 && !fnet__host_is_little_endian())
            fnet__swap_elements(writable + off, count, fnet__dtype_size[dt]);
    }
    m->n_tensors = (int)n_tensors;

    /* op table */
    if (n_ops) {
        m->ops = (fnet__op *)FNET_MALLOC(n_ops * sizeof(fnet__op));
        if (!m->ops) return FNET_ERR_OUT_OF_MEMORY;
    }
    for (i = 0; i < n_ops; i++) {
        const unsigned char *e = b + op_off + i * FNET__OP_ENTRY;
        fnet__op *o = &m->ops[i];
        unsigned k;
        if (memchr(e, 0, 32) == NULL) return FNET_ERR_CORRUPT;
        o->name = (const char *)e;
        o->type = (int)fnet__rd_u32(e + 32);
        o->flags = (int)fnet__rd_u32(e + 36);
        o->n_in = 0;
        for (k = 0; k < 4; k++) {
            long in = fnet__rd_i32(e + 40 + 4 * k), te = fnet__rd_i32(e + 56 + 4 * k);
            if (in < -1 || in >= (long)i || te < -1 || te >= (long)n_tensors) return FNET_ERR_CORRUPT;
            if (in >= 0 && (long)k != o->n_in) return FNET_ERR_CORRUPT; /* inputs come first */
            if (in >= 0) o->n_in++;
            o->in[k] = (int)in;
            o->tensor[k] = (int)te;
        }
        for (k = 0; k < 12; k++) o->ip[k] = (int)fnet__rd_i32(e + 72 + 4 * k);
        for (k = 0; k < 4; k++) o->fp[k] = fnet__rd_f32(e + 120 + 4 * k);
    }
    m->n_ops = (int)n_ops;
    return FNET_OK;
}

/* ---- Writing a blob: what the trainers save (the loader above reads it back) ----
   One tensor to write: its table entry and its data in host byte order. */
typedef struct fnet__blob_tensor {
    const char *name; /* < 48 bytes with its NUL */
    int dtype;        /* FNET__F32 ... */
    int ndim;         /* 1..4 */
    int shape[4];     /* unused dims 1 */
    float scale, zero; /* quantised types; 1 and 0 otherwise */
    const void *data; /* product(shape) * dtype size bytes, host byte order */
} fnet__blob_tensor;

/* Writes a complete blob of `kind` (header, metadata, tensor table, op table, 64-aligned
   tensor data, CRC) into buf. op_table: n_ops raw 136-byte entries or NULL. With buf NULL,
   *size = the bytes needed and FNET_OK; with cap < the bytes needed, FNET_ERR_WORKSPACE_TOO_SMALL.
   Refuses (FNET_ERR_INVALID_ARGUMENT) what the loader would refuse. */
static FNET__MAYBE_UNUSED fnet_result fnet__blob_write(int kind, unsigned long flags,
                                    const char *const *keys, const char *const *values, int n_meta,
                                    const fnet__blob_tensor *t, int n_tensors,
                                    const unsigned char *op_table, int n_ops,
                                    void *buf, size_t cap, size_t *size) {
    unsigned char *b = (unsigned char *)buf;
    size_t at, tab, optab, data_off, need, d;
    int i, k;
    if (!size || kind < 1 || kind > 3 || (flags & ~1ul) || n_meta < 0 || n_tensors < 0 || n_ops < 0 ||
        (unsigned)n_meta > FNET__MAX_META || (unsigned)n_tensors > FNET__MAX_TENSORS ||
        (unsigned)n_ops > FNET__MAX_OPS || (n_meta && (!keys || !values)) || (n_tensors && !t) ||
        (n_ops && !op_table))
        return FNET_ERR_INVALID_ARGUMENT;
    for (i = 0; i < n_meta; i++)
        if (!keys[i] || !values[i] || !*keys[i]) return FNET_ERR_INVALID_ARGUMENT;
    /* sizes: header | metadata | tensor table | op table | pad to 64 | tensors, each 64-aligned */
    at = FNET__HEADER_SIZE;
    for (i = 0; i < n_meta; i++) at += (8 + strlen(keys[i]) + strlen(values[i]) + 2 + 3) & ~(size_t)3;
    tab = at;
    optab = tab + (size_t)n_tensors * FNET__TENSOR_ENTRY;
    data_off = (optab + (size_t)n_ops * FNET__OP_ENTRY + 63u) & ~(size_t)63u;
    need = data_off;
    for (i = 0; i < n_tensors; i++) {
        size_t count = 1, nb;
        if (!t[i].name || !t[i].name[0] || strlen(t[i].name) >= 48 || t[i].dtype < 1 || t[i].dtype > 7 ||
            t[i].ndim < 1 || t[i].ndim > 4 || !t[i].data)
            return FNET_ERR_INVALID_ARGUMENT;
        for (k = 0; k < 4; k++) {
            if (t[i].shape[k] < 1 || (k >= t[i].ndim && t[i].shape[k] != 1)) return FNET_ERR_INVALID_ARGUMENT;
            if (!fnet__mul_ok(count, (size_t)t[i].shape[k], &count)) return FNET_ERR_TOO_LARGE;
        }
        if (!fnet__mul_ok(count, fnet__dtype_size[t[i].dtype], &nb)) return FNET_ERR_TOO_LARGE;
        need = ((need + 63u) & ~(size_t)63u) + nb;
        if (need < nb) return FNET_ERR_TOO_LARGE;
    }
    need = (need + 63u) & ~(size_t)63u;
    if (need > FNET_MAX_BLOB_SIZE) return FNET_ERR_TOO_LARGE;
    *size = need;
    if (!buf) return FNET_OK;
    if (cap < need) return FNET_ERR_WORKSPACE_TOO_SMALL;
    memset(b, 0, need);
    memcpy(b, "FNETBLOB", 8);
    fnet__wr_u32(b + 8, FNET_BLOB_VERSION);
    fnet__wr_u32(b + 12, 0x01020304UL);
    fnet__wr_u32(b + 16, (unsigned long)kind);
    fnet__wr_u32(b + 20, FNET__HEADER_SIZE);
    fnet__wr_u64(b + 24, (unsigned long long)need);
    fnet__wr_u32(b + 32, (unsigned long)n_meta);
    fnet__wr_u32(b + 36, (unsigned long)n_tensors);
    fnet__wr_u32(b + 40, (unsigned long)n_ops);
    fnet__wr_u32(b + 44, flags);
    fnet__wr_u64(b + 48, FNET__HEADER_SIZE);
    fnet__wr_u64(b + 56, (unsigned long long)tab);
    fnet__wr_u64(b + 64, (unsigned long long)optab);
    fnet__wr_u64(b + 72, (unsigned long long)data_off);
    at = FNET__HEADER_SIZE;
    for (i = 0; i < n_meta; i++) {
        size_t kl = strlen(keys[i]), vl = strlen(values[i]);
        fnet__wr_u32(b + at, (unsigned long)kl);
        fnet__wr_u32(b + at + 4, (unsigned long)vl);
        memcpy(b + at + 8, keys[i], kl);
        memcpy(b + at + 9 + kl, values[i], vl);
        at += (8 + kl + vl + 2 + 3) & ~(size_t)3;
    }
    d = data_off;
    for (i = 0; i < n_tensors; i++) {
        unsigned char *e = b + tab + (size_t)i * FNET__TENSOR_ENTRY;
        size_t es = fnet__dtype_size[t[i].dtype], count = 1, nb;
        for (k = 0; k < 4; k++) count *= (size_t)t[i].shape[k];
        nb = count * es;
        memcpy(e, t[i].name, strlen(t[i].name));
        fnet__wr_u32(e + 48, (unsigned long)t[i].dtype);
        fnet__wr_u32(e + 52, (unsigned long)t[i].ndim);
        for (k = 0; k < 4; k++) fnet__wr_u32(e + 56 + 4 * k, (unsigned long)t[i].shape[k]);
        fnet__wr_f32(e + 72, t[i].scale);
        fnet__wr_f32(e + 76, t[i].zero);
        d = (d + 63u) & ~(size_t)63u;
        fnet__wr_u64(e + 80, (unsigned long long)d);
        fnet__wr_u64(e + 88, (unsigned long long)nb);
        memcpy(b + d, t[i].data, nb);
        if (!fnet__host_is_little_endian() && es > 1) fnet__swap_elements(b + d, count, es);
        d += nb;
    }
    if (n_ops) memcpy(b + optab, op_table, (size_t)n_ops * FNET__OP_ENTRY);
    fnet__wr_u32(b + 80, fnet__crc32_update(fnet__crc32_update(0, b, 80), b + FNET__HEADER_SIZE,
                                            optab + (size_t)n_ops * FNET__OP_ENTRY - FNET__HEADER_SIZE));
    return FNET_OK;
}

FNET_API fnet_result fnet_model_load_memory(const void *blob, size_t size, fnet_model **out) {
    fnet_model *m;
    fnet_result r;
    unsigned char *copy = NULL;
    if (!out) return FNET_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!blob) return FNET_ERR_INVALID_ARGUMENT;
    if (size > FNET_MAX_BLOB_SIZE) return FNET_ERR_TOO_LARGE;
    m = (fnet_model *)FNET_MALLOC(sizeof(fnet_model));
    if (!m) return FNET_ERR_OUT_OF_MEMORY;
    memset(m, 0, sizeof(*m));
    if (((size_t)((unsigned long long)(size_t)blob & 63u)) == 0 && fnet__host_is_little_endian()) {
        m->blob = (const unsigned char *)blob; /* zero-copy */
    } else {
        copy = (unsigned char *)fnet__alloc_aligned(size ? size : 1, &m->owned_raw);
        if (!copy) { fnet__model_release(m); return FNET_ERR_OUT_OF_MEMORY; }
        memcpy(copy, blob, size);
        m->blob = copy;
    }
    m->size = size;
    r = fnet__parse_blob(m, copy);
    if (r == FNET_OK) r = fnet__resolve_isa(FNET_ISA_AUTO, &m->isa);
    if (r == FNET_OK) {
        if (m->kind == FNET_MODEL_DETECTOR) r = fnet__detector_prepare(m);
        else if (m->kind == FNET_MODEL_LANDMARKS) r = fnet__landmarks_prepare(m);
        else r = fnet__network_prepare(m);
    }
    if (r != FNET_OK) { fnet__model_release(m); return r; }
    *out = m;
    return FNET_OK;
}

#ifndef FNET_NO_STDIO
FNET_API fnet_result fnet_model_load_file(const char *path, fnet_model **out) {
    FILE *f;
    long len;
    void *raw = NULL;
    unsigned char *buf;
    fnet_result r;
    size_t got;
    if (!out) return FNET_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!path) return FNET_ERR_INVALID_ARGUMENT;
#if defined(FNET__MMAP)
    {   /* Map the file: the model points into the mapping (the converter replaces blobs by
           rename, so a mapped file is never rewritten in place). */
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
            (unsigned long long)st.st_size <= (unsigned long long)FNET_MAX_BLOB_SIZE) {
            size_t len = (size_t)st.st_size;
            void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
            close(fd);
            if (map != MAP_FAILED) {
                r = fnet_model_load_memory(map, len, out);
                if (r == FNET_OK && fnet_model_is_zero_copy(*out)) {
                    (*out)->mapped = map;
                    (*out)->mapped_size = len;
                } else {
                    munmap(map, len); /* failed, or copied (big-endian host) */
                }
                return r;
            }
        } else if (fd >= 0) {
            close(fd);
        }
    }
#endif
    f = fopen(path, "rb");
    if (!f) return FNET_ERR_IO;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return FNET_ERR_IO;
    }
    if ((unsigned long)len > FNET_MAX_BLOB_SIZE) { fclose(f); return FNET_ERR_TOO_LARGE; }
    buf = (unsigned char *)fnet__alloc_aligned((size_t)len + 1, &raw);
    if (!buf) { fclose(f); return FNET_ERR_OUT_OF_MEMORY; }
    got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) { FNET_FREE(raw); return FNET_ERR_IO; }
    if (fnet__host_is_little_endian()) {
        /* Load in place from our aligned buffer, then hand the buffer to the model. */
        r = fnet_model_load_memory(buf, (size_t)len, out);
        if (r == FNET_OK) (*out)->owned_raw = raw;
        else FNET_FREE(raw);
    } else {
        r = fnet_model_load_memory(buf, (size_t)len, out); /* copies and swaps */
        FNET_FREE(raw);
    }
    return r;
}
#endif

FNET_API void fnet_model_free(fnet_model *m) { fnet__model_release(m); }

FNET_API fnet_model_kind fnet_model_get_kind(const fnet_model *m) {
    return m ? m->kind : (fnet_model_kind)0;
}
FNET_API const char *fnet_model_kind_name(fnet_model_kind kind) {
    switch (kind) {
    case FNET_MODEL_DETECTOR: return "detector";
    case FNET_MODEL_LANDMARKS: return "landmarks";
    case FNET_MODEL_NETWORK: return "network";
    }
    return "unknown";
}
FNET_API const char *fnet_model_meta(const fnet_model *m, const char *key) {
    int i;
    if (!m || !key) return NULL;
    for (i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta_key[i], key) == 0) return m->meta_val[i];
    return NULL;
}
FNET_API int fnet_model_meta_count(const fnet_model *m) { return m ? m->n_meta : 0; }
FNET_API fnet_result fnet_model_meta_at(const fnet_model *m, int i, const char **key,
                                        const char **value) {
    if (!m || i < 0 || i >= m->n_meta) return FNET_ERR_INVALID_ARGUMENT;
    if (key) *key = m->meta_key[i];
    if (value) *value = m->meta_val[i];
    return FNET_OK;
}
FNET_API int fnet_model_incomplete(const fnet_model *m) { return m ? (int)(m->flags & 1u) : 0; }
FNET_API int fnet_model_tensor_count(const fnet_model *m) { return m ? m->n_tensors : 0; }
FNET_API fnet_result fnet_model_tensor_at(const fnet_model *m, int i, fnet_tensor_info *info) {
    int k;
    if (!m || !info || i < 0 || i >= m->n_tensors) return FNET_ERR_INVALID_ARGUMENT;
    info->name = m->tensors[i].name;
    info->dtype = fnet__dtype_names[m->tensors[i].dtype];
    info->ndim = m->tensors[i].ndim;
    for (k = 0; k < 4; k++) info->shape[k] = m->tensors[i].shape[k];
    info->bytes = m->tensors[i].nbytes;
    return FNET_OK;
}
FNET_API int fnet_model_op_count(const fnet_model *m) { return m ? m->n_ops : 0; }
FNET_API int fnet_model_is_zero_copy(const fnet_model *m) {
    return m && m->owned_raw == NULL;
}

/* ==== Foundation: CPU features and kernel dispatch ======================================= */

static FNET__MAYBE_UNUSED int fnet__cpu_has_avx2_fma(void) {
#if defined(FNET__X86)
#if defined(__GNUC__) || defined(__clang__)
    unsigned a, b, c, d;
    unsigned long long xcr0;
    unsigned lo, hi;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 27)) || !(c & (1u << 28)) || !(c & (1u << 12))) return 0; /* osxsave avx fma */
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = ((unsigned long long)hi << 32) | lo;
    if ((xcr0 & 6u) != 6u) return 0; /* OS saves xmm and ymm */
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 5)) != 0; /* avx2 */
#else
    int r[4];
    __cpuid(r, 1);
    if (!(r[2] & (1 << 27)) || !(r[2] & (1 << 28)) || !(r[2] & (1 << 12))) return 0;
    if ((_xgetbv(0) & 6) != 6) return 0;
    __cpuidex(r, 7, 0);
    return (r[1] & (1 << 5)) != 0;
#endif
#else
    return 0;
#endif
}

FNET_API int fnet_isa_supported(fnet_isa isa) {
    switch (isa) {
    case FNET_ISA_AUTO:
    case FNET_ISA_SCALAR: return 1;
#if defined(FNET__X86)
    case FNET_ISA_SSE2: return 1;
    case FNET_ISA_AVX2: return fnet__cpu_has_avx2_fma();
#endif
#if defined(FNET__NEON)
    case FNET_ISA_NEON: return 1;
#endif
#if defined(FNET__WASM_SIMD)
    case FNET_ISA_WASM_SIMD: return 1;
#endif
    default: return 0;
    }
}

FNET_API const char *fnet_isa_name(fnet_isa isa) {
    switch (isa) {
    case FNET_ISA_AUTO: return "auto";
    case FNET_ISA_SCALAR: return "scalar";
    case FNET_ISA_SSE2: return "sse2";
    case FNET_ISA_AVX2: return "avx2";
    case FNET_ISA_NEON: return "neon";
    case FNET_ISA_WASM_SIMD: return "wasm_simd128";
    }
    return "unknown";
}

static fnet_result fnet__resolve_isa(fnet_isa want, fnet_isa *out) {
    if (want == FNET_ISA_AUTO) {
        if (fnet_isa_supported(FNET_ISA_AVX2)) want = FNET_ISA_AVX2;
        else if (fnet_isa_supported(FNET_ISA_NEON)) want = FNET_ISA_NEON;
        else if (fnet_isa_supported(FNET_ISA_WASM_SIMD)) want = FNET_ISA_WASM_SIMD;
        else if (fnet_isa_supported(FNET_ISA_SSE2)) want = FNET_ISA_SSE2;
        else want = FNET_ISA_SCALAR;
    }
    if (!fnet_isa_supported(want)) return FNET_ERR_UNSUPPORTED;
    *out = want;
    return FNET_OK;
}

FNET_API fnet_isa fnet_model_get_isa(const fnet_model *m) { return m ? m->isa : FNET_ISA_SCALAR; }
FNET_API fnet_result fnet_model_set_isa(fnet_model *m, fnet_isa isa) {
    if (!m) return FNET_ERR_INVALID_ARGUMENT;
    return fnet__resolve_isa(isa, &m->isa);
}

/* Scratch memory: a bump allocator over the caller's workspace (or our own block). */
typedef struct fnet__arena {
    unsigned char *base;
    size_t size, used;
} fnet__arena;

static FNET__MAYBE_UNUSED void *fnet__arena_take(fnet__arena *a, size_t bytes) {
    size_t start = (a->used + 63u) & ~(size_t)63u;
    void *p;
    if (start < a->used || bytes > a->size || start > a->size - bytes) return NULL;
    p = a->base + start;
    a->used = start + bytes;
    return p;
}

/* Sets up an arena over (work, work_size); allocates `need` bytes when work is NULL.
   *own receives the block to free (NULL when the caller's workspace is used). */
static FNET__MAYBE_UNUSED fnet_result fnet__arena_init(fnet__arena *a, void *work, size_t work_size, size_t need,
                                    void **own) {
    *own = NULL;
    if (!work) {
        work = fnet__alloc_aligned(need, own);
        if (!work) return FNET_ERR_OUT_OF_MEMORY;
        work_size = need;
    } else if (work_size < need) {
        return FNET_ERR_WORKSPACE_TOO_SMALL;
    }
    a->base = (unsigned char *)work;
    a->size = work_size;
    a->used = 0;
    {   /* align the start */
        size_t mis = (size_t)(((unsigned long long)(size_t)a->base) & 63u);
        size_t skip = (64 - mis) % 64;
        if (skip > a->size) return FNET_ERR_WORKSPACE_TOO_SMALL;
        a->base += skip;
        a->size -= skip;
    }
    return FNET_OK;
}

/* The caller's threads: how many tasks a call hands out at once (1 without a callback), and
   running n <= that many tasks (on the calling thread, in order, without a callback). */
static FNET__MAYBE_UNUSED int fnet__workers(const fnet_parallel *par) {
    if (!par || !par->run || par->workers <= 1) return 1;
    return par->workers > FNET_MAX_WORKERS ? FNET_MAX_WORKERS : par->workers;
}
static FNET__MAYBE_UNUSED void fnet__parallel_run(const fnet_parallel *par, int n, fnet_task_fn fn, void *ctx) {
    int i;
    if (n > 1 && fnet__workers(par) > 1) par->run(par->user, n, fn, ctx);
    else
        for (i = 0; i < n; i++) fn(ctx, i);
}

/* ==== 0. Images: EXIF orientation of a JPEG ==============================================

   A JPEG (ITU T.81) is a sequence of marker segments: FF D8 (start of image), then FF xx and a
   2-byte big-endian length that counts itself, up to the scan (FF DA), where the compressed
   data begins. EXIF (JEITA CP-3451) lives in an APP1 segment (FF E1) whose payload is
   "Exif\0\0" and a TIFF file (TIFF 6.0): "II" (little-endian) or "MM" (big-endian), 42, the
   offset of the first directory (IFD0); a directory is a 2-byte entry count, then 12-byte
   entries (tag, type, count, a 4-byte value or offset). Orientation is tag 0x0112, one SHORT
   (type 3) held in the entry itself. Every offset read here is checked against the segment
   before use: the file is untrusted (tests/fuzz/fuzz_exif.c). */

static unsigned fnet__exif_u16(const unsigned char *p, int be) {
    return be ? ((unsigned)p[0] << 8 | p[1]) : ((unsigned)p[1] << 8 | p[0]);
}
static unsigned long fnet__exif_u32(const unsigned char *p, int be) {
    return be ? ((unsigned long)fnet__exif_u16(p, 1) << 16 | fnet__exif_u16(p + 2, 1))
              : ((unsigned long)fnet__exif_u16(p + 2, 0) << 16 | fnet__exif_u16(p, 0));
}

/* The orientation in one APP1 payload (t: n bytes after "Exif\0\0"), or 0. */
static int fnet__exif_tiff_orientation(const unsigned char *t, size_t n) {
    unsigned long ifd;
    unsigned count, i;
    int be;
    if (n < 8) return 0;
    if (t[0] == 'I' && t[1] == 'I') be = 0;
    else if (t[0] == 'M' && t[1] == 'M') be = 1;
    else return 0;
    if (fnet__exif_u16(t + 2, be) != 42) return 0;
    ifd = fnet__exif_u32(t + 4, be);
    if (ifd < 8 || ifd > n - 2) return 0;
    count = fnet__exif_u16(t + ifd, be);
    for (i = 0; i < count && (size_t)(n - ifd - 2) / 12 > i; i++) {
        const unsigned char *e = t + ifd + 2 + (size_t)12 * i;
        if (fnet__exif_u16(e, be) != 0x0112) continue;
        if (fnet__exif_u16(e + 2, be) != 3 || fnet__exif_u32(e + 4, be) != 1) return 0; /* one SHORT */
        return (int)fnet__exif_u16(e + 8, be);
    }
    return 0;
}

FNET_API fnet_result fnet_jpeg_exif_orientation(const void *data, size_t size, int *orientation) {
    const unsigned char *p = (const unsigned char *)data;
    size_t pos = 2;
    if (!orientation || (!data && size)) return FNET_ERR_INVALID_ARGUMENT;
    *orientation = 1;
    if (size < 4 || p[0] != 0xFF || p[1] != 0xD8) return FNET_OK; /* not a JPEG */
    while (pos + 4 <= size) {
        unsigned marker, len;
        if (p[pos] != 0xFF) return FNET_OK; /* not a marker: damaged; the photo as stored */
        marker = p[pos + 1];
        if (marker == 0xFF) { pos++; continue; } /* fill byte */
        if (marker == 0xDA || marker == 0xD9) return FNET_OK; /* scan or end: no EXIF before it */
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { pos += 2; continue; } /* no length */
        len = (unsigned)p[pos + 2] << 8 | p[pos + 3];
        if (len < 2 || len > size - pos - 2) return FNET_OK; /* a segment past the end */
        if (marker == 0xE1 && len >= 8 && memcmp(p + pos + 4, "Exif\0\0", 6) == 0) {
            int o = fnet__exif_tiff_orientation(p + pos + 10, (size_t)len - 8);
            if (o >= 1 && o <= 8) *orientation = o;
            return FNET_OK; /* the first EXIF block decides */
        }
        pos += 2 + (size_t)len;
    }
    return FNET_OK;
}

FNET_API fnet_result fnet_orient_point(int orientation, int width, int height, float x, float y,
                                       float *sx, float *sy) {
    float u, v, w1 = (float)(width - 1), h1 = (float)(height - 1);
    if (!sx || !sy) return FNET_ERR_INVALID_ARGUMENT;
    switch (orientation) { /* stored (u, v) shown at upright (x, y) */
    case 1: u = x; v = y; break;
    case 2: u = w1 - x; v = y; break;
    case 3: u = w1 - x; v = h1 - y; break;
    case 4: u = x; v = h1 - y; break;
    case 5: u = y; v = x; break;
    case 6: u = y; v = h1 - x; break;
    case 7: u = w1 - y; v = h1 - x; break;
    case 8: u = w1 - y; v = x; break;
    default: return FNET_ERR_INVALID_ARGUMENT;
    }
    *sx = u;
    *sy = v;
    return FNET_OK;
}

FNET_API fnet_result fnet_image_orient(fnet_image img, int orientation, unsigned char *out,
                                       int *out_width, int *out_height) {
    int ow, oh, x, y, c, ch;
    fnet_result r;
    if (!out || orientation < 1 || orientation > 8) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__check_image(&img)) != FNET_OK) return r;
    ch = img.channels;
    ow = orientation >= 5 ? img.height : img.width;
    oh = orientation >= 5 ? img.width : img.height;
    for (y = 0; y < oh; y++)
        for (x = 0; x < ow; x++) {
            float u = 0, v = 0;
            const unsigned char *s;
            unsigned char *d = out + ((size_t)y * ow + x) * ch;
            fnet_orient_point(orientation, img.width, img.height, (float)x, (float)y, &u, &v);
            s = img.pixels + (size_t)(int)v * img.stride + (size_t)(int)u * ch;
            for (c = 0; c < ch; c++) d[c] = s[c];
        }
    if (out_width) *out_width = ow;
    if (out_height) *out_height = oh;
    return FNET_OK;
}

/* ==== 1. Face detection: HOG features + linear SVM (dlib frontal face detector) ==========

   What it does (Dalal & Triggs 2005; Felzenszwalb et al. 2010; King 2015, "Max-Margin Object
   Detection"), step by step, exactly as dlib's frontal_face_detector computes it:

   a. Gradients. For each pixel, the centred differences gx = I(x+1)-I(x-1), gy = I(y+1)-I(y-1).
      A colour image uses, per pixel, the channel whose gradient is longest (gray images their
      only channel). The direction snaps to one of 18 orientations (20 degrees each, signed),
      the one with the largest dot product with a fixed table of unit vectors.
   b. Cells. The image is cut into 8x8-pixel cells; each pixel votes its gradient length into
      the orientation bin of the 4 nearest cells, with bilinear weights (a soft histogram).
   c. Felzenszwalb's 31 features per cell: the cell's 18 signed bins and 9 unsigned bins (bin o
      plus bin o+9), each normalised by the energy of the 4 blocks of 2x2 cells around it
      (clipped at 0.2), summed over the 4 normalisations; plus 4 "texture" features, the sum of
      all signed bins under each normalisation. Cells on the border get no features, so an
      image of H x W pixels gives round(H/8)-2 x round(W/8)-2 cells of 31 numbers.
   d. Pyramid. To find faces bigger than the 80x80 window, the image is shrunk by 5/6 again and
      again (dlib's pyramid_down<6>, bilinear) while it stays at least 64 pixels, and (b-c) run
      on every level.
   e. Scan. Each of the model's filters (dlib's has 5: front, left, right, front turned left and
      right) is a 10x10-cell x 31 linear SVM. Its score at every position of every level is
      the dot product with the 10x10x31 features under it (feature maps are padded with zero
      cells so windows may stick out). A position whose score reaches the filter's threshold
      is a detection; its box maps back to image pixels through the cell size and the level.
   f. Non-max suppression over all filters together, best score first: a box is dropped when
      it overlaps a kept one by more than 0.33 (intersection over the area of the rectangle
      bounding both, dlib's measure) or covers more than 0.79 of either box.
   g. Upsampling (optional): the image is first enlarged 2x (dlib's pyramid_up) N times, so
      faces down to 40 px (N=1) fit the window; boxes are mapped back as dlib's Python binding
      does. Score = SVM score - threshold (dlib's detection_confidence); opts->threshold
      raises or lowers every filter's threshold.

   Exactness: the resampling, gradients, orientations and normalisation below reproduce
   dlib's float arithmetic operation by operation (including where dlib's SIMD and scalar
   paths differ in tie-breaking and rounding order); this section is compiled with
   contraction off. The histograms' sums (b) are dlib's, in dlib's order, with the scalar,
   SSE2, NEON and wasm kernels and in training (section 1b), so those feature maps are
   bit-identical to dlib built without FMA contraction; detection with AVX2 sums them block
   by block instead (fnet__hog_hist_avx2: 3x less time, ~1e-7 relative difference). The scan
   uses dlib's separable pieces (an SVD of every filter plane), with its own order of
   summation. Boxes are dlib's; scores differ from dlib's by up to ~8e-6 (issue 17 allows
   1e-4; tests/test_detect.c checks every box of the shared photos and 1e-5).

   Shapes: level image h x w (x 3 or 1 channels, bytes); hist (cr+2) x (cc+2) x 18 floats with
   cr = round(h/8); norm cr x cc; features (hr+9) x (hc+9) x 32 floats, hr = cr-2, the 31
   features of cell (y,x) at [y+4][x+4][0..30] (feature 31 and the border are zero); filter
   10 x 10 x 32 floats (prepared from the blob's 10 x 10 x 31); scores per window. */

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#define FNET__HOG_MAX_FILTERS 16
#define FNET__HOG_NF 32     /* 31 features padded to 32 floats per cell */
#define FNET__HOG_MAX_UPSAMPLE FNET_MAX_UPSAMPLE

/* One rank-1 piece of a filter plane: weight[m][n] ~= col[m] * row[n] (dlib: SVD of each
   10x10 plane, singular values below max(1e-4, 0.001 * largest) dropped). */
typedef struct fnet__hog_sep {
    int filter, plane;
    float col[64], row[64];
} fnet__hog_sep;

typedef struct fnet__hog {
    int n_filters, rows, cols, cell;
    int n_sep;
    fnet__hog_sep *sep;  /* sorted by filter */
    int *by_plane;       /* detection: the pieces' indices ordered by plane (or NULL) */
    unsigned char *olut; /* detection, AVX2: 4 x accumulator slot of the orientation of every
                            integer gradient, [(gx + 255) * 511 + gy + 255] (or NULL) */
    int min_w, min_h, max_levels;
    double iou, covered;
    double thresh[FNET__HOG_MAX_FILTERS];
    float *w;   /* [filter][rows][cols][32] */
    void *raw;
} fnet__hog;

static void fnet__detector_release(fnet_model *m) {
    fnet__hog *h = (fnet__hog *)m->stage;
    if (!h) return;
    FNET_FREE(h->raw);
    FNET_FREE(h->sep);
    FNET_FREE(h->by_plane);
    FNET_FREE(h->olut);
    FNET_FREE(h);
    m->stage = NULL;
}

/* One-sided Jacobi SVD of a rows x cols matrix a (row-major, double): a = U diag(s) V^T.
   On return a holds U*diag(s) column by column, v (cols x cols) holds V, s the singular values. */
static void fnet__svd_jacobi(double *a, int rows, int cols, double *v, double *s) {
    int sweep, p, q, i;
    for (p = 0; p < cols; p++)
        for (q = 0; q < cols; q++) v[p * cols + q] = p == q ? 1.0 : 0.0;
    for (sweep = 0; sweep < 60; sweep++) {
        int rotated = 0;
        for (p = 0; p < cols; p++)
            for (q = p + 1; q < cols; q++) {
                double al = 0, be = 0, ga = 0, ze, t, c, sn;
                for (i = 0; i < rows; i++) {
                    al += a[i * cols + p] * a[i * cols + p];
                    be += a[i * cols + q] * a[i * cols + q];
                    ga += a[i * cols + p] * a[i * cols + q];
                }
                if (ga == 0 || fabs(ga) <= 1e-15 * sqrt(al * be)) continue;
                rotated = 1;
                ze = (be - al) / (2 * ga);
                t = (ze >= 0 ? 1.0 : -1.0) / (fabs(ze) + sqrt(1 + ze * ze));
                c = 1 / sqrt(1 + t * t);
                sn = c * t;
                for (i = 0; i < rows; i++) {
                    double x = a[i * cols + p], y = a[i * cols + q];
                    a[i * cols + p] = c * x - sn * y;
                    a[i * cols + q] = sn * x + c * y;
                }
                for (i = 0; i < cols; i++) {
                    double x = v[i * cols + p], y = v[i * cols + q];
                    v[i * cols + p] = c * x - sn * y;
                    v[i * cols + q] = sn * x + c * y;
                }
            }
        if (!rotated) break;
    }
    for (p = 0; p < cols; p++) {
        double n = 0;
        for (i = 0; i < rows; i++) n += a[i * cols + p] * a[i * cols + p];
        s[p] = sqrt(n);
    }
}

/* Splits every filter plane into rank-1 pieces (dlib's build_fhog_filterbank does the same). */
static fnet_result fnet__hog_separate(fnet__hog *h) {
    const int rows = h->rows, cols = h->cols;
    double a[64 * 64], v[64 * 64], sv[64];
    int f, k, i, j, cap = h->n_filters * 31 * FNET__MIN(rows, cols);
    if (rows > 64 || cols > 64 || rows > cols * 64) return FNET_ERR_CORRUPT;
    h->sep = (fnet__hog_sep *)FNET_MALLOC((size_t)cap * sizeof(fnet__hog_sep));
    if (!h->sep) return FNET_ERR_OUT_OF_MEMORY;
    h->n_sep = 0;
    for (f = 0; f < h->n_filters; f++)
        for (k = 0; k < 31; k++) {
            const float *w = h->w + (size_t)f * rows * cols * FNET__HOG_NF;
            double smax = 0, th;
            int tr = rows >= cols; /* Jacobi on the taller orientation */
            int r2 = tr ? rows : cols, c2 = tr ? cols : rows;
            for (i = 0; i < rows; i++)
                for (j = 0; j < cols; j++) {
                    double x = (double)w[((size_t)i * cols + j) * FNET__HOG_NF + k];
                    if (tr) a[i * c2 + j] = x; else a[j * c2 + i] = x;
                }
            fnet__svd_jacobi(a, r2, c2, v, sv);
            for (j = 0; j < c2; j++) smax = sv[j] > smax ? sv[j] : smax;
            th = smax * 0.001 > 1e-4 ? smax * 0.001 : 1e-4;
            for (j = 0; j < c2; j++) {
                fnet__hog_sep *sp;
                double rs;
                if (!(sv[j] >= th) || h->n_sep >= cap) continue;
                sp = &h->sep[h->n_sep++];
                sp->filter = f;
                sp->plane = k;
                rs = sqrt(sv[j]);
                for (i = 0; i < r2; i++) { /* a's column j is u * s */
                    double uval = a[i * c2 + j] / sv[j] * rs;
                    if (tr) sp->col[i] = (float)uval; else sp->row[i] = (float)uval;
                }
                for (i = 0; i < c2; i++) {
                    double vval = v[i * c2 + j] * rs;
                    if (tr) sp->row[i] = (float)vval; else sp->col[i] = (float)vval;
                }
            }
        }
    return FNET_OK;
}

#if defined(FNET__X86)
static void fnet__hog_olut_avx2(unsigned char *lut);
#endif

static fnet_result fnet__detector_prepare(fnet_model *m) {
    fnet__hog *h;
    fnet_result r;
    const fnet__tensor *thr;
    int i, k, nf;
    char key[32];
    long rows = fnet__meta_long(m, "filter_rows", 10), cols = fnet__meta_long(m, "filter_cols", 10);
    long cell = fnet__meta_long(m, "cell_size", 8);
    if (rows < 1 || rows > 64 || cols < 1 || cols > 64 || cell != 8) return FNET_ERR_CORRUPT;
    if (fnet__meta_long(m, "padding", 0) != 0 || fnet__meta_long(m, "pyramid_down", 6) != 6)
        return FNET_ERR_CORRUPT;
    thr = fnet__get_tensor(m, "thresholds", FNET__F32, 1, -1, -1, -1, -1);
    if (!thr) return FNET_ERR_CORRUPT;
    nf = thr->shape[0];
    if (nf < 1 || nf > FNET__HOG_MAX_FILTERS) return FNET_ERR_CORRUPT;
    h = (fnet__hog *)FNET_MALLOC(sizeof(fnet__hog));
    if (!h) return FNET_ERR_OUT_OF_MEMORY;
    memset(h, 0, sizeof(*h));
    m->stage = h;
    h->n_filters = nf;
    h->rows = (int)rows;
    h->cols = (int)cols;
    h->cell = (int)cell;
    h->min_w = (int)fnet__meta_long(m, "min_pyramid_layer_width", 64);
    h->min_h = (int)fnet__meta_long(m, "min_pyramid_layer_height", 64);
    h->max_levels = (int)fnet__meta_long(m, "max_pyramid_levels", 1000);
    h->iou = fnet__meta_double(m, "iou_thresh", 0.33008212188056446);
    h->covered = fnet__meta_double(m, "percent_covered_thresh", 0.78857142857142859);
    if (h->min_w < 1 || h->min_h < 1 || h->max_levels < 1 || h->max_levels > 100000 ||
        !(h->iou >= 0.0 && h->iou <= 1.0) || !(h->covered >= 0.0 && h->covered <= 1.0))
        return FNET_ERR_CORRUPT;
    h->w = (float *)fnet__alloc_aligned((size_t)nf * rows * cols * FNET__HOG_NF * sizeof(float), &h->raw);
    if (!h->w) return FNET_ERR_OUT_OF_MEMORY;
    for (i = 0; i < nf; i++) {
        const fnet__tensor *t;
        const float *src;
        float *dst = h->w + (size_t)i * rows * cols * FNET__HOG_NF;
        double tv = (double)((const float *)thr->data)[i];
        memcpy(key, "filter", 6);
        key[6] = (char)('0' + i / 10); key[7] = (char)('0' + i % 10); key[8] = 0;
        if (i < 10) { key[6] = key[7]; key[7] = 0; }
        t = fnet__get_tensor(m, key, FNET__F32, 3, (int)rows, (int)cols, 31, -1);
        if (!t) return FNET_ERR_CORRUPT;
        src = (const float *)t->data;
        for (k = 0; k < rows * cols; k++) {
            int p;
            for (p = 0; p < 31; p++) {
                float v = src[k * 31 + p];
                if (!(v == v) || v > FLT_MAX || v < -FLT_MAX) return FNET_ERR_CORRUPT;
                dst[k * FNET__HOG_NF + p] = v;
            }
            dst[k * FNET__HOG_NF + 31] = 0.0f;
        }
        memcpy(key, "threshold", 9);  /* the exact double, when the blob has it */
        key[9] = (char)('0' + i / 10); key[10] = (char)('0' + i % 10); key[11] = 0;
        if (i < 10) { key[9] = key[10]; key[10] = 0; }
        tv = fnet__meta_double(m, key, tv);
        if (!(tv == tv) || tv > 1e30 || tv < -1e30) return FNET_ERR_CORRUPT;
        h->thresh[i] = tv;
    }
    r = fnet__hog_separate(h);
    if (r != FNET_OK) return r;
    h->by_plane = (int *)FNET_MALLOC((size_t)(h->n_sep + 1) * sizeof(int));
    if (!h->by_plane) return FNET_ERR_OUT_OF_MEMORY;
    for (k = 0, i = 0; k < 31; k++) { /* by plane, then filter (sep's order) */
        int t;
        for (t = 0; t < h->n_sep; t++)
            if (h->sep[t].plane == k) h->by_plane[i++] = t;
    }
#if defined(FNET__X86)
    if (fnet_isa_supported(FNET_ISA_AVX2)) { /* 255 KB; without it the kernel computes them */
        h->olut = (unsigned char *)FNET_MALLOC(511 * 511);
        if (h->olut) fnet__hog_olut_avx2(h->olut);
    }
#endif
    return FNET_OK;
}

/* ---- image pyramid (dlib pyramid_down<6> / pyramid_up, bilinear resize_image) ---- */

/* A level image in planes: R, G, B (nch 3) or one gray plane (nch 1), rows `stride` apart. */
typedef struct fnet__himg {
    const unsigned char *pl[3];
    int w, h, stride, nch;
} fnet__himg;

/* dlib's bilinear resize_image (rgb_pixel and unsigned char images): output columns in groups
   of 4 with positions accumulated in float and weights multiplied in float, truncated to bytes
   (gray: rounded, +0.5); from the group whose 4th right neighbour leaves the image on, column
   by column in double, truncated (gray too: dlib's assign_pixel). The float positions are the
   same on every row, so they are computed once into cleft/clr (dw entries each); masks (2*dw
   bytes, may be NULL) receives the AVX2 byte shuffles. Output planes are packed (stride dw). */
#if defined(FNET__X86)
/* The float columns of one colour output row, 8 at a time, with the same float products and
   sums as the scalar loop. The 8 source pixels and their right neighbours lie within 16 bytes
   (for the 5/6 and 2x scales used here), so one load and one byte shuffle (masks[], built once
   per resize) bring them; otherwise 4-byte gathers do. */
static FNET__AVX2_FN int fnet__hog_resize_row_avx2(const unsigned char *const *rt, const unsigned char *const *rb,
                                                   unsigned char *const *out, const int *cleft, const float *clr,
                                                   const unsigned char *masks, int cend, float ftb, float finv_tb) {
    const __m256 vtb = _mm256_set1_ps(ftb), vitb = _mm256_set1_ps(finv_tb), one = _mm256_set1_ps(1.0f);
    const __m256i m8 = _mm256_set1_epi32(255);
    int c, ch;
    for (c = 0; c + 8 <= cend; c += 8) {
        const __m256 lr = _mm256_loadu_ps(clr + c), ilr = _mm256_sub_ps(one, lr);
        const __m256 tlf = _mm256_mul_ps(vitb, ilr), trf = _mm256_mul_ps(vitb, lr);
        const __m256 blf = _mm256_mul_ps(vtb, ilr), brf = _mm256_mul_ps(vtb, lr);
        for (ch = 0; ch < 3; ch++) {
            __m256 tl, tr, bl, br, v;
            __m256i vi;
            __m128i p16;
            if (masks) {
                const int base = cleft[c];
                const __m128i mk = _mm_loadu_si128((const __m128i *)(const void *)(masks + 2 * (size_t)c));
                __m128i t = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(rt[ch] + base)), mk);
                __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(rb[ch] + base)), mk);
                tl = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(t));
                tr = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(t, 8)));
                bl = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
                br = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
            } else {
                const __m256i l = _mm256_loadu_si256((const __m256i *)(const void *)(cleft + c));
                __m256i gt = _mm256_i32gather_epi32((const int *)(const void *)rt[ch], l, 1);
                __m256i gb = _mm256_i32gather_epi32((const int *)(const void *)rb[ch], l, 1);
                tl = _mm256_cvtepi32_ps(_mm256_and_si256(gt, m8));
                tr = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(gt, 8), m8));
                bl = _mm256_cvtepi32_ps(_mm256_and_si256(gb, m8));
                br = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(gb, 8), m8));
            }
            v = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(tlf, tl), _mm256_mul_ps(trf, tr)),
                                            _mm256_mul_ps(blf, bl)), _mm256_mul_ps(brf, br));
            vi = _mm256_cvttps_epi32(v);
            p16 = _mm_packus_epi32(_mm256_castsi256_si128(vi), _mm256_extracti128_si256(vi, 1));
            _mm_storel_epi64((__m128i *)(void *)(out[ch] + c), _mm_packus_epi16(p16, p16));
        }
    }
    return c;
}

/* Detection: each source row's pixel pairs (cleft[c], cleft[c] + 1) of the 3 channels as
   floats, 6 arrays cs apart, for the columns the row kernel covers: a source row is the bottom
   row of one output row and the top row of the next, so it is fetched and converted once. */
static FNET__AVX2_FN void fnet__hog_resize_src_avx2(const unsigned char *const *row, const int *cleft,
                                                    const unsigned char *masks, int cend, float *f, size_t cs) {
    const __m256i m8 = _mm256_set1_epi32(255);
    int c, ch;
    for (ch = 0; ch < 3; ch++)
        for (c = 0; c + 8 <= cend; c += 8) {
            __m256 l, r;
            if (masks) {
                const __m128i mk = _mm_loadu_si128((const __m128i *)(const void *)(masks + 2 * (size_t)c));
                const __m128i t = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(row[ch] + cleft[c])), mk);
                l = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(t));
                r = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(t, 8)));
            } else {
                const __m256i gt = _mm256_i32gather_epi32((const int *)(const void *)row[ch],
                                                          _mm256_loadu_si256((const __m256i *)(const void *)(cleft + c)), 1);
                l = _mm256_cvtepi32_ps(_mm256_and_si256(gt, m8));
                r = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(gt, 8), m8));
            }
            _mm256_storeu_ps(f + 2 * (size_t)ch * cs + c, l);
            _mm256_storeu_ps(f + (2 * (size_t)ch + 1) * cs + c, r);
        }
}

/* fnet__hog_resize_row_avx2 from two converted source rows ft, fb (the same values). */
static FNET__AVX2_FN int fnet__hog_resize_rowf_avx2(const float *ft, const float *fb, size_t cs,
                                                    unsigned char *const *out, const float *clr, int cend,
                                                    float ftb, float finv_tb) {
    const __m256 vtb = _mm256_set1_ps(ftb), vitb = _mm256_set1_ps(finv_tb), one = _mm256_set1_ps(1.0f);
    int c, ch;
    for (c = 0; c + 8 <= cend; c += 8) {
        const __m256 lr = _mm256_loadu_ps(clr + c), ilr = _mm256_sub_ps(one, lr);
        const __m256 tlf = _mm256_mul_ps(vitb, ilr), trf = _mm256_mul_ps(vitb, lr);
        const __m256 blf = _mm256_mul_ps(vtb, ilr), brf = _mm256_mul_ps(vtb, lr);
        for (ch = 0; ch < 3; ch++) {
            const size_t o = 2 * (size_t)ch * cs + c;
            const __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(tlf, _mm256_loadu_ps(ft + o)),
                                                                       _mm256_mul_ps(trf, _mm256_loadu_ps(ft + o + cs))),
                                                         _mm256_mul_ps(blf, _mm256_loadu_ps(fb + o))),
                                           _mm256_mul_ps(brf, _mm256_loadu_ps(fb + o + cs)));
            const __m256i vi = _mm256_cvttps_epi32(v);
            const __m128i p16 = _mm_packus_epi32(_mm256_castsi256_si128(vi), _mm256_extracti128_si256(vi, 1));
            _mm_storel_epi64((__m128i *)(void *)(out[ch] + c), _mm_packus_epi16(p16, p16));
        }
    }
    return c;
}
#endif

/* cache (detection, AVX2 colour; else NULL): room for two converted source rows, 12 x cs
   floats with cs >= dw. Writes the output rows r0..r1-1 only (the caller's threads share an
   image by rows: each row is the same whoever computes it). */
static void fnet__hog_resize_c(const fnet__himg *src, unsigned char *dst, int dw, int dh, int *cleft, float *clr,
                               unsigned char *masks, int avx2, float *cache, size_t cs, int r0, int r1) {
    const int sw = src->w, sh = src->h, nch = src->nch, gray = nch == 1;
    const double x_scale = (sw - 1) / (double)FNET__MAX(dw - 1, 1);
    const double y_scale = (sh - 1) / (double)FNET__MAX(dh - 1, 1);
    double y = -y_scale, x0 = -4 * x_scale;
    float xs4 = (float)(4 * x_scale), xv[4];
    int r, c, k, ch, cend;
    xv[0] = (float)x0; xv[1] = (float)(x0 + x_scale);
    xv[2] = (float)(x0 + 2 * x_scale); xv[3] = (float)(x0 + 3 * x_scale);
    for (c = 0; c + 3 < dw; c += 4) {
        int left[4];
        for (k = 0; k < 4; k++) {
            xv[k] += xs4;
            left[k] = (int)xv[k];
        }
        if (left[3] + 1 >= sw) break;
        for (k = 0; k < 4; k++) {
            cleft[c + k] = left[k];
            clr[c + k] = xv[k] - (float)left[k];
        }
    }
    cend = c;
    for (c = 0; masks && c + 8 <= cend; c += 8) { /* byte-shuffle masks for the AVX2 rows */
        for (k = 0; k < 8; k++) {
            const int d = cleft[c + k] - cleft[c];
            if (d < 0 || d + 1 > 15) { masks = NULL; break; }
            masks[2 * c + k] = (unsigned char)d;
            masks[2 * c + 8 + k] = (unsigned char)(d + 1);
        }
    }
    long held[2] = {-1, -1}; /* the source rows in cache's two halves */
    (void)cache; (void)cs; (void)held;
    for (r = 0; r < r0; r++) y += y_scale; /* y as rows 0..r0-1 leave it (the same additions) */
    for (r = r0; r < r1; r++) {
        long top, bottom;
        double tb, x;
        float ftb, finv_tb;
        const unsigned char *rt[3], *rb[3];
        unsigned char *out[3];
        (void)avx2;
        y += y_scale;
        top = (long)floor(y);
        bottom = FNET__MIN(top + 1, (long)sh - 1);
        tb = y - (double)top;
        ftb = (float)tb;
        finv_tb = (float)(1 - tb);
        for (ch = 0; ch < nch; ch++) {
            rt[ch] = src->pl[ch] + (size_t)top * src->stride;
            rb[ch] = src->pl[ch] + (size_t)bottom * src->stride;
            out[ch] = dst + ((size_t)ch * dh + r) * dw;
        }
        c = 0;
#if defined(FNET__X86)
        if (avx2 && !gray && cache) {
            int st = held[0] == top ? 0 : held[1] == top ? 1 : held[0] < held[1] ? 0 : 1, sb;
            if (held[st] != top) {
                fnet__hog_resize_src_avx2(rt, cleft, masks, cend, cache + (size_t)st * 6 * cs, cs);
                held[st] = top;
            }
            sb = held[st] == bottom ? st : 1 - st;
            if (held[sb] != bottom) {
                fnet__hog_resize_src_avx2(rb, cleft, masks, cend, cache + (size_t)sb * 6 * cs, cs);
                held[sb] = bottom;
            }
            c = fnet__hog_resize_rowf_avx2(cache + (size_t)st * 6 * cs, cache + (size_t)sb * 6 * cs, cs, out, clr, cend,
                                           ftb, finv_tb);
        } else if (avx2 && !gray) {
            c = fnet__hog_resize_row_avx2(rt, rb, out, cleft, clr, masks, cend, ftb, finv_tb);
        }
#endif
        for (; c < cend; c++) {
            const int l = cleft[c];
            const float lr = clr[c], ilr = 1 - lr;
            const float tlf = finv_tb * ilr, trf = finv_tb * lr, blf = ftb * ilr, brf = ftb * lr;
            for (ch = 0; ch < nch; ch++) {
                float v = tlf * (float)rt[ch][l] + trf * (float)rt[ch][l + 1] +
                          blf * (float)rb[ch][l] + brf * (float)rb[ch][l + 1];
                out[ch][c] = gray ? (unsigned char)((double)v + 0.5) : (unsigned char)(int)v;
            }
        }
        x = -x_scale + (double)c * x_scale;
        for (; c < dw; c++) {
            long left, right;
            double lr;
            x += x_scale;
            left = (long)floor(x);
            right = FNET__MIN(left + 1, (long)sw - 1);
            lr = x - (double)left;
            for (ch = 0; ch < nch; ch++) {
                double tl = rt[ch][left], tr = rt[ch][right], bl = rb[ch][left], br = rb[ch][right];
                if (gray) {
                    float flr = (float)lr;
                    float v = (float)((1 - tb) * ((1 - flr) * (float)tl + flr * (float)tr) +
                                      tb * ((1 - flr) * (float)bl + flr * (float)br));
                    out[ch][c] = (unsigned char)v; /* dlib's assign_pixel truncates */
                } else {
                    double v = (1 - tb) * ((1 - lr) * tl + lr * tr) + tb * ((1 - lr) * bl + lr * br);
                    out[ch][c] = (unsigned char)v;
                }
            }
        }
    }
}

static void fnet__hog_resize(const fnet__himg *src, unsigned char *dst, int dw, int dh,
                             int *cleft, float *clr, unsigned char *masks, int avx2) {
    fnet__hog_resize_c(src, dst, dw, dh, cleft, clr, masks, avx2, NULL, 0, 0, dh);
}

/* Level sizes: dlib counts levels by shrinking the image rectangle with rect_down (rounded each
   time) while it stays >= min size; the level images themselves are (5*n)/6 each time. */
static long fnet__hog_round(double v) { return (long)floor(v + 0.5); }

static int fnet__hog_num_levels(const fnet__hog *h, int w, int ht) {
    const double ratio = (6 - 1.0) / 6;
    long l = 0, t = 0, r = w - 1, b = ht - 1;
    int levels = 0;
    do {
        long nl = fnet__hog_round(((double)l - 0.3) * ratio), nt = fnet__hog_round(((double)t - 0.3) * ratio);
        long nr = fnet__hog_round(((double)r - 0.3) * ratio), nb = fnet__hog_round(((double)b - 0.3) * ratio);
        l = nl; t = nt; r = nr; b = nb;
        levels++;
    } while (r - l + 1 >= h->min_w && b - t + 1 >= h->min_h && levels < h->max_levels);
    return levels;
}

/* ---- fHOG features (dlib extract_fhog_features, cell size 8) ---- */

/* The 9 unit vectors of dlib's orientation table (as floats). */
static const float fnet__hog_dx[9] = {1.0000f, 0.9397f, 0.7660f, 0.500f, 0.1736f, -0.1736f, -0.5000f, -0.7660f, -0.9397f};
static const float fnet__hog_dy[9] = {0.0000f, 0.3420f, 0.6428f, 0.8660f, 0.9848f, 0.9848f, 0.8660f, 0.6428f, 0.3420f};

typedef struct fnet__hog_geom {
    int cr, cc;        /* cells */
    int hr, hc;        /* feature cells (= window positions) */
    int vis_r, vis_c;  /* pixels with gradients: 1 .. vis-1 */
    int simd_end;      /* dlib's 8-wide loop covers x in [1, simd_end) */
    const int *cx;     /* per pixel column x: histogram column of its left cell (+1 border) */
    const float *vx0, *vx1; /* per x: bilinear weights of the right and left cell */
    int fs;            /* feature planes: (hr+9) rows of fs floats, cell (y,x) at [y+4][x+4] */
    size_t fplane;     /* floats per feature plane */
    int ss;            /* score rows: hr rows of ss floats per filter (ss >= hc, multiple of 8) */
} fnet__hog_geom;

static void fnet__hog_geometry(int w, int h, fnet__hog_geom *g) {
    int x;
    g->cr = (h + 4) / 8;
    g->cc = (w + 4) / 8;
    g->hr = FNET__MAX(g->cr - 2, 0);
    g->hc = FNET__MAX(g->cc - 2, 0);
    g->vis_r = FNET__MIN(g->cr * 8, h) - 1;
    g->vis_c = FNET__MIN(g->cc * 8, w) - 1;
    for (x = 1; x < g->vis_c - 7; x += 8) {}
    g->simd_end = x;
    g->cx = NULL; g->vx0 = g->vx1 = NULL;
    g->ss = (g->hc + 7) / 8 * 8;
    g->fs = g->ss + 16;
    g->fplane = (size_t)(g->hr + 9) * (size_t)g->fs;
}

/* The per-column tables (x in [0, vis_c)); dlib's xp = (x+0.5)/8 - 0.5, exact in float. */
static void fnet__hog_col_tables(fnet__hog_geom *g, int *cx, float *vx0, float *vx1) {
    int x;
    for (x = 0; x < g->vis_c + 8; x++) {
        float xp = (float)(((double)x + 0.5) / 8.0 - 0.5);
        int ixp = (int)floor(xp);
        cx[x] = ixp + 1;
        vx0[x] = xp - (float)ixp;
        vx1[x] = (float)(1.0 - vx0[x]);
    }
    g->cx = cx; g->vx0 = vx0; g->vx1 = vx1;
}

/* Gradient of pixel x (planes p0..p2, rows above/below at -/+stride): dx, dy, squared length.
   Colour: the channel with the longest gradient; `later` chooses dlib's 8-wide rule (a tie
   goes to the later channel) or its scalar rule (a tie keeps the earlier channel). */
static void fnet__hog_grad1(const fnet__himg *im, size_t off, int later, int *gx, int *gy, int *len) {
    const int st = im->stride;
    const unsigned char *p = im->pl[0] + off;
    int rx = (int)p[1] - (int)p[-1], ry = (int)p[st] - (int)p[-st], rl = rx * rx + ry * ry;
    int gx_, gy_, gl, bx, by, bl;
    if (im->nch == 1) { *gx = rx; *gy = ry; *len = rl; return; }
    p = im->pl[1] + off;
    gx_ = (int)p[1] - (int)p[-1]; gy_ = (int)p[st] - (int)p[-st]; gl = gx_ * gx_ + gy_ * gy_;
    p = im->pl[2] + off;
    bx = (int)p[1] - (int)p[-1]; by = (int)p[st] - (int)p[-st]; bl = bx * bx + by * by;
    if (later) {
        if (!(rl > gl)) { rx = gx_; ry = gy_; rl = gl; }
        if (!(rl > bl)) { rx = bx; ry = by; rl = bl; }
    } else {
        if (gl > rl) { rx = gx_; ry = gy_; rl = gl; }
        if (bl > rl) { rx = bx; ry = by; rl = bl; }
    }
    *gx = rx; *gy = ry; *len = rl;
}

static int fnet__hog_orient(float fx, float fy) {
    float best = 0;
    int o, best_o = 0;
    for (o = 0; o < 9; o++) {
        float dot = fx * fnet__hog_dx[o] + fy * fnet__hog_dy[o];
        if (dot > best) { best = dot; best_o = o; }
        else if (-dot > best) { best = -dot; best_o = o + 9; }
    }
    return best_o;
}

/* Row y's vertical bilinear weights and its two histogram rows. */
#define FNET__HOG_ROW_SETUP(g, y, hist, vy0, vy1, h0, h1)                                   \
    do {                                                                                    \
        const float yp_ = (float)(((double)(float)(y) + 0.5) / 8.0f - 0.5);                 \
        const int iyp_ = (int)floor(yp_);                                                   \
        vy0 = yp_ - (float)iyp_;                                                            \
        vy1 = (float)(1.0 - vy0);                                                           \
        h0 = (hist) + (size_t)(iyp_ + 1) * ((g)->cc + 2) * 18;                              \
        h1 = h0 + (size_t)((g)->cc + 2) * 18;                                               \
    } while (0)

/* dlib's scalar tail: pixels x in [x0, vis_c), weights (vy * vx) * v. */
static void fnet__hog_row_tail(const fnet__himg *im, const fnet__hog_geom *g, int y, int x0,
                               float vy0, float vy1, float *h0, float *h1) {
    const size_t rowoff = (size_t)y * im->stride;
    int x;
    for (x = x0; x < g->vis_c; x++) {
        int gx, gy, len, o, c;
        float v, vx0 = g->vx0[x], vx1 = g->vx1[x];
        fnet__hog_grad1(im, rowoff + (size_t)x, 0, &gx, &gy, &len);
        o = fnet__hog_orient((float)gx, (float)gy);
        v = sqrtf((float)len);
        c = g->cx[x] * 18 + o;
        h0[c] += vy1 * vx1 * v;
        h1[c] += vy0 * vx1 * v;
        h0[c + 18] += vy1 * vx0 * v;
        h1[c + 18] += vy0 * vx0 * v;
    }
}

/* Adds the votes of a run of n pixels from x (orientation o[], the 4 weights) in pixel order. */
static FNET__MAYBE_UNUSED void fnet__hog_scatter(const fnet__hog_geom *g, int x, int n, const int *o, const float *v11,
                              const float *v01, const float *v10, const float *v00, float *h0, float *h1) {
    int k;
    for (k = 0; k < n; k++) {
        const int c = g->cx[x + k] * 18 + o[k];
        h0[c] += v11[k];
        h1[c] += v01[k];
        h0[c + 18] += v10[k];
        h1[c + 18] += v00[k];
    }
}

/* (a) + (b) for one pixel row y: adds every pixel's vote into hist (rows iyp+1, iyp+2). */
static void fnet__hog_row_scalar(const fnet__himg *im, const fnet__hog_geom *g, int y, float *hist) {
    const size_t rowoff = (size_t)y * im->stride;
    float vy0, vy1, *h0, *h1;
    int x;
    FNET__HOG_ROW_SETUP(g, y, hist, vy0, vy1, h0, h1);
    for (x = 1; x < g->simd_end; x++) { /* dlib's 8-wide loop: vy * (vx * v) */
        int gx, gy, len, o, c;
        float v, a, b;
        fnet__hog_grad1(im, rowoff + (size_t)x, 1, &gx, &gy, &len);
        o = fnet__hog_orient((float)gx, (float)gy);
        v = sqrtf((float)len);
        a = g->vx1[x] * v;
        b = g->vx0[x] * v;
        c = g->cx[x] * 18 + o;
        h0[c] += vy1 * a;
        h1[c] += vy0 * a;
        h0[c + 18] += vy1 * b;
        h1[c + 18] += vy0 * b;
    }
    fnet__hog_row_tail(im, g, y, g->simd_end, vy0, vy1, h0, h1);
}

/* Row kernels in SIMD: dlib's own 8-wide block of gradient, channel choice, orientation and
   bilinear weights (x in [1, simd_end)), lane for lane in the same float operations, so the
   votes are bit-identical to the scalar twin; the votes are then added in pixel order. */
#if defined(FNET__X86)
static FNET__AVX2_FN __m256i fnet__hog_ld8_avx2(const unsigned char *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}

/* The vector part of one 8-pixel block at x: orientations and the 4 votes of each pixel. */
static FNET__AVX2_FN void fnet__hog_block_avx2(const fnet__himg *im, const fnet__hog_geom *g, size_t rowoff,
                                               int x, __m256 vvy0, __m256 vvy1, int *oi, float *v11,
                                               float *v01, float *v10, float *v00) {
    const int st = im->stride;
    int o, ch;
    __m256i gx = _mm256_setzero_si256(), gy = gx, len = gx;
    __m256 fx, fy, best, bo, sg, v, a, b;
    for (ch = 0; ch < im->nch; ch++) {
        const unsigned char *p = im->pl[ch] + rowoff + x;
        __m256i cx = _mm256_sub_epi32(fnet__hog_ld8_avx2(p + 1), fnet__hog_ld8_avx2(p - 1));
        __m256i cy = _mm256_sub_epi32(fnet__hog_ld8_avx2(p + st), fnet__hog_ld8_avx2(p - st));
        /* |dx| | |dy| << 16 multiplied pairwise: dx*dx + dy*dy in one madd */
        __m256i pk = _mm256_or_si256(_mm256_abs_epi32(cx), _mm256_slli_epi32(_mm256_abs_epi32(cy), 16));
        __m256i cl = _mm256_madd_epi16(pk, pk);
        if (ch == 0) {
            gx = cx; gy = cy; len = cl;
        } else { /* keep the current channel only where it is strictly longer */
            __m256i keep = _mm256_cmpgt_epi32(len, cl);
            gx = _mm256_blendv_epi8(cx, gx, keep);
            gy = _mm256_blendv_epi8(cy, gy, keep);
            len = _mm256_blendv_epi8(cl, len, keep);
        }
    }
    fx = _mm256_cvtepi32_ps(gx);
    fy = _mm256_cvtepi32_ps(gy);
    best = _mm256_setzero_ps();
    bo = _mm256_setzero_ps();
    sg = _mm256_setzero_ps();
    /* dlib: the first o whose dot (or -dot: o + 9) beats the best so far, i.e. the first
       largest |dot|; its sign picks o or o + 9 */
    for (o = 0; o < 9; o++) {
        __m256 dot = _mm256_add_ps(_mm256_mul_ps(fx, _mm256_set1_ps(fnet__hog_dx[o])),
                                   _mm256_mul_ps(fy, _mm256_set1_ps(fnet__hog_dy[o])));
        __m256 ad = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), dot);
        __m256 cmp = _mm256_cmp_ps(ad, best, _CMP_GT_OQ);
        best = _mm256_max_ps(ad, best);
        bo = _mm256_blendv_ps(bo, _mm256_set1_ps((float)o), cmp);
        sg = _mm256_blendv_ps(sg, dot, cmp);
    }
    bo = _mm256_add_ps(bo, _mm256_and_ps(_mm256_cmp_ps(sg, _mm256_setzero_ps(), _CMP_LT_OQ),
                                         _mm256_set1_ps(9.0f)));
    v = _mm256_sqrt_ps(_mm256_cvtepi32_ps(len));
    a = _mm256_mul_ps(_mm256_loadu_ps(g->vx1 + x), v);
    b = _mm256_mul_ps(_mm256_loadu_ps(g->vx0 + x), v);
    _mm256_storeu_si256((__m256i *)(void *)oi, _mm256_cvttps_epi32(bo));
    _mm256_storeu_ps(v11, _mm256_mul_ps(vvy1, a));
    _mm256_storeu_ps(v01, _mm256_mul_ps(vvy0, a));
    _mm256_storeu_ps(v10, _mm256_mul_ps(vvy1, b));
    _mm256_storeu_ps(v00, _mm256_mul_ps(vvy0, b));
}

/* Logs the votes of a block that fall in cells below `limit` (replayed later, in order). */
static void fnet__hog_scatter_log(const fnet__hog_geom *g, int x, const int *o, const float *v11,
                                  const float *v01, const float *v10, const float *v00, float *h0,
                                  float *h1, int limit, float **lp, float *lv, int *nl) {
    int k;
    for (k = 0; k < 8; k++) {
        const int cx = g->cx[x + k], c = cx * 18 + o[k];
        if (cx < limit) {
            lp[*nl] = h0 + c; lv[(*nl)++] = v11[k];
            lp[*nl] = h1 + c; lv[(*nl)++] = v01[k];
        } else {
            h0[c] += v11[k];
            h1[c] += v01[k];
        }
        if (cx + 1 < limit) {
            lp[*nl] = h0 + c + 18; lv[(*nl)++] = v10[k];
            lp[*nl] = h1 + c + 18; lv[(*nl)++] = v00[k];
        } else {
            h0[c + 18] += v10[k];
            h1[c + 18] += v00[k];
        }
    }
}

/* AVX2 row: the row's 8-pixel blocks run as two interleaved streams, the left half and the
   right half, so that their chains of additions into the histogram overlap in the CPU. Each
   histogram bin must still receive its votes in pixel order (the sums are not reassociated):
   the two halves share only the two cells at the seam, so the right half's first two blocks
   log their votes there and the log is added after the left half is done. */
static FNET__AVX2_FN void fnet__hog_row_avx2(const fnet__himg *im, const fnet__hog_geom *g, int y,
                                             float *hist) {
    const size_t rowoff = (size_t)y * im->stride;
    const int nb = (g->simd_end - 1) / 8, half = nb / 2;
    float vy0, vy1, *h0, *h1;
    int oa[8], ob[8], t;
    float a11[8], a01[8], a10[8], a00[8], b11[8], b01[8], b10[8], b00[8];
    __m256 vvy0, vvy1;
    FNET__HOG_ROW_SETUP(g, y, hist, vy0, vy1, h0, h1);
    vvy0 = _mm256_set1_ps(vy0);
    vvy1 = _mm256_set1_ps(vy1);
    if (nb < 6) {
        for (t = 0; t < nb; t++) {
            fnet__hog_block_avx2(im, g, rowoff, 1 + 8 * t, vvy0, vvy1, oa, a11, a01, a10, a00);
            fnet__hog_scatter(g, 1 + 8 * t, 8, oa, a11, a01, a10, a00, h0, h1);
        }
    } else {
        float *lp[64], lv[64];
        int nl = 0, k;
        for (t = 0; t < nb - half; t++) {
            const int xa = 1 + 8 * t, xb = 1 + 8 * (half + t);
            if (t < half) fnet__hog_block_avx2(im, g, rowoff, xa, vvy0, vvy1, oa, a11, a01, a10, a00);
            fnet__hog_block_avx2(im, g, rowoff, xb, vvy0, vvy1, ob, b11, b01, b10, b00);
            if (t < half) fnet__hog_scatter(g, xa, 8, oa, a11, a01, a10, a00, h0, h1);
            if (t < 2) fnet__hog_scatter_log(g, xb, ob, b11, b01, b10, b00, h0, h1, half + 2, lp, lv, &nl);
            else fnet__hog_scatter(g, xb, 8, ob, b11, b01, b10, b00, h0, h1);
        }
        for (k = 0; k < nl; k++) *lp[k] += lv[k];
    }
    fnet__hog_row_tail(im, g, y, g->simd_end, vy0, vy1, h0, h1);
}

/* 4 bytes -> 4 x int16 in the low half. */
static __m128i fnet__hog_ld4_sse2(const unsigned char *p) {
    int t;
    memcpy(&t, p, 4);
    return _mm_unpacklo_epi8(_mm_cvtsi32_si128(t), _mm_setzero_si128());
}

static __m128 fnet__sel_ps(__m128 m, __m128 a, __m128 b) { /* m ? a : b */
    return _mm_or_ps(_mm_and_ps(m, a), _mm_andnot_ps(m, b));
}
static __m128i fnet__sel_epi(__m128i m, __m128i a, __m128i b) {
    return _mm_or_si128(_mm_and_si128(m, a), _mm_andnot_si128(m, b));
}

static void fnet__hog_row_sse2(const fnet__himg *im, const fnet__hog_geom *g, int y, float *hist) {
    const size_t rowoff = (size_t)y * im->stride;
    const int st = im->stride;
    float vy0, vy1, *h0, *h1;
    int x, o, ch;
    __m128 vvy0, vvy1;
    FNET__HOG_ROW_SETUP(g, y, hist, vy0, vy1, h0, h1);
    vvy0 = _mm_set1_ps(vy0);
    vvy1 = _mm_set1_ps(vy1);
    for (x = 1; x < g->simd_end; x += 4) {
        __m128i gx = _mm_setzero_si128(), gy = gx, len = gx;
        __m128 fx, fy, best, bo, v, a, b;
        int oi[4];
        float v11[4], v01[4], v10[4], v00[4];
        for (ch = 0; ch < im->nch; ch++) {
            const unsigned char *p = im->pl[ch] + rowoff + x;
            __m128i cx16 = _mm_sub_epi16(fnet__hog_ld4_sse2(p + 1), fnet__hog_ld4_sse2(p - 1));
            __m128i cy16 = _mm_sub_epi16(fnet__hog_ld4_sse2(p + st), fnet__hog_ld4_sse2(p - st));
            __m128i cl = _mm_madd_epi16(_mm_unpacklo_epi16(cx16, cy16), _mm_unpacklo_epi16(cx16, cy16));
            __m128i cx = _mm_srai_epi32(_mm_unpacklo_epi16(cx16, cx16), 16);
            __m128i cy = _mm_srai_epi32(_mm_unpacklo_epi16(cy16, cy16), 16);
            if (ch == 0) {
                gx = cx; gy = cy; len = cl;
            } else {
                __m128i keep = _mm_cmpgt_epi32(len, cl);
                gx = fnet__sel_epi(keep, gx, cx);
                gy = fnet__sel_epi(keep, gy, cy);
                len = fnet__sel_epi(keep, len, cl);
            }
        }
        fx = _mm_cvtepi32_ps(gx);
        fy = _mm_cvtepi32_ps(gy);
        best = _mm_setzero_ps();
        bo = _mm_setzero_ps();
        for (o = 0; o < 9; o++) {
            __m128 dot = _mm_add_ps(_mm_mul_ps(fx, _mm_set1_ps(fnet__hog_dx[o])),
                                    _mm_mul_ps(fy, _mm_set1_ps(fnet__hog_dy[o])));
            __m128 cmp = _mm_cmpgt_ps(dot, best);
            best = fnet__sel_ps(cmp, dot, best);
            bo = fnet__sel_ps(cmp, _mm_set1_ps((float)o), bo);
            dot = _mm_mul_ps(dot, _mm_set1_ps(-1.0f));
            cmp = _mm_cmpgt_ps(dot, best);
            best = fnet__sel_ps(cmp, dot, best);
            bo = fnet__sel_ps(cmp, _mm_set1_ps((float)(o + 9)), bo);
        }
        v = _mm_sqrt_ps(_mm_cvtepi32_ps(len));
        a = _mm_mul_ps(_mm_loadu_ps(g->vx1 + x), v);
        b = _mm_mul_ps(_mm_loadu_ps(g->vx0 + x), v);
        _mm_storeu_si128((__m128i *)(void *)oi, _mm_cvttps_epi32(bo));
        _mm_storeu_ps(v11, _mm_mul_ps(vvy1, a));
        _mm_storeu_ps(v01, _mm_mul_ps(vvy0, a));
        _mm_storeu_ps(v10, _mm_mul_ps(vvy1, b));
        _mm_storeu_ps(v00, _mm_mul_ps(vvy0, b));
        fnet__hog_scatter(g, x, 4, oi, v11, v01, v10, v00, h0, h1);
    }
    fnet__hog_row_tail(im, g, y, g->simd_end, vy0, vy1, h0, h1);
}
#endif

#if defined(FNET__NEON)
static int32x4_t fnet__hog_ld4_neon(const unsigned char *p) {
    uint32_t t;
    memcpy(&t, p, 4);
    return vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(t))))));
}

static void fnet__hog_row_neon(const fnet__himg *im, const fnet__hog_geom *g, int y, float *hist) {
    const size_t rowoff = (size_t)y * im->stride;
    const int st = im->stride;
    float vy0, vy1, *h0, *h1;
    int x, o, ch;
    float32x4_t vvy0, vvy1;
    FNET__HOG_ROW_SETUP(g, y, hist, vy0, vy1, h0, h1);
    vvy0 = vdupq_n_f32(vy0);
    vvy1 = vdupq_n_f32(vy1);
    for (x = 1; x < g->simd_end; x += 4) {
        int32x4_t gx = vdupq_n_s32(0), gy = gx, len = gx;
        float32x4_t fx, fy, best, bo, v, a, b;
        int oi[4];
        float v11[4], v01[4], v10[4], v00[4];
        for (ch = 0; ch < im->nch; ch++) {
            const unsigned char *p = im->pl[ch] + rowoff + x;
            int32x4_t cx = vsubq_s32(fnet__hog_ld4_neon(p + 1), fnet__hog_ld4_neon(p - 1));
            int32x4_t cy = vsubq_s32(fnet__hog_ld4_neon(p + st), fnet__hog_ld4_neon(p - st));
            int32x4_t cl = vaddq_s32(vmulq_s32(cx, cx), vmulq_s32(cy, cy));
            if (ch == 0) {
                gx = cx; gy = cy; len = cl;
            } else {
                uint32x4_t keep = vcgtq_s32(len, cl);
                gx = vbslq_s32(keep, gx, cx);
                gy = vbslq_s32(keep, gy, cy);
                len = vbslq_s32(keep, len, cl);
            }
        }
        fx = vcvtq_f32_s32(gx);
        fy = vcvtq_f32_s32(gy);
        best = vdupq_n_f32(0.0f);
        bo = vdupq_n_f32(0.0f);
        for (o = 0; o < 9; o++) {
            float32x4_t dot = vaddq_f32(vmulq_f32(fx, vdupq_n_f32(fnet__hog_dx[o])),
                                        vmulq_f32(fy, vdupq_n_f32(fnet__hog_dy[o])));
            uint32x4_t cmp = vcgtq_f32(dot, best);
            best = vbslq_f32(cmp, dot, best);
            bo = vbslq_f32(cmp, vdupq_n_f32((float)o), bo);
            dot = vnegq_f32(dot);
            cmp = vcgtq_f32(dot, best);
            best = vbslq_f32(cmp, dot, best);
            bo = vbslq_f32(cmp, vdupq_n_f32((float)(o + 9)), bo);
        }
#if defined(__aarch64__)
        v = vsqrtq_f32(vcvtq_f32_s32(len));
#else
        {
            float l4[4];
            int k;
            vst1q_f32(l4, vcvtq_f32_s32(len));
            for (k = 0; k < 4; k++) l4[k] = sqrtf(l4[k]);
            v = vld1q_f32(l4);
        }
#endif
        a = vmulq_f32(vld1q_f32(g->vx1 + x), v);
        b = vmulq_f32(vld1q_f32(g->vx0 + x), v);
        vst1q_s32(oi, vcvtq_s32_f32(bo));
        vst1q_f32(v11, vmulq_f32(vvy1, a));
        vst1q_f32(v01, vmulq_f32(vvy0, a));
        vst1q_f32(v10, vmulq_f32(vvy1, b));
        vst1q_f32(v00, vmulq_f32(vvy0, b));
        fnet__hog_scatter(g, x, 4, oi, v11, v01, v10, v00, h0, h1);
    }
    fnet__hog_row_tail(im, g, y, g->simd_end, vy0, vy1, h0, h1);
}
#endif

#if defined(FNET__WASM_SIMD)
/* WebAssembly SIMD128: the NEON row, lane for lane (4 pixels, 32-bit gradients). */
static v128_t fnet__hog_ld4_wasm(const unsigned char *p) { /* 4 bytes -> 4 x int32 */
    return wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(wasm_v128_load32_zero(p)));
}

static void fnet__hog_row_wasm(const fnet__himg *im, const fnet__hog_geom *g, int y, float *hist) {
    const size_t rowoff = (size_t)y * im->stride;
    const int st = im->stride;
    float vy0, vy1, *h0, *h1;
    int x, o, ch;
    v128_t vvy0, vvy1;
    FNET__HOG_ROW_SETUP(g, y, hist, vy0, vy1, h0, h1);
    vvy0 = wasm_f32x4_splat(vy0);
    vvy1 = wasm_f32x4_splat(vy1);
    for (x = 1; x < g->simd_end; x += 4) {
        v128_t gx = wasm_i32x4_splat(0), gy = gx, len = gx;
        v128_t fx, fy, best, bo, v, a, b;
        int oi[4];
        float v11[4], v01[4], v10[4], v00[4];
        for (ch = 0; ch < im->nch; ch++) {
            const unsigned char *p = im->pl[ch] + rowoff + x;
            v128_t cx = wasm_i32x4_sub(fnet__hog_ld4_wasm(p + 1), fnet__hog_ld4_wasm(p - 1));
            v128_t cy = wasm_i32x4_sub(fnet__hog_ld4_wasm(p + st), fnet__hog_ld4_wasm(p - st));
            v128_t cl = wasm_i32x4_add(wasm_i32x4_mul(cx, cx), wasm_i32x4_mul(cy, cy));
            if (ch == 0) {
                gx = cx; gy = cy; len = cl;
            } else {
                v128_t keep = wasm_i32x4_gt(len, cl);
                gx = wasm_v128_bitselect(gx, cx, keep);
                gy = wasm_v128_bitselect(gy, cy, keep);
                len = wasm_v128_bitselect(len, cl, keep);
            }
        }
        fx = wasm_f32x4_convert_i32x4(gx);
        fy = wasm_f32x4_convert_i32x4(gy);
        best = wasm_f32x4_splat(0.0f);
        bo = wasm_f32x4_splat(0.0f);
        for (o = 0; o < 9; o++) {
            v128_t dot = wasm_f32x4_add(wasm_f32x4_mul(fx, wasm_f32x4_splat(fnet__hog_dx[o])),
                                        wasm_f32x4_mul(fy, wasm_f32x4_splat(fnet__hog_dy[o])));
            v128_t cmp = wasm_f32x4_gt(dot, best);
            best = wasm_v128_bitselect(dot, best, cmp);
            bo = wasm_v128_bitselect(wasm_f32x4_splat((float)o), bo, cmp);
            dot = wasm_f32x4_neg(dot);
            cmp = wasm_f32x4_gt(dot, best);
            best = wasm_v128_bitselect(dot, best, cmp);
            bo = wasm_v128_bitselect(wasm_f32x4_splat((float)(o + 9)), bo, cmp);
        }
        v = wasm_f32x4_sqrt(wasm_f32x4_convert_i32x4(len));
        a = wasm_f32x4_mul(wasm_v128_load(g->vx1 + x), v);
        b = wasm_f32x4_mul(wasm_v128_load(g->vx0 + x), v);
        wasm_v128_store(oi, wasm_i32x4_trunc_sat_f32x4(bo));
        wasm_v128_store(v11, wasm_f32x4_mul(vvy1, a));
        wasm_v128_store(v01, wasm_f32x4_mul(vvy0, a));
        wasm_v128_store(v10, wasm_f32x4_mul(vvy1, b));
        wasm_v128_store(v00, wasm_f32x4_mul(vvy0, b));
        fnet__hog_scatter(g, x, 4, oi, v11, v01, v10, v00, h0, h1);
    }
    fnet__hog_row_tail(im, g, y, g->simd_end, vy0, vy1, h0, h1);
}
#endif

/* ---- (a-b) for detection: the votes summed block by block (the fast path) ----

   dlib adds each pixel's 4 votes into the histogram in pixel order, one after the other (an
   add to a bin waits for the previous add to that bin), and that was 43% of detection's time.
   Detection needs the scores to 1e-4 only, so here the votes are summed in another order. The
   pixels whose votes go to the same 2x2 cells, the 8x8 block between four cell centres (pixel
   rows 8b-4 .. 8b+3, columns 8c-4 .. 8c+3: histogram rows b, b+1 and columns c, c+1), are done
   together: each pixel adds its 4 votes (vy1 vx1 v, vy0 vx1 v, vy1 vx0 v, vy0 vx0 v) as one
   4-float vector into a small accumulator indexed by orientation, in FNET__HOG_QC copies (by
   pixel column mod 4, so that neighbours of the same orientation do not wait for each other);
   then the block's sums go to its 4 cells. The gradients, the channel choice and the
   orientations are dlib's (the same integers, tie rules and float dot products), so the
   histograms differ from dlib's by rounding only (~2e-7 relative) and the scores by ~1e-6.
   The AVX2 kernel uses it (fnet__hog_pick_detect), reading orientations from a table of all
   511 x 511 integer gradients (fnet__hog.olut); fnet__hog_hist_scalar is its bit-identical
   twin for the tests. Training (section 1b, fnet__hog_pick) keeps dlib's order, as do the
   scalar, SSE2, NEON and wasm kernel sets. */

#define FNET__HOG_QC 4   /* accumulator copies */
#define FNET__HOG_QS 72  /* floats per copy: 18 orientation slots x 4 votes */

/* Slot of orientation o in the accumulator: permuted within each group of 8 orientations so
   that the AVX2 merge's transposes come out in orientation order (16, 17 stay). */
static int fnet__hog_qslot(int o) { return o < 16 ? (o & ~7) + ((o & 3) << 1) + ((o >> 2) & 1) : o; }

/* dlib's orientation (fnet__hog_orient: the first of the 9 directions with the largest |dot|,
   +9 when that dot is negative) from 5 dot products instead of 9. The table has dx[9-q] =
   -dx[q] and dy[9-q] = dy[q], so |dot_q| and |dot_9-q| are |X + Y| and |Y - X| with X = |gx| dx[q],
   Y = |gy| dy[q] (float products are sign-symmetric): the larger is c_q = X + Y, at index q when
   gx and gy have the same sign (or one is 0: then both tie and q comes first), at 9-q when
   their signs differ. c_0 .. c_4 rise to one peak (the nearest direction; 20 degrees apart,
   only the two at the peak can tie), so the winner is the number of rises: strict rises when
   the index is q (a tie keeps the first), non-strict when it is 9-q (the first of 9-q, 9-q' is
   the larger q), except that direction 0 (index 0 either way) keeps its tie. Checked against
   fnet__hog_orient on every integer gradient (tests/test_detect.c). */
static int fnet__hog_orient_fast(int gx, int gy) {
    const float ax = (float)(gx < 0 ? -gx : gx), ay = (float)(gy < 0 ? -gy : gy);
    const int opp = (gx < 0 && gy > 0) || (gx > 0 && gy < 0);
    float c[5];
    int k, q, o;
    c[0] = ax;
    for (k = 1; k < 5; k++) c[k] = ax * fnet__hog_dx[k] + ay * fnet__hog_dy[k];
    q = c[1] > c[0];
    for (k = 2; k < 5; k++) q += opp ? c[k] >= c[k - 1] : c[k] > c[k - 1];
    o = opp && q > 0 ? 9 - q : q;
    if (o <= 4 ? (gx < 0 || (gx == 0 && gy < 0)) : gy < 0) o += 9;
    return o;
}

/* Vote weight k (0: vy1 vx1, 1: vy0 vx1, 2: vy1 vx0, 3: vy0 vx0) of block row r, column i:
   vy0 = (r + 0.5)/8 and vx0 = (i + 0.5)/8 are dlib's (y + 0.5)/8 - 0.5 less its floor, and
   their products are exact in float. */
static float fnet__hog_wt(int r, int i, int k) {
    const float vy0 = ((float)r + 0.5f) * 0.125f, vx0 = ((float)i + 0.5f) * 0.125f;
    return (k & 1 ? vy0 : 1 - vy0) * (k & 2 ? vx0 : 1 - vx0);
}

/* Adds block (b, c)'s accumulator (its copies summed pairwise) into its 4 cells; clears it. */
static void fnet__hog_merge_scalar(const fnet__hog_geom *g, float *q, float *hist, int b, int c) {
    float *h0 = hist + ((size_t)b * (g->cc + 2) + c) * 18, *h1 = h0 + (size_t)(g->cc + 2) * 18;
    int o, k;
    for (o = 0; o < 18; o++) {
        const float *s0 = q + 4 * fnet__hog_qslot(o);
        float s[4];
        for (k = 0; k < 4; k++)
            s[k] = (s0[k] + s0[FNET__HOG_QS + k]) + (s0[2 * FNET__HOG_QS + k] + s0[3 * FNET__HOG_QS + k]);
        h0[o] += s[0];
        h1[o] += s[1];
        h0[18 + o] += s[2];
        h1[18 + o] += s[3];
    }
    memset(q, 0, FNET__HOG_QC * FNET__HOG_QS * sizeof(float));
}

/* (a) + (b) of a whole level into hist (zeroed by the caller), block by block: rows 1 ..
   vis_r-1 and columns 1 .. vis_c-1 as dlib's, with dlib's channel rule of its 8-wide loop
   left of simd_end and of its scalar tail from there. */
/* The votes of block (b, c) into the accumulator q, row by row, pixel by pixel. */
static void fnet__hog_block_scalar(const fnet__himg *im, const fnet__hog_geom *g, int b, int c, float *q) {
    const int y0 = FNET__MAX(1, 8 * b - 4), y1 = FNET__MIN(8 * b + 4, g->vis_r);
    int y, i, k;
    for (y = y0; y < y1; y++)
        for (i = 0; i < 8; i++) {
            const int x = 8 * c - 4 + i;
            int gx, gy, len;
            float v, *d;
            if (x < 1 || x >= g->vis_c) continue;
            fnet__hog_grad1(im, (size_t)y * im->stride + (size_t)x, x < g->simd_end, &gx, &gy, &len);
            v = sqrtf((float)len);
            d = q + (i & 3) * FNET__HOG_QS + 4 * fnet__hog_qslot(fnet__hog_orient_fast(gx, gy));
            for (k = 0; k < 4; k++) d[k] += fnet__hog_wt(y - (8 * b - 4), i, k) * v;
        }
}

static FNET__MAYBE_UNUSED void fnet__hog_hist_scalar(const fnet__himg *im, const fnet__hog_geom *g, float *hist,
                                                     const unsigned char *olut) {
    float q[FNET__HOG_QC * FNET__HOG_QS];
    int b, c;
    (void)olut;
    memset(q, 0, sizeof q);
    for (b = 0; 8 * b - 4 < g->vis_r; b++)
        for (c = 0; 8 * c - 4 < g->vis_c; c++) {
            fnet__hog_block_scalar(im, g, b, c, q);
            fnet__hog_merge_scalar(g, q, hist, b, c);
        }
}

#if defined(FNET__X86)
/* fnet__hog_orient_fast for 8 gradients (fx, fy hold integers), lane for lane. */
static FNET__AVX2_FN __m256i fnet__hog_orient_avx2(__m256 fx, __m256 fy) {
    const __m256 sgn = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
    const __m256 ax = _mm256_andnot_ps(sgn, fx), ay = _mm256_andnot_ps(sgn, fy);
    const __m256 opp = _mm256_cmp_ps(_mm256_mul_ps(fx, fy), zero, _CMP_LT_OQ); /* exact: |f| <= 255 */
    const __m256 fyneg = _mm256_cmp_ps(fy, zero, _CMP_LT_OQ);
    __m256 prev = ax, neg;
    __m256i q = _mm256_setzero_si256(), o, hi;
    int k;
    for (k = 1; k < 5; k++) {
        const __m256 cq = _mm256_add_ps(_mm256_mul_ps(ax, _mm256_set1_ps(fnet__hog_dx[k])),
                                        _mm256_mul_ps(ay, _mm256_set1_ps(fnet__hog_dy[k])));
        __m256 rise = _mm256_cmp_ps(cq, prev, _CMP_GT_OQ);
        if (k > 1) rise = _mm256_blendv_ps(rise, _mm256_cmp_ps(cq, prev, _CMP_GE_OQ), opp);
        q = _mm256_sub_epi32(q, _mm256_castps_si256(rise));
        prev = cq;
    }
    o = _mm256_blendv_epi8(q, _mm256_sub_epi32(_mm256_set1_epi32(9), q),
                           _mm256_and_si256(_mm256_castps_si256(opp), _mm256_cmpgt_epi32(q, _mm256_setzero_si256())));
    hi = _mm256_cmpgt_epi32(o, _mm256_set1_epi32(4));
    neg = _mm256_or_ps(_mm256_cmp_ps(fx, zero, _CMP_LT_OQ),
                       _mm256_and_ps(_mm256_cmp_ps(fx, zero, _CMP_EQ_OQ), fyneg));
    neg = _mm256_blendv_ps(neg, fyneg, _mm256_castsi256_ps(hi));
    return _mm256_add_epi32(o, _mm256_and_si256(_mm256_castps_si256(neg), _mm256_set1_epi32(9)));
}

/* fnet__hog.olut in AVX2 (the same table, 8 gradients at a time; 0.3 ms instead of 3). */
static FNET__AVX2_FN void fnet__hog_olut_avx2(unsigned char *lut) {
    int gx, gy, k;
    for (gx = -255; gx <= 255; gx++) {
        for (gy = -255; gy + 8 <= 256; gy += 8) {
            int o[8];
            _mm256_storeu_si256((__m256i *)(void *)o,
                                fnet__hog_orient_avx2(_mm256_set1_ps((float)gx),
                                                      _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32(gy),
                                                                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))));
            for (k = 0; k < 8; k++) lut[(gx + 255) * 511 + gy + k + 255] = (unsigned char)(4 * fnet__hog_qslot(o[k]));
        }
        for (; gy <= 255; gy++) lut[(gx + 255) * 511 + gy + 255] = (unsigned char)(4 * fnet__hog_qslot(fnet__hog_orient_fast(gx, gy)));
    }
}

/* fnet__hog_merge_scalar in AVX2 (the same sums): two 8x4 transposes give votes 0..3 of
   orientations 0..7 and 8..15 as vectors. */
static FNET__AVX2_FN void fnet__hog_merge_avx2(const fnet__hog_geom *g, float *q, float *hist, int b, int c) {
    float *h0 = hist + ((size_t)b * (g->cc + 2) + c) * 18, *h1 = h0 + (size_t)(g->cc + 2) * 18;
    float t16[8];
    __m256 s[9];
    int j;
    for (j = 0; j < 9; j++) { /* cleared as read (a loop of its own would become a memset call) */
        float *qq = q + 8 * j;
        s[j] = _mm256_add_ps(_mm256_add_ps(_mm256_load_ps(qq), _mm256_load_ps(qq + FNET__HOG_QS)),
                             _mm256_add_ps(_mm256_load_ps(qq + 2 * FNET__HOG_QS), _mm256_load_ps(qq + 3 * FNET__HOG_QS)));
        _mm256_store_ps(qq, _mm256_setzero_ps());
        _mm256_store_ps(qq + FNET__HOG_QS, _mm256_setzero_ps());
        _mm256_store_ps(qq + 2 * FNET__HOG_QS, _mm256_setzero_ps());
        _mm256_store_ps(qq + 3 * FNET__HOG_QS, _mm256_setzero_ps());
    }
    for (j = 0; j < 2; j++) {
        const __m256 t0 = _mm256_unpacklo_ps(s[4 * j], s[4 * j + 1]), t1 = _mm256_unpackhi_ps(s[4 * j], s[4 * j + 1]);
        const __m256 t2 = _mm256_unpacklo_ps(s[4 * j + 2], s[4 * j + 3]), t3 = _mm256_unpackhi_ps(s[4 * j + 2], s[4 * j + 3]);
        float *a = h0 + 8 * j, *bb = h1 + 8 * j;
        _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), _mm256_shuffle_ps(t0, t2, 0x44)));
        _mm256_storeu_ps(bb, _mm256_add_ps(_mm256_loadu_ps(bb), _mm256_shuffle_ps(t0, t2, 0xEE)));
        _mm256_storeu_ps(a + 18, _mm256_add_ps(_mm256_loadu_ps(a + 18), _mm256_shuffle_ps(t1, t3, 0x44)));
        _mm256_storeu_ps(bb + 18, _mm256_add_ps(_mm256_loadu_ps(bb + 18), _mm256_shuffle_ps(t1, t3, 0xEE)));
    }
    _mm256_storeu_ps(t16, s[8]); /* slots 16 and 17 */
    h0[16] += t16[0]; h1[16] += t16[1]; h0[34] += t16[2]; h1[34] += t16[3];
    h0[17] += t16[4]; h1[17] += t16[5]; h0[35] += t16[6]; h1[35] += t16[7];
}

/* Blocks c and c+1 of band b, 16 pixels of a row at once with 16-bit gradients (for the
   orientation table): a pixel's (dx, dy) of the chosen channel sit as two int16 in one
   32-bit lane, squared and summed by one madd, and the table index is one more madd with
   (511, 1). Lanes of set A are pixels 0-3 and 8-11 (columns i = 0..3 of both blocks), of set
   B pixels 4-7 and 12-15: the same votes as fnet__hog_block_scalar, added to block c's
   accumulator qc and block c+1's qd in the same order per copy (i, then i + 4). */
static FNET__AVX2_FN void fnet__hog_pair_avx2(const fnet__himg *im, const fnet__hog_geom *g, int b, int c,
                                              const __m256 (*wa)[4], const __m256 (*wb)[4], const unsigned char *olut,
                                              float *qc, float *qd) {
    const int st = im->stride, x0 = 8 * c - 4;
    const int y0 = FNET__MAX(1, 8 * b - 4), y1 = FNET__MIN(8 * b + 4, g->vis_r), mixed = x0 + 15 >= g->simd_end;
    const __m256i xa = _mm256_add_epi32(_mm256_set1_epi32(x0), _mm256_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11));
    const __m256i xb = _mm256_add_epi32(xa, _mm256_set1_epi32(4));
    const __m256 va = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(g->vis_c), xa));
    const __m256 vb = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(g->vis_c), xb));
    const __m256i la = _mm256_cmpgt_epi32(xa, _mm256_set1_epi32(g->simd_end - 1)); /* dlib's tail rule */
    const __m256i lb = _mm256_cmpgt_epi32(xb, _mm256_set1_epi32(g->simd_end - 1));
    const __m256i ones = _mm256_set1_epi32(-1), coef = _mm256_set1_epi32((1 << 16) + 511); /* (511, 1) */
    const __m256i base = _mm256_set1_epi32(255 * 511 + 255);
    int y, ch;
    for (y = y0; y < y1; y++) {
        const size_t off = (size_t)y * st + (size_t)x0;
        const __m256 *wra = wa[y - (8 * b - 4)], *wrb = wb[y - (8 * b - 4)];
        __m256i pa = _mm256_setzero_si256(), pb = pa, lena = pa, lenb = pa;
        __m256 v;
        int oa[8], ob[8];
        for (ch = 0; ch < im->nch; ch++) {
            const unsigned char *p = im->pl[ch] + off;
            const __m256i dx = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p + 1))),
                                                _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p - 1))));
            const __m256i dy = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p + st))),
                                                _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p - st))));
            const __m256i qa = _mm256_unpacklo_epi16(dx, dy), qb = _mm256_unpackhi_epi16(dx, dy);
            const __m256i ca = _mm256_madd_epi16(qa, qa), cb = _mm256_madd_epi16(qb, qb);
            if (ch == 0) {
                pa = qa; pb = qb; lena = ca; lenb = cb;
            } else { /* keep the current channel where it is longer (tail rule: or as long) */
                __m256i ka = _mm256_cmpgt_epi32(lena, ca), kb = _mm256_cmpgt_epi32(lenb, cb);
                if (mixed) {
                    ka = _mm256_blendv_epi8(ka, _mm256_xor_si256(_mm256_cmpgt_epi32(ca, lena), ones), la);
                    kb = _mm256_blendv_epi8(kb, _mm256_xor_si256(_mm256_cmpgt_epi32(cb, lenb), ones), lb);
                }
                pa = _mm256_blendv_epi8(qa, pa, ka);
                pb = _mm256_blendv_epi8(qb, pb, kb);
                lena = _mm256_blendv_epi8(ca, lena, ka);
                lenb = _mm256_blendv_epi8(cb, lenb, kb);
            }
        }
        { /* the table's entries: 4 x slot, plus the copy's offset */
            const __m256i ia = _mm256_add_epi32(_mm256_madd_epi16(pa, coef), base);
            const __m256i ib = _mm256_add_epi32(_mm256_madd_epi16(pb, coef), base);
            int t[16], k;
            _mm256_storeu_si256((__m256i *)(void *)t, ia);
            _mm256_storeu_si256((__m256i *)(void *)(t + 8), ib);
            for (k = 0; k < 8; k++) {
                oa[k] = olut[t[k]] + (k & 3) * FNET__HOG_QS;
                ob[k] = olut[t[8 + k]] + (k & 3) * FNET__HOG_QS;
            }
        }
#define FNET__HOG_QADD(q, o, x) _mm_store_ps((q) + (o), _mm_add_ps(_mm_load_ps((q) + (o)), x))
#define FNET__HOG_VOTES(vv, w, o)                                                                                  do {                                                                                                           const __m256 p0 = _mm256_mul_ps(w[0], vv), p1 = _mm256_mul_ps(w[1], vv);                                   const __m256 p2 = _mm256_mul_ps(w[2], vv), p3 = _mm256_mul_ps(w[3], vv);                                   const __m256 t0 = _mm256_unpacklo_ps(p0, p1), t1 = _mm256_unpackhi_ps(p0, p1);                             const __m256 t2 = _mm256_unpacklo_ps(p2, p3), t3 = _mm256_unpackhi_ps(p2, p3);                             const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);                   const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);                   FNET__HOG_QADD(qc, o[0], _mm256_castps256_ps128(u0));                                                      FNET__HOG_QADD(qc, o[1], _mm256_castps256_ps128(u1));                                                      FNET__HOG_QADD(qc, o[2], _mm256_castps256_ps128(u2));                                                      FNET__HOG_QADD(qc, o[3], _mm256_castps256_ps128(u3));                                                      FNET__HOG_QADD(qd, o[4], _mm256_extractf128_ps(u0, 1));                                                    FNET__HOG_QADD(qd, o[5], _mm256_extractf128_ps(u1, 1));                                                    FNET__HOG_QADD(qd, o[6], _mm256_extractf128_ps(u2, 1));                                                    FNET__HOG_QADD(qd, o[7], _mm256_extractf128_ps(u3, 1));                                                } while (0)
        v = _mm256_and_ps(_mm256_sqrt_ps(_mm256_cvtepi32_ps(lena)), va);
        FNET__HOG_VOTES(v, wra, oa);
        v = _mm256_and_ps(_mm256_sqrt_ps(_mm256_cvtepi32_ps(lenb)), vb);
        FNET__HOG_VOTES(v, wrb, ob);
#undef FNET__HOG_VOTES
#undef FNET__HOG_QADD
    }
}

/* fnet__hog_hist_scalar in AVX2 (bit-identical: the same gradients, orientations and
   products, added in the same order), with the orientation table olut: block 0 (its loads
   would start before the image) in scalar, then blocks in pairs, a last single block 8
   pixels a row at once. */
static FNET__AVX2_FN void fnet__hog_hist_avx2(const fnet__himg *im, const fnet__hog_geom *g, float *hist,
                                               const unsigned char *olut) {
    const int st = im->stride;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    union { __m256 v[FNET__HOG_QC * FNET__HOG_QS / 8]; float f[FNET__HOG_QC * FNET__HOG_QS]; } qa, qb;
    __m256 wt[8][4], wa[8][4], wb[8][4];
    float *q = qa.f;
    int b, c, y, k, ch;
    for (y = 0; y < 8; y++)
        for (k = 0; k < 4; k++) {
            wt[y][k] = _mm256_setr_ps(fnet__hog_wt(y, 0, k), fnet__hog_wt(y, 1, k), fnet__hog_wt(y, 2, k),
                                      fnet__hog_wt(y, 3, k), fnet__hog_wt(y, 4, k), fnet__hog_wt(y, 5, k),
                                      fnet__hog_wt(y, 6, k), fnet__hog_wt(y, 7, k));
            wa[y][k] = _mm256_permute2f128_ps(wt[y][k], wt[y][k], 0x00); /* columns 0-3 of both blocks */
            wb[y][k] = _mm256_permute2f128_ps(wt[y][k], wt[y][k], 0x11); /* columns 4-7 */
        }
    for (k = 0; k < FNET__HOG_QC * FNET__HOG_QS / 8; k++) qa.v[k] = qb.v[k] = _mm256_setzero_ps();
    for (b = 0; 8 * b - 4 < g->vis_r; b++) {
        const int y0 = FNET__MAX(1, 8 * b - 4), y1 = FNET__MIN(8 * b + 4, g->vis_r);
        fnet__hog_block_scalar(im, g, b, 0, q);
        fnet__hog_merge_avx2(g, q, hist, b, 0);
        for (c = 1; 8 * c - 4 < g->vis_c; c++) {
            const __m256i xv = _mm256_add_epi32(_mm256_set1_epi32(8 * c - 4), lane);
            if (8 * c + 4 < g->vis_c) { /* blocks c and c + 1 */
                fnet__hog_pair_avx2(im, g, b, c, (const __m256(*)[4])wa, (const __m256(*)[4])wb, olut, qa.f, qb.f);
                fnet__hog_merge_avx2(g, qa.f, hist, b, c);
                fnet__hog_merge_avx2(g, qb.f, hist, b, c + 1);
                c++;
                continue;
            }
            const __m256 valid = _mm256_castsi256_ps(_mm256_and_si256(
                _mm256_cmpgt_epi32(xv, _mm256_setzero_si256()), _mm256_cmpgt_epi32(_mm256_set1_epi32(g->vis_c), xv)));
            const __m256i late = _mm256_cmpgt_epi32(xv, _mm256_set1_epi32(g->simd_end - 1)); /* dlib's tail rule */
            const int mixed = 8 * c + 3 >= g->simd_end;
            for (y = y0; y < y1; y++) {
                const size_t off = (size_t)y * st + (size_t)(8 * c - 4);
                const __m256 *w = wt[y - (8 * b - 4)];
                __m256i gx = _mm256_setzero_si256(), gy = gx, len = gx;
                __m256 v, p0, p1, p2, p3, t0, t1, t2, t3, u0, u1, u2, u3;
                int offs[8];
                for (ch = 0; ch < im->nch; ch++) {
                    const unsigned char *p = im->pl[ch] + off;
                    __m256i cx = _mm256_sub_epi32(fnet__hog_ld8_avx2(p + 1), fnet__hog_ld8_avx2(p - 1));
                    __m256i cy = _mm256_sub_epi32(fnet__hog_ld8_avx2(p + st), fnet__hog_ld8_avx2(p - st));
                    __m256i pk = _mm256_or_si256(_mm256_abs_epi32(cx), _mm256_slli_epi32(_mm256_abs_epi32(cy), 16));
                    __m256i cl = _mm256_madd_epi16(pk, pk);
                    if (ch == 0) {
                        gx = cx; gy = cy; len = cl;
                    } else { /* keep the current channel where it is longer (tail rule: or as long) */
                        __m256i keep = _mm256_cmpgt_epi32(len, cl);
                        if (mixed)
                            keep = _mm256_blendv_epi8(keep, _mm256_xor_si256(_mm256_cmpgt_epi32(cl, len),
                                                                             _mm256_set1_epi32(-1)), late);
                        gx = _mm256_blendv_epi8(cx, gx, keep);
                        gy = _mm256_blendv_epi8(cy, gy, keep);
                        len = _mm256_blendv_epi8(cl, len, keep);
                    }
                }
                v = _mm256_and_ps(_mm256_sqrt_ps(_mm256_cvtepi32_ps(len)), valid);
                { /* the table: slot * 4 of every integer gradient */
                    const __m256i ix = _mm256_add_epi32(_mm256_sub_epi32(_mm256_slli_epi32(gx, 9), gx),
                                                        _mm256_add_epi32(gy, _mm256_set1_epi32(255 * 511 + 255)));
                    const __m128i lo = _mm256_castsi256_si128(ix), hi = _mm256_extracti128_si256(ix, 1);
                    offs[0] = olut[_mm_cvtsi128_si32(lo)];
                    offs[1] = olut[_mm_extract_epi32(lo, 1)] + FNET__HOG_QS;
                    offs[2] = olut[_mm_extract_epi32(lo, 2)] + 2 * FNET__HOG_QS;
                    offs[3] = olut[_mm_extract_epi32(lo, 3)] + 3 * FNET__HOG_QS;
                    offs[4] = olut[_mm_cvtsi128_si32(hi)];
                    offs[5] = olut[_mm_extract_epi32(hi, 1)] + FNET__HOG_QS;
                    offs[6] = olut[_mm_extract_epi32(hi, 2)] + 2 * FNET__HOG_QS;
                    offs[7] = olut[_mm_extract_epi32(hi, 3)] + 3 * FNET__HOG_QS;
                }
                p0 = _mm256_mul_ps(w[0], v);
                p1 = _mm256_mul_ps(w[1], v);
                p2 = _mm256_mul_ps(w[2], v);
                p3 = _mm256_mul_ps(w[3], v);
                t0 = _mm256_unpacklo_ps(p0, p1); t1 = _mm256_unpackhi_ps(p0, p1);
                t2 = _mm256_unpacklo_ps(p2, p3); t3 = _mm256_unpackhi_ps(p2, p3);
                u0 = _mm256_shuffle_ps(t0, t2, 0x44); u1 = _mm256_shuffle_ps(t0, t2, 0xEE); /* pixels 0|4, 1|5 */
                u2 = _mm256_shuffle_ps(t1, t3, 0x44); u3 = _mm256_shuffle_ps(t1, t3, 0xEE); /* 2|6, 3|7 */
#define FNET__HOG_QADD(i, x) _mm_store_ps(q + offs[i], _mm_add_ps(_mm_load_ps(q + offs[i]), x))
                FNET__HOG_QADD(0, _mm256_castps256_ps128(u0));
                FNET__HOG_QADD(1, _mm256_castps256_ps128(u1));
                FNET__HOG_QADD(2, _mm256_castps256_ps128(u2));
                FNET__HOG_QADD(3, _mm256_castps256_ps128(u3));
                FNET__HOG_QADD(4, _mm256_extractf128_ps(u0, 1));
                FNET__HOG_QADD(5, _mm256_extractf128_ps(u1, 1));
                FNET__HOG_QADD(6, _mm256_extractf128_ps(u2, 1));
                FNET__HOG_QADD(7, _mm256_extractf128_ps(u3, 1));
#undef FNET__HOG_QADD
            }
            fnet__hog_merge_avx2(g, q, hist, b, c);
        }
    }
}
#endif

/* (c): block energies and the 31 features of every inner cell. */
static void fnet__hog_norms(const fnet__hog_geom *g, const float *hist, float *norm) {
    const int hcols = g->cc + 2;
    int r, c, o;
    for (r = 0; r < g->cr; r++)
        for (c = 0; c < g->cc; c++) {
            const float *h = hist + ((size_t)(r + 1) * hcols + c + 1) * 18;
            float s = 0;
            for (o = 0; o < 9; o++) s += (h[o] + h[o + 9]) * (h[o] + h[o + 9]);
            norm[(size_t)r * g->cc + c] = s;
        }
}

/* The features of cells x0 .. x1-1 of feature row y. */
static void fnet__hog_cells_scalar(const fnet__hog_geom *g, const float *hist, const float *norm, float *feat,
                                   int y, int x0, int x1) {
    const int hcols = g->cc + 2;
    const size_t P = g->fplane;
    const float eps = 0.0001f;
    int x, o, k;
    for (x = x0; x < x1; x++) {
        const float *n0 = norm + (size_t)y * g->cc + x, *n1 = n0 + g->cc, *n2 = n1 + g->cc;
        const float *h = hist + ((size_t)(y + 2) * hcols + x + 2) * 18;
        float *f = feat + (size_t)(y + 4) * g->fs + x + 4; /* plane o at f[o * P] */
        float z[4], nn[4], n[4], t[4], hv[4];
        /* the 4 blocks of 2x2 cells that contain cell (y+1, x+1) */
        z[0] = n1[1] + n1[2] + n2[1] + n2[2];
        z[1] = n0[1] + n0[2] + n1[1] + n1[2];
        z[2] = n1[0] + n1[1] + n2[0] + n2[1];
        z[3] = n0[0] + n0[1] + n1[0] + n1[1];
        for (k = 0; k < 4; k++) {
            nn[k] = 0.2f * sqrtf(z[k] + eps);
            n[k] = 0.1f / nn[k];
            t[k] = 0;
        }
        for (o = 0; o < 18; o += 3) {
            float a[4], b[4], cc[4];
            for (k = 0; k < 4; k++) {
                a[k] = (h[o] < nn[k] ? h[o] : nn[k]) * n[k];
                b[k] = (h[o + 1] < nn[k] ? h[o + 1] : nn[k]) * n[k];
                cc[k] = (h[o + 2] < nn[k] ? h[o + 2] : nn[k]) * n[k];
                t[k] += a[k] + b[k] + cc[k];
            }
            f[o * P] = (a[0] + a[2]) + (a[1] + a[3]);
            f[(o + 1) * P] = (b[0] + b[2]) + (b[1] + b[3]);
            f[(o + 2) * P] = (cc[0] + cc[2]) + (cc[1] + cc[3]);
        }
        for (o = 0; o < 9; o++) {
            float s = h[o] + h[o + 9];
            for (k = 0; k < 4; k++) hv[k] = (s < nn[k] ? s : nn[k]) * n[k];
            f[(18 + o) * P] = (hv[0] + hv[2]) + (hv[1] + hv[3]);
        }
        for (k = 0; k < 4; k++) f[(27 + k) * P] = t[k] * (float)(2 * 0.2357);
    }
}

/* The zero border of the feature planes, above, below and between the rows the features
   fill (and the 8 floats after the last plane). */
static void fnet__hog_zero_rows(const fnet__hog_geom *g, float *feat, int p) {
    const size_t fs = (size_t)g->fs;
    float *f = feat + (size_t)p * g->fplane;
    memset(f, 0, (4 * fs + 4) * sizeof(float));
    memset(f + (size_t)(g->hr + 4) * fs, 0, (p < 30 ? 5 * fs : 5 * fs + 8) * sizeof(float));
}

static void fnet__hog_features_scalar(const fnet__hog_geom *g, const float *hist, float *norm,
                                      float *feat) {
    const size_t fs = (size_t)g->fs;
    int y, p;
    for (p = 0; p < 31; p++) {
        fnet__hog_zero_rows(g, feat, p);
        for (y = 0; y < g->hr; y++) /* right of row y and left of row y + 1 */
            memset(feat + (size_t)p * g->fplane + (size_t)(y + 4) * fs + g->hc + 4, 0, (fs - (size_t)g->hc) * sizeof(float));
    }
    fnet__hog_norms(g, hist, norm);
    for (y = 0; y < g->hr; y++) fnet__hog_cells_scalar(g, hist, norm, feat, y, 0, g->hc);
}

#if defined(FNET__X86)
/* 8 cells at a time, lane for lane the scalar operations (bit-identical): the cells'
   histograms (18 floats each) transposed into 18 vectors of 8 cells. */
static FNET__AVX2_FN void fnet__hog_transpose8_avx2(const float *h, __m256 *out) {
    __m256 r[8], t[8], u[8];
    int i;
    for (i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(h + 18 * i);
    for (i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (i = 0; i < 4; i++) {
        out[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
        out[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
}

static FNET__AVX2_FN void fnet__hog_features_avx2(const fnet__hog_geom *g, const float *hist, float *norm,
                                                  float *feat) {
    const int hcols = g->cc + 2;
    const size_t P = g->fplane;
    const __m256 eps = _mm256_set1_ps(0.0001f), c02 = _mm256_set1_ps(0.2f), c01 = _mm256_set1_ps(0.1f);
    const __m256 ctex = _mm256_set1_ps((float)(2 * 0.2357));
    const int nz = g->fs - g->hc; /* 16 .. 23 zeros between two rows */
    int y, x, o, k;
    for (o = 0; o < 31; o++) fnet__hog_zero_rows(g, feat, o);
    fnet__hog_norms(g, hist, norm);
    for (y = 0; y < g->hr; y++) {
        for (o = 0; o < 31; o++) { /* the zeros right of row y and left of row y + 1 */
            float *zr = feat + o * P + (size_t)(y + 4) * g->fs + g->hc + 4;
            _mm256_storeu_ps(zr, _mm256_setzero_ps());
            _mm256_storeu_ps(zr + 8, _mm256_setzero_ps());
            _mm256_storeu_ps(zr + nz - 8, _mm256_setzero_ps());
        }
        for (x = 0; x + 8 <= g->hc; x += 8) {
            const float *n0 = norm + (size_t)y * g->cc + x, *n1 = n0 + g->cc, *n2 = n1 + g->cc;
            const float *h = hist + ((size_t)(y + 2) * hcols + x + 2) * 18;
            float *f = feat + (size_t)(y + 4) * g->fs + x + 4;
            __m256 H[18], z[4], nn[4], n[4], t[4];
            {
                __m256 e[8];
                fnet__hog_transpose8_avx2(h, H);
                fnet__hog_transpose8_avx2(h + 8, H + 8);
                for (k = 0; k < 8; k++) e[k] = _mm256_loadu_ps(h + 18 * k + 16); /* bins 16, 17 */
                {
                    const __m256 a01 = _mm256_unpacklo_ps(e[0], e[1]), a23 = _mm256_unpacklo_ps(e[2], e[3]);
                    const __m256 a45 = _mm256_unpacklo_ps(e[4], e[5]), a67 = _mm256_unpacklo_ps(e[6], e[7]);
                    const __m256 lo16 = _mm256_shuffle_ps(a01, a23, 0x44), hi16 = _mm256_shuffle_ps(a45, a67, 0x44);
                    const __m256 lo17 = _mm256_shuffle_ps(a01, a23, 0xEE), hi17 = _mm256_shuffle_ps(a45, a67, 0xEE);
                    H[16] = _mm256_permute2f128_ps(lo16, hi16, 0x20);
                    H[17] = _mm256_permute2f128_ps(lo17, hi17, 0x20);
                }
            }
#define FNET__HOG_L(p, i) _mm256_loadu_ps((p) + (i))
            z[0] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(FNET__HOG_L(n1, 1), FNET__HOG_L(n1, 2)), FNET__HOG_L(n2, 1)), FNET__HOG_L(n2, 2));
            z[1] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(FNET__HOG_L(n0, 1), FNET__HOG_L(n0, 2)), FNET__HOG_L(n1, 1)), FNET__HOG_L(n1, 2));
            z[2] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(FNET__HOG_L(n1, 0), FNET__HOG_L(n1, 1)), FNET__HOG_L(n2, 0)), FNET__HOG_L(n2, 1));
            z[3] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(FNET__HOG_L(n0, 0), FNET__HOG_L(n0, 1)), FNET__HOG_L(n1, 0)), FNET__HOG_L(n1, 1));
#undef FNET__HOG_L
            for (k = 0; k < 4; k++) {
                nn[k] = _mm256_mul_ps(c02, _mm256_sqrt_ps(_mm256_add_ps(z[k], eps)));
                n[k] = _mm256_div_ps(c01, nn[k]);
                t[k] = _mm256_setzero_ps();
            }
            for (o = 0; o < 18; o += 3) {
                __m256 a[4], b[4], cc[4];
                for (k = 0; k < 4; k++) {
                    a[k] = _mm256_mul_ps(_mm256_min_ps(H[o], nn[k]), n[k]);
                    b[k] = _mm256_mul_ps(_mm256_min_ps(H[o + 1], nn[k]), n[k]);
                    cc[k] = _mm256_mul_ps(_mm256_min_ps(H[o + 2], nn[k]), n[k]);
                    t[k] = _mm256_add_ps(t[k], _mm256_add_ps(_mm256_add_ps(a[k], b[k]), cc[k]));
                }
                _mm256_storeu_ps(f + o * P, _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3])));
                _mm256_storeu_ps(f + (o + 1) * P, _mm256_add_ps(_mm256_add_ps(b[0], b[2]), _mm256_add_ps(b[1], b[3])));
                _mm256_storeu_ps(f + (o + 2) * P, _mm256_add_ps(_mm256_add_ps(cc[0], cc[2]), _mm256_add_ps(cc[1], cc[3])));
            }
            for (o = 0; o < 9; o++) {
                const __m256 sv = _mm256_add_ps(H[o], H[o + 9]);
                __m256 hv[4];
                for (k = 0; k < 4; k++) hv[k] = _mm256_mul_ps(_mm256_min_ps(sv, nn[k]), n[k]);
                _mm256_storeu_ps(f + (18 + o) * P, _mm256_add_ps(_mm256_add_ps(hv[0], hv[2]), _mm256_add_ps(hv[1], hv[3])));
            }
            for (k = 0; k < 4; k++) _mm256_storeu_ps(f + (27 + k) * P, _mm256_mul_ps(t[k], ctex));
        }
        fnet__hog_cells_scalar(g, hist, norm, feat, y, x, g->hc);
    }
}
#endif

/* (e): scores of every window position for every filter, scores[f][i][j] (row stride ss), as
   sums of separable pieces: tmp[y][j] = sum_n row[n] * plane[y][j+n] over the feature rows
   that are not zero padding, then score[i][j] += sum_m col[m] * tmp[i+m][j]. About 20
   multiply-adds per window per piece instead of 100 per plane (dlib's frontal model has 305
   pieces for 5 x 31 planes). The kernels differ only in vector width (AVX2 fuses the
   multiply-adds; the others round each product), so scores agree to ~1e-6. */
#define FNET__HOG_SCAN_BODY(ROWPASS, COLPASS)                                                    \
    const int rows = h->rows, cols = h->cols, hr = g->hr, fs = g->fs, ss = g->ss;             \
    int p, y, i, j, m, n;                                                                     \
    (void)n; (void)m; (void)j;                                                                \
    memset(scores, 0, (size_t)h->n_filters * hr * ss * sizeof(float));                       \
    for (p = 0; p < h->n_sep; p++) {                                                          \
        const fnet__hog_sep *sp = &h->sep[p];                                                 \
        const float *plane = feat + (size_t)sp->plane * g->fplane;                            \
        float *out = scores + (size_t)sp->filter * hr * ss;                                   \
        for (y = 4; y < hr + 4; y++) { /* rows outside are zero */                            \
            const float *src = plane + (size_t)y * fs;                                        \
            float *dst = tmp + (size_t)y * ss;                                                \
            ROWPASS                                                                           \
        }                                                                                     \
        for (i = 0; i < hr; i++) {                                                            \
            int m0, m1;                                                                       \
            float *o = out + (size_t)i * ss;                                                  \
            FNET__HOG_ROWS_RANGE(i, hr, rows, m0, m1);                                        \
            COLPASS                                                                           \
        }                                                                                     \
    }                                                                                         \
    (void)cols;

#define FNET__HOG_ROWS_RANGE(i, hr, rows, m0, m1)                    \
    do {                                                              \
        m0 = 4 - (i) > 0 ? 4 - (i) : 0;                               \
        m1 = (hr) + 4 - (i) < (rows) ? (hr) + 4 - (i) : (rows);       \
    } while (0)

static void fnet__hog_scan_scalar(const fnet__hog *h, const fnet__hog_geom *g, const float *feat,
                                  float *scores, float *tmp) {
    FNET__HOG_SCAN_BODY(
        for (j = 0; j < g->hc; j++) {
            float acc = 0;
            for (n = 0; n < cols; n++) acc += sp->row[n] * src[j + n];
            dst[j] = acc;
        },
        for (m = m0; m < m1; m++) {
            const float *t = tmp + (size_t)(i + m) * ss;
            const float cm = sp->col[m];
            for (j = 0; j < g->hc; j++) o[j] += cm * t[j];
        })
}

#if defined(FNET__X86)
static void fnet__hog_scan_sse2(const fnet__hog *h, const fnet__hog_geom *g, const float *feat,
                                float *scores, float *tmp) {
    FNET__HOG_SCAN_BODY(
        for (j = 0; j < g->hc; j += 4) {
            __m128 acc = _mm_setzero_ps();
            for (n = 0; n < cols; n++)
                acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(sp->row[n]), _mm_loadu_ps(src + j + n)));
            _mm_storeu_ps(dst + j, acc);
        },
        for (m = m0; m < m1; m++) {
            const float *t = tmp + (size_t)(i + m) * ss;
            const __m128 cm = _mm_set1_ps(sp->col[m]);
            for (j = 0; j < g->hc; j += 4)
                _mm_storeu_ps(o + j, _mm_add_ps(_mm_loadu_ps(o + j), _mm_mul_ps(cm, _mm_loadu_ps(t + j))));
        })
}

static FNET__AVX2_FN void fnet__hog_scan_avx2(const fnet__hog *h, const fnet__hog_geom *g,
                                              const float *feat, float *scores, float *tmp) {
    /* 4 blocks of 8 outputs at a time: independent multiply-add chains */
    FNET__HOG_SCAN_BODY(
        __m256 wr[64];
        for (n = 0; n < cols; n++) wr[n] = _mm256_set1_ps(sp->row[n]);
        for (j = 0; j + 32 <= g->ss; j += 32) {
            __m256 a0 = _mm256_mul_ps(wr[0], _mm256_loadu_ps(src + j));
            __m256 a1 = _mm256_mul_ps(wr[0], _mm256_loadu_ps(src + j + 8));
            __m256 a2 = _mm256_mul_ps(wr[0], _mm256_loadu_ps(src + j + 16));
            __m256 a3 = _mm256_mul_ps(wr[0], _mm256_loadu_ps(src + j + 24));
            for (n = 1; n < cols; n++) {
                a0 = _mm256_fmadd_ps(wr[n], _mm256_loadu_ps(src + j + n), a0);
                a1 = _mm256_fmadd_ps(wr[n], _mm256_loadu_ps(src + j + n + 8), a1);
                a2 = _mm256_fmadd_ps(wr[n], _mm256_loadu_ps(src + j + n + 16), a2);
                a3 = _mm256_fmadd_ps(wr[n], _mm256_loadu_ps(src + j + n + 24), a3);
            }
            _mm256_storeu_ps(dst + j, a0);
            _mm256_storeu_ps(dst + j + 8, a1);
            _mm256_storeu_ps(dst + j + 16, a2);
            _mm256_storeu_ps(dst + j + 24, a3);
        }
        for (; j < g->ss; j += 8) {
            __m256 acc = _mm256_mul_ps(wr[0], _mm256_loadu_ps(src + j));
            for (n = 1; n < cols; n++) acc = _mm256_fmadd_ps(wr[n], _mm256_loadu_ps(src + j + n), acc);
            _mm256_storeu_ps(dst + j, acc);
        },
        __m256 wc[64];
        for (m = m0; m < m1; m++) wc[m] = _mm256_set1_ps(sp->col[m]);
        for (j = 0; j + 32 <= g->ss; j += 32) {
            __m256 a0 = _mm256_loadu_ps(o + j);
            __m256 a1 = _mm256_loadu_ps(o + j + 8);
            __m256 a2 = _mm256_loadu_ps(o + j + 16);
            __m256 a3 = _mm256_loadu_ps(o + j + 24);
            for (m = m0; m < m1; m++) {
                const float *t = tmp + (size_t)(i + m) * ss + j;
                a0 = _mm256_fmadd_ps(wc[m], _mm256_loadu_ps(t), a0);
                a1 = _mm256_fmadd_ps(wc[m], _mm256_loadu_ps(t + 8), a1);
                a2 = _mm256_fmadd_ps(wc[m], _mm256_loadu_ps(t + 16), a2);
                a3 = _mm256_fmadd_ps(wc[m], _mm256_loadu_ps(t + 24), a3);
            }
            _mm256_storeu_ps(o + j, a0);
            _mm256_storeu_ps(o + j + 8, a1);
            _mm256_storeu_ps(o + j + 16, a2);
            _mm256_storeu_ps(o + j + 24, a3);
        }
        for (; j < g->ss; j += 8) {
            __m256 acc = _mm256_loadu_ps(o + j);
            for (m = m0; m < m1; m++)
                acc = _mm256_fmadd_ps(wc[m], _mm256_loadu_ps(tmp + (size_t)(i + m) * ss + j), acc);
            _mm256_storeu_ps(o + j, acc);
        })
}
#endif

#if defined(FNET__NEON)
static void fnet__hog_scan_neon(const fnet__hog *h, const fnet__hog_geom *g, const float *feat,
                                float *scores, float *tmp) {
    FNET__HOG_SCAN_BODY(
        for (j = 0; j < g->hc; j += 4) {
            float32x4_t acc = vdupq_n_f32(0.0f);
            for (n = 0; n < cols; n++)
                acc = vaddq_f32(acc, vmulq_f32(vdupq_n_f32(sp->row[n]), vld1q_f32(src + j + n)));
            vst1q_f32(dst + j, acc);
        },
        for (m = m0; m < m1; m++) {
            const float *t = tmp + (size_t)(i + m) * ss;
            const float32x4_t cm = vdupq_n_f32(sp->col[m]);
            for (j = 0; j < g->hc; j += 4)
                vst1q_f32(o + j, vaddq_f32(vld1q_f32(o + j), vmulq_f32(cm, vld1q_f32(t + j))));
        })
}
#endif

#if defined(FNET__WASM_SIMD)
static void fnet__hog_scan_wasm(const fnet__hog *h, const fnet__hog_geom *g, const float *feat,
                                float *scores, float *tmp) {
    FNET__HOG_SCAN_BODY(
        for (j = 0; j < g->hc; j += 4) {
            v128_t acc = wasm_f32x4_splat(0.0f);
            for (n = 0; n < cols; n++)
                acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(sp->row[n]), wasm_v128_load(src + j + n)));
            wasm_v128_store(dst + j, acc);
        },
        for (m = m0; m < m1; m++) {
            const float *t = tmp + (size_t)(i + m) * ss;
            const v128_t cm = wasm_f32x4_splat(sp->col[m]);
            for (j = 0; j < g->hc; j += 4)
                wasm_v128_store(o + j, wasm_f32x4_add(wasm_v128_load(o + j), wasm_f32x4_mul(cm, wasm_v128_load(t + j))));
        })
}
#endif

/* (e) for detection: the same separable pieces in another order, in strips of 4 output rows,
   so that what a strip touches stays in the L1 cache and the AVX2 kernel keeps 12 independent
   sums in flight (a multiply-add takes 4-5 cycles, two start per cycle). For each piece
   (h->by_plane orders them by plane, so a plane's 13 feature rows are read for all its pieces
   in turn): down the columns first, v[r][x] = sum_m col[m] plane[i+r+m][x] over the feature
   rows that are not zero padding (m ascending), then along the rows into its filter's scores,
   score[i+r][j] += row[n] v[r][j+n] (n ascending). The multiply-adds of (e) above in another
   order: scores agree to ~5e-6. Needs cols <= 16 (a row of v has ss + 16 floats). */
static FNET__MAYBE_UNUSED void fnet__hog_scan_strips_scalar(const fnet__hog *h, const fnet__hog_geom *g,
                                                            const float *feat, float *scores, float *tmp) {
    const int rows = h->rows, cols = h->cols, hr = g->hr, fs = g->fs, ss = g->ss;
    int i0, t, r, m, n, x, j;
    memset(scores, 0, (size_t)h->n_filters * hr * ss * sizeof(float));
    for (i0 = 0; i0 < hr; i0 += 4) {
        const int nr = FNET__MIN(4, hr - i0);
        for (t = 0; t < h->n_sep; t++) {
            const fnet__hog_sep *sp = &h->sep[h->by_plane[t]];
            const float *plane = feat + (size_t)sp->plane * g->fplane;
            float *out = scores + ((size_t)sp->filter * hr + i0) * ss;
            for (r = 0; r < nr; r++) {
                float *v = tmp + (size_t)r * fs, *o = out + (size_t)r * ss;
                int m0, m1;
                FNET__HOG_ROWS_RANGE(i0 + r, hr, rows, m0, m1);
                for (x = 0; x < fs; x++) {
                    float acc = 0;
                    for (m = m0; m < m1; m++) acc += sp->col[m] * plane[(size_t)(i0 + r + m) * fs + x];
                    v[x] = acc;
                }
                for (j = 0; j < ss; j++)
                    for (n = 0; n < cols; n++) o[j] += sp->row[n] * v[j + n];
            }
        }
    }
}

#if defined(FNET__X86)
/* One row r of a strip with fewer than 4 rows left (the last strip of a level). */
static FNET__AVX2_FN void fnet__hog_strip_row_avx2(const fnet__hog *h, const fnet__hog_geom *g, const fnet__hog_sep *sp,
                                                   const float *plane, int i, float *o, float *v) {
    const int fs = g->fs, ss = g->ss;
    int m0, m1, m, n, x, j;
    FNET__HOG_ROWS_RANGE(i, g->hr, h->rows, m0, m1);
    for (x = 0; x < fs; x += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (m = m0; m < m1; m++)
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(sp->col[m]), _mm256_loadu_ps(plane + (size_t)(i + m) * fs + x), a0);
        _mm256_storeu_ps(v + x, a0);
    }
    for (j = 0; j < ss; j += 8) {
        __m256 a0 = _mm256_loadu_ps(o + j);
        for (n = 0; n < h->cols; n++) a0 = _mm256_fmadd_ps(_mm256_set1_ps(sp->row[n]), _mm256_loadu_ps(v + j + n), a0);
        _mm256_storeu_ps(o + j, a0);
    }
}

/* A full strip of 4 rows: down the columns 24 at a time, feature row s of the strip (the ones
   that are not zero) going to strip rows r = s - m; then along the rows 24 scores at a time. */
#define FNET__HOG_V1(r, k) a##r##k = _mm256_fmadd_ps(w, _mm256_loadu_ps(f + 8 * k), a##r##k)
#define FNET__HOG_VROW(r)                                                         \
    if (s - r >= 0 && s - r < rows) {                                             \
        const __m256 w = _mm256_set1_ps(sp->col[s - r]);                          \
        FNET__HOG_V1(r, 0); FNET__HOG_V1(r, 1); FNET__HOG_V1(r, 2);               \
    }
#define FNET__HOG_VST(r)                                                          \
    _mm256_storeu_ps(v + r * fs + x, a##r##0);                                    \
    _mm256_storeu_ps(v + r * fs + x + 8, a##r##1);                                \
    _mm256_storeu_ps(v + r * fs + x + 16, a##r##2)
#define FNET__HOG_H1(r, k) a##r##k = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + r * fs + j + n + 8 * k), a##r##k)
#define FNET__HOG_HLD(r)                                                          \
    a##r##0 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(o + r * ss + j);      \
    a##r##1 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(o + r * ss + j + 8);  \
    a##r##2 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(o + r * ss + j + 16)
#define FNET__HOG_HST(r)                                                          \
    _mm256_storeu_ps(o + r * ss + j, a##r##0);                                    \
    _mm256_storeu_ps(o + r * ss + j + 8, a##r##1);                                \
    _mm256_storeu_ps(o + r * ss + j + 16, a##r##2)

static FNET__AVX2_FN void fnet__hog_strip4_avx2(const fnet__hog *h, const fnet__hog_geom *g, const fnet__hog_sep *sp,
                                                const float *plane, int i0, float *o, float *v, int first) {
    const int fs = g->fs, ss = g->ss, rows = h->rows, cols = h->cols;
    /* the strip's feature rows i0 + s that are not zero padding */
    const int s0 = FNET__MAX(0, 4 - i0), s1 = FNET__MIN(3 + rows, g->hr + 4 - i0);
    __m256 a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;
    int s, x, j, n, r;
    for (x = 0; x + 24 <= fs; x += 24) {
        a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = a30 = a31 = a32 = _mm256_setzero_ps();
        for (s = s0; s < s1; s++) {
            const float *f = plane + (size_t)(i0 + s) * fs + x;
            FNET__HOG_VROW(0) FNET__HOG_VROW(1) FNET__HOG_VROW(2) FNET__HOG_VROW(3)
        }
        FNET__HOG_VST(0); FNET__HOG_VST(1); FNET__HOG_VST(2); FNET__HOG_VST(3);
    }
    for (; x < fs; x += 8)
        for (r = 0; r < 4; r++) {
            int m0, m1, m;
            __m256 a = _mm256_setzero_ps();
            FNET__HOG_ROWS_RANGE(i0 + r, g->hr, rows, m0, m1);
            for (m = m0; m < m1; m++)
                a = _mm256_fmadd_ps(_mm256_set1_ps(sp->col[m]), _mm256_loadu_ps(plane + (size_t)(i0 + r + m) * fs + x), a);
            _mm256_storeu_ps(v + r * fs + x, a);
        }
    for (j = 0; j + 24 <= ss; j += 24) {
        FNET__HOG_HLD(0); FNET__HOG_HLD(1); FNET__HOG_HLD(2); FNET__HOG_HLD(3);
        for (n = 0; n < cols; n++) {
            const __m256 w = _mm256_set1_ps(sp->row[n]);
            FNET__HOG_H1(0, 0); FNET__HOG_H1(0, 1); FNET__HOG_H1(0, 2);
            FNET__HOG_H1(1, 0); FNET__HOG_H1(1, 1); FNET__HOG_H1(1, 2);
            FNET__HOG_H1(2, 0); FNET__HOG_H1(2, 1); FNET__HOG_H1(2, 2);
            FNET__HOG_H1(3, 0); FNET__HOG_H1(3, 1); FNET__HOG_H1(3, 2);
        }
        FNET__HOG_HST(0); FNET__HOG_HST(1); FNET__HOG_HST(2); FNET__HOG_HST(3);
    }
    for (; j < ss; j += 8)
        for (r = 0; r < 4; r++) {
            __m256 a = first ? _mm256_setzero_ps() : _mm256_loadu_ps(o + r * ss + j);
            for (n = 0; n < cols; n++) a = _mm256_fmadd_ps(_mm256_set1_ps(sp->row[n]), _mm256_loadu_ps(v + r * fs + j + n), a);
            _mm256_storeu_ps(o + r * ss + j, a);
        }
}
#undef FNET__HOG_V1
#undef FNET__HOG_VROW
#undef FNET__HOG_VST
#undef FNET__HOG_H1
#undef FNET__HOG_HLD
#undef FNET__HOG_HST

static FNET__AVX2_FN void fnet__hog_scan_strips_avx2(const fnet__hog *h, const fnet__hog_geom *g,
                                                     const float *feat, float *scores, float *tmp) {
    const int hr = g->hr, ss = g->ss;
    int i0, t, r, f;
    if (g->fs > 160) { /* wide levels (over ~1150 px): piece by piece is as fast, with fewer multiply-adds */
        fnet__hog_scan_avx2(h, g, feat, scores, tmp);
        return;
    }
    for (i0 = 0; i0 + 4 <= hr; i0 += 4) { /* full strips: each filter's first piece sets the scores */
        int first[FNET__HOG_MAX_FILTERS];
        for (f = 0; f < h->n_filters; f++) first[f] = 1;
        for (t = 0; t < h->n_sep; t++) {
            const fnet__hog_sep *sp = &h->sep[h->by_plane[t]];
            fnet__hog_strip4_avx2(h, g, sp, feat + (size_t)sp->plane * g->fplane, i0,
                                  scores + ((size_t)sp->filter * hr + i0) * ss, tmp, first[sp->filter]);
            first[sp->filter] = 0;
        }
        for (f = 0; f < h->n_filters; f++) /* (a filter without pieces scores 0) */
            if (first[f]) memset(scores + ((size_t)f * hr + i0) * ss, 0, 4 * (size_t)ss * sizeof(float));
    }
    for (f = 0; f < h->n_filters && i0 < hr; f++) /* the last strip, row by row */
        memset(scores + ((size_t)f * hr + i0) * ss, 0, (size_t)(hr - i0) * ss * sizeof(float));
    for (t = 0; t < h->n_sep && i0 < hr; t++) {
        const fnet__hog_sep *sp = &h->sep[h->by_plane[t]];
        for (r = i0; r < hr; r++)
            fnet__hog_strip_row_avx2(h, g, sp, feat + (size_t)sp->plane * g->fplane, r,
                                     scores + ((size_t)sp->filter * hr + r) * ss, tmp);
    }
}
#endif

/* ---- kernel dispatch ---- */

typedef struct fnet__hog_kernels {
    void (*row)(const fnet__himg *, const fnet__hog_geom *, int, float *);   /* dlib's order */
    void (*hist)(const fnet__himg *, const fnet__hog_geom *, float *, const unsigned char *); /* or NULL */
    void (*features)(const fnet__hog_geom *, const float *, float *, float *);
    void (*scan)(const fnet__hog *, const fnet__hog_geom *, const float *, float *, float *);
    const unsigned char *olut; /* hist's orientation table (fnet__hog.olut) */
} fnet__hog_kernels;

/* dlib's order of summation in the histograms (training needs it: section 1b). */
static void fnet__hog_pick(fnet_isa isa, fnet__hog_kernels *k) {
    k->row = fnet__hog_row_scalar;
    k->hist = NULL;
    k->olut = NULL;
    k->features = fnet__hog_features_scalar;
    k->scan = fnet__hog_scan_scalar;
#if defined(FNET__X86)
    if (isa == FNET_ISA_SSE2) { k->row = fnet__hog_row_sse2; k->scan = fnet__hog_scan_sse2; }
    if (isa == FNET_ISA_AVX2) {
        k->row = fnet__hog_row_avx2;
        k->features = fnet__hog_features_avx2;
        k->scan = fnet__hog_scan_avx2;
    }
#endif
#if defined(FNET__NEON)
    if (isa == FNET_ISA_NEON) { k->row = fnet__hog_row_neon; k->scan = fnet__hog_scan_neon; }
#endif
#if defined(FNET__WASM_SIMD)
    if (isa == FNET_ISA_WASM_SIMD) { k->row = fnet__hog_row_wasm; k->scan = fnet__hog_scan_wasm; }
#endif
    (void)isa;
}

/* Detection's kernels: the fast path where there is one (AVX2), else fnet__hog_pick's. */
static void fnet__hog_pick_detect(fnet_isa isa, const fnet__hog *h, fnet__hog_kernels *k) {
    fnet__hog_pick(isa, k);
#if defined(FNET__X86)
    if (isa == FNET_ISA_AVX2) {
        if (h->olut) k->hist = fnet__hog_hist_avx2; /* (without its table: dlib's order) */
        k->olut = h->olut;
        if (h->by_plane && h->cols <= 16) k->scan = fnet__hog_scan_strips_avx2;
    }
#endif
    (void)h;
    (void)isa;
}

/* ---- detection driver ---- */

typedef struct fnet__hog_cand {
    double conf;  /* saliency - threshold */
    int filter, level, i, j;
    int box[4];
} fnet__hog_cand;

/* The plan of one call: sizes of everything, in the order the workspace is carved. */
typedef struct fnet__hog_plan {
    int up, w0, h0, levels, nch;
    int w1, h1;               /* level 1 size */
    size_t in_bytes, up_bytes, lvl_bytes, hist_n, norm_n, feat_n, score_n, cand_n, col_n;
    int slots;                /* scratch sets (hist .. col): 1, or the workers of opts.parallel */
    size_t lvl_all_bytes;     /* slots > 1: every level's image is kept (levels run as tasks) */
    size_t total;
} fnet__hog_plan;

#define FNET__HOG_MAX_LEVELS 128 /* more levels (a tiny window in a hostile blob): one thread */

/* The bookkeeping of one fnet_detect call (in its workspace, after everything else). */
typedef struct fnet__hog_scratch {
    float *hist, *norm, *feat, *scores, *clr;
    unsigned sink; /* fnet__hog_touch's sum */
} fnet__hog_scratch;

typedef struct fnet__hog_run {
    const fnet__hog *h;
    const fnet__hog_plan *p;
    fnet__hog_kernels kern;
    int avx2, levels, tail, tasks;
    double adjust;
    fnet__himg img[FNET__HOG_MAX_LEVELS];   /* level images (slots > 1: all of them) */
    unsigned char *buf[FNET__HOG_MAX_LEVELS];
    fnet__hog_scratch sc[FNET_MAX_WORKERS];
    fnet__hog_cand *cand;
    size_t coff[FNET__HOG_MAX_LEVELS], ncand[FNET__HOG_MAX_LEVELS]; /* each level's candidates */
    int owner[FNET__HOG_MAX_LEVELS];        /* second round: the task that runs the level */
    unsigned char *inbuf, *upbuf[2], *lvl[2], *lvl_all; /* input planes, upsampled, levels */
    size_t n_cand;                          /* after the scan: candidates at the front of cand */
} fnet__hog_run;


static int fnet__hog_add(size_t *total, size_t n, size_t esize) {
    size_t t = (*total + 63u) & ~(size_t)63u, bytes;
    if (!fnet__mul_ok(n, esize, &bytes)) return 0;
    if (t < *total || bytes > (size_t)-1 - t - 64u) return 0;
    *total = t + bytes;
    return 1;
}

static fnet_result fnet__hog_make_plan(const fnet__hog *h, int width, int height, int channels,
                                       const fnet_detect_opts *opts, fnet__hog_plan *p) {
    fnet__hog_geom g;
    size_t cands = 0;
    int i, w, ht;
    memset(p, 0, sizeof(*p));
    p->up = opts ? opts->upsample : 0;
    if (p->up < 0 || p->up > FNET__HOG_MAX_UPSAMPLE) return FNET_ERR_INVALID_ARGUMENT;
    p->nch = channels == 1 ? 1 : 3;
    w = width; ht = height;
    p->in_bytes = (size_t)w * (size_t)ht * (size_t)p->nch;
    for (i = 0; i < p->up; i++) { /* pyramid_up: (2w+2) x (2h+1) */
        w = 2 * w + 2; ht = 2 * ht + 1;
        if (w > 4 * FNET_MAX_IMAGE_SIDE || ht > 4 * FNET_MAX_IMAGE_SIDE) return FNET_ERR_TOO_LARGE;
    }
    p->w0 = w; p->h0 = ht;
    if (p->up > 0 && !fnet__mul_ok((size_t)w * (size_t)ht, (size_t)p->nch, &p->up_bytes))
        return FNET_ERR_TOO_LARGE;
    p->levels = fnet__hog_num_levels(h, w, ht);
    p->w1 = (5 * w) / 6; p->h1 = (5 * ht) / 6;
    p->lvl_bytes = p->levels > 1 ? (size_t)p->w1 * (size_t)p->h1 * (size_t)p->nch : 0;
    p->col_n = (size_t)w + 16;
    fnet__hog_geometry(w, ht, &g);
    p->hist_n = (size_t)(g.cr + 2) * (size_t)(g.cc + 2) * 18;
    p->norm_n = (size_t)g.cr * (size_t)g.cc + 1;
    p->feat_n = g.fplane * 31 + 8;
    p->score_n = (size_t)g.hr * (size_t)g.ss * (size_t)h->n_filters + (g.fplane + 8); /* + tmp */
    for (i = 0; i < p->levels; i++) { /* every window of every level could be a candidate */
        fnet__hog_geometry(w, ht, &g);
        cands += (size_t)g.hr * (size_t)g.hc * (size_t)h->n_filters;
        w = (5 * w) / 6; ht = (5 * ht) / 6;
    }
    p->cand_n = cands + 1;
    p->slots = p->levels > 1 && p->levels <= FNET__HOG_MAX_LEVELS ? fnet__workers(opts ? &opts->parallel : NULL) : 1;
    if (p->slots > 1) { /* images of levels 1.. (each with the resize kernels' slack) */
        w = p->w0; ht = p->h0;
        p->lvl_all_bytes = 0;
        for (i = 1; i < p->levels; i++) {
            w = (5 * w) / 6; ht = (5 * ht) / 6;
            if (!fnet__hog_add(&p->lvl_all_bytes, (size_t)w * (size_t)ht * (size_t)p->nch + 16 + 63, 1)) /* + alignment */
                return FNET_ERR_TOO_LARGE;
        }
        p->lvl_bytes = 0;
    }
    p->total = 64;
    p->in_bytes += 16; /* slack: the resize kernels read 4 bytes at a time, the AVX2 histograms 16
                          (the slack is zeroed after each fill: fnet__hog_slack) */
    if (p->up_bytes) p->up_bytes += 16;
    if (p->lvl_bytes) p->lvl_bytes += 16;
    if (!fnet__hog_add(&p->total, p->in_bytes, 1) || !fnet__hog_add(&p->total, p->up_bytes, 1) ||
        !fnet__hog_add(&p->total, p->up > 1 ? p->up_bytes : 0, 1) ||
        !fnet__hog_add(&p->total, p->lvl_bytes, 1) || !fnet__hog_add(&p->total, p->lvl_bytes, 1) ||
        !fnet__hog_add(&p->total, p->lvl_all_bytes, 1))
        return FNET_ERR_TOO_LARGE;
    for (i = 0; i < p->slots; i++)
        if (!fnet__hog_add(&p->total, p->hist_n, sizeof(float)) ||
            !fnet__hog_add(&p->total, p->norm_n, sizeof(float)) ||
            !fnet__hog_add(&p->total, p->feat_n, sizeof(float)) ||
            !fnet__hog_add(&p->total, p->score_n, sizeof(float)) ||
            !fnet__hog_add(&p->total, p->col_n * 17, sizeof(float)))
            return FNET_ERR_TOO_LARGE;
    if (!fnet__hog_add(&p->total, p->cand_n, sizeof(fnet__hog_cand)) ||
        !fnet__hog_add(&p->total, 1, sizeof(fnet__hog_run)))
        return FNET_ERR_TOO_LARGE;
    return FNET_OK;
}

FNET_API size_t fnet_detect_workspace_size(const fnet_model *det, int width, int height,
                                           const fnet_detect_opts *opts) {
    fnet__hog_plan p;
    if (!det || det->kind != FNET_MODEL_DETECTOR || !det->stage || width <= 0 || height <= 0 ||
        width > FNET_MAX_IMAGE_SIDE || height > FNET_MAX_IMAGE_SIDE)
        return 0;
    /* the size for colour input covers gray input too */
    if (fnet__hog_make_plan((const fnet__hog *)det->stage, width, height, 3, opts, &p) != FNET_OK)
        return 0;
    return p.total;
}

/* The box of window (i, j) of a level, in level-0 pixels: dlib's fhog_to_image of the window's
   cells, then pyramid_down<6>::rect_up `level` times, then rounded. */
static void fnet__hog_box(const fnet__hog *h, int level, int i, int j, int box[4]) {
    const int cs = h->cell, orow = (h->rows - 1) / 2, ocol = (h->cols - 1) / 2;
    long px[2], py[2];
    double v[4];
    int k, l;
    px[0] = ((long)j + 1 - ocol) * cs + 1;
    py[0] = ((long)i + 1 - orow) * cs + 1;
    px[1] = ((long)j + h->cols - 1 + 1 - ocol) * cs + 1;
    py[1] = ((long)i + h->rows - 1 + 1 - orow) * cs + 1;
    for (k = 0; k < 2; k++) {
        px[k] += px[k] >= 0 ? cs / 2 : -(cs / 2);
        py[k] += py[k] >= 0 ? cs / 2 : -(cs / 2);
    }
    v[0] = (double)px[0]; v[1] = (double)py[0]; v[2] = (double)px[1]; v[3] = (double)py[1];
    for (l = 0; l < level; l++)
        for (k = 0; k < 4; k++) v[k] = v[k] * (6 / (6 - 1.0)) + 0.3;
    for (k = 0; k < 4; k++) box[k] = (int)fnet__hog_round(v[k]);
}

/* dlib's test_box_overlap on inclusive rectangles. */
static int fnet__hog_overlaps(const fnet__hog *h, const int *a, const int *b) {
    double inner, outer, area_a, area_b;
    long il = FNET__MAX(a[0], b[0]), it = FNET__MAX(a[1], b[1]);
    long ir = FNET__MIN(a[2], b[2]), ib = FNET__MIN(a[3], b[3]);
    if (ir < il || ib < it) return 0;
    inner = (double)(ir - il + 1) * (double)(ib - it + 1);
    outer = (double)(FNET__MAX(a[2], b[2]) - FNET__MIN(a[0], b[0]) + 1) *
            (double)(FNET__MAX(a[3], b[3]) - FNET__MIN(a[1], b[1]) + 1);
    area_a = (double)(a[2] - a[0] + 1) * (double)(a[3] - a[1] + 1);
    area_b = (double)(b[2] - b[0] + 1) * (double)(b[3] - b[1] + 1);
    return inner / outer > h->iou || inner / area_a > h->covered || inner / area_b > h->covered;
}

static int fnet__hog_cand_cmp(const void *pa, const void *pb) {
    const fnet__hog_cand *a = (const fnet__hog_cand *)pa, *b = (const fnet__hog_cand *)pb;
    if (a->conf != b->conf) return a->conf > b->conf ? -1 : 1;
    if (a->filter != b->filter) return a->filter - b->filter;
    if (a->level != b->level) return a->level - b->level;
    if (a->i != b->i) return a->i - b->i;
    return a->j - b->j;
}

/* Features of one level image into feat (hist, norm: scratch). */
/* (a-b) of one level image into hist. */
static void fnet__hog_votes(const fnet__hog_kernels *k, const fnet__himg *im, const fnet__hog_geom *g,
                            float *hist) {
    int y;
    memset(hist, 0, (size_t)(g->cr + 2) * (size_t)(g->cc + 2) * 18 * sizeof(float));
    if (k->hist) k->hist(im, g, hist, k->olut);
    else
        for (y = 1; y < g->vis_r; y++) k->row(im, g, y, hist);
}

/* Features (a-c) of one level image into feat (hist, norm: scratch). */
static void fnet__hog_extract(const fnet__hog_kernels *k, const fnet__himg *im, const fnet__hog_geom *g,
                              float *hist, float *norm, float *feat) {
    fnet__hog_votes(k, im, g, hist);
    k->features(g, hist, norm, feat);
}

/* The caller's threads (opts.parallel). The pyramid's levels are independent once their
   images exist, and each level's windows go to a range of the candidate list of their own,
   so levels can run as tasks in any order on any thread: the candidates, sorted by a total
   order before the non-max suppression, and hence the boxes are the same. Each task has its
   own scratch set (histograms, features, scores). Two rounds: first level 0 (about 30% of
   the work) alongside the resampling chain of levels 1.. (each level is resampled from the
   previous one, as dlib does), which then goes on with the smallest levels; then the
   remaining levels, spread over the workers by size (their work is proportional to their
   pixels; largest first onto the least loaded). */
/* Zeroes the 16 slack bytes after an image's planes: the SIMD kernels' loads run past the
   last row (their lanes there are masked off), and every byte they read is then defined. */
static void fnet__hog_slack(unsigned char *planes, size_t bytes) { memset(planes + bytes, 0, 16); }

/* Level l's image resampled (pyramid_down<6>) from level l-1's, with sc's column scratch. */
static void fnet__hog_down(fnet__hog_run *d, int l, const fnet__hog_scratch *sc) {
    const fnet__himg *src = &d->img[l - 1];
    fnet__himg *dst = &d->img[l];
    int dw = (5 * src->w) / 6, dh = (5 * src->h) / 6, ch;
    size_t cn = d->p->col_n;
    fnet__hog_resize_c(src, d->buf[l], dw, dh, (int *)(void *)(sc->clr + 3 * cn), sc->clr,
                       (unsigned char *)(void *)(sc->clr + cn), d->avx2, sc->clr + 5 * cn, cn, 0, dh);
    for (ch = 0; ch < src->nch; ch++) dst->pl[ch] = d->buf[l] + (size_t)ch * dw * dh;
    fnet__hog_slack(d->buf[l], (size_t)src->nch * dw * dh);
    dst->w = dw; dst->h = dh; dst->stride = dw; dst->nch = src->nch;
}

/* (b-e) of level l on scratch set sc; its candidates to cand[coff[l] ..]. */
static void fnet__hog_level(fnet__hog_run *d, int l, const fnet__hog_scratch *sc) {
    const fnet__hog *h = d->h;
    const fnet__himg *im = &d->img[l];
    fnet__hog_geom g;
    size_t cn = d->p->col_n, n = 0;
    float *vx0 = sc->clr + cn, *vx1 = vx0 + cn;
    fnet__hog_cand *cand = d->cand + d->coff[l];
    int f;
    d->ncand[l] = 0;
    fnet__hog_geometry(im->w, im->h, &g);
    if (g.hr < 1 || g.hc < 1) return;
    fnet__hog_col_tables(&g, (int *)(void *)(vx1 + cn) + cn, vx0, vx1);
    fnet__hog_extract(&d->kern, im, &g, sc->hist, sc->norm, sc->feat);
    d->kern.scan(h, &g, sc->feat, sc->scores, sc->scores + (size_t)g.hr * g.ss * h->n_filters);
    for (f = 0; f < h->n_filters; f++) {
        const double th = h->thresh[f] + d->adjust;
        const float *s = sc->scores + (size_t)f * g.hr * g.ss;
        int i, j;
        for (i = 0; i < g.hr; i++)
            for (j = 0; j < g.hc; j++) {
                double v = (double)s[(size_t)i * g.ss + j];
                if (v >= th) {
                    fnet__hog_cand *c = &cand[n++];
                    c->conf = v - h->thresh[f];
                    c->filter = f; c->level = l; c->i = i; c->j = j;
                }
            }
    }
    d->ncand[l] = n;
}

/* Where the tasks' data was written. A level another core wrote is read from that core's
   caches, line by line: the features' rows are short streams, and on a machine whose cores
   do not share an L3 (this project's 2-vCPU EPYC, some of the time: a 400-500 ns round
   trip between them) that made a task's level 1.2x slower. So a task first reads such a
   level once, a byte per 64-byte line (fnet__hog_touch: a long stream, which the hardware
   prefetches), and the features then find it in its own caches. Likewise the chain writes
   its levels where the other core read them in the call before: it first stores a byte
   per line (fnet__hog_claim), which takes the lines over in one fast stream; the resampling
   then overwrites every byte. Results do not change. */
static void fnet__hog_touch(const unsigned char *p, size_t n, unsigned *sink) {
    size_t k;
    unsigned acc = 0;
    for (k = 0; k < n; k += 64) acc += p[k];
    *sink += acc; /* kept, so the reads are not optimised away */
}
static void fnet__hog_claim(unsigned char *p, size_t n) {
    size_t k;
    for (k = 0; k < n; k += 64) ((volatile unsigned char *)p)[k] = 0;
}

/* First round: task 0 the resampling chain, then levels tail..; task 1 level 0. Task 0 is
   the one a pool most likely runs on the calling thread (examples/thread_pool.h always
   does), which wrote level 0: the chain reads it most. */
static void fnet__hog_task1(void *ctx, int t) {
    fnet__hog_run *d = (fnet__hog_run *)ctx;
    int l;
    if (t == 1) {
        const fnet__himg *im = &d->img[0];
        fnet__hog_touch(im->pl[0], (size_t)im->stride * im->h * im->nch, &d->sc[1].sink);
        fnet__hog_level(d, 0, &d->sc[1]);
        return;
    }
    for (l = 1; l < d->levels; l++) {
        const fnet__himg *src = &d->img[l - 1];
        fnet__hog_claim(d->buf[l], (size_t)((5 * src->w) / 6) * (size_t)((5 * src->h) / 6) * (size_t)src->nch);
        fnet__hog_down(d, l, &d->sc[0]);
    }
    for (l = d->tail; l < d->levels; l++) fnet__hog_level(d, l, &d->sc[0]);
}

/* Second round: task t runs the levels 1..tail-1 it owns (task 0 wrote them all). */
static void fnet__hog_task2(void *ctx, int t) {
    fnet__hog_run *d = (fnet__hog_run *)ctx;
    int l;
    for (l = 1; l < d->tail; l++)
        if (d->owner[l] == t) {
            const fnet__himg *im = &d->img[l];
            if (t != 0) fnet__hog_touch(im->pl[0], (size_t)im->w * im->h * im->nch, &d->sc[t].sink);
            fnet__hog_level(d, l, &d->sc[t]);
        }
}

/* Step 1, the workspace: carves the plan's buffers out of the caller's workspace (or our own
   block, *own), in the order fnet__hog_make_plan sized them, and sets up the call's
   bookkeeping d (kernels, scratch sets, each level's range of the candidate list). */
static fnet_result fnet__hog_workspace(const fnet_model *det, const fnet__hog_plan *p, double adjust, void *work,
                                       size_t work_size, void **own, fnet__hog_run **out) {
    const fnet__hog *h = (const fnet__hog *)det->stage;
    fnet__hog_scratch scs[FNET_MAX_WORKERS];
    unsigned char *inbuf, *upbuf[2] = {NULL, NULL}, *lvl[2] = {NULL, NULL}, *lvl_all = NULL;
    fnet__hog_cand *cand;
    fnet__hog_run *d;
    fnet__arena ar;
    fnet_result r = fnet__arena_init(&ar, work, work_size, p->total, own);
    int t, level, w, ht;
    size_t off = 0;
    if (r != FNET_OK) return r;
    inbuf = (unsigned char *)fnet__arena_take(&ar, p->in_bytes);
    if (p->up > 0) upbuf[0] = (unsigned char *)fnet__arena_take(&ar, p->up_bytes);
    if (p->up > 1) upbuf[1] = (unsigned char *)fnet__arena_take(&ar, p->up_bytes);
    if (p->lvl_bytes) {
        lvl[0] = (unsigned char *)fnet__arena_take(&ar, p->lvl_bytes);
        lvl[1] = (unsigned char *)fnet__arena_take(&ar, p->lvl_bytes);
    }
    if (p->lvl_all_bytes) lvl_all = (unsigned char *)fnet__arena_take(&ar, p->lvl_all_bytes);
    for (t = 0; t < p->slots; t++) {
        fnet__hog_scratch *sc = &scs[t];
        sc->hist = (float *)fnet__arena_take(&ar, p->hist_n * sizeof(float));
        sc->norm = (float *)fnet__arena_take(&ar, p->norm_n * sizeof(float));
        sc->feat = (float *)fnet__arena_take(&ar, p->feat_n * sizeof(float));
        sc->scores = (float *)fnet__arena_take(&ar, p->score_n * sizeof(float));
        sc->clr = (float *)fnet__arena_take(&ar, p->col_n * 17 * sizeof(float));
        sc->sink = 0;
        if (!sc->hist || !sc->norm || !sc->feat || !sc->scores || !sc->clr) inbuf = NULL;
    }
    cand = (fnet__hog_cand *)fnet__arena_take(&ar, p->cand_n * sizeof(fnet__hog_cand));
    d = (fnet__hog_run *)fnet__arena_take(&ar, sizeof(fnet__hog_run));
    if (!d || !inbuf || (p->up > 0 && !upbuf[0]) || (p->up > 1 && !upbuf[1]) ||
        (p->lvl_bytes && (!lvl[0] || !lvl[1])) || (p->lvl_all_bytes && !lvl_all) || !cand)
        return FNET_ERR_WORKSPACE_TOO_SMALL;
    memset(d, 0, sizeof *d);
    memcpy(d->sc, scs, sizeof(fnet__hog_scratch) * (size_t)p->slots);
    d->h = h; d->p = p; d->adjust = adjust; d->cand = cand;
    d->inbuf = inbuf; d->lvl_all = lvl_all;
    d->upbuf[0] = upbuf[0]; d->upbuf[1] = upbuf[1]; d->lvl[0] = lvl[0]; d->lvl[1] = lvl[1];
    d->avx2 = det->isa == FNET_ISA_AVX2;
    fnet__hog_pick_detect(det->isa, h, &d->kern);
    /* every level's windows get their own range of the candidate list */
    for (level = 0, w = p->w0, ht = p->h0; level < p->levels; level++) {
        fnet__hog_geom g;
        if (level > 0) { w = (5 * w) / 6; ht = (5 * ht) / 6; }
        if (w < 1 || ht < 1 || level >= FNET__HOG_MAX_LEVELS) break; /* (65536 px: 65 levels) */
        fnet__hog_geometry(w, ht, &g);
        d->coff[level] = off;
        if (g.hr > 0 && g.hc > 0) off += (size_t)g.hr * (size_t)g.hc * (size_t)h->n_filters;
    }
    d->levels = level;
    *out = d;
    return FNET_OK;
}

#if defined(FNET__X86)
/* One row of n RGB pixels into 3 planes, 16 pixels at a time (byte shuffles); the rest in C. */
static FNET__AVX2_FN int fnet__hog_rgb_planes_avx2(const unsigned char *s, int n, unsigned char *r, unsigned char *g,
                                                   unsigned char *b) {
    const __m128i ra = _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i rb = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14, -1, -1, -1, -1, -1);
    const __m128i rc = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1, 4, 7, 10, 13);
    const __m128i ga = _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i gb = _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1);
    const __m128i gc = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14);
    const __m128i ba = _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i bb = _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1);
    const __m128i bc = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15);
    int x;
    for (x = 0; x + 16 <= n; x += 16) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(s + 3 * x));
        const __m128i m = _mm_loadu_si128((const __m128i *)(const void *)(s + 3 * x + 16));
        const __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + 3 * x + 32));
        _mm_storeu_si128((__m128i *)(void *)(r + x), _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, ra), _mm_shuffle_epi8(m, rb)),
                                                                  _mm_shuffle_epi8(c, rc)));
        _mm_storeu_si128((__m128i *)(void *)(g + x), _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, ga), _mm_shuffle_epi8(m, gb)),
                                                                  _mm_shuffle_epi8(c, gc)));
        _mm_storeu_si128((__m128i *)(void *)(b + x), _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, ba), _mm_shuffle_epi8(m, bb)),
                                                                  _mm_shuffle_epi8(c, bc)));
    }
    return x;
}
#endif

/* One enlargement of step 2: task t of n writes its share of the output rows, with scratch
   set t (each row is the same whichever task computes it). */
typedef struct fnet__hog_up {
    fnet__hog_run *d;
    const fnet__himg *src;
    unsigned char *dst;
    int dw, dh, n;
} fnet__hog_up;
static void fnet__hog_up_task(void *ctx, int t) {
    const fnet__hog_up *u = (const fnet__hog_up *)ctx;
    const fnet__hog_scratch *sc = &u->d->sc[t];
    size_t cn = u->d->p->col_n;
    fnet__hog_resize_c(u->src, u->dst, u->dw, u->dh, (int *)(void *)(sc->clr + 3 * cn), sc->clr,
                       (unsigned char *)(void *)(sc->clr + cn), u->d->avx2, sc->clr + 5 * cn, cn,
                       (int)((long)u->dh * t / u->n), (int)((long)u->dh * (t + 1) / u->n));
}

/* Step 2, the input: the image as planes (R, G, B or gray; RGBA's alpha is ignored), then
   (g) enlarged 2x (dlib's pyramid_up) opts.upsample times: level 0 of the pyramid. With the
   caller's threads each enlargement is shared out by rows. */
static void fnet__hog_input(fnet__hog_run *d, const fnet_image *img, const fnet_parallel *par) {
    const fnet__hog_plan *p = d->p;
    const size_t n = (size_t)img->width * img->height;
    fnet__himg cur;
    int ch, x, y, i;
    for (ch = 0; ch < p->nch; ch++) cur.pl[ch] = d->inbuf + (size_t)ch * n;
    for (y = 0; y < img->height; y++) {
        const unsigned char *s = img->pixels + (size_t)y * img->stride;
        const size_t row = (size_t)y * img->width;
        x = 0;
#if defined(FNET__X86)
        if (d->avx2 && img->channels == 3)
            x = fnet__hog_rgb_planes_avx2(s, img->width, d->inbuf + row, d->inbuf + n + row, d->inbuf + 2 * n + row);
#endif
        for (ch = 0; ch < p->nch; ch++) {
            unsigned char *dd = d->inbuf + (size_t)ch * n + row;
            int k;
            for (k = x; k < img->width; k++) dd[k] = s[(size_t)k * img->channels + ch];
        }
    }
    cur.w = img->width; cur.h = img->height; cur.stride = img->width; cur.nch = p->nch;
    fnet__hog_slack(d->inbuf, (size_t)p->nch * n);
    for (i = 0; i < p->up; i++) {
        fnet__hog_up u;
        unsigned char *dst = d->upbuf[i & 1];
        int dw = 2 * cur.w + 2, dh = 2 * cur.h + 1;
        u.d = d; u.src = &cur; u.dst = dst; u.dw = dw; u.dh = dh;
        u.n = FNET__MIN(p->slots, dh);
        fnet__parallel_run(par, u.n, fnet__hog_up_task, &u);
        for (ch = 0; ch < p->nch; ch++) cur.pl[ch] = dst + (size_t)ch * dw * dh;
        fnet__hog_slack(dst, (size_t)p->nch * dw * dh);
        cur.w = dw; cur.h = dh; cur.stride = dw;
    }
    d->img[0] = cur;
}

/* Step 3, the per-level scan: (d) each level resampled from the one before, (b-e) its
   features and window scores, its candidates (score >= threshold) into its range of the
   list; then the candidates of every level, in level order, to the front of the list. One
   thread: level after level in two image buffers. With the caller's threads: two rounds of
   tasks (see fnet__hog_task1), the same candidates in the same order. */
static void fnet__hog_scan_pyramid(fnet__hog_run *d, const fnet_parallel *par) {
    const fnet__hog_plan *p = d->p;
    int level, t;
    if (p->slots == 1) {
        for (level = 0; level < d->levels; level++) {
            if (level > 0) {
                d->buf[level] = d->lvl[level & 1];
                fnet__hog_down(d, level, &d->sc[0]);
            }
            fnet__hog_level(d, level, &d->sc[0]);
        }
    } else {
        unsigned long long px[FNET__HOG_MAX_LEVELS], chain = 0, tail = 0, load[FNET_MAX_WORKERS];
        size_t off = 0;
        int n2, w = d->img[0].w, ht = d->img[0].h;
        for (level = 0; level < d->levels; level++) { /* level sizes and buffers */
            if (level > 0) {
                w = (5 * w) / 6; ht = (5 * ht) / 6;
                off = (off + 63u) & ~(size_t)63u;
                d->buf[level] = d->lvl_all + off;
                off += (size_t)w * (size_t)ht * (size_t)p->nch + 16;
                chain += (unsigned long long)w * (unsigned long long)ht;
            }
            px[level] = (unsigned long long)w * (unsigned long long)ht;
        }
        /* the chain's task takes the smallest levels while it stays within level 0's work
           (resampling a pixel costs about 1/4 of its features and scan, measured with
           2 workers on 1024 px photos: 13.2 ms for the chain of upsampled levels against
           23.5 ms for level 0, whose pixels are 1/2.27 of the chain's) */
        d->tail = d->levels;
        tail = chain / 4;
        while (d->tail > 1 && tail + px[d->tail - 1] <= px[0]) tail += px[--d->tail];
        fnet__parallel_run(par, 2, fnet__hog_task1, d);
        n2 = FNET__MIN(p->slots, d->tail - 1);
        if (n2 > 0) {
            memset(load, 0, sizeof load);
            for (level = 1; level < d->tail; level++) { /* sizes decrease with the level */
                int best = 0;
                for (t = 1; t < n2; t++)
                    if (load[t] < load[best]) best = t;
                d->owner[level] = best;
                load[best] += px[level];
            }
            fnet__parallel_run(par, n2, fnet__hog_task2, d);
        }
    }
    d->n_cand = 0;
    for (level = 0; level < d->levels; level++) {
        if (d->coff[level] != d->n_cand && d->ncand[level])
            memmove(d->cand + d->n_cand, d->cand + d->coff[level], d->ncand[level] * sizeof(fnet__hog_cand));
        d->n_cand += d->ncand[level];
    }
}

/* Step 4, (f) non-max suppression: the candidates sorted best first (a total order, so any
   thread count gives the same list), each box in level-0 pixels dropped when it overlaps
   one already kept; the kept ones move to the front. Returns how many are kept. */
static int fnet__hog_suppress(fnet__hog_run *d) {
    fnet__hog_cand *cand = d->cand;
    size_t ci;
    int kept = 0;
    qsort(cand, d->n_cand, sizeof(fnet__hog_cand), fnet__hog_cand_cmp);
    for (ci = 0; ci < d->n_cand; ci++) {
        fnet__hog_cand c = cand[ci];
        int q, drop = 0;
        fnet__hog_box(d->h, c.level, c.i, c.j, c.box);
        for (q = 0; q < kept && !drop; q++) drop = fnet__hog_overlaps(d->h, cand[q].box, c.box);
        if (!drop) cand[kept++] = c;
    }
    return kept;
}

/* Step 5, back to image coordinates: the first n kept boxes, undoing the upsampling the way
   dlib's Python binding does (pyramid_down<2>::rect_down per 2x), with score and filter. */
static void fnet__hog_to_image(const fnet__hog_run *d, int n, fnet_box *boxes) {
    int ci, k, q;
    for (ci = 0; ci < n; ci++) {
        const fnet__hog_cand *c = &d->cand[ci];
        double v[4];
        for (k = 0; k < 4; k++) v[k] = (double)c->box[k];
        for (q = 0; q < d->p->up; q++) {
            v[0] = v[0] / 2.0 - 1.25; v[1] = v[1] / 2.0 - 0.75;
            v[2] = v[2] / 2.0 - 1.25; v[3] = v[3] / 2.0 - 0.75;
        }
        boxes[ci].left = (int)fnet__hog_round(v[0]);
        boxes[ci].top = (int)fnet__hog_round(v[1]);
        boxes[ci].right = (int)fnet__hog_round(v[2]);
        boxes[ci].bottom = (int)fnet__hog_round(v[3]);
        boxes[ci].score = (float)c->conf;
        boxes[ci].filter = c->filter;
    }
}

/* Detection, steps (a-g) of the section comment: the workspace, the input (and its
   upsampling), the scan of every pyramid level, the non-max suppression, and the kept boxes
   mapped back to the input image. */
FNET_API fnet_result fnet_detect(const fnet_model *det, fnet_image img,
                                 const fnet_detect_opts *opts, void *work, size_t work_size,
                                 fnet_box *boxes, int max_boxes, int *n_boxes) {
    const fnet__hog *h;
    fnet__hog_plan p;
    fnet__hog_run *d = NULL;
    void *own = NULL;
    fnet_result r;
    double adjust = opts ? (double)opts->threshold : 0.0;
    int kept;
    if (n_boxes) *n_boxes = 0;
    if (!det || !n_boxes || (max_boxes > 0 && !boxes) || max_boxes < 0) return FNET_ERR_INVALID_ARGUMENT;
    if (det->kind != FNET_MODEL_DETECTOR || !det->stage) return FNET_ERR_WRONG_MODEL;
    if (!(adjust == adjust) || adjust > 1e30 || adjust < -1e30) return FNET_ERR_NOT_FINITE;
    r = fnet__check_image(&img);
    if (r != FNET_OK) return r;
    h = (const fnet__hog *)det->stage;
    r = fnet__hog_make_plan(h, img.width, img.height, img.channels, opts, &p);
    if (r != FNET_OK) return r;
    if (work) { /* the caller sized it for colour input: keep the same requirement for gray */
        fnet__hog_plan pc;
        if (fnet__hog_make_plan(h, img.width, img.height, 3, opts, &pc) != FNET_OK) return FNET_ERR_TOO_LARGE;
        if (work_size < pc.total) return FNET_ERR_WORKSPACE_TOO_SMALL;
    }
    r = fnet__hog_workspace(det, &p, adjust, work, work_size, &own, &d);
    if (r != FNET_OK) {
        FNET_FREE(own);
        return r;
    }
    fnet__hog_input(d, &img, opts ? &opts->parallel : NULL);
    fnet__hog_scan_pyramid(d, opts ? &opts->parallel : NULL);
    kept = fnet__hog_suppress(d);
    fnet__hog_to_image(d, FNET__MIN(kept, max_boxes), boxes);
    *n_boxes = kept;
    FNET_FREE(own);
    return FNET_OK;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* ==== 1b. Training the detector: structural SVM (Joachims; dlib's OCA, Teo et al.) ========

   Section 1 runs a filter w (10 x 10 cells x 31 fHOG features) and a threshold b: a window
   x is a face when w . phi(x) >= b. Training finds w and b from images whose faces are
   boxed, as dlib's structural_object_detection_trainer does (King 2015, "Max-Margin Object
   Detection"; the features are Felzenszwalb et al. 2010's, section 1 computes them).

   a. Structured output. For one image the "label" y is the whole set of boxes a detector
      reports; its joint feature vector psi(x, y) = (sum of phi over the boxes, -|y|), so that
      (w, b) . psi = the summed scores minus b per box. The detector's output is the y
      maximising it under non-max suppression: every window scoring >= b, best first.
   b. Loss. Delta(y_true, y) counts 1 per truth box no detection matches (IoU > 0.5, dlib's
      match_eps) and 1 per false alarm (a detection matching nothing, or a second detection
      of one box); a detection overlapping an "ignore" box costs nothing.
   c. Objective (Joachims, Finley, Yu 2009, "Cutting-plane training of structural SVMs", the
      1-slack form):  minimise 0.5 |w|^2 + C R(w),
         R(w) = 1/N sum_i max_y [ Delta(y_i, y) + w . (psi(x_i, y) - psi(x_i, y_i)) ],
      a convex upper bound on the average loss. The inner max ("separation oracle", loss-
      augmented detection) scans image i with the current w and threshold b - 1 (each
      detection may add 1 of loss), then keeps, best score first and under NMS, each box that
      raises score + loss: a box on a face only while the face's summed scores exceed 1, any
      box elsewhere. R's subgradient is the mean of psi(oracle) - psi(truth).
   d. Solver: OCA (Teo et al. 2010, "Bundle methods for regularized risk minimization";
      Franc & Sonnenburg 2009, "Optimized cutting plane algorithm"). Each oracle pass gives
      a cutting plane R(w) >= a_t . w + b_t; the planes' maximum is a model of R, and
      minimising 0.5|w|^2 + C max_t(a_t . w + b_t) is a small QP in its dual: alpha >= 0,
      sum alpha = C, w = -sum alpha_t a_t, solved by SMO (two alphas at a time, largest KKT
      violation first, until the duality gap < min(0.01, 0.1 x the last objective gap)).
      Stop when R(w) - model(w) < epsilon. Planes unused for 20 iterations are dropped.
   e. Oracle cache (dlib's structural_svm_problem): the last 5 oracle answers of each image
      are kept; while they still promise enough risk the oracle is not rerun; near the end
      the real oracle must confirm convergence twice.
   f. Boxes the window cannot represent are refused before training: each truth box maps
      to the pyramid level and position whose window overlaps it best (dlib's
      get_best_matching_rect); IoU <= 0.5 there means the box's shape or size is unlike the
      80 x 80 window. The NMS thresholds of the trained detector are the tightest that keep
      all truth boxes of an image apart (dlib's find_tight_overlap_tester).
   g. Data: the images (and boxes) are first doubled `upsample` times (pyramid_up) and, with
      flip, mirrored copies appended (dlib's add_image_left_right_flips).

   Threads: feature extraction runs one task per image, the oracle's scans one task per
   (image, level); each task writes its own buffer, and the results are merged and summed in
   image and level order, so the model does not depend on the thread count. Scans run as
   section 1's separable kernels when the filter has low rank, otherwise as a plain 10x10
   correlation (dlib's same choice), in dlib's float arithmetic: the trainer takes dlib's
   path iteration for iteration (on dlib's example faces: the same 143 iterations and filter). */

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#define FNET__DT_R 10
#define FNET__DT_C 10
#define FNET__DT_D (31 * FNET__DT_R * FNET__DT_C) /* filter weights; w[FNET__DT_D] = threshold */
#define FNET__DT_N (FNET__DT_D + 1)
#define FNET__DT_MAX_CACHE 64

#ifndef FNET_NO_STDIO
static fnet_result fnet__write_atomic(const char *path, const void *data, size_t n);
#endif

/* dlib's rectangle: inclusive corners; empty when right < left or bottom < top. */
typedef struct fnet__rect {
    long l, t, r, b;
} fnet__rect;

static int fnet__rect_empty(fnet__rect a) { return a.r < a.l || a.b < a.t; }
static double fnet__rect_area(fnet__rect a) {
    return fnet__rect_empty(a) ? 0.0 : (double)(a.r - a.l + 1) * (double)(a.b - a.t + 1);
}
static fnet__rect fnet__rect_isect(fnet__rect a, fnet__rect b) {
    fnet__rect c;
    c.l = FNET__MAX(a.l, b.l); c.t = FNET__MAX(a.t, b.t);
    c.r = FNET__MIN(a.r, b.r); c.b = FNET__MIN(a.b, b.b);
    return c;
}
static fnet__rect fnet__rect_union(fnet__rect a, fnet__rect b) { /* dlib's a + b */
    fnet__rect c;
    if (fnet__rect_empty(b)) return a;
    if (fnet__rect_empty(a)) return b;
    c.l = FNET__MIN(a.l, b.l); c.t = FNET__MIN(a.t, b.t);
    c.r = FNET__MAX(a.r, b.r); c.b = FNET__MAX(a.b, b.b);
    return c;
}
/* dlib's test_box_overlap(iou, covered). */
static int fnet__rect_overlap(double iou, double cov, fnet__rect a, fnet__rect b) {
    const double inner = fnet__rect_area(fnet__rect_isect(a, b));
    if (inner == 0) return 0;
    return inner / fnet__rect_area(fnet__rect_union(a, b)) > iou || inner / fnet__rect_area(a) > cov ||
           inner / fnet__rect_area(b) > cov;
}
static double fnet__rect_iou(fnet__rect a, fnet__rect b) {
    const double inner = fnet__rect_area(fnet__rect_isect(a, b));
    return inner == 0 ? 0.0 : inner / fnet__rect_area(fnet__rect_union(a, b));
}

/* pyramid_down<6> over `levels` levels (in double, rounded at the end, as dlib's rect_down /
   rect_up with a level count); pyramid_down<2>::rect_up (one dataset upsampling). */
static fnet__rect fnet__dt_rect_scale(fnet__rect a, int levels, int up) {
    double v[4];
    int k, q;
    v[0] = (double)a.l; v[1] = (double)a.t; v[2] = (double)a.r; v[3] = (double)a.b;
    for (q = 0; q < levels; q++)
        for (k = 0; k < 4; k++) v[k] = up ? v[k] * (6 / (6 - 1.0)) + 0.3 : (v[k] - 0.3) * ((6 - 1.0) / 6);
    a.l = fnet__hog_round(v[0]); a.t = fnet__hog_round(v[1]);
    a.r = fnet__hog_round(v[2]); a.b = fnet__hog_round(v[3]);
    return a;
}
static fnet__rect fnet__dt_rect_up2(fnet__rect a) {
    a.l = fnet__hog_round(((double)a.l + 1.25) * 2); a.t = fnet__hog_round(((double)a.t + 0.75) * 2);
    a.r = fnet__hog_round(((double)a.r + 1.25) * 2); a.b = fnet__hog_round(((double)a.b + 0.75) * 2);
    return a;
}

/* Pixel <-> padded feature-cell coordinates for a 10x10 filter (dlib's image_to_fhog and
   fhog_to_image with filter padding 10: 4 zero cells before the first real cell). */
static long fnet__dt_i2f(long p) { return (p - 1) / 8 - 1 + 4; }
static long fnet__dt_f2i(long p) {
    long q = (p + 1 - 4) * 8 + 1;
    return q + (q >= 0 ? 4 : -4);
}
static fnet__rect fnet__dt_win_to_image(fnet__rect win, int level) {
    fnet__rect r;
    r.l = fnet__dt_f2i(win.l); r.t = fnet__dt_f2i(win.t);
    r.r = fnet__dt_f2i(win.r); r.b = fnet__dt_f2i(win.b);
    return fnet__dt_rect_scale(r, level, 1);
}
static fnet__rect fnet__dt_centered(long cx, long cy) {
    fnet__rect r;
    r.l = cx - FNET__DT_C / 2; r.t = cy - FNET__DT_R / 2;
    r.r = r.l + FNET__DT_C - 1; r.b = r.t + FNET__DT_R - 1;
    return r;
}

/* (f) dlib's get_mapped_rect_and_metadata: the level and window (padded cells) that best
   match `rect` (IoU after moving the window onto the rect's corner), and that window in
   image pixels. */
static void fnet__dt_map(fnet__rect rect, int n_levels, fnet__rect *win, int *level, fnet__rect *mapped) {
    double best = -1;
    int l;
    *level = 0;
    *win = fnet__dt_centered(0, 0);
    for (l = 0; l < n_levels; l++) {
        fnet__rect rd = fnet__dt_rect_scale(rect, l, 0), fs, w, wi, mv;
        long cx, cy;
        double score;
        fs.l = fnet__dt_i2f(rd.l); fs.t = fnet__dt_i2f(rd.t);
        fs.r = fnet__dt_i2f(rd.r); fs.b = fnet__dt_i2f(rd.b);
        cx = fs.l + fs.r + 1; cy = fs.t + fs.b + 1; /* dlib's center() */
        if (cx < 0) cx -= 1;
        if (cy < 0) cy -= 1;
        cx /= 2; cy /= 2;
        w = fnet__dt_centered(cx, cy);
        wi = fnet__dt_win_to_image(w, l);
        mv.l = rect.l; mv.t = rect.t; /* move_rect(wi, rect's corner) */
        mv.r = rect.l + (fnet__rect_empty(wi) ? 0 : wi.r - wi.l + 1) - 1;
        mv.b = rect.t + (fnet__rect_empty(wi) ? 0 : wi.b - wi.t + 1) - 1;
        score = fnet__rect_area(fnet__rect_isect(mv, rect)) / fnet__rect_area(fnet__rect_union(mv, rect));
        if (score > best) {
            best = score;
            *level = l;
            *win = w;
        }
        if (fnet__rect_area(fs) <= 1) break;
    }
    *mapped = fnet__dt_win_to_image(*win, *level);
}

typedef struct fnet__dt_cand {
    float score;
    int level, i, j;
} fnet__dt_cand;

/* One training image: its feature pyramid (section 1's fHOG), boxes, and solver state. */
typedef struct fnet__dt_level {
    fnet__hog_geom g;
    float *feat;
} fnet__dt_level;

typedef struct fnet__dt_img {
    int w, h, n_levels;
    fnet__dt_level *lv;
    void *raw;
    int n_truth, n_ignore;
    fnet__rect *truth, *ignore;
    double *true_psi;   /* psi(x_i, y_i) */
    int n_cache;
    double *cache_psi;  /* n_cache x FNET__DT_N */
    double cache_loss[FNET__DT_MAX_CACHE];
    long lru[FNET__DT_MAX_CACHE];
    double last_true_risk;
    double loss, *psi;  /* this iteration's answer */
    int called;         /* 1: the oracle ran (not the cache) */
    int need, best;     /* the cache lookup: run the oracle? its best entry */
    long max_lru;
    double best_risk, dot_true;
    fnet__dt_cand **lvc; /* the oracle's candidates per level */
    size_t *lvn;
    fnet_result err;
} fnet__dt_img;

typedef struct fnet__dt_job {
    int image, level;
    fnet_result err;
} fnet__dt_job;

typedef struct fnet__dt_ctx {
    const fnet_image *src;
    const fnet_train_box *const *boxes;
    const int *n_boxes;
    int n_src, n, up, flip, max_dets, max_cache;
    double match_eps, iou, cov;
    fnet__dt_img *im;
    fnet__hog cfg;          /* pyramid limits; the current filter for scanning */
    fnet__hog_kernels kern;
    fnet_isa isa;
    int dense;              /* scan with the plain correlation */
    const double *w;        /* the current solution */
    int skip_cache, use_only_cache;
    double saved_gap;
    fnet__dt_job *jobs;     /* this iteration's scans */
} fnet__dt_ctx;

static void fnet__dt_img_free(fnet__dt_img *im) {
    FNET_FREE(im->raw);
    FNET_FREE(im->lv);
    FNET_FREE(im->truth);
    FNET_FREE(im->true_psi);
    FNET_FREE(im->cache_psi);
    FNET_FREE(im->psi);
    if (im->lvc) {
        int l;
        for (l = 0; l < im->n_levels; l++) FNET_FREE(im->lvc[l]);
    }
    FNET_FREE(im->lvc);
    FNET_FREE(im->lvn);
    memset(im, 0, sizeof(*im));
}

static void fnet__dt_run(const fnet_detector_train_opts *o, int n, void (*fn)(void *, int), void *ctx) {
    int i;
    if (o->parallel_for) o->parallel_for(o->parallel_user, n, fn, ctx);
    else for (i = 0; i < n; i++) fn(ctx, i);
}

/* (g) + section 1 (a-d): training image t (source t mod n, mirrored when t >= n) as planes,
   upsampled, then its pyramid of feature maps. */
static fnet_result fnet__dt_prepare(fnet__dt_ctx *c, int t) {
    fnet__dt_img *im = &c->im[t];
    const fnet_image *img = &c->src[t % c->n_src];
    const int nch = img->channels == 1 ? 1 : 3, mirror = t >= c->n_src;
    int w = img->width, h = img->height, up, ch, x, y, l, k;
    size_t cap, total = 0, off;
    unsigned char *a = NULL, *b = NULL, *cur;
    float *hist = NULL, *norm = NULL, *tabs = NULL;
    fnet__himg hi;
    fnet_result r = FNET_ERR_OUT_OF_MEMORY;
    for (up = 0; up < c->up; up++) { w = 2 * w + 2; h = 2 * h + 1; }
    cap = (size_t)w * (size_t)h * (size_t)nch + 16;
    a = (unsigned char *)FNET_MALLOC(cap);
    b = (unsigned char *)FNET_MALLOC(cap);
    tabs = (float *)FNET_MALLOC(((size_t)w + 16) * 5 * sizeof(float));
    if (!a || !b || !tabs) goto done;
    /* the input as planes */
    for (ch = 0; ch < nch; ch++)
        for (y = 0; y < img->height; y++) {
            const unsigned char *s = img->pixels + (size_t)y * img->stride + ch;
            unsigned char *d = a + ((size_t)ch * img->height + y) * img->width;
            for (x = 0; x < img->width; x++) d[x] = s[(size_t)x * img->channels];
        }
    hi.w = img->width; hi.h = img->height; hi.stride = img->width; hi.nch = nch;
    cur = a;
    for (up = 0; up < c->up; up++) { /* pyramid_up: (2w+2) x (2h+1) */
        unsigned char *dst = cur == a ? b : a;
        int dw = 2 * hi.w + 2, dh = 2 * hi.h + 1;
        for (ch = 0; ch < nch; ch++) hi.pl[ch] = cur + (size_t)ch * hi.w * hi.h;
        fnet__hog_resize(&hi, dst, dw, dh, (int *)(void *)(tabs + 3 * (w + 16)), tabs,
                         (unsigned char *)(void *)(tabs + (w + 16)), c->isa == FNET_ISA_AVX2);
        hi.w = dw; hi.h = dh; hi.stride = dw;
        cur = dst;
    }
    if (mirror)
        for (ch = 0; ch < nch; ch++)
            for (y = 0; y < h; y++) {
                unsigned char *p = cur + ((size_t)ch * h + y) * w;
                for (x = 0; x < w / 2; x++) {
                    unsigned char s = p[x];
                    p[x] = p[w - 1 - x];
                    p[w - 1 - x] = s;
                }
            }
    im->w = w; im->h = h;
    /* the levels: sizes first, then one block for all feature maps */
    im->n_levels = fnet__hog_num_levels(&c->cfg, w, h);
    im->lv = (fnet__dt_level *)FNET_MALLOC((size_t)im->n_levels * sizeof(fnet__dt_level));
    if (!im->lv) goto done;
    {
        int lw = w, lh = h;
        for (l = 0; l < im->n_levels; l++) {
            if (lw < 1 || lh < 1) { im->n_levels = l; break; }
            fnet__hog_geometry(lw, lh, &im->lv[l].g);
            total += ((im->lv[l].g.fplane * 31 + 8 + 16) * sizeof(float) + 63) & ~(size_t)63;
            lw = (5 * lw) / 6; lh = (5 * lh) / 6;
        }
    }
    im->raw = FNET_MALLOC(total + 64);
    hist = (float *)FNET_MALLOC((size_t)(im->lv[0].g.cr + 2) * (size_t)(im->lv[0].g.cc + 2) * 18 * sizeof(float) + 64);
    norm = (float *)FNET_MALLOC(((size_t)im->lv[0].g.cr * (size_t)im->lv[0].g.cc + 1) * sizeof(float));
    if (!im->raw || !hist || !norm) goto done;
    off = (64 - (size_t)((unsigned long long)(size_t)im->raw & 63u)) & 63u;
    for (ch = 0; ch < nch; ch++) hi.pl[ch] = cur + (size_t)ch * w * h;
    hi.w = w; hi.h = h; hi.stride = w;
    for (l = 0; l < im->n_levels; l++) {
        fnet__hog_geom *g = &im->lv[l].g;
        if (l > 0) { /* next level: 5/6 of this one, into the other buffer */
            unsigned char *dst = cur == a ? b : a;
            int dw = (5 * hi.w) / 6, dh = (5 * hi.h) / 6;
            fnet__hog_resize(&hi, dst, dw, dh, (int *)(void *)(tabs + 3 * (w + 16)), tabs,
                             (unsigned char *)(void *)(tabs + (w + 16)), c->isa == FNET_ISA_AVX2);
            for (ch = 0; ch < nch; ch++) hi.pl[ch] = dst + (size_t)ch * dw * dh;
            hi.w = dw; hi.h = dh; hi.stride = dw;
            cur = dst;
        }
        im->lv[l].feat = (float *)(void *)((unsigned char *)im->raw + off);
        off += ((g->fplane * 31 + 8 + 16) * sizeof(float) + 63) & ~(size_t)63;
        if (g->hr < 1 || g->hc < 1) {
            memset(im->lv[l].feat, 0, (g->fplane * 31 + 8) * sizeof(float));
            continue;
        }
        fnet__hog_col_tables(g, (int *)(void *)(tabs + 4 * (w + 16)), tabs + (w + 16), tabs + 2 * (w + 16));
        fnet__hog_extract(&c->kern, &hi, g, hist, norm, im->lv[l].feat);
        g->cx = NULL; g->vx0 = g->vx1 = NULL;
    }
    /* boxes: upsampled like the image, then mirrored */
    {
        const fnet_train_box *bx = c->boxes[t % c->n_src];
        const int nb = c->n_boxes[t % c->n_src];
        im->truth = (fnet__rect *)FNET_MALLOC((size_t)(nb + 1) * sizeof(fnet__rect));
        if (!im->truth) goto done;
        im->n_truth = 0;
        for (k = 0; k < nb; k++) if (!bx[k].ignore) im->n_truth++;
        im->ignore = im->truth + im->n_truth;
        im->n_truth = im->n_ignore = 0;
        for (k = 0; k < nb; k++) {
            fnet__rect q;
            q.l = bx[k].left; q.t = bx[k].top; q.r = bx[k].right; q.b = bx[k].bottom;
            for (up = 0; up < c->up; up++) q = fnet__dt_rect_up2(q);
            if (mirror) {
                long nl = (long)w - 1 - q.r, nr = (long)w - 1 - q.l;
                q.l = nl; q.r = nr;
            }
            if (bx[k].ignore) im->ignore[im->n_ignore++] = q;
            else im->truth[im->n_truth++] = q;
        }
    }
    im->true_psi = (double *)FNET_MALLOC(FNET__DT_N * sizeof(double));
    im->psi = (double *)FNET_MALLOC(FNET__DT_N * sizeof(double));
    im->cache_psi = c->max_cache > 0 ? (double *)FNET_MALLOC((size_t)c->max_cache * FNET__DT_N * sizeof(double)) : NULL;
    im->lvc = (fnet__dt_cand **)FNET_MALLOC((size_t)im->n_levels * sizeof(fnet__dt_cand *));
    im->lvn = (size_t *)FNET_MALLOC((size_t)im->n_levels * sizeof(size_t));
    if (!im->true_psi || !im->psi || (c->max_cache > 0 && !im->cache_psi) || !im->lvc || !im->lvn) goto done;
    for (l = 0; l < im->n_levels; l++) { im->lvc[l] = NULL; im->lvn[l] = 0; }
    im->last_true_risk = HUGE_VAL;
    r = FNET_OK;
done:
    FNET_FREE(a);
    FNET_FREE(b);
    FNET_FREE(tabs);
    FNET_FREE(hist);
    FNET_FREE(norm);
    return r;
}

static void fnet__dt_prepare_task(void *ctx, int t) {
    fnet__dt_ctx *c = (fnet__dt_ctx *)ctx;
    c->im[t].err = fnet__dt_prepare(c, t);
}

/* psi += phi(the window best matching rect): dlib's get_feature_vector. */
static void fnet__dt_add_phi(const fnet__dt_img *im, fnet__rect rect, double *psi) {
    fnet__rect win, mapped;
    int level, p, rr, cc;
    const fnet__dt_level *L;
    fnet__dt_map(rect, im->n_levels, &win, &level, &mapped);
    L = &im->lv[level];
    for (p = 0; p < 31; p++) {
        const float *plane = L->feat + (size_t)p * L->g.fplane;
        for (rr = 0; rr < FNET__DT_R; rr++) {
            const long row = win.t + rr;
            if (row < 0 || row >= L->g.hr + 9) continue;
            for (cc = 0; cc < FNET__DT_C; cc++) {
                const long col = win.l + cc;
                if (col < 0 || col >= L->g.hc + 9) continue;
                psi[(p * FNET__DT_R + rr) * FNET__DT_C + cc] += (double)plane[row * L->g.fs + col];
            }
        }
    }
}

/* Scores of every window of a level: the plain 10x10 correlation, plane by plane, in dlib's
   float arithmetic (spatially_filter_image: per window and plane, the 10 columns of each
   filter row summed as three interleaved sums (columns 0,3,6,9 / 1,4,7 / 2,5,8) over the
   rows, s0 + (s1 + s2); the last hc mod 8 windows of a row as one sum in order; planes added
   one after another). Same order, same roundings: the scores are dlib's, bit for bit, so
   near-ties among candidates break as in dlib. */
static void fnet__dt_dense_plane_scalar(const float *f, const fnet__hog_geom *g, const float *plane, float *scores,
                                        int first, int j0) {
    int i, j, m, n;
    for (i = 0; i < g->hr; i++) {
        float *o = scores + (size_t)i * g->ss;
        for (j = j0; j < g->hc; j++) {
            float t = 0;
            if (j < g->hc / 8 * 8) {
                float t2 = 0, t3 = 0;
                for (m = 0; m < FNET__DT_R; m++) {
                    const float *x = plane + (size_t)(i + m) * g->fs + j;
                    const float *fm = f + m * FNET__DT_C;
                    t += x[0] * fm[0]; t2 += x[1] * fm[1]; t3 += x[2] * fm[2];
                    t += x[3] * fm[3]; t2 += x[4] * fm[4]; t3 += x[5] * fm[5];
                    t += x[6] * fm[6]; t2 += x[7] * fm[7]; t3 += x[8] * fm[8];
                    t += x[9] * fm[9];
                }
                t += t2 + t3;
            } else {
                for (m = 0; m < FNET__DT_R; m++)
                    for (n = 0; n < FNET__DT_C; n++) t += plane[(size_t)(i + m) * g->fs + j + n] * f[m * FNET__DT_C + n];
            }
            o[j] = first ? t : o[j] + t;
        }
    }
}

#if defined(FNET__X86)
/* 8 windows per vector lane group, lane for lane the scalar twin's operations (multiply, then
   add: never fused); 4 groups at a time so the chains of additions overlap. */
static FNET__AVX2_FN void fnet__dt_dense_plane_avx2(const float *f, const fnet__hog_geom *g, const float *plane,
                                                    float *scores, int first) {
    const int jb = g->hc / 8 * 8;
    int i, j, m, q, n;
#define FNET__DT_TAPS(NQ)                                                                          \
    do {                                                                                           \
        __m256 t[NQ], t2[NQ], t3[NQ];                                                              \
        for (q = 0; q < NQ; q++) t[q] = t2[q] = t3[q] = _mm256_setzero_ps();                       \
        for (m = 0; m < FNET__DT_R; m++) {                                                         \
            const float *xr = plane + (size_t)(i + m) * g->fs + j, *fm = f + m * FNET__DT_C;       \
            for (n = 0; n < 9; n += 3) {                                                           \
                const __m256 w0 = _mm256_broadcast_ss(fm + n), w1 = _mm256_broadcast_ss(fm + n + 1); \
                const __m256 w2 = _mm256_broadcast_ss(fm + n + 2);                                 \
                for (q = 0; q < NQ; q++) {                                                         \
                    t[q] = _mm256_add_ps(t[q], _mm256_mul_ps(_mm256_loadu_ps(xr + 8 * q + n), w0));  \
                    t2[q] = _mm256_add_ps(t2[q], _mm256_mul_ps(_mm256_loadu_ps(xr + 8 * q + n + 1), w1)); \
                    t3[q] = _mm256_add_ps(t3[q], _mm256_mul_ps(_mm256_loadu_ps(xr + 8 * q + n + 2), w2)); \
                }                                                                                  \
            }                                                                                      \
            {                                                                                      \
                const __m256 w9 = _mm256_broadcast_ss(fm + 9);                                     \
                for (q = 0; q < NQ; q++)                                                           \
                    t[q] = _mm256_add_ps(t[q], _mm256_mul_ps(_mm256_loadu_ps(xr + 8 * q + 9), w9));  \
            }                                                                                      \
        }                                                                                          \
        for (q = 0; q < NQ; q++) {                                                                 \
            __m256 v = _mm256_add_ps(t[q], _mm256_add_ps(t2[q], t3[q]));                           \
            if (!first) v = _mm256_add_ps(v, _mm256_loadu_ps(o + j + 8 * q));                      \
            _mm256_storeu_ps(o + j + 8 * q, v);                                                    \
        }                                                                                          \
        j += 8 * NQ;                                                                               \
    } while (0)
    i = 0;
    for (; i + 1 < g->hr; i += 2) { /* two window rows share their input rows: half the loads */
        float *o0 = scores + (size_t)i * g->ss, *o1 = o0 + g->ss;
        for (j = 0; j + 16 <= jb; j += 16) {
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
            __m256 b00 = a00, b01 = a00, b02 = a00, b10 = a00, b11 = a00, b12 = a00; /* row i+1 */
            int r;
            for (r = 0; r <= FNET__DT_R; r++) { /* input row i + r: tap row r of row i, r - 1 of row i + 1 */
                const float *xr = plane + (size_t)(i + r) * g->fs + j;
                const float *fa = f + r * FNET__DT_C, *fb = fa - FNET__DT_C;
                const int ua = r < FNET__DT_R, ub = r > 0;
#define FNET__DT_TAP2(n, A0, A1, B0, B1)                                                    \
    {                                                                                     \
        const __m256 x0 = _mm256_loadu_ps(xr + n), x1 = _mm256_loadu_ps(xr + 8 + n);      \
        if (ua) {                                                                         \
            const __m256 w = _mm256_broadcast_ss(fa + n);                                 \
            A0 = _mm256_add_ps(A0, _mm256_mul_ps(x0, w));                                 \
            A1 = _mm256_add_ps(A1, _mm256_mul_ps(x1, w));                                 \
        }                                                                                 \
        if (ub) {                                                                         \
            const __m256 w = _mm256_broadcast_ss(fb + n);                                 \
            B0 = _mm256_add_ps(B0, _mm256_mul_ps(x0, w));                                 \
            B1 = _mm256_add_ps(B1, _mm256_mul_ps(x1, w));                                 \
        }                                                                                 \
    }
                FNET__DT_TAP2(0, a00, a10, b00, b10) FNET__DT_TAP2(1, a01, a11, b01, b11) FNET__DT_TAP2(2, a02, a12, b02, b12)
                FNET__DT_TAP2(3, a00, a10, b00, b10) FNET__DT_TAP2(4, a01, a11, b01, b11) FNET__DT_TAP2(5, a02, a12, b02, b12)
                FNET__DT_TAP2(6, a00, a10, b00, b10) FNET__DT_TAP2(7, a01, a11, b01, b11) FNET__DT_TAP2(8, a02, a12, b02, b12)
                FNET__DT_TAP2(9, a00, a10, b00, b10)
#undef FNET__DT_TAP2
            }
            {
                __m256 v[4];
                int k;
                v[0] = _mm256_add_ps(a00, _mm256_add_ps(a01, a02));
                v[1] = _mm256_add_ps(a10, _mm256_add_ps(a11, a12));
                v[2] = _mm256_add_ps(b00, _mm256_add_ps(b01, b02));
                v[3] = _mm256_add_ps(b10, _mm256_add_ps(b11, b12));
                for (k = 0; k < 4; k++) {
                    float *o = (k < 2 ? o0 : o1) + j + 8 * (k & 1);
                    if (!first) v[k] = _mm256_add_ps(v[k], _mm256_loadu_ps(o));
                    _mm256_storeu_ps(o, v[k]);
                }
            }
        }
        {
            const int j0 = j;
            float *o = o0;
            while (j < jb) FNET__DT_TAPS(1);
            o = o1;
            i++;
            for (j = j0; j < jb;) FNET__DT_TAPS(1);
            i--;
        }
    }
    for (; i < g->hr; i++) {
        float *o = scores + (size_t)i * g->ss;
        j = 0;
        while (jb - j >= 24) FNET__DT_TAPS(3);
        while (j < jb) FNET__DT_TAPS(1);
    }
#undef FNET__DT_TAPS
    if (jb < g->hc) { /* the last hc mod 8 windows of each row: one sum in order, rows 4 at a time */
        for (i = 0; i < g->hr; i += 4) {
            const int nr = g->hr - i < 4 ? g->hr - i : 4;
            __m256 t[4];
            float out[8];
            for (q = 0; q < nr; q++) t[q] = _mm256_setzero_ps();
            for (m = 0; m < FNET__DT_R; m++)
                for (n = 0; n < FNET__DT_C; n++) {
                    const __m256 w = _mm256_set1_ps(f[m * FNET__DT_C + n]);
                    for (q = 0; q < nr; q++)
                        t[q] = _mm256_add_ps(t[q], _mm256_mul_ps(_mm256_loadu_ps(plane + (size_t)(i + q + m) * g->fs + jb + n), w));
                }
            for (q = 0; q < nr; q++) {
                float *o = scores + (size_t)(i + q) * g->ss;
                _mm256_storeu_ps(out, t[q]);
                for (j = jb; j < g->hc; j++) o[j] = first ? out[j - jb] : o[j] + out[j - jb];
            }
        }
    }
}
#endif

static void fnet__dt_scan_dense(const float *wf, const fnet__hog_geom *g, const float *feat, float *scores, int avx2) {
    float f[FNET__DT_R * FNET__DT_C];
    int p, k;
    (void)avx2;
    for (p = 0; p < 31; p++) {
        for (k = 0; k < FNET__DT_R * FNET__DT_C; k++) f[k] = wf[k * FNET__HOG_NF + p];
#if defined(FNET__X86)
        if (avx2) {
            fnet__dt_dense_plane_avx2(f, g, feat + (size_t)p * g->fplane, scores, p == 0);
            continue;
        }
#endif
        fnet__dt_dense_plane_scalar(f, g, feat + (size_t)p * g->fplane, scores, p == 0, 0);
    }
}


/* Candidates in dlib's order. dlib sorts them by score with std::sort, which leaves equal
   scores (whole windows of zero features score exactly 0) in an order of its own, and which
   of those boxes the oracle keeps changes the cutting plane. To take the same path as dlib
   (Debian's, built with GCC), the sort below is GCC's: Musser's introsort on the reversed
   list, pivot the median of the 2nd, middle and last element, Hoare partition, recursion on
   the right part; heapsort past depth 2 log2 n; then insertion sort over runs of 16. */
static void fnet__dt_sift(fnet__dt_cand *a, long hole, long len, fnet__dt_cand v) {
    const long top = hole;
    long child = hole, parent;
    while (child < (len - 1) / 2) {
        child = 2 * (child + 1);
        if (a[child].score < a[child - 1].score) child--;
        a[hole] = a[child];
        hole = child;
    }
    if ((len & 1) == 0 && child == (len - 2) / 2) {
        child = 2 * (child + 1);
        a[hole] = a[child - 1];
        hole = child - 1;
    }
    parent = (hole - 1) / 2;
    while (hole > top && a[parent].score < v.score) {
        a[hole] = a[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    a[hole] = v;
}

static void fnet__dt_swap(fnet__dt_cand *a, long i, long j) {
    fnet__dt_cand t = a[i];
    a[i] = a[j];
    a[j] = t;
}

static void fnet__dt_introsort(fnet__dt_cand *a, long first, long last, int depth) {
    while (last - first > 16) {
        long lo, hi, mid = first + (last - first) / 2, m1 = first + 1, m3 = last - 1, med;
        if (depth == 0) { /* heapsort of [first, last) */
            fnet__dt_cand *h = a + first;
            long len = last - first, p;
            for (p = (len - 2) / 2;; p--) {
                fnet__dt_sift(h, p, len, h[p]);
                if (p == 0) break;
            }
            while (len > 1) {
                fnet__dt_cand v;
                len--;
                v = h[len];
                h[len] = h[0];
                fnet__dt_sift(h, 0, len, v);
            }
            return;
        }
        depth--;
        if (a[m1].score < a[mid].score)
            med = a[mid].score < a[m3].score ? mid : a[m1].score < a[m3].score ? m3 : m1;
        else
            med = a[m1].score < a[m3].score ? m1 : a[mid].score < a[m3].score ? m3 : mid;
        fnet__dt_swap(a, first, med);
        lo = first + 1;
        hi = last;
        for (;;) {
            while (a[lo].score < a[first].score) lo++;
            hi--;
            while (a[first].score < a[hi].score) hi--;
            if (!(lo < hi)) break;
            fnet__dt_swap(a, lo, hi);
            lo++;
        }
        fnet__dt_introsort(a, lo, last, depth);
        last = lo;
    }
}

static void fnet__dt_sort(fnet__dt_cand *a, long n) {
    long i, k;
    int lg = 0;
    for (i = 0; i < n / 2; i++) fnet__dt_swap(a, i, n - 1 - i); /* the reversed view, ascending */
    if (n > 1) {
        for (k = n; k > 1; k >>= 1) lg++;
        fnet__dt_introsort(a, 0, n, 2 * lg);
        for (i = 1; i < n; i++) {
            fnet__dt_cand v = a[i];
            if (i < 16 && v.score < a[0].score) {
                memmove(a + 1, a, (size_t)i * sizeof(fnet__dt_cand));
                a[0] = v;
            } else {
                for (k = i; k > 0 && v.score < a[k - 1].score; k--) a[k] = a[k - 1];
                a[k] = v;
            }
        }
    }
    for (i = 0; i < n / 2; i++) fnet__dt_swap(a, i, n - 1 - i); /* back: best first */
}

static fnet__rect fnet__dt_cand_rect(const fnet__dt_cand *d) {
    fnet__rect win;
    win.l = d->j; win.t = d->i; win.r = d->j + FNET__DT_C - 1; win.b = d->i + FNET__DT_R - 1;
    return fnet__dt_win_to_image(win, d->level);
}

/* dlib's find_best_match: the truth box with the highest IoU (0 when none overlaps). */
static double fnet__dt_best_match(const fnet__dt_img *im, fnet__rect r, int *idx) {
    double best = 0;
    int k;
    *idx = 0;
    for (k = 0; k < im->n_truth; k++) {
        const double inner = fnet__rect_area(fnet__rect_isect(r, im->truth[k]));
        if (inner != 0) {
            const double m = inner / fnet__rect_area(fnet__rect_union(r, im->truth[k]));
            if (m > best) { best = m; *idx = k; }
        }
    }
    return best;
}

/* (c, the scan) The windows of level l of image im scoring >= thresh - 1 (a false alarm adds
   1 of loss), in scan order: one task per (image, level), so that one image's pyramid spreads
   over the threads. */
static fnet_result fnet__dt_scan_level(const fnet__dt_ctx *c, const fnet__dt_img *im, int l, double thresh,
                                       fnet__dt_cand **out, size_t *n_out) {
    const fnet__hog_geom *g = &im->lv[l].g;
    size_t n_cand = 0, cap_cand = 0;
    fnet__dt_cand *cand = NULL;
    float *scores;
    int i, j;
    *out = NULL;
    *n_out = 0;
    if (g->hr < 1 || g->hc < 1 || (!c->dense && c->cfg.n_sep == 0)) return FNET_OK; /* dlib: no pieces, no detections */
    scores = (float *)FNET_MALLOC(((size_t)g->hr * g->ss + g->fplane + 16) * sizeof(float) + 64);
    if (!scores) return FNET_ERR_OUT_OF_MEMORY;
    if (c->dense) fnet__dt_scan_dense(c->cfg.w, g, im->lv[l].feat, scores, c->isa == FNET_ISA_AVX2);
    else c->kern.scan(&c->cfg, g, im->lv[l].feat, scores, scores + (size_t)g->hr * g->ss);
    for (i = 0; i < g->hr; i++)
        for (j = 0; j < g->hc; j++) {
            const float sc = scores[(size_t)i * g->ss + j];
            if ((double)sc >= thresh - 1) {
                if (n_cand == cap_cand) {
                    size_t nc = cap_cand ? 2 * cap_cand : 1024;
                    fnet__dt_cand *q = (fnet__dt_cand *)FNET_REALLOC(cand, nc * sizeof(fnet__dt_cand));
                    if (!q) {
                        FNET_FREE(cand);
                        FNET_FREE(scores);
                        return FNET_ERR_OUT_OF_MEMORY;
                    }
                    cand = q;
                    cap_cand = nc;
                }
                cand[n_cand].score = sc;
                cand[n_cand].level = l; cand[n_cand].i = i; cand[n_cand].j = j;
                n_cand++;
            }
        }
    FNET_FREE(scores);
    *out = cand;
    *n_out = n_cand;
    return FNET_OK;
}

/* (c) The separation oracle of image im at w, from its candidates (all levels, scan order;
   sorted here): loss-augmented detection -> loss, psi. */
static fnet_result fnet__dt_oracle(const fnet__dt_ctx *c, const fnet__dt_img *im, const double *w,
                                   fnet__dt_cand *cand, size_t n_cand, double *loss_out, double *psi) {
    const double thresh = w[FNET__DT_D];
    size_t k;
    fnet__rect *fin = NULL;
    double *tsh = NULL, loss;
    unsigned char *hit = NULL;
    int l, n_fin = 0, pass;
    fnet_result r = FNET_ERR_OUT_OF_MEMORY;
    fin = (fnet__rect *)FNET_MALLOC((size_t)c->max_dets * sizeof(fnet__rect));
    tsh = (double *)FNET_MALLOC(((size_t)im->n_truth + 1) * sizeof(double));
    hit = (unsigned char *)FNET_MALLOC((size_t)im->n_truth + 1);
    if (!fin || !tsh || !hit) goto done;
    fnet__dt_sort(cand, (long)n_cand);
    /* pass 0: the summed scores each truth box collects (its first hit counts its score,
       more hits their score + 1); pass 1: keep a hit only while that sum beats the loss of
       missing the box; keep every other box (a false alarm) unless it lies on an ignore box */
    loss = (double)im->n_truth;
    for (k = 0; k < (size_t)im->n_truth; k++) { tsh[k] = 0; hit[k] = 0; }
    for (pass = 0; pass < 2; pass++) {
        n_fin = 0;
        for (k = 0; k < n_cand && n_fin < c->max_dets; k++) {
            const fnet__rect rc = fnet__dt_cand_rect(&cand[k]);
            int q, drop = 0, ti;
            double match;
            for (q = 0; q < n_fin && !drop; q++) drop = fnet__rect_overlap(c->iou, c->cov, fin[q], rc);
            if (drop) continue;
            match = fnet__dt_best_match(im, rc, &ti);
            if (pass == 0) {
                fin[n_fin++] = rc;
                if (match > c->match_eps) {
                    const double score = (double)cand[k].score - thresh;
                    if (!hit[ti]) { hit[ti] = 1; tsh[ti] += score; }
                    else tsh[ti] += score + 1;
                }
            } else if (match > c->match_eps) {
                if (tsh[ti] > 1) {
                    fin[n_fin++] = rc;
                    if (!hit[ti]) { hit[ti] = 1; loss -= 1; }
                    else loss += 1;
                }
            } else {
                int ig = 0;
                for (q = 0; q < im->n_ignore && !ig; q++) ig = fnet__rect_overlap(0.5, 1.0, im->ignore[q], rc);
                if (!ig) { fin[n_fin++] = rc; loss += 1; }
            }
        }
        if (pass == 0) for (k = 0; k < (size_t)im->n_truth; k++) hit[k] = 0;
    }
    memset(psi, 0, FNET__DT_N * sizeof(double));
    for (l = 0; l < n_fin; l++) fnet__dt_add_phi(im, fin[l], psi);
    psi[FNET__DT_D] = -(double)n_fin;
    *loss_out = loss;
    r = FNET_OK;
done:
    FNET_FREE(fin);
    FNET_FREE(tsh);
    FNET_FREE(hit);
    return r;
}

static double fnet__dt_dot(const double *a, const double *b) {
    double s = 0;
    int i;
    for (i = 0; i < FNET__DT_N; i++) s += a[i] * b[i];
    return s;
}

/* (e) dlib's cache_element_structural_svm::separation_oracle_cached, for image t, in two
   halves around the oracle: does the cache answer (im->need = 0), and afterwards what the
   oracle's answer does to the cache. */
static void fnet__dt_lookup_task(void *ctx, int t) {
    fnet__dt_ctx *c = (fnet__dt_ctx *)ctx;
    fnet__dt_img *im = &c->im[t];
    const double *w = c->w;
    int i;
    im->dot_true = c->max_cache > 0 ? fnet__dt_dot(im->true_psi, w) : 0;
    im->best_risk = -HUGE_VAL;
    im->best = 0;
    im->max_lru = 0;
    im->err = FNET_OK;
    im->called = 0;
    im->need = 1;
    if (c->max_cache <= 0) return;
    for (i = 0; i < im->n_cache; i++) {
        const double risk = im->cache_loss[i] + fnet__dt_dot(im->cache_psi + (size_t)i * FNET__DT_N, w) - im->dot_true;
        if (risk > im->best_risk) { im->best_risk = risk; im->best = i; }
        if (im->lru[i] > im->max_lru) im->max_lru = im->lru[i];
    }
    if (!c->skip_cache && im->n_cache > 0 &&
        ((im->best_risk + c->saved_gap > im->last_true_risk && im->best_risk >= 0) || c->use_only_cache)) {
        memcpy(im->psi, im->cache_psi + (size_t)im->best * FNET__DT_N, FNET__DT_N * sizeof(double));
        im->loss = im->cache_loss[im->best];
        im->lru[im->best] = im->max_lru + 1;
        im->need = 0;
    }
}

static void fnet__dt_scan_task(void *ctx, int k) {
    fnet__dt_ctx *c = (fnet__dt_ctx *)ctx;
    fnet__dt_img *im = &c->im[c->jobs[k].image];
    const int l = c->jobs[k].level;
    c->jobs[k].err = fnet__dt_scan_level(c, im, l, c->w[FNET__DT_D], &im->lvc[l], &im->lvn[l]);
}

static void fnet__dt_finish_task(void *ctx, int t) {
    fnet__dt_ctx *c = (fnet__dt_ctx *)ctx;
    fnet__dt_img *im = &c->im[t];
    const double *w = c->w;
    const double best_risk = im->best_risk;
    const int best = im->best;
    size_t n = 0, at = 0;
    fnet__dt_cand *all;
    int i, l;
    if (!im->need) return;
    for (l = 0; l < im->n_levels; l++) n += im->lvn[l];
    all = (fnet__dt_cand *)FNET_MALLOC((n + 1) * sizeof(fnet__dt_cand));
    if (all)
        for (l = 0; l < im->n_levels; l++) { /* level by level: dlib's scan order */
            if (im->lvn[l]) memcpy(all + at, im->lvc[l], im->lvn[l] * sizeof(fnet__dt_cand));
            at += im->lvn[l];
        }
    for (l = 0; l < im->n_levels; l++) {
        FNET_FREE(im->lvc[l]);
        im->lvc[l] = NULL;
        im->lvn[l] = 0;
    }
    im->err = all ? fnet__dt_oracle(c, im, w, all, n, &im->loss, im->psi) : FNET_ERR_OUT_OF_MEMORY;
    FNET_FREE(all);
    im->called = 1;
    if (im->err != FNET_OK || c->max_cache <= 0) return;
    im->last_true_risk = im->loss + fnet__dt_dot(im->psi, w) - im->dot_true;
    if (im->last_true_risk < 0 && best_risk < 0) {
        memcpy(im->psi, im->true_psi, FNET__DT_N * sizeof(double));
        im->loss = 0;
    } else if (im->last_true_risk < best_risk) {
        memcpy(im->psi, im->cache_psi + (size_t)best * FNET__DT_N, FNET__DT_N * sizeof(double));
        im->loss = im->cache_loss[best];
        im->lru[best] = im->max_lru + 1;
    } else {
        long mx = 0;
        int slot = im->n_cache;
        for (i = 0; i < im->n_cache; i++) if (im->lru[i] > mx) mx = im->lru[i];
        if (im->n_cache >= c->max_cache) { /* replace the least recently used */
            slot = 0;
            for (i = 1; i < im->n_cache; i++) if (im->lru[i] < im->lru[slot]) slot = i;
        } else {
            im->n_cache++;
        }
        im->cache_loss[slot] = im->loss;
        memcpy(im->cache_psi + (size_t)slot * FNET__DT_N, im->psi, FNET__DT_N * sizeof(double));
        im->lru[slot] = mx + 1;
    }
}

/* (d) dlib's solve_qp_using_smo: min 0.5 a'Qa - a'b, a >= 0, sum a fixed (= its sum now). */
static void fnet__dt_smo(const double *Q, int n, const double *b, double *alpha, double *df, double eps,
                         long max_iter) {
    const double tau = 1000 * DBL_EPSILON;
    double C = 0;
    long iter;
    int i, k;
    for (i = 0; i < n; i++) C += alpha[i];
    for (i = 0; i < n; i++) {
        double s = 0;
        for (k = 0; k < n; k++) s += Q[i * n + k] * alpha[k];
        df[i] = s - b[i];
    }
    for (iter = 0; iter < max_iter; iter++) {
        double big = -DBL_MAX, little = DBL_MAX, gap = 0, oab, oal, quad, delta;
        int bi = 0, li = 0;
        for (i = 0; i < n; i++) {
            if (df[i] > big && alpha[i] > 0) { big = df[i]; bi = i; }
            if (df[i] < little) { little = df[i]; li = i; }
        }
        for (i = 0; i < n; i++) gap += alpha[i] * df[i];
        if (gap - C * little < eps) break;
        oab = alpha[bi];
        oal = alpha[li];
        quad = Q[bi * n + bi] + Q[li * n + li] - 2 * Q[bi * n + li];
        if (quad <= tau) quad = tau;
        delta = (big - little) / quad;
        alpha[bi] -= delta;
        alpha[li] += delta;
        if (alpha[bi] < 0) {
            alpha[bi] = 0;
            alpha[li] = oab + oal;
        }
        if (iter % 300 == 299) {
            for (i = 0; i < n; i++) {
                double s = 0;
                for (k = 0; k < n; k++) s += Q[i * n + k] * alpha[k];
                df[i] = s - b[i];
            }
        } else {
            const double db = alpha[bi] - oab, dl = alpha[li] - oal;
            for (k = 0; k < n; k++) df[k] += Q[bi * n + k] * db + Q[li * n + k] * dl;
        }
    }
}

/* A double as a C99 hexadecimal float ("0x1.8p+3"): exact, read back by strtod, no stdio. */
static void fnet__dt_hexdouble(double v, char *out) {
    static const char hx[] = "0123456789abcdef";
    char *p = out;
    int e, k;
    double m;
    if (v < 0) { *p++ = '-'; v = -v; }
    if (v == 0) { memcpy(p, "0x0p+0", 7); return; }
    m = frexp(v, &e) * 2 - 1; /* v = (1 + m) 2^(e-1) */
    e -= 1;
    memcpy(p, "0x1.", 4); p += 4;
    for (k = 0; k < 13; k++) {
        int d;
        m *= 16;
        d = (int)m;
        m -= d;
        *p++ = hx[d];
    }
    *p++ = 'p';
    *p++ = e < 0 ? '-' : '+';
    if (e < 0) e = -e;
    {
        char rev[8];
        int n = 0;
        do { rev[n++] = (char)('0' + e % 10); e /= 10; } while (e);
        while (n) *p++ = rev[--n];
    }
    *p = 0;
}

static void fnet__dt_itoa(long v, char *out) {
    char rev[24];
    int n = 0;
    if (v < 0) { *out++ = '-'; v = -v; }
    do { rev[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *out++ = rev[--n];
    *out = 0;
}

/* A detector blob as tools/convert/dlib_detector.py writes one (filter<i>: rows x cols x 31, dlib's
   weights re-ordered cell-major; thresholds; the exact doubles as metadata), loaded. */
static fnet_result fnet__dt_make_model(int nf, const float *const *filters, const double *thresh, double iou,
                                       double cov, const char *source, fnet_model **out) {
    const char *keys[40], *vals[40];
    char num[FNET__HOG_MAX_FILTERS + 4][40], names[FNET__HOG_MAX_FILTERS][16], tkeys[FNET__HOG_MAX_FILTERS][16];
    fnet__blob_tensor t[FNET__HOG_MAX_FILTERS + 1];
    float th[FNET__HOG_MAX_FILTERS];
    int nm = 0, i;
    size_t size = 0;
    void *raw = NULL;
    unsigned char *buf;
    fnet_result r;
    fnet_model *m = NULL;
    if (nf < 1 || nf > FNET__HOG_MAX_FILTERS) return FNET_ERR_INVALID_ARGUMENT;
    keys[nm] = "source"; vals[nm++] = source;
    keys[nm] = "license"; vals[nm++] = "as the training images and boxes (trained by facenet.h)";
    keys[nm] = "cell_size"; vals[nm++] = "8";
    keys[nm] = "padding"; vals[nm++] = "0";
    keys[nm] = "window_width"; vals[nm++] = "80";
    keys[nm] = "window_height"; vals[nm++] = "80";
    keys[nm] = "filter_rows"; vals[nm++] = "10";
    keys[nm] = "filter_cols"; vals[nm++] = "10";
    keys[nm] = "pyramid_down"; vals[nm++] = "6";
    keys[nm] = "max_pyramid_levels"; vals[nm++] = "1000";
    keys[nm] = "min_pyramid_layer_width"; vals[nm++] = "64";
    keys[nm] = "min_pyramid_layer_height"; vals[nm++] = "64";
    fnet__dt_hexdouble(iou, num[0]);
    keys[nm] = "iou_thresh"; vals[nm++] = num[0];
    fnet__dt_hexdouble(cov, num[1]);
    keys[nm] = "percent_covered_thresh"; vals[nm++] = num[1];
    fnet__dt_itoa(nf, num[2]);
    keys[nm] = "num_filters"; vals[nm++] = num[2];
    for (i = 0; i < nf; i++) {
        memcpy(names[i], "filter", 6);
        fnet__dt_itoa(i, names[i] + 6);
        memcpy(tkeys[i], "threshold", 9);
        fnet__dt_itoa(i, tkeys[i] + 9);
        fnet__dt_hexdouble(thresh[i], num[4 + i]);
        keys[nm] = tkeys[i]; vals[nm++] = num[4 + i];
        th[i] = (float)thresh[i];
        t[i].name = names[i];
        t[i].dtype = FNET__F32;
        t[i].ndim = 3;
        t[i].shape[0] = FNET__DT_R; t[i].shape[1] = FNET__DT_C; t[i].shape[2] = 31; t[i].shape[3] = 1;
        t[i].scale = 1; t[i].zero = 0;
        t[i].data = filters[i];
    }
    t[nf].name = "thresholds";
    t[nf].dtype = FNET__F32;
    t[nf].ndim = 1;
    t[nf].shape[0] = nf; t[nf].shape[1] = t[nf].shape[2] = t[nf].shape[3] = 1;
    t[nf].scale = 1; t[nf].zero = 0;
    t[nf].data = th;
    r = fnet__blob_write(FNET_MODEL_DETECTOR, 0, keys, vals, nm, t, nf + 1, NULL, 0, NULL, 0, &size);
    if (r != FNET_OK) return r;
    buf = (unsigned char *)fnet__alloc_aligned(size, &raw);
    if (!buf) return FNET_ERR_OUT_OF_MEMORY;
    r = fnet__blob_write(FNET_MODEL_DETECTOR, 0, keys, vals, nm, t, nf + 1, NULL, 0, buf, size, &size);
    if (r == FNET_OK) r = fnet_model_load_memory(buf, size, &m);
    if (r != FNET_OK) { FNET_FREE(raw); return r; }
    if (!m->owned_raw && !m->mapped) m->owned_raw = raw; /* used in place: the model keeps it */
    else FNET_FREE(raw);
    *out = m;
    return FNET_OK;
}

/* The window of the options in 10x10 cells? (dlib's compute_fhog_window_size, padding 0) */
static int fnet__dt_window_ok(int ww, int wh) {
    long l = -(long)(ww / 2), t = -(long)(wh / 2), r = l + ww - 1, b = t + wh - 1;
    long cl = (l - 1) / 8 - 1, cr = (r - 1) / 8 - 1, ct = (t - 1) / 8 - 1, cb = (b - 1) / 8 - 1;
    return cr - cl + 1 == FNET__DT_C && cb - ct + 1 == FNET__DT_R;
}

/* Loads w (dlib order: plane-major) into the scanning filter: cell-major floats, its
   separable pieces, and which scan is cheaper (dlib: separable when it has at most
   31 x 10 / 3 pieces). */
static fnet_result fnet__dt_set_filter(fnet__dt_ctx *c, const double *w) {
    int p, rc;
    for (rc = 0; rc < FNET__DT_R * FNET__DT_C; rc++) {
        for (p = 0; p < 31; p++) c->cfg.w[rc * FNET__HOG_NF + p] = (float)w[p * FNET__DT_R * FNET__DT_C + rc];
        c->cfg.w[rc * FNET__HOG_NF + 31] = 0;
    }
    FNET_FREE(c->cfg.sep);
    c->cfg.sep = NULL;
    if (fnet__hog_separate(&c->cfg) != FNET_OK) return FNET_ERR_OUT_OF_MEMORY;
    c->dense = c->cfg.n_sep > 31 * FNET__DT_R / 3;
    return FNET_OK;
}

static void fnet__dt_report_box(fnet_detector_train_report *rep, int img, int box, int reason, int other,
                                double match, fnet__rect a, fnet__rect m) {
    if (!rep) return;
    rep->bad_image = img; rep->bad_box = box; rep->bad_reason = reason; rep->bad_other_box = other;
    rep->bad_match = match;
    rep->bad_rect[0] = (int)a.l; rep->bad_rect[1] = (int)a.t; rep->bad_rect[2] = (int)a.r; rep->bad_rect[3] = (int)a.b;
    rep->bad_window[0] = (int)m.l; rep->bad_window[1] = (int)m.t;
    rep->bad_window[2] = (int)m.r; rep->bad_window[3] = (int)m.b;
}

FNET_API fnet_result fnet_detector_train(const fnet_image *images, const fnet_train_box *const *boxes,
                                         const int *n_boxes, int n_images,
                                         const fnet_detector_train_opts *opts, fnet_model **out,
                                         fnet_detector_train_report *report) {
    fnet_detector_train_opts o;
    fnet__dt_ctx c;
    fnet_image *imgs = NULL;
    fnet_result r = FNET_OK;
    double C, eps, *w = NULL, *plane_new = NULL, *psi_true = NULL, **planes = NULL, *bs = NULL, *alpha = NULL;
    double *K = NULL, *Kt = NULL, *df = NULL, cp_obj = 0, cur_obj = 0, risk = 0, gap = 0;
    long *miss = NULL;
    int i, k, t, n_planes = 0, cap_planes = 0, counter = 0, max_truth = 0, total_truth = 0, total_ignore = 0;
    int count_below = 0, converged = 0, oracle_calls = 0, stopped = 0;
    long max_iter;
    if (out) *out = NULL;
    if (report) {
        memset(report, 0, sizeof(*report));
        report->bad_image = report->bad_box = report->bad_other_box = -1;
    }
    if (!images || !n_boxes || !boxes || n_images < 1 || !out) return FNET_ERR_INVALID_ARGUMENT;
    if (opts) o = *opts;
    else memset(&o, 0, sizeof(o));
    C = o.C == 0 ? 1.0 : o.C;
    eps = o.epsilon == 0 ? 0.01 : o.epsilon;
    if (!(C > 0 && C < 1e30) || !(eps > 0 && eps < 1e30) || o.upsample < 0 || o.upsample > FNET_MAX_UPSAMPLE ||
        o.max_iterations < 0 || !(o.match_eps >= 0 && o.match_eps < 1))
        return FNET_ERR_INVALID_ARGUMENT;
    if (o.window_width == 0) o.window_width = 80;
    if (o.window_height == 0) o.window_height = 80;
    if (o.window_width < 1 || o.window_height < 1 || o.window_width > 4096 || o.window_height > 4096)
        return FNET_ERR_INVALID_ARGUMENT;
    if (!fnet__dt_window_ok(o.window_width, o.window_height)) return FNET_ERR_UNSUPPORTED;
    max_iter = o.max_iterations ? o.max_iterations : 10000;
    memset(&c, 0, sizeof(c));
    c.max_cache = o.max_cache_size == 0 ? 5 : o.max_cache_size < 0 ? 0 : FNET__MIN(o.max_cache_size, FNET__DT_MAX_CACHE);
    c.match_eps = o.match_eps == 0 ? 0.5 : o.match_eps;
    c.up = o.upsample;
    c.flip = o.flip ? 1 : 0;
    c.n_src = n_images;
    c.n = n_images * (c.flip ? 2 : 1);
    c.boxes = boxes;
    c.n_boxes = n_boxes;
    /* inputs */
    imgs = (fnet_image *)FNET_MALLOC((size_t)n_images * sizeof(fnet_image));
    if (!imgs) return FNET_ERR_OUT_OF_MEMORY;
    for (i = 0; i < n_images; i++) {
        imgs[i] = images[i];
        r = fnet__check_image(&imgs[i]);
        if (r != FNET_OK) { FNET_FREE(imgs); return r; }
        if (n_boxes[i] < 0 || (n_boxes[i] > 0 && !boxes[i])) { FNET_FREE(imgs); return FNET_ERR_INVALID_ARGUMENT; }
        for (k = 0; k < n_boxes[i]; k++) {
            const fnet_train_box *b = &boxes[i][k];
            if (b->right < b->left || b->bottom < b->top || b->left < -FNET_MAX_IMAGE_SIDE ||
                b->right > 2 * FNET_MAX_IMAGE_SIDE || b->top < -FNET_MAX_IMAGE_SIDE ||
                b->bottom > 2 * FNET_MAX_IMAGE_SIDE) {
                fnet__rect q;
                q.l = b->left; q.t = b->top; q.r = b->right; q.b = b->bottom;
                fnet__dt_report_box(report, i, k, 0, -1, 0, q, q);
                FNET_FREE(imgs);
                return FNET_ERR_INVALID_ARGUMENT;
            }
        }
        {   /* the upsampled image must stay within the limits */
            long ww = imgs[i].width, hh = imgs[i].height;
            for (k = 0; k < c.up; k++) { ww = 2 * ww + 2; hh = 2 * hh + 1; }
            if (ww > 4L * FNET_MAX_IMAGE_SIDE || hh > 4L * FNET_MAX_IMAGE_SIDE) { FNET_FREE(imgs); return FNET_ERR_TOO_LARGE; }
        }
    }
    c.src = imgs;
    c.cfg.n_filters = 1;
    c.cfg.rows = FNET__DT_R;
    c.cfg.cols = FNET__DT_C;
    c.cfg.cell = 8;
    c.cfg.min_w = c.cfg.min_h = 64;
    c.cfg.max_levels = 1000;
    c.cfg.w = (float *)fnet__alloc_aligned(FNET__DT_R * FNET__DT_C * FNET__HOG_NF * sizeof(float), &c.cfg.raw);
    c.im = (fnet__dt_img *)FNET_MALLOC((size_t)c.n * sizeof(fnet__dt_img));
    if (!c.cfg.w || !c.im) { r = FNET_ERR_OUT_OF_MEMORY; goto done; }
    memset(c.im, 0, (size_t)c.n * sizeof(fnet__dt_img));
    fnet__resolve_isa(FNET_ISA_AUTO, &c.isa);
    fnet__hog_pick(c.isa, &c.kern);
    /* (g) the training images and their feature pyramids */
    fnet__dt_run(&o, c.n, fnet__dt_prepare_task, &c);
    for (t = 0; t < c.n; t++) {
        if (c.im[t].err != FNET_OK) { r = c.im[t].err; goto done; }
        max_truth = FNET__MAX(max_truth, c.im[t].n_truth);
        total_truth += c.im[t].n_truth;
        total_ignore += c.im[t].n_ignore;
    }
    {
        size_t nj = 0;
        for (t = 0; t < c.n; t++) nj += (size_t)c.im[t].n_levels;
        c.jobs = (fnet__dt_job *)FNET_MALLOC((nj + 1) * sizeof(*c.jobs));
        if (!c.jobs) { r = FNET_ERR_OUT_OF_MEMORY; goto done; }
    }
    if (report) { report->images = c.n; report->boxes = total_truth; report->ignored = total_ignore; }
    if (total_truth == 0) { r = FNET_ERR_INVALID_ARGUMENT; goto done; }
    c.max_dets = 3 * max_truth + 10;
    /* (f) the tight NMS thresholds, then dlib's checks of the boxes */
    {
        double max_iou = 0, max_cov = 0;
        for (t = 0; t < c.n; t++) {
            const fnet__dt_img *im = &c.im[t];
            for (i = 0; i < im->n_truth; i++)
                for (k = i + 1; k < im->n_truth; k++) {
                    fnet__rect a, b, win;
                    int lv;
                    double inner, v;
                    fnet__dt_map(im->truth[i], 1000, &win, &lv, &a);
                    fnet__dt_map(im->truth[k], 1000, &win, &lv, &b);
                    inner = fnet__rect_area(fnet__rect_isect(a, b));
                    v = inner / fnet__rect_area(fnet__rect_union(a, b));
                    if (v > max_iou) max_iou = v;
                    v = inner / fnet__rect_area(a);
                    if (v > max_cov) max_cov = v;
                    v = inner / fnet__rect_area(b);
                    if (v > max_cov) max_cov = v;
                }
        }
        c.iou = FNET__MIN(1.0000001 * max_iou, 1.0);
        c.cov = FNET__MIN(1.0000001 * max_cov, 1.0);
        for (t = 0; t < c.n; t++) {
            fnet__dt_img *im = &c.im[t];
            fnet__rect *mapped = (fnet__rect *)FNET_MALLOC(((size_t)im->n_truth + 1) * sizeof(fnet__rect));
            if (!mapped) { r = FNET_ERR_OUT_OF_MEMORY; goto done; }
            for (i = 0; i < im->n_truth; i++) {
                fnet__rect win;
                int lv;
                fnet__dt_map(im->truth[i], 1000, &win, &lv, &mapped[i]);
            }
            for (i = 0; i < im->n_truth && r == FNET_OK; i++)
                for (k = i + 1; k < im->n_truth && r == FNET_OK; k++)
                    if (fnet__rect_overlap(c.iou, c.cov, mapped[i], mapped[k])) {
                        fnet__dt_report_box(report, t, i, 2, k, fnet__rect_iou(mapped[i], mapped[k]), im->truth[i], mapped[i]);
                        r = FNET_ERR_INVALID_ARGUMENT;
                    }
            for (i = 0; i < im->n_truth && r == FNET_OK; i++) {
                const double m = fnet__rect_iou(im->truth[i], mapped[i]);
                if (m <= c.match_eps) {
                    fnet__dt_report_box(report, t, i, 1, -1, m, im->truth[i], mapped[i]);
                    r = FNET_ERR_INVALID_ARGUMENT;
                }
            }
            FNET_FREE(mapped);
            if (r != FNET_OK) goto done;
            /* psi(x_i, y_i) */
            memset(im->true_psi, 0, FNET__DT_N * sizeof(double));
            for (i = 0; i < im->n_truth; i++) fnet__dt_add_phi(im, im->truth[i], im->true_psi);
            im->true_psi[FNET__DT_D] = -(double)im->n_truth;
        }
    }
    /* (d) OCA */
    w = (double *)FNET_MALLOC(FNET__DT_N * sizeof(double));
    psi_true = (double *)FNET_MALLOC(FNET__DT_N * sizeof(double));
    if (!w || !psi_true) { r = FNET_ERR_OUT_OF_MEMORY; goto done; }
    memset(w, 0, FNET__DT_N * sizeof(double));
    memset(psi_true, 0, FNET__DT_N * sizeof(double));
    for (t = 0; t < c.n; t++)
        for (i = 0; i < FNET__DT_N; i++) psi_true[i] -= c.im[t].true_psi[i];
    c.skip_cache = 1;
    cur_obj = DBL_MAX;
    for (;;) {
        double cur_risk, wnorm, risk_gap, total_loss = 0, qeps;
        /* a new plane needs room */
        if (n_planes + 2 > cap_planes) {
            int nc = cap_planes ? 2 * cap_planes : 64;
            double **np = (double **)FNET_REALLOC(planes, (size_t)nc * sizeof(double *));
            double *nb, *na, *nd;
            long *nmiss;
            if (!np) { r = FNET_ERR_OUT_OF_MEMORY; goto done; }
            planes = np;
            for (i = cap_planes; i < nc; i++) planes[i] = NULL;
            nb = (double *)FNET_REALLOC(bs, (size_t)nc * sizeof(double));
            if (nb) bs = nb;
            na = (double *)FNET_REALLOC(alpha, (size_t)nc * sizeof(double));
            if (na) alpha = na;
            nd = (double *)FNET_REALLOC(df, (size_t)nc * sizeof(double));
            if (nd) df = nd;
            nmiss = (long *)FNET_REALLOC(miss, (size_t)nc * sizeof(long));
            if (nmiss) miss = nmiss;
            FNET_FREE(K);
            K = (double *)FNET_MALLOC((size_t)nc * nc * sizeof(double));
            nd = (double *)FNET_REALLOC(Kt, (size_t)nc * nc * sizeof(double)); /* packed: kept */
            if (nd) Kt = nd;
            if (!nb || !na || !nd || !nmiss || !K) { r = FNET_ERR_OUT_OF_MEMORY; goto done; }
            cap_planes = nc;
        }
        if (n_planes == 0) { /* R >= 0: the first plane is the zero plane with offset 0 */
            planes[0] = (double *)FNET_MALLOC(FNET__DT_N * sizeof(double));
            if (!planes[0]) { r = FNET_ERR_OUT_OF_MEMORY; goto done; }
            memset(planes[0], 0, FNET__DT_N * sizeof(double));
            bs[0] = 0;
            alpha[0] = C;
            miss[0] = 0;
            Kt[0] = 0;
            n_planes = 1;
        }
        /* the risk and its subgradient at w: every image's (cached) oracle, summed in order */
        r = fnet__dt_set_filter(&c, w);
        if (r != FNET_OK) goto done;
        c.w = w;
        c.use_only_cache = converged;
        /* the cache lookups and the oracle's sorting and counting are cheap: one thread; the
           scans are the work: every (image, level) a task */
        for (t = 0; t < c.n; t++) fnet__dt_lookup_task(&c, t);
        {   /* the scans the cache could not spare, biggest levels first */
            int nj = 0, l, maxl = 0;
            for (t = 0; t < c.n; t++) if (c.im[t].n_levels > maxl) maxl = c.im[t].n_levels;
            for (l = 0; l < maxl; l++)
                for (t = 0; t < c.n; t++)
                    if (c.im[t].need && l < c.im[t].n_levels) {
                        c.jobs[nj].image = t;
                        c.jobs[nj].level = l;
                        c.jobs[nj].err = FNET_OK;
                        nj++;
                    }
            fnet__dt_run(&o, nj, fnet__dt_scan_task, &c);
            for (k = 0; k < nj; k++)
                if (c.jobs[k].err != FNET_OK) { r = c.jobs[k].err; goto done; }
        }
        for (t = 0; t < c.n; t++) fnet__dt_finish_task(&c, t);
        plane_new = planes[n_planes] ? planes[n_planes] : (double *)FNET_MALLOC(FNET__DT_N * sizeof(double));
        if (!plane_new) { r = FNET_ERR_OUT_OF_MEMORY; goto done; }
        planes[n_planes] = plane_new;
        memcpy(plane_new, psi_true, FNET__DT_N * sizeof(double));
        for (t = 0; t < c.n; t++) {
            if (c.im[t].err != FNET_OK) { r = c.im[t].err; goto done; }
            total_loss += c.im[t].loss;
            for (i = 0; i < FNET__DT_N; i++) plane_new[i] += c.im[t].psi[i];
        }
        for (t = 0; t < c.n; t++) oracle_calls += c.im[t].called;
        for (i = 0; i < FNET__DT_N; i++) plane_new[i] /= c.n;
        total_loss /= c.n;
        cur_risk = total_loss + fnet__dt_dot(plane_new, w);
        bs[n_planes] = cur_risk - fnet__dt_dot(w, plane_new);
        miss[n_planes] = 0;
        alpha[n_planes] = 0;
        n_planes++;
        wnorm = 0.5 * fnet__dt_dot(w, w);
        cur_obj = wnorm + C * cur_risk;
        risk_gap = cur_risk - (cp_obj - wnorm) / C;
        risk = cur_risk;
        gap = risk_gap;
        if (counter > 0) { /* dlib's structural_svm_problem::optimization_status */
            int stop = 0;
            if (o.progress) {
                fnet_detector_train_status st;
                st.iteration = counter;
                st.planes = n_planes;
                st.oracle_calls = oracle_calls;
                st.objective = cur_obj;
                st.risk = cur_risk;
                st.risk_gap = risk_gap;
                st.epsilon = eps;
                if (o.progress(o.progress_user, &st)) { stop = 1; stopped = 1; }
            }
            if (counter >= max_iter) { stop = 1; stopped = 1; }
            c.saved_gap = risk_gap;
            if (!stop) {
                if (converged) stop = 1;
                else if (risk_gap < eps) {
                    if (c.skip_cache || c.max_cache == 0) {
                        converged = 1;
                        c.skip_cache = 0;
                        stop = 1;
                    } else if (++count_below > 1) {
                        c.skip_cache = 1;
                        count_below = 0;
                    }
                } else {
                    count_below = 0;
                    c.skip_cache = 0;
                }
            }
            if (stop) break;
        }
        /* K gains the new plane's row and column */
        {
            const int n = n_planes, m = n - 1;
            for (i = 0; i < m; i++)
                for (k = 0; k < m; k++) K[i * n + k] = Kt[i * m + k];
            for (i = 0; i < n; i++) {
                const double v = fnet__dt_dot(planes[i], planes[m]);
                K[i * n + m] = v;
                K[m * n + i] = v;
            }
        }
        qeps = FNET__MIN(0.01, 0.1 * (cur_obj - cp_obj));
        if (qeps < 1e-16) qeps = 1e-16;
        fnet__dt_smo(K, n_planes, bs, alpha, df, qeps, 50000);
        for (i = 0; i < FNET__DT_N; i++) w[i] = -alpha[0] * planes[0][i];
        for (k = 1; k < n_planes; k++)
            for (i = 0; i < FNET__DT_N; i++) w[i] -= alpha[k] * planes[k][i];
        for (k = 0; k < n_planes; k++) miss[k] = alpha[k] != 0 ? 0 : miss[k] + 1;
        cp_obj = -0.5 * fnet__dt_dot(w, w);
        for (k = 0; k < n_planes; k++) cp_obj += alpha[k] * bs[k];
        /* drop planes unused for 20 iterations (the most unused first) */
        for (;;) {
            int idx = 0, n = n_planes;
            for (k = 1; k < n; k++) if (miss[k] > miss[idx]) idx = k;
            if (miss[idx] < 20) break;
            FNET_FREE(planes[idx]);
            for (k = idx; k + 1 < n; k++) {
                planes[k] = planes[k + 1];
                bs[k] = bs[k + 1];
                miss[k] = miss[k + 1];
                alpha[k] = alpha[k + 1];
            }
            planes[n - 1] = NULL;
            for (i = 0, t = 0; i < n; i++) /* K without row and column idx, packed */
                for (k = 0; k < n; k++)
                    if (i != idx && k != idx) K[t++] = K[i * n + k];
            n_planes--;
        }
        memcpy(Kt, K, (size_t)n_planes * n_planes * sizeof(double));
        counter++;
    }
    if (report) {
        report->iterations = counter;
        report->objective = cur_obj;
        report->risk = risk;
        report->risk_gap = gap;
        report->iou_thresh = c.iou;
        report->percent_covered_thresh = c.cov;
        report->stopped = stopped;
        report->oracle_calls = oracle_calls;
    }
    {   /* the detector: filter cell-major (rows, cols, 31), threshold */
        float *f = (float *)FNET_MALLOC(FNET__DT_D * sizeof(float));
        const float *fl[1];
        double th = w[FNET__DT_D];
        int p, rc;
        if (!f) { r = FNET_ERR_OUT_OF_MEMORY; goto done; }
        for (rc = 0; rc < FNET__DT_R * FNET__DT_C; rc++)
            for (p = 0; p < 31; p++) f[rc * 31 + p] = (float)w[p * FNET__DT_R * FNET__DT_C + rc];
        fl[0] = f;
        r = fnet__dt_make_model(1, fl, &th, c.iou, c.cov,
                                "fnet_detector_train (facenet.h): dlib's structural SVM detector trainer", out);
        FNET_FREE(f);
    }
done:
    if (c.im)
        for (t = 0; t < c.n; t++) fnet__dt_img_free(&c.im[t]);
    FNET_FREE(c.im);
    FNET_FREE(c.jobs);
    FNET_FREE(c.cfg.raw);
    FNET_FREE(c.cfg.sep);
    FNET_FREE(imgs);
    if (planes)
        for (i = 0; i < cap_planes; i++) FNET_FREE(planes[i]);
    FNET_FREE(planes);
    FNET_FREE(bs);
    FNET_FREE(alpha);
    FNET_FREE(df);
    FNET_FREE(miss);
    FNET_FREE(K);
    FNET_FREE(Kt);
    FNET_FREE(w);
    FNET_FREE(psi_true);
    return r;
}

FNET_API fnet_result fnet_detector_combine(const fnet_model *const *dets, int n, fnet_model **out) {
    const float *fl[FNET__HOG_MAX_FILTERS];
    float *tmp[FNET__HOG_MAX_FILTERS];
    double th[FNET__HOG_MAX_FILTERS];
    const fnet__hog *h0;
    int i, f, nf = 0, owned = 0;
    fnet_result r;
    if (out) *out = NULL;
    if (!dets || n < 1 || !out) return FNET_ERR_INVALID_ARGUMENT;
    for (i = 0; i < n; i++) {
        const fnet__hog *h;
        if (!dets[i]) return FNET_ERR_INVALID_ARGUMENT;
        if (dets[i]->kind != FNET_MODEL_DETECTOR || !dets[i]->stage) return FNET_ERR_WRONG_MODEL;
        h = (const fnet__hog *)dets[i]->stage;
        if (h->rows != FNET__DT_R || h->cols != FNET__DT_C) return FNET_ERR_MISMATCH;
        if (nf + h->n_filters > FNET__HOG_MAX_FILTERS) return FNET_ERR_TOO_LARGE;
        nf += h->n_filters;
    }
    r = FNET_OK;
    for (i = 0, nf = 0; i < n && r == FNET_OK; i++) {
        const fnet__hog *h = (const fnet__hog *)dets[i]->stage;
        for (f = 0; f < h->n_filters; f++, nf++) { /* the prepared filter, back to (rows, cols, 31) */
            int rc, p;
            tmp[nf] = (float *)FNET_MALLOC(FNET__DT_D * sizeof(float));
            if (!tmp[nf]) { r = FNET_ERR_OUT_OF_MEMORY; break; }
            owned = nf + 1;
            for (rc = 0; rc < FNET__DT_R * FNET__DT_C; rc++)
                for (p = 0; p < 31; p++)
                    tmp[nf][rc * 31 + p] = h->w[((size_t)f * FNET__DT_R * FNET__DT_C + rc) * FNET__HOG_NF + p];
            fl[nf] = tmp[nf];
            th[nf] = h->thresh[f];
        }
    }
    h0 = (const fnet__hog *)dets[0]->stage;
    if (r == FNET_OK)
        r = fnet__dt_make_model(nf, fl, th, h0->iou, h0->covered, "fnet_detector_combine (facenet.h)", out);
    for (i = 0; i < owned; i++) FNET_FREE(tmp[i]);
    return r;
}

FNET_API fnet_result fnet_detector_blob(const fnet_model *det, const void **blob, size_t *size) {
    if (!det || !blob || !size) return FNET_ERR_INVALID_ARGUMENT;
    if (det->kind != FNET_MODEL_DETECTOR) return FNET_ERR_WRONG_MODEL;
    *blob = det->blob;
    *size = det->size;
    return FNET_OK;
}

#ifndef FNET_NO_STDIO
FNET_API fnet_result fnet_detector_save_file(const fnet_model *det, const char *path) {
    if (!det || !path) return FNET_ERR_INVALID_ARGUMENT;
    if (det->kind != FNET_MODEL_DETECTOR) return FNET_ERR_WRONG_MODEL;
    return fnet__write_atomic(path, det->blob, det->size);
}
#endif

typedef struct fnet__dt_det {
    double score;
    int hit;
} fnet__dt_det;

static int fnet__dt_det_cmp(const void *pa, const void *pb) { /* score, then hits, descending */
    const fnet__dt_det *a = (const fnet__dt_det *)pa, *b = (const fnet__dt_det *)pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return b->hit - a->hit;
}

/* The image upsampled `up` times (pyramid_up, as training and fnet_detect do), interleaved. */
static fnet_result fnet__dt_upsampled(const fnet_image *img, int up, unsigned char **out, int *ow, int *oh, int *onch) {
    const int nch = img->channels == 1 ? 1 : 3;
    int w = img->width, h = img->height, k, ch, x, y;
    size_t cap;
    unsigned char *a, *b, *cur, *res;
    float *tabs;
    fnet__himg hi;
    for (k = 0; k < up; k++) { w = 2 * w + 2; h = 2 * h + 1; }
    cap = (size_t)w * (size_t)h * (size_t)nch + 16;
    a = (unsigned char *)FNET_MALLOC(cap);
    b = (unsigned char *)FNET_MALLOC(cap);
    res = (unsigned char *)FNET_MALLOC(cap);
    tabs = (float *)FNET_MALLOC(((size_t)w + 16) * 5 * sizeof(float));
    if (!a || !b || !res || !tabs) {
        FNET_FREE(a); FNET_FREE(b); FNET_FREE(res); FNET_FREE(tabs);
        return FNET_ERR_OUT_OF_MEMORY;
    }
    for (ch = 0; ch < nch; ch++)
        for (y = 0; y < img->height; y++) {
            const unsigned char *s = img->pixels + (size_t)y * img->stride + ch;
            unsigned char *d = a + ((size_t)ch * img->height + y) * img->width;
            for (x = 0; x < img->width; x++) d[x] = s[(size_t)x * img->channels];
        }
    hi.w = img->width; hi.h = img->height; hi.stride = img->width; hi.nch = nch;
    cur = a;
    for (k = 0; k < up; k++) {
        unsigned char *dst = cur == a ? b : a;
        int dw = 2 * hi.w + 2, dh = 2 * hi.h + 1;
        for (ch = 0; ch < nch; ch++) hi.pl[ch] = cur + (size_t)ch * hi.w * hi.h;
        fnet__hog_resize(&hi, dst, dw, dh, (int *)(void *)(tabs + 3 * (w + 16)), tabs,
                         (unsigned char *)(void *)(tabs + (w + 16)), 0);
        hi.w = dw; hi.h = dh; hi.stride = dw;
        cur = dst;
    }
    for (ch = 0; ch < nch; ch++)
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++)
                res[((size_t)y * w + x) * nch + ch] = cur[((size_t)ch * h + y) * w + x];
    FNET_FREE(a); FNET_FREE(b); FNET_FREE(tabs);
    *out = res; *ow = w; *oh = h; *onch = nch;
    return FNET_OK;
}

FNET_API fnet_result fnet_detector_evaluate(const fnet_model *det, const fnet_image *images,
                                            const fnet_train_box *const *boxes, const int *n_boxes,
                                            int n_images, int upsample, fnet_detector_eval *out) {
    fnet__dt_det *all = NULL;
    size_t n_all = 0, cap_all = 0, k;
    fnet_box *found = NULL;
    int cap_found = 0, i, q, missing = 0, hits = 0, truth = 0;
    fnet_result r = FNET_OK;
    if (out) memset(out, 0, sizeof(*out));
    if (!det || !images || !boxes || !n_boxes || n_images < 0 || !out || upsample < 0 ||
        upsample > FNET_MAX_UPSAMPLE)
        return FNET_ERR_INVALID_ARGUMENT;
    if (det->kind != FNET_MODEL_DETECTOR || !det->stage) return FNET_ERR_WRONG_MODEL;
    for (i = 0; i < n_images && r == FNET_OK; i++) {
        fnet_image img = images[i], view;
        unsigned char *px = NULL, *used;
        fnet__rect *tb = NULL, *ib;
        int w, h, nch, nf = 0, nt = 0, ni = 0, b, u;
        if (n_boxes[i] < 0 || (n_boxes[i] > 0 && !boxes[i])) { r = FNET_ERR_INVALID_ARGUMENT; break; }
        r = fnet__check_image(&img);
        if (r != FNET_OK) break;
        r = fnet__dt_upsampled(&img, upsample, &px, &w, &h, &nch);
        if (r != FNET_OK) break;
        view = fnet_image_view(px, w, h, nch, 0);
        r = fnet_detect(det, view, NULL, NULL, 0, found, cap_found, &nf);
        if (r == FNET_OK && nf > cap_found) {
            FNET_FREE(found);
            cap_found = nf;
            found = (fnet_box *)FNET_MALLOC((size_t)nf * sizeof(fnet_box));
            r = found ? fnet_detect(det, view, NULL, NULL, 0, found, cap_found, &nf) : FNET_ERR_OUT_OF_MEMORY;
        }
        FNET_FREE(px);
        tb = (fnet__rect *)FNET_MALLOC(((size_t)n_boxes[i] + 1) * sizeof(fnet__rect));
        used = (unsigned char *)FNET_MALLOC((size_t)nf + 1);
        if (r == FNET_OK && (!tb || !used)) r = FNET_ERR_OUT_OF_MEMORY;
        if (r != FNET_OK) { FNET_FREE(tb); FNET_FREE(used); break; }
        for (b = 0; b < n_boxes[i]; b++) if (!boxes[i][b].ignore) nt++;
        ib = tb + nt;
        for (b = 0, nt = 0; b < n_boxes[i]; b++) {
            fnet__rect x;
            x.l = boxes[i][b].left; x.t = boxes[i][b].top; x.r = boxes[i][b].right; x.b = boxes[i][b].bottom;
            for (u = 0; u < upsample; u++) x = fnet__dt_rect_up2(x);
            if (boxes[i][b].ignore) ib[ni++] = x;
            else tb[nt++] = x;
        }
        truth += nt;
        /* dlib's number_of_truth_hits: each truth box takes the first unused detection that
           overlaps it (IoU > 0.5) */
        memset(used, 0, (size_t)nf + 1);
        if (nf == 0) missing += nt;
        else
            for (b = 0; b < nt; b++) {
                int found_one = 0;
                for (q = 0; q < nf && !found_one; q++) {
                    fnet__rect d;
                    d.l = found[q].left; d.t = found[q].top; d.r = found[q].right; d.b = found[q].bottom;
                    if (!used[q] && fnet__rect_overlap(0.5, 1.0, tb[b], d)) { used[q] = 1; hits++; found_one = 1; }
                }
                if (!found_one) missing++;
            }
        for (q = 0; q < nf; q++) {
            fnet__rect d;
            int ig = 0, z;
            d.l = found[q].left; d.t = found[q].top; d.r = found[q].right; d.b = found[q].bottom;
            for (z = 0; z < ni && !ig; z++) ig = fnet__rect_overlap(0.5, 1.0, ib[z], d);
            if (used[q] || !ig) {
                if (n_all == cap_all) {
                    size_t nc = cap_all ? 2 * cap_all : 256;
                    fnet__dt_det *na = (fnet__dt_det *)FNET_REALLOC(all, nc * sizeof(fnet__dt_det));
                    if (!na) { r = FNET_ERR_OUT_OF_MEMORY; break; }
                    all = na;
                    cap_all = nc;
                }
                all[n_all].score = (double)found[q].score;
                all[n_all].hit = used[q];
                n_all++;
            }
        }
        FNET_FREE(tb);
        FNET_FREE(used);
    }
    if (r == FNET_OK) { /* dlib's average_precision over the ranked detections */
        double relevant = 0, sum = 0, best = 0;
        double *prec = (double *)FNET_MALLOC((n_all + 1) * sizeof(double));
        size_t np = 0;
        if (!prec) r = FNET_ERR_OUT_OF_MEMORY;
        else {
            if (n_all) qsort(all, n_all, sizeof(fnet__dt_det), fnet__dt_det_cmp);
            for (k = 0; k < n_all; k++)
                if (all[k].hit) { relevant += 1; prec[np++] = relevant / (double)(k + 1); }
            while (np) { best = prec[np - 1] > best ? prec[np - 1] : best; sum += best; np--; }
            relevant += missing;
            out->ap = relevant != 0 ? sum / relevant : 1;
            out->precision = n_all == 0 ? 1 : (double)hits / (double)n_all;
            out->recall = truth == 0 ? 1 : (double)hits / (double)truth;
            out->truth = truth;
            out->detections = (int)n_all;
            out->hits = hits;
            FNET_FREE(prec);
        }
    }
    FNET_FREE(all);
    FNET_FREE(found);
    return r;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* ==== 2. Landmarks: ensemble of regression trees (dlib shape predictor) ==================

   Paper: V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an Ensemble of
   Regression Trees", CVPR 2014. This section runs dlib's shape_predictor exactly as dlib does
   (same float/double steps in the same order), so the points equal dlib's.

   A shape is 68 (x, y) points. Coordinates are "box units": (0,0) is the box's top-left
   corner, (1,1) its bottom-right one.
   1. Start from the mean face shape (initial_shape, in box units).
   2. Repeat for each of 15 cascades:
      a. Find the similarity transform (scale + rotation, Umeyama's least squares, as dlib's
         find_similarity_transform) that maps the mean shape onto the current shape.
      b. Read 500 "feature pixels". Each is stored as an anchor landmark and an offset
         (delta) from it in mean-shape coordinates: position = current anchor point +
         transform * delta, mapped from box units to the image and rounded to the nearest
         pixel. Its value is the pixel's intensity (gray: the byte; RGB: (r+g+b)/3 as dlib's
         assign_pixel). Pixels outside the image read as 0. So the features follow the face
         as the shape moves.
      c. Run 500 regression trees of depth 4. Each split compares the difference of two
         feature pixels with a threshold (value[idx1] - value[idx2] > thresh: go left);
         the 16 leaves hold a correction of the whole shape (136 numbers). Add every tree's
         leaf to the current shape, tree after tree.
   3. Map the shape from box units to the image. dlib then rounds to whole pixels; we return
      the unrounded positions as floats chosen so that floor(x + 0.5) gives dlib's integer
      (a double just below .5 would otherwise round to a float exactly on it).

   Box units to image: x_img = left + (right - left) * x (inclusive box corners), computed
   through dlib's own least-squares solution (its pinv of the three unit-square corners,
   whose 9 doubles are below), so that rounding at .5 ties matches dlib too.

   Tensors (see tools/convert/dlib_shape.py), C cascades, T trees, S = 2^depth - 1 splits,
   L = S + 1 leaves, N points, P feature pixels per cascade:
     initial_shape (N, 2) f32            anchor_idx (C, P) u16      deltas (C, P, 2) f32
     split_idx (C, T, S, 2) u16          split_thresh (C, T, S) f32
     leaves (C, T, L, 2N) f32, f16, or i16 with leaf_scale (C, T) f32 (value = scale * q)
   The model points into the blob (nothing is parsed per value at load). A call uses about
   14 KB of stack and allocates nothing; the model is only read, so threads may share it.

   Measured (tests/test_landmarks.c, tools/bench/bench_landmarks.sh): on dlib's own boxes 100% of
   27,336 points round to dlib's points, LFPW NME 0.028937 as dlib's. Compact blobs (half the
   size) flip some split decisions: f16 leaves NME 0.028854 but 82% of points identical and
   up to 28 px off on hard faces; i16 NME 0.028950, 85% identical, up to 17 px. A face reads
   about 4 MB of leaves, so memory bandwidth bounds the speed (figures against dlib: README).
   Loading maps the file instead of deserialising it.

   Kernel: adding a leaf to the shape (2N floats; the bulk of the work: 7500 leaves of 544
   bytes per face, memory-bound: the leaves of a cascade are prefetched ahead). Scalar twin first; SSE2 and AVX2 give identical results
   (the same float additions per element, in the same order; f16 is widened exactly).
   Build without FMA contraction (the default of ISO C modes; no -ffp-contract=fast with
   -mfma) to keep the float steps identical to dlib's. */

/* No FMA contraction in this section (g++ contracts by default, even mul/add intrinsics inside
   the AVX2 functions): the kernels must equal their scalar twins bit for bit, as dlib's steps. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#define FNET__LM_MAX_POINTS 256
#define FNET__LM_MAX_POOL 1024
#define FNET__LM_MAX_TREES 4096
#define FNET__LM_MAX_DEPTH 8
#define FNET__LM_MAX_CASCADES 64
#define FNET__LM_MAX_COORD (4.0 * FNET_MAX_IMAGE_SIDE)
#ifndef FNET__LM_PREFETCH
#define FNET__LM_PREFETCH 8 /* leaves fetched this many trees ahead */
#endif

typedef struct fnet__lm {
    int n_points, n_casc, n_trees, n_splits, n_leaves, pool, leaf_dtype;
    const float *initial;             /* (N, 2) */
    const unsigned short *anchor;     /* (C, P) */
    const float *deltas;              /* (C, P, 2) */
    const unsigned short *split_idx;  /* (C, T, S, 2) */
    const float *thresh;              /* (C, T, S) */
    const unsigned char *leaves;      /* (C, T, L, 2N) of leaf_dtype */
    const float *leaf_scale;          /* (C, T), i16 leaves only */
    size_t leaf_bytes;                /* bytes of one leaf */
} fnet__lm;

static fnet_result fnet__landmarks_prepare(fnet_model *m) {
    const fnet__tensor *init, *anc, *del, *sidx, *thr, *lv, *ls = NULL;
    fnet__lm *lm;
    int N, C, P, T, S, L, n2;
    size_t i, count;
    init = fnet__find_tensor(m, "initial_shape");
    anc = fnet__find_tensor(m, "anchor_idx");
    if (!init || !anc || init->dtype != FNET__F32 || init->ndim != 2 || init->shape[1] != 2 ||
        anc->dtype != FNET__U16 || anc->ndim != 2)
        return FNET_ERR_CORRUPT;
    N = init->shape[0];
    C = anc->shape[0];
    P = anc->shape[1];
    if (N < 2 || N > FNET__LM_MAX_POINTS || C < 1 || C > FNET__LM_MAX_CASCADES || P < 1 ||
        P > FNET__LM_MAX_POOL)
        return FNET_ERR_CORRUPT;
    sidx = fnet__find_tensor(m, "split_idx");
    if (!sidx || sidx->dtype != FNET__U16 || sidx->ndim != 4 || sidx->shape[0] != C ||
        sidx->shape[3] != 2)
        return FNET_ERR_CORRUPT;
    T = sidx->shape[1];
    S = sidx->shape[2];
    L = S + 1;
    n2 = 2 * N;
    if (T < 1 || T > FNET__LM_MAX_TREES || (L & (L - 1)) != 0 || L > (1 << FNET__LM_MAX_DEPTH))
        return FNET_ERR_CORRUPT;
    del = fnet__get_tensor(m, "deltas", FNET__F32, 3, C, P, 2, -1);
    thr = fnet__get_tensor(m, "split_thresh", FNET__F32, 3, C, T, S, -1);
    lv = fnet__find_tensor(m, "leaves");
    if (!del || !thr || !lv || lv->ndim != 4 || lv->shape[0] != C || lv->shape[1] != T ||
        lv->shape[2] != L || lv->shape[3] != n2)
        return FNET_ERR_CORRUPT;
    if (lv->dtype == FNET__I16) {
        ls = fnet__get_tensor(m, "leaf_scale", FNET__F32, 2, C, T, -1, -1);
        if (!ls) return FNET_ERR_CORRUPT;
    } else if (lv->dtype != FNET__F32 && lv->dtype != FNET__F16) {
        return FNET_ERR_CORRUPT;
    }
    /* Indices are used to address memory: check every one once, here. */
    {
        const unsigned short *a = (const unsigned short *)anc->data;
        const unsigned short *s = (const unsigned short *)sidx->data;
        for (i = 0; i < anc->count; i++)
            if (a[i] >= N) return FNET_ERR_CORRUPT;
        for (i = 0; i < sidx->count; i++)
            if (s[i] >= P) return FNET_ERR_CORRUPT;
    }
    {   /* the mean shape and the deltas must be finite (the transform divides by its spread) */
        const float *f = (const float *)init->data;
        count = init->count;
        for (i = 0; i < count; i++)
            if (!(f[i] == f[i]) || f[i] > FLT_MAX || f[i] < -FLT_MAX) return FNET_ERR_CORRUPT;
    }
    lm = (fnet__lm *)FNET_MALLOC(sizeof(fnet__lm));
    if (!lm) return FNET_ERR_OUT_OF_MEMORY;
    lm->n_points = N;
    lm->n_casc = C;
    lm->n_trees = T;
    lm->n_splits = S;
    lm->n_leaves = L;
    lm->pool = P;
    lm->leaf_dtype = lv->dtype;
    lm->initial = (const float *)init->data;
    lm->anchor = (const unsigned short *)anc->data;
    lm->deltas = (const float *)del->data;
    lm->split_idx = (const unsigned short *)sidx->data;
    lm->thresh = (const float *)thr->data;
    lm->leaves = (const unsigned char *)lv->data;
    lm->leaf_scale = ls ? (const float *)ls->data : NULL;
    lm->leaf_bytes = (size_t)n2 * fnet__dtype_size[lv->dtype];
    m->stage = lm;
    return FNET_OK;
}

static void fnet__landmarks_release(fnet_model *m) {
    FNET_FREE(m->stage);
    m->stage = NULL;
}

FNET_API int fnet_landmarks_count(const fnet_model *lm) {
    if (!lm || lm->kind != FNET_MODEL_LANDMARKS || !lm->stage) return 0;
    return ((const fnet__lm *)lm->stage)->n_points;
}

/* -- kernels: shape[0..n) += leaf ------------------------------------------------------- */

/* IEEE half -> float, exact for every finite half (leaves hold no inf/NaN), in integer
   steps so no subnormal float is ever touched (those cost ~100 cycles each on x86):
   normal halves re-bias the exponent (+112) in the bit pattern; subnormal halves are
   mantissa * 2^-24 (an exact int -> float conversion and a power-of-two scale). */
#define FNET__TWO_POW_M24 (1.0f / 16777216.0f)

static float fnet__lm_half(unsigned short h) {
    unsigned int sign = ((unsigned int)h & 0x8000u) << 16, bits;
    float f;
    if (h & 0x7c00u) {
        bits = ((((unsigned int)h & 0x7fffu) << 13) + (112u << 23)) | sign;
        memcpy(&f, &bits, 4);
        return f;
    }
    f = (float)(h & 0x3ffu) * FNET__TWO_POW_M24;
    memcpy(&bits, &f, 4);
    bits |= sign;
    memcpy(&f, &bits, 4);
    return f;
}

static void fnet__lm_add_f32_scalar(float *s, const float *v, int n) {
    int k;
    for (k = 0; k < n; k++) s[k] += v[k];
}
static void fnet__lm_add_f16_scalar(float *s, const unsigned short *v, int n) {
    int k;
    for (k = 0; k < n; k++) s[k] += fnet__lm_half(v[k]);
}
static void fnet__lm_add_i16_scalar(float *s, const short *v, float scale, int n) {
    int k;
    for (k = 0; k < n; k++) {
        float x = scale * (float)v[k];
        s[k] += x;
    }
}

#if defined(FNET__X86)
static void fnet__lm_add_f32_sse2(float *s, const float *v, int n) {
    int k = 0;
    for (; k + 4 <= n; k += 4) _mm_storeu_ps(s + k, _mm_add_ps(_mm_loadu_ps(s + k), _mm_loadu_ps(v + k)));
    for (; k < n; k++) s[k] += v[k];
}
static __m128 fnet__lm_half4_sse2(const unsigned short *v) {
    __m128i h = _mm_unpacklo_epi16(_mm_loadl_epi64((const __m128i *)(const void *)v), _mm_setzero_si128());
    __m128i normal = _mm_add_epi32(_mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x7fff)), 13), _mm_set1_epi32(112 << 23));
    __m128 sub = _mm_mul_ps(_mm_cvtepi32_ps(_mm_and_si128(h, _mm_set1_epi32(0x3ff))), _mm_set1_ps(FNET__TWO_POW_M24));
    __m128i is_sub = _mm_cmpeq_epi32(_mm_and_si128(h, _mm_set1_epi32(0x7c00)), _mm_setzero_si128());
    __m128i sign = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x8000)), 16);
    __m128i r = _mm_or_si128(_mm_and_si128(is_sub, _mm_castps_si128(sub)), _mm_andnot_si128(is_sub, normal));
    return _mm_castsi128_ps(_mm_or_si128(r, sign));
}
static void fnet__lm_add_f16_sse2(float *s, const unsigned short *v, int n) {
    int k = 0;
    for (; k + 4 <= n; k += 4) _mm_storeu_ps(s + k, _mm_add_ps(_mm_loadu_ps(s + k), fnet__lm_half4_sse2(v + k)));
    for (; k < n; k++) s[k] += fnet__lm_half(v[k]);
}
static void fnet__lm_add_i16_sse2(float *s, const short *v, float scale, int n) {
    int k = 0;
    __m128 sc = _mm_set1_ps(scale);
    for (; k + 4 <= n; k += 4) {
        __m128i q = _mm_loadl_epi64((const __m128i *)(const void *)(v + k));
        q = _mm_srai_epi32(_mm_unpacklo_epi16(q, q), 16); /* sign-extend to 32 bits */
        _mm_storeu_ps(s + k, _mm_add_ps(_mm_loadu_ps(s + k), _mm_mul_ps(sc, _mm_cvtepi32_ps(q))));
    }
    for (; k < n; k++) {
        float x = scale * (float)v[k];
        s[k] += x;
    }
}
FNET__AVX2_FN static void fnet__lm_add_f32_avx2(float *s, const float *v, int n) {
    int k = 0;
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(s + k, _mm256_add_ps(_mm256_loadu_ps(s + k), _mm256_loadu_ps(v + k)));
    for (; k < n; k++) s[k] += v[k];
}
FNET__AVX2_FN static void fnet__lm_add_f16_avx2(float *s, const unsigned short *v, int n) {
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(v + k)));
        __m256i normal = _mm256_add_epi32(_mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x7fff)), 13),
                                          _mm256_set1_epi32(112 << 23));
        __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(h, _mm256_set1_epi32(0x3ff))),
                                   _mm256_set1_ps(FNET__TWO_POW_M24));
        __m256i is_sub = _mm256_cmpeq_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x7c00)), _mm256_setzero_si256());
        __m256i sign = _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x8000)), 16);
        __m256 f = _mm256_castsi256_ps(_mm256_or_si256(_mm256_blendv_epi8(normal, _mm256_castps_si256(sub), is_sub), sign));
        _mm256_storeu_ps(s + k, _mm256_add_ps(_mm256_loadu_ps(s + k), f));
    }
    for (; k < n; k++) s[k] += fnet__lm_half(v[k]);
}
FNET__AVX2_FN static void fnet__lm_add_i16_avx2(float *s, const short *v, float scale, int n) {
    int k = 0;
    __m256 sc = _mm256_set1_ps(scale);
    for (; k + 8 <= n; k += 8) {
        __m256i q = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(v + k)));
        __m256 x = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(q)); /* mul then add: no FMA, as scalar */
        _mm256_storeu_ps(s + k, _mm256_add_ps(_mm256_loadu_ps(s + k), x));
    }
    for (; k < n; k++) {
        float x = scale * (float)v[k];
        s[k] += x;
    }
}
#endif

#if defined(FNET__NEON)
static void fnet__lm_add_f32_neon(float *s, const float *v, int n) {
    int k = 0;
    for (; k + 4 <= n; k += 4) vst1q_f32(s + k, vaddq_f32(vld1q_f32(s + k), vld1q_f32(v + k)));
    for (; k < n; k++) s[k] += v[k];
}
#endif

#if defined(FNET__WASM_SIMD)
static void fnet__lm_add_f32_wasm(float *s, const float *v, int n) {
    int k = 0;
    for (; k + 4 <= n; k += 4) wasm_v128_store(s + k, wasm_f32x4_add(wasm_v128_load(s + k), wasm_v128_load(v + k)));
    for (; k < n; k++) s[k] += v[k];
}
/* 4 halves -> 4 floats, the SSE2 way (integer re-bias for normal halves, an exact
   int -> float scale for subnormal ones): equal to fnet__lm_half. */
static void fnet__lm_add_f16_wasm(float *s, const unsigned short *v, int n) {
    int k = 0;
    for (; k + 4 <= n; k += 4) {
        v128_t h = wasm_u32x4_load16x4(v + k);
        v128_t normal = wasm_i32x4_add(wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x7fff)), 13),
                                       wasm_i32x4_splat(112 << 23));
        v128_t sub = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_v128_and(h, wasm_i32x4_splat(0x3ff))),
                                    wasm_f32x4_splat(FNET__TWO_POW_M24));
        v128_t is_sub = wasm_i32x4_eq(wasm_v128_and(h, wasm_i32x4_splat(0x7c00)), wasm_i32x4_splat(0));
        v128_t sign = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16);
        v128_t f = wasm_v128_or(wasm_v128_bitselect(sub, normal, is_sub), sign);
        wasm_v128_store(s + k, wasm_f32x4_add(wasm_v128_load(s + k), f));
    }
    for (; k < n; k++) s[k] += fnet__lm_half(v[k]);
}
static void fnet__lm_add_i16_wasm(float *s, const short *v, float scale, int n) {
    int k = 0;
    v128_t sc = wasm_f32x4_splat(scale);
    for (; k + 4 <= n; k += 4) {
        v128_t x = wasm_f32x4_mul(sc, wasm_f32x4_convert_i32x4(wasm_i32x4_load16x4(v + k)));
        wasm_v128_store(s + k, wasm_f32x4_add(wasm_v128_load(s + k), x));
    }
    for (; k < n; k++) {
        float x = scale * (float)v[k];
        s[k] += x;
    }
}
#endif

/* Adds leaf `leaf` (in the model's leaf dtype) to the shape with the model's kernel set. */
static void fnet__lm_add_leaf(fnet_isa isa, const fnet__lm *lm, float *s, const unsigned char *leaf,
                              float scale) {
    int n = 2 * lm->n_points;
    (void)isa;
    if (lm->leaf_dtype == FNET__F32) {
        const float *v = (const float *)(const void *)leaf;
#if defined(FNET__X86)
        if (isa == FNET_ISA_AVX2) { fnet__lm_add_f32_avx2(s, v, n); return; }
        if (isa == FNET_ISA_SSE2) { fnet__lm_add_f32_sse2(s, v, n); return; }
#endif
#if defined(FNET__NEON)
        if (isa == FNET_ISA_NEON) { fnet__lm_add_f32_neon(s, v, n); return; }
#endif
#if defined(FNET__WASM_SIMD)
        if (isa == FNET_ISA_WASM_SIMD) { fnet__lm_add_f32_wasm(s, v, n); return; }
#endif
        fnet__lm_add_f32_scalar(s, v, n);
    } else if (lm->leaf_dtype == FNET__F16) {
        const unsigned short *v = (const unsigned short *)(const void *)leaf;
#if defined(FNET__X86)
        if (isa == FNET_ISA_AVX2) { fnet__lm_add_f16_avx2(s, v, n); return; }
        if (isa == FNET_ISA_SSE2) { fnet__lm_add_f16_sse2(s, v, n); return; }
#endif
#if defined(FNET__WASM_SIMD)
        if (isa == FNET_ISA_WASM_SIMD) { fnet__lm_add_f16_wasm(s, v, n); return; }
#endif
        fnet__lm_add_f16_scalar(s, v, n);
    } else {
        const short *v = (const short *)(const void *)leaf;
#if defined(FNET__X86)
        if (isa == FNET_ISA_AVX2) { fnet__lm_add_i16_avx2(s, v, scale, n); return; }
        if (isa == FNET_ISA_SSE2) { fnet__lm_add_i16_sse2(s, v, scale, n); return; }
#endif
#if defined(FNET__WASM_SIMD)
        if (isa == FNET_ISA_WASM_SIMD) { fnet__lm_add_i16_wasm(s, v, scale, n); return; }
#endif
        fnet__lm_add_i16_scalar(s, v, scale, n);
    }
}

/* dlib's unnormalizing_tform(rect) is find_affine_transform() from the unit square corners
   (0,0), (1,0), (1,1) to the box corners: Q * pinv(P). pinv(P) is a constant; these are the
   doubles dlib's SVD gives for it (row-major 3x3), so our transform has dlib's exact bits. */
static const double fnet__lm_pinv[9] = {
    -1.0000000000000002, -6.6613381477509392e-16, 1.0000000000000004,
    0.99999999999999978, -0.99999999999999956, 1.1102230246251565e-16,
    5.5511151231257827e-17, 0.99999999999999978, 5.5511151231257827e-17};

/* Box units -> image: x = m[0]*u + m[1]*v + m[2], y = m[3]*u + m[4]*v + m[5]. */
static void fnet__lm_box_tform(fnet_box box, double m[6]) {
    /* dlib takes the corners as float vectors */
    double q[2][3];
    int i, j;
    q[0][0] = (double)(float)box.left; q[0][1] = (double)(float)box.right; q[0][2] = (double)(float)box.right;
    q[1][0] = (double)(float)box.top; q[1][1] = (double)(float)box.top; q[1][2] = (double)(float)box.bottom;
    for (i = 0; i < 2; i++)
        for (j = 0; j < 3; j++)
            m[3 * i + j] = q[i][0] * fnet__lm_pinv[j] + q[i][1] * fnet__lm_pinv[3 + j] +
                           q[i][2] * fnet__lm_pinv[6 + j];
}

/* Similarity transform (2x2 part, scale * rotation) taking shape `from` to shape `to`,
   dlib's find_similarity_transform (Umeyama 1991) in double, cast to float. In 2D the
   optimal scaled rotation has the closed form [a -b; b a] with a = (cov00 + cov11) / sigma,
   b = (cov10 - cov01) / sigma: what dlib's SVD route computes. */
static void fnet__lm_similarity(const float *from, const float *to, int n, float t[4]) {
    double mfx = 0, mfy = 0, mtx = 0, mty = 0, sf = 0, c00 = 0, c01 = 0, c10 = 0, c11 = 0, a, b;
    int i;
    for (i = 0; i < n; i++) {
        mfx += from[2 * i]; mfy += from[2 * i + 1];
        mtx += to[2 * i]; mty += to[2 * i + 1];
    }
    mfx /= n; mfy /= n; mtx /= n; mty /= n;
    for (i = 0; i < n; i++) {
        double fx = from[2 * i] - mfx, fy = from[2 * i + 1] - mfy;
        double tx = to[2 * i] - mtx, ty = to[2 * i + 1] - mty;
        sf += fx * fx + fy * fy;
        c00 += tx * fx; c01 += tx * fy;
        c10 += ty * fx; c11 += ty * fy;
    }
    sf /= n; c00 /= n; c01 /= n; c10 /= n; c11 /= n;
    if (sf != 0) {
        a = (c00 + c11) / sf;
        b = (c10 - c01) / sf;
    } else {
        a = 1; b = 0;
    }
    t[0] = (float)a; t[1] = (float)-b;
    t[2] = (float)b; t[3] = (float)a;
}

/* Byte offset of the pixel nearest to (px, py) as dlib rounds (floor(x + 0.5)), or -1 when
   it lies outside the image (dlib reads those as 0). */
static int fnet__lm_pixel_offset(const fnet_image *img, double px, double py) {
    double fx = floor(px + 0.5), fy = floor(py + 0.5);
    if (!(fx >= 0 && fy >= 0 && fx < img->width && fy < img->height)) return -1;
    return (int)((size_t)(int)fy * (size_t)img->stride + (size_t)(int)fx * (size_t)img->channels);
}

/* The float nearest to v, moved by one ulp toward v where rounding to float would carry it
   across a .5 boundary: floor(result + 0.5) is then dlib's integer (floor(v + 0.5)). */
static float fnet__lm_to_float(double v) {
    float f = (float)v;
    double want = floor(v + 0.5);
    if (floor((double)f + 0.5) != want) f = nextafterf(f, f > v ? -FLT_MAX : FLT_MAX);
    return f;
}

FNET_API fnet_result fnet_landmarks(const fnet_model *model, fnet_image img, fnet_box box,
                                    fnet_point *points) {
    const fnet__lm *lm;
    float cur[2 * FNET__LM_MAX_POINTS];
    float feat[FNET__LM_MAX_POOL];
    int pix[FNET__LM_MAX_POOL]; /* < 2^30: FNET_MAX_IMAGE_SIDE^2 * 4 channels */
    unsigned char leaf_of[FNET__LM_MAX_TREES];
    double bt[6];
    fnet_result r;
    int N, P, T, S, c, i, t;
    if (!model || !points) return FNET_ERR_INVALID_ARGUMENT;
    if (model->kind != FNET_MODEL_LANDMARKS || !model->stage) return FNET_ERR_WRONG_MODEL;
    if ((r = fnet__check_image(&img)) != FNET_OK) return r;
    if ((double)img.stride * (double)img.height > (double)INT_MAX) return FNET_ERR_IMAGE_TOO_LARGE; /* int offsets */
    if (box.right < box.left || box.bottom < box.top) return FNET_ERR_INVALID_ARGUMENT;
    if (fabs((double)box.left) > FNET__LM_MAX_COORD || fabs((double)box.right) > FNET__LM_MAX_COORD ||
        fabs((double)box.top) > FNET__LM_MAX_COORD || fabs((double)box.bottom) > FNET__LM_MAX_COORD)
        return FNET_ERR_INVALID_ARGUMENT;
    lm = (const fnet__lm *)model->stage;
    N = lm->n_points; P = lm->pool; T = lm->n_trees; S = lm->n_splits;
    fnet__lm_box_tform(box, bt);
    memcpy(cur, lm->initial, sizeof(float) * 2 * (size_t)N);
    for (c = 0; c < lm->n_casc; c++) {
        const unsigned short *anchor = lm->anchor + (size_t)c * P;
        const float *delta = lm->deltas + (size_t)c * P * 2;
        const unsigned short *sidx = lm->split_idx + (size_t)c * T * S * 2;
        const float *thr = lm->thresh + (size_t)c * T * S;
        const unsigned char *leaves = lm->leaves + (size_t)c * T * lm->n_leaves * lm->leaf_bytes;
        float tf[4];
        /* a. where the mean shape went */
        fnet__lm_similarity(lm->initial, cur, N, tf);
        /* b. feature pixels: anchor + transformed delta, box units -> image. First every
           pixel's address (prefetched: they are scattered over the face), then the reads. */
        for (i = 0; i < P; i++) {
            float dx = delta[2 * i], dy = delta[2 * i + 1];
            float ux = tf[0] * dx + tf[1] * dy, uy = tf[2] * dx + tf[3] * dy;
            double px, py;
            ux += cur[2 * anchor[i]];
            uy += cur[2 * anchor[i] + 1];
            px = bt[0] * (double)ux + bt[1] * (double)uy + bt[2];
            py = bt[3] * (double)ux + bt[4] * (double)uy + bt[5];
            pix[i] = fnet__lm_pixel_offset(&img, px, py);
#if defined(FNET__X86)
            if (pix[i] >= 0) _mm_prefetch((const char *)img.pixels + pix[i], _MM_HINT_T0);
#endif
        }
        for (i = 0; i < P; i++) {
            const unsigned char *q = img.pixels + pix[i];
            if (pix[i] < 0) feat[i] = 0.0f;
            else if (img.channels == 1) feat[i] = (float)q[0];
            else feat[i] = (float)(((unsigned)q[0] + (unsigned)q[1] + (unsigned)q[2]) / 3u);
        }
        /* c. every tree picks a leaf from the same features ... */
        for (t = 0; t < T; t++) {
            const unsigned short *si = sidx + (size_t)t * S * 2;
            const float *th = thr + (size_t)t * S;
            int node = 0;
            while (node < S) /* left (2n+1) when the difference exceeds the threshold; no branch */
                node = 2 * node + 2 - (feat[si[2 * node]] - feat[si[2 * node + 1]] > th[node]);
            leaf_of[t] = (unsigned char)(node - S);
        }
        /* ... then the leaves are added in tree order (dlib's order of float additions) */
        for (t = 0; t < T; t++) {
            const unsigned char *leaf = leaves + ((size_t)t * lm->n_leaves + leaf_of[t]) * lm->leaf_bytes;
#if defined(FNET__X86)
            if (t + FNET__LM_PREFETCH < T) {
                const char *nx = (const char *)leaves +
                                 ((size_t)(t + FNET__LM_PREFETCH) * lm->n_leaves + leaf_of[t + FNET__LM_PREFETCH]) * lm->leaf_bytes;
                size_t o;
                for (o = 0; o < lm->leaf_bytes; o += 64) _mm_prefetch(nx + o, _MM_HINT_T0);
            }
#endif
            fnet__lm_add_leaf(model->isa, lm, cur, leaf, lm->leaf_scale ? lm->leaf_scale[(size_t)c * T + t] : 1.0f);
        }
    }
    /* 3. box units -> image, unrounded */
    for (i = 0; i < N; i++) {
        double px = bt[0] * (double)cur[2 * i] + bt[1] * (double)cur[2 * i + 1] + bt[2];
        double py = bt[3] * (double)cur[2 * i] + bt[4] * (double)cur[2 * i + 1] + bt[5];
        points[i].x = fnet__lm_to_float(px);
        points[i].y = fnet__lm_to_float(py);
    }
    return FNET_OK;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* ==== 2b. Training the shape predictor: gradient boosting of regression trees (Kazemi & Sullivan 2014)

   Paper: V. Kazemi and J. Sullivan, "One Millisecond Face Alignment with an Ensemble of
   Regression Trees", CVPR 2014; the details the paper leaves open are dlib's
   (shape_predictor_trainer): this section makes the models section 2 runs.

   The objective. Each training face i has a true shape S_i (its points in box units) and a
   current estimate s_i. A cascade level fits a function r(features) to the residuals
   S_i - s_i by least squares, then moves every estimate by it: s_i += r. The features are
   pixel intensities read relative to the current estimate (section 2, step b), so each
   cascade sees the face as its predecessors left it.

   The fitting is gradient boosting (Friedman 2001) with squared loss: r is a sum of T
   regression trees, tree t fit to the residuals that trees 1..t-1 left, its leaves shrunk
   by nu (a learning rate; small nu and many trees generalise better). A tree of depth D is
   grown level by level. At a node holding the faces Q, with residual sum sum_Q:
     - draw num_test_splits candidates: a pixel pair (u, v) from the cascade's pool, kept with
       probability exp(-|u - v| / lambda) (nearby pairs are more robust to lighting: the
       paper's exponential prior), and a threshold uniform in [-64, 64);
     - a candidate sends face i left when feature[u] - feature[v] > threshold. The split that
       minimises the summed squared error of the two halves around their means is the one
       that maximises |sum_L|^2 / n_L + |sum_R|^2 / n_R (the error is sum |r|^2 minus this),
       so only the left sums are needed: sum_R = sum_Q - sum_L;
   a leaf stores nu * (mean residual of its faces) (per coordinate: over the faces where the
   point is present; absent points keep zero residual).
   Training data are augmented: every face gets `oversampling` starting shapes, the mean
   shape and random convex mixtures of other faces' true shapes (dlib's recipe), so the
   cascade learns to recover from many starts while it runs from the mean shape only.
   Feature pixels: per cascade, feature_pool_size points drawn uniformly over the mean
   shape's bounding box, each stored as its nearest mean-shape point (anchor) + offset.

   Cost and how it is spent: the split search is the work (levels x candidates x faces x
   2N additions per tree). For each candidate the faces are listed left and right without
   branches, and only the smaller side is summed (the other is sum_Q minus it). The
   candidates of a tree level run as independent tasks, each summing its faces in a fixed
   order, so the model is the same bit for bit whatever the number of threads. The random
   draws come from one SplitMix64 stream (seed), drawn in the same order on every run.
   Not dlib's generator, so a model equals dlib's in quality, not in its bits.

   Measured (tools/bench/bench_train_landmarks.sh; tests/test_train_landmarks*.{c,py}), against
   dlib 19.24's trainer on the same faces, parameters and 2 threads, errors as dlib's example
   measures them (mean point error / eye-centre distance; NME: / outer eye corners), means
   over seeds 0-3 (dlib: 4 seeds):
     dlib's example (18 faces, oversampling 300, nu 0.05, depth 2): testing error 0.0914
       against dlib's 0.0898, +1.8%, within the spread between seeds (5%); with 100 trees
       per cascade (the CI test, 5 seeds) 0.1009 against 0.1001, +0.8%;
     LFPW, 68 points, dlib's defaults, 180 faces, 44 held aside: NME 0.0587 against 0.0581,
       +0.9%; training NME 0.00134 against 0.00139.
   Training time against dlib's: the README's table (tools/bench/bench_train_landmarks.sh).
   The model is 44 MB for dlib's defaults (f32 leaves: C x T x 2^D x 2N floats).
   A 5-point model (dlib's scheme: eye corners, nose base; `make landmarks5`: 2278 lfw-train
   faces labelled by the iBUG-trained 68-point model, dlib's defaults) trains in 91 s, is
   3.8 MB, runs about five times faster than the 68-point model, NME 0.023 on 253 faces held
   aside; with FNET_ALIGN_DLIB_CHIP_5 chips the ResNet scores 98.50% on lfw-dev (eval-lfw
   --retry-threshold -0.5) against 98.72% with the 68-point model's chips. */

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

static unsigned long long fnet__rng_next(unsigned long long *s); /* section 5 */
static double fnet__rng_uniform(unsigned long long *s);

struct fnet_shape_model {
    int n_points, n_casc, n_trees, depth, pool, n_faces;
    float *initial;            /* (N, 2) the mean shape */
    unsigned short *anchor;    /* (C, P) */
    float *deltas;             /* (C, P, 2) */
    unsigned short *split_idx; /* (C, T, S, 2) */
    float *thresh;             /* (C, T, S) */
    float *leaves;             /* (C, T, L, 2N) */
    fnet_shape_train_opts o;   /* with the defaults filled in */
};

FNET_API void fnet_shape_model_free(fnet_shape_model *m) {
    if (!m) return;
    FNET_FREE(m->initial); FNET_FREE(m->anchor); FNET_FREE(m->deltas);
    FNET_FREE(m->split_idx); FNET_FREE(m->thresh); FNET_FREE(m->leaves);
    FNET_FREE(m);
}

typedef struct fnet__sp_cand { int idx1, idx2; float thresh; } fnet__sp_cand;

/* The trainer's working state. A "sample" is one (face, starting shape) pair. */
typedef struct fnet__sp {
    const fnet_shape_sample *faces;
    fnet_image *img;       /* (faces) the images, strides filled in */
    int N, n2, P, K, n_samples, over, all_present;
    fnet_isa isa;
    const float *initial;
    const unsigned short *anchor; const float *deltas;     /* the current cascade's */
    int *face_of;          /* sample -> face */
    unsigned char *present;/* (faces, 2N) 0/1 */
    float *target, *cur, *diff;   /* (samples, 2N) */
    unsigned char *feat;   /* (P, samples): feature p of every sample in a row, so that a
                              split candidate reads two rows */
    int *order;            /* samples grouped by tree node */
    int *lists;            /* (K, samples): per candidate, left from the front, right from the back */
    int *nb, *ne;          /* node ranges in order[] (2^(D+1) - 1 nodes) */
    float *node_sum;       /* (nodes, 2N) */
    fnet__sp_cand *cand;   /* (2^(D-1) * K) candidates of the level being grown */
    float *cand_left;      /* (.., 2N) their left sums */
    int *cand_nl;
    double *cand_score;
    int level_first;       /* first node id of the level */
    float *leaf;           /* (L, 2N) leaf values of the tree being fitted */
    int *leaf_of;          /* sample -> leaf */
    float *block_sum;      /* (blocks, 2N) */
    int diff_ready;        /* diff and block_sum are up to date with cur */
} fnet__sp;

#define FNET__SP_BLOCK 64 /* samples per task in element-wise passes (fixed: results do not
                             depend on the thread count) */

static void fnet__sp_run(const fnet_shape_train_opts *o, int n, void (*fn)(void *, int), void *ctx) {
    int i;
    if (o->parallel_for && n > 1) o->parallel_for(o->parallel_user, n, fn, ctx);
    else for (i = 0; i < n; i++) fn(ctx, i);
}

/* acc[0..n) += v[0..n): section 2's leaf kernels (same additions in the same order on
   every kernel set) */
static void fnet__sp_add(fnet_isa isa, float *acc, const float *v, int n) {
    (void)isa;
#if defined(FNET__X86)
    if (isa == FNET_ISA_AVX2) { fnet__lm_add_f32_avx2(acc, v, n); return; }
    if (isa == FNET_ISA_SSE2) { fnet__lm_add_f32_sse2(acc, v, n); return; }
#endif
#if defined(FNET__NEON)
    if (isa == FNET_ISA_NEON) { fnet__lm_add_f32_neon(acc, v, n); return; }
#endif
#if defined(FNET__WASM_SIMD)
    if (isa == FNET_ISA_WASM_SIMD) { fnet__lm_add_f32_wasm(acc, v, n); return; }
#endif
    fnet__lm_add_f32_scalar(acc, v, n);
}

/* acc += the rows base[idx[0]], base[idx[step]], ... (n rows of n2 floats), each element
   summed row after row in list order on every kernel set (so all give the same bits); the
   SIMD kernels keep a strip of acc in registers while they run down the list. */
static void fnet__sp_sum_rows_scalar(float *acc, const float *base, const int *idx, int step, int n, int n2) {
    int j, k;
    for (j = 0; j < n; j++) {
        const float *r = base + (size_t)idx[j * step] * n2;
        for (k = 0; k < n2; k++) acc[k] += r[k];
    }
}
#if defined(FNET__X86)
static void fnet__sp_sum_rows_sse2(float *acc, const float *base, const int *idx, int step, int n, int n2) {
    int j, k0 = 0;
    for (; k0 + 32 <= n2; k0 += 32) {
        __m128 a0 = _mm_loadu_ps(acc + k0), a1 = _mm_loadu_ps(acc + k0 + 4), a2 = _mm_loadu_ps(acc + k0 + 8),
               a3 = _mm_loadu_ps(acc + k0 + 12), a4 = _mm_loadu_ps(acc + k0 + 16), a5 = _mm_loadu_ps(acc + k0 + 20),
               a6 = _mm_loadu_ps(acc + k0 + 24), a7 = _mm_loadu_ps(acc + k0 + 28);
        for (j = 0; j < n; j++) {
            const float *r = base + (size_t)idx[j * step] * n2 + k0;
            a0 = _mm_add_ps(a0, _mm_loadu_ps(r)); a1 = _mm_add_ps(a1, _mm_loadu_ps(r + 4));
            a2 = _mm_add_ps(a2, _mm_loadu_ps(r + 8)); a3 = _mm_add_ps(a3, _mm_loadu_ps(r + 12));
            a4 = _mm_add_ps(a4, _mm_loadu_ps(r + 16)); a5 = _mm_add_ps(a5, _mm_loadu_ps(r + 20));
            a6 = _mm_add_ps(a6, _mm_loadu_ps(r + 24)); a7 = _mm_add_ps(a7, _mm_loadu_ps(r + 28));
        }
        _mm_storeu_ps(acc + k0, a0); _mm_storeu_ps(acc + k0 + 4, a1); _mm_storeu_ps(acc + k0 + 8, a2);
        _mm_storeu_ps(acc + k0 + 12, a3); _mm_storeu_ps(acc + k0 + 16, a4); _mm_storeu_ps(acc + k0 + 20, a5);
        _mm_storeu_ps(acc + k0 + 24, a6); _mm_storeu_ps(acc + k0 + 28, a7);
    }
    for (; k0 + 4 <= n2; k0 += 4) {
        __m128 a = _mm_loadu_ps(acc + k0);
        for (j = 0; j < n; j++) a = _mm_add_ps(a, _mm_loadu_ps(base + (size_t)idx[j * step] * n2 + k0));
        _mm_storeu_ps(acc + k0, a);
    }
    for (; k0 < n2; k0++)
        for (j = 0; j < n; j++) acc[k0] += base[(size_t)idx[j * step] * n2 + k0];
}
FNET__AVX2_FN static void fnet__sp_sum_rows_avx2(float *acc, const float *base, const int *idx, int step, int n, int n2) {
    int j, k0 = 0;
    for (; k0 + 64 <= n2; k0 += 64) {
        __m256 a0 = _mm256_loadu_ps(acc + k0), a1 = _mm256_loadu_ps(acc + k0 + 8), a2 = _mm256_loadu_ps(acc + k0 + 16),
               a3 = _mm256_loadu_ps(acc + k0 + 24), a4 = _mm256_loadu_ps(acc + k0 + 32), a5 = _mm256_loadu_ps(acc + k0 + 40),
               a6 = _mm256_loadu_ps(acc + k0 + 48), a7 = _mm256_loadu_ps(acc + k0 + 56);
        for (j = 0; j < n; j++) {
            const float *r = base + (size_t)idx[j * step] * n2 + k0;
            a0 = _mm256_add_ps(a0, _mm256_loadu_ps(r)); a1 = _mm256_add_ps(a1, _mm256_loadu_ps(r + 8));
            a2 = _mm256_add_ps(a2, _mm256_loadu_ps(r + 16)); a3 = _mm256_add_ps(a3, _mm256_loadu_ps(r + 24));
            a4 = _mm256_add_ps(a4, _mm256_loadu_ps(r + 32)); a5 = _mm256_add_ps(a5, _mm256_loadu_ps(r + 40));
            a6 = _mm256_add_ps(a6, _mm256_loadu_ps(r + 48)); a7 = _mm256_add_ps(a7, _mm256_loadu_ps(r + 56));
        }
        _mm256_storeu_ps(acc + k0, a0); _mm256_storeu_ps(acc + k0 + 8, a1); _mm256_storeu_ps(acc + k0 + 16, a2);
        _mm256_storeu_ps(acc + k0 + 24, a3); _mm256_storeu_ps(acc + k0 + 32, a4); _mm256_storeu_ps(acc + k0 + 40, a5);
        _mm256_storeu_ps(acc + k0 + 48, a6); _mm256_storeu_ps(acc + k0 + 56, a7);
    }
    for (; k0 + 8 <= n2; k0 += 8) {
        __m256 a = _mm256_loadu_ps(acc + k0);
        for (j = 0; j < n; j++) a = _mm256_add_ps(a, _mm256_loadu_ps(base + (size_t)idx[j * step] * n2 + k0));
        _mm256_storeu_ps(acc + k0, a);
    }
    for (; k0 < n2; k0++)
        for (j = 0; j < n; j++) acc[k0] += base[(size_t)idx[j * step] * n2 + k0];
}
#endif

static void fnet__sp_sum_rows(fnet_isa isa, float *acc, const float *base, const int *idx, int step, int n, int n2) {
    (void)isa;
#if defined(FNET__X86)
    if (isa == FNET_ISA_AVX2) { fnet__sp_sum_rows_avx2(acc, base, idx, step, n, n2); return; }
    if (isa == FNET_ISA_SSE2) { fnet__sp_sum_rows_sse2(acc, base, idx, step, n, n2); return; }
#endif
    fnet__sp_sum_rows_scalar(acc, base, idx, step, n, n2);
}

/* One sample's update, residual and block sum: c += leaf; d = target - c; bs += d (the
   same float steps as done one after another). */
static void fnet__sp_step_scalar(float *c, const float *leaf, const float *tg, float *d, float *bs, int n2) {
    int k;
    for (k = 0; k < n2; k++) {
        c[k] += leaf[k];
        d[k] = tg[k] - c[k];
        bs[k] += d[k];
    }
}
#if defined(FNET__X86)
static void fnet__sp_step_sse2(float *c, const float *leaf, const float *tg, float *d, float *bs, int n2) {
    int k = 0;
    for (; k + 4 <= n2; k += 4) {
        __m128 cv = _mm_add_ps(_mm_loadu_ps(c + k), _mm_loadu_ps(leaf + k));
        __m128 dv = _mm_sub_ps(_mm_loadu_ps(tg + k), cv);
        _mm_storeu_ps(c + k, cv);
        _mm_storeu_ps(d + k, dv);
        _mm_storeu_ps(bs + k, _mm_add_ps(_mm_loadu_ps(bs + k), dv));
    }
    fnet__sp_step_scalar(c + k, leaf + k, tg + k, d + k, bs + k, n2 - k);
}
FNET__AVX2_FN static void fnet__sp_step_avx2(float *c, const float *leaf, const float *tg, float *d, float *bs, int n2) {
    int k = 0;
    for (; k + 8 <= n2; k += 8) {
        __m256 cv = _mm256_add_ps(_mm256_loadu_ps(c + k), _mm256_loadu_ps(leaf + k));
        __m256 dv = _mm256_sub_ps(_mm256_loadu_ps(tg + k), cv);
        _mm256_storeu_ps(c + k, cv);
        _mm256_storeu_ps(d + k, dv);
        _mm256_storeu_ps(bs + k, _mm256_add_ps(_mm256_loadu_ps(bs + k), dv));
    }
    fnet__sp_step_scalar(c + k, leaf + k, tg + k, d + k, bs + k, n2 - k);
}
#endif
static void fnet__sp_step(fnet_isa isa, float *c, const float *leaf, const float *tg, float *d, float *bs, int n2) {
    (void)isa;
#if defined(FNET__X86)
    if (isa == FNET_ISA_AVX2) { fnet__sp_step_avx2(c, leaf, tg, d, bs, n2); return; }
    if (isa == FNET_ISA_SSE2) { fnet__sp_step_sse2(c, leaf, tg, d, bs, n2); return; }
#endif
    fnet__sp_step_scalar(c, leaf, tg, d, bs, n2);
}

/* Feature pixel values of one sample, exactly as fnet_landmarks reads them (section 2,
   step b), so the trees are fit on the values they will see. */
static void fnet__sp_features(const fnet__sp *t, int s) {
    const fnet_shape_sample *f = &t->faces[t->face_of[s]];
    const fnet_image *img = &t->img[t->face_of[s]];
    const float *cur = t->cur + (size_t)s * t->n2;
    unsigned char out[FNET__LM_MAX_POOL];
    double bt[6];
    float tf[4];
    int i;
    fnet__lm_box_tform(f->box, bt);
    fnet__lm_similarity(t->initial, cur, t->N, tf);
    for (i = 0; i < t->P; i++) {
        float dx = t->deltas[2 * i], dy = t->deltas[2 * i + 1];
        float ux = tf[0] * dx + tf[1] * dy, uy = tf[2] * dx + tf[3] * dy;
        double px, py;
        int off;
        ux += cur[2 * t->anchor[i]];
        uy += cur[2 * t->anchor[i] + 1];
        px = bt[0] * (double)ux + bt[1] * (double)uy + bt[2];
        py = bt[3] * (double)ux + bt[4] * (double)uy + bt[5];
        off = fnet__lm_pixel_offset(img, px, py);
        if (off < 0) out[i] = 0;
        else if (img->channels == 1) out[i] = img->pixels[off];
        else {
            const unsigned char *q = img->pixels + off;
            out[i] = (unsigned char)(((unsigned)q[0] + (unsigned)q[1] + (unsigned)q[2]) / 3u);
        }
    }
    for (i = 0; i < t->P; i++) t->feat[(size_t)i * t->n_samples + s] = out[i];
}

static void fnet__sp_features_task(void *ctx, int b) {
    fnet__sp *t = (fnet__sp *)ctx;
    int s, e = (b + 1) * FNET__SP_BLOCK < t->n_samples ? (b + 1) * FNET__SP_BLOCK : t->n_samples;
    for (s = b * FNET__SP_BLOCK; s < e; s++) fnet__sp_features(t, s);
}

/* Residuals diff = target - current of one block of samples, and their sum. */
static void fnet__sp_residuals(fnet__sp *t, int b) {
    int s, k, n2 = t->n2, e = (b + 1) * FNET__SP_BLOCK < t->n_samples ? (b + 1) * FNET__SP_BLOCK : t->n_samples;
    float *bs = t->block_sum + (size_t)b * n2;
    for (k = 0; k < n2; k++) bs[k] = 0.0f;
    for (s = b * FNET__SP_BLOCK; s < e; s++) {
        const float *tg = t->target + (size_t)s * n2, *c = t->cur + (size_t)s * n2;
        float *d = t->diff + (size_t)s * n2;
        for (k = 0; k < n2; k++) d[k] = tg[k] - c[k];
        fnet__sp_add(t->isa, bs, d, n2);
    }
}
static void fnet__sp_residual_task(void *ctx, int b) { fnet__sp_residuals((fnet__sp *)ctx, b); }

/* One candidate split of one node of the current level: its left sum and score. */
static void fnet__sp_split_task(void *ctx, int task) {
    fnet__sp *t = (fnet__sp *)ctx;
    const fnet__sp_cand *c = &t->cand[task];
    int node = t->level_first + task / t->K, k = task % t->K;
    int b = t->nb[node], e = t->ne[node], j, nl = 0, nr = 0, n2 = t->n2;
    int *left = t->lists + (size_t)k * t->n_samples + b, *right;
    float *L = t->cand_left + (size_t)task * n2;
    const float *sum = t->node_sum + (size_t)node * n2;
    const unsigned char *f1 = t->feat + (size_t)c->idx1 * t->n_samples, *f2 = t->feat + (size_t)c->idx2 * t->n_samples;
    const int *order = t->order;
    /* the difference of two bytes is a whole number d: d > thresh exactly when d > floor(thresh) */
    int th = (int)floor(c->thresh);
    double sl = 0, sr = 0;
    if (e == b) { /* an empty node: every candidate is void */
        for (j = 0; j < n2; j++) L[j] = 0.0f;
        t->cand_nl[task] = 0;
        t->cand_score[task] = -1.0;
        return;
    }
    right = left + (e - b) - 1;
    for (j = b; j < e; j++) {
        int s = order[j];
        int go = (int)f1[s] - (int)f2[s] > th;
        left[nl] = s;     /* written to both lists; only one count moves */
        right[-nr] = s;
        nl += go;
        nr += 1 - go;
    }
    for (j = 0; j < n2; j++) L[j] = 0.0f;
    if (nl <= nr) {
        fnet__sp_sum_rows(t->isa, L, t->diff, left, 1, nl, n2);
    } else {
        fnet__sp_sum_rows(t->isa, L, t->diff, right, -1, nr, n2);
        for (j = 0; j < n2; j++) L[j] = sum[j] - L[j];
    }
    t->cand_nl[task] = nl;
    if (nl == 0 || nr == 0) { t->cand_score[task] = -1.0; return; }
    for (j = 0; j < n2; j++) {
        double l = L[j], r = (float)(sum[j] - L[j]);
        sl += l * l;
        sr += r * r;
    }
    t->cand_score[task] = sl / nl + sr / nr;
}

/* Adds each sample's leaf to its current shape (absent points: the target follows, so
   their residual stays 0), then the next tree's residuals while the block is in cache. */
static void fnet__sp_update_task(void *ctx, int b) {
    fnet__sp *t = (fnet__sp *)ctx;
    int s, k, n2 = t->n2, e = (b + 1) * FNET__SP_BLOCK < t->n_samples ? (b + 1) * FNET__SP_BLOCK : t->n_samples;
    if (t->all_present) { /* the three steps in one pass over each sample */
        float *bs = t->block_sum + (size_t)b * n2;
        for (k = 0; k < n2; k++) bs[k] = 0.0f;
        for (s = b * FNET__SP_BLOCK; s < e; s++)
            fnet__sp_step(t->isa, t->cur + (size_t)s * n2, t->leaf + (size_t)t->leaf_of[s] * n2,
                          t->target + (size_t)s * n2, t->diff + (size_t)s * n2, bs, n2);
        return;
    }
    for (s = b * FNET__SP_BLOCK; s < e; s++) {
        float *c = t->cur + (size_t)s * n2;
        fnet__sp_add(t->isa, c, t->leaf + (size_t)t->leaf_of[s] * n2, n2);
        if (!t->all_present) {
            const unsigned char *pr = t->present + (size_t)t->face_of[s] * n2;
            float *tg = t->target + (size_t)s * n2;
            for (k = 0; k < n2; k++)
                if (!pr[k]) tg[k] = c[k];
        }
    }
    fnet__sp_residuals(t, b);
}

/* A split candidate: a pixel pair drawn with the exponential distance prior (up to P^2
   tries, as dlib), and a threshold in [-64, 64). */
static fnet__sp_cand fnet__sp_draw(unsigned long long *rng, const float *pc, int P, double lambda) {
    fnet__sp_cand c;
    long it, max_it = (long)P * P;
    c.idx1 = c.idx2 = 0;
    for (it = 0; it < max_it; it++) {
        double dx, dy;
        c.idx1 = (int)(fnet__rng_next(rng) % (unsigned)P);
        do c.idx2 = (int)(fnet__rng_next(rng) % (unsigned)P); while (c.idx2 == c.idx1);
        dx = (double)pc[2 * c.idx1] - pc[2 * c.idx2];
        dy = (double)pc[2 * c.idx1 + 1] - pc[2 * c.idx2 + 1];
        if (exp(-sqrt(dx * dx + dy * dy) / lambda) > fnet__rng_uniform(rng)) break;
    }
    c.thresh = (float)((fnet__rng_uniform(rng) * 256.0 - 128.0) / 2.0);
    return c;
}

/* Fits one tree to the residuals; writes its splits and leaves and moves the samples. */
static void fnet__sp_tree(fnet__sp *t, const fnet_shape_train_opts *o, unsigned long long *rng,
                          const float *pc, unsigned short *split_idx, float *thresh, float *leaves) {
    int n2 = t->n2, D = o->tree_depth, S = (1 << D) - 1, L = S + 1, K = t->K;
    int nblocks = (t->n_samples + FNET__SP_BLOCK - 1) / FNET__SP_BLOCK;
    int b, j, k, d, node, l;
    float nu = (float)o->nu;
    /* residuals (left by the previous tree's update) and their total (block sums added in
       block order) */
    if (!t->diff_ready) fnet__sp_run(o, nblocks, fnet__sp_residual_task, t);
    t->diff_ready = 1;
    for (k = 0; k < n2; k++) t->node_sum[k] = 0.0f;
    for (b = 0; b < nblocks; b++) fnet__sp_add(t->isa, t->node_sum, t->block_sum + (size_t)b * n2, n2);
    for (j = 0; j < t->n_samples; j++) t->order[j] = j;
    t->nb[0] = 0;
    t->ne[0] = t->n_samples;
    /* grow level by level: draw every node's candidates, score them all, split */
    for (d = 0; d < D; d++) {
        int first = (1 << d) - 1, nn = 1 << d;
        t->level_first = first;
        for (j = 0; j < nn * K; j++) t->cand[j] = fnet__sp_draw(rng, pc, t->P, o->lambda);
        fnet__sp_run(o, nn * K, fnet__sp_split_task, t);
        for (j = 0; j < nn; j++) {
            int best = 0, nb, ne, nl, *left, *right;
            double bs = -1.0;
            const float *Lsum;
            float *ls, *rs;
            const float *sum;
            node = first + j;
            for (k = 0; k < K; k++)
                if (t->cand_score[j * K + k] > bs) { bs = t->cand_score[j * K + k]; best = k; }
            split_idx[2 * node] = (unsigned short)t->cand[j * K + best].idx1;
            split_idx[2 * node + 1] = (unsigned short)t->cand[j * K + best].idx2;
            thresh[node] = t->cand[j * K + best].thresh;
            /* children: sums, and the node's samples reordered left then right (in order) */
            sum = t->node_sum + (size_t)node * n2;
            Lsum = t->cand_left + (size_t)(j * K + best) * n2;
            ls = t->node_sum + (size_t)(2 * node + 1) * n2;
            rs = t->node_sum + (size_t)(2 * node + 2) * n2;
            for (k = 0; k < n2; k++) { ls[k] = Lsum[k]; rs[k] = sum[k] - Lsum[k]; }
            nb = t->nb[node]; ne = t->ne[node];
            nl = t->cand_nl[j * K + best];
            left = t->lists + (size_t)best * t->n_samples + nb;
            right = left + (ne - nb); /* the right list ends here, written backwards */
            for (k = 0; k < nl; k++) t->order[nb + k] = left[k];
            for (k = 0; k < ne - nb - nl; k++) t->order[nb + nl + k] = right[-1 - k];
            t->nb[2 * node + 1] = nb; t->ne[2 * node + 1] = nb + nl;
            t->nb[2 * node + 2] = nb + nl; t->ne[2 * node + 2] = ne;
        }
    }
    /* leaves: nu * mean residual (per coordinate, over the samples where it is present) */
    for (l = 0; l < L; l++) {
        int nb = t->nb[S + l], ne = t->ne[S + l];
        const float *sum = t->node_sum + (size_t)(S + l) * n2;
        float *lv = t->leaf + (size_t)l * n2;
        for (j = nb; j < ne; j++) t->leaf_of[t->order[j]] = l;
        if (ne == nb) { for (k = 0; k < n2; k++) lv[k] = 0.0f; continue; }
        if (t->all_present) {
            float inv = 1.0f / (float)(ne - nb);
            for (k = 0; k < n2; k++) lv[k] = sum[k] * nu * inv;
        } else {
            for (k = 0; k < n2; k++) {
                int cnt = 0;
                for (j = nb; j < ne; j++) cnt += t->present[(size_t)t->face_of[t->order[j]] * n2 + k];
                lv[k] = cnt ? sum[k] * nu * (1.0f / (float)cnt) : 0.0f;
            }
        }
    }
    memcpy(leaves, t->leaf, sizeof(float) * (size_t)L * n2);
    fnet__sp_run(o, nblocks, fnet__sp_update_task, t);
}

static fnet_result fnet__sp_check_opts(const fnet_shape_train_opts *in, fnet_shape_train_opts *o) {
    fnet_shape_train_opts z;
    memset(&z, 0, sizeof(z));
    *o = in ? *in : z;
    if (!o->cascade_depth) o->cascade_depth = 10;
    if (!o->tree_depth) o->tree_depth = 4;
    if (!o->trees_per_level) o->trees_per_level = 500;
    if (o->nu == 0) o->nu = 0.1;
    if (!o->oversampling) o->oversampling = 20;
    if (!o->feature_pool_size) o->feature_pool_size = 400;
    if (o->lambda == 0) o->lambda = 0.1;
    if (!o->num_test_splits) o->num_test_splits = 20;
    if (o->cascade_depth < 0 || o->tree_depth < 0 || o->trees_per_level < 0 || !(o->nu > 0 && o->nu <= 1) ||
        o->oversampling < 0 || !(o->translation_jitter >= 0 && o->translation_jitter < 1e6) ||
        o->feature_pool_size < 2 || !(o->lambda > 0 && o->lambda < 1e30) || o->num_test_splits < 0 ||
        !(o->padding > -0.5 && o->padding < 1e6) || o->num_test_splits > 4096 || o->oversampling > 1000000)
        return FNET_ERR_INVALID_ARGUMENT;
    if (o->cascade_depth > FNET__LM_MAX_CASCADES || o->tree_depth > FNET__LM_MAX_DEPTH ||
        o->trees_per_level > FNET__LM_MAX_TREES || o->feature_pool_size > FNET__LM_MAX_POOL)
        return FNET_ERR_TOO_LARGE;
    return FNET_OK;
}

FNET_API fnet_result fnet_shape_train(const fnet_shape_sample *samples, int n, int n_points,
                                      const fnet_shape_train_opts *opts, fnet_shape_model **out) {
    fnet_shape_train_opts o;
    fnet__sp t;
    fnet_shape_model *m = NULL;
    fnet_result r;
    unsigned long long rng;
    float *mean = NULL, *pc = NULL, *hits = NULL;
    double *msum = NULL, *mcnt = NULL;
    int i, k, c, n2, C, T, P, S, L, D, nodes, maxc, nblocks;
    size_t ns;
    if (out) *out = NULL;
    if (!samples || !out || n < 1 || n_points < 2) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__sp_check_opts(opts, &o)) != FNET_OK) return r;
    if (n_points > FNET__LM_MAX_POINTS) return FNET_ERR_TOO_LARGE;
    {   /* samples are counted in int; their working memory must be addressable */
        double ns_d = (double)n * o.oversampling;
        double bytes = ns_d * (24.0 * n_points + o.feature_pool_size + 4.0 * o.num_test_splits + 16.0);
        if (ns_d > (double)(INT_MAX / 2) || bytes > (double)((size_t)-1 / 4)) return FNET_ERR_TOO_LARGE;
    }
    for (i = 0; i < n; i++) {
        const fnet_shape_sample *f = &samples[i];
        fnet_image im = f->image;
        if ((r = fnet__check_image(&im)) != FNET_OK) return r;
        if ((double)im.stride * (double)im.height > (double)INT_MAX) return FNET_ERR_IMAGE_TOO_LARGE;
        if (f->box.right <= f->box.left || f->box.bottom <= f->box.top || !f->points) return FNET_ERR_INVALID_ARGUMENT;
        if (fabs((double)f->box.left) > FNET__LM_MAX_COORD || fabs((double)f->box.right) > FNET__LM_MAX_COORD ||
            fabs((double)f->box.top) > FNET__LM_MAX_COORD || fabs((double)f->box.bottom) > FNET__LM_MAX_COORD)
            return FNET_ERR_INVALID_ARGUMENT;
        for (k = 0; k < n_points; k++)
            if ((!f->present || f->present[k]) && !(fabs((double)f->points[k].x) <= FNET__LM_MAX_COORD &&
                                                   fabs((double)f->points[k].y) <= FNET__LM_MAX_COORD))
                return f->points[k].x == f->points[k].x && f->points[k].y == f->points[k].y
                           ? FNET_ERR_INVALID_ARGUMENT : FNET_ERR_NOT_FINITE;
    }
    memset(&t, 0, sizeof(t));
    n2 = 2 * n_points;
    C = o.cascade_depth; T = o.trees_per_level; P = o.feature_pool_size; D = o.tree_depth;
    S = (1 << D) - 1; L = S + 1; nodes = 2 * S + 1; maxc = (L / 2) * o.num_test_splits;
    t.faces = samples; t.N = n_points; t.n2 = n2; t.P = P; t.K = o.num_test_splits;
    t.over = o.oversampling; t.n_samples = n * o.oversampling;
    ns = (size_t)t.n_samples;
    nblocks = (t.n_samples + FNET__SP_BLOCK - 1) / FNET__SP_BLOCK;
    fnet__resolve_isa(FNET_ISA_AUTO, &t.isa);
    m = (fnet_shape_model *)FNET_MALLOC(sizeof(*m));
    if (!m) return FNET_ERR_OUT_OF_MEMORY;
    memset(m, 0, sizeof(*m));
    m->n_points = n_points; m->n_casc = C; m->n_trees = T; m->depth = D; m->pool = P; m->n_faces = n;
    m->o = o;
    m->initial = (float *)FNET_MALLOC(sizeof(float) * (size_t)n2);
    m->anchor = (unsigned short *)FNET_MALLOC(sizeof(unsigned short) * (size_t)C * P);
    m->deltas = (float *)FNET_MALLOC(sizeof(float) * (size_t)C * P * 2);
    m->split_idx = (unsigned short *)FNET_MALLOC(sizeof(unsigned short) * (size_t)C * T * S * 2);
    m->thresh = (float *)FNET_MALLOC(sizeof(float) * (size_t)C * T * S);
    m->leaves = (float *)FNET_MALLOC(sizeof(float) * (size_t)C * T * L * n2);
    t.img = (fnet_image *)FNET_MALLOC(sizeof(fnet_image) * (size_t)n);
    t.face_of = (int *)FNET_MALLOC(sizeof(int) * ns);
    t.present = (unsigned char *)FNET_MALLOC((size_t)n * n2);
    t.target = (float *)FNET_MALLOC(sizeof(float) * ns * n2);
    t.cur = (float *)FNET_MALLOC(sizeof(float) * ns * n2);
    t.diff = (float *)FNET_MALLOC(sizeof(float) * ns * n2);
    t.feat = (unsigned char *)FNET_MALLOC(ns * P);
    t.order = (int *)FNET_MALLOC(sizeof(int) * ns);
    t.lists = (int *)FNET_MALLOC(sizeof(int) * ns * t.K);
    t.nb = (int *)FNET_MALLOC(sizeof(int) * (size_t)nodes);
    t.ne = (int *)FNET_MALLOC(sizeof(int) * (size_t)nodes);
    t.node_sum = (float *)FNET_MALLOC(sizeof(float) * (size_t)nodes * n2);
    t.cand = (fnet__sp_cand *)FNET_MALLOC(sizeof(fnet__sp_cand) * (size_t)maxc);
    t.cand_left = (float *)FNET_MALLOC(sizeof(float) * (size_t)maxc * n2);
    t.cand_nl = (int *)FNET_MALLOC(sizeof(int) * (size_t)maxc);
    t.cand_score = (double *)FNET_MALLOC(sizeof(double) * (size_t)maxc);
    t.leaf = (float *)FNET_MALLOC(sizeof(float) * (size_t)L * n2);
    t.leaf_of = (int *)FNET_MALLOC(sizeof(int) * ns);
    t.block_sum = (float *)FNET_MALLOC(sizeof(float) * (size_t)nblocks * n2);
    mean = (float *)FNET_MALLOC(sizeof(float) * (size_t)n2);
    hits = (float *)FNET_MALLOC(sizeof(float) * (size_t)n2);
    pc = (float *)FNET_MALLOC(sizeof(float) * (size_t)C * P * 2);
    msum = (double *)FNET_MALLOC(sizeof(double) * (size_t)n2);
    mcnt = (double *)FNET_MALLOC(sizeof(double) * (size_t)n2);
    if (!m->initial || !m->anchor || !m->deltas || !m->split_idx || !m->thresh || !m->leaves || !t.img || !t.face_of ||
        !t.present || !t.target || !t.cur || !t.diff || !t.feat || !t.order || !t.lists || !t.nb || !t.ne ||
        !t.node_sum || !t.cand || !t.cand_left || !t.cand_nl || !t.cand_score || !t.leaf || !t.leaf_of ||
        !t.block_sum || !mean || !hits || !pc || !msum || !mcnt) {
        r = FNET_ERR_OUT_OF_MEMORY;
        goto done;
    }
    for (i = 0; i < n; i++) {
        t.img[i] = samples[i].image;
        fnet__check_image(&t.img[i]);
    }
    rng = o.seed;
    /* 1. true shapes in box units (u = (x - left) / (right - left)), and the mean shape */
    for (k = 0; k < n2; k++) msum[k] = mcnt[k] = 0;
    t.all_present = 1;
    for (i = 0; i < n; i++) {
        const fnet_shape_sample *f = &samples[i];
        double w = (double)f->box.right - f->box.left, h = (double)f->box.bottom - f->box.top;
        float *tg = t.target + (size_t)i * o.oversampling * n2;
        for (k = 0; k < n_points; k++) {
            int pr = !f->present || f->present[k];
            t.present[(size_t)i * n2 + 2 * k] = t.present[(size_t)i * n2 + 2 * k + 1] = (unsigned char)pr;
            if (!pr) t.all_present = 0;
            tg[2 * k] = pr ? (float)((f->points[k].x - (double)f->box.left) / w) : 0.0f;
            tg[2 * k + 1] = pr ? (float)((f->points[k].y - (double)f->box.top) / h) : 0.0f;
            msum[2 * k] += tg[2 * k]; msum[2 * k + 1] += tg[2 * k + 1];
            mcnt[2 * k] += pr; mcnt[2 * k + 1] += pr;
        }
        for (c = 0; c < o.oversampling; c++) {
            t.face_of[(size_t)i * o.oversampling + c] = i;
            if (c) memcpy(tg + (size_t)c * n2, tg, sizeof(float) * (size_t)n2);
        }
    }
    for (k = 0; k < n2; k++) {
        if (mcnt[k] == 0) { r = FNET_ERR_INVALID_ARGUMENT; goto done; } /* a point never present */
        mean[k] = (float)(msum[k] / mcnt[k]);
    }
    memcpy(m->initial, mean, sizeof(float) * (size_t)n2);
    t.initial = m->initial;
    /* 2. starting shapes: the mean shape for each face's first sample, else a random convex
       mixture of at least two true shapes that covers every point */
    for (i = 0; i < t.n_samples; i++) {
        float *cs = t.cur + (size_t)i * n2;
        int it = 0, all;
        if (i % o.oversampling == 0) { memcpy(cs, mean, sizeof(float) * (size_t)n2); continue; }
        for (k = 0; k < n2; k++) cs[k] = hits[k] = 0.0f;
        do {
            int ri = (int)(fnet__rng_next(&rng) % (unsigned long long)t.n_samples);
            float a = (float)(fnet__rng_uniform(&rng) + 0.1);
            const float *rt = t.target + (size_t)ri * n2;
            const unsigned char *rp = t.present + (size_t)t.face_of[ri] * n2;
            for (k = 0; k < n2; k++) { cs[k] += a * rt[k]; hits[k] += a * (float)rp[k]; }
            it++;
            for (all = 1, k = 0; k < n2; k++) if (hits[k] == 0.0f) all = 0;
        } while (!all || it < 2);
        for (k = 0; k < n2; k++) cs[k] /= hits[k];
        if (o.translation_jitter != 0) {
            float jx = (float)((fnet__rng_uniform(&rng) * 2 - 1) * o.translation_jitter);
            float jy = (float)((fnet__rng_uniform(&rng) * 2 - 1) * o.translation_jitter);
            for (k = 0; k < n_points; k++) { cs[2 * k] += jx; cs[2 * k + 1] += jy; }
        }
    }
    if (!t.all_present)
        for (i = 0; i < t.n_samples; i++)
            for (k = 0; k < n2; k++)
                if (!t.present[(size_t)t.face_of[i] * n2 + k])
                    t.target[(size_t)i * n2 + k] = t.cur[(size_t)i * n2 + k];
    /* 3. feature pixel pools: uniform over the mean shape's box (+ padding), per cascade;
       each pixel is encoded as its nearest mean-shape point + offset */
    {
        double x0 = mean[0], y0 = mean[1], x1 = mean[0], y1 = mean[1];
        for (k = 1; k < n_points; k++) {
            if (mean[2 * k] < x0) x0 = mean[2 * k];
            if (mean[2 * k] > x1) x1 = mean[2 * k];
            if (mean[2 * k + 1] < y0) y0 = mean[2 * k + 1];
            if (mean[2 * k + 1] > y1) y1 = mean[2 * k + 1];
        }
        if (o.pad_box_relative) {
            if (x0 > 0) x0 = 0;
            if (y0 > 0) y0 = 0;
            if (x1 < 1) x1 = 1;
            if (y1 < 1) y1 = 1;
        }
        x0 -= o.padding; y0 -= o.padding; x1 += o.padding; y1 += o.padding;
        for (c = 0; c < C; c++)
            for (i = 0; i < P; i++) {
                float *p = pc + ((size_t)c * P + i) * 2;
                int best = 0;
                float bd = FLT_MAX;
                p[0] = (float)(fnet__rng_uniform(&rng) * (x1 - x0) + x0);
                p[1] = (float)(fnet__rng_uniform(&rng) * (y1 - y0) + y0);
                for (k = 0; k < n_points; k++) {
                    float dx = mean[2 * k] - p[0], dy = mean[2 * k + 1] - p[1], dd = dx * dx + dy * dy;
                    if (dd < bd) { bd = dd; best = k; }
                }
                m->anchor[(size_t)c * P + i] = (unsigned short)best;
                m->deltas[((size_t)c * P + i) * 2] = p[0] - mean[2 * best];
                m->deltas[((size_t)c * P + i) * 2 + 1] = p[1] - mean[2 * best + 1];
            }
    }
    /* 4. the cascade */
    for (c = 0; c < C; c++) {
        int tr;
        t.anchor = m->anchor + (size_t)c * P;
        t.deltas = m->deltas + (size_t)c * P * 2;
        fnet__sp_run(&o, nblocks, fnet__sp_features_task, &t);
        t.diff_ready = 0;
        for (tr = 0; tr < T; tr++) {
            size_t ti = (size_t)c * T + tr;
            fnet__sp_tree(&t, &o, &rng, pc + (size_t)c * P * 2, m->split_idx + ti * S * 2, m->thresh + ti * S,
                          m->leaves + ti * L * n2);
            if (o.progress) o.progress(o.progress_user, (int)ti + 1, C * T);
        }
    }
    r = FNET_OK;
done:
    FNET_FREE(t.img); FNET_FREE(t.face_of); FNET_FREE(t.present); FNET_FREE(t.target); FNET_FREE(t.cur); FNET_FREE(t.diff);
    FNET_FREE(t.feat); FNET_FREE(t.order); FNET_FREE(t.lists); FNET_FREE(t.nb); FNET_FREE(t.ne);
    FNET_FREE(t.node_sum); FNET_FREE(t.cand); FNET_FREE(t.cand_left); FNET_FREE(t.cand_nl);
    FNET_FREE(t.cand_score); FNET_FREE(t.leaf); FNET_FREE(t.leaf_of); FNET_FREE(t.block_sum);
    FNET_FREE(mean); FNET_FREE(hits); FNET_FREE(pc); FNET_FREE(msum); FNET_FREE(mcnt);
    if (r != FNET_OK) fnet_shape_model_free(m);
    else *out = m;
    return r;
}

/* Decimal text of a whole number (no stdio in the library). */
static void fnet__sp_u64(unsigned long long v, char *s) {
    char rev[24];
    int n = 0, i;
    do { rev[n++] = (char)('0' + (int)(v % 10u)); v /= 10u; } while (v);
    for (i = 0; i < n; i++) s[i] = rev[n - 1 - i];
    s[n] = 0;
}

/* Decimal text of v with up to 6 decimals. */
static void fnet__sp_num(double v, char *s) {
    char rev[40];
    unsigned long long ip, fp;
    int n = 0, i, neg = v < 0, dec = 6;
    if (neg) v = -v;
    if (v > 1e12) v = 1e12;
    fp = (unsigned long long)floor(v * 1e6 + 0.5);
    ip = fp / 1000000u;
    fp %= 1000000u;
    while (dec > 0 && fp % 10u == 0) { fp /= 10u; dec--; }
    for (i = 0; i < dec; i++) { rev[n++] = (char)('0' + (int)(fp % 10u)); fp /= 10u; }
    if (dec) rev[n++] = '.';
    do { rev[n++] = (char)('0' + (int)(ip % 10u)); ip /= 10u; } while (ip);
    if (neg) rev[n++] = '-';
    for (i = 0; i < n; i++) s[i] = rev[n - 1 - i];
    s[n] = 0;
}

#define FNET__SP_META 20

FNET_API fnet_result fnet_shape_model_save_blob(const fnet_shape_model *m, const char *const *keys,
                                                const char *const *values, int n_meta, void *buf,
                                                size_t cap, size_t *size) {
    static const char *const names[] = {"points", "cascades", "trees", "depth", "feature_pool",
                                        "nu", "oversampling", "lambda", "test_splits", "padding",
                                        "seed", "faces"};
    char num[12][40];
    const char *mk[FNET__SP_META + 32], *mv[FNET__SP_META + 32];
    fnet__blob_tensor tn[6];
    int i, j, nm = 0, N, C, T, S, L, P, have_src = 0, have_lic = 0;
    if (!m || !size || n_meta < 0 || (n_meta && (!keys || !values))) return FNET_ERR_INVALID_ARGUMENT;
    if (n_meta > 32) return FNET_ERR_TOO_LARGE;
    N = m->n_points; C = m->n_casc; T = m->n_trees; S = (1 << m->depth) - 1; L = S + 1; P = m->pool;
    fnet__sp_num(N, num[0]); fnet__sp_num(C, num[1]); fnet__sp_num(T, num[2]);
    fnet__sp_num(m->depth, num[3]); fnet__sp_num(P, num[4]); fnet__sp_num(m->o.nu, num[5]);
    fnet__sp_num(m->o.oversampling, num[6]); fnet__sp_num(m->o.lambda, num[7]);
    fnet__sp_num(m->o.num_test_splits, num[8]); fnet__sp_num(m->o.padding, num[9]);
    fnet__sp_u64(m->o.seed, num[10]); fnet__sp_num(m->n_faces, num[11]);
    for (i = 0; i < n_meta; i++) {
        if (!keys[i] || !values[i]) return FNET_ERR_INVALID_ARGUMENT;
        if (!strcmp(keys[i], "source")) have_src = 1;
        if (!strcmp(keys[i], "license")) have_lic = 1;
    }
    if (!have_src) { mk[nm] = "source"; mv[nm++] = "trained by facenet.h fnet_shape_train (Kazemi & Sullivan 2014, dlib's trainer)"; }
    if (!have_lic) { mk[nm] = "license"; mv[nm++] = "as the training data's annotations"; }
    for (i = 0; i < 12; i++) {
        int dup = 0;
        for (j = 0; j < n_meta; j++) if (!strcmp(keys[j], names[i])) dup = 1;
        if (!dup) { mk[nm] = names[i]; mv[nm++] = num[i]; }
    }
    mk[nm] = "leaves"; mv[nm++] = "f32";
    for (i = 0; i < n_meta; i++) {
        int dup = 0;
        for (j = 0; j < i; j++) if (!strcmp(keys[j], keys[i])) dup = 1;
        if (!strcmp(keys[i], "leaves")) dup = 1;
        if (!dup) { mk[nm] = keys[i]; mv[nm++] = values[i]; }
    }
    memset(tn, 0, sizeof(tn));
    for (i = 0; i < 6; i++) { tn[i].scale = 1.0f; tn[i].shape[0] = tn[i].shape[1] = tn[i].shape[2] = tn[i].shape[3] = 1; }
    tn[0].name = "initial_shape"; tn[0].dtype = FNET__F32; tn[0].ndim = 2;
    tn[0].shape[0] = N; tn[0].shape[1] = 2; tn[0].data = m->initial;
    tn[1].name = "anchor_idx"; tn[1].dtype = FNET__U16; tn[1].ndim = 2;
    tn[1].shape[0] = C; tn[1].shape[1] = P; tn[1].data = m->anchor;
    tn[2].name = "deltas"; tn[2].dtype = FNET__F32; tn[2].ndim = 3;
    tn[2].shape[0] = C; tn[2].shape[1] = P; tn[2].shape[2] = 2; tn[2].data = m->deltas;
    tn[3].name = "split_idx"; tn[3].dtype = FNET__U16; tn[3].ndim = 4;
    tn[3].shape[0] = C; tn[3].shape[1] = T; tn[3].shape[2] = S; tn[3].shape[3] = 2; tn[3].data = m->split_idx;
    tn[4].name = "split_thresh"; tn[4].dtype = FNET__F32; tn[4].ndim = 3;
    tn[4].shape[0] = C; tn[4].shape[1] = T; tn[4].shape[2] = S; tn[4].data = m->thresh;
    tn[5].name = "leaves"; tn[5].dtype = FNET__F32; tn[5].ndim = 4;
    tn[5].shape[0] = C; tn[5].shape[1] = T; tn[5].shape[2] = L; tn[5].shape[3] = 2 * N; tn[5].data = m->leaves;
    return fnet__blob_write(FNET_MODEL_LANDMARKS, 0, mk, mv, nm, tn, 6, NULL, 0, buf, cap, size);
}

#ifndef FNET_NO_STDIO
static fnet_result fnet__write_atomic(const char *path, const void *data, size_t n); /* section 5 */

FNET_API fnet_result fnet_shape_model_save_blob_file(const fnet_shape_model *m,
                                                     const char *const *keys,
                                                     const char *const *values, int n_meta,
                                                     const char *path) {
    size_t n = 0;
    void *b;
    fnet_result r;
    if (!path) return FNET_ERR_INVALID_ARGUMENT;
    r = fnet_shape_model_save_blob(m, keys, values, n_meta, NULL, 0, &n);
    if (r != FNET_OK) return r;
    b = FNET_MALLOC(n);
    if (!b) return FNET_ERR_OUT_OF_MEMORY;
    r = fnet_shape_model_save_blob(m, keys, values, n_meta, b, n, &n);
    if (r == FNET_OK) r = fnet__write_atomic(path, b, n);
    FNET_FREE(b);
    return r;
}
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* ==== 3. Alignment: affine warp to a canonical crop ======================================

   Two alignments, each reproducing its reference implementation pixel for pixel:

   OpenFace (FNET_ALIGN_OUTER_EYES_AND_NOSE, FNET_ALIGN_INNER_EYES_AND_BOTTOM_LIP): AlignDlib.
   align(size, img, landmarks=..., landmarkIndices=...). Three landmarks (e.g. the outer eye
   corners 36, 45 and the nose tip 33) are mapped onto the same points of OpenFace's mean
   face template, min-max normalised to the unit square and scaled to the crop size:
     1. the 2x3 affine transform from the three point pairs (cv2.getAffineTransform: a 6x6
        linear system solved by Gaussian elimination with partial pivoting, in double);
     2. cv2.warpAffine(img, M, (size, size)), INTER_LINEAR, constant border 0: M is inverted
        and every output pixel's source position is computed in fixed point: 1/1024 pixel
        (cvRound), then cut to 1/32 pixel (INTER_BITS 5); the bilinear weights are
        products of those 1/32 fractions scaled to 2^15 (INTER_REMAP_COEF_BITS), and the
        result is (sum of weight * pixel + 2^14) >> 15. Source pixels outside the image
        count as 0.
   dlib face chip (FNET_ALIGN_DLIB_CHIP): get_face_chip_details(shape, size, 0.25) and
   extract_image_chip: the similarity transform (Umeyama) from 33 landmarks (17..67
   without the eyebrows and the lower lip) to dlib's mean face placed with padding 0.25
   gives a rotation angle, a scale and a centre; the chip's three corners are mapped
   onto that rotated rectangle (an affine transform) and each chip pixel is sampled
   bilinearly in double and truncated to 8 bits, as dlib's interpolate_bilinear; samples
   whose 2x2 neighbourhood leaves the image are 0. Faces more than twice the chip size are
   first shrunk with dlib's pyramid_down<2> filter (5x5 binomial, integer), as dlib does
   against aliasing; the chips are byte-identical to dlib's own (tests/test_align.py).
   dlib 5-point chip (FNET_ALIGN_DLIB_CHIP_5): the same from the 5 points of dlib's 5-point
   predictor (the two corners of each eye, the base of the nose) to dlib's 5-point template
   (get_face_chip_details' constants for num_parts() == 5).

   The landmarks are rounded first (floor(x + 0.5)): dlib hands OpenFace and its own chip
   code whole-pixel points, so the crops equal theirs for the same face.
   Template numbers: OpenFace's align_dlib.py TEMPLATE (only the six points used here,
   already min-max normalised in float32 as OpenFace does), dlib's mean_face_shape in
   image_transforms/interpolation.h (the 33 points used).
   Output: size x size x 3 RGB bytes, row-major. Input: gray, RGB or RGBA (alpha ignored).
   The crop size is limited to 4096. No allocation, except the pyramid of a dlib chip of a
   face over twice the chip size (RGB, two levels of a quarter of the face's box each:
   FNET_ERR_OUT_OF_MEMORY if that fails). */

#define FNET__ALIGN_MAX_SIZE 4096

FNET_API int fnet_align_indices(fnet_align_kind kind, int *indices, int max) {
    static const int outer[3] = {36, 45, 33}, inner[3] = {39, 42, 57};
    int chip[33], n = 0, i;
    const int *src = NULL;
    if (kind == FNET_ALIGN_OUTER_EYES_AND_NOSE) src = outer, n = 3;
    else if (kind == FNET_ALIGN_INNER_EYES_AND_BOTTOM_LIP) src = inner, n = 3;
    else if (kind == FNET_ALIGN_DLIB_CHIP_5) {
        for (i = 0; i < 5; i++) chip[n++] = i;
        src = chip;
    } else if (kind == FNET_ALIGN_DLIB_CHIP) {
        for (i = 27; i < 68; i++)
            if (!(i >= 55 && i <= 59) && !(i >= 65 && i <= 67)) chip[n++] = i;
        src = chip;
    } else return 0;
    for (i = 0; i < n && indices && i < max; i++) indices[i] = src[i];
    return n;
}

/* OpenFace's MINMAX_TEMPLATE (float32) at points 33, 36, 39, 42, 45, 57. */
static void fnet__openface_template(int idx, float *x, float *y) {
    switch (idx) {
    case 33: *x = 0.494950891f; *y = 0.514441371f; break;
    case 36: *x = 0.194157004f; *y = 0.169266924f; break;
    case 39: *x = 0.363784939f; *y = 0.177946866f; break;
    case 42: *x = 0.618963182f; *y = 0.17277813f; break;
    case 45: *x = 0.788859129f; *y = 0.158171147f; break;
    default: *x = 0.500203967f; *y = 0.750584424f; break; /* 57 */
    }
}

/* dlib's mean_face_shape_x/y for landmarks 17..67 (only the 33 used entries matter). */
static const double fnet__dlib_mean_x[51] = {
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689};
static const double fnet__dlib_mean_y[51] = {
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182};

/* Solves the n x n system a x = b in place (b becomes x), Gaussian elimination with
   partial pivoting as OpenCV's LU. Returns 0 when singular. */
static int fnet__solve(double *a, double *b, int n) {
    int i, j, k;
    for (i = 0; i < n; i++) {
        double d;
        k = i;
        for (j = i + 1; j < n; j++)
            if (fabs(a[j * n + i]) > fabs(a[k * n + i])) k = j;
        if (fabs(a[k * n + i]) < DBL_EPSILON * 10) return 0;
        if (k != i) {
            double t;
            for (j = i; j < n; j++) { t = a[i * n + j]; a[i * n + j] = a[k * n + j]; a[k * n + j] = t; }
            t = b[i]; b[i] = b[k]; b[k] = t;
        }
        d = -1.0 / a[i * n + i];
        for (j = i + 1; j < n; j++) {
            double alpha = a[j * n + i] * d;
            for (k = i + 1; k < n; k++) a[j * n + k] += alpha * a[i * n + k];
            b[j] += alpha * b[i];
        }
        a[i * n + i] = -d;
    }
    for (i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (k = i + 1; k < n; k++) s -= a[i * n + k] * b[k];
        b[i] = s * a[i * n + i];
    }
    return 1;
}

/* Reads channel ch (0..2) of pixel (x, y), which must be inside the image. */
static unsigned fnet__px(const fnet_image *img, int x, int y, int ch) {
    const unsigned char *p = img->pixels + (size_t)y * (size_t)img->stride + (size_t)x * (size_t)img->channels;
    return img->channels == 1 ? p[0] : p[ch];
}

/* cvRound (nearest, ties to even) saturated to OpenCV's int range; the range is kept well
   inside long so sums of two stay exact. */
static long fnet__round_sat(double v) {
    if (!(v > -1073741824.0)) return -1073741824L;
    if (!(v < 1073741823.0)) return 1073741823L;
    return lrint(v);
}
/* floor(v / 2^k) for any sign (>> of a negative number is implementation-defined in C). */
static long fnet__floor_shift(long v, int k) {
    return v >= 0 ? v >> k : -((-v - 1) >> k) - 1;
}

/* OpenFace: cv2.getAffineTransform + cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0). */
static fnet_result fnet__align_openface(const fnet_image *img, const fnet_point *pts, const int *idx,
                                        int size, unsigned char *out) {
    double a[36], m[6], D;
    int i, x, y, ch;
    memset(a, 0, sizeof a);
    for (i = 0; i < 3; i++) {
        float sx = (float)floor((double)pts[idx[i]].x + 0.5), sy = (float)floor((double)pts[idx[i]].y + 0.5);
        float tx, ty;
        fnet__openface_template(idx[i], &tx, &ty);
        a[i * 12 + 0] = a[i * 12 + 6 + 3] = sx;
        a[i * 12 + 1] = a[i * 12 + 6 + 4] = sy;
        a[i * 12 + 2] = a[i * 12 + 6 + 5] = 1;
        m[2 * i] = (double)((float)size * tx);
        m[2 * i + 1] = (double)((float)size * ty);
    }
    if (!fnet__solve(a, m, 6)) return FNET_ERR_INVALID_ARGUMENT; /* the three points are collinear */
    /* invert: warpAffine maps output pixels back into the image */
    D = m[0] * m[4] - m[1] * m[3];
    D = D != 0 ? 1. / D : 0;
    {
        double a11 = m[4] * D, a22 = m[0] * D, b1, b2;
        m[0] = a11; m[1] *= -D;
        m[3] *= -D; m[4] = a22;
        b1 = -m[0] * m[2] - m[1] * m[5];
        b2 = -m[3] * m[2] - m[4] * m[5];
        m[2] = b1; m[5] = b2;
    }
    for (i = 0; i < 6; i++)
        if (!(fabs(m[i]) < 1e6)) return FNET_ERR_INVALID_ARGUMENT; /* degenerate points */
    for (y = 0; y < size; y++) {
        long x0 = fnet__round_sat((m[1] * y + m[2]) * 1024) + 16, y0 = fnet__round_sat((m[4] * y + m[5]) * 1024) + 16;
        for (x = 0; x < size; x++) {
            long adelta = fnet__round_sat(m[0] * x * 1024), bdelta = fnet__round_sat(m[3] * x * 1024);
            long X = fnet__floor_shift(x0 + adelta, 5), Y = fnet__floor_shift(y0 + bdelta, 5); /* 1/32 px */
            long sx = fnet__floor_shift(X, 5), sy = fnet__floor_shift(Y, 5);
            int ax = (int)(X & 31), ay = (int)(Y & 31);
            long w[4];
            unsigned char *o = out + ((size_t)y * size + x) * 3;
            int in[4];
            w[0] = (long)(32 - ax) * (32 - ay) * 32;
            w[1] = (long)ax * (32 - ay) * 32;
            w[2] = (long)(32 - ax) * ay * 32;
            w[3] = (long)ax * ay * 32;
            in[0] = sx >= 0 && sy >= 0 && sx < img->width && sy < img->height;
            in[1] = sx + 1 >= 0 && sy >= 0 && sx + 1 < img->width && sy < img->height;
            in[2] = sx >= 0 && sy + 1 >= 0 && sx < img->width && sy + 1 < img->height;
            in[3] = sx + 1 >= 0 && sy + 1 >= 0 && sx + 1 < img->width && sy + 1 < img->height;
            for (ch = 0; ch < 3; ch++) {
                long v = 0;
                if (in[0]) v += w[0] * (long)fnet__px(img, (int)sx, (int)sy, ch);
                if (in[1]) v += w[1] * (long)fnet__px(img, (int)sx + 1, (int)sy, ch);
                if (in[2]) v += w[2] * (long)fnet__px(img, (int)sx, (int)sy + 1, ch);
                if (in[3]) v += w[3] * (long)fnet__px(img, (int)sx + 1, (int)sy + 1, ch);
                v = (v + (1 << 14)) >> 15;
                o[ch] = (unsigned char)(v > 255 ? 255 : v);
            }
        }
    }
    return FNET_OK;
}

/* dlib's pyramid_down<2> (image_pyramid.h) on RGB bytes: a 5x5 binomial filter
   [1 4 6 4 1]^T [1 4 6 4 1] / 256 on every other row and column, in integers and truncated:
   down(y, x) = floor(sum_ij k_i k_j src(2y + i, 2x + j) / 256), of size ((h-3)/2, (w-3)/2);
   images of 8 rows or columns or fewer become empty. src is any fnet_image (its first three
   channels, or gray repeated). */
static void fnet__pyr_down2(const fnet_image *src, unsigned char *dst, int *dw, int *dh) {
    static const unsigned k[5] = {1, 4, 6, 4, 1};
    int x, y, i, j, ch;
    *dw = *dh = 0;
    if (src->width <= 8 || src->height <= 8) return;
    *dw = (src->width - 3) / 2;
    *dh = (src->height - 3) / 2;
    for (y = 0; y < *dh; y++)
        for (x = 0; x < *dw; x++)
            for (ch = 0; ch < 3; ch++) {
                unsigned sum = 0;
                for (i = 0; i < 5; i++) {
                    unsigned row = 0;
                    for (j = 0; j < 5; j++) row += k[j] * fnet__px(src, 2 * x + j, 2 * y + i, ch);
                    sum += k[i] * row;
                }
                dst[((size_t)y * (size_t)*dw + (size_t)x) * 3 + (size_t)ch] = (unsigned char)(sum / 256u);
            }
}

/* dlib's rectangle rounding (drectangle -> rectangle): floor(v + 0.5). */
static long fnet__dlib_round(double v) { return (long)floor(v + 0.5); }

/* dlib: get_face_chip_details(shape, size, 0.25) + extract_image_chip (bilinear). */
static fnet_result fnet__align_dlib_chip(const fnet_image *img, const fnet_point *pts, int size,
                                         int five, unsigned char *out) {
    /* dlib's 5-point template (get_face_chip_details, num_parts() == 5) */
    static const double t5x[5] = {0.8595674595992, 0.6460604764104, 0.1205750620789, 0.3340850613712, 0.4901123135679};
    static const double t5y[5] = {0.2134981538014, 0.2289674387677, 0.2137274526848, 0.2290642403242, 0.6277975316475};
    const double padding = 0.25;
    double mfx = 0, mfy = 0, mtx = 0, mty = 0, sf = 0, c00 = 0, c01 = 0, c10 = 0, c11 = 0;
    double fx[33], fy[33], tx[33], ty[33], a, b, tt[2], angle, scale, cx, cy, hw, hh;
    double l, t, r, btm;
    int idx[33], n, i;
    n = fnet_align_indices(five ? FNET_ALIGN_DLIB_CHIP_5 : FNET_ALIGN_DLIB_CHIP, idx, 33);
    for (i = 0; i < n; i++) {
        fx[i] = (padding + (five ? t5x[i] : fnet__dlib_mean_x[idx[i] - 17])) / (2 * padding + 1) * size;
        fy[i] = (padding + (five ? t5y[i] : fnet__dlib_mean_y[idx[i] - 17])) / (2 * padding + 1) * size;
        tx[i] = floor((double)pts[idx[i]].x + 0.5);
        ty[i] = floor((double)pts[idx[i]].y + 0.5);
    }
    /* similarity transform chip -> image (Umeyama, closed form in 2D as in section 2) */
    for (i = 0; i < n; i++) { mfx += fx[i]; mfy += fy[i]; mtx += tx[i]; mty += ty[i]; }
    mfx /= n; mfy /= n; mtx /= n; mty /= n;
    for (i = 0; i < n; i++) {
        double px = fx[i] - mfx, py = fy[i] - mfy, qx = tx[i] - mtx, qy = ty[i] - mty;
        sf += px * px + py * py;
        c00 += qx * px; c01 += qx * py; c10 += qy * px; c11 += qy * py;
    }
    sf /= n; c00 /= n; c01 /= n; c10 /= n; c11 /= n;
    a = (c00 + c11) / sf;
    b = (c10 - c01) / sf;
    tt[0] = mtx - (a * mfx - b * mfy);
    tt[1] = mty - (b * mfx + a * mfy);
    /* chip_details: angle and scale from m * (1, 0); the centre is the chip centre mapped */
    angle = atan2(b, a);
    scale = sqrt(a * a + b * b);
    if (!(scale > 1e-6 && scale < 1e6)) return FNET_ERR_INVALID_ARGUMENT; /* points coincide */
    cx = a * (size / 2.0) - b * (size / 2.0) + tt[0];
    cy = b * (size / 2.0) + a * (size / 2.0) + tt[1];
    hw = (size * scale - 1) / 2;
    hh = (size * scale - 1) / 2;
    l = cx - hw; r = cx + hw; t = cy - hh; btm = cy + hh;
    /* extract_image_chip, as dlib's extract_image_chips does it for one chip:
       1. depth: while the chip's rectangle, shrunk by pyramid_down<2>'s point mapping
          (p / 2 - (1.25, 0.75)), still covers more than size x size pixels, one more level;
       2. the rectangle's corners rotated by `angle` about its centre, their bounding box
          grown by a margin (2, then 2 m + 2 per level), clipped to the image and rounded:
          the sub-image dlib works on;
       3. that sub-image shrunk `depth` times by pyramid_down<2> (no level: used as it is);
       4. the chip's corners (0,0), (size-1,0), (0,size-1) mapped by an affine transform onto
          the rotated rectangle in the level's coordinates, every chip pixel sampled there
          bilinearly in double and truncated to 8 bits (dlib's interpolate_bilinear); samples
          whose 2x2 neighbourhood leaves the level image are 0.
       Large faces are thus low-pass filtered before sampling, as in dlib (no aliasing). */
    {
        double rl, rt, rr, rb, ccx, ccy, cs, sn, q[4][2], m[6], grow = 2, gl, gt, gr, gb, area;
        long bl, bt, br, bb;
        int depth = 0, x, y, ch, lw, lh;
        unsigned char *buf = NULL, *lev = NULL;
        fnet_image src;
        rl = l / 2 - 1.25; rt = t / 2 - 0.75; rr = r / 2 - 1.25; rb = btm / 2 - 0.75;
        for (;;) {
            area = (rr >= rl && rb >= rt) ? (rr - rl + 1) * (rb - rt + 1) : 0;
            if (!(area > (double)size * size) || depth >= 40) break;
            rl = rl / 2 - 1.25; rt = rt / 2 - 0.75; rr = rr / 2 - 1.25; rb = rb / 2 - 0.75;
            depth++;
            grow = grow * 2 + 2;
        }
        ccx = (l + r) / 2; ccy = (t + btm) / 2;
        cs = cos(angle); sn = sin(angle);
        /* corners tl, tr, bl, br rotated about the centre */
        q[0][0] = (l - ccx) * cs - (t - ccy) * sn + ccx;   q[0][1] = (l - ccx) * sn + (t - ccy) * cs + ccy;
        q[1][0] = (r - ccx) * cs - (t - ccy) * sn + ccx;   q[1][1] = (r - ccx) * sn + (t - ccy) * cs + ccy;
        q[2][0] = (l - ccx) * cs - (btm - ccy) * sn + ccx; q[2][1] = (l - ccx) * sn + (btm - ccy) * cs + ccy;
        q[3][0] = (r - ccx) * cs - (btm - ccy) * sn + ccx; q[3][1] = (r - ccx) * sn + (btm - ccy) * cs + ccy;
        gl = gr = q[0][0]; gt = gb = q[0][1];
        for (i = 1; i < 4; i++) {
            if (q[i][0] < gl) gl = q[i][0];
            if (q[i][0] > gr) gr = q[i][0];
            if (q[i][1] < gt) gt = q[i][1];
            if (q[i][1] > gb) gb = q[i][1];
        }
        gl -= grow; gt -= grow; gr += grow; gb += grow;
        if (gl < 0) gl = 0;
        if (gt < 0) gt = 0;
        if (gr > img->width - 1) gr = img->width - 1;
        if (gb > img->height - 1) gb = img->height - 1;
        bl = fnet__dlib_round(gl); bt = fnet__dlib_round(gt); br = fnet__dlib_round(gr); bb = fnet__dlib_round(gb);
        if (!(gl <= gr && gt <= gb) || br < bl || bb < bt) { /* the face lies outside the image */
            memset(out, 0, (size_t)size * size * 3);
            return FNET_OK;
        }
        src = *img;
        src.pixels = img->pixels + (size_t)bt * (size_t)img->stride + (size_t)bl * (size_t)img->channels;
        src.width = (int)(br - bl + 1);
        src.height = (int)(bb - bt + 1);
        /* the chip's rectangle in the sub-image's coordinates, then shrunk to the level */
        rl = l - bl; rt = t - bt; rr = r - bl; rb = btm - bt;
        if (depth > 0) {
            size_t need = (size_t)((src.width - 3) / 2 > 0 ? (src.width - 3) / 2 : 1) *
                          (size_t)((src.height - 3) / 2 > 0 ? (src.height - 3) / 2 : 1) * 3;
            int d;
            buf = (unsigned char *)FNET_MALLOC(2 * need); /* two levels, ping-pong */
            if (!buf) return FNET_ERR_OUT_OF_MEMORY;
            for (d = 0; d < depth; d++) {
                lev = buf + (d & 1) * need;
                fnet__pyr_down2(&src, lev, &lw, &lh);
                src = fnet_image_view(lev, lw, lh, 3, 0);
                src.stride = lw * 3;
                rl = rl / 2 - 1.25; rt = rt / 2 - 0.75; rr = rr / 2 - 1.25; rb = rb / 2 - 0.75;
                if (lw == 0 || lh == 0) break;
            }
        }
        ccx = (rl + rr) / 2; ccy = (rt + rb) / 2;
        q[0][0] = (rl - ccx) * cs - (rt - ccy) * sn + ccx; q[0][1] = (rl - ccx) * sn + (rt - ccy) * cs + ccy;
        q[1][0] = (rr - ccx) * cs - (rt - ccy) * sn + ccx; q[1][1] = (rr - ccx) * sn + (rt - ccy) * cs + ccy;
        q[2][0] = (rl - ccx) * cs - (rb - ccy) * sn + ccx; q[2][1] = (rl - ccx) * sn + (rb - ccy) * cs + ccy;
        /* affine map from the chip corners (0,0), (size-1,0), (0,size-1) onto them */
        m[0] = (q[1][0] - q[0][0]) / (size - 1 > 0 ? size - 1 : 1);
        m[3] = (q[1][1] - q[0][1]) / (size - 1 > 0 ? size - 1 : 1);
        m[1] = (q[2][0] - q[0][0]) / (size - 1 > 0 ? size - 1 : 1);
        m[4] = (q[2][1] - q[0][1]) / (size - 1 > 0 ? size - 1 : 1);
        m[2] = q[0][0];
        m[5] = q[0][1];
        for (y = 0; y < size; y++)
            for (x = 0; x < size; x++) {
                double px = m[0] * x + m[1] * y + m[2], py = m[3] * x + m[4] * y + m[5];
                double fl = floor(px), ft = floor(py);
                unsigned char *o = out + ((size_t)y * size + x) * 3;
                if (!(fl >= 0 && ft >= 0 && fl + 1 < src.width && ft + 1 < src.height)) {
                    o[0] = o[1] = o[2] = 0;
                    continue;
                }
                {
                    int left = (int)fl, top = (int)ft;
                    double lr = px - left, tb = py - top;
                    for (ch = 0; ch < 3; ch++) {
                        double v = (1 - tb) * ((1 - lr) * fnet__px(&src, left, top, ch) + lr * fnet__px(&src, left + 1, top, ch)) +
                                   tb * ((1 - lr) * fnet__px(&src, left, top + 1, ch) + lr * fnet__px(&src, left + 1, top + 1, ch));
                        o[ch] = (unsigned char)(v > 255 ? 255 : v < 0 ? 0 : v);
                    }
                }
            }
        FNET_FREE(buf);
    }
    return FNET_OK;
}

FNET_API fnet_result fnet_align(fnet_image img, const fnet_point *points, int n_points,
                                fnet_align_kind kind, int size, unsigned char *out_rgb) {
    int idx[33], n, i;
    fnet_result r;
    if (!points || !out_rgb || size < 1 || size > FNET__ALIGN_MAX_SIZE) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__check_image(&img)) != FNET_OK) return r;
    n = fnet_align_indices(kind, idx, 33);
    if (n == 0) return FNET_ERR_INVALID_ARGUMENT;
    if (n_points < (kind == FNET_ALIGN_DLIB_CHIP_5 ? 5 : 68)) return FNET_ERR_INVALID_ARGUMENT; /* dlib's 68 (or 5) points */
    for (i = 0; i < n; i++) {
        float x = points[idx[i]].x, y = points[idx[i]].y;
        if (!(x == x) || !(y == y)) return FNET_ERR_NOT_FINITE;
        if (!(fabs(x) <= FNET__LM_MAX_COORD) || !(fabs(y) <= FNET__LM_MAX_COORD)) return FNET_ERR_INVALID_ARGUMENT;
    }
    if (kind == FNET_ALIGN_DLIB_CHIP || kind == FNET_ALIGN_DLIB_CHIP_5)
        return fnet__align_dlib_chip(&img, points, size, kind == FNET_ALIGN_DLIB_CHIP_5, out_rgb);
    return fnet__align_openface(&img, points, idx, size, out_rgb);
}

/* The alignment a network blob names in its metadata "align" (fnet_embed_align_kind), or 0. */
static fnet_align_kind fnet__align_from_name(const char *name) {
    static const char *const names[4] = {"outer_eyes_and_nose", "inner_eyes_and_bottom_lip", "dlib_chip",
                                         "dlib_chip_5"};
    int i;
    for (i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return (fnet_align_kind)(FNET_ALIGN_OUTER_EYES_AND_NOSE + i);
    return (fnet_align_kind)0;
}

/* ==== 4. Embedding network engine ========================================================

   A network is a small op graph stored in the blob (the op table below), run
   on float32 activations. How it works, for a student:

   TENSORS. Every activation is one image-like tensor of shape (H, W, C), batch 1, stored
   HWC ("channels last"): element (y, x, c) lives at [(y * W + x) * C + c]. The C values of
   one pixel are contiguous, which is what makes convolution a matrix product (below).

   GRAPH. Ops are stored in topological order (an op reads only earlier ops), op 0 is
   INPUT and the last op is the output (the embedding). At load, fnet__network_prepare()
   checks every op (type, inputs, tensor dtypes and shapes, parameters), recomputes each
   output shape and compares it with the converter's iparam[9..11], and plans memory.

   MEMORY PLAN. Each op's output gets a slot in one workspace. An output is live from the
   op that writes it to the last op that reads it; slots of dead outputs are reused
   (first fit, in op order), so the workspace is a few times the largest activation, not
   the sum of all of them. No allocation happens per inference.

   CONVOLUTION AS GEMM WITHOUT IM2COL. A convolution with weights W (KH, KW, Cin, Cout)
   computes, for each output pixel m = (oy, ox) and output channel n,
       out[m][n] = bias[n] + sum_{ky,kx} sum_{ci} in[oy*SH - pad_top + ky][ox*SW - pad_left + kx][ci]
                                                  * W[ky][kx][ci][n]
   Read W as a matrix B with K = KH*KW*Cin rows and Cout columns: out = A B, where row m of
   A is the receptive field of pixel m. Classic im2col copies A out; here A is never built:
   in HWC, the Cin values for one (ky, kx) are already contiguous in the input, so row m of
   A is KH*KW pointers to Cin-long runs (a pointer to a zero row where the window hangs over
   the padding). A 1x1 convolution is a plain GEMM (A is the input itself), and DENSE is a
   1x1 convolution over a 1x1x(H*W*C) input (flatten in HWC order).
   B is packed once at load into panels of 16 output channels (K rows x 16, zero-padded),
   and a micro-kernel computes an MR x 16 tile of the output with MR*16 accumulators kept
   in registers across the whole K loop (AVX2+FMA: 6 x 16 = 12 ymm registers; SSE2: 3 x 16;
   NEON: 6 x 16; scalar: 4 x 16). Bias and ReLU are applied when the tile is stored. On a
   CPU with AVX-512F, the AVX2 kernel set runs convolutions on a 6 x 32 AVX-512 tile over two
   panels at once (12 zmm accumulators; masked stores for the last columns); define
   FNET_NO_AVX512 to keep to AVX2.
   Every SIMD micro-kernel has the scalar twin fnet__tile_scalar(), which defines the result
   (they differ only by float rounding of the sums; tests/test_kernels.c compares them).

   On the AVX2/AVX-512 kernel sets, 3x3 stride-1 convolutions over at least 36 output
   pixels take Winograd instead: F(4x4, 3x3) when both output sides are at least 12 (4x
   fewer multiplies), else F(2x2, 3x3) (2.25x; see below).

   WHAT ELSE THE DIRECT CONVOLUTION DOES (issue 17, measured on the ResNet): a tile whose
   windows lie inside the input horizontally takes one pointer per kernel row (its KW
   pixels are contiguous in HWC: the 7x7 first layer on 3 channels runs 7 segments of 21
   floats, not 49 of 3; same sums, same order); kernel taps that meet only padding for
   every output pixel are dropped at load (fnet__node_crop: the ResNet's last 3x3 runs on a
   1x1 input); the last tile of a short M runs on 2- or 4-row versions of the AVX2 kernel;
   and when a convolution has few M tiles (the deep layers, a few pixels and megabytes of
   weights that stream from memory), its micro-kernels prefetch the next block of panels
   while computing (FNET__PF_TILES), as the Winograd GEMMs prefetch the next U matrix.
   EPILOGUES: a residual ADD whose first input is a CONV read by it alone, and whose
   shortcut was computed before that CONV, is fused at load (fnet__fuse_adds): the CONV adds
   the shortcut and applies the ADD's ReLU as it stores its output (the ADD's own floats),
   the ADD runs as nothing and shares the CONV's slot. Batch norm needs nothing at run
   time: the converters fold it into the weights and biases (tools/convert/).

   The other ops are memory-bound and simple: loops over the contiguous channels of a pixel
   (pooling accumulates whole C-vectors, LRN slides over channels), with SIMD twins of the
   inner loops for ADD/RELU, pooling and LRN.

   BATCHES AND THREADS. fnet_embed_batch runs n images through the graph together: op i's
   outputs for the n images lie back to back in its slot (the plan scaled by n), so each
   convolution is one GEMM with n * OH * OW rows and every block of packed weights is swept
   over all n images while it is in cache (the deep layers read megabytes of weights for a
   few pixels: a batch reads them once). A convolution is cut into units (panel block x
   tile of rows; Winograd: panel chunk x block of tiles), and opts.parallel runs an equal
   share of the units per task, each task with its own scratch slot. Every output element
   is computed by the same micro-kernel call whatever the batch or the split, so the
   embeddings are bit-identical to fnet_embed's.

   WORKSPACE = the planned activation slots + a scratch area (tile pointers, LRN's padded
   squares, Winograd blocks), times n and times the workers respectively for batches. Sizes: nn4.small2 2.2 MB, ResNet-34 1.4 MB (1.1 and 0.9 MB
   without Winograd: F(4x4)'s blocks are the largest scratch). Limits: activations up to 2^28 floats, sides up to 65536, kernels/strides/pads up
   to 1024, workspace up to 2 GiB (else FNET_ERR_TOO_LARGE); weights must be finite.

   | type | op             | inputs | tensors                      | iparam / fparam
   | 0    | INPUT          | 0      | -                            | ip[0..2] H, W, 3; fp [divisor, mean r, g, b]
   | 1    | CONV           | 1      | W (KH,KW,Cin,Cout), b (Cout) | ip[0..7] KH,KW,SH,SW,pad t,l,b,r
   | 2,3,4| MAX/AVG/L2POOL | 1      | -                            | as CONV; pads are zeros and count
   | 5    | LRN            | 1      | -                            | ip[0] radius; fp alpha, beta, bias
   | 6    | CONCAT         | 1..4   | -                            | along channels, in input order
   | 7    | DENSE          | 1      | W (In,Out), b (Out)          | ip[0] In, ip[1] Out
   | 8    | L2NORM         | 1      | -                            | fp[0] eps: x / sqrt(max(sum x^2, eps))
   | 9    | ADD            | 2      | -                            | in0 + in1 (in1's missing channels are 0)
   | 10   | GLOBAL_AVGPOOL | 1      | -                            | mean over H, W -> 1x1xC
   | 11   | PAD            | 1      | -                            | ip[0..3] pad t,l,b,r (zeros)
   | 12   | RELU           | 1      | -                            | -
   Every op: ip[9..11] = the output H, W, C; flags bit 0 = ReLU on the output (CONV, DENSE,
   ADD only). References: Szegedy et al. 2015 (Inception), Schroff et al. 2015 (FaceNet),
   Amos et al. 2016 (OpenFace nn4.small2), He et al. 2016 (ResNet); Goto & van de Geijn 2008
   (packed-panel GEMM and register-blocked micro-kernels). */

enum {
    FNET__OP_INPUT = 0, FNET__OP_CONV, FNET__OP_MAXPOOL, FNET__OP_AVGPOOL, FNET__OP_L2POOL,
    FNET__OP_LRN, FNET__OP_CONCAT, FNET__OP_DENSE, FNET__OP_L2NORM, FNET__OP_ADD,
    FNET__OP_GAP, FNET__OP_PAD, FNET__OP_RELU, FNET__OP_COUNT
};

#define FNET__NR 16                        /* output channels per packed weight panel */
#define FNET__MR_MAX 8                     /* largest micro-kernel tile height */
#define FNET__NET_MAX_SIDE 65536           /* largest H or W of any activation */
#define FNET__NET_MAX_KERNEL 1024          /* largest kernel side, stride or pad */
#define FNET__NET_MAX_ELEMS ((size_t)1 << 28) /* largest activation (floats) */
#define FNET__NET_MAX_WORK ((size_t)1 << 31)  /* largest workspace (bytes) */

typedef struct fnet__node {
    int h, w, c;      /* output shape (HWC) */
    size_t elems;     /* h * w * c */
    size_t off;       /* byte offset of the output in the workspace */
    int last_use;     /* index of the last op reading this output */
    const float *bp;  /* CONV/DENSE: packed weights, ceil(Cout/16) panels of K x 16 floats */
    const float *bias;/* CONV/DENSE: bias padded with zeros to ceil(Cout/16) * 16 */
    const float *wp;  /* 3x3 stride-1 CONV run by Winograd: 16 (F(2x2)) or 36 (F(4x4)) packed U
                         matrices, else NULL */
    int wino;         /* set at load: this CONV takes the Winograd path on AVX2/AVX-512, F(2x2)
                         (1) or F(4x4) (2) */
    int ckh, ckw, cpt, cpl; /* CONV whose outer kernel rows/columns only ever meet padding
                         (say 3x3 pad 1 on a 1x1 input): the taps kept, as kernel size and
                         pads (bp packs only those); ckh 0: the whole kernel */
    int add;          /* CONV: the index of the residual ADD fused into its epilogue, else 0 */
    int fused;        /* ADD: the index of the CONV that computes it, else 0 (its output is the
                         CONV's: same slot; see fnet__fuse_adds) */
} fnet__node;

typedef struct fnet__net {
    fnet__node *node;
    void *packed_raw; /* one block: packed weights + biases + a zero row */
    const float *zeros;
    size_t act_bytes, scratch_off, work_bytes;
    int out_dim;
    int input_size;   /* H of INPUT when square, else 0 */
    int avx512;       /* the AVX2 kernel set runs convolutions on the AVX-512 micro-kernel */
    size_t wino_off;  /* workspace offset of the Winograd buffers */
} fnet__net;

/* Micro-kernel: C[r][0..nc) = relu?(bias + sum_s sum_k a[s*ma + r][k] * b[s*kc + k][0..16))
   for r < mr, where ma >= mr is the tile height the caller laid the pointers out for (rows
   mr..ma-1 repeat the last row), b is one packed panel (nseg*kc rows of 16 floats), c's rows
   are ldc floats apart. */
typedef void (*fnet__tile_fn)(const float *const *a, int ma, int nseg, int kc, const float *b,
                              const float *bias, float *c, int ldc, int mr, int nc, int relu);

/* Stores an MR x 16 accumulator tile (row-major in acc) with bias and ReLU. */
static void fnet__tile_store(const float *acc, const float *bias, float *c, int ldc, int mr,
                             int nc, int relu) {
    int r, j;
    for (r = 0; r < mr; r++)
        for (j = 0; j < nc; j++) {
            float v = acc[r * FNET__NR + j] + bias[j];
            c[(size_t)r * ldc + j] = (relu && v < 0.0f) ? 0.0f : v;
        }
}

/* The scalar twin: what every micro-kernel computes. */
static void fnet__tile_scalar(const float *const *a, int ma, int nseg, int kc, const float *b,
                              const float *bias, float *c, int ldc, int mr, int nc, int relu) {
    float acc[FNET__MR_MAX * FNET__NR];
    int s, k, r, j;
    memset(acc, 0, sizeof(acc));
    for (s = 0; s < nseg; s++) {
        for (r = 0; r < mr; r++) {
            const float *ar = a[s * ma + r];
            const float *bk = b;
            float *acr = acc + r * FNET__NR;
            for (k = 0; k < kc; k++, bk += FNET__NR) {
                float x = ar[k];
                for (j = 0; j < FNET__NR; j++) acr[j] += x * bk[j];
            }
        }
        b += (size_t)kc * FNET__NR;
    }
    fnet__tile_store(acc, bias, c, ldc, mr, nc, relu);
}

#if defined(FNET__X86)
/* SSE2: 3 x 16 tile = 12 xmm accumulators. */
static void fnet__tile_sse2(const float *const *a, int ma, int nseg, int kc, const float *b,
                            const float *bias, float *c, int ldc, int mr, int nc, int relu) {
    __m128 c00 = _mm_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m128 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m128 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    int s, k;
    for (s = 0; s < nseg; s++) {
        const float *a0 = a[s * ma], *a1 = a[s * ma + 1], *a2 = a[s * ma + 2];
        for (k = 0; k < kc; k++, b += 16) {
            __m128 b0 = _mm_load_ps(b), b1 = _mm_load_ps(b + 4), b2 = _mm_load_ps(b + 8),
                   b3 = _mm_load_ps(b + 12);
            __m128 x = _mm_set1_ps(a0[k]);
            c00 = _mm_add_ps(c00, _mm_mul_ps(x, b0)); c01 = _mm_add_ps(c01, _mm_mul_ps(x, b1));
            c02 = _mm_add_ps(c02, _mm_mul_ps(x, b2)); c03 = _mm_add_ps(c03, _mm_mul_ps(x, b3));
            x = _mm_set1_ps(a1[k]);
            c10 = _mm_add_ps(c10, _mm_mul_ps(x, b0)); c11 = _mm_add_ps(c11, _mm_mul_ps(x, b1));
            c12 = _mm_add_ps(c12, _mm_mul_ps(x, b2)); c13 = _mm_add_ps(c13, _mm_mul_ps(x, b3));
            x = _mm_set1_ps(a2[k]);
            c20 = _mm_add_ps(c20, _mm_mul_ps(x, b0)); c21 = _mm_add_ps(c21, _mm_mul_ps(x, b1));
            c22 = _mm_add_ps(c22, _mm_mul_ps(x, b2)); c23 = _mm_add_ps(c23, _mm_mul_ps(x, b3));
        }
    }
    if (mr == 3 && nc == 16) {
        __m128 b0 = _mm_loadu_ps(bias), b1 = _mm_loadu_ps(bias + 4), b2 = _mm_loadu_ps(bias + 8),
               b3 = _mm_loadu_ps(bias + 12), z = _mm_setzero_ps();
        c00 = _mm_add_ps(c00, b0); c01 = _mm_add_ps(c01, b1); c02 = _mm_add_ps(c02, b2); c03 = _mm_add_ps(c03, b3);
        c10 = _mm_add_ps(c10, b0); c11 = _mm_add_ps(c11, b1); c12 = _mm_add_ps(c12, b2); c13 = _mm_add_ps(c13, b3);
        c20 = _mm_add_ps(c20, b0); c21 = _mm_add_ps(c21, b1); c22 = _mm_add_ps(c22, b2); c23 = _mm_add_ps(c23, b3);
        if (relu) {
            c00 = _mm_max_ps(c00, z); c01 = _mm_max_ps(c01, z); c02 = _mm_max_ps(c02, z); c03 = _mm_max_ps(c03, z);
            c10 = _mm_max_ps(c10, z); c11 = _mm_max_ps(c11, z); c12 = _mm_max_ps(c12, z); c13 = _mm_max_ps(c13, z);
            c20 = _mm_max_ps(c20, z); c21 = _mm_max_ps(c21, z); c22 = _mm_max_ps(c22, z); c23 = _mm_max_ps(c23, z);
        }
        _mm_storeu_ps(c, c00); _mm_storeu_ps(c + 4, c01); _mm_storeu_ps(c + 8, c02); _mm_storeu_ps(c + 12, c03);
        c += ldc;
        _mm_storeu_ps(c, c10); _mm_storeu_ps(c + 4, c11); _mm_storeu_ps(c + 8, c12); _mm_storeu_ps(c + 12, c13);
        c += ldc;
        _mm_storeu_ps(c, c20); _mm_storeu_ps(c + 4, c21); _mm_storeu_ps(c + 8, c22); _mm_storeu_ps(c + 12, c23);
    } else {
        float acc[3 * 16];
        _mm_storeu_ps(acc, c00); _mm_storeu_ps(acc + 4, c01); _mm_storeu_ps(acc + 8, c02); _mm_storeu_ps(acc + 12, c03);
        _mm_storeu_ps(acc + 16, c10); _mm_storeu_ps(acc + 20, c11); _mm_storeu_ps(acc + 24, c12); _mm_storeu_ps(acc + 28, c13);
        _mm_storeu_ps(acc + 32, c20); _mm_storeu_ps(acc + 36, c21); _mm_storeu_ps(acc + 40, c22); _mm_storeu_ps(acc + 44, c23);
        fnet__tile_store(acc, bias, c, ldc, mr, nc, relu);
    }
}

/* fnet__tile_store for the AVX2 kernels: full 16-wide rows in vector registers (the same
   add then max per element, so the same floats), partial rows by the scalar loop. */
FNET__AVX2_FN static void fnet__tile_store_avx2(const float *acc, const float *bias, float *c, int ldc, int mr,
                                                int nc, int relu) {
    int r;
    if (nc == FNET__NR) {
        __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8), z = _mm256_setzero_ps();
        for (r = 0; r < mr; r++, c += ldc) {
            __m256 v0 = _mm256_add_ps(_mm256_loadu_ps(acc + r * FNET__NR), b0);
            __m256 v1 = _mm256_add_ps(_mm256_loadu_ps(acc + r * FNET__NR + 8), b1);
            if (relu) { v0 = _mm256_max_ps(v0, z); v1 = _mm256_max_ps(v1, z); }
            _mm256_storeu_ps(c, v0);
            _mm256_storeu_ps(c + 8, v1);
        }
    } else
        fnet__tile_store(acc, bias, c, ldc, mr, nc, relu);
}

/* AVX2 + FMA: 6 x 16 tile = 12 ymm accumulators, 2 for the panel row, 1 broadcast.
   Prefetching (the deep layers, whose weights stream from memory: see fnet__conv_units):
   every `every` panel rows, one cache line at pf, then pf moves on by a line; pf NULL: none.
   The prefetches change no result (fnet__tile_avx2 is this with pf NULL). */
/* The last tile of a short M (a few pixels, a block of Winograd tiles) often has 1 to 4
   rows: 2- and 4-row versions of the kernel compute those rows alone (each row's sums are
   the same operations in the same order whatever the tile height, so the results are
   equal). R = 2 or 4: accumulators c<r>0, c<r>1 for rows r < R. */
#define FNET__AVX2_ROW(r) \
    x = _mm256_broadcast_ss(a##r + k); c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0); c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);
#define FNET__AVX2_SHORT(NAME, R, ROWS)                                                                 \
    FNET__AVX2_FN static void NAME(const float *const *a, int ma, int nseg, int kc, const float *b,    \
                                   const float *bias, float *c, int ldc, int mr, int nc, int relu,     \
                                   const float *pf, int every) {                                       \
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;        \
        __m256 c30 = c00, c31 = c00, b0, b1, x;                                                        \
        float t[4 * 16];                                                                               \
        int s, k, cnt = pf ? every : INT_MAX;                                                          \
        for (s = 0; s < nseg; s++) {                                                                   \
            const float *a0 = a[s * ma], *a1 = a[s * ma + 1 % R], *a2 = a[s * ma + 2 % R], *a3 = a[s * ma + 3 % R]; \
            for (k = 0; k < kc; k++, b += 16) {                                                        \
                b0 = _mm256_load_ps(b); b1 = _mm256_load_ps(b + 8);                                    \
                if (--cnt == 0) { _mm_prefetch((const char *)pf, _MM_HINT_T0); pf += 16; cnt = every; } \
                ROWS                                                                                   \
            }                                                                                          \
            (void)a2; (void)a3;                                                                        \
        }                                                                                              \
        _mm256_storeu_ps(t, c00); _mm256_storeu_ps(t + 8, c01); _mm256_storeu_ps(t + 16, c10);         \
        _mm256_storeu_ps(t + 24, c11); _mm256_storeu_ps(t + 32, c20); _mm256_storeu_ps(t + 40, c21);   \
        _mm256_storeu_ps(t + 48, c30); _mm256_storeu_ps(t + 56, c31);                                  \
        fnet__tile_store_avx2(t, bias, c, ldc, mr, nc, relu);                                          \
    }
FNET__AVX2_SHORT(fnet__tile_avx2_r2, 2, FNET__AVX2_ROW(0) FNET__AVX2_ROW(1))
FNET__AVX2_SHORT(fnet__tile_avx2_r4, 4, FNET__AVX2_ROW(0) FNET__AVX2_ROW(1) FNET__AVX2_ROW(2) FNET__AVX2_ROW(3))
#undef FNET__AVX2_SHORT
#undef FNET__AVX2_ROW

FNET__AVX2_FN static void fnet__tile_avx2_pf(const float *const *a, int ma, int nseg, int kc,
                                             const float *b, const float *bias, float *c, int ldc,
                                             int mr, int nc, int relu, const float *pf, int every) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    int s, k, cnt = pf ? every : INT_MAX;
    for (s = 0; s < nseg; s++) {
        const float *a0 = a[s * ma], *a1 = a[s * ma + 1], *a2 = a[s * ma + 2];
        const float *a3 = a[s * ma + 3], *a4 = a[s * ma + 4], *a5 = a[s * ma + 5];
        for (k = 0; k < kc; k++, b += 16) {
            __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), x;
            if (--cnt == 0) { _mm_prefetch((const char *)pf, _MM_HINT_T0); pf += 16; cnt = every; }
            x = _mm256_broadcast_ss(a0 + k); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
            x = _mm256_broadcast_ss(a1 + k); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
            x = _mm256_broadcast_ss(a2 + k); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
            x = _mm256_broadcast_ss(a3 + k); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
            x = _mm256_broadcast_ss(a4 + k); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
            x = _mm256_broadcast_ss(a5 + k); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
        }
    }
    if (mr == 6 && nc == 16) {
        __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8), z = _mm256_setzero_ps();
        c00 = _mm256_add_ps(c00, b0); c01 = _mm256_add_ps(c01, b1); c10 = _mm256_add_ps(c10, b0); c11 = _mm256_add_ps(c11, b1);
        c20 = _mm256_add_ps(c20, b0); c21 = _mm256_add_ps(c21, b1); c30 = _mm256_add_ps(c30, b0); c31 = _mm256_add_ps(c31, b1);
        c40 = _mm256_add_ps(c40, b0); c41 = _mm256_add_ps(c41, b1); c50 = _mm256_add_ps(c50, b0); c51 = _mm256_add_ps(c51, b1);
        if (relu) {
            c00 = _mm256_max_ps(c00, z); c01 = _mm256_max_ps(c01, z); c10 = _mm256_max_ps(c10, z); c11 = _mm256_max_ps(c11, z);
            c20 = _mm256_max_ps(c20, z); c21 = _mm256_max_ps(c21, z); c30 = _mm256_max_ps(c30, z); c31 = _mm256_max_ps(c31, z);
            c40 = _mm256_max_ps(c40, z); c41 = _mm256_max_ps(c41, z); c50 = _mm256_max_ps(c50, z); c51 = _mm256_max_ps(c51, z);
        }
        _mm256_storeu_ps(c, c00); _mm256_storeu_ps(c + 8, c01); c += ldc;
        _mm256_storeu_ps(c, c10); _mm256_storeu_ps(c + 8, c11); c += ldc;
        _mm256_storeu_ps(c, c20); _mm256_storeu_ps(c + 8, c21); c += ldc;
        _mm256_storeu_ps(c, c30); _mm256_storeu_ps(c + 8, c31); c += ldc;
        _mm256_storeu_ps(c, c40); _mm256_storeu_ps(c + 8, c41); c += ldc;
        _mm256_storeu_ps(c, c50); _mm256_storeu_ps(c + 8, c51);
    } else {
        float acc[6 * 16];
        _mm256_storeu_ps(acc, c00); _mm256_storeu_ps(acc + 8, c01);
        _mm256_storeu_ps(acc + 16, c10); _mm256_storeu_ps(acc + 24, c11);
        _mm256_storeu_ps(acc + 32, c20); _mm256_storeu_ps(acc + 40, c21);
        _mm256_storeu_ps(acc + 48, c30); _mm256_storeu_ps(acc + 56, c31);
        _mm256_storeu_ps(acc + 64, c40); _mm256_storeu_ps(acc + 72, c41);
        _mm256_storeu_ps(acc + 80, c50); _mm256_storeu_ps(acc + 88, c51);
        fnet__tile_store_avx2(acc, bias, c, ldc, mr, nc, relu);
    }
}
/* The AVX2 micro-kernel for any tile height (up to 6), prefetching as fnet__tile_avx2_pf. */
FNET__AVX2_FN static void fnet__tile_avx2_pfd(const float *const *a, int ma, int nseg, int kc,
                                              const float *b, const float *bias, float *c, int ldc,
                                              int mr, int nc, int relu, const float *pf, int every) {
    if (mr <= 2) fnet__tile_avx2_r2(a, ma, nseg, kc, b, bias, c, ldc, mr, nc, relu, pf, every);
    else if (mr <= 4) fnet__tile_avx2_r4(a, ma, nseg, kc, b, bias, c, ldc, mr, nc, relu, pf, every);
    else fnet__tile_avx2_pf(a, ma, nseg, kc, b, bias, c, ldc, mr, nc, relu, pf, every);
}
FNET__AVX2_FN static void fnet__tile_avx2(const float *const *a, int ma, int nseg, int kc,
                                          const float *b, const float *bias, float *c, int ldc,
                                          int mr, int nc, int relu) {
    fnet__tile_avx2_pfd(a, ma, nseg, kc, b, bias, c, ldc, mr, nc, relu, NULL, 1);
}
#endif

#if defined(FNET__NEON)
/* NEON: 6 x 16 tile = 24 q-register accumulators, 4 for the panel row. */
static void fnet__tile_neon(const float *const *a, int ma, int nseg, int kc, const float *b,
                            const float *bias, float *c, int ldc, int mr, int nc, int relu) {
    float32x4_t acc[6][4];
    float tmp[6 * 16];
    int s, k, r, j;
    for (r = 0; r < 6; r++)
        for (j = 0; j < 4; j++) acc[r][j] = vdupq_n_f32(0.0f);
    for (s = 0; s < nseg; s++) {
        const float *ar[6];
        for (r = 0; r < 6; r++) ar[r] = a[s * ma + r];
        for (k = 0; k < kc; k++, b += 16) {
            float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8),
                        b3 = vld1q_f32(b + 12);
            for (r = 0; r < 6; r++) {
                float32x4_t x = vdupq_n_f32(ar[r][k]);
                acc[r][0] = vmlaq_f32(acc[r][0], x, b0);
                acc[r][1] = vmlaq_f32(acc[r][1], x, b1);
                acc[r][2] = vmlaq_f32(acc[r][2], x, b2);
                acc[r][3] = vmlaq_f32(acc[r][3], x, b3);
            }
        }
    }
    for (r = 0; r < 6; r++)
        for (j = 0; j < 4; j++) vst1q_f32(tmp + r * 16 + j * 4, acc[r][j]);
    fnet__tile_store(tmp, bias, c, ldc, mr, nc, relu);
}
#endif

#if defined(FNET__WASM_SIMD)
/* WebAssembly SIMD128: FNET__WASM_MR x 16 tile, multiply then add (wasm has no FMA; the
   scalar tile's order of operations, so the same sums). 4 rows: 16 accumulators + 4 for the
   panel row + 1 broadcast, which is what an x86-64 engine's 16 xmm registers hold with few
   spills (6 rows, as on NEON's 32 registers, spill more: measured slower under Node). */
#define FNET__WASM_MR 4
static void fnet__tile_wasm(const float *const *a, int ma, int nseg, int kc, const float *b,
                            const float *bias, float *c, int ldc, int mr, int nc, int relu) {
    v128_t acc[FNET__WASM_MR][4];
    float tmp[FNET__WASM_MR * 16];
    int s, k, r, j;
    for (r = 0; r < FNET__WASM_MR; r++)
        for (j = 0; j < 4; j++) acc[r][j] = wasm_f32x4_splat(0.0f);
    for (s = 0; s < nseg; s++) {
        const float *ar[FNET__WASM_MR];
        for (r = 0; r < FNET__WASM_MR; r++) ar[r] = a[s * ma + r];
        for (k = 0; k < kc; k++, b += 16) {
            v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4), b2 = wasm_v128_load(b + 8),
                   b3 = wasm_v128_load(b + 12);
            for (r = 0; r < FNET__WASM_MR; r++) {
                v128_t x = wasm_f32x4_splat(ar[r][k]);
                acc[r][0] = wasm_f32x4_add(acc[r][0], wasm_f32x4_mul(x, b0));
                acc[r][1] = wasm_f32x4_add(acc[r][1], wasm_f32x4_mul(x, b1));
                acc[r][2] = wasm_f32x4_add(acc[r][2], wasm_f32x4_mul(x, b2));
                acc[r][3] = wasm_f32x4_add(acc[r][3], wasm_f32x4_mul(x, b3));
            }
        }
    }
    for (r = 0; r < FNET__WASM_MR; r++)
        for (j = 0; j < 4; j++) wasm_v128_store(tmp + r * 16 + j * 4, acc[r][j]);
    fnet__tile_store(tmp, bias, c, ldc, mr, nc, relu);
}
#endif

#if defined(FNET__X86) && !defined(FNET_NO_AVX512)
#define FNET__AVX512 1
#if defined(__GNUC__) || defined(__clang__)
#define FNET__AVX512_FN __attribute__((target("avx512f,avx2,fma")))
#else
#define FNET__AVX512_FN /* MSVC: no target attributes (see "SIMD availability") */
#endif
/* Kernel id of the AVX-512 micro-kernel: not a public fnet_isa. The AVX2 kernel set uses it
   for convolutions when the CPU has AVX-512F (and the OS saves zmm state); FNET_NO_AVX512
   leaves it out. */
#define FNET__KERN_AVX512 16

static int fnet__cpu_has_avx512f(void) {
#if defined(__GNUC__) || defined(__clang__)
    unsigned a, b, c, d, lo, hi;
    if (!fnet__cpu_has_avx2_fma()) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b & (1u << 16))) return 0; /* avx512f */
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 0xE6u) == 0xE6u; /* xmm, ymm, opmask, zmm0-15 upper, zmm16-31 */
#else
    int r[4];
    if (!fnet__cpu_has_avx2_fma()) return 0;
    __cpuidex(r, 7, 0);
    if (!(r[1] & (1 << 16))) return 0;
    return (_xgetbv(0) & 0xE6u) == 0xE6u;
#endif
}

/* max(x, 0) (the maskz form: g++ -O2 warns about _mm512_max_ps's undefined source) */
#define FNET__RELU512(x, z) _mm512_maskz_max_ps((__mmask16)0xFFFF, (x), (z))

/* AVX-512: a 6 x 32 tile over two adjacent panels (b0, b1 = b0 + one panel): 12 zmm
   accumulators, 2 for the panel rows, 1 broadcast. nc counts valid columns of the 32;
   pf/every: as fnet__tile_avx2_pf, two cache lines at a time (the two panels' worth). */
FNET__AVX512_FN static void fnet__tile2_avx512(const float *const *a, int ma, int nseg, int kc,
                                               const float *b0, const float *b1,
                                               const float *bias, float *c, int ldc, int mr,
                                               int nc, int relu, const float *pf, int every) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, v0, v1, z;
    __mmask16 m0 = (__mmask16)(nc >= 16 ? 0xFFFFu : (1u << nc) - 1u);
    __mmask16 m1 = (__mmask16)(nc >= 32 ? 0xFFFFu : nc <= 16 ? 0u : (1u << (nc - 16)) - 1u);
    int s, k, cnt = pf ? every : INT_MAX;
    for (s = 0; s < nseg; s++) {
        const float *a0 = a[s * ma], *a1 = a[s * ma + 1], *a2 = a[s * ma + 2];
        const float *a3 = a[s * ma + 3], *a4 = a[s * ma + 4], *a5 = a[s * ma + 5];
        for (k = 0; k < kc; k++, b0 += 16, b1 += 16) {
            __m512 w0 = _mm512_load_ps(b0), w1 = _mm512_load_ps(b1), x;
            if (--cnt == 0) {
                _mm_prefetch((const char *)pf, _MM_HINT_T0); _mm_prefetch((const char *)(pf + 16), _MM_HINT_T0);
                pf += 32; cnt = every;
            }
            x = _mm512_set1_ps(a0[k]); c00 = _mm512_fmadd_ps(x, w0, c00); c01 = _mm512_fmadd_ps(x, w1, c01);
            x = _mm512_set1_ps(a1[k]); c10 = _mm512_fmadd_ps(x, w0, c10); c11 = _mm512_fmadd_ps(x, w1, c11);
            x = _mm512_set1_ps(a2[k]); c20 = _mm512_fmadd_ps(x, w0, c20); c21 = _mm512_fmadd_ps(x, w1, c21);
            x = _mm512_set1_ps(a3[k]); c30 = _mm512_fmadd_ps(x, w0, c30); c31 = _mm512_fmadd_ps(x, w1, c31);
            x = _mm512_set1_ps(a4[k]); c40 = _mm512_fmadd_ps(x, w0, c40); c41 = _mm512_fmadd_ps(x, w1, c41);
            x = _mm512_set1_ps(a5[k]); c50 = _mm512_fmadd_ps(x, w0, c50); c51 = _mm512_fmadd_ps(x, w1, c51);
        }
    }
    v0 = _mm512_loadu_ps(bias);
    v1 = _mm512_loadu_ps(bias + 16);
    z = _mm512_setzero_ps();
#define FNET__ROW512(r, x0, x1)                                                          \
    if (mr > r) {                                                                         \
        x0 = _mm512_add_ps(x0, v0); x1 = _mm512_add_ps(x1, v1);                           \
        if (relu) { x0 = FNET__RELU512(x0, z); x1 = FNET__RELU512(x1, z); }               \
        _mm512_mask_storeu_ps(c + (size_t)r * ldc, m0, x0);                               \
        _mm512_mask_storeu_ps(c + (size_t)r * ldc + 16, m1, x1);                          \
    }
    FNET__ROW512(0, c00, c01)
    FNET__ROW512(1, c10, c11)
    FNET__ROW512(2, c20, c21)
    FNET__ROW512(3, c30, c31)
    FNET__ROW512(4, c40, c41)
    FNET__ROW512(5, c50, c51)
#undef FNET__ROW512
}
#endif

/* The micro-kernel and its tile height for a kernel set. */
static fnet__tile_fn fnet__tile_for(int isa, int *mr) {
#if defined(FNET__X86)
    if (isa == FNET_ISA_AVX2) { *mr = 6; return fnet__tile_avx2; }
    if (isa == FNET_ISA_SSE2) { *mr = 3; return fnet__tile_sse2; }
#endif
#if defined(FNET__AVX512)
    if (isa == FNET__KERN_AVX512) { *mr = 6; return fnet__tile_avx2; } /* odd last panel */
#endif
#if defined(FNET__NEON)
    if (isa == FNET_ISA_NEON) { *mr = 6; return fnet__tile_neon; }
#endif
#if defined(FNET__WASM_SIMD)
    if (isa == FNET_ISA_WASM_SIMD) { *mr = FNET__WASM_MR; return fnet__tile_wasm; }
#endif
    (void)isa;
    *mr = 4;
    return fnet__tile_scalar;
}

/* Packs W (K rows, n columns, row-major) into ceil(n/16) panels of K x 16 (zero-padded). */
static void fnet__pack_b(const float *w, int K, int n, float *out) {
    int p, k, j, np = (n + FNET__NR - 1) / FNET__NR;
    for (p = 0; p < np; p++)
        for (k = 0; k < K; k++)
            for (j = 0; j < FNET__NR; j++) {
                int col = p * FNET__NR + j;
                *out++ = col < n ? w[(size_t)k * n + col] : 0.0f;
            }
}

/* Convolution geometry (also used by the pools and PAD). */
typedef struct fnet__geom {
    int kh, kw, sh, sw, pt, pl, pb, pr;
} fnet__geom;

/* Weight panels per block: the M tiles of a convolution sweep one block of panels at a
   time, so that a block (<= 512 KB) is read from memory once and then served from L2 (the
   deep layers of both networks have a few pixels and megabytes of weights). */
#define FNET__PANEL_BLOCK_BYTES ((size_t)512 * 1024)
/* Convolutions with few M tiles (FNET__PF_TILES or fewer: the deep layers at a few pixels)
   read each weight once or twice: their time goes to streaming weights from memory (the
   ResNet's 256-channel layers alone hold 19 MB, more than a 16 MB L3 keeps between two
   faces). There the micro-kernels prefetch the next block of panels while they compute on
   this one (M tile t of a block fetches the t-th share of the next block's panels, one line
   every FNET__PF_TILES... every nmt panel rows), and blocks are smaller
   (FNET__PF_BLOCK_BYTES) so that this block and the next both sit in L2. */
#define FNET__PF_TILES 8
#define FNET__PF_BLOCK_BYTES ((size_t)160 * 1024)

/* One convolution of a batch of n images, cut into work units for the caller's threads.
   Image b's input (H, W, Cin) is at in + b * in_stride; the outputs (OH, OW, Cout) of the
   n images follow each other at out, so the n * OH * OW output pixels form the M rows of
   one matrix product: each block of weight panels is swept over the pixels of every image
   while it sits in L2 (weights read once per batch). A unit is (panel block, M tile), in
   block-major order; the units of one thread run in that order, which for a single thread
   is the loop of a single image. A tile's rows may come from two images: the micro-kernel
   computes every row on its own, so each output is the same whatever its tile neighbours.
   Winograd convolutions cut the same way: a unit is (panel chunk, block of tiles). */
typedef struct fnet__convjob {
    int kern, mr, n;
    fnet__tile_fn tile;
    const float *in, *bp, *bias, *zeros;
    size_t in_stride;
    int H, W, Cin, OH, OW, Cout;
    fnet__geom g;
    float *out;
    int relu;
    const float *res;       /* fused residual ADD (Winograd F(4x4) and direct): NULL, or the */
    size_t res_stride;      /* shortcut, shaped as out, image b at res + b * res_stride */
    int np, pblk, nmt;      /* panels, panels per block, M tiles (of all images) */
    int pf;                 /* prefetch the next block of panels (few M tiles) */
    int wm;                 /* Winograd: outputs a tile side (2: F(2x2), 4: F(4x4)); 0: direct */
    int nchunk, nblk, ngrp; /* Winograd: panel chunks, blocks of tiles, groups of mr tiles */
    int units;
} fnet__convjob;

/* Sets up a direct convolution job for `tasks` tasks: blocks of panels no larger than
   FNET__PANEL_BLOCK_BYTES, split further (down to pairs of panels) while there are fewer
   than 8 units per task (the deep layers: few pixels, many weights), so that shares of
   whole units stay within about 1/8 of each other; then evened out (8 panels in blocks of
   at most 7 become 4 + 4, not 7 + 1: a unit's work is its block's panels). */
static void fnet__conv_setup(fnet__convjob *j, int kern, const float *in, size_t in_stride, int n, int H,
                             int W, int Cin, const fnet__geom *g, int OH, int OW, int Cout, const float *bp,
                             const float *bias, const float *zeros, float *out, int relu, int tasks) {
    size_t panel;
    int minp = 1; /* panels per block at least: the AVX-512 kernel takes them in pairs */
    j->kern = kern; j->in = in; j->in_stride = in_stride; j->n = n;
    j->H = H; j->W = W; j->Cin = Cin; j->g = *g; j->OH = OH; j->OW = OW; j->Cout = Cout;
    j->bp = bp; j->bias = bias; j->zeros = zeros; j->out = out; j->relu = relu;
    j->res = NULL; j->res_stride = 0;
    j->tile = fnet__tile_for(kern, &j->mr);
    j->np = (Cout + FNET__NR - 1) / FNET__NR;
    panel = (size_t)g->kh * g->kw * Cin * FNET__NR;
    j->nmt = (int)(((size_t)n * OH * OW + (size_t)j->mr - 1) / (size_t)j->mr);
    j->pf = j->nmt <= FNET__PF_TILES;
#if defined(FNET__AVX512)
    if (kern == FNET__KERN_AVX512) minp = 2;
#endif
    j->pblk = (int)FNET__MAX((size_t)minp, (j->pf ? FNET__PF_BLOCK_BYTES : FNET__PANEL_BLOCK_BYTES) /
                                               (panel * sizeof(float)));
    if (minp == 2) j->pblk &= ~1;
    while (tasks > 1 && j->pblk > minp && (size_t)((j->np + j->pblk - 1) / j->pblk) * j->nmt < 8 * (size_t)tasks)
        j->pblk = minp == 2 ? (j->pblk / 2 + 1) & ~1 : (j->pblk + 1) / 2;
    j->nblk = (j->np + j->pblk - 1) / j->pblk;
    j->pblk = (j->np + j->nblk - 1) / j->nblk; /* equal blocks: 8 panels as 4 + 4, not 7 + 1 */
    if (minp == 2) j->pblk = (j->pblk + 1) & ~1;
    j->nblk = (j->np + j->pblk - 1) / j->pblk;
    j->nchunk = 1;
    j->wm = j->ngrp = 0;
    j->units = j->nblk * j->nmt;
}

static void fnet__add(fnet_isa isa, float *y, const float *a, const float *b, size_t n, int relu);
/* The element-wise kernels' set for a convolution kernel id (AVX-512 convolutions: AVX2). */
static fnet_isa fnet__add_isa(int kern) {
#if defined(FNET__AVX512)
    if (kern == FNET__KERN_AVX512) return FNET_ISA_AVX2;
#endif
    return (fnet_isa)kern;
}

/* Units u0..u1-1 of a direct convolution. ptrs: FNET__MR_MAX * KH * KW pointers. */
static void fnet__conv_units(const fnet__convjob *j, int u0, int u1, const float **ptrs) {
    const fnet__geom *g = &j->g;
    int mr_k = j->mr, M = j->OH * j->OW, MT = j->n * M, nseg = g->kh * g->kw, u;
    size_t panel = (size_t)nseg * j->Cin * FNET__NR;
    for (u = u0; u < u1; u++) {
        int p0 = (u / j->nmt) * j->pblk, p1 = FNET__MIN(j->np, p0 + j->pblk), m0 = (u % j->nmt) * mr_k;
        int mr = FNET__MIN(mr_k, MT - m0), r, ky, kx, p = p0, rows = 1, ns = nseg, kc = j->Cin, pf_ok = j->pf;
        /* this tile's share of the next block's panels to prefetch (see FNET__PF_TILES) */
        size_t pf_skip = (size_t)(u % j->nmt) * (((size_t)nseg * j->Cin + j->nmt - 1) / j->nmt) * FNET__NR;
        float *out = j->out;
        const float *bp = j->bp, *bias = j->bias;
        int Cout = j->Cout, relu = j->res ? 0 : j->relu; /* with a residual: ReLU after it */
        int rb[FNET__MR_MAX], ry[FNET__MR_MAX], rx[FNET__MR_MAX]; /* each row's image, oy, ox */
        rb[0] = m0 / M; ry[0] = (m0 % M) / j->OW; rx[0] = (m0 % M) % j->OW; /* then step (no divisions) */
        for (r = 1; r < mr; r++) {
            rb[r] = rb[r - 1]; ry[r] = ry[r - 1]; rx[r] = rx[r - 1] + 1;
            if (rx[r] == j->OW) { rx[r] = 0; if (++ry[r] == j->OH) { ry[r] = 0; rb[r]++; } }
        }
        for (r = 0; r < mr && rows; r++) /* every window inside the input horizontally? */
            rows = rx[r] * g->sw - g->pl >= 0 && rx[r] * g->sw - g->pl + g->kw <= j->W;
        rows = rows && g->kw > 1;
        if (rows) { ns = g->kh; kc = g->kw * j->Cin; } /* one segment per kernel row */
        for (r = 0; r < mr_k; r++) {
            int q = FNET__MIN(r, mr - 1), oy = ry[q], ox = rx[q], s = 0;
            const float *in = j->in + (size_t)rb[q] * j->in_stride;
            for (ky = 0; ky < g->kh; ky++) {
                int iy = oy * g->sh - g->pt + ky;
                if (rows) { /* the KW pixels of a kernel row are contiguous in HWC */
                    ptrs[ky * mr_k + r] = (iy >= 0 && iy < j->H) ? in + ((size_t)iy * j->W + ox * g->sw - g->pl) * j->Cin
                                                                 : j->zeros;
                    continue;
                }
                for (kx = 0; kx < g->kw; kx++, s++) {
                    int ix = ox * g->sw - g->pl + kx;
                    ptrs[s * mr_k + r] = (iy >= 0 && iy < j->H && ix >= 0 && ix < j->W)
                                             ? in + ((size_t)iy * j->W + ix) * j->Cin : j->zeros;
                }
            }
        }
#if defined(FNET__AVX512)
        if (j->kern == FNET__KERN_AVX512)
            for (; p + 2 <= p1; p += 2)
                fnet__tile2_avx512(ptrs, mr_k, ns, kc, bp + p * panel, bp + (p + 1) * panel,
                                   bias + p * FNET__NR, out + (size_t)m0 * Cout + p * FNET__NR, Cout, mr,
                                   FNET__MIN(2 * FNET__NR, Cout - p * FNET__NR), relu,
                                   pf_ok && p + 1 + j->pblk < j->np ? bp + (p + j->pblk) * panel + 2 * pf_skip : NULL,
                                   j->nmt);
#endif
#if defined(FNET__X86)
        if (pf_ok && j->tile == fnet__tile_avx2)
            for (; p < p1; p++)
                fnet__tile_avx2_pfd(ptrs, mr_k, ns, kc, bp + p * panel, bias + p * FNET__NR,
                                   out + (size_t)m0 * Cout + p * FNET__NR, Cout, mr,
                                   FNET__MIN(FNET__NR, Cout - p * FNET__NR), relu,
                                   p + j->pblk < j->np ? bp + (p + j->pblk) * panel + pf_skip : NULL, j->nmt);
#endif
        (void)pf_ok; (void)pf_skip;
        for (; p < p1; p++)
            j->tile(ptrs, mr_k, ns, kc, bp + p * panel, bias + p * FNET__NR,
                    out + (size_t)m0 * Cout + p * FNET__NR, Cout, mr, FNET__MIN(FNET__NR, Cout - p * FNET__NR), relu);
        if (j->res) /* the fused residual ADD on this tile, while it is in L1 */
            for (r = 0; r < mr; r++) {
                size_t at = (size_t)(m0 + r) * Cout + (size_t)p0 * FNET__NR; /* res is shaped as out */
                fnet__add(fnet__add_isa(j->kern), out + at, out + at, j->res + at,
                          (size_t)(FNET__MIN(Cout, p1 * FNET__NR) - p0 * FNET__NR), j->relu);
            }
    }
}

/* Convolution of in (H, W, Cin) with packed weights bp/bias into out (OH, OW, Cout).
   ptrs: scratch for FNET__MR_MAX * KH * KW pointers; zeros: >= KW * Cin zero floats. */
static void fnet__conv(int isa, const float *in, int H, int W, int Cin, const fnet__geom *g,
                       int OH, int OW, int Cout, const float *bp, const float *bias,
                       const float *zeros, const float **ptrs, float *out, int relu) {
    fnet__convjob j;
    fnet__conv_setup(&j, isa, in, 0, 1, H, W, Cin, g, OH, OW, Cout, bp, bias, zeros, out, relu, 1);
    fnet__conv_units(&j, 0, j.units, ptrs);
}

/* ---- Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (AVX2 and AVX-512 kernel sets) ----
   Lavin & Gray 2016, "Fast algorithms for convolutional neural networks". Each 2x2 block of
   outputs comes from a 4x4 input patch d: Y = A^T [ (G g G^T) .* (B^T d B) ] A, with
       B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
       A^T = [1 1 1 0; 0 1 -1 -1].
   Summed over input channels, the 16 element-wise products become 16 GEMMs
   (tiles x Cin) x (Cin x Cout), run on the same micro-kernels: 16 multiplies per 4 outputs
   instead of 36 (2.25x fewer). U = G g G^T is computed and packed at load; V = B^T d B and
   the GEMM results live in the workspace, FNET__WINO_T tiles at a time. (The deep layers of
   nn4 at 3x3 pixels are bound by streaming their weights, not by arithmetic: no Winograd.) The result differs
   from the direct convolution (the scalar twin, which defines it) by float rounding of the
   transforms: tests/test_kernels.c bounds it at 1e-5 of the output scale against the direct
   sums and against float64 (measured: 4.2e-7 against float64 over its cases). Define
   FNET_NO_WINOGRAD to use the direct convolution everywhere. */
#define FNET__WINO_T 18 /* tiles per block (a multiple of every micro-kernel height) */
#ifndef FNET__WINO_SPLIT_BYTES
#define FNET__WINO_SPLIT_BYTES ((size_t)512 * 1024) /* see fnet__wino_split */
#endif

/* Packs U = G g G^T of W (3, 3, Cin, Cout) as 16 matrices (Cin x Cout), each in panels.
   tmp: 16 * Cin * Cout floats. */
static void fnet__wino_pack(const float *w, int cin, int cout, float *out, float *tmp) {
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    int xi, ci, co, i, j, a, b;
    size_t np = (size_t)(cout + FNET__NR - 1) / FNET__NR, plane = (size_t)cin * cout;
    for (ci = 0; ci < cin; ci++) /* tmp: 16 planes of U[xi] (Cin x Cout) */
        for (co = 0; co < cout; co++) {
            double gg[4][3]; /* G g */
            for (i = 0; i < 4; i++)
                for (b = 0; b < 3; b++) {
                    double s = 0.0;
                    for (a = 0; a < 3; a++) s += G[i][a] * (double)w[(((size_t)a * 3 + b) * cin + ci) * cout + co];
                    gg[i][b] = s;
                }
            for (i = 0; i < 4; i++)
                for (j = 0; j < 4; j++)
                    tmp[(size_t)(i * 4 + j) * plane + (size_t)ci * cout + co] =
                        (float)(gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2]);
        }
    for (xi = 0; xi < 16; xi++)
        fnet__pack_b(tmp + (size_t)xi * plane, cin, cout, out + (size_t)xi * np * cin * FNET__NR);
}

#if defined(FNET__X86) && !defined(FNET_NO_WINOGRAD)
#define FNET__WINOGRAD 1
/* V[xi][t][c] = (B^T d B)[xi] for the 4x4 patch whose 16 rows of C floats are p[0..15]. */
FNET__AVX2_FN static void fnet__wino_in_avx2(const float *const *p, int C, float *v, size_t xstride) {
    int c = 0, i;
    for (; c + 8 <= C; c += 8) {
        __m256 d[16], t[16];
        for (i = 0; i < 16; i++) d[i] = _mm256_loadu_ps(p[i] + c);
        for (i = 0; i < 4; i++) { /* columns: t = B^T d */
            t[0 * 4 + i] = _mm256_sub_ps(d[0 * 4 + i], d[2 * 4 + i]);
            t[1 * 4 + i] = _mm256_add_ps(d[1 * 4 + i], d[2 * 4 + i]);
            t[2 * 4 + i] = _mm256_sub_ps(d[2 * 4 + i], d[1 * 4 + i]);
            t[3 * 4 + i] = _mm256_sub_ps(d[1 * 4 + i], d[3 * 4 + i]);
        }
        for (i = 0; i < 4; i++) { /* rows: V = t B */
            _mm256_storeu_ps(v + (i * 4 + 0) * xstride + c, _mm256_sub_ps(t[i * 4 + 0], t[i * 4 + 2]));
            _mm256_storeu_ps(v + (i * 4 + 1) * xstride + c, _mm256_add_ps(t[i * 4 + 1], t[i * 4 + 2]));
            _mm256_storeu_ps(v + (i * 4 + 2) * xstride + c, _mm256_sub_ps(t[i * 4 + 2], t[i * 4 + 1]));
            _mm256_storeu_ps(v + (i * 4 + 3) * xstride + c, _mm256_sub_ps(t[i * 4 + 1], t[i * 4 + 3]));
        }
    }
    for (; c < C; c++) {
        float d[16], t[16];
        for (i = 0; i < 16; i++) d[i] = p[i][c];
        for (i = 0; i < 4; i++) {
            t[i] = d[i] - d[8 + i]; t[4 + i] = d[4 + i] + d[8 + i];
            t[8 + i] = d[8 + i] - d[4 + i]; t[12 + i] = d[4 + i] - d[12 + i];
        }
        for (i = 0; i < 4; i++) {
            v[(i * 4 + 0) * xstride + c] = t[i * 4] - t[i * 4 + 2];
            v[(i * 4 + 1) * xstride + c] = t[i * 4 + 1] + t[i * 4 + 2];
            v[(i * 4 + 2) * xstride + c] = t[i * 4 + 2] - t[i * 4 + 1];
            v[(i * 4 + 3) * xstride + c] = t[i * 4 + 1] - t[i * 4 + 3];
        }
    }
}

/* The 2x2 outputs y[a][b][co] = A^T M A + bias of one tile; M[xi] = m + xi * xstride. */
FNET__AVX2_FN static void fnet__wino_out_avx2(const float *m, size_t xstride, int C,
                                              const float *bias, float *const *y, int relu) {
    int c = 0, j;
    __m256 z = _mm256_setzero_ps();
    for (; c + 8 <= C; c += 8) {
        __m256 s0[4], s1[4], bv = _mm256_loadu_ps(bias + c), r[4];
        for (j = 0; j < 4; j++) {
            __m256 m0 = _mm256_loadu_ps(m + (0 * 4 + j) * xstride + c), m1 = _mm256_loadu_ps(m + (1 * 4 + j) * xstride + c);
            __m256 m2 = _mm256_loadu_ps(m + (2 * 4 + j) * xstride + c), m3 = _mm256_loadu_ps(m + (3 * 4 + j) * xstride + c);
            s0[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
            s1[j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
        }
        r[0] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]), bv);
        r[1] = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]), bv);
        r[2] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]), bv);
        r[3] = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]), bv);
        for (j = 0; j < 4; j++) {
            if (relu) r[j] = _mm256_max_ps(r[j], z);
            if (y[j]) _mm256_storeu_ps(y[j] + c, r[j]);
        }
    }
    for (; c < C; c++) {
        float s0[4], s1[4], r[4];
        for (j = 0; j < 4; j++) {
            float m0 = m[(0 * 4 + j) * xstride + c], m1 = m[(1 * 4 + j) * xstride + c];
            float m2 = m[(2 * 4 + j) * xstride + c], m3 = m[(3 * 4 + j) * xstride + c];
            s0[j] = m0 + m1 + m2;
            s1[j] = m1 - m2 - m3;
        }
        r[0] = s0[0] + s0[1] + s0[2] + bias[c];
        r[1] = s0[1] - s0[2] - s0[3] + bias[c];
        r[2] = s1[0] + s1[1] + s1[2] + bias[c];
        r[3] = s1[1] - s1[2] - s1[3] + bias[c];
        for (j = 0; j < 4; j++) {
            if (relu && r[j] < 0.0f) r[j] = 0.0f;
            if (y[j]) y[j][c] = r[j];
        }
    }
}

/* Winograd jobs cut their panels into chunks (for threads) of whole panels, pairs on the
   AVX-512 kernels (their 32-wide tiles). */
static int fnet__chunk_gran(int kern) {
#if defined(FNET__AVX512)
    if (kern == FNET__KERN_AVX512) return 2;
#endif
    (void)kern;
    return 1;
}

/* Cuts nt tiles of a Winograd job (alpha2 = 16 or 36 U matrices) into units for `tasks`
   tasks. The tiles go in groups of mr (the micro-kernel's height: a group is one full tile of
   the GEMMs), the groups in equal blocks of at most tmax tiles (fnet__wino_block). With fewer
   than 8 blocks a task, either the blocks become a multiple of `tasks` (each task then
   transforms only its own tiles, and the tasks' shares differ by at most one group: 81 tiles
   are 42 + 39, 7 + 7 micro-kernel tiles, where blocks of 21 tiles made it 8 + 8), or, when
   the U matrices outgrow a core's L2 (the deep layers: each task then reads only its chunk of
   them), the panels are cut into `tasks` chunks, each chunk transforming the block's input
   again. Which cut never changes a result: every tile's outputs are computed on their own. */
static void fnet__wino_split(fnet__convjob *j, int kern, size_t nt, int tmax, int alpha2, int tasks) {
    size_t ubytes = (size_t)alpha2 * j->Cin * j->Cout * sizeof(float);
    int gmax = tmax / j->mr; /* groups a block at most (tmax is a multiple of mr) */
    j->wm = alpha2 == 36 ? 4 : 2;
    j->ngrp = (int)((nt + (size_t)j->mr - 1) / (size_t)j->mr);
    j->nblk = (j->ngrp + gmax - 1) / gmax;
    j->nchunk = 1;
    if (tasks > 1 && j->nblk < 8 * tasks) {
        if (ubytes <= FNET__WINO_SPLIT_BYTES && j->ngrp >= 2 * tasks)
            j->nblk = ((j->ngrp + tasks - 1) / tasks + gmax - 1) / gmax * tasks;
        else
            j->nchunk = FNET__MIN(tasks, (j->np + fnet__chunk_gran(kern) - 1) / fnet__chunk_gran(kern));
    }
    j->units = j->nchunk * j->nblk;
}

/* Block blk of a Winograd job's tiles: tiles *t0 .. *t0 + *n - 1 (groups ngrp * blk / nblk
   up to ngrp * (blk + 1) / nblk). */
static void fnet__wino_block(const fnet__convjob *j, int nt, int blk, int *t0, int *n) {
    int g0 = (int)((long)j->ngrp * blk / j->nblk), g1 = (int)((long)j->ngrp * (blk + 1) / j->nblk);
    *t0 = g0 * j->mr;
    *n = FNET__MAX(0, FNET__MIN(nt, g1 * j->mr) - *t0);
}

/* Sets up a Winograd F(2x2) job (3x3 stride 1; the job's bp is the 16 packed U matrices) for
   `tasks` tasks: blocks of FNET__WINO_T tiles (of all images), cut further by
   fnet__wino_split. */
static void fnet__wino_setup(fnet__convjob *j, int kern, const float *in, size_t in_stride, int n, int H,
                             int W, int Cin, const fnet__geom *g, int OH, int OW, int Cout, const float *up,
                             const float *bias, const float *zeros, float *out, int relu, int tasks) {
    size_t nt = (size_t)((OW + 1) / 2) * (size_t)((OH + 1) / 2) * (size_t)n;
    fnet__conv_setup(j, kern, in, in_stride, n, H, W, Cin, g, OH, OW, Cout, up, bias, zeros, out, relu, 1);
    fnet__wino_split(j, kern, nt, FNET__WINO_T, 16, tasks);
}

#endif

/* ---- Winograd F(4x4, 3x3): the same scheme on 6x6 patches (AVX2 and AVX-512 kernel sets) ----
   Lavin & Gray 2016 with the interpolation points 0, 1, -1, 2, -2 and infinity: each 4x4 block
   of outputs comes from a 6x6 input patch, Y = A^T [ (G g G^T) .* (B^T d B) ] A, with
       B^T = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0  4 -4 -1 1 0;
              0 -2 -1  2 1 0;  0  2 -1 -2 1 0;  0  4  0 -5 0 1],
       G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
       A^T = [1 1 1 1 1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1].
   36 GEMMs of (tiles x Cin) x (Cin x Cout): 36 multiplies per 16 outputs instead of 144 (4x
   fewer; F(2x2) saves 2.25x), and the transforms touch 36 / 16 inputs per output instead of
   16 / 4. The price is rounding: the transforms' constants up to 8 (and U's 1/6, 1/24) grow
   the float error. Measured against float64 on the ResNet's 35x35 and 17x17 layers (tests/
   test_kernels.c, test_winograd): at most 7.2e-6 of the output scale over its cases (4.1e-6
   on the ResNet's 35x35x32 shape, 6.9e-6 on its 17x17x64), about 8x the direct scalar sums'
   error; the bound checked is 1e-5, as for F(2x2). On the ResNet's embeddings the largest
   difference to face-api goes from 4.0e-7 (F(2x2)) to 5.2e-7 (tests/test_resnet_numerics.c). U costs 4x
   the weights' memory (F(2x2): 1.8x), so F(4x4) is taken where there are pixels enough to
   pay for it (sides >= FNET__WINO4_MIN_SIDE: the ResNet's 35x35 and 17x17 layers; its 8x8
   layers keep F(2x2), the deeper ones the direct convolution). The transforms are plain
   multiplies and adds, the scalar twins (fnet__wino4_in_scalar, fnet__wino4_out_scalar) do the
   same operations in the same order, and the AVX2 versions run 8 channels at a time. */
#if defined(FNET__WINOGRAD)
#define FNET__WINO4_T 30        /* tiles per block (a multiple of every micro-kernel height) */
#define FNET__WINO4_MIN_SIDE 12 /* smallest output side that takes F(4x4) */

/* Packs U = G g G^T of W (3, 3, Cin, Cout) as 36 matrices (Cin x Cout), each in panels of 16
   columns (fnet__pack_b's layout), straight from the weights (no scratch). */
static void fnet__wino4_pack(const float *w, int cin, int cout, float *out) {
    static const double G[6][3] = {{0.25, 0, 0},          {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    int ci, co, i, jj, a, b, np = (cout + FNET__NR - 1) / FNET__NR;
    size_t mat = (size_t)np * cin * FNET__NR;
    memset(out, 0, 36 * mat * sizeof(float));
    for (ci = 0; ci < cin; ci++)
        for (co = 0; co < cout; co++) {
            double gg[6][3]; /* G g */
            float *o = out + ((size_t)(co / FNET__NR) * cin + ci) * FNET__NR + co % FNET__NR;
            for (i = 0; i < 6; i++)
                for (b = 0; b < 3; b++) {
                    double s = 0.0;
                    for (a = 0; a < 3; a++) s += G[i][a] * (double)w[(((size_t)a * 3 + b) * cin + ci) * cout + co];
                    gg[i][b] = s;
                }
            for (i = 0; i < 6; i++)
                for (jj = 0; jj < 6; jj++)
                    o[(size_t)(i * 6 + jj) * mat] = (float)(gg[i][0] * G[jj][0] + gg[i][1] * G[jj][1] + gg[i][2] * G[jj][2]);
        }
}

/* B^T x for 6 values x[0], x[s], ..., x[5s] into r[0], r[rs], ...: the operations both the
   scalar and the SIMD input transforms perform (ADD, SUB, MUL by a constant). */
#define FNET__W4_BT(ADD, SUB, MULK, x0, x1, x2, x3, x4, x5, r0, r1, r2, r3, r4, r5)          \
    do {                                                                                      \
        r0 = SUB(ADD(x4, MULK(x0, 4.0f)), MULK(x2, 5.0f));                                  \
        r5 = SUB(ADD(x5, MULK(x1, 4.0f)), MULK(x3, 5.0f));                                  \
        r1 = SUB(ADD(x3, x4), MULK(ADD(x1, x2), 4.0f));                                      \
        r2 = ADD(SUB(x4, x3), MULK(SUB(x1, x2), 4.0f));                                      \
        r3 = ADD(SUB(x4, x2), MULK(SUB(x3, x1), 2.0f));                                      \
        r4 = SUB(SUB(x4, x2), MULK(SUB(x3, x1), 2.0f));                                      \
    } while (0)
/* A^T m for 6 values: 4 results. */
#define FNET__W4_AT(ADD, SUB, MULK, m0, m1, m2, m3, m4, m5, y0, y1, y2, y3)                  \
    do {                                                                                      \
        y0 = ADD(ADD(m0, ADD(m1, m2)), ADD(m3, m4));                                         \
        y1 = ADD(SUB(m1, m2), MULK(SUB(m3, m4), 2.0f));                                      \
        y2 = ADD(ADD(m1, m2), MULK(ADD(m3, m4), 4.0f));                                      \
        y3 = ADD(ADD(SUB(m1, m2), MULK(SUB(m3, m4), 8.0f)), m5);                             \
    } while (0)
#define FNET__SADD(a, b) ((a) + (b))
#define FNET__SSUB(a, b) ((a) - (b))
#define FNET__SMULK(a, k) ((a) * (k))

/* Scalar twin of the input transform: V[xi][c] = (B^T d B)[xi] for channels c0..c1-1 of the
   6x6 patch whose 36 rows of C floats are p[0..35]; V[xi] = v + xi * xstride. */
static void fnet__wino4_in_scalar(const float *const *p, int c0, int c1, float *v, size_t xstride) {
    int c, i;
    for (c = c0; c < c1; c++) {
        float t[36], r[6];
        for (i = 0; i < 6; i++) /* columns: t = B^T d */
            FNET__W4_BT(FNET__SADD, FNET__SSUB, FNET__SMULK, p[i][c], p[6 + i][c], p[12 + i][c], p[18 + i][c],
                        p[24 + i][c], p[30 + i][c], t[i], t[6 + i], t[12 + i], t[18 + i], t[24 + i], t[30 + i]);
        for (i = 0; i < 6; i++) { /* rows: V = t B */
            const float *q = t + i * 6;
            FNET__W4_BT(FNET__SADD, FNET__SSUB, FNET__SMULK, q[0], q[1], q[2], q[3], q[4], q[5], r[0], r[1], r[2],
                        r[3], r[4], r[5]);
            v[(i * 6 + 0) * xstride + c] = r[0]; v[(i * 6 + 1) * xstride + c] = r[1];
            v[(i * 6 + 2) * xstride + c] = r[2]; v[(i * 6 + 3) * xstride + c] = r[3];
            v[(i * 6 + 4) * xstride + c] = r[4]; v[(i * 6 + 5) * xstride + c] = r[5];
        }
    }
}

/* Scalar twin of the output transform: the 16 outputs y[4a + b][c] = relu?(A^T M A + bias
   (+ res[4a + b][c])) of one tile, channels c0..c1-1; M[xi] = m + xi * xstride; y[q] NULL:
   outside the image (not stored); res NULL: no residual (else res[q] non-NULL where y[q] is). */
static void fnet__wino4_out_scalar(const float *m, size_t xstride, int c0, int c1, const float *bias,
                                   float *const *y, const float *const *res, int relu) {
    int c, i, q;
    for (c = c0; c < c1; c++) {
        float s[24], r[16];
        for (i = 0; i < 6; i++) /* columns: s = A^T M (4 x 6) */
            FNET__W4_AT(FNET__SADD, FNET__SSUB, FNET__SMULK, m[(0 + i) * xstride + c], m[(6 + i) * xstride + c],
                        m[(12 + i) * xstride + c], m[(18 + i) * xstride + c], m[(24 + i) * xstride + c],
                        m[(30 + i) * xstride + c], s[i], s[6 + i], s[12 + i], s[18 + i]);
        for (i = 0; i < 4; i++) /* rows: Y = s A */
            FNET__W4_AT(FNET__SADD, FNET__SSUB, FNET__SMULK, s[i * 6], s[i * 6 + 1], s[i * 6 + 2], s[i * 6 + 3],
                        s[i * 6 + 4], s[i * 6 + 5], r[i * 4], r[i * 4 + 1], r[i * 4 + 2], r[i * 4 + 3]);
        for (q = 0; q < 16; q++) {
            float o = r[q] + bias[c];
            if (!y[q]) continue;
            if (res) o = o + res[q][c];
            y[q][c] = (relu && o < 0.0f) ? 0.0f : o;
        }
    }
}

#define FNET__VADD(a, b) _mm256_add_ps((a), (b))
#define FNET__VSUB(a, b) _mm256_sub_ps((a), (b))
#define FNET__VMULK(a, k) _mm256_mul_ps((a), _mm256_set1_ps(k))
/* The input transform, 8 channels at a time (the scalar twin for the last C % 8). */
FNET__AVX2_FN static void fnet__wino4_in_avx2(const float *const *p, int C, float *v, size_t xstride) {
    int c = 0, i;
    for (; c + 8 <= C; c += 8) {
        __m256 t[36];
        for (i = 0; i < 6; i++)
            FNET__W4_BT(FNET__VADD, FNET__VSUB, FNET__VMULK, _mm256_loadu_ps(p[i] + c), _mm256_loadu_ps(p[6 + i] + c),
                        _mm256_loadu_ps(p[12 + i] + c), _mm256_loadu_ps(p[18 + i] + c), _mm256_loadu_ps(p[24 + i] + c),
                        _mm256_loadu_ps(p[30 + i] + c), t[i], t[6 + i], t[12 + i], t[18 + i], t[24 + i], t[30 + i]);
        for (i = 0; i < 6; i++) {
            __m256 r0, r1, r2, r3, r4, r5;
            FNET__W4_BT(FNET__VADD, FNET__VSUB, FNET__VMULK, t[i * 6], t[i * 6 + 1], t[i * 6 + 2], t[i * 6 + 3],
                        t[i * 6 + 4], t[i * 6 + 5], r0, r1, r2, r3, r4, r5);
            _mm256_storeu_ps(v + (i * 6 + 0) * xstride + c, r0); _mm256_storeu_ps(v + (i * 6 + 1) * xstride + c, r1);
            _mm256_storeu_ps(v + (i * 6 + 2) * xstride + c, r2); _mm256_storeu_ps(v + (i * 6 + 3) * xstride + c, r3);
            _mm256_storeu_ps(v + (i * 6 + 4) * xstride + c, r4); _mm256_storeu_ps(v + (i * 6 + 5) * xstride + c, r5);
        }
    }
    fnet__wino4_in_scalar(p, c, C, v, xstride);
}

/* The output transform (+ bias, residual, ReLU), 8 channels at a time. */
FNET__AVX2_FN static void fnet__wino4_out_avx2(const float *m, size_t xstride, int C, const float *bias,
                                               float *const *y, const float *const *res, int relu) {
    int c = 0, i, q;
    __m256 z = _mm256_setzero_ps();
    for (; c + 8 <= C; c += 8) {
        __m256 s[24], r[16], bv = _mm256_loadu_ps(bias + c);
        for (i = 0; i < 6; i++)
            FNET__W4_AT(FNET__VADD, FNET__VSUB, FNET__VMULK, _mm256_loadu_ps(m + (0 + i) * xstride + c),
                        _mm256_loadu_ps(m + (6 + i) * xstride + c), _mm256_loadu_ps(m + (12 + i) * xstride + c),
                        _mm256_loadu_ps(m + (18 + i) * xstride + c), _mm256_loadu_ps(m + (24 + i) * xstride + c),
                        _mm256_loadu_ps(m + (30 + i) * xstride + c), s[i], s[6 + i], s[12 + i], s[18 + i]);
        for (i = 0; i < 4; i++)
            FNET__W4_AT(FNET__VADD, FNET__VSUB, FNET__VMULK, s[i * 6], s[i * 6 + 1], s[i * 6 + 2], s[i * 6 + 3],
                        s[i * 6 + 4], s[i * 6 + 5], r[i * 4], r[i * 4 + 1], r[i * 4 + 2], r[i * 4 + 3]);
        for (q = 0; q < 16; q++) {
            __m256 o = _mm256_add_ps(r[q], bv);
            if (!y[q]) continue;
            if (res) o = _mm256_add_ps(o, _mm256_loadu_ps(res[q] + c));
            if (relu) o = _mm256_max_ps(o, z);
            _mm256_storeu_ps(y[q] + c, o);
        }
    }
    fnet__wino4_out_scalar(m, xstride, c, C, bias, y, res, relu);
}
#undef FNET__VADD
#undef FNET__VSUB
#undef FNET__VMULK

/* Sets up an F(4x4) job (3x3 stride 1; bp: the 36 packed U matrices), cut like F(2x2)'s:
   blocks of FNET__WINO4_T tiles, cut further by fnet__wino_split. */
static void fnet__wino4_setup(fnet__convjob *j, int kern, const float *in, size_t in_stride, int n, int H,
                              int W, int Cin, const fnet__geom *g, int OH, int OW, int Cout, const float *up,
                              const float *bias, const float *zeros, float *out, int relu, int tasks) {
    size_t nt = (size_t)((OW + 3) / 4) * (size_t)((OH + 3) / 4) * (size_t)n;
    fnet__conv_setup(j, kern, in, in_stride, n, H, W, Cin, g, OH, OW, Cout, up, bias, zeros, out, relu, 1);
    fnet__wino_split(j, kern, nt, FNET__WINO4_T, 36, tasks);
}

/* Units u0..u1-1 of a Winograd job, F(2x2) or F(4x4) as j->wm says: m x m outputs from each
   (m + 2) x (m + 2) input patch, A = (m + 2)^2 GEMMs. Per block of tiles: the input transform
   of each tile's patch (V, A matrices of tiles x Cin), the A GEMMs V x U of this chunk's panels
   (M, tiles x Cout), the output transform of each tile with bias, the residual and ReLU.
   vbuf: A * T * Cin floats, mbuf: A * T * Cout floats (T = FNET__WINO_T or FNET__WINO4_T);
   zeros: >= max(Cin, Cout rounded up to 32) zero floats. With j->res, the residual (same
   shape as the output, image b at res + b * res_stride) is added before the ReLU: the fused
   ADD of a residual block, in the ADD's order of operations. */
static void fnet__wino_units(const fnet__convjob *j, int u0, int u1, const float **ptrs, float *vbuf,
                             float *mbuf) {
    const fnet__geom *g = &j->g;
    int m = j->wm, al = m + 2, A = al * al, tmax = m == 4 ? FNET__WINO4_T : FNET__WINO_T;
    int tw = (j->OW + m - 1) / m, nt1 = tw * ((j->OH + m - 1) / m), nt = nt1 * j->n, mr_k = j->mr, np = j->np, u;
    int Cin = j->Cin, Cout = j->Cout, H = j->H, W = j->W;
    size_t panel = (size_t)Cin * FNET__NR, vs = (size_t)tmax * Cin, ms = (size_t)tmax * Cout;
    const float *zeros = j->zeros;
    for (u = u0; u < u1; u++) {
        int ch = u / j->nblk, t0, n, t, xi, m0, p;
        int gr = fnet__chunk_gran(j->kern), ng = (np + gr - 1) / gr;
        int pa = (int)(((long)ch * ng) / j->nchunk) * gr, pb = (int)(((long)(ch + 1) * ng) / j->nchunk) * gr;
        int c0 = pa * FNET__NR, c1 = FNET__MIN(Cout, pb * FNET__NR);
        pb = FNET__MIN(pb, np);
        fnet__wino_block(j, nt, u % j->nblk, &t0, &n);
        for (t = 0; t < n; t++) { /* input transform of each tile's patch */
            int b = (t0 + t) / nt1, tt = (t0 + t) % nt1, ty = tt / tw, tx = tt % tw, i, jj;
            const float *in = j->in + (size_t)b * j->in_stride, *pp[36];
            for (i = 0; i < al; i++)
                for (jj = 0; jj < al; jj++) {
                    int iy = m * ty - g->pt + i, ix = m * tx - g->pl + jj;
                    pp[i * al + jj] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? in + ((size_t)iy * W + ix) * Cin : zeros;
                }
            if (m == 4) fnet__wino4_in_avx2(pp, Cin, vbuf + (size_t)t * Cin, vs);
            else fnet__wino_in_avx2(pp, Cin, vbuf + (size_t)t * Cin, vs);
        }
        for (xi = 0; xi < A; xi++) /* A GEMMs: (n x Cin) x (Cin x Cout) */
            for (m0 = 0; m0 < n; m0 += mr_k) {
                int mr = FNET__MIN(mr_k, n - m0), r, nmx = (n + mr_k - 1) / mr_k;
                const float *bw = j->bp + (size_t)xi * np * panel;
                size_t pf_skip = (size_t)(m0 / mr_k) * (((size_t)Cin + nmx - 1) / nmx) * FNET__NR;
                for (r = 0; r < mr_k; r++) ptrs[r] = vbuf + xi * vs + (size_t)(m0 + FNET__MIN(r, mr - 1)) * Cin;
                p = pa;
#if defined(FNET__AVX512)
                if (j->kern == FNET__KERN_AVX512)
                    for (; p + 2 <= pb; p += 2)
                        fnet__tile2_avx512(ptrs, mr_k, 1, Cin, bw + p * panel, bw + (p + 1) * panel, zeros,
                                           mbuf + xi * ms + (size_t)m0 * Cout + p * FNET__NR, Cout, mr,
                                           FNET__MIN(2 * FNET__NR, Cout - p * FNET__NR), 0,
                                           xi + 1 < A ? bw + (np + p) * panel + 2 * pf_skip : NULL, nmx);
#endif
#if defined(FNET__X86)
                if (j->tile == fnet__tile_avx2) /* prefetching U[xi + 1] (see FNET__PF_TILES) */
                    for (; p < pb; p++)
                        fnet__tile_avx2_pfd(ptrs, mr_k, 1, Cin, bw + p * panel, zeros,
                                           mbuf + xi * ms + (size_t)m0 * Cout + p * FNET__NR, Cout, mr,
                                           FNET__MIN(FNET__NR, Cout - p * FNET__NR), 0,
                                           xi + 1 < A ? bw + (np + p) * panel + pf_skip : NULL, nmx);
#endif
                for (; p < pb; p++)
                    j->tile(ptrs, mr_k, 1, Cin, bw + p * panel, zeros, mbuf + xi * ms + (size_t)m0 * Cout + p * FNET__NR,
                            Cout, mr, FNET__MIN(FNET__NR, Cout - p * FNET__NR), 0);
            }
        for (t = 0; t < n; t++) { /* output transform, bias, residual, ReLU of this chunk's channels */
            int b = (t0 + t) / nt1, tt = (t0 + t) % nt1, ty = tt / tw, tx = tt % tw, a, b2;
            float *y[16], *out = j->out + (size_t)b * j->OH * j->OW * Cout;
            const float *rs[16], *res = j->res ? j->res + (size_t)b * j->res_stride : NULL;
            for (a = 0; a < m; a++)
                for (b2 = 0; b2 < m; b2++) {
                    int oy = m * ty + a, ox = m * tx + b2, in_img = oy < j->OH && ox < j->OW;
                    size_t px = in_img ? ((size_t)oy * j->OW + ox) * Cout + c0 : 0;
                    y[a * m + b2] = in_img ? out + px : NULL;
                    rs[a * m + b2] = res && in_img ? res + px : zeros;
                }
            if (m == 4) {
                fnet__wino4_out_avx2(mbuf + (size_t)t * Cout + c0, ms, c1 - c0, j->bias + c0, y, res ? rs : NULL, j->relu);
                continue;
            }
            fnet__wino_out_avx2(mbuf + (size_t)t * Cout + c0, ms, c1 - c0, j->bias + c0, y, res ? 0 : j->relu);
            for (a = 0; res && a < 4; a++) /* F(2x2): the residual ADD after the transform */
                if (y[a]) fnet__add(FNET_ISA_AVX2, y[a], y[a], rs[a], (size_t)(c1 - c0), j->relu);
        }
    }
}

/* 3x3 stride-1 convolution by Winograd F(2x2, 3x3): kern is FNET_ISA_AVX2 or the AVX-512
   kernel id; up: 16 packed U matrices; vbuf: 16 * FNET__WINO_T * Cin floats, mbuf: 16 *
   FNET__WINO_T * Cout floats; zeros: >= max(Cin, Cout rounded up to 32) zero floats. */
static void fnet__conv_wino(int kern, const float *in, int H, int W, int Cin, const fnet__geom *g,
                            int OH, int OW, int Cout, const float *up, const float *bias,
                            const float *zeros, const float **ptrs, float *vbuf, float *mbuf,
                            float *out, int relu) {
    fnet__convjob j;
    fnet__wino_setup(&j, kern, in, 0, 1, H, W, Cin, g, OH, OW, Cout, up, bias, zeros, out, relu, 1);
    fnet__wino_units(&j, 0, j.units, ptrs, vbuf, mbuf);
}
#endif

/* Packs node nd's Winograd U matrices (nd->wp) from W (3, 3, Cin, Cout): F(2x2) or F(4x4) as
   nd->wino says. tmp: 16 * Cin * Cout floats (F(2x2) only). */
static void fnet__node_wino_pack(const fnet__node *nd, const float *w, int cin, int cout, float *tmp) {
#if defined(FNET__WINOGRAD)
    if (nd->wino == 2) { fnet__wino4_pack(w, cin, cout, (float *)nd->wp); return; }
#endif
    fnet__wino_pack(w, cin, cout, (float *)nd->wp, tmp);
}

/* Element-wise kernels of the memory-bound ops, each with its scalar twin:
   fnet__acc: o[i] = max(o[i], p[i]) (mode 0) | o[i] + p[i] (1) | o[i] + p[i]^2 (2), i < n
   fnet__add: y[i] = relu?(a[i] + b[i]) (b NULL: relu?(a[i])), i < n
   LRN of one pixel's channels: see fnet__lrn_px_scalar. */
enum { FNET__ACC_MAX = 0, FNET__ACC_SUM = 1, FNET__ACC_SUMSQ = 2 };

static void fnet__acc_scalar(int mode, float *o, const float *p, int n) {
    int i;
    if (mode == FNET__ACC_MAX) for (i = 0; i < n; i++) o[i] = p[i] > o[i] ? p[i] : o[i];
    else if (mode == FNET__ACC_SUM) for (i = 0; i < n; i++) o[i] += p[i];
    else for (i = 0; i < n; i++) o[i] += p[i] * p[i];
}
static void fnet__add_scalar(float *y, const float *a, const float *b, size_t n, int relu) {
    size_t i;
    for (i = 0; i < n; i++) {
        float v = b ? a[i] + b[i] : a[i];
        y[i] = (relu && v < 0.0f) ? 0.0f : v;
    }
}

/* tf.nn.lrn at one pixel: o[c] = x[c] / (bias + alpha * sum_{k=c-r..c+r, 0<=k<C} x[k]^2)^beta.
   The sum runs k upwards, the power is computed as sqrt/div for beta 0.5, 0.75 and 1 (as the
   SIMD twins do: correctly rounded operations, identical results), else with powf. */
static float fnet__lrn_pow(float t, float beta) {
    if (beta == 0.75f) return sqrtf(t * sqrtf(t));
    if (beta == 0.5f) return sqrtf(t);
    if (beta == 1.0f) return t;
    return powf(t, beta);
}
static void fnet__lrn_px_scalar(const float *x, float *o, int c0, int c1, int C, int r,
                                float alpha, float beta, float bias) {
    int c, k;
    for (c = c0; c < c1; c++) {
        int lo = FNET__MAX(0, c - r), hi = FNET__MIN(C - 1, c + r);
        float s = 0.0f;
        for (k = lo; k <= hi; k++) s += x[k] * x[k];
        o[c] = x[c] / fnet__lrn_pow(bias + alpha * s, beta);
    }
}

#if defined(FNET__X86)
static void fnet__acc_sse2(int mode, float *o, const float *p, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 a = _mm_loadu_ps(o + i), b = _mm_loadu_ps(p + i);
        a = mode == FNET__ACC_MAX ? _mm_max_ps(b, a) : mode == FNET__ACC_SUM ? _mm_add_ps(a, b)
                                                                           : _mm_add_ps(a, _mm_mul_ps(b, b));
        _mm_storeu_ps(o + i, a);
    }
    fnet__acc_scalar(mode, o + i, p + i, n - i);
}
static void fnet__add_sse2(float *y, const float *a, const float *b, size_t n, int relu) {
    size_t i = 0;
    __m128 z = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_loadu_ps(a + i);
        if (b) v = _mm_add_ps(v, _mm_loadu_ps(b + i));
        if (relu) v = _mm_max_ps(v, z);
        _mm_storeu_ps(y + i, v);
    }
    if (i < n) fnet__add_scalar(y + i, a + i, b ? b + i : NULL, n - i, relu);
}
FNET__AVX2_FN static void fnet__acc_avx2(int mode, float *o, const float *p, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(o + i), b = _mm256_loadu_ps(p + i);
        a = mode == FNET__ACC_MAX ? _mm256_max_ps(b, a) : mode == FNET__ACC_SUM ? _mm256_add_ps(a, b)
                                                                              : _mm256_add_ps(a, _mm256_mul_ps(b, b));
        _mm256_storeu_ps(o + i, a);
    }
    fnet__acc_scalar(mode, o + i, p + i, n - i);
}
FNET__AVX2_FN static void fnet__add_avx2(float *y, const float *a, const float *b, size_t n, int relu) {
    size_t i = 0;
    __m256 z = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(a + i);
        if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
        if (relu) v = _mm256_max_ps(v, z);
        _mm256_storeu_ps(y + i, v);
    }
    if (i < n) fnet__add_scalar(y + i, a + i, b ? b + i : NULL, n - i, relu);
}
/* LRN, 8 channels at a time over a zero-padded copy of x^2 (sq: C + 2r + 8 floats): the
   same operations in the same order as the scalar twin (mul then add, no FMA; the padding
   adds exact zeros), so the results are equal. The last C % 8 channels use the twin. */
FNET__AVX2_FN static void fnet__lrn_px_avx2(const float *x, float *o, int C, int r, float alpha,
                                            float beta, float bias, float *sq) {
    int c, k;
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(bias);
    memset(sq, 0, (size_t)r * sizeof(float));
    for (c = 0; c + 8 <= C; c += 8) {
        __m256 v = _mm256_loadu_ps(x + c);
        _mm256_storeu_ps(sq + r + c, _mm256_mul_ps(v, v));
    }
    for (; c < C; c++) sq[r + c] = x[c] * x[c];
    memset(sq + r + C, 0, (size_t)(r + 8) * sizeof(float));
    for (c = 0; c + 8 <= C; c += 8) {
        __m256 s = _mm256_setzero_ps(), t;
        for (k = 0; k <= 2 * r; k++) s = _mm256_add_ps(s, _mm256_loadu_ps(sq + c + k));
        t = _mm256_add_ps(vb, _mm256_mul_ps(va, s));
        if (beta == 0.75f) t = _mm256_sqrt_ps(_mm256_mul_ps(t, _mm256_sqrt_ps(t)));
        else if (beta == 0.5f) t = _mm256_sqrt_ps(t);
        _mm256_storeu_ps(o + c, _mm256_div_ps(_mm256_loadu_ps(x + c), t));
    }
    fnet__lrn_px_scalar(x, o, c, C, C, r, alpha, beta, bias);
}
#endif
#if defined(FNET__NEON)
static void fnet__acc_neon(int mode, float *o, const float *p, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t a = vld1q_f32(o + i), b = vld1q_f32(p + i);
        a = mode == FNET__ACC_MAX ? vmaxq_f32(b, a) : mode == FNET__ACC_SUM ? vaddq_f32(a, b)
                                                                          : vaddq_f32(a, vmulq_f32(b, b));
        vst1q_f32(o + i, a);
    }
    fnet__acc_scalar(mode, o + i, p + i, n - i);
}
static void fnet__add_neon(float *y, const float *a, const float *b, size_t n, int relu) {
    size_t i = 0;
    float32x4_t z = vdupq_n_f32(0.0f);
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(a + i);
        if (b) v = vaddq_f32(v, vld1q_f32(b + i));
        if (relu) v = vmaxq_f32(v, z);
        vst1q_f32(y + i, v);
    }
    if (i < n) fnet__add_scalar(y + i, a + i, b ? b + i : NULL, n - i, relu);
}
#endif
#if defined(FNET__WASM_SIMD)
/* pmax(a, b) = a < b ? b : a is the scalar twins' selection exactly (signed zeros and NaN
   included): max(o, p) = p > o ? p : o, and relu(v) = v < 0 ? 0 : v. */
static void fnet__acc_wasm(int mode, float *o, const float *p, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        v128_t a = wasm_v128_load(o + i), b = wasm_v128_load(p + i);
        a = mode == FNET__ACC_MAX ? wasm_f32x4_pmax(a, b) : mode == FNET__ACC_SUM ? wasm_f32x4_add(a, b)
                                                                              : wasm_f32x4_add(a, wasm_f32x4_mul(b, b));
        wasm_v128_store(o + i, a);
    }
    fnet__acc_scalar(mode, o + i, p + i, n - i);
}
static void fnet__add_wasm(float *y, const float *a, const float *b, size_t n, int relu) {
    size_t i = 0;
    v128_t z = wasm_f32x4_splat(0.0f);
    for (; i + 4 <= n; i += 4) {
        v128_t v = wasm_v128_load(a + i);
        if (b) v = wasm_f32x4_add(v, wasm_v128_load(b + i));
        if (relu) v = wasm_f32x4_pmax(v, z);
        wasm_v128_store(y + i, v);
    }
    if (i < n) fnet__add_scalar(y + i, a + i, b ? b + i : NULL, n - i, relu);
}
#endif

static void fnet__acc(fnet_isa isa, int mode, float *o, const float *p, int n) {
#if defined(FNET__X86)
    if (isa == FNET_ISA_AVX2) { fnet__acc_avx2(mode, o, p, n); return; }
    if (isa == FNET_ISA_SSE2) { fnet__acc_sse2(mode, o, p, n); return; }
#endif
#if defined(FNET__NEON)
    if (isa == FNET_ISA_NEON) { fnet__acc_neon(mode, o, p, n); return; }
#endif
#if defined(FNET__WASM_SIMD)
    if (isa == FNET_ISA_WASM_SIMD) { fnet__acc_wasm(mode, o, p, n); return; }
#endif
    (void)isa;
    fnet__acc_scalar(mode, o, p, n);
}
static void fnet__add(fnet_isa isa, float *y, const float *a, const float *b, size_t n, int relu) {
#if defined(FNET__X86)
    if (isa == FNET_ISA_AVX2) { fnet__add_avx2(y, a, b, n, relu); return; }
    if (isa == FNET_ISA_SSE2) { fnet__add_sse2(y, a, b, n, relu); return; }
#endif
#if defined(FNET__NEON)
    if (isa == FNET_ISA_NEON) { fnet__add_neon(y, a, b, n, relu); return; }
#endif
#if defined(FNET__WASM_SIMD)
    if (isa == FNET_ISA_WASM_SIMD) { fnet__add_wasm(y, a, b, n, relu); return; }
#endif
    (void)isa;
    fnet__add_scalar(y, a, b, n, relu);
}

#if defined(FNET__X86)
/* A whole max- or average-pooling window inside the image (np pixels at p[0..np-1]), 8
   channels at a time: the operations of fnet__pool's per-pixel path (max: p > o ? p : o
   from the first pixel on; average: 0 + p0 + p1 ... then times inv), so the same results,
   without a call per window pixel. */
FNET__AVX2_FN static void fnet__pool_px_avx2(int mode, float *o, const float *const *p, int np, int C, float inv) {
    int c = 0, k;
    for (; c + 8 <= C; c += 8) {
        __m256 v = mode == FNET__ACC_MAX ? _mm256_loadu_ps(p[0] + c) : _mm256_add_ps(_mm256_setzero_ps(), _mm256_loadu_ps(p[0] + c));
        for (k = 1; k < np; k++)
            v = mode == FNET__ACC_MAX ? _mm256_max_ps(_mm256_loadu_ps(p[k] + c), v) : _mm256_add_ps(v, _mm256_loadu_ps(p[k] + c));
        if (mode != FNET__ACC_MAX) v = _mm256_mul_ps(v, _mm256_set1_ps(inv));
        _mm256_storeu_ps(o + c, v);
    }
    for (; c < C; c++) {
        float v = mode == FNET__ACC_MAX ? p[0][c] : 0.0f + p[0][c];
        for (k = 1; k < np; k++) v = mode == FNET__ACC_MAX ? (p[k][c] > v ? p[k][c] : v) : v + p[k][c];
        o[c] = mode == FNET__ACC_MAX ? v : v * inv;
    }
}
#endif

/* Pooling over (H, W, C) with zero padding that counts: kind MAXPOOL, AVGPOOL or L2POOL.
   Each output pixel accumulates its window's pixels (contiguous C-vectors) with fnet__acc
   (on AVX2, max and average windows inside the image in one pass: fnet__pool_px_avx2).
   Writes output rows oy0..oy1-1 (all: 0 and the output height), each on its own. */
static void fnet__pool(fnet_isa isa, int kind, const float *in, int H, int W, int C,
                       const fnet__geom *g, int OW, float *out, int oy0, int oy1) {
    int oy, ox, ky, kx, c;
    int mode = kind == FNET__OP_MAXPOOL ? FNET__ACC_MAX : kind == FNET__OP_AVGPOOL ? FNET__ACC_SUM : FNET__ACC_SUMSQ;
    float inv = 1.0f / (float)(g->kh * g->kw);
    for (oy = oy0; oy < oy1; oy++)
        for (ox = 0; ox < OW; ox++) {
            float *o = out + ((size_t)oy * OW + ox) * C;
            int y0 = oy * g->sh - g->pt, x0 = ox * g->sw - g->pl, padded = 0, first = 1;
#if defined(FNET__X86)
            if (isa == FNET_ISA_AVX2 && mode != FNET__ACC_SUMSQ && g->kh * g->kw <= 64 && y0 >= 0 && x0 >= 0 &&
                y0 + g->kh <= H && x0 + g->kw <= W) {
                const float *pp[64];
                for (ky = 0; ky < g->kh; ky++)
                    for (kx = 0; kx < g->kw; kx++) pp[ky * g->kw + kx] = in + ((size_t)(y0 + ky) * W + x0 + kx) * C;
                fnet__pool_px_avx2(mode, o, pp, g->kh * g->kw, C, inv);
                continue;
            }
#endif
            for (ky = 0; ky < g->kh; ky++)
                for (kx = 0; kx < g->kw; kx++) {
                    int iy = y0 + ky, ix = x0 + kx;
                    const float *p;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) { padded = 1; continue; }
                    p = in + ((size_t)iy * W + ix) * C;
                    if (first) {
                        if (mode == FNET__ACC_MAX) memcpy(o, p, (size_t)C * sizeof(float));
                        else memset(o, 0, (size_t)C * sizeof(float));
                        first = 0;
                        if (mode == FNET__ACC_MAX) continue;
                    }
                    fnet__acc(isa, mode, o, p, C);
                }
            if (first) { for (c = 0; c < C; c++) o[c] = 0.0f; continue; } /* all padding */
            if (kind == FNET__OP_MAXPOOL) {
                if (padded) for (c = 0; c < C; c++) o[c] = o[c] > 0.0f ? o[c] : 0.0f;
            } else if (kind == FNET__OP_AVGPOOL) {
                for (c = 0; c < C; c++) o[c] *= inv;
            } else {
                for (c = 0; c < C; c++) o[c] = sqrtf(o[c]);
            }
        }
}

/* tf.nn.lrn across channels, pixel by pixel. */
/* tmp: scratch of 3 * C + 8 floats. */
static void fnet__lrn(fnet_isa isa, const float *in, size_t pixels, int C, int radius, float alpha,
                      float beta, float bias, float *out, float *tmp) {
    size_t px;
    if (radius > C) radius = C; /* the window is clipped to [0, C) anyway */
    for (px = 0; px < pixels; px++) {
#if defined(FNET__X86)
        if (isa == FNET_ISA_AVX2 && (beta == 0.75f || beta == 0.5f || beta == 1.0f)) {
            fnet__lrn_px_avx2(in + px * C, out + px * C, C, radius, alpha, beta, bias, tmp);
            continue;
        }
#endif
        (void)isa;
        (void)tmp;
        fnet__lrn_px_scalar(in + px * C, out + px * C, 0, C, C, radius, alpha, beta, bias);
    }
}

static fnet_result fnet__network_prepare(fnet_model *m);
static void fnet__network_release(fnet_model *m) {
    fnet__net *net = (fnet__net *)m->stage;
    if (!net) return;
    FNET_FREE(net->node);
    FNET_FREE(net->packed_raw);
    FNET_FREE(net);
    m->stage = NULL;
}

static int fnet__finite(float x) { return x == x && x - x == 0.0f; }

/* Checks one op, computes its output shape into nd; adds its packed-weight floats to *packed
   and the zero row and pointer scratch it needs to *zero_len / *max_seg. */
static fnet_result fnet__check_op(const fnet_model *m, int i, fnet__node *nd, size_t *packed,
                                  int *zero_len, int *max_seg) {
    const fnet__op *o = &m->ops[i];
    /* nd points at node i: node j (j < i, already checked) is nd[j - i] */
    const fnet__node *a = o->n_in > 0 ? &nd[o->in[0] - i] : NULL;
    int want_in = 1, want_t = 0, k, oh = 0, ow = 0, oc = 0;
    if (o->type < 0 || o->type >= FNET__OP_COUNT) return FNET_ERR_CORRUPT;
    if ((i == 0) != (o->type == FNET__OP_INPUT)) return FNET_ERR_CORRUPT;
    if (o->flags & ~1) return FNET_ERR_CORRUPT;
    if ((o->flags & 1) && o->type != FNET__OP_CONV && o->type != FNET__OP_DENSE && o->type != FNET__OP_ADD)
        return FNET_ERR_CORRUPT;
    if (o->type == FNET__OP_INPUT) want_in = 0;
    if (o->type == FNET__OP_ADD) want_in = 2;
    if (o->type == FNET__OP_CONV || o->type == FNET__OP_DENSE) want_t = 2;
    if (o->type == FNET__OP_CONCAT ? o->n_in < 1 : o->n_in != want_in) return FNET_ERR_CORRUPT;
    for (k = 0; k < 4; k++)
        if ((o->tensor[k] >= 0) != (k < want_t)) return FNET_ERR_CORRUPT;
    switch (o->type) {
    case FNET__OP_INPUT:
        oh = o->ip[0]; ow = o->ip[1]; oc = o->ip[2];
        if (oh < 1 || ow < 1 || oc != 3) return FNET_ERR_CORRUPT;
        if (oh > FNET__NET_MAX_SIDE || ow > FNET__NET_MAX_SIDE) return FNET_ERR_TOO_LARGE;
        if (!fnet__finite(o->fp[0]) || o->fp[0] == 0.0f || !fnet__finite(o->fp[1]) ||
            !fnet__finite(o->fp[2]) || !fnet__finite(o->fp[3]))
            return FNET_ERR_CORRUPT;
        break;
    case FNET__OP_CONV: case FNET__OP_MAXPOOL: case FNET__OP_AVGPOOL: case FNET__OP_L2POOL: {
        long eh, ew;
        for (k = 0; k < 8; k++) {
            if (o->ip[k] < (k < 4 ? 1 : 0)) return FNET_ERR_CORRUPT;
            if (o->ip[k] > FNET__NET_MAX_KERNEL) return FNET_ERR_TOO_LARGE;
        }
        eh = (long)a->h + o->ip[4] + o->ip[6];
        ew = (long)a->w + o->ip[5] + o->ip[7];
        if (eh < o->ip[0] || ew < o->ip[1]) return FNET_ERR_CORRUPT;
        oh = (int)((eh - o->ip[0]) / o->ip[2] + 1);
        ow = (int)((ew - o->ip[1]) / o->ip[3] + 1);
        oc = a->c;
        if (o->type == FNET__OP_CONV) {
            const fnet__tensor *w = &m->tensors[o->tensor[0]], *b = &m->tensors[o->tensor[1]];
            size_t K;
            if (w->dtype != FNET__F32 || w->ndim != 4 || w->shape[0] != o->ip[0] ||
                w->shape[1] != o->ip[1] || w->shape[2] != a->c)
                return FNET_ERR_CORRUPT;
            oc = w->shape[3];
            if (b->dtype != FNET__F32 || b->ndim != 1 || b->shape[0] != oc) return FNET_ERR_CORRUPT;
            K = (size_t)o->ip[0] * o->ip[1] * a->c;
            if (K > FNET__NET_MAX_ELEMS || oc > (int)FNET__NET_MAX_ELEMS) return FNET_ERR_TOO_LARGE;
            *packed += K * (size_t)((oc + FNET__NR - 1) / FNET__NR) * FNET__NR +
                       (size_t)((oc + FNET__NR - 1) / FNET__NR) * FNET__NR;
            if ((size_t)o->ip[1] * a->c > (size_t)*zero_len) *zero_len = o->ip[1] * a->c; /* a zero kernel row */
            if (o->ip[0] * o->ip[1] > *max_seg) *max_seg = o->ip[0] * o->ip[1];
        }
        break;
    }
    case FNET__OP_LRN:
        if (o->ip[0] < 0 || !fnet__finite(o->fp[0]) || !fnet__finite(o->fp[1]) ||
            !fnet__finite(o->fp[2]) || o->fp[0] < 0.0f || !(o->fp[2] > 0.0f))
            return FNET_ERR_CORRUPT;
        oh = a->h; ow = a->w; oc = a->c;
        break;
    case FNET__OP_CONCAT:
        oh = a->h; ow = a->w;
        for (k = 0; k < o->n_in; k++) {
            const fnet__node *b = &nd[o->in[k] - i];
            if (b->h != oh || b->w != ow) return FNET_ERR_CORRUPT;
            oc += b->c;
            if (oc > (int)FNET__NET_MAX_ELEMS) return FNET_ERR_TOO_LARGE;
        }
        break;
    case FNET__OP_DENSE: {
        const fnet__tensor *w = &m->tensors[o->tensor[0]], *b = &m->tensors[o->tensor[1]];
        if ((size_t)o->ip[0] != a->elems || o->ip[1] < 1) return FNET_ERR_CORRUPT;
        if (w->dtype != FNET__F32 || w->ndim != 2 || w->shape[0] != o->ip[0] || w->shape[1] != o->ip[1])
            return FNET_ERR_CORRUPT;
        if (b->dtype != FNET__F32 || b->ndim != 1 || b->shape[0] != o->ip[1]) return FNET_ERR_CORRUPT;
        oh = 1; ow = 1; oc = o->ip[1];
        if (oc > (int)FNET__NET_MAX_ELEMS) return FNET_ERR_TOO_LARGE;
        *packed += a->elems * (size_t)((oc + FNET__NR - 1) / FNET__NR) * FNET__NR +
                   (size_t)((oc + FNET__NR - 1) / FNET__NR) * FNET__NR;
        break;
    }
    case FNET__OP_L2NORM:
        if (!fnet__finite(o->fp[0]) || o->fp[0] < 0.0f) return FNET_ERR_CORRUPT;
        oh = a->h; ow = a->w; oc = a->c;
        break;
    case FNET__OP_ADD: {
        const fnet__node *b = &nd[o->in[1] - i];
        if (b->h != a->h || b->w != a->w || b->c > a->c) return FNET_ERR_CORRUPT;
        oh = a->h; ow = a->w; oc = a->c;
        break;
    }
    case FNET__OP_GAP:
        oh = 1; ow = 1; oc = a->c;
        break;
    case FNET__OP_PAD:
        for (k = 0; k < 4; k++) {
            if (o->ip[k] < 0) return FNET_ERR_CORRUPT;
            if (o->ip[k] > FNET__NET_MAX_KERNEL) return FNET_ERR_TOO_LARGE;
        }
        oh = a->h + o->ip[0] + o->ip[2]; ow = a->w + o->ip[1] + o->ip[3]; oc = a->c;
        break;
    default: /* RELU */
        oh = a->h; ow = a->w; oc = a->c;
        break;
    }
    if (oh > FNET__NET_MAX_SIDE || ow > FNET__NET_MAX_SIDE) return FNET_ERR_TOO_LARGE;
    if (oh != o->ip[9] || ow != o->ip[10] || oc != o->ip[11]) return FNET_ERR_CORRUPT;
    nd->h = oh; nd->w = ow; nd->c = oc;
    if ((size_t)oh * ow > FNET__NET_MAX_ELEMS / (size_t)oc) return FNET_ERR_TOO_LARGE;
    nd->elems = (size_t)oh * ow * oc;
    return FNET_OK;
}

/* Crops a direct CONV's kernel to the taps some output reaches inside the input (node
   fields ckh, ckw, cpt, cpl): a tap (ky, kx) that meets only padding for every output pixel
   adds nothing but a product with zero, and the weights of a deep layer are what it costs
   (the ResNet's last 3x3 convolution runs on a 1x1 input: 1 tap of 9). */
static void fnet__node_crop(const fnet__op *o, fnet__node *nd, const fnet__node *a) {
    int lo[2], hi[2], d, k;
    nd->ckh = 0;
    if (o->type != FNET__OP_CONV || nd->wino) return;
    for (d = 0; d < 2; d++) { /* d 0: rows, 1: columns */
        int K = o->ip[d], S = o->ip[2 + d], P = o->ip[4 + d], O = d ? nd->w : nd->h, I = d ? a->w : a->h;
        lo[d] = K; hi[d] = -1;
        for (k = 0; k < K; k++) /* tap k meets the input for outputs o with 0 <= o * S - P + k < I */
            if ((long)(O - 1) * S - P + k >= 0 && k - P < I) {
                if (k < lo[d]) lo[d] = k;
                hi[d] = k;
            }
        if (hi[d] < 0) return; /* nothing but padding: keep the kernel (all sums are the bias) */
    }
    if (lo[0] == 0 && hi[0] == o->ip[0] - 1 && lo[1] == 0 && hi[1] == o->ip[1] - 1) return;
    nd->ckh = hi[0] - lo[0] + 1; nd->ckw = hi[1] - lo[1] + 1;
    nd->cpt = o->ip[4] - lo[0]; nd->cpl = o->ip[5] - lo[1];
}

/* Packs a CONV/DENSE node's weights W (K = KH*KW*Cin rows, cout columns) into nd->bp: all of
   them, or the cropped kernel's taps (rows ky0.., kx0.. of each tap, see fnet__node_crop). */
static void fnet__node_pack(const fnet__op *o, const fnet__node *nd, const float *w, int K, int cout) {
    int ky, kx, ky0, kx0, cin, p, ci, jj, np = (cout + FNET__NR - 1) / FNET__NR;
    float *out = (float *)nd->bp;
    if (!nd->ckh) { fnet__pack_b(w, K, cout, out); return; }
    cin = K / (o->ip[0] * o->ip[1]);
    ky0 = o->ip[4] - nd->cpt; kx0 = o->ip[5] - nd->cpl;
    for (p = 0; p < np; p++)
        for (ky = 0; ky < nd->ckh; ky++)
            for (kx = 0; kx < nd->ckw; kx++)
                for (ci = 0; ci < cin; ci++) {
                    const float *row = w + (((size_t)(ky0 + ky) * o->ip[1] + kx0 + kx) * cin + ci) * cout;
                    for (jj = 0; jj < FNET__NR; jj++) {
                        int col = p * FNET__NR + jj;
                        *out++ = col < cout ? row[col] : 0.0f;
                    }
                }
}

/* Fuses residual ADDs into the convolution before them, at load (a graph rewrite the op
   table does not see): ADD j = relu?(x0 + x1) where x0 is the output of CONV i (no ReLU of
   its own, read by j alone, not the network's output) and x1 (the shortcut, same shape)
   was computed before i. CONV i then adds x1 and applies j's ReLU in its epilogue, in the
   ADD's order of operations (conv + bias rounded, + x1 rounded, then ReLU: the same floats),
   ADD j runs as nothing, and its output is CONV i's slot (i's output stays live as long as
   j's). The ResNet's residual blocks all fuse but the downsampling ones (their shortcut,
   the pooled input, comes after the convolution; two pad their sum first). The trainer keeps
   every op's output of its own, so it undoes this (fnet__unfuse_adds) before re-planning. */
static void fnet__fuse_adds(const fnet_model *m, fnet__net *net) {
    int j, k, n = m->n_ops;
    for (j = 1; j < n; j++) {
        const fnet__op *o = &m->ops[j];
        int i = o->in[0], s = o->n_in == 2 ? o->in[1] : -1, readers = 0;
        if (o->type != FNET__OP_ADD || i <= 0 || i >= j || m->ops[i].type != FNET__OP_CONV || (m->ops[i].flags & 1) ||
            s < 0 || s >= i || net->node[s].c != net->node[j].c || net->node[i].add)
            continue;
        for (k = 1; k < n; k++) readers += (m->ops[k].in[0] == i) + (m->ops[k].n_in > 1 && m->ops[k].in[1] == i) +
                                           (m->ops[k].n_in > 2 && m->ops[k].in[2] == i) + (m->ops[k].n_in > 3 && m->ops[k].in[3] == i);
        if (readers != 1) continue;
        net->node[i].add = j;
        net->node[j].fused = i;
        net->node[i].last_use = net->node[j].last_use;
    }
}
static void fnet__unfuse_adds(fnet__net *net, int n) {
    int i;
    for (i = 0; i < n; i++) net->node[i].add = net->node[i].fused = 0;
}

/* Places each op's output in the workspace: first fit among the outputs still live (a fused
   ADD's output is its CONV's). */
static fnet_result fnet__plan_memory(fnet__net *net, int n) {
    int i, j;
    size_t top = 0;
    int *live = (int *)FNET_MALLOC((size_t)n * sizeof(int)), n_live = 0;
    if (!live) return FNET_ERR_OUT_OF_MEMORY;
    for (i = 0; i < n; i++) {
        fnet__node *nd = &net->node[i];
        size_t need = (nd->elems * sizeof(float) + 63u) & ~(size_t)63u, at = 0;
        int moved = 1;
        if (nd->fused) { nd->off = net->node[nd->fused].off; continue; }
        /* drop outputs whose last reader ran before op i (op i's own inputs stay live) */
        for (j = 0; j < n_live;)
            if (net->node[live[j]].last_use < i) live[j] = live[--n_live];
            else j++;
        while (moved) { /* lowest offset that overlaps no live output */
            moved = 0;
            for (j = 0; j < n_live; j++) {
                const fnet__node *q = &net->node[live[j]];
                size_t qe = q->off + ((q->elems * sizeof(float) + 63u) & ~(size_t)63u);
                if (at < qe && q->off < at + need) { at = qe; moved = 1; }
            }
        }
        nd->off = at;
        if (at + need > top) top = at + need;
        if (top > FNET__NET_MAX_WORK) { FNET_FREE(live); return FNET_ERR_TOO_LARGE; }
        live[n_live++] = i;
    }
    FNET_FREE(live);
    net->act_bytes = top;
    return FNET_OK;
}

static fnet_result fnet__network_prepare(fnet_model *m) {
    fnet__net *net;
    fnet_result r = FNET_OK;
    size_t packed = 0, scratch, pos, wtmp = 0;
    int i, k, zero_len = 1, max_seg = 1, n = m->n_ops;
    float *pk, *wt = NULL;
    if (n < 1) return FNET_ERR_CORRUPT;
    net = (fnet__net *)FNET_MALLOC(sizeof(fnet__net));
    if (!net) return FNET_ERR_OUT_OF_MEMORY;
    memset(net, 0, sizeof(*net));
    m->stage = net;
    net->node = (fnet__node *)FNET_MALLOC((size_t)n * sizeof(fnet__node));
    if (!net->node) return FNET_ERR_OUT_OF_MEMORY;
    memset(net->node, 0, (size_t)n * sizeof(fnet__node));
    for (i = 0; i < n && r == FNET_OK; i++) {
        r = fnet__check_op(m, i, &net->node[i], &packed, &zero_len, &max_seg);
        net->node[i].last_use = i == n - 1 ? n : i;
        for (k = 0; k < m->ops[i].n_in; k++) net->node[m->ops[i].in[k]].last_use = i;
    }
    if (r != FNET_OK) return r;
    fnet__fuse_adds(m, net);
    /* weights must be finite (a NaN would silently poison every embedding) */
    for (i = 0; i < n; i++)
        for (k = 0; k < 2 && m->ops[i].tensor[k] >= 0; k++) {
            const fnet__tensor *t = &m->tensors[m->ops[i].tensor[k]];
            const float *v = (const float *)t->data;
            size_t e;
            for (e = 0; e < t->count; e++)
                if (!fnet__finite(v[e])) return FNET_ERR_CORRUPT;
        }
    r = fnet__plan_memory(net, n);
    if (r != FNET_OK) return r;
    scratch = (size_t)FNET__MR_MAX * (size_t)max_seg * sizeof(float *);
    for (i = 0; i < n; i++) /* LRN's zero-padded squares share the scratch */
        if (m->ops[i].type == FNET__OP_LRN && (3 * (size_t)net->node[i].c + 8) * sizeof(float) > scratch)
            scratch = (3 * (size_t)net->node[i].c + 8) * sizeof(float);
    scratch = (scratch + 63u) & ~(size_t)63u;
    net->scratch_off = net->act_bytes;
    net->wino_off = net->scratch_off + scratch;
#if defined(FNET__WINOGRAD)
    if (fnet__cpu_has_avx2_fma()) /* Winograd for 3x3 stride-1 convolutions on enough pixels */
        for (i = 1; i < n; i++) {
            const fnet__op *o = &m->ops[i];
            const fnet__node *nd = &net->node[i], *a = &net->node[o->in[0]];
            size_t npc = (size_t)(nd->c + FNET__NR - 1) / FNET__NR * FNET__NR, wb;
            int f4;
            if (o->type != FNET__OP_CONV || o->ip[0] != 3 || o->ip[1] != 3 || o->ip[2] != 1 || o->ip[3] != 1 ||
                (size_t)nd->h * nd->w < 36 || a->c < 8 || nd->c < 16)
                continue;
            f4 = nd->h >= FNET__WINO4_MIN_SIDE && nd->w >= FNET__WINO4_MIN_SIDE; /* F(4x4), else F(2x2) */
            net->node[i].wino = f4 ? 2 : 1;
            packed += (f4 ? 36 : 16) * (size_t)a->c * npc;
            if (!f4 && 16 * (size_t)a->c * nd->c > wtmp) wtmp = 16 * (size_t)a->c * nd->c;
            if ((int)npc + 32 > zero_len) zero_len = (int)npc + 32;
            if (a->c > zero_len) zero_len = a->c;
            wb = (f4 ? (size_t)36 * FNET__WINO4_T : (size_t)16 * FNET__WINO_T) * ((size_t)a->c + npc) * sizeof(float);
            if (net->wino_off + wb > net->scratch_off + scratch) scratch = net->wino_off + wb - net->scratch_off;
        }
#endif
    net->work_bytes = net->act_bytes + ((scratch + 63u) & ~(size_t)63u) + 64; /* + alignment slack */
    if (net->work_bytes > FNET__NET_MAX_WORK) return FNET_ERR_TOO_LARGE;
    /* pack the weights: one block, panels first, then the zero row */
    if (packed > ((size_t)-1) / sizeof(float) - (size_t)zero_len - 64) return FNET_ERR_TOO_LARGE;
    pk = (float *)fnet__alloc_aligned((packed + (size_t)zero_len + 16) * sizeof(float), &net->packed_raw);
    if (!pk) return FNET_ERR_OUT_OF_MEMORY;
    if (wtmp && !(wt = (float *)FNET_MALLOC(wtmp * sizeof(float)))) return FNET_ERR_OUT_OF_MEMORY;
    pos = 0;
    for (i = 0; i < n; i++) {
        const fnet__op *o = &m->ops[i];
        fnet__node *nd = &net->node[i];
        if (o->type == FNET__OP_CONV || o->type == FNET__OP_DENSE) {
            const fnet__tensor *w = &m->tensors[o->tensor[0]], *b = &m->tensors[o->tensor[1]];
            int cout = nd->c, npc = (cout + FNET__NR - 1) / FNET__NR * FNET__NR;
            int K = (int)(w->count / (size_t)cout);
            nd->bp = pk + pos;
            fnet__node_crop(o, nd, &net->node[o->in[0]]);
            fnet__node_pack(o, nd, (const float *)w->data, K, cout);
            pos += (size_t)K * npc;
            memset(pk + pos, 0, (size_t)npc * sizeof(float));
            memcpy(pk + pos, b->data, (size_t)cout * sizeof(float));
            nd->bias = pk + pos;
            pos += (size_t)npc;
            if (nd->wino) { /* U for Winograd (F(2x2): 16 Cin x Cout planes in wt first) */
                int cin = net->node[o->in[0]].c;
                nd->wp = pk + pos;
                fnet__node_wino_pack(nd, (const float *)w->data, cin, cout, wt);
                pos += (size_t)(nd->wino == 2 ? 36 : 16) * cin * npc;
            }
        }
    }
    FNET_FREE(wt);
    memset(pk + pos, 0, ((size_t)zero_len + 16) * sizeof(float));
    net->zeros = pk + pos;
    net->out_dim = (int)net->node[n - 1].elems;
    net->input_size = net->node[0].h == net->node[0].w ? net->node[0].h : 0;
#if defined(FNET__AVX512)
    net->avx512 = fnet__cpu_has_avx512f();
#endif
    /* metadata, when present, must agree with the graph */
    if (fnet__meta_long(m, "embedding_dim", net->out_dim) != net->out_dim) return FNET_ERR_CORRUPT;
    if (fnet__meta_long(m, "input_size", net->node[0].h) != net->node[0].h) return FNET_ERR_CORRUPT;
    if (net->out_dim > FNET_MAX_EMBED_DIM) return FNET_ERR_TOO_LARGE;
    if (fnet_model_meta(m, "align") && !fnet__align_from_name(fnet_model_meta(m, "align"))) return FNET_ERR_UNSUPPORTED;
    return FNET_OK;
}

static const fnet__net *fnet__get_net(const fnet_model *m) {
    return (m && m->kind == FNET_MODEL_NETWORK && m->stage) ? (const fnet__net *)m->stage : NULL;
}

FNET_API int fnet_embed_input_size(const fnet_model *net) {
    const fnet__net *n = fnet__get_net(net);
    return n ? n->input_size : 0;
}
FNET_API int fnet_embed_dim(const fnet_model *net) {
    const fnet__net *n = fnet__get_net(net);
    return n ? n->out_dim : 0;
}
FNET_API fnet_align_kind fnet_embed_align_kind(const fnet_model *net) {
    const fnet__net *n = fnet__get_net(net);
    const char *name = n ? fnet_model_meta(net, "align") : NULL;
    if (!n) return (fnet_align_kind)0;
    if (name) return fnet__align_from_name(name); /* checked at load: a known name */
    return n->input_size == 150 ? FNET_ALIGN_DLIB_CHIP : FNET_ALIGN_OUTER_EYES_AND_NOSE;
}
/* Workspace of a batch of n images with `tasks` scratch slots: the activation plan scaled
   by n (op i's output of image b at n * off + b * elems floats: the n images of one output
   follow each other, and scaled slots still never overlap), then a scratch slot per task
   (tile pointers, LRN's squares, Winograd blocks). n = tasks = 1 is the planned workspace.
   0 when it would exceed FNET__NET_MAX_WORK. */
static size_t fnet__net_work(const fnet__net *n, int images, int tasks) {
    size_t slot = n->work_bytes - 64 - n->act_bytes, lim = FNET__NET_MAX_WORK;
    if (images < 1 || tasks < 1 || n->act_bytes > lim / (size_t)images) return 0;
    if (slot > (lim - n->act_bytes * (size_t)images) / (size_t)tasks) return 0;
    return n->act_bytes * (size_t)images + slot * (size_t)tasks + 64;
}

FNET_API size_t fnet_embed_workspace_size(const fnet_model *net) {
    const fnet__net *n = fnet__get_net(net);
    return n ? n->work_bytes : 0;
}
FNET_API size_t fnet_embed_batch_workspace_size(const fnet_model *net, int n, const fnet_embed_opts *opts) {
    const fnet__net *nt = fnet__get_net(net);
    return nt ? fnet__net_work(nt, n, fnet__workers(opts ? &opts->parallel : NULL)) : 0;
}

/* One forward pass over a batch: where things are, and the convolution being run. */
/* An op's window geometry (CONV and pools; DENSE as a 1x1 convolution). */
static fnet__geom fnet__op_geom(const fnet__op *o) {
    fnet__geom g;
    g.kh = o->ip[0]; g.kw = o->ip[1]; g.sh = o->ip[2]; g.sw = o->ip[3];
    g.pt = o->ip[4]; g.pl = o->ip[5]; g.pb = o->ip[6]; g.pr = o->ip[7];
    if (o->type == FNET__OP_DENSE) { g.kh = g.kw = g.sh = g.sw = 1; g.pt = g.pl = g.pb = g.pr = 0; }
    return g;
}

typedef struct fnet__fwd {
    const fnet_model *m;
    unsigned char *base;    /* activations (fnet__net_work's layout) */
    unsigned char *scratch; /* slot t at scratch + t * slot_bytes */
    size_t slot_bytes;
    int n, tasks;           /* images, scratch slots (most tasks at once) */
    const fnet_parallel *par;
    fnet__convjob job;      /* the current CONV/DENSE, cut into units */
    int wino, job_tasks;    /* (job_tasks: also the tasks of a pool or LRN op, row_op) */
    int row_op;
    const unsigned char *const *rgb; /* the input crops, and their bytes' values (3 x 256) */
    const float *lut;
} fnet__fwd;

/* Op `op`'s output for image b. */
static float *fnet__act(const fnet__fwd *f, int op, int b) {
    const fnet__node *nd = &((const fnet__net *)f->m->stage)->node[op];
    return (float *)(void *)(f->base + nd->off * (size_t)f->n + (size_t)b * nd->elems * sizeof(float));
}

/* Task t of the current convolution: an equal share of its units, on scratch slot t. */
static void fnet__conv_task(void *ctx, int t) {
    const fnet__fwd *f = (const fnet__fwd *)ctx;
    const fnet__net *net = (const fnet__net *)f->m->stage;
    unsigned char *slot = f->scratch + (size_t)t * f->slot_bytes;
    unsigned long long U = (unsigned long long)f->job.units, T = (unsigned long long)f->job_tasks;
    int u0 = (int)(U * (unsigned long long)t / T), u1 = (int)(U * (unsigned long long)(t + 1) / T);
#if defined(FNET__WINOGRAD)
    if (f->wino) { /* vbuf, then mbuf (see fnet__wino_units) */
        float *vb = (float *)(void *)(slot + (net->wino_off - net->scratch_off));
        size_t vfl = f->wino == 2 ? (size_t)36 * FNET__WINO4_T : (size_t)16 * FNET__WINO_T;
        fnet__wino_units(&f->job, u0, u1, (const float **)(void *)slot, vb, vb + vfl * f->job.Cin);
        return;
    }
#endif
    (void)net;
    fnet__conv_units(&f->job, u0, u1, (const float **)(void *)slot);
}

/* ---- the ops, one function each, in the op table's order ----
   fnet__op_NAME(f, i) runs op i (> 0) for the whole batch: it reads its inputs' outputs and
   writes its own (fnet__act gives image b's tensor, HWC). Convolutions and dense layers run
   once for all images, cut into tasks for the caller's parallel-for; pools and LRN are cut
   by rows of output (as is the input, fnet__input_task); the other ops are memory-bound and
   run image by image on the calling thread. */

/* What a one-input op sees for image b: its table entry, its output node nd (y: nd->h x
   nd->w x nd->c), its input node a (x: a->h x a->w x a->c). */
typedef struct fnet__opio {
    const fnet__op *o;
    const fnet__node *nd, *a;
    const float *x;
    float *y;
} fnet__opio;

static fnet__opio fnet__op_io(const fnet__fwd *f, int i, int b) {
    const fnet__net *net = (const fnet__net *)f->m->stage;
    fnet__opio io;
    io.o = &f->m->ops[i];
    io.nd = &net->node[i];
    io.a = &net->node[io.o->in[0]];
    io.x = fnet__act(f, io.o->in[0], b);
    io.y = fnet__act(f, i, b);
    return io;
}

/* The kernel set for convolutions: the AVX2 set runs on AVX-512 micro-kernels when the
   model was loaded for them. */
static int fnet__conv_kern(const fnet_model *m) {
    int kern = (int)m->isa;
#if defined(FNET__AVX512)
    if (kern == FNET_ISA_AVX2 && ((const fnet__net *)m->stage)->avx512) kern = FNET__KERN_AVX512;
#endif
    return kern;
}

/* Runs the convolution job set up in f->job as tasks of the caller's parallel-for. */
static void fnet__op_run_job(fnet__fwd *f) {
    f->job_tasks = FNET__MIN(f->tasks, f->job.units);
    fnet__parallel_run(f->par, f->job_tasks, fnet__conv_task, f);
}

/* 1 CONV: y = relu?(bias + W (*) x), x [N,H,W,Cin] -> y [N,OH,OW,Cout]. 3x3 stride-1
   convolutions take Winograd F(4x4,3x3) or F(2x2,3x3) on AVX2/AVX-512, the others the
   packed GEMM; a fused residual ADD (nd->add) is added, and its ReLU applied, as the
   output is stored; a cropped kernel (nd->ckh) runs with its own geometry. */
static void fnet__op_conv(fnet__fwd *f, int i) {
    const fnet_model *m = f->m;
    const fnet__net *net = (const fnet__net *)m->stage;
    const fnet__op *o = &m->ops[i];
    const fnet__node *nd = &net->node[i], *a = &net->node[o->in[0]];
    fnet__geom g = fnet__op_geom(o);
    const float *x = fnet__act(f, o->in[0], 0);
    float *y = fnet__act(f, i, 0);
    int kern = fnet__conv_kern(m), relu = o->flags & 1;
    if (nd->add) relu = m->ops[nd->add].flags & 1; /* the fused ADD's ReLU */
    if (nd->ckh) { g.kh = nd->ckh; g.kw = nd->ckw; g.pt = nd->cpt; g.pl = nd->cpl; } /* cropped kernel */
    f->wino = 0;
#if defined(FNET__WINOGRAD)
    if (nd->wp && (kern == FNET_ISA_AVX2 || kern != (int)m->isa)) { /* AVX2 or AVX-512 */
        if (nd->wino == 2)
            fnet__wino4_setup(&f->job, kern, x, a->elems, f->n, a->h, a->w, a->c, &g, nd->h, nd->w, nd->c, nd->wp,
                              nd->bias, net->zeros, y, relu, f->tasks);
        else
            fnet__wino_setup(&f->job, kern, x, a->elems, f->n, a->h, a->w, a->c, &g, nd->h, nd->w, nd->c, nd->wp,
                             nd->bias, net->zeros, y, relu, f->tasks);
        f->wino = nd->wino;
    } else
#endif
        fnet__conv_setup(&f->job, kern, x, a->elems, f->n, a->h, a->w, a->c, &g, nd->h, nd->w, nd->c, nd->bp,
                         nd->bias, net->zeros, y, relu, f->tasks);
    if (nd->add) { /* the fused residual ADD: its shortcut, shaped as y */
        int sc = m->ops[nd->add].in[1];
        f->job.res = fnet__act(f, sc, 0);
        f->job.res_stride = net->node[sc].elems;
    }
    fnet__op_run_job(f);
}

/* Task t of a pool or LRN op (f->row_op): its share of every image's output rows, each
   output pixel computed on its own (so the same floats for any number of tasks), LRN with
   scratch slot t. */
static void fnet__rows_task(void *ctx, int t) {
    const fnet__fwd *f = (const fnet__fwd *)ctx;
    int b, i = f->row_op;
    for (b = 0; b < f->n; b++) {
        fnet__opio io = fnet__op_io(f, i, b);
        int r0 = (int)((long)io.nd->h * t / f->job_tasks), r1 = (int)((long)io.nd->h * (t + 1) / f->job_tasks);
        if (io.o->type == FNET__OP_LRN) {
            size_t row = (size_t)io.nd->w * io.a->c;
            fnet__lrn(f->m->isa, io.x + r0 * row, (size_t)(r1 - r0) * io.nd->w, io.a->c, io.o->ip[0], io.o->fp[0],
                      io.o->fp[1], io.o->fp[2], io.y + r0 * row, (float *)(void *)(f->scratch + (size_t)t * f->slot_bytes));
        } else {
            fnet__geom g = fnet__op_geom(io.o);
            fnet__pool(f->m->isa, io.o->type, io.x, io.a->h, io.a->w, io.a->c, &g, io.nd->w, io.y, r0, r1);
        }
    }
}
static void fnet__op_rows(fnet__fwd *f, int i) {
    f->row_op = i;
    f->job_tasks = FNET__MIN(f->tasks, ((const fnet__net *)f->m->stage)->node[i].h);
    fnet__parallel_run(f->par, f->job_tasks, fnet__rows_task, f);
}

/* 2, 3, 4 MAXPOOL, AVGPOOL, L2POOL: [N,H,W,C] -> [N,OH,OW,C], windows as CONV's; with the
   caller's threads, by rows of output. */
static void fnet__op_pool(fnet__fwd *f, int i) { fnet__op_rows(f, i); }

/* 5 LRN: local response normalisation across channels, [N,H,W,C] -> same; with the caller's
   threads, by rows. */
static void fnet__op_lrn(fnet__fwd *f, int i) { fnet__op_rows(f, i); }

/* 6 CONCAT: the inputs' channels side by side, [N,H,W,C0] ... -> [N,H,W,C0+C1+...]. */
static void fnet__op_concat(fnet__fwd *f, int i) {
    const fnet__net *net = (const fnet__net *)f->m->stage;
    const fnet__op *o = &f->m->ops[i];
    const fnet__node *nd = &net->node[i];
    size_t px, npx = (size_t)nd->h * nd->w;
    int b, k;
    for (b = 0; b < f->n; b++) {
        float *y = fnet__act(f, i, b);
        int c0 = 0;
        for (k = 0; k < o->n_in; k++) {
            const fnet__node *bn = &net->node[o->in[k]];
            const float *bx = fnet__act(f, o->in[k], b);
            for (px = 0; px < npx; px++)
                memcpy(y + px * nd->c + c0, bx + px * bn->c, (size_t)bn->c * sizeof(float));
            c0 += bn->c;
        }
    }
}

/* 7 DENSE: y = relu?(bias + x W), the flattened input [N,In] -> [N,Out]: a 1x1 convolution
   of a 1x1 image with In channels. */
static void fnet__op_dense(fnet__fwd *f, int i) {
    const fnet_model *m = f->m;
    const fnet__net *net = (const fnet__net *)m->stage;
    const fnet__op *o = &m->ops[i];
    const fnet__node *nd = &net->node[i], *a = &net->node[o->in[0]];
    fnet__geom g = fnet__op_geom(o);
    f->wino = 0;
    fnet__conv_setup(&f->job, fnet__conv_kern(m), fnet__act(f, o->in[0], 0), a->elems, f->n, 1, 1,
                     (int)a->elems, &g, 1, 1, nd->c, nd->bp, nd->bias, net->zeros, fnet__act(f, i, 0),
                     o->flags & 1, f->tasks);
    fnet__op_run_job(f);
}

/* 8 L2NORM: y = x / sqrt(max(sum x^2, eps)) over the whole tensor (the embedding). */
static void fnet__op_l2norm(fnet__fwd *f, int i) {
    int b;
    for (b = 0; b < f->n; b++) {
        fnet__opio io = fnet__op_io(f, i, b);
        double s = 0.0, eps = io.o->fp[0];
        float inv;
        size_t e;
        for (e = 0; e < io.nd->elems; e++) s += (double)io.x[e] * io.x[e];
        inv = (float)(1.0 / sqrt(s > eps ? s : eps));
        for (e = 0; e < io.nd->elems; e++) io.y[e] = io.x[e] * inv;
    }
}

/* 9 ADD: y = relu?(x0 + x1), the residual connection; x1 may have fewer channels (the
   missing ones count as zeros). */
static void fnet__op_add(fnet__fwd *f, int i) {
    const fnet__net *net = (const fnet__net *)f->m->stage;
    int b, relu = f->m->ops[i].flags & 1;
    if (net->node[i].fused) return; /* computed by its CONV's epilogue (fnet__fuse_adds) */
    for (b = 0; b < f->n; b++) {
        fnet__opio io = fnet__op_io(f, i, b);
        const fnet__node *bn = &net->node[io.o->in[1]];
        const float *bx = fnet__act(f, io.o->in[1], b);
        size_t px, npx = (size_t)io.nd->h * io.nd->w;
        int c = io.nd->c;
        if (bn->c == c) {
            fnet__add(f->m->isa, io.y, io.x, bx, io.nd->elems, relu);
            continue;
        }
        for (px = 0; px < npx; px++) {
            fnet__add(f->m->isa, io.y + px * c, io.x + px * c, bx + px * bn->c, (size_t)bn->c, relu);
            fnet__add(f->m->isa, io.y + px * c + bn->c, io.x + px * c + bn->c, NULL, (size_t)(c - bn->c), relu);
        }
    }
}

/* 10 GLOBAL_AVGPOOL: the mean over H and W, [N,H,W,C] -> [N,1,1,C]. */
static void fnet__op_gap(fnet__fwd *f, int i) {
    int b, c;
    for (b = 0; b < f->n; b++) {
        fnet__opio io = fnet__op_io(f, i, b);
        size_t px, npx = (size_t)io.a->h * io.a->w;
        for (c = 0; c < io.nd->c; c++) {
            double s = 0.0;
            for (px = 0; px < npx; px++) s += io.x[px * io.nd->c + c];
            io.y[c] = (float)(s / (double)npx);
        }
    }
}

/* 11 PAD: zeros around the image, [N,H,W,C] -> [N,H+t+b,W+l+r,C]. */
static void fnet__op_pad(fnet__fwd *f, int i) {
    int b, yy;
    for (b = 0; b < f->n; b++) {
        fnet__opio io = fnet__op_io(f, i, b);
        memset(io.y, 0, io.nd->elems * sizeof(float));
        for (yy = 0; yy < io.a->h; yy++)
            memcpy(io.y + ((size_t)(yy + io.o->ip[0]) * io.nd->w + io.o->ip[1]) * io.nd->c,
                   io.x + (size_t)yy * io.a->w * io.a->c, (size_t)io.a->w * io.a->c * sizeof(float));
    }
}

/* 12 RELU: y = max(x, 0). */
static void fnet__op_relu(fnet__fwd *f, int i) {
    int b;
    for (b = 0; b < f->n; b++) {
        fnet__opio io = fnet__op_io(f, i, b);
        fnet__add(f->m->isa, io.y, io.x, NULL, io.nd->elems, 1);
    }
}

/* Runs op i (> 0) for the batch: the op table, one line per op type. */
static void fnet__run_op_f(fnet__fwd *f, int i) {
    switch (f->m->ops[i].type) {
    case FNET__OP_CONV:    fnet__op_conv(f, i);   break;
    case FNET__OP_MAXPOOL: case FNET__OP_AVGPOOL: case FNET__OP_L2POOL:
                           fnet__op_pool(f, i);   break;
    case FNET__OP_LRN:     fnet__op_lrn(f, i);    break;
    case FNET__OP_CONCAT:  fnet__op_concat(f, i); break;
    case FNET__OP_DENSE:   fnet__op_dense(f, i);  break;
    case FNET__OP_L2NORM:  fnet__op_l2norm(f, i); break;
    case FNET__OP_ADD:     fnet__op_add(f, i);    break;
    case FNET__OP_GAP:     fnet__op_gap(f, i);    break;
    case FNET__OP_PAD:     fnet__op_pad(f, i);    break;
    default:               fnet__op_relu(f, i);   break; /* RELU (the loader let no other type in) */
    }
}

/* Runs op i (> 0) of one image on the workspace at base, on this thread (the trainer's and
   the tools' entry point). */
static void fnet__run_op(const fnet_model *m, unsigned char *base, int i) {
    fnet__fwd f;
    const fnet__net *net = (const fnet__net *)m->stage;
    memset(&f, 0, sizeof f);
    f.m = m;
    f.base = base;
    f.scratch = base + net->scratch_off;
    f.n = f.tasks = 1;
    fnet__run_op_f(&f, i);
}

/* Task t of the input: its share of every crop's rows, (byte - mean[channel]) / scale looked
   up in f->lut (the same floats as the division, without it). By rows, as the first
   convolution's tasks read them: each worker mostly reads rows it wrote itself. */
static void fnet__input_task(void *ctx, int t) {
    const fnet__fwd *f = (const fnet__fwd *)ctx;
    const fnet__node *nd = &((const fnet__net *)f->m->stage)->node[0];
    size_t row = (size_t)nd->w * nd->c, e0 = row * (size_t)((long)nd->h * t / f->job_tasks);
    size_t e1 = row * (size_t)((long)nd->h * (t + 1) / f->job_tasks), e;
    const float *lut = f->lut;
    int b;
    for (b = 0; b < f->n; b++) {
        const unsigned char *rgb = f->rgb[b];
        float *x = fnet__act(f, 0, b);
        if (nd->c == 3)
            for (e = e0; e < e1; e += 3) {
                x[e] = lut[rgb[e]];
                x[e + 1] = lut[256 + rgb[e + 1]];
                x[e + 2] = lut[512 + rgb[e + 2]];
            }
        else
            for (e = e0; e < e1; e++) x[e] = lut[(e % 3) * 256 + rgb[e]];
    }
}

/* Shared by the embedding calls: n images from rgb[0..n-1] (crops) or tensor (one HWC
   tensor); outputs to out, n * out_dim floats. */
static fnet_result fnet__embed_run(const fnet_model *m, const unsigned char *const *rgb, const float *tensor,
                                   int n, const fnet_parallel *par, void *work, size_t work_size, float *out) {
    const fnet__net *net;
    fnet__arena ar;
    fnet__fwd f;
    void *own = NULL;
    fnet_result r = FNET_OK;
    size_t e, ne, need;
    int b, i;
    float lut[3 * 256]; /* channel c, byte v: its input value at lut[c * 256 + v] */
    if (!m || !out || (!rgb && !tensor) || n < 1) return FNET_ERR_INVALID_ARGUMENT;
    net = fnet__get_net(m);
    if (!net) return FNET_ERR_WRONG_MODEL;
    if (rgb && net->input_size == 0) return FNET_ERR_UNSUPPORTED;
    for (b = 0; rgb && b < n; b++)
        if (!rgb[b]) return FNET_ERR_INVALID_ARGUMENT;
    memset(&f, 0, sizeof f);
    f.m = m;
    f.n = n;
    f.tasks = fnet__workers(par);
    f.par = par;
    need = fnet__net_work(net, n, f.tasks);
    if (!need) return FNET_ERR_TOO_LARGE;
    r = fnet__arena_init(&ar, work, work_size, need, &own); /* checks the size */
    if (r != FNET_OK) return r;
    f.base = ar.base;
    f.scratch = ar.base + net->act_bytes * (size_t)n;
    f.slot_bytes = net->work_bytes - 64 - net->act_bytes;
    ne = net->node[0].elems;
    for (b = 0; tensor && b < n; b++) {
        float *x = fnet__act(&f, 0, b);
        for (e = 0; e < ne; e++) {
            if (!fnet__finite(tensor[e])) { FNET_FREE(own); return FNET_ERR_NOT_FINITE; }
            x[e] = tensor[e];
        }
    }
    if (rgb) { /* (byte - mean[channel]) / scale, looked up: the same floats, no division */
        const fnet__op *o = &m->ops[0];
        for (e = 0; e < 3 * 256; e++) lut[e] = ((float)(e & 255) - o->fp[1 + (e >> 8)]) / o->fp[0];
        f.rgb = rgb;
        f.lut = lut;
        f.job_tasks = FNET__MIN(f.tasks, net->node[0].h);
        fnet__parallel_run(par, f.job_tasks, fnet__input_task, &f);
    }
    for (i = 1; i < m->n_ops; i++) fnet__run_op_f(&f, i);
    for (b = 0; b < n; b++) {
        const fnet__node *last = &net->node[m->n_ops - 1];
        const float *y = fnet__act(&f, m->n_ops - 1, b);
        for (e = 0; e < last->elems; e++)
            if (!fnet__finite(y[e])) r = FNET_ERR_NOT_FINITE;
        memcpy(out + (size_t)b * last->elems, y, last->elems * sizeof(float));
    }
    FNET_FREE(own);
    return r;
}

FNET_API fnet_result fnet_embed(const fnet_model *net, const unsigned char *aligned_rgb,
                                void *work, size_t work_size, float *out) {
    if (!aligned_rgb) return FNET_ERR_INVALID_ARGUMENT;
    return fnet__embed_run(net, &aligned_rgb, NULL, 1, NULL, work, work_size, out);
}
FNET_API fnet_result fnet_embed_tensor(const fnet_model *net, const float *input_hwc,
                                       void *work, size_t work_size, float *out) {
    if (!input_hwc) return FNET_ERR_INVALID_ARGUMENT;
    return fnet__embed_run(net, NULL, input_hwc, 1, NULL, work, work_size, out);
}
FNET_API fnet_result fnet_embed_batch(const fnet_model *net, const unsigned char *const *aligned_rgb,
                                      int n, const fnet_embed_opts *opts, void *work,
                                      size_t work_size, float *out) {
    if (!aligned_rgb) return FNET_ERR_INVALID_ARGUMENT;
    return fnet__embed_run(net, aligned_rgb, NULL, n, opts ? &opts->parallel : NULL, work, work_size, out);
}

/* ==== 5. Matching: distances, verification, identification, clustering ==================

   An embedding network maps a face to a point in R^128 where distance means dissimilarity
   (FaceNet, Schroff et al. 2015). Everything here works on those points:
   - verify (1:1): same person when ||a-b|| <= a threshold chosen on labelled pairs;
   - identify (1:K): nearest people of a gallery, "unknown" when even the nearest is farther
     than the threshold (open-set rejection); the threshold follows from a target false-accept
     rate for the whole gallery and the network's impostor distance table (below);
   - cluster: k-means with k-means++ seeding (k known) or Chinese whispers (Biemann 2006,
     dlib's choice for faces: a graph of pairs closer than the threshold, no k needed);
   - classify: softmax regression, a one-hidden-layer MLP (trained here with minibatch SGD or
     Adam, Kingma & Ba 2015) and k nearest neighbours;
   - triplet loss with batch-all, batch-hard (Hermans et al. 2017) and semi-hard (FaceNet)
     triplet selection, and its gradient, to train a head on top of frozen embeddings.

   Plain vs squared L2: all thresholds here are on plain L2. dlib's published 0.6 is plain L2
   on ResNet embeddings (which come out of unit length); OpenFace's 0.99 is squared L2 on
   L2-normalised nn4 embeddings, i.e. 0.995 plain.

   Thresholds shipped (plain L2, fnet_network_threshold_for), measured with facenet.h's own
   pipeline on LFW dev (View 2 folds 1-3: 1,800 pairs, 2,320 photos of 1,241 people;
   tools/eval/eval_match.sh; face nearest the image centre, central box for 16 undetected photos):
     resnet34-dlib  verify 0.62: held-out-fold accuracy 98.17% +- 0.36 (fold thresholds
                    0.614..0.638, mean 0.626; dlib publishes 0.6); deepface's 253 labelled
                    pairs all right (same <= 0.477, different >= 0.643).
                    identify 0.46: gallery of 450 people (one photo each), 1,079 probes of
                    them: rank-1 93.2%, rank-5 98.2%, right and accepted 61.4%; 791 people not
                    in the gallery: 1.4% accepted (at 0.62: 89% would be). fnet_identify's
                    default no longer uses it: see the impostor table below.
                    cluster 0.48: 601 photos of 83 people, Chinese whispers pairwise
                    precision 0.900, recall 0.847 (at 0.62: 0.22 / 0.92, clusters chain).
     nn4.small2.v1  verify 0.995 (OpenFace's 0.99 squared); identify 0.74, cluster 0.77
                    scaled from the ResNet's ratios: not measured (the complete weights are
                    not in this repository).
     nn4.small2.v1+filled  (the incomplete blob `make weights` builds) verify 0.22: 69.7%;
                    it cannot identify (rank-1 5.9%): identify 0.163 and cluster 0.17 are
                    placeholders in the same ratio.
     nn4.small2.v1+relearned  (make relearn: the five tensors re-learned, weights/README.md)
                    verify 0.84: the best threshold on the validation split of the training
                    pool (52 held-out people of lfw-train+dev, 92.4% there), not on the LFW
                    test folds. identify 0.355 (1% of 1,491 unknown probes accepted) and
                    cluster 0.487 (best pairwise F1) on the training pool's photos outside
                    the dev folds (lfw-train/, 2,550 photos; the model saw these people, so
                    false accepts come out higher on new ones). LFW by leave-one-fold-out
                    (each fold scored by a model trained without its people): verify 90.1%
                    +- 1.0; identify rank-1 45.1% (folds 42.7/45.0/47.7; gallery ~150 people),
                    at 0.355 right-and-accepted 8.0% with 3.4% false accepts; clustering at
                    0.487 precision 0.58, recall 0.42. A verifier, not an open-set
                    identifier: use the ResNet for galleries (same folds: rank-1 96.0%).

   Identification at a false-accept rate (fnet_far_threshold; the rule is explained at its
   code). The ResNet's impostor table: every pair of photos of different people among the
   1,468 LFW people of ../shared/data/lfw-train who are NOT in lfw-dev (1,534 photos, one face
   each, 15 without a detection left out; 1,175,671 pairs): median 0.822, 1e-3 quantile 0.542,
   1e-5 quantile 0.426 (tools/eval/eval_identify.c, make impostor-table). Checked on the lfw-dev
   people (never in the table; make eval-identify, 20 random galleries per size, one random
   photo per person enrolled, known probes = their other photos, strangers = every photo of
   everyone else):
     gallery K    FAR 1%: threshold, accepted as the right person, strangers accepted
        10        0.542  90.6%  1.3%          FAR 5%: 0.595  98.1%  5.2%
        20        0.519  85.3%  1.1%                  0.572  95.0%  5.1%
        40        0.498  77.6%  0.7%                  0.550  91.4%  4.1%
       100        0.474  69.7%  0.8%                  0.520  85.0%  3.5%
       200        0.455  61.0%  0.8%                  0.498  80.0%  3.6%
       450        0.438  52.5%  0.7%                  0.477  71.0%  3.2%
      1000        0.425  46.4%  1.1% (233 strangers)  0.455  61.2%  3.0%
   (rank-1 falls from 99.8% at K=10 to 92.2% at K=1000.) The false accepts follow the target
   at every size (the old fixed 0.46: 0.1-0.2% at K=40, and 60-64% of known probes); what
   a stricter target costs is the share accepted: this embedding separates 90% of known
   probes from 95% of strangers at K=40 only near FAR 5%, whatever the rule on one distance.
   Three photos per person (people with >= 4 photos, N = 3K embeddings in the rule) at FAR
   1%: K=40 87.1% accepted (73.7% with one photo of the same people), 0.8% strangers.
   Other networks have no shipped table (the relearned nn4 saw these LFW people in training,
   so a table measured on them would be too optimistic): fnet_identify falls back to their
   FNET_THRESHOLD_IDENTIFY, and `fnet calibrate` measures one on the user's own photos.
   A calibration's table (fnet calibrate: one distance per pair of people, the tail below
   100 of them from the shipped table, shifted) from 20 random dev people with >= 3 photos
   (190 pairs of people), used on galleries of 40 other dev people at FAR 1%: over 8 random
   folders thresholds 0.478..0.514 (shipped: 0.498), strangers accepted 0.38%..1.41%.
   Jittered galleries (fnet_gallery_set_jitter; fnet enroll's default: each face the mean of
   FNET_ENROLL_JITTER = 10 copies, examples/jitter.h) against plain probes: their own tables,
   from every ORDERED pair of the same photos (the first jittered, the second plain; 2,351,342):
   median 0.814, 1e-3 quantile 0.534 (plain 0.822, 0.542; the plain tables on such galleries
   would give a model FAR of 1.25% at K=40 for a 1% target). Chosen on lfw-train people
   outside lfw-dev (eval_identify --tune 10 --gallery-jitter N), then checked once on lfw-dev
   (make eval-identify), FAR 1%, one photo per person, cohort-normalised scores: K = 10 / 40 /
   1000 accepted as the right person 96.6 / 91.4 / 75.4% (plain galleries 95.3 / 89.6 / 73.5%),
   strangers accepted 1.05 / 1.08 / 0.94%; plain distances 92.3 / 80.8 / 47.5%, strangers
   1.34 / 0.71 / 0.94%.

   Gallery file, version 1 or 2, little-endian:
     offset size
     0      8    magic "FNETGALR"
     8      4    u32 version (2 when the gallery's jitter is not 0, else 1)
     12     4    u32 byte-order mark 0x01020304
     16     4    u32 dim (1..FNET_GALLERY_MAX_DIM)
     20     4    u32 number of people
     24     4    u32 number of embeddings (sum over people)
     28     4    u32 CRC-32 (zlib's) of bytes 0..27 followed by bytes 32..end of file
     32     8    u64 file size
     40     32   network id, NUL-terminated, zero-padded
     version 2 only:
     72     4    u32 jitter (fnet_gallery_set_jitter: 1..FNET_GALLERY_MAX_JITTER)
     76     4    u32 0 (reserved)
     72/80  ...  per person: u32 name length L, u32 embedding count C (>= 1), L name bytes
                 (no NUL), zero padding to a multiple of 4, C*dim f32.
   The loader checks all of it (names unique and NUL-free, values finite) before building
   anything: a damaged file gives an error, never a partial gallery.

   No state is global; random choices come from a SplitMix64 generator seeded by the caller. */

/* SplitMix64 (Steele et al. 2014): a tiny deterministic generator, same on every platform. */
static unsigned long long fnet__rng_next(unsigned long long *s) {
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double fnet__rng_uniform(unsigned long long *s) { /* [0, 1) */
    return (double)(fnet__rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}
static unsigned fnet__rng_below(unsigned long long *s, unsigned n) { /* 0..n-1, n >= 1 */
    return (unsigned)(fnet__rng_next(s) % (unsigned long long)n);
}
static double fnet__rng_normal(unsigned long long *s) { /* Box-Muller */
    double u1 = fnet__rng_uniform(s), u2 = fnet__rng_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

FNET_API float fnet_distance_sq(const float *a, const float *b, int dim) {
    /* four partial sums: the compiler vectorises this and it is exact enough for 128-d */
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int i = 0;
    if (!a || !b || dim <= 0) return 0.0f;
    for (; i + 4 <= dim; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1], d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
    }
    for (; i < dim; i++) s0 += (a[i] - b[i]) * (a[i] - b[i]);
    return (s0 + s1) + (s2 + s3);
}
FNET_API float fnet_distance(const float *a, const float *b, int dim) {
    return sqrtf(fnet_distance_sq(a, b, dim));
}
FNET_API fnet_result fnet_check_finite(const float *v, size_t n) {
    size_t i;
    if (!v) return FNET_ERR_INVALID_ARGUMENT;
    for (i = 0; i < n; i++) {
        float x = v[i];
        if (!(x == x) || x > FLT_MAX || x < -FLT_MAX) return FNET_ERR_NOT_FINITE;
    }
    return FNET_OK;
}
FNET_API fnet_result fnet_l2_normalize(float *v, int dim) {
    double s = 0.0;
    int i;
    if (!v || dim <= 0) return FNET_ERR_INVALID_ARGUMENT;
    if (fnet_check_finite(v, (size_t)dim) != FNET_OK) return FNET_ERR_NOT_FINITE;
    for (i = 0; i < dim; i++) s += (double)v[i] * v[i];
    if (s > 0.0) {
        float inv = (float)(1.0 / sqrt(s));
        for (i = 0; i < dim; i++) v[i] *= inv;
    }
    return FNET_OK;
}

/* Checks a set of n vectors of dim floats: pointers, sizes, finiteness. */
static fnet_result fnet__check_vectors(const float *x, int n, int dim) {
    size_t total;
    if (!x || n <= 0 || dim <= 0) return FNET_ERR_INVALID_ARGUMENT;
    if (!fnet__mul_ok((size_t)n, (size_t)dim, &total)) return FNET_ERR_TOO_LARGE;
    return fnet_check_finite(x, total);
}

/* ---- network ids and thresholds ---- */

FNET_API const char *fnet_network_id(const fnet_model *net) {
    const char *v;
    if (!net || net->kind != FNET_MODEL_NETWORK) return NULL;
    v = fnet_model_meta(net, "network");
    if (fnet_model_incomplete(net) && (!v || strcmp(v, "nn4.small2.v1") == 0 || !*v ||
                                       strlen(v) > FNET_NETWORK_ID_MAX))
        /* filled tensors: another embedding space (a blob trained from one names its own) */
        return v && strcmp(v, "nn4.small2.v1") == 0 ? "nn4.small2.v1+filled" : "incomplete";
    if (v && *v && strlen(v) <= FNET_NETWORK_ID_MAX) return v;
    switch (fnet_embed_input_size(net)) {
    case 96: return "nn4.small2.v1";
    case 150: return "resnet34-dlib";
    }
    return "unknown";
}

/* Plain-L2 thresholds {verify, identify, cluster} (see the section comment for the figures). */
static const float fnet__thr_resnet[3] = {0.62f, 0.46f, 0.48f};
static const float fnet__thr_nn4[3] = {0.995f, 0.74f, 0.77f};
static const float fnet__thr_nn4_filled[3] = {0.22f, 0.163f, 0.17f};
static const float fnet__thr_nn4_relearned[3] = {0.84f, 0.355f, 0.487f};

FNET_API float fnet_network_threshold_for(const char *network, fnet_threshold_kind kind) {
    /* one unsigned comparison: an enum may be unsigned (and short) on some targets (ARM EABI
       with short enums), where `kind < FNET_THRESHOLD_VERIFY` is always false and a warning;
       a negative value wraps to a large one here and is refused too */
    if (!network || (unsigned)kind > (unsigned)FNET_THRESHOLD_CLUSTER) return 0.0f;
    if (strstr(network, "resnet")) return fnet__thr_resnet[kind];
    if (strstr(network, "nn4") && strstr(network, "+relearned")) return fnet__thr_nn4_relearned[kind];
    if (strstr(network, "nn4") && strstr(network, "+filled")) return fnet__thr_nn4_filled[kind];
    if (strstr(network, "nn4")) return fnet__thr_nn4[kind];
    return 0.0f;
}
FNET_API float fnet_network_threshold(const char *network) {
    return fnet_network_threshold_for(network, FNET_THRESHOLD_VERIFY);
}

FNET_API fnet_result fnet_verify(const float *a, const float *b, int dim, float threshold,
                                 float *distance, int *same) {
    fnet_result r;
    float d;
    if (!a || !b || dim <= 0 || !(threshold > 0.0f) || threshold > FLT_MAX) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet_check_finite(a, (size_t)dim)) != FNET_OK) return r;
    if ((r = fnet_check_finite(b, (size_t)dim)) != FNET_OK) return r;
    d = fnet_distance(a, b, dim);
    if (distance) *distance = d;
    if (same) *same = d <= threshold;
    return FNET_OK;
}

/* zlib's CRC-32 with a 256-entry table built on the stack per call (no global state): the
   bitwise fnet__crc32_update is 8x slower, which shows on galleries of megabytes. */
static unsigned long fnet__crc32_table_update(const unsigned long *tab, unsigned long crc,
                                              const unsigned char *p, size_t n) {
    unsigned long c = crc ^ 0xFFFFFFFFUL;
    size_t i;
    for (i = 0; i < n; i++) c = tab[(c ^ p[i]) & 255u] ^ (c >> 8);
    return (c ^ 0xFFFFFFFFUL) & 0xFFFFFFFFUL;
}
/* CRC of a file whose CRC field sits at [crc_at, crc_at + 4): everything else is covered. */
static unsigned long fnet__crc_skip(const unsigned char *p, size_t n, size_t crc_at) {
    unsigned long tab[256];
    unsigned k;
    int j;
    for (k = 0; k < 256; k++) {
        unsigned long c = k;
        for (j = 0; j < 8; j++) c = (c >> 1) ^ (0xEDB88320UL & (0UL - (c & 1UL)));
        tab[k] = c;
    }
    return fnet__crc32_table_update(tab, fnet__crc32_table_update(tab, 0, p, crc_at), p + crc_at + 4,
                                    n - crc_at - 4);
}
/* A network id field: 1..31 bytes, NUL-terminated within 32, zero-padded (files). */
static int fnet__valid_network(const char *s) {
    size_t n;
    if (!s) return 0;
    n = strlen(s);
    return n >= 1 && n <= FNET_NETWORK_ID_MAX;
}
static int fnet__read_network(const unsigned char *p, char *out) {
    size_t n = 0, i;
    while (n < 32 && p[n]) n++;
    if (n == 0 || n >= 32) return 0;
    for (i = n; i < 32; i++)
        if (p[i]) return 0;
    memcpy(out, p, n + 1);
    return 1;
}

/* The gallery and classifier files share their first 72 bytes:
     0 magic[8] | 8 u32 version | 12 u32 byte-order mark 0x01020304 | 16..27 the file's own |
    28 u32 CRC-32 of every other byte | 32 u64 file size | 40 network id[32], NUL-padded
   fnet__file_begin writes them (the CRC last, by fnet__file_end); fnet__file_check reads them
   back, in the order that gives each damage its own result code. */
static void fnet__file_begin(unsigned char *p, const char *magic, unsigned long version,
                             unsigned long long total, const char *network) {
    memcpy(p, magic, 8);
    fnet__wr_u32(p + 8, version);
    fnet__wr_u32(p + 12, 0x01020304UL);
    fnet__wr_u64(p + 32, total);
    memcpy(p + 40, network, strlen(network));
}
static void fnet__file_end(unsigned char *p, size_t total) {
    fnet__wr_u32(p + 28, fnet__crc_skip(p, total, 28));
}
static fnet_result fnet__file_check(const unsigned char *b, size_t size, const char *magic,
                                    unsigned long version, size_t header, char *network) {
    unsigned long long fsize;
    if (size >= 8 && memcmp(b, magic, 8) != 0) return FNET_ERR_BAD_MAGIC;
    if (size < header) return FNET_ERR_TRUNCATED;
    if (fnet__rd_u32(b + 8) != version) return FNET_ERR_VERSION;
    if (fnet__rd_u32(b + 12) != 0x01020304UL) return FNET_ERR_CORRUPT;
    fsize = fnet__rd_u64(b + 32);
    if (fsize > (unsigned long long)size) return FNET_ERR_TRUNCATED;
    if (fsize != (unsigned long long)size) return FNET_ERR_CORRUPT; /* trailing bytes */
    if (fnet__crc_skip(b, size, 28) != fnet__rd_u32(b + 28)) return FNET_ERR_CORRUPT;
    return fnet__read_network(b + 40, network) ? FNET_OK : FNET_ERR_CORRUPT;
}

/* ---- gallery ---- */

typedef struct fnet__person {
    char *name;
    int first, count; /* embeddings [first, first+count) of fnet_gallery.emb */
} fnet__person;

struct fnet_gallery {
    char network[FNET_NETWORK_ID_MAX + 1];
    int dim;
    int n_people, cap_people;
    fnet__person *people;
    int n_emb, cap_emb;
    float *emb; /* n_emb * dim, grouped by person in gallery order */
    int jitter; /* fnet_gallery_set_jitter */
};

FNET_API fnet_result fnet_gallery_create(const char *network, int dim, fnet_gallery **out) {
    fnet_gallery *g;
    if (!out) return FNET_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!fnet__valid_network(network) || dim <= 0 || dim > FNET_GALLERY_MAX_DIM)
        return FNET_ERR_INVALID_ARGUMENT;
    g = (fnet_gallery *)FNET_MALLOC(sizeof(fnet_gallery));
    if (!g) return FNET_ERR_OUT_OF_MEMORY;
    memset(g, 0, sizeof(*g));
    memcpy(g->network, network, strlen(network) + 1);
    g->dim = dim;
    *out = g;
    return FNET_OK;
}

FNET_API void fnet_gallery_free(fnet_gallery *g) {
    int i;
    if (!g) return;
    for (i = 0; i < g->n_people; i++) FNET_FREE(g->people[i].name);
    FNET_FREE(g->people);
    FNET_FREE(g->emb);
    FNET_FREE(g);
}

FNET_API const char *fnet_gallery_network(const fnet_gallery *g) { return g ? g->network : NULL; }
FNET_API int fnet_gallery_dim(const fnet_gallery *g) { return g ? g->dim : 0; }
FNET_API int fnet_gallery_count(const fnet_gallery *g) { return g ? g->n_people : 0; }
FNET_API int fnet_gallery_embedding_count(const fnet_gallery *g) { return g ? g->n_emb : 0; }
FNET_API int fnet_gallery_jitter(const fnet_gallery *g) { return g ? g->jitter : 0; }
FNET_API fnet_result fnet_gallery_set_jitter(fnet_gallery *g, int jitter) {
    if (!g || jitter < 0 || jitter > FNET_GALLERY_MAX_JITTER) return FNET_ERR_INVALID_ARGUMENT;
    g->jitter = jitter;
    return FNET_OK;
}

FNET_API fnet_result fnet_gallery_check(const fnet_gallery *g, const char *network, int dim) {
    if (!g || !network) return FNET_ERR_INVALID_ARGUMENT;
    if (strcmp(g->network, network) != 0 || g->dim != dim) return FNET_ERR_MISMATCH;
    return FNET_OK;
}

FNET_API int fnet_gallery_find(const fnet_gallery *g, const char *name) {
    int i;
    if (!g || !name) return -1;
    for (i = 0; i < g->n_people; i++)
        if (strcmp(g->people[i].name, name) == 0) return i;
    return -1;
}

FNET_API fnet_result fnet_gallery_person(const fnet_gallery *g, int i, const char **name,
                                         const float **embeddings, int *n) {
    if (!g || i < 0 || i >= g->n_people) return FNET_ERR_INVALID_ARGUMENT;
    if (name) *name = g->people[i].name;
    if (embeddings) *embeddings = g->emb + (size_t)g->people[i].first * (size_t)g->dim;
    if (n) *n = g->people[i].count;
    return FNET_OK;
}

static int fnet__valid_name(const char *name) {
    size_t n;
    if (!name) return 0;
    n = strlen(name);
    return n >= 1 && n <= FNET_GALLERY_MAX_NAME;
}

/* Makes room for `more` embeddings and one more person (no change on failure). */
static fnet_result fnet__gallery_reserve(fnet_gallery *g, int more) {
    if (more > FNET_GALLERY_MAX_EMBEDDINGS - g->n_emb) return FNET_ERR_TOO_LARGE;
    if (g->n_emb + more > g->cap_emb) {
        size_t cap = (size_t)g->cap_emb * 2u, bytes;
        float *e;
        if (cap < (size_t)(g->n_emb + more)) cap = (size_t)(g->n_emb + more);
        if (cap < 16) cap = 16;
        if (cap > (size_t)FNET_GALLERY_MAX_EMBEDDINGS) cap = (size_t)FNET_GALLERY_MAX_EMBEDDINGS;
        if (!fnet__mul_ok(cap, (size_t)g->dim * sizeof(float), &bytes)) return FNET_ERR_TOO_LARGE;
        e = (float *)FNET_REALLOC(g->emb, bytes);
        if (!e) return FNET_ERR_OUT_OF_MEMORY;
        g->emb = e;
        g->cap_emb = (int)cap;
    }
    if (g->n_people + 1 > g->cap_people) {
        int cap = g->cap_people ? g->cap_people * 2 : 8;
        fnet__person *p = (fnet__person *)FNET_REALLOC(g->people, (size_t)cap * sizeof(fnet__person));
        if (!p) return FNET_ERR_OUT_OF_MEMORY;
        g->people = p;
        g->cap_people = cap;
    }
    return FNET_OK;
}

static fnet_result fnet__gallery_insert(fnet_gallery *g, const char *name, const float *emb,
                                        int n, int must_be_new) {
    fnet_result r;
    int idx, i;
    size_t d;
    if (!g || !fnet__valid_name(name) || !emb || n <= 0) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__check_vectors(emb, n, g->dim)) != FNET_OK) return r;
    idx = fnet_gallery_find(g, name);
    if (idx >= 0 && must_be_new) return FNET_ERR_DUPLICATE;
    if ((r = fnet__gallery_reserve(g, n)) != FNET_OK) return r;
    d = (size_t)g->dim;
    if (idx < 0) { /* new person at the end */
        size_t len = strlen(name);
        char *copy = (char *)FNET_MALLOC(len + 1);
        if (!copy) return FNET_ERR_OUT_OF_MEMORY;
        memcpy(copy, name, len + 1);
        g->people[g->n_people].name = copy;
        g->people[g->n_people].first = g->n_emb;
        g->people[g->n_people].count = n;
        g->n_people++;
        memcpy(g->emb + (size_t)g->n_emb * d, emb, (size_t)n * d * sizeof(float));
    } else { /* after the person's last embedding; later people move up */
        int end = g->people[idx].first + g->people[idx].count;
        memmove(g->emb + (size_t)(end + n) * d, g->emb + (size_t)end * d,
                (size_t)(g->n_emb - end) * d * sizeof(float));
        memcpy(g->emb + (size_t)end * d, emb, (size_t)n * d * sizeof(float));
        g->people[idx].count += n;
        for (i = idx + 1; i < g->n_people; i++) g->people[i].first += n;
    }
    g->n_emb += n;
    return FNET_OK;
}

FNET_API fnet_result fnet_gallery_enroll(fnet_gallery *g, const char *name,
                                         const float *embeddings, int n) {
    return fnet__gallery_insert(g, name, embeddings, n, 1);
}
FNET_API fnet_result fnet_gallery_add(fnet_gallery *g, const char *name, const float *embeddings,
                                      int n) {
    return fnet__gallery_insert(g, name, embeddings, n, 0);
}

FNET_API fnet_result fnet_gallery_remove(fnet_gallery *g, const char *name) {
    int idx, i, first, count;
    size_t d;
    if (!g || !name) return FNET_ERR_INVALID_ARGUMENT;
    idx = fnet_gallery_find(g, name);
    if (idx < 0) return FNET_ERR_NOT_FOUND;
    d = (size_t)g->dim;
    first = g->people[idx].first;
    count = g->people[idx].count;
    memmove(g->emb + (size_t)first * d, g->emb + (size_t)(first + count) * d,
            (size_t)(g->n_emb - first - count) * d * sizeof(float));
    g->n_emb -= count;
    FNET_FREE(g->people[idx].name);
    for (i = idx; i + 1 < g->n_people; i++) {
        g->people[i] = g->people[i + 1];
        g->people[i].first -= count;
    }
    g->n_people--;
    return FNET_OK;
}

#define FNET__GAL_HEADER 72u

static int fnet__strptr_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

FNET_API fnet_result fnet_gallery_save_memory(const fnet_gallery *g, void *buf, size_t cap,
                                              size_t *size) {
    unsigned long long total;
    unsigned char *p;
    size_t at, nf, header;
    int i;
    if (!g || !size) return FNET_ERR_INVALID_ARGUMENT;
    header = g->jitter ? FNET__GAL_HEADER + 8u : FNET__GAL_HEADER; /* version 2: + jitter, 0 */
    total = header;
    for (i = 0; i < g->n_people; i++)
        total += 8u + ((strlen(g->people[i].name) + 3u) & ~(size_t)3u);
    total += (unsigned long long)g->n_emb * (unsigned long long)g->dim * 4u;
    if (total > (unsigned long long)(size_t)-1) return FNET_ERR_TOO_LARGE;
    *size = (size_t)total;
    if (!buf) return FNET_OK;
    if (cap < (size_t)total) return FNET_ERR_WORKSPACE_TOO_SMALL;
    p = (unsigned char *)buf;
    memset(p, 0, (size_t)total);
    fnet__file_begin(p, "FNETGALR", g->jitter ? 2ul : 1ul, total, g->network);
    fnet__wr_u32(p + 16, (unsigned long)g->dim);
    fnet__wr_u32(p + 20, (unsigned long)g->n_people);
    fnet__wr_u32(p + 24, (unsigned long)g->n_emb);
    if (g->jitter) fnet__wr_u32(p + FNET__GAL_HEADER, (unsigned long)g->jitter);
    at = header;
    for (i = 0; i < g->n_people; i++) {
        size_t len = strlen(g->people[i].name), k;
        const float *e = g->emb + (size_t)g->people[i].first * (size_t)g->dim;
        fnet__wr_u32(p + at, (unsigned long)len);
        fnet__wr_u32(p + at + 4, (unsigned long)g->people[i].count);
        memcpy(p + at + 8, g->people[i].name, len);
        at += 8u + ((len + 3u) & ~(size_t)3u);
        nf = (size_t)g->people[i].count * (size_t)g->dim;
        for (k = 0; k < nf; k++, at += 4) fnet__wr_f32(p + at, e[k]);
    }
    fnet__file_end(p, (size_t)total);
    return FNET_OK;
}

FNET_API fnet_result fnet_gallery_load_memory(const void *data, size_t size, fnet_gallery **out) {
    const unsigned char *b = (const unsigned char *)data;
    unsigned long dim, n_people, n_emb, seen = 0, i, version, jitter = 0;
    char network[32];
    fnet_gallery *g = NULL;
    fnet_result r;
    size_t at, header = FNET__GAL_HEADER;
    int pass;
    if (!out) return FNET_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!data) return FNET_ERR_INVALID_ARGUMENT;
    version = size >= 12 && memcmp(b, "FNETGALR", 8) == 0 ? fnet__rd_u32(b + 8) : 1;
    if (version == 2) header += 8; /* + jitter, reserved */
    else version = 1;              /* any other number: FNET_ERR_VERSION from the check */
    r = fnet__file_check(b, size, "FNETGALR", version, header, network);
    if (r != FNET_OK) return r;
    if (version == 2) {
        jitter = fnet__rd_u32(b + FNET__GAL_HEADER);
        if (jitter < 1 || jitter > FNET_GALLERY_MAX_JITTER || fnet__rd_u32(b + FNET__GAL_HEADER + 4) != 0)
            return FNET_ERR_CORRUPT;
    }
    dim = fnet__rd_u32(b + 16);
    n_people = fnet__rd_u32(b + 20);
    n_emb = fnet__rd_u32(b + 24);
    if (dim < 1 || dim > FNET_GALLERY_MAX_DIM || n_emb > FNET_GALLERY_MAX_EMBEDDINGS ||
        n_people > n_emb)
        return FNET_ERR_CORRUPT;
    /* pass 0 checks every record against the file; pass 1 builds the gallery */
    for (pass = 0; pass < 2; pass++) {
        at = header;
        seen = 0;
        for (i = 0; i < n_people; i++) {
            unsigned long len, cnt;
            unsigned long long need;
            const unsigned char *name;
            char tmp[FNET_GALLERY_MAX_NAME + 1];
            if (size - at < 8) { r = FNET_ERR_CORRUPT; goto fail; }
            len = fnet__rd_u32(b + at);
            cnt = fnet__rd_u32(b + at + 4);
            if (len < 1 || len > FNET_GALLERY_MAX_NAME || cnt < 1 || cnt > n_emb - seen) { r = FNET_ERR_CORRUPT; goto fail; }
            need = 8u + ((len + 3u) & ~3ul) + (unsigned long long)cnt * dim * 4u;
            if (need > (unsigned long long)(size - at)) { r = FNET_ERR_CORRUPT; goto fail; }
            name = b + at + 8;
            if (memchr(name, 0, len)) { r = FNET_ERR_CORRUPT; goto fail; }
            { unsigned long k; for (k = len; k < ((len + 3u) & ~3ul); k++) if (name[k]) { r = FNET_ERR_CORRUPT; goto fail; } }
            memcpy(tmp, name, len);
            tmp[len] = 0;
            if (pass == 0) {
                unsigned long k;
                const unsigned char *e = b + at + 8 + ((len + 3u) & ~3ul);
                for (k = 0; k < cnt * dim; k++) {
                    float v = fnet__rd_f32(e + 4 * k);
                    if (!(v == v) || v > FLT_MAX || v < -FLT_MAX) { r = FNET_ERR_CORRUPT; goto fail; }
                }
            } else {
                /* build: gallery_enroll copies; convert the little-endian floats first */
                unsigned long k;
                const unsigned char *e = b + at + 8 + ((len + 3u) & ~3ul);
                float *dst;
                if ((r = fnet__gallery_reserve(g, (int)cnt)) != FNET_OK) goto fail;
                dst = g->emb + (size_t)g->n_emb * dim;
                for (k = 0; k < cnt * dim; k++) dst[k] = fnet__rd_f32(e + 4 * k);
                {
                    char *copy = (char *)FNET_MALLOC(len + 1);
                    if (!copy) { r = FNET_ERR_OUT_OF_MEMORY; goto fail; }
                    memcpy(copy, tmp, len + 1);
                    g->people[g->n_people].name = copy;
                    g->people[g->n_people].first = g->n_emb;
                    g->people[g->n_people].count = (int)cnt;
                    g->n_people++;
                    g->n_emb += (int)cnt;
                }
            }
            at += (size_t)need;
            seen += cnt;
        }
        if (at != size || seen != n_emb) { r = FNET_ERR_CORRUPT; goto fail; }
        if (pass == 0 && (r = fnet_gallery_create(network, (int)dim, &g)) != FNET_OK) goto fail;
        if (pass == 0) g->jitter = (int)jitter;
    }
    /* names must be unique: sort pointers to them and compare neighbours (n log n) */
    if (g->n_people > 1) {
        const char **names = (const char **)FNET_MALLOC((size_t)g->n_people * sizeof(char *));
        int k, dup = 0;
        if (!names) { r = FNET_ERR_OUT_OF_MEMORY; goto fail; }
        for (k = 0; k < g->n_people; k++) names[k] = g->people[k].name;
        qsort(names, (size_t)g->n_people, sizeof(char *), fnet__strptr_cmp);
        for (k = 1; k < g->n_people; k++) dup |= strcmp(names[k - 1], names[k]) == 0;
        FNET_FREE((void *)names);
        if (dup) { r = FNET_ERR_CORRUPT; goto fail; }
    }
    *out = g;
    return FNET_OK;
fail:
    fnet_gallery_free(g);
    return r;
}

#ifndef FNET_NO_STDIO
/* Writes n bytes to PATH.tmp, then renames it over PATH: a failed save leaves the old file
   as it was (galleries, trained blobs, checkpoints). */
static fnet_result fnet__write_atomic(const char *path, const void *data, size_t n) {
    size_t plen;
    char *tmp;
    FILE *f;
    int ok;
    if (!path || !*path) return FNET_ERR_INVALID_ARGUMENT;
    plen = strlen(path);
    tmp = (char *)FNET_MALLOC(plen + 5);
    if (!tmp) return FNET_ERR_OUT_OF_MEMORY;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    f = fopen(tmp, "wb");
    ok = f != NULL;
    if (ok) {
        ok = fwrite(data, 1, n, f) == n;
        ok = (fflush(f) == 0) && ok;
        ok = (fclose(f) == 0) && ok;
    }
    if (ok) {
        ok = rename(tmp, path) == 0;
#if defined(_WIN32)
        /* C leaves renaming onto an existing file to the system: POSIX replaces it
           atomically, Windows refuses. There the old file goes first (a crash in between
           leaves PATH.tmp, the complete new file). */
        if (!ok && remove(path) == 0) ok = rename(tmp, path) == 0;
#endif
    }
    if (!ok) remove(tmp);
    FNET_FREE(tmp);
    return ok ? FNET_OK : FNET_ERR_IO;
}

FNET_API fnet_result fnet_gallery_save(const fnet_gallery *g, const char *path) {
    size_t size = 0;
    unsigned char *buf;
    fnet_result r;
    if (!g || !path || !*path) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet_gallery_save_memory(g, NULL, 0, &size)) != FNET_OK) return r;
    buf = (unsigned char *)FNET_MALLOC(size);
    if (!buf) return FNET_ERR_OUT_OF_MEMORY;
    fnet_gallery_save_memory(g, buf, size, &size);
    r = fnet__write_atomic(path, buf, size);
    FNET_FREE(buf);
    return r;
}

/* Reads a whole file (at most `limit` bytes) into a malloc'd buffer. */
static fnet_result fnet__read_file(const char *path, size_t limit, unsigned char **out, size_t *size) {
    FILE *f;
    long len;
    unsigned char *buf;
    *out = NULL;
    f = fopen(path, "rb");
    if (!f) return FNET_ERR_IO;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return FNET_ERR_IO;
    }
    if ((unsigned long)len > limit) { fclose(f); return FNET_ERR_TOO_LARGE; }
    buf = (unsigned char *)FNET_MALLOC((size_t)len + 1);
    if (!buf) { fclose(f); return FNET_ERR_OUT_OF_MEMORY; }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) { fclose(f); FNET_FREE(buf); return FNET_ERR_IO; }
    fclose(f);
    *out = buf;
    *size = (size_t)len;
    return FNET_OK;
}

FNET_API fnet_result fnet_gallery_load(const char *path, fnet_gallery **out) {
    unsigned char *buf;
    size_t size = 0;
    fnet_result r;
    if (!out) return FNET_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!path) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__read_file(path, FNET_MAX_BLOB_SIZE, &buf, &size)) != FNET_OK) return r;
    r = fnet_gallery_load_memory(buf, size, out);
    FNET_FREE(buf);
    return r;
}
#endif

/* ---- identification ---- */

/* The k best people for a probe: per person the best of its photos, kept in a sorted top-k
   list. Without cohort distances (gc NULL) the score is the plain distance; with them, the
   ratio s = d / ((cp + gc[e]) / 2) (fnet_identify_cohort). */
static void fnet__identify_topk(const fnet_gallery *g, const float *probe, float cp, const float *gc,
                                float threshold, fnet_match *matches, int k, int *n_matches) {
    int p, j, n = 0;
    size_t d = (size_t)g->dim;
    for (p = 0; p < g->n_people; p++) {
        const float *e = g->emb + (size_t)g->people[p].first * d;
        float best = FLT_MAX, best_d = FLT_MAX;
        int c;
        for (c = 0; c < g->people[p].count; c++, e += d) {
            float dist = fnet_distance_sq(probe, e, g->dim), sc = dist; /* plain: squared until the end */
            if (gc) {
                dist = sqrtf(dist);
                sc = dist / (0.5f * (cp + gc[g->people[p].first + c]));
            }
            if (sc < best) { best = sc; best_d = dist; }
        }
        if (n == k && !(best < matches[n - 1].score)) continue;
        j = n < k ? n++ : k - 1;
        while (j > 0 && best < matches[j - 1].score) {
            matches[j] = matches[j - 1];
            j--;
        }
        matches[j].person = p;
        matches[j].distance = best_d;
        matches[j].score = best;
    }
    for (j = 0; j < n; j++) {
        if (!gc) matches[j].score = matches[j].distance = sqrtf(matches[j].distance);
        matches[j].accepted = matches[j].score <= threshold;
    }
    *n_matches = n;
}

/* The arguments both identify calls check. */
static fnet_result fnet__identify_args(const fnet_gallery *g, const float *probe, int dim, float threshold,
                                       const fnet_match *matches, int k, int *n_matches) {
    if (n_matches) *n_matches = 0;
    if (!g || !probe || !matches || k <= 0 || !n_matches) return FNET_ERR_INVALID_ARGUMENT;
    if (dim != g->dim) return FNET_ERR_MISMATCH;
    if (!(threshold == threshold) || threshold > FLT_MAX) return FNET_ERR_INVALID_ARGUMENT;
    return fnet_check_finite(probe, (size_t)dim);
}

FNET_API fnet_result fnet_identify(const fnet_gallery *g, const float *probe, int dim,
                                   float threshold, fnet_match *matches, int k, int *n_matches) {
    fnet_result r = fnet__identify_args(g, probe, dim, threshold, matches, k, n_matches);
    if (r != FNET_OK) return r;
    if (threshold <= 0.0f && fnet_gallery_far_threshold(g, NULL, FNET_DEFAULT_FAR, &threshold) != FNET_OK)
        threshold = fnet_network_threshold_for(g->network, FNET_THRESHOLD_IDENTIFY);
    if (threshold <= 0.0f) return FNET_ERR_INVALID_ARGUMENT; /* unknown network: give one */
    if (g->n_people == 0) return FNET_ERR_NOT_FOUND;
    fnet__identify_topk(g, probe, 0.0f, NULL, threshold, matches, k, n_matches);
    return FNET_OK;
}

/* ---- cohort normalisation ---- */

FNET_API fnet_result fnet_cohort_distance(const fnet_gallery *cohort, const float *x, int dim, float *c) {
    float best[FNET_COHORT_K]; /* the K smallest squared distances, ascending */
    double sum = 0.0;
    int i, j, n = 0;
    fnet_result r;
    if (c) *c = 0.0f;
    if (!cohort || !x || !c || cohort->n_emb < FNET_COHORT_K) return FNET_ERR_INVALID_ARGUMENT;
    if (dim != cohort->dim) return FNET_ERR_MISMATCH;
    if ((r = fnet_check_finite(x, (size_t)dim)) != FNET_OK) return r;
    for (i = 0; i < cohort->n_emb; i++) {
        float s = fnet_distance_sq(x, cohort->emb + (size_t)i * (size_t)dim, dim);
        if (n == FNET_COHORT_K && !(s < best[n - 1])) continue;
        j = n < FNET_COHORT_K ? n++ : FNET_COHORT_K - 1;
        while (j > 0 && s < best[j - 1]) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = s;
    }
    for (j = 0; j < n; j++) sum += sqrt((double)best[j]);
    *c = (float)(sum / n);
    return FNET_OK;
}

FNET_API fnet_result fnet_cohort_distances(const fnet_gallery *cohort, const fnet_gallery *g, float *c) {
    fnet_result r;
    int i;
    if (!cohort || !g || !c) return FNET_ERR_INVALID_ARGUMENT;
    if (strcmp(cohort->network, g->network) != 0) return FNET_ERR_MISMATCH;
    for (i = 0; i < g->n_emb; i++)
        if ((r = fnet_cohort_distance(cohort, g->emb + (size_t)i * (size_t)g->dim, g->dim, &c[i])) != FNET_OK)
            return r;
    return FNET_OK;
}

FNET_API fnet_result fnet_identify_cohort(const fnet_gallery *g, const fnet_gallery *cohort,
                                          const float *gallery_c, const float *probe, int dim,
                                          float threshold, fnet_match *matches, int k,
                                          int *n_matches) {
    fnet_result r = fnet__identify_args(g, probe, dim, threshold, matches, k, n_matches);
    float cp;
    int i;
    if (r != FNET_OK) return r;
    if (!cohort || !gallery_c) return FNET_ERR_INVALID_ARGUMENT;
    if (strcmp(cohort->network, g->network) != 0) return FNET_ERR_MISMATCH;
    for (i = 0; i < g->n_emb; i++)
        if (!(gallery_c[i] > 0.0f) || gallery_c[i] > FLT_MAX) return FNET_ERR_INVALID_ARGUMENT;
    if (threshold <= 0.0f) {
        fnet_impostor_table t;
        if ((r = fnet_network_cohort_table_jitter(g->network, g->jitter, &t)) != FNET_OK) return r;
        if ((r = fnet_far_threshold(&t, FNET_DEFAULT_FAR, g->n_emb > 0 ? (double)g->n_emb : 1.0, &threshold)) != FNET_OK)
            return r;
    }
    if (g->n_people == 0) return FNET_ERR_NOT_FOUND;
    if ((r = fnet_cohort_distance(cohort, probe, dim, &cp)) != FNET_OK) return r;
    if (!(cp > 0.0f)) return FNET_ERR_INVALID_ARGUMENT; /* the probe is a cohort photo itself */
    fnet__identify_topk(g, probe, cp, gallery_c, threshold, matches, k, n_matches);
    return FNET_OK;
}

/* ---- open-set thresholds from a false-accept rate ----

   For a stranger's probe and a gallery of N embeddings, a false accept is "some embedding at
   distance <= t". If each comparison falls under t with probability p = F(t) (F: the
   impostor distance distribution of the network) and the N comparisons were independent,
       FAR(t) = 1 - (1 - F(t))^N,   so   F(t) = p = 1 - (1 - FAR)^(1/N)
   (computed as -expm1(log1p(-FAR) / N), exact for tiny p). They are not independent: photos
   of one person sit close together, and a probe near one gallery face tends to be near
   others; both make the true FAR lower than the target (Boole: FAR <= N p whatever the
   dependence, and N p is within 0.5% of the target at FAR 1%), so the rule is conservative.
   The threshold is then F^-1(p) read off the table: linear in (distance, log10 rate) between
   points; below the first point (rates rarer than the pairs measured could show) the slope
   of the decade above it continues, since the lower tail of these distributions is close to
   exponential on LFW. */

FNET_API fnet_result fnet_impostor_table_check(const fnet_impostor_table *t) {
    int i;
    if (!t) return FNET_ERR_INVALID_ARGUMENT;
    if (!memchr(t->network, 0, sizeof t->network) || !fnet__valid_network(t->network)) return FNET_ERR_CORRUPT;
    if (t->n < 2 || t->n > FNET_IMPOSTOR_TABLE_MAX) return FNET_ERR_CORRUPT;
    if (!(t->pairs >= 2.0) || t->pairs > 1e300) return FNET_ERR_CORRUPT;
    for (i = 0; i < t->n; i++) {
        float d = t->distance[i], y = t->log10_rate[i];
        if (!(d >= 0.0f) || d > 1e4f || !(y >= -30.0f) || y > 0.0f) return FNET_ERR_CORRUPT;
        if (i > 0 && (!(d >= t->distance[i - 1]) || !(y > t->log10_rate[i - 1]))) return FNET_ERR_CORRUPT;
    }
    return FNET_OK;
}

/* Shipped tables: {distance, log10 rate} points, measured by tools/eval/eval_identify.c
   (make impostor-table; the section comment has the figures). */
typedef struct fnet__impostor_points {
    const char *network; /* the exact id: a network trained from it ("+trained") maps faces
                            elsewhere, so it does not inherit the table */
    int jitter;          /* the galleries it is for (fnet_gallery_set_jitter) */
    double pairs;
    int n;
    const float (*pt)[2];
} fnet__impostor_points;

/* resnet34-dlib: 1175671 impostor pairs, 1534 photos of 1468 LFW people outside lfw-dev */
static const float fnet__imp_resnet[][2] = {
    {0.3867f, -5.7693f}, {0.3940f, -5.5932f}, {0.3941f, -5.4682f}, {0.4104f, -5.2252f},
    {0.4258f, -4.9911f}, {0.4329f, -4.7481f}, {0.4452f, -4.4905f}, {0.4576f, -4.2442f},
    {0.4739f, -3.9984f}, {0.4872f, -3.7481f}, {0.5045f, -3.4997f}, {0.5229f, -3.2494f},
    {0.5416f, -2.9999f}, {0.5602f, -2.7499f}, {0.5788f, -2.5000f}, {0.5979f, -2.2500f},
    {0.6170f, -2.0000f}, {0.6373f, -1.7500f}, {0.6589f, -1.5000f}, {0.6822f, -1.2500f},
    {0.7087f, -1.0000f}, {0.7399f, -0.7500f}, {0.7794f, -0.5000f}, {0.8362f, -0.2500f},
    {1.1833f, 0.0000f}};

/* resnet34-dlib, galleries of jittered embeddings (fnet_gallery_set_jitter: FNET_ENROLL_JITTER
   copies each, examples/jitter.h, as fnet enroll makes them) against plain probes: every
   ORDERED pair of those photos of different people, the first jittered, the second plain
   (make impostor-table: eval_identify --gallery-jitter 10). Such an embedding sits nearer
   everyone (the jitters' noise averaged out): these distances are about 1 percent smaller */
#define FNET__IMP_J_PAIRS 2351342.0
static const float fnet__imp_resnet_j[][2] = {
    {0.3749f, -6.0703f}, {0.3765f, -5.8942f}, {0.3879f, -5.6723f}, {0.3942f, -5.4682f},
    {0.4021f, -5.2252f}, {0.4144f, -4.9911f}, {0.4261f, -4.7481f}, {0.4392f, -4.4963f},
    {0.4502f, -4.2475f}, {0.4655f, -3.9984f}, {0.4821f, -3.7491f}, {0.4977f, -3.4997f},
    {0.5154f, -3.2498f}, {0.5339f, -2.9999f}, {0.5519f, -2.7499f}, {0.5707f, -2.5000f},
    {0.5894f, -2.2500f}, {0.6083f, -2.0000f}, {0.6284f, -1.7500f}, {0.6499f, -1.5000f},
    {0.6733f, -1.2500f}, {0.6997f, -1.0000f}, {0.7311f, -0.7500f}, {0.7707f, -0.5000f},
    {0.8278f, -0.2500f}, {1.1944f, 0.0000f}};

static const fnet__impostor_points fnet__impostor_tables[] = {
    {"resnet34-dlib", 0, 1175671.0, (int)(sizeof fnet__imp_resnet / sizeof fnet__imp_resnet[0]), fnet__imp_resnet},
    {"resnet34-dlib", FNET_ENROLL_JITTER, FNET__IMP_J_PAIRS, (int)(sizeof fnet__imp_resnet_j / sizeof fnet__imp_resnet_j[0]),
     fnet__imp_resnet_j},
};

/* resnet34-dlib, cohort-normalised scores s (fnet_identify_cohort) of the same 1175671 pairs,
   with the cohort `make cohort` writes (those 1534 photos): each pair's c values are taken
   without both people's photos, as a probe and a gallery are never in the cohort either */
static const float fnet__imp_resnet_cohort[][2] = {
    {0.7711f, -5.7693f}, {0.7719f, -5.5932f}, {0.7796f, -5.4682f}, {0.7910f, -5.2252f},
    {0.8165f, -4.9911f}, {0.8295f, -4.7481f}, {0.8539f, -4.4905f}, {0.8674f, -4.2442f},
    {0.8848f, -3.9984f}, {0.9036f, -3.7481f}, {0.9238f, -3.4997f}, {0.9440f, -3.2494f},
    {0.9637f, -2.9999f}, {0.9870f, -2.7499f}, {1.0104f, -2.5000f}, {1.0354f, -2.2500f},
    {1.0625f, -2.0000f}, {1.0922f, -1.7500f}, {1.1243f, -1.5000f}, {1.1606f, -1.2500f},
    {1.2027f, -1.0000f}, {1.2534f, -0.7500f}, {1.3192f, -0.5000f}, {1.4177f, -0.2500f},
    {2.2168f, 0.0000f}};

/* the same pairs' cohort-normalised scores: the jittered photo's c over the plain cohort */
static const float fnet__imp_resnet_cohort_j[][2] = {
    {0.7232f, -6.0703f}, {0.7265f, -5.8942f}, {0.7544f, -5.6723f}, {0.7739f, -5.4682f},
    {0.7923f, -5.2252f}, {0.8040f, -4.9911f}, {0.8229f, -4.7481f}, {0.8422f, -4.4963f},
    {0.8583f, -4.2475f}, {0.8768f, -3.9984f}, {0.8959f, -3.7491f}, {0.9158f, -3.4997f},
    {0.9367f, -3.2498f}, {0.9580f, -2.9999f}, {0.9800f, -2.7499f}, {1.0034f, -2.5000f},
    {1.0282f, -2.2500f}, {1.0551f, -2.0000f}, {1.0848f, -1.7500f}, {1.1172f, -1.5000f},
    {1.1539f, -1.2500f}, {1.1961f, -1.0000f}, {1.2472f, -0.7500f}, {1.3136f, -0.5000f},
    {1.4136f, -0.2500f}, {2.2201f, 0.0000f}};

static const fnet__impostor_points fnet__cohort_tables[] = {
    {"resnet34-dlib", 0, 1175671.0, (int)(sizeof fnet__imp_resnet_cohort / sizeof fnet__imp_resnet_cohort[0]),
     fnet__imp_resnet_cohort},
    {"resnet34-dlib", FNET_ENROLL_JITTER, FNET__IMP_J_PAIRS,
     (int)(sizeof fnet__imp_resnet_cohort_j / sizeof fnet__imp_resnet_cohort_j[0]), fnet__imp_resnet_cohort_j},
};

/* The shipped table of `network` for galleries of `jitter` among list[0..count). */
static fnet_result fnet__shipped_table(const fnet__impostor_points *list, size_t count, const char *network,
                                       int jitter, fnet_impostor_table *out) {
    size_t k;
    int i;
    if (!network || !out) return FNET_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    if (!fnet__valid_network(network)) return FNET_ERR_NOT_FOUND;
    for (k = 0; k < count; k++) {
        const fnet__impostor_points *s = &list[k];
        if (strcmp(network, s->network) != 0 || s->jitter != jitter) continue;
        memcpy(out->network, network, strlen(network) + 1);
        out->n = s->n;
        out->pairs = s->pairs;
        for (i = 0; i < s->n; i++) {
            out->distance[i] = s->pt[i][0];
            out->log10_rate[i] = s->pt[i][1];
        }
        return FNET_OK;
    }
    return FNET_ERR_NOT_FOUND;
}

FNET_API fnet_result fnet_network_impostor_table_jitter(const char *network, int jitter,
                                                        fnet_impostor_table *out) {
    return fnet__shipped_table(fnet__impostor_tables, sizeof fnet__impostor_tables / sizeof fnet__impostor_tables[0],
                               network, jitter, out);
}
FNET_API fnet_result fnet_network_impostor_table(const char *network, fnet_impostor_table *out) {
    return fnet_network_impostor_table_jitter(network, 0, out);
}

FNET_API fnet_result fnet_network_cohort_table_jitter(const char *network, int jitter,
                                                      fnet_impostor_table *out) {
    return fnet__shipped_table(fnet__cohort_tables, sizeof fnet__cohort_tables / sizeof fnet__cohort_tables[0],
                               network, jitter, out);
}
FNET_API fnet_result fnet_network_cohort_table(const char *network, fnet_impostor_table *out) {
    return fnet_network_cohort_table_jitter(network, 0, out);
}

static int fnet__float_cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The first point of the fit of the lower tail: a decade above point 0 (or the last point). */
static int fnet__tail_point(const fnet_impostor_table *t) {
    int i;
    for (i = 1; i < t->n - 1; i++)
        if (t->log10_rate[i] >= t->log10_rate[0] + 1.0f && t->distance[i] > t->distance[0]) return i;
    return t->n - 1;
}

/* The distance at which t reaches log10 rate y (the inverse of fnet_impostor_rate). */
static double fnet__impostor_inverse(const fnet_impostor_table *t, double y) {
    int i;
    if (y <= t->log10_rate[0]) {
        int k = fnet__tail_point(t);
        return t->distance[0] - (t->log10_rate[0] - y) * ((double)t->distance[k] - t->distance[0]) /
                                    ((double)t->log10_rate[k] - t->log10_rate[0]);
    }
    if (y >= t->log10_rate[t->n - 1]) return t->distance[t->n - 1];
    for (i = 0; t->log10_rate[i + 1] < y; i++) {}
    return t->distance[i] + (y - t->log10_rate[i]) * ((double)t->distance[i + 1] - t->distance[i]) /
                                ((double)t->log10_rate[i + 1] - t->log10_rate[i]);
}

/* Replaces the points of t below log10 rate y0 by tail's, shifted in distance to meet t at y0
   (the deepest of them dropped when they would not fit). */
static void fnet__impostor_graft(fnet_impostor_table *t, const fnet_impostor_table *tail, double y0) {
    fnet_impostor_table m = *t;
    double shift = fnet__impostor_inverse(t, y0) - fnet__impostor_inverse(tail, y0);
    int i, k = 0, first = 0, below = 0, skip;
    while (first < t->n && t->log10_rate[first] < y0) first++; /* measured points kept: first.. */
    while (below < tail->n && tail->log10_rate[below] < y0 - 1e-3) below++;
    skip = below - (FNET_IMPOSTOR_TABLE_MAX - (t->n - first));
    for (i = skip > 0 ? skip : 0; i < below; i++, k++) {
        double d = tail->distance[i] + shift;
        m.distance[k] = (float)(d > 0.0 ? d : 0.0);
        m.log10_rate[k] = tail->log10_rate[i];
    }
    for (i = first; i < t->n; i++, k++) {
        m.distance[k] = t->distance[i];
        m.log10_rate[k] = t->log10_rate[i];
    }
    m.n = k;
    for (i = k - 2; i >= 0; i--) /* the shifted tail never above the measured distances */
        if (m.distance[i] > m.distance[i + 1]) m.distance[i] = m.distance[i + 1];
    if (fnet_impostor_table_check(&m) == FNET_OK) *t = m;
}

FNET_API fnet_result fnet_impostor_table_build(const char *network, float *distances, size_t n,
                                               const fnet_impostor_table *tail,
                                               fnet_impostor_table *out) {
    double span, step;
    int j, steps, m = 0;
    size_t last = (size_t)-1;
    fnet_result r = FNET_OK;
    if (!out) return FNET_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    if (!fnet__valid_network(network) || !distances || n < 2 || (double)n > 1099511627776.0 /* 2^40; size_t may be 32 bits */) return FNET_ERR_INVALID_ARGUMENT;
    if (tail && ((r = fnet_impostor_table_check(tail)) != FNET_OK || strcmp(tail->network, network) != 0))
        return r != FNET_OK ? r : FNET_ERR_MISMATCH;
    if ((r = fnet_check_finite(distances, n)) != FNET_OK) return r;
    for (j = 0; (size_t)j < n; j++)
        if (distances[j] < 0.0f) return FNET_ERR_INVALID_ARGUMENT;
    qsort(distances, n, sizeof(float), fnet__float_cmp);
    /* rates 10^(-j step) for j = steps..0: quarter decades, wider when they would not fit */
    span = log10((double)n);
    step = 0.25;
    if (span / step > FNET_IMPOSTOR_TABLE_MAX - 1) step = span / (FNET_IMPOSTOR_TABLE_MAX - 1);
    steps = (int)floor(span / step + 1e-9);
    for (j = steps; j >= 0; j--) {
        /* the smallest order statistic whose empirical rate reaches 10^(-j step) */
        double want = pow(10.0, -j * step) * (double)n;
        size_t idx = want <= 1.0 ? 0 : (size_t)ceil(want - 1e-9) - 1;
        if (idx >= n) idx = n - 1;
        if (last != (size_t)-1 && idx <= last) continue;
        out->distance[m] = distances[idx];
        out->log10_rate[m] = (float)log10((double)(idx + 1) / (double)n);
        last = idx;
        m++;
    }
    if (m < 2) return FNET_ERR_INVALID_ARGUMENT;
    memcpy(out->network, network, strlen(network) + 1);
    out->n = m;
    out->pairs = (double)n;
    if ((r = fnet_impostor_table_check(out)) != FNET_OK) return r;
    /* the graft point rests on 100 distances (the median for fewer than 200): a quantile of
       100 is within ~10% in rate, one of 10 within ~30% */
    if (tail) fnet__impostor_graft(out, tail, log10(fmin(100.0 / (double)n, 0.5)));
    return FNET_OK;
}

FNET_API double fnet_impostor_rate(const fnet_impostor_table *t, float distance) {
    int i;
    double y;
    if (!t || fnet_impostor_table_check(t) != FNET_OK || !(distance == distance)) return 0.0;
    if (distance >= t->distance[t->n - 1]) return pow(10.0, t->log10_rate[t->n - 1]);
    if (distance < t->distance[0]) {
        int k = fnet__tail_point(t);
        double dd = (double)t->distance[k] - t->distance[0];
        if (!(dd > 0.0)) return 0.0;
        y = t->log10_rate[0] - (t->distance[0] - (double)distance) * (t->log10_rate[k] - t->log10_rate[0]) / dd;
        return pow(10.0, y);
    }
    /* the last point at or below distance (ties: the highest rate), then the segment above */
    for (i = t->n - 1; i > 0 && t->distance[i] > distance; i--) {}
    if (t->distance[i + 1] <= t->distance[i]) return pow(10.0, t->log10_rate[i]);
    y = t->log10_rate[i] + ((double)distance - t->distance[i]) * (t->log10_rate[i + 1] - t->log10_rate[i]) /
                               ((double)t->distance[i + 1] - t->distance[i]);
    return pow(10.0, y);
}

FNET_API fnet_result fnet_far_threshold(const fnet_impostor_table *t, double far_rate,
                                        double comparisons, float *threshold) {
    double y, d;
    fnet_result r;
    if (threshold) *threshold = 0.0f;
    if (!t || !threshold || !(far_rate > 0.0) || !(far_rate < 1.0) || !(comparisons >= 1.0) || comparisons > 1e15)
        return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet_impostor_table_check(t)) != FNET_OK) return r;
    y = log10(-expm1(log1p(-far_rate) / comparisons)); /* log10 p, p = 1 - (1 - far_rate)^(1/N) */
    d = fnet__impostor_inverse(t, y);
    *threshold = d > 1e-6 ? (float)d : 1e-6f; /* a threshold is > 0 */
    return FNET_OK;
}

FNET_API fnet_result fnet_gallery_far_threshold(const fnet_gallery *g,
                                                const fnet_impostor_table *t, double far_rate,
                                                float *threshold) {
    fnet_impostor_table own;
    fnet_result r;
    if (threshold) *threshold = 0.0f;
    if (!g || !threshold) return FNET_ERR_INVALID_ARGUMENT;
    if (!t) {
        if ((r = fnet_network_impostor_table_jitter(g->network, g->jitter, &own)) != FNET_OK) return r;
        t = &own;
    } else if (strncmp(t->network, g->network, sizeof t->network) != 0) {
        return FNET_ERR_MISMATCH;
    }
    return fnet_far_threshold(t, far_rate, g->n_emb > 0 ? (double)g->n_emb : 1.0, threshold);
}

/* ---- clustering: k-means with k-means++ seeding ---- */

/* Bump-allocates 64-byte aligned pieces; sizes add up in the workspace queries below. */
static size_t fnet__align64(size_t n) { return (n + 63u) & ~(size_t)63u; }

FNET_API size_t fnet_kmeans_workspace_size(int n, int dim, int k) {
    size_t kd, s = 64;
    if (n <= 0 || dim <= 0 || k <= 0 || k > n) return 0;
    if (!fnet__mul_ok((size_t)k, (size_t)dim, &kd) || kd > ((size_t)-1 >> 5)) return 0;
    s += fnet__align64(kd * sizeof(double));       /* per-cluster sums */
    s += fnet__align64(kd * sizeof(float));        /* centroids when the caller wants none */
    s += fnet__align64((size_t)k * sizeof(size_t)); /* per-cluster counts */
    s += fnet__align64((size_t)n * sizeof(double)); /* k-means++ D^2 weights */
    return s;
}

FNET_API fnet_result fnet_kmeans(const float *x, int n, int dim, int k, int max_iter,
                                 unsigned long long seed, void *work, size_t work_size,
                                 int *labels, float *centroids) {
    fnet__arena a;
    void *own = NULL;
    double *sums, *d2;
    float *cent;
    size_t *counts, d = (size_t)dim, need;
    fnet_result r;
    unsigned long long rng = seed;
    int i, c, it;
    if (!labels || k <= 0 || k > n) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__check_vectors(x, n, dim)) != FNET_OK) return r;
    if (max_iter < 0) return FNET_ERR_INVALID_ARGUMENT;
    if (max_iter == 0) max_iter = 100;
    need = fnet_kmeans_workspace_size(n, dim, k);
    if (need == 0) return FNET_ERR_TOO_LARGE;
    if ((r = fnet__arena_init(&a, work, work_size, need, &own)) != FNET_OK) return r;
    sums = (double *)fnet__arena_take(&a, (size_t)k * d * sizeof(double));
    cent = (float *)fnet__arena_take(&a, (size_t)k * d * sizeof(float));
    counts = (size_t *)fnet__arena_take(&a, (size_t)k * sizeof(size_t));
    d2 = (double *)fnet__arena_take(&a, (size_t)n * sizeof(double));
    if (!sums || !cent || !counts || !d2) { FNET_FREE(own); return FNET_ERR_WORKSPACE_TOO_SMALL; }
    if (centroids) cent = centroids;

    /* k-means++: the first centre uniformly, each next one with probability ~ D(x)^2, the
       squared distance to the nearest centre chosen so far */
    i = (int)fnet__rng_below(&rng, (unsigned)n);
    memcpy(cent, x + (size_t)i * d, d * sizeof(float));
    for (i = 0; i < n; i++) d2[i] = fnet_distance_sq(x + (size_t)i * d, cent, dim);
    for (c = 1; c < k; c++) {
        double total = 0.0, u, acc = 0.0;
        int pick = n - 1;
        for (i = 0; i < n; i++) total += d2[i];
        if (total > 0.0) {
            u = fnet__rng_uniform(&rng) * total;
            for (i = 0; i < n; i++) {
                acc += d2[i];
                if (acc > u && d2[i] > 0.0) { pick = i; break; }
            }
            while (d2[pick] <= 0.0 && pick > 0) pick--; /* rounding at the end of the sum */
        } else {
            pick = (int)fnet__rng_below(&rng, (unsigned)n); /* all points coincide */
        }
        memcpy(cent + (size_t)c * d, x + (size_t)pick * d, d * sizeof(float));
        for (i = 0; i < n; i++) {
            double s = fnet_distance_sq(x + (size_t)i * d, cent + (size_t)c * d, dim);
            if (s < d2[i]) d2[i] = s;
        }
    }

    /* Lloyd: assign every point to its nearest centre, move centres to their means */
    for (it = 0; it < max_iter; it++) {
        int changed = 0;
        for (i = 0; i < n; i++) {
            float best = FLT_MAX;
            int bc = 0;
            for (c = 0; c < k; c++) {
                float s = fnet_distance_sq(x + (size_t)i * d, cent + (size_t)c * d, dim);
                if (s < best) { best = s; bc = c; }
            }
            d2[i] = best;
            if (it == 0 || labels[i] != bc) changed = 1;
            labels[i] = bc;
        }
        if (!changed) break;
        memset(sums, 0, (size_t)k * d * sizeof(double));
        memset(counts, 0, (size_t)k * sizeof(size_t));
        for (i = 0; i < n; i++) {
            size_t j;
            double *s = sums + (size_t)labels[i] * d;
            const float *p = x + (size_t)i * d;
            for (j = 0; j < d; j++) s[j] += p[j];
            counts[labels[i]]++;
        }
        for (c = 0; c < k; c++) {
            size_t j;
            if (counts[c] == 0) {
                /* empty cluster: restart it at the point farthest from its centre */
                int farthest = 0;
                for (i = 1; i < n; i++)
                    if (d2[i] > d2[farthest]) farthest = i;
                memcpy(cent + (size_t)c * d, x + (size_t)farthest * d, d * sizeof(float));
                d2[farthest] = 0.0;
                continue;
            }
            for (j = 0; j < d; j++) cent[(size_t)c * d + j] = (float)(sums[(size_t)c * d + j] / (double)counts[c]);
        }
    }
    FNET_FREE(own);
    return FNET_OK;
}

/* ---- clustering: Chinese whispers ---- */

/* Edges (both directions, plus the self edge) among points closer than threshold. */
static size_t fnet__cw_edges(const float *x, int n, int dim, float thr_sq, int *offsets,
                             int *nbr, size_t cap) {
    size_t e = 0, d = (size_t)dim;
    int i, j;
    for (i = 0; i < n; i++) {
        if (offsets) offsets[i] = (int)e;
        for (j = 0; j < n; j++) {
            if (j != i && !(fnet_distance_sq(x + (size_t)i * d, x + (size_t)j * d, dim) < thr_sq)) continue;
            if (nbr) {
                if (e >= cap) return (size_t)-1;
                nbr[e] = j;
            }
            e++;
        }
    }
    if (offsets) offsets[n] = (int)e;
    return e;
}

static size_t fnet__cw_size(int n, size_t edges) {
    size_t s = 64 + fnet__align64(((size_t)n + 1) * sizeof(int)) + 3 * fnet__align64((size_t)n * sizeof(int));
    size_t eb;
    if (!fnet__mul_ok(edges, sizeof(int), &eb) || eb > ((size_t)-1 >> 2)) return 0;
    return s + fnet__align64(eb);
}

FNET_API size_t fnet_chinese_whispers_workspace_size(const float *x, int n, int dim,
                                                     float threshold) {
    size_t e;
    if (!x || n <= 0 || dim <= 0 || !(threshold > 0.0f) || threshold > 1e18f) return 0;
    if ((size_t)n > (size_t)INT_MAX / (size_t)n) return 0; /* edges must fit an int */
    e = fnet__cw_edges(x, n, dim, threshold * threshold, NULL, NULL, 0);
    return fnet__cw_size(n, e);
}

FNET_API fnet_result fnet_chinese_whispers(const float *x, int n, int dim, float threshold,
                                           int iterations, unsigned long long seed, void *work,
                                           size_t work_size, int *labels, int *n_clusters) {
    fnet__arena a;
    void *own = NULL;
    int *offsets, *nbr, *count, *touched, *remap;
    size_t need, cap, e;
    unsigned long long rng = seed, it, total_it;
    fnet_result r;
    int i, k = 0;
    if (n_clusters) *n_clusters = 0;
    if (!labels || !n_clusters || iterations < 0 || !(threshold > 0.0f) || threshold > 1e18f)
        return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__check_vectors(x, n, dim)) != FNET_OK) return r;
    if ((size_t)n > (size_t)INT_MAX / (size_t)n) return FNET_ERR_TOO_LARGE;
    if (iterations == 0) iterations = 100;
    if (work) {
        need = work_size;
    } else {
        need = fnet_chinese_whispers_workspace_size(x, n, dim, threshold);
        if (need == 0) return FNET_ERR_TOO_LARGE;
    }
    if ((r = fnet__arena_init(&a, work, work_size, need, &own)) != FNET_OK) return r;
    offsets = (int *)fnet__arena_take(&a, ((size_t)n + 1) * sizeof(int));
    count = (int *)fnet__arena_take(&a, (size_t)n * sizeof(int));
    touched = (int *)fnet__arena_take(&a, (size_t)n * sizeof(int));
    remap = (int *)fnet__arena_take(&a, (size_t)n * sizeof(int));
    if (!offsets || !count || !touched || !remap) { FNET_FREE(own); return FNET_ERR_WORKSPACE_TOO_SMALL; }
    cap = (a.size - ((a.used + 63u) & ~(size_t)63u)) / sizeof(int);
    if (a.used > a.size) cap = 0;
    nbr = (int *)fnet__arena_take(&a, cap * sizeof(int));
    if (!nbr && cap) { FNET_FREE(own); return FNET_ERR_WORKSPACE_TOO_SMALL; }
    e = fnet__cw_edges(x, n, dim, threshold * threshold, offsets, nbr, cap);
    if (e == (size_t)-1) { FNET_FREE(own); return FNET_ERR_WORKSPACE_TOO_SMALL; }

    for (i = 0; i < n; i++) { labels[i] = i; count[i] = 0; }
    /* each step: a random node takes the label most common among its neighbours (ties: the
       smallest label). Edge weights are all 1, as in dlib's face clustering example. */
    total_it = (unsigned long long)iterations * (unsigned long long)n;
    for (it = 0; it < total_it; it++) {
        int node = (int)fnet__rng_below(&rng, (unsigned)n), nt = 0, best = -1, j;
        for (j = offsets[node]; j < offsets[node + 1]; j++) {
            int l = labels[nbr[j]];
            if (count[l]++ == 0) touched[nt++] = l;
        }
        for (j = 0; j < nt; j++) {
            int l = touched[j];
            if (best < 0 || count[l] > count[best] || (count[l] == count[best] && l < best)) best = l;
        }
        for (j = 0; j < nt; j++) count[touched[j]] = 0;
        if (best >= 0) labels[node] = best;
    }
    /* number the clusters 0.. in order of first appearance */
    for (i = 0; i < n; i++) remap[i] = -1;
    for (i = 0; i < n; i++) {
        if (remap[labels[i]] < 0) remap[labels[i]] = k++;
        labels[i] = remap[labels[i]];
    }
    *n_clusters = k;
    FNET_FREE(own);
    return FNET_OK;
}

/* ---- classifiers ---- */

/* Parameters, one float array:
     softmax  W[C][D], b[C]                      z = W x + b
     MLP      W1[H][D], b1[H], W2[C][H], b2[C]    h = relu(W1 x + b1), z = W2 h + b2
   p = softmax(z); training minimises the mean cross-entropy -log p[label] (+ weight decay
   on the W's) with minibatch SGD (momentum 0.9) or Adam (beta 0.9/0.999, eps 1e-8). */
struct fnet_classifier {
    fnet_classifier_kind kind;
    char network[FNET_NETWORK_ID_MAX + 1];
    int dim, n_classes, hidden, k;
    size_t n_params;
    float *params;
    float *mean, *inv_std; /* softmax/MLP: x is standardised per dimension first (from the
                              training set), so that weakly spread embeddings train as well */
    int n_samples;  /* k-NN: the training set */
    float *samples; /* n_samples * dim */
    int *labels;
    char **names;   /* n_classes strings (malloc'd), NULL entries mean "" */
};

#define FNET__CLF_MAX_HIDDEN 4096
#define FNET__CLF_MAX_K 64

static size_t fnet__clf_param_count(fnet_classifier_kind kind, int dim, int c, int h) {
    if (kind == FNET_CLASSIFIER_SOFTMAX) return (size_t)c * (size_t)dim + (size_t)c;
    if (kind == FNET_CLASSIFIER_MLP) return (size_t)h * (size_t)dim + (size_t)h + (size_t)c * (size_t)h + (size_t)c;
    return 0;
}

FNET_API void fnet_classifier_free(fnet_classifier *c) {
    int i;
    if (!c) return;
    if (c->names) {
        for (i = 0; i < c->n_classes; i++) FNET_FREE(c->names[i]);
        FNET_FREE(c->names);
    }
    FNET_FREE(c->params);
    FNET_FREE(c->mean);
    FNET_FREE(c->samples);
    FNET_FREE(c->labels);
    FNET_FREE(c);
}

static fnet_result fnet__clf_new(fnet_classifier_kind kind, const char *network, int dim, int nc,
                                 int hidden, int k, int n_samples, fnet_classifier **out) {
    fnet_classifier *c = (fnet_classifier *)FNET_MALLOC(sizeof(fnet_classifier));
    size_t bytes;
    int i;
    *out = NULL;
    if (!c) return FNET_ERR_OUT_OF_MEMORY;
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    memcpy(c->network, network, strlen(network) + 1);
    c->dim = dim;
    c->n_classes = nc;
    c->hidden = hidden;
    c->k = k;
    c->n_params = fnet__clf_param_count(kind, dim, nc, hidden);
    c->names = (char **)FNET_MALLOC((size_t)nc * sizeof(char *));
    if (!c->names) { FNET_FREE(c); return FNET_ERR_OUT_OF_MEMORY; }
    memset(c->names, 0, (size_t)nc * sizeof(char *));
    if (c->n_params) {
        if (!fnet__mul_ok(c->n_params, sizeof(float), &bytes)) { fnet_classifier_free(c); return FNET_ERR_TOO_LARGE; }
        c->params = (float *)FNET_MALLOC(bytes);
        if (!c->params) { fnet_classifier_free(c); return FNET_ERR_OUT_OF_MEMORY; }
        memset(c->params, 0, bytes);
        c->mean = (float *)FNET_MALLOC(2 * (size_t)dim * sizeof(float));
        if (!c->mean) { fnet_classifier_free(c); return FNET_ERR_OUT_OF_MEMORY; }
        c->inv_std = c->mean + dim;
        for (i = 0; i < dim; i++) { c->mean[i] = 0.0f; c->inv_std[i] = 1.0f; }
    }
    if (kind == FNET_CLASSIFIER_KNN) {
        c->n_samples = n_samples;
        c->samples = (float *)FNET_MALLOC((size_t)n_samples * (size_t)dim * sizeof(float));
        c->labels = (int *)FNET_MALLOC((size_t)n_samples * sizeof(int));
        if (!c->samples || !c->labels) { fnet_classifier_free(c); return FNET_ERR_OUT_OF_MEMORY; }
    }
    *out = c;
    return FNET_OK;
}

/* Forward pass of softmax/MLP for one sample: h[H] (MLP), p[C] probabilities. */
/* x[dim] = (x_raw - mean) * inv_std: the input the softmax/MLP layers see. */
static void fnet__clf_standardise(const fnet_classifier *c, const float *x_raw, float *x) {
    int i;
    for (i = 0; i < c->dim; i++) x[i] = (x_raw[i] - c->mean[i]) * c->inv_std[i];
}

/* x: a standardised input (fnet__clf_standardise). */
static void fnet__clf_forward(const fnet_classifier *c, const float *x, float *h, float *p) {
    const float *w = c->params;
    const float *in = x;
    int D = c->dim, C = c->n_classes, H = c->hidden, i, j, in_dim = D;
    double mx = -1e300, sum = 0.0;
    if (c->kind == FNET_CLASSIFIER_MLP) {
        const float *b1 = w + (size_t)H * D;
        for (j = 0; j < H; j++) {
            double s = b1[j];
            const float *row = w + (size_t)j * D;
            for (i = 0; i < D; i++) s += (double)row[i] * x[i];
            h[j] = s > 0.0 ? (float)s : 0.0f;
        }
        w = b1 + H;
        in = h;
        in_dim = H;
    }
    for (j = 0; j < C; j++) {
        double s = w[(size_t)C * in_dim + j];
        const float *row = w + (size_t)j * in_dim;
        for (i = 0; i < in_dim; i++) s += (double)row[i] * in[i];
        p[j] = (float)s;
        if (s > mx) mx = s;
    }
    for (j = 0; j < C; j++) {
        double e = exp((double)p[j] - mx);
        p[j] = (float)e;
        sum += e;
    }
    for (j = 0; j < C; j++) p[j] = (float)(p[j] / sum);
}

/* Adds the cross-entropy gradient of one (standardised) sample to g (same layout as params). */
static void fnet__clf_backward(const fnet_classifier *c, const float *x, const float *h,
                               float *p, int label, float *g, float *dh) {
    int D = c->dim, C = c->n_classes, H = c->hidden, i, j, in_dim = D;
    const float *in = x, *w = c->params;
    float *gw = g;
    if (c->kind == FNET_CLASSIFIER_MLP) {
        w = c->params + (size_t)H * D + H;
        gw = g + (size_t)H * D + H;
        in = h;
        in_dim = H;
    }
    p[label] -= 1.0f; /* dL/dz = p - onehot */
    for (j = 0; j < C; j++) {
        float dz = p[j];
        float *grow = gw + (size_t)j * in_dim;
        if (dz == 0.0f) continue;
        for (i = 0; i < in_dim; i++) grow[i] += dz * in[i];
        gw[(size_t)C * in_dim + j] += dz;
    }
    if (c->kind == FNET_CLASSIFIER_MLP) {
        for (i = 0; i < H; i++) {
            float s = 0.0f;
            if (h[i] > 0.0f)
                for (j = 0; j < C; j++) s += w[(size_t)j * H + i] * p[j];
            dh[i] = s;
        }
        for (j = 0; j < H; j++) {
            float *grow = g + (size_t)j * D;
            if (dh[j] == 0.0f) continue;
            for (i = 0; i < D; i++) grow[i] += dh[j] * x[i];
            g[(size_t)H * D + j] += dh[j];
        }
    }
}

/* 1 for the entries of params that are weights (decayed), 0 for biases. */
static int fnet__clf_is_weight(const fnet_classifier *c, size_t idx) {
    size_t D = (size_t)c->dim, C = (size_t)c->n_classes, H = (size_t)c->hidden;
    if (c->kind == FNET_CLASSIFIER_SOFTMAX) return idx < C * D;
    if (idx < H * D) return 1;
    idx -= H * D + H;
    return idx < C * H; /* (wrapped for b1: a huge value, so 0) */
}

static fnet_result fnet__clf_train_nn(fnet_classifier *c, const float *x, const int *labels, int n,
                                      const fnet_train_opts *o) {
    int epochs = o->epochs ? o->epochs : 100, bs = o->batch_size ? o->batch_size : 16;
    int sgd = o->optimizer == FNET_OPTIMIZER_SGD, D = c->dim, C = c->n_classes, H = c->hidden;
    float lr = o->learning_rate > 0.0f ? o->learning_rate : (sgd ? 0.1f : 0.01f);
    float wd = o->weight_decay > 0.0f ? o->weight_decay : 0.0f;
    unsigned long long rng = o->seed ^ 0x5EEDC1A55ULL;
    size_t P = c->n_params, i;
    float *g, *m, *v, *h, *p, *dh;
    int *order, e, s, t = 0;
    double b1t = 1.0, b2t = 1.0;
    if (epochs < 0 || bs < 0) return FNET_ERR_INVALID_ARGUMENT;
    g = (float *)FNET_MALLOC(3 * P * sizeof(float) + ((size_t)2 * H + C + 1) * sizeof(float) + (size_t)n * sizeof(int));
    if (!g) return FNET_ERR_OUT_OF_MEMORY;
    m = g + P;
    v = m + P;
    h = v + P;
    dh = h + H;
    p = dh + H;
    order = (int *)(void *)(p + C + 1);
    memset(m, 0, 2 * P * sizeof(float));
    /* per-dimension mean and 1/std of the training set (std floored at 1e-6) */
    for (e = 0; e < D; e++) {
        double mu = 0.0, var = 0.0;
        for (s = 0; s < n; s++) mu += x[(size_t)s * D + e];
        mu /= n;
        for (s = 0; s < n; s++) var += (x[(size_t)s * D + e] - mu) * (x[(size_t)s * D + e] - mu);
        var /= n;
        c->mean[e] = (float)mu;
        c->inv_std[e] = (float)(1.0 / (var > 1e-12 ? sqrt(var) : 1e-6));
    }
    /* He initialisation for the ReLU layer, Glorot-like for the output layer; biases 0 */
    {
        float *w = c->params;
        if (c->kind == FNET_CLASSIFIER_MLP) {
            double sd = sqrt(2.0 / D);
            for (i = 0; i < (size_t)H * D; i++) w[i] = (float)(sd * fnet__rng_normal(&rng));
            w += (size_t)H * D + H;
            sd = sqrt(1.0 / H);
            for (i = 0; i < (size_t)C * H; i++) w[i] = (float)(sd * fnet__rng_normal(&rng));
        } else {
            double sd = sqrt(1.0 / D);
            for (i = 0; i < (size_t)C * D; i++) w[i] = (float)(sd * fnet__rng_normal(&rng));
        }
    }
    for (s = 0; s < n; s++) order[s] = s;
    for (e = 0; e < epochs; e++) {
        for (s = n - 1; s > 0; s--) { /* Fisher-Yates shuffle */
            int j = (int)fnet__rng_below(&rng, (unsigned)s + 1u), tmp = order[s];
            order[s] = order[j];
            order[j] = tmp;
        }
        for (s = 0; s < n; s += bs) {
            int end = FNET__MIN(n, s + bs), q;
            float inv = 1.0f / (float)(end - s);
            memset(g, 0, P * sizeof(float));
            for (q = s; q < end; q++) {
                float xi[FNET_GALLERY_MAX_DIM];
                fnet__clf_standardise(c, x + (size_t)order[q] * D, xi);
                fnet__clf_forward(c, xi, h, p);
                fnet__clf_backward(c, xi, h, p, labels[order[q]], g, dh);
            }
            t++;
            b1t *= 0.9;
            b2t *= 0.999;
            for (i = 0; i < P; i++) {
                float gi = g[i] * inv;
                if (wd > 0.0f && fnet__clf_is_weight(c, i)) gi += wd * c->params[i];
                if (sgd) {
                    m[i] = 0.9f * m[i] + gi;
                    c->params[i] -= lr * m[i];
                } else {
                    double mh, vh;
                    m[i] = 0.9f * m[i] + 0.1f * gi;
                    v[i] = 0.999f * v[i] + 0.001f * gi * gi;
                    mh = m[i] / (1.0 - b1t);
                    vh = v[i] / (1.0 - b2t);
                    c->params[i] -= (float)(lr * mh / (sqrt(vh) + 1e-8));
                }
            }
        }
    }
    (void)t;
    FNET_FREE(g);
    if (fnet_check_finite(c->params, P) != FNET_OK) return FNET_ERR_NOT_FINITE; /* diverged */
    return FNET_OK;
}

FNET_API fnet_result fnet_classifier_train(fnet_classifier_kind kind, const char *network,
                                           const float *x, const int *labels, int n, int dim,
                                           int n_classes, const fnet_train_opts *opts,
                                           fnet_classifier **out) {
    fnet_train_opts o;
    fnet_classifier *c;
    fnet_result r;
    int i, hidden = 0, k = 0;
    if (!out) return FNET_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (kind != FNET_CLASSIFIER_SOFTMAX && kind != FNET_CLASSIFIER_MLP && kind != FNET_CLASSIFIER_KNN)
        return FNET_ERR_INVALID_ARGUMENT;
    if (!fnet__valid_network(network) || !labels || dim > FNET_GALLERY_MAX_DIM || n_classes < 1 ||
        n_classes > FNET_CLASSIFIER_MAX_CLASSES || n > FNET_GALLERY_MAX_EMBEDDINGS)
        return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__check_vectors(x, n, dim)) != FNET_OK) return r;
    for (i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes) return FNET_ERR_INVALID_ARGUMENT;
    if (opts) o = *opts;
    else memset(&o, 0, sizeof(o));
    if (kind == FNET_CLASSIFIER_MLP) {
        hidden = o.hidden ? o.hidden : 64;
        if (hidden < 1 || hidden > FNET__CLF_MAX_HIDDEN) return FNET_ERR_INVALID_ARGUMENT;
    }
    if (kind == FNET_CLASSIFIER_KNN) {
        k = o.k ? o.k : 3;
        if (k < 1 || k > FNET__CLF_MAX_K) return FNET_ERR_INVALID_ARGUMENT;
        if (k > n) k = n;
    }
    if (!(o.learning_rate == o.learning_rate) || !(o.weight_decay == o.weight_decay) ||
        o.learning_rate > 1e6f || o.weight_decay > 1e6f)
        return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__clf_new(kind, network, dim, n_classes, hidden, k, n, &c)) != FNET_OK) return r;
    if (kind == FNET_CLASSIFIER_KNN) {
        memcpy(c->samples, x, (size_t)n * (size_t)dim * sizeof(float));
        memcpy(c->labels, labels, (size_t)n * sizeof(int));
    } else if ((r = fnet__clf_train_nn(c, x, labels, n, &o)) != FNET_OK) {
        fnet_classifier_free(c);
        return r;
    }
    *out = c;
    return FNET_OK;
}

FNET_API fnet_result fnet_classifier_predict(const fnet_classifier *c, const float *x, int dim,
                                             int *label, float *scores) {
    fnet_result r;
    int j, best = 0;
    if (!c || !x || !label) return FNET_ERR_INVALID_ARGUMENT;
    if (dim != c->dim) return FNET_ERR_MISMATCH;
    if ((r = fnet_check_finite(x, (size_t)dim)) != FNET_OK) return r;
    if (c->kind == FNET_CLASSIFIER_KNN) {
        /* the k nearest training samples (sorted), then a vote; a tie goes to the class
           whose member is nearest */
        float nd[FNET__CLF_MAX_K];
        int ni[FNET__CLF_MAX_K], nn = 0, s, bv = -1;
        for (s = 0; s < c->n_samples; s++) {
            float dd = fnet_distance_sq(x, c->samples + (size_t)s * c->dim, dim);
            int q;
            if (nn == c->k && !(dd < nd[nn - 1])) continue;
            q = nn < c->k ? nn++ : c->k - 1;
            while (q > 0 && dd < nd[q - 1]) { nd[q] = nd[q - 1]; ni[q] = ni[q - 1]; q--; }
            nd[q] = dd;
            ni[q] = s;
        }
        for (s = 0; s < nn; s++) {
            int cl = c->labels[ni[s]], votes = 0, q;
            for (q = 0; q < nn; q++) votes += c->labels[ni[q]] == cl;
            if (votes > bv) { bv = votes; best = cl; }
        }
        if (scores) {
            for (j = 0; j < c->n_classes; j++) scores[j] = 0.0f;
            for (s = 0; s < nn; s++) scores[c->labels[ni[s]]] += 1.0f / (float)nn;
        }
    } else {
        float stack[512], *buf = stack;
        size_t need = (size_t)c->hidden + (size_t)c->n_classes;
        if (need > 512) {
            buf = (float *)FNET_MALLOC(need * sizeof(float));
            if (!buf) return FNET_ERR_OUT_OF_MEMORY;
        }
        float xs[FNET_GALLERY_MAX_DIM];
        fnet__clf_standardise(c, x, xs);
        fnet__clf_forward(c, xs, buf, buf + c->hidden);
        for (j = 1; j < c->n_classes; j++)
            if (buf[c->hidden + j] > buf[c->hidden + best]) best = j;
        if (scores) memcpy(scores, buf + c->hidden, (size_t)c->n_classes * sizeof(float));
        if (buf != stack) FNET_FREE(buf);
    }
    *label = best;
    return FNET_OK;
}

FNET_API fnet_classifier_kind fnet_classifier_get_kind(const fnet_classifier *c) {
    return c ? c->kind : (fnet_classifier_kind)0;
}
FNET_API int fnet_classifier_classes(const fnet_classifier *c) { return c ? c->n_classes : 0; }
FNET_API int fnet_classifier_dim(const fnet_classifier *c) { return c ? c->dim : 0; }
FNET_API const char *fnet_classifier_network(const fnet_classifier *c) { return c ? c->network : NULL; }
FNET_API fnet_result fnet_classifier_set_class_name(fnet_classifier *c, int i, const char *name) {
    char *copy;
    size_t len;
    if (!c || i < 0 || i >= c->n_classes || !name) return FNET_ERR_INVALID_ARGUMENT;
    len = strlen(name);
    if (len > FNET_GALLERY_MAX_NAME) return FNET_ERR_INVALID_ARGUMENT;
    copy = (char *)FNET_MALLOC(len + 1);
    if (!copy) return FNET_ERR_OUT_OF_MEMORY;
    memcpy(copy, name, len + 1);
    FNET_FREE(c->names[i]);
    c->names[i] = copy;
    return FNET_OK;
}
FNET_API const char *fnet_classifier_class_name(const fnet_classifier *c, int i) {
    if (!c || i < 0 || i >= c->n_classes) return NULL;
    return c->names[i] ? c->names[i] : "";
}

/* Classifier file, version 1, little-endian:
     0 "FNETCLSF" | 8 u32 version | 12 u32 0x01020304 | 16 u32 kind | 20 u32 dim |
     24 u32 classes | 28 u32 CRC-32 of the rest of the file | 32 u64 file size |
     40 network[32] | 72 u32 hidden | 76 u32 k | 80 u32 samples (k-NN) | 84 u32 parameters |
     88 class names (u32 length, bytes, zero padding to 4) | softmax/MLP: f32 mean[dim],
     f32 inv_std[dim] | f32 parameters | k-NN: f32 samples[samples*dim], u32 labels[samples] */
#define FNET__CLF_HEADER 88u

FNET_API fnet_result fnet_classifier_save_memory(const fnet_classifier *c, void *buf, size_t cap,
                                                 size_t *size) {
    unsigned long long total = FNET__CLF_HEADER;
    unsigned char *p;
    size_t at, k, nf;
    int i;
    if (!c || !size) return FNET_ERR_INVALID_ARGUMENT;
    for (i = 0; i < c->n_classes; i++)
        total += 4u + ((strlen(fnet_classifier_class_name(c, i)) + 3u) & ~(size_t)3u);
    total += 4ull * c->n_params;
    if (c->mean) total += 8ull * (unsigned long long)c->dim;
    total += 4ull * (unsigned long long)c->n_samples * ((unsigned long long)c->dim + 1u);
    if (total > (unsigned long long)(size_t)-1) return FNET_ERR_TOO_LARGE;
    *size = (size_t)total;
    if (!buf) return FNET_OK;
    if (cap < (size_t)total) return FNET_ERR_WORKSPACE_TOO_SMALL;
    p = (unsigned char *)buf;
    memset(p, 0, (size_t)total);
    fnet__file_begin(p, "FNETCLSF", FNET_CLASSIFIER_VERSION, total, c->network);
    fnet__wr_u32(p + 16, (unsigned long)c->kind);
    fnet__wr_u32(p + 20, (unsigned long)c->dim);
    fnet__wr_u32(p + 24, (unsigned long)c->n_classes);
    fnet__wr_u32(p + 72, (unsigned long)c->hidden);
    fnet__wr_u32(p + 76, (unsigned long)c->k);
    fnet__wr_u32(p + 80, (unsigned long)c->n_samples);
    fnet__wr_u32(p + 84, (unsigned long)c->n_params);
    at = FNET__CLF_HEADER;
    for (i = 0; i < c->n_classes; i++) {
        const char *nm = fnet_classifier_class_name(c, i);
        size_t len = strlen(nm);
        fnet__wr_u32(p + at, (unsigned long)len);
        memcpy(p + at + 4, nm, len);
        at += 4u + ((len + 3u) & ~(size_t)3u);
    }
    for (k = 0; c->mean && k < 2 * (size_t)c->dim; k++, at += 4) fnet__wr_f32(p + at, c->mean[k]);
    for (k = 0; k < c->n_params; k++, at += 4) fnet__wr_f32(p + at, c->params[k]);
    nf = (size_t)c->n_samples * (size_t)c->dim;
    for (k = 0; k < nf; k++, at += 4) fnet__wr_f32(p + at, c->samples[k]);
    for (k = 0; k < (size_t)c->n_samples; k++, at += 4) fnet__wr_u32(p + at, (unsigned long)c->labels[k]);
    fnet__file_end(p, (size_t)total);
    return FNET_OK;
}

FNET_API fnet_result fnet_classifier_load_memory(const void *data, size_t size,
                                                 fnet_classifier **out) {
    const unsigned char *b = (const unsigned char *)data;
    unsigned long kind, dim, nc, hidden, k, ns, np, i, nstd;
    unsigned long long need;
    char network[32];
    fnet_classifier *c;
    fnet_result r;
    size_t at;
    if (!out) return FNET_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!data) return FNET_ERR_INVALID_ARGUMENT;
    r = fnet__file_check(b, size, "FNETCLSF", FNET_CLASSIFIER_VERSION, FNET__CLF_HEADER, network);
    if (r != FNET_OK) return r;
    kind = fnet__rd_u32(b + 16); dim = fnet__rd_u32(b + 20); nc = fnet__rd_u32(b + 24);
    hidden = fnet__rd_u32(b + 72); k = fnet__rd_u32(b + 76); ns = fnet__rd_u32(b + 80);
    np = fnet__rd_u32(b + 84);
    if (kind < 1 || kind > 3 || dim < 1 || dim > FNET_GALLERY_MAX_DIM || nc < 1 ||
        nc > FNET_CLASSIFIER_MAX_CLASSES)
        return FNET_ERR_CORRUPT;
    if (kind == FNET_CLASSIFIER_MLP ? (hidden < 1 || hidden > FNET__CLF_MAX_HIDDEN) : hidden != 0)
        return FNET_ERR_CORRUPT;
    if (kind == FNET_CLASSIFIER_KNN ? (k < 1 || k > FNET__CLF_MAX_K || ns < k || ns > FNET_GALLERY_MAX_EMBEDDINGS)
                                    : (k != 0 || ns != 0))
        return FNET_ERR_CORRUPT;
    if ((unsigned long long)np != (unsigned long long)fnet__clf_param_count((fnet_classifier_kind)kind, (int)dim, (int)nc, (int)hidden))
        return FNET_ERR_CORRUPT;
    /* names, then the exact size of the rest */
    at = FNET__CLF_HEADER;
    for (i = 0; i < nc; i++) {
        unsigned long len, q;
        if (size - at < 4) return FNET_ERR_CORRUPT;
        len = fnet__rd_u32(b + at);
        if (len > FNET_GALLERY_MAX_NAME || size - at - 4 < ((len + 3u) & ~3ul)) return FNET_ERR_CORRUPT;
        if (memchr(b + at + 4, 0, len)) return FNET_ERR_CORRUPT;
        for (q = len; q < ((len + 3u) & ~3ul); q++)
            if (b[at + 4 + q]) return FNET_ERR_CORRUPT;
        at += 4u + ((len + 3u) & ~3ul);
    }
    nstd = kind == FNET_CLASSIFIER_KNN ? 0ul : 2ul * dim;
    need = 4ull * np + 4ull * nstd + 4ull * (unsigned long long)ns * (dim + 1ull);
    if (need != (unsigned long long)(size - at)) return FNET_ERR_CORRUPT;
    for (i = 0; i < nstd + np + ns * dim; i++) {
        float v = fnet__rd_f32(b + at + 4 * (size_t)i);
        if (!(v == v) || v > FLT_MAX || v < -FLT_MAX) return FNET_ERR_CORRUPT;
    }
    for (i = 0; i < ns; i++)
        if (fnet__rd_u32(b + at + 4 * ((size_t)nstd + (size_t)np + (size_t)ns * dim + i)) >= nc) return FNET_ERR_CORRUPT;
    if ((r = fnet__clf_new((fnet_classifier_kind)kind, network, (int)dim, (int)nc, (int)hidden, (int)k,
                           (int)ns, &c)) != FNET_OK)
        return r;
    at = FNET__CLF_HEADER;
    for (i = 0; i < nc; i++) {
        unsigned long len = fnet__rd_u32(b + at);
        char tmp[FNET_GALLERY_MAX_NAME + 1];
        memcpy(tmp, b + at + 4, len);
        tmp[len] = 0;
        if (len && (r = fnet_classifier_set_class_name(c, (int)i, tmp)) != FNET_OK) {
            fnet_classifier_free(c);
            return r;
        }
        at += 4u + ((len + 3u) & ~3ul);
    }
    for (i = 0; i < nstd; i++, at += 4) c->mean[i] = fnet__rd_f32(b + at);
    for (i = 0; i < np; i++, at += 4) c->params[i] = fnet__rd_f32(b + at);
    for (i = 0; i < ns * dim; i++, at += 4) c->samples[i] = fnet__rd_f32(b + at);
    for (i = 0; i < ns; i++, at += 4) c->labels[i] = (int)fnet__rd_u32(b + at);
    *out = c;
    return FNET_OK;
}

/* ---- triplet loss (Schroff et al. 2015) ----

   For a triplet (anchor a, positive p of the same person, negative n of another):
       L = max(||a-p||^2 - ||a-n||^2 + alpha, 0)
   and, when L > 0:  dL/da = 2(n - p),  dL/dp = 2(p - a),  dL/dn = 2(a - n).
   The batch loss is the mean over the triplets given. Selection:
   - batch-all: every (a, p, n) with a positive loss (the mean over these equals the mean
     over all valid triplets that still contribute);
   - hard ("batch hard", Hermans et al. 2017): for each anchor its farthest positive and its
     nearest negative;
   - semi-hard (FaceNet sec. 3.2): for each (a, p) the nearest negative that is still farther
     than p (||a-n||^2 > ||a-p||^2, so inside or beyond the margin, never "too hard" for a
     fresh network); when no negative is farther, the farthest negative (as TensorFlow
     Addons' triplet_semihard_loss). */

static void fnet__triplet_emit(fnet_triplet *out, int max_out, int *cnt, int a, int p, int n) {
    if (*cnt < max_out) {
        out[*cnt].anchor = a;
        out[*cnt].positive = p;
        out[*cnt].negative = n;
    }
    if (*cnt < INT_MAX) (*cnt)++;
}

FNET_API fnet_result fnet_triplet_select(const float *emb, const int *labels, int n, int dim,
                                         float alpha, fnet_triplet_mining mining,
                                         fnet_triplet *out, int max_out, int *n_out) {
    fnet_result r;
    size_t d = (size_t)dim;
    int a, p, q, cnt = 0;
    if (n_out) *n_out = 0;
    if (!labels || !n_out || max_out < 0 || (max_out > 0 && !out)) return FNET_ERR_INVALID_ARGUMENT;
    if (!(alpha >= 0.0f) || alpha > 1e6f) return FNET_ERR_INVALID_ARGUMENT;
    if (mining != FNET_TRIPLET_BATCH_ALL && mining != FNET_TRIPLET_HARD && mining != FNET_TRIPLET_SEMI_HARD)
        return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__check_vectors(emb, n, dim)) != FNET_OK) return r;
    for (a = 0; a < n; a++) {
        const float *ea = emb + (size_t)a * d;
        if (mining == FNET_TRIPLET_HARD) {
            int bp = -1, bn = -1;
            float dp = -1.0f, dn = FLT_MAX;
            for (q = 0; q < n; q++) {
                float s;
                if (q == a) continue;
                s = fnet_distance_sq(ea, emb + (size_t)q * d, dim);
                if (labels[q] == labels[a]) { if (s > dp) { dp = s; bp = q; } }
                else if (s < dn) { dn = s; bn = q; }
            }
            if (bp >= 0 && bn >= 0) fnet__triplet_emit(out, max_out, &cnt, a, bp, bn);
            continue;
        }
        for (p = 0; p < n; p++) {
            float dap;
            if (p == a || labels[p] != labels[a]) continue;
            dap = fnet_distance_sq(ea, emb + (size_t)p * d, dim);
            if (mining == FNET_TRIPLET_BATCH_ALL) {
                for (q = 0; q < n; q++) {
                    if (labels[q] == labels[a]) continue;
                    if (dap - fnet_distance_sq(ea, emb + (size_t)q * d, dim) + alpha > 0.0f)
                        fnet__triplet_emit(out, max_out, &cnt, a, p, q);
                }
            } else {
                int semi = -1, farthest = -1;
                float ds = FLT_MAX, df = -1.0f;
                for (q = 0; q < n; q++) {
                    float s;
                    if (labels[q] == labels[a]) continue;
                    s = fnet_distance_sq(ea, emb + (size_t)q * d, dim);
                    if (s > dap && s < ds) { ds = s; semi = q; }
                    if (s > df) { df = s; farthest = q; }
                }
                if (semi >= 0) fnet__triplet_emit(out, max_out, &cnt, a, p, semi);
                else if (farthest >= 0) fnet__triplet_emit(out, max_out, &cnt, a, p, farthest);
            }
        }
    }
    *n_out = cnt;
    return FNET_OK;
}

FNET_API fnet_result fnet_triplet_loss(const float *emb, int n, int dim, const fnet_triplet *t,
                                       int n_t, float alpha, float *loss, float *grad,
                                       int *n_active) {
    fnet_result r;
    size_t d = (size_t)dim, j;
    double sum = 0.0, scale;
    int i, act = 0;
    if (n_active) *n_active = 0;
    if (!loss || n_t < 0 || (n_t > 0 && !t)) return FNET_ERR_INVALID_ARGUMENT;
    if (!(alpha >= 0.0f) || alpha > 1e6f) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__check_vectors(emb, n, dim)) != FNET_OK) return r;
    for (i = 0; i < n_t; i++) {
        if (t[i].anchor < 0 || t[i].anchor >= n || t[i].positive < 0 || t[i].positive >= n ||
            t[i].negative < 0 || t[i].negative >= n)
            return FNET_ERR_INVALID_ARGUMENT;
    }
    if (grad) memset(grad, 0, (size_t)n * d * sizeof(float));
    scale = n_t > 0 ? 1.0 / n_t : 0.0;
    for (i = 0; i < n_t; i++) {
        const float *a = emb + (size_t)t[i].anchor * d, *p = emb + (size_t)t[i].positive * d,
                    *q = emb + (size_t)t[i].negative * d;
        double dap = 0.0, dan = 0.0, l;
        for (j = 0; j < d; j++) {
            double u = (double)a[j] - p[j], v = (double)a[j] - q[j];
            dap += u * u;
            dan += v * v;
        }
        l = dap - dan + alpha;
        if (l <= 0.0) continue;
        act++;
        sum += l;
        if (grad) {
            float *ga = grad + (size_t)t[i].anchor * d, *gp = grad + (size_t)t[i].positive * d,
                  *gn = grad + (size_t)t[i].negative * d;
            for (j = 0; j < d; j++) {
                ga[j] += (float)(2.0 * scale * ((double)q[j] - p[j]));
                gp[j] += (float)(2.0 * scale * ((double)p[j] - a[j]));
                gn[j] += (float)(2.0 * scale * ((double)a[j] - q[j]));
            }
        }
    }
    *loss = (float)(sum * scale);
    if (n_active) *n_active = act;
    return FNET_OK;
}


/* ==== 6. Learning: backpropagation and training =========================================

   Training adjusts a network's tensors to lower a loss L computed on its embeddings. The
   gradient dL/dw of every weight comes from the chain rule applied backwards through the op
   graph (backpropagation, Rumelhart, Hinton & Williams 1986): given dL/dy for an op's output
   y, each op computes dL/dx for its inputs and dL/dw for its tensors, and the ops run in
   reverse order. Here is each op's backward beside its forward (shapes HWC as in section 4;
   dy = dL/dy, and "+=" because an output read by several ops sums their gradients):

   | op       | forward                              | backward
   | CONV     | z = x (*) W + b, y = relu?(z)        | dz = dy * [y > 0] (ReLU only); db = sum_pixels dz;
   |          | as a GEMM: Z (M x Cout) = A W        | dW (K x Cout) = A^T dz; dA (M x K) = dz W^T, then
   |          | (A: M pixels x K = KH*KW*Cin taps)   | every tap of dA is added back to the input pixel it
   |          |                                      | came from ("col2im"; taps on the padding are dropped)
   | DENSE    | y = relu?(x W + b), x flat (HWC)     | a CONV over a 1x1 image: dW = x^T dz, dx = dz W^T
   | MAXPOOL  | y = max over the window (pads = 0)   | dy goes to the window's first maximum in scan order
   |          |                                      | (a padding zero that wins takes it: nothing flows)
   | AVGPOOL  | y = sum(window) / (KH*KW)            | dx += dy / (KH*KW) for every real pixel of the window
   | L2POOL   | y = sqrt(sum window x^2)             | dx += dy * x / y  (0 where y = 0)
   | LRN      | y_c = x_c D_c^-b, D_c = k + a S_c,   | dx_j = dy_j D_j^-b - 2 a b x_j sum_{|c-j|<=r} dy_c x_c D_c^(-b-1)
   |          | S_c = sum_{|j-c|<=r} x_j^2           |
   | CONCAT   | channels side by side                | each input takes its channels of dy
   | L2NORM   | y = x / n, n = sqrt(max(|x|^2, eps)) | dx = (dy - y (y . dy)) / n  (dy / n where |x|^2 <= eps)
   | ADD      | y = relu?(x0 + x1)                   | dz = dy * [y > 0]; dx0 += dz; dx1 += dz (its channels)
   | GAP      | y_c = mean over pixels of x_c        | dx_c += dy_c / pixels
   | PAD      | zeros around x                       | dx = dy without the border
   | RELU     | y = max(x, 0)                        | dx = dy * [y > 0]
   Batch norm: the converters fold each frozen batch norm (a per-channel affine y = s z + t
   with trained statistics) into the conv before it (W' = s W, b' = s (b - mean) + t), so the
   engine has no BN op. Its shift's gradient is the bias gradient, dL/dt = db'; its scale's is
   s dL/ds = sum_k W'_k dW'_k + (b' - t) db' (tests/test_grad_torch.py checks both forms).

   The two GEMMs of CONV's backward run on the forward's micro-kernels (section 4): dW as a
   "convolution" of A^T (K rows of M pixels, built by fnet__im2col_t) with dz packed into
   panels, dA as a 1x1 convolution of dz with W^T packed into panels (fnet__pack_bt). So every
   kernel set (scalar, SSE2, AVX2, AVX-512, NEON) runs the backward too, each against its
   scalar twin (tests/test_grad.c). The other backward ops are memory-bound loops (scalar).

   THE TRAINER. fnet_trainer_create copies the network and re-plans its workspace so that
   every op's output is kept (backward reads them: the "tape"), one tape per input of a batch.
   Ops whose output depends on no trainable tensor form the frozen prefix: their outputs that
   trainable ops read are the "frontier"; fnet_trainer_frontier computes it once per input, and
   a forward from frontiers runs only the ops above it (for nn4 with its last Inception blocks
   trainable that is about a fifth of the work). Backward runs only the ops on a path from a
   trainable tensor to the output and stops at the frontier.
   Determinism: a batch is spread over G gradient slots (opts.grad_slots); slot g takes
   samples g, g+G, g+2G, ... in order, and the slots are summed in order 0..G-1. Threads run
   whole slots, so the result is the same for any number of threads (and for any parallel_for).
   Optimizers (w: weight, g: gradient + weight decay * w, t: step from 1, lr from the schedule):
     SGD      v = mu v + g;  w -= lr v                          (PyTorch's momentum form)
     Adam     m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
              w -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)      (Kingma & Ba 2015)
   (computed twice: a first pass checks that every new weight is finite, the second writes)
     AdaGrad  v += g^2;  w -= lr g / (sqrt(v) + eps)                    (Duchi et al. 2011)
   After each update the changed tensors are packed again (panels, W^T, Winograd U).

   FACENET'S RECIPE (Schroff, Kalenichenko & Philbin 2015, sec. 3): a batch holds several
   people with several faces each (the paper: about 40 faces per person, 1,800 per batch;
   OpenFace: 15 people x 20 images), so that every anchor has positives and many negatives
   in the batch. Triplets are mined online, inside the batch (fnet_triplet_select): every
   (anchor, positive) pair with a semi-hard negative, one farther than the positive but inside
   the margin alpha = 0.2, because the hardest negatives make training collapse early. The loss
   is the triplet loss on L2-normalised embeddings (section 5), and FaceNet trained with
   AdaGrad (SGD with momentum in later work). fnet_trainer_step_triplet is one such step. */

#define FNET__CHUNK ((size_t)1 << 16) /* trainable values per parallel task of sums and updates */

typedef struct fnet__tparam {
    int tensor;          /* index in the model's tensor table */
    int is_bias;
    size_t count;
    float *w;            /* the tensor's values (the trainer's writable copy) */
    float *m1, *m2;      /* optimizer state (momentum / Adam moments / AdaGrad sum) */
    float *grad;         /* accumulated gradient */
    size_t acc_off;      /* float offset of this tensor's accumulator in a slot */
} fnet__tparam;

struct fnet_trainer {
    fnet_model *m;              /* private copy of the network: writable weights, kept tapes */
    void *blob_raw;             /* the copy's bytes (FNET_FREE) */
    fnet__net *net;
    fnet_trainer_opts o;
    int n_ops, n_params, max_batch, slots, kern, dim;
    unsigned char *need_grad;   /* per op: the output depends on a trainable tensor */
    unsigned char *is_frontier; /* per op: frozen output read by a trainable op */
    size_t *fr_off;             /* per op: float offset in a frontier vector */
    size_t frontier_floats, in_elems;
    int *w_param, *b_param;     /* per op: trainable index of its weight / bias, or -1 */
    float **wt;                 /* per op: packed W^T (for dL/dx), or NULL */
    fnet__tparam *p;
    size_t acc_floats;          /* floats of all accumulators of one slot */
    size_t tape_bytes;          /* one input's workspace (all outputs kept) */
    unsigned char *tapes;       /* max_batch tapes */
    size_t slot_bytes;          /* one slot's backward workspace */
    unsigned char *slot_mem;
    size_t col_floats, dzp_floats, dwt_floats, lrn_floats, wino_floats; /* parts of a slot */
    float *wino_tmp;            /* slots x 16 Cin x Cout: temporaries for packing Winograd U */
    size_t wino_tmp_floats;
    float *zeros;               /* zero bias for the backward GEMMs */
    size_t zeros_floats;
    float *emb, *gemb;          /* max_batch * dim: the last forward's embeddings, dL/d emb */
    const float *gin;           /* backward: where the input gradients go */
    float *gin_out;
    fnet_result *res;           /* per task */
    int n_chunks;               /* fnet__tr_chunk */
    fnet_result *chunk_res;
    int *rp_ops, n_rp;          /* the ops whose weights train (packed again after updates) */
    float upd_lr, upd_ic1, upd_ic2;
    int upd_pass;
    int batch_n, have_forward, from_frontier;
    long long step;
    size_t memory;
    void *raw[8];               /* allocations to free */
    char detail[64];
};

/* Glob match with '*', where '.' and '_' are the same character. */
static int fnet__glob(const char *p, const char *s) {
    for (; *p; p++, s++) {
        if (*p == '*') {
            for (;; s++) {
                if (fnet__glob(p + 1, s)) return 1;
                if (!*s) return 0;
            }
        }
        if (!*s) return 0;
        if (*p != *s && !((*p == '.' || *p == '_') && (*s == '.' || *s == '_'))) return 0;
    }
    return *s == 0;
}

/* Does `name` match one of the comma-separated patterns? With mark (n_pat entries), records
   which patterns matched. */
static int fnet__match_list(const char *list, const char *name, unsigned char *mark) {
    char pat[128];
    int hit = 0, k = 0;
    const char *q = list;
    while (*q) {
        size_t n = 0;
        while (*q == ' ' || *q == ',') q++;
        if (!*q) break;
        while (q[n] && q[n] != ',') n++;
        while (n > 0 && q[n - 1] == ' ') n--;
        if (n < sizeof(pat)) {
            memcpy(pat, q, n);
            pat[n] = 0;
            if (fnet__glob(pat, name)) { hit = 1; if (mark) mark[k] = 1; }
        }
        k++;
        while (*q && *q != ',') q++;
    }
    return hit;
}

/* Pattern k of a comma-separated list into out (trimmed); 0 when it is empty. */
static int fnet__pattern_at(const char *list, int k, char *out, size_t cap) {
    const char *q = list;
    size_t len = 0;
    int idx = 0;
    while (idx < k && *q) { if (*q == ',') idx++; q++; }
    while (*q == ' ') q++;
    while (q[len] && q[len] != ',') len++;
    while (len > 0 && q[len - 1] == ' ') len--;
    if (cap) {
        size_t c = len < cap - 1 ? len : cap - 1;
        memcpy(out, q, c);
        out[c] = 0;
    }
    return len > 0;
}

/* Packs the transpose of w (K rows x n columns): ceil(K/16) panels of n x 16 (zero-padded). */
static void fnet__pack_bt(const float *w, int K, int n, float *out) {
    int p, k, j, np = (K + FNET__NR - 1) / FNET__NR;
    for (p = 0; p < np; p++)
        for (k = 0; k < n; k++)
            for (j = 0; j < FNET__NR; j++) {
                int col = p * FNET__NR + j;
                *out++ = col < K ? w[(size_t)col * n + k] : 0.0f;
            }
}

/* A^T of a convolution's input: row s*Cin + ci (tap s = ky*KW + kx), column m (output pixel)
   = x at that tap of pixel m, or 0 on the padding. at: K x M floats. */
static void fnet__im2col_t(const float *x, int H, int W, int Cin, const fnet__geom *g, int OH,
                           int OW, float *at) {
    int M = OH * OW, ky, kx, oy, ox, ci;
    for (ky = 0; ky < g->kh; ky++)
        for (kx = 0; kx < g->kw; kx++) {
            float *row0 = at + (size_t)(ky * g->kw + kx) * Cin * M;
            for (oy = 0; oy < OH; oy++) {
                int iy = oy * g->sh - g->pt + ky;
                for (ox = 0; ox < OW; ox++) {
                    int ix = ox * g->sw - g->pl + kx, m = oy * OW + ox;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
                        for (ci = 0; ci < Cin; ci++) row0[(size_t)ci * M + m] = 0.0f;
                    } else {
                        const float *px = x + ((size_t)iy * W + ix) * Cin;
                        for (ci = 0; ci < Cin; ci++) row0[(size_t)ci * M + m] = px[ci];
                    }
                }
            }
        }
}

/* dz = dy * [y > 0] in place (the fused ReLU's backward), with its SIMD twins (a bitwise AND
   with the comparison mask: identical results). */
static void fnet__relu_mask_scalar(float *d, const float *y, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) d[i] = y[i] > 0.0f ? d[i] : 0.0f;
}
#if defined(FNET__X86)
static void fnet__relu_mask_sse2(float *d, const float *y, size_t n) {
    size_t i = 0;
    __m128 z = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(d + i, _mm_and_ps(_mm_loadu_ps(d + i), _mm_cmpgt_ps(_mm_loadu_ps(y + i), z)));
    fnet__relu_mask_scalar(d + i, y + i, n - i);
}
FNET__AVX2_FN static void fnet__relu_mask_avx2(float *d, const float *y, size_t n) {
    size_t i = 0;
    __m256 z = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_and_ps(_mm256_loadu_ps(d + i),
                                              _mm256_cmp_ps(_mm256_loadu_ps(y + i), z, _CMP_GT_OQ)));
    fnet__relu_mask_scalar(d + i, y + i, n - i);
}
#endif
#if defined(FNET__NEON)
static void fnet__relu_mask_neon(float *d, const float *y, size_t n) {
    size_t i = 0;
    float32x4_t z = vdupq_n_f32(0.0f);
    for (; i + 4 <= n; i += 4)
        vst1q_f32(d + i, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vld1q_f32(d + i)),
                                                         vcgtq_f32(vld1q_f32(y + i), z))));
    fnet__relu_mask_scalar(d + i, y + i, n - i);
}
#endif
#if defined(FNET__WASM_SIMD)
static void fnet__relu_mask_wasm(float *d, const float *y, size_t n) {
    size_t i = 0;
    v128_t z = wasm_f32x4_splat(0.0f);
    for (; i + 4 <= n; i += 4)
        wasm_v128_store(d + i, wasm_v128_and(wasm_v128_load(d + i), wasm_f32x4_gt(wasm_v128_load(y + i), z)));
    fnet__relu_mask_scalar(d + i, y + i, n - i);
}
#endif
static void fnet__relu_mask(fnet_isa isa, float *d, const float *y, size_t n) {
#if defined(FNET__X86)
    if (isa == FNET_ISA_AVX2) { fnet__relu_mask_avx2(d, y, n); return; }
    if (isa == FNET_ISA_SSE2) { fnet__relu_mask_sse2(d, y, n); return; }
#endif
#if defined(FNET__NEON)
    if (isa == FNET_ISA_NEON) { fnet__relu_mask_neon(d, y, n); return; }
#endif
#if defined(FNET__WASM_SIMD)
    if (isa == FNET_ISA_WASM_SIMD) { fnet__relu_mask_wasm(d, y, n); return; }
#endif
    (void)isa;
    fnet__relu_mask_scalar(d, y, n);
}

/* Backward of CONV (and DENSE: H = W = 1, Cin = In, 1x1 geometry). dz: M x Cout (the ReLU
   mask already applied). Adds dW (K x Cout) into gw, db into gb (first: writes them instead),
   dx into gx (each may be NULL). Scratch: col (K*M floats), dzp (ceil(Cout/16)*16*M), dwt
   (K*Cout), ptrs. */
static void fnet__conv_backward(int kern, fnet_isa isa, const float *x, int H, int W, int Cin,
                                const fnet__geom *g, int OH, int OW, int Cout, const float *dz,
                                const float *wt, const float *zeros, float *gw, float *gb,
                                float *gx, float *col, float *dzp, float *dwt, const float **ptrs,
                                int first) {
    int M = OH * OW, K = g->kh * g->kw * Cin, m, ky, kx;
    fnet__geom one;
    one.kh = one.kw = one.sh = one.sw = 1;
    one.pt = one.pl = one.pb = one.pr = 0;
    if (gb) {
        if (first) memset(gb, 0, (size_t)Cout * sizeof(float));
        for (m = 0; m < M; m++) fnet__acc(isa, FNET__ACC_SUM, gb, dz + (size_t)m * Cout, Cout);
    }
    if (gw) { /* dW = A^T dz: K "pixels" of M channels times dz (M x Cout) in panels */
        fnet__im2col_t(x, H, W, Cin, g, OH, OW, col);
        fnet__pack_b(dz, M, Cout, dzp);
        /* the slot's first sample writes its accumulator, the others add to it */
        fnet__conv(kern, col, K, 1, M, &one, K, 1, Cout, dzp, zeros, zeros, ptrs, first ? gw : dwt, 0);
        if (!first) fnet__acc(isa, FNET__ACC_SUM, gw, dwt, K * Cout);
    }
    if (gx) { /* dA = dz W^T (M x K), then each tap back to its input pixel */
        fnet__conv(kern, dz, OH, OW, Cout, &one, OH, OW, K, wt, zeros, zeros, ptrs, col, 0);
        for (m = 0; m < M; m++) {
            int oy = m / OW, ox = m % OW;
            const float *dr = col + (size_t)m * K;
            for (ky = 0; ky < g->kh; ky++) {
                int iy = oy * g->sh - g->pt + ky;
                if (iy < 0 || iy >= H) continue;
                for (kx = 0; kx < g->kw; kx++) {
                    int ix = ox * g->sw - g->pl + kx;
                    if (ix < 0 || ix >= W) continue;
                    fnet__acc(isa, FNET__ACC_SUM, gx + ((size_t)iy * W + ix) * Cin,
                              dr + (size_t)(ky * g->kw + kx) * Cin, Cin);
                }
            }
        }
    }
}

/* Backward of MAXPOOL / AVGPOOL / L2POOL (forward: fnet__pool). best, arg: C floats each
   (the running maximum and its pixel index, exact in a float below 2^24 pixels). */
static void fnet__pool_backward(int kind, const float *x, int H, int W, int C, const fnet__geom *g,
                                int OH, int OW, const float *y, const float *dy, float *dx,
                                float *best, float *arg) {
    int oy, ox, ky, kx, c;
    float inv = 1.0f / (float)(g->kh * g->kw);
    for (oy = 0; oy < OH; oy++)
        for (ox = 0; ox < OW; ox++) {
            const float *d = dy + ((size_t)oy * OW + ox) * C, *yo = y + ((size_t)oy * OW + ox) * C;
            int y0 = oy * g->sh - g->pt, x0 = ox * g->sw - g->pl;
            if (kind == FNET__OP_MAXPOOL) { /* first maximum in scan order; padding reads 0 */
                int cell = 0;
                for (ky = 0; ky < g->kh; ky++)
                    for (kx = 0; kx < g->kw; kx++, cell++) {
                        int iy = y0 + ky, ix = x0 + kx;
                        float bi = (float)(iy * W + ix);
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
                            for (c = 0; c < C; c++) {
                                int t = cell == 0 || 0.0f > best[c];
                                best[c] = t ? 0.0f : best[c];
                                arg[c] = t ? -1.0f : arg[c];
                            }
                        } else {
                            const float *xi = x + ((size_t)iy * W + ix) * C;
                            for (c = 0; c < C; c++) { /* branch-free selects */
                                int t = cell == 0 || xi[c] > best[c];
                                best[c] = t ? xi[c] : best[c];
                                arg[c] = t ? bi : arg[c];
                            }
                        }
                    }
                for (c = 0; c < C; c++)
                    if (arg[c] >= 0.0f) dx[(size_t)arg[c] * C + c] += d[c];
                continue;
            }
            for (ky = 0; ky < g->kh; ky++)
                for (kx = 0; kx < g->kw; kx++) {
                    int iy = y0 + ky, ix = x0 + kx;
                    float *o;
                    const float *xi;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                    o = dx + ((size_t)iy * W + ix) * C;
                    xi = x + ((size_t)iy * W + ix) * C;
                    if (kind == FNET__OP_AVGPOOL)
                        for (c = 0; c < C; c++) o[c] += d[c] * inv;
                    else
                        for (c = 0; c < C; c++)
                            if (yo[c] > 0.0f) o[c] += d[c] * xi[c] / yo[c];
                }
        }
}

/* Backward of LRN (forward: fnet__lrn_px_scalar), pixel by pixel. The window sums of x^2 and
   of q come from prefix sums in double (O(C) per pixel, not O(C r)). tmp: 3 * C + 2 floats'
   room as doubles (the caller gives 2 * C floats and C + 1 doubles after them). */
static void fnet__lrn_backward(const float *x, size_t pixels, int C, int r, float alpha, float beta,
                               float bias, const float *dy, float *dx, float *tmp, double *pre) {
    size_t px;
    int c;
    if (r > C) r = C;
    for (px = 0; px < pixels; px++) {
        const float *xp = x + px * C, *dp = dy + px * C;
        float *op = dx + px * C, *dpow = tmp, *q = tmp + C;
        pre[0] = 0.0;
        for (c = 0; c < C; c++) pre[c + 1] = pre[c] + (double)xp[c] * xp[c];
        for (c = 0; c < C; c++) {
            int lo = FNET__MAX(0, c - r), hi = FNET__MIN(C - 1, c + r);
            float D = bias + alpha * (float)(pre[hi + 1] - pre[lo]);
            dpow[c] = 1.0f / fnet__lrn_pow(D, beta);            /* D^-beta */
            q[c] = dp[c] * xp[c] * dpow[c] / D;                 /* dy x D^(-beta-1) */
        }
        pre[0] = 0.0;
        for (c = 0; c < C; c++) pre[c + 1] = pre[c] + q[c];
        for (c = 0; c < C; c++) {
            int lo = FNET__MAX(0, c - r), hi = FNET__MIN(C - 1, c + r);
            op[c] += dp[c] * dpow[c] - (float)(2.0 * alpha * beta * xp[c] * (pre[hi + 1] - pre[lo]));
        }
    }
}

/* ---- the trainer ---- */

static fnet_result fnet__tr_fail(fnet_trainer *tr, fnet_result r, const char *what) {
    size_t n = 0;
    if (what) {
        n = strlen(what);
        if (n >= sizeof(tr->detail)) n = sizeof(tr->detail) - 1;
        memcpy(tr->detail, what, n);
    }
    tr->detail[n] = 0;
    return r;
}

static void fnet__tr_parallel(const fnet_trainer *tr, int n, fnet_task_fn fn, void *ctx) {
    int i;
    if (tr->o.parallel_for && n > 1) { tr->o.parallel_for(tr->o.parallel_user, n, fn, ctx); return; }
    for (i = 0; i < n; i++) fn(ctx, i);
}

/* Does the backward of CONV op i compute dL/dx by Winograd? Where the forward does (3x3,
   stride 1, on the AVX2 or AVX-512 kernels), dL/dx is itself a 3x3 stride-1 convolution: of
   dz, padded by 2 - pad, with the kernel turned 180 degrees and Cin, Cout swapped:
       dx[y][x][ci] = sum_{ky,kx,co} dz[y + pt - ky][x + pl - kx][co] W[ky][kx][ci][co]. */
static int fnet__tr_wino_dx(const fnet_trainer *tr, int i) {
#if defined(FNET__WINOGRAD)
    const fnet__op *o = &tr->m->ops[i];
    const fnet__node *nd = &tr->net->node[i];
    return o->type == FNET__OP_CONV && nd->wp && (tr->kern == FNET_ISA_AVX2 || tr->kern != (int)tr->m->isa) &&
           o->ip[4] <= 2 && o->ip[5] <= 2 && o->ip[6] <= 2 && o->ip[7] <= 2;
#else
    (void)tr; (void)i;
    return 0;
#endif
}

/* Winograd U of the turned, transposed kernel W'[ky][kx][co][ci] = W[2-ky][2-kx][ci][co]
   (see fnet__tr_wino_dx); tmp: 25 * Cin * Cout floats. */
static void fnet__pack_wino_t(const float *w, int cin, int cout, float *out, float *tmp) {
    float *wt = tmp + (size_t)16 * cin * cout;
    int ky, kx, ci, co;
    for (ky = 0; ky < 3; ky++)
        for (kx = 0; kx < 3; kx++)
            for (co = 0; co < cout; co++)
                for (ci = 0; ci < cin; ci++)
                    wt[(((size_t)ky * 3 + kx) * cout + co) * cin + ci] =
                        w[(((size_t)(2 - ky) * 3 + (2 - kx)) * cin + ci) * cout + co];
    fnet__wino_pack(wt, cout, cin, out, tmp);
}

/* Packs op i's weights again after they changed (panels, W^T, Winograd U). */
static void fnet__tr_repack(fnet_trainer *tr, int i, float *wino_tmp) {
    const fnet__op *o = &tr->m->ops[i];
    fnet__node *nd = &tr->net->node[i];
    const fnet__tensor *w = &tr->m->tensors[o->tensor[0]], *b = &tr->m->tensors[o->tensor[1]];
    int cout = nd->c, K = (int)(w->count / (size_t)cout);
    fnet__node_pack(o, nd, (const float *)w->data, K, cout);
    memcpy((float *)nd->bias, b->data, (size_t)cout * sizeof(float));
    if (nd->wp) fnet__node_wino_pack(nd, (const float *)w->data, tr->net->node[o->in[0]].c, cout, wino_tmp);
    if (tr->wt[i] && fnet__tr_wino_dx(tr, i))
        fnet__pack_wino_t((const float *)w->data, tr->net->node[o->in[0]].c, cout, tr->wt[i], wino_tmp);
    else if (tr->wt[i])
        fnet__pack_bt((const float *)w->data, K, cout, tr->wt[i]);
}

FNET_API fnet_result fnet_trainer_create(const fnet_model *net, const fnet_trainer_opts *opts,
                                         fnet_trainer **out) {
    fnet_trainer *tr;
    fnet_result r;
    const char *list;
    unsigned char *copy, *pmark = NULL;
    size_t i, n_tensors, wt_floats = 0, wino_tmp = 1, tot;
    int n, k, n_pat = 1, np = 0;
    if (!out) return FNET_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!net) return FNET_ERR_INVALID_ARGUMENT;
    if (!fnet__get_net(net)) return FNET_ERR_WRONG_MODEL;
    tr = (fnet_trainer *)FNET_MALLOC(sizeof(fnet_trainer));
    if (!tr) return FNET_ERR_OUT_OF_MEMORY;
    memset(tr, 0, sizeof(*tr));
    if (opts) tr->o = *opts;
    /* defaults */
    if (tr->o.optimizer != FNET_OPTIMIZER_ADAM && tr->o.optimizer != FNET_OPTIMIZER_SGD &&
        tr->o.optimizer != FNET_OPTIMIZER_ADAGRAD) { FNET_FREE(tr); return FNET_ERR_INVALID_ARGUMENT; }
    if (!(tr->o.learning_rate >= 0.0f) || !(tr->o.weight_decay >= 0.0f) || tr->o.max_batch < 0 ||
        tr->o.grad_slots < 0 || tr->o.warmup_steps < 0 || tr->o.total_steps < 0 || tr->o.step_every < 0 ||
        !(tr->o.step_gamma >= 0.0f) || (unsigned)tr->o.schedule > (unsigned)FNET_LR_COSINE)
        { FNET_FREE(tr); return FNET_ERR_INVALID_ARGUMENT; }
    if (tr->o.learning_rate == 0.0f)
        tr->o.learning_rate = tr->o.optimizer == FNET_OPTIMIZER_ADAM ? 1e-3f : tr->o.optimizer == FNET_OPTIMIZER_SGD ? 0.01f : 0.05f;
    if (tr->o.momentum == 0.0f) tr->o.momentum = 0.9f;
    if (tr->o.momentum < 0.0f) tr->o.momentum = 0.0f;
    if (tr->o.beta1 == 0.0f) tr->o.beta1 = 0.9f;
    if (tr->o.beta2 == 0.0f) tr->o.beta2 = 0.999f;
    if (tr->o.eps == 0.0f) tr->o.eps = 1e-8f;
    if (tr->o.step_every == 0) tr->o.step_every = 1000;
    if (tr->o.step_gamma == 0.0f) tr->o.step_gamma = 0.1f;
    if (tr->o.max_batch == 0) tr->o.max_batch = 64;
    if (tr->o.grad_slots == 0) tr->o.grad_slots = 4;
    if (tr->o.max_batch > 65536 || tr->o.grad_slots > 1024) { FNET_FREE(tr); return FNET_ERR_TOO_LARGE; }
    tr->max_batch = tr->o.max_batch;
    tr->slots = FNET__MIN(tr->o.grad_slots, tr->max_batch);
    list = (tr->o.trainable && *tr->o.trainable) ? tr->o.trainable : "*";
    tr->o.trainable = NULL; /* not kept: the caller's string */

    /* a private copy of the blob, loaded like any other (zero-copy into our buffer) */
    copy = (unsigned char *)fnet__alloc_aligned(net->size, &tr->blob_raw);
    if (!copy) { fnet_trainer_free(tr); return FNET_ERR_OUT_OF_MEMORY; }
    if (fnet__host_is_little_endian() || !net->owned_raw) {
        memcpy(copy, net->blob, net->size);
    } else { /* big-endian host: net->blob holds swapped tensors; rebuild little-endian bytes */
        memcpy(copy, net->blob, net->size);
        for (i = 0; i < (size_t)net->n_tensors; i++) {
            const fnet__tensor *t = &net->tensors[i];
            fnet__swap_elements(copy + ((const unsigned char *)t->data - net->blob), t->count,
                                fnet__dtype_size[t->dtype]);
        }
    }
    r = fnet_model_load_memory(copy, net->size, &tr->m);
    if (r != FNET_OK) { fnet_trainer_free(tr); return r; }
    tr->m->isa = net->isa;
    tr->net = (fnet__net *)tr->m->stage;
    n = tr->n_ops = tr->m->n_ops;
    n_tensors = (size_t)tr->m->n_tensors;
    tr->dim = tr->net->out_dim;
    tr->in_elems = tr->net->node[0].elems;
    tr->kern = (int)tr->m->isa;
#if defined(FNET__AVX512)
    if (tr->kern == FNET_ISA_AVX2 && tr->net->avx512) tr->kern = FNET__KERN_AVX512;
#endif

    /* which tensors train: patterns against the tensors of CONV and DENSE ops */
    {
        const char *q;
        for (q = list; *q; q++) n_pat += *q == ',';
    }
    tr->need_grad = (unsigned char *)FNET_MALLOC((size_t)n * 2 + (size_t)n_pat + n_tensors);
    tr->fr_off = (size_t *)FNET_MALLOC((size_t)n * sizeof(size_t));
    tr->w_param = (int *)FNET_MALLOC((size_t)n * 2 * sizeof(int));
    tr->wt = (float **)FNET_MALLOC((size_t)n * sizeof(float *));
    tr->p = (fnet__tparam *)FNET_MALLOC((n_tensors + 1) * sizeof(fnet__tparam));
    if (!tr->need_grad || !tr->fr_off || !tr->w_param || !tr->wt || !tr->p) {
        fnet_trainer_free(tr);
        return FNET_ERR_OUT_OF_MEMORY;
    }
    tr->is_frontier = tr->need_grad + n;
    pmark = tr->is_frontier + n;
    memset(tr->need_grad, 0, (size_t)n * 2 + (size_t)n_pat + n_tensors);
    tr->b_param = tr->w_param + n;
    memset(tr->wt, 0, (size_t)n * sizeof(float *));
    {
        unsigned char *tmark = pmark + n_pat; /* per tensor: trainable */
        char detail[8];
        for (k = 0; k < n; k++) {
            const fnet__op *o = &tr->m->ops[k];
            int t;
            tr->w_param[k] = tr->b_param[k] = -1;
            if (o->type != FNET__OP_CONV && o->type != FNET__OP_DENSE) continue;
            for (t = 0; t < 2; t++) {
                int ti = o->tensor[t];
                if (tr->m->tensors[ti].dtype != FNET__F32) continue;
                if (fnet__match_list(list, tr->m->tensors[ti].name, pmark)) tmark[ti] = 1;
            }
        }
        for (k = 0; k < n_pat; k++)
            if (!pmark[k] && fnet__pattern_at(list, k, detail, sizeof(detail))) {
                fnet_trainer_free(tr); /* fnet_trainer_unmatched names the pattern */
                return FNET_ERR_NOT_FOUND;
            }
        for (i = 0; i < n_tensors; i++) {
            fnet__tparam *pp;
            if (!tmark[i]) continue;
            pp = &tr->p[np++];
            memset(pp, 0, sizeof(*pp));
            pp->tensor = (int)i;
            pp->count = tr->m->tensors[i].count;
            pp->w = (float *)tr->m->tensors[i].data;
            pp->acc_off = tr->acc_floats;
            tr->acc_floats += (pp->count + 15u) & ~(size_t)15u;
        }
        tr->n_params = np;
        for (k = 0; k < n; k++) {
            const fnet__op *o = &tr->m->ops[k];
            int q2;
            if (o->type != FNET__OP_CONV && o->type != FNET__OP_DENSE) continue;
            for (q2 = 0; q2 < np; q2++) {
                if (tr->p[q2].tensor == o->tensor[0]) tr->w_param[k] = q2;
                if (tr->p[q2].tensor == o->tensor[1]) { tr->b_param[k] = q2; tr->p[q2].is_bias = 1; }
            }
        }
    }
    if (np == 0 && !tr->o.input_grad) { fnet_trainer_free(tr); return FNET_ERR_NOT_FOUND; }

    /* the path: ops whose output depends on a trainable tensor (or on the input) */
    tr->need_grad[0] = (unsigned char)(tr->o.input_grad ? 1 : 0);
    for (k = 1; k < n; k++) {
        const fnet__op *o = &tr->m->ops[k];
        int q2, g2 = tr->w_param[k] >= 0 || tr->b_param[k] >= 0;
        for (q2 = 0; q2 < o->n_in; q2++) g2 |= tr->need_grad[o->in[q2]];
        tr->need_grad[k] = (unsigned char)g2;
    }
    if (!tr->need_grad[n - 1]) { fnet_trainer_free(tr); return FNET_ERR_INVALID_ARGUMENT; }
    for (k = 1; k < n; k++) {
        const fnet__op *o = &tr->m->ops[k];
        int q2;
        if (!tr->need_grad[k]) continue;
        for (q2 = 0; q2 < o->n_in; q2++)
            if (!tr->need_grad[o->in[q2]]) tr->is_frontier[o->in[q2]] = 1;
    }
    for (k = 0; k < n; k++) {
        tr->fr_off[k] = tr->frontier_floats;
        if (tr->is_frontier[k]) tr->frontier_floats += tr->net->node[k].elems;
    }

    /* keep every output: re-plan the copy's workspace without reuse */
    {
        fnet__net *nt = tr->net;
        size_t old_act = nt->act_bytes, delta;
        fnet__unfuse_adds(nt, n);
        for (k = 0; k < n; k++) nt->node[k].last_use = n;
        r = fnet__plan_memory(nt, n);
        if (r != FNET_OK) { fnet_trainer_free(tr); return r; }
        delta = nt->act_bytes - old_act;
        nt->scratch_off += delta;
        nt->wino_off += delta;
        nt->work_bytes += delta;
        tr->tape_bytes = (nt->work_bytes + 63u) & ~(size_t)63u;
    }

    /* backward scratch per slot and W^T panels */
    tr->col_floats = tr->dzp_floats = tr->dwt_floats = tr->lrn_floats = 16;
    for (k = 1; k < n; k++) {
        const fnet__op *o = &tr->m->ops[k];
        const fnet__node *nd = &tr->net->node[k], *a = &tr->net->node[o->in[0]];
        if (!tr->need_grad[k]) continue;
        if (o->type == FNET__OP_CONV || o->type == FNET__OP_DENSE) {
            fnet__geom g = fnet__op_geom(o);
            size_t M = (size_t)nd->h * nd->w, cin = o->type == FNET__OP_DENSE ? a->elems : (size_t)a->c;
            size_t K = (size_t)g.kh * g.kw * cin, npc = (size_t)(nd->c + FNET__NR - 1) / FNET__NR * FNET__NR;
            size_t npk = (K + FNET__NR - 1) / FNET__NR * FNET__NR;
            if (K * M > tr->col_floats) tr->col_floats = K * M;
            if (npk + 64 > tr->zeros_floats) tr->zeros_floats = npk + 64;
            if (npc + 64 > tr->zeros_floats) tr->zeros_floats = npc + 64;
            if (M * npk > tr->col_floats) tr->col_floats = M * npk;
            if (npc * M > tr->dzp_floats) tr->dzp_floats = npc * M;
            if (K * npc > tr->dwt_floats) tr->dwt_floats = K * npc;
            if (tr->need_grad[o->in[0]] && fnet__tr_wino_dx(tr, k)) {
                size_t npi = (size_t)(a->c + FNET__NR - 1) / FNET__NR * FNET__NR, wb;
                wt_floats += 16 * (size_t)nd->c * npi;
                wb = (size_t)16 * FNET__WINO_T * ((size_t)nd->c + npi);
                if (wb > tr->wino_floats) tr->wino_floats = wb;
                if ((size_t)a->h * a->w * a->c > tr->col_floats) tr->col_floats = (size_t)a->h * a->w * a->c;
                if (npi + 64 > tr->zeros_floats) tr->zeros_floats = npi + 64;
            } else if (tr->need_grad[o->in[0]]) {
                wt_floats += npk * (size_t)nd->c;
            }
            if (nd->wp && 25 * (size_t)a->c * nd->c > wino_tmp) wino_tmp = 25 * (size_t)a->c * nd->c;
        }
        if ((o->type == FNET__OP_LRN || o->type == FNET__OP_MAXPOOL) && 4 * (size_t)a->c + 4 > tr->lrn_floats)
            tr->lrn_floats = 4 * (size_t)a->c + 4; /* LRN's powers and prefix sums, max pooling's maximum */
    }
    tr->col_floats = (tr->col_floats + 15u) & ~(size_t)15u;
    tr->dzp_floats = (tr->dzp_floats + 15u) & ~(size_t)15u;
    tr->dwt_floats = (tr->dwt_floats + 15u) & ~(size_t)15u;
    tr->lrn_floats = (tr->lrn_floats + 15u) & ~(size_t)15u;
    tr->wino_floats = (tr->wino_floats + 15u) & ~(size_t)15u;
    tr->slot_bytes = tr->net->act_bytes + (tr->col_floats + tr->dzp_floats + tr->dwt_floats +
                                           tr->lrn_floats + tr->acc_floats + tr->wino_floats) * sizeof(float) +
                     (size_t)FNET__MR_MAX * sizeof(float *) + (size_t)tr->n_params + 64;
    tr->slot_bytes = (tr->slot_bytes + 63u) & ~(size_t)63u;
    /* one block for the parameters' state, another for tapes and slots */
    tot = 0;
    for (k = 0; k < np; k++) tot += 3 * ((tr->p[k].count + 15u) & ~(size_t)15u);
    tr->wino_tmp_floats = (wino_tmp + 15u) & ~(size_t)15u;
    tot += wt_floats + tr->wino_tmp_floats * (size_t)tr->slots + tr->zeros_floats + 2 * (size_t)tr->max_batch * (size_t)tr->dim + 64;
    {
        float *f = (float *)fnet__alloc_aligned(tot * sizeof(float), &tr->raw[0]);
        size_t big;
        if (!f) { fnet_trainer_free(tr); return FNET_ERR_OUT_OF_MEMORY; }
        memset(f, 0, tot * sizeof(float));
        tr->memory = tot * sizeof(float);
        for (k = 0; k < np; k++) {
            size_t c16 = (tr->p[k].count + 15u) & ~(size_t)15u;
            tr->p[k].m1 = f; f += c16;
            tr->p[k].m2 = f; f += c16;
            tr->p[k].grad = f; f += c16;
        }
        for (k = 1; k < n; k++) {
            const fnet__op *o = &tr->m->ops[k];
            if (!tr->need_grad[k] || (o->type != FNET__OP_CONV && o->type != FNET__OP_DENSE) ||
                !tr->need_grad[o->in[0]])
                continue;
            {
                const fnet__tensor *w = &tr->m->tensors[o->tensor[0]];
                int cout = tr->net->node[k].c, K = (int)(w->count / (size_t)cout);
                tr->wt[k] = f;
                if (fnet__tr_wino_dx(tr, k))
                    f += (size_t)16 * cout * ((size_t)(tr->net->node[o->in[0]].c + FNET__NR - 1) / FNET__NR * FNET__NR);
                else
                    f += (size_t)(K + FNET__NR - 1) / FNET__NR * FNET__NR * (size_t)cout;
            }
        }
        tr->wino_tmp = f; f += tr->wino_tmp_floats * (size_t)tr->slots;
        tr->zeros = f; f += tr->zeros_floats;
        tr->emb = f; f += (size_t)tr->max_batch * tr->dim;
        tr->gemb = f;
        for (k = 1; k < n; k++) /* W^T panels, or the Winograd U of the turned kernel */
            if (tr->wt[k]) {
                const fnet__op *o = &tr->m->ops[k];
                const fnet__tensor *w = &tr->m->tensors[o->tensor[0]];
                int cout = tr->net->node[k].c, K = (int)(w->count / (size_t)cout);
                if (fnet__tr_wino_dx(tr, k))
                    fnet__pack_wino_t((const float *)w->data, tr->net->node[o->in[0]].c, cout, tr->wt[k], tr->wino_tmp);
                else
                    fnet__pack_bt((const float *)w->data, K, cout, tr->wt[k]);
            }
        if (!fnet__mul_ok(tr->tape_bytes, (size_t)tr->max_batch, &big) ||
            big > ((size_t)-1) / 2 - tr->slot_bytes * (size_t)tr->slots) {
            fnet_trainer_free(tr);
            return FNET_ERR_TOO_LARGE;
        }
        tr->tapes = (unsigned char *)fnet__alloc_aligned(big, &tr->raw[1]);
        tr->slot_mem = (unsigned char *)fnet__alloc_aligned(tr->slot_bytes * (size_t)tr->slots, &tr->raw[2]);
        tr->res = (fnet_result *)FNET_MALLOC(sizeof(fnet_result) * (size_t)tr->max_batch);
        for (k = 0; k < np; k++) tr->n_chunks += (int)((tr->p[k].count + FNET__CHUNK - 1) / FNET__CHUNK);
        tr->chunk_res = (fnet_result *)FNET_MALLOC(sizeof(fnet_result) * (size_t)(tr->n_chunks + 1));
        tr->rp_ops = (int *)FNET_MALLOC(sizeof(int) * (size_t)(n + 1));
        if (!tr->tapes || !tr->slot_mem || !tr->res || !tr->chunk_res || !tr->rp_ops) {
            fnet_trainer_free(tr);
            return FNET_ERR_OUT_OF_MEMORY;
        }
        for (k = 0; k < n; k++)
            if (tr->w_param[k] >= 0 || tr->b_param[k] >= 0) tr->rp_ops[tr->n_rp++] = k;
        tr->memory += big + tr->slot_bytes * (size_t)tr->slots + net->size;
    }
    *out = tr;
    return FNET_OK;
}

FNET_API void fnet_trainer_free(fnet_trainer *tr) {
    int i;
    if (!tr) return;
    fnet_model_free(tr->m);
    FNET_FREE(tr->blob_raw);
    FNET_FREE(tr->need_grad);
    FNET_FREE(tr->fr_off);
    FNET_FREE(tr->w_param);
    FNET_FREE(tr->wt);
    FNET_FREE(tr->p);
    FNET_FREE(tr->res);
    FNET_FREE(tr->chunk_res);
    FNET_FREE(tr->rp_ops);
    for (i = 0; i < 8; i++) FNET_FREE(tr->raw[i]);
    FNET_FREE(tr);
}

FNET_API const char *fnet_trainer_error_detail(const fnet_trainer *tr) { return tr ? tr->detail : ""; }
FNET_API const fnet_model *fnet_trainer_model(const fnet_trainer *tr) { return tr ? tr->m : NULL; }
FNET_API int fnet_trainer_trainable_count(const fnet_trainer *tr) { return tr && tr->m ? tr->n_params : 0; }
FNET_API const char *fnet_trainer_trainable_name(const fnet_trainer *tr, int i) {
    return (tr && tr->m && i >= 0 && i < tr->n_params) ? tr->m->tensors[tr->p[i].tensor].name : NULL;
}
FNET_API const float *fnet_trainer_grad(const fnet_trainer *tr, int i) {
    return (tr && tr->m && i >= 0 && i < tr->n_params) ? tr->p[i].grad : NULL;
}
FNET_API long long fnet_trainer_step_count(const fnet_trainer *tr) { return tr ? tr->step : 0; }
FNET_API size_t fnet_trainer_memory(const fnet_trainer *tr) { return tr ? tr->memory : 0; }
FNET_API size_t fnet_trainer_frontier_size(const fnet_trainer *tr) {
    return tr && tr->m ? tr->frontier_floats : 0;
}

FNET_API float fnet_trainer_learning_rate(const fnet_trainer *tr) {
    double lr, t;
    if (!tr) return 0.0f;
    lr = tr->o.learning_rate;
    t = (double)tr->step;
    if (tr->o.schedule == FNET_LR_STEP)
        lr *= pow((double)tr->o.step_gamma, floor(t / (double)tr->o.step_every));
    else if (tr->o.schedule == FNET_LR_COSINE && tr->o.total_steps > 0)
        lr *= t >= tr->o.total_steps ? 0.0 : 0.5 * (1.0 + cos(3.14159265358979323846 * t / tr->o.total_steps));
    if (tr->o.warmup_steps > 0 && t < tr->o.warmup_steps) lr *= (t + 1.0) / (tr->o.warmup_steps + 1.0);
    return (float)lr;
}

FNET_API fnet_result fnet_trainer_input_from_rgb(const fnet_trainer *tr, const unsigned char *rgb,
                                                 float *input_hwc) {
    const fnet__op *o;
    size_t e;
    if (!tr || !tr->m || !rgb || !input_hwc) return FNET_ERR_INVALID_ARGUMENT;
    o = &tr->m->ops[0];
    for (e = 0; e < tr->in_elems; e++) input_hwc[e] = ((float)rgb[e] - o->fp[1 + e % 3]) / o->fp[0];
    return FNET_OK;
}

static fnet_result fnet__tr_check_input(const float *x, size_t n) {
    size_t e;
    for (e = 0; e < n; e++)
        if (!fnet__finite(x[e])) return FNET_ERR_NOT_FINITE;
    return FNET_OK;
}

FNET_API fnet_result fnet_trainer_frontier(const fnet_trainer *tr, const float *input_hwc,
                                           float *frontier) {
    void *raw;
    unsigned char *base;
    fnet_result r;
    int i;
    if (!tr || !tr->m || !input_hwc || !frontier) return FNET_ERR_INVALID_ARGUMENT;
    if (tr->frontier_floats == 0) return FNET_ERR_UNSUPPORTED; /* input_grad: nothing is frozen */
    if ((r = fnet__tr_check_input(input_hwc, tr->in_elems)) != FNET_OK) return r;
    base = (unsigned char *)fnet__alloc_aligned(tr->tape_bytes, &raw);
    if (!base) return FNET_ERR_OUT_OF_MEMORY;
    memcpy(base + tr->net->node[0].off, input_hwc, tr->in_elems * sizeof(float));
    for (i = 1; i < tr->n_ops; i++)
        if (!tr->need_grad[i]) fnet__run_op(tr->m, base, i);
    for (i = 0; i < tr->n_ops; i++)
        if (tr->is_frontier[i])
            memcpy(frontier + tr->fr_off[i], base + tr->net->node[i].off, tr->net->node[i].elems * sizeof(float));
    FNET_FREE(raw);
    return FNET_OK;
}

typedef struct fnet__tr_fwd {
    fnet_trainer *tr;
    const float *inputs;
} fnet__tr_fwd;

static void fnet__tr_forward_task(void *ctx, int s) {
    fnet__tr_fwd *c = (fnet__tr_fwd *)ctx;
    fnet_trainer *tr = c->tr;
    unsigned char *base = tr->tapes + (size_t)s * tr->tape_bytes;
    const fnet__node *last = &tr->net->node[tr->n_ops - 1];
    const float *y;
    size_t e;
    int i;
    if (tr->from_frontier) {
        const float *f = c->inputs + (size_t)s * tr->frontier_floats;
        for (i = 0; i < tr->n_ops; i++)
            if (tr->is_frontier[i])
                memcpy(base + tr->net->node[i].off, f + tr->fr_off[i], tr->net->node[i].elems * sizeof(float));
        for (i = 1; i < tr->n_ops; i++)
            if (tr->need_grad[i]) fnet__run_op(tr->m, base, i);
    } else {
        memcpy(base + tr->net->node[0].off, c->inputs + (size_t)s * tr->in_elems, tr->in_elems * sizeof(float));
        for (i = 1; i < tr->n_ops; i++) fnet__run_op(tr->m, base, i);
    }
    y = (const float *)(const void *)(base + last->off);
    tr->res[s] = FNET_OK;
    for (e = 0; e < last->elems; e++)
        if (!fnet__finite(y[e])) tr->res[s] = FNET_ERR_NOT_FINITE;
    memcpy(tr->emb + (size_t)s * tr->dim, y, last->elems * sizeof(float));
}

FNET_API fnet_result fnet_trainer_forward(fnet_trainer *tr, const float *inputs, int from_frontier,
                                          int n, float *emb) {
    fnet__tr_fwd c;
    fnet_result r;
    int s;
    if (!tr || !tr->m || !inputs || n < 1) return FNET_ERR_INVALID_ARGUMENT;
    if (n > tr->max_batch) return FNET_ERR_TOO_LARGE;
    if (from_frontier && tr->frontier_floats == 0) return FNET_ERR_UNSUPPORTED;
    tr->have_forward = 0;
    if ((r = fnet__tr_check_input(inputs, (size_t)n * (from_frontier ? tr->frontier_floats : tr->in_elems))) != FNET_OK)
        return r;
    tr->from_frontier = from_frontier ? 1 : 0;
    tr->batch_n = n;
    c.tr = tr;
    c.inputs = inputs;
    fnet__tr_parallel(tr, n, fnet__tr_forward_task, &c);
    for (s = 0; s < n; s++)
        if (tr->res[s] != FNET_OK) return tr->res[s];
    if (emb) memcpy(emb, tr->emb, (size_t)n * tr->dim * sizeof(float));
    tr->have_forward = 1;
    return FNET_OK;
}

/* ---- the ops' backward, one function each, in the op table's order ----
   fnet__op_NAME_backward(w, i) adds op i's dL/d(inputs) into its inputs' gradients (those
   on the path to a trainable tensor) from dL/dy = w->dy, and the CONV/DENSE ones write or
   add dL/dW and dL/db into the sample's accumulators. */

/* One sample's backward: its tape (the forward's activations), its gradients, its scratch. */
typedef struct fnet__bwd {
    fnet_trainer *tr;
    unsigned char *base, *slot; /* activations (tape) and gradients, both in the workspace layout */
    float *col, *dzp, *dwt, *lt, *wb, *acc; /* im2col, padded dz, turned W, LRN rows, Winograd, dW/db */
    const float **ptrs;
    unsigned char *touched;     /* per trainable tensor: this sample has written its gradient */
    /* op i being run: */
    const fnet__op *o;
    const fnet__node *nd, *a;   /* its output and first input */
    float *x, *y, *dy, *dx;     /* input, output, dL/dy, dL/dx (NULL: not needed) */
} fnet__bwd;

static float *fnet__bwd_act(const fnet__bwd *w, int j) { return (float *)(void *)(w->base + w->tr->net->node[j].off); }
static float *fnet__bwd_grad(const fnet__bwd *w, int j) {
    return w->tr->need_grad[j] ? (float *)(void *)(w->slot + w->tr->net->node[j].off) : NULL;
}

/* 1, 7 CONV and DENSE: dW, db from x and dz; dx = dz (*) turned W (by Winograd where the
   forward uses it). */
static void fnet__op_conv_backward(fnet__bwd *w, int i) {
    fnet_trainer *tr = w->tr;
    const fnet_model *m = tr->m;
    const fnet__op *o = w->o;
    const fnet__node *nd = w->nd, *a = w->a;
    fnet__geom g = fnet__op_geom(o);
    int wp = tr->w_param[i], bp = tr->b_param[i];
    int first = (wp < 0 || !w->touched[wp]) && (bp < 0 || !w->touched[bp]);
    float *gw = wp >= 0 ? w->acc + tr->p[wp].acc_off : NULL, *gb = bp >= 0 ? w->acc + tr->p[bp].acc_off : NULL;
    if (o->flags & 1) fnet__relu_mask(m->isa, w->dy, w->y, nd->elems);
    if (!first && wp >= 0 && !w->touched[wp]) memset(gw, 0, tr->p[wp].count * sizeof(float));
    if (!first && bp >= 0 && !w->touched[bp]) memset(gb, 0, tr->p[bp].count * sizeof(float));
    if (o->type == FNET__OP_CONV && w->dx && fnet__tr_wino_dx(tr, i)) {
#if defined(FNET__WINOGRAD)
        fnet__geom g2 = g; /* dx = dz (*) turned W, padding 2 - pad */
        fnet__conv_backward(tr->kern, m->isa, w->x, a->h, a->w, a->c, &g, nd->h, nd->w, nd->c, w->dy, NULL,
                            tr->zeros, gw, gb, NULL, w->col, w->dzp, w->dwt, w->ptrs, first);
        g2.pt = 2 - g.pt; g2.pl = 2 - g.pl; g2.pb = 2 - g.pb; g2.pr = 2 - g.pr;
        fnet__conv_wino(tr->kern, w->dy, nd->h, nd->w, nd->c, &g2, a->h, a->w, a->c, tr->wt[i], tr->zeros,
                        tr->zeros, w->ptrs, w->wb, w->wb + (size_t)16 * FNET__WINO_T * nd->c, w->col, 0);
        fnet__acc(m->isa, FNET__ACC_SUM, w->dx, w->col, (int)a->elems);
#endif
    } else if (o->type == FNET__OP_CONV)
        fnet__conv_backward(tr->kern, m->isa, w->x, a->h, a->w, a->c, &g, nd->h, nd->w, nd->c, w->dy, tr->wt[i],
                            tr->zeros, gw, gb, w->dx, w->col, w->dzp, w->dwt, w->ptrs, first);
    else
        fnet__conv_backward(tr->kern, m->isa, w->x, 1, 1, (int)a->elems, &g, 1, 1, nd->c, w->dy, tr->wt[i],
                            tr->zeros, gw, gb, w->dx, w->col, w->dzp, w->dwt, w->ptrs, first);
    if (wp >= 0) w->touched[wp] = 1;
    if (bp >= 0) w->touched[bp] = 1;
}

/* 2, 3, 4 MAXPOOL, AVGPOOL, L2POOL: dy back to the window elements (the max, all equally,
   or in proportion x / y). */
static void fnet__op_pool_backward(fnet__bwd *w, int i) {
    fnet__geom g = fnet__op_geom(w->o);
    (void)i;
    if (w->dx)
        fnet__pool_backward(w->o->type, w->x, w->a->h, w->a->w, w->a->c, &g, w->nd->h, w->nd->w, w->y, w->dy,
                            w->dx, w->lt, w->lt + w->a->c);
}

/* 5 LRN */
static void fnet__op_lrn_backward(fnet__bwd *w, int i) {
    const fnet__op *o = w->o;
    (void)i;
    if (w->dx)
        fnet__lrn_backward(w->x, (size_t)w->nd->h * w->nd->w, w->a->c, o->ip[0], o->fp[0], o->fp[1], o->fp[2],
                           w->dy, w->dx, w->lt, (double *)(void *)(w->lt + ((2 * (size_t)w->a->c + 1) & ~(size_t)1)));
}

/* 6 CONCAT: each input gets its channels of dy. */
static void fnet__op_concat_backward(fnet__bwd *w, int i) {
    const fnet__net *net = w->tr->net;
    size_t px, npx = (size_t)w->nd->h * w->nd->w;
    int k, c0 = 0;
    (void)i;
    for (k = 0; k < w->o->n_in; k++) {
        const fnet__node *b = &net->node[w->o->in[k]];
        float *db = fnet__bwd_grad(w, w->o->in[k]);
        if (db)
            for (px = 0; px < npx; px++)
                fnet__acc(w->tr->m->isa, FNET__ACC_SUM, db + px * b->c, w->dy + px * w->nd->c + c0, b->c);
        c0 += b->c;
    }
}

/* 8 L2NORM: dx = (dy - y (y . dy)) / |x| (0 where eps clamped the norm). */
static void fnet__op_l2norm_backward(fnet__bwd *w, int i) {
    double s2 = 0.0, dot = 0.0, nrm, eps = w->o->fp[0];
    size_t e, n = w->nd->elems;
    (void)i;
    if (!w->dx) return;
    for (e = 0; e < n; e++) { s2 += (double)w->x[e] * w->x[e]; dot += (double)w->y[e] * w->dy[e]; }
    nrm = sqrt(s2 > eps ? s2 : eps);
    if (!(s2 > eps)) dot = 0.0;
    for (e = 0; e < n; e++) w->dx[e] += (float)(((double)w->dy[e] - w->y[e] * dot) / nrm);
}

/* 9 ADD: both inputs get dy (through the ReLU mask); a shortcut with fewer channels its own. */
static void fnet__op_add_backward(fnet__bwd *w, int i) {
    const fnet_model *m = w->tr->m;
    const fnet__node *b = &w->tr->net->node[w->o->in[1]];
    float *db = fnet__bwd_grad(w, w->o->in[1]);
    size_t px, npx = (size_t)w->nd->h * w->nd->w;
    (void)i;
    if (w->o->flags & 1) fnet__relu_mask(m->isa, w->dy, w->y, w->nd->elems);
    if (w->dx) fnet__acc(m->isa, FNET__ACC_SUM, w->dx, w->dy, (int)w->nd->elems);
    if (!db) return;
    if (b->c == w->nd->c) {
        fnet__acc(m->isa, FNET__ACC_SUM, db, w->dy, (int)w->nd->elems);
        return;
    }
    for (px = 0; px < npx; px++) fnet__acc(m->isa, FNET__ACC_SUM, db + px * b->c, w->dy + px * w->nd->c, b->c);
}

/* 10 GLOBAL_AVGPOOL: every pixel gets dy / (H W). */
static void fnet__op_gap_backward(fnet__bwd *w, int i) {
    size_t px, npx = (size_t)w->a->h * w->a->w;
    float inv = (float)(1.0 / (double)npx);
    int k;
    (void)i;
    if (w->dx)
        for (px = 0; px < npx; px++)
            for (k = 0; k < w->nd->c; k++) w->dx[px * w->nd->c + k] += w->dy[k] * inv;
}

/* 11 PAD: the inner part of dy. */
static void fnet__op_pad_backward(fnet__bwd *w, int i) {
    const fnet__node *a = w->a, *nd = w->nd;
    int yy;
    (void)i;
    if (w->dx)
        for (yy = 0; yy < a->h; yy++)
            fnet__acc(w->tr->m->isa, FNET__ACC_SUM, w->dx + (size_t)yy * a->w * a->c,
                      w->dy + ((size_t)(yy + w->o->ip[0]) * nd->w + w->o->ip[1]) * nd->c, a->w * a->c);
}

/* 12 RELU: dy where y > 0. */
static void fnet__op_relu_backward(fnet__bwd *w, int i) {
    (void)i;
    if (!w->dx) return;
    fnet__relu_mask(w->tr->m->isa, w->dy, w->y, w->nd->elems);
    fnet__acc(w->tr->m->isa, FNET__ACC_SUM, w->dx, w->dy, (int)w->nd->elems);
}

/* The backward of sample s into slot g: dL/d(every output on the path), then the op's
   backward, from the last op down to the frontier. */
static void fnet__tr_backward_sample(fnet_trainer *tr, unsigned char *slot, int s) {
    const fnet_model *m = tr->m;
    const fnet__net *net = tr->net;
    fnet__bwd w;
    int i, n = tr->n_ops;
    w.tr = tr;
    w.base = tr->tapes + (size_t)s * tr->tape_bytes;
    w.slot = slot;
    w.col = (float *)(void *)(slot + net->act_bytes);
    w.dzp = w.col + tr->col_floats;
    w.dwt = w.dzp + tr->dzp_floats;
    w.lt = w.dwt + tr->dwt_floats;
    w.wb = w.lt + tr->lrn_floats;
    w.acc = w.wb + tr->wino_floats;
    w.ptrs = (const float **)(void *)(w.acc + tr->acc_floats);
    w.touched = (unsigned char *)(void *)(w.ptrs + FNET__MR_MAX);
    for (i = 0; i < n; i++)
        if (tr->need_grad[i]) memset(fnet__bwd_grad(&w, i), 0, net->node[i].elems * sizeof(float));
    memcpy(slot + net->node[n - 1].off, tr->gemb + (size_t)s * tr->dim, (size_t)tr->dim * sizeof(float));
    for (i = n - 1; i >= 1; i--) {
        if (!tr->need_grad[i]) continue;
        w.o = &m->ops[i];
        w.nd = &net->node[i];
        w.a = &net->node[w.o->in[0]];
        w.x = fnet__bwd_act(&w, w.o->in[0]);
        w.y = fnet__bwd_act(&w, i);
        w.dy = fnet__bwd_grad(&w, i);
        w.dx = fnet__bwd_grad(&w, w.o->in[0]);
        switch (w.o->type) {
        case FNET__OP_CONV:    fnet__op_conv_backward(&w, i);   break;
        case FNET__OP_MAXPOOL: case FNET__OP_AVGPOOL: case FNET__OP_L2POOL:
                               fnet__op_pool_backward(&w, i);   break;
        case FNET__OP_LRN:     fnet__op_lrn_backward(&w, i);    break;
        case FNET__OP_CONCAT:  fnet__op_concat_backward(&w, i); break;
        case FNET__OP_DENSE:   fnet__op_conv_backward(&w, i);   break;
        case FNET__OP_L2NORM:  fnet__op_l2norm_backward(&w, i); break;
        case FNET__OP_ADD:     fnet__op_add_backward(&w, i);    break;
        case FNET__OP_GAP:     fnet__op_gap_backward(&w, i);    break;
        case FNET__OP_PAD:     fnet__op_pad_backward(&w, i);    break;
        default:               fnet__op_relu_backward(&w, i);   break; /* RELU */
        }
    }
    if (tr->gin_out) memcpy(tr->gin_out + (size_t)s * tr->in_elems, slot + net->node[0].off, tr->in_elems * sizeof(float));
}

static void fnet__tr_backward_task(void *ctx, int g) {
    fnet_trainer *tr = (fnet_trainer *)ctx;
    int s;
    for (s = g; s < tr->batch_n; s += tr->slots)
        fnet__tr_backward_sample(tr, tr->slot_mem + (size_t)g * tr->slot_bytes, s);
}

static float *fnet__tr_acc(const fnet_trainer *tr, int g) {
    return (float *)(void *)(tr->slot_mem + (size_t)g * tr->slot_bytes + tr->net->act_bytes) +
           tr->col_floats + tr->dzp_floats + tr->dwt_floats + tr->lrn_floats + tr->wino_floats;
}
static unsigned char *fnet__tr_touched(const fnet_trainer *tr, int g) {
    return (unsigned char *)(void *)((const float **)(void *)(fnet__tr_acc(tr, g) + tr->acc_floats) + FNET__MR_MAX);
}

/* Chunk t of the trainable values (parameter, range): the unit of the parallel sums and
   updates. Every value belongs to one chunk, so the results do not depend on the threads. */
static void fnet__tr_chunk(const fnet_trainer *tr, int t, int *q, size_t *e0, size_t *e1) {
    int k = 0;
    *e0 = *e1 = 0;
    for (*q = 0; *q < tr->n_params; (*q)++) {
        int nc = (int)((tr->p[*q].count + FNET__CHUNK - 1) / FNET__CHUNK);
        if (t < k + nc) {
            *e0 = (size_t)(t - k) * FNET__CHUNK;
            *e1 = FNET__MIN(tr->p[*q].count, *e0 + FNET__CHUNK);
            return;
        }
        k += nc;
    }
}

/* grad += the slots' sums (in slot order) over one chunk; res: FNET_ERR_NOT_FINITE if any. */
static void fnet__tr_reduce_task(void *ctx, int t) {
    fnet_trainer *tr = (fnet_trainer *)ctx;
    fnet__tparam *p;
    size_t e, e0, e1;
    int q, g, used = FNET__MIN(tr->slots, tr->batch_n), bad = 0;
    fnet__tr_chunk(tr, t, &q, &e0, &e1);
    p = &tr->p[q];
    for (g = 0; g < used; g++) {
        const float *acc = fnet__tr_acc(tr, g) + p->acc_off;
        if (!fnet__tr_touched(tr, g)[q]) continue;
        for (e = e0; e < e1; e++) p->grad[e] += acc[e];
    }
    for (e = e0; e < e1; e++) bad |= !fnet__finite(p->grad[e]);
    tr->chunk_res[t] = bad ? FNET_ERR_NOT_FINITE : FNET_OK;
}

FNET_API fnet_result fnet_trainer_backward(fnet_trainer *tr, const float *grad_emb, float *grad_input) {
    fnet_result r;
    int g, q, ok = 1, used;
    if (!tr || !tr->m || !grad_emb) return FNET_ERR_INVALID_ARGUMENT;
    used = FNET__MIN(tr->slots, tr->batch_n); /* slots that receive a sample */
    if (!tr->have_forward) return FNET_ERR_INVALID_ARGUMENT; /* backward needs a forward first */
    if (grad_input && (!tr->o.input_grad || tr->from_frontier)) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__tr_check_input(grad_emb, (size_t)tr->batch_n * tr->dim)) != FNET_OK) return r;
    memcpy(tr->gemb, grad_emb, (size_t)tr->batch_n * tr->dim * sizeof(float));
    tr->gin_out = grad_input;
    for (g = 0; g < used; g++) memset(fnet__tr_touched(tr, g), 0, (size_t)tr->n_params);
    fnet__tr_parallel(tr, used, fnet__tr_backward_task, tr);
    tr->gin_out = NULL;
    /* the slots' sums, in slot order, chunk by chunk; not finite: the gradients are cleared */
    fnet__tr_parallel(tr, tr->n_chunks, fnet__tr_reduce_task, tr);
    for (q = 0; q < tr->n_chunks; q++)
        if (tr->chunk_res[q] != FNET_OK) ok = 0;
    if (!ok) { fnet_trainer_zero_grad(tr); return FNET_ERR_NOT_FINITE; }
    return FNET_OK;
}

FNET_API void fnet_trainer_zero_grad(fnet_trainer *tr) {
    int q;
    if (!tr || !tr->m) return;
    for (q = 0; q < tr->n_params; q++) memset(tr->p[q].grad, 0, tr->p[q].count * sizeof(float));
}

/* The optimizer's new value of weight w with gradient g (state m1, m2 updated when write). */
static float fnet__tr_new_weight(const fnet_trainer *tr, const fnet__tparam *p, size_t e, float lr,
                                 float ic1, float ic2, int write) {
    float w = p->w[e], g = p->grad[e], m1 = p->m1[e], m2 = p->m2[e];
    if (!p->is_bias) g += tr->o.weight_decay * w;
    switch (tr->o.optimizer) {
    case FNET_OPTIMIZER_SGD:
        m1 = tr->o.momentum * m1 + g;
        w -= lr * m1;
        break;
    case FNET_OPTIMIZER_ADAGRAD:
        m2 += g * g;
        w -= lr * g / (sqrtf(m2) + tr->o.eps);
        break;
    default:
        m1 = tr->o.beta1 * m1 + (1.0f - tr->o.beta1) * g;
        m2 = tr->o.beta2 * m2 + (1.0f - tr->o.beta2) * g * g;
        w -= lr * (m1 * ic1) / (sqrtf(m2 * ic2) + tr->o.eps);
        break;
    }
    if (write) { p->m1[e] = m1; p->m2[e] = m2; }
    return w;
}

static void fnet__tr_update_task(void *ctx, int t) {
    fnet_trainer *tr = (fnet_trainer *)ctx;
    fnet__tparam *p;
    size_t e, e0, e1;
    int q;
    fnet__tr_chunk(tr, t, &q, &e0, &e1);
    p = &tr->p[q];
    tr->chunk_res[t] = FNET_OK;
    for (e = e0; e < e1; e++) {
        float w;
        if (tr->upd_pass == 0 && !fnet__finite(p->grad[e])) { tr->chunk_res[t] = FNET_ERR_NOT_FINITE; return; }
        w = fnet__tr_new_weight(tr, p, e, tr->upd_lr, tr->upd_ic1, tr->upd_ic2, tr->upd_pass);
        if (tr->upd_pass == 0 && !fnet__finite(w)) { tr->chunk_res[t] = FNET_ERR_NOT_FINITE; return; }
        if (tr->upd_pass == 1) p->w[e] = w;
    }
}
/* Group g packs the trained ops g, g+G, ... (G = the slot count) with its own temporary. */
static void fnet__tr_repack_group(void *ctx, int g) {
    fnet_trainer *tr = (fnet_trainer *)ctx;
    int t;
    for (t = g; t < tr->n_rp; t += tr->slots)
        fnet__tr_repack(tr, tr->rp_ops[t], tr->wino_tmp + (size_t)g * tr->wino_tmp_floats);
}

FNET_API fnet_result fnet_trainer_update(fnet_trainer *tr) {
    int t, pass;
    if (!tr || !tr->m) return FNET_ERR_INVALID_ARGUMENT;
    tr->upd_lr = fnet_trainer_learning_rate(tr);
    /* Adam's bias corrections 1 / (1 - beta^t) */
    tr->upd_ic1 = (float)(1.0 / (1.0 - pow((double)tr->o.beta1, (double)(tr->step + 1))));
    tr->upd_ic2 = (float)(1.0 / (1.0 - pow((double)tr->o.beta2, (double)(tr->step + 1))));
    /* pass 0 checks that every gradient and new weight is finite; pass 1 writes */
    for (pass = 0; pass < 2; pass++) {
        tr->upd_pass = pass;
        fnet__tr_parallel(tr, tr->n_chunks, fnet__tr_update_task, tr);
        for (t = 0; pass == 0 && t < tr->n_chunks; t++)
            if (tr->chunk_res[t] != FNET_OK) {
                int q;
                size_t e0, e1;
                fnet__tr_chunk(tr, t, &q, &e0, &e1);
                return fnet__tr_fail(tr, FNET_ERR_NOT_FINITE, tr->m->tensors[tr->p[q].tensor].name);
            }
    }
    fnet__tr_parallel(tr, FNET__MIN(tr->n_rp, tr->slots), fnet__tr_repack_group, tr);
    fnet_trainer_zero_grad(tr);
    tr->step++;
    tr->have_forward = 0;
    return FNET_OK;
}

FNET_API fnet_result fnet_trainer_step_triplet(fnet_trainer *tr, const float *inputs,
                                               int from_frontier, const int *labels, int n,
                                               float alpha, fnet_triplet_mining mining,
                                               float *loss, int *n_triplets, int *n_active) {
    fnet_triplet *t = NULL;
    fnet_result r;
    float l = 0.0f;
    int cnt = 0, act = 0;
    if (loss) *loss = 0.0f;
    if (n_triplets) *n_triplets = 0;
    if (n_active) *n_active = 0;
    if (!tr || !tr->m || !labels) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet_trainer_forward(tr, inputs, from_frontier, n, NULL)) != FNET_OK) return r;
    if ((r = fnet_triplet_select(tr->emb, labels, n, tr->dim, alpha, mining, NULL, 0, &cnt)) != FNET_OK) return r;
    if (cnt > 0) {
        t = (fnet_triplet *)FNET_MALLOC((size_t)cnt * sizeof(fnet_triplet));
        if (!t) return FNET_ERR_OUT_OF_MEMORY;
        r = fnet_triplet_select(tr->emb, labels, n, tr->dim, alpha, mining, t, cnt, &cnt);
        /* dL/d emb goes into a buffer of its own (backward copies it into gemb) */
        if (r == FNET_OK) {
            float *ge = (float *)FNET_MALLOC((size_t)n * tr->dim * sizeof(float));
            if (!ge) r = FNET_ERR_OUT_OF_MEMORY;
            if (r == FNET_OK) r = fnet_triplet_loss(tr->emb, n, tr->dim, t, cnt, alpha, &l, ge, &act);
            if (r == FNET_OK && !fnet__finite(l)) {
                r = fnet__tr_fail(tr, FNET_ERR_NOT_FINITE, "loss");
                if (loss) *loss = l;
            }
            if (r == FNET_OK && act > 0) r = fnet_trainer_backward(tr, ge, NULL);
            if (r == FNET_OK && act > 0) r = fnet_trainer_update(tr);
            FNET_FREE(ge);
        }
        FNET_FREE(t);
        if (r != FNET_OK) { fnet_trainer_zero_grad(tr); return r; }
    }
    if (loss) *loss = l;
    if (n_triplets) *n_triplets = cnt;
    if (n_active) *n_active = act;
    return FNET_OK;
}

/* ---- checkpoints and trained blobs ----
   Checkpoint ("FNETTRST", version 1, little-endian): u32 version, u32 optimizer, u32 trainable
   count, u32 the network blob's table CRC, u64 step, then per trainable tensor: u32 name
   length, name (padded to 4), u64 count, count weights, count first moments, count second
   moments (f32); last a u32 CRC-32 of everything before it. */
#define FNET__STATE_VERSION 1u

FNET_API fnet_result fnet_trainer_save_state(const fnet_trainer *tr, void *buf, size_t cap,
                                             size_t *size) {
    size_t need = 32, at, e;
    int q, k;
    unsigned char *b = (unsigned char *)buf;
    if (!tr || !tr->m || !size) return FNET_ERR_INVALID_ARGUMENT;
    for (q = 0; q < tr->n_params; q++)
        need += 4 + ((strlen(tr->m->tensors[tr->p[q].tensor].name) + 3u) & ~(size_t)3u) + 8 + 12 * tr->p[q].count;
    need += 4;
    *size = need;
    if (!buf) return FNET_OK;
    if (cap < need) return FNET_ERR_WORKSPACE_TOO_SMALL;
    memset(b, 0, need);
    memcpy(b, "FNETTRST", 8);
    fnet__wr_u32(b + 8, FNET__STATE_VERSION);
    fnet__wr_u32(b + 12, (unsigned long)tr->o.optimizer);
    fnet__wr_u32(b + 16, (unsigned long)tr->n_params);
    fnet__wr_u32(b + 20, fnet__rd_u32(tr->m->blob + 80));
    fnet__wr_u64(b + 24, (unsigned long long)tr->step);
    at = 32;
    for (q = 0; q < tr->n_params; q++) {
        const fnet__tparam *p = &tr->p[q];
        const char *nm = tr->m->tensors[p->tensor].name;
        size_t len = strlen(nm);
        const float *arr[3];
        fnet__wr_u32(b + at, (unsigned long)len);
        memcpy(b + at + 4, nm, len);
        at += 4 + ((len + 3u) & ~(size_t)3u);
        fnet__wr_u64(b + at, (unsigned long long)p->count);
        at += 8;
        arr[0] = p->w; arr[1] = p->m1; arr[2] = p->m2;
        for (k = 0; k < 3; k++)
            for (e = 0; e < p->count; e++, at += 4) fnet__wr_f32(b + at, arr[k][e]);
    }
    fnet__wr_u32(b + at, fnet__crc32(b, at));
    return FNET_OK;
}

FNET_API fnet_result fnet_trainer_load_state(fnet_trainer *tr, const void *data, size_t size) {
    const unsigned char *b = (const unsigned char *)data;
    size_t at, e, need;
    int q, k, i, pass;
    if (!tr || !tr->m || !data) return FNET_ERR_INVALID_ARGUMENT;
    if (size < 36) return FNET_ERR_TRUNCATED;
    if (memcmp(b, "FNETTRST", 8) != 0) return FNET_ERR_BAD_MAGIC;
    if (fnet__rd_u32(b + 8) != FNET__STATE_VERSION) return FNET_ERR_VERSION;
    if (fnet__rd_u32(b + size - 4) != fnet__crc32(b, size - 4)) return FNET_ERR_CORRUPT;
    if (fnet__rd_u32(b + 12) != (unsigned long)tr->o.optimizer || fnet__rd_u32(b + 16) != (unsigned long)tr->n_params ||
        fnet__rd_u32(b + 20) != fnet__rd_u32(tr->m->blob + 80))
        return FNET_ERR_MISMATCH;
    /* pass 0 checks names, counts, sizes and values; pass 1 copies */
    for (pass = 0; pass < 2; pass++) {
        at = 32;
        for (q = 0; q < tr->n_params; q++) {
            fnet__tparam *p = &tr->p[q];
            const char *nm = tr->m->tensors[p->tensor].name;
            size_t len = strlen(nm), l2;
            float *arr[3];
            if (at + 4 > size - 4) return FNET_ERR_TRUNCATED;
            l2 = (size_t)fnet__rd_u32(b + at);
            if (l2 != len || at + 4 + len + 8 > size - 4 || memcmp(b + at + 4, nm, len) != 0) return FNET_ERR_MISMATCH;
            at += 4 + ((len + 3u) & ~(size_t)3u);
            if (at + 8 > size - 4 || fnet__rd_u64(b + at) != (unsigned long long)p->count) return FNET_ERR_MISMATCH;
            at += 8;
            if (!fnet__mul_ok(p->count, 12, &need) || need > size - 4 - at) return FNET_ERR_TRUNCATED;
            arr[0] = p->w; arr[1] = p->m1; arr[2] = p->m2;
            for (k = 0; k < 3; k++)
                for (e = 0; e < p->count; e++, at += 4) {
                    float v = fnet__rd_f32(b + at);
                    if (pass == 0 && !fnet__finite(v)) return FNET_ERR_CORRUPT;
                    if (pass == 1) arr[k][e] = v;
                }
        }
        if (at != size - 4) return FNET_ERR_CORRUPT;
    }
    tr->step = (long long)fnet__rd_u64(b + 24);
    for (i = 0; i < tr->n_ops; i++)
        if (tr->w_param[i] >= 0 || tr->b_param[i] >= 0) fnet__tr_repack(tr, i, tr->wino_tmp);
    fnet_trainer_zero_grad(tr);
    tr->have_forward = 0;
    return FNET_OK;
}

/* Is `name` (a filled tensor's CSV name, '_' for '.') one of the trainable tensors? */
static int fnet__tr_trained(const fnet_trainer *tr, const char *name) {
    int q;
    for (q = 0; q < tr->n_params; q++)
        if (fnet__glob(tr->m->tensors[tr->p[q].tensor].name, name)) return 1;
    return 0;
}

FNET_API fnet_result fnet_trainer_save_blob(const fnet_trainer *tr, const char *const *keys,
                                            const char *const *values, int n_meta, void *buf,
                                            size_t cap, size_t *size) {
    const fnet_model *m;
    const unsigned char *src;
    const char *mk[FNET__MAX_META + 8], *mv[FNET__MAX_META + 8];
    char trained[4096], steps[32], idbuf[FNET_NETWORK_ID_MAX + 1];
    const char *orig_id, *new_id = NULL;
    fnet__blob_tensor *tens;
    fnet_result r;
    int nm = 0, i, q, incomplete;
    unsigned long flags;
    if (!tr || !tr->m || !size || n_meta < 0 || (n_meta > 0 && (!keys || !values))) return FNET_ERR_INVALID_ARGUMENT;
    m = tr->m;
    src = m->blob;
    orig_id = fnet_network_id(m);
    for (i = 0; i < n_meta; i++) {
        if (!keys[i] || !values[i] || !*keys[i]) return FNET_ERR_INVALID_ARGUMENT;
        if (strcmp(keys[i], "network") == 0) new_id = values[i];
    }
    if (!new_id) {
        size_t ol = strlen(orig_id);
        if (ol + 8 > FNET_NETWORK_ID_MAX) return FNET_ERR_TOO_LARGE;
        memcpy(idbuf, orig_id, ol);
        memcpy(idbuf + ol, "+trained", 9);
        new_id = idbuf;
    }
    if (!*new_id || strlen(new_id) > FNET_NETWORK_ID_MAX || strcmp(new_id, orig_id) == 0)
        return FNET_ERR_INVALID_ARGUMENT; /* a trained network must not pass for the original */
    /* trained tensors, and whether the blob stays incomplete */
    trained[0] = 0;
    for (q = 0; q < tr->n_params; q++) {
        const char *tn = m->tensors[tr->p[q].tensor].name;
        if (strlen(trained) + strlen(tn) + 2 >= sizeof(trained)) { memcpy(trained + strlen(trained), "...", 4); break; }
        if (q) strcat(trained, ",");
        strcat(trained, tn);
    }
    incomplete = fnet_model_incomplete(m);
    if (incomplete) {
        const char *f = fnet_model_meta(m, "filled_tensors");
        char one[64];
        incomplete = 0;
        while (f && *f) {
            size_t len = 0;
            while (f[len] && f[len] != ',') len++;
            if (len < sizeof(one)) { memcpy(one, f, len); one[len] = 0; if (!fnet__tr_trained(tr, one)) incomplete = 1; }
            else incomplete = 1;
            f += len + (f[len] == ',');
        }
        if (!fnet_model_meta(m, "filled_tensors")) incomplete = 1;
    }
    {   /* the step count in decimal (no stdio here) */
        char rev[24];
        unsigned long long v = (unsigned long long)tr->step;
        int nd2 = 0, j2;
        do { rev[nd2++] = (char)('0' + (int)(v % 10u)); v /= 10u; } while (v);
        for (j2 = 0; j2 < nd2; j2++) steps[j2] = rev[nd2 - 1 - j2];
        steps[nd2] = 0;
    }
    /* metadata: the original's (replaced by the caller's), the caller's new keys, provenance */
    for (i = 0; i < m->n_meta; i++) {
        const char *k = m->meta_key[i], *v = m->meta_val[i];
        int j;
        if (!strcmp(k, "network") || !strcmp(k, "trained_tensors") || !strcmp(k, "trained_steps") ||
            !strcmp(k, "trained_from") || (!incomplete && !strcmp(k, "incomplete")))
            continue;
        if (!incomplete && !strcmp(k, "filled_tensors")) k = "relearned_filled_tensors";
        for (j = 0; j < n_meta; j++)
            if (!strcmp(keys[j], k)) v = values[j];
        mk[nm] = k; mv[nm] = v; nm++;
    }
    for (i = 0; i < n_meta; i++) {
        int j, dup = 0;
        if (!strcmp(keys[i], "network")) continue;
        for (j = 0; j < nm; j++) if (!strcmp(mk[j], keys[i])) dup = 1;
        for (j = 0; j < i; j++) if (!strcmp(keys[j], keys[i])) dup = 1;
        if (dup) continue;
        if (nm >= (int)FNET__MAX_META) return FNET_ERR_TOO_LARGE;
        mk[nm] = keys[i]; mv[nm] = values[i]; nm++;
    }
    mk[nm] = "network"; mv[nm] = new_id; nm++;
    mk[nm] = "trained_tensors"; mv[nm] = trained; nm++;
    mk[nm] = "trained_steps"; mv[nm] = steps; nm++;
    mk[nm] = "trained_from"; mv[nm] = orig_id; nm++;
    if (nm > (int)FNET__MAX_META) return FNET_ERR_TOO_LARGE;
    /* the tensors as they are now (the trained ones updated in the private copy) */
    tens = (fnet__blob_tensor *)FNET_MALLOC((size_t)(m->n_tensors ? m->n_tensors : 1) * sizeof(fnet__blob_tensor));
    if (!tens) return FNET_ERR_OUT_OF_MEMORY;
    for (i = 0; i < m->n_tensors; i++) {
        const fnet__tensor *t = &m->tensors[i];
        tens[i].name = t->name;
        tens[i].dtype = t->dtype;
        tens[i].ndim = t->ndim;
        memcpy(tens[i].shape, t->shape, sizeof t->shape);
        tens[i].scale = t->scale;
        tens[i].zero = t->zero;
        tens[i].data = t->data;
    }
    flags = fnet__rd_u32(src + 44) & ~1ul;
    if (incomplete) flags |= 1ul;
    r = fnet__blob_write((int)m->kind, flags, mk, mv, nm, tens, m->n_tensors,
                         src + (size_t)fnet__rd_u64(src + 64), m->n_ops, buf, cap, size);
    FNET_FREE(tens);
    return r;
}

#ifndef FNET_NO_STDIO
FNET_API fnet_result fnet_trainer_save_blob_file(const fnet_trainer *tr, const char *const *keys,
                                                 const char *const *values, int n_meta,
                                                 const char *path) {
    size_t n;
    void *raw;
    unsigned char *b;
    fnet_result r = fnet_trainer_save_blob(tr, keys, values, n_meta, NULL, 0, &n);
    if (r != FNET_OK) return r;
    b = (unsigned char *)fnet__alloc_aligned(n, &raw);
    if (!b) return FNET_ERR_OUT_OF_MEMORY;
    r = fnet_trainer_save_blob(tr, keys, values, n_meta, b, n, &n);
    if (r == FNET_OK) r = fnet__write_atomic(path, b, n);
    FNET_FREE(raw);
    return r;
}

FNET_API fnet_result fnet_trainer_save_state_file(const fnet_trainer *tr, const char *path) {
    size_t n;
    void *b;
    fnet_result r = fnet_trainer_save_state(tr, NULL, 0, &n);
    if (r != FNET_OK) return r;
    b = FNET_MALLOC(n);
    if (!b) return FNET_ERR_OUT_OF_MEMORY;
    r = fnet_trainer_save_state(tr, b, n, &n);
    if (r == FNET_OK) r = fnet__write_atomic(path, b, n);
    FNET_FREE(b);
    return r;
}

FNET_API fnet_result fnet_trainer_load_state_file(fnet_trainer *tr, const char *path) {
    unsigned char *b;
    size_t n = 0;
    fnet_result r;
    if (!tr || !path) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__read_file(path, FNET_MAX_BLOB_SIZE, &b, &n)) != FNET_OK) return r;
    r = fnet_trainer_load_state(tr, b, n);
    FNET_FREE(b);
    return r;
}
#endif

FNET_API fnet_result fnet_trainer_unmatched(const fnet_model *net, const char *trainable,
                                            char *pattern, size_t cap) {
    int i, t, k, n_pat = 1;
    const char *q;
    if (pattern && cap) pattern[0] = 0;
    if (!net) return FNET_ERR_INVALID_ARGUMENT;
    if (!fnet__get_net(net)) return FNET_ERR_WRONG_MODEL;
    if (!trainable || !*trainable) return FNET_OK;
    for (q = trainable; *q; q++) n_pat += *q == ',';
    for (k = 0; k < n_pat; k++) {
        char pat[128];
        int hit = 0;
        if (!fnet__pattern_at(trainable, k, pat, sizeof(pat))) continue;
        for (i = 0; i < net->n_ops && !hit; i++) {
            const fnet__op *o = &net->ops[i];
            if (o->type != FNET__OP_CONV && o->type != FNET__OP_DENSE) continue;
            for (t = 0; t < 2 && !hit; t++)
                if (net->tensors[o->tensor[t]].dtype == FNET__F32 && fnet__glob(pat, net->tensors[o->tensor[t]].name)) hit = 1;
        }
        if (!hit) {
            fnet__pattern_at(trainable, k, pattern, pattern ? cap : 0);
            return FNET_ERR_NOT_FOUND;
        }
    }
    return FNET_OK;
}

/* ---- weight initialisation and the distance-distillation loss ---- */

static unsigned long long fnet__splitmix(unsigned long long *s) {
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

FNET_API fnet_result fnet_trainer_init_weights(fnet_trainer *tr, fnet_init kind,
                                               unsigned long long seed) {
    int q, i;
    size_t e;
    if (!tr || !tr->m || (kind != FNET_INIT_HE && kind != FNET_INIT_ZEROS)) return FNET_ERR_INVALID_ARGUMENT;
    for (q = 0; q < tr->n_params; q++) {
        fnet__tparam *p = &tr->p[q];
        const fnet__tensor *t = &tr->m->tensors[p->tensor];
        const char *nm = t->name;
        unsigned long long st = seed * 0x9E3779B97F4A7C15ULL + fnet__crc32((const unsigned char *)nm, strlen(nm));
        double fan_in = (double)p->count / (double)t->shape[t->ndim - 1], sd = sqrt(2.0 / fan_in);
        memset(p->m1, 0, p->count * sizeof(float));
        memset(p->m2, 0, p->count * sizeof(float));
        if (p->is_bias) continue;
        for (e = 0; e < p->count; e += 2) { /* Box-Muller pairs */
            double u1 = ((double)(fnet__splitmix(&st) >> 11) + 1.0) / 9007199254740992.0;
            double u2 = (double)(fnet__splitmix(&st) >> 11) / 9007199254740992.0;
            double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586 * u2;
            p->w[e] = kind == FNET_INIT_ZEROS ? 0.0f : (float)(sd * rad * cos(ang));
            if (e + 1 < p->count) p->w[e + 1] = kind == FNET_INIT_ZEROS ? 0.0f : (float)(sd * rad * sin(ang));
        }
    }
    for (i = 0; i < tr->n_ops; i++)
        if (tr->w_param[i] >= 0 || tr->b_param[i] >= 0) fnet__tr_repack(tr, i, tr->wino_tmp);
    fnet_trainer_zero_grad(tr);
    tr->have_forward = 0;
    return FNET_OK;
}

/* r = cov(x, y) / (sd(x) sd(y)) over the P = n(n-1)/2 pairs; with centred x', y',
   dr/dx_k = y'_k / (P sx sy) - r x'_k / (P sx^2), and dx_ij/de_i = 2 (e_i - e_j) = -dx_ij/de_j. */
FNET_API fnet_result fnet_distill_loss(const float *emb, const float *teacher, int n, int dim,
                                       int tdim, float *loss, float *grad) {
    fnet_result r;
    double *xs, *ys, mx = 0.0, my = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0, P, rr, sx, sy;
    size_t np, k;
    int i, j, c;
    if (!loss || n < 3 || tdim <= 0) return FNET_ERR_INVALID_ARGUMENT;
    if ((r = fnet__check_vectors(emb, n, dim)) != FNET_OK) return r;
    if ((r = fnet__check_vectors(teacher, n, tdim)) != FNET_OK) return r;
    np = (size_t)n * (size_t)(n - 1) / 2;
    xs = (double *)FNET_MALLOC(2 * np * sizeof(double));
    if (!xs) return FNET_ERR_OUT_OF_MEMORY;
    ys = xs + np;
    for (i = 0, k = 0; i < n; i++)
        for (j = i + 1; j < n; j++, k++) {
            xs[k] = fnet_distance_sq(emb + (size_t)i * dim, emb + (size_t)j * dim, dim);
            ys[k] = fnet_distance_sq(teacher + (size_t)i * tdim, teacher + (size_t)j * tdim, tdim);
            mx += xs[k];
            my += ys[k];
        }
    P = (double)np;
    mx /= P;
    my /= P;
    for (k = 0; k < np; k++) {
        xs[k] -= mx;
        ys[k] -= my;
        sxx += xs[k] * xs[k];
        syy += ys[k] * ys[k];
        sxy += xs[k] * ys[k];
    }
    sx = sqrt(sxx / P);
    sy = sqrt(syy / P);
    rr = (sx > 0.0 && sy > 0.0) ? sxy / P / (sx * sy) : 0.0;
    *loss = (float)(1.0 - rr);
    if (grad) {
        memset(grad, 0, (size_t)n * dim * sizeof(float));
        if (sx > 0.0 && sy > 0.0)
            for (i = 0, k = 0; i < n; i++)
                for (j = i + 1; j < n; j++, k++) {
                    double g = -(ys[k] / (P * sx * sy) - rr * xs[k] / (P * sx * sx)); /* dL/dx_ij */
                    const float *ei = emb + (size_t)i * dim, *ej = emb + (size_t)j * dim;
                    for (c = 0; c < dim; c++) {
                        float d = (float)(2.0 * g * ((double)ei[c] - ej[c]));
                        grad[(size_t)i * dim + c] += d;
                        grad[(size_t)j * dim + c] -= d;
                    }
                }
    }
    FNET_FREE(xs);
    return FNET_OK;
}


#endif /* FNET__IMPLEMENTATION_DONE */
#endif /* FNET_IMPLEMENTATION */

/*
MIT License - Copyright (c) 2026 the facenet.h developers
Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions: The above copyright notice
and this permission notice shall be included in all copies or substantial portions of the
Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
*/
