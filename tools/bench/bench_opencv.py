#!/usr/bin/python3
"""bench_opencv.py - OpenCV DNN (Debian python3-opencv) on the ONNX export of a facenet.h
network (tools/convert/fnet_onnx.py): ms per face, batch 1, one thread.
    /usr/bin/python3 tools/bench/bench_opencv.py MODEL.onnx SIZE DIVISOR MEAN_R,MEAN_G,MEAN_B [ITERS] [OUT]
Same input pattern and output format as tools/bench/bench_ort.js."""
import sys
import time

import cv2
import numpy as np


def main(argv):
    model, size, div, mean = argv[1], int(argv[2]), float(argv[3]), [float(v) for v in argv[4].split(",")]
    iters = int(argv[5]) if len(argv) > 5 else 50
    out = argv[6] if len(argv) > 6 else None
    cv2.setNumThreads(1)
    net = cv2.dnn.readNetFromONNX(model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    i = np.arange(size * size * 3)
    rgb = ((i * 7 + (i // 300) * 13) % 256).astype(np.float32).reshape(size, size, 3)
    x = ((rgb - np.array(mean, np.float32)) / np.float32(div)).transpose(2, 0, 1)[None].copy()
    for _ in range(3):
        net.setInput(x)
        e = net.forward()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        net.setInput(x)
        e = net.forward()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    print("opencv %.3f ms/face (min %.3f)" % (ts[iters // 2], ts[0]))
    if out:
        np.savetxt(out, e.reshape(-1), fmt="%.9g")


if __name__ == "__main__":
    main(sys.argv)
