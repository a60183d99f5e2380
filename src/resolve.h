/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * resolve.c: what a request goes to, once routed: the model (the route's, ?model=,
 * X-Model, or the task's default), the upstream URL (an [endpoint], the serverless
 * API's /models or /pipeline), the body sent upstream, the deadline, and the headers
 * of the upstream call. Writes the request's resolve part and the request half of its
 * upstream call.
 */
#ifndef HFGATE_RESOLVE_H
#define HFGATE_RESOLVE_H

#include "request.h"

/* Chooses model, URL and body. 0, or -1 when a reply was sent. */
int	 resolve_target(struct gw_req *);
/* The upstream call's URL, body, stream flag, deadline and wait_for_model. 0, or -1
   when a reply was sent (a bad X-Timeout). */
int	 resolve_call(struct gw_req *);
/* The upstream call's headers (the token, the client's forwarded ones). 0 or -1. */
int	 resolve_headers(struct gw_req *);
/* The task of the request's model when known: the route's, the endpoint's, the
   default table's, or the Hub's pipeline tag (looked up in the background). */
const struct task_info *resolve_task(struct gw_req *);

/* The steps that need the Hub's answer about the model, or an [endpoint]'s of
   protocol auto about itself (probe.c), say so: the gateway asks again in
   RESOLVE_POLL_MS, within RESOLVE_HUB_WAIT_MS of the request's start. */
#define RESOLVE_WAIT		1
#define RESOLVE_POLL_MS		20
#define RESOLVE_HUB_WAIT_MS	3000
/* resolve_task's answer, once settled: 1 with *t (NULL: unknown), or 0 while the
   Hub is still looking up the task of a POST /models/{id}. */
int	 resolve_task_settled(struct gw_req *, const struct task_info **t);
/*
 * The 2023 calls today's API lacks (docs/api.md, "The 2023 clients on today's API"):
 * a text-generation or conversational call to today's router or to an [endpoint]
 * of protocol openai (or auto, found to be one) gets the OpenAI body, URL and cache
 * key of its translation (bridge.c); GET /status waits for the Hub's answer that
 * local.c gives. 0 (done,
 * or nothing to do), RESOLVE_WAIT, or -1 when a reply was sent (a body that
 * cannot be translated).
 */
int	 resolve_bridge(struct gw_req *);

#endif
