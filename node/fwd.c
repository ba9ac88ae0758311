#include "fwd.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acceptor.h"
#include "buf.h"
#include "log.h"
#include "meshmsg.h"
#include "mux.h"
#include "session.h"
#include "sholder.h"
#include "sock.h"

#define FWD_CONTAINER(h, member) \
	((struct fwd *)(void *)((char *)(h) - offsetof(struct fwd, member)))

struct fwd {
	struct sholder mesh_h;          /* holds the mesh stream (first member) */
	struct sholder sess_h;          /* holds the session stream */
	struct acceptor *a;
	struct mux_stream *mst, *sst;
	struct buf to_sess, to_mesh;    /* taken from one side, not yet by the other */
	bool mfin, sfin;                /* FIN came from the mesh / the session */
	bool mfin_sent, sfin_sent;      /* ... and was passed on */
};

static void
fwd_free(struct fwd *f)
{
	if (f->mst != NULL)
		mux_stream_close(f->mst);
	if (f->sst != NULL)
		mux_stream_close(f->sst);
	buf_fini(&f->to_sess);
	buf_fini(&f->to_mesh);
	f->a->nfwd--;
	free(f);
}

/* One side reset: so is the other, with the same code and reason. */
static void
fwd_reset(struct fwd *f, struct mux_stream *from, int code, const char *reason)
{
	struct mux_stream *other = from == f->mst ? f->sst : f->mst;

	if (other != NULL)
		mux_stream_reset(other, code, reason);
	fwd_free(f);
}

static void
fwd_maybe_done(struct fwd *f)
{
	if (f->mfin && f->sfin && f->mfin_sent && f->sfin_sent)
		fwd_free(f);
}

/* Writes what b holds into dst, returning credit to src for what left. */
static void
fwd_drain(struct fwd *f, struct buf *b, struct mux_stream *src,
    struct mux_stream *dst)
{
	size_t n;

	while (buf_len(b) > 0) {
		n = mux_stream_write(dst, buf_data(b), buf_len(b));
		if (n == 0)
			return;
		buf_consume(b, n);
		mux_stream_consumed(src, n);
	}
	buf_release(b);
}

/* src delivered p[0..len) for dst: passes on what dst takes now, keeps the
 * rest (bounded: src never sends more than one window). */
static int
fwd_pass(struct fwd *f, struct buf *b, struct mux_stream *src,
    struct mux_stream *dst, const uint8_t *p, size_t len)
{
	size_t n = 0;

	if (buf_len(b) == 0)
		n = mux_stream_write(dst, p, len);
	if (n > 0)
		mux_stream_consumed(src, n);
	if (n < len && buf_append(b, p + n, len - n,
	    (size_t)f->a->mux_conf.window + 256u * 1024) != 0)
		return -1;
	return 0;
}

static void
fwd_mesh_data(struct mux_stream *st, const uint8_t *p, size_t len)
{
	struct fwd *f = FWD_CONTAINER(mux_stream_data(st), mesh_h);

	if (fwd_pass(f, &f->to_sess, f->mst, f->sst, p, len) != 0) {
		mux_stream_reset(f->mst, MUX_RST_PROTOCOL, "more data than the window");
		fwd_reset(f, f->mst, MUX_RST_CANCEL, "forwarding failed");
	}
}

static void
fwd_sess_data(struct mux_stream *st, const uint8_t *p, size_t len)
{
	struct fwd *f = FWD_CONTAINER(mux_stream_data(st), sess_h);

	if (fwd_pass(f, &f->to_mesh, f->sst, f->mst, p, len) != 0) {
		mux_stream_reset(f->sst, MUX_RST_PROTOCOL, "more data than the window");
		fwd_reset(f, f->sst, MUX_RST_CANCEL, "forwarding failed");
	}
}

static void
fwd_mesh_fin(struct mux_stream *st)
{
	struct fwd *f = FWD_CONTAINER(mux_stream_data(st), mesh_h);

	f->mfin = true;
	if (buf_len(&f->to_sess) == 0 && !f->mfin_sent) {
		f->mfin_sent = true;
		mux_stream_fin(f->sst);
	}
	fwd_maybe_done(f);
}

static void
fwd_sess_fin(struct mux_stream *st)
{
	struct fwd *f = FWD_CONTAINER(mux_stream_data(st), sess_h);

	f->sfin = true;
	if (buf_len(&f->to_mesh) == 0 && !f->sfin_sent) {
		f->sfin_sent = true;
		mux_stream_fin(f->mst);
	}
	fwd_maybe_done(f);
}

static void
fwd_mesh_reset(struct mux_stream *st, int code, const char *reason)
{
	struct fwd *f = FWD_CONTAINER(mux_stream_data(st), mesh_h);

	fwd_reset(f, f->mst, code, reason);
}

static void
fwd_sess_reset(struct mux_stream *st, int code, const char *reason)
{
	struct fwd *f = FWD_CONTAINER(mux_stream_data(st), sess_h);

	fwd_reset(f, f->sst, code, reason);
}

/* The session stream takes bytes again: what waits for it goes. */
static void
fwd_sess_writable(struct mux_stream *st)
{
	struct fwd *f = FWD_CONTAINER(mux_stream_data(st), sess_h);

	fwd_drain(f, &f->to_sess, f->mst, f->sst);
	if (f->mfin && !f->mfin_sent && buf_len(&f->to_sess) == 0) {
		f->mfin_sent = true;
		mux_stream_fin(f->sst);
		fwd_maybe_done(f);
	}
}

static void
fwd_mesh_writable(struct mux_stream *st)
{
	struct fwd *f = FWD_CONTAINER(mux_stream_data(st), mesh_h);

	fwd_drain(f, &f->to_mesh, f->sst, f->mst);
	if (f->sfin && !f->sfin_sent && buf_len(&f->to_mesh) == 0) {
		f->sfin_sent = true;
		mux_stream_fin(f->mst);
		fwd_maybe_done(f);
	}
}

static const struct sholder_ops fwd_mesh_ops = {
	.on_data = fwd_mesh_data,
	.on_fin = fwd_mesh_fin,
	.on_reset = fwd_mesh_reset,
	.on_writable = fwd_mesh_writable,
};

static const struct sholder_ops fwd_sess_ops = {
	.on_data = fwd_sess_data,
	.on_fin = fwd_sess_fin,
	.on_reset = fwd_sess_reset,
	.on_writable = fwd_sess_writable,
};

static int
fwd_refuse(struct acceptor *a, struct mux_stream *st, const char *peer,
    int code, const char *reason, uint64_t *counter)
{
	(*counter)++;
	log_info("fwd.refused", "from=%s code=%d reason=\"%s\"", peer, code, reason);
	mux_stream_reset(st, code, reason);
	mux_stream_close(st);
	return 0;
}

int
fwd_accept(void *arg, const char *peer, struct mux_stream *st,
    const uint8_t *hdr, size_t len)
{
	struct acceptor *a = arg;
	const struct tunnel_policy *pol;
	struct meshmsg_fwd *h;
	struct sock_addr client;
	struct session *s;
	struct fwd *f;
	char why[300];
	int rc;

	if ((h = malloc(sizeof(*h))) == NULL)
		return fwd_refuse(a, st, peer, MUX_RST_LIMIT, "out of memory",
		    &a->stats.fwd_refused);
	if (meshmsg_fwd_decode(h, hdr, len) != 0) {
		free(h);
		return fwd_refuse(a, st, peer, MUX_RST_PROTOCOL,
		    "malformed forwarding header", &a->stats.fwd_bad);
	}
	if (h->hops != MESHMSG_HOPS_MAX) {
		free(h);
		return fwd_refuse(a, st, peer, MUX_RST_REFUSED,
		    "bad hop count in a forwarded stream", &a->stats.fwd_bad);
	}
	s = acceptor_session(a, h->session);
	pol = session_policy(a, h->session, h->tunnel_id);
	if (s == NULL || pol == NULL) {
		/* hop limit 1: never sent on to another node */
		snprintf(why, sizeof(why), "%s does not hold the tunnel's session "
		    "(it moved or closed)", a->conf.name);
		free(h);
		return fwd_refuse(a, st, peer, MUX_RST_SESSION_GONE, why,
		    &a->stats.fwd_gone);
	}
	if (sock_addr_parse(&client, h->client, NULL) != 0) {
		free(h);
		return fwd_refuse(a, st, peer, MUX_RST_PROTOCOL,
		    "bad client address in a forwarded stream", &a->stats.fwd_bad);
	}
	if (h->listener != MESHMSG_PROBE &&
	    !tunnel_policy_allows(pol, (struct sockaddr *)&client.ss)) {
		a->stats.refused_policy++;
		free(h);
		return fwd_refuse(a, st, peer, MUX_RST_FORBIDDEN,
		    "this tunnel does not accept requests from your address",
		    &a->stats.fwd_refused);
	}
	/* raw streams (a load balancer's pick of an HTTP replica) carry no
	 * credentials: a tunnel that wants them refuses those too; a node's
	 * own health check (a mesh peer's, authenticated) needs none */
	if (h->listener != MESHMSG_PROBE &&
	    !tunnel_policy_basic_ok(pol, h->authz, strlen(h->authz))) {
		free(h);
		return fwd_refuse(a, st, peer, MUX_RST_AUTH,
		    "this tunnel needs a user name and password", &a->stats.fwd_refused);
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		free(h);
		return fwd_refuse(a, st, peer, MUX_RST_LIMIT, "out of memory",
		    &a->stats.fwd_refused);
	}
	f->mesh_h.ops = &fwd_mesh_ops;
	f->sess_h.ops = &fwd_sess_ops;
	f->a = a;
	rc = session_open_stream(s, h->tunnel_id, h->client, h->host, &f->sess_h,
	    &f->sst);
	if (rc != 0) {
		free(f);
		snprintf(why, sizeof(why), rc == -EAGAIN ? "the tunnel on %s is busy "
		    "or draining" : "the tunnel on %s is offline", a->conf.name);
		free(h);
		return fwd_refuse(a, st, peer, MUX_RST_SESSION_GONE, why,
		    &a->stats.fwd_gone);
	}
	f->mst = st;
	mux_stream_set_data(st, &f->mesh_h);
	a->stats.fwd_served++;
	a->nfwd++;
	log_debug("fwd.open", "from=%s session=%016llx tunnel=%u host=%s client=%s",
	    peer, (unsigned long long)h->session, h->tunnel_id,
	    h->host[0] ? h->host : "-", h->client);
	free(h);
	return 0;
}
