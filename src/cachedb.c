/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cachedb.c: the shared SQLite result cache, its read side and what every connection
 * shares: the schema and its migrations, opening a connection with its pragmas, the
 * write generation. Reads run inline on each loop thread on its own connection; every
 * write goes to the one writer thread (dbw.c).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <sqlite3.h>

#include "cachedb.h"
#include "log.h"

#define CACHEDB_VERSION		3	/* PRAGMA user_version of the schema below */
#define CACHEDB_READ_BUSY_MS	10	/* a reader that waits longer counts a miss */
#define CACHEDB_OPEN_BUSY_MS	5000	/* creation or migration by another process */

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
 * touch them. Version 3 adds usage.prompt_tokens (OpenAI answers' usage).
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
	/* OpenAI answers count their prompt too. */
	"ALTER TABLE usage ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;",
};

struct cachedb {
	sqlite3		*db;
	sqlite3_stmt	*get;
	sqlite3_stmt	*stats;
	int		 warned;	/* an error was logged; quiet until success */
};

void
cachedb_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int64_t
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
 * The file holds the clients' answers and usage, for hfgate's user only: a new file is
 * created 0600, in a directory created 0700 when missing, whatever the umask; SQLite
 * gives its -wal and -shm files the file's mode. What exists keeps its mode (an
 * operator may share a file on purpose). 0, or -1 with err.
 */
static int
cachedb_create(const char *path, char *err, size_t errlen)
{
	char	*dir, *slash;
	int	 fd, rc = -1;

	if (*path == '\0' || strcmp(path, ":memory:") == 0)
		return (0);
	if ((dir = strdup(path)) == NULL) {
		cachedb_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) == 0)
			(void)chmod(dir, 0700);
		else if (errno != EEXIST) {
			cachedb_seterr(err, errlen, "%s: cannot create its directory: %s",
			    path, strerror(errno));
			goto out;
		}
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) != -1) {
		(void)fchmod(fd, 0600);
		close(fd);
	} else if (errno != EEXIST) {
		cachedb_seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(dir);
	return (rc);
}

int
cachedb_connect(const char *path, int busy_ms, sqlite3 **dbp, char *err,
    size_t errlen)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*st = NULL;
	const char	*mode;
	int		 rc;

	*dbp = NULL;
	pthread_once(&cachedb_once, cachedb_init);
	if (cachedb_create(path, err, errlen) == -1)
		return (-1);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		cachedb_seterr(err, errlen, "%s: %s", path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db, CACHEDB_OPEN_BUSY_MS);
	/* page_size first: it cannot change once the file is in WAL. */
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
	"bytes_out", "generated_tokens", "prompt_tokens"
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
	    " upstream_ms, bytes_in, bytes_out, generated_tokens, prompt_tokens FROM usage"
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
    void (*cb)(const char *, uint64_t, uint64_t, void *), void *arg)
{
	sqlite3_stmt	*st = NULL;
	const char	*client;
	int		 rc;

	if (c == NULL)
		return (-1);
	if (sqlite3_prepare_v2(c->db, "SELECT client, sum(requests),"
	    " sum(generated_tokens + prompt_tokens) FROM usage WHERE day = ?1"
	    " GROUP BY client"
	    " ORDER BY client", -1, &st, NULL) !=
	    SQLITE_OK) {
		cachedb_usage_fail(sqlite3_errcode(c->db));
		return (-1);
	}
	if ((rc = sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC)) == SQLITE_OK)
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if ((client = (const char *)sqlite3_column_text(st, 0)) != NULL)
				cb(client, (uint64_t)sqlite3_column_int64(st, 1),
				    (uint64_t)sqlite3_column_int64(st, 2), arg);
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

/* Bumped by the writer after every commit that stored or deleted entries: readers'
   copies made before it may be stale. */
static uint64_t	cachedb_gen;

uint64_t
cachedb_generation(void)
{
	return (__atomic_load_n(&cachedb_gen, __ATOMIC_ACQUIRE));
}

void
cachedb_bump_generation(void)
{
	__atomic_add_fetch(&cachedb_gen, 1, __ATOMIC_RELEASE);
}

const char *
cachedb_lib_version(void)
{
	return (sqlite3_libversion());
}
