#include "mesh.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "keyring.h"
#include "log.h"
#include "meshmsg.h"
#include "meshtls.h"
#include "sock.h"
#include "tls.h"

#define MESH_READS_PER_EVENT    16
#define MESH_BACKOFF_MIN        0.2     /* s before re-dialling a failed peer */
#define MESH_BACKOFF_MAX        5.0
#define MESH_HS_MAX             (MESHMSG_HELLO_MAX + MESHMSG_MAC_LEN)
#define MESH_PURPOSE            "warren mesh link v1"
#define MESH_MAGIC              "WRNMESH"       /* a HELLO's first bytes */
/* What a TLS node answers a plain HELLO with, in clear, before it closes:
 * the magic and version 0, which no HELLO has; the plain node says why. */
#define MESH_TLS_ONLY           MESH_MAGIC "\0"

enum mlink_state { ML_CONNECTING, ML_TLS, ML_HANDSHAKE, ML_UP };

struct mpeer {
	struct mpeer *next;
	struct mlink *link;             /* carries new streams, or NULL */
	struct sock_addr addr;
	bool has_addr;
	bool failing;                   /* its link broke or a dial failed, and
	                                   none has come up since */
	double backoff;                 /* s; 0 after a link came up */
	ev_tstamp retry_at;             /* no dial before this */
	char name[MESHMSG_NAME_MAX + 1];
};

struct mlink {
	struct mesh *m;
	struct mlink *next;
	struct mlink *flush_next;
	struct mpeer *peer;             /* outbound: from the start; inbound: after HELLO */
	struct mux *mux;
	struct tls_io tio;              /* the socket, and its SSL with --mesh-tls */
	ev_io io;
	ev_timer timer;                 /* handshake deadline, then keepalive */
	ev_tstamp last_input;
	enum mlink_state state;
	bool outbound, dead, in_cb, retiring, flush_queued;
	bool goaway_sent;               /* retiring: GOAWAY went out */
	bool got_hello;
	bool peeked;                    /* TLS: first bytes looked at */
	uint8_t binding[MESHTLS_BINDING_LEN];   /* TLS: what PROOFs cover */
	uint8_t nonce[MESHMSG_NONCE_LEN], peer_nonce[MESHMSG_NONCE_LEN];
	uint8_t hin[MESH_HS_MAX];       /* handshake bytes read */
	size_t hin_len;
	uint8_t hout[MESH_HS_MAX];      /* handshake bytes to write */
	size_t hout_len, hout_off;
	char addr[64];                  /* the other end, for logs */
};

struct mesh {
	struct ev_loop *loop;
	char self[MESHMSG_NAME_MAX + 1];
	const struct keyring *kr;
	struct keyring *zero_kr;        /* kr NULL: the all-zero key */
	struct mux_conf mux_conf;
	struct mesh_callbacks cb;
	struct mux_callbacks mcb;
	double hs_timeout, ping_ival;
	SSL_CTX *tls_srv, *tls_cli;     /* --mesh-tls, else NULL */
	bool tls;
	int lfd;
	ev_io lio;
	ev_timer accept_retry;
	ev_prepare flusher;
	struct mpeer *peers;
	struct mlink *links;
	struct mlink *flushq;
	struct mesh_stats stats;
};

static void mlink_close(struct mlink *l, const char *why);
static void mlink_destroy(struct mlink *l);
static void mlink_update_io(struct mlink *l);
static int mlink_flush(struct mlink *l);

static struct mpeer *
mesh_peer(struct mesh *m, const char *name, bool create)
{
	struct mpeer *p;

	for (p = m->peers; p != NULL; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	if (!create || strlen(name) > MESHMSG_NAME_MAX ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->next = m->peers;
	m->peers = p;
	return p;
}

/* --- handshake ----------------------------------------------------------- */

static int
mlink_mac(struct mlink *l, const struct keyring *kr, size_t key, bool ours,
    uint8_t mac[MESHMSG_MAC_LEN])
{
	struct mesh *m = l->m;
	uint8_t in[2 * MESHMSG_HELLO_MAX + MESHTLS_BINDING_LEN];
	int n;

	/* ours: we prove, in our role; else the peer proves, in its role */
	if (ours)
		n = meshmsg_proof_input(l->outbound ? MESHMSG_DIALER : MESHMSG_LISTENER,
		    l->nonce, l->peer_nonce, m->self, l->peer->name, in, sizeof(in));
	else
		n = meshmsg_proof_input(l->outbound ? MESHMSG_LISTENER : MESHMSG_DIALER,
		    l->peer_nonce, l->nonce, l->peer->name, m->self, in, sizeof(in));
	if (n < 0)
		return n;
	/* over TLS: bound to this TLS session (meshtls.h) */
	if (l->tio.ssl != NULL) {
		if ((size_t)n + sizeof(l->binding) > sizeof(in))
			return -ENOSPC;
		memcpy(in + n, l->binding, sizeof(l->binding));
		n += (int)sizeof(l->binding);
	}
	return keyring_mac(kr, key, MESH_PURPOSE, in, (size_t)n, mac);
}

static const struct keyring *
mesh_ring(const struct mesh *m)
{
	return m->kr != NULL ? m->kr : m->zero_kr;
}

static void
mlink_queue_hello(struct mlink *l)
{
	struct meshmsg_hello h;
	int n;

	snprintf(h.name, sizeof(h.name), "%s", l->m->self);
	memcpy(h.nonce, l->nonce, sizeof(h.nonce));
	n = meshmsg_hello_encode(&h, l->hout + l->hout_len,
	    sizeof(l->hout) - l->hout_len);
	if (n > 0)
		l->hout_len += (size_t)n;
}

/* The peer's HELLO arrived: check who it is and queue our PROOF. */
static int
mlink_on_hello(struct mlink *l, const struct meshmsg_hello *h)
{
	struct mesh *m = l->m;
	uint8_t mac[MESHMSG_MAC_LEN];

	if (strcmp(h->name, m->self) == 0) {
		mlink_close(l, "the peer has this node's own name");
		return -1;
	}
	if (l->outbound && strcmp(h->name, l->peer->name) != 0) {
		char why[300];

		snprintf(why, sizeof(why), "dialled %s but %s answered",
		    l->peer->name, h->name);
		m->stats.handshake_bad++;
		mlink_close(l, why);
		return -1;
	}
	if (!l->outbound && (l->peer = mesh_peer(m, h->name, true)) == NULL) {
		mlink_close(l, "out of memory");
		return -1;
	}
	memcpy(l->peer_nonce, h->nonce, sizeof(l->peer_nonce));
	l->got_hello = true;
	if (mlink_mac(l, mesh_ring(m), 0, true, mac) != 0 ||
	    sizeof(l->hout) - l->hout_len < sizeof(mac)) {
		mlink_close(l, "cannot compute the link proof");
		return -1;
	}
	memcpy(l->hout + l->hout_len, mac, sizeof(mac));
	l->hout_len += sizeof(mac);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

/* Of two links to one peer, the one dialled by the node whose name sorts
 * first carries new streams; the other is retired. Both ends decide the
 * same. */
static void
mesh_settle(struct mesh *m, struct mpeer *p, struct mlink *l)
{
	struct mlink *cur = p->link, *win, *lose;
	bool self_first = strcmp(m->self, p->name) < 0;

	if (cur == NULL || cur == l || cur->dead || cur->retiring) {
		p->link = l;
		return;
	}
	win = (l->outbound == self_first || l->outbound == cur->outbound) ? l : cur;
	lose = win == l ? cur : l;
	p->link = win;
	lose->retiring = true;
	m->stats.duplicates++;
	log_info("mesh.link.duplicate", "peer=%s kept=%s", p->name,
	    win->outbound ? "outbound" : "inbound");
	if (lose->state == ML_UP && !lose->goaway_sent) {
		lose->goaway_sent = true;
		mux_goaway(lose->mux, 0, "duplicate link");
		if (!lose->in_cb)
			mlink_update_io(lose);
	}
}

static void
mlink_up(struct mlink *l)
{
	struct mesh *m = l->m;
	double ival = m->ping_ival;

	l->state = ML_UP;
	m->stats.links_up++;
	l->peer->backoff = 0;
	l->peer->retry_at = 0;
	l->peer->failing = false;
	ev_timer_stop(m->loop, &l->timer);
	ev_timer_set(&l->timer, ival, ival);
	ev_timer_start(m->loop, &l->timer);
	log_info("mesh.link.up", "peer=%s addr=%s dir=%s", l->peer->name, l->addr,
	    l->outbound ? "out" : "in");
	mesh_settle(m, l->peer, l);
	if (l->retiring && !l->dead && !l->goaway_sent) {
		l->goaway_sent = true;
		mux_goaway(l->mux, 0, "duplicate link");
	}
}

/* Checks the peer's PROOF with every key we hold. */
static bool
mlink_verify(struct mlink *l, const uint8_t *proof)
{
	const struct keyring *kr = mesh_ring(l->m);
	uint8_t mac[MESHMSG_MAC_LEN];
	size_t i;
	bool ok = false;

	for (i = 0; i < keyring_count(kr) && !ok; i++)
		if (mlink_mac(l, kr, i, false, mac) == 0 &&
		    CRYPTO_memcmp(mac, proof, sizeof(mac)) == 0)
			ok = true;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

/* Why a read or write failed, for logs: OpenSSL's reason or errno's. */
static void
mlink_io_why(struct mlink *l, ssize_t n, char *why, size_t len)
{
	char e[256];

	if (n == -EPROTO && l->tio.ssl != NULL)
		snprintf(why, len, "TLS: %s", tls_io_error(e, sizeof(e)));
	else
		snprintf(why, len, "%s", n == -EPIPE ? "peer closed the link" :
		    strerror((int)-n));
}

/* The two ends disagree about --mesh-tls: say so, count it, drop the link
 * (the dialer backs off as after any failed dial). */
static void
mlink_tls_mismatch(struct mlink *l, const char *what)
{
	l->m->stats.tls_mismatch++;
	log_warn("mesh.tls.mismatch", "peer=%s addr=%s dir=%s reason=\"%s: give "
	    "every node --mesh-tls, or none\"", l->peer != NULL ? l->peer->name : "-",
	    l->addr, l->outbound ? "out" : "in", what);
	mlink_close(l, what);
}

/* TLS first (--mesh-tls), then the binding the PROOFs will cover. A peer
 * that speaks the plain mesh is told apart by its HELLO's first byte: a
 * listener peeks at it before OpenSSL reads; a dialler sends its
 * ClientHello first (so a plain listener learns of the mismatch too) and
 * reads the plain HELLO (which a plain node sends at once) as a record
 * without a TLS version. */
static void
mlink_tls_step(struct mlink *l)
{
	struct mesh *m = l->m;
	char peek, why[300];
	ssize_t n;
	int rc;

	if (!l->outbound && !l->peeked) {
		n = recv(l->tio.fd, &peek, 1, MSG_PEEK);
		/* one byte says it: 'W' is no TLS record type (and waiting for
		 * more would spin on the unread bytes) */
		if (n > 0 && peek == MESH_MAGIC[0]) {
			uint8_t drop[MESH_HS_MAX];

			/* its HELLO read (so close sends FIN, not RST), our
			 * refusal written: the plain node learns why */
			if (read(l->tio.fd, drop, sizeof(drop)) > 0 &&
			    write(l->tio.fd, MESH_TLS_ONLY, sizeof(MESH_TLS_ONLY) - 1) < 0)
				(void)0;
			mlink_tls_mismatch(l, "the peer speaks the mesh without "
			    "TLS and this node has --mesh-tls");
			return;
		}
		if (n > 0)
			l->peeked = true;
	}
	if ((rc = tls_io_handshake(&l->tio)) == -EAGAIN)
		return;
	if (rc == 0 && meshtls_binding(l->tio.ssl, l->binding) != 0)
		rc = -EPROTO;
	if (rc == -EPROTO && !l->peeked &&
	    ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_WRONG_VERSION_NUMBER) {
		ERR_clear_error();
		mlink_tls_mismatch(l, "the peer does not speak TLS (no --mesh-tls) "
		    "and this node has --mesh-tls");
		return;
	}
	if (rc != 0) {
		mlink_io_why(l, rc, why, sizeof(why));
		m->stats.tls_failed++;
		log_warn("mesh.tls.failed", "peer=%s addr=%s dir=%s error=\"%s\"",
		    l->peer != NULL ? l->peer->name : "-", l->addr,
		    l->outbound ? "out" : "in", why);
		mlink_close(l, "TLS handshake failed");
		return;
	}
	l->state = ML_HANDSHAKE;
}

/* Reads handshake bytes; once the link is up, any bytes after the PROOF go
 * to the mux. */
static void
mlink_read_handshake(struct mlink *l)
{
	struct mesh *m = l->m;
	struct meshmsg_hello h;
	struct iovec io;
	ssize_t n;
	int rc;

	n = tls_io_read(&l->tio, l->hin + l->hin_len, sizeof(l->hin) - l->hin_len);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		char why[300];

		m->stats.handshake_bad++;
		if (n == 0)
			snprintf(why, sizeof(why), "closed during the handshake%s",
			    m->tls ? "" : " (a node with --mesh-tls closes plain links)");
		else
			mlink_io_why(l, n, why, sizeof(why));
		mlink_close(l, why);
		return;
	}
	l->hin_len += (size_t)n;
	if (!l->got_hello) {
		rc = meshmsg_hello_decode(&h, l->hin, l->hin_len);
		if (rc < 0 && l->hin[0] == 0x16 && l->hin_len >= 2 &&
		    l->hin[1] == 0x03) {
			/* a TLS record: the peer runs with --mesh-tls */
			mlink_tls_mismatch(l, "the peer speaks TLS (--mesh-tls) and "
			    "this node does not");
			return;
		}
		if (rc < 0 && l->hin_len >= sizeof(MESH_TLS_ONLY) - 1 &&
		    memcmp(l->hin, MESH_TLS_ONLY, sizeof(MESH_TLS_ONLY) - 1) == 0) {
			mlink_tls_mismatch(l, "the peer takes TLS links only "
			    "(--mesh-tls) and this node has no --mesh-tls");
			return;
		}
		if (rc < 0) {
			m->stats.handshake_bad++;
			log_warn("mesh.refused", "addr=%s reason=\"not a warren mesh "
			    "HELLO\"", l->addr);
			mlink_close(l, "not a warren mesh peer");
			return;
		}
		if (rc == 0)
			return;
		memmove(l->hin, l->hin + rc, l->hin_len - (size_t)rc);
		l->hin_len -= (size_t)rc;
		if (mlink_on_hello(l, &h) != 0)
			return;
		/* our PROOF goes out before we judge theirs, so a peer with
		 * another key learns it (and counts it) too */
		if ((rc = mlink_flush(l)) != 0) {
			mlink_close(l, strerror(-rc));
			return;
		}
	}
	if (l->hin_len < MESHMSG_MAC_LEN)
		return;
	if (!mlink_verify(l, l->hin)) {
		m->stats.auth_failed++;
		log_warn("mesh.auth.failed", "peer=%s addr=%s reason=\"the peer's proof "
		    "does not verify with any cluster key (another cluster, or a "
		    "missing or stale --cluster-key-file)\"", l->peer->name, l->addr);
		mlink_close(l, "authentication failed");
		return;
	}
	n = (ssize_t)(l->hin_len - MESHMSG_MAC_LEN);
	mlink_up(l);
	if (n > 0) {
		io = mux_rbuf(l->mux);
		if (io.iov_base == NULL || io.iov_len < (size_t)n) {
			mlink_close(l, "out of memory");
			return;
		}
		memcpy(io.iov_base, l->hin + MESHMSG_MAC_LEN, (size_t)n);
		if (mux_rcommit(l->mux, (size_t)n) != 0) {
			m->stats.protocol_errors++;
			mlink_close(l, mux_error(l->mux));
			return;
		}
	}
	l->hin_len = 0;
}

/* --- link I/O ------------------------------------------------------------ */

static void
mlink_update_io(struct mlink *l)
{
	int want;

	if (l->dead)
		return;
	if (l->state == ML_CONNECTING)
		want = EV_WRITE;
	else
		want = tls_io_events(&l->tio, true, l->state != ML_TLS &&
		    (l->hout_off < l->hout_len ||
		    (l->state == ML_UP && mux_wpending(l->mux) > 0)));
	if ((l->io.events & (EV_READ | EV_WRITE)) != want) {
		ev_io_stop(l->m->loop, &l->io);
		ev_io_set(&l->io, l->tio.fd, want);
		ev_io_start(l->m->loop, &l->io);
	}
}

/* Writes handshake bytes, then (once up) mux output. 0 or -errno. */
static int
mlink_flush(struct mlink *l)
{
	struct iovec io;
	ssize_t n;

	/* nothing of ours goes before the TLS handshake is done */
	if (l->state == ML_CONNECTING || l->state == ML_TLS)
		return 0;
	while (l->hout_off < l->hout_len) {
		n = tls_io_write(&l->tio, l->hout + l->hout_off,
		    l->hout_len - l->hout_off);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		l->hout_off += (size_t)n;
	}
	while (l->state == ML_UP && (io = mux_wbuf(l->mux)).iov_len > 0) {
		n = tls_io_write(&l->tio, io.iov_base, io.iov_len);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		mux_wconsume(l->mux, (size_t)n);
	}
	/* TLS records staged by the last write, if the socket was full */
	n = tls_io_flush(&l->tio);
	return n == -EAGAIN ? 0 : (int)n;
}

static void
mlink_read_up(struct mlink *l)
{
	struct mesh *m = l->m;
	struct mux_stream *st;
	struct iovec io;
	size_t left;
	ssize_t n;
	int i;

	for (i = 0; i < MESH_READS_PER_EVENT && !l->dead; i++) {
		/* inside a DATA payload: straight to its destination */
		if (m->cb.splice_in != NULL && l->tio.ssl == NULL &&
		    (st = mux_rpayload(l->mux, &left)) != NULL) {
			n = m->cb.splice_in(st, l->tio.fd, left);
			if (n > 0) {
				mux_rskip(l->mux, (size_t)n);
				l->last_input = ev_now(m->loop);
				continue;
			}
			if (n == -EAGAIN)
				return;
			if (n < 0) {
				mlink_close(l, n == -EPIPE ? "peer closed the link" :
				    strerror((int)-n));
				return;
			}
		}
		io = mux_rbuf(l->mux);
		if (io.iov_base == NULL) {
			mlink_close(l, "out of memory");
			return;
		}
		/* a plain link stops at the next frame header so the payload
		 * may be spliced; TLS decrypts a whole block */
		if (l->tio.ssl == NULL && io.iov_len > mux_rwant(l->mux))
			io.iov_len = mux_rwant(l->mux);
		n = tls_io_read(&l->tio, io.iov_base, io.iov_len);
		if (n == 0) {
			mlink_close(l, "peer closed the link");
			return;
		}
		if (n < 0) {
			char why[300];

			if (n != -EAGAIN) {
				mlink_io_why(l, n, why, sizeof(why));
				mlink_close(l, why);
			}
			return;
		}
		l->last_input = ev_now(m->loop);
		if (mux_rcommit(l->mux, (size_t)n) != 0) {
			m->stats.protocol_errors++;
			log_warn("mesh.protocol", "peer=%s error=\"%s\"", l->peer->name,
			    mux_error(l->mux));
			mlink_close(l, "protocol error");
			return;
		}
		/* a short read drained the socket (TLS: unless OpenSSL
		 * still holds bytes or an error came after) */
		if ((size_t)n < io.iov_len && tls_io_pending(&l->tio) == 0)
			return;
	}
}

/* A retired link closes once both ends stopped using it. */
static void
mlink_check_retire(struct mlink *l)
{
	if (l->retiring && !l->dead && l->state == ML_UP &&
	    mux_peer_goaway(l->mux) && mux_nstreams(l->mux) == 0 &&
	    mux_wpending(l->mux) == 0)
		mlink_close(l, "duplicate link retired");
}

static void
mlink_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mlink *l = w->data;
	bool rd = (revents & EV_READ) || l->tio.read_wants_write;
	char why[300];
	int rc;

	l->in_cb = true;
	if (l->state == ML_CONNECTING) {
		if ((rc = sock_connect_result(l->tio.fd)) != 0) {
			if (rc != -EINPROGRESS && rc != -EAGAIN)
				mlink_close(l, strerror(-rc));
		} else {
			l->state = l->tio.ssl != NULL ? ML_TLS : ML_HANDSHAKE;
			l->last_input = ev_now(loop);
			rd = l->tio.ssl != NULL;        /* the ClientHello goes now */
		}
	}
	if (!l->dead && l->state == ML_TLS) {
		mlink_tls_step(l);
		/* the peer's HELLO may have come with the last TLS record */
		rd = !l->dead && l->state == ML_HANDSHAKE;
	}
	if (!l->dead && rd && l->state == ML_HANDSHAKE)
		mlink_read_handshake(l);
	if (!l->dead && rd && l->state == ML_UP)
		mlink_read_up(l);
	if (!l->dead && l->state >= ML_HANDSHAKE && tls_io_pending(&l->tio) > 0)
		ev_feed_event(loop, &l->io, EV_READ);
	if (!l->dead && (rc = mlink_flush(l)) != 0) {
		mlink_io_why(l, rc, why, sizeof(why));
		mlink_close(l, why);
	}
	if (!l->dead)
		mlink_check_retire(l);
	l->in_cb = false;
	if (l->dead)
		mlink_destroy(l);
	else
		mlink_update_io(l);
}

static void
mlink_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mlink *l = w->data;
	struct mesh *m = l->m;

	if (l->state != ML_UP) {
		m->stats.handshake_bad++;
		mlink_close(l, l->state == ML_CONNECTING ? "connect timed out" :
		    "handshake timed out");
		return;
	}
	l->in_cb = true;
	mlink_check_retire(l);
	l->in_cb = false;
	if (l->dead) {
		mlink_destroy(l);
		return;
	}
	if (ev_now(loop) - l->last_input > 3 * m->ping_ival) {
		mlink_close(l, "no traffic from the peer (keepalive timeout)");
		return;
	}
	mux_ping(l->mux, (uint64_t)(ev_now(loop) * 1e6));
	tls_io_trim(&l->tio);           /* a quiet link gives its buffers back */
	if (mlink_flush(l) != 0) {
		mlink_close(l, "write failed");
		return;
	}
	mlink_update_io(l);
}

/* --- mux glue ------------------------------------------------------------ */

static int
mesh_mux_open(struct mux *mux, struct mux_stream *st, const uint8_t *hdr,
    size_t len)
{
	struct mlink *l = mux_data(mux);
	struct mesh *m = l->m;

	if (l->state != ML_UP || l->peer == NULL || m->cb.on_open == NULL)
		return -1;
	if (m->cb.on_open(m->cb.arg, l->peer->name, st, hdr, len) != 0)
		return -1;
	m->stats.streams_accepted++;
	return 0;
}

static void
mesh_mux_output(struct mux *mux)
{
	struct mlink *l = mux_data(mux);

	if (l == NULL || l->mux == NULL || l->in_cb || l->flush_queued ||
	    l->state != ML_UP)
		return;
	l->flush_queued = true;
	l->flush_next = l->m->flushq;
	l->m->flushq = l;
}

static void
mesh_mux_goaway(struct mux *mux, int code, const char *reason)
{
	struct mlink *l = mux_data(mux);

	struct mlink *o;

	/* the peer retired this link: new streams take another (or a new) one */
	l->retiring = true;
	if (l->peer == NULL || l->peer->link != l)
		return;
	l->peer->link = NULL;
	for (o = l->m->links; o != NULL; o = o->next)
		if (o != l && o->peer == l->peer && !o->dead && !o->retiring &&
		    o->state == ML_UP)
			l->peer->link = o;
}

static void
mesh_mux_control(struct mux *mux, const uint8_t *p, size_t len)
{
}

static void
mesh_mux_pong(struct mux *mux, uint64_t sent_us)
{
}

static void
mesh_on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct mesh *m = w->data;
	struct mlink *l;

	while ((l = m->flushq) != NULL) {
		m->flushq = l->flush_next;
		l->flush_queued = false;
		if (l->dead)
			continue;
		if (mlink_flush(l) != 0) {
			mlink_close(l, "write failed");
			continue;
		}
		mlink_update_io(l);
	}
}

/* --- links --------------------------------------------------------------- */

static struct mlink *
mlink_new(struct mesh *m, int fd, bool outbound)
{
	struct mlink *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->m = m;
	l->outbound = outbound;
	tls_io_plain(&l->tio, fd);
	if (m->tls_srv != NULL && ((outbound ? tls_io_client(&l->tio, fd,
	    m->tls_cli, "warren-mesh", false) : tls_io_server(&l->tio, fd,
	    m->tls_srv)) != 0 || tls_io_batch(&l->tio) != 0)) {
		tls_io_fini(&l->tio);
		free(l);
		return NULL;
	}
	if (getrandom(l->nonce, sizeof(l->nonce), 0) != sizeof(l->nonce) ||
	    (l->mux = mux_new(outbound ? MUX_CLIENT : MUX_SERVER, &m->mux_conf,
	    &m->mcb, l)) == NULL) {
		tls_io_fini(&l->tio);
		free(l);
		return NULL;
	}
	sock_nodelay(fd);
	l->state = outbound ? ML_CONNECTING : l->tio.ssl != NULL ? ML_TLS :
	    ML_HANDSHAKE;
	l->last_input = ev_now(m->loop);
	mlink_queue_hello(l);
	ev_io_init(&l->io, mlink_on_io, fd, 0);
	l->io.data = l;
	ev_timer_init(&l->timer, mlink_on_timer, m->hs_timeout, 0.);
	l->timer.data = l;
	ev_timer_start(m->loop, &l->timer);
	l->next = m->links;
	m->links = l;
	/* a plain listener's HELLO goes at once, before anything is read: a
	 * TLS dialler tells it from a ServerHello even if we then drop it */
	if (l->state == ML_HANDSHAKE)
		(void)mlink_flush(l);
	mlink_update_io(l);
	return l;
}

static void
mlink_close(struct mlink *l, const char *why)
{
	struct mesh *m = l->m;
	struct mpeer *p = l->peer;

	if (l->dead)
		return;
	l->dead = true;
	if (p != NULL && p->link == l) {
		p->link = NULL;
		p->failing = true;
	}
	if (l->outbound && l->state != ML_UP && p != NULL) {
		/* the dial failed: back off before the next */
		m->stats.dial_failed++;
		p->backoff = p->backoff < MESH_BACKOFF_MIN ? MESH_BACKOFF_MIN :
		    p->backoff * 2;
		if (p->backoff > MESH_BACKOFF_MAX)
			p->backoff = MESH_BACKOFF_MAX;
		p->retry_at = ev_now(m->loop) + p->backoff;
	}
	log_info("mesh.link.close", "peer=%s addr=%s dir=%s reason=\"%s\"",
	    p != NULL ? p->name : "-", l->addr, l->outbound ? "out" : "in", why);
	if (!l->in_cb)
		mlink_destroy(l);
}

static void
mlink_destroy(struct mlink *l)
{
	struct mesh *m = l->m;
	struct mlink **pp;

	for (pp = &m->flushq; *pp != NULL; pp = &(*pp)->flush_next) {
		if (*pp == l) {
			*pp = l->flush_next;
			break;
		}
	}
	for (pp = &m->links; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	ev_io_stop(m->loop, &l->io);
	ev_timer_stop(m->loop, &l->timer);
	tls_io_fini(&l->tio);
	close(l->tio.fd);
	OPENSSL_cleanse(l->hin, sizeof(l->hin));
	/* streams learn of it through on_reset and close their handles */
	mux_free(l->mux);
	free(l);
}

static struct mlink *
mesh_dial(struct mesh *m, struct mpeer *p)
{
	struct mlink *l;
	int fd;

	m->stats.dials++;
	if ((fd = sock_connect(&p->addr)) < 0) {
		m->stats.dial_failed++;
		p->failing = true;
		p->backoff = p->backoff < MESH_BACKOFF_MIN ? MESH_BACKOFF_MIN :
		    p->backoff * 2;
		if (p->backoff > MESH_BACKOFF_MAX)
			p->backoff = MESH_BACKOFF_MAX;
		p->retry_at = ev_now(m->loop) + p->backoff;
		return NULL;
	}
	if ((l = mlink_new(m, fd, true)) == NULL) {
		close(fd);
		return NULL;
	}
	l->peer = p;
	sock_addr_format(&p->addr, l->addr, sizeof(l->addr));
	if (p->link == NULL)
		p->link = l;
	log_debug("mesh.dial", "peer=%s addr=%s", p->name, l->addr);
	return l;
}

static void
mesh_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mesh *m = w->data;
	struct mlink *l;
	int fd, i;

	for (i = 0; i < 64; i++) {
		fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				ev_io_stop(loop, &m->lio);
				ev_timer_set(&m->accept_retry, 0.2, 0.);
				ev_timer_start(loop, &m->accept_retry);
			}
			return;
		}
		m->stats.accepted++;
		if ((l = mlink_new(m, fd, false)) == NULL) {
			close(fd);
			continue;
		}
		sock_peer_format(fd, l->addr, sizeof(l->addr));
	}
}

static void
mesh_on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mesh *m = w->data;

	ev_io_start(loop, &m->lio);
}

/* --- API ----------------------------------------------------------------- */

int
mesh_new(struct mesh **out, struct ev_loop *loop, const struct mesh_conf *conf,
    const struct mesh_callbacks *cb)
{
	static const uint8_t zero[KEYRING_KEY_LEN];
	struct mesh *m;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		if (conf->listen_fd >= 0)
			close(conf->listen_fd);
		return -ENOMEM;
	}
	m->loop = loop;
	snprintf(m->self, sizeof(m->self), "%s", conf->self);
	m->kr = conf->kr;
	if (m->kr == NULL && (keyring_new(&m->zero_kr) != 0 ||
	    keyring_add(m->zero_kr, zero) != 0)) {
		keyring_free(m->zero_kr);
		free(m);
		if (conf->listen_fd >= 0)
			close(conf->listen_fd);
		return -ENOMEM;
	}
	if (conf->tls) {
		char err[512];

		if ((m->tls_srv = meshtls_ctx(true, err, sizeof(err))) == NULL ||
		    (m->tls_cli = meshtls_ctx(false, err, sizeof(err))) == NULL) {
			log_error("mesh.tls", "error=\"%s\"", err);
			SSL_CTX_free(m->tls_srv);
			keyring_free(m->zero_kr);
			free(m);
			if (conf->listen_fd >= 0)
				close(conf->listen_fd);
			return -EPROTO;
		}
		m->tls = true;
	}
	m->mux_conf = *conf->mux;
	m->cb = *cb;
	m->mcb = *cb->stream;
	m->mcb.on_open = mesh_mux_open;
	m->mcb.on_output = mesh_mux_output;
	m->mcb.on_goaway = mesh_mux_goaway;
	m->mcb.on_control = mesh_mux_control;
	m->mcb.on_pong = mesh_mux_pong;
	m->hs_timeout = conf->handshake_timeout > 0 ? conf->handshake_timeout : 5.0;
	m->ping_ival = conf->ping_interval > 0 ? conf->ping_interval : 5.0;
	m->lfd = conf->listen_fd;
	ev_prepare_init(&m->flusher, mesh_on_flush);
	m->flusher.data = m;
	ev_prepare_start(loop, &m->flusher);
	ev_timer_init(&m->accept_retry, mesh_on_accept_retry, 0., 0.);
	m->accept_retry.data = m;
	if (m->lfd >= 0) {
		ev_io_init(&m->lio, mesh_on_accept, m->lfd, EV_READ);
		m->lio.data = m;
		ev_io_start(loop, &m->lio);
	}
	*out = m;
	return 0;
}

void
mesh_free(struct mesh *m)
{
	struct mpeer *p;

	if (m == NULL)
		return;
	while (m->links != NULL) {
		m->links->dead = true;
		mlink_destroy(m->links);
	}
	while ((p = m->peers) != NULL) {
		m->peers = p->next;
		free(p);
	}
	if (m->lfd >= 0) {
		ev_io_stop(m->loop, &m->lio);
		close(m->lfd);
	}
	ev_timer_stop(m->loop, &m->accept_retry);
	ev_prepare_stop(m->loop, &m->flusher);
	keyring_free(m->zero_kr);
	SSL_CTX_free(m->tls_srv);
	SSL_CTX_free(m->tls_cli);
	free(m);
}

int
mesh_peer_set(struct mesh *m, const char *name, const char *addr)
{
	struct sock_addr sa;
	struct mpeer *p;

	if (name == NULL || name[0] == '\0' || strcmp(name, m->self) == 0)
		return 0;
	if (addr == NULL || addr[0] == '\0') {
		if ((p = mesh_peer(m, name, false)) != NULL)
			p->has_addr = false;
		return 0;
	}
	if (sock_addr_parse(&sa, addr, NULL) != 0)
		return -EINVAL;
	if ((p = mesh_peer(m, name, true)) == NULL)
		return -ENOMEM;
	if (!p->has_addr || p->addr.len != sa.len ||
	    memcmp(&p->addr.ss, &sa.ss, sa.len) != 0) {
		p->addr = sa;
		p->has_addr = true;
		p->retry_at = 0;        /* a new address is worth a try at once */
		log_info("mesh.peer", "peer=%s addr=%s", name, addr);
	}
	return 0;
}

int
mesh_open(struct mesh *m, const char *peer, const void *hdr, size_t len,
    void *data, struct mux_stream **out)
{
	struct mpeer *p = mesh_peer(m, peer, false);
	struct mlink *l;
	int rc;

	if (p == NULL)
		return -ENOENT;
	l = p->link;
	if (l == NULL || l->dead || l->retiring || mux_peer_goaway(l->mux)) {
		if (!p->has_addr)
			return -ENOENT;
		if (ev_now(m->loop) < p->retry_at)
			return -EHOSTUNREACH;
		if ((l = mesh_dial(m, p)) == NULL)
			return -EHOSTUNREACH;
		p->link = l;
	}
	if ((rc = mux_stream_open(l->mux, hdr, len, out)) != 0)
		return rc;
	mux_stream_set_data(*out, data);
	m->stats.streams_opened++;
	return 0;
}

size_t
mesh_links_up(const struct mesh *m)
{
	const struct mlink *l;
	size_t n = 0;

	for (l = m->links; l != NULL; l = l->next)
		if (l->state == ML_UP && !l->dead)
			n++;
	return n;
}

enum mesh_link_state
mesh_link_state(const struct mesh *m, const char *peer)
{
	const struct mpeer *p;

	for (p = m->peers; p != NULL; p = p->next) {
		if (strcmp(p->name, peer) != 0)
			continue;
		if (!p->has_addr)
			return MESH_LINK_FAILING;
		if (p->link != NULL && p->link->state == ML_UP && !p->link->dead &&
		    !p->link->retiring && !mux_peer_goaway(p->link->mux))
			return MESH_LINK_READY;
		return p->failing ? MESH_LINK_FAILING : MESH_LINK_UNKNOWN;
	}
	return MESH_LINK_FAILING;
}

size_t
mesh_peers_reachable(const struct mesh *m)
{
	const struct mpeer *p;
	size_t n = 0;

	for (p = m->peers; p != NULL; p = p->next)
		if (p->has_addr)
			n++;
	return n;
}

const struct mesh_stats *
mesh_stats(const struct mesh *m)
{
	return &m->stats;
}
