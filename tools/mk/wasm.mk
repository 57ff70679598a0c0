# WebAssembly, the WASI side (issue 16): the fnet CLI as a wasm32-wasi program run by Node.
#   make wasm             build/wasm/fnet (+ fnet.wasm): same arguments and JSON as build/fnet
#   make wasm-test        the kernel tests for wasm32 (scalar and SIMD128) under node:wasi
#                         (also part of make test: tests/test_wasm.py)
#   make wasm-portable    the portable driver on the comparison photos, WASI scalar and SIMD128,
#                         against the x86-64 scalar build (also part of make portable)
#
# Toolchain: clang --target=wasm32-wasi with Debian's wasi-libc (+ libclang-rt-14-dev-wasm32,
# lld; tools/deps.sh, group wasm), not Debian's emscripten: the header needs only libc and libm,
# which wasi-libc is; a WASI command module runs under plain `node` (node:wasi) with real file
# access, so the CLI, the tests and the portable driver build unchanged from their C sources;
# there is no generated JavaScript glue or emscripten runtime (emcc's FS emulation, its own
# libc, its Python/LLVM version pinning) to ship or keep in step, and the same clang 14 that
# builds the native and cross targets builds this one. wasm-opt (binaryen) shrinks the result
# when installed. (Compile and link are two steps: clang 14, when linking with -O, runs a
# wasm-opt it finds on PATH itself, without the feature flags, which fails on SIMD code.)
#
# SIMD: -msimd128 turns on facenet.h's wasm_simd128 kernel set (FNET_ISA_WASM_SIMD, chosen by
# FNET_ISA_AUTO); Node >= 16 and every current browser run SIMD128. WASM_SIMD= builds scalar.
# Memory: wasm32 memory grows up to 4 GB; when it cannot grow, malloc returns NULL and the
# library returns FNET_ERR_OUT_OF_MEMORY (tests/test_wasm.py checks it with a small
# --max-memory build), never a trap.
WASM_CC      ?= clang
WASM_SYSROOT ?= /usr
WASM_SIMD    ?= -msimd128
WASM_OPT     ?= -O2
WASM_CFLAGS   = --target=wasm32-wasi --sysroot=$(WASM_SYSROOT) -std=c99 $(WARN) $(WASM_OPT) \
                -D_WASI_EMULATED_GETPID -D_WASI_EMULATED_PROCESS_CLOCKS -I. -I/usr/include/stb
WASM_LDFLAGS  = -Wl,--gc-sections -Wl,--strip-all -Wl,-z,stack-size=1048576
WASM_LDLIBS   = -lm -lwasi-emulated-getpid -lwasi-emulated-process-clocks
# node flags of the runner: --no-concurrent-marking works around a V8 crash in Node 20
# (V8 11.3): growing wasm memory in place reports external memory, which can finalise an
# incremental GC while concurrent markers run, and V8 aborts ("unreachable code" in
# MarkCompactCollector::ProcessEphemerons). It hit 9 of 12 runs of `fnet landmarks` (the
# 66 MB landmarks blob grows memory by that much at once); 0 of 12 with this flag.
WASM_NODE    ?= node --disable-warning=ExperimentalWarning --no-concurrent-marking

.PHONY: wasm wasm-test wasm-portable
wasm: build/wasm/fnet

build/wasm/fnet.wasm: examples/fnet.c facenet.h $(wildcard examples/*.h)
	@mkdir -p build/wasm
	$(WASM_CC) $(WASM_CFLAGS) $(WASM_SIMD) -c $< -o $@.o
	$(WASM_CC) --target=wasm32-wasi --sysroot=$(WASM_SYSROOT) $@.o -o $@.tmp $(WASM_LDFLAGS) $(WASM_LDLIBS)
	@if command -v wasm-opt >/dev/null 2>&1; then \
	  wasm-opt -O2 --enable-simd --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
	    --enable-mutable-globals $@.tmp -o $@ && rm -f $@.tmp; else mv $@.tmp $@; fi; rm -f $@.o
	@echo "$@: $$(wc -c < $@) bytes"

build/wasm/fnet: build/wasm/fnet.wasm tools/wasm/run_wasi.mjs
	cp tools/wasm/run_wasi.mjs build/wasm/run_wasi.mjs
	printf '#!/bin/sh\n# fnet under Node (node:wasi): the same arguments and output as build/fnet\nd=$$(dirname "$$0")\nexec $(WASM_NODE) "$$d/run_wasi.mjs" "$$d/fnet.wasm" "$$@"\n' > $@
	chmod +x $@

wasm-test:
	python3 tests/test_wasm.py

wasm-portable: all
	sh tools/wasm/portable_wasm.sh
