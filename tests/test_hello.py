"""examples/hello.c, the first code a newcomer copies: the README's API snippet (the first C
block under "## Using the header") must be that file byte for byte, and build/hello must
give, for a shared photo pair, the distance fnet embed's two embeddings give (same person:
lennon-1/lennon-2; different people: lennon-1/clapton-1), and print fnet_result_string's
message on errors (no weights, a file that is not a photo, a photo without a face).
Standard library only; run from the repository root after `make` and `make weights`."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

from fnet_testlib import check, skip, finish, pipeline_missing, PIPELINE_BLOBS  # noqa: E402

HELLO = os.path.abspath("build/hello")
IO_MESSAGE = "cannot read or write the file"  # fnet_result_string(FNET_ERR_IO) begins so


def readme_snippet():
    text = open("README.md", encoding="utf-8").read()
    part = text.split("## Using the header", 1)
    m = re.search(r"```c\n(.*?)```\n", part[1], re.S) if len(part) == 2 else None
    return m.group(1) if m else None


def run(args, cwd):
    p = subprocess.run([HELLO] + args, capture_output=True, text=True, timeout=300, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def embedding(photo):
    p = subprocess.run(["build/fnet", "embed", "--net", "resnet", photo], capture_output=True, text=True,
                       timeout=300)
    faces = json.loads(p.stdout.splitlines()[0])["faces"] if p.returncode == 0 and p.stdout else []
    return faces[0]["embedding"] if faces else None


def main():
    check(readme_snippet() == open("examples/hello.c", encoding="utf-8").read(),
          "README.md's snippet under '## Using the header' is examples/hello.c byte for byte "
          "(copy the file into the README's ```c block)")
    wdir = os.path.abspath(os.environ.get("FNET_WEIGHTS", "weights"))
    shared = os.path.abspath(os.environ.get("FNET_SHARED", "../shared"))
    ex = os.path.join(shared, "data", "openface-examples")
    why = pipeline_missing(HELLO, ex)
    if why:
        skip(why)
        return finish()
    blobs = PIPELINE_BLOBS
    tmp = tempfile.mkdtemp()
    try:
        # hello reads weights/ relative to where it runs: a folder holding the blobs
        os.mkdir(os.path.join(tmp, "weights"))
        for b in blobs:
            os.symlink(os.path.join(wdir, b), os.path.join(tmp, "weights", b))
        for a, b, verdict in (("lennon-1.jpg", "lennon-2.jpg", "same person"),
                              ("lennon-1.jpg", "clapton-1.jpg", "different people")):
            pa, pb = os.path.join(ex, a), os.path.join(ex, b)
            rc, out, err = run([pa, pb], tmp)
            m = re.match(r"distance ([0-9.]+): (.*)\n$", out)
            ea, eb = embedding(pa), embedding(pb)
            want = math.sqrt(sum((x - y) ** 2 for x, y in zip(ea, eb))) if ea and eb else -1
            check(rc == 0 and m is not None and m.group(2) == verdict,
                  "hello %s %s: %r (rc %d, %s)" % (a, b, out, rc, err.strip()))
            check(m is not None and abs(float(m.group(1)) - want) < 6e-5,
                  "hello %s %s: distance %s, fnet embed gives %.5f" % (a, b, m and m.group(1), want))
        # no arguments: the shared lennon pair, from the repository root
        if shared == os.path.abspath("../shared") and os.path.abspath(wdir) == os.path.abspath("weights"):
            rc, out, err = run([], os.getcwd())
            check(rc == 0 and out.endswith(": same person\n"), "build/hello without arguments: %r rc %d" % (out, rc))

        # errors: fnet_result_string's sentence, exit code 1, nothing on stdout
        empty = tempfile.mkdtemp(dir=tmp)
        rc, out, err = run([os.path.join(ex, "lennon-1.jpg"), os.path.join(ex, "lennon-2.jpg")], empty)
        check(rc == 1 and out == "" and err.startswith("hello: weights/hog_frontal.fnet: " + IO_MESSAGE),
              "no weights: the loader's message (rc %d, %r)" % (rc, err))
        text = os.path.join(tmp, "notes.jpg")
        with open(text, "w") as f:
            f.write("not a photo\n" * 20)
        rc, out, err = run([text, os.path.join(ex, "lennon-2.jpg")], tmp)
        check(rc == 1 and out == "" and err.startswith("hello: " + text + ": "),
              "a text file named .jpg: a message (rc %d, %r)" % (rc, err))
        flat = os.path.join(tmp, "flat.png")
        write_gray_png(flat)
        rc, out, err = run([flat, os.path.join(ex, "lennon-2.jpg")], tmp)
        check(rc == 1 and out == "" and "no face found" in err, "a photo without a face (rc %d, %r)" % (rc, err))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


def write_gray_png(path):
    import struct
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    w = h = 120
    raw = b"".join(b"\0" + b"\x80" * (3 * w) for _ in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    sys.exit(main())
