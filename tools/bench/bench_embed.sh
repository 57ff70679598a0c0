#!/bin/sh
# bench_embed.sh - nn4.small2.v1 (96x96 face -> 128-d), batch 1, ms per face: facenet.h vs
# ONNX Runtime (npm onnxruntime-node), OpenCV DNN (Debian python3-opencv) and PyTorch (Debian
# python3-torch, eager and TorchScript), single thread, interleaved in ROUNDS rounds so that
# machine load hits everyone alike; then 2 threads (ours: 2 faces at once on one shared
# model; ORT: intra-op threads). The peers run the same graph: tools/convert/fnet_onnx.py exports the
# blob to ONNX, tools/bench/bench_torch.py writes it in torch.nn.functional; each peer's embedding
# is compared with ours (max abs diff) so that every one computes the same function.
# Reports per tool the median of the best round and the minimum, GFLOP/s (2 x multiply-adds
# of conv + dense) and the fraction of this core's measured FMA peak (bench_embed --peak).
#   env: FNET_WEIGHTS (blob folder), ROUNDS (3), ITERS (30), BLOB (default nn4.small2.v1.fnet)
cd "$(dirname "$0")/../.." || exit 2
W=${FNET_WEIGHTS:-weights}
S=${FNET_BENCH_SUMMARY:-/dev/null}   # one line per comparison for make bench's summary table
BLOB=${BLOB:-$W/nn4.small2.v1.fnet}
ROUNDS=${ROUNDS:-3}
ITERS=${ITERS:-30}
PY=/usr/bin/python3
O=build/bench_embed.d
mkdir -p "$O"
[ -f "$BLOB" ] || { echo "bench_embed: $BLOB missing (make weights)"; exit 1; }
${CC:-cc} -std=c99 -O2 -I. tools/bench/bench_embed.c -o build/bench_embed -lm -lpthread || exit 1
python3 tools/convert/fnet_onnx.py "$BLOB" "$O/net.onnx" > /dev/null || exit 1
set -- $(python3 -c "
import sys; sys.path.insert(0, 'tools/convert'); import fnet_blob
b = fnet_blob.read(open('$BLOB', 'rb').read()); f = b['ops'][0]['fparam']; ip = b['ops'][0]['iparam']
print(ip[0], repr(f[0]), '%r,%r,%r' % (f[1], f[2], f[3]))")
SIZE=$1 DIV=$2 MEAN=$3

have_ort=0; have_cv=0; have_torch=0
[ -d build/npm/node_modules/onnxruntime-node ] && command -v node > /dev/null && have_ort=1
[ $have_ort = 1 ] || echo "(ONNX Runtime skipped: npm install --prefix build/npm onnxruntime-node)"
$PY -c 'import cv2, numpy' 2> /dev/null && have_cv=1 || echo "(OpenCV DNN skipped: apt-get install python3-opencv)"
$PY -c 'import torch' 2> /dev/null && have_torch=1 || echo "(PyTorch skipped: apt-get install python3-torch)"

: > "$O/runs.txt"
./build/bench_embed "$BLOB" --iters 3 --out "$O/e_fnet.txt" | head -n 1
r=0
while [ $r -lt "$ROUNDS" ]; do
    r=$((r + 1))
    ./build/bench_embed --peak >> "$O/runs.txt"
    ./build/bench_embed "$BLOB" --isa auto --iters "$ITERS" | grep '^fnet' >> "$O/runs.txt"
    if ./build/bench_embed --peak | grep -q avx512; then
        ./build/bench_embed "$BLOB" --isa avx2 --no-avx512 --iters "$ITERS" | grep '^fnet' | sed 's/^fnet-avx2/fnet-avx2-only/' >> "$O/runs.txt"
    fi
    [ $have_ort = 1 ] && node tools/bench/bench_ort.js "$O/net.onnx" "$SIZE" "$DIV" "$MEAN" "$ITERS" 1 "$O/e_ort.txt" >> "$O/runs.txt"
    [ $have_cv = 1 ] && $PY tools/bench/bench_opencv.py "$O/net.onnx" "$SIZE" "$DIV" "$MEAN" "$ITERS" "$O/e_opencv.txt" 2> /dev/null >> "$O/runs.txt"
    [ $have_torch = 1 ] && $PY tools/bench/bench_torch.py "$BLOB" $((ITERS / 3 + 1)) "$O/e_torch.txt" >> "$O/runs.txt"
    ./build/bench_embed "$BLOB" --isa auto --iters "$ITERS" --threads 2 | grep '^fnet' | sed "s/^\(fnet-[a-z0-9+]*\)/\1-2threads/" >> "$O/runs.txt"
    [ $have_ort = 1 ] && node tools/bench/bench_ort.js "$O/net.onnx" "$SIZE" "$DIV" "$MEAN" "$ITERS" 2 | sed 's/^ort/ort-2threads/' >> "$O/runs.txt"
done

for p in ort opencv torch; do
    [ -f "$O/e_$p.txt" ] || continue
    paste "$O/e_fnet.txt" "$O/e_$p.txt" | awk -v p=$p '{d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d} END {printf "embedding check: %s vs facenet.h max abs diff %.2g\n", p, m}'
done
GF=$(./build/bench_embed "$BLOB" --iters 1 --isa scalar | sed -n 's/.* \([0-9.]*\) GFLOP,.*/\1/p')
awk -v gf="$GF" -v S="$S" -v stage="$(basename "$BLOB" .fnet), 1 thread" '
/^peak/ { if ($3 > peak[$2]) peak[$2] = $3; next }
/ms\/face/ {
    n = $1; med = $2; mn = $5; sub(/\)/, "", mn)
    if (!(n in best) || med < best[n]) best[n] = med
    if (!(n in lo) || mn < lo[n]) lo[n] = mn
    if (!(n in seen)) { seen[n] = 1; order[++k] = n }
}
END {
    ours = order[1]
    pk = peak["avx512-fma"] > 0 ? peak["avx512-fma"] : peak["avx2-fma"]
    printf "network %.3f GFLOP per face (GFLOP/s below count these direct-convolution flops; Winograd does fewer)\n", gf
    printf "measured FMA peak of one core: avx2 %.1f, avx512 %.1f GFLOP/s (\"of peak\": of the widest)\n", peak["avx2-fma"], peak["avx512-fma"]
    printf "%-22s %10s %10s %9s %8s %12s\n", "tool", "median ms", "min ms", "GFLOP/s", "of peak", "vs facenet.h"
    for (i = 1; i <= k; i++) {
        n = order[i]
        printf "%-22s %10.3f %10.3f %9.1f %7.0f%% %11.2fx\n", n, best[n], lo[n], gf / lo[n] * 1000, (pk > 0 ? 100 * gf / lo[n] * 1000 / pk : 0), best[n] / best[ours]
    }
    fast = ""; for (i = 1; i <= k; i++) if (order[i] !~ /^fnet/ && order[i] !~ /threads/ && (fast == "" || best[order[i]] < best[fast])) fast = order[i]
    if (fast != "") printf "single thread: facenet.h %.2f ms/face, fastest peer %s %.2f ms: %.2fx faster (min-based %.2fx)\n", best[ours], fast, best[fast], best[fast] / best[ours], lo[fast] / lo[ours]
    printf "%s\tms/face\t%.3f\t%s\t%s\n", stage, best[ours], (fast != "" ? fast : "none: no peer ran (sh tools/deps.sh bench)"), (fast != "" ? sprintf("%.3f", best[fast]) : "-") >> S
}' "$O/runs.txt"
