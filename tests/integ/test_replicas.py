"""Tunnel replicas: several clients serve one name when they say so
(`warren http --group NAME` with the same token, like frp's group). Each
replica is a load-balancing candidate with its region (`--region`, else its
node's), weight and limits, chosen by the edge's decision on whichever node
the public connection lands. Clients' locations are data only: PROXY
headers from a trusted balancer carry their addresses."""
import json
import os
import socket
import threading
import time

from harness import check, recv_all, request, tail
from test_forward import cluster, held_everywhere
from test_lb import geoip_db
from test_replication import SLOW, cjson, digests_equal, wait_until

TIMEOUT = 90
LB = "127.0.0.7"
DE, US, BR = "85.214.132.117", "8.8.8.8", "200.160.2.3"
DE_MANY = ["85.214.132.%d" % i for i in range(10, 60)]   # distinct clients


def replica(env, node, port, region, extra=(), name=None):
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--subdomain", "web", "--group", "web", "--region", region] + list(extra),
                   name=name or "replica-%s" % region,
                   extra_env={"WARREN_CA": os.path.join(node.data_dir, "tls", "ca.pem")})
    c.wait_urls(1, 15 * SLOW)
    return c


def via_lb(node, client_ip, path="/whoami", keep=False):
    """A request to node from the trusted balancer naming client_ip in a
    PROXY header. Returns the body (the service's name), or the open socket
    after the answer when keep."""
    s = socket.create_connection((node.ip, node.http_port), timeout=10,
                                 source_address=(LB, 0))
    s.sendall(("PROXY TCP4 %s %s 40000 80\r\nGET %s HTTP/1.1\r\nHost: web.localhost\r\n"
               "%s\r\n" % (client_ip, node.ip, path, "" if keep else "Connection: close\r\n"))
              .encode())
    out = b""
    while b"\r\n\r\n" not in out:
        b = s.recv(65536)
        if not b:
            break
        out += b
    head, _, body = out.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    while len(body) < n:
        b = s.recv(65536)
        if not b:
            break
        body += b
    if keep:
        return s, head, body
    s.close()
    if not head.startswith(b"HTTP/1.1 200"):
        return head.split(b"\r\n")[0].decode(errors="replace")
    return body.decode().split()[0]


def online_claims(node, host="web.localhost"):
    return [r for r in cjson(node, "routes") if r.get("host") == host
            and r.get("state") == "online"]


def replicas(node, host="web.localhost"):
    """The replicas node's route table lists for host (region, weight...)."""
    st, _, body = request(node.admin_port, "127.0.0.1", path="/v1/tunnels")
    check(st == 200, "/v1/tunnels: %d" % st)
    for t in json.loads(body):
        if t["host"] == host:
            return t.get("replicas", [])
    return []


def wait_replicas(node, n):
    """Until node's router lists n replicas of web and its acceptor holds
    them as candidates (its last lb.replicas event)."""
    wait_until("%s routes %d replicas of web" % (node.name, n),
               lambda: len(replicas(node)) == n, 10 * SLOW)

    def held():
        evs = [e for e in node.events() if e.get("ev") == "lb.replicas"
               and "replicas" in e]
        return evs and int(evs[-1]["replicas"]) == n
    wait_until("%s's acceptor holds %d replicas" % (node.name, n), held, 5 * SLOW)


def fresh_de(n=[0]):
    """A German client address not used before (no affinity binding)."""
    n[0] += 1
    return "85.214.132.%d" % (150 + n[0] % 100)


def test_replicas_by_region_and_failover(env):
    nodes = cluster(env, extra=["--geoip-db", geoip_db(), "--proxy-protocol-from", LB])
    n1, n2, n3 = nodes
    eu_port, us_port = env.http_service("eu-replica"), env.http_service("us-replica")
    eu = replica(env, n1, eu_port, "eu")
    us = replica(env, n2, us_port, "us")
    wait_replicas(n3, 2)
    # a client of its own, not in the group, cannot take the name
    other = env.client(["http", str(eu_port), "--server", "127.0.0.1:%d" % n3.tunnel_port,
                        "--subdomain", "web"], name="outsider",
                       extra_env={"WARREN_CA": os.path.join(n3.data_dir, "tls", "ca.pem")})
    check(other.proc.wait(15) == 1 and "in use" in open(other.log).read(),
          "an outsider took a grouped name:\n" + tail(other.log))
    # each client lands on the replica of its region, through every node
    for n in nodes:
        wait_until("web answers through %s by region" % n.name, lambda: via_lb(
            n, DE) == "eu-replica" and via_lb(n, US) == "us-replica", 10 * SLOW)
        check(via_lb(n, US) == "us-replica", "a US client via %s" % n.name)
        check(via_lb(n, DE) == "eu-replica", "a German client via %s" % n.name)
    env.note("a German client gets the eu replica and a US one the us replica "
             "through each of n1, n2, n3")
    # the eu replica's client dies: its clients go to the us replica
    t0 = time.monotonic()
    eu.proc.kill_tree()
    wait_until("German clients served by the us replica",
               lambda: via_lb(n3, DE) == "us-replica", 15 * SLOW)
    env.note("after kill -9 of the eu replica's client, German clients reach the us "
             "replica %.2fs later" % (time.monotonic() - t0))
    wait_until("German clients via n1 served by the us replica",
               lambda: via_lb(n1, DE) == "us-replica", 5 * SLOW)
    # and back when it returns
    replica(env, n1, eu_port, "eu", name="replica-eu-again")
    # (a German client already bound to the us replica stays there while
    # its binding lives; a new one is decided afresh)
    wait_until("new German clients on the eu replica again", lambda: via_lb(
        n2, fresh_de()) == "eu-replica", 15 * SLOW)
    digests_equal(env, nodes)


def test_replica_weights_and_hard_limit(env):
    """Two replicas in one region, weights 1 and 3: connections held open
    through n3 split 1:3 (the score evens out load per weight); a hard
    limit of 5 on a third is never exceeded."""
    nodes = cluster(env, extra=["--geoip-db", geoip_db(), "--proxy-protocol-from", LB])
    n1, n2, n3 = nodes
    a_port, b_port, c_port = (env.http_service("w1"), env.http_service("w3"),
                              env.http_service("cap5"))
    replica(env, n1, a_port, "eu", ["--weight", "1", "--soft-limit", "10"], name="w1")
    replica(env, n2, b_port, "eu", ["--weight", "3", "--soft-limit", "10"], name="w3")
    wait_replicas(n3, 2)
    check(sorted((r["node"], r["weight"]) for r in replicas(n3)) == [("n1", 1), ("n2", 3)],
          "replicas on n3: %r" % replicas(n3))
    held, got = [], {"w1": 0, "w3": 0}
    try:
        for ip in DE_MANY[:40]:
            s, head, body = via_lb(n3, ip, keep=True)
            check(head.startswith(b"HTTP/1.1 200"), "held request: %r" % head)
            got[body.decode().split()[0]] += 1
            held.append(s)
    finally:
        for s in held:
            s.close()
    env.note("40 connections held open via n3, weights 1:3: %r" % got)
    check(got == {"w1": 10, "w3": 30}, "split %r, want 10:30" % got)

    replica(env, n1, c_port, "us", ["--hard-limit", "5", "--weight", "100"], name="cap5")
    wait_replicas(n3, 3)
    held, got = [], {}
    try:
        for i in range(12):
            s, head, body = via_lb(n3, "8.8.4.%d" % (i + 1), keep=True)
            who = body.decode().split()[0]
            got[who] = got.get(who, 0) + 1
            held.append(s)
    finally:
        for s in held:
            s.close()
    env.note("12 US connections held open, the us replica's hard limit 5: %r" % got)
    check(got.get("cap5") == 5, "the hard-limited replica took %r of 12" % got)


def test_replica_affinity_holds_and_ends(env):
    """A client stays with the replica it was given while its binding
    lives (--binding-ttl, sliding with use), even when another replica is
    less loaded; another client goes by load; after the TTL without use the
    decision is made afresh."""
    nodes = cluster(env, extra=["--geoip-db", geoip_db(), "--proxy-protocol-from", LB,
                                "--binding-ttl", "1500ms"])
    n1, n2, n3 = nodes
    replica(env, n1, env.http_service("r1"), "eu", name="r1")
    replica(env, n2, env.http_service("r2"), "eu", name="r2")
    wait_replicas(n3, 2)
    held = []
    try:
        s, head, body = via_lb(n3, DE, keep=True)
        first = body.decode().split()[0]
        held.append(s)
        # the same client again: its binding wins over the idle replica
        for _ in range(3):
            s, head, body = via_lb(n3, DE, keep=True)
            held.append(s)
            check(body.decode().split()[0] == first,
                  "affinity: %r, then %r" % (first, body))
        # another client: by load, the other replica
        s, head, body = via_lb(n3, US, keep=True)
        held.append(s)
        other = body.decode().split()[0]
        check(other != first, "a new client went to the loaded replica %r" % other)
        # unused for longer than the TTL: decided afresh (by load: the other)
        time.sleep(2.0)
        s, head, body = via_lb(n3, DE, keep=True)
        held.append(s)
        check(body.decode().split()[0] == other,
              "after the TTL the client still got %r" % body)
    finally:
        for s in held:
            s.close()
    env.note("affinity held 3 times over a less loaded replica, and ended after the TTL")


def test_xff_from_a_trusted_http_balancer(env):
    """Behind an HTTP load balancer (--xff-from), the client for the decision
    is the last address of its X-Forwarded-For; from anyone else that header
    decides nothing."""
    nodes = cluster(env, extra=["--geoip-db", geoip_db(), "--xff-from", "127.0.0.8"])
    n1, n2, n3 = nodes
    replica(env, n1, env.http_service("eu-x"), "eu", name="eu-x")
    replica(env, n2, env.http_service("us-x"), "us", name="us-x")
    wait_replicas(n3, 2)

    def who(src, xff):
        s = socket.create_connection((n3.ip, n3.http_port), timeout=10,
                                     source_address=(src, 0))
        s.sendall(("GET /whoami HTTP/1.1\r\nHost: web.localhost\r\nX-Forwarded-For: %s\r\n"
                   "Connection: close\r\n\r\n" % xff).encode())
        out = recv_all(s)
        s.close()
        check(out.startswith(b"HTTP/1.1 200"), "via %s: %r" % (src, out[:200]))
        return out.partition(b"\r\n\r\n")[2].decode().split()[0]
    check(who("127.0.0.8", "198.51.100.7, 8.8.8.8") == "us-x", "a US client behind the balancer")
    check(who("127.0.0.8", DE) == "eu-x", "a German client behind the balancer")
    # not a balancer of --xff-from: its header is the client's own word
    check(who("127.0.0.9", US) == "eu-x", "an untrusted X-Forwarded-For decided")
