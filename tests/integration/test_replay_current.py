# SPDX-License-Identifier: BSD-2-Clause
"""Replays every request that today's clients sent to a gateway's place
(tests/data/client-requests-current.jsonl: huggingface_hub 1.28, @huggingface/inference
4.13.30, openai-node 6 and 7) against hfgate in front of the router-shaped fake, and checks
that each gets an answer in the shape that client parses. The requests to the gateway's
bare URL (POST /, GET /info) are refused with a hint unless [server] root_model is set,
and then go to that model byte for byte."""

import base64
import json
import os
import unittest

import harness
from harness import GatewayTestCase

DATA = os.path.join(harness.DATA_DIR, "client-requests-current.jsonl")
LLM = "meta-llama/Llama-3.1-8B-Instruct"
SKIP_HEADERS = ("host", "content-length")
# The serialisations the recorded clients used (Python's json, JS's JSON.stringify).
JSON_FORMS = ({}, {"separators": (",", ":")}, {"separators": (",", ":"), "ensure_ascii": False},
              {"ensure_ascii": False})


def load_current():
    """The records, each with "raw": the body bytes as sent (body_len checked)."""
    out = []
    with open(DATA, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            e = json.loads(line)
            if "body_b64" in e:
                raw = base64.b64decode(e["body_b64"])
            elif "body_json" in e:
                forms = [json.dumps(e["body_json"], **kw).encode() for kw in JSON_FORMS]
                raw = next((b for b in forms if len(b) == e["body_len"]), None)
                if raw is None:
                    raise ValueError("no serialisation of %s has %d bytes"
                                     % (e["path"], e["body_len"]))
            else:
                raw = b""
            if len(raw) != e.get("body_len", len(raw)):
                raise ValueError("body_len mismatch: %s" % e["path"])
            e["raw"] = raw
            out.append(e)
    return out


def data_lines(body):
    return [line[5:].strip() for line in body.split(b"\n") if line.startswith(b"data:")]


def target(e):
    return e["path"] + ("?" + e["query"] if e.get("query") else "")


def headers_of(e):
    return {k: v for k, v in e["headers"].items() if k.lower() not in SKIP_HEADERS}


class ReplayCurrent(GatewayTestCase):

    UPSTREAM_PATH = "/router/hf-inference"
    CONFIG = {
        "upstream": {"hub_url": "{fake_url}"},
        "endpoint my-llm": {"url": "{fake_url}/vllm", "protocol": "openai"},
        "default-models": {"chat-completion": LLM},
    }

    @classmethod
    def setUpClass(cls):
        cls.entries = load_current()
        super().setUpClass()

    def replay(self, e):
        body = e["raw"] if e["method"] != "GET" else None
        return self.gw.request(e["method"], target(e), body, headers_of(e))

    def check_stream(self, e, h, b, what):
        self.assertIn("text/event-stream", h.get("content-type", ""), what)
        lines = data_lines(b)
        self.assertTrue(lines, what)
        if lines[-1] == b"[DONE]":
            chunks = [json.loads(x) for x in lines[:-1]]
            self.assertTrue(chunks, what)
            for c in chunks:
                self.assertNotIn("error", c, what)
                self.assertIn("choices", c, what)
        else:
            # A TGI stream (huggingface_hub's text_generation): its final event
            # carries the whole text.
            last = json.loads(lines[-1])
            self.assertIsInstance(last.get("generated_text"), str, what)

    def check_answer(self, e, st, h, b):
        what = "%s %s %s -> %d %r" % (e["client"], e["call"], target(e), st, b[:200])
        self.assertTrue(200 <= st < 300, what)
        path, task = e["path"], e.get("task")
        if e.get("stream") or (e["raw"][:1] == b"{" and
                               json.loads(e["raw"]).get("stream") is True):
            self.check_stream(e, h, b, what)
            return
        ctype = h.get("content-type", "")
        if path.endswith("/health"):
            return
        if path.startswith("/models/") and not path.endswith("/info") and \
                "/v1/" not in path:
            if task in ("text-to-image", "image-to-image"):
                self.assertTrue(ctype.startswith("image/"), what)
                return
            if task in ("text-to-speech", "text-to-audio"):
                self.assertTrue(ctype.startswith("audio/"), what)
                return
        self.assertIn("json", ctype, what)
        obj = json.loads(b)
        if path.endswith("/chat/completions"):
            self.assertEqual(obj["object"], "chat.completion", what)
            msg = obj["choices"][0]["message"]
            if "tools" in json.loads(e["raw"]):
                self.assertTrue(msg["tool_calls"][0]["function"]["name"], what)
            else:
                self.assertIsInstance(msg["content"], str, what)
        elif path.endswith("/completions"):
            self.assertEqual(obj["object"], "text_completion", what)
            self.assertIsInstance(obj["choices"][0]["text"], str, what)
        elif path.endswith("/embeddings"):
            self.assertEqual(obj["object"], "list", what)
            fmt = json.loads(e["raw"]).get("encoding_format")
            emb = obj["data"][0]["embedding"]
            if fmt == "base64":
                self.assertEqual(len(base64.b64decode(emb)) % 4, 0, what)
            else:
                self.assertIsInstance(emb, list, what)
        elif path.startswith("/v1/models/"):
            self.assertEqual(obj["id"], LLM, what)
        elif path.endswith("/v1/models"):
            self.assertEqual(obj["object"], "list", what)
        elif path.startswith("/api/models/"):
            self.assertEqual(obj["id"], path[len("/api/models/"):], what)
        elif path == "/api/tasks":
            self.assertIn("text-classification", obj, what)
        elif path.endswith("/info"):
            self.assertIn("model_id", obj, what)
        elif task == "text-generation":
            # huggingface_hub's TGI body, bridged onto the router's completions.
            self.assertIsInstance(obj[0]["generated_text"], str, what)
        else:
            self.assertIsInstance(obj, (list, dict), what)

    def test_every_request_gets_what_its_client_parses(self):
        named = [e for e in self.entries if e["path"] not in ("/", "/info")]
        self.assertEqual(len(named), 152)
        for e in named:
            with self.subTest(client=e["client"], call=e["call"]):
                st, h, b = self.replay(e)
                self.check_answer(e, st, h, b)
        self.assert_healthy()

    def test_bare_url_without_root_model_is_refused_with_the_fix(self):
        bare = [e for e in self.entries if e["path"] in ("/", "/info")]
        self.assertEqual(len(bare), 62)
        before = self.fake.stats()["total"]
        for e in bare:
            with self.subTest(client=e["client"], call=e["call"]):
                st, h, b = self.replay(e)
                self.assert_json_error(st, h, b, 400, "no_model")
                self.assertIn("root_model", json.loads(b)["error"])
        self.assertEqual(self.fake.stats()["total"], before)
        # GET /health is the gateway's own without a root model.
        st, h, b = self.gw.request("GET", "/health")
        self.assertEqual(st, 200, b)


class ReplayCurrentRootModel(GatewayTestCase):
    """With root_model, the bare URL is that model's: every body goes to it unchanged."""

    UPSTREAM_PATH = "/router/hf-inference"
    CONFIG = {
        "server": {"root_model": "fake/echo"},
        "upstream": {"hub_url": "{fake_url}"},
    }

    def test_bare_url_requests_go_to_the_root_model_byte_for_byte(self):
        bare = [e for e in load_current() if e["method"] == "POST" and e["path"] == "/"]
        self.assertEqual(len(bare), 61)
        for e in bare:
            with self.subTest(client=e["client"], call=e["call"]):
                self.fake.reset()
                st, h, b = self.gw.request("POST", "/", e["raw"], headers_of(e))
                self.assertEqual(st, 200, b[:300])
                rec = self.last_upstream("/router/hf-inference/models/fake/echo")
                self.assertEqual(self.upstream_body(rec), e["raw"])
                self.assertEqual(rec["headers"].get("authorization"),
                                 "Bearer " + self.gw.secret)



class RootModelAnswers(GatewayTestCase):
    """The bare URL standing for a text-classification model: what the clients parse."""

    UPSTREAM_PATH = "/router/hf-inference"
    MODEL = "distilbert-base-uncased-finetuned-sst-2-english"
    CONFIG = {
        "server": {"root_model": MODEL},
        "upstream": {"hub_url": "{fake_url}"},
    }

    def test_text_classification_at_the_bare_url(self):
        calls = [e for e in load_current() if e["path"] == "/" and
                 e["task"] == "text-classification"]
        self.assertEqual(len(calls), 2)
        for e in calls:
            st, h, b = self.gw.request("POST", "/", e["raw"], headers_of(e))
            self.assertEqual(st, 200, b)
            self.assertIn("label", json.dumps(json.loads(b)))
            self.last_upstream("/router/hf-inference/models/" + self.MODEL)

    def test_info_and_health_are_the_root_models(self):
        st, h, b = self.gw.request("GET", "/info")
        self.assertEqual(st, 200, b)
        info = json.loads(b)
        self.assertEqual(info["model_id"], self.MODEL)
        self.assertEqual(info["model_pipeline_tag"], "text-classification")
        st, h, b = self.gw.request("GET", "/health")
        self.assertEqual(st, 200, b)


if __name__ == "__main__":
    unittest.main()
