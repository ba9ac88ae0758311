"""`warren start --config FILE` (frp-style INI): two HTTP tunnels and one TCP tunnel;
options from the environment; --help."""
import os
import re
import subprocess

import harness
from harness import check, request, tcp_exchange

TIMEOUT = 45


def test_start_config(env):
    node = env.node()
    pa = env.http_service("web1")
    pb = env.http_service("web2")
    echo, _ = env.service("tcp-echo")
    ini = env.path("warren.ini")
    with open(ini, "w") as f:
        f.write("""# frp-style client configuration
[common]
server_addr = 127.0.0.1
server_port = %d

[web1]
type = http
local_port = %d
subdomain = web1

[web2]
type = http
local_ip = 127.0.0.1
local_port = %d
subdomain = web2

[db]
type = tcp
local_ip = 127.0.0.1
local_port = %d
""" % (node.tunnel_port, pa, pb, echo))
    c = env.client(["start", "--config", ini], name="client-start")
    urls = {u["section"]: u for u in c.wait_urls(3, 20)}
    check(set(urls) == {"web1", "web2", "db"}, "sections printed: %r" % list(urls))
    for sec, port in (("web1", pa), ("web2", pb)):
        u = urls[sec]
        check(u["url"] == "http://%s.localhost:%d" % (sec, node.http_port),
              "[%s] URL %r" % (sec, u["line"]))
        check(u["local"].endswith(":%d" % port), "[%s] local side %r" % (sec, u["local"]))
        st, _, body = request(node.http_port, u["host"], path="/whoami")
        check(st == 200 and body == b"%s %d" % (sec.encode(), port),
              "[%s] GET /whoami: %d %r" % (sec, st, body[:100]))
    db = urls["db"]
    check(db["scheme"] == "tcp" and db["host"] == "localhost", "[db] URL %r" % db["line"])
    got, eof, _ = tcp_exchange(db["port"], b"select 1;")
    check(got == b"select 1;" and eof, "[db] echo: %r eof=%s" % (got, eof))


def test_client_env_and_help(env):
    node = env.node()
    port = env.http_service("envy")
    c = env.client(["http", str(port), "--subdomain", "envy"], name="client-env",
                   extra_env={"WARREN_SERVER": "127.0.0.1:%d" % node.tunnel_port})
    u = c.wait_urls(1, 15)[0]
    check(u["url"] == "http://envy.localhost:%d" % node.http_port, "URL %r" % u["line"])
    st, _, body = request(node.http_port, u["host"], path="/whoami")
    check(st == 200 and body == b"envy %d" % port, "GET via WARREN_SERVER tunnel: %d %r" % (st, body))
    for argv in (["--help"], ["http", "--help"], ["tcp", "--help"], ["start", "--help"]):
        r = subprocess.run([os.path.join(harness.bin_dir(), "warren")] + argv,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        text = r.stdout.decode(errors="replace")
        check(r.returncode == 0 and re.search(r"(?i)usage", text),
              "warren %s: rc=%d %r" % (" ".join(argv), r.returncode, text[:300]))
    check("--server" in subprocess.run([os.path.join(harness.bin_dir(), "warren"), "http", "--help"],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       timeout=10).stdout.decode(errors="replace"),
          "warren http --help does not mention --server")


def test_bool_and_equals_forms(env):
    """Every option takes `--opt VALUE` and `--opt=VALUE`, booleans included
    (the README's table shows `--tunnel-tls BOOL`)."""
    node = env.node(["--tunnel-tls", "false", "--window=256KiB"])
    port = env.http_service("plain")
    c = env.client(["http", str(port), "--tls", "false", "--server=127.0.0.1:%d" % node.tunnel_port,
                    "--subdomain=plain"], name="client-plain")
    u = c.wait_urls(1, 15)[0]
    check(u["url"] == "http://plain.localhost:%d" % node.http_port, "URL %r" % u["line"])
    st, _, body = request(node.http_port, u["host"], path="/whoami")
    check(st == 200 and body == b"plain %d" % port, "through the plain link: %d %r" % (st, body))
    out = subprocess.run([os.path.join(harness.bin_dir(), "warren-node"), "--tunnel-tls", "off",
                          "--head-max=4KiB", "--print-config"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=10).stdout.decode()
    check("tunnel-tls = false" in out and "head-max = 4096" in out, "--print-config: %s" % out)
    r = subprocess.run([os.path.join(harness.bin_dir(), "warren-node"), "--window", " -1",
                        "--print-config"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=10)
    check(r.returncode != 0 and b"bad value ' -1' for window" in r.stdout,
          "--window ' -1': rc=%d %r" % (r.returncode, r.stdout[:300]))
