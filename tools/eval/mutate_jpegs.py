"""Writes N randomly mutated copies of LFW photos, deterministically from a seed, to show what
a damaged or hostile JPEG does to the decoder (tools/eval/image_sanity.sh runs them).
usage: python3 tools/eval/mutate_jpegs.py SEED N OUTDIR [SRC-DIR]
SRC-DIR defaults to $FNET_SHARED/data/lfw-dev (FNET_SHARED: ../shared). Each output is one
photo (picked by the seed) with 1 to 8 of its bytes changed: a random value, one flipped bit,
or 0xFF; half of the changes fall in the header segments (before the first SOS), where the
tables are. Standard library only."""
import os
import random
import sys


def header_end(b):
    i = 2
    while i + 4 <= len(b) and b[i] == 0xFF:
        if b[i + 1] == 0xDA:
            return i
        i += 2 + (b[i + 2] << 8 | b[i + 3])
    return min(len(b), 600)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    seed, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    src = sys.argv[4] if len(sys.argv) > 4 else os.path.join(
        os.environ.get("FNET_SHARED", "../shared"), "data", "lfw-dev")
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.lower().endswith(".jpg"))
    if not files:
        sys.exit("mutate_jpegs: no .jpg under %s" % src)
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    for k in range(n):
        b = bytearray(open(files[rng.randrange(len(files))], "rb").read())
        he = header_end(b)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(2, he) if rng.random() < 0.5 else rng.randrange(2, len(b))
            kind = rng.randrange(3)
            if kind == 0:
                b[pos] = rng.randrange(256)
            elif kind == 1:
                b[pos] ^= 1 << rng.randrange(8)
            else:
                b[pos] = 0xFF
        open(os.path.join(out, "mut%04d.jpg" % k), "wb").write(bytes(b))
    print("mutate_jpegs: %d files in %s (seed %d)" % (n, out, seed))


main()
