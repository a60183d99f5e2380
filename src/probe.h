/* SPDX-License-Identifier: BSD-2-Clause */
/* probe.c: what an [endpoint] of protocol auto speaks, asked of it once per process. */
#ifndef HFGATE_PROBE_H
#define HFGATE_PROBE_H

#include <stddef.h>

#include "config.h"

/* What an endpoint whose probe has not answered (yet, or at all) is taken for. */
#define PROBE_FALLBACK	CFG_PROTO_TGI

/*
 * The protocol of ep, an [endpoint] of protocol auto: 1 with *proto once its probe
 * answered, 0 while the probe runs, -1 when it failed (it is tried again after a
 * while); *proto is PROBE_FALLBACK unless 1. The first call for an endpoint URL
 * starts the probe in the background on the calling loop thread: GET {url}/info,
 * then, unless that is TGI's, GET {url}/v1/models. The answer is remembered for the
 * process.
 */
int	 probe_protocol(const struct config *cfg, const struct cfg_endpoint *ep,
	    enum cfg_protocol *proto);
/* Pure: 1 when body (of a 200 to GET /info) is TGI's info, else 0. */
int	 probe_is_tgi_info(const char *body, size_t len);
/* Pure: 1 when body (of a 200 to GET /v1/models) is an OpenAI model list, else 0. */
int	 probe_is_openai_models(const char *body, size_t len);
/* Cancels this loop thread's probes (before its loop goes away). */
void	 probe_thread_stop(void);

#endif
