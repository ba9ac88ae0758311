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
address. Then: all three see each other alive; C's veth goes down (a
partition): A and B mark C dead, and both sides write to routing.db
(clusterctl backends add on A and on C); it comes back up: the cluster
heals, all are alive again, and every node holds both writes with equal
digests of the replicated data. Namespaces, interfaces and processes are removed even
when a step fails. Also run by tests/integ/test_wireguard.py, which skips
(saying why) when not root or when ip, wireguard-go or wg are missing.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
sys.dont_write_bytecode = True
import harness  # noqa: E402
from harness import TestFailure, check  # noqa: E402

NODES = "ABC"
FAST = ["--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
        "--gossip-interval", "100ms", "--gossip-suspicion-mult", "3"]


def missing_reason():
    """None when the test can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, WireGuard interfaces)"
    for tool in ("ip", "wireguard-go", "wg"):
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


def sh(*argv, input=None):
    r = subprocess.run(list(argv), input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20)
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

    def start_nodes(self):
        key = self.env.path("cluster.keys")
        with open(key, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        join = ",".join("10.99.1.%d:7946" % i for i in range(1, 4))
        for i, x in enumerate(NODES, 1):
            argv = ["ip", "netns", "exec", self.ns[x],
                    os.path.join(harness.bin_dir(), "warren-node"),
                    "--name", "node" + x, "--region", "r%d" % i,
                    "--data-dir", self.env.path("data-" + x),
                    "--http-listen", "127.0.0.1:0", "--tunnel-listen", "127.0.0.1:0",
                    "--admin-listen", "127.0.0.1:7070",
                    "--gossip-listen", "10.99.1.%d:7946" % i, "--join", join,
                    "--cluster-key-file", key] + FAST
            p = harness.Proc(self.env, "node" + x, argv)
            self.env.logs.append(p.log)
            self.nodes[x] = p

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


def main():
    why = missing_reason()
    if why:
        print("SKIP wgmesh: " + why)
        return 0
    workdir = tempfile.mkdtemp(prefix="warren-wg-")
    env = harness.Env("wgmesh", workdir)
    try:
        run(env)
    except TestFailure as e:
        print("FAIL wgmesh: %s\n%s\n(logs in %s)" % (e, env.diagnostics(), workdir))
        return 1
    finally:
        env.close()
    for n in env.notes:
        print("  " + n)
    print("PASS wgmesh")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
