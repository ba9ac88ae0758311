/* admin — the router's small HTTP/1.1 server for the admin API.
 *
 * Loopback only: admin_open() refuses any other address, because the API
 * has no authentication. Runs on the caller's libev loop; requests are
 * parsed with http_parser. One request per connection (the response says
 * Connection: close). Bounded: at most ADMIN_CONN_MAX connections, a request
 * head of at most ADMIN_HEAD_MAX bytes (431 above), ADMIN_TIMEOUT seconds to
 * send it (then closed), request bodies of at most ADMIN_BODY_MAX bytes
 * (413 above). */
#ifndef WARREN_ADMIN_H
#define WARREN_ADMIN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#define ADMIN_CONN_MAX          64
#define ADMIN_HEAD_MAX          8192
#define ADMIN_URL_MAX           1024
#define ADMIN_BODY_MAX          65536
#define ADMIN_TIMEOUT           5.0     /* seconds */
#define ADMIN_AUTH_MAX          512     /* Authorization value kept */

struct admin;

/* What a handler answers. body is malloc'ed (or NULL for an empty body) and
 * owned by the server once the handler returns. */
struct admin_resp {
	int status;                     /* 200, 404, ... */
	const char *content_type;       /* static string */
	char *body;
	size_t len;
};

/* Called once per complete request with the method ("GET") and the path
 * without the query string; fills *resp. */
typedef void admin_handler(void *arg, const char *method, const char *path,
    struct admin_resp *resp);

/* Listens on `listen` ("127.0.0.1:7070", "[::1]:0"). Returns 0 and sets *out,
 * writing the bound address ("127.0.0.1:40123") into bound; -EADDRNOTAVAIL
 * for a non-loopback address, -EINVAL for a malformed one, or -errno. */
int admin_open(struct admin **out, struct ev_loop *loop, const char *listen,
    admin_handler *handler, void *arg, char *bound, size_t boundlen);
/* The same on any address, for a server whose handler authenticates its
 * requests (admin_authorization()); -EINVAL or -errno. */
int admin_open_any(struct admin **out, struct ev_loop *loop, const char *listen,
    admin_handler *handler, void *arg, char *bound, size_t boundlen);
/* True when `listen` parses to a loopback address. */
bool admin_loopback(const char *listen);
/* Closes the listener and every connection; NULL is a no-op. */
void admin_close(struct admin *a);

/* The body of the request being handled (valid only inside the handler);
 * NUL-terminated, *len (if not NULL) without the NUL. "" when none. */
const char *admin_body(const struct admin *a, size_t *len);

/* The Authorization header of the request being handled (valid only inside
 * the handler); "" when none, or when longer than ADMIN_AUTH_MAX. */
const char *admin_authorization(const struct admin *a);

/* Requests served and connections refused or cut (limit, timeout, too big,
 * malformed), for metrics. */
unsigned long long admin_requests(const struct admin *a);
unsigned long long admin_rejects(const struct admin *a);

#endif
