# SPDX-License-Identifier: BSD-2-Clause
"""Errors produced by hfgate itself: JSON objects, right status, daemon stays up."""

import socket
import unittest

from harness import GatewayTestCase

JSON = {"Content-Type": "application/json"}


class Errors(GatewayTestCase):
    CONFIG = {"server": {"max_body_bytes": "1024"}}

    def check(self, method, path, body, headers, status, etype):
        st, h, b = self.gw.request(method, path, body, headers)
        obj = self.assert_json_error(st, h, b, status, etype)
        self.assert_healthy()
        return h, obj

    def test_malformed_json_400(self):
        self.check("POST", "/v1/text-classification", b'{"inputs": "unterminated', JSON,
                   400, "bad_request")
        self.assertEqual(self.fake.stats()["total"], 0)

    def test_bad_model_ids_400(self):
        for path in ("/models/a/b/c", "/models/bad%20id", "/models/bad id",
                     "/pipeline/feature-extraction/a/b/c", "/status/a/b/c",
                     "/v1/fill-mask?model=a/b/c"):
            with self.subTest(path=path):
                method = "GET" if path.startswith("/status") else "POST"
                if " " in path:
                    # http.client refuses a raw space: send it by hand.
                    st, b = self.raw_request(
                        b"POST /models/bad id HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                        b"Connection: close\r\n\r\n{}")
                    self.assertIn(st, (400,), b[:200])
                    self.assert_healthy()
                    continue
                self.check(method, path, b"{}" if method == "POST" else None, JSON,
                           400, "bad_request")
        self.assertEqual(self.fake.stats()["total"], 0)

    def test_bad_model_header_400(self):
        self.check("POST", "/v1/fill-mask", b'{"inputs": "a <mask>"}',
                   {"Content-Type": "application/json", "X-Model": "../../etc/passwd"},
                   400, "bad_request")

    def raw_request(self, data):
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        try:
            s.sendall(data)
            resp = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                resp += chunk
        finally:
            s.close()
        status = int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.") else 0
        return status, resp

    def test_oversized_body_413(self):
        self.check("POST", "/models/mock/fill-mask", b"x" * 4096, JSON,
                   413, "payload_too_large")
        self.check("POST", "/v1/text-classification", b"x" * 4096, JSON,
                   413, "payload_too_large")
        self.assertEqual(self.fake.stats()["total"], 0)

    def test_oversized_chunked_body_413(self):
        chunks = (b"y" * 512 for _ in range(8))
        self.check("POST", "/models/mock/fill-mask", chunks, JSON, 413, "payload_too_large")
        self.assertEqual(self.fake.stats()["total"], 0)

    def test_body_at_limit_accepted(self):
        body = b'{"inputs": "' + b"a" * (1024 - 14) + b'"}'
        self.assertEqual(len(body), 1024)
        st, _, b = self.gw.request("POST", "/models/fake/echo", body, JSON)
        self.assertEqual(st, 200, b[:200])

    def test_unknown_v1_task_404(self):
        self.check("POST", "/v1/foo", b'{"inputs": "x"}', JSON, 404, "not_found")

    def test_unknown_pipeline_task_404(self):
        self.check("POST", "/pipeline/foo/mock/fill-mask", b'{"inputs": "x"}', JSON,
                   404, "not_found")

    def test_unknown_route_404(self):
        for method, path in (("GET", "/nope"), ("POST", "/custom/endpoint/path")):
            with self.subTest(path=path):
                self.check(method, path, b"{}" if method == "POST" else None, JSON,
                           404, "not_found")
        self.assertEqual(self.fake.stats()["total"], 0)

    def test_wrong_method_405(self):
        for method, path, allow in (("GET", "/models/x", "POST"),
                                    ("GET", "/v1/fill-mask", "POST"),
                                    ("POST", "/healthz", "GET"),
                                    ("DELETE", "/models/x", "POST"),
                                    ("POST", "/api/tasks", "GET"),
                                    # POST / is the root model's call.
                                    ("GET", "/", "POST")):
            with self.subTest(method=method, path=path):
                h, _ = self.check(method, path, b"{}" if method == "POST" else None, JSON,
                                  405, "method_not_allowed")
                self.assertIn(allow, h.get("allow", ""))
        self.assertEqual(self.fake.stats()["total"], 0)


if __name__ == "__main__":
    unittest.main()
