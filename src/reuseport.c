/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Does a port bound with SO_REUSEPORT belong to this process alone? Linux lets any
 * socket of the same user that also sets SO_REUSEPORT bind a port already bound that
 * way, and then spreads the connections over all of them: a second hfgate on the port
 * would start silently and take part of the first one's clients. Nothing in the socket
 * API tells a process that it has company, so the listening sockets of the port are
 * read from /proc/self/net/tcp (or tcp6) and their inodes compared with the sockets this
 * process holds (/proc/self/fd).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reuseport.h"

#define REUSEPORT_LISTEN	0x0A	/* TCP_LISTEN in /proc/net/tcp's "st" column */

/* 1 when this process holds a socket whose inode is ino. */
static int
reuseport_mine(unsigned long ino)
{
	char		 target[64], want[40];
	struct dirent	*de;
	DIR		*d;
	ssize_t		 n;
	int		 found = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (0);
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	while (!found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = '\0';
		found = strcmp(target, want) == 0;
	}
	closedir(d);
	return (found);
}

/*
 * The address of a /proc/net/tcp line: hex words of the address as the kernel keeps it
 * (network byte order) printed as native integers, so copying each word back restores
 * the bytes. 0, or -1 on a malformed line.
 */
static int
reuseport_addr(const char *hex, size_t words, uint8_t *out)
{
	char		 w[9];
	uint32_t	 v;
	size_t		 i;

	for (i = 0; i < words; i++) {
		memcpy(w, hex + 8 * i, 8);
		w[8] = '\0';
		if (strspn(w, "0123456789abcdefABCDEF") != 8)
			return (-1);
		v = (uint32_t)strtoul(w, NULL, 16);
		memcpy(out + 4 * i, &v, 4);
	}
	return (0);
}

static int
reuseport_any(const uint8_t *a, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (a[i] != 0)
			return (0);
	return (1);
}

int
reuseport_shared(int fd, char *err, size_t errlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	struct stat		 st;
	uint8_t			 mine[16], addr[16];
	char			 line[512], local[64];
	unsigned long		 ino;
	unsigned		 port, state, lport;
	size_t			 alen;
	FILE			*f;
	int			 shared = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 || fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return (-1);
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(void *)&ss;

		alen = 16;
		memcpy(mine, &s6->sin6_addr, 16);
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(void *)&ss;

		alen = 4;
		memcpy(mine, &s4->sin_addr, 4);
		port = ntohs(s4->sin_port);
	}
	/* /proc/self/net, not /proc/net: the unit's ProcSubset=pid hides the latter. */
	if ((f = fopen(alen == 16 ? "/proc/self/net/tcp6" : "/proc/self/net/tcp", "r")) ==
	    NULL) {
		snprintf(err, errlen, "/proc/self/net/tcp%s: %s", alen == 16 ? "6" : "",
		    strerror(errno));
		return (-1);
	}
	/* "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode" */
	while (!shared && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, " %*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &state,
		    &ino) != 3 || state != REUSEPORT_LISTEN ||
		    strlen(local) != alen * 2 + 5 || local[alen * 2] != ':')
			continue;
		lport = (unsigned)strtoul(local + alen * 2 + 1, NULL, 16);
		if (lport != port || reuseport_addr(local, alen / 4, addr) == -1 ||
		    ino == (unsigned long)st.st_ino)
			continue;
		/* The kernel shares a wildcard's port with every address of it. */
		if ((memcmp(addr, mine, alen) == 0 || reuseport_any(addr, alen) ||
		    reuseport_any(mine, alen)) && !reuseport_mine(ino))
			shared = 1;
	}
	fclose(f);
	return (shared);
}
