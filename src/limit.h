/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * limit.c: per-client admission control: a token-bucket request rate, a cap
 * on requests in flight, a daily request quota and a daily token quota. Pure: no I/O,
 * the caller passes the time. State is shared by all threads of the process and keyed
 * by client name; it outlives config reloads because the limits come with every call.
 */
#ifndef HFGATE_LIMIT_H
#define HFGATE_LIMIT_H

#include <stdint.h>

struct limit_params {
	unsigned	 rate;		/* requests per minute, 0: no rate limit */
	unsigned	 burst;		/* bucket capacity, 0: same as rate */
	unsigned	 concurrent;	/* requests in flight at once, 0: no cap */
	unsigned	 quota;		/* requests per UTC day, 0: none */
	unsigned	 token_quota;	/* tokens per UTC day (limit_tokens), 0: none */
};

struct limit_verdict {
	const char	*refused;	/* NULL: admitted, else "rate", "concurrency",
					   "quota", "token_quota" */
	unsigned	 limit;		/* X-RateLimit-Limit, 0: send no X-RateLimit headers */
	unsigned	 remaining;	/* X-RateLimit-Remaining */
	unsigned	 reset;		/* X-RateLimit-Reset, seconds from now */
	unsigned	 retry_after;	/* Retry-After seconds, >= 1 when refused, else 0 */
};

/*
 * Admits one request of client (borrowed, not NULL) at now_ms (unix ms) or refuses it,
 * checking the request quota, the token quota (today's tokens so far below it), then
 * concurrency, then rate; a refusal consumes nothing. Admitted, the request takes a
 * bucket token, counts against today's request quota and holds a concurrency slot
 * until limit_release; its tokens count once it has ended (limit_tokens). A quota
 * refusal's headers are the quota's (limit, 0 remaining, reset at UTC midnight).
 * Returns 0, or -1 when out of memory: then v says admitted with no headers and
 * nothing is counted; serving anyway (fail open) is the caller's choice.
 */
int	 limit_admit(const char *client, const struct limit_params *, int64_t now_ms,
	    struct limit_verdict *v);
/* Gives back one concurrency slot of client; never goes below 0, no-op if unknown. */
void	 limit_release(const char *client);
/*
 * Adds the tokens of a request of client that ended at now_ms to that UTC day's count,
 * which the token quota checks (usage_request_done calls it with what the usage table
 * counts). Returns 0, or -1 when out of memory (not counted).
 */
int	 limit_tokens(const char *client, int64_t now_ms, uint64_t tokens);
/*
 * Sets the requests and tokens already counted for client on UTC day `day` (unix ms /
 * 86400000), e.g. from the usage table at start-up so that a restart does not reset a
 * quota. The larger count wins on the same day; an older day than the one stored is
 * ignored. Returns 0, or -1 when out of memory.
 */
int	 limit_seed(const char *client, int64_t day, unsigned used, uint64_t tokens);
/* Frees every client's state (end of process, tests). */
void	 limit_free_all(void);

#endif
