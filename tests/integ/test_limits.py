"""Resource limits: running out of file descriptors (EMFILE) does not kill or
spin the acceptor, and it serves again once descriptors are free."""
import os
import socket
import time

from harness import check, proc_cpu_ticks, request, tail, wait_status

TIMEOUT = 60
NOFILE = 128


def test_emfile_recovers(env):
    node = env.node(nofile=NOFILE)
    port = env.http_service("alice")
    client, url = env.http_tunnel(node, port, "alice")
    acceptor = node.child_pid("acceptor")
    check(acceptor, "no warren-acceptor under warren-node")
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
    finally:
        for s in socks:
            s.close()
    dt, _ = wait_status(node.http_port, url["host"], 200, timeout=10)
    with open(node.log, errors="replace") as f:
        hit = "Too many open files" in f.read()
    env.note("EMFILE %s in the node's log" % ("seen" if hit else "not seen"))
    env.note("served again %.2fs after the descriptors were freed" % dt)
    st, _, body = request(node.http_port, url["host"], path="/whoami")
    check(st == 200 and body == b"alice %d" % port, "after EMFILE: %d %r" % (st, body[:100]))
