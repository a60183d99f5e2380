# SPDX-License-Identifier: BSD-2-Clause
"""The network side of [server]: several listening addresses, TLS, the allow
list, the per-address connection cap, the request-head deadline (slowloris), the head
size caps, and the start-up warning for an open gateway without client keys.

127.0.0.1 and 127.0.0.2 are both loopback on Linux: a client picks its source address
with source_address, so one machine plays two clients."""

import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import time
import unittest

from harness import (HFGATE_BIN, FreshGatewayTestCase, Gateway, GatewayTestCase,
                     free_port, key_sha256, mkdtemp, render_config, wait_until)
from test_stream import RawStream, StreamMixin, data_events, is_final, parse_events, \
    stamp_of

LISTEN_LINE = re.compile(r"hfgate: listening on (https?)://(\S+):(\d+)")
OPEN_WARNING = "not a loopback address, with no [client] section"


def make_cert(directory):
    """A self-signed EC certificate for IP 127.0.0.1: (cert path, key path)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-keyout", key, "-out", cert, "-subj", "/CN=hfgate test",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    return cert, key


def tls_context(cert):
    """A client context that trusts cert only and checks the host name (the IP)."""
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def listening(gw, n):
    """[(scheme, host, port)] from the gateway's "listening on" lines, once n are
    there."""
    def get():
        found = [(s, h, int(p)) for s, h, p in LISTEN_LINE.findall(gw.log_text())]
        return found if len(found) >= n else None
    return wait_until(get, 10, interval=0.02, what="%d listening lines" % n)


def connection(port, source="127.0.0.1", tls=None, timeout=10):
    if tls is not None:
        return http.client.HTTPSConnection("127.0.0.1", port, context=tls,
                                           source_address=(source, 0), timeout=timeout)
    return http.client.HTTPConnection("127.0.0.1", port, source_address=(source, 0),
                                      timeout=timeout)


def ask(conn, method="GET", path="/healthz", body=None, headers=None):
    """One request on conn: (status, headers, body), or None when the server closed
    the connection without answering."""
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
            ssl.SSLEOFError):
        return None


def fetch(port, path="/healthz", source="127.0.0.1", tls=None):
    """A request on a new connection from source; None: closed without an answer."""
    conn = connection(port, source, tls)
    try:
        return ask(conn, path=path)
    finally:
        conn.close()


def served(result):
    return result is not None and result[0] == 200


class NetworkGatewayMixin:
    """One gateway per test, with its config; stopped and checked at cleanup."""

    def start_net_gateway(self, server, gateway_class=Gateway, extra=None):
        config = {"server": dict(server)}
        config.update(extra or {})
        return self.start_gateway(config, gateway_class=gateway_class)

    def reload(self, gw, **server):
        """Rewrites [server] keys (None: removed) and sends SIGHUP; returns once the
        reload is logged."""
        for k, v in server.items():
            if v is None:
                gw.sections["server"].pop(k, None)
            else:
                gw.sections["server"][k] = str(v)
        with open(gw.conf_path, "w") as f:
            f.write(render_config(gw.sections))
        before = gw.log_text().count("configuration reloaded")
        gw.signal(signal.SIGHUP)
        wait_until(lambda: gw.log_text().count("configuration reloaded") > before, 10,
                   interval=0.02, what="the reload")


@unittest.skipUnless(shutil.which("openssl"), "openssl(1) is needed to make a certificate")
class Tls(StreamMixin, GatewayTestCase):
    """A plain and a TLS listener at once; the client verifies the gateway's
    certificate (made for 127.0.0.1 by the test)."""

    @classmethod
    def setUpClass(cls):
        cls.certdir = mkdtemp("hfgate-tls-")
        cls.cert, cls.key = make_cert(cls.certdir)
        cls.CONFIG = {
            "server": {"listen": "127.0.0.1:0", "tls_listen": "127.0.0.1:0",
                       "tls_cert": cls.cert, "tls_key": cls.key, "workers": "2"},
            "stream": {"stall_timeout": "1", "buffer_bytes": "64k"},
        }
        super().setUpClass()
        lines = listening(cls.gw, 2)
        cls.tls_port = [p for s, _, p in lines if s == "https"][0]
        cls.plain_port = [p for s, _, p in lines if s == "http"][0]
        cls.tls = tls_context(cls.cert)

    def test_listening_lines(self):
        lines = listening(self.gw, 2)
        self.assertEqual(lines, [("http", "127.0.0.1", self.gw.port),
                                 ("https", "127.0.0.1", self.tls_port)])
        self.assertNotIn(OPEN_WARNING, self.gw.log_text())

    def test_healthz_over_tls_and_plain(self):
        for port, tls in ((self.tls_port, self.tls), (self.plain_port, None)):
            with self.subTest(tls=tls is not None):
                st, h, b = fetch(port, tls=tls)
                self.assertEqual(st, 200, b)
                self.assertEqual(json.loads(b).get("status"), "ok")
                self.assertTrue(h.get("x-request-id"))

    def test_certificate_is_the_configured_one(self):
        """A client trusting only the system CAs refuses the certificate, so the
        gateway presents ours; plain HTTP to the TLS port gets no HTTP answer."""
        with self.assertRaises(ssl.SSLCertVerificationError):
            fetch(self.tls_port, tls=ssl.create_default_context())
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
            self.assertFalse(data.startswith(b"HTTP/"), data)
        self.assertTrue(served(fetch(self.tls_port, tls=self.tls)))

    def test_inference_over_tls(self):
        conn = connection(self.tls_port, tls=self.tls)
        try:
            st, h, b = ask(conn, "POST", "/models/mock/text-classification",
                           b'{"inputs": "I like you"}',
                           {"Content-Type": "application/json"})
            self.assertEqual(st, 200, b[:300])
            self.assertIsInstance(json.loads(b), list)
            # Keep-alive over TLS: a second request on the same connection.
            st, _, b = ask(conn)
            self.assertEqual(st, 200, b)
        finally:
            conn.close()
        rec = self.last_upstream("/models/mock/text-classification")
        self.assertEqual(rec["headers"].get("authorization"), "Bearer " + self.secret)

    def test_stream_over_tls(self):
        """A text-generation stream over TLS arrives live (the connection is
        suspended and resumed per event), the first event long before the last was
        sent, and ends cleanly."""
        rs = RawStream(self.tls_port, "/models/fake/stream-5-300", tls=self.tls)
        try:
            rs.read_to_end(20)
        finally:
            rs.close()
        self.assertEqual(rs.status, 200, rs.head)
        self.assertEqual(rs.headers.get("content-type", "").split(";")[0],
                         "text/event-stream")
        self.assertTrue(rs.complete, "chunked body not terminated")
        events = parse_events(self, rs.body)
        datas = data_events(events)
        self.assertEqual(len(datas), 5)
        self.assertTrue(is_final(datas[-1]), datas[-1])
        stamps = [stamp_of(e) for e in events if e["data"] is not None]
        first = rs.time_of(rs.body.index(b"\n\n") + 2)
        self.assertLess(first, stamps[-1] - 0.6,
                        "first event received at %.3f, last sent at %.3f: buffered"
                        % (first, stamps[-1]))

    def test_client_gone_over_tls(self):
        """The hang-up watch (EPOLLRDHUP) works on a TLS connection: the upstream
        stream is cancelled soon after the client leaves."""
        path = "/models/fake/stream-20-200"
        rs = RawStream(self.tls_port, path, tls=self.tls)
        try:
            rs.read_until(lambda s: s.data_count() >= 2 and s.body.endswith(b"\n\n"),
                          10, "two events")
            self.assertEqual(rs.status, 200)
        finally:
            rs.close()
        t0 = time.monotonic()
        rec = self.wait_aborted(path, 3)
        self.assertLess(time.monotonic() - t0, 2.5)
        self.assertFalse(rec.get("completed"), rec)
        self.assertTrue(served(fetch(self.tls_port, tls=self.tls)))

    def test_stalled_reader_dropped_over_tls(self):
        """A TLS client that stops reading a fast stream is dropped after
        stall_timeout (http_drop shuts the socket down under GnuTLS)."""
        path = "/models/fake/stream-big-2000-8000"
        before = self.gw.log_text().count("dropping it")
        rs = RawStream(self.tls_port, path, tls=self.tls, rcvbuf=4096)
        try:
            rs.read_until(lambda s: s.head is not None, 10, "the response headers")
            self.assertEqual(rs.status, 200, rs.head)
            wait_until(lambda: self.gw.log_text().count("dropping it") > before, 15,
                       interval=0.05, what="the stalled client to be dropped")
            self.wait_aborted(path, 5)
        finally:
            rs.close()
        self.assertTrue(served(fetch(self.tls_port, tls=self.tls)))

    def test_reload_keeps_tls(self):
        """After SIGHUP frees the old configuration (and its PEM text), new TLS
        connections still complete their handshake."""
        before = self.gw.log_text().count("configuration reloaded")
        self.gw.signal(signal.SIGHUP)
        wait_until(lambda: self.gw.log_text().count("configuration reloaded") > before,
                   10, interval=0.02, what="the reload")
        for _ in range(4):
            self.assertTrue(served(fetch(self.tls_port, tls=self.tls)))


class Listeners(NetworkGatewayMixin, FreshGatewayTestCase):

    def test_two_plain_addresses(self):
        gw = self.start_net_gateway({"listen": "127.0.0.1:0 127.0.0.2:0",
                                     "workers": "2"})
        lines = listening(gw, 2)
        self.assertEqual([(s, h) for s, h, _ in lines],
                         [("http", "127.0.0.1"), ("http", "127.0.0.2")])
        self.assertEqual(lines[0][2], gw.port)
        for _, host, port in lines:
            with self.subTest(host=host):
                conn = http.client.HTTPConnection(host, port, timeout=10)
                try:
                    st, _, b = ask(conn)
                finally:
                    conn.close()
                self.assertEqual(st, 200, b)
        self.assertNotIn(OPEN_WARNING, gw.log_text())

    @unittest.skipUnless(shutil.which("openssl"), "openssl(1) is needed")
    def test_bad_key_fails_start_up(self):
        """A key that does not match the certificate: hfgate refuses to start and
        says why."""
        d = mkdtemp("hfgate-tls-")
        cert, _ = make_cert(d)
        _, other_key = make_cert(mkdtemp("hfgate-tls-"))
        gw = Gateway(self.fake, {"server": {"tls_listen": "127.0.0.1:0",
                                            "tls_cert": cert, "tls_key": other_key}})
        p = subprocess.run([HFGATE_BIN, "-c", gw.conf_path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env=gw.env(), timeout=30)
        err = p.stderr.decode("utf-8", "replace")
        self.assertNotEqual(p.returncode, 0, err)
        self.assertIn("cannot serve https://127.0.0.1:", err)
        self.assertIn("certificate or key was refused", err)
        self.assertIn("do not match", err)


class AnyAddressGateway(Gateway):
    LISTEN_RX = re.compile(r"hfgate: listening on http://0\.0\.0\.0:(\d+)")


class OpenWarning(NetworkGatewayMixin, FreshGatewayTestCase):

    def test_warns_without_clients_on_any_address(self):
        """0.0.0.0 without [client]: a warning at start-up (the test only ever
        connects to 127.0.0.1; allow keeps everyone else out meanwhile)."""
        gw = self.start_net_gateway({"listen": "0.0.0.0:0", "allow": "127.0.0.0/8"},
                                    AnyAddressGateway)
        self.assertTrue(served(fetch(gw.port)))
        text = gw.log_text()
        self.assertIn(OPEN_WARNING, text)
        self.assertIn("listening on 0.0.0.0, not a loopback address", text)


class AllowList(NetworkGatewayMixin, FreshGatewayTestCase):

    def assert_refused(self, port, source):
        self.assertIsNone(fetch(port, source=source),
                          "a client from %s outside allow was answered" % source)

    def test_allow_and_reload(self):
        gw = self.start_net_gateway({"allow": "127.0.0.2/32", "workers": "2"})
        # Several connections: the kernel spreads them over both loop threads.
        for _ in range(4):
            self.assertTrue(served(fetch(gw.port, source="127.0.0.2")))
            self.assert_refused(gw.port, "127.0.0.1")
        self.reload(gw, allow="127.0.0.1 ::1")

        def swapped():
            return all(served(fetch(gw.port, source="127.0.0.1")) and
                       fetch(gw.port, source="127.0.0.2") is None for _ in range(4))
        wait_until(swapped, 10, interval=0.05, what="the new allow list on every thread")
        for _ in range(4):
            self.assertTrue(served(fetch(gw.port, source="127.0.0.1")))
            self.assert_refused(gw.port, "127.0.0.2")
        # An empty allow list: everyone again.
        self.reload(gw, allow=None)
        wait_until(lambda: all(served(fetch(gw.port, source=s))
                               for s in ("127.0.0.2", "127.0.0.1") * 2), 10,
                   interval=0.05, what="no allow list")


class PerAddressCap(NetworkGatewayMixin, FreshGatewayTestCase):

    def hold(self, port, source="127.0.0.1"):
        """A keep-alive connection that has been served (so the gateway counts it)."""
        conn = connection(port, source)
        self.addCleanup(conn.close)
        r = ask(conn)
        return conn if served(r) else None

    def test_cap_across_threads(self):
        gw = self.start_net_gateway({"max_connections_per_ip": "3", "workers": "2"})
        held = [self.hold(gw.port) for _ in range(3)]
        self.assertNotIn(None, held)
        self.assertIsNone(fetch(gw.port), "a 4th connection from 127.0.0.1 was served")
        # Another address is not affected, and the held ones still work.
        self.assertTrue(served(fetch(gw.port, source="127.0.0.2")))
        self.assertTrue(served(ask(held[1])))
        # One closes: a new one is served (once the gateway has seen the close).
        held[0].close()
        wait_until(lambda: served(fetch(gw.port)), 10, interval=0.05,
                   what="a connection served after one closed")
        # The refused and the closed connections were all uncounted: back to 3
        # held, a 4th is refused again.
        held[0] = wait_until(lambda: self.hold(gw.port), 10, interval=0.05,
                             what="a third connection held again")
        self.assertIsNone(fetch(gw.port))
        for conn in held:
            self.assertTrue(served(ask(conn)))


class DefaultPerAddressCap(NetworkGatewayMixin, FreshGatewayTestCase):

    def test_default_cap_is_256(self):
        """Without max_connections_per_ip, one address holds 256 connections: the
        257th is closed at once, another address is served."""
        gw = self.start_net_gateway({"workers": "2"})
        held = []
        for _ in range(256):
            conn = connection(gw.port)
            self.addCleanup(conn.close)
            self.assertTrue(served(ask(conn)), "connection %d" % (len(held) + 1))
            held.append(conn)
        self.assertIsNone(fetch(gw.port), "a 257th connection from 127.0.0.1 was served")
        self.assertTrue(served(fetch(gw.port, source="127.0.0.2")))
        self.assertTrue(served(ask(held[-1])))


class Slowloris(NetworkGatewayMixin, FreshGatewayTestCase):

    def test_trickled_head_is_closed(self):
        """header_timeout = 1: a client sending a header line every 200 ms is closed
        within about a second while other clients are served meanwhile."""
        gw = self.start_net_gateway({"header_timeout": "1"})
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        self.addCleanup(s.close)
        t0 = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed_after = None
        others = 0
        while time.monotonic() - t0 < 8:
            r, _, _ = select.select([s], [], [], 0.2)
            if r:
                try:
                    data = s.recv(4096)
                except ConnectionResetError:
                    data = b""
                self.assertEqual(data, b"", "the slow client got an answer")
                closed_after = time.monotonic() - t0
                break
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - t0
                break
            self.assertTrue(served(fetch(gw.port)), "another client was not served")
            others += 1
        self.assertIsNotNone(closed_after, "the trickling client was never closed")
        self.assertGreaterEqual(closed_after, 0.9)
        self.assertLess(closed_after, 3.0)
        self.assertGreaterEqual(others, 3)
        wait_until(lambda: "closed 127.0.0.1: request head not received within 1 s"
                   in gw.log_text(), 5, interval=0.02, what="the log line")

    def test_idle_keep_alive_is_not_a_slow_head(self):
        """After a response the next head is due within connection_timeout +
        header_timeout: a keep-alive connection idle longer than header_timeout is
        still served."""
        gw = self.start_net_gateway({"header_timeout": "1", "connection_timeout": "5"})
        conn = connection(gw.port)
        self.addCleanup(conn.close)
        self.assertTrue(served(ask(conn)))
        time.sleep(1.6)		# the idle time under test
        self.assertTrue(served(ask(conn)), "an idle keep-alive connection was closed")
        self.assertNotIn("request head not received", gw.log_text())


class HeadCaps(GatewayTestCase):
    CONFIG = {"server": {"max_url_bytes": "1k", "max_header_bytes": "2k"}}

    def raw(self, path, pad):
        """GET path with exactly two headers: Host: h and X-Pad: pad."""
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=10)
        try:
            conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", "h")
            conn.putheader("X-Pad", pad)
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def test_url_cap(self):
        base = "/healthz?q="
        st, _, b = self.raw(base + "a" * (1024 - len(base)), "x")
        self.assertEqual(st, 200, b)
        st, h, b = self.raw(base + "a" * (1025 - len(base)), "x")
        obj = self.assert_json_error(st, h, b, 414, "uri_too_long")
        self.assertIn("1024", obj["error"])

    def test_header_cap(self):
        # Names and values: "Host" "h" "X-Pad" pad = 10 + len(pad) bytes.
        st, _, b = self.raw("/healthz", "p" * (2048 - 10))
        self.assertEqual(st, 200, b)
        st, h, b = self.raw("/healthz", "p" * (2049 - 10))
        obj = self.assert_json_error(st, h, b, 431, "header_too_large")
        self.assertIn("2048", obj["error"])


class LargeHeadCap(NetworkGatewayMixin, FreshGatewayTestCase):

    def test_memory_pool_fits_the_cap(self):
        """max_header_bytes = 32k: a 30 KB head reaches hfgate (MHD's pool is sized
        for it) and one over the cap gets hfgate's JSON 431, not MHD's own page."""
        gw = self.start_net_gateway({"max_header_bytes": "32k"})
        st, _, b = gw.request("GET", "/healthz", headers={"X-Pad": "p" * 30000})
        self.assertEqual(st, 200, b[:300])
        st, h, b = gw.request("GET", "/healthz", headers={"X-Pad": "p" * 33000})
        self.assertEqual(st, 431, b[:300])
        self.assertEqual(h.get("content-type"), "application/json")
        self.assertIn("32768", json.loads(b)["error"])


def listening_inodes(port):
    """Inodes of the TCP sockets listening on port (any address), from /proc/net/tcp."""
    out = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                out.add(int(cols[9]))
    return out


def socket_inodes(pid):
    """Inodes of the sockets process pid holds open."""
    out = set()
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            out.add(int(m.group(1)))
    return out


class SecondInstance(NetworkGatewayMixin, FreshGatewayTestCase):

    def test_second_gateway_on_the_same_port_exits(self):
        """A gateway with two loop threads has one listening socket per thread on its
        port; a second hfgate on that port, with two loop threads or one, exits with
        status 1 at start-up saying why, and the first one keeps every client."""
        port = free_port()
        listen = "127.0.0.1:%d" % port
        gw = self.start_net_gateway({"listen": listen, "workers": "2"})
        self.assertEqual(gw.port, port)
        mine = listening_inodes(port)
        self.assertEqual(len(mine), 2, "one listening socket per loop thread")
        self.assertTrue(mine <= socket_inodes(gw.proc.pid))
        for workers in ("2", "1"):
            with self.subTest(workers=workers):
                other = Gateway(self.fake, {"server": {"listen": listen,
                                                       "workers": workers}})
                proc = subprocess.Popen([HFGATE_BIN, "-c", other.conf_path],
                                        stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, env=other.env())
                try:
                    _, err = proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    _, err = proc.communicate()
                    self.fail("a second hfgate started on port %d: %s"
                              % (port, err.decode("utf-8", "replace")))
                err = err.decode("utf-8", "replace")
                self.assertEqual(proc.returncode, 1, err)
                self.assertIn("cannot listen on 127.0.0.1:%d" % port, err)
                self.assertIn("another process", err)
                self.assertNotIn("listening on", err)
        self.assertEqual(listening_inodes(port), mine)
        for _ in range(40):
            self.assertTrue(served(fetch(port)))


class TrustedProxies(NetworkGatewayMixin, FreshGatewayTestCase):
    """A reverse proxy on the gateway's host: 127.0.0.1 is the proxy, trusted; the
    addresses it forwards are the clients' (for allow, the per-address cap, the admin
    routes' loopback rule and the log). 127.0.0.2 is an untrusted client."""

    PROXY = {"trusted_proxies": "127.0.0.1/32", "workers": "2"}

    def ask_via(self, gw, headers, path="/healthz", source="127.0.0.1", method="GET",
                body=None):
        conn = connection(gw.port, source)
        try:
            return ask(conn, method, path, body, headers)
        finally:
            conn.close()

    def test_allow_list_reads_the_forwarded_address(self):
        gw = self.start_net_gateway(dict(self.PROXY,
                                         allow="10.0.0.0/8 127.0.0.2 2001:db8::/32"))
        cases = (
            ({"X-Forwarded-For": "10.1.2.3"}, 200),
            ({"X-Forwarded-For": "192.0.2.7"}, 403),
            # The proxy appends the address it saw: the rightmost one counts, what the
            # client wrote before it does not.
            ({"X-Forwarded-For": "192.0.2.7, 10.1.2.3"}, 200),
            ({"X-Forwarded-For": "10.1.2.3, 192.0.2.7"}, 403),
            # A trusted hop on the right is skipped.
            ({"X-Forwarded-For": "10.1.2.3, 127.0.0.1"}, 200),
            ({"Forwarded": 'for="[2001:db8::1]:4711";proto=http'}, 200),
            ({"Forwarded": "for=192.0.2.7"}, 403),
            # The proxy itself, without a forwarded address: not in allow.
            ({}, 403),
        )
        for headers, status in cases:
            with self.subTest(headers=headers):
                st, h, b = self.ask_via(gw, headers)
                self.assertEqual(st, status, b)
                if status == 403:
                    self.assertEqual(json.loads(b)["error_type"], "forbidden")
                    self.assertIn("x-request-id", h)
        # From an untrusted address the headers are ignored.
        st, _, b = self.ask_via(gw, {"X-Forwarded-For": "192.0.2.7"}, source="127.0.0.2")
        self.assertEqual(st, 200, b)
        self.assertIsNone(fetch(gw.port, source="127.0.0.3"))
        self.assertIsNone(self.ask_via(gw, {"X-Forwarded-For": "10.1.2.3"},
                                       source="127.0.0.3"))

    def test_log_names_the_forwarded_address(self):
        key = "k-" + os.urandom(6).hex()
        gw = self.start_net_gateway(self.PROXY, extra={
            "client a": {"key_sha256": key_sha256(key)}})
        st, _, _ = self.ask_via(gw, {"X-Forwarded-For": "198.51.100.4"},
                                path="/models/fake/echo", method="POST", body=b"{}")
        self.assertEqual(st, 401)
        st, _, _ = self.ask_via(gw, {"X-Forwarded-For": "198.51.100.5"},
                                path="/models/fake/echo", source="127.0.0.2",
                                method="POST", body=b"{}")
        self.assertEqual(st, 401)
        wait_until(lambda: "key) from 198.51.100.4" in gw.log_text() and
                   "key) from 127.0.0.2" in gw.log_text(), 5, interval=0.02,
                   what="the 401 lines")
        self.assertNotIn("198.51.100.5", gw.log_text())

    def test_proxy_is_not_held_to_the_per_address_cap(self):
        gw = self.start_net_gateway(dict(self.PROXY, max_connections_per_ip="2"))
        held = []
        for source in ("127.0.0.1",) * 4 + ("127.0.0.2",) * 2:
            conn = connection(gw.port, source)
            self.addCleanup(conn.close)
            self.assertTrue(served(ask(conn, headers={"X-Forwarded-For": "10.0.0.1"})),
                            source)
            held.append(conn)
        self.assertIsNone(fetch(gw.port, source="127.0.0.2"))
        self.assertTrue(served(fetch(gw.port, source="127.0.0.1")))

    def test_admin_loopback_rule_reads_the_forwarded_address(self):
        """No keys at all: the admin routes answer loopback clients, and a client
        behind the proxy is not one, whatever it writes in the header itself."""
        gw = self.start_net_gateway(self.PROXY)
        for headers, status in (({"X-Forwarded-For": "10.1.2.3"}, 403),
                                ({"X-Forwarded-For": "127.0.0.1, 10.1.2.3"}, 403),
                                ({"Forwarded": "for=10.1.2.3"}, 403),
                                ({}, 200)):
            with self.subTest(headers=headers):
                st, _, b = self.ask_via(gw, headers, path="/admin/usage")
                self.assertEqual(st, status, b)


if __name__ == "__main__":
    unittest.main()
