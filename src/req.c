/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The one owner of requests (docs/design.md, "Ownership"): each loop thread keeps its
 * live requests in a list; a request is freed here only, after the transport said it
 * completed, with each part released by the function of the module that owns it.
 */
#include <stdlib.h>

#include "buf.h"
#include "cache.h"
#include "config.h"
#include "http.h"
#include "loop.h"
#include "req.h"
#include "request.h"
#include "stream.h"
#include "upstream.h"

static uint64_t				 req_serial;	/* atomic: unique in the process */
static _Thread_local struct gw_req	*req_head;
static _Thread_local size_t		 req_nlive;

struct gw_req *
req_new(struct config *cfg)
{
	struct gw_req	*req;

	if ((req = calloc(1, sizeof(*req))) == NULL)
		return (NULL);
	req->serial = __atomic_add_fetch(&req_serial, 1, __ATOMIC_RELAXED);
	req->cfg = cfg;
	cfg_ref(cfg);
	req->next = req_head;
	if (req_head != NULL)
		req_head->prev = req;
	req_head = req;
	req_nlive++;
	return (req);
}

struct gw_req *
req_find(uint64_t serial)
{
	struct gw_req	*req;

	for (req = req_head; req != NULL; req = req->next)
		if (req->serial == serial)
			return (req);
	return (NULL);
}

struct gw_req *
req_first(void)
{
	return (req_head);
}

size_t
req_live(void)
{
	return (req_nlive);
}

void
req_free(struct gw_req *req)
{
	if (req == NULL)
		return;
	if (req->prev != NULL)
		req->prev->next = req->next;
	else if (req_head == req)
		req_head = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	req_nlive--;
	http_req_release(&req->tr);
	stream_release(req);
	cache_release(req);
	loop_timer_cancel(&req->call.retry_timer);
	loop_timer_cancel(&req->call.deadline_timer);
	up_release(&req->call.up);
	buf_free(&req->call.out);
	buf_free(&req->call.last_body);
	buf_free(&req->call.last_relay);
	buf_free(&req->res.body);
	buf_free(&req->res.client_body);
	free(req->res.key_target);
	free(req->res.url);
	cfg_unref(req->cfg);
	free(req);
}
