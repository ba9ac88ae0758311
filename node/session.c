#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "ctrl.h"
#include "ipcmsg.h"
#include "log.h"
#include "mux.h"
#include "pconn.h"
#include "rctl.h"
#include "routes.h"
#include "fwdport.h"
#include "sholder.h"
#include "sock.h"
#include "tls.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <strings.h>

#define SESSION_MAX_TUNNELS     64
#define SESSION_READS_PER_EVENT 16
#define SESSION_PORT_RETRIES    8       /* other ports tried when a picked one
                                         * turns out held elsewhere */

#define SESSION_GROUP_MAX       63      /* bytes of a --group name */
#define SESSION_MOVED_GRACE     0.5     /* s the table shows a drained
                                         * session's names elsewhere before
                                         * it is closed (for the other nodes) */
#define SESSION_REGION_MAX      16      /* bytes of a --region (lbpick's) */
#define SESSION_LIMIT_MAX       (1u << 24) /* weight and limits */

struct stunnel {
	uint32_t id;
	uint8_t kind;
	struct tunnel_policy policy;
	bool ready;
	int port;                       /* tcp: public port */
	int lfd;                        /* tcp: listener, -1 if none */
	bool port_picked;               /* tcp: we chose the port, not the client */
	uint8_t retries;                /* tcp: picked ports the cluster refused */
	uint16_t refused[SESSION_PORT_RETRIES];
	ev_io lio;
	struct session *s;
	/* --group: a replica; group[0] == '\0' = exclusive */
	char group[SESSION_GROUP_MAX + 1];
	char region[SESSION_REGION_MAX + 1];
	uint32_t weight, soft_limit, hard_limit;
};

struct session {
	struct acceptor *a;
	struct session *hnext;
	uint64_t id;
	struct tls_io tio;              /* the client's socket, TLS or plain */
	ev_io io;
	ev_timer ping;
	struct mux *mux;
	char peer[64];
	char *client_id;
	char *token_id;                 /* credential its tunnels were claimed with */
	char *token;                    /* from HELLO; never logged */
	bool hello, in_cb, dead, goaway;
	ev_tstamp moved_at;             /* after GOAWAY: when the table first
	                                   routed all its names elsewhere */
	bool flush_queued;              /* on a->flushq */
	struct session *flush_next;
	ev_tstamp last_input;
	struct stunnel **tunnels;       /* each allocated alone: watchers never move */
	size_t ntunnels;
};

static void session_destroy(struct session *s);
static void session_update_io(struct session *s);

/* --- registry ---------------------------------------------------------- */

struct session *
acceptor_session(struct acceptor *a, uint64_t id)
{
	struct session *s;

	if (a->sessions_size == 0)
		return NULL;
	for (s = a->sessions[id & (a->sessions_size - 1)]; s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

int
acceptor_session_add(struct acceptor *a, struct session *s)
{
	if (a->nsessions + 1 > a->sessions_size) {
		size_t nsize = a->sessions_size ? a->sessions_size * 2 : 64, i;
		struct session **nt, *e, *n;

		if ((nt = calloc(nsize, sizeof(*nt))) == NULL)
			return -ENOMEM;
		for (i = 0; i < a->sessions_size; i++) {
			for (e = a->sessions[i]; e; e = n) {
				n = e->hnext;
				e->hnext = nt[e->id & (nsize - 1)];
				nt[e->id & (nsize - 1)] = e;
			}
		}
		free(a->sessions);
		a->sessions = nt;
		a->sessions_size = nsize;
	}
	s->hnext = a->sessions[s->id & (a->sessions_size - 1)];
	a->sessions[s->id & (a->sessions_size - 1)] = s;
	a->nsessions++;
	return 0;
}

void
acceptor_session_remove(struct acceptor *a, struct session *s)
{
	struct session **pp;

	if (a->sessions_size == 0)
		return;
	for (pp = &a->sessions[s->id & (a->sessions_size - 1)]; *pp;
	    pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			a->nsessions--;
			return;
		}
	}
}

/* --- control messages -------------------------------------------------- */

static void
session_send(struct session *s, const struct ctrl_msg *m)
{
	uint8_t buf[CTRL_MSG_MAX];
	int n = ctrl_msg_encode(m, buf, sizeof(buf));

	if (n > 0)
		mux_control(s->mux, buf, (size_t)n);
}

static void
session_error(struct session *s, uint8_t status, const char *text)
{
	struct ctrl_msg m = { .type = CTRL_ERROR, .status = status,
	    .error = (char *)text };

	session_send(s, &m);
}

static void
session_registered(struct session *s, uint32_t tunnel_id, uint8_t status,
    uint16_t port, const char *url, const char *error)
{
	struct ctrl_msg m = { .type = CTRL_REGISTERED, .tunnel_id = tunnel_id,
	    .status = status, .port = port, .url = (char *)url,
	    .error = (char *)error };

	session_send(s, &m);
}

static struct stunnel *
session_tunnel(struct session *s, uint32_t id)
{
	size_t i;

	for (i = 0; i < s->ntunnels; i++)
		if (s->tunnels[i]->id == id)
			return s->tunnels[i];
	return NULL;
}

static void
stunnel_close(struct session *s, struct stunnel *t)
{
	if (t->lfd != -1) {
		ev_io_stop(s->a->loop, &t->lio);
		close(t->lfd);
		t->lfd = -1;
	}
}

static void
stunnel_remove(struct session *s, struct stunnel *t)
{
	size_t i;

	stunnel_close(s, t);
	cidr_fini(&t->policy.allow);
	cidr_fini(&t->policy.deny);
	for (i = 0; i < s->ntunnels; i++) {
		if (s->tunnels[i] == t) {
			s->tunnels[i] = s->tunnels[--s->ntunnels];
			break;
		}
	}
	free(t);
}

static void
stunnel_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stunnel *t = w->data;
	struct session *s = t->s;
	int fd, i;

	for (i = 0; i < 64; i++) {
		fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR)
				acceptor_accept_error(s->a, errno);
			return;
		}
		pconn_accept_tcp(s->a, fd, s->id, t->id);
	}
}

static int session_bind_port(struct session *s, int want, int *port,
    const uint16_t *skip, size_t nskip);
static void session_on_registered(struct acceptor *a, uint64_t sid,
    uint32_t tunnel_id, const struct ipcmsg_registered *r);

static int
session_register(struct session *s, struct stunnel *t, const char *subdomain,
    const char *domains)
{
	struct ipcmsg_register r;

	memset(&r, 0, sizeof(r));
	r.session = s->id;
	r.tunnel_id = t->id;
	r.kind = t->kind;
	r.client_id = s->client_id;
	r.token = s->token ? s->token : "";
	r.subdomain = (char *)subdomain;
	r.domains = (char *)domains;
	r.port = (uint16_t)t->port;
	r.grp.name = t->group;
	r.grp.region = t->region;
	r.grp.weight = t->weight;
	r.grp.soft_limit = t->soft_limit;
	r.grp.hard_limit = t->hard_limit;
	return rctl_register(s->a, &r, session_on_registered);
}

/* The cluster refused a port this node picked (its table had not yet
 * heard that another node's tunnel holds it): try another. Returns 0 when
 * a new registration is under way. */
static int
session_retry_port(struct session *s, struct stunnel *t)
{
	int fd, port;

	if (t->kind != TUNNEL_TCP || !t->port_picked ||
	    t->retries >= SESSION_PORT_RETRIES)
		return -1;
	t->refused[t->retries++] = (uint16_t)t->port;
	stunnel_close(s, t);
	if ((fd = session_bind_port(s, 0, &port, t->refused, t->retries)) < 0)
		return -1;
	log_info("tunnel.port.retry", "session=%016llx tunnel=%u refused=%d port=%d",
	    (unsigned long long)s->id, t->id, t->refused[t->retries - 1], port);
	t->lfd = fd;
	t->port = port;
	ev_io_init(&t->lio, stunnel_on_accept, fd, EV_READ);
	t->lio.data = t;
	return session_register(s, t, "", "");
}

static void
session_on_registered(struct acceptor *a, uint64_t sid, uint32_t tunnel_id,
    const struct ipcmsg_registered *r)
{
	struct session *s = acceptor_session(a, sid);
	struct stunnel *t;
	char url[1200], *hosts, *h, *save;
	bool tls;
	int port;

	if (s == NULL || s->dead || (t = session_tunnel(s, tunnel_id)) == NULL)
		return;
	if (r->status == IPCMSG_S_TAKEN && session_retry_port(s, t) == 0)
		return;
	if (r->status != IPCMSG_S_OK) {
		a->stats.registrations_failed++;
		log_info("tunnel.refused", "session=%016llx tunnel=%u status=%u error=\"%s\"",
		    (unsigned long long)sid, tunnel_id, r->status,
		    r->error ? r->error : "");
		session_registered(s, tunnel_id, r->status, 0, "",
		    r->error && r->error[0] ? r->error : "registration refused");
		stunnel_remove(s, t);
		return;
	}
	a->stats.registrations_ok++;
	t->ready = true;
	if (s->token_id == NULL && r->token_id != NULL && r->token_id[0] != '\0')
		s->token_id = strdup(r->token_id);
	if (t->kind == TUNNEL_TCP) {
		snprintf(url, sizeof(url), "tcp://%s:%d",
		    a->conf.public_url_host[0] ? a->conf.public_url_host : a->conf.domain,
		    t->port);
		ev_io_start(a->loop, &t->lio);
		log_info("tunnel.up", "session=%016llx tunnel=%u kind=tcp port=%d",
		    (unsigned long long)sid, tunnel_id, t->port);
		session_registered(s, tunnel_id, 0, (uint16_t)t->port, url, "");
		return;
	}
	hosts = strdup(r->hosts ? r->hosts : "");
	url[0] = '\0';
	tls = t->kind == TUNNEL_TLS;
	port = tls ? a->https_port : a->http_port;
	for (h = hosts ? strtok_r(hosts, ",", &save) : NULL; h != NULL;
	    h = strtok_r(NULL, ",", &save)) {
		char key[300];

		snprintf(key, sizeof(key), "%s%s", tls ? ROUTES_TLS_PREFIX : "", h);
		routes_claim_host(a->routes, key, sid, tunnel_id);
		if (url[0] == '\0') {
			if (port == (tls ? 443 : 80))
				snprintf(url, sizeof(url), "%s://%s",
				    tls ? "https" : "http", h);
			else
				snprintf(url, sizeof(url), "%s://%s:%d",
				    tls ? "https" : "http", h, port);
		}
		log_info("tunnel.up", "session=%016llx tunnel=%u kind=%s host=%s",
		    (unsigned long long)sid, tunnel_id, tls ? "tls" : "http", h);
	}
	free(hosts);
	session_registered(s, tunnel_id, 0, (uint16_t)port, url, "");
}

/* Binds the public listener of a tcp tunnel: the wanted port, or a free one
 * from the range. Returns the fd or -errno. */
static int
session_bind_port(struct session *s, int want, int *port, const uint16_t *skip,
    size_t nskip)
{
	struct acceptor *a = s->a;
	struct sock_addr addr;
	int span = a->conf.tcp_hi - a->conf.tcp_lo + 1, i, p, fd;

	if (sock_addr_parse(&addr, a->conf.http_listen, NULL) != 0)
		return -EINVAL;
	if (want != 0) {
		if (want < a->conf.tcp_lo || want > a->conf.tcp_hi)
			return -ERANGE;
		sock_addr_set_port(&addr, want);
		/* this node may be forwarding the port to its previous holder */
		if ((fd = sock_listen(&addr, 511)) == -EADDRINUSE &&
		    a->fwdports != NULL && fwdport_release(a->fwdports, (unsigned)want))
			fd = sock_listen(&addr, 511);
		if (fd >= 0)
			*port = want;
		return fd;
	}
	p = a->conf.tcp_lo + (int)(random() % span);
	for (i = 0; i < span && i < 2000; i++) {
		size_t k;

		for (k = 0; k < nskip && skip[k] != p; k++)
			;
		if (k < nskip)
			goto next;
		sock_addr_set_port(&addr, p);
		/* a port another node's tunnel holds stays its own: ports are
		 * allocated cluster-wide */
		if (!routes_port_held(a->routes, (unsigned)p) &&
		    (fd = sock_listen(&addr, 511)) >= 0) {
			*port = p;
			return fd;
		}
next:
		if (++p > a->conf.tcp_hi)
			p = a->conf.tcp_lo;
	}
	return -EADDRINUSE;
}

/* The tunnel's public protections from REGISTER; 0 or -1 with a sentence. */
static int
session_parse_policy(struct tunnel_policy *p, const struct ctrl_msg *m,
    char *err, size_t errlen)
{
	char bad[80];

	memset(p, 0, sizeof(*p));
	if (cidr_parse(&p->allow, m->allow_ips, bad, sizeof(bad)) != 0) {
		snprintf(err, errlen, "bad allowed address '%s' (want an IP or CIDR "
		    "like 203.0.113.0/24)", bad);
		return -1;
	}
	if (cidr_parse(&p->deny, m->deny_ips, bad, sizeof(bad)) != 0) {
		cidr_fini(&p->allow);
		snprintf(err, errlen, "bad denied address '%s' (want an IP or CIDR "
		    "like 203.0.113.0/24)", bad);
		return -1;
	}
	if (m->basic_auth != NULL && m->basic_auth[0] != '\0') {
		if (strchr(m->basic_auth, ':') == NULL) {
			cidr_fini(&p->allow);
			cidr_fini(&p->deny);
			snprintf(err, errlen, "basic auth wants USER:PASSWORD");
			return -1;
		}
		p->basic = true;
		SHA256((const unsigned char *)m->basic_auth, strlen(m->basic_auth),
		    p->basic_hash);
	}
	return 0;
}

const struct tunnel_policy *
session_policy(struct acceptor *a, uint64_t session, uint32_t tunnel_id)
{
	struct session *s = acceptor_session(a, session);
	struct stunnel *t;

	if (s == NULL || (t = session_tunnel(s, tunnel_id)) == NULL)
		return NULL;
	return &t->policy;
}

bool
tunnel_policy_allows(const struct tunnel_policy *p, const struct sockaddr *peer)
{
	if (cidr_match(&p->deny, peer))
		return false;
	return p->allow.n == 0 || cidr_match(&p->allow, peer);
}

bool
tunnel_policy_basic_ok(const struct tunnel_policy *p, const char *authz,
    size_t len)
{
	unsigned char in[700], out[700], md[SHA256_DIGEST_LENGTH];
	int n;

	if (!p->basic)
		return true;
	if (authz == NULL || len < 7 || strncasecmp(authz, "Basic ", 6) != 0)
		return false;
	authz += 6;
	len -= 6;
	while (len > 0 && authz[0] == ' ') {
		authz++;
		len--;
	}
	if (len == 0 || len >= sizeof(in) || len % 4 != 0)
		return false;
	memcpy(in, authz, len);
	if ((n = EVP_DecodeBlock(out, in, (int)len)) < 0)
		return false;
	/* EVP_DecodeBlock counts the padding as bytes */
	if (in[len - 1] == '=')
		n--;
	if (in[len - 2] == '=')
		n--;
	SHA256(out, (size_t)n, md);
	OPENSSL_cleanse(out, sizeof(out));
	return CRYPTO_memcmp(md, p->basic_hash, sizeof(md)) == 0;
}

/* A --group name of letters, digits, '-', '_' and '.', a --region as the
 * load balancer takes it, and limits it can compare. Returns 0, or -1 with
 * a sentence in err. */
static int
session_check_group(const struct ctrl_msg *m, char *err, size_t errlen)
{
	const char *g = m->group != NULL ? m->group : "";
	const char *r = m->region != NULL ? m->region : "";
	size_t i;

	if (g[0] == '\0')
		return 0;
	if (m->kind == TUNNEL_TCP) {
		snprintf(err, errlen, "groups are for http and tls tunnels; a tcp "
		    "port has one holder");
		return -1;
	}
	if (strlen(g) > SESSION_GROUP_MAX || strspn(g, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != strlen(g)) {
		snprintf(err, errlen, "group '%.80s' is not valid: use 1 to %d "
		    "letters, digits, '-', '_' or '.'", g, SESSION_GROUP_MAX);
		return -1;
	}
	for (i = 0; r[i] != '\0'; i++)
		if (r[i] <= ' ' || r[i] > '~')
			break;
	if (r[i] != '\0' || i > SESSION_REGION_MAX) {
		snprintf(err, errlen, "region '%.40s' is not valid: 1 to %d "
		    "printable characters without spaces", r, SESSION_REGION_MAX);
		return -1;
	}
	if (m->weight > SESSION_LIMIT_MAX || m->soft_limit > SESSION_LIMIT_MAX ||
	    m->hard_limit > SESSION_LIMIT_MAX) {
		snprintf(err, errlen, "weight and limits are at most %u",
		    SESSION_LIMIT_MAX);
		return -1;
	}
	return 0;
}

static void
session_on_register(struct session *s, const struct ctrl_msg *m)
{
	struct acceptor *a = s->a;
	struct tunnel_policy pol;
	struct stunnel *t, **nt;
	char err[256];
	int fd = -1, port = 0;

	if (session_tunnel(s, m->tunnel_id) != NULL) {
		session_registered(s, m->tunnel_id, IPCMSG_S_INVALID, 0, "",
		    "tunnel id already registered on this connection");
		return;
	}
	if (s->ntunnels >= SESSION_MAX_TUNNELS) {
		session_registered(s, m->tunnel_id, IPCMSG_S_INVALID, 0, "",
		    "too many tunnels on one connection");
		return;
	}
	if (m->kind != TUNNEL_HTTP && m->kind != TUNNEL_TCP &&
	    m->kind != TUNNEL_TLS) {
		session_registered(s, m->tunnel_id, IPCMSG_S_INVALID, 0, "",
		    "unknown tunnel type");
		return;
	}
	if (session_check_group(m, err, sizeof(err)) != 0 ||
	    session_parse_policy(&pol, m, err, sizeof(err)) != 0) {
		session_registered(s, m->tunnel_id, IPCMSG_S_INVALID, 0, "", err);
		return;
	}
	if (pol.basic && m->kind != TUNNEL_HTTP) {
		cidr_fini(&pol.allow);
		cidr_fini(&pol.deny);
		session_registered(s, m->tunnel_id, IPCMSG_S_INVALID, 0, "",
		    "basic auth needs an http tunnel (the node cannot see inside "
		    "tcp or tls passthrough tunnels)");
		return;
	}
	if (m->kind == TUNNEL_TCP) {
		fd = session_bind_port(s, m->port, &port, NULL, 0);
		if (fd < 0) {
			if (fd == -ERANGE)
				snprintf(err, sizeof(err),
				    "port %u is outside this node's range %d-%d",
				    m->port, a->conf.tcp_lo, a->conf.tcp_hi);
			else if (m->port)
				snprintf(err, sizeof(err),
				    "port %u is not available on this node: %s",
				    m->port, strerror(-fd));
			else
				snprintf(err, sizeof(err),
				    "no free port in this node's range %d-%d",
				    a->conf.tcp_lo, a->conf.tcp_hi);
			session_registered(s, m->tunnel_id,
			    m->port ? IPCMSG_S_TAKEN : IPCMSG_S_UNAVAILABLE, 0, "", err);
			cidr_fini(&pol.allow);
			cidr_fini(&pol.deny);
			return;
		}
	}
	nt = realloc(s->tunnels, (s->ntunnels + 1) * sizeof(*nt));
	if (nt != NULL)
		s->tunnels = nt;
	if (nt == NULL || (t = calloc(1, sizeof(*t))) == NULL) {
		if (fd != -1)
			close(fd);
		cidr_fini(&pol.allow);
		cidr_fini(&pol.deny);
		session_registered(s, m->tunnel_id, IPCMSG_S_INTERNAL, 0, "",
		    "out of memory");
		return;
	}
	s->tunnels[s->ntunnels++] = t;
	t->policy = pol;
	t->id = m->tunnel_id;
	t->kind = m->kind;
	t->lfd = fd;
	t->port = port;
	t->port_picked = m->kind == TUNNEL_TCP && m->port == 0;
	t->s = s;
	if (m->group != NULL && m->group[0] != '\0') {
		snprintf(t->group, sizeof(t->group), "%s", m->group);
		snprintf(t->region, sizeof(t->region), "%s",
		    m->region != NULL ? m->region : "");
		t->weight = m->weight;
		t->soft_limit = m->soft_limit;
		t->hard_limit = m->hard_limit;
	}
	if (fd != -1) {
		ev_io_init(&t->lio, stunnel_on_accept, fd, EV_READ);
		t->lio.data = t;
	}
	if (session_register(s, t, m->subdomain ? m->subdomain : "",
	    m->domains ? m->domains : "") != 0) {
		stunnel_remove(s, t);
		session_registered(s, m->tunnel_id, IPCMSG_S_INTERNAL, 0, "",
		    "out of memory");
	}
}

static void
session_on_unregister(struct session *s, const struct ctrl_msg *m)
{
	struct stunnel *t = session_tunnel(s, m->tunnel_id);

	if (t == NULL)
		return;
	stunnel_remove(s, t);
}

static void
session_on_control(struct mux *mux, const uint8_t *p, size_t len)
{
	struct session *s = mux_data(mux);
	struct ctrl_msg m;

	if (ctrl_msg_decode(&m, p, len) != 0) {
		s->a->stats.session_proto_errors++;
		session_error(s, IPCMSG_S_INVALID, "malformed control message");
		session_close(s, "malformed control message");
		return;
	}
	if (!s->hello && m.type != CTRL_HELLO) {
		session_error(s, IPCMSG_S_INVALID, "HELLO must come first");
		session_close(s, "no HELLO");
	} else if (m.type == CTRL_HELLO) {
		if (s->hello) {
			session_close(s, "second HELLO");
		} else if (m.version != CTRL_PROTO_VERSION) {
			char err[128];
			snprintf(err, sizeof(err),
			    "client speaks protocol %u, this node speaks %u: upgrade the older side",
			    m.version, CTRL_PROTO_VERSION);
			session_error(s, IPCMSG_S_INVALID, err);
			session_close(s, "version mismatch");
		} else {
			struct ctrl_msg w = { .type = CTRL_WELCOME,
			    .version = CTRL_PROTO_VERSION, .agent = s->a->conf.name };

			s->hello = true;
			s->client_id = strdup(m.client_id && m.client_id[0] ?
			    m.client_id : s->peer);
			s->token = strdup(m.token ? m.token : "");
			log_info("session.hello", "session=%016llx peer=%s agent=\"%s\"",
			    (unsigned long long)s->id, s->peer, m.agent ? m.agent : "");
			session_send(s, &w);
		}
	} else if (m.type == CTRL_REGISTER) {
		session_on_register(s, &m);
	} else if (m.type == CTRL_UNREGISTER) {
		session_on_unregister(s, &m);
	} else {
		session_error(s, IPCMSG_S_INVALID, "unexpected control message");
	}
	ctrl_msg_fini(&m);
}

/* --- mux glue ---------------------------------------------------------- */

static int
session_on_open(struct mux *mux, struct mux_stream *st, const uint8_t *hdr,
    size_t len)
{
	return -1;      /* clients do not open streams (yet) */
}

static void
session_on_output(struct mux *mux)
{
	struct session *s = mux_data(mux);

	/* Writes go out once per loop iteration (session_flush_queued), so
	 * frames from many connections share one write(2). s->mux is NULL
	 * while mux_new() queues our SETTINGS. */
	if (!s->in_cb && s->mux != NULL && !s->flush_queued) {
		s->flush_queued = true;
		s->flush_next = s->a->flushq;
		s->a->flushq = s;
	}
}

static void
session_on_goaway(struct mux *mux, int code, const char *reason)
{
	struct session *s = mux_data(mux);

	log_info("session.goaway", "session=%016llx reason=\"%s\"",
	    (unsigned long long)s->id, reason);
}

static void
session_on_pong(struct mux *mux, uint64_t sent_us)
{
	struct session *s = mux_data(mux);
	uint64_t now = acceptor_now_us(s->a);

	log_debug("session.rtt", "session=%016llx rtt_us=%llu",
	    (unsigned long long)s->id,
	    (unsigned long long)(now > sent_us ? now - sent_us : 0));
}

static const struct mux_callbacks session_mux_cb = {
	.on_open = session_on_open,
	/* stream events go to whoever holds the stream (sholder.h) */
	.on_data = sholder_on_data,
	.on_fin = sholder_on_fin,
	.on_reset = sholder_on_reset,
	.on_writable = sholder_on_writable,
	.on_control = session_on_control,
	.on_pong = session_on_pong,
	.on_goaway = session_on_goaway,
	.on_output = session_on_output,
};

/* --- I/O --------------------------------------------------------------- */

static void
session_update_io(struct session *s)
{
	int want = tls_io_events(&s->tio, true, mux_wpending(s->mux) > 0);

	if ((s->io.events & (EV_READ | EV_WRITE)) != want) {
		ev_io_stop(s->a->loop, &s->io);
		ev_io_set(&s->io, s->tio.fd, want);
		ev_io_start(s->a->loop, &s->io);
	}
}

static int
session_flush(struct session *s)
{
	struct iovec io;
	ssize_t n;

	while ((io = mux_wbuf(s->mux)).iov_len > 0) {
		n = tls_io_write(&s->tio, io.iov_base, io.iov_len);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		mux_wconsume(s->mux, (size_t)n);
	}
	/* TLS records staged by the last write, if the socket was full */
	n = tls_io_flush(&s->tio);
	return n == -EAGAIN ? 0 : (int)n;
}

static void
session_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = w->data;
	struct iovec io;
	char why[256];
	ssize_t n;
	int i, rc;

	s->in_cb = true;
	if ((revents & EV_READ) || s->tio.read_wants_write) {
		for (i = 0; i < SESSION_READS_PER_EVENT && !s->dead; i++) {
			struct mux_stream *st;
			size_t left;

			/* plain link, inside a large DATA payload: straight to
			 * its connection, no copy */
			if (s->tio.ssl == NULL &&
			    (st = mux_rpayload(s->mux, &left)) != NULL) {
				n = sholder_splice_in(st, s->tio.fd, left);
				if (n > 0) {
					mux_rskip(s->mux, (size_t)n);
					s->last_input = ev_now(loop);
					continue;
				}
				if (n == -EAGAIN)
					break;
				if (n < 0) {
					session_close(s, n == -EPIPE ?
					    "client closed the connection" :
					    strerror((int)-n));
					break;
				}
			}
			io = mux_rbuf(s->mux);
			if (io.iov_base == NULL) {
				session_close(s, "out of memory");
				break;
			}
			/* a plain link stops at the next frame header so the
			 * payload may be spliced; TLS decrypts a whole block */
			if (s->tio.ssl == NULL && io.iov_len > mux_rwant(s->mux))
				io.iov_len = mux_rwant(s->mux);
			n = tls_io_read(&s->tio, io.iov_base, io.iov_len);
			if (n == 0) {
				session_close(s, "client closed the connection");
				break;
			}
			if (n < 0) {
				if (n != -EAGAIN)
					session_close(s, n == -EPROTO ?
					    tls_io_error(why, sizeof(why)) :
					    strerror((int)-n));
				break;
			}
			s->last_input = ev_now(loop);
			if ((rc = mux_rcommit(s->mux, (size_t)n)) != 0) {
				s->a->stats.session_proto_errors++;
				log_warn("session.protocol", "session=%016llx error=\"%s\"",
				    (unsigned long long)s->id, mux_error(s->mux));
				session_close(s, "protocol error");
				break;
			}
			/* a short read drained the socket (TLS: unless
			 * OpenSSL still holds bytes or an error came after) */
			if ((size_t)n < io.iov_len && tls_io_pending(&s->tio) == 0)
				break;
		}
		if (!s->dead && tls_io_pending(&s->tio) > 0)
			ev_feed_event(loop, &s->io, EV_READ);
	}
	if (!s->dead && session_flush(s) != 0)
		session_close(s, "write failed");
	s->in_cb = false;
	if (s->dead)
		session_destroy(s);
	else
		session_update_io(s);
}

static void
session_on_ping(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = w->data;
	double ival = (double)s->a->conf.ping_interval / 1000.0;

	if (!s->hello) {
		/* covers slow TLS handshakes too */
		session_close(s, "no HELLO from the client in time");
		return;
	}
	if (ev_now(loop) - s->last_input > 3 * ival) {
		session_close(s, "no traffic from the client (keepalive timeout)");
		return;
	}
	mux_ping(s->mux, acceptor_now_us(s->a));
	tls_io_trim(&s->tio);           /* a quiet link gives its buffers back */
	if (session_flush(s) != 0) {
		session_close(s, "write failed");
		return;
	}
	session_update_io(s);
}

int
session_accept(struct acceptor *a, int fd)
{
	struct session *s;
	double ival = (double)a->conf.ping_interval / 1000.0;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	s->a = a;
	if (a->tunnel_ctx != NULL) {
		if (tls_io_server(&s->tio, fd, a->tunnel_ctx) != 0 ||
		    tls_io_batch(&s->tio) != 0) {
			tls_io_fini(&s->tio);
			close(fd);
			free(s);
			return -ENOMEM;
		}
	} else {
		tls_io_plain(&s->tio, fd);
	}
	s->id = a->session_base + ++a->session_seq;
	sock_nodelay(fd);
	sock_peer_format(fd, s->peer, sizeof(s->peer));
	if ((s->mux = mux_new(MUX_SERVER, &a->mux_conf, &session_mux_cb, s)) == NULL ||
	    acceptor_session_add(a, s) != 0) {
		mux_free(s->mux);
		tls_io_fini(&s->tio);
		close(fd);
		free(s);
		return -ENOMEM;
	}
	s->last_input = ev_now(a->loop);
	ev_io_init(&s->io, session_on_io, fd, EV_READ | EV_WRITE);
	s->io.data = s;
	ev_io_start(a->loop, &s->io);
	ev_timer_init(&s->ping, session_on_ping, ival, ival);
	s->ping.data = s;
	ev_timer_start(a->loop, &s->ping);
	a->stats.sessions_opened++;
	log_info("session.open", "session=%016llx peer=%s",
	    (unsigned long long)s->id, s->peer);
	return 0;
}

int
session_open_stream(struct session *s, uint32_t tunnel_id, const char *peer,
    const char *host, void *data, struct mux_stream **out)
{
	struct stunnel *t = session_tunnel(s, tunnel_id);
	struct ctrl_open o = { tunnel_id, (char *)peer, (char *)host };
	uint8_t hdr[1024];
	int n, rc;

	if (t == NULL || !t->ready)
		return -ENOENT;
	/* after our GOAWAY (a drain) streams still open here: the client
	 * keeps this session until its tunnels are registered on another
	 * node (make before break), and requests forwarded meanwhile must
	 * not fail */
	if (s->dead || mux_nstreams(s->mux) >= (size_t)s->a->conf.max_streams)
		return -EAGAIN;
	if ((n = ctrl_open_encode(&o, hdr, sizeof(hdr))) < 0)
		return -EINVAL;
	if ((rc = mux_stream_open(s->mux, hdr, (size_t)n, out)) != 0)
		return rc;
	mux_stream_set_data(*out, data);
	return 0;
}

void
session_goaway(struct session *s, const char *reason)
{
	if (s->goaway || s->dead)
		return;
	s->goaway = true;
	mux_goaway(s->mux, 0, reason);
	if (!s->in_cb)
		session_update_io(s);
}

void
session_close(struct session *s, const char *why)
{
	if (s->dead)
		return;
	s->dead = true;
	log_info("session.close", "session=%016llx peer=%s reason=\"%s\"",
	    (unsigned long long)s->id, s->peer, why);
	if (!s->in_cb)
		session_destroy(s);
}

static void
session_destroy(struct session *s)
{
	struct acceptor *a = s->a;
	struct session **pp;
	size_t i;

	if (s->flush_queued) {
		for (pp = &a->flushq; *pp != NULL; pp = &(*pp)->flush_next) {
			if (*pp == s) {
				*pp = s->flush_next;
				break;
			}
		}
	}
	ev_io_stop(a->loop, &s->io);
	ev_timer_stop(a->loop, &s->ping);
	/* best effort: tell the client why, if the socket still takes it */
	session_flush(s);
	tls_io_fini(&s->tio);
	close(s->tio.fd);
	for (i = 0; i < s->ntunnels; i++) {
		stunnel_close(s, s->tunnels[i]);
		cidr_fini(&s->tunnels[i]->policy.allow);
		cidr_fini(&s->tunnels[i]->policy.deny);
		free(s->tunnels[i]);
	}
	free(s->tunnels);
	routes_unclaim_session(a->routes, s->id);
	acceptor_session_remove(a, s);
	if (s->hello)
		rctl_unregister(a, s->id);
	a->stats.sessions_closed++;
	/* streams learn of it through on_reset and close their handles */
	mux_free(s->mux);
	free(s->client_id);
	free(s->token_id);
	if (s->token != NULL) {
		OPENSSL_cleanse(s->token, strlen(s->token));
		free(s->token);
	}
	free(s);
}

/* Every session told to go (GOAWAY) whose names the table has routed to
 * the client's new session for SESSION_MOVED_GRACE, with no stream left,
 * is closed: the client moved, and the other nodes know it. */
void
session_release_moved(struct acceptor *a)
{
	unsigned ports[64];
	struct session *s, *next;
	size_t i, j, np;
	ev_tstamp now = ev_now(a->loop);

	for (i = 0; i < a->sessions_size; i++) {
		for (s = a->sessions[i]; s != NULL; s = next) {
			next = s->hnext;
			if (!s->goaway || s->dead)
				continue;
			for (j = np = 0; j < s->ntunnels && np < 64; j++)
				if (s->tunnels[j]->kind == TUNNEL_TCP &&
				    s->tunnels[j]->ready)
					ports[np++] = (unsigned)s->tunnels[j]->port;
			if (!routes_session_moved(a->routes, s->id, ports, np)) {
				s->moved_at = 0;
				continue;
			}
			if (s->moved_at == 0)
				s->moved_at = now;
			if (now - s->moved_at >= SESSION_MOVED_GRACE &&
			    mux_nstreams(s->mux) == 0)
				session_close(s, "its tunnels are held on another node now");
		}
	}
}

void
session_goaway_all(struct acceptor *a, const char *reason)
{
	struct session *s;
	size_t i;

	for (i = 0; i < a->sessions_size; i++)
		for (s = a->sessions[i]; s != NULL; s = s->hnext)
			session_goaway(s, reason);
}

void
session_close_all(struct acceptor *a, const char *why)
{
	size_t i;

	for (i = 0; i < a->sessions_size; i++)
		while (a->sessions[i] != NULL)
			session_close(a->sessions[i], why);
}

void
session_kick_token(struct acceptor *a, const char *token_id, const char *reason)
{
	struct session *s, *next;
	size_t i, n = 0;

	for (i = 0; i < a->sessions_size; i++) {
		for (s = a->sessions[i]; s != NULL; s = next) {
			next = s->hnext;
			if (s->token_id == NULL || strcmp(s->token_id, token_id) != 0)
				continue;
			session_error(s, IPCMSG_S_DENIED, reason);
			session_close(s, "token revoked");
			n++;
		}
	}
	log_info("token.kick", "token=%s sessions=%zu", token_id, n);
}

void
session_kick_one(struct acceptor *a, uint64_t id, const char *reason)
{
	struct session *s = acceptor_session(a, id);

	if (s == NULL || s->dead)
		return;
	session_error(s, IPCMSG_S_TAKEN, reason);
	session_close(s, "name taken by another client");
	log_info("session.kick", "session=%016llx reason=\"%s\"",
	    (unsigned long long)id, reason);
}

void
session_flush_queued(struct acceptor *a)
{
	struct session *s;

	while ((s = a->flushq) != NULL) {
		a->flushq = s->flush_next;
		s->flush_queued = false;
		if (s->dead)
			continue;
		if (session_flush(s) != 0) {
			session_close(s, "write failed");
			continue;
		}
		session_update_io(s);
	}
}
