"""tools/convert/dlib_shape.py reads dlib's shape predictor exactly as dlib's deserialize() does.

Golden values: tests/golden/dlib_shape_dump.txt, printed by tools/reference/dlib_dump_shape.cpp from the
predictor dlib itself deserialised (make -f tools/mk/landmarks.mk golden-shape-dump). A synthetic
file exercises the rare encodings (zero, short mantissas, negative and two-byte exponents).
Standard library only. Run from the repository root.
"""
import math
import os
import struct
import sys
import tempfile

from fnet_testlib import tally, check, skip, finish  # noqa: E402
import dlib_shape  # noqa: E402

DAT = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
GOLDEN = "tests/golden/dlib_shape_dump.txt"



def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


# -- a minimal dlib encoder (dlib/serialize.h, float_details.h), written for this test ----------
def enc_int(v):
    neg = v < 0
    v = abs(v)
    b = bytearray()
    while True:
        b.append(v & 0xFF)
        v >>= 8
        if v == 0:
            break
    return bytes([len(b) | (0x80 if neg else 0)]) + bytes(b)


def enc_float_exact(v):
    # dlib: mantissa = int64(frexp(v) * 2^24); shift off whole zero low bytes (of the signed value)
    if v == 0.0:
        m, e = 0, -24
    else:
        fr, ex = math.frexp(v)
        m, e = int(fr * (1 << 24)), ex - 24
    i = 0
    while i < 8 and (m & 0xFF) == 0:
        m >>= 8
        e += 8
        i += 1
    return enc_int(m) + enc_int(e)


def synthetic(path, leaf_vals):
    """2 points, 1 cascade, 1 tree of depth 1 (1 split, 2 leaves of 4 values), pool 3."""
    d = bytearray(enc_int(1))
    init = [0.25, 0.5, 0.75, -0.125]
    d += enc_int(-4) + enc_int(-1) + b"".join(enc_float_exact(v) for v in init)
    d += enc_int(1) + enc_int(1)                           # 1 cascade of 1 tree
    d += enc_int(1) + enc_int(2) + enc_int(1) + enc_float_exact(-12.5)  # split 2,1,-12.5
    d += enc_int(2)
    for leaf in (leaf_vals[:4], leaf_vals[4:]):
        d += enc_int(-4) + enc_int(-1) + b"".join(enc_float_exact(v) for v in leaf)
    d += enc_int(1) + enc_int(3) + enc_int(0) + enc_int(1) + enc_int(1)   # anchors
    d += enc_int(1) + enc_int(3) + b"".join(enc_float_exact(v) for v in (f32(0.1), f32(-0.2), 0, 3, 2.0 ** -30, -7))
    with open(path, "wb") as f:
        f.write(d)
    return init


def main():
    tmp = tempfile.mkdtemp()
    # 1. Synthetic: every encoding path, values must come back bit-exact.
    special = [f32(0.1), -f32(0.1), 0.0, 1.0, -256.0, f32(3.0e-3), 2.0 ** -120,  # short mantissas
               f32(-1.2345678e-5)]
    path = os.path.join(tmp, "s.dat")
    init = synthetic(path, special)
    p = dlib_shape.parse(path)
    check(list(p["initial"]) == init, "synthetic initial shape")
    got = list(struct.unpack("<8f", p["leaves"]))
    check(got == special, "synthetic leaves %r != %r" % (got, special))
    check(list(p["split_idx"]) == [2, 1] and list(p["split_thresh"]) == [-12.5], "synthetic split")
    check(list(p["anchors"]) == [0, 1, 1], "synthetic anchors")
    check(list(p["deltas"]) == [f32(0.1), f32(-0.2), 0.0, 3.0, 2.0 ** -30, -7.0], "synthetic deltas")
    # damaged inputs: a clean ValueError, never another exception
    raw = open(path, "rb").read()
    for cut in (0, 1, 5, len(raw) // 2, len(raw) - 1):
        with open(path, "wb") as f:
            f.write(raw[:cut])
        try:
            dlib_shape.parse(path)
            check(False, "truncated at %d accepted" % cut)
        except ValueError:
            check(True, "")
    with open(path, "wb") as f:
        f.write(raw + b"\x00")
    try:
        dlib_shape.parse(path)
        check(False, "trailing byte accepted")
    except ValueError:
        check(True, "")

    # 2. dlib's model against dlib's own dump.
    if not os.path.exists(DAT):
        tally.skipped += 1
        print("SKIP: %s missing (apt-get install libdlib-data)" % DAT)
    else:
        p = dlib_shape.parse(DAT)
        leaves = struct.unpack("<%df" % (len(p["leaves"]) // 4), p["leaves"])
        C, T, S, L, N2 = p["cascades"], p["trees"], p["splits"], p["leaves_per_tree"], 2 * p["points"]

        def leaf(c, t, l):
            o = ((c * T + t) * L + l) * N2
            return leaves[o:o + N2]
        for line in open(GOLDEN):
            w = line.split()
            if w[0] == "sizes":
                check([int(x) for x in w[1:]] == [C, T, S, L, p["pool"]], "sizes %r" % w)
            elif w[0] == "initial":
                check([f32(float(x)) for x in w[1:]] == list(p["initial"]), "initial shape")
            elif w[0] == "leafsum":
                s = a = 0.0
                z = 0
                for v in leaves:
                    s += v
                    a += abs(v)
                    z += v == 0.0
                check(s == float(w[1]) and a == float(w[2]) and z == int(w[3]),
                      "leaf sums %r %r %d vs %s" % (s, a, z, w[1:]))
            elif w[0] == "tree":
                c, t = int(w[1]), int(w[2])
                o = (c * T + t) * S
                want = [tuple(x.split(",")) for x in w[4:]]
                got = [(str(p["split_idx"][2 * (o + s)]), str(p["split_idx"][2 * (o + s) + 1]),
                        p["split_thresh"][o + s]) for s in range(S)]
                check(len(want) == S and all(g[0] == x[0] and g[1] == x[1] and g[2] == f32(float(x[2]))
                                             for g, x in zip(got, want)), "splits of tree %d %d" % (c, t))
            elif w[0] == "leaf":
                c, t, l = int(w[1]), int(w[2]), int(w[3])
                check([f32(float(x)) for x in w[4:]] == list(leaf(c, t, l)), "leaf %d %d %d" % (c, t, l))
            elif w[0] == "anchor":
                c = int(w[1])
                P = p["pool"]
                check([int(x) for x in w[2:]] == list(p["anchors"][c * P:(c + 1) * P]), "anchors %d" % c)
            elif w[0] == "delta":
                c = int(w[1])
                P = p["pool"]
                want = [f32(float(v)) for x in w[2:] for v in x.split(",")]
                check(want == list(p["deltas"][2 * c * P:2 * (c + 1) * P]), "deltas %d" % c)
        # thresholds are pixel-intensity differences: within (-255, 255), not integers
        check(all(-255 < t < 255 for t in p["split_thresh"]) and
              any(t != int(t) for t in p["split_thresh"]), "thresholds are fractional pixel differences")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
