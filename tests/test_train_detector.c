/* fnet_detector_train (section 1b) on a tiny synthetic set: rings on noise, 2 per image, in
   boxes of the 80x80 window. It must learn a detector that finds them (on the training images
   and on new ones), the same bytes on every run and for one or two threads, refuse a box no
   window can match, combine and round-trip through its blob, and refuse bad arguments.
   dlib's own results on its example faces: tests/test_train_detector.py. */
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "fnet_test.h"
#include <pthread.h>

#define W 240
#define H 240
#define N_IMG 4

typedef struct synth {
    unsigned char px[N_IMG][W * H];
    fnet_image img[N_IMG];
    fnet_train_box box[N_IMG][3];
    const fnet_train_box *bp[N_IMG];
    int nb[N_IMG];
} synth;

static unsigned rng(unsigned long long *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(*s >> 33);
}

/* Image i: noise around 128, two bright rings (radius 26..30, a dark centre) at random places
   in boxes of 80x80 that do not overlap. */
static void make_set(synth *s, unsigned long long seed) {
    int i, k, x, y;
    for (i = 0; i < N_IMG; i++) {
        unsigned char *p = s->px[i];
        int cx[2], cy[2];
        for (k = 0; k < W * H; k++) p[k] = (unsigned char)(118 + rng(&seed) % 21);
        cx[0] = 45 + (int)(rng(&seed) % 30);
        cy[0] = 45 + (int)(rng(&seed) % 150);
        cx[1] = 150 + (int)(rng(&seed) % 40);
        cy[1] = 45 + (int)(rng(&seed) % 150);
        for (k = 0; k < 2; k++) {
            for (y = -40; y < 40; y++)
                for (x = -40; x < 40; x++) {
                    const double r = sqrt((double)(x * x + y * y));
                    int v = -1;
                    if (r >= 24 && r <= 31) v = 235;
                    else if (r < 10) v = 30;
                    if (v >= 0) p[(cy[k] + y) * W + cx[k] + x] = (unsigned char)v;
                }
            s->box[i][k].left = cx[k] - 40;
            s->box[i][k].top = cy[k] - 40;
            s->box[i][k].right = cx[k] + 39;
            s->box[i][k].bottom = cy[k] + 39;
            s->box[i][k].ignore = 0;
        }
        s->img[i] = fnet_image_view(p, W, H, 1, W);
        s->bp[i] = s->box[i];
        s->nb[i] = 2;
    }
}

/* Two real threads, task i on thread i % 2. */
typedef struct two_arg {
    fnet_task_fn fn;
    void *ctx;
    int n, which;
} two_arg;
static void *two_main(void *a) {
    two_arg *t = (two_arg *)a;
    int i;
    for (i = t->which; i < t->n; i += 2) t->fn(t->ctx, i);
    return NULL;
}
static void two_threads(void *user, int n, fnet_task_fn fn, void *ctx) {
    pthread_t th;
    two_arg a[2];
    (void)user;
    a[0].fn = a[1].fn = fn;
    a[0].ctx = a[1].ctx = ctx;
    a[0].n = a[1].n = n;
    a[0].which = 0;
    a[1].which = 1;
    if (pthread_create(&th, NULL, two_main, &a[1]) != 0) { two_main(&a[1]); two_main(&a[0]); return; }
    two_main(&a[0]);
    pthread_join(th, NULL);
}

static int stop_at_3(void *user, const fnet_detector_train_status *st) {
    int *seen = (int *)user;
    *seen = st->iteration;
    return st->iteration >= 3;
}

static int same_blob(const fnet_model *a, const fnet_model *b) {
    const void *pa, *pb;
    size_t na, nb;
    if (fnet_detector_blob(a, &pa, &na) != FNET_OK || fnet_detector_blob(b, &pb, &nb) != FNET_OK) return 0;
    return na == nb && memcmp(pa, pb, na) == 0;
}

int main(void) {
    static synth tr, te;
    fnet_detector_train_opts o;
    fnet_detector_train_report rep;
    fnet_detector_eval ev;
    fnet_model *det = NULL, *again = NULL, *two = NULL, *comb = NULL, *loaded = NULL;
    fnet_result r;
    make_set(&tr, 1);
    make_set(&te, 2);
    memset(&o, 0, sizeof o);

    r = fnet_detector_train(tr.img, tr.bp, tr.nb, N_IMG, &o, &det, &rep);
    CHECK(r == FNET_OK, "train: %s", fnet_result_string(r));
    if (r != FNET_OK) return test_finish();
    CHECK(rep.images == N_IMG && rep.boxes == 2 * N_IMG && rep.ignored == 0, "report counts %d %d", rep.images, rep.boxes);
    CHECK(rep.iterations > 2 && rep.risk_gap < 0.01 && !rep.stopped, "converged: %d iterations, gap %g",
          rep.iterations, rep.risk_gap);
    CHECK(fnet_model_get_kind(det) == FNET_MODEL_DETECTOR, "a detector model");
    r = fnet_detector_evaluate(det, tr.img, tr.bp, tr.nb, N_IMG, 0, &ev);
    CHECK(r == FNET_OK && ev.precision == 1 && ev.recall == 1 && ev.ap == 1,
          "training set: precision %g recall %g ap %g", ev.precision, ev.recall, ev.ap);
    r = fnet_detector_evaluate(det, te.img, te.bp, te.nb, N_IMG, 0, &ev);
    CHECK(r == FNET_OK && ev.precision == 1 && ev.recall == 1 && ev.ap == 1 && ev.truth == 8,
          "new images: precision %g recall %g ap %g", ev.precision, ev.recall, ev.ap);
    {   /* fnet_detect runs it like the built-in detector: the box of a ring, within a cell */
        fnet_box b[8];
        int n = 0, k;
        r = fnet_detect(det, te.img[0], NULL, NULL, 0, b, 8, &n);
        CHECK(r == FNET_OK && n == 2, "fnet_detect: %d boxes", n);
        for (k = 0; k < n && k < 2; k++) { /* each on a ring: IoU with its box */
            const fnet_train_box *t = &te.box[0][b[k].left > 100];
            double iw = FNET__MIN(b[k].right, t->right) - FNET__MAX(b[k].left, t->left) + 1;
            double ih = FNET__MIN(b[k].bottom, t->bottom) - FNET__MAX(b[k].top, t->top) + 1;
            double inter = iw > 0 && ih > 0 ? iw * ih : 0, iou;
            iou = inter / ((double)(b[k].right - b[k].left + 1) * (b[k].bottom - b[k].top + 1) + 80.0 * 80.0 - inter);
            CHECK(iou > 0.7, "box [%d %d %d %d] on [%d %d %d %d]: IoU %g", b[k].left, b[k].top, b[k].right,
                  b[k].bottom, t->left, t->top, t->right, t->bottom, iou);
        }
    }

    /* the same data gives the same bytes, on one thread or two */
    r = fnet_detector_train(tr.img, tr.bp, tr.nb, N_IMG, &o, &again, NULL);
    CHECK(r == FNET_OK && same_blob(det, again), "a second run gives the same model");
    o.parallel_for = two_threads;
    r = fnet_detector_train(tr.img, tr.bp, tr.nb, N_IMG, &o, &two, NULL);
    CHECK(r == FNET_OK && same_blob(det, two), "two threads give the same model");
    o.parallel_for = NULL;

    {   /* the progress callback sees every iteration and can stop the solver */
        int seen = 0;
        fnet_model *early = NULL;
        o.progress = stop_at_3;
        o.progress_user = &seen;
        r = fnet_detector_train(tr.img, tr.bp, tr.nb, N_IMG, &o, &early, &rep);
        CHECK(r == FNET_OK && early && rep.stopped && rep.iterations == 3 && seen == 3,
              "stopped by the callback: %d iterations, stopped %d", rep.iterations, rep.stopped);
        fnet_model_free(early);
        o.progress = NULL;
        o.max_iterations = 2;
        r = fnet_detector_train(tr.img, tr.bp, tr.nb, N_IMG, &o, &early, &rep);
        CHECK(r == FNET_OK && rep.stopped && rep.iterations == 2, "max_iterations 2: %d iterations", rep.iterations);
        fnet_model_free(early);
        o.max_iterations = 0;
    }

    /* several filters in one detector; the blob loads back */
    {
        const fnet_model *pair[2];
        const void *blob;
        size_t size;
        fnet_box b1[8], b2[8];
        int n1 = 0, n2 = 0;
        pair[0] = det;
        pair[1] = again;
        r = fnet_detector_combine(pair, 2, &comb);
        CHECK(r == FNET_OK && comb && !strcmp(fnet_model_meta(comb, "num_filters"), "2"), "combine: %s",
              fnet_result_string(r));
        if (comb) {
            fnet_detect(det, te.img[1], NULL, NULL, 0, b1, 8, &n1);
            fnet_detect(comb, te.img[1], NULL, NULL, 0, b2, 8, &n2);
            CHECK(n1 == n2 && n1 > 0 && b1[0].left == b2[0].left && b1[0].top == b2[0].top &&
                      b1[0].score == b2[0].score && b2[0].filter == 0,
                  "two equal filters find what one finds (%d, %d boxes)", n1, n2);
        }
        CHECK(fnet_detector_blob(det, &blob, &size) == FNET_OK &&
                  fnet_model_load_memory(blob, size, &loaded) == FNET_OK && same_blob(det, loaded),
              "the blob loads back");
    }

    {   /* a box the square window cannot match (3:1): refused, with the box and its best match */
        synth *s = &tr;
        fnet_train_box keep = s->box[2][1];
        s->box[2][1].right = s->box[2][1].left + 119;
        s->box[2][1].bottom = s->box[2][1].top + 39;
        memset(&rep, 0, sizeof rep);
        fnet_model_free(two);
        two = NULL;
        r = fnet_detector_train(s->img, s->bp, s->nb, N_IMG, &o, &two, &rep);
        CHECK(r == FNET_ERR_INVALID_ARGUMENT && !two && rep.bad_image == 2 && rep.bad_box == 1 &&
                  rep.bad_reason == 1 && rep.bad_match > 0 && rep.bad_match <= 0.5,
              "a 3:1 box is refused (%d: image %d box %d reason %d match %g)", r, rep.bad_image, rep.bad_box,
              rep.bad_reason, rep.bad_match);
        s->box[2][1] = keep;
        s->box[2][1].ignore = 1; /* as an ignore box it is fine, and counted */
        r = fnet_detector_train(s->img, s->bp, s->nb, N_IMG, &o, &two, &rep);
        CHECK(r == FNET_OK && rep.boxes == 7 && rep.ignored == 1, "an ignore box: %s, %d boxes %d ignored",
              fnet_result_string(r), rep.boxes, rep.ignored);
        s->box[2][1].ignore = 0;
    }

    {   /* bad arguments */
        fnet_model *m = NULL;
        fnet_train_box bad = tr.box[0][0];
        const fnet_train_box *bb[N_IMG];
        int nb[N_IMG], i;
        CHECK(fnet_detector_train(NULL, tr.bp, tr.nb, N_IMG, &o, &m, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL images");
        CHECK(fnet_detector_train(tr.img, tr.bp, tr.nb, N_IMG, &o, NULL, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL out");
        o.C = -1;
        CHECK(fnet_detector_train(tr.img, tr.bp, tr.nb, N_IMG, &o, &m, NULL) == FNET_ERR_INVALID_ARGUMENT, "C < 0");
        o.C = 0;
        o.window_width = o.window_height = 64;
        CHECK(fnet_detector_train(tr.img, tr.bp, tr.nb, N_IMG, &o, &m, NULL) == FNET_ERR_UNSUPPORTED, "64x64 window");
        o.window_width = o.window_height = 0;
        o.upsample = 9;
        CHECK(fnet_detector_train(tr.img, tr.bp, tr.nb, N_IMG, &o, &m, NULL) == FNET_ERR_INVALID_ARGUMENT, "upsample 9");
        o.upsample = 0;
        for (i = 0; i < N_IMG; i++) { bb[i] = tr.bp[i]; nb[i] = 0; }
        CHECK(fnet_detector_train(tr.img, bb, nb, N_IMG, &o, &m, NULL) == FNET_ERR_INVALID_ARGUMENT, "no boxes");
        bad.right = bad.left - 5;
        bb[0] = &bad;
        nb[0] = 1;
        CHECK(fnet_detector_train(tr.img, bb, nb, N_IMG, &o, &m, NULL) == FNET_ERR_INVALID_ARGUMENT, "inverted box");
        CHECK(m == NULL, "no model on errors");
        CHECK(fnet_detector_evaluate(NULL, tr.img, tr.bp, tr.nb, N_IMG, 0, &ev) == FNET_ERR_INVALID_ARGUMENT, "evaluate NULL");
        CHECK(fnet_detector_combine(NULL, 1, &m) == FNET_ERR_INVALID_ARGUMENT, "combine NULL");
    }
    fnet_model_free(det);
    fnet_model_free(again);
    fnet_model_free(two);
    fnet_model_free(comb);
    fnet_model_free(loaded);
    return test_finish();
}
