#!/bin/sh
# make portable: facenet.h on the platforms we never see, compared with the x86-64 scalar build.
#
#   1. Matrix. tools/portable/portable_driver.c (the whole pipeline on 3 real photos, every result as
#      text) and the platform-independent tests (PORTABLE_TESTS) are built with
#        gcc and clang, C99 and C++, -O0 and -O2, FNET_NO_SIMD,
#        -m32 -msse2 -mfpmath=sse (i386, SSE2 kernels; Debian gcc-multilib),
#        aarch64 (NEON) and s390x (big-endian), cross-compiled static with clang --target
#        (and aarch64_be, compile only: NEON off on big-endian ARM)
#        and run under qemu-user; wasm32-wasi, scalar and SIMD128 (clang + wasi-libc through
#        tools/wasm/cc.sh), run under Node's node:wasi (tools/wasm/node_wasi). Debian
#        packages: qemu-user binutils-aarch64-linux-gnu binutils-s390x-linux-gnu libc6-dev-arm64-cross libc6-dev-s390x-cross
#        libgcc-12-dev-arm64-cross libgcc-12-dev-s390x-cross (Debian's gcc-aarch64-linux-gnu
#        and gcc-s390x-linux-gnu conflict with gcc-multilib, which the -m32 builds need; when
#        they are installed instead, the gcc cross builds run too). The tests run on the reference, C++, i386,
#      aarch64 and s390x builds (tests/run.sh covers x86-64). Each build's driver output is
#      compared with the reference build (x86-64 gcc -O2
#      -DFNET_NO_SIMD) by tools/portable/portable_compare.py: identical blob data and boxes, landmarks
#      within 1e-3 px, embeddings within 1e-5.
#      Compile only: the header for Cortex-M0/M4/M7 (newlib) and 32-bit RISC-V (picolibc),
#      bare metal; MSVC and clang-cl (parsed by clang in MS mode, tools/portable/msvc_check.sh).
#      Run: the driver on a Cortex-M7 without an OS (qemu-system-arm, tools/portable/baremetal.sh);
#      make windows (MinGW-w64), and its tests under Wine when wine64 is installed.
#   2. valgrind memcheck on build/fnet detect/landmarks/embed over two photos (tools/portable/portable_valgrind.sh).
#   3. ThreadSanitizer on tests/test_threads.c (one model shared by several threads).
# A toolchain that is not installed is reported as skipped (CI installs them all).
#
# usage: sh tools/portable/portable.sh [BUILD-FILTER]     e.g. sh tools/portable/portable.sh s390x
# env:   FNET_WEIGHTS (blobs; default weights), FNET_SHARED (default ../shared),
#        PORTABLE_TESTS (C tests run on every platform), PORTABLE_SKIP_VALGRIND=1, PORTABLE_SKIP_TSAN=1
set -u
cd "$(dirname "$0")/../.." || exit 2
filter=${1:-}
W=${FNET_WEIGHTS:-weights}
S=${FNET_SHARED:-../shared}/data
B=build/portable
mkdir -p "$B" build/tests   # build/tests: where the C tests write their scratch files
IMAGES="$S/openface-examples/clapton-2.jpg $S/openface-examples/longoria-cooper.jpg $S/dlib-examples/2008_002470.jpg"
PORTABLE_TESTS=${PORTABLE_TESTS:-"test_blob test_limits test_threads test_kernels test_network test_resnet_numerics test_landmarks test_match"}
WARN="-Wall -Wextra -pedantic -Werror"
INC="-I. -Itests -I/usr/include/stb"
status=0
skipped=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# name | compiler and language flags | optimisation and feature flags | runner
BUILDS="ref|gcc -std=c99|-O2 -DFNET_NO_SIMD|
gcc-c99-O0|gcc -std=c99|-O0|
gcc-c99-O2|gcc -std=c99|-O2|
clang-c99-O0|clang -std=c99|-O0|
clang-c99-O2|clang -std=c99|-O2|
clang-c99-O2-nosimd|clang -std=c99|-O2 -DFNET_NO_SIMD|
g++-O0|g++ -x c++ -std=c++11|-O0|
g++-O2|g++ -x c++ -std=c++11|-O2|
clang++-O2|clang++ -x c++ -std=c++11|-O2|
clang++-O2-nosimd|clang++ -x c++ -std=c++11|-O2 -DFNET_NO_SIMD|
i386-gcc-O2|gcc -std=c99 -m32|-O2 -msse2 -mfpmath=sse|
i386-gcc-O2-nosimd|gcc -std=c99 -m32|-O2 -msse2 -mfpmath=sse -DFNET_NO_SIMD|
i386-clang-O2|clang -std=c99 -m32|-O2 -msse2 -mfpmath=sse|
aarch64-clang-O2|clang --target=aarch64-linux-gnu -std=c99 -static|-O2|qemu-aarch64
aarch64-clang-O2-nosimd|clang --target=aarch64-linux-gnu -std=c99 -static|-O2 -DFNET_NO_SIMD|qemu-aarch64
s390x-clang-O2|clang --target=s390x-linux-gnu -std=c99 -static|-O2|qemu-s390x
aarch64-gcc-O2|aarch64-linux-gnu-gcc -std=c99 -static|-O2|qemu-aarch64
s390x-gcc-O2|s390x-linux-gnu-gcc -std=c99 -static|-O2|qemu-s390x
wasm32-wasi-O2|sh tools/wasm/cc.sh -std=c99|-O2|tools/wasm/node_wasi
wasm32-wasi-simd128-O2|sh tools/wasm/cc.sh -std=c99|-O2 -msimd128|tools/wasm/node_wasi"

# A snapshot of the blobs (hard links when possible): another process rebuilding a blob
# (write a temporary file, rename) mid-run would otherwise make the builds disagree.
snap=$B/blobs
rm -rf "$snap"; mkdir -p "$snap"
for f in "$W"/*.fnet; do
    [ -f "$f" ] || continue
    ln "$f" "$snap/" 2>/dev/null || cp "$f" "$snap/"
done
W=$snap
export FNET_WEIGHTS="$W"

for img in $IMAGES; do
    [ -f "$img" ] || { echo "portable: $img not found (set FNET_SHARED)"; exit 1; }
done
[ -f "$W/hog_frontal.fnet" ] || echo "portable: no blobs in $W (make weights): only the loader and stubs are compared"

echo "== platform matrix: driver on $(echo $IMAGES | wc -w) photos, tests: $PORTABLE_TESTS"
outs=""
results="$B/results.txt"
: > "$results"
echo "$BUILDS" | while IFS='|' read -r name cc flags runner; do
    case "$name" in ref|*"$filter"*) ;; *) continue ;; esac
    set -- $cc
    if ! command -v "$1" >/dev/null 2>&1; then
        printf '%-24s skipped: %s not installed\n' "$name" "$1"; echo "skip $name" >> "$results"; continue
    fi
    case "$cc" in *--target=*) # clang cross builds need the target's libc and libgcc
        t=$(echo "$cc" | sed -E 's/.*--target=([^ ]*).*/\1/')
        if [ ! -f "/usr/$t/include/stdio.h" ] || [ ! -d "/usr/lib/gcc-cross/$t" ] || ! command -v "$t-ld" >/dev/null 2>&1; then
            printf '%-24s skipped: no %s sysroot (libc6-dev-*-cross, libgcc-12-dev-*-cross, binutils-%s)\n' "$name" "$t" "$t"
            echo "skip $name" >> "$results"; continue
        fi ;;
    esac
    case "$cc" in *tools/wasm/cc.sh*) # clang's wasm32 target, wasi-libc and node
        if ! why=$(sh tools/wasm/cc.sh --check) || ! command -v node >/dev/null 2>&1; then
            printf '%-24s skipped: %s\n' "$name" "${why:-no node}"; echo "skip $name" >> "$results"; continue
        fi ;;
    esac
    if [ -n "$runner" ] && ! command -v "$runner" >/dev/null 2>&1; then
        printf '%-24s skipped: %s not installed (qemu-user)\n' "$name" "$runner"; echo "skip $name" >> "$results"; continue
    fi
    t0=$(now)
    exe="$B/driver-$name"
    # shellcheck disable=SC2086
    if ! $cc $WARN $flags $INC tools/portable/portable_driver.c -o "$exe" -lm -lpthread > "$exe.build.log" 2>&1; then
        printf '%-24s FAIL: driver does not build\n' "$name"; head -n 20 "$exe.build.log"
        echo "fail $name" >> "$results"; continue
    fi
    $runner "$exe" "$W" $IMAGES > "$B/out-$name.txt" 2> "$B/out-$name.err"
    rc=$?
    line="driver rc $rc"
    [ $rc -eq 0 ] || echo "fail $name" >> "$results"
    # the tests run where the platform differs (tests/run.sh covers x86-64 gcc and clang)
    tests=""
    # (not on the -nosimd variants: their kernels are ref's, whose tests run; their driver
    # output is still compared below)
    # s390x (big-endian, under qemu: the slowest row, 12 minutes with every test) runs the
    # tests where byte order matters: blobs, galleries, leaves, networks; it has only the
    # scalar kernels (test_kernels compares SIMD twins) and the driver compares its embeddings
    case "$name" in
    *-nosimd) ;;
    s390x-*) tests=${PORTABLE_TESTS_BE:-"test_blob test_limits test_network test_landmarks test_match"} ;;
    ref|g++-O2|i386-*|aarch64-*) tests=$PORTABLE_TESTS ;;
    esac
    for t in $tests; do
        [ -f "tests/$t.c" ] || continue
        texe="$B/$t-$name"
        if ! $cc $WARN $flags $INC "tests/$t.c" -o "$texe" -lm -lpthread > "$texe.build.log" 2>&1; then
            line="$line, $t: build FAIL"; echo "fail $name" >> "$results"; head -n 20 "$texe.build.log"; continue
        fi
        if [ -n "$runner" ]; then
            FNET_TEST_SANITIZED=1 $runner "$texe" > "$texe.log" 2>&1
        else
            "$texe" > "$texe.log" 2>&1
        fi
        trc=$?
        res=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$texe.log" | tail -n 1)
        line="$line, $t: ${res:-no result}"
        if [ $trc -ne 0 ] || [ -z "$res" ]; then
            echo "fail $name" >> "$results"; grep -E 'FAIL|rror' "$texe.log" | head -n 10
        fi
    done
    printf '%-24s %ss  %s\n' "$name" "$(elapsed "$t0")" "$line"
    echo "ran $name" >> "$results"
done

# Big-endian ARM (aarch64_be): no big-endian libc here to link and run with, so compile only,
# against the little-endian arm64 headers (glibc asks for a stubs-lp64_be.h it does not ship:
# an empty one stands in). The check: the header compiles warning-free there and leaves the
# NEON kernels off (some assume little-endian lanes), while little-endian aarch64 keeps them.
case "aarch64_be" in *"$filter"*)
    if command -v clang >/dev/null 2>&1 && [ -f /usr/aarch64-linux-gnu/include/stdio.h ]; then
        mkdir -p "$B/beinc/gnu" && : > "$B/beinc/gnu/stubs-lp64_be.h"
        printf '#define FNET_IMPLEMENTATION\n#include "facenet.h"\n#ifdef FNET__NEON\nint fnet_neon_on = 1;\n#else\nint fnet_neon_off = 1;\n#endif\n' > "$B/be_check.c"
        ok=1
        for t in aarch64_be:off aarch64:on; do
            tgt=${t%%:*}; want=${t#*:}
            if ! clang --target="$tgt-linux-gnu" -std=c99 $WARN -O2 -I. -isystem "$B/beinc" \
                    -isystem /usr/aarch64-linux-gnu/include -c "$B/be_check.c" -o "$B/be_check-$tgt.o" \
                    > "$B/be_check-$tgt.log" 2>&1; then
                ok=0; head -n 10 "$B/be_check-$tgt.log"
            elif ! grep -q "fnet_neon_$want" "$B/be_check-$tgt.o"; then
                ok=0; echo "$tgt: NEON kernels should be $want"
            fi
        done
        if [ $ok -eq 1 ]; then
            printf '%-24s compiles; NEON off on big-endian, on on little-endian\n' "aarch64_be (compile)"
        else
            printf '%-24s FAIL\n' "aarch64_be (compile)"; status=1
        fi
    else
        printf '%-24s skipped: clang or the arm64 headers (libc6-dev-arm64-cross) missing\n' "aarch64_be (compile)"
    fi ;;
esac

# Bare metal, compile only: the header alone (FNET_IMPLEMENTATION) with -Werror for
# Cortex-M0/M4/M7 (arm-none-eabi-gcc + newlib) and 32-bit RISC-V (rv32imac soft float,
# rv32imafc single-precision FPU; riscv64-unknown-elf-gcc + picolibc), FNET_NO_STDIO (no file
# loading, models come from memory), with the code size at -Os and -O2. Then, with
# qemu-system-arm, the driver runs on a Cortex-M7 board without an OS (tools/portable/baremetal.sh).
# Debian packages: `sh tools/deps.sh baremetal` (2 GB with picolibc: not in CI's list);
# missing toolchains are reported as skipped.
case "bare-metal" in *"$filter"*)
    printf '#define FNET_IMPLEMENTATION\n#include "facenet.h"\n' > "$B/impl.c"
    # compile_row NAME SIZE-TOOL COMPILER-AND-FLAGS...: the header at -Os and -O2, code sizes
    compile_row() {
        name=$1; size_tool=$2; shift 2
        sizes=""
        for o in -Os -O2; do
            # shellcheck disable=SC2086
            if "$@" -std=c99 $WARN $o -DFNET_NO_STDIO -I. -c "$B/impl.c" -o "$B/impl-$name$o.o" \
                > "$B/impl-$name.build.log" 2>&1; then
                sizes="$sizes $o $($size_tool "$B/impl-$name$o.o" | awk 'NR == 2 { printf "%.0f KB", $1 / 1024 }')"
            else
                printf '%-24s FAIL: the header does not compile (%s)\n' "$name" "$o"; head -n 20 "$B/impl-$name.build.log"
                echo "fail $name" >> "$results"; return
            fi
        done
        printf '%-24s compiles with -Werror, FNET_NO_STDIO; code:%s\n' "$name (compile)" "$sizes"
    }
    for cpu in "cortex-m0|-mfloat-abi=soft" "cortex-m4|-mfloat-abi=hard -mfpu=fpv4-sp-d16" "cortex-m7|-mfloat-abi=hard -mfpu=fpv5-d16"; do
        name=${cpu%%|*}; fl=${cpu#*|}
        if ! command -v arm-none-eabi-gcc >/dev/null 2>&1; then
            printf '%-24s skipped: arm-none-eabi-gcc not installed (gcc-arm-none-eabi libnewlib-arm-none-eabi)\n' "$name"
            echo "skip $name" >> "$results"; continue
        fi
        # shellcheck disable=SC2086
        compile_row "$name" arm-none-eabi-size arm-none-eabi-gcc -mcpu=$name -mthumb $fl
    done
    for rv in "rv32imac|ilp32" "rv32imafc|ilp32f"; do
        name=${rv%%|*}; abi=${rv#*|}
        if ! command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 || [ ! -f /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ]; then
            printf '%-24s skipped: riscv64-unknown-elf-gcc or picolibc not installed (gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf)\n' "$name"
            echo "skip $name" >> "$results"; continue
        fi
        compile_row "$name" riscv64-unknown-elf-size riscv64-unknown-elf-gcc --specs=picolibc.specs -march=$name -mabi=$abi
    done
    # the runs (Cortex-M7 about 15 s, RISC-V about 5 minutes of emulation) stay out of CI
    if [ -n "${CI:-}" ] && [ "${PORTABLE_BAREMETAL_RUN:-0}" != 1 ]; then
        printf '%-24s not run in CI (PORTABLE_BAREMETAL_RUN=1 to run): make baremetal-run\n' "bare-metal (run)"
    elif [ -z "$filter" ] || [ "$filter" = bare-metal ]; then
        sh tools/portable/baremetal.sh || echo "fail baremetal-run" >> "$results"
    fi ;;
esac

# Windows: make windows cross-builds the CLI, the examples, the C tests and the driver with
# MinGW-w64 (gcc-mingw-w64-x86-64, in CI's list); with wine64 installed (`sh tools/deps.sh
# wine`) make windows-test runs them under Wine against
# the native results. PORTABLE_SKIP_WINE=1 builds only; so does CI (CI set), where the Wine run
# (about 10 minutes on the shared 2-core machine) does not fit the budget.
case "windows" in *"$filter"*)
    [ -n "${CI:-}" ] && PORTABLE_SKIP_WINE=${PORTABLE_SKIP_WINE:-1}
    if command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
        t0=$(now)
        if ${MAKE:-make} -s -j2 windows > "$B/windows.build.log" 2>&1; then
            printf '%-24s %ss  make windows: %s executables in build/windows\n' "win64 mingw" "$(elapsed "$t0")" "$(ls build/windows/*.exe | wc -l)"
            if [ "${PORTABLE_SKIP_WINE:-0}" != 1 ] && { command -v wine64 >/dev/null 2>&1 || [ -x /usr/lib/wine/wine64 ]; }; then
                sh tools/portable/windows.sh || echo "fail win64-wine" >> "$results"
            elif [ "${PORTABLE_SKIP_WINE:-0}" = 1 ]; then
                printf '%-24s not run (PORTABLE_SKIP_WINE=1 or CI): make windows-test\n' "win64 (wine)"
            else
                printf '%-24s not run: wine64 not installed (sh tools/deps.sh wine; then make windows-test)\n' "win64 (wine)"
            fi
        else
            printf '%-24s FAIL: make windows\n' "win64 mingw"; tail -n 20 "$B/windows.build.log"
            echo "fail win64" >> "$results"
        fi
    else
        printf '%-24s skipped: x86_64-w64-mingw32-gcc not installed (gcc-mingw-w64-x86-64)\n' "win64 mingw"
        echo "skip win64" >> "$results"
    fi ;;
esac

# MSVC and clang-cl: the header parsed in Microsoft mode (tools/portable/msvc_check.sh, seconds)
case "msvc" in *"$filter"*)
    sh tools/portable/msvc_check.sh || echo "fail msvc" >> "$results" ;;
esac

echo
echo "== agreement with the x86-64 scalar build (ref: gcc -O2 -DFNET_NO_SIMD)"
if [ ! -s "$B/out-ref.txt" ]; then
    echo "portable: the reference build did not run"; status=1
else
    args=""
    for name in $(awk '$1 == "ran" && $2 != "ref" { print $2 }' "$results"); do
        args="$args $name=$B/out-$name.txt"
    done
    if [ -z "$args" ]; then
        echo "    (no build but the reference ran: nothing to compare)"
    else
        # shellcheck disable=SC2086
        python3 tools/portable/portable_compare.py "$B/out-ref.txt" $args || status=1
    fi
    grep -h '^detect\|^model' "$B/out-ref.txt" | sed 's/^/    ref: /' | cut -c1-110
fi
grep -q '^fail' "$results" && { echo "portable: failing builds: $(awk '$1 == "fail" { print $2 }' "$results" | sort -u | tr '\n' ' ')"; status=1; }
skipped=$(grep -c '^skip' "$results")

if [ -z "$filter" ] && [ "${PORTABLE_SKIP_VALGRIND:-0}" != 1 ]; then
    echo
    echo "== valgrind memcheck on the CLI"
    sh tools/portable/portable_valgrind.sh || status=1
fi

if [ -z "$filter" ] && [ "${PORTABLE_SKIP_TSAN:-0}" != 1 ] && [ -f tests/test_threads.c ]; then
    echo
    echo "== ThreadSanitizer: tests/test_threads.c"
    if clang -std=c99 $WARN -O1 -g -fsanitize=thread $INC tests/test_threads.c -o "$B/test_threads.tsan" -lm -lpthread \
        > "$B/test_threads.tsan.build.log" 2>&1; then
        FNET_TEST_SANITIZED=1 TSAN_OPTIONS="halt_on_error=1" "$B/test_threads.tsan" > "$B/test_threads.tsan.log" 2>&1
        rc=$?
        echo "test_threads (tsan): $(grep -E '^[0-9]+ passed' "$B/test_threads.tsan.log" | tail -n 1) rc $rc"
        if [ $rc -ne 0 ]; then grep -A 12 'WARNING: ThreadSanitizer\|FAIL' "$B/test_threads.tsan.log" | head -n 40; status=1; fi
    else
        echo "test_threads (tsan): build failed"; head -n 20 "$B/test_threads.tsan.build.log"; status=1
    fi
fi

echo
if [ $status -eq 0 ]; then echo "portable: all passed ($skipped builds skipped)"; else echo "portable: FAILED"; fi
exit $status
