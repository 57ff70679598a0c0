"""Whole-network gradients of facenet.h's trainer against PyTorch autograd (float64).
needs: numpy, torch (Debian /usr/bin/python3: python3-numpy, python3-torch)

The reference is tools/reference/torch_ref.py: nn4.small2.v1 and ResNet-34 written in PyTorch from the
upstream weights (Keras-OpenFace CSVs + the converter's fill of the five missing tensors,
face-api's manifest), sharing no code with the converter or the engine. The C side is
tests/drivers/grad_driver.c: fnet_trainer_create (trainable "*", input_grad 1),
fnet_trainer_forward, fnet_trainer_backward.

On real aligned faces (3 LFPW test faces aligned as OpenFace does for nn4; 3 dlib 150 px chips
of the ResNet goldens):
  1. forward: torch's embeddings equal fnet_embed_tensor's (tests/drivers/nn4_driver.c) and the
     trainer's forward, max abs diff <= 1e-5 (float32 engine; we see ~3e-7);
  2. L = sum_i r_i . emb_i (r fixed, normal): for every trainable tensor and for dL/d input,
     err = max|g_C - g_ref| / scale, scale = the tensor's largest reference gradient entry
     (of the batch, or of one input alone if larger: the fc bias of ResNet's triplet loss sums
     to 0 over the batch), must be <= TOL = 1e-4; the trainable set must be every conv and
     dense tensor, named and shaped as the blob and the reference name them;
  3. a triplet loss over the 3 faces (anchor 0, positive 1, negative 2, alpha chosen so the
     hinge is active), computed in C by fnet_triplet_loss on the trainer's own embeddings:
     loss, dL/d emb and every gradient as in 2;
  4. the batch spread over 2 threads gives bit-identical gradients;
  5. the check has teeth: the reference with one planted slip (tools/reference/torch_ref.py --slip:
     LRN beta 0.76, a pooling branch padded on the other side, a transposed square weight)
     must make the comparison of 2 FAIL, both against the correct reference and against C.
Kinks. A float32 engine and a float64 reference cannot agree on every ReLU and max-pool
decision: where a pre-activation is within float32 rounding of 0 (or a max-pool window's two
largest entries are within rounding of each other) the engine may take the other side, and
the gradient then differs by that kink's whole backward cone (up to 3% of a tensor's largest
entry here: a handful of such kinks per face, most of them near-ties in the first max pool).
torch_ref.Kinks lists the candidates from the reference alone (within 1x the float32 reach
measured per layer by the same graph in float32) and the exact change each one makes when it
takes the other side; a kink is counted as taken when the difference C - reference, on the
entries that kink moves, is that change times s with 0.5 <= s <= 1.5 (s comes out 1.0000 for
the taken ones, ~0 for the others). The comparison of 2 and 3 is made after adding the taken
kinks' changes to the reference; the raw error is printed too. At most half the candidates
may be taken (an engine taking nearly all would have a kink convention of its own). The slips
are judged the same way (their differences are dense, no set of kinks explains them).
TOL: after the kinks, the float32 rounding of the weights and of the activations leaves about
1e-6 relative (see the printed errors); the weakest slip (LRN beta 0.75 -> 0.76) moves some
tensor's gradient by a few percent.
Run from the repository root. Weights: $FNET_WEIGHTS (default weights/), shared data
$FNET_SHARED (default ../shared).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

from fnet_testlib import check, skip, finish  # noqa: E402

TOL = 1e-4
FWD_TOL = 1e-5
N_FACES = 3


def shared(rel):
    p = os.path.join(os.environ.get("FNET_SHARED", "../shared"), rel)
    return p if os.path.exists(p) else None


def weights(name):
    p = os.path.join(os.environ.get("FNET_WEIGHTS") or "weights", name)
    return p if os.path.exists(p) else None


# ---- inputs ---------------------------------------------------------------------------------

def nn4_faces():
    """3 LFPW test faces, OpenFace-aligned (outer eyes and nose, cv2.warpAffine), / 255."""
    import nn4_fill_report
    return np.stack([x for _, x in nn4_fill_report.lfpw_faces(N_FACES)]).astype(np.float32)


def resnet_faces():
    """3 dlib 150 px chips of the ResNet goldens (2 LFW, 1 dlib example photo), as the
    golden test cuts them, normalised as dlib does ((pixel - mean) / 256)."""
    import stb_rgb
    import torch_ref
    g = json.load(open("tests/golden/faceapi_descriptors.json"))
    picks = [g["inputs"][i] for i in (4, 0, 6)]
    out = []
    for inp in picks:
        photo = stb_rgb.load(os.path.join(shared("data"), inp["image"]))
        if photo is None:
            return None
        chip = stb_rgb.dlib_chip(photo, np.array(inp["points"], np.float64).reshape(68, 2), 150)
        out.append(torch_ref.resnet_input(chip))
    return np.stack(out)


# ---- the C side -----------------------------------------------------------------------------

def build(tmp, src, name):
    exe = os.path.join(tmp, name)
    p = subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror", "-I.",
                        src, "-o", exe, "-lm", "-lpthread"], capture_output=True, text=True)
    return exe if p.returncode == 0 else "build failed:\n" + p.stderr[-3000:]


def c_embed(exe, blob, x):
    p = subprocess.run([exe, blob, "scalar", str(len(x))], input=x.astype("<f4").tobytes(),
                       capture_output=True)
    if p.returncode != 0:
        return None
    return np.frombuffer(p.stdout, "<f4").reshape(len(x), -1).astype(np.float64)


def c_grads(exe, blob, x, gemb=None, alpha=None, threads=1):
    """-> dict(emb, loss, gemb, grads {name: array in blob layout}, gin) or an error string."""
    if alpha is None:
        args, stdin = ["linear", str(threads)], x.astype("<f4").tobytes() + gemb.astype("<f4").tobytes()
    else:
        args, stdin = ["triplet", repr(alpha), str(threads)], x.astype("<f4").tobytes()
    t0 = time.time()
    p = subprocess.run([exe, blob, str(len(x))] + args, input=stdin, capture_output=True)
    secs = time.time() - t0
    if p.returncode != 0:
        return "grad_driver exit %d: %s" % (p.returncode, p.stderr.decode(errors="replace")[-2000:])
    b, pos = p.stdout, 0

    def i32(k=1):
        nonlocal pos
        v = struct.unpack_from("<%di" % k, b, pos)
        pos += 4 * k
        return v

    def f32(k):
        nonlocal pos
        v = np.frombuffer(b, "<f4", k, pos).astype(np.float64)
        pos += 4 * k
        return v
    try:
        n, d, s = i32(3)
        out = {"emb": f32(n * d).reshape(n, d), "loss": float(f32(1)[0]),
               "gemb": f32(n * d).reshape(n, d), "grads": {}, "secs": secs}
        (T,) = i32()
        for _ in range(T):
            (ln,) = i32()
            name = b[pos:pos + ln].decode()
            pos += ln
            (nd,) = i32()
            shape = i32(nd)
            out["grads"][name] = f32(int(np.prod(shape))).reshape(shape)
        out["gin"] = f32(n * s * s * 3).reshape(n, s, s, 3)
    except (struct.error, ValueError) as e:
        return "grad_driver output unreadable: %s" % e
    if pos != len(b):
        return "grad_driver wrote %d bytes more than expected" % (len(b) - pos)
    return out


# ---- comparison -----------------------------------------------------------------------------

class Residual:
    """C - reference for one loss (or one slipped reference), every tensor and the input,
    with the scale of each (max |reference|, or `floor`'s value if larger), corrected kink by
    kink (see the module comment)."""

    def __init__(self, c, ref_g, ref_gin, loss, floor=None):
        self.loss = loss
        self.problems = []
        if set(c["grads"]) != set(ref_g):
            self.problems.append("trainable set differs: only in C %s, only in the reference %s" %
                                 (sorted(set(c["grads"]) - set(ref_g))[:5], sorted(set(ref_g) - set(c["grads"]))[:5]))
        self.R, self.scale = {}, {}
        pairs = [(k, c["grads"][k], ref_g[k]) for k in ref_g if k in c["grads"]]
        pairs.append(("input", c["gin"], ref_gin))
        for k, gc, gr in pairs:
            if gc.shape != gr.shape:
                self.problems.append("%s: shape %s in C, %s in the reference" % (k, gc.shape, gr.shape))
            elif not np.all(np.isfinite(gc)):
                self.problems.append("%s: non-finite gradient in C" % k)
            else:
                self.R[k] = gc - gr
                self.scale[k] = max(float(np.abs(gr).max()), (floor or {}).get(k, 0.0))
        self.raw = self.errors()
        self.taken = []

    def offer(self, what, delta):
        """Takes the kink if the difference, on the entries its change moves, is that change
        times s, 0.5 <= s <= 1.5."""
        dw = dict((k, delta[k] / self.scale[k]) for k in self.R if self.scale[k] > 0)
        effect = max(float(np.abs(v).max()) for v in dw.values())
        if effect < 1e-6:          # below float32 noise: cannot matter at TOL, cannot be judged
            return None
        num = den = 0.0
        for k, v in dw.items():
            m = np.abs(v) >= 0.05 * effect
            if m.any():
                num += float((self.R[k][m] / self.scale[k] * v[m]).sum())
                den += float((v[m] ** 2).sum())
        s = num / den
        if 0.5 <= s <= 1.5:
            for k in self.R:
                self.R[k] -= delta[k]
            self.taken.append((what, s, effect))
        return s

    def errors(self):
        return dict((k, float(np.abs(r).max()) / self.scale[k] if self.scale[k] > 0
                     else (0.0 if not np.abs(r).max() else np.inf)) for k, r in self.R.items())

    def ok(self):
        return not self.problems and all(e <= TOL for e in self.errors().values())


def worst(errs):
    k = max(errs, key=errs.get)
    return "%s %.3g" % (k, errs[k])


def ref_vs_ref(ga, gina, gb, ginb):
    """Is the slipped reference a (posing as C) within TOL of the correct one b?"""
    return Residual({"grads": ga, "gin": gina}, gb, ginb, 0)


# ---- one network ----------------------------------------------------------------------------

def run_net(label, make_net, slips, blob, x, drivers):
    import torch
    import torch_ref
    t0 = time.time()
    net = make_net(None)
    ref_emb = net.forward(x).detach().numpy()
    fwd_exe, grad_exe = drivers
    ce = c_embed(fwd_exe, blob, x)
    check(ce is not None, "%s: nn4_driver (fnet_embed_tensor) failed" % label)
    if ce is not None:
        d = np.abs(ce - ref_emb).max()
        print("%s forward: torch vs fnet_embed_tensor max abs diff %.3g (embedding max %.3g)" %
              (label, d, np.abs(ref_emb).max()))
        check(d <= FWD_TOL, "%s: torch forward differs from the engine by %.3g" % (label, d))

    r = np.random.default_rng(20240613).standard_normal(ref_emb.shape)
    rt = torch.tensor(r)
    emb, g, gin, _ = net.grads(x, lambda e: (e * rt).sum())
    check(len(g) > 0 and all(np.abs(v).max() > 0 for v in g.values()) and np.abs(gin).max() > 0,
          "%s: a reference gradient is all zero: the check could not see errors in it" % label)

    # triplet loss (anchor 0, positive 1, negative 2), alpha so that the hinge is well open
    dap = float(((emb[0] - emb[1]) ** 2).sum())
    dan = float(((emb[0] - emb[2]) ** 2).sum())
    alpha = max(0.25, np.ceil((dan - dap + 0.2) * 4) / 4)

    def triplet(e):
        return torch.clamp(((e[0] - e[1]) ** 2).sum() - ((e[0] - e[2]) ** 2).sum() + alpha, min=0)
    temb, tg, tgin, tloss = net.grads(x, triplet)
    te = torch.tensor(temb, requires_grad=True)
    triplet(te).backward()
    t_gemb = te.grad.numpy()

    # slips, against the correct reference
    slipped = {}
    for s in slips:
        sg, sgin = make_net(s).grads(x, lambda e: (e * rt).sum())[1:3]
        slipped[s] = (sg, sgin)
        rr = ref_vs_ref(sg, sgin, g, gin)
        print("  slip %-9s: slipped vs correct reference, worst %s" % (s, worst(rr.errors())))
        check(not rr.ok(), "%s slip %s: the comparison passes (worst %s): it could not see this mistake"
              % (label, s, worst(rr.errors())))
    print("%s reference: %d tensors, float64 autograd (2 losses, %d slips) %.1f s" %
          (label, len(g), len(slips), time.time() - t0))

    if grad_exe.startswith("build failed"):
        check(False, "%s: grad_driver: %s" % (label, grad_exe))
        return
    c = c_grads(grad_exe, blob, x, gemb=r)
    check(isinstance(c, dict), "%s: %s" % (label, c))
    if not isinstance(c, dict):
        return
    d = np.abs(c["emb"] - ref_emb).max()
    print("%s trainer forward+backward (batch %d, 1 thread) %.2f s; forward vs torch %.3g" %
          (label, len(x), c["secs"], d))
    check(d <= FWD_TOL, "%s: fnet_trainer_forward differs from torch by %.3g" % (label, d))

    ct = c_grads(grad_exe, blob, x, alpha=alpha)
    check(isinstance(ct, dict), "%s triplet: %s" % (label, ct))
    if isinstance(ct, dict):
        dl = abs(ct["loss"] - tloss)
        dge = np.abs(ct["gemb"] - t_gemb).max()
        print("%s triplet (alpha %.2f, loss %.5f): fnet_triplet_loss loss diff %.3g, dL/d emb diff %.3g" %
              (label, alpha, tloss, dl, dge))
        check(tloss > 0.1, "%s: the triplet is not active (loss %g): its gradient would be 0" % (label, tloss))
        check(dl <= 1e-5 * max(1.0, tloss), "%s: fnet_triplet_loss %.7g, torch %.7g" % (label, ct["loss"], tloss))
        check(dge <= 1e-5, "%s: fnet_triplet_loss's dL/d emb differs by %.3g" % (label, dge))

    c2 = c_grads(grad_exe, blob, x, gemb=r, threads=2)
    check(isinstance(c2, dict), "%s 2 threads: %s" % (label, c2))
    if isinstance(c2, dict):
        same = all(np.array_equal(c2["grads"][k], c["grads"][k]) for k in c["grads"]) and \
            np.array_equal(c2["gin"], c["gin"])
        print("%s 2 threads: %s (%.2f s)" % (label, "bit-identical" if same else "DIFFERENT", c2["secs"]))
        check(same, "%s: gradients with 2 threads differ from 1 thread" % label)

    # C - reference for each loss and each slipped reference, then the kinks
    t1 = time.time()
    net32 = make_net(None).to(torch.float32)
    kinks = torch_ref.Kinks(net, net32, x, [r, t_gemb])
    maxima = kinks.maxima
    sets = [("linear", Residual(c, g, gin, 0, maxima[0]))]
    if isinstance(ct, dict):
        sets.append(("triplet", Residual(ct, tg, tgin, 1, maxima[1])))
    sets += [("slip " + s, Residual(c, sg, sgin, 0)) for s, (sg, sgin) in slipped.items()]
    for name, rs in sets:
        for p in rs.problems:
            check(False, "%s %s: %s" % (label, name, p))
    n = 0
    for what, deltas in kinks:
        n += 1
        for _, rs in sets:
            rs.offer(what, deltas[rs.loss])
    print("%s kinks: %d candidates within float32 reach, %.1f s" % (label, n, time.time() - t1))
    for name, rs in sets:
        errs = rs.errors()
        if name.startswith("slip"):
            ok = rs.ok()
            print("  %-14s C vs slipped reference: worst %s (raw %s) -> %s" %
                  (name, worst(errs), worst(rs.raw), "FAIL (as it must)" if not ok else "pass"))
            check(not ok, "%s: C also agrees with the %s-slipped reference (worst %s)" % (label, name, worst(errs)))
            continue
        ev = np.array(list(errs.values()))
        print("%s %s loss: %d tensors + input; raw worst %s; %d kinks taken:" %
              (label, name, len(errs) - 1, worst(rs.raw), len(rs.taken)))
        for what, s, effect in rs.taken:
            print("    %-58s s=%.4f (moves up to %.3g)" % (what, s, effect))
        print("  after the kinks: worst %s, median %.3g, input %.3g" %
              (worst(errs), np.median(ev), errs.get("input", np.nan)))
        bad = sorted(((e, k) for k, e in errs.items() if not e <= TOL), reverse=True)
        for e, k in bad[:10]:
            print("  over tolerance: %-32s %.3g" % (k, e))
        check(rs.ok(), "%s %s: %d of %d gradients beyond %g (worst %s)" %
              (label, name, len(bad), len(errs), TOL, worst(errs)))
        # float32 takes the other side of a few near-kinks, not of most: an engine that took
        # nearly all of them would have a convention of its own (e.g. ReLU open at z <= eps)
        check(len(rs.taken) <= max(3, n // 2), "%s %s: %d of %d kink candidates taken" %
              (label, name, len(rs.taken), n))


def main():
    tmp = tempfile.mkdtemp(prefix="gradtorch")
    try:
        return run_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_all(tmp):
    try:
        import torch
        import torch_ref
    except ImportError as e:
        skip("no torch in this python (%s): apt-get install python3-torch" % e)
        return finish()
    torch.set_num_threads(2)
    t_start = time.time()
    fwd_exe = build(tmp, "tests/drivers/nn4_driver.c", "nn4_driver")
    check(not fwd_exe.startswith("build failed"), "nn4_driver: %s" % fwd_exe)
    if fwd_exe.startswith("build failed"):
        return finish()
    grad_exe = build(tmp, "tests/drivers/grad_driver.c", "grad_driver")
    drivers = (fwd_exe, grad_exe)

    # nn4.small2.v1
    csv = os.environ.get("FNET_OPENFACE_CSV") or shared("weights/openface-nn4.small2.v1")
    blob = weights("nn4.small2.v1.fnet")
    if not csv or not blob or not shared("data/lfpw-test68"):
        skip("nn4: needs the Keras-OpenFace CSVs, %s and ../shared/data/lfpw-test68" %
             os.path.join(os.environ.get("FNET_WEIGHTS") or "weights", "nn4.small2.v1.fnet"))
    else:
        fill = os.path.join(tmp, "filled")
        p = subprocess.run([sys.executable, "tools/convert/keras_openface.py", "dump-filled", csv, "1", fill],
                           capture_output=True, text=True)
        check(p.returncode == 0, "dump-filled: " + p.stderr)
        try:
            x = nn4_faces()
        except ImportError:
            x = None
            skip("nn4: no cv2 to align the LFPW faces")
        if p.returncode == 0 and x is not None:
            run_net("nn4", lambda s: torch_ref.nn4([csv, fill], slip=s),
                    ("lrn_beta", "pad_side", "transpose"), blob, x, drivers)

    # ResNet-34
    manifest = os.path.join(os.environ.get("FNET_WEIGHTS") or "weights",
                            "cache/face-api/package/model/face_recognition_model-weights_manifest.json")
    blob = weights("resnet34.fnet")
    x = resnet_faces() if shared("data") else None
    if not blob or not os.path.exists(manifest) or x is None:
        skip("resnet: needs %s, face-api's manifest in weights/cache and the shared photos" % "resnet34.fnet")
    else:
        run_net("resnet", lambda s: torch_ref.resnet34(manifest, slip=s),
                ("pad_side", "transpose"), blob, x, drivers)
    print("total %.1f s" % (time.time() - t_start))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
