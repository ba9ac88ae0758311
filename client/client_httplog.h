/* client_httplog — watches one HTTP/1.x connection pass through a tunnel and
 * reports each request/response exchange (method, path, status, duration,
 * response body bytes) for the request log.
 *
 * It only observes (two http1.h observers, one per direction): bytes are
 * parsed where they already are (in the mux's buffers), never copied or
 * changed, and a parse error just ends the observation. Requests are matched to responses in order (pipelining);
 * interim 1xx responses are skipped; after an upgrade (101, CONNECT) the
 * connection is no longer HTTP and observation stops.
 *
 * With a tap (the request inspector) it also hands over each exchange's
 * bytes: the request head as it arrived (copied while it is incomplete,
 * at most CLIENT_HTTPLOG_HEAD_MAX), the response head, and both bodies
 * decoded from chunked framing, span by span as they pass. What to keep is
 * the tap's business; nothing here holds a body. After a 101 the raw
 * streams are only counted as WebSocket frames (inspect_ws.h). */
#ifndef WARREN_CLIENT_HTTPLOG_H
#define WARREN_CLIENT_HTTPLOG_H

#include <stdbool.h>
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

#define CLIENT_HTTPLOG_HEAD_MAX (16u << 10)    /* request head bytes copied */

enum client_httplog_part {
	CLIENT_HTTPLOG_REQ_BODY = 1,    /* decoded request body */
	CLIENT_HTTPLOG_RESP_HEAD,       /* response head bytes (interim 1xx
	                                   heads included) */
	CLIENT_HTTPLOG_RESP_BODY,       /* decoded response body */
};

enum client_httplog_end {
	CLIENT_HTTPLOG_DONE = 1,        /* response complete */
	CLIENT_HTTPLOG_CLOSED,          /* the connection ended first (an SSE
	                                   stream, an upgraded connection, or no
	                                   answer at all) */
};

/* Where a tap's exchange came from; strings valid during the call only. */
struct client_httplog_begin {
	const char *tunnel, *local;     /* as given to client_httplog_set_tap */
	const char *peer;
	const char *method, *path;      /* path possibly truncated */
	const uint8_t *head;            /* request head as received */
	size_t head_len;
	bool head_truncated;            /* longer than CLIENT_HTTPLOG_HEAD_MAX */
	uint64_t start_us;
};

/* Capture callbacks; `arg` is the tap's argument. An exchange is named by
 * the id begin() returned (0: not captured, no more calls for it). */
struct client_httplog_tap {
	uint64_t (*begin)(void *arg, const struct client_httplog_begin *b);
	void (*bytes)(void *arg, uint64_t id, enum client_httplog_part part,
	    const uint8_t *p, size_t len);
	/* The response head is complete: its status. */
	void (*status)(void *arg, uint64_t id, int status);
	/* Frames seen on an upgraded (101) connection so far, each way. */
	void (*frames)(void *arg, uint64_t id, uint64_t to_local,
	    uint64_t from_local);
	/* The last call for id. e has the counts and times. */
	void (*end)(void *arg, uint64_t id, enum client_httplog_end how,
	    const struct client_httplog_entry *e);
};

/* Returns a new observer or NULL (ENOMEM). `cb` is called for every
 * response that completes. */
struct client_httplog *client_httplog_new(client_httplog_cb *cb, void *arg);
/* Sets the capture tap (may be NULL) before any bytes are fed; `tap`, and
 * the tunnel's name, local address and the public peer (handed to begin),
 * must outlive the observer; `arg` is passed to the tap. */
void client_httplog_set_tap(struct client_httplog *h,
    const struct client_httplog_tap *tap, void *arg, const char *tunnel,
    const char *local, const char *peer);
/* Request bytes (towards the local service), seen at now_us. */
void client_httplog_request(struct client_httplog *h, const uint8_t *p,
    size_t len, uint64_t now_us);
/* Response bytes (from the local service), seen at now_us. */
void client_httplog_response(struct client_httplog *h, const uint8_t *p,
    size_t len, uint64_t now_us);
/* The local service closed its side: ends a response delimited by EOF. */
void client_httplog_response_eof(struct client_httplog *h, uint64_t now_us);
/* Ends every open exchange (CLIENT_HTTPLOG_CLOSED at now_us) and frees
 * the observer. NULL is a no-op. */
void client_httplog_close(struct client_httplog *h, uint64_t now_us);
/* Same as client_httplog_close() at the last time seen. */
void client_httplog_free(struct client_httplog *h);

#endif
