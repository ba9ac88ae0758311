/* warren-gossip — membership and replication of routing.db.
 *
 * Peers: the router (REP on ipc://DATA/gossip.ipc: WRITE, LEAVE,
 * KEYS_RELOAD -> OK, MEMBERS_REQ -> MEMBERS, REPL_INFO_REQ -> REPL_INFO;
 * PUB on ipc://DATA/members.ipc: membership events and a beacon every
 * second) and the other nodes (gossip/cluster.c: UDP + TCP on
 * --gossip-listen, SWIM and replication).
 *
 * routing.db: the router's writes arrive as WRITE messages and are
 * stamped and broadcast at once; anything else that writes the database
 * (an operator's sqlite3 shell) is noticed through PRAGMA data_version
 * within GOSSIP_POLL_S and replicated the same way (gossip/repldb.h). The
 * replication summary (actor, version, digest, rows) rides in the node's
 * gossip metadata, refreshed at most every GOSSIP_SUMMARY_S.
 *
 * SIGHUP rereads --cluster-key-file. SIGTERM leaves the cluster gracefully
 * (bounded by GOSSIP_LEAVE_S), a second SIGTERM exits at once. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <nng/nng.h>

#include <jansson.h>
#include <sqlite3.h>

#include "gossip/cluster.h"
#include "gossip/hlc.h"
#include "gossip/repl.h"
#include "gossip/repldb.h"
#include "gossip/store.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "nodeconf.h"

#ifndef WARREN_VERSION
#define WARREN_VERSION          "0.1.0"
#endif
#define GOSSIP_BEACON_S         1.0
#define GOSSIP_LEAVE_S          3.0     /* longest a leave delays an exit */
#define GOSSIP_POLL_S           0.1     /* notice writes made by others */
#define GOSSIP_SUMMARY_S        1.0     /* digest refresh, when changed */
#define GOSSIP_GC_S             60.0
#define GOSSIP_OFFLINE_KEEP_S   3600    /* offline tunnel rows kept */
#define GOSSIP_TOMBSTONE_KEEP_S (7 * 86400)     /* deleted rows remembered */

struct gossip {
	struct node_conf conf;
	struct ev_loop *loop;
	struct store *store;
	struct repldb *repldb;
	int64_t data_version;           /* last PRAGMA data_version seen */
	bool dirty;                     /* the digest is out of date */
	char digest[REPLDB_DIGEST_LEN + 1];     /* of the replicated content */
	uint64_t rows;
	double digest_at, digest_cost;  /* when it was made, seconds it took */
	struct ipc_sock *rep;           /* from the router */
	struct ipc_sock *pub;           /* membership events to the router */
	struct cluster *cluster;
	uint64_t epoch, seq;            /* of the membership events */
	ev_signal sigterm, sigint, sighup, sigusr1;
	ev_timer beacon, exit_timer, retry, poll, summary, gc;
	bool exiting;
	double exit_deadline;
	unsigned long long writes, write_errors;
};

static void gossip_publish_members(struct gossip *g, uint8_t kind, int ev,
    const struct ipcmsg_member *m);

static void
gossip_reply(struct gossip *g, uint8_t status, const char *error)
{
	struct ipcmsg_ok ok = { status, (char *)error };
	nng_msg *msg = ipcmsg_ok_encode(&ok);
	int rv;

	if (msg == NULL) {
		log_error("ipc.reply", "peer=router err=\"out of memory\"");
		return;
	}
	if ((rv = ipc_reply(g->rep, msg)) != 0)
		log_warn("ipc.reply", "peer=router err=\"%s\"", nng_strerror(rv));
}

static uint64_t
gossip_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Stamps and broadcasts what was written to routing.db. */
static void
gossip_replicate(struct gossip *g)
{
	g->dirty = true;
	if (g->cluster != NULL && cluster_repl_local(g->cluster) != 0)
		log_warn("repl.capture", "err=\"routing.db could not be read; "
		    "retrying\"");
}

static void
gossip_on_write(struct gossip *g, const void *body, size_t len)
{
	struct ipcmsg_write w;
	char err[256] = "";
	uint64_t stamp;
	int n;

	if (ipcmsg_write_decode(&w, body, len) != 0) {
		g->write_errors++;
		log_warn("ipc.malformed", "peer=router type=write");
		gossip_reply(g, IPCMSG_S_INVALID, "malformed write message");
		return;
	}
	stamp = hlc_now(repldb_hlc(g->repldb), gossip_wall_ms());
	n = store_apply(g->store, &w, (int64_t)(hlc_ms(stamp) / 1000), stamp, err,
	    sizeof(err));
	if (n < 0) {
		g->write_errors++;
		log_warn("store.write_failed", "op=%u node=%s err=\"%s\"", w.op,
		    w.route.node, err);
		gossip_reply(g, n == -EINVAL ? IPCMSG_S_INVALID :
		    IPCMSG_S_INTERNAL, err);
	} else {
		g->writes++;
		log_debug("store.write", "op=%u node=%s session=%016llx host=%s "
		    "port=%u rows=%d", w.op, w.route.node,
		    (unsigned long long)w.route.session, w.route.host,
		    (unsigned)w.route.port, n);
		gossip_reply(g, IPCMSG_S_OK, "");
		gossip_replicate(g);
	}
	ipcmsg_write_fini(&w);
}

/* ---- membership ---- */

static void
gossip_publish_members(struct gossip *g, uint8_t kind, int ev,
    const struct ipcmsg_member *m)
{
	struct ipcmsg_members msg;
	nng_msg *nm;
	int rv;

	memset(&msg, 0, sizeof(msg));
	msg.kind = kind;
	msg.event = (uint8_t)ev;
	msg.epoch = g->epoch;
	if (kind == MEMBERS_EVENT)
		g->seq++;
	msg.seq = g->seq;
	if (g->cluster != NULL)
		cluster_stats(g->cluster, &msg.stats);
	msg.n = m != NULL ? 1 : 0;
	msg.members = (struct ipcmsg_member *)m;
	if (g->pub == NULL || (nm = ipcmsg_members_encode(&msg)) == NULL)
		return;
	/* a lost event shows as a seq gap at the router: it resnapshots */
	if ((rv = ipc_publish(g->pub, nm)) != 0)
		log_debug("ipc.publish", "peer=router err=\"%s\"", nng_strerror(rv));
}

static void
gossip_on_member_event(void *arg, int ev, const struct ipcmsg_member *m)
{
	gossip_publish_members(arg, MEMBERS_EVENT, ev, m);
}

static void
gossip_on_beacon(struct ev_loop *loop, ev_timer *w, int revents)
{
	gossip_publish_members(w->data, MEMBERS_BEACON, 0, NULL);
}

static void
gossip_on_members_req(struct gossip *g, const void *body, size_t len)
{
	struct ipcmsg_members snap;
	nng_msg *msg = NULL;
	int rv;

	if (ipcmsg_empty_decode(IPCMSG_MEMBERS_REQ, body, len) != 0) {
		gossip_reply(g, IPCMSG_S_INVALID, "malformed members request");
		return;
	}
	memset(&snap, 0, sizeof(snap));
	if (g->cluster == NULL || cluster_snapshot(g->cluster, &snap) == 0) {
		snap.kind = MEMBERS_SNAPSHOT;
		snap.epoch = g->epoch;
		snap.seq = g->seq;
		if (g->cluster != NULL)
			cluster_stats(g->cluster, &snap.stats);
		msg = ipcmsg_members_encode(&snap);
	}
	ipcmsg_members_fini(&snap);
	if (msg == NULL) {
		gossip_reply(g, IPCMSG_S_INTERNAL, "cannot encode the member list");
		return;
	}
	if ((rv = ipc_reply(g->rep, msg)) != 0)
		log_warn("ipc.reply", "peer=router err=\"%s\"", nng_strerror(rv));
}

static void
gossip_on_leave(struct gossip *g, const void *body, size_t len)
{
	if (ipcmsg_empty_decode(IPCMSG_LEAVE, body, len) != 0) {
		gossip_reply(g, IPCMSG_S_INVALID, "malformed leave request");
		return;
	}
	if (g->cluster == NULL) {
		gossip_reply(g, IPCMSG_S_UNAVAILABLE, "gossip is not running");
		return;
	}
	if (cluster_leave(g->cluster) != 0) {
		gossip_reply(g, IPCMSG_S_OK, "already leaving");
		return;
	}
	/* the node stays up (tunnels, routing.db) outside the cluster until
	 * it restarts, which joins again */
	gossip_reply(g, IPCMSG_S_OK, "");
}

static void
gossip_on_keys_reload(struct gossip *g, const void *body, size_t len)
{
	char err[512] = "";
	int n;

	if (ipcmsg_empty_decode(IPCMSG_KEYS_RELOAD, body, len) != 0) {
		gossip_reply(g, IPCMSG_S_INVALID, "malformed keys reload request");
		return;
	}
	if (g->cluster == NULL) {
		gossip_reply(g, IPCMSG_S_UNAVAILABLE, "gossip is not running");
		return;
	}
	if ((n = cluster_keys_reload(g->cluster, err, sizeof(err))) < 0) {
		log_warn("gossip.keys", "reloaded=0 err=\"%s\"", err);
		gossip_reply(g, IPCMSG_S_INVALID, err);
		return;
	}
	snprintf(err, sizeof(err), "%d key%s loaded", n, n == 1 ? "" : "s");
	gossip_reply(g, IPCMSG_S_OK, err);
}

/* ---- replication ---- */

static int64_t
gossip_data_version(struct gossip *g)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	if (sqlite3_prepare_v2(store_db(g->store), "PRAGMA data_version", -1, &s,
	    NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Another connection (the sqlite3 shell) committed: capture its writes. */
static void
gossip_on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gossip *g = w->data;
	int64_t v = gossip_data_version(g);

	if (v == g->data_version)
		return;
	g->data_version = v;
	if (repldb_pending(g->repldb)) {
		log_info("repl.external", "note=\"routing.db was written outside "
		    "warren; replicating the change\"");
		gossip_replicate(g);
	}
}

static void
gossip_on_db_changed(void *arg)
{
	((struct gossip *)arg)->dirty = true;
}

/* Brings the cached digest up to date (a scan of every replicated row:
 * only when something changed). */
static void
gossip_digest(struct gossip *g)
{
	double t0;

	if (!g->dirty)
		return;
	g->dirty = false;
	t0 = ev_time();
	if (repldb_digest(g->repldb, g->digest, &g->rows) != 0) {
		g->digest[0] = '\0';
		g->rows = 0;
	}
	g->digest_at = ev_time();
	g->digest_cost = g->digest_at - t0;
}

static void
gossip_summary_text(struct gossip *g, char *out, size_t len)
{
	uint64_t contig = repldb_contig(g->repldb, repldb_actor(g->repldb));

	snprintf(out, len, "%s:%llu:%.16s:%llu", repldb_actor(g->repldb),
	    (unsigned long long)contig, g->digest, (unsigned long long)g->rows);
}

/* Every GOSSIP_SUMMARY_S while changes flow, and never more than a tenth
 * of the time: a new digest for the gossiped summary. */
static void
gossip_on_summary(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gossip *g = w->data;
	char text[160];

	if (g->cluster == NULL)
		return;
	if (ev_now(loop) - g->digest_at >= 10 * g->digest_cost)
		gossip_digest(g);
	/* a no-op when the summary is what was gossiped last */
	gossip_summary_text(g, text, sizeof(text));
	cluster_set_repl_summary(g->cluster, text);
}

static void
gossip_on_gc(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gossip *g = w->data;
	int64_t now = (int64_t)(gossip_wall_ms() / 1000);
	int n, t;

	n = store_gc(g->store, g->conf.name, now - GOSSIP_OFFLINE_KEEP_S,
	    now - g->conf.reservation_grace / 1000);
	t = repldb_gc(g->repldb, (uint64_t)(now - GOSSIP_TOMBSTONE_KEEP_S) * 1000u);
	if (n > 0)
		gossip_replicate(g);
	if (n > 0 || t > 0)
		log_info("repl.gc", "rows=%d tombstones=%d", n, t);
}

static void
gossip_on_repl_info(struct gossip *g, const void *body, size_t len)
{
	const struct repldb_stats *ds = repldb_stats(g->repldb);
	const struct repl_stats *rs = g->cluster != NULL &&
	    cluster_repl(g->cluster) != NULL ? repl_stats(cluster_repl(g->cluster)) :
	    NULL;
	json_t *j, *heads;
	uint64_t contig;
	const char *id;
	nng_msg *msg;
	char *out;
	size_t i;
	int rv;

	if (ipcmsg_empty_decode(IPCMSG_REPL_INFO_REQ, body, len) != 0) {
		gossip_reply(g, IPCMSG_S_INVALID, "malformed replication info request");
		return;
	}
	gossip_digest(g);
	heads = json_object();
	for (i = 0; i < repldb_actor_count(g->repldb); i++)
		if ((id = repldb_actor_at(g->repldb, i, &contig)) != NULL)
			json_object_set_new(heads, id, json_integer((json_int_t)contig));
	j = json_pack("{s:s, s:s, s:I, s:s, s:I, s:o, s:I, s:{s:I, s:I, s:I, s:I,"
	    " s:I, s:I, s:I, s:I}}",
	    "node", g->conf.name, "actor", repldb_actor(g->repldb),
	    "version", (json_int_t)repldb_contig(g->repldb, repldb_actor(g->repldb)),
	    "digest", g->digest, "rows", (json_int_t)g->rows, "heads", heads,
	    "hlc_ms", (json_int_t)hlc_ms(repldb_hlc(g->repldb)->last),
	    "db",
	    "captured", (json_int_t)ds->captured,
	    "versions", (json_int_t)ds->versions,
	    "received", (json_int_t)ds->received,
	    "applied", (json_int_t)ds->applied,
	    "stale", (json_int_t)ds->stale,
	    "rows_failed", (json_int_t)ds->rows_failed,
	    "unknown_table", (json_int_t)ds->unknown_table,
	    "revoke_kept", (json_int_t)ds->revoke_kept);
	if (j != NULL && rs != NULL)
		json_object_set_new(j, "net", json_pack("{s:I, s:I, s:I, s:I, s:I,"
		    " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		    "tx_packets", (json_int_t)rs->tx_packets,
		    "tx_bytes", (json_int_t)rs->tx_bytes,
		    "rx_packets", (json_int_t)rs->rx_packets,
		    "rx_bytes", (json_int_t)rs->rx_bytes,
		    "rx_malformed", (json_int_t)rs->rx_malformed,
		    "rx_duplicate", (json_int_t)rs->rx_duplicate,
		    "broadcasts", (json_int_t)rs->broadcasts,
		    "versions_big", (json_int_t)rs->versions_big,
		    "syncs", (json_int_t)rs->syncs,
		    "sync_failures", (json_int_t)rs->sync_failures,
		    "sync_tx_bytes", (json_int_t)rs->sync_tx_bytes,
		    "sync_rx_bytes", (json_int_t)rs->sync_rx_bytes,
		    "served", (json_int_t)rs->served,
		    "gaps", (json_int_t)rs->gaps,
		    "heads_tx", (json_int_t)rs->heads_tx,
		    "last_sync_ms", (json_int_t)rs->last_sync_ms));
	out = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (out == NULL || (msg = ipcmsg_text_encode(IPCMSG_REPL_INFO, out)) == NULL) {
		free(out);
		gossip_reply(g, IPCMSG_S_INTERNAL, "cannot encode replication info");
		return;
	}
	free(out);
	if ((rv = ipc_reply(g->rep, msg)) != 0)
		log_warn("ipc.reply", "peer=router err=\"%s\"", nng_strerror(rv));
}

/* One dispatch function per peer: the router. */
static void
gossip_dispatch_router(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct gossip *g = arg;
	const void *body = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);

	switch (ipcmsg_type(body, len)) {
	case IPCMSG_WRITE:
		gossip_on_write(g, body, len);
		break;
	case IPCMSG_MEMBERS_REQ:
		gossip_on_members_req(g, body, len);
		break;
	case IPCMSG_LEAVE:
		gossip_on_leave(g, body, len);
		break;
	case IPCMSG_KEYS_RELOAD:
		gossip_on_keys_reload(g, body, len);
		break;
	case IPCMSG_REPL_INFO_REQ:
		gossip_on_repl_info(g, body, len);
		break;
	default:
		log_warn("ipc.unexpected", "peer=router type=%d len=%zu",
		    ipcmsg_type(body, len), len);
		gossip_reply(g, IPCMSG_S_INVALID, "gossip accepts write, "
		    "members, leave and keys-reload messages");
		break;
	}
	nng_msg_free(msg);
}

static void
gossip_on_exit_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gossip *g = w->data;

	if (g->cluster == NULL || cluster_left(g->cluster) ||
	    ev_now(loop) >= g->exit_deadline)
		ev_break(loop, EVBREAK_ALL);
}

static void
gossip_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct gossip *g = w->data;

	log_info("gossip.stop", "signal=%d", w->signum);
	if (g->exiting || g->cluster == NULL || cluster_left(g->cluster)) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	/* leave gracefully, so the others see "left", not a failure */
	g->exiting = true;
	cluster_leave(g->cluster);
	g->exit_deadline = ev_now(loop) + GOSSIP_LEAVE_S;
	ev_timer_init(&g->exit_timer, gossip_on_exit_timer, 0., 0.05);
	g->exit_timer.data = g;
	ev_timer_again(loop, &g->exit_timer);
}

static void
gossip_on_sighup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct gossip *g = w->data;
	char err[512] = "";
	int n;

	if (g->cluster == NULL)
		return;
	if ((n = cluster_keys_reload(g->cluster, err, sizeof(err))) < 0)
		log_warn("gossip.keys", "reloaded=0 err=\"%s\"", err);
}

/* SIGUSR1: one line with the counters (benchmarks, operators). */
static void
gossip_on_sigusr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct gossip *g = w->data;
	struct ipcmsg_gossip_stats st;
	const struct repl_stats *rs;
	const struct repldb_stats *ds = repldb_stats(g->repldb);
	static const struct repl_stats none;

	if (g->cluster == NULL)
		return;
	cluster_stats(g->cluster, &st);
	rs = cluster_repl(g->cluster) != NULL ?
	    repl_stats(cluster_repl(g->cluster)) : &none;
	log_info("gossip.stats", "udp_tx_bytes=%llu udp_rx_bytes=%llu "
	    "tcp_tx_bytes=%llu tcp_rx_bytes=%llu udp_tx_packets=%llu "
	    "udp_rx_packets=%llu drop_unknown_key=%llu drop_auth=%llu "
	    "drop_malformed=%llu repl_tx_bytes=%llu repl_sync_tx_bytes=%llu "
	    "repl_syncs=%llu repl_captured=%llu repl_applied=%llu",
	    (unsigned long long)st.udp_tx_bytes,
	    (unsigned long long)st.udp_rx_bytes,
	    (unsigned long long)st.tcp_tx_bytes,
	    (unsigned long long)st.tcp_rx_bytes,
	    (unsigned long long)st.udp_tx_packets,
	    (unsigned long long)st.udp_rx_packets,
	    (unsigned long long)st.drop_unknown_key,
	    (unsigned long long)st.drop_auth,
	    (unsigned long long)st.drop_malformed,
	    (unsigned long long)rs->tx_bytes,
	    (unsigned long long)rs->sync_tx_bytes,
	    (unsigned long long)rs->syncs,
	    (unsigned long long)ds->captured,
	    (unsigned long long)ds->applied);
}

static int
gossip_start_cluster(struct gossip *g)
{
	struct cluster_conf cc;
	char inc[PATH_MAX], err[512] = "";
	const char *http = getenv("WARREN_BOUND_HTTP");
	const char *tunnel = getenv("WARREN_BOUND_TUNNEL");
	const char *mesh = getenv("WARREN_BOUND_MESH");
	int rc;

	snprintf(inc, sizeof(inc), "%s/gossip.incarnation", g->conf.data_dir);
	memset(&cc, 0, sizeof(cc));
	cc.name = g->conf.name;
	cc.region = g->conf.region;
	cc.listen = g->conf.gossip_listen;
	cc.join = g->conf.join;
	cc.key_file = g->conf.cluster_key_file;
	cc.profile = g->conf.gossip_profile;
	cc.probe_interval_ms = g->conf.gossip_probe_interval;
	cc.probe_timeout_ms = g->conf.gossip_probe_timeout;
	cc.gossip_interval_ms = g->conf.gossip_interval;
	cc.suspicion_mult = g->conf.gossip_suspicion_mult;
	cc.incarnation_file = inc;
	cc.http = http != NULL ? http : "";
	cc.tunnel = tunnel != NULL ? tunnel : "";
	cc.mesh = mesh != NULL ? mesh : "";
	cc.version = WARREN_VERSION;
	cc.on_event = gossip_on_member_event;
	cc.on_db_changed = gossip_on_db_changed;
	cc.repldb = g->repldb;
	cc.arg = g;
	if ((rc = cluster_new(&g->cluster, g->loop, &cc, err, sizeof(err))) == 0) {
		/* writes made while we were not in the cluster */
		gossip_replicate(g);
		return 0;
	}
	log_error("gossip.start", "err=\"%s\"", err);
	if (rc != -EADDRINUSE)
		return rc;
	/* the address is busy (another node, a previous life): keep writing
	 * routing.db for this node and try again */
	log_error("gossip.start", "err=\"not in the cluster until the gossip "
	    "address is free\" retry_s=5");
	ev_timer_set(&g->retry, 5.0, 0.);
	ev_timer_start(g->loop, &g->retry);
	return 0;
}

static void
gossip_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	gossip_start_cluster(w->data);
}

int
main(int argc, char **argv)
{
	struct gossip g;
	char path[PATH_MAX], url[PATH_MAX + 16];
	int rc, status = 1;

	memset(&g, 0, sizeof(g));
	if (nodeconf_load(&g.conf, argc, argv, "gossip") != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if ((g.loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
		log_error("gossip.start", "err=\"cannot create the event loop\"");
		goto out;
	}
	snprintf(path, sizeof(path), "%s", g.conf.db_path);
	if ((rc = store_open(&g.store, path, g.conf.region)) != 0) {
		log_error("gossip.start", "db=%s err=\"cannot open routing.db: %s\"",
		    path, strerror(-rc));
		goto out;
	}
	{
		char err[256] = "";

		if ((rc = repldb_open(&g.repldb, store_db(g.store), err,
		    sizeof(err))) != 0) {
			log_error("gossip.start", "db=%s err=\"%s\"", path, err);
			goto out;
		}
		g.data_version = gossip_data_version(&g);
		log_info("repl.start", "actor=%s version=%llu",
		    repldb_actor(g.repldb), (unsigned long long)repldb_contig(g.repldb,
		    repldb_actor(g.repldb)));
	}
	g.dirty = true;
	if (getrandom(&g.epoch, sizeof(g.epoch), 0) != sizeof(g.epoch))
		g.epoch = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	ipc_url(url, sizeof(url), g.conf.data_dir, "members");
	if ((rc = ipc_open(&g.pub, g.loop, IPC_PUB, url, true, NULL, NULL)) != 0) {
		log_error("gossip.start", "url=%s err=\"cannot listen (%d); is "
		    "another warren-gossip running on this data dir?\"", url, rc);
		goto out;
	}
	ev_timer_init(&g.retry, gossip_on_retry, 5.0, 0.);
	g.retry.data = &g;
	if (gossip_start_cluster(&g) != 0)
		goto out;
	ipc_url(url, sizeof(url), g.conf.data_dir, "gossip");
	if ((rc = ipc_open(&g.rep, g.loop, IPC_REP, url, true,
	    gossip_dispatch_router, &g)) != 0) {
		log_error("gossip.start", "url=%s err=\"cannot listen (%d); is "
		    "another warren-gossip running on this data dir?\"", url, rc);
		goto out;
	}
	ev_signal_init(&g.sigterm, gossip_on_signal, SIGTERM);
	ev_signal_init(&g.sigint, gossip_on_signal, SIGINT);
	ev_signal_init(&g.sighup, gossip_on_sighup, SIGHUP);
	ev_signal_init(&g.sigusr1, gossip_on_sigusr1, SIGUSR1);
	g.sigterm.data = g.sigint.data = g.sighup.data = g.sigusr1.data = &g;
	ev_signal_start(g.loop, &g.sigterm);
	ev_signal_start(g.loop, &g.sigint);
	ev_signal_start(g.loop, &g.sighup);
	ev_signal_start(g.loop, &g.sigusr1);
	ev_timer_init(&g.beacon, gossip_on_beacon, GOSSIP_BEACON_S, GOSSIP_BEACON_S);
	g.beacon.data = &g;
	ev_timer_start(g.loop, &g.beacon);
	ev_timer_init(&g.poll, gossip_on_poll, GOSSIP_POLL_S, GOSSIP_POLL_S);
	ev_timer_init(&g.summary, gossip_on_summary, 0.05, GOSSIP_SUMMARY_S);
	ev_timer_init(&g.gc, gossip_on_gc, 5.0, GOSSIP_GC_S);
	g.poll.data = g.summary.data = g.gc.data = &g;
	ev_timer_start(g.loop, &g.poll);
	ev_timer_start(g.loop, &g.summary);
	ev_timer_start(g.loop, &g.gc);
	log_info("gossip.start", "node=%s region=%s db=%s url=%s", g.conf.name,
	    g.conf.region, path, url);
	ev_run(g.loop, 0);
	status = 0;
	log_info("gossip.exit", "writes=%llu write_errors=%llu", g.writes,
	    g.write_errors);
out:
	cluster_free(g.cluster);
	ipc_close(g.rep);
	ipc_close(g.pub);
	repldb_free(g.repldb);
	store_close(g.store);
	if (g.loop != NULL) {
		ev_signal_stop(g.loop, &g.sigterm);
		ev_signal_stop(g.loop, &g.sigint);
		ev_signal_stop(g.loop, &g.sighup);
		ev_signal_stop(g.loop, &g.sigusr1);
		ev_timer_stop(g.loop, &g.beacon);
		ev_timer_stop(g.loop, &g.exit_timer);
		ev_timer_stop(g.loop, &g.retry);
		ev_timer_stop(g.loop, &g.poll);
		ev_timer_stop(g.loop, &g.summary);
		ev_timer_stop(g.loop, &g.gc);
	}
	nodeconf_fini(&g.conf);
	return status;
}
