# SPDX-License-Identifier: BSD-2-Clause
"""Upstream URLs ([upstream] url and hub_url, an [endpoint]'s url, --upstream) are read
by libcurl's URL parser at start-up: a bad one stops hfgate with status 2, and a
password in one is never repeated."""

import json
import re
import unittest

import harness
from harness import Gateway
from test_cli import run

SECRET = "pw-SECRET-4711"
BAD = (("http://[::1", "not a valid URL: Bad IPv6 address"),
       ("http://127.0.0.1:99999", "not a valid URL: Port number was not a decimal number "
        "between 0 and 65535"),
       ("http://user:%s@127.0.0.1:8080" % SECRET,
        "the URL must not hold a user name or password"),
       ("http://user@127.0.0.1:8080", "the URL must not hold a user name or password"),
       ("http://127.0.0.1:8080/?a=b", "the URL must not have a query or a fragment"),
       ("ftp://127.0.0.1", "the URL must start with http:// or https://"))


class UpstreamUrls(unittest.TestCase):

    def setUp(self):
        # A gateway object only for a config and a token file; never started.
        self.gw = Gateway(None)

    def write_conf(self, secs):
        with open(self.gw.conf_path, "w") as f:
            f.write(harness.render_config(secs))
        return self.gw.conf_path

    def assert_refused(self, args, want, where):
        for extra in (["--check-config"], []):
            with self.subTest(where=where, args=extra):
                code, out, err = run(args + extra)
                self.assertEqual(code, 2, err)
                self.assertIn(want, err)
                self.assertRegex(err, where)
                self.assertNotIn(SECRET, out + err)

    def test_upstream_flag(self):
        for url, want in BAD:
            self.assert_refused(["-c", self.gw.conf_path, "--upstream", url], want,
                                r"hfgate: --upstream: ")

    def test_config_keys(self):
        for section, key in (("upstream", "url"), ("upstream", "hub_url"),
                             ("endpoint e", "url")):
            for url, want in BAD:
                secs = json.loads(json.dumps(self.gw.sections))
                secs.setdefault(section, {})[key] = url
                if section.startswith("endpoint"):
                    secs[section]["models"] = "acme/m"
                path = self.write_conf(secs)
                self.assert_refused(["-c", path], want,
                                    re.escape(path) + r":\d+: %s: " % key)

    def test_good_urls_accepted(self):
        for url in ("http://127.0.0.1:8080/", "http://[::1]:8080/prefix",
                    "https://api-inference.huggingface.co"):
            with self.subTest(url=url):
                code, _, err = run(["-c", self.gw.conf_path, "--upstream", url,
                                    "--check-config"])
                self.assertEqual(code, 0, err)


if __name__ == "__main__":
    unittest.main()
