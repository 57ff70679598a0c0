#!/bin/sh
# build_wasm.sh CC "CFLAGS" "LDFLAGS" SRC OUT.wasm: compile, link (no wasm-opt from the clang
# driver: it would run without the SIMD feature), then wasm-opt -O3 when binaryen is there.
set -eu
cc=$1 cflags=$2 ldflags=$3 src=$4 out=$5
sh "$(dirname "$0")/../wasm/cc.sh" --sysroot > /dev/null # wasi-libc's headers only (web.mk's --sysroot)
mkdir -p "$(dirname "$out")"
# the link gets the target flags without -O (clang runs wasm-opt itself when the link optimises)
lflags=$(echo "$cflags" | sed 's/-O[0-9sz]*//g')
tmp=$out.tmp.$$
trap 'rm -f "$tmp.o" "$tmp.ld.wasm" "$tmp"' EXIT
# shellcheck disable=SC2086
$cc $cflags -c "$src" -o "$tmp.o"
# shellcheck disable=SC2086
$cc $lflags $ldflags "$tmp.o" -o "$tmp.ld.wasm"
if command -v wasm-opt > /dev/null 2>&1; then
    wasm-opt -O3 "$tmp.ld.wasm" --strip-debug --strip-producers --strip-target-features -o "$tmp"
else
    echo "build_wasm: wasm-opt (Debian binaryen) not found: linked without it" >&2
    # shellcheck disable=SC2086
    $cc $lflags $ldflags -Wl,--strip-all "$tmp.o" -o "$tmp"
fi
mv "$tmp" "$out"
