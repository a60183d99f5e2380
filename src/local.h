/* local.c: the routes hfgate answers itself (ROUTE_F_LOCAL) and CORS preflights. */
#ifndef HFGATE_LOCAL_H
#define HFGATE_LOCAL_H

#include "request.h"

/* GET /healthz, /api/tasks, /v1/tasks. */
void	 local_answer(struct gw_req *);
/* OPTIONS on any path: the CORS preflight. */
void	 local_preflight(struct gw_req *);

#endif
