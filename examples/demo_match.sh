#!/bin/sh
# make demo, part 2: who is who across photos, with dlib's ResNet-34 descriptor.
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
echo "== verify (resnet: same person when the L2 distance is below the LFW-calibrated threshold)"
for pair in "$of/lennon-1.jpg $of/lennon-2.jpg" "$of/clapton-1.jpg $of/clapton-2.jpg" \
            "$of/lennon-1.jpg $of/clapton-1.jpg" "$fr/tests/test_images/obama.jpg $fr/tests/test_images/obama2.jpg" \
            "$fr/tests/test_images/obama.jpg $fr/tests/test_images/biden.jpg"; do
    set -- $pair
    $F verify "$1" "$2" | python3 -c '
import json, os, sys
j = json.load(sys.stdin)
a, b = (os.path.basename(p) for p in sys.argv[1:3])
print("%-16s %-16s distance %.3f  %s" % (a, b, j["distance"], "same person" if j["same"] else "different people"))' "$1" "$2"
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
