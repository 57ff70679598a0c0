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

/* ==== 4. Embedding network engine ========================================================

   A network is a small op graph stored in the blob (the table below, also in OPS.md), run
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
   NEON: 6 x 16; scalar: 4 x 16). Bias and ReLU are applied when the tile is stored.
   Every SIMD micro-kernel has the scalar twin fnet__tile_scalar(), which defines the result
   (they differ only by float rounding of the sums; tests/test_kernels.c compares them).

   The other ops are memory-bound and simple (scalar loops over contiguous channels).

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
} fnet__node;

typedef struct fnet__net {
    fnet__node *node;
    void *packed_raw; /* one block: packed weights + biases + a zero row */
    const float *zeros;
    size_t act_bytes, scratch_off, work_bytes;
    int out_dim;
    int input_size;   /* H of INPUT when square, else 0 */
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

/* AVX2 + FMA: 6 x 16 tile = 12 ymm accumulators, 2 for the panel row, 1 broadcast. */
FNET__AVX2_FN static void fnet__tile_avx2(const float *const *a, int ma, int nseg, int kc,
                                          const float *b, const float *bias, float *c, int ldc,
                                          int mr, int nc, int relu) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    int s, k;
    for (s = 0; s < nseg; s++) {
        const float *a0 = a[s * ma], *a1 = a[s * ma + 1], *a2 = a[s * ma + 2];
        const float *a3 = a[s * ma + 3], *a4 = a[s * ma + 4], *a5 = a[s * ma + 5];
        for (k = 0; k < kc; k++, b += 16) {
            __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), x;
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
        fnet__tile_store(acc, bias, c, ldc, mr, nc, relu);
    }
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

/* The micro-kernel and its tile height for a kernel set. */
static fnet__tile_fn fnet__tile_for(fnet_isa isa, int *mr) {
#if defined(FNET__X86)
    if (isa == FNET_ISA_AVX2) { *mr = 6; return fnet__tile_avx2; }
    if (isa == FNET_ISA_SSE2) { *mr = 3; return fnet__tile_sse2; }
#endif
#if defined(FNET__NEON)
    if (isa == FNET_ISA_NEON) { *mr = 6; return fnet__tile_neon; }
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

/* Convolution of in (H, W, Cin) with packed weights bp/bias into out (OH, OW, Cout).
   ptrs: scratch for FNET__MR_MAX * KH * KW pointers; zeros: >= Cin zero floats. */
static void fnet__conv(fnet_isa isa, const float *in, int H, int W, int Cin, const fnet__geom *g,
                       int OH, int OW, int Cout, const float *bp, const float *bias,
                       const float *zeros, const float **ptrs, float *out, int relu) {
    int mr_k, m0, M = OH * OW, nseg = g->kh * g->kw;
    int np = (Cout + FNET__NR - 1) / FNET__NR, p;
    size_t panel = (size_t)nseg * Cin * FNET__NR;
    fnet__tile_fn tile = fnet__tile_for(isa, &mr_k);
    for (m0 = 0; m0 < M; m0 += mr_k) {
        int mr = FNET__MIN(mr_k, M - m0), r, ky, kx;
        for (r = 0; r < mr_k; r++) {
            int m = m0 + FNET__MIN(r, mr - 1), oy = m / OW, ox = m % OW, s = 0;
            for (ky = 0; ky < g->kh; ky++) {
                int iy = oy * g->sh - g->pt + ky;
                for (kx = 0; kx < g->kw; kx++, s++) {
                    int ix = ox * g->sw - g->pl + kx;
                    ptrs[s * mr_k + r] = (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                             ? in + ((size_t)iy * W + ix) * Cin : zeros;
                }
            }
        }
        for (p = 0; p < np; p++)
            tile(ptrs, mr_k, nseg, Cin, bp + p * panel, bias + p * FNET__NR,
                 out + (size_t)m0 * Cout + p * FNET__NR, Cout, mr, FNET__MIN(FNET__NR, Cout - p * FNET__NR), relu);
    }
}

/* Pooling over (H, W, C) with zero padding that counts: kind MAXPOOL, AVGPOOL or L2POOL. */
static void fnet__pool(int kind, const float *in, int H, int W, int C, const fnet__geom *g,
                       int OH, int OW, float *out) {
    int oy, ox, ky, kx, c;
    float inv = 1.0f / (float)(g->kh * g->kw);
    for (oy = 0; oy < OH; oy++)
        for (ox = 0; ox < OW; ox++) {
            float *o = out + ((size_t)oy * OW + ox) * C;
            int y0 = oy * g->sh - g->pt, x0 = ox * g->sw - g->pl, padded = 0, first = 1;
            for (ky = 0; ky < g->kh; ky++)
                for (kx = 0; kx < g->kw; kx++) {
                    int iy = y0 + ky, ix = x0 + kx;
                    const float *p;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) { padded = 1; continue; }
                    p = in + ((size_t)iy * W + ix) * C;
                    if (first) {
                        if (kind == FNET__OP_L2POOL) for (c = 0; c < C; c++) o[c] = p[c] * p[c];
                        else for (c = 0; c < C; c++) o[c] = p[c];
                        first = 0;
                    } else if (kind == FNET__OP_MAXPOOL) {
                        for (c = 0; c < C; c++) o[c] = p[c] > o[c] ? p[c] : o[c];
                    } else if (kind == FNET__OP_AVGPOOL) {
                        for (c = 0; c < C; c++) o[c] += p[c];
                    } else {
                        for (c = 0; c < C; c++) o[c] += p[c] * p[c];
                    }
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

/* tf.nn.lrn across channels: out = x / (bias + alpha * sum_{c-r..c+r} x^2)^beta. */
static void fnet__lrn(const float *in, size_t pixels, int C, int radius, float alpha,
                      float beta, float bias, float *out) {
    size_t px;
    int c, k;
    for (px = 0; px < pixels; px++) {
        const float *x = in + px * C;
        float *o = out + px * C;
        for (c = 0; c < C; c++) {
            int lo = FNET__MAX(0, c - radius), hi = FNET__MIN(C - 1, c + radius);
            float s = 0.0f;
            for (k = lo; k <= hi; k++) s += x[k] * x[k];
            o[c] = x[c] / powf(bias + alpha * s, beta);
        }
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
    const fnet__node *a = o->n_in > 0 ? &nd[o->in[0] - i] : NULL; /* nd points at node i */
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
            if (a->c > *zero_len) *zero_len = a->c;
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
        if ((int)a->elems > *zero_len) *zero_len = (int)a->elems;
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

/* Places each op's output in the workspace: first fit among the outputs still live. */
static fnet_result fnet__plan_memory(fnet__net *net, int n) {
    int i, j;
    size_t top = 0;
    int *live = (int *)FNET_MALLOC((size_t)n * sizeof(int)), n_live = 0;
    if (!live) return FNET_ERR_OUT_OF_MEMORY;
    for (i = 0; i < n; i++) {
        fnet__node *nd = &net->node[i];
        size_t need = (nd->elems * sizeof(float) + 63u) & ~(size_t)63u, at = 0;
        int moved = 1;
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
    size_t packed = 0, scratch, pos;
    int i, k, zero_len = 1, max_seg = 1, n = m->n_ops;
    float *pk;
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
    net->scratch_off = net->act_bytes;
    net->work_bytes = net->act_bytes + ((scratch + 63u) & ~(size_t)63u) + 64; /* + alignment slack */
    if (net->work_bytes > FNET__NET_MAX_WORK) return FNET_ERR_TOO_LARGE;
    /* pack the weights: one block, panels first, then the zero row */
    if (packed > ((size_t)-1) / sizeof(float) - (size_t)zero_len - 64) return FNET_ERR_TOO_LARGE;
    pk = (float *)fnet__alloc_aligned((packed + (size_t)zero_len + 16) * sizeof(float), &net->packed_raw);
    if (!pk) return FNET_ERR_OUT_OF_MEMORY;
    pos = 0;
    for (i = 0; i < n; i++) {
        const fnet__op *o = &m->ops[i];
        fnet__node *nd = &net->node[i];
        if (o->type == FNET__OP_CONV || o->type == FNET__OP_DENSE) {
            const fnet__tensor *w = &m->tensors[o->tensor[0]], *b = &m->tensors[o->tensor[1]];
            int cout = nd->c, npc = (cout + FNET__NR - 1) / FNET__NR * FNET__NR;
            int K = (int)(w->count / (size_t)cout);
            fnet__pack_b((const float *)w->data, K, cout, pk + pos);
            nd->bp = pk + pos;
            pos += (size_t)K * npc;
            memset(pk + pos, 0, (size_t)npc * sizeof(float));
            memcpy(pk + pos, b->data, (size_t)cout * sizeof(float));
            nd->bias = pk + pos;
            pos += (size_t)npc;
        }
    }
    memset(pk + pos, 0, ((size_t)zero_len + 16) * sizeof(float));
    net->zeros = pk + pos;
    net->out_dim = (int)net->node[n - 1].elems;
    net->input_size = net->node[0].h == net->node[0].w ? net->node[0].h : 0;
    /* metadata, when present, must agree with the graph */
    if (fnet__meta_long(m, "embedding_dim", net->out_dim) != net->out_dim) return FNET_ERR_CORRUPT;
    if (fnet__meta_long(m, "input_size", net->node[0].h) != net->node[0].h) return FNET_ERR_CORRUPT;
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
FNET_API size_t fnet_embed_workspace_size(const fnet_model *net) {
    const fnet__net *n = fnet__get_net(net);
    return n ? n->work_bytes : 0;
}

/* Runs ops 1..n-1 on the workspace whose INPUT slot is filled; copies the output to out. */
static fnet_result fnet__net_forward(const fnet_model *m, unsigned char *base, float *out) {
    const fnet__net *net = (const fnet__net *)m->stage;
    const float **ptrs = (const float **)(void *)(base + net->scratch_off);
    int i, k;
    size_t e;
    for (i = 1; i < m->n_ops; i++) {
        const fnet__op *o = &m->ops[i];
        const fnet__node *nd = &net->node[i], *a = &net->node[o->in[0]];
        const float *x = (const float *)(void *)(base + a->off);
        float *y = (float *)(void *)(base + nd->off);
        fnet__geom g;
        g.kh = o->ip[0]; g.kw = o->ip[1]; g.sh = o->ip[2]; g.sw = o->ip[3];
        g.pt = o->ip[4]; g.pl = o->ip[5]; g.pb = o->ip[6]; g.pr = o->ip[7];
        switch (o->type) {
        case FNET__OP_CONV:
            fnet__conv(m->isa, x, a->h, a->w, a->c, &g, nd->h, nd->w, nd->c, nd->bp, nd->bias,
                       net->zeros, ptrs, y, o->flags & 1);
            break;
        case FNET__OP_DENSE:
            g.kh = g.kw = g.sh = g.sw = 1; g.pt = g.pl = g.pb = g.pr = 0;
            fnet__conv(m->isa, x, 1, 1, (int)a->elems, &g, 1, 1, nd->c, nd->bp, nd->bias,
                       net->zeros, ptrs, y, o->flags & 1);
            break;
        case FNET__OP_MAXPOOL: case FNET__OP_AVGPOOL: case FNET__OP_L2POOL:
            fnet__pool(o->type, x, a->h, a->w, a->c, &g, nd->h, nd->w, y);
            break;
        case FNET__OP_LRN:
            fnet__lrn(x, (size_t)a->h * a->w, a->c, o->ip[0], o->fp[0], o->fp[1], o->fp[2], y);
            break;
        case FNET__OP_CONCAT: {
            size_t px, npx = (size_t)nd->h * nd->w;
            int c0 = 0;
            for (k = 0; k < o->n_in; k++) {
                const fnet__node *b = &net->node[o->in[k]];
                const float *bx = (const float *)(void *)(base + b->off);
                for (px = 0; px < npx; px++)
                    memcpy(y + px * nd->c + c0, bx + px * b->c, (size_t)b->c * sizeof(float));
                c0 += b->c;
            }
            break;
        }
        case FNET__OP_L2NORM: {
            double s = 0.0, eps = o->fp[0];
            float inv;
            for (e = 0; e < nd->elems; e++) s += (double)x[e] * x[e];
            inv = (float)(1.0 / sqrt(s > eps ? s : eps));
            for (e = 0; e < nd->elems; e++) y[e] = x[e] * inv;
            break;
        }
        case FNET__OP_ADD: {
            const fnet__node *b = &net->node[o->in[1]];
            const float *bx = (const float *)(void *)(base + b->off);
            size_t px, npx = (size_t)nd->h * nd->w;
            int c, relu = o->flags & 1;
            for (px = 0; px < npx; px++) {
                const float *xa = x + px * nd->c, *xb = bx + px * b->c;
                float *yo = y + px * nd->c;
                for (c = 0; c < nd->c; c++) {
                    float v = xa[c] + (c < b->c ? xb[c] : 0.0f);
                    yo[c] = (relu && v < 0.0f) ? 0.0f : v;
                }
            }
            break;
        }
        case FNET__OP_GAP: {
            size_t px, npx = (size_t)a->h * a->w;
            int c;
            for (c = 0; c < nd->c; c++) {
                double s = 0.0;
                for (px = 0; px < npx; px++) s += x[px * nd->c + c];
                y[c] = (float)(s / (double)npx);
            }
            break;
        }
        case FNET__OP_PAD: {
            int yy;
            memset(y, 0, nd->elems * sizeof(float));
            for (yy = 0; yy < a->h; yy++)
                memcpy(y + ((size_t)(yy + o->ip[0]) * nd->w + o->ip[1]) * nd->c,
                       x + (size_t)yy * a->w * a->c, (size_t)a->w * a->c * sizeof(float));
            break;
        }
        default: /* RELU */
            for (e = 0; e < nd->elems; e++) y[e] = x[e] > 0.0f ? x[e] : 0.0f;
            break;
        }
    }
    {
        const fnet__node *last = &net->node[m->n_ops - 1];
        const float *y = (const float *)(void *)(base + last->off);
        for (e = 0; e < last->elems; e++)
            if (!fnet__finite(y[e])) return FNET_ERR_NOT_FINITE;
        memcpy(out, y, last->elems * sizeof(float));
    }
    return FNET_OK;
}

/* Shared by fnet_embed and fnet_embed_tensor: exactly one of rgb / tensor is non-NULL. */
static fnet_result fnet__embed_run(const fnet_model *m, const unsigned char *rgb,
                                   const float *tensor, void *work, size_t work_size, float *out) {
    const fnet__net *net;
    fnet__arena ar;
    void *own = NULL;
    fnet_result r;
    float *x;
    size_t e, n;
    if (!m || !out || (!rgb && !tensor)) return FNET_ERR_INVALID_ARGUMENT;
    net = fnet__get_net(m);
    if (!net) return FNET_ERR_WRONG_MODEL;
    if (rgb && net->input_size == 0) return FNET_ERR_UNSUPPORTED;
    r = fnet__arena_init(&ar, work, work_size, net->work_bytes, &own);
    if (r != FNET_OK) return r;
    if (ar.size < net->act_bytes + (net->work_bytes - 64 - net->act_bytes)) {
        FNET_FREE(own);
        return FNET_ERR_WORKSPACE_TOO_SMALL;
    }
    x = (float *)(void *)(ar.base + net->node[0].off);
    n = net->node[0].elems;
    if (tensor) {
        for (e = 0; e < n; e++) {
            if (!fnet__finite(tensor[e])) { FNET_FREE(own); return FNET_ERR_NOT_FINITE; }
            x[e] = tensor[e];
        }
    } else {
        const fnet__op *o = &m->ops[0];
        for (e = 0; e < n; e++) x[e] = ((float)rgb[e] - o->fp[1 + e % 3]) / o->fp[0];
    }
    r = fnet__net_forward(m, ar.base, out);
    FNET_FREE(own);
    return r;
}

FNET_API fnet_result fnet_embed(const fnet_model *net, const unsigned char *aligned_rgb,
                                void *work, size_t work_size, float *out) {
    if (!aligned_rgb) return FNET_ERR_INVALID_ARGUMENT;
    return fnet__embed_run(net, aligned_rgb, NULL, work, work_size, out);
}
FNET_API fnet_result fnet_embed_tensor(const fnet_model *net, const float *input_hwc,
                                       void *work, size_t work_size, float *out) {
    if (!input_hwc) return FNET_ERR_INVALID_ARGUMENT;
    return fnet__embed_run(net, NULL, input_hwc, work, work_size, out);
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
