#!/bin/sh
# The matching figures (verification threshold, identification and open-set rates,
# clustering precision/recall, classifier accuracy) on LFW dev, for each network whose blob
# exists. Embeddings are cached under build/embcache (rm -rf it after changing the pipeline).
# Usage: sh tools/eval/eval_match.sh [resnet] [nn4]
cd "$(dirname "$0")/../.." || exit 2
mkdir -p build
cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -I. -I/usr/include/stb tools/eval/eval_match.c -o build/eval_match -lm || exit 1
W=${FNET_WEIGHTS:-weights}
nets=${*:-resnet nn4}
for n in $nets; do
    blob=resnet34.fnet; [ "$n" = nn4 ] && blob=nn4.small2.v1.fnet
    [ -f "$W/$blob" ] || { echo "eval_match: $W/$blob not built (make weights), $n skipped"; continue; }
    echo "== $n"
    build/eval_match --net "$n" --weights "$W" || exit 1
done
