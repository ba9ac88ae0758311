"""`warren start --config frpc.toml`: frp's current client format runs the
tunnels warren supports (http, tcp; a udp proxy and a plugin are left out),
names each ignored key once, and takes transport.proxyURL as the proxy."""
import re
import socket
import time

import harness
from harness import check, request

TIMEOUT = 60


def write_toml(env, node, web, echo, extra=""):
    path = env.path("frpc.toml")
    with open(path, "w") as f:
        f.write("""# frpc.toml, in the shape frp's documentation gives
serverAddr = "127.0.0.1"
serverPort = %d
auth.method = "token"
log.level = "info"
transport.tls.enable = true
%s
[[proxies]]
name = "web"
type = "http"
localIP = "127.0.0.1"
localPort = %d
subdomain = "tomlweb"
loadBalancer.group = "g1"
loadBalancer.groupKey = "k1"

[[proxies]]
name = "db"
type = "tcp"
localPort = %d
remotePort = 0
loadBalancer.group = "g2"

[[proxies]]
name = "dns"
type = "udp"
localPort = 53

[[proxies]]
name = "sock"
type = "tcp"
remotePort = 0
[proxies.plugin]
type = "unix_domain_socket"
unixPath = "/var/run/example.sock"
""" % (node.tunnel_port, extra, web, echo))
    return path


def test_start_frpc_toml(env):
    node = env.node()
    web = env.http_service("tomlweb")
    echo, _ = env.service("tcp-echo")
    path = write_toml(env, node, web, echo)
    c = env.client(["start", "--config", path, "--inspect=false"], name="client-toml")
    urls = {u["section"]: u for u in c.wait_urls(2, 20)}
    check(set(urls) == {"web", "db"}, "tunnels from frpc.toml: %r" % list(urls))
    st, _, body = request(node.http_port, urls["web"]["host"], path="/whoami")
    check(st == 200 and body == b"tomlweb %d" % web, "GET through [web]: %d %r" % (st, body))
    s = socket.create_connection(("127.0.0.1", urls["db"]["port"]), timeout=10)
    s.sendall(b"ping\n")
    check(s.recv(16) == b"ping\n", "tcp echo through [db]")
    s.close()
    log = open(c.log).read()
    m = re.search(r'ev=config\.ignored file=\S+ keys="([^"]*)"', log)
    check(m is not None, "no config.ignored line:\n%s" % harness.tail(c.log))
    keys = m.group(1).split()
    for k in ("auth.method", "log.level", "transport.tls.enable", "web.loadBalancer.group",
              "web.loadBalancer.groupKey", "db.loadBalancer.group", "dns.type=udp", "sock.plugin"):
        check(keys.count(k) == 1, "ignored key %s listed %d times: %r" % (k, keys.count(k), keys))
    check(log.count("ev=config.ignored") == 1, "config.ignored logged more than once")


def test_frpc_toml_errors_and_proxy(env):
    node = env.node()
    web = env.http_service("tomlerr")
    bad = env.path("bad.toml")
    with open(bad, "w") as f:
        f.write('serverAddr = "127.0.0.1"\n\n[[proxies]]\nname = "w"\ntype = "http"\n'
                'localPort = 80\ncustomDomains = "not an array\n')
    c = env.client(["start", "--config", bad], name="client-bad")
    rc = c.proc.wait(10)
    err = open(c.log).read()
    check(rc == 1 and "bad.toml" in err and "line 7" in err,
          "a syntax error names the file and line: rc %s\n%s" % (rc, err[-500:]))
    # transport.proxyURL: the proxy the client dials (nothing listens there,
    # so the failure names it)
    dead = harness.free_port()
    path = write_toml(env, node, web, web,
                      extra='transport.proxyURL = "http://127.0.0.1:%d"\n' % dead)
    c = env.client(["start", "--config", path, "--inspect=false"], name="client-proxyurl")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "connect to the proxy" not in open(c.log).read():
        time.sleep(0.1)
    check("connect to the proxy" in open(c.log).read(),
          "transport.proxyURL not used:\n%s" % harness.tail(c.log))
