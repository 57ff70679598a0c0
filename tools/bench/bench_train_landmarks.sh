#!/bin/sh
# bench_train_landmarks.sh - training a shape predictor: fnet train-landmarks (facenet.h
# section 2b) against dlib's shape_predictor_trainer (tools/reference/dlib_train_shape.cpp, -O2) on the
# same faces with the same parameters and the same thread count: training time, and the
# training and testing errors each measures the same way (dlib's example normaliser, the
# eye-centre distance: "mean_error"; and the outer eye corners: "nme").
#   ex    dlib's train_shape_predictor_ex: examples/faces training/testing_with_face_landmarks.xml,
#         oversampling 300, nu 0.05, tree depth 2 (other parameters dlib's defaults)
#   lfpw  68 points, dlib's defaults: 180 LFPW faces (boxes of dlib's detector), NME on the
#         44 held aside (tools/convert/lfpw_xml.py)
# The two trainers draw different random numbers, so their errors differ by the spread between
# seeds (about 5% on ex); SEEDS runs each several times and reports the mean. Time: wall
# seconds of the training (the best run) and CPU seconds of the whole process (user + sys, the
# mean; it includes loading the images and the tests), which a shared machine disturbs less.
#   env: SHARED (../shared), THREADS (2), SETS ("ex lfpw"), SEEDS (1)
cd "$(dirname "$0")/../.." || exit 2
SHARED=${SHARED:-../shared}
THREADS=${THREADS:-2}
SETS=${SETS:-ex lfpw}
SEEDS=${SEEDS:-1}
O=build/bench_train_landmarks.d
S=${FNET_BENCH_SUMMARY:-/dev/null}   # one line per comparison for make bench's summary table
mkdir -p "$O"
[ -x build/fnet ] || { echo "bench_train_landmarks: build/fnet missing (make)"; exit 1; }
make -s build/dlib_train_shape || { echo "bench_train_landmarks: cannot build dlib_train_shape (libdlib-dev)"; exit 1; }
python3 tools/convert/lfpw_xml.py "$SHARED/data" "$O" 2>/dev/null || exit 1
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $THREADS threads each; seeds $SEEDS"
: > "$O/runs.txt"
for set in $SETS; do
    if [ $set = ex ]; then
        TR=$SHARED/data/dlib-examples/training_with_face_landmarks.xml
        TE=$SHARED/data/dlib-examples/testing_with_face_landmarks.xml
        ARGS="--oversampling 300 --nu 0.05 --depth 2"
    else
        TR=$O/lfpw_train.xml; TE=$O/lfpw_test.xml; ARGS=""
    fi
    s=0
    while [ $s -lt "$SEEDS" ]; do
        /usr/bin/time -f '%U %S' -o "$O/cpu_fnet.txt" ./build/fnet train-landmarks "$TR" "$O/$set.fnet" $ARGS \
            --threads "$THREADS" --seed $s 2>/dev/null > "$O/train.json" || exit 1
        ./build/fnet test-landmarks "$O/$set.fnet" "$TE" > "$O/test.json" || exit 1
        python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); a.update(json.load(open(sys.argv[2])))
u, s = open(sys.argv[3]).read().split()[-2:]; a["cpu"] = float(u) + float(s); print(json.dumps(a))' \
            "$O/train.json" "$O/test.json" "$O/cpu_fnet.txt" | sed "s/^/$set fnet /" >> "$O/runs.txt"
        /usr/bin/time -f '%U %S' -o "$O/cpu_dlib.txt" ./build/dlib_train_shape "$TR" "$TE" $ARGS --threads "$THREADS" \
            --seed $s > "$O/dlib.json" || exit 1
        python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))
u, s = open(sys.argv[2]).read().split()[-2:]; a["cpu"] = float(u) + float(s); print(json.dumps(a))' \
            "$O/dlib.json" "$O/cpu_dlib.txt" | sed "s/^/$set dlib /" >> "$O/runs.txt"
        s=$((s + 1))
    done
done
python3 - "$O/runs.txt" "$S" "$THREADS" <<'PY'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    st, tool, js = line.split(" ", 2)
    runs.setdefault((st, tool), []).append(json.loads(js))
def mean(v):
    return sum(v) / len(v)
print("%-5s %-6s %5s %9s %8s %11s %11s %10s %10s %8s %8s" % ("set", "tool", "runs", "seconds", "cpu s", "train err",
      "test err", "train nme", "test nme", "speed", "cpu"))
for st in ("ex", "lfpw"):
    if (st, "fnet") not in runs:
        continue
    sec, cpu = {}, {}
    for tool in ("fnet", "dlib"):
        r = runs.get((st, tool), [])
        if not r:
            continue
        sec[tool] = min([x["seconds"] for x in r])
        cpu[tool] = mean([x["cpu"] for x in r])
        me = lambda k, f: mean([x[k][f] for x in r])
        print("%-5s %-6s %5d %9.1f %8.1f %11.6f %11.6f %10.6f %10.6f %8s %8s" % (
            st, tool, len(r), sec[tool], cpu[tool], me("train", "mean_error"), me("test", "mean_error"),
            me("train", "nme_outer_corners"), me("test", "nme_outer_corners"),
            "%.2fx" % (sec["dlib"] / sec["fnet"]) if tool == "dlib" and "fnet" in sec else "",
            "%.2fx" % (cpu["dlib"] / cpu["fnet"]) if tool == "dlib" and "fnet" in cpu else ""))
    if "fnet" in cpu and "dlib" in cpu:
        with open(sys.argv[2], "a") as s:
            s.write("train landmarks %s, %s threads\tCPU s\t%.1f\tdlib -O2\t%.1f\n" % (
                {"ex": "dlib example", "lfpw": "LFPW 68"}[st], sys.argv[3], cpu["fnet"], cpu["dlib"]))
PY
