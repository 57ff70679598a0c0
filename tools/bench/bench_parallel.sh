#!/bin/sh
# The caller's threads and batches (make bench; issue 17 items 3 and 4): facenet.h alone,
# 1 thread against 2 workers lent through opts.parallel (detection per image, one ResNet-34
# and one nn4 embedding), and N single embeddings against one fnet_embed_batch of N.
# Images: the first 8 WIDER FACE validation photos of ../shared/data at 640 px. A shared
# machine makes single timings noisy: each comparison interleaves its variants and prints
# best and median, with the load average. FNET_BENCH_REPS (default 15) runs per comparison.
cd "$(dirname "$0")/../.." || exit 2
SHARED=${FNET_SHARED:-../shared}
REPS=${FNET_BENCH_REPS:-15}
W=${FNET_WEIGHTS:-weights}
for b in hog_frontal landmarks68 resnet34 nn4.small2.v1; do
    [ -f "$W/$b.fnet" ] || { echo "bench_parallel: $W/$b.fnet missing (make weights)"; exit 1; }
done
IMGS=$(ls "$SHARED"/data/wider-val-dev/images/*/*.jpg 2>/dev/null | head -n 8)
[ -n "$IMGS" ] || { echo "bench_parallel: no images under $SHARED/data/wider-val-dev"; exit 1; }
mkdir -p build
gcc -std=c99 -O3 -march=native -I. -I/usr/include/stb tools/bench/bench_parallel.c -o build/bench_parallel -lm -lpthread || exit 1
FNET_WEIGHTS=$W build/bench_parallel "$REPS" $IMGS
