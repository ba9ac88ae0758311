"""A node's /metrics passes Prometheus' own checker (`promtool check
metrics`, from Debian's prometheus package): every family has HELP and
TYPE, names and label sets are well formed."""
import subprocess
import time
import urllib.request

import harness
from harness import check, request

TIMEOUT = 60


def fetch(node):
    url = "http://127.0.0.1:%d/metrics" % node.admin_port
    return urllib.request.urlopen(url, timeout=5).read().decode()


def test_promtool_check_metrics(env):
    check(subprocess.run(["sh", "-c", "command -v promtool"], stdout=subprocess.DEVNULL).returncode == 0,
          "promtool is missing: run 'make deps' (tests/deps.sh installs prometheus)")
    node = env.node()
    port = env.http_service("metrics")
    client, url = env.http_tunnel(node, port, "metrics")
    for path in ("/whoami", "/status?code=500"):
        request(node.http_port, url["host"], path=path)
    request(node.http_port, "nobody.localhost", path="/")       # a 404 of the edge
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = fetch(node)
        if "warren_acceptor_http_requests_total" in text:
            break
        time.sleep(0.2)
    check("# HELP warren_acceptor_http_requests_total" in text
          and "# TYPE warren_acceptor_connections gauge" in text,
          "acceptor families with HELP and TYPE:\n%s" % text[:2000])
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    check(r.returncode == 0 and out.strip() == "",
          "promtool check metrics: rc %d\n%s" % (r.returncode, out[:3000]))
    env.note("promtool: %d lines of /metrics clean" % len(text.splitlines()))
