/* Where facenet.h's detection time goes: per image, the time of each stage summed over the
   pyramid (planes, resampling, gradients + histograms, normalised features, scan, NMS), single
   thread, medians of REPS runs. Uses the header's private functions (a tool, not an example).
   Usage: bench_detect WIDTH REPS UPSAMPLE IMAGE...   (WIDTH 0: native size; images are
   resampled with stb-free nearest-neighbour only for this breakdown). Built by bench_detect.sh. */
#define _POSIX_C_SOURCE 199309L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "examples/image_load.h"
#include <stdio.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

int main(int argc, char **argv) {
    fnet_model *m = NULL;
    const char *wd = getenv("FNET_WEIGHTS");
    char blob[4096];
    double st[6] = {0}, total = 0;
    int width, reps, up, a, nimg = 0;
    if (argc < 5) { fprintf(stderr, "usage: %s WIDTH REPS UPSAMPLE IMAGE...\n", argv[0]); return 2; }
    width = atoi(argv[1]); reps = atoi(argv[2]); up = atoi(argv[3]);
    if (reps < 1) reps = 1;
    snprintf(blob, sizeof blob, "%s/hog_frontal.fnet", wd && *wd ? wd : "weights");
    if (fnet_model_load_file(blob, &m) != FNET_OK) { fprintf(stderr, "cannot load %s\n", blob); return 1; }
    for (a = 4; a < argc; a++) {
        int w0, h0, w, h, r, x, y;
        char why[256];
        unsigned char *src = il_load_pixels(argv[a], 3, &w0, &h0, why, sizeof why), *px;
        fnet_detect_opts o;
        fnet__hog_plan p;
        size_t ws;
        unsigned char *work;
        if (!src) { fprintf(stderr, "bench_detect: %s: %s\n", argv[a], why); continue; }
        w = width > 0 ? width : w0;
        h = width > 0 ? (int)((long)h0 * width / w0) : h0;
        px = (unsigned char *)malloc((size_t)w * h * 3);
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++)
                memcpy(px + 3 * ((size_t)y * w + x), src + 3 * ((size_t)(y * h0 / h) * w0 + x * w0 / w), 3);
        stbi_image_free(src);
        memset(&o, 0, sizeof o);
        o.upsample = up;
        ws = fnet_detect_workspace_size(m, w, h, &o);
        work = (unsigned char *)malloc(ws);
        for (r = 0; r < reps; r++) {
            /* the driver of fnet_detect, stage by stage */
            const fnet__hog *hh = (const fnet__hog *)m->stage;
            fnet__hog_kernels k;
            fnet__arena ar;
            void *own;
            unsigned char *inb, *upb[2] = {NULL, NULL}, *lv[2] = {NULL, NULL};
            float *hist, *norm, *feat, *sc, *clr;
            int *cleft, *cx, level, ch;
            fnet__himg cur;
            double t0 = now_ms(), t1, t;
            fnet_box boxes[64];
            int nb;
            if (fnet__hog_make_plan(hh, w, h, 3, &o, &p) != FNET_OK ||
                fnet__arena_init(&ar, work, ws, p.total, &own) != FNET_OK) return 1;
            inb = (unsigned char *)fnet__arena_take(&ar, p.in_bytes);
            if (p.up > 0) upb[0] = (unsigned char *)fnet__arena_take(&ar, p.up_bytes);
            if (p.up > 1) upb[1] = (unsigned char *)fnet__arena_take(&ar, p.up_bytes);
            if (p.lvl_bytes) { lv[0] = (unsigned char *)fnet__arena_take(&ar, p.lvl_bytes); lv[1] = (unsigned char *)fnet__arena_take(&ar, p.lvl_bytes); }
            hist = (float *)fnet__arena_take(&ar, p.hist_n * sizeof(float));
            norm = (float *)fnet__arena_take(&ar, p.norm_n * sizeof(float));
            feat = (float *)fnet__arena_take(&ar, p.feat_n * sizeof(float));
            sc = (float *)fnet__arena_take(&ar, p.score_n * sizeof(float));
            clr = (float *)fnet__arena_take(&ar, p.col_n * 5 * sizeof(float));
            cleft = (int *)(void *)(clr + 3 * p.col_n);
            cx = cleft + p.col_n;
            fnet__hog_pick_detect(m->isa, hh, &k);
            for (ch = 0; ch < 3; ch++) {
                for (y = 0; y < h * w; y++) inb[(size_t)ch * w * h + y] = px[3 * (size_t)y + ch];
                cur.pl[ch] = inb + (size_t)ch * w * h;
            }
            cur.w = w; cur.h = h; cur.stride = w; cur.nch = 3;
            t1 = now_ms(); st[0] += t1 - t0;
            for (level = 0; level < p.up; level++) {
                unsigned char *d = upb[level & 1];
                int dw = 2 * cur.w + 2, dh = 2 * cur.h + 1;
                fnet__hog_resize(&cur, d, dw, dh, cleft, clr, (unsigned char *)(void *)(clr + p.col_n), m->isa == FNET_ISA_AVX2);
                for (ch = 0; ch < 3; ch++) cur.pl[ch] = d + (size_t)ch * dw * dh;
                cur.w = dw; cur.h = dh; cur.stride = dw;
            }
            for (level = 0; level < p.levels; level++) {
                fnet__hog_geom g;
                t = now_ms();
                if (level > 0) {
                    unsigned char *d = lv[level & 1];
                    int dw = (5 * cur.w) / 6, dh = (5 * cur.h) / 6;
                    fnet__hog_resize(&cur, d, dw, dh, cleft, clr, (unsigned char *)(void *)(clr + p.col_n), m->isa == FNET_ISA_AVX2);
                    for (ch = 0; ch < 3; ch++) cur.pl[ch] = d + (size_t)ch * dw * dh;
                    cur.w = dw; cur.h = dh; cur.stride = dw;
                }
                t1 = now_ms(); st[1] += t1 - t; t = t1;
                fnet__hog_geometry(cur.w, cur.h, &g);
                if (g.hr < 1 || g.hc < 1) continue;
                fnet__hog_col_tables(&g, cx, clr + p.col_n, clr + 2 * p.col_n);
                fnet__hog_votes(&k, &cur, &g, hist);
                t1 = now_ms(); st[2] += t1 - t; t = t1;
                k.features(&g, hist, norm, feat);
                t1 = now_ms(); st[3] += t1 - t; t = t1;
                k.scan(hh, &g, feat, sc, sc + (size_t)g.hr * g.ss * hh->n_filters);
                t1 = now_ms(); st[4] += t1 - t;
            }
            t = now_ms();
            total += t - t0;
            /* the whole call, for the NMS + overhead share */
            fnet_detect(m, fnet_image_view(px, w, h, 3, 0), &o, work, ws, boxes, 64, &nb);
            st[5] += now_ms() - t;
        }
        nimg++;
        free(work);
        free(px);
    }
    if (!nimg) return 1;
    a = nimg * reps;
    printf("facenet.h stages (%s, upsample %d, %d images, width %d), ms per image: planes %.2f, pyramid %.2f, "
           "gradients+histograms %.2f, features %.2f, scan %.2f; sum %.2f; whole fnet_detect %.2f\n",
           fnet_isa_name(fnet_model_get_isa(m)), up, nimg, width, st[0] / a, st[1] / a, st[2] / a, st[3] / a,
           st[4] / a, total / a, st[5] / a);
    fnet_model_free(m);
    return 0;
}
