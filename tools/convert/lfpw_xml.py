"""lfpw_xml: the LFPW 68-point faces (shared/data/lfpw-test68) as two dlib imglab datasets,
training and held-aside testing, for the landmark trainer comparison (tools/bench/bench_train_landmarks.sh).

    python3 tools/convert/lfpw_xml.py DATA_ROOT OUT_DIR

Boxes: dlib's frontal face detector's, as dlib's pipeline sees them (upsampled once), from
tests/golden/dlib_landmarks_lfpw.jsonl (tools/reference/dlib_ref_landmarks.cpp; 5 of the 224 faces have
no detection there and use the ground-truth points' bounding box). Points: the .pts files
(0-based), rounded to whole pixels (imglab parts are integers). Every fifth image
(image_0005, image_0010, ...) is held aside for testing: 180 training faces, 44 testing.
Standard library only. """
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def read_pts(path):
    with open(path) as f:
        lines = f.read().split("{")[1].split("}")[0].split()
    v = [float(x) for x in lines]
    return [(v[2 * i], v[2 * i + 1]) for i in range(len(v) // 2)]


def main():
    root, out = sys.argv[1], sys.argv[2]
    golden = os.path.join(HERE, "..", "..", "tests", "golden", "dlib_landmarks_lfpw.jsonl")
    rows = [json.loads(line) for line in open(golden)]
    sets = {"train": [], "test": []}
    for k, r in enumerate(rows):
        img = os.path.join(os.path.abspath(root), r["image"])
        pts = read_pts(img[:-4] + ".pts")
        l, t, rr, b = r["box"]
        box = "    <box top='%d' left='%d' width='%d' height='%d'>\n" % (t, l, rr - l + 1, b - t + 1)
        parts = "".join("      <part name='%02d' x='%d' y='%d'/>\n" % (i, int(x + 0.5) if x >= 0 else -int(-x + 0.5),
                                                                        int(y + 0.5) if y >= 0 else -int(-y + 0.5))
                        for i, (x, y) in enumerate(pts))
        entry = "  <image file='%s'>\n%s%s    </box>\n  </image>\n" % (img, box, parts)
        sets["test" if k % 5 == 4 else "train"].append(entry)
    os.makedirs(out, exist_ok=True)
    for name, entries in sets.items():
        with open(os.path.join(out, "lfpw_%s.xml" % name), "w") as f:
            f.write("<?xml version='1.0' encoding='ISO-8859-1'?>\n<dataset>\n<name>LFPW test set, 68 points, %s part"
                    "</name>\n<images>\n%s</images>\n</dataset>\n" % (name, "".join(entries)))
        print("%s: %d faces" % (name, len(entries)), file=sys.stderr)


if __name__ == "__main__":
    main()
