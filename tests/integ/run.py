#!/usr/bin/python3
"""Integration test runner (stdlib only).

    WARREN_BIN=build /usr/bin/python3 tests/integ/run.py [-k SUBSTRING]... [-v] [--keep]

Discovers tests/integ/test_*.py and runs every `def test_*(env)` in file order,
each with a fresh harness.Env (temp dir, processes killed afterwards) and a
time limit (the function's `timeout` attribute, set with @harness.timeout(S),
or the module's TIMEOUT, default 60 s). Prints one
PASS/FAIL/SKIP line per test and ends with `integ: N passed, N failed, N
skipped`; exits 1 if any failed, or if any was skipped while WARREN_NO_SKIP=1
(CI, where every test must run). -k selects tests whose "file::name"
contains the substring.
--keep keeps the temp dirs of passing tests too (failing ones are always kept).
"""
import argparse
import glob
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


class TestTimeout(Exception):
    pass


class Interrupted(BaseException):
    pass


def _alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit")


def _term(signum, frame):
    raise Interrupted()


def discover(selectors):
    tests = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        modname = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            tests.append((modname + "::<import>", None, 0, traceback.format_exc()))
            continue
        default = getattr(mod, "TIMEOUT", 60)
        for name, fn in list(vars(mod).items()):
            if name.startswith("test_") and callable(fn):
                tid = "%s::%s" % (modname, name)
                if selectors and not any(s in tid for s in selectors):
                    continue
                tests.append((tid, fn, getattr(fn, "timeout", default), None))
    return tests


def indent(text, prefix="    "):
    return "\n".join(prefix + l for l in text.splitlines())



# A process that crashed (the supervisor logs the signal) or a sanitizer
# report in any log fails the test even if the supervisor healed it.
CRASH_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
               "signal=11", "signal=6", "signal=7", "signal=8", "signal=4")


def crash_reports(env):
    found = []
    for log in env.logs:
        try:
            with open(log, "rb") as f:
                for line in f:
                    text = line.decode("utf-8", "replace")
                    if any(m in text for m in CRASH_MARKS):
                        found.append("%s: %s" % (os.path.basename(log), text.strip()[:300]))
        except OSError:
            continue
    if not found:
        return None
    return "crash or sanitizer report:\n" + "\n".join(found[:10])

def main():
    ap = argparse.ArgumentParser(description="warren integration tests")
    ap.add_argument("-k", action="append", default=[], help="run tests whose id contains this")
    ap.add_argument("-v", action="store_true", help="print notes of passing tests")
    ap.add_argument("--keep", action="store_true", help="keep temp dirs of passing tests")
    ap.add_argument("--list", action="store_true", help="list the selected tests")
    opts = ap.parse_args()

    tests = discover(opts.k)
    if opts.list:
        for t in tests:
            print(t[0])
        return 0
    missing = [b for b in ("warren-node", "warren-acceptor", "warren-router", "warren-gossip", "warren")
               if not os.access(os.path.join(harness.bin_dir(), b), os.X_OK)]
    if missing:
        print("integ: missing programs in %s: %s (run make first, or set WARREN_BIN)"
              % (harness.bin_dir(), ", ".join(missing)))
        print("integ: 0 passed, %d failed, 0 skipped" % len(tests))
        return 1
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGTERM, _term)
    print("integ: %d tests, binaries from %s" % (len(tests), harness.bin_dir()), flush=True)
    passed = failed = 0
    skipped = []
    t_all = time.monotonic()
    for tid, fn, limit, import_error in tests:
        if fn is None:
            failed += 1
            print("FAIL %s: cannot import\n%s" % (tid, indent(import_error)), flush=True)
            continue
        workdir = tempfile.mkdtemp(prefix="warren-integ-")
        env = harness.Env(tid, workdir)
        t0 = time.monotonic()
        err = None
        skip_why = None
        interrupted = False
        try:
            signal.alarm(int(limit))
            try:
                fn(env)
            finally:
                signal.alarm(0)
            if env.soft_failures:
                raise harness.TestFailure("\n".join(env.soft_failures))
        except harness.TestSkipped as e:
            skip_why = str(e) or "no reason given"
        except Interrupted:
            err, interrupted = "interrupted", True
        except KeyboardInterrupt:
            err, interrupted = "interrupted", True
        except TestTimeout:
            err = "timed out after %ds\n%s" % (limit, traceback.format_exc(limit=-3))
        except harness.TestFailure as e:
            tb = traceback.extract_tb(e.__traceback__)
            where = ""
            for fr in tb:
                if os.path.basename(fr.filename).startswith("test_"):
                    where = "%s:%d: " % (os.path.basename(fr.filename), fr.lineno)
            err = where + str(e)
            if env.soft_failures and str(e) != "\n".join(env.soft_failures):
                err += "\nalso: " + "\nalso: ".join(env.soft_failures)
        except Exception:
            err = traceback.format_exc()
        finally:
            try:
                signal.alarm(0)
                env.close()
            except BaseException:
                pass
        if err is None:
            err = crash_reports(env)
        dt = time.monotonic() - t0
        if err is None and skip_why is not None:
            skipped.append((tid, skip_why))
            print("SKIP %s (%.1fs): %s" % (tid, dt, skip_why), flush=True)
            shutil.rmtree(workdir, ignore_errors=True)
        elif err is None:
            passed += 1
            print("PASS %s (%.1fs)" % (tid, dt), flush=True)
            if opts.v:
                for n in env.notes:
                    print("    " + n)
            if not opts.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        else:
            failed += 1
            print("FAIL %s (%.1fs): %s" % (tid, dt, indent(err).lstrip()), flush=True)
            for n in env.notes:
                print("    note: " + n)
            print(indent(env.diagnostics()), flush=True)
            print("    (logs kept in %s)" % workdir, flush=True)
        if interrupted:
            break
    print("integ: total %.0fs" % (time.monotonic() - t_all))
    no_skip = os.environ.get("WARREN_NO_SKIP", "") not in ("", "0")
    for tid, why in skipped:
        print("integ: skipped %s: %s%s" % (tid, why, " (WARREN_NO_SKIP is set: this fails the run)"
                                           if no_skip else ""))
    print("integ: %d passed, %d failed, %d skipped" % (passed, failed, len(skipped)), flush=True)
    return 1 if failed or (skipped and no_skip) else 0


if __name__ == "__main__":
    sys.exit(main())
