"""What every Python test of facenet.h shares: the pass/fail/skip counts and the closing line
"N passed, M failed, K skipped" that tests/run.sh reads.

    from fnet_testlib import tally, check, skip
    check(a == b, "what was expected")      # counts a pass, or a failure with its message
    skip("why")                             # counts a skip with its reason
    sys.exit(finish())                      # prints that line, returns 1 if any check failed

and what the tests of fnet's training commands share: run_fnet(*args) -> (rc, out, err),
summary(out) (the last JSON line), read_bytes(path), lfw_train_people(shared) (name -> image
paths of ../shared/data/lfw-train/images.txt, in file order).

Importing it also puts the project's Python tool folders on sys.path (tools/convert: the blob
writer and converters; tools/reference: the independent reference implementations;
tools/eval: the reports), so a test imports fnet_testlib first and then, say, fnet_blob.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _d in ("eval", "reference", "convert"):
    sys.path.insert(0, os.path.join(ROOT, "tools", _d))


class Counts:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def line(self):
        return "%d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped)

    def exit_code(self):
        return 1 if self.failed else 0


tally = Counts()


def check(ok, what):
    if ok:
        tally.passed += 1
    else:
        tally.failed += 1
        print("FAIL:", what, file=sys.stderr)


def skip(why):
    tally.skipped += 1
    print("skip:", why, file=sys.stderr)


def finish():
    """Prints the closing line "N passed, M failed, K skipped" (tests/run.sh reads it) and
    returns the exit code: 1 if any check failed, else 0."""
    print(tally.line())
    return tally.exit_code()


FNET = "build/fnet"


PIPELINE_BLOBS = ("hog_frontal.fnet", "landmarks68.fnet", "resnet34.fnet")


def pipeline_missing(*paths):
    """Why the whole pipeline cannot run here, or None: build/fnet, the three blobs in
    $FNET_WEIGHTS (default weights), and every path given (shared data, other programs)."""
    wdir = os.environ.get("FNET_WEIGHTS", "weights")
    if not os.path.exists(FNET):
        return "build/fnet not built (make)"
    if not all(os.path.exists(os.path.join(wdir, b)) for b in PIPELINE_BLOBS):
        return "%s: the blobs are not built (make weights)" % wdir
    for p in paths:
        if not os.path.exists(p):
            return "%s absent (%s)" % (p, "shared data" if "shared" in p else "make")
    return None


def run_fnet(*args):
    p = subprocess.run([FNET] + list(args), capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def summary(out):
    """The last JSON object line of a command's stdout ({} when there is none)."""
    lines = [l for l in out.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def lfw_train_people(shared):
    """name -> absolute image paths of shared/data/lfw-train/images.txt, in file order."""
    people = {}
    with open(os.path.join(shared, "data", "lfw-train", "images.txt")) as f:
        for line in f:
            if line.startswith("#") or "\t" not in line:
                continue
            name, path = line.rstrip("\n").split("\t")
            people.setdefault(name, []).append(os.path.join(shared, "data", path))
    return people
