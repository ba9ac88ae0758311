/* evio — one libev watcher per socket whose interest follows the socket's
 * state: evio_want() changes it only when it differs. */
#ifndef WARREN_EVIO_H
#define WARREN_EVIO_H

#include <ev.h>

/* Makes w watch fd for events (EV_READ and/or EV_WRITE; 0 stops it),
 * touching libev only when that is not already so. fd < 0: nothing. */
static inline void
evio_want(struct ev_loop *loop, ev_io *w, int fd, int events)
{
	if (fd < 0)
		return;
	if ((w->events & (EV_READ | EV_WRITE)) == events &&
	    (events == 0 || ev_is_active(w)))
		return;
	ev_io_stop(loop, w);
	ev_io_set(w, fd, events);
	if (events != 0)
		ev_io_start(loop, w);
}

#endif
