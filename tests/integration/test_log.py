# SPDX-License-Identifier: BSD-2-Clause
"""The log: what a client sends cannot forge or garble a line (docs/api.md, "The
access log")."""

import json
import os
import re
import signal
import subprocess
import unittest

import harness
from harness import (FreshGatewayTestCase, Gateway, GatewayTestCase, HFGATE_BIN,
                     wait_until)


class AccessLogEscaping(GatewayTestCase):

    def raw_log(self):
        with open(self.gw.log_path, "rb") as f:
            return f.read()

    def access_line(self, rid):
        """The access line of the request with X-Request-Id rid, as bytes."""
        def find():
            for line in self.raw_log().split(b"\n"):
                if line.endswith(b" id=" + rid.encode()):
                    return line
            return None
        return wait_until(find, 5, what="the access line of " + rid)

    def test_forged_line(self):
        # A CR LF in the path would start a line of the attacker's choosing.
        st, _, _ = self.gw.request(
            "POST", "/models/b%0d%0ahfgate:%20POST%20/v1/x%20client=team-a%20status=200",
            b"x", {"X-Request-Id": "forge-1"})
        self.assertEqual(st, 400)
        line = self.access_line("forge-1")
        self.assertRegex(line.decode(),
                         r'^hfgate: POST "/models/b\\r\\nhfgate: POST /v1/x client=team-a '
                         r'status=200" client=- addr=127\.0\.0\.1 model=- status=400 '
                         r'ms=\d+ attempts=0 in=\d+ out=\d+ id=forge-1$')
        for other in self.raw_log().split(b"\n"):
            self.assertFalse(other.startswith(b"hfgate: POST /v1/x"), other)
            self.assertNotIn(b"\r", other)

    def test_quotes_controls_and_bytes_not_utf8(self):
        st, _, _ = self.gw.request("GET", "/a%22b%5Cc%ff%c3%a9%1b[31m%09%7f",
                                   None, {"X-Request-Id": "forge-2"})
        self.assertEqual(st, 404)
        line = self.access_line("forge-2")
        self.assertTrue(line.startswith(
            b'hfgate: GET /a\\"b\\\\c\\xff\xc3\xa9\\u001b[31m\\t\\u007f client=- '
            b'addr=127.0.0.1 model=- status=404 '), line)
        log = self.raw_log()
        for b in (b"\x1b", b"\x7f", b"\xff", b"\t"):
            self.assertNotIn(b, log)

    def test_address_of_the_client(self):
        st, _, _ = self.gw.request("GET", "/healthz", None, {"X-Request-Id": "addr-1"})
        self.assertEqual(st, 200)
        self.assertRegex(self.access_line("addr-1").decode(),
                         r"^hfgate: GET /healthz client=- addr=127\.0\.0\.1 model=- "
                         r"status=200 ms=\d+ attempts=0 in=0 out=15 id=addr-1$")


if __name__ == "__main__":
    unittest.main()


class JournalGateway(Gateway):
    """stderr is "journald's": JOURNAL_STREAM names the log file's device and inode,
    as systemd does for a unit's stream (systemd.exec(5))."""

    def env(self):
        e = Gateway.env()
        st = os.stat(self.log_path)
        e["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        return e


class QuietGateway(Gateway):
    """Started on a fixed port and found by /healthz: with log_level above info the
    "listening on" line the harness reads is not logged."""

    def start(self, extra_args=()):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([HFGATE_BIN, "-c", self.conf_path],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._log, env=self.env())
        self.port = int(self.sections["server"]["listen"].rsplit(":", 1)[1])

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("hfgate exited: %s" % self.log_text())
            try:
                return self.healthy()
            except OSError:
                return False
        wait_until(up, 10, what="hfgate's /healthz")
        return self


class LogPriorities(FreshGatewayTestCase):

    def lines(self, gw):
        return [l for l in gw.log_text().split("\n") if l]

    def test_journald_gets_a_priority_per_line(self):
        gw = self.start_gateway(gateway_class=JournalGateway)
        st, _, _ = gw.request("GET", "/healthz", headers={"X-Request-Id": "pri-1"})
        self.assertEqual(st, 200)
        st, _, _ = gw.request("GET", "/nowhere", headers={"X-Request-Id": "pri-2"})
        self.assertEqual(st, 404)
        wait_until(lambda: "id=pri-2" in gw.log_text(), 5, what="the access lines")
        lines = self.lines(gw)
        for line in lines:
            self.assertRegex(line, r"^<[3-7]>hfgate: ", line)
        self.assertTrue(any(l.startswith("<6>hfgate: listening on http://") for l in lines))
        access = [l for l in lines if "id=pri-" in l]
        self.assertEqual(len(access), 2)
        self.assertTrue(all(l.startswith("<6>") for l in access), access)
        # A reload of a broken file is an error.
        with open(gw.conf_path, "a") as f:
            f.write("\n[server]\nno_such_key = 1\n")
        gw.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in gw.log_text(), 5, what="the reload error")
        failed = [l for l in self.lines(gw) if "reload failed" in l]
        self.assertTrue(failed[0].startswith("<3>hfgate: reload failed"), failed)

    def test_plain_text_when_stderr_is_not_the_journal(self):
        class Elsewhere(Gateway):
            def env(self):
                e = Gateway.env()
                e["JOURNAL_STREAM"] = "1:1"
                return e
        gw = self.start_gateway(gateway_class=Elsewhere)
        self.assertEqual(gw.request("GET", "/healthz")[0], 200)
        for line in self.lines(gw):
            self.assertTrue(line.startswith("hfgate: "), line)

    def test_log_level_warning_keeps_warnings_only(self):
        port = harness.free_port()
        gw = self.start_gateway(
            {"server": {"listen": "127.0.0.1:%d" % port, "log_level": "warning"},
             "upstream": {"token_file": None}},
            gateway_class=QuietGateway)
        st, _, _ = gw.request("GET", "/nowhere", headers={"X-Request-Id": "quiet-1"})
        self.assertEqual(st, 404)
        text = gw.log_text()
        # The token warning is there; no info line, no access line.
        self.assertIn("no Hugging Face token found", text)
        self.assertNotIn("listening on", text)
        self.assertNotIn("quiet-1", text)

    def test_bad_log_level_is_a_config_error(self):
        gw = Gateway(self.fake, {"server": {"log_level": "loud"}})
        p = subprocess.run([HFGATE_BIN, "-t", "-c", gw.conf_path], capture_output=True,
                           env=Gateway.env(), timeout=15)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"log_level: 'loud' is not error, warning, info or debug", p.stderr)


class Watchdog(FreshGatewayTestCase):
    """WatchdogSec=: WATCHDOG=1 comes every half period while the loops run
    (docs/operations.md, "The unit")."""

    def test_pings_the_watchdog(self):
        import socket
        import time
        tmp = harness.mkdtemp("hfgate-notify-")
        path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        self.addCleanup(sock.close)

        class Notified(Gateway):
            def env(self):
                e = Gateway.env()
                e["NOTIFY_SOCKET"] = path
                e["WATCHDOG_USEC"] = "2000000"
                return e
        gw = self.start_gateway(gateway_class=Notified)
        sock.settimeout(0.5)
        got, pings, t0 = [], [], time.monotonic()
        while len(pings) < 3 and time.monotonic() - t0 < 10:
            try:
                msg = sock.recv(4096).decode()
            except socket.timeout:
                continue
            got.append(msg)
            if "WATCHDOG=1" in msg:
                pings.append(time.monotonic())
        self.assertIn("READY=1", " ".join(got))
        self.assertEqual(len(pings), 3, got)
        # Every half period (1 s), not in a burst.
        self.assertGreater(pings[2] - pings[0], 1.5)
        self.assertEqual(gw.request("GET", "/healthz")[0], 200)


class AccessLogFile(FreshGatewayTestCase):
    """[server] access_log = /path (reopened on SIGUSR1 and SIGHUP, as logrotate
    wants), access_log_format = json, access_log = off."""

    def lines_of(self, path, want, what):
        def enough():
            if not os.path.exists(path):
                return None
            with open(path, "rb") as f:
                lines = [l for l in f.read().split(b"\n") if l]
            return lines if len(lines) >= want else None
        return wait_until(enough, 5, what=what)

    def test_file_then_rotated(self):
        tmp = harness.mkdtemp("hfgate-access-")
        path = os.path.join(tmp, "access.log")
        gw = self.start_gateway({"server": {"access_log": path}})
        gw.request("GET", "/nowhere", headers={"X-Request-Id": "file-1"})
        lines = self.lines_of(path, 1, "the first access line")
        self.assertRegex(lines[0].decode(), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                         r"GET /nowhere client=- addr=127\.0\.0\.1 .* id=file-1$")
        # Not on stderr any more.
        self.assertNotIn("id=file-1", gw.log_text())
        # logrotate: move the file, then SIGUSR1: new lines in a new file.
        os.rename(path, path + ".1")
        gw.signal(signal.SIGUSR1)
        wait_until(lambda: os.path.exists(path), 5, what="the reopened file")
        gw.request("GET", "/nowhere", headers={"X-Request-Id": "file-2"})
        lines = self.lines_of(path, 1, "a line in the new file")
        self.assertIn(b"id=file-2", lines[0])
        with open(path + ".1", "rb") as f:
            self.assertNotIn(b"file-2", f.read())
        self.assertEqual(oct(os.stat(path).st_mode & 0o777), "0o640")

    def test_json_lines_escape_what_the_client_sent(self):
        tmp = harness.mkdtemp("hfgate-access-")
        path = os.path.join(tmp, "access.json")
        gw = self.start_gateway({"server": {"access_log": path,
                                            "access_log_format": "json"}})
        gw.request("POST", "/models/b%0d%0ax%22y%ff", b"x",
                   {"X-Request-Id": "json-1"})
        gw.request("GET", "/healthz", headers={"X-Request-Id": "json-2"})
        lines = self.lines_of(path, 2, "two JSON lines")
        first = json.loads(lines[0])
        self.assertEqual(first["path"], '/models/b\\r\\nx\\"y\\xff')
        self.assertEqual(first["id"], "json-1")
        self.assertEqual((first["method"], first["status"], first["client"],
                          first["addr"], first["aborted"]),
                         ("POST", 400, None, "127.0.0.1", False))
        second = json.loads(lines[1])
        self.assertEqual((second["path"], second["status"], second["id"]),
                         ("/healthz", 200, "json-2"))
        self.assertGreater(second["time"], 1.7e9)

    def test_off(self):
        gw = self.start_gateway({"server": {"access_log": "off"}})
        self.assertEqual(gw.request("GET", "/healthz",
                                    headers={"X-Request-Id": "off-1"})[0], 200)
        # A later line that is logged: the access line would be there by now.
        gw.signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in gw.log_text(), 5, what="reload")
        self.assertNotIn("off-1", gw.log_text())

    def test_unwritable_file_is_refused_at_start(self):
        gw = Gateway(self.fake, {"server": {"access_log": "/nonexistent/dir/access.log"}})
        p = subprocess.run([HFGATE_BIN, "-c", gw.conf_path], capture_output=True,
                           env=Gateway.env(), timeout=15)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"access_log /nonexistent/dir/access.log: No such file", p.stderr)
