#!/bin/sh
# make demo, part 2: who is who across photos, with dlib's ResNet-34 descriptor (and nn4 with
# its re-learned tensors beside it in the verify part, when make relearn has built it).
#   verify:   pairs of photos, same person or not (plain L2 distance, threshold calibrated on LFW)
#   enroll:   a gallery from face_recognition's knn_examples/train (one folder per person)
#   identify: every face in knn_examples/test against that gallery (unknown faces rejected)
# Usage: sh examples/demo_match.sh SHARED_DATA_DIR
set -eu
S=$1
F=build/fnet
out=build/demo
mkdir -p "$out"
fr=$S/face_recognition-examples
of=$S/openface-examples
# nn4 with its five missing tensors re-learned (make relearn), when built, beside the ResNet:
# its blob is offered to fnet under the name --net nn4 looks for, in a folder of links.
W=$(cd "${FNET_WEIGHTS:-weights}" && pwd)
RL=""
if [ -f "$W/nn4.small2.v1.relearned.fnet" ]; then
    RL=$out/nn4-relearned
    mkdir -p "$RL"
    for b in hog_frontal.fnet landmarks68.fnet; do ln -sf "$W/$b" "$RL/$b"; done
    ln -sf "$W/nn4.small2.v1.relearned.fnet" "$RL/nn4.small2.v1.fnet"
    echo "== verify: resnet and nn4.small2.v1+relearned side by side (L2 distance, same person when below each network's threshold)"
else
    echo "== verify (resnet: same person when the L2 distance is below the LFW-calibrated threshold; make relearn adds nn4 beside it)"
fi
for pair in "$of/lennon-1.jpg $of/lennon-2.jpg" "$of/clapton-1.jpg $of/clapton-2.jpg" \
            "$of/lennon-1.jpg $of/clapton-1.jpg" "$fr/tests/test_images/obama.jpg $fr/tests/test_images/obama2.jpg" \
            "$fr/tests/test_images/obama.jpg $fr/tests/test_images/biden.jpg"; do
    set -- $pair
    r=$($F verify "$1" "$2")
    n="{}"
    [ -n "$RL" ] && n=$($F verify --net nn4 --weights "$RL" "$1" "$2" 2>/dev/null || echo "{}")
    python3 -c '
import json, os, sys
a, b = (os.path.basename(p) for p in sys.argv[1:3])
r, n = json.loads(sys.argv[3]), json.loads(sys.argv[4])
say = lambda j: "%.3f %-9s" % (j["distance"], "same" if j["same"] else "different")
line = "%-16s %-16s resnet %s" % (a, b, say(r))
if "distance" in n:
    line += "   nn4+relearned %s" % say(n)
print(line)' "$1" "$2" "$r" "$n"
done
rm -f "$out/gallery.fnetg"
echo "== enroll $fr/examples/knn_examples/train into $out/gallery.fnetg"
$F enroll "$out/gallery.fnetg" "$fr/examples/knn_examples/train" 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
print("  %d people, %d faces: %s" % (j["people"], j["embeddings"], ", ".join(e["name"] for e in j["enrolled"])))'
echo "== identify the test photos"
$F identify "$out/gallery.fnetg" "$fr/examples/knn_examples/test/"*.jpg 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    j = json.loads(line)
    names = ["%s (%.2f)" % (f.get("name") or "unknown", f["distance"]) for f in j.get("faces", [])]
    print("  %-22s %s" % (os.path.basename(j["image"]), ", ".join(names) if names else "(no face)"))'
