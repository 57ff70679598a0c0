#!/bin/sh
# make bench: every stage's benchmark (tools/bench/bench_<stage>.sh), each measuring facenet.h and
# its peers in the same run and printing ms and ratios. Nothing here is a pass/fail test.
#
# On a fresh clone it first gets the peers itself: the Debian ones (dlib, PyTorch, OpenCV, numpy)
# through tools/deps.sh, ONNX Runtime from npm into build/npm, tfjs and its wasm backend from npm
# into build/node (face-api's weights and code come with make weights). A peer that cannot be had
# is named in the summary with the reason, never dropped silently.
#
# The summary at the end: per stage, facenet.h's figure, the best peer's, and the ratio
# (peer / ours: above 1 means facenet.h is faster), with the CPU, its widest ISA and the kernel
# set facenet.h picked. Each stage's script appends its line to $FNET_BENCH_SUMMARY.
#   env: BENCH_ONLY="detect resnet" runs some stages only; FNET_NO_DEPS=1 skips installing.
cd "$(dirname "$0")/../.." || exit 2
mkdir -p build/bench
FNET_BENCH_SUMMARY=$PWD/build/bench/summary.tsv
export FNET_BENCH_SUMMARY
: > "$FNET_BENCH_SUMMARY"
peers=build/bench/peers.txt
: > "$peers"

# --- the peers
sh tools/deps.sh bench || echo "Debian peers: tools/deps.sh bench failed (see above)" >> "$peers"
if command -v npm > /dev/null; then
    [ -d build/npm/node_modules/onnxruntime-node ] ||
        npm install --silent --ignore-scripts --prefix build/npm onnxruntime-node > build/bench/npm_ort.log 2>&1 ||
        echo "ONNX Runtime: npm install onnxruntime-node failed (build/bench/npm_ort.log)" >> "$peers"
    make -s resnet-node > build/bench/npm_tfjs.log 2>&1 ||
        echo "face-api's tfjs: make resnet-node failed (build/bench/npm_tfjs.log)" >> "$peers"
else
    echo "ONNX Runtime, face-api: no npm (sh tools/deps.sh bench installs Node.js)" >> "$peers"
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
isa=SSE2
grep -q -w avx2 /proc/cpuinfo && isa=AVX2
grep -q -w avx512f /proc/cpuinfo && isa=AVX-512
grep -q -w asimd /proc/cpuinfo && isa=NEON
echo "machine: $cpu, $(nproc) cores, widest ISA $isa"
status=0
for b in ${BENCH_ONLY:-detect landmarks embed resnet match train train_detector train_landmarks wasm}; do
    s=tools/bench/bench_$b.sh
    [ -f "$s" ] || { echo "bench: no $s"; status=1; continue; }
    echo
    echo "== $s"
    sh "$s" || { echo "bench: $s failed"; printf '%s\t-\t-\tFAILED: %s (see above)\t-\n' "$b" "$s" >> "$FNET_BENCH_SUMMARY"; status=1; }
done

echo
echo "== summary: $cpu, $(nproc) cores, widest ISA $isa (facenet.h picks its widest kernel set; ratio = peer / facenet.h, above 1: facenet.h faster)"
awk -F '\t' '
BEGIN { printf "%-40s %-10s %10s  %-32s %10s %7s\n", "stage", "unit", "facenet.h", "best peer", "peer", "ratio" }
{
    r = ($3 + 0 > 0 && $5 + 0 > 0) ? sprintf("%.2fx", $5 / $3) : "-"
    printf "%-40s %-10s %10s  %-32s %10s %7s\n", $1, $2, $3, $4, $5, r
}' "$FNET_BENCH_SUMMARY"
if [ -s "$peers" ]; then
    echo "peers that could not be had:"
    sed 's/^/  /' "$peers"
fi
exit $status
