/* ipc — nng sockets (req, rep, pub, sub over ipc://) driven from a libev loop.
 *
 * Receiving: the socket's NNG_OPT_RECVFD is watched with an ev_io and drained
 * with NNG_FLAG_NONBLOCK; each message goes to the callback, which owns it.
 *
 * REQ sockets keep a queue: one request is outstanding at a time (nng's cooked
 * req allows one per socket); each gets its reply or, after `timeout_ms`, a
 * NULL reply. nng resends an unanswered request every second, so a peer that
 * restarts still answers.
 *
 * REP sockets: the callback gets the request and must call ipc_reply() before
 * returning (handlers are synchronous in the control plane). */
#ifndef WARREN_IPC_H
#define WARREN_IPC_H

#include <ev.h>
#include <nng/nng.h>
#include <stdbool.h>

/* Largest message received on any of the node's sockets. nng's default is
 * 1 MiB; a route table snapshot of the whole cluster (IPCMSG_TABLE_MAX =
 * 100,000 names, ~70 bytes each commonly and up to ~300) needs more. The
 * peers are the node's own processes. */
#define IPC_MSG_MAX             (32u << 20)

enum ipc_kind { IPC_REQ, IPC_REP, IPC_PUB, IPC_SUB };

struct ipc_sock;
/* For REP and SUB: an incoming message, owned by the callback.
 * For REQ: the reply to the request sent with the same `arg`, or NULL on
 * timeout/failure. */
typedef void ipc_msg_cb(struct ipc_sock *s, nng_msg *msg, void *arg);

/* Opens a socket of `kind` on `url` ("ipc:///dir/router.ipc"), listening if
 * `listen` else dialing (dialers retry in the background, so the peer may start
 * later). `cb`/`arg` receive REP/SUB messages (unused for PUB, REQ).
 * Returns 0 and sets *out, or -errno / -(nng error + 1000). */
int ipc_open(struct ipc_sock **out, struct ev_loop *loop, enum ipc_kind kind,
    const char *url, bool listen, ipc_msg_cb *cb, void *arg);
void ipc_close(struct ipc_sock *s);
/* REQ: true while a request waits for its answer (or its turn). */
bool ipc_busy(const struct ipc_sock *s);

/* REQ: queues msg (consumed, even on failure); cb(s, reply, arg) is called
 * exactly once, later, with the reply or NULL after timeout_ms. */
int ipc_request(struct ipc_sock *s, nng_msg *msg, long timeout_ms,
    ipc_msg_cb *cb, void *arg);
/* REP: sends the reply to the request being handled; consumes msg. */
int ipc_reply(struct ipc_sock *s, nng_msg *msg);
/* PUB: publishes msg; consumes it. Returns 0 or an nng error. */
int ipc_publish(struct ipc_sock *s, nng_msg *msg);

/* Blocking request/reply for processes without a loop on that path (the
 * router asking gossip to write). Returns 0 and sets *reply, or an nng error
 * (NNG_ETIMEDOUT). Consumes msg. */
int ipc_call(nng_socket sock, nng_msg *msg, long timeout_ms, nng_msg **reply);

/* "ipc://" URL for `name` under the data dir into out; returns out. */
char *ipc_url(char *out, size_t len, const char *data_dir, const char *name);

#endif
