# SPDX-License-Identifier: BSD-2-Clause
"""The token never comes back: an upstream answer that holds it (an upstream that
echoes request headers: fake/echo-auth*) is replaced by a 502, never stored, and
logged without it (docs/api.md, "Errors" and "Streaming")."""

import json
import os
import unittest

from harness import (FreshGatewayTestCase, Gateway, GatewayTestCase, cache_config,
                     mkdtemp, wait_until)

JSON = {"Content-Type": "application/json"}
BODY = b'{"inputs": "I like you"}'
STREAM = b'{"inputs": "Hi", "stream": true}'


def data_events(sse):
    return [json.loads(line[5:]) for line in sse.split(b"\n") if line.startswith(b"data:")]


class TokenEchoed(GatewayTestCase):
    CACHE = True

    def setUp(self):
        super().setUp()
        st, _, b = self.gw.request("DELETE", "/admin/cache")
        self.assertEqual(st, 200, b)

    def assert_withheld(self, st, h, b, where):
        obj = self.assert_json_error(st, h, b, 502, "upstream_credential")
        self.assertIn("token", obj["error"])
        self.assertNotIn(self.secret.encode(), b)
        self.assertNotIn(b"TESTSECRET", b)
        for k, v in h.items():
            self.assertNotIn("TESTSECRET", v, k)
        wait_until(lambda: "holds hfgate's token in its %s: withheld" % where
                   in self.gw.log_text(), 5, what="the log line of a withheld answer")

    def assert_not_stored(self, path, up, body, n):
        """The same request again goes upstream again: nothing was stored (and the
        file holds no byte of the token)."""
        st, h, b = self.gw.request("POST", path, body, JSON)
        self.assertNotIn(h.get("x-cache"), ("HIT", "STALE"))
        self.assertEqual(self.fake.count(up), n)
        st, _, b = self.gw.request("DELETE", "/admin/cache?model=hfgate-test/none")
        self.assertEqual(st, 200, b)	# answered once the writer committed
        st, _, b = self.gw.request("GET", "/admin/cache")
        self.assertEqual(json.loads(b)["entries"], 0, b)
        for suffix in ("", "-wal"):
            if os.path.exists(self.cache_db + suffix):
                with open(self.cache_db + suffix, "rb") as f:
                    self.assertNotIn(b"TESTSECRET", f.read(), "in the cache file")

    def test_body(self):
        for path in ("/models/fake/echo-auth",
                     "/pipeline/text-classification/fake/echo-auth",
                     "/v1/text-classification?model=fake/echo-auth"):
            with self.subTest(path=path):
                self.fake.reset()
                st, h, b = self.gw.request("POST", path, BODY, JSON)
                self.assert_withheld(st, h, b, "body")
                up = "/models/fake/echo-auth" if path.startswith("/v1") else path
                # Never retried: the answer came, it is only not to be passed on.
                self.assertEqual(self.fake.count(up), 1)
                self.assert_not_stored(path, up, BODY, 2)

    def test_relayed_header(self):
        st, h, b = self.gw.request("POST", "/models/fake/echo-auth-header", BODY, JSON)
        self.assert_withheld(st, h, b, "headers")
        self.assertNotIn("x-echo-authorization", h)
        self.assert_not_stored("/models/fake/echo-auth-header", "/models/fake/echo-auth-header",
                               BODY, 2)

    def test_stream_headers(self):
        # The stream's headers hold it: nothing went out yet, so a plain 502.
        st, h, b = self.gw.request("POST", "/models/fake/echo-auth-header", STREAM, JSON)
        self.assert_withheld(st, h, b, "headers")

    def test_stream(self):
        # Events went out before the token came, cut in two upstream chunks: the
        # client gets those events, then one error event, and no byte of it.
        for k in (2, 0):
            path = "/models/fake/echo-auth-stream-%d" % k
            with self.subTest(k=k):
                st, h, b = self.gw.request("POST", path, STREAM, JSON)
                self.assertEqual(st, 200, b[:300])
                self.assertTrue(h.get("content-type", "").startswith("text/event-stream"))
                self.assertNotIn(self.secret.encode(), b)
                self.assertNotIn(b"TESTSECRET", b)
                self.assertNotIn(b"Bearer", b)
                events = data_events(b)
                self.assertEqual([e["token"]["text"] for e in events[:-1]],
                                 [" tok%d" % i for i in range(k)])
                self.assertEqual(events[-1]["error_type"], "upstream_credential", events)
                wait_until(lambda: "holds hfgate's token: withheld" in self.gw.log_text(),
                           5, what="the log line of a withheld stream")
                self.assert_not_stored(path, path, STREAM, 2)

    def test_answers_without_it_pass(self):
        st, h, b = self.gw.request("POST", "/models/fake/echo", BODY, JSON)
        self.assertEqual(st, 200, b[:300])
        echoed = json.loads(b)
        self.assertNotIn("TESTSECRET", echoed["headers"]["authorization"])
        st, _, b = self.gw.request("POST", "/models/fake/stream-3-10", STREAM, JSON)
        self.assertEqual(st, 200)
        self.assertEqual(len(data_events(b)), 3)


class TokenEchoedInALongLine(GatewayTestCase):
    """A line longer than the stream buffer goes out before its end, but not the bytes
    of it that may begin the token."""
    CONFIG = {"stream": {"buffer_bytes": "4096"}}

    def test_stream(self):
        for pad in (5000, 4090, 20000):
            with self.subTest(pad=pad):
                st, h, b = self.gw.request("POST", "/models/fake/echo-auth-stream-0-%d"
                                           % pad, STREAM, JSON)
                self.assertEqual(st, 200, b[:300])
                self.assertFalse(b"hf_" in b, "the stream let out %r"
                                 % b[b.find(b"hf_") - 10:b.find(b"hf_") + 40])
                self.assertIn(b"xxxx", b)
                self.assertEqual(data_events(b[b.rindex(b"data:"):])[-1]["error_type"],
                                 "upstream_credential")


class StoredAnswerWithToken(FreshGatewayTestCase):
    """An answer stored without the check (here: by a gateway whose token was another)
    that holds this gateway's token is not served from the cache."""

    def test_not_served(self):
        db = os.path.join(mkdtemp("hfgate-leak-"), "cache.db")
        path = "/pipeline/text-classification/fake/echo"
        token = "hf_TESTSECRET_in_a_request_id_0123456789"
        first = self.start_gateway(cache_config(db))
        # fake/echo echoes the request id: the stored answer holds the text.
        hdrs = dict(JSON, **{"X-Request-Id": token})
        st, h, b = first.request("POST", path, BODY, hdrs)
        self.assertEqual(st, 200, b[:300])
        self.assertIn(token.encode(), b)
        wait_until(lambda: first.request("POST", path, BODY, hdrs)[1].get("x-cache") == "HIT",
                   5, interval=0.02, what="the answer stored")
        first.stop()
        second = Gateway(self.fake, cache_config(db))
        with open(second.token_path, "w") as f:
            f.write(token + "\n")
        second.secret = token
        self.addCleanup(second.kill)
        second.start()
        self.fake.reset()
        st, h, b = second.request("POST", path, BODY, JSON)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h.get("x-cache"), "MISS")
        self.assertNotIn(token.encode(), b)
        self.assertEqual(self.fake.count(path), 1)
        second.stop()
        self.assertEqual(second.problems(), [])


if __name__ == "__main__":
    unittest.main()
