#include "l4tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cidr.h"
#include "evio.h"
#include "ipcmsg.h"
#include "ipcount.h"
#include "l4proxy.h"
#include "lblisten.h"
#include "lbset.h"
#include "log.h"
#include "nodeconf.h"
#include "proxyproto.h"
#include "sock.h"
#include "tls.h"

#define L4T_WIN         (64u * 1024)    /* plaintext held per direction */
#define L4T_PAIR_BUF    (32 * 1024)     /* SO_SNDBUF of each pair end (the
                                         * kernel doubles it) */
#define L4T_ROUNDS      8               /* reads per event, per direction */
#define L4T_PROXY_POLL  0.01            /* s between peeks at a header */

enum l4t_state { L4T_PROXY = 1, L4T_HANDSHAKE, L4T_RELAY };

struct l4tconn {
	struct l4tconn *prev, *next;
	struct l4tls *t;
	const char *app;                /* its listener's (the listeners'
	                                 * storage), NULL when adopted */
	enum l4t_state state;
	struct tls_io tio;              /* the client: fd and SSL */
	int sfd;                        /* our end of the pair, or -1 */
	ev_io cio, sio;
	ev_timer timer;                 /* header poll, handshake deadline, idle */
	double started, last_active;
	struct sockaddr_storage peer;   /* the client (PROXY header's) */
	struct buf up;                  /* plaintext from the client, for the pair */
	struct buf down;                /* from the pair, for SSL_write */
	bool c_eof;                     /* the client is done sending */
	bool s_eof;                     /* the pair is done sending */
	bool s_gone;                    /* ... and takes nothing more either */
	bool up_shut, down_shut;        /* the FIN passed on, each way */
	bool counted;                   /* handshaking: in the per-address
	                                 * count (the balancer counts it after) */
};

struct l4tls {
	struct ev_loop *loop;
	struct l4tls_conf c;
	SSL_CTX *ctx;                   /* the listeners', or NULL */
	struct lblisten *listen;        /* --lb-tls-listen, or NULL */
	struct l4tconn *conns;
	size_t nconns;
	/* counters */
	uint64_t accepted, hs_ok, hs_failed, hs_timeouts, proxy_errors;
	uint64_t adopted, bridge_errors, refused_per_ip;
	uint8_t scratch[L4T_WIN];       /* one read at a time, shared */
};

static void l4tconn_close(struct l4tconn *k, const char *why);
static void l4tconn_uncount(struct l4tconn *k);
static void l4tconn_relay(struct l4tconn *k);

/* ---- the bridge ---- */

/* Interest: the client while there is room for its plaintext or some for
 * it; the pair while its plaintext waits or there is room for more. */
static void
l4tconn_update(struct l4tconn *k)
{
	struct ev_loop *loop = k->t->loop;
	int ce, se = 0;

	ce = tls_io_events(&k->tio, !k->c_eof && buf_len(&k->up) == 0,
	    buf_len(&k->down) > 0);
	if (!k->s_eof && buf_len(&k->down) == 0)
		se |= EV_READ;
	if (buf_len(&k->up) > 0)
		se |= EV_WRITE;
	evio_want(loop, &k->cio, k->tio.fd, ce);
	evio_want(loop, &k->sio, k->sfd, se);
}

/* Client -> pair: what was left over goes first; then decrypts into the
 * shared scratch and writes it on at once, keeping in up only what the
 * pair did not take (and reading no more until it has). Returns 0, or -1
 * when the connection must close. */
static int
l4tconn_up(struct l4tconn *k)
{
	struct l4tls *t = k->t;
	ssize_t n, w;
	int i;

	if (buf_len(&k->up) > 0) {
		n = write(k->sfd, buf_data(&k->up), buf_len(&k->up));
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n > 0)
			buf_consume(&k->up, (size_t)n);
		if (buf_len(&k->up) > 0)
			return 0;
		buf_release(&k->up);
	}
	for (i = 0; i < L4T_ROUNDS && !k->c_eof; i++) {
		n = tls_io_read(&k->tio, t->scratch, sizeof(t->scratch));
		if (n == -EAGAIN)
			break;
		if (n == 0) {
			k->c_eof = true;
			break;
		}
		if (n < 0)
			return -1;
		w = write(k->sfd, t->scratch, (size_t)n);
		if (w == -1) {
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			w = 0;
		}
		if (w < n) {
			if (buf_append(&k->up, t->scratch + w, (size_t)(n - w),
			    L4T_WIN) != 0)
				return -1;
			break;
		}
		/* the socket is drained and OpenSSL holds nothing more */
		if ((size_t)n < sizeof(t->scratch) && tls_io_pending(&k->tio) == 0)
			break;
	}
	if (k->c_eof && buf_len(&k->up) == 0 && !k->up_shut) {
		shutdown(k->sfd, SHUT_WR);
		k->up_shut = true;
	}
	return 0;
}

/* True when the pair's other end is closed both ways (the load balancer
 * let go of the connection), not only shut for writing. */
static bool
l4t_pair_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

/* Encrypts p[len] to the client; what OpenSSL did not take is kept in
 * down (a write it asked to retry is retried with the same bytes, from
 * there: the context accepts a moved buffer). Returns 0, or -1. */
static int
l4tconn_send(struct l4tconn *k, const uint8_t *p, size_t len)
{
	size_t off = 0;
	ssize_t w;

	while (off < len) {
		w = tls_io_write(&k->tio, p + off, len - off);
		if (w == -EAGAIN)
			break;
		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	if (off < len && p != buf_data(&k->down) &&
	    buf_append(&k->down, p + off, len - off, L4T_WIN) != 0)
		return -1;
	if (p == buf_data(&k->down))
		buf_consume(&k->down, off);
	return 0;
}

/* Pair -> client: what was left over goes first; then reads into the
 * shared scratch and encrypts it at once. Returns 0, or -1 when the
 * connection must close. */
static int
l4tconn_down(struct l4tconn *k)
{
	struct l4tls *t = k->t;
	ssize_t n;
	int i;

	if (buf_len(&k->down) > 0) {
		if (l4tconn_send(k, buf_data(&k->down), buf_len(&k->down)) != 0)
			return -1;
		if (buf_len(&k->down) > 0)
			return 0;
		buf_release(&k->down);
	}
	for (i = 0; i < L4T_ROUNDS && !k->s_eof; i++) {
		n = read(k->sfd, t->scratch, sizeof(t->scratch));
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		if (n == 0) {
			k->s_eof = true;
			k->s_gone = l4t_pair_gone(k->sfd);
			break;
		}
		if (l4tconn_send(k, t->scratch, (size_t)n) != 0)
			return -1;
		if (buf_len(&k->down) > 0 || (size_t)n < sizeof(t->scratch))
			break;
	}
	if (k->s_eof && buf_len(&k->down) == 0 && !k->down_shut) {
		tls_io_shutdown_write(&k->tio);
		k->down_shut = true;
	}
	return 0;
}

static void
l4tconn_relay(struct l4tconn *k)
{
	struct ev_loop *loop = k->t->loop;

	k->last_active = ev_now(loop);
	if (l4tconn_up(k) != 0 || l4tconn_down(k) != 0) {
		l4tconn_close(k, "reset");
		return;
	}
	/* done both ways; or the load balancer let go and the client has
	 * all there was for it */
	if ((k->up_shut && k->down_shut) || (k->down_shut && k->s_gone)) {
		l4tconn_close(k, NULL);
		return;
	}
	l4tconn_update(k);
	/* plaintext OpenSSL holds wakes no watcher: come back for it */
	if (!k->c_eof && buf_len(&k->up) == 0 && tls_io_pending(&k->tio) > 0)
		ev_feed_event(loop, &k->cio, EV_READ);
}

/* A socketpair whose one end the load balancer adopts for app, for the
 * client at peer, with first and more to go to the backend before the
 * rest. Returns 0 with our end in *sfd, or -1 (counted, logged). */
static int
l4t_pair(struct l4tls *t, const struct sockaddr_storage *peer,
    const char *app, const void *first, size_t len, const void *more,
    size_t more_len, int *sfd)
{
	int sv[2], sz = L4T_PAIR_BUF;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1) {
		t->bridge_errors++;
		log_warn("lb.tls.bridge", "app=%s error=\"socketpair: %s\"", app,
		    strerror(errno));
		return -1;
	}
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (l4proxy_adopt(t->c.l4, sv[1], peer, app, NULL, first, len, more,
	    more_len) != 0) {
		t->bridge_errors++;
		log_warn("lb.tls.bridge", "app=%s error=\"the load balancer cannot "
		    "take the connection\"", app);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	*sfd = sv[0];
	return 0;
}

static void
l4tconn_on_sio(struct ev_loop *loop, ev_io *w, int revents)
{
	l4tconn_relay(w->data);
}

/* The handshake is done (or was done elsewhere): relay through sfd. */
static void
l4tconn_start_relay(struct l4tconn *k, int sfd)
{
	struct l4tls *t = k->t;

	k->state = L4T_RELAY;
	k->sfd = sfd;
	ev_io_init(&k->sio, l4tconn_on_sio, sfd, 0);
	k->sio.data = k;
	ev_timer_stop(t->loop, &k->timer);
	if (t->c.nc->idle_timeout > 0) {
		ev_timer_set(&k->timer, (double)t->c.nc->idle_timeout / 1000.0, 0.);
		ev_timer_start(t->loop, &k->timer);
	}
	l4tconn_relay(k);
}

/* ---- the client, before the bridge ---- */

static void
l4tconn_handshake(struct l4tconn *k)
{
	struct l4tls *t = k->t;
	char text[80], why[256];
	int rc, sfd;

	rc = tls_io_handshake(&k->tio);
	if (rc == -EAGAIN) {
		evio_want(t->loop, &k->cio, k->tio.fd, tls_io_events(&k->tio,
		    false, false));
		return;
	}
	if (rc != 0) {
		t->hs_failed++;
		sock_ss_format(&k->peer, text, sizeof(text));
		log_info("lb.tls.handshake.failed", "peer=%s app=%s reason=\"%s\"",
		    text, k->app, rc == -EPROTO ? tls_io_error(why, sizeof(why)) :
		    rc == -EPIPE ? "closed during the handshake" : strerror(-rc));
		l4tconn_close(k, NULL);
		return;
	}
	t->hs_ok++;
	ev_io_stop(t->loop, &k->cio);
	l4tconn_uncount(k);     /* the balancer counts it from here */
	if (l4t_pair(t, &k->peer, k->app, NULL, 0, NULL, 0, &sfd) != 0) {
		l4tconn_close(k, "no bridge");
		return;
	}
	l4tconn_start_relay(k, sfd);
}

/* Arms the handshake deadline (what is left of --head-timeout since the
 * connection came) and starts it; a client over --max-conns-per-ip is
 * refused first (handshakes cost memory too). */
static void
l4tconn_begin(struct l4tconn *k)
{
	struct l4tls *t = k->t;
	double left = k->started + (double)t->c.nc->head_timeout / 1000.0 -
	    ev_now(t->loop);
	char text[80];

	if (t->c.ipcount != NULL) {
		if (!ipcount_take(t->c.ipcount, (struct sockaddr *)&k->peer,
		    (unsigned)t->c.nc->max_conns_per_ip)) {
			t->refused_per_ip++;
			sock_ss_format(&k->peer, text, sizeof(text));
			log_info("conn.refused", "peer=%s listener=lb.tls reason="
			    "\"over --max-conns-per-ip %lld\"", text,
			    t->c.nc->max_conns_per_ip);
			l4tconn_close(k, NULL);
			return;
		}
		k->counted = true;
	}

	k->state = L4T_HANDSHAKE;
	ev_timer_stop(t->loop, &k->timer);
	ev_timer_set(&k->timer, left > 0.001 ? left : 0.001, 0.);
	ev_timer_start(t->loop, &k->timer);
	l4tconn_handshake(k);
}

/* A PROXY header from a trusted balancer, before the handshake: peeked,
 * then taken exactly (the ClientHello stays in the socket). */
static void
l4tconn_header(struct l4tconn *k)
{
	struct l4tls *t = k->t;
	uint8_t buf[PROXYPROTO_MAX_LEN];
	struct proxyproto pp;
	char text[80];
	ssize_t n;
	int rc = 0;

	n = recv(k->tio.fd, buf, sizeof(buf), MSG_PEEK);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		l4tconn_close(k, NULL);
		return;
	}
	if (n == -1 || (rc = proxyproto_decode(buf, (size_t)n, &pp)) == 0) {
		if (ev_now(t->loop) - k->started >
		    (double)t->c.nc->head_timeout / 1000.0) {
			t->proxy_errors++;
			l4tconn_close(k, "no PROXY header in time");
			return;
		}
		/* poll: the bytes stay in the socket until the header is whole */
		ev_io_stop(t->loop, &k->cio);
		ev_timer_stop(t->loop, &k->timer);
		ev_timer_set(&k->timer, L4T_PROXY_POLL, 0.);
		ev_timer_start(t->loop, &k->timer);
		return;
	}
	if (rc < 0 || recv(k->tio.fd, buf, (size_t)rc, 0) != rc) {
		t->proxy_errors++;
		sock_ss_format(&k->peer, text, sizeof(text));
		log_info("proxy.bad", "listener=lb-tls peer=%s reason=\"%s\"", text,
		    rc < 0 && pp.reason ? pp.reason : "short read");
		l4tconn_close(k, NULL);
		return;
	}
	if (!pp.local)
		memcpy(&k->peer, &pp.src, sizeof(k->peer));
	l4tconn_begin(k);
}

static void
l4tconn_on_cio(struct ev_loop *loop, ev_io *w, int revents)
{
	struct l4tconn *k = w->data;

	switch (k->state) {
	case L4T_PROXY:
		l4tconn_header(k);
		return;
	case L4T_HANDSHAKE:
		l4tconn_handshake(k);
		return;
	case L4T_RELAY:
		l4tconn_relay(k);
		return;
	}
}

static void
l4tconn_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct l4tconn *k = w->data;
	struct l4tls *t = k->t;
	char text[80];
	double idle;

	switch (k->state) {
	case L4T_PROXY:
		l4tconn_header(k);
		return;
	case L4T_HANDSHAKE:
		t->hs_timeouts++;
		sock_ss_format(&k->peer, text, sizeof(text));
		log_info("lb.tls.handshake.failed", "peer=%s app=%s reason=\"no "
		    "handshake within --head-timeout (%lld ms)\"", text, k->app,
		    t->c.nc->head_timeout);
		l4tconn_close(k, NULL);
		return;
	case L4T_RELAY:
		idle = (double)t->c.nc->idle_timeout / 1000.0;
		if (ev_now(loop) - k->last_active >= idle) {
			l4tconn_close(k, "idle");
			return;
		}
		ev_timer_set(w, k->last_active + idle - ev_now(loop), 0.);
		ev_timer_start(loop, w);
		return;
	}
}

/* A connection (fd: the client), linked and counted; NULL if out of
 * memory (fd untouched). */
static struct l4tconn *
l4tconn_new(struct l4tls *t, int fd)
{
	struct l4tconn *k;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	k->t = t;
	k->sfd = -1;
	tls_io_plain(&k->tio, fd);
	k->started = k->last_active = ev_now(t->loop);
	ev_io_init(&k->cio, l4tconn_on_cio, fd, 0);
	k->cio.data = k;
	ev_io_init(&k->sio, l4tconn_on_sio, 0, 0);
	k->sio.data = k;
	ev_timer_init(&k->timer, l4tconn_on_timer, 0., 0.);
	k->timer.data = k;
	k->next = t->conns;
	if (t->conns != NULL)
		t->conns->prev = k;
	t->conns = k;
	t->nconns++;
	return k;
}

static void
l4tconn_uncount(struct l4tconn *k)
{
	if (k->counted)
		ipcount_release(k->t->c.ipcount, (struct sockaddr *)&k->peer);
	k->counted = false;
}

static void
l4tconn_close(struct l4tconn *k, const char *why)
{
	struct l4tls *t = k->t;
	char text[80];

	if (why != NULL && log_conf.level <= LOG_DEBUG) {
		sock_ss_format(&k->peer, text, sizeof(text));
		log_debug("lb.tls.close", "peer=%s reason=\"%s\"", text, why);
	}
	ev_io_stop(t->loop, &k->cio);
	ev_io_stop(t->loop, &k->sio);
	ev_timer_stop(t->loop, &k->timer);
	tls_io_fini(&k->tio);
	if (k->tio.fd != -1)
		close(k->tio.fd);
	if (k->sfd != -1)
		close(k->sfd);
	buf_fini(&k->up);
	buf_fini(&k->down);
	l4tconn_uncount(k);
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		t->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	t->nconns--;
	free(k);
}

static void
l4tls_accepted(void *arg, size_t i, const char *app, int fd)
{
	struct l4tls *t = arg;
	struct l4tconn *k;
	socklen_t len;

	if ((k = l4tconn_new(t, fd)) == NULL) {
		close(fd);
		return;
	}
	t->accepted++;
	k->app = app[0] != '\0' ? app : LBSET_ALL;
	len = sizeof(k->peer);
	if (getpeername(fd, (struct sockaddr *)&k->peer, &len) == -1)
		memset(&k->peer, 0, sizeof(k->peer));
	sock_nodelay(fd);
	if (tls_io_server(&k->tio, fd, t->ctx) != 0) {
		l4tconn_close(k, "out of memory");
		return;
	}
	if (t->c.proxy_from != NULL && t->c.proxy_from->n > 0 &&
	    cidr_match(t->c.proxy_from, (struct sockaddr *)&k->peer)) {
		k->state = L4T_PROXY;
		ev_timer_set(&k->timer, (double)t->c.nc->head_timeout / 1000.0, 0.);
		ev_timer_start(t->loop, &k->timer);
		evio_want(t->loop, &k->cio, fd, EV_READ);
		return;
	}
	l4tconn_begin(k);
}

int
l4tls_adopt(struct l4tls *t, struct tls_io *io,
    const struct sockaddr_storage *peer, const char *app, const void *first,
    size_t len, const void *more, size_t more_len)
{
	struct l4tconn *k;
	int sfd;

	/* batch mode's BIO points at io itself, which is about to go */
	if (t == NULL || io->ssl == NULL || io->batch ||
	    !SSL_is_init_finished(io->ssl))
		return -1;
	if (l4t_pair(t, peer, app, first, len, more, more_len, &sfd) != 0)
		return -1;
	if ((k = l4tconn_new(t, io->fd)) == NULL) {
		close(sfd);     /* the load balancer sees it close */
		return -1;
	}
	t->adopted++;
	/* the SSL object moves as it is: what OpenSSL already read or
	 * decrypted stays in it, and is read first */
	k->tio = *io;
	tls_io_plain(io, -1);
	memcpy(&k->peer, peer, sizeof(k->peer));
	l4tconn_start_relay(k, sfd);
	return 0;
}

/* ---- setup ---- */

/* The listeners' context: --lb-tls-cert and --lb-tls-key (the key file
 * defaults to the certificate's), or the development CA's certificate. */
static SSL_CTX *
l4tls_ctx(const struct l4tls *t)
{
	const struct node_conf *nc = t->c.nc;
	char dir[4200], cert[4300], key[4300], err[600];
	SSL_CTX *ctx;

	if (nc->lb_tls_cert[0] != '\0') {
		snprintf(cert, sizeof(cert), "%s", nc->lb_tls_cert);
		snprintf(key, sizeof(key), "%s", nc->lb_tls_key[0] != '\0' ?
		    nc->lb_tls_key : nc->lb_tls_cert);
	} else {
		snprintf(dir, sizeof(dir), "%s/tls", nc->data_dir);
		if (tls_dev_ca(dir, nc->domain, err, sizeof(err)) != 0) {
			log_error("lb.tls.cert", "error=\"%s\"", err);
			return NULL;
		}
		snprintf(cert, sizeof(cert), "%s/node.pem", dir);
		snprintf(key, sizeof(key), "%s/node.key", dir);
		log_warn("lb.tls.cert", "cert=%s note=\"no --lb-tls-cert: the TLS "
		    "listener serves the development CA's certificate\"", cert);
	}
	if ((ctx = tls_server_ctx(cert, key, NULL, 0, err, sizeof(err))) == NULL) {
		log_error("lb.tls.cert", "error=\"%s\"", err);
		return NULL;
	}
	/* an L4 stream: a client's FIN without close_notify ends its half
	 * as a FIN would on --lb-listen, rather than resetting the backend */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	return ctx;
}

int
l4tls_new(struct l4tls **out, struct ev_loop *loop, const struct l4tls_conf *c)
{
	struct l4tls *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->loop = loop;
	t->c = *c;
	if (c->nc->lb_tls_listen[0] != '\0') {
		if ((t->ctx = l4tls_ctx(t)) == NULL) {
			free(t);
			return -1;
		}
		/* inherited from the supervisor, or bound here */
		if (lblisten_open(&t->listen, loop, c->nc->lb_tls_listen,
		    "WARREN_FD_LBTLS", "lb.tls", l4tls_accepted, t) != 0) {
			l4tls_free(t);
			return -1;
		}
	}
	*out = t;
	return 0;
}

void
l4tls_reload(struct l4tls *t)
{
	SSL_CTX *ctx;

	if (t == NULL || t->ctx == NULL || (ctx = l4tls_ctx(t)) == NULL)
		return;
	SSL_CTX_free(t->ctx);   /* connections hold their own reference */
	t->ctx = ctx;
	log_info("lb.tls.cert", "reloaded=true");
}

void
l4tls_stop_listening(struct l4tls *t)
{
	if (t != NULL)
		lblisten_stop(t->listen);
}

void
l4tls_free(struct l4tls *t)
{
	if (t == NULL)
		return;
	lblisten_stop(t->listen);
	while (t->conns != NULL)
		l4tconn_close(t->conns, NULL);
	lblisten_free(t->listen);       /* after the connections: their app */
	SSL_CTX_free(t->ctx);
	free(t);
}

size_t
l4tls_conns(const struct l4tls *t)
{
	return t != NULL ? t->nconns : 0;
}

size_t
l4tls_stats(const struct l4tls *t, struct ipcmsg_stat *items, size_t n,
    size_t max)
{
	const struct ipcmsg_stat fixed[] = {
		{ "lb_tls_connections", t->nconns },
		{ "lb_tls_connections_total", t->accepted },
		{ "lb_tls_handshakes_total{result=\"ok\"}", t->hs_ok },
		{ "lb_tls_handshakes_total{result=\"failed\"}", t->hs_failed },
		{ "lb_tls_handshakes_total{result=\"timeout\"}", t->hs_timeouts },
		{ "lb_tls_proxy_protocol_errors_total", t->proxy_errors },
		{ "lb_tls_https_handoffs_total", t->adopted },
		{ "lb_tls_bridge_errors_total", t->bridge_errors },
		{ "lb_tls_refused_total{reason=\"per_ip\"}", t->refused_per_ip },
	};
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && n < max; i++)
		items[n++] = fixed[i];
	return n;
}
