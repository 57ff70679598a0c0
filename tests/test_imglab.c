/* test_imglab.c - examples/imglab.h, the reader of dlib's imglab XML datasets: dlib's own
   example files (counts and values checked against the files' text), and malformed files,
   each refused with the line at fault. */
#include "fnet_test.h"
#include "examples/imglab.h"

static int load_text(const char *text, imglab_dataset *d, char *err, size_t n) {
    return imglab_load_memory(text, strlen(text), "base", "t.xml", d, err, n);
}

static void test_dlib_examples(void) {
    const char *dir = shared_path("data/dlib-examples");
    char path[4200], err[256];
    imglab_dataset d;
    int i, j, n_boxes;
    if (!dir) {
        SKIP("../shared/data/dlib-examples absent");
        return;
    }
    /* training.xml: 4 images, 18 boxes, no parts */
    snprintf(path, sizeof path, "%s/training.xml", dir);
    CHECK(imglab_load(path, &d, err, sizeof err), "load %s: %s", path, err);
    CHECK(d.n_images == 4 && d.n_parts == 0, "training.xml: %d images, %d parts", d.n_images, d.n_parts);
    for (i = 0, n_boxes = 0; i < d.n_images; i++) n_boxes += d.images[i].n_boxes;
    CHECK(n_boxes == 18, "training.xml: %d boxes", n_boxes);
    if (d.n_images > 0 && d.images[0].n_boxes > 0) {
        const imglab_box *b = &d.images[0].boxes[0];
        CHECK(!strcmp(d.images[0].file, "2007_007763.jpg"), "first image %s", d.images[0].file);
        CHECK(strstr(d.images[0].path, "dlib-examples/2007_007763.jpg") != NULL, "path resolved: %s", d.images[0].path);
        CHECK(b->top == 90 && b->left == 194 && b->width == 37 && b->height == 37 && !b->ignore && !b->label[0],
              "first box %d %d %d %d", b->top, b->left, b->width, b->height);
    }
    imglab_free(&d);
    CHECK(d.images == NULL && d.n_images == 0, "imglab_free clears");

    /* training_with_face_landmarks.xml: the same boxes with 68 parts each, "00".."67" */
    snprintf(path, sizeof path, "%s/training_with_face_landmarks.xml", dir);
    CHECK(imglab_load(path, &d, err, sizeof err), "load %s: %s", path, err);
    CHECK(d.n_images == 4 && d.n_parts == 68, "training_with_face_landmarks.xml: %d images, %d parts", d.n_images, d.n_parts);
    if (d.n_parts == 68) {
        int sorted = 1, all = 1;
        for (i = 0; i < 68; i++) {
            char want[4];
            snprintf(want, sizeof want, "%02d", i);
            sorted &= !strcmp(d.part_names[i], want);
        }
        CHECK(sorted, "part names 00..67 in order");
        for (i = 0; i < d.n_images; i++)
            for (j = 0; j < d.images[i].n_boxes; j++) {
                int k;
                for (k = 0; k < 68; k++) all &= d.images[i].boxes[j].present[k];
            }
        CHECK(all, "every box has all 68 parts");
        /* <part name='00' x='201' y='107'/> <part name='08' x='213' y='129'/> of the first box */
        CHECK(d.images[0].boxes[0].x[0] == 201 && d.images[0].boxes[0].y[0] == 107 &&
                  d.images[0].boxes[0].x[8] == 213 && d.images[0].boxes[0].y[8] == 129,
              "first box parts 00 and 08: (%g,%g) (%g,%g)", d.images[0].boxes[0].x[0], d.images[0].boxes[0].y[0],
              d.images[0].boxes[0].x[8], d.images[0].boxes[0].y[8]);
    }
    imglab_free(&d);
    snprintf(path, sizeof path, "%s/testing.xml", dir);
    CHECK(imglab_load(path, &d, err, sizeof err), "load %s: %s", path, err);
    for (i = 0, n_boxes = 0; i < d.n_images; i++) n_boxes += d.images[i].n_boxes;
    CHECK(d.n_images == 5 && n_boxes == 25, "testing.xml: %d images, %d boxes", d.n_images, n_boxes);
    imglab_free(&d);
}

static void test_features(void) {
    char err[256];
    imglab_dataset d;
    const char *ok =
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n"
        "<!-- a comment with <box> in it -->\n"
        "<dataset><name>n &amp; m</name>\n"
        "<images>\n"
        "  <image file=\"a&amp;b.jpg\">\n"
        "    <box top='1' left='2' width='3' height='4' ignore='1' occluded='0'><label>cat&#233;</label>\n"
        "      <part name='b' x='5' y='6'/><part name='a' x='-7' y='8'/>\n"
        "    </box>\n"
        "    <box top='10' left='20' width='30' height='40'><part name='c' x='1' y='2'/></box>\n"
        "  </image>\n"
        "  <image file='/abs/c.png'/>\n"
        "  <unknown a='1'>text<b/></unknown>\n"
        "</images></dataset>\n";
    CHECK(load_text(ok, &d, err, sizeof err), "feature file: %s", err);
    CHECK(d.n_images == 2 && d.n_parts == 3, "%d images, %d parts", d.n_images, d.n_parts);
    if (d.n_images == 2 && d.n_parts == 3) {
        const imglab_box *b0 = &d.images[0].boxes[0], *b1 = &d.images[0].boxes[1];
        CHECK(!strcmp(d.part_names[0], "a") && !strcmp(d.part_names[1], "b") && !strcmp(d.part_names[2], "c"),
              "names sorted: %s %s %s", d.part_names[0], d.part_names[1], d.part_names[2]);
        CHECK(!strcmp(d.images[0].file, "a&b.jpg") && !strcmp(d.images[0].path, "base/a&b.jpg"), "entity in file: %s %s",
              d.images[0].file, d.images[0].path);
        CHECK(!strcmp(d.images[1].path, "/abs/c.png") && d.images[1].n_boxes == 0, "absolute path kept");
        CHECK(b0->ignore && b0->top == 1 && b0->left == 2 && b0->width == 3 && b0->height == 4, "box 0");
        CHECK(!strcmp(b0->label, "cat\xe9"), "label with a character reference: '%s'", b0->label);
        CHECK(b0->present[0] && b0->present[1] && !b0->present[2] && b0->x[0] == -7 && b0->y[0] == 8 && b0->x[1] == 5,
              "box 0 parts by sorted name");
        CHECK(!b1->ignore && !b1->present[0] && !b1->present[1] && b1->present[2] && b1->x[2] == 1, "box 1 parts");
    }
    imglab_free(&d);
}

/* each malformed text must be refused with the given line and a message containing `what` */
static void refused(const char *text, int line, const char *what) {
    char err[256], want[32];
    imglab_dataset d;
    int ok = load_text(text, &d, err, sizeof err);
    CHECK(!ok, "refused: %s", what);
    if (ok) { imglab_free(&d); return; }
    snprintf(want, sizeof want, "t.xml:%d: ", line);
    CHECK(strncmp(err, want, strlen(want)) == 0 && strstr(err, what) != NULL, "message '%s' (want line %d, '%s')", err, line, what);
    CHECK(d.images == NULL && d.n_images == 0, "nothing left allocated on error");
}

static void test_malformed(void) {
    refused("", 1, "no <dataset>");
    refused("<?xml version='1.0'?>\n<annotation>\n</annotation>", 2, "not <dataset>");
    refused("<dataset>\n<images>\n<image file='a.jpg'>\n<box top='1' left='2' width='3'/>\n</image></images></dataset>", 4,
            "lacks the attribute height");
    refused("<dataset>\n<images>\n<image file='a.jpg'>\n<box top='1x' left='2' width='3' height='4'/>", 4, "not an integer");
    refused("<dataset>\n<images>\n<image file='a.jpg'>\n<box top='1' left='2' width='3' height='4'>\n"
            "<part name='00' x='1' y='2'/>\n<part name='00' x='1' y='2'/>\n</box></image></images></dataset>", 6, "given twice");
    refused("<dataset>\n<images>\n<image file='a.jpg'>\n</images>\n</dataset>", 4, "does not close <image>");
    refused("<dataset>\n<images>\n<image file='a.jpg'>\n", 4, "end of file inside <image>");
    refused("<dataset>\n<box top='1' left='2' width='3' height='4'/>\n</dataset>", 2, "<box> outside <image>");
    refused("<dataset>\n<images>\n<image>\n</image></images></dataset>", 3, "lacks the attribute file");
    refused("<dataset>\n<images>\n<image file='a.jpg>\n</image></images></dataset>", 3, "closing quote missing");
    refused("<dataset>\n<images>\n<image file='a.jpg' width=5>\n</image></images></dataset>", 3, "not in quotes");
    refused("<dataset>\n<name>a & b</name></dataset>", 2, "without a ';'");
    refused("<dataset>\n<name>&nbsp;</name></dataset>", 2, "unknown entity");
    refused("<dataset>\n<!-- open comment\n</dataset>", 2, "comment not closed");
    refused("<dataset>\n<images>\n<image file='a.jpg'>\n<box top='1' left='2' width='-3' height='4'/>", 4, "negative width");
    refused("<dataset>\n<images>\n<image file='a.jpg'>\n<box top='99999999999' left='2' width='3' height='4'/>", 4,
            "not an integer");
    refused("<dataset>\n<images>\n<image file='a.jpg'>\n<part name='0' x='1' y='2'/>", 4, "<part> outside <box>");
    refused("<dataset>\n</images>", 2, "does not close <dataset>");
    refused("<dataset>\n< images>", 2, "not followed by an element name");
    refused("<dataset></dataset>\n<dataset></dataset>", 2, "a second <dataset>");
    {
        char deep[4096];
        int i;
        strcpy(deep, "<dataset>\n");
        for (i = 0; i < 70; i++) strcat(deep, "<a>");
        refused(deep, 2, "nested deeper");
    }
    {   /* a NUL byte */
        static const char nul[] = "<dataset>\n\0</dataset>";
        char err[256];
        imglab_dataset d;
        CHECK(!imglab_load_memory(nul, sizeof nul - 1, "", "t.xml", &d, err, sizeof err) && strstr(err, "t.xml:2: a NUL byte"),
              "NUL byte refused: %s", err);
    }
    {
        char err[256];
        imglab_dataset d;
        CHECK(!imglab_load("/nonexistent/x.xml", &d, err, sizeof err) && strstr(err, "cannot open"), "missing file: %s", err);
    }
}

/* every prefix and every single-byte corruption of a valid file: refused or parsed, never a
   crash (ASan run) */
static void test_prefixes_and_bytes(void) {
    const char *text =
        "<?xml version='1.0'?>\n<dataset><images>\n<image file='a.jpg'>\n"
        "<box top='1' left='2' width='3' height='4' ignore='1'><label>x</label><part name='00' x='5' y='6'/></box>\n"
        "</image></images></dataset>\n";
    size_t n = strlen(text), i;
    int parsed = 0, refused_n = 0;
    char err[256], buf[512];
    imglab_dataset d;
    for (i = 0; i <= n; i++) {
        if (imglab_load_memory(text, i, "", "p.xml", &d, err, sizeof err)) { parsed++; imglab_free(&d); }
        else refused_n++;
    }
    CHECK(parsed == 2 && refused_n == (int)n - 1, "prefixes: %d parsed (the whole file, and it with its last newline cut), %d refused", parsed,
          refused_n);
    for (i = 0; i < n; i++) {
        static const char subs[] = "<>/'\"=&;# a0-";
        size_t k;
        for (k = 0; k < sizeof subs - 1; k++) {
            memcpy(buf, text, n + 1);
            buf[i] = subs[k];
            if (imglab_load_memory(buf, n, "", "p.xml", &d, err, sizeof err)) imglab_free(&d);
        }
    }
}

int main(void) {
    test_dlib_examples();
    test_features();
    test_malformed();
    test_prefixes_and_bytes();
    return test_finish();
}
