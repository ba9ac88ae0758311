/* mux — many streams over one byte transport, with per-stream credit.
 *
 * Sans-IO: the owner reads transport bytes into mux_rbuf() and calls
 * mux_rcommit(), which decodes frames and fires callbacks; it writes what
 * mux_wbuf() holds and calls mux_wconsume(). The same code runs over plain
 * TCP, TLS, or a mesh link, and under unit tests with no sockets at all.
 *
 * Flow control: each side grants the other `window` bytes of credit per
 * stream (SETTINGS, first frame each way). A sender never sends more than its
 * credit; a receiver hands data to on_data() and returns credit (WINDOW
 * frames) only as the owner reports bytes passed on with
 * mux_stream_consumed(). So a reader that stops holds at most `window` bytes
 * and never stalls other streams. The output buffer has a high watermark:
 * writers get no room above it and are told by on_writable() when it drains.
 *
 * Stream ids: the side created with MUX_SERVER opens even ids, MUX_CLIENT odd.
 * Stream 0 carries control messages (mux_control / on_control).
 *
 * Ownership: the owner holds a stream handle from mux_stream_open() or
 * on_open() until it calls mux_stream_close(); the mux never frees a stream
 * behind the owner's back. After on_reset() no more callbacks come for it.
 * Callbacks must not call mux_free(); defer it. */
#ifndef WARREN_MUX_H
#define WARREN_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define MUX_VERSION             1
#define MUX_DEFAULT_WINDOW      (1u << 20)      /* 1 MiB per stream */
#define MUX_MIN_WINDOW          (16u << 10)
#define MUX_MAX_WINDOW          (64u << 20)

/* RST codes (also used as the `code` of on_reset). */
enum mux_rst {
	MUX_RST_CANCEL = 1,             /* closed by its owner */
	MUX_RST_REFUSED = 2,            /* local service refused the connection */
	MUX_RST_NO_TUNNEL = 3,          /* no such tunnel on this session */
	MUX_RST_PROTOCOL = 4,           /* peer broke the protocol on this stream */
	MUX_RST_SESSION_GONE = 5,       /* the session closed under the stream */
	MUX_RST_TIMEOUT = 6,
	MUX_RST_LIMIT = 7,              /* too many streams */
	MUX_RST_FORBIDDEN = 8,          /* the tunnel refuses the client's address */
	MUX_RST_AUTH = 9,               /* the tunnel wants HTTP basic auth */
};

enum mux_role { MUX_CLIENT = 1, MUX_SERVER = 2 };

struct mux;
struct mux_stream;

struct mux_callbacks {
	/* Peer opened a stream with OPEN payload hdr[len]. Return 0 to keep it
	 * (the owner now holds s), -1 to refuse (the mux resets it). */
	int (*on_open)(struct mux *m, struct mux_stream *s, const uint8_t *hdr,
	    size_t len);
	/* len bytes arrived on s. The owner takes them all (writes them on, or
	 * keeps a copy: bounded by the window) and calls mux_stream_consumed()
	 * as they leave. */
	void (*on_data)(struct mux_stream *s, const uint8_t *p, size_t len);
	/* Peer half-closed s: no more data will come. */
	void (*on_fin)(struct mux_stream *s);
	/* Peer reset s, or the session ended (MUX_RST_SESSION_GONE). */
	void (*on_reset)(struct mux_stream *s, int code, const char *reason);
	/* s may write again (credit came back or the output drained). */
	void (*on_writable)(struct mux_stream *s);
	/* A control message on stream 0. */
	void (*on_control)(struct mux *m, const uint8_t *p, size_t len);
	/* A PONG arrived for our PING: sent_us is the value given to mux_ping(),
	 * so the RTT is now - sent_us. */
	void (*on_pong)(struct mux *m, uint64_t sent_us);
	/* Peer sent GOAWAY: open no new streams; existing ones may finish. */
	void (*on_goaway)(struct mux *m, int code, const char *reason);
	/* The output buffer went from empty to non-empty: start writing. */
	void (*on_output)(struct mux *m);
};

struct mux_conf {
	uint32_t window;                /* receive window per stream we grant */
	uint32_t max_frame;             /* largest DATA payload we send */
	size_t out_high;                /* output high watermark (bytes) */
	uint32_t max_streams;           /* peer-opened streams we accept at once */
};

/* Fills defaults: 1 MiB window, 64 KiB frames, 512 KiB output, 4096 streams. */
void mux_conf_default(struct mux_conf *c);

/* Creates a session and queues our SETTINGS. `cb` must outlive it; `data` is
 * the owner's pointer (mux_data()). Returns NULL on ENOMEM. */
struct mux *mux_new(enum mux_role role, const struct mux_conf *c,
    const struct mux_callbacks *cb, void *data);
/* Resets every open stream with on_reset(MUX_RST_SESSION_GONE) — the owner
 * still closes each handle, before or after — then frees the session once no
 * handles remain. NULL is a no-op. */
void mux_free(struct mux *m);
void *mux_data(const struct mux *m);

/* Input: room to read transport bytes into (at least 4 KiB, NULL base on
 * ENOMEM), then the count read. mux_rcommit returns 0, or -EPROTO after which
 * the owner must close the session (mux_error() says why): a protocol error,
 * or a peer that stopped reading so long that a FIN or RST found no room
 * (mux_ping() then fails with -EPIPE too). */
struct iovec mux_rbuf(struct mux *m);
int mux_rcommit(struct mux *m, size_t n);
const char *mux_error(const struct mux *m);

/* Zero-copy input (splice): while the mux is inside a DATA frame's payload
 * and holds none of it, mux_rpayload() returns the stream it is for (NULL
 * otherwise, or when that stream is gone) and the payload bytes still to
 * come from the transport. The owner may move up to that many bytes from
 * the transport to the stream's destination itself and report them with
 * mux_rskip(); they count as received, and as ever the owner returns their
 * credit with mux_stream_consumed() once they left. After a large DATA frame
 * mux_rwant() asks for just the next frame header, so the next payload
 * can go the same way. */
struct mux_stream *mux_rpayload(struct mux *m, size_t *left);
void mux_rskip(struct mux *m, size_t n);
/* How much the next transport read should ask for at most. */
size_t mux_rwant(const struct mux *m);

/* Output: pending bytes (iov_len 0 when none) and how many were written. */
struct iovec mux_wbuf(struct mux *m);
void mux_wconsume(struct mux *m, size_t n);
/* Bytes waiting in the output buffer. */
size_t mux_wpending(const struct mux *m);

/* Sends a control message on stream 0 (len <= 64 KiB); returns 0 or -ENOMEM. */
int mux_control(struct mux *m, const void *p, size_t len);
/* Sends PING carrying now_us; on_pong echoes it back. */
int mux_ping(struct mux *m, uint64_t now_us);
/* Sends GOAWAY; returns 0 or -ENOMEM. */
int mux_goaway(struct mux *m, int code, const char *reason);
/* True once the peer sent GOAWAY (open no new streams). */
bool mux_peer_goaway(const struct mux *m);
/* Open streams (handles not yet closed). */
size_t mux_nstreams(const struct mux *m);

/* Opens a stream whose OPEN frame carries hdr[len] (<= 16 KiB). Returns 0 and
 * sets *out, or -ENOMEM, -EAGAIN (peer sent GOAWAY or too many streams). */
int mux_stream_open(struct mux *m, const void *hdr, size_t len,
    struct mux_stream **out);
/* Zero-copy write: room for a DATA payload right in the output buffer
 * (min of credit, max_frame and output room); NULL and *room = 0 when the
 * stream must wait for on_writable(). Commit n <= room bytes (0 = cancel)
 * before any other mux call. */
void *mux_stream_data_begin(struct mux_stream *s, size_t *room);
void mux_stream_data_commit(struct mux_stream *s, size_t n);
/* Copying write: sends up to len bytes; returns how many were taken (0 means
 * wait for on_writable()). */
size_t mux_stream_write(struct mux_stream *s, const void *p, size_t len);
/* Half-closes our side (FIN). Idempotent. FIN and RST are queued even past
 * the output's hard cap (by a bounded slack), never dropped; see
 * mux_rcommit() for a peer that reads nothing at all. */
void mux_stream_fin(struct mux_stream *s);
/* Resets the stream with a reason; no more callbacks come for it. */
void mux_stream_reset(struct mux_stream *s, int code, const char *reason);
/* The owner passed n received bytes on: credit goes back to the peer. */
void mux_stream_consumed(struct mux_stream *s, size_t n);
/* Releases the handle. Sends RST(CANCEL) if the stream had not finished both
 * ways and was not reset. The handle is invalid afterwards. */
void mux_stream_close(struct mux_stream *s);

uint32_t mux_stream_id(const struct mux_stream *s);
struct mux *mux_stream_mux(const struct mux_stream *s);
void mux_stream_set_data(struct mux_stream *s, void *data);
void *mux_stream_data(const struct mux_stream *s);
/* Bytes mux_stream_write() takes right now in full (min of credit and
 * output room); 0 registers s for on_writable(). */
size_t mux_stream_room(struct mux_stream *s);
/* Send credit left (may be 0). */
size_t mux_stream_credit(const struct mux_stream *s);

#endif
