# SPDX-License-Identifier: BSD-2-Clause
"""SIGTERM with requests in flight: graceful drain within grace_seconds, exit 0."""

import json
import signal
import threading
import time
import unittest

from harness import FreshGatewayTestCase, wait_until

JSON = {"Content-Type": "application/json"}


class Shutdown(FreshGatewayTestCase):

    def start_gateway(self, grace):
        # The tests stop the daemon themselves and check it with check_clean.
        return super().start_gateway({"server": {"grace_seconds": str(grace)},
                                      "upstream": {"deadline_ms": "20000"}},
                                     check_on_cleanup=False)

    def fire(self, gw, model, n):
        results = [None] * n

        def one(i):
            try:
                results[i] = gw.request("POST", "/models/" + model, b'{"inputs": "x"}', JSON,
                                        timeout=30)
            except Exception as e:  # noqa: BLE001 - reported by the test
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        path = "/models/" + model
        wait_until(lambda: self.fake.count(path) >= n, 3,
                   what="%d requests in flight at the fake" % n)
        return threads, results

    def check_clean(self, gw):
        problems = gw.problems(expect_exit=0)
        self.assertFalse(problems, "\n".join(problems))

    def test_in_flight_requests_finish(self):
        gw = self.start_gateway(grace=5)
        threads, results = self.fire(gw, "fake/slow-1500", 5)
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        code = gw.wait_exit(10)
        elapsed = time.monotonic() - t0
        for t in threads:
            t.join(10)
        self.assertEqual(code, 0, "hfgate did not exit 0 within 10 s of SIGTERM:\n"
                         + gw.log_text()[-2000:])
        self.assertLess(elapsed, 5 + 2)
        for i, r in enumerate(results):
            with self.subTest(client=i):
                self.assertIsInstance(r, tuple, "client %d: %r" % (i, r))
                st, _, b = r
                self.assertEqual(st, 200, b[:200])
                self.assertEqual(json.loads(b), [[{"label": "POSITIVE", "score": 0.99}]])
        self.check_clean(gw)

    def test_requests_beyond_grace_are_cancelled(self):
        gw = self.start_gateway(grace=1)
        threads, results = self.fire(gw, "fake/slow-8000", 2)
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        code = gw.wait_exit(8)
        elapsed = time.monotonic() - t0
        for t in threads:
            t.join(10)
        self.assertEqual(code, 0, gw.log_text()[-2000:])
        self.assertLess(elapsed, 1 + 3, "grace_seconds=1 not honoured")
        for i, r in enumerate(results):
            with self.subTest(client=i):
                self.assertIsInstance(r, tuple, "client %d got no answer: %r" % (i, r))
                st, h, b = r
                self.assertIn(st, (503, 504), b[:200])
                self.assertEqual(h.get("content-type", "").split(";")[0], "application/json")
                self.assertIn(json.loads(b).get("error_type"), ("unavailable", "timeout"))
        self.check_clean(gw)

    def test_sigint_idle_exits_0(self):
        gw = self.start_gateway(grace=2)
        self.assertTrue(gw.healthy())
        gw.signal(signal.SIGINT)
        self.assertEqual(gw.wait_exit(5), 0)
        self.check_clean(gw)


if __name__ == "__main__":
    unittest.main()
