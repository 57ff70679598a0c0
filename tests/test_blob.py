"""The Python blob writer (tools/fnet_blob.py) and the C loader (through `fnet info`) agree;
the converter's command line fails cleanly on usage errors and damaged input.
Standard library only. Run from the repository root after `make` (needs build/fnet)."""
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, "tools")
import fnet_blob  # noqa: E402

from fnet_testlib import tally, check, skip, finish  # noqa: E402



def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    tmp = tempfile.mkdtemp()
    # 1. Round trip: Python writes, Python reads.
    b = fnet_blob.Blob(fnet_blob.KIND_NETWORK)
    b.meta("source", "test_blob.py")
    b.meta("license", "MIT")
    vals = [0.1 * i - 1.0 for i in range(24)]
    b.tensor("w", "f32", (2, 3, 4), vals)
    b.tensor("h", "f16", (3,), [0.5, -1.5, 1024.0])
    b.tensor("q", "u8", (4,), [0, 1, 128, 255], scale=0.5, zero=2.0)
    b.op("in", fnet_blob.OP_INPUT, iparam=[96, 96, 3], fparam=[0, 0, 0, 255])
    b.set_incomplete(["w"])
    data = b.to_bytes()
    r = fnet_blob.read(data)
    check(r["kind"] == "network" and r["flags"] == 1, "kind and flags read back")
    check(r["meta"]["filled_tensors"] == "w" and r["meta"]["incomplete"] == "1", "incomplete metadata")
    t = {x["name"]: x for x in r["tensors"]}
    got = list(fnet_blob.tensor_values(data, t["w"]))
    check(all(abs(a - g) < 1e-6 for a, g in zip(vals, got)) and len(got) == 24, "f32 values")
    check(fnet_blob.tensor_values(data, t["h"]) == [0.5, -1.5, 1024.0], "f16 values")
    check(t["q"]["scale"] == 0.5 and t["q"]["zero"] == 2.0, "quantisation scale/zero")
    check(all(x["offset"] % 64 == 0 for x in r["tensors"]), "64-byte aligned tensor offsets")
    check(len(data) % 64 == 0, "file size padded to 64")
    # errors the writer refuses
    for bad in (lambda: b.tensor("w", "f32", (1,), [0]), lambda: b.tensor("z", "f32", (2,), [1]),
                lambda: b.tensor("y" * 60, "f32", (1,), [1]), lambda: b.op("x", 1, inputs=[5])):
        try:
            bad()
            check(False, "writer accepted a bad call")
        except ValueError:
            check(True, "")
    # the reader refuses damaged data
    for name, d in (("truncated", data[:-1]), ("magic", b"X" + data[1:]),
                    ("crc", data[:100] + bytes([data[100] ^ 1]) + data[101:])):
        try:
            fnet_blob.read(d)
            check(False, "reader accepted %s blob" % name)
        except ValueError:
            check(True, "")

    # 2. The C loader reads what Python wrote (through fnet info).
    fnet = os.path.join("build", "fnet")
    if not os.path.exists(fnet):
        tally.skipped += 1
        print("skip: build/fnet not built (make)", file=sys.stderr)
    else:
        path = os.path.join(tmp, "t.fnet")
        b2 = fnet_blob.Blob(fnet_blob.KIND_DETECTOR)
        b2.meta("source", "test")
        b2.meta("license", "MIT")
        b2.tensor("filters", "f32", (1, 31, 10, 10), [0.0] * 3100)
        b2.write(path)
        rc, out, err = run(fnet, "info", path)
        if rc == 0:
            j = json.loads(out)
            check(j["kind"] == "detector" and j["meta"]["source"] == "test", "fnet info kind/meta")
            check(j["tensors"][0]["shape"] == [1, 31, 10, 10] and j["parameters"] == 3100, "fnet info tensor")
        else:
            # a detector blob without the detector's tensors may be refused by the stage's
            # own checks: that is a clean error, not a crash
            check(rc == 1 and "fnet:" in err, "fnet info refuses an incomplete detector cleanly")
        with open(path, "wb") as f:
            f.write(data)
        rc, out, err = run(fnet, "info", path)
        check(rc in (0, 1) and (rc == 1 or json.loads(out)["incomplete"] is True), "network blob through fnet info")
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        rc, out, err = run(fnet, "info", path)
        check(rc == 1 and "truncated" in err, "truncated blob: exit 1 and says truncated (%r)" % err)
        rc, out, err = run(fnet, "info")
        check(rc == 2, "fnet info without a file is a usage error")
        rc, out, err = run(fnet, "frobnicate")
        check(rc == 2, "unknown command is a usage error")

    # 3. The converter's command line.
    conv = [sys.executable, "tools/convert_weights.py"]
    rc, out, err = run(*conv)
    check(rc == 2, "converter without arguments: usage (2)")
    rc, out, err = run(*(conv + ["no-such-format", "x", "y"]))
    check(rc == 2 and "FORMAT" in err, "unknown format: usage (2)")
    rc, out, err = run(*(conv + ["dlib-shape", "/nonexistent.dat", os.path.join(tmp, "o.fnet")]))
    check(rc == 1 and "does not exist" in err, "missing source: exit 1 with a message")
    junk = os.path.join(tmp, "junk.dat")
    with open(junk, "wb") as f:
        f.write(os.urandom(1000))
    for fmt in ("dlib-shape", "dlib-detector", "keras-csv", "faceapi"):
        rc, out, err = run(*(conv + [fmt, junk if fmt != "keras-csv" else tmp, os.path.join(tmp, "o.fnet")]))
        check(rc == 1 and "cannot convert" in err and "Traceback" not in err,
              "%s on junk input: clean failure (rc %d, %r)" % (fmt, rc, err[-300:]))
    check(not os.path.exists(os.path.join(tmp, "o.fnet")), "no output file left after failures")

    return finish()


if __name__ == "__main__":
    sys.exit(main())
