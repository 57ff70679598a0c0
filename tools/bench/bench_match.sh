#!/bin/sh
# Matching benchmark: fnet_identify over a 10k gallery (ms per probe, top 5) against numpy
# (np.linalg.norm over the gallery matrix + argpartition) and dlib (length(a - b) over a
# vector of matrix<float,0,1>), on the same random unit vectors, interleaved 3 rounds in the
# same run so machine load affects all alike. Also gallery save+load, k-means, CW.
cd "$(dirname "$0")/../.." || exit 2
S=${FNET_BENCH_SUMMARY:-/dev/null}   # one line per comparison for make bench's summary table
mkdir -p build
cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -I. tools/bench/bench_match.c -o build/bench_match -lm || exit 1
have_dlib=0
if [ -f /usr/include/dlib/matrix.h ] && command -v g++ >/dev/null; then
    g++ -std=c++14 -O2 -DNDEBUG tools/bench/bench_match_dlib.cpp -o build/bench_match_dlib 2>/dev/null && have_dlib=1
fi
have_np=0
/usr/bin/python3 -c 'import numpy' 2>/dev/null && have_np=1
np_bench() {
    /usr/bin/python3 - <<'PY'
import time, numpy as np
x = np.fromfile("build/bench_match.f32", dtype=np.float32).reshape(-1, 128)
g, p = x[:10000], x[10000:]
best, chk = 1e30, 0
for r in range(5):
    t = time.perf_counter()
    for q in p:
        d = np.linalg.norm(g - q, axis=1)
        top = np.argpartition(d, 5)[:5]
        top = top[np.argsort(d[top])]
        chk += int(top[0])
    best = min(best, (time.perf_counter() - t) * 1e3 / len(p))
print("identify_10k_top5 %.4f" % best)
print("identify_checksum %.0f" % (chk / 5))
PY
}
get() { echo "$1" | awk -v k="$2" '$1 == k {print $2}'; }
ours=""; npv=""; dl=""
for round in 1 2 3; do
    o=$(build/bench_match 5) || exit 1
    ours="$ours $(get "$o" identify_10k_top5)"
    [ $round = 1 ] && extra="$o"
    if [ $have_np = 1 ]; then n=$(np_bench); npv="$npv $(get "$n" identify_10k_top5)"; nchk=$(get "$n" identify_checksum); fi
    if [ $have_dlib = 1 ]; then d=$(build/bench_match_dlib 5); dl="$dl $(get "$d" identify_10k_top5)"; dchk=$(get "$d" identify_checksum); fi
done
med() { echo $* | tr ' ' '\n' | sort -g | sed -n 2p; }
o_ms=$(med $ours)
echo "identify, 10,000 people, top 5, ms per probe (median of 3 interleaved rounds, each the best of 5 x 200 probes):"
echo "  facenet.h fnet_identify   $o_ms"
if [ $have_np = 1 ]; then
    n_ms=$(med $npv)
    echo "  numpy norm+argpartition   $n_ms   (ours is $(awk -v a="$n_ms" -v b="$o_ms" 'BEGIN{printf "%.2f", a/b}')x faster)"
    [ "$nchk" = "$(get "$extra" identify_checksum)" ] || echo "  (numpy's nearest people differ from ours: checksum $nchk vs $(get "$extra" identify_checksum))"
fi
if [ $have_dlib = 1 ]; then
    d_ms=$(med $dl)
    echo "  dlib length(a-b) loop     $d_ms   (ours is $(awk -v a="$d_ms" -v b="$o_ms" 'BEGIN{printf "%.2f", a/b}')x faster)"
    [ "$dchk" = "$(get "$extra" identify_checksum)" ] || echo "  (dlib's nearest people differ from ours)"
fi
best=""; bv=""
[ $have_np = 1 ] && best="numpy norm+argpartition" && bv=$n_ms
[ $have_dlib = 1 ] && { [ -z "$bv" ] || awk -v a="$d_ms" -v b="$bv" 'BEGIN{exit !(a < b)}'; } && best="dlib length(a-b) loop" && bv=$d_ms
printf 'identify 10k top 5\tms/probe\t%s\t%s\t%s\n' "$o_ms" "${best:-none (numpy and dlib missing: sh tools/deps.sh bench)}" "${bv:--}" >> "$S"
echo "other (ms, one run): gallery 10k save+load $(get "$extra" gallery_10k_save_load), k-means 2000x128 k=50 $(get "$extra" kmeans_2000_k50), Chinese whispers 2000 $(get "$extra" chinese_whispers_2000)"
