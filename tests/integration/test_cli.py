# SPDX-License-Identifier: BSD-2-Clause
"""Command line and configuration-file handling; SIGHUP reload."""

import json
import os
import re
import signal
import subprocess
import unittest

import harness
from harness import FakeTestCase, Gateway, HFGATE_BIN, wait_until


def run(args, timeout=15):
    p = subprocess.run([HFGATE_BIN] + args, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, env=Gateway.env())
    err = p.stderr.decode("utf-8", "replace")
    for m in harness.SANITIZER_MARKERS:
        if m in err:
            raise AssertionError("sanitizer report from hfgate %s:\n%s" % (args, err[-4000:]))
    return p.returncode, p.stdout.decode("utf-8", "replace"), err


class Cli(unittest.TestCase):

    def setUp(self):
        if not os.access(HFGATE_BIN, os.X_OK):
            self.fail("hfgate not built: %s" % HFGATE_BIN)
        # A gateway object only to get a config and token file; never started.
        self.gw = Gateway(None)

    def write_conf(self, text):
        with open(self.gw.conf_path, "w") as f:
            f.write(text)
        return self.gw.conf_path

    def test_version(self):
        for flag in ("--version", "-V"):
            with self.subTest(flag=flag):
                code, out, err = run([flag])
                self.assertEqual(code, 0)
                self.assertTrue(out.startswith("hfgate 0.1.0\n"), out)
                # The libraries it runs with, as they report themselves.
                for lib in (r"libmicrohttpd \d+\.\d+", r"libcurl/\d+\.\d+",
                            r"SQLite 3\.\d+", r"cJSON \d+\.\d+"):
                    self.assertRegex(out, lib)

    def test_v_alone_at_a_terminal_says_what_it_is(self):
        import pty
        import select
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(HFGATE_BIN, [HFGATE_BIN, "-v"], Gateway.env())
        out = b""
        try:
            def said():
                nonlocal out
                r, _, _ = select.select([fd], [], [], 0.1)
                if r:
                    try:
                        out += os.read(fd, 4096)
                    except OSError:
                        return True
                return b"-V" in out
            wait_until(said, 10, what="the -v hint")
        finally:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
            os.close(fd)
        self.assertIn(b"-v is --verbose", out)
        # Not at a terminal (a unit, a script): no hint.
        code, out2, err = run(["-t", "-v", "-c", self.gw.conf_path])
        self.assertNotIn("-v is --verbose", err)

    def test_help(self):
        code, out, err = run(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("--config", out + err)

    def test_bad_usage_exit_2(self):
        code, _, _ = run(["--no-such-flag"])
        self.assertEqual(code, 2)

    def test_check_config_ok(self):
        for flag in ("--check-config", "-t"):
            with self.subTest(flag=flag):
                code, out, err = run(["-c", self.gw.conf_path, flag])
                self.assertEqual(code, 0, err)
                self.assertIn("configuration OK", out + err)

    def test_check_config_names_default_models(self):
        """--check-config says where the default models come from: the data file when
        it is there, else the table built into hfgate."""
        code, out, err = run(["-c", self.gw.conf_path, "--check-config"])
        self.assertEqual(code, 0, err)
        self.assertIn("default models: %s (26 tasks)\n" % harness.DEFAULT_MODELS_FILE, out)
        missing = os.path.join(self.gw.tmp, "none", "default-models.tsv")
        secs = json.loads(json.dumps(self.gw.sections))
        secs["server"]["default_models_file"] = missing
        path = self.write_conf(harness.render_config(secs))
        code, out, err = run(["-c", path, "--check-config"])
        self.assertEqual(code, 0, err)
        self.assertIn("configuration OK\n", out)
        self.assertIn("default models: built-in table (26 tasks; %s not found)\n"
                      % missing, out)

    def test_check_config_checks_files_and_tls(self):
        """-t also checks what the daemon would find only once running."""
        from test_network import make_cert
        tmp = harness.mkdtemp("hfgate-check-")
        blocker = os.path.join(tmp, "file")
        with open(blocker, "w") as f:
            f.write("x")
        base = harness.render_config(self.gw.sections)
        cases = [
            ("[cache]\nenabled = yes\ndb = %s/cache.db\n" % blocker,
             "cache db %s/cache.db: cannot be created" % blocker),
            ("[server]\naccess_log = %s/access.log\n" % blocker,
             "access_log %s/access.log: cannot be created" % blocker),
        ]
        cert, key = make_cert(tmp)
        other = os.path.join(tmp, "other")
        os.mkdir(other)
        _, key2 = make_cert(other)
        cases.append(("[server]\ntls_listen = 127.0.0.1:0\ntls_cert = %s\n"
                      "tls_key = %s\n" % (cert, key2),
                      "tls_key does not fit tls_cert's certificate"))
        for extra, want in cases:
            with self.subTest(want=want):
                path = self.write_conf(base + "\n" + extra)
                code, out, err = run(["-t", "-c", path])
                self.assertEqual(code, 2, err)
                self.assertIn(want, err)
        # The matching pair passes.
        path = self.write_conf(base + "\n[server]\ntls_listen = 127.0.0.1:0\n"
                               "tls_cert = %s\ntls_key = %s\n" % (cert, key))
        code, out, err = run(["-t", "-c", path])
        self.assertEqual(code, 0, err)

    def test_dump_config_redacts_secrets_and_loads_back(self):
        from test_network import make_cert
        tmp = harness.mkdtemp("hfgate-dump-")
        cert, key = make_cert(tmp)
        admin_hash = harness.key_sha256("admin-secret-key")
        client_hash = harness.key_sha256("client-secret-key")
        with open(key) as f:
            key_text = f.read()
        base = harness.render_config(self.gw.sections)
        path = self.write_conf(base + (
            "\n[server]\ngrace_seconds = 2m\ntls_listen = 127.0.0.1:0\n"
            "tls_cert = %s\ntls_key = %s\n[admin]\nkey_sha256 = %s\n"
            "[client team-a]\nkey_sha256 = %s\nrate = 60\n" % (cert, key, admin_hash,
                                                                client_hash)))
        code, out, err = run(["-T", "-c", path])
        self.assertEqual(code, 0, err)
        for secret in (admin_hash, client_hash, self.gw.secret, key_text.split("\n")[1]):
            self.assertNotIn(secret, out)
            self.assertNotIn(secret, err)
        self.assertIn("grace_seconds = 120\n", out)
        self.assertIn("tls_key = <redacted>\n", out)
        self.assertIn("[client team-a]\nkey_sha256 = <redacted>\n", out)
        self.assertIn("rate = 60\n", out)
        # The dump is a configuration file; without its secrets it says what is
        # missing, with them back it loads.
        dumped = os.path.join(tmp, "dumped.conf")
        with open(dumped, "w") as f:
            f.write(out.replace("tls_key = <redacted>", "tls_key = " + key)
                    .replace("tls_cert = <loaded>", "tls_cert = " + cert)
                    # [admin] comes first, then the client.
                    .replace("key_sha256 = <redacted>", "key_sha256 = " + admin_hash, 1)
                    .replace("key_sha256 = <redacted>", "key_sha256 = " + client_hash))
        code, out2, err2 = run(["-T", "-c", dumped])
        self.assertEqual(code, 0, err2)
        self.assertEqual(out2.split("\n")[1:], out.split("\n")[1:])

    def test_unknown_key_exit_2_with_location(self):
        text = harness.render_config(self.gw.sections)
        lines = text.split("\n")
        idx = lines.index("[upstream]") + 1
        lines.insert(idx, "no_such_key = 1")
        path = self.write_conf("\n".join(lines))
        for extra in ([], ["--check-config"], ["-t"]):
            with self.subTest(args=extra):
                code, out, err = run(["-c", path] + extra)
                self.assertEqual(code, 2, err)
                self.assertIn("%s:%d:" % (path, idx + 1), err)

    def test_unknown_section_exit_2(self):
        path = self.write_conf(harness.render_config(self.gw.sections) + "\n[bogus]\na = b\n")
        code, _, err = run(["-c", path, "--check-config"])
        self.assertEqual(code, 2)
        self.assertRegex(err, re.escape(path) + r":\d+:")

    def test_bad_value_exit_2(self):
        secs = json.loads(json.dumps(self.gw.sections))
        secs["upstream"]["max_attempts"] = "lots"
        path = self.write_conf(harness.render_config(secs))
        code, _, err = run(["-c", path, "--check-config"])
        self.assertEqual(code, 2)
        self.assertRegex(err, re.escape(path) + r":\d+:")

    def test_missing_config_file_exit_2(self):
        code, _, err = run(["-c", os.path.join(self.gw.tmp, "nope.conf"), "--check-config"])
        self.assertEqual(code, 2)
        self.assertTrue(err.strip())

    def test_check_config_does_not_print_token(self):
        code, out, err = run(["-c", self.gw.conf_path, "--check-config", "-v"])
        self.assertNotIn(self.gw.secret, out + err)


class CliOverrides(FakeTestCase):
    """Flags override the file; SIGHUP reloads default models."""

    def start(self, config=None, args=()):
        gw = Gateway(self.fake, config)
        self.addCleanup(gw.kill)
        gw.start(list(args))
        return gw

    def stop_clean(self, gw):
        gw.stop()
        problems = gw.problems(expect_exit=0)
        self.assertFalse(problems, "\n".join(problems))

    def test_upstream_flag_overrides_file(self):
        gw = Gateway(self.fake, {"upstream": {"url": "http://127.0.0.1:%d" % harness.free_port()}})
        self.addCleanup(gw.kill)
        gw.start(["-u", self.fake.url])
        self.fake.reset()
        st, _, b = gw.request("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}',
                              {"Content-Type": "application/json"})
        self.assertEqual(st, 200, b[:200])
        self.stop_clean(gw)

    def test_token_file_flag(self):
        gw = Gateway(self.fake)
        other = os.path.join(gw.tmp, "other-token")
        with open(other, "w") as f:
            f.write("hf_TESTSECRET_other\n")
        self.addCleanup(gw.kill)
        gw.start(["--token-file", other])
        self.fake.reset()
        gw.request("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}')
        reqs = self.fake.requests()
        self.assertEqual(reqs[-1]["headers"].get("authorization"), "Bearer hf_TESTSECRET_other")
        gw.secret = "hf_TESTSECRET_other"
        self.stop_clean(gw)

    def test_sighup_reloads_default_models(self):
        gw = self.start()
        st, _, b = gw.request("GET", "/v1/tasks")
        self.assertEqual(st, 200)
        self.assertNotEqual(json.loads(b)["fill-mask"], "mock/fill-mask")
        with open(gw.conf_path, "a") as f:
            f.write("\n[default-models]\nfill-mask = mock/fill-mask\n")
        gw.signal(signal.SIGHUP)

        def reloaded():
            return json.loads(gw.request("GET", "/v1/tasks")[2]).get("fill-mask") \
                == "mock/fill-mask"
        wait_until(reloaded, 5, interval=0.05, what="SIGHUP reload of [default-models]")
        self.fake.reset()
        st, h, _ = gw.request("POST", "/v1/fill-mask", b'{"inputs": "a <mask>"}',
                              {"Content-Type": "application/json"})
        self.assertEqual(st, 200)
        self.assertEqual(h.get("x-hfgate-model"), "mock/fill-mask")
        self.stop_clean(gw)


if __name__ == "__main__":
    unittest.main()
