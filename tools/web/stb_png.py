"""stb_png.py OUT_DIR IMG...: each photo decoded as the native CLI decodes it (stb_image via
tools/reference/stb_rgb.py, RGB) and written to OUT_DIR/NAME.png (lossless, no colour chunks: a browser
decodes it to the very same bytes) and OUT_DIR/NAME.rgb (raw RGB, for Node), plus
OUT_DIR/photos.json [{name, png, rgb, width, height, source}]. JPEG decoders differ (a
browser's libjpeg-turbo is not stb_image), so comparing the page with build/fnet goes through
these PNGs. Needs /usr/bin/python3 (numpy)."""
import json
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reference"))
import stb_rgb  # noqa: E402


def png_bytes(rgb, w, h):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + rgb[y * w * 3:(y + 1) * w * 3] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    photos = []
    for path in sys.argv[2:]:
        img = stb_rgb.load(path)
        if img is None:
            sys.exit("stb_png: %s: refused by the image loader" % path)
        h, w = img.shape[:2]
        name = os.path.splitext(os.path.basename(path))[0]
        rgb = img.tobytes()
        with open(os.path.join(out, name + ".png"), "wb") as f:
            f.write(png_bytes(rgb, w, h))
        with open(os.path.join(out, name + ".rgb"), "wb") as f:
            f.write(rgb)
        photos.append({"name": name, "png": name + ".png", "rgb": name + ".rgb", "width": w, "height": h,
                       "source": path})
    with open(os.path.join(out, "photos.json"), "w") as f:
        json.dump(photos, f, indent=1)


if __name__ == "__main__":
    main()
