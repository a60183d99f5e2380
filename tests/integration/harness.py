# SPDX-License-Identifier: BSD-2-Clause
"""Integration test harness for hfgate: starts the fake HF upstream and the daemon.

All traffic goes to 127.0.0.1. No fixed sleeps: every wait polls a condition with a
deadline (wait_until).
"""

import atexit
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOP_SRCDIR = os.path.abspath(os.environ.get("top_srcdir") or REPO)
TOP_BUILDDIR = os.path.abspath(os.environ.get("top_builddir") or REPO)
DATA_DIR = os.path.join(TOP_SRCDIR, "tests", "data")
DEFAULT_MODELS_FILE = os.path.join(TOP_SRCDIR, "etc", "default-models.tsv")
HFGATE_BIN = os.environ.get("HFGATE_BIN") or os.path.join(TOP_BUILDDIR, "src", "hfgate")
FAKE_BIN = os.environ.get("HFGATE_FAKE_UPSTREAM") or os.path.join(
    TOP_BUILDDIR, "tests", "fake_upstream")

TASKS_DEF = os.path.join(TOP_SRCDIR, "src", "tasks.def")


def _load_tasks(path=TASKS_DEF):
    """(name, pipeline) of each TASK("name", input, pipeline, accept) row of
    src/tasks.def, in file order."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r'TASK\("([^"]+)",\s*\w+,\s*([01]),', line)
            if m:
                rows.append((m.group(1), m.group(2) == "1"))
    if not rows:
        raise RuntimeError("%s: no TASK rows" % path)
    return rows


# The 26 tasks of the HF Inference API (huggingface_hub v0.18), alphabetical, from
# the file hfgate and the fake upstream are built from.
_TASK_ROWS = _load_tasks()
TASKS = [name for name, _ in _TASK_ROWS]
PIPELINE_TASKS = tuple(name for name, pipeline in _TASK_ROWS if pipeline)
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer")
START_TIMEOUT = float(os.environ.get("HFGATE_TEST_START_TIMEOUT", "20"))
HTTP_TIMEOUT = 60.0


_TMPDIRS = []


def _cleanup_tmpdirs():
    if not os.environ.get("HFGATE_TEST_KEEP"):
        for d in _TMPDIRS:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_tmpdirs)


def mkdtemp(prefix):
    """A temporary directory removed at exit (kept when HFGATE_TEST_KEEP is set)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _TMPDIRS.append(d)
    return d


def wait_until(fn, timeout, interval=0.01, what="condition"):
    """Polls fn() until it returns a true value, which is returned; raises
    AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def upstream_path(task, model):
    if task in PIPELINE_TASKS:
        return "/pipeline/%s/%s" % (task, model)
    return "/models/%s" % model


def load_default_models(path=DEFAULT_MODELS_FILE):
    """task -> model from the default-models data file (task<TAB or spaces>model)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) >= 2:
                out[parts[0]] = parts[1]
    return out


def load_client_requests(path=None):
    """The recorded v0.18 client requests, each with "raw" = the exact body bytes."""
    path = path or os.path.join(DATA_DIR, "client-requests-v018.jsonl")
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            e = json.loads(line)
            b = e.get("body")
            if b is None:
                raw = b""
            elif e.get("body_is_base64"):
                raw = base64.b64decode(b)
            else:
                # The recorder stored each byte as one code point (latin-1).
                raw = b.encode("latin-1")
            if len(raw) != e.get("body_len", len(raw)):
                raise ValueError("body_len mismatch in %s: %r" % (path, e["path"]))
            e["raw"] = raw
            out.append(e)
    return out


def first_request_for_task(task, entries=None):
    """The first recorded client request for mock/<task>, or None."""
    entries = entries if entries is not None else load_client_requests()
    want = upstream_path(task, "mock/" + task)
    for e in entries:
        if e["method"] == "POST" and e["path"] == want:
            return e
    return None


def http_request(port, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
    """One HTTP/1.1 request to 127.0.0.1:port. Returns (status, headers, body) with
    header names lowercased (repeated headers joined with ", ")."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, bytearray, str)):
            conn.request(method, path, body=body, headers=hdrs, encode_chunked=True)
        else:
            if isinstance(body, str):
                body = body.encode("utf-8")
            conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        h = {}
        for k, v in resp.getheaders():
            k = k.lower()
            h[k] = h[k] + ", " + v if k in h else v
        return resp.status, h, data
    finally:
        conn.close()


def read_text(path):
    """A log file's text so far ("" while it does not exist)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def terminate(proc, timeout):
    """SIGTERM and a bounded wait, then SIGKILL; True when proc ended by itself."""
    if proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        kill(proc)
        return False


def kill(proc):
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(5)


class Fake:
    """The fake Hugging Face upstream (tests/fake_upstream)."""

    def __init__(self):
        self.proc = None
        self.port = None
        self.tmp = mkdtemp("hfgate-fake-")
        self.log_path = os.path.join(self.tmp, "fake.stderr")
        self._out = []

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        if not os.access(FAKE_BIN, os.X_OK):
            raise AssertionError("fake upstream not built: %s" % FAKE_BIN)
        args = [FAKE_BIN, "--port", "0"]
        if os.path.isdir(DATA_DIR):
            args += ["--data", DATA_DIR]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._log)
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + START_TIMEOUT
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError("fake upstream printed no PORT line within %.0fs"
                                     % START_TIMEOUT)
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(5)
                    raise AssertionError("fake upstream exited (%s) before PORT: %s"
                                         % (self.proc.returncode, self.log_text()))
                buf += chunk
        line, rest = buf.split(b"\n", 1)
        m = re.fullmatch(rb"PORT (\d+)", line.strip())
        if not m:
            self.kill()
            raise AssertionError("unexpected first line from fake: %r" % line)
        self.port = int(m.group(1))
        self._out.append(rest)
        # Drain stdout so the fake can never block on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        try:
            for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
                self._out.append(chunk)
        except (OSError, ValueError):
            pass

    def request(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        return http_request(self.port, method, path, body, headers, timeout)

    def _json(self, method, path):
        st, _, body = self.request(method, path)
        if st != 200:
            raise AssertionError("fake %s %s -> %d %r" % (method, path, st, body[:200]))
        return json.loads(body)

    def stats(self):
        return self._json("GET", "/__fake/stats")

    def requests(self):
        return self._json("GET", "/__fake/requests")

    def reset(self):
        return self._json("POST", "/__fake/reset")

    def count(self, path):
        return self.stats().get("paths", {}).get(path, 0)

    def log_text(self):
        return read_text(self.log_path)

    def stop(self, timeout=10):
        if self.proc is None:
            return None
        terminate(self.proc, timeout)
        return self.proc.returncode

    def kill(self):
        kill(self.proc)

    def problems(self):
        text = self.log_text()
        return ["fake upstream stderr has a sanitizer report:\n" + text[-4000:]
                for m in SANITIZER_MARKERS if m in text][:1]


def render_config(sections):
    """INI text from an ordered {section: {key: value}} mapping."""
    out = []
    for name, kv in sections.items():
        out.append("[%s]" % name)
        for k, v in kv.items():
            out.append("%s = %s" % (k, v))
        out.append("")
    return "\n".join(out)


class Gateway:
    """One hfgate process with its own config file, token file and stderr log."""

    # The first plain address's line (main.c logs one per address); port: group 1.
    LISTEN_RX = re.compile(r"hfgate: listening on (?:http://)?127\.0\.0\.1:(\d+)")

    def __init__(self, fake=None, config=None, upstream_url=None):
        self.tmp = mkdtemp("hfgate-it-")
        self.secret = "hf_TESTSECRET_" + secrets.token_hex(12)
        self.token_path = os.path.join(self.tmp, "token")
        with open(self.token_path, "w") as f:
            f.write("  " + self.secret + "\n")	# whitespace must be trimmed
        self.conf_path = os.path.join(self.tmp, "hfgate.conf")
        self.log_path = os.path.join(self.tmp, "hfgate.stderr")
        self.fake = fake
        url = upstream_url or (fake.url if fake else "http://127.0.0.1:%d" % free_port())
        sections = {
            "server": {
                "listen": "127.0.0.1:0",
                "default_models_file": DEFAULT_MODELS_FILE,
                "grace_seconds": "3",
            },
            "upstream": {
                "url": url,
                # Model look-ups go to the fake too: tests never leave loopback.
                "hub_url": url,
                "token_file": self.token_path,
                "connect_timeout_ms": "2000",
                "deadline_ms": "10000",
                "max_attempts": "3",
                "backoff_base_ms": "20",
                "backoff_max_ms": "200",
            },
            "cache": {"enabled": "no"},
            # Usage counts of this gateway only (never the host's /var/lib file).
            "usage": {"db": os.path.join(self.tmp, "usage.db")},
        }
        subst = {"fake_url": fake.url if fake else url, "upstream_url": url}
        for sec, kv in (config or {}).items():
            d = sections.setdefault(sec, {})
            for k, v in kv.items():
                if v is None:
                    d.pop(k, None)
                else:
                    d[k] = str(v).format(**subst)
        self.sections = sections
        with open(self.conf_path, "w") as f:
            f.write(render_config(sections))
        self.proc = None
        self.port = None
        self.leaks = []		# secret seen in a response: descriptions
        self.exit_code = None

    @staticmethod
    def env():
        env = dict(os.environ)
        for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CREDENTIALS_DIRECTORY",
                  "NOTIFY_SOCKET"):
            env.pop(k, None)
        return env

    def start(self, extra_args=()):
        if not os.access(HFGATE_BIN, os.X_OK):
            raise AssertionError("hfgate not built: %s" % HFGATE_BIN)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([HFGATE_BIN, "-c", self.conf_path] + list(extra_args),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._log, env=self.env())
        rx = self.LISTEN_RX

        def ready():
            m = rx.search(self.log_text())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError("hfgate exited with %d at start-up:\n%s"
                                     % (self.proc.returncode, self.log_text()))
            return None
        m = wait_until(ready, START_TIMEOUT, what="hfgate's listening line")
        self.port = int(m.group(1))
        return self

    def log_text(self):
        return read_text(self.log_path)

    def _check_leak(self, what, headers, body):
        s = self.secret
        for k, v in headers.items():
            if s in v or s in k:
                self.leaks.append("%s: response header %s" % (what, k))
        if s.encode() in body:
            self.leaks.append("%s: response body" % what)

    def request(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        st, h, b = http_request(self.port, method, path, body, headers, timeout)
        # Even from an upstream that echoes it (fake/echo-auth*), never the token.
        self._check_leak("%s %s" % (method, path), h, b)
        return st, h, b

    def request_json(self, method, path, obj, headers=None, **kw):
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        return self.request(method, path, json.dumps(obj).encode(), hdrs, **kw)

    def healthy(self):
        st, _, body = self.request("GET", "/healthz", timeout=10)
        return st == 200 and json.loads(body).get("status") == "ok"

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.exit_code

    def stop(self, timeout=15):
        """SIGTERM and a bounded wait; returns the exit code (killed: negative)."""
        if self.proc is None:
            return None
        if not terminate(self.proc, timeout):
            self.exit_code = "killed after %ds" % timeout
            return self.exit_code
        if self.exit_code is None:
            self.exit_code = self.proc.returncode
        return self.exit_code

    def kill(self):
        kill(self.proc)

    def problems(self, expect_exit=0):
        """What is wrong after stop(): sanitizer reports, the secret in the log or in
        a response, a bad exit status."""
        out = []
        text = self.log_text()
        for m in SANITIZER_MARKERS:
            if m in text:
                out.append("hfgate stderr has a sanitizer report:\n" + text[-6000:])
                break
        if self.secret in text:
            out.append("the token appears in hfgate's stderr log")
        if self.leaks:
            out.append("the token appears in responses: " + "; ".join(self.leaks[:10]))
        if expect_exit is not None and self.exit_code != expect_exit:
            out.append("hfgate exit status after SIGTERM: %r (expected %r)"
                       % (self.exit_code, expect_exit))
        return out


def key_sha256(key):
    """What [client NAME] key_sha256 holds for a client key."""
    return hashlib.sha256(key.encode()).hexdigest()


def merge_config(*configs):
    """{section: {key: value}} mappings merged left to right (later keys win)."""
    out = {}
    for c in configs:
        for sec, kv in (c or {}).items():
            out.setdefault(sec, {}).update(kv)
    return out


def cache_config(db_path, **keys):
    """Config turning the result cache on with its own SQLite file (the default
    config has [cache] enabled = no); keys add [cache] settings (max_bytes, ...)."""
    kv = {"enabled": "yes", "db": db_path}
    kv.update({k: str(v) for k, v in keys.items()})
    # With the cache on, usage is counted in the cache's file.
    return {"cache": kv, "usage": {"db": db_path}}


class GatewayTestCase(unittest.TestCase):
    """One fake + one gateway per test class; the fake is reset before each test.
    Subclasses set CONFIG = {section: {key: value}} (values may use {fake_url});
    DEAD_UPSTREAM = True points the gateway at a closed port; CACHE = True turns the
    result cache on with a fresh database file of the class (cls.cache_db), CONFIG
    may add [cache] keys."""

    CONFIG = {}
    DEAD_UPSTREAM = False
    CACHE = False
    UPSTREAM_PATH = ""	# under the fake: "/router/hf-inference" is today's router

    @classmethod
    def setUpClass(cls):
        cls.fake = Fake()
        cls.addClassCleanup(cls.fake.kill)
        cls.fake.start()
        url = "http://127.0.0.1:%d" % free_port() if cls.DEAD_UPSTREAM else None
        if url is None and cls.UPSTREAM_PATH:
            url = cls.fake.url + cls.UPSTREAM_PATH
        config = cls.CONFIG
        if cls.CACHE:
            cls.cache_db = os.path.join(mkdtemp("hfgate-cache-"), "cache.db")
            config = merge_config(cache_config(cls.cache_db), cls.CONFIG)
        cls.gw = Gateway(cls.fake, config, upstream_url=url)
        cls.addClassCleanup(cls.gw.kill)
        cls.gw.start()
        cls.secret = cls.gw.secret

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.stop()
        problems = cls.gw.problems() + cls.fake.problems()
        if problems:
            raise AssertionError("\n".join(problems))

    def setUp(self):
        self.fake.reset()

    # helpers ---------------------------------------------------------------

    def assert_json_error(self, status, headers, body, want_status, want_type=None):
        """A gateway-made error: status, application/json, {"error","error_type"}."""
        self.assertEqual(status, want_status, body[:300])
        self.assertEqual(headers.get("content-type", "").split(";")[0].strip(),
                         "application/json", headers)
        obj = json.loads(body)
        self.assertIsInstance(obj, dict)
        self.assertIsInstance(obj.get("error"), str, obj)
        self.assertTrue(obj["error"], obj)
        self.assertIsInstance(obj.get("error_type"), str, obj)
        if want_type is not None:
            self.assertEqual(obj["error_type"], want_type, obj)
        self.assertIn("x-request-id", headers)
        return obj

    def assert_healthy(self):
        self.assertTrue(self.gw.healthy(), "GET /healthz failed")

    def wait_upstream(self, path=None, n=1, timeout=3):
        """The fake's logged requests (for path, if given), once at least n are there:
        the fake may log a request when it completes, just after we got the answer."""
        def get():
            reqs = self.fake.requests()
            if path is not None:
                reqs = [r for r in reqs if r["path"] == path]
            return reqs if len(reqs) >= n else None
        try:
            return wait_until(get, timeout, interval=0.02)
        except AssertionError:
            seen = [(r["method"], r["path"]) for r in self.fake.requests()]
            self.fail("the fake did not receive %d request(s)%s; it saw: %r"
                      % (n, " for " + path if path else "", seen))

    def last_upstream(self, path=None):
        """The fake's last logged request (optionally: the last one for path)."""
        return self.wait_upstream(path)[-1]

    @staticmethod
    def upstream_body(rec):
        return base64.b64decode(rec.get("body_b64", ""))


class FakeTestCase(unittest.TestCase):
    """One fake upstream per class, reset before each test; its log is checked at
    the end of the class."""

    @classmethod
    def setUpClass(cls):
        cls.fake = Fake()
        cls.addClassCleanup(cls.fake.kill)
        cls.fake.start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        problems = cls.fake.problems()
        if problems:
            raise AssertionError("\n".join(problems))

    def setUp(self):
        self.fake.reset()


class FreshGatewayTestCase(FakeTestCase):
    """A new gateway per test (for tests that need a cold upstream connection pool or
    end the daemon). start_gateway() registers the stop and the log checks
    (sanitizers, token, exit status 0) as test cleanups."""

    def start_gateway(self, config=None, check_on_cleanup=True, upstream_url=None,
                      extra_args=(), gateway_class=None):
        gw = (gateway_class or Gateway)(self.fake, config, upstream_url=upstream_url)
        self.addCleanup(gw.kill)
        gw.start(extra_args)
        if check_on_cleanup:
            def check():
                gw.stop()
                problems = gw.problems(expect_exit=0)
                if problems:
                    raise AssertionError("\n".join(problems))
            self.addCleanup(check)
        return gw
