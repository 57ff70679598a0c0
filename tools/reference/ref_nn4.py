"""ref_nn4: an independent numpy implementation of the Keras-OpenFace nn4.small2.v1 graph.
needs: numpy

Written from the Keras / TensorFlow layer semantics (ZeroPadding2D, Conv2D 'valid',
BatchNormalization in inference mode, MaxPooling2D / AveragePooling2D 'valid', tf.nn.lrn,
the L2-pool Lambda, Flatten, Dense, K.l2_normalize), reading the upstream CSV files directly:
no batch-norm folding, every ZeroPadding2D explicit, float64 throughout. It shares no code
with the converter (tools/convert/keras_openface.py) or the C engine. Missing tensors are not filled
here: pass a second folder that holds them (tools/convert/keras_openface.py dump-filled writes the
converter's fill there), or any complete CSV folder.

    w = load([csv_folder, filled_folder])     # first folder holding a file wins
    emb = embed(w, x)                         # x: 96x96x3 RGB float in [0,1] (pixel / 255)

`slip` deliberately breaks one detail (used by the numerics test to show it can fail):
    "lrn_radius"   tf.nn.lrn depth_radius 2 instead of 5
    "bn_eps"       BatchNormalization epsilon 1e-3 (the Keras default) instead of 1e-5
    "pad_side"     inception_3a pool branch ZeroPadding ((4,3),(4,3)) instead of ((3,4),(3,4))
"""
import os

import numpy as np

CONV = {  # Torch order (out, in, kh, kw) as upstream's utils.py conv_shape
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


def _csv(folders, name):
    for d in folders:
        p = os.path.join(d, name + ".csv")
        if os.path.exists(p):
            with open(p) as f:
                return np.array([float(v) for v in f.read().replace("\n", ",").split(",") if v.strip()],
                                dtype=np.float64)
    raise FileNotFoundError("%s.csv in none of %s" % (name, folders))


def load(folders):
    """Keras-layout weights: name -> list of arrays, as Keras' layer.set_weights would get them."""
    if isinstance(folders, str):
        folders = [folders]
    w = {}
    for name, shape in CONV.items():
        k = _csv(folders, name + "_w").reshape(shape).transpose(2, 3, 1, 0)  # (kh, kw, in, out)
        w[name] = [k, _csv(folders, name + "_b")]
    for name in CONV:
        if name in ("conv1", "conv2", "conv3"):
            bn = "bn" + name[4:]
        elif name.endswith("_conv"):
            bn = name[:-5] + "_bn"
        else:
            bn = name[:-6] + "_bn" + name[-1]
        w[bn] = [_csv(folders, bn + s) for s in ("_w", "_b", "_m", "_v")]
    w["dense_layer"] = [_csv(folders, "dense_w").reshape(128, 736).T, _csv(folders, "dense_b")]
    return w


# ---- Keras / TF layers, one image, channels last (H, W, C) -------------------------------

def zero_pad(x, p):
    """ZeroPadding2D: p = int or ((top, bottom), (left, right))."""
    if isinstance(p, int):
        p = ((p, p), (p, p))
    return np.pad(x, (p[0], p[1], (0, 0)))


def _windows(x, k, s):
    v = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(0, 1))  # (H', W', C, k, k)
    return v[::s, ::s]


def conv2d(x, kernel, bias, s=1):
    """Conv2D(padding='valid', strides=s): cross-correlation, kernel (kh, kw, in, out)."""
    k = kernel.shape[0]
    win = _windows(x, k, s)
    return np.einsum("hwcij,ijco->hwo", win, kernel, optimize=True) + bias


def batch_norm(x, gamma, beta, mean, var, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def relu(x):
    return np.maximum(x, 0.0)


def max_pool(x, k, s):
    return _windows(x, k, s).max(axis=(3, 4))


def avg_pool(x, k, s):
    return _windows(x, k, s).mean(axis=(3, 4))


def lrn(x, depth_radius=5, bias=1.0, alpha=1e-4, beta=0.75):
    """tf.nn.lrn: x / (bias + alpha * sum_{c-r..c+r} x^2) ** beta (channels clipped at edges)."""
    sq = x * x
    C = x.shape[-1]
    s = np.zeros_like(x)
    for c in range(C):
        s[..., c] = sq[..., max(0, c - depth_radius):min(C, c + depth_radius + 1)].sum(axis=-1)
    return x / (bias + alpha * s) ** beta


def l2_pool(x):
    """The Keras port's Lambda chain: x**2 -> AveragePooling2D(3, 3) -> x*9 -> sqrt."""
    return np.sqrt(avg_pool(x ** 2, 3, 3) * 9)


def embed(w, x, slip=None, record=None):
    """record: optional dict; gets each conv's output before its batch norm, by conv name."""
    x = np.asarray(x, dtype=np.float64)
    assert x.shape == (96, 96, 3)
    eps = 1e-3 if slip == "bn_eps" else 0.00001
    radius = 2 if slip == "lrn_radius" else 5

    def cbr(t, conv, bn, s=1):
        t = conv2d(t, w[conv][0], w[conv][1], s)
        if record is not None:
            record[conv] = t
        return relu(batch_norm(t, *w[bn], eps=eps))

    def LRN(t):
        return lrn(t, depth_radius=radius, bias=1.0, alpha=1e-4, beta=0.75)

    def two(t, layer, pad, s):  # utils.conv2d_bn with cv2_out
        t = cbr(t, layer + "_conv1", layer + "_bn1")
        t = zero_pad(t, pad)
        return cbr(t, layer + "_conv2", layer + "_bn2", s)

    def one(t, layer):
        return cbr(t, layer + "_conv", layer + "_bn")

    t = zero_pad(x, 3)
    t = cbr(t, "conv1", "bn1", 2)
    t = zero_pad(t, 1)
    t = max_pool(t, 3, 2)
    t = LRN(t)
    t = cbr(t, "conv2", "bn2")
    t = zero_pad(t, 1)
    t = cbr(t, "conv3", "bn3")
    t = LRN(t)
    t = zero_pad(t, 1)
    t = max_pool(t, 3, 2)
    # 3a
    a = two(t, "inception_3a_3x3", 1, 1)
    b = two(t, "inception_3a_5x5", 2, 1)
    c = one(max_pool(t, 3, 2), "inception_3a_pool")
    c = zero_pad(c, ((4, 3), (4, 3)) if slip == "pad_side" else ((3, 4), (3, 4)))
    d = one(t, "inception_3a_1x1")
    t = np.concatenate([a, b, c, d], axis=-1)
    # 3b
    a = two(t, "inception_3b_3x3", 1, 1)
    b = two(t, "inception_3b_5x5", 2, 1)
    c = zero_pad(one(l2_pool(t), "inception_3b_pool"), 4)
    d = one(t, "inception_3b_1x1")
    t = np.concatenate([a, b, c, d], axis=-1)
    # 3c
    a = two(t, "inception_3c_3x3", 1, 2)
    b = two(t, "inception_3c_5x5", 2, 2)
    c = zero_pad(max_pool(t, 3, 2), ((0, 1), (0, 1)))
    t = np.concatenate([a, b, c], axis=-1)
    # 4a
    a = two(t, "inception_4a_3x3", 1, 1)
    b = two(t, "inception_4a_5x5", 2, 1)
    c = zero_pad(one(l2_pool(t), "inception_4a_pool"), 2)
    d = one(t, "inception_4a_1x1")
    t = np.concatenate([a, b, c, d], axis=-1)
    # 4e
    a = two(t, "inception_4e_3x3", 1, 2)
    b = two(t, "inception_4e_5x5", 2, 2)
    c = zero_pad(max_pool(t, 3, 2), ((0, 1), (0, 1)))
    t = np.concatenate([a, b, c], axis=-1)
    # 5a
    a = two(t, "inception_5a_3x3", 1, 1)
    c = zero_pad(one(l2_pool(t), "inception_5a_pool"), 1)
    d = one(t, "inception_5a_1x1")
    t = np.concatenate([a, c, d], axis=-1)
    # 5b
    a = two(t, "inception_5b_3x3", 1, 1)
    c = zero_pad(one(max_pool(t, 3, 2), "inception_5b_pool"), 1)
    d = one(t, "inception_5b_1x1")
    t = np.concatenate([a, c, d], axis=-1)
    t = avg_pool(t, 3, 1)                 # 1x1x736
    t = t.reshape(-1)                     # Flatten
    t = t @ w["dense_layer"][0] + w["dense_layer"][1]
    return t / np.sqrt(max(np.sum(t * t), 1e-12))


if __name__ == "__main__":
    import sys
    ww = load(sys.argv[1:])
    rng = np.random.default_rng(0)
    e = embed(ww, rng.random((96, 96, 3)))
    print(" ".join("%.6f" % v for v in e[:8]), "...", "norm %.6f" % np.linalg.norm(e))
