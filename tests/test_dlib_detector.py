#!/usr/bin/env python3
"""tools/convert/dlib_detector.py against dlib itself.

tests/golden/dlib_detector_weights.txt was printed by tools/reference/dlib_dump_detector.cpp (dlib's own
get_frontal_face_detector(): thresholds, left-to-right sums of each weight vector, single
weights, NMS thresholds; make golden-detect). We decode the same header in pure Python and
require the same doubles exactly (the sums are taken in the same order, so they must agree
to the last bit), then check the blob we write carries them (f32) in the documented layout,
and that damaged input gives a ValueError, never a wrong blob.
Standard library only. Skips when dlib's header is not installed.
"""
import math
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from fnet_testlib import tally, check, skip, finish  # noqa: E402
import dlib_detector  # noqa: E402
import fnet_blob  # noqa: E402

HEADER = "/usr/include/dlib/image_processing/frontal_face_detector.h"



def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main():
    if not os.path.exists(HEADER):
        tally.skipped += 1
        print("skip: %s not installed (apt-get install libdlib-dev)" % HEADER)
        return
    gold = {}
    with open(os.path.join(ROOT, "tests/golden/dlib_detector_weights.txt")) as f:
        first = f.readline().split()
        head = dict(zip(first[0::2], first[1::2]))
        for line in f:
            t = line.split()
            d = dict(zip(t[2::2], t[3::2]))
            gold[int(t[1])] = {k: float(v) for k, v in d.items()}
    raw = dlib_detector.decompress_kernel_1ea(dlib_detector.decode_header(HEADER))
    cfg = dlib_detector.parse_detector(raw)
    check(len(cfg["weights"]) == int(head["filters"]), "filter count")
    check(cfg["num_dimensions"] == int(head["dims"]), "dims %d" % cfg["num_dimensions"])
    check(cfg["iou_thresh"] == float(head["iou"]), "iou %r" % cfg["iou_thresh"])
    check(cfg["percent_covered_thresh"] == float(head["covered"]), "covered")
    check(cfg["cell_size"] == 8 and cfg["padding"] == 0, "cell size / padding")
    check(cfg["window_width"] == 80 and cfg["window_height"] == 80, "window")
    for i, w in enumerate(cfg["weights"]):
        g = gold[i]
        s = sa = 0.0
        for v in w[:-1]:
            s += v
            sa += abs(v)
        check(w[-1] == g["threshold"], "filter %d threshold %r != %r" % (i, w[-1], g["threshold"]))
        check(s == g["sum"], "filter %d sum %r != %r" % (i, s, g["sum"]))
        check(sa == g["abssum"], "filter %d abs sum %r != %r" % (i, sa, g["abssum"]))
        for k in (0, 1234, 3099):
            check(w[k] == g["w%d" % k], "filter %d w[%d]" % (i, k))

    # The blob: filter<i> is (10,10,31) with element [r][c][k] = dlib's w[k*100 + r*10 + c].
    b = dlib_detector.detector_blob(HEADER)
    data = b.to_bytes()
    info = fnet_blob.read(data)
    check(info["kind"] == "detector", "kind")
    check(info["meta"]["iou_thresh"] == repr(cfg["iou_thresh"]), "meta iou")
    names = [t["name"] for t in info["tensors"]]
    check(names == ["filter0", "filter1", "filter2", "filter3", "filter4", "thresholds"], names)
    for i in range(5):
        t = info["tensors"][i]
        check(tuple(t["shape"]) == (10, 10, 31), "shape %r" % (t["shape"],))
        vals = fnet_blob.tensor_values(data, t)
        w = cfg["weights"][i]
        for k in (0, 1234, 3099):
            plane, rc = divmod(k, 100)
            check(vals[rc * 31 + plane] == f32(w[k]), "filter %d layout at %d" % (i, k))
        check(float(info["meta"]["threshold%d" % i]) == gold[i]["threshold"], "meta threshold %d" % i)
    thr = fnet_blob.tensor_values(data, info["tensors"][5])
    check(all(thr[i] == f32(gold[i]["threshold"]) for i in range(5)), "thresholds tensor")

    # Damage: a flipped base64 character must be caught (CRC or structure), not decoded.
    with open(HEADER, encoding="latin-1") as f:
        text = f.read()
    m = re.search(r'sout << "([A-Za-z0-9+/]{40})', text)
    pos = m.start(1) + 20
    bad = text[:pos] + ("A" if text[pos] != "A" else "B") + text[pos + 1:]
    tmp = os.path.join(ROOT, "build", "tests", "damaged_frontal_face_detector.h")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    with open(tmp, "w", encoding="latin-1") as f:
        f.write(bad)
    try:
        dlib_detector.detector_blob(tmp)
        check(False, "damaged header decoded without error")
    except ValueError:
        check(True, "")
    with open(tmp, "w") as f:
        f.write("// no detector here\n")
    try:
        dlib_detector.detector_blob(tmp)
        check(False, "header without data decoded")
    except ValueError:
        check(True, "")
    try:
        dlib_detector.parse_detector(raw[:-3])
        check(False, "truncated serialization parsed")
    except ValueError:
        check(True, "")


main()
sys.exit(finish())
