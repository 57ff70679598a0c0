#!/usr/bin/python3
"""make_resnet_golden.py: golden ResNet-34 descriptors computed by face-api itself (tfjs in Node).
needs: numpy, cv2 (Debian /usr/bin/python3), node + @tensorflow/tfjs in build/node (see
tools/faceapi_ref.js), the face-api package (weights/cache/face-api/package or --faceapi).

    /usr/bin/python3 tools/make_resnet_golden.py [--shared DIR]  (default $FNET_SHARED/data, else ../shared/data) [--faceapi PKG]

Writes
  tests/golden/resnet_chips.png        the real 150x150 chips stacked vertically (lossless)
  tests/golden/faceapi_descriptors.json  inputs (chip rows / LCG seeds) and face-api's descriptors
Inputs, all 150x150 RGB uint8, deterministic:
  * eye-aligned chips from dlib's example photos, using the 68 landmarks in dlib's
    testing_with_face_landmarks.xml (similarity transform putting the eye centres at fixed chip
    positions, cv2.warpAffine bilinear): a real face like dlib's 150 px chip, not the same pixels;
  * central crops of LFW deep-funneled images (rows/cols 60..190 of the 250x250 image, resized
    to 150 with cv2.INTER_AREA);
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

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
S = 150

# (file, face index in the XML) from dlib-examples, and LFW images (person, number).
DLIB_FACES = [("2008_002506.jpg", 0), ("2008_002506.jpg", 1), ("2008_002506.jpg", 2),
              ("2008_002470.jpg", 0)]
LFW_FACES = [("Abel_Pacheco", 1), ("Akhmed_Zakayev", 1), ("Amber_Tamblyn", 1),
             ("Angela_Bassett", 2)]
SEEDS = [1, 20261203]


def lcg_image(seed):
    out = np.empty(S * S * 3, np.uint8)
    s = seed & 0xFFFFFFFF
    for i in range(out.size):
        s = (s * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = (s >> 16) & 255
    return out.reshape(S, S, 3)


def dlib_faces(xml_path):
    """{file: [68x2 landmark arrays in XML order]}"""
    txt = open(xml_path, encoding="latin-1").read()
    faces = {}
    for m in re.finditer(r"<image file='([^']+)'.*?</image>", txt, re.S):
        boxes = re.findall(r"<box [^>]*>(.*?)</box>", m.group(0), re.S)
        for b in boxes:
            pts = re.findall(r"<part name='(\d+)' x='(-?\d+)' y='(-?\d+)'/>", b)
            if len(pts) == 68:
                faces.setdefault(m.group(1), []).append(
                    np.array([[float(x), float(y)] for _, x, y in pts]))
    return faces


def eye_chip(img_rgb, pts):
    le, re_ = pts[36:42].mean(0), pts[42:48].mean(0)     # image-left eye, image-right eye
    # target eye centres in the chip (roughly where dlib's 150 px chip with padding 0.25 has them)
    tl, tr = np.array([52.0, 60.0]), np.array([98.0, 60.0])
    d_src, d_dst = re_ - le, tr - tl
    scale = np.hypot(*d_dst) / np.hypot(*d_src)
    ang = np.arctan2(d_src[1], d_src[0]) - np.arctan2(d_dst[1], d_dst[0])
    c, s = scale * np.cos(-ang), scale * np.sin(-ang)
    A = np.array([[c, -s, 0.0], [s, c, 0.0]])
    A[:, 2] = tl - A[:, :2] @ le
    return cv2.warpAffine(img_rgb, A, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


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
    chips, names = [], []
    faces = dlib_faces(os.path.join(shared, "dlib-examples", "testing_with_face_landmarks.xml"))
    for f, k in DLIB_FACES:
        img = cv2.imread(os.path.join(shared, "dlib-examples", f), cv2.IMREAD_COLOR)[:, :, ::-1]
        chips.append(eye_chip(np.ascontiguousarray(img), faces[f][k]))
        names.append("dlib-examples/%s face %d (eye-aligned)" % (f, k))
    for p, n in LFW_FACES:
        rel = "lfw-dev/lfw-deepfunneled/%s/%s_%04d.jpg" % (p, p, n)
        img = cv2.imread(os.path.join(shared, rel), cv2.IMREAD_COLOR)[:, :, ::-1]
        chips.append(cv2.resize(np.ascontiguousarray(img[60:190, 60:190]), (S, S),
                                interpolation=cv2.INTER_AREA))
        names.append(rel + " (central crop 60..190)")
    stack = np.concatenate(chips, 0)
    gold = os.path.join(ROOT, "tests", "golden")
    os.makedirs(gold, exist_ok=True)
    cv2.imwrite(os.path.join(gold, "resnet_chips.png"), stack[:, :, ::-1],
                [cv2.IMWRITE_PNG_COMPRESSION, 9])
    back = cv2.imread(os.path.join(gold, "resnet_chips.png"), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.array_equal(back, stack)
    inputs = chips + [lcg_image(s) for s in SEEDS]
    tmp = tempfile.mkdtemp()
    raw = os.path.join(tmp, "inputs.u8")
    np.concatenate([x.reshape(-1) for x in inputs]).tofile(raw)
    env = dict(os.environ, NODE_PATH=os.path.join(ROOT, "build", "node", "node_modules"))
    res = {}
    for backend in ("cpu", "wasm"):
        out = os.path.join(tmp, backend + ".json")
        subprocess.check_call(["node", os.path.join(ROOT, "tools", "faceapi_ref.js"), "--faceapi",
                               faceapi, "--backend", backend, "--inputs", raw, "--out", out],
                              env=env, stderr=subprocess.DEVNULL)
        res[backend] = json.load(open(out))
    cpu = np.array(res["cpu"]["descriptors"], np.float32)
    wasm = np.array(res["wasm"]["descriptors"], np.float32)
    doc = {
        "about": "face-api 1.7.15 computeFaceDescriptor (tfjs %s, cpu backend) on 150x150 RGB "
                 "inputs; divisor 255; made by tools/make_resnet_golden.py" % res["cpu"]["tfjs"],
        "chips_png": "resnet_chips.png",
        "inputs": ([{"chip": i, "what": n} for i, n in enumerate(names)] +
                   [{"lcg_seed": s, "what": "LCG noise"} for s in SEEDS]),
        "wasm_vs_cpu_max_abs_diff": float(np.abs(cpu - wasm).max()),
        "descriptors": [[float("%.9g" % v) for v in d] for d in cpu.tolist()],
    }
    with open(os.path.join(gold, "faceapi_descriptors.json"), "w") as f:
        json.dump(doc, f, indent=0)
        f.write("\n")
    print("%d inputs, wasm vs cpu max abs diff %.3g, |d| range %.3f..%.3f"
          % (len(inputs), doc["wasm_vs_cpu_max_abs_diff"], np.linalg.norm(cpu, axis=1).min(),
             np.linalg.norm(cpu, axis=1).max()))


if __name__ == "__main__":
    main(sys.argv[1:])
