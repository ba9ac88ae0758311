/* mux: two sessions wired back to back in memory (no sockets), bytes moved
 * between them in random chunks down to 1 byte. SETTINGS, control messages,
 * open/accept/refuse, byte-exact data both ways, credit flow control with a
 * stopped reader among busy streams, on_writable, half-close, resets, ping,
 * goaway, mux_free with handles closed from inside on_reset, malformed
 * input, and a table of 10000 streams. Deterministic: seeded PRNG. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "mux.h"

/* --- PRNG and data pattern ---------------------------------------------- */

static uint64_t rng_state;

static void
rng_seed(uint64_t s)
{
	rng_state = s ? s : 1;
}

static uint64_t
rng(void)
{
	uint64_t x = rng_state;         /* xorshift64* */

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* 1..max */
static size_t
rng_len(size_t max)
{
	return 1 + (size_t)(rng() % max);
}

/* Stream data is pat[(off + 7919 * id + dir) % PAT_LEN]: cheap to write and
 * to check with memcmp, different per stream and direction. */
#define PAT_LEN 1000003u
static uint8_t *pat;

static void
pat_init(void)
{
	uint64_t save = rng_state;
	size_t i;

	if (pat != NULL)
		return;
	pat = malloc(PAT_LEN + 512 * 1024);
	assert_non_null(pat);
	rng_seed(0xda7a);
	for (i = 0; i < PAT_LEN; i++)
		pat[i] = (uint8_t)(rng() >> 56);
	memcpy(pat + PAT_LEN, pat, 512 * 1024);     /* periodic */
	rng_state = save;
}

/* Pointer to up to 512 KiB of the pattern for (id, dir) at offset off. */
static const uint8_t *
pat_at(uint32_t id, int dir, uint64_t off)
{
	return pat + (off + 7919ull * id + (uint64_t)dir * 104729u) % PAT_LEN;
}

/* --- harness ------------------------------------------------------------- */

struct side;

struct st {                             /* per-stream test state */
	struct side *side;
	struct mux_stream *s;
	uint32_t id;
	uint64_t tx_goal, tx, rx;       /* bytes to send, sent, received */
	uint64_t held;                  /* received, not yet consumed */
	uint64_t held_max;
	bool stop;                      /* reader never consumes */
	bool waiting;                   /* write came back short */
	bool fin_after;                 /* send FIN once tx_goal is written */
	bool fin_sent, closed;
	int fins, resets, writables, reset_code;
	char reset_reason[FRAME_REASON_MAX + 1];
};

struct side {
	struct mux *m;
	const char *name;
	int dir;                        /* pattern direction of what it sends */
	struct side *peer;
	/* on_open */
	int opens;
	bool refuse;
	bool close_in_reset;            /* close the handle inside on_reset */
	bool close_other_in_reset;      /* and the next one too */
	struct st **acc;
	int nacc, capacc;
	struct mux_stream *last_open;
	uint8_t open_hdr[64];
	size_t open_hdr_len;
	/* session events */
	int controls, pongs, goaways, outputs, resets, writables;
	uint8_t ctrl[128];
	size_t ctrl_len;
	uint64_t pong;
	int goaway_code;
	char goaway_reason[FRAME_REASON_MAX + 1];
	/* free-test bookkeeping */
	struct mux_stream **handles;
	int nhandles, caphandles;
	int session_gone;
};

static struct st *
st_new(struct side *sd, struct mux_stream *s)
{
	struct st *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->side = sd;
	t->s = s;
	t->id = mux_stream_id(s);
	mux_stream_set_data(s, t);
	return t;
}

static void
push_handle(struct side *sd, struct mux_stream *s)
{
	if (sd->nhandles == sd->caphandles) {
		sd->caphandles = sd->caphandles ? sd->caphandles * 2 : 16;
		sd->handles = realloc(sd->handles,
		    (size_t)sd->caphandles * sizeof(*sd->handles));
		assert_non_null(sd->handles);
	}
	sd->handles[sd->nhandles++] = s;
}

static void
push_acc(struct side *sd, struct st *t)
{
	if (sd->nacc == sd->capacc) {
		sd->capacc = sd->capacc ? sd->capacc * 2 : 16;
		sd->acc = realloc(sd->acc, (size_t)sd->capacc * sizeof(*sd->acc));
		assert_non_null(sd->acc);
	}
	sd->acc[sd->nacc++] = t;
}

static int
cb_open(struct mux *m, struct mux_stream *s, const uint8_t *hdr, size_t len)
{
	struct side *sd = mux_data(m);
	struct st *t;

	sd->opens++;
	assert_ptr_equal(mux_stream_mux(s), m);
	if (len <= sizeof(sd->open_hdr)) {
		memcpy(sd->open_hdr, hdr, len);
		sd->open_hdr_len = len;
	}
	if (sd->refuse || (len > 0 && hdr[0] == 'R'))
		return -1;
	sd->last_open = s;
	push_handle(sd, s);
	t = st_new(sd, s);
	push_acc(sd, t);
	return 0;
}

static void
cb_data(struct mux_stream *s, const uint8_t *p, size_t len)
{
	struct st *t = mux_stream_data(s);

	assert_non_null(t);
	assert_false(t->closed);
	assert_true(len > 0);
	if (memcmp(p, pat_at(t->id, !t->side->dir, t->rx), len) != 0)
		fail_msg("%s stream %u: %zu bytes at offset %llu differ",
		    t->side->name, t->id, len, (unsigned long long)t->rx);
	t->rx += len;
	t->held += len;
	if (t->held > t->held_max)
		t->held_max = t->held;
}

static void
cb_fin(struct mux_stream *s)
{
	struct st *t = mux_stream_data(s);

	t->fins++;
}

static void
side_forget(struct side *sd, struct mux_stream *s)
{
	int i;

	for (i = 0; i < sd->nhandles; i++)
		if (sd->handles[i] == s)
			sd->handles[i] = NULL;
}

static void
cb_reset(struct mux_stream *s, int code, const char *reason)
{
	struct st *t = mux_stream_data(s);
	struct side *sd = t != NULL ? t->side : NULL;
	int i;

	assert_non_null(t);
	assert_non_null(reason);
	t->resets++;
	t->reset_code = code;
	snprintf(t->reset_reason, sizeof(t->reset_reason), "%s", reason);
	sd->resets++;
	if (code == MUX_RST_SESSION_GONE)
		sd->session_gone++;
	if (!sd->close_in_reset)
		return;
	if (sd->close_other_in_reset) {
		/* close some other still-open handle first */
		for (i = 0; i < sd->nhandles; i++) {
			struct mux_stream *o = sd->handles[i];

			if (o != NULL && o != s) {
				struct st *ot = mux_stream_data(o);

				side_forget(sd, o);
				ot->closed = true;
				mux_stream_close(o);
				break;
			}
		}
	}
	side_forget(sd, s);
	t->closed = true;
	mux_stream_close(s);
}

static void
cb_writable(struct mux_stream *s)
{
	struct st *t = mux_stream_data(s);

	assert_non_null(t);
	assert_false(t->closed);
	t->writables++;
	t->side->writables++;
	t->waiting = false;
}

static void
cb_control(struct mux *m, const uint8_t *p, size_t len)
{
	struct side *sd = mux_data(m);

	sd->controls++;
	sd->ctrl_len = len;
	if (len <= sizeof(sd->ctrl))
		memcpy(sd->ctrl, p, len);
}

static void
cb_pong(struct mux *m, uint64_t v)
{
	struct side *sd = mux_data(m);

	sd->pongs++;
	sd->pong = v;
}

static void
cb_goaway(struct mux *m, int code, const char *reason)
{
	struct side *sd = mux_data(m);

	sd->goaways++;
	sd->goaway_code = code;
	snprintf(sd->goaway_reason, sizeof(sd->goaway_reason), "%s", reason);
}

static void
cb_output(struct mux *m)
{
	struct side *sd = mux_data(m);

	sd->outputs++;
}

static const struct mux_callbacks cbs = {
	.on_open = cb_open,
	.on_data = cb_data,
	.on_fin = cb_fin,
	.on_reset = cb_reset,
	.on_writable = cb_writable,
	.on_control = cb_control,
	.on_pong = cb_pong,
	.on_goaway = cb_goaway,
	.on_output = cb_output,
};

struct pair {
	struct side c, s;               /* MUX_CLIENT, MUX_SERVER */
	size_t chunk;                   /* max bytes moved per step */
};

static void
pair_init(struct pair *p, const struct mux_conf *cc, const struct mux_conf *sc)
{
	pat_init();
	memset(p, 0, sizeof(*p));
	p->c.name = "client";
	p->s.name = "server";
	p->c.dir = 0;
	p->s.dir = 1;
	p->c.peer = &p->s;
	p->s.peer = &p->c;
	p->c.m = mux_new(MUX_CLIENT, cc, &cbs, &p->c);
	p->s.m = mux_new(MUX_SERVER, sc, &cbs, &p->s);
	assert_non_null(p->c.m);
	assert_non_null(p->s.m);
	p->chunk = 65536;
}

/* Moves up to one random chunk from a's output into b's input; returns the
 * bytes moved. */
static size_t
xfer(struct side *a, struct side *b, size_t maxchunk)
{
	struct iovec w = mux_wbuf(a->m), r;
	size_t n;

	if (w.iov_len == 0)
		return 0;
	assert_int_equal(w.iov_len, mux_wpending(a->m));
	n = rng_len(maxchunk);
	if (n > w.iov_len)
		n = w.iov_len;
	r = mux_rbuf(b->m);
	assert_non_null(r.iov_base);
	assert_true(r.iov_len >= 4096);
	if (n > r.iov_len)
		n = r.iov_len;
	memcpy(r.iov_base, w.iov_base, n);
	if (mux_rcommit(b->m, n) != 0)
		fail_msg("%s: %s", b->name, mux_error(b->m));
	mux_wconsume(a->m, n);
	return n;
}

/* Moves everything both ways until both outputs are empty. */
static void
pump(struct pair *p)
{
	int guard = 0;

	while (mux_wpending(p->c.m) > 0 || mux_wpending(p->s.m) > 0) {
		xfer(&p->c, &p->s, p->chunk);
		xfer(&p->s, &p->c, p->chunk);
		assert_true(++guard < 10000000);
	}
}

static void
st_free_all(struct side *sd)
{
	int i;

	for (i = 0; i < sd->nacc; i++)
		free(sd->acc[i]);
	free(sd->acc);
	sd->acc = NULL;
	sd->nacc = sd->capacc = 0;
	free(sd->handles);
	sd->handles = NULL;
	sd->nhandles = sd->caphandles = 0;
}

static void
pair_fini(struct pair *p)
{
	int i;

	/* close what the test left open, then free */
	for (i = 0; i < p->c.nhandles; i++)
		if (p->c.handles[i] != NULL)
			mux_stream_close(p->c.handles[i]);
	for (i = 0; i < p->s.nhandles; i++)
		if (p->s.handles[i] != NULL)
			mux_stream_close(p->s.handles[i]);
	assert_int_equal(mux_nstreams(p->c.m), 0);
	assert_int_equal(mux_nstreams(p->s.m), 0);
	mux_free(p->c.m);
	mux_free(p->s.m);
	st_free_all(&p->c);
	st_free_all(&p->s);
}

/* Opens a stream from `from`, remembered as a handle; returns its state. */
static struct st *
open_stream(struct side *from, const char *hdr)
{
	struct mux_stream *s = NULL;

	assert_int_equal(mux_stream_open(from->m, hdr, strlen(hdr), &s), 0);
	assert_non_null(s);
	push_handle(from, s);
	return st_new(from, s);
}

/* Writes as much of t's goal as the mux takes, by copy or zero-copy. */
static void
st_send(struct st *t, bool zero_copy, size_t maxw)
{
	struct mux *m = mux_stream_mux(t->s);

	while (!t->waiting && t->tx < t->tx_goal) {
		uint64_t left = t->tx_goal - t->tx;
		size_t want = rng_len(maxw), n;

		if (want > left)
			want = (size_t)left;
		if (zero_copy) {
			size_t room, credit = mux_stream_credit(t->s);
			uint8_t *d = mux_stream_data_begin(t->s, &room);

			if (d == NULL) {
				assert_int_equal(room, 0);
				t->waiting = true;
				break;
			}
			assert_true(room > 0);
			assert_true(room <= credit);    /* never past credit */
			n = want < room ? want : room;
			memcpy(d, pat_at(t->id, t->side->dir, t->tx), n);
			mux_stream_data_commit(t->s, n);
			assert_int_equal(mux_stream_credit(t->s), credit - n);
		} else {
			n = mux_stream_write(t->s, pat_at(t->id, t->side->dir, t->tx),
			    want);
			if (n < want)
				t->waiting = true;
		}
		t->tx += n;
		(void)m;
	}
	if (t->tx == t->tx_goal && t->fin_after && !t->fin_sent) {
		mux_stream_fin(t->s);
		t->fin_sent = true;
	}
}

/* Consumes up to a random amount of what t holds. */
static void
st_consume(struct st *t, size_t maxc)
{
	size_t n;

	if (t->stop || t->held == 0)
		return;
	n = rng_len(maxc);
	if (n > t->held)
		n = (size_t)t->held;
	t->held -= n;
	mux_stream_consumed(t->s, n);
}

/* --- tests --------------------------------------------------------------- */

static void
test_settings(void **state)
{
	struct pair p;
	struct iovec w;
	const uint8_t *b;
	struct mux_conf sc;

	(void)state;
	rng_seed(1);
	mux_conf_default(&sc);
	sc.window = 300000;
	pair_init(&p, NULL, &sc);
	/* SETTINGS is queued at creation */
	w = mux_wbuf(p.s.m);
	assert_int_equal(w.iov_len, FRAME_HDR_LEN + 12);
	b = w.iov_base;
	assert_int_equal(frame_get32(b), 12);
	assert_int_equal(b[4], FRAME_SETTINGS);
	assert_int_equal(b[5] | b[6] | b[7], 0);
	assert_int_equal(frame_get32(b + 8), 0);
	assert_int_equal(frame_get32(b + 12), MUX_VERSION);
	assert_int_equal(frame_get32(b + 16), 300000);
	assert_int_equal(frame_get32(b + 20), FRAME_MAX_PAYLOAD);
	assert_string_equal(mux_error(p.s.m), "no error");
	p.chunk = 1;
	pump(&p);
	assert_int_equal(mux_nstreams(p.c.m), 0);
	assert_false(mux_peer_goaway(p.c.m));
	/* credit of a new stream is the peer's window */
	{
		struct st *t = open_stream(&p.c, "h");

		assert_int_equal(mux_stream_credit(t->s), 300000);
		pump(&p);
		assert_int_equal(p.s.opens, 1);
		assert_int_equal(mux_stream_credit(p.s.acc[0]->s), MUX_DEFAULT_WINDOW);
		free(t);
	}
	pair_fini(&p);
}

/* A stream opened and filled before the peer's SETTINGS arrives runs on the
 * minimum window; SETTINGS raises its credit and must wake it. */
static void
test_open_before_settings(void **state)
{
	struct pair p;
	struct st *t;

	(void)state;
	rng_seed(2);
	pair_init(&p, NULL, NULL);
	t = open_stream(&p.c, "early");
	assert_int_equal(mux_stream_credit(t->s), MUX_MIN_WINDOW);
	t->tx_goal = 3u << 20;
	st_send(t, false, 100000);
	assert_int_equal(t->tx, MUX_MIN_WINDOW);
	assert_true(t->waiting);
	pump(&p);
	assert_int_equal(mux_stream_credit(t->s), MUX_DEFAULT_WINDOW - MUX_MIN_WINDOW);
	assert_int_equal(t->writables, 1);
	assert_false(t->waiting);
	/* and the whole transfer completes */
	while (t->tx < t->tx_goal) {
		int i;

		st_send(t, false, 100000);
		xfer(&p.c, &p.s, 1 << 18);
		xfer(&p.s, &p.c, 1 << 18);
		for (i = 0; i < p.s.nacc; i++)
			st_consume(p.s.acc[i], 1 << 18);
	}
	pump(&p);
	while (p.s.acc[0]->held > 0) {
		st_consume(p.s.acc[0], 1 << 18);
		pump(&p);
	}
	assert_int_equal(p.s.acc[0]->rx, t->tx_goal);
	free(t);
	pair_fini(&p);
}

static void
test_control(void **state)
{
	struct pair p;
	static uint8_t big[64 * 1024 + 1];

	(void)state;
	rng_seed(3);
	pair_init(&p, NULL, NULL);
	p.chunk = 3;
	/* on_output fires when the output goes from empty to non-empty: once
	 * inside mux_new for SETTINGS, before the owner has the pointer */
	assert_int_equal(p.c.outputs, 1);
	pump(&p);
	assert_int_equal(mux_control(p.c.m, "hello", 5), 0);
	assert_int_equal(p.c.outputs, 2);
	assert_int_equal(mux_control(p.s.m, "welcome!", 8), 0);
	mux_wconsume(p.c.m, 0);
	assert_int_equal(p.c.outputs, 2);
	pump(&p);
	assert_int_equal(p.s.controls, 1);
	assert_int_equal(p.s.ctrl_len, 5);
	assert_memory_equal(p.s.ctrl, "hello", 5);
	assert_int_equal(p.c.controls, 1);
	assert_int_equal(p.c.ctrl_len, 8);
	assert_memory_equal(p.c.ctrl, "welcome!", 8);
	/* empty, then the largest; one byte more is refused */
	assert_int_equal(mux_control(p.s.m, "", 0), 0);
	pump(&p);
	assert_int_equal(p.c.controls, 2);
	assert_int_equal(p.c.ctrl_len, 0);
	memset(big, 'x', sizeof(big));
	assert_int_equal(mux_control(p.c.m, big, sizeof(big) - 1), 0);
	assert_int_equal(p.c.outputs, 3);
	assert_true(mux_control(p.c.m, big, sizeof(big)) < 0);
	p.chunk = 70000;
	pump(&p);
	assert_int_equal(p.s.controls, 2);
	assert_int_equal(p.s.ctrl_len, 64 * 1024);
	pair_fini(&p);
}

static void
test_open_accept_refuse(void **state)
{
	struct pair p;
	struct st *a, *r, *b;
	size_t before;

	(void)state;
	rng_seed(4);
	pair_init(&p, NULL, NULL);
	pump(&p);
	a = open_stream(&p.c, "accept-me");
	r = open_stream(&p.c, "Refuse");
	assert_int_equal(a->id, 1);
	assert_int_equal(r->id, 3);
	assert_int_equal(mux_nstreams(p.c.m), 2);
	p.chunk = 1;
	pump(&p);
	assert_int_equal(p.s.opens, 2);
	assert_int_equal(p.s.nacc, 1);
	assert_int_equal(p.s.acc[0]->id, 1);
	assert_int_equal(p.s.open_hdr_len, 6);
	assert_memory_equal(p.s.open_hdr, "Refuse", 6);
	assert_int_equal(mux_nstreams(p.s.m), 1);       /* refused one is gone */
	assert_int_equal(r->resets, 1);
	assert_int_equal(r->reset_code, MUX_RST_REFUSED);
	assert_int_equal(a->resets, 0);
	/* closing a reset stream sends nothing */
	before = mux_wpending(p.c.m);
	mux_stream_close(r->s);
	p.c.handles[1] = NULL;
	assert_int_equal(mux_wpending(p.c.m), before);
	assert_int_equal(mux_nstreams(p.c.m), 1);
	/* server-opened streams are even and increasing */
	b = open_stream(&p.s, "srv");
	assert_int_equal(b->id, 2);
	pump(&p);
	assert_int_equal(p.c.opens, 1);
	assert_int_equal(p.c.acc[0]->id, 2);
	b->tx_goal = 10;
	st_send(b, false, 10);
	pump(&p);
	assert_int_equal(p.c.acc[0]->rx, 10);
	/* with no on_open everything is refused: covered by the fuzz target;
	 * all refusals here went through the callback */
	free(a);
	free(r);
	free(b);
	pair_fini(&p);
}

/* Several MiB each way on a few streams, random chunking, both write APIs. */
static void
test_data_both_ways(void **state)
{
	struct pair p;
	struct st *cs[4];
	int i, k, guard = 0;
	bool done;

	(void)state;
	rng_seed(5);
	pair_init(&p, NULL, NULL);
	pump(&p);
	for (i = 0; i < 4; i++) {
		cs[i] = open_stream(&p.c, "d");
		cs[i]->tx_goal = (uint64_t)(3 + i) << 20;
		cs[i]->fin_after = true;
	}
	pump(&p);
	assert_int_equal(p.s.nacc, 4);
	for (i = 0; i < 4; i++) {
		p.s.acc[i]->tx_goal = (uint64_t)(2 + i) << 20 | 12345;
		p.s.acc[i]->fin_after = true;
	}
	do {
		for (i = 0; i < 4; i++) {
			st_send(cs[i], i & 1, 200000);
			st_send(p.s.acc[i], !(i & 1), 70000);
		}
		for (k = 0; k < 8; k++) {
			xfer(&p.c, &p.s, (k & 3) == 0 ? 1 : 300000);
			xfer(&p.s, &p.c, (k & 3) == 1 ? 7 : 300000);
		}
		done = mux_wpending(p.c.m) == 0 && mux_wpending(p.s.m) == 0;
		for (i = 0; i < 4; i++) {
			st_consume(cs[i], 400000);
			st_consume(p.s.acc[i], 400000);
			/* the receiver never holds more than the window */
			assert_true(cs[i]->held <= MUX_DEFAULT_WINDOW);
			assert_true(p.s.acc[i]->held <= MUX_DEFAULT_WINDOW);
			done = done && cs[i]->fins == 1 && p.s.acc[i]->fins == 1;
		}
		assert_true(++guard < 200000);
	} while (!done);
	for (i = 0; i < 4; i++) {
		assert_int_equal(p.s.acc[i]->rx, cs[i]->tx_goal);
		assert_int_equal(cs[i]->rx, p.s.acc[i]->tx_goal);
		assert_int_equal(cs[i]->resets, 0);
		assert_int_equal(p.s.acc[i]->resets, 0);
	}
	/* finished both ways: close sends no RST */
	for (i = 0; i < 4; i++) {
		mux_stream_close(cs[i]->s);
		p.c.handles[i] = NULL;
		mux_stream_close(p.s.acc[i]->s);
		p.s.handles[i] = NULL;
	}
	assert_int_equal(mux_wpending(p.c.m), 0);
	assert_int_equal(mux_wpending(p.s.m), 0);
	for (i = 0; i < 4; i++)
		free(cs[i]);
	pair_fini(&p);
}

/* Credit: a sender stops at exactly the window; credit comes back only after
 * mux_stream_consumed, in quarter-window WINDOW frames, and wakes the writer. */
static void
test_credit(void **state)
{
	struct pair p;
	struct mux_conf sc;
	struct st *t, *r;
	const size_t W = 64 * 1024;

	(void)state;
	rng_seed(6);
	mux_conf_default(&sc);
	sc.window = (uint32_t)W;
	pair_init(&p, NULL, &sc);
	pump(&p);
	t = open_stream(&p.c, "c");
	t->tx_goal = 10 * W;
	st_send(t, true, 5000);
	assert_int_equal(t->tx, W);
	assert_true(t->waiting);
	assert_int_equal(mux_stream_credit(t->s), 0);
	p.chunk = 1000;
	pump(&p);
	r = p.s.acc[0];
	assert_int_equal(r->held, W);
	/* nothing consumed: no credit back, however long we pump */
	pump(&p);
	assert_int_equal(mux_stream_credit(t->s), 0);
	assert_int_equal(t->writables, 0);
	/* a bit under a quarter window: still nothing */
	r->held -= W / 4 - 1;
	mux_stream_consumed(r->s, W / 4 - 1);
	assert_int_equal(mux_wpending(p.s.m), 0);
	pump(&p);
	assert_int_equal(mux_stream_credit(t->s), 0);
	assert_int_equal(t->writables, 0);
	/* one more byte: a WINDOW of a quarter window */
	r->held -= 1;
	mux_stream_consumed(r->s, 1);
	assert_int_equal(mux_wpending(p.s.m), FRAME_HDR_LEN + 4);
	pump(&p);
	assert_int_equal(mux_stream_credit(t->s), W / 4);
	assert_int_equal(t->writables, 1);
	assert_false(t->waiting);
	/* spend it, then the reader catches up: all credit is back */
	st_send(t, false, W);
	assert_int_equal(t->tx, W + W / 4);
	assert_true(t->waiting);
	pump(&p);
	assert_int_equal(r->held, W);
	mux_stream_consumed(r->s, W);
	r->held = 0;
	pump(&p);
	assert_int_equal(mux_stream_credit(t->s), W);
	assert_int_equal(t->writables, 2);
	free(t);
	pair_fini(&p);
}

/* The output buffer is bounded: writes stop at out_high and on_writable
 * fires once it drains. */
static void
test_output_backpressure(void **state)
{
	struct pair p;
	struct mux_conf cc;
	struct st *t[3];
	int i;
	size_t max_out = 0;

	(void)state;
	rng_seed(7);
	mux_conf_default(&cc);
	cc.out_high = 100000;
	cc.max_frame = 16384;
	pair_init(&p, &cc, NULL);
	pump(&p);
	for (i = 0; i < 3; i++) {
		t[i] = open_stream(&p.c, "o");
		t[i]->tx_goal = 1u << 20;
	}
	pump(&p);
	for (i = 0; i < 3; i++)
		st_send(t[i], i == 1, 50000);
	assert_true(t[0]->waiting && t[1]->waiting && t[2]->waiting);
	assert_true(mux_wpending(p.c.m) >= cc.out_high);
	assert_true(mux_wpending(p.c.m) <= cc.out_high + FRAME_HDR_LEN + cc.max_frame);
	assert_int_equal(t[1]->tx + t[2]->tx, 0);
	/* drain a little: still above half, nobody woken */
	xfer(&p.c, &p.s, 1);
	mux_wconsume(p.c.m, 0);
	assert_int_equal(p.c.writables, 0);
	/* drain everything: all three woken (they have credit) */
	while (mux_wpending(p.c.m) > 0)
		xfer(&p.c, &p.s, 30000);
	assert_int_equal(p.c.writables, 3);
	for (i = 0; i < 3; i++)
		assert_false(t[i]->waiting);
	/* run to completion, output bounded all along */
	while (t[0]->tx < t[0]->tx_goal || t[1]->tx < t[1]->tx_goal ||
	    t[2]->tx < t[2]->tx_goal || mux_wpending(p.c.m) > 0) {
		for (i = 0; i < 3; i++)
			st_send(t[i], i == 1, 50000);
		if (mux_wpending(p.c.m) > max_out)
			max_out = mux_wpending(p.c.m);
		xfer(&p.c, &p.s, 40000);
		xfer(&p.s, &p.c, 40000);
		for (i = 0; i < p.s.nacc; i++)
			st_consume(p.s.acc[i], 1 << 20);
	}
	assert_true(max_out <= cc.out_high + FRAME_HDR_LEN + cc.max_frame);
	pump(&p);
	for (i = 0; i < 3; i++)
		free(t[i]);
	pair_fini(&p);
}

/* 10 streams, one reader never consumes: the other nine each move 50 MiB,
 * the stopped one holds at most a window on the receiver, and the sender's
 * output stays within out_high + one frame. */
static void
test_stopped_reader(void **state)
{
	enum { N = 10, STOPPED = 3 };
	struct pair p;
	struct mux_conf cc;
	struct st *t[N];
	const uint64_t goal = 50ull << 20;
	size_t max_out = 0;
	int i, guard = 0;
	bool done;

	(void)state;
	rng_seed(8);
	mux_conf_default(&cc);
	pair_init(&p, &cc, NULL);
	pump(&p);
	for (i = 0; i < N; i++) {
		t[i] = open_stream(&p.c, "s");
		t[i]->tx_goal = goal;
	}
	pump(&p);
	assert_int_equal(p.s.nacc, N);
	p.s.acc[STOPPED]->stop = true;
	do {
		for (i = 0; i < N; i++) {
			st_send(t[i], i & 1, 1 << 19);
			if (mux_wpending(p.c.m) > max_out)
				max_out = mux_wpending(p.c.m);
		}
		xfer(&p.c, &p.s, 1 << 18);
		xfer(&p.s, &p.c, 1 << 18);
		done = true;
		for (i = 0; i < N; i++) {
			st_consume(p.s.acc[i], 1 << 19);
			assert_true(p.s.acc[i]->held <= MUX_DEFAULT_WINDOW);
			if (i != STOPPED && p.s.acc[i]->rx < goal)
				done = false;
		}
		assert_true(++guard < 1000000);
	} while (!done);
	assert_true(max_out <= cc.out_high + FRAME_HDR_LEN + cc.max_frame);
	for (i = 0; i < N; i++)
		if (i != STOPPED)
			assert_int_equal(p.s.acc[i]->rx, goal);
	assert_int_equal(p.s.acc[STOPPED]->rx, MUX_DEFAULT_WINDOW);
	assert_int_equal(p.s.acc[STOPPED]->held_max, MUX_DEFAULT_WINDOW);
	assert_int_equal(mux_stream_credit(t[STOPPED]->s), 0);
	assert_true(t[STOPPED]->waiting);
	/* the reader resumes: the stopped stream finishes too */
	p.s.acc[STOPPED]->stop = false;
	while (p.s.acc[STOPPED]->rx < goal) {
		st_send(t[STOPPED], false, 1 << 19);
		xfer(&p.c, &p.s, 1 << 18);
		xfer(&p.s, &p.c, 1 << 18);
		st_consume(p.s.acc[STOPPED], 1 << 19);
		assert_true(++guard < 2000000);
	}
	for (i = 0; i < N; i++)
		free(t[i]);
	pair_fini(&p);
}

static void
test_half_close(void **state)
{
	struct pair p;
	struct st *t, *r;
	size_t before;

	(void)state;
	rng_seed(9);
	pair_init(&p, NULL, NULL);
	pump(&p);
	t = open_stream(&p.c, "h");
	t->tx_goal = 1000;
	st_send(t, false, 1000);
	mux_stream_fin(t->s);
	mux_stream_fin(t->s);           /* idempotent */
	assert_int_equal(mux_stream_write(t->s, "x", 1), 0);
	pump(&p);
	r = p.s.acc[0];
	assert_int_equal(r->rx, 1000);
	assert_int_equal(r->fins, 1);
	/* the other direction still flows after our FIN */
	r->tx_goal = 200000;
	st_send(r, false, 200000);
	pump(&p);
	assert_int_equal(t->rx, 200000);
	mux_stream_fin(r->s);
	pump(&p);
	assert_int_equal(t->fins, 1);
	/* consumed after FIN: no WINDOW goes out */
	mux_stream_consumed(t->s, 200000);
	assert_int_equal(mux_wpending(p.c.m), 0);
	/* finished both ways: no RST on close */
	before = mux_wpending(p.s.m);
	mux_stream_close(r->s);
	p.s.handles[0] = NULL;
	assert_int_equal(mux_wpending(p.s.m), before);
	mux_stream_close(t->s);
	p.c.handles[0] = NULL;
	assert_int_equal(mux_wpending(p.c.m), 0);
	free(t);
	pair_fini(&p);
}

static void
test_reset(void **state)
{
	struct pair p;
	struct st *a, *b;
	char longr[400];
	size_t before;

	(void)state;
	rng_seed(10);
	pair_init(&p, NULL, NULL);
	pump(&p);
	a = open_stream(&p.c, "a");
	b = open_stream(&p.c, "b");
	pump(&p);
	/* client resets, server sees code and text */
	mux_stream_reset(a->s, MUX_RST_TIMEOUT, "idle for 30s");
	mux_stream_reset(a->s, MUX_RST_LIMIT, "again");     /* no-op */
	assert_int_equal(mux_stream_write(a->s, "x", 1), 0);
	p.chunk = 1;
	pump(&p);
	assert_int_equal(p.s.acc[0]->resets, 1);
	assert_int_equal(p.s.acc[0]->reset_code, MUX_RST_TIMEOUT);
	assert_string_equal(p.s.acc[0]->reset_reason, "idle for 30s");
	assert_int_equal(a->resets, 0);         /* local reset: no callback */
	/* server resets with a hostile reason: control bytes become '?', long
	 * ones are cut at FRAME_REASON_MAX */
	mux_stream_reset(p.s.acc[1]->s, MUX_RST_NO_TUNNEL, "no\ttunnel\x7f\xff");
	pump(&p);
	assert_int_equal(b->reset_code, MUX_RST_NO_TUNNEL);
	assert_string_equal(b->reset_reason, "no?tunnel??");
	/* data arriving for a locally reset stream is dropped quietly */
	p.s.acc[0]->tx_goal = 100;
	st_send(p.s.acc[0], false, 100);
	pump(&p);
	assert_int_equal(a->rx, 0);
	/* close after reset: nothing more is sent */
	before = mux_wpending(p.c.m);
	mux_stream_close(a->s);
	mux_stream_close(b->s);
	p.c.handles[0] = p.c.handles[1] = NULL;
	assert_int_equal(mux_wpending(p.c.m), before);
	/* long reason */
	memset(longr, 'r', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	a->resets = 0;
	free(b);
	b = open_stream(&p.c, "c");
	pump(&p);
	mux_stream_reset(b->s, 0xffff, longr);
	pump(&p);
	assert_int_equal(p.s.acc[2]->reset_code, 0xffff);
	assert_int_equal(strlen(p.s.acc[2]->reset_reason), FRAME_REASON_MAX);
	/* a NULL reason is an empty one */
	free(a);
	a = open_stream(&p.c, "d");
	pump(&p);
	mux_stream_reset(a->s, MUX_RST_CANCEL, NULL);
	pump(&p);
	assert_int_equal(p.s.acc[3]->reset_code, MUX_RST_CANCEL);
	assert_string_equal(p.s.acc[3]->reset_reason, "");
	free(a);
	free(b);
	pair_fini(&p);
}

/* mux_stream_close on an unfinished stream sends RST(CANCEL). */
static void
test_close_cancel(void **state)
{
	struct pair p;
	struct st *a, *b;
	size_t before;

	(void)state;
	rng_seed(11);
	pair_init(&p, NULL, NULL);
	pump(&p);
	a = open_stream(&p.c, "a");
	b = open_stream(&p.c, "b");
	pump(&p);
	/* half-finished (our FIN only) still counts as unfinished */
	mux_stream_fin(b->s);
	pump(&p);
	before = mux_wpending(p.c.m);
	mux_stream_close(a->s);
	assert_int_equal(mux_wpending(p.c.m), before + FRAME_HDR_LEN + 2 + 6);
	mux_stream_close(b->s);
	p.c.handles[0] = p.c.handles[1] = NULL;
	pump(&p);
	assert_int_equal(p.s.acc[0]->reset_code, MUX_RST_CANCEL);
	assert_string_equal(p.s.acc[0]->reset_reason, "closed");
	assert_int_equal(p.s.acc[1]->fins, 1);
	assert_int_equal(p.s.acc[1]->reset_code, MUX_RST_CANCEL);
	/* after the peer's FIN and ours, the peer closing sends nothing */
	assert_int_equal(mux_nstreams(p.c.m), 0);
	free(a);
	free(b);
	pair_fini(&p);
}

static void
test_ping_goaway(void **state)
{
	struct pair p;
	struct st *a, *b;
	struct mux_stream *s = NULL;

	(void)state;
	rng_seed(12);
	pair_init(&p, NULL, NULL);
	pump(&p);
	assert_int_equal(mux_ping(p.c.m, 0x0102030405060708ull), 0);
	assert_int_equal(mux_ping(p.s.m, 42), 0);
	p.chunk = 1;
	pump(&p);
	assert_int_equal(p.c.pongs, 1);
	assert_int_equal(p.c.pong, 0x0102030405060708ull);
	assert_int_equal(p.s.pongs, 1);
	assert_int_equal(p.s.pong, 42);
	/* goaway: the peer opens nothing new, existing streams go on */
	a = open_stream(&p.c, "a");
	pump(&p);
	assert_int_equal(mux_goaway(p.s.m, 7, "node draining"), 0);
	pump(&p);
	assert_int_equal(p.c.goaways, 1);
	assert_int_equal(p.c.goaway_code, 7);
	assert_string_equal(p.c.goaway_reason, "node draining");
	assert_true(mux_peer_goaway(p.c.m));
	assert_false(mux_peer_goaway(p.s.m));
	assert_int_equal(mux_stream_open(p.c.m, "x", 1, &s), -EAGAIN);
	assert_null(s);
	a->tx_goal = 5000;
	st_send(a, false, 5000);
	pump(&p);
	assert_int_equal(p.s.acc[0]->rx, 5000);
	/* the side that sent GOAWAY may still open */
	b = open_stream(&p.s, "b");
	pump(&p);
	assert_int_equal(p.c.opens, 1);
	free(a);
	free(b);
	pair_fini(&p);
}

/* mux_free with open streams: on_reset(SESSION_GONE) for each open one,
 * handles closed inside on_reset, including other handles. */
static void
test_free_with_streams(void **state)
{
	int variant;

	(void)state;
	for (variant = 0; variant < 4; variant++) {
		struct pair p;
		struct st *t[6];
		int i, n = 6;

		rng_seed(13 + (uint64_t)variant);
		pair_init(&p, NULL, NULL);
		pump(&p);
		for (i = 0; i < n; i++)
			t[i] = open_stream(&p.c, "f");
		/* one reset by the peer, one by us: no SESSION_GONE for those */
		pump(&p);
		mux_stream_reset(p.s.acc[0]->s, MUX_RST_CANCEL, "x");
		mux_stream_reset(t[1]->s, MUX_RST_CANCEL, "y");
		pump(&p);
		assert_int_equal(t[0]->resets, 1);
		p.c.close_in_reset = variant >= 1;
		p.c.close_other_in_reset = variant >= 2;
		if (variant == 3) {
			/* close the reset ones before the free */
			mux_stream_close(t[0]->s);
			mux_stream_close(t[1]->s);
			p.c.handles[0] = p.c.handles[1] = NULL;
			t[0]->closed = t[1]->closed = true;
		}
		mux_free(p.c.m);
		if (variant == 0) {
			for (i = 0; i < n; i++)
				assert_int_equal(t[i]->resets, i == 0 || i == 1 ? i == 0 : 1);
			assert_int_equal(p.c.session_gone, n - 2);
			/* handles still valid; session freed with the last one */
			mux_stream_consumed(t[2]->s, 10);
			mux_stream_fin(t[3]->s);
			assert_int_equal(mux_stream_write(t[4]->s, "x", 1), 0);
			for (i = 0; i < n; i++)
				mux_stream_close(t[i]->s);
		} else {
			/* everyone got closed; SESSION_GONE only for streams still
			 * open when their turn came */
			assert_true(p.c.session_gone >= 1);
			assert_true(p.c.session_gone <= n - 2);
			for (i = 0; i < n; i++)
				if (!t[i]->closed)
					mux_stream_close(t[i]->s);
		}
		for (i = 0; i < n; i++)
			free(t[i]);
		/* the server side is untouched */
		for (i = 0; i < p.s.nhandles; i++)
			mux_stream_close(p.s.handles[i]);
		mux_free(p.s.m);
		st_free_all(&p.s);
		st_free_all(&p.c);
	}
}

/* mux_free with no streams, and with every handle closed first: closing an
 * unfinished stream sends RST(CANCEL) that the peer sees, the stream count
 * drops to zero, and the sessions free (ASan checks nothing leaks). */
static void
test_free_simple(void **state)
{
	struct pair p;
	struct st *t;
	size_t before;

	(void)state;
	rng_seed(17);
	pair_init(&p, NULL, NULL);
	mux_free(NULL);
	pump(&p);
	assert_int_equal(mux_nstreams(p.c.m), 0);
	t = open_stream(&p.c, "x");
	assert_int_equal(mux_nstreams(p.c.m), 1);
	pump(&p);
	assert_int_equal(p.s.opens, 1);
	assert_int_equal(mux_nstreams(p.s.m), 1);
	before = mux_wpending(p.c.m);
	mux_stream_close(t->s);
	p.c.handles[0] = NULL;
	assert_int_equal(mux_nstreams(p.c.m), 0);
	assert_true(mux_wpending(p.c.m) > before);      /* the RST */
	pump(&p);
	assert_int_equal(p.s.acc[0]->resets, 1);
	assert_int_equal(p.s.acc[0]->reset_code, MUX_RST_CANCEL);
	assert_string_equal(p.s.acc[0]->reset_reason, "closed");
	assert_int_equal(p.c.resets, 0);        /* a local close calls nothing */
	free(t);
	pair_fini(&p);
	assert_int_equal(p.c.session_gone + p.s.session_gone, 0);
}

/* Fills a's output with control messages until the hard cap refuses one. */
static void
fill_to_cap(struct side *a)
{
	static uint8_t junk[60000];
	static const size_t sizes[] = { sizeof(junk), 4096, 64, 0 };
	size_t k;
	int i;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (i = 0; i < 100000; i++)
			if (mux_control(a->m, junk, sizes[k]) != 0)
				break;
		assert_true(i < 100000);
	}
	/* not even a frame header fits now */
}

/* FIN and RST are never lost at the output's hard cap: with the output
 * full (DATA over out_high, control frames up to the cap), a FIN and an
 * RST still go out and reach the peer once it reads again. */
static void
test_fin_rst_at_cap(void **state)
{
	struct pair p;
	struct st *a, *b, *c;
	size_t before;

	(void)state;
	rng_seed(18);
	pair_init(&p, NULL, NULL);
	pump(&p);
	a = open_stream(&p.c, "a");
	b = open_stream(&p.c, "b");
	c = open_stream(&p.c, "c");
	pump(&p);
	a->tx_goal = 1 << 20;
	st_send(a, false, 1 << 20);
	assert_true(a->waiting);
	fill_to_cap(&p.c);
	assert_int_not_equal(mux_ping(p.c.m, 1), 0);    /* full, not broken */
	before = mux_wpending(p.c.m);
	mux_stream_fin(a->s);
	mux_stream_reset(b->s, MUX_RST_TIMEOUT, "idle");
	mux_stream_close(c->s);
	p.c.handles[2] = NULL;
	assert_true(mux_wpending(p.c.m) >= before + 3 * FRAME_HDR_LEN);
	pump(&p);
	assert_int_equal(p.s.acc[0]->fins, 1);
	assert_int_equal(p.s.acc[0]->rx, a->tx);
	assert_int_equal(p.s.acc[1]->resets, 1);
	assert_int_equal(p.s.acc[1]->reset_code, MUX_RST_TIMEOUT);
	assert_int_equal(p.s.acc[2]->resets, 1);
	assert_int_equal(p.s.acc[2]->reset_code, MUX_RST_CANCEL);
	/* the session goes on */
	assert_int_equal(mux_ping(p.c.m, 2), 0);
	pump(&p);
	assert_int_equal(p.c.pongs, 1);
	free(a);
	free(b);
	free(c);
	pair_fini(&p);
}

/* A peer that reads nothing while FIN and RST pile up past the cap's slack:
 * the session is marked broken with a reason instead of dropping one, and
 * the owner learns it from mux_rcommit() and mux_ping(). */
static void
test_fin_rst_broken(void **state)
{
	enum { N = 1500 };
	struct pair p;
	struct st *t[N];
	char reason[FRAME_REASON_MAX + 1];
	struct iovec r;
	uint8_t ping[FRAME_HDR_LEN + 8];
	int i;

	(void)state;
	rng_seed(19);
	pair_init(&p, NULL, NULL);
	pump(&p);
	for (i = 0; i < N; i++)
		t[i] = open_stream(&p.c, "z");
	pump(&p);
	assert_int_equal(p.s.nacc, N);
	fill_to_cap(&p.c);
	memset(reason, 'r', FRAME_REASON_MAX);
	reason[FRAME_REASON_MAX] = '\0';
	for (i = 0; i < N; i++)
		mux_stream_reset(t[i]->s, MUX_RST_TIMEOUT, reason);
	assert_string_not_equal(mux_error(p.c.m), "no error");
	assert_non_null(strstr(mux_error(p.c.m), "the peer stopped reading"));
	assert_int_equal(mux_ping(p.c.m, 3), -EPIPE);
	/* the next input fails: the owner closes the session */
	frame_header(ping, FRAME_PING, 0, 8);
	memset(ping + FRAME_HDR_LEN, 0, 8);
	r = mux_rbuf(p.c.m);
	memcpy(r.iov_base, ping, sizeof(ping));
	assert_int_equal(mux_rcommit(p.c.m, sizeof(ping)), -EPROTO);
	for (i = 0; i < N; i++)
		free(t[i]);
	/* both sides' handles close as usual */
	for (i = 0; i < p.s.nhandles; i++)
		if (p.s.handles[i] != NULL)
			mux_stream_close(p.s.handles[i]);
	p.s.nhandles = 0;
	pair_fini(&p);
}

/* --- raw input ----------------------------------------------------------- */

struct raw {
	uint8_t b[4096];
	size_t n;
};

static void
raw_frame(struct raw *r, int type, uint32_t id, const void *p, size_t len)
{
	assert_true(r->n + FRAME_HDR_LEN + len <= sizeof(r->b));
	frame_header(r->b + r->n, (enum frame_type)type, id, (uint32_t)len);
	if (len)
		memcpy(r->b + r->n + FRAME_HDR_LEN, p, len);
	r->n += FRAME_HDR_LEN + len;
}

static void
raw_settings(struct raw *r, uint32_t version, uint32_t window, uint32_t maxp)
{
	uint8_t p[12];
	struct frame_settings fs = { version, window, maxp };

	frame_settings_encode(p, &fs);
	raw_frame(r, FRAME_SETTINGS, 0, p, 12);
}

static void
raw_u32(struct raw *r, int type, uint32_t id, uint32_t v)
{
	uint8_t p[4];

	frame_put32(p, v);
	raw_frame(r, type, id, p, 4);
}

/* Feeds r into a fresh mux of `role` in chunks of `chunk`; returns the first
 * nonzero mux_rcommit result (or 0). */
static int
raw_feed(struct side *sd, enum mux_role role, const struct raw *r,
    size_t chunk, char *err, size_t errcap)
{
	size_t off = 0;
	int rc = 0;

	memset(sd, 0, sizeof(*sd));
	sd->name = "raw";
	sd->dir = 1;                    /* the raw peer sends direction 0 */
	sd->m = mux_new(role, NULL, &cbs, sd);
	assert_non_null(sd->m);
	while (off < r->n) {
		struct iovec io = mux_rbuf(sd->m);
		size_t n = r->n - off < chunk ? r->n - off : chunk;

		assert_non_null(io.iov_base);
		if (n > io.iov_len)
			n = io.iov_len;
		memcpy(io.iov_base, r->b + off, n);
		off += n;
		if ((rc = mux_rcommit(sd->m, n)) != 0)
			break;
	}
	if (err != NULL)
		snprintf(err, errcap, "%s", mux_error(sd->m));
	return rc;
}

static void
raw_done(struct side *sd)
{
	int i;

	for (i = 0; i < sd->nhandles; i++)
		if (sd->handles[i] != NULL)
			mux_stream_close(sd->handles[i]);
	mux_free(sd->m);
	st_free_all(sd);
}

static void
expect_eproto(const struct raw *r, enum mux_role role, const char *needle)
{
	static const size_t chunks[] = { 1, 5, 13, 4096 };
	struct side sd;
	char err[200];
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		assert_int_equal(raw_feed(&sd, role, r, chunks[i], err, sizeof(err)),
		    -EPROTO);
		if (needle != NULL && strstr(err, needle) == NULL)
			fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
		raw_done(&sd);
	}
}

static void
expect_ok(const struct raw *r, enum mux_role role)
{
	struct side sd;

	assert_int_equal(raw_feed(&sd, role, r, 7, NULL, 0), 0);
	raw_done(&sd);
}

static void
test_version_mismatch(void **state)
{
	struct raw r = { .n = 0 };

	(void)state;
	raw_settings(&r, 2, MUX_DEFAULT_WINDOW, FRAME_MAX_PAYLOAD);
	expect_eproto(&r, MUX_SERVER, "version 2");
	r.n = 0;
	raw_settings(&r, 0, MUX_DEFAULT_WINDOW, FRAME_MAX_PAYLOAD);
	expect_eproto(&r, MUX_CLIENT, "version");
}

static void
test_malformed(void **state)
{
	struct raw r;
	uint8_t p[300];

	(void)state;
	pat_init();
	memset(p, 0, sizeof(p));
#define RESET() (r.n = 0, raw_settings(&r, MUX_VERSION, MUX_DEFAULT_WINDOW, FRAME_MAX_PAYLOAD))
	/* the good prefix alone is fine, with a longer SETTINGS too */
	RESET();
	expect_ok(&r, MUX_SERVER);
	r.n = 0;
	raw_frame(&r, FRAME_SETTINGS, 0, "\0\0\0\1\0\1\0\0\0\0\4\0extra", 17);
	expect_ok(&r, MUX_SERVER);
	/* first frame not SETTINGS */
	r.n = 0;
	raw_frame(&r, FRAME_CTRL, 0, "x", 1);
	expect_eproto(&r, MUX_SERVER, "SETTINGS");
	/* SETTINGS: twice, short, on a stream, out of range */
	RESET();
	raw_settings(&r, MUX_VERSION, MUX_DEFAULT_WINDOW, FRAME_MAX_PAYLOAD);
	expect_eproto(&r, MUX_SERVER, "twice");
	r.n = 0;
	raw_frame(&r, FRAME_SETTINGS, 0, p, 11);
	expect_eproto(&r, MUX_SERVER, NULL);
	r.n = 0;
	raw_frame(&r, FRAME_SETTINGS, 1, "\0\0\0\1\0\1\0\0\0\0\4\0", 12);
	expect_eproto(&r, MUX_SERVER, NULL);
	r.n = 0;
	raw_settings(&r, MUX_VERSION, MUX_MIN_WINDOW - 1, FRAME_MAX_PAYLOAD);
	expect_eproto(&r, MUX_SERVER, "range");
	r.n = 0;
	raw_settings(&r, MUX_VERSION, MUX_MAX_WINDOW + 1, FRAME_MAX_PAYLOAD);
	expect_eproto(&r, MUX_SERVER, "range");
	r.n = 0;
	raw_settings(&r, MUX_VERSION, MUX_DEFAULT_WINDOW, 1023);
	expect_eproto(&r, MUX_SERVER, "range");
	/* header: unknown type, flags, reserved, oversized length */
	RESET();
	raw_frame(&r, 10, 0, NULL, 0);
	expect_eproto(&r, MUX_SERVER, "malformed");
	RESET();
	raw_frame(&r, 0xff, 0, NULL, 0);
	expect_eproto(&r, MUX_SERVER, "malformed");
	RESET();
	raw_frame(&r, FRAME_PING, 0, p, 8);
	r.b[r.n - 8 - FRAME_HDR_LEN + 5] = 1;
	expect_eproto(&r, MUX_SERVER, "malformed");
	RESET();
	raw_frame(&r, FRAME_PING, 0, p, 8);
	r.b[r.n - 8 - FRAME_HDR_LEN + 7] = 1;
	expect_eproto(&r, MUX_SERVER, "malformed");
	RESET();
	frame_header(r.b + r.n, FRAME_DATA, 1, FRAME_MAX_PAYLOAD + 1);
	r.n += FRAME_HDR_LEN;           /* refused from the header alone */
	expect_eproto(&r, MUX_SERVER, "malformed");
	RESET();
	frame_header(r.b + r.n, FRAME_DATA, 1, 0xffffffffu);
	r.n += FRAME_HDR_LEN;
	expect_eproto(&r, MUX_SERVER, "malformed");
	/* session frames on a stream, stream frames on stream 0 */
	RESET();
	raw_frame(&r, FRAME_CTRL, 1, "x", 1);
	expect_eproto(&r, MUX_SERVER, "CTRL");
	RESET();
	raw_frame(&r, FRAME_PING, 1, p, 8);
	expect_eproto(&r, MUX_SERVER, "PING");
	RESET();
	raw_frame(&r, FRAME_PING, 0, p, 7);
	expect_eproto(&r, MUX_SERVER, "PING");
	RESET();
	raw_frame(&r, FRAME_PONG, 0, p, 9);
	expect_eproto(&r, MUX_SERVER, "PONG");
	RESET();
	raw_frame(&r, FRAME_GOAWAY, 3, p, 2);
	expect_eproto(&r, MUX_SERVER, "GOAWAY");
	RESET();
	raw_frame(&r, FRAME_GOAWAY, 0, p, 1);
	expect_eproto(&r, MUX_SERVER, "GOAWAY");
	RESET();
	raw_frame(&r, FRAME_GOAWAY, 0, p, 2 + FRAME_REASON_MAX + 1);
	expect_eproto(&r, MUX_SERVER, "GOAWAY");
	RESET();
	raw_frame(&r, FRAME_DATA, 0, "x", 1);
	expect_eproto(&r, MUX_SERVER, "stream 0");
	RESET();
	raw_u32(&r, FRAME_WINDOW, 0, 10);
	expect_eproto(&r, MUX_SERVER, "stream 0");
	/* OPEN: stream 0, wrong parity, not increasing */
	RESET();
	raw_frame(&r, FRAME_OPEN, 0, NULL, 0);
	expect_eproto(&r, MUX_SERVER, "OPEN");
	RESET();
	raw_frame(&r, FRAME_OPEN, 2, NULL, 0);  /* client must open odd */
	expect_eproto(&r, MUX_SERVER, "OPEN");
	RESET();
	raw_frame(&r, FRAME_OPEN, 1, NULL, 0);  /* server must open even */
	expect_eproto(&r, MUX_CLIENT, "OPEN");
	RESET();
	raw_frame(&r, FRAME_OPEN, 5, NULL, 0);
	raw_frame(&r, FRAME_OPEN, 3, NULL, 0);
	expect_eproto(&r, MUX_SERVER, "OPEN");
	RESET();
	raw_frame(&r, FRAME_OPEN, 5, NULL, 0);
	raw_frame(&r, FRAME_OPEN, 5, NULL, 0);
	expect_eproto(&r, MUX_SERVER, "OPEN");
	RESET();                        /* gaps are fine */
	raw_frame(&r, FRAME_OPEN, 1, NULL, 0);
	raw_frame(&r, FRAME_OPEN, 9, NULL, 0);
	raw_frame(&r, FRAME_OPEN, 0xffffffffu, NULL, 0);
	expect_ok(&r, MUX_SERVER);
	/* stream frames: bad WINDOW, bad RST, DATA after FIN */
	RESET();
	raw_frame(&r, FRAME_OPEN, 1, NULL, 0);
	raw_u32(&r, FRAME_WINDOW, 1, 0);
	expect_eproto(&r, MUX_SERVER, "WINDOW");
	RESET();
	raw_frame(&r, FRAME_OPEN, 1, NULL, 0);
	raw_frame(&r, FRAME_WINDOW, 1, p, 3);
	expect_eproto(&r, MUX_SERVER, "WINDOW");
	RESET();
	raw_frame(&r, FRAME_OPEN, 1, NULL, 0);
	raw_u32(&r, FRAME_WINDOW, 1, 0xffffffffu);
	raw_u32(&r, FRAME_WINDOW, 1, 0xffffffffu);
	expect_eproto(&r, MUX_SERVER, "WINDOW");
	RESET();
	raw_frame(&r, FRAME_OPEN, 1, NULL, 0);
	raw_frame(&r, FRAME_RST, 1, p, 1);
	expect_eproto(&r, MUX_SERVER, "RST");
	RESET();
	raw_frame(&r, FRAME_OPEN, 1, NULL, 0);
	raw_frame(&r, FRAME_FIN, 1, NULL, 0);
	raw_frame(&r, FRAME_FIN, 1, NULL, 0);   /* a second FIN is harmless */
	raw_frame(&r, FRAME_DATA, 1, pat_at(1, 0, 0), 10);
	expect_eproto(&r, MUX_SERVER, "DATA after FIN");
	/* frames for unknown streams are dropped */
	RESET();
	raw_frame(&r, FRAME_DATA, 7, "abc", 3);
	raw_u32(&r, FRAME_WINDOW, 8, 100);
	raw_frame(&r, FRAME_FIN, 9, NULL, 0);
	raw_frame(&r, FRAME_RST, 11, "\0\1", 2);
	raw_frame(&r, FRAME_RST, 11, p, 1);     /* not even checked */
	expect_ok(&r, MUX_SERVER);
#undef RESET
}

/* The peer sends more than the window on one stream: that stream is reset
 * with PROTOCOL both ways, the session lives. */
static void
test_window_exceeded(void **state)
{
	struct side sd;
	struct raw r = { .n = 0 };
	static uint8_t big[FRAME_MAX_PAYLOAD];
	struct st *t;
	struct iovec w;
	const uint8_t *b;
	size_t off;
	uint32_t sent = 0;
	int rc;

	(void)state;
	pat_init();
	memset(big, 0, sizeof(big));
	raw_settings(&r, MUX_VERSION, MUX_DEFAULT_WINDOW, FRAME_MAX_PAYLOAD);
	raw_frame(&r, FRAME_OPEN, 1, "w", 1);
	assert_int_equal(raw_feed(&sd, MUX_SERVER, &r, 4096, NULL, 0), 0);
	assert_int_equal(sd.nacc, 1);
	t = sd.acc[0];
	t->stop = true;
	/* exactly the window, in 256 KiB frames: accepted */
	while (sent < MUX_DEFAULT_WINDOW) {
		uint8_t hdr[FRAME_HDR_LEN];
		size_t n = FRAME_MAX_PAYLOAD;

		frame_header(hdr, FRAME_DATA, 1, (uint32_t)n);
		for (off = 0; off < FRAME_HDR_LEN + n;) {
			struct iovec io = mux_rbuf(sd.m);
			size_t k = FRAME_HDR_LEN + n - off;

			if (k > io.iov_len)
				k = io.iov_len;
			if (off < FRAME_HDR_LEN) {
				k = k < FRAME_HDR_LEN - off ? k : FRAME_HDR_LEN - off;
				memcpy(io.iov_base, hdr + off, k);
			} else {
				memcpy(io.iov_base, pat_at(1, 0, sent + off - FRAME_HDR_LEN), k);
			}
			off += k;
			assert_int_equal(mux_rcommit(sd.m, k), 0);
		}
		sent += (uint32_t)n;
	}
	assert_int_equal(t->rx, MUX_DEFAULT_WINDOW);
	assert_int_equal(t->resets, 0);
	/* one more byte */
	mux_wconsume(sd.m, mux_wpending(sd.m));
	r.n = 0;
	raw_frame(&r, FRAME_DATA, 1, pat_at(1, 0, sent), 1);
	{
		struct iovec io = mux_rbuf(sd.m);

		memcpy(io.iov_base, r.b, r.n);
		rc = mux_rcommit(sd.m, r.n);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(t->resets, 1);
	assert_int_equal(t->reset_code, MUX_RST_PROTOCOL);
	assert_int_equal(t->rx, MUX_DEFAULT_WINDOW);
	w = mux_wbuf(sd.m);
	b = w.iov_base;
	assert_true(w.iov_len >= FRAME_HDR_LEN + 2);
	assert_int_equal(b[4], FRAME_RST);
	assert_int_equal(frame_get32(b + 8), 1);
	assert_int_equal(b[FRAME_HDR_LEN] << 8 | b[FRAME_HDR_LEN + 1], MUX_RST_PROTOCOL);
	raw_done(&sd);
}

/* The receiver's output is full (control messages queued behind a slow
 * transport) when its owner consumes everything: the WINDOW frame must still
 * go out once the output drains, or the sender is out of credit for good. */
static void
test_window_owed(void **state)
{
	struct pair p;
	struct st *t;
	static uint8_t big[64 * 1024];
	int k = 0;

	(void)state;
	rng_seed(21);
	pair_init(&p, NULL, NULL);
	pump(&p);
	t = open_stream(&p.c, "w");
	t->tx_goal = MUX_DEFAULT_WINDOW;
	while (t->tx < t->tx_goal) {
		st_send(t, false, 1 << 16);
		pump(&p);
	}
	assert_int_equal(mux_stream_credit(t->s), 0);
	assert_int_equal(p.s.acc[0]->held, MUX_DEFAULT_WINDOW);
	/* fill the server's output to the brim */
	while (mux_control(p.s.m, big, sizeof(big)) == 0)
		k++;
	while (mux_control(p.s.m, big, 1) == 0)
		k++;
	assert_true(k > 0);
	mux_stream_consumed(p.s.acc[0]->s, MUX_DEFAULT_WINDOW);
	p.s.acc[0]->held = 0;
	p.chunk = 1 << 18;
	pump(&p);
	assert_int_equal(mux_stream_credit(t->s), MUX_DEFAULT_WINDOW);
	assert_int_equal(t->writables, 1);
	free(t);
	pair_fini(&p);
}

/* max_streams: opens beyond it are reset with LIMIT */
/* Zero-copy input: with only a DATA header read, the payload's stream and
 * length are offered; bytes the owner moves itself are skipped, the rest
 * arrives as on_data; after a large frame the next read asks for a header. */
static void
test_rpayload(void **state)
{
	struct pair p;
	struct st *t, *r;
	struct mux_stream *ms;
	struct iovec w, in;
	size_t left, off;

	(void)state;
	rng_seed(23);
	pair_init(&p, NULL, NULL);
	pump(&p);
	t = open_stream(&p.c, "z");
	pump(&p);
	assert_int_equal(p.s.nacc, 1);
	r = p.s.acc[0];
	assert_null(mux_rpayload(p.s.m, &left));
	assert_int_equal(left, 0);
	t->tx_goal = 100000;
	st_send(t, false, 1 << 20);
	w = mux_wbuf(p.c.m);
	assert_int_equal(w.iov_len, FRAME_HDR_LEN + 100000);
	/* the header alone */
	in = mux_rbuf(p.s.m);
	memcpy(in.iov_base, w.iov_base, FRAME_HDR_LEN);
	assert_int_equal(mux_rcommit(p.s.m, FRAME_HDR_LEN), 0);
	ms = mux_rpayload(p.s.m, &left);
	assert_ptr_equal(ms, r->s);
	assert_int_equal(left, 100000);
	/* the owner moves 40000 bytes itself */
	mux_rskip(p.s.m, 40000);
	r->rx += 40000;
	assert_ptr_equal(mux_rpayload(p.s.m, &left), r->s);
	assert_int_equal(left, 60000);
	/* the rest comes the usual way, in two pieces */
	off = FRAME_HDR_LEN + 40000;
	in = mux_rbuf(p.s.m);
	memcpy(in.iov_base, (uint8_t *)w.iov_base + off, 1000);
	assert_int_equal(mux_rcommit(p.s.m, 1000), 0);
	assert_int_equal(r->rx, 41000);
	in = mux_rbuf(p.s.m);
	memcpy(in.iov_base, (uint8_t *)w.iov_base + off + 1000, 59000);
	assert_int_equal(mux_rcommit(p.s.m, 59000), 0);
	assert_int_equal(r->rx, 100000);
	mux_wconsume(p.c.m, w.iov_len);
	assert_null(mux_rpayload(p.s.m, &left));
	/* after a large frame: read just the next header */
	assert_int_equal(mux_rwant(p.s.m), FRAME_HDR_LEN);
	pump(&p);
	free(t);
	pair_fini(&p);
}

static void
test_stream_limit(void **state)
{
	struct pair p;
	struct mux_conf sc;
	struct st *t[5];
	int i;

	(void)state;
	rng_seed(19);
	mux_conf_default(&sc);
	sc.max_streams = 3;
	pair_init(&p, NULL, &sc);
	pump(&p);
	for (i = 0; i < 5; i++)
		t[i] = open_stream(&p.c, "l");
	pump(&p);
	assert_int_equal(p.s.nacc, 3);
	assert_int_equal(t[3]->reset_code, MUX_RST_LIMIT);
	assert_int_equal(t[4]->reset_code, MUX_RST_LIMIT);
	assert_int_equal(t[2]->resets, 0);
	/* closing one makes room */
	mux_stream_close(p.s.acc[0]->s);
	p.s.handles[0] = NULL;
	pump(&p);
	assert_int_equal(t[0]->reset_code, MUX_RST_CANCEL);
	mux_stream_close(t[0]->s);
	p.c.handles[0] = NULL;
	free(t[0]);
	t[0] = open_stream(&p.c, "l");
	pump(&p);
	assert_int_equal(p.s.nacc, 4);
	assert_int_equal(t[0]->resets, 0);
	for (i = 0; i < 5; i++)
		free(t[i]);
	pair_fini(&p);
}

/* 10000 streams open at once (the table grows), then all closed; ids keep
 * their parity and increase; twice, so ids keep increasing past closes. */
static void
test_many_streams(void **state)
{
	enum { N = 10000 };
	struct pair p;
	struct mux_conf sc;
	struct st **cs;
	int i, round;
	uint32_t last = 0;

	(void)state;
	rng_seed(20);
	mux_conf_default(&sc);
	sc.max_streams = N;
	pair_init(&p, NULL, &sc);
	pump(&p);
	cs = calloc(N, sizeof(*cs));
	assert_non_null(cs);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < N; i++) {
			struct mux_stream *s = NULL;

			assert_int_equal(mux_stream_open(p.c.m, NULL, 0, &s), 0);
			assert_true(mux_stream_id(s) & 1);
			assert_true(mux_stream_id(s) > last);
			last = mux_stream_id(s);
			cs[i] = st_new(&p.c, s);
			if (i % 500 == 0)
				pump(&p);
		}
		pump(&p);
		assert_int_equal(mux_nstreams(p.c.m), N);
		assert_int_equal(mux_nstreams(p.s.m), N);
		assert_int_equal(p.s.opens, (round + 1) * N);
		assert_int_equal(p.s.nacc, N);
		/* every id finds its stream: a few bytes on each, both ways */
		for (i = 0; i < N; i++) {
			cs[i]->tx_goal = 3;
			st_send(cs[i], false, 3);
			p.s.acc[i]->tx_goal = 2;
			st_send(p.s.acc[i], false, 2);
		}
		pump(&p);
		for (i = 0; i < N; i++) {
			assert_int_equal(p.s.acc[i]->rx, 3);
			assert_int_equal(p.s.acc[i]->id, cs[i]->id);
			assert_int_equal(cs[i]->rx, 2);
		}
		/* close in a scattered order */
		for (i = 0; i < N; i++) {
			int j = (int)((uint64_t)i * 7919 % N);

			mux_stream_close(cs[j]->s);
			free(cs[j]);
		}
		pump(&p);
		assert_int_equal(mux_nstreams(p.c.m), 0);
		assert_int_equal(p.s.resets, (round + 1) * N);
		for (i = 0; i < p.s.nhandles; i++)
			mux_stream_close(p.s.handles[i]);
		assert_int_equal(mux_nstreams(p.s.m), 0);
		st_free_all(&p.s);
		st_free_all(&p.c);
	}
	/* server-opened ids are even and increasing too */
	last = 0;
	for (i = 0; i < 100; i++) {
		struct mux_stream *s = NULL;

		assert_int_equal(mux_stream_open(p.s.m, "x", 1, &s), 0);
		assert_int_equal(mux_stream_id(s) & 1, 0);
		assert_true(mux_stream_id(s) > last);
		last = mux_stream_id(s);
		push_handle(&p.s, s);
		st_new(&p.s, s);
		push_acc(&p.s, mux_stream_data(s));
	}
	pump(&p);
	assert_int_equal(p.c.opens, 100);
	free(cs);
	pair_fini(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_open_before_settings),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_open_accept_refuse),
		cmocka_unit_test(test_data_both_ways),
		cmocka_unit_test(test_credit),
		cmocka_unit_test(test_output_backpressure),
		cmocka_unit_test(test_stopped_reader),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_close_cancel),
		cmocka_unit_test(test_ping_goaway),
		cmocka_unit_test(test_free_with_streams),
		cmocka_unit_test(test_free_simple),
		cmocka_unit_test(test_fin_rst_at_cap),
		cmocka_unit_test(test_fin_rst_broken),
		cmocka_unit_test(test_version_mismatch),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_window_exceeded),
		cmocka_unit_test(test_window_owed),
		cmocka_unit_test(test_stream_limit),
		cmocka_unit_test(test_rpayload),
		cmocka_unit_test(test_many_streams),
	};
	int rc = cmocka_run_group_tests_name("mux", tests, NULL, NULL);

	free(pat);
	return rc;
}
