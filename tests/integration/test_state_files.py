# SPDX-License-Identifier: BSD-2-Clause
"""The cache and usage files hold the clients' answers and usage: created 0600 in a
directory created 0700, whatever the umask (docs/cache.md)."""

import json
import os
import sqlite3
import stat
import unittest

from harness import FreshGatewayTestCase, cache_config, mkdtemp, wait_until

JSON = {"Content-Type": "application/json"}


class StateFileModes(FreshGatewayTestCase):

    def start_with_umask(self, config):
        old = os.umask(0o022)
        try:
            return self.start_gateway(config)
        finally:
            os.umask(old)

    def assert_private(self, db):
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(db)).st_mode), 0o700)
        # In WAL mode, with hfgate's connections open, the -wal and -shm files too.
        for suffix in ("", "-wal", "-shm"):
            self.assertEqual(stat.S_IMODE(os.stat(db + suffix).st_mode), 0o600, db + suffix)

    def test_cache_file(self):
        db = os.path.join(mkdtemp("hfgate-modes-"), "state", "cache.db")
        gw = self.start_with_umask(cache_config(db))
        st, _, b = gw.request("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}', JSON)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(gw.request("DELETE", "/admin/cache?model=hfgate-test/none")[0], 200)
        self.assert_private(db)
        # The answer was stored in it (the deletion above waited for the writer).
        with sqlite3.connect(db) as c:
            self.assertEqual(c.execute("SELECT count(*) FROM entry").fetchone()[0], 1)

    def test_usage_file(self):
        db = os.path.join(mkdtemp("hfgate-modes-"), "usage", "usage.db")
        gw = self.start_with_umask({"cache": {"enabled": "no"}, "usage": {"db": db}})
        st, _, b = gw.request("POST", "/models/mock/fill-mask", b'{"inputs": "a <mask>"}', JSON)
        self.assertEqual(st, 200, b[:300])
        # Written: the writer has created the tables and the WAL by then.
        wait_until(lambda: json.loads(gw.request("GET", "/admin/usage")[2])
                   ["totals"]["requests"] == 1, 5, interval=0.02, what="the request counted")
        self.assert_private(db)


if __name__ == "__main__":
    unittest.main()
