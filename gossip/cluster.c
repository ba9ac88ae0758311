#include "gossip/cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "keyring.h"
#include "gossip/nodemeta.h"
#include "gossip/repl.h"
#include "gossip/repldb.h"
#include "gossip/replmsg.h"
#include "gossip/swim.h"
#include "gossip/swimmsg.h"
#include "log.h"
#include "sock.h"

#define CLUSTER_UDP_BUF         65536
#define CLUSTER_RECV_BUDGET     64      /* datagrams per wake-up */
#define CLUSTER_PINGS           64      /* outstanding probes we time */
#define CLUSTER_PENDING_MAX     16      /* push-pulls queued by the core */
#define CLUSTER_SEEDS_MAX       32

enum pp_phase { PP_CONNECTING, PP_SENDING, PP_RECEIVING, PP_DONE };

struct pp_conn {
	struct cluster *c;
	struct pp_conn *prev, *next;
	int fd;
	bool initiator, join;
	bool repl;                      /* a replication pull, not a push-pull */
	enum pp_phase phase;
	ev_io io;
	ev_timer timer;
	uint8_t *out;                   /* frame being sent */
	size_t out_len, out_off;
	uint8_t hdr[4];
	size_t hdr_got;
	uint8_t *in;                    /* body being received */
	size_t in_len, in_got;
	char peer[64];
};

struct cl_member {
	char name[SWIMMSG_NAME_MAX + 1];
	uint8_t state;
	uint64_t changed_ms;
	uint32_t rtt_us;
	struct swimmsg_addr addr;
};

struct cl_ping {
	struct swimmsg_addr to;
	uint32_t seq;
	uint64_t t;
};

struct cluster {
	struct ev_loop *loop;
	struct cluster_conf conf;       /* strings borrowed from the caller */
	struct swim *swim;
	struct repl *repl;              /* NULL: no replication */
	struct keyring *kr;             /* NULL: plaintext */
	int udp_fd, tcp_fd;
	ev_io udp_io, tcp_io;
	ev_timer tick, join_timer;
	struct swimmsg_addr self;
	char self_text[64];
	uint8_t meta[SWIMMSG_META_MAX];
	size_t meta_len;
	struct nodemeta self_meta;
	uint64_t started_ms;
	bool joined, leaving, left, in_core;
	double join_backoff;
	struct swimmsg_addr pending[CLUSTER_PENDING_MAX];
	size_t npending;
	struct pp_conn *conns;
	int nconns;
	struct cl_member *members;
	size_t nmembers, cap_members;
	struct cl_ping pings[CLUSTER_PINGS];
	size_t ping_next;
	struct ipcmsg_gossip_stats st;
	uint8_t rbuf[CLUSTER_UDP_BUF], pbuf[CLUSTER_UDP_BUF];
	uint8_t sbuf[CLUSTER_UDP_BUF];  /* replication datagrams being sealed */
};

static uint64_t
cluster_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t
cluster_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
cluster_addr_text(const struct swimmsg_addr *a, char *out, size_t len)
{
	struct sock_addr sa;
	unsigned sl;

	if (swimmsg_addr_to_sockaddr(a, &sa.ss, &sl) != 0) {
		snprintf(out, len, "none");
		return;
	}
	sa.len = sl;
	sock_addr_format(&sa, out, len);
}

static const char *
cluster_state_name(uint8_t st)
{
	switch (st) {
	case MEMBER_ALIVE: return "alive";
	case MEMBER_SUSPECT: return "suspect";
	case MEMBER_DEAD: return "dead";
	default: return "left";
	}
}

static const char *const cluster_event_names[] = { "", "join", "alive",
	"suspect", "dead", "left", "meta" };

/* ---- the glue's member table ---- */

static struct cl_member *
cluster_member(struct cluster *c, const char *name, bool create)
{
	struct cl_member *m;
	size_t i;

	for (i = 0; i < c->nmembers; i++)
		if (strcmp(c->members[i].name, name) == 0)
			return &c->members[i];
	if (!create)
		return NULL;
	if (c->nmembers == c->cap_members) {
		size_t cap = c->cap_members ? c->cap_members * 2 : 16;

		if ((m = realloc(c->members, cap * sizeof(*m))) == NULL)
			return NULL;
		c->members = m;
		c->cap_members = cap;
	}
	m = &c->members[c->nmembers++];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->state = 0xff;
	return m;
}

/* Fills out (strings borrowed from bufs) from a core member. */
static void
cluster_to_ipc(struct cluster *c, const struct swim_member *sm,
    struct ipcmsg_member *out, struct nodemeta *meta, char *addr, size_t alen)
{
	struct cl_member *m = cluster_member(c, sm->name, false);

	if (nodemeta_decode(meta, sm->meta, sm->meta_len) != 0)
		c->st.drop_malformed++;
	cluster_addr_text(&sm->addr, addr, alen);
	memset(out, 0, sizeof(*out));
	out->state = (uint8_t)sm->state;
	out->name = (char *)sm->name;
	out->region = (char *)sm->region;
	out->addr = addr;
	out->http = meta->http;
	out->tunnel = meta->tunnel;
	out->version = meta->version;
	out->mesh = meta->mesh;
	out->repl = meta->repl;
	out->incarnation = sm->incarnation;
	if (m != NULL) {
		out->changed_ms = m->changed_ms;
		out->rtt_us = m->rtt_us;
	}
}

/* ---- core callbacks ---- */

static void
cluster_on_send(void *arg, const struct swimmsg_addr *to, const uint8_t *pkt,
    size_t len)
{
	struct cluster *c = arg;
	struct sockaddr_storage ss;
	struct swimmsg_reader r;
	struct swimmsg m;
	const uint8_t *wire = pkt;
	unsigned sl;
	int n;

	if (c->udp_fd < 0 || swimmsg_addr_to_sockaddr(to, &ss, &sl) != 0)
		return;
	/* time direct probes: a PING out, its ACK back from the same address */
	if (swimmsg_reader_init(&r, pkt, len) == SWIMMSG_OK &&
	    swimmsg_next(&r, &m) == SWIMMSG_OK && m.type == SWIMMSG_PING) {
		struct cl_ping *p = &c->pings[c->ping_next++ % CLUSTER_PINGS];

		p->to = *to;
		p->seq = m.seq;
		p->t = cluster_now();
	}
	if (c->kr != NULL) {
		n = keyring_seal(c->kr, pkt, len, c->pbuf, sizeof(c->pbuf));
		if (n < 0) {
			log_warn("gossip.seal", "err=\"%s\"", strerror(-n));
			return;
		}
		wire = c->pbuf;
		len = (size_t)n;
	}
	if (sendto(c->udp_fd, wire, len, 0, (struct sockaddr *)&ss, sl) == -1) {
		log_debug("gossip.send", "err=\"%s\"", strerror(errno));
		return;
	}
	c->st.udp_tx_packets++;
	c->st.udp_tx_bytes += len;
}

static void
cluster_on_event(void *arg, enum swim_event ev, const struct swim_member *sm)
{
	struct cluster *c = arg;
	struct cl_member *m;
	struct ipcmsg_member im;
	struct nodemeta meta;
	char addr[64];

	if ((m = cluster_member(c, sm->name, true)) != NULL) {
		if (m->state != (uint8_t)sm->state)
			m->changed_ms = cluster_wall_ms();
		m->state = (uint8_t)sm->state;
		m->addr = sm->addr;
	}
	cluster_to_ipc(c, sm, &im, &meta, addr, sizeof(addr));
	log_info(ev == SWIM_EV_DEAD || ev == SWIM_EV_SUSPECT ? "member.down" :
	    "member.up", "event=%s name=%s addr=%s region=%s state=%s "
	    "incarnation=%llu", cluster_event_names[ev], sm->name, addr,
	    sm->region, cluster_state_name(im.state),
	    (unsigned long long)sm->incarnation);
	if (c->conf.on_event != NULL)
		c->conf.on_event(c->conf.arg, (int)ev, &im);
}

static void
cluster_on_pushpull(void *arg, const struct swimmsg_addr *to, const char *name)
{
	struct cluster *c = arg;

	/* started after the core call returns (cluster_after) */
	if (c->npending < CLUSTER_PENDING_MAX)
		c->pending[c->npending++] = *to;
}

/* ---- replication agent callbacks ---- */

static void
cluster_repl_send(void *arg, const struct swimmsg_addr *to, const uint8_t *pkt,
    size_t len)
{
	struct cluster *c = arg;
	struct sockaddr_storage ss;
	const uint8_t *wire = pkt;
	unsigned sl;
	int n;

	if (c->udp_fd < 0 || c->left ||
	    swimmsg_addr_to_sockaddr(to, &ss, &sl) != 0)
		return;
	if (c->kr != NULL) {
		n = keyring_seal(c->kr, pkt, len, c->sbuf, sizeof(c->sbuf));
		if (n < 0)
			return;
		wire = c->sbuf;
		len = (size_t)n;
	}
	if (sendto(c->udp_fd, wire, len, 0, (struct sockaddr *)&ss, sl) == -1)
		return;
	c->st.udp_tx_packets++;
	c->st.udp_tx_bytes += len;
}

static size_t
cluster_repl_peers(void *arg, struct repl_peer *out, size_t max)
{
	struct cluster *c = arg;
	struct swim_member m;
	size_t i, n = 0, count = swim_member_count(c->swim);

	for (i = 0; i < count && n < max; i++) {
		if (swim_member_at(c->swim, i, &m) != 0 ||
		    (m.state != SWIM_ALIVE && m.state != SWIM_SUSPECT))
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", m.name);
		out[n].addr = m.addr;
		n++;
	}
	return n;
}

static int pp_start_with(struct cluster *c, const struct swimmsg_addr *to,
    bool join, const uint8_t *req, size_t rlen);

static void
cluster_repl_sync(void *arg, const struct swimmsg_addr *to, const uint8_t *req,
    size_t len)
{
	struct cluster *c = arg;

	if (c->left || pp_start_with(c, to, false, req, len) != 0)
		repl_sync_failed(c->repl, cluster_now());
}

static void
cluster_repl_changed(void *arg)
{
	struct cluster *c = arg;

	if (c->conf.on_db_changed != NULL)
		c->conf.on_db_changed(c->conf.arg);
}

/* ---- push-pull over TCP ---- */

static void pp_start(struct cluster *c, const struct swimmsg_addr *to, bool join);

static void
pp_close(struct pp_conn *p)
{
	struct cluster *c = p->c;

	ev_io_stop(c->loop, &p->io);
	ev_timer_stop(c->loop, &p->timer);
	if (p->fd >= 0)
		close(p->fd);
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		c->conns = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	c->nconns--;
	free(p->out);
	free(p->in);
	free(p);
}

static void
pp_fail(struct pp_conn *p, const char *why)
{
	log_debug("pushpull.fail", "peer=%s initiator=%d repl=%d err=\"%s\"",
	    p->peer, p->initiator, p->repl, why);
	if (p->repl && p->initiator && p->c->repl != NULL)
		repl_sync_failed(p->c->repl, cluster_now());
	pp_close(p);
}

/* Seals plaintext `state` (consumed) into p->out as one frame. Returns 0
 * or -errno. */
static int
pp_seal(struct pp_conn *p, uint8_t *state, size_t slen)
{
	struct cluster *c = p->c;
	size_t blen;
	int n;

	blen = c->kr != NULL ? slen + KEYRING_OVERHEAD : slen;
	if (blen > CLUSTER_FRAME_MAX) {
		free(state);
		return -EMSGSIZE;
	}
	if ((p->out = malloc(4 + blen)) == NULL) {
		free(state);
		return -ENOMEM;
	}
	if (c->kr != NULL) {
		n = keyring_seal(c->kr, state, slen, p->out + 4, blen);
		free(state);
		if (n < 0)
			return n;
		blen = (size_t)n;
	} else {
		memcpy(p->out + 4, state, slen);
		free(state);
	}
	p->out[0] = (uint8_t)blen;
	p->out[1] = (uint8_t)(blen >> 8);
	p->out[2] = (uint8_t)(blen >> 16);
	p->out[3] = (uint8_t)(blen >> 24);
	p->out_len = 4 + blen;
	p->out_off = 0;
	c->st.tcp_tx_bytes += p->out_len;
	return 0;
}

/* Builds our state frame into p->out. Returns 0 or -errno. */
static int
pp_frame(struct pp_conn *p)
{
	uint8_t *state = NULL;
	size_t slen;

	if (swim_state_encode(p->c->swim, p->join, &state, &slen) != 0)
		return -ENOMEM;
	return pp_seal(p, state, slen);
}

static void
pp_set_io(struct pp_conn *p, int events)
{
	ev_io_stop(p->c->loop, &p->io);
	ev_io_set(&p->io, p->fd, events);
	ev_io_start(p->c->loop, &p->io);
}

static void cluster_after(struct cluster *c);

/* The peer's whole frame is in p->in: open it in place. Returns 0 with
 * *plain / *plen (inside p->in), or -errno (counted). */
static int
pp_open(struct pp_conn *p, uint8_t **plain, size_t *plen)
{
	struct cluster *c = p->c;
	int n;

	*plain = p->in;
	*plen = p->in_len;
	if (c->kr == NULL)
		return 0;
	/* the plaintext is shorter than the sealed frame: open into a copy */
	{
		uint8_t *out = malloc(p->in_len);

		if (out == NULL)
			return -ENOMEM;
		n = keyring_open(c->kr, p->in, p->in_len, out, p->in_len);
		if (n < 0) {
			free(out);
			if (n == -ENOKEY)
				c->st.drop_unknown_key++;
			else if (n == -EBADMSG)
				c->st.drop_auth++;
			else
				c->st.drop_malformed++;
			return n;
		}
		free(p->in);
		p->in = out;
		p->in_len = (size_t)n;
		*plain = out;
		*plen = (size_t)n;
	}
	return 0;
}

/* Handles the peer's opened frame: a SWIM state is merged (a responder
 * then frames its own); a replication request is answered; the answer to
 * our pull goes to the agent. Returns 0, or -errno (nothing to send). */
static int
pp_handle(struct pp_conn *p)
{
	struct cluster *c = p->c;
	uint8_t *plain, *ans;
	size_t plen, alen;
	int rc;

	if ((rc = pp_open(p, &plain, &plen)) != 0)
		return rc;
	if (c->left)
		return -ESHUTDOWN;
	if (replmsg_is(plain, plen)) {
		if (c->repl == NULL)
			return -EPROTONOSUPPORT;
		if (p->initiator) {
			/* the agent takes the buffer */
			p->in = NULL;
			return repl_sync_done(c->repl, cluster_now(), plain, plen);
		}
		if ((rc = repl_serve(c->repl, plain, plen, &ans, &alen)) != 0) {
			c->st.drop_malformed++;
			return rc;
		}
		return pp_seal(p, ans, alen);
	}
	if (p->repl)
		return -EPROTO;
	c->in_core = true;
	rc = swim_state_merge(c->swim, cluster_now(), plain, plen);
	c->in_core = false;
	if (rc != 0) {
		c->st.drop_malformed++;
		return rc;
	}
	return p->initiator ? 0 : pp_frame(p);
}

/* Reads what is there. Returns 1 when the frame is complete, 0 for more,
 * -errno on error or EOF. */
static int
pp_read(struct pp_conn *p)
{
	ssize_t n;

	for (;;) {
		if (p->hdr_got < 4) {
			n = read(p->fd, p->hdr + p->hdr_got, 4 - p->hdr_got);
		} else {
			if (p->in == NULL) {
				p->in_len = (size_t)p->hdr[0] | (size_t)p->hdr[1] << 8 |
				    (size_t)p->hdr[2] << 16 | (size_t)p->hdr[3] << 24;
				if (p->in_len == 0 || p->in_len > CLUSTER_FRAME_MAX)
					return -EMSGSIZE;
				if ((p->in = malloc(p->in_len)) == NULL)
					return -ENOMEM;
			}
			if (p->in_got == p->in_len)
				return 1;
			n = read(p->fd, p->in + p->in_got, p->in_len - p->in_got);
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p->c->st.tcp_rx_bytes += (size_t)n;
		if (p->hdr_got < 4)
			p->hdr_got += (size_t)n;
		else
			p->in_got += (size_t)n;
	}
}

/* Writes what it can. Returns 1 when all is sent, 0 for more, -errno. */
static int
pp_write(struct pp_conn *p)
{
	ssize_t n;

	while (p->out_off < p->out_len) {
		n = write(p->fd, p->out + p->out_off, p->out_len - p->out_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return n == 0 ? -EIO : -errno;
		p->out_off += (size_t)n;
	}
	return 1;
}

static void
pp_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pp_conn *p = w->data;
	struct cluster *c = p->c;
	int rc;

	if (p->phase == PP_CONNECTING) {
		if ((rc = sock_connect_result(p->fd)) != 0) {
			pp_fail(p, strerror(-rc));
			return;
		}
		p->phase = PP_SENDING;
	}
	if (p->phase == PP_SENDING) {
		if ((rc = pp_write(p)) < 0) {
			pp_fail(p, strerror(-rc));
			return;
		}
		if (rc == 0) {
			pp_set_io(p, EV_WRITE);
			return;
		}
		if (!p->initiator) {
			/* responder: our answer is out */
			shutdown(p->fd, SHUT_WR);
			pp_close(p);
			return;
		}
		p->phase = PP_RECEIVING;
		pp_set_io(p, EV_READ);
		return;
	}
	if (p->phase == PP_RECEIVING) {
		if ((rc = pp_read(p)) < 0) {
			pp_fail(p, strerror(-rc));
			return;
		}
		if (rc == 0)
			return;
		if ((rc = pp_handle(p)) != 0) {
			log_info("pushpull.rejected", "peer=%s repl=%d err=\"%s\"",
			    p->peer, p->repl, rc == -ENOKEY ? "sealed under a key we "
			    "do not hold" : rc == -EBADMSG ? "failed authentication" :
			    "malformed state");
			pp_fail(p, "rejected");
			cluster_after(c);
			return;
		}
		if (p->initiator) {
			if (p->join && !c->joined) {
				c->joined = true;
				log_info("gossip.joined", "peer=%s members=%zu", p->peer,
				    swim_alive_count(c->swim));
			}
			pp_close(p);
			cluster_after(c);
			return;
		}
		p->phase = PP_SENDING;
		cluster_after(c);
		pp_on_io(loop, w, EV_WRITE);
	}
}

static void
pp_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	pp_fail(w->data, "timed out");
}

static struct pp_conn *
pp_new(struct cluster *c, int fd, bool initiator)
{
	struct pp_conn *p;

	if (c->nconns >= CLUSTER_PP_MAX || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->c = c;
	p->fd = fd;
	p->initiator = initiator;
	ev_io_init(&p->io, pp_on_io, fd, EV_READ);
	ev_timer_init(&p->timer, pp_on_timeout, CLUSTER_PP_TIMEOUT, 0.);
	p->io.data = p->timer.data = p;
	p->next = c->conns;
	if (c->conns != NULL)
		c->conns->prev = p;
	c->conns = p;
	c->nconns++;
	ev_timer_start(c->loop, &p->timer);
	return p;
}

/* Connects to `to` and sends our state (req == NULL) or a copy of the
 * replication request req. Returns 0 or -errno. */
static int
pp_start_with(struct cluster *c, const struct swimmsg_addr *to, bool join,
    const uint8_t *req, size_t rlen)
{
	struct sock_addr sa;
	struct pp_conn *p;
	uint8_t *copy;
	unsigned sl;
	int fd, rc;

	if (swimmsg_addr_to_sockaddr(to, &sa.ss, &sl) != 0)
		return -EAFNOSUPPORT;
	sa.len = sl;
	if ((fd = sock_connect(&sa)) < 0)
		return fd;
	if ((p = pp_new(c, fd, true)) == NULL) {
		close(fd);
		return -EBUSY;
	}
	p->join = join;
	p->repl = req != NULL;
	sock_addr_format(&sa, p->peer, sizeof(p->peer));
	if (req != NULL) {
		if ((copy = malloc(rlen)) == NULL) {
			pp_fail(p, "out of memory");
			return -ENOMEM;
		}
		memcpy(copy, req, rlen);
		rc = pp_seal(p, copy, rlen);
	} else {
		rc = pp_frame(p);
	}
	if (rc != 0) {
		pp_fail(p, strerror(-rc));
		return rc;
	}
	p->phase = PP_CONNECTING;
	pp_set_io(p, EV_WRITE);
	return 0;
}

static void
pp_start(struct cluster *c, const struct swimmsg_addr *to, bool join)
{
	pp_start_with(c, to, join, NULL, 0);
}

static void
cluster_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cluster *c = w->data;
	struct pp_conn *p;
	int fd, budget = 16;

	while (budget-- > 0) {
		fd = accept4(c->tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return;
		if (c->left || (p = pp_new(c, fd, false)) == NULL) {
			close(fd);
			continue;
		}
		sock_peer_format(fd, p->peer, sizeof(p->peer));
		p->phase = PP_RECEIVING;
		pp_set_io(p, EV_READ);
	}
}

/* ---- driving the core ---- */

static void
cluster_close_sockets(struct cluster *c)
{
	ev_io_stop(c->loop, &c->udp_io);
	ev_io_stop(c->loop, &c->tcp_io);
	ev_timer_stop(c->loop, &c->tick);
	ev_timer_stop(c->loop, &c->join_timer);
	while (c->conns != NULL)
		pp_close(c->conns);
	if (c->udp_fd >= 0)
		close(c->udp_fd);
	if (c->tcp_fd >= 0)
		close(c->tcp_fd);
	c->udp_fd = c->tcp_fd = -1;
}

static void
cluster_finish_leave(struct cluster *c)
{
	c->left = true;
	log_info("gossip.left", "addr=%s", c->self_text);
	cluster_close_sockets(c);
}

/* After every call into the core: start the push-pulls it asked for and
 * re-arm the timer at its next deadline. */
static void
cluster_after(struct cluster *c)
{
	struct swimmsg_addr todo[CLUSTER_PENDING_MAX];
	uint64_t now, dl;
	size_t i, n;

	if (c->left || c->in_core)
		return;
	n = c->npending;
	memcpy(todo, c->pending, n * sizeof(todo[0]));
	c->npending = 0;
	for (i = 0; i < n; i++)
		pp_start(c, &todo[i], false);
	if (c->leaving && (swim_leave_done(c->swim) ||
	    swim_alive_count(c->swim) == 0)) {
		cluster_finish_leave(c);
		return;
	}
	now = cluster_now();
	dl = swim_next_deadline(c->swim);
	if (c->repl != NULL && repl_next_deadline(c->repl) < dl)
		dl = repl_next_deadline(c->repl);
	ev_timer_stop(c->loop, &c->tick);
	ev_timer_set(&c->tick, dl > now ? (double)(dl - now) / 1e6 : 0., 0.);
	ev_timer_start(c->loop, &c->tick);
}

static void
cluster_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cluster *c = w->data;

	c->in_core = true;
	swim_tick(c->swim, cluster_now());
	c->in_core = false;
	if (c->repl != NULL && !c->left)
		repl_tick(c->repl, cluster_now(), cluster_wall_ms());
	cluster_after(c);
}

static void
cluster_rtt(struct cluster *c, const struct swimmsg_addr *from,
    const uint8_t *pkt, size_t len)
{
	struct swimmsg_reader r;
	struct swimmsg m;
	size_t i, j;

	if (swimmsg_reader_init(&r, pkt, len) != SWIMMSG_OK ||
	    swimmsg_next(&r, &m) != SWIMMSG_OK || m.type != SWIMMSG_ACK)
		return;
	for (i = 0; i < CLUSTER_PINGS; i++) {
		struct cl_ping *p = &c->pings[i];

		if (p->t == 0 || p->seq != m.seq || !swimmsg_addr_eq(&p->to, from))
			continue;
		for (j = 0; j < c->nmembers; j++)
			if (swimmsg_addr_eq(&c->members[j].addr, from))
				c->members[j].rtt_us = (uint32_t)(cluster_now() - p->t);
		p->t = 0;
		return;
	}
}

static void
cluster_on_udp(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cluster *c = w->data;
	struct sockaddr_storage ss;
	struct swimmsg_addr from;
	socklen_t sl;
	const uint8_t *pkt;
	ssize_t n;
	int k, budget;

	for (budget = 0; budget < CLUSTER_RECV_BUDGET && !c->left; budget++) {
		sl = sizeof(ss);
		n = recvfrom(c->udp_fd, c->rbuf, sizeof(c->rbuf), 0,
		    (struct sockaddr *)&ss, &sl);
		if (n == -1)
			break;
		c->st.udp_rx_packets++;
		c->st.udp_rx_bytes += (size_t)n;
		if (swimmsg_addr_from_sockaddr(&from, (struct sockaddr *)&ss) != 0)
			continue;
		pkt = c->rbuf;
		if (c->kr != NULL) {
			k = keyring_open(c->kr, c->rbuf, (size_t)n, c->pbuf,
			    sizeof(c->pbuf));
			if (k < 0) {
				if (k == -ENOKEY)
					c->st.drop_unknown_key++;
				else if (k == -EBADMSG)
					c->st.drop_auth++;
				else
					c->st.drop_malformed++;
				continue;
			}
			pkt = c->pbuf;
			n = k;
		}
		if (replmsg_is(pkt, (size_t)n)) {
			if (c->repl != NULL && repl_recv(c->repl, cluster_now(),
			    cluster_wall_ms(), &from, pkt, (size_t)n) == -EINVAL)
				c->st.drop_malformed++;
			continue;
		}
		cluster_rtt(c, &from, pkt, (size_t)n);
		c->in_core = true;
		if (swim_recv(c->swim, cluster_now(), &from, pkt, (size_t)n) != 0)
			c->st.drop_malformed++;
		c->in_core = false;
	}
	cluster_after(c);
}

/* ---- joining ---- */

/* Splits "host:port", "[v6]:port" or "host" into host and port. */
static int
cluster_split(const char *item, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon, *end;

	if (item[0] == '[') {
		if ((end = strchr(item, ']')) == NULL)
			return -EINVAL;
		snprintf(host, hlen, "%.*s", (int)(end - item - 1), item + 1);
		if (end[1] == ':')
			snprintf(port, plen, "%s", end + 2);
		else if (end[1] == '\0')
			snprintf(port, plen, "%d", CLUSTER_DEFAULT_PORT);
		else
			return -EINVAL;
		return 0;
	}
	colon = strrchr(item, ':');
	if (colon != NULL && strchr(item, ':') == colon) {
		snprintf(host, hlen, "%.*s", (int)(colon - item), item);
		snprintf(port, plen, "%s", colon + 1);
	} else {
		snprintf(host, hlen, "%s", item);
		snprintf(port, plen, "%d", CLUSTER_DEFAULT_PORT);
	}
	return host[0] != '\0' && port[0] != '\0' ? 0 : -EINVAL;
}

/* Resolves every seed (a name may give several addresses) and starts a
 * join push-pull with each that is not us. Returns how many started. */
static int
cluster_join_round(struct cluster *c)
{
	char *list, *item, *save = NULL, host[256], port[16];
	struct addrinfo hints, *res, *ai;
	struct swimmsg_addr a;
	int started = 0, rc;

	if ((list = strdup(c->conf.join)) == NULL)
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_family = c->self.family == 6 ? AF_INET6 : AF_INET;
	for (item = strtok_r(list, ", ", &save); item != NULL;
	    item = strtok_r(NULL, ", ", &save)) {
		if (cluster_split(item, host, sizeof(host), port, sizeof(port)) != 0) {
			log_warn("gossip.join", "seed=%s err=\"not HOST[:PORT]\"", item);
			continue;
		}
		/* blocking, but only at start and on join retries */
		if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
			log_warn("gossip.join", "seed=%s err=\"cannot resolve: %s\"",
			    item, gai_strerror(rc));
			continue;
		}
		for (ai = res; ai != NULL && started < CLUSTER_SEEDS_MAX;
		    ai = ai->ai_next) {
			if (swimmsg_addr_from_sockaddr(&a, ai->ai_addr) != 0 ||
			    swimmsg_addr_eq(&a, &c->self))
				continue;
			pp_start(c, &a, true);
			started++;
		}
		freeaddrinfo(res);
	}
	free(list);
	return started;
}

static void
cluster_on_join_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cluster *c = w->data;
	int n;

	if (c->joined || c->leaving || swim_alive_count(c->swim) > 0) {
		c->joined = true;
		return;
	}
	n = cluster_join_round(c);
	if (n == 0) {
		/* only ourselves in the list: we are the first member */
		log_info("gossip.join", "seeds=\"%s\" err=\"no other seed to join\"",
		    c->conf.join);
		c->joined = true;
		return;
	}
	log_info("gossip.join", "seeds=\"%s\" attempts=%d retry_s=%.0f",
	    c->conf.join, n, c->join_backoff);
	ev_timer_set(w, c->join_backoff, 0.);
	ev_timer_start(loop, w);
	c->join_backoff = c->join_backoff * 2 > CLUSTER_JOIN_MAX_BACKOFF ?
	    CLUSTER_JOIN_MAX_BACKOFF : c->join_backoff * 2;
}

/* ---- setup ---- */

static bool
cluster_is_loopback(const struct swimmsg_addr *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	if (a->family == 4)
		return a->ip[0] == 127;
	return a->family == 6 && memcmp(a->ip, v6lo, 16) == 0;
}

static bool
cluster_is_any(const struct swimmsg_addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, a->family == 4 ? 4 : 16) == 0;
}

/* max(unix ms, last + 1), written back so it grows across restarts even if
 * the clock steps back. */
static uint64_t
cluster_incarnation(const char *path)
{
	unsigned long long last = 0;
	uint64_t inc = cluster_wall_ms();
	char tmp[4096];
	FILE *f;

	if (path == NULL || path[0] == '\0')
		return inc;
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%llu", &last) != 1)
			last = 0;
		fclose(f);
	}
	if (last >= inc)
		inc = last + 1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) != NULL) {
		fprintf(f, "%llu\n", (unsigned long long)inc);
		if (fclose(f) == 0)
			rename(tmp, path);
	}
	return inc;
}

static int
cluster_bind(struct cluster *c, const char *listen, char *err, size_t errlen)
{
	struct sock_addr sa, ta;
	int fd, tries;

	if (sock_addr_parse(&sa, listen, "127.0.0.1") != 0) {
		snprintf(err, errlen, "--gossip-listen '%s' is not IP:PORT", listen);
		return -EINVAL;
	}
	if (swimmsg_addr_from_sockaddr(&c->self, (struct sockaddr *)&sa.ss) != 0 ||
	    cluster_is_any(&c->self)) {
		snprintf(err, errlen, "--gossip-listen '%s' must be the address other "
		    "nodes reach this one at (the mesh address), not a wildcard",
		    listen);
		return -EINVAL;
	}
	for (tries = 0; tries < 16; tries++) {
		ta = sa;
		fd = socket(sa.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			return -errno;
		if (bind(fd, (struct sockaddr *)&ta.ss, ta.len) == -1 ||
		    getsockname(fd, (struct sockaddr *)&ta.ss, &ta.len) == -1) {
			int e = errno;

			close(fd);
			snprintf(err, errlen, "cannot bind UDP %s: %s", listen,
			    strerror(e));
			return -e;
		}
		c->udp_fd = fd;
		/* TCP on the same port (the kernel's pick when port 0) */
		if ((c->tcp_fd = sock_listen(&ta, 64)) >= 0)
			break;
		close(fd);
		c->udp_fd = -1;
		if (sock_addr_port(&sa) != 0) {
			snprintf(err, errlen, "cannot listen on TCP %s: %s", listen,
			    strerror(-c->tcp_fd));
			return c->tcp_fd;
		}
	}
	if (c->udp_fd < 0 || c->tcp_fd < 0) {
		snprintf(err, errlen, "cannot find a port free for both UDP and "
		    "TCP on %s", listen);
		return -EADDRINUSE;
	}
	setsockopt(c->udp_fd, SOL_SOCKET, SO_RCVBUF, &(int){ 1 << 20 }, sizeof(int));
	swimmsg_addr_from_sockaddr(&c->self, (struct sockaddr *)&ta.ss);
	sock_addr_format(&ta, c->self_text, sizeof(c->self_text));
	return 0;
}

static int
cluster_load_keys(struct cluster *c, struct keyring **out, char *err,
    size_t errlen)
{
	unsigned bad = 0;
	int rc;

	rc = keyring_load(out, c->conf.key_file, &bad);
	if (rc == 0)
		return (int)keyring_count(*out);
	if (rc == -EINVAL && bad > 0)
		snprintf(err, errlen, "cluster key file %s: line %u is not a "
		    "base64-encoded 32-byte key (make one with: head -c 32 "
		    "/dev/urandom | base64)", c->conf.key_file, bad);
	else if (rc == -EINVAL)
		snprintf(err, errlen, "cluster key file %s holds no key",
		    c->conf.key_file);
	else if (rc == -ENOSPC)
		snprintf(err, errlen, "cluster key file %s holds more than %d keys",
		    c->conf.key_file, KEYRING_MAX_KEYS);
	else
		snprintf(err, errlen, "cannot read cluster key file %s: %s",
		    c->conf.key_file, strerror(-rc));
	return rc;
}

int
cluster_new(struct cluster **out, struct ev_loop *loop,
    const struct cluster_conf *conf, char *err, size_t errlen)
{
	struct swim_config cfg;
	struct swim_io io;
	struct cluster *c;
	uint64_t seed;
	int rc, n;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->loop = loop;
	c->conf = *conf;
	c->udp_fd = c->tcp_fd = -1;
	ev_timer_init(&c->tick, cluster_on_tick, 0., 0.);
	ev_timer_init(&c->join_timer, cluster_on_join_timer, 0., 0.);
	c->tick.data = c->join_timer.data = c;
	ev_io_init(&c->udp_io, cluster_on_udp, 0, EV_READ);
	ev_io_init(&c->tcp_io, cluster_on_accept, 0, EV_READ);
	c->udp_io.data = c->tcp_io.data = c;

	if (strcmp(conf->profile, "lan") == 0)
		swim_config_lan(&cfg);
	else if (strcmp(conf->profile, "wan") == 0)
		swim_config_wan(&cfg);
	else {
		snprintf(err, errlen, "--gossip-profile must be lan or wan, not '%s'",
		    conf->profile);
		rc = -EINVAL;
		goto fail;
	}
	if (conf->probe_interval_ms > 0)
		cfg.probe_interval_ms = (unsigned)conf->probe_interval_ms;
	if (conf->probe_timeout_ms > 0)
		cfg.probe_timeout_ms = (unsigned)conf->probe_timeout_ms;
	if (conf->gossip_interval_ms > 0)
		cfg.gossip_interval_ms = (unsigned)conf->gossip_interval_ms;
	if (conf->suspicion_mult > 0)
		cfg.suspicion_mult = (unsigned)conf->suspicion_mult;
	if (cfg.probe_timeout_ms >= cfg.probe_interval_ms) {
		snprintf(err, errlen, "the gossip probe timeout (%u ms) must be "
		    "shorter than the probe interval (%u ms)", cfg.probe_timeout_ms,
		    cfg.probe_interval_ms);
		rc = -EINVAL;
		goto fail;
	}
	/* reconnect to dead members at least as often as they could come back */
	if (cfg.reconnect_interval_ms > 4 * cfg.probe_interval_ms)
		cfg.reconnect_interval_ms = 4 * cfg.probe_interval_ms > 1000 ?
		    4 * cfg.probe_interval_ms : 1000;
	if ((rc = cluster_bind(c, conf->listen, err, errlen)) != 0)
		goto fail;
	if (conf->key_file[0] != '\0') {
		if ((n = cluster_load_keys(c, &c->kr, err, errlen)) < 0) {
			rc = n;
			goto fail;
		}
		log_info("gossip.keys", "file=%s keys=%d", conf->key_file, n);
	} else if (!cluster_is_loopback(&c->self)) {
		snprintf(err, errlen, "gossip on %s would travel in plaintext: give "
		    "--cluster-key-file (plaintext is allowed on loopback only)",
		    c->self_text);
		rc = -EPERM;
		goto fail;
	} else {
		log_warn("gossip.plaintext", "addr=%s note=\"no --cluster-key-file: "
		    "packets are not authenticated (loopback only)\"", c->self_text);
	}

	snprintf(c->self_meta.http, sizeof(c->self_meta.http), "%s",
	    conf->http != NULL ? conf->http : "");
	snprintf(c->self_meta.tunnel, sizeof(c->self_meta.tunnel), "%s",
	    conf->tunnel != NULL ? conf->tunnel : "");
	snprintf(c->self_meta.version, sizeof(c->self_meta.version), "%s",
	    conf->version != NULL ? conf->version : "");
	snprintf(c->self_meta.mesh, sizeof(c->self_meta.mesh), "%s",
	    conf->mesh != NULL ? conf->mesh : "");
	if ((n = nodemeta_encode(&c->self_meta, c->meta, sizeof(c->meta))) < 0) {
		snprintf(err, errlen, "node metadata too long");
		rc = n;
		goto fail;
	}
	c->meta_len = (size_t)n;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = cluster_now() ^ ((uint64_t)getpid() << 32);
	cfg.name = conf->name;
	cfg.region = conf->region;
	cfg.addr = c->self;
	cfg.meta = c->meta;
	cfg.meta_len = c->meta_len;
	cfg.incarnation = cluster_incarnation(conf->incarnation_file);
	cfg.seed = seed;
	io.arg = c;
	io.send = cluster_on_send;
	io.event = cluster_on_event;
	io.pushpull = cluster_on_pushpull;
	if ((rc = swim_new(&c->swim, &cfg, &io, cluster_now())) != 0) {
		snprintf(err, errlen, "bad gossip settings (name 1..%d bytes, region "
		    "up to %d)", SWIMMSG_NAME_MAX, SWIMMSG_REGION_MAX);
		goto fail;
	}
	if (conf->repldb != NULL) {
		struct repl_config rc_cfg;
		struct repl_io rio = { c, cluster_repl_send, cluster_repl_peers,
			cluster_repl_sync, cluster_repl_changed };

		if (conf->repl != NULL)
			rc_cfg = *conf->repl;
		else
			repl_config_default(&rc_cfg);
		rc_cfg.seed = seed ^ 0x5bd1e995u;
		/* what a sealed datagram leaves room for */
		rc_cfg.max_packet = SWIMMSG_PACKET_MAX;
		if ((rc = repl_new(&c->repl, &rc_cfg, &rio, conf->repldb,
		    cluster_now())) != 0) {
			snprintf(err, errlen, "bad replication settings");
			goto fail;
		}
	}
	c->started_ms = cluster_wall_ms();
	ev_io_set(&c->udp_io, c->udp_fd, EV_READ);
	ev_io_set(&c->tcp_io, c->tcp_fd, EV_READ);
	ev_io_start(loop, &c->udp_io);
	ev_io_start(loop, &c->tcp_io);
	log_info("gossip.listen", "addr=%s profile=%s probe_ms=%u incarnation=%llu "
	    "encrypted=%d", c->self_text, conf->profile, cfg.probe_interval_ms,
	    (unsigned long long)cfg.incarnation, c->kr != NULL);
	c->join_backoff = 1.0;
	if (conf->join[0] != '\0') {
		ev_timer_set(&c->join_timer, 0., 0.);
		ev_timer_start(loop, &c->join_timer);
	} else {
		c->joined = true;
	}
	cluster_after(c);
	*out = c;
	return 0;
fail:
	cluster_free(c);
	return rc;
}

void
cluster_free(struct cluster *c)
{
	if (c == NULL)
		return;
	cluster_close_sockets(c);
	repl_free(c->repl);
	swim_free(c->swim);
	keyring_free(c->kr);
	free(c->members);
	free(c);
}

int
cluster_repl_local(struct cluster *c)
{
	int rc;

	if (c->repl == NULL || c->left)
		return 0;
	rc = repl_local(c->repl, cluster_now(), cluster_wall_ms());
	cluster_after(c);
	return rc;
}

struct repl *
cluster_repl(const struct cluster *c)
{
	return c->repl;
}

int
cluster_set_repl_summary(struct cluster *c, const char *summary)
{
	struct nodemeta m = c->self_meta;
	uint8_t buf[SWIMMSG_META_MAX];
	int n, rc;

	if (c->left || strcmp(summary, c->self_meta.repl) == 0)
		return 0;
	snprintf(m.repl, sizeof(m.repl), "%s", summary);
	if ((n = nodemeta_encode(&m, buf, sizeof(buf))) < 0)
		return n;
	c->in_core = true;
	rc = swim_set_meta(c->swim, cluster_now(), c->conf.region, buf, (size_t)n);
	c->in_core = false;
	if (rc == 0) {
		c->self_meta = m;
		memcpy(c->meta, buf, (size_t)n);
		c->meta_len = (size_t)n;
	}
	cluster_after(c);
	return rc;
}

int
cluster_leave(struct cluster *c)
{
	if (c->leaving)
		return -EALREADY;
	c->leaving = true;
	ev_timer_stop(c->loop, &c->join_timer);
	log_info("gossip.leave", "members=%zu", swim_alive_count(c->swim));
	c->in_core = true;
	swim_leave(c->swim, cluster_now());
	c->in_core = false;
	cluster_after(c);
	return 0;
}

bool
cluster_left(const struct cluster *c)
{
	return c->left;
}

int
cluster_keys_reload(struct cluster *c, char *err, size_t errlen)
{
	struct keyring *kr = NULL;
	int n;

	if (c->conf.key_file[0] == '\0') {
		snprintf(err, errlen, "this node runs without --cluster-key-file: "
		    "there is no key file to reload");
		return -ENOENT;
	}
	if ((n = cluster_load_keys(c, &kr, err, errlen)) < 0)
		return n;
	/* drop counters survive the swap in our own stats */
	keyring_free(c->kr);
	c->kr = kr;
	log_info("gossip.keys", "file=%s keys=%d reloaded=1", c->conf.key_file, n);
	if (!c->joined && !c->leaving && c->conf.join[0] != '\0') {
		/* the seeds may have refused our old key: try them now */
		c->join_backoff = 1.0;
		ev_timer_stop(c->loop, &c->join_timer);
		ev_timer_set(&c->join_timer, 0., 0.);
		ev_timer_start(c->loop, &c->join_timer);
	}
	return n;
}

int
cluster_snapshot(struct cluster *c, struct ipcmsg_members *out)
{
	struct swim_member sm;
	struct ipcmsg_member im;
	struct nodemeta meta;
	char addr[64];
	size_t i, n = swim_member_count(c->swim);

	out->n = 0;
	if ((out->members = calloc(n + 1, sizeof(*out->members))) == NULL)
		return -ENOMEM;
	if (swim_member_find(c->swim, c->conf.name, &sm) == 0) {
		cluster_to_ipc(c, &sm, &im, &meta, addr, sizeof(addr));
		im.self = 1;
		if (c->left || c->leaving)
			im.state = MEMBER_LEFT;
		im.changed_ms = c->started_ms;
		if (ipcmsg_member_copy(&out->members[out->n], &im) != 0)
			return -ENOMEM;
		out->n++;
	}
	for (i = 0; i < n; i++) {
		if (swim_member_at(c->swim, i, &sm) != 0)
			continue;
		cluster_to_ipc(c, &sm, &im, &meta, addr, sizeof(addr));
		if (ipcmsg_member_copy(&out->members[out->n], &im) != 0)
			return -ENOMEM;
		out->n++;
	}
	return 0;
}

void
cluster_stats(const struct cluster *c, struct ipcmsg_gossip_stats *st)
{
	*st = c->st;
}

const char *
cluster_addr(const struct cluster *c)
{
	return c->self_text;
}
