/* SPDX-License-Identifier: BSD-2-Clause */
/* check_config.c: unit tests of config.c. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "config.h"
#include "task.h"

#ifndef TOP_SRCDIR
#error "TOP_SRCDIR must be defined"
#endif
/* Same fallbacks as config.c. */
#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif

static char	 tmpdir[64];
static int	 nfile;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

/* Unchecked fixtures run in the parent, around all forked tests. */
static void
tmp_setup(void)
{
	strcpy(tmpdir, "/tmp/check_config.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static void
tmp_teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes content to a new file in tmpdir; returns its path (malloc'd). */
static char *
write_file(const char *name, const char *content)
{
	char	*path;
	FILE	*f;

	if (name != NULL)
		ck_assert_int_ne(asprintf(&path, "%s/%s", tmpdir, name), -1);
	else
		ck_assert_int_ne(asprintf(&path, "%s/f%d.conf", tmpdir, nfile++),
		    -1);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(content, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	return (path);
}

/* A data file for [server] default_models_file, so loads do not need /etc. */
static const char *DATA =
    "# test data\n"
    "text-classification\tdata/tc-model\n"
    "summarization\tdata/sum-model\n"
    "audio-to-audio\tskipped/model\n";

/* Loads content (after a [server] section naming the data file) into c. */
static int
load(struct config *c, const char *content, char *err, size_t errlen,
    char **pathp)
{
	char	*path, *data, *full;
	int	 rv;

	data = write_file("data.tsv", DATA);
	ck_assert_int_ne(asprintf(&full, "[server]\ndefault_models_file = %s\n%s",
	    data, content), -1);
	path = write_file(NULL, full);
	ck_assert_int_eq(cfg_init(c), 0);
	rv = cfg_load(c, path, err, errlen);
	free(full);
	free(data);
	if (pathp != NULL)
		*pathp = path;
	else
		free(path);
	return (rv);
}

static size_t
tidx(const char *name)
{
	const struct task_info	*t = task_find(name);

	ck_assert_ptr_nonnull(t);
	return (task_index(t));
}

START_TEST(test_defaults)
{
	struct config	 c;
	size_t		 i;

	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_ptr_null(c.path);
	ck_assert_str_eq(c.listens[0].host, "127.0.0.1");
	ck_assert_uint_eq(c.listens[0].port, 8080);
	ck_assert_uint_eq(c.max_connections, 10000);
	ck_assert_uint_eq(c.max_body_bytes, 16777216);
	ck_assert_uint_eq(c.max_body_memory, 268435456);
	ck_assert_uint_eq(c.body_timeout, 60);
	ck_assert_uint_eq(c.max_connections_per_ip, 256);
	ck_assert_uint_eq(c.nproxies, 0);
	ck_assert_uint_eq(c.connection_timeout, 60);
	ck_assert_uint_eq(c.grace_seconds, 10);
	/* No cross-origin access unless configured. */
	ck_assert_uint_eq(c.ncors_origins, 0);
	ck_assert_ptr_null(cfg_cors_origin(&c, "http://app.example"));
	ck_assert_ptr_null(cfg_cors_origin(&c, NULL));
	ck_assert_str_eq(c.default_models_file, SYSCONFDIR "/hfgate/default-models.tsv");
	ck_assert_str_eq(c.upstream_url, "https://router.huggingface.co/hf-inference");
	ck_assert_ptr_null(c.openai_url);
	ck_assert_str_eq(c.default_chat_model, "meta-llama/Llama-3.1-8B-Instruct");
	ck_assert_str_eq(c.hub_url, "https://huggingface.co");
	ck_assert_ptr_null(c.token_file);
	ck_assert_int_eq(c.connect_timeout_ms, 10000);
	ck_assert_int_eq(c.deadline_ms, 120000);
	ck_assert_int_eq(c.usage_flush_ms, 1000);
	ck_assert_uint_eq(c.max_attempts, 5);
	ck_assert_int_eq(c.backoff_base_ms, 200);
	ck_assert_int_eq(c.backoff_max_ms, 10000);
	ck_assert_uint_eq(c.max_response_bytes, 67108864);
	ck_assert_uint_eq(c.max_upstream_connections, 0);
	ck_assert_int_eq(c.cache_enabled, 1);
	ck_assert_str_eq(c.cache_db, LOCALSTATEDIR "/lib/hfgate/cache.db");
	for (i = 0; i < TASK_COUNT; i++)
		ck_assert_ptr_null(c.default_model[i]);
	ck_assert_uint_eq(c.nendpoints, 0);
	cfg_free(&c);
	/* A freed (zeroed) struct and NULL are accepted. */
	cfg_free(&c);
	cfg_free(NULL);
}
END_TEST

START_TEST(test_full_file)
{
	struct config	 c;
	char		 err[512] = "";
	const char	*conf =
	    "# comment\n"
	    "; another comment\n"
	    "listen = [::1]:9090\n"
	    "max_connections = 42\n"
	    "max_body_bytes = 1048576\n"
	    "connection_timeout = 5\n"
	    "grace_seconds = 0\n"
	    "cors_origin = https://app.example, http://[::1]:8081\n"
	    "cors_origin = http://Other.example:3000\n"
	    "\n"
	    "[upstream]\n"
	    "url = http://127.0.0.1:9999/prefix/\n"
	    "hub_url = http://127.0.0.1:9998\n"
	    "token_file = /run/secret/token\n"
	    "connect_timeout_ms = 1500\n"
	    "deadline_ms = 30000   ; inline comment\n"
	    "max_attempts = 1\n"
	    "backoff_base_ms = 0\n"
	    "backoff_max_ms = 50\n"
	    "max_response_bytes = 2k\n"
	    "max_connections_per_host = 8\n"
	    "[cache]\n"
	    "enabled = off\n"
	    "db = /tmp/x.db\n";

	ck_assert_msg(load(&c, conf, err, sizeof(err), NULL) == 0, "%s", err);
	ck_assert_ptr_nonnull(c.path);
	ck_assert_str_eq(c.listens[0].host, "::1");
	ck_assert_uint_eq(c.listens[0].port, 9090);
	ck_assert_uint_eq(c.max_connections, 42);
	ck_assert_uint_eq(c.max_body_bytes, 1048576);
	ck_assert_uint_eq(c.connection_timeout, 5);
	ck_assert_uint_eq(c.grace_seconds, 0);
	ck_assert_uint_eq(c.ncors_origins, 3);
	ck_assert_str_eq(c.cors_origins[0], "https://app.example");
	ck_assert_str_eq(c.cors_origins[1], "http://[::1]:8081");
	ck_assert_str_eq(c.cors_origins[2], "http://Other.example:3000");
	/* The request's own spelling is echoed; a near miss is no match. */
	ck_assert_str_eq(cfg_cors_origin(&c, "https://app.example"), "https://app.example");
	ck_assert_str_eq(cfg_cors_origin(&c, "http://other.example:3000"),
	    "http://other.example:3000");
	ck_assert_ptr_null(cfg_cors_origin(&c, "http://app.example"));
	ck_assert_ptr_null(cfg_cors_origin(&c, "https://app.example:443"));
	ck_assert_ptr_null(cfg_cors_origin(&c, "https://app.example.evil"));
	ck_assert_ptr_null(cfg_cors_origin(&c, "null"));
	ck_assert_ptr_null(cfg_cors_origin(&c, NULL));
	ck_assert_str_eq(c.upstream_url, "http://127.0.0.1:9999/prefix");
	ck_assert_str_eq(c.hub_url, "http://127.0.0.1:9998");
	ck_assert_str_eq(c.token_file, "/run/secret/token");
	ck_assert_int_eq(c.connect_timeout_ms, 1500);
	ck_assert_int_eq(c.deadline_ms, 30000);
	ck_assert_uint_eq(c.max_attempts, 1);
	ck_assert_int_eq(c.backoff_base_ms, 0);
	ck_assert_int_eq(c.backoff_max_ms, 50);
	ck_assert_uint_eq(c.max_response_bytes, 2048);
	ck_assert_uint_eq(c.max_upstream_connections, 8);
	ck_assert_int_eq(c.cache_enabled, 0);
	ck_assert_str_eq(c.cache_db, "/tmp/x.db");
	/* From the data file. */
	ck_assert_str_eq(c.default_model[tidx("text-classification")], "data/tc-model");
	ck_assert_ptr_null(c.default_model[tidx("fill-mask")]);
	cfg_free(&c);
}
END_TEST

START_TEST(test_bools_and_unset)
{
	static const struct { const char *v; int want; } cases[] = {
		{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 },
		{ "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 }, { "YES", 1 },
	};
	struct config	 c;
	char		 err[512], *conf;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_ne(asprintf(&conf, "[cache]\nenabled = %s\n",
		    cases[i].v), -1);
		ck_assert_msg(load(&c, conf, err, sizeof(err), NULL) == 0, "%s", err);
		ck_assert_msg(c.cache_enabled == cases[i].want, "%s", cases[i].v);
		cfg_free(&c);
		free(conf);
	}
	/* An empty token_file means "none". */
	ck_assert_msg(load(&c, "[upstream]\ntoken_file = /a\ntoken_file =\n",
	    err, sizeof(err), NULL) == 0, "%s", err);
	ck_assert_ptr_null(c.token_file);
	cfg_free(&c);
}
END_TEST

START_TEST(test_suffixes)
{
	static const struct { const char *v; size_t want; } cases[] = {
		{ "123", 123 }, { "1k", 1024 }, { "1K", 1024 },
		{ "16M", 16777216 }, { "3m", 3145728 }, { "2G", 2147483648UL },
		{ "1g", 1073741824 },
	};
	struct config	 c;
	char		 err[512], *conf;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_ne(asprintf(&conf, "max_body_bytes = %s\n"
		    "max_body_memory = 4G\n"
		    "[upstream]\nmax_response_bytes = %s\n", cases[i].v,
		    cases[i].v), -1);
		ck_assert_msg(load(&c, conf, err, sizeof(err), NULL) == 0, "%s", err);
		ck_assert_uint_eq(c.max_body_bytes, cases[i].want);
		ck_assert_uint_eq(c.max_response_bytes, cases[i].want);
		cfg_free(&c);
		free(conf);
	}
}
END_TEST

/* Durations: bare digits keep each key's unit; ms, s, m, h, d convert to it. */
START_TEST(test_durations)
{
	static const struct {
		const char	*v;
		unsigned	 seconds;	/* as grace_seconds (0 to 3600) */
		long		 ms;		/* as deadline_ms */
	} cases[] = {
		{ "10", 10, 10 }, { "10s", 10, 10000 }, { "2m", 120, 120000 },
		{ "1h", 3600, 3600000 }, { "0s", 0, 0 }, { "3000ms", 3, 3000 },
	};
	struct config	 c;
	char		 err[512], *conf;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_ne(asprintf(&conf, "grace_seconds = %s\n[upstream]\n"
		    "deadline_ms = %s\nconnect_timeout_ms = 500ms\n[cache]\n"
		    "default_ttl = 7d\n[cache-policy]\nfill-mask = always 10m\n", cases[i].v,
		    cases[i].ms == 0 ? "1" : cases[i].v), -1);
		ck_assert_msg(load(&c, conf, err, sizeof(err), NULL) == 0, "%s: %s",
		    cases[i].v, err);
		ck_assert_uint_eq(c.grace_seconds, cases[i].seconds);
		if (cases[i].ms != 0)
			ck_assert_int_eq(c.deadline_ms, cases[i].ms);
		ck_assert_int_eq(c.connect_timeout_ms, 500);
		ck_assert_uint_eq(c.cache_default_ttl, 7 * 86400);
		ck_assert_uint_eq(c.cache_ttl[task_index(task_find("fill-mask"))], 600);
		cfg_free(&c);
		free(conf);
	}
}
END_TEST

/*
 * Each case: the text after the 2-line prefix written by load() (so the
 * content's first line is line 3) and the exact error after "path:".
 */
static const struct {
	const char	*content;
	const char	*want;
} errcases[] = {
	{ "bogus = 1\n", "3: unknown key 'bogus' in [server]" },
	{ "[upstream]\n\nretries = 3\n", "5: unknown key 'retries' in [upstream]" },
	{ "[cache]\nsize = 3\n", "4: unknown key 'size' in [cache]" },
	{ "[nonsense]\nx = 1\n", "3: unknown section [nonsense]" },
	{ "max_connections = abc\n",
	  "3: max_connections: 'abc' is not a number" },
	{ "max_connections = 0\n",
	  "3: max_connections: '0' is out of range (1 to 1000000)" },
	{ "max_connections = 1000001\n",
	  "3: max_connections: '1000001' is out of range (1 to 1000000)" },
	{ "max_connections = -1\n",
	  "3: max_connections: '-1' is not a number" },
	{ "max_connections = 12x\n",
	  "3: max_connections: '12x' is not a number" },
	{ "max_connections = 1k\n",
	  "3: max_connections: '1k' is not a number" },
	{ "grace_seconds = 99999999999999999999999\n",
	  "3: grace_seconds: '99999999999999999999999' is out of range (0 to 3600 seconds)" },
	{ "[server]\ngrace_seconds = 1500ms\n",
	  "4: grace_seconds: '1500ms' is not a whole number of seconds" },
	{ "[server]\ngrace_seconds = 2h\n",
	  "4: grace_seconds: '2h' is out of range (0 to 3600 seconds)" },
	{ "[server]\ngrace_seconds = 5 s\n",
	  "4: grace_seconds: '5 s' is not a duration (digits, in seconds, or with a unit: "
	  "ms, s, m, h or d)" },
	{ "[upstream]\ndeadline_ms = 10x\n",
	  "4: deadline_ms: '10x' is not a duration (digits, in milliseconds, or with a "
	  "unit: ms, s, m, h or d)" },
	{ "max_body_bytes = 16X\n",
	  "3: max_body_bytes: '16X' is not a size (digits with an optional k, M or G "
	  "suffix) or number" },
	{ "max_body_bytes = 0\n",
	  "3: max_body_bytes: '0' is out of range (1 to 18446744073709551615)" },
	{ "max_body_bytes = 17179869184G\n",
	  "3: max_body_bytes: '17179869184G' is out of range (1 to 18446744073709551615)" },
	{ "[upstream]\nmax_attempts = 21\n",
	  "4: max_attempts: '21' is out of range (1 to 20)" },
	{ "[upstream]\nmax_attempts = 0\n",
	  "4: max_attempts: '0' is out of range (1 to 20)" },
	{ "[usage]\nflush_interval_ms = 9\n",
	  "4: flush_interval_ms: '9' is out of range (10 to 60000 milliseconds)" },
	{ "[usage]\nflush_interval_ms = 60001\n",
	  "4: flush_interval_ms: '60001' is out of range (10 to 60000 milliseconds)" },
	{ "[upstream]\nurl = ftp://example.com\n",
	  "4: url: the URL must start with http:// or https://" },
	{ "[upstream]\nurl = api-inference.huggingface.co\n",
	  "4: url: the URL must start with http:// or https://" },
	{ "[upstream]\nhub_url = https://\n", "4: hub_url: not a valid URL: No host part in the URL" },
	/* libcurl's URL parser reads them as the calls will (upstream.c). */
	{ "[upstream]\nurl = http://[::1\n", "4: url: not a valid URL: Bad IPv6 address" },
	{ "[upstream]\nurl = http://127.0.0.1:99999\n",
	  "4: url: not a valid URL: Port number was not a decimal number between 0 and 65535" },
	{ "[upstream]\nurl = http://127.0.0.1:0\n", "4: url: not a valid URL: port 0" },
	{ "[upstream]\nurl = http://a b.example\n", "4: url: not a valid URL: Bad hostname" },
	/* A password is never repeated in the error (nor logged). */
	{ "[upstream]\nurl = http://user:pw-SECRET@127.0.0.1:8080\n",
	  "4: url: the URL must not hold a user name or password" },
	{ "[upstream]\nhub_url = https://user@huggingface.co\n",
	  "4: hub_url: the URL must not hold a user name or password" },
	{ "[upstream]\nurl = http://user:pw-SECRET@[::1\n", "4: url: not a valid URL: Bad IPv6 address" },
	{ "[upstream]\nurl = http://127.0.0.1:8080/?x=1\n",
	  "4: url: the URL must not have a query or a fragment (paths are appended to it)" },
	{ "[upstream]\nurl = http://127.0.0.1:8080#top\n",
	  "4: url: the URL must not have a query or a fragment (paths are appended to it)" },
	{ "[endpoint a]\nurl = https://u:pw-SECRET@e.example/x\n",
	  "4: url: the URL must not hold a user name or password" },
	{ "[cache]\nenabled = maybe\n", "4: enabled: 'maybe' is not yes or no" },
	{ "[cache]\ndb =\n", "4: missing value for 'db'" },
	{ "listen = localhost\n",
	  "3: invalid listen address 'localhost': expected HOST:PORT" },
	{ "listen = 127.0.0.1:65536\n",
	  "3: invalid listen address '127.0.0.1:65536': port must be a number from 0 to 65535" },
	{ "listen = ::1:80\n",
	  "3: invalid listen address '::1:80': write an IPv6 address in brackets, [::1]:PORT" },
	{ "[default-models]\ntext-clasification = a/b\n",
	  "4: unknown task 'text-clasification'" },
	{ "[default-models]\nfill-mask = a/b/c\n", "4: invalid model id 'a/b/c'" },
	{ "[server]\nroot_model = a b\n", "4: root_model: invalid model id 'a b'" },
	{ "[server]\nlog_level = warn\n",
	  "4: log_level: 'warn' is not error, warning, info or debug" },
	{ "[endpoint bad name!]\nurl = https://e\n",
	  "3: invalid endpoint name 'bad name!' (letters, digits, '.', '_' and '-' only)" },
	{ "[endpoint]\n", "3: [endpoint] needs a name: [endpoint NAME]" },
	{ "[endpoint a]\nurl = https://a\nmodels = m/one\n"
	  "[endpoint a]\nurl = https://b\n", "6: duplicate endpoint 'a'" },
	{ "[endpoint a]\nurl = https://a\nmodels = m/one m/two\n"
	  "[endpoint b]\nurl = https://b\nmodels = m/three m/two\n",
	  "8: model 'm/two' is already served by endpoint 'a'" },
	{ "[endpoint a]\nurl = https://a\nmodels = m/one m/one\n",
	  "5: model 'm/one' is already served by endpoint 'a'" },
	{ "[endpoint a]\nmodels = m/one\n[cache]\nenabled = yes\n",
	  "3: endpoint 'a' has no url" },
	{ "[endpoint a]\nurl = https://a\n\n[endpoint b]\n# nothing\n",
	  "6: endpoint 'b' has no url" },
	{ "[endpoint a]\nurl = https://a\nmodels = bad//id\n",
	  "5: invalid model id 'bad//id'" },
	{ "[endpoint a]\nurl = https://a\ntask = chat\n", "5: unknown task 'chat'" },
	{ "[endpoint a]\nurl = https://a\nprotocol = probe\n",
	  "5: protocol must be tgi, openai or auto, not 'probe'" },
	{ "[endpoint a]\nurl = https://a\nweight = 2\n",
	  "5: unknown key 'weight' in [endpoint a]" },
	{ "[endpoint a]\nurl = mailto:x\n",
	  "4: url: the URL must start with http:// or https://" },
	{ "this line has no equals sign\n",
	  "3: expected 'key = value' or '[section]'" },
	{ "[server\n", "3: missing ']' in section header" },
	{ "[server] junk\n", "3: unexpected text after section header" },
	{ "max_connections =\n", "3: missing value for 'max_connections'" },
	{ "[client a]\nrate = 5\n[cache]\n", "3: client 'a' has no key (key_sha256 or key_file)" },
	{ "[client a]\nkey_sha256 = abc\n",
	  "4: key_sha256: key_sha256 must be 64 hex digits (the output of printf %s KEY | sha256sum)" },
	{ "[client a]\nkey_sha256 = KA\n[client b]\nkey_sha256 = KA\n",
	  "5: client 'b' has the same key as client 'a'" },
	{ "[client a]\nkey_sha256 = KA\n[client a]\nkey_sha256 = KB\n",
	  "5: duplicate client 'a'" },
	{ "[client -]\n", "3: invalid client name '-' (up to 63 letters, digits, '.', '_' and '-')" },
	{ "[client]\n", "3: [client] needs a name: [client NAME]" },
	{ "[client a]\nkey_sha256 = KA\ntasks = text-clasification\n",
	  "5: unknown task 'text-clasification'" },
	{ "[client a]\nkey_sha256 = KA\nmodels = a/b c$d\n", "5: invalid pattern 'c$d'" },
	{ "[client a]\nkey_sha256 = KA\nrate = -1\n", "5: rate: '-1' is not a number" },
	{ "[client a]\nkey_sha256 = KA\ndaily_token_quota = 4000000001\n",
	  "5: daily_token_quota: '4000000001' is out of range (0 to 4000000000)" },
	{ "[client a]\nkey_sha256 = KA\ncolour = red\n", "5: unknown key 'colour' in [client a]" },
	{ "[client a]\nkey_file = no-such-key\n", "4: key_file: NOSUCH: No such file or directory" },
	{ "[admin]\nkey_sha256 = KA\n[client a]\nkey_sha256 = KA\n",
	  "6: the admin key is also client 'a''s key" },
	{ "tls_listen = 127.0.0.1:8443\n", "3: tls_listen needs tls_cert and tls_key" },
	{ "listen = none\n", "3: no listen address (listen or tls_listen)" },
	{ "listen = 127.0.0.1:1 127.0.0.1:2 127.0.0.1:3 127.0.0.1:4 127.0.0.1:5 "
	  "127.0.0.1:6 127.0.0.1:7 127.0.0.1:8 127.0.0.1:9\n", "3: more than 8 listen addresses" },
	{ "allow = 10.0.0.0/8, 10.1.2.3/33\n",
	  "3: allow: '10.1.2.3/33': not an address or network (ADDR or ADDR/BITS)" },
	{ "tls_cert = missing.pem\n", "3: tls_cert: NOSUCH: No such file or directory" },
	{ "cors_origin = https://a.example *\n",
	  "3: cors_origin: '*' (any origin) cannot be listed with other origins" },
	{ "cors_origin = *\ncors_origin = https://a.example\n",
	  "4: cors_origin: '*' (any origin) cannot be listed with other origins" },
	{ "cors_origin = https://a.example/\n",
	  "3: cors_origin: 'https://a.example/': an origin has no path, not even '/'" },
	{ "cors_origin = null\n",
	  "3: cors_origin: 'null': not an origin (http:// or https://, a host and an optional "
	  "port), nor '*'" },
	{ "cors_origin = app.example\n",
	  "3: cors_origin: 'app.example': not an origin (http:// or https://, a host and an "
	  "optional port), nor '*'" },
	{ "cors_origin = http://a.example:99999\n",
	  "3: cors_origin: 'http://a.example:99999': not an origin (http:// or https://, a "
	  "host and an optional port)" },
	{ "cors_origin = http://user@a.example\n",
	  "3: cors_origin: 'http://user@a.example': not an origin (http:// or https://, a "
	  "host and an optional port)" },
	{ "cors_origin = https://\n",
	  "3: cors_origin: 'https://': not an origin (http:// or https://, a host and an "
	  "optional port)" },
	{ "trusted_proxies = 127.0.0.1 proxy.lan\n",
	  "3: trusted_proxies: 'proxy.lan': not an address or network (ADDR or ADDR/BITS)" },
	{ "body_timeout = 0\n", "3: body_timeout: '0' is out of range (1 to 86400 seconds)" },
	{ "max_body_memory = 1k\n",
	  "3: max_body_memory: '1k' is out of range (65536 to 18446744073709551615)" },
	{ "max_body_bytes = 2M\nmax_body_memory = 1M\n",
	  "4: max_body_bytes (2097152) exceeds max_body_memory (1048576)" },
};

/* s with every "KA"/"KB" replaced by a key hash (malloc'd). */
static char *
with_keys(const char *s)
{
	static const char *const ka = "8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1";
	static const char *const kb = "ff492ef788c89b555e6f738b33d2422f57dbb6656af2402155672c5f123a90af";
	char	*out = malloc(strlen(s) * 32 + 1), *o = out;

	ck_assert_ptr_nonnull(out);
	while (*s != '\0') {
		if (s[0] == 'K' && (s[1] == 'A' || s[1] == 'B')) {
			strcpy(o, s[1] == 'A' ? ka : kb);
			o += 64;
			s += 2;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return (out);
}

START_TEST(test_errors)
{
	struct config	 c;
	char		 err[1024] = "", *path, *want, *content, *w, *nosuch;

	content = with_keys(errcases[_i].content);
	ck_assert_int_eq(load(&c, content, err, sizeof(err), &path), -1);
	free(content);
	w = strdup(errcases[_i].want);
	/* A missing file is named by its full path. */
	if ((nosuch = strstr(w, "NOSUCH")) != NULL) {
		*nosuch = '\0';
		ck_assert_int_ne(asprintf(&want, "%s:%s%s/%s%s", path, w, tmpdir,
		    strstr(errcases[_i].content, "no-such-key") ? "no-such-key" :
		    "missing.pem", nosuch + 6), -1);
	} else
		ck_assert_int_ne(asprintf(&want, "%s:%s", path, w), -1);
	free(w);
	ck_assert_str_eq(err, want);
	cfg_free(&c);
	free(want);
	free(path);
}
END_TEST

START_TEST(test_key_outside_section)
{
	struct config	 c;
	char		 err[512], *path, *want;

	path = write_file(NULL, "# header\nlisten = 1.2.3.4:1\n");
	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_int_eq(cfg_load(&c, path, err, sizeof(err)), -1);
	ck_assert_int_ne(asprintf(&want, "%s:2: key 'listen' outside any section",
	    path), -1);
	ck_assert_str_eq(err, want);
	cfg_free(&c);
	free(want);
	free(path);
}
END_TEST

START_TEST(test_long_line)
{
	struct config	 c;
	char		 err[512], line[10000], *conf;

	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	ck_assert_int_ne(asprintf(&conf, "cors_origin = %s\n", line), -1);
	ck_assert_int_eq(load(&c, conf, err, sizeof(err), NULL), -1);
	ck_assert_msg(strstr(err, ":3: line too long") != NULL, "%s", err);
	cfg_free(&c);
	free(conf);
}
END_TEST

START_TEST(test_open_errors)
{
	struct config	 c;
	char		 err[512], *path, *dir;

	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_int_eq(cfg_load(&c, "/nonexistent/hfgate.conf", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent/hfgate.conf: No such file or directory");
	cfg_free(&c);

	/* A data file that is there but not a file fails the load, naming it. */
	ck_assert_int_ne(asprintf(&dir, "[server]\ndefault_models_file = %s\n", tmpdir),
	    -1);
	path = write_file(NULL, dir);
	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_int_eq(cfg_load(&c, path, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, tmpdir, strlen(tmpdir)) == 0, "%s", err);
	cfg_free(&c);
	free(path);
	free(dir);
}
END_TEST

/* A missing data file: the built-in table, under the [default-models] overrides. */
START_TEST(test_missing_data_file_builtin)
{
	struct config	 c;
	char		 err[512] = "", *path, *file[TASK_COUNT];
	size_t		 i;

	path = write_file(NULL, "[server]\ndefault_models_file = /nonexistent/d.tsv\n"
	    "[default-models]\nfill-mask = mine/masker\n");
	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_msg(cfg_load(&c, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.default_models_builtin, 1);
	ck_assert_str_eq(c.default_models_file, "/nonexistent/d.tsv");
	ck_assert_msg(task_defaults_load(TOP_SRCDIR "/etc/default-models.tsv", file,
	    err, sizeof(err)) == 0, "%s", err);
	for (i = 0; i < TASK_COUNT; i++) {
		if (i == tidx("fill-mask"))
			ck_assert_str_eq(c.default_model[i], "mine/masker");
		else
			ck_assert_str_eq(c.default_model[i], file[i]);
	}
	task_defaults_free(file);
	cfg_free(&c);
	free(path);

	/* With the file there, it alone gives the defaults. */
	ck_assert_msg(load(&c, "", err, sizeof(err), NULL) == 0, "%s", err);
	ck_assert_int_eq(c.default_models_builtin, 0);
	ck_assert_str_eq(c.default_model[tidx("text-classification")], "data/tc-model");
	ck_assert_ptr_null(c.default_model[tidx("fill-mask")]);
	cfg_free(&c);
}
END_TEST

START_TEST(test_indented_lines)
{
	struct config	 c;
	char		 err[512] = "";

	/* Not continuation lines (libinih's multi-line values). */
	ck_assert_msg(load(&c, "  max_connections = 7\n"
	    "\tgrace_seconds = 3\n", err, sizeof(err), NULL) == 0, "%s", err);
	ck_assert_uint_eq(c.max_connections, 7);
	ck_assert_uint_eq(c.grace_seconds, 3);
	cfg_free(&c);
}
END_TEST

START_TEST(test_endpoints)
{
	struct config			 c;
	char				 err[512] = "";
	const struct cfg_endpoint	*ep;

	ck_assert_msg(load(&c,
	    "[endpoint my-llama]\n"
	    "url = https://xyz.endpoints.huggingface.cloud/\n"
	    "models = meta-llama/Llama-2-7b-chat-hf   acme/other\n"
	    "models = acme/third\n"
	    "task = text-generation\n"
	    "[endpoint embed.v2_x]\n"
	    "url = http://127.0.0.1:7000\n"
	    "models = BAAI/bge-small-en\n"
	    "[endpoint vllm]\n"
	    "url = http://127.0.0.1:8000\n"
	    "protocol = openai\n"
	    "[endpoint any]\n"
	    "url = http://127.0.0.1:8001\n"
	    "protocol = auto\n",
	    err, sizeof(err), NULL) == 0, "%s", err);
	ck_assert_uint_eq(c.nendpoints, 4);
	ck_assert_int_eq(cfg_endpoint_by_name(&c, "vllm")->protocol, CFG_PROTO_OPENAI);
	ck_assert_int_eq(cfg_endpoint_by_name(&c, "any")->protocol, CFG_PROTO_AUTO);

	ep = cfg_endpoint_by_name(&c, "my-llama");
	ck_assert_ptr_nonnull(ep);
	ck_assert_str_eq(ep->url, "https://xyz.endpoints.huggingface.cloud");
	ck_assert_uint_eq(ep->nmodels, 3);
	ck_assert_str_eq(ep->models[0], "meta-llama/Llama-2-7b-chat-hf");
	ck_assert_str_eq(ep->models[1], "acme/other");
	ck_assert_str_eq(ep->models[2], "acme/third");
	ck_assert_str_eq(ep->task, "text-generation");

	ck_assert_int_eq(ep->protocol, CFG_PROTO_TGI);	/* the default */

	ep = cfg_endpoint_by_name(&c, "embed.v2_x");
	ck_assert_ptr_nonnull(ep);
	ck_assert_ptr_null(ep->task);
	ck_assert_ptr_eq(cfg_endpoint_for_model(&c, "BAAI/bge-small-en"), ep);
	ck_assert_ptr_eq(cfg_endpoint_for_model(&c, "acme/third"),
	    cfg_endpoint_by_name(&c, "my-llama"));
	ck_assert_ptr_null(cfg_endpoint_for_model(&c, "gpt2"));
	ck_assert_ptr_null(cfg_endpoint_for_model(&c, "acme/Third"));
	ck_assert_ptr_null(cfg_endpoint_by_name(&c, "nope"));
	cfg_free(&c);
}
END_TEST

START_TEST(test_override_beats_data_file)
{
	struct config	 c;
	char		 err[512] = "";
	size_t		 i;

	ck_assert_msg(load(&c,
	    "[default-models]\n"
	    "text-classification = mine/classifier\n"
	    "fill-mask = bert-base-uncased\n",
	    err, sizeof(err), NULL) == 0, "%s", err);
	ck_assert_str_eq(c.default_model[tidx("text-classification")], "mine/classifier");
	ck_assert_str_eq(c.default_model[tidx("fill-mask")], "bert-base-uncased");
	ck_assert_str_eq(c.default_model[tidx("summarization")], "data/sum-model");
	for (i = 0; i < TASK_COUNT; i++) {
		if (i != tidx("text-classification") && i != tidx("fill-mask") &&
		    i != tidx("summarization"))
			ck_assert_ptr_null(c.default_model[i]);
	}
	/* A second pass over the data file keeps the overrides. */
	ck_assert_int_eq(cfg_load_defaults(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.default_model[tidx("text-classification")], "mine/classifier");
	cfg_free(&c);
}
END_TEST

START_TEST(test_relative_data_file)
{
	struct config	 c;
	char		 err[512] = "", *path, *data, *want, *sub;

	ck_assert_int_ne(asprintf(&sub, "%s/sub", tmpdir), -1);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	data = write_file("sub/models.tsv", "fill-mask\trel/model\n");
	path = write_file("sub/rel.conf", "[server]\ndefault_models_file = models.tsv\n");
	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_msg(cfg_load(&c, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.default_models_file, data);
	ck_assert_str_eq(c.default_model[tidx("fill-mask")], "rel/model");
	cfg_free(&c);

	/* An absolute path stays as it is. */
	ck_assert_int_ne(asprintf(&want, "[server]\ndefault_models_file = %s\n",
	    data), -1);
	free(path);
	path = write_file("sub/abs.conf", want);
	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_msg(cfg_load(&c, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.default_models_file, data);
	cfg_free(&c);
	free(want);
	free(path);
	free(data);
	free(sub);
}
END_TEST

START_TEST(test_shipped_config)
{
	struct config	 c;
	char		 err[512] = "";

	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_msg(cfg_load(&c, TOP_SRCDIR "/etc/hfgate.conf", err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.listens[0].host, "127.0.0.1");
	ck_assert_uint_eq(c.listens[0].port, 8080);
	ck_assert_str_eq(c.default_models_file, TOP_SRCDIR "/etc/default-models.tsv");
	ck_assert_str_eq(c.upstream_url, "https://router.huggingface.co/hf-inference");
	ck_assert_str_eq(c.cache_db, LOCALSTATEDIR "/lib/hfgate/cache.db");
	ck_assert_uint_eq(c.nendpoints, 0);
	ck_assert_ptr_nonnull(c.default_model[tidx("text-classification")]);
	ck_assert_ptr_nonnull(c.default_model[tidx("question-answering")]);
	cfg_free(&c);
}
END_TEST

/*
 * The shipped file with its commented-out keys and examples enabled must load
 * too, and name every key: it doubles as the reference.
 */
START_TEST(test_shipped_config_uncommented)
{
	static const char *keys[] = { "listen", "workers", "max_connections",
	    "max_body_bytes", "connection_timeout", "grace_seconds",
	    "cors_origin", "default_models_file", "url", "hub_url",
	    "token_file", "connect_timeout_ms", "deadline_ms", "max_attempts",
	    "backoff_base_ms", "backoff_max_ms", "max_response_bytes",
	    "max_connections_per_host", "enabled", "db", "max_bytes", "default_ttl",
	    "stale_if_error", "[cache-policy]", "first_byte_timeout",
	    "idle_timeout", "total_timeout", "heartbeat", "stall_timeout",
	    "buffer_bytes", "[default-models]",
	    "[endpoint my-llama]", "models", "task", "protocol", "[usage]", "flush_interval_ms",
	    "[admin]",
	    "tls_listen", "tls_cert", "tls_key", "allow", "max_connections_per_ip",
	    "header_timeout", "max_header_bytes", "max_url_bytes", "trusted_proxies",
	    "body_timeout", "max_body_memory",
	    "key_sha256", "[client team-a]", "tasks", "rate", "burst", "max_concurrent",
	    "daily_quota", "daily_token_quota" };
	struct config	 c;
	char		 err[512] = "", *line = NULL, *path, *data;
	char		 text[32768] = "";
	size_t		 cap = 0, i, n;
	FILE		*f;

	f = fopen(TOP_SRCDIR "/etc/hfgate.conf", "r");
	ck_assert_ptr_nonnull(f);
	while (getline(&line, &cap, f) != -1) {
		/* "#key = value" and "#[section]" lines, not prose comments. */
		n = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz0123456789_-");
		if (line[0] == '#' && (line[1] == '[' ||
		    (n > 0 && strncmp(line + 1 + n, " = ", 3) == 0)))
			strcat(text, line + 1);
		else
			strcat(text, line);
		ck_assert_uint_lt(strlen(text), sizeof(text) - 256);
	}
	free(line);
	fclose(f);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		ck_assert_msg(strstr(text, keys[i]) != NULL, "%s missing", keys[i]);
	}

	data = write_file("default-models.tsv", DATA);
	path = write_file("uncommented.conf", text);
	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_msg(cfg_load(&c, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.nendpoints, 1);
	ck_assert_uint_eq(c.nclients, 1);
	ck_assert_int_eq(c.admin_has_key, 1);
	ck_assert_ptr_nonnull(cfg_endpoint_by_name(&c, "my-llama"));
	ck_assert_str_eq(c.default_models_file, data);
	ck_assert_str_eq(c.token_file, "/etc/hfgate/hf_token");
	cfg_free(&c);
	free(path);
	free(data);
}
END_TEST

START_TEST(test_set_listen)
{
	static const struct { const char *in, *host; unsigned port; } ok[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080 },
		{ "0.0.0.0:0", "0.0.0.0", 0 },
		{ "localhost:65535", "localhost", 65535 },
		{ "[::1]:9000", "::1", 9000 },
		{ "[fe80::1%eth0]:1", "fe80::1%eth0", 1 },
	};
	static const char *bad[] = {
		"", ":8080", "host", "host:", "host:-1", "host:65536",
		"host:123456", "host:8o", "[::1]", "[::1]8080", "[]:80",
		"::1:80", "a b:80", "host: 80",
	};
	struct config	 c;
	char		 err[256];
	size_t		 i;

	ck_assert_int_eq(cfg_init(&c), 0);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(cfg_set_listen(&c, ok[i].in, 0, err, sizeof(err)) == 0,
		    "%s: %s", ok[i].in, err);
		ck_assert_str_eq(c.listens[0].host, ok[i].host);
		ck_assert_uint_eq(c.listens[0].port, ok[i].port);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(cfg_set_listen(&c, bad[i], 0, err, sizeof(err)) == -1,
		    "accepted '%s'", bad[i]);
		ck_assert_msg(strstr(err, "invalid listen address") != NULL, "%s",
		    err);
		/* The last good value is kept. */
		ck_assert_str_eq(c.listens[0].host, "fe80::1%eth0");
		ck_assert_uint_eq(c.listens[0].port, 1);
	}
	cfg_free(&c);
}
END_TEST

START_TEST(test_cors_any)
{
	struct config	 c;
	char		 err[512] = "";

	/* '*' is for the operator to write: every origin then gets "*". */
	ck_assert_msg(load(&c, "cors_origin = *\n", err, sizeof(err), NULL) == 0, "%s", err);
	ck_assert_str_eq(cfg_cors_origin(&c, "http://anything.example"), "*");
	ck_assert_str_eq(cfg_cors_origin(&c, NULL), "*");
	cfg_free(&c);
}
END_TEST

START_TEST(test_set_string)
{
	char	*s = NULL;

	ck_assert_int_eq(cfg_set_string(&s, "a"), 0);
	ck_assert_str_eq(s, "a");
	ck_assert_int_eq(cfg_set_string(&s, "bc"), 0);
	ck_assert_str_eq(s, "bc");
	ck_assert_int_eq(cfg_set_string(&s, NULL), 0);
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_clients)
{
	static const uint8_t hash_a[CFG_KEY_HASH_LEN] = {
		0x87, 0x66, 0xb9, 0xcb, 0x08, 0xe6, 0x04, 0x0b, 0x70, 0x4f, 0x1e, 0x3e,
		0xe1, 0xe1, 0x86, 0xef, 0xcc, 0xf2, 0x63, 0x5b, 0x1d, 0x26, 0x34, 0xd6,
		0x52, 0x53, 0x33, 0x00, 0x7e, 0x6a, 0xea, 0xe1
	};
	struct config		 c;
	const struct cfg_client	*a, *b;
	char			 err[1024] = "", *keyfile, *content;

	/* "secret-a" with the blank lines an editor may leave around it. */
	keyfile = write_file("team-b.key", "\n  secret-b\n\n");
	free(keyfile);
	content = with_keys("[client team-a]\nkey_sha256 = KA\n"
	    "tasks = text-classification, fill-mask\ntasks = text-*\n"
	    "models = org/* gpt2\nrate = 60\nburst = 10\nmax_concurrent = 4\n"
	    "daily_quota = 1000\ndaily_token_quota = 4000000000\n"
	    "[client team-b]\nkey_file = team-b.key\n"
	    "[admin]\nkey_sha256 = 00000000000000000000000000000000000000000000000000000000000000fF\n"
	    "[server]\nallow = 10.0.0.0/8 192.168.1.77 ::1 fd00::/8\nallow = 127.0.0.1/8\n"
	    "trusted_proxies = 127.0.0.1, ::1\nbody_timeout = 30\nmax_body_memory = 1G\n"
	    "listen = 127.0.0.1:8080, [::1]:8081\ntls_listen = 0.0.0.0:8443\n"
	    "tls_cert = team-b.key\ntls_key = team-b.key\n"
	    "max_connections_per_ip = 50\nheader_timeout = 5\nmax_header_bytes = 16k\n"
	    "max_url_bytes = 2k\n[usage]\nenabled = no\ndb = /tmp/u.db\n"
	    "flush_interval_ms = 250\n");
	ck_assert_msg(load(&c, content, err, sizeof(err), NULL) == 0, "%s", err);
	free(content);
	ck_assert_uint_eq(c.nclients, 2);
	a = cfg_client_by_name(&c, "team-a");
	b = cfg_client_by_name(&c, "team-b");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(cfg_client_by_name(&c, "team-c"));
	ck_assert_mem_eq(a->key_hash, hash_a, CFG_KEY_HASH_LEN);
	ck_assert_uint_eq(a->ntasks, 3);
	ck_assert_str_eq(a->tasks[2], "text-*");
	ck_assert_uint_eq(a->nmodels, 2);
	ck_assert_str_eq(a->models[0], "org/*");
	ck_assert_uint_eq(a->rate, 60);
	ck_assert_uint_eq(a->burst, 10);
	ck_assert_uint_eq(a->max_concurrent, 4);
	ck_assert_uint_eq(a->daily_quota, 1000);
	ck_assert_uint_eq(a->daily_token_quota, 4000000000u);
	/* The file's key without its surrounding blanks: sha256("secret-b"). */
	ck_assert_uint_eq(b->key_hash[0], 0xff);
	ck_assert_uint_eq(b->key_hash[31], 0xaf);
	ck_assert_uint_eq(b->ntasks + b->nmodels + b->rate + b->daily_quota +
	    b->daily_token_quota, 0);
	ck_assert_int_eq(c.admin_has_key, 1);
	ck_assert_uint_eq(c.admin_key_hash[31], 0xff);
	ck_assert_uint_eq(c.nallow, 5);
	ck_assert_int_eq(c.allow[0].family, AF_INET);
	ck_assert_uint_eq(c.allow[0].prefix, 8);
	ck_assert_uint_eq(c.allow[1].prefix, 32);
	ck_assert_int_eq(c.allow[2].family, AF_INET6);
	ck_assert_uint_eq(c.allow[2].prefix, 128);
	ck_assert_uint_eq(c.allow[4].addr[0], 127);
	ck_assert_uint_eq(c.allow[4].addr[1], 0);	/* host bits cleared */
	ck_assert_uint_eq(c.nproxies, 2);
	ck_assert_int_eq(c.proxies[0].family, AF_INET);
	ck_assert_uint_eq(c.proxies[0].prefix, 32);
	ck_assert_int_eq(c.proxies[1].family, AF_INET6);
	ck_assert_uint_eq(c.body_timeout, 30);
	ck_assert_uint_eq(c.max_body_memory, 1073741824);
	ck_assert_uint_eq(c.nlistens, 3);
	ck_assert_str_eq(c.listens[0].host, "127.0.0.1");
	ck_assert_str_eq(c.listens[1].host, "::1");
	ck_assert_uint_eq(c.listens[1].port, 8081);
	ck_assert_int_eq(c.listens[1].tls, 0);
	ck_assert_str_eq(c.listens[2].host, "0.0.0.0");
	ck_assert_int_eq(c.listens[2].tls, 1);
	ck_assert_str_eq(c.tls_cert, "\n  secret-b\n\n");
	ck_assert_uint_eq(c.max_connections_per_ip, 50);
	ck_assert_uint_eq(c.header_timeout, 5);
	ck_assert_uint_eq(c.max_header_bytes, 16384);
	ck_assert_uint_eq(c.max_url_bytes, 2048);
	ck_assert_int_eq(c.usage_enabled, 0);
	ck_assert_str_eq(c.usage_db, "/tmp/u.db");
	ck_assert_int_eq(c.usage_flush_ms, 250);
	/* -l replaces the plain addresses and keeps the TLS one. */
	ck_assert_int_eq(cfg_set_listen(&c, "127.0.0.2:9000", 0, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.nlistens, 2);
	ck_assert_str_eq(c.listens[0].host, "127.0.0.2");
	ck_assert_int_eq(c.listens[1].tls, 1);
	cfg_free(&c);
}
END_TEST

/* The OpenAI routes' base: given, or derived from the task routes' base. */
START_TEST(test_openai_base)
{
	static const struct {
		const char	*url, *openai, *want;
	} rows[] = {
		{ "https://router.huggingface.co/hf-inference", NULL,
		    "https://router.huggingface.co/v1" },
		{ "http://127.0.0.1:9/router/hf-inference", NULL,
		    "http://127.0.0.1:9/router/v1" },
		{ "http://127.0.0.1:9", NULL, "http://127.0.0.1:9/v1" },
		{ "http://127.0.0.1:9/mirror", NULL, "http://127.0.0.1:9/mirror/v1" },
		{ "http://127.0.0.1:9/hf-inference-x", NULL,
		    "http://127.0.0.1:9/hf-inference-x/v1" },
		{ "http://127.0.0.1:9", "http://127.0.0.1:10/vllm/v1",
		    "http://127.0.0.1:10/vllm/v1" },
	};
	struct config	 c;
	char		 out[256], small[8], path[] = "/tmp/hfgate-oai-XXXXXX", err[512];
	size_t		 i;
	int		 fd;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ck_assert_int_eq(cfg_init(&c), 0);
		ck_assert_int_eq(cfg_set_string(&c.upstream_url, rows[i].url), 0);
		if (rows[i].openai != NULL)
			ck_assert_int_eq(cfg_set_string(&c.openai_url, rows[i].openai), 0);
		ck_assert_int_eq(cfg_openai_base(&c, out, sizeof(out)), 0);
		ck_assert_str_eq(out, rows[i].want);
		ck_assert_int_eq(cfg_openai_base(&c, small, sizeof(small)), -1);
		cfg_free(&c);
	}
	/* The keys: [upstream] openai_url, [default-models] chat-completion. */
	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert(write(fd, "[upstream]\nopenai_url = http://127.0.0.1:10/v1/\n"
	    "[default-models]\nchat-completion = org/chat\n", 92) == 92);
	close(fd);
	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_int_eq(cfg_set_string(&c.default_models_file,
	    TOP_SRCDIR "/etc/default-models.tsv"), 0);
	ck_assert_msg(cfg_load(&c, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.openai_url, "http://127.0.0.1:10/v1");
	ck_assert_str_eq(c.default_chat_model, "org/chat");
	cfg_free(&c);
	unlink(path);
	/* The CLI's URL options. */
	ck_assert_int_eq(cfg_init(&c), 0);
	ck_assert_int_eq(cfg_set_url(&c.hub_url, "http://127.0.0.1:11//", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.hub_url, "http://127.0.0.1:11");
	ck_assert_int_eq(cfg_set_url(&c.hub_url, "ftp://x", err, sizeof(err)), -1);
	ck_assert_str_eq(c.hub_url, "http://127.0.0.1:11");
	cfg_free(&c);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_openai_base);
	tcase_add_test(tc, test_full_file);
	tcase_add_test(tc, test_bools_and_unset);
	tcase_add_test(tc, test_suffixes);
	tcase_add_test(tc, test_durations);
	tcase_add_loop_test(tc, test_errors, 0,
	    (int)(sizeof(errcases) / sizeof(errcases[0])));
	tcase_add_test(tc, test_key_outside_section);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_missing_data_file_builtin);
	tcase_add_test(tc, test_indented_lines);
	tcase_add_test(tc, test_endpoints);
	tcase_add_test(tc, test_override_beats_data_file);
	tcase_add_test(tc, test_relative_data_file);
	tcase_add_test(tc, test_shipped_config);
	tcase_add_test(tc, test_shipped_config_uncommented);
	tcase_add_test(tc, test_set_listen);
	tcase_add_test(tc, test_cors_any);
	tcase_add_test(tc, test_set_string);
	tcase_add_test(tc, test_clients);
	suite_add_tcase(s, tc);
	return (s);
}
