"""The relearn recipe (issue 14) on a tiny set: 6 people x 3 photos of ../shared/data/lfw-train
and 2 one-photo people; nn4's five filled tensors trained as `make relearn` trains them, with
the ResNet-34 teacher (--loss both), for one epoch (seconds).
Checks: every other tensor of the blob is byte-identical to weights/nn4.small2.v1.fnet, the
five trained ones changed; the network id is nn4.small2.v1+relearned and the metadata gives
the data, the seed and the options; a second run from --cache reads every chip and teacher
embedding from it and writes the same bytes, with --threads 1 instead of 2 too;
--exclude-pairs/--exclude-fold drops exactly the people of that fold of a pairs.txt (both
names of a mismatched pair), keeps the others, and refuses a fold the file does not have;
tools/eval/lofo_eval.py takes fold k from model k with a threshold from the other folds.
Standard library only; run from the repository root after `make` (skips without the blobs or
the shared data)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from fnet_testlib import check, skip, finish, run_fnet, summary, read_bytes, lfw_train_people, FNET  # noqa: E402

import fnet_blob  # noqa: E402

TENSORS = ["inception_3c_3x3_conv2", "inception_4e_3x3_conv2", "inception_5a_1x1_conv",
           "inception_5a_3x3_conv2", "inception_5b_3x3_conv2"]


run = run_fnet
read = read_bytes


def tiny(shared, tmp):
    people = lfw_train_people(shared)
    multi = [n for n in sorted(people) if len(people[n]) >= 3][:6]
    single = [n for n in sorted(people) if len(people[n]) == 1][:2]
    lines = []
    for n in multi:
        lines += ["%s\t%s" % (n, p) for p in people[n][:3]]
    lines += ["%s\t%s" % (n, people[n][0]) for n in single]
    path = os.path.join(tmp, "list.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, multi, single


def main():
    wdir = os.environ.get("FNET_WEIGHTS", "weights")
    shared = os.path.abspath(os.environ.get("FNET_SHARED", "../shared"))
    base_blob = os.path.join(wdir, "nn4.small2.v1.fnet")
    if not os.path.exists(FNET):
        skip("build/fnet not built (make)")
        return finish()
    for b in ("nn4.small2.v1.fnet", "resnet34.fnet"):
        if not os.path.exists(os.path.join(wdir, b)):
            skip("%s/%s not built (make weights)" % (wdir, b))
            return finish()
    if not os.path.exists(os.path.join(shared, "data", "lfw-train", "images.txt")):
        skip("no %s/data/lfw-train" % shared)
        return finish()

    tmp = tempfile.mkdtemp()
    try:
        lst, multi, single = tiny(shared, tmp)
        cache = os.path.join(tmp, "cache")
        base = ["train", "--net", "nn4", "--net-blob", base_blob, "--trainable", ",".join(t + "_w" for t in TENSORS),
                "--data", lst, "--epochs", "1", "--people", "3", "--per-person", "3", "--batch", "11",
                "--val-fraction", "0", "--seed", "7", "--distill", "resnet", "--loss", "both",
                "--network-id", "nn4.small2.v1+relearned", "--cache", cache]
        a = os.path.join(tmp, "a.fnet")
        rc, out, err = run(*(base + ["--threads", "2", "--out", a]))
        s = summary(out)
        check(rc == 0 and os.path.exists(a), "relearn-style training runs (rc %d): %s" % (rc, err[-400:]))
        check(s.get("loss") == "both" and s.get("cache_hits") == 0 and s.get("steps", 0) >= 1,
              "summary: loss both, nothing from the empty cache, steps: %r" % {k: s.get(k) for k in ("loss", "cache_hits", "steps")})
        if os.path.exists(a):
            orig, new = read(base_blob), read(a)
            bo, bn = fnet_blob.read(orig), fnet_blob.read(new)
            to = {t["name"]: orig[t["offset"]:t["offset"] + t["nbytes"]] for t in bo["tensors"]}
            tn = {t["name"]: new[t["offset"]:t["offset"] + t["nbytes"]] for t in bn["tensors"]}
            trained = set(t + ".w" for t in TENSORS)
            check(sorted(to) == sorted(tn), "same tensors in the same shapes")
            same = [n for n in to if n not in trained and to[n] == tn.get(n)]
            check(len(same) == len(to) - 5, "every frozen tensor byte-identical (%d of %d)" % (len(same), len(to) - 5))
            changed = [n for n in trained if to.get(n) != tn.get(n)]
            check(len(changed) == 5, "the five trained tensors changed: %r" % sorted(changed))
            m = bn["meta"]
            check(m.get("network") == "nn4.small2.v1+relearned" and m.get("trained_from") == "nn4.small2.v1+filled",
                  "network id and trained_from: %r %r" % (m.get("network"), m.get("trained_from")))
            check(m.get("train_seed") == "7" and lst in m.get("train_data", "") and "--loss both" in m.get("train_args", "")
                  and "--cache" not in m.get("train_args", ""), "train_seed, train_data, train_args")
            check(not (bn["flags"] & 1), "the incomplete flag is cleared (every filled tensor trained)")
            # from the cache, one thread: the same bytes
            b = os.path.join(tmp, "b.fnet")
            rc, out, err = run(*(base + ["--threads", "1", "--out", b]))
            s = summary(out)
            check(rc == 0 and s.get("cache_hits") == len(multi) * 3 + len(single),
                  "second run: every chip and teacher from the cache (%r)" % s.get("cache_hits"))
            check(os.path.exists(b) and read(b) == new, "cached chips, --threads 1: byte-identical blob")

        # --exclude-fold: fold 1 names multi[0] (matched) and multi[1], single[0] (mismatched)
        pairs = os.path.join(tmp, "pairs.txt")
        with open(pairs, "w") as f:
            f.write("2\t1\n%s\t1\t2\n%s\t1\t%s\t1\n%s\t1\t2\n%s\t1\t%s\t1\n" % (
                multi[0], multi[1], single[0], multi[2], multi[3], single[1]))
        ex = ["train", "--net", "nn4", "--trainable", "dense.*", "--data", lst, "--epochs", "1", "--people", "2",
              "--per-person", "2", "--val-fraction", "0", "--cache", cache, "--exclude-pairs", pairs]
        rc, out, err = run(*(ex + ["--exclude-fold", "1", "--out", os.path.join(tmp, "x1.fnet")]))
        s = summary(out)
        check(rc == 0 and s.get("excluded_people") == 3 and s.get("excluded_images") == 7 and s.get("images") == 13,
              "fold 1 leaves out 3 people, 7 images (%r)" % {k: s.get(k) for k in ("excluded_people", "excluded_images", "images")})
        check(s.get("people_multi") == 4 and s.get("people_single") == 1, "the others stay (4 with 3 photos, 1 single)")
        rc, out, err = run(*(ex + ["--exclude-fold", "2", "--out", os.path.join(tmp, "x2.fnet")]))
        s = summary(out)
        check(rc == 0 and s.get("excluded_people") == 3 and s.get("people_multi") == 4, "fold 2 leaves out its 3 people")
        rc, out, err = run(*(ex + ["--exclude-fold", "3", "--out", os.path.join(tmp, "x3.fnet")]))
        check(rc != 0 and "2 folds" in err and not os.path.exists(os.path.join(tmp, "x3.fnet")), "fold 3 of 2 refused")
        rc, out, err = run(*(ex + ["--out", os.path.join(tmp, "x4.fnet")]))
        check(rc == 2, "--exclude-pairs without --exclude-fold is a usage error")

        # lofo_eval.py: fold k from model k, threshold from the other folds of the same model
        d = []
        for k, shift in enumerate((0.0, 5.0)):
            p = os.path.join(tmp, "d%d.txt" % k)
            with open(p, "w") as f:
                for fold in (0, 1):
                    off = shift if fold == k else 0.0  # a model's own test fold: distances shifted
                    f.write("%d 1 %g a b 0 0\n%d 1 %g a b 0 0\n%d 0 %g a b 0 0\n%d 0 %g a b 0 0\n" % (
                        fold, 0.1 + off, fold, 0.2 + off, fold, 0.8 + off, fold, 0.9 + off))
            d.append(p)
        p = subprocess.run([sys.executable, "tools/eval/lofo_eval.py"] + d, capture_output=True, text=True)
        r = json.loads(p.stdout) if p.returncode == 0 else {}
        f = r.get("folds", [{}, {}])
        check(abs(f[0].get("accuracy", 0) - 1.0) < 1e-9 and abs(f[1].get("accuracy", 1) - 0.5) < 1e-9
              and abs(f[1].get("threshold", 0) - 0.5) < 1e-9 and abs(r.get("accuracy_mean", 0) - 0.75) < 1e-9,
              "lofo_eval: fold 2 scored by model 2 at the other fold's threshold (%r)" % p.stdout[-300:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
