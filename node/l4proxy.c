#include "l4proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cidr.h"
#include "evio.h"
#include "geoip.h"
#include "ipcmsg.h"
#include "ipcount.h"
#include "lbbind.h"
#include "lblisten.h"
#include "lbmsg.h"
#include "lbset.h"
#include "log.h"
#include "nodeconf.h"
#include "proxyproto.h"
#include "regionmap.h"
#include "sock.h"
#include "spipe.h"

#define L4_SCRATCH              (64u * 1024)    /* one read, shared */
#define L4_PEND_MAX             (64u * 1024)    /* unwritten bytes per direction */
#define L4_READS_PER_EVENT      4               /* fairness between connections */
#define L4_TRIES                8               /* dials per connection */
#define L4_PROXY_POLL           0.01            /* s between peeks at a header */
#define L4_TOP                  32              /* backends with their own series */
#define L4_APPS_MAX             256             /* apps reached by Host or SNI */

/* an app's connections: from its listeners and handed over by name */
struct l4listen {
	struct l4proxy *p;
	char app[LBSET_NAME_MAX + 1];
	uint64_t key;
};

enum l4_state { L4_HEADER = 1, L4_DIAL, L4_RELAY };

struct l4dir {
	struct buf pend;                /* read, not yet written (copy path) */
	struct spipe pipe;              /* spliced, not yet written (bulk) */
	bool bulk;                      /* reads fill the scratch: splice */
	bool eof;                       /* the source said FIN */
	bool shut;                      /* FIN passed on */
};

/* bytes read from one side and not yet written to the other */
static size_t
l4dir_pending(const struct l4dir *d)
{
	return buf_len(&d->pend) + d->pipe.len;
}

struct l4conn {
	struct l4conn *prev, *next;
	struct l4proxy *p;
	struct l4listen *l;
	enum l4_state state;
	int cfd, bfd;
	ev_io cio, bio;
	ev_timer timer;
	double started, last_active;
	struct sockaddr_storage peer;
	uint8_t key[16];                /* the client's address for bindings */
	bool counted;                   /* in the per-address count */
	struct lbpick_where where;
	struct lbset_backend *b;        /* picked (counted, referenced) */
	unsigned tries;
	struct l4dir up, down;          /* client -> backend, backend -> client */
};

struct l4proxy {
	struct ev_loop *loop;
	struct l4proxy_conf c;
	struct lbset *set;
	struct geoip *geoip;
	struct regionmap map;
	struct lbpick_where local;
	struct lblisten *listen;        /* --lb-listen */
	struct l4listen *apps[L4_APPS_MAX];     /* by app name */
	size_t napps;
	uint64_t adopted;
	ev_timer gc;
	struct l4conn *conns;
	size_t nconns;
	struct lbmsg backends;          /* the router's last set */
	struct lbmsg_cand *reps;        /* the route table's replicas */
	size_t nreps;
	uint64_t to_replica;            /* connections handed to a replica */
	uint8_t scratch[L4_SCRATCH];
	/* counters */
	uint64_t accepted, refused, proxy_errors, bytes_up, bytes_down;
	uint64_t dial_timeouts;
	/* /metrics names, rebuilt by l4proxy_stats */
	char names[L4_TOP * 3][4 * LBSET_NAME_MAX + 96];
	const struct lbset_backend *top[L4_TOP];
	size_t ntop;
};

static void l4conn_close(struct l4conn *k, const char *why);
static void l4conn_dial(struct l4conn *k);
static struct l4conn *l4conn_new(struct l4listen *l, int fd);
static void l4conn_update(struct l4conn *k);

static void
l4proxy_reps_free(struct lbmsg_cand *v, size_t n)
{
	struct lbmsg m = { 0, 0, 0, (uint32_t)n, v };

	lbmsg_fini(&m);
}

static uint64_t
l4_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- relay ---- */

static void
l4conn_update(struct l4conn *k)
{
	int ce = 0, be = 0;

	if (k->state != L4_RELAY)
		return;
	if (!k->up.eof && l4dir_pending(&k->up) == 0)
		ce |= EV_READ;
	if (l4dir_pending(&k->down) > 0)
		ce |= EV_WRITE;
	if (!k->down.eof && l4dir_pending(&k->down) == 0)
		be |= EV_READ;
	if (l4dir_pending(&k->up) > 0)
		be |= EV_WRITE;
	evio_want(k->p->loop, &k->cio, k->cfd, ce);
	evio_want(k->p->loop, &k->bio, k->bfd, be);
}

/* Writes what d holds to `to`; returns 0, or -1 on a broken socket. */
static int
l4dir_flush(struct l4dir *d, int to)
{
	ssize_t n;

	if (d->pipe.len > 0 && spipe_drain(&d->pipe, to) < 0)
		return -1;
	if (d->pipe.len > 0)
		return 0;

	while (buf_len(&d->pend) > 0) {
		n = write(to, buf_data(&d->pend), buf_len(&d->pend));
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		buf_consume(&d->pend, (size_t)n);
	}
	buf_release(&d->pend);
	return 0;
}

/* Moves bytes from `from` to `to`: small reads through the shared scratch
 * buffer (what `to` does not take now stays in d->pend, bounded), and once
 * a read fills the scratch, with splice(2) through a pipe (bounded by
 * SPIPE_CAP, given back when drained) until reads get small again. Passes
 * a FIN on once nothing is pending. Returns 0, or -1 when the connection
 * must close. */
static int
l4dir_pump(struct l4proxy *p, struct l4dir *d, int from, int to,
    uint64_t *bytes)
{
	ssize_t n, w;
	int i;

	if (l4dir_flush(d, to) != 0)
		return -1;
	for (i = 0; i < L4_READS_PER_EVENT && !d->eof &&
	    l4dir_pending(d) == 0; i++) {
		if (d->bulk) {
			n = spipe_fill(&d->pipe, from, SPIPE_CAP);
			if (n == -EAGAIN)
				break;
			if (n == -EPIPE) {
				d->eof = true;
				break;
			}
			if (n < 0)
				return -1;
			if (n == 0) {
				d->bulk = false;        /* no pipe to be had: copy */
				continue;
			}
			*bytes += (uint64_t)n;
			if (spipe_drain(&d->pipe, to) < 0)
				return -1;
			if (n < (ssize_t)sizeof(p->scratch) / 4)
				d->bulk = false;
			continue;
		}
		n = read(from, p->scratch, sizeof(p->scratch));
		if (n == 0) {
			d->eof = true;
			break;
		}
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		*bytes += (uint64_t)n;
		w = write(to, p->scratch, (size_t)n);
		if (w == -1) {
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			w = 0;
		}
		if (w < n && buf_append(&d->pend, p->scratch + w, (size_t)(n - w),
		    L4_PEND_MAX) != 0)
			return -1;
		if ((size_t)n < sizeof(p->scratch))
			break;  /* drained the socket for now */
		d->bulk = true;
	}
	if (d->eof && l4dir_pending(d) == 0 && !d->shut) {
		shutdown(to, SHUT_WR);
		d->shut = true;
	}
	return 0;
}

/* Moves what can move: from the side that became readable, to the side
 * that became writable (both sides when `all`, as after the dial). */
static void
l4conn_relay(struct l4conn *k, int cev, int bev)
{
	struct l4proxy *p = k->p;

	k->last_active = ev_now(p->loop);
	if (((cev & EV_READ) || (bev & EV_WRITE)) &&
	    l4dir_pump(p, &k->up, k->cfd, k->bfd, &p->bytes_up) != 0)
		goto reset;
	if (((bev & EV_READ) || (cev & EV_WRITE)) &&
	    l4dir_pump(p, &k->down, k->bfd, k->cfd, &p->bytes_down) != 0)
		goto reset;
	if (k->up.shut && k->down.shut) {
		l4conn_close(k, NULL);
		return;
	}
	l4conn_update(k);
	return;
reset:
	l4conn_close(k, "reset");
}

static void
l4conn_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct l4conn *k = w->data;

	if (k->state != L4_RELAY)
		return;
	if (w == &k->cio)
		l4conn_relay(k, revents, 0);
	else
		l4conn_relay(k, 0, revents);
}

/* ---- dialling ---- */

static void
l4conn_dial_failed(struct l4conn *k, int err)
{
	struct l4proxy *p = k->p;
	struct lbset_backend *b = k->b;

	log_info("lb.dial.failed", "app=%s backend=%s addr=%s error=\"%s\"",
	    k->l->app, b->name, b->addr_text, strerror(err));
	ev_io_stop(p->loop, &k->bio);
	ev_timer_stop(p->loop, &k->timer);
	if (k->bfd != -1)
		close(k->bfd);
	k->bfd = -1;
	lbset_dial_failed(p->set, k->l->key, k->key, b);
	lbset_release(b);
	k->b = NULL;
	l4conn_dial(k);
}

static void
l4conn_on_connect(struct ev_loop *loop, ev_io *w, int revents)
{
	struct l4conn *k = w->data;
	int rc;

	if ((rc = sock_connect_result(k->bfd)) != 0) {
		l4conn_dial_failed(k, -rc);
		return;
	}
	ev_io_stop(loop, w);
	ev_timer_stop(loop, &k->timer);
	sock_nodelay(k->bfd);
	k->state = L4_RELAY;
	ev_io_init(&k->bio, l4conn_on_io, k->bfd, 0);
	k->bio.data = k;
	ev_io_init(&k->cio, l4conn_on_io, k->cfd, 0);
	k->cio.data = k;
	k->last_active = ev_now(loop);
	if (k->p->c.nc->idle_timeout > 0) {
		ev_timer_set(&k->timer, (double)k->p->c.nc->idle_timeout / 1000.0,
		    0.);
		ev_timer_start(loop, &k->timer);
	}
	l4conn_relay(k, EV_READ | EV_WRITE, EV_READ | EV_WRITE);
}

/* Picks a candidate and dials it; on failure the next, up to L4_TRIES. */
static void
l4conn_dial(struct l4conn *k)
{
	struct l4proxy *p = k->p;
	int fd, rc;

	while (k->tries < L4_TRIES) {
		if (k->b == NULL)
			k->b = lbset_pick_raw(p->set, k->l->key, k->key,
			    &k->where, &p->local, l4_now_ms());
		if (k->b == NULL)
			break;
		if (k->tries++ > 0)
			lbset_count_failover(p->set);
		if (k->b->kind == LBMSG_REPLICA) {
			/* the stream's connection counts the address itself */
			if (k->counted) {
				ipcount_release(p->c.ipcount,
				    (struct sockaddr *)&k->peer);
				k->counted = false;
			}
			rc = p->c.to_replica != NULL ? p->c.to_replica(p->c.arg,
			    k->cfd, &k->peer, k->b, buf_data(&k->up.pend),
			    buf_len(&k->up.pend)) : -ENOENT;
			if (rc == 0) {
				p->to_replica++;
				k->cfd = -1;    /* the stream's now, with b */
				k->b = NULL;
				l4conn_close(k, NULL);
				return;
			}
			if (p->c.ipcount != NULL)
				k->counted = ipcount_take(p->c.ipcount,
				    (struct sockaddr *)&k->peer,
				    (unsigned)p->c.nc->max_conns_per_ip);
			if (rc == -EPERM) {
				p->refused++;
				l4conn_close(k, "address not allowed by the tunnel");
				return;
			}
			if (rc == -EACCES)
				lbset_refuse_raw(p->set, k->l->key, k->key, k->b);
			else
				lbset_dial_failed(p->set, k->l->key, k->key, k->b);
			lbset_release(k->b);
			k->b = NULL;
			continue;
		}
		if ((fd = sock_connect(&k->b->addr)) < 0) {
			lbset_dial_failed(p->set, k->l->key, k->key, k->b);
			lbset_release(k->b);
			k->b = NULL;
			continue;
		}
		k->bfd = fd;
		k->state = L4_DIAL;
		ev_io_init(&k->bio, l4conn_on_connect, fd, EV_WRITE);
		k->bio.data = k;
		ev_io_start(p->loop, &k->bio);
		ev_timer_stop(p->loop, &k->timer);
		ev_timer_set(&k->timer, (double)p->c.nc->lb_connect_timeout / 1000.0,
		    0.);
		ev_timer_start(p->loop, &k->timer);
		return;
	}
	p->refused++;
	l4conn_close(k, "no candidate");
}

/* ---- the client ---- */

/* Where the client at *peer is (GeoIP, region map), and its key for
 * bindings. */
static void
l4_locate(struct l4proxy *p, const struct sockaddr_storage *peer,
    struct lbpick_where *where, uint8_t key[16])
{
	const struct lbpick_region *r;

	memset(where, 0, sizeof(*where));
	if (!cidr_key((const struct sockaddr *)peer, key))
		memset(key, 0, 16);
	if (p->geoip != NULL)
		where->country = geoip_country(p->geoip,
		    (const struct sockaddr *)peer);
	if ((r = regionmap_region(&p->map, where->country)) != NULL)
		where->region = *r;
}

static void
l4conn_begin(struct l4conn *k)
{
	struct l4proxy *p = k->p;
	char text[80];

	if (p->c.ipcount != NULL) {
		if (!ipcount_take(p->c.ipcount, (struct sockaddr *)&k->peer,
		    (unsigned)p->c.nc->max_conns_per_ip)) {
			sock_ss_format(&k->peer, text, sizeof(text));
			log_info("conn.refused", "peer=%s reason=\"over "
			    "--max-conns-per-ip %lld\"", text,
			    p->c.nc->max_conns_per_ip);
			p->refused++;
			l4conn_close(k, NULL);
			return;
		}
		k->counted = true;
	}
	l4_locate(p, &k->peer, &k->where, k->key);
	l4conn_dial(k);
}

/* A PROXY header from a trusted balancer: peeked, then taken exactly. */
static void
l4conn_header(struct l4conn *k)
{
	struct l4proxy *p = k->p;
	uint8_t buf[PROXYPROTO_MAX_LEN];
	struct proxyproto pp;
	ssize_t n;
	int rc = 0;

	n = recv(k->cfd, buf, sizeof(buf), MSG_PEEK);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		l4conn_close(k, NULL);
		return;
	}
	if (n == -1 || (rc = proxyproto_decode(buf, (size_t)n, &pp)) == 0) {
		if (ev_now(p->loop) - k->started >
		    (double)p->c.nc->head_timeout / 1000.0) {
			p->proxy_errors++;
			l4conn_close(k, "no PROXY header in time");
			return;
		}
		/* poll: the bytes stay in the socket until the header is whole */
		ev_io_stop(p->loop, &k->cio);
		ev_timer_stop(p->loop, &k->timer);
		ev_timer_set(&k->timer, L4_PROXY_POLL, 0.);
		ev_timer_start(p->loop, &k->timer);
		return;
	}
	if (rc < 0 || recv(k->cfd, buf, (size_t)rc, 0) != rc) {
		p->proxy_errors++;
		log_info("proxy.bad", "listener=lb reason=\"%s\"",
		    rc < 0 && pp.reason ? pp.reason : "short read");
		l4conn_close(k, NULL);
		return;
	}
	ev_io_stop(p->loop, &k->cio);
	ev_timer_stop(p->loop, &k->timer);
	if (!pp.local)
		memcpy(&k->peer, &pp.src, sizeof(k->peer));
	l4conn_begin(k);
}

static void
l4conn_on_header(struct ev_loop *loop, ev_io *w, int revents)
{
	l4conn_header(w->data);
}

static void
l4conn_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct l4conn *k = w->data;
	struct l4proxy *p = k->p;
	double idle;

	switch (k->state) {
	case L4_HEADER:
		l4conn_header(k);
		return;
	case L4_DIAL:
		p->dial_timeouts++;
		l4conn_dial_failed(k, ETIMEDOUT);
		return;
	case L4_RELAY:
		idle = (double)p->c.nc->idle_timeout / 1000.0;
		if (ev_now(loop) - k->last_active >= idle) {
			l4conn_close(k, "idle");
			return;
		}
		ev_timer_set(w, k->last_active + idle - ev_now(loop), 0.);
		ev_timer_start(loop, w);
		return;
	}
}

static void
l4conn_close(struct l4conn *k, const char *why)
{
	struct l4proxy *p = k->p;
	char text[80];

	if (why != NULL && log_conf.level <= LOG_DEBUG) {
		sock_ss_format(&k->peer, text, sizeof(text));
		log_debug("lb.close", "peer=%s backend=%s reason=\"%s\"", text,
		    k->b != NULL ? k->b->name : "-", why);
	}
	ev_io_stop(p->loop, &k->cio);
	ev_io_stop(p->loop, &k->bio);
	ev_timer_stop(p->loop, &k->timer);
	if (k->cfd != -1)
		close(k->cfd);
	if (k->bfd != -1)
		close(k->bfd);
	buf_fini(&k->up.pend);
	buf_fini(&k->down.pend);
	spipe_fini(&k->up.pipe);
	spipe_fini(&k->down.pipe);
	if (k->b != NULL)
		lbset_release(k->b);
	if (k->counted)
		ipcount_release(p->c.ipcount, (struct sockaddr *)&k->peer);
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		p->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	p->nconns--;
	if (p->c.count != NULL)
		p->c.count(p->c.arg, -1);
	free(k);
}

static void
l4proxy_accepted(struct l4listen *l, int fd)
{
	struct l4conn *k = l4conn_new(l, fd);

	if (k == NULL) {
		close(fd);
		return;
	}
	if (k->p->c.proxy_from != NULL && k->p->c.proxy_from->n > 0 &&
	    cidr_match(k->p->c.proxy_from, (struct sockaddr *)&k->peer)) {
		k->state = L4_HEADER;
		ev_io_start(k->p->loop, &k->cio);
		return;
	}
	l4conn_begin(k);
}

/* An app's connections (its listeners' and those handed over). */
static struct l4listen *
l4proxy_app(struct l4proxy *p, const char *app)
{
	struct l4listen *l;
	size_t i;

	for (i = 0; i < p->napps; i++)
		if (strcmp(p->apps[i]->app, app) == 0)
			return p->apps[i];
	if (p->napps == L4_APPS_MAX || strlen(app) > LBSET_NAME_MAX ||
	    (l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->p = p;
	snprintf(l->app, sizeof(l->app), "%s", app);
	l->key = lbset_app_key(l->app);
	p->apps[p->napps++] = l;
	return l;
}

int
l4proxy_adopt(struct l4proxy *p, int fd, const struct sockaddr_storage *peer,
    const char *app, struct lbset_backend *picked, const void *first,
    size_t len, const void *more, size_t more_len)
{
	struct l4listen *l = l4proxy_app(p, app);
	struct l4conn *k;

	if (l == NULL || (k = l4conn_new(l, fd)) == NULL)
		return -1;
	memcpy(&k->peer, peer, sizeof(k->peer));
	if ((len > 0 && buf_append(&k->up.pend, first, len,
	    L4_PEND_MAX + len + more_len) != 0) || (more_len > 0 &&
	    buf_append(&k->up.pend, more, more_len, L4_PEND_MAX + len +
	    more_len) != 0)) {
		k->cfd = -1;            /* the caller keeps the socket */
		l4conn_close(k, "out of memory");
		return -1;
	}
	p->adopted++;
	k->b = picked;          /* dialled first, without deciding again */
	l4conn_begin(k);
	return 0;
}

/* A connection on listener l (a real one, or an app's), not yet started. */
static struct l4conn *
l4conn_new(struct l4listen *l, int fd)
{
	struct l4proxy *p = l->p;
	struct l4conn *k;
	socklen_t len;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	len = sizeof(k->peer);
	k->p = p;
	k->l = l;
	k->cfd = fd;
	k->bfd = -1;
	spipe_init(&k->up.pipe);
	spipe_init(&k->down.pipe);
	k->started = k->last_active = ev_now(p->loop);
	if (getpeername(fd, (struct sockaddr *)&k->peer, &len) == -1)
		memset(&k->peer, 0, sizeof(k->peer));
	sock_nodelay(fd);
	ev_io_init(&k->cio, l4conn_on_header, fd, EV_READ);
	k->cio.data = k;
	ev_io_init(&k->bio, l4conn_on_io, 0, 0);
	k->bio.data = k;
	ev_timer_init(&k->timer, l4conn_on_timer, 0., 0.);
	k->timer.data = k;
	k->next = p->conns;
	if (p->conns != NULL)
		p->conns->prev = k;
	p->conns = k;
	p->nconns++;
	p->accepted++;
	if (p->c.count != NULL)
		p->c.count(p->c.arg, +1);
	return k;
}

static void
l4proxy_on_accept(void *arg, size_t i, const char *app, int fd)
{
	struct l4proxy *p = arg;
	struct l4listen *l = l4proxy_app(p, app[0] != '\0' ? app : LBSET_ALL);

	if (l == NULL) {
		close(fd);
		return;
	}
	l4proxy_accepted(l, fd);
}

static void
l4proxy_on_gc(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct l4proxy *p = w->data;
	size_t n = lbset_gc(p->set, l4_now_ms());

	if (n > 0)
		log_debug("lb.bindings.gc", "expired=%zu left=%zu", n,
		    lbset_bindings(p->set));
}

/* ---- setup ---- */

int
l4proxy_new(struct l4proxy **out, struct ev_loop *loop,
    const struct l4proxy_conf *c)
{
	const struct node_conf *nc = c->nc;
	struct l4proxy *p;
	char err[512];

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->loop = loop;
	p->c = *c;
	if (lbset_new(&p->set, loop, LBBIND_MAX_DEFAULT,
	    (uint64_t)nc->binding_ttl, (uint64_t)nc->lb_backoff) != 0)
		goto fail;
	if (nc->geoip_db[0] != '\0' &&
	    geoip_open(&p->geoip, nc->geoip_db, err, sizeof(err)) != 0) {
		log_error("lb.geoip", "error=\"%s\"", err);
		goto fail;
	}
	if (nc->region_map[0] != '\0') {
		if (regionmap_load(&p->map, nc->region_map, err, sizeof(err)) != 0) {
			log_error("lb.regionmap", "error=\"%s\"", err);
			goto fail;
		}
	} else {
		regionmap_default(&p->map);
	}
	lbpick_region(&p->local.region, nc->region, strlen(nc->region));
	ev_timer_init(&p->gc, l4proxy_on_gc, (double)nc->binding_gc_interval /
	    1000.0, (double)nc->binding_gc_interval / 1000.0);
	p->gc.data = p;
	ev_timer_start(loop, &p->gc);
	/* the listeners: inherited from the supervisor, or bound here */
	if (lblisten_open(&p->listen, loop, nc->lb_listen, "WARREN_FD_LB", "lb",
	    l4proxy_on_accept, p) != 0)
		goto fail;
	*out = p;
	return 0;
fail:
	l4proxy_free(p);
	return -1;
}

void
l4proxy_stop_listening(struct l4proxy *p)
{
	if (p != NULL)
		lblisten_stop(p->listen);
}

void
l4proxy_free(struct l4proxy *p)
{
	size_t i;

	if (p == NULL)
		return;
	lblisten_free(p->listen);
	while (p->conns != NULL)
		l4conn_close(p->conns, NULL);
	for (i = 0; i < p->napps; i++)
		free(p->apps[i]);
	ev_timer_stop(p->loop, &p->gc);
	lbset_free(p->set);
	lbmsg_fini(&p->backends);
	l4proxy_reps_free(p->reps, p->nreps);
	geoip_free(p->geoip);
	free(p);
}

/* The router's backends and the replicas, as one set for lbset (the
 * strings stay theirs). */
static void
l4proxy_merge(struct l4proxy *p)
{
	struct lbmsg m = p->backends;
	uint32_t i, j;

	m.c = NULL;
	m.n = 0;
	if (p->backends.n + p->nreps > 0 && (m.c = calloc(p->backends.n +
	    p->nreps, sizeof(*m.c))) == NULL) {
		log_error("lb.apply", "version=%llu error=\"out of memory\"",
		    (unsigned long long)m.version);
		return;
	}
	for (i = 0; i < p->backends.n; i++)
		if (p->backends.c[i].kind == LBMSG_BACKEND)
			m.c[m.n++] = p->backends.c[i];
	/* the router's REPLICA entries are its checks' verdicts on them */
	for (j = 0; j < p->nreps; j++) {
		struct lbmsg_cand *c = &m.c[m.n++];

		*c = p->reps[j];
		c->flags = 0;
		for (i = 0; i < p->backends.n; i++) {
			const struct lbmsg_cand *r = &p->backends.c[i];

			if (r->kind == LBMSG_REPLICA && strcmp(r->id, c->id) == 0 &&
			    strcmp(r->app, c->app) == 0)
				c->flags |= r->flags & LBPICK_DOWN;
		}
	}
	if (lbset_apply(p->set, &m) != 0)
		log_error("lb.apply", "version=%llu error=\"out of memory\"",
		    (unsigned long long)m.version);
	free(m.c);
}

void
l4proxy_apply(struct l4proxy *p, struct lbmsg *m)
{
	lbmsg_fini(&p->backends);
	p->backends = *m;
	m->c = NULL;
	m->n = 0;
	l4proxy_merge(p);
	log_info("lb.candidates", "version=%llu candidates=%u replicas=%zu",
	    (unsigned long long)p->backends.version, p->backends.n, p->nreps);
}

void
l4proxy_set_replicas(struct l4proxy *p, struct lbmsg_cand *v, size_t n)
{
	size_t was = p->nreps;

	l4proxy_reps_free(p->reps, p->nreps);
	p->reps = v;
	p->nreps = n;
	l4proxy_merge(p);
	if (n != was)
		log_info("lb.replicas", "replicas=%zu", n);
}

struct lbset_backend *
l4proxy_pick(struct l4proxy *p, const char *app,
    const struct sockaddr_storage *client)
{
	struct lbpick_where where;
	uint8_t key[16];

	l4_locate(p, client, &where, key);
	return lbset_pick(p->set, lbset_app_key(app), key, &where, &p->local,
	    l4_now_ms());
}

void
l4proxy_refuse_raw(struct l4proxy *p, const char *app,
    const struct sockaddr_storage *client, struct lbset_backend *b)
{
	uint8_t key[16];

	if (!cidr_key((const struct sockaddr *)client, key))
		memset(key, 0, sizeof(key));
	lbset_refuse_raw(p->set, lbset_app_key(app), key, b);
	lbset_count_failover(p->set);
	lbset_release(b);
}

void
l4proxy_pick_failed(struct l4proxy *p, const char *app,
    const struct sockaddr_storage *client, struct lbset_backend *b)
{
	uint8_t key[16];

	if (!cidr_key((const struct sockaddr *)client, key))
		memset(key, 0, sizeof(key));
	lbset_dial_failed(p->set, lbset_app_key(app), key, b);
	lbset_count_failover(p->set);
	lbset_release(b);
}

void
l4proxy_version(const struct l4proxy *p, uint64_t *epoch, uint64_t *version)
{
	lbset_version(p->set, epoch, version);
}

size_t
l4proxy_conns(const struct l4proxy *p)
{
	return p->nconns;
}

static void
l4proxy_collect(void *arg, const struct lbset_backend *b)
{
	struct l4proxy *p = arg;

	if (p->ntop < L4_TOP)
		p->top[p->ntop++] = b;
}

/* A label value as Prometheus wants it ('"' and '\\' escaped). */
static void
l4proxy_label(char *dst, size_t cap, const char *src)
{
	size_t j = 0;

	for (; *src != '\0' && j + 3 < cap; src++) {
		if (*src == '"' || *src == '\\')
			dst[j++] = '\\';
		dst[j++] = *src == '\n' ? ' ' : *src;
	}
	dst[j] = '\0';
}

size_t
l4proxy_stats(struct l4proxy *p, struct ipcmsg_stat *items, size_t n,
    size_t max)
{
	const struct lbset_stats *st = lbset_stats(p->set);
	struct ipcmsg_stat fixed[] = {
		{ "lb_connections", p->nconns },
		{ "lb_connections_total", p->accepted },
		{ "lb_by_name_total", p->adopted },
		{ "lb_to_replica_total", p->to_replica },
		{ "lb_refused_total{reason=\"no_candidate\"}", st->no_candidate },
		{ "lb_dial_failures_total", st->dial_failures },
		{ "lb_dial_timeouts_total", p->dial_timeouts },
		{ "lb_failovers_total", st->failovers },
		{ "lb_affinity_hits_total", st->bound_hits },
		{ "lb_bindings", lbset_bindings(p->set) },
		{ "lb_proxy_protocol_errors_total", p->proxy_errors },
		{ "lb_bytes_total{dir=\"in\"}", p->bytes_up },
		{ "lb_bytes_total{dir=\"out\"}", p->bytes_down },
	};
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && n < max; i++)
		items[n++] = fixed[i];
	/* per backend (the busiest), one family after the other */
	p->ntop = 0;
	lbset_each(p->set, L4_TOP, l4proxy_collect, p);
	for (int f = 0, nn = 0; f < 3; f++) {
		static const char *const fam[3] = { "lb_backend_connections",
		    "lb_backend_connections_total",
		    "lb_backend_dial_failures_total" };

		for (i = 0; i < p->ntop && n < max; i++) {
			const struct lbset_backend *b = p->top[i];
			char app[2 * LBSET_NAME_MAX + 4], id[2 * LBSET_NAME_MAX + 4];
			char *name = p->names[nn++];

			l4proxy_label(app, sizeof(app), b->app);
			l4proxy_label(id, sizeof(id), b->name);
			snprintf(name, sizeof(p->names[0]), "%s{app=\"%s\",backend=\"%s\"}",
			    fam[f], app, id);
			items[n].name = name;
			items[n++].value = f == 0 ? b->conns : f == 1 ?
			    b->conns_total : b->dial_failures;
		}
	}
	return n;
}
