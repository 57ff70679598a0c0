"""The repository explains itself: every make target is listed in the Makefile's header, tools/
holds folders by purpose (plus its two entry points), tests/ holds tests and what they share,
and the Python tests find the tool modules through one helper (fnet_testlib), not their own
sys.path lines. Standard library only; reads files, runs nothing."""
import glob
import os
import re
import sys

from fnet_testlib import check, finish, ROOT

TOOLS_TOP = {"convert_weights.py", "deps.sh", "README.md"}
TOOLS_DIRS = {"convert", "reference", "bench", "portable", "eval", "mk", "wasm", "web"}
TESTS_SHARED = {"run.sh", "fnet_test.h", "fnet_testlib.py", "fnet_graph.h", "skip_allowlist.txt"}


def main():
    mk = [os.path.join(ROOT, "Makefile")] + sorted(glob.glob(os.path.join(ROOT, "tools", "mk", "*.mk")))
    makefile = open(mk[0]).read()
    header = "\n".join(l for l in makefile.split("\n")[:80] if l.startswith("#"))
    listed = set(re.findall(r"[A-Za-z0-9_.-]+", header))
    targets = set()
    for f in mk:
        for line in open(f):
            if line.startswith(".PHONY:"):
                targets.update(line.split(":", 1)[1].split())
    check(len(targets) >= 30, "found %d phony targets" % len(targets))
    for t in sorted(targets):
        check(t in listed, "make %s is listed in the Makefile's header" % t)
    for f in mk[1:]:
        check(not re.search(r"issue", os.path.basename(f)), "%s: named by topic" % f)

    for name in sorted(os.listdir(os.path.join(ROOT, "tools"))):
        p = os.path.join(ROOT, "tools", name)
        if os.path.isdir(p):
            check(name in TOOLS_DIRS, "tools/%s/ is one of the known folders (tools/README.md)" % name)
        else:
            check(name in TOOLS_TOP, "tools/%s belongs in a subfolder of tools/" % name)
    readme = open(os.path.join(ROOT, "tools", "README.md")).read()
    for d in sorted(os.listdir(os.path.join(ROOT, "tools"))):
        if os.path.isdir(os.path.join(ROOT, "tools", d)):
            check("tools/%s/" % d in readme, "tools/README.md describes tools/%s/" % d)

    for name in sorted(os.listdir(os.path.join(ROOT, "tests"))):
        p = os.path.join(ROOT, "tests", name)
        if os.path.isdir(p):
            check(name in {"drivers", "fuzz", "golden", "__pycache__"} or name.endswith("_stubs"),
                  "tests/%s/ is drivers, fuzz, golden or a stub folder" % name)
        else:
            check(re.match(r"test_\w+\.(c|py)$", name) is not None or name in TESTS_SHARED,
                  "tests/%s is a test or shared by the tests (reports go to tools/eval/)" % name)

    for f in sorted(glob.glob(os.path.join(ROOT, "tests", "test_*.py"))):
        bad = [i for i, line in enumerate(open(f), 1) if re.match(r"\s*sys\.path\.insert", line)]
        check(not bad, "%s:%s: no sys.path line of its own (fnet_testlib puts tools/ on the path)" % (f, bad))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
