# facenet.h in the browser (issue 16): the wasm library, the demo page, its browser test.
#   make wasm        build/wasm/facenet.wasm (SIMD128) + facenet-nosimd.wasm + facenet.mjs
#   make web         builds them and serves examples/web/ on http://localhost:8016/
#                    (WEB_PORT; weights from $(FNET_WEIGHTS), photos from $(SHARED)/data)
#   make bench-wasm  facenet.wasm against face-api (tfjs-wasm SIMD) in Node and headless Chromium
# Debian's clang (--target=wasm32-wasi) and wasi-libc as a WASI reactor: a library with
# exports and no main (the host calls _initialize once). wasm-opt (binaryen) shrinks and
# speeds it up when installed; without it the linker strips the module.
.PHONY: wasm web bench-wasm deps-web
WASM_CC    ?= clang
WASM_FLAGS  = --target=wasm32-wasi --sysroot=$(CURDIR)/build/wasm/sysroot -std=c99 $(WARN) -O3 -I.
# (the sysroot holds wasi-libc only: --sysroot=/usr would also find glibc's headers; see tools/wasm/cc.sh)
WASM_LD     = -mexec-model=reactor -Wl,--gc-sections -Wl,-z,stack-size=1048576 -Wl,--max-memory=4294967296
WEB_PORT   ?= 8016

deps-web:
	@sh tools/deps.sh web

wasm: build/wasm/facenet.wasm build/wasm/facenet.mjs
wasm: build/wasm/facenet-nosimd.wasm

build/wasm/facenet.wasm: examples/web/facenet_wasm.c facenet.h tools/mk/web.mk | deps-web
	sh tools/web/build_wasm.sh "$(WASM_CC)" "$(WASM_FLAGS) -msimd128" "$(WASM_LD)" $< $@
build/wasm/facenet-nosimd.wasm: examples/web/facenet_wasm.c facenet.h tools/mk/web.mk | deps-web
	sh tools/web/build_wasm.sh "$(WASM_CC)" "$(WASM_FLAGS)" "$(WASM_LD)" $< $@
build/wasm/facenet.mjs: examples/web/facenet.mjs
	@mkdir -p build/wasm
	cp examples/web/facenet.mjs $@

web: wasm
	node examples/web/serve.mjs --port $(WEB_PORT) --weights $(FNET_WEIGHTS) --shared $(SHARED)

bench-wasm: wasm all resnet-node
	sh tools/bench/bench_wasm.sh
