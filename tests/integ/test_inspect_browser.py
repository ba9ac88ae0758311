"""The inspector page in a real browser: Debian's Chromium, headless, driven
by playwright-core (tests/browser/inspector.js). Sees requests arrive live,
opens one, replays it, edits and replays it, and checks that the local
service received each replay. Screenshots go to $WARREN_BIN/artifacts/."""
import os
import subprocess

import harness
from harness import check

TIMEOUT = 120
HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = os.path.join(os.path.dirname(HERE), "browser")


def test_inspector_in_chromium(env):
    check(os.path.exists("/usr/bin/chromium"),
          "/usr/bin/chromium is missing: run 'make deps' (tests/deps.sh installs it)")
    check(os.path.isdir(os.path.join(BROWSER, "node_modules", "playwright-core")),
          "playwright-core is missing: run 'make deps' (tests/browser/install.sh)")
    node = env.node()
    port = env.http_service("browser")
    client, url = env.http_tunnel(node, port, "browser",
                                  extra=["--inspect-listen", "127.0.0.1:0"])
    _, m = client.wait_line(r"^inspect (http://127\.0\.0\.1:\d+)$", timeout=5)
    shot = os.path.join(os.path.abspath(harness.bin_dir()), "artifacts", "inspector.png")
    for f in (shot, shot.replace(".png", "-narrow.png")):
        if os.path.exists(f):
            os.unlink(f)
    e = dict(os.environ, INSPECT_URL=m.group(1), PUBLIC_PORT=str(node.http_port),
             PUBLIC_HOST=url["host"], LOCAL_PORT=str(port), SHOT=shot)
    log = env.path("browser.log")
    with open(log, "w") as out:
        p = subprocess.run(["node", os.path.join(BROWSER, "inspector.js")], env=e,
                           stdout=out, stderr=subprocess.STDOUT, timeout=100)
    text = open(log).read()
    check(p.returncode == 0 and "browser: ok" in text,
          "browser test failed (rc %d):\n%s" % (p.returncode, text[-3000:]))
    for f in (shot, shot.replace(".png", "-narrow.png")):
        with open(f, "rb") as fh:
            head = fh.read(8)
        check(head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(f) > 10000,
              "screenshot %s: %r, %d bytes" % (f, head, os.path.getsize(f)))
    env.note("screenshots: %s (and -narrow)" % shot)
