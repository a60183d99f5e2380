/*
 * cachedb.c: the shared SQLite result cache. Reads run inline on each loop thread on
 * its own connection; every write goes to one writer thread (ARCHITECTURE.md §4).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <sqlite3.h>

#include "cachedb.h"
#include "log.h"

#define CACHEDB_VERSION		2	/* PRAGMA user_version of the schema below */
#define CACHEDB_READ_BUSY_MS	10	/* a reader that waits longer counts a miss */
#define CACHEDB_OPEN_BUSY_MS	5000	/* creation or migration by another process */

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
#define DBW_TOUCH_SLOTS		4096	/* recently touched keys, to skip most touches */
#define DBW_TOUCH_SECS		60	/* last_access granularity */

/* Every connection, reader or writer (Debian's defaults are FULL and secure_delete). */
static const char cachedb_pragmas[] =
	"PRAGMA synchronous=NORMAL;"
	"PRAGMA secure_delete=OFF;"
	"PRAGMA mmap_size=268435456;"
	"PRAGMA cache_size=-16000;"
	"PRAGMA journal_size_limit=67108864;";

/*
 * migrations[v] upgrades a file from user_version v to v + 1; 0 is an empty file.
 *
 * entry holds what the writer needs (LRU, expiry, model, size); body holds what a
 * hit returns, so a lookup is one integer-rowid search in body, with no index on
 * the 32-byte key (measured: the blob index search cost a third of a lookup). kid
 * is the key's first 8 bytes as an integer; the full key is kept in body and
 * compared, so a 64-bit collision is a miss and the later put replaces the
 * earlier one. entry's own id is the insertion order: the LRU tie-break. An LRU
 * update rewrites only the small entry row, never a blob. meta keeps the totals
 * through triggers so nothing ever needs SUM() over the table.
 *
 * Version 2 adds usage, the request counters per UTC day, client, model and task
 * (usage.c). It has no trigger and no link to entry: its rows never count in meta's
 * totals, and eviction, the purge and deletions (which all delete from entry) never
 * touch them.
 */
static const char *const cachedb_migrations[CACHEDB_VERSION] = {
	"CREATE TABLE entry(id INTEGER PRIMARY KEY, kid INTEGER NOT NULL UNIQUE,"
	"    model TEXT, size INTEGER NOT NULL, expires INTEGER NOT NULL,"
	"    last_access INTEGER NOT NULL);"
	"CREATE INDEX entry_lru ON entry(last_access);"
	"CREATE INDEX entry_exp ON entry(expires);"
	"CREATE INDEX entry_model ON entry(model);"
	"CREATE TABLE body(kid INTEGER PRIMARY KEY, key BLOB NOT NULL,"
	"    status INTEGER NOT NULL, ctype TEXT NOT NULL, kind INTEGER NOT NULL,"
	"    created INTEGER NOT NULL, expires INTEGER NOT NULL, data BLOB NOT NULL);"
	"CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
	"INSERT INTO meta(k, v) VALUES('bytes', 0), ('entries', 0);"
	"CREATE TRIGGER entry_ins AFTER INSERT ON entry BEGIN"
	"    UPDATE meta SET v = v + NEW.size WHERE k = 'bytes';"
	"    UPDATE meta SET v = v + 1 WHERE k = 'entries';"
	"END;"
	"CREATE TRIGGER entry_del AFTER DELETE ON entry BEGIN"
	"    UPDATE meta SET v = v - OLD.size WHERE k = 'bytes';"
	"    UPDATE meta SET v = v - 1 WHERE k = 'entries';"
	"    DELETE FROM body WHERE kid = OLD.kid;"
	"END;",
	"CREATE TABLE usage(day TEXT NOT NULL, client TEXT NOT NULL,"
	"    model TEXT NOT NULL, task TEXT NOT NULL,"
	"    requests INTEGER NOT NULL DEFAULT 0, cache_hits INTEGER NOT NULL DEFAULT 0,"
	"    attempts INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,"
	"    upstream_ms INTEGER NOT NULL DEFAULT 0, bytes_in INTEGER NOT NULL DEFAULT 0,"
	"    bytes_out INTEGER NOT NULL DEFAULT 0,"
	"    generated_tokens INTEGER NOT NULL DEFAULT 0,"
	"    PRIMARY KEY(day, client, model, task)) WITHOUT ROWID;",
};

struct cachedb {
	sqlite3		*db;
	sqlite3_stmt	*get;
	sqlite3_stmt	*stats;
	int		 warned;	/* an error was logged; quiet until success */
};

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
	"    errors, upstream_ms, bytes_in, bytes_out, generated_tokens)"
	"    VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
	"    ON CONFLICT(day, client, model, task) DO UPDATE SET"
	"    requests = requests + excluded.requests,"
	"    cache_hits = cache_hits + excluded.cache_hits,"
	"    attempts = attempts + excluded.attempts,"
	"    errors = errors + excluded.errors,"
	"    upstream_ms = upstream_ms + excluded.upstream_ms,"
	"    bytes_in = bytes_in + excluded.bytes_in,"
	"    bytes_out = bytes_out + excluded.bytes_out,"
	"    generated_tokens = generated_tokens + excluded.generated_tokens",
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
	size_t		 nsync;
	size_t		 qbytes;
	struct timespec	 first_at;	/* when the queue last became non-empty */
	int		 dropping;	/* queue full: logged once until it drains */
	struct dbw_touched touched[DBW_TOUCH_SLOTS];

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
cachedb_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cachedb_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The key's first 8 bytes as a signed integer: the rowid a lookup searches. */
static int64_t
cachedb_kid(const uint8_t key[CANON_KEY_LEN])
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | key[i];
	return (v > INT64_MAX ? -(int64_t)(UINT64_MAX - v) - 1 : (int64_t)v);
}

static int
cachedb_user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return (-1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return (rc == SQLITE_ROW ? 0 : -1);
}

/*
 * Brings the file to CACHEDB_VERSION. Several processes may open a new file at
 * once, so the version is read again under the write lock before migrating.
 */
static int
cachedb_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt	*st = NULL;
	char		 sql[64];
	int		 v, tables;

	if (cachedb_user_version(db, &v) == -1)
		goto sqlfail;
	if (v == CACHEDB_VERSION)
		return (0);
	if (v < CACHEDB_VERSION &&
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto sqlfail;
	if (v < CACHEDB_VERSION && cachedb_user_version(db, &v) == -1)
		goto sqlfail;
	if (v > CACHEDB_VERSION) {
		cachedb_seterr(err, errlen, "%s: cache schema version %d is newer "
		    "than this hfgate knows (%d); not using it", path, v,
		    CACHEDB_VERSION);
		goto fail;
	}
	if (v == 0) {
		/* Version 0 must be an empty file, not somebody else's database. */
		if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master",
		    -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
			goto sqlfail;
		tables = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		st = NULL;
		if (tables != 0) {
			cachedb_seterr(err, errlen, "%s: not an hfgate cache "
			    "(tables but no schema version)", path);
			goto fail;
		}
	}
	for (; v < CACHEDB_VERSION; v++)
		if (sqlite3_exec(db, cachedb_migrations[v], NULL, NULL, NULL) !=
		    SQLITE_OK)
			goto sqlfail;
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", CACHEDB_VERSION);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto sqlfail;
	return (0);

 sqlfail:
	cachedb_seterr(err, errlen, "%s: schema: %s", path, sqlite3_errmsg(db));
 fail:
	sqlite3_finalize(st);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
}

static pthread_once_t	 cachedb_once = PTHREAD_ONCE_INIT;

/*
 * SQLite's allocation statistics take a global mutex on every malloc, which the
 * loop threads' lookups would contend on. Only possible before SQLite starts.
 */
static void
cachedb_init(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_initialize();
}

/*
 * Opens path read-write (creating it), in WAL with 8 KiB pages (page_size must come
 * first: it cannot change once in WAL), applies the per-connection pragmas and the
 * schema. busy_ms is the connection's busy timeout afterwards.
 */
static int
cachedb_connect(const char *path, int busy_ms, sqlite3 **dbp, char *err,
    size_t errlen)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*st = NULL;
	const char	*mode;
	int		 rc;

	*dbp = NULL;
	pthread_once(&cachedb_once, cachedb_init);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		cachedb_seterr(err, errlen, "%s: %s", path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db, CACHEDB_OPEN_BUSY_MS);
	if (sqlite3_exec(db, "PRAGMA page_size=8192", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		goto sqlfail;
	mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		cachedb_seterr(err, errlen, "%s: cannot use WAL (journal mode %s)",
		    path, mode != NULL ? mode : "unknown");
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(db, cachedb_pragmas, NULL, NULL, NULL) != SQLITE_OK)
		goto sqlfail;
	if (cachedb_migrate(db, path, err, errlen) == -1)
		goto fail;
	sqlite3_busy_timeout(db, busy_ms);
	*dbp = db;
	return (0);

 sqlfail:
	cachedb_seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
 fail:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return (-1);
}

int
cachedb_open(const char *path, struct cachedb **dbp, char *err, size_t errlen)
{
	struct cachedb	*c;

	*dbp = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		cachedb_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (cachedb_connect(path, CACHEDB_READ_BUSY_MS, &c->db, err, errlen) == -1)
		goto fail;
	/* One statement each, prepared once; reset right after every use. */
	if (sqlite3_prepare_v3(c->db,
	    "SELECT status, ctype, kind, created, expires, data, key"
	    " FROM body WHERE kid = ?1",
	    -1, SQLITE_PREPARE_PERSISTENT, &c->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(c->db,
	    "SELECT (SELECT v FROM meta WHERE k = 'entries'),"
	    " (SELECT v FROM meta WHERE k = 'bytes')",
	    -1, SQLITE_PREPARE_PERSISTENT, &c->stats, NULL) != SQLITE_OK) {
		cachedb_seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(c->db));
		goto fail;
	}
	*dbp = c;
	return (0);
 fail:
	cachedb_close(c);
	return (-1);
}

void
cachedb_close(struct cachedb *c)
{
	if (c == NULL)
		return;
	sqlite3_finalize(c->get);
	sqlite3_finalize(c->stats);
	sqlite3_close(c->db);
	free(c);
}

/* Logs a reader failure once; BUSY is an ordinary miss and not logged. */
static void
cachedb_fail(struct cachedb *c, const char *what, int rc)
{
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED || c->warned)
		return;
	c->warned = 1;
	log_warnx("cache: %s: %s (serving without cache lookups while it lasts)",
	    what, sqlite3_errstr(rc));
}

int
cachedb_get(struct cachedb *c, const uint8_t key[CANON_KEY_LEN],
    struct cache_entry *e)
{
	const void	*data;
	const char	*ctype;
	int		 rc, rv = -1;

	memset(e, 0, sizeof(*e));
	if (c == NULL)
		return (-1);
	if ((rc = sqlite3_bind_int64(c->get, 1, cachedb_kid(key))) != SQLITE_OK) {
		cachedb_fail(c, "lookup", rc);
		return (-1);
	}
	rc = sqlite3_step(c->get);
	if (rc == SQLITE_DONE)
		rv = 0;
	else if (rc == SQLITE_ROW && (sqlite3_column_bytes(c->get, 6) !=
	    CANON_KEY_LEN || memcmp(sqlite3_column_blob(c->get, 6), key,
	    CANON_KEY_LEN) != 0))
		rv = 0;		/* another key with the same first 8 bytes */
	else if (rc == SQLITE_ROW) {
		e->status = sqlite3_column_int(c->get, 0);
		if ((ctype = (const char *)sqlite3_column_text(c->get, 1)) != NULL)
			snprintf(e->ctype, sizeof(e->ctype), "%s", ctype);
		e->kind = sqlite3_column_int(c->get, 2);
		e->created = sqlite3_column_int64(c->get, 3);
		e->expires = sqlite3_column_int64(c->get, 4);
		data = sqlite3_column_blob(c->get, 5);
		e->len = (size_t)sqlite3_column_bytes(c->get, 5);
		if ((e->body = malloc(e->len + 1)) != NULL) {
			if (e->len > 0)
				memcpy(e->body, data, e->len);
			e->body[e->len] = '\0';
			rv = 1;
		} else
			e->len = 0;
	} else
		cachedb_fail(c, "lookup", rc);
	/* Never keep the read snapshot: it would pin the WAL against checkpoints. */
	sqlite3_reset(c->get);
	if (rv == 1)
		c->warned = 0;
	return (rv);
}

int
cachedb_stats(struct cachedb *c, struct cache_stats *s)
{
	int	 rc, rv = -1;

	memset(s, 0, sizeof(*s));
	if (c == NULL)
		return (-1);
	if ((rc = sqlite3_step(c->stats)) == SQLITE_ROW) {
		s->entries = sqlite3_column_int64(c->stats, 0);
		s->bytes = sqlite3_column_int64(c->stats, 1);
		rv = 0;
	} else
		cachedb_fail(c, "stats", rc);
	sqlite3_reset(c->stats);
	return (rv);
}

/* The counters of a usage row, in column order after day, client, model, task. */
static const char *const cachedb_usage_counters[] = {
	"requests", "cache_hits", "attempts", "errors", "upstream_ms", "bytes_in",
	"bytes_out", "generated_tokens"
};
#define CACHEDB_USAGE_NCOUNTERS \
	(sizeof(cachedb_usage_counters) / sizeof(cachedb_usage_counters[0]))

/* An admin read is rare and asked for: every failure is logged, BUSY included. */
static void
cachedb_usage_fail(int rc)
{
	log_warnx("usage: read: %s", sqlite3_errstr(rc));
}

/* Binds text, or NULL for a NULL or empty string. */
static int
cachedb_bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL || *v == '\0')
		return (sqlite3_bind_null(st, i));
	return (sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC));
}

/* Adds "name": v, or null for NULL or "". 0 or -1. */
static int
cachedb_json_opt(cJSON *o, const char *name, const char *v)
{
	if (v == NULL || *v == '\0')
		return (cJSON_AddNullToObject(o, name) != NULL ? 0 : -1);
	return (cJSON_AddStringToObject(o, name, v) != NULL ? 0 : -1);
}

/* The counters (doubles are exact up to 2^53: far beyond any real count). */
static int
cachedb_json_counters(cJSON *o, const uint64_t v[CACHEDB_USAGE_NCOUNTERS])
{
	size_t	 i;

	for (i = 0; i < CACHEDB_USAGE_NCOUNTERS; i++)
		if (cJSON_AddNumberToObject(o, cachedb_usage_counters[i],
		    (double)v[i]) == NULL)
			return (-1);
	return (0);
}

int
cachedb_usage_json(struct cachedb *c, const char *from, const char *to,
    const char *client, char **json)
{
	sqlite3_stmt	*st = NULL;
	cJSON		*root = NULL, *rows, *row, *totals;
	uint64_t	 v[CACHEDB_USAGE_NCOUNTERS], sum[CACHEDB_USAGE_NCOUNTERS];
	const char	*t;
	size_t		 i;
	int		 rc;

	*json = NULL;
	if (c == NULL)
		return (-1);
	memset(sum, 0, sizeof(sum));
	/* YYYY-MM-DD compares as text in date order. */
	if (sqlite3_prepare_v2(c->db,
	    "SELECT day, client, model, task, requests, cache_hits, attempts, errors,"
	    " upstream_ms, bytes_in, bytes_out, generated_tokens FROM usage"
	    " WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day <= ?2)"
	    " AND (?3 IS NULL OR client = ?3)"
	    " ORDER BY day, client, model, task", -1, &st, NULL) != SQLITE_OK) {
		rc = sqlite3_errcode(c->db);
		goto sqlfail;
	}
	if ((rc = cachedb_bind_opt(st, 1, from)) != SQLITE_OK ||
	    (rc = cachedb_bind_opt(st, 2, to)) != SQLITE_OK ||
	    (rc = cachedb_bind_opt(st, 3, client)) != SQLITE_OK)
		goto sqlfail;
	if ((root = cJSON_CreateObject()) == NULL ||
	    cachedb_json_opt(root, "from", from) == -1 ||
	    cachedb_json_opt(root, "to", to) == -1 ||
	    cachedb_json_opt(root, "client", client) == -1 ||
	    (rows = cJSON_AddArrayToObject(root, "rows")) == NULL)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((row = cJSON_CreateObject()) == NULL)
			goto fail;
		if (!cJSON_AddItemToArray(rows, row)) {
			cJSON_Delete(row);
			goto fail;
		}
		for (i = 0; i < 4; i++) {
			t = (const char *)sqlite3_column_text(st, (int)i);
			if (cJSON_AddStringToObject(row, sqlite3_column_name(st, (int)i),
			    t != NULL ? t : "") == NULL)
				goto fail;
		}
		for (i = 0; i < CACHEDB_USAGE_NCOUNTERS; i++) {
			v[i] = (uint64_t)sqlite3_column_int64(st, (int)i + 4);
			sum[i] += v[i];
		}
		if (cachedb_json_counters(row, v) == -1)
			goto fail;
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	if ((totals = cJSON_AddObjectToObject(root, "totals")) == NULL ||
	    cachedb_json_counters(totals, sum) == -1 ||
	    (*json = cJSON_PrintUnformatted(root)) == NULL)
		goto fail;
	sqlite3_finalize(st);
	cJSON_Delete(root);
	return (0);

 sqlfail:
	cachedb_usage_fail(rc);
 fail:
	sqlite3_finalize(st);
	cJSON_Delete(root);
	return (-1);
}

int
cachedb_usage_day(struct cachedb *c, const char *day,
    void (*cb)(const char *, uint64_t, void *), void *arg)
{
	sqlite3_stmt	*st = NULL;
	const char	*client;
	int		 rc;

	if (c == NULL)
		return (-1);
	if (sqlite3_prepare_v2(c->db, "SELECT client, sum(requests) FROM usage"
	    " WHERE day = ?1 GROUP BY client ORDER BY client", -1, &st, NULL) !=
	    SQLITE_OK) {
		cachedb_usage_fail(sqlite3_errcode(c->db));
		return (-1);
	}
	if ((rc = sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC)) == SQLITE_OK)
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if ((client = (const char *)sqlite3_column_text(st, 0)) != NULL)
				cb(client, (uint64_t)sqlite3_column_int64(st, 1), arg);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		cachedb_usage_fail(rc);
		return (-1);
	}
	return (0);
}

void
cache_entry_free(struct cache_entry *e)
{
	if (e == NULL)
		return;
	free(e->body);
	e->body = NULL;
	e->len = 0;
}

/* ---- the writer ---- */

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

/* Bumped after every commit that stored or deleted entries: readers' copies made
   before it may be stale (cachedb_generation). */
static uint64_t	dbw_generation;

uint64_t
cachedb_generation(void)
{
	return (__atomic_load_n(&dbw_generation, __ATOMIC_ACQUIRE));
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
				__atomic_add_fetch(&dbw_generation, 1, __ATOMIC_RELEASE);
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
	pthread_mutex_lock(&dbw.mtx);
	for (op = ops; op != NULL; op = next) {
		next = op->next;
		if (op->type == DBW_SYNC) {
			op->result = ok && clean ? 0 : -1;
			op->done = 1;
		} else
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
		if (op->type == DBW_SYNC)
			dbw.nsync--;
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
		/* Let a batch gather unless it is full or somebody waits for it. */
		gather = dbw.first_at;
		dbw_add_ms(&gather, DBW_BATCH_MS);
		while (dbw.head != NULL && !dbw.stopping && dbw.nsync == 0 &&
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
	dbw.nops = dbw.nsync = dbw.qbytes = 0;
	dbw.dropping = dbw.stopping = 0;
	memset(dbw.touched, 0, sizeof(dbw.touched));
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
			/* Wake the writer only when it has a reason to act. */
			if (dbw.nops == 1 || dbw.nops == DBW_BATCH_OPS)
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
	dbw.nsync++;
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
