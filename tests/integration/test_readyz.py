# SPDX-License-Identifier: BSD-2-Clause
"""GET /readyz, what a load balancer asks (docs/operations.md): ready unless the
configured cache could not start or the upstream gives no answer at all; /healthz
only says that the process answers."""

import json
import os
import unittest

import harness
from harness import FreshGatewayTestCase, wait_until

JSON = {"Content-Type": "application/json"}
MODEL = "distilbert-base-uncased-finetuned-sst-2-english"


class Readyz(FreshGatewayTestCase):

    def readyz(self, gw):
        st, h, b = gw.request("GET", "/readyz")
        self.assertIn("application/json", h.get("content-type", ""))
        return st, json.loads(b)

    def test_ready_before_and_after_an_answered_call(self):
        gw = self.start_gateway()
        st, r = self.readyz(gw)
        self.assertEqual((st, r["status"], r["upstream"], r["cache"]),
                         (200, "ready", "not_tried", "off"))
        self.assertIsNone(r["upstream_answer_age_s"])
        st, _, b = gw.request("POST", "/models/" + MODEL, b'{"inputs":"hi"}', JSON)
        self.assertEqual(st, 200, b)
        st, r = self.readyz(gw)
        self.assertEqual((st, r["status"], r["upstream"]), (200, "ready", "reached"))
        self.assertLessEqual(r["upstream_answer_age_s"], 5)
        # An upstream error is still an answer: the upstream is there.
        st, _, _ = gw.request("POST", "/models/fake/always500", b"{}", JSON)
        self.assertEqual(st, 500)
        self.assertEqual(self.readyz(gw)[0], 200)

    def test_not_ready_when_the_upstream_does_not_answer(self):
        # A port nothing listens on: every call fails to connect.
        url = "http://127.0.0.1:%d" % harness.free_port()
        gw = self.start_gateway({"upstream": {"max_attempts": "1"}}, upstream_url=url)
        st, _, b = gw.request("POST", "/models/" + MODEL, b'{"inputs":"hi"}', JSON)
        self.assertEqual(st, 502, b)
        st, r = self.readyz(gw)
        self.assertEqual((st, r["status"], r["upstream"]), (503, "not_ready", "unreachable"))
        # /healthz: the process answers, whatever the upstream.
        self.assertEqual(gw.request("GET", "/healthz")[0], 200)

    def test_not_ready_when_the_configured_cache_failed(self):
        tmp = harness.mkdtemp("hfgate-readyz-")
        blocker = os.path.join(tmp, "file")
        with open(blocker, "w") as f:
            f.write("x")
        # The cache's directory is a file: the cache cannot open.
        gw = self.start_gateway(harness.cache_config(os.path.join(blocker, "cache.db")))
        st, r = self.readyz(gw)
        self.assertEqual((st, r["status"], r["cache"]), (503, "not_ready", "failed"))
        # Requests are still served, without the cache.
        st, _, b = gw.request("POST", "/models/" + MODEL, b'{"inputs":"hi"}', JSON)
        self.assertEqual(st, 200, b)

    def test_open_to_probes_when_client_keys_exist(self):
        gw = self.start_gateway({"client a": {"key_sha256": "0" * 64}})
        self.assertEqual(self.readyz(gw)[0], 200)
        self.assertEqual(gw.request("GET", "/readyz", headers={})[0], 200)


if __name__ == "__main__":
    unittest.main()
