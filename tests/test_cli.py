"""The fnet command line against hostile and odd input: truncated JPEG/PNG, a text file named
.jpg, a 1x1 image, a PNG header claiming 30000x30000 pixels, missing files, bad options.
Each must give a clear message on stderr, a non-zero exit below 128 (never a crash), valid
JSON for the good images, and no half-written output file. Standard library only; run from the
repository root after `make` and `make weights`."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

from fnet_testlib import tally, check, skip, finish  # noqa: E402



def png(w, h, rgb_rows=None, claim=None):
    """A minimal RGB PNG; `claim` overrides the header's (w, h) to lie about the size."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    cw, ch = claim or (w, h)
    raw = b"".join(b"\0" + (rgb_rows[y] if rgb_rows else b"\x80" * (3 * w)) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", cw, ch, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def main():
    fnet = "build/fnet"
    wdir = os.environ.get("FNET_WEIGHTS", "weights")
    if not os.path.exists(fnet):
        print("skip: build/fnet not built (make)", file=sys.stderr)
        print("0 passed, 0 failed, 1 skipped")
        return 0
    if not os.path.exists(os.path.join(wdir, "hog_frontal.fnet")):
        print("skip: %s/hog_frontal.fnet not built (make weights)" % wdir, file=sys.stderr)
        print("0 passed, 0 failed, 1 skipped")
        return 0
    shared = os.environ.get("FNET_SHARED", "../shared")
    good = os.path.join(shared, "data", "openface-examples", "lennon-1.jpg")
    tmp = tempfile.mkdtemp()
    files = {}
    files["text.jpg"] = b"this is not an image\n" * 10
    files["empty.jpg"] = b""
    files["tiny.png"] = png(1, 1)
    files["huge_header.png"] = png(2, 2, claim=(30000, 30000))
    files["wide_header.png"] = png(2, 2, claim=(100000, 1))
    if os.path.exists(good):
        data = open(good, "rb").read()
        files["truncated.jpg"] = data[: len(data) // 3]
        files["header_only.jpg"] = data[:200]
    else:
        tally.skipped += 1
        print("skip: %s absent (shared data): no truncated-JPEG case" % good, file=sys.stderr)
    p = png(64, 64)
    files["truncated.png"] = p[: len(p) - 30]
    for name, d in files.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(d)

    def path(n):
        return os.path.join(tmp, n)

    # detect: every bad file fails alone with a message; a good one in the same call still works
    for name in files:
        if name == "tiny.png":
            continue
        rc, out, err = run(fnet, "--weights", wdir, "detect", path(name))
        check(rc == 1 and "fnet:" in err and name in err and out == "",
              "detect %s: rc %d, err %r" % (name, rc, err[-200:]))
    rc, out, err = run(fnet, "--weights", wdir, "detect", path("tiny.png"))
    ok = rc == 0 and json.loads(out)["faces"] == [] and json.loads(out)["width"] == 1
    check(ok, "a 1x1 image is a valid image without faces (rc %d, %r %r)" % (rc, out, err))
    if os.path.exists(good):
        rc, out, err = run(fnet, "--weights", wdir, "detect", path("text.jpg"), good)
        lines = [l for l in out.splitlines() if l.strip()]
        check(rc == 1 and len(lines) == 1 and json.loads(lines[0])["image"] == good,
              "a bad file does not stop the good ones (rc %d)" % rc)
    rc, out, err = run(fnet, "--weights", wdir, "detect", path("missing.jpg"))
    check(rc == 1 and "missing.jpg" in err, "missing file: rc 1 and named")
    check("30000" in run(fnet, "--weights", wdir, "detect", path("huge_header.png"))[2],
          "huge header: the message gives the claimed size")
    # outputs are not half-written
    for cmd in (["align"], ["draw"]):
        outp = path("out_%s.png" % cmd[0])
        rc, out, err = run(fnet, "--weights", wdir, *(cmd + [path("truncated.png"), outp]))
        check(rc in (1, 2) and not os.path.exists(outp) and not os.path.exists(outp + ".tmp"),
              "%s on a truncated image writes nothing (rc %d)" % (cmd[0], rc))
    # usage errors are exit 2, never a crash
    for args in (["detect", "--upsample"], ["detect", "--upsample", "x", good], ["detect", "--bogus", good],
                 ["embed", "--net", "vgg", good], ["info"], []):
        rc, out, err = run(fnet, *args)
        check(rc == 2, "usage error %r gives 2 (got %d)" % (args, rc))
    rc, out, err = run(fnet, "--weights", os.path.join(tmp, "nowhere"), "detect", path("tiny.png"))
    check(rc == 1 and "make weights" in err, "missing weights folder: says how to build them")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
