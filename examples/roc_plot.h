/* roc_plot.h - a tiny ROC-curve plotter for the fnet CLI (eval-lfw --roc OUT.png).

   roc_plot_png(path, fpr, tpr, n, title) draws the curve (points sorted by FPR) on a 480x480
   white canvas: frame, grid every 0.1, the chance diagonal, the curve, and a one-line title,
   then writes a PNG with stb_image_write (the caller's translation unit defines its
   implementation). Text is rendered with stb_easy_font (Debian libstb-dev). Returns 1 on success. */
#ifndef ROC_PLOT_H
#define ROC_PLOT_H
#include <math.h>
#include <stb/stb_easy_font.h>

#define ROC_W 480
#define ROC_H 480
#define ROC_M 40 /* margin around the plot area */

static void roc__px(unsigned char *img, int x, int y, unsigned char r, unsigned char g, unsigned char b) {
    if (x < 0 || y < 0 || x >= ROC_W || y >= ROC_H) return;
    img[(y * ROC_W + x) * 3 + 0] = r;
    img[(y * ROC_W + x) * 3 + 1] = g;
    img[(y * ROC_W + x) * 3 + 2] = b;
}

/* Bresenham line, `thick` pixels wide (square brush). */
static void roc__line(unsigned char *img, int x0, int y0, int x1, int y1, int thick, unsigned char r,
                      unsigned char g, unsigned char b) {
    int dx = x1 > x0 ? x1 - x0 : x0 - x1, dy = y1 > y0 ? y0 - y1 : y1 - y0;
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy, e2, i, j;
    for (;;) {
        for (i = 0; i < thick; i++)
            for (j = 0; j < thick; j++) roc__px(img, x0 + i - thick / 2, y0 + j - thick / 2, r, g, b);
        if (x0 == x1 && y0 == y1) break;
        e2 = 2 * err; /* both tests use the error before this step */
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

/* Text at (x, y), scale 2, black: stb_easy_font emits axis-aligned quads. */
static void roc__text(unsigned char *img, int x, int y, const char *s) {
    static char buf[40000];
    int nq = stb_easy_font_print(0, 0, (char *)s, NULL, buf, (int)sizeof buf), q, i, j;
    for (q = 0; q < nq; q++) {
        const float *v = (const float *)(buf + q * 4 * 16); /* 4 vertices of x, y, z, color */
        int x0 = (int)v[0], y0 = (int)v[1], x1 = (int)v[8], y1 = (int)v[9];
        for (j = y0 * 2; j < y1 * 2; j++)
            for (i = x0 * 2; i < x1 * 2; i++) roc__px(img, x + i, y + j, 0, 0, 0);
    }
}

static int roc_plot_png(const char *path, const double *fpr, const double *tpr, int n, const char *title) {
    unsigned char *img = (unsigned char *)malloc(ROC_W * ROC_H * 3);
    int k, ok, side = ROC_W - 2 * ROC_M;
    char lab[8];
    if (!img) return 0;
    memset(img, 255, ROC_W * ROC_H * 3);
#define ROC_X(f) (ROC_M + (int)((f) * side + 0.5))
#define ROC_Y(t) (ROC_H - ROC_M - (int)((t) * side + 0.5))
    for (k = 0; k <= 10; k++) {
        unsigned char c = k == 0 || k == 10 ? 0 : 220;
        roc__line(img, ROC_X(k / 10.0), ROC_Y(0), ROC_X(k / 10.0), ROC_Y(1), 1, c, c, c);
        roc__line(img, ROC_X(0), ROC_Y(k / 10.0), ROC_X(1), ROC_Y(k / 10.0), 1, c, c, c);
    }
    roc__line(img, ROC_X(0), ROC_Y(0), ROC_X(1), ROC_Y(1), 1, 160, 160, 160);
    for (k = 0; k <= 10; k += 5) {
        snprintf(lab, sizeof lab, "%.1f", k / 10.0);
        roc__text(img, ROC_X(k / 10.0) - 10, ROC_Y(0) + 6, lab);
        roc__text(img, 4, ROC_Y(k / 10.0) - 6, lab);
    }
    roc__text(img, ROC_W / 2 - 80, ROC_H - 16, "false positive rate");
    roc__text(img, ROC_M + 4, 4, title ? title : "ROC");
    roc__text(img, 4, ROC_M - 24, "TPR");
    for (k = 1; k < n; k++)
        roc__line(img, ROC_X(fpr[k - 1]), ROC_Y(tpr[k - 1]), ROC_X(fpr[k]), ROC_Y(tpr[k]), 2, 200, 30, 30);
#undef ROC_X
#undef ROC_Y
    ok = stbi_write_png(path, ROC_W, ROC_H, 3, img, ROC_W * 3) != 0;
    free(img);
    return ok;
}
/* The same canvas with a logarithmic false-positive axis, 10^lo_decade..1 (lo_decade < 0, a
   grid line per decade), the usual view of a face matcher's ROC (fnet calibrate): the
   interesting part is at false-accept rates of 1e-2 and below. Points with fpr below the
   axis sit on its left edge. Returns 1 on success. */
static int roc_plot_png_log(const char *path, const double *fpr, const double *tpr, int n, int lo_decade,
                            const char *title) {
    unsigned char *img;
    int k, ok, side = ROC_W - 2 * ROC_M;
    char lab[16];
    if (lo_decade >= 0 || lo_decade < -12) return 0;
    img = (unsigned char *)malloc(ROC_W * ROC_H * 3);
    if (!img) return 0;
    memset(img, 255, ROC_W * ROC_H * 3);
#define ROC_LX(f) (ROC_M + (int)(((f) > 0 ? (log10(f) < lo_decade ? 0.0 : (log10(f) - lo_decade) / -lo_decade) : 0.0) * side + 0.5))
#define ROC_Y(t) (ROC_H - ROC_M - (int)((t) * side + 0.5))
    for (k = lo_decade; k <= 0; k++) {
        int x = ROC_M + (int)((double)(k - lo_decade) / -lo_decade * side + 0.5);
        unsigned char c = k == lo_decade || k == 0 ? 0 : 220;
        roc__line(img, x, ROC_Y(0), x, ROC_Y(1), 1, c, c, c);
        snprintf(lab, sizeof lab, "1e%d", k);
        roc__text(img, x - 12, ROC_Y(0) + 6, k == 0 ? "1" : lab);
    }
    for (k = 0; k <= 10; k++) {
        unsigned char c = k == 0 || k == 10 ? 0 : 220;
        roc__line(img, ROC_M, ROC_Y(k / 10.0), ROC_M + side, ROC_Y(k / 10.0), 1, c, c, c);
    }
    for (k = 0; k <= 10; k += 5) {
        snprintf(lab, sizeof lab, "%.1f", k / 10.0);
        roc__text(img, 4, ROC_Y(k / 10.0) - 6, lab);
    }
    roc__text(img, ROC_W / 2 - 110, ROC_H - 16, "false accept rate (log)");
    roc__text(img, ROC_M + 4, 4, title ? title : "ROC");
    roc__text(img, 4, ROC_M - 24, "TAR");
    for (k = 1; k < n; k++)
        roc__line(img, ROC_LX(fpr[k - 1]), ROC_Y(tpr[k - 1]), ROC_LX(fpr[k]), ROC_Y(tpr[k]), 2, 200, 30, 30);
#undef ROC_LX
#undef ROC_Y
    ok = stbi_write_png(path, ROC_W, ROC_H, 3, img, ROC_W * 3) != 0;
    free(img);
    return ok;
}
#endif
