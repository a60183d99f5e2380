# SPDX-License-Identifier: BSD-2-Clause
"""Client keys: once a [client] is configured every route but /healthz needs
a key; 401, 403 and 429 are JSON errors with their headers; one client's limits never
touch another's; the admin routes want the admin key; keys never reach the upstream or
the log; SIGHUP swaps keys without dropping an open stream."""

import datetime
import http.client
import json
import os
import signal
import threading
import time

from harness import FreshGatewayTestCase, GatewayTestCase, key_sha256, mkdtemp, wait_until

JSON = {"Content-Type": "application/json"}
FILL = b'{"inputs": "The goal of life is <mask>."}'
CLASSIFY = b'{"inputs": "I like you."}'
KEYS = {name: "key-%s-%s" % (name, os.urandom(6).hex())
        for name in ("a", "b", "c", "d", "e")}
ADMIN_KEY = "admin-" + os.urandom(8).hex()


def bearer(key):
    return {"Authorization": "Bearer " + key}


def assert_until_midnight(test, h):
    """A quota's 429: Retry-After and X-RateLimit-Reset are the seconds until the next
    UTC midnight, X-RateLimit-Remaining 0."""
    now = datetime.datetime.now(datetime.timezone.utc)
    midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    left = (midnight - now).total_seconds()
    test.assertLessEqual(abs(int(h["retry-after"]) - left), 5, (h, left))
    test.assertLessEqual(abs(int(h["x-ratelimit-reset"]) - left), 5, (h, left))
    test.assertEqual(h["x-ratelimit-remaining"], "0")


def stream_body():
    return b'{"inputs": "hi", "parameters": {"details": true}, "stream": true}'


class StreamReader:
    """A text-generation stream read in a thread, so a test can act while it runs."""

    def __init__(self, port, path, key):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("POST", path, stream_body(), {**JSON, **bearer(key)})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.body = b""
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                chunk = self.resp.read1(65536)
                if not chunk:
                    break
                self.body += chunk
        except OSError:
            pass
        self.done.set()

    def events(self):
        return [json.loads(line[5:]) for line in self.body.split(b"\n")
                if line.startswith(b"data:")]

    def close(self):
        self.conn.close()


class ClientKeys(GatewayTestCase):
    CACHE = True
    CONFIG = {
        "client a": {"key_sha256": key_sha256(KEYS["a"]), "rate": 3, "burst": 3},
        "client b": {"key_sha256": key_sha256(KEYS["b"]), "tasks": "fill-mask",
                     "models": "mock/* distilroberta-*"},
        "client c": {"key_sha256": key_sha256(KEYS["c"]), "max_concurrent": 1},
        "client d": {"key_sha256": key_sha256(KEYS["d"]), "daily_quota": 3},
        "client e": {"key_sha256": key_sha256(KEYS["e"])},
        "admin": {"key_sha256": key_sha256(ADMIN_KEY)},
    }

    def post(self, path, body, key=None, headers=None):
        h = dict(JSON)
        if key is not None:
            h.update(bearer(key))
        h.update(headers or {})
        return self.gw.request("POST", path, body, h)

    def assert_401(self, st, h, b):
        obj = self.assert_json_error(st, h, b, 401, "unauthorized")
        self.assertEqual(h.get("www-authenticate"), 'Bearer realm="hfgate"')
        return obj

    def test_missing_and_unknown_keys_get_401(self):
        obj = self.assert_401(*self.post("/models/mock/fill-mask", FILL))
        self.assertIn("missing client key", obj["error"])
        obj = self.assert_401(*self.post("/models/mock/fill-mask", FILL, "nope"))
        self.assertIn("unknown client key", obj["error"])
        # Other schemes and other routes too; nothing went upstream.
        self.assert_401(*self.gw.request("POST", "/models/mock/fill-mask", FILL,
                                         {"Authorization": "Basic " + KEYS["e"]}))
        self.assert_401(*self.gw.request("GET", "/api/tasks"))
        self.assert_401(*self.post("/v1/fill-mask", FILL))
        self.assertEqual(self.fake.stats()["total"], 0)
        # The admin key is not a client key.
        self.assert_401(*self.post("/models/mock/fill-mask", FILL, ADMIN_KEY))
        # /healthz stays open for probes.
        self.assert_healthy()

    def test_valid_key_is_served_and_never_forwarded(self):
        st, h, b = self.post("/models/mock/fill-mask", b'{"inputs": "fwd <mask>"}',
                             KEYS["e"])
        self.assertEqual(st, 200, b)
        st, _, b = self.gw.request("POST", "/models/mock/fill-mask", CLASSIFY,
                                   {**JSON, "X-Api-Key": KEYS["e"]})
        self.assertEqual(st, 200, b)
        for rec in self.wait_upstream("/models/mock/fill-mask", n=2):
            headers = {k.lower(): v for k, v in rec["headers"].items()}
            self.assertEqual(headers.get("authorization"), "Bearer " + self.secret)
            self.assertNotIn("x-api-key", headers)
            self.assertNotIn(KEYS["e"], json.dumps(rec))

    def test_task_and_model_not_allowed_get_403(self):
        st, _, b = self.post("/models/mock/fill-mask", FILL, KEYS["b"])
        self.assertEqual(st, 200, b)
        st, _, b = self.post("/v1/fill-mask", FILL, KEYS["b"])
        self.assertEqual(st, 200, b)
        obj = self.assert_json_error(*self.post("/models/mock/text-classification",
                                                CLASSIFY, KEYS["b"]), 403, "forbidden")
        self.assertIn("task 'text-classification'", obj["error"])
        obj = self.assert_json_error(*self.post("/pipeline/fill-mask/other/model", FILL,
                                                KEYS["b"]), 403, "forbidden")
        self.assertIn("model 'other/model'", obj["error"])
        self.assertEqual(self.fake.count("/models/mock/text-classification"), 0)
        self.assertEqual(self.fake.count("/pipeline/fill-mask/other/model"), 0)

    def test_rate_limit_429_with_headers(self):
        seen = []
        for i in range(3):
            # Distinct bodies: the cache is on, and these must reach the upstream.
            body = b'{"inputs": "rate %d <mask>."}' % i
            st, h, b = self.post("/models/mock/fill-mask", body, KEYS["a"])
            self.assertEqual(st, 200, b)
            seen.append(int(h["x-ratelimit-remaining"]))
            self.assertEqual(h["x-ratelimit-limit"], "3")
        self.assertEqual(seen, [2, 1, 0])
        st, h, b = self.post("/models/mock/fill-mask", FILL, KEYS["a"])
        obj = self.assert_json_error(st, h, b, 429, "rate_limited")
        self.assertIn("3 requests per minute", obj["error"])
        # One token comes back every 20 s at 3 per minute.
        self.assertTrue(1 <= int(h["retry-after"]) <= 20, h)
        self.assertEqual(h["x-ratelimit-limit"], "3")
        self.assertEqual(h["x-ratelimit-remaining"], "0")
        self.assertTrue(40 <= int(h["x-ratelimit-reset"]) <= 60, h)
        # Exposed to the pages of the origins cors_origin lists: test_cors.py.
        self.assertEqual(self.fake.count("/models/mock/fill-mask"), 3)
        # Client e has no limit and is not touched by a's.
        for _ in range(5):
            st, h, b = self.post("/models/mock/fill-mask", FILL, KEYS["e"])
            self.assertEqual(st, 200, b)
            self.assertNotIn("x-ratelimit-limit", h)

    def test_concurrency_cap(self):
        s = StreamReader(self.gw.port, "/models/fake/stream-20-100", KEYS["c"])
        try:
            self.assertEqual(s.status, 200)
            st, h, b = self.post("/models/mock/fill-mask", FILL, KEYS["c"])
            obj = self.assert_json_error(st, h, b, 429, "rate_limited")
            self.assertIn("1 requests running", obj["error"])
            self.assertEqual(h["retry-after"], "1")
            # Another client meanwhile is served.
            st, _, b = self.post("/models/mock/fill-mask", FILL, KEYS["e"])
            self.assertEqual(st, 200, b)
            self.assertTrue(s.done.wait(30), "the stream did not end")
            self.assertEqual(len(s.events()), 20)
        finally:
            s.close()
        # The slot is back once the stream's request is over.
        wait_until(lambda: self.post("/models/mock/fill-mask", FILL,
                                     KEYS["c"])[0] == 200, 5,
                   what="client c admitted again after its stream")

    def test_daily_quota(self):
        for i in range(3):
            st, h, b = self.post("/models/mock/fill-mask", FILL, KEYS["d"])
            self.assertEqual(st, 200, b)
            self.assertEqual(h["x-ratelimit-limit"], "3")
            self.assertEqual(h["x-ratelimit-remaining"], str(2 - i))
        st, h, b = self.post("/models/mock/fill-mask", FILL, KEYS["d"])
        obj = self.assert_json_error(st, h, b, 429, "rate_limited")
        self.assertIn("daily quota of 3 requests", obj["error"])
        assert_until_midnight(self, h)
        # Cache hits count as requests too: the quota is a request quota.
        self.assertEqual(self.post("/models/mock/fill-mask", FILL, KEYS["e"])[0], 200)

    def test_admin_routes_want_the_admin_key(self):
        self.assert_401(*self.gw.request("GET", "/admin/cache"))
        self.assert_401(*self.gw.request("GET", "/admin/cache", None, bearer(KEYS["e"])))
        st, _, b = self.gw.request("GET", "/admin/cache", None, bearer(ADMIN_KEY))
        self.assertEqual(st, 200, b)
        self.assertIn("entries", json.loads(b))
        st, _, b = self.gw.request("GET", "/admin/cache", None, {"X-Api-Key": ADMIN_KEY})
        self.assertEqual(st, 200, b)

    def usage_rows(self):
        got = {}
        for client in ("b", "e"):
            st, _, b = self.gw.request("GET", "/admin/usage?client=" + client, None,
                                       bearer(ADMIN_KEY))
            self.assertEqual(st, 200, b)
            for r in json.loads(b)["rows"]:
                self.assertEqual(r["client"], client)
                got[(r["client"], r["model"], r["task"])] = r
        return got

    def test_usage_per_client(self):
        fill, stream = ("b", "mock/fill-mask", "fill-mask"), ("e", "fake/stream-5-20", "-")
        zero = dict.fromkeys(("requests", "cache_hits", "attempts", "errors", "bytes_in",
                              "generated_tokens"), 0)
        # Counts from the other tests of the class, once they are all in.
        before = wait_until(lambda: (lambda a, b: b if a == b else None)(
            self.usage_rows(), self.usage_rows()), 5, interval=1.2,
            what="stable usage rows")
        body = b'{"inputs": "usage per client <mask> %s"}' % os.urandom(4).hex().encode()
        sent = []

        def hit():	# misses until the answer is stored (by the writer), then a hit
            st, h, b = self.post("/pipeline/fill-mask/mock/fill-mask", body, KEYS["b"])
            self.assertEqual(st, 200, b)
            sent.append(h.get("x-cache"))
            return h.get("x-cache") == "HIT"
        wait_until(hit, 5, interval=0.05, what="a cache hit")
        n = len(sent)
        s = StreamReader(self.gw.port, "/models/fake/stream-5-20", KEYS["e"])
        self.assertTrue(s.done.wait(30))
        s.close()
        # Refused requests are not counted.
        self.post("/pipeline/fill-mask/other/model", body, KEYS["b"])

        def delta(got, key):
            b0 = before.get(key, zero)
            return {k: got.get(key, zero)[k] - b0[k] for k in zero}

        def rows():
            got = self.usage_rows()
            if delta(got, fill)["requests"] == n and delta(got, stream)["requests"] == 1:
                return got
            return None
        got = wait_until(rows, 5, what="usage rows of clients b and e")
        self.assertEqual(delta(got, fill), {"requests": n, "cache_hits": 1,
                                            "attempts": n - 1, "errors": 0,
                                            "bytes_in": n * len(body),
                                            "generated_tokens": 0})
        d = delta(got, stream)
        self.assertEqual((d["cache_hits"], d["errors"], d["generated_tokens"]), (0, 0, 5))
        self.assertNotIn(("b", "other/model", "fill-mask"), got)

    def test_cache_shared_between_clients_by_default(self):
        self.assertEqual(cached_then_other(self, KEYS["e"], KEYS["b"]), ("HIT", 0))

    def test_keys_never_logged(self):
        self.post("/models/mock/fill-mask", FILL, KEYS["e"])
        self.post("/models/mock/fill-mask", FILL, "wrong-" + KEYS["e"])
        self.gw.request("GET", "/admin/cache", None, bearer(ADMIN_KEY))
        wait_until(lambda: "client=e " in self.gw.log_text(), 5,
                   what="an access log line naming client e")
        log = self.gw.log_text()
        for key in list(KEYS.values()) + [ADMIN_KEY]:
            self.assertNotIn(key, log)


def cached_then_other(test, first_key, other_key):
    """first_key's request until its answer is stored, then other_key's identical one:
    the X-Cache the other client gets, and the upstream calls its request made."""
    body = b'{"inputs": "scope %s <mask>"}' % os.urandom(4).hex().encode()

    def hit():
        st, h, b = test.post("/models/mock/fill-mask", body, first_key)
        test.assertEqual(st, 200, b)
        return h.get("x-cache") == "HIT"
    wait_until(hit, 5, interval=0.05, what="a cache hit")
    calls = test.fake.count("/models/mock/fill-mask")
    st, h, b = test.post("/models/mock/fill-mask", body, other_key)
    test.assertEqual(st, 200, b)
    return h.get("x-cache"), test.fake.count("/models/mock/fill-mask") - calls


LLM = "meta-llama/Llama-3.1-8B-Instruct"


def chat(text, **kw):
    return json.dumps({"model": LLM, "messages": [{"role": "user", "content": text}],
                       **kw}).encode()


class TokenQuota(GatewayTestCase):
    """daily_token_quota: a client is served while its tokens of the day (OpenAI
    usage.prompt_tokens and completion_tokens, a stream's usage chunk included) are
    below it, then refused until midnight UTC; other clients are not touched."""

    UPSTREAM_PATH = "/router/hf-inference"
    CONFIG = {
        "client t": {"key_sha256": key_sha256(KEYS["a"]), "daily_token_quota": 10},
        "client u": {"key_sha256": key_sha256(KEYS["b"]), "daily_token_quota": 10},
        "client v": {"key_sha256": key_sha256(KEYS["c"])},
    }

    def chat_on(self, conn, key, body):
        """One chat call on conn: the gateway ends a request (and counts its tokens)
        before it reads the next one of the same connection."""
        conn.request("POST", "/v1/chat/completions", body, {**JSON, **bearer(key)})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()

    def test_tokens_of_the_day_bound_the_client(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=30)
        self.addCleanup(conn.close)
        # "one two" is 2 prompt tokens, "echo: one two" 3 completion tokens
        # (docs/fake-upstream.md): 5 < 10.
        st, _, b = self.chat_on(conn, KEYS["a"], chat("one two"))
        self.assertEqual(st, 200, b)
        usage = json.loads(b)["usage"]
        self.assertEqual((usage["prompt_tokens"], usage["completion_tokens"]), (2, 3))
        # Still below: admitted, and this stream crosses the quota (5 + 5), counted
        # from the usage chunk hfgate asks for.
        st, _, b = self.chat_on(conn, KEYS["a"], chat("three four", stream=True))
        self.assertEqual(st, 200, b)
        self.assertTrue(b.rstrip().endswith(b"data: [DONE]"), b[-200:])
        calls = self.fake.count("/router/v1/chat/completions")
        self.assertEqual(calls, 2)
        for _ in range(2):
            st, h, b = self.chat_on(conn, KEYS["a"], chat("five"))
            obj = self.assert_json_error(st, h, b, 429, "rate_limited")
            self.assertEqual(obj["error"], "client 't' used its daily quota of 10 tokens")
            self.assertEqual(h["x-ratelimit-limit"], "10")
            assert_until_midnight(self, h)
        self.assertEqual(self.fake.count("/router/v1/chat/completions"), calls)
        # Other clients, with the same quota or none, are served.
        for key in (KEYS["b"], KEYS["c"]):
            st, _, b = self.gw.request("POST", "/v1/chat/completions", chat("six"),
                                       {**JSON, **bearer(key)})
            self.assertEqual(st, 200, b)


class CachePerClient(GatewayTestCase):
    """[cache] per_client = yes: one client's answers never serve another."""
    CACHE = True
    CONFIG = {
        "cache": {"per_client": "yes"},
        "client a": {"key_sha256": key_sha256(KEYS["a"])},
        "client e": {"key_sha256": key_sha256(KEYS["e"])},
    }
    post = ClientKeys.post

    def test_entries_scoped_per_client(self):
        self.assertEqual(cached_then_other(self, KEYS["a"], KEYS["e"]), ("MISS", 1))


class AdminWithoutKey(GatewayTestCase):
    """Clients but no [admin] key: the admin routes are closed, even to loopback
    clients (a reverse proxy on the same host makes every client one)."""
    CACHE = True
    CONFIG = {"client e": {"key_sha256": key_sha256(KEYS["e"])}}

    def test_loopback_is_not_an_admin_credential(self):
        for path in ("/admin/cache", "/admin/usage"):
            for headers in ({}, bearer(KEYS["e"])):
                with self.subTest(path=path, key=bool(headers)):
                    st, h, b = self.gw.request("GET", path, None, headers)
                    self.assertEqual(st, 403, b)
                    obj = json.loads(b)
                    self.assertEqual(obj["error_type"], "forbidden")
                    self.assertIn("[admin] key", obj["error"])
        self.assertIn("no [admin] key", self.gw.log_text())


class Reload(FreshGatewayTestCase):
    def test_sighup_swaps_a_key_without_dropping_an_open_stream(self):
        tmp = mkdtemp("hfgate-keys-")
        key_path = os.path.join(tmp, "team.key")
        old_key, new_key = "old-" + os.urandom(8).hex(), "new-" + os.urandom(8).hex()
        with open(key_path, "w") as f:
            f.write(old_key + "\n")
        gw = self.start_gateway({"client team": {"key_file": key_path}})
        s = StreamReader(gw.port, "/models/fake/stream-15-200", old_key)
        try:
            self.assertEqual(s.status, 200)
            with open(key_path, "w") as f:
                f.write(new_key + "\n")
            reloads = gw.log_text().count("configuration reloaded")
            gw.signal(signal.SIGHUP)
            wait_until(lambda: gw.log_text().count("configuration reloaded") > reloads,
                       10, what="the reload")
            self.assertFalse(s.done.is_set(), "the stream ended before the reload")
            st, _, b = gw.request("POST", "/models/mock/fill-mask", FILL,
                                  {**JSON, **bearer(old_key)})
            self.assertEqual(st, 401, b)
            st, _, b = gw.request("POST", "/models/mock/fill-mask", FILL,
                                  {**JSON, **bearer(new_key)})
            self.assertEqual(st, 200, b)
            self.assertTrue(s.done.wait(30), "the stream did not end")
            events = s.events()
            self.assertEqual(len(events), 15, s.body[-500:])
            self.assertNotIn("error", events[-1])
            self.assertEqual(events[-1]["details"]["generated_tokens"], 15)
        finally:
            s.close()
        log = gw.log_text()
        self.assertNotIn(old_key, log)
        self.assertNotIn(new_key, log)
