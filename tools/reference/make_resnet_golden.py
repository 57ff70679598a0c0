#!/usr/bin/python3
"""make_resnet_golden.py: golden ResNet-34 descriptors computed by face-api itself (tfjs in Node).
needs: numpy (Debian /usr/bin/python3), node + @tensorflow/tfjs in build/node (see
tools/reference/faceapi_ref.js), the face-api package (weights/cache/face-api/package or --faceapi),
gcc + stb_image (tools/reference/stb_rgb.py), libdlib-dev + libdlib-data (build/dlib_ref_landmarks).

    /usr/bin/python3 tools/reference/make_resnet_golden.py [--shared DIR]  (default $FNET_SHARED/data, else ../shared/data) [--faceapi PKG]

Writes tests/golden/faceapi_descriptors.json: the inputs and face-api's descriptors. No pixels
are stored: the chips are cut again at test time from the shared photos (../shared/data is
never committed, nor anything derived from it but small reference outputs).
Inputs, all 150x150 RGB uint8, deterministic:
  * dlib's real 150 px face chips: get_face_chip_details(shape, 150, 0.25) +
    extract_image_chip, cut by fnet_align(..., FNET_ALIGN_DLIB_CHIP, 150, ...) through
    tests/drivers/align_driver.c (tests/test_align.py shows it byte-identical to dlib's own
    extract_image_chip, pyramid included) from the photo decoded by stb_image as the C tests
    decode it. The 68 landmarks: for dlib's example photos the ones in dlib's
    testing_with_face_landmarks.xml; for LFW deep-funneled images dlib's own (frontal detector
    on the image upsampled once + shape_predictor_68_face_landmarks, tools/reference/dlib_ref_landmarks.cpp),
    the face whose box holds the image centre. Each input stores the image path (relative to
    the shared data dir), the 68 points (integers) and the FNV-1a 32 checksum of the chip's
    67,500 bytes, so a test can tell "the chip differs" from "the network differs";
  * uniform noise from the LCG s = s*1103515245 + 12345 (mod 2^32), byte = (s >> 16) & 255,
    one step per byte in HWC order, starting from the given seed (tests regenerate it).
face-api's descriptor is computed with the tfjs "cpu" backend (plain JavaScript float32, the
same result on every machine); the wasm backend's largest difference from it is recorded too.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import stb_rgb  # noqa: E402


S = 150
DLIB_DAT = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"

# (file, face index in the XML) from dlib-examples, and LFW images (person, number).
DLIB_FACES = [("2008_002506.jpg", 0), ("2008_002506.jpg", 1), ("2008_002506.jpg", 2),
              ("2008_002470.jpg", 0)]
LFW_FACES = [("Abel_Pacheco", 1), ("Akhmed_Zakayev", 1), ("Amber_Tamblyn", 1),
             ("Angela_Bassett", 2)]
SEEDS = [1, 20261203]


def fnv1a(b):
    """FNV-1a 32 of a byte string (tests/test_resnet_numerics.c computes the same)."""
    h = 2166136261
    for c in b:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def lcg_image(seed):
    out = np.empty(S * S * 3, np.uint8)
    s = seed & 0xFFFFFFFF
    for i in range(out.size):
        s = (s * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = (s >> 16) & 255
    return out.reshape(S, S, 3)


def dlib_faces(xml_path):
    """{file: [68 [x, y] integer landmarks per face, in XML order]}"""
    txt = open(xml_path, encoding="latin-1").read()
    faces = {}
    for m in re.finditer(r"<image file='([^']+)'.*?</image>", txt, re.S):
        boxes = re.findall(r"<box [^>]*>(.*?)</box>", m.group(0), re.S)
        for b in boxes:
            pts = re.findall(r"<part name='(\d+)' x='(-?\d+)' y='(-?\d+)'/>", b)
            if len(pts) == 68:
                faces.setdefault(m.group(1), []).append(
                    [[int(x), int(y)] for _, x, y in pts])
    return faces


def dlib_lfw_points(shared, rels):
    """dlib's 68 points of the face whose box holds the image centre, per LFW image."""
    subprocess.check_call(["make", "-s", "-C", ROOT, "build/dlib_ref_landmarks"])
    out = subprocess.check_output([os.path.join(ROOT, "build", "dlib_ref_landmarks"), "photos", shared,
                                   DLIB_DAT] + rels)
    res = {}
    for line in out.decode().splitlines():
        d = json.loads(line)
        cx, cy = d["width"] / 2.0, d["height"] / 2.0
        hit = [f for f in d["faces"] if f["box"][0] <= cx <= f["box"][2] and f["box"][1] <= cy <= f["box"][3]]
        if len(hit) != 1:
            sys.exit("%s: %d faces hold the centre" % (d["image"], len(hit)))
        p = hit[0]["points"]
        res[d["image"]] = [[p[2 * i], p[2 * i + 1]] for i in range(68)]
    return res


def main(argv):
    shared = os.path.join(os.environ.get("FNET_SHARED") or os.path.join(ROOT, "..", "shared"), "data")
    faceapi = os.path.join(ROOT, "weights", "cache", "face-api", "package")
    i = 0
    while i < len(argv):
        if argv[i] == "--shared":
            shared = argv[i + 1]
        elif argv[i] == "--faceapi":
            faceapi = argv[i + 1]
        else:
            sys.exit("usage: make_resnet_golden.py [--shared DIR] [--faceapi PKG]")
        i += 2
    real = []  # (rel path, 68 [x, y] points, description)
    faces = dlib_faces(os.path.join(shared, "dlib-examples", "testing_with_face_landmarks.xml"))
    for f, k in DLIB_FACES:
        real.append(("dlib-examples/" + f, faces[f][k],
                     "face %d of dlib's testing_with_face_landmarks.xml, its 68 points" % k))
    rels = ["lfw-dev/lfw-deepfunneled/%s/%s_%04d.jpg" % (p, p, n) for p, n in LFW_FACES]
    lfw = dlib_lfw_points(shared, rels)
    for rel in rels:
        real.append((rel, lfw[rel], "dlib's 68 points (detector up 1 + shape_predictor_68, "
                                    "tools/reference/dlib_ref_landmarks.cpp), the face at the image centre"))
    chips = []
    for rel, pts, _ in real:
        img = stb_rgb.load(os.path.join(shared, rel))
        if img is None:
            sys.exit("cannot read " + os.path.join(shared, rel))
        chips.append(stb_rgb.dlib_chip(img, np.array(pts, np.float64), S))
    inputs = chips + [lcg_image(s) for s in SEEDS]
    tmp = tempfile.mkdtemp()
    raw = os.path.join(tmp, "inputs.u8")
    np.concatenate([x.reshape(-1) for x in inputs]).tofile(raw)
    env = dict(os.environ, NODE_PATH=os.path.join(ROOT, "build", "node", "node_modules"))
    res = {}
    for backend in ("cpu", "wasm"):
        out = os.path.join(tmp, backend + ".json")
        subprocess.check_call(["node", os.path.join(ROOT, "tools", "reference", "faceapi_ref.js"), "--faceapi",
                               faceapi, "--backend", backend, "--inputs", raw, "--out", out],
                              env=env, stderr=subprocess.DEVNULL)
        res[backend] = json.load(open(out))
    gold = os.path.join(ROOT, "tests", "golden")
    cpu = np.array(res["cpu"]["descriptors"], np.float32)
    wasm = np.array(res["wasm"]["descriptors"], np.float32)
    wasm_diff = float(np.abs(cpu - wasm).max())
    # One line per input and per descriptor (json.dump's indent would put each number on a line).
    items = [{"image": rel, "points": [v for q in pts for v in q], "fnv1a": fnv1a(c.tobytes()),
              "what": what} for (rel, pts, what), c in zip(real, chips)]
    items += [{"lcg_seed": s, "what": "LCG noise"} for s in SEEDS]
    descs = [[float("%.9g" % v) for v in d] for d in cpu.tolist()]
    about = ("face-api 1.7.15 computeFaceDescriptor (tfjs %s, cpu backend) on 150x150 RGB inputs; "
             "divisor 255; made by tools/reference/make_resnet_golden.py. Real inputs: dlib's 150 px chip "
             "(padding 0.25, bilinear) of image (under the shared data dir) with points (x0, y0, .., "
             "x67, y67); fnv1a: FNV-1a 32 of the chip's 67,500 RGB bytes" % res["cpu"]["tfjs"])
    with open(os.path.join(gold, "faceapi_descriptors.json"), "w") as f:
        f.write('{\n"about": %s,\n"inputs": [\n' % json.dumps(about))
        f.write(",\n".join(json.dumps(x) for x in items))
        f.write('\n],\n"wasm_vs_cpu_max_abs_diff": %s,\n"descriptors": [\n' % json.dumps(wasm_diff))
        f.write(",\n".join(json.dumps(d) for d in descs))
        f.write("\n]\n}\n")
    doc = json.load(open(os.path.join(gold, "faceapi_descriptors.json")))
    assert doc["descriptors"] == descs and len(doc["inputs"]) == len(inputs)
    print("%d inputs, wasm vs cpu max abs diff %.3g, |d| range %.3f..%.3f"
          % (len(inputs), wasm_diff, np.linalg.norm(cpu, axis=1).min(), np.linalg.norm(cpu, axis=1).max()))


if __name__ == "__main__":
    main(sys.argv[1:])
