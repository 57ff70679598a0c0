#!/bin/sh
# valgrind memcheck on the fnet CLI: detect, landmarks and embed (nn4) over two photos, plus
# hostile files (text named .jpg, truncated JPEG, a 1x1 PNG). Every run must report no memory
# errors and no leaks (--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all).
# The CLI's own exit code is reported but not judged here (tests/test_cli.py does that).
# usage: sh tools/portable/portable_valgrind.sh     (after make; FNET_WEIGHTS, FNET_SHARED as for make test)
set -u
cd "$(dirname "$0")/../.." || exit 2
W=${FNET_WEIGHTS:-weights}
S=${FNET_SHARED:-../shared}/data
B=build/portable
mkdir -p "$B"
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind: not installed (apt-get install valgrind): skipped"
    exit 0
fi
[ -x build/fnet ] || make -s build/fnet || exit 1
P1=$S/openface-examples/clapton-2.jpg
P2=$S/openface-examples/longoria-cooper.jpg
T=$B/vg-hostile
mkdir -p "$T"
printf 'this is not an image\n' > "$T/text.jpg"
head -c 6000 "$P1" > "$T/truncated.jpg"
# a valid 1x1 grey PNG
printf '\211PNG\r\n\032\n\000\000\000\rIHDR\000\000\000\001\000\000\000\001\010\000\000\000\000:~\233U\000\000\000\nIDATx\234c\370\017\000\000\001\001\000\005\030\330N\000\000\000\000IEND\256B`\202' > "$T/one.png"
status=0
n=0
vg() { # label, args...
    label=$1; shift
    n=$((n + 1))
    log=$B/valgrind-$n.log
    valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
        --track-origins=yes -q --log-file="$log" build/fnet --weights "$W" "$@" > "$log.out" 2> "$log.err"
    rc=$?
    errs=$(grep -c '^==[0-9]*== [A-Z]' "$log")
    if [ $rc -eq 99 ] || [ "$errs" -ne 0 ]; then
        printf '  %-34s FAIL (valgrind found errors: %s)\n' "$label" "$log"; head -n 30 "$log"; status=1
    elif [ $rc -ge 128 ]; then
        printf '  %-34s FAIL (signal, rc %d)\n' "$label" $rc; status=1
    else
        printf '  %-34s clean (cli rc %d)\n' "$label" $rc
    fi
}
vg "info (all blobs)" info $(ls "$W"/*.fnet 2>/dev/null || echo "$W/none.fnet")
vg "detect 2 photos + hostile files" detect "$P1" "$P2" "$T/text.jpg" "$T/truncated.jpg" "$T/one.png"
vg "landmarks 2 photos" landmarks "$P1" "$P2"
vg "embed nn4 1 photo" embed --net nn4 "$P1"
vg "align 1 photo" align "$P1" "$B/vg-align.png"
[ $status -eq 0 ] && echo "valgrind: $n runs, no errors, no leaks"
exit $status
