#include "rctl.h"

#include <errno.h>
#include <nng/nng.h>
#include <stdlib.h>
#include <string.h>

#include "acceptor.h"
#include "ipc.h"
#include "l4proxy.h"
#include "lbmsg.h"
#include "log.h"
#include "routes.h"
#include "session.h"

#define RCTL_TIMEOUT_MS 3000

struct rctl_req {
	struct acceptor *a;
	uint64_t session;
	uint32_t tunnel_id;
	rctl_register_cb *cb;
};

static void rctl_snapshot(struct acceptor *a);

/* ---- load-balancing candidates (lbmsg) ---- */

static void
rctl_on_lb_snapshot(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct acceptor *a = arg;
	struct lbmsg m;

	a->lb_pending = false;
	if (msg == NULL)
		return;         /* the next beacon asks again */
	if (lbmsg_decode(&m, nng_msg_body(msg), nng_msg_len(msg)) == 0) {
		if (!m.beacon && a->l4 != NULL)
			l4proxy_apply(a->l4, &m);
		lbmsg_fini(&m);
	}
	nng_msg_free(msg);
}

static void
rctl_lb_request(struct acceptor *a)
{
	nng_msg *m;

	if (a->lb_pending || a->l4 == NULL || (m = lbmsg_req_encode()) == NULL)
		return;
	if (ipc_request(a->router, m, RCTL_TIMEOUT_MS, rctl_on_lb_snapshot, a) == 0)
		a->lb_pending = true;
}

/* A candidate set or the router's beacon: apply the next version, ask
 * for the whole set when one was missed (or the router restarted). */
static void
rctl_on_lb(struct acceptor *a, nng_msg *msg)
{
	struct lbmsg m;
	uint64_t epoch, version;

	if (a->l4 == NULL || lbmsg_decode(&m, nng_msg_body(msg),
	    nng_msg_len(msg)) != 0) {
		nng_msg_free(msg);
		return;
	}
	nng_msg_free(msg);
	l4proxy_version(a->l4, &epoch, &version);
	if (!m.beacon && (m.epoch != epoch || m.version > version))
		l4proxy_apply(a->l4, &m);
	else if (m.beacon && (m.epoch != epoch || m.version != version))
		rctl_lb_request(a);
	lbmsg_fini(&m);
}

static void
rctl_on_snapshot(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct acceptor *a = arg;
	struct ipcmsg_table t;

	a->snapshot_pending = false;
	if (msg == NULL) {
		log_warn("router.snapshot.timeout", "retry=1");
		rctl_snapshot(a);
		return;
	}
	if (ipcmsg_table_decode(&t, nng_msg_body(msg), nng_msg_len(msg)) != 0) {
		log_error("router.snapshot.bad", "len=%zu", nng_msg_len(msg));
		nng_msg_free(msg);
		return;
	}
	nng_msg_free(msg);
	if (routes_apply(a->routes, &t) != 0)
		log_error("router.snapshot.nomem", "n=%u", t.n);
	else
		log_info("router.snapshot", "epoch=%016llx version=%llu routes=%u",
		    (unsigned long long)t.epoch, (unsigned long long)t.version, t.n);
	ipcmsg_table_fini(&t);
}

static void
rctl_snapshot(struct acceptor *a)
{
	nng_msg *m;

	if (a->snapshot_pending || (m = ipcmsg_snapshot_req_encode()) == NULL)
		return;
	a->snapshot_pending = true;
	ipc_request(a->router, m, RCTL_TIMEOUT_MS, rctl_on_snapshot, a);
}

static void
rctl_on_delta(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct acceptor *a = arg;
	struct ipcmsg_table t;
	struct ipcmsg_kick k;
	uint64_t epoch, version;

	if (ipcmsg_type(nng_msg_body(msg), nng_msg_len(msg)) == IPCMSG_LB) {
		rctl_on_lb(a, msg);
		return;
	}
	if (ipcmsg_type(nng_msg_body(msg), nng_msg_len(msg)) == IPCMSG_KICK) {
		if (ipcmsg_kick_decode(&k, nng_msg_body(msg), nng_msg_len(msg)) == 0) {
			if (k.token_id[0] == '\0')
				session_kick_one(a, k.session, k.reason);
			else
				session_kick_token(a, k.token_id, k.reason && k.reason[0] ?
				    k.reason : "the token of this client was revoked");
			ipcmsg_kick_fini(&k);
		}
		nng_msg_free(msg);
		return;
	}
	if (ipcmsg_table_decode(&t, nng_msg_body(msg), nng_msg_len(msg)) != 0) {
		log_warn("router.delta.bad", "len=%zu", nng_msg_len(msg));
		nng_msg_free(msg);
		return;
	}
	nng_msg_free(msg);
	routes_version(a->routes, &epoch, &version);
	if (t.n == 0) {
		/* the 1 s beacon, at the router's current version (never + 1:
		 * applying it as a delta would skip a lost one) */
		if (t.epoch != epoch || t.version != version)
			rctl_snapshot(a);
	} else if (t.epoch != epoch || t.version != version + 1) {
		/* missed something (or the router restarted): start over */
		if (t.epoch != epoch || t.version > version)
			rctl_snapshot(a);
	} else if (routes_apply(a->routes, &t) != 0) {
		rctl_snapshot(a);
	}
	ipcmsg_table_fini(&t);
}

static void
rctl_on_ok(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	const char *what = arg;

	if (msg == NULL) {
		log_warn("router.noreply", "request=%s", what);
		return;
	}
	nng_msg_free(msg);
}

int
rctl_start(struct acceptor *a)
{
	char url[4200];
	nng_msg *m;
	int rc;

	rc = ipc_open(&a->router, a->loop, IPC_REQ,
	    ipc_url(url, sizeof(url), a->conf.data_dir, "router"), false, NULL, a);
	if (rc != 0)
		return rc;
	rc = ipc_open(&a->table, a->loop, IPC_SUB,
	    ipc_url(url, sizeof(url), a->conf.data_dir, "table"), false,
	    rctl_on_delta, a);
	if (rc != 0)
		return rc;
	if ((m = ipcmsg_hello_encode(a->epoch)) != NULL)
		ipc_request(a->router, m, RCTL_TIMEOUT_MS * 3, rctl_on_ok,
		    (void *)"hello");
	rctl_snapshot(a);
	rctl_lb_request(a);
	return 0;
}

void
rctl_stop(struct acceptor *a)
{
	ipc_close(a->table);
	ipc_close(a->router);
	a->table = a->router = NULL;
}

static void
rctl_on_registered(struct ipc_sock *s, nng_msg *msg, void *arg)
{
	struct rctl_req *rq = arg;
	struct ipcmsg_registered r;

	memset(&r, 0, sizeof(r));
	if (msg == NULL) {
		r.status = IPCMSG_S_UNAVAILABLE;
		r.error = strdup("the node's router did not answer; try again shortly");
		rq->cb(rq->a, rq->session, rq->tunnel_id, &r);
	} else if (ipcmsg_registered_decode(&r, nng_msg_body(msg),
	    nng_msg_len(msg)) != 0) {
		memset(&r, 0, sizeof(r));
		r.status = IPCMSG_S_INTERNAL;
		r.error = strdup("bad answer from the node's router");
		rq->cb(rq->a, rq->session, rq->tunnel_id, &r);
	} else {
		rq->cb(rq->a, rq->session, rq->tunnel_id, &r);
	}
	ipcmsg_registered_fini(&r);
	if (msg != NULL)
		nng_msg_free(msg);
	free(rq);
}

int
rctl_register(struct acceptor *a, const struct ipcmsg_register *m,
    rctl_register_cb *cb)
{
	struct rctl_req *rq;
	nng_msg *msg;

	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return -ENOMEM;
	if ((msg = ipcmsg_register_encode(m)) == NULL) {
		free(rq);
		return -ENOMEM;
	}
	rq->a = a;
	rq->session = m->session;
	rq->tunnel_id = m->tunnel_id;
	rq->cb = cb;
	if (ipc_request(a->router, msg, RCTL_TIMEOUT_MS, rctl_on_registered,
	    rq) != 0) {
		free(rq);
		return -ENOMEM;
	}
	return 0;
}

void
rctl_unregister(struct acceptor *a, uint64_t session)
{
	nng_msg *m;

	if (a->router == NULL || (m = ipcmsg_unregister_encode(session)) == NULL)
		return;
	ipc_request(a->router, m, RCTL_TIMEOUT_MS, rctl_on_ok, (void *)"unregister");
}
