# SPDX-License-Identifier: BSD-2-Clause
"""Streaming: text-generation with "stream": true and the endpoint routes are
relayed as SSE, live and byte-exact, with one error event for any failure once the
stream has started, bounded memory for slow readers, and a clean end at shutdown."""

import http.client
import json
import re
import selectors
import signal
import socket
import ssl
import time
import unittest

from harness import FreshGatewayTestCase, Gateway, GatewayTestCase, wait_until

JSON = {"Content-Type": "application/json"}
STREAM_BODY = (b'{"inputs": "test", "parameters": {"do_sample": false, "max_new_tokens": 20, '
               b'"details": false}, "stream": true}')
SHUTDOWN_EVENT = {"error": "hfgate is shutting down", "error_type": "unavailable"}
TGI_OOM_EVENT = (b'data:{"error":"Request failed during generation: out of memory",'
                 b'"error_type":"generation"}\n\n')
STAMP = re.compile(rb"^:t=(\d+)$")


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


def unstamp(body):
    """The body with the fake's ":t=<ms>" send stamps blanked (they differ per run)."""
    return re.sub(rb"(?m)^:t=\d+$", b":t=", body)


def parse_events(test, body):
    """The SSE body as a list of blocks (text up to a blank line), each a dict: data
    = the parsed JSON of its data: line (None if none), comments = its ':' lines. Fails
    the test on a data: line that is not JSON (a partial event reaching the client),
    or on a body that does not end at an event boundary."""
    test.assertTrue(body == b"" or body.endswith(b"\n\n"),
                    "stream does not end at an event boundary: %r" % body[-200:])
    out = []
    for block in body.split(b"\n\n")[:-1]:
        ev = {"raw": block, "data": None, "comments": []}
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                test.assertIsNone(ev["data"], "two data: lines in one event: %r" % block)
                try:
                    ev["data"] = json.loads(line[5:])
                except ValueError:
                    test.fail("a data: line that is not JSON reached the client: %r"
                              % line[:300])
            elif line.startswith(b":"):
                ev["comments"].append(line)
            elif line:
                test.fail("unexpected SSE line %r" % line[:200])
        out.append(ev)
    return out


def data_events(events):
    return [e["data"] for e in events if e["data"] is not None]


def is_token(d):
    return isinstance(d, dict) and isinstance(d.get("token"), dict) and "error" not in d


def is_final(d):
    return is_token(d) and d["token"].get("special") is True and \
        isinstance(d.get("generated_text"), str)


def stamp_of(ev):
    for c in ev["comments"]:
        m = STAMP.match(c)
        if m:
            return int(m.group(1)) / 1000.0
    return None


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def send_queue(local_port, remote_port):
    """Bytes queued for sending on the loopback TCP socket local_port ->
    remote_port (/proc/net/tcp's tx_queue), 0 if there is no such socket."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if (int(local.split(":")[1], 16) == local_port and
                    int(remote.split(":")[1], 16) == remote_port):
                return int(queues.split(":")[0], 16)
    return 0


def read_streams(port, path, body, n, timeout=15):
    """n identical streams opened at once and read to their end; closed after."""
    streams = [RawStream(port, path, body) for _ in range(n)]
    try:
        for rs in streams:
            rs.read_to_end(timeout)
    finally:
        for rs in streams:
            rs.close()
    return streams


class RawStream:
    """One streaming request on a raw socket. The response is decoded as it arrives
    (status, headers, chunked body); every read is recorded with its wall-clock time
    so that tests can tell when a given body offset reached the client."""

    def __init__(self, port, path, body=STREAM_BODY, headers=None, rcvbuf=None,
                 method="POST", tls=None, version="HTTP/1.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so that the advertised window stays small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(15)
        self.sock.connect(("127.0.0.1", port))
        if tls is not None:
            # An ssl.SSLContext: the same exchange over TLS.
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        hdrs = {"Host": "127.0.0.1", "Content-Type": "application/json",
                "Content-Length": str(len(body)), "Connection": "close"}
        hdrs.update(headers or {})
        req = "%s %s %s\r\n" % (method, path, version)
        req += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        self.sock.sendall(req.encode() + body)
        self.raw = bytearray()	# received, not yet decoded
        self.head = None
        self.status = None
        self.headers = {}
        self._body = bytearray()	# the decoded body so far
        self.complete = False	# chunked terminator seen
        self.eof = False
        self.arrivals = []	# (wall time, body length) after each read
        self._chunked = False

    @property
    def body(self):
        return bytes(self._body)

    def body_len(self):
        return len(self._body)

    def fileno(self):
        return self.sock.fileno()

    def feed(self, chunk):
        now = time.time()
        if not chunk:
            self.eof = True
            return
        self.raw += chunk
        if self.head is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head = bytes(self.raw[:end])
            del self.raw[:end + 4]
            lines = self.head.decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            for line in lines[1:]:
                k, _, v = line.partition(":")
                k = k.strip().lower()
                v = v.strip()
                self.headers[k] = self.headers[k] + ", " + v if k in self.headers else v
            self._chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self._decode()
        self.arrivals.append((now, len(self._body)))

    def _decode(self):
        if not self._chunked:
            self._body += self.raw
            del self.raw[:]
            return
        pos = 0
        while not self.complete:
            end = self.raw.find(b"\r\n", pos)
            if end < 0:
                break
            size = int(bytes(self.raw[pos:end]).split(b";")[0], 16)
            if size == 0:
                if self.raw.find(b"\r\n", end + 2) >= 0:
                    self.complete = True
                break
            if len(self.raw) < end + 2 + size + 2:
                break
            self._body += self.raw[end + 2:end + 2 + size]
            pos = end + 2 + size + 2
        del self.raw[:pos]

    def recv_once(self, n=65536):
        try:
            chunk = self.sock.recv(n)
        except (ConnectionResetError, ssl.SSLEOFError):
            chunk = b""
        self.feed(chunk)
        return chunk

    def read_until(self, cond, timeout, what="condition"):
        deadline = time.monotonic() + timeout
        while not cond(self):
            if self.eof:
                raise AssertionError("connection closed before %s; got %r"
                                     % (what, (self.head, self.body[-500:])))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %.1fs waiting for %s; got %r"
                                     % (timeout, what, (self.head, self.body[-500:])))
            self.sock.settimeout(left)
            try:
                self.recv_once()
            except socket.timeout:
                pass

    def read_to_end(self, timeout):
        self.read_until(lambda s: s.eof or s.complete, timeout, "the end of the response")

    def data_count(self):
        return self._body.count(b"data:")

    def time_of(self, offset):
        """Wall-clock time at which the body first reached offset bytes."""
        for t, n in self.arrivals:
            if n >= offset:
                return t
        return None

    def close(self):
        self.sock.close()


def stream_blocks_with_times(rs):
    """(receive time, block) for each complete SSE block of a RawStream's body."""
    out = []
    off = 0
    for block in rs.body.split(b"\n\n")[:-1]:
        off += len(block) + 2
        out.append((rs.time_of(off), block))
    return out


class StreamMixin:
    """Requests and assertions shared by the stream test classes."""

    assert_json_error = GatewayTestCase.assert_json_error

    def stream(self, gw, path, body=STREAM_BODY, headers=None, timeout=30):
        """POSTs with http.client and reads to EOF: a truncated chunked body raises
        IncompleteRead here. Returns (status, headers, body)."""
        hdrs = dict(JSON)
        hdrs.update(headers or {})
        return gw.request("POST", path, body, hdrs, timeout=timeout)

    def assert_stream_headers(self, st, h, b):
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h.get("content-type", "").split(";")[0].strip(),
                         "text/event-stream", h)
        self.assertEqual(h.get("cache-control"), "no-cache", h)
        self.assertEqual(h.get("x-accel-buffering"), "no", h)
        self.assertEqual(h.get("transfer-encoding", "").lower(), "chunked", h)
        self.assertNotIn("content-encoding", h)
        self.assertNotIn("content-length", h)
        self.assertTrue(h.get("x-request-id"), h)

    def direct(self, path, body=STREAM_BODY):
        """The fake's own answer to the same request (the fake log is reset after)."""
        st, h, b = self.fake.request("POST", path, body, JSON)
        return st, h, b

    def assert_ends_with_one_error(self, body, n_tokens, error_type):
        """n_tokens token events, then exactly one error event, then the end."""
        events = parse_events(self, body)
        datas = data_events(events)
        errors = [d for d in datas if "error" in d]
        self.assertEqual(len(errors), 1, "error events: %r" % errors)
        self.assertEqual(datas[-1], errors[0], "events after the error event")
        self.assertEqual(errors[0].get("error_type"), error_type, errors[0])
        self.assertIsInstance(errors[0].get("error"), str)
        self.assertTrue(errors[0]["error"])
        tokens = datas[:-1]
        self.assertEqual(len(tokens), n_tokens, body[:1000])
        for d in tokens:
            self.assertTrue(is_token(d), d)
            self.assertFalse(is_final(d), d)
        return errors[0]

    def wait_aborted(self, path, timeout):
        """Polls the fake's log until its request for path is marked aborted."""
        def get():
            for r in self.fake.requests():
                if r["path"] == path and r.get("aborted"):
                    return r
            return None
        return wait_until(get, timeout, interval=0.02,
                          what="the fake to see %s aborted" % path)


class Streaming(StreamMixin, GatewayTestCase):
    CONFIG = {
        "endpoint tgi": {
            "url": "{fake_url}/endpoints/tgi",
            "models": "acme/tgi",
            "task": "text-generation",
        },
    }

    def test_stream_relayed_byte_exact(self):
        """/models, /v1 with ?model=, a model routed to an endpoint, and the endpoint's
        own generate_stream route: the client gets the upstream's bytes exactly."""
        cases = (
            ("/models/mock/text-generation", "/models/mock/text-generation"),
            ("/v1/text-generation?model=mock/text-generation",
             "/models/mock/text-generation"),
            ("/models/acme/tgi", "/endpoints/tgi"),
            ("/endpoints/tgi/generate_stream", "/endpoints/tgi/generate_stream"),
        )
        for path, up in cases:
            with self.subTest(path=path):
                self.fake.reset()
                st, h, b = self.stream(self.gw, path, headers={"Accept-Encoding": "gzip"})
                self.assert_stream_headers(st, h, b)
                rec = self.last_upstream()
                self.assertEqual(rec["path"], up)
                self.assertEqual(self.upstream_body(rec), STREAM_BODY)
                self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)
                self.fake.reset()
                est, eh, eb = self.direct(up)
                self.assertEqual(est, 200)
                self.assertEqual(unstamp(b), unstamp(eb), "SSE bytes differ from the upstream's")
                datas = data_events(parse_events(self, b))
                self.assertGreaterEqual(len(datas), 2)
                self.assertTrue(is_final(datas[-1]), datas[-1])
                for d in datas[:-1]:
                    self.assertTrue(is_token(d) and not is_final(d), d)

    def test_non_stream_is_plain_json(self):
        body = STREAM_BODY.replace(b'"stream": true', b'"stream": false')
        st, h, b = self.gw.request("POST", "/models/mock/text-generation", body, JSON)
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), "application/json")
        self.assertIsInstance(json.loads(b), list)

    def test_v1_stream(self):
        st, h, b = self.stream(self.gw, "/v1/text-generation?model=mock/text-generation")
        self.assert_stream_headers(st, h, b)
        self.assertEqual(h.get("x-hfgate-model"), "mock/text-generation")
        datas = data_events(parse_events(self, b))
        self.assertTrue(is_final(datas[-1]), datas[-1])

    def test_events_arrive_incrementally(self):
        """fake/stream-5-300 sends an event every 300 ms: each must reach the client
        soon after the fake sent it (its :t= stamp), the first long before the last
        was even sent."""
        rs = RawStream(self.gw.port, "/models/fake/stream-5-300")
        try:
            rs.read_to_end(20)
        finally:
            rs.close()
        self.assertEqual(rs.status, 200, rs.head)
        self.assertTrue(rs.complete, "chunked body not terminated")
        timed = [(t, b) for t, b in stream_blocks_with_times(rs) if b"data:" in b]
        events = parse_events(self, rs.body)
        datas = data_events(events)
        self.assertTrue(is_final(datas[-1]), datas[-1])
        self.assertGreaterEqual(len(timed), 5)
        stamps = [stamp_of(e) for e in events if e["data"] is not None]
        self.assertNotIn(None, stamps, "an event without its :t= stamp")
        first_recv = timed[0][0]
        last_sent = stamps[-1]
        self.assertLess(first_recv, last_sent - 0.6,
                        "first event received at %.3f, last sent at %.3f: buffered"
                        % (first_recv, last_sent))
        for (recv, block), sent in zip(timed, stamps):
            self.assertLess(recv - sent, 0.25,
                            "event relayed %.3fs after the fake sent it: %r"
                            % (recv - sent, block[:80]))

    def test_disconnect_before_first_token(self):
        """The client goes away while the upstream has sent headers but no event yet:
        the upstream's connection is closed within about a second."""
        path = "/models/fake/stream-stall-5-0-3000"
        rs = RawStream(self.gw.port, path)
        try:
            # The request has reached the fake (and hfgate may have sent headers).
            self.wait_upstream(path)
            self.assertEqual(rs.data_count(), 0)
        finally:
            rs.close()
        t0 = time.monotonic()
        self.wait_aborted(path, 1.5)
        self.assertLess(time.monotonic() - t0, 1.2)
        self.assert_healthy()

    def test_disconnect_mid_stream(self):
        path = "/models/fake/stream-20-200"
        rs = RawStream(self.gw.port, path)
        try:
            rs.read_until(lambda s: s.data_count() >= 2 and
                          s.body.endswith(b"\n\n"), 10, "two events")
            self.assertEqual(rs.status, 200)
        finally:
            rs.close()
        t0 = time.monotonic()
        rec = self.wait_aborted(path, 1.5)
        self.assertLess(time.monotonic() - t0, 1.2)
        self.assertFalse(rec.get("completed"), rec)
        self.assert_healthy()

    def test_reset_mid_stream(self):
        """The upstream's connection is reset after 3 events: the client gets them,
        one incomplete_generation error event and a properly ended chunked body
        (http.client raises IncompleteRead otherwise)."""
        st, h, b = self.stream(self.gw, "/models/fake/stream-reset-10-3")
        self.assert_stream_headers(st, h, b)
        self.assert_ends_with_one_error(b, 3, "incomplete_generation")
        self.assert_healthy()

    def test_cut_mid_event(self):
        """Cut inside the 4th event: the partial event never reaches the client."""
        st, h, b = self.stream(self.gw, "/models/fake/stream-cut-10-3")
        self.assert_stream_headers(st, h, b)
        self.assert_ends_with_one_error(b, 3, "incomplete_generation")
        self.assert_healthy()

    def test_upstream_error_event_relayed(self):
        path = "/models/fake/stream-error-2"
        st, h, b = self.stream(self.gw, path)
        self.assert_stream_headers(st, h, b)
        self.assertTrue(b.endswith(TGI_OOM_EVENT), b[-300:])
        self.assert_ends_with_one_error(b, 2, "generation")
        self.fake.reset()
        _, _, eb = self.direct(path)
        self.assertEqual(unstamp(b), unstamp(eb), "hfgate changed or added to the stream")

    def test_stream_without_final_event(self):
        path = "/models/fake/stream-noend-3"
        st, h, b = self.stream(self.gw, path)
        self.assert_stream_headers(st, h, b)
        err = self.assert_ends_with_one_error(b, 3, "incomplete_generation")
        self.assertEqual(err, {"error": "Incomplete generation",
                               "error_type": "incomplete_generation"})
        self.fake.reset()
        _, _, eb = self.direct(path)
        self.assertTrue(unstamp(b).startswith(unstamp(eb)), (b, eb))
        self.assertEqual(len(sse_events(b)), len(sse_events(eb)) + 1)

    def test_retry_before_first_byte(self):
        path = "/models/fake/stream-503-1-3"
        st, h, b = self.stream(self.gw, path)
        self.assert_stream_headers(st, h, b)
        self.assertEqual(h.get("x-hfgate-attempts"), "2", h)
        self.assertEqual(len(self.wait_upstream(path, n=2)), 2)
        datas = data_events(parse_events(self, b))
        self.assertTrue(is_final(datas[-1]), datas[-1])
        self.assertFalse([d for d in datas if "error" in d])
        self.assertEqual(self.fake.count(path), 2)

    def test_validation_error_before_stream(self):
        path = "/models/fake/stream-422"
        st, h, b = self.stream(self.gw, path)
        obj = self.assert_json_error(st, h, b, 422, "validation")
        self.fake.reset()
        est, _, eb = self.direct(path)
        self.assertEqual(est, 422)
        self.assertEqual(obj, json.loads(eb))
        self.assertEqual(obj["error"], "Input validation error: `inputs` cannot be empty")

    def test_endpoint_generate(self):
        body = b'{"inputs": "Hello", "parameters": {"max_new_tokens": 5}}'
        st, h, b = self.gw.request("POST", "/endpoints/tgi/generate", body, JSON)
        self.assertEqual(st, 200, b[:300])
        rec = self.last_upstream()
        self.assertEqual((rec["method"], rec["path"]), ("POST", "/endpoints/tgi/generate"))
        self.assertEqual(self.upstream_body(rec), body)
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)
        obj = json.loads(b)
        self.assertIsInstance(obj, dict)
        self.assertIsInstance(obj.get("generated_text"), str)
        self.fake.reset()
        est, _, eb = self.fake.request("POST", "/endpoints/tgi/generate", body, JSON)
        self.assertEqual((st, b), (est, eb))

    def test_endpoint_info(self):
        st, h, b = self.gw.request("GET", "/endpoints/tgi/info")
        self.assertEqual(st, 200, b[:300])
        rec = self.last_upstream()
        self.assertEqual((rec["method"], rec["path"]), ("GET", "/endpoints/tgi/info"))
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)
        self.assertEqual(h.get("content-type", "").split(";")[0], "application/json")
        self.assertEqual(json.loads(b).get("model_id"), "tgi")
        self.fake.reset()
        _, _, eb = self.fake.request("GET", "/endpoints/tgi/info")
        self.assertEqual(b, eb)

    def test_endpoint_root_stream(self):
        st, h, b = self.stream(self.gw, "/endpoints/tgi")
        self.assert_stream_headers(st, h, b)
        rec = self.last_upstream()
        self.assertEqual((rec["method"], rec["path"]), ("POST", "/endpoints/tgi"))
        self.assertEqual(self.upstream_body(rec), STREAM_BODY)
        datas = data_events(parse_events(self, b))
        self.assertTrue(is_final(datas[-1]), datas[-1])
        self.fake.reset()
        _, _, eb = self.direct("/endpoints/tgi")
        self.assertEqual(unstamp(b), unstamp(eb))

    def test_unknown_endpoint_404(self):
        for method, path in (("POST", "/endpoints/nope"), ("POST", "/endpoints/nope/generate"),
                             ("POST", "/endpoints/nope/generate_stream"),
                             ("GET", "/endpoints/nope/info")):
            with self.subTest(path=path):
                body = STREAM_BODY if method == "POST" else None
                st, h, b = self.gw.request(method, path, body, JSON if body else None)
                self.assert_json_error(st, h, b, 404)
        self.assertEqual(self.fake.requests(), [])


class QuietGateway(Gateway):
    """A gateway whose ASan allocator keeps little freed memory in quarantine (under
    the sanitizer build), so that its RSS reflects what it holds, not what it freed."""

    @staticmethod
    def env():
        env = Gateway.env()
        opts = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=1"
        return env


class StreamLimits(StreamMixin, FreshGatewayTestCase):
    """Tests that need their own [stream] or [server] settings: one gateway each."""

    def start_quiet_gateway(self, config):
        return self.start_gateway(config, gateway_class=QuietGateway)

    def test_slow_reader_bounded_memory(self):
        """A reader far slower than the upstream gets every byte of a ~40 MB stream
        (2500 events of ~8 KB, then a final event repeating their text) that the fake
        sends as fast as it can, while hfgate's RSS stays below its idle RSS + 16 MB:
        the upstream is paused, not buffered, once the 64K stream buffer is full."""
        gw = self.start_quiet_gateway({"stream": {"buffer_bytes": "64k"}})
        # Warm up (libraries, pools), then take the idle RSS.
        st, h, b = self.stream(gw, "/models/fake/stream-big-3-8000")
        self.assert_stream_headers(st, h, b)
        idle = vm_rss_kb(gw.proc.pid)
        limit = idle + 16 * 1024
        n = 2500
        rs = RawStream(gw.port, "/models/fake/stream-big-%d-8000" % n, rcvbuf=4096)
        peak = idle
        reads = 0
        # The slow phase: small reads with pauses. An hfgate that does not hold the
        # upstream back has meanwhile read nearly all of it into its memory.
        slow_until = 8 * 1024 * 1024
        try:
            rs.read_until(lambda s: s.head is not None, 10, "the response headers")
            self.assertEqual(rs.status, 200, rs.head)
            deadline = time.monotonic() + 120
            while not rs.eof:
                self.assertLess(time.monotonic(), deadline, "stream not done in 120 s")
                rs.sock.settimeout(10)
                rs.recv_once(4096)
                reads += 1
                slow = rs.body_len() < slow_until
                if slow:
                    time.sleep(0.002)
                if reads % (8 if slow else 256) == 0:
                    peak = max(peak, vm_rss_kb(gw.proc.pid))
                    self.assertLess(peak, limit,
                                    "hfgate's RSS %d kB > idle %d kB + 16 MB after %d "
                                    "bytes read" % (peak, idle, rs.body_len()))
        finally:
            rs.close()
        self.assertTrue(rs.complete, "chunked body not terminated")
        body = rs.body
        self.assertGreater(len(body), 35 * 1024 * 1024)
        datas = data_events(parse_events(self, body))
        self.assertEqual(len(datas), n)
        self.assertTrue(is_final(datas[-1]), str(datas[-1])[:300])
        self.assertFalse([d for d in datas if "error" in d])
        text = "".join(d["token"]["text"] for d in datas[:-1])
        self.assertEqual(datas[-1]["generated_text"], text)
        self.assertEqual([d["token"]["id"] for d in datas[:-1]],
                         list(range(1000, 1000 + n - 1)))

    def test_http10_client_gets_the_raw_stream(self):
        """An HTTP/1.0 client cannot take chunks: it gets the events as they are,
        the end of the stream being the end of the connection, byte for byte what the
        upstream sent (events written straight to the socket are not framed then)."""
        gw = self.start_gateway({})
        path = "/models/fake/stream-30-5"
        rs = RawStream(gw.port, path, version="HTTP/1.0")
        try:
            rs.read_to_end(15)
        finally:
            rs.close()
        self.assertTrue(rs.eof)
        self.assertEqual(rs.status, 200, rs.head)
        self.assertNotIn("transfer-encoding", rs.headers)
        self.assertEqual(rs.headers.get("content-type", "").split(";")[0],
                         "text/event-stream", rs.headers)
        datas = data_events(parse_events(self, rs.body))
        self.assertEqual(len(datas), 30)
        self.assertTrue(is_final(datas[-1]), datas[-1])
        self.fake.reset()
        _, _, eb = self.direct(path)
        self.assertEqual(unstamp(rs.body), unstamp(eb))

    def test_stalled_reader_dropped(self):
        """A client that keeps up with a stream, then stops reading, is disconnected
        after stall_timeout and its upstream call cancelled; hfgate serves on."""
        gw = self.start_gateway({"stream": {"stall_timeout": "1", "buffer_bytes": "64k"}})
        path = "/models/fake/stream-big-2000-32000-5"
        rs = RawStream(gw.port, path, rcvbuf=4096)
        try:
            rs.read_until(lambda s: s.data_count() >= 3, 10, "three events")
            t0 = time.monotonic()
            wait_until(lambda: "client read nothing for 1 s" in gw.log_text(), 15,
                       interval=0.05, what="the stalled client to be dropped")
            self.wait_aborted(path, 5)
            elapsed = time.monotonic() - t0
        finally:
            rs.close()
        self.assertLess(elapsed, 10)
        st, h, b = self.stream(gw, "/models/fake/stream-3-5")
        self.assert_stream_headers(st, h, b)

    def test_sigterm_with_a_stalled_reader(self):
        """A client that stops reading in the middle of a stream, while hfgate writes
        its events straight to the socket, does not keep hfgate from exiting: SIGTERM,
        and after grace_seconds its connection is cut and hfgate exits 0, while
        another client's stream ends with the shutdown event."""
        gw = self.start_gateway({"server": {"grace_seconds": "1"}},
                                check_on_cleanup=False)
        # 32K events 5 ms apart: the client keeps up at first, so hfgate waits for
        # each event and writes it itself; then the client stops reading.
        stalled = RawStream(gw.port, "/models/fake/stream-big-2000-32000-5", rcvbuf=4096)
        reader = RawStream(gw.port, "/models/fake/stream-200-100")
        try:
            stalled.read_until(lambda s: s.data_count() >= 3, 10, "three events")
            reader.read_until(lambda s: s.data_count() >= 1, 10, "a first event")
            client_port = stalled.sock.getsockname()[1]
            # hfgate's socket full: its send queue stops growing while events keep
            # coming (a chunk is then half written, the rest waits in hfgate).
            seen = []

            def socket_full():
                seen.append(send_queue(gw.port, client_port))
                return len(seen) >= 3 and seen[-1] >= 16 * 1024 and \
                    seen[-1] == seen[-2] == seen[-3]
            wait_until(socket_full, 20, interval=0.1,
                       what="hfgate's socket to the stalled client to fill up")
            t0 = time.monotonic()
            gw.signal(signal.SIGTERM)
            reader.read_to_end(1 + 5)
            code = gw.wait_exit(max(0.1, t0 + 1 + 3 - time.monotonic()))
            elapsed = time.monotonic() - t0
        finally:
            stalled.close()
            reader.close()
        self.assertEqual(code, 0, "hfgate did not exit 0 within grace + 3 s:\n"
                         + gw.log_text()[-2000:])
        self.assertLess(elapsed, 1 + 3)
        self.assertTrue(reader.complete, reader.body[-300:])
        self.assertEqual(data_events(parse_events(self, reader.body))[-1], SHUTDOWN_EVENT)

    def test_event_longer_than_buffer(self):
        """An event longer than buffer_bytes (TGI's final event repeats the whole
        text: here ~150 KB with a 64K buffer) still reaches the client whole."""
        gw = self.start_gateway({"stream": {"buffer_bytes": "64k"}})
        path = "/models/fake/stream-big-20-8000"
        try:
            st, h, b = self.stream(gw, path, timeout=10)
        except (socket.timeout, http.client.IncompleteRead) as e:
            self.fail("the stream stalled before its long final event: %r" % e)
        self.assert_stream_headers(st, h, b)
        datas = data_events(parse_events(self, b))
        self.assertEqual(len(datas), 20)
        self.assertTrue(is_final(datas[-1]), str(datas[-1])[:300])
        self.assertGreater(len(datas[-1]["generated_text"]), 64 * 1024)
        self.fake.reset()
        _, _, eb = self.direct(path)
        self.assertEqual(unstamp(b), unstamp(eb))

    def test_idle_timeout(self):
        """2 events, then 3 s of silence with idle_timeout = 1: the client gets an
        incomplete_generation error event about 1 s after the last event, and the
        upstream transfer is cancelled."""
        gw = self.start_gateway({"stream": {"idle_timeout": "1", "heartbeat": "0"}})
        path = "/models/fake/stream-stall-5-2-3000"
        rs = RawStream(gw.port, path)
        try:
            rs.read_to_end(10)
        finally:
            rs.close()
        self.assertEqual(rs.status, 200, rs.head)
        self.assertTrue(rs.complete, "chunked body not terminated")
        self.assert_ends_with_one_error(rs.body, 2, "incomplete_generation")
        timed = [(t, b) for t, b in stream_blocks_with_times(rs) if b"data:" in b]
        gap = timed[-1][0] - timed[-2][0]
        self.assertGreaterEqual(gap, 0.9, "error event %.3fs after the last event" % gap)
        self.assertLess(gap, 2.0, "error event %.3fs after the last event" % gap)
        self.wait_aborted(path, 1.5)

    def test_heartbeat_during_stall(self):
        """heartbeat = 1 and a 2.5 s stall after the first event: ':' comments reach
        the client during the stall, only between events, and the stream completes."""
        gw = self.start_gateway({"stream": {"heartbeat": "1", "idle_timeout": "5"}})
        rs = RawStream(gw.port, "/models/fake/stream-stall-3-1-2500")
        try:
            rs.read_to_end(15)
        finally:
            rs.close()
        self.assertEqual(rs.status, 200, rs.head)
        self.assertTrue(rs.complete, "chunked body not terminated")
        events = parse_events(self, rs.body)
        datas = data_events(events)
        self.assertFalse([d for d in datas if "error" in d], datas)
        self.assertTrue(is_final(datas[-1]), datas[-1])
        timed = stream_blocks_with_times(rs)
        beats = [i for i, (_, b) in enumerate(timed) if b == b":"]
        self.assertGreaterEqual(len(beats), 1, rs.body)
        first_data = next(i for i, (_, b) in enumerate(timed) if b"data:" in b)
        second_data = next(i for i, (_, b) in enumerate(timed)
                           if b"data:" in b and i > first_data)
        for i in beats:
            self.assertTrue(first_data < i < second_data,
                            "heartbeat outside the stall: %r" % rs.body)
            t = timed[i][0]
            self.assertGreater(t - timed[first_data][0], 0.8)
            self.assertGreater(timed[second_data][0] - t, 0.2)
        # Only whole ":" lines were added: without them the bytes are the upstream's.
        for ev in events:
            for c in ev["comments"]:
                self.assertTrue(c == b":" or STAMP.match(c), c)

    def test_first_byte_timeout(self):
        gw = self.start_gateway({"stream": {"first_byte_timeout": "1"}})
        t0 = time.monotonic()
        st, h, b = self.stream(gw, "/models/fake/slow-3000")
        elapsed = time.monotonic() - t0
        self.assert_json_error(st, h, b, 504, "timeout")
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 2.5, "504 after %.2fs with first_byte_timeout = 1" % elapsed)


class StreamShutdown(StreamMixin, FreshGatewayTestCase):

    def test_sigterm_with_100_open_streams(self):
        """100 streams open, SIGTERM, grace_seconds = 1: every client gets its events,
        then the shutdown error event and the chunked terminator; exit 0 in time."""
        n = 100
        gw = self.start_gateway({"server": {"grace_seconds": "1"}}, check_on_cleanup=False)
        path = "/models/fake/stream-200-100"
        clients = []
        sel = selectors.DefaultSelector()
        try:
            for _ in range(n):
                rs = RawStream(gw.port, path)
                rs.sock.setblocking(False)
                clients.append(rs)
                sel.register(rs.sock, selectors.EVENT_READ, rs)

            def pump(until, deadline):
                while not until():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    for key, _ in sel.select(min(left, 0.5)):
                        rs = key.data
                        try:
                            chunk = rs.sock.recv(65536)
                        except BlockingIOError:
                            continue
                        except ConnectionResetError:
                            chunk = b""
                        rs.feed(chunk)
                        if rs.eof:
                            sel.unregister(rs.sock)
                return True

            ok = pump(lambda: all(c.data_count() >= 1 for c in clients),
                      time.monotonic() + 20)
            self.assertTrue(ok, "only %d of %d streams got an event"
                            % (sum(c.data_count() >= 1 for c in clients), n))
            self.assertFalse([c for c in clients if c.eof], "a stream ended early")
            t0 = time.monotonic()
            gw.signal(signal.SIGTERM)
            ok = pump(lambda: all(c.eof for c in clients), t0 + 1 + 5)
            code = gw.wait_exit(max(0.1, t0 + 1 + 3 - time.monotonic()))
            elapsed = time.monotonic() - t0
        finally:
            sel.close()
            for c in clients:
                c.close()
        self.assertTrue(ok, "%d of %d streams not ended after SIGTERM"
                        % (sum(not c.eof for c in clients), n))
        self.assertEqual(code, 0, "hfgate did not exit 0 within grace + 3 s:\n"
                         + gw.log_text()[-2000:])
        self.assertLess(elapsed, 1 + 3)
        for i, c in enumerate(clients):
            with self.subTest(client=i):
                self.assertEqual(c.status, 200, c.head)
                self.assertTrue(c.complete, "client %d: chunked body not terminated: %r"
                                % (i, c.body[-300:]))
                events = parse_events(self, c.body)
                datas = data_events(events)
                self.assertGreaterEqual(len(datas), 2)
                self.assertEqual(datas[-1], SHUTDOWN_EVENT)
                self.assertEqual(len([d for d in datas if "error" in d]), 1)
                for d in datas[:-1]:
                    self.assertTrue(is_token(d) and not is_final(d), d)
        gw.stop()
        problems = gw.problems(expect_exit=0)
        self.assertFalse(problems, "\n".join(problems))


if __name__ == "__main__":
    unittest.main()
