/* image_sanity.c - decodes each image file named on the command line and prints one line per
   file: "decoded WxH", or "refused: WHY". Built by tools/eval/image_sanity.sh twice, both with
   ASan+UBSan: as fnet decodes photos (examples/image_load.h: the pre-pass, then stb_image)
   and, with -DIMAGE_SANITY_RAW, as fnet did before (stb_image 2.27 alone, every format), so
   that the same files show what the pre-pass changes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef IMAGE_SANITY_RAW
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#else
#include "examples/image_load.h"
#endif

int main(int argc, char **argv) {
    int a;
    for (a = 1; a < argc; a++) {
#ifdef IMAGE_SANITY_RAW
        int w, h, n;
        unsigned char *px = stbi_load(argv[a], &w, &h, &n, 3);
        if (px) printf("%s decoded %dx%d\n", argv[a], w, h);
        else printf("%s refused: %s\n", argv[a], stbi_failure_reason());
        stbi_image_free(px);
#else
        il_image im;
        char why[256];
        if (il_load(argv[a], 3, &im, why, sizeof why)) printf("%s decoded %dx%d\n", argv[a], im.width, im.height);
        else printf("%s refused: %s\n", argv[a], why);
        il_free(&im);
#endif
        fflush(stdout);
    }
    return 0;
}
