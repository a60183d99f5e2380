# SPDX-License-Identifier: BSD-2-Clause
"""The transport against odd or hostile clients: a NUL escape in the target, heads
within the caps that libmicrohttpd could not hold (many query arguments, a huge chunk
extension), slow and oversized bodies (body_timeout, max_body_memory), a client that
hangs up while sending its body, and one that half-closes after a complete request.

Each exchange is written on a raw socket, so that the test sees exactly what the
gateway sends back and when."""

import json
import re
import signal
import socket
import subprocess
import time
import unittest

from harness import HFGATE_BIN, FreshGatewayTestCase, Gateway, GatewayTestCase, wait_until

# An access-log line of a request that ended without an answer.
ABORTED_ECHO = re.compile(r"(?m)^hfgate: POST /models/fake/echo .*status=0 .*aborted$")
ECHO_HEAD = (b"POST /models/fake/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Type: application/json\r\n")


def parse_response(data):
    """(interim statuses, status, headers, body, complete) of the first final response
    in data; status None while its head is incomplete."""
    interim = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return interim, None, {}, b"", False
        lines = data[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        data = data[end + 4:]
        if 100 <= status < 200:
            interim.append(status)
            continue
        if "content-length" in headers:
            n = int(headers["content-length"])
            return interim, status, headers, data[:n], len(data) >= n
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                line, sep, rest = data.partition(b"\r\n")
                if not sep:
                    return interim, status, headers, body, False
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    return interim, status, headers, body, True
                if len(rest) < size + 2:
                    return interim, status, headers, body, False
                body += rest[:size]
                data = rest[size + 2:]
        return interim, status, headers, data, False


class Raw:
    """A client on a raw socket to the gateway."""

    def __init__(self, port, source="127.0.0.1", timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.data = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def read_response(self, timeout):
        """Reads until a whole final response or the end of the connection; returns
        (elapsed seconds, interim, status, headers, body, complete)."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while not self.eof:
            interim, status, headers, body, complete = parse_response(self.data)
            if complete:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not self._recv(left):
                break
        interim, status, headers, body, complete = parse_response(self.data)
        return (time.monotonic() - t0, interim, status, headers, body, complete)

    def closed_by_peer(self, timeout):
        """True once the gateway has closed the connection (within timeout)."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            if not self._recv(max(0.01, deadline - time.monotonic())):
                break
        return self.eof

    def _recv(self, timeout):
        """One read within timeout into data (a reset or the end sets eof); False
        when nothing came in time."""
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.data += chunk
        return True

    def close(self):
        self.sock.close()


def raw_client(test, port, **kw):
    c = Raw(port, **kw)
    test.addCleanup(c.close)
    return c


class JsonErrors:
    """Checks on a JSON error seen on a raw socket."""

    def assert_raw_json_error(self, result, status, error_type, within):
        elapsed, _, st, headers, body, complete = result
        self.assertEqual(st, status, "after %.2fs: %r" % (elapsed, body[:300]))
        self.assertTrue(complete, body[:300])
        self.assertLess(elapsed, within, "answered after %.2fs" % elapsed)
        self.assertEqual(headers.get("content-type"), "application/json", headers)
        self.assertIn("x-request-id", headers)
        obj = json.loads(body)
        self.assertEqual(obj.get("error_type"), error_type, obj)
        self.assertTrue(obj.get("error"), obj)
        return obj


class TargetChecks(JsonErrors, GatewayTestCase):
    """The request target as the client sent it, before percent-decoding."""

    def test_nul_escape_is_a_400(self):
        """%00 would cut the decoded path (or argument) short: the request is a 400
        and never reaches the upstream."""
        for target in (b"/models/fake/echo%00junk", b"/healthz%00",
                       b"/v1/text-classification?model=fake/echo%00x"):
            with self.subTest(target=target):
                c = raw_client(self, self.gw.port)
                c.send(b"POST " + target + b" HTTP/1.1\r\nHost: h\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                obj = self.assert_raw_json_error(c.read_response(5), 400, "bad_request",
                                                 2)
                self.assertIn("%00", obj["error"])
        self.assertEqual(self.fake.requests(), [])
        self.assert_healthy()

    def test_many_query_arguments_in_a_short_target(self):
        """400 arguments in under 2 KB (the target cap is 4 KB) get a JSON 414 at once
        instead of an empty reply after header_timeout; so do 3,000 bare '&'. 64
        arguments are served."""
        many = "&".join("a%d" % i for i in range(400))
        for query in (many, "&" * 3000):
            with self.subTest(n=len(query)):
                c = raw_client(self, self.gw.port)
                c.send(("GET /healthz?%s HTTP/1.1\r\nHost: h\r\n\r\n" % query).encode())
                obj = self.assert_raw_json_error(c.read_response(15), 414,
                                                 "uri_too_long", 2)
                self.assertIn("query arguments", obj["error"])
        c = raw_client(self, self.gw.port)
        c.send(("GET /healthz?%s HTTP/1.1\r\nHost: h\r\n\r\n"
                % "&".join("a%d=%d" % (i, i) for i in range(64))).encode())
        elapsed, _, st, _, body, _ = c.read_response(5)
        self.assertEqual(st, 200, body)

    def test_huge_chunk_extension(self):
        """A 100 KB chunk extension cannot fit libmicrohttpd's buffer: a JSON 400 at
        once, not a connection held for connection_timeout. A short one is fine."""
        c = raw_client(self, self.gw.port)
        c.send(ECHO_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;" + b"e" * 100000 +
               b"\r\n{\"a\":\r\n1\r\n}\r\n0\r\n\r\n")
        self.assert_raw_json_error(c.read_response(15), 400, "bad_request", 2)
        self.assertTrue(c.closed_by_peer(5), "the connection stayed open")
        c = raw_client(self, self.gw.port)
        c.send(ECHO_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{\"a\":\r\n"
               b"1\r\n}\r\n0\r\n\r\n")
        _, _, st, _, body, _ = c.read_response(5)
        self.assertEqual(st, 200, body)
        self.assert_healthy()


class BodyTimeout(JsonErrors, FreshGatewayTestCase):

    def test_trickled_body_gets_408(self):
        """body_timeout = 1: a body trickled a byte every 200 ms gets a JSON 408 after
        about a second and the connection closes; other clients are served meanwhile,
        and nothing goes upstream."""
        gw = self.start_gateway({"server": {"body_timeout": "1"}})
        c = raw_client(self, gw.port)
        t0 = time.monotonic()
        c.send(ECHO_HEAD + b"Content-Length: 100\r\n\r\n{")
        others = 0
        while time.monotonic() - t0 < 5 and not c.closed_by_peer(0.2):
            try:
                c.send(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
            self.assertTrue(gw.healthy(), "another client was not served")
            others += 1
        elapsed = time.monotonic() - t0
        _, _, st, h, body, complete = c.read_response(1)
        self.assertEqual(st, 408, body[:300])
        self.assertEqual(json.loads(body)["error_type"], "timeout")
        self.assertEqual(h.get("connection", "").lower(), "close")
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3)
        self.assertGreaterEqual(others, 3)
        self.assertEqual(self.fake.requests(), [])
        wait_until(lambda: "status=408" in gw.log_text(), 5, what="the access line")


class BodyMemory(JsonErrors, FreshGatewayTestCase):

    def hold(self, gw, length, sent=10):
        """A client that sent the head of a body of length bytes and sent bytes of it."""
        c = raw_client(self, gw.port)
        c.send(ECHO_HEAD + b"Content-Length: %d\r\n\r\n" % length + b" " * sent)
        return c

    def test_503_when_the_bodies_fill_max_body_memory(self):
        """max_body_memory = 64k: while one client holds a 40 KB body, a 30 KB body gets
        a JSON 503 with Retry-After at once, with or without Content-Length; once the
        first is done, the same request is served."""
        gw = self.start_gateway({"server": {"max_body_memory": "64k",
                                            "max_body_bytes": "48k"}})
        body = b'{"inputs": "' + b"x" * 30000 + b'"}'
        # Nothing is held yet: served.
        st, _, b = gw.request("POST", "/models/fake/echo", body,
                              {"Content-Type": "application/json"})
        self.assertEqual(st, 200, b[:200])
        holder = self.hold(gw, 40000)

        def refused():
            c = raw_client(self, gw.port)
            c.send(ECHO_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            result = c.read_response(5)
            return result if result[2] != 200 else None
        # Until the gateway has read the holder's head, the body may still be served
        # (a loaded machine, a sanitizer build: the bound is generous, the wait is not).
        result = wait_until(refused, 20, interval=0.05, what="a 503")
        self.assert_raw_json_error(result, 503, "unavailable", 2)
        self.assertGreaterEqual(int(result[3].get("retry-after", "0")), 1, result[3])
        # Chunked: the bytes beyond the room left are refused as they come.
        c = raw_client(self, gw.port)
        c.send(ECHO_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 4096):
            part = body[i:i + 4096]
            try:
                c.send(b"%x\r\n" % len(part) + part + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
        result = c.read_response(5)
        self.assert_raw_json_error(result, 503, "unavailable", 5)
        self.assertGreaterEqual(int(result[3].get("retry-after", "0")), 1, result[3])
        holder.close()
        wait_until(lambda: gw.request("POST", "/models/fake/echo", body,
                                      {"Content-Type": "application/json"})[0] == 200,
                   5, interval=0.05, what="the body served once the other one left")

    def test_max_body_bytes_above_max_body_memory_is_refused(self):
        """No body over max_body_memory could ever be read: the configuration is an
        error."""
        bad = Gateway(self.fake, {"server": {"max_body_memory": "1M",
                                             "max_body_bytes": "2M"}})
        p = subprocess.run([HFGATE_BIN, "--check-config", "-c", bad.conf_path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=bad.env(), timeout=30)
        err = p.stderr.decode("utf-8", "replace")
        self.assertNotEqual(p.returncode, 0, err)
        self.assertIn("max_body_bytes (2097152) exceeds max_body_memory (1048576)", err)


class HangUpMidBody(FreshGatewayTestCase):

    def test_hang_up_while_sending_the_body(self):
        """Clients that send a head, then part of the body and close, the part and the
        close arriving together (hfgate is stopped meanwhile, so it reads them in one
        go): each is noticed at once, its request logged as aborted and its connection
        freed, so the per-address cap lets a new client in."""
        n = 20
        gw = self.start_gateway({"server": {"max_connections_per_ip": str(n),
                                            "workers": "1"}})
        clients = []
        for _ in range(n):
            c = raw_client(self, gw.port)
            # The interim 100 says that hfgate has read the head.
            c.send(ECHO_HEAD + b"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
            wait_until(lambda: c.sock.recv(100).startswith(b"HTTP/1.1 100"), 5,
                       what="100 Continue")
            clients.append(c)
        gw.signal(signal.SIGSTOP)
        try:
            for c in clients:
                c.send(b'{"inputs":')
                c.close()
        finally:
            gw.signal(signal.SIGCONT)
        t0 = time.monotonic()
        wait_until(lambda: len(ABORTED_ECHO.findall(gw.log_text())) >= n, 3,
                   interval=0.02, what="%d aborted requests in the access log" % n)
        self.assertLess(time.monotonic() - t0, 2)
        self.assertTrue(gw.healthy())
        self.assertEqual(self.fake.requests(), [])


class HalfClose(FreshGatewayTestCase):

    def test_half_closed_client_gets_its_answer(self):
        """A client that sends a whole request and shuts down its sending side gets
        the answer of an upstream that takes 500 ms (HTTP allows the half-close)."""
        gw = self.start_gateway()
        for _ in range(3):
            c = raw_client(self, gw.port)
            c.send(ECHO_HEAD.replace(b"fake/echo", b"fake/slow-500") +
                   b"Content-Length: 2\r\n\r\n{}")
            c.sock.shutdown(socket.SHUT_WR)
            elapsed, interim, st, h, body, complete = c.read_response(10)
            self.assertEqual(st, 200, (interim, c.data[:300]))
            self.assertTrue(complete)
            self.assertGreaterEqual(elapsed, 0.4)
            self.assertTrue(set(interim) <= {100}, interim)
        self.assertEqual(len(self.wait_completed(gw, "/models/fake/slow-500", 3)), 3)

    def wait_completed(self, gw, path, n):
        def get():
            done = [r for r in self.fake.requests()
                    if r["path"] == path and r.get("completed")]
            return done if len(done) >= n else None
        return wait_until(get, 5, interval=0.02, what="%d completed upstream calls" % n)

    def test_client_that_left_is_still_cancelled(self):
        """A client that closes its socket while the upstream works is noticed soon
        after the 200 ms the gateway waits before watching: the request ends aborted
        long before the 3 s upstream answer."""
        gw = self.start_gateway()
        c = raw_client(self, gw.port)
        c.send(ECHO_HEAD.replace(b"fake/echo", b"fake/slow-3000") +
               b"Content-Length: 2\r\n\r\n{}")
        wait_until(lambda: self.fake.count("/models/fake/slow-3000") >= 1, 3,
                   what="the request at the upstream")
        c.close()
        t0 = time.monotonic()
        aborted = re.compile(r"(?m)^hfgate: POST /models/fake/slow-3000 .*status=0 "
                             r".*aborted$")
        wait_until(lambda: aborted.search(gw.log_text()), 3, interval=0.02,
                   what="the request logged as aborted")
        self.assertLess(time.monotonic() - t0, 1.0)


if __name__ == "__main__":
    unittest.main()
