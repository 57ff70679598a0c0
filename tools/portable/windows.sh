#!/bin/sh
# make windows-test: the MinGW-w64 builds of `make windows` (build/windows/*.exe) run under Wine
# (Debian wine64) against the native x86-64 results:
#   1. every C test in build/windows/ (the same assertions as on Linux: dlib references, golden
#      files, the SSE2/AVX2/AVX-512 kernels against the scalar ones where the CPU has them);
#   2. tools/portable/portable_driver.c (the whole pipeline on 3 photos, every result as text) compared
#      with the x86-64 scalar build by tools/portable/portable_compare.py (blobs and boxes identical,
#      landmarks within 1e-3 px, embeddings within 1e-5; it prints the largest differences);
#   3. fnet.exe detect / landmarks / embed / cluster against build/fnet (Linux, same kernels):
#      the printed results must be byte-identical (Windows' \r\n line ends removed).
# The kernels are chosen at run time by cpuid exactly as on Linux (the driver's `platform` line
# says which). Wine runs in its own prefix, build/windows/wineprefix (created on the first run,
# about 10 s and 700 MB), with WINEDEBUG=-all.
#
# usage: sh tools/portable/windows.sh [TEST-FILTER]
# env:   FNET_WEIGHTS (default weights), FNET_SHARED (default ../shared), WINE (default: wine64
#        on PATH, else /usr/lib/wine/wine64)
set -u
cd "$(dirname "$0")/../.." || exit 2
filter=${1:-}
B=build/windows
S=${FNET_SHARED:-../shared}/data
W=${FNET_WEIGHTS:-weights}
IMAGES="$S/openface-examples/clapton-2.jpg $S/openface-examples/longoria-cooper.jpg $S/dlib-examples/2008_002470.jpg"
status=0

WINE=${WINE:-}
if [ -z "$WINE" ]; then
    if command -v wine64 >/dev/null 2>&1; then WINE=wine64
    elif [ -x /usr/lib/wine/wine64 ]; then WINE=/usr/lib/wine/wine64
    else echo "windows-test: wine64 not installed (apt-get install wine64, or make deps)"; exit 1
    fi
fi
WINEPREFIX=$(pwd)/$B/wineprefix
WINEDEBUG=-all
export WINEPREFIX WINEDEBUG
for img in $IMAGES; do
    [ -f "$img" ] || { echo "windows-test: $img not found (set FNET_SHARED)"; exit 1; }
done
[ -f "$B/portable_driver.exe" ] || { echo "windows-test: run make windows first"; exit 1; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    "$WINE" wineboot -i > "$B/wineboot.log" 2>&1 || { echo "windows-test: wineboot failed"; tail -n 20 "$B/wineboot.log"; exit 1; }
    echo "wine prefix created in $(elapsed "$t0") s ($WINEPREFIX)"
fi

mkdir -p build/tests # the tests write their files there, as under tests/run.sh
echo "== C tests under Wine ($WINE)"
for exe in "$B"/test_*.exe; do
    [ -f "$exe" ] || continue
    n=$(basename "$exe" .exe)
    case "$n" in *"$filter"*) ;; *) continue ;; esac
    t1=$(now)
    "$WINE" "$exe" > "$B/$n.log" 2>&1
    rc=$?
    res=$(tr -d '\r' < "$B/$n.log" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    printf '%-28s %6ss  %s\n' "$n" "$(elapsed "$t1")" "${res:-no result line} (rc $rc)"
    if [ $rc -ne 0 ] || [ -z "$res" ]; then
        status=1; tr -d '\r' < "$B/$n.log" | grep -E 'FAIL|rror' | head -n 10
    fi
done
[ -n "$filter" ] && { echo "windows-test: filtered run, driver and CLI skipped"; exit $status; }

echo
echo "== platform driver under Wine against the x86-64 scalar build"
ref=$B/driver-ref
if ! gcc -std=c99 -Wall -Wextra -pedantic -Werror -O2 -DFNET_NO_SIMD -I. -I/usr/include/stb \
        tools/portable/portable_driver.c -o "$ref" -lm -lpthread > "$ref.build.log" 2>&1; then
    echo "windows-test: the reference driver does not build"; head -n 20 "$ref.build.log"; exit 1
fi
t1=$(now)
"$ref" "$W" $IMAGES > "$B/out-ref.txt" 2> "$B/out-ref.err" || { echo "windows-test: reference driver failed"; status=1; }
# Wine maps the Unix root to drive Z:, so the same paths work; \r\n line ends removed
# shellcheck disable=SC2086
"$WINE" "$B/portable_driver.exe" "$W" $IMAGES 2> "$B/out-win64.err" | tr -d '\r' > "$B/out-win64.txt"
echo "driver: $(elapsed "$t1") s (both builds); $(grep '^platform' "$B/out-win64.txt")"
python3 tools/portable/portable_compare.py "$B/out-ref.txt" "win64-mingw=$B/out-win64.txt" || status=1

echo
echo "== fnet.exe under Wine against build/fnet (byte-identical stdout)"
if [ ! -x build/fnet ]; then
    echo "windows-test: build/fnet missing (make all)"; status=1
else
    I=$S/openface-examples
    for cmd in "detect $I/longoria-cooper.jpg" "landmarks $I/clapton-2.jpg" "embed $I/clapton-2.jpg" \
               "embed --net nn4 $I/clapton-2.jpg" "cluster $I"; do
        # shellcheck disable=SC2086
        FNET_WEIGHTS=$W build/fnet $cmd > "$B/cli-native.txt" 2> /dev/null
        # shellcheck disable=SC2086
        FNET_WEIGHTS=$W "$WINE" "$B/fnet.exe" $cmd 2> "$B/cli-win64.err" | tr -d '\r' > "$B/cli-win64.txt"
        if [ -s "$B/cli-native.txt" ] && cmp -s "$B/cli-native.txt" "$B/cli-win64.txt"; then
            printf '  %-12s identical (%s bytes)\n' "${cmd%% *}" "$(wc -c < "$B/cli-native.txt" | tr -d ' ')"
        else
            printf '  %-12s DIFFERENT: fnet %s\n' "${cmd%% *}" "$cmd"; status=1
            tr -d '\r' < "$B/cli-win64.err" | head -n 5
        fi
    done
fi

echo
echo "windows-test: $(elapsed "$t0") s in all"
if [ $status -eq 0 ]; then echo "windows-test: all passed"; else echo "windows-test: FAILED"; fi
exit $status
