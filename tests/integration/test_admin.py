# SPDX-License-Identifier: BSD-2-Clause
"""The admin routes' answers are JSON whatever the query holds: what they echo comes
back exactly (docs/cache.md, "Administration"; docs/api.md, "GET /admin/usage")."""

import json
import unittest
import urllib.parse

from harness import GatewayTestCase

# Past any fixed buffer; a quote, a backslash, a control character, UTF-8, a
# character outside the BMP.
ECHOED = ("m" * 700, 'a"b', 'x\\"},"deleted":false,"y":"', "tab\there", "caf\u00e9",
          "\U0001f600/" + "z" * 300)


class AdminAnswers(GatewayTestCase):
    CACHE = True

    def get_json(self, method, path):
        st, h, b = self.gw.request(method, path)
        self.assertEqual(h.get("content-type"), "application/json", b[:200])
        self.assertEqual(int(h.get("content-length", -1)), len(b))
        return st, json.loads(b.decode("utf-8"))

    def test_delete_echoes_the_model(self):
        for model in ECHOED:
            with self.subTest(model=model[:20]):
                st, obj = self.get_json("DELETE", "/admin/cache?model="
                                        + urllib.parse.quote(model, safe=""))
                self.assertEqual(st, 200)
                self.assertEqual(obj, {"deleted": True, "model": model})
        st, obj = self.get_json("DELETE", "/admin/cache")
        self.assertEqual((st, obj), (200, {"deleted": True, "model": None}))
        self.assert_healthy()

    def test_usage_echoes_the_client(self):
        for client in ECHOED:
            with self.subTest(client=client[:20]):
                st, obj = self.get_json("GET", "/admin/usage?client="
                                        + urllib.parse.quote(client, safe=""))
                self.assertEqual(st, 200)
                self.assertEqual(obj["client"], client)
                self.assertEqual(obj["rows"], [])
        self.assert_healthy()


if __name__ == "__main__":
    unittest.main()
