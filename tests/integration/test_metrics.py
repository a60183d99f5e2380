# SPDX-License-Identifier: BSD-2-Clause
"""GET /metrics (docs/operations.md, "Metrics"): Prometheus's text format, checked by
promtool, with counters that follow what the gateway did; the admin rules apply."""

import json
import os
import re
import shutil
import signal
import subprocess
import unittest

import harness
from harness import FreshGatewayTestCase, GatewayTestCase, key_sha256, wait_until

JSON = {"Content-Type": "application/json"}
MODEL = "distilbert-base-uncased-finetuned-sst-2-english"
ADMIN_KEY = "admin-" + os.urandom(8).hex()
CLIENT_KEY = "client-" + os.urandom(8).hex()


def promtool():
    """scripts/get-promtool.sh's promtool (scripts/test.sh sets HFGATE_PROMTOOL)."""
    path = os.environ.get("HFGATE_PROMTOOL") or shutil.which("promtool") or \
        os.path.join(os.environ.get("XDG_CACHE_HOME") or
                     os.path.expanduser("~/.cache"), "hfgate", "promtool")
    if not os.access(path, os.X_OK):
        raise AssertionError("no promtool: run sh scripts/get-promtool.sh")
    return path


def parse(text):
    """{(name, frozenset(labels)): value} of the samples."""
    out = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


class Metrics(GatewayTestCase):

    UPSTREAM_PATH = "/router/hf-inference"
    CACHE = True
    CONFIG = {"upstream": {"hub_url": "{fake_url}"}}

    def scrape(self):
        st, h, b = self.gw.request("GET", "/metrics")
        self.assertEqual(st, 200, b)
        self.assertEqual(h.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return b.decode()

    def test_promtool_checks_the_text(self):
        self.gw.request("POST", "/models/" + MODEL, b'{"inputs":"promtool"}', JSON)
        text = self.scrape()
        p = subprocess.run([promtool(), "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        s = parse(text)
        info = [k for k in s if k[0] == "hfgate_build_info"]
        self.assertEqual(len(info), 1)
        labels = dict(info[0][1])
        self.assertEqual(labels["version"], "0.1.0")
        for lib in ("libcurl", "libmicrohttpd", "sqlite"):
            self.assertRegex(labels[lib], r"^\d+\.\d+")

    def test_counters_follow_the_requests(self):
        before = parse(self.scrape())
        body = json.dumps({"inputs": "metrics " + os.urandom(4).hex()}).encode()
        # A miss, then hits once stored.
        st, h, b = self.gw.request("POST", "/models/" + MODEL, body, JSON)
        self.assertEqual((st, h.get("x-cache")), (200, "MISS"), b)

        def hit():
            st, h, _ = self.gw.request("POST", "/models/" + MODEL, body, JSON)
            return h.get("x-cache") == "HIT"
        wait_until(hit, 5, what="a cache hit")
        # A 429 then 200: one retry for 429; an unknown path: a 4xx of "other".
        st, _, b = self.gw.request("POST", "/models/fake/429-1", b'{"inputs":"r"}', JSON)
        self.assertEqual(st, 200, b)
        self.assertEqual(self.gw.request("GET", "/nowhere")[0], 404)
        after = parse(self.scrape())

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)
        self.assertGreaterEqual(delta("hfgate_requests_total", family="hf", code="2xx"), 3)
        self.assertEqual(delta("hfgate_requests_total", family="other", code="4xx"), 1)
        self.assertEqual(delta("hfgate_cache_requests_total", result="miss") >= 2, True)
        self.assertGreaterEqual(delta("hfgate_cache_requests_total", result="hit"), 1)
        self.assertEqual(delta("hfgate_upstream_retries_total", reason="429"), 1)
        # The miss, and the 429 call twice; the hit none.
        self.assertEqual(delta("hfgate_upstream_attempts_total"), 3)
        count = delta("hfgate_request_duration_seconds_count", family="hf")
        self.assertEqual(count, delta("hfgate_request_duration_seconds_bucket", family="hf",
                                      le="+Inf"))
        self.assertGreaterEqual(count, 3)

    def test_tokens_and_open_streams(self):
        from test_stream import RawStream
        before = parse(self.scrape())
        st, _, b = self.gw.request("POST", "/v1/chat/completions", json.dumps(
            {"model": "fake/oai-slow-1", "messages": [{"role": "user", "content": "a b"}]}
        ).encode(), JSON)
        self.assertEqual(st, 200, b)
        usage = json.loads(b)["usage"]
        # A stream held open by its slow upstream.
        rs = RawStream(self.gw.port, "/models/fake/stream-5-300")
        try:
            wait_until(lambda: value(parse(self.scrape()), "hfgate_streams_open") >= 1, 5,
                       what="an open stream counted")
            rs.read_to_end(15)
        finally:
            rs.close()
        wait_until(lambda: value(parse(self.scrape()), "hfgate_streams_open") == 0, 5,
                   what="the stream counted closed")
        after = parse(self.scrape())
        self.assertEqual(value(after, "hfgate_tokens_total", kind="prompt") -
                         value(before, "hfgate_tokens_total", kind="prompt"),
                         usage["prompt_tokens"])
        self.assertGreaterEqual(value(after, "hfgate_tokens_total", kind="completion") -
                                value(before, "hfgate_tokens_total", kind="completion"),
                                usage["completion_tokens"])
        self.assertEqual(value(after, "hfgate_upstream_streams_total", end="complete") -
                         value(before, "hfgate_upstream_streams_total", end="complete"), 1)


class MetricsAccessAndReloads(FreshGatewayTestCase):

    def test_admin_key_limits_and_reloads(self):
        gw = self.start_gateway({
            "admin": {"key_sha256": key_sha256(ADMIN_KEY)},
            "client a": {"key_sha256": key_sha256(CLIENT_KEY), "rate": 1, "burst": 1},
        })
        # Without the admin key (a client key is not one): refused.
        for hdrs in ({}, {"Authorization": "Bearer " + CLIENT_KEY}):
            st, _, _ = gw.request("GET", "/metrics", headers=hdrs)
            self.assertIn(st, (401, 403))
        admin = {"Authorization": "Bearer " + ADMIN_KEY}
        client = {**JSON, "Authorization": "Bearer " + CLIENT_KEY}
        for _ in range(2):
            gw.request("POST", "/models/" + MODEL, b'{"inputs":"x"}', client)
        st, _, b = gw.request("GET", "/metrics", headers=admin)
        self.assertEqual(st, 200, b)
        s = parse(b.decode())
        self.assertEqual(value(s, "hfgate_limit_refusals_total", limit="rate"), 1)
        # A reload that works, then one that does not.
        loaded = value(s, "hfgate_config_last_reload_success_timestamp_seconds")
        gw.signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in gw.log_text(), 5, what="the reload")
        with open(gw.conf_path, "a") as f:
            f.write("\n[server]\nno_such_key = 1\n")
        gw.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in gw.log_text(), 5, what="the failed reload")
        s = parse(gw.request("GET", "/metrics", headers=admin)[2].decode())
        self.assertEqual(value(s, "hfgate_config_reloads_total", result="success"), 1)
        self.assertEqual(value(s, "hfgate_config_reloads_total", result="failure"), 1)
        self.assertGreaterEqual(
            value(s, "hfgate_config_last_reload_success_timestamp_seconds"), loaded)


if __name__ == "__main__":
    unittest.main()
