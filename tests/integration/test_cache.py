# SPDX-License-Identifier: BSD-2-Clause
"""The shared SQLite result cache: canonical keys, what is cacheable, exact
hits, lifetimes and request controls, eviction under the byte cap, several processes on
one file, crash safety, degradation, coalescing, stream replay, stale-if-error, admin.

The writer thread commits asynchronously (batches up to ~50 ms later), and an answer
is served from memory until then (read your writes): a test that needs an entry in the
file first waits for the writer (DELETE /admin/cache of an unused model is answered
once committed, after every write queued before it), or polls with a deadline
(repeating a request that does not go upstream, or reading GET /admin/cache)."""

import base64
import http.client
import json
import os
import re
import secrets
import sqlite3
import stat
import threading
import time
import unittest

from harness import (Fake, FreshGatewayTestCase, GatewayTestCase, cache_config,
                     merge_config, mkdtemp, wait_until)

JSON = {"Content-Type": "application/json"}
HEX64 = re.compile(r"[0-9a-f]{64}")
ECHO = "/models/fake/echo"
TEXTGEN = "/models/mock/text-generation"
FILL_MASK = "/models/distilroberta-base"	# the default fill-mask model: task known
T2I = "/v1/text-to-image?model=mock/text-to-image"
T2I_UPSTREAM = "/models/mock/text-to-image"


def nonce():
    return secrets.token_hex(8)


def as_bytes(body):
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def sqlite_ro(path):
    """A read-only connection to the cache file (never creates or changes it)."""
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)


def integrity(path):
    con = sqlite_ro(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


def start_of_second():
    """Waits until a second has just begun: lifetimes are whole seconds, so a 1 s entry
    stored now lives about a second, not a few milliseconds. (Not the first 20 ms:
    time(2) follows a coarse clock that may still show the previous second.)"""
    wait_until(lambda: 0.02 < time.time() % 1.0 < 0.2, 1.5, interval=0.002,
               what="the start of a second")


def last_data_event(sse):
    """The parsed JSON of the last data: event of an SSE body."""
    data = [line[5:] for line in sse.split(b"\n") if line.startswith(b"data:")]
    return json.loads(data[-1]) if data else None


class CacheHelpers:
    """Requests and polls shared by the cache test classes (self.fake, self.gw)."""

    def post(self, path, body, headers=None, gw=None, timeout=30):
        hdrs = dict(JSON)
        hdrs.update(headers or {})
        return (gw or self.gw).request("POST", path, as_bytes(body), hdrs, timeout=timeout)

    def post_ok(self, path, body, headers=None, gw=None, want_cache=None):
        st, h, b = self.post(path, body, headers, gw)
        self.assertEqual(st, 200, b[:300])
        if want_cache is not None:
            self.assertEqual(h.get("x-cache"), want_cache,
                             "POST %s %r: X-Cache %r, expected %s" %
                             (path, as_bytes(body)[:120], h.get("x-cache"), want_cache))
        return h, b

    def poll_cache(self, want, path, body, headers=None, gw=None, timeout=5):
        """Repeats the request until X-Cache is want; returns (status, headers, body)."""
        seen = []

        def probe():
            r = self.post(path, body, headers, gw)
            seen.append(r[1].get("x-cache"))
            return r if r[1].get("x-cache") == want else None
        try:
            return wait_until(probe, timeout, interval=0.02,
                              what="X-Cache: %s for POST %s" % (want, path))
        except AssertionError:
            self.fail("POST %s never answered X-Cache: %s within %ss (saw %r)"
                      % (path, want, timeout, seen[-10:]))

    def flush_writer(self, gw=None):
        """Returns once every store queued so far by gw is committed: DELETE
        /admin/cache?model= of a model never used is answered once the deletion is
        committed, and the one writer thread commits in order. (An answer's store is
        queued before the client has the answer.)"""
        st, _, b = (gw or self.gw).request("DELETE", "/admin/cache?model=hfgate-test/none")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(json.loads(b), {"deleted": True, "model": "hfgate-test/none"})

    def store(self, path, body, headers=None, gw=None):
        """Sends a new cacheable request (MISS), waits for the writer, then checks the
        same request is a HIT (repeating the request until a HIT instead would send
        more MISSes upstream, each replacing the entry).
        Returns (miss headers, miss body, hit headers, hit body)."""
        h1, b1 = self.post_ok(path, body, headers, gw, want_cache="MISS")
        self.flush_writer(gw)
        h2, b2 = self.post_ok(path, body, headers, gw, want_cache="HIT")
        return h1, b1, h2, b2

    def admin(self, gw=None):
        st, h, b = (gw or self.gw).request("GET", "/admin/cache")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(h.get("content-type", "").split(";")[0], "application/json")
        return json.loads(b)


class CacheBehaviour(CacheHelpers, GatewayTestCase):
    CACHE = True

    # canonical keys ----------------------------------------------------------

    def test_canonical_forms_share_one_entry(self):
        n = nonce()
        base = ('{"inputs":"%s","parameters":{"a":1,"b":{"x":1.5,"y":[1,2,{"p":true,'
                '"q":"s"}]},"c":"t"}}' % n)
        _, miss_body, h, hit_body = self.store(ECHO, base)
        key = h.get("x-cache-key", "")
        self.assertRegex(key, HEX64)
        self.assertEqual(hit_body, miss_body)
        calls = self.fake.count(ECHO)
        variants = {
            "key order": '{"parameters":{"c":"t","b":{"y":[1,2,{"q":"s","p":true}],'
                         '"x":1.5},"a":1},"inputs":"%s"}' % n,
            "whitespace": '{\n  "inputs" : "%s",\n\t"parameters": { "a" : 1 , "b":{"x":1.5,'
                          '"y":[ 1, 2, {"p": true, "q": "s"} ]}, "c": "t" }\n}\n' % n,
            "1.0 for 1": '{"inputs":"%s","parameters":{"a":1.0,"b":{"x":1.5,"y":[1,2,'
                         '{"p":true,"q":"s"}]},"c":"t"}}' % n,
            "1e0 and 15e-1": '{"inputs":"%s","parameters":{"a":1e0,"b":{"x":15e-1,"y":'
                             '[1,2,{"p":true,"q":"s"}]},"c":"t"}}' % n,
            "null parameter": '{"inputs":"%s","parameters":{"a":1,"b":{"x":1.5,"y":[1,2,'
                              '{"p":true,"q":"s"}]},"c":"t","d":null}}' % n,
            "options": '{"inputs":"%s","parameters":{"a":1,"b":{"x":1.5,"y":[1,2,'
                       '{"p":true,"q":"s"}]},"c":"t"},"options":{"wait_for_model":true}}'
                       % n,
        }
        for what, body in variants.items():
            with self.subTest(variant=what):
                st, h2, b2 = self.post(ECHO, body)
                self.assertEqual(st, 200, b2[:300])
                self.assertEqual(h2.get("x-cache-key"), key, "X-Cache-Key differs")
                self.assertEqual(h2.get("x-cache"), "HIT")
                self.assertEqual(b2, miss_body, "a hit must return the stored bytes")
        self.assertEqual(self.fake.count(ECHO), calls,
                         "equivalent requests reached the upstream")

    def test_every_output_affecting_change_misses(self):
        n = nonce()

        def body(a='1', x='1.5', y='[1,2]', extra='', inputs=n):
            return ('{"inputs":"%s","parameters":{"a":%s,"b":{"x":%s,"y":%s}%s}}'
                    % (inputs, a, x, y, extra))
        h, _ = self.post_ok(ECHO, body(), want_cache="MISS")
        keys = {"base": h["x-cache-key"]}
        self.poll_cache("HIT", ECHO, body())
        changes = [
            ("a value", ECHO, body(a='2'), None),
            ("a string for a number", ECHO, body(a='"1"'), None),
            ("a nested value", ECHO, body(x='1.25'), None),
            ("array order", ECHO, body(y='[2,1]'), None),
            ("a key added", ECHO, body(extra=',"e":0'), None),
            ("false for null", ECHO, body(extra=',"e":false'), None),
            ("the inputs", ECHO, body(inputs=n + "x"), None),
            ("the model", "/models/mock/text-classification", body(), None),
            ("Accept", ECHO, body(), {"Accept": "application/json"}),
        ]
        for what, path, b, hdrs in changes:
            with self.subTest(change=what):
                before = self.fake.count(path)
                h, _ = self.post_ok(path, b, hdrs, want_cache="MISS")
                self.assertRegex(h.get("x-cache-key", ""), HEX64)
                self.assertNotIn(h["x-cache-key"], keys.values(),
                                 "same key as %r" % [k for k, v in keys.items()
                                                     if v == h["x-cache-key"]])
                keys[what] = h["x-cache-key"]
                self.assertEqual(self.fake.count(path), before + 1,
                                 "a changed request must reach the upstream")

    # what is cacheable -----------------------------------------------------------

    def test_sampled_generation_never_served_from_cache(self):
        sampling = [{"do_sample": True}, {"temperature": 0.7}, {"top_k": 5},
                    {"top_p": 0.9}, {"typical_p": 0.5}, {"best_of": 2},
                    {"do_sample": True, "seed": None}]
        for params in sampling:
            with self.subTest(parameters=params):
                body = {"inputs": nonce(), "parameters": params}
                before = self.fake.count(TEXTGEN)
                for _ in range(3):
                    self.post_ok(TEXTGEN, body, want_cache="BYPASS")
                self.assertEqual(self.fake.count(TEXTGEN), before + 3,
                                 "each sampled request must reach the upstream")
        # A stored greedy answer for the same inputs is not served to a sampled one.
        inputs = nonce()
        self.store(TEXTGEN, {"inputs": inputs})
        before = self.fake.count(TEXTGEN)
        self.post_ok(TEXTGEN, {"inputs": inputs, "parameters": {"do_sample": True}},
                     want_cache="BYPASS")
        self.assertEqual(self.fake.count(TEXTGEN), before + 1)

    def test_one_reading_of_the_body_decides_policy_and_key(self):
        # Raw bodies: the JSON texts exactly as a client may send them.
        def raw(inputs, params_text, extra=""):
            return ('{"inputs": "%s", %s"parameters": %s}'
                    % (inputs, extra, params_text)).encode()
        uncacheable = [
            # Duplicate member names: parsers differ on which one counts.
            '{"do_sample": false, "do_sample": true}',
            '{"max_new_tokens": 5, "max_new_tokens": 6}',
            # Any do_sample but absent, null or false samples.
            '{"do_sample": 1}', '{"do_sample": "true"}', '{"do_sample": "false"}',
            '{"do_sample": 0}', '{"do_sample": {}}', '{"do_sample": [true]}',
            # best_of: anything but a number up to 1.
            '{"best_of": "2"}',
            # Only a number is a seed.
            '{"do_sample": true, "seed": "42"}',
        ]
        bodies = [raw(nonce(), p) for p in uncacheable]
        # A duplicated "parameters" (the greedy one first, then the sampling one).
        bodies.append(raw(nonce(), '{"do_sample": true}',
                          extra='"parameters": {"do_sample": false}, '))
        bodies.append(('{"inputs": "%s", "inputs": "%s"}' % (nonce(), nonce())).encode())
        # Looks like JSON but is not (a leading zero): whether it samples is unknown.
        bodies.append(raw(nonce(), '{"do_sample": true, "top_k": 05}'))
        for body in bodies:
            with self.subTest(body=body):
                before = self.fake.count(TEXTGEN)
                for _ in range(2):
                    st, h, b = self.post(TEXTGEN, body)
                    self.assertEqual(h.get("x-cache"), "BYPASS", (st, b[:200]))
                    self.assertNotIn("x-cache-key", h)
                self.assertEqual(self.fake.count(TEXTGEN), before + 2)
        # Not sampling: do_sample false or null (a null member is an absent one), a
        # best_of of 1, a numeric seed.
        for params in ['{"do_sample": false}', '{"do_sample": null}', '{"best_of": 1}',
                       '{"do_sample": true, "seed": 42}']:
            with self.subTest(parameters=params):
                body = raw(nonce(), params)
                h1, b1 = self.post_ok(TEXTGEN, body, want_cache="MISS")
                self.flush_writer()
                h2, b2 = self.post_ok(TEXTGEN, body, want_cache="HIT")
                self.assertEqual(b2, b1)
        # The key's reading is the policy's: the same member twice in a nested object
        # of a task cached always is still not cached.
        body = ('{"inputs": "%s", "parameters": {"candidate_labels": ["a"], '
                '"candidate_labels": ["b"]}}' % nonce()).encode()
        for _ in range(2):
            st, h, b = self.post(FILL_MASK, body)
            self.assertEqual(h.get("x-cache"), "BYPASS", (st, b[:200]))

    def test_seeded_or_greedy_generation_is_cached(self):
        for params in [{"do_sample": True, "seed": 42}, {"temperature": 0.7, "seed": 1},
                       {"do_sample": False, "max_new_tokens": 20},
                       {"temperature": None, "top_k": None}]:
            with self.subTest(parameters=params):
                body = {"inputs": nonce(), "parameters": params}
                _, b1, h2, b2 = self.store(TEXTGEN, body)
                before = self.fake.count(TEXTGEN)
                h3, b3 = self.post_ok(TEXTGEN, body, want_cache="HIT")
                self.assertEqual(b3, b1)
                self.assertEqual(self.fake.count(TEXTGEN), before)

    def test_text_to_image_cached_only_with_a_seed(self):
        body = {"inputs": "a cat " + nonce()}
        before = self.fake.count(T2I_UPSTREAM)
        for _ in range(3):
            h, b = self.post_ok(T2I, body, want_cache="BYPASS")
            self.assertEqual(h.get("content-type"), "image/jpeg")
        self.assertEqual(self.fake.count(T2I_UPSTREAM), before + 3)
        seeded = {"inputs": body["inputs"], "parameters": {"seed": 7}}
        _, b1, _, b2 = self.store(T2I, seeded)
        self.assertEqual(b2, b1)

    def test_error_answers_never_stored(self):
        path = "/models/fake/always500"
        body = {"inputs": nonce()}
        st, h, b = self.post(path, body)
        self.assertEqual(st, 500, b[:300])
        self.flush_writer()
        before = self.fake.count(path)
        st, h, b = self.post(path, body)
        self.assertEqual(st, 500, b[:300])
        self.assertNotIn(h.get("x-cache"), ("HIT", "STALE"))
        self.assertGreater(self.fake.count(path), before, "an error was served from cache")

    # exact hits --------------------------------------------------------------------

    def test_hit_returns_identical_status_type_and_bytes(self):
        cases = [
            ("binary image", T2I, {"inputs": "a dog " + nonce(), "parameters": {"seed": 3}},
             "image/jpeg"),
            ("json", FILL_MASK, {"inputs": "The <mask> %s." % nonce()}, "application/json"),
        ]
        for what, path, body, ctype in cases:
            with self.subTest(what):
                h1, b1, h2, b2 = self.store(path, body)
                self.assertEqual(h1.get("content-type"), ctype)
                self.assertRegex(h1.get("x-cache-key", ""), HEX64)
                self.assertEqual(h2.get("content-type"), h1.get("content-type"))
                self.assertEqual(len(b2), len(b1))
                self.assertEqual(b2, b1, "hit body bytes differ from the original")
                self.assertEqual(h2.get("x-cache-key"), h1["x-cache-key"])
                self.assertRegex(h2.get("age", ""), r"^\d+$", "Age missing on a hit")
                self.assertLessEqual(int(h2["age"]), 5)
                self.assertNotIn("age", h1, "Age on a miss")

    # lifetimes and request controls ------------------------------------------------

    def test_max_age_refuses_an_older_entry(self):
        body = {"inputs": nonce()}
        _, b1, _, _ = self.store(ECHO, body)

        def aged():
            _, h, b = self.post(ECHO, body)
            self.assertEqual(h.get("x-cache"), "HIT", "the entry vanished")
            return int(h.get("age", "0")) >= 2
        wait_until(aged, 6, interval=0.1, what="Age: 2 on the stored entry")
        h, b = self.post_ok(ECHO, body, {"Cache-Control": "max-age=3600"},
                            want_cache="HIT")
        self.assertEqual(b, b1)
        before = self.fake.count(ECHO)
        h, b = self.post_ok(ECHO, body, {"Cache-Control": "max-age=1"}, want_cache="MISS")
        self.assertEqual(self.fake.count(ECHO), before + 1,
                         "an entry older than max-age must not be used")

    def test_max_age_sets_the_stored_lifetime(self):
        body = {"inputs": nonce()}
        t0 = time.monotonic()
        self.store(ECHO, body, {"Cache-Control": "max-age=2"})
        # The class default TTL is a day: the entry must expire after ~2 s instead.
        _, h, _ = self.poll_cache("MISS", ECHO, body, timeout=5)
        self.assertLess(time.monotonic() - t0, 4.5)

    def test_no_cache_skips_lookup_and_stores(self):
        body = {"inputs": nonce()}
        _, b1, _, _ = self.store(ECHO, body)
        before = self.fake.count(ECHO)
        h, b2 = self.post_ok(ECHO, body, {"Cache-Control": "no-cache"}, want_cache="MISS")
        self.assertEqual(self.fake.count(ECHO), before + 1, "no-cache must reach upstream")
        self.assertNotEqual(b2, b1, "fake/echo answers differ per request (request id)")
        # The fresh answer replaced the stored one.
        wait_until(lambda: self.post(ECHO, body)[2] == b2, 5, interval=0.02,
                   what="the no-cache answer to be served from cache")
        h, b = self.post_ok(ECHO, body, want_cache="HIT")
        self.assertEqual(b, b2)

    def test_no_store_neither_looks_up_nor_stores(self):
        stored = {"inputs": nonce()}
        self.store(ECHO, stored)
        before = self.fake.count(ECHO)
        self.post_ok(ECHO, stored, {"Cache-Control": "no-store"}, want_cache="BYPASS")
        self.assertEqual(self.fake.count(ECHO), before + 1)
        fresh = {"inputs": nonce()}
        self.post_ok(ECHO, fresh, {"Cache-Control": "no-store"}, want_cache="BYPASS")
        self.flush_writer()
        before = self.fake.count(ECHO)
        self.post_ok(ECHO, fresh, want_cache="MISS")
        self.assertEqual(self.fake.count(ECHO), before + 1, "no-store answer was stored")

    def test_x_use_cache_false_acts_as_no_cache_and_is_forwarded(self):
        body = {"inputs": nonce()}
        self.store(ECHO, body)
        before = self.fake.count(ECHO)
        h, b2 = self.post_ok(ECHO, body, {"X-Use-Cache": "false"}, want_cache="MISS")
        self.assertEqual(self.fake.count(ECHO), before + 1)
        echoed = json.loads(b2)
        self.assertEqual(echoed["headers"].get("x-use-cache"), "false",
                         "X-Use-Cache must reach the upstream")
        wait_until(lambda: self.post(ECHO, body)[2] == b2, 5, interval=0.02,
                   what="the X-Use-Cache: false answer to be stored")

    def test_options_use_cache_false_acts_as_no_cache_and_is_forwarded(self):
        inputs = nonce()
        self.store(ECHO, {"inputs": inputs})
        before = self.fake.count(ECHO)
        body = {"inputs": inputs, "options": {"use_cache": False}}
        h, b2 = self.post_ok(ECHO, body, want_cache="MISS")
        self.assertEqual(self.fake.count(ECHO), before + 1)
        sent = json.loads(base64.b64decode(json.loads(b2)["body_b64"]))
        self.assertIs(sent.get("options", {}).get("use_cache"), False,
                      "options.use_cache must reach the upstream")
        # Same key as the plain request (options are not part of it): replaced.
        wait_until(lambda: self.post(ECHO, {"inputs": inputs})[2] == b2, 5,
                   interval=0.02, what="the use_cache=false answer to be stored")

    # coalescing ---------------------------------------------------------------------

    def concurrent(self, path, body, n, spread=0.0):
        """n identical requests sent at once, or the i-th i * spread seconds after
        the first; their (status, headers, body)."""
        results = [None] * n
        gate = threading.Barrier(n)

        def one(i):
            try:
                gate.wait(10)
                if spread:
                    time.sleep(i * spread)	# the shape of the load, not a wait
                results[i] = self.post(path, body, timeout=30)
            except Exception as e:	# noqa: BLE001 - reported below
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        errors = [r for r in results if not isinstance(r, tuple)]
        self.assertEqual(errors, [], "requests failed")
        return results

    def test_100_identical_concurrent_requests_one_upstream_call(self):
        path = "/models/fake/slow-500"
        body = as_bytes({"inputs": "coalesce " + nonce()})
        n = 100
        results = self.concurrent(path, body, n)
        self.assertEqual(self.fake.count(path), 1, "identical requests were not coalesced")
        statuses = {r[0] for r in results}
        self.assertEqual(statuses, {200})
        self.assertEqual(len({r[2] for r in results}), 1, "answers differ")
        self.assertEqual({r[1].get("content-type") for r in results}, {"application/json"})
        states = [r[1].get("x-cache") for r in results]
        self.assertEqual(states.count("HIT"), n - 1, states)
        self.assertEqual(states.count("MISS"), 1, states)

    def test_coalescing_holds_until_the_answer_is_stored(self):
        # 100 requests spread over a second against a 700 ms upstream: those that
        # arrive after the first one's answer but before the writer has committed it
        # are served from memory too, so each run makes one upstream call.
        path = "/models/fake/slow-700"
        calls = []
        for run in range(20):
            body = as_bytes({"inputs": "coalesce %d %s" % (run, nonce())})
            before = self.fake.count(path)
            results = self.concurrent(path, body, 100, spread=0.01)
            calls.append(self.fake.count(path) - before)
            self.assertEqual({r[0] for r in results}, {200})
            self.assertEqual(len({r[2] for r in results}), 1, "answers differ")
        self.assertEqual(calls, [1] * 20, "upstream calls per run of 100")

    def test_identical_requests_racing_the_store_make_one_call(self):
        # Against a fast upstream, identical requests sent together race the first
        # one's answer: a request whose look-up runs just before that answer is
        # stored, and that joins just after its flight ended, must still get it.
        for run in range(300):
            body = as_bytes({"inputs": "race %d %s" % (run, nonce())})
            before = self.fake.count(ECHO)
            results = self.concurrent(ECHO, body, 8)
            self.assertEqual(self.fake.count(ECHO) - before, 1,
                             "upstream calls for run %d of 8 identical requests" % run)
            self.assertEqual({r[0] for r in results}, {200})
            self.assertEqual(len({r[2] for r in results}), 1, "answers differ")
            self.assertEqual(sorted(r[1].get("x-cache") for r in results),
                             ["HIT"] * 7 + ["MISS"])

    def test_identical_streams_racing_the_store_make_one_call(self):
        # The same for streams: a stream stored just after a request's look-up is
        # replayed to it.
        path = "/models/fake/stream-1-0"
        for run in range(200):
            body = as_bytes({"inputs": "race %d %s" % (run, nonce()), "stream": True})
            before = self.fake.count(path)
            results = self.concurrent(path, body, 8)
            self.assertEqual(self.fake.count(path) - before, 1,
                             "upstream calls for run %d of 8 identical streams" % run)
            self.assertEqual({r[0] for r in results}, {200})
            self.assertEqual(len({r[2] for r in results}), 1, "streams differ")
            self.assertEqual({r[1].get("content-type") for r in results},
                             {"text/event-stream"})

    # read your writes ----------------------------------------------------------------

    def test_an_answer_is_a_hit_at_once(self):
        # No wait for the writer: from the moment an answer is complete, identical
        # requests are hits, on whichever loop thread they arrive.
        for i in range(10):
            body = {"inputs": "ryw %d %s" % (i, nonce())}
            before = self.fake.count(TEXTGEN)
            h1, b1 = self.post_ok(TEXTGEN, body, want_cache="MISS")
            for _ in range(2):
                h2, b2 = self.post_ok(TEXTGEN, body, want_cache="HIT")
                self.assertEqual(b2, b1)
                self.assertEqual(h2.get("x-cache-key"), h1.get("x-cache-key"))
            self.assertEqual(self.fake.count(TEXTGEN), before + 1)
        # A stored stream, at once: replayed to a stream request, and answers a
        # plain one.
        sbody = {"inputs": "ryw stream " + nonce(), "stream": True}
        _, s1 = self.post_ok(TEXTGEN, sbody, want_cache="MISS")
        _, s2 = self.post_ok(TEXTGEN, sbody, want_cache="HIT")
        self.assertEqual(s2, s1)
        _, p = self.post_ok(TEXTGEN, {"inputs": sbody["inputs"]}, want_cache="HIT")
        self.assertEqual(json.loads(p)[0]["generated_text"],
                         last_data_event(s1)["generated_text"])

    def test_delete_drops_answers_not_yet_stored(self):
        body = {"inputs": "ryw delete " + nonce()}
        self.post_ok(TEXTGEN, body, want_cache="MISS")
        st, _, b = self.gw.request("DELETE", "/admin/cache?model=mock/text-generation")
        self.assertEqual(st, 200, b[:300])
        before = self.fake.count(TEXTGEN)
        self.post_ok(TEXTGEN, body, want_cache="MISS")
        self.assertEqual(self.fake.count(TEXTGEN), before + 1)
        st, _, b = self.gw.request("DELETE", "/admin/cache")
        self.assertEqual(st, 200, b[:300])
        self.post_ok(TEXTGEN, body, want_cache="MISS")

    # streams -----------------------------------------------------------------------

    def test_stream_replayed_from_cache(self):
        inputs = "stream " + nonce()
        params = {"max_new_tokens": 20, "do_sample": False}
        sbody = {"inputs": inputs, "parameters": params, "stream": True}
        h1, s1, h2, s2 = self.store(TEXTGEN, sbody)
        self.assertEqual(h1.get("content-type"), "text/event-stream")
        final = last_data_event(s1)
        self.assertIsInstance(final.get("generated_text"), str, s1[-300:])
        calls = self.fake.count(TEXTGEN)
        self.assertEqual(h2.get("content-type"), "text/event-stream")
        self.assertEqual(s2, s1, "the replayed stream differs from the original")
        self.assertEqual(h2.get("x-cache-key"), h1.get("x-cache-key"))
        # The same request without "stream": answered from the stored stream.
        h3, b3 = self.post_ok(TEXTGEN, {"inputs": inputs, "parameters": params},
                              want_cache="HIT")
        self.assertEqual(h3.get("content-type"), "application/json")
        self.assertEqual(json.loads(b3), [{"generated_text": final["generated_text"]}])
        self.assertEqual(self.fake.count(TEXTGEN), calls, "a hit reached the upstream")

    def test_stream_request_not_answered_by_stored_plain_answer(self):
        inputs = "plain " + nonce()
        self.store(TEXTGEN, {"inputs": inputs})
        before = self.fake.count(TEXTGEN)
        st, h, s = self.post(TEXTGEN, {"inputs": inputs, "stream": True})
        self.assertEqual(st, 200)
        self.assertEqual(h.get("x-cache"), "MISS")
        self.assertEqual(h.get("content-type"), "text/event-stream")
        self.assertEqual(self.fake.count(TEXTGEN), before + 1)

    def test_failed_streams_never_stored(self):
        for model in ("fake/stream-reset-10-3", "fake/stream-cut-10-3",
                      "fake/stream-error-3", "fake/stream-noend-5"):
            with self.subTest(model=model):
                path = "/models/" + model
                body = {"inputs": nonce(), "stream": True}
                try:
                    st, h, _ = self.post(path, body)
                    self.assertEqual(h.get("x-cache"), "MISS")
                except (OSError, http.client.HTTPException):
                    pass		# a relay cut short: fine here
                self.flush_writer()
                before = self.fake.count(path)
                try:
                    st, h, _ = self.post(path, body)
                    self.assertEqual(h.get("x-cache"), "MISS",
                                     "a failed stream was stored")
                except (OSError, http.client.HTTPException):
                    pass
                self.assertEqual(self.fake.count(path), before + 1,
                                 "a failed stream was served from cache")


class CacheTTL(CacheHelpers, GatewayTestCase):
    CACHE = True
    CONFIG = {"cache-policy": {"fill-mask": "always 1"}}

    def test_task_ttl_expiry(self):
        body = {"inputs": "The <mask> " + nonce()}
        start_of_second()
        t0 = time.monotonic()
        _, b1, _, b2 = self.store(FILL_MASK, body)
        self.assertEqual(b2, b1)
        self.assertLess(time.monotonic() - t0, 0.8, "too slow to test a 1 s TTL")
        self.assertEqual(self.fake.count(FILL_MASK), 1)
        self.poll_cache("MISS", FILL_MASK, body, timeout=4)
        dt = time.monotonic() - t0
        self.assertGreater(dt, 0.5, "a 1 s entry expired after %.2fs" % dt)
        self.assertLess(dt, 2.6, "a 1 s entry was still served after %.2fs" % dt)
        self.assertEqual(self.fake.count(FILL_MASK), 2, "the expired MISS must go upstream")


class CacheStreamFanOut(CacheHelpers, GatewayTestCase):
    """Identical stream requests in flight share one upstream stream: a follower
    gets the events so far, then the live ones (coalescing)."""
    CACHE = True

    def stream_body(self):
        return json.dumps({"inputs": "fan " + nonce(), "parameters": {"max_new_tokens": 10},
                           "stream": True}).encode()

    def test_concurrent_streams_share_one_upstream_call(self):
        from test_stream import read_streams
        path = "/models/fake/stream-10-100"
        body = self.stream_body()
        streams = read_streams(self.gw.port, path, body, 10)
        self.assertEqual(self.fake.count(path), 1, "one upstream stream for all ten")
        first = streams[0].body
        self.assertEqual(first.count(b"data:"), 10)
        for i, rs in enumerate(streams):
            with self.subTest(client=i):
                self.assertEqual(rs.status, 200)
                self.assertTrue(rs.complete, "chunked body not terminated")
                self.assertEqual(rs.headers.get("content-type"), "text/event-stream")
                self.assertEqual(rs.body, first, "every follower gets the same bytes")
        states = sorted(rs.headers.get("x-cache") for rs in streams)
        self.assertEqual(states, ["HIT"] * 9 + ["MISS"])

    def test_late_joiner_gets_events_so_far_then_live_ones(self):
        from test_stream import RawStream
        path = "/models/fake/stream-10-200"
        body = self.stream_body()
        a = RawStream(self.gw.port, path, body)
        try:
            a.read_until(lambda s: s.data_count() >= 3, 10, "3 events of the first stream")
            b = RawStream(self.gw.port, path, body)
            try:
                t0 = time.monotonic()
                b.read_until(lambda s: s.data_count() >= 3, 5, "the joiner's first events")
                self.assertLess(time.monotonic() - t0, 0.5,
                                "the events so far must come at once, not at the stream's pace")
                self.assertLess(b.data_count(), 10, "the joiner got the rest live")
                a.read_to_end(10)
                b.read_to_end(10)
            finally:
                b.close()
        finally:
            a.close()
        self.assertEqual(self.fake.count(path), 1)
        self.assertEqual(b.body, a.body)
        self.assertTrue(b.complete)
        self.assertEqual(b.headers.get("x-cache"), "HIT")

    def test_leader_gone_mid_stream_ends_followers_with_an_error(self):
        from test_stream import RawStream
        path = "/models/fake/stream-20-150"
        body = self.stream_body()
        a = RawStream(self.gw.port, path, body)
        a.read_until(lambda s: s.data_count() >= 1, 10, "the first event")
        b = RawStream(self.gw.port, path, body)
        try:
            b.read_until(lambda s: s.data_count() >= 1, 5, "the joiner's first event")
            a.close()	# the stream's source goes away
            b.read_to_end(10)
        finally:
            b.close()
        self.assertTrue(b.complete, "the follower must get a clean end, never a hang")
        events = [json.loads(line[5:]) for line in b.body.split(b"\n")
                  if line.startswith(b"data:")]
        self.assertEqual(events[-1].get("error_type"), "incomplete_generation", events[-1])
        self.assertLess(len(events), 21)


class CacheHubTask(CacheHelpers, GatewayTestCase):
    """POST /models/{id} of a model that is no task's default: its task comes from
    the Hub's pipeline tag (GET {hub_url}/api/models/{id}, here the fake), looked up
    in the background once and then applied."""
    CACHE = True
    CONFIG = {"cache-policy": {"fill-mask": "never"}}

    def test_policy_follows_the_hub_pipeline_tag(self):
        path = "/models/mock/fill-mask"
        body = {"inputs": "The <mask> " + nonce()}
        # Unknown task at first: treated as a deterministic generation, so cached.
        h, _ = self.post_ok(path, body)
        self.assertIn(h.get("x-cache"), ("MISS", "BYPASS"))
        # Once the look-up is in, fill-mask's policy (never) applies.
        self.poll_cache("BYPASS", path, body, timeout=5)
        self.assertEqual(self.fake.count("/api/models/mock/fill-mask"), 1,
                         "the Hub look-up is made once and remembered")
        look = [r for r in self.fake.requests() if r["path"] == "/api/models/mock/fill-mask"]
        self.assertEqual(look[0]["method"], "GET")
        self.assertEqual(look[0]["headers"].get("authorization"), "Bearer " + self.secret)
        # A model the Hub does not know stays unknown (cacheable), looked up once.
        other = {"inputs": "x " + nonce()}
        self.post_ok("/models/fake/echo", other)
        wait_until(lambda: self.fake.count("/api/models/fake/echo") >= 1, 5,
                   what="the look-up of fake/echo")
        self.flush_writer()
        self.post_ok("/models/fake/echo", other, want_cache="HIT")
        self.assertEqual(self.fake.count("/api/models/fake/echo"), 1)


class CacheEviction(CacheHelpers, GatewayTestCase):
    CACHE = True
    CAP = 64 * 1024
    CONFIG = {"cache": {"max_bytes": "64k"}}

    def test_eviction_keeps_the_file_under_its_cap(self):
        pad = 6000			# ~8 KB answers: fake/echo returns the body in base64
        per_thread, nthreads = 300, 4
        h, b = self.post_ok(ECHO, {"inputs": "size probe " + "x" * pad})
        entry = len(b)
        self.assertGreater(entry, 7000)
        batch = 256 * (entry + 512)	# one write batch of such entries, with overhead
        bound = self.CAP + batch
        seen = []
        failures = []

        def worker(k):
            try:
                for i in range(per_thread):
                    body = {"inputs": "%d-%d-%s-" % (k, i, nonce()) + "x" * pad}
                    st, _, rb = self.post(ECHO, body)
                    if st != 200:
                        failures.append((st, rb[:200]))
                        return
                    if i % 20 == 0:
                        seen.append(self.admin()["bytes"])
            except Exception as e:	# noqa: BLE001 - reported below
                failures.append(e)
        threads = [threading.Thread(target=worker, args=(k,), daemon=True)
                   for k in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(failures, [])
        written = per_thread * nthreads * entry
        self.assertGreater(written, 3 * bound, "the test must write far over the bound")
        self.assertTrue(seen)
        self.assertLessEqual(max(seen), bound,
                             "cache bytes %d over cap %d + one batch %d"
                             % (max(seen), self.CAP, batch))
        # Every committed batch is followed by eviction: once quiet, under the cap.
        st = wait_until(lambda: (lambda s: s if s["bytes"] <= self.CAP else None)(
            self.admin()), 5, interval=0.05, what="cache bytes under the cap")
        self.assertGreater(st["entries"], 0, "eviction emptied the cache")
        # The most recent entries survive (LRU): the last stored answer still hits.
        last = {"inputs": "last " + nonce()}
        self.post_ok(ECHO, last, want_cache="MISS")
        self.poll_cache("HIT", ECHO, last)

        def footprint():
            return sum(os.path.getsize(self.cache_db + s) for s in ("", "-wal")
                       if os.path.exists(self.cache_db + s))
        limit = bound + 1024 * 1024
        try:
            wait_until(lambda: footprint() < limit, 12, interval=0.25,
                       what="the cache file (db + wal) under %d bytes" % limit)
        except AssertionError:
            self.fail("after writing %d bytes with max_bytes = %d, the cache file stays "
                      "at %d bytes (db %d + wal %d), over cap + one batch + 1 MiB = %d"
                      % (written, self.CAP, footprint(), os.path.getsize(self.cache_db),
                         os.path.getsize(self.cache_db + "-wal"), limit))


class CacheAdmin(CacheHelpers, GatewayTestCase):
    CACHE = True

    def test_stats_count_entries_bytes_hits_misses(self):
        self.flush_writer()		# stores of earlier tests committed
        before = self.admin()
        for k in ("entries", "bytes", "hits", "misses", "hit_ratio"):
            self.assertIn(k, before)
            self.assertIsInstance(before[k], (int, float), k)
        body = {"inputs": "The <mask> " + nonce()}
        _, b1, _, _ = self.store(FILL_MASK, body)
        after = self.admin()
        self.assertEqual(after["entries"], before["entries"] + 1)
        self.assertGreaterEqual(after["bytes"], before["bytes"] + len(b1))
        self.assertGreaterEqual(after["misses"], before["misses"] + 1)
        self.assertGreaterEqual(after["hits"], before["hits"] + 1)
        total = after["hits"] + after["misses"]
        self.assertAlmostEqual(after["hit_ratio"], after["hits"] / total, places=3)

    def test_delete_by_model_then_all(self):
        echo_body = {"inputs": nonce()}
        mask_body = {"inputs": "The <mask> " + nonce()}
        self.store(ECHO, echo_body)
        self.store(FILL_MASK, mask_body)
        st, h, b = self.gw.request("DELETE", "/admin/cache?model=fake/echo")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(json.loads(b), {"deleted": True, "model": "fake/echo"})
        # The answer comes once the deletion is committed: no polling needed.
        before = self.fake.count(ECHO)
        self.post_ok(ECHO, echo_body, want_cache="MISS")
        self.assertEqual(self.fake.count(ECHO), before + 1)
        self.post_ok(FILL_MASK, mask_body, want_cache="HIT")
        self.poll_cache("HIT", ECHO, echo_body)
        st, h, b = self.gw.request("DELETE", "/admin/cache")
        self.assertEqual(st, 200, b[:300])
        self.assertEqual(json.loads(b), {"deleted": True, "model": None})
        stats = self.admin()
        self.assertEqual((stats["entries"], stats["bytes"]), (0, 0), stats)
        self.post_ok(ECHO, echo_body, want_cache="MISS")
        self.post_ok(FILL_MASK, mask_body, want_cache="MISS")


class CacheFiles(CacheHelpers, FreshGatewayTestCase):
    """Gateways started per test on chosen cache files."""

    def new_db(self):
        return os.path.join(mkdtemp("hfgate-cache-"), "cache.db")

    def test_two_processes_share_one_file(self):
        db = self.new_db()
        a = self.start_gateway(cache_config(db))
        b = self.start_gateway(cache_config(db))
        for src, dst in ((a, b), (b, a)):
            with self.subTest(stored_by=src.port):
                body = {"inputs": nonce()}
                _, b1, _, _ = self.store(ECHO, body, gw=src)
                calls = self.fake.count(ECHO)
                h, b2 = self.post_ok(ECHO, body, gw=dst, want_cache="HIT")
                self.assertEqual(b2, b1)
                self.assertEqual(self.fake.count(ECHO), calls)

    def test_kill_9_during_write_burst(self):
        db = self.new_db()
        gw = self.start_gateway(cache_config(db), check_on_cleanup=False)
        sent = {}		# request body -> answer received (None: none)
        lock = threading.Lock()
        stop = threading.Event()

        def worker(k):
            i = 0
            while not stop.is_set():
                # Sizes from 100 B to ~60 KB: rows spanning many pages.
                body = as_bytes({"inputs": "%d-%d-%s-" % (k, i, nonce())
                                 + "y" * ((i * 7919 + k * 104729) % 45000)})
                i += 1
                with lock:
                    sent[body] = None
                try:
                    st, h, rb = self.post(ECHO, body, gw=gw, timeout=10)
                except (OSError, http.client.HTTPException):
                    return		# the gateway was killed
                if st == 200:
                    with lock:
                        sent[body] = rb
        threads = [threading.Thread(target=worker, args=(k,), daemon=True)
                   for k in range(6)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: self.admin(gw)["entries"] >= 100, 30, interval=0.05,
                       what="100 entries committed during the burst")
        finally:
            gw.kill()		# SIGKILL while the workers still send
            stop.set()
        for t in threads:
            t.join(20)
        self.assertEqual(integrity(db), [("ok",)], "cache file damaged by kill -9")

        gw2 = self.start_gateway(cache_config(db))
        self.assertIn("cache " + db, gw2.log_text(), "the cache did not reopen")
        hits = 0
        for body, answer in list(sent.items()):
            st, h, rb = self.post(ECHO, body, gw=gw2)
            self.assertEqual(st, 200, rb[:300])
            if h.get("x-cache") != "HIT":
                continue
            hits += 1
            echoed = json.loads(rb)		# a partial entry would not parse
            self.assertEqual(base64.b64decode(echoed["body_b64"]), body,
                             "a hit served another or a partial answer")
            if answer is not None:
                self.assertEqual(rb, answer, "a hit differs from the answer stored")
        self.assertGreaterEqual(hits, 50, "entries committed before the kill were lost")
        gw2.stop()
        self.assertEqual(integrity(db), [("ok",)])

    def assert_serves_without_cache(self, gw):
        for _ in range(2):
            st, h, b = self.post(ECHO, {"inputs": "no cache"}, gw=gw)
            self.assertEqual(st, 200, b[:300])
            self.assertEqual(h.get("x-cache"), "BYPASS")
            self.assertEqual(json.loads(b)["path"], ECHO)
        st, h, b = gw.request("GET", "/admin/cache")
        self.assertEqual(st, 503, b[:300])
        self.assertRegex(gw.log_text(), r"cache off")

    def test_corrupt_file_requests_still_succeed(self):
        db = self.new_db()
        junk = os.urandom(256 * 1024)
        with open(db, "wb") as f:
            f.write(junk)
        gw = self.start_gateway(cache_config(db))
        before = self.fake.count(ECHO)
        self.assert_serves_without_cache(gw)
        self.assertEqual(self.fake.count(ECHO), before + 2)

    def test_unopenable_path_requests_still_succeed(self):
        d = mkdtemp("hfgate-cache-")
        afile = os.path.join(d, "a-file")
        with open(afile, "w") as f:
            f.write("x")
        for what, path in (("missing directory", os.path.join(d, "no", "such", "c.db")),
                           ("a file as directory", os.path.join(afile, "c.db")),
                           ("a directory as file", d)):
            with self.subTest(what):
                gw = self.start_gateway(cache_config(path))
                self.assert_serves_without_cache(gw)

    def test_unwritable_location_requests_still_succeed(self):
        if os.geteuid() == 0:
            # Root ignores permission bits; sysfs refuses to create files (EACCES)
            # even for root, and nothing is changed there.
            path = "/sys/hfgate-test-cache.db"
        else:
            ro = os.path.join(mkdtemp("hfgate-cache-"), "ro")
            os.mkdir(ro)
            os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)
            self.addCleanup(os.chmod, ro, stat.S_IRWXU)
            path = os.path.join(ro, "c.db")
        gw = self.start_gateway(cache_config(path))
        self.assert_serves_without_cache(gw)
        self.assertFalse(os.path.exists(path))

    def test_stale_if_error_serves_expired_entry(self):
        # A private upstream: stopping it leaves its port dead. (The key holds the
        # upstream URL, so the gateway must keep the same URL.)
        up = Fake()
        self.addCleanup(up.kill)
        up.start()
        db = self.new_db()
        config = merge_config(cache_config(db, stale_if_error=60),
                              {"cache-policy": {"fill-mask": "always 1"}})
        body = {"inputs": "The <mask> " + nonce()}
        a = self.start_gateway(config, upstream_url=up.url)
        start_of_second()
        h1, b1, _, _ = self.store(FILL_MASK, body, gw=a)
        up.stop()
        st, h, b2 = self.poll_cache("STALE", FILL_MASK, body, gw=a, timeout=6)
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), h1.get("content-type"))
        self.assertEqual(b2, b1)
        self.assertRegex(h.get("age", ""), r"^\d+$")
        self.assertGreaterEqual(int(h["age"]), 1)
        # Nothing stored for another input: the upstream error comes through.
        st, h, b3 = self.post(FILL_MASK, {"inputs": "The <mask> " + nonce()}, gw=a)
        self.assertGreaterEqual(st, 500, b3[:300])
        self.assertNotEqual(h.get("x-cache"), "STALE")
        a.stop()
        # A restart on the same file with the upstream still down: still served.
        b = self.start_gateway(config, upstream_url=up.url)
        st, h, b4 = self.post(FILL_MASK, body, gw=b)
        self.assertEqual((st, h.get("x-cache")), (200, "STALE"), b4[:300])
        self.assertEqual(b4, b1)
        b.stop()
        # Without the grace window the expired entry is not served.
        c = self.start_gateway(merge_config(config, {"cache": {"stale_if_error": "0"}}),
                               upstream_url=up.url)
        st, h, b5 = self.post(FILL_MASK, body, gw=c)
        self.assertGreaterEqual(st, 500, b5[:300])
        self.assertNotIn(h.get("x-cache"), ("HIT", "STALE"))

if __name__ == "__main__":
    unittest.main()
