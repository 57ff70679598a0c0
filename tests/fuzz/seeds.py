"""Writes the seed corpora of the fuzz targets from real files (not committed: they are
rebuilt by `make fuzz`).   usage: /usr/bin/python3 tests/fuzz/seeds.py OUTDIR
  OUTDIR/blob/      hog_frontal.fnet as modes 0 and 1, each real blob unpatched (modes 2-5),
                    and a few patch records aimed at the tables and the tensor data
  OUTDIR/pipeline/  photos from the shared data (faces, LFW, group photos) cropped around
                    the face and shrunk to <= 200 px, as gray, RGB and RGBA, in the layout
                    fuzz_pipeline.c reads
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


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/fuzz/seeds")
