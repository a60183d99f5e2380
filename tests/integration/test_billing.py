# SPDX-License-Identifier: BSD-2-Clause
"""X-HF-Bill-To: forwarded as the client sent it, or set by the client's [client]
bill_to (a client billed to its organisation may not name another)."""

from harness import GatewayTestCase, key_sha256

JSON = {"Content-Type": "application/json"}
BODY = b'{"inputs": "I like you."}'
KEY_FREE, KEY_ORG = "key-free-4b1d", "key-org-9f3e"


class BillTo(GatewayTestCase):

    CONFIG = {
        "client free": {"key_sha256": key_sha256(KEY_FREE)},
        "client org": {"key_sha256": key_sha256(KEY_ORG), "bill_to": "acme-research"},
    }

    def call(self, key, bill_to=None):
        hdrs = {**JSON, "Authorization": "Bearer " + key}
        if bill_to is not None:
            hdrs["X-HF-Bill-To"] = bill_to
        self.fake.reset()
        st, _, b = self.gw.request("POST", "/models/mock/text-classification", BODY, hdrs)
        return st, b

    def sent(self):
        rec = self.last_upstream("/models/mock/text-classification")
        return rec["headers"].get("x-hf-bill-to")

    def test_client_header_forwarded(self):
        st, b = self.call(KEY_FREE, "my-org")
        self.assertEqual(st, 200, b)
        self.assertEqual(self.sent(), "my-org")

    def test_no_header_none_sent(self):
        st, b = self.call(KEY_FREE)
        self.assertEqual(st, 200, b)
        self.assertIsNone(self.sent())

    def test_bill_to_set_for_the_client(self):
        st, b = self.call(KEY_ORG)
        self.assertEqual(st, 200, b)
        self.assertEqual(self.sent(), "acme-research")
        st, b = self.call(KEY_ORG, "acme-research")
        self.assertEqual(st, 200, b)
        self.assertEqual(self.sent(), "acme-research")

    def test_other_organisation_refused(self):
        st, b = self.call(KEY_ORG, "someone-else")
        self.assertEqual(st, 403, b)
        self.assertIn(b"acme-research", b)
        self.assertEqual(self.fake.count("/models/mock/text-classification"), 0)
