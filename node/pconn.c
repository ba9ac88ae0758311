#include "pconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "acceptor.h"
#include "buf.h"
#include "http1.h"
#include "log.h"
#include "mux.h"
#include "routes.h"
#include "session.h"
#include "sock.h"
#include "tls.h"
#include "tlshello.h"
#include "proxyproto.h"
#include "spipe.h"
#include "ipcount.h"
#include "cidr.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <strings.h>
#include "certs.h"
#include "tunstats.h"
#include "sholder.h"
#include "mesh.h"
#include "meshmsg.h"
#include "lbmsg.h"
#include "lbset.h"
#include "l4proxy.h"
#include "l4tls.h"

#define PCONN_READ      (64u * 1024)    /* read granularity */
#define PCONN_IN_MAX    (128u * 1024)   /* unprocessed client bytes held */
#define PCONN_LINGER    2.0             /* s to drain input after an error */
#define PCONN_HELLO_POLL 0.005          /* s between peeks at a partial ClientHello */

enum pconn_kind { PK_HTTP, PK_HTTPS, PK_TCP };

enum pconn_state {
	PC_PROXY,       /* from a trusted load balancer: its PROXY header first */
	PC_HELLO,       /* https: waiting for the ClientHello to route by SNI */
	PC_HTTP,        /* parsing requests; st is the routed stream, if any */
	PC_SWITCH,      /* the next head needs another stream: finishing st */
	PC_RAW,         /* tcp, or after an Upgrade: bytes both ways */
	PC_CLOSING,     /* writing a final response, then closing */
	PC_LINGER,      /* response sent, write side shut: draining input */
};

struct pconn {
	struct sholder holder;          /* first: streams find their callbacks */
	struct acceptor *a;
	struct tls_io tio;              /* the public socket; TLS when terminated */
	enum pconn_kind kind;
	struct sockaddr_storage peer_sa;        /* the client (PROXY header's) */
	uint64_t sess_id;               /* the stream's tunnel: session ... */
	uint32_t tunnel_id;             /* ... and tunnel */
	bool remote;                    /* st is on a mesh link to the holder */
	uint8_t authz_md[SHA256_DIGEST_LENGTH]; /* remote: SHA-256 of the
	                                 * Authorization the holder checked */
	uint16_t port;                  /* tcp: the public port */
	bool counted;                   /* in a->ipcount */
	struct lbset_backend *rep;      /* --group: the replica this connection
	                                 * is counted against (referenced) */
	struct lbset_backend *lb_pick;  /* --group: the static backend picked,
	                                 * for the load balancer (referenced) */
	/* from the load balancer (pconn_accept_replica, rep set): what went
	 * to the replica until its first byte back, to try another candidate
	 * of rep's app when the replica's node refuses the stream */
	struct buf *replay;             /* NULL unless replaying */
	struct spipe pipe;              /* spliced tunnel bytes on their way out */
	ev_io io;
	ev_timer timer;
	struct mux_stream *st;
	struct http1_req *http;         /* NULL for tcp */
	struct buf in;                  /* client bytes not yet used (http) */
	struct buf out;                 /* bytes for the client not yet written */
	struct buf pend;                /* head bytes waiting for stream credit */
	enum pconn_state state;
	bool rd_eof, fin_sent, st_fin, resp_started, blocked, dead;
	bool in_body;                   /* between a request's head and its end */
	struct pconn *next_dead;        /* graveyard link after pconn_close */
	char *next_host;                /* PC_SWITCH: route this next ... */
	char *next_authz;               /* ... with this Authorization ... */
	struct route_claim *next_claim; /* ... to this tunnel (allocated:
	                                 * idle connections do not carry it) */
	int next_status;                /* ... or answer this and close */
	const char *next_reason;
	ev_tstamp head_start, last_active;
	char host[HTTP1_MAX_HOST + 1];  /* host the current stream serves */
	char peer[64];
	struct tunstats_entry *ts;      /* the tunnel's counters, once routed */
	uint64_t req_us;                /* a request head went on at this time
	                                   and no response byte came yet (0) */
};

static void pconn_close(struct pconn *pc);
static int pconn_process(struct pconn *pc);
static void pconn_update_io(struct pconn *pc);
static void pconn_stream_done(struct pconn *pc);
static void pconn_hello(struct pconn *pc);
static void pconn_proxy(struct pconn *pc);
static void pconn_sa_ip(const struct sockaddr_storage *ss, char *out, size_t len);
static void pconn_arm_timer(struct pconn *pc);

/* The client's address: the socket's peer (sa NULL) or what a trusted
 * load balancer's PROXY header said; kept as a sockaddr for the rules and
 * as text for logs and stream headers. */
static void
pconn_set_peer(struct pconn *pc, const struct sockaddr_storage *sa)
{
	struct sock_addr a;

	if (sa != NULL) {
		memcpy(&a.ss, sa, sizeof(a.ss));
	} else {
		a.len = sizeof(a.ss);
		if (getpeername(pc->tio.fd, (struct sockaddr *)&a.ss, &a.len) == -1)
			memset(&a.ss, 0, sizeof(a.ss));
	}
	pc->peer_sa = a.ss;
	sock_addr_format(&a, pc->peer, sizeof(pc->peer));
}

/* Bytes on their way to the client: copied (out) and spliced (pipe). */
static size_t
pconn_pending(const struct pconn *pc)
{
	return buf_len(&pc->out) + pc->pipe.len;
}

/* Moves piped bytes to the client; returns 0, or -1 when pc was closed. */
static int
pconn_pipe_out(struct pconn *pc)
{
	ssize_t n = spipe_drain(&pc->pipe, pc->tio.fd);

	if (n < 0) {
		pconn_close(pc);
		return -1;
	}
	if (n > 0 && pc->st != NULL)
		mux_stream_consumed(pc->st, (size_t)n);
	return 0;
}

static void
pconn_update_io(struct pconn *pc)
{
	struct acceptor *a = pc->a;
	int want = 0;

	if (pc->dead)
		return;
	if (!pc->rd_eof) {
		switch (pc->state) {
		case PC_HTTP:
			if (!pc->blocked && buf_len(&pc->in) < PCONN_IN_MAX)
				want |= EV_READ;
			break;
		case PC_RAW:
			if (!pc->blocked && pc->st != NULL)
				want |= EV_READ;
			break;
		case PC_LINGER:
			want |= EV_READ;
			break;
		default:
			break;
		}
	}
	want = tls_io_events(&pc->tio, want & EV_READ, pconn_pending(pc) > 0);
	if (pc->state == PC_HELLO || pc->state == PC_PROXY)
		want = 0;       /* peeking: the timer polls */
	if ((pc->io.events & (EV_READ | EV_WRITE)) != want) {
		ev_io_stop(a->loop, &pc->io);
		ev_io_set(&pc->io, pc->tio.fd, want);
		if (want)
			ev_io_start(a->loop, &pc->io);
	}
}

/* Arms the timer for the nearest deadline: the request head (408) while a
 * head is due, else the idle timeout. */
static void
pconn_arm_timer(struct pconn *pc)
{
	struct acceptor *a = pc->a;
	ev_tstamp now = ev_now(a->loop), at;

	if (pc->state == PC_HELLO || pc->state == PC_PROXY)
		at = now + PCONN_HELLO_POLL;
	else if (pc->state == PC_LINGER)
		at = pc->last_active + PCONN_LINGER;
	else if (pc->head_start > 0)
		at = pc->head_start + (double)a->conf.head_timeout / 1000.0;
	else
		at = pc->last_active + (double)a->conf.idle_timeout / 1000.0;
	ev_timer_stop(a->loop, &pc->timer);
	ev_timer_set(&pc->timer, at > now ? at - now : 0.001, 0.);
	ev_timer_start(a->loop, &pc->timer);
}

static void
pconn_count_status(struct acceptor *a, int status)
{
	switch (status) {
	case 400: a->stats.http_400++; break;
	case 401: a->stats.http_401++; break;
	case 403: a->stats.http_403++; break;
	case 404: a->stats.http_404++; break;
	case 408: a->stats.http_408++; break;
	case 431: a->stats.http_431++; break;
	case 502: a->stats.http_502++; break;
	case 503: a->stats.http_503++; break;
	case 504: a->stats.http_504++; break;
	default: break;
	}
}

/* Queues a final error response; the connection closes once it is out. */
static void
pconn_fail(struct pconn *pc, int status, const char *reason)
{
	char resp[1024];
	int n;

	pconn_count_status(pc->a, status);
	log_info("http.error", "peer=%s status=%d host=%s reason=\"%s\"", pc->peer,
	    status, pc->host[0] ? pc->host : "-", reason);
	if (pc->st != NULL) {
		mux_stream_close(pc->st);
		pc->st = NULL;
	}
	buf_consume(&pc->in, buf_len(&pc->in));
	buf_consume(&pc->pend, buf_len(&pc->pend));
	pc->state = PC_CLOSING;
	n = http1_error_response(status, reason, resp, sizeof(resp));
	if (n <= 0 || buf_append(&pc->out, resp, (size_t)n, sizeof(resp)) != 0) {
		pconn_close(pc);
		return;
	}
	pconn_update_io(pc);
}

#define PCONN_PICKS     3       /* candidates tried for a grouped name */

/* Can the replica b be reached from here now: its session is here, or the
 * link to its node has not just broken? */
static bool
pconn_replica_reachable(struct acceptor *a, const struct lbset_backend *b)
{
	if (b->node[0] == '\0')
		return acceptor_session(a, b->session) != NULL;
	return a->mesh != NULL && mesh_link_state(a->mesh, b->node) !=
	    MESH_LINK_FAILING;
}

/* A grouped name (--group): the candidate of its group this connection
 * gets, by the edge's decision (node/replica.h). A replica: returns
 * ROUTES_LOCAL or ROUTES_REMOTE with *claim set, skipping one that cannot
 * be reached now. A static backend of the app of the group's name:
 * ROUTES_APP with pc->lb_pick set, and the connection goes to the load
 * balancer, which dials that backend. ROUTES_OFFLINE when none can take
 * it. */
static enum routes_result
pconn_pick_replica(struct pconn *pc, const char *key, struct route_claim *claim,
    const struct sockaddr_storage *client)
{
	struct acceptor *a = pc->a;
	const char *app = routes_app(a->routes, key);
	struct lbset_backend *b = NULL;
	int tries;

	if (app == NULL || a->l4 == NULL)
		return ROUTES_OFFLINE;
	for (tries = 0; tries < PCONN_PICKS; tries++) {
		if ((b = l4proxy_pick(a->l4, app, client)) == NULL)
			return ROUTES_OFFLINE;
		if (b->kind != LBMSG_REPLICA) {
			if (pc->lb_pick != NULL)
				lbset_release(pc->lb_pick);
			pc->lb_pick = b;
			return ROUTES_APP;
		}
		if (pconn_replica_reachable(a, b))
			break;
		l4proxy_pick_failed(a->l4, app, client, b);
		b = NULL;
	}
	if (b == NULL)
		return ROUTES_OFFLINE;
	memset(claim, 0, sizeof(*claim));
	claim->session = b->session;
	claim->tunnel_id = b->tunnel_id;
	if (pc->rep != NULL)
		lbset_release(pc->rep);
	pc->rep = b;
	a->stats.replica_picks++;
	if (b->node[0] == '\0')
		return ROUTES_LOCAL;
	snprintf(claim->node, sizeof(claim->node), "%s", b->node);
	return ROUTES_REMOTE;
}

static enum routes_result
pconn_lookup(struct pconn *pc, const char *key, struct route_claim *claim,
    const struct sockaddr_storage *client)
{
	enum routes_result r = routes_lookup_host(pc->a->routes, key, claim);

	return r == ROUTES_GROUP ? pconn_pick_replica(pc, key, claim,
	    client != NULL ? client : &pc->peer_sa) : r;
}

/* The client the load balancer decides for: the last address of the
 * request's X-Forwarded-For when the connection comes from a balancer of
 * --xff-from, else the connection's (or its PROXY header's). */
static const struct sockaddr_storage *
pconn_client(struct pconn *pc, const struct http1_ev *ev,
    struct sockaddr_storage *buf)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)buf;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)buf;

	if (ev == NULL || ev->xff == NULL || pc->a->xff_from.n == 0 ||
	    !cidr_match(&pc->a->xff_from, (struct sockaddr *)&pc->peer_sa))
		return &pc->peer_sa;
	memset(buf, 0, sizeof(*buf));
	if (inet_pton(AF_INET, ev->xff, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return buf;
	}
	if (inet_pton(AF_INET6, ev->xff, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return buf;
	}
	pc->a->stats.xff_bad++;
	return &pc->peer_sa;
}

#define PCONN_TO_APP    1       /* pconn_resolve: a `domains` name */

/* The request (head[hlen], rewritten with the forwarding headers, then
 * what follows the used bytes of the input) is for a `domains` name: the
 * whole connection goes to the load balancer, which picks a backend of
 * its app and relays the bytes from here on (later requests on it go to
 * that backend). TLS ended here goes with its SSL object to the bridge
 * (l4tls), which hands the plaintext on. Returns -1 (pc is gone either
 * way). */
static int
pconn_to_app(struct pconn *pc, const char *host, const uint8_t *head,
    size_t hlen, size_t used, const struct sockaddr_storage *client)
{
	struct acceptor *a = pc->a;
	const char *app = routes_app(a->routes, host);
	const uint8_t *more = buf_data(&pc->in) + used;
	size_t more_len = buf_len(&pc->in) - used;
	char why[300];
	int rc;

	if (app == NULL || a->l4 == NULL) {
		snprintf(why, sizeof(why), "%s is served by the load balancer "
		    "(app %s)", host, app != NULL ? app : "?");
		pconn_fail(pc, 502, why);
		return -1;
	}
	if (pc->tio.ssl != NULL) {
		/* through the TLS bridge, whose connection decides anew */
		rc = l4tls_adopt(a->l4tls, &pc->tio, client, app, head, hlen,
		    more, more_len);
	} else {
		rc = l4proxy_adopt(a->l4, pc->tio.fd, client, app, pc->lb_pick,
		    head, hlen, more, more_len);
		if (rc == 0)
			pc->lb_pick = NULL;     /* the load balancer's now */
	}
	if (rc != 0) {
		pconn_fail(pc, 503, "the load balancer cannot take this connection");
		return -1;
	}
	pc->tio.fd = -1;        /* the load balancer's now */
	pconn_close(pc);
	return -1;
}

/* Finds the tunnel for host and checks the client may use it. Returns 0
 * with *claim set, PCONN_TO_APP for a name its app's backends serve, or an
 * HTTP status with *reason. */
static int
pconn_resolve(struct pconn *pc, const char *host, const struct http1_ev *ev,
    struct route_claim *claim, const char **reason)
{
	struct acceptor *a = pc->a;
	const struct tunnel_policy *pol;
	struct sockaddr_storage xbuf;

	switch (pconn_lookup(pc, host, claim, pconn_client(pc, ev, &xbuf))) {
	case ROUTES_APP:
		return PCONN_TO_APP;
	case ROUTES_UNKNOWN:
		*reason = "no tunnel is registered for this host";
		return 404;
	case ROUTES_OFFLINE:
	case ROUTES_GROUP:
		*reason = "the tunnel for this host is offline";
		return 503;
	case ROUTES_REMOTE:
		return 0;       /* its holder checks the tunnel's protections */
	case ROUTES_LOCAL:
		claim->node[0] = '\0';
		break;
	}
	if ((pol = session_policy(a, claim->session, claim->tunnel_id)) == NULL) {
		*reason = "the tunnel for this host is offline";
		return 503;
	}
	if (!tunnel_policy_allows(pol, (struct sockaddr *)&pc->peer_sa)) {
		a->stats.refused_policy++;
		*reason = "this tunnel does not accept requests from your address";
		return 403;
	}
	if (!tunnel_policy_basic_ok(pol, ev->authorization, ev->authorization_len)) {
		*reason = "this tunnel needs a user name and password";
		return 401;
	}
	return 0;
}

/* Counts this connection's traffic under the tunnel "kind:name", and one
 * request (a connection, for tcp and passthrough) to it. */
static void
pconn_count_tunnel(struct pconn *pc, const char *kind, const char *name)
{
	char key[TUNSTATS_NAME_MAX];

	if (pc->a->tunstats == NULL)
		return;
	snprintf(key, sizeof(key), "%s:%s", kind, name);
	pc->ts = tunstats_get(pc->a->tunstats, key);
	pc->ts->requests++;
}

/* A request head went to the tunnel: its answer's first byte is timed
 * (the first one only, when requests are pipelined). */
static void
pconn_request_sent(struct pconn *pc)
{
	if (pc->req_us == 0)
		pc->req_us = acceptor_now_us(pc->a);
}

/* Response bytes arrived: the first after a request is counted in the
 * first-byte histogram of its listener kind. */
static void
pconn_first_byte(struct pconn *pc)
{
	static const double bounds[] = ACCEPTOR_TTFB_BOUNDS;
	struct acceptor_stats *st = &pc->a->stats;
	uint64_t us;
	int k = pc->kind == PK_HTTPS ? 1 : 0;
	size_t b = 0;

	if (pc->req_us == 0 || pc->kind == PK_TCP)
		return;
	us = acceptor_now_us(pc->a) - pc->req_us;
	pc->req_us = 0;
	while (b < sizeof(bounds) / sizeof(bounds[0]) && (double)us > bounds[b] * 1e6)
		b++;
	st->ttfb_bucket[k][b]++;
	st->ttfb_sum_us[k] += us;
	st->ttfb_count[k]++;
}

/* Bytes from (in) or to the client, by listener kind and tunnel. */
static void
pconn_count_bytes(struct pconn *pc, size_t in, size_t out)
{
	pc->a->stats.bytes_in[pc->kind] += in;
	pc->a->stats.bytes_out[pc->kind] += out;
	if (pc->ts != NULL) {
		pc->ts->bytes_in += in;
		pc->ts->bytes_out += out;
	}
}

static int pconn_open_remote_one(struct pconn *pc, uint8_t kind,
    const char *host, const struct route_claim *claim, const char *authz,
    size_t authz_len);

/* Opens a stream over the mesh to the node holding claim's session, for
 * a connection from the listener `kind`; with --ha, to the same client's
 * session on another node when the link to the holder's broke (and the
 * failure detector has not spoken yet) while the other's did not, or when
 * the holder's node cannot be dialled. Returns 0 or -errno. */
static int
pconn_open_remote(struct pconn *pc, uint8_t kind, const char *host,
    const struct route_claim *claim, const char *authz, size_t authz_len)
{
	struct route_claim alt;
	const struct route_claim *first = claim, *second = NULL;
	struct mesh *m = pc->a->mesh;
	int rc;

	if (claim->alt_node[0] != '\0' && m != NULL) {
		memset(&alt, 0, sizeof(alt));
		alt.session = claim->alt_session;
		alt.tunnel_id = claim->alt_tunnel_id;
		snprintf(alt.node, sizeof(alt.node), "%s", claim->alt_node);
		second = &alt;
		if (mesh_link_state(m, claim->node) == MESH_LINK_FAILING &&
		    mesh_link_state(m, alt.node) != MESH_LINK_FAILING) {
			first = &alt;
			second = claim;
		}
	}
	rc = pconn_open_remote_one(pc, kind, host, first, authz, authz_len);
	if (rc != 0 && second != NULL) {
		pc->a->stats.fwd_alternate++;
		rc = pconn_open_remote_one(pc, kind, host, second, authz, authz_len);
	} else if (rc == 0 && first != claim) {
		pc->a->stats.fwd_alternate++;
	}
	return rc;
}

static int
pconn_open_remote_one(struct pconn *pc, uint8_t kind, const char *host,
    const struct route_claim *claim, const char *authz, size_t authz_len)
{
	struct acceptor *a = pc->a;
	struct meshmsg_fwd *h;
	uint8_t *hdr;
	int n, rc;

	if (a->mesh == NULL)
		return -ENOENT;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	if ((hdr = malloc(MESHMSG_FWD_MAX)) == NULL) {
		free(h);
		return -ENOMEM;
	}
	h->listener = kind;
	h->hops = 1;
	h->session = claim->session;
	h->tunnel_id = claim->tunnel_id;
	h->port = pc->port;
	snprintf(h->client, sizeof(h->client), "%s", pc->peer);
	snprintf(h->host, sizeof(h->host), "%s", host);
	snprintf(h->from, sizeof(h->from), "%s", a->conf.name);
	if (authz_len > MESHMSG_STR_MAX)
		authz_len = MESHMSG_STR_MAX;
	if (authz != NULL)
		memcpy(h->authz, authz, authz_len);
	h->authz[authz != NULL ? authz_len : 0] = '\0';
	SHA256((const unsigned char *)h->authz, strlen(h->authz), pc->authz_md);
	n = meshmsg_fwd_encode(h, hdr, MESHMSG_FWD_MAX);
	rc = n < 0 ? n : mesh_open(a->mesh, claim->node, hdr, (size_t)n, pc, &pc->st);
	free(hdr);
	free(h);
	if (rc != 0) {
		a->stats.fwd_unreachable++;
		log_info("fwd.unreachable", "peer=%s node=%s host=%s error=\"%s\"",
		    pc->peer, claim->node, host[0] ? host : "-", strerror(-rc));
		return rc;
	}
	a->stats.fwd_forwarded++;
	pc->remote = true;
	pc->sess_id = claim->session;
	pc->tunnel_id = claim->tunnel_id;
	return 0;
}

/* True if this head carries the Authorization the holder checked when the
 * remote stream opened (so it may ride the same stream). */
static bool
pconn_authz_same(const struct pconn *pc, const struct http1_ev *ev)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	size_t len = ev->authorization != NULL ? ev->authorization_len : 0;

	if (len > MESHMSG_STR_MAX)
		len = MESHMSG_STR_MAX;
	SHA256((const unsigned char *)(len ? ev->authorization : ""), len, md);
	return CRYPTO_memcmp(md, pc->authz_md, sizeof(md)) == 0;
}

/* Opens a stream to the tunnel claim names. Returns 0, or -1 after queueing
 * an error response. */
static int
pconn_open(struct pconn *pc, const char *host, const struct route_claim *claim,
    const char *authz, size_t authz_len)
{
	struct acceptor *a = pc->a;
	struct session *s;
	char why[300];
	int rc;

	snprintf(pc->host, sizeof(pc->host), "%s", host);
	pc->remote = false;
	if (claim->node[0] != '\0') {
		rc = pconn_open_remote(pc, pc->tio.ssl != NULL ? MESHMSG_HTTPS :
		    MESHMSG_HTTP, host, claim, authz, authz_len);
		if (rc != 0) {
			snprintf(why, sizeof(why), "the node holding this tunnel (%s) "
			    "cannot be reached", claim->node);
			pconn_fail(pc, 502, why);
			return -1;
		}
		pconn_count_tunnel(pc, pc->kind == PK_HTTPS ? "https" : "http", host);
		pc->resp_started = false;
		pc->st_fin = pc->fin_sent = false;
		pc->req_us = 0;
		return 0;
	}
	if ((s = acceptor_session(a, claim->session)) == NULL) {
		pconn_fail(pc, 503, "the tunnel for this host is offline");
		return -1;
	}
	rc = session_open_stream(s, claim->tunnel_id, pc->peer, host, pc, &pc->st);
	if (rc != 0) {
		pconn_fail(pc, 503, rc == -EAGAIN ? "the tunnel is busy or draining" :
		    "the tunnel for this host is offline");
		return -1;
	}
	pc->sess_id = claim->session;
	pc->tunnel_id = claim->tunnel_id;
	pconn_count_tunnel(pc, pc->kind == PK_HTTPS ? "https" : "http", host);
	pc->resp_started = false;
	pc->st_fin = pc->fin_sent = false;
	pc->req_us = 0;
	return 0;
}

/* Sends what fits of p on the stream and keeps the rest in pend, which
 * goes out before anything else. */
static int
pconn_send(struct pconn *pc, const uint8_t *p, size_t len)
{
	size_t n = mux_stream_write(pc->st, p, len);

	pconn_count_bytes(pc, len, 0);
	if (n < len && buf_append(&pc->pend, p + n, len - n, 64u * 1024) != 0)
		return -1;
	return 0;
}

static void
pconn_send_fin(struct pconn *pc)
{
	if (pc->st != NULL && !pc->fin_sent) {
		pc->fin_sent = true;
		mux_stream_fin(pc->st);
	}
}

/* Stops using the current stream for the next head: FIN it and wait until
 * its answer has been delivered (pconn_stream_done). */
static void
pconn_switch(struct pconn *pc)
{
	pc->state = PC_SWITCH;
	pconn_send_fin(pc);
	if (pc->st_fin && pconn_pending(pc) == 0)
		pconn_stream_done(pc);
}

/* Runs the request filter over the buffered input. Returns 0, or -1 when pc
 * was closed. */
static int
pconn_process(struct pconn *pc)
{
	struct acceptor *a = pc->a;
	struct route_claim claim;
	struct http1_ev ev;
	const char *reason;
	size_t len, limit, n;
	int status;

	for (;;) {
		if (pc->state != PC_HTTP && pc->state != PC_RAW)
			return 0;
		if (buf_len(&pc->pend) > 0) {
			n = mux_stream_write(pc->st, buf_data(&pc->pend),
			    buf_len(&pc->pend));
			buf_consume(&pc->pend, n);
			if (buf_len(&pc->pend) > 0) {
				pc->blocked = true;
				return 0;
			}
			buf_release(&pc->pend);
		}
		if ((len = buf_len(&pc->in)) == 0)
			break;
		if (pc->state == PC_RAW) {
			n = mux_stream_write(pc->st, buf_data(&pc->in), len);
			buf_consume(&pc->in, n);
			if (n < len) {
				pc->blocked = true;
				return 0;
			}
			break;
		}
		limit = len;
		if (pc->st != NULL) {
			size_t room = mux_stream_room(pc->st);
			if (room == 0) {
				pc->blocked = true;
				return 0;
			}
			if (limit > room)
				limit = room;
		}
		/* the 408 clock runs from the first byte of each head, never
		 * while a body streams */
		if (pc->head_start == 0 && !pc->in_body)
			pc->head_start = ev_now(a->loop);
		switch (http1_req_feed(pc->http, buf_data(&pc->in), limit, &ev)) {
		case HTTP1_AGAIN:
			buf_consume(&pc->in, ev.used);
			continue;
		case HTTP1_HEAD:
			a->stats.http_requests++;
			pc->head_start = 0;
			pc->in_body = true;
			pconn_arm_timer(pc);    /* from the head deadline to idle */
			if (pc->st != NULL && strcmp(ev.host, pc->host) == 0 &&
			    (!pc->remote || pconn_authz_same(pc, &ev))) {
				const struct tunnel_policy *pol = session_policy(a,
				    pc->sess_id, pc->tunnel_id);

				if (pol == NULL || tunnel_policy_basic_ok(pol,
				    ev.authorization, ev.authorization_len)) {
					if (pc->ts != NULL)
						pc->ts->requests++;
					pconn_request_sent(pc);
					if (pconn_send(pc, ev.head, ev.head_len) != 0)
						goto nomem;
					buf_consume(&pc->in, ev.used);
					continue;
				}
				/* answered once the responses before it are out */
				pc->next_status = 401;
				pc->next_reason = "this tunnel needs a user name and password";
				buf_consume(&pc->in, buf_len(&pc->in));
				pconn_switch(pc);
				return pc->dead ? -1 : 0;
			}
			status = pconn_resolve(pc, ev.host, &ev, &claim, &reason);
			if (status == PCONN_TO_APP) {
				struct sockaddr_storage xbuf;

				if (pc->st == NULL)
					return pconn_to_app(pc, ev.host, ev.head,
					    ev.head_len, ev.used,
					    pconn_client(pc, &ev, &xbuf));
				/* a connection already on a tunnel stays HTTP */
				status = 421;
				reason = "this host is served by the load balancer: "
				    "open a new connection for it";
			}
			if (pc->st != NULL) {
				/* another host: never on this stream */
				if (status != 0) {
					pc->next_status = status;
					pc->next_reason = reason;
					buf_consume(&pc->in, buf_len(&pc->in));
				} else {
					if (buf_append(&pc->pend, ev.head, ev.head_len,
					    64u * 1024) != 0 ||
					    (pc->next_host = strdup(ev.host)) == NULL ||
					    (pc->next_authz = strndup(ev.authorization ?
					    ev.authorization : "", ev.authorization ?
					    ev.authorization_len : 0)) == NULL ||
					    (pc->next_claim = malloc(sizeof(claim))) == NULL)
						goto nomem;
					*pc->next_claim = claim;
					buf_consume(&pc->in, ev.used);
				}
				pconn_switch(pc);
				return pc->dead ? -1 : 0;
			}
			buf_consume(&pc->in, ev.used);
			snprintf(pc->host, sizeof(pc->host), "%s", ev.host);
			if (status != 0) {
				pconn_fail(pc, status, reason);
				return pc->dead ? -1 : 0;
			}
			if (pconn_open(pc, ev.host, &claim, ev.authorization,
			    ev.authorization ? ev.authorization_len : 0) != 0)
				return pc->dead ? -1 : 0;
			pconn_request_sent(pc);
			if (pconn_send(pc, ev.head, ev.head_len) != 0)
				goto nomem;
			continue;
		case HTTP1_BODY:
			/* ev.used <= mux_stream_room(): all of it goes; pend
			 * keeps order should the mux ever take less */
			if (pconn_send(pc, buf_data(&pc->in), ev.used) != 0)
				goto nomem;
			buf_consume(&pc->in, ev.used);
			continue;
		case HTTP1_END:
			buf_consume(&pc->in, ev.used);
			pc->in_body = false;
			if (!ev.keep_alive) {
				/* the last request: whatever follows is not
				 * HTTP we would answer; half-close instead */
				buf_consume(&pc->in, buf_len(&pc->in));
				pc->rd_eof = true;
			}
			continue;
		case HTTP1_UPGRADE:
			pc->in_body = false;
			buf_consume(&pc->in, ev.used);
			http1_req_upgrade(pc->http, true);
			pc->state = PC_RAW;
			continue;
		case HTTP1_ERROR:
			if (pc->st == NULL || (pc->in_body && !pc->resp_started)) {
				/* nothing answered yet: the error is the answer */
				pconn_fail(pc, ev.status, ev.reason);
				return pc->dead ? -1 : 0;
			}
			if (pc->in_body) {
				/* a broken body under a response in flight */
				log_info("http.error", "peer=%s status=%d host=%s reason=\"%s\"",
				    pc->peer, ev.status, pc->host, ev.reason);
				pconn_count_status(a, ev.status);
				pconn_close(pc);
				return -1;
			}
			/* a bad head after complete requests: answer it once the
			 * responses before it are delivered */
			pc->next_status = ev.status;
			pc->next_reason = ev.reason;
			buf_consume(&pc->in, buf_len(&pc->in));
			pconn_switch(pc);
			return pc->dead ? -1 : 0;
		}
	}
	buf_release(&pc->in);
	if (pc->rd_eof) {
		if (pc->st == NULL) {
			pconn_close(pc);
			return -1;
		}
		pconn_send_fin(pc);
	}
	if (pc->st == NULL && pc->head_start == 0)
		http1_req_release(pc->http);
	return 0;
nomem:
	pconn_close(pc);
	return -1;
}

/* The current stream's answer is complete and delivered. */
static void
pconn_stream_done(struct pconn *pc)
{
	char *host, *authz;
	int rc;

	switch (pc->state) {
	case PC_SWITCH:
		mux_stream_close(pc->st);
		pc->st = NULL;
		pc->state = PC_HTTP;
		if (pc->next_host == NULL) {
			pconn_fail(pc, pc->next_status ? pc->next_status : 400,
			    pc->next_reason ? pc->next_reason : "bad request");
			return;
		}
		host = pc->next_host;
		pc->next_host = NULL;
		authz = pc->next_authz;
		pc->next_authz = NULL;
		rc = pconn_open(pc, host, pc->next_claim, authz,
		    authz ? strlen(authz) : 0);
		free(pc->next_claim);
		pc->next_claim = NULL;
		if (rc != 0) {
			free(host);
			free(authz);
			return;
		}
		free(host);
		pconn_request_sent(pc);         /* the head waiting in pend */
		free(authz);
		if (pconn_process(pc) == 0)
			pconn_update_io(pc);
		return;
	case PC_RAW:
		if (pc->http == NULL || pc->rd_eof) {
			tls_io_shutdown_write(&pc->tio);
			if (pc->fin_sent) {
				pconn_close(pc);
				return;
			}
			pconn_update_io(pc);
			return;
		}
		pconn_close(pc);
		return;
	default:
		/* the service closed an HTTP connection: so do we */
		pconn_close(pc);
		return;
	}
}

/* Writes out; returns 0, or -1 when pc was closed. */
static int
pconn_flush(struct pconn *pc)
{
	ssize_t n;

	/* spliced bytes came first: they go first */
	if (pc->pipe.len > 0) {
		if (pconn_pipe_out(pc) != 0)
			return -1;
		if (pc->pipe.len > 0)
			return 0;
	}
	while (buf_len(&pc->out) > 0) {
		n = tls_io_write(&pc->tio, buf_data(&pc->out), buf_len(&pc->out));
		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			pconn_close(pc);
			return -1;
		}
		buf_consume(&pc->out, (size_t)n);
		if (pc->st != NULL)
			mux_stream_consumed(pc->st, (size_t)n);
	}
	buf_release(&pc->out);
	if (pc->state == PC_CLOSING) {
		tls_io_shutdown_write(&pc->tio);
		pc->state = PC_LINGER;
		pc->last_active = ev_now(pc->a->loop);
		pconn_arm_timer(pc);
		return 0;
	}
	if (pc->st != NULL && pc->st_fin)
		pconn_stream_done(pc);
	return pc->dead ? -1 : 0;
}

#define PCONN_REPLAY_MAX        (64u * 1024)

static void
pconn_stop_replay(struct pconn *pc)
{
	if (pc->replay != NULL)
		buf_fini(pc->replay);
	free(pc->replay);
	pc->replay = NULL;
}

/* Keeps what goes to a replica the load balancer picked until its first
 * byte back (bounded: past PCONN_REPLAY_MAX there is no second try). */
static void
pconn_keep_replay(struct pconn *pc, const void *p, size_t n)
{
	if (pc->replay != NULL &&
	    buf_append(pc->replay, p, n, PCONN_REPLAY_MAX) != 0)
		pconn_stop_replay(pc);
}

/* The replica's node refused the stream before anything came back (its
 * session went: the replica is out here for the back-off; or the tunnel
 * wants credentials raw bytes cannot carry: never again an L4 pick) and
 * the connection, with what it sent so far, goes back to the load
 * balancer for another candidate.
 * Returns true when it did (pc is closed). */
static bool
pconn_replay(struct pconn *pc, int code)
{
	struct acceptor *a = pc->a;
	char app[LBSET_NAME_MAX + 1];

	if (pc->replay == NULL || pc->resp_started || pc->rep == NULL || a->l4 == NULL ||
	    (code != MUX_RST_SESSION_GONE && code != MUX_RST_NO_TUNNEL &&
	    code != MUX_RST_AUTH && code != MUX_RST_REFUSED))
		return false;
	/* the replica may go with its reference */
	snprintf(app, sizeof(app), "%s", pc->rep->app);
	if (code == MUX_RST_AUTH)
		l4proxy_refuse_raw(a->l4, app, &pc->peer_sa, pc->rep);
	else
		l4proxy_pick_failed(a->l4, app, &pc->peer_sa, pc->rep);
	pc->rep = NULL;
	if (pc->counted) {
		ipcount_release(a->ipcount, (struct sockaddr *)&pc->peer_sa);
		pc->counted = false;
	}
	if (l4proxy_adopt(a->l4, pc->tio.fd, &pc->peer_sa, app, NULL,
	    buf_data(pc->replay), buf_len(pc->replay), NULL, 0) != 0)
		return false;
	pc->tio.fd = -1;        /* the load balancer's again */
	pconn_close(pc);
	return true;
}

static void
pconn_read_raw(struct pconn *pc)
{
	size_t room;
	uint8_t *p;
	ssize_t n;
	int i;

	for (i = 0; i < 4; i++) {
		if ((p = mux_stream_data_begin(pc->st, &room)) == NULL) {
			pc->blocked = true;
			return;
		}
		n = tls_io_read(&pc->tio, p, room);
		if (n <= 0) {
			mux_stream_data_commit(pc->st, 0);
			if (n == 0) {
				pc->rd_eof = true;
				pconn_send_fin(pc);
				if (pc->st_fin && pconn_pending(pc) == 0)
					pconn_stream_done(pc);
			} else if (n != -EAGAIN) {
				pconn_close(pc);
			}
			return;
		}
		pconn_keep_replay(pc, p, (size_t)n);
		mux_stream_data_commit(pc->st, (size_t)n);
		pconn_count_bytes(pc, (size_t)n, 0);
		if ((size_t)n < room && tls_io_pending(&pc->tio) == 0)
			return;
	}
	if (tls_io_pending(&pc->tio) > 0)
		ev_feed_event(pc->a->loop, &pc->io, EV_READ);
}

static void
pconn_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pconn *pc = w->data;
	struct iovec io;
	ssize_t n;
	char junk[4096];

	pc->last_active = ev_now(loop);
	if ((revents & EV_WRITE) || pc->tio.write_wants_read) {
		if (pconn_pending(pc) > 0 && pconn_flush(pc) != 0)
			return;
	}
	if (!(revents & EV_READ) && !pc->tio.read_wants_write)
		goto out;
	switch (pc->state) {
	case PC_LINGER:
		n = tls_io_read(&pc->tio, junk, sizeof(junk));
		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			pconn_close(pc);
			return;
		}
		goto out;
	case PC_RAW:
		if (buf_len(&pc->in) == 0)
			pconn_read_raw(pc);
		break;
	case PC_HTTP:
		io = buf_reserve(&pc->in, 16u * 1024, PCONN_IN_MAX);
		if (io.iov_base == NULL)
			break;
		if (io.iov_len > PCONN_READ)
			io.iov_len = PCONN_READ;
		n = tls_io_read(&pc->tio, io.iov_base, io.iov_len);
		if (n > 0) {
			buf_commit(&pc->in, (size_t)n);
			if (tls_io_pending(&pc->tio) > 0)
				ev_feed_event(loop, &pc->io, EV_READ);
		} else if (n == 0) {
			pc->rd_eof = true;
		} else if (n != -EAGAIN) {
			pconn_close(pc);
			return;
		}
		buf_release(&pc->in);
		if (pconn_process(pc) != 0)
			return;
		if (pc->state == PC_HTTP && pc->head_start > 0)
			pconn_arm_timer(pc);
		break;
	default:
		break;
	}
out:
	pconn_update_io(pc);
}

static void
pconn_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pconn *pc = w->data;
	struct acceptor *a = pc->a;
	ev_tstamp now = ev_now(loop);

	if (pc->state == PC_HELLO || pc->state == PC_PROXY) {
		if (now - pc->head_start >= (double)a->conf.head_timeout / 1000.0) {
			log_info(pc->state == PC_HELLO ? "tls.hello.timeout" :
			    "proxy.timeout", "peer=%s", pc->peer);
			if (pc->state == PC_PROXY)
				a->stats.proxy_errors++;
			pconn_close(pc);
			return;
		}
		if (pc->state == PC_HELLO)
			pconn_hello(pc);
		else
			pconn_proxy(pc);
		return;
	} else if (pc->state == PC_LINGER) {
		if (now - pc->last_active >= PCONN_LINGER - 0.01) {
			pconn_close(pc);
			return;
		}
	} else if (pc->head_start > 0 &&
	    now - pc->head_start >= (double)a->conf.head_timeout / 1000.0 - 0.001) {
		if (pc->st == NULL && pc->state == PC_HTTP) {
			pc->head_start = 0;
			pconn_fail(pc, 408, "the request head took too long");
		} else {
			pconn_close(pc);
		}
		return;
	} else if (pc->head_start == 0 &&
	    now - pc->last_active >= (double)a->conf.idle_timeout / 1000.0 - 0.001) {
		log_debug("conn.idle", "peer=%s", pc->peer);
		a->stats.idle_closed++;
		pconn_close(pc);
		return;
	}
	pconn_arm_timer(pc);
}

static const struct sholder_ops pconn_holder_ops = {
	.on_data = pconn_on_data,
	.on_fin = pconn_on_fin,
	.on_reset = pconn_on_reset,
	.on_writable = pconn_on_writable,
	.splice_in = pconn_splice_in,
};

static struct pconn *
pconn_new(struct acceptor *a, int fd)
{
	struct pconn *pc;

	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		close(fd);
		return NULL;
	}
	pc->holder.ops = &pconn_holder_ops;
	pc->a = a;
	tls_io_plain(&pc->tio, fd);
	spipe_init(&pc->pipe);
	sock_nodelay(fd);
	pconn_set_peer(pc, NULL);
	ev_io_init(&pc->io, pconn_on_io, fd, 0);
	pc->io.data = pc;
	ev_timer_init(&pc->timer, pconn_on_timer, 0., 0.);
	pc->timer.data = pc;
	pc->last_active = ev_now(a->loop);
	a->nconns++;
	a->stats.conns_opened++;
	return pc;
}

/* Releases everything but the struct itself, which stays readable (dead)
 * until pconn_reap() runs after the current callbacks (redis
 * freeClientAsync), so no caller up the stack touches freed memory. */
static void
pconn_close(struct pconn *pc)
{
	struct acceptor *a = pc->a;

	if (pc->dead)
		return;
	pc->dead = true;
	ev_io_stop(a->loop, &pc->io);
	ev_timer_stop(a->loop, &pc->timer);
	if (pc->st != NULL)
		mux_stream_close(pc->st);
	tls_io_fini(&pc->tio);
	close(pc->tio.fd);
	spipe_fini(&pc->pipe);
	if (pc->counted)
		ipcount_release(a->ipcount, (struct sockaddr *)&pc->peer_sa);
	if (pc->rep != NULL)
		lbset_release(pc->rep);
	pc->rep = NULL;
	if (pc->lb_pick != NULL)
		lbset_release(pc->lb_pick);
	pc->lb_pick = NULL;
	http1_req_free(pc->http);
	buf_fini(&pc->in);
	buf_fini(&pc->out);
	buf_fini(&pc->pend);
	free(pc->next_host);
	pc->next_host = NULL;
	free(pc->next_authz);
	pc->next_authz = NULL;
	free(pc->next_claim);
	pc->next_claim = NULL;
	pconn_stop_replay(pc);
	pc->st = NULL;
	a->nconns--;
	a->stats.conns_closed++;
	pc->next_dead = a->graveyard;
	a->graveyard = pc;
}

void
pconn_reap(struct acceptor *a)
{
	struct pconn *pc;

	while ((pc = a->graveyard) != NULL) {
		a->graveyard = pc->next_dead;
		free(pc);
	}
}

/* Address without the port, for X-Forwarded-For. */
static void
pconn_sa_ip(const struct sockaddr_storage *ss, char *out, size_t len)
{
	snprintf(out, len, "0.0.0.0");
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
		    (socklen_t)len);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out,
		    (socklen_t)len);
}


/* The connection's client is known (its socket peer, or what a trusted
 * load balancer's PROXY header said): apply the per-address cap, then start
 * the listener's protocol. */
static void
pconn_begin(struct pconn *pc)
{
	struct acceptor *a = pc->a;
	struct http1_conf hc;
	const struct tunnel_policy *pol;
	struct session *s;
	char ip[64];

	if (!ipcount_take(a->ipcount, (struct sockaddr *)&pc->peer_sa,
	    (unsigned)a->conf.max_conns_per_ip)) {
		a->stats.refused_per_ip++;
		log_info("conn.refused", "peer=%s reason=\"over --max-conns-per-ip %lld\"",
		    pc->peer, a->conf.max_conns_per_ip);
		pconn_close(pc);
		return;
	}
	pc->counted = true;
	switch (pc->kind) {
	case PK_HTTP:
		http1_conf_default(&hc);
		hc.max_head = a->conf.head_max;
		pconn_sa_ip(&pc->peer_sa, ip, sizeof(ip));
		if (http1_req_new(&pc->http, &hc, ip, false) != 0) {
			pconn_close(pc);
			return;
		}
		pc->state = PC_HTTP;
		pc->head_start = ev_now(a->loop);
		pconn_arm_timer(pc);
		pconn_update_io(pc);
		return;
	case PK_HTTPS:
		pc->state = PC_HELLO;
		pc->head_start = ev_now(a->loop);
		pconn_hello(pc);
		return;
	case PK_TCP:
		pc->state = PC_RAW;
		pc->head_start = 0;
		if (pc->remote) {
			struct route_claim c;
			char key[32];

			/* the table now (its --ha alternate too), else the
			 * holder the port's listener knew */
			snprintf(key, sizeof(key), "%s%u", ROUTES_TCP_PREFIX,
			    pc->port);
			if (routes_lookup_host(a->routes, key, &c) != ROUTES_REMOTE) {
				memset(&c, 0, sizeof(c));
				c.session = pc->sess_id;
				c.tunnel_id = pc->tunnel_id;
				snprintf(c.node, sizeof(c.node), "%.*s",
				    ROUTES_NODE_MAX, pc->host);
			}
			pc->host[0] = '\0';
			if (pconn_open_remote(pc, MESHMSG_TCP, "", &c, NULL, 0) != 0) {
				pconn_close(pc);
				return;
			}
			pconn_arm_timer(pc);
			pconn_update_io(pc);
			return;
		}
		s = acceptor_session(a, pc->sess_id);
		pol = session_policy(a, pc->sess_id, pc->tunnel_id);
		if (pol != NULL && !tunnel_policy_allows(pol,
		    (struct sockaddr *)&pc->peer_sa)) {
			a->stats.refused_policy++;
			log_info("conn.refused", "peer=%s reason=\"address not allowed by the tunnel\"",
			    pc->peer);
			pconn_close(pc);
			return;
		}
		if (s == NULL || session_open_stream(s, pc->tunnel_id, pc->peer, "",
		    pc, &pc->st) != 0) {
			pconn_close(pc);
			return;
		}
		pconn_arm_timer(pc);
		pconn_update_io(pc);
		return;
	}
}

/* Reads a PROXY protocol header from a trusted load balancer (peeking,
 * then taking exactly the header) and believes its source address. */
static void
pconn_proxy(struct pconn *pc)
{
	struct acceptor *a = pc->a;
	uint8_t buf[PROXYPROTO_MAX_LEN];
	struct proxyproto pp;
	ssize_t n;
	int rc = 0;

	n = recv(pc->tio.fd, buf, sizeof(buf), MSG_PEEK);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		pconn_close(pc);
		return;
	}
	if (n == -1 || (rc = proxyproto_decode(buf, (size_t)n, &pp)) == 0) {
		pconn_arm_timer(pc);    /* poll again shortly */
		return;
	}
	if (rc < 0 || recv(pc->tio.fd, buf, (size_t)rc, 0) != rc) {
		a->stats.proxy_errors++;
		log_info("proxy.bad", "peer=%s reason=\"%s\"", pc->peer,
		    rc < 0 && pp.reason ? pp.reason : "short read");
		pconn_close(pc);
		return;
	}
	if (!pp.local)
		pconn_set_peer(pc, &pp.src);
	pconn_begin(pc);
}

static void
pconn_accept(struct acceptor *a, int fd, enum pconn_kind kind,
    uint64_t session, uint32_t tunnel_id, const char *node, unsigned port)
{
	struct pconn *pc;

	if ((pc = pconn_new(a, fd)) == NULL)
		return;
	pc->kind = kind;
	pc->sess_id = session;
	pc->tunnel_id = tunnel_id;
	if (kind == PK_TCP) {
		struct sock_addr la = { .len = sizeof(la.ss) };
		char pname[16];

		if (getsockname(fd, (struct sockaddr *)&la.ss, &la.len) == 0) {
			snprintf(pname, sizeof(pname), "%d", sock_addr_port(&la));
			pconn_count_tunnel(pc, "tcp", pname);
		}
	}
	pc->port = (uint16_t)port;
	if (node != NULL) {
		/* a tcp tunnel held elsewhere: its node, until the stream opens */
		pc->remote = true;
		snprintf(pc->host, sizeof(pc->host), "%s", node);
	}
	if (a->proxy_from.n > 0 &&
	    cidr_match(&a->proxy_from, (struct sockaddr *)&pc->peer_sa)) {
		pc->state = PC_PROXY;
		pc->head_start = ev_now(a->loop);
		pconn_proxy(pc);
		return;
	}
	pconn_begin(pc);
}

void
pconn_accept_http(struct acceptor *a, int fd)
{
	pconn_accept(a, fd, PK_HTTP, 0, 0, NULL, 0);
}

void
pconn_accept_https(struct acceptor *a, int fd)
{
	pconn_accept(a, fd, PK_HTTPS, 0, 0, NULL, 0);
}

void
pconn_accept_tcp(struct acceptor *a, int fd, uint64_t session,
    uint32_t tunnel_id)
{
	pconn_accept(a, fd, PK_TCP, session, tunnel_id, NULL, 0);
}

void
pconn_accept_tcp_remote(struct acceptor *a, int fd, unsigned port,
    const struct route_claim *claim)
{
	pconn_accept(a, fd, PK_TCP, claim->session, claim->tunnel_id, claim->node,
	    port);
}

/* A raw relay of fd through a stream to a replica's session: here
 * (node "") or on node, over the mesh as `listener`. b: the load
 * balancer's candidate (its reference is taken), or NULL for a health
 * check (no policy: the node's own check). Returns 0 (fd taken), or with
 * fd still the caller's -EPERM, -EACCES or -ENOENT (see
 * l4proxy_replica_cb). */
static int
pconn_relay(struct acceptor *a, int fd, const struct sockaddr_storage *peer,
    const char *node, uint64_t session, uint32_t tunnel_id,
    struct lbset_backend *b, uint8_t listener, const void *data, size_t len)
{
	const struct tunnel_policy *pol = NULL;
	struct route_claim c;
	struct session *s = NULL;
	struct pconn *pc;

	if (node[0] == '\0') {
		if ((s = acceptor_session(a, session)) == NULL)
			return -ENOENT;
		pol = session_policy(a, session, tunnel_id);
		if (b != NULL && pol != NULL && !tunnel_policy_allows(pol,
		    (const struct sockaddr *)peer)) {
			a->stats.refused_policy++;
			return -EPERM;
		}
		/* raw bytes carry no credentials for a tunnel that wants them */
		if (b != NULL && pol != NULL && !tunnel_policy_basic_ok(pol, NULL, 0))
			return -EACCES;
	} else if (a->mesh == NULL ||
	    mesh_link_state(a->mesh, node) == MESH_LINK_FAILING) {
		return -ENOENT;
	}
	if ((pc = pconn_new(a, fd)) == NULL) {
		if (b != NULL)
			lbset_release(b);       /* fd is closed */
		return 0;
	}
	pc->kind = PK_TCP;
	pc->state = PC_RAW;
	pc->rep = b;
	pconn_set_peer(pc, peer);
	if (b != NULL && s == NULL) {
		/* bytes kept until the first one back (none: no second try) */
		pc->replay = calloc(1, sizeof(*pc->replay));
		pconn_keep_replay(pc, data, len);
	}
	if (b != NULL && ipcount_take(a->ipcount, (struct sockaddr *)&pc->peer_sa,
	    (unsigned)a->conf.max_conns_per_ip))
		pc->counted = true;
	if (s != NULL) {
		if (session_open_stream(s, tunnel_id, pc->peer, "", pc,
		    &pc->st) != 0)
			goto gone;
		pc->sess_id = session;
		pc->tunnel_id = tunnel_id;
	} else {
		memset(&c, 0, sizeof(c));
		c.session = session;
		c.tunnel_id = tunnel_id;
		snprintf(c.node, sizeof(c.node), "%s", node);
		if (pconn_open_remote(pc, listener, "", &c, NULL, 0) != 0)
			goto gone;
	}
	if (len > 0 && pconn_send(pc, data, len) != 0) {
		pconn_close(pc);
		return 0;
	}
	pconn_arm_timer(pc);
	pconn_update_io(pc);
	return 0;
gone:
	pc->rep = NULL;         /* the caller's again, with fd */
	pc->tio.fd = -1;
	pconn_close(pc);
	return -ENOENT;
}

int
pconn_accept_replica(void *arg, int fd, const struct sockaddr_storage *peer,
    struct lbset_backend *b, const void *data, size_t len)
{
	struct acceptor *a = arg;
	int rc = pconn_relay(a, fd, peer, b->node, b->session, b->tunnel_id, b,
	    MESHMSG_TCP, data, len);

	if (rc == 0)
		a->stats.replica_picks++;
	return rc;
}

int
pconn_accept_probe(struct acceptor *a, int fd, const char *node,
    uint64_t session, uint32_t tunnel_id)
{
	struct sockaddr_storage peer;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&peer;

	memset(&peer, 0, sizeof(peer));
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return pconn_relay(a, fd, &peer, node, session, tunnel_id, NULL,
	    MESHMSG_PROBE, NULL, 0);
}

/* Terminates TLS with the certificate for name and serves HTTP inside. */
static void
pconn_terminate(struct pconn *pc, const char *name)
{
	struct acceptor *a = pc->a;
	SSL_CTX *ctx = certs_default(a->certs);
	struct route_claim cl;
	struct http1_conf hc;
	char ip[64];

	http1_conf_default(&hc);
	hc.max_head = a->conf.head_max;
	pconn_sa_ip(&pc->peer_sa, ip, sizeof(ip));
	/* a name the node serves gets its own certificate (issued by the
	 * development CA when no loaded certificate covers it) */
	if (name[0] != '\0')
		ctx = certs_for(a->certs, name, routes_lookup_host(a->routes, name,
		    &cl) != ROUTES_UNKNOWN);
	if (tls_io_server(&pc->tio, pc->tio.fd, ctx) != 0 ||
	    http1_req_new(&pc->http, &hc, ip, true) != 0) {
		pconn_close(pc);
		return;
	}
	pc->state = PC_HTTP;
	pc->head_start = ev_now(a->loop);
	pconn_arm_timer(pc);
	pconn_update_io(pc);
}

/* Peeks at the ClientHello (leaving it in the socket) and routes by SNI: a
 * TLS passthrough tunnel gets the bytes as they are, anything else has its
 * TLS terminated here. */
static void
pconn_hello(struct pconn *pc)
{
	struct acceptor *a = pc->a;
	uint8_t buf[TLSHELLO_MAX_LEN];
	struct route_claim claim;
	const struct tunnel_policy *pol;
	struct tlshello h;
	struct session *s;
	char key[TLSHELLO_MAX_NAME + 8];
	ssize_t n;
	int rc;

	n = recv(pc->tio.fd, buf, sizeof(buf), MSG_PEEK);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		pconn_close(pc);
		return;
	}
	if (n == -1 || (rc = tlshello_parse(buf, (size_t)n, &h)) == 0) {
		pconn_arm_timer(pc);    /* poll again shortly */
		return;
	}
	if (rc < 0) {
		a->stats.tls_bad_hello++;
		log_info("tls.hello.bad", "peer=%s reason=\"%s\"", pc->peer,
		    h.reason ? h.reason : "not TLS");
		pconn_close(pc);
		return;
	}
	snprintf(key, sizeof(key), "%s%s", ROUTES_TLS_PREFIX, h.server_name);
	snprintf(pc->host, sizeof(pc->host), "%s", h.server_name);
	if (h.server_name[0] != '\0') {
		switch (pconn_lookup(pc, key, &claim, NULL)) {
		case ROUTES_LOCAL:
			pol = session_policy(a, claim.session, claim.tunnel_id);
			if (pol != NULL && !tunnel_policy_allows(pol,
			    (struct sockaddr *)&pc->peer_sa)) {
				a->stats.refused_policy++;
				pconn_close(pc);
				return;
			}
			pc->sess_id = claim.session;
			pc->tunnel_id = claim.tunnel_id;
			if ((s = acceptor_session(a, claim.session)) == NULL ||
			    session_open_stream(s, claim.tunnel_id, pc->peer,
			    h.server_name, pc, &pc->st) != 0) {
				pconn_close(pc);
				return;
			}
			/* passthrough: the hello goes on as the first bytes */
			pconn_count_tunnel(pc, "tls", h.server_name);
			pc->state = PC_RAW;
			pc->head_start = 0;
			pconn_arm_timer(pc);
			pconn_update_io(pc);
			return;
		case ROUTES_REMOTE:
			/* passthrough over the mesh: the holder checks the
			 * addresses; the hello goes on as the first bytes */
			if (pconn_open_remote(pc, MESHMSG_TLS, h.server_name, &claim,
			    NULL, 0) != 0) {
				pconn_close(pc);
				return;
			}
			pconn_count_tunnel(pc, "tls", h.server_name);
			pc->state = PC_RAW;
			pc->head_start = 0;
			pconn_arm_timer(pc);
			pconn_update_io(pc);
			return;
		case ROUTES_APP:
			/* a `domains` name: its app's backends hold the keys;
			 * the hello is still in the socket */
			if (a->l4 != NULL && routes_app(a->routes, key) != NULL &&
			    l4proxy_adopt(a->l4, pc->tio.fd, &pc->peer_sa,
			    routes_app(a->routes, key), pc->lb_pick, NULL, 0,
			    NULL, 0) == 0) {
				pc->lb_pick = NULL;
				pc->tio.fd = -1;
				pconn_close(pc);
				return;
			}
			pconn_close(pc);
			return;
		case ROUTES_OFFLINE:
		case ROUTES_GROUP:
			/* its owner holds the keys: nothing to answer with */
			a->stats.http_503++;
			pconn_close(pc);
			return;
		case ROUTES_UNKNOWN:
			break;
		}
	}
	pconn_terminate(pc, h.server_name);
}

/* --- stream callbacks -------------------------------------------------- */

void
pconn_on_data(struct mux_stream *st, const uint8_t *p, size_t len)
{
	struct pconn *pc = mux_stream_data(st);
	ssize_t n = 0;

	if (pc->dead)
		return;
	pc->resp_started = true;
	pconn_stop_replay(pc);
	pc->last_active = ev_now(pc->a->loop);
	pconn_first_byte(pc);
	pconn_count_bytes(pc, 0, len);
	if (pconn_pending(pc) == 0) {
		n = tls_io_write(&pc->tio, p, len);
		if (n < 0) {
			if (n != -EAGAIN) {
				pconn_close(pc);
				return;
			}
			n = 0;
		}
		if (n > 0)
			mux_stream_consumed(st, (size_t)n);
	}
	if ((size_t)n < len) {
		/* bounded: the peer never sends more than the window */
		if (buf_append(&pc->out, p + n, len - (size_t)n,
		    (size_t)pc->a->mux_conf.window + 256u * 1024) != 0) {
			pconn_close(pc);
			return;
		}
		pconn_update_io(pc);
	}
}

void
pconn_on_fin(struct mux_stream *st)
{
	struct pconn *pc = mux_stream_data(st);

	pc->st_fin = true;
	if (pconn_pending(pc) == 0)
		pconn_stream_done(pc);
}

void
pconn_on_reset(struct mux_stream *st, int code, const char *reason)
{
	struct pconn *pc = mux_stream_data(st);
	char why[320];

	mux_stream_close(st);
	pc->st = NULL;
	if (pc->remote && (code == MUX_RST_SESSION_GONE || code == MUX_RST_NO_TUNNEL))
		pc->a->stats.fwd_upstream_gone++;
	if (pc->remote)
		log_info("fwd.reset", "peer=%s host=%s code=%d reason=\"%s\"", pc->peer,
		    pc->host[0] ? pc->host : "-", code, reason);
	if (pconn_replay(pc, code))
		return;
	if (pc->http == NULL || pc->resp_started || pc->state == PC_RAW) {
		pconn_close(pc);
		return;
	}
	if (code == MUX_RST_FORBIDDEN) {
		pc->a->stats.refused_policy++;
		pconn_fail(pc, 403, reason);
	} else if (code == MUX_RST_AUTH) {
		pconn_fail(pc, 401, reason);
	} else if (pc->remote && code == MUX_RST_SESSION_GONE) {
		snprintf(why, sizeof(why), "forwarded to the tunnel's node: %s", reason);
		pconn_fail(pc, 502, why);
	} else if (code == MUX_RST_REFUSED) {
		snprintf(why, sizeof(why), "%s", reason);
		pconn_fail(pc, 502, why);
	} else if (code == MUX_RST_TIMEOUT) {
		/* the client's connect to the local service timed out */
		snprintf(why, sizeof(why), "%s", reason);
		pconn_fail(pc, 504, why);
	} else if (code == MUX_RST_SESSION_GONE) {
		pconn_fail(pc, 503, "the tunnel for this host went offline");
	} else {
		snprintf(why, sizeof(why), "the tunnel reset the stream: %s", reason);
		pconn_fail(pc, 502, why);
	}
}

void
pconn_on_writable(struct mux_stream *st)
{
	struct pconn *pc = mux_stream_data(st);

	if (!pc->blocked)
		return;
	pc->blocked = false;
	if (pc->state == PC_RAW && buf_len(&pc->in) == 0) {
		pconn_update_io(pc);
		return;
	}
	if (pconn_process(pc) == 0)
		pconn_update_io(pc);
}

ssize_t
pconn_splice_in(struct mux_stream *st, int from, size_t left)
{
	struct pconn *pc = mux_stream_data(st);
	ssize_t n;

	/* only plain sockets, and only behind nothing copied */
	if (pc == NULL || pc->dead || pc->tio.ssl != NULL || buf_len(&pc->out) > 0)
		return 0;
	if ((n = spipe_fill(&pc->pipe, from, left)) <= 0)
		return n;
	pc->a->stats.spliced_bytes += (uint64_t)n;
	pconn_first_byte(pc);
	pconn_count_bytes(pc, 0, (size_t)n);
	pc->resp_started = true;
	pc->last_active = ev_now(pc->a->loop);
	if (pconn_pipe_out(pc) == 0 && !pc->dead)
		pconn_update_io(pc);
	return n;
}
