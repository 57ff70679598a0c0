/* test_image_load.c - examples/image_load.h, the one photo decoder of the project (pre-pass +
   stb_image 2.27), on hostile and valid files. Built optimised and with ASan+UBSan by
   tests/run.sh: in the sanitized build any read or write out of bounds, or undefined
   arithmetic in stb_image, ends the process (a failure).
   1. tests/fuzz/regress/image_expect.txt (tests/fuzz/make_image_regress.py): every hand-built
      JPEG/PNG there is refused with the message named, or decodes to the size and pixel named
      (the valid JPEGs are flat: every byte 133 = 128 + DC 40 / 8).
   2. 400 mutated copies of LFW photos (../shared/data/lfw-dev; 1 to 8 bytes changed, half of
      them among the header segments, xorshift64 from seed 1): each is refused with a message
      or decodes to its header's size. stb_image 2.27 alone overflows its Huffman table on
      about 1 in 10 of them (tools/eval/image_sanity.sh shows it); here the DHT check must fire.
   3. il_load: a missing file and a folder are refused with a message. */
#define _POSIX_C_SOURCE 200809L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "../examples/image_load.h"
#include "fnet_test.h"

#include <dirent.h>

static void expect_file(void) {
    FILE *f = fopen("tests/fuzz/regress/image_expect.txt", "r");
    char line[512];
    int n = 0, ok_files = 0;
    CHECK(f != NULL, "tests/fuzz/regress/image_expect.txt missing (python3 tests/fuzz/make_image_regress.py)");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char path[600], *tab = strchr(line, '\t'), *want, why[256];
        unsigned char *buf;
        size_t size = 0;
        il_image im;
        int ok;
        if (line[0] == '#' || !tab) continue;
        *tab = 0;
        want = tab + 1;
        want[strcspn(want, "\r\n")] = 0;
        snprintf(path, sizeof path, "tests/fuzz/regress/%s", line);
        buf = test_read_file(path, &size);
        CHECK(buf != NULL, "%s missing", path);
        if (!buf) continue;
        why[0] = 0;
        ok = il_decode_memory(buf, size, 3, &im, why, sizeof why);
        if (strncmp(want, "refused: ", 9) == 0) {
            CHECK(!ok && strstr(why, want + 9) != NULL, "%s: refused with \"%s\" (got %s: \"%s\")", line, want + 9,
                  ok ? "decoded" : "refused", why);
        } else {
            int w = 0, h = 0, pix = -1;
            size_t i, same = 0;
            sscanf(want, "decoded %dx%d %d", &w, &h, &pix);
            CHECK(ok && im.width == w && im.height == h && im.pixels[0] == pix, "%s: %s (got %s %dx%d %d: %s)", line,
                  want, ok ? "decoded" : "refused", im.width, im.height, ok ? im.pixels[0] : -1, why);
            if (ok && strncmp(line, "jpeg/", 5) == 0) {
                for (i = 0; i < (size_t)im.width * im.height * 3; i++) same += im.pixels[i] == pix;
                CHECK(same == (size_t)im.width * im.height * 3, "%s: flat at %d (%zu of %d bytes)", line, pix, same,
                      im.width * im.height * 3);
                il_free(&im);
                /* the same file as one gray channel */
                CHECK(il_decode_memory(buf, size, 1, &im, why, sizeof why) && im.channels == 1 && im.pixels[0] == pix,
                      "%s as gray: %s", line, why);
            }
            ok_files += ok;
            il_free(&im);
        }
        free(buf);
        n++;
    }
    fclose(f);
    CHECK(n >= 60 && ok_files >= 5, "%d expectations (>= 60), %d valid files decoded (>= 5)", n, ok_files);
}

/* The LFW photos under dir (sorted names are not needed: the walk order is readdir's, and the
   picks are by index into the list, so collect and sort). */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_jpegs(const char *dir, char ***out, int *n, int *cap) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".jpg") == 0) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 1024;
                *out = (char **)realloc(*out, (size_t)*cap * sizeof **out);
            }
            (*out)[(*n)++] = strdup(path);
        } else {
            list_jpegs(path, out, n, cap); /* a person's folder */
        }
    }
    closedir(d);
    return 1;
}

static unsigned long long xs_state;
static unsigned long long xs(void) {
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return xs_state;
}

static void mutated_lfw(void) {
    const char *root = shared_path("data/lfw-dev");
    char **files = NULL, why[256];
    int n = 0, cap = 0, k, decoded = 0, refused = 0, dht = 0, silent = 0;
    if (!root) {
        SKIP("../shared/data/lfw-dev absent (set FNET_SHARED): mutated photos not checked");
        return;
    }
    list_jpegs(root, &files, &n, &cap);
    CHECK(n >= 100, "LFW photos under %s: %d", root, n);
    if (n < 100) return;
    qsort(files, (size_t)n, sizeof *files, cmp_str);
    xs_state = 0x9E3779B97F4A7C15ULL ^ 1; /* seed 1 */
    for (k = 0; k < 400; k++) {
        size_t size = 0, he = 2, i;
        unsigned char *b = test_read_file(files[xs() % (unsigned)n], &size);
        il_image im;
        int m, nm;
        if (!b || size < 600) { free(b); continue; }
        for (i = 2; i + 4 <= size && b[i] == 0xFF && b[i + 1] != 0xDA;) i += 2 + ((size_t)b[i + 2] << 8 | b[i + 3]);
        he = i < size ? i : 600;
        nm = 1 + (int)(xs() % 8);
        for (m = 0; m < nm; m++) {
            size_t pos = xs() % 2 ? 2 + xs() % (he - 2) : 2 + xs() % (size - 2);
            int kind = (int)(xs() % 3);
            b[pos] = kind == 0 ? (unsigned char)xs() : kind == 1 ? (unsigned char)(b[pos] ^ (1u << (xs() % 8))) : 0xFF;
        }
        why[0] = 0;
        if (il_decode_memory(b, size, 3, &im, why, sizeof why)) {
            decoded++;
            il_free(&im);
        } else {
            refused++;
            if (!why[0]) silent++;
            if (strstr(why, "DHT declares")) dht++;
        }
        free(b);
    }
    printf("mutated LFW photos: %d decoded, %d refused (%d by the DHT checks)\n", decoded, refused, dht);
    CHECK(decoded + refused == 400 && silent == 0, "400 mutated photos each decoded or refused with a message (%d silent)",
          silent);
    CHECK(dht >= 10 && decoded >= 40, "the DHT checks fired (%d, >= 10) and damage elsewhere still decodes (%d, >= 40)",
          dht, decoded);
    for (k = 0; k < n; k++) free(files[k]);
    free(files);
}

static void files(void) {
    il_image im;
    char why[256];
    why[0] = 0;
    CHECK(!il_load("tests/fuzz/regress/no_such_file.jpg", 3, &im, why, sizeof why) && strstr(why, "cannot open"),
          "a missing file: \"%s\"", why);
    why[0] = 0;
    CHECK(!il_load("tests/fuzz/regress", 3, &im, why, sizeof why) && why[0], "a folder: \"%s\"", why);
    CHECK(!il_load("tests/fuzz/regress/jpeg/ok_base.jpg", 5, &im, why, sizeof why) && strstr(why, "channels"),
          "5 channels: \"%s\"", why);
    CHECK(il_load("tests/fuzz/regress/jpeg/ok_base.jpg", 3, &im, NULL, 0) && im.width == 16, "il_load without why");
    il_free(&im);
    CHECK(!il_check((const unsigned char *)"\xff\xd8\xff", 3, NULL, NULL, NULL, 0), "3 bytes of JPEG, no why buffer");
}

int main(void) {
    expect_file();
    mutated_lfw();
    files();
    return test_finish();
}
