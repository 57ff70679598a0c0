#!/bin/sh
# tools/wasm/cc.sh: a C compiler for wasm32-wasi programs (clang + Debian's wasi-libc), used by
# tools/mk/wasm.mk, tests/test_wasm.py and tools/wasm/portable_wasm.sh (and its sysroot by
# tools/web/build_wasm.sh).
#
#   sh tools/wasm/cc.sh [CFLAGS...] SOURCE.c... -o OUT.wasm
#   sh tools/wasm/cc.sh --check          exit 0 when the toolchain is here, else say what is missing
#   sh tools/wasm/cc.sh --sysroot        makes the private sysroot (below) and prints its path
#                                        (tools/web/build_wasm.sh compiles the browser library in it)
#
# - Sysroot: Debian puts wasi-libc under /usr/include/wasm32-wasi and /usr/lib/wasm32-wasi.
#   --sysroot=/usr would also search /usr/include, glibc's headers (its pthread.h, bits/...):
#   a private sysroot of symlinks (build/wasm/sysroot) holds only wasi-libc and stb.
# - pthread.h: wasi-libc (wasm32-wasi, no threads) has none; tools/wasm/include/pthread.h runs
#   each thread to its end at pthread_create, so code written for threads runs on one.
# - wasi_cwd.c is linked in: the program enters $PWD first (see run_wasi.mjs).
# - Compile and link are separate steps: clang 14, linking with -O, runs a wasm-opt it finds on
#   PATH itself, without feature flags, which rejects SIMD128 code.
# - getpid and clock: wasi-libc's emulations (a placeholder pid, wall time).
# - Memory: fixed at WASM_MEMORY bytes (initial = maximum; default 4 GB, wasm32's limit), so it
#   never grows. Node 20's node:wasi crashes after the module grows its memory: a SIGSEGV in
#   node when the program ends (test_blob: every run), or a V8 abort in the GC that
#   memory.grow triggers (`fnet landmarks`, whose 66 MB blob grows memory at once: 9 of 12
#   runs); with memory that never grows, 0 crashes. (A report elsewhere traces it to node:wasi
#   keeping the backing store it saw at start.) Pages are committed on first touch, so a 4 GB
#   memory costs what the program uses; past it malloc returns NULL and facenet.h returns
#   FNET_ERR_OUT_OF_MEMORY (tests/test_wasm.py checks it with WASM_MEMORY=402653184).
# env: WASM_CC (default clang), WASM_MEMORY, WASM_LDFLAGS (more link flags)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cc=${WASM_CC:-clang}
sys=$root/build/wasm/sysroot
check() {
    command -v "$cc" >/dev/null 2>&1 || { echo "no $cc (apt-get install clang)"; return 1; }
    command -v wasm-ld >/dev/null 2>&1 || { echo "no wasm-ld (apt-get install lld)"; return 1; }
    [ -f /usr/include/wasm32-wasi/stdio.h ] && [ -f /usr/lib/wasm32-wasi/libc.a ] ||
        { echo "no wasi-libc (apt-get install wasi-libc)"; return 1; }
    ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 ||
        { echo "no wasm32 builtins (apt-get install libclang-rt-14-dev-wasm32)"; return 1; }
    return 0
}
make_sysroot() {
    if [ ! -e "$sys/lib/wasm32-wasi" ]; then
        mkdir -p "$sys/include" "$sys/lib"
        ln -sfn /usr/include/wasm32-wasi "$sys/include/wasm32-wasi"
        ln -sfn /usr/include/stb "$sys/include/stb"
        ln -sfn /usr/lib/wasm32-wasi "$sys/lib/wasm32-wasi"
    fi
}
if [ "${1:-}" = "--check" ]; then check; exit $?; fi
if [ "${1:-}" = "--sysroot" ]; then make_sysroot; echo "$sys"; exit 0; fi
check >&2 || exit 1
make_sysroot
T="--target=wasm32-wasi --sysroot=$sys"
out=""; srcs=""; flags=""
while [ $# -gt 0 ]; do
    case "$1" in
    -o) out=$2; shift 2; continue ;;
    *.c) srcs="$srcs $1" ;;
    -lm|-lpthread) ;;   # libm is linked below; threads: tools/wasm/include/pthread.h
    *) flags="$flags $1" ;;
    esac
    shift
done
[ -n "$out" ] && [ -n "$srcs" ] || { echo "usage: cc.sh [CFLAGS] SOURCE.c... -o OUT.wasm" >&2; exit 2; }
objs=""
n=0
for s in $srcs "$here/wasi_cwd.c"; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    "$cc" $T $flags -D_WASI_EMULATED_GETPID -D_WASI_EMULATED_PROCESS_CLOCKS -isystem "$here/include" \
        -I"$sys/include/stb" -c "$s" -o "$out.$n.o"
    objs="$objs $out.$n.o"
done
# shellcheck disable=SC2086
mem=${WASM_MEMORY:-4294967296}
"$cc" $T $objs -o "$out" -Wl,--gc-sections -Wl,-z,stack-size=1048576 -Wl,--initial-memory=$mem \
    -Wl,--max-memory=$mem ${WASM_LDFLAGS:-} \
    -lm -lwasi-emulated-getpid -lwasi-emulated-process-clocks
# shellcheck disable=SC2086
rm -f $objs
