/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * reuseport.c: whether a listening socket bound with SO_REUSEPORT shares its port with
 * another process (docs/design.md, "libmicrohttpd").
 */
#ifndef HFGATE_REUSEPORT_H
#define HFGATE_REUSEPORT_H

#include <stddef.h>

/*
 * 1 when a socket of another process listens on fd's port at an address that overlaps
 * fd's (the same one, or a wildcard on either side), so that the kernel would share
 * the connections between them; 0 when every such socket is this process's; -1 when
 * that cannot be told (no /proc), with err.
 */
int	 reuseport_shared(int fd, char *err, size_t errlen);

#endif
