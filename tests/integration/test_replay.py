# SPDX-License-Identifier: BSD-2-Clause
"""Replays every request the real v0.18 client made (tests/data/client-requests-v018.jsonl)
against the gateway, and checks byte-for-byte forwarding with fake/echo."""

import base64
import json
import unittest

import harness
from harness import GatewayTestCase

SKIP_HEADERS = ("host", "content-length")


def replay_headers(entry):
    return {k: v for k, v in entry["headers"] if k.lower() not in SKIP_HEADERS}


class Replay(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        cls.entries = harness.load_client_requests()
        super().setUpClass()

    def replay_one(self, i, e):
        body = e["raw"] if e["method"] != "GET" else None
        hdrs = replay_headers(e)
        st, h, b = self.gw.request(e["method"], e["path"], body, hdrs)
        self.assertIn("x-request-id", h)
        path = e["path"]

        if path == "/api/tasks":
            # Served locally in the Hub's shape; never forwarded.
            self.assertEqual(st, 200, b[:300])
            obj = json.loads(b)
            self.assertIn("text-classification", obj)
            self.assertIn("widgetModels", obj["text-classification"])
            self.assertEqual(self.fake.stats()["total"], 0)
            return
        if path == "/custom/endpoint/path":
            # Not a gateway route.
            self.assert_json_error(st, h, b, 404, "not_found")
            self.assertEqual(self.fake.stats()["total"], 0)
            return

        attempts = int(h.get("x-hfgate-attempts", "0"))
        self.assertGreaterEqual(attempts, 1, "X-Hfgate-Attempts missing: %r" % h)
        seen = self.wait_upstream(path, attempts)
        self.assertEqual(len(seen), attempts, "upstream calls vs X-Hfgate-Attempts")
        self.assertEqual(self.fake.stats()["total"], attempts)
        for r in seen:
            self.assertEqual(r["method"], e["method"])
            self.assertEqual(r["headers"].get("authorization"), "Bearer " + self.secret)
            if body:
                self.assertEqual(self.upstream_body(r), body, "body not forwarded verbatim")

        # What the fake answers to the same request, sent as many times as the gateway did.
        self.fake.reset()
        for _ in range(attempts):
            est, eh, eb = self.fake.request(e["method"], path, body, hdrs)
        self.assertEqual(st, est, b[:300])
        self.assertEqual(b, eb, "body differs from the upstream's")
        self.assertEqual(h.get("content-type"), eh.get("content-type"))
        model = path.split("/", 2)[2] if path.startswith(("/models/", "/status/")) else None
        if path.startswith("/pipeline/"):
            model = path.split("/", 3)[3]
        if model:
            self.assertEqual(h.get("x-hfgate-model"), model)

    def test_replay_all_recorded_requests(self):
        self.assertGreaterEqual(len(self.entries), 70)
        for i, e in enumerate(self.entries):
            with self.subTest(i=i, method=e["method"], path=e["path"]):
                self.fake.reset()
                self.replay_one(i, e)
        self.assert_healthy()


class ByteForByte(GatewayTestCase):
    """fake/echo returns the exact bytes it received, base64."""

    def echo(self, path, body, headers=None, length=None):
        st, h, b = self.gw.request("POST", path, body, headers or {})
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h.get("content-type"), "application/json")
        obj = json.loads(b)
        self.assertEqual(obj["body_len"], len(body) if length is None else length)
        return obj, base64.b64decode(obj["body_b64"])

    def test_json_escapes_floats_and_key_order_unchanged(self):
        body = (b'{"inputs": "h\\u00e9llo \\ud83d\\ude00", '
                b'"parameters": {"b": 1.50, "a": 1e-7, "c": 12345678901234567890}}')
        obj, got = self.echo("/models/fake/echo", body, {"Content-Type": "application/json"})
        self.assertEqual(got, body)
        self.assertEqual(obj["path"], "/models/fake/echo")
        self.assertEqual(obj["method"], "POST")

    def test_pipeline_route_unchanged(self):
        body = b'{"inputs":  ["x" ,"y"]   }\n'
        obj, got = self.echo("/pipeline/feature-extraction/fake/echo", body,
                             {"Content-Type": "application/json"})
        self.assertEqual(got, body)
        self.assertEqual(obj["path"], "/pipeline/feature-extraction/fake/echo")

    def test_binary_all_byte_values(self):
        body = bytes(range(256)) * 64
        _, got = self.echo("/models/fake/echo", body)
        self.assertEqual(got, body)

    def test_chunked_request_body(self):
        parts = [b'{"inputs": ', b'"chunked \\u00e9"', b', "x": 1.0}']
        _, got = self.echo("/models/fake/echo", iter(parts),
                           {"Content-Type": "application/json"},
                           length=len(b"".join(parts)))
        self.assertEqual(got, b"".join(parts))

    def test_empty_body(self):
        _, got = self.echo("/models/fake/echo", b"")
        self.assertEqual(got, b"")

    def test_binary_response_relayed_unchanged(self):
        body = b'{"inputs": "An astronaut riding a horse on the moon."}'
        hdrs = {"Content-Type": "application/json", "Accept": "image/png"}
        st, h, b = self.gw.request("POST", "/models/mock/text-to-image", body, hdrs)
        self.fake.reset()
        est, eh, eb = self.fake.request("POST", "/models/mock/text-to-image", body, hdrs)
        self.assertEqual((st, h.get("content-type")), (est, eh.get("content-type")))
        self.assertEqual(b, eb)
        self.assertTrue(b.startswith(b"\xff\xd8"), "not a JPEG")


if __name__ == "__main__":
    unittest.main()
