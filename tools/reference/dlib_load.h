// dlib_load.h - a photo into a dlib RGB image for the dlib reference programs in tools/:
// examples/image_load.h's validating pre-pass, then stb_image (3 channels), so dlib sees the
// pixels facenet.h's C tests see. Include once per program.
#ifndef FNET_DLIB_LOAD_H
#define FNET_DLIB_LOAD_H
#include <dlib/image_processing.h>
#include <string>
#include "../../examples/image_load.h"

static bool load(const std::string &path, dlib::array2d<dlib::rgb_pixel> &img) {
    int w, h;
    unsigned char *p = il_load_pixels(path.c_str(), 3, &w, &h, NULL, 0);
    if (!p) return false;
    img.set_size(h, w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const unsigned char *q = p + 3 * ((size_t)y * w + x);
            img[y][x] = dlib::rgb_pixel(q[0], q[1], q[2]);
        }
    il_free_pixels(p);
    return true;
}
#endif
