/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * peer.c: client addresses, for the network limits of [server]: the allow list, the
 * trusted proxies and the address they forward, and the count of open connections per
 * address, shared by all loop threads.
 */
#ifndef HFGATE_PEER_H
#define HFGATE_PEER_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "config.h"

#define PEER_NAME_MAX	46	/* INET6_ADDRSTRLEN */

/* A client's address; an IPv4-mapped IPv6 address is kept as the IPv4 one. */
struct peer_addr {
	int	 family;		/* AF_INET or AF_INET6 */
	uint8_t	 addr[16];		/* network byte order; IPv4 in the first 4 */
};

/* Fills a from sa. Returns 0, or -1 when sa is neither IPv4 nor IPv6. */
int	 peer_from_sockaddr(const struct sockaddr *sa, socklen_t len,
	    struct peer_addr *a);
/* The address as text ("192.0.2.1", "2001:db8::1"). */
void	 peer_format(const struct peer_addr *a, char *buf, size_t len);
/* 1 when a is a loopback address (127/8, ::1). */
int	 peer_loopback(const struct peer_addr *a);
/* 1 when net contains a. */
int	 peer_in_cidr(const struct peer_addr *a, const struct cfg_cidr *net);
/* 1 when cfg's allow list admits a (an empty list admits every address). */
int	 peer_allowed(const struct config *cfg, const struct peer_addr *a);
/* 1 when a is one of cfg's trusted_proxies. */
int	 peer_trusted(const struct config *cfg, const struct peer_addr *a);
/*
 * The client behind a trusted proxy, from the values of the request's X-Forwarded-For
 * header lines in their order (forwarded 0), or of its Forwarded lines (forwarded 1,
 * their for= parameters). *client holds the proxy's address and receives the client's:
 * walking the entries from the right, the first address that is not a trusted proxy;
 * an entry that is not an address (unknown, an obfuscated name, garbage) ends the walk
 * and the last address walked is the client. Only the last PEER_FWD_MAX entries count.
 */
#define PEER_FWD_MAX	32
void	 peer_forwarded(const struct config *cfg, const char *const *lines, size_t n,
	    int forwarded, struct peer_addr *client);
/*
 * Counts one more open connection from a. Returns how many are now open from it, the
 * new one included, or 0 when out of memory (then nothing was counted: do not
 * peer_release it).
 */
unsigned peer_acquire(const struct peer_addr *a);
/* Counts one connection from a closed (one peer_acquire that returned > 0). */
void	 peer_release(const struct peer_addr *a);
/* Connections counted as open from a. */
unsigned peer_open(const struct peer_addr *a);

#endif
