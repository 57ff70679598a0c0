"""fnet_blob: write and read facenet.h weight blobs (format version 1).

Python standard library only. The authoritative description of the format is the
"WEIGHT BLOB FORMAT" section at the top of facenet.h; this module writes exactly that.

    FILE = HEADER (96 bytes) | META | TENSOR TABLE | OPS | padding | TENSOR DATA

All integers and floats are little-endian. Every tensor's data starts at a file offset
that is a multiple of 64, so a blob loaded from 64-aligned memory on a little-endian
host is used in place (zero-copy).

Usage (by the converters):

    from fnet_blob import Blob
    b = Blob(kind=Blob.KIND_DETECTOR)
    b.meta("source", "dlib 19.24 frontal_face_detector.h")
    b.tensor("filter0", "f32", (10, 10, 31), list_of_floats)
    b.op("conv1", OP_CONV, inputs=[0], tensors=[w, bias], iparam=[...], fparam=[...])
    b.write("out.fnet")
"""

import array
import struct
import sys
import zlib

MAGIC = b"FNETBLOB"
VERSION = 1
BYTE_ORDER_MARK = 0x01020304
HEADER_SIZE = 96
TENSOR_ENTRY_SIZE = 96
OP_ENTRY_SIZE = 136
ALIGN = 64
NAME_LEN = 48
OP_NAME_LEN = 32

KIND_DETECTOR, KIND_LANDMARKS, KIND_NETWORK = 1, 2, 3
KIND_NAMES = {1: "detector", 2: "landmarks", 3: "network"}

FLAG_INCOMPLETE = 1

# dtype code -> (name, element size, array typecode or None)
DTYPES = {
    1: ("f32", 4, "f"),
    2: ("f16", 2, None),
    3: ("i8", 1, "b"),
    4: ("u8", 1, "B"),
    5: ("i32", 4, "i"),
    6: ("i16", 2, "h"),
    7: ("u16", 2, "H"),
}
DTYPE_CODE = {v[0]: k for k, v in DTYPES.items()}

# Op types of the network graph (see facenet.h, "Network op graph").
OP_INPUT, OP_CONV, OP_MAXPOOL, OP_AVGPOOL, OP_L2POOL, OP_LRN, OP_CONCAT, OP_DENSE, \
    OP_L2NORM, OP_ADD, OP_GLOBAL_AVGPOOL, OP_PAD, OP_RELU = range(13)
OP_NAMES = ["input", "conv", "maxpool", "avgpool", "l2pool", "lrn", "concat", "dense",
            "l2norm", "add", "global_avgpool", "pad", "relu"]

_LE = sys.byteorder == "little"


def _pad(n, a=ALIGN):
    return (n + a - 1) // a * a


def _to_bytes(dtype, values):
    """values: bytes/bytearray (already little-endian), an array.array, or a sequence."""
    name, size, code = DTYPES[DTYPE_CODE[dtype]]
    if isinstance(values, (bytes, bytearray, memoryview)):
        return bytes(values)
    if name == "f16":
        return b"".join(struct.pack("<e", float(v)) for v in values)
    if isinstance(values, array.array) and values.typecode == code:
        a = values
    else:
        a = array.array(code, values)
    if a.itemsize != size:
        raise ValueError("array item size %d != %d for %s" % (a.itemsize, size, name))
    if not _LE:
        a = array.array(code, a)
        a.byteswap()
    return a.tobytes()


class Blob:
    KIND_DETECTOR, KIND_LANDMARKS, KIND_NETWORK = KIND_DETECTOR, KIND_LANDMARKS, KIND_NETWORK

    def __init__(self, kind):
        if kind not in KIND_NAMES:
            raise ValueError("unknown model kind %r" % kind)
        self.kind = kind
        self.flags = 0
        self.metas = []      # (key, value)
        self.tensors = []    # dict(name, dtype, shape, scale, zero, data)
        self.ops = []        # dict(name, type, flags, inputs, tensors, iparam, fparam)

    # -- building ---------------------------------------------------------
    def meta(self, key, value):
        key, value = str(key), str(value)
        if any(k == key for k, _ in self.metas):
            raise ValueError("duplicate metadata key %r" % key)
        self.metas.append((key, value))

    def set_incomplete(self, filled_names):
        self.flags |= FLAG_INCOMPLETE
        self.meta("incomplete", "1")
        self.meta("filled_tensors", ",".join(filled_names))

    def tensor(self, name, dtype, shape, values, scale=1.0, zero=0.0):
        """Add a tensor; returns its index. shape: 1 to 4 dims, row-major."""
        if len(name.encode()) >= NAME_LEN:
            raise ValueError("tensor name too long: %r" % name)
        if not 1 <= len(shape) <= 4 or any(int(d) < 1 for d in shape):
            raise ValueError("tensor %s: bad shape %r" % (name, shape))
        if any(t["name"] == name for t in self.tensors):
            raise ValueError("duplicate tensor name %r" % name)
        data = _to_bytes(dtype, values)
        count = 1
        for d in shape:
            count *= int(d)
        if len(data) != count * DTYPES[DTYPE_CODE[dtype]][1]:
            raise ValueError("tensor %s: %d bytes of data for shape %r %s"
                             % (name, len(data), shape, dtype))
        self.tensors.append(dict(name=name, dtype=dtype, shape=tuple(int(d) for d in shape),
                                 scale=float(scale), zero=float(zero), data=data))
        return len(self.tensors) - 1

    def tensor_index(self, name):
        for i, t in enumerate(self.tensors):
            if t["name"] == name:
                return i
        raise KeyError(name)

    def op(self, name, type, inputs=(), tensors=(), iparam=(), fparam=(), flags=0):
        """Add a graph node; returns its index (the index names its output)."""
        if len(name.encode()) >= OP_NAME_LEN:
            raise ValueError("op name too long: %r" % name)
        if len(inputs) > 4 or len(tensors) > 4 or len(iparam) > 12 or len(fparam) > 4:
            raise ValueError("op %s: too many inputs/tensors/params" % name)
        for i in inputs:
            if not 0 <= i < len(self.ops):
                raise ValueError("op %s: input %d is not an earlier op" % (name, i))
        self.ops.append(dict(name=name, type=type, flags=flags, inputs=list(inputs),
                             tensors=list(tensors), iparam=list(iparam), fparam=list(fparam)))
        return len(self.ops) - 1

    # -- serialising ------------------------------------------------------
    def to_bytes(self):
        meta = bytearray()
        for k, v in self.metas:
            kb, vb = k.encode("utf-8"), v.encode("utf-8")
            rec = struct.pack("<II", len(kb), len(vb)) + kb + b"\0" + vb + b"\0"
            rec += b"\0" * (_pad(len(rec), 4) - len(rec))
            meta += rec
        meta_off = HEADER_SIZE
        tensor_off = meta_off + len(meta)
        op_off = tensor_off + TENSOR_ENTRY_SIZE * len(self.tensors)
        data_off = _pad(op_off + OP_ENTRY_SIZE * len(self.ops))

        table = bytearray()
        pos = data_off
        placed = []
        for t in self.tensors:
            shape = list(t["shape"]) + [1] * (4 - len(t["shape"]))
            table += struct.pack("<48sII4IffQQ", t["name"].encode(), DTYPE_CODE[t["dtype"]],
                                 len(t["shape"]), *shape, t["scale"], t["zero"], pos, len(t["data"]))
            placed.append(pos)
            pos = _pad(pos + len(t["data"]))
        file_size = pos

        ops = bytearray()
        for o in self.ops:
            ins = o["inputs"] + [-1] * (4 - len(o["inputs"]))
            ts = o["tensors"] + [-1] * (4 - len(o["tensors"]))
            ip = [int(x) for x in o["iparam"]] + [0] * (12 - len(o["iparam"]))
            fp = [float(x) for x in o["fparam"]] + [0.0] * (4 - len(o["fparam"]))
            ops += struct.pack("<32sII4i4i12i4f", o["name"].encode(),
                               o["type"], o["flags"], *(ins + ts + ip + fp))
        tables = bytes(meta) + bytes(table) + bytes(ops)
        head80 = struct.pack("<8sIIIIQIIIIQQQQ", MAGIC, VERSION, BYTE_ORDER_MARK, self.kind,
                             HEADER_SIZE, file_size, len(self.metas), len(self.tensors),
                             len(self.ops), self.flags, meta_off, tensor_off, op_off, data_off)
        crc = zlib.crc32(tables, zlib.crc32(head80)) & 0xFFFFFFFF
        header = head80 + struct.pack("<II", crc, 0)
        header += b"\0" * (HEADER_SIZE - len(header))
        out = bytearray(file_size)
        out[0:HEADER_SIZE] = header
        out[HEADER_SIZE:HEADER_SIZE + len(tables)] = tables
        for t, p in zip(self.tensors, placed):
            out[p:p + len(t["data"])] = t["data"]
        return bytes(out)

    def write(self, path):
        data = self.to_bytes()
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        import os
        os.replace(tmp, path)
        return len(data)

    def summary(self):
        nparams = 0
        for t in self.tensors:
            n = 1
            for d in t["shape"]:
                n *= d
            nparams += n
        return dict(kind=KIND_NAMES[self.kind], tensors=len(self.tensors), ops=len(self.ops),
                    parameters=nparams, incomplete=bool(self.flags & FLAG_INCOMPLETE))


def read(data):
    """Parse a blob (bytes) into a dict; for tests and `fnet info`-like tools in Python.
    Checks what the C loader checks, raising ValueError with the reason."""
    if len(data) < HEADER_SIZE:
        raise ValueError("truncated: %d bytes, header needs %d" % (len(data), HEADER_SIZE))
    (magic, version, bom, kind, hsize, fsize, n_meta, n_tensors, n_ops, flags, meta_off,
     tensor_off, op_off, data_off, crc, _r) = struct.unpack_from("<8sIIIIQIIIIQQQQII", data, 0)
    if magic != MAGIC:
        raise ValueError("not a facenet.h blob (bad magic)")
    if version != VERSION:
        raise ValueError("blob format version %d, this reader knows %d" % (version, VERSION))
    if bom != BYTE_ORDER_MARK:
        raise ValueError("bad byte-order mark")
    if fsize > len(data):
        raise ValueError("truncated: header says %d bytes, have %d" % (fsize, len(data)))
    end_tables = op_off + OP_ENTRY_SIZE * n_ops
    if zlib.crc32(data[HEADER_SIZE:end_tables], zlib.crc32(data[:80])) & 0xFFFFFFFF != crc:
        raise ValueError("table checksum mismatch")
    meta = {}
    p = meta_off
    for _ in range(n_meta):
        kl, vl = struct.unpack_from("<II", data, p)
        k = data[p + 8:p + 8 + kl].decode()
        v = data[p + 9 + kl:p + 9 + kl + vl].decode()
        meta[k] = v
        p += _pad(8 + kl + vl + 2, 4)
    tensors = []
    for i in range(n_tensors):
        (name, dt, nd, s0, s1, s2, s3, scale, zero, off, nbytes) = struct.unpack_from(
            "<48sII4IffQQ", data, tensor_off + i * TENSOR_ENTRY_SIZE)
        tensors.append(dict(name=name.rstrip(b"\0").decode(), dtype=DTYPES[dt][0],
                            shape=(s0, s1, s2, s3)[:nd], scale=scale, zero=zero,
                            offset=off, nbytes=nbytes))
    ops = []
    for i in range(n_ops):
        rec = struct.unpack_from("<32sII4i4i12i4f", data, op_off + i * OP_ENTRY_SIZE)
        ops.append(dict(name=rec[0].rstrip(b"\0").decode(), type=rec[1], flags=rec[2],
                        inputs=[x for x in rec[3:7] if x >= 0],
                        tensors=[x for x in rec[7:11] if x >= 0],
                        iparam=list(rec[11:23]), fparam=list(rec[23:27])))
    return dict(kind=KIND_NAMES.get(kind, str(kind)), flags=flags, meta=meta,
                tensors=tensors, ops=ops, file_size=fsize)


def tensor_values(data, t):
    """Decode a tensor of a blob read with read() into a list of floats/ints."""
    raw = data[t["offset"]:t["offset"] + t["nbytes"]]
    if t["dtype"] == "f16":
        return [struct.unpack_from("<e", raw, 2 * i)[0] for i in range(len(raw) // 2)]
    a = array.array(DTYPES[DTYPE_CODE[t["dtype"]]][2])
    a.frombytes(raw)
    if not _LE:
        a.byteswap()
    return a
