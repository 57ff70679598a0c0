"""dlib_shape: convert dlib's shape predictor (.dat) into a facenet.h landmarks blob (kind 2).

Python standard library only; used by tools/convert_weights.py (format dlib-shape).

dlib's file (dlib/image_processing/shape_predictor.h, serialize()) is, in order:

    int version (1)
    matrix<float,0,1> initial_shape            mean shape, 2*68 floats (x0,y0,x1,...) in the
                                               unit box
    vector<vector<regression_tree>> forests    15 cascades x 500 trees; a tree is
        vector<split_feature> splits           15 splits: ulong idx1, ulong idx2, float thresh
        vector<matrix<float,0,1>> leaf_values  16 leaves of 136 floats
    vector<vector<ulong>> anchor_idx           per cascade, per feature pixel: its landmark
    vector<vector<vector<float,2>>> deltas     per cascade, per feature pixel: offset from it

dlib's portable encoding (dlib/serialize.h): an integer is a control byte (low 4 bits =
number of value bytes, bit 7 = negative) followed by the magnitude little-endian; a float is
two integers, mantissa m and exponent e, value = m * 2^e (float_details: m holds frexp's
24 bits with whole zero low bytes shifted off); a vector is its size then its elements; a
matrix is -rows, -cols then the values.

Decoding every float one by one in Python takes many seconds (16 million leaf values), so the
leaves are decoded in bulk: almost every value is encoded in the 6 bytes
    [03|83] m0 m1 m2 81 E          (value = +-m * 2^-E, 2^23 <= m < 2^24)
A regular expression finds each run of such records (in C), the rare other encodings are
re-encoded into the same 6-byte form, and the IEEE-754 bits are then assembled for all
values at once with bytes.translate, slicing and big-integer OR: exact, no rounding.

Blob tensors (the loader maps them in place; facenet.h section 2 reads them):
    initial_shape  f32 (68, 2)
    anchor_idx     u16 (15, P)         P = feature pixels per cascade (500)
    deltas         f32 (15, P, 2)
    split_idx      u16 (15, 500, 15, 2)  idx1, idx2 (feature pixel indices < P)
    split_thresh   f32 (15, 500, 15)
    leaves         f32 | f16 | i16 (15, 500, 16, 136)
    leaf_scale     f32 (15, 500)       only with i16 leaves: value = scale * q
"""

import array
import re
import struct
import sys

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from fnet_blob import Blob  # noqa: E402

_LE = sys.byteorder == "little"


class _Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def fail(self, what):
        raise ValueError("not a dlib shape predictor: %s at byte %d" % (what, self.p))

    def int(self):
        d, p = self.d, self.p
        if p >= len(d):
            self.fail("truncated")
        c = d[p]
        n = c & 0x0F
        if n == 0 or n > 8 or (c & 0x70) or p + 1 + n > len(d):
            self.fail("bad integer")
        v = int.from_bytes(d[p + 1:p + 1 + n], "little")
        self.p = p + 1 + n
        return -v if c & 0x80 else v

    def uint(self, limit=1 << 32):
        v = self.int()
        if v < 0 or v >= limit:
            self.fail("bad count/index %d" % v)
        return v

    def float(self):
        if self.p < len(self.d) and (self.d[self.p] & 0x70):
            self.fail("old ASCII float format (re-save the model with a newer dlib)")
        m = self.int()
        e = self.int()
        if e >= 32000:
            self.fail("infinite or NaN value")
        v = m * 2.0 ** e if m else 0.0
        if v != 0.0 and struct.unpack("<f", struct.pack("<f", v))[0] != v:
            self.fail("value not exactly a float32")
        return v


# one canonical float record: control 03/83, 3 mantissa bytes, exponent control 81, 1 byte
_RUN = re.compile(rb"(?:[\x03\x83][\x00-\xff]{3}\x81[\x00-\xff])*", re.S)


def _canonical(v):
    """6-byte canonical record for float v, or None when it has no such form (zero, huge,
    subnormal): the caller patches those."""
    if v == 0.0:
        return None
    import math
    fr, ex = math.frexp(v)
    m = int(abs(fr) * (1 << 24))
    E = -(ex - 24)
    if not 1 <= E <= 149 or m >= 1 << 24 or 150 - E < 1:
        return None
    return bytes([0x83 if v < 0 else 0x03]) + m.to_bytes(3, "little") + bytes([0x81, E])


_T_LOW7 = bytes(x & 0x7F for x in range(256))
_T_SIGN = bytes(x & 0x80 for x in range(256))
_T_EBIT = bytes((((150 - x) & 1) << 7) if 1 <= x <= 149 else 0 for x in range(256))
_T_EHI = bytes(((150 - x) >> 1) if 1 <= x <= 149 else 0 for x in range(256))


def _decode_canonical(canon, n):
    """n canonical 6-byte records -> n little-endian float32 (bytes), all at once."""
    c1 = canon[0::6]
    m0, m1, m2 = canon[1::6], canon[2::6], canon[3::6]
    E = canon[5::6]
    b2 = (int.from_bytes(m2.translate(_T_LOW7), "little") |
          int.from_bytes(E.translate(_T_EBIT), "little")).to_bytes(n, "little")
    b3 = (int.from_bytes(c1.translate(_T_SIGN), "little") |
          int.from_bytes(E.translate(_T_EHI), "little")).to_bytes(n, "little")
    out = bytearray(4 * n)
    out[0::4] = m0
    out[1::4] = m1
    out[2::4] = b2
    out[3::4] = b3
    return out


def parse(path):
    """Returns a dict with the predictor's arrays (floats as array('f'), little-endian bytes
    for the leaves)."""
    with open(path, "rb") as f:
        d = f.read()
    r = _Reader(d)
    if r.int() != 1:
        r.fail("unsupported version")

    def float_matrix():
        nr, nc = r.int(), r.int()
        nr, nc = abs(nr), abs(nc)
        if nc != 1 or nr > 1 << 20:
            r.fail("bad matrix size")
        return [r.float() for _ in range(nr)]

    initial = float_matrix()
    n_pts2 = len(initial)
    if n_pts2 == 0 or n_pts2 % 2:
        r.fail("bad initial shape")
    n_casc = r.uint(1000)
    trees = None
    split_idx = array.array("H")
    split_thresh = array.array("f")
    canon_parts = []       # canonical 6-byte records, in leaf order
    patches = []           # (value index, float) for values with no canonical form
    n_vals = 0
    depth_leaves = None
    hdr = None
    for c in range(n_casc):
        nt = r.uint(100000)
        if trees is None:
            trees = nt
        elif nt != trees:
            r.fail("cascades with different tree counts")
        for t in range(nt):
            ns = r.uint(1 << 16)
            for s in range(ns):
                i1 = r.uint(1 << 16)
                i2 = r.uint(1 << 16)
                split_idx.append(i1)
                split_idx.append(i2)
                split_thresh.append(r.float())
            nl = r.uint(1 << 16)
            if depth_leaves is None:
                depth_leaves = (ns, nl)
                if nl != ns + 1 or nl & (nl - 1):
                    r.fail("tree is not complete")
            elif (ns, nl) != depth_leaves:
                r.fail("trees of different depths")
            for _ in range(nl):
                # matrix header: -136, -1 (the same bytes every time: compare, then skip)
                if hdr is None:
                    p0 = r.p
                    nr, nc = abs(r.int()), abs(r.int())
                    if nr != n_pts2 or nc != 1:
                        r.fail("leaf size differs from the shape size")
                    hdr = d[p0:r.p]
                elif d.startswith(hdr, r.p):
                    r.p += len(hdr)
                else:
                    nr, nc = abs(r.int()), abs(r.int())
                    if nr != n_pts2 or nc != 1:
                        r.fail("leaf size differs from the shape size")
                left = n_pts2
                while left:
                    m = _RUN.match(d, r.p, r.p + 6 * left)
                    k = (m.end() - r.p) // 6
                    if k:
                        canon_parts.append(d[r.p:r.p + 6 * k])
                        r.p += 6 * k
                        left -= k
                        n_vals += k
                    if left:
                        v = r.float()
                        rec = _canonical(v)
                        if rec is None:
                            patches.append((n_vals, v))
                            rec = b"\x03\x00\x00\x80\x81\x17"  # placeholder (patched)
                        canon_parts.append(rec)
                        left -= 1
                        n_vals += 1
    n_anch = r.uint(1000)
    if n_anch != n_casc:
        r.fail("anchor list count differs from the cascade count")
    anchors = array.array("H")
    pool = None
    for c in range(n_casc):
        n = r.uint(1 << 16)
        if pool is None:
            pool = n
        elif n != pool:
            r.fail("cascades with different feature pool sizes")
        for _ in range(n):
            anchors.append(r.uint(n_pts2 // 2))
    if r.uint(1000) != n_casc:
        r.fail("delta list count differs from the cascade count")
    deltas = array.array("f")
    for c in range(n_casc):
        if r.uint(1 << 16) != pool:
            r.fail("delta count differs from the anchor count")
        for _ in range(2 * pool):
            deltas.append(r.float())
    if r.p != len(d):
        r.fail("%d trailing bytes" % (len(d) - r.p))
    if max(split_idx) >= pool:
        r.fail("split index beyond the feature pool")
    canon = b"".join(canon_parts)
    leaves = _decode_canonical(canon, n_vals)
    for i, v in patches:
        leaves[4 * i:4 * i + 4] = struct.pack("<f", v)
    if not _LE:  # the blob writer takes host-order arrays
        a = array.array("f")
        a.frombytes(bytes(leaves))
        a.byteswap()
        leaves = a.tobytes()
    return dict(initial=array.array("f", initial), cascades=n_casc, trees=trees,
                splits=depth_leaves[0], leaves_per_tree=depth_leaves[1], points=n_pts2 // 2,
                pool=pool, anchors=anchors, deltas=deltas, split_idx=split_idx,
                split_thresh=split_thresh, leaves=bytes(leaves))


def _leaves_f32(p):
    a = array.array("f")
    a.frombytes(p["leaves"])
    if not _LE:
        a.byteswap()
    return a


def shape_blob(path, compact=None):
    """Blob (kind landmarks) from dlib's .dat; compact None (float32 leaves, exact),
    'f16' (IEEE half, round to nearest even) or 'i16' (per-tree scale max|v|/32767)."""
    if compact not in (None, "f16", "i16"):
        raise ValueError("compact must be None, 'f16' or 'i16'")
    p = parse(path)
    C, T, S, L, N, P = (p["cascades"], p["trees"], p["splits"], p["leaves_per_tree"],
                        p["points"], p["pool"])
    b = Blob(Blob.KIND_LANDMARKS)
    b.meta("source", "dlib shape_predictor_68_face_landmarks.dat (Kazemi & Sullivan 2014, "
           "trained by Davis King on iBUG 300-W)")
    b.meta("license", "the iBUG 300-W annotations restrict commercial use of this model; "
           "see README.md")
    b.meta("points", N)
    b.meta("cascades", C)
    b.meta("trees", T)
    b.meta("depth", S.bit_length())
    b.meta("feature_pool", P)
    b.meta("leaves", compact or "f32")
    b.tensor("initial_shape", "f32", (N, 2), p["initial"])
    b.tensor("anchor_idx", "u16", (C, P), p["anchors"])
    b.tensor("deltas", "f32", (C, P, 2), p["deltas"])
    b.tensor("split_idx", "u16", (C, T, S, 2), p["split_idx"])
    b.tensor("split_thresh", "f32", (C, T, S), p["split_thresh"])
    shape = (C, T, L, 2 * N)
    if compact is None:
        b.tensor("leaves", "f32", shape, p["leaves"] if _LE else _leaves_f32(p))
    elif compact == "f16":
        vals = _leaves_f32(p)
        b.tensor("leaves", "f16", shape, struct.pack("<%de" % len(vals), *vals))
    else:
        vals = _leaves_f32(p)
        per = L * 2 * N
        scales = array.array("f")
        q = array.array("h")
        for t in range(C * T):
            chunk = vals[t * per:(t + 1) * per]
            mx = max(max(chunk), -min(chunk))
            s = struct.unpack("<f", struct.pack("<f", mx / 32767.0))[0] if mx > 0 else 1.0
            inv = 1.0 / s
            q.extend([max(-32767, min(32767, round(v * inv))) for v in chunk])
            scales.append(s)
        b.tensor("leaves", "i16", shape, q)
        b.tensor("leaf_scale", "f32", (C, T), scales)
    return b


if __name__ == "__main__":
    import time
    t0 = time.time()
    pp = parse(sys.argv[1] if len(sys.argv) > 1 else
               "/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
    print("parsed in %.2f s: %d cascades x %d trees, %d splits, %d leaves, %d points, pool %d"
          % (time.time() - t0, pp["cascades"], pp["trees"], pp["splits"], pp["leaves_per_tree"],
             pp["points"], pp["pool"]))
