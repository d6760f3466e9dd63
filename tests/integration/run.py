#!/usr/bin/env python3
"""run: the runner of the ipkvmd integration tests.

    python3 tests/integration/run.py --ipkvmd build/ipkvmd [-k SUBSTRING] [-v] [-j N]

Discovers tests/integration/test_*.py, runs every function named test_* (in file order) with
a harness.Fixture, and prints one line per test:
    ok   <module>.<test> (0.12 s)
    FAIL <module>.<test>: <reason>        (followed by the traceback and daemon stderr)
and, last, exactly one line "N passed, N failed". Exit status 0 only when nothing failed and
something passed.

Tests are independent (each starts its own daemons on their own ports), so they run on -j
worker threads; a watchdog fails a test that outlives --timeout seconds and kills its daemons.
"""

import argparse
import importlib.util
import os
import signal
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, HERE)

import harness  # noqa: E402


def discover(pattern):
    """Returns (tests, broken): tests as (name, function, timeout), broken as (module,
    traceback) for modules that failed to import."""
    tests, broken = [], []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        modname = fn[:-3]
        spec = importlib.util.spec_from_file_location(modname, os.path.join(HERE, fn))
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            if pattern is None or pattern in modname:
                broken.append((modname, traceback.format_exc()))
            continue
        for name, obj in vars(mod).items():  # definition order
            if name.startswith("test_") and callable(obj):
                full = "%s.%s" % (modname, name)
                if pattern is None or pattern in full:
                    tests.append((full, obj, getattr(obj, "timeout", None)))
    return tests, broken


def first_line(exc):
    s = str(exc).strip().split("\n")[0] if str(exc).strip() else ""
    return "%s: %s" % (type(exc).__name__, s) if s else type(exc).__name__


class Result:
    def __init__(self, name):
        self.name = name
        self.ok = False
        self.reason = ""
        self.details = ""
        self.seconds = 0.0


def run_one(name, fn, timeout, opts):
    res = Result(name)
    fx = harness.Fixture(opts.ipkvmd, name, web_root=opts.web_root)
    box = {}

    def body():
        try:
            fn(fx)
        except BaseException as e:  # noqa: B902 - report everything
            box["exc"] = e
            box["tb"] = traceback.format_exc()

    t0 = time.monotonic()
    th = threading.Thread(target=body, name=name, daemon=True)
    th.start()
    th.join(timeout)
    timed_out = th.is_alive()
    if timed_out:
        fx.abort()          # kills its daemons: blocked socket calls return
        th.join(10)
    res.seconds = time.monotonic() - t0
    problems = fx.teardown()
    if timed_out:
        res.reason = "timed out after %.0f s (watchdog killed its daemons)" % timeout
        res.details = box.get("tb", "(the test raised nothing after its daemons were killed)"
                              if not th.is_alive() else "(the test thread is still blocked)")
    elif "exc" in box:
        res.reason = first_line(box["exc"])
        res.details = box["tb"]
    elif problems:
        res.reason = problems[0].split("\n")[0]
    else:
        res.ok = True
    if problems:
        res.details = (res.details + "\n" if res.details else "") + "\n".join(problems)
    if res.ok and not opts.keep:
        fx.cleanup()
    elif not res.ok:
        dirs = [d.tmp for d in fx.daemons]
        if dirs:
            res.details += "\n(daemon dirs kept: %s)" % " ".join(dirs)
    return res


def main():
    # SIGTERM to the runner (CI timeouts) must still run the atexit hook that kills daemons
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ap = argparse.ArgumentParser(description="ipkvmd integration tests")
    ap.add_argument("--ipkvmd", required=True, help="path to the ipkvmd binary")
    ap.add_argument("-k", dest="pattern", help="run only tests whose module.name contains this")
    ap.add_argument("-v", dest="verbose", action="store_true", help="say more")
    ap.add_argument("-j", dest="jobs", type=int, default=4, help="tests run at once (default 4)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per test (default 30)")
    ap.add_argument("--web-root", help="pass --web-root DIR to every daemon")
    ap.add_argument("--keep", action="store_true", help="keep temp dirs of passing tests")
    opts = ap.parse_args()
    opts.ipkvmd = os.path.abspath(opts.ipkvmd)
    if not os.access(opts.ipkvmd, os.X_OK):
        print("FAIL setup: %s is not an executable" % opts.ipkvmd)
        print("0 passed, 1 failed")
        return 1

    tests, broken = discover(opts.pattern)
    lock = threading.Lock()
    queue = list(tests)
    counts = {"passed": 0, "failed": len(broken)}
    for modname, tb in broken:
        print("FAIL %s: the module does not import" % modname)
        for line in tb.rstrip("\n").split("\n"):
            print("     " + line)
    t_start = time.monotonic()

    def worker():
        while True:
            with lock:
                if not queue or harness.shutting_down():
                    return
                name, fn, tmo = queue.pop(0)
                if opts.verbose:
                    print("...  %s" % name, flush=True)
            res = run_one(name, fn, tmo or opts.timeout, opts)
            with lock:
                if counts.get("done"):
                    return          # the summary line is out; print nothing after it
                if res.ok:
                    counts["passed"] += 1
                    print("ok   %s (%.2f s)" % (res.name, res.seconds), flush=True)
                else:
                    counts["failed"] += 1
                    print("FAIL %s: %s" % (res.name, res.reason), flush=True)
                    for line in res.details.rstrip("\n").split("\n"):
                        print("     " + line)
                    sys.stdout.flush()

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, opts.jobs))]
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.join()
    except (KeyboardInterrupt, SystemExit):
        # interrupted: kill every daemon, give the workers a moment to notice (a Popen in
        # progress finishes and kills its child), then kill again and report
        harness._kill_all()
        for w in workers:
            w.join(3)
        harness._kill_all()
        with lock:
            counts["done"] = True
            print("interrupted")
            print("%d passed, %d failed" % (counts["passed"], counts["failed"] + 1), flush=True)
        return 1
    harness._kill_all()
    if opts.verbose:
        print("(%d tests in %.1f s)" % (len(tests), time.monotonic() - t_start))
    print("%d passed, %d failed" % (counts["passed"], counts["failed"]), flush=True)
    return 0 if counts["failed"] == 0 and counts["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
