# SPDX-License-Identifier: BSD-2-Clause
"""Every one of the 26 tasks through the HF-compatible routes and through /v1/{task}
(default model, ?model=, X-Model): the gateway relays exactly what the upstream says.
Without the default-models data file, the table built into hfgate gives the defaults."""

import json
import os
import unittest

import harness
from harness import GatewayTestCase, TASKS, mkdtemp, upstream_path

BINARY_TYPES = {"text-to-image": "image/jpeg", "image-to-image": "image/jpeg",
                "text-to-speech": "audio/flac"}


def task_request(task, entries):
    """(body bytes, headers) a v0.18 client sends for task, from the recordings."""
    e = harness.first_request_for_task(task, entries)
    if e is None and task == "text-generation":
        # The recorder used mock/tgi for text-generation: its first non-stream body.
        e = next(x for x in entries if x["path"] == "/models/mock/tgi"
                 and b'"stream": false' in x["raw"])
    if e is None:
        raise AssertionError("no recorded request for task %s" % task)
    hdrs = {}
    for k, v in e["headers"]:
        if k.lower() in ("content-type", "accept"):
            hdrs[k] = v
    return e["raw"], hdrs


class TaskCase(GatewayTestCase):
    """run_case: one request through the gateway, checked against the upstream's own
    answer to the request the gateway sent."""

    @classmethod
    def setUpClass(cls):
        cls.entries = harness.load_client_requests()
        cls.defaults = harness.load_default_models()
        super().setUpClass()

    def run_case(self, task, gw_path, model, headers_extra=None, v1=False):
        body, hdrs = task_request(task, self.entries)
        hdrs = dict(hdrs)
        hdrs.update(headers_extra or {})
        want_path = upstream_path(task, model)

        st, h, b = self.gw.request("POST", gw_path, body, hdrs)
        up = self.last_upstream(want_path)
        self.assertEqual(self.fake.stats()["total"], 1, "one upstream request expected")
        self.assertEqual(up["method"], "POST")
        self.assertEqual(up["headers"].get("authorization"), "Bearer " + self.secret)
        ubody = self.upstream_body(up)
        if not v1 or not body[:1] in (b"{", b"["):
            self.assertEqual(ubody, body, "upstream body differs from the client's")
        else:
            want = json.loads(body)
            if task.startswith("tabular-") and "table" in want:
                # /v1 sends tables the way the community backend validated them.
                want = {"inputs": {"data": want.pop("table")}, **want}
            self.assertEqual(json.loads(ubody), want,
                             "upstream JSON differs from the client's")

        self.fake.reset()
        est, eh, eb = self.fake.request("POST", want_path, ubody, hdrs)

        self.assertEqual(st, est, b[:300])
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(b, eb, "response body differs from the upstream's")
        self.assertEqual(h.get("content-type"), eh.get("content-type"))
        if model.startswith("mock/"):
            self.assertEqual(h.get("content-type"),
                             BINARY_TYPES.get(task, "application/json"))
        self.assertEqual(h.get("x-hfgate-model"), model)
        self.assertTrue(h.get("x-request-id"), "X-Request-Id missing")
        self.assertEqual(h.get("x-hfgate-attempts"), "1")
        self.assertEqual(h.get("x-compute-type"), eh.get("x-compute-type"))


class TaskRoutes(TaskCase):
    """POST /models/mock/<task> (or /pipeline/<task>/mock/<task>) and /v1/<task>."""


def missing_models_file():
    """A default_models_file path that does not exist (an install without the file,
    or a run from the build tree)."""
    return os.path.join(mkdtemp("hfgate-nodata-"), "default-models.tsv")


class BuiltinDefaults(TaskCase):
    """default_models_file missing: the table compiled from etc/default-models.tsv
    gives every task its default, for /api/tasks, /v1/tasks and /v1/{task}."""

    CONFIG = {"server": {"default_models_file": missing_models_file()}}

    def test_api_tasks_lists_every_default(self):
        st, _, b = self.gw.request("GET", "/api/tasks")
        self.assertEqual(st, 200, b[:300])
        got = json.loads(b)
        self.assertEqual(sorted(got), sorted(TASKS))
        for task in TASKS:
            with self.subTest(task=task):
                self.assertEqual(got[task]["widgetModels"], [self.defaults[task]])
                self.assertEqual(got[task]["models"], [{"id": self.defaults[task]}])

    def test_v1_tasks_lists_every_default(self):
        st, _, b = self.gw.request("GET", "/v1/tasks")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(json.loads(b), {t: self.defaults[t] for t in TASKS})


class BuiltinDefaultsCache(GatewayTestCase):
    """default_models_file missing, cache on: a default model's task is known offline,
    so POST /models/{default model} is cacheable from its first request."""

    CONFIG = {"server": {"default_models_file": missing_models_file()}}
    CACHE = True

    def test_default_model_is_cacheable(self):
        model = harness.load_default_models()["fill-mask"]
        path = "/models/" + model
        body = json.dumps({"inputs": "builtin %s <mask>" % os.getpid()}).encode()
        hdrs = {"Content-Type": "application/json"}
        st, h, b = self.gw.request("POST", path, body, hdrs)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h.get("x-cache"), "MISS", h)
        # Answered once the writer committed every store queued before it.
        st, _, b2 = self.gw.request("DELETE", "/admin/cache?model=hfgate-test/none")
        self.assertEqual(st, 200, b2[:300])
        st, h, b2 = self.gw.request("POST", path, body, hdrs)
        self.assertEqual(st, 200, b2[:300])
        self.assertEqual(h.get("x-cache"), "HIT", h)
        self.assertEqual(b2, b)
        self.assertEqual(self.fake.count(path), 1)


def _make(task, kind):
    def test(self):
        if kind == "hf":
            self.run_case(task, upstream_path(task, "mock/" + task), "mock/" + task)
        elif kind == "v1_default":
            model = self.defaults.get(task)
            if model is None:
                self.fail("etc/default-models.tsv has no model for %s" % task)
            self.run_case(task, "/v1/" + task, model, v1=True)
        elif kind == "v1_query":
            self.run_case(task, "/v1/%s?model=mock/%s" % (task, task), "mock/" + task,
                          v1=True)
        else:
            self.run_case(task, "/v1/" + task, "mock/" + task,
                          {"X-Model": "mock/" + task}, v1=True)
    test.__name__ = "test_%s_%s" % (kind, task.replace("-", "_"))
    test.__doc__ = "%s via %s" % (task, kind)
    return test


for _task in TASKS:
    for _kind in ("hf", "v1_default", "v1_query", "v1_header"):
        _t = _make(_task, _kind)
        setattr(TaskRoutes, _t.__name__, _t)
    # No model named and no data file: the built-in default.
    _t = _make(_task, "v1_default")
    setattr(BuiltinDefaults, _t.__name__, _t)


if __name__ == "__main__":
    unittest.main()
