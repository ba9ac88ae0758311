#include "probe.h"

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "acceptor.h"
#include "log.h"
#include "pconn.h"
#include "probemsg.h"
#include "routes.h"

#define PROBE_LINE_TIMEOUT      2.0     /* s to send the line */

struct probe_conn {
	struct probe_conn *prev, *next;
	struct probe *p;
	int fd;
	ev_io io;
	ev_timer timer;
};

struct probe {
	struct acceptor *a;
	int fd;
	ev_io io;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct probe_conn *conns;
	uint64_t relayed, refused;
};

static void
probe_conn_free(struct probe_conn *k, bool close_fd)
{
	struct probe *p = k->p;

	ev_io_stop(p->a->loop, &k->io);
	ev_timer_stop(p->a->loop, &k->timer);
	if (close_fd)
		close(k->fd);
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		p->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	free(k);
}

static void
probe_refuse(struct probe_conn *k, const char *why)
{
	k->p->refused++;
	log_info("probe.refused", "reason=\"%s\"", why);
	probe_conn_free(k, true);
}

static void
probe_on_line(struct ev_loop *loop, ev_io *w, int revents)
{
	struct probe_conn *k = w->data;
	struct acceptor *a = k->p->a;
	char buf[PROBEMSG_LINE_MAX + 1], node[PROBEMSG_NODE_MAX + 1];
	uint64_t session;
	uint32_t tunnel_id;
	ssize_t n;
	char *nl;
	int fd = k->fd;

	n = recv(fd, buf, sizeof(buf), MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		probe_conn_free(k, true);
		return;
	}
	if ((nl = memchr(buf, '\n', (size_t)n)) == NULL) {
		if ((size_t)n == sizeof(buf))
			probe_refuse(k, "line too long");
		return;
	}
	if (probemsg_parse(buf, (size_t)(nl - buf), node, &session,
	    &tunnel_id) != 0) {
		probe_refuse(k, "not REPLICA <node> <session> <tunnel>");
		return;
	}
	if (recv(fd, buf, (size_t)(nl - buf) + 1, 0) != (nl - buf) + 1) {
		probe_refuse(k, "short read");
		return;
	}
	if (strcmp(node, a->conf.name) == 0)
		node[0] = '\0';
	if (pconn_accept_probe(a, fd, node, session, tunnel_id) != 0) {
		probe_refuse(k, "no such session, or its node cannot be reached");
		return;
	}
	k->p->relayed++;
	probe_conn_free(k, false);      /* the relay's now */
}

static void
probe_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	probe_refuse(w->data, "no line in time");
}

static void
probe_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct probe *p = w->data;
	struct probe_conn *k;
	int fd, i;

	for (i = 0; i < 16; i++) {
		fd = accept4(p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return;
		if ((k = calloc(1, sizeof(*k))) == NULL) {
			close(fd);
			continue;
		}
		k->p = p;
		k->fd = fd;
		ev_io_init(&k->io, probe_on_line, fd, EV_READ);
		k->io.data = k;
		ev_io_start(loop, &k->io);
		ev_timer_init(&k->timer, probe_on_timer, PROBE_LINE_TIMEOUT, 0.);
		k->timer.data = k;
		ev_timer_start(loop, &k->timer);
		k->next = p->conns;
		if (p->conns != NULL)
			p->conns->prev = k;
		p->conns = k;
	}
}

int
probe_new(struct probe **out, struct acceptor *a, const char *data_dir)
{
	struct sockaddr_un sun;
	struct probe *p;
	int rc;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	p->a = a;
	p->fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(p->path, sizeof(p->path), "%s/%s", data_dir,
	    PROBEMSG_SOCKET) >= sizeof(p->path)) {
		log_error("probe.listen", "error=\"the data directory's path is too "
		    "long for a unix socket\"");
		free(p);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, p->path, strlen(p->path) + 1);
	unlink(p->path);
	if ((p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || fchmod(p->fd, 0600) == -1 ||
	    bind(p->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(p->path, 0600) == -1 || listen(p->fd, 64) == -1) {
		rc = -errno;
		log_error("probe.listen", "path=%s error=\"%s\"", p->path,
		    strerror(errno));
		if (p->fd != -1)
			close(p->fd);
		free(p);
		return rc;
	}
	ev_io_init(&p->io, probe_on_accept, p->fd, EV_READ);
	p->io.data = p;
	ev_io_start(a->loop, &p->io);
	*out = p;
	return 0;
}

void
probe_free(struct probe *p)
{
	if (p == NULL)
		return;
	ev_io_stop(p->a->loop, &p->io);
	close(p->fd);
	unlink(p->path);
	while (p->conns != NULL)
		probe_conn_free(p->conns, true);
	free(p);
}

uint64_t
probe_count(const struct probe *p, bool refused)
{
	if (p == NULL)
		return 0;
	return refused ? p->refused : p->relayed;
}
