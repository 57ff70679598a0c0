"""nn4.small2.v1 converter (tools/convert/keras_openface.py through tools/convert_weights.py).
Standard library only (the .h5 part runs /usr/bin/python3 when it has h5py and numpy).

- without --fill-missing the shared CSV copy is refused, naming exactly the five absent files;
- with --fill-missing the blob is byte-identical run to run, flagged incomplete, and its meta
  lists the five filled tensors; a different seed changes only those tensors;
- values in the blob equal the CSVs read here independently (Torch (out,in,kh,kw) ->
  (kh,kw,in,out), batch norm folded with epsilon 1e-5, dense (out,in) -> (in,out));
- the op graph has the Keras-OpenFace details (asymmetric pads, LRN and L2-norm parameters);
- damaged CSV folders fail with exit 1 and a message naming the file;
- an .h5 written here in the Keras layout from the same CSVs gives the same tensors.
Run from the repository root.
"""
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from fnet_testlib import check, skip, finish, ROOT  # noqa: E402
import fnet_blob  # noqa: E402
import keras_openface  # noqa: E402

MISSING = ["inception_3c_3x3_conv2_w", "inception_4e_3x3_conv2_w", "inception_5a_1x1_conv_w",
           "inception_5a_3x3_conv2_w", "inception_5b_3x3_conv2_w"]




def run(*args, py=None):
    p = subprocess.run([py or sys.executable] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def convert(*args, py=None):
    return run("tools/convert_weights.py", *args, py=py)


def csv(folder, name):
    with open(os.path.join(folder, name + ".csv")) as f:
        return [float(v) for v in f.read().split(",")]


def tensor(data, info, name):
    for t in info["tensors"]:
        if t["name"] == name:
            return t, fnet_blob.tensor_values(data, t)
    raise KeyError(name)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(b))


def mirror(src, dst, drop=()):
    """dst: a folder of symlinks to src's CSVs, minus `drop`."""
    os.makedirs(dst)
    for f in os.listdir(src):
        if f.endswith(".csv") and f[:-4] not in drop:
            os.symlink(os.path.join(os.path.abspath(src), f), os.path.join(dst, f))


def check_values(data, info, folder):
    # conv1: Torch (64, 3, 7, 7) -> (7, 7, 3, 64), BN folded
    w, b = csv(folder, "conv1_w"), csv(folder, "conv1_b")
    g, be, m, v = (csv(folder, "bn1" + s) for s in ("_w", "_b", "_m", "_v"))
    t, vals = tensor(data, info, "conv1.w")
    check(t["shape"] == (7, 7, 3, 64), "conv1.w shape %r" % (t["shape"],))
    for (o, i, y, x) in ((0, 0, 0, 0), (5, 1, 2, 3), (63, 2, 6, 6), (17, 0, 4, 1)):
        s = g[o] / math.sqrt(v[o] + 1e-5)
        want = w[((o * 3 + i) * 7 + y) * 7 + x] * s
        got = vals[((y * 7 + x) * 3 + i) * 64 + o]
        check(close(got, f32(want)), "conv1.w[%d,%d,%d,%d] = %r, want %r" % (y, x, i, o, got, want))
    _, bvals = tensor(data, info, "conv1.b")
    for o in (0, 31, 63):
        s = g[o] / math.sqrt(v[o] + 1e-5)
        want = (b[o] - m[o]) * s + be[o]
        check(close(bvals[o], f32(want)), "conv1.b[%d] = %r, want %r" % (o, bvals[o], want))
    # a 5x5 conv deep inside
    w = csv(folder, "inception_4a_5x5_conv2_w")
    g, v = csv(folder, "inception_4a_5x5_bn2_w"), csv(folder, "inception_4a_5x5_bn2_v")
    t, vals = tensor(data, info, "inception_4a_5x5_conv2.w")
    check(t["shape"] == (5, 5, 32, 64), "4a 5x5 shape %r" % (t["shape"],))
    for (o, i, y, x) in ((3, 7, 1, 4), (63, 31, 4, 0)):
        want = w[((o * 32 + i) * 5 + y) * 5 + x] * g[o] / math.sqrt(v[o] + 1e-5)
        got = vals[((y * 5 + x) * 32 + i) * 64 + o]
        check(close(got, f32(want)), "4a_5x5_conv2.w[%d,%d,%d,%d] = %r, want %r" % (y, x, i, o, got, want))
    # dense: CSV (128, 736) -> (736, 128), no batch norm
    w, b = csv(folder, "dense_w"), csv(folder, "dense_b")
    t, vals = tensor(data, info, "dense.w")
    check(t["shape"] == (736, 128), "dense.w shape %r" % (t["shape"],))
    for (o, i) in ((0, 0), (5, 700), (127, 735), (64, 1)):
        check(vals[i * 128 + o] == f32(w[o * 736 + i]), "dense.w[%d,%d]" % (i, o))
    _, bv = tensor(data, info, "dense.b")
    check(bv[77] == f32(b[77]), "dense.b[77]")


def check_graph(info):
    ops = {o["name"]: o for o in info["ops"]}
    T = fnet_blob
    first, last = info["ops"][0], info["ops"][-1]
    check(first["type"] == T.OP_INPUT and first["iparam"][:3] == [96, 96, 3]
          and first["fparam"] == [255.0, 0.0, 0.0, 0.0], "input op %r" % (first,))
    check(last["type"] == T.OP_L2NORM and last["iparam"][9:12] == [1, 1, 128]
          and close(last["fparam"][0], 1e-12), "last op %r" % (last,))
    counts = {}
    for o in info["ops"]:
        counts[o["type"]] = counts.get(o["type"], 0) + 1
    check(counts.get(T.OP_CONV) == 37 and counts.get(T.OP_LRN) == 2 and counts.get(T.OP_L2POOL) == 3
          and counts.get(T.OP_CONCAT) == 7 and counts.get(T.OP_DENSE) == 1
          and counts.get(T.OP_MAXPOOL) == 6 and counts.get(T.OP_AVGPOOL) == 1
          and counts.get(T.OP_PAD) == 7, "op counts %r" % counts)
    check(ops["inception_3a_pool_pad"]["iparam"][:4] == [3, 3, 4, 4], "3a pool pad ((3,4),(3,4))")
    for n in ("inception_3c_pool_pad", "inception_4e_pool_pad"):
        check(ops[n]["iparam"][:4] == [0, 0, 1, 1], "%s ((0,1),(0,1))" % n)
    check(ops["conv1"]["iparam"][:8] == [7, 7, 2, 2, 3, 3, 3, 3] and ops["conv1"]["flags"] == 1, "conv1 params")
    check(ops["inception_3c_5x5_conv2"]["iparam"][:8] == [5, 5, 2, 2, 2, 2, 2, 2], "3c 5x5 stride 2 pad 2")
    check(ops["pool1"]["iparam"][:8] == [3, 3, 2, 2, 1, 1, 1, 1], "pool1 pads")
    check(ops["inception_3b_pool"]["type"] == T.OP_L2POOL and ops["inception_3b_pool"]["iparam"][:4] == [3, 3, 3, 3],
          "3b L2 pool 3/3")
    lrn = ops["lrn_1"]
    check(lrn["iparam"][0] == 5 and close(lrn["fparam"][0], 1e-4) and lrn["fparam"][1] == 0.75
          and lrn["fparam"][2] == 1.0, "lrn params %r %r" % (lrn["iparam"][0], lrn["fparam"][:3]))
    check(ops["inception_5b"]["iparam"][9:12] == [3, 3, 736], "5b output 3x3x736")
    check(ops["dense_layer"]["iparam"][:2] == [736, 128], "dense 736->128")


def write_h5(folders, path):
    """Writes an .h5 in the Keras layout (model_weights/<layer>/<layer>/kernel:0 ...) from CSVs,
    with /usr/bin/python3 (numpy + h5py). Returns None or the reason it could not."""
    script = r'''
import os, sys, numpy as np, h5py
import keras_openface as k  # found through PYTHONPATH, set below
folders, out = sys.argv[1].split(os.pathsep), sys.argv[2]
def rd(n):
    for d in folders:
        p = os.path.join(d, n + ".csv")
        if os.path.exists(p):
            return np.array(open(p).read().split(","), dtype=np.float64)
    raise SystemExit("missing " + n)
with h5py.File(out, "w") as f:
    mw = f.create_group("model_weights")
    names = []
    def layer(name, arrays, wn):
        g = mw.create_group(name)
        sub = g.create_group(name)
        for a, n in zip(arrays, wn):
            sub.create_dataset(n, data=a.astype(np.float32))
        g.attrs["weight_names"] = [(name + "/" + n).encode() for n in wn]
        names.append(name.encode())
    for conv, shp in k.CONV_SHAPES.items():
        layer(conv, [rd(conv + "_w").reshape(shp).transpose(2, 3, 1, 0), rd(conv + "_b")], ["kernel:0", "bias:0"])
        bn = k.bn_name(conv)
        # stored out of the usual order: the reader must go by the names
        layer(bn, [rd(bn + s) for s in ("_m", "_w", "_v", "_b")],
              ["moving_mean:0", "gamma:0", "moving_variance:0", "beta:0"])
    layer("dense_layer", [rd("dense_w").reshape(128, 736).T, rd("dense_b")], ["kernel:0", "bias:0"])
    mw.attrs["layer_names"] = names
'''
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p.startswith(ROOT)))
    p = subprocess.run(["/usr/bin/python3", "-c", script, os.pathsep.join(folders), path], env=env,
                       capture_output=True, text=True)
    return None if p.returncode == 0 else p.stderr[-500:]


def main():
    base = os.environ.get("FNET_SHARED", "../shared")
    folder = os.environ.get("FNET_OPENFACE_CSV") or os.path.join(base, "weights/openface-nn4.small2.v1")
    tmp = tempfile.mkdtemp(prefix="nn4conv")
    try:
        # --- usage and damaged input (no shared data needed) ---
        rc, _, err = convert("keras-csv", os.path.join(tmp, "nope"), os.path.join(tmp, "x.fnet"))
        check(rc == 1 and "does not exist" in err, "absent folder: rc %d %s" % (rc, err))
        os.makedirs(os.path.join(tmp, "empty"))
        rc, _, err = convert("keras-csv", os.path.join(tmp, "empty"), os.path.join(tmp, "x.fnet"))
        check(rc == 1 and "conv1_w.csv" in err, "empty folder: rc %d %s" % (rc, err))
        rc, _, err = convert("keras-csv", os.path.join(tmp, "empty"), os.path.join(tmp, "x.fnet"),
                             "--fill-missing", "abc")
        check(rc == 2, "non-integer seed is a usage error (rc %d)" % rc)
        check(not os.path.exists(os.path.join(tmp, "x.fnet")), "no blob left behind on failure")
        sm = keras_openface.SplitMix64(1234567)  # Vigna's reference splitmix64.c values
        check([sm.next() for _ in range(3)] == [6457827717110365317, 3203168211198807973,
                                                 9817491932198370423], "splitmix64 reference values")
        if not os.path.isdir(folder):
            skip("no Keras-OpenFace CSV folder (%s): conversion checks skipped" % folder)
            return
        present = set(f[:-4] for f in os.listdir(folder) if f.endswith(".csv"))
        absent = sorted(n for n, _ in keras_openface.tensor_list() if n not in present)
        if absent != MISSING:
            skip("CSV folder is not the shared copy with five tensors missing (absent: %s)" % absent)

        # --- refusal without --fill-missing, naming the missing files ---
        out1 = os.path.join(tmp, "a.fnet")
        rc, _, err = convert("keras-csv", folder, out1)
        if absent:
            check(rc == 1, "missing tensors without --fill-missing must fail (rc %d)" % rc)
            check(all(n + ".csv" in err for n in absent) and ("%d tensors missing" % len(absent)) in err,
                  "error names every missing tensor: %s" % err)
            check("--fill-missing" in err, "error says how to proceed")
            check(not os.path.exists(out1), "no blob written when refusing")
            rc, out, err = convert("keras-csv", folder, out1, "--fill-missing", "1")
            check(rc == 0 and "INCOMPLETE" in out, "fill: rc %d %s %s" % (rc, out, err))
        else:
            check(rc == 0, "complete folder converts without --fill-missing: %s" % err)
        with open(out1, "rb") as f:
            data = f.read()
        info = fnet_blob.read(data)
        meta = info["meta"]
        for k, want in (("network", "nn4.small2.v1"), ("input_size", "96"), ("input_divisor", "255"),
                        ("input_mean", "0,0,0"), ("embedding_dim", "128"), ("align", "outer_eyes_and_nose"),
                        ("l2_normalized", "1"), ("license", "Apache-2.0")):
            check(meta.get(k) == want, "meta %s = %r, want %r" % (k, meta.get(k), want))
        check("source" in meta, "meta source")
        if absent:
            check(info["flags"] & 1 == 1 and meta.get("incomplete") == "1", "incomplete flag and meta")
            check(meta.get("filled_tensors", "").split(",") == absent,
                  "filled_tensors = %r" % meta.get("filled_tensors"))
            # determinism: same seed, same bytes; another seed changes only the filled tensors
            out2 = os.path.join(tmp, "b.fnet")
            rc, _, _ = convert("keras-csv", folder, out2, "--fill-missing", "1")
            with open(out2, "rb") as f:
                check(rc == 0 and f.read() == data, "same seed gives a byte-identical blob")
            other = keras_openface.filled_tensors(folder, 2)
            check(sorted(other) == absent, "filled_tensors() names")
            t, v1 = tensor(data, info, "inception_5a_1x1_conv.w")
            g = csv(folder, "inception_5a_1x1_bn_w")
            vv = csv(folder, "inception_5a_1x1_bn_v")
            s = [gi / math.sqrt(vi + 1e-5) for gi, vi in zip(g, vv)]
            # seed 2's tensor folded like the blob's: must differ from seed 1's
            w2 = other["inception_5a_1x1_conv_w"]
            diff = sum(1 for i in range(0, 1024 * 256, 997)
                       if not close(v1[i], f32(w2[(i % 256) * 1024 + i // 256] * s[i % 256])))
            check(diff > 200, "seed 2 fills differently (%d of 263 samples differ)" % diff)
            check(all(math.isfinite(x) for x in w2) and max(abs(x) for x in w2) > 0, "filled values finite, nonzero")
        else:
            check(info["flags"] & 1 == 0 and "filled_tensors" not in meta, "complete blob not flagged")
        check_values(data, info, folder)
        check_graph(info)

        # --- damaged CSV folders ---
        bad = os.path.join(tmp, "bad1")
        mirror(folder, bad, drop=("conv2_b",))
        with open(os.path.join(bad, "conv2_b.csv"), "w") as f:
            f.write(",".join(["0.5"] * 63))
        rc, _, err = convert("keras-csv", bad, os.path.join(tmp, "x.fnet"), "--fill-missing", "1")
        check(rc == 1 and "conv2_b.csv" in err and "63 values, expected 64" in err, "short CSV: %s" % err)
        bad = os.path.join(tmp, "bad2")
        mirror(folder, bad, drop=("bn1_v",))
        with open(os.path.join(bad, "bn1_v.csv"), "w") as f:
            f.write(",".join(["0.5"] * 63 + ["zebra"]))
        rc, _, err = convert("keras-csv", bad, os.path.join(tmp, "x.fnet"), "--fill-missing", "1")
        check(rc == 1 and "bn1_v.csv" in err and "not a number" in err, "garbage CSV: %s" % err)
        bad = os.path.join(tmp, "bad3")
        mirror(folder, bad, drop=("inception_3a_1x1_conv_b",))
        rc, _, err = convert("keras-csv", bad, os.path.join(tmp, "x.fnet"), "--fill-missing", "1")
        check(rc == 1 and "inception_3a_1x1_conv_b.csv" in err and "cannot fill" in err,
              "a missing bias cannot be filled: %s" % err)

        # --- .h5 input ---
        have = subprocess.run(["/usr/bin/python3", "-c", "import h5py, numpy"], capture_output=True).returncode == 0 \
            if os.path.exists("/usr/bin/python3") else False
        if not have:
            skip("no h5py+numpy in /usr/bin/python3: .h5 input not tested")
        else:
            fill = os.path.join(tmp, "filled")
            rc, _, err = run("tools/convert/keras_openface.py", "dump-filled", folder, "1", fill)
            check(rc == 0, "dump-filled: %s" % err)
            h5 = os.path.join(tmp, "nn4.small2.v1.h5")
            why = write_h5([folder, fill], h5)
            check(why is None, "writing the test .h5: %s" % why)
            outh = os.path.join(tmp, "h.fnet")
            rc, out, err = convert("keras-h5", h5, outh, py="/usr/bin/python3")
            check(rc == 0 and "INCOMPLETE" not in out, "keras-h5: rc %d %s %s" % (rc, out, err))
            if rc == 0:
                with open(outh, "rb") as f:
                    hd = f.read()
                hi = fnet_blob.read(hd)
                check([t["name"] for t in hi["tensors"]] == [t["name"] for t in info["tensors"]]
                      and [(o["type"], o["iparam"]) for o in hi["ops"]] == [(o["type"], o["iparam"]) for o in info["ops"]],
                      "h5 blob has the CSV blob's tensors and graph")
                worst = 0.0
                for ta, tb in zip(hi["tensors"], info["tensors"]):
                    va, vb = fnet_blob.tensor_values(hd, ta), fnet_blob.tensor_values(data, tb)
                    worst = max(worst, max(abs(a - b) / max(1e-3, abs(b)) for a, b in zip(va[::7], vb[::7])))
                check(worst < 1e-5, "h5 tensors equal the CSV tensors (worst relative diff %.3g)" % worst)
                check(hi["meta"].get("license") == "Apache-2.0" and not hi["flags"] & 1, "h5 blob meta")
            # a wrong .h5 (a layer missing) fails cleanly
            badh5 = os.path.join(tmp, "bad.h5")
            p = subprocess.run(["/usr/bin/python3", "-c",
                                "import h5py,sys; f=h5py.File(sys.argv[1],'w'); f.create_group('model_weights')",
                                badh5], capture_output=True)
            rc, _, err = convert("keras-h5", badh5, os.path.join(tmp, "x.fnet"), py="/usr/bin/python3")
            check(rc == 1 and "conv1" in err, "h5 without layers: rc %d %s" % (rc, err))
        nh = subprocess.run([sys.executable, "-c", "import h5py"], capture_output=True).returncode != 0
        if nh:
            rc, _, err = convert("keras-h5", out1, os.path.join(tmp, "x.fnet"))
            check(rc == 1 and "h5py" in err, "keras-h5 without h5py says so: %s" % err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    finally:  # the closing line also after an early return or an exception
        code = finish()
    sys.exit(code)
