/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for peer.c: client addresses, the allow list, per-address counts. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>

#include "check_main.h"
#include "config.h"
#include "peer.h"

static struct peer_addr
v4(const char *s)
{
	struct sockaddr_in	sin;
	struct peer_addr	a;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, s, &sin.sin_addr), 1);
	ck_assert_int_eq(peer_from_sockaddr((struct sockaddr *)&sin, sizeof(sin), &a), 0);
	return (a);
}

static struct peer_addr
v6(const char *s)
{
	struct sockaddr_in6	sin6;
	struct peer_addr	a;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, s, &sin6.sin6_addr), 1);
	ck_assert_int_eq(peer_from_sockaddr((struct sockaddr *)&sin6, sizeof(sin6), &a),
	    0);
	return (a);
}

/* A network as config.c stores it: host bits cleared. */
static struct cfg_cidr
net(const char *s, unsigned prefix)
{
	struct cfg_cidr	n;
	unsigned	i, max;

	memset(&n, 0, sizeof(n));
	n.family = strchr(s, ':') != NULL ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(n.family, s, n.addr), 1);
	n.prefix = prefix;
	max = n.family == AF_INET ? 32 : 128;
	for (i = prefix; i < max; i++)
		n.addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return (n);
}

static int
in(struct peer_addr a, const char *s, unsigned prefix)
{
	struct cfg_cidr	n = net(s, prefix);

	return (peer_in_cidr(&a, &n));
}

START_TEST(test_from_sockaddr)
{
	struct peer_addr	a;
	struct sockaddr_un_like {
		sa_family_t	family;
		char		path[20];
	} other = { AF_UNIX, "x" };
	char			buf[PEER_NAME_MAX];

	a = v4("192.0.2.7");
	ck_assert_int_eq(a.family, AF_INET);
	peer_format(&a, buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.7");

	a = v6("2001:db8::1");
	ck_assert_int_eq(a.family, AF_INET6);
	peer_format(&a, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::1");

	/* An IPv4 client of an IPv6 socket is the IPv4 address. */
	a = v6("::ffff:192.0.2.7");
	ck_assert_int_eq(a.family, AF_INET);
	peer_format(&a, buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.7");

	ck_assert_int_eq(peer_from_sockaddr((struct sockaddr *)&other, sizeof(other), &a),
	    -1);
	ck_assert_int_eq(peer_from_sockaddr(NULL, 0, &a), -1);
	/* Too short for its family. */
	{
		struct sockaddr_in sin = { .sin_family = AF_INET };

		ck_assert_int_eq(peer_from_sockaddr((struct sockaddr *)&sin, 4, &a), -1);
	}
}
END_TEST

START_TEST(test_loopback)
{
	struct peer_addr	a;

	a = v4("127.0.0.1");
	ck_assert_int_eq(peer_loopback(&a), 1);
	a = v4("127.3.2.1");
	ck_assert_int_eq(peer_loopback(&a), 1);
	a = v6("::1");
	ck_assert_int_eq(peer_loopback(&a), 1);
	a = v6("::ffff:127.0.0.1");		/* v4-mapped */
	ck_assert_int_eq(peer_loopback(&a), 1);
	a = v4("10.0.0.1");
	ck_assert_int_eq(peer_loopback(&a), 0);
	a = v4("128.0.0.1");
	ck_assert_int_eq(peer_loopback(&a), 0);
	a = v6("::2");
	ck_assert_int_eq(peer_loopback(&a), 0);
	a = v6("fe80::1");
	ck_assert_int_eq(peer_loopback(&a), 0);
}
END_TEST

START_TEST(test_cidr_v4)
{
	ck_assert(in(v4("10.1.2.3"), "10.0.0.0", 8));
	ck_assert(!in(v4("11.1.2.3"), "10.0.0.0", 8));
	ck_assert(in(v4("192.168.1.200"), "192.168.1.0", 24));
	ck_assert(!in(v4("192.168.2.1"), "192.168.1.0", 24));
	/* A prefix that is not a whole number of bytes. */
	ck_assert(in(v4("172.31.255.255"), "172.16.0.0", 12));
	ck_assert(!in(v4("172.32.0.0"), "172.16.0.0", 12));
	ck_assert(!in(v4("172.15.255.255"), "172.16.0.0", 12));
	ck_assert(in(v4("127.0.0.2"), "127.0.0.2", 32));
	ck_assert(!in(v4("127.0.0.1"), "127.0.0.2", 32));
	ck_assert(in(v4("8.8.8.8"), "0.0.0.0", 0));
	/* Host bits in the configured address do not matter (config.c clears them). */
	ck_assert(in(v4("192.168.1.9"), "192.168.1.77", 24));
}
END_TEST

START_TEST(test_cidr_v6_and_mapped)
{
	ck_assert(in(v6("2001:db8:0:1::5"), "2001:db8::", 32));
	ck_assert(!in(v6("2001:db9::5"), "2001:db8::", 32));
	ck_assert(in(v6("fe80::1"), "fe80::", 10));
	ck_assert(!in(v6("fec0::1"), "fe80::", 10));
	ck_assert(in(v6("::1"), "::1", 128));
	ck_assert(in(v6("2001:db8::1"), "::", 0));
	/* Families do not mix: ::/0 is every IPv6 client, not the IPv4 ones. */
	ck_assert(!in(v4("10.0.0.1"), "::", 0));
	ck_assert(!in(v6("2001:db8::1"), "0.0.0.0", 0));
	/* A v4-mapped client matches IPv4 networks, and v4-mapped IPv6 ones. */
	ck_assert(in(v6("::ffff:10.9.8.7"), "10.0.0.0", 8));
	ck_assert(!in(v6("::ffff:11.9.8.7"), "10.0.0.0", 8));
	ck_assert(in(v6("::ffff:10.9.8.7"), "::ffff:10.0.0.0", 104));
	ck_assert(!in(v6("::ffff:11.9.8.7"), "::ffff:10.0.0.0", 104));
	ck_assert(in(v4("10.9.8.7"), "::ffff:0.0.0.0", 96));
	ck_assert(!in(v4("10.9.8.7"), "::", 64));
}
END_TEST

START_TEST(test_allowed)
{
	struct config		c;
	struct cfg_cidr		nets[2];
	struct peer_addr	a;

	memset(&c, 0, sizeof(c));
	a = v4("192.0.2.1");
	ck_assert(peer_allowed(&c, &a));	/* no list: everyone */
	nets[0] = net("10.0.0.0", 8);
	nets[1] = net("2001:db8::", 48);
	c.allow = nets;
	c.nallow = 2;
	ck_assert(!peer_allowed(&c, &a));
	a = v4("10.20.30.40");
	ck_assert(peer_allowed(&c, &a));
	a = v6("2001:db8:0:ffff::1");
	ck_assert(peer_allowed(&c, &a));
	a = v6("2001:db8:1::1");
	ck_assert(!peer_allowed(&c, &a));
	a = v6("::ffff:10.0.0.1");
	ck_assert(peer_allowed(&c, &a));
}
END_TEST

START_TEST(test_counts)
{
	struct peer_addr	a = v4("198.51.100.1"), b = v6("::ffff:198.51.100.1");
	struct peer_addr	c = v4("198.51.100.2"), d = v6("2001:db8::2");

	ck_assert_uint_eq(peer_open(&a), 0);
	ck_assert_uint_eq(peer_acquire(&a), 1);
	/* The same client over IPv4 and through an IPv6 socket. */
	ck_assert_uint_eq(peer_acquire(&b), 2);
	ck_assert_uint_eq(peer_acquire(&c), 1);
	ck_assert_uint_eq(peer_acquire(&d), 1);
	ck_assert_uint_eq(peer_open(&a), 2);
	peer_release(&a);
	ck_assert_uint_eq(peer_open(&a), 1);
	peer_release(&b);
	ck_assert_uint_eq(peer_open(&a), 0);
	/* An address not counted: nothing goes below zero. */
	peer_release(&a);
	ck_assert_uint_eq(peer_open(&a), 0);
	ck_assert_uint_eq(peer_acquire(&a), 1);
	ck_assert_uint_eq(peer_open(&c), 1);
	ck_assert_uint_eq(peer_open(&d), 1);
	peer_release(&a);
	peer_release(&c);
	peer_release(&d);
	ck_assert_uint_eq(peer_open(&c), 0);
	ck_assert_uint_eq(peer_open(&d), 0);
}
END_TEST

#define NTHREADS	4
#define NROUNDS		20000

static void *
churn(void *arg)
{
	struct peer_addr	*addrs = arg;
	int			 i;

	for (i = 0; i < NROUNDS; i++) {
		ck_assert_uint_gt(peer_acquire(&addrs[i % 3]), 0);
		peer_release(&addrs[(i + 0) % 3]);
		(void)peer_acquire(&addrs[i % 2]);
	}
	return (NULL);
}

START_TEST(test_threads)
{
	struct peer_addr	addrs[3] = { v4("203.0.113.1"), v4("203.0.113.2"),
				    v6("2001:db8::3") };
	pthread_t		t[NTHREADS];
	unsigned		i;

	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn, addrs), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	/* Each thread leaves NROUNDS/2 on each of the first two, none on the third. */
	ck_assert_uint_eq(peer_open(&addrs[0]), NTHREADS * NROUNDS / 2);
	ck_assert_uint_eq(peer_open(&addrs[1]), NTHREADS * NROUNDS / 2);
	ck_assert_uint_eq(peer_open(&addrs[2]), 0);
	for (i = 0; i < NTHREADS * NROUNDS / 2; i++) {
		peer_release(&addrs[0]);
		peer_release(&addrs[1]);
	}
	ck_assert_uint_eq(peer_open(&addrs[0]), 0);
	ck_assert_uint_eq(peer_open(&addrs[1]), 0);
}
END_TEST

/* The client peer_forwarded finds behind proxy 127.0.0.1 (trusted, with 10.0.0.0/8). */
static const char *
forwarded(int fwd, const char *l1, const char *l2)
{
	static char		 buf[PEER_NAME_MAX];
	struct cfg_cidr		 nets[2];
	struct config		 c;
	struct peer_addr	 a = v4("127.0.0.1");
	const char		*lines[2] = { l1, l2 };

	memset(&c, 0, sizeof(c));
	nets[0] = net("127.0.0.1", 32);
	nets[1] = net("10.0.0.0", 8);
	c.proxies = nets;
	c.nproxies = 2;
	peer_forwarded(&c, lines, l2 != NULL ? 2 : 1, fwd, &a);
	peer_format(&a, buf, sizeof(buf));
	return (buf);
}

START_TEST(test_forwarded)
{
	struct config	c;
	struct cfg_cidr	n = net("192.168.0.0", 16);
	char		many[2048];
	size_t		i;

	memset(&c, 0, sizeof(c));
	c.proxies = &n;
	c.nproxies = 1;
	ck_assert_int_eq(peer_trusted(&c, &(struct peer_addr){ 0 }), 0);
	{
		struct peer_addr a = v4("192.168.3.4"), b = v4("192.169.0.1");

		ck_assert_int_eq(peer_trusted(&c, &a), 1);
		ck_assert_int_eq(peer_trusted(&c, &b), 0);
	}
	/* X-Forwarded-For: the rightmost address that is not a trusted proxy. */
	ck_assert_str_eq(forwarded(0, "192.0.2.1", NULL), "192.0.2.1");
	ck_assert_str_eq(forwarded(0, "192.0.2.1, 198.51.100.2", NULL), "198.51.100.2");
	ck_assert_str_eq(forwarded(0, "192.0.2.1,10.1.1.1 , 127.0.0.1", NULL), "192.0.2.1");
	ck_assert_str_eq(forwarded(0, "192.0.2.1", "198.51.100.2"), "198.51.100.2");
	ck_assert_str_eq(forwarded(0, "2001:db8::7", NULL), "2001:db8::7");
	ck_assert_str_eq(forwarded(0, "[2001:db8::7]:443", NULL), "2001:db8::7");
	ck_assert_str_eq(forwarded(0, "192.0.2.1:5555", NULL), "192.0.2.1");
	ck_assert_str_eq(forwarded(0, "::ffff:192.0.2.9", NULL), "192.0.2.9");
	/* Every hop trusted: the leftmost one. Not an address: the walk stops there. */
	ck_assert_str_eq(forwarded(0, "10.0.0.5, 10.0.0.6", NULL), "10.0.0.5");
	ck_assert_str_eq(forwarded(0, "192.0.2.1, unknown, 10.0.0.6", NULL), "10.0.0.6");
	ck_assert_str_eq(forwarded(0, "192.0.2.1, 10.0.0.6, ", NULL), "127.0.0.1");
	ck_assert_str_eq(forwarded(0, "unknown", NULL), "127.0.0.1");
	ck_assert_str_eq(forwarded(0, "", NULL), "127.0.0.1");
	ck_assert_str_eq(forwarded(0, "1.2.3.4.5", NULL), "127.0.0.1");
	/* Forwarded: the for= parameters of its elements. */
	ck_assert_str_eq(forwarded(1, "for=192.0.2.60;proto=http;by=203.0.113.43", NULL),
	    "192.0.2.60");
	ck_assert_str_eq(forwarded(1, "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\"",
	    NULL), "2001:db8:cafe::17");
	ck_assert_str_eq(forwarded(1, "proto=https;For = \"192.0.2.8\"", "for=10.2.2.2"),
	    "192.0.2.8");
	ck_assert_str_eq(forwarded(1, "for=192.0.2.8, for=_hidden", NULL), "127.0.0.1");
	ck_assert_str_eq(forwarded(1, "for=192.0.2.8, proto=https", NULL), "127.0.0.1");
	ck_assert_str_eq(forwarded(1, "for=\"a,b\";by=x, for=192.0.2.3", NULL), "192.0.2.3");
	/* Only the last PEER_FWD_MAX entries are read. */
	many[0] = '\0';
	for (i = 0; i < 100; i++)
		strcat(many, i == 0 ? "192.0.2.1" : ", 10.0.0.1");
	ck_assert_str_eq(forwarded(0, many, NULL), "10.0.0.1");
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("peer");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_from_sockaddr);
	tcase_add_test(tc, test_loopback);
	tcase_add_test(tc, test_cidr_v4);
	tcase_add_test(tc, test_cidr_v6_and_mapped);
	tcase_add_test(tc, test_allowed);
	tcase_add_test(tc, test_forwarded);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return (s);
}
