#!/usr/bin/env python3
"""fnet_onnx: export a facenet.h network blob as an ONNX model (for the peer benchmarks).

    tools/convert/fnet_onnx.py NET.fnet OUT.onnx

Python standard library only: a minimal protobuf writer (varints and length-delimited
fields) for the few ONNX messages needed (ModelProto, GraphProto, NodeProto,
AttributeProto, TensorProto, ValueInfoProto), opset 13, ir_version 7.

The ONNX graph computes what facenet.h's engine computes, in ONNX's NCHW layout:
input "input" (1, 3, H, W) already normalised (x = (pixel - mean) / divisor), output
"embedding" (1, D). Where ONNX semantics differ from the op table in facenet.h, the export
spells ours out explicitly:
  - pooling pads are zeros that take part (explicit Pad, then the pool without pads;
    ONNX MaxPool would pad with -inf);
  - L2 pooling is sqrt(kh*kw * AveragePool(x*x)) (as the Keras graph writes it);
  - tf.nn.lrn's alpha is not divided by the window size, ONNX LRN's is: alpha * size;
  - DENSE flattens in HWC order: Transpose to NHWC before Reshape;
  - ADD with fewer channels in input 1: Pad the channel axis with zeros.
"""
import array
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fnet_blob  # noqa: E402


# ---- protobuf wire format ----
def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_int(field, n):
    return _varint(field << 3) + _varint(n)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return _varint((field << 3) | 2) + _varint(len(b)) + b


def f_float(field, x):
    return _varint((field << 3) | 5) + struct.pack("<f", x)


# ---- ONNX messages (field numbers from onnx.proto) ----
FLOAT, INT64 = 1, 7


def tensor(name, dims, values, dtype=FLOAT):
    """TensorProto: dims=1, data_type=2, name=8, raw_data=9."""
    if dtype == FLOAT:
        a = values if isinstance(values, array.array) else array.array("f", values)
    else:
        a = array.array("q", values)
    if sys.byteorder != "little":
        a = array.array(a.typecode, a)
        a.byteswap()
    out = b"".join(f_int(1, d) for d in dims) + f_int(2, dtype) + f_bytes(8, name)
    return out + f_bytes(9, a.tobytes())


def attr(name, value):
    """AttributeProto: name=1, f=2, i=3, ints=8, type=20 (FLOAT 1, INT 2, INTS 7)."""
    out = f_bytes(1, name)
    if isinstance(value, float):
        return out + f_float(2, value) + f_int(20, 1)
    if isinstance(value, int):
        return out + f_int(3, value) + f_int(20, 2)
    return out + b"".join(f_int(8, v) for v in value) + f_int(20, 7)


def node(op_type, inputs, outputs, name, **attrs):
    """NodeProto: input=1, output=2, name=3, op_type=4, attribute=5."""
    out = b"".join(f_bytes(1, i) for i in inputs) + b"".join(f_bytes(2, o) for o in outputs)
    out += f_bytes(3, name) + f_bytes(4, op_type)
    for k in sorted(attrs):
        out += f_bytes(5, attr(k, attrs[k]))
    return out


def value_info(name, dims):
    """ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2:
    {dim=1: {dim_value=1}}}}}."""
    shape = b"".join(f_bytes(1, f_int(1, d)) for d in dims)
    ttype = f_int(1, FLOAT) + f_bytes(2, shape)
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, ttype))


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def uniq(self, base):
        self.n += 1
        return "%s_%d" % (base, self.n)

    def add(self, op_type, inputs, **attrs):
        out = self.uniq(op_type.lower())
        self.nodes.append(node(op_type, inputs, [out], out, **attrs))
        return out

    def init(self, base, dims, values, dtype=FLOAT):
        name = self.uniq(base)
        self.inits.append(tensor(name, dims, values, dtype))
        return name

    def pad(self, x, pads8):
        if not any(pads8):
            return x
        return self.add("Pad", [x, self.init("pads", [8], pads8, INT64)])


def export(blob_bytes):
    b = fnet_blob.read(blob_bytes)
    if b["kind"] != "network":
        raise ValueError("not a network blob")
    ops, tensors = b["ops"], b["tensors"]
    g = Graph()
    names, shapes = [], []  # per op: ONNX tensor name, (h, w, c) and whether 2-D
    for i, op in enumerate(ops):
        t, ip, fp = op["type"], op["iparam"], op["fparam"]
        h, w, c = ip[9], ip[10], ip[11]
        x = names[op["inputs"][0]] if op["inputs"] else None
        xs = shapes[op["inputs"][0]] if op["inputs"] else None
        flat = False
        if t == fnet_blob.OP_INPUT:
            y = "input"
            in_shape = [1, 3, ip[0], ip[1]]
        elif t == fnet_blob.OP_CONV:
            kh, kw, sh, sw, pt, pl, pb, pr = ip[:8]
            wt, bt = tensors[op["tensors"][0]], tensors[op["tensors"][1]]
            wv = fnet_blob.tensor_values(blob_bytes, wt)
            cin, cout = wt["shape"][2], wt["shape"][3]
            # (KH, KW, Cin, Cout) -> (Cout, Cin, KH, KW)
            ow = array.array("f", bytes(4 * len(wv)))
            for ky in range(kh):
                for kx in range(kw):
                    for ci in range(cin):
                        src = ((ky * kw + kx) * cin + ci) * cout
                        dst = (ci * kh + ky) * kw + kx
                        ow[dst::cin * kh * kw] = wv[src:src + cout]
            wn = g.init("W", [cout, cin, kh, kw], ow)
            bn = g.init("B", [cout], fnet_blob.tensor_values(blob_bytes, bt))
            y = g.add("Conv", [x, wn, bn], kernel_shape=[kh, kw], strides=[sh, sw],
                      pads=[pt, pl, pb, pr])
            if op["flags"] & 1:
                y = g.add("Relu", [y])
        elif t in (fnet_blob.OP_MAXPOOL, fnet_blob.OP_AVGPOOL, fnet_blob.OP_L2POOL):
            kh, kw, sh, sw, pt, pl, pb, pr = ip[:8]
            y = g.pad(x, [0, 0, pt, pl, 0, 0, pb, pr])
            if t == fnet_blob.OP_MAXPOOL:
                y = g.add("MaxPool", [y], kernel_shape=[kh, kw], strides=[sh, sw])
            elif t == fnet_blob.OP_AVGPOOL:
                y = g.add("AveragePool", [y], kernel_shape=[kh, kw], strides=[sh, sw])
            else:
                y = g.add("Mul", [y, y])
                y = g.add("AveragePool", [y], kernel_shape=[kh, kw], strides=[sh, sw])
                y = g.add("Mul", [y, g.init("area", [1], [float(kh * kw)])])
                y = g.add("Sqrt", [y])
        elif t == fnet_blob.OP_LRN:
            size = 2 * ip[0] + 1
            y = g.add("LRN", [x], size=size, alpha=float(fp[0] * size), beta=float(fp[1]),
                      bias=float(fp[2]))
        elif t == fnet_blob.OP_CONCAT:
            y = g.add("Concat", [names[k] for k in op["inputs"]], axis=1)
        elif t == fnet_blob.OP_DENSE:
            n_in, n_out = ip[0], ip[1]
            if not xs[3]:
                x = g.add("Transpose", [x], perm=[0, 2, 3, 1])
                x = g.add("Reshape", [x, g.init("shape", [2], [1, n_in], INT64)])
            wv = fnet_blob.tensor_values(blob_bytes, tensors[op["tensors"][0]])
            wt = array.array("f", bytes(4 * len(wv)))  # (In, Out) -> (Out, In): transB=1
            for k in range(n_in):
                wt[k::n_in] = wv[k * n_out:(k + 1) * n_out]
            wn = g.init("W", [n_out, n_in], wt)
            bn = g.init("B", [n_out], fnet_blob.tensor_values(blob_bytes, tensors[op["tensors"][1]]))
            y = g.add("Gemm", [x, wn, bn], transB=1)
            if op["flags"] & 1:
                y = g.add("Relu", [y])
            flat = True
        elif t == fnet_blob.OP_L2NORM:
            if not xs[3]:
                raise ValueError("L2NORM of a 4-D tensor: not exported")
            # x / sqrt(max(sum x^2, eps)) spelled as an LRN over all D channels of a
            # (1, D, 1, 1) view: x / (bias + alpha/size * sum x^2)^0.5 with alpha = size, bias =
            # eps: OpenCV DNN 4.6 reads neither LpNormalization nor a broadcasting Div. It
            # computes sqrt(sum + eps) for sqrt(max(sum, eps)): a relative eps/sum apart.
            d = h * w * c
            x4 = g.add("Reshape", [x, g.init("shape", [4], [1, d, 1, 1], INT64)])
            y = g.add("LRN", [x4], size=2 * d + 1, alpha=float(2 * d + 1), beta=0.5, bias=float(fp[0]))
            y = g.add("Reshape", [y, g.init("shape", [2], [1, d], INT64)])
            flat = True
        elif t == fnet_blob.OP_ADD:
            x1 = names[op["inputs"][1]]
            c1 = shapes[op["inputs"][1]][2]
            x1 = g.pad(x1, [0, 0, 0, 0, 0, c - c1, 0, 0])
            y = g.add("Add", [x, x1])
            if op["flags"] & 1:
                y = g.add("Relu", [y])
        elif t == fnet_blob.OP_GLOBAL_AVGPOOL:
            y = g.add("GlobalAveragePool", [x])
        elif t == fnet_blob.OP_PAD:
            y = g.pad(x, [0, 0, ip[0], ip[1], 0, 0, ip[2], ip[3]])
        elif t == fnet_blob.OP_RELU:
            y = g.add("Relu", [x])
            flat = xs[3]
        else:
            raise ValueError("op type %d not exported" % t)
        names.append(y)
        shapes.append((h, w, c, flat))
    h, w, c, flat = shapes[-1]
    out = names[-1]
    if not flat:
        out = g.add("Reshape", [out, g.init("shape", [2], [1, h * w * c], INT64)])
    g.nodes.append(node("Identity", [out], ["embedding"], "output"))
    graph = b"".join(f_bytes(1, n) for n in g.nodes) + f_bytes(2, "fnet")
    graph += b"".join(f_bytes(5, t) for t in g.inits)
    graph += f_bytes(11, value_info("input", in_shape)) + f_bytes(12, value_info("embedding", [1, h * w * c]))
    opset = f_bytes(1, "") + f_int(2, 13)
    model = f_int(1, 7) + f_bytes(2, "facenet.h fnet_onnx.py") + f_bytes(7, graph) + f_bytes(8, opset)
    return model


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    try:
        with open(argv[1], "rb") as f:
            data = f.read()
        model = export(data)
    except (OSError, ValueError) as e:
        sys.stderr.write("fnet_onnx.py: %s\n" % e)
        return 1
    tmp = argv[2] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model)
    os.replace(tmp, argv[2])
    print("wrote %s (%d bytes)" % (argv[2], len(model)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
