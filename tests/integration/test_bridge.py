# SPDX-License-Identifier: BSD-2-Clause
"""The bridge: the 2023 clients (huggingface_hub 0.18, @huggingface/inference 2.6) on
today's Hugging Face. In front of the router-shaped fake (no TGI routes for LLMs),
text-generation and conversational calls are translated to the OpenAI API and back,
streams become TGI token events, GET /status and /framework are answered from the
Hub, and the same holds for an [endpoint] of protocol openai (the fake's /vllm)."""

import base64
import json
import time

import harness
from harness import FreshGatewayTestCase, GatewayTestCase, wait_until
from test_stream import RawStream, data_events, parse_events, read_streams

JSON = {"Content-Type": "application/json"}
ROUTER = "/router/hf-inference"
ON_ROUTER = {"upstream": {"hub_url": "{fake_url}"}}

# huggingface_hub 0.18's text-generation models of the recording (the fake's LLMs).
V018_LLMS = {"mock/tgi", "mock/tgi-keepalive", "mock/tgi-nochunk", "mock/tgi-index",
             "mock/tgi-error", "mock/tgi-422", "mock/non-tgi"}
FINISH = {"length", "eos_token", "stop_sequence"}


def tgi_body(inputs, stream=False, **params):
    return json.dumps({"inputs": inputs, "parameters": params, "stream": stream}).encode()


def sse_data(test, body):
    """The JSON of each data: event (the events end at boundaries, one line each)."""
    return data_events(parse_events(test, body))


class V018Shapes:
    """What huggingface_hub 0.18 parses, task by task (its InferenceClient, and
    without pydantic its dataclasses, which take no unknown key)."""

    def assert_keys(self, obj, allowed, required=()):
        self.assertIsInstance(obj, dict, obj)
        self.assertLessEqual(set(obj), set(allowed), obj)
        self.assertLessEqual(set(required), set(obj), obj)

    def assert_generation(self, body, answer, status, headers):
        """A text_generation answer: a list of one result, details when asked, or a
        stream of token events ending with the final one (no [DONE], no "index")."""
        req = json.loads(body)
        params = req.get("parameters") or {}
        if not req.get("stream"):
            self.assertEqual(status, 200, answer[:300])
            out = json.loads(answer)
            self.assertIsInstance(out, list)
            self.assertEqual(len(out), 1, out)
            self.assert_keys(out[0], ("generated_text", "details"), ("generated_text",))
            self.assertIsInstance(out[0]["generated_text"], str)
            if params.get("return_full_text"):
                self.assertTrue(out[0]["generated_text"].startswith(req["inputs"]), out)
            if params.get("details"):
                d = out[0]["details"]
                self.assert_keys(d, ("finish_reason", "generated_tokens", "seed", "prefill",
                                     "tokens", "best_of_sequences"),
                                 ("finish_reason", "generated_tokens"))
                self.assertIn(d["finish_reason"], FINISH)
                self.assertIsInstance(d["generated_tokens"], int)
            else:
                self.assertNotIn("details", out[0])
            return out
        self.assertEqual(status, 200, answer[:300])
        self.assertTrue(headers.get("content-type", "").startswith("text/event-stream"))
        self.assertNotIn(b"[DONE]", answer)
        events = sse_data(self, answer)
        self.assertGreater(len(events), 1, events)
        for ev in events[:-1]:
            self.assert_keys(ev, ("token", "generated_text", "details"),
                             ("token", "generated_text", "details"))
            self.assertEqual(set(ev["token"]), {"id", "text", "logprob", "special"})
            self.assertIsNone(ev["generated_text"])
            self.assertIsNone(ev["details"])
        last = events[-1]
        if "error" in last:
            return events
        self.assert_keys(last, ("token", "generated_text", "details"),
                         ("token", "generated_text", "details"))
        self.assertIsInstance(last["generated_text"], str)
        text = "".join(ev["token"]["text"] for ev in events[:-1])
        want = (req["inputs"] if params.get("return_full_text") else "") + text
        self.assertEqual(last["generated_text"], want)
        if params.get("details"):
            self.assertEqual(set(last["details"]), {"finish_reason", "generated_tokens",
                                                    "seed"})
            self.assertIn(last["details"]["finish_reason"], FINISH)
        else:
            self.assertIsNone(last["details"])
        return events

    def assert_task(self, task, status, headers, body):
        self.assertEqual(status, 200, body[:300])
        if task in ("image-to-image", "text-to-image"):
            self.assertTrue(body[:2] == b"\xff\xd8" or body[:8] == b"\x89PNG\r\n\x1a\n",
                            body[:16])
            return
        if task == "text-to-speech":
            self.assertTrue(headers.get("content-type", "").startswith("audio/"), headers)
            self.assertGreater(len(body), 0)
            return
        out = json.loads(body)

        def each(keys):
            self.assertIsInstance(out, list, out)
            self.assertTrue(out, out)
            for o in out:
                for k in keys:
                    self.assertIn(k, o, out)
        if task in ("audio-classification", "image-classification",
                    "zero-shot-image-classification"):
            each(("label", "score"))
        elif task == "automatic-speech-recognition":
            self.assertIsInstance(out["text"], str)
        elif task == "visual-question-answering":
            each(("answer", "score"))
        elif task == "document-question-answering":
            each(("answer",))
        elif task == "feature-extraction":
            flat = out
            while isinstance(flat, list) and flat and isinstance(flat[0], list):
                flat = [x for row in flat for x in row]
            self.assertTrue(flat and all(isinstance(x, (int, float)) for x in flat), out)
        elif task == "fill-mask":
            each(("score", "token", "token_str", "sequence"))
        elif task == "image-segmentation":
            each(("label", "mask"))
            base64.b64decode(out[0]["mask"], validate=True)
        elif task in ("image-to-text",):
            self.assertIsInstance(out[0]["generated_text"], str)
        elif task == "object-detection":
            each(("label", "score", "box"))
        elif task in ("question-answering", "table-question-answering"):
            self.assertIsInstance(out["answer"], str)
        elif task == "sentence-similarity":
            self.assertTrue(all(isinstance(x, (int, float)) for x in out), out)
        elif task == "summarization":
            self.assertIsInstance(out[0]["summary_text"], str)
        elif task in ("tabular-classification", "tabular-regression"):
            self.assertIsInstance(out, list)
        elif task == "text-classification":
            self.assertIsInstance(out[0], list, out)
            for o in out[0]:
                self.assertIn("label", o)
                self.assertIn("score", o)
        elif task == "token-classification":
            each(("score", "word"))
        elif task == "translation":
            self.assertIsInstance(out[0]["translation_text"], str)
        elif task == "zero-shot-classification":
            self.assertEqual(len(out["labels"]), len(out["scores"]))
        else:
            self.fail("no check for task %s" % task)


class ReplayV018OnTheRouter(V018Shapes, GatewayTestCase):
    """Every request huggingface_hub 0.18 made (tests/data/client-requests-v018.jsonl)
    gets an answer it can parse, from hfgate in front of a router that has no TGI
    text-generation or conversational route."""

    UPSTREAM_PATH = ROUTER
    CONFIG = ON_ROUTER

    @classmethod
    def setUpClass(cls):
        cls.entries = harness.load_client_requests()
        super().setUpClass()

    def replay(self, e):
        body = e["raw"] if e["method"] != "GET" else None
        hdrs = {k: v for k, v in e["headers"] if k.lower() not in ("host", "content-length")}
        return body, self.gw.request(e["method"], e["path"], body, hdrs)

    def assert_bridged(self, sub, model):
        """The call went to the router's OpenAI API, never to its task route."""
        seen = self.wait_upstream("/router/v1/" + sub)
        self.assertEqual(json.loads(self.upstream_body(seen[-1]))["model"], model)
        self.assertEqual(self.fake.count(ROUTER + "/models/" + model), 0)

    def check(self, e, body, st, h, b):
        path = e["path"]
        if path == "/api/tasks":
            self.assertEqual(st, 200)
            self.assertIn("widgetModels", json.loads(b)["text-classification"])
        elif path == "/custom/endpoint/path":
            self.assert_json_error(st, h, b, 404, "not_found")
        elif path.startswith("/status/"):
            if path == "/status/unknown/model":
                # get_model_status raises on it, as on the 2023 API's 404.
                self.assert_json_error(st, h, b, 404, "not_found")
                return
            self.assertEqual(st, 200, b)
            status = json.loads(b)
            self.assertEqual(set(status), {"loaded", "state", "compute_type", "framework"})
            self.assertIs(status["loaded"], True)
            self.assertEqual(status["state"], "Loaded")
        elif path.startswith("/framework/"):
            self.assertEqual(st, 200, b)
            for m in json.loads(b):
                self.assertIsInstance(m["model_id"], str)
                self.assertIsInstance(m["task"], str)
        elif path.startswith("/pipeline/"):
            self.assert_task(path.split("/")[2], st, h, b)
        else:
            model = path[len("/models/"):]
            if model == "mock/conversational":
                self.assertEqual(st, 200, b)
                out = json.loads(b)
                self.assertEqual(out["conversation"]["past_user_inputs"], ["b", "Hi"])
                self.assertEqual(out["conversation"]["generated_responses"],
                                 ["a", out["generated_text"]])
                self.assertEqual(out["generated_text"], "echo: Hi")
                self.assert_bridged("chat/completions", model)
            elif model == "mock/tgi-422":
                # ValidationError, whether it asked for a stream or not.
                self.assertEqual(st, 400, b)
                self.assertEqual(json.loads(b)["error_type"], "validation")
            elif model == "mock/tgi-error":
                events = self.assert_generation(body, b, st, h)
                self.assertEqual(events[-1]["error_type"], "generation", events[-1])
                self.assertEqual(sum(1 for ev in events if "error" in ev), 1)
            elif model in V018_LLMS:
                self.assert_generation(body, b, st, h)
                self.assert_bridged("completions", model)
            elif model == "mock/503x2":
                # hfgate waits for the loading model itself.
                self.assert_task("text-classification", st, h, b)
            elif model == "mock/always503":
                self.assertEqual(st, 503, b)
                self.assertIsInstance(json.loads(b)["error"], str)
            else:
                self.assert_task(model.split("/", 1)[1], st, h, b)

    def test_every_recorded_request(self):
        self.assertEqual(len(self.entries), 74)
        for i, e in enumerate(self.entries):
            with self.subTest(i=i, method=e["method"], path=e["path"]):
                self.fake.reset()
                body, (st, h, b) = self.replay(e)
                self.check(e, body, st, h, b)
        self.assert_healthy()


class BridgedGeneration(V018Shapes, GatewayTestCase):
    """Text generation on today's router: the OpenAI call made, the answer's shape,
    details, return_full_text, streams and their failures."""

    UPSTREAM_PATH = ROUTER
    CONFIG = {**ON_ROUTER, "stream": {"idle_timeout": "1"}}
    MODEL = "mock/text-generation"

    def post(self, body, model=None, path=None):
        return self.gw.request("POST", path or "/models/" + (model or self.MODEL), body, JSON)

    def sent(self, sub="completions"):
        return json.loads(self.upstream_body(self.last_upstream("/router/v1/" + sub)))

    def test_the_openai_call(self):
        st, h, b = self.post(b'{"inputs": "one two three", "parameters": {"max_new_tokens": '
                             b'2, "temperature": 0.5, "top_p": 0.9, "top_k": 4, '
                             b'"repetition_penalty": 1.1, "stop": ["x"], "seed": '
                             b'6270333398812658761, "return_full_text": false}}')
        self.assertEqual(st, 200, b)
        self.assertEqual(json.loads(b), [{"generated_text": "echo: one"}])
        self.assertEqual(h.get("x-hfgate-model"), self.MODEL)
        rec = self.last_upstream("/router/v1/completions")
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)
        self.assertEqual(rec["headers"].get("content-type"), "application/json")
        raw = self.upstream_body(rec)
        # The seed as written: a double would round it.
        self.assertIn(b'"seed":6270333398812658761', raw)
        self.assertEqual(json.loads(raw), {
            "model": self.MODEL, "prompt": "one two three", "max_tokens": 2,
            "temperature": 0.5, "top_p": 0.9, "top_k": 4, "repetition_penalty": 1.1,
            "stop": ["x"], "seed": 6270333398812658761})
        # Greedy unless asked to sample, as TGI.
        self.post(tgi_body("a", max_new_tokens=1, do_sample=False))
        self.assertEqual(self.sent()["temperature"], 0)
        self.post(tgi_body("a", max_new_tokens=1, do_sample=True))
        self.assertNotIn("temperature", self.sent())

    def test_details(self):
        body = b'{"inputs": "a b c", "parameters": {"details": true, "seed": 18446744073709551615,' \
            b' "return_full_text": false}}'
        st, h, b = self.post(body)
        out = self.assert_generation(body, b, st, h)
        self.assertEqual(out[0]["generated_text"], "echo: a b c")
        # The fake's completion_tokens are the words answered.
        self.assertEqual(out[0]["details"], {
            "finish_reason": "eos_token", "generated_tokens": 4,
            "seed": 18446744073709551615, "prefill": [], "tokens": []})

    def test_return_full_text(self):
        for params, want in (({"return_full_text": True}, "Once upon echo: Once upon"),
                             ({"return_full_text": False}, "echo: Once upon"),
                             # The 2023 API's default for text-generation models.
                             ({}, "Once upon echo: Once upon")):
            with self.subTest(params=params):
                st, _, b = self.post(json.dumps({"inputs": "Once upon ",
                                                 "parameters": params}).encode())
                self.assertEqual(st, 200, b)
                self.assertEqual(json.loads(b), [{"generated_text": want}])

    def test_routes_with_the_task_in_the_path(self):
        for path in ("/v1/text-generation?model=" + self.MODEL,
                     "/pipeline/text-generation/" + self.MODEL,
                     "/models/%s/pipeline/text-generation" % self.MODEL):
            with self.subTest(path=path):
                self.fake.reset()
                st, _, b = self.post(tgi_body("hi there", return_full_text=False),
                                     path=path)
                self.assertEqual(st, 200, b)
                self.assertEqual(json.loads(b), [{"generated_text": "echo: hi there"}])
                self.assertEqual(self.sent()["prompt"], "hi there")
        # /v1/text-generation's plain-text body, and its default model.
        st, h, b = self.post(b"plain words", path="/v1/text-generation")
        self.assertEqual(st, 200, b)
        self.assertTrue(json.loads(b)[0]["generated_text"].endswith("echo: plain words"))
        self.assertEqual(self.sent()["model"], h.get("x-hfgate-model"))

    def test_stream_token_events_then_the_final_one(self):
        body = tgi_body("one two three", stream=True, details=True, seed=7,
                        return_full_text=False)
        st, h, b = self.post(body)
        events = self.assert_generation(body, b, st, h)
        self.assertEqual([ev["token"]["text"] for ev in events[:-1]],
                         ["echo:", " one", " two", " three"])
        self.assertEqual(events[-1]["token"]["special"], True)
        self.assertEqual(events[-1]["generated_text"], "echo: one two three")
        self.assertEqual(events[-1]["details"], {"finish_reason": "eos_token",
                                                 "generated_tokens": 4, "seed": 7})
        sent = self.sent()
        self.assertIs(sent["stream"], True)
        self.assertEqual(sent["stream_options"], {"include_usage": True})

    def test_cut_stream_gets_one_tgi_error_event(self):
        body = tgi_body("x y z", stream=True)
        st, h, b = self.post(body, model="fake/oai-cut")
        events = self.assert_generation(body, b, st, h)
        self.assertEqual([ev["token"]["text"] for ev in events[:-1]], ["echo:", " x"])
        self.assertEqual(set(events[-1]), {"error", "error_type"}, events[-1])
        self.assertEqual(events[-1]["error_type"], "incomplete_generation")
        self.assertEqual(sum(1 for ev in events if "error" in ev), 1)

    def test_stalled_stream_gets_one_tgi_error_event(self):
        body = tgi_body("x y z", stream=True)
        st, h, b = self.post(body, model="fake/oai-stall")
        events = self.assert_generation(body, b, st, h)
        self.assertEqual(set(events[-1]), {"error", "error_type"}, events[-1])
        self.assertEqual(events[-1]["error_type"], "incomplete_generation")
        self.assertEqual(sum(1 for ev in events if "error" in ev), 1)

    def test_in_stream_error_then_nothing(self):
        body = tgi_body("x y z", stream=True)
        st, h, b = self.post(body, model="fake/oai-error")
        events = self.assert_generation(body, b, st, h)
        self.assertEqual(events[-1], {
            "error": "Request failed during generation: out of memory",
            "error_type": "generation"})
        self.assertEqual(sum(1 for ev in events if "error" in ev), 1)

    def test_errors_in_the_2023_shape(self):
        st, h, b = self.post(tgi_body("x"), model="mock/tgi-422")
        self.assertEqual(st, 400, b)
        self.assertEqual(h.get("content-type"), "application/json")
        self.assertEqual(json.loads(b), {
            "error": "This model's maximum context length is 1512 tokens: reduce the "
                     "prompt or max_tokens", "error_type": "validation"})
        # Retried as any 429, then relayed as TGI's overload.
        st, h, b = self.post(tgi_body("x"), model="fake/oai-429")
        self.assertEqual(st, 429, b)
        self.assertEqual(json.loads(b)["error_type"], "overloaded")
        self.assertEqual(h.get("x-hfgate-attempts"), "3")

    def test_a_body_the_bridge_cannot_take(self):
        st, h, b = self.post(b'{"inputs": ["a", "b"]}')
        obj = self.assert_json_error(st, h, b, 400, "bad_request")
        self.assertIn("inputs", obj["error"])
        self.assertEqual(self.fake.count("/router/v1/completions"), 0)

    def test_other_tasks_are_forwarded_as_they_are(self):
        body = b'{"inputs": "I like you"}'
        st, _, b = self.post(body, model="mock/text-classification")
        self.assertEqual(st, 200, b)
        rec = self.last_upstream(ROUTER + "/models/mock/text-classification")
        self.assertEqual(self.upstream_body(rec), body)


class BridgedStreamBackpressure(FreshGatewayTestCase):
    """A reader slower than the upstream: the converted stream is paused and resumed
    like any other (a write curl delivers again is converted once), and the client
    gets every token once, in order."""

    def test_slow_reader_gets_every_token_once(self):
        gw = self.start_gateway({**ON_ROUTER, "stream": {"buffer_bytes": "4k"}},
                                upstream_url=self.fake.url + ROUTER)
        words = ["w%d%s" % (i, "x" * 600) for i in range(3000)]
        body = tgi_body(" ".join(words), stream=True, return_full_text=False)
        rs = RawStream(gw.port, "/models/fake/oai-slow-0", body=body, rcvbuf=4096)
        try:
            rs.read_until(lambda s: s.head is not None, 10, "the response headers")
            self.assertEqual(rs.status, 200, rs.head)
            # Not reading for a while: hfgate's buffer and the sockets fill up.
            time.sleep(1)
            deadline = time.monotonic() + 60
            while not rs.eof and not rs.complete:
                self.assertLess(time.monotonic(), deadline, "stream not done in 60 s")
                rs.sock.settimeout(10)
                rs.recv_once(8192)
        finally:
            rs.close()
        self.assertTrue(rs.complete, "chunked body not terminated")
        events = data_events(parse_events(self, rs.body))
        texts = [ev["token"]["text"] for ev in events[:-1]]
        self.assertEqual(texts, ["echo:"] + [" " + w for w in words])
        self.assertEqual(events[-1]["generated_text"], "".join(texts))


class BridgedConversation(GatewayTestCase):
    """conversational on today's router: the history becomes chat messages, the
    answer the 2023 conversation."""

    UPSTREAM_PATH = ROUTER
    CONFIG = ON_ROUTER

    def test_history_both_ways(self):
        body = {"inputs": {"text": "and now?", "past_user_inputs": ["hello", "how are you"],
                           "generated_responses": ["hi", "fine"]},
                "parameters": {"max_length": 2, "top_p": 0.5}}
        st, _, b = self.gw.request_json("POST", "/models/mock/conversational", body)
        self.assertEqual(st, 200, b)
        self.assertEqual(json.loads(b), {
            "generated_text": "echo: and",
            "conversation": {"generated_responses": ["hi", "fine", "echo: and"],
                             "past_user_inputs": ["hello", "how are you", "and now?"]}})
        sent = json.loads(self.upstream_body(self.last_upstream("/router/v1/chat/completions")))
        self.assertEqual(sent, {
            "model": "mock/conversational", "max_tokens": 2, "top_p": 0.5,
            "messages": [{"role": "user", "content": "hello"},
                         {"role": "assistant", "content": "hi"},
                         {"role": "user", "content": "how are you"},
                         {"role": "assistant", "content": "fine"},
                         {"role": "user", "content": "and now?"}]})

    def test_v1_conversational_and_a_chat_model_tagged_text_generation(self):
        # /v1/conversational takes the inputs unwrapped; a model the Hub tags
        # text-generation gets a conversation when the body is one.
        for path in ("/v1/conversational?model=mock/conversational",
                     "/models/meta-llama/Llama-3.1-8B-Instruct"):
            with self.subTest(path=path):
                body = {"text": "yes"} if path.startswith("/v1/") else {"inputs": {"text": "yes"}}
                st, _, b = self.gw.request_json("POST", path, body)
                self.assertEqual(st, 200, b)
                self.assertEqual(json.loads(b)["conversation"],
                                 {"generated_responses": ["echo: yes"],
                                  "past_user_inputs": ["yes"]})


class StatusAndFrameworkOnTheRouter(GatewayTestCase):
    """GET /status and /framework, which the router lacks, answered from the Hub's
    inferenceProviderMapping (looked up once per model)."""

    UPSTREAM_PATH = ROUTER
    CONFIG = ON_ROUTER

    def status(self, model):
        st, h, b = self.gw.request("GET", "/status/" + model)
        return st, h, json.loads(b)

    def test_status_of_each_kind_of_model(self):
        for model, compute, fw in (
                ("mock/text-generation", "gpu", "text-generation-inference"),
                ("mock/summarization", "cpu", "transformers"),
                ("mock/sentence-similarity", "cpu", "sentence-transformers"),
                ("mock/text-to-image", "cpu", "diffusers")):
            with self.subTest(model=model):
                st, _, s = self.status(model)
                self.assertEqual(st, 200, s)
                self.assertEqual(s, {"loaded": True, "state": "Loaded",
                                     "compute_type": compute, "framework": fw})
                look = self.last_upstream("/api/models/" + model)
                self.assertIn("expand=inferenceProviderMapping", look["query"])
        st, h, s = self.status("nobody/nothing")
        self.assertEqual(st, 404, s)
        self.assertIn("nobody/nothing", s["error"])
        # Remembered: asked again, the Hub is not.
        self.fake.reset()
        self.assertEqual(self.status("mock/summarization")[0], 200)
        self.assertEqual(self.fake.stats()["total"], 0)

    def test_framework_lists_the_models_seen(self):
        for model in ("mock/tgi", "mock/conversational", "mock/fill-mask"):
            self.assertEqual(self.status(model)[0], 200)
        st, _, b = self.gw.request("GET", "/framework/text-generation-inference")
        self.assertEqual(st, 200, b)
        tgi = {m["model_id"]: m for m in json.loads(b)}
        self.assertEqual(tgi["mock/tgi"], {"model_id": "mock/tgi", "compute_type": "gpu",
                                           "framework": "text-generation-inference",
                                           "task": "text-generation"})
        self.assertEqual(tgi["mock/conversational"]["task"], "conversational")
        self.assertNotIn("mock/fill-mask", tgi)
        st, _, b = self.gw.request("GET", "/framework/transformers")
        self.assertIn("mock/fill-mask", [m["model_id"] for m in json.loads(b)])
        st, _, b = self.gw.request("GET", "/framework/flair")
        self.assertEqual((st, json.loads(b)), (200, []))
        self.assertEqual(self.fake.count(ROUTER + "/framework/flair"), 0)


class BridgedCache(GatewayTestCase):
    """A bridged answer is stored in its 2023 form under a key of the client's own
    route and body: a native OpenAI request never gets it, nor the reverse. Its
    tokens are counted."""

    UPSTREAM_PATH = ROUTER
    CONFIG = ON_ROUTER
    CACHE = True

    def flush_writer(self):
        st, _, b = self.gw.request("DELETE", "/admin/cache?model=hfgate-test/none")
        self.assertEqual(st, 200, b)

    def test_stored_in_the_2023_form_under_its_own_key(self):
        body = tgi_body("cache me please", return_full_text=False)
        st, h, first = self.gw.request("POST", "/models/mock/tgi", body, JSON)
        self.assertEqual((st, h.get("x-cache")), (200, "MISS"), first)
        self.flush_writer()
        st, h2, again = self.gw.request("POST", "/models/mock/tgi", body, JSON)
        self.assertEqual((st, h2.get("x-cache")), (200, "HIT"))
        self.assertEqual(again, first)
        self.assertEqual(json.loads(again), [{"generated_text": "echo: cache me please"}])
        self.assertEqual(self.fake.count("/router/v1/completions"), 1)
        # The OpenAI call it became, made natively: not the bridged entry.
        sent = self.upstream_body(self.last_upstream("/router/v1/completions"))
        st, h3, b = self.gw.request("POST", "/v1/completions", sent, JSON)
        self.assertEqual(st, 200, b)
        self.assertEqual(h3.get("x-cache"), "MISS")
        self.assertNotEqual(h3.get("x-cache-key"), h.get("x-cache-key"))
        self.assertEqual(json.loads(b)["object"], "text_completion")
        self.assertEqual(self.fake.count("/router/v1/completions"), 2)
        self.flush_writer()
        # And the reverse: the bridged request still gets its own.
        st, h4, b = self.gw.request("POST", "/models/mock/tgi", body, JSON)
        self.assertEqual((h4.get("x-cache"), b), ("HIT", first))

    def test_a_stored_stream_answers_the_plain_request(self):
        body = tgi_body("stream then plain", stream=True, return_full_text=False)
        st, h, b = self.gw.request("POST", "/models/mock/tgi", body, JSON)
        self.assertEqual((st, h.get("x-cache")), (200, "MISS"))
        self.flush_writer()
        st, h, b = self.gw.request("POST", "/models/mock/tgi", body, JSON)
        self.assertEqual(h.get("x-cache"), "HIT")
        self.assertTrue(h.get("content-type", "").startswith("text/event-stream"))
        plain = tgi_body("stream then plain", return_full_text=False)
        st, h, b = self.gw.request("POST", "/models/mock/tgi", plain, JSON)
        self.assertEqual((st, h.get("x-cache")), (200, "HIT"), b)
        self.assertEqual(json.loads(b), [{"generated_text": "echo: stream then plain"}])
        self.assertEqual(self.fake.count("/router/v1/completions"), 1)

    def test_identical_streams_share_one_call(self):
        # Followers get the leader's converted events, not the OpenAI chunks.
        body = tgi_body("shared by five", stream=True, return_full_text=False)
        path = "/models/fake/oai-slow-40"
        streams = read_streams(self.gw.port, path, body, 5)
        self.assertEqual(self.fake.count("/router/v1/completions"), 1)
        first = streams[0].body
        events = sse_data(self, first)
        self.assertEqual(events[-1]["generated_text"], "echo: shared by five")
        for i, rs in enumerate(streams):
            with self.subTest(client=i):
                self.assertTrue(rs.complete)
                self.assertEqual(rs.body, first)
        self.assertEqual(sorted(rs.headers.get("x-cache") for rs in streams),
                         ["HIT"] * 4 + ["MISS"])

    def test_tokens_counted(self):
        model = "mock/tgi-nochunk"
        st, _, b = self.gw.request("POST", "/models/" + model, tgi_body("a b c"), JSON)
        self.assertEqual(st, 200, b)
        st, _, b = self.gw.request("POST", "/models/" + model,
                                   tgi_body("a b c d", stream=True), JSON)
        self.assertEqual(st, 200, b)

        def rows():
            st, _, b = self.gw.request("GET", "/admin/usage")
            r = [r for r in json.loads(b)["rows"] if r["model"] == model]
            return r if r and r[0]["requests"] == 2 else None
        r = wait_until(rows, 5, what="the usage of " + model)
        # 4 and 5 words answered ("echo:" and the prompt's), of prompts of 3 and 4.
        self.assertEqual((r[0]["task"], r[0]["generated_tokens"], r[0]["prompt_tokens"]),
                         ("text-generation", 9, 7))


class OpenAIEndpoint(V018Shapes, GatewayTestCase):
    """An [endpoint] of protocol openai (the fake's vLLM): the 2023 calls to its models
    and its TGI routes are translated; a TGI endpoint's are not."""

    CONFIG = {
        "endpoint vllm": {"url": "{fake_url}/vllm", "models": "acme/llm",
                          "protocol": "openai"},
        "endpoint tgi": {"url": "{fake_url}/endpoints/tgi", "models": "acme/tgi"},
    }

    def test_models_of_the_endpoint(self):
        body = tgi_body("hello vllm", return_full_text=False, details=True)
        st, h, b = self.gw.request("POST", "/models/acme/llm", body, JSON)
        out = self.assert_generation(body, b, st, h)
        self.assertEqual(out[0]["generated_text"], "echo: hello vllm")
        sent = json.loads(self.upstream_body(self.last_upstream("/vllm/v1/completions")))
        self.assertEqual(sent["model"], "acme/llm")
        body = tgi_body("hello vllm", stream=True, return_full_text=False)
        st, h, b = self.gw.request("POST", "/models/acme/llm", body, JSON)
        self.assert_generation(body, b, st, h)
        st, _, b = self.gw.request_json("POST", "/models/acme/llm",
                                        {"inputs": {"text": "chat?"}})
        self.assertEqual(json.loads(b)["generated_text"], "echo: chat?")
        self.last_upstream("/vllm/v1/chat/completions")

    def test_tgi_routes_of_the_endpoint(self):
        # TGI's compat route: the prompt in front unless the body says otherwise.
        st, _, b = self.gw.request("POST", "/endpoints/vllm", tgi_body("a b "), JSON)
        self.assertEqual(json.loads(b), [{"generated_text": "a b echo: a b"}])
        # /generate: one object, the prompt not in front (TGI's default there).
        st, _, b = self.gw.request("POST", "/endpoints/vllm/generate", tgi_body("a b"), JSON)
        self.assertEqual(json.loads(b), {"generated_text": "echo: a b"})
        st, h, b = self.gw.request("POST", "/endpoints/vllm/generate_stream",
                                   tgi_body("a b"), JSON)
        events = self.assert_generation(tgi_body("a b", stream=True), b, st, h)
        self.assertEqual(events[-1]["generated_text"], "echo: a b")
        self.assertEqual(self.fake.count("/vllm/generate_stream"), 0)

    def test_a_tgi_endpoint_is_not_translated(self):
        body = b'{"inputs": "as  it is", "parameters": {"details": true}}'
        st, _, b = self.gw.request("POST", "/models/acme/tgi", body, JSON)
        self.assertEqual(st, 200, b)
        rec = self.last_upstream("/endpoints/tgi")
        self.assertEqual(self.upstream_body(rec), body)
        self.assertEqual(self.fake.count("/vllm/v1/completions"), 0)


if __name__ == "__main__":
    import unittest
    unittest.main()
