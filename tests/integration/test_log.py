# SPDX-License-Identifier: BSD-2-Clause
"""The log: what a client sends cannot forge or garble a line (docs/api.md, "The
access log")."""

import re
import unittest

from harness import GatewayTestCase, wait_until


class AccessLogEscaping(GatewayTestCase):

    def raw_log(self):
        with open(self.gw.log_path, "rb") as f:
            return f.read()

    def access_line(self, rid):
        """The access line of the request with X-Request-Id rid, as bytes."""
        def find():
            for line in self.raw_log().split(b"\n"):
                if line.endswith(b" id=" + rid.encode()):
                    return line
            return None
        return wait_until(find, 5, what="the access line of " + rid)

    def test_forged_line(self):
        # A CR LF in the path would start a line of the attacker's choosing.
        st, _, _ = self.gw.request(
            "POST", "/models/b%0d%0ahfgate:%20POST%20/v1/x%20client=team-a%20status=200",
            b"x", {"X-Request-Id": "forge-1"})
        self.assertEqual(st, 400)
        line = self.access_line("forge-1")
        self.assertRegex(line.decode(),
                         r'^hfgate: POST "/models/b\\r\\nhfgate: POST /v1/x client=team-a '
                         r'status=200" client=- addr=127\.0\.0\.1 model=- status=400 '
                         r'ms=\d+ attempts=0 in=\d+ out=\d+ id=forge-1$')
        for other in self.raw_log().split(b"\n"):
            self.assertFalse(other.startswith(b"hfgate: POST /v1/x"), other)
            self.assertNotIn(b"\r", other)

    def test_quotes_controls_and_bytes_not_utf8(self):
        st, _, _ = self.gw.request("GET", "/a%22b%5Cc%ff%c3%a9%1b[31m%09%7f",
                                   None, {"X-Request-Id": "forge-2"})
        self.assertEqual(st, 404)
        line = self.access_line("forge-2")
        self.assertTrue(line.startswith(
            b'hfgate: GET /a\\"b\\\\c\\xff\xc3\xa9\\u001b[31m\\t\\u007f client=- '
            b'addr=127.0.0.1 model=- status=404 '), line)
        log = self.raw_log()
        for b in (b"\x1b", b"\x7f", b"\xff", b"\t"):
            self.assertNotIn(b, log)

    def test_address_of_the_client(self):
        st, _, _ = self.gw.request("GET", "/healthz", None, {"X-Request-Id": "addr-1"})
        self.assertEqual(st, 200)
        self.assertRegex(self.access_line("addr-1").decode(),
                         r"^hfgate: GET /healthz client=- addr=127\.0\.0\.1 model=- "
                         r"status=200 ms=\d+ attempts=0 in=0 out=15 id=addr-1$")


if __name__ == "__main__":
    unittest.main()
