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
    build/dlib_bench_detect 640 "$REPS" 0 $IMGS
    build/dlib_bench_detect 640 "$REPS" 1 $IMGS
    build/dlib_bench_detect 0 "$REPS" 0 $IMGS
else
    echo "bench_detect: dlib not installed (apt-get install libdlib-dev): no comparison"
fi
