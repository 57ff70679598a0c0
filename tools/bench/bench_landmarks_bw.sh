#!/bin/sh
# Landmarks against the memory-bandwidth bound (make bench; issue 17 item 5): model bytes read
# per face (counted), the streaming read bandwidth and the leaves' access pattern measured in
# the same run, and fnet_landmarks' time per face on the faces of a few shared photos; built
# with the driver's prefetch distances 0 (none), 8 (the default) and 16. The points checksum
# must be the same for every build (prefetching never changes a result).
cd "$(dirname "$0")/../.." || exit 2
SHARED=${FNET_SHARED:-../shared}
REPS=${FNET_BENCH_REPS:-10}
W=${FNET_WEIGHTS:-weights}
for b in hog_frontal landmarks68; do
    [ -f "$W/$b.fnet" ] || { echo "bench_landmarks_bw: $W/$b.fnet missing (make weights)"; exit 1; }
done
IMGS="$(ls "$SHARED"/data/openface-examples/*.jpg 2>/dev/null | head -n 6) $(ls "$SHARED"/data/wider-val-dev/images/*/*.jpg 2>/dev/null | head -n 4)"
[ -n "$(echo $IMGS)" ] || { echo "bench_landmarks_bw: no photos under $SHARED/data"; exit 1; }
mkdir -p build
for pf in 8 0 16; do
    gcc -std=c99 -O2 -march=native -I. -I/usr/include/stb -DFNET__LM_PREFETCH=$pf tools/bench/bench_landmarks_bw.c \
        -o build/bench_landmarks_bw_$pf -lm || exit 1
done
for pf in 8 0 16; do
    echo "-- prefetch distance $pf"
    FNET_WEIGHTS=$W build/bench_landmarks_bw_$pf "$REPS" $IMGS || exit 1
done
