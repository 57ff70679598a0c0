#!/bin/sh
# bench_train.sh - the cost of a training step: forward + backward of nn4.small2 and ResNet-34
# on one batch with every conv and dense tensor trainable, facenet.h's trainer
# (tools/bench/bench_train.c) against PyTorch eager on the same graphs (tools/bench/bench_train_torch.py,
# Debian python3-torch), with 1 and 2 threads each, interleaved in ROUNDS rounds so that
# machine load hits both alike; the best round's median ms per batch is compared.
#   env: FNET_WEIGHTS (blob folder), BATCH (16), ROUNDS (2), ITERS (5)
cd "$(dirname "$0")/../.." || exit 2
W=${FNET_WEIGHTS:-weights}
S=${FNET_BENCH_SUMMARY:-/dev/null}   # one line per comparison for make bench's summary table
BATCH=${BATCH:-16}
ROUNDS=${ROUNDS:-2}
ITERS=${ITERS:-5}
O=build/bench_train.d
mkdir -p "$O"
${CC:-cc} -std=c99 -O2 -I. -Iexamples tools/bench/bench_train.c -o build/bench_train -lm -lpthread || exit 1
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
[ $have_torch = 1 ] || echo "(PyTorch missing: apt-get install python3-torch; its column stays empty)"
grep -m1 -o -w 'avx512f' /proc/cpuinfo >/dev/null && isa="AVX-512" || isa="AVX2"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $isa; batch $BATCH, every conv and dense tensor trainable"
: > "$O/runs.txt"
for net in nn4 resnet; do
    blob=$W/nn4.small2.v1.fnet; [ $net = resnet ] && blob=$W/resnet34.fnet
    [ -f "$blob" ] || { echo "bench_train: $blob missing (make weights)"; exit 1; }
    r=0
    while [ $r -lt "$ROUNDS" ]; do
        r=$((r + 1))
        for t in 1 2; do
            ./build/bench_train "$blob" "$BATCH" $t --iters "$ITERS" | sed "s/^/$net fnet $t /" >> "$O/runs.txt"
            [ $have_torch = 1 ] && /usr/bin/python3 tools/bench/bench_train_torch.py $net "$BATCH" $t --iters "$ITERS" 2>/dev/null \
                | sed "s/^/$net torch $t /" >> "$O/runs.txt"
        done
    done
done
python3 - "$O/runs.txt" "$BATCH" "$S" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    net, tool, t, js = line.split(" ", 3)
    j = json.loads(js)
    key = (net, tool, int(t))
    best[key] = min(best.get(key, 1e30), j["median_ms"])
batch = int(sys.argv[2])
print("%-7s %-8s %14s %14s %8s %12s" % ("net", "threads", "facenet.h ms", "PyTorch ms", "ratio", "images/s"))
for net in ("nn4", "resnet"):
    for t in (1, 2):
        f, p = best.get((net, "fnet", t)), best.get((net, "torch", t))
        print("%-7s %-8d %14s %14s %8s %12s" % (net, t, "%.1f" % f if f else "-", "%.1f" % p if p else "-",
              "%.2fx" % (p / f) if f and p else "-", "%.1f" % (batch * 1000.0 / f) if f else "-"))
        if t == 1 and f:
            with open(sys.argv[3], "a") as s:
                s.write("train step %s, batch %d, 1 thread\tms/batch\t%.1f\t%s\t%s\n" % (
                    net, batch, f, "PyTorch eager" if p else "PyTorch: not installed (sh tools/deps.sh bench)",
                    "%.1f" % p if p else "-"))
PY
