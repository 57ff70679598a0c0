#!/bin/sh
# Before/after for issue #19: N randomly mutated LFW photos (tools/eval/mutate_jpegs.py SEED N)
# decoded under ASan+UBSan by stb_image 2.27 alone (as fnet decoded photos before) and through
# examples/image_load.h (the pre-pass, then stb_image), one process per file; prints how many
# end in a sanitizer report, are refused, or decode, and the first sanitizer lines.
# usage: sh tools/eval/image_sanity.sh [SEED [N]]      env: FNET_SHARED (default ../shared)
set -u
cd "$(dirname "$0")/../.." || exit 2
seed=${1:-1}; n=${2:-400}
B=build/image_sanity
mkdir -p "$B"
SAN="-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all"
CC=clang; command -v clang >/dev/null 2>&1 || CC=gcc
$CC -std=c99 $SAN -I. tools/eval/image_sanity.c -o "$B/guard" -lm || exit 1
$CC -std=c99 $SAN -DIMAGE_SANITY_RAW -I. tools/eval/image_sanity.c -o "$B/raw" -lm || exit 1
rm -rf "$B/mut"
python3 tools/eval/mutate_jpegs.py "$seed" "$n" "$B/mut" "${FNET_SHARED:-../shared}/data/lfw-dev" || exit 1
status=0
for mode in raw guard; do
    san=0; refused=0; decoded=0
    : > "$B/$mode.reports"
    for f in "$B"/mut/*.jpg; do
        if UBSAN_OPTIONS=print_stacktrace=0 ASAN_OPTIONS=detect_leaks=1 "$B/$mode" "$f" > "$B/out" 2> "$B/err"; then
            if grep -q ' decoded ' "$B/out"; then decoded=$((decoded + 1)); else refused=$((refused + 1)); fi
        else
            san=$((san + 1))
            printf '%s: %s\n' "$(basename "$f")" "$(grep -m1 -E 'runtime error|ERROR: AddressSanitizer' "$B/err" | sed 's/.*stb_image.h/stb_image.h/' | cut -c1-110)" >> "$B/$mode.reports"
        fi
    done
    label=$([ $mode = raw ] && echo "stb_image 2.27 alone" || echo "image_load.h + stb_image")
    printf '%-26s %d files: %3d sanitizer reports, %3d refused, %3d decoded\n' "$label" "$n" "$san" "$refused" "$decoded"
    sed 's/^[^:]*: //' "$B/$mode.reports" | sort | uniq -c | sed 's/^/  /'
    [ $mode = guard ] && [ $san -ne 0 ] && status=1
done
exit $status
