"""A connection's later requests are routed by their own Host: a kept-alive or
pipelined request naming another host reaches that host's tunnel (or 404),
never the tunnel of the connection's first request."""
import socket

from harness import check, read_response

TIMEOUT = 45


def two_tunnels(env):
    node = env.node()
    pa = env.http_service("alice")
    pb = env.http_service("bob")
    env.http_tunnel(node, pa, "alice")
    env.http_tunnel(node, pb, "bob")
    return node, pa, pb


def check_second(resp, pa, pb, host, what):
    if resp is None:
        return "closed"  # the node closed instead of answering: safe
    st, _, body = resp
    check(not body.startswith(b"alice "),
          "%s: request for %s reached alice's tunnel: %d %r" % (what, host, st, body[:100]))
    if host.startswith("bob."):
        check(st == 200 and body == b"bob %d" % pb or st == 404,
              "%s: request for bob got %d %r" % (what, st, body[:100]))
    else:
        check(st == 404, "%s: request for %s: want 404, got %d %r" % (what, host, st, body[:100]))
    return "%d" % st


def run(env, pipelined):
    node, pa, pb = two_tunnels(env)
    what = "pipelined" if pipelined else "keep-alive"
    outcomes = []
    for other in ("bob.localhost", "nobody.localhost"):
        s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
        f = s.makefile("rb")
        try:
            r1 = b"GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\n\r\n"
            r2 = b"GET /whoami HTTP/1.1\r\nHost: %s\r\n\r\n" % other.encode()
            r3 = b"GET /whoami HTTP/1.1\r\nHost: alice.localhost\r\nConnection: close\r\n\r\n"
            if pipelined:
                s.sendall(r1 + r2 + r3)
            else:
                s.sendall(r1)
            resp = read_response(f)
            check(resp is not None and resp[0] == 200 and resp[2] == b"alice %d" % pa,
                  "%s: first request (alice): %r" % (what, resp))
            if not pipelined:
                s.sendall(r2)
            try:
                resp2 = read_response(f)
            except (ConnectionResetError, socket.timeout):
                resp2 = None
            outcomes.append(other + ":" + check_second(resp2, pa, pb, other, what))
            if resp2 is not None and resp2[0] == 200:
                # and back to alice on the same connection
                if not pipelined:
                    s.sendall(r3)
                try:
                    resp3 = read_response(f)
                except (ConnectionResetError, socket.timeout):
                    resp3 = None
                if resp3 is not None:
                    check(resp3[0] == 200 and resp3[2] == b"alice %d" % pa,
                          "%s: third request (alice again): %r" % (what, resp3[:2]))
        finally:
            f.close()
            s.close()
    env.note("%s second-request outcomes: %s" % (what, ", ".join(outcomes)))


def test_keepalive_other_host(env):
    run(env, pipelined=False)


def test_pipelined_other_host(env):
    run(env, pipelined=True)
