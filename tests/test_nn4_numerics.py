"""nn4.small2.v1 numerics: the converter's blob and facenet.h's engine against the independent
numpy reference tools/reference/ref_nn4.py (Keras graph straight from the CSVs).
needs: numpy

1. The blob, executed op by op in numpy per OPS.md (folded batch norm, PAD, pool padding),
   equals the reference: checks the converter (layouts, folding, pads) without the engine.
2. The C engine (tests/drivers/nn4_driver.c -> fnet_embed_tensor) on every kernel set this CPU has
   (scalar, sse2, avx2, and avx2 built with FNET_NO_AVX512 when the CPU has AVX-512, since the
   AVX2 set then uses AVX-512 conv kernels) equals the reference: max abs diff per embedding element <= 1e-5,
   on 24 inputs: 12 real faces (LFPW, OpenFace-aligned), constant images, random.
   Also fnet_embed on 8-bit crops (the blob's INPUT normalisation, pixel / 255).
3. The test can fail: the reference with one deliberate slip (LRN radius, BN epsilon, one
   padding side) must differ from the engine (or the blob) by more than the tolerance.
The five tensors missing from the shared CSV copy are filled by the converter
(`keras_openface.py dump-filled`) and read by the reference from that folder; with a complete
folder in $FNET_OPENFACE_CSV nothing is filled. Run from the repository root.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

from fnet_testlib import tally, check, skip, finish  # noqa: E402
import fnet_blob  # noqa: E402
import ref_nn4  # noqa: E402

TOL = 1e-5




def shared(rel):
    base = os.environ.get("FNET_SHARED", "../shared")
    p = os.path.join(base, rel)
    return p if os.path.exists(p) else None


# ---- numpy interpreter of a network blob, per OPS.md --------------------------------------

def run_blob(data, x):
    info = fnet_blob.read(data)
    T = [np.asarray(fnet_blob.tensor_values(data, t), dtype=np.float64).reshape(t["shape"])
         for t in info["tensors"]]
    outs = []
    for op in info["ops"]:
        ty, ip, fp = op["type"], op["iparam"], op["fparam"]
        ins = [outs[i] for i in op["inputs"]]
        if ty == fnet_blob.OP_INPUT:
            y = np.asarray(x, dtype=np.float64)
        elif ty in (fnet_blob.OP_CONV, fnet_blob.OP_MAXPOOL, fnet_blob.OP_AVGPOOL, fnet_blob.OP_L2POOL):
            kh, kw, sh, sw, pt, pl, pb, pr = ip[:8]
            t = np.pad(ins[0], ((pt, pb), (pl, pr), (0, 0)))
            win = np.lib.stride_tricks.sliding_window_view(t, (kh, kw), axis=(0, 1))[::sh, ::sw]
            if ty == fnet_blob.OP_CONV:
                y = np.einsum("hwcij,ijco->hwo", win, T[op["tensors"][0]], optimize=True) + T[op["tensors"][1]]
            elif ty == fnet_blob.OP_MAXPOOL:
                y = win.max(axis=(3, 4))
            elif ty == fnet_blob.OP_AVGPOOL:
                y = win.mean(axis=(3, 4))
            else:
                y = np.sqrt((win ** 2).sum(axis=(3, 4)))
        elif ty == fnet_blob.OP_PAD:
            pt, pl, pb, pr = ip[:4]
            y = np.pad(ins[0], ((pt, pb), (pl, pr), (0, 0)))
        elif ty == fnet_blob.OP_LRN:
            r = ip[0]
            alpha, beta, bias = fp[:3]
            sq = ins[0] ** 2
            C = sq.shape[2]
            s = np.stack([sq[:, :, max(0, c - r):c + r + 1].sum(axis=2) for c in range(C)], axis=2)
            y = ins[0] / (bias + alpha * s) ** beta
        elif ty == fnet_blob.OP_CONCAT:
            y = np.concatenate(ins, axis=2)
        elif ty == fnet_blob.OP_DENSE:
            y = (ins[0].reshape(-1) @ T[op["tensors"][0]] + T[op["tensors"][1]]).reshape(1, 1, -1)
        elif ty == fnet_blob.OP_L2NORM:
            y = ins[0] / np.sqrt(max(np.sum(ins[0] ** 2), fp[0]))
        else:
            raise ValueError("op type %d not used by nn4" % ty)
        if op["flags"] & 1:
            y = np.maximum(y, 0.0)
        if tuple(y.shape) != tuple(ip[9:12]):
            raise ValueError("op %s: shape %s, blob says %s" % (op["name"], y.shape, ip[9:12]))
        outs.append(y)
    return outs[-1].reshape(-1)


# ---- inputs --------------------------------------------------------------------------------

def face_crops(n):
    """Real faces: LFPW test photos aligned as OpenFace does (outer eyes and nose onto its
    template, cv2.warpAffine) from their ground-truth 68 points (tools/eval/nn4_fill_report.py)."""
    if not shared("data/lfpw-test68"):
        return []
    try:
        import nn4_fill_report
        return [x for _, x in nn4_fill_report.lfpw_faces(n)]
    except ImportError:  # no cv2
        return []


def inputs():
    rng = np.random.default_rng(1234)
    xs = [("face%d" % i, x) for i, x in enumerate(face_crops(12))]
    xs += [("const0", np.zeros((96, 96, 3))), ("const0.5", np.full((96, 96, 3), 0.5)),
           ("const1", np.ones((96, 96, 3))), ("gray-ramp", np.tile(np.linspace(0, 1, 96)[None, :, None], (96, 1, 3)))]
    while len(xs) < 24:
        xs.append(("rand%d" % len(xs), rng.random((96, 96, 3))))
    return xs


# ---- the C engine --------------------------------------------------------------------------

def build_driver(tmp, defines=()):
    exe = os.path.join(tmp, "nn4_driver" + "".join(d.replace("-D", "_") for d in defines))
    cc = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror", "-I."] + list(defines) + \
         ["tests/drivers/nn4_driver.c", "-o", exe, "-lm", "-lpthread"]
    p = subprocess.run(cc, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("nn4_driver does not build:\n" + p.stderr[-2000:])
    return exe


def run_engine(exe, blob_path, isa, xs, u8=False):
    """-> (status, array N x 128 or message). status: ok | unsupported | unimplemented | error.
    u8: xs are uint8 RGB crops, run through fnet_embed (the blob's INPUT normalisation)."""
    inp = np.ascontiguousarray(np.stack(xs).astype(np.uint8 if u8 else "<f4"))
    p = subprocess.run([exe, blob_path, isa, str(len(xs))] + (["u8"] if u8 else []),
                       input=inp.tobytes(), capture_output=True)
    if p.returncode == 3:
        return "unsupported", p.stderr.decode(errors="replace").strip()
    if p.returncode == 4:
        return "unimplemented", p.stderr.decode(errors="replace").strip()
    if p.returncode != 0:
        return "error", "exit %d: %s" % (p.returncode, p.stderr.decode(errors="replace").strip())
    out = np.frombuffer(p.stdout, dtype="<f4")
    if out.size != 128 * len(xs):
        return "error", "driver wrote %d floats, expected %d" % (out.size, 128 * len(xs))
    return "ok", out.reshape(len(xs), 128).astype(np.float64)


def main():
    csv = os.environ.get("FNET_OPENFACE_CSV") or shared("weights/openface-nn4.small2.v1")
    if not csv:
        skip("no Keras-OpenFace CSV folder (../shared/weights/openface-nn4.small2.v1 or $FNET_OPENFACE_CSV)")
        return finish()
    tmp = tempfile.mkdtemp(prefix="nn4num")
    fill = os.path.join(tmp, "filled")
    blob_path = os.path.join(tmp, "nn4.fnet")
    p = subprocess.run([sys.executable, "tools/convert/keras_openface.py", "dump-filled", csv, "1", fill],
                       capture_output=True, text=True)
    check(p.returncode == 0, "dump-filled: " + p.stderr)
    p = subprocess.run([sys.executable, "tools/convert_weights.py", "keras-csv", csv, blob_path,
                        "--fill-missing", "1"], capture_output=True, text=True)
    check(p.returncode == 0, "convert: " + p.stderr)
    if tally.failed:
        return finish()
    w = ref_nn4.load([csv, fill])
    with open(blob_path, "rb") as f:
        data = f.read()
    xs = inputs()
    names = [n for n, _ in xs]
    arr = [x for _, x in xs]
    nfaces = sum(1 for n in names if n.startswith("face"))
    if nfaces == 0:
        skip("no LFPW faces (../shared/data/lfpw-test68) or no cv2: random and constant inputs only")
    ref = np.stack([ref_nn4.embed(w, x) for x in arr])
    print("inputs: %d (%d real faces); reference norms %.6f..%.6f" %
          (len(arr), nfaces, np.linalg.norm(ref, axis=1).min(), np.linalg.norm(ref, axis=1).max()))
    # The fill must keep inputs apart, or the comparison below could not see mistakes.
    if nfaces >= 2:
        f = ref[:nfaces]
        cos = (f @ f.T)[np.triu_indices(nfaces, 1)]
        print("cosine between different faces: min %.3f median %.3f max %.3f" %
              (cos.min(), np.median(cos), cos.max()))
        check(cos.max() < 0.995, "embeddings of different faces nearly identical (max cosine %.4f)" % cos.max())

    # 1. blob interpreted by numpy vs reference
    nb = min(6, len(arr))
    blob_out = np.stack([run_blob(data, x) for x in arr[:nb]])
    d = np.abs(blob_out - ref[:nb]).max()
    print("numpy blob interpreter vs reference: max abs diff %.3g (%d inputs)" % (d, nb))
    check(d <= 1e-6, "numpy execution of the blob differs from the reference by %.3g" % d)

    # 3a. slips in the reference must exceed the tolerance, against the unslipped reference
    # (which step 2 compares with the engine) on a few faces, a constant and random inputs
    sub = [i for i, n in enumerate(names) if n in ("face0", "face1", "face2", "face3", "const1")] + \
        [i for i, n in enumerate(names) if n.startswith("rand")][-3:]
    slips = {}
    for slip in ("lrn_radius", "bn_eps", "pad_side"):
        s = np.stack([ref_nn4.embed(w, arr[i], slip=slip) for i in sub])
        slips[slip] = s
        ds = np.abs(s - ref[sub]).max()
        print("slip %-10s: slipped vs correct reference max abs diff %.3g (tolerance %g)" % (slip, ds, TOL))
        check(ds > 2 * TOL, "slip %s changes the embedding by only %.3g: the test could not see it" % (slip, ds))

    # 2. the C engine, every kernel set
    check(os.path.exists("tests/drivers/nn4_driver.c"), "tests/drivers/nn4_driver.c is part of the repository")
    if os.path.exists("tests/drivers/nn4_driver.c"):
        exe = build_driver(tmp)
        runs = [(exe, isa, isa) for isa in ("scalar", "sse2", "avx2")]
        try:
            with open("/proc/cpuinfo") as f:
                avx512 = " avx512f" in f.read()
        except OSError:
            avx512 = False
        if avx512:  # the AVX2 kernel set uses AVX-512 conv kernels here: test plain AVX2 too
            runs.append((build_driver(tmp, ["-DFNET_NO_AVX512"]), "avx2", "avx2-no512"))
        for drv, isa, label in runs:
            st, out = run_engine(drv, blob_path, isa, arr)
            if st == "unsupported":  # the one allowed skip (tests/skip_allowlist.txt)
                skip("%s kernels not supported here" % isa)
                continue
            check(st == "ok", "engine %s: %s" % (label, out))
            if st != "ok":
                continue
            diff = np.abs(out - ref)
            worst = int(diff.max(axis=1).argmax())
            print("engine %-10s vs reference: max abs diff %.3g (worst input %s), mean %.3g" %
                  (label, diff.max(), names[worst], diff.mean()))
            check(diff.max() <= TOL, "engine %s differs from the reference by %.3g > %g on %s" %
                  (label, diff.max(), TOL, names[worst]))
            for slip, s in slips.items():
                ds = np.abs(out[sub] - s).max()
                print("  slip %-10s: engine %s vs slipped reference %.3g" % (slip, label, ds))
                check(ds > TOL, "engine %s cannot tell the %s slip (%.3g)" % (label, slip, ds))
        # fnet_embed on 8-bit crops: the blob's INPUT op divides by 255 (mean 0), RGB order
        faces8 = [np.round(arr[i] * 255.0).astype(np.uint8) for i, n in enumerate(names) if n.startswith("face")]
        faces8.append(np.random.default_rng(7).integers(0, 256, (96, 96, 3)).astype(np.uint8))
        st, out = run_engine(exe, blob_path, "auto", faces8, u8=True)
        check(st == "ok", "fnet_embed on 8-bit crops: %s" % (out,))
        if st == "ok":
            r8 = np.stack([ref_nn4.embed(w, f.astype(np.float64) / 255.0) for f in faces8])
            d8 = np.abs(out - r8).max()
            print("fnet_embed (8-bit RGB crops, auto isa) vs reference(pixel / 255): max abs diff %.3g (%d crops)" % (d8, len(faces8)))
            check(d8 <= TOL, "fnet_embed differs from the reference by %.3g" % d8)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
