# SPDX-License-Identifier: BSD-2-Clause
"""[endpoint NAME] sections: requests for the listed models go to the endpoint URL."""

import json
import unittest

from harness import GatewayTestCase

JSON = {"Content-Type": "application/json"}
GEN = b'{"inputs": "Hello", "parameters": {"max_new_tokens": 5}}'


class Endpoints(GatewayTestCase):
    CONFIG = {
        "endpoint my-llm": {
            "url": "{fake_url}/endpoints/my-llm",
            "models": "acme/llm acme/llm-2",
            "task": "text-generation",
        },
    }

    def test_models_route_goes_to_endpoint(self):
        st, h, b = self.gw.request("POST", "/models/acme/llm", GEN, JSON)
        rec = self.last_upstream()
        self.assertEqual(rec["path"], "/endpoints/my-llm")
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)
        self.assertEqual(self.upstream_body(rec), GEN)
        self.assertEqual(self.fake.count("/models/acme/llm"), 0)
        self.fake.reset()
        est, eh, eb = self.fake.request("POST", "/endpoints/my-llm", GEN, JSON)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual((st, b), (est, eb))
        self.assertEqual(h.get("content-type"), eh.get("content-type"))
        self.assertEqual(h.get("x-hfgate-model"), "acme/llm")

    def test_second_model_of_endpoint(self):
        st, _, b = self.gw.request("POST", "/models/acme/llm-2", GEN, JSON)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(self.last_upstream()["path"], "/endpoints/my-llm")

    def test_v1_with_endpoint_model(self):
        st, h, b = self.gw.request("POST", "/v1/text-generation?model=acme/llm", GEN, JSON)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(self.last_upstream()["path"], "/endpoints/my-llm")
        self.assertEqual(h.get("x-hfgate-model"), "acme/llm")

    def test_endpoint_stream(self):
        body = b'{"inputs": "Hello", "stream": true}'
        st, h, b = self.gw.request("POST", "/models/acme/llm", body, JSON)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h.get("content-type", "").split(";")[0], "text/event-stream")
        self.fake.reset()
        _, _, eb = self.fake.request("POST", "/endpoints/my-llm", body, JSON)
        self.assertEqual(b, eb)

    def test_other_models_still_serverless(self):
        st, _, b = self.gw.request("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}',
                                   JSON)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(self.last_upstream()["path"], "/models/mock/fill-mask")


if __name__ == "__main__":
    unittest.main()
