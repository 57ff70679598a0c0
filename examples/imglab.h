/* imglab.h - reads dlib's imglab XML datasets (training.xml), for fnet's trainers.

   The format dlib's imglab tool writes and dlib's load_image_dataset() reads:

     <dataset>
       <name>...</name> <comment>...</comment>
       <images>
         <image file='2007_007763.jpg' width='500' height='375'>
           <box top='90' left='194' width='37' height='37' ignore='1'>
             <label>face</label>
             <part name='00' x='201' y='107'/>
             ...
           </box>
         </image>
       </images>
     </dataset>

   Image paths are relative to the XML file's directory. A box's parts are indexed as dlib
   indexes them: the part names of the whole file sorted by strcmp ("00".."67"); a part a box
   lacks is "not present" (dlib's OBJECT_PART_NOT_PRESENT). Other attributes of dlib's
   (occluded, difficult, truncated, pose, detection_score, angle) and unknown elements are
   accepted and ignored. Malformed files are refused with "FILE:LINE: what is wrong".

   A small XML reader of our own: elements, attributes in ' or " quotes, the five predefined
   entities and numeric character references, comments, <? ?> and <!DOCTYPE>; no CDATA, no
   namespaces. Include once per program (static functions). */
#ifndef FNET_IMGLAB_H
#define FNET_IMGLAB_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define IMGLAB_UNUSED __attribute__((unused))
#else
#define IMGLAB_UNUSED
#endif

#define IMGLAB_MAX_FILE (256u << 20) /* XML files larger than this are refused */
#define IMGLAB_MAX_PARTS 4096        /* distinct part names in one file */
#define IMGLAB_MAX_DEPTH 64          /* element nesting */

typedef struct imglab_box {
    int left, top, width, height; /* as in the XML (dlib rectangle: right = left + width - 1) */
    int ignore;                   /* ignore='1' */
    char label[64];               /* <label>, "" if none */
    float *x, *y;                 /* n_parts entries (dataset part order), NULL if n_parts is 0 */
    unsigned char *present;       /* 0 = the part is absent from this box */
} imglab_box;

typedef struct imglab_image {
    char *file; /* as written in the XML */
    char *path; /* resolved against the XML file's directory */
    int n_boxes;
    imglab_box *boxes;
} imglab_image;

typedef struct imglab_dataset {
    int n_images;
    imglab_image *images;
    int n_parts;
    char **part_names; /* sorted by strcmp, as dlib's load_image_dataset orders them */
} imglab_dataset;

/* ---- parsing state ---- */
typedef struct imglab__raw_part { /* a part as read, before the names are known */
    int name;                     /* index into the parser's name table */
    float x, y;
} imglab__raw_part;

typedef struct imglab__raw_box {
    imglab_box box;
    imglab__raw_part *parts;
    int n_parts, cap_parts;
} imglab__raw_box;

typedef struct imglab__raw_image {
    char *file;
    imglab__raw_box *boxes;
    int n_boxes, cap_boxes;
} imglab__raw_image;

typedef struct imglab__parser {
    const char *s, *end, *p, *name;
    char *err;
    size_t err_size;
    imglab__raw_image *images;
    int n_images, cap_images;
    char **names; /* part names in order of first appearance */
    int n_names, cap_names;
} imglab__parser;

static int imglab__line(const imglab__parser *ps, const char *at) {
    const char *q;
    int line = 1;
    for (q = ps->s; q < at && q < ps->end; q++) line += *q == '\n';
    return line;
}

static int imglab__fail(imglab__parser *ps, const char *at, const char *fmt, ...) {
    va_list ap;
    int n;
    if (!ps->err || !ps->err_size) return 0;
    n = snprintf(ps->err, ps->err_size, "%s:%d: ", ps->name, imglab__line(ps, at));
    if (n < 0 || (size_t)n >= ps->err_size) return 0;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->err_size - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}

/* grows *p (of *cap elements of size es) to hold n; 0 when out of memory */
static int imglab__grow(void **p, int *cap, int n, size_t es) {
    void *q;
    int c;
    if (n <= *cap) return 1;
    if (n > INT_MAX / 2) return 0;
    c = *cap ? *cap * 2 : 8;
    while (c < n) c *= 2;
    if ((size_t)c > (size_t)-1 / es) return 0;
    q = realloc(*p, (size_t)c * es);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static int imglab__is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int imglab__is_name(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':' || (unsigned char)c >= 0x80;
}

/* Decodes [a, b) with its entities into a new string; NULL (error set) on a bad entity. */
static char *imglab__decode(imglab__parser *ps, const char *a, const char *b) {
    char *out = (char *)malloc((size_t)(b - a) + 1), *o = out;
    if (!out) { imglab__fail(ps, a, "out of memory"); return NULL; }
    while (a < b) {
        if (*a != '&') { *o++ = *a++; continue; }
        {
            const char *semi = a + 1;
            size_t len;
            while (semi < b && *semi != ';' && semi - a < 12) semi++;
            if (semi >= b || *semi != ';') { free(out); imglab__fail(ps, a, "'&' without a ';' (write &amp; for '&')"); return NULL; }
            len = (size_t)(semi - a - 1);
            if (len == 3 && !memcmp(a + 1, "amp", 3)) *o++ = '&';
            else if (len == 2 && !memcmp(a + 1, "lt", 2)) *o++ = '<';
            else if (len == 2 && !memcmp(a + 1, "gt", 2)) *o++ = '>';
            else if (len == 4 && !memcmp(a + 1, "quot", 4)) *o++ = '"';
            else if (len == 4 && !memcmp(a + 1, "apos", 4)) *o++ = '\'';
            else if (len >= 2 && a[1] == '#') {
                char *e;
                long v = a[2] == 'x' ? strtol(a + 3, &e, 16) : strtol(a + 2, &e, 10);
                if (e != semi || v < 1 || v > 255) { /* Latin-1 files (dlib writes ISO-8859-1) */
                    free(out);
                    imglab__fail(ps, a, "unsupported character reference '%.*s'", (int)(semi - a + 1), a);
                    return NULL;
                }
                *o++ = (char)v;
            } else {
                free(out);
                imglab__fail(ps, a, "unknown entity '%.*s'", (int)(semi - a + 1), a);
                return NULL;
            }
            a = semi + 1;
        }
    }
    *o = 0;
    return out;
}

typedef struct imglab__attr {
    const char *name, *val; /* val: raw [val, val_end) */
    size_t name_len;
    const char *val_end;
} imglab__attr;

#define IMGLAB__MAX_ATTRS 32

typedef struct imglab__tag {
    const char *at, *name;
    size_t name_len;
    int closing, self_closing, n_attrs;
    imglab__attr attrs[IMGLAB__MAX_ATTRS];
} imglab__tag;

static int imglab__is(const imglab__tag *t, const char *name) {
    return t->name_len == strlen(name) && !memcmp(t->name, name, t->name_len);
}

static const imglab__attr *imglab__find_attr(const imglab__tag *t, const char *name) {
    int i;
    for (i = 0; i < t->n_attrs; i++)
        if (t->attrs[i].name_len == strlen(name) && !memcmp(t->attrs[i].name, name, t->attrs[i].name_len)) return &t->attrs[i];
    return NULL;
}

/* an integer attribute (required or with a default); 0 on error */
static int imglab__int_attr(imglab__parser *ps, const imglab__tag *t, const char *name, int required, int *out) {
    const imglab__attr *a = imglab__find_attr(t, name);
    char buf[32], *e;
    long v;
    size_t n;
    if (!a) {
        if (required) return imglab__fail(ps, t->at, "<%.*s> lacks the attribute %s", (int)t->name_len, t->name, name);
        return 1;
    }
    n = (size_t)(a->val_end - a->val);
    if (n == 0 || n >= sizeof buf) return imglab__fail(ps, a->val, "%s='%.*s' is not an integer", name, (int)(n < 40 ? n : 40), a->val);
    memcpy(buf, a->val, n);
    buf[n] = 0;
    errno = 0;
    v = strtol(buf, &e, 10);
    if (*e || errno || v < -1000000000L || v > 1000000000L)
        return imglab__fail(ps, a->val, "%s='%s' is not an integer in [-1e9, 1e9]", name, buf);
    *out = (int)v;
    return 1;
}

/* Reads the next tag at ps->p (the text before it goes to text .. text_end); 0 at end or error
   (ps->err says which: err[0] == 0 means end of input). */
static int imglab__next_tag(imglab__parser *ps, imglab__tag *t, const char **text, const char **text_end) {
    const char *p = ps->p, *e = ps->end;
    for (;;) {
        *text = p;
        while (p < e && *p != '<') p++;
        *text_end = p;
        if (p >= e) { ps->p = p; return 0; }
        if (e - p >= 4 && !memcmp(p, "<!--", 4)) {
            const char *q = p + 4;
            while (q + 3 <= e && memcmp(q, "-->", 3)) q++;
            if (q + 3 > e) return imglab__fail(ps, p, "comment not closed with -->");
            p = q + 3;
            continue;
        }
        if (e - p >= 2 && (p[1] == '?' || p[1] == '!')) { /* <?xml ...?>, <!DOCTYPE ...> */
            const char *q = p + 2;
            if (e - p >= 9 && !memcmp(p, "<![CDATA[", 9)) return imglab__fail(ps, p, "CDATA sections are not supported");
            while (q < e && *q != '>') q++;
            if (q >= e) return imglab__fail(ps, p, "'%c' declaration not closed with '>'", p[1]);
            p = q + 1;
            continue;
        }
        break;
    }
    memset(t, 0, sizeof *t);
    t->at = p++;
    if (p < e && *p == '/') { t->closing = 1; p++; }
    t->name = p;
    while (p < e && imglab__is_name(*p)) p++;
    t->name_len = (size_t)(p - t->name);
    if (!t->name_len) return imglab__fail(ps, t->at, "'<' not followed by an element name (write &lt; for '<')");
    for (;;) {
        imglab__attr *a;
        char q;
        while (p < e && imglab__is_space(*p)) p++;
        if (p >= e) return imglab__fail(ps, t->at, "<%.*s> not closed with '>'", (int)t->name_len, t->name);
        if (*p == '>') { p++; break; }
        if (*p == '/' && p + 1 < e && p[1] == '>' && !t->closing) { t->self_closing = 1; p += 2; break; }
        if (t->closing) return imglab__fail(ps, p, "unexpected '%c' in </%.*s>", *p, (int)t->name_len, t->name);
        if (t->n_attrs == IMGLAB__MAX_ATTRS) return imglab__fail(ps, p, "more than %d attributes", IMGLAB__MAX_ATTRS);
        a = &t->attrs[t->n_attrs++];
        a->name = p;
        while (p < e && imglab__is_name(*p)) p++;
        a->name_len = (size_t)(p - a->name);
        if (!a->name_len) return imglab__fail(ps, p, "unexpected '%c' in <%.*s>", *p, (int)t->name_len, t->name);
        while (p < e && imglab__is_space(*p)) p++;
        if (p >= e || *p != '=') return imglab__fail(ps, a->name, "attribute %.*s without '='", (int)a->name_len, a->name);
        p++;
        while (p < e && imglab__is_space(*p)) p++;
        if (p >= e || (*p != '\'' && *p != '"')) return imglab__fail(ps, a->name, "attribute %.*s: value not in quotes", (int)a->name_len, a->name);
        q = *p++;
        a->val = p;
        while (p < e && *p != q && *p != '<') p++;
        if (p >= e || *p != q) return imglab__fail(ps, a->val, "attribute %.*s: closing quote missing", (int)a->name_len, a->name);
        a->val_end = p++;
    }
    ps->p = p;
    return 1;
}

static int imglab__name_index(imglab__parser *ps, const char *at, const char *a, const char *b) {
    int i;
    char *n;
    for (i = 0; i < ps->n_names; i++)
        if (strlen(ps->names[i]) == (size_t)(b - a) && !memcmp(ps->names[i], a, (size_t)(b - a))) return i;
    if (ps->n_names >= IMGLAB_MAX_PARTS) return imglab__fail(ps, at, "more than %d distinct part names", IMGLAB_MAX_PARTS) - 1;
    if (!imglab__grow((void **)&ps->names, &ps->cap_names, ps->n_names + 1, sizeof(char *)) ||
        !(n = imglab__decode(ps, a, b)))
        return imglab__fail(ps, at, "out of memory") - 1;
    if (!*n) { free(n); return imglab__fail(ps, at, "empty part name") - 1; }
    ps->names[ps->n_names] = n;
    return ps->n_names++;
}

static int imglab__strcmp_p(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void imglab__raw_free(imglab__parser *ps) {
    int i, j;
    for (i = 0; i < ps->n_images; i++) {
        for (j = 0; j < ps->images[i].n_boxes; j++) free(ps->images[i].boxes[j].parts);
        free(ps->images[i].boxes);
        free(ps->images[i].file);
    }
    free(ps->images);
    for (i = 0; i < ps->n_names; i++) free(ps->names[i]);
    free(ps->names);
}

static IMGLAB_UNUSED void imglab_free(imglab_dataset *d) {
    int i, j;
    if (!d) return;
    for (i = 0; i < d->n_images; i++) {
        for (j = 0; j < d->images[i].n_boxes; j++) {
            free(d->images[i].boxes[j].x);
            free(d->images[i].boxes[j].y);
            free(d->images[i].boxes[j].present);
        }
        free(d->images[i].boxes);
        free(d->images[i].file);
        free(d->images[i].path);
    }
    free(d->images);
    for (i = 0; i < d->n_parts; i++) free(d->part_names[i]);
    free(d->part_names);
    memset(d, 0, sizeof *d);
}

/* Parses the elements; builds ps->images. */
static int imglab__parse(imglab__parser *ps) {
    const char *stack_name[IMGLAB_MAX_DEPTH];
    size_t stack_len[IMGLAB_MAX_DEPTH];
    int depth = 0, in_image = 0, in_box = 0, in_label = 0, seen_dataset = 0;
    const char *label_at = NULL;
    imglab__tag t;
    const char *text, *text_end;
    for (;;) {
        ps->err[0] = 0;
        if (!imglab__next_tag(ps, &t, &text, &text_end)) {
            if (ps->err[0]) return 0;
            if (depth) return imglab__fail(ps, ps->end, "end of file inside <%.*s>", (int)stack_len[depth - 1], stack_name[depth - 1]);
            if (!seen_dataset) return imglab__fail(ps, ps->end, "no <dataset> element: not a dlib imglab XML file");
            return 1;
        }
        if (in_label && text_end > text) { /* the text of <label> */
            imglab_box *b = &ps->images[ps->n_images - 1].boxes[ps->images[ps->n_images - 1].n_boxes - 1].box;
            char *v = imglab__decode(ps, text, text_end);
            size_t n;
            if (!v) return 0;
            n = strlen(b->label);
            if (n + strlen(v) >= sizeof b->label) { free(v); return imglab__fail(ps, label_at, "label longer than %d bytes", (int)sizeof b->label - 1); }
            memcpy(b->label + n, v, strlen(v) + 1);
            free(v);
        } else {
            const char *q;
            for (q = text; q < text_end; q++)
                if (*q == '&') { char *v = imglab__decode(ps, text, text_end); if (!v) return 0; free(v); break; }
        }
        if (t.closing) {
            if (!depth || stack_len[depth - 1] != t.name_len || memcmp(stack_name[depth - 1], t.name, t.name_len))
                return imglab__fail(ps, t.at, "</%.*s> does not close %s%.*s%s", (int)t.name_len, t.name, depth ? "<" : "any element",
                                    depth ? (int)stack_len[depth - 1] : 0, depth ? stack_name[depth - 1] : "", depth ? ">" : "");
            depth--;
            if (imglab__is(&t, "image")) in_image = 0;
            else if (imglab__is(&t, "box")) in_box = 0;
            else if (imglab__is(&t, "label")) in_label = 0;
            continue;
        }
        if (in_label) return imglab__fail(ps, t.at, "element <%.*s> inside <label>", (int)t.name_len, t.name);
        if (!depth && !imglab__is(&t, "dataset"))
            return imglab__fail(ps, t.at, "the root element is <%.*s>, not <dataset>: not a dlib imglab XML file", (int)t.name_len, t.name);
        if (imglab__is(&t, "dataset")) {
            if (depth) return imglab__fail(ps, t.at, "<dataset> inside another element");
            if (seen_dataset) return imglab__fail(ps, t.at, "a second <dataset>");
            seen_dataset = 1;
        } else if (imglab__is(&t, "image")) {
            const imglab__attr *f = imglab__find_attr(&t, "file");
            imglab__raw_image *im;
            if (in_image) return imglab__fail(ps, t.at, "<image> inside <image>");
            if (!f) return imglab__fail(ps, t.at, "<image> lacks the attribute file");
            if (f->val_end == f->val) return imglab__fail(ps, t.at, "<image> with an empty file name");
            if (!imglab__grow((void **)&ps->images, &ps->cap_images, ps->n_images + 1, sizeof *ps->images))
                return imglab__fail(ps, t.at, "out of memory");
            im = &ps->images[ps->n_images];
            memset(im, 0, sizeof *im);
            if (!(im->file = imglab__decode(ps, f->val, f->val_end))) return 0;
            ps->n_images++;
            in_image = !t.self_closing;
        } else if (imglab__is(&t, "box")) {
            imglab__raw_image *im;
            imglab__raw_box *rb;
            int ign = 0;
            if (!in_image) return imglab__fail(ps, t.at, "<box> outside <image>");
            if (in_box) return imglab__fail(ps, t.at, "<box> inside <box>");
            im = &ps->images[ps->n_images - 1];
            if (!imglab__grow((void **)&im->boxes, &im->cap_boxes, im->n_boxes + 1, sizeof *im->boxes))
                return imglab__fail(ps, t.at, "out of memory");
            rb = &im->boxes[im->n_boxes++];
            memset(rb, 0, sizeof *rb);
            if (!imglab__int_attr(ps, &t, "top", 1, &rb->box.top) || !imglab__int_attr(ps, &t, "left", 1, &rb->box.left) ||
                !imglab__int_attr(ps, &t, "width", 1, &rb->box.width) ||
                !imglab__int_attr(ps, &t, "height", 1, &rb->box.height) || !imglab__int_attr(ps, &t, "ignore", 0, &ign))
                return 0;
            if (rb->box.width < 0 || rb->box.height < 0)
                return imglab__fail(ps, t.at, "<box> with a negative width or height (%d x %d)", rb->box.width, rb->box.height);
            rb->box.ignore = ign != 0;
            in_box = !t.self_closing;
        } else if (imglab__is(&t, "part")) {
            imglab__raw_box *rb;
            const imglab__attr *nm = imglab__find_attr(&t, "name");
            int x = 0, y = 0, k, idx;
            if (!in_box) return imglab__fail(ps, t.at, "<part> outside <box>");
            rb = &ps->images[ps->n_images - 1].boxes[ps->images[ps->n_images - 1].n_boxes - 1];
            if (!nm) return imglab__fail(ps, t.at, "<part> lacks the attribute name");
            if (!imglab__int_attr(ps, &t, "x", 1, &x) || !imglab__int_attr(ps, &t, "y", 1, &y)) return 0;
            if ((idx = imglab__name_index(ps, t.at, nm->val, nm->val_end)) < 0) return 0;
            for (k = 0; k < rb->n_parts; k++)
                if (rb->parts[k].name == idx) return imglab__fail(ps, t.at, "part '%s' given twice in one box", ps->names[idx]);
            if (!imglab__grow((void **)&rb->parts, &rb->cap_parts, rb->n_parts + 1, sizeof *rb->parts))
                return imglab__fail(ps, t.at, "out of memory");
            rb->parts[rb->n_parts].name = idx;
            rb->parts[rb->n_parts].x = (float)x;
            rb->parts[rb->n_parts].y = (float)y;
            rb->n_parts++;
        } else if (imglab__is(&t, "label")) {
            if (!in_box) return imglab__fail(ps, t.at, "<label> outside <box>");
            in_label = !t.self_closing;
            label_at = t.at;
        }
        if (!t.self_closing) {
            if (depth == IMGLAB_MAX_DEPTH) return imglab__fail(ps, t.at, "elements nested deeper than %d", IMGLAB_MAX_DEPTH);
            stack_name[depth] = t.name;
            stack_len[depth] = t.name_len;
            depth++;
        }
    }
}

/* Parses XML text of n bytes; image paths are resolved against base_dir ("" or NULL: as
   written); name_for_errors heads the messages. 1 on success; 0 with err set. */
static IMGLAB_UNUSED int imglab_load_memory(const char *text, size_t n, const char *base_dir, const char *name_for_errors,
                                            imglab_dataset *out, char *err, size_t err_size) {
    imglab__parser ps;
    char dummy[2];
    int *rank = NULL, i, j, k, ok = 0;
    if (!out) return 0;
    memset(out, 0, sizeof *out);
    memset(&ps, 0, sizeof ps);
    ps.s = ps.p = text;
    ps.end = text + n;
    ps.name = name_for_errors ? name_for_errors : "(xml)";
    ps.err = err && err_size ? err : dummy;
    ps.err_size = err && err_size ? err_size : sizeof dummy;
    if (!text) return imglab__fail(&ps, text, "no text");
    if (memchr(text, 0, n)) return imglab__fail(&ps, (const char *)memchr(text, 0, n), "a NUL byte: not a text file");
    if (!imglab__parse(&ps)) goto done;
    /* part names in dlib's order, and each name's rank in it */
    out->n_parts = ps.n_names;
    if (ps.n_names) {
        out->part_names = (char **)malloc((size_t)ps.n_names * sizeof(char *));
        rank = (int *)malloc((size_t)ps.n_names * sizeof(int));
        if (!out->part_names || !rank) { imglab__fail(&ps, ps.end, "out of memory"); goto done; }
        memcpy(out->part_names, ps.names, (size_t)ps.n_names * sizeof(char *));
        qsort(out->part_names, (size_t)ps.n_names, sizeof(char *), imglab__strcmp_p);
        for (i = 0; i < ps.n_names; i++)
            for (j = 0; j < ps.n_names; j++)
                if (out->part_names[j] == ps.names[i]) rank[i] = j;
        ps.n_names = 0; /* the names now belong to out */
    }
    out->images = (imglab_image *)calloc((size_t)(ps.n_images ? ps.n_images : 1), sizeof(imglab_image));
    if (!out->images) { imglab__fail(&ps, ps.end, "out of memory"); goto done; }
    out->n_images = ps.n_images;
    for (i = 0; i < ps.n_images; i++) {
        imglab__raw_image *ri = &ps.images[i];
        imglab_image *im = &out->images[i];
        size_t bl = base_dir ? strlen(base_dir) : 0;
        im->file = ri->file;
        ri->file = NULL;
        im->path = (char *)malloc(bl + strlen(im->file) + 2);
        if (!im->path) { imglab__fail(&ps, ps.end, "out of memory"); goto done; }
        if (bl && im->file[0] != '/') sprintf(im->path, "%s%s%s", base_dir, base_dir[bl - 1] == '/' ? "" : "/", im->file);
        else strcpy(im->path, im->file);
        im->boxes = (imglab_box *)calloc((size_t)(ri->n_boxes ? ri->n_boxes : 1), sizeof(imglab_box));
        if (!im->boxes) { imglab__fail(&ps, ps.end, "out of memory"); goto done; }
        im->n_boxes = ri->n_boxes;
        for (j = 0; j < ri->n_boxes; j++) {
            imglab_box *b = &im->boxes[j];
            *b = ri->boxes[j].box;
            if (!out->n_parts) continue;
            b->x = (float *)calloc((size_t)out->n_parts, sizeof(float));
            b->y = (float *)calloc((size_t)out->n_parts, sizeof(float));
            b->present = (unsigned char *)calloc((size_t)out->n_parts, 1);
            if (!b->x || !b->y || !b->present) { imglab__fail(&ps, ps.end, "out of memory"); goto done; }
            for (k = 0; k < ri->boxes[j].n_parts; k++) {
                int r = rank[ri->boxes[j].parts[k].name];
                b->x[r] = ri->boxes[j].parts[k].x;
                b->y[r] = ri->boxes[j].parts[k].y;
                b->present[r] = 1;
            }
        }
    }
    ok = 1;
done:
    free(rank);
    imglab__raw_free(&ps);
    if (!ok) imglab_free(out);
    return ok;
}

/* Reads and parses an XML file; image paths resolved against its directory. */
static IMGLAB_UNUSED int imglab_load(const char *xml_path, imglab_dataset *out, char *err, size_t err_size) {
    FILE *f;
    char *text = NULL, *dir = NULL, *slash;
    size_t n = 0, cap = 0, got;
    int ok;
    if (out) memset(out, 0, sizeof *out);
    if (!xml_path || !out) return 0;
    f = fopen(xml_path, "rb");
    if (!f) {
        if (err && err_size) snprintf(err, err_size, "%s: cannot open (%s)", xml_path, strerror(errno));
        return 0;
    }
    for (;;) {
        if (n == cap) {
            char *t;
            if (cap >= IMGLAB_MAX_FILE) {
                fclose(f);
                free(text);
                if (err && err_size) snprintf(err, err_size, "%s: larger than %u MB: not an imglab XML file", xml_path, IMGLAB_MAX_FILE >> 20);
                return 0;
            }
            cap = cap ? cap * 2 : 65536;
            t = (char *)realloc(text, cap);
            if (!t) { fclose(f); free(text); if (err && err_size) snprintf(err, err_size, "%s: out of memory", xml_path); return 0; }
            text = t;
        }
        got = fread(text + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        fclose(f);
        free(text);
        if (err && err_size) snprintf(err, err_size, "%s: read error", xml_path);
        return 0;
    }
    fclose(f);
    dir = (char *)malloc(strlen(xml_path) + 1);
    if (!dir) { free(text); return 0; }
    strcpy(dir, xml_path);
    slash = strrchr(dir, '/');
    if (slash) slash[1] = 0;
    else dir[0] = 0;
    ok = imglab_load_memory(text ? text : "", n, dir, xml_path, out, err, err_size);
    free(dir);
    free(text);
    return ok;
}

#endif /* FNET_IMGLAB_H */
