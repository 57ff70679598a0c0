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
for s in tools/bench/*.sh; do
    [ -f "$s" ] || continue
    echo
    echo "== $s"
    sh "$s" || { echo "bench: $s failed"; status=1; }
done
exit $status
