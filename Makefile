# facenet.h - build, weights, tests, demo, benchmarks. Every target, by topic (the fragments
# named in brackets live in tools/mk/; tests/test_layout.py checks this list is complete):
#
# Everyday
#   make, make all    build/fnet and the examples (examples/*.c)
#   make deps         the Debian packages every target needs (tools/deps.sh; demo and test
#                     install their part themselves: deps-demo, deps-test)
#   make weights      the blobs in weights/ from the shared sources (weights/README.md)
#   make demo         the pipeline on the shared sample photos
#   make test         compile checks (C99 gcc/clang, C++) + every test, also under ASan+UBSan
#                     (STRICT=1, or CI set: a skip outside tests/skip_allowlist.txt fails)
#   make check-header the header alone in every compiler/language combination
#   make bench        speed against the peers measured in the same run (tools/bench/)
#   make clean        remove build/
#
# Platforms and robustness [portable.mk, engine.mk]
#   make portable     platform matrix (gcc/clang, C/C++, -m32, aarch64 and s390x under qemu,
#                     bare metal, MinGW) compared with the x86-64 scalar build, valgrind, TSan
#   make test-neon    the kernel and network tests for aarch64 under qemu-user
#   make windows      fnet.exe, the examples and the C tests for Windows (MinGW-w64) [windows.mk]
#   make windows-test those tests and the platform driver under Wine (manual, ~10 min)
#   make msvc-check   the header parsed as MSVC and clang-cl would (stand-in libc headers)
#   make baremetal-run  the driver on a Cortex-M7 and a 32-bit RISC-V without an OS (QEMU)
#   make memory-table the README's memory-per-stage table              [baremetal.mk]
#   make fuzz         libFuzzer targets in tests/fuzz (FUZZ_SECONDS each); fuzz-build only builds
#
# WebAssembly [web.mk, wasm.mk]
#   make wasm         build/wasm/: facenet.wasm (SIMD128), facenet-nosimd.wasm, facenet.mjs, and
#                     fnet.wasm + build/wasm/fnet (the CLI under node:wasi, same output as build/fnet)
#   make wasm-test    the C tests built for wasm32+SIMD128, run under node:wasi (also in make test)
#   make wasm-portable  WASI scalar and SIMD128 vs the x86-64 scalar build (also in make portable)
#   make web          builds them and serves the browser demo (examples/web/) on localhost
#   make bench-wasm   facenet.wasm against face-api in Node and headless Chromium
#   make deps-web     the packages the wasm build and the browser test need
#
# Reference goldens, rebuilt from dlib / face-api (committed results in tests/golden/)
#   make golden-detect golden-train-detector              [detect.mk, train_detector.mk]
#   make golden-shape-dump golden-landmarks golden-chips golden-train-shape   [landmarks.mk]
#   make resnet-golden resnet-255 resnet-node             [resnet.mk]
#
# Models and evaluations (long; run by hand, figures in the README)
#   make landmarks5   a 5-point shape predictor trained by facenet.h       [landmarks.mk]
#   make relearn      nn4 with its five missing tensors re-learned (< 1 hour)   [relearn.mk]
#   make relearn-eval its leave-one-fold-out LFW figure (three trainings)      [relearn.mk]
#   make nn4-fill-report  how the converter's deterministic fill behaves        [nn4.mk]
#   make eval-match eval-match-dlib  matching figures on LFW dev                [matching.mk]
#   make resnet-lfw   the ResNet's LFW dev accuracy                            [resnet.mk]
#   make eval-identify  open-set identification at a target false-accept rate, 10 to 1,000
#                     enrolled people on lfw-dev (tools/eval/eval_identify.c)   [identify.mk]
#   make eval-identify-plain  the same for plain galleries (fnet enroll --jitter 0) [identify.mk]
#   make impostor-table  the ResNet's built-in impostor-distance tables, from lfw-train   [identify.mk]
#   make cohort          the ResNet's cohort (weights/resnet34-dlib.cohort) for cohort-normalised identify [identify.mk]
#   make triplet      the triplet-loss head example                            [matching.mk]
#   make bench-match  fnet_identify over a 10k gallery vs numpy and dlib       [matching.mk]
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -pedantic -Werror
INC      = -I. -I/usr/include/stb
LDLIBS   = -lm -lpthread
SHARED  ?= ../shared
FNET_WEIGHTS ?= weights
export FNET_WEIGHTS

EXAMPLES = $(patsubst examples/%.c,build/%,$(wildcard examples/*.c))

.PHONY: all weights test check-header demo bench clean deps deps-demo deps-test
all: $(EXAMPLES)

# What the tools need, from one list (tools/deps.sh): installed when running as root, else
# the exact apt-get command is printed. FNET_NO_DEPS=1 skips the check.
deps:
	sh tools/deps.sh all
deps-demo:
	@sh tools/deps.sh demo
deps-test:
	@sh tools/deps.sh test

build/%: examples/%.c facenet.h $(wildcard examples/*.h)
	@mkdir -p build
	$(CC) -std=c99 $(WARN) $(CFLAGS) $(INC) $< -o $@ $(LDLIBS)

weights:
	sh weights/build.sh

# The header alone, warning-free as C99 (gcc, clang), as C++ (g++, clang++), and scalar-only;
# compiled at -O2, because some warnings (and intrinsic errors) appear only when optimising.
check-header:
	@for c in "gcc -std=c99 -x c" "clang -std=c99 -x c" "g++ -std=c++11 -x c++" "clang++ -std=c++11 -x c++"; do \
	  set -- $$c; command -v $$1 >/dev/null || { echo "check-header: $$1 not installed, skipped"; continue; }; \
	  for d in "" "-DFNET_NO_SIMD"; do \
	    printf '#define FNET_IMPLEMENTATION\n#include "facenet.h"\n' | $$c $(WARN) $$d -O2 -c -o /dev/null -I. - || exit 1; \
	  done; echo "check-header: $$c ok"; done

test: deps-test
	$(MAKE) check-header all weights cohort
	sh tests/run.sh

demo: deps-demo
	$(MAKE) all weights cohort
	sh examples/demo.sh

bench: all weights
	sh tools/bench/bench.sh

clean:
	rm -rf build

-include tools/mk/*.mk
