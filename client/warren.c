#include "warren.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client_backoff.h"
#include "client_httplog.h"
#include "client_proxy.h"
#include "client_stream.h"
#include "ctrl.h"
#include "ipcmsg.h"
#include "log.h"
#include "mux.h"
#include "sock.h"
#include "tls.h"

#define WARREN_AGENT            "warren/0.1"
#define WARREN_SESSION_READS    4       /* reads per wakeup at most */
#define WARREN_CTRL_BUF         (3 * CTRL_STR_MAX + 64)

enum warren_tunnel_state {
	TUNNEL_IDLE = 0,                /* waiting for a session (or a retry) */
	TUNNEL_PENDING,                 /* REGISTER sent on sess */
	TUNNEL_READY,                   /* registered on sess */
	TUNNEL_FAILED,                  /* given up (fatal first failure) */
};

enum warren_session_state {
	SESSION_CONNECTING = 0,         /* TCP connect in progress */
	SESSION_HELLO,                  /* HELLO sent, waiting for WELCOME */
	SESSION_READY,                  /* tunnels register and serve */
	SESSION_DRAINING,               /* node said GOAWAY: streams finish */
	SESSION_CLOSING,                /* torn down on the next loop turn */
	SESSION_PROXY,                  /* connected to the proxy: handshake */
};

struct warren_session;

struct warren_tunnel {
	struct warren_client *c;
	int id;
	char *name;
	enum warren_kind kind;
	struct sock_addr local;
	char local_text[64];
	char *subdomain;                /* asked for; after the first success
	                                   the one we got */
	char *domains;
	int remote_port;                /* asked for; then the one we got */
	char *basic_auth, *allow_ips, *deny_ips;
	int proxy_protocol;
	char *group, *region;           /* --group replica, or NULL */
	unsigned weight, soft_limit, hard_limit;
	char *url;                      /* last successful registration */
	int public_port;
	enum warren_tunnel_state state;
	bool ever_ok;
	bool user_subdomain;            /* the subdomain came from the user */
	struct warren_session *sess;    /* PENDING/READY: on this session */
	ev_timer retry;
	struct client_backoff backoff;
};

struct warren_session {
	struct warren_client *c;
	struct warren_session *next;    /* c->sessions list */
	enum warren_session_state state;
	struct tls_io tio;              /* fd and, with TLS, its SSL */
	ev_io io;
	int events;
	ev_timer ping;
	ev_timer dead;                  /* no bytes from the node for too long */
	ev_timer welcome;               /* no WELCOME since connecting */
	ev_timer reap;                  /* deferred teardown */
	ev_timer linger;                /* DRAINING: kept until the tunnels are
	                                   registered elsewhere */
	ev_tstamp linger_since;
	bool lingering;
	bool flush_pending;             /* output queued this loop iteration */
	struct mux *mux;
	ev_tstamp started, ready_at, last_rx;
	bool flushing;
	char node[64];                  /* node name from WELCOME */
	struct client_proxy *px;        /* the proxy handshake, while on */
};

struct warren_client {
	struct ev_loop *loop;
	struct sock_addr server;
	char server_text[300];          /* the node dialled now: host:port */
	char servers[WARREN_SERVERS_MAX][300];  /* --server, split at ',' */
	unsigned nservers, server_i;    /* which one now */
	unsigned addr_i, addr_n;        /* which of its name's addresses */
	char server_host[256];          /* the name TLS verifies */
	SSL_CTX *tls_ctx;               /* NULL: plain TCP */
	char *token, *client_id, *agent;
	struct warren_options opt;      /* callbacks, timings (strings above) */
	struct mux_conf mux_conf;
	struct warren_tunnel **tunnels;
	int ntunnels;
	struct warren_session *cur;     /* the session new streams come on */
	struct warren_session *sessions;/* every live session, cur included */
	ev_timer reconnect;
	ev_prepare flusher;             /* writes queued output before the loop sleeps */
	struct client_backoff backoff;
	uint64_t rng;
	ev_tstamp last_uptime;          /* of the session that just ended */
	struct client_proxy_conf *proxy;/* reach the node through it, or NULL */
	struct warren_client *twin;     /* --ha: the other client; its node is
	                                   avoided while it has one */
	bool follower;                  /* --ha: the twin that asks for the
	                                   names the other one got */
	unsigned moves;                 /* other nodes tried since the last
	                                   session came up (each at once) */
	bool started, welcomed;
};

static void warren_session_start(struct warren_client *c);
static void warren_next_server(struct warren_client *c);

#define WARREN_LINGER_SETTLE    3.0     /* s after moving, before the old
                                           session may close (the node
                                           closes it sooner, once its table
                                           routes our names to the new one) */
#define WARREN_LINGER_MAX       10.0    /* s a draining session waits at most */
static void warren_session_fail(struct warren_session *s, const char *why);
static void warren_session_flush(struct warren_session *s);
static void warren_session_want(struct warren_session *s, int events);
static void warren_tunnel_register(struct warren_tunnel *t);

/* --- small helpers --------------------------------------------------- */

static const char *
warren_kind_name(enum warren_kind k)
{
	return k == WARREN_HTTP ? "http" : k == WARREN_TLS ? "tls" : "tcp";
}

static uint32_t
warren_rand(struct warren_client *c)
{
	/* xorshift64*: jitter only, not for secrets */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return (uint32_t)((c->rng * 2685821657736338717ULL) >> 32);
}

/* Copies s into out as a logfmt-safe quoted value body. */
static const char *
warren_q(char *out, size_t len, const char *s)
{
	size_t j = 0;

	for (; s != NULL && *s != '\0' && j + 3 < len; s++) {
		if (*s == '"' || *s == '\\')
			out[j++] = '\\';
		out[j++] = (*s == '\n' || *s == '\r') ? ' ' : *s;
	}
	out[j] = '\0';
	return out;
}

static int
warren_strset(char **dst, const char *s)
{
	char *d = NULL;

	if (s != NULL && (d = strdup(s)) == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

static struct warren_tunnel *
warren_tunnel_find(struct warren_client *c, uint32_t id)
{
	if (id == 0 || id > (uint32_t)c->ntunnels)
		return NULL;
	return c->tunnels[id - 1];
}

static void
warren_report(struct warren_client *c, enum warren_error_kind kind,
    struct warren_tunnel *t, int status, bool fatal, const char *msg)
{
	struct warren_error e;

	if (c->opt.on_error == NULL)
		return;
	e.kind = kind;
	e.tunnel = t ? t->id : 0;
	e.name = t ? t->name : NULL;
	e.status = status;
	e.fatal = fatal;
	e.message = msg;
	c->opt.on_error(c, &e, c->opt.data);
}

/* --- tunnels --------------------------------------------------------- */

static void
warren_tunnel_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct warren_tunnel *t = w->data;
	struct warren_session *s = t->c->cur;

	if (t->state == TUNNEL_IDLE && s != NULL && s->state == SESSION_READY)
		warren_tunnel_register(t);
	warren_session_flush(s);
}

/* --ha: the follower asks for the name and port its twin's tunnel got.
 * Returns 0, or -1 while the twin has none yet. */
static int
warren_tunnel_follow(struct warren_tunnel *t)
{
	struct warren_tunnel *p = warren_tunnel_find(t->c->twin, (uint32_t)t->id);

	if (p == NULL)
		return 0;
	if (!p->ever_ok)
		return -1;
	if (!t->user_subdomain && p->subdomain != NULL &&
	    warren_strset(&t->subdomain, p->subdomain) != 0)
		return -1;
	if (t->kind == WARREN_TCP && t->remote_port == 0)
		t->remote_port = p->remote_port;
	return 0;
}

static void
warren_tunnel_register(struct warren_tunnel *t)
{
	struct warren_session *s = t->c->cur;
	uint8_t buf[WARREN_CTRL_BUF];
	struct ctrl_msg m;
	int n;

	if (s == NULL || s->state != SESSION_READY || t->state == TUNNEL_FAILED)
		return;
	if (t->c->follower && warren_tunnel_follow(t) != 0)
		return;         /* registered once the leader has its name */
	memset(&m, 0, sizeof(m));
	m.type = CTRL_REGISTER;
	m.tunnel_id = (uint32_t)t->id;
	m.kind = t->kind == WARREN_HTTP ? TUNNEL_HTTP :
	    t->kind == WARREN_TLS ? TUNNEL_TLS : TUNNEL_TCP;
	m.port = (uint16_t)t->remote_port;
	m.subdomain = t->subdomain ? t->subdomain : "";
	m.domains = t->domains ? t->domains : "";
	m.basic_auth = t->basic_auth ? t->basic_auth : "";
	m.allow_ips = t->allow_ips ? t->allow_ips : "";
	m.deny_ips = t->deny_ips ? t->deny_ips : "";
	m.group = t->group;
	m.region = t->region ? t->region : "";
	m.weight = t->weight;
	m.soft_limit = t->soft_limit;
	m.hard_limit = t->hard_limit;
	if ((n = ctrl_msg_encode(&m, buf, sizeof(buf))) < 0 ||
	    mux_control(s->mux, buf, (size_t)n) != 0) {
		warren_session_fail(s, "cannot queue a REGISTER message");
		return;
	}
	ev_timer_stop(t->c->loop, &t->retry);
	t->state = TUNNEL_PENDING;
	t->sess = s;
	log_debug("tunnel.register", "tunnel=%s kind=%s subdomain=%s port=%d",
	    t->name, warren_kind_name(t->kind),
	    t->subdomain ? t->subdomain : "", t->remote_port);
}

/* The session a tunnel lived on is gone: it registers again on the next. */
static void
warren_tunnels_detach(struct warren_client *c, struct warren_session *s)
{
	for (int i = 0; i < c->ntunnels; i++) {
		struct warren_tunnel *t = c->tunnels[i];

		if (t->sess != s)
			continue;
		t->sess = NULL;
		if (t->state == TUNNEL_PENDING || t->state == TUNNEL_READY)
			t->state = TUNNEL_IDLE;
	}
}

/* "http://alice.example.com:8080/" -> "alice" into out, unless the host is
 * one of the custom domains. */
static void
warren_url_label(const char *url, const char *domains, char *out, size_t len)
{
	const char *h = strstr(url, "://"), *e;
	size_t hl;

	out[0] = '\0';
	h = h ? h + 3 : url;
	for (e = h; *e != '\0' && *e != ':' && *e != '/'; e++)
		;
	hl = (size_t)(e - h);
	if (domains != NULL && hl > 0) {
		const char *d = domains;

		while (*d != '\0') {
			size_t dl = strcspn(d, ",");

			if (dl == hl && strncasecmp(d, h, hl) == 0)
				return;
			d += dl;
			if (*d == ',')
				d++;
		}
	}
	for (e = h; *e != '\0' && *e != '.' && *e != ':' && *e != '/'; e++)
		;
	if (*e != '.' || (size_t)(e - h) >= len)
		return;
	memcpy(out, h, (size_t)(e - h));
	out[e - h] = '\0';
}

static void
warren_on_registered(struct warren_session *s, const struct ctrl_msg *m)
{
	struct warren_client *c = s->c;
	struct warren_tunnel *t = warren_tunnel_find(c, m->tunnel_id);
	char url[CTRL_STR_MAX + 16], label[256], q[512];
	struct warren_ready r;
	bool changed, first;

	if (t == NULL || t->sess != s || t->state != TUNNEL_PENDING) {
		log_warn("ctrl.unexpected", "msg=REGISTERED tunnel=%u",
		    m->tunnel_id);
		return;
	}
	if (m->status != IPCMSG_S_OK) {
		bool fatal = !t->ever_ok && !c->opt.retry_first_failure &&
		    (m->status == IPCMSG_S_TAKEN || m->status == IPCMSG_S_INVALID ||
		    m->status == IPCMSG_S_DENIED);
		const char *why = m->error && m->error[0] ? m->error :
		    "the node refused the tunnel";
		uint32_t delay;

		t->sess = NULL;
		if (fatal) {
			t->state = TUNNEL_FAILED;
			log_error("tunnel.refused", "tunnel=%s status=%u fatal=true "
			    "msg=\"%s\"", t->name, m->status, warren_q(q, sizeof(q), why));
		} else {
			t->state = TUNNEL_IDLE;
			delay = client_backoff_next(&t->backoff, 0, warren_rand(c));
			ev_timer_set(&t->retry, delay / 1000.0, 0.);
			ev_timer_start(c->loop, &t->retry);
			log_warn("tunnel.refused", "tunnel=%s status=%u retry_ms=%u "
			    "msg=\"%s\"", t->name, m->status, delay,
			    warren_q(q, sizeof(q), why));
		}
		warren_report(c, WARREN_E_REGISTER, t, m->status, fatal, why);
		return;
	}
	if (m->url == NULL || m->url[0] == '\0') {
		if (t->kind == WARREN_TCP)
			snprintf(url, sizeof(url), "tcp://%s:%u", "localhost",
			    m->port);
		else
			snprintf(url, sizeof(url), "http://unknown");
	} else if (strstr(m->url, "://") == NULL) {
		snprintf(url, sizeof(url), "%s://%s",
		    t->kind == WARREN_TCP ? "tcp" :
		    t->kind == WARREN_TLS ? "https" : "http", m->url);
	} else {
		snprintf(url, sizeof(url), "%s", m->url);
	}
	first = !t->ever_ok;
	changed = t->url != NULL && strcmp(t->url, url) != 0;
	if (warren_strset(&t->url, url) != 0) {
		warren_session_fail(s, "out of memory");
		return;
	}
	t->state = TUNNEL_READY;
	t->ever_ok = true;
	t->public_port = m->port;
	client_backoff_reset(&t->backoff);
	/* ask for the same name and port after a reconnect */
	if (t->kind == WARREN_TCP && m->port != 0)
		t->remote_port = m->port;
	if ((t->kind == WARREN_HTTP || t->kind == WARREN_TLS) &&
	    !t->user_subdomain) {
		warren_url_label(url, t->domains, label, sizeof(label));
		if (label[0] != '\0')
			warren_strset(&t->subdomain, label);
	}
	log_info("tunnel.ready", "tunnel=%s url=%s local=%s", t->name, t->url,
	    t->local_text);
	if (c->twin != NULL && c->twin->follower) {
		struct warren_tunnel *f = warren_tunnel_find(c->twin,
		    (uint32_t)t->id);

		if (f != NULL && f->state == TUNNEL_IDLE)
			warren_tunnel_register(f);
	}
	if (c->opt.on_ready != NULL) {
		r.tunnel = t->id;
		r.name = t->name;
		r.kind = t->kind;
		r.url = t->url;
		r.local = t->local_text;
		r.remote_port = t->public_port;
		r.first = first;
		r.changed = changed;
		c->opt.on_ready(c, &r, c->opt.data);
	}
}

/* --- session: control messages --------------------------------------- */

static void
warren_send_hello(struct warren_session *s)
{
	struct warren_client *c = s->c;
	uint8_t buf[WARREN_CTRL_BUF];
	struct ctrl_msg m;
	int n;

	memset(&m, 0, sizeof(m));
	m.type = CTRL_HELLO;
	m.version = CTRL_PROTO_VERSION;
	m.client_id = c->client_id;
	m.token = c->token ? c->token : "";
	m.agent = c->agent;
	if ((n = ctrl_msg_encode(&m, buf, sizeof(buf))) < 0 ||
	    mux_control(s->mux, buf, (size_t)n) != 0)
		warren_session_fail(s, "cannot queue the HELLO message");
}

static void
warren_on_control(struct mux *mx, const uint8_t *p, size_t len)
{
	struct warren_session *s = mux_data(mx);
	struct warren_client *c = s->c;
	struct ctrl_msg m;
	char q[512];

	if (s->state == SESSION_CLOSING)
		return;
	if (ctrl_msg_decode(&m, p, len) != 0) {
		warren_session_fail(s, "the node sent a malformed control message");
		return;
	}
	switch (m.type) {
	case CTRL_WELCOME:
		if (s->state != SESSION_HELLO) {
			warren_session_fail(s, "the node sent WELCOME twice");
			break;
		}
		s->state = SESSION_READY;
		s->ready_at = ev_now(c->loop);
		ev_timer_stop(c->loop, &s->welcome);
		c->welcomed = true;
		c->moves = 0;
		snprintf(s->node, sizeof(s->node), "%s", m.agent ? m.agent : "");
		log_info("session.ready", "server=%s node=%s version=%u",
		    c->server_text, warren_q(q, sizeof(q), s->node), m.version);
		for (int i = 0; i < c->ntunnels; i++)
			if (c->tunnels[i]->state == TUNNEL_IDLE)
				warren_tunnel_register(c->tunnels[i]);
		break;
	case CTRL_REGISTERED:
		if (s->state != SESSION_READY && s->state != SESSION_DRAINING) {
			warren_session_fail(s, "the node sent REGISTERED before WELCOME");
			break;
		}
		warren_on_registered(s, &m);
		break;
	case CTRL_ERROR: {
		const char *why = m.error && m.error[0] ? m.error :
		    "the node reported an error";
		bool fatal = m.status == IPCMSG_S_DENIED && !c->welcomed &&
		    !c->opt.retry_first_failure;

		log_error("session.error", "server=%s status=%u msg=\"%s\"",
		    c->server_text, m.status, warren_q(q, sizeof(q), why));
		warren_report(c, WARREN_E_SERVER, NULL, m.status, fatal, why);
		break;
	}
	default:
		log_warn("ctrl.unexpected", "type=%u", m.type);
		break;
	}
	ctrl_msg_fini(&m);
}

/* --- session: streams ------------------------------------------------ */

/* Small output waits for the end of the loop iteration
 * (warren_flush_prepare), so frames from many streams share one write;
 * bulk goes out at once, so one stream's megabytes don't wait behind the
 * others' reads. */
#define WARREN_FLUSH_NOW        (64u * 1024)

static void
warren_stream_flush(void *owner)
{
	struct warren_session *s = owner;

	if (s->mux != NULL && mux_wpending(s->mux) >= WARREN_FLUSH_NOW)
		warren_session_flush(s);
	else
		s->flush_pending = true;
}

static void
warren_stream_gone(void *owner)
{
	struct warren_session *s = owner;

	if (s->state == SESSION_DRAINING && !s->lingering &&
	    mux_nstreams(s->mux) == 0)
		warren_session_fail(s, NULL);
}

static void
warren_stream_request(void *owner, void *tag, const char *peer,
    const struct client_httplog_entry *e)
{
	struct warren_session *s = owner;
	struct warren_client *c = s->c;
	struct warren_tunnel *t = tag;
	struct warren_request r;

	if (c->opt.on_request == NULL)
		return;
	r.tunnel = t->id;
	r.name = t->name;
	r.method = e->method;
	r.path = e->path;
	r.peer = peer;
	r.status = e->status;
	r.duration_us = e->end_us > e->start_us ? e->end_us - e->start_us : 0;
	r.bytes = e->bytes;
	c->opt.on_request(c, &r, c->opt.data);
}

static const struct client_stream_owner warren_stream_owner = {
	.flush = warren_stream_flush,
	.gone = warren_stream_gone,
	.request = warren_stream_request,
};

static int
warren_on_open(struct mux *mx, struct mux_stream *ms, const uint8_t *hdr,
    size_t len)
{
	struct warren_session *s = mux_data(mx);
	struct warren_client *c = s->c;
	struct client_stream_conf sc;
	struct client_stream *cs;
	struct warren_tunnel *t;
	struct ctrl_open o;
	char reason[200];

	if (s->state == SESSION_CLOSING)
		return -1;
	if (ctrl_open_decode(&o, hdr, len) != 0) {
		mux_stream_reset(ms, MUX_RST_PROTOCOL, "malformed stream-open header");
		mux_stream_close(ms);
		return 0;
	}
	t = warren_tunnel_find(c, o.tunnel_id);
	if (t == NULL || t->state == TUNNEL_FAILED) {
		snprintf(reason, sizeof(reason), "no tunnel %u on this client",
		    o.tunnel_id);
		mux_stream_reset(ms, MUX_RST_NO_TUNNEL, reason);
		mux_stream_close(ms);
		ctrl_open_fini(&o);
		return 0;
	}
	memset(&sc, 0, sizeof(sc));
	sc.local = &t->local;
	sc.local_text = t->local_text;
	sc.peer = o.peer;
	sc.tag = t;
	sc.http_log = t->kind == WARREN_HTTP &&
	    (c->opt.on_request != NULL || c->opt.tap != NULL);
	sc.tap = c->opt.tap;
	sc.tap_arg = c->opt.tap_data;
	sc.tunnel = t->name;
	sc.proxy_protocol = t->proxy_protocol;
	sc.window = c->mux_conf.window;
	sc.connect_timeout_ms = c->opt.local_connect_timeout_ms;
	if (client_stream_new(&cs, c->loop, ms, &sc, &warren_stream_owner, s,
	    reason, sizeof(reason)) != 0) {
		log_warn("stream.refused", "tunnel=%s peer=%s msg=\"%s\"", t->name,
		    o.peer ? o.peer : "-", reason);
		mux_stream_reset(ms, MUX_RST_REFUSED, reason);
		mux_stream_close(ms);
		ctrl_open_fini(&o);
		return 0;
	}
	log_debug("stream.open", "tunnel=%s stream=%u peer=%s host=%s", t->name,
	    mux_stream_id(ms), o.peer ? o.peer : "-", o.host ? o.host : "");
	ctrl_open_fini(&o);
	return 0;
}

static void
warren_on_data(struct mux_stream *ms, const uint8_t *p, size_t len)
{
	struct client_stream *cs = mux_stream_data(ms);

	if (cs != NULL)
		client_stream_on_data(cs, p, len);
}

static void
warren_on_fin(struct mux_stream *ms)
{
	struct client_stream *cs = mux_stream_data(ms);

	if (cs != NULL)
		client_stream_on_fin(cs);
}

static void
warren_on_reset(struct mux_stream *ms, int code, const char *reason)
{
	struct client_stream *cs = mux_stream_data(ms);

	if (cs != NULL)
		client_stream_on_reset(cs, code, reason);
	else
		mux_stream_close(ms);
}

static void
warren_on_writable(struct mux_stream *ms)
{
	struct client_stream *cs = mux_stream_data(ms);

	if (cs != NULL)
		client_stream_on_writable(cs);
}

static void
warren_on_pong(struct mux *mx, uint64_t sent_us)
{
	struct warren_session *s = mux_data(mx);
	uint64_t now = (uint64_t)(ev_now(s->c->loop) * 1e6);

	log_debug("session.pong", "rtt_us=%llu",
	    (unsigned long long)(now > sent_us ? now - sent_us : 0));
}

static void
warren_schedule_reconnect(struct warren_client *c, bool quick);

static void
warren_on_goaway(struct mux *mx, int code, const char *reason)
{
	struct warren_session *s = mux_data(mx);
	struct warren_client *c = s->c;
	char q[300];

	log_info("session.goaway", "server=%s code=%d reason=\"%s\" streams=%zu",
	    c->server_text, code, warren_q(q, sizeof(q), reason),
	    mux_nstreams(mx));
	if (s->state == SESSION_CLOSING || s->state == SESSION_DRAINING)
		return;
	s->state = SESSION_DRAINING;
	if (c->cur == s) {
		c->cur = NULL;
		c->last_uptime = s->ready_at ? ev_now(c->loop) - s->ready_at : 0;
		warren_tunnels_detach(c, s);
		/* the node is going away: another one takes the tunnels */
		warren_next_server(c);
		warren_schedule_reconnect(c, true);
	}
	/* make before break: the node still opens streams here (other nodes
	 * forward to it) until our tunnels are registered on another node
	 * and that has had time to spread */
	s->lingering = true;
	s->linger_since = ev_now(c->loop);
	ev_timer_start(c->loop, &s->linger);
}

/* Is every tunnel registered on the current session? */
static bool
warren_moved(struct warren_client *c)
{
	int i;

	if (c->cur == NULL || c->cur->state != SESSION_READY)
		return false;
	for (i = 0; i < c->ntunnels; i++)
		if (c->tunnels[i]->state != TUNNEL_FAILED &&
		    (c->tunnels[i]->state != TUNNEL_READY ||
		    c->tunnels[i]->sess != c->cur))
			return false;
	return true;
}

static void
warren_session_linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct warren_session *s = w->data;

	if (s->state != SESSION_DRAINING)
		return;
	/* moved (and time for the new claim to reach every node), or given
	 * up waiting */
	if (!(warren_moved(s->c) && ev_now(loop) - s->c->cur->ready_at >=
	    WARREN_LINGER_SETTLE) &&
	    ev_now(loop) - s->linger_since < WARREN_LINGER_MAX)
		return;
	ev_timer_stop(loop, w);
	s->lingering = false;
	if (mux_nstreams(s->mux) == 0)
		warren_session_fail(s, NULL);
}

static void
warren_on_output(struct mux *mx)
{
	struct warren_session *s = mux_data(mx);

	if (s->state != SESSION_CLOSING && s->state != SESSION_CONNECTING &&
	    s->state != SESSION_PROXY)
		s->flush_pending = true;
}

static const struct mux_callbacks warren_mux_cb = {
	.on_open = warren_on_open,
	.on_data = warren_on_data,
	.on_fin = warren_on_fin,
	.on_reset = warren_on_reset,
	.on_writable = warren_on_writable,
	.on_control = warren_on_control,
	.on_pong = warren_on_pong,
	.on_goaway = warren_on_goaway,
	.on_output = warren_on_output,
};

/* --- session: I/O ---------------------------------------------------- */

/* Why a TLS connection to the node broke, as a sentence for the user. */
static const char *
warren_tls_why(struct warren_session *s, char *buf, size_t len)
{
	long v;

	if (s->tio.ssl != NULL && !s->c->opt.insecure &&
	    (v = SSL_get_verify_result(s->tio.ssl)) != X509_V_OK) {
		snprintf(buf, len, "the node's certificate was not accepted (%s): "
		    "pass the CA that signed it with --ca FILE",
		    X509_verify_cert_error_string(v));
		return buf;
	}
	return tls_io_error(buf, len);
}

static void
warren_session_want(struct warren_session *s, int events)
{
	if (events == s->events)
		return;
	if (s->events)
		ev_io_stop(s->c->loop, &s->io);
	s->events = events;
	if (events) {
		ev_io_set(&s->io, s->tio.fd, events);
		ev_io_start(s->c->loop, &s->io);
	}
}

static void
warren_session_flush(struct warren_session *s)
{
	struct iovec io;
	ssize_t n;

	if (s == NULL || s->flushing || s->state == SESSION_CLOSING ||
	    s->state == SESSION_CONNECTING || s->state == SESSION_PROXY)
		return;
	s->flushing = true;
	for (;;) {
		io = mux_wbuf(s->mux);
		if (io.iov_len == 0)
			break;
		n = tls_io_write(&s->tio, io.iov_base, io.iov_len);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			char why[256];

			s->flushing = false;
			warren_session_fail(s, n == -EPROTO ?
			    warren_tls_why(s, why, sizeof(why)) : strerror((int)-n));
			return;
		}
		mux_wconsume(s->mux, (size_t)n);
	}
	if ((n = tls_io_flush(&s->tio)) != 0 && n != -EAGAIN) {
		s->flushing = false;
		warren_session_fail(s, strerror((int)-n));
		return;
	}
	s->flushing = false;
	if (s->state != SESSION_CLOSING)
		warren_session_want(s, tls_io_events(&s->tio, true,
		    mux_wpending(s->mux) > 0));
}

/* Reads a few buffers' worth per wakeup: fewer trips through the loop
 * under load, and a fair turn for the local sockets in between. */
static void
warren_session_read(struct warren_session *s)
{
	struct iovec io;
	char why[256];
	ssize_t n;

	for (int i = 0; i < WARREN_SESSION_READS; i++) {
		struct mux_stream *st;
		size_t left;

		/* plain link, inside a large DATA payload: straight to the
		 * local service, no copy */
		if (s->tio.ssl == NULL &&
		    (st = mux_rpayload(s->mux, &left)) != NULL) {
			n = client_stream_splice_in(mux_stream_data(st),
			    s->tio.fd, left);
			if (n > 0) {
				mux_rskip(s->mux, (size_t)n);
				s->last_rx = ev_now(s->c->loop);
				continue;
			}
			if (n == -EAGAIN)
				return;
			if (n < 0) {
				warren_session_fail(s, n == -EPIPE ?
				    "the node closed the connection" :
				    strerror((int)-n));
				return;
			}
		}
		io = mux_rbuf(s->mux);
		if (io.iov_base == NULL) {
			warren_session_fail(s, "out of memory");
			return;
		}
		if (s->tio.ssl == NULL && io.iov_len > mux_rwant(s->mux))
			io.iov_len = mux_rwant(s->mux);         /* splice next */
		n = tls_io_read(&s->tio, io.iov_base, io.iov_len);
		if (n < 0) {
			if (n != -EAGAIN)
				warren_session_fail(s, n == -EPROTO ?
				    warren_tls_why(s, why, sizeof(why)) :
				    strerror((int)-n));
			return;
		}
		if (n == 0) {
			warren_session_fail(s, "the node closed the connection");
			return;
		}
		s->last_rx = ev_now(s->c->loop);
		if (mux_rcommit(s->mux, (size_t)n) != 0) {
			snprintf(why, sizeof(why), "protocol error: %s",
			    mux_error(s->mux));
			warren_session_fail(s, why);
			return;
		}
		if (s->state == SESSION_CLOSING)
			return;
		/* a short read drained the socket; TLS: keep going while
		 * OpenSSL holds bytes libev will not signal */
		if ((size_t)n < io.iov_len && tls_io_pending(&s->tio) == 0)
			return;
	}
	if (tls_io_pending(&s->tio) > 0)
		ev_feed_event(s->c->loop, &s->io, EV_READ);
}

/* The path to the node is open (directly or through the proxy): TLS and
 * HELLO start. */
static void
warren_session_connected(struct warren_session *s)
{
	s->state = SESSION_HELLO;
	if (s->c->tls_ctx != NULL && (tls_io_client(&s->tio, s->tio.fd,
	    s->c->tls_ctx, s->c->server_host, !s->c->opt.insecure) != 0 ||
	    tls_io_batch(&s->tio) != 0)) {
		warren_session_fail(s, "out of memory");
		return;
	}
	log_debug("session.connected", "server=%s", s->c->server_text);
	warren_session_flush(s);
}

/* Sends a proxy handshake message whole (they are small, on a fresh
 * socket); returns 0 or -1 with the session failed. */
static int
warren_session_proxy_send(struct warren_session *s, const uint8_t *p,
    size_t len)
{
	ssize_t n;
	char why[400];

	do
		n = send(s->tio.fd, p, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)len) {
		snprintf(why, sizeof(why), "proxy %s:%d: write: %s",
		    s->c->proxy->host, s->c->proxy->port,
		    n == -1 ? strerror(errno) : "short write");
		warren_session_fail(s, why);
		return -1;
	}
	return 0;
}

static void
warren_session_proxy_start(struct warren_session *s)
{
	struct warren_client *c = s->c;
	uint8_t out[CLIENT_PROXY_OUT_MAX];
	char why[400];
	int n, port;

	port = atoi(strrchr(c->server_text, ':') + 1);
	if ((s->px = calloc(1, sizeof(*s->px))) == NULL) {
		warren_session_fail(s, "out of memory");
		return;
	}
	n = client_proxy_start(s->px, c->proxy, c->server_host, port, out, why,
	    sizeof(why));
	if (n < 0) {
		warren_session_fail(s, why);
		return;
	}
	s->state = SESSION_PROXY;
	if (warren_session_proxy_send(s, out, (size_t)n) != 0)
		return;
	warren_session_want(s, EV_READ);
}

/* Reads the proxy's answer: only as many bytes as the handshake takes
 * (peeked first), so the node's first bytes stay in the socket. */
static void
warren_session_proxy_read(struct warren_session *s)
{
	uint8_t in[CLIENT_PROXY_HEAD_MAX], out[CLIENT_PROXY_OUT_MAX];
	enum client_proxy_result r;
	size_t used, outlen;
	char why[400];
	ssize_t n;

	do
		n = recv(s->tio.fd, in, sizeof(in), MSG_PEEK);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		snprintf(why, sizeof(why), "proxy %s:%d closed the connection "
		    "during the handshake%s%s", s->c->proxy->host,
		    s->c->proxy->port, n == -1 ? ": " : "",
		    n == -1 ? strerror(errno) : "");
		warren_session_fail(s, why);
		return;
	}
	r = client_proxy_feed(s->px, in, (size_t)n, &used, out, &outlen, why,
	    sizeof(why));
	if (used > 0 && recv(s->tio.fd, in, used, 0) != (ssize_t)used) {
		warren_session_fail(s, "proxy: read failed");
		return;
	}
	if (r == CLIENT_PROXY_ERROR) {
		warren_session_fail(s, why);
		return;
	}
	if (outlen > 0 && warren_session_proxy_send(s, out, outlen) != 0)
		return;
	if (r == CLIENT_PROXY_DONE) {
		log_info("session.proxy", "server=%s proxy=%s:%d",
		    s->c->server_text, s->c->proxy->host, s->c->proxy->port);
		free(s->px);
		s->px = NULL;
		warren_session_connected(s);
	}
}

static void
warren_session_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct warren_session *s = w->data;
	char why[160];
	int rc;

	if (s->state == SESSION_CONNECTING) {
		if ((rc = sock_connect_result(s->tio.fd)) != 0) {
			snprintf(why, sizeof(why), "connect%s: %s", s->c->proxy ?
			    " to the proxy" : "", strerror(-rc));
			warren_session_fail(s, why);
			return;
		}
		sock_nodelay(s->tio.fd);
		if (s->c->proxy != NULL)
			warren_session_proxy_start(s);
		else
			warren_session_connected(s);
		return;
	}
	if (s->state == SESSION_PROXY) {
		warren_session_proxy_read(s);
		return;
	}
	if ((revents & EV_READ) || s->tio.read_wants_write)
		warren_session_read(s);
	if (s->state != SESSION_CLOSING)
		warren_session_flush(s);
}

static void
warren_session_ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct warren_session *s = w->data;

	if (s->state == SESSION_CLOSING || s->state == SESSION_CONNECTING ||
	    s->state == SESSION_PROXY)
		return;
	tls_io_trim(&s->tio);           /* a quiet link gives its buffers back */
	if (mux_ping(s->mux, (uint64_t)(ev_now(loop) * 1e6)) != 0)
		return;         /* output full: the link is busy, not dead */
	warren_session_flush(s);
}

static void
warren_session_dead_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct warren_session *s = w->data;
	ev_tstamp timeout = s->c->opt.dead_timeout_ms / 1000.0;
	ev_tstamp left = s->last_rx + timeout - ev_now(loop);
	char why[128];

	if (left > 0.001) {
		w->repeat = left;
		ev_timer_again(loop, w);
		return;
	}
	if (s->state == SESSION_CONNECTING)
		snprintf(why, sizeof(why), "connect timed out after %.1fs", timeout);
	else if (s->state == SESSION_PROXY)
		snprintf(why, sizeof(why), "the proxy did not answer the handshake "
		    "within %.1fs", timeout);
	else
		snprintf(why, sizeof(why), "no bytes from the node for %.1fs",
		    timeout);
	warren_session_fail(s, why);
}

/* Connected (or still connecting) but the node never said WELCOME: the
 * address is not a warren node's tunnel port, or TLS does not match. */
static void
warren_session_welcome_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct warren_session *s = w->data;
	char why[800];

	if (s->state != SESSION_CONNECTING && s->state != SESSION_HELLO)
		return;
	snprintf(why, sizeof(why), "no WELCOME from the node within %.1fs of "
	    "connecting: is %s a warren node's tunnel port, and does --tls "
	    "match its --tunnel-tls?", s->c->opt.welcome_timeout_ms / 1000.0,
	    s->c->server_text);
	warren_session_fail(s, why);
}

static void
warren_session_free(struct warren_session *s)
{
	struct warren_client *c = s->c;
	struct warren_session **pp;

	ev_io_stop(c->loop, &s->io);
	ev_clear_pending(c->loop, &s->io);
	ev_timer_stop(c->loop, &s->ping);
	ev_timer_stop(c->loop, &s->dead);
	ev_timer_stop(c->loop, &s->welcome);
	ev_timer_stop(c->loop, &s->reap);
	ev_clear_pending(c->loop, &s->reap);
	ev_timer_stop(c->loop, &s->linger);
	s->state = SESSION_CLOSING;
	/* resets every stream: each closes its local side and handle */
	mux_free(s->mux);
	s->mux = NULL;
	tls_io_fini(&s->tio);
	if (s->tio.fd != -1)
		close(s->tio.fd);
	free(s->px);
	for (pp = &c->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	if (c->cur == s)
		c->cur = NULL;
	warren_tunnels_detach(c, s);
	free(s);
}

static void
warren_session_reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	warren_session_free(w->data);
}

static void
warren_reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct warren_client *c = w->data;

	if (c->cur == NULL)
		warren_session_start(c);
}

/* The next node to try after losing (or being sent away from) this one:
 * the next address of the same name, then the next --server. */
static void
warren_next_server(struct warren_client *c)
{
	if (c->nservers <= 1 && c->addr_n <= 1)
		return;
	if (++c->addr_i >= c->addr_n) {
		c->addr_i = 0;
		c->server_i = (c->server_i + 1) % c->nservers;
	}
	snprintf(c->server_text, sizeof(c->server_text), "%s",
	    c->servers[c->server_i]);
}

static void
warren_schedule_reconnect(struct warren_client *c, bool quick)
{
	uint64_t up_ms = (uint64_t)(c->last_uptime * 1000);
	uint32_t delay;

	delay = client_backoff_next(&c->backoff, up_ms, warren_rand(c));
	if (quick && up_ms >= c->opt.backoff_reset_ms)
		delay = 0;      /* a drain after a good run: move over at once */
	/* with other nodes to go to, each of them is tried once at the
	 * first delay before backing off: a node lost a few seconds after
	 * the last one costs no more than the first */
	if (c->moves + 1 < c->nservers * (c->addr_n > 1 ? c->addr_n : 1)) {
		c->moves++;
		if (delay > c->opt.backoff_min_ms)
			delay = c->opt.backoff_min_ms;
	} else {
		c->moves = 0;
	}
	c->last_uptime = 0;
	ev_timer_stop(c->loop, &c->reconnect);
	ev_timer_set(&c->reconnect, delay / 1000.0, 0.);
	ev_timer_start(c->loop, &c->reconnect);
	log_info("session.reconnect", "server=%s in_ms=%u attempt=%u",
	    c->server_text, delay, c->backoff.attempt);
}

/* Ends a session on the next loop turn (never inside a mux callback). why
 * is NULL for a clean end (a drained session). */
static void
warren_session_fail(struct warren_session *s, const char *why)
{
	struct warren_client *c = s->c;
	char q[300], msg[400];

	if (s->state == SESSION_CLOSING)
		return;
	if (why != NULL) {
		log_warn("session.lost", "server=%s state=%d msg=\"%s\"",
		    c->server_text, (int)s->state, warren_q(q, sizeof(q), why));
		snprintf(msg, sizeof(msg), "tunnel session to %s: %s",
		    c->server_text, why);
	}
	if (s == c->cur) {
		c->cur = NULL;
		c->last_uptime = s->ready_at ? ev_now(c->loop) - s->ready_at : 0;
		warren_tunnels_detach(c, s);
		warren_next_server(c);
		if (c->started)
			warren_schedule_reconnect(c, false);
	}
	s->state = SESSION_CLOSING;
	ev_io_stop(c->loop, &s->io);
	ev_timer_stop(c->loop, &s->ping);
	ev_timer_stop(c->loop, &s->dead);
	ev_timer_stop(c->loop, &s->linger);
	ev_timer_stop(c->loop, &s->welcome);
	ev_timer_set(&s->reap, 0., 0.);
	ev_timer_start(c->loop, &s->reap);
	if (why != NULL)
		warren_report(c, WARREN_E_SESSION, NULL, -ECONNRESET, false, msg);
}

static bool
warren_twin_there(const struct warren_client *c)
{
	const struct warren_client *t = c->twin;

	return t != NULL && t->cur != NULL && t->server.len == c->server.len &&
	    memcmp(&t->server.ss, &c->server.ss, c->server.len) == 0;
}

/* The address of the node to dial now; with a twin (--ha), not the one the
 * twin is on while there is another to try. Returns 0 or -1. */
static int
warren_resolve(struct warren_client *c)
{
	unsigned tries = 0, max = c->nservers * 8;

	for (;;) {
		if (sock_addr_resolve_nth(&c->server, c->server_text,
		    c->server_host, sizeof(c->server_host), c->addr_i,
		    &c->addr_n) != 0)
			return -1;
		if (!warren_twin_there(c) || (c->nservers <= 1 && c->addr_n <= 1) ||
		    ++tries > max)
			return 0;
		warren_next_server(c);
	}
}

static void
warren_session_start(struct warren_client *c)
{
	struct warren_session *s;
	char why[400];
	int fd;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		warren_schedule_reconnect(c, false);
		return;
	}
	s->c = c;
	tls_io_plain(&s->tio, -1);
	s->started = s->last_rx = ev_now(c->loop);
	ev_io_init(&s->io, warren_session_io, -1, 0);
	ev_timer_init(&s->ping, warren_session_ping_cb,
	    c->opt.ping_interval_ms / 1000.0, c->opt.ping_interval_ms / 1000.0);
	ev_timer_init(&s->dead, warren_session_dead_cb,
	    c->opt.dead_timeout_ms / 1000.0, 0.);
	ev_timer_init(&s->reap, warren_session_reap_cb, 0., 0.);
	ev_timer_init(&s->linger, warren_session_linger_cb, 0.1, 0.1);
	s->linger.data = s;
	ev_timer_init(&s->welcome, warren_session_welcome_cb,
	    c->opt.welcome_timeout_ms / 1000.0, 0.);
	s->io.data = s->ping.data = s->dead.data = s->reap.data = s;
	s->welcome.data = s;
	s->next = c->sessions;
	c->sessions = s;
	c->cur = s;
	if ((s->mux = mux_new(MUX_CLIENT, &c->mux_conf, &warren_mux_cb, s)) == NULL) {
		warren_session_fail(s, "out of memory");
		return;
	}
	if (c->proxy != NULL) {
		/* the proxy resolves the node; we only dial the proxy */
		char pt[300], ph[256];
		const char *colon = strrchr(c->server_text, ':');

		snprintf(c->server_host, sizeof(c->server_host), "%.*s",
		    (int)(colon - c->server_text), c->server_text);
		if (c->server_host[0] == '[') {
			memmove(c->server_host, c->server_host + 1,
			    strlen(c->server_host));
			c->server_host[strcspn(c->server_host, "]")] = '\0';
		}
		snprintf(pt, sizeof(pt), strchr(c->proxy->host, ':') ?
		    "[%s]:%d" : "%s:%d", c->proxy->host, c->proxy->port);
		if (sock_addr_resolve(&c->server, pt, ph, sizeof(ph)) != 0) {
			snprintf(why, sizeof(why), "cannot resolve the proxy %s",
			    pt);
			warren_session_fail(s, why);
			return;
		}
	} else if (warren_resolve(c) != 0) {
		snprintf(why, sizeof(why), "cannot resolve %s", c->server_text);
		warren_session_fail(s, why);
		return;
	}
	log_info("session.connect", "server=%s client_id=%s", c->server_text,
	    c->client_id);
	if ((fd = sock_connect(&c->server)) < 0) {
		snprintf(why, sizeof(why), "connect: %s", strerror(-fd));
		warren_session_fail(s, why);
		return;
	}
	s->tio.fd = fd;
	s->state = SESSION_CONNECTING;
	warren_send_hello(s);
	if (s->state == SESSION_CLOSING)
		return;
	warren_session_want(s, EV_WRITE);
	ev_timer_start(c->loop, &s->ping);
	ev_timer_start(c->loop, &s->dead);
	ev_timer_start(c->loop, &s->welcome);
}

static void
warren_flush_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct warren_client *c = w->data;
	struct warren_session *s, *next;

	for (s = c->sessions; s != NULL; s = next) {
		next = s->next;
		if (!s->flush_pending)
			continue;
		s->flush_pending = false;
		warren_session_flush(s);
	}
}

/* --- public API ------------------------------------------------------ */

void
warren_options_default(struct warren_options *o)
{
	memset(o, 0, sizeof(*o));
	o->server = "127.0.0.1:7000";
	o->tls = true;
	o->agent = WARREN_AGENT;
	o->ping_interval_ms = 10000;
	o->dead_timeout_ms = 30000;
	o->welcome_timeout_ms = 10000;
	o->local_connect_timeout_ms = 10000;
	o->backoff_min_ms = 200;
	o->backoff_max_ms = 30000;
	o->backoff_reset_ms = 10000;
}

struct warren_client *
warren_client_new(struct ev_loop *loop, const struct warren_options *opt)
{
	struct warren_options def;
	struct warren_client *c;
	uint8_t id[12];
	char hex[32];
	int rc = -ENOMEM;

	if (opt == NULL) {
		warren_options_default(&def);
		opt = &def;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->opt = *opt;
	c->opt.server = c->opt.token = c->opt.client_id = c->opt.agent = NULL;
	if (c->opt.ping_interval_ms == 0)
		c->opt.ping_interval_ms = 10000;
	if (c->opt.dead_timeout_ms == 0)
		c->opt.dead_timeout_ms = 30000;
	if (c->opt.welcome_timeout_ms == 0)
		c->opt.welcome_timeout_ms = 10000;
	if (c->opt.local_connect_timeout_ms == 0)
		c->opt.local_connect_timeout_ms = 10000;
	/* "a:7000,b:7000": nodes to try in turn (a name may also resolve to
	 * several); each host:port */
	{
		char list[WARREN_SERVERS_MAX * 300], *tok, *save;

		snprintf(list, sizeof(list), "%s", opt->server != NULL &&
		    opt->server[0] != '\0' ? opt->server : "127.0.0.1:7000");
		for (tok = strtok_r(list, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			const char *colon;
			char *end;
			long port;

			while (*tok == ' ')
				tok++;
			if (*tok == '\0')
				continue;
			colon = strrchr(tok, ':');
			port = colon ? strtol(colon + 1, &end, 10) : 0;
			if (colon == NULL || colon[1] == '\0' || *end != '\0' ||
			    port < 1 || port > 65535 || strlen(tok) >= 300 ||
			    c->nservers >= WARREN_SERVERS_MAX) {
				rc = -EINVAL;
				goto fail;
			}
			snprintf(c->servers[c->nservers++], sizeof(c->servers[0]),
			    "%s", tok);
		}
		if (c->nservers == 0) {
			rc = -EINVAL;
			goto fail;
		}
		snprintf(c->server_text, sizeof(c->server_text), "%s",
		    c->servers[0]);
	}
	if (opt->proxy != NULL && opt->proxy[0] != '\0') {
		char err[400];

		if ((c->proxy = calloc(1, sizeof(*c->proxy))) == NULL ||
		    client_proxy_parse(c->proxy, opt->proxy, err,
		    sizeof(err)) != 0) {
			if (c->proxy != NULL)
				log_error("proxy.setup", "error=\"%s\"", err);
			rc = c->proxy ? -EINVAL : -ENOMEM;
			goto fail;
		}
	}
	c->opt.proxy = NULL;
	if (opt->tls) {
		char err[512];

		c->tls_ctx = tls_client_ctx(opt->ca_file, opt->insecure, err,
		    sizeof(err));
		if (c->tls_ctx == NULL) {
			log_error("tls.setup", "error=\"%s\"", err);
			rc = -EINVAL;
			goto fail;
		}
		tls_ctx_link(c->tls_ctx);
	}
	if (getrandom(&c->rng, sizeof(c->rng), 0) != (ssize_t)sizeof(c->rng))
		c->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	c->rng |= 1;
	if (opt->client_id != NULL && opt->client_id[0] != '\0') {
		if (strlen(opt->client_id) > 128) {
			rc = -EINVAL;
			goto fail;
		}
		c->client_id = strdup(opt->client_id);
	} else {
		for (size_t i = 0; i < sizeof(id); i += 4) {
			uint32_t r = warren_rand(c);
			memcpy(id + i, &r, 4);
		}
		/* on failure the xorshift bytes stand */
		(void)!getrandom(id, sizeof(id), GRND_NONBLOCK);
		for (size_t i = 0; i < sizeof(id); i++)
			snprintf(hex + 2 * i, 3, "%02x", id[i]);
		c->client_id = strdup(hex);
	}
	c->token = strdup(opt->token ? opt->token : "");
	c->agent = strdup(opt->agent ? opt->agent : WARREN_AGENT);
	if (c->client_id == NULL || c->token == NULL || c->agent == NULL)
		goto fail;
	mux_conf_default(&c->mux_conf);
	if (opt->window != 0)
		c->mux_conf.window = opt->window;
	client_backoff_init(&c->backoff, c->opt.backoff_min_ms,
	    c->opt.backoff_max_ms, c->opt.backoff_reset_ms);
	ev_timer_init(&c->reconnect, warren_reconnect_cb, 0., 0.);
	c->reconnect.data = c;
	ev_prepare_init(&c->flusher, warren_flush_prepare);
	c->flusher.data = c;
	ev_prepare_start(loop, &c->flusher);
	return c;
fail:
	SSL_CTX_free(c->tls_ctx);
	free(c->proxy);
	free(c->client_id);
	free(c->token);
	free(c->agent);
	free(c);
	errno = -rc;
	return NULL;
}

int
warren_client_add(struct warren_client *c, const struct warren_tunnel_conf *tc)
{
	struct warren_tunnel *t, **nt;
	const char *local = tc->local;
	char buf[300];

	if (tc->kind != WARREN_HTTP && tc->kind != WARREN_TCP &&
	    tc->kind != WARREN_TLS)
		return -EINVAL;
	if (tc->remote_port < 0 || tc->remote_port > 65535 ||
	    (tc->kind != WARREN_TCP && tc->remote_port != 0) || local == NULL)
		return -EINVAL;
	if ((tc->subdomain && strlen(tc->subdomain) > 255) ||
	    (tc->domains && strlen(tc->domains) > CTRL_STR_MAX))
		return -EINVAL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	/* a bare port means the loopback service */
	if (strchr(local, ':') == NULL) {
		snprintf(buf, sizeof(buf), "127.0.0.1:%s", local);
		local = buf;
	}
	if (sock_addr_parse(&t->local, local, "127.0.0.1") != 0 ||
	    sock_addr_port(&t->local) == 0) {
		free(t);
		return -EINVAL;
	}
	sock_addr_format(&t->local, t->local_text, sizeof(t->local_text));
	t->c = c;
	t->kind = tc->kind;
	t->remote_port = tc->remote_port;
	t->user_subdomain = tc->subdomain != NULL && tc->subdomain[0] != '\0';
	if (warren_strset(&t->name, tc->name ? tc->name :
	    warren_kind_name(tc->kind)) != 0 ||
	    (t->user_subdomain && warren_strset(&t->subdomain, tc->subdomain) != 0) ||
	    (tc->domains && tc->domains[0] &&
	    warren_strset(&t->domains, tc->domains) != 0) ||
	    (tc->basic_auth && tc->basic_auth[0] &&
	    warren_strset(&t->basic_auth, tc->basic_auth) != 0) ||
	    (tc->allow_ips && tc->allow_ips[0] &&
	    warren_strset(&t->allow_ips, tc->allow_ips) != 0) ||
	    (tc->deny_ips && tc->deny_ips[0] &&
	    warren_strset(&t->deny_ips, tc->deny_ips) != 0) ||
	    (tc->group && tc->group[0] &&
	    warren_strset(&t->group, tc->group) != 0) ||
	    (tc->region && tc->region[0] &&
	    warren_strset(&t->region, tc->region) != 0))
		goto nomem;
	t->proxy_protocol = tc->proxy_protocol;
	t->weight = tc->weight;
	t->soft_limit = tc->soft_limit;
	t->hard_limit = tc->hard_limit;
	if ((nt = realloc(c->tunnels, (size_t)(c->ntunnels + 1) * sizeof(*nt))) == NULL)
		goto nomem;
	c->tunnels = nt;
	c->tunnels[c->ntunnels++] = t;
	t->id = c->ntunnels;
	client_backoff_init(&t->backoff, c->opt.backoff_min_ms,
	    c->opt.backoff_max_ms, c->opt.backoff_reset_ms);
	ev_timer_init(&t->retry, warren_tunnel_retry_cb, 0., 0.);
	t->retry.data = t;
	if (c->cur != NULL && c->cur->state == SESSION_READY) {
		warren_tunnel_register(t);
		warren_session_flush(c->cur);
	}
	return t->id;
nomem:
	free(t->name);
	free(t->subdomain);
	free(t->domains);
	free(t->basic_auth);
	free(t->allow_ips);
	free(t->deny_ips);
	free(t->group);
	free(t->region);
	free(t);
	return -ENOMEM;
}

int
warren_client_add_http(struct warren_client *c, const char *local,
    const char *subdomain, const char *domains)
{
	struct warren_tunnel_conf tc;

	memset(&tc, 0, sizeof(tc));
	tc.kind = WARREN_HTTP;
	tc.local = local;
	tc.subdomain = subdomain;
	tc.domains = domains;

	return warren_client_add(c, &tc);
}

int
warren_client_add_tcp(struct warren_client *c, const char *local,
    int remote_port)
{
	struct warren_tunnel_conf tc;

	memset(&tc, 0, sizeof(tc));
	tc.kind = WARREN_TCP;
	tc.local = local;
	tc.remote_port = remote_port;

	return warren_client_add(c, &tc);
}

int
warren_client_start(struct warren_client *c)
{
	if (c->started)
		return -EALREADY;
	c->started = true;
	warren_session_start(c);
	return 0;
}

void
warren_client_pair(struct warren_client *a, struct warren_client *b)
{
	a->twin = b;
	b->twin = a;
	b->follower = true;
}

const char *
warren_client_id(const struct warren_client *c)
{
	return c->client_id;
}

int
warren_client_nready(const struct warren_client *c)
{
	int n = 0;

	for (int i = 0; i < c->ntunnels; i++)
		if (c->tunnels[i]->state == TUNNEL_READY &&
		    c->tunnels[i]->sess == c->cur)
			n++;
	return n;
}

const char *
warren_client_url(const struct warren_client *c, int tunnel)
{
	if (tunnel < 1 || tunnel > c->ntunnels)
		return NULL;
	return c->tunnels[tunnel - 1]->url;
}

void
warren_client_free(struct warren_client *c)
{
	if (c == NULL)
		return;
	if (c->twin != NULL)
		c->twin->twin = NULL;
	c->started = false;
	ev_timer_stop(c->loop, &c->reconnect);
	ev_prepare_stop(c->loop, &c->flusher);
	while (c->sessions != NULL)
		warren_session_free(c->sessions);
	SSL_CTX_free(c->tls_ctx);
	for (int i = 0; i < c->ntunnels; i++) {
		struct warren_tunnel *t = c->tunnels[i];

		ev_timer_stop(c->loop, &t->retry);
		free(t->name);
		free(t->subdomain);
		free(t->domains);
		free(t->basic_auth);
		free(t->allow_ips);
		free(t->deny_ips);
		free(t->group);
		free(t->region);
		free(t->url);
		free(t);
	}
	free(c->tunnels);
	free(c->proxy);
	free(c->client_id);
	free(c->token);
	free(c->agent);
	free(c);
}
