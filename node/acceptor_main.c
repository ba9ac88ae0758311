/* warren-acceptor — the data plane of a warren node (started by warren-node). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "acceptor.h"
#include "log.h"
#include "pconn.h"
#include "rctl.h"
#include "routes.h"
#include "probe.h"
#include "replica.h"
#include "session.h"
#include "sock.h"
#include "tls.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "certs.h"
#include "ipcount.h"
#include "tunstats.h"
#include "fwd.h"
#include "fwdport.h"
#include "keyring.h"
#include "mesh.h"
#include "sholder.h"
#include "l4proxy.h"
#include "l4tls.h"

uint64_t
acceptor_now_us(struct acceptor *a)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct acceptor_tun_emit {
	struct tunstats_entry e[TUNSTATS_TOP + 1];      /* busiest, then other */
	size_t ne;
	char names[3 * (TUNSTATS_TOP + 1)][TUNSTATS_NAME_MAX * 2 + 48];
	char hist[2 * 14][96];          /* first-byte histogram series */
};

/* The first-byte histogram, cumulative buckets then sum (microseconds:
 * the router prints seconds) and count, per listener kind. */
static size_t
acceptor_ttfb_items(struct acceptor_tun_emit *te, const struct acceptor_stats *st,
    struct ipcmsg_stat *items, size_t n)
{
	static const double bounds[] = ACCEPTOR_TTFB_BOUNDS;
	static const char *const kind[] = { "http", "https" };
	size_t nb = sizeof(bounds) / sizeof(bounds[0]), h = 0;

	for (int k = 0; k < 2; k++) {
		uint64_t cum = 0;

		for (size_t b = 0; b <= nb; b++) {
			char le[32];

			cum += st->ttfb_bucket[k][b];
			if (b < nb)
				snprintf(le, sizeof(le), "%g", bounds[b]);
			else
				snprintf(le, sizeof(le), "+Inf");
			snprintf(te->hist[h], sizeof(te->hist[0]),
			    "request_first_byte_seconds_bucket{kind=\"%s\",le=\"%s\"}",
			    kind[k], le);
			items[n].name = te->hist[h++];
			items[n++].value = cum;
		}
		snprintf(te->hist[h], sizeof(te->hist[0]),
		    "request_first_byte_seconds_sum{kind=\"%s\"}", kind[k]);
		items[n].name = te->hist[h++];
		items[n++].value = st->ttfb_sum_us[k];
		snprintf(te->hist[h], sizeof(te->hist[0]),
		    "request_first_byte_seconds_count{kind=\"%s\"}", kind[k]);
		items[n].name = te->hist[h++];
		items[n++].value = st->ttfb_count[k];
	}
	return n;
}

static void
acceptor_tun_emit(void *arg, const struct tunstats_entry *e)
{
	struct acceptor_tun_emit *te = arg;

	if (te->ne < TUNSTATS_TOP + 1)
		te->e[te->ne++] = *e;
}

/* The per-tunnel series into items[n...], one family after the other (as
 * /metrics groups them); returns the new count. Names are routed hosts
 * and ports, so no quote or backslash can be in them; escaped all the
 * same. */
static size_t
acceptor_tun_items(struct acceptor_tun_emit *te, struct ipcmsg_stat *items,
    size_t n)
{
	static const char *const fam[] = { "tunnel_requests_total{",
	    "tunnel_bytes_total{dir=\"in\",", "tunnel_bytes_total{dir=\"out\"," };
	size_t nn = 0;

	for (int f = 0; f < 3; f++) {
		for (size_t i = 0; i < te->ne; i++) {
			const struct tunstats_entry *e = &te->e[i];
			char label[TUNSTATS_NAME_MAX * 2], *name = te->names[nn++];
			size_t k = 0;

			for (const char *c = e->name; *c && k + 2 < sizeof(label);
			    c++) {
				if (*c == '"' || *c == '\\')
					label[k++] = '\\';
				label[k++] = *c;
			}
			label[k] = '\0';
			snprintf(name, sizeof(te->names[0]), "%stunnel=\"%s\"}",
			    fam[f], label);
			items[n].name = name;
			items[n++].value = f == 0 ? e->requests : f == 1 ?
			    e->bytes_in : e->bytes_out;
		}
	}
	return n;
}

/* Publishes the counters for the router's /metrics, every second. */
static void
acceptor_on_stats(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct acceptor *a = w->data;
	const struct acceptor_stats *st = &a->stats;
	const struct mesh_stats *ms = a->mesh ? mesh_stats(a->mesh) : NULL;
	struct ipcmsg_stat items[] = {
		{ "connections", a->nconns },
		{ "connections_total", st->conns_opened },
		{ "sessions", a->nsessions },
		{ "sessions_total", st->sessions_opened },
		{ "session_protocol_errors_total", st->session_proto_errors },
		{ "http_requests_total", st->http_requests },
		{ "http_errors_total{status=\"400\"}", st->http_400 },
		{ "http_errors_total{status=\"401\"}", st->http_401 },
		{ "http_errors_total{status=\"403\"}", st->http_403 },
		{ "http_errors_total{status=\"404\"}", st->http_404 },
		{ "http_errors_total{status=\"408\"}", st->http_408 },
		{ "http_errors_total{status=\"431\"}", st->http_431 },
		{ "http_errors_total{status=\"502\"}", st->http_502 },
		{ "http_errors_total{status=\"503\"}", st->http_503 },
		{ "http_errors_total{status=\"504\"}", st->http_504 },
		{ "registrations_total{result=\"ok\"}", st->registrations_ok },
		{ "registrations_total{result=\"failed\"}", st->registrations_failed },
		{ "accept_errors_total", st->accept_errors },
		{ "conns_idle_closed_total", st->idle_closed },
		{ "spliced_bytes_total", st->spliced_bytes },
		{ "tls_bad_hello_total", st->tls_bad_hello },
		{ "conns_refused_total{reason=\"per_ip\"}", st->refused_per_ip },
		{ "conns_refused_total{reason=\"policy\"}", st->refused_policy },
		{ "proxy_protocol_errors_total", st->proxy_errors },
		{ "public_bytes_total{dir=\"in\",kind=\"http\"}", st->bytes_in[0] },
		{ "public_bytes_total{dir=\"in\",kind=\"https\"}", st->bytes_in[1] },
		{ "public_bytes_total{dir=\"in\",kind=\"tcp\"}", st->bytes_in[2] },
		{ "public_bytes_total{dir=\"out\",kind=\"http\"}", st->bytes_out[0] },
		{ "public_bytes_total{dir=\"out\",kind=\"https\"}", st->bytes_out[1] },
		{ "public_bytes_total{dir=\"out\",kind=\"tcp\"}", st->bytes_out[2] },
		{ "forward_streams_total{role=\"entry\",result=\"forwarded\"}", st->fwd_forwarded },
		{ "forward_streams_total{role=\"entry\",result=\"unreachable\"}", st->fwd_unreachable },
		{ "forward_streams_total{role=\"entry\",result=\"session_gone\"}", st->fwd_upstream_gone },
		{ "forward_streams_total{role=\"entry\",result=\"alternate\"}", st->fwd_alternate },
		{ "forward_streams_total{role=\"holder\",result=\"served\"}", st->fwd_served },
		{ "forward_streams_total{role=\"holder\",result=\"not_here\"}", st->fwd_gone },
		{ "forward_streams_total{role=\"holder\",result=\"refused\"}", st->fwd_refused },
		{ "forward_streams_total{role=\"holder\",result=\"malformed\"}", st->fwd_bad },
		{ "replica_picks_total", st->replica_picks },
		{ "replica_checks_total{result=\"relayed\"}",
		    probe_count(a->probe, false) },
		{ "replica_checks_total{result=\"refused\"}",
		    probe_count(a->probe, true) },
		{ "xff_invalid_total", st->xff_bad },
		{ "mesh_links", ms ? mesh_links_up(a->mesh) : 0 },
		{ "mesh_dials_total", ms ? ms->dials : 0 },
		{ "mesh_dial_failures_total", ms ? ms->dial_failed : 0 },
		{ "mesh_accepted_total", ms ? ms->accepted : 0 },
		{ "mesh_links_up_total", ms ? ms->links_up : 0 },
		{ "mesh_auth_failures_total", ms ? ms->auth_failed : 0 },
		{ "mesh_handshake_errors_total", ms ? ms->handshake_bad : 0 },
		{ "mesh_duplicate_links_total", ms ? ms->duplicates : 0 },
		{ "mesh_protocol_errors_total", ms ? ms->protocol_errors : 0 },
		{ "mesh_tls_mismatch_total", ms ? ms->tls_mismatch : 0 },
		{ "mesh_tls_handshake_errors_total", ms ? ms->tls_failed : 0 },
		{ "mesh_streams_opened_total", ms ? ms->streams_opened : 0 },
		{ "mesh_streams_accepted_total", ms ? ms->streams_accepted : 0 },
		{ "forward_ports", a->fwdports ? fwdport_count(a->fwdports) : 0 },
	};
	/* per tunnel: the busiest by name, the rest as "other"; then the
	 * load balancer's */
	struct ipcmsg_stat all[sizeof(items) / sizeof(items[0]) +
	    3 * (TUNSTATS_TOP + 1) + 2 * 14 + 112 + 8];
	struct acceptor_tun_emit *te = malloc(sizeof(*te));     /* 17 KiB */
	struct ipcmsg_stats m = { 0, all };
	nng_msg *msg;

	memcpy(all, items, sizeof(items));
	m.n = sizeof(items) / sizeof(items[0]);
	if (te != NULL) {
		m.n = acceptor_ttfb_items(te, st, all, m.n);
		te->ne = 0;
		if (a->tunstats != NULL)
			tunstats_top(a->tunstats, TUNSTATS_TOP, acceptor_tun_emit, te);
		m.n = acceptor_tun_items(te, all, m.n);
	}
	if (a->l4 != NULL)
		m.n = (uint32_t)l4proxy_stats(a->l4, all, m.n,
		    sizeof(all) / sizeof(all[0]));
	if (a->l4tls != NULL)
		m.n = (uint32_t)l4tls_stats(a->l4tls, all, m.n,
		    sizeof(all) / sizeof(all[0]));
	if (a->stats_pub != NULL && (msg = ipcmsg_stats_encode(&m)) != NULL)
		ipc_publish(a->stats_pub, msg);
	free(te);
}

/* The load balancer's connections count as public connections (a drain
 * waits for them too). */
static void
acceptor_on_l4_count(void *arg, int delta)
{
	struct acceptor *a = arg;

	if (delta > 0) {
		a->nconns++;
		a->stats.conns_opened++;
	} else if (a->nconns > 0) {
		a->nconns--;
		a->stats.conns_closed++;
	}
}

static void
acceptor_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct acceptor *a = w->data;

	if (a->draining)
		return;
	ev_io_start(loop, &a->http_io);
	ev_io_start(loop, &a->https_io);
	ev_io_start(loop, &a->tunnel_io);
}

void
acceptor_accept_error(struct acceptor *a, int err)
{
	a->stats.accept_errors++;
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* out of descriptors: pause accepting, retry shortly (relayd) */
		log_warn("accept.pause", "error=\"%s\"", strerror(err));
		ev_io_stop(a->loop, &a->http_io);
		ev_io_stop(a->loop, &a->https_io);
		ev_io_stop(a->loop, &a->tunnel_io);
		ev_timer_stop(a->loop, &a->accept_retry);
		ev_timer_set(&a->accept_retry, 0.2, 0.);
		ev_timer_start(a->loop, &a->accept_retry);
	}
}

static void
acceptor_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct acceptor *a = w->data;
	int fd, i;

	for (i = 0; i < 64; i++) {
		fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR)
				acceptor_accept_error(a, errno);
			return;
		}
		if (w == &a->http_io)
			pconn_accept_http(a, fd);
		else if (w == &a->https_io)
			pconn_accept_https(a, fd);
		else
			session_accept(a, fd);
	}
}

static void
acceptor_on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	session_flush_queued(w->data);
}

static void
acceptor_on_reap(struct ev_loop *loop, ev_check *w, int revents)
{
	pconn_reap(w->data);
}

static void
acceptor_drain_check(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct acceptor *a = w->data;

	/* done when nothing is in flight here, and the clients told to move
	 * have moved: each closes its session here once its tunnels are
	 * registered on another node (make before break), and until then
	 * other nodes forward to it through this one. With no other node to
	 * move to, the sessions stay until the end. */
	session_release_moved(a);
	if (a->nconns == 0 && a->nfwd == 0 && l4tls_conns(a->l4tls) == 0 &&
	    (a->nsessions == 0 ||
	    a->mesh == NULL || mesh_peers_reachable(a->mesh) == 0)) {
		log_info("drain.done", "sessions=%zu", a->nsessions);
		ev_break(loop, EVBREAK_ALL);
	}
}

static void
acceptor_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct acceptor *a = w->data;

	log_warn("drain.timeout", "conns=%zu", a->nconns);
	ev_break(loop, EVBREAK_ALL);
}

static void
acceptor_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct acceptor *a = w->data;

	if (a->draining) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	a->draining = true;
	log_info("drain.start", "conns=%zu sessions=%zu timeout_ms=%lld",
	    a->nconns, a->nsessions, a->conf.drain_timeout);
	ev_io_stop(loop, &a->http_io);
	ev_io_stop(loop, &a->https_io);
	ev_io_stop(loop, &a->tunnel_io);
	l4proxy_stop_listening(a->l4);
	l4tls_stop_listening(a->l4tls);
	if (a->fwdports != NULL)
		fwdport_free(a->fwdports);
	a->fwdports = NULL;
	ev_check_stop(loop, &a->table_check);
	ev_timer_stop(loop, &a->ports_timer);
	session_goaway_all(a, "node is shutting down");
	ev_timer_init(&a->drain_timer, acceptor_drain_timeout,
	    (double)a->conf.drain_timeout / 1000.0, 0.);
	a->drain_timer.data = a;
	ev_timer_start(loop, &a->drain_timer);
	ev_timer_init(&a->drain_check, acceptor_drain_check, 0., 0.05);
	a->drain_check.data = a;
	ev_timer_start(loop, &a->drain_check);
}

/* --- the mesh: links to the other nodes, their addresses, their ports -- */

static void acceptor_members_resync(struct acceptor *a);
static int acceptor_listener(const char *what, const char *env,
    const char *addr_text);

/* Peers' mesh addresses from membership: alive and suspect members are
 * reachable, the others are forgotten (their links stay until they fail). */
static void
acceptor_members_apply(struct acceptor *a, const struct ipcmsg_members *m)
{
	const struct ipcmsg_member *mb;
	uint32_t i;

	for (i = 0; i < m->n; i++) {
		mb = &m->members[i];
		if (mb->self || mb->name == NULL)
			continue;
		if (mesh_peer_set(a->mesh, mb->name, mb->state <= MEMBER_SUSPECT ?
		    mb->mesh : NULL) != 0)
			log_warn("mesh.peer", "peer=%s addr=%s error=\"bad mesh address\"",
			    mb->name, mb->mesh ? mb->mesh : "");
	}
}

static void
acceptor_on_members_snapshot(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct acceptor *a = arg;
	struct ipcmsg_members m;

	a->members_pending = false;
	if (msg == NULL)
		return;
	if (ipcmsg_members_decode(&m, nng_msg_body(msg), nng_msg_len(msg)) == 0) {
		if (m.kind == MEMBERS_SNAPSHOT) {
			acceptor_members_apply(a, &m);
			a->members_epoch = m.epoch;
			a->members_seq = m.seq;
		}
		ipcmsg_members_fini(&m);
	}
	nng_msg_free(msg);
}

static void
acceptor_members_resync(struct acceptor *a)
{
	nng_msg *req;

	if (a->members_pending || a->gossip == NULL ||
	    (req = ipcmsg_empty_encode(IPCMSG_MEMBERS_REQ)) == NULL)
		return;
	if (ipc_request(a->gossip, req, 3000, acceptor_on_members_snapshot, a) == 0)
		a->members_pending = true;
}

/* One dispatch function per peer: gossip's membership publisher. An event
 * out of sequence, or a beacon ahead of us, means one was missed. */
static void
acceptor_on_members(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct acceptor *a = arg;
	struct ipcmsg_members m;

	if (ipcmsg_members_decode(&m, nng_msg_body(msg), nng_msg_len(msg)) != 0) {
		nng_msg_free(msg);
		return;
	}
	nng_msg_free(msg);
	if (m.kind == MEMBERS_EVENT && m.epoch == a->members_epoch &&
	    m.seq == a->members_seq + 1) {
		acceptor_members_apply(a, &m);
		a->members_seq = m.seq;
	} else if (m.kind == MEMBERS_EVENT || (m.kind == MEMBERS_BEACON &&
	    (m.epoch != a->members_epoch || m.seq != a->members_seq))) {
		acceptor_members_resync(a);
	}
	ipcmsg_members_fini(&m);
}

static void
acceptor_on_fwdport(void *arg, int fd, unsigned port,
    const struct route_claim *claim)
{
	pconn_accept_tcp_remote(arg, fd, port, claim);
}

/* After the table changed (and every second while some port was busy):
 * listen on the tcp ports other nodes' tunnels hold. */
static void
acceptor_on_table_check(struct ev_loop *loop, ev_check *w, int revents)
{
	struct acceptor *a = w->data;
	uint64_t epoch, version;

	replica_sync(a);
	routes_version(a->routes, &epoch, &version);
	if (epoch == a->ports_epoch && version == a->ports_version)
		return;
	a->ports_epoch = epoch;
	a->ports_version = version;
	fwdport_sync(a->fwdports, a->routes);
}

static void
acceptor_on_ports_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct acceptor *a = w->data;

	if (!a->draining && a->fwdports != NULL && fwdport_busy(a->fwdports) > 0)
		fwdport_sync(a->fwdports, a->routes);
}

static bool
acceptor_loopback(const char *addr)
{
	struct sock_addr sa;
	const struct sockaddr *s = (const struct sockaddr *)&sa.ss;

	if (sock_addr_parse(&sa, addr, NULL) != 0)
		return false;
	if (s->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)s)->sin_addr.s_addr) >> 24) == 127;
	if (s->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)s)->sin6_addr);
	return false;
}

/* The mesh listener (from the supervisor, or bound here), the keyring, the
 * membership feed and the forwarding ports. Returns 0 or -1. */
static int
acceptor_mesh_start(struct acceptor *a)
{
	static const struct mesh_callbacks cb = {
		.on_open = fwd_accept,
		.stream = &sholder_mux_cb,
		.splice_in = sholder_splice_in,
	};
	struct mesh_callbacks mcb = cb;
	struct mesh_conf mc;
	struct mux_conf mux = a->mux_conf;
	struct sock_addr bind, bound;
	char url[4200], text[80];
	unsigned bad = 0;
	int fd, rc;

	if (a->conf.cluster_key_file[0] != '\0' &&
	    (rc = keyring_load(&a->kr, a->conf.cluster_key_file, &bad)) != 0) {
		log_error("mesh.keys", "file=%s line=%u error=\"%s\"",
		    a->conf.cluster_key_file, bad, rc == -EINVAL ?
		    "not base64 of 32 bytes" : strerror(-rc));
		return -1;
	}
	fd = acceptor_listener("mesh", "WARREN_FD_MESH", a->conf.mesh_listen);
	if (fd < 0)
		log_warn("mesh.listen", "error=\"no mesh listener: other nodes cannot "
		    "forward here\"");
	bound.len = sizeof(bound.ss);
	snprintf(text, sizeof(text), "-");
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&bound.ss, &bound.len) == 0)
		sock_addr_format(&bound, text, sizeof(text));
	if (a->kr == NULL && fd >= 0 && !acceptor_loopback(text)) {
		log_error("mesh.keys", "addr=%s error=\"mesh links off loopback need "
		    "--cluster-key-file\"", text);
		close(fd);
		return -1;
	}
	if (a->kr == NULL)
		log_warn("mesh.plaintext", "addr=%s note=\"no --cluster-key-file: mesh "
		    "links use the all-zero key (loopback only)\"", text);
	mux.max_streams = 16384;
	memset(&mc, 0, sizeof(mc));
	mc.self = a->conf.name;
	mc.listen_fd = fd;
	mc.kr = a->kr;
	mc.mux = &mux;
	mc.handshake_timeout = 5.0;
	mc.ping_interval = (double)a->conf.ping_interval / 1000.0;
	mc.tls = a->conf.mesh_tls;
	mcb.arg = a;
	if (mesh_new(&a->mesh, a->loop, &mc, &mcb) != 0)
		return -1;
	if (ipc_open(&a->members, a->loop, IPC_SUB, ipc_url(url, sizeof(url),
	    a->conf.data_dir, "members"), false, acceptor_on_members, a) != 0 ||
	    ipc_open(&a->gossip, a->loop, IPC_REQ, ipc_url(url, sizeof(url),
	    a->conf.data_dir, "gossip"), false, NULL, NULL) != 0) {
		log_error("mesh.members", "error=\"cannot subscribe to membership\"");
		return -1;
	}
	acceptor_members_resync(a);
	if (sock_addr_parse(&bind, a->conf.http_listen, NULL) != 0 ||
	    fwdport_new(&a->fwdports, a->loop, &bind, acceptor_on_fwdport, a) != 0)
		return -1;
	ev_check_init(&a->table_check, acceptor_on_table_check);
	a->table_check.data = a;
	ev_check_start(a->loop, &a->table_check);
	ev_timer_init(&a->ports_timer, acceptor_on_ports_timer, 1., 1.);
	a->ports_timer.data = a;
	ev_timer_start(a->loop, &a->ports_timer);
	log_info("mesh.start", "addr=%s keys=%zu tls=%s", text,
	    a->kr ? keyring_count(a->kr) : 0, a->conf.mesh_tls ? "on" : "off");
	return 0;
}

/* The tunnel listener's TLS context: the configured certificate, or the
 * development CA's under DATA/tls (made on first start). */
static int
acceptor_cert_paths(struct acceptor *a, char *cert, char *key, size_t len)
{
	char dir[4200], err[600];

	if (a->conf.tls_cert[0] != '\0') {
		snprintf(cert, len, "%s", a->conf.tls_cert);
		snprintf(key, len, "%s", a->conf.tls_key[0] ? a->conf.tls_key :
		    a->conf.tls_cert);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s/tls", a->conf.data_dir);
	if (tls_dev_ca(dir, a->conf.domain, err, sizeof(err)) != 0) {
		log_error("tls.devca", "error=\"%s\"", err);
		return -1;
	}
	snprintf(cert, len, "%s/node.pem", dir);
	snprintf(key, len, "%s/node.key", dir);
	return 0;
}

/* (Re)loads the public HTTPS certificates; on failure keeps the old ones. */
static int
acceptor_load_certs(struct acceptor *a)
{
	char cert[4300], key[4300], err[600];
	struct certs *c;

	if (acceptor_cert_paths(a, cert, key, sizeof(cert)) != 0)
		return -1;
	if (certs_load(&c, a->conf.tls_cert_dir, cert, key, err, sizeof(err)) != 0) {
		log_error("tls.certs", "dir=%s error=\"%s\"",
		    a->conf.tls_cert_dir[0] ? a->conf.tls_cert_dir : "-", err);
		return -1;
	}
	/* with the development CA, served names get their own certificates */
	if (a->conf.tls_cert[0] == '\0') {
		char dir[4200];

		snprintf(dir, sizeof(dir), "%s/tls", a->conf.data_dir);
		if (certs_issuer(c, dir) != 0) {
			certs_free(c);
			return -1;
		}
	}
	certs_free(a->certs);
	a->certs = c;
	log_info("tls.certs", "dir=%s certificates=%zu",
	    a->conf.tls_cert_dir[0] ? a->conf.tls_cert_dir : "-", certs_count(c));
	return 0;
}

static void
acceptor_on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct acceptor *a = w->data;

	acceptor_load_certs(a);
	l4tls_reload(a->l4tls);
}

static int
acceptor_tls(struct acceptor *a)
{
	char cert[4300], key[4300], err[600];

	if (acceptor_cert_paths(a, cert, key, sizeof(cert)) != 0)
		return -1;
	if ((a->tunnel_ctx = tls_server_ctx(cert, key, NULL, 0, err,
	    sizeof(err))) == NULL) {
		log_error("tls.setup", "error=\"%s\"", err);
		return -1;
	}
	tls_ctx_link(a->tunnel_ctx);
	return 0;
}

/* Listener from the supervisor (fd number in env), or bound here when the
 * acceptor runs alone. Returns the fd or -1 after logging why. */
static int
acceptor_listener(const char *what, const char *env, const char *addr_text)
{
	struct sock_addr addr;
	const char *v = getenv(env);
	char text[80];
	int fd;

	if (v != NULL && v[0] != '\0') {
		fd = atoi(v);
		if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
			log_error("listen.inherit", "what=%s fd=%d error=\"%s\"", what,
			    fd, strerror(errno));
			return -1;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		addr.len = sizeof(addr.ss);
		getsockname(fd, (struct sockaddr *)&addr.ss, &addr.len);
	} else {
		if (sock_addr_parse(&addr, addr_text, NULL) != 0) {
			log_error("listen.addr", "what=%s addr=%s error=\"not HOST:PORT\"",
			    what, addr_text);
			return -1;
		}
		if ((fd = sock_listen(&addr, 1024)) < 0) {
			log_error("listen.fail", "what=%s addr=%s error=\"%s\"", what,
			    addr_text, strerror(-fd));
			return -1;
		}
	}
	log_info("listen", "what=%s addr=%s", what,
	    sock_addr_format(&addr, text, sizeof(text)));
	return fd;
}

static void
acceptor_on_settle(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ONE);
}

/* Lets the router answer what was just asked (the unregistrations of the
 * sessions closed at the stop), for at most a second: a REQ socket closed
 * with a request in flight can hang nng's close. */
static void
acceptor_settle(struct acceptor *a)
{
	ev_timer t;
	ev_tstamp deadline = ev_time() + 1.0;

	ev_timer_init(&t, acceptor_on_settle, 0.05, 0.05);
	ev_timer_start(a->loop, &t);
	while (ipc_busy(a->router) && ev_time() < deadline)
		ev_run(a->loop, EVRUN_ONCE);
	ev_timer_stop(a->loop, &t);
}

int
main(int argc, char **argv)
{
	struct acceptor a;
	struct sock_addr addr;
	uint64_t rnd;

	memset(&a, 0, sizeof(a));
	if (nodeconf_load(&a.conf, argc, argv, "acceptor") != 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	a.loop = EV_DEFAULT;
	mux_conf_default(&a.mux_conf);
	a.mux_conf.window = (uint32_t)a.conf.window;
	a.mux_conf.max_streams = 0;     /* clients open no streams */
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	srandom((unsigned)rnd);
	a.epoch = rnd;
	/* session ids: random high bits per acceptor start, counter below */
	a.session_base = rnd & ~0xffffffffULL;
	if ((a.routes = routes_new(a.conf.name)) == NULL || (a.ipcount = ipcount_new()) == NULL ||
	    (a.tunstats = tunstats_new(0)) == NULL)
		return 1;
	{
		char bad[80];

		if (cidr_parse(&a.proxy_from, a.conf.proxy_protocol_from, bad,
		    sizeof(bad)) != 0) {
			log_error("conf.proxy", "error=\"bad --proxy-protocol-from entry '%s'\"",
			    bad);
			return 1;
		}
		if (cidr_parse(&a.xff_from, a.conf.xff_from, bad, sizeof(bad)) != 0) {
			log_error("conf.proxy", "error=\"bad --xff-from entry '%s'\"",
			    bad);
			return 1;
		}
	}
	if (a.conf.tunnel_tls && acceptor_tls(&a) != 0)
		return 1;
	if (acceptor_load_certs(&a) != 0)
		return 1;
	if ((a.http_fd = acceptor_listener("http", "WARREN_FD_HTTP",
	    a.conf.http_listen)) < 0)
		return 1;
	if ((a.tunnel_fd = acceptor_listener("tunnel", "WARREN_FD_TUNNEL",
	    a.conf.tunnel_listen)) < 0)
		return 1;
	if ((a.https_fd = acceptor_listener("https", "WARREN_FD_HTTPS",
	    a.conf.https_listen)) < 0)
		return 1;
	addr.len = sizeof(addr.ss);
	getsockname(a.http_fd, (struct sockaddr *)&addr.ss, &addr.len);
	a.http_port = sock_addr_port(&addr);
	addr.len = sizeof(addr.ss);
	getsockname(a.https_fd, (struct sockaddr *)&addr.ss, &addr.len);
	a.https_port = sock_addr_port(&addr);
	ev_io_init(&a.https_io, acceptor_on_accept, a.https_fd, EV_READ);
	a.https_io.data = &a;
	ev_io_start(a.loop, &a.https_io);
	ev_signal_init(&a.sighup, acceptor_on_hup, SIGHUP);
	a.sighup.data = &a;
	ev_signal_start(a.loop, &a.sighup);
	ev_io_init(&a.http_io, acceptor_on_accept, a.http_fd, EV_READ);
	a.http_io.data = &a;
	ev_io_start(a.loop, &a.http_io);
	ev_io_init(&a.tunnel_io, acceptor_on_accept, a.tunnel_fd, EV_READ);
	a.tunnel_io.data = &a;
	ev_io_start(a.loop, &a.tunnel_io);
	ev_timer_init(&a.accept_retry, acceptor_on_retry, 0., 0.);
	a.accept_retry.data = &a;
	ev_prepare_init(&a.flusher, acceptor_on_flush);
	a.flusher.data = &a;
	ev_prepare_start(a.loop, &a.flusher);
	ev_check_init(&a.reaper, acceptor_on_reap);
	a.reaper.data = &a;
	ev_check_start(a.loop, &a.reaper);
	ev_signal_init(&a.sigterm, acceptor_on_signal, SIGTERM);
	a.sigterm.data = &a;
	ev_signal_start(a.loop, &a.sigterm);
	ev_signal_init(&a.sigint, acceptor_on_signal, SIGINT);
	a.sigint.data = &a;
	ev_signal_start(a.loop, &a.sigint);
	{
		char url[4200];

		if (ipc_open(&a.stats_pub, a.loop, IPC_PUB, ipc_url(url, sizeof(url),
		    a.conf.data_dir, "stats"), true, NULL, NULL) != 0)
			log_warn("stats.link", "error=\"cannot publish counters\"");
	}
	ev_timer_init(&a.stats_timer, acceptor_on_stats, 1., 1.);
	a.stats_timer.data = &a;
	ev_timer_start(a.loop, &a.stats_timer);
	if (acceptor_mesh_start(&a) != 0)
		return 1;
	{
		struct l4proxy_conf lc = { &a.conf, &a.proxy_from, a.ipcount,
		    acceptor_on_l4_count, pconn_accept_replica, &a };

		if (l4proxy_new(&a.l4, a.loop, &lc) != 0)
			return 1;
	}
	if (probe_new(&a.probe, &a, a.conf.data_dir) != 0)
		return 1;
	{
		struct l4tls_conf tc = { &a.conf, &a.proxy_from, a.l4,
		    a.ipcount };

		if (l4tls_new(&a.l4tls, a.loop, &tc) != 0)
			return 1;
	}
	if (rctl_start(&a) != 0) {
		log_error("router.link", "error=\"cannot open the IPC link to the router\"");
		return 1;
	}
	log_info("acceptor.start", "name=%s domain=%s http_port=%d pid=%d",
	    a.conf.name, a.conf.domain, a.http_port, (int)getpid());
	ev_run(a.loop, 0);

	probe_free(a.probe);
	a.probe = NULL;
	session_close_all(&a, "node stopped");
	l4tls_free(a.l4tls);
	a.l4tls = NULL;
	l4proxy_free(a.l4);
	a.l4 = NULL;
	/* forwarded connections learn of it through their streams' resets */
	mesh_free(a.mesh);
	a.mesh = NULL;
	pconn_reap(&a);
	acceptor_settle(&a);
	rctl_stop(&a);
	ev_check_stop(a.loop, &a.table_check);
	ev_timer_stop(a.loop, &a.ports_timer);
	fwdport_free(a.fwdports);
	keyring_free(a.kr);
	ipc_close(a.members);
	ipc_close(a.gossip);
	ipc_close(a.stats_pub);
	routes_free(a.routes);
	ipcount_free(a.ipcount);
	tunstats_free(a.tunstats);
	cidr_fini(&a.proxy_from);
	cidr_fini(&a.xff_from);
	SSL_CTX_free(a.tunnel_ctx);
	certs_free(a.certs);
	free(a.sessions);
	log_info("acceptor.stop", "conns_opened=%llu sessions_opened=%llu",
	    (unsigned long long)a.stats.conns_opened,
	    (unsigned long long)a.stats.sessions_opened);
	nodeconf_fini(&a.conf);
	return 0;
}
