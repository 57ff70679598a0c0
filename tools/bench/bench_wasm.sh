#!/bin/sh
# bench_wasm.sh - facenet.h as WebAssembly (build/wasm/facenet.wasm, SIMD128 build) against
# face-api 1.7.15 on tfjs 4.22's wasm backend (SIMD, one thread), in Node and in headless
# Chromium in the same run (tools/bench/bench_wasm.mjs + wasm_bench_core.mjs): ms per face of
# the ResNet-34 descriptor on the same 150x150 chips, ms per photo of the whole pipeline
# (ours: HOG + landmarks + chip + ResNet; face-api: SSD MobileNet + 68-point net + ResNet),
# the .wasm size and each side's wasm memory. Ratios are face-api / facenet.wasm.
#   env: FNET_WEIGHTS (weights), FNET_SHARED (../shared), ROUNDS (3), ITERS (5), CHROMIUM
#   needs: make wasm, make resnet-node (npm tfjs + wasm backend into build/node), face-api's
#   package in weights/cache (make weights), /usr/bin/python3 with numpy (photo decoding)
cd "$(dirname "$0")/../.." || exit 2
W=${FNET_WEIGHTS:-weights}
SH=${FNET_SHARED:-../shared}
FA=${FNET_FACEAPI_DIR:-weights/cache/face-api/package}
[ -f "$W/resnet34.fnet" ] || { echo "bench_wasm: $W/resnet34.fnet missing (make weights)"; exit 1; }
[ -f "$FA/dist/face-api.esm.js" ] || { echo "bench_wasm: face-api package missing in $FA (make weights)"; exit 1; }
make -s wasm resnet-node > /dev/null || { echo "bench_wasm: make wasm resnet-node failed"; exit 1; }
D=build/bench_wasm.d/photos
/usr/bin/python3 tools/web/stb_png.py "$D" "$SH/data/openface-examples/lennon-1.jpg" \
    "$SH/data/openface-examples/lennon-2.jpg" "$SH/data/faceapi-samples/sample1.jpg" || exit 1
# the browser half fetches the photos from /photos/ (build/web/photos)
mkdir -p build/web/photos && cp "$D"/* build/web/photos/
NODE_PATH=build/node/node_modules node --experimental-websocket tools/bench/bench_wasm.mjs "$D" \
    --weights "$W" --faceapi "$FA" --rounds "${ROUNDS:-3}" --iters "${ITERS:-5}" --json build/bench_wasm.json || exit 1
python3 - build/bench_wasm.json "${FNET_BENCH_SUMMARY:-/dev/null}" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
with open(sys.argv[2], "a") as s:
    for host in ("node", "chromium"):
        if host not in j:
            s.write("wasm (%s)\t-\t-\t%s: did not run\t-\n" % (host, host))
            continue
        h = j[host]
        s.write("wasm %s, ResNet descriptor (%s)\tms/face\t%.2f\tface-api tfjs-wasm SIMD\t%.2f\n" % (
            host, h["isa"], h["descriptor"]["ours_ms"], h["descriptor"]["faceapi_ms"]))
        s.write("wasm %s, whole pipeline (%s)\tms/photo\t%.1f\tface-api SSD+68+ResNet\t%.1f\n" % (
            host, h["isa"], h["pipeline"]["ours_ms"], h["pipeline"]["faceapi_ms"]))
PY
