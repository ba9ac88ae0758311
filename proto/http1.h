/* http1 — sans-IO HTTP/1.1 stream filter and observer, on http_parser.
 *
 * The request filter (struct http1_req) sits on the acceptor's public
 * connection. Feed it the client's bytes; each call returns one event and how
 * many input bytes that event used. The caller consumes exactly that many and
 * calls again, so it can stop between any two events (to route the next head,
 * to wait for tunnel credit, to wait for an upgrade's answer):
 *
 *	HTTP1_HEAD     a request head is complete. ev.host routes it; ev.head
 *	               is the rewritten head (X-Forwarded-For/-Proto/-Host) to
 *	               send instead of the ev.used input bytes.
 *	HTTP1_BODY     in[0..ev.used) is body to send on unchanged (chunked
 *	               framing included: nothing is re-encoded or held).
 *	HTTP1_END      the request is complete (ev.used == 0); the next byte
 *	               starts a new head, which may be for another host.
 *	HTTP1_UPGRADE  an Upgrade request is complete (ev.used == 0); call
 *	               http1_req_upgrade() once the answer is known.
 *	HTTP1_AGAIN    every input byte given was used (ev.used == len); feed more.
 *	HTTP1_ERROR    answer ev.status / ev.reason and close (sticky).
 *
 * Heads are copied into one per-connection buffer only when they arrive in
 * pieces, and rewritten into it; the buffer is allocated on first use and
 * given back by http1_req_release(). Bodies are never copied or held.
 *
 * Smuggling defences on top of http_parser (Debian builds it non-strict):
 * bare CR or LF, NUL, obs-fold and non-token header names in heads and
 * trailers; a request line that is not exactly "METHOD SP target SP
 * HTTP/1.x"; duplicate or invalid Content-Length; Content-Length with
 * Transfer-Encoding; Transfer-Encoding other than a single "chunked" (or in
 * HTTP/1.0); chunk framing other than hex size [ext] CRLF data CRLF; a missing,
 * duplicate or malformed Host, or one that differs from an absolute-form
 * target; CONNECT. Too many header fields and heads longer than max_head
 * get 431 (RFC 6585: the header fields are too large, in number or size).
 *
 * The observer (struct http1_obs) watches one direction of a connection it
 * does not control (the tunnel client's local service side) and reports
 * each message's method and path, or status, body bytes and end, for access
 * logs. It never holds bytes; on garbage it reports HTTP1_ERROR once and
 * stops observing. */
#ifndef WARREN_HTTP1_H
#define WARREN_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP1_XFF_LAST_MAX      63      /* bytes of http1_ev.xff */

#define HTTP1_DEFAULT_MAX_HEAD          (16u << 10)
#define HTTP1_DEFAULT_MAX_HEADERS       100u
#define HTTP1_MAX_HOST                  255     /* longest Host we route */
#define HTTP1_MAX_PEER                  63      /* longest peer address */
#define HTTP1_OBS_PATH                  256     /* observer keeps this much path */

enum http1_kind {
	HTTP1_AGAIN = 0,        /* need more bytes */
	HTTP1_HEAD,
	HTTP1_BODY,
	HTTP1_END,
	HTTP1_UPGRADE,
	HTTP1_ERROR,            /* malformed */
};

struct http1_conf {
	size_t max_head;        /* request line + headers, bytes (431 beyond) */
	unsigned max_headers;   /* header fields per head or trailer (400 beyond) */
};

/* What one feed call reports. Pointers stay valid until the next call on the
 * same filter or observer (or http1_req_release()). */
struct http1_ev {
	size_t used;            /* input bytes this event used: consume them */

	/* HTTP1_HEAD */
	const char *method;     /* "GET": a static string */
	const char *host;       /* filter: lowercased, no port, NUL-terminated */
	const char *path;       /* request target as sent (origin-form part of
	                         * an absolute-form target); observer: truncated
	                         * to HTTP1_OBS_PATH - 1 bytes */
	size_t path_len;
	const uint8_t *head;    /* filter: the rewritten head to send on */
	size_t head_len;
	bool upgrade;           /* the request asks to switch protocols */
	const char *authorization;      /* filter: the Authorization value
	                                 * (not NUL-terminated), NULL if none */
	size_t authorization_len;
	const char *xff;        /* filter: the last address of the request's
	                         * own X-Forwarded-For (NUL-terminated, at most
	                         * HTTP1_XFF_LAST_MAX bytes, unchecked), or NULL */

	/* HTTP1_END (and the observer's HTTP1_HEAD / HTTP1_UPGRADE) */
	int status;             /* response status; filter's HTTP1_ERROR: the
	                         * status to answer with */
	uint64_t body_bytes;    /* payload bytes (chunked: without framing) */
	uint64_t bytes;         /* whole message as seen on the wire */
	bool keep_alive;        /* false: the connection closes after this one */

	/* HTTP1_ERROR */
	const char *reason;     /* short static text for the response and logs */
};

struct http1_req;
struct http1_obs;

enum http1_obs_dir {
	HTTP1_OBS_REQUESTS = 1, /* bytes going to the service */
	HTTP1_OBS_RESPONSES,    /* bytes coming back from it */
};

/* Fills the defaults: 16 KiB heads, 100 header fields. */
void http1_conf_default(struct http1_conf *c);

/* Creates a request filter for one public connection. `c` may be NULL for
 * the defaults and is copied. `peer` is the client's address without port
 * (it goes into X-Forwarded-For), `tls` picks X-Forwarded-Proto https.
 * Returns 0 and sets *out, or -EINVAL (peer empty, too long or not an
 * address) or -ENOMEM; on failure *out is untouched. */
int http1_req_new(struct http1_req **out, const struct http1_conf *c,
    const char *peer, bool tls);
/* Frees the filter and its head buffer. NULL is a no-op. */
void http1_req_free(struct http1_req *r);

/* Feeds in[0..len): the caller's unconsumed input, starting where the last
 * event's `used` ended. Returns one event and fills *ev; the caller consumes
 * ev->used bytes (body spans after passing them on) before calling again.
 * To respect tunnel credit, pass len no larger than what can be sent: a body
 * span never exceeds len. After HTTP1_ERROR every call repeats it. */
enum http1_kind http1_req_feed(struct http1_req *r, const uint8_t *in,
    size_t len, struct http1_ev *ev);

/* After HTTP1_UPGRADE: `switched` true (the service answered 101) makes every
 * later byte raw (HTTP1_BODY spans of all input); false (any other answer)
 * resumes parsing with the next head. Calling it right away with true simply
 * treats everything after an Upgrade request as raw. */
void http1_req_upgrade(struct http1_req *r, bool switched);

/* True while part of a head has been used but the head is not complete:
 * the time to run the 408 head timer. */
bool http1_req_in_head(const struct http1_req *r);

/* Gives the head buffer back unless it holds part of a head; call when the
 * connection goes idle. Invalidates the last event's head, host and path. */
void http1_req_release(struct http1_req *r);

/* Formats a complete response: status line (and for 401 a
 * WWW-Authenticate: Basic challenge), Content-Type: text/plain,
 * Content-Length, Connection: close, body "warren: <reason>\n" (control
 * characters in reason become '?'). Returns its length (NUL-terminated in
 * out), or -ENOSPC if cap is too small, -EINVAL for a status outside
 * 100..599. */
int http1_error_response(int status, const char *reason, char *out,
    size_t cap);

/* Standard reason phrase for status ("Not Found"), or "Unknown". */
const char *http1_status_text(int status);

/* Creates an observer of one direction. Returns 0 and sets *out, -EINVAL or
 * -ENOMEM. */
int http1_obs_new(struct http1_obs **out, enum http1_obs_dir dir);
/* NULL is a no-op. */
void http1_obs_free(struct http1_obs *o);

/* Response observers: a request with this method went out (in order), so
 * HEAD answers have no body and a 2xx to CONNECT switches to raw. At most 64
 * may wait; beyond that the observer stops. */
void http1_obs_request(struct http1_obs *o, const char *method);

/* Feeds bytes that were passed on; returns one event, like http1_req_feed:
 * HTTP1_HEAD (requests: method, path, upgrade; responses: status; interim
 * 1xx answers are not reported), HTTP1_END (status, body_bytes, bytes,
 * keep_alive; requests: upgrade), HTTP1_UPGRADE (responses: 101 or 2xx to
 * CONNECT; the observer stops, later bytes are raw), HTTP1_ERROR (garbage;
 * the observer stops), HTTP1_AGAIN. A stopped observer uses all input and
 * returns HTTP1_AGAIN. */
enum http1_kind http1_obs_feed(struct http1_obs *o, const uint8_t *in,
    size_t len, struct http1_ev *ev);

/* Observers: `cb` receives each span of message body as the peer sent it
 * decoded (chunk framing removed), during http1_obs_feed(); NULL stops it.
 * The bytes are the caller's input: copy what must outlive the call. */
typedef void http1_obs_body_cb(void *arg, const uint8_t *p, size_t len);
void http1_obs_set_body(struct http1_obs *o, http1_obs_body_cb *cb,
    void *arg);

/* The stream ended. Returns HTTP1_END for a response delimited by close,
 * HTTP1_ERROR with the partial counts if a message was cut short, or
 * HTTP1_AGAIN if none was in progress. The observer stops. */
enum http1_kind http1_obs_eof(struct http1_obs *o, struct http1_ev *ev);

#endif
