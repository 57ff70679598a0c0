"""Compares tools/portable/portable_driver output of one build with the reference build (x86-64, gcc
-O2, FNET_NO_SIMD): usage  python3 tools/portable/portable_compare.py REF.txt NAME=OUT.txt...

Per build it prints one line with the largest differences and PASS or FAIL:
  blobs      every model's tensor-data CRC identical (the loader copied/swapped correctly)
  pixels     the decoded photos identical (else the comparison below means nothing)
  boxes      identical integer boxes (and the same number of faces); scores within 1e-4
  landmarks  within 1e-3 px, on detected boxes and on a fixed box (the stage alone)
  emb        embeddings (aligned from this build's own landmarks) within 1e-5
  embfix     embeddings of a fixed crop (the engine alone) within 1e-5
  gallery    a saved gallery of synthetic embeddings byte-identical; identify() distances
             within 1e-5
A stage the reference did not run ("unsupported", blob missing) is reported as n/a; a stage
the reference ran but this build did not is a failure. Standard library only."""
import sys

TOL = {"score": 1e-4, "lm": 1e-3, "lmfix": 1e-3, "emb": 1e-5, "embfix": 1e-5, "galid": 1e-5}


def parse(path):
    """-> dict key -> list of tokens after the key (key = kind + identifying fields)."""
    out = {}
    with open(path) as f:
        for line in f:
            t = line.split()
            if not t:
                continue
            kind = t[0]
            if kind == "platform":
                out[("platform",)] = t[1:]
            elif kind in ("model", "image", "detect", "embfix", "lmfix", "gallery", "galid"):
                # embfix NAME NET ...: key includes the net
                n = 3 if kind == "embfix" else 2
                out[tuple(t[:n])] = t[n:]
            elif kind in ("box", "lm"):
                out[tuple(t[:3])] = t[3:]
            elif kind in ("crop", "emb"):
                out[tuple(t[:4])] = t[4:]
    return out


def floats(tokens):
    try:
        return [float(x) for x in tokens]
    except ValueError:
        return None


def compare(ref, got):
    """-> (ok, summary dict, list of problems)"""
    probs = []
    s = {"boxes": 0, "score": 0.0, "lm": 0.0, "lm_n": 0, "emb": 0.0, "emb_n": 0, "embfix": 0.0,
         "embfix_n": 0, "crop_diff": 0, "crop_n": 0, "blobs": 0, "gallery": 0, "lmfix": 0.0, "lmfix_n": 0,
         "galid": 0.0, "galid_n": 0}
    for key, rv in ref.items():
        kind = key[0]
        if kind == "platform":
            continue
        gv = got.get(key)
        if kind == "model":
            if rv[0] != "ok":
                continue
            if gv is None or gv[0] != "ok":
                probs.append("%s: loads in the reference, here: %s" % (key[1], " ".join(gv or ["absent"])))
                continue
            rc = [x for x in rv if x.startswith("datacrc=")]
            gc = [x for x in gv if x.startswith("datacrc=")]
            if rc != gc:
                probs.append("%s: tensor data differ (%s vs %s)" % (key[1], rc, gc))
            else:
                s["blobs"] += 1
            continue
        if kind == "gallery":
            if rv[0] == "error":
                continue
            if gv != rv:
                probs.append("gallery file differs: %s vs %s" % (" ".join(rv), " ".join(gv or ["absent"])))
            else:
                s["gallery"] += 1
            continue
        if kind == "image":
            if gv != rv:
                probs.append("%s: decoded pixels differ (%s vs %s)" % (key[1], rv, gv))
            continue
        if kind == "detect":
            if rv[0] != "ok":
                continue
            if gv != rv:
                probs.append("detect %s: %s vs %s" % (key[1], " ".join(rv), " ".join(gv or ["absent"])))
            continue
        if kind == "crop":
            if rv[0] == "error":
                continue
            s["crop_n"] += 1
            if gv != rv:
                s["crop_diff"] += 1
            continue
        if rv and rv[0] == "error":
            continue  # the reference could not run this stage: n/a
        if gv is None or (gv and gv[0] == "error"):
            probs.append("%s: reference has numbers, this build: %s" % (" ".join(key), " ".join(gv or ["absent"])))
            continue
        if kind == "box":
            if gv[:4] != rv[:4] or gv[5:] != rv[5:]:
                probs.append("box %s %s: %s vs %s" % (key[1], key[2], " ".join(rv), " ".join(gv)))
            else:
                s["boxes"] += 1
            d = abs(float(gv[4]) - float(rv[4]))
            s["score"] = max(s["score"], d)
            if d > TOL["score"]:
                probs.append("box %s %s: score differs by %.3g" % (key[1], key[2], d))
            continue
        a, b = floats(rv), floats(gv)
        if a is None or b is None or len(a) != len(b):
            probs.append("%s: malformed or different length" % " ".join(key))
            continue
        d = max([abs(x - y) for x, y in zip(a, b)] + [0.0])
        if d != d:
            d = float("inf")
        s[kind] = max(s[kind], d)
        s[kind + "_n"] += 1
        if d > TOL[kind]:
            probs.append("%s: max difference %.3g > %g" % (" ".join(key), d, TOL[kind]))
    return not probs, s, probs


def fmt(v, n, what="max"):
    return "n/a" if n == 0 else "%.1e" % v


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    ref = parse(argv[1])
    bad = 0
    print("%-22s %5s %4s %5s %8s %8s %8s %8s %8s %8s  %s" % (
        "build", "blobs", "gal", "boxes", "score", "lm(box)", "lm(fix)", "emb", "emb(fix)", "crops!=", "result"))
    for arg in argv[2:]:
        name, _, path = arg.partition("=")
        try:
            got = parse(path)
        except OSError as e:
            print("%-22s FAIL (no output: %s)" % (name, e))
            bad += 1
            continue
        if ("platform",) not in got:
            print("%-22s FAIL (the driver did not run: see %s)" % (name, path))
            bad += 1
            continue
        ok, s, probs = compare(ref, got)
        print("%-22s %5d %4d %5d %8s %8s %8s %8s %8s %4d/%-3d  %s" % (
            name, s["blobs"], s["gallery"], s["boxes"], fmt(s["score"], s["boxes"]), fmt(s["lm"], s["lm_n"]),
            fmt(s["lmfix"], s["lmfix_n"]), fmt(s["emb"], s["emb_n"]), fmt(s["embfix"], s["embfix_n"]),
            s["crop_diff"], s["crop_n"],
            "PASS" if ok else "FAIL"))
        for p in probs[:8]:
            print("    " + p)
        if len(probs) > 8:
            print("    ... %d more" % (len(probs) - 8))
        bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
