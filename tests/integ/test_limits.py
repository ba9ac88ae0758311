"""Resource limits: running out of file descriptors (EMFILE) does not kill or
spin the acceptor, and it serves again once descriptors are free."""
import os
import socket
import time
import urllib.request

from harness import check, proc_cpu_ticks, request, tail, wait_status

TIMEOUT = 60
NOFILE = 128


def accept_errors(node):
    url = "http://127.0.0.1:%d/metrics" % node.admin_port
    for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
        if line.startswith("warren_acceptor_accept_errors_total "):
            return int(line.split()[-1])
    return None


def pauses(node):
    """accept.pause events of the node's acceptor that name EMFILE."""
    return [e for e in node.events() if e.get("ev") == "accept.pause" and
            e.get("proc") == "acceptor" and e.get("error") == os.strerror(24)]


def nofile_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def test_emfile_recovers(env):
    # the node (and so its acceptor) runs with a descriptor limit that a
    # few hundred idle connections exceed
    node = env.node(nofile=NOFILE)
    port = env.http_service("alice")
    client, url = env.http_tunnel(node, port, "alice")
    acceptor = node.child_pid("acceptor")
    check(acceptor, "no warren-acceptor under warren-node")
    check(nofile_limit(acceptor) == NOFILE, "the acceptor's descriptor limit is %s, want %d"
          % (nofile_limit(acceptor), NOFILE))
    time.sleep(1.2)
    errors0 = accept_errors(node)
    check(errors0 is not None, "/metrics lacks warren_acceptor_accept_errors_total")
    check(not pauses(node), "EMFILE before the test made any connection")
    # more idle public connections than the acceptor has descriptors
    socks = []
    try:
        for i in range(NOFILE + 100):
            try:
                s = socket.create_connection(("127.0.0.1", node.http_port), timeout=2)
                socks.append(s)
            except OSError:
                break
        time.sleep(0.5)
        hz = os.sysconf("SC_CLK_TCK")
        c0, t0 = proc_cpu_ticks(acceptor), time.monotonic()
        time.sleep(2.0)
        busy = (proc_cpu_ticks(acceptor) - c0) / hz / (time.monotonic() - t0)
        env.note("%d connections held, acceptor CPU %.0f%% while out of descriptors"
                 % (len(socks), busy * 100))
        check(busy < 0.5, "acceptor uses %.0f%% CPU while accept() fails with EMFILE "
              "(busy loop?)" % (busy * 100))
        check(node.proc.alive() and node.child_pid("acceptor") == acceptor,
              "acceptor died or was restarted under EMFILE\n%s" % tail(node.log))
        # EMFILE really happened: logged (accept.pause) and counted
        check(pauses(node), "%d connections held but the acceptor never logged "
              "accept.pause with EMFILE\n%s" % (len(socks), tail(node.log)))
        deadline = time.monotonic() + 4
        errors = accept_errors(node)
        while errors <= errors0 and time.monotonic() < deadline:
            time.sleep(0.2)
            errors = accept_errors(node)
        check(errors > errors0, "accept_errors_total did not rise (%d)" % errors)
        env.note("%d accept.pause events, accept_errors_total +%d"
                 % (len(pauses(node)), errors - errors0))
    finally:
        for s in socks:
            s.close()
    dt, _ = wait_status(node.http_port, url["host"], 200, timeout=10)
    env.note("served again %.2fs after the descriptors were freed" % dt)
    st, _, body = request(node.http_port, url["host"], path="/whoami")
    check(st == 200 and body == b"alice %d" % port, "after EMFILE: %d %r" % (st, body[:100]))
