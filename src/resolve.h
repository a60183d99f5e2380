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

#endif
