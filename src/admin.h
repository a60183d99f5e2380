/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admin.c: the operator's routes, GET and DELETE /admin/cache and GET /admin/usage
 * (docs/api.md). The gateway checked the admin key or the loopback address. A route
 * that must wait for the cache's writer does so on a helper thread (loop_offload).
 */
#ifndef HFGATE_ADMIN_H
#define HFGATE_ADMIN_H

#include "request.h"

/* Each replies, or returns 1 when req now waits for a helper thread (the gateway
   then holds it in GW_OFFLOADED; the answer comes later). */
int	 admin_cache(struct gw_req *);
int	 admin_usage(struct gw_req *);
/* GET /metrics: the Prometheus text of metrics.c's counters and the cache's size. */
void	 admin_metrics(struct gw_req *);

#endif
