# SPDX-License-Identifier: BSD-2-Clause
"""The HF token: injected upstream, client credentials never forwarded, never leaked.
(Every test class also checks, after stopping hfgate, that the secret is in neither
its log nor any response it gave.)"""

import json
import unittest

from harness import GatewayTestCase


class Token(GatewayTestCase):

    def test_token_injected_on_every_route(self):
        cases = [
            ("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}', "/models/mock/fill-mask"),
            ("POST", "/pipeline/feature-extraction/mock/feature-extraction",
             b'{"inputs": "hi"}', "/pipeline/feature-extraction/mock/feature-extraction"),
            ("POST", "/v1/fill-mask?model=mock/fill-mask", b'{"inputs": "a <mask>"}',
             "/models/mock/fill-mask"),
            ("GET", "/status/mock/fill-mask", None, "/status/mock/fill-mask"),
            ("GET", "/framework/transformers", None, "/framework/transformers"),
        ]
        for method, path, body, up in cases:
            with self.subTest(path=path):
                self.fake.reset()
                st, _, b = self.gw.request(method, path, body,
                                           {"Content-Type": "application/json"} if body else {})
                self.assertEqual(st, 200, b[:200])
                rec = self.last_upstream(up)
                self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)

    def test_client_authorization_not_forwarded(self):
        for name in ("Authorization", "authorization"):
            with self.subTest(header=name):
                self.fake.reset()
                st, _, b = self.gw.request("POST", "/models/fake/echo", b'{"inputs": "x"}',
                                           {name: "Bearer client-key",
                                            "Content-Type": "application/json"})
                self.assertEqual(st, 200, b[:200])
                self.assertEqual(self.last_upstream("/models/fake/echo")["headers"]
                                 .get("authorization"), "Bearer " + self.secret)
                self.assertNotIn(b"client-key", b)
                for r in self.fake.requests():
                    for k, v in r["headers"].items():
                        self.assertNotIn("client-key", v, "client credential reached upstream")

    def test_secret_not_in_error_bodies(self):
        # Errors of every kind: none may carry the token.
        for method, path, body in (("POST", "/models/a/b/c", b"{}"),
                                   ("POST", "/models/fake/always500", b"{}"),
                                   ("POST", "/models/unknown/model", b"{}"),
                                   ("GET", "/nope", None)):
            with self.subTest(path=path):
                st, h, b = self.gw.request(method, path, body)
                self.assertGreaterEqual(st, 400)
                self.assertNotIn(self.secret.encode(), b)
                self.assertNotIn(self.secret, json.dumps(h))

    def test_secret_not_in_log(self):
        self.gw.request("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}',
                        {"Content-Type": "application/json"})
        self.assertNotIn(self.secret, self.gw.log_text())


if __name__ == "__main__":
    unittest.main()
