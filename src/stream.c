/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Relaying an event stream. Upstream bytes go into a bounded per-stream buffer and out
 * to the client through libmicrohttpd's content reader as soon as they form whole
 * lines; when the client reads slowly the buffer fills, the upstream transfer is paused
 * (UP_DATA_PAUSE) and resumed from the loop once the client has drained it
 * (docs/design.md, "Streams"). Once the first byte has gone out there is no retry: any
 * failure becomes one error event, so a stream never ends in a way that looks like
 * success when it was not one. What the cache and the followers of a shared stream
 * make of its end is the gateway's business, told through the hooks.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "buf.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "oai.h"
#include "reply.h"
#include "request.h"
#include "sse.h"
#include "stream.h"
#include "token.h"
#include "upstream.h"

static void	stream_arm(struct gw_req *);

static const struct stream_hooks	*stream_hooks;

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

/*
 * Drops from the complete lines of buf after ready the usage chunk that hfgate asked
 * the upstream for and the client did not (resolve.c): the scan, the cache and the
 * followers got it, this client does not. The blank line after it goes too when it
 * has arrived (a stray one between events is harmless).
 */
static void
stream_strip_usage(struct gw_req *req)
{
	struct buf	*b = &req->st.buf;
	size_t		 i = req->st.ready, end, n;
	const char	*nl;

	if (!req->res.strip_usage)
		return;
	while (i < b->len && (nl = memchr(b->data + i, '\n', b->len - i)) != NULL) {
		end = (size_t)(nl - b->data) + 1;
		n = end - i - 1;
		if (n > 0 && b->data[i + n - 1] == '\r')
			n--;
		if (!oai_usage_chunk(b->data + i, n)) {
			i = end;
			continue;
		}
		if (end < b->len && b->data[end] == '\n')
			end++;
		else if (end + 1 < b->len && b->data[end] == '\r' && b->data[end + 1] == '\n')
			end += 2;
		memmove(b->data + i, b->data + end, b->len - end);
		b->len -= end - i;
		b->data[b->len] = '\0';
	}
}

/* The bytes of out the client may have now. */
static size_t
stream_ready(struct gw_req *req)
{
	/* Paused with a full buffer that holds no line end: a line longer than the
	   buffer cannot wait for its end, or nothing would drain and unpause. */
	if (req->st.ready <= req->st.off && req->call.up.paused)
		req->st.ready = req->st.buf.len;
	return (req->st.ready - req->st.off);
}

void
stream_set_hooks(const struct stream_hooks *h)
{
	stream_hooks = h;
}

/* n bytes of buf reached the client (or the transport's buffer for it). */
static void
stream_sent(struct gw_req *req, size_t n)
{
	const struct config	*cfg = req->cfg;

	req->st.off += n;
	if (req->st.off == req->st.buf.len) {
		buf_reset(&req->st.buf);
		req->st.off = req->st.ready = 0;
	}
	req->st.bytes_out += n;
	if (req->call.up.paused && req->st.buf.len - req->st.off <= cfg->stream_buffer / 4) {
		req->st.stall_ms = 0;
		/* The idle clock restarts: the upstream was silent because paused. */
		req->st.last_up_ms = loop_now_ms();
		up_queue_unpause(&req->call.up);
	}
}

static ssize_t
stream_read(void *cls, char *dst, size_t max)
{
	struct gw_req	*req = cls;
	size_t		 avail, n;

	req->st.direct = 0;	/* the transport writes again */
	if (req->client_gone || req->st.failed)
		return (HTTP_READ_ERROR);
	avail = stream_ready(req);
	if (avail > 0) {
		n = avail < max ? avail : max;
		memcpy(dst, req->st.buf.data + req->st.off, n);
		stream_sent(req, n);
		return ((ssize_t)n);
	}
	if (req->st.up_done)
		return (HTTP_READ_END);
	/* Nothing yet: returning 0 without suspending would make MHD spin on it. */
	http_suspend(&req->tr, 1);
	/*
	 * MHD calls this only once it has sent everything it had (the head, the last
	 * chunk) and touches no suspended socket: until the end of the stream, events
	 * can go straight to the client, without a resume and a suspend each.
	 */
	req->st.direct_fd = http_stream_fd(&req->tr);
	req->st.direct = req->st.direct_fd != -1;
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
	int		 chunked = !req->tr.head.http10;

	for (;;) {
		if (req->st.frame_len == 0) {
			avail = stream_ready(req);
			if (avail == 0)
				break;
			req->st.frame_len = avail;
			req->st.frame_sent = 0;
			req->st.frame_head_len = chunked ? (size_t)snprintf(req->st.frame_head,
			    sizeof(req->st.frame_head), "%zx\r\n", avail) : 0;
		}
		iov[0].iov_base = req->st.frame_head;
		iov[0].iov_len = req->st.frame_head_len;
		iov[1].iov_base = req->st.buf.data + req->st.off;
		iov[1].iov_len = req->st.frame_len;
		iov[2].iov_base = crlf;
		iov[2].iov_len = chunked ? 2 : 0;
		total = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
		skip = req->st.frame_sent;
		for (i = 0; i < 3 && skip >= iov[i].iov_len; i++) {
			skip -= iov[i].iov_len;
			iov[i].iov_len = 0;
		}
		iov[i].iov_base = (char *)iov[i].iov_base + skip;
		iov[i].iov_len -= skip;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = 3;
		n = sendmsg(req->st.direct_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			goto fail;
		if (n > 0)
			req->st.frame_sent += (size_t)n;
		if (req->st.frame_sent < total) {
			/* The client is slow: the stall clock runs until the chunk is out. */
			if (req->st.stall_ms == 0)
				req->st.stall_ms = loop_now_ms();
			stream_arm(req);
			if (http_want_writable(&req->tr, 1) == -1)
				goto fail;
			return;
		}
		req->st.stall_ms = 0;
		stream_sent(req, req->st.frame_len);
		req->st.frame_len = 0;
	}
	if (http_want_writable(&req->tr, 0) == -1)
		goto fail;
	if (req->st.up_done) {
		req->st.direct = 0;
		http_wake(&req->tr);
	}
	return;
fail:
	/* A reset client, or no way to wait for room. This may run inside curl's write
	   callback, where the upstream cannot be cancelled: the hang-up watch does it
	   once the socket is shut down. */
	req->st.direct = 0;
	http_drop(&req->tr);
}

/* MHD waits in stream_read and the client is there: hfgate writes to its socket. */
static int
stream_direct(const struct gw_req *req)
{
	return (req->st.direct && req->tr.suspended && !req->client_gone);
}

void
stream_writable(struct gw_req *req)
{
	if (stream_direct(req))
		stream_send(req);
	else
		(void)http_want_writable(&req->tr, 0);
}

/* Hands what is ready to the client: straight to its socket while MHD waits in
   stream_read, or through MHD. */
static void
stream_push(struct gw_req *req)
{
	if (stream_direct(req)) {
		/* A chunk still going out: its room callback sends the rest. */
		if (req->st.frame_len == 0)
			stream_send(req);
	} else
		http_wake(&req->tr);
}

/* As stream_push, once curl has delivered all it read (stream_push_queued). */
static void
stream_push_later(struct gw_req *req)
{
	if (req->st.push_queued)
		return;
	req->st.push_queued = 1;
	req->st.push_next = stream_queue;
	stream_queue = req;
}

void
stream_push_queued(void)
{
	struct gw_req	*req;

	while ((req = stream_queue) != NULL) {
		stream_queue = req->st.push_next;
		req->st.push_queued = 0;
		stream_push(req);
	}
}

static void
stream_unqueue(struct gw_req *req)
{
	struct gw_req	**pp;

	if (!req->st.push_queued)
		return;
	for (pp = &stream_queue; *pp != NULL; pp = &(*pp)->st.push_next)
		if (*pp == req) {
			*pp = req->st.push_next;
			break;
		}
	req->st.push_queued = 0;
}

/* The chunked event-stream response, headers from relay ("name\0value\0" pairs). */
static struct http_resp *
stream_response(struct gw_req *req, const char *ctype, const struct buf *relay)
{
	struct http_resp	*resp;

	if ((resp = http_resp_stream(stream_read, req)) == NULL)
		return (NULL);
	http_resp_header(resp, "Content-Type", ctype);
	http_resp_header(resp, "Cache-Control", "no-cache");
	http_resp_header(resp, "X-Accel-Buffering", "no");
	/* Ours says "no" already. */
	http_resp_relayed(resp, relay, "x-accel-buffering");
	return (resp);
}

void
stream_replay(struct gw_req *req, int status, const char *ctype, char *body,
    size_t len)
{
	req->st.sse.openai = req->res.openai;
	buf_free(&req->st.buf);
	req->st.buf.data = body;
	req->st.buf.len = req->st.buf.cap = len;
	req->st.off = 0;
	req->st.ready = 0;
	stream_strip_usage(req);
	req->st.ready = req->st.buf.len;
	req->st.up_done = 1;
	req->st.bytes_out = 0;
	reply_stream(req, (unsigned)status, stream_response(req, ctype, NULL));
}

void
stream_follow(struct gw_req *req, int status, const char *ctype,
    const struct buf *relay, struct buf *sofar)
{
	req->st.sse.openai = req->res.openai;
	buf_free(&req->st.buf);
	req->st.buf = *sofar;
	memset(sofar, 0, sizeof(*sofar));
	req->st.off = 0;
	req->st.ready = 0;
	stream_strip_usage(req);
	/* Whole lines only, as for the leader's own client. */
	req->st.ready = stream_line_end(&req->st.buf, 0, 0);
	req->st.up_done = 0;
	reply_stream(req, (unsigned)status, stream_response(req, ctype, relay));
}

int
stream_follow_data(struct gw_req *req, const struct buf *data, int end)
{
	if (req->st.up_done)
		return (0);
	if (req->st.buf.len - req->st.off + data->len > STREAM_FOLLOW_MAX) {
		log_warnx("%s: a follower of a shared stream fell %d MiB behind: dropping it",
		    req->request_id, STREAM_FOLLOW_MAX / (1024 * 1024));
		return (-1);
	}
	size_t	start;

	/* An error at the end follows the leader's whole lines: the leader dropped an
	   unfinished one, so the follower does too. */
	if (end && data->len > 0 && req->st.ready < req->st.buf.len)
		req->st.buf.len = req->st.ready;
	if (req->st.off > 0) {
		memmove(req->st.buf.data, req->st.buf.data + req->st.off,
		    req->st.buf.len - req->st.off);
		req->st.buf.len -= req->st.off;
		req->st.ready -= req->st.off;
		req->st.off = 0;
	}
	if (data->len > 0 && buf_append(&req->st.buf, data->data, data->len) == -1)
		return (-1);
	stream_strip_usage(req);
	start = req->st.ready;
	if (end) {
		req->st.ready = req->st.buf.len;
		req->st.up_done = 1;
	} else
		req->st.ready = stream_line_end(&req->st.buf, start, req->st.ready);
	stream_push(req);
	return (0);
}

void
stream_start(struct gw_req *req)
{
	struct http_resp	*resp;
	const struct config	*cfg = req->cfg;
	uint64_t		 now = loop_now_ms();

	req->st.sse.openai = req->res.openai;
	/* On failure the first write cuts the stream (bridge_sse_feed fails). */
	if (req->res.bridge.kind != BRIDGE_NONE &&
	    bridge_sse_init(&req->st.bridge, &req->res.bridge, req->res.client_body.data,
	    req->res.client_body.len) == -1)
		log_warnx("%s: out of memory starting a bridged stream", req->request_id);
	resp = stream_response(req, req->call.up.ctype, &req->call.up.relay);
	req->st.last_up_ms = req->st.last_beat_ms = now;
	req->st.end_ms = now + (uint64_t)cfg->stream_total * 1000;
	req->st.timer.arg = req;
	stream_arm(req);
	reply_stream(req, (unsigned)req->call.up.status, resp);
}

/* Queues what is in the buffer for the client. */
static void
stream_flush(struct gw_req *req)
{
	req->st.ready = req->st.buf.len;
	stream_push(req);
}

int
stream_data(struct gw_req *req, const char *data, size_t len)
{
	const struct config	*cfg = req->cfg;
	size_t			 held = req->st.buf.len - req->st.off, start;

	if (req->st.up_done)
		return (UP_DATA_ABORT);
	/* All or nothing: curl delivers a paused write again, in full. */
	if (held > 0 && held + len > cfg->stream_buffer) {
		if (req->st.stall_ms == 0)
			req->st.stall_ms = loop_now_ms();
		/* The reader drains what it holds, a too long line included: after
		   this returns, so that draining it unpauses the call. */
		stream_push_later(req);
		stream_arm(req);
		return (UP_DATA_PAUSE);
	}
	/* Reuse the room the client has read, or a steady slow reader would make the
	   buffer grow with the whole stream. */
	if (req->st.off > 0) {
		memmove(req->st.buf.data, req->st.buf.data + req->st.off, held);
		req->st.buf.len = held;
		req->st.ready -= req->st.off;
		req->st.off = 0;
	}
	/* A bridged stream's OpenAI chunks become TGI's events here, once: the write
	   is kept from now on (the pause above came first). */
	if (req->res.bridge.kind != BRIDGE_NONE) {
		buf_reset(&req->st.conv);
		if (bridge_sse_feed(&req->st.bridge, data, len, &req->st.conv) == -1)
			return (UP_DATA_ABORT);
		data = req->st.conv.data != NULL ? req->st.conv.data : "";
		len = req->st.conv.len;
	}
	if (buf_append(&req->st.buf, data, len) == -1)
		return (UP_DATA_ABORT);
	(void)sse_scan_feed(&req->st.sse, data, len);
	stream_strip_usage(req);
	start = req->st.ready;
	req->st.last_up_ms = req->st.last_beat_ms = loop_now_ms();
	/* Whole lines only: a cut inside a line would otherwise reach the client as a
	   broken event. A line longer than the buffer goes as it is. */
	req->st.ready = stream_line_end(&req->st.buf, start, req->st.ready);
	/* A line longer than the buffer goes out before its end, but for bytes that may
	   begin the token, kept until the next bytes tell (stream_leaks). The rest is at
	   least the buffer's size minus the token's, so this drains. */
	if (req->st.buf.len - req->st.off >= cfg->stream_buffer)
		req->st.ready = req->st.buf.len - token_partial(cfg->token,
		    req->st.buf.data + req->st.off, req->st.buf.len - req->st.off);
	if (req->st.ready > req->st.off)
		stream_push_later(req);
	return (UP_DATA_OK);
}

int
stream_leaks(struct gw_req *req, const char *data, size_t len)
{
	const struct buf	*b = &req->st.buf;

	/* What the client has is whole lines (the token holds no line end) or passed
	   token_partial above: the token can start only in what is still held. */
	return (token_found_after(req->cfg->token, b->data != NULL ? b->data + req->st.off :
	    NULL, b->len - req->st.off, data, len));
}

/* Drops the unfinished line, adds an error event and ends the stream. */
static void
stream_end_with_error(struct gw_req *req, const char *msg, const char *type)
{
	size_t	tail;

	if (req->st.ready < req->st.buf.len) {
		req->st.buf.len = req->st.ready;
		sse_scan_drop_partial(&req->st.sse);
	}
	tail = req->st.buf.len;
	if (sse_error_event(&req->st.buf, &req->st.sse, msg, type) == -1)
		req->st.failed = 1;	/* cannot even say why: close the connection */
	req->st.up_done = 1;
	/* Followers end the same way: they drop their unfinished line too. */
	stream_hooks->ended(req, req->st.buf.data + tail, req->st.buf.len - tail, 0);
	loop_timer_cancel(&req->st.timer);
	stream_flush(req);
}

void
stream_done(struct gw_req *req, int ok, const char *error)
{
	char	msg[UP_ERROR_MAX + 64];

	if (req->st.up_done)
		return;
	if (!ok) {
		snprintf(msg, sizeof(msg), "upstream stream broke off: %s", error);
		log_warnx("%s: %s", req->request_id, msg);
		stream_end_with_error(req, msg, "incomplete_generation");
		return;
	}
	if (!sse_scan_complete(&req->st.sse)) {
		log_warnx("%s: upstream stream ended without its final event",
		    req->request_id);
		stream_end_with_error(req, "Incomplete generation", "incomplete_generation");
		return;
	}
	req->st.tokens = req->res.bridge.kind != BRIDGE_NONE ?
	    bridge_sse_tokens(&req->st.bridge) : req->st.sse.generated_tokens;
	req->st.prompt_tokens = req->res.bridge.kind != BRIDGE_NONE ?
	    req->st.bridge.prompt_tokens : req->st.sse.prompt_tokens;
	req->st.up_done = 1;
	/* Only a stream that delivered its final event may be stored; an in-stream
	   error is a failed generation even though the transfer ended cleanly. */
	stream_hooks->ended(req, NULL, 0, req->call.up.status >= 200 &&
	    req->call.up.status < 300 && req->st.sse.saw_final && !req->st.sse.saw_error);
	loop_timer_cancel(&req->st.timer);
	stream_flush(req);
}

void
stream_fail(struct gw_req *req, const char *msg, const char *type)
{
	if (req->st.up_done)
		return;
	up_cancel(&req->call.up);
	stream_end_with_error(req, msg, type);
}

static void
stream_on_timer(struct loop_timer *t)
{
	struct gw_req		*req = t->arg;
	const struct config	*cfg = req->cfg;
	uint64_t		 now = loop_now_ms();
	char			 msg[128];

	if (req->client_gone)
		return;
	if (req->st.stall_ms != 0 && now - req->st.stall_ms >= (uint64_t)cfg->stream_stall * 1000) {
		log_warnx("%s: client read nothing for %u s: dropping it", req->request_id,
		    cfg->stream_stall);
		stream_hooks->stalled(req);
		return;
	}
	/* Over upstream, the rest still on its way to a slow client: only the stall
	   clock runs. */
	if (req->st.up_done) {
		if (req->st.stall_ms != 0)
			stream_arm(req);
		return;
	}
	if (now >= req->st.end_ms) {
		snprintf(msg, sizeof(msg), "stream exceeded total_timeout (%u s)",
		    cfg->stream_total);
		stream_fail(req, msg, "timeout");
		return;
	}
	if (!req->call.up.paused &&
	    now - req->st.last_up_ms >= (uint64_t)cfg->stream_idle * 1000) {
		snprintf(msg, sizeof(msg), "upstream sent nothing for %u s",
		    cfg->stream_idle);
		log_warnx("%s: %s", req->request_id, msg);
		stream_fail(req, msg, "incomplete_generation");
		return;
	}
	if (cfg->stream_heartbeat > 0 &&
	    now - req->st.last_beat_ms >= (uint64_t)cfg->stream_heartbeat * 1000) {
		/* Keeps idle proxies and clients from timing the stream out. */
		req->st.last_beat_ms = now;
		/* Only between events: never inside one the upstream has begun. */
		if (sse_scan_at_boundary(&req->st.sse) &&
		    sse_heartbeat(&req->st.buf, &req->st.sse) == 0)
			stream_flush(req);
	}
	stream_arm(req);
}

/* Sets the stream's one timer to the earliest of its deadlines. */
static void
stream_arm(struct gw_req *req)
{
	const struct config	*cfg = req->cfg;
	uint64_t		 now = loop_now_ms(), due = req->st.end_ms;

	if (req->st.stall_ms != 0 && (req->st.up_done ||
	    req->st.stall_ms + (uint64_t)cfg->stream_stall * 1000 < due))
		due = req->st.stall_ms + (uint64_t)cfg->stream_stall * 1000;
	if (req->st.up_done)
		goto set;
	/* A paused upstream is silent because of us: no idle deadline then. */
	if (!req->call.up.paused &&
	    req->st.last_up_ms + (uint64_t)cfg->stream_idle * 1000 < due)
		due = req->st.last_up_ms + (uint64_t)cfg->stream_idle * 1000;
	if (cfg->stream_heartbeat > 0 &&
	    req->st.last_beat_ms + (uint64_t)cfg->stream_heartbeat * 1000 < due)
		due = req->st.last_beat_ms + (uint64_t)cfg->stream_heartbeat * 1000;
set:
	req->st.timer.cb = stream_on_timer;
	loop_timer_set(&req->st.timer, due > now ? due - now : 0);
}

void
stream_release(struct gw_req *req)
{
	stream_unqueue(req);
	loop_timer_cancel(&req->st.timer);
	sse_scan_free(&req->st.sse);
	bridge_sse_free(&req->st.bridge);
	buf_free(&req->st.conv);
	buf_free(&req->st.buf);
}
