/* warren-gossip — membership and replication; today the single writer of
 * routing.db for its node.
 *
 * Peers: the router (REP on ipc://DATA/gossip.ipc: WRITE -> OK). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <nng/nng.h>

#include "gossip/store.h"
#include "ipc.h"
#include "ipcmsg.h"
#include "log.h"
#include "nodeconf.h"

struct gossip {
	struct node_conf conf;
	struct ev_loop *loop;
	struct store *store;
	struct ipc_sock *rep;           /* from the router */
	ev_signal sigterm, sigint;
	unsigned long long writes, write_errors;
};

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

static void
gossip_on_write(struct gossip *g, const void *body, size_t len)
{
	struct ipcmsg_write w;
	char err[256] = "";
	int n;

	if (ipcmsg_write_decode(&w, body, len) != 0) {
		g->write_errors++;
		log_warn("ipc.malformed", "peer=router type=write");
		gossip_reply(g, IPCMSG_S_INVALID, "malformed write message");
		return;
	}
	n = store_apply(g->store, &w, (int64_t)time(NULL), err, sizeof(err));
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
	}
	ipcmsg_write_fini(&w);
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
	default:
		log_warn("ipc.unexpected", "peer=router type=%d len=%zu",
		    ipcmsg_type(body, len), len);
		gossip_reply(g, IPCMSG_S_INVALID,
		    "gossip accepts only write messages");
		break;
	}
	nng_msg_free(msg);
}

static void
gossip_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("gossip.stop", "signal=%d", w->signum);
	ev_break(loop, EVBREAK_ALL);
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
	snprintf(path, sizeof(path), "%s/%s", g.conf.data_dir, STORE_DB_NAME);
	if ((rc = store_open(&g.store, path, g.conf.region)) != 0) {
		log_error("gossip.start", "db=%s err=\"cannot open routing.db: %s\"",
		    path, strerror(-rc));
		goto out;
	}
	ipc_url(url, sizeof(url), g.conf.data_dir, "gossip");
	if ((rc = ipc_open(&g.rep, g.loop, IPC_REP, url, true,
	    gossip_dispatch_router, &g)) != 0) {
		log_error("gossip.start", "url=%s err=\"cannot listen (%d); is "
		    "another warren-gossip running on this data dir?\"", url, rc);
		goto out;
	}
	ev_signal_init(&g.sigterm, gossip_on_signal, SIGTERM);
	ev_signal_init(&g.sigint, gossip_on_signal, SIGINT);
	ev_signal_start(g.loop, &g.sigterm);
	ev_signal_start(g.loop, &g.sigint);
	log_info("gossip.start", "node=%s region=%s db=%s url=%s", g.conf.name,
	    g.conf.region, path, url);
	ev_run(g.loop, 0);
	status = 0;
	log_info("gossip.exit", "writes=%llu write_errors=%llu", g.writes,
	    g.write_errors);
out:
	ipc_close(g.rep);
	store_close(g.store);
	if (g.loop != NULL) {
		ev_signal_stop(g.loop, &g.sigterm);
		ev_signal_stop(g.loop, &g.sigint);
	}
	nodeconf_fini(&g.conf);
	return status;
}
