/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dbw.c: the single writer thread of the cache file (cachedb.h): every write of this
 * process goes through it.
 */
#ifndef HFGATE_DBW_H
#define HFGATE_DBW_H

#include <stddef.h>
#include <stdint.h>

#include "canon.h"

struct cache_entry;

/* One row of usage counters (usage.c): what dbw_usage adds to the usage table. */
struct usage_row {
	char		 day[11];	/* YYYY-MM-DD, UTC */
	char		 client[64];
	char		 model[128];
	char		 task[48];
	uint64_t	 requests, cache_hits, attempts, errors, upstream_ms, bytes_in,
			 bytes_out, generated_tokens, prompt_tokens;
};

/*
 * The writer thread. dbw_start opens its own connection to path (creating the file
 * like cachedb_open) and starts the thread; max_bytes caps the bodies' total size
 * (approximate LRU eviction in batches of 256 oldest by last access; the file never
 * exceeds the cap by more than one batch); expired rows are purged in the background,
 * WAL checkpoints (PASSIVE) run every few seconds. Every dbw_* call below copies what
 * it needs, only enqueues (never blocks on SQLite), and is safe from any thread;
 * the thread batches queued work into BEGIN IMMEDIATE..COMMIT every 50 ms or 256
 * operations, at once when usage counters (dbw_usage) or a dbw_sync are queued.
 * Returns 0, or -1 with err.
 */
int	 dbw_start(const char *path, int64_t max_bytes, char *err, size_t errlen);
/* Expired rows are kept this many seconds past their expiry before the background
   purge removes them: the stale-if-error window. 0 (the default) purges at expiry. */
void	 dbw_set_stale_window(int64_t secs);
/* Stores (replaces) an entry: key, model (for deletion by model), status, Content-Type,
   kind, body, expires (unix seconds). */
void	 dbw_put(const uint8_t key[CANON_KEY_LEN], const char *model, int status,
	    const char *ctype, int kind, const char *body, size_t len, int64_t expires);
/*
 * Read your writes: a store is found here from dbw_put until the writer has
 * committed it (it is then readable from the file, and cachedb_generation has
 * changed), or until a dbw_delete of its model is queued. These are the queued
 * operations themselves, so they cost no memory beyond the queue's cap. Returns 1
 * with e filled (the newest store of key; body malloc'd, taken by the caller), 0 when
 * none is pending, -1 when out of memory.
 */
int	 dbw_pending(const uint8_t key[CANON_KEY_LEN], struct cache_entry *e);
/* A number that changes whenever a store of a key like key (one of a few thousand
   classes) starts to be found by dbw_pending: a look-up that missed and sees the
   same number later would still miss there. Any thread, no lock. */
uint32_t dbw_pending_mark(const uint8_t key[CANON_KEY_LEN]);
/* Records a hit for LRU (flushed in batches; skipped when last_access is recent). */
void	 dbw_touch(const uint8_t key[CANON_KEY_LEN], int64_t now);
/* Deletes every entry, or those of one model. */
void	 dbw_delete(const char *model);
/* Adds n rows of counters (copied) to the usage table, each as an upsert into its
   (day, client, model, task) row. Usage rows are not cache entries: they count in no
   size, and eviction, the purge and dbw_delete leave them alone. */
void	 dbw_usage(const struct usage_row *rows, size_t n);
/* Calls fn(arg, 0 or -1) on the writer thread once everything queued before it is
   committed (-1: its batch failed). Returns 0, or -1 when nothing was queued (the
   writer is not running or its queue is full): fn is then never called. */
int	 dbw_notify(void (*fn)(void *, int), void *arg);
/* 1 while the writer runs (started and not stopping). */
int	 dbw_running(void);
/* The running writer's file (borrowed, valid until dbw_stop; main thread), or NULL. */
const char *dbw_path(void);
/* Waits until everything queued so far is committed (tests, shutdown). 0 or -1. */
int	 dbw_sync(void);
/* Flushes the queue, checkpoints, stops the thread and closes its connection. */
void	 dbw_stop(void);

#endif
