"""text-generation with "stream": true is relayed as SSE, byte-exact and unbuffered."""

import json
import select
import socket
import time
import unittest

from harness import GatewayTestCase

JSON = {"Content-Type": "application/json"}
STREAM_BODY = (b'{"inputs": "test", "parameters": {"do_sample": false, "max_new_tokens": 20, '
               b'"details": false}, "stream": true}')


def dechunk(data):
    """Decodes an HTTP/1.1 chunked body; returns (body, complete)."""
    out = b""
    while True:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            return out, False
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return out, True
        if len(rest) < size + 2:
            return out, False
        out += rest[:size]
        data = rest[size + 2:]


def sse_events(body):
    return [e for e in body.split(b"\n\n") if e.strip()]


class Streaming(GatewayTestCase):

    def test_stream_relayed_byte_exact(self):
        for path, up in (("/models/mock/text-generation", "/models/mock/text-generation"),
                         ("/v1/text-generation?model=mock/text-generation",
                          "/models/mock/text-generation")):
            with self.subTest(path=path):
                self.fake.reset()
                st, h, b = self.gw.request("POST", path, STREAM_BODY, JSON)
                self.assertEqual(st, 200, b[:300])
                self.assertEqual(h.get("content-type", "").split(";")[0], "text/event-stream")
                self.assertEqual(self.last_upstream()["path"], up)
                self.fake.reset()
                est, eh, eb = self.fake.request("POST", up, STREAM_BODY, JSON)
                self.assertEqual(b, eb, "SSE bytes differ from the upstream's")
                events = sse_events(b)
                self.assertGreaterEqual(len(events), 2)
                for e in events:
                    self.assertTrue(e.startswith(b"data:"), e)
                last = json.loads(events[-1][5:])
                self.assertTrue(last["token"]["special"])
                self.assertIsInstance(last["generated_text"], str)

    def test_non_stream_is_plain_json(self):
        body = STREAM_BODY.replace(b'"stream": true', b'"stream": false')
        st, h, b = self.gw.request("POST", "/models/mock/text-generation", body, JSON)
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), "application/json")
        self.assertIsInstance(json.loads(b), list)

    def test_events_arrive_incrementally(self):
        """fake/stream-5-200 sends an event every 200 ms: the first must reach the
        client long before the last (no buffering in the gateway)."""
        req = (b"POST /models/fake/stream-5-200 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n" % len(STREAM_BODY)) + STREAM_BODY
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=15)
        raw = b""
        arrivals = []	# (time, number of complete "data:" events so far)
        t0 = time.monotonic()
        try:
            s.sendall(req)
            deadline = t0 + 15
            while time.monotonic() < deadline:
                r, _, _ = select.select([s], [], [], deadline - time.monotonic())
                if not r:
                    break
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
                head, _, rest = raw.partition(b"\r\n\r\n")
                body, _ = dechunk(rest) if b"chunked" in head.lower() else (rest, False)
                arrivals.append((time.monotonic(), body.count(b"data:")))
        finally:
            s.close()
        head, _, rest = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:200])
        self.assertIn(b"text/event-stream", head.lower())
        if b"chunked" in head.lower():
            body, complete = dechunk(rest)
            self.assertTrue(complete, "chunked body not terminated")
        else:
            body = rest
        events = [e for e in sse_events(body) if b"data:" in e]
        self.assertEqual(len(events), 5, body[:500])
        first = next(t for t, n in arrivals if n >= 1)
        last = next(t for t, n in arrivals if n >= 5)
        self.assertGreaterEqual(last - first, 0.5,
                                "events were buffered: first at %.3fs, last at %.3fs"
                                % (first - t0, last - t0))


if __name__ == "__main__":
    unittest.main()
