# facenet.h - build, weights, tests, demo, benchmarks.
#   make            build/fnet and the examples
#   make deps       the Debian packages every target needs (tools/deps.sh; demo and test
#                   install their part themselves)
#   make weights    the four blobs in weights/ (see weights/README.md)
#   make test       compile checks (C99 gcc/clang, C++) + every test, also under ASan+UBSan
#                   (STRICT=1, or CI set: a skip outside tests/skip_allowlist.txt fails)
#   make demo       the pipeline on the shared sample photos
#   make bench      speed against the peers measured in the same run
#   make relearn    weights/nn4.small2.v1.relearned.fnet: nn4's five missing tensors re-learned (tools/relearn.mk)
#   make relearn-eval  its leave-one-fold-out LFW figure (three trainings, about 11 minutes)
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
	$(MAKE) check-header all weights
	sh tests/run.sh

demo: deps-demo
	$(MAKE) all weights
	sh examples/demo.sh

bench: all weights
	sh tools/bench.sh

clean:
	rm -rf build

-include tools/*.mk
-include tools/mk/*.mk
