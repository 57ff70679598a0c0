# make baremetal-run  the pipeline on a Cortex-M7 without an OS (QEMU mps2-an500, newlib,
#                     semihosting) against the x86-64 scalar build: tools/portable/baremetal.sh
# make memory-table   the README's memory-per-stage table, measured by the library's own
#                     workspace-size calls and a counting allocator (tools/portable/memory_needs.c),
#                     built 32-bit scalar (-m32 -DFNET_NO_SIMD) like a microcontroller when
#                     gcc-multilib is there
.PHONY: baremetal-run memory-table
baremetal-run:
	sh tools/portable/baremetal.sh

memory-table:
	@mkdir -p build
	@if printf 'int main(void){return 0;}' | gcc -m32 -x c - -o build/.m32_check 2>/dev/null; then m=-m32; else m=; fi; \
	  gcc $$m -std=c99 $(WARN) -O2 -DFNET_NO_SIMD -I. tools/portable/memory_needs.c -o build/memory_needs -lm && \
	  echo "memory-table: gcc $$m -O2 -DFNET_NO_SIMD, blobs from $(FNET_WEIGHTS)" && \
	  build/memory_needs $(FNET_WEIGHTS) $(MEMORY_BLOBS)
