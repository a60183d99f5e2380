"""The transport against odd or hostile clients: a NUL escape in the target, heads
within the caps that libmicrohttpd could not hold (many query arguments).

Each exchange is written on a raw socket, so that the test sees exactly what the
gateway sends back and when."""

import json
import socket
import time
import unittest

from harness import GatewayTestCase

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
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
            self.data += chunk
        interim, status, headers, body, complete = parse_response(self.data)
        return (time.monotonic() - t0, interim, status, headers, body, complete)

    def closed_by_peer(self, timeout):
        """True once the gateway has closed the connection (within timeout)."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
            self.data += chunk
        return self.eof

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


if __name__ == "__main__":
    unittest.main()
