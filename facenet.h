/* facenet.h - v0.1 - face detection, landmarks, alignment and embeddings in one C99 header.

   The whole FaceNet/OpenFace pipeline, dependency-free (libc and libm only):

       image --detect--> boxes --landmarks--> 68 points --align--> crop --embed--> 128-d
             (HOG+SVM)         (regression trees)         (affine)        (CNN)

   1. Detect    HOG + linear SVM over an image pyramid (dlib's frontal face detector).
   2. Landmarks ensemble of regression trees, 68 points (dlib's shape predictor).
   3. Align     affine warp to a canonical crop (OpenFace 96x96, dlib face chip 150x150).
   4. Embed     a small network engine reading a flat weight blob: OpenFace nn4.small2
                and dlib's ResNet-34 face descriptor.
   5. Match     distances, verify, identify, cluster.

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
       FNET_MAX_IMAGE_SIDE  largest accepted image width/height (default 16384)
       FNET_MAX_BLOB_SIZE   largest accepted weight blob in bytes (default 1 GiB)

   THE CONTRACT
   - Nothing prints, exits or aborts. Every fallible call returns an fnet_result;
     fnet_result_string() says what went wrong and what to do about it.
   - No global mutable state. A loaded fnet_model is read-only: any number of threads may
     use one model at once, each with its own workspace.
   - Calls that need scratch memory take (work, work_size) sized by a *_workspace_size()
     query; they do not allocate. Passing work == NULL makes the call allocate and free its
     own scratch (convenient, not allocation-free).

   SIMD DISPATCH
   x86: SSE2 and AVX2+FMA kernels are compiled with function target attributes (no -m flags
   needed) and one is picked at run time from cpuid when the model is loaded. ARM: NEON is
   used when the compiler targets it (__ARM_NEON). fnet_model_set_isa() forces a kernel set
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
    FNET_ISA_NEON = 4
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

typedef struct fnet_detect_opts {
    int upsample;    /* 0 (default): faces from 80 px; 1: from about 40 px (4x the work) */
    float threshold; /* added to the filters' thresholds; 0 = dlib's default */
} fnet_detect_opts;

FNET_API size_t fnet_detect_workspace_size(const fnet_model *det, int width, int height,
                                           const fnet_detect_opts *opts);
/* Finds faces. Writes up to max_boxes boxes (highest score first) and the number found to
   *n_boxes (which may exceed max_boxes: then only the first max_boxes are written).
   Images smaller than the detection window give 0 boxes. */
FNET_API fnet_result fnet_detect(const fnet_model *det, fnet_image img,
                                 const fnet_detect_opts *opts, void *work, size_t work_size,
                                 fnet_box *boxes, int max_boxes, int *n_boxes);

/* ==== Public API: landmarks ============================================================== */

typedef struct fnet_point {
    float x, y;
} fnet_point;

FNET_API int fnet_landmarks_count(const fnet_model *lm); /* 68 for dlib's model */
/* Points for the face in `box`, unrounded (dlib rounds to whole pixels). */
FNET_API fnet_result fnet_landmarks(const fnet_model *lm, fnet_image img, fnet_box box,
                                    fnet_point *points);

/* ==== Public API: alignment ============================================================== */

typedef enum fnet_align_kind {
    FNET_ALIGN_OUTER_EYES_AND_NOSE = 1,       /* OpenFace: points 36, 45, 33 */
    FNET_ALIGN_INNER_EYES_AND_BOTTOM_LIP = 2, /* OpenFace: points 39, 42, 57 */
    FNET_ALIGN_DLIB_CHIP = 3                  /* dlib get_face_chip_details(shape, size, 0.25) */
} fnet_align_kind;

/* The landmark indices an alignment uses; returns how many (writes up to max). */
FNET_API int fnet_align_indices(fnet_align_kind kind, int *indices, int max);
/* Warps the face to a size x size RGB crop (out_rgb: size*size*3 bytes). */
FNET_API fnet_result fnet_align(fnet_image img, const fnet_point *points, int n_points,
                                fnet_align_kind kind, int size, unsigned char *out_rgb);

/* ==== Public API: embeddings ============================================================= */

FNET_API int fnet_embed_input_size(const fnet_model *net); /* 96 (nn4) or 150 (ResNet) */
FNET_API int fnet_embed_dim(const fnet_model *net);        /* 128 */
FNET_API size_t fnet_embed_workspace_size(const fnet_model *net);
/* Embeds an aligned RGB crop of fnet_embed_input_size() pixels square. */
FNET_API fnet_result fnet_embed(const fnet_model *net, const unsigned char *aligned_rgb,
                                void *work, size_t work_size, float *out);
/* Same from an already normalised float tensor, HWC (height, width, 3): for numerics tests. */
FNET_API fnet_result fnet_embed_tensor(const fnet_model *net, const float *input_hwc,
                                       void *work, size_t work_size, float *out);

/* ==== Public API: matching =============================================================== */

FNET_API float fnet_distance(const float *a, const float *b, int dim);    /* ||a-b|| */
FNET_API float fnet_distance_sq(const float *a, const float *b, int dim); /* ||a-b||^2 */
FNET_API fnet_result fnet_l2_normalize(float *v, int dim);

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
#if !defined(FNET_NO_SIMD) && (defined(__x86_64__) || defined(_M_X64) || \
                               (defined(__i386__) && defined(__SSE2__)))
#define FNET__X86 1
#include <immintrin.h>
#if defined(__GNUC__) || defined(__clang__)
#include <cpuid.h>
#define FNET__AVX2_FN __attribute__((target("avx2,fma")))
#else
#include <intrin.h>
#define FNET__AVX2_FN
#endif
#endif
#if !defined(FNET_NO_SIMD) && (defined(__ARM_NEON) || defined(__ARM_NEON__))
#define FNET__NEON 1
#include <arm_neon.h>
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
   Op types and their parameters are listed in the network section ("Network op graph").

   The loader checks: magic, version, byte-order mark, that the file is as long as the
   header says, the table checksum, that every table and every tensor lies inside the file
   and every tensor's size matches its shape and dtype (with overflow checks), names are
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
    unsigned long long fsize, meta_off, tensor_off, op_off, data_off, end;
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
    }
    return "unknown";
}

static fnet_result fnet__resolve_isa(fnet_isa want, fnet_isa *out) {
    if (want == FNET_ISA_AUTO) {
        if (fnet_isa_supported(FNET_ISA_AVX2)) want = FNET_ISA_AVX2;
        else if (fnet_isa_supported(FNET_ISA_NEON)) want = FNET_ISA_NEON;
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

/* ==== 1. Face detection: HOG features + linear SVM (dlib frontal face detector) ========== */

static fnet_result fnet__detector_prepare(fnet_model *m) { (void)m; return FNET_OK; }
static void fnet__detector_release(fnet_model *m) { (void)m; }

FNET_API size_t fnet_detect_workspace_size(const fnet_model *det, int width, int height,
                                           const fnet_detect_opts *opts) {
    (void)det; (void)width; (void)height; (void)opts;
    return 0;
}

FNET_API fnet_result fnet_detect(const fnet_model *det, fnet_image img,
                                 const fnet_detect_opts *opts, void *work, size_t work_size,
                                 fnet_box *boxes, int max_boxes, int *n_boxes) {
    (void)det; (void)img; (void)opts; (void)work; (void)work_size; (void)boxes; (void)max_boxes;
    if (n_boxes) *n_boxes = 0;
    return FNET_ERR_UNSUPPORTED;
}

/* ==== 2. Landmarks: ensemble of regression trees (dlib shape predictor) ================== */

static fnet_result fnet__landmarks_prepare(fnet_model *m) { (void)m; return FNET_OK; }
static void fnet__landmarks_release(fnet_model *m) { (void)m; }

FNET_API int fnet_landmarks_count(const fnet_model *lm) { (void)lm; return 0; }
FNET_API fnet_result fnet_landmarks(const fnet_model *lm, fnet_image img, fnet_box box,
                                    fnet_point *points) {
    (void)lm; (void)img; (void)box; (void)points;
    return FNET_ERR_UNSUPPORTED;
}

/* ==== 3. Alignment: affine warp to a canonical crop ====================================== */

FNET_API int fnet_align_indices(fnet_align_kind kind, int *indices, int max) {
    (void)kind; (void)indices; (void)max;
    return 0;
}
FNET_API fnet_result fnet_align(fnet_image img, const fnet_point *points, int n_points,
                                fnet_align_kind kind, int size, unsigned char *out_rgb) {
    (void)img; (void)points; (void)n_points; (void)kind; (void)size; (void)out_rgb;
    return FNET_ERR_UNSUPPORTED;
}

/* ==== 4. Embedding network engine ======================================================== */

static fnet_result fnet__network_prepare(fnet_model *m) { (void)m; return FNET_OK; }
static void fnet__network_release(fnet_model *m) { (void)m; }

FNET_API int fnet_embed_input_size(const fnet_model *net) { (void)net; return 0; }
FNET_API int fnet_embed_dim(const fnet_model *net) { (void)net; return 0; }
FNET_API size_t fnet_embed_workspace_size(const fnet_model *net) { (void)net; return 0; }
FNET_API fnet_result fnet_embed(const fnet_model *net, const unsigned char *aligned_rgb,
                                void *work, size_t work_size, float *out) {
    (void)net; (void)aligned_rgb; (void)work; (void)work_size; (void)out;
    return FNET_ERR_UNSUPPORTED;
}
FNET_API fnet_result fnet_embed_tensor(const fnet_model *net, const float *input_hwc,
                                       void *work, size_t work_size, float *out) {
    (void)net; (void)input_hwc; (void)work; (void)work_size; (void)out;
    return FNET_ERR_UNSUPPORTED;
}

/* ==== 5. Matching: distances, verification, identification, clustering ================== */

FNET_API float fnet_distance_sq(const float *a, const float *b, int dim) {
    float s = 0.0f;
    int i;
    for (i = 0; i < dim; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}
FNET_API float fnet_distance(const float *a, const float *b, int dim) {
    return sqrtf(fnet_distance_sq(a, b, dim));
}
FNET_API fnet_result fnet_l2_normalize(float *v, int dim) {
    double s = 0.0;
    int i;
    if (!v || dim <= 0) return FNET_ERR_INVALID_ARGUMENT;
    for (i = 0; i < dim; i++) s += (double)v[i] * v[i];
    if (!(s == s) || s > DBL_MAX) return FNET_ERR_NOT_FINITE;
    if (s > 0.0) {
        float inv = (float)(1.0 / sqrt(s));
        for (i = 0; i < dim; i++) v[i] *= inv;
    }
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
