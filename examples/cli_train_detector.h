/* fnet CLI: training and testing HOG face detectors on dlib's imglab XML datasets (issue 15;
   included by examples/fnet.c).

   fnet train-detector TRAIN.xml OUT.fnet [--C C] [--epsilon E] [--upsample N] [--flip]
                       [--threads N] [--gray] [--max-iterations N]
       fnet_detector_train (facenet.h section 1b: dlib's structural SVM trainer) on the boxes
       of TRAIN.xml (ignore='1' boxes are ignore boxes), writes the detector to OUT.fnet (run it
       with `fnet detect --detector OUT.fnet`). Defaults are dlib's example settings except
       --upsample 0 and no flips (examples/fhog_object_detector_ex.cpp uses --upsample 1 --flip).
       --gray reads the images as 8-bit gray (the example trains on array2d<unsigned char>).
       Progress (iteration, risk, risk gap against epsilon, elapsed time and a guess of the
       time left from how fast the gap falls) on stderr; on stdout one JSON object: the model,
       the training summary and the detector's precision, recall and average precision on
       the training images (with their mirrored copies when --flip), as test-detector gives.
       A box that no window position can match is refused with the box, its best match and
       what to do.
   fnet test-detector MODEL.fnet TEST.xml [--upsample N] [--flip] [--gray]
       dlib's test_object_detection_function: precision, recall, average precision (JSON).
       Images and boxes are upsampled N times first, as training did (--flip: mirrored
       copies added, as dlib's example tests its training set).
   fnet combine-detectors OUT.fnet A.fnet B.fnet ...
       one detector running all the filters of A, B, ... with one non-max suppression
       (fnet_detector_combine; dlib's frontal detector is 5 filters combined). */
#include "imglab.h"
#include "thread_pool.h"

typedef struct td_set {
    imglab_dataset ds;
    int n;                  /* images (with mirrored copies) */
    unsigned char **px;     /* owned pixels (stb or mirrored copies) */
    fnet_image *img;
    fnet_train_box **boxes;
    int *n_boxes;
} td_set;

static void td_free(td_set *s) {
    int i;
    for (i = 0; i < s->n; i++) {
        if (s->px) free(s->px[i]);
        if (s->boxes) free(s->boxes[i]);
    }
    free(s->px);
    free(s->img);
    free(s->boxes);
    free(s->n_boxes);
    imglab_free(&s->ds);
    memset(s, 0, sizeof *s);
}

/* Loads the XML and its images (gray or RGB); flip adds mirrored copies after the originals
   (dlib's add_image_left_right_flips: box [l, r] -> [W-1-r, W-1-l]). */
static int td_load(const char *xml, int gray, int flip, td_set *s) {
    char err[512];
    int i, k, n0;
    memset(s, 0, sizeof *s);
    if (!imglab_load(xml, &s->ds, err, sizeof err)) {
        fprintf(stderr, "fnet: %s\n", err);
        return 0;
    }
    n0 = s->ds.n_images;
    if (n0 == 0) {
        fprintf(stderr, "fnet: %s: no images\n", xml);
        imglab_free(&s->ds);
        return 0;
    }
    s->n = n0 * (flip ? 2 : 1);
    s->px = (unsigned char **)calloc((size_t)s->n, sizeof *s->px);
    s->img = (fnet_image *)calloc((size_t)s->n, sizeof *s->img);
    s->boxes = (fnet_train_box **)calloc((size_t)s->n, sizeof *s->boxes);
    s->n_boxes = (int *)calloc((size_t)s->n, sizeof *s->n_boxes);
    if (!s->px || !s->img || !s->boxes || !s->n_boxes) {
        fprintf(stderr, "fnet: out of memory\n");
        td_free(s);
        return 0;
    }
    for (i = 0; i < n0; i++) {
        const imglab_image *im = &s->ds.images[i];
        int w = 0, h = 0, nch = gray ? 1 : 3;
        char why[256];
        /* examples/image_load.h: the validating pre-pass (and the size limit), then stb_image */
        s->px[i] = il_load_pixels(im->path, nch, &w, &h, why, sizeof why);
        if (!s->px[i]) {
            fprintf(stderr, "fnet: %s: %s\n", im->path, why);
            td_free(s);
            return 0;
        }
        s->img[i] = fnet_image_view(s->px[i], w, h, nch, w * nch);
        s->n_boxes[i] = im->n_boxes;
        s->boxes[i] = (fnet_train_box *)calloc((size_t)im->n_boxes + 1, sizeof(fnet_train_box));
        if (!s->boxes[i]) {
            fprintf(stderr, "fnet: out of memory\n");
            td_free(s);
            return 0;
        }
        for (k = 0; k < im->n_boxes; k++) {
            const imglab_box *b = &im->boxes[k];
            if (b->width < 1 || b->height < 1) {
                fprintf(stderr, "fnet: %s: image %s: box %d is %dx%d; boxes need a width and height of 1 or more\n",
                        xml, im->file, k + 1, b->width, b->height);
                td_free(s);
                return 0;
            }
            s->boxes[i][k].left = b->left;
            s->boxes[i][k].top = b->top;
            s->boxes[i][k].right = b->left + b->width - 1;
            s->boxes[i][k].bottom = b->top + b->height - 1;
            s->boxes[i][k].ignore = b->ignore;
        }
    }
    for (i = n0; i < s->n; i++) { /* mirrored copies */
        const fnet_image *o = &s->img[i - n0];
        int x, y, c, nch = o->channels;
        s->px[i] = (unsigned char *)malloc((size_t)o->width * o->height * nch);
        s->boxes[i] = (fnet_train_box *)calloc((size_t)s->n_boxes[i - n0] + 1, sizeof(fnet_train_box));
        if (!s->px[i] || !s->boxes[i]) {
            fprintf(stderr, "fnet: out of memory\n");
            td_free(s);
            return 0;
        }
        for (y = 0; y < o->height; y++)
            for (x = 0; x < o->width; x++)
                for (c = 0; c < nch; c++)
                    s->px[i][((size_t)y * o->width + x) * nch + c] =
                        o->pixels[(size_t)y * o->stride + (size_t)(o->width - 1 - x) * nch + c];
        s->img[i] = fnet_image_view(s->px[i], o->width, o->height, nch, o->width * nch);
        s->n_boxes[i] = s->n_boxes[i - n0];
        for (k = 0; k < s->n_boxes[i]; k++) {
            fnet_train_box b = s->boxes[i - n0][k];
            int l = o->width - 1 - b.right, r = o->width - 1 - b.left;
            b.left = l;
            b.right = r;
            s->boxes[i][k] = b;
        }
    }
    return 1;
}

typedef struct td_progress {
    double t0, last_print;
    double log_gap[8], t_iter[8];
    int n_hist;
} td_progress;

/* One line per iteration on stderr: the gap falls roughly geometrically, so the time left is
   guessed from its slope over the last iterations (a guess: the oracle cache makes some
   iterations much cheaper than others). */
static int td_on_progress(void *user, const fnet_detector_train_status *st) {
    td_progress *p = (td_progress *)user;
    double now = now_ms(), el = (now - p->t0) / 1e3, lg = log(st->risk_gap > 1e-300 ? st->risk_gap : 1e-300);
    int k = p->n_hist < 8 ? p->n_hist : 7;
    if (p->n_hist >= 8) {
        memmove(p->log_gap, p->log_gap + 1, 7 * sizeof(double));
        memmove(p->t_iter, p->t_iter + 1, 7 * sizeof(double));
    }
    p->log_gap[k] = lg;
    p->t_iter[k] = el;
    p->n_hist++;
    fprintf(stderr, "fnet: train-detector: iteration %d  risk %.5f  gap %.5f (stop < %g)  planes %d  scans %d  %.1fs",
            st->iteration, st->risk, st->risk_gap, st->epsilon, st->planes, st->oracle_calls, el);
    if (k >= 3 && p->log_gap[0] > lg && st->risk_gap > st->epsilon) {
        double rate = (p->log_gap[0] - lg) / (p->t_iter[k] - p->t_iter[0]); /* log gap per second */
        fprintf(stderr, "  ETA ~%.0fs", (lg - log(st->epsilon)) / rate);
    }
    fputc('\n', stderr);
    p->last_print = now;
    return 0;
}

static void td_print_eval(const fnet_detector_eval *e) {
    printf("{\"precision\":%.9g,\"recall\":%.9g,\"ap\":%.9g,\"truth\":%d,\"detections\":%d,\"hits\":%d}",
           e->precision, e->recall, e->ap, e->truth, e->detections, e->hits);
}

static int td_parse_double(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0 && v < 1e30)) return 0;
    *out = v;
    return 1;
}

static int cmd_train_detector(int argc, char **argv) {
    fnet_detector_train_opts o;
    fnet_detector_train_report rep;
    fnet_detector_eval ev;
    td_progress prog;
    td_set s;
    tp_pool pool;
    fnet_model *det = NULL;
    fnet_result r;
    const char *xml = NULL, *out = NULL;
    int i, threads = 1, gray = 0;
    double t0, secs, cpu;
    clock_t c0;
    memset(&o, 0, sizeof o);
    o.C = 1;
    o.epsilon = 0.01;
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--C") && i + 1 < argc) {
            if (!td_parse_double(argv[++i], &o.C)) return usage("--C takes a positive number");
        } else if (!strcmp(argv[i], "--epsilon") && i + 1 < argc) {
            if (!td_parse_double(argv[++i], &o.epsilon)) return usage("--epsilon takes a positive number");
        } else if (!strcmp(argv[i], "--upsample") && i + 1 < argc) {
            if (!parse_int(argv[++i], &o.upsample) || o.upsample < 0 || o.upsample > FNET_MAX_UPSAMPLE)
                return usage("--upsample takes 0 to 3");
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (!parse_int(argv[++i], &threads) || threads < 1 || threads > TP_MAX_THREADS)
                return usage("--threads takes 1 to 64");
        } else if (!strcmp(argv[i], "--max-iterations") && i + 1 < argc) {
            if (!parse_int(argv[++i], &o.max_iterations) || o.max_iterations < 1)
                return usage("--max-iterations takes a positive count");
        } else if (!strcmp(argv[i], "--flip")) {
            o.flip = 1;
        } else if (!strcmp(argv[i], "--gray")) {
            gray = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage("unknown option");
        } else if (!xml) {
            xml = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return usage("train-detector takes TRAIN.xml OUT.fnet");
        }
    }
    if (!xml || !out) return usage("train-detector needs TRAIN.xml OUT.fnet");
    if (!td_load(xml, gray, 0, &s)) return 1;
    tp_start(&pool, threads);
    o.parallel_for = tp_run;
    o.parallel_user = &pool;
    memset(&prog, 0, sizeof prog);
    prog.t0 = now_ms();
    o.progress = td_on_progress;
    o.progress_user = &prog;
    t0 = now_ms();
    c0 = clock();
    r = fnet_detector_train(s.img, (const fnet_train_box *const *)s.boxes, s.n_boxes, s.n, &o, &det, &rep);
    secs = (now_ms() - t0) / 1e3;
    cpu = (double)(clock() - c0) / CLOCKS_PER_SEC; /* all threads */
    tp_stop(&pool);
    if (r != FNET_OK) {
        if (r == FNET_ERR_INVALID_ARGUMENT && rep.bad_image >= 0) {
            const int n0 = s.n, src = rep.bad_image % n0;
            const char *file = s.ds.images[src].file;
            int k, seen = -1, orig = -1;
            for (k = 0; k < s.ds.images[src].n_boxes; k++) /* the rep's index counts truth boxes only */
                if (!s.ds.images[src].boxes[k].ignore && ++seen == rep.bad_box) { orig = k; break; }
            if (rep.bad_reason == 1)
                fprintf(stderr,
                        "fnet: %s: image %s, box %d (left %d top %d width %d height %d%s): no position of the %dx%d "
                        "window matches it (best IoU %.3f, needs > 0.5; the window there is [%d %d %d %d] in the "
                        "%s image, the box [%d %d %d %d]). The detector scans one fixed square shape: give the "
                        "boxes about the window's aspect ratio (width/height 1), make them at least %d pixels "
                        "(or use --upsample), or leave the box out (ignore='1').\n",
                        xml, file, orig + 1, orig >= 0 ? s.ds.images[src].boxes[orig].left : 0,
                        orig >= 0 ? s.ds.images[src].boxes[orig].top : 0,
                        orig >= 0 ? s.ds.images[src].boxes[orig].width : 0,
                        orig >= 0 ? s.ds.images[src].boxes[orig].height : 0,
                        rep.bad_image >= n0 ? ", mirrored copy" : "", 80, 80, rep.bad_match, rep.bad_window[0],
                        rep.bad_window[1], rep.bad_window[2], rep.bad_window[3],
                        o.upsample ? "upsampled" : "training", rep.bad_rect[0], rep.bad_rect[1], rep.bad_rect[2],
                        rep.bad_rect[3], 80 >> o.upsample);
            else if (rep.bad_reason == 2)
                fprintf(stderr,
                        "fnet: %s: image %s: boxes %d and another one overlap so much (IoU %.3f of their windows) "
                        "that non-max suppression could never report both; merge them or mark one ignore='1'.\n",
                        xml, file, orig + 1, rep.bad_match);
            else
                fprintf(stderr, "fnet: %s: image %s: box %d is empty or far outside the image\n", xml, file,
                        rep.bad_box + 1);
        } else if (r == FNET_ERR_INVALID_ARGUMENT && rep.boxes == 0) {
            fprintf(stderr, "fnet: %s: no boxes to learn from (all are ignore boxes, or none given)\n", xml);
        } else {
            fprintf(stderr, "fnet: train-detector: %s\n", fnet_result_string(r));
        }
        td_free(&s);
        return 1;
    }
    td_free(&s);
    r = fnet_detector_save_file(det, out);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", out, fnet_result_string(r));
        fnet_model_free(det);
        return 1;
    }
    printf("{\"model\":");
    json_string(stdout, out);
    printf(",\"images\":%d,\"boxes\":%d,\"ignored\":%d,\"iterations\":%d,\"oracle_calls\":%d,"
           "\"objective\":%.9g,\"risk\":%.9g,\"risk_gap\":%.9g,\"stopped\":%s,\"iou_thresh\":%.9g,"
           "\"percent_covered_thresh\":%.9g,\"seconds\":%.3f,\"cpu_seconds\":%.3f,\"threads\":%d",
           rep.images, rep.boxes, rep.ignored, rep.iterations, rep.oracle_calls, rep.objective, rep.risk,
           rep.risk_gap, rep.stopped ? "true" : "false", rep.iou_thresh, rep.percent_covered_thresh, secs, cpu, threads);
    /* the training set as dlib's example measures it: with the flips when trained with them */
    if (td_load(xml, gray, o.flip, &s)) {
        r = fnet_detector_evaluate(det, s.img, (const fnet_train_box *const *)s.boxes, s.n_boxes, s.n, o.upsample,
                                   &ev);
        if (r == FNET_OK) {
            printf(",\"train\":");
            td_print_eval(&ev);
        }
        td_free(&s);
    }
    printf("}\n");
    fnet_model_free(det);
    return 0;
}

static int cmd_test_detector(int argc, char **argv) {
    fnet_detector_eval ev;
    fnet_model *det = NULL;
    td_set s;
    fnet_result r;
    const char *model = NULL, *xml = NULL;
    int i, up = 0, flip = 0, gray = 0;
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--upsample") && i + 1 < argc) {
            if (!parse_int(argv[++i], &up) || up < 0 || up > FNET_MAX_UPSAMPLE) return usage("--upsample takes 0 to 3");
        } else if (!strcmp(argv[i], "--flip")) {
            flip = 1;
        } else if (!strcmp(argv[i], "--gray")) {
            gray = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage("unknown option");
        } else if (!model) {
            model = argv[i];
        } else if (!xml) {
            xml = argv[i];
        } else {
            return usage("test-detector takes MODEL.fnet TEST.xml");
        }
    }
    if (!model || !xml) return usage("test-detector needs MODEL.fnet TEST.xml");
    r = fnet_model_load_file(model, &det);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: %s: %s\n", model, fnet_result_string(r));
        return 1;
    }
    if (!td_load(xml, gray, flip, &s)) {
        fnet_model_free(det);
        return 1;
    }
    r = fnet_detector_evaluate(det, s.img, (const fnet_train_box *const *)s.boxes, s.n_boxes, s.n, up, &ev);
    td_free(&s);
    fnet_model_free(det);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: test-detector: %s\n", fnet_result_string(r));
        return 1;
    }
    td_print_eval(&ev);
    putchar('\n');
    return 0;
}

static int cmd_combine_detectors(int argc, char **argv) {
    fnet_model *ms[16], *out = NULL;
    fnet_result r;
    int i, n = argc - 1;
    if (argc < 2) return usage("combine-detectors needs OUT.fnet A.fnet [B.fnet ...]");
    if (n > 16) return usage("combine-detectors takes at most 16 detectors");
    for (i = 0; i < n; i++) {
        r = fnet_model_load_file(argv[i + 1], &ms[i]);
        if (r != FNET_OK) {
            fprintf(stderr, "fnet: %s: %s\n", argv[i + 1], fnet_result_string(r));
            while (i--) fnet_model_free(ms[i]);
            return 1;
        }
    }
    r = fnet_detector_combine((const fnet_model *const *)ms, n, &out);
    for (i = 0; i < n; i++) fnet_model_free(ms[i]);
    if (r == FNET_OK) r = fnet_detector_save_file(out, argv[0]);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: combine-detectors: %s\n", fnet_result_string(r));
        fnet_model_free(out);
        return 1;
    }
    printf("{\"model\":");
    json_string(stdout, argv[0]);
    printf(",\"filters\":%s}\n", fnet_model_meta(out, "num_filters"));
    fnet_model_free(out);
    return 0;
}

static int cli_train_detector_dispatch(const char *cmd, int argc, char **argv) {
    if (!strcmp(cmd, "train-detector")) return cmd_train_detector(argc, argv);
    if (!strcmp(cmd, "test-detector")) return cmd_test_detector(argc, argv);
    if (!strcmp(cmd, "combine-detectors")) return cmd_combine_detectors(argc, argv);
    return -1;
}
