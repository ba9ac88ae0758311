/* client_stream — one public connection: a mux stream spliced to a
 * non-blocking TCP connection to the local service.
 *
 * Bytes from the tunnel (on_data) are written straight to the local socket;
 * what it does not take waits in a buffer bounded by the stream's window,
 * and credit goes back to the node only as bytes leave for the local
 * socket. Bytes from the local service are read straight into the mux's
 * output buffer, and only while the stream has credit and the output is
 * below its watermark. Half-closes pass both ways; the buffer is allocated
 * on demand and released when it drains, so an idle connection costs one
 * small struct. The owner (the session) forwards the mux callbacks here. */
#ifndef WARREN_CLIENT_STREAM_H
#define WARREN_CLIENT_STREAM_H

#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

struct ev_loop;
struct mux_stream;
struct sock_addr;
struct client_httplog_entry;
struct client_httplog_tap;
struct client_stream;

/* What a stream tells its owner. */
struct client_stream_owner {
	/* Data was queued in the mux output: write it now. */
	void (*flush)(void *owner);
	/* A stream was freed (its mux handle is closed). */
	void (*gone)(void *owner);
	/* An HTTP exchange completed (only with conf.http_log). */
	void (*request)(void *owner, void *tag, const char *peer,
	    const struct client_httplog_entry *e);
};

struct client_stream_conf {
	const struct sock_addr *local;  /* where the local service listens */
	const char *local_text;         /* same, formatted, for messages */
	const char *peer;               /* public client, copied if http_log */
	void *tag;                      /* owner's pointer, given to request() */
	int http_log;                   /* observe HTTP for the request log */
	const struct client_httplog_tap *tap;   /* and capture it (needs
	                                   http_log; NULL: none) */
	void *tap_arg;
	const char *tunnel;             /* tunnel name for the tap (outlives
	                                   the stream, like local_text) */
	size_t window;                  /* receive window: cap of the buffer */
	int proxy_protocol;             /* 1 or 2: PROXY header to the local
	                                   service first (0: none) */
	uint32_t connect_timeout_ms;    /* local connect; then RST(TIMEOUT) with
	                                   a reason (0: 10 s) */
};

/* Starts the local connect for mux stream `ms` and takes the handle: the
 * stream closes it when it ends. Returns 0 and sets *out; or -errno (the
 * connect failed at once; the handle is still the caller's), with the
 * sentence for the RST written into reason[len]. */
int client_stream_new(struct client_stream **out, struct ev_loop *loop,
    struct mux_stream *ms, const struct client_stream_conf *conf,
    const struct client_stream_owner *ow, void *owner, char *reason,
    size_t len);

/* The mux callbacks for this stream. */
void client_stream_on_data(struct client_stream *cs, const uint8_t *p,
    size_t len);
void client_stream_on_fin(struct client_stream *cs);
void client_stream_on_reset(struct client_stream *cs, int code,
    const char *reason);
void client_stream_on_writable(struct client_stream *cs);

/* Zero-copy path (plain tunnel link): moves up to `left` payload bytes
 * from the tunnel socket `from` to the local service through a pipe.
 * Returns the bytes moved (> 0), 0 when the stream cannot take them this
 * way (read them as usual), -EAGAIN when the socket has nothing now, or
 * -errno (-EPIPE: the link closed). cs may be freed by a failed write. */
ssize_t client_stream_splice_in(struct client_stream *cs, int from,
    size_t left);

/* Closes the local connection and the mux handle (RST unless finished both
 * ways) and frees the stream. NULL is a no-op. */
void client_stream_free(struct client_stream *cs);

#endif
