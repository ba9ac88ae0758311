"""Fixtures for the integration tests: one Env per test.

An Env owns a temporary directory and every process started through it; the
runner calls env.close() after the test, which stops them all (SIGTERM, then
SIGKILL of the process group). Every wait here has a deadline.
"""
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

# Under AddressSanitizer (make asan) memory is shadowed and freed blocks sit
# in quarantine: RSS bounds are scaled so they still catch a buffered GiB
# but not the sanitizer's own overhead.
MEM_SCALE = 16 if os.environ.get("WARREN_SANITIZE") else 1

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICES = os.path.join(HERE, "services.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

sys.path.insert(0, HERE)
import services  # noqa: E402  (gen_chunks, gen_sha256)

gen_chunks = services.gen_chunks
gen_bytes = services.gen_bytes
gen_sha256 = services.gen_sha256

MiB = 1 << 20
GiB = 1 << 30


class TestFailure(AssertionError):
    pass


class TestSkipped(Exception):
    """Raised by a test that cannot run on this machine (the message says
    why). The runner reports it as SKIP and counts it apart; with
    WARREN_NO_SKIP=1 (CI) a skip fails the run."""
    pass


def skip(why):
    raise TestSkipped(why)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def timeout(seconds):
    """Decorator: the runner stops the test after `seconds`."""
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco


def bin_dir():
    return os.path.abspath(os.environ.get("WARREN_BIN", "build"))


# --------------------------------------------------------------------------
# logfmt

_LOGFMT = re.compile(r'(\w[\w.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def logfmt(line):
    out = {}
    for k, v in _LOGFMT.findall(line):
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[k] = v
    return out


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError as e:
        return "(no log: %s)" % e


# --------------------------------------------------------------------------
# /proc

def proc_children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def proc_tree(pid):
    """pid and its descendants that exist now (bounded: 64 processes)."""
    seen, todo = [], [pid]
    while todo and len(seen) < 64:
        p = todo.pop(0)
        if p in seen or not os.path.exists("/proc/%d" % p):
            continue
        seen.append(p)
        todo.extend(proc_children(p))
    return seen


def proc_status(pid, key):
    """Value of a /proc/PID/status field in KiB (VmRSS, VmHWM), 0 if gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def proc_cpu_ticks(pid):
    """utime + stime of a process in clock ticks (0 if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def proc_argv0(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return os.path.basename(f.read().split(b"\0")[0].decode())
    except OSError:
        return ""


def proc_zombie_or_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


class Sampler:
    """Samples fn() (an int, e.g. RSS in KiB) every `every` s in a thread; .peak."""

    def __init__(self, fn, every=0.1):
        self.fn, self.every = fn, every
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                v = self.fn()
                self.peak = max(self.peak, v)
                self.samples += 1
            except Exception:
                pass
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._t.join(5)
        return self.peak


# --------------------------------------------------------------------------
# processes

class Proc:
    def __init__(self, env, name, argv, stdout=None, extra_env=None, cwd=None,
                 log=None, nofile=None):
        self.env, self.name, self.argv = env, name, argv
        self.log = log or env.path("%s.log" % name)
        self._logf = open(self.log, "ab")
        e = dict(os.environ)
        e["HOME"] = env.path("home")
        e["XDG_CONFIG_HOME"] = env.path("home", ".config")
        # a proxy of the machine's environment must not carry the tests'
        # loopback traffic (test_proxy sets its own)
        for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                  "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
            e.pop(k, None)
        if extra_env:
            e.update(extra_env)
        pre = None
        if nofile:
            def pre():
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=stdout if stdout is not None else self._logf,
                                  stderr=self._logf, env=e, cwd=cwd or env.dir,
                                  start_new_session=True, preexec_fn=pre)
        self.pid = self.p.pid
        env._procs.append(self)

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill_tree(self):
        """SIGKILL this process's group (its own session) and reap it."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.wait(5)

    def stop(self, grace=3.0):
        if self.p.poll() is None:
            self.signal(signal.SIGTERM)
            self.wait(grace)
        self.kill_tree()
        try:
            self._logf.close()
        except OSError:
            pass


class Node:
    """A warren-node started on loopback with kernel-chosen ports."""

    def __init__(self, env, name="n1", data_dir=None, http="127.0.0.1:0",
                 tunnel="127.0.0.1:0", admin="127.0.0.1:0",
                 tcp_range="20000-29999", args=(), extra_env=None, nofile=None,
                 auth=False):
        self.env = env
        self.name = name
        self.data_dir = data_dir or env.path("data-" + name)
        self.http_listen, self.tunnel_listen, self.admin_listen = http, tunnel, admin
        self.tcp_range = tcp_range
        self.args = list(args)
        self.extra_env = extra_env
        self.nofile = nofile
        # nodes require a token by default; tests that are not about auth
        # run them in the development mode that accepts anonymous clients
        self.auth = auth
        self.starts = 0
        self.proc = None
        self.http_port = self.tunnel_port = self.admin_port = None
        self.https_listen, self.https_port = "127.0.0.1:0", None

    @property
    def pid(self):
        return self.proc.pid

    def argv(self):
        return [os.path.join(bin_dir(), "warren-node"),
                "--data-dir", self.data_dir, "--name", self.name,
                "--region", "local", "--domain", "localhost",
                "--http-listen", self.http_listen,
                "--https-listen", self.https_listen,
                "--tunnel-listen", self.tunnel_listen,
                "--admin-listen", self.admin_listen,
                "--tcp-port-range", self.tcp_range] + \
            ([] if self.auth else ["--allow-anonymous"]) + self.args

    def start(self, timeout=15, same_ports=False):
        if same_ports and self.http_port:
            self.http_listen = "127.0.0.1:%d" % self.http_port
            self.tunnel_listen = "127.0.0.1:%d" % self.tunnel_port
            if self.https_port:
                self.https_listen = "127.0.0.1:%d" % self.https_port
            if self.admin_port:
                self.admin_listen = "127.0.0.1:%d" % self.admin_port
        self.starts += 1
        self.log = self.env.path("%s.%d.log" % (self.name, self.starts))
        self.proc = Proc(self.env, "%s.%d" % (self.name, self.starts), self.argv(),
                         extra_env=self.extra_env, log=self.log, nofile=self.nofile)
        self.env.logs.append(self.log)
        self.wait_ready(timeout)
        return self

    def events(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return [logfmt(l) for l in f if "ev=" in l]
        except OSError:
            return []

    def wait_ready(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            http = tunnel = admin = None
            for ev in self.events():
                e = ev.get("ev")
                if e == "listen" and ev.get("what") == "http":
                    http = ev.get("addr")
                elif e == "listen" and ev.get("what") == "tunnel":
                    tunnel = ev.get("addr")
                elif e == "listen" and ev.get("what") == "https":
                    self.https_port = int(ev.get("addr").rsplit(":", 1)[1])
                elif e == "admin.listen" or (e == "listen" and ev.get("what") == "admin"):
                    admin = ev.get("addr")
            if http and tunnel:
                self.http_port = int(http.rsplit(":", 1)[1])
                self.tunnel_port = int(tunnel.rsplit(":", 1)[1])
                if admin:
                    self.admin_port = int(admin.rsplit(":", 1)[1])
                if admin or time.monotonic() > deadline - timeout / 2:
                    return
            if not self.proc.alive():
                raise TestFailure("warren-node exited with %s before listening\n%s"
                                  % (self.proc.p.returncode, tail(self.log)))
            time.sleep(0.05)
        raise TestFailure("warren-node did not log its http and tunnel listeners "
                          "within %ss\n%s" % (timeout, tail(self.log)))

    def pids(self):
        return proc_tree(self.proc.pid) if self.proc else []

    def child_pid(self, child):
        """pid of the running warren-<child> under this node, or None."""
        want = "warren-" + child
        for p in proc_children(self.proc.pid):
            if proc_argv0(p) == want and not proc_zombie_or_gone(p):
                return p
        return None

    def wait_child(self, child, not_pid=None, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.child_pid(child)
            if p and p != not_pid:
                return p
            time.sleep(0.05)
        raise TestFailure("warren-node did not (re)start warren-%s within %ss\n%s"
                          % (child, timeout, tail(self.log)))

    def rss_kib(self):
        return sum(proc_status(p, "VmRSS") for p in self.pids())

    def hwm_kib(self):
        return sum(proc_status(p, "VmHWM") for p in self.pids())

    def stop(self, timeout=15):
        """SIGTERM; returns the exit code (None if it had to be killed)."""
        self.proc.signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.proc.stop()
        return rc


URL_RE = re.compile(r"^(?:\[(?P<section>[^\]]+)\]\s+)?(?P<url>(?:https?|tcp)://\S+)\s+->\s+(?P<local>\S+)\s*$")


class Client:
    """build/warren with stdout read line by line in a thread."""

    def __init__(self, env, args, name="client", extra_env=None):
        self.env = env
        self.args = list(args)
        self.name = name
        self.extra_env = extra_env
        self.lines = []
        self.cond = threading.Condition()
        self.starts = 0
        self.start()

    def start(self):
        self.starts += 1
        tag = "%s.%d" % (self.name, self.starts)
        self.log = self.env.path(tag + ".log")
        self.env.logs.append(self.log)
        with self.cond:
            self.lines = []
            self.eof = False
        self.proc = Proc(self.env, tag, [os.path.join(bin_dir(), "warren")] + self.args,
                         stdout=subprocess.PIPE, extra_env=self.extra_env, log=self.log)
        self.stdout_log = self.env.path(tag + ".out")
        t = threading.Thread(target=self._reader, args=(self.proc.p.stdout, self.stdout_log),
                             daemon=True)
        t.start()
        return self

    def _reader(self, f, path):
        with open(path, "w") as out:
            for raw in f:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                out.write(line + "\n")
                out.flush()
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def wait_line(self, regex, timeout=15, start=0):
        """First stdout line at index >= start matching regex -> (index, match)."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self.cond.wait(min(left, 0.2))
        raise TestFailure("client did not print a line matching %r within %ss "
                          "(exit=%s)\nstdout:\n%s\nstderr:\n%s"
                          % (regex, timeout, self.proc.p.poll(),
                             "\n".join(self.lines[-20:]), tail(self.log)))

    def wait_urls(self, count=1, timeout=15, start=0):
        """Waits for `count` URL lines; returns a list of dicts
        {section, url, local, scheme, host, port, line}."""
        out = []
        i = start
        deadline = time.monotonic() + timeout
        while len(out) < count:
            i, m = self.wait_line(URL_RE.pattern, max(0.1, deadline - time.monotonic()), i)
            out.append(parse_url_line(m))
            i += 1
        self.next_line = i
        return out

    def rss_kib(self):
        return proc_status(self.pid, "VmRSS")

    def hwm_kib(self):
        return proc_status(self.pid, "VmHWM")

    def kill(self, sig=signal.SIGKILL):
        self.proc.signal(sig)
        self.proc.wait(5)

    def restart(self):
        self.proc.stop()
        return self.start()


def parse_url_line(m):
    url = m.group("url")
    scheme, rest = url.split("://", 1)
    hostport = rest.split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host:
        host, port = hostport, "80"
    return {"section": m.group("section"), "url": url, "local": m.group("local"),
            "scheme": scheme, "host": host, "port": int(port), "line": m.group(0)}


class Env:
    def __init__(self, name, workdir):
        self.name = name
        self.dir = workdir
        os.makedirs(self.path("home"), exist_ok=True)
        self._procs = []
        self.logs = []
        self.nodes = []
        self.notes = []
        self.soft_failures = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def expect(self, cond, msg):
        """A soft check: records a failure and lets the test go on; the runner
        fails the test at its end. Returns cond."""
        if not cond:
            self.soft_failures.append(msg)
        return cond

    def note(self, msg):
        """A line printed under the test's PASS/FAIL line (figures, bounds)."""
        self.notes.append(msg)

    # -- fixtures -------------------------------------------------------
    def node(self, args=(), start=True, fixed_ports=False, **kw):
        """A started Node. fixed_ports: listen on ports allocated here instead
        of port 0, so a restarted acceptor binds the same ones again."""
        if fixed_ports:
            for k in ("http", "tunnel", "admin"):
                kw.setdefault(k, "127.0.0.1:%d" % free_port())
        n = Node(self, name="n%d" % (len(self.nodes) + 1), args=args, **kw)
        self.nodes.append(n)
        if start:
            n.start()
        return n

    def service(self, kind="http", name="svc"):
        """Starts services.py KIND; returns (port, Proc)."""
        argv = [PYTHON, SERVICES, kind] + (["--name", name] if kind == "http" else [])
        log = self.path("svc-%s-%s.log" % (kind, name))
        p = Proc(self, "svc-%s-%s" % (kind, name), argv, stdout=subprocess.PIPE, log=log)
        # one line, with a deadline (select on the pipe)
        import select
        deadline = time.monotonic() + 10
        buf = b""
        while b"\n" not in buf and time.monotonic() < deadline:
            r, _, _ = select.select([p.p.stdout], [], [], 0.2)
            if r:
                b = os.read(p.p.stdout.fileno(), 256)
                if not b:
                    break
                buf += b
        m = re.search(rb"ready port=(\d+)", buf)
        if not m:
            raise TestFailure("service %s did not start: %r\n%s" % (kind, buf, tail(log)))
        return int(m.group(1)), p

    def http_service(self, name="svc"):
        return self.service("http", name)[0]

    def client(self, args, name="client", extra_env=None):
        # The nodes make a development CA on first start (no --tls-cert):
        # clients verify the node against it, as `make run` shows users.
        e = dict(extra_env or {})
        if self.nodes and "WARREN_CA" not in e:
            e["WARREN_CA"] = os.path.join(self.nodes[-1].data_dir, "tls", "ca.pem")
        return Client(self, args, name=name, extra_env=e)

    def http_tunnel(self, node, local_port, subdomain, extra=(), name=None, timeout=15):
        """Starts `warren http` and waits for its URL line -> (client, urlinfo)."""
        c = self.client(["http", str(local_port), "--server",
                         "127.0.0.1:%d" % node.tunnel_port, "--subdomain", subdomain]
                        + list(extra), name=name or "client-" + subdomain)
        u = c.wait_urls(1, timeout)[0]
        check(u["scheme"] == "http" and u["host"] == "%s.localhost" % subdomain,
              "client URL line %r: want http://%s.localhost:PORT" % (u["line"], subdomain))
        check(u["port"] == node.http_port,
              "client URL port %d, node's http port is %d" % (u["port"], node.http_port))
        return c, u

    def spawn(self, argv, name, stdout=None):
        return Proc(self, name, argv, stdout=stdout)

    def close(self):
        for p in reversed(self._procs):
            try:
                p.stop(grace=2.0)
            except Exception:
                pass

    def diagnostics(self, lines=25):
        out = []
        for log in self.logs:
            out.append("--- %s (last %d lines)" % (os.path.basename(log), lines))
            out.append(tail(log, lines))
        return "\n".join(out)


# --------------------------------------------------------------------------
# HTTP helpers

def request(port, host, method="GET", path="/", body=None, headers=None, timeout=10):
    """One request on a fresh connection -> (status, headers dict lowercased, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Host": host}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def wait_status(port, host, want=200, path="/whoami", timeout=15, every=0.1):
    """Polls until a GET answers `want`; returns (seconds, body). Fails with the
    last status seen."""
    t0 = time.monotonic()
    last = None
    n = 0
    while time.monotonic() - t0 < timeout and n < 100000:
        n += 1
        try:
            st, _, body = request(port, host, path=path, timeout=min(5, timeout))
            last = "status %d body %r" % (st, body[:200])
            if st == want:
                return time.monotonic() - t0, body
        except (OSError, http.client.HTTPException) as e:
            last = "error %r" % e
        time.sleep(every)
    raise TestFailure("GET http://%s%s via 127.0.0.1:%d: want %d within %ss, last: %s"
                      % (host, path, port, want, timeout, last))


def recv_all(s):
    """Everything until EOF; a reset (the node closed on unread input)
    counts as the end too."""
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except ConnectionResetError:
        pass
    return out


def raw_exchange(port, data, timeout=5, until_close=True, max_bytes=1 << 20):
    """Sends raw bytes, reads the answer until close/timeout -> bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while len(out) < max_bytes and time.monotonic() < deadline:
            try:
                s.settimeout(max(0.05, deadline - time.monotonic()))
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
            if not until_close and b"\r\n\r\n" in out:
                break
        return out
    finally:
        s.close()


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


def curl(args, timeout=120, stdout=subprocess.PIPE):
    return subprocess.run(["curl", "-sS"] + list(args), stdout=stdout,
                          stderr=subprocess.PIPE, timeout=timeout)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


def jloads(b):
    return json.loads(b.decode())


def read_response(f, max_body=64 << 20):
    """Parses one HTTP/1.1 response from a binary file object (sock.makefile('rb'))
    -> (status, headers dict lowercased, body), or None on a clean EOF first."""
    line = f.readline(8192)
    if not line:
        return None
    m = re.match(rb"HTTP/1\.[01] (\d{3})", line)
    if not m:
        raise TestFailure("bad status line %r" % line[:200])
    status = int(m.group(1))
    headers = {}
    for _ in range(200):
        h = f.readline(65536)
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        for _ in range(1 << 20):
            size = int(f.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                f.readline(1024)
                break
            parts.append(f.read(size))
            f.readline(16)
        body = b"".join(parts)
    elif "content-length" in headers:
        n = int(headers["content-length"])
        check(n <= max_body, "response body too large for the test: %d" % n)
        body = f.read(n)
    elif status not in (204, 304) and headers.get("connection", "").lower() == "close":
        body = f.read(max_body)
    return status, headers, body


def free_port_in(lo, hi, tries=200):
    """A loopback port in [lo, hi] that binds now."""
    import random
    r = random.Random(os.getpid() ^ int(time.time()))
    for _ in range(tries):
        p = r.randint(lo, hi)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise TestFailure("no free port in %d-%d" % (lo, hi))


def tcp_exchange(port, data, chunk=65536, timeout=30):
    """Writes data (then shuts down the write side) while reading; returns
    (bytes back, whether EOF came)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    err = []

    def writer():
        try:
            for i in range(0, len(data), chunk):
                s.sendall(data[i:i + chunk])
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    got = bytearray()
    eof = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(got) <= len(data):
            b = s.recv(262144)
            if not b:
                eof = True
                break
            got += b
    except (socket.timeout, ConnectionResetError) as e:
        err.append(e)
    finally:
        t.join(5)
        s.close()
    return bytes(got), eof, err


SKIPPED = 77    # exit status of a standalone run that could not run (not a pass)


def standalone(name, run, missing_reason):
    """Runs run(env) as a program (tests/cluster/*.py): 0 passed, 1 failed,
    SKIPPED when missing_reason() says it cannot run here."""
    import shutil
    import tempfile
    why = missing_reason()
    if why:
        print("SKIP %s: %s" % (name, why))
        return SKIPPED
    workdir = tempfile.mkdtemp(prefix="warren-%s-" % name)
    env = Env(name, workdir)
    try:
        run(env)
    except TestFailure as e:
        print("FAIL %s: %s\n%s\n(logs in %s)" % (name, e, env.diagnostics(), workdir))
        return 1
    finally:
        env.close()
    for n in env.notes:
        print("  " + n)
    print("PASS " + name)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0
