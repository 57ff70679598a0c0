#!/bin/sh
# make msvc-check (part of make portable): facenet.h parsed as Microsoft's compilers would see
# it, without MSVC or a Windows SDK. clang --target=*-pc-windows-msvc -fms-compatibility
# -fms-extensions (MSVC's predefined macros: _MSC_VER, _WIN32, _M_X64 / _M_IX86_FP; MS
# language extensions) checks, with -Werror, in C99 and C++14:
#   msvc     __clang__ undefined, so every `#if defined(__GNUC__) || defined(__clang__)` takes
#            its MSVC branch: no target attributes, cpuid/xgetbv from <intrin.h>, MSVC's
#            fp_contract pragma (unknown to clang: -Wno-unknown-pragmas). -mavx2 -mfma
#            -mavx512f stand in for MSVC's <immintrin.h>, which declares every intrinsic
#            whatever /arch says. Also scalar-only (FNET_NO_SIMD) and 32-bit x86.
#   clang-cl Clang with _MSC_VER: target attributes and <cpuid.h>, with the instruction-set
#            headers its <immintrin.h> leaves out unless /arch enables them.
# The C library comes from stand-in headers (tools/portable/msvc/include: only what facenet.h
# calls); the compiler's own float.h, limits.h, stddef.h and intrinsic headers are used.
# Also: the header's lines as MSVC preprocesses them hold no GNU-only spelling (__attribute__,
# __asm__, __builtin_*, cpuid.h's macros...), which clang would accept silently.
# What this cannot check: MSVC's own diagnostics (/W4 warnings such as C4505 unused static
# functions, hence -Wno-unused-function here) and anything MSVC's front end parses differently
# from clang's MS mode. Nothing is linked or run.
set -u
cd "$(dirname "$0")/../.." || exit 2
command -v clang >/dev/null 2>&1 || { echo "msvc-check: skipped, clang not installed"; exit 0; }
B=build/portable
mkdir -p "$B"
printf '#define FNET_IMPLEMENTATION\n#include "facenet.h"\n' > "$B/msvc_impl.c"
R=$(clang -print-resource-dir)/include
MSVC="-U__clang__ -Wno-builtin-macro-redefined -Wno-unknown-pragmas -Wno-unused-function -mavx2 -mfma -mavx512f"
status=0
n=0
# name | target | language | mode flags
for cfg in "msvc-c99|x86_64|clang -x c -std=c99|$MSVC" \
           "msvc-c++14|x86_64|clang++ -x c++ -std=c++14|$MSVC" \
           "msvc-c99-nosimd|x86_64|clang -x c -std=c99|$MSVC -DFNET_NO_SIMD" \
           "msvc-c++14-nosimd|x86_64|clang++ -x c++ -std=c++14|$MSVC -DFNET_NO_SIMD" \
           "msvc-x86-c99|i686|clang -x c -std=c99|$MSVC" \
           "clang-cl-c99|x86_64|clang -x c -std=c99|" \
           "clang-cl-c++14|x86_64|clang++ -x c++ -std=c++14|"; do
    name=${cfg%%|*}; rest=${cfg#*|}
    tgt=${rest%%|*}; rest=${rest#*|}
    cc=${rest%%|*}; fl=${rest#*|}
    n=$((n + 1))
    # shellcheck disable=SC2086
    if ! $cc --target=$tgt-pc-windows-msvc -fms-compatibility -fms-extensions -Wall -Wextra -pedantic -Werror $fl \
            -nostdlibinc -isystem tools/portable/msvc/include -isystem "$R" -I. -fsyntax-only "$B/msvc_impl.c" \
            > "$B/msvc-$name.log" 2>&1; then
        echo "msvc-check: $name FAILED"; head -n 20 "$B/msvc-$name.log"; status=1
    fi
done
# clang accepts GNU spellings in MS mode (__attribute__, __asm__, __builtin_*, even
# __cpuid_count from its intrin.h) that MSVC rejects: the header's own lines, preprocessed as
# MSVC sees them, must contain none of them.
# shellcheck disable=SC2086
clang -x c -std=c99 --target=x86_64-pc-windows-msvc -fms-compatibility -fms-extensions $MSVC -nostdlibinc \
    -isystem tools/portable/msvc/include -isystem "$R" -I. -E "$B/msvc_impl.c" 2> /dev/null |
    awk '/^# [0-9]+ "/ { mine = ($3 ~ /facenet\.h"$/); next } mine' > "$B/msvc-view.c"
# (clang's intrinsic macros expand to __builtin_ia32_*, __builtin_shufflevector: removed first)
gnu=$(sed -E 's/__builtin_(ia32_[a-z0-9_]+|shufflevector|convertvector)//g' "$B/msvc-view.c" |
      grep -nE '__attribute__|__asm__|__asm[^_]|asm[ (]|__builtin_|__cpuid_count|__get_cpuid|__typeof|typeof[ (]|__extension__|__restrict__|__inline__' | head -n 5)
if [ ! -s "$B/msvc-view.c" ]; then
    echo "msvc-check: FAILED to preprocess the header in MSVC mode"; status=1
elif [ -n "$gnu" ]; then
    echo "msvc-check: GNU-only constructs left in what MSVC compiles ($B/msvc-view.c):"; echo "$gnu"; status=1
fi
if [ $status -eq 0 ]; then
    echo "msvc-check: facenet.h parses warning-free in $n MSVC configurations (msvc C99/C++14, scalar, x86; clang-cl C99/C++14); no GNU-only construct in MSVC's view"
fi
exit $status
