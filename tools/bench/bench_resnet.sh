#!/bin/sh
# bench_resnet.sh - dlib's ResNet-34 face descriptor (150x150 chip -> 128-d), batch 1, single
# thread, ms per face: facenet.h (tools/bench/bench_embed.c on resnet34.fnet) vs face-api 1.7.15 in
# Node on tfjs' wasm backend (tools/reference/faceapi_ref.js --bench) and ONNX Runtime (npm
# onnxruntime-node on the blob's ONNX export, tools/convert/fnet_onnx.py + tools/bench/bench_ort.js),
# interleaved in ROUNDS rounds so that machine load hits everyone alike; the median of each
# tool's best round is compared. face-api on tfjs' pure-JavaScript cpu backend is timed once
# (it is ~50x slower). Then the whole pipeline per LFW image (detect upsample 1 + landmarks +
# dlib chip + embed), single thread, on the first NIMG images of lfw-dev (tools/bench/bench_resnet.c).
# Also, in the same rounds: one face on 2 threads (facenet.h: fnet_embed_batch of 1 with 2
# workers of examples/thread_pool.h; ONNX Runtime: intraOpNumThreads 2), and facenet.h's
# throughput on a batch of 8 (fnet_embed_batch, 1 thread, ms per face).
#   env: FNET_WEIGHTS (blob folder), FNET_SHARED (../shared), ROUNDS (3), ITERS (20), NIMG (20)
#   peers: `make resnet-node` (tfjs + wasm backend in build/node), weights/cache/face-api/package
#          (make weights), `npm install --ignore-scripts --prefix build/npm onnxruntime-node`
cd "$(dirname "$0")/../.." || exit 2
W=${FNET_WEIGHTS:-weights}
S=${FNET_BENCH_SUMMARY:-/dev/null}   # one line per comparison for make bench's summary table
BLOB=$W/resnet34.fnet
ROUNDS=${ROUNDS:-3}
ITERS=${ITERS:-20}
NIMG=${NIMG:-20}
SH=${FNET_SHARED:-../shared}
FA=${FNET_FACEAPI_DIR:-weights/cache/face-api/package}
O=build/bench_resnet.d
mkdir -p "$O"
[ -f "$BLOB" ] || { echo "bench_resnet: $BLOB missing (make weights)"; exit 1; }
${CC:-cc} -std=c99 -O2 -I. tools/bench/bench_embed.c -o build/bench_embed -lm -lpthread || exit 1
${CC:-cc} -std=c99 -O2 -I. -I/usr/include/stb tools/bench/bench_resnet.c -o build/bench_resnet -lm -lpthread || exit 1

have_fa=0; have_ort=0
[ -d build/node/node_modules/@tensorflow/tfjs-backend-wasm ] && [ -f "$FA/dist/face-api.node-wasm.js" ] && have_fa=1
[ $have_fa = 1 ] || echo "(face-api skipped: make resnet-node weights)"
if [ -d build/npm/node_modules/onnxruntime-node ]; then
    python3 tools/convert/fnet_onnx.py "$BLOB" "$O/resnet34.onnx" > /dev/null && have_ort=1
fi
[ $have_ort = 1 ] || echo "(ONNX Runtime skipped: npm install --ignore-scripts --prefix build/npm onnxruntime-node)"
FA_RUN="env NODE_PATH=build/node/node_modules node tools/reference/faceapi_ref.js --faceapi $FA"

: > "$O/runs.txt"
: > "$O/runs2.txt"
r=0
while [ $r -lt "$ROUNDS" ]; do
    r=$((r + 1))
    ./build/bench_embed "$BLOB" --isa auto --iters "$ITERS" | grep '^fnet' | awk '{print "facenet.h", $2}' >> "$O/runs.txt"
    ./build/bench_embed "$BLOB" --isa auto --iters "$ITERS" --workers 2 | grep '^fnet' | awk '{print "facenet.h", $2}' >> "$O/runs2.txt"
    ./build/bench_embed "$BLOB" --isa auto --iters "$ITERS" --batch 8 | grep '^fnet' | awk '{print "facenet.h-batch-8", $2}' >> "$O/runs.txt"
    [ $have_ort = 1 ] && node tools/bench/bench_ort.js "$O/resnet34.onnx" 150 256 122.782,117.001,104.298 "$ITERS" 2 |
        awk '{print "onnxruntime", $2}' >> "$O/runs2.txt"
    [ $have_fa = 1 ] && $FA_RUN --backend wasm --bench "$ITERS" 2> /dev/null |
        sed -n 's/.*"ms_per_face":\([0-9.]*\).*/face-api-tfjs-wasm \1/p' >> "$O/runs.txt"
    [ $have_ort = 1 ] && node tools/bench/bench_ort.js "$O/resnet34.onnx" 150 256 122.782,117.001,104.298 "$ITERS" 1 |
        awk '{print "onnxruntime", $2}' >> "$O/runs.txt"
done
[ $have_fa = 1 ] && $FA_RUN --backend cpu --bench 3 2> /dev/null |
    sed -n 's/.*"ms_per_face":\([0-9.]*\).*/face-api-tfjs-cpu \1/p' >> "$O/runs.txt"

awk -v S="$S" '{ if (!($1 in best) || $2 < best[$1]) best[$1] = $2; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
END {
    printf "%-22s %14s %14s\n", "ResNet-34, 1 thread", "ms/face", "vs facenet.h"
    for (i = 1; i <= k; i++) printf "%-22s %14.2f %13.2fx\n", order[i], best[order[i]], best[order[i]] / best["facenet.h"]
    fast = ""; for (i = 1; i <= k; i++) if (order[i] !~ /^facenet\.h/ && (fast == "" || best[order[i]] < best[fast])) fast = order[i]
    printf "resnet34, 1 thread\tms/face\t%.3f\t%s\t%s\n", best["facenet.h"], (fast != "" ? fast : "none: no peer ran (sh tools/deps.sh bench)"), (fast != "" ? sprintf("%.3f", best[fast]) : "-") >> S
}' "$O/runs.txt"
awk -v S="$S" '{ if (!($1 in best) || $2 < best[$1]) best[$1] = $2; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
END {
    printf "%-22s %14s %14s\n", "ResNet-34, 2 threads", "ms/face", "vs facenet.h"
    for (i = 1; i <= k; i++) printf "%-22s %14.2f %13.2fx\n", order[i], best[order[i]], best[order[i]] / best["facenet.h"]
    if ("onnxruntime" in best) printf "resnet34, 2 threads\tms/face\t%.3f\tonnxruntime\t%.3f\n", best["facenet.h"], best["onnxruntime"] >> S
}' "$O/runs2.txt"

imgs=$(find "$SH/data/lfw-dev/lfw-deepfunneled" -name '*.jpg' 2> /dev/null | sort | head -n "$NIMG")
if [ -n "$imgs" ]; then
    # shellcheck disable=SC2086
    ./build/bench_resnet "$W" $imgs --iters 3 || echo "(pipeline benchmark failed: are all stages in facenet.h?)"
else
    echo "(pipeline skipped: $SH/data/lfw-dev not found; set FNET_SHARED)"
fi
