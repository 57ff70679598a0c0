#!/bin/sh
# make bench: every stage's benchmark (tools/bench_<stage>.sh), each measuring facenet.h and
# its peers in the same run and printing ms and ratios. Nothing here is a pass/fail test.
cd "$(dirname "$0")/.." || exit 2
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
status=0
for b in detect landmarks embed resnet match train train_detector train_landmarks; do
    s=tools/bench_$b.sh
    [ -f "$s" ] || continue
    echo
    echo "== $s"
    sh "$s" || { echo "bench: $s failed"; status=1; }
done
# facenet.wasm against face-api in Node and headless Chromium (issue 16)
if [ -f tools/bench/bench_wasm.sh ]; then
    echo
    echo "== tools/bench/bench_wasm.sh"
    sh tools/bench/bench_wasm.sh || { echo "bench: tools/bench/bench_wasm.sh failed"; status=1; }
fi
exit $status
