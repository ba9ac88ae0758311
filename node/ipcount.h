/* ipcount — open public connections per client address, for the
 * --max-conns-per-ip cap. */
#ifndef WARREN_IPCOUNT_H
#define WARREN_IPCOUNT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct ipcount;

struct ipcount *ipcount_new(void);
void ipcount_free(struct ipcount *c);
/* Counts one more connection from sa unless that would pass max (0: no
 * cap). Returns true if counted (call ipcount_release later). */
bool ipcount_take(struct ipcount *c, const struct sockaddr *sa, unsigned max);
void ipcount_release(struct ipcount *c, const struct sockaddr *sa);

#endif
