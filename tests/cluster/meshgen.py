#!/usr/bin/python3
"""The configs `clusterctl mesh` writes bring up a three-node cluster over
WireGuard (root only).

    WARREN_BIN=build /usr/bin/python3 tests/cluster/meshgen.py

`clusterctl mesh init` plans nodes sa, us and eu with their underlay
addresses as WireGuard endpoints. Each node runs in its own network
namespace (veths on a bridge in a hub namespace, underlay 10.98.0.0/24)
and its own mount namespace, where the generated directory nodes/NAME/ is
mounted on /etc/wireguard and /etc/warren: the files an operator copies
there, used as they are. In it:

    wg-quick up warren0                         (wireguard-go: no kernel module
                                                 needed; /run/wireguard is
                                                 private to the namespace, so
                                                 every node keeps the name)
    warren-node --config /etc/warren/node.conf  (+ local listeners, data dir,
                                                 short gossip timings)

Then every node's `clusterctl members` shows the three alive at their mesh
addresses, and a tunnel registered on sa answers there and through the
other two nodes (forwarded over the mesh links on the WireGuard addresses). Namespaces,
mounts and processes go away even when a step fails. Also run by
tests/integ/test_meshgen.py, which skips (saying why) when not root or a
tool is missing.
"""
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
sys.dont_write_bytecode = True
import harness  # noqa: E402
from harness import TestFailure, check  # noqa: E402
import wgmesh  # noqa: E402
from wgmesh import sh  # noqa: E402

NODES = [("sa", "sa"), ("us", "us"), ("eu", "eu")]
MESH = "10.98.1.0/24"
FAST = ["--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
        "--gossip-interval", "100ms", "--gossip-suspicion-mult", "3"]


def missing_reason():
    """None when the test can run here, else why not."""
    return wgmesh.missing_reason(("wg-quick", "unshare", "curl"))


# Runs inside `ip netns exec NS unshare --mount`: the node's /etc as the
# operator would lay it out, then WireGuard, then the node.
NODE_SCRIPT = """
set -e
mkdir -p /run/wireguard
mount -t tmpfs -o mode=0700 tmpfs /run/wireguard
mount --bind "$1" /etc/wireguard
mount --bind "$1" /etc/warren
shift
wg-quick up warren0
wg show warren0 >&2
exec "$@"
"""


class MeshCluster:
    def __init__(self, env):
        self.env = env
        self.id = "%d" % (os.getpid() % 100000)
        self.hub = "wmH" + self.id
        self.ns = {n: "wm%s%s" % (n, self.id) for n, _ in NODES}
        self.dir = env.path("mesh")
        self.procs = {}
        self.created = []
        self.made_etc = False

    def clusterctl(self, *args):
        return sh(os.path.join(harness.bin_dir(), "clusterctl"), *args)

    def generate(self):
        specs = ["%s,%s,10.98.0.%d" % (n, r, i) for i, (n, r) in enumerate(NODES, 1)]
        out = self.clusterctl("mesh", "init", self.dir, *specs, "--range", MESH,
                              "--domain", "mesh.test")
        check("PRIVATE" not in out and "PrivateKey" not in out,
              "mesh init printed keys:\n" + out)

    def setup(self):
        if not os.path.isdir("/etc/warren"):
            os.mkdir("/etc/warren", 0o755)
            self.made_etc = True
        for name in [self.hub] + list(self.ns.values()):
            sh("ip", "netns", "add", name)
            self.created.append(name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        for i, (n, _) in enumerate(NODES, 1):
            ns = self.ns[n]
            sh("ip", "-n", ns, "link", "add", "v" + n, "type", "veth", "peer", "name",
               "h" + n, "netns", self.hub)
            sh("ip", "-n", self.hub, "link", "set", "h" + n, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", "10.98.0.%d/24" % i, "dev", "v" + n)
            sh("ip", "-n", ns, "link", "set", "v" + n, "up")

    def start_nodes(self):
        for n, _ in NODES:
            argv = ["ip", "netns", "exec", self.ns[n], "unshare", "--mount",
                    "--propagation", "private", "sh", "-c", NODE_SCRIPT, "node",
                    os.path.join(self.dir, "nodes", n),
                    os.path.join(harness.bin_dir(), "warren-node"),
                    "--config", "/etc/warren/node.conf",
                    "--data-dir", self.env.path("data-" + n),
                    "--http-listen", "127.0.0.1:8080", "--https-listen", "127.0.0.1:8443",
                    "--tunnel-listen", "127.0.0.1:7000", "--admin-listen", "127.0.0.1:7070",
                    "--allow-anonymous"] + FAST
            p = harness.Proc(self.env, "node-" + n, argv)
            self.env.logs.append(p.log)
            self.procs[n] = p

    def nsx(self, n, *argv, timeout=20):
        return sh("ip", "netns", "exec", self.ns[n], *argv, timeout=timeout)

    def members(self, n):
        out = self.nsx(n, os.path.join(harness.bin_dir(), "clusterctl"),
                       "--admin", "127.0.0.1:7070", "members", "--json")
        return {m["name"]: m for m in json.loads(out)}

    def digest(self, n):
        out = self.nsx(n, os.path.join(harness.bin_dir(), "clusterctl"),
                       "--admin", "127.0.0.1:7070", "sync", "--json")
        return json.loads(out)["self"]["digest"]

    def wait_all_alive(self, timeout):
        t0 = time.monotonic()
        last = {}
        while True:
            ok = True
            for n, _ in NODES:
                try:
                    m = self.members(n)
                except TestFailure as e:
                    m = {"error": str(e)}
                last[n] = m
                if sorted(k for k, v in m.items()
                          if isinstance(v, dict) and v.get("state") == "alive") != \
                        sorted(x for x, _ in NODES):
                    ok = False
            if ok:
                return time.monotonic() - t0, last
            for n, p in self.procs.items():
                if not p.alive():
                    raise TestFailure("node %s exited:\n%s" % (n, harness.tail(p.log)))
            if time.monotonic() - t0 > timeout:
                raise TestFailure("not all alive everywhere within %ss: %s"
                                  % (timeout, json.dumps(last)[:2000]))
            time.sleep(0.3)

    def teardown(self):
        for p in self.procs.values():
            try:
                p.stop(grace=3.0)
            except Exception:
                pass
        # wireguard-go daemonizes out of the node's process group: end what
        # still runs in our namespaces, then the namespaces.
        for ns in self.ns.values():
            r = subprocess.run(["ip", "netns", "pids", ns], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        time.sleep(0.2)
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
        if self.made_etc:
            try:
                os.rmdir("/etc/warren")
            except OSError:
                pass


def run(env):
    """The whole scenario; env is a harness.Env. Raises TestFailure."""
    mc = MeshCluster(env)
    try:
        mc.generate()
        mc.setup()
        mc.start_nodes()
        t, seen = mc.wait_all_alive(30)
        want = {n: "10.98.1.%d:7946" % i for i, (n, _) in enumerate(NODES, 1)}
        for n, _ in NODES:
            for x, addr in want.items():
                m = seen[n][x]
                check(m["addr"] == addr and m["region"] == x,
                      "%s sees %s as %r, want addr %s region %s" % (n, x, m, addr, x))
        env.note("3 nodes alive at every node over the generated WireGuard mesh after %.1fs" % t)

        # a tunnel on sa answers on sa
        svc = harness.Proc(env, "svc-demo", ["ip", "netns", "exec", mc.ns["sa"],
                                             harness.PYTHON, harness.SERVICES, "http",
                                             "--name", "demo"],
                           stdout=subprocess.PIPE)
        line = svc.p.stdout.readline().decode()
        check(line.startswith("ready port="), "demo service did not start: %r" % line)
        port = int(line.split("=")[1])
        ca = env.path("data-sa", "tls", "ca.pem")
        c = harness.Proc(env, "client", ["ip", "netns", "exec", mc.ns["sa"],
                                         os.path.join(harness.bin_dir(), "warren"), "http",
                                         str(port), "--server", "127.0.0.1:7000",
                                         "--subdomain", "demo", "--ca", ca])
        env.logs.append(c.log)
        # on sa, then through the other regions, forwarded over the
        # generated mesh (mesh-listen on each node's WireGuard address)
        for n, _ in NODES:
            t0 = time.monotonic()
            while True:
                r = subprocess.run(["ip", "netns", "exec", mc.ns[n], "curl", "-s",
                                    "-m", "5", "-H", "Host: demo.mesh.test",
                                    "http://127.0.0.1:8080/whoami"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                body = r.stdout.decode()
                if body == "demo %d" % port or time.monotonic() - t0 > 20:
                    break
                time.sleep(0.3)
            check(body == "demo %d" % port,
                  "GET demo.mesh.test/whoami through %s: %r (want 'demo %d')\n%s"
                  % (n, body, port, harness.tail(c.log)))
            env.note("the tunnel on sa answers through %s after %.1fs"
                     % (n, time.monotonic() - t0))
        # every node holds the same routing data
        t0 = time.monotonic()
        while len({mc.digest(n) for n, _ in NODES}) != 1:
            if time.monotonic() - t0 > 15:
                raise TestFailure("digests differ: %r" % {n: mc.digest(n) for n, _ in NODES})
            time.sleep(0.2)
        env.note("digests equal on all 3 nodes")
    finally:
        mc.teardown()


def main():
    return harness.standalone("meshgen", run, missing_reason)


if __name__ == "__main__":
    sys.exit(main())
