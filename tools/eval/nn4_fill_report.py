"""nn4_fill_report: how well the converter's fill of the five missing nn4.small2.v1 tensors works.
needs: numpy, cv2 (Debian /usr/bin/python3)

    /usr/bin/python3 tools/eval/nn4_fill_report.py [--var-fraction F ...] [--faces N] [--seed S] [--openface] [--lfw]

Faces: LFPW test images (../shared/data/lfpw-test68) aligned as OpenFace's AlignDlib.align(96)
does, from their ground-truth 68 points: the affine map of points 36, 45, 33 (outer eyes, nose)
onto OpenFace's min-max-normalised template times 96, cv2.warpAffine INTER_LINEAR, zero border.
Embeddings come from the numpy reference (tools/reference/ref_nn4.py) with the converter's fill.

Prints, per VAR_FRACTION tried (default: the converter's):
  - cosine between the embeddings of different faces (min / median / max, and the share of
    pairs inside the 0.94..0.98 target band);
  - for each filled conv, what its batch norm actually sees over the faces and positions,
    relative to the moving statistics it was trained with (median over channels of
    (mean - m) / sqrt(v) and of std / sqrt(v)).
--openface: also embeds OpenFace's example photos (../shared/data/openface-examples), aligned
from dlib's own detector (upsample 1) and 68-point predictor (tools/reference/nn4_dlib_landmarks.cpp,
built here with g++ against libdlib-dev), and prints the squared L2 distances next to the
published ones of the complete Torch model (REFERENCE_VALUES.txt).
--lfw: LFW dev verification accuracy (../shared/data/lfw-dev, 3 folds of 300+300 pairs,
threshold chosen on the other two folds) of the filled blob, run by the C engine
(tests/drivers/nn4_driver.c) on crops aligned as above from dlib's landmarks (a few minutes).
Not a test (no assertions): a measurement for tuning and for the report.
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, "tools/reference")
sys.path.insert(0, "tools/convert")
import keras_openface  # noqa: E402
import ref_nn4  # noqa: E402

# OpenFace align_dlib.py template points used by OUTER_EYES_AND_NOSE, and the template's
# x/y extremes (points 0/16 for x, 24/8 for y), for MINMAX_TEMPLATE = (T - min) / (max - min).
T36, T45, T33 = (0.252418718401, 0.331052263829), (0.782865376271, 0.321305281656), \
    (0.520712933176, 0.634268222208)
TX_MIN, TX_MAX, TY_MIN, TY_MAX = 0.0792396913815, 0.971193274221, 0.182360984545, 1.06080371126


def template96():
    return np.float32([[96 * (x - TX_MIN) / (TX_MAX - TX_MIN), 96 * (y - TY_MIN) / (TY_MAX - TY_MIN)]
                       for x, y in (T36, T45, T33)])


def read_pts(path):
    with open(path) as f:
        txt = f.read()
    body = txt[txt.index("{") + 1:txt.index("}")]
    return np.array([[float(v) for v in line.split()] for line in body.strip().splitlines()])


def align(rgb, pts68):
    import cv2
    H = cv2.getAffineTransform(np.float32(pts68[[36, 45, 33]]), template96())
    return cv2.warpAffine(rgb, H, (96, 96), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def lfpw_faces(n):
    import cv2
    base = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data/lfpw-test68")
    out = []
    for f in sorted(os.listdir(base)):
        if not f.endswith(".jpg"):
            continue
        img = cv2.imread(os.path.join(base, f))
        pts = read_pts(os.path.join(base, f[:-4] + ".pts"))
        out.append((f, align(img[:, :, ::-1], pts).astype(np.float64) / 255.0))
        if len(out) >= n:
            break
    return out


FILLED = ["inception_3c_3x3_conv2", "inception_4e_3x3_conv2", "inception_5a_1x1_conv",
          "inception_5a_3x3_conv2", "inception_5b_3x3_conv2"]


PUBLISHED = [("lennon-1", "lennon-2", 0.763), ("lennon-1", "clapton-1", 1.132),
             ("lennon-1", "clapton-2", 1.145), ("lennon-2", "clapton-1", 1.447),
             ("lennon-2", "clapton-2", 1.521), ("clapton-1", "clapton-2", 0.318)]


def dlib_aligned(paths, fallback=None):
    """path -> aligned 96x96x3 uint8 RGB crop (largest face, dlib landmarks), or absent.
    fallback: (l, t, r, b) box for the landmarks when no face is detected."""
    import cv2
    import subprocess
    exe = os.path.join(tempfile.gettempdir(), "nn4_dlib_landmarks2")
    if not os.path.exists(exe):
        subprocess.run(["g++", "-O2", "-std=c++14", "-I/usr/include/stb", "tools/reference/nn4_dlib_landmarks.cpp",
                        "-o", exe, "-ldlib", "-llapack", "-lblas", "-lpthread"], check=True)
    out = {}
    for k in range(0, len(paths), 200):
        fb = ["--fallback"] + [str(v) for v in fallback] if fallback else []
        p = subprocess.run([exe] + fb + paths[k:k + 200], capture_output=True, text=True, check=True)
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) < 5 + 136:
                continue
            pts = np.array([float(v) for v in f[5:5 + 136]]).reshape(68, 2)
            img = cv2.imread(f[0])[:, :, ::-1]
            out[f[0]] = align(np.ascontiguousarray(img), pts)
    return out


def openface_faces():
    base = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data/openface-examples")
    names = sorted(set(n for a, b, _ in PUBLISHED for n in (a, b)))
    crops = dlib_aligned([os.path.join(base, n + ".jpg") for n in names])
    return {os.path.basename(p)[:-4]: c.astype(np.float64) / 255.0 for p, c in crops.items()}


def lfw_pairs():
    base = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data/lfw-dev")
    with open(os.path.join(base, "pairs.txt")) as f:
        lines = f.read().splitlines()
    folds, per = (int(v) for v in lines[0].split())
    pairs = []
    img = lambda n, i: os.path.join(base, "lfw-deepfunneled", n, "%s_%04d.jpg" % (n, int(i)))  # noqa: E731
    for k, line in enumerate(lines[1:1 + folds * 2 * per]):
        f = line.split()
        if len(f) == 3:
            pairs.append((k // (2 * per), img(f[0], f[1]), img(f[0], f[2]), True))
        else:
            pairs.append((k // (2 * per), img(f[0], f[1]), img(f[2], f[3]), False))
    return pairs, folds


def lfw_accuracy(csv, var_fractions, seed):
    import subprocess
    pairs, folds = lfw_pairs()
    paths = sorted(set(p for _, a, b, _ in pairs for p in (a, b)))
    # deep-funneled LFW is centred: where dlib finds no face (about 11% of these images), the
    # landmarks are predicted inside the median detected box (77, 89, 181, 189)
    crops = dlib_aligned(paths, fallback=(77, 89, 181, 189))
    print("LFW dev: %d pairs, %d images, %d without landmarks (their pairs are dropped)"
          % (len(pairs), len(paths), len(paths) - len(crops)))
    tmp = tempfile.mkdtemp(prefix="nn4lfw")
    drv = os.path.join(tmp, "drv")
    subprocess.run(["gcc", "-std=c99", "-O2", "-I.", "tests/drivers/nn4_driver.c", "-o", drv, "-lm", "-lpthread"], check=True)
    names = sorted(crops)
    inp = np.stack([crops[n] for n in names]).astype(np.uint8).tobytes()
    for vf in var_fractions:
        keras_openface.VAR_FRACTION = vf
        blob = os.path.join(tmp, "nn4.fnet")
        keras_openface.blob_from_csv(csv, fill_seed=seed).write(blob)
        p = subprocess.run([drv, blob, "auto", str(len(names)), "u8"], input=inp, capture_output=True, check=True)
        E = dict(zip(names, np.frombuffer(p.stdout, dtype="<f4").reshape(len(names), -1).astype(np.float64)))
        ok = [(f, float(np.sum((E[a] - E[b]) ** 2)), same) for f, a, b, same in pairs if a in E and b in E]
        accs = []
        for test in range(folds):
            train = [(d, s) for f, d, s in ok if f != test]
            cands = sorted(set(d for d, _ in train))
            best = max(cands, key=lambda t: sum((d <= t) == s for d, s in train))
            tst = [(d, s) for f, d, s in ok if f == test]
            accs.append(sum((d <= best) == s for d, s in tst) / float(len(tst)))
        same = [d for _, d, s in ok if s]
        diff = [d for _, d, s in ok if not s]
        print("  VAR_FRACTION %.3g: LFW dev accuracy %.4f (folds %s); squared L2 same median %.3f, "
              "different median %.3f" % (vf, np.mean(accs), " ".join("%.3f" % a for a in accs),
                                         np.median(same), np.median(diff)))


def measure(csv, faces, var_fraction, seed, of=None):
    keras_openface.VAR_FRACTION = var_fraction
    tmp = tempfile.mkdtemp(prefix="nn4fill")
    for n, vals in keras_openface.filled_tensors(csv, seed).items():
        with open(os.path.join(tmp, n + ".csv"), "w") as f:
            f.write(",".join(repr(v) for v in vals))
    w = ref_nn4.load([csv, tmp])
    embs, recs = [], {c: [] for c in FILLED}
    for _, x in faces:
        rec = {}
        embs.append(ref_nn4.embed(w, x, record=rec))
        for c in FILLED:
            recs[c].append(rec[c].reshape(-1, rec[c].shape[-1]))
    E = np.stack(embs)
    cos = (E @ E.T)[np.triu_indices(len(E), 1)]
    print("VAR_FRACTION %.3g, seed %d, %d faces, %d pairs" % (var_fraction, seed, len(E), cos.size))
    print("  cosine between different faces: min %.3f  p10 %.3f  median %.3f  p90 %.3f  max %.3f;"
          " in [0.94, 0.98]: %.0f%%" % (cos.min(), np.percentile(cos, 10), np.median(cos),
                                        np.percentile(cos, 90), cos.max(),
                                        100.0 * np.mean((cos >= 0.94) & (cos <= 0.98))))
    for c in FILLED:
        a = np.concatenate(recs[c])
        bn = w[keras_openface.bn_name(c)]
        m, v = bn[2], bn[3]
        z = (a.mean(0) - m) / np.sqrt(v)
        r = a.std(0) / np.sqrt(v)
        # across faces only: the spread of the per-face spatial mean
        per_face = np.stack([t.mean(0) for t in recs[c]])
        rf = per_face.std(0) / np.sqrt(v)
        print("  %-24s BN sees (mean-m)/sqrt(v) median %+.2f [p10 %+.2f p90 %+.2f], std/sqrt(v) median %.2f"
              " [p10 %.2f p90 %.2f], across-face std/sqrt(v) %.2f"
              % (c, np.median(z), np.percentile(z, 10), np.percentile(z, 90), np.median(r),
                 np.percentile(r, 10), np.percentile(r, 90), np.median(rf)))
    if of:
        emb = {n: ref_nn4.embed(w, x) for n, x in of.items()}
        print("  OpenFace examples, squared L2 (ours, incomplete weights | published, complete Torch model):")
        for a, b, pub in PUBLISHED:
            if a in emb and b in emb:
                d = float(np.sum((emb[a] - emb[b]) ** 2))
                print("    %-9s %-9s  %.3f | %.3f  (%+.3f)" % (a, b, d, pub, d - pub))
    return cos


def main(argv):
    fr, n, seed, of, lfw = [], 40, 1, None, False
    i = 0
    while i < len(argv):
        if argv[i] == "--lfw":
            lfw = True
            i += 1
            continue
        if argv[i] == "--openface":
            of = True
            i += 1
            continue
        if argv[i] == "--var-fraction":
            fr.append(float(argv[i + 1]))
        elif argv[i] == "--faces":
            n = int(argv[i + 1])
        elif argv[i] == "--seed":
            seed = int(argv[i + 1])
        i += 2
    csv = os.environ.get("FNET_OPENFACE_CSV") or os.path.join(os.environ.get("FNET_SHARED", "../shared"),
                                                              "weights/openface-nn4.small2.v1")
    faces = lfpw_faces(n)
    if of:
        of = openface_faces()
    default = keras_openface.VAR_FRACTION
    for f in fr or [default]:
        measure(csv, faces, f, seed, of)
    if lfw:
        lfw_accuracy(csv, fr or [default], seed)


if __name__ == "__main__":
    main(sys.argv[1:])
