"""needs: numpy (and cv2): the ResNet-34 blob's op graph, run by a plain numpy interpreter
written here (float64 accumulation), against face-api's descriptors (tests/golden, tfjs cpu
backend, divisor 255). Checks the converter (dequantization, folding, padding, shortcut
channel extension, op order) independently of facenet.h's engine: max abs diff <= 1e-5.
Blob: $FNET_WEIGHTS/resnet34.fnet (divisor 256 in the blob; 255 is applied here).
The real chips are cut from the shared photos ($FNET_SHARED/data, else ../shared/data) as
tools/reference/make_resnet_golden.py cut them (stb_image decoding, stb_rgb.dlib_chip: fnet_align's chip, which
tests/test_align.py shows byte-identical to dlib's)
and must match the golden FNV-1a; without the shared data only the LCG inputs run."""
import json
import os
import sys

import numpy as np

from fnet_testlib import tally, check, skip, finish  # noqa: E402
import fnet_blob  # noqa: E402

LCG_A, LCG_C = 1103515245, 12345


def lcg_image(seed):
    out = np.empty(150 * 150 * 3, np.uint8)
    s = seed
    for i in range(out.size):
        s = (s * LCG_A + LCG_C) & 0xFFFFFFFF
        out[i] = (s >> 16) & 255
    return out.reshape(150, 150, 3)


def conv(x, W, bias, st, pads):
    x = np.pad(x, ((pads[0], pads[2]), (pads[1], pads[3]), (0, 0)))
    kh, kw, _, co = W.shape
    h, w = (x.shape[0] - kh) // st + 1, (x.shape[1] - kw) // st + 1
    out = np.zeros((h, w, co))
    for i in range(kh):
        for j in range(kw):
            out += x[i:i + st * (h - 1) + 1:st, j:j + st * (w - 1) + 1:st, :].astype(np.float64) @ W[i, j]
    return (out + bias).astype(np.float32)


def pool(x, k, st, fn):
    h, w = (x.shape[0] - k) // st + 1, (x.shape[1] - k) // st + 1
    return fn(np.stack([x[i:i + st * (h - 1) + 1:st, j:j + st * (w - 1) + 1:st, :]
                        for i in range(k) for j in range(k)]), axis=0)


def forward(blob, T, img, divisor):
    outs = []
    for o in blob["ops"]:
        t, ip = o["type"], o["iparam"]
        xs = [outs[i] for i in o["inputs"]]
        if t == fnet_blob.OP_INPUT:
            y = (img.astype(np.float32) - np.array(o["fparam"][1:4], np.float32)) / np.float32(divisor)
        elif t == fnet_blob.OP_CONV:
            y = conv(xs[0], T[o["tensors"][0]], T[o["tensors"][1]], ip[2], ip[4:8])
        elif t == fnet_blob.OP_MAXPOOL:
            y = pool(xs[0], ip[0], ip[2], np.max)
        elif t == fnet_blob.OP_AVGPOOL:
            y = pool(xs[0], ip[0], ip[2], np.mean)
        elif t == fnet_blob.OP_PAD:
            y = np.pad(xs[0], ((ip[0], ip[2]), (ip[1], ip[3]), (0, 0)))
        elif t == fnet_blob.OP_ADD:
            a, c = xs
            y = a + np.pad(c, ((0, 0), (0, 0), (0, a.shape[2] - c.shape[2])))
        elif t == fnet_blob.OP_GLOBAL_AVGPOOL:
            y = xs[0].mean((0, 1), keepdims=True)
        elif t == fnet_blob.OP_DENSE:
            y = (xs[0].reshape(-1).astype(np.float64) @ T[o["tensors"][0]] + T[o["tensors"][1]])
            y = y.astype(np.float32).reshape(1, 1, -1)
        else:
            raise ValueError("op type %d not expected in the ResNet" % t)
        if o["flags"] & 1:
            y = np.maximum(y, 0)
        if tuple(y.shape) != tuple(ip[9:12]):
            raise ValueError("%s: shape %r, blob says %r" % (o["name"], y.shape, ip[9:12]))
        outs.append(y)
    return outs[-1].reshape(-1)


def main():
    root = os.environ.get("FNET_WEIGHTS") or "weights"
    path = os.path.join(root, "resnet34.fnet")
    if not os.path.exists(path):
        skip("%s absent (make weights)" % path)
        return finish()
    import stb_rgb
    from make_resnet_golden import fnv1a
    data = open(path, "rb").read()
    blob = fnet_blob.read(data)
    T = [np.array(fnet_blob.tensor_values(data, t), np.float32).reshape(t["shape"])
         for t in blob["tensors"]]
    g = json.load(open("tests/golden/faceapi_descriptors.json"))
    shared = os.path.join(os.environ.get("FNET_SHARED") or "../shared", "data")
    worst = 0.0
    first = None  # (input, golden descriptor) for the divisor check
    for inp, ref in zip(g["inputs"], g["descriptors"]):
        if "lcg_seed" in inp:
            img = lcg_image(inp["lcg_seed"])
        else:
            photo = stb_rgb.load(os.path.join(shared, inp["image"]))
            if photo is None:
                skip("%s not found under %s (set FNET_SHARED)" % (inp["image"], shared))
                continue
            img = stb_rgb.dlib_chip(photo, np.array(inp["points"], np.float64).reshape(68, 2), 150)
            h = fnv1a(img.tobytes())
            check(h == inp["fnv1a"], "%s: the chip differs from the golden one face-api saw (FNV-1a %d, golden %d)"
                  % (inp["image"], h, inp["fnv1a"]))
            if h != inp["fnv1a"]:
                continue
        if first is None:
            first = (img, ref)
        d = forward(blob, T, img, 255.0)
        err = float(np.abs(d - np.array(ref, np.float32)).max())
        worst = max(worst, err)
        check(err <= 1e-5, "%s: max abs diff %.3g > 1e-5" % (inp.get("image", inp["what"]), err))
    # The 256 divisor really changes the output (the divisor is applied, not ignored).
    d256 = forward(blob, T, first[0], 256.0)
    change = float(np.abs(d256 - np.array(first[1])).max())
    print("divisor 256 instead of 255 changes the descriptor by up to %.3g" % change, file=sys.stderr)
    check(change > 1e-4, "the 256 divisor changes the descriptor by only %.3g: is the divisor applied?" % change)
    print("numpy interpreter vs face-api: max abs diff %.3g over %d inputs" % (worst, len(g["inputs"]) - tally.skipped),
          file=sys.stderr)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
