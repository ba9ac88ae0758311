#include "client_stream.h"

#include <errno.h>
#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "buf.h"
#include "client_httplog.h"
#include "log.h"
#include "mux.h"
#include "sock.h"
#include "proxyproto.h"
#include "spipe.h"

#define CLIENT_STREAM_READS 4       /* frames read per wakeup at most */

struct client_stream {
	struct ev_loop *loop;
	struct mux_stream *ms;
	ev_io io;
	ev_timer connect_timer;         /* runs while connecting */
	uint32_t connect_timeout_ms;
	int events;                     /* interest currently set on io */
	struct buf out;                 /* tunnel bytes the local socket has
	                                   not taken yet */
	size_t out_max;
	const struct client_stream_owner *ow;
	void *owner;
	void *tag;
	const char *local_text;         /* owned by the tunnel */
	char *peer;                     /* only with the request log */
	struct client_httplog *hl;
	bool connecting;
	bool local_eof;                 /* local service closed its side */
	bool peer_fin;                  /* node half-closed: shut after flush */
	bool shut_wr;                   /* SHUT_WR done */
	bool read_paused;               /* waiting for credit (on_writable) */
	size_t uncredited;              /* bytes of out that are ours (the PROXY
	                                   header), not the peer's: no credit */
	struct spipe pipe;              /* spliced tunnel bytes on their way */
};

/* Bytes on their way to the local service: copied (out) and spliced. */
static size_t
client_stream_pending(const struct client_stream *cs)
{
	return buf_len(&cs->out) + cs->pipe.len;
}

static uint64_t
client_stream_now_us(struct client_stream *cs)
{
	return (uint64_t)(ev_now(cs->loop) * 1e6);
}

/* Sets the interest mask, touching the watcher only when it changes. */
static void
client_stream_want(struct client_stream *cs, int events)
{
	if (events == cs->events)
		return;
	if (cs->events)
		ev_io_stop(cs->loop, &cs->io);
	cs->events = events;
	if (events) {
		ev_io_set(&cs->io, cs->io.fd, events);
		ev_io_start(cs->loop, &cs->io);
	}
}

static void
client_stream_reset(struct client_stream *cs, int code, const char *fmt, int err)
{
	char reason[200];

	snprintf(reason, sizeof(reason), fmt, cs->local_text, strerror(err));
	log_debug("stream.reset", "stream=%u code=%d reason=\"%s\"",
	    mux_stream_id(cs->ms), code, reason);
	mux_stream_reset(cs->ms, code, reason);
	client_stream_free(cs);
}

/* Ends the stream once both directions have finished. Returns true if cs
 * was freed. */
static bool
client_stream_check_done(struct client_stream *cs)
{
	if (cs->local_eof && cs->shut_wr) {
		client_stream_free(cs);
		return true;
	}
	return false;
}

static void
client_stream_interest(struct client_stream *cs)
{
	int ev = 0;

	if (!cs->connecting && !cs->local_eof && !cs->read_paused)
		ev |= EV_READ;
	if (cs->connecting || client_stream_pending(cs) > 0)
		ev |= EV_WRITE;
	client_stream_want(cs, ev);
}

/* Writes buffered tunnel bytes to the local socket. Returns -1 if cs was
 * freed. */
static int
client_stream_flush(struct client_stream *cs)
{
	ssize_t n;

	/* spliced bytes came first: they go first */
	if (cs->pipe.len > 0) {
		if ((n = spipe_drain(&cs->pipe, cs->io.fd)) < 0) {
			errno = (int)-n;
			client_stream_reset(cs, MUX_RST_CANCEL,
			    "local service %s: write: %s", errno);
			return -1;
		}
		if (n > 0)
			mux_stream_consumed(cs->ms, (size_t)n);
		if (cs->pipe.len > 0) {
			client_stream_interest(cs);
			return 0;
		}
	}
	while (buf_len(&cs->out) > 0) {
		n = send(cs->io.fd, buf_data(&cs->out), buf_len(&cs->out),
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			client_stream_reset(cs, MUX_RST_CANCEL,
			    "local service %s: write: %s", errno);
			return -1;
		}
		buf_consume(&cs->out, (size_t)n);
		if (cs->uncredited >= (size_t)n) {
			cs->uncredited -= (size_t)n;
		} else {
			mux_stream_consumed(cs->ms, (size_t)n - cs->uncredited);
			cs->uncredited = 0;
		}
	}
	if (buf_len(&cs->out) == 0) {
		buf_release(&cs->out);
		if (cs->peer_fin && !cs->shut_wr) {
			shutdown(cs->io.fd, SHUT_WR);
			cs->shut_wr = true;
			if (client_stream_check_done(cs))
				return -1;
		}
	}
	client_stream_interest(cs);
	return 0;
}

/* Reads from the local service straight into the mux output, a few frames
 * per wakeup, then has the session write them in one go. */
static void
client_stream_read(struct client_stream *cs)
{
	size_t room, got = 0;
	uint8_t *p;
	ssize_t n;

	for (int i = 0; i < CLIENT_STREAM_READS; i++) {
		if ((p = mux_stream_data_begin(cs->ms, &room)) == NULL) {
			/* no credit or the output is full: on_writable resumes */
			cs->read_paused = true;
			client_stream_interest(cs);
			break;
		}
		do
			n = read(cs->io.fd, p, room);
		while (n == -1 && errno == EINTR);
		if (n > 0) {
			mux_stream_data_commit(cs->ms, (size_t)n);
			if (cs->hl != NULL)
				client_httplog_response(cs->hl, p, (size_t)n,
				    client_stream_now_us(cs));
			got += (size_t)n;
			if ((size_t)n < room)
				break;          /* drained for now */
			continue;
		}
		mux_stream_data_commit(cs->ms, 0);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1) {
			client_stream_reset(cs, MUX_RST_CANCEL,
			    "local service %s: read: %s", errno);
			return;
		}
		/* local EOF: half-close towards the public client */
		cs->local_eof = true;
		if (cs->hl != NULL)
			client_httplog_response_eof(cs->hl,
			    client_stream_now_us(cs));
		mux_stream_fin(cs->ms);
		cs->ow->flush(cs->owner);
		if (!client_stream_check_done(cs))
			client_stream_interest(cs);
		return;
	}
	if (got > 0)
		cs->ow->flush(cs->owner);
}

static void
client_stream_connected(struct client_stream *cs)
{
	int rc = sock_connect_result(cs->io.fd);

	if (rc != 0) {
		log_warn("stream.refused", "stream=%u local=%s error=\"%s\"",
		    mux_stream_id(cs->ms), cs->local_text, strerror(-rc));
		client_stream_reset(cs, MUX_RST_REFUSED,
		    "local service refused: connect %s: %s", -rc);
		return;
	}
	cs->connecting = false;
	ev_timer_stop(cs->loop, &cs->connect_timer);
	sock_nodelay(cs->io.fd);
	if (client_stream_flush(cs) != 0)
		return;
	client_stream_interest(cs);
}

/* The local service neither accepted nor refused in time (a full backlog,
 * a firewall dropping SYNs): the public client gets the reason. */
static void
client_stream_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client_stream *cs = w->data;
	char reason[200];

	snprintf(reason, sizeof(reason), "local service did not answer: "
	    "connect %s timed out after %.1fs", cs->local_text,
	    cs->connect_timeout_ms / 1000.0);
	log_warn("stream.connect_timeout", "stream=%u local=%s timeout_ms=%u",
	    mux_stream_id(cs->ms), cs->local_text, cs->connect_timeout_ms);
	mux_stream_reset(cs->ms, MUX_RST_TIMEOUT, reason);
	cs->ow->flush(cs->owner);
	client_stream_free(cs);
}

static void
client_stream_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client_stream *cs = w->data;

	if (cs->connecting) {
		if (revents & (EV_WRITE | EV_READ))
			client_stream_connected(cs);
		return;
	}
	if (revents & EV_WRITE) {
		if (client_stream_flush(cs) != 0)
			return;
	}
	if ((revents & EV_READ) && (cs->events & EV_READ))
		client_stream_read(cs);
}

static void
client_stream_log(void *arg, const struct client_httplog_entry *e)
{
	struct client_stream *cs = arg;

	if (cs->ow->request != NULL)
		cs->ow->request(cs->owner, cs->tag, cs->peer, e);
}

/* Queues a PROXY v1/v2 header telling the local service the public
 * client's address (the node's OPEN header) before any tunnel byte. */
static int
client_stream_proxy_header(struct client_stream *cs,
    const struct client_stream_conf *conf)
{
	struct sock_addr src;
	uint8_t hdr[PROXYPROTO_ENCODE_MAX];
	int n;

	if (conf->peer == NULL || sock_addr_parse(&src, conf->peer, NULL) != 0)
		n = conf->proxy_protocol == 2 ?
		    proxyproto_encode_v2(hdr, sizeof(hdr), NULL, NULL) :
		    proxyproto_encode_v1(hdr, sizeof(hdr), NULL, NULL);
	else
		n = conf->proxy_protocol == 2 ?
		    proxyproto_encode_v2(hdr, sizeof(hdr),
		    (struct sockaddr *)&src.ss, (const struct sockaddr *)&conf->local->ss) :
		    proxyproto_encode_v1(hdr, sizeof(hdr),
		    (struct sockaddr *)&src.ss, (const struct sockaddr *)&conf->local->ss);
	if (n <= 0 || buf_append(&cs->out, hdr, (size_t)n, sizeof(hdr)) != 0)
		return -1;
	cs->uncredited = (size_t)n;
	return 0;
}

int
client_stream_new(struct client_stream **out, struct ev_loop *loop,
    struct mux_stream *ms, const struct client_stream_conf *conf,
    const struct client_stream_owner *ow, void *owner, char *reason,
    size_t len)
{
	struct client_stream *cs;
	int fd, rc;

	if ((cs = calloc(1, sizeof(*cs))) == NULL) {
		snprintf(reason, len, "client out of memory");
		return -ENOMEM;
	}
	if (conf->http_log) {
		cs->hl = client_httplog_new(client_stream_log, cs);
		cs->peer = strdup(conf->peer ? conf->peer : "-");
		/* the log is best effort: run without it on ENOMEM */
		if (cs->hl == NULL || cs->peer == NULL) {
			client_httplog_free(cs->hl);
			free(cs->peer);
			cs->hl = NULL;
			cs->peer = NULL;
		} else if (conf->tap != NULL) {
			client_httplog_set_tap(cs->hl, conf->tap, conf->tap_arg,
			    conf->tunnel, conf->local_text, cs->peer);
		}
	}
	if ((fd = sock_connect(conf->local)) < 0) {
		rc = fd;
		snprintf(reason, len, "local service refused: connect %s: %s",
		    conf->local_text, strerror(-rc));
		client_httplog_free(cs->hl);
		free(cs->peer);
		free(cs);
		return rc;
	}
	cs->loop = loop;
	cs->ms = ms;
	cs->ow = ow;
	cs->owner = owner;
	cs->tag = conf->tag;
	cs->local_text = conf->local_text;
	cs->out_max = conf->window ? conf->window : MUX_DEFAULT_WINDOW;
	cs->connecting = true;
	spipe_init(&cs->pipe);
	if (conf->proxy_protocol && client_stream_proxy_header(cs, conf) != 0) {
		snprintf(reason, len, "client out of memory");
		close(fd);
		client_httplog_free(cs->hl);
		free(cs->peer);
		free(cs);
		return -ENOMEM;
	}
	ev_io_init(&cs->io, client_stream_io, fd, 0);
	cs->io.data = cs;
	cs->connect_timeout_ms = conf->connect_timeout_ms ?
	    conf->connect_timeout_ms : 10000;
	ev_timer_init(&cs->connect_timer, client_stream_connect_timeout,
	    cs->connect_timeout_ms / 1000.0, 0.);
	cs->connect_timer.data = cs;
	ev_timer_start(loop, &cs->connect_timer);
	mux_stream_set_data(ms, cs);
	client_stream_interest(cs);
	*out = cs;
	return 0;
}

void
client_stream_on_data(struct client_stream *cs, const uint8_t *p, size_t len)
{
	ssize_t n = 0;

	if (cs->hl != NULL)
		client_httplog_request(cs->hl, p, len, client_stream_now_us(cs));
	if (!cs->connecting && client_stream_pending(cs) == 0) {
		/* the common case: straight from the mux input to the socket */
		do
			n = send(cs->io.fd, p, len, MSG_NOSIGNAL);
		while (n == -1 && errno == EINTR);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				client_stream_reset(cs, MUX_RST_CANCEL,
				    "local service %s: write: %s", errno);
				return;
			}
			n = 0;
		}
		if (n > 0)
			mux_stream_consumed(cs->ms, (size_t)n);
	}
	if ((size_t)n < len) {
		/* the window bounds this: the node never sends past it */
		if (buf_append(&cs->out, p + n, len - (size_t)n,
		    cs->out_max + MUX_MIN_WINDOW) != 0) {
			mux_stream_reset(cs->ms, MUX_RST_LIMIT,
			    "client out of buffer space");
			client_stream_free(cs);
			return;
		}
	}
	client_stream_interest(cs);
}

void
client_stream_on_fin(struct client_stream *cs)
{
	cs->peer_fin = true;
	if (cs->connecting || client_stream_pending(cs) > 0)
		return;         /* shut after the flush */
	shutdown(cs->io.fd, SHUT_WR);
	cs->shut_wr = true;
	client_stream_check_done(cs);
}

void
client_stream_on_reset(struct client_stream *cs, int code, const char *reason)
{
	log_debug("stream.reset_by_peer", "stream=%u code=%d reason=\"%s\"",
	    mux_stream_id(cs->ms), code, reason);
	client_stream_free(cs);
}

void
client_stream_on_writable(struct client_stream *cs)
{
	/* read in the next loop iteration, not inside the mux's callback */
	if (cs->read_paused) {
		cs->read_paused = false;
		client_stream_interest(cs);
	}
}

void
client_stream_free(struct client_stream *cs)
{
	const struct client_stream_owner *ow;
	void *owner;

	if (cs == NULL)
		return;
	ow = cs->ow;
	owner = cs->owner;
	ev_io_stop(cs->loop, &cs->io);
	ev_clear_pending(cs->loop, &cs->io);
	ev_timer_stop(cs->loop, &cs->connect_timer);
	ev_clear_pending(cs->loop, &cs->connect_timer);
	close(cs->io.fd);
	spipe_fini(&cs->pipe);
	buf_fini(&cs->out);
	client_httplog_close(cs->hl, client_stream_now_us(cs));
	free(cs->peer);
	mux_stream_set_data(cs->ms, NULL);
	mux_stream_close(cs->ms);
	free(cs);
	ow->gone(owner);
}

ssize_t
client_stream_splice_in(struct client_stream *cs, int from, size_t left)
{
	ssize_t n;

	/* not while connecting, observing HTTP, or behind copied bytes */
	if (cs == NULL || cs->connecting || cs->hl != NULL || buf_len(&cs->out) > 0)
		return 0;
	if ((n = spipe_fill(&cs->pipe, from, left)) > 0)
		client_stream_flush(cs);
	return n;
}
