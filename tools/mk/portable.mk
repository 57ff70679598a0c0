# make portable: platform matrix (gcc/clang, C/C++, -O0/-O2, FNET_NO_SIMD, -m32, aarch64 and
# big-endian s390x under qemu) compared with the x86-64 scalar build, valgrind on the CLI,
# ThreadSanitizer on the threads test. See tools/portable/portable.sh.
# make fuzz: libFuzzer targets in tests/fuzz (FUZZ_SECONDS per target, default 60).
FUZZ_SECONDS ?= 60
.PHONY: portable fuzz fuzz-build
portable: all
	sh tools/portable/portable.sh

fuzz: all
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh
