/* mesh: links between two mesh instances on one loop, over loopback TCP.
 * Streams flow both ways; two nodes dialling each other at once end with
 * one link, the one dialled by the name that sorts first; a peer with
 * another key never gets a stream through and is counted on both sides. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "keyring.h"
#include "log.h"
#include "node/mesh.h"
#include "mux.h"
#include "sock.h"

/* One end of a test stream: the opener sends `msg` and FIN; the acceptor
 * echoes what it got, then FINs. */
struct tstream {
	struct mux_stream *st;
	char got[256];
	size_t len;
	bool fin, reset, opener;
	int code;
};

struct tnode {
	struct mesh *m;
	char addr[64];
	struct tstream *in[8];
	size_t nin;
};

static void
ts_data(struct mux_stream *st, const uint8_t *p, size_t len)
{
	struct tstream *t = mux_stream_data(st);

	if (t->len + len < sizeof(t->got)) {
		memcpy(t->got + t->len, p, len);
		t->len += len;
	}
	mux_stream_consumed(st, len);
}

static void
ts_fin(struct mux_stream *st)
{
	struct tstream *t = mux_stream_data(st);

	t->fin = true;
	if (!t->opener) {
		mux_stream_write(st, t->got, t->len);
		mux_stream_fin(st);
	}
}

static void
ts_reset(struct mux_stream *st, int code, const char *reason)
{
	struct tstream *t = mux_stream_data(st);

	t->reset = true;
	t->code = code;
	mux_stream_close(st);
	t->st = NULL;
}

static void
ts_writable(struct mux_stream *st)
{
}

static const struct mux_callbacks ts_cb = {
	.on_data = ts_data,
	.on_fin = ts_fin,
	.on_reset = ts_reset,
	.on_writable = ts_writable,
};

static int
ts_open(void *arg, const char *peer, struct mux_stream *st, const uint8_t *hdr,
    size_t len)
{
	struct tnode *n = arg;
	struct tstream *t;

	if (n->nin == 8 || (t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->st = st;
	mux_stream_set_data(st, t);
	n->in[n->nin++] = t;
	return 0;
}

static struct keyring *
ring(uint8_t fill)
{
	struct keyring *kr;
	uint8_t key[KEYRING_KEY_LEN];

	memset(key, fill, sizeof(key));
	assert_int_equal(keyring_new(&kr), 0);
	assert_int_equal(keyring_add(kr, key), 0);
	return kr;
}

static void
node_start(struct tnode *n, struct ev_loop *loop, const char *name,
    const struct keyring *kr)
{
	static struct mux_conf mc;
	struct mesh_callbacks cb = { ts_open, &ts_cb, NULL, n };
	struct mesh_conf conf;
	struct sock_addr a;
	int fd;

	memset(n, 0, sizeof(*n));
	mux_conf_default(&mc);
	assert_int_equal(sock_addr_parse(&a, "127.0.0.1:0", NULL), 0);
	assert_true((fd = sock_listen(&a, 16)) >= 0);
	sock_addr_format(&a, n->addr, sizeof(n->addr));
	memset(&conf, 0, sizeof(conf));
	conf.self = name;
	conf.listen_fd = fd;
	conf.kr = kr;
	conf.mux = &mc;
	conf.handshake_timeout = 2.0;
	conf.ping_interval = 1.0;
	assert_int_equal(mesh_new(&n->m, loop, &conf, &cb), 0);
}

static void
node_stop(struct tnode *n)
{
	size_t i;

	for (i = 0; i < n->nin; i++) {
		if (n->in[i]->st != NULL)
			mux_stream_close(n->in[i]->st);
		free(n->in[i]);
	}
	mesh_free(n->m);
}

static void
tick(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* Runs the loop until *cond or `secs` pass; returns *cond. */
static bool
run_until(struct ev_loop *loop, bool (*cond)(void *), void *arg, double secs)
{
	ev_timer t;
	ev_tstamp end;

	ev_timer_init(&t, tick, 0.01, 0.01);
	ev_timer_start(loop, &t);
	ev_now_update(loop);
	end = ev_now(loop) + secs;
	while (!cond(arg) && ev_now(loop) < end)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
	return cond(arg);
}

static struct tstream *
open_msg(struct tnode *from, const char *to, const char *msg)
{
	struct tstream *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->opener = true;
	assert_int_equal(mesh_open(from->m, to, "h", 1, t, &t->st), 0);
	assert_int_equal(mux_stream_write(t->st, msg, strlen(msg)), strlen(msg));
	mux_stream_fin(t->st);
	return t;
}

static bool
both_done(void *arg)
{
	struct tstream **t = arg;

	return t[0]->fin && t[1]->fin;
}

struct pair {
	struct tnode *a, *b;
};

static bool
settled(void *arg)
{
	struct pair *p = arg;

	return mesh_links_up(p->a->m) == 1 && mesh_links_up(p->b->m) == 1;
}

static void
close_opener(struct tstream *t)
{
	if (t->st != NULL)
		mux_stream_close(t->st);
	free(t);
}

static void
test_double_dial_settles(void **state)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct keyring *kr = ring(0x42);
	struct tnode a, b;
	struct tstream *t[2];
	struct pair p = { &a, &b };
	uint64_t dials_a, dials_b;

	node_start(&a, loop, "alpha", kr);
	node_start(&b, loop, "beta", kr);
	assert_int_equal(mesh_open(a.m, "beta", "h", 1, NULL, &(struct mux_stream *){ NULL }),
	    -ENOENT);  /* no address yet */
	assert_int_equal(mesh_peer_set(a.m, "beta", b.addr), 0);
	assert_int_equal(mesh_peer_set(b.m, "alpha", a.addr), 0);
	assert_int_equal(mesh_peer_set(a.m, "alpha", "not an address"), 0); /* self: ignored */
	assert_int_equal(mesh_peer_set(a.m, "gamma", "not an address"), -EINVAL);
	/* both open before either link exists: two dials at once */
	t[0] = open_msg(&a, "beta", "from alpha");
	t[1] = open_msg(&b, "alpha", "from beta");
	assert_true(run_until(loop, both_done, t, 5.0));
	assert_int_equal(t[0]->len, strlen("from alpha"));
	assert_memory_equal(t[0]->got, "from alpha", t[0]->len);
	assert_memory_equal(t[1]->got, "from beta", t[1]->len);
	assert_int_equal(mesh_stats(a.m)->dials, 1);
	assert_int_equal(mesh_stats(b.m)->dials, 1);
	close_opener(t[0]);
	close_opener(t[1]);
	/* the duplicate retires once both ends dropped it */
	assert_true(run_until(loop, settled, &p, 5.0));
	assert_true(mesh_stats(a.m)->duplicates >= 1);
	assert_true(mesh_stats(b.m)->duplicates >= 1);
	/* new streams, either way, ride the kept link: no new dial */
	dials_a = mesh_stats(a.m)->dials;
	dials_b = mesh_stats(b.m)->dials;
	t[0] = open_msg(&a, "beta", "again a");
	t[1] = open_msg(&b, "alpha", "again b");
	assert_true(run_until(loop, both_done, t, 5.0));
	assert_memory_equal(t[1]->got, "again b", t[1]->len);
	assert_int_equal(mesh_stats(a.m)->dials, dials_a);
	assert_int_equal(mesh_stats(b.m)->dials, dials_b);
	assert_int_equal(mesh_links_up(a.m), 1);
	assert_int_equal(mesh_stats(a.m)->auth_failed, 0);
	close_opener(t[0]);
	close_opener(t[1]);
	node_stop(&a);
	node_stop(&b);
	keyring_free(kr);
	ev_loop_destroy(loop);
}

static bool
reset_seen(void *arg)
{
	return ((struct tstream *)arg)->reset;
}

static bool
auth_counted(void *arg)
{
	return mesh_stats(arg)->auth_failed == 1;
}

static void
test_wrong_key_refused(void **state)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct keyring *k1 = ring(1), *k2 = ring(2);
	struct tnode a, c;
	struct tstream *t;

	node_start(&a, loop, "alpha", k1);
	node_start(&c, loop, "intruder", k2);
	assert_int_equal(mesh_peer_set(c.m, "alpha", a.addr), 0);
	t = open_msg(&c, "alpha", "let me in");
	assert_true(run_until(loop, reset_seen, t, 5.0));
	assert_int_equal(t->code, MUX_RST_SESSION_GONE);
	assert_true(run_until(loop, auth_counted, a.m, 5.0));
	assert_int_equal(a.nin, 0);             /* no stream ever reached alpha */
	assert_int_equal(mesh_stats(a.m)->auth_failed, 1);
	assert_int_equal(mesh_stats(c.m)->auth_failed, 1);
	assert_int_equal(mesh_stats(a.m)->links_up, 0);
	/* a failed dial backs off: the next open does not dial at once */
	assert_int_equal(mesh_open(c.m, "alpha", "h", 1, NULL, &t->st), -EHOSTUNREACH);
	t->st = NULL;
	close_opener(t);
	node_stop(&a);
	node_stop(&c);
	keyring_free(k1);
	keyring_free(k2);
	ev_loop_destroy(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_double_dial_settles),
		cmocka_unit_test(test_wrong_key_refused),
	};

	log_setup("test", "error");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
