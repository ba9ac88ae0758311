"""A connection's later requests are routed by their own Host: a kept-alive or
pipelined request naming another host reaches that host's tunnel (or the
node's 404 when it has none), never the tunnel of the connection's first
request, and the connection goes on serving."""
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


def expect(resp, status, body, what):
    check(resp is not None, "%s: the node closed the connection instead of answering" % what)
    st, _, got = resp
    check(st == status and (body is None or got == body),
          "%s: want %d %r, got %d %r" % (what, status, body, st, got[:100]))


def run(env, pipelined):
    """On one connection: alice, then another host, then alice again. A
    second request for bob reaches bob's own service and the third reaches
    alice's again. For a host with no tunnel the node answers 404 itself,
    and its own error answers end the connection (announced with
    Connection: close), so the third request gets no answer at all."""
    node, pa, pb = two_tunnels(env)
    what = "pipelined" if pipelined else "keep-alive"
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
            expect(read_response(f), 200, b"alice %d" % pa, "%s: first request (alice)" % what)
            if not pipelined:
                s.sendall(r2)
            r = read_response(f)
            if other.startswith("bob."):
                expect(r, 200, b"bob %d" % pb, "%s: second request (bob)" % what)
                if not pipelined:
                    s.sendall(r3)
                expect(read_response(f), 200, b"alice %d" % pa,
                       "%s: third request (alice again, after bob)" % what)
            else:
                expect(r, 404, None, "%s: second request (%s)" % (what, other))
                check(r[1].get("connection", "").lower() == "close",
                      "%s: the node's 404 does not announce Connection: close: %r" % (what, r[1]))
                if not pipelined:
                    try:
                        s.sendall(r3)
                    except OSError:
                        pass
                try:
                    r = read_response(f)
                except (ConnectionResetError, socket.timeout) as e:
                    r = e
                check(r is None or isinstance(r, ConnectionResetError),
                      "%s: third request after the node's 404 (which closes): got %r"
                      % (what, r if not isinstance(r, tuple) else r[:2]))
        finally:
            f.close()
            s.close()


def test_keepalive_other_host(env):
    run(env, pipelined=False)


def test_pipelined_other_host(env):
    run(env, pipelined=True)
