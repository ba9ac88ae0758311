/* warren-router — the node's routing control plane.
 *
 * Peers (one dispatch function each):
 *   acceptor  REP on ipc://DATA/router.ipc (HELLO, REGISTER, UNREGISTER,
 *             SNAPSHOT_REQ) and PUB on ipc://DATA/table.ipc (TABLE deltas)
 *   gossip    REQ to ipc://DATA/gossip.ipc, synchronous (WRITE -> OK)
 *   operator  admin HTTP API on --admin-listen (loopback)
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "nodeconf.h"
#include "router/admin.h"
#include "router/auth.h"
#include "router/jwt.h"
#include "router/members.h"
#include "router/metrics_help.h"
#include "router/registry.h"
#include "router/backendapi.h"
#include "router/clusterapi.h"
#include "router/dnsserver.h"
#include "router/lbexplain.h"
#include "router/lbhealthdb.h"
#include "router/lbpub.h"
#include "probemsg.h"
#include "router/routedb.h"
#include "router/table.h"
#include "router/tokenapi.h"

#define ROUTER_GOSSIP_TIMEOUT_MS        2000
#define ROUTER_DB_WAIT_MS               15000
#define ROUTER_BEACON_S                 1.0
#define ROUTER_DBPOLL_S                 0.1     /* routing.db commits noticed */
#define ROUTER_KICKS                    16      /* revocations being enforced */
#define ROUTER_KICK_REPEAT              10      /* beacons a KICK is repeated */

/* A revoked token whose sessions must close: KICK is published at once and
 * again every beacon while the token still has sessions here (pub/sub may
 * drop a message), at most ROUTER_KICK_REPEAT times. */
struct router_kick {
	char token_id[AUTH_TOKEN_ID_LEN + 1];
	int left;
};

struct router_stats {
	unsigned long long reg_ok, reg_failed, unreg, hellos, snapshots;
	unsigned long long deltas, ipc_errors, gossip_errors, malformed;
};

struct router {
	struct node_conf conf;
	char *domain;                   /* lowercase base domain */
	struct ev_loop *loop;
	struct table *table;
	struct registry reg;
	uint64_t epoch, version;
	struct ipc_sock *rep;           /* from the acceptor */
	struct ipc_sock *pub;           /* table deltas to the acceptor */
	nng_socket gossip;              /* REQ to gossip, used with ipc_call */
	bool gossip_open;
	atomic_int gossip_pipes;        /* connections to gossip (nng threads) */
	struct admin *admin;
	struct auth *auth;              /* tokens, JWTs, reservations, caps */
	struct tokenapi tokens;         /* /v1/tokens */
	struct router_kick kicks[ROUTER_KICKS];
	struct members *members;        /* cluster members, from gossip */
	struct ipc_sock *msub;          /* gossip's membership events */
	struct ipc_sock *asub;          /* the acceptor's counters */
	struct ipcmsg_stats astats;     /* latest of them, for /metrics */
	struct routedb *db;             /* routing.db, read side */
	struct clusterapi *api;         /* /v1/routes, /v1/backends, /v1/domains */
	struct lbexplain *lbx;          /* /v1/lb/explain */
	struct backendapi *bapi;        /* edgeProxy's backend API, or NULL */
	struct dnsserver *dns;          /* internal DNS, or NULL */
	struct lbpub *lbp;              /* candidates to the acceptor, checks */
	struct lbhealthdb *lbh;         /* every node's check results */
	ev_timer dbpoll;                /* notices commits to routing.db */
	bool recompile;                 /* membership changed: recompile */
	unsigned long long compiles, losers_kicked;
	ev_tstamp members_asked;        /* last snapshot request */
	ev_timer beacon;                /* current version, every second */
	ev_signal sigterm, sigint;
	struct router_stats stats;
	int64_t started_ms;             /* wall clock: older drain requests */
	bool drain_asked;               /* ... are not for this run */
};

/* ---- gossip (synchronous writes) ---- */

static int
router_gossip_write(void *arg, const struct ipcmsg_write *w, char *err,
    size_t errlen)
{
	struct router *rt = arg;
	struct ipcmsg_ok ok;
	nng_msg *msg, *reply = NULL;
	int rv, st;

	/* Not connected: fail now rather than block the loop for the whole
	 * timeout (the acceptor's REQ resends meanwhile, and each resend would
	 * block again). */
	if (atomic_load(&rt->gossip_pipes) <= 0) {
		rt->stats.ipc_errors++;
		log_warn("gossip.call", "op=%u err=\"not connected\"", w->op);
		snprintf(err, errlen, "the node's gossip process is not running or "
		    "not reachable; try again shortly");
		return IPCMSG_S_UNAVAILABLE;
	}
	if ((msg = ipcmsg_write_encode(w)) == NULL) {
		snprintf(err, errlen, "the router could not encode a write");
		return IPCMSG_S_INTERNAL;
	}
	rv = ipc_call(rt->gossip, msg, ROUTER_GOSSIP_TIMEOUT_MS, &reply);
	if (rv != 0) {
		rt->stats.ipc_errors++;
		log_warn("gossip.call", "op=%u err=\"%s\"", w->op, nng_strerror(rv));
		snprintf(err, errlen, "the node's gossip process did not answer "
		    "within %d s (%s); try again shortly",
		    ROUTER_GOSSIP_TIMEOUT_MS / 1000, nng_strerror(rv));
		return IPCMSG_S_UNAVAILABLE;
	}
	rv = ipcmsg_ok_decode(&ok, nng_msg_body(reply), nng_msg_len(reply));
	nng_msg_free(reply);
	if (rv != 0) {
		rt->stats.ipc_errors++;
		log_warn("gossip.reply", "err=\"malformed reply\" rc=%d", rv);
		snprintf(err, errlen, "the node's gossip process sent a malformed "
		    "reply; try again shortly");
		return IPCMSG_S_UNAVAILABLE;
	}
	st = IPCMSG_S_OK;
	if (ok.status != IPCMSG_S_OK) {
		rt->stats.gossip_errors++;
		log_warn("gossip.write_failed", "op=%u status=%u err=\"%s\"", w->op,
		    ok.status, ok.error);
		snprintf(err, errlen, "routing.db write failed: %s", ok.error);
		st = ok.status == IPCMSG_S_INVALID ? IPCMSG_S_INTERNAL :
		    IPCMSG_S_UNAVAILABLE;
	}
	ipcmsg_ok_fini(&ok);
	return st;
}

/* ---- acceptor ---- */

/* Publishes the changes in d as deltas, one version each, in chunks of at
 * most IPCMSG_TABLE_MAX; frees d. */
static void
router_publish(struct router *rt, struct ipcmsg_table *d)
{
	struct ipcmsg_table chunk;
	nng_msg *msg;
	uint32_t off = 0;
	int rv;

	while (off < d->n) {
		memset(&chunk, 0, sizeof(chunk));
		chunk.epoch = rt->epoch;
		chunk.version = ++rt->version;
		chunk.delta = 1;
		chunk.n = d->n - off > IPCMSG_TABLE_MAX ? IPCMSG_TABLE_MAX : d->n - off;
		chunk.routes = d->routes + off;
		off += chunk.n;
		rt->stats.deltas++;
		/* a lost delta shows as a version gap: the acceptor resnapshots */
		if ((msg = ipcmsg_table_encode(&chunk)) == NULL) {
			log_error("table.publish", "version=%" PRIu64
			    " err=\"cannot encode delta\"", rt->version);
			continue;
		}
		if ((rv = ipc_publish(rt->pub, msg)) != 0) {
			rt->stats.ipc_errors++;
			log_warn("table.publish", "version=%" PRIu64 " err=\"%s\"",
			    rt->version, nng_strerror(rv));
		}
		log_debug("table.delta", "version=%" PRIu64 " n=%u", rt->version,
		    chunk.n);
	}
	ipcmsg_table_fini(d);
}

/* ---- the cluster-wide table ---- */

static bool
router_live(void *arg, const char *node)
{
	const struct ipcmsg_member *m = members_get(((struct router *)arg)->members,
	    node);

	return m != NULL && (m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT);
}

static void router_kick(void *arg, const char *token_id);

static void
router_kick_session(struct router *rt, const struct routedb_loser *l)
{
	struct ipcmsg_kick k;
	char reason[400];
	nng_msg *msg;

	if (l->kind == TUNNEL_TCP)
		snprintf(reason, sizeof(reason), "port %u: name taken by another "
		    "client (it was claimed first elsewhere in the cluster)",
		    (unsigned)l->port);
	else
		snprintf(reason, sizeof(reason), "%s: name taken by another client "
		    "(it was claimed first elsewhere in the cluster)", l->host);
	memset(&k, 0, sizeof(k));
	k.token_id = "";
	k.reason = reason;
	k.session = l->session;
	rt->losers_kicked++;
	log_info("tunnel.lost", "session=%016" PRIx64 " host=%s port=%u",
	    l->session, l->host, (unsigned)l->port);
	if ((msg = ipcmsg_kick_encode(&k)) == NULL ||
	    ipc_publish(rt->pub, msg) != 0)
		rt->stats.ipc_errors++;
}

/* A token revoked on another node: close its sessions here too. */
static void
router_on_revoked(void *arg, const char *token_id)
{
	struct router *rt = arg;
	size_t i;

	for (i = 0; i < ROUTER_KICKS; i++)
		if (rt->kicks[i].left > 0 &&
		    strcmp(rt->kicks[i].token_id, token_id) == 0)
			return;         /* already being enforced */
	log_info("token.revoked_elsewhere", "id=%s", token_id);
	router_kick(rt, token_id);
}

/* Rebuilds the route table from routing.db and the membership, publishes
 * what changed, and closes this node's sessions that lost a name or whose
 * token was revoked elsewhere. */
static void
router_recompile(struct router *rt)
{
	struct routedb_loser *losers = NULL;
	struct ipcmsg_table delta = { 0 };
	const char *toks[256];
	struct table *fresh;
	size_t nl = 0, i, nt;
	int n;

	rt->recompile = false;
	if (rt->db == NULL || table_new(&fresh) != 0)
		return;
	n = routedb_compile(rt->db, rt->conf.name, members_synced(rt->members) ?
	    router_live : NULL, rt, fresh, &losers, &nl);
	if (n < 0) {
		log_warn("routedb.compile", "err=\"%s\"", strerror(-n));
		table_free(fresh);
		rt->recompile = true;   /* try again at the next poll */
		return;
	}
	rt->compiles++;
	if (table_sync(rt->table, fresh, &delta) != 0)
		log_error("routedb.compile", "err=\"out of memory\"");
	table_free(fresh);
	if (delta.n > 0)
		log_debug("routedb.compiled", "names=%d changed=%u", n, delta.n);
	router_publish(rt, &delta);
	if (rt->lbp != NULL)
		lbpub_reload(rt->lbp);
	for (i = 0; i < nl; i++)
		router_kick_session(rt, &losers[i]);
	free(losers);
	if (rt->auth != NULL) {
		nt = auth_session_tokens(rt->auth, toks, sizeof(toks) / sizeof(toks[0]));
		routedb_revoked(rt->db, toks, nt, router_on_revoked, rt);
	}
}

static int64_t
router_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `clusterctl drain` named this node (on any node, after this router
 * started): the supervisor drains the node as on SIGTERM. */
static void
router_check_drain(struct router *rt)
{
	const char *sup = getenv("WARREN_SUPERVISOR_PID");
	char by[IPCMSG_STR_MAX + 1] = "";
	int64_t ms;

	if (rt->drain_asked)
		return;
	if ((ms = routedb_drain_requested(rt->db, rt->conf.name, by,
	    sizeof(by))) <= rt->started_ms)
		return;
	rt->drain_asked = true;
	if (sup == NULL || atoi(sup) <= 1 || atoi(sup) != (int)getppid()) {
		log_warn("drain.requested", "by=%s err=\"not run by warren-node: "
		    "nothing to drain\"", by);
		return;
	}
	log_info("drain.requested", "by=%s", by);
	kill((pid_t)atoi(sup), SIGTERM);
}

static void
router_on_dbpoll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct router *rt = w->data;

	if (routedb_changed(rt->db) || rt->recompile) {
		router_recompile(rt);
		router_check_drain(rt);
	}
}


/* ---- auth: revocations, setup ---- */

static void
router_kick_publish(struct router *rt, const char *token_id)
{
	struct ipcmsg_kick k = { (char *)token_id, "the token was revoked", 0 };
	nng_msg *msg = ipcmsg_kick_encode(&k);
	int rv;

	if (msg == NULL || (rv = ipc_publish(rt->pub, msg)) != 0) {
		rt->stats.ipc_errors++;
		log_warn("token.kick", "id=%s err=\"cannot publish\"", token_id);
	}
}

/* tokenapi_kick_fn: a token was revoked. */
static void
router_kick(void *arg, const char *token_id)
{
	struct router *rt = arg;
	struct router_kick *k, *slot = NULL;
	size_t i;

	router_kick_publish(rt, token_id);
	if (rt->auth != NULL && auth_sessions_of(rt->auth, token_id) == 0)
		return;
	for (i = 0; i < ROUTER_KICKS; i++) {
		k = &rt->kicks[i];
		if (k->left == 0 || strcmp(k->token_id, token_id) == 0) {
			slot = k;
			break;
		}
	}
	if (slot == NULL)
		slot = &rt->kicks[0];
	snprintf(slot->token_id, sizeof(slot->token_id), "%s", token_id);
	slot->left = ROUTER_KICK_REPEAT;
}

/* Every beacon: KICK again for revoked tokens that still have sessions. */
static void
router_rekick(struct router *rt)
{
	struct router_kick *k;
	size_t i, live;

	for (i = 0; i < ROUTER_KICKS; i++) {
		k = &rt->kicks[i];
		if (k->left == 0)
			continue;
		live = rt->auth != NULL ? auth_sessions_of(rt->auth, k->token_id) : 0;
		if (live == 0 || --k->left == 0) {
			if (live > 0)
				log_warn("token.kick", "id=%s sessions=%zu err=\"the "
				    "acceptor did not close them\"", k->token_id, live);
			k->left = 0;
			continue;
		}
		router_kick_publish(rt, k->token_id);
	}
}

/* JWT keys, then the auth module on routing.db. Returns 0 or -errno. */
static int
router_open_auth(struct router *rt, const char *db_path)
{
	struct auth_conf ac;
	struct jwt_keys *keys = NULL;
	char err[512];
	int rc;

	if ((rc = jwt_keys_new(&keys)) != 0)
		return rc;
	if (rt->conf.jwt_keys[0] != '\0' && (rc = jwt_keys_load(keys,
	    rt->conf.jwt_keys, false, err, sizeof(err))) < 0) {
		log_error("router.start", "jwt_keys=%s err=\"cannot use the JWT keys: "
		    "%s\"", rt->conf.jwt_keys, err);
		jwt_keys_free(keys);
		return rc;
	}
	if (rt->conf.jwks[0] != '\0' && (rc = jwt_keys_load(keys, rt->conf.jwks,
	    true, err, sizeof(err))) < 0) {
		log_error("router.start", "jwks=%s err=\"cannot use the JWKS: %s\"",
		    rt->conf.jwks, err);
		jwt_keys_free(keys);
		return rc;
	}
	memset(&ac, 0, sizeof(ac));
	ac.allow_anonymous = rt->conf.allow_anonymous;
	ac.grace_s = rt->conf.reservation_grace / 1000;
	ac.max_sessions = (int)rt->conf.max_sessions_per_token;
	ac.max_per_minute = (int)rt->conf.max_registrations_per_minute;
	ac.jwt_audience = rt->conf.jwt_audience;
	ac.jwt_issuer = rt->conf.jwt_issuer;
	ac.jwt_claim = rt->conf.jwt_claim;
	if ((rc = auth_new(&rt->auth, &ac, db_path, keys)) != 0) {
		jwt_keys_free(keys);
		log_error("router.start", "db=%s err=\"cannot read tokens from "
		    "routing.db\"", db_path);
		return rc;
	}
	rt->reg.auth = rt->auth;
	rt->tokens.auth = rt->auth;
	rt->tokens.node = rt->conf.name;
	rt->tokens.write = router_gossip_write;
	rt->tokens.write_arg = rt;
	rt->tokens.kick = router_kick;
	rt->tokens.kick_arg = rt;
	log_info("auth.ready", "anonymous=%s jwt_keys=%zu grace_s=%lld "
	    "max_sessions_per_token=%d max_registrations_per_minute=%d",
	    ac.allow_anonymous ? "allowed" : "refused", jwt_keys_count(keys),
	    (long long)ac.grace_s, ac.max_sessions, ac.max_per_minute);
	return 0;
}

/* An empty delta at the current version, every second. Subscribers that
 * are up to date ignore it; one that missed a delta (pub/sub drops what is
 * published before its pipe connects) or a router restart (new epoch) sees
 * a newer version or another epoch and resnapshots. */
static void
router_on_beacon(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct router *rt = w->data;
	struct ipcmsg_table t = { rt->epoch, rt->version, 1, 0, NULL };
	nng_msg *msg;

	if ((msg = ipcmsg_table_encode(&t)) != NULL)
		ipc_publish(rt->pub, msg);
	if (rt->lbp != NULL)
		lbpub_beacon(rt->lbp);
	router_rekick(rt);
}

static void
router_reply(struct router *rt, nng_msg *msg)
{
	int rv;

	if (msg == NULL) {
		rt->stats.ipc_errors++;
		log_error("ipc.reply", "peer=acceptor err=\"cannot encode reply\"");
		return;
	}
	if ((rv = ipc_reply(rt->rep, msg)) != 0) {
		rt->stats.ipc_errors++;
		log_warn("ipc.reply", "peer=acceptor err=\"%s\"", nng_strerror(rv));
	}
}

static void
router_reply_ok(struct router *rt, uint8_t status, const char *error)
{
	struct ipcmsg_ok ok = { status, (char *)error };

	router_reply(rt, ipcmsg_ok_encode(&ok));
}

static void
router_on_hello(struct router *rt, const void *body, size_t len)
{
	struct ipcmsg_table delta = { 0 };
	char err[512];
	uint64_t epoch;
	int st;

	if (ipcmsg_hello_decode(&epoch, body, len) != 0) {
		rt->stats.malformed++;
		router_reply_ok(rt, IPCMSG_S_INVALID, "malformed acceptor hello");
		return;
	}
	rt->stats.hellos++;
	st = registry_node_offline(&rt->reg, &delta, err, sizeof(err));
	log_info("acceptor.hello", "acceptor_epoch=%016" PRIx64 " offline=%u "
	    "status=%d", epoch, delta.n, st);
	router_publish(rt, &delta);
	router_reply_ok(rt, (uint8_t)st, st == IPCMSG_S_OK ? "" : err);
}

static void
router_on_register(struct router *rt, const void *body, size_t len)
{
	struct ipcmsg_register req;
	struct ipcmsg_registered reply;
	struct ipcmsg_table delta = { 0 };
	int st;

	if (ipcmsg_register_decode(&req, body, len) != 0) {
		struct ipcmsg_registered bad = { IPCMSG_S_INVALID,
		    "malformed register message", "", 0, "" };

		rt->stats.malformed++;
		rt->stats.reg_failed++;
		router_reply(rt, ipcmsg_registered_encode(&bad));
		return;
	}
	st = registry_register(&rt->reg, &req, &reply, &delta);
	if (st == IPCMSG_S_OK) {
		rt->stats.reg_ok++;
		if (req.kind == TUNNEL_TCP)
			log_info("tunnel.registered", "kind=tcp port=%u session=%016"
			    PRIx64 " tunnel=%u", (unsigned)reply.port, req.session,
			    req.tunnel_id);
		else
			log_info("tunnel.registered", "kind=http host=%s session=%016"
			    PRIx64 " tunnel=%u", reply.hosts, req.session,
			    req.tunnel_id);
	} else {
		rt->stats.reg_failed++;
		log_info("tunnel.refused", "kind=%u session=%016" PRIx64 " tunnel=%u "
		    "status=%d err=\"%s\"", req.kind, req.session, req.tunnel_id,
		    st, reply.error);
	}
	/* partial writes before a failure changed the table too */
	router_publish(rt, &delta);
	router_reply(rt, ipcmsg_registered_encode(&reply));
	ipcmsg_registered_fini(&reply);
	ipcmsg_register_fini(&req);
}

static void
router_on_unregister(struct router *rt, const void *body, size_t len)
{
	struct ipcmsg_table delta = { 0 };
	uint64_t session;
	char err[512];
	int st;

	if (ipcmsg_unregister_decode(&session, body, len) != 0) {
		rt->stats.malformed++;
		router_reply_ok(rt, IPCMSG_S_INVALID, "malformed unregister message");
		return;
	}
	rt->stats.unreg++;
	st = registry_unregister(&rt->reg, session, &delta, err, sizeof(err));
	log_info("tunnel.unregistered", "session=%016" PRIx64 " offline=%u status=%d",
	    session, delta.n, st);
	router_publish(rt, &delta);
	router_reply_ok(rt, (uint8_t)st, st == IPCMSG_S_OK ? "" : err);
}

static void
router_on_snapshot(struct router *rt, const void *body, size_t len)
{
	struct ipcmsg_table snap = { 0 };
	nng_msg *msg;
	uint32_t n;

	if (ipcmsg_snapshot_req_decode(body, len) != 0)
		rt->stats.malformed++;  /* answer anyway: it asks for nothing */
	rt->stats.snapshots++;
	snap.routes = table_list(rt->table, &n);
	if (snap.routes == NULL && n != 0) {
		router_reply_ok(rt, IPCMSG_S_INTERNAL, "the router is out of memory");
		return;
	}
	snap.epoch = rt->epoch;
	snap.version = rt->version;
	snap.delta = 0;
	snap.n = n;
	msg = ipcmsg_table_encode(&snap);
	free(snap.routes);              /* shallow: strings belong to the table */
	if (msg == NULL) {
		/* the registry keeps the table under IPCMSG_TABLE_MAX, so this
		 * is memory; the acceptor must still get an answer */
		router_reply_ok(rt, IPCMSG_S_INTERNAL, "the router could not "
		    "encode the route table snapshot");
		return;
	}
	router_reply(rt, msg);
}

/* One dispatch function per peer: the acceptor. */
static void
router_dispatch_acceptor(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct router *rt = arg;
	const void *body = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	int type = ipcmsg_type(body, len);

	switch (type) {
	case IPCMSG_ACCEPTOR_HELLO:
		router_on_hello(rt, body, len);
		break;
	case IPCMSG_REGISTER:
		router_on_register(rt, body, len);
		break;
	case IPCMSG_UNREGISTER:
		router_on_unregister(rt, body, len);
		break;
	case IPCMSG_SNAPSHOT_REQ:
		router_on_snapshot(rt, body, len);
		break;
	case IPCMSG_LB_REQ:
		if (rt->lbp != NULL)
			router_reply(rt, lbpub_snapshot(rt->lbp));
		else
			router_reply_ok(rt, IPCMSG_S_UNAVAILABLE, "no candidates yet");
		break;
	default:
		rt->stats.malformed++;
		log_warn("ipc.unexpected", "peer=acceptor type=%d len=%zu", type, len);
		router_reply_ok(rt, IPCMSG_S_INVALID, type == -EPROTO ?
		    "unknown message version or type" : "malformed message");
		break;
	}
	nng_msg_free(msg);
}

/* ---- admin API ---- */

static const char *
router_kind_name(uint8_t kind)
{
	return kind == TUNNEL_TCP ? "tcp" : kind == TUNNEL_TLS ? "tls" : "http";
}

static const char *
router_state_name(uint8_t state)
{
	switch (state) {
	case ROUTE_ONLINE: return "online";
	case ROUTE_OFFLINE: return "offline";
	case ROUTE_APP: return "app";
	default: return "deleted";
	}
}

static void
router_json(struct admin_resp *resp, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n;

	json_decref(j);
	if (s == NULL) {
		resp->status = 500;
		return;
	}
	/* jansson's buffer: copy into malloc'ed memory with a newline */
	n = strlen(s);
	if ((resp->body = malloc(n + 1)) == NULL) {
		free(s);
		resp->status = 500;
		return;
	}
	memcpy(resp->body, s, n);
	resp->body[n] = '\n';
	resp->len = n + 1;
	free(s);
	resp->status = 200;
	resp->content_type = "application/json";
}

/* A route's --ha alternate and --group replicas, for /v1/tunnels. */
static int
router_tunnel_extra(json_t *o, const struct ipcmsg_route *r)
{
	json_t *reps, *x;
	uint32_t i;

	if (r->alt_node != NULL && r->alt_node[0] != '\0' &&
	    json_object_set_new(o, "alternate", json_string(r->alt_node)) != 0)
		return -1;
	if (r->state == ROUTE_APP)
		return json_object_set_new(o, "app", json_string(r->grp.name != NULL ?
		    r->grp.name : ""));
	if (r->nreplicas == 0)
		return 0;
	if ((reps = json_array()) == NULL ||
	    json_object_set_new(o, "group", json_string(r->grp.name != NULL ?
	    r->grp.name : "")) != 0 ||
	    json_object_set_new(o, "replicas", reps) != 0)
		return -1;
	for (i = 0; i < r->nreplicas; i++) {
		const struct ipcmsg_route *p = &r->replicas[i];

		x = json_pack("{s:s, s:s, s:I, s:I, s:I}", "node",
		    p->node != NULL ? p->node : "", "region",
		    p->grp.region != NULL ? p->grp.region : "",
		    "weight", (json_int_t)p->grp.weight,
		    "soft_limit", (json_int_t)p->grp.soft_limit,
		    "hard_limit", (json_int_t)p->grp.hard_limit);
		if (x == NULL || json_array_append_new(reps, x) != 0)
			return -1;
	}
	return 0;
}

static void
router_admin_tunnels(struct router *rt, struct admin_resp *resp)
{
	struct ipcmsg_route *v;
	json_t *arr, *o;
	char session[17];
	uint32_t n, i;

	v = table_list(rt->table, &n);
	if (v == NULL && n != 0) {
		resp->status = 500;
		return;
	}
	if ((arr = json_array()) == NULL) {
		free(v);
		resp->status = 500;
		return;
	}
	for (i = 0; i < n; i++) {
		/* 64-bit ids as hex strings, as in the logs: JSON numbers lose
		 * them above 2^53 */
		snprintf(session, sizeof(session), "%016" PRIx64, v[i].session);
		o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}",
		    "host", v[i].host, "port", (int)v[i].port,
		    "kind", router_kind_name(v[i].kind), "node", v[i].node,
		    "session", session, "state", router_state_name(v[i].state));
		if (o != NULL && router_tunnel_extra(o, &v[i]) != 0) {
			json_decref(o);
			o = NULL;
		}
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			free(v);
			resp->status = 500;
			return;
		}
	}
	free(v);
	router_json(resp, arr);
}

static void
router_admin_status(struct router *rt, struct admin_resp *resp)
{
	char epoch[17];

	snprintf(epoch, sizeof(epoch), "%016" PRIx64, rt->epoch);
	router_json(resp, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
	    "name", rt->conf.name, "region", rt->conf.region,
	    "domain", rt->domain, "epoch", epoch,
	    "version", (json_int_t)rt->version,
	    "tunnels", (json_int_t)table_count(rt->table),
	    "online", (json_int_t)table_count_state(rt->table, ROUTE_ONLINE)));
}

/* The acceptor publishes its counters every second; keep the latest. */
static void
router_on_acceptor_stats(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct router *rt = arg;
	struct ipcmsg_stats st;

	if (ipcmsg_stats_decode(&st, nng_msg_body(msg), nng_msg_len(msg)) == 0) {
		ipcmsg_stats_fini(&rt->astats);
		rt->astats = st;
	} else {
		rt->stats.malformed++;
	}
	nng_msg_free(msg);
}

/* Appends the acceptor's counters (data plane: connections, HTTP answers,
 * refused input) to a /metrics body, each family with its HELP and TYPE
 * (samples of a family come together). */
static void
router_admin_metrics_acceptor(struct router *rt, struct admin_resp *resp)
{
	size_t i, fam, need = 0, last_len = 0;
	const char *help, *type, *last = NULL;
	double scale;
	char *body;
	int n;

	if (resp->status != 200)
		return;
	for (i = 0; i < rt->astats.n; i++) {
		metrics_help(rt->astats.items[i].name, &help, &type, &scale);
		need += 2 * strlen(rt->astats.items[i].name) + strlen(help) + 112;
	}
	if (need == 0 || (body = realloc(resp->body, resp->len + need + 1)) == NULL)
		return;
	resp->body = body;
	for (i = 0; i < rt->astats.n; i++) {
		const char *name = rt->astats.items[i].name;

		fam = metrics_help(name, &help, &type, &scale);
		if (last == NULL || fam != last_len || strncmp(last, name, fam)) {
			n = snprintf(body + resp->len, need + 1,
			    "# HELP warren_acceptor_%.*s %s\n"
			    "# TYPE warren_acceptor_%.*s %s\n",
			    (int)fam, name, help, (int)fam, name, type);
			if (n < 0 || (size_t)n > need)
				break;
			resp->len += (size_t)n;
			need -= (size_t)n;
			last = name;
			last_len = fam;
		}
		if (scale != 1)
			n = snprintf(body + resp->len, need + 1,
			    "warren_acceptor_%s %.6f\n", name,
			    (double)rt->astats.items[i].value * scale);
		else
			n = snprintf(body + resp->len, need + 1,
			    "warren_acceptor_%s %llu\n", name,
			    (unsigned long long)rt->astats.items[i].value);
		if (n < 0 || (size_t)n > need)
			break;
		resp->len += (size_t)n;
		need -= (size_t)n;
	}
}

/* Appends more[n] (then freed) to a response body; on no memory the body
 * stays as it was. */
static void
router_resp_append(struct admin_resp *resp, char *more, size_t n)
{
	char *body;

	if ((body = realloc(resp->body, resp->len + n)) != NULL) {
		memcpy(body + resp->len, more, n);
		resp->body = body;
		resp->len += n;
	}
	free(more);
}

/* Appends the backend API's and the DNS's counters, when they run. */
static void
router_admin_metrics_edge(struct router *rt, struct admin_resp *resp)
{
	struct backendapi_stats b;
	struct dnsserver_stats d;
	char *more = NULL;
	int n = 0;

	if (resp->status != 200 || (rt->bapi == NULL && rt->dns == NULL))
		return;
	backendapi_stats(rt->bapi, &b);
	dnsserver_stats(rt->dns, &d);
	n = asprintf(&more,
	    "# HELP warren_router_backendapi_requests_total Backend API requests, and those refused for want of the token.\n"
	    "# TYPE warren_router_backendapi_requests_total counter\n"
	    "warren_router_backendapi_requests_total %llu\n"
	    "warren_router_backendapi_requests_total{result=\"unauthorized\"} %llu\n"
	    "# HELP warren_router_backendapi_events_total Backends registered, heartbeats taken, expired registrations removed.\n"
	    "# TYPE warren_router_backendapi_events_total counter\n"
	    "warren_router_backendapi_events_total{event=\"register\"} %llu\n"
	    "warren_router_backendapi_events_total{event=\"heartbeat\"} %llu\n"
	    "warren_router_backendapi_events_total{event=\"expired\"} %llu\n"
	    "# HELP warren_router_dns_queries_total Internal DNS queries by answer (dropped: none sent).\n"
	    "# TYPE warren_router_dns_queries_total counter\n"
	    "warren_router_dns_queries_total{rcode=\"answer\"} %llu\n"
	    "warren_router_dns_queries_total{rcode=\"nodata\"} %llu\n"
	    "warren_router_dns_queries_total{rcode=\"nxdomain\"} %llu\n"
	    "warren_router_dns_queries_total{rcode=\"refused\"} %llu\n"
	    "warren_router_dns_queries_total{rcode=\"notimp\"} %llu\n"
	    "warren_router_dns_queries_total{rcode=\"formerr\"} %llu\n"
	    "warren_router_dns_queries_total{rcode=\"servfail\"} %llu\n"
	    "warren_router_dns_queries_total{rcode=\"dropped\"} %llu\n",
	    b.requests, b.unauthorized, b.registered, b.heartbeats, b.removed,
	    d.answers, d.nodata, d.nxdomain, d.refused, d.notimp, d.formerr,
	    d.servfail, d.dropped);
	if (n >= 0)
		router_resp_append(resp, more, (size_t)n);
}

/* Appends the auth counters to a /metrics body. */
static void
router_admin_metrics_auth(struct router *rt, struct admin_resp *resp)
{
	const struct auth_stats *a;
	char *more;
	int n;

	if (rt->auth == NULL || resp->status != 200)
		return;
	a = auth_stats(rt->auth);
	n = asprintf(&more,
	    "# HELP warren_router_auth_refused_total Registrations refused by auth, by reason.\n"
	    "# TYPE warren_router_auth_refused_total counter\n"
	    "warren_router_auth_refused_total{reason=\"no_token\"} %llu\n"
	    "warren_router_auth_refused_total{reason=\"bad_token\"} %llu\n"
	    "warren_router_auth_refused_total{reason=\"revoked\"} %llu\n"
	    "warren_router_auth_refused_total{reason=\"jwt\"} %llu\n"
	    "warren_router_auth_refused_total{reason=\"not_allowed\"} %llu\n"
	    "warren_router_auth_refused_total{reason=\"reserved\"} %llu\n"
	    "warren_router_auth_refused_total{reason=\"rate_limited\"} %llu\n"
	    "warren_router_auth_refused_total{reason=\"session_cap\"} %llu\n",
	    a->no_token, a->bad_token, a->revoked, a->jwt_refused, a->not_allowed,
	    a->reserved, a->rate_limited, a->session_cap);
	if (n >= 0)
		router_resp_append(resp, more, (size_t)n);
}

/* Appends the load balancer's health-check counters to a /metrics body. */
static void
router_admin_metrics_lb(struct router *rt, struct admin_resp *resp)
{
	char *more;

	if (rt->lbp == NULL || resp->status != 200 ||
	    (more = lbpub_metrics(rt->lbp)) == NULL)
		return;
	router_resp_append(resp, more, strlen(more));
	if (rt->lbh != NULL && (more = lbhealthdb_metrics(rt->lbh)) != NULL)
		router_resp_append(resp, more, strlen(more));
}

/* GET /v1/lb/health/all: every live node's health-check results. */
static void
router_admin_lb_health_all(struct router *rt, struct admin_resp *resp)
{
	size_t i, n = 0, cnt = members_count(rt->members);
	const char **nodes;
	bool synced = members_synced(rt->members);
	char err[256];
	json_t *out = NULL;

	if ((nodes = calloc(cnt + 1, sizeof(*nodes))) != NULL) {
		nodes[n++] = rt->conf.name;
		for (i = 0; i < cnt; i++) {
			const struct ipcmsg_member *m = members_at(rt->members, i);

			if (strcmp(m->name, rt->conf.name) != 0 &&
			    (m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT))
				nodes[n++] = m->name;
		}
		out = lbhealthdb_view(rt->lbh, synced ? router_live : NULL, rt,
		    nodes, n, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err), "out of memory");
	}
	free(nodes);
	if (out == NULL) {
		router_json(resp, json_pack("{s:b, s:s}", "ok", 0, "error", err));
		resp->status = 500;
		return;
	}
	router_json(resp, out);
}

static void
router_admin_metrics(struct router *rt, struct admin_resp *resp)
{
	const struct router_stats *s = &rt->stats;
	char *buf;
	int n;

	n = asprintf(&buf,
	    "# HELP warren_router_registrations_total Tunnel registrations by result.\n"
	    "# TYPE warren_router_registrations_total counter\n"
	    "warren_router_registrations_total{result=\"ok\"} %llu\n"
	    "warren_router_registrations_total{result=\"failed\"} %llu\n"
	    "# HELP warren_router_unregistrations_total Sessions that ended.\n"
	    "# TYPE warren_router_unregistrations_total counter\n"
	    "warren_router_unregistrations_total %llu\n"
	    "# HELP warren_router_acceptor_hellos_total Acceptor (re)starts seen.\n"
	    "# TYPE warren_router_acceptor_hellos_total counter\n"
	    "warren_router_acceptor_hellos_total %llu\n"
	    "# HELP warren_router_ipc_errors_total IPC sends, replies and calls that failed.\n"
	    "# TYPE warren_router_ipc_errors_total counter\n"
	    "warren_router_ipc_errors_total %llu\n"
	    "# HELP warren_router_gossip_errors_total Writes gossip refused or failed.\n"
	    "# TYPE warren_router_gossip_errors_total counter\n"
	    "warren_router_gossip_errors_total %llu\n"
	    "# HELP warren_router_ipc_malformed_total Malformed IPC messages received.\n"
	    "# TYPE warren_router_ipc_malformed_total counter\n"
	    "warren_router_ipc_malformed_total %llu\n"
	    "# HELP warren_router_table_deltas_total Table deltas published.\n"
	    "# TYPE warren_router_table_deltas_total counter\n"
	    "warren_router_table_deltas_total %llu\n"
	    "# HELP warren_router_snapshots_total Table snapshots served.\n"
	    "# TYPE warren_router_snapshots_total counter\n"
	    "warren_router_snapshots_total %llu\n"
	    "# HELP warren_router_admin_requests_total Admin API requests served.\n"
	    "# TYPE warren_router_admin_requests_total counter\n"
	    "warren_router_admin_requests_total %llu\n"
	    "# HELP warren_router_admin_rejects_total Admin connections refused or cut.\n"
	    "# TYPE warren_router_admin_rejects_total counter\n"
	    "warren_router_admin_rejects_total %llu\n"
	    "# HELP warren_router_table_version Version of the route table.\n"
	    "# TYPE warren_router_table_version gauge\n"
	    "warren_router_table_version %" PRIu64 "\n"
	    "# HELP warren_router_routes Route table entries by state.\n"
	    "# TYPE warren_router_routes gauge\n"
	    "warren_router_routes{state=\"online\"} %zu\n"
	    "warren_router_routes{state=\"offline\"} %zu\n",
	    s->reg_ok, s->reg_failed, s->unreg, s->hellos, s->ipc_errors,
	    s->gossip_errors, s->malformed, s->deltas, s->snapshots,
	    admin_requests(rt->admin), admin_rejects(rt->admin), rt->version,
	    table_count_state(rt->table, ROUTE_ONLINE),
	    table_count_state(rt->table, ROUTE_OFFLINE));
	if (n < 0) {
		resp->status = 500;
		return;
	}
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4";
	resp->body = buf;
	resp->len = (size_t)n;
	router_admin_metrics_auth(rt, resp);
	router_admin_metrics_acceptor(rt, resp);
	router_admin_metrics_edge(rt, resp);
	router_admin_metrics_lb(rt, resp);
}

/* ---- cluster membership (gossip's MEMBERS messages, /v1/members) ---- */

/* A blocking request to gossip that answers OK; 0 and the sentence in
 * msg, or an HTTP status for the operator. */
static int
router_gossip_simple(struct router *rt, uint8_t type, char *msg, size_t len)
{
	struct ipcmsg_ok ok;
	nng_msg *req, *reply = NULL;
	int rv, status;

	if (atomic_load(&rt->gossip_pipes) <= 0) {
		snprintf(msg, len, "the node's gossip process is not running");
		return 503;
	}
	if ((req = ipcmsg_empty_encode(type)) == NULL) {
		snprintf(msg, len, "out of memory");
		return 500;
	}
	if ((rv = ipc_call(rt->gossip, req, ROUTER_GOSSIP_TIMEOUT_MS, &reply)) != 0) {
		snprintf(msg, len, "the node's gossip process did not answer (%s)",
		    nng_strerror(rv));
		return 503;
	}
	rv = ipcmsg_ok_decode(&ok, nng_msg_body(reply), nng_msg_len(reply));
	nng_msg_free(reply);
	if (rv != 0) {
		snprintf(msg, len, "malformed reply from gossip");
		return 502;
	}
	snprintf(msg, len, "%s", ok.error);
	status = ok.status == IPCMSG_S_OK ? 0 :
	    ok.status == IPCMSG_S_INVALID ? 400 : 503;
	ipcmsg_ok_fini(&ok);
	return status;
}

/* Asks gossip for the whole member list (at most every 200 ms). */
static void
router_members_resync(struct router *rt)
{
	struct ipcmsg_members snap;
	nng_msg *req, *reply = NULL;
	int rv;

	if (atomic_load(&rt->gossip_pipes) <= 0 ||
	    ev_now(rt->loop) - rt->members_asked < 0.2)
		return;
	rt->members_asked = ev_now(rt->loop);
	if ((req = ipcmsg_empty_encode(IPCMSG_MEMBERS_REQ)) == NULL)
		return;
	if ((rv = ipc_call(rt->gossip, req, ROUTER_GOSSIP_TIMEOUT_MS, &reply)) != 0) {
		log_warn("members.snapshot", "err=\"%s\"", nng_strerror(rv));
		return;
	}
	if (ipcmsg_members_decode(&snap, nng_msg_body(reply),
	    nng_msg_len(reply)) != 0 || snap.kind != MEMBERS_SNAPSHOT) {
		rt->stats.malformed++;
		log_warn("members.snapshot", "err=\"malformed reply\"");
	} else {
		if (members_apply(rt->members, &snap) == 0) {
			log_info("members.snapshot", "members=%zu seq=%" PRIu64,
			    members_count(rt->members), snap.seq);
			rt->recompile = true;
		}
		ipcmsg_members_fini(&snap);
	}
	nng_msg_free(reply);
}

/* One dispatch function per peer: gossip's membership publisher. */
static void
router_dispatch_members(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct router *rt = arg;
	struct ipcmsg_members m;
	int rc;

	if (ipcmsg_members_decode(&m, nng_msg_body(msg), nng_msg_len(msg)) != 0) {
		rt->stats.malformed++;
		nng_msg_free(msg);
		return;
	}
	nng_msg_free(msg);
	if (m.kind == MEMBERS_EVENT && m.n == 1)
		log_debug("members.event", "event=%u name=%s state=%u incarnation=%"
		    PRIu64, m.event, m.members[0].name, m.members[0].state,
		    m.members[0].incarnation);
	rc = members_apply(rt->members, &m);
	/* who is alive decides whose claims count */
	if (rc == 0 && m.kind == MEMBERS_EVENT && m.event != MEMBER_EV_META)
		rt->recompile = true;
	ipcmsg_members_fini(&m);
	if (rc != 0)
		router_members_resync(rt);
}

static const char *const router_member_states[] = { "alive", "suspect", "dead", "left" };

static void
router_admin_members(struct router *rt, struct admin_resp *resp)
{
	const struct ipcmsg_member *m;
	json_t *arr, *o;
	char changed[40];
	struct tm tm;
	time_t t;
	size_t i;

	/* fresh from gossip (RTTs change without events); the list kept from
	 * events answers if gossip is busy */
	rt->members_asked = 0;
	router_members_resync(rt);
	if ((arr = json_array()) == NULL) {
		resp->status = 500;
		return;
	}
	for (i = 0; i < members_count(rt->members); i++) {
		m = members_at(rt->members, i);
		t = (time_t)(m->changed_ms / 1000);
		changed[0] = '\0';
		if (m->changed_ms != 0 && gmtime_r(&t, &tm) != NULL)
			strftime(changed, sizeof(changed), "%Y-%m-%dT%H:%M:%SZ", &tm);
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:s, s:I, s:s, s:s, s:s, s:s, s:b}",
		    "name", m->name, "addr", m->addr, "region", m->region,
		    "state", router_member_states[m->state & 3],
		    "incarnation", (json_int_t)m->incarnation,
		    "rtt_ms", m->rtt_us ? json_real(m->rtt_us / 1000.0) : json_null(),
		    "changed", changed, "changed_ms", (json_int_t)m->changed_ms,
		    "http", m->http, "tunnel", m->tunnel, "version", m->version,
		    "mesh", m->mesh ? m->mesh : "", "self", m->self != 0);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			resp->status = 500;
			return;
		}
	}
	router_json(resp, arr);
}

static void router_admin_metrics(struct router *rt, struct admin_resp *resp);

/* Appends the membership figures to a /metrics answer. */
static void
router_admin_members_metrics(struct router *rt, struct admin_resp *resp)
{
	const struct ipcmsg_gossip_stats *s = members_stats(rt->members);
	char *more;
	int n;

	if (resp->status != 200)
		return;
	n = asprintf(&more,
	    "# HELP warren_gossip_members Cluster members by state, as this node sees them.\n"
	    "# TYPE warren_gossip_members gauge\n"
	    "warren_gossip_members{state=\"alive\"} %zu\n"
	    "warren_gossip_members{state=\"suspect\"} %zu\n"
	    "warren_gossip_members{state=\"dead\"} %zu\n"
	    "warren_gossip_members{state=\"left\"} %zu\n"
	    "# HELP warren_gossip_bytes_total Membership bytes on the wire (sealed).\n"
	    "# TYPE warren_gossip_bytes_total counter\n"
	    "warren_gossip_bytes_total{proto=\"udp\",dir=\"tx\"} %" PRIu64 "\n"
	    "warren_gossip_bytes_total{proto=\"udp\",dir=\"rx\"} %" PRIu64 "\n"
	    "warren_gossip_bytes_total{proto=\"tcp\",dir=\"tx\"} %" PRIu64 "\n"
	    "warren_gossip_bytes_total{proto=\"tcp\",dir=\"rx\"} %" PRIu64 "\n"
	    "# HELP warren_gossip_packets_total Gossip datagrams.\n"
	    "# TYPE warren_gossip_packets_total counter\n"
	    "warren_gossip_packets_total{dir=\"tx\"} %" PRIu64 "\n"
	    "warren_gossip_packets_total{dir=\"rx\"} %" PRIu64 "\n"
	    "# HELP warren_gossip_dropped_total Gossip packets and states dropped.\n"
	    "# TYPE warren_gossip_dropped_total counter\n"
	    "warren_gossip_dropped_total{reason=\"unknown_key\"} %" PRIu64 "\n"
	    "warren_gossip_dropped_total{reason=\"auth\"} %" PRIu64 "\n"
	    "warren_gossip_dropped_total{reason=\"malformed\"} %" PRIu64 "\n",
	    members_count_state(rt->members, MEMBER_ALIVE),
	    members_count_state(rt->members, MEMBER_SUSPECT),
	    members_count_state(rt->members, MEMBER_DEAD),
	    members_count_state(rt->members, MEMBER_LEFT),
	    s->udp_tx_bytes, s->udp_rx_bytes, s->tcp_tx_bytes, s->tcp_rx_bytes,
	    s->udp_tx_packets, s->udp_rx_packets, s->drop_unknown_key,
	    s->drop_auth, s->drop_malformed);
	if (n >= 0)
		router_resp_append(resp, more, (size_t)n);
}

/* gossip's replication state (REPL_INFO), or NULL with msg filled. */
static json_t *
router_repl_info(struct router *rt, char *msg, size_t len)
{
	nng_msg *req, *reply = NULL;
	char *text = NULL;
	json_t *j;
	int rv;

	if (atomic_load(&rt->gossip_pipes) <= 0) {
		snprintf(msg, len, "the node's gossip process is not running");
		return NULL;
	}
	if ((req = ipcmsg_empty_encode(IPCMSG_REPL_INFO_REQ)) == NULL ||
	    (rv = ipc_call(rt->gossip, req, ROUTER_GOSSIP_TIMEOUT_MS, &reply)) != 0) {
		snprintf(msg, len, "the node's gossip process did not answer");
		return NULL;
	}
	rv = ipcmsg_text_decode(IPCMSG_REPL_INFO, &text, nng_msg_body(reply),
	    nng_msg_len(reply));
	nng_msg_free(reply);
	if (rv != 0 || (j = json_loads(text, 0, NULL)) == NULL) {
		free(text);
		snprintf(msg, len, "malformed replication info from gossip");
		return NULL;
	}
	free(text);
	return j;
}

/* GET /v1/sync: this node's replication state and every member's summary
 * (actor, version, digest prefix, rows), with how far behind this node is
 * on each member's changes. */
static void
router_admin_sync(struct router *rt, struct admin_resp *resp)
{
	const struct ipcmsg_member *m;
	json_t *self, *nodes, *heads, *o;
	char msg[256], actor[64], digest[40];
	unsigned long long version, rows;
	const char *mine;
	size_t i;

	if ((self = router_repl_info(rt, msg, sizeof(msg))) == NULL) {
		router_json(resp, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
		resp->status = 503;
		return;
	}
	heads = json_object_get(self, "heads");
	mine = json_string_value(json_object_get(self, "digest"));
	nodes = json_array();
	rt->members_asked = 0;
	router_members_resync(rt);
	for (i = 0; i < members_count(rt->members); i++) {
		m = members_at(rt->members, i);
		actor[0] = digest[0] = '\0';
		version = rows = 0;
		if (m->self) {
			snprintf(actor, sizeof(actor), "%s", json_string_value(
			    json_object_get(self, "actor")));
			version = (unsigned long long)json_integer_value(
			    json_object_get(self, "version"));
			snprintf(digest, sizeof(digest), "%.16s", mine != NULL ? mine : "");
			rows = (unsigned long long)json_integer_value(
			    json_object_get(self, "rows"));
		} else if (sscanf(m->repl != NULL ? m->repl : "",
		    "%63[^:]:%llu:%39[^:]:%llu", actor, &version, digest, &rows) != 4) {
			actor[0] = digest[0] = '\0';
		}
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:b}",
		    "name", m->name, "state", router_member_states[m->state & 3],
		    "region", m->region, "actor", actor, "version", (json_int_t)version,
		    "digest", digest, "rows", (json_int_t)rows,
		    "self", m->self != 0);
		if (o == NULL)
			continue;
		if (actor[0] != '\0') {
			json_int_t seen = json_integer_value(json_object_get(heads, actor));

			json_object_set_new(o, "behind", json_integer(
			    (json_int_t)version > seen ? (json_int_t)version - seen : 0));
			json_object_set_new(o, "same_data", json_boolean(mine != NULL &&
			    digest[0] != '\0' && strncmp(mine, digest,
			    strlen(digest)) == 0));
		}
		json_array_append_new(nodes, o);
	}
	router_json(resp, json_pack("{s:o, s:o}", "self", self, "nodes", nodes));
}

/* The replication part of /metrics. */
static void
router_admin_repl_metrics(struct router *rt, struct admin_resp *resp)
{
	static const char *const dbk[] = { "captured", "versions", "received",
	    "applied", "stale", "rows_failed", "unknown_table", "revoke_kept" };
	static const char *const netk[] = { "tx_packets", "tx_bytes", "rx_packets",
	    "rx_bytes", "rx_malformed", "rx_duplicate", "broadcasts",
	    "versions_big", "syncs", "sync_failures", "sync_tx_bytes",
	    "sync_rx_bytes", "served", "gaps", "heads_tx" };
	char msg[256], *more = NULL;
	json_t *j, *db, *net;
	size_t i, len = 0, cap = 8192;
	int n;

	if ((j = router_repl_info(rt, msg, sizeof(msg))) == NULL)
		return;
	db = json_object_get(j, "db");
	net = json_object_get(j, "net");
	if ((more = malloc(cap)) == NULL) {
		json_decref(j);
		return;
	}
	n = snprintf(more, cap, "# HELP warren_repl_db_total Replicated changes "
	    "by what happened to them in routing.db.\n"
	    "# TYPE warren_repl_db_total counter\n");
	len = (size_t)n;
	for (i = 0; i < sizeof(dbk) / sizeof(dbk[0]); i++)
		len += (size_t)snprintf(more + len, cap - len,
		    "warren_repl_db_total{what=\"%s\"} %lld\n", dbk[i],
		    (long long)json_integer_value(json_object_get(db, dbk[i])));
	len += (size_t)snprintf(more + len, cap - len, "# HELP warren_repl_net_total "
	    "Replication traffic: broadcasts, heads, pulls and their bytes.\n"
	    "# TYPE warren_repl_net_total counter\n");
	for (i = 0; i < sizeof(netk) / sizeof(netk[0]); i++)
		len += (size_t)snprintf(more + len, cap - len,
		    "warren_repl_net_total{what=\"%s\"} %lld\n", netk[i],
		    (long long)json_integer_value(json_object_get(net, netk[i])));
	len += (size_t)snprintf(more + len, cap - len, "# HELP warren_repl_rows "
	    "Rows in the replicated tables.\n# TYPE warren_repl_rows gauge\n"
	    "warren_repl_rows %lld\n# HELP warren_repl_version This node's "
	    "change-log version.\n# TYPE warren_repl_version gauge\n"
	    "warren_repl_version %lld\n",
	    (long long)json_integer_value(json_object_get(j, "rows")),
	    (long long)json_integer_value(json_object_get(j, "version")));
	json_decref(j);
	if (len >= cap) {
		free(more);
		return;
	}
	router_resp_append(resp, more, len);
}

/* POST /v1/drain/NODE: a drain request for NODE, replicated to it. */
static void
router_admin_drain(struct router *rt, const char *node, struct admin_resp *resp)
{
	const struct ipcmsg_member *m = members_get(rt->members, node);
	struct ipcmsg_write w;
	char row[512], err[512];
	json_t *j;
	size_t n;
	int st;

	if (strcmp(node, rt->conf.name) != 0 && (m == NULL ||
	    (m->state != MEMBER_ALIVE && m->state != MEMBER_SUSPECT))) {
		router_json(resp, json_pack("{s:b, s:s}", "ok", 0, "error",
		    "no live member has that name (see clusterctl members)"));
		resp->status = 404;
		return;
	}
	j = json_pack("{s:s, s:I, s:s}", "node", node, "requested_ms",
	    (json_int_t)router_wall_ms(), "by", rt->conf.name);
	n = j != NULL ? json_dumpb(j, row, sizeof(row) - 1, JSON_COMPACT) : 0;
	json_decref(j);
	if (n == 0 || n >= sizeof(row)) {
		resp->status = 500;
		return;
	}
	row[n] = '\0';
	memset(&w, 0, sizeof(w));
	w.op = WRITE_ROW_PUT;
	w.route.node = rt->conf.name;
	w.route.host = "";
	w.client_id = "";
	w.table = "drains";
	w.row = row;
	st = router_gossip_write(rt, &w, err, sizeof(err));
	log_info("admin.drain", "node=%s status=%d", node, st);
	if (st != IPCMSG_S_OK) {
		router_json(resp, json_pack("{s:b, s:s}", "ok", 0, "error", err));
		resp->status = st == IPCMSG_S_UNAVAILABLE ? 503 : 400;
		return;
	}
	router_json(resp, json_pack("{s:b, s:s}", "ok", 1, "message",
	    "drain requested: the node's clients move to other nodes, its "
	    "in-flight requests finish, then it leaves the cluster and stops"));
}

/* /v1/members, /v1/leave, /v1/keys/reload and the membership part of
 * /metrics; returns false for any other path. */
static bool
router_admin_cluster(struct router *rt, const char *method, const char *path,
    struct admin_resp *resp)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	char msg[512];
	int st;

	if (strcmp(path, "/metrics") == 0 && get) {
		router_admin_metrics(rt, resp);
		router_admin_members_metrics(rt, resp);
		router_admin_repl_metrics(rt, resp);
		return true;
	}
	if (strcmp(path, "/v1/sync") == 0 && get) {
		router_admin_sync(rt, resp);
		return true;
	}
	if (strncmp(path, "/v1/drain/", 10) == 0 && path[10] != '\0') {
		if (post) {
			router_admin_drain(rt, path + 10, resp);
			return true;
		}
	} else if (strcmp(path, "/v1/members") == 0) {
		if (get) {
			router_admin_members(rt, resp);
			return true;
		}
	} else if (strcmp(path, "/v1/leave") == 0 ||
	    strcmp(path, "/v1/keys/reload") == 0) {
		if (post) {
			st = router_gossip_simple(rt, path[4] == 'l' ? IPCMSG_LEAVE :
			    IPCMSG_KEYS_RELOAD, msg, sizeof(msg));
			log_info("admin.cluster", "path=%s status=%d msg=\"%s\"", path,
			    st ? st : 200, msg);
			if (st == 0)
				router_json(resp, json_pack("{s:b, s:s}", "ok", 1,
				    "message", msg));
			else {
				router_json(resp, json_pack("{s:b, s:s}", "ok", 0,
				    "error", msg));
				resp->status = st;
			}
			return true;
		}
	} else {
		return false;
	}
	resp->status = 405;
	resp->body = strdup(strcmp(path, "/v1/members") == 0 ?
	    "only GET is supported\n" : "only POST is supported\n");
	resp->len = resp->body != NULL ? strlen(resp->body) : 0;
	return true;
}

/* One dispatch function per peer: the operator. */
static void
router_dispatch_admin(void *arg, const char *method, const char *path,
    struct admin_resp *resp)
{
	struct router *rt = arg;
	struct clusterapi_conf cc;
	json_t *out;
	int status;
	bool known;

	if (router_admin_cluster(rt, method, path, resp))
		return;
	if (strcmp(path, "/v1/lb/health/all") == 0 && rt->lbh != NULL) {
		if (strcmp(method, "GET") == 0) {
			router_admin_lb_health_all(rt, resp);
		} else {
			router_json(resp, json_pack("{s:b, s:s}", "ok", 0, "error",
			    "only GET is supported"));
			resp->status = 405;
		}
		return;
	}
	memset(&cc, 0, sizeof(cc));
	cc.self = rt->conf.name;
	cc.table = rt->table;
	cc.live = members_synced(rt->members) ? router_live : NULL;
	cc.live_arg = rt;
	cc.write = router_gossip_write;
	cc.write_arg = rt;
	if ((rt->lbp != NULL && lbpub_handle(rt->lbp, method, path, &status,
	    &out)) || lbexplain_handle(rt->lbx, method, path, &status, &out) ||
	    clusterapi_handle(rt->api, &cc, method, path, admin_body(rt->admin,
	    NULL), &status, &out)) {
		router_json(resp, out);
		if (resp->status == 200)
			resp->status = status;
		if (status == 200 && strcmp(method, "GET") != 0)
			rt->recompile = true;
		return;
	}
	known = strcmp(path, "/v1/tunnels") == 0 ||
	    strcmp(path, "/v1/status") == 0 || strcmp(path, "/metrics") == 0;

	if (tokenapi_match(path)) {
		size_t blen;
		const char *body = admin_body(rt->admin, &blen);

		tokenapi_handle(&rt->tokens, method, path, body, blen, resp);
		return;
	}
	if (!known) {
		resp->status = 404;
		resp->body = strdup("not found: try /v1/tunnels, /v1/status or /metrics\n");
		resp->len = resp->body != NULL ? strlen(resp->body) : 0;
		return;
	}
	if (strcmp(method, "GET") != 0) {
		resp->status = 405;
		resp->body = strdup("only GET is supported\n");
		resp->len = resp->body != NULL ? strlen(resp->body) : 0;
		return;
	}
	if (strcmp(path, "/v1/tunnels") == 0)
		router_admin_tunnels(rt, resp);
	else if (strcmp(path, "/v1/status") == 0)
		router_admin_status(rt, resp);
	else
		router_admin_metrics(rt, resp);
}

/* ---- process ---- */

static void
router_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("router.stop", "signal=%d", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

/* Runs on an nng thread: only touches the atomic counter. */
static void
router_on_gossip_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct router *rt = arg;

	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_fetch_add(&rt->gossip_pipes, 1);
	else if (ev == NNG_PIPE_EV_REM_POST)
		atomic_fetch_sub(&rt->gossip_pipes, 1);
}

static int
router_open_gossip(struct router *rt)
{
	struct timespec ts = { 0, 10 * 1000000L };
	char url[PATH_MAX + 16];
	int rv, i;

	ipc_url(url, sizeof(url), rt->conf.data_dir, "gossip");
	if ((rv = nng_req0_open(&rt->gossip)) != 0)
		return rv;
	rt->gossip_open = true;
	nng_socket_set_size(rt->gossip, NNG_OPT_RECVMAXSZ, IPC_MSG_MAX);
	nng_pipe_notify(rt->gossip, NNG_PIPE_EV_ADD_POST, router_on_gossip_pipe, rt);
	nng_pipe_notify(rt->gossip, NNG_PIPE_EV_REM_POST, router_on_gossip_pipe, rt);
	nng_socket_set_ms(rt->gossip, NNG_OPT_REQ_RESENDTIME, 1000);
	nng_socket_set_ms(rt->gossip, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(rt->gossip, NNG_OPT_RECONNMAXT, 500);
	/* non-blocking dial: gossip may start later; nng keeps retrying */
	if ((rv = nng_dial(rt->gossip, url, NULL, NNG_FLAG_NONBLOCK)) != 0)
		return rv;
	/* gossip created routing.db, so it is up: give the connection a moment
	 * so the acceptor's first requests find it (bounded) */
	for (i = 0; i < 100 && atomic_load(&rt->gossip_pipes) <= 0; i++)
		nanosleep(&ts, NULL);
	if (atomic_load(&rt->gossip_pipes) <= 0)
		log_warn("gossip.connect", "url=%s err=\"not connected yet; "
		    "retrying in the background\"", url);
	return 0;
}

/* edgeProxy's backend API and the internal DNS, when configured. */
static int
router_open_edge(struct router *rt, const char *path)
{
	struct backendapi_conf bc;
	char bound[128];
	int rc;

	if (rt->conf.api_listen[0] != '\0') {
		memset(&bc, 0, sizeof(bc));
		bc.listen = rt->conf.api_listen;
		bc.token = rt->conf.api_token;
		bc.node = rt->conf.name;
		bc.db_path = path;
		bc.ttl_ms = rt->conf.heartbeat_ttl;
		bc.write = router_gossip_write;
		bc.write_arg = rt;
		rc = backendapi_open(&rt->bapi, rt->loop, &bc, bound, sizeof(bound));
		if (rc != 0) {
			log_error("router.start", "api_listen=%s err=\"the backend API "
			    "cannot listen: %s\"", rt->conf.api_listen,
			    rc == -EADDRNOTAVAIL ? "off loopback it needs --api-token" :
			    rc == -EINVAL ? "not an address:port" : strerror(-rc));
			return rc;
		}
		log_info("backendapi.listen", "addr=%s token=%s ttl_ms=%lld", bound,
		    rt->conf.api_token[0] != '\0' ? "yes" : "no",
		    rt->conf.heartbeat_ttl);
	}
	if (rt->conf.dns_listen[0] != '\0') {
		rc = dnsserver_open(&rt->dns, rt->loop, rt->conf.dns_listen,
		    rt->conf.dns_domain, rt->lbx, bound, sizeof(bound));
		if (rc != 0) {
			log_error("router.start", "dns_listen=%s err=\"the internal DNS "
			    "cannot listen: %s\"", rt->conf.dns_listen,
			    rc == -EINVAL ? "not an address:port" : strerror(-rc));
			return rc;
		}
		log_info("dns.listen", "addr=%s domain=%s", bound,
		    rt->conf.dns_domain);
	}
	return 0;
}

static int
router_setup(struct router *rt)
{
	char path[PATH_MAX], url[PATH_MAX + 16], bound[128];
	size_t i;
	int rc;

	if ((rt->domain = strdup(rt->conf.domain)) == NULL)
		return -ENOMEM;
	for (i = 0; rt->domain[i] != '\0'; i++)
		if (rt->domain[i] >= 'A' && rt->domain[i] <= 'Z')
			rt->domain[i] = (char)(rt->domain[i] - 'A' + 'a');
	if (getrandom(&rt->epoch, sizeof(rt->epoch), 0) != sizeof(rt->epoch))
		rt->epoch = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	rt->version = 0;
	if ((rc = table_new(&rt->table)) != 0)
		return rc;
	rt->reg.table = rt->table;
	rt->reg.node = rt->conf.name;
	rt->reg.domain = rt->domain;
	rt->reg.tcp_lo = rt->conf.tcp_lo;
	rt->reg.tcp_hi = rt->conf.tcp_hi;
	rt->reg.write = router_gossip_write;
	rt->reg.write_arg = rt;

	/* first, so a bad --admin-listen fails at once; requests wait in the
	 * backlog until the loop runs */
	rc = admin_open(&rt->admin, rt->loop, rt->conf.admin_listen,
	    router_dispatch_admin, rt, bound, sizeof(bound));
	if (rc == -EADDRNOTAVAIL) {
		log_error("router.start", "admin_listen=%s err=\"the admin API has "
		    "no authentication, so it only listens on loopback: use "
		    "127.0.0.1:PORT or [::1]:PORT\"", rt->conf.admin_listen);
		return rc;
	}
	if (rc != 0) {
		log_error("router.start", "admin_listen=%s err=\"cannot listen: %s\"",
		    rt->conf.admin_listen, rc == -EINVAL ? "not an address:port" :
		    strerror(-rc));
		return rc;
	}
	log_info("admin.listen", "addr=%s", bound);

	snprintf(path, sizeof(path), "%s", rt->conf.db_path);
	if ((rc = routedb_open(&rt->db, path, ROUTER_DB_WAIT_MS)) < 0 ||
	    (rc = routedb_compile(rt->db, rt->conf.name, NULL, rt, rt->table,
	    NULL, NULL)) < 0) {
		log_error("router.start", "db=%s err=\"cannot read routing.db "
		    "(%s); is warren-gossip running on this data dir?\"", path,
		    strerror(-rc));
		return rc;
	}
	routedb_changed(rt->db);
	rt->started_ms = router_wall_ms();
	log_info("routedb.loaded", "db=%s names=%d", path, rc);
	if ((rc = clusterapi_open(&rt->api, path)) != 0)
		return rc;
	if ((rc = lbexplain_start(&rt->lbx, &rt->conf, path)) != 0)
		return rc;
	lbexplain_set_table(rt->lbx, rt->table);
	if ((rc = router_open_edge(rt, path)) != 0)
		return rc;
	if ((rc = router_open_auth(rt, path)) != 0)
		return rc;

	if ((rc = router_open_gossip(rt)) != 0) {
		log_error("router.start", "err=\"cannot open the gossip socket: %s\"",
		    nng_strerror(rc));
		return -EIO;
	}
	ipc_url(url, sizeof(url), rt->conf.data_dir, "table");
	if ((rc = ipc_open(&rt->pub, rt->loop, IPC_PUB, url, true, NULL, NULL)) != 0) {
		log_error("router.start", "url=%s err=\"cannot listen (%d); is "
		    "another warren-router running on this data dir?\"", url, rc);
		return rc;
	}
	if ((rc = lbpub_new(&rt->lbp, rt->loop, path, rt->pub, rt->epoch,
	    rt->conf.name)) != 0)
		return rc;
	{
		char probe[PATH_MAX];

		snprintf(probe, sizeof(probe), "%s/%s", rt->conf.data_dir,
		    PROBEMSG_SOCKET);
		lbpub_set_table(rt->lbp, rt->table, probe);
	}
	if ((rc = lbhealthdb_new(&rt->lbh, rt->loop, path, rt->conf.name,
	    router_gossip_write, rt)) != 0)
		return rc;
	lbhealthdb_attach(rt->lbh, lbpub_health(rt->lbp));
	if ((rc = members_new(&rt->members)) != 0)
		return rc;
	ipc_url(url, sizeof(url), rt->conf.data_dir, "members");
	if ((rc = ipc_open(&rt->msub, rt->loop, IPC_SUB, url, false,
	    router_dispatch_members, rt)) != 0) {
		log_error("router.start", "url=%s err=\"cannot subscribe to "
		    "membership events (%d)\"", url, rc);
		return rc;
	}
	router_members_resync(rt);
	ipc_url(url, sizeof(url), rt->conf.data_dir, "stats");
	if ((rc = ipc_open(&rt->asub, rt->loop, IPC_SUB, url, false,
	    router_on_acceptor_stats, rt)) != 0) {
		log_error("router.start", "url=%s err=\"cannot subscribe to the "
		    "acceptor's counters (%d)\"", url, rc);
		return rc;
	}
	ipc_url(url, sizeof(url), rt->conf.data_dir, "router");
	if ((rc = ipc_open(&rt->rep, rt->loop, IPC_REP, url, true,
	    router_dispatch_acceptor, rt)) != 0) {
		log_error("router.start", "url=%s err=\"cannot listen (%d); is "
		    "another warren-router running on this data dir?\"", url, rc);
		return rc;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct router rt;
	int status = 1;

	memset(&rt, 0, sizeof(rt));
	atomic_init(&rt.gossip_pipes, 0);
	if (nodeconf_load(&rt.conf, argc, argv, "router") != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if ((rt.loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
		log_error("router.start", "err=\"cannot create the event loop\"");
		goto out;
	}
	ev_signal_init(&rt.sigterm, router_on_signal, SIGTERM);
	ev_signal_init(&rt.sigint, router_on_signal, SIGINT);
	ev_signal_start(rt.loop, &rt.sigterm);
	ev_signal_start(rt.loop, &rt.sigint);
	if (router_setup(&rt) != 0)
		goto out;
	log_info("router.start", "node=%s region=%s domain=%s epoch=%016" PRIx64
	    " routes=%zu", rt.conf.name, rt.conf.region, rt.domain, rt.epoch,
	    table_count(rt.table));
	ev_timer_init(&rt.beacon, router_on_beacon, ROUTER_BEACON_S, ROUTER_BEACON_S);
	rt.beacon.data = &rt;
	ev_timer_start(rt.loop, &rt.beacon);
	ev_timer_init(&rt.dbpoll, router_on_dbpoll, ROUTER_DBPOLL_S, ROUTER_DBPOLL_S);
	rt.dbpoll.data = &rt;
	ev_timer_start(rt.loop, &rt.dbpoll);
	ev_run(rt.loop, 0);
	ev_timer_stop(rt.loop, &rt.beacon);
	ev_timer_stop(rt.loop, &rt.dbpoll);
	status = 0;
	log_info("router.exit", "registrations_ok=%llu registrations_failed=%llu "
	    "ipc_errors=%llu", rt.stats.reg_ok, rt.stats.reg_failed,
	    rt.stats.ipc_errors);
out:
	admin_close(rt.admin);
	ipc_close(rt.rep);
	ipc_close(rt.pub);
	ipc_close(rt.msub);
	ipc_close(rt.asub);
	ipcmsg_stats_fini(&rt.astats);
	members_free(rt.members);
	if (rt.gossip_open)
		nng_close(rt.gossip);
	table_free(rt.table);
	routedb_close(rt.db);
	clusterapi_close(rt.api);
	dnsserver_close(rt.dns);
	backendapi_close(rt.bapi);
	lbexplain_close(rt.lbx);
	lbhealthdb_free(rt.lbh);        /* before the checker it follows */
	lbpub_free(rt.lbp);
	auth_free(rt.auth);
	if (rt.loop != NULL) {
		ev_signal_stop(rt.loop, &rt.sigterm);
		ev_signal_stop(rt.loop, &rt.sigint);
	}
	free(rt.domain);
	nodeconf_fini(&rt.conf);
	return status;
}
