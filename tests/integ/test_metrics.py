"""A node's /metrics passes Prometheus' own checker (`promtool check
metrics`, from Debian's prometheus package): every family has HELP and
TYPE, names and label sets are well formed."""
import re
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


def samples(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = int(float(value))
    return out


def test_per_tunnel_top_n_and_bytes(env):
    """12 tunnels of one client, tunnel i asked i+1 times: the 10 busiest
    by name, the two quietest summed as "other"; bytes each way by kind."""
    node = env.node()
    port = env.http_service("tops")
    ini = env.path("tops.ini")
    with open(ini, "w") as f:
        f.write("[common]\nserver_addr = 127.0.0.1\nserver_port = %d\n" % node.tunnel_port)
        for i in range(12):
            f.write("[t%d]\ntype = http\nlocal_port = %d\nsubdomain = top%d\n" % (i, port, i))
    c = env.client(["start", "--config", ini, "--inspect=false"], name="client-tops")
    urls = {u["section"]: u for u in c.wait_urls(12, 30)}
    sent = 0
    for i in range(12):
        for _ in range(i + 1):
            st, _, body = request(node.http_port, urls["t%d" % i]["host"], path="/whoami")
            check(st == 200, "GET top%d: %d" % (i, st))
            sent += 1
    deadline = time.monotonic() + 5
    while True:
        m = samples(fetch(node))
        if m.get('warren_acceptor_tunnel_requests_total{tunnel="other"}') == 1 + 2:
            break
        check(time.monotonic() < deadline, "tunnel series after %d requests:\n%s"
              % (sent, "\n".join(k for k in m if "tunnel_" in k)))
        time.sleep(0.2)
    named = {k: v for k, v in m.items() if k.startswith("warren_acceptor_tunnel_requests_total")}
    check(len(named) == 11, "10 tunnels by name and other: %r" % named)
    for i in range(2, 12):
        k = 'warren_acceptor_tunnel_requests_total{tunnel="http:top%d.localhost"}' % i
        check(named.get(k) == i + 1, "%s = %r, want %d" % (k, named.get(k), i + 1))
    check(sum(named.values()) == sent, "requests by tunnel sum to %d, sent %d"
          % (sum(named.values()), sent))
    bin_, bout = (m.get('warren_acceptor_public_bytes_total{dir="%s",kind="http"}' % d, 0)
                  for d in ("in", "out"))
    check(bin_ > 50 * sent and bout > 100 * sent, "public bytes in %d out %d for %d requests"
          % (bin_, bout, sent))
    # the first-byte histogram: one observation per request, buckets rising
    text = fetch(node)
    fam = "warren_acceptor_request_first_byte_seconds"
    buckets = []
    for line in text.splitlines():
        if line.startswith(fam + '_bucket{kind="http"'):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), int(line.split()[-1])))
    count = int(re.search(r'%s_count\{kind="http"\} (\d+)' % fam, text).group(1))
    total = float(re.search(r'%s_sum\{kind="http"\} ([\d.]+)' % fam, text).group(1))
    check("# TYPE %s histogram" % fam in text, "histogram TYPE line")
    check(count == sent and buckets and buckets[-1] == (float("inf"), count)
          and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
          "first-byte histogram: count %d (sent %d), buckets %r" % (count, sent, buckets))
    check(0 < total < 10 * sent, "first-byte sum %.6f s over %d requests" % (total, sent))
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    check(r.returncode == 0 and not r.stdout.strip(), "promtool: %s" % r.stdout.decode()[:2000])


def test_grafana_dashboard_reads_real_series(env):
    """docker/grafana/warren-node.json: valid JSON, and every metric its
    queries name is one a node serves."""
    import json
    import os
    import re
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docker",
                        "grafana", "warren-node.json")
    with open(path) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    names = set(re.findall(r"\b(warren_[a-z_]+)", " ".join(exprs)))
    check(len(names) >= 15, "dashboard metric names: %r" % sorted(names))
    node = env.node()
    port = env.http_service("dash")
    env.http_tunnel(node, port, "dash", extra=["--inspect=false"])
    deadline = time.monotonic() + 5
    while True:
        served = {line.split("{")[0].split(" ")[0] for line in fetch(node).splitlines()
                  if line.startswith("warren_")}
        missing = names - served
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(not missing, "the dashboard asks for series no node serves: %s" % sorted(missing))
