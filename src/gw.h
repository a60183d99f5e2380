/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * gw.c: the gateway: the transport's handler table, and each request's way from its
 * route to its reply (docs/design.md, "The request path").
 */
#ifndef HFGATE_GW_H
#define HFGATE_GW_H

#include <stddef.h>

#include "config.h"
#include "http.h"

/* Once per process, before the loops start: the handler table for http_start (the
   gateway's hooks into stream.c and flight.c are set too). */
const struct http_handlers *gw_init(void);
/* Makes cfg the configuration of the requests this thread starts from now on: takes a
   reference to it and drops the one to the previous configuration (NULL drops it). */
void	 gw_configure(struct config *cfg);
const struct config *gw_config(void);
/* Requests alive on this thread. */
size_t	 gw_live(void);
/* Shutdown: stop retries and end every request still running. */
void	 gw_cancel_all(const char *why);
/* The last step before the transport stops: every request is answered or dropped,
   none left suspended. */
void	 gw_stop(void);

#endif
