"""Clients that move: `warren http --server a,b,c` on losing its node (kill
-9, or a node draining on SIGTERM) connects to the next one, gets its name
back (the replicated reservation and claim), and the public URL answers
again through every surviving node (forwarding). Three nodes gossiping on
127.0.0.1-3 that share one development CA, so one --ca verifies them all."""
import os
import shutil
import signal
import threading
import time

import harness
from harness import check, request, tail
from test_replication import FAST, SLOW, cjson, clusterctl, digests_equal, gossip_addr, \
    holders, wait_until

TIMEOUT = 90


def cluster3(env):
    nodes = []
    for i in range(1, 4):
        args = ["--gossip-listen", "127.0.0.%d:0" % i] + FAST
        if nodes:
            args += ["--join", nodes[0].gossip]
        node = env.node(args=args, start=False)
        if nodes:
            # the first node's development CA and certificate (its names
            # cover 127.0.0.1 and localhost) serve the others too
            shutil.copytree(os.path.join(nodes[0].data_dir, "tls"),
                            os.path.join(node.data_dir, "tls"))
        node.start()
        node.gossip = gossip_addr(node)
        nodes.append(node)
    wait_until("three alive everywhere", lambda: all(
        sorted(m["state"] for m in cjson(n, "members")) == ["alive"] * 3 for n in nodes),
        15 * SLOW)
    return nodes


def mover(env, nodes, sub, extra=()):
    """`warren http` for service sub with --server listing every node (and
    extra flags); waits for its URL. Returns the client."""
    port = env.http_service(sub)
    servers = ",".join("127.0.0.1:%d" % n.tunnel_port for n in nodes)
    c = env.client(["http", str(port)] + list(extra) + ["--server", servers, "--subdomain",
                                                        sub], name=sub,
                   extra_env={"WARREN_CA": os.path.join(nodes[0].data_dir, "tls", "ca.pem")})
    c.wait_urls(1, 15 * SLOW)
    return c


def restartable(nodes):
    """A restarted node comes back on the same addresses and joins through
    another one."""
    for n in nodes:
        n.args = [a if not a.endswith(":0") or not a.startswith("127.0.0.") else n.gossip
                  for a in n.args]
        n.args += ["--drain-timeout", "10s"]
        if "--join" not in n.args:
            n.args += ["--join", nodes[1].gossip if n is not nodes[1] else nodes[0].gossip]
    return nodes


def answers(node, host):
    try:
        st, _, body = request(node.http_port, host, path="/whoami", timeout=3)
        return st == 200
    except Exception:
        return False


@harness.timeout(90)
def test_client_moves_when_its_node_dies_or_drains(env):
    n1, n2, n3 = cluster3(env)
    c = mover(env, (n1, n2, n3), "mover")
    for n in (n1, n2, n3):
        wait_until("mover through %s" % n.name, lambda: answers(n, "mover.localhost"),
                   5 * SLOW)
    check(holders(n3)["mover.localhost"][0] == "n1", "held by %r" % holders(n3))

    # kill -9 of the node holding the session: the client moves to n2
    t0 = time.monotonic()
    n1.proc.kill_tree()
    _, took = wait_until("mover through n2 and n3 again", lambda: answers(
        n2, "mover.localhost") and answers(n3, "mover.localhost"), 20 * SLOW)
    env.note("kill -9 of the holding node: the URL answers through the others "
             "again after %.2fs" % (time.monotonic() - t0))
    check(holders(n3)["mover.localhost"] == ("n2", "online"),
          "after the failover: %r" % holders(n3))
    check("session.lost" in tail(c.log, 80) and "server=127.0.0.1:%d" % n2.tunnel_port
          in tail(c.log, 80), "the client's log:\n" + tail(c.log))
    digests_equal(env, [n2, n3])

    # SIGTERM drains n2: GOAWAY sends the client to n3; a request loop
    # through n3 meanwhile counts its failures
    stop, results = threading.Event(), []

    def loop():
        while not stop.is_set():
            results.append(answers(n3, "mover.localhost"))
            time.sleep(0.02)
    th = threading.Thread(target=loop)
    th.start()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        os.kill(n2.proc.pid, signal.SIGTERM)
        _, took = wait_until("mover held by n3", lambda: holders(n3).get(
            "mover.localhost") == ("n3", "online"), 15 * SLOW)
        time.sleep(0.5)
    finally:
        stop.set()
        th.join()
    failed = results.count(False)
    env.note("drain of the holding node: the client re-registered on n3 after "
             "%.2fs; %d of %d requests through n3 failed meanwhile"
             % (took, failed, len(results)))
    check(failed == 0, "%d requests through n3 failed while n2 drained" % failed)
    check(answers(n3, "mover.localhost"), "the URL does not answer through n3")
    check("session.goaway" in tail(c.log, 80), "no GOAWAY in the client's log:\n"
          + tail(c.log))


@harness.timeout(150)
def test_rolling_restart_loses_no_request(env):
    """A rolling restart of all three nodes, one by one, while a load
    balancer that health-checks sends requests only to the nodes in its
    rotation: a node leaves the rotation before its SIGTERM and comes back
    once it answers again. Not one request may fail, and the tunnel is held
    by a running node all along."""
    nodes = restartable(cluster3(env))
    c = mover(env, nodes, "roller")
    host = "roller.localhost"
    for n in nodes:
        wait_until("roller through %s" % n.name, lambda: answers(n, host), 5 * SLOW)

    lock = threading.Lock()
    rotation = list(nodes)
    running = set(n.name for n in nodes)
    stop = threading.Event()
    sent, failures, held = [0], [], []

    def load():
        i = 0
        deadline = time.monotonic() + 120 * SLOW
        while not stop.is_set() and time.monotonic() < deadline and sent[0] < 20000:
            with lock:
                n = rotation[i % len(rotation)] if rotation else None
            i += 1
            if n is None:
                time.sleep(0.01)
                continue
            try:
                st, _, _ = request(n.http_port, host, path="/whoami", timeout=5)
                ok, why = st == 200, "status %d" % st
            except Exception as e:
                ok, why = False, repr(e)
            sent[0] += 1
            if not ok:
                failures.append((round(time.monotonic() - t0, 2), n.name, why))
            time.sleep(0.005)

    def watch():
        while not stop.is_set():
            with lock:
                live = [n for n in rotation]
                up = set(running)
            for n in live[:1]:
                try:
                    h = holders(n).get(host)
                except Exception:
                    continue
                if h is not None:
                    held.append((h, h[0] in up))
            time.sleep(0.05)

    t0 = time.monotonic()
    threads = [threading.Thread(target=load), threading.Thread(target=watch)]
    for th in threads:
        th.start()
    try:
        for n in nodes:
            with lock:
                rotation.remove(n)      # the load balancer drains it first
            time.sleep(0.2)
            ts = time.monotonic()
            rc = n.stop(timeout=20 * SLOW)
            took = time.monotonic() - ts
            with lock:
                running.discard(n.name)
            check(rc == 0, "%s: exit %r after SIGTERM\n%s" % (n.name, rc, tail(n.log)))
            env.note("%s drained and stopped in %.2fs" % (n.name, took))
            if n is nodes[0]:
                # it held the client's session: it let the session go once
                # its own table routed the name to the client's new one
                check("its tunnels are held on another node now" in open(n.log).read(),
                      "%s did not release the moved session:\n%s" % (n.name, tail(n.log)))
            n.start(same_ports=True)
            with lock:
                running.add(n.name)
            # the load balancer's health check: three answers in a row
            wait_until("%s answers after its restart" % n.name,
                       lambda: all(answers(n, host) for _ in range(3)), 20 * SLOW)
            with lock:
                rotation.append(n)
            time.sleep(0.5)
    finally:
        stop.set()
        for th in threads:
            th.join()
    env.note("rolling restart of 3 nodes: %d requests in %.1fs, %d failed %r"
             % (sent[0], time.monotonic() - t0, len(failures), failures[:10]))
    check(sent[0] > 100, "only %d requests were sent" % sent[0])
    check(not failures, "%d of %d requests failed: %r" % (len(failures), sent[0], failures[:20]))
    bad = [h for h, up in held if not up or h[1] != "online"]
    check(held and not bad, "the tunnel was held by a node that was not running, or "
          "offline: %r (of %d samples)" % (bad[:10], len(held)))
    digests_equal(env, nodes)


@harness.timeout(90)
def test_ha_client_loses_no_request_when_a_node_dies(env):
    """`warren http --ha`: sessions to two nodes, the tunnel registered on
    both. kill -9 of the node holding the route: a request loop through the
    two survivors fails at most the one request in flight at the kill (the
    forwarding node falls back on the client's other session at once, without
    waiting for the failure detector); the client then takes a session on
    the third node, so it has two again."""
    nodes = cluster3(env)
    c = mover(env, nodes, "twin", ["--ha"])
    host = "twin.localhost"

    def online_claims(node):
        return sorted(r["node"] for r in cjson(node, "routes")
                      if r.get("host") == host and r.get("state") == "online")
    wait_until("two online claims of twin", lambda: len(online_claims(nodes[2])) == 2,
               10 * SLOW)
    claims = online_claims(nodes[2])
    check(len(set(claims)) == 2, "the two sessions are on one node: %r" % claims)
    wait_until("n3 routes twin", lambda: holders(nodes[2]).get(host, ("", ""))[1]
               == "online", 5 * SLOW)
    holder = holders(nodes[2])[host][0]
    victim = [n for n in nodes if n.name == holder][0]
    survivors = [n for n in nodes if n is not victim]
    for n in survivors:
        wait_until("twin through %s" % n.name, lambda: answers(n, host), 5 * SLOW)

    stop, results = threading.Event(), []

    def loop():
        i = 0
        while not stop.is_set():
            n = survivors[i % 2]
            i += 1
            try:
                st, _, _ = request(n.http_port, host, path="/whoami", timeout=5)
                results.append((time.monotonic(), n.name, st))
            except Exception as e:
                results.append((time.monotonic(), n.name, repr(e)))
            time.sleep(0.005)
    th = threading.Thread(target=loop)
    th.start()
    try:
        time.sleep(0.5)
        t_kill = time.monotonic()
        victim.proc.kill_tree()
        time.sleep(2.0 * SLOW)
        wait_until("online claims on both survivors", lambda: set(
            n.name for n in survivors) <= set(online_claims(survivors[0])), 15 * SLOW)
        time.sleep(0.3)
    finally:
        stop.set()
        th.join()
    failed = [(round(t - t_kill, 3), n, st) for t, n, st in results if st != 200]
    after = [r for r in results if r[0] > t_kill]
    env.note("--ha, kill -9 of the holder %s: %d requests through %s after the kill, "
             "%d failed %r" % (victim.name, len(after), "+".join(n.name for n in survivors),
                               len(failed), failed[:5]))
    check(len(after) > 50, "only %d requests after the kill" % len(after))
    check(len(failed) <= 1, "%d requests failed: %r" % (len(failed), failed[:10]))
    check("ha=true" in tail(c.log, 200) or "ha=true" in open(c.log).read(),
          "the client did not start with --ha")


@harness.timeout(90)
def test_clusterctl_drain_another_node(env):
    """`clusterctl drain n1` asked on n3: the request replicates to n1, which
    drains as on SIGTERM (its client moves, then it leaves and stops, exit
    0) while requests through n2 and n3 keep answering; an unknown name is
    refused."""
    n1, n2, n3 = cluster3(env)
    c = mover(env, (n1, n2, n3), "drained")
    host = "drained.localhost"
    for n in (n2, n3):
        wait_until("drained through %s" % n.name, lambda: answers(n, host), 5 * SLOW)
    rc, out, err = clusterctl(n3, "drain", "ghost", check_rc=False)
    check(rc == 1 and "no live member" in err + out, "drain ghost: %d %s%s" % (rc, out, err))

    stop, results = threading.Event(), []

    def loop():
        i = 0
        while not stop.is_set():
            n = (n2, n3)[i % 2]
            i += 1
            results.append((n.name, answers(n, host)))
            time.sleep(0.01)
    th = threading.Thread(target=loop)
    th.start()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        rc, out, err = clusterctl(n3, "drain", "n1", "--wait", check_rc=False)
        took = time.monotonic() - t0
        check(rc == 0 and "drain requested" in out and "n1: left" in out,
              "clusterctl drain n1 --wait: %d\n%s%s" % (rc, out, err))
        exit_rc = n1.proc.wait(15 * SLOW)
        time.sleep(0.3)
    finally:
        stop.set()
        th.join()
    failed = [r for r in results if not r[1]]
    env.note("clusterctl drain n1 (asked on n3): left after %.2fs; %d of %d requests "
             "through n2 and n3 failed" % (took, len(failed), len(results)))
    check(exit_rc == 0, "n1 exit code %r\n%s" % (exit_rc, tail(n1.log)))
    check("drain.requested by=n3" in open(n1.log).read(), "n1's log:\n" + tail(n1.log))
    check(not failed, "%d requests failed" % len(failed))
    check(holders(n3)[host] in (("n2", "online"), ("n3", "online")),
          "held by %r after the drain" % (holders(n3)[host],))
    digests_equal(env, [n2, n3])


@harness.timeout(120)
def test_back_to_back_failovers_stay_fast(env):
    """Five kill -9s of the holding node a couple of seconds apart (each
    killed node restarted): the client tries each other node at once before
    backing off, so the fifth failover is as quick as the first."""
    nodes = restartable(cluster3(env))
    c = mover(env, nodes, "hopper")
    host = "hopper.localhost"
    took = []
    for _ in range(5):
        live = [n for n in nodes if n.proc.alive()]
        wait_until("hopper held", lambda: holders(live[0]).get(host, ("", ""))[1]
                   == "online", 10 * SLOW)
        holder = holders(live[0])[host][0]
        victim = [n for n in nodes if n.name == holder][0]
        others = [n for n in nodes if n is not victim]
        t0 = time.monotonic()
        victim.proc.kill_tree()
        wait_until("hopper answers after %s died" % victim.name, lambda: all(
            answers(n, host) and holders(n).get(host, ("", ""))[0] != victim.name
            for n in others), 20 * SLOW)
        took.append(round(time.monotonic() - t0, 2))
        victim.start(same_ports=True)
        wait_until("%s back" % victim.name, lambda: sorted(
            m["state"] for m in cjson(others[0], "members")) == ["alive"] * 3, 15 * SLOW)
        time.sleep(1.0)
    digests_equal(env, nodes)
    env.note("five failovers in a row, each after kill -9 of the holder: %r s" % took)
    check(max(took) < 2.5 * SLOW, "failovers took %r s: the later ones backed off" % took)
