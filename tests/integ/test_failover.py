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
from test_replication import FAST, SLOW, cjson, digests_equal, gossip_addr, holders, \
    wait_until

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


def answers(node, host):
    try:
        st, _, body = request(node.http_port, host, path="/whoami", timeout=3)
        return st == 200
    except Exception:
        return False


@harness.timeout(90)
def test_client_moves_when_its_node_dies_or_drains(env):
    n1, n2, n3 = cluster3(env)
    port = env.http_service("mover")
    servers = ",".join("127.0.0.1:%d" % n.tunnel_port for n in (n1, n2, n3))
    c = env.client(["http", str(port), "--server", servers, "--subdomain", "mover"],
                   name="mover", extra_env={"WARREN_CA": os.path.join(
                       n1.data_dir, "tls", "ca.pem")})
    c.wait_urls(1, 15 * SLOW)
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
    check(answers(n3, "mover.localhost"), "the URL does not answer through n3")
    check("session.goaway" in tail(c.log, 80), "no GOAWAY in the client's log:\n"
          + tail(c.log))
