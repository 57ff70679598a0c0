#!/bin/sh
# Leave-one-fold-out test of ResNet-34 fine-tuning (issue 14 item 6): does `fnet train --net
# resnet` on a labelled pool help or hurt LFW verification?
#
#   sh tools/eval/resnet_finetune_lofo.sh NAME [fnet train options...]
#   e.g. sh tools/eval/resnet_finetune_lofo.sh fc_1e-4 --trainable 'fc*' --lr 1e-4 --epochs 3
#
# For k = 1..3: model k is trained on $SHARED/data/lfw-train/images.txt without the people of
# lfw-dev fold k (--exclude-pairs/--exclude-fold), fnet eval-lfw saves its distances on all of
# lfw-dev, and tools/eval/lofo_eval.py scores fold k with model k only (threshold from the other
# folds of the same model). The untouched ResNet is scored the same way (its one distance
# file for every fold) for the comparison. Files in $FT_DIR (build/ft-resnet); models and
# distances already there are reused; chips are cached in $FT_DIR/cache.
set -eu
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n 2,13p "$0" >&2; exit 2; }
NAME=$1; shift
SHARED=${SHARED:-../shared}
DATA=${FT_DATA:-$SHARED/data/lfw-train/images.txt}
PAIRS=$SHARED/data/lfw-dev/pairs.txt
ROOT=$SHARED/data/lfw-dev
THREADS=${FT_THREADS:-1}
DIR=${FT_DIR:-build/ft-resnet}
FNET=build/fnet
mkdir -p "$DIR"

evaluate() { # blob ("" for the untouched network), distances, log
    [ -f "$2" ] && return 0
    blob=
    [ -n "$1" ] && blob="--net-blob $1"
    # shellcheck disable=SC2086
    $FNET eval-lfw --pairs "$PAIRS" --root "$ROOT" --net resnet --threads "$THREADS" $blob \
        --save-distances "$2.tmp" >"$3" 2>&1
    mv "$2.tmp" "$2"
}

evaluate "" "$DIR/base.dist" "$DIR/base.log"
for k in 1 2 3; do
    m=$DIR/${NAME}_f$k.fnet
    if [ ! -f "$m" ]; then
        echo "resnet_finetune_lofo: $NAME fold $k: training" >&2
        $FNET train --net resnet --data "$DATA" --out "$m" --threads "$THREADS" --cache "$DIR/cache" \
            --exclude-pairs "$PAIRS" --exclude-fold "$k" --log-every 50 "$@" >"$DIR/${NAME}_f$k.log" 2>&1
    fi
    echo "resnet_finetune_lofo: $NAME fold $k: eval-lfw" >&2
    evaluate "$m" "$DIR/${NAME}_f$k.dist" "$DIR/${NAME}_f$k.eval.log"
done
printf 'untouched ResNet: ' >&2
python3 tools/eval/lofo_eval.py "$DIR/base.dist" "$DIR/base.dist" "$DIR/base.dist" >"$DIR/base.lofo.json"
printf '%s: ' "$NAME" >&2
python3 tools/eval/lofo_eval.py "$DIR/${NAME}_f1.dist" "$DIR/${NAME}_f2.dist" "$DIR/${NAME}_f3.dist" >"$DIR/$NAME.lofo.json"
