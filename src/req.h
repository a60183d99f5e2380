/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * req.c: the one owner of requests. Creates a request (with its reference to the
 * configuration it will read for its whole life), finds it by serial, and frees it
 * and every part of it in one place.
 */
#ifndef HFGATE_REQ_H
#define HFGATE_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "request.h"

/* A zeroed request linked into this thread's list, holding a reference to cfg. NULL
   when out of memory. */
struct gw_req *req_new(struct config *cfg);
/* The live request of this thread with that serial, or NULL. */
struct gw_req *req_find(uint64_t serial);
/* This thread's live requests: the first, then ->next. */
struct gw_req *req_first(void);
size_t	 req_live(void);
/* Unlinks req and frees every part of it (the gateway has ended its work: the flight
   left, the limit slot released). Accepts NULL. */
void	 req_free(struct gw_req *);

#endif
