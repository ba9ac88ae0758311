/* mesh: links between two mesh instances on one loop, over loopback TCP.
 * Streams flow both ways; two nodes dialling each other at once end with
 * one link, the one dialled by the name that sorts first; a peer with
 * another key never gets a stream through and is counted on both sides.
 * With TLS: streams flow; a man in the middle that terminates TLS on both
 * sides and relays the bytes gets no link up (the PROOFs are bound to each
 * TLS session); a plain node and a TLS node never link, counted. */
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
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
#include "node/meshtls.h"
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
node_start_tls(struct tnode *n, struct ev_loop *loop, const char *name,
    const struct keyring *kr, bool tls)
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
	conf.tls = tls;
	assert_int_equal(mesh_new(&n->m, loop, &conf, &cb), 0);
}

static void
node_start(struct tnode *n, struct ev_loop *loop, const char *name,
    const struct keyring *kr)
{
	node_start_tls(n, loop, name, kr, false);
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

static void
test_tls_link(void **state)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct keyring *kr = ring(0x42);
	struct tnode a, b;
	struct tstream *t[2];

	node_start_tls(&a, loop, "alpha", kr, true);
	node_start_tls(&b, loop, "beta", kr, true);
	assert_int_equal(mesh_peer_set(a.m, "beta", b.addr), 0);
	assert_int_equal(mesh_peer_set(b.m, "alpha", a.addr), 0);
	t[0] = open_msg(&a, "beta", "over tls from alpha");
	t[1] = open_msg(&b, "alpha", "over tls from beta");
	assert_true(run_until(loop, both_done, t, 5.0));
	assert_memory_equal(t[0]->got, "over tls from alpha", t[0]->len);
	assert_memory_equal(t[1]->got, "over tls from beta", t[1]->len);
	assert_int_equal(mesh_stats(a.m)->auth_failed, 0);
	assert_int_equal(mesh_stats(a.m)->tls_failed, 0);
	close_opener(t[0]);
	close_opener(t[1]);
	node_stop(&a);
	node_stop(&b);
	keyring_free(kr);
	ev_loop_destroy(loop);
}

/* The man in the middle: takes one TLS connection (its own certificate,
 * which the dialler does not check), dials the real listener with TLS, and
 * relays the plaintext both ways on its own thread. */
struct mitm {
	int lfd;
	char addr[64];
	const char *to;
	size_t relayed;
	pthread_t th;
};

static void *
mitm_run(void *arg)
{
	struct mitm *x = arg;
	char err[256], buf[16384];
	SSL_CTX *sctx = meshtls_ctx(true, err, sizeof(err));
	SSL_CTX *cctx = meshtls_ctx(false, err, sizeof(err));
	SSL *in = NULL, *out = NULL;
	struct sock_addr a;
	int fa = -1, fb = -1;

	if (sctx == NULL || cctx == NULL)
		goto done;
	if ((fa = accept(x->lfd, NULL, NULL)) == -1 ||
	    sock_addr_parse(&a, x->to, NULL) != 0 ||
	    (fb = socket(a.ss.ss_family, SOCK_STREAM, 0)) == -1 ||
	    connect(fb, (struct sockaddr *)&a.ss, a.len) == -1)
		goto done;
	in = SSL_new(sctx);
	out = SSL_new(cctx);
	SSL_set_fd(in, fa);
	SSL_set_fd(out, fb);
	if (SSL_accept(in) != 1 || SSL_connect(out) != 1)
		goto done;
	for (;;) {
		struct pollfd p[2] = { { fa, POLLIN, 0 }, { fb, POLLIN, 0 } };
		SSL *from[2] = { in, out }, *to[2] = { out, in };
		int i, n;

		if (!SSL_has_pending(in) && !SSL_has_pending(out) &&
		    poll(p, 2, 3000) <= 0)
			goto done;
		for (i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP)) &&
			    !SSL_has_pending(from[i]))
				continue;
			if ((n = SSL_read(from[i], buf, sizeof(buf))) <= 0 ||
			    SSL_write(to[i], buf, n) != n)
				goto done;
			x->relayed += (size_t)n;
		}
	}
done:
	SSL_free(in);
	SSL_free(out);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	if (fa != -1)
		close(fa);
	if (fb != -1)
		close(fb);
	return NULL;
}

static bool
both_auth_failed(void *arg)
{
	struct pair *p = arg;

	return mesh_stats(p->a->m)->auth_failed >= 1 &&
	    mesh_stats(p->b->m)->auth_failed >= 1;
}

static void
test_tls_mitm_refused(void **state)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct keyring *kr = ring(0x42);
	struct tnode a, b;
	struct pair p = { &a, &b };
	struct sock_addr sa;
	struct mitm x;
	struct tstream *t;

	node_start_tls(&a, loop, "alpha", kr, true);
	node_start_tls(&b, loop, "beta", kr, true);
	memset(&x, 0, sizeof(x));
	assert_int_equal(sock_addr_parse(&sa, "127.0.0.1:0", NULL), 0);
	assert_true((x.lfd = sock_listen(&sa, 4)) >= 0);
	sock_addr_format(&sa, x.addr, sizeof(x.addr));
	x.to = b.addr;
	/* the accepted socket is blocking: the listener's flag is not inherited */
	assert_int_equal(pthread_create(&x.th, NULL, mitm_run, &x), 0);
	/* alpha believes beta is where the man in the middle listens */
	assert_int_equal(mesh_peer_set(a.m, "beta", x.addr), 0);
	t = open_msg(&a, "beta", "secret");
	assert_true(run_until(loop, both_auth_failed, &p, 5.0));
	assert_true(run_until(loop, reset_seen, t, 5.0));
	pthread_join(x.th, NULL);
	assert_true(x.relayed > 0);             /* it did relay the handshake */
	assert_int_equal(b.nin, 0);             /* no stream reached beta */
	assert_int_equal(mesh_stats(a.m)->links_up, 0);
	assert_int_equal(mesh_stats(b.m)->links_up, 0);
	close(x.lfd);
	close_opener(t);
	node_stop(&a);
	node_stop(&b);
	keyring_free(kr);
	ev_loop_destroy(loop);
}

static bool
mismatch_counted(void *arg)
{
	struct pair *p = arg;

	return mesh_stats(p->a->m)->tls_mismatch >= 1 &&
	    mesh_stats(p->b->m)->tls_mismatch >= 1;
}

/* plain -> TLS and TLS -> plain: refused, counted on both ends */
static void
test_tls_mismatch(void **state)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct keyring *kr = ring(0x42);
	struct tnode a, b;
	struct pair p = { &a, &b };
	struct tstream *t;
	int dir;

	for (dir = 0; dir < 2; dir++) {
		node_start_tls(&a, loop, "alpha", kr, dir == 0);
		node_start_tls(&b, loop, "beta", kr, dir == 1);
		assert_int_equal(mesh_peer_set(a.m, "beta", b.addr), 0);
		t = open_msg(&a, "beta", "hello?");
		assert_true(run_until(loop, mismatch_counted, &p, 5.0));
		assert_true(run_until(loop, reset_seen, t, 5.0));
		assert_int_equal(b.nin, 0);
		assert_int_equal(mesh_stats(a.m)->links_up, 0);
		assert_int_equal(mesh_stats(b.m)->links_up, 0);
		close_opener(t);
		node_stop(&a);
		node_stop(&b);
	}
	keyring_free(kr);
	ev_loop_destroy(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_double_dial_settles),
		cmocka_unit_test(test_wrong_key_refused),
		cmocka_unit_test(test_tls_link),
		cmocka_unit_test(test_tls_mitm_refused),
		cmocka_unit_test(test_tls_mismatch),
	};

	log_setup("test", "error");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
