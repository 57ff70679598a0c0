# make windows       the CLI, the other examples, the C tests and the platform driver for x86-64
#                    Windows, cross-built with MinGW-w64 (Debian gcc-mingw-w64-x86-64) into
#                    build/windows/ (fnet.exe ...): static executables, no DLL to ship. The
#                    examples' OS calls go through examples/platform.h (Win32 threads and
#                    folders); the tests' pthreads come from MinGW's winpthreads, linked in.
# make windows-test  runs the C tests and the platform driver under Wine (Debian wine64) and
#                    compares the driver with the x86-64 scalar build (tools/portable/windows.sh)
# tests/test_fuzz_regress.c is left out: it replays libFuzzer inputs with POSIX posix_memalign.
WIN_CC    ?= x86_64-w64-mingw32-gcc
WIN_DIR    = build/windows
WIN_TESTS  = $(filter-out test_fuzz_regress,$(patsubst tests/%.c,%,$(wildcard tests/test_*.c)))
WIN_EXES   = $(patsubst examples/%.c,$(WIN_DIR)/%.exe,$(wildcard examples/*.c)) \
             $(WIN_TESTS:%=$(WIN_DIR)/%.exe) $(WIN_DIR)/portable_driver.exe
# stb from Debian's libstb-dev: <stb/...> through a link in build/windows/include, <stb_...>
# directly; -isystem, as /usr/include is for the native compiler (no warnings from stb)
WIN_FLAGS  = -std=c99 $(WARN) -O2 -I. -Itests -isystem $(WIN_DIR)/include -isystem /usr/include/stb
WIN_LIBS   = -static -lm -lpthread

.PHONY: windows windows-test
windows: $(WIN_EXES)

$(WIN_DIR)/include/stb:
	@command -v $(WIN_CC) >/dev/null || { echo "make windows: $(WIN_CC) not installed (apt-get install gcc-mingw-w64-x86-64, or make deps)"; exit 1; }
	@[ -d /usr/include/stb ] || { echo "make windows: /usr/include/stb missing (apt-get install libstb-dev)"; exit 1; }
	mkdir -p $(WIN_DIR)/include && ln -sfn /usr/include/stb $@

$(WIN_DIR)/%.exe: examples/%.c facenet.h $(wildcard examples/*.h) | $(WIN_DIR)/include/stb
	$(WIN_CC) $(WIN_FLAGS) $< -o $@ $(WIN_LIBS)

$(WIN_DIR)/%.exe: tests/%.c facenet.h tests/fnet_test.h | $(WIN_DIR)/include/stb
	$(WIN_CC) $(WIN_FLAGS) $< -o $@ $(WIN_LIBS)

$(WIN_DIR)/portable_driver.exe: tools/portable/portable_driver.c facenet.h $(wildcard examples/*.h) | $(WIN_DIR)/include/stb
	$(WIN_CC) $(WIN_FLAGS) $< -o $@ $(WIN_LIBS)

windows-test: windows
	sh tools/portable/windows.sh

# make msvc-check: facenet.h parsed with clang in MSVC mode (MSVC's and clang-cl's branches),
# C99 and C++14, against stand-in C library headers; a few seconds (tools/portable/msvc_check.sh)
.PHONY: msvc-check
msvc-check:
	sh tools/portable/msvc_check.sh
