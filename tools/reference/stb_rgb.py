"""stb_rgb.py: decode an image in Python exactly as facenet.h's C tests decode it (stb_image,
3 channels), so chips cut in Python from the shared photos are byte-identical to the ones the
C tests cut (JPEG decoders differ in their IDCT and chroma upsampling: cv2's libjpeg is not
stb_image). Through examples/image_load.h, as every C program of the project: the validating
pre-pass, then stb_image. needs: numpy, gcc and /usr/include/stb/stb_image.h (libstb-dev).

    sys.path.insert(0, "tools/reference"); import stb_rgb
    img = stb_rgb.load(path)      # H x W x 3 uint8 (RGB), or None if the image is refused

The first call builds build/stb_rgb_il.so (temp file + rename, so concurrent callers are safe).
"""
import ctypes
import os
import subprocess
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = r"""
#include "examples/image_load.h"
/* RGB pixels of PATH into a malloc'ed buffer (free with stb_rgb_free), size in *w, *h. */
unsigned char *stb_rgb_load(const char *path, int *w, int *h) {
    return il_load_pixels(path, 3, w, h, NULL, 0);
}
void stb_rgb_free(unsigned char *p) { il_free_pixels(p); }
"""
_lib = None


def _build():
    out = os.path.join(ROOT, "build", "stb_rgb_il.so")
    if os.path.exists(out):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp()
    src = os.path.join(tmp, "stb_rgb.c")
    with open(src, "w") as f:
        f.write(SRC)
    part = out + ".%d" % os.getpid()
    subprocess.check_call(["gcc", "-O2", "-shared", "-fPIC", "-I" + ROOT, "-I/usr/include/stb", src, "-o", part, "-lm"])
    os.replace(part, out)
    return out


def load(path):
    global _lib
    if _lib is None:
        _lib = ctypes.CDLL(_build())
        _lib.stb_rgb_load.restype = ctypes.POINTER(ctypes.c_ubyte)
        _lib.stb_rgb_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
        _lib.stb_rgb_free.argtypes = [ctypes.POINTER(ctypes.c_ubyte)]
    w, h = ctypes.c_int(0), ctypes.c_int(0)
    p = _lib.stb_rgb_load(os.fsencode(path), ctypes.byref(w), ctypes.byref(h))
    if not p:
        return None
    img = np.ctypeslib.as_array(p, shape=(h.value, w.value, 3)).copy()
    _lib.stb_rgb_free(p)
    return img


def dlib_chip(img, pts, size=150):
    """dlib's face chip of img (H x W x 3 uint8) from 68 points, cut by the header's
    fnet_align(FNET_ALIGN_DLIB_CHIP) through tests/drivers/align_driver.c, which
    tests/test_align.py shows byte-identical to dlib's own extract_image_chip. The landmarks
    are rounded to whole pixels, as dlib hands them over."""
    drv = os.path.join(ROOT, "build", "tests", "align_driver")
    if not os.path.exists(drv):
        os.makedirs(os.path.dirname(drv), exist_ok=True)
        part = drv + ".%d" % os.getpid()
        subprocess.check_call(["gcc", "-std=c99", "-O2", "-I" + ROOT,
                               os.path.join(ROOT, "tests", "drivers", "align_driver.c"), "-o", part, "-lm"])
        os.replace(part, drv)
    with tempfile.NamedTemporaryFile(suffix=".raw") as f:
        np.ascontiguousarray(img, dtype=np.uint8).tofile(f.name)
        p = subprocess.run([drv, f.name, str(img.shape[1]), str(img.shape[0]), "3", str(size)] +
                           ["%d" % int(np.floor(v + 0.5)) for v in np.asarray(pts, np.float64).ravel()],
                           capture_output=True, check=True)
    return np.frombuffer(p.stdout, np.uint8).reshape(size, size, 3)
