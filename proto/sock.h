/* sock — socket address parsing and non-blocking socket setup. */
#ifndef WARREN_SOCK_H
#define WARREN_SOCK_H

#include <stddef.h>
#include <sys/socket.h>

struct sock_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Parses "host:port", "[v6]:port" or ":port" (host defaults to `defhost`,
 * which may be NULL for 0.0.0.0); host must be numeric or "localhost".
 * Returns 0 or -EINVAL. */
int sock_addr_parse(struct sock_addr *out, const char *text, const char *defhost);
/* Like sock_addr_parse, but the host may also be a DNS name (getaddrinfo,
 * blocking; the first address wins). host[hostlen] receives the host part
 * as given (for TLS name checks). Returns 0, -EINVAL or -ENOENT. */
int sock_addr_resolve(struct sock_addr *out, const char *text, char *host,
    size_t hostlen);
/* As sock_addr_resolve, taking the name's nth address (modulo how many it
 * has; *count, if not NULL, gets that number: 1 for a literal). */
int sock_addr_resolve_nth(struct sock_addr *out, const char *text, char *host,
    size_t hostlen, unsigned nth, unsigned *count);
/* Formats as "1.2.3.4:80" / "[::1]:80" into out (>= 64 bytes), "unknown"
 * for another family; returns out. */
char *sock_addr_format(const struct sock_addr *a, char *out, size_t len);
/* The same for a bare sockaddr_storage. */
char *sock_ss_format(const struct sockaddr_storage *ss, char *out, size_t len);
/* Port of an address in host order. */
int sock_addr_port(const struct sock_addr *a);
void sock_addr_set_port(struct sock_addr *a, int port);

/* Opens a non-blocking, close-on-exec listening TCP socket with SO_REUSEADDR;
 * fills the bound address back into *a (port 0 -> the kernel's pick).
 * Returns the fd or -errno. */
int sock_listen(struct sock_addr *a, int backlog);
/* Starts a non-blocking connect; returns the fd (connect may be in progress)
 * or -errno. */
int sock_connect(const struct sock_addr *a);
/* Returns 0 when a non-blocking connect finished, or -errno (SO_ERROR). */
int sock_connect_result(int fd);
/* TCP_NODELAY on; ignores failure. */
void sock_nodelay(int fd);
/* Peer address of fd formatted as for sock_addr_format. */
char *sock_peer_format(int fd, char *out, size_t len);

#endif
