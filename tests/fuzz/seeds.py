"""Writes the seed corpora of the fuzz targets from real files (not committed: they are
rebuilt by `make fuzz`).   usage: /usr/bin/python3 tests/fuzz/seeds.py OUTDIR
  OUTDIR/blob/      hog_frontal.fnet as modes 0 and 1, each real blob unpatched (modes 2-5),
                    and a few patch records aimed at the tables and the tensor data
  OUTDIR/pipeline/  photos from the shared data (faces, LFW, group photos) cropped around
                    the face and shrunk to <= 200 px, as gray, RGB and RGBA, in the layout
                    fuzz_pipeline.c reads
  OUTDIR/jpeg/      shared JPEG photos of at most 64 KB and 300x300 pixels (every 40th LFW
                    photo, the progressive ones, the small ones of other folders), small crops
                    of them re-encoded by cv2: gray, progressive, with restart intervals
  OUTDIR/calib/     calibration files in fnet calibrate's format (fuzz_calib)
  OUTDIR/imglab/    the dlib imglab XML files of the shared data, and a tiny one
  OUTDIR/exif/      JPEG headers with an EXIF orientation (1..8, both TIFF byte orders)
  OUTDIR/png/       small crops of the shared PNG photos and of two JPEG photos as PNG: gray,
                    gray+alpha, RGB, RGBA, 16-bit, palette, 1/2/4-bit gray, Adam7-interlaced
                    (the last four by png_bytes below, the others by cv2)
Uses numpy and cv2 (Debian python3-opencv) for the photos; without them only synthetic
images are written."""
import os
import struct
import sys


def main(out):
    weights = os.environ.get("FNET_WEIGHTS", "weights")
    shared = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data")
    bd, pd = os.path.join(out, "blob"), os.path.join(out, "pipeline")
    os.makedirs(bd, exist_ok=True)
    os.makedirs(pd, exist_ok=True)
    nb = npl = 0
    hog = os.path.join(weights, "hog_frontal.fnet")
    if os.path.exists(hog):
        data = open(hog, "rb").read()
        for mode in (0, 1):
            open(os.path.join(bd, "hog_mode%d" % mode), "wb").write(bytes([mode]) + data)
            nb += 1
    for mode, name in enumerate(["hog_frontal", "landmarks68", "nn4.small2.v1", "resnet34"], 2):
        path = os.path.join(weights, name + ".fnet")
        if not os.path.exists(path):
            continue
        head = open(path, "rb").read(96)
        tensor_off, = struct.unpack_from("<Q", head, 56)
        data_off, = struct.unpack_from("<Q", head, 72)
        seeds = {"plain": b""}
        # a table byte (tensor shape of the first tensor), a data word, an op parameter
        seeds["shape"] = struct.pack("<IB", 0x80000000 | (tensor_off + 56), 4) + b"\xff\xff\x00\x00"
        seeds["data"] = struct.pack("<IB", data_off + 4, 4) + struct.pack("<i", -7)
        seeds["data2"] = struct.pack("<IB", data_off + 64 * 3, 8) + struct.pack("<ii", 1 << 30, -1)
        seeds["nan"] = struct.pack("<IB", data_off, 4) + struct.pack("<I", 0x7fc00000)
        for k, v in seeds.items():
            open(os.path.join(bd, "%s_%s" % (name, k)), "wb").write(bytes([mode]) + v)
            nb += 1

    def put(name, w, h, ch, pix, opts=0, box=(0, 0, 0, 0)):
        nonlocal npl
        hdr = struct.pack("<HHBB4i", w - 1, h - 1, {1: 0, 3: 1, 4: 2}[ch], opts, *box)
        open(os.path.join(pd, name), "wb").write(hdr + pix)
        npl += 1

    put("flat_1x1", 1, 1, 1, b"\x80")
    put("ramp_100", 100, 100, 3, bytes((x * 7 + y) & 255 for y in range(100) for x in range(300)))
    put("box_huge", 90, 90, 1, bytes(range(256)) * 4, 0, (-2 ** 31, -5, 2 ** 31 - 1, 7))
    try:
        import cv2
        import numpy as np
    except ImportError:
        print("seeds: no numpy/cv2 in this python: synthetic images only", file=sys.stderr)
        cv2 = None
    if cv2 is not None:
        photos = ["openface-examples/clapton-2.jpg", "openface-examples/lennon-1.jpg",
                  "openface-examples/longoria-cooper.jpg", "dlib-examples/2008_002470.jpg",
                  "dlib-examples/2009_004587.jpg", "faceapi-samples/sample1.jpg"]
        lfw = os.path.join(shared, "lfw-dev", "lfw-deepfunneled")
        if os.path.isdir(lfw):
            people = sorted(os.listdir(lfw))
            for p in people[:: max(1, len(people) // 8)][:8]:
                d = os.path.join(lfw, p)
                if os.path.isdir(d):
                    f = sorted(os.listdir(d))
                    if f:
                        photos.append(os.path.join("lfw-dev", "lfw-deepfunneled", p, f[0]))
        for i, rel in enumerate(photos):
            path = os.path.join(shared, rel)
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                continue
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            h, w = img.shape[:2]
            if "lfw" in rel:  # the face fills the centre: crop it to ~90 px faces at 150 px
                c = img[35:215, 35:215]
                img = cv2.resize(c, (150, 150), interpolation=cv2.INTER_AREA)
            else:
                s = 200.0 / max(h, w)
                img = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
            h, w = img.shape[:2]
            base = os.path.splitext(os.path.basename(rel))[0]
            variant = i % 3
            if variant == 0:
                put("%s_rgb" % base, w, h, 3, img.tobytes(), 1 if w < 120 else 0)
            elif variant == 1:
                g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
                put("%s_gray" % base, w, h, 1, g.tobytes(), 8)
            else:
                a = np.dstack([img, np.full((h, w), 255, np.uint8)])
                put("%s_rgba" % base, w, h, 4, a.tobytes(), 16)
    print("seeds: %d blob seeds in %s, %d image seeds in %s" % (nb, bd, npl, pd))
    image_seeds(out, shared, cv2)
    exif_seeds(out)
    small_blob_seeds(out)
    calib_seeds(out)


def calib_seeds(out):
    """Calibration files as cm__write_calibration writes them (fnet calibrate): the shipped
    ResNet table's shape with a user's level, the smallest (2 points) and the largest (40)."""
    cd = os.path.join(out, "calib")
    os.makedirs(cd, exist_ok=True)

    def text(n, d0=0.38, d1=1.18):
        head = ("fnet-calibration 1\nnetwork resnet34-dlib\npairs 1234\nverify_threshold 0.622500\n"
                "cluster_threshold 0.421400\neer 0.021000\neer_threshold 0.610000\npoints %d\n" % n)
        pts = "".join("%.6f %.6f\n" % (d0 + (d1 - d0) * i / (n - 1), -5.75 + 5.75 * i / (n - 1)) for i in range(n))
        return head + pts
    for n in (2, 25, 40):
        open(os.path.join(cd, "calib_%d.txt" % n), "w").write(text(n))
    print("seeds: 3 calibration files in %s" % cd)


def small_blob_seeds(out):
    """Tiny complete blobs of each kind (a few KB: the fuzzer mutates them at thousands of
    inputs per second, where the real blobs' megabytes allow tens): HOG detectors with 2x2
    and 2x3 filters, shape predictors of 5 points (f32, f16 and i16 leaves), and networks of
    every op type on an 8x8 input. Values from a fixed LCG, valid for the loader."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                    "tools", "convert"))
    import fnet_blob as fb
    sd = os.path.join(out, "smallblob")
    os.makedirs(sd, exist_ok=True)
    state = [12345]

    def rnd(scale=1.0):
        state[0] = (state[0] * 1103515245 + 12345) & 0x7fffffff
        return (state[0] / 0x7fffffff * 2 - 1) * scale

    def save(name, b):
        open(os.path.join(sd, name), "wb").write(b"\x01" + b.to_bytes())  # byte 0: options (fuzz_smallblob.c)

    for name, filters in (("det_2x2", [(2, 2)]), ("det_two", [(2, 3), (2, 3)])):
        b = fb.Blob(fb.KIND_DETECTOR)
        r, c = filters[0]
        for k, v in (("cell_size", 8), ("padding", 0), ("filter_rows", r), ("filter_cols", c), ("pyramid_down", 6),
                     ("max_pyramid_levels", 2), ("min_pyramid_layer_width", 24), ("min_pyramid_layer_height", 24),
                     ("num_filters", len(filters))):
            b.meta(k, v)
        for i, (r, c) in enumerate(filters):
            b.tensor("filter%d" % i, "f32", (r, c, 31), [rnd(0.1) for _ in range(r * c * 31)])
        b.tensor("thresholds", "f32", (len(filters),), [rnd(0.5) for _ in filters])
        save(name, b)
    N, C, P, T, S = 5, 2, 8, 3, 3
    L = S + 1
    for leaves in ("f32", "f16", "i16"):
        b = fb.Blob(fb.KIND_LANDMARKS)
        b.meta("points", N)
        b.tensor("initial_shape", "f32", (N, 2), [0.2 + 0.15 * i + rnd(0.05) for i in range(2 * N)])
        b.tensor("anchor_idx", "u16", (C, P), [int(abs(rnd()) * N) % N for _ in range(C * P)])
        b.tensor("deltas", "f32", (C, P, 2), [rnd(0.1) for _ in range(C * P * 2)])
        b.tensor("split_idx", "u16", (C, T, S, 2), [int(abs(rnd()) * P) % P for _ in range(C * T * S * 2)])
        b.tensor("split_thresh", "f32", (C, T, S), [rnd(20) for _ in range(C * T * S)])
        vals = [rnd(0.05) for _ in range(C * T * L * 2 * N)]
        if leaves == "f32":
            b.tensor("leaves", "f32", (C, T, L, 2 * N), vals)
        elif leaves == "f16":
            b.tensor("leaves", "f16", (C, T, L, 2 * N), struct.pack("<%de" % len(vals), *vals))
        else:
            b.tensor("leaves", "i16", (C, T, L, 2 * N), [int(v * 32767 / 0.05) for v in vals])
            b.tensor("leaf_scale", "f32", (C, T), [0.05 / 32767] * (C * T))
        save("lm_" + leaves, b)

    def net(ops):
        b = fb.Blob(fb.KIND_NETWORK)
        b.meta("align", "outer_eyes_and_nose")
        shape = []

        def op(name, typ, ins, hwc, iparam=(), tensors=(), fparam=(), flags=0):
            shape.append(hwc)
            return b.op(name, typ, inputs=ins, tensors=tensors, iparam=list(iparam) + [0] * (9 - len(iparam)) + list(hwc),
                        fparam=fparam, flags=flags)

        def weights(name, n_in, n_out, shp):
            return [b.tensor(name + ".w", "f32", shp, [rnd(1.0 / n_in ** 0.5) for _ in range(n_in * n_out)]),
                    b.tensor(name + ".b", "f32", (n_out,), [rnd(0.1) for _ in range(n_out)])]
        x = op("input", fb.OP_INPUT, [], (8, 8, 3), [8, 8, 3], fparam=[255.0, 0, 0, 0])
        x = op("conv", fb.OP_CONV, [x], (8, 8, 4), [3, 3, 1, 1, 1, 1, 1, 1], weights("conv", 27, 4, (3, 3, 3, 4)), flags=1)
        if "inception" in ops:
            a = op("pool", fb.OP_MAXPOOL, [x], (4, 4, 4), [2, 2, 2, 2, 0, 0, 0, 0])
            p = op("avg", fb.OP_AVGPOOL, [x], (4, 4, 4), [3, 3, 2, 2, 1, 1, 0, 0])
            q = op("l2p", fb.OP_L2POOL, [x], (4, 4, 4), [2, 2, 2, 2, 0, 0, 0, 0])
            l = op("lrn", fb.OP_LRN, [a], (4, 4, 4), [2], fparam=[1e-4, 0.75, 1.0, 0])
            x = op("concat", fb.OP_CONCAT, [l, p, q], (4, 4, 12))
            x = op("dense", fb.OP_DENSE, [x], (1, 1, 8), [192, 8], weights("dense", 192, 8, (192, 8)))
            op("norm", fb.OP_L2NORM, [x], (1, 1, 8), fparam=[1e-10, 0, 0, 0])
        else:  # a residual block as the ResNet's: pad, conv, add with ReLU, global average pool
            y = op("conv2", fb.OP_CONV, [x], (7, 7, 4), [2, 2, 1, 1, 0, 0, 0, 0], weights("conv2", 16, 4, (2, 2, 4, 4)))
            y = op("pad", fb.OP_PAD, [y], (8, 8, 4), [0, 0, 1, 1])
            x = op("add", fb.OP_ADD, [y, x], (8, 8, 4), flags=1)
            x = op("relu", fb.OP_RELU, [x], (8, 8, 4))
            x = op("gap", fb.OP_GLOBAL_AVGPOOL, [x], (1, 1, 4))
            op("dense", fb.OP_DENSE, [x], (1, 1, 12), [4, 12], weights("dense", 4, 12, (4, 12)))
        return b
    save("net_inception", net("inception"))
    save("net_resnet", net("resnet"))
    print("seeds: 7 small blobs in %s" % sd)


def exif_seeds(out):
    """JPEG headers (SOI, JFIF APP0, APP1 Exif with IFD0: XResolution, Orientation; SOS, EOI)
    for every orientation in both TIFF byte orders, one with XMP first, one without EXIF."""
    ed = os.path.join(out, "exif")
    os.makedirs(ed, exist_ok=True)
    jfif = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    tail = b"\xff\xda\x00\x02\x12\x34\xff\xd9"
    n = 0
    for o in range(1, 9):
        for be in (0, 1):
            e = ">" if be else "<"
            tiff = (b"MM" if be else b"II") + struct.pack(e + "HIH", 42, 8, 2)
            tiff += struct.pack(e + "HHII", 0x011A, 5, 1, 38) + struct.pack(e + "HHIHH", 0x0112, 3, 1, o, 0)
            tiff += struct.pack(e + "III", 0, 72, 1)
            app1 = b"\xff\xe1" + struct.pack(">H", 8 + len(tiff)) + b"Exif\x00\x00" + tiff
            xmp = b"" if o != 3 else b"\xff\xe1\x00\x0ahttp:/\x00\x00"
            open(os.path.join(ed, "o%d_%s" % (o, "mm" if be else "ii")), "wb").write(
                b"\xff\xd8" + jfif + xmp + app1 + tail + bytes([o, 5, 7]))
            n += 1
    open(os.path.join(ed, "none"), "wb").write(b"\xff\xd8" + jfif + tail)
    print("seeds: %d EXIF headers in %s" % (n + 1, ed))


def png_bytes(w, h, ctype, depth, rows, interlace=0, palette=None):
    """A PNG of `rows` (h lists of w samples per channel, flattened) written here (zlib)."""
    import zlib
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]

    def pack(samples):  # one row of samples -> bytes at `depth` bits
        if depth == 16:
            return b"".join(struct.pack(">H", v * 257) for v in samples)
        if depth == 8:
            return bytes(samples)
        out, acc, n = bytearray(), 0, 0
        for v in samples:
            acc = (acc << depth) | (v >> (8 - depth) if ctype != 3 else v)
            n += depth
            if n == 8:
                out.append(acc)
                acc, n = 0, 0
        if n:
            out.append(acc << (8 - n))
        return bytes(out)

    raw = bytearray()
    if interlace:  # Adam7: seven passes of sub-images, each row filter 0
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
            for y in range(y0, h, dy):
                xs = range(x0, w, dx)
                if len(xs):
                    raw += b"\0" + pack([rows[y][x * ch + c] for x in xs for c in range(ch)])
    else:
        for y in range(h):
            raw += b"\0"
            raw += pack(rows[y])

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
    if palette:
        out += chunk(b"PLTE", bytes(palette))
    return out + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")


def jpeg_pixels(b):
    """width * height from a JPEG's frame header (a huge number when there is none)."""
    i = 2
    while i + 9 < len(b) and b[i] == 0xFF:
        if b[i + 1] in (0xC0, 0xC1, 0xC2):
            return (b[i + 5] << 8 | b[i + 6]) * (b[i + 7] << 8 | b[i + 8])
        i += 2 + (b[i + 2] << 8 | b[i + 3])
    return 1 << 40


def image_seeds(out, shared, cv2):
    xd = os.path.join(out, "imglab")  # dlib imglab XML: the example files, and a tiny one by hand
    os.makedirs(xd, exist_ok=True)
    ex = os.path.join(shared, "dlib-examples")
    for f in sorted(os.listdir(ex)) if os.path.isdir(ex) else []:
        if f.endswith(".xml"):
            open(os.path.join(xd, f), "wb").write(open(os.path.join(ex, f), "rb").read())
    open(os.path.join(xd, "tiny.xml"), "w").write(
        "<?xml version='1.0'?>\n<!-- c --><dataset><name>t &amp; &#x41;</name><images>\n"
        "<image file='a.jpg'><box top='1' left='2' width='3' height='4' ignore='1'><label>x</label>"
        "<part name='01' x='5' y='6'/><part name=\"00\" x='-7' y='8'/></box></image>\n</images></dataset>\n")
    jd, pd = os.path.join(out, "jpeg"), os.path.join(out, "png")
    os.makedirs(jd, exist_ok=True)
    os.makedirs(pd, exist_ok=True)
    nj = npg = 0
    jpgs = sorted(os.path.join(d, f) for d, _, fs in os.walk(shared) for f in fs
                  if f.lower().endswith((".jpg", ".jpeg")))
    lfw_k = 0
    for path in jpgs:
        data = open(path, "rb").read()
        if len(data) > 65536 or jpeg_pixels(data) > 300 * 300:  # small photos: more executions
            continue
        progressive = b"\xff\xc2" in data[:4096]
        if "lfw-" in path and not progressive:
            lfw_k += 1
            if lfw_k % 40:
                continue
        open(os.path.join(jd, "shared_%03d.jpg" % nj), "wb").write(data)
        nj += 1
    # synthetic PNGs: gradients and a checkerboard at every colour type / depth / interlace
    w, h = 13, 9
    gray = [[(x * 19 + y * 7) & 255 for x in range(w)] for y in range(h)]
    for depth in (1, 2, 4, 8, 16):
        for il in (0, 1):
            open(os.path.join(pd, "gray%d_i%d.png" % (depth, il)), "wb").write(png_bytes(w, h, 0, depth, gray, il))
            npg += 1
    idx = [[(x + y) % 4 for x in range(w)] for y in range(h)]
    open(os.path.join(pd, "pal2.png"), "wb").write(png_bytes(w, h, 3, 2, idx, 0, [0, 0, 0, 255, 0, 0, 0, 255, 0, 9, 9, 250]))
    open(os.path.join(pd, "pal8_i1.png"), "wb").write(png_bytes(w, h, 3, 8, idx, 1, [0, 0, 0, 255, 0, 0, 0, 255, 0, 9, 9, 250]))
    rgba = [[v for x in range(w) for v in (x * 20 & 255, y * 28 & 255, (x ^ y) * 16 & 255, 128 + x)] for y in range(h)]
    open(os.path.join(pd, "rgba16_i1.png"), "wb").write(png_bytes(w, h, 6, 16, rgba, 1))
    ga = [[v for x in range(w) for v in (x * 20 & 255, 200)] for y in range(h)]
    open(os.path.join(pd, "gray_alpha8.png"), "wb").write(png_bytes(w, h, 4, 8, ga))
    npg += 4
    if cv2 is None:
        print("seeds: %d jpeg seeds in %s, %d png seeds in %s (no cv2: no re-encoded crops)" % (nj, jd, npg, pd))
        return
    sources = [p for p in (os.path.join(shared, "face_recognition-examples", "examples", "alex-lacamoire.png"),
                           os.path.join(shared, "face_recognition-examples", "tests", "test_images", "32bit.png"),
                           os.path.join(shared, "openface-examples", "lennon-1.jpg"),
                           os.path.join(shared, "dlib-examples", "2008_002470.jpg")) if os.path.exists(p)]
    for k, path in enumerate(sources):
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None:
            continue
        hh, ww = img.shape[:2]
        for size in (17, 48):
            c = cv2.resize(img[hh // 4: hh * 3 // 4, ww // 4: ww * 3 // 4], (size, size * 3 // 4 + 1), interpolation=cv2.INTER_AREA)
            color = c if c.ndim == 3 and c.shape[2] >= 3 else cv2.cvtColor(c, cv2.COLOR_GRAY2BGR)
            color = color[:, :, :3]
            g = cv2.cvtColor(color, cv2.COLOR_BGR2GRAY)
            variants = {"rgb": color, "gray": g}
            if c.ndim == 3 and c.shape[2] == 4:
                variants["rgba"] = c
            for name, im in variants.items():
                ok, enc = cv2.imencode(".png", im)
                if ok:
                    open(os.path.join(pd, "src%d_%d_%s.png" % (k, size, name), ), "wb").write(enc.tobytes())
                    npg += 1
            ok, enc = cv2.imencode(".png", (color.astype("uint16") * 257))
            if ok:
                open(os.path.join(pd, "src%d_%d_rgb16.png" % (k, size)), "wb").write(enc.tobytes())
                npg += 1
            for name, im, params in (("q90", color, []), ("gray", g, []),
                                     ("prog", color, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
                                     ("rst", color, [cv2.IMWRITE_JPEG_RST_INTERVAL, 2]),
                                     ("prog_rst", color, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 1])):
                ok, enc = cv2.imencode(".jpg", im, params)
                if ok:
                    open(os.path.join(jd, "src%d_%d_%s.jpg" % (k, size, name)), "wb").write(enc.tobytes())
                    nj += 1
    print("seeds: %d jpeg seeds in %s, %d png seeds in %s" % (nj, jd, npg, pd))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/fuzz/seeds")
