#!/usr/bin/env python3
"""Convert model weights into facenet.h blobs (format v1, see facenet.h and tools/convert/fnet_blob.py).

    tools/convert_weights.py FORMAT SOURCE OUT.fnet [options]

FORMAT      SOURCE
keras-csv   folder of Keras-OpenFace per-tensor CSVs (nn4.small2.v1)
keras-h5    Keras-OpenFace nn4.small2.v1.h5 (needs the optional h5py module)
faceapi     @vladmandic/face-api face_recognition_model-weights_manifest.json (+ .bin beside it)
dlib-shape  dlib shape_predictor_68_face_landmarks.dat
dlib-detector  dlib's image_processing/frontal_face_detector.h (from libdlib-dev)

Options:
  --fill-missing SEED   keras-csv: fill absent tensors deterministically (blob marked incomplete)
  --compact f16|i16     dlib-shape: store leaf values compactly (default: float32, exact)
  --divisor D           faceapi: input divisor written to the blob (dlib 256, face-api 255)

Python standard library only. Prints a summary; exits 1 with a message on bad input, 2 on usage.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "convert"))
import fnet_blob  # noqa: E402

FORMATS = ("keras-csv", "keras-h5", "faceapi", "dlib-shape", "dlib-detector")


def usage(msg=None):
    if msg:
        sys.stderr.write("convert_weights.py: %s\n" % msg)
    sys.stderr.write(__doc__.split("\n\n", 2)[1] + "\n")
    sys.exit(2)


def build(fmt, src, opts):
    if fmt == "dlib-detector":
        import dlib_detector
        return dlib_detector.detector_blob(src)
    if fmt == "dlib-shape":
        import dlib_shape
        return dlib_shape.shape_blob(src, compact=opts.get("compact"))
    if fmt in ("keras-csv", "keras-h5"):
        import keras_openface
        seed = opts.get("fill_missing")
        if fmt == "keras-csv":
            return keras_openface.blob_from_csv(src, fill_seed=seed)
        return keras_openface.blob_from_h5(src)
    if fmt == "faceapi":
        import faceapi_resnet
        return faceapi_resnet.blob_from_manifest(src, divisor=opts.get("divisor"))
    usage("unknown format %r" % fmt)


def main(argv):
    args, opts = [], {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__)
            return 0
        if a in ("--fill-missing", "--compact", "--divisor"):
            if i + 1 >= len(argv):
                usage("%s needs a value" % a)
            v = argv[i + 1]
            if a == "--fill-missing":
                try:
                    opts["fill_missing"] = int(v)
                except ValueError:
                    usage("--fill-missing takes an integer seed")
            elif a == "--compact":
                if v not in ("f16", "i16"):
                    usage("--compact takes f16 or i16")
                opts["compact"] = v
            else:
                try:
                    opts["divisor"] = float(v)
                except ValueError:
                    usage("--divisor takes a number")
            i += 2
            continue
        if a.startswith("-"):
            usage("unknown option %s" % a)
        args.append(a)
        i += 1
    if len(args) != 3:
        usage("expected FORMAT SOURCE OUT.fnet")
    fmt, src, out = args
    if fmt not in FORMATS:
        usage("FORMAT must be one of: " + ", ".join(FORMATS))
    if not os.path.exists(src):
        sys.stderr.write("convert_weights.py: %s does not exist\n" % src)
        return 1
    t0 = time.time()
    try:
        blob = build(fmt, src, opts)
        nbytes = blob.write(out)
    except (ValueError, KeyError, OSError) as e:
        sys.stderr.write("convert_weights.py: cannot convert %s (%s): %s\n" % (src, fmt, e))
        return 1
    except Exception as e:  # damaged input that a parser did not anticipate: still no traceback
        sys.stderr.write("convert_weights.py: cannot convert %s (%s): damaged or wrong input (%s: %s)\n"
                         % (src, fmt, type(e).__name__, e))
        return 1
    s = blob.summary()
    metas = dict(blob.metas)
    print("%s: %s blob, %d tensors, %d ops, %d parameters, %d bytes, %.1f s%s"
          % (out, s["kind"], s["tensors"], s["ops"], s["parameters"], nbytes, time.time() - t0,
             ", INCOMPLETE: filled " + metas.get("filled_tensors", "") if s["incomplete"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
