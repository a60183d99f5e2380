# SPDX-License-Identifier: BSD-2-Clause
"""Loading models, rate limits, 5xx, resets, dead upstream, deadlines."""

import json
import math
import time
import unittest

from harness import FreshGatewayTestCase, GatewayTestCase

BODY = b'{"inputs": "I like you"}'
JSON = {"Content-Type": "application/json"}


class Retries(GatewayTestCase):
    CONFIG = {"upstream": {"max_attempts": "3", "deadline_ms": "10000"}}

    def post(self, model, headers=None, timeout=30):
        hdrs = dict(JSON)
        hdrs.update(headers or {})
        t0 = time.monotonic()
        st, h, b = self.gw.request("POST", "/models/" + model, BODY, hdrs, timeout=timeout)
        return st, h, b, time.monotonic() - t0

    def attempts(self, h):
        self.assertIn("x-hfgate-attempts", h)
        return int(h["x-hfgate-attempts"])

    def test_loading_model_waited_for(self):
        st, h, b, dt = self.post("fake/loading-1500")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(json.loads(b), [[{"label": "POSITIVE", "score": 0.99}]])
        self.assertGreaterEqual(self.attempts(h), 2)
        self.assertEqual(self.fake.count("/models/fake/loading-1500"), self.attempts(h))
        self.assertGreaterEqual(dt, 1.2)
        self.assertLess(dt, 8)

    def test_loading_no_wait_relays_503(self):
        st, h, b, dt = self.post("fake/loading-1500", {"X-Wait-For-Model": "false"})
        self.assertEqual(st, 503, b[:300])
        obj = json.loads(b)
        self.assertIn("estimated_time", obj)
        self.assertIn("currently loading", obj["error"])
        self.assertEqual(self.attempts(h), 1)
        self.assertEqual(self.fake.count("/models/fake/loading-1500"), 1)
        self.assertLess(dt, 1.0)

    def test_always_loading_deadline_relays_503_with_retry_after(self):
        st, h, b, dt = self.post("fake/always-loading", {"X-Timeout": "2"})
        self.assertEqual(st, 503, b[:300])
        obj = json.loads(b)
        self.assertEqual(obj.get("estimated_time"), 20.0)
        self.assertIn("retry-after", h)
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        self.assertEqual(h.get("content-type"), "application/json")
        self.assertGreaterEqual(dt, 1.0)
        self.assertLess(dt, 4.0)

    def test_429_retry_after_seconds_honoured(self):
        st, h, b, dt = self.post("fake/429-1")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(self.attempts(h), 2)
        self.assertEqual(self.fake.count("/models/fake/429-1"), 2)
        self.assertGreaterEqual(dt, 0.9, "Retry-After: 1 not honoured")

    def test_429_retry_after_http_date_honoured(self):
        # The date has second resolution and lies at least 1 s ahead, so it is at or
        # after the next whole second of the wall clock: no retry may come before.
        start = time.time()
        st, h, b, dt = self.post("fake/429date-1")
        end = time.time()
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(self.attempts(h), 2)
        self.assertEqual(self.fake.count("/models/fake/429date-1"), 2)
        self.assertGreaterEqual(end, math.floor(start) + 1 - 0.02,
                                "Retry-After HTTP-date not honoured (%.3fs)" % dt)
        self.assertLess(dt, 4.0)

    def test_5xx_retried(self):
        st, h, b, _ = self.post("fake/5xx-2")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(self.attempts(h), 3)
        self.assertEqual(self.fake.count("/models/fake/5xx-2"), 3)

    def test_always500_relayed_after_max_attempts(self):
        st, h, b, _ = self.post("fake/always500")
        self.assertEqual(st, 500, b[:300])
        self.assertEqual(json.loads(b), {"error": "unknown error"})
        self.assertEqual(h.get("content-type"), "application/json")
        self.assertEqual(self.attempts(h), 3)
        self.assertEqual(self.fake.count("/models/fake/always500"), 3)

    def test_deadline_504(self):
        st, h, b, dt = self.post("fake/slow-5000", {"X-Timeout": "1"})
        self.assert_json_error(st, h, b, 504, "timeout")
        self.assertGreaterEqual(dt, 0.8)
        self.assertLess(dt, 2.5)
        self.assert_healthy()
        st, _, b, _ = self.post("mock/text-classification")
        self.assertEqual(st, 200, b[:300])

    def test_404_not_retried(self):
        st, h, b, _ = self.post("unknown/model")
        self.assertEqual(st, 404, b[:300])
        self.assertEqual(json.loads(b), {"error": "Model unknown/model does not exist"})
        self.assertEqual(self.attempts(h), 1)
        self.assertEqual(self.fake.count("/models/unknown/model"), 1)


class Resets(FreshGatewayTestCase):
    """Upstream closes the connection without answering. A fresh gateway per test: on
    a cold connection pool every upstream call is one counted attempt."""

    CONFIG = {"upstream": {"max_attempts": "3"}}

    def post(self, gw, model):
        return gw.request("POST", "/models/" + model, BODY, JSON)

    def test_reset_retried(self):
        gw = self.start_gateway(self.CONFIG)
        st, h, b = self.post(gw, "fake/reset-1")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h.get("x-hfgate-attempts"), "2")
        self.assertEqual(self.fake.count("/models/fake/reset-1"), 2)

    def test_reset_always_502(self):
        gw = self.start_gateway(self.CONFIG)
        st, h, b = self.post(gw, "fake/reset-100")
        self.assert_json_error(st, h, b)
        self.assertEqual(h.get("x-hfgate-attempts"), "3")
        self.assertEqual(self.fake.count("/models/fake/reset-100"), 3,
                         "max_attempts=3 but the upstream got more calls")
        self.assertTrue(gw.healthy())

    def warm_gateway(self, max_attempts=3):
        """A gateway with one loop thread and an idle keep-alive connection to the
        fake in its pool: its next call reuses that connection."""
        gw = self.start_gateway({"upstream": {"max_attempts": str(max_attempts)},
                                 "server": {"workers": "1"}})
        self.assertEqual(self.post(gw, "mock/text-classification")[0], 200)
        self.fake.reset()
        return gw

    def test_reset_on_warm_connection(self):
        # When a reused connection dies without a byte, libcurl sends the request
        # again on a new connection: that is an attempt too, within max_attempts.
        gw = self.warm_gateway()
        st, h, b = self.post(gw, "fake/reset-100")
        self.assert_json_error(st, h, b)
        self.assertEqual(self.fake.count("/models/fake/reset-100"), 3,
                         "max_attempts=3 but the upstream got another number of calls")
        self.assertEqual(h.get("x-hfgate-attempts"), "3")

    def test_warm_reset_counts_every_upstream_call(self):
        gw = self.warm_gateway()
        st, h, b = self.post(gw, "fake/reset-2")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(self.fake.count("/models/fake/reset-2"), 3)
        self.assertEqual(h.get("x-hfgate-attempts"), "3",
                         "X-Hfgate-Attempts must count every upstream call")
        self.assertIn(" attempts=3 ", gw.log_text())

    def test_warm_reset_with_max_attempts_1_sends_once(self):
        # max_attempts = 1 allows no second call, libcurl's own re-send included.
        gw = self.warm_gateway(max_attempts=1)
        st, h, b = self.post(gw, "fake/reset-1")
        self.assert_json_error(st, h, b)
        self.assertEqual(self.fake.count("/models/fake/reset-1"), 1)
        self.assertEqual(h.get("x-hfgate-attempts"), "1")
        self.assertTrue(gw.healthy())

    def assert_json_error(self, st, h, b):
        self.assertEqual(st, 502, b[:300])
        self.assertEqual(h.get("content-type"), "application/json")
        obj = json.loads(b)
        self.assertEqual(obj.get("error_type"), "upstream_unreachable", obj)
        self.assertIsInstance(obj.get("error"), str)


class DeadUpstream(GatewayTestCase):
    DEAD_UPSTREAM = True

    def test_closed_port_502(self):
        t0 = time.monotonic()
        st, h, b = self.gw.request("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}',
                                   JSON, timeout=30)
        self.assert_json_error(st, h, b, 502, "upstream_unreachable")
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(self.fake.stats()["total"], 0)
        self.assert_healthy()

    def test_status_closed_port_502(self):
        st, h, b = self.gw.request("GET", "/status/mock/fill-mask")
        self.assert_json_error(st, h, b, 502, "upstream_unreachable")


if __name__ == "__main__":
    unittest.main()
