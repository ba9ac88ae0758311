"""Clients behind a proxy: `warren http --proxy` (and HTTPS_PROXY/NO_PROXY)
through real proxies started here on loopback: Debian's tinyproxy for HTTP
CONNECT (with and without basic auth) and microsocks for SOCKS5 (with
username/password). TLS to the node runs inside the proxied connection."""
import os
import subprocess
import time

import harness
from harness import check, request

TIMEOUT = 60


def tinyproxy(env, name, extra=""):
    """Starts tinyproxy on a free loopback port -> (port, logfile)."""
    check(subprocess.run(["sh", "-c", "command -v tinyproxy"], stdout=subprocess.DEVNULL).returncode == 0,
          "tinyproxy is missing: run 'make deps'")
    port = harness.free_port()
    log = env.path("%s.log" % name)
    conf = env.path("%s.conf" % name)
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write("%sPort %d\nListen 127.0.0.1\nTimeout 60\nLogFile \"%s\"\nLogLevel Info\n"
                "MaxClients 20\nAllow 127.0.0.1\n%s" % (user, port, log, extra))
    open(log, "w").close()
    os.chmod(log, 0o666)
    os.chmod(env.dir, 0o755)
    env.spawn(["tinyproxy", "-d", "-c", conf], name)
    wait_port(port)
    return port, log


def microsocks(env, user, password):
    check(subprocess.run(["sh", "-c", "command -v microsocks"], stdout=subprocess.DEVNULL).returncode == 0,
          "microsocks is missing: run 'make deps'")
    port = harness.free_port()
    env.spawn(["microsocks", "-i", "127.0.0.1", "-p", str(port), "-u", user, "-P", password],
              "microsocks")
    wait_port(port)
    return port


def wait_port(port):
    import socket
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise harness.TestFailure("proxy on port %d did not start" % port)


def tunnel_via(env, node, port, sub, proxy=None, extra_env=None):
    args = ["--inspect=false"] + (["--proxy", proxy] if proxy else [])
    c, url = env.http_tunnel(node, port, sub, extra=args, name="client-" + sub) \
        if extra_env is None else (None, None)
    if extra_env is not None:
        c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                        "--subdomain", sub] + args, name="client-" + sub, extra_env=extra_env)
        url = c.wait_urls(1, 15)[0]
    st, _, body = request(node.http_port, url["host"], path="/whoami")
    check(st == 200 and body.endswith(b" %d" % port), "GET through %s: %d %r" % (sub, st, body))
    return c


def wait_log(path, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in open(path, errors="replace").read():
            return
        time.sleep(0.1)
    raise harness.TestFailure("%r not in %s:\n%s" % (text, path, harness.tail(path)))


def test_http_connect_proxy(env):
    node = env.node()
    port = env.http_service("px")
    pport, plog = tinyproxy(env, "tinyproxy")
    c = tunnel_via(env, node, port, "px", proxy="http://127.0.0.1:%d" % pport)
    wait_log(c.log, "ev=session.proxy")
    wait_log(plog, "CONNECT")
    wait_log(plog, "127.0.0.1:%d" % node.tunnel_port)
    # from the environment, as curl and frp read it
    c2 = tunnel_via(env, node, port, "pxenv",
                    extra_env={"HTTPS_PROXY": "http://127.0.0.1:%d" % pport})
    wait_log(c2.log, "ev=session.proxy")
    # NO_PROXY names the node: straight there
    c3 = tunnel_via(env, node, port, "pxno",
                    extra_env={"HTTPS_PROXY": "http://127.0.0.1:%d" % pport,
                               "NO_PROXY": "example.com,127.0.0.1"})
    wait_log(c3.log, "ev=proxy.bypass")
    check("ev=session.proxy" not in open(c3.log).read(), "NO_PROXY: the client used the proxy")


def test_http_proxy_auth_and_refusal(env):
    node = env.node()
    port = env.http_service("pa")
    pport, plog = tinyproxy(env, "tinyproxy-auth", "BasicAuth ann s3cret\n")
    # no credentials: a clear sentence, and no URL
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--subdomain", "pa", "--inspect=false",
                    "--proxy", "http://127.0.0.1:%d" % pport], name="client-noauth")
    wait_log(c.log, "asks for credentials (407)")
    check(not any(harness.URL_RE.search(l) for l in c.lines), "URL without proxy credentials")
    c.proc.stop()
    tunnel_via(env, node, port, "pa", proxy="http://ann:s3cret@127.0.0.1:%d" % pport)
    # a proxy that only lets CONNECT reach port 443 refuses the node's port
    p2, _ = tinyproxy(env, "tinyproxy-443", "ConnectPort 443\n")
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--subdomain", "pr", "--inspect=false",
                    "--proxy", "http://127.0.0.1:%d" % p2], name="client-refused")
    wait_log(c.log, "refused CONNECT 127.0.0.1:%d" % node.tunnel_port)


def test_socks5_proxy(env):
    node = env.node()
    port = env.http_service("sx")
    sport = microsocks(env, "bob", "pw1")
    c = tunnel_via(env, node, port, "sx", proxy="socks5://bob:pw1@127.0.0.1:%d" % sport)
    wait_log(c.log, "ev=session.proxy")
    c = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                    "--subdomain", "sxbad", "--inspect=false",
                    "--proxy", "socks5://bob:wrong@127.0.0.1:%d" % sport], name="client-badpw")
    wait_log(c.log, "refused the credentials")
    c2 = env.client(["http", str(port), "--server", "127.0.0.1:%d" % node.tunnel_port,
                     "--subdomain", "sxnone", "--inspect=false",
                     "--proxy", "socks5://127.0.0.1:%d" % sport], name="client-nocreds")
    wait_log(c2.log, "asks for credentials")
    check(not any(harness.URL_RE.search(l) for l in c.lines + c2.lines), "URL through a refusing proxy")
