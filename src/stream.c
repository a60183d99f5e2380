/*
 * Relaying an event stream. Upstream bytes go into a bounded per-stream buffer and out
 * to the client through libmicrohttpd's content reader as soon as they form whole
 * lines; when the client reads slowly the buffer fills, the upstream transfer is paused
 * (CURL_WRITEFUNC_PAUSE) and resumed from the loop once the client has drained it
 * (ARCHITECTURE.md §2.2, §3.4). Once the first byte has gone out there is no retry: any
 * failure becomes one error event, so a stream never ends in a way that looks like
 * success when it was not one.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cache.h"
#include "config.h"
#include "gw.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "sse.h"
#include "stream.h"
#include "upstream.h"

static void	stream_arm(struct gw_req *);

/* Streams with upstream bytes to write straight to their client (stream_push_queued). */
static _Thread_local struct gw_req	*stream_queue;

/* A follower cannot pause the stream it shares: one that falls this far behind is
   dropped. */
#define STREAM_FOLLOW_MAX	(4 * 1024 * 1024)

/* The byte after the last line end of out, from start on. */
static size_t
stream_line_end(const struct buf *out, size_t start, size_t ready)
{
	size_t	i;

	for (i = out->len; i > start; i--)
		if (out->data[i - 1] == '\n')
			return (i);
	return (ready);
}

/* The bytes of out the client may have now. */
static size_t
stream_ready(struct gw_req *req)
{
	/* Paused with a full buffer that holds no line end: a line longer than the
	   buffer cannot wait for its end, or nothing would drain and unpause. */
	if (req->out_ready <= req->out_off && req->up.paused)
		req->out_ready = req->out.len;
	return (req->out_ready - req->out_off);
}

/* n bytes of out reached the client (or MHD's buffer for it). */
static void
stream_sent(struct gw_req *req, size_t n)
{
	const struct config	*cfg = gw_config();

	req->out_off += n;
	if (req->out_off == req->out.len) {
		buf_reset(&req->out);
		req->out_off = req->out_ready = 0;
	}
	req->bytes_out += n;
	if (req->up.paused && req->out.len - req->out_off <= cfg->stream_buffer / 4) {
		req->stall_ms = 0;
		/* The idle clock restarts: the upstream was silent because paused. */
		req->last_up_ms = loop_now_ms();
		up_queue_unpause(&req->up);
	}
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct gw_req	*req = cls;
	size_t		 avail, n;

	(void)pos;
	req->direct = 0;	/* MHD writes again */
	if (req->client_gone)
		return (MHD_CONTENT_READER_END_WITH_ERROR);
	avail = stream_ready(req);
	if (avail > 0) {
		n = avail < max ? avail : max;
		memcpy(dst, req->out.data + req->out_off, n);
		stream_sent(req, n);
		return ((ssize_t)n);
	}
	if (req->up_done)
		return (MHD_CONTENT_READER_END_OF_STREAM);
	/* Nothing yet: returning 0 without suspending would spin (ARCHITECTURE.md §1.3). */
	http_suspend(req);
	/*
	 * MHD calls this only once it has sent everything it had (the head, the last
	 * chunk) and touches no suspended socket: until the end of the stream, events
	 * can go straight to the client, without a resume and a suspend each.
	 */
	req->direct_fd = http_stream_fd(req);
	req->direct = req->direct_fd != -1;
	return (0);
}

/*
 * Writes what is ready to the client's socket, one chunk per call of sendmsg, while
 * MHD waits in stream_read. A chunk the socket does not take whole is finished
 * when it has room (stream_writable) before anything else is sent; the stream's
 * end goes back to MHD, which sends the last chunk.
 */
static void
stream_send(struct gw_req *req)
{
	static char	 crlf[] = "\r\n";
	struct iovec	 iov[3];
	struct msghdr	 msg;
	size_t		 skip, avail, i, total;
	ssize_t		 n;
	/* As MHD frames it: chunks for HTTP/1.1 and later, raw until close for 1.0. */
	int		 chunked = !req->http10;

	for (;;) {
		if (req->frame_len == 0) {
			avail = stream_ready(req);
			if (avail == 0)
				break;
			req->frame_len = avail;
			req->frame_sent = 0;
			req->frame_head_len = chunked ? (size_t)snprintf(req->frame_head,
			    sizeof(req->frame_head), "%zx\r\n", avail) : 0;
		}
		iov[0].iov_base = req->frame_head;
		iov[0].iov_len = req->frame_head_len;
		iov[1].iov_base = req->out.data + req->out_off;
		iov[1].iov_len = req->frame_len;
		iov[2].iov_base = crlf;
		iov[2].iov_len = chunked ? 2 : 0;
		total = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
		skip = req->frame_sent;
		for (i = 0; i < 3 && skip >= iov[i].iov_len; i++) {
			skip -= iov[i].iov_len;
			iov[i].iov_len = 0;
		}
		iov[i].iov_base = (char *)iov[i].iov_base + skip;
		iov[i].iov_len -= skip;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = 3;
		n = sendmsg(req->direct_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			goto fail;
		if (n > 0)
			req->frame_sent += (size_t)n;
		if (req->frame_sent < total) {
			/* The client is slow: the stall clock runs until the chunk is out. */
			if (req->stall_ms == 0)
				req->stall_ms = loop_now_ms();
			stream_arm(req);
			if (http_want_writable(req, 1) == -1)
				goto fail;
			return;
		}
		req->stall_ms = 0;
		stream_sent(req, req->frame_len);
		req->frame_len = 0;
	}
	if (http_want_writable(req, 0) == -1)
		goto fail;
	if (req->up_done) {
		req->direct = 0;
		http_wake(req);
	}
	return;
fail:
	/* A reset client, or no way to wait for room. This may run inside curl's write
	   callback, where the upstream cannot be cancelled: the hang-up watch does it
	   once the socket is shut down. */
	req->direct = 0;
	http_drop(req);
}

/* MHD waits in stream_read and the client is there: hfgate writes to its socket. */
static int
stream_direct(const struct gw_req *req)
{
	return (req->direct && req->suspended && !req->client_gone);
}

void
stream_writable(struct gw_req *req)
{
	if (stream_direct(req))
		stream_send(req);
	else
		(void)http_want_writable(req, 0);
}

/* Hands what is ready to the client: straight to its socket while MHD waits in
   stream_read, or through MHD. */
static void
stream_push(struct gw_req *req)
{
	if (stream_direct(req)) {
		/* A chunk still going out: its room callback sends the rest. */
		if (req->frame_len == 0)
			stream_send(req);
	} else
		http_wake(req);
}

/* As stream_push, once curl has delivered all it read (stream_push_queued). */
static void
stream_push_later(struct gw_req *req)
{
	if (req->push_queued)
		return;
	req->push_queued = 1;
	req->push_next = stream_queue;
	stream_queue = req;
}

void
stream_push_queued(void)
{
	struct gw_req	*req;

	while ((req = stream_queue) != NULL) {
		stream_queue = req->push_next;
		req->push_queued = 0;
		stream_push(req);
	}
}

static void
stream_unqueue(struct gw_req *req)
{
	struct gw_req	**pp;

	if (!req->push_queued)
		return;
	for (pp = &stream_queue; *pp != NULL; pp = &(*pp)->push_next)
		if (*pp == req) {
			*pp = req->push_next;
			break;
		}
	req->push_queued = 0;
}

/* The chunked event-stream response, headers from relay ("name\0value\0" pairs). */
static struct MHD_Response *
stream_response(struct gw_req *req, const char *ctype, const struct buf *relay)
{
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
	    stream_read, req, NULL);
	if (resp == NULL)
		return (NULL);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	/* Ours says "no" already. */
	http_add_relayed(resp, relay, "x-accel-buffering");
	return (resp);
}

void
stream_replay(struct gw_req *req, int status, const char *ctype, char *body,
    size_t len)
{
	buf_free(&req->out);
	req->out.data = body;
	req->out.len = req->out.cap = len;
	req->out_off = 0;
	req->out_ready = len;
	req->up_done = 1;
	req->bytes_out = 0;
	loop_timer_cancel(&req->deadline_timer);
	req->state = GW_STREAMING;
	http_reply(req, (unsigned)status, stream_response(req, ctype, NULL));
}

void
stream_follow(struct gw_req *req, int status, const char *ctype,
    const struct buf *relay, struct buf *sofar)
{
	buf_free(&req->out);
	req->out = *sofar;
	memset(sofar, 0, sizeof(*sofar));
	req->out_off = 0;
	/* Whole lines only, as for the leader's own client. */
	req->out_ready = stream_line_end(&req->out, 0, 0);
	req->up_done = 0;
	loop_timer_cancel(&req->deadline_timer);
	req->state = GW_STREAMING;
	http_reply(req, (unsigned)status, stream_response(req, ctype, relay));
}

int
stream_follow_data(struct gw_req *req, const struct buf *data, int end)
{
	if (req->up_done)
		return (0);
	if (req->out.len - req->out_off + data->len > STREAM_FOLLOW_MAX) {
		log_warnx("%s: a follower of a shared stream fell %d MiB behind: dropping it",
		    req->request_id, STREAM_FOLLOW_MAX / (1024 * 1024));
		return (-1);
	}
	size_t	start;

	/* An error at the end follows the leader's whole lines: the leader dropped an
	   unfinished one, so the follower does too. */
	if (end && data->len > 0 && req->out_ready < req->out.len)
		req->out.len = req->out_ready;
	if (req->out_off > 0) {
		memmove(req->out.data, req->out.data + req->out_off,
		    req->out.len - req->out_off);
		req->out.len -= req->out_off;
		req->out_ready -= req->out_off;
		req->out_off = 0;
	}
	start = req->out.len;
	if (data->len > 0 && buf_append(&req->out, data->data, data->len) == -1)
		return (-1);
	if (end) {
		req->out_ready = req->out.len;
		req->up_done = 1;
	} else
		req->out_ready = stream_line_end(&req->out, start, req->out_ready);
	stream_push(req);
	return (0);
}

void
stream_start(struct gw_req *req)
{
	struct MHD_Response	*resp;
	const struct config	*cfg = gw_config();
	uint64_t		 now = loop_now_ms();

	resp = stream_response(req, req->up.ctype, &req->up.relay);
	loop_timer_cancel(&req->deadline_timer);
	req->state = GW_STREAMING;
	req->last_up_ms = req->last_beat_ms = now;
	req->stream_end_ms = now + (uint64_t)cfg->stream_total * 1000;
	req->stream_timer.arg = req;
	stream_arm(req);
	cache_stream_start(req);
	http_reply(req, (unsigned)req->up.status, resp);
}

/* Queues what is in the buffer for the client. */
static void
stream_flush(struct gw_req *req)
{
	req->out_ready = req->out.len;
	stream_push(req);
}

int
stream_data(struct gw_req *req, const char *data, size_t len)
{
	const struct config	*cfg = gw_config();
	size_t			 held = req->out.len - req->out_off, start;

	if (req->up_done)
		return (UP_DATA_ABORT);
	/* All or nothing: curl delivers a paused write again, in full. */
	if (held > 0 && held + len > cfg->stream_buffer) {
		if (req->stall_ms == 0)
			req->stall_ms = loop_now_ms();
		/* The reader drains what it holds, a too long line included: after
		   this returns, so that draining it unpauses the call. */
		stream_push_later(req);
		stream_arm(req);
		return (UP_DATA_PAUSE);
	}
	/* Reuse the room the client has read, or a steady slow reader would make the
	   buffer grow with the whole stream. */
	if (req->out_off > 0) {
		memmove(req->out.data, req->out.data + req->out_off, held);
		req->out.len = held;
		req->out_ready -= req->out_off;
		req->out_off = 0;
	}
	start = req->out.len;
	if (buf_append(&req->out, data, len) == -1)
		return (UP_DATA_ABORT);
	(void)sse_scan_feed(&req->sse, data, len);
	cache_stream_bytes(req, data, len);
	req->last_up_ms = req->last_beat_ms = loop_now_ms();
	/* Whole lines only: a cut inside a line would otherwise reach the client as a
	   broken event. A line longer than the buffer goes as it is. */
	req->out_ready = stream_line_end(&req->out, start, req->out_ready);
	if (req->out.len - req->out_off >= cfg->stream_buffer)
		req->out_ready = req->out.len;
	if (req->out_ready > req->out_off)
		stream_push_later(req);
	return (UP_DATA_OK);
}

/* Drops the unfinished line, adds an error event and ends the stream. */
static void
stream_end_with_error(struct gw_req *req, const char *msg, const char *type)
{
	size_t	tail;

	req->cache_store = 0;		/* a failed stream is never stored */
	if (req->out_ready < req->out.len) {
		req->out.len = req->out_ready;
		sse_scan_drop_partial(&req->sse);
	}
	tail = req->out.len;
	if (sse_error_event(&req->out, &req->sse, msg, type) == -1)
		req->client_gone = 1;	/* cannot even say why: close the connection */
	/* Followers end the same way: they drop their unfinished line too. */
	cache_stream_end(req, req->out.data + tail, req->out.len - tail);
	req->up_done = 1;
	loop_timer_cancel(&req->stream_timer);
	stream_flush(req);
}

void
stream_done(struct gw_req *req, CURLcode code)
{
	char	msg[CURL_ERROR_SIZE + 64];

	if (req->up_done)
		return;
	if (code != CURLE_OK) {
		snprintf(msg, sizeof(msg), "upstream stream broke off: %s",
		    req->up.errbuf[0] != '\0' ? req->up.errbuf : curl_easy_strerror(code));
		log_warnx("%s: %s", req->request_id, msg);
		stream_end_with_error(req, msg, "incomplete_generation");
		return;
	}
	if (!sse_scan_complete(&req->sse)) {
		log_warnx("%s: upstream stream ended without its final event",
		    req->request_id);
		stream_end_with_error(req, "Incomplete generation", "incomplete_generation");
		return;
	}
	req->tokens = req->sse.generated_tokens;	/* usage (issue 5) */
	cache_stream_done(req);
	cache_stream_end(req, NULL, 0);
	req->up_done = 1;
	loop_timer_cancel(&req->stream_timer);
	stream_flush(req);
}

void
stream_fail(struct gw_req *req, const char *msg, const char *type)
{
	if (req->up_done)
		return;
	up_cancel(&req->up);
	stream_end_with_error(req, msg, type);
}

static void
stream_on_timer(struct loop_timer *t)
{
	struct gw_req		*req = t->arg;
	const struct config	*cfg = gw_config();
	uint64_t		 now = loop_now_ms();
	char			 msg[128];

	if (req->client_gone)
		return;
	if (req->stall_ms != 0 && now - req->stall_ms >= (uint64_t)cfg->stream_stall * 1000) {
		log_warnx("%s: client read nothing for %u s: dropping it", req->request_id,
		    cfg->stream_stall);
		gw_client_gone(req);
		http_drop(req);
		return;
	}
	/* Over upstream, the rest still on its way to a slow client: only the stall
	   clock runs. */
	if (req->up_done) {
		if (req->stall_ms != 0)
			stream_arm(req);
		return;
	}
	if (now >= req->stream_end_ms) {
		snprintf(msg, sizeof(msg), "stream exceeded total_timeout (%u s)",
		    cfg->stream_total);
		stream_fail(req, msg, "timeout");
		return;
	}
	if (!req->up.paused &&
	    now - req->last_up_ms >= (uint64_t)cfg->stream_idle * 1000) {
		snprintf(msg, sizeof(msg), "upstream sent nothing for %u s",
		    cfg->stream_idle);
		log_warnx("%s: %s", req->request_id, msg);
		stream_fail(req, msg, "incomplete_generation");
		return;
	}
	if (cfg->stream_heartbeat > 0 &&
	    now - req->last_beat_ms >= (uint64_t)cfg->stream_heartbeat * 1000) {
		/* Keeps idle proxies and clients from timing the stream out. */
		req->last_beat_ms = now;
		/* Only between events: never inside one the upstream has begun. */
		if (sse_scan_at_boundary(&req->sse) &&
		    sse_heartbeat(&req->out, &req->sse) == 0)
			stream_flush(req);
	}
	stream_arm(req);
}

/* Sets the stream's one timer to the earliest of its deadlines. */
static void
stream_arm(struct gw_req *req)
{
	const struct config	*cfg = gw_config();
	uint64_t		 now = loop_now_ms(), due = req->stream_end_ms;

	if (req->stall_ms != 0 && (req->up_done ||
	    req->stall_ms + (uint64_t)cfg->stream_stall * 1000 < due))
		due = req->stall_ms + (uint64_t)cfg->stream_stall * 1000;
	if (req->up_done)
		goto set;
	/* A paused upstream is silent because of us: no idle deadline then. */
	if (!req->up.paused &&
	    req->last_up_ms + (uint64_t)cfg->stream_idle * 1000 < due)
		due = req->last_up_ms + (uint64_t)cfg->stream_idle * 1000;
	if (cfg->stream_heartbeat > 0 &&
	    req->last_beat_ms + (uint64_t)cfg->stream_heartbeat * 1000 < due)
		due = req->last_beat_ms + (uint64_t)cfg->stream_heartbeat * 1000;
set:
	req->stream_timer.cb = stream_on_timer;
	loop_timer_set(&req->stream_timer, due > now ? due - now : 0);
}

void
stream_free(struct gw_req *req)
{
	stream_unqueue(req);
	loop_timer_cancel(&req->stream_timer);
	sse_scan_free(&req->sse);
	buf_free(&req->cache_copy);
}
