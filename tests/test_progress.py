"""Progress of the long commands in a log: with stderr not a terminal (a pipe here), every
progress line of fnet enroll, cluster and verify --pairs is a whole line ending in a newline
(no carriage returns: `[1/3] ...[2/3] ...` on one line was the bug), shows a count, a rate
and an estimated time left, starts at 0 and ends with the full count; on a terminal (a
pseudo-terminal here) the line is rewritten in place and ended by a newline. Photos: the
shared OpenFace examples. Standard library only."""
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile

from fnet_testlib import check, skip, finish, pipeline_missing  # noqa: E402

FNET = "build/fnet"
LINE = re.compile(r"^(embedding|cluster|verify): \[(\d+)/(\d+)\] (\d+\.\d) images/s, (ETA \d+ s|ETA \?|took \d+ s)(  .*)?$")


def progress_lines(err, what):
    return [l for l in err.split("\n") if l.startswith(what + ": [")]


def check_log(err, what, n):
    lines = progress_lines(err, what)
    check("\r" not in err and "\033[K" not in err, "%s: no carriage return or terminal code in a log" % what)
    check(len(lines) >= 2 and all(LINE.match(l) for l in lines),
          "%s: every progress line has a count, a rate and an ETA: %r" % (what, lines[:3]))
    m0, m1 = (LINE.match(lines[0]), LINE.match(lines[-1])) if len(lines) >= 2 else (None, None)
    check(m0 is not None and m0.group(2) == "0" and m0.group(3) == str(n) and m0.group(5) == "ETA ?",
          "%s: the first line is [0/%d] with no ETA yet: %r" % (what, n, lines[:1]))
    check(m1 is not None and m1.group(2) == m1.group(3) == str(n) and m1.group(5).startswith("took"),
          "%s: the last line is [%d/%d] with the time taken: %r" % (what, n, n, lines[-1:]))
    check(err.endswith("\n"), "%s: stderr ends with a newline" % what)


def run_pipe(args, env):
    p = subprocess.run([FNET] + args, capture_output=True, text=True, timeout=600, env=env)
    return p.returncode, p.stdout, p.stderr


def run_tty(args, env):
    """stderr on a pseudo-terminal (stdout a pipe); returns rc and what the terminal got."""
    master, slave = pty.openpty()
    p = subprocess.Popen([FNET] + args, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    got = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        got += chunk
    p.stdout.read()
    rc = p.wait(timeout=600)
    os.close(master)
    return rc, got.decode("utf-8", "replace")


def main():
    ex = os.path.join(os.environ.get("FNET_SHARED", "../shared"), "data", "openface-examples")
    why = pipeline_missing(ex)
    if why:
        skip(why)
        return finish()
    tmp = tempfile.mkdtemp()
    env = dict(os.environ)
    try:
        people = os.path.join(tmp, "people")
        photos = {"lennon": ["lennon-1.jpg", "lennon-2.jpg"], "clapton": ["clapton-1.jpg", "clapton-2.jpg"],
                  "adams": ["adams.jpg"]}
        for name, files in photos.items():
            os.makedirs(os.path.join(people, name))
            for f in files:
                os.symlink(os.path.abspath(os.path.join(ex, f)), os.path.join(people, name, f))
        n = sum(len(v) for v in photos.values())
        rc, out, err = run_pipe(["enroll", os.path.join(tmp, "g.fgal"), people], env)
        check(rc == 0, "enroll: rc %d %s" % (rc, err[-300:]))
        check_log(err, "embedding", n)
        rc, out, err = run_pipe(["cluster", people], env)
        check(rc == 0, "cluster: rc %d" % rc)
        check_log(err, "cluster", n)
        pairs = os.path.join(tmp, "pairs.csv")
        with open(pairs, "w") as f:
            f.write("file_x,file_y,Decision\n")
            f.write("lennon/lennon-1.jpg,lennon/lennon-2.jpg,Yes\nlennon/lennon-1.jpg,clapton/clapton-1.jpg,No\n")
        rc, out, err = run_pipe(["verify", "--pairs", pairs, "--root", people], env)
        check(rc == 0, "verify --pairs: rc %d %s" % (rc, err[-300:]))
        check_log(err, "verify", 3)

        # a terminal: rewritten in place, and the final line ended
        rc, got = run_tty(["cluster", people], env)
        lines = [l for l in got.replace("\r\n", "\n").split("\r") if l.strip()]
        check(rc == 0 and "\033[K" in got and len(lines) >= 2, "cluster on a terminal: the line is rewritten (%r)" % got[:200])
        last = lines[-1] if lines else ""
        m = LINE.match(last.split("\033[K")[0])
        check(m is not None and m.group(2) == str(n) and "\033[K\n" in last.replace("\r\n", "\n"),
              "cluster on a terminal: the last line [%d/%d] ends with a newline (%r)" % (n, n, last))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
