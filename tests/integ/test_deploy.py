"""The cloud deploy scripts (docker/aws, docker/gcp, docker/fly): shellcheck,
and their --dry-run output for a three-region plan: the commands, the
regions, the firewall rules (no port beyond the listed ones), and the
setup script each instance gets, which carries the clusterctl mesh files
byte for byte (the files test_meshgen brings up over WireGuard)."""
import glob
import json
import os
import re
import shlex
import subprocess
import tomllib

import harness
from harness import check

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TIMEOUT = 60
PUBLIC_TCP = {(80, 80), (443, 443), (7000, 7000), (20000, 20099)}
SCRIPTS = ["docker/aws/deploy.sh", "docker/gcp/deploy.sh", "docker/fly/launch.sh",
           "docker/deploy-lib.sh", "docker/compose.sh", "docker/checker.sh",
           "docker/entrypoint.sh", "docker/install.sh", "docker/deb.sh", "docker/mkman.sh",
           "docker/systemd-check.sh"]


def stub_path(env):
    """A PATH whose aws, gcloud, fly and flyctl only record that they ran."""
    d = env.path("stubs")
    os.makedirs(d, exist_ok=True)
    for tool in ("aws", "gcloud", "fly", "flyctl"):
        p = os.path.join(d, tool)
        with open(p, "w") as f:
            f.write("#!/bin/sh\necho \"$0 $*\" >> %s\nexit 1\n" % env.path("cloud-calls"))
        os.chmod(p, 0o755)
    return d + ":" + os.environ.get("PATH", "/usr/bin:/bin")


def dry_run(env, script, *args):
    e = dict(os.environ, PATH=stub_path(env), WARREN_BIN=harness.bin_dir(),
             TMPDIR=env.path())
    r = subprocess.run([os.path.join(ROOT, script), "--dry-run"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=30,
                       cwd=env.path())
    check(r.returncode == 0, "%s --dry-run: exit %d\n%s" % (script, r.returncode,
                                                           r.stderr.decode()))
    check(not os.path.exists(env.path("cloud-calls")),
          "a dry run called the cloud CLI: %s" % (open(env.path("cloud-calls")).read()
                                                  if os.path.exists(env.path("cloud-calls"))
                                                  else ""))
    return parse(r.stdout.decode())


def parse(out):
    """-> list of ("cmd", argv) and ("file", path, mode, text) / ("stdin", text)."""
    items, lines, i = [], out.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("+ "):
            items.append(("cmd", shlex.split(line[2:])))
        elif line.startswith("--- file ") or line == "--- stdin":
            head = line.split()
            j = lines.index("--- end", i + 1)
            text = "\n".join(lines[i + 1:j]) + "\n"
            if head[1] == "file":
                items.append(("file", head[2], head[3], text))
            else:
                items.append(("stdin", text))
            i = j
        else:
            check(line.strip() == "", "unexpected dry-run line %r" % line)
        i += 1
    return items


def cmds(items, *prefix):
    return [c[1] for c in items if c[0] == "cmd" and tuple(c[1][:len(prefix)]) == prefix]


def opt(argv, name):
    vals = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]
    check(len(vals) == 1, "%s: want one %s, got %r" % (" ".join(argv), name, vals))
    return vals[0]


def heredoc(text, tag):
    m = re.search(r"<< '%s'\n(.*?)\n%s\n" % (tag, tag), text, re.S)
    check(m is not None, "no heredoc %s in:\n%s" % (tag, text))
    return m.group(1) + "\n"


def make_mesh(env, names):
    d = env.path("mesh")
    specs = ["%s,%s,192.0.2.%d" % (n, n, i) for i, n in enumerate(names, 1)]
    r = subprocess.run([os.path.join(harness.bin_dir(), "clusterctl"), "mesh", "init", d]
                       + specs + ["--domain", "tunnels.example.com", "--gossip-profile", "wan"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(r.returncode == 0, "mesh init: %s" % r.stderr.decode())
    return d


def read(p):
    with open(p) as f:
        return f.read()


def check_setup_script(env, text, mesh, node, show_keys):
    """The instance's setup script installs node's mesh files as they are."""
    p = env.path("setup-%s.sh" % node)
    with open(p, "w") as f:
        f.write(text)
    check(subprocess.run(["sh", "-n", p]).returncode == 0, "%s: sh syntax" % node)
    nd = os.path.join(mesh, "nodes", node)
    wg, keys = heredoc(text, "EOF_WG"), heredoc(text, "EOF_KEYS")
    conf = heredoc(text, "EOF_NODE")
    secrets = [read(os.path.join(mesh, "keys", node + ".key")).strip(),
               read(os.path.join(mesh, "keys", "cluster.keys")).strip()]
    if show_keys:
        check(wg == read(os.path.join(nd, "warren0.conf")), "%s: WireGuard file differs" % node)
        check(keys == read(os.path.join(nd, "cluster.keys")), "%s: cluster.keys differs" % node)
    else:
        for s in secrets:
            check(s not in text, "%s: a key is in the dry-run output" % node)
        check("PrivateKey = <redacted>" in wg and "<redacted cluster key>" in keys,
              "%s: keys not redacted" % node)
    mesh_conf = read(os.path.join(nd, "node.conf"))
    check(conf.startswith(mesh_conf), "%s: node.conf does not start with the mesh's" % node)
    extra = conf[len(mesh_conf):].split("\n")
    check([l for l in extra if l] == ["http-listen = 0.0.0.0:80", "https-listen = 0.0.0.0:443",
                                      "tunnel-listen = 0.0.0.0:7000",
                                      "tcp-port-range = 20000-20099"],
          "%s: node.conf additions %r" % (node, extra))
    for want in ("apt-get install", "/tmp/warren.deb", "--force-confold",
                 "systemctl enable --now wg-quick@warren0", "systemctl restart warren-node",
                 "chgrp warren /etc/warren/cluster.keys"):
        check(want in text, "%s: setup script lacks %r" % (node, want))


def test_deploy_shellcheck(env):
    files = [os.path.join(ROOT, s) for s in SCRIPTS]
    check(all(os.path.exists(f) for f in files), "a script is missing")
    check(sorted(glob.glob(os.path.join(ROOT, "docker", "**", "*.sh"), recursive=True))
          == sorted(files), "a docker/ script is not in SCRIPTS")
    r = subprocess.run(["shellcheck", "-x"] + files, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, cwd=ROOT)
    check(r.returncode == 0, "shellcheck:\n" + r.stdout.decode()[-3000:])


def check_aws(env, items, regions, ips, mesh, show_keys):
    allocs = cmds(items, "aws", "ec2", "allocate-address")
    check([opt(c, "--region") for c in allocs] == regions, "allocate-address regions")
    auth = cmds(items, "aws", "ec2", "authorize-security-group-ingress")
    check(len(auth) == 3 and not cmds(items, "aws", "ec2", "authorize-security-group-egress"),
          "want one ingress rule set per region, no egress change")
    for n, r in enumerate(regions):
        rules = json.loads(opt(auth[n], "--ip-permissions"))
        tcp = {(x["FromPort"], x["ToPort"]) for x in rules if x["IpProtocol"] == "tcp"}
        check(tcp == PUBLIC_TCP, "%s: TCP rules %r" % (r, sorted(tcp)))
        for x in rules:
            srcs = sorted(y["CidrIp"] for y in x["IpRanges"])
            check(set(x) == {"IpProtocol", "FromPort", "ToPort", "IpRanges"}, "rule %r" % x)
            if x["IpProtocol"] == "tcp":
                check(srcs == ["0.0.0.0/0"], "%s: tcp %r from %r" % (r, x, srcs))
            else:
                check(x["IpProtocol"] == "udp" and x["FromPort"] == x["ToPort"] == 51820,
                      "%s: a rule beyond the listed ports: %r" % (r, x))
                check(srcs == sorted(ip + "/32" for i, ip in enumerate(ips) if i != n),
                      "%s: WireGuard open to %r, want the other nodes only" % (r, srcs))
        check(opt(auth[n], "--region") == r, "authorize order")
    runs = cmds(items, "aws", "ec2", "run-instances")
    check([opt(c, "--region") for c in runs] == regions, "run-instances regions")
    files = {f[1]: f for f in items if f[0] == "file"}
    for n, r in enumerate(regions):
        ud = opt(runs[n], "--user-data")
        check(ud.startswith("file://") and ud[7:] in files, "%s: user data %s not printed" % (r, ud))
        check(files[ud[7:]][2] == "0600", "user data mode")
        check(opt(runs[n], "--image-id") == "ami-debian12-" + r, "%s: image" % r)
        check_setup_script(env, files[ud[7:]][3], mesh, r, show_keys)
    amis = cmds(items, "aws", "ssm", "get-parameter")
    check(all(opt(c, "--name") == "/aws/service/debian/release/12/latest/amd64" for c in amis)
          and len(amis) == 3, "Debian 12 images")
    assoc = cmds(items, "aws", "ec2", "associate-address")
    check([opt(c, "--allocation-id") for c in assoc] == ["eipalloc-" + r for r in regions],
          "associate-address")


def test_deploy_aws_dry_run(env):
    regions = ["sa-east-1", "us-east-1", "eu-west-1"]
    ips = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    # a fresh plan: the script makes the mesh (in a temporary directory)
    items = dry_run(env, "docker/aws/deploy.sh", "--mesh-dir", env.path("m-new"))
    check(not os.path.exists(env.path("m-new")), "a dry run wrote the mesh directory")
    init = cmds(items, os.path.join(harness.bin_dir(), "clusterctl"), "mesh", "init")
    check(len(init) == 1 and init[0][4:7] == ["%s,%s,%s" % (r, r, ip)
                                               for r, ip in zip(regions, ips)],
          "mesh init: %r" % init)
    check(all(c[1][0] in ("aws", os.path.join(harness.bin_dir(), "clusterctl"))
              for c in items if c[0] == "cmd"), "a command that is neither aws nor clusterctl")
    # an existing plan, keys shown: the user data carries its files as they are
    mesh = make_mesh(env, regions)
    before = {p: read(p) for p in glob.glob(os.path.join(mesh, "**"), recursive=True)
              if os.path.isfile(p)}
    check_aws(env, dry_run(env, "docker/aws/deploy.sh", "--mesh-dir", mesh, "--show-keys"),
              regions, ips, mesh, True)
    check_aws(env, dry_run(env, "docker/aws/deploy.sh", "--mesh-dir", mesh),
              regions, ips, mesh, False)
    after = {p: read(p) for p in glob.glob(os.path.join(mesh, "**"), recursive=True)
             if os.path.isfile(p)}
    check(before == after, "a dry run changed the mesh directory")
    # teardown
    items = dry_run(env, "docker/aws/deploy.sh", "--destroy")
    for sub in ("terminate-instances", "release-address", "delete-security-group"):
        got = [opt(c, "--region") for c in cmds(items, "aws", "ec2", sub)]
        check(got == regions, "destroy: %s in %r" % (sub, got))
    check(not cmds(items, "aws", "ec2", "run-instances"), "destroy creates instances")


def test_deploy_gcp_dry_run(env):
    regions = ["us-central1", "europe-west1", "southamerica-east1"]
    zones = ["us-central1-a", "europe-west1-b", "southamerica-east1-a"]
    ips = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    mesh = make_mesh(env, regions)
    for show in (True, False):
        items = dry_run(env, "docker/gcp/deploy.sh", "--project", "p1", "--mesh-dir", mesh,
                        *(["--show-keys"] if show else []))
        check(all(c[1][0] == "gcloud" for c in items if c[0] == "cmd"),
              "a command that is not gcloud (the mesh exists: no mesh init)")
        check(all(opt(c[1], "--project") == "p1" for c in items if c[0] == "cmd"), "project")
        addrs = cmds(items, "gcloud", "compute", "addresses", "create")
        check([opt(c, "--region") for c in addrs] == regions, "address regions")
        fw = cmds(items, "gcloud", "compute", "firewall-rules", "create")
        check(len(fw) == 2, "want two firewall rules, got %d" % len(fw))
        rules = {c[4]: c for c in fw}
        pub, wg = rules.get("warren-public"), rules.get("warren-wireguard")
        check(pub is not None and wg is not None, "rule names %r" % list(rules))
        check(opt(pub, "--source-ranges") == "0.0.0.0/0" and
              sorted(opt(pub, "--allow").split(",")) ==
              sorted(["tcp:80", "tcp:443", "tcp:7000", "tcp:20000-20099"]),
              "public rule %r" % pub)
        check(opt(wg, "--allow") == "udp:51820" and
              sorted(opt(wg, "--source-ranges").split(",")) == [ip + "/32" for ip in ips],
              "WireGuard rule %r" % wg)
        for c in fw:
            check(opt(c, "--direction") == "INGRESS" and opt(c, "--target-tags") == "warren-edge",
                  "rule scope %r" % c)
        inst = cmds(items, "gcloud", "compute", "instances", "create")
        files = {f[1]: f for f in items if f[0] == "file"}
        check([c[4] for c in inst] == ["warren-" + r for r in regions], "instances")
        for n, c in enumerate(inst):
            check(opt(c, "--zone") == zones[n] and opt(c, "--address") == ips[n] and
                  opt(c, "--image-family") == "debian-12" and
                  opt(c, "--image-project") == "debian-cloud" and
                  opt(c, "--tags") == "warren-edge", "instance %r" % c)
            meta = opt(c, "--metadata-from-file")
            check(meta.startswith("startup-script=") and meta[15:] in files,
                  "%s: startup script not printed" % regions[n])
            check_setup_script(env, files[meta[15:]][3], mesh, regions[n], show)
    items = dry_run(env, "docker/gcp/deploy.sh", "--project", "p1", "--destroy")
    check([c[4] for c in cmds(items, "gcloud", "compute", "instances", "delete")] ==
          ["warren-" + r for r in regions], "destroy instances")
    check(cmds(items, "gcloud", "compute", "firewall-rules", "delete")[0][4:6] ==
          ["warren-public", "warren-wireguard"], "destroy firewall")


def test_deploy_fly_dry_run(env):
    regions = ["gru", "iad", "cdg"]
    items = dry_run(env, "docker/fly/launch.sh", "--app", "edge-x", "--domain", "t.example.org")
    check(all(c[1][0] == "fly" for c in items if c[0] == "cmd"), "a command that is not fly")
    check(all(opt(c[1], "--app") == "edge-x" for c in items
              if c[0] == "cmd" and c[1][1] != "apps"), "app name")
    scale = cmds(items, "fly", "scale", "count")
    check([opt(c, "--region") for c in scale] == regions and
          all(c[3] == "1" for c in scale), "one machine per region: %r" % scale)
    dep = cmds(items, "fly", "deploy")
    check(len(dep) == 1 and opt(dep[0], "--primary-region") == "gru" and
          opt(dep[0], "--dockerfile").endswith("docker/Dockerfile"), "deploy %r" % dep)
    files = {f[1]: f for f in items if f[0] == "file"}
    cfg = opt(dep[0], "--config")
    check(cfg in files, "the deployed fly.toml is not printed")
    t = tomllib.loads(files[cfg][3])
    check(t["app"] == "edge-x" and t["primary_region"] == "gru", "fly.toml app/region")
    check(t["processes"]["app"] == "fly", "the image's fly entrypoint")
    check(t["env"]["WARREN_DOMAIN"] == "t.example.org", "domain")
    ports = sorted((s["internal_port"], p["port"]) for s in t["services"] for p in s["ports"])
    check(ports == [(7000, 7000), (8080, 80), (8443, 443)],
          "public ports beyond the listed ones: %r" % ports)
    check(all(s["protocol"] == "tcp" and "handlers" not in p
              for s in t["services"] for p in s["ports"]), "raw TCP services")
    check("WARREN_GOSSIP_LISTEN" not in t["env"], "gossip address must come from 6PN")
    # the key reaches flyctl on stdin only, redacted in the output
    stdin = [x[1] for x in items if x[0] == "stdin"]
    check(stdin == ["WARREN_CLUSTER_KEY=<redacted cluster key>\n"], "secret %r" % stdin)
    check(not any("WARREN_CLUSTER_KEY" in a for c in cmds(items, "fly") for a in c),
          "the key on a command line")
    items = dry_run(env, "docker/fly/launch.sh", "--show-keys")
    key = [x[1] for x in items if x[0] == "stdin"][0].strip().split("=", 1)[1]
    check(len(key) == 44 and key.endswith("="), "shown key %r" % key)
    items = dry_run(env, "docker/fly/launch.sh", "--destroy", "--app", "edge-x")
    check([c[1] for c in items if c[0] == "cmd"] ==
          [["fly", "apps", "destroy", "edge-x", "--yes"]], "destroy")


def test_deploy_docker_files(env):
    """The image builds with the Debian build dependencies of tests/deps.sh,
    and the compose cluster and the dockerd docker-test starts use addresses
    of 198.18.0.0/15 only (the README's rule; loopback for published ports)."""
    import ipaddress
    deps = read(os.path.join(ROOT, "tests", "deps.sh"))
    dev = set(re.findall(r"\b(lib[a-z0-9.+-]+-dev)\b", deps)) - {"libcmocka-dev",
                                                                "libclang-rt-14-dev"}
    dockerfile = read(os.path.join(ROOT, "docker", "Dockerfile"))
    build = dockerfile.split("FROM ${BASE} AS build", 1)[1].split("\nFROM ", 1)[0]
    check(dev and all(d in build.split() for d in dev),
          "Dockerfile build stage lacks %r" % sorted(d for d in dev if d not in build.split()))
    check(re.search(r"^ARG BASE=debian:12-slim$", dockerfile, re.M), "BASE default")
    check(re.search(r"^USER warren$", dockerfile, re.M) and "HEALTHCHECK" in dockerfile and
          "/v1/status" in dockerfile, "non-root user and admin API healthcheck")
    bench = ipaddress.ip_network("198.18.0.0/15")
    seen = 0
    for name in ("compose.yml", "compose.sh"):
        text = read(os.path.join(ROOT, "docker", name))
        for m in re.finditer(r"(?<![\d.])(\d+\.\d+\.\d+\.\d+)(/\d+)?", text):
            net = ipaddress.ip_network(m.group(0), strict=False)
            check(net.subnet_of(bench) or net.network_address.is_loopback,
                  "%s uses %s, outside 198.18.0.0/15" % (name, m.group(0)))
            seen += 1
    check(seen > 20, "found only %d addresses" % seen)
