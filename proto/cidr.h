/* cidr — address lists like "10.0.0.0/8, 2001:db8::/32, 192.0.2.7", for
 * allow/deny rules and trusted proxies. IPv4-mapped IPv6 addresses match
 * IPv4 entries. */
#ifndef WARREN_CIDR_H
#define WARREN_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CIDR_MAX        256             /* entries in one list */

struct cidr {
	uint8_t addr[16];               /* IPv4 as ::ffff:a.b.c.d */
	uint8_t bits;                   /* prefix length over the 128 bits */
};

struct cidr_list {
	size_t n;
	struct cidr *v;
};

/* Parses a comma- or space-separated list; an empty text is an empty list.
 * Returns 0, or -EINVAL with the offending entry copied into bad[badlen]. */
int cidr_parse(struct cidr_list *out, const char *text, char *bad, size_t badlen);
void cidr_fini(struct cidr_list *l);
/* True if the address (AF_INET or AF_INET6) is in the list. */
bool cidr_match(const struct cidr_list *l, const struct sockaddr *sa);
/* The address as 16 bytes (IPv4 mapped); false for other families. */
bool cidr_key(const struct sockaddr *sa, uint8_t out[16]);

#endif
