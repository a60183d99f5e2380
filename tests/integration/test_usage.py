# SPDX-License-Identifier: BSD-2-Clause
"""Usage accounting: every inference request is counted per UTC day, client,
model and task, in the usage table of the cache's SQLite file, and read back with
GET /admin/usage.

Counts reach the file within about a second (each loop thread hands its counters to
the writer within [usage] flush_interval_ms, default 1000), so the tests poll /admin/usage with a deadline until the rows
are exactly what the requests made. Without client keys every request counts under
client "-"."""

import json
import os
import secrets
import signal
import threading
import time

from harness import (FreshGatewayTestCase, GatewayTestCase, cache_config, key_sha256,
                     mkdtemp, wait_until)

JSON = {"Content-Type": "application/json"}
COUNTERS = ("requests", "cache_hits", "attempts", "errors", "upstream_ms", "bytes_in",
            "bytes_out", "generated_tokens")


def nonce():
    return secrets.token_hex(8)


def body_of(obj):
    return json.dumps(obj).encode()


class UsageHelpers:
    """Reads and polls of /admin/usage (self.gw)."""

    def usage(self, query="", gw=None):
        st, h, b = (gw or self.gw).request("GET", "/admin/usage" + query)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h.get("content-type"), "application/json")
        return json.loads(b)

    def rows_by_key(self, answer, keys):
        """{(model, task): counters summed over days} of the rows for the keys (a
        test that runs across UTC midnight has two days)."""
        out = {}
        for r in answer["rows"]:
            k = (r["model"], r["task"])
            if k not in keys:
                continue
            self.assertEqual(r["client"], "-", r)
            acc = out.setdefault(k, dict.fromkeys(COUNTERS, 0))
            for c in COUNTERS:
                acc[c] += r[c]
        return out

    def wait_rows(self, want, query="", gw=None, timeout=5):
        """Polls until the rows of want's keys hold want's counters (upstream_ms is
        checked by the caller: only its bounds are known); returns them."""
        last = {}

        def match():
            nonlocal last
            last = self.rows_by_key(self.usage(query, gw), want.keys())
            for k, counters in want.items():
                got = last.get(k)
                if got is None or any(got[c] != v for c, v in counters.items()):
                    return None
            return last
        try:
            return wait_until(match, timeout, interval=0.05, what="usage rows")
        except AssertionError:
            self.fail("usage rows never matched:\nwant %r\nlast %r" % (want, last))


class UsageTest(UsageHelpers, GatewayTestCase):
    """Accounting on (it uses the cache's file)."""

    CACHE = True

    def post(self, path, obj, headers=None):
        hdrs = dict(JSON)
        hdrs.update(headers or {})
        body = body_of(obj)
        st, h, b = self.gw.request("POST", path, body, hdrs)
        return st, h, b, len(body)

    def wait_committed(self):
        """Every cache write queued so far is committed (DELETE /admin/cache of an
        unused model is answered after them)."""
        st, _, b = self.gw.request("DELETE", "/admin/cache?model=hfgate-test/none")
        self.assertEqual(st, 200, b)

    def test_counts(self):
        echo = ("fake/echo", "text-classification")
        fail = ("fake/always500", "text-classification")
        stream = ("fake/stream-5-20", "text-generation")
        tgen = ("mock/text-generation", "text-generation")
        slow = ("fake/slow-300", "text-classification")
        path = "/pipeline/%s/%s"

        # Three misses and one hit of the first request again.
        sent = out = 0
        first = {"inputs": "usage " + nonce() + " " * 40}
        for obj in (first, {"inputs": "usage " + nonce()},
                    {"inputs": "usage " + nonce() + " longer"}):
            st, h, b, n = self.post(path % (echo[1], echo[0]), obj)
            self.assertEqual(st, 200, b[:300])
            self.assertEqual(h.get("x-cache"), "MISS")
            sent += n
            out += len(b)
        self.wait_committed()
        st, h, b, n = self.post(path % (echo[1], echo[0]), first)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h.get("x-cache"), "HIT")
        sent += n
        out += len(b)
        want = {echo: {"requests": 4, "cache_hits": 1, "attempts": 3, "errors": 0,
                       "bytes_in": sent, "bytes_out": out, "generated_tokens": 0}}

        # An upstream error after every attempt (max_attempts = 3).
        st, h, b, n = self.post(path % (fail[1], fail[0]), {"inputs": nonce()})
        self.assertEqual(st, 500, b[:300])
        self.assertEqual(h.get("x-hfgate-attempts"), "3")
        want[fail] = {"requests": 1, "cache_hits": 0, "attempts": 3, "errors": 1,
                      "bytes_in": n, "bytes_out": len(b), "generated_tokens": 0}

        # A stream: the tokens of its final event.
        st, h, b, n = self.post(path % (stream[1], stream[0]),
                                {"inputs": "Hi " + nonce(), "stream": True,
                                 "parameters": {"details": True}})
        self.assertEqual(st, 200, b[:300])
        self.assertTrue(h.get("content-type", "").startswith("text/event-stream"))
        final = [line for line in b.split(b"\n") if line.startswith(b"data:")][-1]
        self.assertEqual(json.loads(final[5:])["details"]["generated_tokens"], 5)
        want[stream] = {"requests": 1, "cache_hits": 0, "attempts": 1, "errors": 0,
                        "bytes_in": n, "bytes_out": len(b), "generated_tokens": 5}

        # A plain answer's details.generated_tokens.
        st, h, b, n = self.post(path % (tgen[1], tgen[0]),
                                {"inputs": "Hi " + nonce(),
                                 "parameters": {"details": True}})
        self.assertEqual(st, 200, b[:300])
        tokens = json.loads(b)[0]["details"]["generated_tokens"]
        self.assertGreater(tokens, 0)
        want[tgen] = {"requests": 1, "cache_hits": 0, "attempts": 1, "errors": 0,
                      "bytes_in": n, "bytes_out": len(b), "generated_tokens": tokens}

        # The upstream's time: 300 ms of a slow answer.
        st, h, b, n = self.post(path % (slow[1], slow[0]), {"inputs": nonce()})
        self.assertEqual(st, 200, b[:300])
        want[slow] = {"requests": 1, "attempts": 1, "errors": 0, "bytes_in": n}

        # Local and admin routes are not counted.
        self.assert_healthy()
        got = self.wait_rows(want)
        self.assertGreaterEqual(got[slow]["upstream_ms"], 290)
        self.assertLess(got[slow]["upstream_ms"], 10000)
        self.assertLess(got[echo]["upstream_ms"], 10000)
        answer = self.usage()
        self.assertFalse([r for r in answer["rows"] if r["model"] == "-"], answer)

        # totals are the rows summed; the filters are echoed.
        for c in COUNTERS:
            self.assertEqual(answer["totals"][c], sum(r[c] for r in answer["rows"]), c)
        self.assertEqual((answer["from"], answer["to"], answer["client"]),
                         (None, None, None))
        day = [r["day"] for r in answer["rows"] if (r["model"], r["task"]) == slow][0]
        one = self.usage("?from=%s&to=%s&client=-" % (day, day))
        self.assertEqual((one["from"], one["to"], one["client"]), (day, day, "-"))
        self.assertTrue(one["rows"])
        self.assertTrue(all(r["day"] == day for r in one["rows"]))
        self.assertEqual(self.usage("?client=team-x")["rows"], [])
        self.assertEqual(self.usage("?from=2000-01-01&to=2000-01-31")["rows"], [])
        self.assertEqual(self.usage("?to=2000-01-31")["totals"]["requests"], 0)

        # Clearing the cache leaves usage alone.
        st, _, b = self.gw.request("DELETE", "/admin/cache")
        self.assertEqual(st, 200, b)
        self.assertEqual(self.rows_by_key(self.usage(), want.keys()), got)

    def test_bad_queries(self):
        for q in ("?from=2024-13-01", "?from=2024-02-30", "?to=24-01-01",
                  "?from=2024-1-01", "?to=2024-01-01x", "?from=2024-03-02&to=2024-03-01"):
            st, h, b = self.gw.request("GET", "/admin/usage" + q)
            self.assert_json_error(st, h, b, 400, "bad_request")
        self.assertEqual(self.usage("?from=2024-02-29&to=2024-02-29")["rows"], [])
        st, h, b = self.gw.request("POST", "/admin/usage", b"{}", JSON)
        self.assertEqual(st, 405, b)
        self.assertEqual(h.get("allow"), "GET, HEAD")
        st, h, b = self.gw.request("DELETE", "/admin/usage")
        self.assertEqual(st, 405, b)


class UsageOneThreadTest(UsageHelpers, GatewayTestCase):
    """With one loop thread, /admin/usage commits that thread's counters before it
    reads: a request's counts show in the very next read, with no wait."""

    CACHE = True
    CONFIG = {"server": {"workers": "1"}}

    def test_read_your_requests(self):
        key = ("fake/echo", "zero-shot-classification")
        for n in (1, 2, 3):
            st, _, b = self.gw.request("POST", "/pipeline/%s/%s" % (key[1], key[0]),
                                       body_of({"inputs": nonce()}), JSON)
            self.assertEqual(st, 200, b[:300])
            got = self.rows_by_key(self.usage(), [key])
            self.assertEqual(got.get(key, {}).get("requests"), n, got)


class UsageOffTest(GatewayTestCase):
    """[usage] enabled = no: /admin/usage says so, requests are served."""
    CONFIG = {"usage": {"enabled": "no"}}

    def test_off(self):
        st, h, b = self.gw.request("GET", "/admin/usage")
        self.assert_json_error(st, h, b, 503, "unavailable")
        st, h, b = self.gw.request_json("POST", "/models/fake/echo", {"inputs": "x"})
        self.assertEqual(st, 200, b[:300])


class UsageRestartTest(UsageHelpers, FreshGatewayTestCase):
    """Counts are in the file: a clean stop right after the requests loses none."""

    def test_stop_flushes(self):
        db = os.path.join(mkdtemp("hfgate-usage-"), "cache.db")
        gw = self.start_gateway(cache_config(db))
        key = ("fake/echo", "token-classification")
        sent = 0
        for i in range(2):
            body = body_of({"inputs": "restart %d %s" % (i, nonce())})
            st, _, b = gw.request("POST", "/pipeline/%s/%s" % (key[1], key[0]), body,
                                  JSON)
            self.assertEqual(st, 200, b[:300])
            sent += len(body)
        self.assertEqual(gw.stop(), 0)
        gw2 = self.start_gateway(cache_config(db))
        got = self.wait_rows({key: {"requests": 2, "bytes_in": sent}}, gw=gw2,
                             timeout=1)
        self.assertEqual(got[key]["attempts"], 2)


class UsageDurabilityTest(UsageHelpers, FreshGatewayTestCase):
    """Usage is billing data: a reload loses no count, a crash (kill -9) only those
    of the last [usage] flush_interval_ms."""

    def test_reload_loses_nothing(self):
        db = os.path.join(mkdtemp("hfgate-usage-"), "cache.db")
        gw = self.start_gateway(cache_config(db))
        key = ("fake/echo", "token-classification")
        path = "/pipeline/%s/%s" % (key[1], key[0])
        for i in range(5):
            if i == 3:
                gw.signal(signal.SIGHUP)
                wait_until(lambda: "configuration reloaded" in gw.log_text(), 10,
                           what="the reload")
            st, _, b = gw.request("POST", path, body_of({"inputs": "hup %d" % i}),
                                  JSON)
            self.assertEqual(st, 200, b[:300])
        self.assertEqual(gw.stop(), 0)
        gw2 = self.start_gateway(cache_config(db))
        self.wait_rows({key: {"requests": 5, "attempts": 5}}, gw=gw2, timeout=1)

    def test_crash_loses_at_most_the_flush_interval(self):
        # Requests and their stores run in a burst on two loop threads; kill -9
        # in the middle. Every request answered more than flush_interval_ms (plus
        # one commit, with room for a loaded machine) before the kill is counted.
        flush_ms, slack_ms = 100, 400
        db = os.path.join(mkdtemp("hfgate-usage-"), "cache.db")
        config = cache_config(db)
        config["usage"]["flush_interval_ms"] = str(flush_ms)
        config["server"] = {"workers": "2"}
        gw = self.start_gateway(config, check_on_cleanup=False)
        key = ("fake/echo", "token-classification")
        path = "/pipeline/%s/%s" % (key[1], key[0])
        answered = []		# monotonic times of the answers
        sent = [0]
        lock = threading.Lock()
        stop = threading.Event()

        def client(n):
            i = 0
            while not stop.is_set():
                with lock:
                    sent[0] += 1
                body = body_of({"inputs": "crash %d %d %s" % (n, i, nonce())})
                i += 1
                try:
                    st, _, _ = gw.request("POST", path, body, JSON, timeout=5)
                except OSError:
                    return
                if st == 200:
                    with lock:
                        answered.append(time.monotonic())
        threads = [threading.Thread(target=client, args=(n,), daemon=True)
                   for n in range(4)]
        for t in threads:
            t.start()
        # A burst of 1.9 s: most answers are due.
        wait_until(lambda: answered and time.monotonic() - answered[0] >= 1.9, 30,
                   what="1.9 s of answers")
        gw.proc.kill()
        killed = time.monotonic()
        gw.proc.wait(5)
        stop.set()
        for t in threads:
            t.join(10)
        due = sum(1 for t in answered if t < killed - (flush_ms + slack_ms) / 1000)
        gw2 = self.start_gateway(cache_config(db))
        got = self.rows_by_key(self.usage(gw=gw2), [key]).get(key, {})
        counted = got.get("requests", 0)
        self.assertGreater(due, 0)
        self.assertGreaterEqual(counted, due,
                                "counts of requests answered %d ms or more before "
                                "the crash were lost" % (flush_ms + slack_ms))
        self.assertLessEqual(counted, sent[0])


class UsageWithoutCacheTest(UsageHelpers, GatewayTestCase):
    """The cache off: usage is counted in [usage] db, a file of its own."""

    def test_counted_in_own_file(self):
        key = ("fake/echo", "token-classification")
        body = body_of({"inputs": "own file " + nonce()})
        st, _, b = self.gw.request("POST", "/pipeline/%s/%s" % (key[1], key[0]), body,
                                   JSON)
        self.assertEqual(st, 200, b[:300])
        self.wait_rows({key: {"requests": 1, "bytes_in": len(body), "cache_hits": 0}})
        self.assertTrue(os.path.exists(self.gw.sections["usage"]["db"]))


class QuotaAcrossRestartTest(UsageHelpers, FreshGatewayTestCase):
    """A client's day's requests and tokens are read back at start-up: a restart does
    not give it its daily quotas again. Requests refused by hfgate are not counted."""

    def test_quota_survives_restart(self):
        key = "quota-" + nonce()
        db = os.path.join(mkdtemp("hfgate-usage-"), "usage.db")
        config = {"usage": {"db": db},
                  "client q": {"key_sha256": key_sha256(key),
                               "daily_quota": 3}}
        auth = {"Authorization": "Bearer " + key, **JSON}
        gw = self.start_gateway(config)
        for i in range(2):
            st, _, b = gw.request("POST", "/pipeline/token-classification/fake/echo",
                                  body_of({"inputs": "q%d" % i}), auth)
            self.assertEqual(st, 200, b[:300])
        st, _, b = gw.request("POST", "/models/fake/echo", b"{}", JSON)	# no key: 401
        self.assertEqual(st, 401, b[:300])
        self.assertEqual(gw.stop(), 0)
        gw2 = self.start_gateway(config)
        st, h, b = gw2.request("POST", "/pipeline/token-classification/fake/echo",
                               body_of({"inputs": "q2"}), auth)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h["x-ratelimit-remaining"], "0")
        st, h, b = gw2.request("POST", "/pipeline/token-classification/fake/echo",
                               body_of({"inputs": "q3"}), auth)
        self.assertEqual(st, 429, b[:300])
        self.assertIn("daily quota", json.loads(b)["error"])

    def test_token_quota_survives_restart(self):
        key = "tokens-" + nonce()
        db = os.path.join(mkdtemp("hfgate-usage-"), "usage.db")
        config = {"usage": {"db": db},
                  "client q": {"key_sha256": key_sha256(key), "daily_token_quota": 4}}
        auth = {"Authorization": "Bearer " + key, **JSON}
        chat = body_of({"model": "meta-llama/Llama-3.1-8B-Instruct",
                        "messages": [{"role": "user", "content": "one two three"}]})
        router = self.fake.url + "/router/hf-inference"
        gw = self.start_gateway(config, upstream_url=router)
        # "echo: one two three": 4 completion tokens, the whole quota.
        st, _, b = gw.request("POST", "/v1/chat/completions", chat, auth)
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(json.loads(b)["usage"]["completion_tokens"], 4)
        self.assertEqual(gw.stop(), 0)
        gw2 = self.start_gateway(config, upstream_url=router)
        st, h, b = gw2.request("POST", "/v1/chat/completions", chat, auth)
        self.assertEqual(st, 429, b[:300])
        self.assertIn("daily quota of 4 tokens", json.loads(b)["error"])
        self.assertIn("retry-after", h)
