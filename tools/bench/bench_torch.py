#!/usr/bin/python3
"""bench_torch.py - PyTorch (Debian python3-torch) running a facenet.h network blob, the
same op graph written with torch.nn.functional (NCHW), batch 1, torch.set_num_threads(1):
eager mode and TorchScript (trace + freeze, oneDNN when available).
    /usr/bin/python3 tools/bench/bench_torch.py NET.fnet [ITERS] [OUT]
Same input pattern and output format as tools/bench/bench_ort.js."""
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "convert"))
import fnet_blob  # noqa: E402


def build(data):
    b = fnet_blob.read(data)
    ops, ts = b["ops"], b["tensors"]

    def tv(k):
        t = ts[k]
        return torch.from_numpy(np.frombuffer(data, np.float32, t["nbytes"] // 4, t["offset"]).reshape(t["shape"]).copy())

    params = {}
    for i, op in enumerate(ops):
        if op["type"] == fnet_blob.OP_CONV:
            params[i] = (tv(op["tensors"][0]).permute(3, 2, 0, 1).contiguous(), tv(op["tensors"][1]))
        elif op["type"] == fnet_blob.OP_DENSE:
            params[i] = (tv(op["tensors"][0]).t().contiguous(), tv(op["tensors"][1]))

    def forward(x):
        v = []
        for i, op in enumerate(ops):
            t, ip, fp = op["type"], op["iparam"], op["fparam"]
            a = v[op["inputs"][0]] if op["inputs"] else x
            if t == fnet_blob.OP_INPUT:
                y = x
            elif t == fnet_blob.OP_CONV:
                y = F.conv2d(F.pad(a, (ip[5], ip[7], ip[4], ip[6])), params[i][0], params[i][1], stride=(ip[2], ip[3]))
                if op["flags"] & 1:
                    y = F.relu(y)
            elif t in (fnet_blob.OP_MAXPOOL, fnet_blob.OP_AVGPOOL, fnet_blob.OP_L2POOL):
                p = F.pad(a, (ip[5], ip[7], ip[4], ip[6]))
                if t == fnet_blob.OP_MAXPOOL:
                    y = F.max_pool2d(p, (ip[0], ip[1]), (ip[2], ip[3]))
                elif t == fnet_blob.OP_AVGPOOL:
                    y = F.avg_pool2d(p, (ip[0], ip[1]), (ip[2], ip[3]))
                else:
                    y = torch.sqrt(F.avg_pool2d(p * p, (ip[0], ip[1]), (ip[2], ip[3])) * (ip[0] * ip[1]))
            elif t == fnet_blob.OP_LRN:
                size = 2 * ip[0] + 1  # torch divides alpha by size, tf.nn.lrn does not
                y = F.local_response_norm(a, size, alpha=fp[0] * size, beta=fp[1], k=fp[2])
            elif t == fnet_blob.OP_CONCAT:
                y = torch.cat([v[k] for k in op["inputs"]], 1)
            elif t == fnet_blob.OP_DENSE:
                if a.dim() == 4:
                    a = a.permute(0, 2, 3, 1).reshape(1, -1)
                y = F.linear(a, params[i][0], params[i][1])
                if op["flags"] & 1:
                    y = F.relu(y)
            elif t == fnet_blob.OP_L2NORM:
                y = a / torch.sqrt(torch.clamp((a * a).sum(), min=fp[0]))
            elif t == fnet_blob.OP_ADD:
                bb = v[op["inputs"][1]]
                if bb.shape[1] < a.shape[1]:
                    bb = F.pad(bb, (0, 0, 0, 0, 0, a.shape[1] - bb.shape[1]))
                y = a + bb
                if op["flags"] & 1:
                    y = F.relu(y)
            elif t == fnet_blob.OP_GLOBAL_AVGPOOL:
                y = a.mean((2, 3), keepdim=True)
            elif t == fnet_blob.OP_PAD:
                y = F.pad(a, (ip[1], ip[3], ip[0], ip[2]))
            else:
                y = F.relu(a)
            v.append(y)
        return v[-1].reshape(1, -1)

    return b, forward


def timed(fn, x, iters):
    with torch.no_grad():
        for _ in range(3):
            e = fn(x)
        ts = []
        for _ in range(iters):
            t0 = time.perf_counter()
            e = fn(x)
            ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return ts[iters // 2], ts[0], e


def main(argv):
    path = argv[1]
    iters = int(argv[2]) if len(argv) > 2 else 20
    out = argv[3] if len(argv) > 3 else None
    torch.set_num_threads(1)
    data = open(path, "rb").read()
    b, forward = build(data)
    size = int(b["meta"].get("input_size", "96"))
    div = float(b["ops"][0]["fparam"][0])
    mean = np.array(b["ops"][0]["fparam"][1:4], np.float32)
    i = np.arange(size * size * 3)
    rgb = ((i * 7 + (i // 300) * 13) % 256).astype(np.float32).reshape(size, size, 3)
    x = torch.from_numpy(((rgb - mean) / np.float32(div)).transpose(2, 0, 1)[None].copy())
    med, mn, e = timed(forward, x, iters)
    print("torch-eager %.3f ms/face (min %.3f)" % (med, mn))
    class Net(torch.nn.Module):
        def forward(self, inp):
            return forward(inp)

    with torch.no_grad():
        ts = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(Net().eval(), x)))
    med, mn, e2 = timed(ts, x, iters)
    print("torch-script %.3f ms/face (min %.3f)" % (med, mn))
    if out:
        np.savetxt(out, e.numpy().reshape(-1), fmt="%.9g")


if __name__ == "__main__":
    main(sys.argv)
