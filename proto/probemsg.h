/* probemsg — the line a health check of a tunnel replica starts with on the
 * acceptor's probe socket (node/probe.h), from the router's checks
 * (router/lbhealth.h):
 *
 *     REPLICA <node> <session, 16 hex digits> <tunnel id>\n
 *
 * The parser takes bytes from a socket: bounded, exact. */
#ifndef WARREN_PROBEMSG_H
#define WARREN_PROBEMSG_H

#include <stddef.h>
#include <stdint.h>

#define PROBEMSG_SOCKET         "probe.sock"    /* under the data directory */
#define PROBEMSG_LINE_MAX       256     /* bytes of a line, newline included */
#define PROBEMSG_NODE_MAX       128     /* bytes of a node name */

/* Writes the line (with its newline) into out[len]; returns its length,
 * or -1 when it does not fit (or the node name is empty, too long or has
 * a space). */
int probemsg_format(char *out, size_t len, const char *node, uint64_t session,
    uint32_t tunnel_id);
/* Parses line[len] (without its newline) into node[PROBEMSG_NODE_MAX + 1],
 * *session and *tunnel_id. Returns 0 or -EINVAL. */
int probemsg_parse(const char *line, size_t len, char *node, uint64_t *session,
    uint32_t *tunnel_id);

#endif
