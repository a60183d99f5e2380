/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * preflight.c: what "hfgate -t" checks beyond the file's syntax, without starting
 * (hfgate(8), "-t"): that the cache, usage and access log files can be written where
 * they are configured, and that the TLS key fits the certificate.
 */
#ifndef HFGATE_PREFLIGHT_H
#define HFGATE_PREFLIGHT_H

#include <stddef.h>

#include "config.h"

/* 0, or -1 with err saying the first problem found. */
int	 preflight_config(const struct config *, char *err, size_t errlen);

#endif
