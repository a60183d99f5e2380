# SPDX-License-Identifier: BSD-2-Clause
"""The /v1/{task} body conveniences: what reaches the upstream."""

import base64
import json
import unittest

from harness import GatewayTestCase

# A 1x1 PNG (the v0.18 recordings use the same one).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABc3UBGAAAAABJRU5ErkJggg==")
FLAC = b"fLaC\x00\x00\x00\x22" + bytes(range(0, 256))


class V1Conveniences(GatewayTestCase):

    def post(self, path, body, headers=None, want_status=200):
        if isinstance(body, (dict, list)):
            st, h, b = self.gw.request_json("POST", path, body, headers)
        else:
            st, h, b = self.gw.request("POST", path, body, headers)
        self.assertEqual(st, want_status, b[:300])
        return h, b

    def upstream_json(self, path):
        rec = self.last_upstream(path)
        return json.loads(self.upstream_body(rec))

    def test_candidate_labels_list_becomes_comma_string(self):
        self.post("/v1/zero-shot-classification?model=mock/zero-shot-classification",
                  {"inputs": "I love space", "parameters":
                   {"candidate_labels": ["space", "cooking", "sport"], "multi_label": True}})
        got = self.upstream_json("/models/mock/zero-shot-classification")
        self.assertEqual(got["inputs"], "I love space")
        self.assertEqual(got["parameters"]["candidate_labels"], "space,cooking,sport")
        self.assertIs(got["parameters"]["multi_label"], True)

    def test_candidate_labels_comma_string_kept(self):
        self.post("/v1/zero-shot-classification?model=mock/zero-shot-classification",
                  {"inputs": "x", "parameters": {"candidate_labels": "a,b"}})
        got = self.upstream_json("/models/mock/zero-shot-classification")
        self.assertEqual(got["parameters"]["candidate_labels"], "a,b")

    def test_candidate_labels_top_level_list(self):
        self.post("/v1/zero-shot-classification?model=mock/zero-shot-classification",
                  {"inputs": "x", "candidate_labels": ["a", "b"]})
        got = self.upstream_json("/models/mock/zero-shot-classification")
        self.assertEqual(got["parameters"]["candidate_labels"], "a,b")

    def test_zero_shot_image_labels_list(self):
        b64 = base64.b64encode(PNG).decode()
        self.post("/v1/zero-shot-image-classification?model=mock/zero-shot-image-classification",
                  {"image": b64, "parameters": {"candidate_labels": ["cat", "dog"]}})
        got = self.upstream_json("/models/mock/zero-shot-image-classification")
        self.assertEqual(got["image"], b64)
        self.assertEqual(got["parameters"]["candidate_labels"], "cat,dog")

    def test_base64_image_json_sent_as_raw_bytes(self):
        for key in ("inputs", "image"):
            with self.subTest(key=key):
                self.fake.reset()
                self.post("/v1/image-classification?model=mock/image-classification",
                          {key: base64.b64encode(PNG).decode()})
                rec = self.last_upstream("/models/mock/image-classification")
                self.assertEqual(self.upstream_body(rec), PNG)

    def test_base64_audio_json_sent_as_raw_bytes(self):
        self.post("/v1/audio-classification?model=mock/audio-classification",
                  {"inputs": base64.b64encode(FLAC).decode()})
        rec = self.last_upstream("/models/mock/audio-classification")
        self.assertEqual(self.upstream_body(rec), FLAC)

    def test_raw_image_bytes(self):
        for ctype in (None, "application/octet-stream", "image/png"):
            with self.subTest(content_type=ctype):
                self.fake.reset()
                hdrs = {"Content-Type": ctype} if ctype else {}
                self.post("/v1/image-classification?model=mock/image-classification",
                          PNG, hdrs)
                rec = self.last_upstream("/models/mock/image-classification")
                self.assertEqual(self.upstream_body(rec), PNG)

    def test_raw_audio_bytes_all_byte_values(self):
        self.post("/v1/automatic-speech-recognition?model=mock/automatic-speech-recognition",
                  FLAC)
        rec = self.last_upstream("/models/mock/automatic-speech-recognition")
        self.assertEqual(self.upstream_body(rec), FLAC)

    def test_question_answering_top_level(self):
        self.post("/v1/question-answering?model=mock/question-answering",
                  {"question": "What is the meaning of life?", "context": "42"})
        got = self.upstream_json("/models/mock/question-answering")
        self.assertEqual(got, {"question": "What is the meaning of life?", "context": "42"})

    def test_question_answering_inputs_wrapped(self):
        self.post("/v1/question-answering?model=mock/question-answering",
                  {"inputs": {"question": "What is the meaning of life?", "context": "42"}})
        got = self.upstream_json("/models/mock/question-answering")
        self.assertEqual(got, {"question": "What is the meaning of life?", "context": "42"})

    def test_vqa_inputs_wrapped(self):
        b64 = base64.b64encode(PNG).decode()
        self.post("/v1/visual-question-answering?model=mock/visual-question-answering",
                  {"inputs": {"question": "Who?", "image": b64}})
        got = self.upstream_json("/models/mock/visual-question-answering")
        self.assertEqual(got, {"question": "Who?", "image": b64})

    def test_sentence_similarity_top_level_is_wrapped(self):
        inner = {"source_sentence": "a", "sentences": ["b", "c"]}
        self.post("/v1/sentence-similarity?model=mock/sentence-similarity", inner)
        got = self.upstream_json("/pipeline/sentence-similarity/mock/sentence-similarity")
        self.assertEqual(got, {"inputs": inner})

    def test_text_task_plain_text_body(self):
        self.post("/v1/text-classification?model=mock/text-classification", b"I like you",
                  {"Content-Type": "text/plain"})
        got = self.upstream_json("/models/mock/text-classification")
        self.assertEqual(got, {"inputs": "I like you"})

    def test_unknown_keys_kept(self):
        body = {"inputs": "x", "parameters": {"top_k": 2}, "options": {"wait_for_model": True}}
        self.post("/v1/fill-mask?model=mock/fill-mask", body)
        got = self.upstream_json("/models/mock/fill-mask")
        self.assertEqual(got, body)

    def test_query_model_wins_over_default(self):
        h, _ = self.post("/v1/fill-mask?model=mock/fill-mask", {"inputs": "a <mask>"})
        self.assertEqual(h.get("x-hfgate-model"), "mock/fill-mask")
        self.last_upstream("/models/mock/fill-mask")

    def test_bad_base64_is_400(self):
        st, h, b = self.gw.request_json(
            "POST", "/v1/image-classification?model=mock/image-classification",
            {"inputs": "!!!not base64!!!"})
        self.assert_json_error(st, h, b, 400, "bad_request")
        self.assertEqual(self.fake.stats()["total"], 0, "nothing must go upstream")
        self.assert_healthy()


if __name__ == "__main__":
    unittest.main()
