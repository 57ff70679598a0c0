"""keras_openface: OpenFace nn4.small2.v1 (Keras-OpenFace port) -> facenet.h network blob.

Python standard library only (h5py is used for .h5 input when it is installed).

    blob_from_csv(folder, fill_seed=None)   folder of per-tensor CSVs (Keras-OpenFace weights/)
    blob_from_h5(path)                      Keras-OpenFace nn4.small2.v1.h5 (needs h5py)
    filled_tensors(folder, seed)            the tensors --fill-missing would add (for tests)

    python3 tools/convert/keras_openface.py dump-filled CSVDIR SEED OUTDIR
        writes the filled tensors as CSVs in the upstream layout, so that CSVDIR + OUTDIR
        together form a complete folder (the numpy reference tools/reference/ref_nn4.py reads that).

CSV LAYOUT (found by reading upstream's utils.py load_weights() and checked against the
element counts of every file): one line of comma-separated decimal floats per tensor.
  conv  <layer>_w.csv  the flat Torch tensor (out, in, kh, kw), row-major; Keras reshapes it
                       to that shape and transposes (2, 3, 1, 0) to its (kh, kw, in, out).
                       Both frameworks compute cross-correlation: no kernel flip.
        <layer>_b.csv  bias (out)
  bn    _w gamma, _b beta, _m moving mean, _v moving variance, each (channels)
  dense dense_w.csv    (128, 736) = (out, in); Keras transposes it to (736, 128). dense_b.csv.
Upstream also ships two stray files, inception_5a_3x3_conv2_m/_v.csv (96 values), that no
layer uses; they are ignored.

THE GRAPH (upstream Keras-openface-convertion.ipynb, channels last, 96x96x3 RGB in [0,1]):
  ZeroPadding2D(3) conv1 7x7/2 64, BN, ReLU          -> 48x48x64
  ZeroPadding2D(1) MaxPool 3/2                       -> 24x24x64
  LRN (tf.nn.lrn defaults: depth_radius 5, bias 1, alpha 1e-4, beta 0.75)
  conv2 1x1 64 BN ReLU; ZeroPadding2D(1) conv3 3x3 192 BN ReLU; LRN
  ZeroPadding2D(1) MaxPool 3/2                       -> 12x12x192
  3a: [1x1 96 -> pad 1 -> 3x3 128] [1x1 16 -> pad 2 -> 5x5 32]
      [MaxPool 3/2 (no pad, 12->5) -> 1x1 32 -> ZeroPadding ((3,4),(3,4)) (asymmetric)] [1x1 64]
                                                     -> 12x12x256
  3b: [1x1 96 -> 3x3 128] [1x1 32 -> 5x5 64] [L2 pool 3/3 (12->4) -> 1x1 64 -> pad 4] [1x1 64]
                                                     -> 12x12x320
  3c: [1x1 128 -> pad 1 -> 3x3/2 256] [1x1 32 -> pad 2 -> 5x5/2 64]
      [MaxPool 3/2 (12->5) -> ZeroPadding ((0,1),(0,1))]   -> 6x6x640
  4a: [1x1 96 -> 3x3 192] [1x1 32 -> 5x5 64] [L2 pool 3/3 (6->2) -> 1x1 128 -> pad 2] [1x1 256]
                                                     -> 6x6x640
  4e: [1x1 160 -> pad 1 -> 3x3/2 256] [1x1 64 -> pad 2 -> 5x5/2 128]
      [MaxPool 3/2 (6->2) -> ZeroPadding ((0,1),(0,1))]    -> 3x3x1024
  5a: [1x1 96 -> pad 1 -> 3x3 384] [L2 pool 3/3 (3->1) -> 1x1 96 -> pad 1] [1x1 256] -> 3x3x736
  5b: [1x1 96 -> pad 1 -> 3x3 384] [MaxPool 3/2 (3->1) -> 1x1 96 -> pad 1] [1x1 256] -> 3x3x736
  AveragePooling 3x3/1 -> Flatten (1x1x736, HWC order) -> Dense 736->128 -> l2_normalize
  (K.l2_normalize = x / sqrt(max(sum x^2, 1e-12))).
Every conv is followed by BatchNormalization(epsilon=1e-5) and ReLU; the converter folds the
batch norm into the conv: w' = w * g / sqrt(v + eps), b' = (b - m) * g / sqrt(v + eps) + beta.
The L2 pool Lambda is x^2 -> AveragePooling 3x3/3 -> *9 -> sqrt, i.e. sqrt(sum of x^2).
ZeroPadding2D before a conv or a pool becomes that op's padding (padded zeros take part in
the max, as in Keras); after a ReLU in front of a concatenation it is a PAD op.
Differences from the Torch original (nn4.small2.v1.t7): Torch's SpatialCrossMapLRN(5, 1e-4,
0.75) divides alpha by the window size 5 and sums over 5 channels, tf.nn.lrn with radius 5 sums
over 11 and does not divide; Torch's L2 pooling and padding are the same as here. The Keras
port was reported at LFW 0.938 (Torch: 0.9292).

FILLING MISSING TENSORS (--fill-missing SEED; the blob is then marked incomplete)
PRNG: per tensor a splitmix64 stream whose state starts at
    (SEED * 0x9E3779B97F4A7C15 + crc32(tensor name, e.g. b"inception_3c_3x3_conv2_w")) mod 2^64;
consecutive outputs z1, z2 give u1 = ((z1 >> 11) + 1) / 2^53 in (0,1], u2 = (z2 >> 11) / 2^53,
and Box-Muller gives the pair sqrt(-2 ln u1) * (cos 2 pi u2, sin 2 pi u2): standard normals,
drawn in the tensor's Torch order (out, in, kh, kw). w0 = normal * sqrt(2 / fan_in) (He).
Plain He-normal weights make every face's embedding nearly the same (cosine >= 0.998): the
trained batch norm that follows expects its input with mean m_c and variance v_c (moving
statistics) and squashes the much smaller random signal to a constant. So each filled output
channel c is reshaped, weight by weight, so that this batch norm sees roughly its trained
moments, estimated without data:
  - the filled conv's input statistics come from the layers before it: a ReLU after a batch
    norm with (gamma, beta) outputs max(z, 0), z ~ N(beta, gamma^2) (rectified-normal mean
    and second moment in closed form); a max pool of n such cells uses the expected maximum of
    n independent ones (numerical integral); zero padding and borders enter as the fraction
    f_k of output positions at which tap k reads real data (E[x] = f_k mu, E[x^2] = f_k s2);
  - the mean of the output is set exactly through the weight component along the vector of
    input means u = mu / |mu|: w = a * r + kappa * u, r = w0 - (w0 . u) u,
    kappa = (m_c - bias_c) / |mu|, so that E[w . x] + bias = m_c (the CSV bias is kept);
  - the scale a >= 0 solves sum_k w_k^2 var_k = v_c * VAR_FRACTION (independent inputs: the
    cross terms of the random part average out); if even a = 0 exceeds it, a = 0.
VAR_FRACTION (below) is the one tuned constant: it sets how far apart different faces end up
(tools/eval/nn4_fill_report.py measures it on OpenFace-aligned LFPW faces). With 1.0 (full trained
variance; the batch norms then see mean within +-0.3 and std 0.75-1.05 of their moving
statistics, 0.44 for 5b) different faces land at cosine 0.51-0.95, median 0.79: further apart
than the trained model keeps some same-person pairs, and wider than the 0.94-0.98 the project
aims for. 0.2 (std about 0.45 of the trained one, means still matched) gives median 0.96,
70-78% of pairs within 0.94-0.98 (40 faces seed 1: 0.888-0.993; 80 faces seed 2: 0.823-0.996).
It is also the best of those tried for LFW dev verification with the filled blob (1800 pairs,
dlib landmarks, C engine): VAR_FRACTION 0.05 / 0.2 / 0.5 / 1.0 -> accuracy 0.691 / 0.710 /
0.686 / 0.672, against 0.929 for the complete model: the filled network still tells people
apart somewhat, but it is not the published model.
"""

import array
import math
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fnet_blob  # noqa: E402
from fnet_blob import Blob  # noqa: E402

BN_EPS = 1e-5
LRN_RADIUS, LRN_ALPHA, LRN_BETA, LRN_BIAS = 5, 1e-4, 0.75, 1.0
L2NORM_EPS = 1e-12
VAR_FRACTION = 0.2

# Torch-order shapes (out, in, kh, kw) of every conv, as upstream's utils.conv_shape.
CONV_SHAPES = {
    "conv1": (64, 3, 7, 7), "conv2": (64, 64, 1, 1), "conv3": (192, 64, 3, 3),
    "inception_3a_1x1_conv": (64, 192, 1, 1), "inception_3a_pool_conv": (32, 192, 1, 1),
    "inception_3a_5x5_conv1": (16, 192, 1, 1), "inception_3a_5x5_conv2": (32, 16, 5, 5),
    "inception_3a_3x3_conv1": (96, 192, 1, 1), "inception_3a_3x3_conv2": (128, 96, 3, 3),
    "inception_3b_3x3_conv1": (96, 256, 1, 1), "inception_3b_3x3_conv2": (128, 96, 3, 3),
    "inception_3b_5x5_conv1": (32, 256, 1, 1), "inception_3b_5x5_conv2": (64, 32, 5, 5),
    "inception_3b_pool_conv": (64, 256, 1, 1), "inception_3b_1x1_conv": (64, 256, 1, 1),
    "inception_3c_3x3_conv1": (128, 320, 1, 1), "inception_3c_3x3_conv2": (256, 128, 3, 3),
    "inception_3c_5x5_conv1": (32, 320, 1, 1), "inception_3c_5x5_conv2": (64, 32, 5, 5),
    "inception_4a_3x3_conv1": (96, 640, 1, 1), "inception_4a_3x3_conv2": (192, 96, 3, 3),
    "inception_4a_5x5_conv1": (32, 640, 1, 1), "inception_4a_5x5_conv2": (64, 32, 5, 5),
    "inception_4a_pool_conv": (128, 640, 1, 1), "inception_4a_1x1_conv": (256, 640, 1, 1),
    "inception_4e_3x3_conv1": (160, 640, 1, 1), "inception_4e_3x3_conv2": (256, 160, 3, 3),
    "inception_4e_5x5_conv1": (64, 640, 1, 1), "inception_4e_5x5_conv2": (128, 64, 5, 5),
    "inception_5a_3x3_conv1": (96, 1024, 1, 1), "inception_5a_3x3_conv2": (384, 96, 3, 3),
    "inception_5a_pool_conv": (96, 1024, 1, 1), "inception_5a_1x1_conv": (256, 1024, 1, 1),
    "inception_5b_3x3_conv1": (96, 736, 1, 1), "inception_5b_3x3_conv2": (384, 96, 3, 3),
    "inception_5b_pool_conv": (96, 736, 1, 1), "inception_5b_1x1_conv": (256, 736, 1, 1),
}
DENSE_SHAPE = (128, 736)  # (out, in) as stored in dense_w.csv


def bn_name(conv):
    """The BatchNormalization layer after a conv (upstream naming)."""
    if conv in ("conv1", "conv2", "conv3"):
        return "bn" + conv[4:]
    if conv.endswith("_conv"):
        return conv[:-5] + "_bn"
    return conv[:-6] + "_bn" + conv[-1]  # ..._conv1 -> ..._bn1


def tensor_list():
    """(csv name, element count) of every tensor the network needs."""
    out = []
    for conv, (o, i, kh, kw) in CONV_SHAPES.items():
        out.append((conv + "_w", o * i * kh * kw))
        out.append((conv + "_b", o))
        bn = bn_name(conv)
        for s in ("_w", "_b", "_m", "_v"):
            out.append((bn + s, o))
    out.append(("dense_w", DENSE_SHAPE[0] * DENSE_SHAPE[1]))
    out.append(("dense_b", DENSE_SHAPE[0]))
    return out


# ---------------------------------------------------------------- reading the sources ----

def _read_csv(path, count):
    with open(path, "r") as f:
        text = f.read()
    parts = text.replace("\n", ",").replace("\r", ",").split(",")
    vals = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        try:
            v = float(p)
        except ValueError:
            raise ValueError("%s: %r is not a number" % (os.path.basename(path), p[:20]))
        if not math.isfinite(v):
            raise ValueError("%s: non-finite value %r" % (os.path.basename(path), p[:20]))
        vals.append(v)
    if len(vals) != count:
        raise ValueError("%s: %d values, expected %d" % (os.path.basename(path), len(vals), count))
    return vals


def read_csv_folder(folder):
    """-> (dict csv-name -> list of floats in the CSV's own layout, sorted list of missing names)"""
    if not os.path.isdir(folder):
        raise ValueError("%s is not a folder of Keras-OpenFace CSVs" % folder)
    raw, missing = {}, []
    for name, count in tensor_list():
        p = os.path.join(folder, name + ".csv")
        if os.path.exists(p):
            raw[name] = _read_csv(p, count)
        else:
            missing.append(name)
    if len(missing) == len(tensor_list()):
        raise ValueError("%s holds none of the nn4.small2.v1 CSV tensors (e.g. conv1_w.csv)" % folder)
    return raw, sorted(missing)


def _torch_to_keras(w, shape):
    """(out, in, kh, kw) row-major -> (kh, kw, in, out) row-major."""
    o_n, i_n, kh_n, kw_n = shape
    out = [0.0] * len(w)
    for o in range(o_n):
        for i in range(i_n):
            base = (o * i_n + i) * kh_n * kw_n
            for y in range(kh_n):
                for x in range(kw_n):
                    out[((y * kw_n + x) * i_n + i) * o_n + o] = w[base + y * kw_n + x]
    return out


def keras_weights_from_raw(raw):
    """CSV-layout dict (complete) -> Keras-layout dict: conv -> (W (kh,kw,in,out), bias),
    bn -> (gamma, beta, mean, var), 'dense_layer' -> (W (in,out), bias)."""
    kw = {}
    for conv, shape in CONV_SHAPES.items():
        kw[conv] = (_torch_to_keras(raw[conv + "_w"], shape), raw[conv + "_b"])
        bn = bn_name(conv)
        kw[bn] = tuple(raw[bn + s] for s in ("_w", "_b", "_m", "_v"))
    o, i = DENSE_SHAPE
    d = raw["dense_w"]
    kw["dense_layer"] = ([d[c * i + r] for r in range(i) for c in range(o)], raw["dense_b"])
    return kw


# ---------------------------------------------------------------- the deterministic fill --

_M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, state):
        self.s = state & _M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & _M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return z ^ (z >> 31)

    def normals(self, n):
        out = []
        two_pi = 2.0 * math.pi
        while len(out) < n:
            u1 = ((self.next() >> 11) + 1) * (1.0 / 9007199254740992.0)
            u2 = (self.next() >> 11) * (1.0 / 9007199254740992.0)
            r = math.sqrt(-2.0 * math.log(u1))
            out.append(r * math.cos(two_pi * u2))
            out.append(r * math.sin(two_pi * u2))
        return out[:n]


def _stream(seed, name):
    return SplitMix64((int(seed) * 0x9E3779B97F4A7C15 + zlib.crc32(name.encode())) & _M64)


def _phi(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _Phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _relu_moments(beta, gamma):
    """E[max(z,0)], E[max(z,0)^2] for z ~ N(beta, gamma^2)."""
    g = abs(gamma)
    if g < 1e-12:
        x = max(beta, 0.0)
        return x, x * x
    a = beta / g
    P, p = _Phi(a), _phi(a)
    return beta * P + g * p, (beta * beta + g * g) * P + beta * g * p


def _max_moments(beta, gamma, n):
    """Moments of the max of n independent max(z,0), z ~ N(beta, gamma^2) (numerical)."""
    if n == 1:
        return _relu_moments(beta, gamma)
    g = abs(gamma)
    if g < 1e-12:
        x = max(beta, 0.0)
        return x, x * x
    hi = max(beta, 0.0) + 9.0 * g
    steps = 400
    h = hi / steps
    m1 = m2 = 0.0
    for k in range(steps + 1):
        t = k * h
        tail = 1.0 - _Phi((t - beta) / g) ** n
        wgt = 0.5 if k in (0, steps) else 1.0
        m1 += wgt * tail
        m2 += wgt * 2.0 * t * tail
    return m1 * h, m2 * h


def _tap_fractions(in_size, k, stride, pad_before, out_size):
    """Fraction of output positions at which kernel tap t reads a real (unpadded) input."""
    fr = []
    for t in range(k):
        inside = sum(1 for o in range(out_size) if 0 <= o * stride + t - pad_before < in_size)
        fr.append(inside / float(out_size))
    return fr


def _bn_relu_stats(kw, bn):
    g, b = kw[bn][0], kw[bn][1]
    return [_relu_moments(b[c], g[c]) for c in range(len(g))]


def _input_stats(kw, conv):
    """Per input channel (E[x], E[x^2]) of the (unpadded) input of a filled conv, and the
    per-tap real-data fractions (kh*kw list)."""
    if conv.endswith("_3x3_conv2"):
        pre = conv[:-6] + "_bn1"
        stats = _bn_relu_stats(kw, pre)
        geo = {"inception_3c_3x3_conv2": (12, 2, 6), "inception_4e_3x3_conv2": (6, 2, 3),
               "inception_5a_3x3_conv2": (3, 1, 3), "inception_5b_3x3_conv2": (3, 1, 3)}[conv]
        f1 = _tap_fractions(geo[0], 3, geo[1], 1, geo[2])
        return stats, [fy * fx for fy in f1 for fx in f1]
    if conv == "inception_5a_1x1_conv":
        # inception_4e = [relu(4e_3x3_bn2) 256, relu(4e_5x5_bn2) 128,
        #                 pad((0,1),(0,1))(maxpool 3/2 of inception_4a, 6x6 -> 2x2) 640], 3x3
        stats = _bn_relu_stats(kw, "inception_4e_3x3_bn2") + _bn_relu_stats(kw, "inception_4e_5x5_bn2")
        for bn in ("inception_4a_3x3_bn2", "inception_4a_5x5_bn2", "inception_4a_pool_bn",
                   "inception_4a_1x1_bn"):
            g, b = kw[bn][0], kw[bn][1]
            # the 4a pool branch is 2x2 real cells padded by 2 to 6x6: its four 3x3/2 windows
            # hold 1, 2, 2 and 4 real cells; the other branches are real everywhere (9 cells)
            counts = (1, 2, 2, 4) if bn == "inception_4a_pool_bn" else (9, 9, 9, 9)
            for c in range(len(g)):
                m1 = m2 = 0.0
                cache = {}
                for n in counts:
                    if n not in cache:
                        cache[n] = _max_moments(b[c], g[c], n)
                    m1 += cache[n][0]
                    m2 += cache[n][1]
                # 4 real positions of the 3x3 map after the (0,1) zero padding
                stats.append((m1 / 9.0, m2 / 9.0))
        return stats, [1.0]
    raise ValueError("no fill rule for %s" % conv)


def _fill_conv(kw, conv, seed):
    """Filled Torch-order (out, in, kh, kw) weights of `conv` (see the module doc)."""
    o_n, i_n, kh_n, kw_n = CONV_SHAPES[conv]
    taps = kh_n * kw_n
    fan_in = i_n * taps
    w0 = _stream(seed, conv + "_w").normals(o_n * fan_in)
    std = math.sqrt(2.0 / fan_in)
    stats, frac = _input_stats(kw, conv)
    # per weight position (in, tap), Torch order within an output channel
    mu = [0.0] * fan_in
    var = [0.0] * fan_in
    for i in range(i_n):
        m1, m2 = stats[i]
        for t in range(taps):
            f = frac[t]
            mu[i * taps + t] = f * m1
            var[i * taps + t] = max(f * m2 - (f * m1) ** 2, 0.0)
    mu_norm = math.sqrt(sum(x * x for x in mu))
    if mu_norm < 1e-12:
        raise ValueError("%s: the layer before it is dead (all input means 0); cannot fill" % conv)
    u = [x / mu_norm for x in mu]
    bias = kw[conv][1]
    _g, _b, m, v = kw[bn_name(conv)]
    out = [0.0] * (o_n * fan_in)
    for c in range(o_n):
        w = [x * std for x in w0[c * fan_in:(c + 1) * fan_in]]
        proj = sum(a * b for a, b in zip(w, u))
        r = [a - proj * b for a, b in zip(w, u)]
        kappa = (m[c] - bias[c]) / mu_norm
        # sum var_k (a r_k + kappa u_k)^2 = target: A a^2 + 2 B a + C = target
        A = sum(vk * rk * rk for vk, rk in zip(var, r))
        B = kappa * sum(vk * rk * uk for vk, rk, uk in zip(var, r, u))
        C = kappa * kappa * sum(vk * uk * uk for vk, uk in zip(var, u))
        target = v[c] * VAR_FRACTION
        disc = B * B - A * (C - target)
        a = (-B + math.sqrt(disc)) / A if (A > 0 and disc > 0) else 0.0
        a = max(a, 0.0)
        for k in range(fan_in):
            out[c * fan_in + k] = _f32(a * r[k] + kappa * u[k])
    return out


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _fill(raw, missing, seed):
    """Fill missing conv weights in `raw` (in place, CSV layout). Biases, batch norms and the
    dense layer cannot be filled (the rule needs them)."""
    fillable = set(c + "_w" for c in CONV_SHAPES)
    bad = [n for n in missing if n not in fillable]
    if bad:
        raise ValueError("cannot fill %s (only conv weights can be filled; their bias and "
                         "batch-norm tensors must be present)" % ", ".join(n + ".csv" for n in bad))
    # stats are computed from the complete parts; fill in graph order so that a filled layer's
    # statistics are available to the next (they only use batch-norm tensors, always present)
    placeholder = dict(raw)
    for n in missing:
        conv = n[:-2]
        o, i, kh, kwd = CONV_SHAPES[conv]
        placeholder[n] = [0.0] * (o * i * kh * kwd)
    kw = keras_weights_from_raw(placeholder)
    for n in missing:
        conv = n[:-2]
        try:
            raw[n] = _fill_conv(kw, conv, seed)
        except KeyError:
            raise ValueError("no fill rule for %s.csv" % n)


def filled_tensors(folder, seed):
    """dict name -> list (Torch order, float32 values) of what --fill-missing SEED adds."""
    raw, missing = read_csv_folder(folder)
    _fill(raw, missing, seed)
    return {n: raw[n] for n in missing}


# ---------------------------------------------------------------- the op graph --------------

class _Graph:
    def __init__(self, blob):
        self.b = blob
        self.shape = []  # per op: (H, W, C)

    def _add(self, name, typ, inputs, tensors, iparam, fparam, flags, hwc):
        ip = list(iparam) + [0] * (9 - len(iparam)) + list(hwc)
        idx = self.b.op(name, typ, inputs=inputs, tensors=tensors, iparam=ip, fparam=fparam,
                        flags=flags)
        self.shape.append(hwc)
        return idx

    def input(self, size):
        return self._add("input", fnet_blob.OP_INPUT, [], [], [size, size, 3], [255.0, 0, 0, 0], 0,
                         (size, size, 3))

    @staticmethod
    def _out(n, k, s, p0, p1):
        return (n + p0 + p1 - k) // s + 1

    def conv(self, kw, name, x, k, s=1, pad=(0, 0, 0, 0)):
        """conv `name` (Keras weights) + its BN folded + ReLU; pad = (top, left, bottom, right)."""
        H, W, Cin = self.shape[x]
        w, bias = kw[name]
        gamma, beta, mean, var = kw[bn_name(name)]
        Cout = len(bias)
        if len(w) != k * k * Cin * Cout:
            raise ValueError("%s: %d weights, expected %dx%dx%dx%d" % (name, len(w), k, k, Cin, Cout))
        scale = [gamma[c] / math.sqrt(var[c] + BN_EPS) for c in range(Cout)]
        wf = array.array("f", [w[j] * scale[j % Cout] for j in range(len(w))])
        bf = array.array("f", [(bias[c] - mean[c]) * scale[c] + beta[c] for c in range(Cout)])
        ti = self.b.tensor(name + ".w", "f32", (k, k, Cin, Cout), wf)
        tb = self.b.tensor(name + ".b", "f32", (Cout,), bf)
        oh = self._out(H, k, s, pad[0], pad[2])
        ow = self._out(W, k, s, pad[1], pad[3])
        return self._add(name, fnet_blob.OP_CONV, [x], [ti, tb], [k, k, s, s] + list(pad), [], 1,
                         (oh, ow, Cout))

    def pool(self, typ, name, x, k, s, pad=(0, 0, 0, 0)):
        H, W, C = self.shape[x]
        oh = self._out(H, k, s, pad[0], pad[2])
        ow = self._out(W, k, s, pad[1], pad[3])
        return self._add(name, typ, [x], [], [k, k, s, s] + list(pad), [], 0, (oh, ow, C))

    def pad(self, name, x, pad):
        H, W, C = self.shape[x]
        return self._add(name, fnet_blob.OP_PAD, [x], [], list(pad), [], 0,
                         (H + pad[0] + pad[2], W + pad[1] + pad[3], C))

    def lrn(self, name, x):
        return self._add(name, fnet_blob.OP_LRN, [x], [], [LRN_RADIUS],
                         [LRN_ALPHA, LRN_BETA, LRN_BIAS], 0, self.shape[x])

    def concat(self, name, xs):
        H, W, _ = self.shape[xs[0]]
        for x in xs:
            if self.shape[x][:2] != (H, W):
                raise ValueError("concat %s: spatial sizes differ %r" % (name, [self.shape[i] for i in xs]))
        return self._add(name, fnet_blob.OP_CONCAT, xs, [], [], [], 0,
                         (H, W, sum(self.shape[x][2] for x in xs)))

    def dense(self, kw, name, x):
        H, W, C = self.shape[x]
        w, bias = kw["dense_layer"]
        n_in, n_out = H * W * C, len(bias)
        if len(w) != n_in * n_out:
            raise ValueError("dense: %d weights for %d->%d" % (len(w), n_in, n_out))
        ti = self.b.tensor("dense.w", "f32", (n_in, n_out), array.array("f", w))
        tb = self.b.tensor("dense.b", "f32", (n_out,), array.array("f", bias))
        return self._add(name, fnet_blob.OP_DENSE, [x], [ti, tb], [n_in, n_out], [], 0, (1, 1, n_out))

    def l2norm(self, name, x):
        return self._add(name, fnet_blob.OP_L2NORM, [x], [], [], [L2NORM_EPS], 0, self.shape[x])


def _p(n):
    return (n, n, n, n)


def build_graph(blob, kw):
    g = _Graph(blob)
    MAX, AVG, L2 = fnet_blob.OP_MAXPOOL, fnet_blob.OP_AVGPOOL, fnet_blob.OP_L2POOL
    x = g.input(96)
    x = g.conv(kw, "conv1", x, 7, 2, _p(3))                     # 48x48x64
    x = g.pool(MAX, "pool1", x, 3, 2, _p(1))                     # 24x24x64
    x = g.lrn("lrn_1", x)
    x = g.conv(kw, "conv2", x, 1)
    x = g.conv(kw, "conv3", x, 3, 1, _p(1))                      # 24x24x192
    x = g.lrn("lrn_2", x)
    x = g.pool(MAX, "pool2", x, 3, 2, _p(1))                     # 12x12x192

    def two(pfx, x, mid_k, s, pad):  # 1x1 -> k x k branch
        y = g.conv(kw, pfx + "_conv1", x, 1)
        return g.conv(kw, pfx + "_conv2", y, mid_k, s, _p(pad))

    def inception(name, x, s, pool, pool_s, pad, five=True, pool_conv=True, one=True):
        """Branches 3x3 (stride s), 5x5, 3x3 pool (stride pool_s; its 1x1 conv, then pad to
        the others' size) and 1x1, concatenated; in this order in the graph."""
        p = "inception_" + name
        br = [two(p + "_3x3", x, 3, s, 1)]
        if five:
            br.append(two(p + "_5x5", x, 5, s, 2))
        c = g.pool(pool, p + "_pool", x, 3, pool_s)
        if pool_conv:
            c = g.conv(kw, p + "_pool_conv", c, 1)
        br.append(g.pad(p + "_pool_pad", c, pad))
        if one:
            br.append(g.conv(kw, p + "_1x1_conv", x, 1))
        return g.concat(p, br)

    x = inception("3a", x, 1, MAX, 2, (3, 3, 4, 4))                                   # 12x12x256
    x = inception("3b", x, 1, L2, 3, _p(4))                                           # 12x12x320
    x = inception("3c", x, 2, MAX, 2, (0, 0, 1, 1), pool_conv=False, one=False)       # 6x6x640
    x = inception("4a", x, 1, L2, 3, _p(2))                                           # 6x6x640
    x = inception("4e", x, 2, MAX, 2, (0, 0, 1, 1), pool_conv=False, one=False)       # 3x3x1024
    x = inception("5a", x, 1, L2, 3, _p(1), five=False)                               # 3x3x736
    x = inception("5b", x, 1, MAX, 2, _p(1), five=False)                              # 3x3x736
    x = g.pool(AVG, "avg_pool", x, 3, 1)                         # 1x1x736
    x = g.dense(kw, "dense_layer", x)
    x = g.l2norm("norm_layer", x)
    return g


def _blob(kw, source, filled):
    b = Blob(Blob.KIND_NETWORK)
    for k, v in (("network", "nn4.small2.v1"), ("input_size", "96"), ("input_divisor", "255"),
                 ("input_mean", "0,0,0"), ("embedding_dim", "128"),
                 ("align", "outer_eyes_and_nose"), ("l2_normalized", "1"),
                 ("source", source), ("license", "Apache-2.0")):
        b.meta(k, v)
    if filled:
        b.set_incomplete(filled)
        b.meta("fill_rule", "splitmix64 Box-Muller He-normal, per-channel moments matched to "
                            "the next batch norm (tools/convert/keras_openface.py)")
    build_graph(b, kw)
    return b


def blob_from_csv(folder, fill_seed=None):
    raw, missing = read_csv_folder(folder)
    if missing and fill_seed is None:
        raise ValueError("%d tensors missing from %s: %s; pass --fill-missing SEED to fill them "
                         "deterministically (the blob is then marked incomplete)"
                         % (len(missing), folder, ", ".join(n + ".csv" for n in missing)))
    if missing:
        _fill(raw, missing, fill_seed)
    src = "Keras-OpenFace CSV weights (%s)" % os.path.basename(os.path.normpath(folder))
    if missing:
        src += ", %d tensors filled with --fill-missing %d" % (len(missing), fill_seed)
    return _blob(keras_weights_from_raw(raw), src, missing)


def _bn_order(path, layer, grp, arrays):
    """Keras 2 stores gamma, beta, moving_mean, moving_variance in that order; go by the
    weight names when they say which is which."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in grp.attrs.get("weight_names", [])]
    keys = ("gamma", "beta", "moving_mean", "moving_variance")
    found = {}
    for n, (_, vals) in zip(names, arrays):
        base = n.split("/")[-1].split(":")[0]
        if base in keys:
            found[base] = vals
    if len(found) == 4:
        return tuple(found[k] for k in keys)
    if found:
        raise ValueError("%s: batch norm %s has weights %s" % (path, layer, names))
    return tuple(x for _, x in arrays)


def blob_from_h5(path):
    try:
        import h5py
    except ImportError:
        raise ValueError("reading .h5 needs the h5py module (e.g. Debian python3-h5py with "
                         "/usr/bin/python3); or convert the CSV folder with keras-csv")
    kw = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        layers = set(root.keys())
        need = list(CONV_SHAPES) + [bn_name(c) for c in CONV_SHAPES] + ["dense_layer"]
        absent = [n for n in need if n not in layers]
        if absent:
            raise ValueError("%s lacks the layers %s (not a Keras-OpenFace nn4.small2.v1 model?)"
                             % (path, ", ".join(absent[:8]) + (" ..." if len(absent) > 8 else "")))

        def arrays(layer):
            grp = root[layer]
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in grp.attrs.get("weight_names", [])]
            if not names:
                raise ValueError("%s: layer %s has no weights" % (path, layer))
            out = []
            for n in names:
                ds = grp[n]
                flat = [float(v) for v in ds[()].reshape(-1)]
                out.append((tuple(ds.shape), flat))
            return out

        for conv, (o, i, kh, kwd) in CONV_SHAPES.items():
            ws = arrays(conv)
            if len(ws) != 2 or ws[0][0] != (kh, kwd, i, o) or ws[1][0] != (o,):
                raise ValueError("%s: layer %s has shapes %s, expected (%d,%d,%d,%d) and (%d,)"
                                 % (path, conv, [s for s, _ in ws], kh, kwd, i, o, o))
            kw[conv] = (ws[0][1], ws[1][1])
            bws = arrays(bn_name(conv))
            if len(bws) != 4 or any(s != (o,) for s, _ in bws):
                raise ValueError("%s: batch norm %s has shapes %s" % (path, bn_name(conv),
                                                                      [s for s, _ in bws]))
            kw[bn_name(conv)] = _bn_order(path, bn_name(conv), root[bn_name(conv)], bws)
        dws = arrays("dense_layer")
        if len(dws) != 2 or dws[0][0] != (DENSE_SHAPE[1], DENSE_SHAPE[0]):
            raise ValueError("%s: dense_layer has shapes %s" % (path, [s for s, _ in dws]))
        kw["dense_layer"] = (dws[0][1], dws[1][1])
    for v in kw.values():
        for t in v:
            if not all(math.isfinite(x) for x in t):
                raise ValueError("%s: non-finite weights" % path)
    return _blob(kw, "Keras-OpenFace nn4.small2.v1.h5 (%s)" % os.path.basename(path), [])


def _fmt(x):
    return repr(float(x))


def main(argv):
    if len(argv) != 4 or argv[0] != "dump-filled":
        sys.stderr.write("usage: keras_openface.py dump-filled CSVDIR SEED OUTDIR\n")
        return 2
    folder, seed, out = argv[1], int(argv[2]), argv[3]
    try:
        t = filled_tensors(folder, seed)
    except (ValueError, OSError) as e:
        sys.stderr.write("keras_openface.py: %s\n" % e)
        return 1
    os.makedirs(out, exist_ok=True)
    for n, vals in t.items():
        with open(os.path.join(out, n + ".csv"), "w") as f:
            f.write(",".join(_fmt(x) for x in vals) + "\n")
    print("%d filled tensors written to %s: %s" % (len(t), out, ", ".join(sorted(t))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
