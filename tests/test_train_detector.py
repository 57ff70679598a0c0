"""fnet train-detector against dlib's trainer on dlib's example faces (dlib-examples/training.xml,
testing.xml) with dlib's example settings: gray images, upsample 1, flips, C 1, epsilon 0.01,
80x80 window. tests/golden/dlib_train_detector.txt holds what tools/reference/dlib_train_detector.cpp
(dlib's structural_object_detection_trainer, make golden-train-detector) learned there: its
precision, recall and average precision on both sets, the NMS thresholds and the filter. The
trainer takes dlib's path (same scores, same ties, same solver), so the filter must agree to
float rounding and every number exactly. Also: fnet detect --detector runs the result, test-
detector scores it, a box of the wrong shape is refused with a message saying what to do.
Standard library only; run from the repository root after `make`."""
import json
import math
import os
import subprocess
import sys
import tempfile

from fnet_testlib import check, skip, finish  # noqa: E402
import fnet_blob  # noqa: E402


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout, p.stderr


def main():
    fnet = "build/fnet"
    shared = os.environ.get("FNET_SHARED", os.path.join("..", "shared"))
    data = os.path.join(shared, "data", "dlib-examples")
    if not os.path.exists(fnet):
        check(False, "build/fnet not built (make)")
        return finish()
    if not os.path.exists(os.path.join(data, "training.xml")):
        skip("%s absent (the shared data)" % data)
        return finish()
    lines = open("tests/golden/dlib_train_detector.txt").read().split("\n")
    gold = json.loads(lines[1])
    w = [float(x) for x in lines[2:] if x.strip()]
    check(len(w) == 3101, "golden: 3101 numbers, got %d" % len(w))

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "faces.fnet")
        rc, out, err = run(fnet, "train-detector", os.path.join(data, "training.xml"), model, "--upsample", "1",
                           "--flip", "--gray", "--C", "1", "--epsilon", "0.01", "--threads", "2")
        check(rc == 0, "train-detector exit %d: %s" % (rc, err[-500:]))
        if rc != 0:
            return finish()
        res = json.loads(out.strip().split("\n")[-1])
        check(res["images"] == 8 and res["boxes"] == 36, "8 training images (4 and their flips), 36 boxes: %s" % out)
        check("ETA" in err and "iteration 1 " in err, "progress with an ETA on stderr")
        for k in ("precision", "recall", "ap"):
            check(res["train"][k] == gold["train"][k], "train %s %s, dlib %s" % (k, res["train"][k], gold["train"][k]))
        check(abs(res["iou_thresh"] - gold["iou_thresh"]) < 1e-9 and
              abs(res["percent_covered_thresh"] - gold["percent_covered_thresh"]) < 1e-9,
              "NMS thresholds %s %s, dlib %s %s" % (res["iou_thresh"], res["percent_covered_thresh"],
                                                   gold["iou_thresh"], gold["percent_covered_thresh"]))
        blob = open(model, "rb").read()
        b = fnet_blob.read(blob)
        ts = {t["name"]: t for t in b["tensors"]}
        f = fnet_blob.tensor_values(blob, ts["filter0"])
        d = [w[p * 100 + rc] for rc in range(100) for p in range(31)]  # dlib: plane-major
        dot = sum(x * y for x, y in zip(f, d))
        cos = dot / math.sqrt(sum(x * x for x in f) * sum(y * y for y in d))
        diff = max(abs(x - y) for x, y in zip(f, d))
        thr = float.fromhex(b["meta"]["threshold0"])
        check(cos > 0.999999, "filter cosine with dlib's %.9f" % cos)
        check(diff < 2e-8, "filter max |difference| %.3g" % diff)
        check(abs(thr - w[3100]) < 1e-8, "threshold %.9g, dlib %.9g" % (thr, w[3100]))

        rc, out, err = run(fnet, "test-detector", model, os.path.join(data, "testing.xml"), "--upsample", "1", "--gray")
        check(rc == 0, "test-detector exit %d: %s" % (rc, err))
        if rc == 0:
            t = json.loads(out)
            for k in ("precision", "recall", "ap"):
                check(t[k] == gold["test"][k], "test %s %s, dlib %s" % (k, t[k], gold["test"][k]))
            check(t["truth"] == 25, "25 test boxes: %s" % out)

        # the trained detector runs in fnet detect like the built-in one
        img = os.path.join(data, "2008_002470.jpg")
        rc, out, err = run(fnet, "detect", "--detector", model, "--upsample", "1", img)
        check(rc == 0 and len(json.loads(out)["faces"]) >= 1, "fnet detect --detector: %d %s %s" % (rc, out[:200], err))
        rc, out, err = run(fnet, "detect", "--detector", os.path.join(tmp, "missing.fnet"), img)
        check(rc == 1 and "missing.fnet" in err, "a missing detector file is named: %s" % err)

        # a box of the wrong shape: refused before training, with what to do
        bad = os.path.join(tmp, "bad.xml")
        with open(bad, "w") as fh:
            fh.write("<dataset><images><image file='%s'>"
                     "<box top='100' left='100' width='150' height='40'/></image></images></dataset>"
                     % os.path.abspath(img))
        rc, out, err = run(fnet, "train-detector", bad, os.path.join(tmp, "bad.fnet"))
        check(rc == 1 and "aspect ratio" in err and "box 1" in err and out == "",
              "a 150x40 box is refused: %d %s" % (rc, err))
        check(not os.path.exists(os.path.join(tmp, "bad.fnet")), "no model written for a refused set")
        rc, out, err = run(fnet, "train-detector", bad)
        check(rc == 2, "usage error for a missing argument: %d" % rc)
        with open(bad, "w") as fh:  # an image that is not there
            fh.write("<dataset><images><image file='nothere.jpg'><box top='1' left='1' width='80' height='80'/>"
                     "</image></images></dataset>")
        rc, out, err = run(fnet, "train-detector", bad, os.path.join(tmp, "bad.fnet"))
        check(rc == 1 and "nothere.jpg" in err, "a missing image is named: %d %s" % (rc, err))
        with open(bad, "w") as fh:  # broken XML: the reader's FILE:LINE
            fh.write("<dataset>\n<images>\n<image file='a.jpg'>\n<box top='x'/>\n</images></dataset>")
        rc, out, err = run(fnet, "test-detector", model, bad)
        check(rc == 1 and "bad.xml:" in err, "malformed XML: %d %s" % (rc, err))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
