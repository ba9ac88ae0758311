"""One routing.db for the whole cluster, with real processes: five nodes
gossiping on 127.0.0.1-127.0.0.5, operated with clusterctl as an operator
would. Every test ends with the digests of the replicated data equal on
every live node (`clusterctl sync --json`)."""
import json
import os
import signal
import sqlite3
import subprocess
import time

import harness
from harness import TestFailure, check, request, tail

TIMEOUT = 90
SLOW = 3 if os.environ.get("WARREN_SANITIZE") else 1
FAST = ["--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
        "--gossip-interval", "100ms", "--gossip-suspicion-mult", "3"]


def clusterctl(node, *args, check_rc=True):
    argv = [os.path.join(harness.bin_dir(), "clusterctl"),
            "--admin", "127.0.0.1:%d" % node.admin_port] + list(args)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if check_rc and r.returncode != 0:
        raise TestFailure("clusterctl %s at %s: exit %d\n%s%s"
                          % (" ".join(args), node.name, r.returncode, out, err))
    return r.returncode, out, err


def cjson(node, *args):
    return json.loads(clusterctl(node, *args, "--json")[1])


def gossip_addr(node, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in node.events():
            if ev.get("ev") == "gossip.listen":
                return ev.get("addr")
        time.sleep(0.05)
    raise TestFailure("%s logged no gossip.listen\n%s" % (node.name, tail(node.log)))


def cluster(env, n, auth=False, extra=(), own_http=False, **kw):
    """n nodes, node i gossiping on 127.0.0.i (and with own_http, serving
    public HTTP and TCP tunnels there too), all joined through node 1;
    waits until every node sees every other alive."""
    nodes = []
    for i in range(1, n + 1):
        args = ["--gossip-listen", "127.0.0.%d:0" % i] + FAST + list(extra)
        if nodes:
            args += ["--join", nodes[0].gossip]
        if own_http:
            kw["http"] = "127.0.0.%d:0" % i
        node = env.node(args=args, auth=auth, **kw)
        node.gossip = gossip_addr(node)
        nodes.append(node)
    deadline = time.monotonic() + 15 * SLOW
    while True:
        views = [{m["name"]: m["state"] for m in cjson(x, "members")} for x in nodes]
        if all(len(v) == n and set(v.values()) == {"alive"} for v in views):
            return nodes
        if time.monotonic() > deadline:
            raise TestFailure("membership did not converge: %r" % views)
        time.sleep(0.1)


def ca(node):
    return {"WARREN_CA": os.path.join(node.data_dir, "tls", "ca.pem")}


def tunnel(env, node, port, sub, token=None, name=None, extra=()):
    """`warren http` against node; waits for its URL."""
    args = ["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
            "--subdomain", sub] + (["--token", token] if token else []) + list(extra)
    c = env.client(args, name=name or "client-" + sub, extra_env=ca(node))
    c.wait_urls(1, 15 * SLOW)
    return c


def wait_until(what, fn, timeout):
    """Polls fn() until it returns a true value; returns (value, seconds)."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = fn()
        if last:
            return last, time.monotonic() - t0
        time.sleep(0.05)
    raise TestFailure("%s: not within %.1fs (last: %r)" % (what, timeout, last))


def holders(node):
    """{host or :port: (node, state)} from the node's route table."""
    st, _, body = request(node.admin_port, "127.0.0.1", path="/v1/tunnels")
    check(st == 200, "/v1/tunnels: %d" % st)
    return {(t["host"] or ":%d" % t["port"]): (t["node"], t["state"])
            for t in json.loads(body)}


def digests(nodes):
    return {n.name: cjson(n, "sync")["self"]["digest"] for n in nodes}


def digests_equal(env, nodes, timeout=10):
    d, t = wait_until("equal digests on every node",
                      lambda: (lambda v: v if len(set(v.values())) == 1 else None)(
                          digests(nodes)), timeout * SLOW)
    env.note("digests equal on all %d nodes (%s...) after %.2fs"
             % (len(nodes), list(d.values())[0][:12], t))
    # and clusterctl sync says so in words, from any node, once the
    # summaries in the gossip metadata (refreshed every second) caught up
    try:
        wait_until("clusterctl sync: the same data everywhere", lambda:
                   "every live node holds the same data" in clusterctl(nodes[0], "sync")[1],
                   10 * SLOW)
    except TestFailure as e:
        raise TestFailure("%s\n%s" % (e, clusterctl(nodes[0], "sync")[1]))


def make_token(node, *allow):
    args = ["tokens", "create"]
    for a in allow:
        args += ["--allow", a]
    _, out, _ = clusterctl(node, *args)
    tok = out.strip().splitlines()[-1]
    check(tok.startswith("wrn_"), "token line %r" % tok)
    return tok


@harness.timeout(120)
def test_names_tokens_and_revocation_cluster_wide(env):
    nodes = cluster(env, 5, auth=True)
    n1, n2, n3, n4, n5 = nodes
    port = env.http_service("alice")

    # a token made on node 2 admits a client on node 4 within a second
    tok = make_token(n2, "alice.*", "bob.*", "carol.*")
    t0 = time.monotonic()
    _, took = wait_until("the token at n4", lambda: any(
        t["note"] == "" for t in json.loads(request(n4.admin_port, "127.0.0.1",
                                                    path="/v1/tokens")[2])), 5)
    env.note("a token made on n2 is known at n4 after %.2fs" % took)
    env.expect(took <= 1.0 * SLOW, "token reached n4 after %.2fs (target 1 s)" % took)
    tunnel(env, n4, port, "alice", tok, name="alice-n4")

    # the tunnel registered on node 4 shows in clusterctl routes on node 1 and 5
    for obs in (n1, n5):
        rows, took = wait_until("alice at %s" % obs.name, lambda: [
            r for r in cjson(obs, "routes") if r["host"] == "alice.localhost"
            and r["state"] == "online" and r["holder"]], 5 * SLOW)
        check(rows[0]["node"] == "n4" and rows[0]["token_id"].startswith("tok_"),
              "route at %s: %r" % (obs.name, rows[0]))
    _, out, _ = clusterctl(n1, "routes")
    check("alice.localhost" in out and "n4" in out and "online *" in out,
          "clusterctl routes table:\n" + out)
    check(holders(n1)["alice.localhost"] == ("n4", "online"),
          "n1's table: %r" % holders(n1))

    # the same name from another token is refused on any node (reservation)
    other = make_token(n1, "alice.*")
    ntok = len(json.loads(request(n1.admin_port, "127.0.0.1", path="/v1/tokens")[2]))
    wait_until("the second token at n2", lambda: len(json.loads(request(
        n2.admin_port, "127.0.0.1", path="/v1/tokens")[2])) >= ntok, 5 * SLOW)
    wait_until("alice held by n4 in n2's table", lambda: holders(n2).get(
        "alice.localhost") == ("n4", "online"), 5 * SLOW)
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % n2.tunnel_port,
                    "--subdomain", "alice", "--token", other], name="thief",
                   extra_env=ca(n2))
    wait_until("thief refused", lambda: "reserved by another token" in tail(c.log, 50)
               or "in use by another client" in tail(c.log, 50), 10 * SLOW)
    c.kill()

    # a revocation on node 3 closes the token's sessions on nodes 1 and 5
    v1 = tunnel(env, n1, port, "bob", tok, name="bob-n1")
    v5 = tunnel(env, n5, port, "carol", tok, name="carol-n5")
    tid = [t["id"] for t in json.loads(request(n3.admin_port, "127.0.0.1",
                                               path="/v1/tokens")[2])
           if "bob.*" in t["allow"]][0]
    t0 = time.monotonic()
    clusterctl(n3, "tokens", "revoke", tid)

    def closed():
        return all(not any(v[1] == "online" for k, v in holders(n).items()
                           if k in ("bob.localhost", "carol.localhost", "alice.localhost"))
                   for n in (n1, n5, n4))
    _, took = wait_until("revoked sessions closed on n1, n4 and n5", closed, 5 * SLOW)
    env.note("revocation on n3 closed the sessions on n1, n4, n5 after %.2fs" % took)
    env.expect(took <= 2.0 * SLOW, "revocation took %.2fs (target 2 s)" % took)
    wait_until("bob's client told", lambda: "revoked" in tail(v1.log, 40), 5)
    wait_until("carol's client told", lambda: "revoked" in tail(v5.log, 40), 5)
    digests_equal(env, nodes)


@harness.timeout(90)
def test_race_for_one_name_has_one_winner(env):
    nodes = cluster(env, 3)
    n1, n2, n3 = nodes
    p1 = env.http_service("first")
    p2 = env.http_service("second")
    # Two clients claim "race" on two nodes inside one propagation window:
    # node 2's gossip is stopped while node 1's claim is made, so node 2's
    # router sees the name free and claims it too (its write waits for
    # gossip). Both claims land; the earlier one must win everywhere.
    g2 = n2.child_pid("gossip")
    os.kill(g2, signal.SIGSTOP)
    try:
        c1 = tunnel(env, n1, p1, "race", name="racer1")
        c2 = env.client(["http", str(p2), "--server", "127.0.0.1:%d" % n2.tunnel_port,
                         "--subdomain", "race"], name="racer2", extra_env=ca(n2))
        time.sleep(0.5)
    finally:
        os.kill(g2, signal.SIGCONT)

    def settled():
        views = [holders(n).get("race.localhost") for n in nodes]
        if None in views or any(v[1] != "online" for v in views) or len(set(views)) != 1:
            return None
        # told either at once (node 2 learnt of node 1's claim before it
        # registered: "in use") or when the claims met ("taken")
        told = tail(c2.log, 60)
        return views[0] if ("name taken by another client" in told or
                            "in use by another client" in told) else None
    (winner, _), took = wait_until("one winner everywhere, the loser told", settled,
                                   10 * SLOW)
    env.note("race for one name: %s holds it on every node, the loser was told, "
             "%.2fs after the partition healed" % (winner, took))
    check(winner == "n1", "the earlier claim (n1) should win, not %s" % winner)
    env.expect(took <= 2.0 * SLOW, "the loser was told after %.2fs (target 2 s)" % took)
    # the public URL answers from the winner's service
    st, _, body = request(n1.http_port, "race.localhost", path="/whoami")
    check(st == 200 and b"first" in body, "race.localhost at n1: %d %r" % (st, body[:100]))
    check(holders(n2)["race.localhost"] == ("n1", "online"), "n2's table")
    digests_equal(env, nodes)


@harness.timeout(90)
def test_sqlite_shell_backends_and_domains(env):
    nodes = cluster(env, 4)
    n1, n4 = nodes[0], nodes[3]
    # an edgeProxy operator's habit: sqlite3 on one node's routing.db
    db = sqlite3.connect(os.path.join(n4.data_dir, "routing.db"), timeout=5)
    db.execute("INSERT INTO backends VALUES ('sa-node-1', 'myapp', 'sa', '10.50.1.1',"
               " 8080, 1, 2, 100, 150, 0)")
    db.commit()
    t0 = time.monotonic()
    rows, took = wait_until("the sqlite3 INSERT at n1", lambda: [
        b for b in cjson(n1, "backends", "list") if b["id"] == "sa-node-1"], 5 * SLOW)
    check(rows[0]["wg_ip"] == "10.50.1.1" and rows[0]["hard_limit"] == 150,
          "backend at n1: %r" % rows[0])
    env.note("a sqlite3 INSERT on n4 listed at n1 after %.2fs" % took)
    _, out, _ = clusterctl(n1, "backends", "list")
    check("sa-node-1" in out and "myapp" in out, "backends list:\n" + out)
    # an UPDATE and a DELETE from the shell travel the same way
    db.execute("UPDATE backends SET weight = 7 WHERE id = 'sa-node-1'")
    db.commit()
    wait_until("the UPDATE at n1", lambda: [
        b for b in cjson(n1, "backends", "list") if b["weight"] == 7], 5 * SLOW)
    # clusterctl on another node: add, then remove from a third
    clusterctl(n1, "backends", "add", "us-node-1", "myapp", "us", "10.50.2.1", "9000")
    clusterctl(nodes[1], "domains", "add", "shop.example.com", "myapp")
    wait_until("us-node-1 and the domain at n4", lambda: any(
        r[0] == "us-node-1" for r in db.execute("SELECT id FROM backends")) and
        any(r[0] == "shop.example.com" for r in db.execute("SELECT domain FROM domains")),
        5 * SLOW)
    db.execute("DELETE FROM backends WHERE id = 'sa-node-1'")
    db.commit()
    clusterctl(nodes[2], "domains", "rm", "shop.example.com")
    wait_until("the deletes everywhere", lambda: all(
        [b["id"] for b in cjson(n, "backends", "list")] == ["us-node-1"] and
        cjson(n, "domains", "list") == [] for n in nodes), 5 * SLOW)
    db.close()
    # a change made by gossip from a peer is not captured again
    st, _, body = request(n4.admin_port, "127.0.0.1", path="/metrics")
    check(st == 200 and b"warren_repl_db_total{what=\"applied\"}" in body,
          "replication metrics missing")
    digests_equal(env, nodes)


@harness.timeout(120)
def test_dead_owner_and_wiped_node(env):
    nodes = cluster(env, 5)
    n1, n2, n5 = nodes[0], nodes[1], nodes[4]
    port = env.http_service("svc")
    tunnel(env, n5, port, "five", name="five-n5")
    for n in nodes:
        wait_until("five online at %s" % n.name,
                   lambda: holders(n).get("five.localhost") == ("n5", "online"), 5 * SLOW)
    digests_equal(env, nodes)

    # kill -9 of the owner node: its tunnel leaves every table once it is dead
    n5.proc.kill_tree()
    t0 = time.monotonic()
    for n in nodes[:4]:
        wait_until("five offline at %s" % n.name,
                   lambda: holders(n).get("five.localhost", ("", ""))[1] == "offline",
                   15 * SLOW)
    env.note("owner killed: its tunnel offline on all 4 others after %.2fs"
             % (time.monotonic() - t0))

    # node 2 loses its data dir and rejoins: it catches up by itself
    clusterctl(n1, "backends", "add", "b1", "app", "eu", "10.0.0.9", "80")
    n2.proc.kill_tree()
    import shutil
    shutil.rmtree(n2.data_dir)
    n2.args[n2.args.index("--gossip-listen") + 1] = n2.gossip
    n2.start()
    t0 = time.monotonic()
    wait_until("b1 at the wiped node", lambda: any(
        b["id"] == "b1" for b in cjson(n2, "backends", "list")), 10 * SLOW)
    env.note("a wiped node holds the data again %.2fs after restarting"
             % (time.monotonic() - t0))
    digests_equal(env, nodes[:4])


@harness.timeout(60)
def test_tcp_ports_cluster_wide(env):
    # two nodes on their own addresses, so each could bind the same port:
    # only the replicated table keeps a port to one tunnel
    lo = harness.free_port_in(29000, 29900)
    rng = "%d-%d" % (lo, lo + 1)
    n1, n2 = cluster(env, 2, own_http=True, tcp_range=rng)
    echo = env.service("tcp-echo")[0]
    c1 = env.client(["tcp", str(echo), "--server", "127.0.0.1:%d" % n1.tunnel_port],
                    name="tcp1", extra_env=ca(n1))
    p1 = c1.wait_urls(1, 15 * SLOW)[0]["port"]
    wait_until("port %d held at n2" % p1,
               lambda: holders(n2).get(":%d" % p1) == ("n1", "online"), 5 * SLOW)
    # n2 hands out the other port of the range
    c2 = env.client(["tcp", str(echo), "--server", "127.0.0.1:%d" % n2.tunnel_port],
                    name="tcp2", extra_env=ca(n2))
    p2 = c2.wait_urls(1, 15 * SLOW)[0]["port"]
    check({p1, p2} == {lo, lo + 1}, "ports %d and %d from range %s" % (p1, p2, rng))
    # asking n2 for n1's port by number is refused, naming the port
    c3 = env.client(["tcp", str(echo), "--server", "127.0.0.1:%d" % n2.tunnel_port,
                     "--remote-port", str(p1)], name="tcp3", extra_env=ca(n2))
    wait_until("tcp3 refused", lambda: "port %d is in use by another client" % p1
               in tail(c3.log, 40), 10 * SLOW)
    digests_equal(env, [n1, n2])


@harness.timeout(60)
def test_tls_names_reserved_cluster_wide(env):
    n1, n2 = cluster(env, 2, auth=True)
    ta = make_token(n1, "secure.*")
    tb = make_token(n1, "secure.*")
    wait_until("both tokens at n2", lambda: len(json.loads(request(
        n2.admin_port, "127.0.0.1", path="/v1/tokens")[2])) == 2, 5 * SLOW)
    c = env.client(["tls", "9", "--server", "127.0.0.1:%d" % n1.tunnel_port,
                    "--subdomain", "secure", "--token", ta], name="tls-a",
                   extra_env=ca(n1))
    c.wait_urls(1, 15 * SLOW)
    c.kill()
    wait_until("secure offline at n2", lambda: holders(n2).get("secure.localhost",
                                                               ("", ""))[1] == "offline",
               5 * SLOW)
    # the TLS passthrough name stays reserved to token A, on every node
    b = env.client(["tls", "9", "--server", "127.0.0.1:%d" % n2.tunnel_port,
                    "--subdomain", "secure", "--token", tb], name="tls-b",
                   extra_env=ca(n2))
    wait_until("token B refused", lambda: "subdomain secure is reserved by another "
               "token until" in tail(b.log, 40), 10 * SLOW)
    b.kill()
    # and token A gets it back on the other node
    a2 = env.client(["tls", "9", "--server", "127.0.0.1:%d" % n2.tunnel_port,
                     "--subdomain", "secure", "--token", ta], name="tls-a2",
                    extra_env=ca(n2))
    a2.wait_urls(1, 15 * SLOW)
    digests_equal(env, [n1, n2])


@harness.timeout(60)
def test_same_client_moves_to_another_node(env):
    n1, n2, n3 = cluster(env, 3, auth=True)
    tok = make_token(n1, "back.*")
    wait_until("the token at n2", lambda: len(json.loads(request(
        n2.admin_port, "127.0.0.1", path="/v1/tokens")[2])) == 1, 5 * SLOW)
    port = env.http_service("svc")
    c1 = tunnel(env, n1, port, "back", tok, name="first-life",
                extra=["--client-id", "laptop-7"])
    wait_until("back held by n1 at n3",
               lambda: holders(n3).get("back.localhost") == ("n1", "online"), 5 * SLOW)
    # the client's old session still looks online at n1 (its process is
    # frozen, not gone); the same client comes back through n2
    os.kill(c1.proc.pid, signal.SIGSTOP)
    try:
        tunnel(env, n2, port, "back", tok, name="second-life",
               extra=["--client-id", "laptop-7"])
        _, took = wait_until("back held by n2 everywhere", lambda: all(
            holders(n).get("back.localhost") == ("n2", "online") for n in (n1, n2, n3)),
            5 * SLOW)
        env.note("the same client on another node holds its name everywhere after %.2fs"
                 % took)
        rows = [r for r in cjson(n3, "routes") if r["host"] == "back.localhost"]
        check(len(rows) == 2 and sum(r["holder"] for r in rows) == 1 and
              [r for r in rows if r["holder"]][0]["node"] == "n2",
              "claims of back at n3: %r" % rows)
    finally:
        os.kill(c1.proc.pid, signal.SIGCONT)
    digests_equal(env, [n1, n2, n3])
