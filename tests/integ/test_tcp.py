"""TCP tunnels: bytes echoed exactly both ways, half-close kept."""
import re
import socket
import threading

from harness import MiB, check, free_port_in, gen_bytes, tcp_exchange

TIMEOUT = 60


def tcp_tunnel(env, node, local_port, extra=()):
    c = env.client(["tcp", str(local_port), "--server", "127.0.0.1:%d" % node.tunnel_port]
                   + list(extra), name="client-tcp-%d" % local_port)
    u = c.wait_urls(1, 15)[0]
    check(u["scheme"] == "tcp" and u["host"] == "localhost",
          "tcp URL line %r: want tcp://localhost:PORT -> 127.0.0.1:%d" % (u["line"], local_port))
    check(u["local"] in ("127.0.0.1:%d" % local_port, "localhost:%d" % local_port),
          "tcp URL line %r: local side should be 127.0.0.1:%d" % (u["line"], local_port))
    check(20000 <= u["port"] <= 29999, "tcp port %d outside --tcp-port-range" % u["port"])
    return c, u


def test_tcp_echo_exact(env, plain=False):
    # plain: the tunnel link without TLS, where payloads move by splice(2)
    node = env.node(["--tunnel-tls=false"] if plain else [])
    echo, _ = env.service("tcp-echo")
    c, u = tcp_tunnel(env, node, echo, ["--tls=false"] if plain else [])
    for size, seed in ((1, 1), (100000, 2), (8 * MiB + 3, 3), (64 * MiB + 7, 4)):
        data = gen_bytes(size, seed)
        got, eof, err = tcp_exchange(u["port"], data)
        check(got == data, "%d bytes through tcp tunnel: %d back, equal=%s, errors %r"
              % (size, len(got), got == data, err))
        check(eof, "no EOF after the echo of %d bytes (half-close lost)" % size)
    # several connections at once
    results = {}

    def one(i):
        d = gen_bytes(MiB + i, 40 + i)
        results[i] = tcp_exchange(u["port"], d)[0] == d

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    check(all(results.get(i) for i in range(8)), "parallel tcp echoes: %r" % results)


def test_tcp_echo_exact_plain_link(env):
    test_tcp_echo_exact(env, plain=True)


def test_tcp_half_close(env, plain=False):
    """The service answers only after it sees EOF: the public side's shutdown
    must reach it as a FIN, and the reply must still flow back afterwards."""
    node = env.node(["--tunnel-tls=false"] if plain else [])
    collect, _ = env.service("tcp-collect")
    c, u = tcp_tunnel(env, node, collect, ["--tls=false"] if plain else [])
    for size, seed in ((5, 1), (3 * MiB + 1, 2)):
        data = gen_bytes(size, seed)
        got, eof, err = tcp_exchange(u["port"], data)
        check(got == data, "half-close, %d bytes: got %d back (equal=%s), errors %r"
              % (size, len(got), got == data, err))
        check(eof, "half-close, %d bytes: no EOF after the reply" % size)
    # a few bytes, then FIN: the reply comes back, then EOF
    s = socket.create_connection(("127.0.0.1", u["port"]), timeout=10)
    try:
        s.sendall(b"ping")
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while True:
            b = s.recv(100)
            if not b:
                break
            buf += b
        check(buf == b"ping", "small half-close: %r" % buf)
    finally:
        s.close()


def test_tcp_half_close_plain_link(env):
    test_tcp_half_close(env, plain=True)


def test_tcp_remote_port(env):
    node = env.node()
    echo, _ = env.service("tcp-echo")
    want = free_port_in(21000, 29999)
    c, u = tcp_tunnel(env, node, echo, ["--remote-port", str(want)])
    check(u["port"] == want, "--remote-port %d: got %r" % (want, u["line"]))
    got, eof, _ = tcp_exchange(want, b"hello")
    check(got == b"hello" and eof, "echo via --remote-port: %r eof=%s" % (got, eof))
    check(re.match(r"^tcp://localhost:%d -> 127\.0\.0\.1:%d$" % (want, echo), u["line"]),
          "URL line %r" % u["line"])
