/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Client addresses: the allow list, the trusted proxies and the client address they
 * forward, and the count of open connections per address. The count is one table for
 * all loop threads (a mutex): libmicrohttpd's own per-IP limit is per daemon, that is
 * per thread and per listening address, so it could not enforce the configured total.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "config.h"
#include "peer.h"

#define PEER_BUCKETS	4096	/* power of 2 */

struct peer_count {
	struct peer_count	*next;
	struct peer_addr	 a;
	unsigned		 n;
};

static pthread_mutex_t		 peer_mu = PTHREAD_MUTEX_INITIALIZER;
static struct peer_count	*peer_table[PEER_BUCKETS];
static uint32_t			 peer_seed;
static int			 peer_seeded;

int
peer_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct peer_addr *a)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(a, 0, sizeof(*a));
	if (sa == NULL)
		return (-1);
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(*sin)) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		a->family = AF_INET;
		memcpy(a->addr, &sin->sin_addr, 4);
		return (0);
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(*sin6)) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			a->family = AF_INET;
			memcpy(a->addr, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			a->family = AF_INET6;
			memcpy(a->addr, sin6->sin6_addr.s6_addr, 16);
		}
		return (0);
	}
	return (-1);
}

int
peer_loopback(const struct peer_addr *a)
{
	static const uint8_t	v6_loopback[16] = { [15] = 1 };

	if (a->family == AF_INET)
		return (a->addr[0] == 127);
	return (a->family == AF_INET6 && memcmp(a->addr, v6_loopback, 16) == 0);
}

void
peer_format(const struct peer_addr *a, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (inet_ntop(a->family, a->addr, buf, (socklen_t)len) == NULL)
		buf[0] = '\0';
}

static int
peer_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned	bytes = prefix / 8, bits = prefix % 8;
	uint8_t		mask;

	if (memcmp(a, net, bytes) != 0)
		return (0);
	if (bits == 0)
		return (1);
	mask = (uint8_t)(0xff << (8 - bits));
	return ((a[bytes] & mask) == (net[bytes] & mask));
}

int
peer_in_cidr(const struct peer_addr *a, const struct cfg_cidr *net)
{
	static const uint8_t	mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (a->family == net->family)
		return (net->prefix <= (a->family == AF_INET ? 32U : 128U) &&
		    peer_match(a->addr, net->addr, net->prefix));
	/* Clients in ::ffff:0:0/96 are kept as IPv4: match them against such a net. */
	if (a->family == AF_INET && net->family == AF_INET6 && net->prefix >= 96 &&
	    net->prefix <= 128 && memcmp(net->addr, mapped, sizeof(mapped)) == 0)
		return (peer_match(a->addr, net->addr + 12, net->prefix - 96));
	return (0);
}

int
peer_allowed(const struct config *cfg, const struct peer_addr *a)
{
	size_t	i;

	if (cfg->nallow == 0)
		return (1);
	for (i = 0; i < cfg->nallow; i++)
		if (peer_in_cidr(a, &cfg->allow[i]))
			return (1);
	return (0);
}

int
peer_trusted(const struct config *cfg, const struct peer_addr *a)
{
	size_t	i;

	for (i = 0; i < cfg->nproxies; i++)
		if (peer_in_cidr(a, &cfg->proxies[i]))
			return (1);
	return (0);
}

/*
 * One forwarded address, len bytes of s: "192.0.2.1", "2001:db8::1", and with a port
 * "192.0.2.1:80" or "[2001:db8::1]:80" (as some proxies write them, and as Forwarded
 * does). 0, or -1 when it is not an address.
 */
static int
peer_parse(const char *s, size_t len, struct peer_addr *a)
{
	char		 text[64];
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	const char	*end, *colon;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len > 0 && *s == '[') {
		if ((end = memchr(s, ']', len)) == NULL)
			return (-1);
		s++;
		len = (size_t)(end - s);
	} else if ((colon = memchr(s, ':', len)) != NULL &&
	    memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL)
		len = (size_t)(colon - s);	/* IPv4 with a port */
	if (len == 0 || len >= sizeof(text))
		return (-1);
	memcpy(text, s, len);
	text[len] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, text, a->addr) == 1) {
		a->family = AF_INET;
		return (0);
	}
	if (inet_pton(AF_INET6, text, a->addr) != 1)
		return (-1);
	a->family = AF_INET6;
	/* As peer_from_sockaddr: an IPv4-mapped address is the IPv4 one. */
	if (memcmp(a->addr, mapped, sizeof(mapped)) == 0) {
		a->family = AF_INET;
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
	}
	return (0);
}

/* The entries of the forwarded headers, oldest dropped past PEER_FWD_MAX. */
struct peer_hops {
	struct peer_addr	 a[PEER_FWD_MAX];
	int			 ok[PEER_FWD_MAX];
	size_t			 n;
};

static void
peer_hop(struct peer_hops *h, const char *s, size_t len)
{
	if (h->n == PEER_FWD_MAX) {
		memmove(h->a, h->a + 1, sizeof(h->a[0]) * (PEER_FWD_MAX - 1));
		memmove(h->ok, h->ok + 1, sizeof(h->ok[0]) * (PEER_FWD_MAX - 1));
		h->n--;
	}
	h->ok[h->n] = s != NULL && peer_parse(s, len, &h->a[h->n]) == 0;
	h->n++;
}

/* The end of the Forwarded element or parameter at s (',' or ';' outside quotes). */
static const char *
peer_fwd_end(const char *s, const char *stops)
{
	int	quoted = 0;

	for (; *s != '\0'; s++) {
		if (quoted && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (!quoted && strchr(stops, *s) != NULL)
			break;
	}
	return (s);
}

/* One element of Forwarded (RFC 7239), [s, end): its for= value, or none. */
static void
peer_fwd_element(struct peer_hops *h, const char *s, const char *end)
{
	const char	*p, *v, *pend;
	size_t		 vlen;

	for (p = s; p < end; p = pend + 1) {
		pend = peer_fwd_end(p, ";,");
		if (pend > end)
			pend = end;
		while (p < pend && (*p == ' ' || *p == '\t'))
			p++;
		if (pend - p < 4 || strncasecmp(p, "for", 3) != 0)
			continue;
		for (v = p + 3; v < pend && (*v == ' ' || *v == '\t'); v++)
			;
		if (v == pend || *v != '=')
			continue;
		for (v++; v < pend && (*v == ' ' || *v == '\t'); v++)
			;
		vlen = (size_t)(pend - v);
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		peer_hop(h, v, vlen);
		return;
	}
	peer_hop(h, NULL, 0);		/* a hop that does not say */
}

void
peer_forwarded(const struct config *cfg, const char *const *lines, size_t n,
    int forwarded, struct peer_addr *client)
{
	struct peer_hops	 h;
	const char		*s, *end;
	size_t			 i;

	h.n = 0;
	for (i = 0; i < n; i++) {
		for (s = lines[i]; *s != '\0'; s = *end != '\0' ? end + 1 : end) {
			end = forwarded ? peer_fwd_end(s, ",") : s + strcspn(s, ",");
			if (forwarded)
				peer_fwd_element(&h, s, end);
			else
				peer_hop(&h, s, (size_t)(end - s));
		}
	}
	for (i = h.n; i > 0; i--) {
		if (!h.ok[i - 1])
			break;
		*client = h.a[i - 1];
		if (!peer_trusted(cfg, client))
			break;
	}
}

/*
 * Caller holds peer_mu. FNV-1a with a per-process seed, so that a client choosing its
 * addresses (an IPv6 prefix) cannot aim them all at one bucket on purpose.
 */
static size_t
peer_bucket(const struct peer_addr *a)
{
	uint32_t	h;
	size_t		i, n = a->family == AF_INET ? 4 : 16;

	if (!peer_seeded) {
		if (getrandom(&peer_seed, sizeof(peer_seed), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(peer_seed))
			peer_seed = 0;
		peer_seeded = 1;
	}
	h = 2166136261u ^ peer_seed;
	h = (h ^ (uint32_t)a->family) * 16777619u;
	for (i = 0; i < n; i++)
		h = (h ^ a->addr[i]) * 16777619u;
	return (h & (PEER_BUCKETS - 1));
}

static int
peer_same(const struct peer_addr *x, const struct peer_addr *y)
{
	return (x->family == y->family && memcmp(x->addr, y->addr,
	    x->family == AF_INET ? 4 : 16) == 0);
}

unsigned
peer_acquire(const struct peer_addr *a)
{
	struct peer_count	*p;
	size_t			 b;
	unsigned		 n = 0;

	pthread_mutex_lock(&peer_mu);
	b = peer_bucket(a);
	for (p = peer_table[b]; p != NULL && !peer_same(&p->a, a); p = p->next)
		;
	if (p == NULL && (p = calloc(1, sizeof(*p))) != NULL) {
		p->a = *a;
		p->next = peer_table[b];
		peer_table[b] = p;
	}
	if (p != NULL)
		n = ++p->n;
	pthread_mutex_unlock(&peer_mu);
	return (n);
}

void
peer_release(const struct peer_addr *a)
{
	struct peer_count	*p, **pp;

	pthread_mutex_lock(&peer_mu);
	for (pp = &peer_table[peer_bucket(a)]; (p = *pp) != NULL; pp = &p->next) {
		if (!peer_same(&p->a, a))
			continue;
		if (--p->n == 0) {
			*pp = p->next;
			free(p);
		}
		break;
	}
	pthread_mutex_unlock(&peer_mu);
}

unsigned
peer_open(const struct peer_addr *a)
{
	struct peer_count	*p;
	unsigned		 n = 0;

	pthread_mutex_lock(&peer_mu);
	for (p = peer_table[peer_bucket(a)]; p != NULL; p = p->next)
		if (peer_same(&p->a, a)) {
			n = p->n;
			break;
		}
	pthread_mutex_unlock(&peer_mu);
	return (n);
}
