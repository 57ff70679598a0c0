"""The Python blob writer (tools/convert/fnet_blob.py) and the C loader (through `fnet info`) agree;
the converter's command line fails cleanly on usage errors and damaged input.
Standard library only. Run from the repository root after `make` (needs build/fnet)."""
import json
import os
import struct
import subprocess
import sys
import tempfile

from fnet_testlib import check, skip, finish  # noqa: E402
import fnet_blob  # noqa: E402




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

    # 2. The C loader reads what Python wrote (through fnet info): valid blobs of two kinds,
    #    written here, must load (exit 0) and fnet info must report what was written.
    fnet = os.path.join("build", "fnet")
    if not os.path.exists(fnet):
        skip("build/fnet not built (make)")
    else:
        import random
        rnd = random.Random(5)
        path = os.path.join(tmp, "t.fnet")
        # a one-filter detector with dlib's frontal detector's scanner settings
        det_meta = [("source", "test_blob.py"), ("license", "MIT"), ("cell_size", "8"), ("padding", "0"),
                    ("window_width", "80"), ("window_height", "80"), ("filter_rows", "10"),
                    ("filter_cols", "10"), ("pyramid_down", "6"), ("max_pyramid_levels", "1000"),
                    ("min_pyramid_layer_width", "64"), ("min_pyramid_layer_height", "64"),
                    ("iou_thresh", "0.33"), ("percent_covered_thresh", "0.78"), ("num_filters", "1"),
                    ("threshold0", "0.5")]
        b2 = fnet_blob.Blob(fnet_blob.KIND_DETECTOR)
        for k, v in det_meta:
            b2.meta(k, v)
        b2.tensor("filter0", "f32", (10, 10, 31), [rnd.uniform(-1, 1) for _ in range(3100)])
        b2.tensor("thresholds", "f32", (1,), [0.5])
        b2.write(path)
        rc, out, err = run(fnet, "info", path)
        check(rc == 0, "fnet info loads the Python-written detector: rc %d %s" % (rc, err.strip()[-300:]))
        if rc == 0:
            j = json.loads(out)
            check(j["kind"] == "detector" and j["meta"] == dict(det_meta) and j["incomplete"] is False,
                  "fnet info: the detector's kind and metadata as written (%r)" % j.get("meta"))
            check([(t["name"], t["dtype"], t["shape"]) for t in j["tensors"]] ==
                  [("filter0", "f32", [10, 10, 31]), ("thresholds", "f32", [1])] and j["parameters"] == 3101 and
                  j["tensor_bytes"] == 4 * 3101, "fnet info: the detector's tensors as written")
        # a tiny network: INPUT 4x4x3 -> DENSE 48 -> 8 (ReLU) -> L2NORM, marked incomplete
        b3 = fnet_blob.Blob(fnet_blob.KIND_NETWORK)
        b3.meta("source", "test_blob.py")
        b3.meta("license", "MIT")
        b3.meta("network", "test-net")
        wi = b3.tensor("fc_w", "f32", (48, 8), [rnd.uniform(-1, 1) for _ in range(384)])
        bi = b3.tensor("fc_b", "f32", (8,), [0.1] * 8)
        i0 = b3.op("in", fnet_blob.OP_INPUT, iparam=[4, 4, 3, 0, 0, 0, 0, 0, 0, 4, 4, 3], fparam=[255, 0, 0, 0])
        i1 = b3.op("fc", fnet_blob.OP_DENSE, inputs=[i0], tensors=[wi, bi], iparam=[48, 8, 0, 0, 0, 0, 0, 0, 0, 1, 1, 8],
                   flags=1)
        b3.op("norm", fnet_blob.OP_L2NORM, inputs=[i1], iparam=[0] * 9 + [1, 1, 8], fparam=[1e-10, 0, 0, 0])
        b3.set_incomplete(["fc_w"])
        b3.write(path)
        rc, out, err = run(fnet, "info", path)
        check(rc == 0, "fnet info loads the Python-written network: rc %d %s" % (rc, err.strip()[-300:]))
        if rc == 0:
            j = json.loads(out)
            check(j["kind"] == "network" and j["incomplete"] is True and j["ops"] == 3 and
                  j["meta"].get("filled_tensors") == "fc_w" and j["meta"].get("network") == "test-net",
                  "fnet info: the network's kind, ops and incompleteness as written (%r)" % out[:300])
            check([(t["name"], t["shape"]) for t in j["tensors"]] == [("fc_w", [48, 8]), ("fc_b", [8])] and
                  j["parameters"] == 392, "fnet info: the network's tensors as written")
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
