/*
 * cachedb.c: the shared SQLite result cache. Reads run inline on each loop thread on
 * its own connection; every write goes to one writer thread (ARCHITECTURE.md §4).
 */
#ifndef HFGATE_CACHEDB_H
#define HFGATE_CACHEDB_H

#include <stddef.h>
#include <stdint.h>

#include "canon.h"

struct cachedb;		/* one read connection, owned by one thread */

/*
 * What an entry costs in the file besides its body (its two rows, the key, the
 * indexes, page slack). An entry's size, the stats' bytes and the max_bytes cap count
 * it, so that the cap bounds the file and not only the bodies (measured: 22 MB of file
 * for 59k entries of 102-byte bodies).
 */
#define CACHEDB_ROW_OVERHEAD	256

struct cache_entry {
	int		 status;
	char		 ctype[128];
	int		 kind;		/* 0: a plain body, 1: an SSE stream */
	int64_t		 created;	/* unix seconds */
	int64_t		 expires;	/* unix seconds */
	char		*body;		/* malloc'd, NUL-terminated (taken by the caller) */
	size_t		 len;
};

/* One row of usage counters (usage.c): what dbw_usage adds to the usage table. */
struct usage_row {
	char		 day[11];	/* YYYY-MM-DD, UTC */
	char		 client[64];
	char		 model[128];
	char		 task[48];
	uint64_t	 requests, cache_hits, attempts, errors, upstream_ms, bytes_in,
			 bytes_out, generated_tokens;
};

struct cache_stats {
	int64_t		 entries;
	int64_t		 bytes;		/* bodies + CACHEDB_ROW_OVERHEAD per entry */
};

/*
 * Opens (creating with the schema if needed, WAL, page_size 8192, user_version = schema
 * version, migrating an older version) path for reading. Per-connection pragmas:
 * synchronous=NORMAL, secure_delete=OFF, mmap_size, cache_size, busy_timeout 10 ms.
 * Returns 0, or -1 with err (the caller then runs without a cache).
 */
int	 cachedb_open(const char *path, struct cachedb **db, char *err, size_t errlen);
void	 cachedb_close(struct cachedb *);	/* accepts NULL */
/*
 * Looks key up. Returns 1 with e filled (body taken by the caller) when an entry
 * exists, fresh or not (the caller compares e->expires with now: a stale entry may
 * still serve stale-if-error); 0 when there is none; -1 on error or SQLITE_BUSY
 * (treat as a miss). Never blocks more than the busy timeout.
 */
int	 cachedb_get(struct cachedb *, const uint8_t key[CANON_KEY_LEN], struct cache_entry *e);
int	 cachedb_stats(struct cachedb *, struct cache_stats *);
/*
 * GET /admin/usage: *json (malloc'd, taken by the caller) is {"from","to","client"
 * (the filters, null when absent),"rows":[{"day","client","model","task", the eight
 * counters}...] ordered by day, client, model, task,"totals":{the counters summed}}.
 * from and to are inclusive YYYY-MM-DD days, client one client; NULL or "": no bound.
 * Returns 0, or -1 (logged).
 */
int	 cachedb_usage_json(struct cachedb *, const char *from, const char *to,
	    const char *client, char **json);
/* Calls cb(client (borrowed), requests, arg) once per client with rows on day
   (YYYY-MM-DD), with its requests summed over models and tasks. 0 or -1 (logged). */
int	 cachedb_usage_day(struct cachedb *, const char *day,
	    void (*cb)(const char *client, uint64_t requests, void *), void *arg);
/* A number that changes after every commit of this process's writer that stored or
   deleted entries (copies of entries read before it may be stale). */
uint64_t cachedb_generation(void);
void	 cache_entry_free(struct cache_entry *);	/* frees body; accepts zeroed */

/*
 * The writer thread. dbw_start opens its own connection to path (creating the file
 * like cachedb_open) and starts the thread; max_bytes caps the bodies' total size
 * (approximate LRU eviction in batches of 256 oldest by last access; the file never
 * exceeds the cap by more than one batch); expired rows are purged in the background,
 * WAL checkpoints (PASSIVE) run every few seconds. Every dbw_* call below copies what
 * it needs, only enqueues (never blocks on SQLite), and is safe from any thread;
 * the thread batches queued work into BEGIN IMMEDIATE..COMMIT every 50 ms or 256
 * operations. Returns 0, or -1 with err.
 */
int	 dbw_start(const char *path, int64_t max_bytes, char *err, size_t errlen);
/* Expired rows are kept this many seconds past their expiry before the background
   purge removes them: the stale-if-error window. 0 (the default) purges at expiry. */
void	 dbw_set_stale_window(int64_t secs);
/* Stores (replaces) an entry: key, model (for deletion by model), status, Content-Type,
   kind, body, expires (unix seconds). */
void	 dbw_put(const uint8_t key[CANON_KEY_LEN], const char *model, int status,
	    const char *ctype, int kind, const char *body, size_t len, int64_t expires);
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
