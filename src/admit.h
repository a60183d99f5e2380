/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admit.c: who is calling and whether they may (docs/teams.md): the client or admin
 * key, the client's task and model rights, its rate, concurrency and daily quotas.
 * Writes the request's admit part.
 */
#ifndef HFGATE_ADMIT_H
#define HFGATE_ADMIT_H

#include "request.h"

/* The key of the route's kind: the [admin] key for ROUTE_F_ADMIN (without any key, a
   loopback client), a client key once a [client] exists for every route but
   ROUTE_F_OPEN. 0, or -1 (replied 401 or 403). */
int	 admit_identify(struct gw_req *);
/* What admit_request decided. */
#define ADMIT_OK	0
#define ADMIT_REFUSED	(-1)	/* replied 403 or 429 */
#define ADMIT_WAIT	1	/* a task rule needs the model's task, which the Hub
				   is still looking up: ask again in RESOLVE_POLL_MS */
/* The client's rights and limits once the model is resolved. An admitted request
   holds a concurrency slot until admit_release. */
int	 admit_request(struct gw_req *);
/* Gives the slot back (accepts a request that holds none). */
void	 admit_release(struct gw_req *);
/* 1 when req is counted in usage: without keys every request, with them only the
   admitted ones (the refused are in the access log). */
int	 admit_counted(const struct gw_req *);

#endif
