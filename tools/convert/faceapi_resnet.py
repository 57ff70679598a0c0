"""faceapi_resnet: dlib's ResNet-34 face descriptor, from @vladmandic/face-api's weights, as a
facenet.h network blob (kind 3; the op graph is described in facenet.h, "Network op graph").

Python standard library only. Used by tools/convert_weights.py (format "faceapi").

Source: face_recognition_model-weights_manifest.json + face_recognition_model.bin (npm
@vladmandic/face-api, MIT; the network is dlib's dlib_face_recognition_resnet_model_v1, whose
weights dlib put in the public domain). The manifest is tfjs' weights format: a list of groups,
each naming its .bin shard(s) and the tensors packed back to back in them. Most tensors are
uint8-quantized: value = q * scale + min. tfjs (io.decodeWeights) evaluates that in JavaScript
numbers (IEEE double: one multiply, one add, no fused multiply-add) and stores the result in a
Float32Array (round to nearest float32). Python floats are the same doubles, so
struct.pack("<f", q * scale + min) gives bit-identical float32 weights.

The network as face-api runs it (src/faceRecognitionNet), input 150x150x3:
    x = (rgb - mean) / divisor                       mean 122.782,117.001,104.298 (dlib)
    conv 7x7/2 valid (32) + scale + relu             -> 72x72x32
    maxpool 3x3/2 valid                              -> 35x35x32
    3 x residual(32)                                 -> 35x35x32
    residual_down(64)  + 3 x residual(64)            -> 17x17x64
    residual_down(128) + 2 x residual(128)           -> 8x8x128
    residual_down(256) + 2 x residual(256)           -> 4x4x256  (conv path 3x3, padded to 4x4)
    residual_down(256) ("conv256_down_out")          -> 2x2x256  (conv path 1x1, padded to 2x2)
    global average pool -> dense 256x128 (no bias)   -> 128, not L2-normalised
residual(x):      relu(conv3x3 same(relu(conv3x3 same(x))) + x), each conv followed by a
                  per-channel affine "scale" layer (dlib's affine_ = batch norm at inference).
residual_down(x): conv path starts with a 3x3 stride-2 'valid' conv; the shortcut is a 2x2/2
                  average pool of x whose channels are zero-extended to the conv path's count.
                  Where the two spatial sizes disagree (8 -> 3 vs 4, 4 -> 1 vs 2) face-api
                  appends a zero row at the bottom and a zero column at the right of the conv
                  path: that is a PAD [0, 0, 1, 1] op here.
The scale layer is folded into the conv: W' = W * s (per output channel), b' = b * s + t.
face-api divides the input by 255, dlib by 256: the divisor goes in the INPUT op and metadata.
"""

import json
import os
import struct

from fnet_blob import (Blob, OP_INPUT, OP_CONV, OP_MAXPOOL, OP_AVGPOOL, OP_DENSE, OP_ADD,
                       OP_GLOBAL_AVGPOOL, OP_PAD)

INPUT_SIZE = 150
MEAN_RGB = (122.782, 117.001, 104.298)
RELU = 1

# (name, output channels, downsampling?) in face-api's order after conv32_down + maxpool.
BLOCKS = [("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
          ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False),
          ("conv64_3", 64, False),
          ("conv128_down", 128, True), ("conv128_1", 128, False), ("conv128_2", 128, False),
          ("conv256_down", 256, True), ("conv256_1", 256, False), ("conv256_2", 256, False),
          ("conv256_down_out", 256, True)]

_SIZES = {"float32": 4, "int32": 4, "uint8": 1, "uint16": 2, "float16": 2}


def _f32(x):
    """Round a Python float (double) to the nearest float32, as a Float32Array store does."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def read_manifest(manifest_path):
    """Decode every tensor of a tfjs weights manifest as tfjs does.
    Returns {name: (shape tuple, list of float32-representable Python floats)}."""
    with open(manifest_path, "r") as f:
        try:
            groups = json.load(f)
        except ValueError as e:
            raise ValueError("manifest is not JSON: %s" % e)
    if not isinstance(groups, list) or not groups:
        raise ValueError("manifest must be a non-empty list of weight groups")
    base = os.path.dirname(os.path.abspath(manifest_path))
    out = {}
    for g in groups:
        if not isinstance(g, dict) or "paths" not in g or "weights" not in g:
            raise ValueError("weight group without 'paths' and 'weights'")
        data = b""
        for p in g["paths"]:
            if os.path.basename(p) != p:
                raise ValueError("shard path %r leaves the manifest's folder" % p)
            with open(os.path.join(base, p), "rb") as f:
                data += f.read()
        pos = 0
        for w in g["weights"]:
            name, shape, dtype = w["name"], [int(d) for d in w["shape"]], w["dtype"]
            if dtype != "float32":
                raise ValueError("%s: dtype %s (only float32 tensors expected)" % (name, dtype))
            if any(d < 1 for d in shape):
                raise ValueError("%s: bad shape %r" % (name, shape))
            n = 1
            for d in shape:
                n *= d
            q = w.get("quantization")
            qd = q["dtype"] if q else "float32"
            if qd not in _SIZES:
                raise ValueError("%s: unknown quantization dtype %s" % (name, qd))
            nbytes = n * _SIZES[qd]
            if pos + nbytes > len(data):
                raise ValueError("%s: shard too short (%d bytes, need %d)"
                                 % (name, len(data), pos + nbytes))
            raw = data[pos:pos + nbytes]
            pos += nbytes
            if qd == "float32":
                vals = list(struct.unpack("<%df" % n, raw))
            elif qd == "float16":
                vals = list(struct.unpack("<%de" % n, raw))
            else:
                scale, mn = float(q["scale"]), float(q["min"])
                qs = struct.unpack("<%d%s" % (n, "B" if qd == "uint8" else "H"), raw)
                # tfjs: values[i] = v * scale + min (doubles), stored to Float32Array.
                table = {}
                vals = []
                for v in qs:
                    f = table.get(v)
                    if f is None:
                        f = table[v] = _f32(v * scale + mn)
                    vals.append(f)
            if name in out:
                raise ValueError("duplicate tensor %s" % name)
            out[name] = (tuple(shape), vals)
        if pos != len(data):
            raise ValueError("%d unused bytes at the end of the shard(s)" % (len(data) - pos))
    return out


def _get(ws, name, shape):
    if name not in ws:
        raise ValueError("manifest lacks tensor %s" % name)
    s, v = ws[name]
    if tuple(s) != tuple(shape):
        raise ValueError("%s: shape %r, expected %r" % (name, s, tuple(shape)))
    return v


def _conv_params(ws, prefix, cin, cout, k):
    """Fold conv bias + scale layer: returns (W' list KH,KW,Cin,Cout, b' list)."""
    w = _get(ws, prefix + "/conv/filters", (k, k, cin, cout))
    b = _get(ws, prefix + "/conv/bias", (cout,))
    s = _get(ws, prefix + "/scale/weights", (cout,))
    t = _get(ws, prefix + "/scale/biases", (cout,))
    wf = [_f32(w[i] * s[i % cout]) for i in range(len(w))]
    bf = [_f32(b[c] * s[c] + t[c]) for c in range(cout)]
    return wf, bf


def _out(n, k, s, p0, p1):
    return (n + p0 + p1 - k) // s + 1


def blob_from_manifest(manifest_path, divisor=256):
    """Build the Blob. divisor: 256 is dlib's input_rgb_image_sized, 255 is face-api's."""
    if divisor is None:
        divisor = 256.0
    divisor = float(divisor)
    if not divisor > 0 or divisor != divisor or divisor == float("inf"):
        raise ValueError("divisor must be a positive number")
    ws = read_manifest(manifest_path)
    b = Blob(Blob.KIND_NETWORK)
    b.meta("network", "resnet34-dlib")
    b.meta("input_size", str(INPUT_SIZE))
    b.meta("input_divisor", "%g" % divisor)
    b.meta("input_mean", ",".join("%g" % m for m in MEAN_RGB))
    b.meta("embedding_dim", "128")
    b.meta("align", "dlib_chip")
    b.meta("l2_normalized", "0")
    b.meta("source", "npm @vladmandic/face-api@1.7.15 model/face_recognition_model "
                     "(dlib_face_recognition_resnet_model_v1), uint8 dequantized as tfjs does, "
                     "scale layers folded into the convolutions")
    b.meta("license", "face-api: MIT; dlib ResNet model: public domain (CC0) per dlib")

    shape = [INPUT_SIZE, INPUT_SIZE, 3]   # H, W, C of the current op's output

    def conv(name, src, prefix, cin, cout, k, stride, pads, relu):
        wf, bf = _conv_params(ws, prefix, cin, cout, k)
        tw = b.tensor(prefix + "/w", "f32", (k, k, cin, cout), wf)
        tb = b.tensor(prefix + "/b", "f32", (cout,), bf)
        h = _out(shape_of[src][0], k, stride, pads[0], pads[2])
        w = _out(shape_of[src][1], k, stride, pads[1], pads[3])
        idx = b.op(name, OP_CONV, inputs=[src], tensors=[tw, tb],
                   iparam=[k, k, stride, stride] + list(pads) + [0, h, w, cout],
                   flags=RELU if relu else 0)
        shape_of[idx] = (h, w, cout)
        return idx

    shape_of = {}
    x = b.op("input", OP_INPUT, iparam=[INPUT_SIZE, INPUT_SIZE, 3, 0, 0, 0, 0, 0, 0] + shape,
             fparam=[divisor] + list(MEAN_RGB))
    shape_of[x] = tuple(shape)
    x = conv("conv32_down", x, "conv32_down", 3, 32, 7, 2, (0, 0, 0, 0), True)
    h, w, c = shape_of[x]
    ph, pw = _out(h, 3, 2, 0, 0), _out(w, 3, 2, 0, 0)
    x = b.op("maxpool", OP_MAXPOOL, inputs=[x], iparam=[3, 3, 2, 2, 0, 0, 0, 0, 0, ph, pw, c])
    shape_of[x] = (ph, pw, c)
    same = (1, 1, 1, 1)
    for name, cout, down in BLOCKS:
        cin = shape_of[x][2]
        if down:
            y = conv(name + "/conv1", x, name + "/conv1", cin, cout, 3, 2, (0, 0, 0, 0), True)
        else:
            if cin != cout:
                raise ValueError("%s: identity shortcut with %d -> %d channels" % (name, cin, cout))
            y = conv(name + "/conv1", x, name + "/conv1", cin, cout, 3, 1, same, True)
        y = conv(name + "/conv2", y, name + "/conv2", cout, cout, 3, 1, same, False)
        if down:
            h, w, _ = shape_of[x]
            ah, aw = _out(h, 2, 2, 0, 0), _out(w, 2, 2, 0, 0)
            sc = b.op(name + "/pool", OP_AVGPOOL, inputs=[x],
                      iparam=[2, 2, 2, 2, 0, 0, 0, 0, 0, ah, aw, cin])
            shape_of[sc] = (ah, aw, cin)
            yh, yw, _ = shape_of[y]
            if (yh, yw) != (ah, aw):
                # face-api: concat one zero row (bottom) and one zero column (right).
                if (ah - yh, aw - yw) != (1, 1):
                    raise ValueError("%s: conv path %dx%d vs shortcut %dx%d" % (name, yh, yw, ah, aw))
                y2 = b.op(name + "/pad", OP_PAD, inputs=[y],
                          iparam=[0, 0, 1, 1, 0, 0, 0, 0, 0, ah, aw, cout])
                shape_of[y2] = (ah, aw, cout)
                y = y2
            x_sc = sc
        else:
            x_sc = x
        h, w, _ = shape_of[y]
        x = b.op(name + "/add", OP_ADD, inputs=[y, x_sc],
                 iparam=[0, 0, 0, 0, 0, 0, 0, 0, 0, h, w, cout], flags=RELU)
        shape_of[x] = (h, w, cout)
    c = shape_of[x][2]
    x = b.op("global_avgpool", OP_GLOBAL_AVGPOOL, inputs=[x],
             iparam=[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, c])
    fc = _get(ws, "fc", (c, 128))
    tw = b.tensor("fc/w", "f32", (c, 128), fc)
    tb = b.tensor("fc/b", "f32", (128,), [0.0] * 128)   # face-api's fc has no bias
    b.op("fc", OP_DENSE, inputs=[x], tensors=[tw, tb],
         iparam=[c, 128, 0, 0, 0, 0, 0, 0, 0, 1, 1, 128])
    used = set()
    for t in b.tensors:
        used.add(t["name"].rsplit("/", 1)[0])
    extra = [n for n in ws if n.split("/")[0] not in {p.split("/")[0] for p in used}]
    if extra:
        raise ValueError("manifest has tensors this graph does not use: %s" % ", ".join(extra[:5]))
    return b
