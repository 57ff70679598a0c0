"""lfw5_xml: a 5-point training set for fnet train-landmarks (issue 15's small model): the faces
of shared/data/lfw-train labelled by the 68-point model (dlib's iBUG 300-W predictor, run by
`fnet landmarks --upsample 1`), reduced to dlib's 5 points: the two corners of each eye and the
base of the nose (68-point indices 45, 42, 36, 39, 33, in the order of dlib's 5-point model).

    python3 tools/convert/lfw5_xml.py DATA_ROOT OUT_DIR        (run from the repository root after make)

Per image the face at the image centre (eval-lfw's rule: the box holding the centre, nearest
to it); images without one are left out. Boxes are the detector's (as the pipeline will give
them). Every tenth image is held aside: OUT_DIR/lfw5_train.xml and lfw5_test.xml.
The labels are a model's output, not human annotation. Standard library only."""
import json
import os
import subprocess
import sys

FIVE = [45, 42, 36, 39, 33]


def pick(faces, w, h):
    cx0, cy0 = 0.5 * (w - 1), 0.5 * (h - 1)
    best, bd = None, 0
    for f in faces:
        if not (f["left"] <= cx0 <= f["right"] and f["top"] <= cy0 <= f["bottom"]):
            continue
        cx, cy = 0.5 * (f["left"] + f["right"]) - cx0, 0.5 * (f["top"] + f["bottom"]) - cy0
        if best is None or cx * cx + cy * cy < bd:
            best, bd = f, cx * cx + cy * cy
    return best


def main():
    root, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    paths = []
    for line in open(os.path.join(root, "lfw-train", "images.txt")):
        if line.startswith("#") or not line.strip():
            continue
        rel = line.rstrip("\n").split("\t")[1]
        if rel.startswith("lfw-train/"):
            paths.append(os.path.join(root, rel))
    entries = {"train": [], "test": []}
    k = 0
    for i in range(0, len(paths), 200):
        p = subprocess.run(["build/fnet", "landmarks", "--upsample", "1"] + paths[i:i + 200],
                           capture_output=True, text=True)
        for line in p.stdout.splitlines():
            d = json.loads(line)
            f = pick(d["faces"], d["width"], d["height"])
            if f is None:
                continue
            pts = [f["landmarks"][j] for j in FIVE]
            parts = "".join("      <part name='%d' x='%d' y='%d'/>\n" % (n, int(x + 0.5) if x >= 0 else -int(-x + 0.5),
                                                                          int(y + 0.5) if y >= 0 else -int(-y + 0.5))
                            for n, (x, y) in enumerate(pts))
            e = "  <image file='%s'>\n    <box top='%d' left='%d' width='%d' height='%d'>\n%s    </box>\n  </image>\n" % (
                d["image"], f["top"], f["left"], f["right"] - f["left"] + 1, f["bottom"] - f["top"] + 1, parts)
            entries["test" if k % 10 == 9 else "train"].append(e)
            k += 1
    os.makedirs(out, exist_ok=True)
    for name, es in entries.items():
        with open(os.path.join(out, "lfw5_%s.xml" % name), "w") as fo:
            fo.write("<?xml version='1.0' encoding='ISO-8859-1'?>\n<dataset>\n<name>LFW train, 5 points (labels: the "
                     "68-point iBUG model), %s</name>\n<images>\n%s</images>\n</dataset>\n" % (name, "".join(es)))
        print("%s: %d faces" % (name, len(es)), file=sys.stderr)
    print("%d images, %d without a centred face" % (len(paths), len(paths) - k), file=sys.stderr)


if __name__ == "__main__":
    main()
