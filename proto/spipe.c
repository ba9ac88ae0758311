#include "spipe.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

void
spipe_init(struct spipe *p)
{
	p->fd[0] = p->fd[1] = -1;
	p->len = 0;
}

void
spipe_fini(struct spipe *p)
{
	if (p->fd[0] != -1) {
		close(p->fd[0]);
		close(p->fd[1]);
	}
	spipe_init(p);
}

ssize_t
spipe_fill(struct spipe *p, int from, size_t max)
{
	ssize_t n;

	if (p->len >= SPIPE_CAP)
		return 0;
	if (p->fd[0] == -1) {
		if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) == -1) {
			spipe_init(p);
			return 0;
		}
		fcntl(p->fd[0], F_SETPIPE_SZ, (int)SPIPE_CAP);
	}
	if (max > SPIPE_CAP - p->len)
		max = SPIPE_CAP - p->len;
	n = splice(from, NULL, p->fd[1], NULL, max,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n == 0)
		return -EPIPE;
	if (n == -1) {
		/* EAGAIN: the socket is empty, or the pipe is full */
		if (errno == EAGAIN || errno == EINTR)
			return p->len == 0 ? -EAGAIN : 0;
		return -errno;
	}
	p->len += (size_t)n;
	return n;
}

ssize_t
spipe_drain(struct spipe *p, int to)
{
	size_t moved = 0;
	ssize_t n;

	while (p->len > 0) {
		n = splice(p->fd[0], NULL, to, NULL, p->len,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return (ssize_t)moved;
			return -errno;
		}
		p->len -= (size_t)n;
		moved += (size_t)n;
	}
	spipe_fini(p);
	return (ssize_t)moved;
}
