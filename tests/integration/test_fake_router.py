# SPDX-License-Identifier: BSD-2-Clause
"""The fake upstream's model of today's Hugging Face (docs/fake-upstream.md): the
router (/router/...), an OpenAI-protocol endpoint as vLLM serves it (/vllm/...), the
retired host (/gone/...), the Hub's provider mapping and the fake/oai-<fault> models.
These tests talk to the fake directly (no hfgate), so that the suite notices when the
fake stops answering like the services it stands for."""

import base64
import http.client
import json
import socket
import struct
import time

from harness import FakeTestCase, wait_until

JSON = {"Content-Type": "application/json"}
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QUESTION = "What is Deep Learning?"
GONE = ("https://api-inference.huggingface.co is no longer supported. "
        "Please use https://router.huggingface.co/hf-inference instead.")


def chat_body(model=LLAMA, text=QUESTION, **kw):
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    body.update(kw)
    return body


class Stream:
    """An SSE answer read event by event: the data payloads, when each arrived, and
    how the body ended ("end": chunked terminator, "cut": connection closed inside
    the body, "timeout": nothing more within the read timeout)."""

    def __init__(self, port, path, body, headers=None, timeout=10.0, stop_after=None,
                 idle=None):
        self.data, self.times = [], []
        self.ended = None
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        hdrs = dict(JSON)
        hdrs.update(headers or {})
        self.conn.request("POST", path, json.dumps(body).encode(), hdrs)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self._read(stop_after, idle)

    def _read(self, stop_after, idle):
        # read1, not readline: only read1 tells a closed connection (IncompleteRead)
        # from the chunked terminator.
        buf = b""
        try:
            while True:
                if stop_after is not None and len(self.data) == stop_after:
                    # From here on, only silence is expected: bounded by idle.
                    self.conn.sock.settimeout(idle)
                chunk = self.resp.read1(65536)
                if not chunk:
                    self.ended = "end"
                    return
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.startswith(b"data: "):
                        self.data.append(line[6:].rstrip(b"\r").decode())
                        self.times.append(time.monotonic())
        except http.client.IncompleteRead:
            self.ended = "cut"
        except (socket.timeout, TimeoutError):
            self.ended = "timeout"

    def close(self):
        self.conn.close()

    def objects(self):
        return [json.loads(d) for d in self.data if d != "[DONE]"]


class FakeRouterCase(FakeTestCase):

    def post(self, path, obj, headers=None):
        hdrs = dict(JSON)
        hdrs.update(headers or {})
        return self.fake.request("POST", path, json.dumps(obj).encode(), hdrs)

    def post_json(self, path, obj, want=200, headers=None):
        st, h, b = self.post(path, obj, headers)
        self.assertEqual(st, want, b[:300])
        self.assertEqual(h.get("content-type"), "application/json")
        return json.loads(b)

    def stream(self, path, body, **kw):
        s = Stream(self.fake.port, path, body, **kw)
        self.addCleanup(s.close)
        return s

    def assert_oai_error(self, st, body, want, code=None):
        self.assertEqual(st, want, body[:300])
        err = json.loads(body)["error"]
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"])
        self.assertIn("type", err)
        if code is not None:
            self.assertEqual(err["code"], code)
        return err

    def logged(self, path):
        return wait_until(lambda: [r for r in self.fake.requests() if r["path"] == path],
                          5, what="the fake's log of " + path)


class RetiredHost(FakeRouterCase):

    def test_every_path_under_gone_answers_410(self):
        for method, path in (("POST", "/gone/models/gpt2"), ("GET", "/gone/status/gpt2"),
                             ("POST", "/gone/pipeline/feature-extraction/facebook/bart-base"),
                             ("GET", "/gone/")):
            st, h, b = self.fake.request(method, path, b"{}" if method == "POST" else None)
            self.assertEqual(st, 410, path)
            self.assertEqual(h["content-type"], "application/json")
            self.assertEqual(json.loads(b), {"error": GONE})


class RouterTaskApi(FakeRouterCase):

    def test_non_llm_tasks_answer_as_the_2023_routes(self):
        cases = [
            ("/router/hf-inference/models/distilbert-base-uncased-finetuned-sst-2-english",
             "/models/distilbert-base-uncased-finetuned-sst-2-english",
             {"inputs": "I like you", "parameters": {}}),
            ("/router/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2"
             "/pipeline/feature-extraction",
             "/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2",
             {"inputs": "Hi there"}),
            ("/router/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2"
             "/pipeline/sentence-similarity",
             "/pipeline/sentence-similarity/sentence-transformers/all-MiniLM-L6-v2",
             {"inputs": {"source_sentence": "That is a happy person",
                         "sentences": ["That is a happy dog", "Today is a sunny day"]}}),
            ("/router/hf-inference/models/mock/fill-mask", "/models/mock/fill-mask",
             {"inputs": "Paris is the [MASK] of France."}),
        ]
        for new, old, body in cases:
            with self.subTest(new):
                st, _, b = self.post(new, body)
                ost, _, ob = self.post(old, body)
                self.assertEqual((st, b), (ost, ob))
                self.assertEqual(st, 200, b[:200])

    def test_llms_are_not_served_by_the_task_api(self):
        for model in ("gpt2", "tiiuae/falcon-7b-instruct", LLAMA, "openai-community/gpt2"):
            with self.subTest(model):
                st, _, b = self.post("/router/hf-inference/models/" + model,
                                     {"inputs": "The answer is",
                                      "parameters": {"max_new_tokens": 5}})
                self.assertEqual(st, 404, b)
                self.assertEqual(json.loads(b), {
                    "error": "Model %s is not supported by provider hf-inference for "
                             "task text-generation" % model})
        # The 2023 route keeps answering.
        st, _, b = self.post("/models/gpt2", {"inputs": "The answer is"})
        self.assertEqual(st, 200, b)
        self.assertIn("generated_text", json.loads(b)[0])

    def test_pipeline_only_for_the_embedding_tasks(self):
        st, _, b = self.post("/router/hf-inference/models/distilroberta-base",
                             {"inputs": "a <mask>"})
        self.assertEqual(st, 200, b)
        st, _, b = self.post("/router/hf-inference/models/distilroberta-base"
                             "/pipeline/fill-mask", {"inputs": "a <mask>"})
        self.assertEqual(st, 404, b)

    def test_behaviour_models_work_under_the_router(self):
        path = "/router/hf-inference/models/fake/429-1"
        st, h, _ = self.post(path, {"inputs": "x"})
        self.assertEqual((st, h.get("retry-after")), (429, "1"))
        st, _, b = self.post(path, {"inputs": "x"})
        self.assertEqual(st, 200, b)

    def test_unknown_model_and_route(self):
        st, _, b = self.post("/router/hf-inference/models/nobody/nothing", {"inputs": "x"})
        self.assertEqual(st, 404)
        self.assertEqual(json.loads(b), {"error": "Model nobody/nothing does not exist"})
        st, _, _ = self.post("/router/nothing", {})
        self.assertEqual(st, 404)


class RouterChat(FakeRouterCase):

    PATH = "/router/v1/chat/completions"

    def test_answer_echoes_the_last_user_message_cut_to_max_tokens(self):
        body = chat_body(LLAMA + ":hf-inference", max_tokens=3)
        body["messages"].insert(0, {"role": "system", "content": "Be brief."})
        body["messages"].insert(1, {"role": "user", "content": "an earlier question"})
        body["messages"].insert(2, {"role": "assistant", "content": "an answer"})
        o = self.post_json(self.PATH, body)
        self.assertEqual(o["object"], "chat.completion")
        self.assertEqual(o["model"], LLAMA + ":hf-inference")
        self.assertIsInstance(o["id"], str)
        self.assertIsInstance(o["created"], int)
        self.assertEqual(o["choices"], [{
            "index": 0, "message": {"role": "assistant", "content": "echo: What is"},
            "logprobs": None, "finish_reason": "stop"}])
        # Words of every message; three words answered.
        self.assertEqual(o["usage"], {"prompt_tokens": 2 + 3 + 2 + 4,
                                      "completion_tokens": 3, "total_tokens": 14})

    def test_without_max_tokens_the_whole_echo(self):
        o = self.post_json(self.PATH, chat_body(
            "tiiuae/falcon-7b-instruct",
            [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {}},
             {"type": "text", "text": "this picture"}]))
        self.assertEqual(o["choices"][0]["message"]["content"],
                         "echo: Describe this picture")

    def test_per_model_route(self):
        path = "/router/hf-inference/models/%s/v1/chat/completions" % LLAMA
        o = self.post_json(path, {"messages": [{"role": "user", "content": "Hi"}]})
        self.assertEqual(o["model"], LLAMA)
        self.assertEqual(o["choices"][0]["message"]["content"], "echo: Hi")
        st, _, b = self.post("/router/hf-inference/models/distilroberta-base"
                             "/v1/chat/completions", chat_body())
        self.assert_oai_error(st, b, 400, "model_not_supported")

    def test_tools_give_a_tool_call(self):
        tools = [{"type": "function", "function": {"name": "get_weather",
                                                   "parameters": {"type": "object"}}},
                 {"type": "function", "function": {"name": "get_time"}}]
        o = self.post_json(self.PATH, chat_body(text="Weather in Paris", tools=tools))
        choice = o["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls")
        self.assertIsNone(choice["message"]["content"])
        call, = choice["message"]["tool_calls"]
        self.assertEqual(call["type"], "function")
        self.assertEqual(call["function"]["name"], "get_weather")
        self.assertEqual(json.loads(call["function"]["arguments"]),
                         {"text": "Weather in Paris"})
        o = self.post_json(self.PATH, chat_body(tools=tools, tool_choice={
            "type": "function", "function": {"name": "get_time"}}))
        self.assertEqual(o["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
                         "get_time")
        o = self.post_json(self.PATH, chat_body(tools=tools, tool_choice="none"))
        self.assertEqual(o["choices"][0]["finish_reason"], "stop")

    def test_n_choices(self):
        o = self.post_json(self.PATH, chat_body(n=3, max_tokens=2))
        self.assertEqual([c["index"] for c in o["choices"]], [0, 1, 2])
        self.assertEqual({c["message"]["content"] for c in o["choices"]}, {"echo: What"})
        self.assertEqual(o["usage"]["completion_tokens"], 6)

    def test_stream_one_word_per_chunk(self):
        plain = self.post_json(self.PATH, chat_body())
        s = self.stream(self.PATH, chat_body(LLAMA + ":fastest", stream=True))
        self.assertEqual(s.status, 200)
        self.assertEqual(s.headers["content-type"], "text/event-stream")
        self.assertEqual(s.ended, "end")
        self.assertEqual(s.data[-1], "[DONE]")
        chunks = s.objects()
        for c in chunks:
            self.assertEqual(c["object"], "chat.completion.chunk")
            self.assertEqual(c["model"], LLAMA + ":fastest")
            self.assertNotIn("usage", c)
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant",
                                                            "content": ""})
        words = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
        self.assertEqual(words, ["echo:", " What", " is", " Deep", " Learning?"])
        self.assertEqual("".join(words), plain["choices"][0]["message"]["content"])
        for c in chunks[:-1]:
            self.assertIsNone(c["choices"][0]["finish_reason"])
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")

    def test_stream_usage_only_when_asked(self):
        s = self.stream(self.PATH, chat_body(stream=True, max_tokens=2,
                                             stream_options={"include_usage": True}))
        chunks = s.objects()
        self.assertEqual(s.data[-1], "[DONE]")
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(chunks[-1]["usage"], {"prompt_tokens": 4, "completion_tokens": 2,
                                               "total_tokens": 6})
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "stop")

    def test_stream_tool_call_and_n(self):
        tools = [{"type": "function", "function": {"name": "get_weather"}}]
        s = self.stream(self.PATH, chat_body(stream=True, tools=tools, n=2))
        chunks = s.objects()
        self.assertEqual(s.data[-1], "[DONE]")
        for index in (0, 1):
            mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == index]
            calls = [d["delta"]["tool_calls"][0] for d in mine if "tool_calls" in d["delta"]]
            self.assertEqual(calls[0]["function"]["name"], "get_weather")
            args = "".join(c["function"]["arguments"] for c in calls)
            self.assertEqual(json.loads(args), {"text": QUESTION})
            self.assertEqual(mine[-1]["finish_reason"], "tool_calls")

    def test_models_the_router_does_not_serve(self):
        for model in ("nobody/nothing", "distilroberta-base", "fake/echo"):
            with self.subTest(model):
                st, _, b = self.post(self.PATH, chat_body(model))
                err = self.assert_oai_error(st, b, 400, "model_not_supported")
                self.assertIn("'%s'" % model, err["message"])

    def test_bad_requests(self):
        for body in (b"not json", b"[1]", json.dumps({"model": LLAMA}).encode(),
                     json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode()):
            with self.subTest(body):
                st, _, b = self.fake.request("POST", self.PATH, body, JSON)
                self.assert_oai_error(st, b, 400)
        st, _, _ = self.fake.request("GET", self.PATH)
        self.assertEqual(st, 405)


class RouterOtherOpenAiRoutes(FakeRouterCase):

    def test_completions(self):
        body = {"model": "openai-community/gpt2", "prompt": "Once upon a time",
                "max_tokens": 3}
        o = self.post_json("/router/v1/completions", body)
        self.assertEqual(o["object"], "text_completion")
        self.assertEqual(o["choices"], [{"index": 0, "text": "echo: Once upon",
                                         "logprobs": None, "finish_reason": "stop"}])
        self.assertEqual(o["usage"], {"prompt_tokens": 4, "completion_tokens": 3,
                                      "total_tokens": 7})
        body["stream"] = True
        s = self.stream("/router/v1/completions", body)
        chunks = s.objects()
        self.assertEqual(s.data[-1], "[DONE]")
        self.assertEqual([c["choices"][0]["text"] for c in chunks],
                         ["echo:", " Once", " upon", ""])
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertEqual({c["object"] for c in chunks}, {"text_completion"})

    def test_embeddings_float_and_base64(self):
        model = "sentence-transformers/all-MiniLM-L6-v2"
        one = self.post_json("/router/v1/embeddings", {"model": model, "input": "Hi there"})
        self.assertEqual(one["object"], "list")
        self.assertEqual(one["model"], model)
        item, = one["data"]
        self.assertEqual((item["object"], item["index"]), ("embedding", 0))
        vec = item["embedding"]
        self.assertEqual(len(vec), 8)
        self.assertEqual(one["usage"], {"prompt_tokens": 2, "total_tokens": 2})
        many = self.post_json("/router/v1/embeddings",
                              {"model": model, "input": ["Hi there", "Bye"]})
        self.assertEqual([d["index"] for d in many["data"]], [0, 1])
        self.assertEqual(many["data"][0]["embedding"], vec, "deterministic per input")
        self.assertNotEqual(many["data"][1]["embedding"], vec)
        b64 = self.post_json("/router/v1/embeddings", {
            "model": model, "input": ["Hi there", "Bye"], "encoding_format": "base64"})
        for d, f in zip(b64["data"], many["data"]):
            raw = base64.b64decode(d["embedding"])
            self.assertEqual(list(struct.unpack("<8f", raw)), f["embedding"])
        dims = self.post_json("/router/v1/embeddings",
                              {"model": model, "input": "x", "dimensions": 3})
        self.assertEqual(len(dims["data"][0]["embedding"]), 3)
        st, _, b = self.post("/router/v1/embeddings", {"model": LLAMA, "input": "x"})
        self.assert_oai_error(st, b, 400, "model_not_supported")
        st, _, b = self.post("/router/v1/embeddings", {"model": model, "input": []})
        self.assert_oai_error(st, b, 400)

    def test_models(self):
        st, _, b = self.fake.request("GET", "/router/v1/models")
        self.assertEqual(st, 200)
        o = json.loads(b)
        self.assertEqual(o["object"], "list")
        ids = [m["id"] for m in o["data"]]
        self.assertEqual(ids, sorted(ids))
        for want in (LLAMA, "gpt2", "tiiuae/falcon-7b-instruct"):
            self.assertIn(want, ids)
        self.assertNotIn("distilroberta-base", ids)
        m = o["data"][ids.index(LLAMA)]
        self.assertEqual((m["object"], m["owned_by"]), ("model", "meta-llama"))
        self.assertIsInstance(m["created"], int)
        for path in ("/router/v1/models/" + LLAMA,
                     "/router/v1/models/" + LLAMA.replace("/", "%2F")):
            st, _, b = self.fake.request("GET", path)
            self.assertEqual(st, 200, path)
            self.assertEqual(json.loads(b), m)
        st, _, b = self.fake.request("GET", "/router/v1/models/nobody%2Fnothing")
        self.assert_oai_error(st, b, 404, "model_not_found")


class Vllm(FakeRouterCase):

    def test_openai_routes_any_model(self):
        o = self.post_json("/vllm/v1/chat/completions",
                           {"messages": [{"role": "user", "content": "Hi"}]})
        self.assertEqual(o["model"], "acme/llm")
        self.assertEqual(o["choices"][0]["message"]["content"], "echo: Hi")
        o = self.post_json("/vllm/v1/chat/completions", chat_body("anything/at-all"))
        self.assertEqual(o["model"], "anything/at-all")
        o = self.post_json("/vllm/v1/completions", {"prompt": "Hello", "max_tokens": 1})
        self.assertEqual(o["choices"][0]["text"], "echo:")
        o = self.post_json("/vllm/v1/embeddings", {"input": "x"})
        self.assertEqual(len(o["data"][0]["embedding"]), 8)
        s = self.stream("/vllm/v1/chat/completions", chat_body(stream=True))
        self.assertEqual((s.ended, s.data[-1]), ("end", "[DONE]"))

    def test_models_and_health(self):
        st, _, b = self.fake.request("GET", "/vllm/v1/models")
        self.assertEqual(st, 200)
        o = json.loads(b)
        self.assertEqual(o["object"], "list")
        self.assertEqual([(m["id"], m["object"], m["owned_by"]) for m in o["data"]],
                         [("acme/llm", "model", "vllm")])
        st, _, b = self.fake.request("GET", "/vllm/health")
        self.assertEqual((st, b), (200, b""))

    def test_no_tgi_routes(self):
        for method, path in (("POST", "/vllm/generate"), ("POST", "/vllm/generate_stream"),
                             ("GET", "/vllm/info"), ("POST", "/vllm/"),
                             ("GET", "/vllm/v1/models/acme%2Fllm")):
            with self.subTest(path):
                st, _, b = self.fake.request(method, path,
                                             b'{"inputs":"x"}' if method == "POST" else None)
                self.assertEqual(st, 404, b)
                self.assertEqual(json.loads(b), {"detail": "Not Found"})


class Hub(FakeRouterCase):

    def test_plain_model_info_unchanged(self):
        st, _, b = self.fake.request("GET", "/api/models/distilroberta-base")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(b), {"id": "distilroberta-base",
                                         "modelId": "distilroberta-base",
                                         "pipeline_tag": "fill-mask"})
        st, _, b = self.fake.request("GET", "/api/models/nobody/nothing")
        self.assertEqual(st, 404)

    def test_inference_provider_mapping(self):
        cases = (("distilbert-base-uncased-finetuned-sst-2-english", "text-classification"),
                 (LLAMA, "conversational"), ("tiiuae/falcon-7b-instruct", "conversational"),
                 ("gpt2", "text-generation"), ("facebook/bart-base", "feature-extraction"),
                 ("fake/oai-429-1", "conversational"))
        for model, task in cases:
            for query in ("expand=inferenceProviderMapping",
                          "expand%5B%5D=inferenceProviderMapping",
                          "expand[]=inferenceProviderMapping"):
                with self.subTest(model=model, query=query):
                    st, _, b = self.fake.request("GET", "/api/models/%s?%s" % (model, query))
                    self.assertEqual(st, 200, b)
                    o = json.loads(b)
                    self.assertRegex(o.pop("_id"), r"^[0-9a-f]{24}$")
                    self.assertEqual(o, {"id": model, "inferenceProviderMapping": {
                        "hf-inference": {"status": "live", "providerId": model,
                                         "task": task}}})
        st, _, b = self.fake.request(
            "GET", "/api/models/%s?expand[]=inferenceProviderMapping&expand[]=pipeline_tag"
            % LLAMA)
        self.assertEqual(json.loads(b)["pipeline_tag"], "text-generation")
        st, _, _ = self.fake.request(
            "GET", "/api/models/nobody/nothing?expand[]=inferenceProviderMapping")
        self.assertEqual(st, 404)


class OpenAiFaults(FakeRouterCase):

    PATH = "/router/v1/chat/completions"

    def test_429_then_ok_and_always(self):
        for _ in range(2):
            st, h, b = self.post(self.PATH, chat_body("fake/oai-429-2:hf-inference"))
            err = self.assert_oai_error(st, b, 429)
            self.assertEqual(err["type"], "rate_limit_error")
            self.assertEqual(h.get("retry-after"), "1")
        o = self.post_json(self.PATH, chat_body("fake/oai-429-2"))
        self.assertEqual(o["choices"][0]["message"]["content"], "echo: What is Deep Learning?")
        for _ in range(3):
            st, h, b = self.post("/vllm/v1/embeddings", {"model": "fake/oai-429", "input": "x"})
            self.assert_oai_error(st, b, 429)

    def test_500_cycles_then_ok_and_always(self):
        seen = [self.post("/vllm/v1/completions", {"model": "fake/oai-500-4",
                                                    "prompt": "x"})[0] for _ in range(5)]
        self.assertEqual(seen, [500, 502, 503, 504, 200])
        for _ in range(3):
            st, _, b = self.post(self.PATH, chat_body("fake/oai-500"))
            self.assert_oai_error(st, b, 500)

    def test_cut_stream(self):
        s = self.stream(self.PATH, chat_body("fake/oai-cut", stream=True))
        self.assertEqual(s.status, 200)
        self.assertEqual(s.ended, "cut")
        self.assertEqual(len(s.data), 2)
        self.assertNotIn("[DONE]", s.data)
        self.assertTrue(self.logged(self.PATH)[-1].get("reset"))

    def test_cut_without_stream_closes_without_answer(self):
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.post(self.PATH, chat_body("fake/oai-cut"))
        wait_until(lambda: self.fake.requests()[-1].get("reset"), 5, what="reset logged")

    def test_stall_holds_after_two_chunks(self):
        s = self.stream(self.PATH, chat_body("fake/oai-stall", stream=True),
                        stop_after=2, idle=0.5)
        self.assertEqual(s.ended, "timeout")
        self.assertEqual(len(s.data), 2)
        s.close()
        wait_until(lambda: self.logged(self.PATH)[-1].get("aborted"), 5,
                   what="the held stream logged as aborted once the client left")

    def test_stall_ms_resumes(self):
        s = self.stream(self.PATH, chat_body("fake/oai-stall-300", stream=True))
        self.assertEqual((s.ended, s.data[-1]), ("end", "[DONE]"))
        self.assertGreaterEqual(s.times[2] - s.times[1], 0.25)

    def test_error_in_stream(self):
        s = self.stream(self.PATH, chat_body("fake/oai-error", stream=True))
        self.assertEqual(s.ended, "end")
        self.assertEqual(len(s.data), 4)
        self.assertEqual(s.data[-1], "[DONE]")
        err = json.loads(s.data[2])["error"]
        self.assertIn("out of memory", err["message"])
        self.assertEqual(json.loads(s.data[1])["choices"][0]["delta"], {"content": "echo:"})
        st, _, b = self.post(self.PATH, chat_body("fake/oai-error"))
        self.assert_oai_error(st, b, 500)

    def test_slow_chunks(self):
        s = self.stream("/vllm/v1/chat/completions",
                        chat_body("fake/oai-slow-100", text="a b", stream=True))
        self.assertEqual((s.ended, s.data[-1]), ("end", "[DONE]"))
        gaps = [b - a for a, b in zip(s.times, s.times[1:])]
        self.assertEqual(len(gaps), 5)
        for g in gaps:
            self.assertGreaterEqual(g, 0.08)
        t0 = time.monotonic()
        o = self.post_json(self.PATH, chat_body("fake/oai-slow-300"))
        self.assertGreaterEqual(time.monotonic() - t0, 0.28)
        self.assertEqual(o["model"], "fake/oai-slow-300")


class RequestLog(FakeRouterCase):

    def test_openai_requests_are_logged_with_headers_and_body(self):
        body = chat_body(stream=True, stream_options={"include_usage": True})
        s = self.stream("/router/v1/chat/completions", body,
                        headers={"Authorization": "Bearer hf_fake_token",
                                 "X-HF-Bill-To": "acme"})
        self.assertEqual((s.status, s.ended, s.data[-1]), (200, "end", "[DONE]"))
        self.post_json("/vllm/v1/embeddings", {"input": "x"})
        rec = self.logged("/router/v1/chat/completions")[-1]
        self.assertEqual(rec["method"], "POST")
        self.assertEqual(rec["headers"]["authorization"], "Bearer hf_fake_token")
        self.assertEqual(rec["headers"]["x-hf-bill-to"], "acme")
        self.assertEqual(json.loads(base64.b64decode(rec["body_b64"])), body)
        wait_until(lambda: self.logged("/router/v1/chat/completions")[-1].get("completed"),
                   5, what="the stream logged as completed")
        self.assertEqual(self.fake.count("/router/v1/chat/completions"), 1)
        self.assertEqual(self.fake.count("/vllm/v1/embeddings"), 1)
