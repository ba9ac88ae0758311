#!/usr/bin/python3
"""Three warren nodes gossiping over a real WireGuard mesh (root only).

    WARREN_BIN=build /usr/bin/python3 tests/cluster/wgmesh.py

Builds, inside network namespaces only (nothing is routed outside them):

    ns A --veth-- [hub ns: bridge] --veth-- ns B      underlay 10.99.0.0/24
                        |
                       ns C
    wireguard-go in each node namespace (interface wgA<id>, wgB<id>,
    wgC<id>: one name per namespace, since their control sockets share
    /var/run/wireguard), mesh addresses 10.99.1.1-3/24

and starts one warren-node per namespace gossiping on its WireGuard
address, its mesh links on the WireGuard address too (port 7001), its
public listeners (HTTP :8080, HTTPS :8443, tunnel clients :7000, TCP tunnel
ports) on the veth address. The hub namespace has 10.99.0.254: the public
side (tunnel clients, their services, users' requests) lives there.

run(): all three see each other alive; C's veth goes down (a
partition): A and B mark C dead, and both sides write to routing.db
(clusterctl backends add on A and on C); it comes back up: the cluster
heals, all are alive again, and every node holds both writes with equal
digests of the replicated data.

run_forward(): an HTTP tunnel held by node A answers byte-exact through B
and C (MiBs streamed both ways), a TCP tunnel echoes byte-exact with
half-close through B; kill -9 of A: the client (--server A,B,C) moves to B
and the URL answers through B and C again, the time printed.

Namespaces, interfaces and processes are removed even when a step fails.
Also run by tests/integ/test_wireguard.py, which skips (saying why) when not
root or when ip, wireguard-go or wg are missing; tests/bench/wgforward.py
measures on the same mesh.
"""
import base64
import hashlib
import json
import re
import socket
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
sys.dont_write_bytecode = True
import harness  # noqa: E402
from harness import TestFailure, check  # noqa: E402

NODES = "ABC"
HUB_IP = "10.99.0.254"
FAST = ["--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
        "--gossip-interval", "100ms", "--gossip-suspicion-mult", "3"]


def missing_reason(tools=()):
    """None when the test can run here (with the extra tools too), else why
    not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, WireGuard interfaces)"
    for tool in ("ip", "wireguard-go", "wg") + tuple(tools):
        if shutil.which(tool) is None:
            return "%s is not installed (make deps installs wireguard-go and wireguard-tools)" % tool
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing (wireguard-go needs it)"
    name = "wrprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        return "cannot create network namespaces: %s" % r.stderr.decode().strip()
    subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
    return None


def sh(*argv, input=None, timeout=20):
    r = subprocess.run(list(argv), input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode != 0:
        raise TestFailure("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                               r.stderr.decode(errors="replace").strip()))
    return r.stdout.decode()


class Mesh:
    def __init__(self, env):
        self.env = env
        self.id = "%d" % (os.getpid() % 100000)
        self.hub = "wrH" + self.id
        self.ns = {x: "wr%s%s" % (x, self.id) for x in NODES}
        self.wg = {x: "wg%s%s" % (x, self.id) for x in NODES}
        self.wgprocs = []
        self.nodes = {}
        self.starts = {}
        self.extra = []
        self.created = []

    def nsx(self, x, *argv):
        return sh("ip", "netns", "exec", self.ns[x], *argv)

    def setup(self):
        for name in [self.hub] + list(self.ns.values()):
            sh("ip", "netns", "add", name)
            self.created.append(name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        sh("ip", "-n", self.hub, "addr", "add", HUB_IP + "/24", "dev", "br0")
        keys = {}
        for i, x in enumerate(NODES, 1):
            ns = self.ns[x]
            sh("ip", "-n", ns, "link", "add", "v" + x, "type", "veth", "peer", "name",
               "h" + x, "netns", self.hub)
            sh("ip", "-n", self.hub, "link", "set", "h" + x, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", "10.99.0.%d/24" % i, "dev", "v" + x)
            sh("ip", "-n", ns, "link", "set", "v" + x, "up")
            priv = sh("wg", "genkey").strip()
            pub = sh("wg", "pubkey", input=(priv + "\n").encode()).strip()
            path = self.env.path("wg-%s.key" % x)
            with open(path, "w") as f:
                f.write(priv + "\n")
            os.chmod(path, 0o600)
            keys[x] = (path, pub)
            log = open(self.env.path("wireguard-go-%s.log" % x), "ab")
            p = subprocess.Popen(["ip", "netns", "exec", ns, "wireguard-go", "-f", self.wg[x]],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True)
            self.wgprocs.append(p)
        for x in NODES:
            deadline = time.monotonic() + 10
            while subprocess.run(["ip", "-n", self.ns[x], "link", "show", self.wg[x]],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).returncode != 0:
                if time.monotonic() > deadline:
                    raise TestFailure("wireguard-go did not create %s" % self.wg[x])
                time.sleep(0.1)
        for i, x in enumerate(NODES, 1):
            argv = ["wg", "set", self.wg[x], "private-key", keys[x][0], "listen-port", "51820"]
            for j, y in enumerate(NODES, 1):
                if y != x:
                    argv += ["peer", keys[y][1], "endpoint", "10.99.0.%d:51820" % j,
                             "allowed-ips", "10.99.1.%d/32" % j, "persistent-keepalive", "1"]
            self.nsx(x, *argv)
            sh("ip", "-n", self.ns[x], "addr", "add", "10.99.1.%d/24" % i, "dev", self.wg[x])
            sh("ip", "-n", self.ns[x], "link", "set", self.wg[x], "up")

    def start_nodes(self, extra=()):
        key = self.env.path("cluster.keys")
        with open(key, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        self.extra = list(extra)
        for x in NODES:
            self.start_node(x)

    def start_node(self, x):
        """Starts (or restarts, same data and ports) node x in its namespace:
        gossip and mesh on the WireGuard address, the public side on the veth
        address, admin on the namespace's loopback."""
        i = NODES.index(x) + 1
        join = ",".join("10.99.1.%d:7946" % j for j in range(1, 4))
        pub = "10.99.0.%d" % i
        argv = ["ip", "netns", "exec", self.ns[x],
                os.path.join(harness.bin_dir(), "warren-node"),
                "--name", "node" + x, "--region", "r%d" % i,
                "--data-dir", self.env.path("data-" + x),
                "--http-listen", pub + ":8080", "--https-listen", pub + ":8443",
                "--tunnel-listen", pub + ":7000", "--tunnel-tls=false",
                "--allow-anonymous", "--max-conns-per-ip", "0",
                "--admin-listen", "127.0.0.1:7070",
                "--gossip-listen", "10.99.1.%d:7946" % i,
                "--mesh-listen", "10.99.1.%d:7001" % i, "--join", join,
                "--cluster-key-file", self.env.path("cluster.keys")] + FAST + self.extra
        self.starts[x] = self.starts.get(x, 0) + 1
        p = harness.Proc(self.env, "node%s.%d" % (x, self.starts[x]), argv)
        self.env.logs.append(p.log)
        self.nodes[x] = p
        return p

    def events(self, x):
        try:
            with open(self.nodes[x].log, encoding="utf-8", errors="replace") as f:
                return [harness.logfmt(l) for l in f if "ev=" in l]
        except OSError:
            return []

    def proc(self, ns, name, argv, stdout=None):
        """A process inside namespace ns (a node letter or "hub")."""
        return harness.Proc(self.env, name, ["ip", "netns", "exec", self.nsname(ns)] + argv,
                            stdout=stdout)

    def nsname(self, ns):
        return self.hub if ns == "hub" else self.ns[ns]

    def service(self, ns, kind, name="svc"):
        """services.py KIND inside namespace ns -> its port."""
        import select
        argv = [harness.PYTHON, harness.SERVICES, kind] + (["--name", name] if kind == "http"
                                                           else [])
        p = self.proc(ns, "svc-%s-%s" % (kind, name), argv, stdout=subprocess.PIPE)
        deadline, buf = time.monotonic() + 10, b""
        while b"\n" not in buf and time.monotonic() < deadline:
            r, _, _ = select.select([p.p.stdout], [], [], 0.2)
            if r:
                b = os.read(p.p.stdout.fileno(), 256)
                if not b:
                    break
                buf += b
        m = re.search(rb"ready port=(\d+)", buf)
        if not m:
            raise TestFailure("service %s in %s did not start: %r" % (kind, ns, buf))
        return int(m.group(1))

    def client(self, ns, args, name):
        """`warren ARGS` inside namespace ns (a harness.Client)."""
        mesh = self

        class NsClient(harness.Client):
            # harness.Client.start with the command run inside the namespace
            def start(self):
                import threading
                self.starts += 1
                tag = "%s.%d" % (self.name, self.starts)
                self.log = self.env.path(tag + ".log")
                self.env.logs.append(self.log)
                with self.cond:
                    self.lines = []
                    self.eof = False
                self.proc = harness.Proc(
                    self.env, tag, ["ip", "netns", "exec", mesh.nsname(ns),
                                    os.path.join(harness.bin_dir(), "warren")] + self.args,
                    stdout=subprocess.PIPE, log=self.log)
                self.stdout_log = self.env.path(tag + ".out")
                threading.Thread(target=self._reader, args=(self.proc.p.stdout,
                                                            self.stdout_log),
                                 daemon=True).start()
                return self
        return NsClient(self.env, args, name=name)

    def servers(self, order=NODES):
        return ",".join("10.99.0.%d:7000" % (NODES.index(x) + 1) for x in order)

    def curl(self, ns, args, timeout=120, stdout=subprocess.PIPE, input=None):
        return subprocess.run(["ip", "netns", "exec", self.nsname(ns), "curl", "-sS"] + args,
                              input=input, stdout=stdout, stderr=subprocess.PIPE,
                              timeout=timeout)

    def status(self, x, host, path="/whoami", timeout=2):
        """HTTP status of GET via node x's public address, from the hub
        (0 when none came)."""
        i = NODES.index(x) + 1
        try:
            r = self.curl("hub", ["-o", "/dev/null", "-w", "%{http_code}", "-m", str(timeout),
                                  "-H", "Host: " + host, "http://10.99.0.%d:8080%s" % (i, path)],
                          timeout=timeout + 5)
            return int(r.stdout or b"0")
        except (ValueError, subprocess.TimeoutExpired):
            return 0

    def wait_status(self, xs, host, want=200, timeout=15):
        t0 = time.monotonic()
        last = {}
        while time.monotonic() - t0 < timeout:
            last = {x: self.status(x, host) for x in xs}
            if all(v == want for v in last.values()):
                return time.monotonic() - t0
            time.sleep(0.1)
        raise TestFailure("GET %s via %s: not %d within %ss: %r" % (host, xs, want, timeout,
                                                                   last))

    def tcp_check(self, ns, ip, port, n, seed):
        """Sends n generated bytes through ip:port from namespace ns, half-
        closes, reads the echo to EOF -> (count, sha256, eof)."""
        r = subprocess.run(["ip", "netns", "exec", self.nsname(ns), harness.PYTHON,
                            os.path.abspath(__file__), "tcpcheck", ip, str(port), str(n),
                            str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=180)
        if r.returncode != 0:
            raise TestFailure("tcpcheck %s:%d: %s" % (ip, port, r.stderr.decode()[-500:]))
        cnt, sha, eof = r.stdout.decode().split()
        return int(cnt), sha, eof == "eof"

    def members(self, x):
        out = self.nsx(x, os.path.join(harness.bin_dir(), "clusterctl"),
                       "--admin", "127.0.0.1:7070", "members", "--json")
        return {m["name"]: m for m in json.loads(out)}

    def ctl(self, x, *args):
        return self.nsx(x, os.path.join(harness.bin_dir(), "clusterctl"),
                        "--admin", "127.0.0.1:7070", *args)

    def digest(self, x):
        return json.loads(self.ctl(x, "sync", "--json"))["self"]["digest"]

    def backends(self, x):
        return sorted(b["id"] for b in json.loads(self.ctl(x, "backends", "list", "--json")))

    def wait(self, observers, name, state, timeout):
        t0 = time.monotonic()
        last = {}
        while True:
            ok = True
            for x in observers:
                try:
                    m = self.members(x).get(name)
                except TestFailure as e:
                    m = {"error": str(e)}
                last[x] = m
                if not m or m.get("state") != state:
                    ok = False
            if ok:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise TestFailure("%s not %s at %s within %ss: %s"
                                  % (name, state, observers, timeout, json.dumps(last)[:1500]))
            time.sleep(0.2)

    def teardown(self):
        for p in self.nodes.values():
            try:
                p.stop(grace=3.0)
            except Exception:
                pass
        for p in self.wgprocs:
            try:
                os.killpg(p.pid, 9)
            except OSError:
                pass
            try:
                p.wait(5)
            except Exception:
                pass
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
        for x in NODES:
            try:
                os.unlink("/var/run/wireguard/%s.sock" % self.wg[x])
            except OSError:
                pass


def run(env):
    """The whole scenario; env is a harness.Env. Raises TestFailure."""
    mesh = Mesh(env)
    try:
        mesh.setup()
        mesh.start_nodes()
        t = mesh.wait("ABC", "nodeC", "alive", 20)
        mesh.wait("ABC", "nodeA", "alive", 10)
        mesh.wait("ABC", "nodeB", "alive", 10)
        m = mesh.members("A")
        check(m["nodeC"]["addr"] == "10.99.1.3:7946" and m["nodeC"]["region"] == "r3",
              "nodeC as A sees it: %r" % m["nodeC"])
        env.note("3 nodes alive over WireGuard after %.1fs" % t)
        sh("ip", "-n", mesh.ns["C"], "link", "set", "vC", "down")
        t = mesh.wait("AB", "nodeC", "dead", 15)
        env.note("C's link down -> dead at A and B after %.1fs" % t)
        check(mesh.members("A")["nodeB"]["state"] == "alive", "A lost B too")
        # writes on both sides of the partition
        mesh.ctl("A", "backends", "add", "side-a", "app", "r1", "10.99.1.1", "80")
        mesh.ctl("C", "backends", "add", "side-c", "app", "r3", "10.99.1.3", "80")
        time.sleep(1)
        check("side-c" not in mesh.backends("B"), "C's write crossed the partition")
        sh("ip", "-n", mesh.ns["C"], "link", "set", "vC", "up")
        t0 = time.monotonic()
        t = mesh.wait("AB", "nodeC", "alive", 30)
        mesh.wait("C", "nodeA", "alive", 15)
        env.note("link up -> healed (C alive at A and B) after %.1fs" % t)
        while True:
            views = {x: (mesh.backends(x), mesh.digest(x)) for x in NODES}
            if all(v[0] == ["side-a", "side-c"] for v in views.values()) and \
                    len({v[1] for v in views.values()}) == 1:
                break
            if time.monotonic() - t0 > 30:
                raise TestFailure("replication did not heal: %r" % views)
            time.sleep(0.2)
        env.note("both sides' writes on every node, digests equal, %.1fs after the "
                 "link came up" % (time.monotonic() - t0))
    finally:
        mesh.teardown()


def holder(mesh, x, key):
    """Which node holds key ("wg.localhost" or ":PORT") as node x's router
    sees it, or None."""
    try:
        rows = json.loads(mesh.ctl(x, "routes", "--json"))
    except (TestFailure, ValueError):
        return None
    for r in rows:
        name = ":%s" % r.get("port") if r.get("kind") == "tcp" else r.get("host")
        if name == key and r.get("holder") is True:
            return r.get("node")
    return None


def alive_everywhere(mesh, xs, timeout=20):
    t = 0
    for x in xs:
        for y in xs:
            t = max(t, mesh.wait(x, "node" + y, "alive", timeout))
    return t


def run_forward(env, size=4 << 20):
    """Forwarding and failover over the WireGuard mesh; env is a
    harness.Env. Raises TestFailure."""
    import subprocess as sp
    mesh = Mesh(env)
    try:
        mesh.setup()
        mesh.start_nodes()
        t = alive_everywhere(mesh, NODES)
        env.note("3 nodes alive over WireGuard after %.1fs" % t)
        for x in NODES:
            e = [e for e in mesh.events(x) if e.get("ev") == "mesh.start"]
            i = NODES.index(x) + 1
            check(e and e[-1]["addr"] == "10.99.1.%d:7001" % i,
                  "node%s's mesh address: %r" % (x, e[-1:]))
        # the service and its client on the public side (the hub), the
        # client's first server node A
        svc = mesh.service("hub", "http", "wg")
        c = mesh.client("hub", ["http", str(svc), "--server", mesh.servers("ABC"),
                                "--subdomain", "wg", "--tls=false"], name="client-wg")
        c.wait_urls(1, 15)
        host = "wg.localhost"
        mesh.wait_status("ABC", host, timeout=15)
        check(holder(mesh, "C", host) == "nodeA", "held by %r" % holder(mesh, "C", host))
        # MiBs streamed both ways through B and C, checked by sha256
        gen = sp.run([harness.PYTHON, harness.SERVICES, "gen", str(size), "11"],
                     stdout=sp.PIPE, stderr=sp.PIPE, timeout=120)
        want = gen.stderr.decode().strip()
        for x in "BC":
            i = NODES.index(x) + 1
            r = mesh.curl("hub", ["-H", "Host: " + host,
                                  "http://10.99.0.%d:8080/bytes?n=%d&seed=11" % (i, size)])
            got = hashlib.sha256(r.stdout).hexdigest()
            check(got == want, "download via node%s: %d bytes, sha256 %s (want %s)"
                  % (x, len(r.stdout), got[:12], want[:12]))
            r = mesh.curl("hub", ["--data-binary", "@-", "-H", "Host: " + host,
                                  "-H", "Content-Type: application/octet-stream",
                                  "http://10.99.0.%d:8080/upload" % i], input=gen.stdout)
            res = json.loads(r.stdout or b"{}")
            check(res.get("n") == size and res.get("sha256") == want,
                  "upload via node%s: %r" % (x, r.stdout[:200]))
        env.note("%d MiB each way through nodeB and nodeC, byte-exact" % (size >> 20))
        fwd = [e for e in mesh.events("B") if e.get("ev") == "mesh.link.up"]
        check(any(e.get("peer") == "nodeA" for e in fwd), "no mesh link B-A: %r" % fwd)

        # a TCP tunnel held by A, echoed through B with half-close
        echo = mesh.service("hub", "tcp-echo")
        ct = mesh.client("hub", ["tcp", str(echo), "--server", mesh.servers("ABC"),
                                 "--tls=false"], name="client-tcp")
        port = ct.wait_urls(1, 15)[0]["port"]
        deadline = time.monotonic() + 15
        while holder(mesh, "B", ":%d" % port) != "nodeA":
            if time.monotonic() > deadline:
                raise TestFailure("port %d not held by A at B" % port)
            time.sleep(0.2)
        deadline = time.monotonic() + 15
        while True:
            try:
                cnt, sha, eof = mesh.tcp_check("hub", "10.99.0.2", port, 1 << 20, 12)
                break
            except TestFailure:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        cnt, sha, eof = mesh.tcp_check("hub", "10.99.0.2", port, size, 13)
        gen = sp.run([harness.PYTHON, harness.SERVICES, "gen", str(size), "13"],
                     stdout=sp.DEVNULL, stderr=sp.PIPE, timeout=120)
        check(cnt == size and sha == gen.stderr.decode().strip() and eof,
              "tcp echo via nodeB: %d of %d bytes, eof=%s" % (cnt, size, eof))
        env.note("TCP tunnel held by nodeA: %d MiB echoed through nodeB, half-close" % (
            size >> 20))

        # kill -9 of the holder: the client moves on, the URL answers again
        # through the survivors
        t0 = time.monotonic()
        mesh.nodes["A"].kill_tree()
        took = mesh.wait_status("BC", host, timeout=30)
        env.note("kill -9 of nodeA: %s answers through nodeB and nodeC again after "
                 "%.2fs" % (host, time.monotonic() - t0))
        h = holder(mesh, "C", host)
        check(h in ("nodeB", "nodeC"), "after the failover held by %r" % h)
        check("session.lost" in harness.tail(c.log, 80), "client log:\n" + harness.tail(c.log))
        # and the survivors hold the same data
        deadline = time.monotonic() + 15
        while len({mesh.digest(x) for x in "BC"}) != 1:
            if time.monotonic() > deadline:
                raise TestFailure("digests differ at B and C: %r"
                                  % {x: mesh.digest(x) for x in "BC"})
            time.sleep(0.2)
        env.note("digests equal at nodeB and nodeC after the failover (%.2fs to answer)"
                 % took)
    finally:
        mesh.teardown()


def tcpcheck(ip, port, n, seed):
    """Helper run inside a namespace: see Mesh.tcp_check."""
    import threading
    sys.path.insert(0, os.path.join(HERE, "..", "integ"))
    import services
    s = socket.create_connection((ip, port), timeout=60)
    err = []

    def writer():
        try:
            for c in services.gen_chunks(n, seed):
                s.sendall(c)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    h, cnt, eof = hashlib.sha256(), 0, False
    while cnt <= n:
        b = s.recv(1 << 18)
        if not b:
            eof = True
            break
        h.update(b)
        cnt += len(b)
    t.join(30)
    if err:
        print("tcpcheck: %r" % err, file=sys.stderr)
        return 1
    print(cnt, h.hexdigest(), "eof" if eof else "open")
    return 0


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "tcpcheck":
        return tcpcheck(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    return harness.standalone("wgmesh", run, missing_reason)


if __name__ == "__main__":
    sys.exit(main())
