"""tools/convert/faceapi_resnet.py: face-api's ResNet-34 manifest -> network blob.
Standard library only. Synthetic manifests check the tfjs decoding (uint8/uint16/float16/float32,
rounding to float32 of q*scale+min computed in doubles) and the failure paths; the real
manifest (weights/cache/face-api/package or $FNET_FACEAPI_DIR; skipped when absent) checks the
graph: layer sizes 72/35/17/8/4/2, PAD [0,0,1,1] exactly where face-api pads, the folded scale
layers, shortcut channel extension, metadata and the divisor."""
import json
import os
import struct
import subprocess
import sys
import tempfile

from fnet_testlib import tally, check, skip, finish  # noqa: E402
import fnet_blob  # noqa: E402
import faceapi_resnet  # noqa: E402




def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def write_manifest(d, weights, shard):
    with open(os.path.join(d, "m.bin"), "wb") as f:
        f.write(shard)
    p = os.path.join(d, "m.json")
    with open(p, "w") as f:
        json.dump([{"paths": ["m.bin"], "weights": weights}], f)
    return p


def synthetic(tmp):
    # uint8: q*scale+min in doubles then rounded once to float32. With these numbers the
    # float32 sum (f32(q*f32(scale)) + f32(min)) differs from the double route for some q.
    scale, mn = 0.0005260649557207145, -0.07101876902229645
    q = list(range(256))
    ws = [{"name": "a", "shape": [16, 16], "dtype": "float32",
           "quantization": {"dtype": "uint8", "scale": scale, "min": mn}},
          {"name": "b", "shape": [3], "dtype": "float32",
           "quantization": {"dtype": "uint16", "scale": 1e-3, "min": -1.0}},
          {"name": "c", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
          {"name": "d", "shape": [2], "dtype": "float32"}]
    shard = bytes(q) + struct.pack("<3H", 0, 1000, 65535) + struct.pack("<2e", 0.5, -2.0) + \
        struct.pack("<2f", 1.25, -3.5)
    p = write_manifest(tmp, ws, shard)
    m = faceapi_resnet.read_manifest(p)
    a = m["a"][1]
    check(m["a"][0] == (16, 16) and len(a) == 256, "uint8 tensor shape")
    check(all(a[i] == f32(i * scale + mn) for i in range(256)), "uint8 dequantized as tfjs does")
    check(a[0] == f32(mn) and abs(a[255] - (255 * scale + mn)) < 1e-7, "uint8 end points")
    single = [f32(f32(f32(i * f32(scale)) + f32(mn))) for i in range(256)]
    check(any(x != y for x, y in zip(a, single)),
          "test numbers distinguish double from float32 evaluation")
    check(m["b"][1] == [f32(-1.0), f32(0.0), f32(65.535 - 1.0)] or
          m["b"][1] == [f32(-1.0), f32(1000 * 1e-3 - 1.0), f32(65535 * 1e-3 - 1.0)], "uint16")
    check(m["c"][1] == [0.5, -2.0], "float16")
    check(m["d"][1] == [1.25, -3.5], "float32")
    # failures: short shard, extra bytes, unknown dtype, a path outside the folder, bad JSON
    bad = [(ws, shard[:-1], "shard too short"), (ws, shard + b"\0", "unused bytes"),
           ([dict(ws[0], quantization={"dtype": "int4", "scale": 1, "min": 0})], bytes(256),
            "unknown quantization"),
           ([dict(ws[0], dtype="int32")], bytes(256), "dtype")]
    for w, s, msg in bad:
        p = write_manifest(tmp, w, s)
        try:
            faceapi_resnet.read_manifest(p)
            check(False, "%s accepted" % msg)
        except ValueError as e:
            check(msg in str(e), "%s: %s" % (msg, e))
    with open(os.path.join(tmp, "t.json"), "w") as f:
        json.dump([{"paths": ["../m.bin"], "weights": ws}], f)
    try:
        faceapi_resnet.read_manifest(os.path.join(tmp, "t.json"))
        check(False, "shard path outside the manifest folder accepted")
    except ValueError:
        check(True, "")
    with open(os.path.join(tmp, "x.json"), "w") as f:
        f.write("{not json")
    r = subprocess.run([sys.executable, "tools/convert_weights.py", "faceapi",
                        os.path.join(tmp, "x.json"), os.path.join(tmp, "x.fnet")],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "Traceback" not in r.stderr and not os.path.exists(
        os.path.join(tmp, "x.fnet")), "converter rejects bad JSON cleanly: %r" % r.stderr)
    # A manifest with the right names but a missing tensor.
    p = write_manifest(tmp, ws, shard)
    try:
        faceapi_resnet.blob_from_manifest(p)
        check(False, "manifest without the ResNet tensors accepted")
    except ValueError as e:
        check("lacks" in str(e), "missing tensor reported: %s" % e)


def real(tmp):
    pkg = os.environ.get("FNET_FACEAPI_DIR") or "weights/cache/face-api/package"
    man = os.path.join(pkg, "model", "face_recognition_model-weights_manifest.json")
    if not os.path.exists(man):
        tally.skipped += 1
        print("skip: %s absent (make weights fetches it)" % man, file=sys.stderr)
        return
    out = os.path.join(tmp, "r.fnet")
    r = subprocess.run([sys.executable, "tools/convert_weights.py", "faceapi", man, out,
                        "--divisor", "255"], capture_output=True, text=True)
    check(r.returncode == 0, "convert: %s" % r.stderr)
    data = open(out, "rb").read()
    b = fnet_blob.read(data)
    meta = b["meta"]
    check(b["kind"] == "network" and b["flags"] == 0, "kind network, complete")
    for k, v in (("network", "resnet34-dlib"), ("input_size", "150"), ("input_divisor", "255"),
                 ("input_mean", "122.782,117.001,104.298"), ("embedding_dim", "128"),
                 ("align", "dlib_chip"), ("l2_normalized", "0")):
        check(meta.get(k) == v, "meta %s = %r, want %r" % (k, meta.get(k), v))
    check("license" in meta and "MIT" in meta["license"], "license meta")
    ops = b["ops"]
    byname = {o["name"]: (i, o) for i, o in enumerate(ops)}
    check(ops[0]["type"] == fnet_blob.OP_INPUT and ops[0]["iparam"][:3] == [150, 150, 3],
          "input 150x150x3")
    check([round(x, 3) for x in ops[0]["fparam"]] == [255.0, 122.782, 117.001, 104.298],
          "input fparam divisor+mean: %r" % ops[0]["fparam"])
    check(ops[-1]["type"] == fnet_blob.OP_DENSE and ops[-1]["iparam"][:2] == [256, 128] and
          ops[-1]["iparam"][9:12] == [1, 1, 128], "dense 256 -> 128 last (no L2 norm)")
    check(not any(o["type"] == fnet_blob.OP_L2NORM for o in ops), "no L2NORM op")
    expect = {"conv32_down": [7, 7, 2, 2, 0, 0, 0, 0, 0, 72, 72, 32],
              "maxpool": [3, 3, 2, 2, 0, 0, 0, 0, 0, 35, 35, 32],
              "conv32_1/conv1": [3, 3, 1, 1, 1, 1, 1, 1, 0, 35, 35, 32],
              "conv64_down/conv1": [3, 3, 2, 2, 0, 0, 0, 0, 0, 17, 17, 64],
              "conv64_down/pool": [2, 2, 2, 2, 0, 0, 0, 0, 0, 17, 17, 32],
              "conv128_down/conv1": [3, 3, 2, 2, 0, 0, 0, 0, 0, 8, 8, 128],
              "conv256_down/conv2": [3, 3, 1, 1, 1, 1, 1, 1, 0, 3, 3, 256],
              "conv256_down/pad": [0, 0, 1, 1, 0, 0, 0, 0, 0, 4, 4, 256],
              "conv256_down_out/conv1": [3, 3, 2, 2, 0, 0, 0, 0, 0, 1, 1, 256],
              "conv256_down_out/pad": [0, 0, 1, 1, 0, 0, 0, 0, 0, 2, 2, 256],
              "global_avgpool": [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 256]}
    for n, ip in expect.items():
        check(n in byname and byname[n][1]["iparam"] == ip,
              "%s iparam %r, want %r" % (n, byname.get(n, (0, {}))[1].get("iparam"), ip))
    pads = [o["name"] for o in ops if o["type"] == fnet_blob.OP_PAD]
    check(pads == ["conv256_down/pad", "conv256_down_out/pad"], "PAD only where sizes disagree: %r" % pads)
    # ADD: conv path first, shortcut second (fewer channels get zero-extended), ReLU after.
    i, add = byname["conv64_down/add"]
    check(add["inputs"] == [byname["conv64_down/conv2"][0], byname["conv64_down/pool"][0]] and
          add["flags"] == 1, "down-block ADD(conv path, pooled shortcut) + relu")
    i, add = byname["conv256_down/add"]
    check(add["inputs"][0] == byname["conv256_down/pad"][0], "padded conv path feeds the ADD")
    i, add = byname["conv32_2/add"]
    check(add["inputs"] == [byname["conv32_2/conv2"][0], byname["conv32_1/add"][0]],
          "identity shortcut")
    check(byname["conv32_2/conv1"][1]["flags"] == 1 and byname["conv32_2/conv2"][1]["flags"] == 0,
          "relu after conv1, none after conv2")
    nconv = sum(o["type"] == fnet_blob.OP_CONV for o in ops)
    check(nconv == 29, "29 convolutions (1 + 14 blocks x 2): %d" % nconv)
    # Folded weights: W' = f32(W*s), b' = f32(b*s + t), from the raw manifest values.
    raw = faceapi_resnet.read_manifest(man)
    ts = {t["name"]: t for t in b["tensors"]}
    for pre, cout in (("conv32_down", 32), ("conv128_1/conv2", 128), ("conv64_2/conv1", 64)):
        w = fnet_blob.tensor_values(data, ts[pre + "/w"])
        bb = fnet_blob.tensor_values(data, ts[pre + "/b"])
        W = raw[pre + "/conv/filters"][1]
        s = raw[pre + "/scale/weights"][1]
        t = raw[pre + "/scale/biases"][1]
        cb = raw[pre + "/conv/bias"][1]
        check(all(w[k] == f32(W[k] * s[k % cout]) for k in range(0, len(W), 97)),
              pre + " folded weights")
        check(all(bb[c] == f32(cb[c] * s[c] + t[c]) for c in range(cout)), pre + " folded bias")
    fc = fnet_blob.tensor_values(data, ts["fc/w"])
    check(list(fc) == raw["fc"][1], "fc weights unchanged (In, Out)")
    check(list(fnet_blob.tensor_values(data, ts["fc/b"])) == [0.0] * 128, "fc has no bias")
    # Unquantized float32 tensors (conv64_*) pass through bit-exactly before folding.
    check(raw["conv64_1/conv1/conv/filters"][0] == (3, 3, 64, 64), "float32 tensor read")
    # Default divisor is dlib's 256.
    b256 = faceapi_resnet.blob_from_manifest(man)
    check(dict(b256.metas)["input_divisor"] == "256" and b256.ops[0]["fparam"][0] == 256.0,
          "default divisor 256")


def main():
    tmp = tempfile.mkdtemp()
    synthetic(tmp)
    real(tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
