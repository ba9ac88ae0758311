"""`make run` (tests/run_demo.sh): every command it prints works as printed,
the HTTPS one included (the node issues demo.localhost its own certificate
from the development CA)."""
import os
import re
import subprocess
import time

import harness
from harness import check, tail

TIMEOUT = 90
HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "run_demo.sh")
PAGE = b"Hello through warren"


def test_make_run_commands(env):
    out = env.path("demo.out")
    with open(out, "wb") as f:
        p = env.spawn(["sh", SCRIPT, harness.bin_dir()], "demo", stdout=f)
    env.logs.append(out)
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        with open(out, errors="replace") as f:
            text = f.read()
        if "Ctrl-C stops" in text:
            break
        check(p.alive(), "run_demo.sh exited:\n%s\n%s" % (text, tail(p.log)))
        time.sleep(0.2)
    check("Ctrl-C stops" in text, "run_demo.sh printed no summary:\n%s" % text)
    cmds = [m.group(1).strip() for m in re.finditer(r":\s+(curl .*)$", text, re.M)]
    env.note("printed: " + " | ".join(cmds))
    check(len(cmds) == 3 and any("https://" in c for c in cmds),
          "want three curl commands, one HTTPS: %r\n%s" % (cmds, text))
    check(re.search(r"self-check : GET \S+ -> 200, over HTTPS -> 200", text),
          "the demo's own self-check failed:\n%s" % text)
    for cmd in cmds:
        r = subprocess.run(cmd + " -sS --max-time 10", shell=True, cwd=env.dir,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        check(r.returncode == 0 and PAGE in r.stdout,
              "%s: exit %d, stderr %r, body %r" % (cmd, r.returncode, r.stderr[:300],
                                                   r.stdout[:200]))
    # the token command too (it makes another token for demo.*)
    m = re.search(r"made with: (clusterctl .*)$", text, re.M)
    check(m is not None, "no clusterctl command printed:\n%s" % text)
    cmd = m.group(1).replace("clusterctl", os.path.join(harness.bin_dir(), "clusterctl"), 1)
    r = subprocess.run(cmd, shell=True, cwd=env.dir, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20)
    check(r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith(b"wrn_"),
          "%s: exit %d %r %r" % (cmd, r.returncode, r.stdout[-200:], r.stderr[-200:]))
