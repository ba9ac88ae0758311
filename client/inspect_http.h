/* inspect_http — the request inspector's HTTP server: the page, the JSON
 * API and the live event stream, on the client's loop.
 *
 *   GET    /                          the page (index.html, app.js, app.css)
 *   GET    /api/requests              summaries, newest first (?limit=N)
 *   GET    /api/requests/ID           one record with heads and bodies
 *   POST   /api/requests/ID/replay    send it again (body: optional JSON
 *                                     {method, path, headers, body |
 *                                     body_base64}); answers {id, replay_of}
 *   DELETE /api/requests              forget every record
 *   GET    /api/events                server-sent events: "request" (a
 *                                     summary, new or changed), "clear"
 *   GET    /api/status                {keep, body_max, mem, count}
 *
 * It listens on loopback unless given credentials (basic auth, required on
 * any other address). A Host that is not an address or localhost is
 * refused (DNS rebinding), and so is a POST or DELETE whose Origin is not
 * this server. Requests are bounded (16 KiB head; a replay body up to
 * twice --inspect-body-max); an event stream whose reader falls behind by
 * INSPECT_HTTP_SSE_MAX is closed (the page reconnects and reloads). */
#ifndef WARREN_INSPECT_HTTP_H
#define WARREN_INSPECT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "inspect_store.h"

struct ev_loop;
struct inspect_http;

#define INSPECT_HTTP_DEFAULT_LISTEN     "127.0.0.1:4040"
#define INSPECT_HTTP_PORT_TRIES         20      /* next ports tried if taken */
#define INSPECT_HTTP_SSE_MAX            (1u << 20)
#define INSPECT_HTTP_HEAD_MAX           (16u << 10)

struct inspect_http_conf {
	const char *listen;             /* "host:port"; NULL: the default */
	const char *auth;               /* "user:password" or NULL */
	struct inspect_store *store;    /* borrowed; outlives the server */
};

/* Listens (on the next free port if the one asked for is taken) and serves
 * on `loop`. Returns 0 and sets *out, or -errno with a sentence in err:
 * -EINVAL (bad address, or not loopback without auth), -EADDRINUSE. */
int inspect_http_new(struct inspect_http **out, struct ev_loop *loop,
    const struct inspect_http_conf *c, char *err, size_t errlen);
/* "http://127.0.0.1:4040" */
const char *inspect_http_url(const struct inspect_http *h);
/* Pushes a store change to every event stream (inspect_store_cb). */
void inspect_http_notify(void *h, const struct inspect_rec *r,
    enum inspect_change what);
/* Closes every connection and replay. NULL is a no-op. */
void inspect_http_free(struct inspect_http *h);

#endif
