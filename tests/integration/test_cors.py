# SPDX-License-Identifier: BSD-2-Clause
"""CORS: the gateway holds the token, so no web page may call it unless the operator
lists the page's origin (cors_origin); the operator's routes never answer one
(docs/api.md, "CORS")."""

import json
import unittest

from harness import GatewayTestCase

JSON = {"Content-Type": "application/json"}
FILL = b'{"inputs": "a <mask>"}'
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type, x-model"}
# Answered by hfgate, relayed from the upstream, streamed, refused.
ROUTES = (("POST", "/models/mock/fill-mask", FILL),
          ("POST", "/v1/fill-mask?model=mock/fill-mask", FILL),
          ("GET", "/healthz", None),
          ("GET", "/api/tasks", None),
          ("GET", "/nope", None),
          ("GET", "/models/mock/fill-mask", None))
# The operator's routes, however spelled; /metrics too, served or not.
OPERATOR = ("/admin/usage", "/admin/cache", "//admin/usage", "/admin", "/admin/nope",
            "/metrics", "/metrics/x")
STREAM = b'{"inputs": "Hi", "stream": true}'


def cors_headers(h):
    return {k: v for k, v in h.items() if k.startswith("access-control-")}


class CorsTestCase(GatewayTestCase):

    def request(self, method, path, body=None, origin=None, extra=None):
        hdrs = dict(JSON if body is not None else {})
        if origin is not None:
            hdrs["Origin"] = origin
        hdrs.update(extra or {})
        return self.gw.request(method, path, body, hdrs)

    def assert_no_cors(self, h, what):
        self.assertEqual(cors_headers(h), {}, what)


class CorsByDefault(CorsTestCase):
    """No cors_origin: no page of any origin may read an answer."""

    def test_no_cross_origin_answer(self):
        for method, path, body in ROUTES + (("POST", "/models/fake/stream-3-10", STREAM),):
            with self.subTest(path=path):
                st, h, _ = self.request(method, path, body, "http://app.local")
                self.assertLess(st, 500)
                self.assert_no_cors(h, path)
                self.assertNotIn("vary", h)

    def test_preflight_grants_nothing(self):
        st, h, b = self.request("OPTIONS", "/models/mock/fill-mask", None,
                                "http://app.local", PREFLIGHT)
        self.assertEqual(st, 204, b[:200])
        self.assert_no_cors(h, "preflight")
        self.assertEqual(self.fake.stats()["total"], 0)

    def test_operator_routes(self):
        for path in OPERATOR:
            with self.subTest(path=path):
                _, h, _ = self.request("GET", path, None, "http://app.local")
                self.assert_no_cors(h, path)


class CorsListed(CorsTestCase):
    CONFIG = {"server": {"cors_origin": "http://app.local, https://ui.local:8443"}}

    def test_listed_origin_echoed(self):
        for origin in ("http://app.local", "https://ui.local:8443"):
            for method, path, body in ROUTES:
                with self.subTest(origin=origin, path=path):
                    _, h, _ = self.request(method, path, body, origin)
                    self.assertEqual(h.get("access-control-allow-origin"), origin)
                    self.assertIn("origin", h.get("vary", "").lower())
                    exp = [x.strip().lower() for x in
                           h.get("access-control-expose-headers", "").split(",")]
                    for name in ("x-compute-type", "x-request-id", "x-hfgate-model",
                                 "x-hfgate-attempts", "x-cache", "retry-after",
                                 "x-ratelimit-limit", "x-ratelimit-remaining",
                                 "x-ratelimit-reset"):
                        self.assertIn(name, exp)

    def test_stream_of_a_listed_origin(self):
        st, h, b = self.request("POST", "/models/fake/stream-3-10", STREAM,
                                "http://app.local")
        self.assertEqual(st, 200)
        self.assertIn(b"data:", b)
        self.assertEqual(h.get("access-control-allow-origin"), "http://app.local")

    def test_other_origins_refused(self):
        # Near misses of the listed ones too: another scheme, port, or a suffix.
        for origin in ("http://evil.local", "https://app.local", "http://app.local:80",
                       "http://app.local.evil", "https://ui.local", "null", None):
            for method, path, body in ROUTES:
                with self.subTest(origin=origin, path=path):
                    _, h, _ = self.request(method, path, body, origin)
                    self.assert_no_cors(h, path)
                    # Caches must keep the answers of each origin apart.
                    self.assertIn("origin", h.get("vary", "").lower())

    def test_preflight(self):
        st, h, b = self.request("OPTIONS", "/models/mock/fill-mask", None,
                                "http://app.local", PREFLIGHT)
        self.assertEqual(st, 204, b[:200])
        self.assertEqual(h.get("access-control-allow-origin"), "http://app.local")
        self.assertIn("POST", h.get("access-control-allow-methods", ""))
        allow_h = h.get("access-control-allow-headers", "").lower()
        self.assertIn("content-type", allow_h)
        self.assertIn("x-model", allow_h)
        self.assertIn("access-control-max-age", h)
        st, h, _ = self.request("OPTIONS", "/models/mock/fill-mask", None,
                                "http://evil.local", PREFLIGHT)
        self.assertEqual(st, 204)
        self.assert_no_cors(h, "preflight of an origin not listed")
        self.assertEqual(self.fake.stats()["total"], 0)

    def test_operator_routes_never_cross_origin(self):
        for path in OPERATOR:
            with self.subTest(path=path):
                st, h, b = self.request("GET", path, None, "http://app.local")
                self.assert_no_cors(h, path)
                if path == "/admin/usage":
                    self.assertEqual(st, 200, b[:200])
                    self.assertIsInstance(json.loads(b), dict)
                st, h, _ = self.request("OPTIONS", path, None, "http://app.local",
                                        {"Access-Control-Request-Method": "GET"})
                self.assertEqual(st, 204)
                self.assert_no_cors(h, "preflight of " + path)
        _, h, _ = self.request("DELETE", "/admin/cache", None, "http://app.local")
        self.assert_no_cors(h, "DELETE /admin/cache")


class CorsAnyOrigin(CorsTestCase):
    """An operator who writes '*' gets it, on the routes for clients only."""
    CONFIG = {"server": {"cors_origin": "*"}}

    def test_any_origin(self):
        for origin in ("http://app.local", "https://elsewhere.example", None):
            for method, path, body in ROUTES:
                with self.subTest(origin=origin, path=path):
                    _, h, _ = self.request(method, path, body, origin)
                    self.assertEqual(h.get("access-control-allow-origin"), "*")
                    self.assertNotIn("origin", h.get("vary", "").lower())
        st, h, _ = self.request("OPTIONS", "/v1/fill-mask", None, "http://x.example",
                                PREFLIGHT)
        self.assertEqual(st, 204)
        self.assertEqual(h.get("access-control-allow-origin"), "*")

    def test_operator_routes_never_cross_origin(self):
        for path in OPERATOR:
            with self.subTest(path=path):
                _, h, _ = self.request("GET", path, None, "http://app.local")
                self.assert_no_cors(h, path)
                _, h, _ = self.request("OPTIONS", path, None, "http://app.local",
                                       {"Access-Control-Request-Method": "GET"})
                self.assert_no_cors(h, "preflight of " + path)


if __name__ == "__main__":
    unittest.main()
