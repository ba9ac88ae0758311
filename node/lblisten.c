#include "lblisten.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"

#define LBLISTEN_BATCH          64      /* accepts per wake-up */
#define LBLISTEN_PAUSE          0.2     /* s after EMFILE */

struct lblisten_one {
	struct lblisten *s;
	size_t i;
	int fd;
	ev_io io;
	char app[LBLISTEN_APP_MAX + 1];
};

struct lblisten {
	struct ev_loop *loop;
	lblisten_accept_cb *cb;
	void *arg;
	char what[16];
	char ev[32];                    /* what + ".listen" */
	bool listening;
	ev_timer retry;
	struct lblisten_one ls[LBLISTEN_MAX];
	size_t n;
};

static void
lblisten_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lblisten_one *l = w->data;
	struct lblisten *s = l->s;
	size_t i;
	int fd, n;

	for (n = 0; n < LBLISTEN_BATCH && s->listening; n++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("accept.pause", "listener=%s error=\"%s\"",
				    s->what, strerror(errno));
				for (i = 0; i < s->n; i++)
					ev_io_stop(loop, &s->ls[i].io);
				ev_timer_set(&s->retry, LBLISTEN_PAUSE, 0.);
				ev_timer_start(loop, &s->retry);
			}
			return;
		}
		s->cb(s->arg, l->i, l->app, fd);
	}
}

static void
lblisten_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lblisten *s = w->data;
	size_t i;

	if (!s->listening)
		return;
	for (i = 0; i < s->n; i++)
		ev_io_start(loop, &s->ls[i].io);
}

int
lblisten_open(struct lblisten **out, struct ev_loop *loop, const char *list,
    const char *env, const char *what, lblisten_accept_cb *cb, void *arg)
{
	const char *fds = getenv(env);
	char *copy, *item, *save = NULL, *eq, text[80];
	struct sock_addr addr;
	struct lblisten_one *l;
	struct lblisten *s;
	int fd;

	if ((s = calloc(1, sizeof(*s))) == NULL || (copy = strdup(list)) == NULL) {
		free(s);
		return -1;
	}
	s->loop = loop;
	s->cb = cb;
	s->arg = arg;
	s->listening = true;
	snprintf(s->what, sizeof(s->what), "%s", what);
	snprintf(s->ev, sizeof(s->ev), "%s.listen", s->what);
	ev_timer_init(&s->retry, lblisten_on_retry, 0., 0.);
	s->retry.data = s;
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		if (s->n == LBLISTEN_MAX) {
			log_error(s->ev, "error=\"at most %d listeners\"",
			    LBLISTEN_MAX);
			break;
		}
		l = &s->ls[s->n];
		if ((eq = strchr(item, '=')) != NULL)
			*eq++ = '\0';
		snprintf(l->app, sizeof(l->app), "%s", eq != NULL ? eq : "");
		if (fds != NULL && *fds != '\0') {
			fd = atoi(fds);
			fds = strchr(fds, ',');
			fds = fds != NULL ? fds + 1 : "";
			fcntl(fd, F_SETFL, O_NONBLOCK);
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		} else if (sock_addr_parse(&addr, item, NULL) != 0 ||
		    (fd = sock_listen(&addr, 1024)) < 0) {
			log_error(s->ev, "addr=%s error=\"cannot listen\"", item);
			free(copy);
			lblisten_free(s);
			return -1;
		}
		addr.len = sizeof(addr.ss);
		getsockname(fd, (struct sockaddr *)&addr.ss, &addr.len);
		l->s = s;
		l->i = s->n;
		l->fd = fd;
		ev_io_init(&l->io, lblisten_on_accept, fd, EV_READ);
		l->io.data = l;
		ev_io_start(loop, &l->io);
		s->n++;
		log_info(s->ev, "addr=%s app=%s", sock_addr_format(&addr, text, sizeof(text)),
		    l->app[0] != '\0' ? l->app : "*");
	}
	free(copy);
	*out = s;
	return 0;
}

size_t
lblisten_count(const struct lblisten *s)
{
	return s != NULL ? s->n : 0;
}

void
lblisten_stop(struct lblisten *s)
{
	size_t i;

	if (s == NULL)
		return;
	s->listening = false;
	ev_timer_stop(s->loop, &s->retry);
	for (i = 0; i < s->n; i++)
		ev_io_stop(s->loop, &s->ls[i].io);
}

void
lblisten_free(struct lblisten *s)
{
	size_t i;

	if (s == NULL)
		return;
	lblisten_stop(s);
	for (i = 0; i < s->n; i++)
		close(s->ls[i].fd);
	free(s);
}
