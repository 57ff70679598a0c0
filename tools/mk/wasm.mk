# WebAssembly, the WASI side (issue 16): the fnet CLI as a wasm32-wasi program run by Node.
#   make wasm             build/wasm/fnet (+ fnet.wasm): same arguments and JSON as build/fnet
#   make wasm-test        the C tests for wasm32+SIMD128 under node:wasi (tests/test_wasm.py,
#                         also part of make test)
#   make wasm-portable    the portable driver on the comparison photos, WASI scalar and SIMD128,
#                         against the x86-64 scalar build (also part of make portable; here
#                         tools/portable/portable.sh wasm32, whose reference build runs its driver only)
#
# Toolchain: clang --target=wasm32-wasi with Debian's wasi-libc (+ libclang-rt-14-dev-wasm32,
# lld; tools/deps.sh, group wasm), through tools/wasm/cc.sh; not Debian's emscripten. The header
# needs only libc and libm, which wasi-libc is; a WASI command module runs under plain `node`
# (node:wasi) with real file access, so the CLI, the tests and the portable driver build
# unchanged from their C sources, with no generated JavaScript glue or emscripten runtime (its
# own libc, FS emulation, pinned LLVM/Python/node versions) to ship or keep in step; the clang
# 14 that builds the native and cross targets builds this one too. wasm-opt (binaryen) shrinks
# the result when installed.
#
# SIMD: -msimd128 turns on facenet.h's wasm_simd128 kernel set (FNET_ISA_WASM_SIMD, which
# FNET_ISA_AUTO picks); Node >= 16 and current browsers run SIMD128. WASM_SIMD= builds scalar.
# Memory: fixed 4 GB, never grown (Node 20's node:wasi crashes after memory.grow: see
# tools/wasm/cc.sh); past it malloc returns NULL -> FNET_ERR_OUT_OF_MEMORY, not a trap.
WASM_SIMD    ?= -msimd128
WASM_OPT     ?= -O2
WASM_NODE    ?= node --disable-warning=ExperimentalWarning

.PHONY: wasm wasm-test wasm-portable
wasm: build/wasm/fnet

build/wasm/fnet.wasm: examples/fnet.c facenet.h $(wildcard examples/*.h) tools/wasm/cc.sh tools/wasm/wasi_cwd.c
	@mkdir -p build/wasm
	sh tools/wasm/cc.sh -std=c99 $(WARN) $(WASM_OPT) $(WASM_SIMD) -I. $< -o $@.tmp
	@if command -v wasm-opt >/dev/null 2>&1; then \
	  wasm-opt -O2 --strip-debug --enable-simd --enable-bulk-memory --enable-sign-ext \
	    --enable-nontrapping-float-to-int --enable-mutable-globals $@.tmp -o $@ && rm -f $@.tmp; \
	else mv $@.tmp $@; fi
	@echo "$@: $$(wc -c < $@) bytes"

build/wasm/fnet: build/wasm/fnet.wasm tools/wasm/run_wasi.mjs
	cp tools/wasm/run_wasi.mjs build/wasm/run_wasi.mjs
	printf '#!/bin/sh\n# fnet under Node (node:wasi): the same arguments and output as build/fnet\nd=$$(dirname "$$0")\nexec $(WASM_NODE) "$$d/run_wasi.mjs" "$$d/fnet.wasm" "$$@"\n' > $@
	chmod +x $@

wasm-test:
	python3 tests/test_wasm.py

wasm-portable: all
	PORTABLE_TESTS=none sh tools/portable/portable.sh wasm32
