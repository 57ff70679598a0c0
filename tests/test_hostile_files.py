"""Every file the fnet CLI reads, hostile, through an fnet built with ASan+UBSan
(build/tests/fnet_san: clang, else gcc; -fno-sanitize-recover=all, so any out-of-bounds
access or undefined arithmetic ends the process with a report):
  photos       each hostile JPEG/PNG of tests/fuzz/regress (tests/fuzz/make_image_regress.py)
               through `fnet detect`: refused, the file named, the reason given
  pairs lists  `fnet eval-lfw --pairs` / `--distances` and `fnet train --exclude-pairs`:
               bad headers, huge fold counts, long names, binary garbage, NaN distances
  data lists   `fnet train --data`: no tab, empty names, 20 KB lines, binary garbage, and a
               list whose photos are hostile (skipped as unreadable, with the reason)
  galleries and classifier files: `fnet identify` / `fnet classify` on garbage, on a
               truncated real gallery and on a real one with its bytes flipped
Each must exit 1 or 2 with an "fnet:" message on stderr and no sanitizer report.
Standard library only; run from the repository root (after `make weights`)."""
import os
import shutil
import subprocess
import sys
import tempfile

from fnet_testlib import check, finish, skip  # noqa: E402

SAN = "build/tests/fnet_san"


def build():
    srcs = ["facenet.h"] + [os.path.join("examples", f) for f in os.listdir("examples") if f.endswith((".c", ".h"))]
    if os.path.exists(SAN) and all(os.path.getmtime(s) <= os.path.getmtime(SAN) for s in srcs):
        return True
    os.makedirs(os.path.dirname(SAN), exist_ok=True)
    cc = "clang" if shutil.which("clang") else "gcc"
    p = subprocess.run([cc, "-std=c99", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                        "-fno-omit-frame-pointer", "-I.", "examples/fnet.c", "-o", SAN + ".tmp", "-lm", "-lpthread"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr[-2000:], file=sys.stderr)
        return False
    os.replace(SAN + ".tmp", SAN)
    return True


def run(*args):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    p = subprocess.run([SAN] + list(args), capture_output=True, text=True, errors="replace", timeout=900, env=env)
    return p.returncode, p.stdout, p.stderr


def refused(what, rc, err, fragment=None):
    sane = "Sanitizer" not in err and "runtime error" not in err
    ok = rc in (1, 2) and "fnet:" in err and sane and (fragment is None or fragment in err)
    check(ok, "%s: rc %d, want 1 or 2, an fnet: message%s and no sanitizer report; stderr: %s"
          % (what, rc, "" if fragment is None else " with %r" % fragment, err[-400:]))


def main():
    wdir = os.environ.get("FNET_WEIGHTS", "weights")
    if not os.path.exists(os.path.join(wdir, "hog_frontal.fnet")):
        skip("%s/hog_frontal.fnet not built (make weights)" % wdir)
        return finish()
    if not build():
        check(False, "the sanitized fnet builds")
        return finish()
    tmp = tempfile.mkdtemp(prefix="fnet_hostile_")

    def put(name, data):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    # photos: all hostile regression images in one call (each refused alone, the file named)
    expect = {}
    for line in open("tests/fuzz/regress/image_expect.txt"):
        if not line.startswith("#") and "\t" in line:
            name, want = line.rstrip("\n").split("\t")
            expect[name] = want
    bad = sorted(n for n, w in expect.items() if w.startswith("refused: "))
    check(len(bad) >= 55, "hostile images listed: %d" % len(bad))
    rc, out, err = run("--weights", wdir, "detect", *[os.path.join("tests/fuzz/regress", n) for n in bad])
    refused("detect on %d hostile images" % len(bad), rc, err)
    for n in bad:
        frag = expect[n][len("refused: "):]
        check(any(n in l and frag in l for l in err.splitlines()), "detect %s: a line naming it with %r" % (n, frag))
    check(out == "", "no JSON for hostile images (%r)" % out[:200])

    # pairs lists (eval-lfw): the header, the lines, the sizes
    root = tmp
    pairs = {
        "no_header": "",
        "header_words": "ten folds\n",
        "folds_1": "1\t3\n",
        "folds_huge": "2147483647\t2147483647\n",
        "per_huge": "2\t2147483647\n",
        "fewer_pairs": "2\t2\nAaron\t1\t2\n",
        "long_name": "2\t1\n" + "A" * 5000 + "\t1\t2\n",
        "negative_index": "2\t1\nAaron\t-5\t2\nAaron\t1\tBob\t3\n",
        "five_fields": "2\t1\nAaron\t1\tBob\t2\textra\n",
        "binary": bytes(range(256)) * 8,
    }
    for name, data in pairs.items():
        rc, out, err = run("--weights", wdir, "eval-lfw", "--pairs", put("pairs_" + name, data), "--root", root)
        refused("eval-lfw --pairs %s" % name, rc, err)
    distances = {"words": "fold same distance\n", "nan": "0 1 nan\n", "fold_99": "99 1 0.5\n",
                 "binary": bytes(range(1, 256)) * 4, "long": "0 1 " + "9" * 20000 + "\n"}
    for name, data in distances.items():
        rc, out, err = run("eval-lfw", "--distances", put("dist_" + name, data))
        refused("eval-lfw --distances %s" % name, rc, err)

    # data lists (train) and --exclude-pairs
    good_png = os.path.join("tests/fuzz/regress/png/ok_gray.png")
    common = ["--weights", wdir, "train", "--net", "nn4", "--trainable", "*", "--out", os.path.join(tmp, "out.fnet")]
    lists = {
        "no_tab": "Aaron tests/x.jpg\n",
        "empty_name": "\t%s\n" % good_png,
        "empty_path": "Aaron\t\n",
        "long_line": "Aaron\t" + "x" * 20000 + "\n",
        "binary": bytes(range(1, 256)) * 40,
    }
    for name, data in lists.items():
        rc, out, err = run(*(common + ["--data", put("list_" + name, data)]))
        refused("train --data %s" % name, rc, err)
        check(not os.path.exists(os.path.join(tmp, "out.fnet")), "train --data %s writes nothing" % name)
    # a list of hostile photos: every one skipped as unreadable, the reason shown, then no data left
    hostile = [os.path.abspath(os.path.join("tests/fuzz/regress", n)) for n in bad if n.startswith("jpeg/")]
    lst = put("list_hostile", "".join("P%d\t%s\n" % (i % 4, p) for i, p in enumerate(hostile)))
    rc, out, err = run(*(common + ["--data", lst]))
    refused("train --data (hostile photos)", rc, err, "unreadable")
    check("more than 256" in err or "Huffman" in err or "corrupt JPEG" in err,
          "train names why a hostile photo was skipped: %s" % err[-300:])
    for name, data in (("huge", "2\t2147483647\n"), ("words", "x y\n"), ("binary", bytes(range(256)) * 8)):
        rc, out, err = run(*(common + ["--data", lst, "--exclude-pairs", put("ex_" + name, data), "--exclude-fold", "1"]))
        refused("train --exclude-pairs %s" % name, rc, err)

    # galleries and classifier files: garbage, a real one truncated, a real one with flipped bytes
    img = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data", "openface-examples", "lennon-1.jpg")
    for name, data in (("empty", b""), ("text", b"not a gallery\n" * 20), ("binary", bytes(range(256)) * 16)):
        rc, out, err = run("--weights", wdir, "identify", put("gal_" + name, data), img)
        refused("identify with a %s gallery" % name, rc, err)
        rc, out, err = run("--weights", wdir, "classify", put("cls_" + name, data), img)
        refused("classify with a %s classifier file" % name, rc, err)
    faces = os.path.join(tmp, "faces")
    os.makedirs(os.path.join(faces, "lennon"))
    os.makedirs(os.path.join(faces, "clapton"))
    ofe = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data", "openface-examples")
    if os.path.exists(os.path.join(ofe, "lennon-2.jpg")):
        shutil.copy(os.path.join(ofe, "lennon-2.jpg"), os.path.join(faces, "lennon"))
        shutil.copy(os.path.join(ofe, "clapton-1.jpg"), os.path.join(faces, "clapton"))
        gal = os.path.join(tmp, "real.gallery")
        rc, out, err = run("--weights", wdir, "enroll", gal, faces)
        check(rc == 0 and os.path.exists(gal), "enroll a real gallery (rc %d: %s)" % (rc, err[-300:]))
        if os.path.exists(gal):
            data = open(gal, "rb").read()
            for name, d in (("truncated", data[: len(data) // 2]),
                            ("flipped", bytes(b ^ 0x5A if 8 <= i < 120 else b for i, b in enumerate(data)))):
                rc, out, err = run("--weights", wdir, "identify", put("gal_real_" + name, d), img)
                refused("identify with a %s real gallery" % name, rc, err)
    else:
        skip("openface-examples absent (FNET_SHARED): no real gallery damaged")
    shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
