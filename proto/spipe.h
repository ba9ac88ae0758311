/* spipe — a pipe that moves bytes between two sockets without copying them
 * through user space (splice(2)), for the relays' bulk path.
 *
 * The pipe is made on first use and given back when drained, so an idle
 * connection holds no pipe. Callers embed the struct. */
#ifndef WARREN_SPIPE_H
#define WARREN_SPIPE_H

#include <stddef.h>
#include <sys/types.h>

#define SPIPE_CAP       (256u * 1024)   /* bytes a pipe holds at most */

struct spipe {
	int fd[2];                      /* -1 while there is no pipe */
	size_t len;                     /* bytes in the pipe */
};

/* An empty spipe without a pipe. */
void spipe_init(struct spipe *p);
/* Closes the pipe (bytes in it are dropped). */
void spipe_fini(struct spipe *p);
/* Moves up to max bytes from the socket `from` into the pipe. Returns the
 * bytes moved (> 0), 0 when the pipe is full or cannot be made (use the
 * copying path), -EAGAIN when `from` has nothing now, -EPIPE at its EOF, or
 * another -errno. */
ssize_t spipe_fill(struct spipe *p, int from, size_t max);
/* Moves the pipe's bytes to the socket `to`. Returns the bytes moved (0
 * when `to` is full), or -errno; an emptied pipe is given back. */
ssize_t spipe_drain(struct spipe *p, int to);

#endif
