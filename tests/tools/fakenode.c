/* fakenode — a one-process stand-in for warren-node, for testing the client.
 *
 *   fakenode [--taken NAME] [--goaway-ms N] [--drop-ms N] [--window N]
 *
 * Listens on 127.0.0.1:0 for tunnel clients and for public HTTP, prints
 * "ready tunnel=PORT http=PORT" on stdout, then speaks the mux/ctrl protocol
 * with one client session at a time: WELCOME to HELLO, REGISTERED to
 * REGISTER (http: http://SUB.localhost:HTTPPORT; tcp: a public listener on
 * the asked port or any). Every public HTTP connection goes to the first
 * http tunnel (no Host routing); each TCP listener to its tunnel. A refused
 * stream's RST reason is logged. --taken NAME answers TAKEN for that
 * subdomain; --goaway-ms / --drop-ms send GOAWAY / close the session that
 * long after WELCOME (once per session). */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ctrl.h"
#include "ipcmsg.h"
#include "log.h"
#include "mux.h"
#include "sock.h"

#define FAKENODE_TUNNELS 16

struct fakenode;

struct fakenode_pconn {
	struct fakenode *fn;
	struct mux_stream *ms;
	ev_io io;
	int events;
	struct buf out;
	bool eof, peer_fin, shut, paused;
};

struct fakenode_tunnel {
	uint32_t id;
	int kind;
	int lfd;
	ev_io accept;
	struct fakenode *fn;
};

struct fakenode {
	struct ev_loop *loop;
	int tfd, hfd, http_port;
	ev_io taccept, haccept;
	/* the current session */
	int sfd;
	ev_io sio;
	int sevents;
	struct mux *mux;
	ev_timer action, reap;
	struct fakenode_tunnel tun[FAKENODE_TUNNELS];
	int ntun;
	const char *taken;
	long goaway_ms, drop_ms;
	uint32_t window;
};

static void fakenode_session_close(struct fakenode *fn);

static void
fakenode_want(struct ev_loop *loop, ev_io *w, int *cur, int ev)
{
	if (ev == *cur)
		return;
	if (*cur)
		ev_io_stop(loop, w);
	*cur = ev;
	if (ev) {
		ev_io_set(w, w->fd, ev);
		ev_io_start(loop, w);
	}
}

/* --- public connections ---------------------------------------------- */

static void
fakenode_pconn_free(struct fakenode_pconn *pc)
{
	ev_io_stop(pc->fn->loop, &pc->io);
	ev_clear_pending(pc->fn->loop, &pc->io);
	close(pc->io.fd);
	buf_fini(&pc->out);
	mux_stream_set_data(pc->ms, NULL);
	mux_stream_close(pc->ms);
	free(pc);
}

static void
fakenode_pconn_interest(struct fakenode_pconn *pc)
{
	int ev = 0;

	if (!pc->eof && !pc->paused)
		ev |= EV_READ;
	if (buf_len(&pc->out) > 0)
		ev |= EV_WRITE;
	fakenode_want(pc->fn->loop, &pc->io, &pc->events, ev);
}

static void fakenode_session_flush(struct fakenode *fn);

static void
fakenode_pconn_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fakenode_pconn *pc = w->data;
	size_t room;
	uint8_t *p;
	ssize_t n;

	if (revents & EV_WRITE) {
		while (buf_len(&pc->out) > 0) {
			n = send(w->fd, buf_data(&pc->out), buf_len(&pc->out),
			    MSG_NOSIGNAL);
			if (n <= 0)
				break;
			buf_consume(&pc->out, (size_t)n);
			mux_stream_consumed(pc->ms, (size_t)n);
		}
		if (buf_len(&pc->out) == 0) {
			buf_release(&pc->out);
			if (pc->peer_fin && !pc->shut) {
				shutdown(w->fd, SHUT_WR);
				pc->shut = true;
			}
		}
		fakenode_session_flush(pc->fn);
	}
	if ((revents & EV_READ) && !pc->eof && !pc->paused) {
		if ((p = mux_stream_data_begin(pc->ms, &room)) == NULL) {
			pc->paused = true;
		} else {
			n = read(w->fd, p, room);
			mux_stream_data_commit(pc->ms, n > 0 ? (size_t)n : 0);
			if (n == 0) {
				pc->eof = true;
				mux_stream_fin(pc->ms);
			} else if (n < 0 && errno != EAGAIN) {
				mux_stream_reset(pc->ms, MUX_RST_CANCEL, "public reset");
				fakenode_pconn_free(pc);
				return;
			}
			fakenode_session_flush(pc->fn);
		}
	}
	if (pc->eof && pc->shut) {
		fakenode_pconn_free(pc);
		return;
	}
	fakenode_pconn_interest(pc);
}

static void
fakenode_pconn_open(struct fakenode *fn, int fd, uint32_t tunnel_id)
{
	struct fakenode_pconn *pc;
	struct ctrl_open o;
	char peer[64];
	uint8_t hdr[256];
	int n;

	if (fn->mux == NULL || (pc = calloc(1, sizeof(*pc))) == NULL) {
		close(fd);
		return;
	}
	sock_peer_format(fd, peer, sizeof(peer));
	o.tunnel_id = tunnel_id;
	o.peer = peer;
	o.host = "";
	n = ctrl_open_encode(&o, hdr, sizeof(hdr));
	if (n < 0 || mux_stream_open(fn->mux, hdr, (size_t)n, &pc->ms) != 0) {
		free(pc);
		close(fd);
		return;
	}
	pc->fn = fn;
	mux_stream_set_data(pc->ms, pc);
	sock_nodelay(fd);
	ev_io_init(&pc->io, fakenode_pconn_io, fd, 0);
	pc->io.data = pc;
	fakenode_pconn_interest(pc);
	fakenode_session_flush(fn);
}

static void
fakenode_public_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fakenode_tunnel *t = w->data;
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd >= 0)
		fakenode_pconn_open(t->fn, fd, t->id);
}

static void
fakenode_http_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fakenode *fn = w->data;
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < fn->ntun; i++) {
		if (fn->tun[i].kind == TUNNEL_HTTP) {
			fakenode_pconn_open(fn, fd, fn->tun[i].id);
			return;
		}
	}
	close(fd);
}

/* --- mux callbacks --------------------------------------------------- */

static void
fn_on_data(struct mux_stream *s, const uint8_t *p, size_t len)
{
	struct fakenode_pconn *pc = mux_stream_data(s);
	ssize_t n = 0;

	if (pc == NULL)
		return;
	if (buf_len(&pc->out) == 0) {
		n = send(pc->io.fd, p, len, MSG_NOSIGNAL);
		if (n < 0)
			n = 0;
		if (n > 0)
			mux_stream_consumed(s, (size_t)n);
	}
	if ((size_t)n < len)
		buf_append(&pc->out, p + n, len - (size_t)n, 64u << 20);
	fakenode_pconn_interest(pc);
}

static void
fn_on_fin(struct mux_stream *s)
{
	struct fakenode_pconn *pc = mux_stream_data(s);

	if (pc == NULL)
		return;
	pc->peer_fin = true;
	if (buf_len(&pc->out) == 0 && !pc->shut) {
		shutdown(pc->io.fd, SHUT_WR);
		pc->shut = true;
	}
	if (pc->eof && pc->shut)
		fakenode_pconn_free(pc);
}

static void
fn_on_reset(struct mux_stream *s, int code, const char *reason)
{
	struct fakenode_pconn *pc = mux_stream_data(s);

	log_info("stream.reset", "stream=%u code=%d reason=\"%s\"",
	    mux_stream_id(s), code, reason);
	if (pc != NULL) {
		if (code == MUX_RST_REFUSED) {
			static const char resp[] = "HTTP/1.1 502 Bad Gateway\r\n"
			    "Content-Length: 0\r\nConnection: close\r\n\r\n";
			(void)!send(pc->io.fd, resp, sizeof(resp) - 1, MSG_NOSIGNAL);
		}
		fakenode_pconn_free(pc);
	} else {
		mux_stream_close(s);
	}
}

static void
fn_on_writable(struct mux_stream *s)
{
	struct fakenode_pconn *pc = mux_stream_data(s);

	if (pc != NULL && pc->paused) {
		pc->paused = false;
		fakenode_pconn_interest(pc);
	}
}

static void
fakenode_ctrl_send(struct fakenode *fn, const struct ctrl_msg *m)
{
	uint8_t buf[16384];
	int n = ctrl_msg_encode(m, buf, sizeof(buf));

	if (n > 0)
		mux_control(fn->mux, buf, (size_t)n);
}

static void
fakenode_register(struct fakenode *fn, const struct ctrl_msg *m)
{
	struct ctrl_msg r;
	struct fakenode_tunnel *t;
	struct sock_addr a;
	char url[512];
	int fd;

	memset(&r, 0, sizeof(r));
	r.type = CTRL_REGISTERED;
	r.tunnel_id = m->tunnel_id;
	r.url = url;
	r.error = "";
	url[0] = '\0';
	if (m->kind == TUNNEL_HTTP && fn->taken != NULL && m->subdomain != NULL &&
	    strcmp(m->subdomain, fn->taken) == 0) {
		r.status = IPCMSG_S_TAKEN;
		r.error = "subdomain is taken by another client; pick another "
		    "with --subdomain";
		fakenode_ctrl_send(fn, &r);
		return;
	}
	if (fn->ntun >= FAKENODE_TUNNELS) {
		r.status = IPCMSG_S_INTERNAL;
		r.error = "too many tunnels";
		fakenode_ctrl_send(fn, &r);
		return;
	}
	t = &fn->tun[fn->ntun];
	memset(t, 0, sizeof(*t));
	t->fn = fn;
	t->id = m->tunnel_id;
	t->kind = m->kind;
	t->lfd = -1;
	if (m->kind == TUNNEL_HTTP) {
		snprintf(url, sizeof(url), "http://%s.localhost:%d",
		    m->subdomain && m->subdomain[0] ? m->subdomain : "random",
		    fn->http_port);
		r.port = (uint16_t)fn->http_port;
	} else {
		sock_addr_parse(&a, "127.0.0.1:0", NULL);
		sock_addr_set_port(&a, m->port);
		if ((fd = sock_listen(&a, 64)) < 0) {
			r.status = IPCMSG_S_TAKEN;
			r.error = "port is in use";
			fakenode_ctrl_send(fn, &r);
			return;
		}
		t->lfd = fd;
		ev_io_init(&t->accept, fakenode_public_accept, fd, EV_READ);
		t->accept.data = t;
		ev_io_start(fn->loop, &t->accept);
		r.port = (uint16_t)sock_addr_port(&a);
		snprintf(url, sizeof(url), "tcp://localhost:%d", r.port);
	}
	fn->ntun++;
	fakenode_ctrl_send(fn, &r);
}

static void
fn_on_control(struct mux *mx, const uint8_t *p, size_t len)
{
	struct fakenode *fn = mux_data(mx);
	struct ctrl_msg m, w;

	if (ctrl_msg_decode(&m, p, len) != 0) {
		log_error("ctrl.bad", "len=%zu", len);
		return;
	}
	if (m.type == CTRL_HELLO) {
		log_info("ctrl.hello", "client_id=%s agent=%s version=%u",
		    m.client_id, m.agent, m.version);
		memset(&w, 0, sizeof(w));
		w.type = CTRL_WELCOME;
		w.version = CTRL_PROTO_VERSION;
		w.agent = "fakenode";
		fakenode_ctrl_send(fn, &w);
		if (fn->goaway_ms > 0 || fn->drop_ms > 0) {
			ev_timer_set(&fn->action, (fn->goaway_ms > 0 ?
			    fn->goaway_ms : fn->drop_ms) / 1000.0, 0.);
			ev_timer_start(fn->loop, &fn->action);
		}
	} else if (m.type == CTRL_REGISTER) {
		log_info("ctrl.register", "tunnel=%u kind=%u subdomain=%s "
		    "domains=%s port=%u", m.tunnel_id, m.kind, m.subdomain,
		    m.domains, m.port);
		fakenode_register(fn, &m);
	}
	ctrl_msg_fini(&m);
}

static void
fn_on_output(struct mux *mx)
{
	struct fakenode *fn = mux_data(mx);

	fakenode_want(fn->loop, &fn->sio, &fn->sevents, EV_READ | EV_WRITE);
}

static const struct mux_callbacks fakenode_cb = {
	.on_data = fn_on_data,
	.on_fin = fn_on_fin,
	.on_reset = fn_on_reset,
	.on_writable = fn_on_writable,
	.on_control = fn_on_control,
	.on_output = fn_on_output,
};

/* --- session --------------------------------------------------------- */

static void
fakenode_session_flush(struct fakenode *fn)
{
	struct iovec io;
	ssize_t n;

	if (fn->mux == NULL)
		return;
	while ((io = mux_wbuf(fn->mux)).iov_len > 0) {
		n = send(fn->sfd, io.iov_base, io.iov_len, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		mux_wconsume(fn->mux, (size_t)n);
	}
	fakenode_want(fn->loop, &fn->sio, &fn->sevents,
	    EV_READ | (mux_wpending(fn->mux) ? EV_WRITE : 0));
}

static void
fakenode_session_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fakenode *fn = w->data;
	struct iovec io;
	ssize_t n;

	if (fn->mux == NULL) {
		ev_io_stop(loop, w);
		fn->sevents = 0;
		return;
	}
	if (revents & EV_READ) {
		io = mux_rbuf(fn->mux);
		n = read(fn->sfd, io.iov_base, io.iov_len);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			log_info("session.closed", "by=client");
			ev_io_stop(loop, w);
			fn->sevents = 0;
			ev_timer_start(loop, &fn->reap);
			return;
		}
		if (n > 0 && mux_rcommit(fn->mux, (size_t)n) != 0) {
			log_error("session.proto", "error=\"%s\"", mux_error(fn->mux));
			ev_io_stop(loop, w);
			fn->sevents = 0;
			ev_timer_start(loop, &fn->reap);
			return;
		}
	}
	fakenode_session_flush(fn);
}

static void
fakenode_session_close(struct fakenode *fn)
{
	if (fn->mux == NULL)
		return;
	ev_io_stop(fn->loop, &fn->sio);
	ev_timer_stop(fn->loop, &fn->action);
	ev_timer_stop(fn->loop, &fn->reap);
	fn->sevents = 0;
	mux_free(fn->mux);
	fn->mux = NULL;
	close(fn->sfd);
	fn->sfd = -1;
	for (int i = 0; i < fn->ntun; i++) {
		if (fn->tun[i].lfd >= 0) {
			ev_io_stop(fn->loop, &fn->tun[i].accept);
			close(fn->tun[i].lfd);
		}
	}
	fn->ntun = 0;
}

static void
fakenode_reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	fakenode_session_close(w->data);
}

static void
fakenode_action_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fakenode *fn = w->data;

	if (fn->mux == NULL)
		return;
	if (fn->goaway_ms > 0) {
		log_info("session.goaway", "streams=%zu", mux_nstreams(fn->mux));
		mux_goaway(fn->mux, 0, "node draining");
		fakenode_session_flush(fn);
		/* then close it shortly after, as a draining node would */
		fn->goaway_ms = 0;
		if (fn->drop_ms > 0) {
			ev_timer_set(w, fn->drop_ms / 1000.0, 0.);
			ev_timer_start(loop, w);
		}
		return;
	}
	log_info("session.drop", "streams=%zu", mux_nstreams(fn->mux));
	fakenode_session_close(fn);
}

static void
fakenode_tunnel_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fakenode *fn = w->data;
	struct mux_conf mc;
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	fakenode_session_close(fn);
	log_info("session.open", "fd=%d", fd);
	mux_conf_default(&mc);
	if (fn->window)
		mc.window = fn->window;
	/* the watcher first: mux_new's SETTINGS fires on_output */
	sock_nodelay(fd);
	fn->sfd = fd;
	ev_io_stop(fn->loop, &fn->sio);
	fn->sevents = 0;
	ev_io_init(&fn->sio, fakenode_session_io, fd, 0);
	fn->sio.data = fn;
	if ((fn->mux = mux_new(MUX_SERVER, &mc, &fakenode_cb, fn)) == NULL) {
		ev_io_stop(fn->loop, &fn->sio);
		fn->sevents = 0;
		close(fd);
		return;
	}
	fakenode_session_flush(fn);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "taken", required_argument, NULL, 't' },
		{ "goaway-ms", required_argument, NULL, 'g' },
		{ "drop-ms", required_argument, NULL, 'd' },
		{ "window", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct fakenode fn;
	struct sock_addr a;
	int c;

	memset(&fn, 0, sizeof(fn));
	fn.sfd = -1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 't': fn.taken = optarg; break;
		case 'g': fn.goaway_ms = atol(optarg); break;
		case 'd': fn.drop_ms = atol(optarg); break;
		case 'w': fn.window = (uint32_t)atol(optarg); break;
		default:
			fprintf(stderr, "usage: fakenode [--taken NAME] "
			    "[--goaway-ms N] [--drop-ms N] [--window N]\n");
			return 1;
		}
	}
	log_setup("fakenode", getenv("FAKENODE_LOG"));
	fn.loop = EV_DEFAULT;
	sock_addr_parse(&a, "127.0.0.1:0", NULL);
	if ((fn.tfd = sock_listen(&a, 16)) < 0)
		return 1;
	c = sock_addr_port(&a);
	sock_addr_parse(&a, "127.0.0.1:0", NULL);
	if ((fn.hfd = sock_listen(&a, 128)) < 0)
		return 1;
	fn.http_port = sock_addr_port(&a);
	ev_io_init(&fn.taccept, fakenode_tunnel_accept, fn.tfd, EV_READ);
	ev_io_init(&fn.haccept, fakenode_http_accept, fn.hfd, EV_READ);
	fn.taccept.data = fn.haccept.data = &fn;
	ev_io_start(fn.loop, &fn.taccept);
	ev_io_start(fn.loop, &fn.haccept);
	ev_timer_init(&fn.action, fakenode_action_cb, 0., 0.);
	ev_timer_init(&fn.reap, fakenode_reap_cb, 0., 0.);
	fn.action.data = fn.reap.data = &fn;
	printf("ready tunnel=%d http=%d\n", c, fn.http_port);
	fflush(stdout);
	ev_run(fn.loop, 0);
	return 0;
}
