"""Faults: the client dies (503 within 1 s, same URL after restart); kill -9 of
each node process (warren-node restarts it, tunnels come back within 15 s with
no user action); the node restarts (the client reconnects by itself and gets
the same URL)."""
import os
import signal
import time

from harness import TestFailure, check, request, tail, tcp_exchange, wait_status

TIMEOUT = 90
RECOVERY_S = 15


def setup(env, sub="alice"):
    # ports allocated by the test: a restarted acceptor must find its listeners
    # where the client and the public expect them
    node = env.node(fixed_ports=True)
    port = env.http_service(sub)
    client, url = env.http_tunnel(node, port, sub)
    st, _, body = request(node.http_port, url["host"], path="/whoami")
    check(st == 200 and body == b"%s %d" % (sub.encode(), port), "GET before the fault: %d %r" % (st, body))
    return node, port, client, url


def tcp_setup(env, node):
    echo, _ = env.service("tcp-echo")
    c = env.client(["tcp", str(echo), "--server", "127.0.0.1:%d" % node.tunnel_port],
                   name="client-tcp")
    u = c.wait_urls(1, 15)[0]
    got, eof, _ = tcp_exchange(u["port"], b"before")
    check(got == b"before" and eof, "tcp echo before the fault: %r" % got)
    return c, u


def wait_tcp_back(u, timeout):
    """The TCP tunnel's public port echoes again within timeout -> seconds."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            got, eof, err = tcp_exchange(u["port"], b"after", timeout=2)
            if got == b"after" and eof:
                return time.monotonic() - t0
            last = (got, eof, err)
        except OSError as e:
            last = repr(e)
        time.sleep(0.1)
    raise TestFailure("tcp tunnel %s did not echo again within %ss: %r" % (u["url"], timeout, last))


def test_client_killed_503_then_back(env):
    node, port, client, url = setup(env)
    client.kill(signal.SIGKILL)
    t0 = time.monotonic()
    last = None
    dt = None
    for _ in range(200):
        if time.monotonic() - t0 > 1.0:
            break
        try:
            st, _, body = request(node.http_port, url["host"], path="/whoami", timeout=1)
            last = (st, body[:100])
            if st == 503:
                dt = time.monotonic() - t0
                break
        except OSError as e:
            last = repr(e)
        time.sleep(0.02)
    if env.expect(dt is not None, "after kill -9 of the client: want 503 within 1 s, last %r"
                  % (last,)):
        env.note("503 %.0f ms after the client died" % (dt * 1000))
    time.sleep(0.3)
    st, _, body = request(node.http_port, url["host"], path="/whoami")
    env.expect(st == 503, "tunnel offline stays 503: %d %r" % (st, body[:100]))
    # other hosts are still 404, not 503
    st, _, _ = request(node.http_port, "never.localhost", path="/")
    check(st == 404, "unknown host while alice is offline: %d" % st)
    client.start()
    u2 = client.wait_urls(1, 15)[0]
    check(u2["url"] == url["url"], "restarted client got %r, before %r" % (u2["url"], url["url"]))
    wait_status(node.http_port, url["host"], 200, timeout=5)


def kill_child(env, child):
    node, port, client, url = setup(env)
    tclient, turl = tcp_setup(env, node)
    old = node.child_pid(child)
    check(old, "no running warren-%s under warren-node (children: %r)" % (child, node.pids()))
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    new = node.wait_child(child, not_pid=old, timeout=RECOVERY_S)
    t_restart = time.monotonic() - t0
    wait_status(node.http_port, url["host"], 200, timeout=RECOVERY_S)
    dt = time.monotonic() - t0
    check(client.proc.alive() and client.starts == 1, "the client had to be restarted")
    env.note("kill -9 %s: restarted as pid %d after %.2fs, tunnel back after %.2fs"
             % (child, new, t_restart, dt))
    # stays up, and the node itself did not die
    for i in range(5):
        st, _, body = request(node.http_port, url["host"], path="/whoami")
        check(st == 200 and body == b"alice %d" % port, "after recovery, request %d: %d %r"
              % (i, st, body[:100]))
    check(node.proc.alive(), "warren-node exited after its %s was killed\n%s" % (child, tail(node.log)))
    # if the client reconnected and printed its URL again, it is the same one
    for line in client.lines:
        if "://" in line and "->" in line:
            check(line.split()[0] == url["url"], "client now prints %r, was %r" % (line, url["url"]))
    dt = wait_tcp_back(turl, RECOVERY_S)
    check(tclient.proc.alive() and tclient.starts == 1, "the tcp client had to be restarted")
    for line in tclient.lines:
        if "://" in line and "->" in line:
            check(line.split()[0] == turl["url"], "tcp client now prints %r, was %r" % (line, turl["url"]))
    # a new registration (the router's slow path) works after the restart
    p2 = env.http_service("late")
    _, u2 = env.http_tunnel(node, p2, "late", timeout=RECOVERY_S)
    wait_status(node.http_port, u2["host"], 200, timeout=5)


def test_kill9_acceptor(env):
    kill_child(env, "acceptor")


def test_kill9_router(env):
    kill_child(env, "router")


def test_kill9_gossip(env):
    kill_child(env, "gossip")


def test_node_restart_same_url(env):
    node, port, client, url = setup(env)
    tclient, turl = tcp_setup(env, node)
    t0 = time.monotonic()
    rc = node.stop(timeout=20)
    check(rc == 0, "warren-node on SIGTERM: exit %r (want 0)\n%s" % (rc, tail(node.log)))
    env.note("node stopped in %.2fs" % (time.monotonic() - t0))
    mark = len(client.lines)
    time.sleep(1.0)
    check(client.proc.alive(), "client exited when the node went away\n%s" % tail(client.log))
    node.start(same_ports=True)
    t1 = time.monotonic()
    dt, body = wait_status(node.http_port, url["host"], 200, timeout=30)
    check(body == b"alice %d" % port, "after node restart: %r" % body)
    env.note("tunnel back %.2fs after the node restarted" % (time.monotonic() - t1))
    check(client.starts == 1 and client.proc.alive(), "the client had to be restarted")
    for line in client.lines[mark:]:
        if "://" in line and "->" in line:
            check(line.split()[0] == url["url"], "client re-registered as %r, was %r" % (line, url["url"]))
    dt = wait_tcp_back(turl, 30)
    env.note("tcp tunnel %s back %.2fs later" % (turl["url"], dt))
    for line in tclient.lines:
        if "://" in line and "->" in line:
            check(line.split()[0] == turl["url"], "tcp client re-registered as %r, was %r"
                  % (line, turl["url"]))
