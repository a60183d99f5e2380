/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dbw.c: the cache file's single writer thread. Every write of this process (entries,
 * LRU touches, deletions, usage counters) is queued here and committed in batches on
 * one connection, so loop threads never wait on SQLite's write lock; eviction, the
 * expiry purge and WAL checkpoints run on the same thread between batches.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "cachedb.h"
#include "dbw.h"
#include "log.h"

#define DBW_BUSY_MS		5000
#define DBW_BATCH_OPS		256
#define DBW_BATCH_MS		50
#define DBW_EVICT_ROWS		256	/* also in the evict/purge SQL */
#define DBW_PURGE_ROUNDS	64	/* transactions per maintenance tick */
#define DBW_MAINT_MS		5000	/* TTL purge period */
#define DBW_CKPT_MS		250	/* checkpoint period while writing: keeps the WAL
					   small in a write burst (measured: 485 MB after
					   25 s of fill with one checkpoint per 5 s) */
#define DBW_STOP_BUSY_MS	100	/* the final checkpoint waits no longer */
#define DBW_QUEUE_MAX_OPS	65536
#define DBW_QUEUE_MAX_BYTES	(64 * 1024 * 1024)
#define DBW_PENDING_SLOTS	4096	/* the index of queued stores (a power of two) */
#define DBW_TOUCH_SLOTS		4096	/* recently touched keys, to skip most touches */
#define DBW_TOUCH_SECS		60	/* last_access granularity */

enum dbw_type {
	DBW_PUT,
	DBW_TOUCH,
	DBW_DELETE,
	DBW_USAGE,
	DBW_NOTIFY,
	DBW_SYNC
};

/* A queued write: the queue owns it (and the bytes after it), except SYNC (the waiter's). */
struct dbw_op {
	struct dbw_op	*next;
	enum dbw_type	 type;
	/* put: in the pending index (pprev non-NULL) from dbw_put until committed */
	struct dbw_op	*pnext, **pprev;
	unsigned	 readers;	/* dbw_pending copying the body, under mtx */
	int		 orphan;	/* done while read: the last reader frees it */
	uint8_t		 key[CANON_KEY_LEN];
	int		 status;
	int		 kind;
	int64_t		 time;		/* put: created; touch: now */
	int64_t		 expires;
	char		 ctype[128];
	char		*model;		/* NULL: none (put), every model (delete) */
	char		*body;
	size_t		 len;
	struct usage_row *rows;		/* usage: nrows rows after the op */
	size_t		 nrows;
	void		(*notify)(void *, int);	/* notify: called after the batch */
	void		*arg;
	int		 done;		/* sync: answered */
	int		 result;	/* sync: 0 or -1 */
};

enum dbw_stmt {
	DBW_S_DELKEY,
	DBW_S_INSENTRY,
	DBW_S_INSBODY,
	DBW_S_TOUCH,
	DBW_S_DELALL,
	DBW_S_DELMODEL,
	DBW_S_BYTES,
	DBW_S_EVICT,
	DBW_S_PURGE,
	DBW_S_USAGE,
	DBW_S_COUNT
};

static const char *const dbw_sql[DBW_S_COUNT] = {
	"DELETE FROM entry WHERE kid = ?1",
	"INSERT INTO entry(kid, model, size, expires, last_access)"
	"    VALUES(?1, ?2, ?3, ?4, ?5)",
	"INSERT OR REPLACE INTO body(kid, key, status, ctype, kind, created,"
	"    expires, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	"UPDATE entry SET last_access = ?2 WHERE kid = ?1 AND last_access < ?2 - 60",
	"DELETE FROM entry",
	"DELETE FROM entry WHERE model = ?1",
	"SELECT v FROM meta WHERE k = 'bytes'",
	/* The oldest rows, at most 256, whose sizes add up to the excess ?1. */
	"DELETE FROM entry WHERE id IN (SELECT id FROM"
	"    (SELECT id, size, sum(size) OVER (ORDER BY last_access, id"
	"    ROWS UNBOUNDED PRECEDING) AS run FROM entry"
	"    ORDER BY last_access, id LIMIT 256) WHERE run - size < ?1)",
	"DELETE FROM entry WHERE id IN"
	"    (SELECT id FROM entry WHERE expires < ?1 LIMIT 256)",
	"INSERT INTO usage(day, client, model, task, requests, cache_hits, attempts,"
	"    errors, upstream_ms, bytes_in, bytes_out, generated_tokens, prompt_tokens)"
	"    VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
	"    ON CONFLICT(day, client, model, task) DO UPDATE SET"
	"    requests = requests + excluded.requests,"
	"    cache_hits = cache_hits + excluded.cache_hits,"
	"    attempts = attempts + excluded.attempts,"
	"    errors = errors + excluded.errors,"
	"    upstream_ms = upstream_ms + excluded.upstream_ms,"
	"    bytes_in = bytes_in + excluded.bytes_in,"
	"    bytes_out = bytes_out + excluded.bytes_out,"
	"    generated_tokens = generated_tokens + excluded.generated_tokens,"
	"    prompt_tokens = prompt_tokens + excluded.prompt_tokens",
};

struct dbw_touched {
	uint64_t	 k;
	int64_t		 t;
};

/*
 * The writer. mtx guards the queue and the flags; db and st belong to the thread
 * once it runs (and to dbw_start/dbw_stop before and after it).
 */
static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 wake;		/* the thread waits for work */
	pthread_cond_t	 done;		/* dbw_sync waits for its answer */
	pthread_t	 thread;
	int		 running;
	int		 stopping;
	struct dbw_op	*head;
	struct dbw_op	**tail;
	size_t		 nops;
	size_t		 qbytes;
	struct timespec	 first_at;	/* when the queue last became non-empty */
	int		 dropping;	/* queue full: logged once until it drains */
	struct dbw_touched touched[DBW_TOUCH_SLOTS];
	/* Queued stores by key, newest first: what dbw_pending finds. npending and
	   added[] are also read without mtx (atomics). */
	struct dbw_op	*pending[DBW_PENDING_SLOTS];
	size_t		 npending;
	uint32_t	 added[DBW_PENDING_SLOTS];	/* stores indexed per slot */
	size_t		 nurgent;	/* queued ops that let no batch gather */

	sqlite3		*db;
	sqlite3_stmt	*st[DBW_S_COUNT];
	int64_t		 max_bytes;
	char		 path[4096];	/* the file, for dbw_path */
	int64_t		 stale_window;	/* under mtx */
	int		 warned;
	int		 dirty;		/* written since the last checkpoint */
	int		 wal_used;	/* written since the WAL was last truncated */
} dbw = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static void
dbw_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static void
dbw_add_ms(struct timespec *ts, long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int
dbw_past(const struct timespec *ts)
{
	struct timespec	 now;

	dbw_now(&now);
	return (now.tv_sec > ts->tv_sec ||
	    (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec));
}

static size_t
dbw_slot(const uint8_t key[CANON_KEY_LEN])
{
	return (((size_t)key[4] << 8 | key[5]) & (DBW_PENDING_SLOTS - 1));
}

/* Puts a queued store into the pending index; call with mtx held. */
static void
dbw_index(struct dbw_op *op)
{
	size_t	 i = dbw_slot(op->key);

	op->pnext = dbw.pending[i];
	if (op->pnext != NULL)
		op->pnext->pprev = &op->pnext;
	op->pprev = &dbw.pending[i];
	dbw.pending[i] = op;
	/* Seen by dbw_pending_mark before the store itself (both seq_cst). */
	__atomic_add_fetch(&dbw.npending, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&dbw.added[i], 1, __ATOMIC_SEQ_CST);
}

/* Takes a store out of the pending index, if it is there; call with mtx held. */
static void
dbw_unindex(struct dbw_op *op)
{
	if (op->pprev == NULL)
		return;
	if (op->pnext != NULL)
		op->pnext->pprev = op->pprev;
	*op->pprev = op->pnext;
	op->pprev = NULL;
	op->pnext = NULL;
	__atomic_sub_fetch(&dbw.npending, 1, __ATOMIC_SEQ_CST);
}

/* A deletion is queued: the stores queued before it are no longer found (the
   deletion removes them from the file once they are committed). With mtx held. */
static void
dbw_unindex_model(const char *model)
{
	struct dbw_op	*op, *next;
	size_t		 i;

	for (i = 0; i < DBW_PENDING_SLOTS && dbw.npending > 0; i++)
		for (op = dbw.pending[i]; op != NULL; op = next) {
			next = op->pnext;
			if (model == NULL ||
			    (op->model != NULL && strcmp(op->model, model) == 0))
				dbw_unindex(op);
		}
}

/* Logs the first failure; the next success says so, and re-arms the warning. */
static void
dbw_fail(const char *what)
{
	if (dbw.warned)
		return;
	dbw.warned = 1;
	log_warnx("cache: %s: %s (dropping cache writes while it lasts)", what,
	    sqlite3_errmsg(dbw.db));
}

static void
dbw_ok(void)
{
	if (dbw.warned)
		log_warnx("cache: writes succeed again");
	dbw.warned = 0;
}

static int
dbw_exec(const char *sql)
{
	if (sqlite3_exec(dbw.db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		dbw_fail(sql);
		return (-1);
	}
	return (0);
}

/* Runs a bound statement to completion and resets it. */
static int
dbw_step(enum dbw_stmt s, const char *what)
{
	int	 rc;

	rc = sqlite3_step(dbw.st[s]);
	sqlite3_reset(dbw.st[s]);
	sqlite3_clear_bindings(dbw.st[s]);
	if (rc != SQLITE_DONE) {
		dbw_fail(what);
		return (-1);
	}
	return (0);
}

static int
dbw_apply_put(struct dbw_op *op)
{
	sqlite3_stmt	*st;
	int64_t		 kid = cachedb_kid(op->key);

	/* Replace by delete + insert: the delete trigger keeps meta and body right. */
	st = dbw.st[DBW_S_DELKEY];
	if (sqlite3_bind_int64(st, 1, kid) != SQLITE_OK ||
	    dbw_step(DBW_S_DELKEY, "replace") == -1)
		return (-1);
	st = dbw.st[DBW_S_INSENTRY];
	if (sqlite3_bind_int64(st, 1, kid) != SQLITE_OK ||
	    (op->model != NULL ? sqlite3_bind_text(st, 2, op->model, -1,
	    SQLITE_STATIC) : sqlite3_bind_null(st, 2)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3,
	    (sqlite3_int64)(op->len + CACHEDB_ROW_OVERHEAD)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, op->expires) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, op->time) != SQLITE_OK ||
	    dbw_step(DBW_S_INSENTRY, "insert") == -1)
		return (-1);
	st = dbw.st[DBW_S_INSBODY];
	if (sqlite3_bind_int64(st, 1, kid) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 2, op->key, CANON_KEY_LEN, SQLITE_STATIC) !=
	    SQLITE_OK ||
	    sqlite3_bind_int(st, 3, op->status) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, op->ctype, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 5, op->kind) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 6, op->time) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 7, op->expires) != SQLITE_OK ||
	    sqlite3_bind_blob64(st, 8, op->body, op->len, SQLITE_STATIC) !=
	    SQLITE_OK || dbw_step(DBW_S_INSBODY, "insert body") == -1)
		return (-1);
	return (0);
}

/* Adds each row's counters to its (day, client, model, task) row. */
static int
dbw_apply_usage(struct dbw_op *op)
{
	sqlite3_stmt		*st = dbw.st[DBW_S_USAGE];
	const struct usage_row	*r;
	size_t			 i;

	for (i = 0; i < op->nrows; i++) {
		r = &op->rows[i];
		if (sqlite3_bind_text(st, 1, r->day, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_text(st, 2, r->client, -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
		    sqlite3_bind_text(st, 3, r->model, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_text(st, 4, r->task, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 5, (sqlite3_int64)r->requests) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 6, (sqlite3_int64)r->cache_hits) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(st, 7, (sqlite3_int64)r->attempts) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 8, (sqlite3_int64)r->errors) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 9, (sqlite3_int64)r->upstream_ms) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(st, 10, (sqlite3_int64)r->bytes_in) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 11, (sqlite3_int64)r->bytes_out) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(st, 12, (sqlite3_int64)r->generated_tokens) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(st, 13, (sqlite3_int64)r->prompt_tokens) !=
		    SQLITE_OK || dbw_step(DBW_S_USAGE, "usage") == -1)
			return (-1);
	}
	return (0);
}

static int
dbw_apply(struct dbw_op *op)
{
	sqlite3_stmt	*st;

	switch (op->type) {
	case DBW_PUT:
		return (dbw_apply_put(op));
	case DBW_TOUCH:
		st = dbw.st[DBW_S_TOUCH];
		if (sqlite3_bind_int64(st, 1, cachedb_kid(op->key)) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, op->time) != SQLITE_OK)
			return (-1);
		return (dbw_step(DBW_S_TOUCH, "touch"));
	case DBW_DELETE:
		if (op->model == NULL)
			return (dbw_step(DBW_S_DELALL, "delete"));
		if (sqlite3_bind_text(dbw.st[DBW_S_DELMODEL], 1, op->model, -1,
		    SQLITE_STATIC) != SQLITE_OK)
			return (-1);
		return (dbw_step(DBW_S_DELMODEL, "delete"));
	case DBW_USAGE:
		return (dbw_apply_usage(op));
	case DBW_NOTIFY:
	case DBW_SYNC:
		break;
	}
	return (0);
}

static int64_t
dbw_bytes(void)
{
	sqlite3_stmt	*st = dbw.st[DBW_S_BYTES];
	int64_t		 v = -1;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		dbw_fail("meta");
	sqlite3_reset(st);
	return (v);
}

/*
 * Approximate LRU: one short transaction per at most DBW_EVICT_ROWS rows, oldest
 * last_access first, so other processes' writers get the lock in between; each
 * deletes only as many rows as the excess needs, so big entries are not evicted
 * 256 at a time. Stops when under the cap.
 */
static void
dbw_evict(void)
{
	int64_t	 bytes;

	while ((bytes = dbw_bytes()) > dbw.max_bytes) {
		if (dbw_exec("BEGIN IMMEDIATE") == -1)
			return;
		if (sqlite3_bind_int64(dbw.st[DBW_S_EVICT], 1,
		    bytes - dbw.max_bytes) != SQLITE_OK ||
		    dbw_step(DBW_S_EVICT, "evict") == -1) {
			dbw_exec("ROLLBACK");
			return;
		}
		if (sqlite3_changes(dbw.db) == 0) {
			/* meta disagrees with an empty table: nothing to evict. */
			dbw_exec("ROLLBACK");
			return;
		}
		if (dbw_exec("COMMIT") == -1) {
			dbw_exec("ROLLBACK");
			return;
		}
		dbw.dirty = dbw.wal_used = 1;
	}
}

/* Expired rows, a bounded number of short transactions per tick. */
static void
dbw_purge(void)
{
	int64_t	 before;
	int	 i, n;

	pthread_mutex_lock(&dbw.mtx);
	before = (int64_t)time(NULL) - dbw.stale_window;
	pthread_mutex_unlock(&dbw.mtx);
	for (i = 0; i < DBW_PURGE_ROUNDS; i++) {
		if (dbw_exec("BEGIN IMMEDIATE") == -1)
			return;
		if (sqlite3_bind_int64(dbw.st[DBW_S_PURGE], 1, before) != SQLITE_OK ||
		    dbw_step(DBW_S_PURGE, "purge") == -1) {
			dbw_exec("ROLLBACK");
			return;
		}
		n = sqlite3_changes(dbw.db);
		if (dbw_exec("COMMIT") == -1) {
			dbw_exec("ROLLBACK");
			return;
		}
		if (n > 0)
			dbw.dirty = dbw.wal_used = 1;
		if (n < DBW_EVICT_ROWS)
			return;
	}
}

static void
dbw_checkpoint(const char *mode)
{
	char	 sql[64];

	if (!dbw.dirty)
		return;
	snprintf(sql, sizeof(sql), "PRAGMA wal_checkpoint(%s)", mode);
	/* BUSY only means a peer checkpoints or readers pin frames: next time. */
	if (sqlite3_exec(dbw.db, sql, NULL, NULL, NULL) == SQLITE_OK)
		dbw.dirty = 0;
}

/* Applies one batch in one transaction, evicts, then answers the syncs in it. */
static void
dbw_batch(struct dbw_op *ops)
{
	struct dbw_op	*op, *next;
	int		 ok = 0, clean = 1, writes = 0, changes = 0;

	for (op = ops; op != NULL; op = op->next) {
		if (op->type != DBW_SYNC && op->type != DBW_NOTIFY)
			writes = 1;
		if (op->type == DBW_PUT || op->type == DBW_DELETE)
			changes = 1;
	}
	if (!writes)
		ok = 1;
	else if (dbw_exec("BEGIN IMMEDIATE") == 0) {
		ok = 1;
		for (op = ops; op != NULL; op = op->next) {
			if (dbw_apply(op) == 0)
				continue;
			clean = 0;
			if (sqlite3_get_autocommit(dbw.db)) {
				/* SQLite rolled the transaction back itself. */
				ok = 0;
				break;
			}
		}
		if (ok && dbw_exec("COMMIT") == -1)
			ok = 0;
		if (!ok && !sqlite3_get_autocommit(dbw.db))
			sqlite3_exec(dbw.db, "ROLLBACK", NULL, NULL, NULL);
		if (ok) {
			dbw.dirty = dbw.wal_used = 1;
			if (changes)
				cachedb_bump_generation();
			if (clean)
				dbw_ok();
			/* Syncs are answered after this: a synced file is under the cap. */
			dbw_evict();
		}
	}

	/* Outside the lock: a notification may post to a loop (which takes its own). */
	for (op = ops; op != NULL; op = op->next)
		if (op->type == DBW_NOTIFY)
			op->notify(op->arg, ok && clean ? 0 : -1);
	/* A store leaves the pending index only now, once committed (and the generation
	   changed) or given up: from dbw_put on, it is always in one of the two. */
	pthread_mutex_lock(&dbw.mtx);
	for (op = ops; op != NULL; op = next) {
		next = op->next;
		if (op->type == DBW_SYNC) {
			op->result = ok && clean ? 0 : -1;
			op->done = 1;
			continue;
		}
		dbw_unindex(op);
		if (op->readers > 0)
			op->orphan = 1;
		else
			free(op);
	}
	pthread_cond_broadcast(&dbw.done);
	pthread_mutex_unlock(&dbw.mtx);
}

/* Takes up to DBW_BATCH_OPS ops off the queue, in order. Called with mtx held. */
static struct dbw_op *
dbw_take(void)
{
	struct dbw_op	*ops = dbw.head, *op, *last = NULL;
	size_t		 n = 0;

	for (op = dbw.head; op != NULL && n < DBW_BATCH_OPS; op = op->next) {
		last = op;
		n++;
		dbw.nops--;
		if (op->type == DBW_SYNC || op->type == DBW_USAGE)
			dbw.nurgent--;
		dbw.qbytes -= op->len;
	}
	if (last == NULL)
		return (NULL);
	dbw.head = last->next;
	if (dbw.head == NULL) {
		dbw.tail = &dbw.head;
		dbw.dropping = 0;
	}
	last->next = NULL;
	return (ops);
}

static void *
dbw_main(void *arg)
{
	struct timespec	 maint, gather, ckpt;
	struct dbw_op	*ops;

	(void)arg;
	dbw_now(&maint);	/* a first eviction and purge right away */
	dbw_now(&ckpt);
	pthread_mutex_lock(&dbw.mtx);
	for (;;) {
		while (dbw.head == NULL && !dbw.stopping && !dbw_past(&maint))
			pthread_cond_timedwait(&dbw.wake, &dbw.mtx, &maint);
		/* Let a batch gather unless it is full, somebody waits for it, or it
		   holds usage counters (usage.c bounds how long those wait). */
		gather = dbw.first_at;
		dbw_add_ms(&gather, DBW_BATCH_MS);
		while (dbw.head != NULL && !dbw.stopping && dbw.nurgent == 0 &&
		    dbw.nops < DBW_BATCH_OPS && !dbw_past(&gather))
			pthread_cond_timedwait(&dbw.wake, &dbw.mtx, &gather);
		ops = dbw_take();
		if (dbw.head != NULL)
			dbw_now(&dbw.first_at);
		pthread_mutex_unlock(&dbw.mtx);

		if (ops != NULL)
			dbw_batch(ops);
		if (dbw_past(&maint)) {
			dbw_evict();
			dbw_purge();
			dbw_now(&maint);
			dbw_add_ms(&maint, DBW_MAINT_MS);
		}
		if (dbw_past(&ckpt)) {
			/* Once every frame is back in the database file, the next write
			   starts the WAL over (truncated to journal_size_limit). */
			dbw_checkpoint("PASSIVE");
			dbw_now(&ckpt);
			dbw_add_ms(&ckpt, DBW_CKPT_MS);
		}
		if (ops == NULL && dbw.wal_used) {
			/* Idle (a maintenance tick with nothing queued): empty the WAL
			   file, waiting briefly for readers rather than for long. */
			sqlite3_busy_timeout(dbw.db, DBW_STOP_BUSY_MS);
			dbw.dirty = 1;
			dbw_checkpoint("TRUNCATE");
			if (!dbw.dirty)
				dbw.wal_used = 0;
			sqlite3_busy_timeout(dbw.db, DBW_BUSY_MS);
		}

		pthread_mutex_lock(&dbw.mtx);
		if (dbw.stopping && dbw.head == NULL)
			break;
	}
	pthread_mutex_unlock(&dbw.mtx);
	return (NULL);
}

static void
dbw_close_db(void)
{
	int	 i;

	for (i = 0; i < DBW_S_COUNT; i++) {
		sqlite3_finalize(dbw.st[i]);
		dbw.st[i] = NULL;
	}
	sqlite3_close(dbw.db);
	dbw.db = NULL;
}

int
dbw_start(const char *path, int64_t max_bytes, char *err, size_t errlen)
{
	pthread_condattr_t	 ca;
	int			 i, rc, conds = 0;

	pthread_mutex_lock(&dbw.mtx);
	rc = dbw.running;
	pthread_mutex_unlock(&dbw.mtx);
	if (rc) {
		cachedb_seterr(err, errlen, "%s: cache writer already started", path);
		return (-1);
	}
	if (cachedb_connect(path, DBW_BUSY_MS, &dbw.db, err, errlen) == -1)
		return (-1);
	/* Checkpoints are this thread's job, never a committing request's. */
	if (sqlite3_exec(dbw.db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto sqlfail;
	/* A restarted WAL is cut back to a quarter of the cap (1 MiB to 64 MiB), so
	   the WAL of a small cache stays small too. */
	{
		char		sql[64];
		int64_t		lim = max_bytes / 4;

		lim = lim < 1024 * 1024 ? 1024 * 1024 : lim > 64 * 1024 * 1024 ?
		    64 * 1024 * 1024 : lim;
		snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%lld",
		    (long long)lim);
		if (sqlite3_exec(dbw.db, sql, NULL, NULL, NULL) != SQLITE_OK)
			goto sqlfail;
	}
	for (i = 0; i < DBW_S_COUNT; i++)
		if (sqlite3_prepare_v3(dbw.db, dbw_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &dbw.st[i], NULL) != SQLITE_OK)
			goto sqlfail;
	if (pthread_condattr_init(&ca) != 0)
		goto syserr;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&dbw.wake, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		goto syserr;
	}
	if (pthread_cond_init(&dbw.done, NULL) != 0) {
		pthread_cond_destroy(&dbw.wake);
		pthread_condattr_destroy(&ca);
		goto syserr;
	}
	pthread_condattr_destroy(&ca);
	conds = 1;

	dbw.max_bytes = max_bytes;
	snprintf(dbw.path, sizeof(dbw.path), "%s", path);
	dbw.warned = dbw.dirty = 0;
	pthread_mutex_lock(&dbw.mtx);
	dbw.head = NULL;
	dbw.tail = &dbw.head;
	dbw.nops = dbw.nurgent = dbw.qbytes = 0;
	dbw.dropping = dbw.stopping = 0;
	memset(dbw.touched, 0, sizeof(dbw.touched));
	memset(dbw.pending, 0, sizeof(dbw.pending));
	dbw.npending = 0;
	dbw.running = 1;
	if ((rc = pthread_create(&dbw.thread, NULL, dbw_main, NULL)) != 0) {
		dbw.running = 0;
		pthread_mutex_unlock(&dbw.mtx);
		errno = rc;
		goto syserr;
	}
	pthread_mutex_unlock(&dbw.mtx);
	return (0);

 sqlfail:
	cachedb_seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(dbw.db));
	goto fail;
 syserr:
	cachedb_seterr(err, errlen, "%s: cache writer: %s", path, strerror(errno));
 fail:
	if (conds) {
		pthread_cond_destroy(&dbw.wake);
		pthread_cond_destroy(&dbw.done);
	}
	dbw_close_db();
	return (-1);
}

/* Queues op (taken) unless the writer is not running or the queue is full. Returns
   0 when queued, -1 when op was dropped (and freed). */
static int
dbw_enqueue(struct dbw_op *op)
{
	int	 queued = 0, warn = 0;

	pthread_mutex_lock(&dbw.mtx);
	if (dbw.running && !dbw.stopping) {
		if (dbw.nops >= DBW_QUEUE_MAX_OPS ||
		    dbw.qbytes + op->len > DBW_QUEUE_MAX_BYTES) {
			warn = !dbw.dropping;
			dbw.dropping = 1;
		} else {
			op->next = NULL;
			*dbw.tail = op;
			dbw.tail = &op->next;
			if (dbw.nops++ == 0)
				dbw_now(&dbw.first_at);
			dbw.qbytes += op->len;
			queued = 1;
			if (op->type == DBW_PUT)
				dbw_index(op);
			else if (op->type == DBW_DELETE)
				dbw_unindex_model(op->model);
			else if (op->type == DBW_USAGE)
				dbw.nurgent++;
			/* Wake the writer only when it has a reason to act. */
			if (dbw.nops == 1 || dbw.nops == DBW_BATCH_OPS ||
			    op->type == DBW_USAGE)
				pthread_cond_signal(&dbw.wake);
		}
	}
	pthread_mutex_unlock(&dbw.mtx);
	if (warn)
		log_warnx("cache: write queue full, dropping cache writes");
	if (!queued)
		free(op);
	return (queued ? 0 : -1);
}

void
dbw_set_stale_window(int64_t secs)
{
	pthread_mutex_lock(&dbw.mtx);
	dbw.stale_window = secs > 0 ? secs : 0;
	pthread_mutex_unlock(&dbw.mtx);
}

void
dbw_put(const uint8_t key[CANON_KEY_LEN], const char *model, int status,
    const char *ctype, int kind, const char *body, size_t len, int64_t expires)
{
	struct dbw_op	*op;
	size_t		 mlen;

	if (ctype == NULL)
		ctype = "";
	/* An entry must come back exactly as stored: no truncated Content-Type. */
	if (strlen(ctype) >= sizeof(op->ctype)) {
		log_debug("%s: Content-Type too long, not cached", __func__);
		return;
	}
	mlen = model != NULL ? strlen(model) + 1 : 0;
	/* One allocation: the op, then the body, then the model. */
	if (len > SIZE_MAX - sizeof(*op) - mlen ||
	    (op = calloc(1, sizeof(*op) + len + mlen)) == NULL)
		return;
	op->type = DBW_PUT;
	memcpy(op->key, key, CANON_KEY_LEN);
	op->status = status;
	op->kind = kind;
	op->time = (int64_t)time(NULL);
	op->expires = expires;
	memcpy(op->ctype, ctype, strlen(ctype) + 1);
	op->body = (char *)(op + 1);
	if (len > 0)
		memcpy(op->body, body, len);
	op->len = len;
	if (model != NULL) {
		op->model = op->body + len;
		memcpy(op->model, model, mlen);
	}
	(void)dbw_enqueue(op);
}

void
dbw_touch(const uint8_t key[CANON_KEY_LEN], int64_t now)
{
	struct dbw_touched	*t;
	struct dbw_op		*op;
	uint64_t		 k;
	int			 skip;

	/* A hot key is touched once a minute, not once per hit. */
	memcpy(&k, key, sizeof(k));
	pthread_mutex_lock(&dbw.mtx);
	t = &dbw.touched[k % DBW_TOUCH_SLOTS];
	skip = !dbw.running || (t->k == k && now >= t->t &&
	    now - t->t < DBW_TOUCH_SECS);
	if (!skip) {
		t->k = k;
		t->t = now;
	}
	pthread_mutex_unlock(&dbw.mtx);
	if (skip || (op = calloc(1, sizeof(*op))) == NULL)
		return;
	op->type = DBW_TOUCH;
	memcpy(op->key, key, CANON_KEY_LEN);
	op->time = now;
	(void)dbw_enqueue(op);
}

void
dbw_delete(const char *model)
{
	struct dbw_op	*op;
	size_t		 mlen = model != NULL ? strlen(model) + 1 : 0;

	if ((op = calloc(1, sizeof(*op) + mlen)) == NULL) {
		log_warnx("cache: delete: out of memory");
		return;
	}
	op->type = DBW_DELETE;
	if (model != NULL) {
		op->model = (char *)(op + 1);
		memcpy(op->model, model, mlen);
	}
	(void)dbw_enqueue(op);
}

void
dbw_usage(const struct usage_row *rows, size_t n)
{
	struct dbw_op	*op;

	if (n == 0 || n > (SIZE_MAX - sizeof(*op)) / sizeof(*rows))
		return;
	/* One allocation: the op, then the rows (len: their size, for the queue cap). */
	if ((op = calloc(1, sizeof(*op) + n * sizeof(*rows))) == NULL) {
		log_warnx("usage: out of memory, %zu counter rows lost", n);
		return;
	}
	op->type = DBW_USAGE;
	op->rows = (struct usage_row *)(void *)(op + 1);
	memcpy(op->rows, rows, n * sizeof(*rows));
	op->nrows = n;
	op->len = n * sizeof(*rows);
	(void)dbw_enqueue(op);
}

uint32_t
dbw_pending_mark(const uint8_t key[CANON_KEY_LEN])
{
	return (__atomic_load_n(&dbw.added[dbw_slot(key)], __ATOMIC_SEQ_CST));
}

int
dbw_pending(const uint8_t key[CANON_KEY_LEN], struct cache_entry *e)
{
	struct dbw_op	*op;

	memset(e, 0, sizeof(*e));
	if (__atomic_load_n(&dbw.npending, __ATOMIC_SEQ_CST) == 0)
		return (0);
	pthread_mutex_lock(&dbw.mtx);
	for (op = dbw.pending[dbw_slot(key)]; op != NULL; op = op->pnext)
		if (memcmp(op->key, key, CANON_KEY_LEN) == 0)
			break;
	if (op == NULL) {
		pthread_mutex_unlock(&dbw.mtx);
		return (0);
	}
	/* The body is copied outside the lock; the op lives until its last reader is
	   done (dbw_batch leaves it to the reader then). */
	op->readers++;
	pthread_mutex_unlock(&dbw.mtx);
	e->status = op->status;
	memcpy(e->ctype, op->ctype, sizeof(e->ctype));
	e->kind = op->kind;
	e->created = op->time;
	e->expires = op->expires;
	if ((e->body = malloc(op->len + 1)) != NULL) {
		memcpy(e->body, op->body, op->len);
		e->body[op->len] = '\0';
		e->len = op->len;
	}
	pthread_mutex_lock(&dbw.mtx);
	if (--op->readers == 0 && op->orphan)
		free(op);
	pthread_mutex_unlock(&dbw.mtx);
	return (e->body != NULL ? 1 : -1);
}

int
dbw_notify(void (*fn)(void *, int), void *arg)
{
	struct dbw_op	*op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return (-1);
	op->type = DBW_NOTIFY;
	op->notify = fn;
	op->arg = arg;
	return (dbw_enqueue(op));
}

const char *
dbw_path(void)
{
	return (dbw_running() ? dbw.path : NULL);
}

int
dbw_running(void)
{
	int	 on;

	pthread_mutex_lock(&dbw.mtx);
	on = dbw.running && !dbw.stopping;
	pthread_mutex_unlock(&dbw.mtx);
	return (on);
}

int
dbw_sync(void)
{
	struct dbw_op	 op;

	memset(&op, 0, sizeof(op));
	op.type = DBW_SYNC;
	pthread_mutex_lock(&dbw.mtx);
	if (!dbw.running || dbw.stopping) {
		pthread_mutex_unlock(&dbw.mtx);
		return (-1);
	}
	*dbw.tail = &op;
	dbw.tail = &op.next;
	if (dbw.nops++ == 0)
		dbw_now(&dbw.first_at);
	dbw.nurgent++;
	pthread_cond_signal(&dbw.wake);
	while (!op.done)
		pthread_cond_wait(&dbw.done, &dbw.mtx);
	pthread_mutex_unlock(&dbw.mtx);
	return (op.result);
}

void
dbw_stop(void)
{
	pthread_mutex_lock(&dbw.mtx);
	if (!dbw.running || dbw.stopping) {
		pthread_mutex_unlock(&dbw.mtx);
		return;
	}
	dbw.stopping = 1;
	pthread_cond_signal(&dbw.wake);
	pthread_mutex_unlock(&dbw.mtx);
	pthread_join(dbw.thread, NULL);

	/* The thread is gone: its connection is ours again. */
	sqlite3_busy_timeout(dbw.db, DBW_STOP_BUSY_MS);
	dbw_checkpoint("TRUNCATE");
	dbw_close_db();
	pthread_mutex_lock(&dbw.mtx);
	dbw.running = 0;
	dbw.stopping = 0;
	pthread_mutex_unlock(&dbw.mtx);
	pthread_cond_destroy(&dbw.wake);
	pthread_cond_destroy(&dbw.done);
}
