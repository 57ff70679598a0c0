"""fnet train on a tiny set: 6 people x 3 photos of ../shared/data/lfw-train, 2 one-photo
people (negatives only), one listed file that does not exist and one photo given by a path
relative to the list's folder; nn4 with its dense layer trainable (seconds).
Checks: the loss goes down; the blob loads in `fnet info` with the new network id, the
trained tensors and the train_* metadata; --threads 1 and 2, --no-cache and an interrupted
run resumed from its checkpoint give byte-identical blobs; the missing file is skipped and
counted; a --trainable name that matches nothing is a usage error; the plot is a PNG; a
FOLDER/PERSON/IMAGE folder (face_recognition's knn_examples) trains with --pick single.
Standard library only; run from the repository root after `make` (skips without the blobs or
the shared data)."""
import json
import os
import shutil
import struct
import sys
import tempfile

from fnet_testlib import check, skip, finish, run_fnet, summary, read_bytes, lfw_train_people, FNET  # noqa: E402



run = run_fnet
read = read_bytes


def tiny_list(shared, tmp):
    """The list: person<TAB>absolute path, one relative path, one missing file."""
    people = lfw_train_people(shared)
    multi = [n for n in sorted(people) if len(people[n]) >= 3][:6]
    single = [n for n in sorted(people) if len(people[n]) == 1][:2]
    os.makedirs(os.path.join(tmp, "photos"))
    local = os.path.join("photos", "single.jpg")
    shutil.copy(people[single[1]][0], os.path.join(tmp, local))
    lines = ["# tiny training set for tests/test_train_cli.py"]
    for n in multi:
        lines += ["%s\t%s" % (n, p) for p in people[n][:3]]
    lines.append("%s\t%s" % (single[0], people[single[0]][0]))
    lines.append("%s\t%s" % (single[1], local))            # relative to the list's folder
    lines.append("Nobody_Here\t%s" % os.path.join(tmp, "missing.jpg"))
    path = os.path.join(tmp, "list.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def main():
    wdir = os.environ.get("FNET_WEIGHTS", "weights")
    shared = os.path.abspath(os.environ.get("FNET_SHARED", "../shared"))
    if not os.path.exists(FNET):
        skip("build/fnet not built (make)")
        return finish()
    if not os.path.exists(os.path.join(wdir, "nn4.small2.v1.fnet")):
        skip("%s/nn4.small2.v1.fnet not built (make weights)" % wdir)
        return finish()
    if not os.path.exists(os.path.join(shared, "data", "lfw-train", "images.txt")):
        skip("no %s/data/lfw-train" % shared)
        return finish()

    # usage
    rc, out, err = run("help")
    check(rc == 0 and "train --net" in err, "fnet help lists train")
    rc, out, err = run("train")
    check(rc == 2 and "usage: fnet train" in err, "train without options: usage, exit 2 (%d)" % rc)

    tmp = tempfile.mkdtemp()
    try:
        lst = tiny_list(shared, tmp)
        base = ["train", "--net", "nn4", "--trainable", "dense.*", "--data", lst, "--epochs", "4",
                "--lr", "0.01", "--seed", "3"]
        a = os.path.join(tmp, "a.fnet")
        plot = os.path.join(tmp, "loss.png")
        rc, out, err = run(*(base + ["--out", a, "--threads", "1", "--plot", plot]))
        s = summary(out)
        check(rc == 0 and os.path.exists(a), "train writes the blob (exit %d): %s" % (rc, err[-800:]))
        if rc != 0:
            return finish()
        loss = s.get("epoch_loss", [])
        check(len(loss) == 4 and loss[-1] < loss[0], "the loss goes down: %s" % loss)
        check(s.get("skipped") == 1 and "1 missing" in err and "missing.jpg" in err,
              "the missing file is skipped, counted and named: %s" % err[:600])
        check(s.get("used") == 20 and s.get("people_single") == 2 and "2 with one (negatives only)" in err,
              "20 photos used, 2 one-photo people as negatives (%s, %s)" % (s.get("used"), s.get("people_single")))
        check(s.get("val_images", 0) > 0 and len(s.get("val_accuracy", [])) == 5,
              "validation people held aside and measured every epoch: %s" % s.get("val_accuracy"))
        rc, out, err = run("info", a)
        info = json.loads(out) if rc == 0 and out.startswith("{") else {}
        meta = info.get("meta", {})
        check(rc == 0 and meta.get("network") == "nn4.small2.v1+filled+trained",
              "fnet info shows the new network id: %r" % meta.get("network"))
        check(meta.get("trained_tensors") == "dense.w,dense.b" and meta.get("trained_steps") == str(s.get("steps")),
              "trained tensors and steps in the metadata: %r %r" % (meta.get("trained_tensors"), meta.get("trained_steps")))
        check(meta.get("train_seed") == "3" and "--trainable dense.*" in meta.get("train_args", "")
              and lst in meta.get("train_data", "") and "--threads" not in meta.get("train_args", ""),
              "train_seed, train_args, train_data: %r" % {k: v for k, v in meta.items() if k.startswith("train")})
        head = read(plot)[:24] if os.path.exists(plot) else b""
        check(head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (480, 480),
              "--plot writes a 480x480 PNG")

        # the same blob for any thread count, with or without the frontier cache
        b = os.path.join(tmp, "b.fnet")
        rc, out, err = run(*(base + ["--out", b, "--threads", "2"]))
        check(rc == 0 and read(a) == read(b), "--threads 1 and 2 give byte-identical blobs")
        c = os.path.join(tmp, "c.fnet")
        rc, out, err = run(*(base + ["--out", c, "--threads", "2", "--no-cache"]))
        check(rc == 0 and os.path.exists(c) and read(a) == read(c), "--no-cache gives the same blob as the cache")

        # interrupted after epoch 2, resumed: the uninterrupted run's blob
        r = os.path.join(tmp, "r.fnet")
        ck = os.path.join(tmp, "run.ckpt")
        rc, out, err = run(*(base + ["--out", r, "--checkpoint", ck, "--stop-after", "2"]))
        check(rc == 0 and os.path.exists(ck) and not os.path.exists(r) and not os.path.exists(ck + ".tmp"),
              "--stop-after 2 leaves a checkpoint and no blob (exit %d)" % rc)
        rc, out, err = run(*(base + ["--out", r, "--resume", ck, "--threads", "2"]))
        check(rc == 0 and os.path.exists(r) and read(a) == read(r),
              "resume gives the uninterrupted run's blob byte for byte: %s" % err[-300:])
        check(summary(out).get("epoch_loss") == loss, "the resumed run keeps the loss history")
        rc, out, err = run(*(base[:-2] + ["--seed", "4", "--out", r, "--resume", ck]))
        check(rc == 1 and "other options" in err, "a checkpoint refuses other options (exit %d): %s" % (rc, err[-200:]))

        # a bad trainable name: usage error, named, before any photo is read
        rc, out, err = run("train", "--net", "nn4", "--trainable", "dense.*,no_such_layer", "--data", lst,
                           "--out", os.path.join(tmp, "x.fnet"))
        check(rc == 2 and "no_such_layer" in err and "matches no tensor" in err and "prepared" not in err,
              "bad --trainable: exit 2 and the name (%d): %s" % (rc, err[-300:]))
        check(not os.path.exists(os.path.join(tmp, "x.fnet")), "nothing written for a bad --trainable")

        # a FOLDER/PERSON/IMAGE folder of photos not centred on their person: --pick single
        knn = os.path.join(shared, "data", "face_recognition-examples", "examples", "knn_examples", "train")
        if os.path.isdir(knn):
            rc, out, err = run("train", "--net", "nn4", "--trainable", "dense.*", "--data", knn, "--epochs", "1",
                               "--val-fraction", "0", "--pick", "single", "--threads", "2",
                               "--out", os.path.join(tmp, "knn.fnet"))
            s = summary(out)
            check(rc == 0 and s.get("used") == 9 and s.get("people_multi") == 4,
                  "a people folder with --pick single: 9 photos of 5 people used (%d, %s)" % (rc, s.get("used")))
        else:
            skip("no knn_examples folder in %s" % shared)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
