# Engine (section 4) extras. `make test-neon`: the kernel and network tests cross-compiled
# for aarch64 and run under qemu-user, so that the NEON kernels are checked against their
# scalar twins on an x86 machine (Debian: gcc-aarch64-linux-gnu qemu-user).
.PHONY: test-neon
test-neon:
	@command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null || \
	  { echo "test-neon: needs aarch64-linux-gnu-gcc and qemu-aarch64 (apt-get install gcc-aarch64-linux-gnu qemu-user)"; exit 0; }; \
	mkdir -p build/neon; \
	for t in test_kernels test_network; do \
	  aarch64-linux-gnu-gcc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -static -I. -Itests tests/$$t.c -o build/neon/$$t -lm -lpthread || exit 1; \
	  qemu-aarch64 build/neon/$$t > build/neon/$$t.log 2>&1; \
	  printf '%-28s %s\n' "$$t (neon, qemu)" "$$(tail -n 1 build/neon/$$t.log)"; \
	  tail -n 1 build/neon/$$t.log | grep -q ' 0 failed' || { grep FAIL build/neon/$$t.log | head; exit 1; }; \
	done
