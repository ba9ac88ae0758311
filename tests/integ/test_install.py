"""make install (DESTDIR, PREFIX) and make deb: the tree they lay out, the
systemd units (systemd-analyze verify and security), and a node started
from the installed tree."""
import json
import os
import shutil
import subprocess
import time
import urllib.request

import harness
from harness import TestFailure, check

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TIMEOUT = 120

# path -> mode ("l" + target for symlinks), for PREFIX=/usr
TREE = {
    "etc/warren/node.conf": 0o644,
    "usr/bin/warren": 0o755,
    "usr/bin/clusterctl": 0o755,
    "usr/bin/warren-node": "l../lib/warren/warren-node",
    "usr/lib/warren/warren-node": 0o755,
    "usr/lib/warren/warren-acceptor": 0o755,
    "usr/lib/warren/warren-router": 0o755,
    "usr/lib/warren/warren-gossip": 0o755,
    "usr/lib/sysusers.d/warren.conf": 0o644,
    "usr/share/man/man1/warren.1.gz": 0o644,
    "usr/share/man/man1/clusterctl.1.gz": 0o644,
    "usr/share/man/man8/warren-node.8.gz": 0o644,
    "usr/share/doc/warren/README.md": 0o644,
}
UNITS = {"warren-node.service": 0o644, "warren@.service": 0o644}


def make(*args):
    # -o all: the binaries under test are already built (maybe with other
    # flags, as by make asan); install and deb only copy them
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, "-o", "all",
                        "B=" + harness.bin_dir()] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    check(r.returncode == 0, "make %s: exit %d\n%s%s" % (" ".join(args), r.returncode,
                                                        r.stdout.decode(), r.stderr.decode()))
    return r.stdout.decode()


def tree(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for f in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "l" + os.readlink(p)
            else:
                out[rel] = os.stat(p).st_mode & 0o7777
    return out


def expected(unitdir):
    want = dict(TREE)
    for u, m in UNITS.items():
        want[unitdir + "/" + u] = m
    return want


def unit_lines(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


class InstalledNode(harness.Node):
    def __init__(self, env, exe, **kw):
        super().__init__(env, **kw)
        self.exe = exe

    def argv(self):
        return [self.exe] + super().argv()[1:]


def test_install_tree(env):
    dest = env.path("dest")
    make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    got = tree(dest)
    want = expected("usr/lib/systemd/system")
    check(got == want, "installed tree differs:\n  extra %r\n  missing %r\n  modes %r"
          % (sorted(set(got) - set(want)), sorted(set(want) - set(got)),
             {k: (oct(got[k]) if isinstance(got[k], int) else got[k]) for k in got
              if k in want and got[k] != want[k]}))
    unit = unit_lines(os.path.join(dest, "usr/lib/systemd/system/warren-node.service"))
    for line in ["User=warren", "ExecStart=/usr/bin/warren-node --config /etc/warren/node.conf",
                 "StateDirectory=warren", "WorkingDirectory=/var/lib/warren",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "Restart=on-failure", "KillSignal=SIGTERM"]:
        check(line in unit, "warren-node.service lacks %r" % line)
    client = unit_lines(os.path.join(dest, "usr/lib/systemd/system/warren@.service"))
    check("ExecStart=/usr/bin/warren start --config /etc/warren/%i.ini" in client,
          "warren@.service ExecStart: %r" % client)
    # the shipped config is the node's own syntax
    r = subprocess.run([os.path.join(dest, "usr/bin/warren-node"), "--config",
                        os.path.join(dest, "etc/warren/node.conf"), "--data-dir",
                        env.path("pc"), "--print-config"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    check(r.returncode == 0, "warren-node refuses the shipped node.conf: %s" % r.stderr.decode())
    for page in ("man1/warren.1.gz", "man1/clusterctl.1.gz", "man8/warren-node.8.gz"):
        text = subprocess.run(["zcat", os.path.join(dest, "usr/share/man", page)],
                              stdout=subprocess.PIPE, check=True).stdout.decode()
        check(text.startswith(".TH ") and "usage:" in text, "%s: %r" % (page, text[:200]))

    # the node runs from the installed tree (its processes found beside the
    # link's target) and answers its admin API
    n = InstalledNode(env, os.path.join(dest, "usr/bin/warren-node"),
                      admin="127.0.0.1:%d" % harness.free_port())
    env.nodes.append(n)
    n.start()
    deadline = time.monotonic() + 10
    status = None
    while status is None:
        try:
            with urllib.request.urlopen("http://%s/v1/status" % n.admin_listen, timeout=2) as f:
                status = json.loads(f.read())
        except OSError:
            if time.monotonic() > deadline:
                raise TestFailure("the installed node's admin API does not answer\n"
                                  + harness.tail(n.log))
            time.sleep(0.2)
    check(status.get("name") == "n1", "status %r" % status)

    # a second install keeps the operator's configuration
    with open(os.path.join(dest, "etc/warren/node.conf"), "a") as f:
        f.write("region = eu\n")
    make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    with open(os.path.join(dest, "etc/warren/node.conf")) as f:
        check("region = eu\n" in f.read(), "make install overwrote node.conf")

    # PREFIX reaches the units
    dest2 = env.path("dest-local")
    make("install", "DESTDIR=" + dest2)
    unit = unit_lines(os.path.join(dest2, "usr/local/lib/systemd/system/warren-node.service"))
    check("ExecStart=/usr/local/bin/warren-node --config /etc/warren/node.conf" in unit,
          "PREFIX=/usr/local unit: %r" % unit)
    check(os.path.islink(os.path.join(dest2, "usr/local/bin/warren-node")), "no link")


def test_install_systemd_verify(env):
    for tool in ("systemd-analyze",):
        if shutil.which(tool) is None:
            raise TestFailure("%s is missing: make deps installs systemd" % tool)
    if not os.path.isdir("/lib/systemd/system"):
        raise TestFailure("/lib/systemd/system is missing: make deps installs systemd")
    root = env.path("root")
    make("install", "DESTDIR=" + root, "PREFIX=/usr")
    # verify resolves dependencies (sysinit.target, ...) inside --root: give
    # it the system's units beside ours
    shutil.copytree("/lib/systemd/system", os.path.join(root, "lib/systemd/system"),
                    symlinks=True)
    os.makedirs(os.path.join(root, "etc/systemd/system"), exist_ok=True)
    for u in UNITS:
        shutil.copy(os.path.join(root, "usr/lib/systemd/system", u),
                    os.path.join(root, "lib/systemd/system", u))
    scores = {}
    for unit in ("warren-node.service", "warren@demo.service"):
        r = subprocess.run(["systemd-analyze", "verify", "--root=" + root, "--man=no", unit],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        out = (r.stdout + r.stderr).decode()
        check(r.returncode == 0 and out.strip() == "",
              "systemd-analyze verify %s: exit %d\n%s" % (unit, r.returncode, out))
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--root=" + root,
                            unit], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        out = r.stdout.decode()
        line = [l for l in out.splitlines() if "Overall exposure level" in l]
        check(line, "systemd-analyze security %s: %s" % (unit, out[-500:] + r.stderr.decode()))
        scores[unit] = float(line[0].split(":")[1].split()[0])
        check(scores[unit] <= 2.5, "%s: exposure %s, want <= 2.5 (hardening lost?)"
              % (unit, line[0]))
    env.note("systemd-analyze verify clean; exposure %s" % ", ".join(
        "%s %.1f" % kv for kv in scores.items()))


def test_install_deb(env):
    path = make("deb").strip().splitlines()[-1]
    if not os.path.isabs(path):
        path = os.path.join(ROOT, path)
    check(os.path.exists(path) and path.endswith(".deb"), "make deb printed %r" % path)
    r = subprocess.run(["dpkg-deb", "-c", path], stdout=subprocess.PIPE, check=True)
    got = {}
    for line in r.stdout.decode().splitlines():
        parts = line.split()
        name = parts[5][2:] if parts[5].startswith("./") else parts[5]
        if parts[0].startswith("d"):
            continue
        check(parts[1] == "root/root", "%s owned by %s" % (name, parts[1]))
        if parts[0].startswith("l"):
            got[name] = "l" + parts[7]
        else:
            got[name] = sum(1 << (8 - i) for i, c in enumerate(parts[0][1:10]) if c != "-")
    want = expected("lib/systemd/system")
    check(got == want, "deb file list differs:\n  extra %r\n  missing %r\n  modes %r"
          % (sorted(set(got) - set(want)), sorted(set(want) - set(got)),
             {k: got[k] for k in got if k in want and got[k] != want[k]}))

    def field(name):
        return subprocess.run(["dpkg-deb", "-f", path, name], stdout=subprocess.PIPE,
                              check=True).stdout.decode().strip()
    check(field("Package") == "warren" and field("Version") == "0.1.0", "control")
    deps = [d.strip().split()[0] for d in field("Depends").split(",")]
    for d in ("libc6", "libev4", "libnng1", "libssl3", "libsqlite3-0", "libjansson4",
              "libinih1", "libhttp-parser2.9", "adduser"):
        check(d in deps, "Depends lacks %s: %r" % (d, deps))
    ctl = env.path("control")
    subprocess.run(["dpkg-deb", "-e", path, ctl], check=True)
    with open(os.path.join(ctl, "conffiles")) as f:
        check(f.read().split() == ["/etc/warren/node.conf"], "conffiles")
    for s in ("postinst", "prerm", "postrm"):
        p = os.path.join(ctl, s)
        check(os.stat(p).st_mode & 0o111, "%s is not executable" % s)
        check(subprocess.run(["sh", "-n", p]).returncode == 0, "%s: syntax" % s)
    env.note("%s: %d files, %d KiB" % (os.path.basename(path), len(got),
                                        os.path.getsize(path) // 1024))
