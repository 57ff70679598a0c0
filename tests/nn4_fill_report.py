"""nn4_fill_report: how well the converter's fill of the five missing nn4.small2.v1 tensors works.
needs: numpy, cv2 (Debian /usr/bin/python3)

    /usr/bin/python3 tests/nn4_fill_report.py [--var-fraction F ...] [--faces N] [--seed S] [--openface]

Faces: LFPW test images (../shared/data/lfpw-test68) aligned as OpenFace's AlignDlib.align(96)
does, from their ground-truth 68 points: the affine map of points 36, 45, 33 (outer eyes, nose)
onto OpenFace's min-max-normalised template times 96, cv2.warpAffine INTER_LINEAR, zero border.
Embeddings come from the numpy reference (tests/ref_nn4.py) with the converter's fill.

Prints, per VAR_FRACTION tried (default: the converter's):
  - cosine between the embeddings of different faces (min / median / max, and the share of
    pairs inside the 0.94..0.98 target band);
  - for each filled conv, what its batch norm actually sees over the faces and positions,
    relative to the moving statistics it was trained with (median over channels of
    (mean - m) / sqrt(v) and of std / sqrt(v)).
--openface: also embeds OpenFace's example photos (../shared/data/openface-examples), aligned
from dlib's own detector (upsample 1) and 68-point predictor (tests/nn4_dlib_landmarks.cpp,
built here with g++ against libdlib-dev), and prints the squared L2 distances next to the
published ones of the complete Torch model (REFERENCE_VALUES.txt).
Not a test (no assertions): a measurement for tuning and for the report.
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, "tests")
sys.path.insert(0, "tools")
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


def openface_faces():
    import cv2
    import subprocess
    base = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data/openface-examples")
    exe = os.path.join(tempfile.gettempdir(), "nn4_dlib_landmarks")
    if not os.path.exists(exe):
        subprocess.run(["g++", "-O2", "-std=c++14", "-I/usr/include/stb", "tests/nn4_dlib_landmarks.cpp",
                        "-o", exe, "-ldlib", "-llapack", "-lblas", "-lpthread"], check=True)
    names = sorted(set(n for a, b, _ in PUBLISHED for n in (a, b)))
    p = subprocess.run([exe] + [os.path.join(base, n + ".jpg") for n in names], capture_output=True,
                       text=True, check=True)
    out = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) < 5 + 136:
            continue
        pts = np.array([float(v) for v in f[5:5 + 136]]).reshape(68, 2)
        img = cv2.imread(f[0])[:, :, ::-1]
        out[os.path.basename(f[0])[:-4]] = align(img, pts).astype(np.float64) / 255.0
    return out


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
    fr, n, seed, of = [], 40, 1, None
    i = 0
    while i < len(argv):
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
    for f in fr or [keras_openface.VAR_FRACTION]:
        measure(csv, faces, f, seed, of)


if __name__ == "__main__":
    main(sys.argv[1:])
