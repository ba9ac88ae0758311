/* client_httplog — watches one HTTP/1.x connection pass through a tunnel and
 * reports each request/response exchange (method, path, status, duration,
 * response body bytes) for the request log.
 *
 * It only observes (two http1.h observers, one per direction): bytes are
 * parsed where they already are (in the mux's buffers), never copied or
 * changed, and a parse error just ends the observation. Requests are matched to responses in order (pipelining);
 * interim 1xx responses are skipped; after an upgrade (101, CONNECT) the
 * connection is no longer HTTP and observation stops. */
#ifndef WARREN_CLIENT_HTTPLOG_H
#define WARREN_CLIENT_HTTPLOG_H

#include <stddef.h>
#include <stdint.h>

struct client_httplog;

/* One finished exchange; strings valid during the call only. */
struct client_httplog_entry {
	const char *method;
	const char *path;
	int status;
	uint64_t start_us, end_us;
	uint64_t bytes;                 /* response body bytes */
};

typedef void client_httplog_cb(void *arg,
    const struct client_httplog_entry *e);

/* Returns a new observer or NULL (ENOMEM). `cb` is called for every
 * response that completes. */
struct client_httplog *client_httplog_new(client_httplog_cb *cb, void *arg);
/* Request bytes (towards the local service), seen at now_us. */
void client_httplog_request(struct client_httplog *h, const uint8_t *p,
    size_t len, uint64_t now_us);
/* Response bytes (from the local service), seen at now_us. */
void client_httplog_response(struct client_httplog *h, const uint8_t *p,
    size_t len, uint64_t now_us);
/* The local service closed its side: ends a response delimited by EOF. */
void client_httplog_response_eof(struct client_httplog *h, uint64_t now_us);
/* NULL is a no-op. */
void client_httplog_free(struct client_httplog *h);

#endif
