#!/bin/sh
# make baremetal-run (part of make portable when the toolchain and qemu-system-arm are there):
# facenet.h on a Cortex-M7 with no operating system, compared with the x86-64 scalar build.
#
# tools/portable/portable_driver.c is built with arm-none-eabi-gcc for QEMU's mps2-an500 board
# (Cortex-M7 with FPU; 4 MB SSRAM for code, 16 MB PSRAM for data, heap and stack:
# tools/portable/baremetal/mps2_an500.ld), the library with FNET_NO_STDIO, newlib's C library
# and librdimon: semihosting carries stdout, the command line and the file reads to the host.
# The driver reads each blob into a 64-byte aligned buffer and loads it with
# fnet_model_load_memory (zero-copy), decodes the photos (stb_image), detects, runs the
# landmarks and the synthetic gallery, and prints every result; the same program built for
# x86-64 (gcc -O2 -DFNET_NO_SIMD) with the same blobs is the reference, and
# tools/portable/portable_compare.py compares them (boxes identical, landmarks within 1e-3 px).
# Blobs: hog_frontal.fnet and, when built (make landmarks5), landmarks5.fnet: those fit the
# board. nn4 (14.6 MB blob, and the engine's repacked weights as big again: 15.4 MB of RAM
# with the blob in flash) does not fit its 16 MB; see the README's memory table.
#
# Then 32-bit RISC-V with the whole pipeline (below: QEMU's virt board has the RAM for it).
#
# usage: sh tools/portable/baremetal.sh
# env:   FNET_WEIGHTS (default weights), FNET_SHARED (default ../shared),
#        BAREMETAL_TIMEOUT (seconds per run, default 900)
set -u
cd "$(dirname "$0")/../.." || exit 2
B=build/baremetal
S=${FNET_SHARED:-../shared}/data
W=${FNET_WEIGHTS:-weights}
IMAGES="$S/openface-examples/clapton-2.jpg $S/openface-examples/longoria-cooper.jpg $S/dlib-examples/2008_002470.jpg"
for t in arm-none-eabi-gcc qemu-system-arm; do
    command -v $t >/dev/null 2>&1 || { echo "baremetal: skipped, $t not installed (sh tools/deps.sh baremetal)"; exit 0; }
done
[ -f "$W/hog_frontal.fnet" ] || { echo "baremetal: $W/hog_frontal.fnet missing (make weights)"; exit 1; }
for img in $IMAGES; do
    [ -f "$img" ] || { echo "baremetal: $img not found (set FNET_SHARED)"; exit 1; }
done
mkdir -p "$B/w"
rm -f "$B"/w/*.fnet
cp "$W/hog_frontal.fnet" "$B/w/"
lmdef=""
if [ -f "$W/landmarks5.fnet" ]; then
    cp "$W/landmarks5.fnet" "$B/w/"
    lmdef=-DDRIVER_LANDMARKS5
else
    echo "baremetal: no $W/landmarks5.fnet (make landmarks5): detection only"
fi
WARN="-std=c99 -Wall -Wextra -pedantic -Werror"
DEFS="-DDRIVER_LOAD_MEMORY -DSTBI_NO_THREAD_LOCALS $lmdef"
status=0
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

M7="-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16"
# the start code is not ISO C (a vector table of addresses): no -pedantic there
# shellcheck disable=SC2086
if ! arm-none-eabi-gcc $M7 -std=c99 -Wall -Wextra -Werror -O2 -c tools/portable/baremetal/startup.c -o "$B/startup-m7.o" > "$B/build.log" 2>&1 ||
   ! arm-none-eabi-gcc $M7 $WARN -O2 -DFNET_NO_STDIO $DEFS -I. -isystem /usr/include/stb -ffunction-sections -fdata-sections \
        -nostartfiles -T tools/portable/baremetal/mps2_an500.ld "$B/startup-m7.o" tools/portable/portable_driver.c \
        -o "$B/driver-m7.elf" -Wl,--gc-sections -lc -lrdimon -lm -lgcc >> "$B/build.log" 2>&1; then
    echo "baremetal: the Cortex-M7 driver does not build"; head -n 20 "$B/build.log"; exit 1
fi
# shellcheck disable=SC2086
if ! gcc $WARN -O2 -DFNET_NO_SIMD $DEFS -I. -I/usr/include/stb tools/portable/portable_driver.c -o "$B/driver-ref" -lm > "$B/ref.build.log" 2>&1; then
    echo "baremetal: the reference driver does not build"; head -n 20 "$B/ref.build.log"; exit 1
fi
echo "cortex-m7 driver: $(arm-none-eabi-size "$B/driver-m7.elf" | awk 'NR == 2 { printf "%.0f KB code, %.0f KB data+bss", $1 / 1024, ($2 + $3) / 1024 }')"

# shellcheck disable=SC2086
"$B/driver-ref" "$B/w" $IMAGES > "$B/out-ref.txt" 2> "$B/out-ref.err" || { echo "baremetal: reference run failed"; status=1; }
args="arg=driver,arg=$B/w"
for img in $IMAGES; do args="$args,arg=$img"; done
t0=$(now)
timeout "${BAREMETAL_TIMEOUT:-900}" qemu-system-arm -M mps2-an500 -nographic -monitor none -serial none \
    -semihosting-config "enable=on,target=native,$args" -kernel "$B/driver-m7.elf" > "$B/out-m7.txt" 2> "$B/out-m7.err"
rc=$?
echo "mps2-an500 (Cortex-M7, qemu-system-arm): $(elapsed "$t0") s, rc $rc; $(grep -c '^box' "$B/out-m7.txt") boxes, $(grep -c '^lm ' "$B/out-m7.txt") landmark sets"
if [ $rc -ne 0 ] || grep -q 'baremetal: fault' "$B/out-m7.txt" "$B/out-m7.err"; then
    status=1; tail -n 5 "$B/out-m7.err"
fi
python3 tools/portable/portable_compare.py "$B/out-ref.txt" "cortex-m7=$B/out-m7.txt" || status=1

# 32-bit RISC-V (rv32imafc, single-precision FPU) on QEMU's riscv32 `virt` board with 1 GB of
# RAM: room for every blob, so the whole driver runs (detection, 68 landmarks, nn4 and ResNet
# embeddings), compared with the x86-64 scalar build of the same program. picolibc with its
# semihosting crt0 and library (stdout, argv and files through the host); its linker script
# placed by --defsym at the board's RAM (0x80000000: 4 MB for code, the rest for data).
if command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 && command -v qemu-system-riscv32 >/dev/null 2>&1 &&
   [ -f /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ]; then
    mkdir -p "$B/wall"
    rm -f "$B"/wall/*.fnet
    for f in hog_frontal.fnet landmarks68.fnet nn4.small2.v1.fnet resnet34.fnet; do
        [ -f "$W/$f" ] && cp "$W/$f" "$B/wall/"
    done
    RV="--specs=picolibc.specs --oslib=semihost --crt0=semihost -march=rv32imafc -mabi=ilp32f"
    # shellcheck disable=SC2086
    if ! riscv64-unknown-elf-gcc $RV $WARN -O2 -DFNET_NO_STDIO -DDRIVER_LOAD_MEMORY -DSTBI_NO_THREAD_LOCALS -I. \
            -isystem /usr/include/stb tools/portable/portable_driver.c -o "$B/driver-rv32.elf" -Wl,--defsym=__flash=0x80000000 \
            -Wl,--defsym=__flash_size=0x400000 -Wl,--defsym=__ram=0x80400000 -Wl,--defsym=__ram_size=0x3fc00000 \
            -Wl,--defsym=__stack_size=0x100000 -lm > "$B/rv32.build.log" 2>&1 ||
       ! gcc $WARN -O2 -DFNET_NO_SIMD -DDRIVER_LOAD_MEMORY -I. -I/usr/include/stb tools/portable/portable_driver.c \
            -o "$B/driver-ref-all" -lm >> "$B/rv32.build.log" 2>&1; then
        echo "baremetal: the RISC-V driver does not build"; head -n 20 "$B/rv32.build.log"; status=1
    else
        # shellcheck disable=SC2086
        "$B/driver-ref-all" "$B/wall" $IMAGES > "$B/out-ref-all.txt" 2> /dev/null || status=1
        args="arg=$B/wall"
        for img in $IMAGES; do args="$args,arg=$img"; done
        t0=$(now)
        # picolibc's semihosted stdout arrives on QEMU's stderr
        timeout "${BAREMETAL_TIMEOUT:-900}" qemu-system-riscv32 -M virt -m 1G -bios none -nographic -monitor none \
            -serial none -semihosting-config "enable=on,target=native,$args" -kernel "$B/driver-rv32.elf" \
            > "$B/out-rv32.log" 2>&1
        rc=$?
        grep -v '^qemu' "$B/out-rv32.log" > "$B/out-rv32.txt"
        echo "riscv32 virt (rv32imafc, qemu-system-riscv32): $(elapsed "$t0") s, rc $rc; $(grep -c '^box' "$B/out-rv32.txt") boxes, $(grep -c '^emb ' "$B/out-rv32.txt") embeddings"
        [ $rc -eq 0 ] || status=1
        python3 tools/portable/portable_compare.py "$B/out-ref-all.txt" "rv32imafc=$B/out-rv32.txt" || status=1
    fi
else
    echo "baremetal: RISC-V run skipped (gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc)"
fi
if [ $status -eq 0 ]; then echo "baremetal: passed"; else echo "baremetal: FAILED"; fi
exit $status
