"""facenet.h as WebAssembly (issue 16): the library build (build/wasm/facenet.wasm, SIMD128, and
facenet-nosimd.wasm) through examples/web/facenet.mjs, in Node and in the web demo driven in
headless Chromium, gives build/fnet's numbers on the same photos.
needs: numpy (Debian /usr/bin/python3: tools/reference/stb_rgb.py decodes the photos as the CLI does)

The photos (two of Lennon, and face-api's sample1 with 4 faces) are decoded by stb_image as
build/fnet decodes them and written as PNGs (tools/web/stb_png.py), because a browser's JPEG
decoder is not stb_image: a PNG gives the page exactly the CLI's pixels. Then:
- Node (tools/web/node_faces.mjs; the scalar build too when make wasm made it) and the page in Chromium (tools/web/
  browser_faces.mjs: fetch, the browser's PNG decode, canvas ImageData, facenet.wasm) against
  `build/fnet landmarks` and `build/fnet embed` on the PNGs: the same boxes and filters,
  scores within 7e-6, every landmark equal to the CLI's two decimals, embeddings within
  4e-7. build/fnet runs the AVX2 kernels: its histograms are summed block by block (within
  1e-5 of dlib's order, test_detect) and its 3x3 convolutions by Winograd F(4x4); facenet.wasm
  keeps dlib's summation order and the direct sums, so the bounds are those two's distance
  (measured 6.2e-6 and 3.6e-7 on sample1; before issue 17's kernels 8e-7 and 3.1e-7).
- The page's gallery (IndexedDB): Lennon enrolled from lennon-1 names the face of lennon-2,
  at the distance the CLI's embeddings give; sample1's four faces stay unknown; after a
  reload of the page the gallery is still there; the shared samples are offered.
- Errors as native: a zeroed and a truncated blob, a landmarks blob passed to detect, a bad
  image give the CLI's result codes and messages as JavaScript Error objects; running out of
  wasm memory (a 3.9 GB buffer, the detector on a 12000x12000 image) is FNET_ERR_OUT_OF_MEMORY,
  not a trap, and the module keeps working.
- Screenshots to look at: build/web/demo.png (sample1) and build/web/demo_named.png (lennon-2
  named from the gallery after the page was reloaded).
Chromium absent: its part is skipped with the reason (tools/deps.sh test installs it).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from fnet_testlib import check, finish, skip  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
SHARED = os.environ.get("FNET_SHARED", "../shared")
W = os.environ.get("FNET_WEIGHTS", "weights")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OUT = "build/web"
PHOTOS = os.path.join(OUT, "photos")
SRC = [("openface-examples", "lennon-1.jpg"), ("openface-examples", "lennon-2.jpg"),
       ("faceapi-samples", "sample1.jpg")]
EMB_TOL = 4e-7    # facenet.wasm (direct sums) against build/fnet's AVX2 Winograd F(4x4)
SCORE_TOL = 7e-6  # dlib's summation order (wasm) against AVX2's block sums (both within 1e-5 of dlib)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


def jsonl(text):
    return [json.loads(l) for l in text.splitlines() if l.startswith("{")]


def compare(label, got, cli_lm, cli_emb):
    """got: {image: {faces: [{left.., landmarks [x0,y0..], embedding}]}} against the CLI's."""
    for name in sorted(cli_lm):
        a, lm, em = got.get(name, {}).get("faces"), cli_lm[name]["faces"], cli_emb[name]["faces"]
        if a is None:
            check(False, "%s: no result for %s" % (label, name))
            continue
        check(len(a) == len(lm) and len(a) == len(em),
              "%s %s: %d faces, the CLI finds %d" % (label, name, len(a), len(lm)))
        boxes = all([f[k] for k in ("left", "top", "right", "bottom", "filter")] ==
                    [g[k] for k in ("left", "top", "right", "bottom", "filter")] for f, g in zip(a, lm))
        check(boxes, "%s %s: boxes differ from the CLI's" % (label, name))
        ds = max((abs(f["score"] - g["score"]) for f, g in zip(a, lm)), default=0)
        check(ds <= SCORE_TOL, "%s %s: scores differ by %.3g (> %g)" % (label, name, ds, SCORE_TOL))
        pts = all(["%.2f" % v for v in f["landmarks"]] == ["%.2f" % v for p in g["landmarks"] for v in p]
                  for f, g in zip(a, lm))
        check(pts, "%s %s: landmarks differ from the CLI's (2 decimals)" % (label, name))
        de = max((abs(x - y) for f, g in zip(a, em) for x, y in zip(f["embedding"], g["embedding"])), default=1)
        check(de <= EMB_TOL and all(len(f["embedding"]) == 128 for f in a),
              "%s %s: embeddings differ by %.3g (> %g)" % (label, name, de, EMB_TOL))
        print("%s %s: %d faces, boxes equal, max |score| diff %.2g, landmarks equal, max |emb| diff %.3g"
              % (label, name, len(a), ds, de))


def main():
    blobs = [os.path.join(W, b) for b in ("hog_frontal.fnet", "landmarks68.fnet", "resnet34.fnet")]
    if not all(os.path.exists(b) for b in blobs):
        skip("weights missing in %s (make weights)" % W)
        return finish()
    srcs = [os.path.join(SHARED, "data", d, f) for d, f in SRC]
    if not all(os.path.exists(s) for s in srcs):
        skip("shared photos missing under %s/data (set FNET_SHARED)" % SHARED)
        return finish()
    if not shutil.which("node"):
        check(False, "node not found (sh tools/deps.sh test)")
        return finish()
    # the scalar build is compared too when `make wasm` made it (not built here: CI time)
    nosimd = "build/wasm/facenet-nosimd.wasm"
    have_nosimd = os.path.exists(nosimd) and os.path.getmtime(nosimd) >= os.path.getmtime("facenet.h")
    r = run(["make", "-s", "-j2", "build/fnet", "build/wasm/facenet.wasm", "build/wasm/facenet.mjs"])
    check(r.returncode == 0, "make wasm failed: " + r.stdout[-2000:] + r.stderr[-2000:])
    if r.returncode:
        return finish()
    for v in ("build/wasm/facenet.wasm",) + ((nosimd,) if have_nosimd else ()):
        print("%s: %d bytes" % (v, os.path.getsize(v)))
    if not have_nosimd:
        print("(%s not built or older than facenet.h: only the SIMD128 build is compared; make wasm builds both)" % nosimd)
    r = run([sys.executable, "tools/web/stb_png.py", PHOTOS] + srcs)
    check(r.returncode == 0, "stb_png.py failed: " + r.stderr)
    if r.returncode:
        return finish()
    pngs = [os.path.join(PHOTOS, os.path.splitext(f)[0] + ".png") for _, f in SRC]
    base = lambda p: os.path.splitext(os.path.basename(p))[0]  # noqa: E731
    r1 = run(["build/fnet", "landmarks"] + pngs)
    r2 = run(["build/fnet", "embed"] + pngs)
    check(r1.returncode == 0 and r2.returncode == 0, "build/fnet failed: " + r1.stderr + r2.stderr)
    cli_lm = {base(o["image"]): o for o in jsonl(r1.stdout)}
    cli_emb = {base(o["image"]): o for o in jsonl(r2.stdout)}

    # ---- Node, both builds ----
    for wasm in ("build/wasm/facenet.wasm",) + ((nosimd,) if have_nosimd else ()):
        r = run(["node", "tools/web/node_faces.mjs", "--wasm", wasm, "--weights", W, PHOTOS])
        check(r.returncode == 0, "node_faces.mjs %s failed: %s" % (wasm, r.stderr[-2000:]))
        got = {o["image"]: o for o in jsonl(r.stdout)}
        compare("node " + os.path.basename(wasm), got, cli_lm, cli_emb)
        check(all(o["zero_copy"] == [True, True, True] for o in got.values()),
              "node: the blobs were copied by the loader (not zero-copy)")

    # ---- errors, as native ----
    tmp = tempfile.mkdtemp()
    zero, trunc = os.path.join(tmp, "zero.fnet"), os.path.join(tmp, "truncated.fnet")
    with open(zero, "wb") as f:
        f.write(bytes(100))
    with open(blobs[0], "rb") as f, open(trunc, "wb") as g:
        g.write(f.read(1000))
    r = run(["build/fnet", "info", zero, trunc])
    native = [l.split(": ", 2)[2] for l in r.stderr.splitlines() if l.startswith("fnet: ")]
    r = run(["build/fnet", "detect", "--detector", blobs[1], pngs[0]])
    native_wrong = r.stderr.strip().split(": ", 3)[-1]
    r = run(["node", "tools/web/node_faces.mjs", "--weights", W, PHOTOS, "--errors", zero, trunc])
    shutil.rmtree(tmp)
    check(r.returncode == 0, "node_faces.mjs --errors failed: " + r.stderr[-2000:])
    e = jsonl(r.stdout)[0]["errors"] if r.returncode == 0 else {}
    if e:
        codes = [(b["code"], b["result"]) for b in e["blobs"]]
        check(codes == [(-4, native[0]), (-6, native[1])] if len(native) == 2 else False,
              "damaged blobs: %s, native says %s" % (codes, native))
        check(all(b["thrown"] and b["isError"] for b in e["blobs"]), "damaged blobs: not thrown as Error objects")
        check(e["wrong_model"]["code"] == -8 and e["wrong_model"]["result"] == native_wrong,
              "landmarks blob to detect: %s vs native %r" % (e["wrong_model"], native_wrong))
        check(e["bad_image"]["code"] == -9, "bad image: %s" % e["bad_image"])
        check(e["oom_alloc"]["code"] == -2 and e["oom_alloc"]["isError"], "3.9 GB: %s" % e["oom_alloc"])
        check(e["oom_detect"]["code"] == -2 and "out of memory" in e["oom_detect"]["result"],
              "12000x12000 detect: %s" % e["oom_detect"])
        first = cli_lm[base(pngs[0])]["faces"]
        check([[b["left"], b["top"], b["right"], b["bottom"]] for b in e["after_oom"]] ==
              [[b["left"], b["top"], b["right"], b["bottom"]] for b in first],
              "after running out of memory the module no longer finds the same faces")
        print("errors: blobs %s, wrong model -8, bad image -9, out of memory -2 (twice), then still working; "
              "wasm memory %d MB" % ([c for c, _ in codes], e["memory"] >> 20))

    # ---- the page in headless Chromium ----
    if not os.access(CHROMIUM, os.X_OK):
        skip("chromium not installed at %s: the browser part is not run (sh tools/deps.sh test installs it)" % CHROMIUM)
        return finish()
    shot = os.path.join(OUT, "demo.png")
    res_path = os.path.join(OUT, "browser.json")
    for p in (shot, res_path, shot.replace(".png", "_named.png")):
        if os.path.exists(p):
            os.remove(p)
    r = run(["node", "--experimental-websocket", "tools/web/browser_faces.mjs", PHOTOS, res_path, shot,
             "lennon-1:lennon"], env=dict(os.environ, FNET_WEIGHTS=W, FNET_SHARED=SHARED, CHROMIUM=CHROMIUM))
    check(r.returncode == 0 and os.path.exists(res_path), "browser_faces.mjs failed: " + r.stderr[-3000:])
    if not os.path.exists(res_path):
        return finish()
    with open(res_path) as f:
        res = json.load(f)
    print("browser: %s; %s" % (res["chromium"], res["status"]))
    got = {p["image"]: p for p in res["photos"]}
    compare("chromium", got, cli_lm, cli_emb)
    for p in res["photos"]:
        t = p["timing"]
        print("  %s: detect %.0f ms, landmarks %.1f, align %.1f, embed %.0f (%d faces)"
              % (p["image"], t["detect"], t["landmarks"], t["align"], t["embed"], len(p["faces"])))
    check(res["console"] == [], "the page logged errors: %s" % res["console"][:5])
    check(res["enrolled"] == [{"name": "lennon", "n": 1}], "gallery after enrolling: %s" % res["enrolled"])
    again = {a["image"]: a["matches"] for a in res["again"]}
    e1, e2 = cli_emb["lennon-1"]["faces"][0]["embedding"], cli_emb["lennon-2"]["faces"][0]["embedding"]
    d_native = sum((x - y) ** 2 for x, y in zip(e1, e2)) ** 0.5
    m2 = again.get("lennon-2", [None])[0] or {}
    check(m2.get("name") == "lennon" and m2.get("accepted") and abs(m2.get("distance", 9) - d_native) < 2e-6,
          "lennon-2 in the page: %s; the CLI's embeddings are %.6f apart" % (m2, d_native))
    m1 = again.get("lennon-1", [None])[0] or {}
    check(m1.get("accepted") and m1.get("distance", 9) == 0, "lennon-1 itself: %s" % m1)
    s1 = again.get("sample1", [])
    check(len(s1) == 4 and not any(m["accepted"] for m in s1), "sample1 should be 4 unknown faces: %s" % s1)
    print("gallery: lennon-2 named lennon at %.6f (CLI embeddings: %.6f); sample1: %s" %
          (m2.get("distance", -1), d_native, ["unknown %.3f" % m["distance"] for m in s1]))
    check(all(m["zeroCopy"] for m in res.get("models", {}).values()) and len(res.get("models", {})) == 3,
          "the page's blobs, streamed into wasm memory, should be used in place: %s" % res.get("models"))
    check(res.get("after_reload") == [{"name": "lennon", "n": 1}],
          "the gallery after reloading the page (IndexedDB): %s" % res.get("after_reload"))
    check("openface-examples/lennon-1.jpg" in res.get("samples", []), "the page offers no shared samples")
    bb = res["bad_blob"] or {}
    check(bb.get("code") == -4 and bb.get("isError") and native and bb.get("message", "").endswith(native[0]),
          "a zeroed blob in the page: %s" % bb)
    with open(shot, "rb") as f:
        head = f.read(24)
    ok = head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24])[0] >= 800
    check(ok and os.path.getsize(shot) > 50000, "screenshot %s missing or too small" % shot)
    named = shot.replace(".png", "_named.png")
    check(os.path.exists(named) and os.path.getsize(named) > 50000, "screenshot %s missing" % named)
    print("screenshots: %s, %s" % (shot, named))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
