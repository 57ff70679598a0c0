"""The fnet match commands (enroll, identify, verify, cluster, train-classifier, classify).

Hostile input first (no blobs needed beyond loading): a damaged gallery or classifier file
gives exit 1 with a message and is left byte-for-byte as it was; usage errors give exit 2.
Then real photos, once the whole pipeline (detect, landmarks, align, embed) is on main and
the blobs are built (else SKIP with the reason):
- face_recognition's knn_examples: enroll train/PERSON/*, identify the test photos (the
  names face_recognition's example prints), train a classifier and classify the same photos;
- face_recognition's test images: obama vs obama2/obama3 same, obama vs biden different
  (REFERENCE_VALUES.txt l.162-186, threshold 0.6);
- deepface-testset master.subset.csv: 253 labelled pairs, accuracy at the shipped threshold;
- Chinese whispers on knn_examples/train: one cluster per person;
- enrolling nn4 embeddings into a ResNet gallery is refused (FNET_ERR_MISMATCH), file kept.
Standard library only; run from the repository root after `make` (and `make weights`)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from fnet_testlib import check, skip, finish  # noqa: E402




def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=1200)
    return p.returncode, p.stdout, p.stderr


def jlines(out):
    res = []
    for line in out.splitlines():
        line = line.strip()
        if line:
            res.append(json.loads(line))
    return res


def hostile(fnet, tmp):
    bad = os.path.join(tmp, "bad.gallery")
    content = b"FNETGALR" + b"\x01\x00\x00\x00" + b"\x00" * 80
    with open(bad, "wb") as f:
        f.write(content)
    rc, out, err = run(fnet, "identify", bad, "x.jpg")
    check(rc == 1 and ("damaged" in err or "truncated" in err), "damaged gallery: exit %d, %r" % (rc, err))
    with open(bad, "rb") as f:
        check(f.read() == content, "damaged gallery left as it was")
    rc, out, err = run(fnet, "enroll", bad, tmp)
    check(rc == 1, "enroll into a damaged gallery refuses (exit %d)" % rc)
    with open(bad, "rb") as f:
        check(f.read() == content, "enroll left the damaged gallery as it was")
    rc, out, err = run(fnet, "classify", bad, "x.jpg")
    check(rc == 1 and "not a facenet.h file" in err, "gallery passed as a classifier: exit %d %r" % (rc, err))
    rc, out, err = run(fnet, "identify", os.path.join(tmp, "missing.gallery"), "x.jpg")
    check(rc == 1 and "cannot read" in err, "missing gallery: %d %r" % (rc, err))
    for args in (["enroll", "only-one"], ["identify", "g"], ["verify", "a"], ["cluster"],
                 ["train-classifier", "d"], ["classify", "m"], ["verify", "--net", "vgg", "a", "b"],
                 ["cluster", "--method", "kmeans", "d"], ["identify", "--threshold", "-1", "g", "i"],
                 ["identify", "--k", "0", "g", "i"], ["verify", "--bogus", "a", "b"]):
        rc, out, err = run(fnet, *args)
        check(rc == 2 and "usage" in err, "usage error for %s: exit %d" % (args, rc))


def pipeline_ready(fnet, wdir, shared):
    for b in ("hog_frontal.fnet", "landmarks68.fnet", "resnet34.fnet"):
        if not os.path.exists(os.path.join(wdir, b)):
            return "%s/%s not built (make weights)" % (wdir, b)
    img = os.path.join(shared, "data", "face_recognition-examples", "tests", "test_images", "obama.jpg")
    if not os.path.exists(img):
        return "%s absent" % img
    return None


def real(fnet, wdir, shared, tmp):
    fr = os.path.join(shared, "data", "face_recognition-examples")
    knn = os.path.join(fr, "examples", "knn_examples")
    timg = os.path.join(fr, "tests", "test_images")
    gal = os.path.join(tmp, "people.gallery")

    # enroll + identify: the answers of face_recognition's face_recognition_knn.py example
    rc, out, err = run(fnet, "enroll", gal, os.path.join(knn, "train"))
    check(rc == 0, "enroll: exit %d %s" % (rc, err[-300:]))
    info = jlines(out)[-1] if out.strip() else {}
    check(info.get("people") == 5 and info.get("embeddings") == 9 and info.get("saved") is True,
          "enroll: 5 people, 9 embeddings: %s" % info)
    expect = {"alex_lacamoire1.jpg": ["alex_lacamoire"], "johnsnow_test1.jpg": ["kit_harington"],
              "kit_with_rose.jpg": ["kit_harington", "rose_leslie"], "obama1.jpg": ["obama"],
              "obama_and_biden.jpg": ["biden", "obama"]}
    test_imgs = [os.path.join(knn, "test", k) for k in sorted(expect)]
    rc, out, err = run(fnet, "identify", gal, *test_imgs)
    check(rc == 0, "identify: exit %d %s" % (rc, err[-300:]))
    got = {os.path.basename(o["image"]): sorted(f["name"] for f in o["faces"] if f["name"]) for o in jlines(out)}
    right = sum(got.get(k) == v for k, v in expect.items())
    print("identify knn_examples/test: %d/%d photos fully right: %s" % (right, len(expect), got))
    check(right == len(expect), "identify: %s" % got)

    # open set: someone not enrolled (face_recognition's lin-manuel-miranda) is unknown
    rc, out, err = run(fnet, "identify", gal, os.path.join(fr, "examples", "lin-manuel-miranda.png"))
    faces = jlines(out)[0]["faces"] if rc == 0 and out.strip() else []
    check(len(faces) >= 1 and all(f["name"] is None for f in faces), "stranger rejected: %s" % faces)

    # train-classifier + classify on the same folders
    for kind in ("softmax", "mlp", "knn"):
        model = os.path.join(tmp, kind + ".model")
        rc, out, err = run(fnet, "train-classifier", "--kind", kind, "--k", "1", os.path.join(knn, "train"), model)
        check(rc == 0 and os.path.exists(model) and not os.path.exists(model + ".tmp"), "train %s: %d %s" % (kind, rc, err[-200:]))
        rc, out, err = run(fnet, "classify", model, *test_imgs)
        got = {os.path.basename(o["image"]): sorted(f["label"] for f in o["faces"]) for o in jlines(out)} if rc == 0 else {}
        # classifiers have no "unknown": a bystander in obama_and_biden gets some label, so
        # the expected people must be among the labels (and be all of them for the others)
        ok = sum(got.get(k) == v if len(v) == 1 else set(v) <= set(got.get(k, [])) for k, v in expect.items())
        print("classify (%s): %d/%d photos right: %s" % (kind, ok, len(expect), got))
        check(ok == len(expect), "classify %s: %s" % (kind, got))

    # verify: REFERENCE_VALUES.txt l.162-186
    for other, same in (("obama2.jpg", True), ("obama3.jpg", True), ("biden.jpg", False)):
        rc, out, err = run(fnet, "verify", os.path.join(timg, "obama.jpg"), os.path.join(timg, other))
        o = jlines(out)[0] if rc == 0 and out.strip() else {}
        check(o.get("same") == same, "verify obama vs %s: %s" % (other, o))
        print("verify obama.jpg %s: distance %.4f" % (other, o.get("distance", -1)))

    # deepface's 253 labelled pairs
    dp = os.path.join(shared, "data", "deepface-testset", "master.subset.csv")
    rc, out, err = run(fnet, "verify", "--pairs", dp)
    summary = jlines(out)[-1] if out.strip() else {}
    print("deepface pairs: %s" % json.dumps(summary))
    check(summary.get("pairs") == 253 and summary.get("evaluated") == 253, "deepface: every pair evaluated")
    check(summary.get("correct", 0) == 253, "deepface: all 253 pairs right, as achieved (%s)" % summary.get("correct"))

    # clustering the training photos: one group per person
    rc, out, err = run(fnet, "cluster", os.path.join(knn, "train"))
    o = jlines(out)[0] if rc == 0 and out.strip() else {}
    groups = [sorted(set(os.path.basename(os.path.dirname(f["image"])) for f in g)) for g in o.get("groups", [])]
    check(o.get("clusters") == 5 and all(len(g) == 1 for g in groups), "chinese whispers: %s" % groups)
    rc, out, err = run(fnet, "cluster", "--method", "kmeans", "--k", "5", os.path.join(knn, "train"))
    o = jlines(out)[0] if rc == 0 and out.strip() else {}
    groups = [sorted(set(os.path.basename(os.path.dirname(f["image"])) for f in g)) for g in o.get("groups", [])]
    check(o.get("clusters") == 5 and all(len(g) == 1 for g in groups), "k-means: %s" % groups)

    # networks never mix
    if os.path.exists(os.path.join(wdir, "nn4.small2.v1.fnet")):
        with open(gal, "rb") as f:
            before = f.read()
        rc, out, err = run(fnet, "enroll", "--net", "nn4", gal, os.path.join(knn, "train"))
        check(rc == 1 and "different networks" in err, "nn4 into a resnet gallery refused: %d %r" % (rc, err[-200:]))
        with open(gal, "rb") as f:
            check(f.read() == before, "gallery unchanged after the refused enroll")
    else:
        skip("nn4 blob not built")


def main():
    fnet = "build/fnet"
    wdir = os.environ.get("FNET_WEIGHTS", "weights")
    shared = os.environ.get("FNET_SHARED", "../shared")
    if not os.path.exists(fnet):
        skip("build/fnet not built (make)")
    else:
        tmp = tempfile.mkdtemp()
        try:
            hostile(fnet, tmp)
            why = pipeline_ready(fnet, wdir, shared)
            if why:
                skip("real photos: " + why)
            else:
                # the pipeline must run: a failing fnet embed is a failure, not a skip
                img = os.path.join(shared, "data", "face_recognition-examples", "tests", "test_images", "obama.jpg")
                rc, out, err = run(fnet, "embed", img)
                check(rc == 0 and '"embedding"' in out, "fnet embed on obama.jpg: exit %d %s" % (rc, err.strip()[-300:]))
                real(fnet, wdir, shared, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
