#include "fwdport.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "routes.h"
#include "sock.h"

struct fport {
	struct fport *next;
	struct fwdport *fp;
	unsigned port;
	int fd;
	ev_io io;
	bool seen;                      /* still in the table (during a sync) */
	struct route_claim claim;
};

struct fwdport {
	struct ev_loop *loop;
	struct sock_addr bind;
	fwdport_accept_cb *cb;
	void *arg;
	struct fport *ports;
	size_t n;
	size_t busy;                    /* ports we could not bind at the last sync */
};

static void
fport_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fport *p = w->data;
	int fd, i;

	for (i = 0; i < 64; i++) {
		fd = accept4(p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return;
		p->fp->cb(p->fp->arg, fd, p->port, &p->claim);
	}
}

int
fwdport_new(struct fwdport **out, struct ev_loop *loop,
    const struct sock_addr *bind, fwdport_accept_cb *cb, void *arg)
{
	struct fwdport *fp;

	if ((fp = calloc(1, sizeof(*fp))) == NULL)
		return -ENOMEM;
	fp->loop = loop;
	fp->bind = *bind;
	fp->cb = cb;
	fp->arg = arg;
	*out = fp;
	return 0;
}

static void
fport_close(struct fwdport *fp, struct fport **pp)
{
	struct fport *p = *pp;

	*pp = p->next;
	ev_io_stop(fp->loop, &p->io);
	close(p->fd);
	fp->n--;
	log_info("fwdport.close", "port=%u node=%s", p->port, p->claim.node);
	free(p);
}

void
fwdport_free(struct fwdport *fp)
{
	if (fp == NULL)
		return;
	while (fp->ports != NULL)
		fport_close(fp, &fp->ports);
	free(fp);
}

static void
fwdport_visit(void *arg, unsigned port, const struct route_claim *claim)
{
	struct fwdport *fp = arg;
	struct sock_addr addr;
	struct fport *p;
	int fd;

	for (p = fp->ports; p != NULL; p = p->next) {
		if (p->port == port) {
			p->seen = true;
			p->claim = *claim;      /* the holder may have moved */
			return;
		}
	}
	addr = fp->bind;
	sock_addr_set_port(&addr, (int)port);
	if ((fd = sock_listen(&addr, 511)) < 0) {
		/* a local tunnel, or something else, has it: nothing to forward */
		log_debug("fwdport.busy", "port=%u node=%s error=\"%s\"", port,
		    claim->node, strerror(-fd));
		fp->busy++;
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		close(fd);
		return;
	}
	p->fp = fp;
	p->port = port;
	p->fd = fd;
	p->seen = true;
	p->claim = *claim;
	ev_io_init(&p->io, fport_on_accept, fd, EV_READ);
	p->io.data = p;
	ev_io_start(fp->loop, &p->io);
	p->next = fp->ports;
	fp->ports = p;
	fp->n++;
	log_info("fwdport.open", "port=%u node=%s", port, claim->node);
}

void
fwdport_sync(struct fwdport *fp, struct routes *r)
{
	struct fport **pp, *p;

	for (p = fp->ports; p != NULL; p = p->next)
		p->seen = false;
	fp->busy = 0;
	routes_each_remote_port(r, fwdport_visit, fp);
	for (pp = &fp->ports; (p = *pp) != NULL;) {
		if (!p->seen)
			fport_close(fp, pp);
		else
			pp = &p->next;
	}
}

bool
fwdport_release(struct fwdport *fp, unsigned port)
{
	struct fport **pp;

	for (pp = &fp->ports; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->port == port) {
			fport_close(fp, pp);
			return true;
		}
	}
	return false;
}

size_t
fwdport_count(const struct fwdport *fp)
{
	return fp->n;
}

size_t
fwdport_busy(const struct fwdport *fp)
{
	return fp->busy;
}
