#!/bin/sh
# Re-learns the five tensors missing from the Keras-OpenFace weights of nn4.small2.v1 with
# facenet.h's own trainer (issue 14), everything else frozen.
#
#   sh tools/eval/relearn.sh build   weights/nn4.small2.v1.relearned.fnet from weights/nn4.small2.v1.fnet
#                               (make weights' filled blob) on every image of
#                               $SHARED/data/lfw-train/images.txt (4,870 LFW images of the 2,709
#                               people outside the sealed folds)
#   sh tools/eval/relearn.sh eval    leave one fold out on $SHARED/data/lfw-dev: three trainings with
#                               the same settings, model k without the people of fold k, each
#                               scored by fnet eval-lfw; tools/eval/lofo_eval.py takes fold k from
#                               model k only (threshold from the other folds of the same model)
#
# The settings (RELEARN_ARGS) were chosen by the validation split of fnet train (held-out
# people of the training pool), not by the LFW folds; see weights/README.md. Deterministic:
# fixed seed, and the trainer's gradient slots make the bytes independent of --threads.
# Progress and an ETA on stderr (fnet train's). Chips and teacher embeddings are kept in
# $RELEARN_CACHE (build/relearn-cache) so that a rerun skips the preparation.
set -eu
cd "$(dirname "$0")/../.."
SHARED=${SHARED:-../shared}
DATA=${RELEARN_DATA:-$SHARED/data/lfw-train/images.txt}
PAIRS=${RELEARN_PAIRS:-$SHARED/data/lfw-dev/pairs.txt}
THREADS=${RELEARN_THREADS:-2}
CACHE=${RELEARN_CACHE:-build/relearn-cache}
OUT=${RELEARN_OUT:-weights/nn4.small2.v1.relearned.fnet}
BASE=weights/nn4.small2.v1.fnet
TENSORS=inception_3c_3x3_conv2_w,inception_4e_3x3_conv2_w,inception_5a_1x1_conv_w,inception_5a_3x3_conv2_w,inception_5b_3x3_conv2_w
# the chosen settings (see weights/README.md for the ablations behind them)
RELEARN_ARGS=${RELEARN_ARGS:---epochs 8 --jitter 4 --seed 1 --distill resnet --loss both --distill-weight 1 --schedule cosine}
FNET=build/fnet

[ -f "$BASE" ] || { echo "relearn: $BASE missing: run make weights first" >&2; exit 1; }
[ -f "$DATA" ] || { echo "relearn: $DATA missing (the shared LFW training list)" >&2; exit 1; }
mkdir -p build/relearn

train() { # out, extra options...
    out=$1; shift
    # shellcheck disable=SC2086
    $FNET train --net nn4 --net-blob "$BASE" --trainable "$TENSORS" --data "$DATA" \
        --network-id nn4.small2.v1+relearned --threads "$THREADS" --cache "$CACHE" \
        $RELEARN_ARGS "$@" --out "$out" --plot "build/relearn/$(basename "${out%.fnet}").png" \
        > "build/relearn/$(basename "${out%.fnet}").json"
}

case ${1:-build} in
build)
    start=$(date +%s)
    train "$OUT"
    echo "relearn: $OUT in $(( $(date +%s) - start )) s" >&2
    $FNET info "$OUT" | python3 -c 'import json, sys
m = json.load(sys.stdin)["meta"]
for k in ("network", "trained_tensors", "train_data", "train_seed", "train_args"):
    sys.stderr.write("relearn: %s: %s\n" % (k, m.get(k, "")))' || true
    ;;
eval)
    [ -f "$PAIRS" ] || { echo "relearn: $PAIRS missing" >&2; exit 1; }
    root=$(dirname "$PAIRS")
    dists=""
    for k in 1 2 3; do
        echo "relearn: leave-one-fold-out model $k of 3 (without the people of fold $k)" >&2
        m=build/relearn/lofo_$k.fnet
        train "$m" --exclude-pairs "$PAIRS" --exclude-fold "$k"
        $FNET eval-lfw --pairs "$PAIRS" --root "$root" --net nn4 --net-blob "$m" --threads "$THREADS" \
            --save-distances "build/relearn/lofo_$k.dist" > "build/relearn/lofo_$k.eval.json"
        dists="$dists build/relearn/lofo_$k.dist"
    done
    # shellcheck disable=SC2086
    python3 tools/eval/lofo_eval.py $dists | tee build/relearn/lofo.json
    # open set and clustering, each fold by the model trained without its people
    cc -std=c99 -O2 -I. -I/usr/include/stb tools/eval/eval_match.c -o build/eval_match -lm || exit 1
    for k in 1 2 3; do
        build/eval_match --net nn4 --net-blob "build/relearn/lofo_$k.fnet" --lfw "$root" --fold "$k" \
            2> /dev/null | tee "build/relearn/lofo_$k.match.txt" | grep -E '^(fold|identification|clustering)' || exit 1
    done
    ;;
*)
    echo "usage: sh tools/eval/relearn.sh build|eval" >&2
    exit 2
    ;;
esac
