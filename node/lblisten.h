/* lblisten — the listening sockets of the L4 load balancer (--lb-listen,
 * --lb-tls-listen): a list "ADDR[=APP],..." bound here, or inherited from
 * the supervisor through an environment variable holding their fds in the
 * list's order (so they survive exec and need no privilege here). Each
 * accepts in batches; after EMFILE and the like all of them pause for a
 * moment. What to do with a connection is the caller's (accept_cb). */
#ifndef WARREN_LBLISTEN_H
#define WARREN_LBLISTEN_H

#include <ev.h>
#include <stddef.h>

#define LBLISTEN_MAX            64      /* listeners in one list */
#define LBLISTEN_APP_MAX        128     /* bytes of an app name kept */

struct lblisten;

/* A new connection fd (non-blocking, close-on-exec) on listener i of the
 * list, whose app is app ("" when the item had no =APP). */
typedef void lblisten_accept_cb(void *arg, size_t i, const char *app, int fd);

/* Opens every listener of list (comma-separated ADDR[=APP]); env: the
 * variable with the supervisor's fds; what: the log events' prefix ("lb"
 * logs lb.listen). Returns 0 and sets *out, or -1 after logging why. */
int lblisten_open(struct lblisten **out, struct ev_loop *loop,
    const char *list, const char *env, const char *what,
    lblisten_accept_cb *cb, void *arg);
/* Listeners opened. */
size_t lblisten_count(const struct lblisten *s);
/* Stops accepting for good (drain). */
void lblisten_stop(struct lblisten *s);
/* Closes the listeners; NULL is a no-op. */
void lblisten_free(struct lblisten *s);

#endif
