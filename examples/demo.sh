#!/bin/sh
# make demo: the pipeline on the shared sample photos.
#   1. the blobs' summaries
#   2. faces and landmarks drawn into build/demo/*.png
#   3. embeddings of every face, and which faces in different photos are the same person
set -eu
cd "$(dirname "$0")/.."
S=${FNET_SHARED:-../shared}/data
F=build/fnet
out=build/demo
mkdir -p "$out"
echo "== weight blobs"
for b in "${FNET_WEIGHTS:-weights}"/*.fnet; do
    $F info "$b" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("%-28s %-9s %3d tensors %9d parameters%s" % (j["file"], j["kind"], len(j["tensors"]), j["parameters"], "  INCOMPLETE (filled: %s)" % j["meta"].get("filled_tensors") if j["incomplete"] else ""))'
done
if [ ! -d "$S" ]; then
    echo "demo: $S not found: the photos live in the shared data folder (set FNET_SHARED)" >&2
    exit 1
fi
photos="$S/openface-examples/lennon-1.jpg $S/openface-examples/lennon-2.jpg $S/openface-examples/clapton-1.jpg $S/openface-examples/clapton-2.jpg $S/faceapi-samples/sample1.jpg"
echo "== faces found (detect --upsample 1)"
for p in $photos; do
    [ -f "$p" ] || continue
    $F detect --upsample 1 "$p" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("%-60s %dx%d  %d face(s)" % (j["image"], j["width"], j["height"], len(j["faces"])))'
done
if $F 2>&1 | grep -q ' draw '; then
    echo "== drawn to $out/"
    for p in $photos; do
        [ -f "$p" ] || continue
        n=$(basename "$p" .jpg)
        $F draw --upsample 1 "$p" "$out/$n.png" && echo "$out/$n.png"
    done
fi
if [ -x examples/demo_match.sh ] || [ -f examples/demo_match.sh ]; then
    sh examples/demo_match.sh "$S"
fi
