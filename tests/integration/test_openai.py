# SPDX-License-Identifier: BSD-2-Clause
"""The OpenAI-compatible routes against today's router (the fake's /router) and an
OpenAI-protocol endpoint (the fake's /vllm): where each request goes, the body byte for
byte (but a missing model), streams that end on [DONE], retries, the cache, the
retired host's 410, and the Hub look-up."""

import http.client
import json

from harness import GatewayTestCase

JSON = {"Content-Type": "application/json"}
LLM = "meta-llama/Llama-3.1-8B-Instruct"
EMB = "sentence-transformers/all-MiniLM-L6-v2"
ROUTER = "/router/hf-inference"


def chat(model=None, text="hello there", **kw):
    body = {"messages": [{"role": "user", "content": text}], **kw}
    if model is not None:
        body["model"] = model
    return json.dumps(body).encode()


def events(body):
    """The data lines of an event stream, in order."""
    return [line[5:].strip() for line in body.split(b"\n") if line.startswith(b"data:")]


class OpenAIRoutes(GatewayTestCase):

    UPSTREAM_PATH = ROUTER
    CONFIG = {
        "upstream": {"hub_url": "{fake_url}"},
        "endpoint vllm": {"url": "{fake_url}/vllm", "models": "acme/llm"},
        "default-models": {"chat-completion": LLM},
    }

    def post(self, path, body, headers=None):
        return self.gw.request("POST", path, body, {**JSON, **(headers or {})})

    def test_chat_to_the_router_byte_for_byte(self):
        body = b'{"model": "%s",  "messages":[{"role":"user","content":"hi you"}],' \
            b' "max_tokens": 5}' % LLM.encode()
        st, h, b = self.post("/v1/chat/completions", body)
        self.assertEqual(st, 200, b)
        answer = json.loads(b)
        self.assertEqual(answer["object"], "chat.completion")
        self.assertEqual(answer["choices"][0]["message"]["content"], "echo: hi you")
        self.assertEqual(h.get("x-hfgate-model"), LLM)
        rec = self.last_upstream("/router/v1/chat/completions")
        self.assertEqual(self.upstream_body(rec), body)
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)

    def test_provider_suffix_passed_through(self):
        st, h, b = self.post("/v1/chat/completions", chat(LLM + ":together"))
        self.assertEqual(st, 200, b)
        self.assertEqual(json.loads(b)["model"], LLM + ":together")
        self.assertEqual(h.get("x-hfgate-model"), LLM)
        rec = self.last_upstream("/router/v1/chat/completions")
        self.assertEqual(json.loads(self.upstream_body(rec))["model"], LLM + ":together")

    def test_missing_model_gets_the_default(self):
        for model in (None, "dummy", "http://127.0.0.1:8080/v1"):
            with self.subTest(model=model):
                self.fake.reset()
                st, h, b = self.post("/v1/chat/completions", chat(model))
                self.assertEqual(st, 200, b)
                self.assertEqual(h.get("x-hfgate-model"), LLM)
                rec = self.last_upstream("/router/v1/chat/completions")
                sent = json.loads(self.upstream_body(rec))
                self.assertEqual(sent["model"], LLM)
                self.assertEqual(sent["messages"][0]["content"], "hello there")

    def test_bad_bodies(self):
        for body in (b"not json", b"[1]", b'{"model": 7}', b'{"model": "a b"}'):
            with self.subTest(body=body):
                st, h, b = self.post("/v1/chat/completions", body)
                self.assert_json_error(st, h, b, 400, "bad_request")
        self.assertEqual(self.fake.count("/router/v1/chat/completions"), 0)

    def test_completions_and_embeddings(self):
        st, _, b = self.post("/v1/completions",
                             b'{"model":"gpt2","prompt":"one two three","max_tokens":2}')
        self.assertEqual(st, 200, b)
        self.assertEqual(json.loads(b)["object"], "text_completion")
        self.last_upstream("/router/v1/completions")

    def embeddings(self, model, inputs, fmt=None, **kw):
        body = {"model": model, "input": inputs, **kw}
        if fmt is not None:
            body["encoding_format"] = fmt
        st, h, b = self.post("/v1/embeddings", json.dumps(body).encode())
        return st, h, b

    def direct_vectors(self, model, texts):
        """What hf-inference's feature-extraction answers for texts, asked directly."""
        st, _, b = self.fake.request(
            "POST", "%s/models/%s/pipeline/feature-extraction" % (ROUTER, model),
            json.dumps({"inputs": texts}).encode(), JSON)
        self.assertEqual(st, 200, b)
        return json.loads(b)

    def test_embeddings_through_hf_inference_feature_extraction(self):
        st, _, b = self.embeddings(EMB, ["Hi there", "Bye"], "float")
        self.assertEqual(st, 200, b)
        answer = json.loads(b)
        self.assertEqual(answer["object"], "list")
        self.assertEqual(answer["model"], EMB)
        self.assertEqual(answer["usage"], {"prompt_tokens": 0, "total_tokens": 0})
        data = answer["data"]
        self.assertEqual([(d["object"], d["index"]) for d in data],
                         [("embedding", 0), ("embedding", 1)])
        rec = self.last_upstream("%s/models/%s/pipeline/feature-extraction" % (ROUTER, EMB))
        self.assertEqual(json.loads(self.upstream_body(rec)), {"inputs": ["Hi there", "Bye"]})
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)
        want = self.direct_vectors(EMB, ["Hi there", "Bye"])
        self.assertNotEqual(want[0], want[1])
        self.assertEqual([d["embedding"] for d in data], want)
        self.assertEqual(self.fake.count("/router/v1/embeddings"), 0)

    def test_embeddings_base64_is_little_endian_float32(self):
        import base64
        import struct
        # The openai SDK's default: base64, unless the caller asks for floats.
        for inputs in ("Hi there", ["Hi there"]):
            with self.subTest(inputs=inputs):
                st, _, b = self.embeddings(EMB, inputs, "base64")
                self.assertEqual(st, 200, b)
                emb = json.loads(b)["data"][0]["embedding"]
                raw = base64.b64decode(emb)
                got = struct.unpack("<%df" % (len(raw) // 4), raw)
                want = self.direct_vectors(EMB, ["Hi there"])[0]
                self.assertEqual(len(got), len(want))
                for g, w in zip(got, want):
                    self.assertAlmostEqual(g, w, places=6)

    def test_embeddings_of_token_vectors_are_mean_pooled(self):
        st, _, b = self.embeddings("facebook/bart-base", ["one", "two"], "float")
        self.assertEqual(st, 200, b)
        data = json.loads(b)["data"]
        toks = self.direct_vectors("facebook/bart-base", ["one", "two"])
        for d, t in zip(data, toks):
            mean = [(a + c) / 2 for a, c in zip(t[0], t[1])]
            for g, w in zip(d["embedding"], mean):
                self.assertAlmostEqual(g, w, places=9)

    def test_embeddings_with_a_provider_go_to_the_openai_api(self):
        st, _, b = self.embeddings(EMB + ":hf-inference", "Hi there", "float")
        self.assertEqual(st, 200, b)
        self.last_upstream("/router/v1/embeddings")

    def test_embeddings_the_pipeline_cannot_do_are_refused(self):
        before = self.fake.stats()["total"]
        for kw in ({"inputs": [[1, 2, 3]]}, {"inputs": [], "fmt": "float"},
                   {"inputs": "x", "dimensions": 8}, {"inputs": "x", "fmt": "int8"},
                   {"inputs": 7}):
            with self.subTest(**kw):
                st, h, b = self.embeddings(EMB, kw.pop("inputs"), **kw)
                self.assert_json_error(st, h, b, 400, "bad_request")
        self.assertEqual(self.fake.stats()["total"], before)

    def test_usage_counts_prompt_and_completion_tokens(self):
        from harness import wait_until
        model = "fake/oai-slow-1"
        st, _, b = self.post("/v1/chat/completions", chat(model, "a b c"))
        self.assertEqual(st, 200, b)
        plain = json.loads(b)["usage"]
        st, _, b = self.post("/v1/chat/completions", chat(model, "d e f g", stream=True))
        self.assertEqual(st, 200, b)

        def row():
            st, _, b = self.gw.request("GET", "/admin/usage")
            r = [r for r in json.loads(b)["rows"] if r["model"] == model]
            return r[0] if r and r[0]["requests"] == 2 else None
        r = wait_until(row, 5, what="the usage of " + model)
        # The stream's from the usage chunk hfgate asked for: 4 words in, 5 out.
        self.assertEqual((r["prompt_tokens"], r["generated_tokens"]),
                         (plain["prompt_tokens"] + 4, plain["completion_tokens"] + 5))
        self.assertEqual(plain["prompt_tokens"], 3)

    def test_stream_ends_on_done_without_the_usage_chunk(self):
        st, h, b = self.post("/v1/chat/completions", chat(LLM, "one two three", stream=True))
        self.assertEqual(st, 200, b)
        self.assertTrue(h.get("content-type", "").startswith("text/event-stream"), h)
        ev = events(b)
        self.assertEqual(ev[-1], b"[DONE]", ev)
        chunks = [json.loads(e) for e in ev[:-1]]
        self.assertFalse([c for c in chunks if "error" in c], chunks)
        # hfgate asked for the usage chunk (to count tokens); this client did not.
        self.assertFalse([c for c in chunks if c.get("usage")], chunks)
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                       if c["choices"])
        self.assertEqual(text.split(), ["echo:", "one", "two", "three"])
        sent = json.loads(self.upstream_body(self.last_upstream("/router/v1/chat/completions")))
        self.assertEqual(sent["stream_options"], {"include_usage": True})

    def test_stream_with_usage_asked(self):
        st, _, b = self.post("/v1/chat/completions", chat(
            LLM, "a b", stream=True, stream_options={"include_usage": True}))
        self.assertEqual(st, 200, b)
        ev = events(b)
        self.assertEqual(ev[-1], b"[DONE]")
        usage = [json.loads(e) for e in ev[:-1] if b'"usage"' in e]
        self.assertEqual(len(usage), 1, ev)
        self.assertEqual(usage[0]["choices"], [])
        self.assertGreater(usage[0]["usage"]["completion_tokens"], 0)

    def test_stream_cut_gets_one_openai_error(self):
        st, _, b = self.post("/v1/chat/completions", chat("fake/oai-cut", stream=True))
        self.assertEqual(st, 200, b)
        ev = events(b)
        self.assertNotIn(b"[DONE]", ev)
        last = json.loads(ev[-1])
        self.assertIsInstance(last.get("error"), dict, last)
        self.assertIn("message", last["error"])
        self.assertEqual(sum(1 for e in ev if b'"error"' in e), 1, ev)

    def test_in_stream_error_then_done_adds_nothing(self):
        st, _, b = self.post("/v1/chat/completions", chat("fake/oai-error", stream=True))
        self.assertEqual(st, 200, b)
        ev = events(b)
        self.assertEqual(ev[-1], b"[DONE]", ev)
        self.assertEqual(sum(1 for e in ev if b'"error"' in e), 1, ev)

    def test_429_retried(self):
        st, h, b = self.post("/v1/chat/completions", chat("fake/oai-429-1"))
        self.assertEqual(st, 200, b)
        self.assertEqual(h.get("x-hfgate-attempts"), "2")

    def test_models_list_and_one(self):
        st, _, b = self.gw.request("GET", "/v1/models")
        self.assertEqual(st, 200, b)
        ids = [m["id"] for m in json.loads(b)["data"]]
        self.assertIn(LLM, ids)
        # The openai SDK %2F-encodes the slash of the id.
        st, _, b = self.gw.request("GET", "/v1/models/meta-llama%2FLlama-3.1-8B-Instruct")
        self.assertEqual(st, 200, b)
        self.assertEqual(json.loads(b)["id"], LLM)

    def test_per_model_prefix(self):
        st, _, b = self.post("/models/%s/v1/chat/completions" % LLM, chat(LLM))
        self.assertEqual(st, 200, b)
        self.last_upstream(ROUTER + "/models/%s/v1/chat/completions" % LLM)

    def test_endpoint_prefix_and_model_mapping(self):
        st, _, b = self.post("/endpoints/vllm/v1/chat/completions", chat())
        self.assertEqual(st, 200, b)
        self.last_upstream("/vllm/v1/chat/completions")
        # A model an [endpoint] serves goes there from /v1 too.
        self.fake.reset()
        st, _, b = self.post("/v1/chat/completions", chat("acme/llm"))
        self.assertEqual(st, 200, b)
        self.last_upstream("/vllm/v1/chat/completions")
        self.assertEqual(self.fake.count("/router/v1/chat/completions"), 0)
        st, _, b = self.gw.request("GET", "/endpoints/vllm/health")
        self.assertEqual(st, 200, b)
        st, h, b = self.post("/endpoints/nope/v1/chat/completions", chat())
        self.assert_json_error(st, h, b, 404, "not_found")

    def test_pipeline_goes_model_first_to_the_router(self):
        st, _, b = self.post("/pipeline/feature-extraction/" + EMB, b'{"inputs": "hi"}')
        self.assertEqual(st, 200, b)
        self.last_upstream(ROUTER + "/models/%s/pipeline/feature-extraction" % EMB)
        self.fake.reset()
        st, _, b = self.post("/models/%s/pipeline/feature-extraction" % EMB,
                             b'{"inputs": "hi"}')
        self.assertEqual(st, 200, b)
        self.last_upstream(ROUTER + "/models/%s/pipeline/feature-extraction" % EMB)

    def test_hub_model_relayed_with_query_and_token(self):
        st, _, b = self.gw.request("GET", "/api/models/%s?expand=inferenceProviderMapping"
                                   % LLM)
        self.assertEqual(st, 200, b)
        mapping = json.loads(b)["inferenceProviderMapping"]
        self.assertEqual(mapping["hf-inference"]["status"], "live")
        rec = self.last_upstream("/api/models/" + LLM)
        self.assertEqual(rec["query"], "expand=inferenceProviderMapping")
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)


class OpenAICache(GatewayTestCase):
    """Embeddings are kept; chat only when its answer repeats."""

    UPSTREAM_PATH = ROUTER
    CACHE = True
    CONFIG = {"upstream": {"hub_url": "{fake_url}"}}

    def twice(self, path, body):
        out = []
        for _ in range(2):
            st, h, b = self.gw.request("POST", path, body, JSON)
            self.assertEqual(st, 200, b)
            out.append(h.get("x-cache"))
        return out

    def assert_stored(self, path, body):
        """The same request again until it is a hit (the writer stores in the
        background): the hit is one of the answers the upstream gave."""
        from harness import wait_until
        answers = []

        def hit():
            st, h, b = self.gw.request("POST", path, body, JSON)
            self.assertEqual(st, 200, b)
            if h.get("x-cache") == "HIT":
                return b
            self.assertEqual(h.get("x-cache"), "MISS")
            answers.append(b)
            return None
        self.assertIn(wait_until(hit, 5, what="a cache hit"), answers)

    def test_embeddings_cached(self):
        self.assert_stored("/v1/embeddings",
                           json.dumps({"model": EMB, "input": "Hi there"}).encode())

    def test_embeddings_cached_per_encoding(self):
        import base64
        floats = json.dumps({"model": EMB, "input": "cached", "encoding_format": "float"})
        self.assert_stored("/v1/embeddings", floats.encode())
        st, h, b = self.gw.request("POST", "/v1/embeddings", json.dumps(
            {"model": EMB, "input": "cached", "encoding_format": "base64"}).encode(), JSON)
        self.assertEqual(st, 200, b)
        self.assertEqual(h.get("x-cache"), "MISS")
        emb = json.loads(b)["data"][0]["embedding"]
        self.assertEqual(len(base64.b64decode(emb)), 16 * 4)

    def test_chat_cached_only_when_it_repeats(self):
        sampled = chat(LLM, "sampled")
        self.assertEqual(self.twice("/v1/chat/completions", sampled), ["BYPASS", "BYPASS"])
        for kw in ({"temperature": 0}, {"seed": 7}):
            with self.subTest(**kw):
                self.assert_stored("/v1/chat/completions",
                                   chat(LLM, "fixed %s" % kw, **kw))
        self.assertEqual(self.twice("/v1/chat/completions",
                                    chat(LLM, "n", temperature=0, n=2)), ["BYPASS", "BYPASS"])


    def test_stream_stored_and_replayed(self):
        body = chat(LLM, "stored stream", temperature=0, stream=True)
        from harness import wait_until
        seen = []

        def hit():
            st, h, b = self.gw.request("POST", "/v1/chat/completions", body, JSON)
            self.assertEqual(st, 200, b)
            seen.append(b)
            return h.get("x-cache") == "HIT" and b
        replay = wait_until(hit, 5, what="a cache hit")
        ev = events(replay)
        self.assertEqual(ev[-1], b"[DONE]")
        # The stored stream has the usage chunk hfgate asked for; this client gets
        # it no more than the first did.
        self.assertFalse([e for e in ev if b'"usage"' in e], ev)
        self.assertIn(replay, seen[:-1])


class RetiredHost(GatewayTestCase):
    """The host of 2023 answers 410: the client hears which key to change."""

    UPSTREAM_PATH = "/gone"
    CONFIG = {"upstream": {"hub_url": "{fake_url}"}}

    def test_410_names_the_key(self):
        st, h, b = self.gw.request("POST", "/models/mock/text-classification",
                                   b'{"inputs": "x"}', JSON)
        err = self.assert_json_error(st, h, b, 410, "upstream_gone")
        self.assertIn("[upstream] url", err["error"])
        self.assertIn("router.huggingface.co", err["error"])
        st, h, b = self.gw.request("POST", "/v1/chat/completions", chat(LLM), JSON)
        err = self.assert_json_error(st, h, b, 410, "upstream_gone")
        self.assertIn("openai_url", err["error"])
