#!/bin/sh
# Builds the four facenet.h weight blobs in weights/ from their upstream sources.
# Sources are looked up in this order (first found wins):
#   nn4.small2.v1  $FNET_OPENFACE_CSV (folder of Keras-OpenFace CSVs), else ../shared/weights/openface-nn4.small2.v1
#   dlib           $FNET_DLIB_ROOT (a folder holding usr/include/dlib and usr/share/dlib), else the
#                  installed Debian packages (/usr), else `apt-get download libdlib-dev libdlib-data`
#                  + `dpkg -x` into weights/cache (no root needed)
#   ResNet-34      $FNET_FACEAPI_DIR (the @vladmandic/face-api package folder), else
#                  `npm pack @vladmandic/face-api@1.7.15` into weights/cache
# Existing blobs are kept; FORCE=1 rebuilds them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache="$here/cache"
conv="python3 $root/tools/convert_weights.py"
force=${FORCE:-0}
mkdir -p "$cache"

need() { [ "$force" = 1 ] || [ ! -s "$1" ]; }

# --- dlib: detector header and shape predictor ---
dlib_root=${FNET_DLIB_ROOT:-}
if [ -z "$dlib_root" ]; then
    if [ -f /usr/include/dlib/image_processing/frontal_face_detector.h ] && \
       [ -f /usr/share/dlib/shape_predictor_68_face_landmarks.dat ]; then
        dlib_root=/
    elif [ -f "$cache/dlib/usr/include/dlib/image_processing/frontal_face_detector.h" ] && \
         [ -f "$cache/dlib/usr/share/dlib/shape_predictor_68_face_landmarks.dat" ]; then
        dlib_root="$cache/dlib"
    else
        echo "weights: fetching Debian packages libdlib-dev and libdlib-data (apt-get download)" >&2
        (cd "$cache" && apt-get download libdlib-dev libdlib-data >&2)
        mkdir -p "$cache/dlib"
        for deb in "$cache"/libdlib-dev_*.deb "$cache"/libdlib-data_*.deb; do dpkg -x "$deb" "$cache/dlib"; done
        dlib_root="$cache/dlib"
    fi
fi
if need "$here/hog_frontal.fnet"; then
    $conv dlib-detector "$dlib_root/usr/include/dlib/image_processing/frontal_face_detector.h" "$here/hog_frontal.fnet"
fi
if need "$here/landmarks68.fnet"; then
    $conv dlib-shape "$dlib_root/usr/share/dlib/shape_predictor_68_face_landmarks.dat" "$here/landmarks68.fnet"
fi
# compact variants (half the size; tests/test_landmarks.c reports what they cost)
for v in f16 i16; do
    if need "$here/landmarks68_$v.fnet"; then
        $conv dlib-shape "$dlib_root/usr/share/dlib/shape_predictor_68_face_landmarks.dat" "$here/landmarks68_$v.fnet" --compact $v
    fi
done

# --- OpenFace nn4.small2.v1 (Keras CSVs; the shared copy lacks five tensors) ---
csv=${FNET_OPENFACE_CSV:-$root/../shared/weights/openface-nn4.small2.v1}
if need "$here/nn4.small2.v1.fnet"; then
    if [ -d "$csv" ]; then
        # --fill-missing only acts when tensors are absent; the blob then says it is incomplete.
        $conv keras-csv "$csv" "$here/nn4.small2.v1.fnet" --fill-missing 1
    else
        echo "weights: no Keras-OpenFace CSV folder (set FNET_OPENFACE_CSV); skipping nn4.small2.v1.fnet" >&2
    fi
fi

# --- dlib ResNet-34 face descriptor, from the face-api npm package ---
fa=${FNET_FACEAPI_DIR:-}
if [ -z "$fa" ]; then
    fa="$cache/face-api/package"
    if [ ! -f "$fa/model/face_recognition_model-weights_manifest.json" ]; then
        echo "weights: fetching @vladmandic/face-api@1.7.15 (npm pack)" >&2
        (cd "$cache" && npm pack --silent @vladmandic/face-api@1.7.15 >/dev/null)
        mkdir -p "$cache/face-api"
        tar xzf "$cache"/vladmandic-face-api-1.7.15.tgz -C "$cache/face-api"
    fi
fi
if need "$here/resnet34.fnet"; then
    $conv faceapi "$fa/model/face_recognition_model-weights_manifest.json" "$here/resnet34.fnet" --divisor 256
fi
ls -la "$here"/*.fnet >&2
