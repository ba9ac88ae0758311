"""edgeProxy compatibility with real nodes on loopback: its routing.db made
with the sqlite3 shell from its README and its environment variables; its
backend API (register on one node, a candidate on the other; out when the
heartbeats stop, even when the node that took them dies; deregister; the
token off loopback); its internal DNS answered with `dig`. Client locations
are only data (addresses looked up in the country database); backends are
addresses that are never dialled."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import harness
from harness import TestFailure, check, tail
from test_replication import digests_equal

TIMEOUT = 90
SLOW = 3 if os.environ.get("WARREN_SANITIZE") else 1
FAST = ["--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
        "--gossip-interval", "100ms", "--gossip-suspicion-mult", "3"]
GEO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                   "geo-country.mmdb")

# edgeProxy's README, "Routing Database" and "Example Data", as it is
README_SQL = """
CREATE TABLE backends (
    id TEXT PRIMARY KEY,      -- "sa-node-1"
    app TEXT,                 -- "myapp"
    region TEXT,              -- "sa", "us", "eu"
    wg_ip TEXT,               -- WireGuard IP
    port INTEGER,             -- Backend port
    healthy INTEGER,          -- 0 or 1
    weight INTEGER,           -- Load balancing weight
    soft_limit INTEGER,       -- Comfortable connection count
    hard_limit INTEGER,       -- Maximum connections
    deleted INTEGER DEFAULT 0
);
INSERT INTO backends VALUES
    ('sa-node-1', 'myapp', 'sa', '10.50.1.1', 8080, 1, 2, 50, 100, 0),
    ('us-node-1', 'myapp', 'us', '10.50.2.1', 8080, 1, 2, 50, 100, 0),
    ('eu-node-1', 'myapp', 'eu', '10.50.3.1', 8080, 1, 2, 50, 100, 0);
"""


def sqlite3_shell(db, sql):
    """The sqlite3 command-line shell, as an edgeProxy operator uses it
    (waiting its turn while gossip writes, as an operator's would)."""
    r = subprocess.run(["sqlite3", "-cmd", ".timeout 5000", db], input=sql.encode(),
                       stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20)
    check(r.returncode == 0, "sqlite3 %s: %s" % (db, r.stderr.decode(errors="replace")))
    return r.stdout.decode()


def clusterctl(node, *args):
    r = subprocess.run([os.path.join(harness.bin_dir(), "clusterctl"), "--admin",
                        "127.0.0.1:%d" % node.admin_port] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    check(r.returncode == 0, "clusterctl %s at %s: exit %d\n%s%s"
          % (" ".join(args), node.name, r.returncode, out, err))
    return out


def explain(node, ip, app="myapp"):
    return json.loads(clusterctl(node, "lb", "explain", "--app", app, "--client-ip", ip,
                                 "--json"))


def cand(j, bid):
    """The candidate bid in an explanation, or None."""
    got = [c for c in j["candidates"] if c["id"] == bid]
    return got[0] if got else None


def logged_addr(node, ev_name, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in node.events():
            if ev.get("ev") == ev_name:
                return ev.get("addr")
        time.sleep(0.05)
    raise TestFailure("%s logged no %s\n%s" % (node.name, ev_name, tail(node.log)))


def api(port, method, path, body=None, token=None):
    """(status, JSON) from the backend API."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def metrics(node):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % node.admin_port,
                                timeout=10) as r:
        text = r.read().decode()
    return dict(l.rsplit(" ", 1) for l in text.splitlines()
                if l and not l.startswith("#"))


def dig(port, name, qtype="A", tcp=False):
    """(status, [answer data]) from `dig @127.0.0.1 -p PORT NAME QTYPE`."""
    if not shutil.which("dig"):
        raise TestFailure("dig is missing: run 'make deps' (dnsutils)")
    argv = ["dig", "@127.0.0.1", "-p", str(port), name, qtype, "+time=3", "+tries=1"]
    if tcp:
        argv.append("+tcp")
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"status: (\w+)", out)
    check(m is not None, "dig %s %s: no answer\n%s%s" % (name, qtype, out,
                                                      r.stderr.decode(errors="replace")))
    answers = []
    sect = re.search(r";; ANSWER SECTION:\n(.*?)\n\n", out, re.S)
    if sect:
        for line in sect.group(1).splitlines():
            f = line.split()
            answers.append((f[0], int(f[1]), f[3], f[4]))
    return m.group(1), answers


def wait_for(what, fn, timeout):
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure("timed out waiting for %s" % what)
        time.sleep(0.1)


def geoip_db():
    if not os.path.exists(GEO):
        raise TestFailure("%s is missing: run 'make deps' (tests/geoip_fetch.sh)" % GEO)
    return os.path.abspath(GEO)


def edgeproxy_node(env, extra_env, args=()):
    """A node configured only by edgeProxy's variables: the harness's
    --name and --region flags are left out, so the environment decides."""
    node = env.node(args=list(args), start=False, extra_env=extra_env)
    argv = node.argv

    def without_name_region():
        a, out, skip = argv(), [], False
        for i, x in enumerate(a):
            if skip:
                skip = False
                continue
            if x in ("--name", "--region"):
                skip = True
                continue
            out.append(x)
        return out
    node.argv = without_name_region
    return node.start()


@harness.timeout(TIMEOUT)
def test_edgeproxy_db_and_environment(env):
    db = env.path("edgeproxy", "routing.db")
    os.makedirs(os.path.dirname(db))
    sqlite3_shell(db, README_SQL)
    epenv = {
        "EDGEPROXY_DB_PATH": db,
        "EDGEPROXY_REGION": "eu",
        "EDGEPROXY_DB_RELOAD_SECS": "5",
        "EDGEPROXY_GEOIP_PATH": geoip_db(),
        "EDGEPROXY_BINDING_TTL_SECS": "30",
        "EDGEPROXY_BINDING_GC_INTERVAL_SECS": "60",
        "EDGEPROXY_API_ENABLED": "true",
        "EDGEPROXY_API_LISTEN_ADDR": "127.0.0.1:0",
        "EDGEPROXY_HEARTBEAT_TTL_SECS": "45",
        "EDGEPROXY_DNS_ENABLED": "true",
        "EDGEPROXY_DNS_LISTEN_ADDR": "127.0.0.1:0",
        "EDGEPROXY_TLS_ENABLED": "1",
        "EDGEPROXY_TLS_LISTEN_ADDR": "127.0.0.1:0",
        "EDGEPROXY_REPLICATION_NODE_ID": "pop-fra",
        "EDGEPROXY_REPLICATION_GOSSIP_ADDR": "127.0.0.1:0",
        "DEBUG": "1",
    }
    # the effective options, as warren-node reads them
    r = subprocess.run([os.path.join(harness.bin_dir(), "warren-node"), "--data-dir",
                        env.path("pc"), "--print-config"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=dict(os.environ, **epenv), timeout=10)
    conf = dict(l.split(" = ", 1) for l in r.stdout.decode().splitlines() if " = " in l)
    want = {"db-path": db, "region": "eu", "geoip-db": geoip_db(),
            "binding-ttl": "30000ms", "api-listen": "127.0.0.1:0",
            "heartbeat-ttl": "45000ms", "dns-listen": "127.0.0.1:0",
            "dns-domain": "internal", "name": "pop-fra", "log-level": "debug",
            "gossip-listen": "127.0.0.1:0", "lb-tls-listen": "127.0.0.1:0"}
    for k, v in want.items():
        check(conf.get(k) == v, "--print-config %s = %r, want %r\n%s"
              % (k, conf.get(k), v, r.stdout.decode()))
    # a warren name wins over edgeProxy's
    r = subprocess.run([os.path.join(harness.bin_dir(), "warren-node"), "--data-dir",
                        env.path("pc"), "--print-config"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10,
                       env=dict(os.environ, EDGEPROXY_REGION="us", WARREN_REGION="sa"))
    check("\nregion = sa\n" in r.stdout.decode(), "WARREN_REGION should win:\n%s"
          % r.stdout.decode())

    node = edgeproxy_node(env, epenv)
    api_port = int(logged_addr(node, "backendapi.listen").rsplit(":", 1)[1])
    dns_port = int(logged_addr(node, "dns.listen").rsplit(":", 1)[1])
    logged_addr(node, "lb.tls.listen")     # EDGEPROXY_TLS_* (test_lb_tls uses it)
    wait_for("the node named by EDGEPROXY_REPLICATION_NODE_ID", lambda: [
        m["name"] for m in json.loads(clusterctl(node, "members", "--json"))] ==
        ["pop-fra"], 10)
    check(any(ev.get("lvl") == "debug" for ev in node.events()), "DEBUG: no debug lines")
    # the README's backends, chosen by the client's country and this POP's region
    for ip, winner in (("200.160.2.3", "sa-node-1"), ("8.8.8.8", "us-node-1"),
                       ("85.214.132.117", "eu-node-1"), ("133.242.0.1", "eu-node-1")):
        j = explain(node, ip)
        check(j["winner"] == winner and j["node_region"] == "eu" and j["geoip"],
              "%s: winner %r region %r geoip %r" % (ip, j["winner"], j["node_region"],
                                                   j["geoip"]))
    # the DNS asks the same decision: the asker (127.0.0.1) has no location,
    # so this POP's region wins
    status, ans = dig(dns_port, "myapp.internal")
    check(status == "NOERROR" and [a[3] for a in ans] == ["10.50.3.1"],
          "dig myapp.internal: %s %r" % (status, ans))
    check(dig(dns_port, "nosuchapp.internal")[0] == "NXDOMAIN", "unknown app")
    # an edit with the sqlite3 shell takes effect at once, on the same file
    sqlite3_shell(db, "UPDATE backends SET healthy = 0 WHERE id = 'eu-node-1';")
    wait_for("the DNS to follow the edit",
             lambda: dig(dns_port, "myapp.internal")[1][:1] == [
                 ("myapp.internal.", 5, "A", "10.50.1.1")], 5)
    # the backend API writes into the same routing.db
    st, body = api(api_port, "POST", "/api/v1/register",
                   {"id": "fra-1", "app": "myapp", "region": "eu", "country": "DE",
                    "ip": "10.50.3.9", "port": 9000})
    check(st == 201 and body == {"id": "fra-1", "registered": True,
                                 "message": "Backend registered successfully"},
          "register: %d %r" % (st, body))
    row = sqlite3_shell(db, "SELECT id, app, region, wg_ip, port, healthy, weight, "
                            "soft_limit, hard_limit, deleted FROM backends "
                            "WHERE id = 'fra-1';").strip()
    check(row == "fra-1|myapp|eu|10.50.3.9|9000|1|2|100|150|0",
          "the registered row in %s: %r" % (db, row))
    j = explain(node, "85.214.132.117")
    check(j["winner"] == "fra-1" and cand(j, "fra-1")["geo"] == 0,
          "a German client gets the registered German backend: %r" % j)
    status, ans = dig(dns_port, "MyApp.Internal", tcp=True)
    check(status == "NOERROR" and [a[3] for a in ans] == ["10.50.3.9"],
          "dig +tcp: %s %r" % (status, ans))


@harness.timeout(TIMEOUT)
def test_backend_api_across_the_cluster(env):
    ttl = 3
    extra = FAST + ["--api-listen", "127.0.0.1:0", "--heartbeat-ttl", "%ds" % ttl]
    n1 = env.node(args=["--gossip-listen", "127.0.0.1:0"] + extra)
    n1.gossip = logged_addr(n1, "gossip.listen")
    n2 = env.node(args=["--gossip-listen", "127.0.0.2:0", "--join", n1.gossip] + extra)
    wait_for("both nodes alive in n2's view", lambda: [
        m["state"] for m in json.loads(clusterctl(n2, "members", "--json"))] ==
        ["alive", "alive"], 15)
    p1 = int(logged_addr(n1, "backendapi.listen").rsplit(":", 1)[1])
    p2 = int(logged_addr(n2, "backendapi.listen").rsplit(":", 1)[1])

    # registered on node 1: a candidate on node 2
    st, body = api(p1, "POST", "/api/v1/register",
                   {"id": "us-east-1", "app": "shop", "region": "us", "ip": "10.60.0.1",
                    "port": 8080, "weight": 3, "soft_limit": 10, "hard_limit": 20})
    check(st == 201, "register: %d %r" % (st, body))
    c = wait_for("us-east-1 on node 2", lambda: cand(explain(n2, "8.8.8.8", "shop"),
                                                     "us-east-1"), 10)
    check(c["eligible"] and c["weight"] == 3 and c["hard_limit"] == 20 and
          c["wg_ip"] == "10.60.0.1", "on node 2: %r" % c)
    st, one = api(p2, "GET", "/api/v1/backends/us-east-1")
    check(st == 200 and one["healthy"] and one["app"] == "shop" and one["node"] == "n1",
          "GET on node 2: %d %r" % (st, one))
    st, h = api(p2, "GET", "/health")
    check(st == 200 and h["status"] == "ok" and h["registered_backends"] == 1,
          "/health: %d %r" % (st, h))
    # heartbeats (to either node) keep it in well past the TTL
    t_end = time.monotonic() + ttl * 2
    last = None
    while time.monotonic() < t_end:
        st, body = api(p1 if last is None or last == p2 else p2, "POST",
                       "/api/v1/heartbeat/us-east-1")
        check(st == 200 and body == {"id": "us-east-1", "status": "ok"},
              "heartbeat: %d %r" % (st, body))
        last = p1 if last is None or last == p2 else p2
        last_hb = time.monotonic()
        time.sleep(0.5)
        check(cand(explain(n2, "8.8.8.8", "shop"), "us-east-1")["eligible"],
              "out on node 2 while heartbeating")
    # heartbeats stop: out on both nodes after the TTL, not before
    time.sleep(max(0, last_hb + ttl - 1 - time.monotonic()))
    check(cand(explain(n2, "8.8.8.8", "shop"), "us-east-1")["eligible"],
          "out before the TTL")
    c = wait_for("us-east-1 out on node 2", lambda: (lambda x: x if not x["eligible"]
                 else None)(cand(explain(n2, "8.8.8.8", "shop"), "us-east-1")), ttl + 3)
    check(c["why"] == "no heartbeat" and time.monotonic() - last_hb >= ttl,
          "on node 2: %r after %.1fs" % (c, time.monotonic() - last_hb))
    check(explain(n1, "8.8.8.8", "shop")["winner"] is None, "still a winner on node 1")
    check(api(p1, "GET", "/api/v1/backends/us-east-1")[1]["healthy"] is False,
          "the API should show it unhealthy")
    # a heartbeat brings it back; deregistering removes it everywhere
    check(api(p2, "POST", "/api/v1/heartbeat/us-east-1")[0] == 200, "heartbeat again")
    wait_for("us-east-1 back on node 1",
             lambda: explain(n1, "8.8.8.8", "shop")["winner"] == "us-east-1", 5)
    st, body = api(p1, "DELETE", "/api/v1/backends/us-east-1")
    check(st == 200 and body == {"id": "us-east-1", "deregistered": True},
          "delete: %d %r" % (st, body))
    wait_for("us-east-1 gone from node 2",
             lambda: explain(n2, "8.8.8.8", "shop")["candidates"] == [], 10)
    check(api(p2, "GET", "/api/v1/backends") == (200, {"backends": [], "total": 0}),
          "node 2's list after the delete")
    check(api(p2, "POST", "/api/v1/heartbeat/us-east-1") ==
          (404, {"id": "us-east-1", "error": "backend not registered"}),
          "heartbeat after delete")
    check(api(p1, "DELETE", "/api/v1/backends/us-east-1")[0] == 404, "delete twice")
    # the registration, its leases and their removal: the same on both nodes
    digests_equal(env, [n1, n2])

    # the node that took the heartbeats dies: node 2 still puts the backend
    # out after the TTL, then removes the registration
    st, _ = api(p1, "POST", "/api/v1/register",
                {"id": "sa-1", "app": "shop", "region": "sa", "ip": "10.60.1.1",
                 "port": 8080})
    check(st == 201, "register sa-1")
    wait_for("sa-1 eligible on node 2", lambda: (cand(explain(n2, "8.8.8.8", "shop"),
                                                      "sa-1") or {}).get("eligible"), 10)
    n1.proc.kill_tree()
    wait_for("sa-1 out on node 2 with node 1 dead",
             lambda: not cand(explain(n2, "8.8.8.8", "shop"), "sa-1")["eligible"], ttl + 3)
    wait_for("node 2 to remove sa-1 (two TTLs after expiry)",
             lambda: explain(n2, "8.8.8.8", "shop")["candidates"] == [], 3 * ttl + 5)
    check(any(ev.get("ev") == "backendapi.expire" and ev.get("id") == "sa-1"
              for ev in n2.events()), "node 2 logged no backendapi.expire")


@harness.timeout(TIMEOUT)
def test_backend_api_validation_and_token(env):
    # off loopback without a token: the node refuses to start, saying why
    for how in (["--api-listen", "0.0.0.0:0"], None):
        node = env.node(args=how or [], start=False, extra_env=None if how else {
            "EDGEPROXY_API_ENABLED": "1", "EDGEPROXY_API_LISTEN_ADDR": "0.0.0.0:0"})
        node.log = env.path("%s.refused.log" % node.name)
        p = harness.Proc(env, node.name, node.argv(), log=node.log,
                         extra_env=node.extra_env)
        rc = p.wait(10)
        out = open(node.log).read()
        check(rc == 1 or rc == 2, "warren-node should refuse: exit %r\n%s" % (rc, out))
        check("not a loopback address" in out and "--api-token" in out,
              "the refusal should say why:\n%s" % out)
    # with a token it listens anywhere and asks for it
    node = env.node(args=["--api-listen", "0.0.0.0:0", "--api-token", "s3cret-t0ken",
                          "--gossip-listen", "127.0.0.1:0"])
    port = int(logged_addr(node, "backendapi.listen").rsplit(":", 1)[1])
    reg = {"id": "eu-1", "app": "web", "region": "eu", "ip": "fd00::1", "port": 443}
    check(api(port, "POST", "/api/v1/register", reg)[0] == 401, "no token")
    check(api(port, "POST", "/api/v1/register", reg, token="s3cret-t0keN")[0] == 401,
          "wrong token")
    check(api(port, "GET", "/api/v1/backends", token="s3cret-t0ke")[0] == 401,
          "a prefix of the token")
    check(api(port, "GET", "/health")[0] == 200, "/health needs no token")
    st, body = api(port, "POST", "/api/v1/register", reg, token="s3cret-t0ken")
    check(st == 201, "with the token: %d %r" % (st, body))
    # bad bodies: a clear error, nothing written
    for bad, words in (({"app": "web"}, "missing field `id`"),
                       (dict(reg, port=70000), "`port`"),
                       (dict(reg, ip="not-an-ip"), "`ip`"),
                       (dict(reg, country="Germany"), "`country`"),
                       (dict(reg, id="a/b"), "'/'"),
                       (dict(reg, region="x" * 40), "`region`"),
                       (dict(reg, weight=-1), "`weight`")):
        st, body = api(port, "POST", "/api/v1/register", bad, token="s3cret-t0ken")
        check(st == 422 and words in body["error"], "%r: %d %r" % (bad, st, body))
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/register" % port,
                                 data=b"{not json", method="POST",
                                 headers={"Authorization": "Bearer s3cret-t0ken"})
    try:
        urllib.request.urlopen(req, timeout=10)
        raise TestFailure("malformed JSON accepted")
    except urllib.error.HTTPError as e:
        check(e.code == 400, "malformed JSON: %d" % e.code)
    st, lst = api(port, "GET", "/api/v1/backends", token="s3cret-t0ken")
    check(st == 200 and lst["total"] == 1 and lst["backends"][0]["ip"] == "fd00::1",
          "list: %r" % lst)
    check(api(port, "GET", "/api/v1/nothing", token="s3cret-t0ken")[0] == 404, "404")
    check(api(port, "PUT", "/api/v1/register", reg, token="s3cret-t0ken")[0] == 405,
          "405")
    # the header's name split across two reads still counts
    import socket
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"GET /api/v1/backends HTTP/1.1\r\nHost: x\r\nAuthori")
    time.sleep(0.2)
    c.sendall(b"zation: Bearer s3cret-t0ken\r\n\r\n")
    head = c.recv(4096)
    c.close()
    check(head.startswith(b"HTTP/1.1 200 "), "split header: %r" % head[:80])
    m = metrics(node)
    check(m.get('warren_router_backendapi_requests_total{result="unauthorized"}') == "3"
          and m.get('warren_router_backendapi_events_total{event="register"}') == "1",
          "metrics: %r" % {k: v for k, v in m.items() if "backendapi" in k})


@harness.timeout(TIMEOUT)
def test_internal_dns(env):
    node = env.node(args=["--region", "us", "--dns-listen", "127.0.0.1:0",
                          "--dns-domain", "svc.edge", "--gossip-listen", "127.0.0.1:0"])
    port = int(logged_addr(node, "dns.listen").rsplit(":", 1)[1])
    db = os.path.join(node.data_dir, "routing.db")
    wait_for("gossip's tables", lambda: "backends" in sqlite3_shell(db, ".tables"), 10)
    sqlite3_shell(db, """
        INSERT INTO backends VALUES
          ('us-1', 'api', 'us', '10.70.2.1', 80, 1, 1, 10, 0, 0),
          ('us-2', 'api', 'us', '10.70.2.2', 80, 1, 4, 10, 0, 0),
          ('eu-1', 'api', 'eu', '10.70.3.1', 80, 1, 9, 10, 0, 0),
          ('v6-1', 'six', 'us', 'fd00:70::1', 80, 1, 1, 10, 0, 0),
          ('off-1', 'off', 'us', '10.70.9.9', 80, 0, 1, 10, 0, 0),
          ('other-1', 'web', 'us', '10.70.4.1', 80, 1, 1, 10, 0, 0);""")
    # the asker has no location: this node's region (us); equal load, so
    # the first by id of the region; only the asked app's backends
    want = explain(node, "127.0.0.1", "api")["winner"]
    check(want == "us-1", "the decision for api: %r" % want)
    wait_for("the DNS answer", lambda: dig(port, "api.svc.edge") ==
             ("NOERROR", [("api.svc.edge.", 5, "A", "10.70.2.1")]), 5)
    check(dig(port, "web.svc.edge")[1][0][3] == "10.70.4.1", "web's own backend")
    # the decision moves, the answer follows
    sqlite3_shell(db, "UPDATE backends SET deleted = 1 WHERE id = 'us-1';")
    wait_for("us-2 after us-1 is deleted",
             lambda: dig(port, "api.svc.edge", tcp=True)[1][:1] ==
             [("api.svc.edge.", 5, "A", "10.70.2.2")], 5)
    check(explain(node, "127.0.0.1", "api")["winner"] == "us-2", "explain agrees")
    # IPv6 backends in AAAA; the other family has no record
    check(dig(port, "six.svc.edge", "AAAA") ==
          ("NOERROR", [("six.svc.edge.", 5, "AAAA", "fd00:70::1")]), "AAAA")
    check(dig(port, "six.svc.edge", "A") == ("NOERROR", []), "A of an IPv6 backend")
    # none eligible: no record; unknown: NXDOMAIN; not ours: REFUSED; other
    # types: NOTIMP (as edgeProxy)
    check(dig(port, "off.svc.edge") == ("NOERROR", []), "all unhealthy")
    check(dig(port, "nothing.svc.edge")[0] == "NXDOMAIN", "unknown app")
    check(dig(port, "api.internal")[0] == "REFUSED", "another domain")
    check(dig(port, "example.com")[0] == "REFUSED", "outside")
    check(dig(port, "api.svc.edge", "MX")[0] == "NOTIMP", "MX")
    # garbage gets FORMERR or nothing, and the server keeps answering
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
             ("127.0.0.1", port))
    r = s.recv(512)
    check(r[:2] == b"\x12\x34" and r[3] & 0x0f == 1, "a compression loop: %r" % r)
    s.sendto(b"\x00" * 5, ("127.0.0.1", port))
    s.close()
    check(dig(port, "api.svc.edge")[0] == "NOERROR", "still answering")
    m = metrics(node)
    check(m.get('warren_router_dns_queries_total{rcode="formerr"}') == "1" and
          m.get('warren_router_dns_queries_total{rcode="dropped"}') == "1" and
          m.get('warren_router_dns_queries_total{rcode="nxdomain"}') == "1" and
          m.get('warren_router_dns_queries_total{rcode="refused"}') == "2",
          "metrics: %r" % {k: v for k, v in m.items() if "dns" in k})


@harness.timeout(TIMEOUT)
def test_register_into_a_country_column(env):
    """edgeProxy's code reads a `country` column its README's schema lacks:
    a routing.db with one (given by --db-path) gets the registered country
    in that column, and the decision uses it."""
    db = env.path("ep", "routing.db")
    os.makedirs(os.path.dirname(db))
    sqlite3_shell(db, """CREATE TABLE backends (id TEXT PRIMARY KEY, app TEXT,
        region TEXT, country TEXT, wg_ip TEXT, port INTEGER, healthy INTEGER,
        weight INTEGER, soft_limit INTEGER, hard_limit INTEGER,
        deleted INTEGER DEFAULT 0);
        INSERT INTO backends VALUES ('sa-2', 'myapp', 'sa', 'AR', '10.50.1.2',
        8080, 1, 2, 50, 100, 0);""")
    node = env.node(args=["--region", "us", "--db-path", db, "--geoip-db", geoip_db(),
                          "--api-listen", "127.0.0.1:0", "--gossip-listen", "127.0.0.1:0"])
    port = int(logged_addr(node, "backendapi.listen").rsplit(":", 1)[1])
    st, body = api(port, "POST", "/api/v1/register",
                   {"id": "sa-1", "app": "myapp", "region": "sa", "country": "BR",
                    "ip": "10.50.1.1", "port": 8080})
    check(st == 201, "register: %d %r" % (st, body))
    rows = sqlite3_shell(db, "SELECT id, country FROM backends ORDER BY id;").split()
    check(rows == ["sa-1|BR", "sa-2|AR"], "rows: %r" % rows)
    # a Brazilian client: the Brazilian backend (tier 0) over the Argentine
    j = explain(node, "200.160.2.3")
    check(j["winner"] == "sa-1" and cand(j, "sa-1")["geo"] == 0 and
          cand(j, "sa-2")["geo"] == 1, "explain: %r" % j)
