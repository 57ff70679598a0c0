"""fnet train-landmarks against dlib's shape_predictor_trainer on dlib's own example
(examples/faces training/testing_with_face_landmarks.xml, train_shape_predictor_ex's settings:
oversampling 300, nu 0.05, tree depth 2), shortened to 100 trees per cascade to stay in
seconds. dlib's numbers are tests/golden/dlib_train_shape_ex.jsonl: tools/reference/dlib_train_shape.cpp
(make golden-train-shape), seeds 0-4, whose mean is the reference because the two trainers
draw different random numbers (the spread between dlib's seeds is a few percent).
Checks: the testing error (dlib's example measure: mean point error / eye-centre distance)
within 2% of dlib's mean, the training error within dlib's range; the model runs in
`fnet landmarks --landmarks`; --threads 1 and 2 give the same bytes; a malformed XML is
refused with FILE:LINE. Standard library only; run from the repository root after `make`
(skips without ../shared/data)."""
import json
import os
import sys
import tempfile

from fnet_testlib import check, skip, finish, run_fnet, summary, read_bytes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("FNET_SHARED", os.path.join(HERE, "..", "..", "shared"))
EX = os.path.join(SHARED, "data", "dlib-examples")
SETTINGS = ["--oversampling", "300", "--nu", "0.05", "--depth", "2", "--trees", "100"]


def main():
    train = os.path.join(EX, "training_with_face_landmarks.xml")
    test = os.path.join(EX, "testing_with_face_landmarks.xml")
    if not os.path.exists(train):
        skip("no %s (../shared/data)" % train)
        return
    gold = [json.loads(x) for x in open(os.path.join(HERE, "golden", "dlib_train_shape_ex.jsonl"))]
    check(len(gold) == 5 and all(g["trees"] == 100 and g["oversampling"] == 300 for g in gold),
          "golden: five dlib runs with the same settings")
    d_test = sum(g["test"]["mean_error"] for g in gold) / len(gold)
    d_train = [g["train"]["mean_error"] for g in gold]
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "sp.fnet")
        rc, out, err = run_fnet("train-landmarks", train, model, *SETTINGS, "--threads", "2", "--seed", "0")
        check(rc == 0, "train-landmarks: rc %d: %s" % (rc, err[-500:]))
        if rc:
            return
        s = summary(out)
        check(s["faces"] == 18 and s["points"] == 68, "18 faces of 68 points: %s" % out)
        check("ETA" in err, "progress with an ETA on stderr")
        rc, out, err = run_fnet("test-landmarks", model, test)
        check(rc == 0, "test-landmarks: rc %d: %s" % (rc, err))
        t = summary(out)["test"]
        print("testing error %.6f (dlib, mean of 5 seeds: %.6f, %+.2f%%); training error %.6f (dlib %.6f..%.6f)"
              % (t["mean_error"], d_test, 100 * (t["mean_error"] / d_test - 1), s["train"]["mean_error"],
                 min(d_train), max(d_train)))
        check(t["faces"] == 25, "25 testing faces")
        check(abs(t["mean_error"] / d_test - 1) < 0.02, "testing error %.6f within 2%% of dlib's %.6f"
              % (t["mean_error"], d_test))
        check(s["train"]["mean_error"] <= 1.4 * max(d_train), "training error %.6f against dlib's up to %.6f"
              % (s["train"]["mean_error"], max(d_train)))
        # the trained model in the pipeline
        rc, out, err = run_fnet("landmarks", "--upsample", "1", "--landmarks", model, os.path.join(EX, "2008_002470.jpg"))
        faces = json.loads(out.strip().splitlines()[-1])["faces"] if rc == 0 else []
        check(rc == 0 and faces and len(faces[0]["landmarks"]) == 68,
              "fnet landmarks --landmarks runs the trained model: rc %d %s" % (rc, err))
        # threads: the same bytes (a short run)
        blobs = []
        for th in ("1", "2"):
            p = os.path.join(tmp, "t%s.fnet" % th)
            rc, out, err = run_fnet("train-landmarks", train, p, "--cascade", "2", "--trees", "20",
                                    "--oversampling", "10", "--threads", th)
            check(rc == 0, "short run, %s threads: %s" % (th, err))
            blobs.append(read_bytes(p) if rc == 0 else b"")
        check(blobs[0] and blobs[0] == blobs[1], "--threads 1 and 2: identical blobs")
        # a malformed dataset: refused with the file and line
        bad = os.path.join(tmp, "bad.xml")
        with open(bad, "w") as f:
            f.write("<dataset>\n<images>\n  <image file='x.jpg'>\n    <box top='1' left='2' width='zz' height='3'/>\n"
                    "  </image>\n</images>\n</dataset>\n")
        rc, out, err = run_fnet("train-landmarks", bad, os.path.join(tmp, "no.fnet"))
        check(rc == 1 and "bad.xml:4" in err and not os.path.exists(os.path.join(tmp, "no.fnet")),
              "malformed XML refused with FILE:LINE: rc %d %r" % (rc, err))


main()
sys.exit(finish())
