#!/bin/sh
# Landmarks benchmark: facenet.h's fnet_landmarks against dlib's shape_predictor on the same
# faces and boxes (dlib's golden boxes on the shared photos, WIDER left out to keep it short),
# single thread, 3 interleaved rounds (ours, dlib, ours, dlib, ...) so machine load affects
# both alike; each round is the best of 5 passes over all faces. Also model load time
# (fnet_model_load_file: mmap; fnet_model_load_memory: blob already in memory) against
# dlib's deserialize, and blob sizes against the .dat.
cd "$(dirname "$0")/../.." || exit 2
W=${FNET_WEIGHTS:-weights}
S=${FNET_BENCH_SUMMARY:-/dev/null}   # one line per comparison for make bench's summary table
D=${FNET_SHARED:-../shared}/data
DAT=${DLIB_DAT:-/usr/share/dlib/shape_predictor_68_face_landmarks.dat}
G=tests/golden/dlib_landmarks_up1.jsonl
[ -f "$W/landmarks68.fnet" ] || { echo "bench_landmarks: $W/landmarks68.fnet missing (make weights)"; exit 1; }
[ -d "$D" ] || { echo "bench_landmarks: $D missing (set FNET_SHARED)"; exit 1; }
mkdir -p build
cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -I. -I/usr/include/stb tools/bench/bench_landmarks.c -o build/bench_landmarks -lm || exit 1
have_dlib=0
if [ -f "$DAT" ] && [ -f /usr/include/dlib/image_processing.h ] && command -v g++ >/dev/null; then
    g++ -std=c++14 -O3 -march=native -DNDEBUG -I/usr/include/stb tools/bench/dlib_bench_landmarks.cpp -o build/dlib_bench_landmarks \
        -ldlib -llapack -lblas -lpthread 2>/dev/null && have_dlib=1
fi
compact=""
for v in f16 i16; do [ -f "$W/landmarks68_$v.fnet" ] && compact="$compact $W/landmarks68_$v.fnet"; done
get() { echo "$1" | awk -v k="$2" '$1 == k {print $2}'; }
med() { echo $* | tr ' ' '\n' | sort -g | sed -n 2p; }
o_wall=""; d_wall=""; o_face=""; o_file=""; o_mem=""; o_first=""; d_face=""; d_load=""; o_f16=""; o_i16=""
for round in 1 2 3; do
    o=$(build/bench_landmarks "$W/landmarks68.fnet" "$D" "$G" 5 $compact) || exit 1
    o_face="$o_face $(get "$o" ms_per_face)"; o_wall="$o_wall $(get "$o" wall_ms_per_face)"; o_file="$o_file $(get "$o" load_file_ms)"
    o_mem="$o_mem $(get "$o" load_memory_ms)"; o_first="$o_first $(get "$o" first_face_ms)"
    o_f16="$o_f16 $(get "$o" ms_per_face_landmarks68_f16)"; o_i16="$o_i16 $(get "$o" ms_per_face_landmarks68_i16)"
    ochk=$(get "$o" checksum); nf=$(get "$o" faces); isa=$(get "$o" isa)
    if [ $have_dlib = 1 ]; then
        d=$(build/dlib_bench_landmarks "$DAT" "$D" "$G" 5) || exit 1
        d_face="$d_face $(get "$d" ms_per_face)"; d_wall="$d_wall $(get "$d" wall_ms_per_face)"; d_load="$d_load $(get "$d" deserialize_ms)"; dchk=$(get "$d" checksum)
    fi
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.1f", a/b; else print "-" }'; }
of=$(med $o_face)
echo "68-point landmarks, $nf faces on dlib's boxes, single thread, ms per face of CPU time (median of 3 interleaved rounds):"
echo "  facenet.h fnet_landmarks ($isa)      $of   (wall clock $(med $o_wall))"
if [ -n "$(echo $o_f16)" ]; then echo "  facenet.h, f16 leaves                  $(med $o_f16)"; fi
if [ -n "$(echo $o_i16)" ]; then echo "  facenet.h, i16 leaves                  $(med $o_i16)"; fi
if [ $have_dlib = 1 ]; then
    df=$(med $d_face)
    echo "  dlib shape_predictor (-O3 -march=native) $df   (ours is $(ratio "$df" "$of")x faster; wall clock $(med $d_wall): $(ratio "$(med $d_wall)" "$(med $o_wall)")x)"
    [ "$ochk" = "$dchk" ] && echo "  same rounded points as dlib (checksum $ochk)" || echo "  POINTS DIFFER from dlib's (checksum $ochk vs $dchk)"
    printf 'landmarks 68\tms/face\t%s\tdlib -O3 -march=native\t%s\n' "$of" "$df" >> "$S"
else
    printf 'landmarks 68\tms/face\t%s\tdlib: not built (sh tools/deps.sh bench)\t-\n' "$of" >> "$S"
fi
lf=$(med $o_file); lm=$(med $o_mem)
echo "model load, ms (median of 3 rounds, each the best of 5; dlib: best of 3):"
echo "  fnet_model_load_file (mmap)   $lf   (first face after it: $(med $o_first) ms, faulting pages in)"
echo "  fnet_model_load_memory        $lm"
if [ $have_dlib = 1 ]; then
    dl=$(med $d_load)
    echo "  dlib deserialize(.dat)        $dl   (load_file $(ratio "$dl" "$lf")x, load_memory $(ratio "$dl" "$lm")x faster)"
fi
sz() { [ -f "$1" ] && wc -c < "$1" | tr -d ' ' || echo -; }
echo "sizes, bytes: .dat $(sz "$DAT"), landmarks68.fnet $(sz "$W/landmarks68.fnet"), f16 $(sz "$W/landmarks68_f16.fnet"), i16 $(sz "$W/landmarks68_i16.fnet")"
