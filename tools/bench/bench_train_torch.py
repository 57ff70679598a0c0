#!/usr/bin/python3
"""bench_train_torch.py - PyTorch's training step cost for the peer column of `make bench`:
forward + backward (every conv and dense tensor trainable, float32, eager mode) of the graphs of
tools/reference/torch_ref.py on one batch, median milliseconds per batch. needs: numpy, torch (Debian
/usr/bin/python3).

    /usr/bin/python3 tools/bench/bench_train_torch.py nn4|resnet BATCH [THREADS] [--iters K]
                     [--input-grad] [--weights upstream|random]

THREADS: torch.set_num_threads (default 1). The loss is sum(r * emb) with a fixed random r
(the backward pass is the same work for any loss on the embedding). --input-grad also asks
for dL/d input. --weights: the upstream weights (nn4: the Keras-OpenFace CSVs in
$FNET_OPENFACE_CSV or $FNET_SHARED/weights/openface-nn4.small2.v1 plus the converter's fill,
cached in build/bench_fill; resnet: face-api's manifest under $FNET_WEIGHTS/cache), or He-normal
random weights of the same shapes (the same arithmetic; the default when the upstream files
are absent). Inputs: uniform noise, normalised as the network expects. Prints one JSON line:
    {"bench": "train_torch", "net": ..., "batch": B, "threads": T, "iters": K,
     "median_ms": ..., "min_ms": ..., "ms_per_face": ..., "cpu_ms": (process CPU time per batch), "input_grad": 0|1,
     "weights": "upstream"|"random", "torch": "1.13.0"}
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
sys.path.insert(0, os.path.join(ROOT, "tools", "convert"))
import torch_ref  # noqa: E402


def nn4_sources():
    csv = os.environ.get("FNET_OPENFACE_CSV") or os.path.join(
        os.environ.get("FNET_SHARED") or os.path.join(ROOT, "..", "shared"), "weights/openface-nn4.small2.v1")
    if not os.path.isdir(csv):
        return None
    fill = os.path.join(ROOT, "build", "bench_fill")
    if not os.path.isdir(fill):
        tmp = fill + ".tmp%d" % os.getpid()
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert", "keras_openface.py"), "dump-filled",
                            csv, "1", tmp], capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write("dump-filled failed: %s\n" % p.stderr)
            return None
        try:
            os.rename(tmp, fill)
        except OSError:  # another run got there first
            pass
    return [csv, fill]


def resnet_source():
    m = os.path.join(os.environ.get("FNET_WEIGHTS") or os.path.join(ROOT, "weights"),
                     "cache/face-api/package/model/face_recognition_model-weights_manifest.json")
    return m if os.path.exists(m) else None


def main(argv):
    ap = argparse.ArgumentParser(description="PyTorch forward+backward per batch")
    ap.add_argument("net", choices=("nn4", "resnet"))
    ap.add_argument("batch", type=int)
    ap.add_argument("threads", type=int, nargs="?", default=1)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--input-grad", action="store_true")
    ap.add_argument("--weights", choices=("upstream", "random"))
    a = ap.parse_args(argv)
    if a.batch < 1 or a.threads < 1 or a.iters < 1:
        ap.error("batch, threads and iters must be positive")
    torch.set_num_threads(a.threads)
    kind = a.weights
    if a.net == "nn4":
        src = nn4_sources() if kind != "random" else None
        if kind == "upstream" and src is None:
            ap.error("no Keras-OpenFace CSVs")
        net = torch_ref.nn4(src, random_weights=None if src else 1)
    else:
        src = resnet_source() if kind != "random" else None
        if kind == "upstream" and src is None:
            ap.error("no face-api manifest")
        net = torch_ref.resnet34(src, random_weights=None if src else 1)
    kind = "upstream" if src else "random"
    net.to(torch.float32)
    rng = np.random.default_rng(7)
    s = net.input_size
    x = rng.random((a.batch, s, s, 3))
    if a.net == "resnet":
        x = torch_ref.resnet_input(x * 255.0)
    x = torch.tensor(np.asarray(x, np.float32))
    r = torch.tensor(rng.standard_normal((a.batch, 128)).astype(np.float32))
    params = [net.params[k] for k in net.order]

    def step():
        for p in params:
            p.grad = None
        xi = x.clone().requires_grad_(a.input_grad)
        emb = net.forward(xi)
        (emb * r).sum().backward()

    for _ in range(2):
        step()
    times, cpu = [], []
    for _ in range(a.iters):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    med = float(np.median(times))
    print(json.dumps({"bench": "train_torch", "net": a.net, "batch": a.batch, "threads": a.threads,
                      "iters": a.iters, "median_ms": round(med, 3), "min_ms": round(min(times), 3),
                      "ms_per_face": round(med / a.batch, 3),
                      "cpu_ms": round(float(np.median(cpu)), 3), "input_grad": int(a.input_grad),
                      "weights": kind, "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
