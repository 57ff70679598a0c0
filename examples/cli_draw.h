/* fnet CLI: draw (included by examples/fnet.c).

   fnet draw [--upsample N] [--box L,T,R,B] IMG OUT.png
   Detects the faces (or takes the one box given with --box: no detector needed), finds the
   68 landmarks of each and draws the boxes (green) and the points (red) onto the photo,
   written as PNG (to a temporary name, then renamed). Prints one JSON line: the image, the
   output and the number of faces. */

static void draw_put(unsigned char *rgb, int w, int h, int x, int y, const unsigned char *c) {
    unsigned char *p;
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    p = rgb + ((size_t)y * w + x) * 3;
    p[0] = c[0]; p[1] = c[1]; p[2] = c[2];
}

static void draw_box(unsigned char *rgb, int w, int h, const fnet_box *b, int thick, const unsigned char *c) {
    int x, y, t;
    for (t = 0; t < thick; t++) {
        for (x = b->left - t; x <= b->right + t; x++) {
            draw_put(rgb, w, h, x, b->top - t, c);
            draw_put(rgb, w, h, x, b->bottom + t, c);
        }
        for (y = b->top - t; y <= b->bottom + t; y++) {
            draw_put(rgb, w, h, b->left - t, y, c);
            draw_put(rgb, w, h, b->right + t, y, c);
        }
    }
}

static void draw_dot(unsigned char *rgb, int w, int h, float fx, float fy, int r, const unsigned char *c) {
    int cx = (int)floor(fx + 0.5), cy = (int)floor(fy + 0.5), x, y;
    if (fx != fx || fy != fy || fabs(fx) > 1e7 || fabs(fy) > 1e7) return;
    for (y = -r; y <= r; y++)
        for (x = -r; x <= r; x++)
            if (x * x + y * y <= r * r) draw_put(rgb, w, h, cx + x, cy + y, c);
}

static int parse_box(const char *s, fnet_box *b) {
    int v[4], k;
    char *end;
    for (k = 0; k < 4; k++) {
        long x = strtol(s, &end, 10);
        if (end == s || x < -1000000 || x > 1000000 || (k < 3 && *end != ',') || (k == 3 && *end)) return 0;
        v[k] = (int)x;
        s = end + 1;
    }
    memset(b, 0, sizeof *b);
    b->left = v[0]; b->top = v[1]; b->right = v[2]; b->bottom = v[3];
    return b->right >= b->left && b->bottom >= b->top;
}

static int cmd_draw(int argc, char **argv) {
    static const unsigned char green[3] = {0, 230, 0}, red[3] = {255, 40, 40};
    int i, k, n = 0, shown, ok = 0, have_box = 0, thick, radius;
    fnet_detect_opts dopts;
    fnet_model *det = NULL, *lm = NULL;
    loaded_image im;
    fnet_box boxes[MAX_FACES];
    unsigned char *canvas;
    fnet_result r;
    memset(&dopts, 0, sizeof dopts);
    dopts.parallel = g_par; /* fnet --threads N */
    for (i = 0; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--upsample") == 0 && i + 1 < argc) {
            if (!parse_int(argv[++i], &dopts.upsample) || dopts.upsample < 0 || dopts.upsample > FNET_MAX_UPSAMPLE)
                return usage("--upsample takes 0 to 3");
        } else if (strcmp(argv[i], "--box") == 0 && i + 1 < argc) {
            if (!parse_box(argv[++i], &boxes[0])) return usage("--box takes L,T,R,B with R >= L and B >= T");
            have_box = 1;
        } else {
            return usage("unknown option");
        }
    }
    if (argc - i != 2) return usage("draw needs IMG OUT.png");
    if (!load_image(argv[i], &im)) return 1;
    if (!have_box && !(det = load_model("hog_frontal.fnet"))) { stbi_image_free(im.pixels); return 1; }
    if (!(lm = load_model("landmarks68.fnet"))) { fnet_model_free(det); stbi_image_free(im.pixels); return 1; }
    if (have_box) {
        n = 1;
        r = FNET_OK;
    } else {
        r = fnet_detect(det, im.view, &dopts, NULL, 0, boxes, MAX_FACES, &n);
        if (r != FNET_OK) fprintf(stderr, "fnet: %s: detect: %s\n", argv[i], fnet_result_string(r));
    }
    /* the loaded pixels are ours (stbi): draw on them once the landmarks are read */
    canvas = im.pixels;
    thick = 1 + (im.view.width + im.view.height) / 1000;
    radius = 1 + (im.view.width + im.view.height) / 800;
    if (r == FNET_OK) {
        fnet_point pts[MAX_FACES > 64 ? 64 : MAX_FACES][68];
        shown = n < 64 ? n : 64;
        ok = 1;
        for (k = 0; k < shown; k++) {
            r = fnet_landmarks(lm, im.view, boxes[k], pts[k]);
            if (r != FNET_OK) {
                fprintf(stderr, "fnet: %s: landmarks: %s\n", argv[i], fnet_result_string(r));
                ok = 0;
            }
        }
        if (ok) {
            int j;
            for (k = 0; k < shown; k++) {
                draw_box(canvas, im.view.width, im.view.height, &boxes[k], thick, green);
                for (j = 0; j < 68; j++) draw_dot(canvas, im.view.width, im.view.height, pts[k][j].x, pts[k][j].y, radius, red);
            }
            ok = write_png(argv[i + 1], canvas, im.view.width, im.view.height);
        }
        if (ok) {
            printf("{\"image\":");
            json_string(stdout, argv[i]);
            printf(",\"out\":");
            json_string(stdout, argv[i + 1]);
            printf(",\"faces\":%d}\n", n);
        }
    }
    fnet_model_free(det);
    fnet_model_free(lm);
    stbi_image_free(im.pixels);
    return ok ? 0 : 1;
}

static int cli_draw_dispatch(const char *cmd, int argc, char **argv) {
    if (strcmp(cmd, "draw") == 0) return cmd_draw(argc, argv);
    return -1;
}
