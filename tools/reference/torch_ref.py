#!/usr/bin/python3
"""torch_ref: nn4.small2.v1 and dlib's ResNet-34 as PyTorch graphs, written from the upstream
weights for autograd references (gradients of facenet.h's trainer) and for benchmarks.
needs: numpy, torch (Debian /usr/bin/python3: python3-numpy, python3-torch)

Independent of the converter (tools/convert/keras_openface.py, tools/convert/faceapi_resnet.py, tools/convert/fnet_blob.py)
and of the blobs: the weights come from the upstream files, batch norm / scale layers are
folded here, the graphs are written out layer by layer from the Keras / face-api sources'
semantics. Layout NCHW inside; parameters are leaf tensors named as the blob names them,
and grads() returns every gradient in the blob's layout (conv (KH, KW, Cin, Cout), bias (Cout),
dense (In, Out) with In in HWC order) plus dL/d input as (N, H, W, 3).

    import torch_ref
    net = torch_ref.nn4(csv_dirs)                  # [CSV folder, folder with the filled tensors]
    net = torch_ref.resnet34(manifest_json)        # face-api face_recognition_model manifest
    emb = net.forward(x_nhwc)                      # torch tensor (N, 128)
    emb, g, gin, loss = net.grads(x_nhwc, loss_fn) # autograd: {name: grad, blob layout}, dL/dx
    for what, deltas in torch_ref.Kinks(net, net32, x_nhwc, [dL_demb]): ...
                                                   # where float32 may route the gradient
                                                   # otherwise, and by how much (see Kinks)
    net.to(torch.float32)                          # for benchmarks (tools/bench/bench_train_torch.py)

Semantics reproduced (each is what the engine's op table says):
  * conv: cross-correlation, explicit zero padding (F.pad, asymmetric where the graph is);
  * max pooling: explicit F.pad with zeros, then max_pool2d (the zeros take part in the max);
  * LRN as tf.nn.lrn: x / (1 + 1e-4 * sum of x^2 over channels c-5..c+5) ** 0.75, the sum
    over 11 channels (clipped at the edges), alpha not divided by the window size;
  * L2 pooling: sqrt(sum of x^2 over a 3x3 window, stride 3), with d sqrt(s)/ds taken as 0
    where s == 0 (a window of zeros: the gradient of its inputs is 0, not NaN);
  * nn4: batch norm (inference) folded, eps 1e-5: W' = W * g / sqrt(v + eps),
    b' = (b - m) * g / sqrt(v + eps) + beta; avg pool 3x3 before the dense layer, flatten in
    HWC order, l2 normalisation y = x / sqrt(max(sum x^2, 1e-12));
  * ResNet: face-api's uint8 tensors dequantized as q * scale + min (rounded to float32 as
    tfjs stores them), scale layers folded (W' = W * s, b' = b * s + t); residual_down pads
    the conv path at the bottom and right and zero-extends the shortcut's channels at the end;
    global average pool, dense 256 -> 128 with a zero bias (face-api's fc has none), no
    normalisation.

`slip` deliberately breaks one detail, so a test can show it notices:
    "lrn_beta"   (nn4) LRN beta 0.76 instead of 0.75
    "pad_side"   nn4: inception_3a pool branch padded ((4,3),(4,3)) instead of ((3,4),(3,4));
                 ResNet: conv256_down's conv path padded at the top and left, not bottom/right
    "transpose"  nn4: conv2's 1x1 weight (64 x 64) read with in and out channels swapped;
                 ResNet: conv64_1/conv1's 3x3 weight (64 x 64) likewise

Command line (prints the embedding of random inputs, or checks that the loaders work):
    /usr/bin/python3 tools/reference/torch_ref.py nn4 CSVDIR FILLEDDIR [--slip S]
    /usr/bin/python3 tools/reference/torch_ref.py resnet MANIFEST [--slip S]
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

SLIPS = ("lrn_beta", "pad_side", "transpose")


# ---- small layers (NCHW) ------------------------------------------------------------------

def zpad(x, top, bottom, left, right):
    """Zero padding of H (top, bottom) and W (left, right)."""
    return F.pad(x, (left, right, top, bottom))


class Probe:
    """Passed to Net.forward: records every ReLU's (pre-activation z, output) and every max
    pool's (padded input, k, stride, output) in graph order, and can force one ReLU to the
    other side of its kink (set by Kinks): force = ("relu", layer, (c, y, x)) with an input of
    batch size 1 makes that ReLU output |z| with slope 1 if z < 0, and 0 with slope 0 if z > 0."""

    def __init__(self, force=None):
        self.relus, self.pools = [], []
        self.force = force


def relu(z, probe=None):
    y = F.relu(z)
    if probe is not None:
        f = probe.force
        if f is not None and f[0] == "relu" and f[1] == len(probe.relus):
            c, yy, xx = f[2]
            m = torch.zeros_like(z, dtype=torch.bool)
            m[0, c, yy, xx] = True
            y = torch.where(m, z - 2.0 * z.detach() if float(z[0, c, yy, xx]) < 0 else 0.0 * z, y)
        probe.relus.append((z, y))
    return y


def maxpool(x, k, s, pad=0, probe=None):
    if pad:
        x = zpad(x, pad, pad, pad, pad)
    y = F.max_pool2d(x, k, s)
    if probe is not None:
        probe.pools.append((x, k, s, y))
    return y


def lrn_tf(x, radius=5, bias=1.0, alpha=1e-4, beta=0.75):
    sq = x * x
    sqp = F.pad(sq, (0, 0, 0, 0, radius, radius))              # zeros beyond the channel edges
    s = sqp.unfold(1, 2 * radius + 1, 1).sum(-1)                # (N, C, H, W): 11 channels
    return x / (bias + alpha * s) ** beta


def l2pool(x, k=3, s=3):
    t = F.avg_pool2d(x * x, k, s) * float(k * k)               # sum of squares per window
    pos = t > 0
    safe = torch.where(pos, t, torch.ones_like(t))
    return torch.where(pos, torch.sqrt(safe), torch.zeros_like(t))


# ---- a network: named leaf parameters and a forward function ------------------------------

class Net:
    """params: name -> leaf tensor (conv weights (Cout, Cin, KH, KW), dense (In, Out))."""

    def __init__(self, kind, params, order, forward_fn, input_size, l2norm):
        self.kind = kind
        self.params = params
        self.order = order            # names in graph order
        self._fwd = forward_fn
        self.input_size = input_size
        self.l2norm = l2norm
        self.state = {"probe": None}   # read by the graph's relu / maxpool calls

    def to(self, dtype):
        for k in self.order:
            self.params[k] = self.params[k].detach().to(dtype).requires_grad_(True)
        return self

    def forward(self, x_nhwc, probe=None):
        """x: (N, H, W, 3) tensor or array (normalised input) -> (N, 128)."""
        dt = self.params[self.order[0]].dtype
        x = torch.as_tensor(np.asarray(x_nhwc) if not torch.is_tensor(x_nhwc) else x_nhwc).to(dt)
        self.state["probe"] = probe
        try:
            return self._fwd(x.permute(0, 3, 1, 2))
        finally:
            self.state["probe"] = None

    def blob_layout(self, name, t):
        """A parameter (or its gradient) in the blob's layout, as numpy."""
        a = t.detach().cpu().numpy()
        if a.ndim == 4:
            return a.transpose(2, 3, 1, 0)          # (Cout, Cin, KH, KW) -> (KH, KW, Cin, Cout)
        return a

    def grads(self, x_nhwc, loss_fn):
        """float64 autograd of loss_fn(emb) -> (emb numpy, {name: grad in blob layout},
        dL/d input (N, H, W, 3) numpy, loss float)."""
        for k in self.order:
            self.params[k].grad = None
        x = torch.as_tensor(np.asarray(x_nhwc, dtype=np.float64)).to(self.params[self.order[0]].dtype)
        x.requires_grad_(True)
        emb = self._fwd(x.permute(0, 3, 1, 2))
        loss = loss_fn(emb)
        loss.backward()
        g = {k: self.blob_layout(k, self.params[k].grad) for k in self.order}
        return emb.detach().cpu().numpy(), g, x.grad.detach().cpu().numpy(), float(loss)


class Kinks:
    """Where the gradient depends on which side of a kink the forward pass lands.

    A ReLU whose pre-activation is within rounding of 0, or a max-pool window whose largest
    two entries are within rounding of each other, is continuous in the forward pass but sends
    the gradient one way or the other: a float32 engine may take the other side than this
    float64 reference, and its gradients then differ by a whole backward cone. How far float32
    rounding reaches at each layer is measured here: E = max |a32 - a64| over the layer, with
    net32 the same graph in float32 (its weights rounded to float32 as a blob's are).
    Candidates, per input: ReLUs with 0 < |z| <= margin * E, and max-pool windows whose largest
    entry exceeds the runner-up by 0 < gap <= margin * E (exact ties are left out: the
    reference and facenet.h both take the first maximum in scan order, and exact float64 ties
    are copies of one value, tied in float32 too).
    The change when one kink takes the other side: a ReLU at z > 0 that stops passing loses
    u * dz (u = dL/d its output), a window that takes its runner-up b instead of a moves
    u * (d v_b - d v_a); both are one backward pass from the kink. A ReLU at z < 0 that starts
    passing may also win a max-pool window whose maximum was 0, so that case reruns the
    forward pass with the ReLU forced open (Probe.force) and takes the difference.

        k = Kinks(net, net32, x, gembs)   # gembs: dL/d emb arrays (N, 128), one per loss
        k.maxima[g]    # {tensor name: largest |dL/d tensor| entry of any one input alone}: the
                       # scale of a gradient whose sum over the batch cancels (the last bias
                       # under a triplet loss)
        for what, deltas in k: ...        # per candidate with an effect; deltas[g] =
                       # {tensor name: array (blob layout), "input": (N, H, W, 3)}, the change
                       # in every gradient of loss g when that kink takes the other side
    """

    def __init__(self, net, net32, x_nhwc, gembs, margin=1.0):
        self.net = net
        self.x = x = np.asarray(x_nhwc, dtype=np.float64)
        self.names = names = list(net.order)
        self.plist = plist = [net.params[k] for k in names]
        self.dt = dt = plist[0].dtype
        self.margin = margin
        p64, p32 = Probe(), Probe()
        with torch.no_grad():
            net.forward(x, p64)
            net32.forward(x.astype(np.float32), p32)
        self.E_relu = [float((a.double() - b.double()).abs().max()) for (a, _), (b, _) in zip(p64.relus, p32.relus)]
        self.E_pool = [float((a.double() - b.double()).abs().max())
                       for (a, _, _, _), (b, _, _, _) in zip(p64.pools, p32.pools)]
        del p64, p32
        # one graph per input, kept for the candidates' backward passes
        self.samples = []
        self.maxima = [dict((k, 0.0) for k in names) for _ in gembs]
        for i in range(x.shape[0]):
            ge = [torch.tensor(np.asarray(g, dtype=np.float64)[i:i + 1], dtype=dt) for g in gembs]
            xi = torch.tensor(x[i:i + 1], dtype=dt).requires_grad_(True)
            probe = Probe()
            emb = net.forward(xi, probe)
            ys = [y for _, y in probe.relus] + [y for _, _, _, y in probe.pools]
            base, us = [], []
            for gi, g in enumerate(ge):
                gs = torch.autograd.grad(emb, plist + [xi] + ys, g, retain_graph=True)
                for k, t in zip(names, gs):
                    self.maxima[gi][k] = max(self.maxima[gi][k], float(t.abs().max()))
                base.append([t.detach() for t in gs[:len(names) + 1]])
                us.append([t.detach() for t in gs[len(names) + 1:]])
            self.samples.append((ge, xi, probe, base, us))

    def _dicts(self, gs, i):
        d = dict((k, self.net.blob_layout(k, t) if t is not None else np.zeros(self.net.blob_layout(k, p).shape))
                 for k, p, t in zip(self.names, self.plist, gs[:len(self.names)]))
        gin = np.zeros(self.x.shape)
        if gs[len(self.names)] is not None:
            gin[i] = gs[len(self.names)].detach().cpu().numpy()[0]
        d["input"] = gin
        return d

    def __iter__(self):
        net, x, plist, dt, margin = self.net, self.x, self.plist, self.dt, self.margin
        for i in range(len(self.samples)):
            ge, xi, probe, base, us = self.samples[i]
            nr = len(probe.relus)
            for li, (z, _) in enumerate(probe.relus):
                zz = z.detach()[0]
                sel = (zz != 0) & (zz.abs() <= margin * self.E_relu[li])
                for c, yy, xx in sel.nonzero().tolist():
                    zv = float(zz[c, yy, xx])
                    u = [float(ug[li][0, c, yy, xx]) for ug in us]
                    what = "relu %d (input %d, c %d, y %d, x %d) z=%.3g" % (li, i, c, yy, xx, zv)
                    if zv < 0:   # opening it: rerun forced (it may also win a max-pool window)
                        xf = torch.tensor(x[i:i + 1], dtype=dt).requires_grad_(True)
                        ef = net.forward(xf, Probe(("relu", li, (c, yy, xx))))
                        deltas = []
                        for g, gg in enumerate(ge):
                            gs = torch.autograd.grad(ef, plist + [xf], gg, retain_graph=g + 1 < len(ge))
                            deltas.append(self._dicts([a - b for a, b in zip(gs, base[g])], i))
                        yield what, deltas
                    elif any(u):  # closing it: loses u * dz
                        gs = torch.autograd.grad(z[0, c, yy, xx], plist + [xi], retain_graph=True, allow_unused=True)
                        d = self._dicts(gs, i)
                        yield what, [dict((k, -ug * v) for k, v in d.items()) for ug in u]
            for li, (xp, k, s, _) in enumerate(probe.pools):
                v = xp.detach()[0]
                w = v.unfold(1, k, s).unfold(2, k, s)                # (C, OH, OW, k, k)
                w = w.reshape(w.shape[0], w.shape[1], w.shape[2], k * k)
                top = w.topk(2, dim=-1)
                gap = top.values[..., 0] - top.values[..., 1]
                sel = (gap > 0) & (gap <= margin * self.E_pool[li])
                for c, oy, ox in sel.nonzero().tolist():
                    u = [float(ug[nr + li][0, c, oy, ox]) for ug in us]
                    if not any(u):
                        continue
                    a, b = (int(t) for t in top.indices[c, oy, ox])
                    va = xp[0, c, oy * s + a // k, ox * s + a % k]
                    vb = xp[0, c, oy * s + b // k, ox * s + b % k]
                    gs = torch.autograd.grad(vb - va, plist + [xi], retain_graph=True, allow_unused=True)
                    d = self._dicts(gs, i)
                    yield ("maxpool %d (input %d, c %d, y %d, x %d) gap=%.3g" % (li, i, c, oy, ox, float(gap[c, oy, ox])),
                           [dict((kk, ug * vv) for kk, vv in d.items()) for ug in u])
            self.samples[i] = None    # free this input's graph


def _leaf(a):
    return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64).requires_grad_(True)


# ---- nn4.small2.v1 (Keras-OpenFace) --------------------------------------------------------

_CSV_CACHE = {}  # path -> values (several graphs of one process read the same files)


def _read_csv(folders, name):
    for d in folders:
        p = os.path.join(d, name + ".csv")
        if p in _CSV_CACHE:
            return _CSV_CACHE[p].copy()
        if os.path.exists(p):
            with open(p) as f:
                txt = f.read().replace("\n", ",")
            a = np.array([float(v) for v in txt.split(",") if v.strip()], dtype=np.float64)
            _CSV_CACHE[p] = a
            return a.copy()
    raise FileNotFoundError("%s.csv is in none of %s" % (name, ", ".join(folders)))


def _bn_of(conv):
    """Keras-OpenFace's batch-norm name for a conv: conv1 -> bn1, X_conv -> X_bn,
    X_conv1 -> X_bn1, X_conv2 -> X_bn2."""
    if conv.startswith("conv"):
        return "bn" + conv[4:]
    i = conv.rindex("_conv")
    return conv[:i] + "_bn" + conv[i + 5:]


def nn4(csv_dirs, slip=None, bn_eps=1e-5, random_weights=None):
    """csv_dirs: folders holding the Keras-OpenFace CSVs (first folder with a file wins).
    random_weights: a seed to use He-normal weights of the same shapes instead (benchmarks
    without the CSVs)."""
    if isinstance(csv_dirs, str):
        csv_dirs = [csv_dirs]
    if slip is not None and slip not in SLIPS:
        raise ValueError("unknown slip %r" % slip)
    rng = np.random.default_rng(random_weights) if random_weights is not None else None
    params, order = {}, []

    def load_conv(name, cin, cout, k):
        if rng is not None:
            w = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))
            b = rng.standard_normal(cout) * 0.01
        else:
            w = _read_csv(csv_dirs, name + "_w").reshape(cout, cin, k, k)  # Torch order (out, in, kh, kw)
            b = _read_csv(csv_dirs, name + "_b")
            bn = _bn_of(name)
            g, beta, m, v = (_read_csv(csv_dirs, bn + s) for s in ("_w", "_b", "_m", "_v"))
            scale = g / np.sqrt(v + bn_eps)
            w = w * scale[:, None, None, None]
            b = (b - m) * scale + beta
        if slip == "transpose" and name == "conv2":
            w = w.transpose(1, 0, 2, 3)
        params[name + ".w"], params[name + ".b"] = _leaf(w), _leaf(b)
        order.extend([name + ".w", name + ".b"])

    # (name, Cin, Cout, K) in graph order
    convs = [("conv1", 3, 64, 7), ("conv2", 64, 64, 1), ("conv3", 64, 192, 3)]

    def inc(layer, cin, c3, c5, pool, c1):
        out = []
        if c3:
            out += [(layer + "_3x3_conv1", cin, c3[0], 1), (layer + "_3x3_conv2", c3[0], c3[1], 3)]
        if c5:
            out += [(layer + "_5x5_conv1", cin, c5[0], 1), (layer + "_5x5_conv2", c5[0], c5[1], 5)]
        if pool:
            out += [(layer + "_pool_conv", cin, pool, 1)]
        if c1:
            out += [(layer + "_1x1_conv", cin, c1, 1)]
        return out
    convs += inc("inception_3a", 192, (96, 128), (16, 32), 32, 64)
    convs += inc("inception_3b", 256, (96, 128), (32, 64), 64, 64)
    convs += inc("inception_3c", 320, (128, 256), (32, 64), 0, 0)
    convs += inc("inception_4a", 640, (96, 192), (32, 64), 128, 256)
    convs += inc("inception_4e", 640, (160, 256), (64, 128), 0, 0)
    convs += inc("inception_5a", 1024, (96, 384), None, 96, 256)
    convs += inc("inception_5b", 736, (96, 384), None, 96, 256)
    for c in convs:
        load_conv(*c)
    if rng is not None:
        dw = rng.standard_normal((736, 128)) * np.sqrt(1.0 / 736)
        db = np.zeros(128)
    else:
        dw = _read_csv(csv_dirs, "dense_w").reshape(128, 736).T   # Keras (In, Out); In = C of 1x1x736
        db = _read_csv(csv_dirs, "dense_b")
    params["dense.w"], params["dense.b"] = _leaf(dw), _leaf(db)
    order += ["dense.w", "dense.b"]

    P = params
    beta = 0.76 if slip == "lrn_beta" else 0.75
    net = Net("nn4", params, order, None, 96, True)

    def mp(t, k, s, pad=0):
        return maxpool(t, k, s, pad, net.state["probe"])

    def conv(t, name, stride=1, pad=0, act=True):
        if isinstance(pad, int):
            pad = (pad, pad, pad, pad)
        t = zpad(t, *pad) if any(pad) else t
        t = F.conv2d(t, P[name + ".w"], P[name + ".b"], stride=stride)
        return relu(t, net.state["probe"]) if act else t

    def lrn(t):
        return lrn_tf(t, 5, 1.0, 1e-4, beta)

    def forward(x):
        t = conv(x, "conv1", 2, 3)                               # 48x48x64
        t = mp(t, 3, 2, 1)                                       # 24
        t = lrn(t)
        t = conv(t, "conv2")
        t = conv(t, "conv3", 1, 1)                               # 24x24x192
        t = lrn(t)
        t = mp(t, 3, 2, 1)                                       # 12
        # inception 3a (12x12x256)
        a = conv(conv(t, "inception_3a_3x3_conv1"), "inception_3a_3x3_conv2", 1, 1)
        b = conv(conv(t, "inception_3a_5x5_conv1"), "inception_3a_5x5_conv2", 1, 2)
        c = conv(mp(t, 3, 2), "inception_3a_pool_conv")          # 5x5
        c = zpad(c, 4, 3, 4, 3) if slip == "pad_side" else zpad(c, 3, 4, 3, 4)
        d = conv(t, "inception_3a_1x1_conv")
        t = torch.cat([a, b, c, d], 1)
        # 3b (12x12x320)
        a = conv(conv(t, "inception_3b_3x3_conv1"), "inception_3b_3x3_conv2", 1, 1)
        b = conv(conv(t, "inception_3b_5x5_conv1"), "inception_3b_5x5_conv2", 1, 2)
        c = zpad(conv(l2pool(t), "inception_3b_pool_conv"), 4, 4, 4, 4)
        d = conv(t, "inception_3b_1x1_conv")
        t = torch.cat([a, b, c, d], 1)
        # 3c (6x6x640)
        a = conv(conv(t, "inception_3c_3x3_conv1"), "inception_3c_3x3_conv2", 2, 1)
        b = conv(conv(t, "inception_3c_5x5_conv1"), "inception_3c_5x5_conv2", 2, 2)
        c = zpad(mp(t, 3, 2), 0, 1, 0, 1)
        t = torch.cat([a, b, c], 1)
        # 4a (6x6x640)
        a = conv(conv(t, "inception_4a_3x3_conv1"), "inception_4a_3x3_conv2", 1, 1)
        b = conv(conv(t, "inception_4a_5x5_conv1"), "inception_4a_5x5_conv2", 1, 2)
        c = zpad(conv(l2pool(t), "inception_4a_pool_conv"), 2, 2, 2, 2)
        d = conv(t, "inception_4a_1x1_conv")
        t = torch.cat([a, b, c, d], 1)
        # 4e (3x3x1024)
        a = conv(conv(t, "inception_4e_3x3_conv1"), "inception_4e_3x3_conv2", 2, 1)
        b = conv(conv(t, "inception_4e_5x5_conv1"), "inception_4e_5x5_conv2", 2, 2)
        c = zpad(mp(t, 3, 2), 0, 1, 0, 1)
        t = torch.cat([a, b, c], 1)
        # 5a (3x3x736)
        a = conv(conv(t, "inception_5a_3x3_conv1"), "inception_5a_3x3_conv2", 1, 1)
        c = zpad(conv(l2pool(t), "inception_5a_pool_conv"), 1, 1, 1, 1)
        d = conv(t, "inception_5a_1x1_conv")
        t = torch.cat([a, c, d], 1)
        # 5b (3x3x736)
        a = conv(conv(t, "inception_5b_3x3_conv1"), "inception_5b_3x3_conv2", 1, 1)
        c = zpad(conv(mp(t, 3, 2), "inception_5b_pool_conv"), 1, 1, 1, 1)
        d = conv(t, "inception_5b_1x1_conv")
        t = torch.cat([a, c, d], 1)
        t = F.avg_pool2d(t, 3, 1)                                # 1x1x736
        t = t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)        # flatten in HWC order
        t = t @ P["dense.w"] + P["dense.b"]
        n = torch.sqrt(torch.clamp((t * t).sum(1, keepdim=True), min=1e-12))
        return t / n

    net._fwd = forward
    return net


# ---- ResNet-34 (dlib's face descriptor, face-api's weights) --------------------------------

def read_faceapi(manifest):
    """tfjs weights manifest -> {name: float32 numpy array of its shape} (uint8/uint16
    quantization: q * scale + min in float64, rounded to float32 as tfjs stores it)."""
    with open(manifest) as f:
        groups = json.load(f)
    base = os.path.dirname(os.path.abspath(manifest))
    out = {}
    for g in groups:
        data = b"".join(open(os.path.join(base, p), "rb").read() for p in g["paths"])
        pos = 0
        for w in g["weights"]:
            shape = tuple(int(d) for d in w["shape"])
            n = int(np.prod(shape))
            q = w.get("quantization")
            if q is None:
                a = np.frombuffer(data, "<f4", n, pos).astype(np.float32)
                pos += 4 * n
            else:
                dt = {"uint8": "<u1", "uint16": "<u2", "float16": "<f2"}[q["dtype"]]
                raw = np.frombuffer(data, dt, n, pos)
                pos += raw.itemsize * n
                if q["dtype"] == "float16":
                    a = raw.astype(np.float32)
                else:
                    a = (raw.astype(np.float64) * float(q["scale"]) + float(q["min"])).astype(np.float32)
            out[w["name"]] = a.reshape(shape)
        if pos != len(data):
            raise ValueError("%s: %d bytes left over" % (manifest, len(data) - pos))
    return out


RESNET_BLOCKS = [("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
                 ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False),
                 ("conv64_3", 64, False), ("conv128_down", 128, True), ("conv128_1", 128, False),
                 ("conv128_2", 128, False), ("conv256_down", 256, True), ("conv256_1", 256, False),
                 ("conv256_2", 256, False), ("conv256_down_out", 256, True)]


def resnet34(manifest, slip=None, random_weights=None):
    if slip is not None and slip not in SLIPS:
        raise ValueError("unknown slip %r" % slip)
    ws = read_faceapi(manifest) if random_weights is None else None
    rng = np.random.default_rng(random_weights) if random_weights is not None else None
    params, order = {}, []

    def load_conv(prefix, cin, cout, k):
        if rng is not None:
            w = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k)) * 0.5
            b = rng.standard_normal(cout) * 0.01
        else:
            f = ws[prefix + "/conv/filters"].astype(np.float64)      # (KH, KW, Cin, Cout)
            assert f.shape == (k, k, cin, cout), (prefix, f.shape)
            bias = ws[prefix + "/conv/bias"].astype(np.float64)
            s = ws[prefix + "/scale/weights"].astype(np.float64)
            t = ws[prefix + "/scale/biases"].astype(np.float64)
            w = (f * s).transpose(3, 2, 0, 1)                          # (Cout, Cin, KH, KW)
            b = bias * s + t
        if slip == "transpose" and prefix == "conv64_1/conv1":
            w = w.transpose(1, 0, 2, 3)
        params[prefix + "/w"], params[prefix + "/b"] = _leaf(w), _leaf(b)
        order.extend([prefix + "/w", prefix + "/b"])

    load_conv("conv32_down", 3, 32, 7)
    cin = 32
    for name, cout, down in RESNET_BLOCKS:
        load_conv(name + "/conv1", cin, cout, 3)
        load_conv(name + "/conv2", cout, cout, 3)
        cin = cout
    fc = rng.standard_normal((256, 128)) * 0.06 if rng is not None else ws["fc"].astype(np.float64)
    params["fc/w"], params["fc/b"] = _leaf(fc), _leaf(np.zeros(128))
    order += ["fc/w", "fc/b"]
    P = params
    net = Net("resnet", params, order, None, 150, False)

    def conv(t, prefix, stride=1, pad=1, act=True):
        if pad:
            t = zpad(t, pad, pad, pad, pad)
        t = F.conv2d(t, P[prefix + "/w"], P[prefix + "/b"], stride=stride)
        return relu(t, net.state["probe"]) if act else t

    def forward(x):
        t = conv(x, "conv32_down", 2, 0)                         # 72x72x32
        t = maxpool(t, 3, 2, 0, net.state["probe"])              # 35x35
        for name, cout, down in RESNET_BLOCKS:
            if down:
                y = conv(t, name + "/conv1", 2, 0)
                y = conv(y, name + "/conv2", 1, 1, act=False)
                sc = F.avg_pool2d(t, 2, 2)
                dh, dw = sc.shape[2] - y.shape[2], sc.shape[3] - y.shape[3]
                if dh or dw:
                    y = zpad(y, dh, 0, dw, 0) if slip == "pad_side" and name == "conv256_down" \
                        else zpad(y, 0, dh, 0, dw)
                sc = F.pad(sc, (0, 0, 0, 0, 0, cout - sc.shape[1]))   # channels: zeros at the end
            else:
                y = conv(conv(t, name + "/conv1"), name + "/conv2", act=False)
                sc = t
            t = relu(y + sc, net.state["probe"])
        t = t.mean((2, 3))                                       # global average pool -> 256
        return t @ P["fc/w"] + P["fc/b"]

    net._fwd = forward
    return net


RESNET_MEAN = (122.782, 117.001, 104.298)


def resnet_input(rgb, divisor=256.0):
    """dlib's input normalisation of a 150x150 RGB chip: (pixel - mean) / divisor, float32."""
    return ((np.asarray(rgb, np.float64) - np.array(RESNET_MEAN)) / divisor).astype(np.float32)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("net", choices=("nn4", "resnet"))
    ap.add_argument("src", nargs="+", help="nn4: CSV folders; resnet: the manifest")
    ap.add_argument("--slip", choices=SLIPS)
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    net = nn4(a.src, a.slip) if a.net == "nn4" else resnet34(a.src[0], a.slip)
    x = np.random.default_rng(0).random((1, net.input_size, net.input_size, 3))
    if a.net == "resnet":
        x = resnet_input(x * 255.0)
    e = net.forward(x).detach().numpy()[0]
    print(" ".join("%.6f" % v for v in e[:8]), "...", "norm %.6f" % np.linalg.norm(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
