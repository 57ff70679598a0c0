#!/bin/sh
# make fuzz: builds every tests/fuzz/fuzz_*.c with clang -fsanitize=fuzzer,address,undefined,
# writes the seed corpora from real files (tests/fuzz/seeds.py; they live in build/fuzz, not in
# git), runs each target for FUZZ_SECONDS (default 60) and prints executions, crashes, time
# and the coverage libFuzzer reached (edges, features).
# A crash leaves its input in build/fuzz/artifacts-TARGET/: copy it to
# tests/fuzz/regress/TARGET/ (tests/test_fuzz_regress.c replays those under ASan in make test).
# With FUZZ_REGRESS=1 the corpus of each target seeded only from the project's own outputs
# (gallery: galleries and classifiers of our embeddings) is also minimised (libFuzzer
# -merge=1) and its inputs of at most 16 KB, up to 40 (the smallest, then by name), are
# written to tests/fuzz/regress/TARGET/fz-*: coverage-diverse inputs make test replays under
# ASan. The other targets start from shared photos, XML and weight blobs, whose derivatives are
# not committed; their regression inputs are hand-made (tests/fuzz/make_image_regress.py, the
# hostile texts and blobs in tests/test_fuzz_regress.c).
# FUZZ_TIMEOUT (default 20) is libFuzzer's -timeout: wall-clock seconds one input may take
# before it counts as a hang; on a loaded or niced run raise it (a starved process blows it
# on inputs that take 1 s alone: fuzz_blob's real networks under ASan).
# usage: sh tests/fuzz/run.sh [TARGET-FILTER]
#   env: FUZZ_SECONDS, FUZZ_TIMEOUT, FUZZ_REGRESS, FNET_WEIGHTS, FNET_SHARED
set -u
cd "$(dirname "$0")/../.." || exit 2
filter=${1:-}
secs=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-20}
B=build/fuzz
mkdir -p "$B"
if ! command -v clang >/dev/null 2>&1; then echo "fuzz: clang not installed: skipped"; exit 0; fi
status=0
py=/usr/bin/python3; [ -x $py ] || py=python3
$py tests/fuzz/seeds.py "$B/seeds" || exit 1
S=${FNET_SHARED:-../shared}/data
mkdir -p "$B/seeds/gallery"
if cc -std=c99 -O2 -I. -I/usr/include/stb tests/fuzz/seed_gallery.c -o "$B/seed_gallery" -lm 2> "$B/seed_gallery.log"; then
    "$B/seed_gallery" "$B/seeds/gallery" "${FNET_WEIGHTS:-weights}" "$S/openface-examples/clapton-1.jpg" \
        "$S/openface-examples/clapton-2.jpg" "$S/openface-examples/lennon-1.jpg" "$S/openface-examples/lennon-2.jpg" \
        "$S/openface-examples/adams.jpg" || status=1
else
    echo "fuzz: seed_gallery does not build"; head "$B/seed_gallery.log"; status=1
fi
printf '%-16s %10s %8s %8s %7s %16s  %s\n' target executions exec/s crashes seconds coverage notes
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    short=${t#fuzz_}
    case "$t" in *"$filter"*) ;; *) continue ;; esac
    exe=$B/$t
    if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. -I/usr/include/stb "$src" -o "$exe" -lm -lpthread \
        > "$exe.build.log" 2>&1; then
        echo "$t: build failed"; head -n 20 "$exe.build.log"; status=1; continue
    fi
    corpus=$B/corpus-$short
    art=$B/artifacts-$short
    mkdir -p "$corpus" "$art"
    [ -d "$B/seeds/$short" ] && cp -n "$B/seeds/$short"/* "$corpus"/ 2>/dev/null
    [ -d "tests/fuzz/regress/$short" ] && cp -n "tests/fuzz/regress/$short"/* "$corpus"/ 2>/dev/null
    maxlen=131072
    [ "$short" = pipeline ] && maxlen=40000
    # an XML input costs its length: 8 KB hold every element kind (the 50-70 KB shared files
    # are cut there) and run 20 times faster (724 against 22,000 inputs a second)
    [ "$short" = imglab ] && maxlen=8192
    before=$(ls "$art" | wc -l)
    t0=$(date +%s)
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$exe" -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb=4096 -max_len=$maxlen \
        -artifact_prefix="$art/" -print_final_stats=1 "$corpus" > "$exe.log" 2>&1
    rc=$?
    dt=$(( $(date +%s) - t0 ))
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$exe.log" | tail -n 1)
    speed=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$exe.log" | tail -n 1)
    after=$(ls "$art" | wc -l)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$exe.log" | tail -n 1 | sed -E 's/cov: ([0-9]+) ft: ([0-9]+)/\1 edges \2 ft/')
    crashes=$((after - before))
    note=""
    if [ $rc -ne 0 ]; then
        note="rc $rc: $(grep -m1 -E 'ERROR|SUMMARY|runtime error' "$exe.log" | cut -c1-100) (log $exe.log; input in $art)"
        [ $crashes -eq 0 ] && crashes=1
        status=1
    fi
    printf '%-16s %10s %8s %8d %7d %16s  %s\n' "$short" "${runs:-?}" "${speed:-?}" "$crashes" "$dt" "${cov:-?}" "$note"
    if [ "${FUZZ_REGRESS:-0}" = 1 ] && [ $rc -eq 0 ] && [ "$short" = gallery ]; then
        min=$B/min-$short
        rm -rf "$min"; mkdir -p "$min" "tests/fuzz/regress/$short"
        ASAN_OPTIONS=detect_leaks=0 "$exe" -merge=1 -max_len=$maxlen "$min" "$corpus" > "$exe.merge.log" 2>&1
        rm -f "tests/fuzz/regress/$short"/fz-*
        find "$min" -type f -size -16k -printf '%s %f\n' | sort -n -k1,1 -k2,2 | head -n 40 | while read -r _ f; do
            cp "$min/$f" "tests/fuzz/regress/$short/fz-$f"
        done
        echo "    regress/$short: $(ls "tests/fuzz/regress/$short" | grep -c '^fz-') minimised inputs of $(ls "$min" | wc -l)"
    fi
done
exit $status
