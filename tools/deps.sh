#!/bin/sh
# What facenet.h's tools need, per purpose: the one list `make deps`, `make demo`, `make test`
# and .ci/run use. The header itself needs nothing but a C compiler and libm.
#
#   sh tools/deps.sh PURPOSE...      install what is missing (purposes below, or `all`)
#   sh tools/deps.sh --list PURPOSE  print the Debian packages of a purpose
#
# Missing Debian packages are installed with apt-get when running as root (after apt-get
# update when the package lists are empty); otherwise the exact command is printed and the
# script exits 1. Nothing already there is installed again; when all is there it says so in
# one line. Node.js and npm are looked for as commands (they may come from elsewhere than
# Debian). On a system without dpkg it prints what to install and exits 1; FNET_NO_DEPS=1
# skips the check (you installed things your own way).
set -eu

# build: the CLI and the examples (stb_image decodes the photos; the header needs nothing)
BUILD="gcc make libc6-dev libstb-dev python3"
# demo: `make weights` converts dlib's detector header and shape predictor (Debian) and the
# ResNet weights of face-api (npm: node, npm)
DEMO="$BUILD libdlib-dev libdlib-data"
# test: both compilers, sanitizers, C++ checks, the numpy / OpenCV / PyTorch references, dlib
# (reference programs), h5py (the Keras .h5 reader's test)
# web: facenet.h as WebAssembly (make wasm: clang --target=wasm32-wasi, wasi-libc, wasm-ld,
# wasm-opt) and the browser it is tested in (tests/test_web.py: headless Chromium); the same
# toolchain builds the WASI CLI and the wasm32 C tests (make wasm, tests/test_wasm.py, make portable)
WEB="clang lld wasi-libc libclang-rt-14-dev-wasm32 binaryen chromium"
TEST="$DEMO $WEB g++ clang libclang-rt-14-dev python3-numpy python3-opencv python3-h5py python3-torch"
# portable: the platform matrix (i386, aarch64 and s390x under qemu, valgrind). gcc-aarch64 and
# gcc-s390x conflict with gcc-multilib on Debian: clang --target with these cross libcs.
# MinGW-w64 (make windows: the CLI and tests cross-built for Windows; about 230 MB) and clang
# (make msvc-check) are in this list too.
PORTABLE="gcc-multilib qemu-user binutils-aarch64-linux-gnu binutils-s390x-linux-gnu libc6-dev-arm64-cross
          libc6-dev-s390x-cross libgcc-12-dev-arm64-cross libgcc-12-dev-s390x-cross valgrind
          gcc-mingw-w64-x86-64 clang"
# wine: make windows-test, the MinGW builds run under Wine (about 670 MB; not in CI: the run
# takes about 10 minutes on the shared machine)
WINE="wine64"
# baremetal: Cortex-M compile checks and the Cortex-M7 run under qemu-system-arm (newlib,
# semihosting), 32-bit RISC-V compile checks and run under qemu-system-riscv32 (picolibc,
# qemu-system-misc); about 2.2 GB, not in CI
BAREMETAL="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc-riscv64-unknown-elf
           picolibc-riscv64-unknown-elf qemu-system-misc"
# bench: the peers measured in the same run (dlib, PyTorch, OpenCV; ONNX Runtime and face-api
# come from npm into build/, tools/bench/bench.sh fetches them)
BENCH="$TEST time"

pkgs_of() {
    case "$1" in
    build) echo "$BUILD" ;;
    demo) echo "$DEMO" ;;
    test) echo "$TEST" ;;
    portable) echo "$PORTABLE" ;;
    wine) echo "$WINE" ;;
    baremetal) echo "$BAREMETAL" ;;
    bench) echo "$BENCH" ;;
    web) echo "$WEB" ;;
    all) echo "$TEST $PORTABLE $WINE $BAREMETAL" ;;
    *) echo "deps: unknown purpose '$1' (build, demo, test, portable, wine, baremetal, bench, web, all)" >&2; exit 2 ;;
    esac
}
needs_node() { case "$1" in demo|test|bench|web|all) return 0 ;; esac; return 1; }

if [ "${1:-}" = "--list" ]; then
    shift
    for p in "$@"; do pkgs_of "$p"; done | tr ' \n' '\n\n' | sed '/^$/d' | sort -u | tr '\n' ' '
    echo
    exit 0
fi
[ $# -gt 0 ] || set -- all
[ "${FNET_NO_DEPS:-0}" = 1 ] && { echo "deps: FNET_NO_DEPS=1, not checked"; exit 0; }

want=""
node=0
for p in "$@"; do
    want="$want $(pkgs_of "$p")"
    needs_node "$p" && node=1
done
want=$(echo "$want" | tr ' \n' '\n\n' | sed '/^$/d' | sort -u | tr '\n' ' ')

if ! command -v dpkg-query >/dev/null 2>&1; then
    [ "$node" = 1 ] && want="$want Node.js+npm"
    echo "deps: not a Debian system: install the equivalents of: $want" >&2
    echo "deps: then run with FNET_NO_DEPS=1 (only the CLI and the tests need them; facenet.h itself needs only libc and libm)" >&2
    exit 1
fi
missing=""
n=0
for p in $want; do
    n=$((n + 1))
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js may come from elsewhere than Debian (with npm inside): ask for the commands, or
# apt-get tries to replace it and fails on the conflict.
if [ "$node" = 1 ]; then
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
if [ -z "$missing" ]; then
    echo "deps ($*): all $n packages present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps ($*): missing:$missing" >&2
    echo "deps: run as root:  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
echo "deps ($*): installing$missing"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || ! apt-get install -y -qq $missing >/dev/null 2>&1; then
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
fi
echo "deps ($*): installed$missing"
