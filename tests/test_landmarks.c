/* 68-point landmarks (facenet.h section 2) against dlib's own shape_predictor.

   Goldens (tools/reference/dlib_ref_landmarks.cpp, make golden-landmarks): dlib's points on dlib's
   boxes for the shared photos (tests/golden/dlib_landmarks_up1.jsonl) and on LFPW
   (dlib_landmarks_lfpw.jsonl). Our unrounded points, rounded as dlib rounds
   (floor(x + 0.5)), must equal dlib's for >= 99.5% of points and be within 1 px for all.
   On LFPW our NME (mean point error / outer-eye-corner distance) must equal dlib's to 3
   decimals. The compact blobs (landmarks68_f16/_i16.fnet, when built) report their errors.
   Also: every SIMD kernel against its scalar twin, bad inputs, damaged blobs, threads. */
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "fnet_test.h"
#include <math.h>
#include <pthread.h>
#include "../examples/image_load.h"

typedef struct golden_face {
    fnet_box box;
    int pts[136];
} golden_face;

/* Parses "box":[l,t,r,b] and "points":[136 ints] after *s; returns 1 and advances. */
static int next_face(const char **s, golden_face *f) {
    const char *p = strstr(*s, "\"box\":[");
    char *e;
    int k;
    if (!p) return 0;
    p += 7;
    f->box.left = (int)strtol(p, &e, 10); p = e + 1;
    f->box.top = (int)strtol(p, &e, 10); p = e + 1;
    f->box.right = (int)strtol(p, &e, 10); p = e + 1;
    f->box.bottom = (int)strtol(p, &e, 10);
    f->box.score = 0; f->box.filter = 0;
    p = strstr(e, "\"points\":[");
    if (!p) return 0;
    p += 10;
    for (k = 0; k < 136; k++) {
        f->pts[k] = (int)strtol(p, &e, 10);
        p = e + 1;
    }
    *s = p;
    return 1;
}

static int json_str(const char *line, const char *key, char *out, size_t cap) {
    char pat[64];
    const char *p, *q;
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    p = strstr(line, pat);
    if (!p) return 0;
    p += strlen(pat);
    q = strchr(p, '"');
    if (!q || (size_t)(q - p) >= cap) return 0;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = 0;
    return 1;
}

static unsigned char *load_rgb(const char *rel, int *w, int *h) {
    char path[4096];
    const char *root = shared_path("data");
    if (!root) return NULL;
    snprintf(path, sizeof path, "%s/%s", root, rel);
    return il_load_pixels(path, 3, w, h, NULL, 0);
}

static int rnd(float v) { return (int)floor((double)v + 0.5); }

/* Stats of one model against dlib's points. */
typedef struct stats {
    long n_pts, n_same, n_far;
    double max_err, sum_err;
} stats;

static void compare(stats *st, const fnet_point *p, const int *want) {
    int k;
    for (k = 0; k < 68; k++) {
        int dx = rnd(p[k].x) - want[2 * k], dy = rnd(p[k].y) - want[2 * k + 1];
        double ex = p[k].x - want[2 * k], ey = p[k].y - want[2 * k + 1];
        double e = sqrt(ex * ex + ey * ey);
        st->n_pts++;
        st->n_same += dx == 0 && dy == 0;
        if ((dx || dy) && getenv("FNET_TEST_VERBOSE"))
            fprintf(stderr, "point %d: ours %.6f,%.6f dlib %d,%d\n", k, p[k].x, p[k].y, want[2 * k], want[2 * k + 1]);
        st->n_far += abs(dx) > 1 || abs(dy) > 1;
        st->sum_err += e;
        if (e > st->max_err) st->max_err = e;
    }
}

#define N_MODELS 3
static const char *const model_names[N_MODELS] = {"landmarks68.fnet", "landmarks68_f16.fnet", "landmarks68_i16.fnet"};

static void test_photos(fnet_model **models) {
    size_t size;
    char *txt, *line, *nl;
    const char *g = "tests/golden/dlib_landmarks_up1.jsonl";
    int sanitized = getenv("FNET_TEST_SANITIZED") != NULL, img_i = 0, mi, images = 0;
    stats st[N_MODELS];
    /* full precision against the compact variants: the error quantisation costs */
    stats cst[N_MODELS];
    memset(st, 0, sizeof st);
    memset(cst, 0, sizeof cst);
    txt = (char *)test_read_file(g, &size);
    if (!txt) { CHECK(0, "cannot read %s", g); return; }
    if (!shared_path("data/dlib-examples")) { SKIP("../shared/data absent: photo goldens not checked"); free(txt); return; }
    txt[size] = 0;
    for (line = txt; line && *line; line = nl) {
        char rel[1024];
        const char *s;
        unsigned char *px;
        int w, h;
        golden_face f;
        nl = strchr(line, '\n');
        if (nl) *nl++ = 0;
        if (!json_str(line, "image", rel, sizeof rel)) continue;
        if (sanitized && (img_i++ % 8) != 0) continue; /* a subset under ASan */
        px = load_rgb(rel, &w, &h);
        if (!px) { CHECK(0, "cannot load %s", rel); continue; }
        images++;
        for (s = line; next_face(&s, &f);) {
            fnet_point p[N_MODELS][68];
            fnet_image im = fnet_image_view(px, w, h, 3, 0);
            for (mi = 0; mi < N_MODELS; mi++) {
                int k;
                if (!models[mi]) continue;
                CHECK(fnet_landmarks(models[mi], im, f.box, p[mi]) == FNET_OK, "%s: landmarks", rel);
                compare(&st[mi], p[mi], f.pts);
                if (mi) {
                    int ref[136];
                    for (k = 0; k < 68; k++) { ref[2 * k] = rnd(p[0][k].x); ref[2 * k + 1] = rnd(p[0][k].y); }
                    compare(&cst[mi], p[mi], ref);
                }
            }
        }
        stbi_image_free(px);
    }
    free(txt);
    for (mi = 0; mi < N_MODELS; mi++) {
        if (!models[mi]) continue;
        printf("%-22s photos: %d images, %ld points: %.3f%% identical to dlib after rounding, %ld > 1 px, "
               "mean |unrounded - dlib| %.3f px, max %.3f px\n", model_names[mi], images, st[mi].n_pts,
               100.0 * st[mi].n_same / (st[mi].n_pts ? st[mi].n_pts : 1), st[mi].n_far,
               st[mi].sum_err / (st[mi].n_pts ? st[mi].n_pts : 1), st[mi].max_err);
        if (mi)
            printf("%-22s vs full precision (rounded): %.3f%% identical, mean %.3f px, max %.3f px\n",
                   model_names[mi], 100.0 * cst[mi].n_same / (cst[mi].n_pts ? cst[mi].n_pts : 1),
                   cst[mi].sum_err / (cst[mi].n_pts ? cst[mi].n_pts : 1), cst[mi].max_err);
    }
    CHECK(st[0].n_pts >= 68 * (sanitized ? 20 : 300), "too few golden points: %ld", st[0].n_pts);
    CHECK(st[0].n_same == st[0].n_pts, "identical points %ld of %ld (achieved: all)", st[0].n_same, st[0].n_pts);
    CHECK(st[0].n_far == 0, "%ld points more than 1 px from dlib's", st[0].n_far);
    /* the compact blobs: judged by their largest point error on the photos (achieved: f16
       27.6 px, i16 17.0 px; allowed 10% more) and their share of points identical after
       rounding (achieved 82.2% and 84.7% of all photos; allowed 1 point less). Both on the
       full native run only, where they were measured: the subset run (sanitizers, and
       make portable's qemu builds) reports them. Open: under qemu-s390x the unrounded
       errors come out different (full precision mean 0.001 px instead of 0.383, f16 max
       573 px) while every rounded point equals aarch64's; not understood yet. */
    if (models[1]) {
        CHECK(sanitized || st[1].max_err <= 30.4, "landmarks68_f16: max point error %.2f px > 30.4", st[1].max_err);
        CHECK(sanitized || st[1].n_same >= 0.81 * st[1].n_pts, "landmarks68_f16: %ld of %ld points identical (< 81%%)", st[1].n_same, st[1].n_pts);
    }
    if (models[2]) {
        CHECK(sanitized || st[2].max_err <= 18.7, "landmarks68_i16: max point error %.2f px > 18.7", st[2].max_err);
        CHECK(sanitized || st[2].n_same >= 0.83 * st[2].n_pts, "landmarks68_i16: %ld of %ld points identical (< 83%%)", st[2].n_same, st[2].n_pts);
    }
}

static int read_pts(const char *rel, double *gt) {
    char path[4096];
    const char *root = shared_path("data");
    FILE *fp;
    char tok[64];
    int k;
    if (!root) return 0;
    snprintf(path, sizeof path, "%s/%s", root, rel);
    fp = fopen(path, "r");
    if (!fp) return 0;
    while (fscanf(fp, "%63s", tok) == 1 && strcmp(tok, "{") != 0) {}
    for (k = 0; k < 136; k++)
        if (fscanf(fp, "%lf", &gt[k]) != 1) { fclose(fp); return 0; }
    fclose(fp);
    return 1;
}

static void test_lfpw(fnet_model **models) {
    size_t size;
    char *txt, *line, *nl;
    const char *g = "tests/golden/dlib_landmarks_lfpw.jsonl";
    double nme[N_MODELS + 1] = {0}, nme_unrounded[N_MODELS] = {0};
    int n = 0, mi, sanitized = getenv("FNET_TEST_SANITIZED") != NULL, idx = 0;
    stats st;
    memset(&st, 0, sizeof st);
    if (!shared_path("data/lfpw-test68")) { SKIP("../shared/data/lfpw-test68 absent: NME not checked"); return; }
    txt = (char *)test_read_file(g, &size);
    if (!txt) { CHECK(0, "cannot read %s", g); return; }
    txt[size] = 0;
    for (line = txt; line && *line; line = nl) {
        char rel[1024], pts[1024];
        const char *s;
        unsigned char *px;
        int w, h, k;
        double gt[136], iod;
        golden_face f;
        nl = strchr(line, '\n');
        if (nl) *nl++ = 0;
        if (!json_str(line, "image", rel, sizeof rel)) continue;
        if (sanitized && (idx++ % 8) != 0) continue;
        snprintf(pts, sizeof pts, "%.*s.pts", (int)strlen(rel) - 4, rel);
        s = line;
        if (!read_pts(pts, gt) || !next_face(&s, &f)) { CHECK(0, "%s: no ground truth or golden", rel); continue; }
        px = load_rgb(rel, &w, &h);
        if (!px) { CHECK(0, "cannot load %s", rel); continue; }
        iod = hypot(gt[72] - gt[90], gt[73] - gt[91]);
        {   double e = 0;
            for (k = 0; k < 68; k++) e += hypot(f.pts[2 * k] - gt[2 * k], f.pts[2 * k + 1] - gt[2 * k + 1]);
            nme[N_MODELS] += e / 68 / iod; }
        for (mi = 0; mi < N_MODELS; mi++) {
            fnet_point p[68];
            double e = 0, eu = 0;
            if (!models[mi]) continue;
            CHECK(fnet_landmarks(models[mi], fnet_image_view(px, w, h, 3, 0), f.box, p) == FNET_OK, "%s", rel);
            for (k = 0; k < 68; k++) {
                e += hypot(rnd(p[k].x) - gt[2 * k], rnd(p[k].y) - gt[2 * k + 1]);
                eu += hypot(p[k].x - gt[2 * k], p[k].y - gt[2 * k + 1]);
            }
            nme[mi] += e / 68 / iod;
            nme_unrounded[mi] += eu / 68 / iod;
            if (mi == 0) compare(&st, p, f.pts);
        }
        n++;
        stbi_image_free(px);
    }
    free(txt);
    if (!n) { CHECK(0, "no LFPW images"); return; }
    printf("LFPW (%d images, dlib's boxes; ground-truth boxes where dlib finds none): dlib NME %.6f\n", n,
           nme[N_MODELS] / n);
    for (mi = 0; mi < N_MODELS; mi++)
        if (models[mi])
            printf("%-22s LFPW NME %.6f (rounded as dlib), %.6f unrounded\n", model_names[mi], nme[mi] / n,
                   nme_unrounded[mi] / n);
    printf("landmarks68.fnet LFPW points identical to dlib: %.3f%%\n", 100.0 * st.n_same / st.n_pts);
    CHECK(fabs(nme[0] / n - nme[N_MODELS] / n) < 0.0005 &&
          floor(nme[0] / n * 1000 + 0.5) == floor(nme[N_MODELS] / n * 1000 + 0.5),
          "NME ours %.6f vs dlib %.6f differ at 3 decimals", nme[0] / n, nme[N_MODELS] / n);
    CHECK(st.n_far == 0, "LFPW: %ld points more than 1 px from dlib's", st.n_far);
    CHECK(st.n_same == st.n_pts, "LFPW: %ld of %ld points identical to dlib's (achieved: all)", st.n_same, st.n_pts);
    /* the compact blobs: LFPW NME within 5e-4 of dlib's (achieved: f16 -8.3e-5, i16 +1.3e-5) */
    for (mi = 1; mi < N_MODELS; mi++)
        if (models[mi])
            CHECK(fabs(nme[mi] / n - nme[N_MODELS] / n) <= 5e-4, "%s: LFPW NME %.6f vs dlib %.6f (allowed 5e-4)",
                  model_names[mi], nme[mi] / n, nme[N_MODELS] / n);
}

/* Every SIMD kernel against its scalar twin: bit-identical sums, odd lengths. */
static void test_kernels(void) {
    float a[64], b[64], c[64], v[64];
    unsigned short hv[64];
    short qv[64];
    int n, k, isa;
    unsigned s = 12345;
    for (k = 0; k < 64; k++) {
        s = s * 1103515245u + 12345u;
        v[k] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 3.0f;
        a[k] = (float)k * 0.37f - 5.0f;
        hv[k] = (unsigned short)(s >> 13);
        if ((hv[k] & 0x7c00u) == 0x7c00u) hv[k] &= 0xbfffu; /* no inf/NaN */
        qv[k] = (short)(s >> 16);
    }
    hv[0] = 0x0001; hv[1] = 0x83ff; hv[2] = 0x0000; hv[3] = 0x8000; /* subnormals and zeros */
    CHECK(fnet__lm_half(0x3c00) == 1.0f && fnet__lm_half(0xc000) == -2.0f && fnet__lm_half(0x0001) == ldexpf(1, -24) &&
          fnet__lm_half(0x7bff) == 65504.0f, "half conversion");
    for (k = 0; k < 65536; k++) {
        if ((k & 0x7c00) == 0x7c00) continue;
        if (fnet__lm_half((unsigned short)k) != fnet__f16_to_f32((unsigned)k)) { CHECK(0, "half %04x", k); break; }
    }
    for (isa = FNET_ISA_SSE2; isa <= FNET_ISA_WASM_SIMD; isa++) {
        if (!fnet_isa_supported((fnet_isa)isa)) continue;
        for (n = 1; n <= 41; n += 4) {
            fnet__lm lm;
            memset(&lm, 0, sizeof lm);
            lm.n_points = (n + 1) / 2;
            /* leaf of 2N values through the dispatcher */
            lm.leaf_dtype = FNET__F32;
            memcpy(b, a, sizeof a); memcpy(c, a, sizeof a);
            fnet__lm_add_leaf(FNET_ISA_SCALAR, &lm, b, (const unsigned char *)v, 1.0f);
            fnet__lm_add_leaf((fnet_isa)isa, &lm, c, (const unsigned char *)v, 1.0f);
            CHECK(memcmp(b, c, sizeof b) == 0, "f32 kernel %s n=%d", fnet_isa_name((fnet_isa)isa), 2 * lm.n_points);
            lm.leaf_dtype = FNET__F16;
            memcpy(b, a, sizeof a); memcpy(c, a, sizeof a);
            fnet__lm_add_leaf(FNET_ISA_SCALAR, &lm, b, (const unsigned char *)hv, 1.0f);
            fnet__lm_add_leaf((fnet_isa)isa, &lm, c, (const unsigned char *)hv, 1.0f);
            CHECK(memcmp(b, c, sizeof b) == 0, "f16 kernel %s n=%d", fnet_isa_name((fnet_isa)isa), 2 * lm.n_points);
            lm.leaf_dtype = FNET__I16;
            memcpy(b, a, sizeof a); memcpy(c, a, sizeof a);
            fnet__lm_add_leaf(FNET_ISA_SCALAR, &lm, b, (const unsigned char *)qv, 3.0517578e-5f * 0.7f);
            fnet__lm_add_leaf((fnet_isa)isa, &lm, c, (const unsigned char *)qv, 3.0517578e-5f * 0.7f);
            CHECK(memcmp(b, c, sizeof b) == 0, "i16 kernel %s n=%d", fnet_isa_name((fnet_isa)isa), 2 * lm.n_points);
        }
    }
}

typedef struct thread_arg {
    const fnet_model *m;
    fnet_image im;
    fnet_box box;
    fnet_point p[68];
    int ok;
} thread_arg;
static void *thread_run(void *a_) {
    thread_arg *a = (thread_arg *)a_;
    int i;
    a->ok = 1;
    for (i = 0; i < 20; i++) {
        fnet_point q[68];
        if (fnet_landmarks(a->m, a->im, a->box, q) != FNET_OK || memcmp(q, a->p, sizeof q) != 0) a->ok = 0;
    }
    return NULL;
}

static void test_bad_input_and_paths(fnet_model *m, const char *blob_path) {
    unsigned char px[16 * 16 * 4];
    fnet_point p[68], q[68];
    fnet_box box = {2, 2, 13, 13, 0, 0};
    fnet_image im;
    int k, isa;
    for (k = 0; k < (int)sizeof px; k++) px[k] = (unsigned char)(k * 37 + (k >> 4) * 11);
    im = fnet_image_view(px, 16, 16, 3, 0);
    CHECK(fnet_landmarks_count(m) == 68, "68 points");
    CHECK(fnet_landmarks_count(NULL) == 0, "count of NULL");
    CHECK(fnet_landmarks(NULL, im, box, p) == FNET_ERR_INVALID_ARGUMENT, "NULL model");
    CHECK(fnet_landmarks(m, im, box, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL points");
    CHECK(fnet_landmarks(m, fnet_image_view(NULL, 16, 16, 3, 0), box, p) == FNET_ERR_BAD_IMAGE, "NULL pixels");
    CHECK(fnet_landmarks(m, fnet_image_view(px, 0, 0, 3, 0), box, p) == FNET_ERR_BAD_IMAGE, "0x0 image");
    CHECK(fnet_landmarks(m, fnet_image_view(px, 16, 16, 2, 0), box, p) == FNET_ERR_BAD_IMAGE, "2 channels");
    CHECK(fnet_landmarks(m, fnet_image_view(px, 16, 16, 3, 10), box, p) == FNET_ERR_BAD_IMAGE, "short stride");
    CHECK(fnet_landmarks(m, fnet_image_view(px, 20000, 1, 1, 0), box, p) == FNET_ERR_IMAGE_TOO_LARGE, "huge image");
    {   fnet_box e = {10, 2, 9, 13, 0, 0};
        CHECK(fnet_landmarks(m, im, e, p) == FNET_ERR_INVALID_ARGUMENT, "empty box (right < left)");
        e.left = 2; e.right = 13; e.top = 5; e.bottom = 4;
        CHECK(fnet_landmarks(m, im, e, p) == FNET_ERR_INVALID_ARGUMENT, "empty box (bottom < top)");
        e.top = 0; e.bottom = 2000000000;
        CHECK(fnet_landmarks(m, im, e, p) == FNET_ERR_INVALID_ARGUMENT, "box coordinates beyond any image"); }
    {   /* a one-pixel box is a box: defined, finite points */
        fnet_box one = {5, 5, 5, 5, 0, 0};
        CHECK(fnet_landmarks(m, im, one, p) == FNET_OK, "1-pixel box");
        for (k = 0; k < 68; k++) CHECK(p[k].x == 5.0f && p[k].y == 5.0f, "1-pixel box: every point on it"); }
    {   /* a box wholly outside the image reads only zeros: as a black image under the box */
        fnet_box out = {1000, 1200, 1150, 1350, 0, 0};
        unsigned char *black = (unsigned char *)calloc((size_t)1400 * 1400, 1);
        CHECK(fnet_landmarks(m, fnet_image_view(px, 1, 1, 3, 0), out, p) == FNET_OK, "box outside a 1x1 image");
        CHECK(black && fnet_landmarks(m, fnet_image_view(black, 1400, 1400, 1, 0), out, q) == FNET_OK, "black image");
        CHECK(memcmp(p, q, sizeof p) == 0, "outside pixels read as 0");
        for (k = 0; k < 68; k++) CHECK(p[k].x > 1000 && p[k].x < 1150 && p[k].y > 1190 && p[k].y < 1370, "mean-ish shape in box");
        free(black); }
    /* gray, RGB and RGBA views of the same gray picture give the same points */
    {   unsigned char g[16 * 16], rgb[16 * 16 * 3], rgba[16 * 16 * 4];
        fnet_point pg[68], pc[68], pa[68];
        for (k = 0; k < 256; k++) {
            g[k] = px[k];
            rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = g[k];
            rgba[4 * k] = rgba[4 * k + 1] = rgba[4 * k + 2] = g[k];
            rgba[4 * k + 3] = (unsigned char)(k * 7);
        }
        CHECK(fnet_landmarks(m, fnet_image_view(g, 16, 16, 1, 0), box, pg) == FNET_OK &&
              fnet_landmarks(m, fnet_image_view(rgb, 16, 16, 3, 0), box, pc) == FNET_OK &&
              fnet_landmarks(m, fnet_image_view(rgba, 16, 16, 4, 0), box, pa) == FNET_OK, "gray/rgb/rgba");
        CHECK(memcmp(pg, pc, sizeof pg) == 0 && memcmp(pg, pa, sizeof pg) == 0, "gray = rgb = rgba (alpha ignored)");
        /* (r+g+b)/3 as dlib: a colour picture against its gray conversion */
        for (k = 0; k < 256; k++) g[k] = (unsigned char)(((unsigned)px[3 * k] + px[3 * k + 1] + px[3 * k + 2]) / 3u);
        CHECK(fnet_landmarks(m, im, box, pc) == FNET_OK && fnet_landmarks(m, fnet_image_view(g, 16, 16, 1, 0), box, pg) == FNET_OK &&
              memcmp(pg, pc, sizeof pg) == 0, "RGB reads as (r+g+b)/3"); }
    /* every kernel set gives bit-identical points */
    CHECK(fnet_landmarks(m, im, box, p) == FNET_OK, "reference run");
    for (isa = FNET_ISA_SCALAR; isa <= FNET_ISA_WASM_SIMD; isa++) {
        if (!fnet_isa_supported((fnet_isa)isa)) continue;
        CHECK(fnet_model_set_isa(m, (fnet_isa)isa) == FNET_OK, "set isa");
        CHECK(fnet_landmarks(m, im, box, q) == FNET_OK && memcmp(p, q, sizeof p) == 0, "isa %s differs",
              fnet_isa_name((fnet_isa)isa));
    }
    fnet_model_set_isa(m, FNET_ISA_AUTO);
    /* threads sharing the model */
    {   thread_arg a[3];
        pthread_t th[3];
        for (k = 0; k < 3; k++) {
            a[k].m = m; a[k].im = im; a[k].box = box; memcpy(a[k].p, p, sizeof p);
            pthread_create(&th[k], NULL, thread_run, &a[k]);
        }
        for (k = 0; k < 3; k++) { pthread_join(th[k], NULL); CHECK(a[k].ok, "thread %d", k); } }
    /* copy load (unaligned), and damaged blobs: indices out of range are refused at load */
    {   size_t size;
        unsigned char *raw = test_read_file(blob_path, &size), *al;
        fnet_model *m2 = NULL;
        if (!raw) { CHECK(0, "read blob"); return; }
        al = (unsigned char *)malloc(size + 65);
        if (!al) { free(raw); return; }
        {   unsigned char *base = al + (64 - ((size_t)al & 63)) % 64 + 1; /* misaligned by 1 */
            memcpy(base, raw, size);
            CHECK(fnet_model_load_memory(base, size, &m2) == FNET_OK, "unaligned load");
            CHECK(m2 && !fnet_model_is_zero_copy(m2), "unaligned load copies");
            CHECK(m2 && fnet_landmarks(m2, im, box, q) == FNET_OK && memcmp(p, q, sizeof p) == 0, "copied model: same points");
            fnet_model_free(m2);
            m2 = NULL;
            base = al + (64 - ((size_t)al & 63)) % 64;
            memcpy(base, raw, size);
            if (fnet_model_load_memory(base, size, &m2) == FNET_OK) {
                const fnet__tensor *si = fnet__find_tensor(m2, "split_idx"), *an = fnet__find_tensor(m2, "anchor_idx");
                size_t so = (size_t)((const unsigned char *)si->data - m2->blob), ao = (size_t)((const unsigned char *)an->data - m2->blob); /* m2->blob: base, or the copy of big-endian hosts (same layout) */
                fnet_model *m3 = NULL;
                CHECK(fnet_model_is_zero_copy(m2) || !fnet__host_is_little_endian(),
                      "aligned load is zero-copy (big-endian hosts copy and swap)");
                fnet_model_free(m2);
                base[so + 2 * 777] = 0xF4; base[so + 2 * 777 + 1] = 0x01; /* split index 500 */
                CHECK(fnet_model_load_memory(base, size, &m3) == FNET_ERR_CORRUPT, "split index beyond the pool");
                fnet_model_free(m3); m3 = NULL;
                memcpy(base, raw, size);
                base[ao + 2 * 5] = 68; base[ao + 2 * 5 + 1] = 0; /* anchor 68 */
                CHECK(fnet_model_load_memory(base, size, &m3) == FNET_ERR_CORRUPT, "anchor beyond the points");
                fnet_model_free(m3);
            } else CHECK(0, "aligned load"); }
        free(al);
        free(raw); }
    {   const char *det = weights_path("hog_frontal.fnet");
        fnet_model *dm = NULL;
        if (det && fnet_model_load_file(det, &dm) == FNET_OK) {
            CHECK(fnet_landmarks(dm, im, box, p) == FNET_ERR_WRONG_MODEL, "detector blob refused");
            CHECK(fnet_landmarks_count(dm) == 0, "count of a detector");
            fnet_model_free(dm);
        } else SKIP("hog_frontal.fnet absent: wrong-model check skipped"); }
}


/* fnet_align's C contract (the pixels are checked against OpenCV/numpy in test_align.py). */
static void test_align_api(void) {
    unsigned char px[32 * 32 * 3], out[96 * 96 * 3], out2[96 * 96 * 3];
    fnet_point p[68];
    int idx[40], k, n;
    fnet_image im = fnet_image_view(px, 32, 32, 3, 0);
    for (k = 0; k < (int)sizeof px; k++) px[k] = (unsigned char)(k * 13);
    for (k = 0; k < 68; k++) { p[k].x = 8.0f + (float)(k % 9) * 2.0f; p[k].y = 6.0f + (float)(k / 9) * 2.5f; }
    n = fnet_align_indices(FNET_ALIGN_OUTER_EYES_AND_NOSE, idx, 40);
    CHECK(n == 3 && idx[0] == 36 && idx[1] == 45 && idx[2] == 33, "outer eyes and nose indices");
    n = fnet_align_indices(FNET_ALIGN_INNER_EYES_AND_BOTTOM_LIP, idx, 40);
    CHECK(n == 3 && idx[0] == 39 && idx[1] == 42 && idx[2] == 57, "inner eyes and bottom lip indices");
    n = fnet_align_indices(FNET_ALIGN_DLIB_CHIP, idx, 40);
    CHECK(n == 33 && idx[0] == 27 && idx[32] == 64, "dlib chip indices (17..67 without brows and lower lip)");
    CHECK(fnet_align_indices(FNET_ALIGN_DLIB_CHIP, NULL, 0) == 33 && fnet_align_indices((fnet_align_kind)9, idx, 40) == 0, "count only / unknown kind");
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, out) == FNET_OK, "align ok");
    CHECK(fnet_align(im, NULL, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, out) == FNET_ERR_INVALID_ARGUMENT, "NULL points");
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL output");
    CHECK(fnet_align(im, p, 5, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, out) == FNET_ERR_INVALID_ARGUMENT, "5 points");
    CHECK(fnet_align(im, p, 68, (fnet_align_kind)0, 96, out) == FNET_ERR_INVALID_ARGUMENT, "unknown kind");
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_DLIB_CHIP, 0, out) == FNET_ERR_INVALID_ARGUMENT, "size 0");
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_DLIB_CHIP, 100000, out) == FNET_ERR_INVALID_ARGUMENT, "huge size");
    CHECK(fnet_align(fnet_image_view(NULL, 32, 32, 3, 0), p, 68, FNET_ALIGN_DLIB_CHIP, 96, out) == FNET_ERR_BAD_IMAGE, "no pixels");
    p[36].x = NAN;
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, out) == FNET_ERR_NOT_FINITE, "NaN point");
    p[36].x = 1e30f;
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, out) == FNET_ERR_INVALID_ARGUMENT, "huge point");
    for (k = 0; k < 68; k++) p[k].x = p[k].y = 5.0f; /* all points on one pixel */
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, out) == FNET_ERR_INVALID_ARGUMENT, "coincident points (OpenFace)");
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_DLIB_CHIP, 96, out) == FNET_ERR_INVALID_ARGUMENT, "coincident points (chip)");
    /* points far outside the image: a black crop, not a crash */
    for (k = 0; k < 68; k++) { p[k].x = 5000.0f + (float)(k % 9) * 20.0f; p[k].y = 5000.0f + (float)(k / 9) * 25.0f; }
    memset(out2, 0, sizeof out2);
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_DLIB_CHIP, 96, out) == FNET_OK && memcmp(out, out2, sizeof out) == 0, "outside: black chip");
    CHECK(fnet_align(im, p, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, out) == FNET_OK && memcmp(out, out2, sizeof out) == 0, "outside: black crop");
    /* gray and RGBA inputs give the same crop as their RGB expansion */
    {   unsigned char g[32 * 32], rgb[32 * 32 * 3], rgba[32 * 32 * 4];
        for (k = 0; k < 68; k++) { p[k].x = 8.0f + (float)(k % 9) * 2.0f; p[k].y = 6.0f + (float)(k / 9) * 2.5f; }
        for (k = 0; k < 32 * 32; k++) {
            g[k] = (unsigned char)(k * 7);
            rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = g[k];
            rgba[4 * k] = rgb[3 * k]; rgba[4 * k + 1] = rgb[3 * k + 1]; rgba[4 * k + 2] = rgb[3 * k + 2]; rgba[4 * k + 3] = 9;
        }
        CHECK(fnet_align(fnet_image_view(g, 32, 32, 1, 0), p, 68, FNET_ALIGN_DLIB_CHIP, 96, out) == FNET_OK &&
              fnet_align(fnet_image_view(rgb, 32, 32, 3, 0), p, 68, FNET_ALIGN_DLIB_CHIP, 96, out2) == FNET_OK &&
              memcmp(out, out2, sizeof out) == 0, "gray = rgb");
        CHECK(fnet_align(fnet_image_view(rgba, 32, 32, 4, 0), p, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, out) == FNET_OK &&
              fnet_align(fnet_image_view(rgb, 32, 32, 3, 0), p, 68, FNET_ALIGN_OUTER_EYES_AND_NOSE, 96, out2) == FNET_OK &&
              memcmp(out, out2, sizeof out) == 0, "rgba = rgb"); }
}

int main(void) {
    fnet_model *models[N_MODELS] = {NULL, NULL, NULL};
    const char *path = weights_path("landmarks68.fnet");
    char first[4096];
    int mi;
    test_kernels();
    test_align_api();
    if (!path) {
        SKIP("landmarks68.fnet absent (make weights): golden comparisons skipped");
        return test_finish();
    }
    snprintf(first, sizeof first, "%s", path);
    for (mi = 0; mi < N_MODELS; mi++) {
        const char *p = weights_path(model_names[mi]);
        if (!p) { SKIP("%s absent (make weights)", model_names[mi]); continue; }
        CHECK(fnet_model_load_file(p, &models[mi]) == FNET_OK, "load %s", model_names[mi]);
    }
    if (!models[0]) return test_finish();
    test_bad_input_and_paths(models[0], first);
    test_photos(models);
    test_lfpw(models);
    for (mi = 0; mi < N_MODELS; mi++) fnet_model_free(models[mi]);
    return test_finish();
}
