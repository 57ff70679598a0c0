#!/bin/sh
# make baremetal-run (part of make portable when the toolchain and qemu-system-arm are there):
# facenet.h on a Cortex-M7 with no operating system, compared with the x86-64 scalar build.
#
# tools/portable_driver.c is built with arm-none-eabi-gcc for QEMU's mps2-an500 board
# (Cortex-M7 with FPU; 4 MB SSRAM for code, 16 MB PSRAM for data, heap and stack:
# tools/portable/baremetal/mps2_an500.ld), the library with FNET_NO_STDIO, newlib's C library
# and librdimon: semihosting carries stdout, the command line and the file reads to the host.
# The driver reads each blob into a 64-byte aligned buffer and loads it with
# fnet_model_load_memory (zero-copy), decodes the photos (stb_image), detects, runs the
# landmarks and the synthetic gallery, and prints every result; the same program built for
# x86-64 (gcc -O2 -DFNET_NO_SIMD) with the same blobs is the reference, and
# tools/portable_compare.py compares them (boxes identical, landmarks within 1e-3 px).
# Blobs: hog_frontal.fnet and, when built (make landmarks5), landmarks5.fnet: those fit the
# board. nn4 (14.6 MB blob, and the engine's repacked weights as big again: 15.4 MB of RAM
# with the blob in flash) does not fit its 16 MB; see the README's memory table.
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
    command -v $t >/dev/null 2>&1 || { echo "baremetal: skipped, $t not installed (gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"; exit 0; }
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
        -nostartfiles -T tools/portable/baremetal/mps2_an500.ld "$B/startup-m7.o" tools/portable_driver.c \
        -o "$B/driver-m7.elf" -Wl,--gc-sections -lc -lrdimon -lm -lgcc >> "$B/build.log" 2>&1; then
    echo "baremetal: the Cortex-M7 driver does not build"; head -n 20 "$B/build.log"; exit 1
fi
# shellcheck disable=SC2086
if ! gcc $WARN -O2 -DFNET_NO_SIMD $DEFS -I. -I/usr/include/stb tools/portable_driver.c -o "$B/driver-ref" -lm > "$B/ref.build.log" 2>&1; then
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
python3 tools/portable_compare.py "$B/out-ref.txt" "cortex-m7=$B/out-m7.txt" || status=1
if [ $status -eq 0 ]; then echo "baremetal: passed"; else echo "baremetal: FAILED"; fi
exit $status
