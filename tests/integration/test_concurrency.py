# SPDX-License-Identifier: BSD-2-Clause
"""Concurrent requests are forwarded concurrently: a slow upstream answer must not hold
up other clients (the gateway is an event loop in front of many LAN apps)."""

import threading
import time
import unittest

from harness import GatewayTestCase, wait_until

JSON = {"Content-Type": "application/json"}


class Concurrency(GatewayTestCase):

    def run_parallel(self, paths):
        results = [None] * len(paths)

        def one(i, path):
            t = time.monotonic()
            try:
                st, _, b = self.gw.request("POST", path, b'{"inputs": "x"}', JSON, timeout=30)
                results[i] = (st, time.monotonic() - t, b)
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = (e, time.monotonic() - t, b"")
        threads = [threading.Thread(target=one, args=(i, p), daemon=True)
                   for i, p in enumerate(paths)]
        for t in threads:
            t.start()
        return threads, results

    def test_slow_requests_in_parallel(self):
        t0 = time.monotonic()
        threads, results = self.run_parallel(["/models/fake/slow-1500"] * 5)
        # All five must reach the upstream while the first is still being served.
        wait_until(lambda: self.fake.count("/models/fake/slow-1500") >= 5, 1.2,
                   what="5 concurrent requests at the upstream (saw %s)"
                   % self.fake.stats())
        for t in threads:
            t.join(30)
        total = time.monotonic() - t0
        for st, dt, b in results:
            self.assertEqual(st, 200, b[:200])
        self.assertLess(total, 2.8, "5 x 1.5 s upstream calls took %.2fs: serialized?"
                        % total)

    def test_fast_request_not_blocked_by_slow_one(self):
        threads, results = self.run_parallel(["/models/fake/slow-3000"])
        wait_until(lambda: self.fake.count("/models/fake/slow-3000") >= 1, 2,
                   what="the slow request at the upstream")
        t = time.monotonic()
        st, _, b = self.gw.request("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}',
                                   JSON)
        dt = time.monotonic() - t
        self.assertEqual(st, 200, b[:200])
        self.assertLess(dt, 1.0, "a fast request waited %.2fs behind a slow one" % dt)
        for th in threads:
            th.join(30)
        self.assertEqual(results[0][0], 200)


if __name__ == "__main__":
    unittest.main()
