#include "mux.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"

#define MUX_IN_READ     (256u * 1024)            /* read granularity */
#define MUX_CTRL_SLACK  (256u * 1024)           /* output room kept for control frames */
#define MUX_SPLICE_MIN  (32u * 1024)            /* DATA worth moving without a copy */
#define MUX_MUST_SLACK  (256u * 1024)           /* room past the cap for FIN and RST */

struct mux_link {
	struct mux_link *prev, *next;
};

struct mux_stream {
	struct mux *m;
	struct mux_stream *hnext;               /* hash chain */
	struct mux_link blk;                    /* in m->blocked while waiting */
	void *data;
	uint32_t id;
	int64_t credit;                         /* bytes we may still send */
	uint32_t recv_left;                     /* bytes the peer may still send */
	uint32_t unacked;                       /* consumed, credit not yet returned */
	unsigned fin_sent:1, fin_recv:1, reset:1, by_peer:1;
};

struct mux {
	enum mux_role role;
	struct mux_conf conf;
	const struct mux_callbacks *cb;
	void *data;
	struct buf in, out;
	size_t out_cap;                         /* hard cap of the output buffer */
	struct mux_stream **tab;                /* hash by id */
	size_t tab_size, nstreams, npeer;
	uint32_t next_id, last_peer_id;
	uint32_t peer_window, peer_max_payload;
	struct mux_link blocked;
	struct mux_stream *resv;                /* stream inside data_begin/commit */
	uint32_t data_left;                     /* payload of the DATA frame in progress */
	uint32_t data_id;                       /* its stream (0: discard it) */
	bool big_data;                          /* the last DATA frame was large */
	bool got_settings, peer_goaway, dead, freeing;
	bool broken;                            /* a FIN or RST found no room */
	bool window_owed;                       /* a WINDOW found no room */
	char err[160];
};

static void
link_init(struct mux_link *l)
{
	l->prev = l->next = l;
}

static bool
link_linked(const struct mux_link *l)
{
	return l->next != l;
}

static void
link_remove(struct mux_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	link_init(l);
}

static void
link_append(struct mux_link *head, struct mux_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

#define STREAM_OF(l) ((struct mux_stream *)((char *)(l) - offsetof(struct mux_stream, blk)))

void
mux_conf_default(struct mux_conf *c)
{
	c->window = MUX_DEFAULT_WINDOW;
	c->max_frame = 256u * 1024;
	c->out_high = 512u * 1024;
	c->max_streams = 4096;
}

static void mux_wake_blocked(struct mux *m);

static int
mux_emit(struct mux *m, enum frame_type type, uint32_t id, const void *p,
    size_t len)
{
	struct iovec io;
	bool was_empty = buf_len(&m->out) == 0;

	io = buf_reserve(&m->out, FRAME_HDR_LEN + len, m->out_cap);
	if (io.iov_base == NULL)
		return -ENOMEM;
	frame_header(io.iov_base, type, id, (uint32_t)len);
	if (len)
		memcpy((uint8_t *)io.iov_base + FRAME_HDR_LEN, p, len);
	buf_commit(&m->out, FRAME_HDR_LEN + len);
	if (was_empty && m->cb->on_output != NULL)
		m->cb->on_output(m);
	return 0;
}

/* FIN and RST must never be dropped: a stream whose end is lost hangs on
 * the other side for good. They may go past the hard cap by MUX_MUST_SLACK
 * (each stream sends at most one of each, so this is plenty while the peer
 * reads at all); past that the peer has stopped reading, and the session is
 * marked broken: mux_rcommit() and mux_ping() fail from then on, so the
 * owner closes it with mux_error()'s reason. */
static void
mux_emit_must(struct mux *m, enum frame_type type, uint32_t id,
    const void *p, size_t len)
{
	struct iovec io;
	bool was_empty = buf_len(&m->out) == 0;

	if (m->broken)
		return;
	if (mux_emit(m, type, id, p, len) == 0)
		return;
	io = buf_reserve(&m->out, FRAME_HDR_LEN + len, m->out_cap +
	    MUX_MUST_SLACK);
	if (io.iov_base == NULL) {
		m->broken = true;
		snprintf(m->err, sizeof(m->err), "the peer stopped reading: %s "
		    "for stream %u found the output over its cap (%zu bytes "
		    "unsent)", type == FRAME_FIN ? "FIN" : "RST", id,
		    buf_len(&m->out));
		return;
	}
	frame_header(io.iov_base, type, id, (uint32_t)len);
	if (len)
		memcpy((uint8_t *)io.iov_base + FRAME_HDR_LEN, p, len);
	buf_commit(&m->out, FRAME_HDR_LEN + len);
	if (was_empty && m->cb->on_output != NULL)
		m->cb->on_output(m);
}

struct mux *
mux_new(enum mux_role role, const struct mux_conf *c,
    const struct mux_callbacks *cb, void *data)
{
	struct frame_settings fs;
	uint8_t p[16];
	struct mux *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->role = role;
	if (c != NULL)
		m->conf = *c;
	else
		mux_conf_default(&m->conf);
	if (m->conf.window < MUX_MIN_WINDOW)
		m->conf.window = MUX_MIN_WINDOW;
	if (m->conf.window > MUX_MAX_WINDOW)
		m->conf.window = MUX_MAX_WINDOW;
	if (m->conf.max_frame == 0 || m->conf.max_frame > FRAME_MAX_PAYLOAD)
		m->conf.max_frame = FRAME_MAX_PAYLOAD;
	m->out_cap = m->conf.out_high + FRAME_HDR_LEN + FRAME_MAX_PAYLOAD +
	    MUX_CTRL_SLACK;
	m->cb = cb;
	m->data = data;
	m->next_id = role == MUX_SERVER ? 2 : 1;
	m->peer_window = MUX_MIN_WINDOW;
	m->peer_max_payload = 16u * 1024;
	link_init(&m->blocked);
	m->tab_size = 64;
	if ((m->tab = calloc(m->tab_size, sizeof(*m->tab))) == NULL) {
		free(m);
		return NULL;
	}
	fs.version = MUX_VERSION;
	fs.window = m->conf.window;
	fs.max_payload = FRAME_MAX_PAYLOAD;
	if (mux_emit(m, FRAME_SETTINGS, 0, p, frame_settings_encode(p, &fs)) != 0) {
		free(m->tab);
		free(m);
		return NULL;
	}
	return m;
}

static void
mux_destroy(struct mux *m)
{
	buf_fini(&m->in);
	buf_fini(&m->out);
	free(m->tab);
	free(m);
}

void *
mux_data(const struct mux *m)
{
	return m->data;
}

const char *
mux_error(const struct mux *m)
{
	return m->err[0] ? m->err : "no error";
}

size_t
mux_nstreams(const struct mux *m)
{
	return m->nstreams;
}

bool
mux_peer_goaway(const struct mux *m)
{
	return m->peer_goaway;
}

/* --- stream table ------------------------------------------------------ */

static struct mux_stream *
mux_find(struct mux *m, uint32_t id)
{
	struct mux_stream *s;

	for (s = m->tab[id & (m->tab_size - 1)]; s != NULL; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static void
mux_grow(struct mux *m)
{
	struct mux_stream **nt, *s, *n;
	size_t i, nsize = m->tab_size * 2;

	if ((nt = calloc(nsize, sizeof(*nt))) == NULL)
		return;         /* keep the old table: longer chains, still right */
	for (i = 0; i < m->tab_size; i++) {
		for (s = m->tab[i]; s != NULL; s = n) {
			n = s->hnext;
			s->hnext = nt[s->id & (nsize - 1)];
			nt[s->id & (nsize - 1)] = s;
		}
	}
	free(m->tab);
	m->tab = nt;
	m->tab_size = nsize;
}

static struct mux_stream *
mux_stream_new(struct mux *m, uint32_t id)
{
	struct mux_stream *s;

	if (m->nstreams >= m->tab_size)
		mux_grow(m);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->m = m;
	s->id = id;
	s->credit = m->peer_window;
	s->recv_left = m->conf.window;
	link_init(&s->blk);
	s->hnext = m->tab[id & (m->tab_size - 1)];
	m->tab[id & (m->tab_size - 1)] = s;
	m->nstreams++;
	return s;
}

static void
mux_unhash(struct mux *m, struct mux_stream *s)
{
	struct mux_stream **pp = &m->tab[s->id & (m->tab_size - 1)];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	}
	m->nstreams--;
	if (s->by_peer)
		m->npeer--;
}

/* --- input ------------------------------------------------------------- */

static int
mux_fail(struct mux *m, const char *why, uint32_t id)
{
	snprintf(m->err, sizeof(m->err), "%s (stream %u)", why, id);
	return -EPROTO;
}

struct iovec
mux_rbuf(struct mux *m)
{
	return buf_reserve(&m->in, MUX_IN_READ,
	    FRAME_HDR_LEN + FRAME_MAX_PAYLOAD + MUX_IN_READ);
}

static void
mux_peer_reset(struct mux_stream *s, int code, const char *reason)
{
	s->reset = 1;
	if (link_linked(&s->blk))
		link_remove(&s->blk);
	if (s->m->cb->on_reset != NULL)
		s->m->cb->on_reset(s, code, reason);
}

static int
mux_on_open(struct mux *m, const struct frame *f)
{
	struct mux_stream *s;
	uint8_t p[FRAME_REASON_MAX + 16];
	bool even = (f->stream & 1) == 0;

	/* the peer opens ids of its own parity, increasing */
	if (f->stream == 0 || even != (m->role == MUX_CLIENT) ||
	    f->stream <= m->last_peer_id)
		return mux_fail(m, "bad stream id in OPEN", f->stream);
	m->last_peer_id = f->stream;
	if (m->npeer >= m->conf.max_streams || m->dead) {
		mux_emit_must(m, FRAME_RST, f->stream, p,
		    frame_reason_encode(p, MUX_RST_LIMIT, "too many streams"));
		return 0;
	}
	if ((s = mux_stream_new(m, f->stream)) == NULL) {
		mux_emit_must(m, FRAME_RST, f->stream, p,
		    frame_reason_encode(p, MUX_RST_LIMIT, "out of memory"));
		return 0;
	}
	s->by_peer = 1;
	m->npeer++;
	if (m->cb->on_open == NULL || m->cb->on_open(m, s, f->payload, f->len) != 0) {
		mux_stream_reset(s, MUX_RST_REFUSED, "stream refused");
		mux_stream_close(s);
	}
	return 0;
}

static void
mux_wake(struct mux_stream *s)
{
	struct mux *m = s->m;

	if (link_linked(&s->blk) && s->credit > 0 &&
	    buf_len(&m->out) < m->conf.out_high) {
		link_remove(&s->blk);
		if (m->cb->on_writable != NULL)
			m->cb->on_writable(s);
	}
}

static int
mux_dispatch(struct mux *m, const struct frame *f)
{
	struct mux_stream *s = NULL;
	char reason[FRAME_REASON_MAX + 1];
	struct frame_settings fs;
	uint16_t code;
	uint32_t v;
	uint64_t u;

	if (f->type == FRAME_SETTINGS) {
		if (f->stream != 0 || frame_settings_decode(f, &fs) != 0)
			return mux_fail(m, "bad SETTINGS", f->stream);
		if (fs.version != MUX_VERSION) {
			snprintf(m->err, sizeof(m->err),
			    "peer speaks mux version %u, this side %u", fs.version,
			    MUX_VERSION);
			return -EPROTO;
		}
		if (fs.window < MUX_MIN_WINDOW || fs.window > MUX_MAX_WINDOW ||
		    fs.max_payload < 1024)
			return mux_fail(m, "SETTINGS out of range", 0);
		if (m->got_settings)
			return mux_fail(m, "SETTINGS sent twice", 0);
		m->got_settings = true;
		/* streams opened before SETTINGS assumed the minimum window */
		{
			int64_t delta = (int64_t)fs.window - m->peer_window;
			size_t i;

			for (i = 0; i < m->tab_size; i++)
				for (s = m->tab[i]; s != NULL; s = s->hnext)
					s->credit += delta;
		}
		m->peer_window = fs.window;
		m->peer_max_payload = fs.max_payload;
		/* writers that ran out of the assumed window have credit now */
		mux_wake_blocked(m);
		return 0;
	}
	if (!m->got_settings)
		return mux_fail(m, "first frame is not SETTINGS", f->stream);

	switch (f->type) {
	case FRAME_CTRL:
		if (f->stream != 0)
			return mux_fail(m, "CTRL on a stream", f->stream);
		if (m->cb->on_control != NULL)
			m->cb->on_control(m, f->payload, f->len);
		return 0;
	case FRAME_PING:
		if (f->stream != 0 || f->len != 8)
			return mux_fail(m, "bad PING", f->stream);
		mux_emit(m, FRAME_PONG, 0, f->payload, 8);
		return 0;
	case FRAME_PONG:
		if (f->stream != 0 || frame_u64_decode(f, &u) != 0)
			return mux_fail(m, "bad PONG", f->stream);
		if (m->cb->on_pong != NULL)
			m->cb->on_pong(m, u);
		return 0;
	case FRAME_GOAWAY:
		if (f->stream != 0 ||
		    frame_reason_decode(f, &code, reason, sizeof(reason)) != 0)
			return mux_fail(m, "bad GOAWAY", f->stream);
		m->peer_goaway = true;
		if (m->cb->on_goaway != NULL)
			m->cb->on_goaway(m, code, reason);
		return 0;
	case FRAME_OPEN:
		return mux_on_open(m, f);
	default:
		break;
	}

	if (f->stream == 0)
		return mux_fail(m, "stream frame on stream 0", 0);
	/* frames for streams the owner already closed are dropped */
	if ((s = mux_find(m, f->stream)) == NULL || s->reset)
		return 0;

	switch (f->type) {
	case FRAME_WINDOW:
		if (frame_u32_decode(f, &v) != 0 || v == 0)
			return mux_fail(m, "bad WINDOW", f->stream);
		s->credit += v;
		if (s->credit > (int64_t)MUX_MAX_WINDOW * 2)
			return mux_fail(m, "WINDOW overflow", f->stream);
		mux_wake(s);
		return 0;
	case FRAME_FIN:
		if (s->fin_recv)
			return 0;
		s->fin_recv = 1;
		if (m->cb->on_fin != NULL)
			m->cb->on_fin(s);
		return 0;
	case FRAME_RST:
		if (frame_reason_decode(f, &code, reason, sizeof(reason)) != 0)
			return mux_fail(m, "bad RST", f->stream);
		mux_peer_reset(s, code, reason);
		return 0;
	default:
		return mux_fail(m, "unexpected frame type", f->stream);
	}
}

/* A DATA frame's header arrived: check it and account the whole payload
 * against the window now; the payload itself is passed on piecewise, as
 * it arrives (mux_data_chunk), so DATA never waits in the input buffer. */
static int
mux_data_begin(struct mux *m, const struct frame *f)
{
	struct mux_stream *s;

	if (!m->got_settings)
		return mux_fail(m, "first frame is not SETTINGS", f->stream);
	if (f->stream == 0)
		return mux_fail(m, "stream frame on stream 0", 0);
	m->data_left = f->len;
	m->data_id = 0;                 /* 0: discard */
	if ((s = mux_find(m, f->stream)) == NULL || s->reset)
		return 0;
	if (s->fin_recv)
		return mux_fail(m, "DATA after FIN", f->stream);
	if (f->len > s->recv_left) {
		mux_stream_reset(s, MUX_RST_PROTOCOL, "flow control window exceeded");
		mux_peer_reset(s, MUX_RST_PROTOCOL,
		    "peer exceeded the flow control window");
		return 0;
	}
	s->recv_left -= f->len;
	m->data_id = f->stream;
	m->big_data = f->len >= MUX_SPLICE_MIN;
	return 0;
}

struct mux_stream *
mux_rpayload(struct mux *m, size_t *left)
{
	struct mux_stream *s;

	*left = 0;
	if (m->data_left == 0 || buf_len(&m->in) != 0 || m->data_id == 0 ||
	    (s = mux_find(m, m->data_id)) == NULL || s->reset)
		return NULL;
	*left = m->data_left;
	return s;
}

void
mux_rskip(struct mux *m, size_t n)
{
	m->data_left -= (uint32_t)(n < m->data_left ? n : m->data_left);
}

size_t
mux_rwant(const struct mux *m)
{
	/* at a frame boundary after bulk: just the header, the payload may
	 * then move without a copy */
	if (m->big_data && m->data_left == 0 && buf_len(&m->in) < FRAME_HDR_LEN)
		return FRAME_HDR_LEN - buf_len(&m->in);
	return MUX_IN_READ;
}

static void
mux_data_chunk(struct mux *m, const uint8_t *p, size_t len)
{
	struct mux_stream *s;

	/* the owner may have closed or reset it since the last piece */
	if (m->data_id == 0 || (s = mux_find(m, m->data_id)) == NULL || s->reset)
		return;
	if (m->cb->on_data != NULL)
		m->cb->on_data(s, p, len);
}

int
mux_rcommit(struct mux *m, size_t n)
{
	struct frame f;
	size_t len, k;
	int rc;

	buf_commit(&m->in, n);
	while ((len = buf_len(&m->in)) > 0) {
		if (m->broken)
			return -EPROTO;
		if (m->data_left > 0) {
			k = len < m->data_left ? len : m->data_left;
			m->data_left -= (uint32_t)k;
			mux_data_chunk(m, buf_data(&m->in), k);
			buf_consume(&m->in, k);
			continue;
		}
		rc = frame_peek(&f, buf_data(&m->in), len, FRAME_MAX_PAYLOAD);
		if (rc < 0)
			return mux_fail(m, "malformed frame", 0);
		if (rc == 0)
			break;
		if (f.type == FRAME_DATA) {
			if (mux_data_begin(m, &f) != 0)
				return -EPROTO;
			buf_consume(&m->in, FRAME_HDR_LEN);
			continue;
		}
		if (len < FRAME_HDR_LEN + f.len)
			break;
		/* consume after dispatch: the payload points into m->in, and
		 * callbacks never read from the input buffer themselves */
		f.payload = buf_data(&m->in) + FRAME_HDR_LEN;
		if (mux_dispatch(m, &f) != 0)
			return -EPROTO;
		buf_consume(&m->in, FRAME_HDR_LEN + f.len);
	}
	return m->broken ? -EPROTO : 0;
}

/* --- output ------------------------------------------------------------ */

struct iovec
mux_wbuf(struct mux *m)
{
	return (struct iovec){ buf_data(&m->out), buf_len(&m->out) };
}

size_t
mux_wpending(const struct mux *m)
{
	return buf_len(&m->out);
}

/* Sends the WINDOW frames mux_stream_consumed() could not queue: the owner
 * may have passed on everything already, and without them the peer stays
 * out of credit for good. */
static void
mux_flush_windows(struct mux *m)
{
	struct mux_stream *s;
	uint8_t p[4];
	size_t i;

	for (i = 0; i < m->tab_size; i++) {
		for (s = m->tab[i]; s != NULL; s = s->hnext) {
			if (s->reset || s->fin_recv ||
			    s->unacked < m->conf.window / 4)
				continue;
			frame_put32(p, s->unacked);
			if (mux_emit(m, FRAME_WINDOW, s->id, p, 4) != 0)
				return;
			s->recv_left += s->unacked;
			s->unacked = 0;
		}
	}
	m->window_owed = false;
}

void
mux_wconsume(struct mux *m, size_t n)
{
	buf_consume(&m->out, n);
	if (m->window_owed && !m->dead)
		mux_flush_windows(m);
	if (buf_len(&m->out) > m->conf.out_high / 2)
		return;
	mux_wake_blocked(m);
}

static void
mux_wake_blocked(struct mux *m)
{
	struct mux_link local, *l;

	if (!link_linked(&m->blocked))
		return;
	/* Wake blocked writers, each at most once; those that block again
	 * go back on m->blocked. */
	link_init(&local);
	local.next = m->blocked.next;
	local.prev = m->blocked.prev;
	local.next->prev = &local;
	local.prev->next = &local;
	link_init(&m->blocked);
	while ((l = local.next) != &local) {
		struct mux_stream *s = STREAM_OF(l);

		link_remove(l);
		if (s->credit <= 0 || buf_len(&m->out) >= m->conf.out_high) {
			link_append(&m->blocked, l);
			continue;
		}
		if (m->cb->on_writable != NULL)
			m->cb->on_writable(s);
	}
}

int
mux_control(struct mux *m, const void *p, size_t len)
{
	if (len > 64u * 1024)
		return -EMSGSIZE;
	return mux_emit(m, FRAME_CTRL, 0, p, len);
}

int
mux_ping(struct mux *m, uint64_t now_us)
{
	uint8_t p[8];

	if (m->broken)
		return -EPIPE;
	frame_put32(p, (uint32_t)(now_us >> 32));
	frame_put32(p + 4, (uint32_t)now_us);
	return mux_emit(m, FRAME_PING, 0, p, 8);
}

int
mux_goaway(struct mux *m, int code, const char *reason)
{
	uint8_t p[FRAME_REASON_MAX + 16];

	return mux_emit(m, FRAME_GOAWAY, 0, p,
	    frame_reason_encode(p, (uint16_t)code, reason));
}

/* --- streams ----------------------------------------------------------- */

int
mux_stream_open(struct mux *m, const void *hdr, size_t len,
    struct mux_stream **out)
{
	struct mux_stream *s;

	if (len > 16u * 1024)
		return -EMSGSIZE;
	if (m->peer_goaway || m->dead || m->next_id > 0x7fffffffu)
		return -EAGAIN;
	if ((s = mux_stream_new(m, m->next_id)) == NULL)
		return -ENOMEM;
	if (mux_emit(m, FRAME_OPEN, s->id, hdr, len) != 0) {
		mux_unhash(m, s);
		free(s);
		return -ENOMEM;
	}
	m->next_id += 2;
	*out = s;
	return 0;
}

static size_t
mux_room(struct mux_stream *s)
{
	struct mux *m = s->m;
	size_t room, out = buf_len(&m->out);

	if (s->reset || s->fin_sent || m->dead || s->credit <= 0 ||
	    out >= m->conf.out_high) {
		if (!s->reset && !s->fin_sent && !link_linked(&s->blk))
			link_append(&m->blocked, &s->blk);
		return 0;
	}
	room = (size_t)s->credit;
	if (room > m->conf.max_frame)
		room = m->conf.max_frame;
	if (room > m->peer_max_payload)
		room = m->peer_max_payload;
	return room;
}

void *
mux_stream_data_begin(struct mux_stream *s, size_t *room)
{
	struct mux *m = s->m;
	struct iovec io;
	size_t r = mux_room(s);

	*room = 0;
	if (r == 0)
		return NULL;
	io = buf_reserve(&m->out, FRAME_HDR_LEN + r, m->out_cap);
	if (io.iov_base == NULL)
		return NULL;
	m->resv = s;
	*room = r;
	return (uint8_t *)io.iov_base + FRAME_HDR_LEN;
}

void
mux_stream_data_commit(struct mux_stream *s, size_t n)
{
	struct mux *m = s->m;
	bool was_empty = buf_len(&m->out) == 0;

	m->resv = NULL;
	if (n == 0)
		return;
	frame_header(m->out.base + m->out.wr, FRAME_DATA, s->id, (uint32_t)n);
	buf_commit(&m->out, FRAME_HDR_LEN + n);
	s->credit -= (int64_t)n;
	if (was_empty && m->cb->on_output != NULL)
		m->cb->on_output(m);
}

size_t
mux_stream_write(struct mux_stream *s, const void *p, size_t len)
{
	size_t done = 0, room, n;
	uint8_t *dst;

	while (done < len) {
		if ((dst = mux_stream_data_begin(s, &room)) == NULL)
			break;
		n = len - done < room ? len - done : room;
		memcpy(dst, (const uint8_t *)p + done, n);
		mux_stream_data_commit(s, n);
		done += n;
	}
	return done;
}

void
mux_stream_fin(struct mux_stream *s)
{
	if (s->fin_sent || s->reset || s->m->dead)
		return;
	s->fin_sent = 1;
	if (link_linked(&s->blk))
		link_remove(&s->blk);
	mux_emit_must(s->m, FRAME_FIN, s->id, NULL, 0);
}

void
mux_stream_reset(struct mux_stream *s, int code, const char *reason)
{
	uint8_t p[FRAME_REASON_MAX + 16];

	if (s->reset)
		return;
	s->reset = 1;
	if (link_linked(&s->blk))
		link_remove(&s->blk);
	if (!s->m->dead)
		mux_emit_must(s->m, FRAME_RST, s->id, p,
		    frame_reason_encode(p, (uint16_t)code, reason));
}

void
mux_stream_consumed(struct mux_stream *s, size_t n)
{
	struct mux *m = s->m;
	uint8_t p[4];

	if (s->reset || s->fin_recv || m->dead)
		return;
	s->unacked += (uint32_t)n;
	/* Return credit in chunks of a quarter window: few WINDOW frames,
	 * and the sender never runs dry while we keep up. */
	if (s->unacked >= m->conf.window / 4) {
		frame_put32(p, s->unacked);
		if (mux_emit(m, FRAME_WINDOW, s->id, p, 4) == 0) {
			s->recv_left += s->unacked;
			s->unacked = 0;
		} else {
			m->window_owed = true;
		}
	}
}

void
mux_stream_close(struct mux_stream *s)
{
	struct mux *m = s->m;

	if (!s->reset && !(s->fin_sent && s->fin_recv))
		mux_stream_reset(s, MUX_RST_CANCEL, "closed");
	if (link_linked(&s->blk))
		link_remove(&s->blk);
	mux_unhash(m, s);
	free(s);
	if (m->dead && !m->freeing && m->nstreams == 0)
		mux_destroy(m);
}

void
mux_free(struct mux *m)
{
	struct mux_stream *s;
	uint32_t *ids;
	size_t i, n = 0;

	if (m == NULL)
		return;
	m->dead = true;
	m->freeing = true;
	/* on_reset may close any handles: collect ids, then look each up
	 * again before notifying it. */
	if (m->nstreams > 0 &&
	    (ids = calloc(m->nstreams, sizeof(*ids))) != NULL) {
		for (i = 0; i < m->tab_size; i++)
			for (s = m->tab[i]; s != NULL; s = s->hnext)
				if (!s->reset)
					ids[n++] = s->id;
		for (i = 0; i < n; i++) {
			if ((s = mux_find(m, ids[i])) == NULL || s->reset)
				continue;
			s->reset = 1;
			if (link_linked(&s->blk))
				link_remove(&s->blk);
			if (m->cb->on_reset != NULL)
				m->cb->on_reset(s, MUX_RST_SESSION_GONE,
				    "tunnel session closed");
		}
		free(ids);
	}
	m->freeing = false;
	if (m->nstreams == 0)
		mux_destroy(m);
}

uint32_t
mux_stream_id(const struct mux_stream *s)
{
	return s->id;
}

struct mux *
mux_stream_mux(const struct mux_stream *s)
{
	return s->m;
}

void
mux_stream_set_data(struct mux_stream *s, void *data)
{
	s->data = data;
}

void *
mux_stream_data(const struct mux_stream *s)
{
	return s->data;
}

size_t
mux_stream_room(struct mux_stream *s)
{
	struct mux *m = s->m;
	size_t out = buf_len(&m->out), room, avail, frame, hdrs;

	if ((frame = mux_room(s)) == 0)
		return 0;
	/* mux_stream_write() starts a frame while the output is under
	 * out_high: promise only what fits below it with every frame's
	 * header counted (frame is the largest payload one frame carries) */
	avail = m->conf.out_high - out;
	if (frame > m->peer_max_payload)
		frame = m->peer_max_payload;
	hdrs = FRAME_HDR_LEN * (avail / m->conf.max_frame + 1);
	room = avail > hdrs ? avail - hdrs : 0;
	if (room > (size_t)s->credit)
		room = (size_t)s->credit;
	/* one frame is always taken while the output is under out_high */
	if (room < frame)
		room = frame;
	return room;
}

size_t
mux_stream_credit(const struct mux_stream *s)
{
	return s->credit > 0 ? (size_t)s->credit : 0;
}
