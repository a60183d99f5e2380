# SPDX-License-Identifier: BSD-2-Clause
"""GET /api/models/{id} through the gateway: the Hub's answer is kept [cache] hub_ttl
(docs/api.md), keyed on the path and the query, so that apps on a LAN without the
internet ask the Hub once per model and look-up."""

import json
import time

from harness import GatewayTestCase, wait_until

LLM = "meta-llama/Llama-3.1-8B-Instruct"
PATH = "/api/models/%s?expand=inferenceProviderMapping" % LLM


class HubCache(GatewayTestCase):

    UPSTREAM_PATH = "/router/hf-inference"
    CACHE = True
    CONFIG = {"upstream": {"hub_url": "{fake_url}"}, "cache": {"hub_ttl": "3s"}}

    def hub_calls(self):
        return self.fake.count("/api/models/" + LLM)

    def get(self, path, headers=None):
        st, h, b = self.gw.request("GET", path, headers=headers)
        self.assertEqual(st, 200, b)
        return h.get("x-cache"), json.loads(b)

    def test_kept_then_asked_again_after_hub_ttl(self):
        self.fake.reset()
        t0 = time.monotonic()
        first = self.get(PATH)
        self.assertEqual(first[0], "MISS")
        # Stored in the background: the next ones are hits, the Hub asked once.
        wait_until(lambda: self.get(PATH)[0] == "HIT", 5, what="a hit")
        cache, body = self.get(PATH)
        self.assertEqual((cache, body), ("HIT", first[1]))
        self.assertEqual(self.hub_calls(), 1)
        # Another query is another answer.
        self.assertEqual(self.get("/api/models/%s?expand=pipeline_tag" % LLM)[0], "MISS")
        # Cache-Control: no-cache asks the Hub again.
        self.assertEqual(self.get(PATH, {"Cache-Control": "no-cache"})[0], "MISS")
        calls = self.hub_calls()
        self.assertEqual(calls, 3)
        # Past hub_ttl (3 s, kept in whole seconds): asked again, not before.
        wait_until(lambda: self.get(PATH)[0] == "MISS", 5, what="the entry expiring")
        self.assertGreaterEqual(time.monotonic() - t0, 2.0)
        self.assertEqual(self.hub_calls(), calls + 1)
