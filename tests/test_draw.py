"""fnet draw and fnet landmarks from the command line.
needs: numpy (and cv2, to read the PNG back)

draw --box (no detector needed): the PNG exists, has the photo's size, the box outline is
green and dlib's landmark positions are red; a bad image leaves no output. fnet landmarks:
68 [x,y] pairs with two decimals per face; where a face's box equals a golden dlib box,
the points round to dlib's.
Run from the repository root after `make`.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

try:
    import cv2
except ImportError:
    cv2 = None

from fnet_testlib import check, skip, finish  # noqa: E402



def main():
    fnet = "build/fnet"
    wdir = os.environ.get("FNET_WEIGHTS") or "weights"
    data = os.path.join(os.environ.get("FNET_SHARED") or "../shared", "data")
    if cv2 is None or not os.path.exists(os.path.join(wdir, "landmarks68.fnet")) or not os.path.isdir(data) \
            or not os.path.exists(fnet):
        skip("needs cv2 (python3-opencv), build/fnet, %s/landmarks68.fnet and %s" % (wdir, data))
        return finish()
    golden = [json.loads(l) for l in open("tests/golden/dlib_landmarks_up1.jsonl")]
    g = next(d for d in golden if d["image"] == "openface-examples/lennon-1.jpg")
    box, pts = g["faces"][0]["box"], g["faces"][0]["points"]
    tmp = tempfile.mkdtemp()
    out = os.path.join(tmp, "lennon.png")
    img = os.path.join(data, g["image"])
    p = subprocess.run([fnet, "--weights", wdir, "draw", "--box", ",".join(map(str, box)), img, out],
                       capture_output=True, text=True)
    check(p.returncode == 0 and json.loads(p.stdout)["faces"] == 1, "draw --box: %s" % p.stderr)
    im = cv2.imread(out, cv2.IMREAD_COLOR)
    check(im is not None and im.shape[:2] == (g["height"], g["width"]), "drawn PNG has the photo's size")
    if im is not None:
        rgb = im[:, :, ::-1]
        l, t, r, b = box
        check(tuple(rgb[t, (l + r) // 2]) == (0, 230, 0) and tuple(rgb[(t + b) // 2, r]) == (0, 230, 0),
              "box outline is green")
        red = sum(tuple(rgb[pts[2 * k + 1], pts[2 * k]]) == (255, 40, 40) for k in range(68))
        check(red >= 66, "landmarks drawn in red at dlib's points: %d of 68" % red)
    for args in (["draw", "--box", "5,5,1,1", img, out + "2"], ["draw", "--box", "x", img, out + "2"], ["draw", img]):
        p = subprocess.run([fnet, "--weights", wdir] + args, capture_output=True, text=True)
        check(p.returncode == 2 and not os.path.exists(out + "2"), "usage error %r: rc 2, nothing written" % args)
    bad = os.path.join(tmp, "bad.jpg")
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not a jpeg")
    p = subprocess.run([fnet, "--weights", wdir, "draw", "--box", "1,1,5,5", bad, out + "3"], capture_output=True)
    check(p.returncode == 1 and not os.path.exists(out + "3") and not os.path.exists(out + "3.tmp"),
          "bad image: rc 1, nothing written")

    # fnet landmarks (detector + landmarks)
    p = subprocess.run([fnet, "--weights", wdir, "landmarks", "--upsample", "1", img], capture_output=True, text=True)
    check(p.returncode == 0, "fnet landmarks: exit %d %s" % (p.returncode, p.stderr.strip()[-300:]))
    if p.returncode == 0:
        j = json.loads(p.stdout)
        check(len(j["faces"]) >= 1, "a face in lennon-1")
        raw = p.stdout
        check(re.search(r'"landmarks":\[\[-?\d+\.\d\d,-?\d+\.\d\d\](,\[-?\d+\.\d\d,-?\d+\.\d\d\]){67}\]', raw) is not None,
              "68 [x,y] pairs with two decimals")
        for f in j["faces"]:
            fb = [f["left"], f["top"], f["right"], f["bottom"]]
            if fb == box:
                got = [int(np.floor(v + 0.5)) for xy in f["landmarks"] for v in xy]
                same = sum(a == b for a, b in zip(got, pts))
                check(same >= 134, "CLI points on dlib's box round to dlib's: %d of 136 coordinates" % same)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
