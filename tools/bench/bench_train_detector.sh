#!/bin/sh
# bench_train_detector.sh - training a HOG face detector on dlib's example faces
# (dlib-examples/training.xml: 4 images, 18 boxes) with dlib's example settings (gray, upsample
# 1, flips, C 1, epsilon 0.01, 80x80 window): fnet train-detector against dlib's
# structural_object_detection_trainer (tools/reference/dlib_train_detector.cpp), 1 and 2 threads each,
# interleaved in ROUNDS rounds so machine load hits both alike; the best round's training time
# (the train call only: wall clock, and CPU time, which machine load disturbs less) is compared. dlib is built -O3 -march=native for the time
# (its AVX path; FMA contraction makes it take a slightly different path to a slightly
# different filter), and -O2 -ffp-contract=off for the reference numbers: precision, recall
# and average precision of both detectors on the training set (with its flips, as dlib's
# example measures it) and the test set, and the cosine of the two filters.
#   env: SHARED (../shared), ROUNDS (2)
cd "$(dirname "$0")/../.." || exit 2
SHARED=${SHARED:-../shared}
ROUNDS=${ROUNDS:-2}
D=$SHARED/data/dlib-examples
O=build/bench_train_detector.d
S=${FNET_BENCH_SUMMARY:-/dev/null}   # one line per comparison for make bench's summary table
mkdir -p "$O"
[ -f "$D/training.xml" ] || { echo "bench_train_detector: $D missing"; exit 1; }
[ -x build/fnet ] || { echo "bench_train_detector: build/fnet missing (make)"; exit 1; }
if [ ! -f /usr/include/dlib/svm/structural_object_detection_trainer.h ]; then
    echo "(dlib missing: apt-get install libdlib-dev; fnet only)"
    have_dlib=0
else
    have_dlib=1
    g++ -O3 -march=native -I/usr/include/stb tools/reference/dlib_train_detector.cpp -o build/dlib_train_detector_native \
        -ldlib -llapack -lblas -lpthread || exit 1
    make -s build/dlib_train_detector || exit 1
fi
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); dlib-examples, gray, upsample 1, flips, C 1, eps 0.01"
: > "$O/runs.txt"
r=0
while [ $r -lt "$ROUNDS" ]; do
    r=$((r + 1))
    for t in 1 2; do
        build/fnet train-detector "$D/training.xml" "$O/fnet.fnet" --upsample 1 --flip --gray --threads $t \
            2>/dev/null > "$O/fnet.json" || { echo "bench_train_detector: fnet failed"; exit 1; }
        echo "fnet $t $(sed -n 's/.*"seconds":\([0-9.]*\),"cpu_seconds":\([0-9.]*\).*/\1 \2/p' "$O/fnet.json")" >> "$O/runs.txt"
        if [ $have_dlib = 1 ]; then
            build/dlib_train_detector_native "$D/training.xml" "$D/testing.xml" "$O/dlib_native_w.txt" --gray \
                --threads $t > "$O/dlib_native.json" || exit 1
            echo "dlib $t $(sed -n 's/.*"seconds":\([0-9.]*\),"cpu_seconds":\([0-9.]*\).*/\1 \2/p' "$O/dlib_native.json")" >> "$O/runs.txt"
        fi
    done
done
build/fnet test-detector "$O/fnet.fnet" "$D/testing.xml" --upsample 1 --gray > "$O/fnet_test.json" || exit 1
[ $have_dlib = 1 ] && { build/dlib_train_detector "$D/training.xml" "$D/testing.xml" "$O/dlib_w.txt" --gray \
    --threads 1 > "$O/dlib.json" || exit 1; }
python3 - "$O" "$have_dlib" "$S" <<'PY'
import json, math, os, sys
sys.path.insert(0, "tools/convert")
import fnet_blob
o, have_dlib = sys.argv[1], sys.argv[2] == "1"
best, cpu = {}, {}
for line in open(os.path.join(o, "runs.txt")):
    who, t, s, c = line.split()
    best[(who, t)] = min(best.get((who, t), 1e9), float(s))
    cpu[(who, t)] = min(cpu.get((who, t), 1e9), float(c))
fj = json.loads(open(os.path.join(o, "fnet.json")).read().strip().split("\n")[-1])
ft = json.load(open(os.path.join(o, "fnet_test.json")))
print("training time (s, best of rounds; the train call only): wall clock, and CPU time of all threads")
print("  threads   fnet    dlib   dlib/fnet   cpu: fnet    dlib   dlib/fnet")
for t in ("1", "2"):
    f = best.get(("fnet", t)); d = best.get(("dlib", t)); fc = cpu.get(("fnet", t)); dc = cpu.get(("dlib", t))
    print("  %-7s %6.2f  %6s   %-9s        %6.2f  %6s   %s" % (t, f, "%.2f" % d if d else "-", "%.2fx" % (d / f) if d else "-",
          fc, "%.2f" % dc if dc else "-", "%.2fx" % (dc / fc) if dc else "-"))
with open(sys.argv[3], "a") as s:
    s.write("train detector, 1 thread\tCPU s\t%.2f\t%s\t%s\n" % (cpu[("fnet", "1")],
            "dlib -O3 -march=native" if have_dlib else "dlib: not installed (sh tools/deps.sh bench)",
            "%.2f" % cpu[("dlib", "1")] if have_dlib else "-"))
print("fnet: %d iterations, %d oracle scans, objective %.6f" % (fj["iterations"], fj["oracle_calls"], fj["objective"]))
row = lambda e: "P %.4f R %.4f AP %.4f" % (e["precision"], e["recall"], e["ap"])
print("  fnet  train (with flips) %s   test %s" % (row(fj["train"]), row(ft)))
if have_dlib:
    dj = json.load(open(os.path.join(o, "dlib.json")))
    print("  dlib  train (with flips) %s   test %s" % (row(dj["train"]), row(dj["test"])))
    blob = open(os.path.join(o, "fnet.fnet"), "rb").read()
    b = fnet_blob.read(blob)
    f = fnet_blob.tensor_values(blob, [t for t in b["tensors"] if t["name"] == "filter0"][0])
    for name, label in (("dlib_w.txt", "dlib -O2 -ffp-contract=off"), ("dlib_native_w.txt", "dlib -O3 -march=native")):
        w = [float(x) for x in open(os.path.join(o, name))]
        d = [w[p * 100 + rc] for rc in range(100) for p in range(31)]
        cos = sum(x * y for x, y in zip(f, d)) / math.sqrt(sum(x * x for x in f) * sum(y * y for y in d))
        print("  filter cosine with %s: %.7f (threshold %.6f vs %.6f)" % (label, cos, float.fromhex(b["meta"]["threshold0"]), w[-1]))
PY
