#!/bin/sh
# Detection benchmark (make bench): facenet.h against dlib's frontal face detector on the same
# images, interleaved in one process (tools/bench/dlib_bench_detect.cpp, both built -O3 -march=native),
# single thread and 2 threads, plus where facenet.h's time goes (tools/bench/bench_detect.c).
# Images: the first 8 WIDER FACE validation photos of ../shared/data, at 640 px wide and at their
# native 1024 px. Set FNET_BENCH_REPS (default 5) for more runs.
cd "$(dirname "$0")/../.." || exit 2
SHARED=${FNET_SHARED:-../shared}
REPS=${FNET_BENCH_REPS:-5}
W=${FNET_WEIGHTS:-weights}
S=${FNET_BENCH_SUMMARY:-/dev/null}   # one line per comparison for make bench's summary table
[ -f "$W/hog_frontal.fnet" ] || { echo "bench_detect: $W/hog_frontal.fnet missing (make weights)"; exit 1; }
IMGS=$(ls "$SHARED"/data/wider-val-dev/images/*/*.jpg 2>/dev/null | head -n 8)
[ -n "$IMGS" ] || { echo "bench_detect: no images under $SHARED/data/wider-val-dev"; exit 1; }
mkdir -p build
gcc -std=c99 -O3 -march=native -I. -I/usr/include/stb tools/bench/bench_detect.c -o build/bench_detect -lm -lpthread || exit 1
export FNET_WEIGHTS=$W
for up in 0 1; do build/bench_detect 640 "$REPS" $up $IMGS; done
if [ -f /usr/include/dlib/image_processing/frontal_face_detector.h ]; then
    g++ -std=c++14 -O3 -march=native -I. -I/usr/include/stb tools/bench/dlib_bench_detect.cpp -o build/dlib_bench_detect \
        -ldlib -llapack -lblas -lpthread || exit 1
    for run in "640 0" "640 1" "0 0" "0 1"; do
        set -- $run
        build/dlib_bench_detect $1 "$REPS" $2 $IMGS | tee build/dlib_bench_detect.out
        px=$1; [ "$px" = 0 ] && px=native
        sed -n "s/^upsample \([01]\),.*facenet.h \([0-9.]*\) ms\/image, dlib \([0-9.]*\) ms\/image.*/detect $px px up\1\tms\/image\t\2\tdlib -O3 -march=native\t\3/p" \
            build/dlib_bench_detect.out >> "$S"
    done
else
    echo "bench_detect: dlib not installed (apt-get install libdlib-dev): no comparison"
    printf 'detect\tms/image\t-\tdlib: not installed (sh tools/deps.sh bench)\t-\n' >> "$S"
fi
