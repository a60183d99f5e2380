/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for cachedb.c on a temporary file. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cJSON.h>
#include <sqlite3.h>

#include "cachedb.h"
#include "canon.h"
#include "check_main.h"
#include "dbw.h"
#include "usage.h"

#define BIG	((int64_t)1 << 40)

static char	 dir[64];
static char	 path[128];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_cachedb.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cache.db", dir);
}

static void
teardown(void)
{
	char	 p[160];

	dbw_stop();
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	rmdir(dir);
}

static void
mkkey(unsigned n, uint8_t key[CANON_KEY_LEN])
{
	size_t	 i;

	for (i = 0; i < CANON_KEY_LEN; i++)
		key[i] = (uint8_t)(n >> (8 * (i % 4))) ^ (uint8_t)(i * 31);
}

static int64_t
now_s(void)
{
	return ((int64_t)time(NULL));
}

static double
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
}

/* An integer from a query run on a separate plain connection. */
static int64_t
sql_int(const char *sql)
{
	sqlite3		*db;
	sqlite3_stmt	*st;
	int64_t		 v;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return (v);
}

static void
start(int64_t max)
{
	char	 err[256] = "";

	ck_assert_msg(dbw_start(path, max, err, sizeof(err)) == 0, "%s", err);
}

static struct cachedb *
open_reader(void)
{
	struct cachedb	*c;
	char		 err[256] = "";

	ck_assert_msg(cachedb_open(path, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(c);
	return (c);
}

/* 1 when key n is there, 0 when not (a failed lookup fails the test). */
static int
has(struct cachedb *c, unsigned n)
{
	struct cache_entry	 e;
	uint8_t			 k[CANON_KEY_LEN];
	int			 r;

	mkkey(n, k);
	r = cachedb_get(c, k, &e);
	ck_assert_int_ge(r, 0);
	cache_entry_free(&e);
	return (r);
}

START_TEST(test_roundtrip)
{
	struct cachedb		*c;
	struct cache_entry	 e;
	struct cache_stats	 s;
	uint8_t			 k1[CANON_KEY_LEN], k2[CANON_KEY_LEN];
	char			 body[3000];
	int64_t			 t0, t1;
	size_t			 i;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 7);	/* NUL bytes included */
	mkkey(1, k1);
	mkkey(2, k2);
	start(BIG);
	c = open_reader();
	t0 = now_s();
	dbw_put(k1, "org/model", 200, "application/json", 0, body, sizeof(body),
	    t0 + 3600);
	dbw_put(k2, NULL, 203, "text/event-stream", 1, "data: x\n\n", 9,
	    t0 + 60);
	ck_assert_int_eq(dbw_sync(), 0);
	t1 = now_s();

	ck_assert_int_eq(cachedb_get(c, k1, &e), 1);
	ck_assert_int_eq(e.status, 200);
	ck_assert_str_eq(e.ctype, "application/json");
	ck_assert_int_eq(e.kind, 0);
	ck_assert_uint_eq(e.len, sizeof(body));
	ck_assert(memcmp(e.body, body, sizeof(body)) == 0);
	ck_assert_int_eq(e.body[e.len], '\0');
	ck_assert_int_ge(e.created, t0);
	ck_assert_int_le(e.created, t1);
	ck_assert_int_eq(e.expires, t0 + 3600);
	cache_entry_free(&e);
	ck_assert_ptr_null(e.body);

	ck_assert_int_eq(cachedb_get(c, k2, &e), 1);
	ck_assert_int_eq(e.status, 203);
	ck_assert_str_eq(e.ctype, "text/event-stream");
	ck_assert_int_eq(e.kind, 1);
	ck_assert_uint_eq(e.len, 9);
	ck_assert_str_eq(e.body, "data: x\n\n");
	cache_entry_free(&e);

	/* A put replaces; the totals follow. */
	dbw_put(k1, "org/model", 200, "text/plain", 0, "", 0, t0 + 10);
	ck_assert_int_eq(dbw_sync(), 0);
	ck_assert_int_eq(cachedb_get(c, k1, &e), 1);
	ck_assert_uint_eq(e.len, 0);
	ck_assert_str_eq(e.body, "");
	ck_assert_str_eq(e.ctype, "text/plain");
	ck_assert_int_eq(e.expires, t0 + 10);
	cache_entry_free(&e);
	ck_assert_int_eq(cachedb_stats(c, &s), 0);
	ck_assert_int_eq(s.entries, 2);
	ck_assert_int_eq(s.bytes, 9 + 2 * CACHEDB_ROW_OVERHEAD);

	/* Missing key. */
	mkkey(3, k1);
	ck_assert_int_eq(cachedb_get(c, k1, &e), 0);
	ck_assert_ptr_null(e.body);
	cache_entry_free(&e);
	cache_entry_free(NULL);

	/* Keys that share their first 8 bytes: one slot, the later put wins. */
	{
		uint8_t	 a[CANON_KEY_LEN], b[CANON_KEY_LEN];

		memset(a, 0x11, sizeof(a));
		memcpy(b, a, sizeof(b));
		b[CANON_KEY_LEN - 1] = 0x12;
		dbw_put(a, NULL, 200, "text/plain", 0, "A", 1, t0 + 60);
		ck_assert_int_eq(dbw_sync(), 0);
		ck_assert_int_eq(cachedb_get(c, a, &e), 1);
		ck_assert_str_eq(e.body, "A");
		cache_entry_free(&e);
		ck_assert_int_eq(cachedb_get(c, b, &e), 0);
		dbw_put(b, NULL, 200, "text/plain", 0, "B", 1, t0 + 60);
		ck_assert_int_eq(dbw_sync(), 0);
		ck_assert_int_eq(cachedb_get(c, a, &e), 0);
		ck_assert_int_eq(cachedb_get(c, b, &e), 1);
		ck_assert_str_eq(e.body, "B");
		cache_entry_free(&e);
		ck_assert_int_eq(cachedb_stats(c, &s), 0);
		ck_assert_int_eq(s.entries, 3);
		dbw_delete(NULL);
		dbw_put(k2, NULL, 203, "text/event-stream", 1, "data: x\n\n", 9,
		    t0 + 60);
		ck_assert_int_eq(dbw_sync(), 0);
	}

	/* A Content-Type that would not come back whole is not stored. */
	{
		char	 ct[200];

		memset(ct, 'a', sizeof(ct) - 1);
		ct[sizeof(ct) - 1] = '\0';
		dbw_put(k1, NULL, 200, ct, 0, "x", 1, t0 + 10);
		ck_assert_int_eq(dbw_sync(), 0);
		ck_assert_int_eq(cachedb_get(c, k1, &e), 0);
	}
	cachedb_close(c);
	cachedb_close(NULL);
	dbw_stop();

	/* The file: schema version, WAL, 8 KiB pages, consistent. */
	ck_assert_int_eq(sql_int("PRAGMA user_version"), 3);
	ck_assert_int_eq(sql_int("PRAGMA page_size"), 8192);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM body"), 1);
	ck_assert_int_eq(sql_int("SELECT sum(size) FROM entry"), 9 + CACHEDB_ROW_OVERHEAD);
	{
		sqlite3		*db;
		sqlite3_stmt	*st;

		ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode",
		    -1, &st, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
		sqlite3_finalize(st);
		ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check",
		    -1, &st, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	/* Reopening an existing file keeps its entries. */
	c = open_reader();
	ck_assert_int_eq(has(c, 2), 1);
	cachedb_close(c);
}
END_TEST

/* Waits (bounded) until key n is gone; returns whether it is. */
static int
wait_gone(struct cachedb *c, unsigned n)
{
	double	 deadline = now_ms() + 3000;
	int	 r;

	while ((r = has(c, n)) == 1 && now_ms() < deadline)
		usleep(10000);
	return (r == 0);
}

START_TEST(test_expired)
{
	struct cachedb		*c;
	struct cache_entry	 e;
	uint8_t			 k[CANON_KEY_LEN];
	int64_t			 t = now_s();

	dbw_set_stale_window(3600);
	start(BIG);
	c = open_reader();
	mkkey(7, k);
	dbw_put(k, "m", 200, "application/json", 0, "[1]", 3, t - 10);
	mkkey(8, k);
	dbw_put(k, "m", 200, "application/json", 0, "[2]", 3, t + 3600);
	mkkey(9, k);
	dbw_put(k, "m", 200, "application/json", 0, "[3]", 3, t - 7200);
	ck_assert_int_eq(dbw_sync(), 0);
	/* Stale entries are still returned, with their expiry, for stale-if-error. */
	mkkey(7, k);
	ck_assert_int_eq(cachedb_get(c, k, &e), 1);
	ck_assert_int_eq(e.expires, t - 10);
	ck_assert_str_eq(e.body, "[1]");
	cache_entry_free(&e);

	/*
	 * The writer purges in the background (at start, then periodically) what
	 * expired before the stale window: 9, but not 7.
	 */
	dbw_stop();
	start(BIG);
	ck_assert(wait_gone(c, 9));
	ck_assert_int_eq(has(c, 7), 1);
	ck_assert_int_eq(has(c, 8), 1);
	/* Without a window, expired means purged. */
	dbw_set_stale_window(0);
	dbw_stop();
	start(BIG);
	ck_assert(wait_gone(c, 7));
	ck_assert_int_eq(has(c, 8), 1);
	cachedb_close(c);
}
END_TEST

START_TEST(test_eviction)
{
	struct cachedb		*c;
	struct cache_stats	 s;
	uint8_t			 k[CANON_KEY_LEN];
	char			 body[1024];
	const int64_t		 max = 512 * 1024;
	int64_t			 t = now_s();
	unsigned		 i;

	memset(body, 'b', sizeof(body));
	start(max);
	c = open_reader();
	for (i = 0; i < 1000; i++) {
		mkkey(i, k);
		dbw_put(k, "m", 200, "application/json", 0, body, sizeof(body),
		    t + 3600);
		if (i % 100 == 99) {
			ck_assert_int_eq(dbw_sync(), 0);
			ck_assert_int_eq(cachedb_stats(c, &s), 0);
			ck_assert_int_le(s.bytes, max);
			ck_assert_int_eq(s.bytes, s.entries *
			    (int64_t)(sizeof(body) + CACHEDB_ROW_OVERHEAD));
		}
		if (i == 99) {
			/* A recent hit protects entry 5 from the LRU. */
			mkkey(5, k);
			dbw_touch(k, t + 120);
		}
	}
	ck_assert_int_eq(dbw_sync(), 0);
	ck_assert_int_eq(cachedb_stats(c, &s), 0);
	ck_assert_int_le(s.bytes, max);
	/* Only as many entries as needed were evicted. */
	ck_assert_int_gt(s.bytes, max - (int64_t)(sizeof(body) + CACHEDB_ROW_OVERHEAD));
	ck_assert_int_eq(has(c, 999), 1);
	ck_assert_int_eq(has(c, 5), 1);
	ck_assert_int_eq(has(c, 0), 0);
	ck_assert_int_eq(has(c, 6), 0);
	cachedb_close(c);
	dbw_stop();
	/* meta matches the tables. */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM entry"), s.entries);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM body"), s.entries);
	ck_assert_int_eq(sql_int("SELECT sum(length(data)) FROM body") +
	    s.entries * CACHEDB_ROW_OVERHEAD, s.bytes);

	/* A lower cap at start is enforced at once. */
	start(100 * 1024);
	c = open_reader();
	ck_assert_int_eq(dbw_sync(), 0);
	{
		double	 deadline = now_ms() + 3000;

		do {
			ck_assert_int_eq(cachedb_stats(c, &s), 0);
		} while (s.bytes > 100 * 1024 && now_ms() < deadline &&
		    usleep(10000) == 0);
	}
	ck_assert_int_le(s.bytes, 100 * 1024);
	ck_assert_int_gt(s.bytes, 100 * 1024 - (int64_t)(sizeof(body) + CACHEDB_ROW_OVERHEAD));
	ck_assert_int_eq(has(c, 999), 1);
	ck_assert_int_eq(has(c, 899), 0);
	cachedb_close(c);
}
END_TEST

START_TEST(test_delete)
{
	struct cachedb		*c;
	struct cache_stats	 s;
	uint8_t			 k[CANON_KEY_LEN];
	unsigned		 i;
	static const char	*models[] = { "a", "a", "a", "b", "b", NULL };

	start(BIG);
	c = open_reader();
	for (i = 0; i < 6; i++) {
		mkkey(i, k);
		dbw_put(k, models[i], 200, "application/json", 0, "{}", 2,
		    now_s() + 3600);
	}
	ck_assert_int_eq(dbw_sync(), 0);
	dbw_delete("a");
	ck_assert_int_eq(dbw_sync(), 0);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(has(c, i), i >= 3);
	ck_assert_int_eq(cachedb_stats(c, &s), 0);
	ck_assert_int_eq(s.entries, 3);
	ck_assert_int_eq(s.bytes, 6 + 3 * CACHEDB_ROW_OVERHEAD);
	dbw_delete("nope");
	dbw_delete(NULL);
	ck_assert_int_eq(dbw_sync(), 0);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(has(c, i), 0);
	ck_assert_int_eq(cachedb_stats(c, &s), 0);
	ck_assert_int_eq(s.entries, 0);
	ck_assert_int_eq(s.bytes, 0);
	cachedb_close(c);
	dbw_stop();
	ck_assert_int_eq(sql_int("SELECT count(*) FROM body"), 0);
}
END_TEST

/* dbw_pending for key n: 1 (body checked against want when not NULL) or 0. */
static int
pending(unsigned n, const char *want)
{
	struct cache_entry	 e;
	uint8_t			 k[CANON_KEY_LEN];
	int			 r;

	mkkey(n, k);
	r = dbw_pending(k, &e);
	ck_assert_int_ge(r, 0);
	if (r == 1 && want != NULL) {
		ck_assert_uint_eq(e.len, strlen(want));
		ck_assert_str_eq(e.body, want);
	}
	cache_entry_free(&e);
	return (r);
}

START_TEST(test_pending)
{
	struct cachedb		*c;
	struct cache_entry	 e;
	uint8_t			 k[CANON_KEY_LEN];
	uint32_t		 mark;
	int64_t			 t = now_s();
	double			 until;
	unsigned		 i, left;

	start(BIG);
	c = open_reader();
	/* Found from the store on, with everything a look-up returns. */
	mkkey(1, k);
	mark = dbw_pending_mark(k);
	dbw_put(k, "m", 203, "text/event-stream", 1, "data: a\n\n", 9, t + 60);
	ck_assert_uint_ne(dbw_pending_mark(k), mark);
	ck_assert_int_eq(dbw_pending(k, &e), 1);
	ck_assert_int_eq(e.status, 203);
	ck_assert_str_eq(e.ctype, "text/event-stream");
	ck_assert_int_eq(e.kind, 1);
	ck_assert_int_ge(e.created, t);
	ck_assert_int_eq(e.expires, t + 60);
	ck_assert_str_eq(e.body, "data: a\n\n");
	cache_entry_free(&e);
	ck_assert_int_eq(pending(2, NULL), 0);
	/* The newest store of a key wins; committed, it is read from the file. */
	dbw_put(k, "m", 200, "application/json", 0, "[2]", 3, t + 60);
	ck_assert_int_eq(pending(1, "[2]"), 1);
	ck_assert_int_eq(dbw_sync(), 0);
	ck_assert_int_eq(pending(1, NULL), 0);
	ck_assert_int_eq(cachedb_get(c, k, &e), 1);
	ck_assert_str_eq(e.body, "[2]");
	cache_entry_free(&e);

	/* A deletion hides the stores queued before it, by model or all. */
	for (i = 10; i < 14; i++) {
		mkkey(i, k);
		dbw_put(k, i < 12 ? "a" : NULL, 200, "text/plain", 0, "x", 1, t + 60);
	}
	dbw_delete("a");
	ck_assert_int_eq(pending(10, NULL) + pending(11, NULL), 0);
	ck_assert_int_eq(pending(12, "x") + pending(13, "x"), 2);
	mkkey(14, k);
	dbw_delete(NULL);
	dbw_put(k, "a", 200, "text/plain", 0, "y", 1, t + 60);
	ck_assert_int_eq(pending(12, NULL) + pending(13, NULL), 0);
	ck_assert_int_eq(pending(14, "y"), 1);
	ck_assert_int_eq(dbw_sync(), 0);
	for (i = 10; i < 14; i++)
		ck_assert_int_eq(has(c, i), 0);
	ck_assert_int_eq(has(c, 14), 1);

	/* Read your writes: from dbw_put on, a store is pending or in the file, at
	   every moment, until it is in the file. */
	for (i = 100; i < 164; i++) {
		mkkey(i, k);
		dbw_put(k, "m", 200, "text/plain", 0, "z", 1, t + 60);
	}
	until = now_ms() + 5000;
	do {
		left = 0;
		for (i = 100; i < 164; i++) {
			if (pending(i, "z"))
				left++;
			else
				ck_assert_msg(has(c, i), "store %u neither pending nor read", i);
		}
	} while (left > 0 && now_ms() < until);
	ck_assert_uint_eq(left, 0);
	cachedb_close(c);
	dbw_stop();
}
END_TEST

/* The child's side of test_two_processes; exits 0 when all went as expected. */
static void
child(int rfd, int wfd)
{
	struct cachedb	*c;
	uint8_t		 k[CANON_KEY_LEN];
	char		 err[256], ch;
	int		 ok = 0;

	if (dbw_start(path, BIG, err, sizeof(err)) == -1 ||
	    cachedb_open(path, &c, err, sizeof(err)) == -1)
		_exit(2);
	mkkey(100, k);
	dbw_put(k, "m", 200, "text/plain", 0, "child", 5, now_s() + 3600);
	if (dbw_sync() == 0 && write(wfd, "1", 1) == 1 &&
	    read(rfd, &ch, 1) == 1) {
		/* The parent has written key 101. */
		ok = has(c, 101) == 1 && has(c, 100) == 1;
	}
	cachedb_close(c);
	dbw_stop();
	_exit(ok ? 0 : 1);
}

START_TEST(test_two_processes)
{
	struct cachedb	*c1, *c2;
	uint8_t		 k[CANON_KEY_LEN];
	int		 up[2], down[2], status;
	pid_t		 pid;
	char		 ch;

	/* Fork before this process opens anything: no SQLite state across fork. */
	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		child(down[0], up[1]);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read(up[0], &ch, 1), 1);

	/* The child's writer and reader are still open while this one works. */
	start(BIG);
	c1 = open_reader();
	c2 = open_reader();
	ck_assert_int_eq(has(c1, 100), 1);
	mkkey(101, k);
	dbw_put(k, "m", 200, "text/plain", 0, "parent", 6, now_s() + 3600);
	ck_assert_int_eq(dbw_sync(), 0);
	ck_assert_int_eq(has(c1, 101), 1);
	ck_assert_int_eq(has(c2, 101), 1);
	ck_assert_int_eq(has(c2, 100), 1);
	ck_assert_int_eq(write(down[1], "1", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	cachedb_close(c1);
	cachedb_close(c2);
	close(up[0]);
	close(down[1]);
}
END_TEST

static void
write_file(const char *p, const void *data, size_t len)
{
	int	 fd;

	ck_assert_int_ne(fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600), -1);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

START_TEST(test_corrupt)
{
	struct cachedb	*c = (struct cachedb *)&c;
	char		 junk[65536], err[256];
	size_t		 i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 17);
	write_file(path, junk, sizeof(junk));
	err[0] = '\0';
	ck_assert_int_eq(cachedb_open(path, &c, err, sizeof(err)), -1);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, path) != NULL, "err: %s", err);
	err[0] = '\0';
	ck_assert_int_eq(dbw_start(path, BIG, err, sizeof(err)), -1);
	ck_assert_msg(err[0] != '\0', "no error text");
	/* Without a writer every call is a harmless no-op. */
	dbw_put((const uint8_t *)junk, "m", 200, "x", 0, "x", 1, 0);
	dbw_touch((const uint8_t *)junk, 1);
	dbw_delete(NULL);
	ck_assert_int_eq(dbw_sync(), -1);
	dbw_stop();
	/* The garbage was not overwritten. */
	{
		char	 back[sizeof(junk)];
		int	 fd;

		ck_assert_int_ne(fd = open(path, O_RDONLY), -1);
		ck_assert_int_eq(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
		close(fd);
		ck_assert(memcmp(back, junk, sizeof(junk)) == 0);
	}
}
END_TEST

START_TEST(test_schema_versions)
{
	struct cachedb	*c;
	sqlite3		*db;
	char		 err[256] = "";

	/* A newer schema is refused, clearly. */
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE x(a); PRAGMA user_version=4",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(cachedb_open(path, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "newer") != NULL, "err: %s", err);
	ck_assert_int_eq(dbw_start(path, BIG, err, sizeof(err)), -1);
	ck_assert_int_eq(sql_int("PRAGMA user_version"), 4);

	/* Someone else's database (tables, no version) is not taken over. */
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version=0", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(cachedb_open(path, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not an hfgate cache") != NULL, "err: %s", err);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master"), 1);

	/* An empty file (version 0) is migrated. */
	teardown();
	setup();
	write_file(path, "", 0);
	c = open_reader();
	ck_assert_int_eq(sql_int("PRAGMA user_version"), 3);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM usage"), 0);
	cachedb_close(c);
}
END_TEST

/*
 * The version-1 schema as hfgate 0.x wrote it: frozen here, so that the migration
 * is tested from what old files really hold, whatever the migrations become.
 */
static const char v1_schema[] =
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
	"END;"
	"PRAGMA user_version=1;";

/* key's first 8 bytes as a signed big-endian integer: how version 1 keys rows. */
static int64_t
v1_kid(const uint8_t key[CANON_KEY_LEN])
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | key[i];
	return ((int64_t)v);
}

START_TEST(test_migrate_v1)
{
	struct cachedb		*c;
	struct cache_entry	 e;
	struct cache_stats	 s;
	sqlite3			*db;
	sqlite3_stmt		*st;
	uint8_t			 k[CANON_KEY_LEN];
	int64_t			 t = now_s();
	char			*json = NULL;

	/* A version-1 file with one entry, in WAL like every cache file. */
	mkkey(3, k);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA page_size=8192;"
	    "PRAGMA journal_mode=WAL", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO entry(kid, model, size,"
	    " expires, last_access) VALUES(?1, 'm', 259, ?2, ?3)", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, v1_kid(k));
	sqlite3_bind_int64(st, 2, t + 3600);
	sqlite3_bind_int64(st, 3, t);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO body(kid, key, status,"
	    " ctype, kind, created, expires, data) VALUES(?1, ?2, 200,"
	    " 'application/json', 0, ?3, ?4, '[1]')", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, v1_kid(k));
	sqlite3_bind_blob(st, 2, k, CANON_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, t);
	sqlite3_bind_int64(st, 4, t + 3600);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	ck_assert_int_eq(sql_int("PRAGMA user_version"), 1);

	/* Opening migrates it; its entry is still served and counted. */
	c = open_reader();
	ck_assert_int_eq(sql_int("PRAGMA user_version"), 3);
	ck_assert_int_eq(cachedb_get(c, k, &e), 1);
	ck_assert_str_eq(e.body, "[1]");
	ck_assert_int_eq(e.expires, t + 3600);
	cache_entry_free(&e);
	ck_assert_int_eq(cachedb_stats(c, &s), 0);
	ck_assert_int_eq(s.entries, 1);
	ck_assert_int_eq(s.bytes, 259);
	ck_assert_int_eq(cachedb_usage_json(c, NULL, NULL, NULL, &json), 0);
	ck_assert_str_eq(json, "{\"from\":null,\"to\":null,\"client\":null,"
	    "\"rows\":[],\"totals\":{\"requests\":0,\"cache_hits\":0,"
	    "\"attempts\":0,\"errors\":0,\"upstream_ms\":0,\"bytes_in\":0,"
	    "\"bytes_out\":0,\"generated_tokens\":0,\"prompt_tokens\":0}}");
	free(json);

	/* The writer takes the migrated file and counts usage in it. */
	start(BIG);
	{
		struct usage_row r;

		memset(&r, 0, sizeof(r));
		snprintf(r.day, sizeof(r.day), "2024-01-02");
		snprintf(r.client, sizeof(r.client), "-");
		snprintf(r.model, sizeof(r.model), "m");
		snprintf(r.task, sizeof(r.task), "-");
		r.requests = 1;
		dbw_usage(&r, 1);
	}
	ck_assert_int_eq(dbw_sync(), 0);
	ck_assert_int_eq(sql_int("SELECT requests FROM usage WHERE model = 'm'"), 1);
	ck_assert_int_eq(has(c, 3), 1);
	cachedb_close(c);
}
END_TEST

/* A usage row with its counters derived from base: requests base, cache_hits
   base + 1, ..., generated_tokens base + 7, prompt_tokens base + 8. */
static struct usage_row
urow(const char *day, const char *client, const char *model, const char *task,
    uint64_t base)
{
	struct usage_row	 r;

	memset(&r, 0, sizeof(r));
	snprintf(r.day, sizeof(r.day), "%s", day);
	snprintf(r.client, sizeof(r.client), "%s", client);
	snprintf(r.model, sizeof(r.model), "%s", model);
	snprintf(r.task, sizeof(r.task), "%s", task);
	r.requests = base;
	r.cache_hits = base + 1;
	r.attempts = base + 2;
	r.errors = base + 3;
	r.upstream_ms = base + 4;
	r.bytes_in = base + 5;
	r.bytes_out = base + 6;
	r.generated_tokens = base + 7;
	r.prompt_tokens = base + 8;
	return (r);
}

static const char *const ucounters[] = { "requests", "cache_hits", "attempts",
    "errors", "upstream_ms", "bytes_in", "bytes_out", "generated_tokens",
    "prompt_tokens" };

/* cachedb_usage_json's answer, parsed (the caller frees it). */
static cJSON *
db_usage_query(struct cachedb *c, const char *from, const char *to, const char *client)
{
	cJSON	*o;
	char	*json;

	ck_assert_int_eq(cachedb_usage_json(c, from, to, client, &json), 0);
	ck_assert_ptr_nonnull(o = cJSON_Parse(json));
	free(json);
	return (o);
}

/* Checks row i of o: its key, and counters base + 0..7. */
static void
check_row(const cJSON *o, int i, const char *day, const char *client,
    const char *model, const char *task, uint64_t base)
{
	const cJSON	*r = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "rows"), i);
	size_t		 j;

	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(cJSON_GetObjectItem(r, "day")->valuestring, day);
	ck_assert_str_eq(cJSON_GetObjectItem(r, "client")->valuestring, client);
	ck_assert_str_eq(cJSON_GetObjectItem(r, "model")->valuestring, model);
	ck_assert_str_eq(cJSON_GetObjectItem(r, "task")->valuestring, task);
	for (j = 0; j < 8; j++)
		ck_assert_msg(cJSON_GetObjectItem(r, ucounters[j])->valuedouble ==
		    (double)(base + j), "row %d %s: %g, want %llu", i, ucounters[j],
		    cJSON_GetObjectItem(r, ucounters[j])->valuedouble,
		    (unsigned long long)(base + j));
}

/* Checks o's row count and totals: counter j sums to sum + j * step. */
static void
check_totals(const cJSON *o, uint64_t sum, uint64_t step, uint64_t nrows)
{
	const cJSON	*t = cJSON_GetObjectItem(o, "totals");
	size_t		 j;

	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")),
	    (int)nrows);
	for (j = 0; j < 8; j++)
		ck_assert_msg(cJSON_GetObjectItem(t, ucounters[j])->valuedouble ==
		    (double)(sum + j * step), "totals %s", ucounters[j]);
}

struct day_sum {
	char		 client[8][64];
	uint64_t	 requests[8], tokens[8];
	int		 n;
};

static void
day_cb(const char *client, uint64_t requests, uint64_t tokens, void *arg)
{
	struct day_sum	*d = arg;

	ck_assert_int_lt(d->n, 8);
	snprintf(d->client[d->n], sizeof(d->client[d->n]), "%s", client);
	d->tokens[d->n] = tokens;
	d->requests[d->n++] = requests;
}

START_TEST(test_usage)
{
	struct cachedb		*c;
	struct usage_row	 r[4];
	struct day_sum		 d;
	cJSON			*o;

	start(BIG);
	c = open_reader();
	/* Out of order, a key twice in one call, then again in a later batch. */
	r[0] = urow("2024-03-02", "team-b", "gpt2", "text-generation", 10);
	r[1] = urow("2024-03-01", "team-a", "gpt2", "text-generation", 100);
	r[2] = urow("2024-03-02", "team-b", "gpt2", "text-generation", 1000);
	r[3] = urow("2024-03-01", "team-a", "bert", "fill-mask", 20);
	dbw_usage(r, 4);
	ck_assert_int_eq(dbw_sync(), 0);
	r[0] = urow("2024-03-01", "team-a", "gpt2", "text-generation", 5000);
	r[1] = urow("2024-03-03", "-", "-", "-", 1);
	dbw_usage(r, 2);
	dbw_usage(r, 0);
	ck_assert_int_eq(dbw_sync(), 0);

	/* Unbounded: every row, ordered by day, client, model, task; a key's
	   counters added up (twice base b + j is 2b + 2j). */
	o = db_usage_query(c, NULL, NULL, NULL);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "from")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "client")));
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")), 4);
	check_row(o, 0, "2024-03-01", "team-a", "bert", "fill-mask", 20);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 1), "model")->valuestring, "gpt2");
	ck_assert(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 1), "requests")->valuedouble == 5100);
	ck_assert(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 1), "generated_tokens")->valuedouble == 5100 + 14);
	ck_assert(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 2), "bytes_out")->valuedouble == 1010 + 12);
	check_row(o, 3, "2024-03-03", "-", "-", "-", 1);
	check_totals(o, 20 + 5100 + 1010 + 1, 1 + 2 + 2 + 1, 4);
	cJSON_Delete(o);

	/* Inclusive day bounds. */
	o = db_usage_query(c, "2024-03-02", "2024-03-03", NULL);
	ck_assert_str_eq(cJSON_GetObjectItem(o, "from")->valuestring, "2024-03-02");
	ck_assert_str_eq(cJSON_GetObjectItem(o, "to")->valuestring, "2024-03-03");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")), 2);
	check_totals(o, 1010 + 1, 2 + 1, 2);
	cJSON_Delete(o);
	o = db_usage_query(c, "2024-03-02", "2024-03-02", NULL);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")), 1);
	cJSON_Delete(o);
	o = db_usage_query(c, NULL, "2024-03-01", NULL);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")), 2);
	cJSON_Delete(o);
	o = db_usage_query(c, "2024-03-04", NULL, NULL);
	check_totals(o, 0, 0, 0);
	cJSON_Delete(o);

	/* One client. */
	o = db_usage_query(c, NULL, NULL, "team-a");
	ck_assert_str_eq(cJSON_GetObjectItem(o, "client")->valuestring, "team-a");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")), 2);
	check_row(o, 0, "2024-03-01", "team-a", "bert", "fill-mask", 20);
	cJSON_Delete(o);
	o = db_usage_query(c, "2024-03-02", NULL, "team-a");
	check_totals(o, 0, 0, 0);
	cJSON_Delete(o);
	o = db_usage_query(c, NULL, NULL, "nobody");
	check_totals(o, 0, 0, 0);
	cJSON_Delete(o);

	/* Requests and tokens (generated and prompt) per client on a day, summed over
	   models and tasks. */
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(cachedb_usage_day(c, "2024-03-01", day_cb, &d), 0);
	ck_assert_int_eq(d.n, 1);
	ck_assert_str_eq(d.client[0], "team-a");
	ck_assert_int_eq(d.requests[0], 5120);
	ck_assert_int_eq(d.tokens[0], (5120 + 3 * 7) + (5120 + 3 * 8));
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(cachedb_usage_day(c, "2024-03-05", day_cb, &d), 0);
	ck_assert_int_eq(d.n, 0);
	cachedb_close(c);
}
END_TEST


START_TEST(test_damaged_pages)
{
	struct cachedb		*c;
	struct cache_entry	 e;
	uint8_t			 k[CANON_KEY_LEN];
	char			 body[2048], junk[8192];
	unsigned		 i;
	int			 fd, r, fails = 0;
	struct stat		 st;

	/* A file whose header is fine but whose pages are not: lookups fail, no crash. */
	memset(body, 'z', sizeof(body));
	start(BIG);
	for (i = 0; i < 200; i++) {
		mkkey(i, k);
		dbw_put(k, "m", 200, "a/b", 0, body, sizeof(body), now_s() + 99);
	}
	ck_assert_int_eq(dbw_sync(), 0);
	dbw_stop();
	ck_assert_int_eq(stat(path, &st), 0);
	memset(junk, 0xa5, sizeof(junk));
	ck_assert_int_ne(fd = open(path, O_WRONLY), -1);
	for (i = 1; (off_t)(i + 1) * 8192 <= st.st_size; i++)
		ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), (off_t)i * 8192),
		    (ssize_t)sizeof(junk));
	close(fd);
	{
		char	 err[256];

		if (cachedb_open(path, &c, err, sizeof(err)) == -1)
			return;		/* refused at open: also fine */
	}
	for (i = 0; i < 200; i++) {
		mkkey(i, k);
		r = cachedb_get(c, k, &e);
		ck_assert_int_ne(r, 1);
		ck_assert_ptr_null(e.body);
		fails += r == -1;
	}
	ck_assert_int_gt(fails, 0);
	cachedb_close(c);
}
END_TEST

/*
 * What a reader meets when another process holds the file: in WAL that is crash
 * recovery (an exclusive-mode peer cannot even start while we have it open). The
 * child plays a peer in recovery: it holds the WAL-index write, checkpoint, recover
 * and read-mark locks (bytes 120..127 of the -shm file) and has invalidated the
 * WAL-index header, as a recovering process does.
 */
static void
recovering_peer(int rfd, int wfd)
{
	struct flock	 fl;
	char		 shm[160], zero[96], ch;
	int		 fd;

	snprintf(shm, sizeof(shm), "%s-shm", path);
	if ((fd = open(shm, O_RDWR)) == -1)
		_exit(2);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 120;
	fl.l_len = 8;
	memset(zero, 0, sizeof(zero));
	if (fcntl(fd, F_SETLK, &fl) == -1 ||
	    pwrite(fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero))
		_exit(3);
	if (write(wfd, "1", 1) != 1 || read(rfd, &ch, 1) != 1)
		_exit(4);
	_exit(0);	/* the locks go with the process */
}

START_TEST(test_busy)
{
	struct cachedb		*c;
	struct cache_entry	 e;
	uint8_t			 k[CANON_KEY_LEN];
	int			 up[2], down[2], status;
	pid_t			 pid;
	double			 t;
	char			 ch;

	start(BIG);
	c = open_reader();
	mkkey(1, k);
	dbw_put(k, "m", 200, "a/b", 0, "x", 1, now_s() + 99);
	ck_assert_int_eq(dbw_sync(), 0);
	dbw_stop();
	ck_assert_int_eq(cachedb_get(c, k, &e), 1);
	cache_entry_free(&e);

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0)
		recovering_peer(down[0], up[1]);
	ck_assert_int_eq(read(up[0], &ch, 1), 1);

	t = now_ms();
	ck_assert_int_eq(cachedb_get(c, k, &e), -1);
	t = now_ms() - t;
	ck_assert_msg(t < 100, "get took %.1f ms", t);
	ck_assert_ptr_null(e.body);

	ck_assert_int_eq(write(down[1], "1", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* The peer is gone: this reader recovers the index and finds the entry. */
	ck_assert_int_eq(cachedb_get(c, k, &e), 1);
	ck_assert_str_eq(e.body, "x");
	cache_entry_free(&e);
	cachedb_close(c);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}
END_TEST

START_TEST(test_writer_lifecycle)
{
	char	 err[256];

	ck_assert_ptr_null(dbw_path());
	ck_assert_int_eq(dbw_running(), 0);
	start(BIG);
	ck_assert_int_eq(dbw_running(), 1);
	ck_assert_str_eq(dbw_path(), path);
	/* One writer per process. */
	ck_assert_int_eq(dbw_start(path, BIG, err, sizeof(err)), -1);
	dbw_stop();
	ck_assert_int_eq(dbw_running(), 0);
	ck_assert_ptr_null(dbw_path());
	dbw_stop();
	ck_assert_int_eq(dbw_sync(), -1);
	/* Restartable. */
	start(BIG);
	ck_assert_int_eq(dbw_sync(), 0);
	dbw_stop();
	/* Stop checkpoints: the WAL is empty afterwards. */
	{
		char		 p[160];
		struct stat	 st;

		snprintf(p, sizeof(p), "%s-wal", path);
		ck_assert(stat(p, &st) == -1 || st.st_size == 0);
	}
}
END_TEST

/* requests of usage row (day, "-", model, "-"), from a plain connection. */
static int64_t
usage_requests(const char *model)
{
	char	 sql[256];

	snprintf(sql, sizeof(sql), "SELECT coalesce(sum(requests), -1) FROM usage"
	    " WHERE model = '%s'", model);
	return (sql_int(sql));
}

START_TEST(test_usage_not_cached)
{
	struct cachedb		*c;
	struct cache_stats	 s;
	struct usage_row	 r[300];
	uint8_t			 k[CANON_KEY_LEN];
	char			 body[1024], model[32];
	unsigned		 i;

	memset(body, 'b', sizeof(body));
	/* A tight cap: usage rows must not count toward it, nor be evicted. */
	start(16 * 1024);
	c = open_reader();
	for (i = 0; i < 300; i++) {
		snprintf(model, sizeof(model), "model-%u", i);
		r[i] = urow("2024-05-01", "-", model, "-", 1);
	}
	dbw_usage(r, 300);
	ck_assert_int_eq(dbw_sync(), 0);
	ck_assert_int_eq(cachedb_stats(c, &s), 0);
	ck_assert_int_eq(s.entries, 0);
	ck_assert_int_eq(s.bytes, 0);
	for (i = 0; i < 100; i++) {
		mkkey(i, k);
		dbw_put(k, "model-0", 200, "application/json", 0, body, sizeof(body),
		    i % 2 == 0 ? now_s() - 10 : now_s() + 3600);
	}
	ck_assert_int_eq(dbw_sync(), 0);
	/* Evicted down to the cap: the entries alone make the size. */
	ck_assert_int_eq(cachedb_stats(c, &s), 0);
	ck_assert_int_gt(s.entries, 0);
	ck_assert_int_lt(s.entries, 100);
	ck_assert_int_eq(s.bytes, s.entries *
	    (int64_t)(sizeof(body) + CACHEDB_ROW_OVERHEAD));
	ck_assert_int_eq(sql_int("SELECT count(*) FROM usage"), 300);

	/* The purge of expired entries (at the writer's start) spares usage. */
	dbw_set_stale_window(0);
	dbw_stop();
	start(16 * 1024);
	ck_assert_int_eq(dbw_sync(), 0);
	{
		double	 deadline = now_ms() + 3000;

		while (sql_int("SELECT count(*) FROM entry WHERE expires < "
		    "strftime('%s', 'now')") > 0 && now_ms() < deadline)
			usleep(10000);
	}
	ck_assert_int_eq(sql_int("SELECT count(*) FROM entry WHERE expires < "
	    "strftime('%s', 'now')"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM usage"), 300);

	/* DELETE /admin/cache, by model (a model usage counts too) and all. */
	dbw_delete("model-0");
	ck_assert_int_eq(dbw_sync(), 0);
	ck_assert_int_eq(usage_requests("model-0"), 1);
	dbw_delete(NULL);
	ck_assert_int_eq(dbw_sync(), 0);
	ck_assert_int_eq(cachedb_stats(c, &s), 0);
	ck_assert_int_eq(s.entries, 0);
	ck_assert_int_eq(s.bytes, 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM usage"), 300);
	ck_assert_int_eq(usage_requests("model-299"), 1);
	cachedb_close(c);
}
END_TEST

/* usage.c's side: who runs the writer, and a thread's counters reaching the file. */
START_TEST(test_usage_start)
{
	struct usage_event	 ev;
	char			 other[160], longmodel[200];
	struct cachedb		*c;
	cJSON			*o;

	/* Neither a cache nor a path: off, no writer. */
	ck_assert_int_eq(usage_start(NULL), 0);
	ck_assert_int_eq(dbw_running(), 0);
	usage_stop();

	/* A path alone: usage starts the writer, and stops it. */
	ck_assert_int_eq(usage_start(path), 0);
	ck_assert_int_eq(dbw_running(), 1);
	ck_assert_str_eq(dbw_path(), path);
	memset(&ev, 0, sizeof(ev));
	ev.when_ms = 1709337600000LL + 5000;	/* 2024-03-02T00:00:05Z */
	ev.attempts = 2;
	ev.bytes_in = 10;
	ev.generated_tokens = 7;
	usage_record(&ev);
	ev.when_ms = 1709337600000LL - 1;	/* the day before */
	ev.client = "";
	ev.model = "gpt2";
	ev.task = "text-generation";
	ev.error = 1;
	usage_record(&ev);
	ev.cache_hit = 1;
	ev.error = 0;
	ev.upstream_ms = 40;
	usage_record(&ev);
	memset(longmodel, 'm', sizeof(longmodel) - 1);
	longmodel[sizeof(longmodel) - 1] = '\0';
	ev.model = longmodel;
	usage_record(&ev);
	usage_thread_stop();		/* flushes this thread's table */
	ck_assert_int_eq(dbw_sync(), 0);
	c = open_reader();
	o = db_usage_query(c, NULL, NULL, NULL);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")), 3);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 0), "day")->valuestring, "2024-03-01");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 0), "model")->valuestring, "gpt2");
	ck_assert(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 0), "requests")->valuedouble == 2);
	ck_assert(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 0), "errors")->valuedouble == 1);
	ck_assert(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 0), "cache_hits")->valuedouble == 1);
	ck_assert(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 0), "upstream_ms")->valuedouble == 40);
	/* A model too long for the row is cut, not dropped. */
	ck_assert_uint_eq(strlen(cJSON_GetObjectItem(cJSON_GetArrayItem(
	    cJSON_GetObjectItem(o, "rows"), 1), "model")->valuestring), 127);
	/* Missing strings count as "-". */
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 2), "day")->valuestring, "2024-03-02");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 2), "client")->valuestring, "-");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 2), "task")->valuestring, "-");
	ck_assert(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
	    "rows"), 2), "generated_tokens")->valuedouble == 7);
	ck_assert(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "totals"),
	    "requests")->valuedouble == 4);
	ck_assert(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "totals"),
	    "attempts")->valuedouble == 8);
	cJSON_Delete(o);
	cachedb_close(c);
	usage_stop();
	ck_assert_int_eq(dbw_running(), 0);

	/* Off: nothing is counted. */
	usage_record(&ev);
	usage_thread_stop();

	/* The cache's writer runs: usage uses it (its file) and leaves it running. */
	snprintf(other, sizeof(other), "%s/other.db", dir);
	start(BIG);
	ck_assert_int_eq(usage_start(other), 0);
	ck_assert_str_eq(dbw_path(), path);
	usage_stop();
	ck_assert_int_eq(dbw_running(), 1);
	ck_assert_int_eq(access(other, F_OK), -1);
	ck_assert_int_eq(dbw_sync(), 0);
	ck_assert_int_eq(sql_int("SELECT sum(requests) FROM usage"), 4);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("cachedb");
	TCase	*tc = tcase_create("cachedb");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_expired);
	tcase_add_test(tc, test_eviction);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_pending);
	tcase_add_test(tc, test_two_processes);
	tcase_add_test(tc, test_corrupt);
	tcase_add_test(tc, test_schema_versions);
	tcase_add_test(tc, test_damaged_pages);
	tcase_add_test(tc, test_busy);
	tcase_add_test(tc, test_writer_lifecycle);
	tcase_add_test(tc, test_migrate_v1);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_usage_not_cached);
	tcase_add_test(tc, test_usage_start);
	suite_add_tcase(s, tc);
	return (s);
}
