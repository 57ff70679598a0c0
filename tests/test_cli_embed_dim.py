"""fnet with a network whose embedding is longer than 128 values: the CLI sizes its buffers
from fnet_embed_dim (it had `float emb[128]`), prints every value, and a blob above
FNET_MAX_EMBED_DIM (4096) is refused at load with a message. The networks are tiny blobs
written here (tools/convert/fnet_blob.py): an 8x8 input and a dense layer whose output j is input
value j mod 192 plus j/1000, so every printed value is known. Standard library only."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

from fnet_testlib import check, skip, finish  # noqa: E402
import fnet_blob  # noqa: E402

FNET = "build/fnet"


def png(w, h, rgb):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + rgb[y * w * 3:(y + 1) * w * 3] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def network(side, out, align="outer_eyes_and_nose"):
    """input side x side x 3 (/255) -> dense to `out` values: y[j] = x[j % n_in] + j / 1000"""
    b = fnet_blob.Blob(fnet_blob.Blob.KIND_NETWORK)
    b.meta("network", "test-dim%d" % out)
    b.meta("align", align)
    n_in = side * side * 3
    w = [0.0] * (n_in * out)
    for j in range(out):
        w[(j % n_in) * out + j] = 1.0
    ti = b.tensor("dense.w", "f32", (n_in, out), w)
    tb = b.tensor("dense.b", "f32", (out,), [j / 1000.0 for j in range(out)])
    b.op("input", fnet_blob.OP_INPUT, iparam=[side, side, 3] + [0] * 6 + [side, side, 3],
         fparam=[255.0, 0, 0, 0])
    b.op("dense", fnet_blob.OP_DENSE, inputs=[0], tensors=[ti, tb],
         iparam=[n_in, out] + [0] * 7 + [1, 1, out])
    return b.to_bytes()


def run(*args):
    p = subprocess.run([FNET] + list(args), capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def main():
    wdir = os.environ.get("FNET_WEIGHTS", "weights")
    if not os.path.exists(FNET):
        skip("build/fnet not built (make)")
        return finish()
    tmp = tempfile.mkdtemp()
    try:
        side, dim = 8, 300
        with open(os.path.join(tmp, "resnet34.fnet"), "wb") as f:
            f.write(network(side, dim))
        px = bytes((k * 29) % 256 for k in range(side * side * 3))
        crop = os.path.join(tmp, "crop.png")
        with open(crop, "wb") as f:
            f.write(png(side, side, px))
        rc, out, err = run("embed", "--aligned", "--net", "resnet", "--weights", tmp, crop)
        check(rc == 0, "embed --aligned with a %d-value network: rc %d, %s" % (dim, rc, err.strip()))
        emb = json.loads(out.splitlines()[0])["embedding"] if rc == 0 and out else []
        want = [px[j % len(px)] / 255.0 + j / 1000.0 for j in range(dim)]
        check(len(emb) == dim, "all %d values printed (got %d)" % (dim, len(emb)))
        check(len(emb) == dim and max(abs(a - b) for a, b in zip(emb, want)) < 1e-5,
              "the printed values are the network's")

        # the whole pipeline (detect, landmarks, align as the blob says, embed) on a photo
        photo = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data", "openface-examples", "lennon-1.jpg")
        models = [os.path.join(wdir, n) for n in ("hog_frontal.fnet", "landmarks68.fnet")]
        if not os.path.exists(photo) or not all(os.path.exists(m) for m in models):
            skip("%s or the detector/landmarks blobs absent (shared data, make weights)" % photo)
        else:
            for m in models:
                shutil.copy(m, tmp)
            rc, out, err = run("embed", "--net", "resnet", "--weights", tmp, photo)
            faces = json.loads(out.splitlines()[0])["faces"] if rc == 0 and out else []
            check(rc == 0 and len(faces) == 1 and len(faces[0].get("embedding", [])) == dim,
                  "fnet embed on a photo prints %d values for its face: rc %d %s" % (dim, rc, err.strip()))
            # fnet align --net: the crop size and the alignment come from the blob
            crops = {}
            for align in ("outer_eyes_and_nose", "dlib_chip"):
                with open(os.path.join(tmp, "resnet34.fnet"), "wb") as f:
                    f.write(network(24, 4, align))
                out_png = os.path.join(tmp, align + ".png")
                rc, out, err = run("align", "--net", "resnet", "--weights", tmp, photo, out_png)
                crops[align] = open(out_png, "rb").read() if rc == 0 else b""
                check(rc == 0 and struct.unpack(">II", crops[align][16:24]) == (24, 24),
                      "fnet align --net with a 24x24 %s blob: a 24x24 crop (rc %d %s)" % (align, rc, err.strip()))
            check(crops["outer_eyes_and_nose"] != crops["dlib_chip"], "the blob's align metadata decides the crop")

        # above FNET_MAX_EMBED_DIM: refused at load, with the reason
        with open(os.path.join(tmp, "resnet34.fnet"), "wb") as f:
            f.write(network(1, 4097))
        one = os.path.join(tmp, "one.png")
        with open(one, "wb") as f:
            f.write(png(1, 1, b"\x10\x20\x30"))
        rc, out, err = run("embed", "--aligned", "--net", "resnet", "--weights", tmp, one)
        check(rc == 1 and out == "" and "size limit" in err,
              "a 4097-value network is refused with a message: rc %d, %r" % (rc, err.strip()))
        with open(os.path.join(tmp, "resnet34.fnet"), "wb") as f:
            f.write(network(1, 4096))
        rc, out, err = run("embed", "--aligned", "--net", "resnet", "--weights", tmp, one)
        emb = json.loads(out)["embedding"] if rc == 0 else []
        check(len(emb) == 4096 and abs(emb[4095] - (0x10 / 255.0 + 4.095)) < 1e-4,
              "4096 values (FNET_MAX_EMBED_DIM) still work: rc %d %s" % (rc, err.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
