#!/bin/sh
# Runs every test of facenet.h and prints one closing line "N passed, M failed, K skipped".
#   tests/test_*.c   built twice: optimised (gcc -O2) and with ASan+UBSan (clang or gcc -O1),
#                    each run from the repository root; each prints its own counts. The
#                    sanitized run has FNET_TEST_SANITIZED=1 set, so a slow test may use a subset.
#   tests/test_*.py  run with python3; a test whose first lines say "needs: numpy" runs with
#                    /usr/bin/python3 (Debian's, with python3-numpy) and is skipped without it.
#   Skips: every skip prints "skip: REASON". A strict run (CI set to anything but "" / "0" /
#   "false", or STRICT=1) fails on any skip whose reason does not match a line of
#   tests/skip_allowlist.txt (the kernels this CPU cannot run), and on a skip without a
#   reason; the closing line lists the skips either way.
#   Each line ends with the test's wall time in seconds (CI has a budget; see .ci/run).
# Usage: sh tests/run.sh [NAME-FILTER]          (STRICT=1 sh tests/run.sh: strict)
set -u
cd "$(dirname "$0")/.." || exit 2
filter=${1:-}
B=build/tests
mkdir -p "$B"
P=0; F=0; S=0
STRICT=${STRICT:-0}
case "${CI:-}" in ""|0|false) ;; *) STRICT=1 ;; esac
ALLOW=tests/skip_allowlist.txt
SKIPS=$B/skips.txt      # "test<TAB>reason<TAB>allowed|NOT ALLOWED", one line per skip
: > "$SKIPS"
allowed() { # reason -> 0 when a pattern of the allowlist matches it
    grep -v -e '^#' -e '^[[:space:]]*$' "$ALLOW" | while IFS= read -r pat; do
        case "$1" in $pat) echo yes; break ;; esac
    done | grep -q yes
}
note_skips() { # name, log, number of skips the test counted
    nreason=0
    grep '^skip: ' "$2" | sed 's/^skip: //' > "$B/.reasons" || true
    while IFS= read -r why; do
        nreason=$((nreason + 1))
        if allowed "$why"; then printf '%s\t%s\tallowed\n' "$1" "$why" >> "$SKIPS"
        else printf '%s\t%s\tNOT ALLOWED\n' "$1" "$why" >> "$SKIPS"; fi
    done < "$B/.reasons"
    if [ "$3" -gt "$nreason" ]; then
        printf '%s\t%s\tNOT ALLOWED\n' "$1" "$(($3 - nreason)) skip(s) without a 'skip:' reason" >> "$SKIPS"
    fi
}
CFLAGS_COMMON="-std=c99 -Wall -Wextra -pedantic -Werror -I. -Itests -I/usr/include/stb"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

tally() { # parse "N passed, M failed, K skipped" from the last line of $1
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -z "$line" ]; then F=$((F + 1)); echo "  (no result line: counted as 1 failure)"; return; fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    P=$((P + p)); F=$((F + f)); S=$((S + s))
    note_skips "$name" "$1" "$s"
}

run() { # name, logfile, command...
    name=$1; log=$2; shift 2
    printf '%-44s ' "$name"
    t0=$(date +%s)
    "$@" > "$log" 2>&1
    rc=$?
    printf '%s  [%ds]\n' "$(tail -n 1 "$log")" "$(($(date +%s) - t0))"
    tally "$log"
    if [ $rc -ne 0 ]; then
        # a failing exit with a result line that counted no failure is one; without a result
        # line tally has counted it already
        case "$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)" in
        *" passed, 0 failed"*) F=$((F + 1)) ;;
        esac
        echo "  exit code $rc; log: $log"; grep -E 'FAIL|ERROR|error|Sanitizer' "$log" | head -n 20
    fi
}

SANCC=gcc; command -v clang >/dev/null 2>&1 && SANCC=clang
for src in tests/test_*.c; do
    [ -e "$src" ] || continue
    n=$(basename "$src" .c)
    case "$n" in *"$filter"*) ;; *) continue ;; esac
    if gcc $CFLAGS_COMMON -O2 "$src" -o "$B/$n" -lm -lpthread 2> "$B/$n.build.log"; then
        run "$n" "$B/$n.log" "$B/$n"
    else
        printf '%-44s build failed\n' "$n"; cat "$B/$n.build.log" | head -n 30; F=$((F + 1))
    fi
    if $SANCC $CFLAGS_COMMON -O1 -g $SAN "$src" -o "$B/$n.san" -lm -lpthread 2> "$B/$n.san.build.log"; then
        FNET_TEST_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run "$n (asan+ubsan)" "$B/$n.san.log" "$B/$n.san"
    else
        printf '%-44s build failed\n' "$n (asan+ubsan)"; head -n 30 "$B/$n.san.build.log"; F=$((F + 1))
    fi
done

for src in tests/test_*.py; do
    [ -e "$src" ] || continue
    n=$(basename "$src" .py)
    case "$n" in *"$filter"*) ;; *) continue ;; esac
    py=python3
    if head -n 5 "$src" | grep -q 'needs: numpy'; then
        py=/usr/bin/python3
        if ! $py -c 'import numpy' 2>/dev/null; then
            printf '%-44s skipped (no numpy in /usr/bin/python3: apt-get install python3-numpy)\n' "$n"
            printf '%s\t%s\tNOT ALLOWED\n' "$n" "no numpy in /usr/bin/python3 (apt-get install python3-numpy)" >> "$SKIPS"
            S=$((S + 1)); continue
        fi
    fi
    run "$n" "$B/$n.log" $py "$src"
done

# the skips, grouped by reason; in a strict run those not on the allowlist are failures
bad=$(grep -c 'NOT ALLOWED$' "$SKIPS" || true)
if [ "$S" -gt 0 ] || [ -s "$SKIPS" ]; then
    echo "skips by reason (test: reason):"
    cut -f 1,2,3 "$SKIPS" | sed 's/ (asan+ubsan)//' | sort | uniq -c | sed 's/\t/: /; s/\t/ -- /'
fi
if [ "$STRICT" = 1 ] && [ "$bad" -gt 0 ]; then
    echo "strict run: $bad skip(s) outside $ALLOW count as failures (a check that could not run did not pass)"
    F=$((F + bad))
fi
echo "$P passed, $F failed, $S skipped ($bad not on the allowlist$([ "$STRICT" = 1 ] && echo ', strict run'))"
[ "$F" -eq 0 ]
