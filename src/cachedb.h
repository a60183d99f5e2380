/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cachedb.c: the shared SQLite result cache. Reads run inline on each loop thread on
 * its own connection; every write goes to the one writer thread (dbw.h), which opens
 * its connection with cachedb_connect.
 */
#ifndef HFGATE_CACHEDB_H
#define HFGATE_CACHEDB_H

#include <stddef.h>
#include <stdint.h>

#include "canon.h"

struct cachedb;		/* one read connection, owned by one thread */
struct sqlite3;

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
/* Calls cb(client (borrowed), requests, generated tokens, arg) once per client with
   rows on day (YYYY-MM-DD), with its counts summed over models and tasks. 0 or -1
   (logged). */
int	 cachedb_usage_day(struct cachedb *, const char *day,
	    void (*cb)(const char *client, uint64_t requests, uint64_t tokens, void *),
	    void *arg);
/* A number that changes after every commit of this process's writer that stored or
   deleted entries (copies of entries read before it may be stale). */
uint64_t cachedb_generation(void);
void	 cache_entry_free(struct cache_entry *);	/* frees body; accepts zeroed */

/* For the writer (dbw.c). */
/* Changes cachedb_generation; called after such a commit. */
void	 cachedb_bump_generation(void);
/*
 * Opens path read-write (creating it), in WAL with 8 KiB pages, applies the
 * per-connection pragmas and brings the schema to this version, as cachedb_open does;
 * busy_ms is the connection's busy timeout afterwards. Returns 0 with *db, or -1
 * with err.
 */
int	 cachedb_connect(const char *path, int busy_ms, struct sqlite3 **db,
	    char *err, size_t errlen);
/* The key's first 8 bytes as a signed integer: the rowid a lookup searches. */
int64_t	 cachedb_kid(const uint8_t key[CANON_KEY_LEN]);
/* Formats into err, unless err is NULL or errlen 0. */
void	 cachedb_seterr(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* SQLite's version ("3.40.1"), static. */
const char *cachedb_lib_version(void);

#endif
