/* Fuzz target for the mux input path: arbitrary bytes into a session whose
 * owner opens, writes, consumes, half-closes, resets and closes streams from
 * inside its callbacks, the way node code does.
 *
 * Input: byte 0 picks the mode (bit 0: we are MUX_SERVER, else MUX_CLIENT;
 * bit 1: prepend a valid SETTINGS so the fuzzer reaches stream frames;
 * bit 2: free the session with handles still open), byte 1 seeds the owner's
 * choices and the chunk sizes (1 byte up to 64 KiB), the rest is the
 * transport byte stream.
 *
 * Checks beyond the sanitizers: a stream never delivers more than the window
 * we granted beyond what we consumed, zero-copy room never exceeds credit,
 * the output stays bounded, and no callback comes for a closed handle.
 *
 * Seeds in tests/fuzz/corpus/fuzz_mux/ are written by this file built with
 * -DFUZZ_MUX_SEEDS (a main() that takes the output dir):
 *   cc -std=c11 -D_GNU_SOURCE -DFUZZ_MUX_SEEDS -Iproto tests/fuzz/fuzz_mux.c \
 *       proto/mux.c proto/frame.c proto/buf.c -o /tmp/seeds
 *   /tmp/seeds tests/fuzz/corpus/fuzz_mux
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_WINDOW       (64u * 1024)
#define FZ_MAXH         32

struct fz_stream {
	struct mux_stream *s;
	uint64_t held;                  /* delivered, not yet consumed */
	bool fin_recv;
};

struct fz {
	struct mux *m;
	uint32_t rnd;
	struct fz_stream st[FZ_MAXH];
	size_t out_limit;
	bool freeing;
};

static uint32_t
fz_rand(struct fz *z)
{
	z->rnd ^= z->rnd << 13;
	z->rnd ^= z->rnd >> 17;
	z->rnd ^= z->rnd << 5;
	return z->rnd;
}

static struct fz_stream *
fz_slot(struct fz *z, struct mux_stream *s)
{
	struct fz_stream *f = mux_stream_data(s);

	if (f == NULL || f < z->st || f >= z->st + FZ_MAXH || f->s != s)
		abort();                /* a callback for a handle we closed */
	return f;
}

static void
fz_close(struct fz *z, struct fz_stream *f)
{
	struct mux_stream *s = f->s;

	(void)z;
	memset(f, 0, sizeof(*f));
	mux_stream_set_data(s, NULL);
	mux_stream_close(s);
}

static struct fz_stream *
fz_adopt(struct fz *z, struct mux_stream *s)
{
	int i;

	for (i = 0; i < FZ_MAXH; i++) {
		if (z->st[i].s == NULL) {
			memset(&z->st[i], 0, sizeof(z->st[i]));
			z->st[i].s = s;
			mux_stream_set_data(s, &z->st[i]);
			return &z->st[i];
		}
	}
	return NULL;
}

static void
fz_write(struct fz *z, struct fz_stream *f)
{
	static const uint8_t junk[4096];
	size_t room, credit = mux_stream_credit(f->s);
	uint8_t *d;

	if (fz_rand(z) & 1) {
		mux_stream_write(f->s, junk, fz_rand(z) % sizeof(junk));
		return;
	}
	if ((d = mux_stream_data_begin(f->s, &room)) == NULL) {
		if (room != 0)
			abort();
		return;
	}
	if (room == 0 || room > credit)
		abort();
	room = fz_rand(z) % (room + 1);
	memset(d, 0xa5, room);
	mux_stream_data_commit(f->s, room);
}

static int
fz_on_open(struct mux *m, struct mux_stream *s, const uint8_t *hdr, size_t len)
{
	struct fz *z = mux_data(m);

	(void)hdr;
	(void)len;
	if ((fz_rand(z) & 7) == 0 || fz_adopt(z, s) == NULL)
		return -1;
	if (fz_rand(z) & 1)
		fz_write(z, mux_stream_data(s));
	return 0;
}

static void
fz_on_data(struct mux_stream *s, const uint8_t *p, size_t len)
{
	struct fz *z = mux_data(mux_stream_mux(s));
	struct fz_stream *f = fz_slot(z, s);
	volatile uint8_t sink = 0;
	size_t i;

	if (len == 0 || f->fin_recv)
		abort();
	for (i = 0; i < len; i += 512)
		sink ^= p[i];
	sink ^= p[len - 1];
	(void)sink;
	f->held += len;
	if (f->held > FZ_WINDOW)
		abort();                /* the mux let the peer past our window */
	switch (fz_rand(z) % 8) {
	case 0:
		break;                  /* stalled reader */
	case 1:
		fz_close(z, f);
		return;
	case 2:
		mux_stream_reset(s, MUX_RST_CANCEL, "fuzz");
		break;
	case 3:
		fz_write(z, f);
		/* FALLTHROUGH */
	default:
		mux_stream_consumed(s, (size_t)f->held);
		f->held = 0;
		break;
	}
}

static void
fz_on_fin(struct mux_stream *s)
{
	struct fz *z = mux_data(mux_stream_mux(s));
	struct fz_stream *f = fz_slot(z, s);

	if (f->fin_recv)
		abort();
	f->fin_recv = true;
	if (fz_rand(z) & 1)
		mux_stream_fin(s);
	if ((fz_rand(z) & 3) == 0)
		fz_close(z, f);
}

static void
fz_on_reset(struct mux_stream *s, int code, const char *reason)
{
	struct fz *z = mux_data(mux_stream_mux(s));
	struct fz_stream *f = fz_slot(z, s);
	int i;

	(void)code;
	if (strlen(reason) > FRAME_REASON_MAX)
		abort();
	/* sometimes close another handle too, then this one (or keep it) */
	if (fz_rand(z) & 1) {
		for (i = 0; i < FZ_MAXH; i++) {
			if (z->st[i].s != NULL && z->st[i].s != s) {
				fz_close(z, &z->st[i]);
				break;
			}
		}
	}
	if (fz_rand(z) % 4 != 0)
		fz_close(z, f);
}

static void
fz_on_writable(struct mux_stream *s)
{
	struct fz *z = mux_data(mux_stream_mux(s));

	if (z->freeing)
		abort();
	fz_write(z, fz_slot(z, s));
}

static void
fz_on_control(struct mux *m, const uint8_t *p, size_t len)
{
	struct fz *z = mux_data(m);
	struct mux_stream *s;

	if (len > 0)
		(void)p[len - 1];
	if ((fz_rand(z) & 3) == 0)
		mux_control(m, p, len);
	if ((fz_rand(z) & 3) == 0 && mux_stream_open(m, p, len > 64 ? 64 : len, &s) == 0 &&
	    fz_adopt(z, s) == NULL)
		mux_stream_close(s);
}

static void
fz_on_pong(struct mux *m, uint64_t v)
{
	(void)m;
	(void)v;
}

static void
fz_on_goaway(struct mux *m, int code, const char *reason)
{
	struct mux_stream *s;

	(void)code;
	if (strlen(reason) > FRAME_REASON_MAX)
		abort();
	if (mux_stream_open(m, NULL, 0, &s) != -EAGAIN)
		abort();
}

static const struct mux_callbacks fz_cb = {
	.on_open = fz_on_open,
	.on_data = fz_on_data,
	.on_fin = fz_on_fin,
	.on_reset = fz_on_reset,
	.on_writable = fz_on_writable,
	.on_control = fz_on_control,
	.on_pong = fz_on_pong,
	.on_goaway = fz_on_goaway,
};

/* Feeds p[len] in random chunks; returns the first mux_rcommit error. */
static int
fz_feed(struct fz *z, const uint8_t *p, size_t len)
{
	size_t off = 0;
	int rc, i;

	while (off < len) {
		struct iovec io = mux_rbuf(z->m);
		size_t n, max = (size_t)1 << (fz_rand(z) % 17);

		if (io.iov_base == NULL || io.iov_len < 4096)
			abort();
		n = 1 + fz_rand(z) % max;
		if (n > len - off)
			n = len - off;
		if (n > io.iov_len)
			n = io.iov_len;
		memcpy(io.iov_base, p + off, n);
		off += n;
		if ((rc = mux_rcommit(z->m, n)) != 0)
			return rc;
		/* the owner's own actions between reads */
		switch (fz_rand(z) % 8) {
		case 0:
			mux_wconsume(z->m, fz_rand(z) % (mux_wpending(z->m) + 1));
			break;
		case 1:
			mux_ping(z->m, fz_rand(z));
			break;
		case 2: {
			struct mux_stream *s;

			if (mux_stream_open(z->m, "o", 1, &s) == 0 && fz_adopt(z, s) == NULL)
				mux_stream_close(s);
			break;
		}
		case 3:
			i = (int)(fz_rand(z) % FZ_MAXH);
			if (z->st[i].s != NULL) {
				if (fz_rand(z) & 1)
					mux_stream_fin(z->st[i].s);
				else
					fz_write(z, &z->st[i]);
			}
			break;
		case 4:
			i = (int)(fz_rand(z) % FZ_MAXH);
			if (z->st[i].s != NULL && z->st[i].held > 0) {
				mux_stream_consumed(z->st[i].s, (size_t)z->st[i].held);
				z->st[i].held = 0;
			}
			break;
		default:
			break;
		}
		if (mux_wpending(z->m) > z->out_limit)
			abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mux_conf conf;
	struct frame_settings fs;
	uint8_t pre[FRAME_HDR_LEN + 12];
	struct fz z;
	int i, rc = 0;

	if (size < 2)
		return 0;
	memset(&z, 0, sizeof(z));
	z.rnd = 0x9e3779b9u ^ (uint32_t)data[1] << 8 ^ data[0];
	mux_conf_default(&conf);
	conf.window = FZ_WINDOW;
	conf.max_frame = 16384;
	conf.out_high = 64 * 1024;
	conf.max_streams = 16;
	/* out_high + a frame + control slack, for any input */
	z.out_limit = conf.out_high + (size_t)FRAME_HDR_LEN * 2 + FRAME_MAX_PAYLOAD +
	    256 * 1024;
	z.m = mux_new(data[0] & 1 ? MUX_SERVER : MUX_CLIENT, &conf, &fz_cb, &z);
	if (z.m == NULL)
		return 0;
	if (data[0] & 2) {
		fs.version = MUX_VERSION;
		fs.window = MUX_DEFAULT_WINDOW;
		fs.max_payload = FRAME_MAX_PAYLOAD;
		frame_header(pre, FRAME_SETTINGS, 0, 12);
		frame_settings_encode(pre + FRAME_HDR_LEN, &fs);
		rc = fz_feed(&z, pre, sizeof(pre));
		if (rc != 0)
			abort();
	}
	rc = fz_feed(&z, data + 2, size - 2);
	if (rc != 0) {
		if (rc != -EPROTO || strcmp(mux_error(z.m), "no error") == 0)
			abort();
	}
	if (data[0] & 4) {
		z.freeing = true;
		mux_free(z.m);          /* handles closed in on_reset, or below */
		for (i = 0; i < FZ_MAXH; i++)
			if (z.st[i].s != NULL)
				fz_close(&z, &z.st[i]);
	} else {
		for (i = 0; i < FZ_MAXH; i++)
			if (z.st[i].s != NULL)
				fz_close(&z, &z.st[i]);
		if (mux_nstreams(z.m) != 0)
			abort();
		z.freeing = true;
		mux_free(z.m);
	}
	return 0;
}

#ifdef FUZZ_MUX_SEEDS
/* Seeds: byte streams written by a real peer mux. */
int main(int argc, char **argv);

static void
seed_write(const char *dir, const char *name, uint8_t mode, struct mux *peer)
{
	char path[4096];
	struct iovec w = mux_wbuf(peer);
	uint8_t hdr[2] = { mode, 0x5a };
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(hdr, 1, 2, f);
	fwrite(w.iov_base, 1, w.iov_len, f);
	fclose(f);
	mux_wconsume(peer, w.iov_len);
}

static const struct mux_callbacks seed_cb;

int
main(int argc, char **argv)
{
	static uint8_t junk[40000];
	struct mux_stream *s[4];
	struct mux *c, *sv;
	int i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	memset(junk, 'j', sizeof(junk));
	/* what a client sends to a server (we are MUX_SERVER: mode bit 0) */
	c = mux_new(MUX_CLIENT, NULL, &seed_cb, NULL);
	mux_control(c, "\x01\x00\x01\x00\x02id\x00\x00\x00\x03w/1", 15);
	for (i = 0; i < 3; i++)
		mux_stream_open(c, "\0\0\0\1\0\x0b" "1.2.3.4:567\0\0", 19, &s[i]);
	mux_stream_write(s[0], junk, 20000);
	mux_stream_write(s[1], junk, 100);
	mux_stream_fin(s[1]);
	mux_stream_reset(s[2], MUX_RST_NO_TUNNEL, "no such tunnel");
	mux_ping(c, 12345);
	seed_write(argv[1], "client_session", 1, c);
	/* same with the handles freed at the end */
	mux_stream_write(s[0], junk, 20000);
	mux_stream_close(s[0]);
	mux_goaway(c, 0, "bye");
	seed_write(argv[1], "client_goaway", 1 | 4, c);
	for (i = 1; i < 3; i++)
		mux_stream_close(s[i]);
	mux_free(c);
	/* what a server sends to a client (we are MUX_CLIENT) */
	sv = mux_new(MUX_SERVER, NULL, &seed_cb, NULL);
	mux_control(sv, "\x02\x00\x01\x00\x06node-a", 11);
	mux_stream_open(sv, "\0\0\0\7\0\x0b" "9.8.7.6:543\0\x05" "a.b.c", 24, &s[0]);
	mux_stream_write(s[0], junk, 70000);        /* past our 64 KiB window */
	mux_stream_fin(s[0]);
	seed_write(argv[1], "server_session", 0, sv);
	mux_stream_close(s[0]);
	mux_free(sv);
	/* after the SETTINGS prefix (mode bit 1): bare frames */
	{
		struct mux *t = mux_new(MUX_CLIENT, NULL, &seed_cb, NULL);

		mux_wconsume(t, mux_wpending(t));       /* drop its SETTINGS */
		mux_stream_open(t, "x", 1, &s[0]);
		mux_stream_write(s[0], junk, 3000);
		mux_control(t, "\x05\0\0\0\1", 5);
		mux_ping(t, 1);
		seed_write(argv[1], "frames_after_settings", 1 | 2, t);
		mux_stream_close(s[0]);
		mux_free(t);
	}
	return 0;
}
#endif
