"""WebAssembly (issue 16): facenet.h's C tests built for wasm32-wasi with SIMD128 and run under
Node (node:wasi), so the wasm_simd128 kernel set meets the same twin tests as NEON and SSE2 (each
compares its kernel set with the scalar twins of the same build), plus running out of wasm
memory: an error code, not a trap (tools/wasm/oom_check.c, built with 384 MB of memory).

Built by tools/wasm/cc.sh (clang --target=wasm32-wasi, Debian's wasi-libc) and run by
tools/wasm/run_wasi.mjs. test_detect and test_landmarks run their FNET_TEST_SANITIZED subsets
(the full dlib comparisons take minutes under wasm; the native runs cover them). Skips, with the reason, when clang's
wasm32 target, wasi-libc or node is absent (tools/deps.sh installs them: group wasm).
A sub-test's skips of kernel sets a wasm engine cannot run (sse2, avx2, avx512, neon, Winograd's
x86 GEMMs) are expected here and not counted; any other skip is passed on.
Standard library only. WASM_TESTS (space-separated) overrides the list."""
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from fnet_testlib import check, skip, finish  # noqa: E402

TESTS = os.environ.get("WASM_TESTS", "test_kernels test_landmarks test_detect test_network").split()
B = "build/wasm/tests"
NODE = ["node", "--disable-warning=ExperimentalWarning", "tools/wasm/run_wasi.mjs"]
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2", "-msimd128", "-I.", "-Itests"]
EXPECTED_SKIP = re.compile(r"^(sse2|avx2|avx512|neon) kernels? not supported here|^winograd")


def build(src, out, memory=""):
    env = dict(os.environ, WASM_MEMORY=memory) if memory else os.environ
    p = subprocess.run(["sh", "tools/wasm/cc.sh"] + FLAGS + [src, "-o", out], capture_output=True, text=True, env=env)
    return p.returncode, p.stdout + p.stderr


def run(wasm, *args, env=None):
    p = subprocess.run(NODE + [wasm] + list(args), capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout + p.stderr


def counts(log):
    m = re.findall(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?", log, re.M)
    return tuple(int(x or 0) for x in m[-1]) if m else None


def main():
    why = subprocess.run(["sh", "tools/wasm/cc.sh", "--check"], capture_output=True, text=True)
    if why.returncode != 0:
        skip("no wasm32-wasi toolchain: " + why.stdout.strip() + " (tools/deps.sh test installs it)")
        return finish()
    if not shutil.which("node"):
        skip("no node to run wasm32-wasi programs (apt-get install nodejs)")
        return finish()
    os.makedirs(B, exist_ok=True)
    jobs = [("tests/%s.c" % t, "%s/%s.wasm" % (B, t), "") for t in TESTS]
    jobs.append(("tools/wasm/oom_check.c", B + "/oom_check.wasm", "402653184"))
    with ThreadPoolExecutor(max_workers=2) as ex:
        built = list(ex.map(lambda j: build(*j), jobs))
    for (src, out, _), (rc, log) in zip(jobs, built):
        check(rc == 0, "%s does not build for wasm32-wasi:\n%s" % (src, log[-3000:]))
    # the header alone as C++ for wasm32 (C is what the tests above built): warning-free with
    # and without SIMD128, at -O2 (some intrinsic warnings appear only when optimising)
    for simd in ("-msimd128", "-mno-simd128"):
        p = subprocess.run(["clang++", "--target=wasm32-wasi", "--sysroot=build/wasm/sysroot", "-std=c++11", "-x", "c++",
                            "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2", simd, "-I.", "-c", "-o", "/dev/null", "-"],
                           input='#define FNET_IMPLEMENTATION\n#include "facenet.h"\n', capture_output=True, text=True)
        check(p.returncode == 0, "facenet.h as C++11 for wasm32 %s:\n%s" % (simd, p.stderr[-2000:]))
    for t, (rc, _) in zip(TESTS, built):
        if rc != 0:
            continue
        env = {"FNET_TEST_SANITIZED": "1"} if t in ("test_detect", "test_landmarks") else {}
        rc, log = run("%s/%s.wasm" % (B, t), env=env)
        with open("%s/%s.log" % (B, t), "w") as f:
            f.write(log)
        c = counts(log)
        print("%-16s wasm32+simd128: %s (rc %d)" % (t, "%d passed, %d failed, %d skipped" % c if c else "no result line", rc))
        check(rc == 0 and c is not None and c[1] == 0, "%s under node:wasi: rc %d, %s; log %s/%s.log" % (t, rc, c, B, t))
        if c:
            for _ in range(c[0]):
                check(True, "")
        for line in re.findall(r"^skip: (.*)$", log, re.M):
            if not EXPECTED_SKIP.search(line):
                skip("%s (wasm): %s" % (t, line))
        check("wasm_simd128 kernels not supported" not in log,
              "%s: the wasm_simd128 kernels were not run" % t)
    if "test_detect" in TESTS and os.path.exists(B + "/test_detect.log"):
        log = open(B + "/test_detect.log").read()
        check("wasm_simd128: features bit-identical yes, scan max diff 0" in log,
              "test_detect: the wasm_simd128 HOG twins (features bit-identical, scan equal) were not checked")
    if built[-1][0] == 0:
        rc, log = run(B + "/oom_check.wasm", os.environ.get("FNET_WEIGHTS", "weights"))
        print(log.strip())
        c = counts(log)
        if "skip:" in log:
            skip("oom_check: " + re.search(r"skip: (.*)", log).group(1))
        else:
            check(rc == 0 and c is not None and c[1] == 0 and c[0] >= 4,
                  "out of wasm memory must be FNET_ERR_OUT_OF_MEMORY, not a trap: rc %d\n%s" % (rc, log))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
