# SPDX-License-Identifier: BSD-2-Clause
"""[endpoint NAME] sections: requests for the listed models go to the endpoint URL."""

import json
import unittest

from harness import GatewayTestCase, wait_until

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


# The 2023 text-generation body (huggingface_hub 0.18's text_generation).
TG_2023 = b'{"inputs": "a b ", "parameters": {"max_new_tokens": 20}}'


class AutoProtocol(GatewayTestCase):
    """protocol = auto: the gateway asks each endpoint once what it runs; the vLLM one
    (no TGI /info, an OpenAI /v1/models) gets the 2023 calls translated, the TGI one
    gets them as they are. One test: the answers are the gateway process's."""

    CONFIG = {
        "endpoint auto-vllm": {"url": "{fake_url}/vllm", "models": "acme/llm",
                               "protocol": "auto"},
        "endpoint auto-tgi": {"url": "{fake_url}/endpoints/auto-tgi",
                              "models": "acme/tgi", "protocol": "auto"},
    }

    def probes(self):
        return {p: self.fake.count(p) for p in (
            "/vllm/info", "/vllm/v1/models",
            "/endpoints/auto-tgi/info", "/endpoints/auto-tgi/v1/models")}

    def test_each_endpoint_probed_once_and_served_by_its_protocol(self):
        gw = self.gw
        for i in range(3):
            st, _, b = gw.request("POST", "/endpoints/auto-vllm", TG_2023, JSON)
            self.assertEqual(st, 200, b[:300])
            # TGI's compat route, translated: the prompt in front of the answer.
            self.assertEqual(json.loads(b), [{"generated_text": "a b echo: a b"}])
            sent = json.loads(self.upstream_body(self.last_upstream(
                "/vllm/v1/completions")))
            self.assertEqual(sent["prompt"], "a b ")
            self.assertEqual(sent["max_tokens"], 20)

            st, _, b = gw.request("POST", "/endpoints/auto-tgi", TG_2023, JSON)
            self.assertEqual(st, 200, b[:300])
            rec = self.last_upstream("/endpoints/auto-tgi")
            self.assertEqual(self.upstream_body(rec), TG_2023)
        # A model of the endpoint, by /models/{id}: the same answers.
        st, _, b = gw.request("POST", "/models/acme/llm", TG_2023, JSON)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(len(self.wait_upstream("/vllm/v1/completions", n=4)), 4)
        st, _, b = gw.request("POST", "/models/acme/tgi", TG_2023, JSON)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(len(self.wait_upstream("/endpoints/auto-tgi", n=4)), 4)
        self.assertEqual(self.fake.count("/vllm"), 0)
        self.assertEqual(self.fake.count("/endpoints/auto-tgi/v1/completions"), 0)
        # One probe each: TGI's /info is enough; vLLM lacks it, so its /v1/models.
        self.assertEqual(self.probes(), {
            "/vllm/info": 1, "/vllm/v1/models": 1,
            "/endpoints/auto-tgi/info": 1, "/endpoints/auto-tgi/v1/models": 0})
        probe = [r for r in self.fake.requests() if r["path"] == "/vllm/info"][0]
        self.assertEqual(probe["method"], "GET")
        self.assertEqual(probe["headers"].get("authorization"), "Bearer " + gw.secret)
        log = gw.log_text()
        self.assertIn("endpoint auto-tgi: GET /info is TGI's: protocol tgi", log)
        self.assertIn("endpoint auto-vllm: no TGI /info, GET /v1/models is an OpenAI "
                      "list: protocol openai", log)



class AutoProtocolFallback(GatewayTestCase):
    """protocol = auto on an endpoint that is neither TGI nor an OpenAI server: tgi."""

    # The retired host answers 410 to every path: no TGI info, no OpenAI list.
    CONFIG = {"endpoint odd": {"url": "{fake_url}/gone", "protocol": "auto"}}

    def test_an_endpoint_that_answers_neither_is_taken_for_tgi(self):
        gw = self.gw
        for i in range(2):
            gw.request("POST", "/endpoints/odd", TG_2023, JSON)
            rec = self.last_upstream("/gone")
            self.assertEqual(self.upstream_body(rec), TG_2023)
        self.assertEqual(self.fake.count("/gone/v1/completions"), 0)
        # Failed, not asked again before its retry time.
        self.assertEqual((self.fake.count("/gone/info"), self.fake.count("/gone/v1/models")),
                         (1, 1))
        wait_until(lambda: "endpoint odd: protocol auto: GET /v1/models answered "
                   "neither TGI's info nor an OpenAI list (status 410): protocol tgi "
                   "until probed again in 60 s" in gw.log_text(), 5, what="the warning")


if __name__ == "__main__":
    unittest.main()
