"""The fuzz seed corpora (tests/fuzz/seeds.py, run by `make fuzz`) are written for every
libFuzzer target: make fuzz is not part of CI, and when the tools/ folders moved, seeds.py
lost its import of the blob writer (tools/convert/fnet_blob.py) without any test noticing.
This runs it into a temporary folder (about 1 s) and checks that each tests/fuzz/fuzz_X.c
target but gallery (seeded by the C program seed_gallery.c from real embeddings) gets a
non-empty seed folder, and that the small blobs are the few-KB inputs the smallblob target
was made for. Standard library only (seeds.py itself needs no numpy)."""
import os
import shutil
import subprocess
import sys
import tempfile

from fnet_testlib import ROOT, check, finish


def main():
    out = tempfile.mkdtemp()
    try:
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fuzz", "seeds.py"), out],
                           capture_output=True, text=True, timeout=600, cwd=ROOT)
        check(p.returncode == 0, "seeds.py: exit %d %s" % (p.returncode, p.stderr[-400:]))
        targets = sorted(f[5:-2] for f in os.listdir(os.path.join(ROOT, "tests", "fuzz"))
                         if f.startswith("fuzz_") and f.endswith(".c"))
        check(len(targets) >= 8, "fuzz targets: %s" % targets)
        for t in targets:
            if t == "gallery":
                continue
            d = os.path.join(out, t)
            n = len(os.listdir(d)) if os.path.isdir(d) else 0
            check(n > 0, "seeds for fuzz_%s: %d files" % (t, n))
        sd = os.path.join(out, "smallblob")
        sizes = sorted(os.path.getsize(os.path.join(sd, f)) for f in os.listdir(sd)) if os.path.isdir(sd) else []
        print("seeds: %s; small blobs %s bytes" % (", ".join("%s %d" % (t, len(os.listdir(os.path.join(out, t))))
                                                             for t in targets if os.path.isdir(os.path.join(out, t))),
                                                   sizes))
        check(sizes and sizes[-1] < 64 * 1024, "small blobs under 64 KB: %s" % sizes)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
