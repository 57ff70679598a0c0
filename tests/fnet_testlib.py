"""What every Python test of facenet.h shares: the pass/fail/skip counts and the closing line
"N passed, M failed, K skipped" that tests/run.sh reads.

    from fnet_testlib import tally, check, skip
    check(a == b, "what was expected")      # counts a pass, or a failure with its message
    skip("why")                             # counts a skip with its reason
    sys.exit(finish())                      # prints that line, returns 1 if any check failed
"""
import sys


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
