/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fake_upstream.c: a fake Hugging Face Inference API on 127.0.0.1, for the tests, the
 * benchmarks and for trying hfgate without internet (docs/fake-upstream.md).
 *
 * It replays the recorded production answers of tests/data/cassettes.json, answers
 * "mock/<task>" and the default model of each task in the real shape, and offers
 * "fake/..." models with scripted behaviour:
 *   fake/echo                       the request as JSON, the Authorization value
 *                                   redacted (an upstream does not hand it back)
 *   fake/echo-auth                  the request as JSON, Authorization included
 *   fake/echo-auth-header           Authorization sent back in x-echo-authorization
 *                                   (a 3-event stream when the body asks for one)
 *   fake/echo-auth-stream-<k>[-<pad>]
 *                                   a stream whose token k is the Authorization value
 *                                   (after <pad> bytes of 'x')
 *   fake/loading-<ms>               503 loading until <ms> after the first request
 *   fake/always-loading             always 503 loading
 *   fake/429-<n>, fake/429date-<n>  n x 429 (Retry-After seconds / HTTP-date), then 200
 *   fake/5xx-<n>                    n x 500/502/503/504 cycling, then 200
 *   fake/always500                  always 500
 *   fake/slow-<ms>                  200 after <ms>
 *   fake/reset-<n>                  n x connection closed without an answer, then 200
 * and TGI streams (axum framing, each event its own chunk preceded by ":t=<unix ms>"):
 *   fake/stream-<count>-<ms>        <count> events, one every <ms>, the last the EOS one
 *   fake/stream-reset-<count>-<k>   TCP reset after k events (20 ms apart)
 *   fake/stream-cut-<count>-<k>     event k sent half, then the connection closed
 *   fake/stream-stall-<count>-<k>-<ms>
 *                                   nothing for <ms> after k events, then the rest
 *   fake/stream-error-<k>           k token events, a TGI error event, clean end
 *   fake/stream-noend-<count>       <count> token events, clean end, no final event
 *   fake/stream-big-<count>-<bytes> <count> events of about <bytes>, no pause
 *   fake/stream-big-<count>-<bytes>-<ms>  the same, one every <ms>
 *   fake/stream-503-<n>-<count>     n x 503 loading, then a <count> event stream
 *   fake/stream-422                 a TGI 422 validation error (JSON)
 * Dedicated endpoints: POST /endpoints/<name>[/generate|/generate_stream], GET
 * /endpoints/<name>/info. Control routes: /__fake/stats, /__fake/requests and
 * /__fake/reset.
 *
 * Today's Hugging Face besides: the router under /router (the task API at
 * /router/hf-inference/models/<id>, LLMs only through the OpenAI protocol at
 * /router/v1/...), an OpenAI-protocol endpoint as vLLM serves it under /vllm, the
 * retired host under /gone (410) and the Hub's ?expand=inferenceProviderMapping.
 * OpenAI answers echo the request ("echo: <last user message>"); fault models:
 *   fake/oai-429[-<n>], fake/oai-500[-<n>]   always, or the first n requests
 *   fake/oai-cut                    the stream closed after 2 chunks, before [DONE]
 *   fake/oai-stall[-<ms>]           nothing after 2 chunks (for ever, or for <ms>)
 *   fake/oai-error                  2 chunks, an in-stream error, [DONE]
 *   fake/oai-slow-<ms>              chunks <ms> apart
 *   fake/oai-stamp-<ms>             the same, each chunk after a ":t=<unix ms>" line
 *
 * Plain answers are MHD responses built once at start-up. A slow answer or a gap in a
 * stream suspends the MHD connection and the timer thread resumes it when due, or at
 * once when the client hangs up (it watches parked sockets with epoll), so no worker
 * thread ever waits and no thread polls.
 *
 * Usage: fake_upstream [--port N] [--data DIR] [--threads N]; prints "PORT <n>" once
 * listening, runs until SIGTERM/SIGINT.
 */

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <microhttpd.h>

#ifndef FAKE_DATA_DIR
#define FAKE_DATA_DIR	"tests/data"
#endif

#define LOG_MAX		1000
#define LOG_BODY_MAX	(64 * 1024)
#define BODY_MAX	(256 * 1024 * 1024)
#define REQ_INLINE	1024
#define CONN_LIMIT	20000	/* raised to the descriptor limit at start-up */
#define FD_RESERVE	64	/* descriptors kept for the listener, epoll, files */
#define CONN_TIMEOUT	30
#ifndef CONN_MEMORY
#define CONN_MEMORY	(16 * 1024)	/* MHD clears it per request: keep it small */
#endif
#define MOCK_STREAM_MS	10	/* gap between mock/text-generation SSE events */
#define FAULT_STREAM_MS	20	/* gap between events of fake/stream-<kind>-... */
#define BIG_MAX		(16 * 1024 * 1024)	/* fake/stream-big: event bytes */
#define BIG_TOTAL_MAX	(256 * 1024 * 1024)	/* ... count x bytes */
#define MAX_HDRS	8
#define DEFAULT_SHA	"0123456789abcdef0123456789abcdef01234567"
#define OK_BODY		"[[{\"label\":\"POSITIVE\",\"score\":0.99}]]"

/* The task names of src/tasks.def, in its order (alphabetical). */
static const char *const tasks[] = {
#define TASK(name, input, pipeline, accept)	name,
#include "tasks.def"
#undef TASK
};
#define NTASKS	(sizeof(tasks) / sizeof(tasks[0]))

/* The Hub's widgetModels of June 2023 (cassettes.json); etc/default-models.tsv adds more. */
static const char *const builtin_defaults[][2] = {
	{ "audio-classification", "facebook/mms-lid-126" },
	{ "automatic-speech-recognition", "openai/whisper-large-v2" },
	{ "conversational", "facebook/blenderbot-400M-distill" },
	{ "document-question-answering", "impira/layoutlm-document-qa" },
	{ "feature-extraction", "facebook/bart-base" },
	{ "fill-mask", "distilroberta-base" },
	{ "image-classification", "google/vit-base-patch16-224" },
	{ "image-segmentation", "facebook/detr-resnet-50-panoptic" },
	{ "image-to-image", "lllyasviel/sd-controlnet-canny" },
	{ "image-to-text", "Salesforce/blip-image-captioning-base" },
	{ "object-detection", "facebook/detr-resnet-50" },
	{ "question-answering", "deepset/roberta-base-squad2" },
	{ "sentence-similarity", "sentence-transformers/all-MiniLM-L6-v2" },
	{ "summarization", "sshleifer/distilbart-cnn-12-6" },
	{ "table-question-answering", "google/tapas-base-finetuned-wtq" },
	{ "tabular-classification", "scikit-learn/tabular-playground" },
	{ "tabular-regression", "scikit-learn/Fish-Weight" },
	{ "text-classification", "distilbert-base-uncased-finetuned-sst-2-english" },
	{ "text-generation", "tiiuae/falcon-7b-instruct" },
	{ "text-to-image", "CompVis/stable-diffusion-v1-4" },
	{ "text-to-speech", "microsoft/speecht5_tts" },
	{ "token-classification", "dslim/bert-base-NER" },
	{ "translation", "t5-small" },
	{ "visual-question-answering", "dandelin/vilt-b32-finetuned-vqa" },
	{ "zero-shot-classification", "facebook/bart-large-mnli" },
	{ "zero-shot-image-classification", "openai/clip-vit-large-patch14-336" }
};

/* Models of today's router that today's clients name (docs/fake-upstream.md). */
static const char *const today_models[][2] = {
	{ "text-generation", "meta-llama/Llama-3.1-8B-Instruct" },
	{ "text-generation", "openai-community/gpt2" },
	{ "text-generation", "gpt2" },
	{ "conversational", "Qwen/Qwen2.5-VL-7B-Instruct" },
	{ "image-to-image", "timbrooks/instruct-pix2pix" },
	{ "tabular-classification", "julien-c/wine-quality" }
};

/* Models of tasks that hfgate forwards without knowing them (not in src/tasks.def),
   named by today's clients: one fixed answer each, in the task's shape. */
static const struct {
	const char	*model, *ctype, *body;
	size_t		 len;
} today_raw[] = {
	{ "speechbrain/sepformer-wham", "application/json",	/* audio-to-audio */
	    "[{\"label\":\"speech_0\",\"content-type\":\"audio/flac\","
	    "\"blob\":\"ZkxhQwAAACIQABAA\"}]", 0 },
	{ "facebook/musicgen-small", "audio/flac", "fLaC\0\0\0\"\020\0\020\0", 12 }
							/* text-to-audio */
};

/* The other models of huggingface_hub 0.18's recorded requests
   (tests/data/client-requests-v018.jsonl); v018_route has their behaviours. */
static const char *const v018_models[][2] = {
	{ "text-generation", "mock/tgi" }, { "text-generation", "mock/tgi-keepalive" },
	{ "text-generation", "mock/tgi-nochunk" }, { "text-generation", "mock/tgi-index" },
	{ "text-generation", "mock/tgi-error" }, { "text-generation", "mock/tgi-422" },
	{ "text-generation", "mock/non-tgi" }, { "text-classification", "mock/503x2" },
	{ "text-classification", "mock/always503" },
	{ "text-classification", "mock/some-model" }
};

/* GET /framework/<fw> lists these. */
static const char *const framework_models[][3] = {
	{ "transformers", "distilbert-base-uncased-finetuned-sst-2-english", "text-classification" },
	{ "transformers", "distilroberta-base", "fill-mask" },
	{ "transformers", "deepset/roberta-base-squad2", "question-answering" },
	{ "transformers", "gpt2", "text-generation" },
	{ "text-generation-inference", "google/flan-t5-xxl", "text-generation" },
	{ "text-generation-inference", "tiiuae/falcon-7b-instruct", "text-generation" },
	{ "sentence-transformers", "sentence-transformers/all-MiniLM-L6-v2", "sentence-similarity" },
	{ "diffusers", "CompVis/stable-diffusion-v1-4", "text-to-image" },
	{ "espnet", "espnet/kan-bayashi_ljspeech_vits", "text-to-speech" },
	{ "speechbrain", "speechbrain/google_speech_command_xvector", "audio-classification" }
};

/* Tokens of the synthesized TGI streams; the EOS token "</s>" follows. */
static const char *const words[] = {
	" The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", "."
};
#define NWORDS	(sizeof(words) / sizeof(words[0]))

struct sbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

struct hdr {
	char	*name;
	char	*value;
};

/* One prepared answer. All strings are owned. */
struct answer {
	unsigned int		 status;
	char			*ctype;
	char			*body;
	size_t			 len;
	struct hdr		 hdrs[MAX_HDRS];	/* besides Content-Type, x-request-id */
	size_t			 nhdrs;
	size_t			*evoff;		/* SSE: nev + 1 event offsets in body */
	size_t			 nev;
	struct MHD_Response	*shared;	/* with a generated x-request-id */
	struct answer		*next;		/* list of all answers, for freeing */
};

/* Text-generation variants of the recorded answers. */
enum tg_variant {
	TG_NONE, TG_PLAIN, TG_DETAILS, TG_BEST_OF, TG_STREAM, TG_STREAM_DETAILS,
	TG_VALIDATION, TG_NON_TGI
};

struct cassette {
	char		*model;
	char		 task[64];
	char		*reqbody;	/* NULL when not recorded */
	size_t		 reqlen;
	enum tg_variant	 variant;
	struct answer	*a;		/* borrowed from the answer list */
};

enum model_kind { MODEL_CASSETTE, MODEL_MOCK, MODEL_DEFAULT };

struct model {
	enum model_kind	 kind;
	size_t		 task;		/* MODEL_MOCK, MODEL_DEFAULT */
	size_t		*cas;		/* MODEL_CASSETTE: indices into data.cas */
	size_t		 ncas;
};

/* String-keyed open-addressing hash map entry. */
struct sent {
	char		*key;		/* owned; NULL marks a free slot */
	size_t		 klen;
	uint64_t	 hash;
	uint64_t	 n;		/* stats: requests; behaviour: requests so far */
	uint64_t	 t0;		/* behaviour: monotonic ms of the first request */
	void		*ptr;		/* models: struct model, owned */
};

struct smap {
	struct sent	*v;
	size_t		 cap;
	size_t		 len;
};

struct logent {
	uint64_t	 seq;		/* 0: empty */
	struct sbuf	 method;
	struct sbuf	 path;
	struct sbuf	 query;
	struct sbuf	 hdrs;		/* "name\0value\0" pairs, names lowercased */
	struct sbuf	 body;		/* at most LOG_BODY_MAX bytes */
	size_t		 bodylen;
	int		 aborted;
	int		 reset;
	int		 completed;
};

/* What happens to a synthesized stream at event "at". */
enum sfault {
	SF_NONE,
	SF_RESET,	/* TCP reset instead of event at */
	SF_CUT,		/* event at sent half, then the connection closed */
	SF_STALL,	/* event at comes stall ms after the previous one */
	SF_ERROR,	/* event at is a TGI error event, the last */
	SF_NOEND,	/* every event is an ordinary token: no final one */
	SF_CLOSE,	/* the connection closed (FIN) when event at is due */
	SF_ECHO		/* event at is a token of the Authorization value, sent in two
			   chunks cut inside it (events at and at + 1) */
};

/* An SSE response in progress (synthesized, or a recorded one replayed event by event). */
struct stream {
	const struct answer	*rec;
	size_t			 next;		/* index of the next event */
	size_t			 count;		/* events in the stream */
	uint64_t		 t0;
	uint64_t		 interval;
	enum sfault		 fault;
	size_t			 at;		/* the event the fault applies to */
	uint64_t		 stall;		/* SF_STALL: ms */
	size_t			 pad;		/* bytes per event to aim at (0: none) */
	int			 stamp;		/* ":t=<unix ms>" before each event */
	int			 words;		/* mock texts (" The quick...") not " tok<i>" */
	int			 details;
	int			 waited;	/* resumed after a gap */
	int			 cut;		/* SF_CUT done: close at the next call */
	const char		*secret;	/* SF_ECHO: the request's Authorization (MHD's) */
	struct sbuf		 text;		/* generated_text so far */
	struct sbuf		 ev;
	size_t			 evoff;
	struct sbuf		 built;		/* OpenAI streams: every event, built at once */
	size_t			*boff;		/* nboff offsets into built: event i is */
	size_t			 nboff;		/* [boff[i], boff[i + 1]) */
	size_t			 capboff;
};

struct req {
	struct MHD_Connection	*conn;
	char			*uri;		/* raw request-target */
	size_t			 pathlen;	/* bytes of uri before '?' */
	char			 method[16];
	const char		*reqid;		/* client's x-request-id, borrowed from MHD */
	int			 started;
	int			 control;
	int			 dispatched;
	int			 logged;
	int			 reset;		/* the fake closed the connection */
	int			 fd;		/* while parked: the socket */
	size_t			 heapidx;	/* while parked: index in g.heap */
	uint64_t		 logseq;
	const struct answer	*later;		/* queued when a suspended request resumes */
	struct sbuf		 late;		/* or this JSON (OpenAI routes), if set */
	unsigned int		 late_status;
	char			*body;
	size_t			 len;
	size_t			 cap;
	struct stream		 st;
	char			 uri_inl[256];
	char			 body_inl[REQ_INLINE];
};

struct timer {
	uint64_t	 due;
	struct req	*r;
};

enum behave {
	B_ECHO, B_ECHO_AUTH, B_ECHO_AUTH_HEADER, B_ECHO_AUTH_STREAM, B_LOADING, B_ALWAYS_LOADING, B_429, B_429DATE, B_5XX, B_ALWAYS500,
	B_SLOW, B_RESET, B_STREAM, B_STREAM_RESET, B_STREAM_CUT, B_STREAM_STALL,
	B_STREAM_ERROR, B_STREAM_NOEND, B_STREAM_BIG, B_STREAM_503, B_STREAM_422
};

/* Read-only after start-up. */
static struct {
	struct answer	*answers;
	struct cassette	*cas;
	size_t		 ncas;
	struct smap	 models;
	const struct answer *mock[NTASKS];
	size_t		 tg;		/* index of text-generation */
	struct answer	*tg_plain;
	struct answer	*tg_details;
	struct answer	*gen_plain;	/* TGI /generate: an object, not a list */
	struct answer	*gen_details;
	struct answer	*api_tasks;
	struct answer	*status_ok;
	struct answer	*ok;
	struct answer	*r429;
	struct answer	*always_loading;
	struct answer	*always500;
	struct answer	*e5xx[4];
} data;

/* Mutable state, under mu. */
static struct {
	pthread_mutex_t	 mu;
	int		 ep;		/* epoll: parked sockets (EPOLLRDHUP) and wake */
	int		 wake;		/* eventfd: the timer thread has new work */
	uint64_t	 total;
	struct smap	 paths;
	struct smap	 state;
	struct logent	 log[LOG_MAX];
	uint64_t	 logseq;	/* next sequence number */
	uint64_t	 logbase;	/* first sequence number after the last reset */
	struct timer	*heap;
	size_t		 nheap;
	size_t		 capheap;
} g;

static atomic_int	 stopping;
static atomic_uint_fast64_t ids;

static void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fputs("fake_upstream: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* A test tool: running out of memory is fatal. */
static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		fatal("out of memory");
	return (p);
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n == 0 ? 1 : n)) == NULL)
		fatal("out of memory");
	return (p);
}

static char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return (p);
}

static char *
xstrdup(const char *s)
{
	return (xstrndup(s, strlen(s)));
}

static uint64_t
mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static uint64_t
real_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static void
sbuf_reserve(struct sbuf *b, size_t more)
{
	size_t	cap;

	if (b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < b->len + more + 1)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->p[b->len] = '\0';
	b->cap = cap;
}

static void
sbuf_add(struct sbuf *b, const void *s, size_t n)
{
	sbuf_reserve(b, n);
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sbuf_fill(struct sbuf *b, int c, size_t n)
{
	sbuf_reserve(b, n);
	memset(b->p + b->len, c, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sbuf_str(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list	ap;
	char	tmp[256];
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vsnprintf failed");
	if ((size_t)n < sizeof(tmp)) {
		sbuf_add(b, tmp, (size_t)n);
		return;
	}
	sbuf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void
sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

static void
sbuf_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
b64_encode(struct sbuf *out, const unsigned char *in, size_t len)
{
	size_t		i;
	uint32_t	n;
	char		q[4];

	sbuf_reserve(out, (len + 2) / 3 * 4);
	for (i = 0; i + 2 < len; i += 3) {
		n = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		q[0] = b64chars[n >> 18];
		q[1] = b64chars[n >> 12 & 63];
		q[2] = b64chars[n >> 6 & 63];
		q[3] = b64chars[n & 63];
		sbuf_add(out, q, 4);
	}
	if (i < len) {
		n = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			n |= (uint32_t)in[i + 1] << 8;
		q[0] = b64chars[n >> 18];
		q[1] = b64chars[n >> 12 & 63];
		q[2] = i + 1 < len ? b64chars[n >> 6 & 63] : '=';
		q[3] = '=';
		sbuf_add(out, q, 4);
	}
}

static int
b64_value(int c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64chars, c)) == NULL)
		return (-1);
	return ((int)(p - b64chars));
}

/* Strict standard base64 with padding. Returns 0 or -1; *out is malloc'd. */
static int
b64_decode(const char *in, size_t len, char **out, size_t *outlen)
{
	unsigned char	*p;
	size_t		 i, o = 0;
	int		 k, v, pad;
	uint32_t	 n;

	if (len % 4 != 0)
		return (-1);
	p = xmalloc(len / 4 * 3 + 1);
	for (i = 0; i < len; i += 4) {
		n = 0;
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				pad++;
				v = 0;
			} else if (pad > 0 || (v = b64_value(in[i + k])) < 0) {
				free(p);
				return (-1);
			}
			n = n << 6 | (uint32_t)v;
		}
		p[o++] = (unsigned char)(n >> 16);
		if (pad < 2)
			p[o++] = (unsigned char)(n >> 8);
		if (pad < 1)
			p[o++] = (unsigned char)n;
	}
	*out = (char *)p;
	*outlen = o;
	return (0);
}

static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t	h = 1469598103934665603ULL;
	size_t		i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return (h);
}

static void
smap_grow(struct smap *m)
{
	struct sent	*old = m->v;
	size_t		 oldcap = m->cap, i, j;

	m->cap = oldcap ? oldcap * 2 : 64;
	m->v = xmalloc(m->cap * sizeof(*m->v));
	memset(m->v, 0, m->cap * sizeof(*m->v));
	for (i = 0; i < oldcap; i++) {
		if (old[i].key == NULL)
			continue;
		j = old[i].hash & (m->cap - 1);
		while (m->v[j].key != NULL)
			j = (j + 1) & (m->cap - 1);
		m->v[j] = old[i];
	}
	free(old);
}

/* Returns the entry for key, creating an empty one if asked, or NULL. */
static struct sent *
smap_find(struct smap *m, const char *key, size_t klen, int create)
{
	struct sent	*e;
	uint64_t	 h;
	size_t		 i;

	if (create && (m->len + 1) * 2 > m->cap)
		smap_grow(m);
	if (m->cap == 0)
		return (NULL);
	h = hash_bytes(key, klen);
	for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		e = &m->v[i];
		if (e->key == NULL) {
			if (!create)
				return (NULL);
			e->key = xstrndup(key, klen);
			e->klen = klen;
			e->hash = h;
			m->len++;
			return (e);
		}
		if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return (e);
	}
}

/* Empties the map; the ptr values are the caller's to free first. */
static void
smap_clear(struct smap *m)
{
	size_t	i;

	for (i = 0; i < m->cap; i++)
		free(m->v[i].key);
	if (m->cap > 0)
		memset(m->v, 0, m->cap * sizeof(*m->v));
	m->len = 0;
}

static void
smap_free(struct smap *m)
{
	smap_clear(m);
	free(m->v);
	m->v = NULL;
	m->cap = 0;
}

static int
task_lookup(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < NTASKS; i++)
		if (strlen(tasks[i]) == len && memcmp(tasks[i], name, len) == 0)
			return ((int)i);
	return (-1);
}

static const char *
answer_hdr_get(const struct answer *a, const char *name)
{
	size_t	i;

	for (i = 0; i < a->nhdrs; i++)
		if (strcasecmp(a->hdrs[i].name, name) == 0)
			return (a->hdrs[i].value);
	return (NULL);
}

static void
answer_hdr(struct answer *a, const char *name, const char *value)
{
	if (a->nhdrs == MAX_HDRS)
		fatal("too many headers for one answer");
	a->hdrs[a->nhdrs].name = xstrdup(name);
	a->hdrs[a->nhdrs].value = xstrdup(value);
	a->nhdrs++;
}

/* Takes body. */
static struct answer *
answer_new(unsigned int status, const char *ctype, char *body, size_t len)
{
	struct answer	*a;

	a = xmalloc(sizeof(*a));
	memset(a, 0, sizeof(*a));
	a->status = status;
	a->ctype = xstrdup(ctype);
	a->body = body;
	a->len = len;
	a->next = data.answers;
	data.answers = a;
	return (a);
}

static struct answer *
answer_json(unsigned int status, const char *json)
{
	return (answer_new(status, "application/json", xstrdup(json), strlen(json)));
}

static void
answer_free(struct answer *a)
{
	size_t	i;

	if (a == NULL)
		return;
	if (a->shared != NULL)
		MHD_destroy_response(a->shared);
	for (i = 0; i < a->nhdrs; i++) {
		free(a->hdrs[i].name);
		free(a->hdrs[i].value);
	}
	free(a->ctype);
	free(a->body);
	free(a->evoff);
	free(a);
}

/* "fake-" and 16 hex digits: 21 characters like the API's own ids. */
static void
id_make(char *buf, size_t size, const char *reqid)
{
	if (reqid != NULL)
		snprintf(buf, size, "%s", reqid);
	else
		snprintf(buf, size, "fake-%016" PRIxFAST64, atomic_fetch_add(&ids, 1));
}

/*
 * Adds the headers every answer carries: Content-Type, the answer's own (or the
 * default x-compute-*), x-request-id (echoed, else generated) and one optional extra.
 */
static int
resp_headers(struct MHD_Response *resp, const struct answer *a, const char *ctype,
    const char *reqid, const char *xname, const char *xval)
{
	char	id[128];
	size_t	i;

	id_make(id, sizeof(id), reqid);
	if (MHD_add_response_header(resp, "Content-Type", ctype) != MHD_YES ||
	    MHD_add_response_header(resp, "x-request-id", id) != MHD_YES)
		return (-1);
	if (a == NULL) {
		if (MHD_add_response_header(resp, "x-compute-type", "cpu") != MHD_YES ||
		    MHD_add_response_header(resp, "x-compute-time", "0.012") != MHD_YES)
			return (-1);
	} else {
		for (i = 0; i < a->nhdrs; i++)
			if (MHD_add_response_header(resp, a->hdrs[i].name,
			    a->hdrs[i].value) != MHD_YES)
				return (-1);
	}
	if (xname != NULL && MHD_add_response_header(resp, xname, xval) != MHD_YES)
		return (-1);
	return (0);
}

static struct MHD_Response *
answer_response(const struct answer *a, const char *reqid, const char *xname,
    const char *xval)
{
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_buffer(a->len, a->body, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return (NULL);
	if (resp_headers(resp, a, a->ctype, reqid, xname, xval) == -1) {
		MHD_destroy_response(resp);
		return (NULL);
	}
	return (resp);
}

/* Fills in the default headers and builds the shared response. */
static void
answer_finish(struct answer *a)
{
	size_t	i, start;

	if (answer_hdr_get(a, "x-compute-type") == NULL)
		answer_hdr(a, "x-compute-type", "cpu");
	if (answer_hdr_get(a, "x-compute-time") == NULL)
		answer_hdr(a, "x-compute-time", "0.012");
	if (strncmp(a->ctype, "text/event-stream", 17) == 0) {
		/* Split the recorded stream into its events ("\n\n" terminated). */
		a->evoff = xmalloc((a->len / 2 + 2) * sizeof(*a->evoff));
		a->evoff[0] = 0;
		for (i = 0, start = 0; i + 1 < a->len; i++)
			if (a->body[i] == '\n' && a->body[i + 1] == '\n') {
				a->evoff[++a->nev] = i + 2;
				start = ++i + 1;
			}
		if (start < a->len)
			a->evoff[++a->nev] = a->len;
		if (a->nev > 0)
			return;
	}
	if ((a->shared = answer_response(a, NULL, NULL, NULL)) == NULL)
		fatal("cannot build a response");
}

static int
file_read(const char *path, char **out, size_t *outlen)
{
	struct sbuf	 b = { NULL, 0, 0 };
	FILE		*f;
	char		 buf[65536];
	size_t		 n;

	if ((f = fopen(path, "rb")) == NULL)
		return (-1);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sbuf_add(&b, buf, n);
	if (ferror(f)) {
		fclose(f);
		sbuf_free(&b);
		return (-1);
	}
	fclose(f);
	if (b.p == NULL)
		sbuf_add(&b, "", 0);
	*out = b.p;
	*outlen = b.len;
	return (0);
}

static const char *
json_str(const cJSON *o, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

/* A recorded body (string, maybe base64, or null) as malloc'd bytes. */
static int
body_decode(const cJSON *msg, char **out, size_t *outlen)
{
	const char	*s = json_str(msg, "body");

	if (s == NULL) {
		*out = NULL;
		*outlen = 0;
		return (0);
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "body_is_base64")))
		return (b64_decode(s, strlen(s), out, outlen));
	*outlen = strlen(s);
	*out = xstrndup(s, *outlen);
	return (0);
}

static enum tg_variant
tg_classify(const struct answer *a)
{
	if (a->status == 422)
		return (TG_VALIDATION);
	if (a->status == 400)
		return (TG_NON_TGI);
	if (a->status != 200)
		return (TG_NONE);
	if (strncmp(a->ctype, "text/event-stream", 17) == 0)
		return (memmem(a->body, a->len, "\"details\":null", 14) != NULL ?
		    TG_STREAM : TG_STREAM_DETAILS);
	if (memmem(a->body, a->len, "\"best_of_sequences\"", 19) != NULL)
		return (TG_BEST_OF);
	if (memmem(a->body, a->len, "\"details\"", 9) != NULL)
		return (TG_DETAILS);
	return (TG_PLAIN);
}

/* Keeps the recorded headers a client may look at. */
static const char *const kept_headers[] = {
	"x-compute-type", "x-compute-time", "x-compute-characters", "x-sha"
};

static int
cassette_load(const cJSON *item, char *err, size_t errlen)
{
	const cJSON	*req, *resp, *hdrs, *h, *st;
	const char	*uri, *path, *task, *ctype = "application/json";
	struct cassette	*c;
	struct answer	*a;
	char		*body;
	size_t		 len, i, tl;

	req = cJSON_GetObjectItemCaseSensitive(item, "request");
	resp = cJSON_GetObjectItemCaseSensitive(item, "response");
	st = cJSON_GetObjectItemCaseSensitive(resp, "status");
	if ((uri = json_str(req, "uri")) == NULL || !cJSON_IsNumber(st) ||
	    (task = json_str(item, "task")) == NULL) {
		snprintf(err, errlen, "cassette without uri, status or task");
		return (-1);
	}
	/* "https://api-inference.huggingface.co/models/x" -> "/models/x" */
	if ((path = strstr(uri, "://")) != NULL)
		path = strchr(path + 3, '/');
	else
		path = uri;
	if (path == NULL)
		path = "/";
	hdrs = cJSON_GetObjectItemCaseSensitive(resp, "headers");
	cJSON_ArrayForEach(h, hdrs)
		if (strcasecmp(h->string, "Content-Type") == 0 &&
		    cJSON_IsString(cJSON_GetArrayItem(h, 0)))
			ctype = cJSON_GetArrayItem(h, 0)->valuestring;
	if (body_decode(resp, &body, &len) == -1) {
		snprintf(err, errlen, "bad base64 body in %s", uri);
		return (-1);
	}
	a = answer_new((unsigned int)st->valueint, ctype, body, len);
	cJSON_ArrayForEach(h, hdrs)
		for (i = 0; i < sizeof(kept_headers) / sizeof(kept_headers[0]); i++)
			if (strcasecmp(h->string, kept_headers[i]) == 0 &&
			    cJSON_IsString(cJSON_GetArrayItem(h, 0)))
				answer_hdr(a, kept_headers[i],
				    cJSON_GetArrayItem(h, 0)->valuestring);
	answer_finish(a);

	if (strcmp(path, "/api/tasks") == 0) {
		data.api_tasks = a;
		return (0);
	}
	data.cas = xrealloc(data.cas, (data.ncas + 1) * sizeof(*data.cas));
	c = &data.cas[data.ncas];
	memset(c, 0, sizeof(*c));
	c->a = a;
	if (strncmp(path, "/models/", 8) == 0)
		c->model = xstrdup(path + 8);
	else if (strncmp(path, "/pipeline/", 10) == 0 && strchr(path + 10, '/'))
		c->model = xstrdup(strchr(path + 10, '/') + 1);
	else
		return (0);	/* not a model route: nothing to replay */
	tl = strcspn(task, " ");
	if (tl >= sizeof(c->task))
		tl = sizeof(c->task) - 1;
	memcpy(c->task, task, tl);
	c->task[tl] = '\0';
	if (body_decode(req, &c->reqbody, &c->reqlen) == -1) {
		free(c->model);
		snprintf(err, errlen, "bad base64 request body in %s", uri);
		return (-1);
	}
	if (strcmp(c->task, "text-generation") == 0)
		c->variant = tg_classify(a);
	data.ncas++;
	return (0);
}

static int
cassettes_load(const char *dir, char *err, size_t errlen)
{
	cJSON		*root, *item;
	char		 path[4096], *text;
	size_t		 len;
	int		 rc = 0;

	snprintf(path, sizeof(path), "%s/cassettes.json", dir);
	if (file_read(path, &text, &len) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	root = cJSON_ParseWithLength(text, len);
	free(text);
	if (!cJSON_IsArray(root)) {
		cJSON_Delete(root);
		snprintf(err, errlen, "%s: not a JSON list", path);
		return (-1);
	}
	cJSON_ArrayForEach(item, root)
		if ((rc = cassette_load(item, err, errlen)) == -1)
			break;
	cJSON_Delete(root);
	return (rc);
}

static struct model *
model_add(const char *id, enum model_kind kind, size_t task)
{
	struct sent	*e;
	struct model	*m;

	e = smap_find(&data.models, id, strlen(id), 1);
	if (e->ptr != NULL)
		return (e->ptr);
	m = xmalloc(sizeof(*m));
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->task = task;
	e->ptr = m;
	return (m);
}

/* Reads "task<whitespace>model" lines; a missing file is fine. */
static int
defaults_load(const char *path, char *err, size_t errlen)
{
	FILE	*f;
	char	 line[1024], *p, *task, *model, *save;
	int	 t, lineno = 0;

	if ((f = fopen(path, "r")) == NULL)
		return (errno == ENOENT ? 0 : -1);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		if ((task = strtok_r(line, " \t\r\n", &save)) == NULL)
			continue;
		if ((model = strtok_r(NULL, " \t\r\n", &save)) == NULL) {
			snprintf(err, errlen, "%s:%d: no model", path, lineno);
			fclose(f);
			return (-1);
		}
		if ((t = task_lookup(task, strlen(task))) >= 0)
			model_add(model, MODEL_DEFAULT, (size_t)t);
	}
	fclose(f);
	return (0);
}

static void
tg_build(void)
{
	struct sbuf	text = { NULL, 0, 0 }, b = { NULL, 0, 0 };
	size_t		i;

	for (i = 0; i < NWORDS; i++)
		sbuf_str(&text, words[i]);
	sbuf_printf(&b, "[{\"generated_text\":\"%s\"}]", text.p);
	data.tg_plain = answer_new(200, "application/json", b.p, b.len);
	memset(&b, 0, sizeof(b));
	sbuf_printf(&b, "[{\"generated_text\":\"%s\",\"details\":{\"finish_reason\":"
	    "\"eos_token\",\"generated_tokens\":%zu,\"seed\":null,\"prefill\":[],"
	    "\"tokens\":[", text.p, NWORDS + 1);
	for (i = 0; i < NWORDS; i++)
		sbuf_printf(&b, "{\"id\":%zu,\"text\":\"%s\",\"logprob\":-0.5,"
		    "\"special\":false},", 100 + i, words[i]);
	sbuf_str(&b, "{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.01,\"special\":true}]}}]");
	data.tg_details = answer_new(200, "application/json", b.p, b.len);
	answer_finish(data.tg_plain);
	answer_finish(data.tg_details);
	/* TGI's /generate: the same without the list around it. */
	data.gen_plain = answer_new(200, "application/json",
	    xstrndup(data.tg_plain->body + 1, data.tg_plain->len - 2),
	    data.tg_plain->len - 2);
	data.gen_details = answer_new(200, "application/json",
	    xstrndup(data.tg_details->body + 1, data.tg_details->len - 2),
	    data.tg_details->len - 2);
	answer_finish(data.gen_plain);
	answer_finish(data.gen_details);
	sbuf_free(&text);
}

/* The answer of mock/<task>: a recording of that task where one exists. */
static int
mocks_build(char *err, size_t errlen)
{
	const struct answer	*jpeg = NULL;
	struct cassette		*c;
	struct answer		*a;
	size_t			 i;
	int			 t;

	data.tg = (size_t)task_lookup("text-generation", 15);
	tg_build();
	for (i = 0; i < data.ncas; i++) {
		c = &data.cas[i];
		if (c->a->status != 200 || c->a->nev > 0 ||
		    (t = task_lookup(c->task, strlen(c->task))) < 0)
			continue;
		if (data.mock[t] == NULL)
			data.mock[t] = c->a;
		if (strcmp(c->a->ctype, "image/jpeg") == 0 &&
		    (jpeg == NULL || c->a->len < jpeg->len))
			jpeg = c->a;
	}
	data.mock[data.tg] = data.tg_plain;
	if (jpeg != NULL) {
		a = answer_new(200, "image/jpeg", xmalloc(jpeg->len), jpeg->len);
		memcpy(a->body, jpeg->body, jpeg->len);
		answer_finish(a);
		data.mock[task_lookup("image-to-image", 14)] = a;
	}
	a = answer_json(200, "[{\"generated_text\":\"a cat sitting on a couch\"}]");
	answer_finish(a);
	data.mock[task_lookup("image-to-text", 13)] = a;
	/* Class labels as numbers: scikit-learn's predictions, and what huggingface.js
	   2.6 checks for (number[]). */
	a = answer_json(200, "[1,0,1]");
	answer_finish(a);
	data.mock[task_lookup("tabular-classification", 22)] = a;
	a = answer_json(200, "[110.0,250.5]");
	answer_finish(a);
	data.mock[task_lookup("tabular-regression", 18)] = a;
	for (i = 0; i < NTASKS; i++)
		if (data.mock[i] == NULL) {
			snprintf(err, errlen, "no recorded answer for task %s", tasks[i]);
			return (-1);
		}
	return (0);
}

static void
statics_build(void)
{
	static const char *const e5xx[4] = {
		"{\"error\":\"Internal Server Error\"}", "{\"error\":\"Bad Gateway\"}",
		"{\"error\":\"Service Unavailable\"}", "{\"error\":\"Gateway Timeout\"}"
	};
	static const unsigned int codes[4] = { 500, 502, 503, 504 };
	size_t	i;

	data.ok = answer_json(200, OK_BODY);
	data.status_ok = answer_json(200, "{\"loaded\":true,\"state\":\"Loaded\","
	    "\"compute_type\":\"gpu\",\"framework\":\"transformers\"}");
	data.r429 = answer_json(429, "{\"error\":\"Rate limit reached. You reached free "
	    "usage limit (reset hourly).\"}");
	answer_hdr(data.r429, "Retry-After", "1");
	data.always_loading = answer_json(503, "{\"error\":\"Model fake/always-loading is "
	    "currently loading\",\"estimated_time\":20.0}");
	data.always500 = answer_json(500, "{\"error\":\"unknown error\"}");
	answer_finish(data.ok);
	answer_finish(data.status_ok);
	answer_finish(data.r429);
	answer_finish(data.always_loading);
	answer_finish(data.always500);
	for (i = 0; i < 4; i++) {
		data.e5xx[i] = answer_json(codes[i], e5xx[i]);
		answer_finish(data.e5xx[i]);
	}
}

static int
data_load(const char *dir, char *err, size_t errlen)
{
	struct model	*m;
	char		 path[4096], name[128];
	size_t		 i, j;
	int		 t;

	if (cassettes_load(dir, err, errlen) == -1 || mocks_build(err, errlen) == -1)
		return (-1);
	statics_build();
	for (i = 0; i < data.ncas; i++) {
		m = model_add(data.cas[i].model, MODEL_CASSETTE, 0);
		m->cas = xrealloc(m->cas, (m->ncas + 1) * sizeof(*m->cas));
		m->cas[m->ncas++] = i;
	}
	for (i = 0; i < NTASKS; i++) {
		snprintf(name, sizeof(name), "mock/%s", tasks[i]);
		model_add(name, MODEL_MOCK, i);
	}
	for (j = 0; j < sizeof(builtin_defaults) / sizeof(builtin_defaults[0]); j++)
		if ((t = task_lookup(builtin_defaults[j][0],
		    strlen(builtin_defaults[j][0]))) >= 0)
			model_add(builtin_defaults[j][1], MODEL_DEFAULT, (size_t)t);
	for (j = 0; j < sizeof(today_models) / sizeof(today_models[0]); j++)
		model_add(today_models[j][1], MODEL_DEFAULT,
		    (size_t)task_lookup(today_models[j][0], strlen(today_models[j][0])));
	for (j = 0; j < sizeof(v018_models) / sizeof(v018_models[0]); j++)
		model_add(v018_models[j][1], MODEL_DEFAULT,
		    (size_t)task_lookup(v018_models[j][0], strlen(v018_models[j][0])));
	/* The repository's etc/ (data dir tests/data), or an etc/ beside the data dir. */
	for (j = 0; j < 2; j++) {
		snprintf(path, sizeof(path), "%s/%setc/default-models.tsv", dir,
		    j == 0 ? "../../" : "../");
		if (defaults_load(path, err, errlen) == -1) {
			if (err[0] == '\0')
				snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return (-1);
		}
	}
	return (0);
}

static void
data_free(void)
{
	struct answer	*a, *next;
	size_t		 i;

	for (i = 0; i < data.models.cap; i++)
		if (data.models.v[i].ptr != NULL) {
			free(((struct model *)data.models.v[i].ptr)->cas);
			free(data.models.v[i].ptr);
		}
	smap_free(&data.models);
	for (i = 0; i < data.ncas; i++) {
		free(data.cas[i].model);
		free(data.cas[i].reqbody);
	}
	free(data.cas);
	for (a = data.answers; a != NULL; a = next) {
		next = a->next;
		answer_free(a);
	}
}

/*
 * Timer thread: resumes parked (suspended) connections when due, from a min-heap on
 * due, or as soon as the client hangs up: a parked socket is in an epoll set for
 * EPOLLRDHUP, so that the request log sees the abort when it happens. Only this
 * thread resumes, and a parked connection cannot be freed, so heap entries and epoll
 * registrations (both removed before the resume) never point to a freed request.
 */

static void
heap_set(size_t i, struct timer t)
{
	g.heap[i] = t;
	t.r->heapidx = i;
}

static void
heap_up(size_t i)
{
	struct timer	t = g.heap[i];
	size_t		p;

	while (i > 0 && g.heap[p = (i - 1) / 2].due > t.due) {
		heap_set(i, g.heap[p]);
		i = p;
	}
	heap_set(i, t);
}

static void
heap_down(size_t i)
{
	struct timer	t = g.heap[i];
	size_t		l, m;

	for (;;) {
		l = 2 * i + 1;
		if (l >= g.nheap)
			break;
		m = l + 1 < g.nheap && g.heap[l + 1].due < g.heap[l].due ? l + 1 : l;
		if (g.heap[m].due >= t.due)
			break;
		heap_set(i, g.heap[m]);
		i = m;
	}
	heap_set(i, t);
}

static void
heap_push(uint64_t due, struct req *r)
{
	if (g.nheap == g.capheap) {
		g.capheap = g.capheap ? g.capheap * 2 : 256;
		g.heap = xrealloc(g.heap, g.capheap * sizeof(*g.heap));
	}
	g.heap[g.nheap].due = due;
	g.heap[g.nheap].r = r;
	heap_up(g.nheap++);
}

/* Takes r out of the heap and out of the epoll set; it is not parked any more. */
static void
heap_remove_locked(struct req *r)
{
	size_t	i = r->heapidx;

	r->heapidx = SIZE_MAX;
	if (r->fd >= 0)
		epoll_ctl(g.ep, EPOLL_CTL_DEL, r->fd, NULL);
	if (i != --g.nheap) {
		g.heap[i] = g.heap[g.nheap];
		g.heap[i].r->heapidx = i;
		heap_up(i);
		heap_down(g.heap[i].r->heapidx);
	}
}

static void
timer_wake(void)
{
	uint64_t	one = 1;

	if (write(g.wake, &one, sizeof(one)) == -1 && errno != EAGAIN)
		fatal("eventfd write: %s", strerror(errno));
}

/* The caller has just suspended r's connection; it is resumed at due. */
static void
timer_add(struct req *r, uint64_t due)
{
	const union MHD_ConnectionInfo	*ci;
	struct epoll_event		 ev;
	int				 now;

	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	r->fd = ci != NULL ? ci->connect_fd : -1;
	pthread_mutex_lock(&g.mu);
	if ((now = atomic_load(&stopping)) == 0) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLRDHUP;
		ev.data.ptr = r;
		/* Without the watch, a hang-up is only seen when due. */
		if (r->fd >= 0 && epoll_ctl(g.ep, EPOLL_CTL_ADD, r->fd, &ev) == -1)
			r->fd = -1;
		heap_push(due, r);
		if (r->heapidx == 0)
			timer_wake();
	}
	pthread_mutex_unlock(&g.mu);
	if (now)
		MHD_resume_connection(r->conn);
}

static void *
timer_main(void *arg)
{
	struct epoll_event	 evs[256];
	struct MHD_Connection	**due = NULL;
	struct req		*r;
	uint64_t		 now, junk;
	size_t			 ndue = 0, capdue = 0, i;
	int			 n, k, timeout, stop;

	(void)arg;
	n = 0;
	for (;;) {
		pthread_mutex_lock(&g.mu);
		stop = atomic_load(&stopping);
		/* Hung-up clients first: the events name requests still parked. */
		for (k = 0; k < n; k++) {
			if (evs[k].data.ptr == NULL) {
				if (read(g.wake, &junk, sizeof(junk)) == -1 &&
				    errno != EAGAIN)
					fatal("eventfd read: %s", strerror(errno));
				continue;
			}
			r = evs[k].data.ptr;
			if (r->heapidx == SIZE_MAX)
				continue;
			heap_remove_locked(r);
			if (ndue == capdue) {
				capdue = capdue ? capdue * 2 : 256;
				due = xrealloc(due, capdue * sizeof(*due));
			}
			due[ndue++] = r->conn;
		}
		now = mono_ms();
		while (g.nheap > 0 && (stop || g.heap[0].due <= now)) {
			r = g.heap[0].r;
			heap_remove_locked(r);
			if (ndue == capdue) {
				capdue = capdue ? capdue * 2 : 256;
				due = xrealloc(due, capdue * sizeof(*due));
			}
			due[ndue++] = r->conn;
		}
		timeout = -1;
		if (g.nheap > 0)
			timeout = g.heap[0].due - now > INT32_MAX ? INT32_MAX :
			    (int)(g.heap[0].due - now);
		pthread_mutex_unlock(&g.mu);
		/* Unlocked: MHD takes its own locks and may call back into us. */
		for (i = 0; i < ndue; i++)
			MHD_resume_connection(due[i]);
		ndue = 0;
		if (stop)
			break;
		if ((n = epoll_wait(g.ep, evs, (int)(sizeof(evs) / sizeof(evs[0])),
		    timeout)) == -1) {
			if (errno != EINTR)
				fatal("epoll_wait: %s", strerror(errno));
			n = 0;
		}
	}
	free(due);
	return (NULL);
}

/* Request log and stats. */

static enum MHD_Result
hdr_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct sbuf	*b = cls;
	size_t		 i, start = b->len;

	(void)kind;
	sbuf_add(b, key, strlen(key) + 1);
	for (i = start; b->p[i] != '\0'; i++)
		if (b->p[i] >= 'A' && b->p[i] <= 'Z')
			b->p[i] += 'a' - 'A';
	sbuf_add(b, value ? value : "", value ? strlen(value) + 1 : 1);
	return (MHD_YES);
}

static void
logent_fill(struct logent *e, const struct req *r, size_t bodymax)
{
	const char	*q = r->uri + r->pathlen;

	sbuf_reset(&e->method);
	sbuf_reset(&e->path);
	sbuf_reset(&e->query);
	sbuf_reset(&e->hdrs);
	sbuf_reset(&e->body);
	sbuf_str(&e->method, r->method);
	sbuf_add(&e->path, r->uri, r->pathlen);
	sbuf_str(&e->query, *q == '?' ? q + 1 : "");
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, hdr_collect, &e->hdrs);
	sbuf_add(&e->body, r->body, r->len < bodymax ? r->len : bodymax);
	e->bodylen = r->len;
	e->aborted = 0;
	e->reset = 0;
	e->completed = 0;
}

static void
logent_free(struct logent *e)
{
	sbuf_free(&e->method);
	sbuf_free(&e->path);
	sbuf_free(&e->query);
	sbuf_free(&e->hdrs);
	sbuf_free(&e->body);
}

static cJSON *
logent_json(const struct logent *e)
{
	struct sbuf	 b64 = { NULL, 0, 0 }, joined = { NULL, 0, 0 };
	cJSON		*o, *h, *old;
	const char	*p, *end, *name, *value;

	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "method", e->method.p ? e->method.p : "");
	cJSON_AddStringToObject(o, "path", e->path.p ? e->path.p : "");
	cJSON_AddStringToObject(o, "query", e->query.p ? e->query.p : "");
	h = cJSON_AddObjectToObject(o, "headers");
	for (p = e->hdrs.p, end = p + e->hdrs.len; p != NULL && p < end;) {
		name = p;
		value = name + strlen(name) + 1;
		p = value + strlen(value) + 1;
		if ((old = cJSON_GetObjectItemCaseSensitive(h, name)) != NULL) {
			/* A repeated header: join as HTTP does. */
			sbuf_reset(&joined);
			sbuf_printf(&joined, "%s, %s", old->valuestring, value);
			cJSON_ReplaceItemInObjectCaseSensitive(h, name,
			    cJSON_CreateString(joined.p));
		} else
			cJSON_AddStringToObject(h, name, value);
	}
	cJSON_AddNumberToObject(o, "body_len", (double)e->bodylen);
	b64_encode(&b64, (const unsigned char *)e->body.p, e->body.len);
	cJSON_AddStringToObject(o, "body_b64", b64.p ? b64.p : "");
	if (e->aborted)
		cJSON_AddTrueToObject(o, "aborted");
	if (e->reset)
		cJSON_AddTrueToObject(o, "reset");
	if (e->completed)
		cJSON_AddTrueToObject(o, "completed");
	sbuf_free(&b64);
	sbuf_free(&joined);
	return (o);
}

static void
req_log_locked(struct req *r)
{
	struct logent	*e;

	r->logseq = ++g.logseq;
	e = &g.log[r->logseq % LOG_MAX];
	logent_fill(e, r, LOG_BODY_MAX);
	e->seq = r->logseq;
	r->logged = 1;
}

static struct logent *
log_find_locked(uint64_t seq)
{
	struct logent	*e = &g.log[seq % LOG_MAX];

	return (seq > g.logbase && e->seq == seq ? e : NULL);
}

static void
stats_count(const struct req *r)
{
	struct sent	*e;

	pthread_mutex_lock(&g.mu);
	g.total++;
	e = smap_find(&g.paths, r->uri, r->pathlen, 1);
	e->n++;
	pthread_mutex_unlock(&g.mu);
}

/* Counts a request for a behaviour model: returns how many came before it. */
static uint64_t
behave_count(const char *id, uint64_t *t0)
{
	struct sent	*e;
	uint64_t	 n;

	pthread_mutex_lock(&g.mu);
	e = smap_find(&g.state, id, strlen(id), 1);
	if (e->n == 0)
		e->t0 = mono_ms();
	n = e->n++;
	*t0 = e->t0;
	pthread_mutex_unlock(&g.mu);
	return (n);
}

/* Replies. */

/* Takes body (malloc'd). */
static enum MHD_Result
reply(struct req *r, unsigned int status, const char *ctype, char *body, size_t len,
    const char *xname, const char *xval)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 ret;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return (MHD_NO);
	}
	if (resp_headers(resp, NULL, ctype, r->reqid, xname, xval) == -1) {
		MHD_destroy_response(resp);
		return (MHD_NO);
	}
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return (ret);
}

/* Takes o. */
static enum MHD_Result
reply_json(struct req *r, unsigned int status, cJSON *o, const char *xname,
    const char *xval)
{
	char	*s;

	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL)
		return (MHD_NO);
	return (reply(r, status, "application/json", s, strlen(s), xname, xval));
}

static enum MHD_Result
reply_error(struct req *r, unsigned int status, const char *msg)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", msg);
	return (reply_json(r, status, o, NULL, NULL));
}

static enum MHD_Result
reply_no_model(struct req *r, const char *id)
{
	struct sbuf		b = { NULL, 0, 0 };
	enum MHD_Result		ret;

	sbuf_printf(&b, "Model %s does not exist", id);
	ret = reply_error(r, 404, b.p);
	sbuf_free(&b);
	return (ret);
}

/*
 * After a wait: did the client hang up meanwhile? Writing into a half-closed socket
 * often still succeeds, which would hide the abort from the request log.
 */
static int
peer_closed(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo	*ci;
	ssize_t				 n;
	char				 b;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return (0);
	n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR));
}

/*
 * A TCP reset now: connect(AF_UNSPEC) disconnects a TCP socket with a RST, whereas
 * MHD's own close would send a FIN first (shutdown) and the client would see a clean
 * end of the data.
 */
static void
conn_reset(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo	*ci;
	struct sockaddr			 sa;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNSPEC;
	(void)connect(ci->connect_fd, &sa, sizeof(sa));
}

/* SSE: one event per reader call, each sent as its own chunk when due. */

/* The stream's defaults: count events, the last the final one, interval ms apart. */
static void
stream_init(struct stream *s, size_t count, uint64_t interval)
{
	s->rec = NULL;
	s->next = 0;
	s->count = count;
	s->t0 = mono_ms();
	s->interval = interval;
	s->fault = SF_NONE;
	s->at = SIZE_MAX;
	s->stall = 0;
	s->pad = 0;
	s->stamp = 0;
	s->words = 0;
	s->details = 0;
	s->waited = 0;
	s->cut = 0;
	s->secret = NULL;
	sbuf_reset(&s->text);
	sbuf_reset(&s->ev);
	s->evoff = 0;
	sbuf_reset(&s->built);
	s->nboff = 0;
}

/* When event i is due: interval apart from the start, later by stall from "at" on. */
static uint64_t
stream_due(const struct stream *s, size_t i)
{
	if (s->fault == SF_STALL && i >= s->at)
		return (s->t0 + i * s->interval + s->stall);
	return (s->t0 + (i + 1) * s->interval);
}

/* Builds event i in s->ev: ":t=" stamp, then the TGI event exactly as axum frames it. */
static void
stream_event(struct stream *s, size_t i)
{
	static const char token_tail[] = "\",\"logprob\":-0.5,\"special\":false},"
	    "\"generated_text\":null,\"details\":null}\n\n";
	size_t	start, half, n;

	sbuf_reset(&s->ev);
	s->evoff = 0;
	if (s->rec != NULL) {
		sbuf_add(&s->ev, s->rec->body + s->rec->evoff[i],
		    s->rec->evoff[i + 1] - s->rec->evoff[i]);
		return;
	}
	if (s->nboff > 0) {
		if (s->stamp)
			sbuf_printf(&s->ev, ":t=%" PRIu64 "\n", real_ms());
		sbuf_add(&s->ev, s->built.p + s->boff[i], s->boff[i + 1] - s->boff[i]);
		return;
	}
	if (s->fault == SF_ECHO && (i == s->at || i == s->at + 1)) {
		/* One token event in two chunks, cut in the middle of the value. */
		half = strlen(s->secret) / 2;
		if (i == s->at) {
			if (s->stamp)
				sbuf_printf(&s->ev, ":t=%" PRIu64 "\n", real_ms());
			sbuf_printf(&s->ev, "data:{\"token\":{\"id\":%zu,\"text\":\"",
			    1000 + i);
			sbuf_fill(&s->ev, 'x', s->pad);
			sbuf_printf(&s->ev, "%.*s", (int)half, s->secret);
			sbuf_fill(&s->text, 'x', s->pad);
			sbuf_str(&s->text, s->secret);
		} else
			sbuf_printf(&s->ev, "%s%s", s->secret + half, token_tail);
		return;
	}
	if (s->stamp)
		sbuf_printf(&s->ev, ":t=%" PRIu64 "\n", real_ms());
	start = s->ev.len;
	if (s->fault == SF_ERROR && i == s->at) {
		sbuf_str(&s->ev, "data:{\"error\":\"Request failed during generation: "
		    "out of memory\",\"error_type\":\"generation\"}\n\n");
		return;
	}
	if (i + 1 < s->count || s->fault == SF_NOEND) {
		if (s->words) {
			sbuf_printf(&s->ev, "data:{\"token\":{\"id\":%zu,\"text\":\"%s",
			    100 + i % NWORDS, words[i % NWORDS]);
			sbuf_str(&s->text, words[i % NWORDS]);
		} else {
			sbuf_printf(&s->ev, "data:{\"token\":{\"id\":%zu,"
			    "\"text\":\" tok%zu", 1000 + i, i);
			sbuf_printf(&s->text, " tok%zu", i);
		}
		/* fake/stream-big: the token text makes up the size. */
		if (s->fault != SF_ECHO && s->pad > s->ev.len - start + sizeof(token_tail) - 1) {
			n = s->pad - (s->ev.len - start) - (sizeof(token_tail) - 1);
			sbuf_fill(&s->ev, 'x', n);
			sbuf_fill(&s->text, 'x', n);
		}
		sbuf_str(&s->ev, token_tail);
	} else {
		sbuf_str(&s->ev, "data:{\"token\":{\"id\":2,\"text\":\"</s>\","
		    "\"logprob\":-0.01,\"special\":true},\"generated_text\":\"");
		sbuf_add(&s->ev, s->text.p != NULL ? s->text.p : "", s->text.len);
		if (s->details)
			sbuf_printf(&s->ev, "\",\"details\":{\"finish_reason\":"
			    "\"eos_token\",\"generated_tokens\":%zu,\"seed\":null}}\n\n",
			    s->count);
		else
			sbuf_str(&s->ev, "\",\"details\":null}\n\n");
	}
	if (s->fault == SF_CUT && i == s->at) {
		/* Half of the data line: the stream ends inside the JSON. */
		half = (s->ev.len - start) / 2;
		s->ev.len = start + half;
		s->ev.p[s->ev.len] = '\0';
		s->cut = 1;
	}
}
static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct req	*r = cls;
	struct stream	*s = &r->st;
	uint64_t	 due;
	size_t		 n;

	(void)pos;
	if (s->evoff == s->ev.len) {
		if (s->cut) {
			/* The half event is out: close, chunked body unterminated. */
			r->reset = 1;
			return (MHD_CONTENT_READER_END_WITH_ERROR);
		}
		if (s->next >= s->count)
			return (MHD_CONTENT_READER_END_OF_STREAM);
		if (atomic_load(&stopping))
			return (MHD_CONTENT_READER_END_WITH_ERROR);
		if (s->waited && peer_closed(r->conn))
			return (MHD_CONTENT_READER_END_WITH_ERROR);
		due = stream_due(s, s->next);
		if (mono_ms() < due) {
			/* Not due: park the connection, the timer thread resumes it. */
			MHD_suspend_connection(r->conn);
			timer_add(r, due);
			s->waited = 1;
			return (0);
		}
		s->waited = 0;
		if ((s->fault == SF_RESET || s->fault == SF_CLOSE) && s->next == s->at) {
			r->reset = 1;
			if (s->fault == SF_RESET)
				conn_reset(r->conn);
			return (MHD_CONTENT_READER_END_WITH_ERROR);
		}
		stream_event(s, s->next++);
	}
	n = s->ev.len - s->evoff;
	if (n > max)
		n = max;
	memcpy(buf, s->ev.p + s->evoff, n);
	s->evoff += n;
	return ((ssize_t)n);
}

/* Starts the stream set up in r->st: 200 (or the recording's status), chunked SSE. */
static enum MHD_Result
stream_queue(struct req *r, const char *xname, const char *xval)
{
	struct MHD_Response	*resp;
	const struct answer	*rec = r->st.rec;
	enum MHD_Result		 ret;

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read,
	    r, NULL);
	if (resp == NULL)
		return (MHD_NO);
	if (resp_headers(resp, rec, rec != NULL ? rec->ctype : "text/event-stream",
	    r->reqid, xname, xval) == -1 ||
	    MHD_add_response_header(resp, "Cache-Control", "no-cache") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Accel-Buffering", "no") != MHD_YES) {
		MHD_destroy_response(resp);
		return (MHD_NO);
	}
	ret = MHD_queue_response(r->conn, rec != NULL ? rec->status : 200, resp);
	MHD_destroy_response(resp);
	return (ret);
}

static enum MHD_Result
answer_queue(struct req *r, const struct answer *a, const char *xname, const char *xval)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 ret;

	if (a->nev > 0) {
		stream_init(&r->st, a->nev, 0);
		r->st.rec = a;
		return (stream_queue(r, xname, xval));
	}
	if (r->reqid == NULL && xname == NULL)
		return (MHD_queue_response(r->conn, a->status, a->shared));
	if ((resp = answer_response(a, r->reqid, xname, xval)) == NULL)
		return (MHD_NO);
	ret = MHD_queue_response(r->conn, a->status, resp);
	MHD_destroy_response(resp);
	return (ret);
}

/* Routes. */

struct tgreq {
	int	stream;
	int	details;
	int	best_of;
	int	watermark;
	double	max_new_tokens;
};

static void
tgreq_parse(const struct req *r, struct tgreq *t)
{
	cJSON	*o, *p, *v;

	memset(t, 0, sizeof(*t));
	t->watermark = r->len > 0 && memmem(r->body, r->len, "watermark", 9) != NULL;
	if ((o = cJSON_ParseWithLength(r->body, r->len)) == NULL)
		return;
	t->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stream"));
	p = cJSON_GetObjectItemCaseSensitive(o, "parameters");
	t->details = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "details"));
	t->best_of = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p, "best_of"));
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(p, "max_new_tokens")))
		t->max_new_tokens = v->valuedouble;
	cJSON_Delete(o);
}

/* mock/text-generation's stream: the mock's words 10 ms apart, no stamps (as TGI). */
static enum MHD_Result
mock_stream(struct req *r, int details, const char *xname, const char *xval)
{
	stream_init(&r->st, NWORDS + 1, MOCK_STREAM_MS);
	r->st.words = 1;
	r->st.details = details;
	return (stream_queue(r, xname, xval));
}

static enum MHD_Result
mock_route(struct req *r, size_t task, const char *xname, const char *xval)
{
	struct tgreq	t;

	if (task != data.tg)
		return (answer_queue(r, data.mock[task], xname, xval));
	tgreq_parse(r, &t);
	if (t.stream)
		return (mock_stream(r, t.details, xname, xval));
	return (answer_queue(r, t.details ? data.tg_details : data.tg_plain, xname, xval));
}

static const struct answer *
cassette_variant(const struct model *m, enum tg_variant v)
{
	size_t	i;

	for (i = 0; i < m->ncas; i++)
		if (data.cas[m->cas[i]].variant == v)
			return (data.cas[m->cas[i]].a);
	return (NULL);
}

/* A recorded text-generation model: the variant the request asks for. */
static const struct answer *
cassette_tg(const struct model *m, const struct req *r)
{
	const struct answer	*a = NULL;
	struct tgreq		 t;

	tgreq_parse(r, &t);
	if (cassette_variant(m, TG_NON_TGI) != NULL)
		/* gpt2: the transformers backend rejects TGI-only parameters. */
		return (cassette_variant(m, t.watermark ? TG_NON_TGI : TG_PLAIN));
	if (t.max_new_tokens > 1500)
		a = cassette_variant(m, TG_VALIDATION);
	else if (t.stream)
		a = cassette_variant(m, t.details ? TG_STREAM_DETAILS : TG_STREAM);
	else if (t.best_of)
		a = cassette_variant(m, TG_BEST_OF);
	else if (t.details)
		a = cassette_variant(m, TG_DETAILS);
	if (a == NULL)
		a = cassette_variant(m, TG_PLAIN);
	return (a);
}

static enum MHD_Result
cassette_route(struct req *r, const struct model *m, int ptask)
{
	const struct cassette	*c, *pick = NULL, *first = NULL;
	const struct answer	*a;
	const char		*want = NULL;
	size_t			 i;

	if (ptask >= 0)
		want = tasks[ptask];
	else if (r->len > 0 && memmem(r->body, r->len, "source_sentence", 15) != NULL)
		want = "sentence-similarity";
	for (i = 0; i < m->ncas; i++) {
		c = &data.cas[m->cas[i]];
		if (want != NULL && strcmp(c->task, want) != 0)
			continue;
		if (first == NULL)
			first = c;
		if (c->reqbody != NULL && c->reqlen == r->len &&
		    memcmp(c->reqbody, r->body, r->len) == 0) {
			pick = c;
			break;
		}
	}
	if (first == NULL) {
		if (ptask >= 0)
			return (mock_route(r, (size_t)ptask, NULL, NULL));
		first = &data.cas[m->cas[0]];
	}
	if (pick == NULL && strcmp(first->task, "text-generation") == 0 &&
	    (a = cassette_tg(m, r)) != NULL)
		return (answer_queue(r, a, NULL, NULL));
	return (answer_queue(r, (pick != NULL ? pick : first)->a, NULL, NULL));
}

static int
parse_num(const char *s, const char **end, uint64_t *out)
{
	uint64_t	n = 0;

	if (*s < '0' || *s > '9')
		return (-1);
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > 100000000)	/* keeps (count + 1) * interval far from overflow */
			return (-1);
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*end = s;
	*out = n;
	return (0);
}

/*
 * name is the part after "fake/"; up to three numbers. Returns 0 or -1 (not a
 * behaviour). A name that does not fit a longer prefix is tried with the shorter
 * ones: "stream-503-20" stays the plain stream of 503 events 20 ms apart.
 */
static int
behave_parse(const char *name, enum behave *b, uint64_t nums[3])
{
	static const struct {
		const char	*prefix;
		enum behave	 b;
		int		 nums;
	} tab[] = {
		{ "echo", B_ECHO, 0 }, { "echo-auth", B_ECHO_AUTH, 0 },
		{ "echo-auth-header", B_ECHO_AUTH_HEADER, 0 },
		{ "echo-auth-stream-", B_ECHO_AUTH_STREAM, 2 },
		{ "echo-auth-stream-", B_ECHO_AUTH_STREAM, 1 },
		{ "always-loading", B_ALWAYS_LOADING, 0 },
		{ "always500", B_ALWAYS500, 0 }, { "loading-", B_LOADING, 1 },
		{ "429date-", B_429DATE, 1 }, { "429-", B_429, 1 }, { "5xx-", B_5XX, 1 },
		{ "slow-", B_SLOW, 1 }, { "reset-", B_RESET, 1 },
		{ "stream-reset-", B_STREAM_RESET, 2 },
		{ "stream-cut-", B_STREAM_CUT, 2 },
		{ "stream-stall-", B_STREAM_STALL, 3 },
		{ "stream-error-", B_STREAM_ERROR, 1 },
		{ "stream-noend-", B_STREAM_NOEND, 1 },
		{ "stream-big-", B_STREAM_BIG, 3 }, { "stream-big-", B_STREAM_BIG, 2 },
		{ "stream-503-", B_STREAM_503, 2 },
		{ "stream-422", B_STREAM_422, 0 },
		{ "stream-", B_STREAM, 2 }
	};
	const char	*p;
	size_t		 i, l;
	int		 k;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		l = strlen(tab[i].prefix);
		if (strncmp(name, tab[i].prefix, l) != 0)
			continue;
		p = name + l;
		nums[0] = nums[1] = nums[2] = 0;
		for (k = 0; k < tab[i].nums; k++)
			if ((k > 0 && *p++ != '-') || parse_num(p, &p, &nums[k]) == -1)
				break;
		if (k == tab[i].nums && *p == '\0') {
			*b = tab[i].b;
			return (0);
		}
	}
	return (-1);
}

/* The request as JSON; redact: the Authorization value left out, as an upstream that
   echoes what it received should. */
static enum MHD_Result
echo_route(struct req *r, int redact)
{
	struct logent	 e;
	enum MHD_Result	 ret;
	cJSON		*o, *h;

	memset(&e, 0, sizeof(e));
	logent_fill(&e, r, SIZE_MAX);
	o = logent_json(&e);
	h = cJSON_GetObjectItemCaseSensitive(o, "headers");
	if (redact && cJSON_GetObjectItemCaseSensitive(h, "authorization") != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(h, "authorization",
		    cJSON_CreateString("<redacted: fake/echo-auth echoes it>"));
	ret = reply_json(r, 200, o, NULL, NULL);
	logent_free(&e);
	return (ret);
}

/* fake/echo-auth-header and fake/echo-auth-stream-<k>[-<pad>]: the Authorization value
   back in a header, or inside a stream's token. */
static enum MHD_Result
echo_auth(struct req *r, enum behave bh, uint64_t k, uint64_t pad)
{
	struct stream	*s = &r->st;
	struct tgreq	 t;
	const char	*auth;
	char		*body;

	auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	if (auth == NULL)
		auth = "";
	tgreq_parse(r, &t);
	if (bh == B_ECHO_AUTH_HEADER && !t.stream) {
		body = xstrdup("[{\"label\":\"POSITIVE\",\"score\":0.99}]");
		return (reply(r, 200, "application/json", body, strlen(body),
		    "x-echo-authorization", auth));
	}
	if (bh == B_ECHO_AUTH_HEADER)
		stream_init(s, 3, FAULT_STREAM_MS);
	else {
		/* k tokens, the split one (two events), the final one. */
		stream_init(s, k + 3, FAULT_STREAM_MS);
		s->fault = SF_ECHO;
		s->at = k;
		s->secret = auth;
		if (pad > BIG_MAX)
			return (reply_no_model(r, "fake/echo-auth-stream"));
		s->pad = pad;
	}
	s->details = t.details;
	s->stamp = 1;
	return (stream_queue(r, bh == B_ECHO_AUTH_HEADER ? "x-echo-authorization" : NULL,
	    auth));
}

/* The fake/stream-... family: stamped TGI streams, details as the body asks. */
static enum MHD_Result
fake_stream(struct req *r, const char *id, enum behave bh, const uint64_t num[3])
{
	struct stream	*s = &r->st;
	struct sbuf	 b = { NULL, 0, 0 };
	struct tgreq	 t;
	uint64_t	 t0;

	switch (bh) {
	case B_STREAM:		/* <count>-<interval> */
		stream_init(s, num[0] > 0 ? num[0] : 1, num[1]);
		break;
	case B_STREAM_RESET:	/* <count>-<after> */
	case B_STREAM_CUT:
		stream_init(s, num[0] > 0 ? num[0] : 1, FAULT_STREAM_MS);
		s->fault = bh == B_STREAM_RESET ? SF_RESET : SF_CUT;
		s->at = num[1];
		break;
	case B_STREAM_STALL:	/* <count>-<after>-<stall_ms> */
		stream_init(s, num[0] > 0 ? num[0] : 1, FAULT_STREAM_MS);
		s->fault = SF_STALL;
		s->at = num[1];
		s->stall = num[2];
		break;
	case B_STREAM_ERROR:	/* <after>: tokens, then the error event */
		stream_init(s, num[0] + 1, FAULT_STREAM_MS);
		s->fault = SF_ERROR;
		s->at = num[0];
		break;
	case B_STREAM_NOEND:	/* <count> */
		stream_init(s, num[0], FAULT_STREAM_MS);
		s->fault = SF_NOEND;
		break;
	case B_STREAM_BIG:	/* <count>-<bytes>[-<interval>] */
		if (num[1] > BIG_MAX || num[0] * num[1] > BIG_TOTAL_MAX)
			return (reply_no_model(r, id));
		stream_init(s, num[0] > 0 ? num[0] : 1, num[2]);
		s->pad = num[1];
		break;
	case B_STREAM_503:	/* <n>-<count> */
		if (behave_count(id, &t0) < num[0]) {
			sbuf_printf(&b, "{\"error\":\"Model %s is currently loading\","
			    "\"estimated_time\":0.2}", id);
			return (reply(r, 503, "application/json", b.p, b.len, NULL,
			    NULL));
		}
		stream_init(s, num[1] > 0 ? num[1] : 1, FAULT_STREAM_MS);
		break;
	default:		/* B_STREAM_422 */
		sbuf_str(&b, "{\"error\":\"Input validation error: `inputs` cannot be "
		    "empty\",\"error_type\":\"validation\"}");
		return (reply(r, 422, "application/json", b.p, b.len, NULL, NULL));
	}
	tgreq_parse(r, &t);
	s->details = t.details;
	s->stamp = 1;
	return (stream_queue(r, NULL, NULL));
}

static enum MHD_Result
behave_route(struct req *r, const char *id)
{
	struct sbuf	b = { NULL, 0, 0 };
	enum behave	bh;
	uint64_t	num[3], n, i, t0, el;
	double		rem;
	char		date[64];
	struct tm	tm;
	time_t		when;

	if (behave_parse(id + 5, &bh, num) == -1)
		return (reply_no_model(r, id));
	n = num[0];
	switch (bh) {
	case B_ECHO:
	case B_ECHO_AUTH:
		return (echo_route(r, bh == B_ECHO));
	case B_ECHO_AUTH_HEADER:
	case B_ECHO_AUTH_STREAM:
		return (echo_auth(r, bh, n, num[1]));
	case B_ALWAYS_LOADING:
		return (answer_queue(r, data.always_loading, NULL, NULL));
	case B_ALWAYS500:
		return (answer_queue(r, data.always500, NULL, NULL));
	case B_STREAM:
	case B_STREAM_RESET:
	case B_STREAM_CUT:
	case B_STREAM_STALL:
	case B_STREAM_ERROR:
	case B_STREAM_NOEND:
	case B_STREAM_BIG:
	case B_STREAM_503:
	case B_STREAM_422:
		return (fake_stream(r, id, bh, num));
	default:
		break;
	}
	i = behave_count(id, &t0);
	switch (bh) {
	case B_LOADING:
		if ((el = mono_ms() - t0) >= n)
			break;
		rem = (double)(n - el) / 1000.0;
		sbuf_printf(&b, "{\"error\":\"Model %s is currently loading\","
		    "\"estimated_time\":%.3f}", id, rem < 0.1 ? 0.1 : rem);
		return (reply(r, 503, "application/json", b.p, b.len, NULL, NULL));
	case B_429:
		if (i < n)
			return (answer_queue(r, data.r429, NULL, NULL));
		break;
	case B_429DATE:
		if (i >= n)
			break;
		/* At least 1 s ahead despite the second resolution: 1-2 s. */
		when = time(NULL) + 2;
		gmtime_r(&when, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		sbuf_str(&b, "{\"error\":\"Rate limit reached. You reached free usage "
		    "limit (reset hourly).\"}");
		return (reply(r, 429, "application/json", b.p, b.len, "Retry-After", date));
	case B_5XX:
		if (i < n)
			return (answer_queue(r, data.e5xx[i % 4], NULL, NULL));
		break;
	case B_SLOW:
		if (n == 0 || atomic_load(&stopping))
			break;
		r->later = data.ok;
		MHD_suspend_connection(r->conn);
		timer_add(r, mono_ms() + n);
		return (MHD_YES);
	case B_RESET:
		if (i >= n)
			break;
		r->reset = 1;
		return (MHD_NO);	/* MHD closes the connection, no response */
	default:
		break;
	}
	return (answer_queue(r, data.ok, NULL, NULL));
}

/*
 * The behaviour models of the v0.18 recording on the task routes (/models/<id>, the
 * router's /hf-inference/models/<id>): mock/503x2 loads for two requests,
 * mock/always503 is always unavailable; on the 2023 routes, mock/tgi-error streams
 * an error and mock/tgi-422 fails validation. -1: not one of them.
 */
static int
v018_route(struct req *r, const char *id, enum MHD_Result *ret)
{
	static const uint64_t	 none[3] = { 0, 0, 0 };
	struct sbuf		 b = { NULL, 0, 0 };
	uint64_t		 t0;

	if (strcmp(id, "mock/503x2") == 0) {
		if (behave_count(id, &t0) >= 2)
			return (-1);
		sbuf_printf(&b, "{\"error\":\"Model %s is currently loading\","
		    "\"estimated_time\":0.1}", id);
		*ret = reply(r, 503, "application/json", b.p, b.len, NULL, NULL);
	} else if (strcmp(id, "mock/always503") == 0)
		*ret = reply_error(r, 503, "Service Unavailable");
	else if (strcmp(id, "mock/tgi-error") == 0) {
		/* As fake/stream-error-2, without the stamps. */
		stream_init(&r->st, 3, FAULT_STREAM_MS);
		r->st.fault = SF_ERROR;
		r->st.at = 2;
		*ret = stream_queue(r, NULL, NULL);
	} else if (strcmp(id, "mock/tgi-422") == 0)
		*ret = fake_stream(r, id, B_STREAM_422, none);
	else
		return (-1);
	return (0);
}

static enum MHD_Result
model_route(struct req *r, const char *id, const char *ptask, size_t ptasklen)
{
	const struct sent	*e;
	const struct model	*m;
	enum MHD_Result		 ret;
	char			*body;
	size_t			 i, len;
	int			 t = -1;

	if (strncmp(id, "fake/", 5) == 0)
		return (behave_route(r, id));
	if (v018_route(r, id, &ret) == 0)
		return (ret);
	for (i = 0; i < sizeof(today_raw) / sizeof(today_raw[0]); i++)
		if (strcmp(id, today_raw[i].model) == 0) {
			len = today_raw[i].len != 0 ? today_raw[i].len :
			    strlen(today_raw[i].body);
			body = xmalloc(len);
			memcpy(body, today_raw[i].body, len);
			return (reply(r, 200, today_raw[i].ctype, body, len, NULL, NULL));
		}
	if ((e = smap_find(&data.models, id, strlen(id), 0)) == NULL)
		return (reply_no_model(r, id));
	m = e->ptr;
	if (ptask != NULL)
		t = task_lookup(ptask, ptasklen);
	switch (m->kind) {
	case MODEL_CASSETTE:
		return (cassette_route(r, m, t));
	case MODEL_DEFAULT:
		return (mock_route(r, t >= 0 ? (size_t)t : m->task, NULL, NULL));
	default:
		return (mock_route(r, m->task, NULL, NULL));
	}
}

static enum MHD_Result
status_route(struct req *r, const char *id)
{
	enum behave	b;
	uint64_t	num[3];

	if (smap_find(&data.models, id, strlen(id), 0) != NULL ||
	    (strncmp(id, "fake/", 5) == 0 && behave_parse(id + 5, &b, num) == 0))
		return (answer_queue(r, data.status_ok, NULL, NULL));
	return (reply_no_model(r, id));
}

static enum MHD_Result
framework_route(struct req *r, const char *fw)
{
	const struct sent	*e;
	const struct model	*m;
	const char		*sha;
	cJSON			*list, *o;
	size_t			 i;

	list = cJSON_CreateArray();
	for (i = 0; i < sizeof(framework_models) / sizeof(framework_models[0]); i++) {
		if (strcmp(framework_models[i][0], fw) != 0)
			continue;
		sha = NULL;
		e = smap_find(&data.models, framework_models[i][1],
		    strlen(framework_models[i][1]), 0);
		if (e != NULL && (m = e->ptr)->kind == MODEL_CASSETTE)
			sha = answer_hdr_get(data.cas[m->cas[0]].a, "x-sha");
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "model_id", framework_models[i][1]);
		cJSON_AddStringToObject(o, "sha", sha != NULL ? sha : DEFAULT_SHA);
		cJSON_AddStringToObject(o, "compute_type", "cpu");
		cJSON_AddStringToObject(o, "framework", fw);
		cJSON_AddStringToObject(o, "task", framework_models[i][2]);
		cJSON_AddItemToArray(list, o);
	}
	return (reply_json(r, 200, list, NULL, NULL));
}

static enum MHD_Result
endpoint_info(struct req *r, const char *ep)
{
	cJSON	*o = cJSON_CreateObject();

	/* TGI 1.1.1's GET /info answer (its Info struct), fields in its order. */
	cJSON_AddStringToObject(o, "model_id", ep);
	cJSON_AddStringToObject(o, "model_sha", DEFAULT_SHA);
	cJSON_AddStringToObject(o, "model_dtype", "torch.float16");
	cJSON_AddStringToObject(o, "model_device_type", "cuda");
	cJSON_AddStringToObject(o, "model_pipeline_tag", "text-generation");
	cJSON_AddNumberToObject(o, "max_concurrent_requests", 128);
	cJSON_AddNumberToObject(o, "max_best_of", 2);
	cJSON_AddNumberToObject(o, "max_stop_sequences", 4);
	cJSON_AddNumberToObject(o, "max_input_length", 1024);
	cJSON_AddNumberToObject(o, "max_total_tokens", 2048);
	cJSON_AddNumberToObject(o, "waiting_served_ratio", 1.2);
	cJSON_AddNumberToObject(o, "max_batch_total_tokens", 32000);
	cJSON_AddNumberToObject(o, "max_waiting_tokens", 20);
	cJSON_AddNumberToObject(o, "validation_workers", 2);
	cJSON_AddStringToObject(o, "version", "1.1.1");
	cJSON_AddNullToObject(o, "sha");
	cJSON_AddNullToObject(o, "docker_label");
	return (reply_json(r, 200, o, "x-fake-endpoint", ep));
}

/*
 * A dedicated endpoint (TGI): "/" and any other path as TGI's compat route, plus
 * /generate (one object), /generate_stream (always SSE) and GET /info.
 */
static enum MHD_Result
endpoint_route(struct req *r, const char *name, size_t len, const char *method)
{
	const char	*rest = name + len;
	struct tgreq	 t;
	char		 ep[512];

	snprintf(ep, sizeof(ep), "%.*s", (int)(len < 511 ? len : 511), name);
	if (strcmp(rest, "/info") == 0 && strcmp(method, "GET") == 0)
		return (endpoint_info(r, ep));
	if (strcmp(rest, "/generate_stream") == 0) {
		tgreq_parse(r, &t);
		return (mock_stream(r, t.details, "x-fake-endpoint", ep));
	}
	if (strcmp(rest, "/generate") == 0) {
		tgreq_parse(r, &t);
		return (answer_queue(r, t.details ? data.gen_details : data.gen_plain,
		    "x-fake-endpoint", ep));
	}
	return (mock_route(r, data.tg, "x-fake-endpoint", ep));
}

/*
 * Today's API (docs/fake-upstream.md): the router (the task API under
 * /router/hf-inference/models/ and the OpenAI protocol under /router/v1/), an
 * OpenAI-protocol dedicated endpoint as vLLM serves it (/vllm), the retired host
 * (/gone) and the Hub's inference provider mapping. OpenAI answers are derived from
 * the request ("echo: <last user message>" cut to max_tokens words) so that a test
 * can predict them; fake/oai-<fault> models script failures.
 */

#define VLLM_MODEL	"acme/llm"	/* what the fake vLLM says it serves */
#define OAI_STREAM_MS	10		/* gap between OpenAI stream chunks */
#define OAI_FAULT_AT	2		/* chunks before fake/oai-cut, -stall, -error */
#define OAI_N_MAX	16
#define EMB_DIM		8
#define EMB_DIM_MAX	1024
#define HOLD_MS		(24ULL * 3600 * 1000)	/* fake/oai-stall: "for ever" */
#define MODEL_CREATED	1700000000
#define GEN_ERROR	"Request failed during generation: out of memory"

enum oai_kind { OAI_CHAT, OAI_COMPLETION, OAI_EMBEDDING };
enum oai_host { HOST_ROUTER, HOST_VLLM };
enum oai_fault { OF_NONE, OF_429, OF_5XX, OF_CUT, OF_STALL, OF_ERROR, OF_SLOW,
    OF_STAMP, OF_INVALID };

/* A parsed OpenAI request and the answer derived from it. */
struct oaireq {
	enum oai_kind	 kind;
	cJSON		*body;
	const char	*model;		/* echoed: the body's, else the path's */
	char		 base[512];	/* the model looked up: no ":provider" suffix */
	enum oai_fault	 fault;
	uint64_t	 fnum;		/* the fault's count or milliseconds */
	int		 n;
	int		 stream;
	int		 usage;		/* stream_options.include_usage */
	int		 b64;		/* encoding_format "base64" */
	long		 max_tokens;	/* 0: no limit */
	size_t		 dim;		/* of the embeddings */
	size_t		 prompt_tokens;
	struct sbuf	 text;		/* the last user message, or the prompt */
	struct sbuf	 content;	/* the answer: words separated by one space */
	size_t		*woff;		/* where each word of content starts */
	size_t		 nwords;
	const char	*tool;		/* the function called, or NULL */
	struct sbuf	 args;		/* its arguments, JSON text */
	char		 id[48];
	long		 created;
};

/* Takes o; a test tool: a failure to print is fatal. */
static char *
json_print(cJSON *o)
{
	char	*s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (s == NULL)
		fatal("cannot print JSON");
	return (s);
}

static const char *
model_ent_task(const struct model *m)
{
	return (m->kind == MODEL_CASSETTE ? data.cas[m->cas[0]].task : tasks[m->task]);
}

/* The task of a model the fake knows, or NULL. */
static const char *
model_task(const char *id)
{
	const struct sent	*e = smap_find(&data.models, id, strlen(id), 0);

	return (e != NULL ? model_ent_task(e->ptr) : NULL);
}

/* The models the router serves through the OpenAI protocol only. */
static int
task_is_llm(const char *task)
{
	return (task != NULL && (strcmp(task, "text-generation") == 0 ||
	    strcmp(task, "conversational") == 0));
}

/* The Hub's task for the provider: chat models are "conversational". */
static const char *
mapping_task(const char *id, const char *task)
{
	static const char *const chat[] = { "instruct", "chat", "zephyr" };
	size_t	i;

	if (strcmp(task, "text-generation") != 0)
		return (task);
	if (strncmp(id, "fake/oai-", 9) == 0)
		return ("conversational");
	for (i = 0; i < sizeof(chat) / sizeof(chat[0]); i++)
		if (strcasestr(id, chat[i]) != NULL)
			return ("conversational");
	return (task);
}

/*
 * "fake/oai-<fault>[-<num>]". 429 and 500 without a count: always; stall without
 * milliseconds: held for ever. Returns 0 or -1 (not a fault model).
 */
static int
oai_fault_parse(const char *id, enum oai_fault *f, uint64_t *num)
{
	static const struct {
		const char	*word;
		enum oai_fault	 f;
		int		 arg;	/* 0: none, 1: optional, 2: required */
		uint64_t	 dflt;
	} tab[] = {
		{ "429", OF_429, 1, UINT64_MAX }, { "500", OF_5XX, 1, UINT64_MAX },
		{ "cut", OF_CUT, 0, 0 }, { "stall", OF_STALL, 1, HOLD_MS },
		{ "error", OF_ERROR, 0, 0 }, { "slow", OF_SLOW, 2, 0 },
		{ "stamp", OF_STAMP, 2, 0 }
	};
	const char	*p, *end;
	size_t		 i, l;

	/* The v0.18 recording's: an error in the stream, a validation error. */
	if (strcmp(id, "mock/tgi-error") == 0 || strcmp(id, "mock/tgi-422") == 0) {
		*f = strcmp(id, "mock/tgi-error") == 0 ? OF_ERROR : OF_INVALID;
		*num = 0;
		return (0);
	}
	if (strncmp(id, "fake/oai-", 9) != 0)
		return (-1);
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		l = strlen(tab[i].word);
		if (strncmp(id + 9, tab[i].word, l) != 0)
			continue;
		p = id + 9 + l;
		*f = tab[i].f;
		*num = tab[i].dflt;
		if (*p == '\0')
			return (tab[i].arg == 2 ? -1 : 0);
		if (*p != '-' || tab[i].arg == 0 || parse_num(p + 1, &end, num) == -1)
			return (-1);
		return (*end == '\0' ? 0 : -1);
	}
	return (-1);
}

/* The OpenAI error shape: {"error":{"message","type","param":null,"code"}}. */
static enum MHD_Result
oai_error(struct req *r, unsigned int status, const char *msg, const char *type,
    const char *code, const char *xname, const char *xval)
{
	cJSON	*o = cJSON_CreateObject(), *e;

	e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddNullToObject(e, "param");
	if (code != NULL)
		cJSON_AddStringToObject(e, "code", code);
	else
		cJSON_AddNullToObject(e, "code");
	return (reply_json(r, status, o, xname, xval));
}

/* A route or method the host does not have: vLLM is FastAPI ({"detail"}). */
static enum MHD_Result
host_error(struct req *r, enum oai_host host, unsigned int status)
{
	const char	*msg = status == 405 ? "Method Not Allowed" : "Not Found";
	cJSON		*o;

	if (host != HOST_VLLM)
		return (reply_error(r, status, msg));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "detail", msg);
	return (reply_json(r, status, o, NULL, NULL));
}

static size_t
words_count(const char *s, size_t len)
{
	size_t	i, n = 0;
	int	in = 0;

	for (i = 0; i < len; i++) {
		if (isspace((unsigned char)s[i]))
			in = 0;
		else if (!in) {
			in = 1;
			n++;
		}
	}
	return (n);
}

/* A message's content: a string, or a list of parts whose texts are joined. */
static void
content_text(const cJSON *c, struct sbuf *out)
{
	const cJSON	*part;
	const char	*t;
	int		 first = 1;

	if (cJSON_IsString(c)) {
		sbuf_str(out, c->valuestring);
		return;
	}
	if (!cJSON_IsArray(c))
		return;
	cJSON_ArrayForEach(part, c)
		if ((t = json_str(part, "text")) != NULL) {
			if (!first)
				sbuf_str(out, " ");
			sbuf_str(out, t);
			first = 0;
		}
}

/* tools (unless tool_choice is "none"): the function named by tool_choice, else the
   first; its arguments {"text": <the last user message>}. */
static void
tool_parse(struct oaireq *q)
{
	const cJSON	*tools = cJSON_GetObjectItemCaseSensitive(q->body, "tools");
	const cJSON	*choice = cJSON_GetObjectItemCaseSensitive(q->body, "tool_choice");
	const char	*name = NULL;
	cJSON		*a;
	char		*s;

	if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0 ||
	    (cJSON_IsString(choice) && strcmp(choice->valuestring, "none") == 0))
		return;
	if (cJSON_IsObject(choice))
		name = json_str(cJSON_GetObjectItemCaseSensitive(choice, "function"), "name");
	if (name == NULL)
		name = json_str(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tools, 0),
		    "function"), "name");
	q->tool = name != NULL ? name : "tool";
	a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "text", q->text.p != NULL ? q->text.p : "");
	s = json_print(a);
	sbuf_str(&q->args, s);
	free(s);
}

static const char *
chat_parse(struct oaireq *q)
{
	const cJSON	*msgs = cJSON_GetObjectItemCaseSensitive(q->body, "messages");
	const cJSON	*m, *last = NULL;
	struct sbuf	 t = { NULL, 0, 0 };
	const char	*role;

	if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
		return ("'messages' must be a non-empty list");
	cJSON_ArrayForEach(m, msgs) {
		sbuf_reset(&t);
		content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), &t);
		q->prompt_tokens += words_count(t.p, t.len);
		if ((role = json_str(m, "role")) != NULL && strcmp(role, "user") == 0)
			last = m;
	}
	sbuf_free(&t);
	if (last != NULL)
		content_text(cJSON_GetObjectItemCaseSensitive(last, "content"), &q->text);
	tool_parse(q);
	return (NULL);
}

/* A prompt string, or a list whose first element is one. */
static const char *
completion_parse(struct oaireq *q)
{
	const cJSON	*p = cJSON_GetObjectItemCaseSensitive(q->body, "prompt");

	if (cJSON_IsArray(p))
		p = cJSON_GetArrayItem(p, 0);
	if (!cJSON_IsString(p))
		return ("'prompt' must be a string or a list of strings");
	sbuf_str(&q->text, p->valuestring);
	q->prompt_tokens = words_count(q->text.p, q->text.len);
	return (NULL);
}

static const char *
embedding_parse(struct oaireq *q)
{
	const cJSON	*in = cJSON_GetObjectItemCaseSensitive(q->body, "input"), *v;
	const char	*fmt = json_str(q->body, "encoding_format");

	if (!cJSON_IsString(in) && (!cJSON_IsArray(in) || cJSON_GetArraySize(in) == 0))
		return ("'input' must be a string or a non-empty list");
	if (fmt != NULL && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0)
		return ("'encoding_format' must be \"float\" or \"base64\"");
	q->b64 = fmt != NULL && strcmp(fmt, "base64") == 0;
	v = cJSON_GetObjectItemCaseSensitive(q->body, "dimensions");
	q->dim = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= EMB_DIM_MAX ?
	    (size_t)v->valuedouble : EMB_DIM;
	if (cJSON_IsString(in))
		q->prompt_tokens = words_count(in->valuestring, strlen(in->valuestring));
	else
		cJSON_ArrayForEach(v, in)
			if (cJSON_IsString(v))
				q->prompt_tokens += words_count(v->valuestring,
				    strlen(v->valuestring));
	return (NULL);
}

/* The answer's text: the words of "echo: <text>", at most max_tokens of them. */
static void
content_build(struct oaireq *q)
{
	struct sbuf	 all = { NULL, 0, 0 };
	const char	*p, *end;
	size_t		 l;

	sbuf_str(&all, "echo: ");
	sbuf_add(&all, q->text.p, q->text.len);
	q->woff = xmalloc((all.len / 2 + 1) * sizeof(*q->woff));
	for (p = all.p, end = p + all.len;;) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p == end || (q->max_tokens > 0 && q->nwords == (size_t)q->max_tokens))
			break;
		for (l = 0; p + l < end && !isspace((unsigned char)p[l]); l++)
			;
		if (q->nwords > 0)
			sbuf_str(&q->content, " ");
		q->woff[q->nwords++] = q->content.len;
		sbuf_add(&q->content, p, l);
		p += l;
	}
	sbuf_free(&all);
}

/* The model as given, and the one looked up: the path's, or the given one without
   its ":provider" (or ":fastest", ...) suffix. */
static const char *
oai_model(struct oaireq *q, enum oai_host host, const char *pathmodel)
{
	const char	*given = json_str(q->body, "model"), *colon;
	size_t		 len;

	q->model = given != NULL ? given : pathmodel != NULL ? pathmodel :
	    host == HOST_VLLM ? VLLM_MODEL : NULL;
	if (q->model == NULL)
		return ("you must provide a model parameter");
	if (pathmodel != NULL)
		len = strlen(pathmodel);
	else if ((colon = strrchr(q->model, ':')) != NULL)
		len = (size_t)(colon - q->model);
	else
		len = strlen(q->model);
	if (len >= sizeof(q->base))
		return ("the model name is too long");
	memcpy(q->base, pathmodel != NULL ? pathmodel : q->model, len);
	q->base[len] = '\0';
	if (oai_fault_parse(q->base, &q->fault, &q->fnum) == -1)
		q->fault = OF_NONE;
	return (NULL);
}

/* Returns NULL, or what is wrong with the request (a 400). */
static const char *
oai_parse(struct req *r, enum oai_host host, const char *pathmodel, struct oaireq *q)
{
	static const char *const prefix[] = { "chatcmpl", "cmpl", "embd" };
	const cJSON	*v;
	const char	*err;

	q->n = 1;
	if ((q->body = cJSON_ParseWithLength(r->body, r->len)) == NULL ||
	    !cJSON_IsObject(q->body))
		return ("the body is not a JSON object");
	if ((err = oai_model(q, host, pathmodel)) != NULL)
		return (err);
	q->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q->body, "stream"));
	q->usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(q->body, "stream_options"), "include_usage"));
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(q->body, "n")))
		q->n = v->valuedouble < 1 ? 1 : v->valuedouble > OAI_N_MAX ? OAI_N_MAX :
		    (int)v->valuedouble;
	if (!cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(q->body, "max_tokens")))
		v = cJSON_GetObjectItemCaseSensitive(q->body, "max_completion_tokens");
	if (cJSON_IsNumber(v) && v->valuedouble >= 1)
		q->max_tokens = v->valuedouble > 1e9 ? 1000000000L : (long)v->valuedouble;
	snprintf(q->id, sizeof(q->id), "%s-fake%016" PRIxFAST64, prefix[q->kind],
	    atomic_fetch_add(&ids, 1));
	q->created = (long)time(NULL);
	if (q->kind == OAI_EMBEDDING)
		return (embedding_parse(q));
	if ((err = q->kind == OAI_CHAT ? chat_parse(q) : completion_parse(q)) != NULL)
		return (err);
	content_build(q);
	return (NULL);
}

static void
oaireq_free(struct oaireq *q)
{
	cJSON_Delete(q->body);
	sbuf_free(&q->text);
	sbuf_free(&q->content);
	sbuf_free(&q->args);
	free(q->woff);
}

/* Words of the answer, per choice: the text, or the tool call's arguments. */
static size_t
completion_tokens(const struct oaireq *q)
{
	if (q->tool != NULL)
		return (words_count(q->args.p, q->args.len));
	return (q->nwords);
}

static const char *
finish_reason(const struct oaireq *q)
{
	return (q->tool != NULL ? "tool_calls" : "stop");
}

static cJSON *
oai_head(const struct oaireq *q, const char *object)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", q->id);
	cJSON_AddStringToObject(o, "object", object);
	cJSON_AddNumberToObject(o, "created", (double)q->created);
	cJSON_AddStringToObject(o, "model", q->model);
	return (o);
}

static void
oai_usage(cJSON *o, const struct oaireq *q)
{
	cJSON	*u = cJSON_AddObjectToObject(o, "usage");
	size_t	 c = q->kind == OAI_EMBEDDING ? 0 : completion_tokens(q) * (size_t)q->n;

	cJSON_AddNumberToObject(u, "prompt_tokens", (double)q->prompt_tokens);
	if (q->kind != OAI_EMBEDDING)
		cJSON_AddNumberToObject(u, "completion_tokens", (double)c);
	cJSON_AddNumberToObject(u, "total_tokens", (double)(q->prompt_tokens + c));
}

/* The tool call: whole (part 0), or in a stream its head (1) or its arguments (2). */
static cJSON *
tool_call(const struct oaireq *q, int part)
{
	cJSON	*c = cJSON_CreateObject(), *f;

	if (part > 0)
		cJSON_AddNumberToObject(c, "index", 0);
	if (part < 2) {
		cJSON_AddStringToObject(c, "id", "call_fake_0");
		cJSON_AddStringToObject(c, "type", "function");
	}
	f = cJSON_AddObjectToObject(c, "function");
	if (part < 2)
		cJSON_AddStringToObject(f, "name", q->tool);
	cJSON_AddStringToObject(f, "arguments", part == 1 ? "" : q->args.p);
	return (c);
}

static cJSON *
chat_message(const struct oaireq *q)
{
	cJSON	*m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "role", "assistant");
	if (q->tool == NULL) {
		cJSON_AddStringToObject(m, "content", q->content.p);
		return (m);
	}
	cJSON_AddNullToObject(m, "content");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(m, "tool_calls"), tool_call(q, 0));
	return (m);
}

/* Embedding numbers: splitmix64 from the input's hash, multiples of 1/1024 in
   [-1, 1] so that the JSON numbers and the float32 of base64 are the same values. */
static void
emb_vector(const char *s, size_t len, size_t dim, float *v)
{
	uint64_t	h = hash_bytes(s, len), z;
	size_t		i;

	for (i = 0; i < dim; i++) {
		z = (h += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		v[i] = (float)((int)(z % 2049) - 1024) / 1024.0f;
	}
}

/* base64 of the little-endian float32s, as the OpenAI API encodes them. */
static void
emb_b64(struct sbuf *out, const float *v, size_t dim)
{
	unsigned char	*le = xmalloc(dim * 4);
	uint32_t	 u;
	size_t		 i;

	for (i = 0; i < dim; i++) {
		memcpy(&u, &v[i], sizeof(u));
		le[4 * i] = (unsigned char)u;
		le[4 * i + 1] = (unsigned char)(u >> 8);
		le[4 * i + 2] = (unsigned char)(u >> 16);
		le[4 * i + 3] = (unsigned char)(u >> 24);
	}
	b64_encode(out, le, dim * 4);
	free(le);
}

/* One embedding: of a string's bytes, or of another input's JSON text (tokens). */
static cJSON *
emb_item(const struct oaireq *q, const cJSON *in, int index)
{
	struct sbuf	 b64 = { NULL, 0, 0 };
	cJSON		*o = cJSON_CreateObject(), *list;
	float		*v = xmalloc(q->dim * sizeof(*v));
	char		*text = NULL;
	const char	*s;
	size_t		 i;

	if (cJSON_IsString(in))
		s = in->valuestring;
	else if ((s = text = cJSON_PrintUnformatted(in)) == NULL)
		fatal("cannot print JSON");
	emb_vector(s, strlen(s), q->dim, v);
	cJSON_AddStringToObject(o, "object", "embedding");
	cJSON_AddNumberToObject(o, "index", index);
	if (q->b64) {
		emb_b64(&b64, v, q->dim);
		cJSON_AddStringToObject(o, "embedding", b64.p);
	} else {
		list = cJSON_AddArrayToObject(o, "embedding");
		for (i = 0; i < q->dim; i++)
			cJSON_AddItemToArray(list, cJSON_CreateNumber((double)v[i]));
	}
	sbuf_free(&b64);
	free(text);
	free(v);
	return (o);
}

static char *
emb_json(const struct oaireq *q)
{
	const cJSON	*in = cJSON_GetObjectItemCaseSensitive(q->body, "input"), *v;
	cJSON		*o = cJSON_CreateObject(), *list;
	int		 i = 0;

	cJSON_AddStringToObject(o, "object", "list");
	list = cJSON_AddArrayToObject(o, "data");
	if (cJSON_IsString(in))
		cJSON_AddItemToArray(list, emb_item(q, in, 0));
	else
		cJSON_ArrayForEach(v, in)
			cJSON_AddItemToArray(list, emb_item(q, v, i++));
	cJSON_AddStringToObject(o, "model", q->model);
	oai_usage(o, q);
	return (json_print(o));
}

/* The JSON answer: chat.completion, text_completion or the embeddings list. */
static char *
oai_json(const struct oaireq *q)
{
	cJSON	*o, *choices, *c;
	int	 i;

	if (q->kind == OAI_EMBEDDING)
		return (emb_json(q));
	o = oai_head(q, q->kind == OAI_CHAT ? "chat.completion" : "text_completion");
	choices = cJSON_AddArrayToObject(o, "choices");
	for (i = 0; i < q->n; i++) {
		c = cJSON_CreateObject();
		cJSON_AddNumberToObject(c, "index", i);
		if (q->kind == OAI_CHAT)
			cJSON_AddItemToObject(c, "message", chat_message(q));
		else
			cJSON_AddStringToObject(c, "text", q->content.p);
		cJSON_AddNullToObject(c, "logprobs");
		cJSON_AddStringToObject(c, "finish_reason", finish_reason(q));
		cJSON_AddItemToArray(choices, c);
	}
	oai_usage(o, q);
	return (json_print(o));
}

/* OpenAI streams: every event built at once into r->st.built, sent as usual. */

static void
boff_add(struct stream *s, size_t off)
{
	if (s->nboff == s->capboff) {
		s->capboff = s->capboff ? s->capboff * 2 : 32;
		s->boff = xrealloc(s->boff, s->capboff * sizeof(*s->boff));
	}
	s->boff[s->nboff++] = off;
}

/* One event, "data: <payload>\n\n". */
static void
stream_push(struct stream *s, const char *payload)
{
	if (s->nboff == 0)
		boff_add(s, 0);
	sbuf_str(&s->built, "data: ");
	sbuf_str(&s->built, payload);
	sbuf_str(&s->built, "\n\n");
	boff_add(s, s->built.len);
}

/* Takes o. */
static void
stream_push_json(struct stream *s, cJSON *o)
{
	char	*j = json_print(o);

	stream_push(s, j);
	free(j);
}

/* Word k of the answer as a stream sends it: with the space before it. */
static char *
word_str(const struct oaireq *q, size_t k)
{
	size_t	start = k == 0 ? 0 : q->woff[k] - 1;
	size_t	end = k + 1 < q->nwords ? q->woff[k + 1] - 1 : q->content.len;

	return (xstrndup(q->content.p + start, end - start));
}

/* A choice chunk: delta (chat, taken) or text (completions), and the finish. */
static void
oai_chunk(struct stream *s, const struct oaireq *q, int index, cJSON *delta,
    const char *text, const char *finish)
{
	cJSON	*o, *c;

	o = oai_head(q, q->kind == OAI_CHAT ? "chat.completion.chunk" : "text_completion");
	c = cJSON_CreateObject();
	cJSON_AddNumberToObject(c, "index", index);
	if (q->kind == OAI_CHAT)
		cJSON_AddItemToObject(c, "delta", delta);
	else
		cJSON_AddStringToObject(c, "text", text);
	cJSON_AddNullToObject(c, "logprobs");
	if (finish != NULL)
		cJSON_AddStringToObject(c, "finish_reason", finish);
	else
		cJSON_AddNullToObject(c, "finish_reason");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
	stream_push_json(s, o);
}

/* Steps of a choice: chat: the role, each word (or the tool call's head and its
   arguments), the finish; completions: each word, the finish. */
static size_t
oai_steps(const struct oaireq *q)
{
	if (q->kind == OAI_COMPLETION)
		return (q->nwords + 1);
	return (q->tool != NULL ? 4 : q->nwords + 2);
}

static void
oai_step(struct stream *s, const struct oaireq *q, int c, size_t k, int last)
{
	cJSON	*d;
	char	*w = NULL;

	if (q->kind == OAI_COMPLETION) {
		w = last ? xstrdup("") : word_str(q, k);
		oai_chunk(s, q, c, NULL, w, last ? finish_reason(q) : NULL);
		free(w);
		return;
	}
	d = cJSON_CreateObject();
	if (last) {
		oai_chunk(s, q, c, d, NULL, finish_reason(q));
		return;
	}
	if (k == 0) {
		cJSON_AddStringToObject(d, "role", "assistant");
		cJSON_AddStringToObject(d, "content", "");
	} else if (q->tool != NULL)
		cJSON_AddItemToArray(cJSON_AddArrayToObject(d, "tool_calls"),
		    tool_call(q, (int)k));
	else {
		w = word_str(q, k - 1);
		cJSON_AddStringToObject(d, "content", w);
	}
	oai_chunk(s, q, c, d, NULL, NULL);
	free(w);
}

static void
oai_stream_build(struct stream *s, const struct oaireq *q)
{
	size_t	 steps = oai_steps(q), k;
	int	 c;
	cJSON	*o;

	for (k = 0; k < steps; k++)
		for (c = 0; c < q->n; c++)
			oai_step(s, q, c, k, k + 1 == steps);
	if (q->usage) {
		o = oai_head(q, q->kind == OAI_CHAT ? "chat.completion.chunk" :
		    "text_completion");
		cJSON_AddArrayToObject(o, "choices");
		oai_usage(o, q);
		stream_push_json(s, o);
	}
	if (q->fault == OF_ERROR && s->nboff > OAI_FAULT_AT) {
		/* The first chunks, then the error event (then [DONE], as vLLM). */
		s->built.len = s->boff[OAI_FAULT_AT];
		s->built.p[s->built.len] = '\0';
		s->nboff = OAI_FAULT_AT + 1;
		stream_push(s, "{\"error\":{\"message\":\"" GEN_ERROR "\",\"type\":"
		    "\"server_error\",\"param\":null,\"code\":500}}");
	}
	stream_push(s, "[DONE]");
}

static enum MHD_Result
oai_stream(struct req *r, const struct oaireq *q)
{
	struct stream	*s = &r->st;

	stream_init(s, 0, q->fault == OF_SLOW || q->fault == OF_STAMP ? q->fnum :
	    OAI_STREAM_MS);
	s->stamp = q->fault == OF_STAMP;
	oai_stream_build(s, q);
	s->count = s->nboff - 1;
	if (q->fault == OF_CUT || q->fault == OF_STALL) {
		s->fault = q->fault == OF_CUT ? SF_CLOSE : SF_STALL;
		s->at = OAI_FAULT_AT;
		s->stall = q->fnum;
	}
	return (stream_queue(r, NULL, NULL));
}

/* Answers body (malloc'd JSON, taken) after ms; the connection is parked meanwhile. */
static enum MHD_Result
late_queue(struct req *r, unsigned int status, char *body, uint64_t ms)
{
	if (ms == 0 || atomic_load(&stopping))
		return (reply(r, status, "application/json", body, strlen(body), NULL, NULL));
	sbuf_str(&r->late, body);
	free(body);
	r->late_status = status;
	MHD_suspend_connection(r->conn);
	timer_add(r, mono_ms() + ms);
	return (MHD_YES);
}

/* The resumed request's late answer. */
static enum MHD_Result
late_reply(struct req *r)
{
	char	*body = r->late.p;
	size_t	 len = r->late.len;

	memset(&r->late, 0, sizeof(r->late));
	return (reply(r, r->late_status, "application/json", body, len, NULL, NULL));
}

static enum MHD_Result
oai_plain(struct req *r, const struct oaireq *q)
{
	char	*body;

	switch (q->fault) {
	case OF_CUT:
		r->reset = 1;
		return (MHD_NO);	/* MHD closes the connection, no response */
	case OF_ERROR:
		return (oai_error(r, 500, GEN_ERROR, "server_error", NULL, NULL, NULL));
	case OF_STALL:
	case OF_SLOW:
	case OF_STAMP:
		return (late_queue(r, 200, oai_json(q), q->fnum));
	default:
		body = oai_json(q);
		return (reply(r, 200, "application/json", body, strlen(body), NULL, NULL));
	}
}

/* fake/oai-429 and fake/oai-500 first (counted per model), then the answer. */
static enum MHD_Result
oai_answer(struct req *r, const struct oaireq *q)
{
	static const unsigned int codes[4] = { 500, 502, 503, 504 };
	static const char *const msgs[4] = {
		"Internal Server Error", "Bad Gateway", "Service Unavailable", "Gateway Timeout"
	};
	uint64_t	i, t0;

	if (q->fault == OF_429 || q->fault == OF_5XX) {
		i = behave_count(q->base, &t0);
		if (i < q->fnum && q->fault == OF_429)
			return (oai_error(r, 429, "Rate limit reached. You reached free usage "
			    "limit (reset hourly).", "rate_limit_error", "rate_limit_exceeded",
			    "Retry-After", "1"));
		if (i < q->fnum) {
			i = q->fnum == UINT64_MAX ? 0 : i % 4;
			return (oai_error(r, codes[i], msgs[i], "server_error", NULL, NULL,
			    NULL));
		}
	}
	if (q->fault == OF_INVALID)
		return (oai_error(r, 400, "This model's maximum context length is 1512 "
		    "tokens: reduce the prompt or max_tokens", "invalid_request_error", NULL,
		    NULL, NULL));
	if (q->stream && q->kind != OAI_EMBEDDING)
		return (oai_stream(r, q));
	return (oai_plain(r, q));
}

/* The router serves chat and completions of the LLMs, embeddings of the embedding
   models (and every fake/oai-<fault>); vLLM serves any name. */
static int
router_serves(const struct oaireq *q)
{
	const char	*task = model_task(q->base);

	if (q->fault != OF_NONE)
		return (1);
	if (q->kind == OAI_EMBEDDING)
		return (task != NULL && (strcmp(task, "feature-extraction") == 0 ||
		    strcmp(task, "sentence-similarity") == 0));
	return (task_is_llm(task));
}

static enum MHD_Result
oai_post(struct req *r, const char *method, enum oai_kind kind, enum oai_host host,
    const char *pathmodel)
{
	struct oaireq	 q;
	struct sbuf	 msg = { NULL, 0, 0 };
	const char	*err;
	enum MHD_Result	 ret;

	if (strcmp(method, "POST") != 0)
		return (host_error(r, host, 405));
	memset(&q, 0, sizeof(q));
	q.kind = kind;
	if ((err = oai_parse(r, host, pathmodel, &q)) != NULL)
		ret = oai_error(r, 400, err, "invalid_request_error", NULL, NULL, NULL);
	else if (host == HOST_ROUTER && !router_serves(&q)) {
		sbuf_printf(&msg, "The requested model '%s' is not supported by any "
		    "provider you have enabled.", q.model);
		ret = oai_error(r, 400, msg.p, "invalid_request_error",
		    "model_not_supported", NULL, NULL);
	} else
		ret = oai_answer(r, &q);
	sbuf_free(&msg);
	oaireq_free(&q);
	return (ret);
}

static cJSON *
model_obj(const char *id, enum oai_host host)
{
	const char	*slash = strchr(id, '/');
	cJSON		*o = cJSON_CreateObject(), *p;
	char		*owner;

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "object", "model");
	cJSON_AddNumberToObject(o, "created", MODEL_CREATED);
	if (host == HOST_VLLM) {
		cJSON_AddStringToObject(o, "owned_by", "vllm");
		cJSON_AddStringToObject(o, "root", id);
		cJSON_AddNullToObject(o, "parent");
		cJSON_AddNumberToObject(o, "max_model_len", 4096);
		return (o);
	}
	owner = slash != NULL ? xstrndup(id, (size_t)(slash - id)) : xstrdup("huggingface");
	cJSON_AddStringToObject(o, "owned_by", owner);
	free(owner);
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "provider", "hf-inference");
	cJSON_AddStringToObject(p, "status", "live");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "providers"), p);
	return (o);
}

static int
str_cmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* GET /v1/models: the LLMs the fake knows (router), sorted; vLLM its one model. */
static enum MHD_Result
models_route(struct req *r, enum oai_host host)
{
	const char	**names;
	cJSON		 *o = cJSON_CreateObject(), *list;
	size_t		  n = 0, i;

	cJSON_AddStringToObject(o, "object", "list");
	list = cJSON_AddArrayToObject(o, "data");
	if (host == HOST_VLLM) {
		cJSON_AddItemToArray(list, model_obj(VLLM_MODEL, host));
		return (reply_json(r, 200, o, NULL, NULL));
	}
	names = xmalloc(data.models.len * sizeof(*names));
	for (i = 0; i < data.models.cap; i++)
		if (data.models.v[i].key != NULL &&
		    task_is_llm(model_ent_task(data.models.v[i].ptr)))
			names[n++] = data.models.v[i].key;
	qsort(names, n, sizeof(*names), str_cmp);
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(list, model_obj(names[i], host));
	free(names);
	return (reply_json(r, 200, o, NULL, NULL));
}

static enum MHD_Result
model_get_route(struct req *r, const char *id)
{
	struct sbuf	msg = { NULL, 0, 0 };
	enum MHD_Result	ret;

	if (task_is_llm(model_task(id)))
		return (reply_json(r, 200, model_obj(id, HOST_ROUTER), NULL, NULL));
	sbuf_printf(&msg, "The model '%s' does not exist", id);
	ret = oai_error(r, 404, msg.p, "invalid_request_error", "model_not_found", NULL,
	    NULL);
	sbuf_free(&msg);
	return (ret);
}

/* /v1/<sub> of the router or of vLLM. */
static enum MHD_Result
oai_route(struct req *r, const char *sub, const char *method, enum oai_host host)
{
	if (strcmp(sub, "/chat/completions") == 0)
		return (oai_post(r, method, OAI_CHAT, host, NULL));
	if (strcmp(sub, "/completions") == 0)
		return (oai_post(r, method, OAI_COMPLETION, host, NULL));
	if (strcmp(sub, "/embeddings") == 0)
		return (oai_post(r, method, OAI_EMBEDDING, host, NULL));
	if (strcmp(sub, "/models") == 0)
		return (strcmp(method, "GET") == 0 ? models_route(r, host) :
		    host_error(r, host, 405));
	if (host == HOST_ROUTER && strncmp(sub, "/models/", 8) == 0 && sub[8] != '\0')
		return (model_get_route(r, sub + 8));
	return (host_error(r, host, 404));
}

/* Copies the first len bytes of s into id[512]; 0, or -1 when too long or empty. */
static int
id_copy(char *id, const char *s, size_t len)
{
	if (len == 0 || len >= 512)
		return (-1);
	memcpy(id, s, len);
	id[len] = '\0';
	return (0);
}

/*
 * feature-extraction of a list of texts, as the router answers it: one vector per
 * text, in order (16 values derived from the text, so a test can tell which is
 * which); facebook/bart-base, a model without pooling, gives two token vectors
 * per text. 1 when answered (*ret set), 0 when the body is no such list.
 */
static int
fe_list_route(struct req *r, const char *id, enum MHD_Result *ret)
{
	cJSON		*in, *out, *vec, *toks;
	const cJSON	*list, *item;
	uint64_t	 h;
	int		 i, t, ntok = strcmp(id, "facebook/bart-base") == 0 ? 2 : 0;

	if ((in = cJSON_ParseWithLength(r->body, r->len)) == NULL)
		return (0);
	list = cJSON_GetObjectItemCaseSensitive(in, "inputs");
	if (!cJSON_IsArray(list)) {
		cJSON_Delete(in);
		return (0);
	}
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(item, list) {
		h = cJSON_IsString(item) ? hash_bytes(item->valuestring,
		    strlen(item->valuestring)) : 0;
		toks = ntok > 0 ? cJSON_CreateArray() : NULL;
		for (t = 0; t < (ntok > 0 ? ntok : 1); t++) {
			vec = cJSON_CreateArray();
			for (i = 0; i < 16; i++)
				cJSON_AddItemToArray(vec, cJSON_CreateNumber(
				    (double)((h >> ((i * 4 + t) % 60)) & 0xff) / 256.0 - 0.5));
			cJSON_AddItemToArray(toks != NULL ? toks : out, vec);
		}
		if (toks != NULL)
			cJSON_AddItemToArray(out, toks);
	}
	cJSON_Delete(in);
	*ret = reply_json(r, 200, out, NULL, NULL);
	return (1);
}

/*
 * /router/hf-inference/models/<rest>: the task API as the 2023 routes answer it,
 * but not for LLMs (their text-generation and conversational bodies are gone);
 * <id>/pipeline/<task> for the two embedding tasks; <id>/v1/chat/completions.
 */
static enum MHD_Result
hfi_route(struct req *r, const char *rest, const char *method)
{
	static const char	 chat[] = "/v1/chat/completions";
	const size_t		 cl = sizeof(chat) - 1, len = strlen(rest);
	struct sbuf		 msg = { NULL, 0, 0 };
	const char		*p, *task;
	enum MHD_Result		 ret;
	char			 id[512];

	if (len > cl && strcmp(rest + len - cl, chat) == 0)
		return (id_copy(id, rest, len - cl) == -1 ? reply_error(r, 404, "Not Found") :
		    oai_post(r, method, OAI_CHAT, HOST_ROUTER, id));
	if ((p = strstr(rest, "/pipeline/")) != NULL) {
		task = p + 10;
		if ((strcmp(task, "feature-extraction") != 0 &&
		    strcmp(task, "sentence-similarity") != 0) ||
		    id_copy(id, rest, (size_t)(p - rest)) == -1)
			return (reply_error(r, 404, "Not Found"));
		if (strcmp(task, "feature-extraction") == 0 && strncmp(id, "fake/", 5) != 0 &&
		    model_task(id) != NULL && fe_list_route(r, id, &ret))
			return (ret);
		return (model_route(r, id, task, strlen(task)));
	}
	if (strncmp(rest, "fake/", 5) == 0 || !task_is_llm(task = model_task(rest)))
		return (model_route(r, rest, NULL, 0));
	sbuf_printf(&msg, "Model %s is not supported by provider hf-inference for task %s",
	    rest, task);
	ret = reply_error(r, 404, msg.p);
	sbuf_free(&msg);
	return (ret);
}

static enum MHD_Result
router_route(struct req *r, const char *rest, const char *method)
{
	if (strncmp(rest, "/v1/", 4) == 0)
		return (oai_route(r, rest + 3, method, HOST_ROUTER));
	if (strncmp(rest, "/hf-inference/models/", 21) == 0 && rest[21] != '\0')
		return (hfi_route(r, rest + 21, method));
	return (reply_error(r, 404, "Not Found"));
}

/* vLLM's OpenAI server: /v1/... and /health, no TGI route. */
static enum MHD_Result
vllm_route(struct req *r, const char *rest, const char *method)
{
	if (strcmp(rest, "/health") == 0)
		return (strcmp(method, "GET") == 0 ? reply(r, 200, "text/plain", xstrdup(""),
		    0, NULL, NULL) : host_error(r, HOST_VLLM, 405));
	if (strncmp(rest, "/v1/", 4) == 0)
		return (oai_route(r, rest + 3, method, HOST_VLLM));
	return (host_error(r, HOST_VLLM, 404));
}

static enum MHD_Result
gone_route(struct req *r)
{
	return (reply_error(r, 410, "https://api-inference.huggingface.co is no longer "
	    "supported. Please use https://router.huggingface.co/hf-inference instead."));
}

/* The Hub's ?expand=... (or expand[]=...): the fields asked for. */
struct expand {
	int	any;
	int	mapping;
	int	pipeline;
};

static enum MHD_Result
expand_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct expand	*x = cls;

	(void)kind;
	if (value == NULL || (strcmp(key, "expand") != 0 && strcmp(key, "expand[]") != 0))
		return (MHD_YES);
	x->any = 1;
	x->mapping |= strcmp(value, "inferenceProviderMapping") == 0;
	x->pipeline |= strcmp(value, "pipeline_tag") == 0;
	return (MHD_YES);
}

/* A Hub object id: 24 hex digits, from the model id. */
static void
hub_oid(const char *id, char buf[32])
{
	uint64_t	h = hash_bytes(id, strlen(id));

	snprintf(buf, 32, "%016" PRIx64 "%08" PRIx64, h,
	    (uint64_t)((h * 0x9e3779b97f4a7c15ULL) >> 32));
}

/*
 * GET /api/models/<id>: the Hub's model info, reduced to what hfgate reads; with
 * expand, as the Hub answers it: "_id", "id" and the fields asked for, the
 * inference provider mapping naming hf-inference for every model the fake knows.
 */
static enum MHD_Result
hub_model_route(struct req *r, const char *id)
{
	struct expand	 x = { 0, 0, 0 };
	enum oai_fault	 f;
	uint64_t	 n;
	const char	*task = model_task(id);
	cJSON		*o, *hf;
	char		 oid[32];

	if (task == NULL && oai_fault_parse(id, &f, &n) == 0)
		task = "text-generation";
	if (task == NULL)
		return (reply_error(r, 404, "Repository not found"));
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, expand_arg, &x);
	o = cJSON_CreateObject();
	if (!x.any) {
		cJSON_AddStringToObject(o, "id", id);
		cJSON_AddStringToObject(o, "modelId", id);
		cJSON_AddStringToObject(o, "pipeline_tag", task);
		return (reply_json(r, 200, o, NULL, NULL));
	}
	hub_oid(id, oid);
	cJSON_AddStringToObject(o, "_id", oid);
	cJSON_AddStringToObject(o, "id", id);
	if (x.pipeline)
		cJSON_AddStringToObject(o, "pipeline_tag", task);
	if (x.mapping) {
		hf = cJSON_AddObjectToObject(cJSON_AddObjectToObject(o,
		    "inferenceProviderMapping"), "hf-inference");
		cJSON_AddStringToObject(hf, "status", "live");
		cJSON_AddStringToObject(hf, "providerId", id);
		cJSON_AddStringToObject(hf, "task", mapping_task(id, task));
	}
	return (reply_json(r, 200, o, NULL, NULL));
}

static enum MHD_Result
control_route(struct req *r, const char *url, const char *method)
{
	cJSON		*o, *p;
	uint64_t	 seq;
	size_t		 i;

	if (strcmp(url, "/__fake/stats") == 0) {
		o = cJSON_CreateObject();
		pthread_mutex_lock(&g.mu);
		cJSON_AddNumberToObject(o, "total", (double)g.total);
		p = cJSON_AddObjectToObject(o, "paths");
		for (i = 0; i < g.paths.cap; i++)
			if (g.paths.v[i].key != NULL)
				cJSON_AddNumberToObject(p, g.paths.v[i].key,
				    (double)g.paths.v[i].n);
		pthread_mutex_unlock(&g.mu);
		return (reply_json(r, 200, o, NULL, NULL));
	}
	if (strcmp(url, "/__fake/requests") == 0) {
		o = cJSON_CreateArray();
		pthread_mutex_lock(&g.mu);
		seq = g.logseq >= LOG_MAX ? g.logseq - LOG_MAX + 1 : 1;
		for (; seq <= g.logseq; seq++)
			if (log_find_locked(seq) != NULL)
				cJSON_AddItemToArray(o, logent_json(&g.log[seq % LOG_MAX]));
		pthread_mutex_unlock(&g.mu);
		return (reply_json(r, 200, o, NULL, NULL));
	}
	if (strcmp(url, "/__fake/reset") == 0) {
		if (strcmp(method, "POST") != 0)
			return (reply_error(r, 405, "Method Not Allowed"));
		pthread_mutex_lock(&g.mu);
		g.total = 0;
		smap_clear(&g.paths);
		smap_clear(&g.state);
		g.logbase = g.logseq;
		pthread_mutex_unlock(&g.mu);
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		return (reply_json(r, 200, o, NULL, NULL));
	}
	return (reply_error(r, 404, "Not Found"));
}

static enum MHD_Result
route(struct req *r, const char *url, const char *method)
{
	const char	*p;

	if (r->control)
		return (control_route(r, url, method));
	if (strcmp(url, "/gone") == 0 || strncmp(url, "/gone/", 6) == 0)
		return (gone_route(r));
	if (strncmp(url, "/router/", 8) == 0)
		return (router_route(r, url + 7, method));
	if (strncmp(url, "/vllm/", 6) == 0)
		return (vllm_route(r, url + 5, method));
	if (strncmp(url, "/models/", 8) == 0 && url[8] != '\0')
		return (model_route(r, url + 8, NULL, 0));
	if (strncmp(url, "/pipeline/", 10) == 0 && (p = strchr(url + 10, '/')) != NULL &&
	    p[1] != '\0')
		return (model_route(r, p + 1, url + 10, (size_t)(p - (url + 10))));
	if (strncmp(url, "/status/", 8) == 0 && url[8] != '\0')
		return (status_route(r, url + 8));
	if (strncmp(url, "/framework/", 11) == 0 && url[11] != '\0')
		return (framework_route(r, url + 11));
	if (strcmp(url, "/api/tasks") == 0 && data.api_tasks != NULL)
		return (answer_queue(r, data.api_tasks, NULL, NULL));
	if (strncmp(url, "/api/models/", 12) == 0 && url[12] != '\0')
		return (hub_model_route(r, url + 12));
	if (strncmp(url, "/endpoints/", 11) == 0 && url[11] != '\0' && url[11] != '/')
		return (endpoint_route(r, url + 11, strcspn(url + 11, "/"), method));
	return (reply_error(r, 404, "Not Found"));
}

/* MHD callbacks. */

static void
req_free(struct req *r)
{
	if (r == NULL)
		return;
	if (r->uri != r->uri_inl)
		free(r->uri);
	if (r->body != r->body_inl)
		free(r->body);
	sbuf_free(&r->st.ev);
	sbuf_free(&r->st.text);
	sbuf_free(&r->st.built);
	free(r->st.boff);
	sbuf_free(&r->late);
	free(r);
}

/* Called once per request with the raw request-target: allocates the request. */
static void *
fake_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req	*r;
	size_t		 len = strlen(uri);

	(void)cls;
	if ((r = malloc(sizeof(*r))) == NULL)
		return (NULL);
	/* Only the header part: the inline buffers need no clearing. */
	memset(r, 0, offsetof(struct req, uri_inl));
	r->conn = c;
	r->fd = -1;
	r->heapidx = SIZE_MAX;
	if (len < sizeof(r->uri_inl))
		r->uri = r->uri_inl;
	else if ((r->uri = malloc(len + 1)) == NULL) {
		free(r);
		return (NULL);
	}
	memcpy(r->uri, uri, len + 1);
	r->pathlen = strcspn(r->uri, "?");
	r->body = r->body_inl;
	r->cap = sizeof(r->body_inl);
	return (r);
}

static int
req_body_add(struct req *r, const char *data_in, size_t n)
{
	char	*p;
	size_t	 cap;

	if (r->len + n > BODY_MAX)
		return (-1);
	if (r->len + n > r->cap) {
		for (cap = r->cap * 2; cap < r->len + n; cap *= 2)
			;
		if (r->body == r->body_inl) {
			if ((p = malloc(cap)) != NULL)
				memcpy(p, r->body, r->len);
		} else
			p = realloc(r->body, cap);
		if (p == NULL)
			return (-1);
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data_in, n);
	r->len += n;
	return (0);
}

static enum MHD_Result
fake_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upsize, void **ctx)
{
	struct req	*r = *ctx;

	(void)cls;
	(void)version;
	if (r == NULL)
		return (MHD_NO);
	if (!r->started) {
		r->started = 1;
		snprintf(r->method, sizeof(r->method), "%s", method);
		r->control = strncmp(url, "/__fake/", 8) == 0;
		r->reqid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-request-id");
		if (!r->control)
			stats_count(r);
		return (MHD_YES);
	}
	if (*upsize > 0) {
		if (req_body_add(r, upload, *upsize) == -1)
			return (MHD_NO);
		*upsize = 0;
		return (MHD_YES);
	}
	if (r->dispatched) {	/* resumed after a delay */
		if (peer_closed(c))
			return (MHD_NO);
		if (r->later != NULL)
			return (answer_queue(r, r->later, NULL, NULL));
		if (r->late.p != NULL)
			return (late_reply(r));
		return (MHD_NO);	/* a held request (fake/oai-stall): closed */
	}
	r->dispatched = 1;
	if (!r->control) {
		pthread_mutex_lock(&g.mu);
		req_log_locked(r);
		pthread_mutex_unlock(&g.mu);
	}
	return (route(r, url, method));
}

static void
fake_completed(void *cls, struct MHD_Connection *c, void **ctx,
    enum MHD_RequestTerminationCode toe)
{
	struct req	*r = *ctx;
	struct logent	*e;

	(void)cls;
	(void)c;
	if (r == NULL)
		return;
	*ctx = NULL;
	if (r->started && !r->control) {
		pthread_mutex_lock(&g.mu);
		if (!r->logged)		/* the client gave up during the upload */
			req_log_locked(r);
		if ((e = log_find_locked(r->logseq)) != NULL) {
			if (r->reset)
				e->reset = 1;
			else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
				e->aborted = 1;
			else
				e->completed = 1;
		}
		pthread_mutex_unlock(&g.mu);
	}
	req_free(r);
}

static void
fake_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char	msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Our own doing (fake/reset-<n>, clients gone during a wait): no line each time. */
	if (strstr(msg, "Application reported internal error") != NULL ||
	    strstr(msg, "application error generating response") != NULL ||
	    strstr(msg, "Failed to send the chunked response body") != NULL)
		return;
	fprintf(stderr, "fake_upstream: mhd: %s%s", msg,
	    msg[0] != '\0' && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
}

static void
usage(void)
{
	fprintf(stderr, "usage: fake_upstream [--port N] [--data DIR] [--threads N]\n");
	exit(2);
}

static unsigned long
arg_num(const char *s, unsigned long max)
{
	char		*end;
	unsigned long	 n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || n > max)
		usage();
	return (n);
}

/*
 * Every connection is a descriptor: raises the soft limit to the hard one and returns
 * how many connections fit, besides the listener, epoll sets and the workers' pipes.
 */
static unsigned int
nofile_raise(unsigned long threads)
{
	struct rlimit	rl;
	rlim_t		max = 1 << 20, reserve = FD_RESERVE + 4 * threads;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (CONN_LIMIT);
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > max + reserve)
		return ((unsigned int)max);
	if (rl.rlim_cur < 2 * reserve)
		return ((unsigned int)(rl.rlim_cur / 2));
	return ((unsigned int)(rl.rlim_cur - reserve));
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon		*d = NULL;
	const union MHD_DaemonInfo	*info;
	struct MHD_OptionItem		 pool[2] = {
		{ MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL }
	};
	struct sockaddr_in		 sin;
	struct epoll_event		 wev;
	pthread_t			 timer;
	sigset_t			 set;
	const char			*dir;
	char				 err[8192] = "";
	unsigned long			 port = 0, threads = 2;
	size_t				 i;
	unsigned int			 conns;
	int				 sig, a;

	if ((dir = getenv("FAKE_DATA_DIR")) == NULL || *dir == '\0')
		dir = FAKE_DATA_DIR;
	for (a = 1; a < argc; a++) {
		if (a + 1 >= argc)
			usage();
		if (strcmp(argv[a], "--port") == 0)
			port = arg_num(argv[++a], 65535);
		else if (strcmp(argv[a], "--data") == 0)
			dir = argv[++a];
		else if (strcmp(argv[a], "--threads") == 0) {
			if ((threads = arg_num(argv[++a], 256)) == 0)
				usage();
		} else
			usage();
	}
	if (data_load(dir, err, sizeof(err)) == -1)
		fatal("%s", err);

	pthread_mutex_init(&g.mu, NULL);

	/* Every thread inherits this mask; main takes the signals with sigwait. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	conns = nofile_raise(threads);
	/* Parked connections are watched for hang-ups; eventfd wakes the timer. */
	if ((g.ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (g.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("epoll/eventfd: %s", strerror(errno));
	memset(&wev, 0, sizeof(wev));
	wev.events = EPOLLIN;
	wev.data.ptr = NULL;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, g.wake, &wev) == -1)
		fatal("epoll_ctl: %s", strerror(errno));

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* MHD warns about a pool of one: no pool option then. */
	if (threads > 1) {
		pool[0].option = MHD_OPTION_THREAD_POOL_SIZE;
		pool[0].value = (intptr_t)threads;
	}
	if (pthread_create(&timer, NULL, timer_main, NULL) != 0)
		fatal("pthread_create failed");
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, fake_access, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, fake_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_ARRAY, pool,
	    MHD_OPTION_CONNECTION_LIMIT, conns,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
	    MHD_OPTION_URI_LOG_CALLBACK, fake_uri, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, fake_completed, NULL,
	    MHD_OPTION_END);
	if (d == NULL)
		fatal("cannot start the HTTP daemon on 127.0.0.1:%lu", port);
	if ((info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)) == NULL)
		fatal("cannot get the listening port");
	printf("PORT %u\n", (unsigned int)info->port);
	fflush(stdout);

	while (sigwait(&set, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
		;

	/* Resume every parked connection so that MHD can close them all. */
	pthread_mutex_lock(&g.mu);
	atomic_store(&stopping, 1);
	timer_wake();
	pthread_mutex_unlock(&g.mu);
	pthread_join(timer, NULL);
	MHD_stop_daemon(d);

	for (i = 0; i < LOG_MAX; i++)
		logent_free(&g.log[i]);
	smap_free(&g.paths);
	smap_free(&g.state);
	free(g.heap);
	close(g.ep);
	close(g.wake);
	pthread_mutex_destroy(&g.mu);
	data_free();
	return (0);
}
