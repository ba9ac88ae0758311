#include "ipc.h"

#include <errno.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define IPC_SEND_RETRY  0.02    /* s between sends while no peer is there */
#define IPC_REPLY_TIMEOUT_MS 1000 /* longest a REP reply waits for its pipe */

struct ipc_pending {
	struct ipc_pending *next;
	nng_msg *msg;                   /* NULL once handed to nng */
	long timeout_ms;
	ev_tstamp deadline;             /* set when it reaches the head */
	ipc_msg_cb *cb;
	void *arg;
};

struct ipc_sock {
	struct ev_loop *loop;
	enum ipc_kind kind;
	nng_socket sock;
	ev_io rio;
	ev_timer timer;         /* REQ: timeout of the outstanding request */
	ipc_msg_cb *cb;
	void *arg;
	struct ipc_pending *head, *tail;        /* REQ queue; head is in flight */
	bool in_flight;
};

static void ipc_req_next(struct ipc_sock *s);

static void
ipc_req_finish(struct ipc_sock *s, nng_msg *reply)
{
	struct ipc_pending *p = s->head;

	ev_timer_stop(s->loop, &s->timer);
	s->in_flight = false;
	s->head = p->next;
	if (s->head == NULL)
		s->tail = NULL;
	p->cb(s, reply, p->arg);
	free(p);
	ipc_req_next(s);
}

static void
ipc_req_next(struct ipc_sock *s)
{
	struct ipc_pending *p = s->head;
	int rv;

	while (!s->in_flight && (p = s->head) != NULL) {
		p->deadline = ev_now(s->loop) + (double)p->timeout_ms / 1000.0;
		s->in_flight = true;
		rv = nng_sendmsg(s->sock, p->msg, NNG_FLAG_NONBLOCK);
		if (rv == 0) {
			p->msg = NULL;
			ev_timer_set(&s->timer, (double)p->timeout_ms / 1000.0, 0.);
			ev_timer_start(s->loop, &s->timer);
			return;
		}
		/* No peer yet (EAGAIN): try again shortly until the deadline. */
		if (rv == NNG_EAGAIN) {
			ev_timer_set(&s->timer, IPC_SEND_RETRY, 0.);
			ev_timer_start(s->loop, &s->timer);
			return;
		}
		nng_msg_free(p->msg);
		p->msg = NULL;
		ipc_req_finish(s, NULL);
		return;
	}
}

static void
ipc_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ipc_sock *s = w->data;
	struct ipc_pending *p = s->head;
	ev_tstamp now = ev_now(loop);
	int rv;

	if (p == NULL)
		return;
	if (p->msg != NULL && now < p->deadline) {
		rv = nng_sendmsg(s->sock, p->msg, NNG_FLAG_NONBLOCK);
		if (rv == 0) {
			p->msg = NULL;
			ev_timer_set(&s->timer, p->deadline - now, 0.);
		} else {
			ev_timer_set(&s->timer, IPC_SEND_RETRY, 0.);
		}
		ev_timer_start(loop, &s->timer);
		return;
	}
	if (s->head->msg != NULL) {
		nng_msg_free(s->head->msg);
		s->head->msg = NULL;
	}
	ipc_req_finish(s, NULL);
}

static void
ipc_on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_sock *s = w->data;
	nng_msg *msg;
	int rv, budget = 256;

	while (budget-- > 0) {
		rv = nng_recvmsg(s->sock, &msg, NNG_FLAG_NONBLOCK);
		if (rv != 0)
			break;
		if (s->kind == IPC_REQ) {
			if (s->in_flight && s->head != NULL)
				ipc_req_finish(s, msg);
			else
				nng_msg_free(msg);
		} else {
			s->cb(s, msg, s->arg);
		}
	}
}

int
ipc_open(struct ipc_sock **out, struct ev_loop *loop, enum ipc_kind kind,
    const char *url, bool listen, ipc_msg_cb *cb, void *arg)
{
	struct ipc_sock *s;
	nng_socket sock;
	int rv, fd;

	switch (kind) {
	case IPC_REQ: rv = nng_req0_open(&sock); break;
	case IPC_REP: rv = nng_rep0_open(&sock); break;
	case IPC_PUB: rv = nng_pub0_open(&sock); break;
	case IPC_SUB: rv = nng_sub0_open(&sock); break;
	default: return -EINVAL;
	}
	if (rv != 0)
		return -(rv + 1000);
	if (kind == IPC_SUB)
		nng_socket_set(sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	if (kind == IPC_REQ)
		nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, 1000);
	if (kind == IPC_REP)
		nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, IPC_REPLY_TIMEOUT_MS);
	nng_socket_set_ms(sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(sock, NNG_OPT_RECONNMAXT, 500);
	/* nng drops anything over 1 MiB by default; a snapshot of a
	 * cluster-wide table is larger (see IPC_MSG_MAX) */
	nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, IPC_MSG_MAX);
	if (listen)
		rv = nng_listen(sock, url, NULL, 0);
	else
		rv = nng_dial(sock, url, NULL, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		nng_close(sock);
		return -(rv + 1000);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		nng_close(sock);
		return -ENOMEM;
	}
	s->loop = loop;
	s->kind = kind;
	s->sock = sock;
	s->cb = cb;
	s->arg = arg;
	ev_timer_init(&s->timer, ipc_on_timeout, 0., 0.);
	s->timer.data = s;
	if (kind != IPC_PUB) {
		if ((rv = nng_socket_get_int(sock, NNG_OPT_RECVFD, &fd)) != 0) {
			nng_close(sock);
			free(s);
			return -(rv + 1000);
		}
		ev_io_init(&s->rio, ipc_on_readable, fd, EV_READ);
		s->rio.data = s;
		ev_io_start(loop, &s->rio);
	}
	*out = s;
	return 0;
}

void
ipc_close(struct ipc_sock *s)
{
	struct ipc_pending *p, *n;

	if (s == NULL)
		return;
	if (s->kind != IPC_PUB)
		ev_io_stop(s->loop, &s->rio);
	ev_timer_stop(s->loop, &s->timer);
	for (p = s->head; p != NULL; p = n) {
		n = p->next;
		if (p->msg != NULL)
			nng_msg_free(p->msg);
		free(p);
	}
	nng_close(s->sock);
	free(s);
}

bool
ipc_busy(const struct ipc_sock *s)
{
	return s != NULL && s->head != NULL;
}

int
ipc_request(struct ipc_sock *s, nng_msg *msg, long timeout_ms,
    ipc_msg_cb *cb, void *arg)
{
	struct ipc_pending *p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		nng_msg_free(msg);
		return -ENOMEM;
	}
	p->msg = msg;
	p->timeout_ms = timeout_ms;
	p->cb = cb;
	p->arg = arg;
	if (s->tail != NULL)
		s->tail->next = p;
	else
		s->head = p;
	s->tail = p;
	ipc_req_next(s);
	return 0;
}

int
ipc_reply(struct ipc_sock *s, nng_msg *msg)
{
	/* Not NNG_FLAG_NONBLOCK: nng's rep answers a non-blocking send with
	 * NNG_EAGAIN while the pipe still finishes the previous reply, and the
	 * reply is lost (the requester resends a second later). The wait is
	 * bounded by IPC_REPLY_TIMEOUT_MS, set at open. */
	int rv = nng_sendmsg(s->sock, msg, 0);

	if (rv != 0)
		nng_msg_free(msg);
	return rv;
}

int
ipc_publish(struct ipc_sock *s, nng_msg *msg)
{
	int rv = nng_sendmsg(s->sock, msg, NNG_FLAG_NONBLOCK);

	if (rv != 0)
		nng_msg_free(msg);
	return rv;
}

int
ipc_call(nng_socket sock, nng_msg *msg, long timeout_ms, nng_msg **reply)
{
	int rv;

	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, (nng_duration)timeout_ms);
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, (nng_duration)timeout_ms);
	if ((rv = nng_sendmsg(sock, msg, 0)) != 0) {
		nng_msg_free(msg);
		return rv;
	}
	return nng_recvmsg(sock, reply, 0);
}

char *
ipc_url(char *out, size_t len, const char *data_dir, const char *name)
{
	snprintf(out, len, "ipc://%s/%s.ipc", data_dir, name);
	return out;
}
