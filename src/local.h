/* SPDX-License-Identifier: BSD-2-Clause */
/* local.c: the routes hfgate answers itself (ROUTE_F_LOCAL) and CORS preflights. */
#ifndef HFGATE_LOCAL_H
#define HFGATE_LOCAL_H

#include "request.h"

/* GET /healthz, /api/tasks, /v1/tasks. */
void	 local_answer(struct gw_req *);
/* GET /status/{id} and /framework/{fw} on today's router, which has neither: the
   2023 answers, from what the Hub said of the models (hub.c; docs/api.md). */
void	 local_hub_answer(struct gw_req *);
/* OPTIONS on any path: the CORS preflight. */
void	 local_preflight(struct gw_req *);

#endif
