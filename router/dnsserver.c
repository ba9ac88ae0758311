#include "router/dnsserver.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "router/dnsmsg.h"
#include "router/lbexplain.h"
#include "sock.h"

struct dnsserver_tcp {
	struct dnsserver_tcp *prev, *next;
	struct dnsserver *d;
	int fd;
	struct sockaddr_storage peer;
	ev_io rio, wio;
	ev_timer timer;
	uint8_t hdr[2];
	size_t hgot;                    /* of the length prefix */
	uint8_t *msg;                   /* the query, while it arrives */
	size_t need, got;
	uint8_t *out;                   /* prefix + answer, being written */
	size_t outlen, outoff;
};

struct dnsserver {
	struct ev_loop *loop;
	struct lbexplain *x;
	char *domain;
	int ufd, tfd;
	ev_io uio, tio;
	struct dnsserver_tcp *conns;
	int nconns;
	struct dnsserver_stats st;
};

struct dnsserver_ask {
	struct dnsserver *d;
	const struct sockaddr *peer;
};

static int
dnsserver_lookup(void *arg, const char *app, char *ip, size_t iplen)
{
	struct dnsserver_ask *a = arg;
	unsigned port;

	return lbexplain_decide(a->d->x, app, a->peer, ip, iplen, &port);
}

/* The answer to q[qlen] from peer, counted; NULL when none is due. */
static uint8_t *
dnsserver_answer(struct dnsserver *d, const uint8_t *q, size_t qlen,
    const struct sockaddr *peer, size_t *outlen)
{
	struct dnsserver_ask a = { d, peer };
	enum dnsmsg_result r;
	uint8_t *out;

	d->st.queries++;
	r = dnsmsg_answer(q, qlen, d->domain, dnsserver_lookup, &a, &out, outlen);
	switch (r) {
	case DNSMSG_NONE: d->st.dropped++; break;
	case DNSMSG_ANSWER: d->st.answers++; break;
	case DNSMSG_NODATA: d->st.nodata++; break;
	case DNSMSG_NXDOMAIN: d->st.nxdomain++; break;
	case DNSMSG_REFUSED: d->st.refused++; break;
	case DNSMSG_NOTIMP: d->st.notimp++; break;
	case DNSMSG_FORMERR: d->st.formerr++; break;
	case DNSMSG_SERVFAIL: d->st.servfail++; break;
	}
	return out;
}

/* ---- UDP ---- */

static void
dnsserver_on_udp(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dnsserver *d = w->data;
	struct sockaddr_storage peer;
	uint8_t buf[DNSSERVER_UDP_MAX], *out;
	socklen_t plen;
	size_t outlen;
	ssize_t n;
	int budget = 64;

	while (budget-- > 0) {
		plen = sizeof(peer);
		n = recvfrom(d->ufd, buf, sizeof(buf), MSG_TRUNC,
		    (struct sockaddr *)&peer, &plen);
		if (n == -1)
			return;         /* EAGAIN, or an error to drop */
		if ((size_t)n > sizeof(buf)) {
			d->st.dropped++;
			continue;
		}
		if ((out = dnsserver_answer(d, buf, (size_t)n,
		    (struct sockaddr *)&peer, &outlen)) == NULL)
			continue;
		/* answers are a few records: they fit any datagram */
		sendto(d->ufd, out, outlen, MSG_DONTWAIT, (struct sockaddr *)&peer,
		    plen);
		free(out);
	}
}

/* ---- TCP ---- */

static void
dnsserver_tcp_close(struct dnsserver_tcp *c)
{
	struct dnsserver *d = c->d;

	ev_io_stop(d->loop, &c->rio);
	ev_io_stop(d->loop, &c->wio);
	ev_timer_stop(d->loop, &c->timer);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	d->nconns--;
	free(c->msg);
	free(c->out);
	free(c);
}

/* Writes what it can; back to reading the next query when done. Returns
 * false when the connection is gone. */
static bool
dnsserver_tcp_flush(struct dnsserver_tcp *c)
{
	struct dnsserver *d = c->d;
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(d->loop, &c->wio);
			return true;
		}
		if (n <= 0) {
			dnsserver_tcp_close(c);
			return false;
		}
		c->outoff += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	ev_io_stop(d->loop, &c->wio);
	ev_io_start(d->loop, &c->rio);
	return true;
}

static void
dnsserver_tcp_query(struct dnsserver_tcp *c)
{
	uint8_t *ans, *out;
	size_t alen;

	ans = dnsserver_answer(c->d, c->msg, c->need,
	    (struct sockaddr *)&c->peer, &alen);
	free(c->msg);
	c->msg = NULL;
	c->hgot = c->got = c->need = 0;
	if (ans == NULL || alen > 65535 || (out = malloc(alen + 2)) == NULL) {
		free(ans);
		dnsserver_tcp_close(c);
		return;
	}
	out[0] = (uint8_t)(alen >> 8);
	out[1] = (uint8_t)alen;
	memcpy(out + 2, ans, alen);
	free(ans);
	c->out = out;
	c->outlen = alen + 2;
	c->outoff = 0;
	ev_io_stop(c->d->loop, &c->rio);
	dnsserver_tcp_flush(c);
}

static void
dnsserver_tcp_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dnsserver_tcp *c = w->data;
	ssize_t n;

	ev_timer_again(loop, &c->timer);
	if (c->hgot < 2) {
		n = read(c->fd, c->hdr + c->hgot, 2 - c->hgot);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			dnsserver_tcp_close(c);
			return;
		}
		if ((c->hgot += (size_t)n) < 2)
			return;
		c->need = (size_t)c->hdr[0] << 8 | c->hdr[1];
		if (c->need < DNSMSG_HEADER || (c->msg = malloc(c->need)) == NULL) {
			c->d->st.dropped++;
			dnsserver_tcp_close(c);
			return;
		}
	}
	n = read(c->fd, c->msg + c->got, c->need - c->got);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		dnsserver_tcp_close(c);
		return;
	}
	if ((c->got += (size_t)n) == c->need)
		dnsserver_tcp_query(c);
}

static void
dnsserver_tcp_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	dnsserver_tcp_flush(w->data);
}

static void
dnsserver_tcp_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	dnsserver_tcp_close(w->data);
}

static void
dnsserver_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dnsserver *d = w->data;
	struct dnsserver_tcp *c;
	struct sockaddr_storage peer;
	socklen_t plen;
	int fd, budget = 16;

	while (budget-- > 0) {
		plen = sizeof(peer);
		fd = accept4(d->tfd, (struct sockaddr *)&peer, &plen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return;
		if (d->nconns >= DNSSERVER_TCP_MAX ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			d->st.dropped++;
			close(fd);
			continue;
		}
		c->d = d;
		c->fd = fd;
		c->peer = peer;
		ev_io_init(&c->rio, dnsserver_tcp_on_read, fd, EV_READ);
		ev_io_init(&c->wio, dnsserver_tcp_on_write, fd, EV_WRITE);
		ev_init(&c->timer, dnsserver_tcp_on_timeout);
		c->timer.repeat = DNSSERVER_TCP_TIMEOUT;
		c->rio.data = c->wio.data = c->timer.data = c;
		c->next = d->conns;
		if (d->conns != NULL)
			d->conns->prev = c;
		d->conns = c;
		d->nconns++;
		ev_io_start(loop, &c->rio);
		ev_timer_again(loop, &c->timer);
	}
}

/* ---- setup ---- */

int
dnsserver_open(struct dnsserver **out, struct ev_loop *loop,
    const char *listen, const char *domain, struct lbexplain *x, char *bound,
    size_t boundlen)
{
	struct sock_addr sa;
	struct dnsserver *d;
	size_t i;
	int rc = -EADDRINUSE, tries;

	if (sock_addr_parse(&sa, listen, "127.0.0.1") != 0)
		return -EINVAL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	d->loop = loop;
	d->x = x;
	d->ufd = d->tfd = -1;
	if ((d->domain = strdup(domain)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	i = strlen(d->domain);
	if (i > 0 && d->domain[i - 1] == '.')
		d->domain[i - 1] = '\0';
	/* TCP first, then UDP on the port it got; with port 0 the kernel's
	 * pick may be taken for UDP: another pick, a few times */
	for (tries = 0; tries < 8; tries++) {
		struct sock_addr ta = sa;

		if ((d->tfd = sock_listen(&ta, 64)) < 0) {
			rc = d->tfd;
			d->tfd = -1;
			goto fail;
		}
		d->ufd = socket(ta.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (d->ufd == -1) {
			rc = -errno;
			goto fail;
		}
		if (bind(d->ufd, (struct sockaddr *)&ta.ss, ta.len) == 0) {
			sa = ta;
			break;
		}
		rc = -errno;
		close(d->ufd);
		close(d->tfd);
		d->ufd = d->tfd = -1;
		if (rc != -EADDRINUSE || sock_addr_port(&sa) != 0)
			goto fail;
	}
	if (d->ufd == -1)
		goto fail;
	ev_io_init(&d->uio, dnsserver_on_udp, d->ufd, EV_READ);
	d->uio.data = d;
	ev_io_start(loop, &d->uio);
	ev_io_init(&d->tio, dnsserver_on_accept, d->tfd, EV_READ);
	d->tio.data = d;
	ev_io_start(loop, &d->tio);
	if (bound != NULL)
		sock_addr_format(&sa, bound, boundlen);
	*out = d;
	return 0;
fail:
	if (d->ufd != -1)
		close(d->ufd);
	if (d->tfd != -1)
		close(d->tfd);
	free(d->domain);
	free(d);
	return rc;
}

void
dnsserver_close(struct dnsserver *d)
{
	if (d == NULL)
		return;
	while (d->conns != NULL)
		dnsserver_tcp_close(d->conns);
	ev_io_stop(d->loop, &d->uio);
	ev_io_stop(d->loop, &d->tio);
	close(d->ufd);
	close(d->tfd);
	free(d->domain);
	free(d);
}

void
dnsserver_stats(const struct dnsserver *d, struct dnsserver_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (d != NULL)
		*out = d->st;
}
