"""EXIF orientation end to end: a shared photo stored in each of the eight EXIF orientations
needs: numpy (Debian /usr/bin/python3 with python3-opencv: turns and encodes the test photos)
(turned or mirrored here, JPEG-encoded by OpenCV, tagged with an APP1 "Exif" segment written
by the stdlib writer below: little-endian TIFF for odd tags, big-endian for even ones, the
orientation after another entry). Through fnet each must give (1) exactly the faces of its
stored pixels (as fnet's decoder gives them, tools/reference/stb_rgb.py) turned upright by this file's
own display() and saved as a PNG, and (2) the upright photo's size, and its face box and 68
landmarks within a few pixels (JPEG codes the turned pixels in other blocks). fnet verify (the
embedding cache's loader) must call the tagged photo the same person as the upright one;
--no-exif must give the photo as stored. The photos live in a temporary folder only."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import cv2
import numpy as np

from fnet_testlib import check, skip, finish, pipeline_missing  # noqa: E402
import stb_rgb  # noqa: E402  (the stored pixels exactly as fnet decodes them)

FNET = "build/fnet"


def display(stored, o):
    """The photo a viewer shows for `stored` pixels tagged with orientation o (EXIF 2.3)."""
    return {1: lambda s: s, 2: lambda s: s[:, ::-1], 3: lambda s: s[::-1, ::-1], 4: lambda s: s[::-1, :],
            5: lambda s: s.transpose(1, 0, 2), 6: lambda s: np.rot90(s, -1),
            7: lambda s: s[::-1, ::-1].transpose(1, 0, 2), 8: lambda s: np.rot90(s, 1)}[o](stored)


def stored_for(upright, o):
    """The pixels a camera stores with tag o for a scene that looks like `upright`."""
    inverse = {6: lambda u: np.rot90(u, 1), 8: lambda u: np.rot90(u, -1)}
    return np.ascontiguousarray(inverse[o](upright) if o in inverse else display(upright, o))


def exif_app1(o, big_endian):
    """An APP1 segment: "Exif\\0\\0" + a TIFF header + IFD0 with Make (ASCII, at an offset) and
    Orientation (one SHORT held in the entry)."""
    e = ">" if big_endian else "<"
    make = b"facenet.h test\0"
    n = 2
    ifd_end = 8 + 2 + 12 * n + 4
    entries = struct.pack(e + "HHII", 0x010F, 2, len(make), ifd_end)
    entries += struct.pack(e + "HHIH", 0x0112, 3, 1, o) + b"\0\0"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", n) + entries
    tiff += struct.pack(e + "I", 0) + make
    payload = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def jpeg(pixels, o=None):
    ok, enc = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
    data = enc.tobytes()
    assert ok and data[:2] == b"\xff\xd8"
    return data if o is None else data[:2] + exif_app1(o, o % 2 == 0) + data[2:]


def run(*args):
    p = subprocess.run([FNET] + list(args), capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def first_json(out):
    lines = [l for l in out.splitlines() if l.startswith("{")]
    return json.loads(lines[0]) if lines else {}


def main():
    photo = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data", "openface-examples", "lennon-1.jpg")
    why = pipeline_missing(photo)
    if why:
        skip(why)
        return finish()
    src = cv2.imread(photo)
    upright = cv2.resize(src, (448, 336), interpolation=cv2.INTER_AREA)  # a multiple of 16 both ways
    tmp = tempfile.mkdtemp()
    try:
        ref_path = os.path.join(tmp, "upright.jpg")
        with open(ref_path, "wb") as f:
            f.write(jpeg(upright))
        rc, out, err = run("landmarks", ref_path)
        ref = first_json(out)
        check(rc == 0 and len(ref.get("faces", [])) == 1, "the upright photo: one face (rc %d %s)" % (rc, err))
        if rc != 0 or len(ref.get("faces", [])) != 1:
            return finish()
        rf = ref["faces"][0]
        worst_box = worst_lm = 0.0
        paths = {}
        for o in range(1, 9):
            stored = stored_for(upright, o)
            check(np.array_equal(display(stored, o), upright), "orientation %d: the stored pixels display upright" % o)
            p = paths[o] = os.path.join(tmp, "o%d.jpg" % o)
            with open(p, "wb") as f:
                f.write(jpeg(stored, o))
            rc, out, err = run("landmarks", p)
            j = first_json(out)
            faces = j.get("faces", [])
            check(rc == 0 and (j.get("width"), j.get("height")) == (448, 336) and len(faces) == 1,
                  "orientation %d: the upright size %r and one face (rc %d %s)"
                  % (o, (j.get("width"), j.get("height")), rc, err.strip()))
            if len(faces) != 1:
                continue
            f0 = faces[0]
            # exact: fnet must see the stored pixels (as its decoder gives them) turned as display()
            # turns them; the same pixels in a PNG (no tag) give the same face to the last digit
            png = os.path.join(tmp, "o%d.png" % o)
            cv2.imwrite(png, np.ascontiguousarray(display(stb_rgb.load(p), o)[:, :, ::-1]))
            rc, out, err = run("landmarks", png)
            check(rc == 0 and first_json(out).get("faces") == faces,
                  "orientation %d: the faces of the stored pixels turned upright, exactly" % o)
            # near the upright photo's: JPEG coded the turned pixels in other blocks, so a few
            # grey levels differ, and the regression trees' pixel comparisons move the points a little
            db = max(abs(f0[k] - rf[k]) for k in ("left", "top", "right", "bottom"))
            dl = max(max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(f0["landmarks"], rf["landmarks"]))
            worst_box, worst_lm = max(worst_box, db), max(worst_lm, dl)
            check(db <= 2 and dl <= 5.0, "orientation %d: box within %d px, landmarks within %.2f px of the upright "
                  "photo's (bounds 2 and 5.0)" % (o, db, dl))
            rc, out, err = run("--no-exif", "detect", p)
            j = first_json(out)
            want = (336, 448) if o >= 5 else (448, 336)
            check(rc == 0 and (j.get("width"), j.get("height")) == want,
                  "--no-exif, orientation %d: the stored size %r (got %r)" % (o, want, (j.get("width"), j.get("height"))))
        print("worst box difference %d px, worst landmark difference %.2f px" % (worst_box, worst_lm))
        # turned sideways and shown as stored, the face is not found upright: the switch matters
        rc, out, err = run("--no-exif", "detect", paths[6])
        check(rc == 0 and first_json(out).get("faces") == [], "--no-exif: no face in the sideways photo")
        # the match commands read photos through the embedding cache's loader
        for o in (6, 7):
            rc, out, err = run("verify", ref_path, paths[o])
            j = first_json(out)
            check(rc == 0 and j.get("same") is True and j.get("distance", 1) < 0.1,
                  "verify upright vs orientation %d: same person, distance %s (rc %d %s)"
                  % (o, j.get("distance"), rc, err.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
