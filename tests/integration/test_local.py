# SPDX-License-Identifier: BSD-2-Clause
"""Locally served routes, relayed GETs, path quirks, request ids, the access log
(CORS: test_cors.py)."""

import json
import re
import unittest

import harness
from harness import GatewayTestCase, TASKS, wait_until

JSON = {"Content-Type": "application/json"}


class LocalRoutes(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        cls.defaults = harness.load_default_models()
        super().setUpClass()

    def test_healthz(self):
        st, h, b = self.gw.request("GET", "/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(b), {"status": "ok"})
        self.assertIn("x-request-id", h)

    def test_api_tasks_shape(self):
        st, h, b = self.gw.request("GET", "/api/tasks")
        self.assertEqual(st, 200, b[:200])
        self.assertEqual(h.get("content-type", "").split(";")[0], "application/json")
        obj = json.loads(b)
        self.assertGreaterEqual(len(obj), 26)
        for task in TASKS:
            with self.subTest(task=task):
                self.assertIn(task, obj)
                entry = obj[task]
                self.assertEqual(entry["id"], task)
                self.assertIsInstance(entry["widgetModels"], list)
                self.assertIsInstance(entry["models"], list)
                model = self.defaults.get(task)
                if model:
                    self.assertEqual(entry["widgetModels"][0], model)
                    self.assertEqual(entry["models"][0]["id"], model)
        self.assertEqual(self.fake.stats()["total"], 0, "/api/tasks must be local")

    def test_v1_tasks(self):
        st, _, b = self.gw.request("GET", "/v1/tasks")
        self.assertEqual(st, 200, b[:200])
        obj = json.loads(b)
        for task in TASKS:
            with self.subTest(task=task):
                self.assertIn(task, obj)
                self.assertEqual(obj[task], self.defaults.get(task))

    def relay_get(self, path, want_status):
        st, h, b = self.gw.request("GET", path)
        self.assertEqual(self.last_upstream(path)["method"], "GET")
        self.fake.reset()
        est, eh, eb = self.fake.request("GET", path)
        self.assertEqual(st, want_status, b[:200])
        self.assertEqual((st, b), (est, eb))
        self.assertEqual(h.get("content-type"), "application/json")
        return json.loads(b)

    def test_status_known(self):
        obj = self.relay_get("/status/mock/fill-mask", 200)
        self.assertEqual(set(obj), {"loaded", "state", "compute_type", "framework"})

    def test_status_unknown_404_relayed(self):
        obj = self.relay_get("/status/unknown/model", 404)
        self.assertEqual(obj, {"error": "Model unknown/model does not exist"})

    def test_framework(self):
        obj = self.relay_get("/framework/transformers", 200)
        self.assertIsInstance(obj, list)
        self.assertTrue(all("model_id" in x and "task" in x for x in obj))

    def test_leading_double_slash_collapsed(self):
        body = b'{"inputs": "The goal of life is <mask>."}'
        st, h, b = self.gw.request("POST", "//models/mock/fill-mask", body, JSON)
        self.assertEqual(st, 200, b[:200])
        self.assertEqual(self.last_upstream()["path"], "/models/mock/fill-mask")
        self.assertEqual(h.get("x-hfgate-model"), "mock/fill-mask")
        st, _, _ = self.gw.request("GET", "//healthz")
        self.assertEqual(st, 200)

    def test_compute_headers_relayed(self):
        body = b'{"inputs": "a <mask>"}'
        for model in ("mock/fill-mask", "fake/echo"):
            with self.subTest(model=model):
                _, h, _ = self.gw.request("POST", "/models/" + model, body, JSON)
                _, eh, _ = self.fake.request("POST", "/models/" + model, body, JSON)
                for name in ("x-compute-type", "x-compute-time"):
                    self.assertIn(name, eh, "the fake sent no %s" % name)
                    self.assertEqual(h.get(name), eh[name], name)

    def test_request_id_echo(self):
        for method, path, body in (("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}'),
                                   ("GET", "/healthz", None),
                                   ("GET", "/nope", None)):
            with self.subTest(path=path):
                _, h, _ = self.gw.request(method, path, body,
                                          {"X-Request-Id": "my-req-42", **JSON})
                self.assertEqual(h.get("x-request-id"), "my-req-42")

    def test_request_ids_generated_unique(self):
        ids = {self.gw.request("GET", "/healthz")[1].get("x-request-id") for _ in range(5)}
        self.assertEqual(len(ids), 5)
        self.assertNotIn(None, ids)

    def test_access_log_line(self):
        body = b'{"inputs": "The goal of life is <mask>."}'
        st, _, b = self.gw.request("POST", "/models/mock/fill-mask", body,
                                   {"X-Request-Id": "logtest-123", **JSON})
        self.assertEqual(st, 200)
        rx = re.compile(r"POST /models/mock/fill-mask client=- addr=127\.0\.0\.1 "
                        r"model=mock/fill-mask status=200 "
                        r"ms=\d+ attempts=1 in=%d out=%d id=logtest-123"
                        % (len(body), len(b)))
        wait_until(lambda: rx.search(self.gw.log_text()), 5,
                   what="access log line matching %s in:\n%s" % (rx.pattern,
                                                              self.gw.log_text()[-2000:]))

    def test_access_log_line_for_error(self):
        self.gw.request("GET", "/models/x", None, {"X-Request-Id": "logtest-405"})
        rx = re.compile(r"GET /models/x client=- addr=127\.0\.0\.1 model=\S* status=405 "
                        r"ms=\d+ attempts=\d+ "
                        r"in=0 out=\d+ id=logtest-405")
        wait_until(lambda: rx.search(self.gw.log_text()), 5,
                   what="access log line for a 405")


if __name__ == "__main__":
    unittest.main()
