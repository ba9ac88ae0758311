/* Replication of routing.db: the wire format, the merge rules on real
 * SQLite databases, and a deterministic simulation of whole clusters (the
 * SWIM simulator's clock and network, swimsim.inc, with a replication agent
 * and an in-memory routing.db per node): random writes on random nodes,
 * loss, partitions, restarts with and without the data, then heal; every
 * run ends with equal digests on every node.
 *
 * Seeded: REPL_SEED=<n> changes the base seed; failures print the seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>

#include "swimsim.inc"
#include "gossip/hlc.h"
#include "gossip/repl.h"
#include "gossip/repldb.h"
#include "gossip/replmsg.h"
#include "gossip/store.h"

#define WALL0_MS                1790000000000ULL

static uint64_t
test_seed(unsigned k)
{
	const char *e = getenv("REPL_SEED");
	uint64_t base = e ? strtoull(e, NULL, 0) : 20261127ULL;

	return base * 2654435761ULL + k;
}

/* ---- wire format -------------------------------------------------------- */

static void
test_replmsg_roundtrip(void **state)
{
	struct replmsg m, d;
	struct replmsg_change ch[2];
	struct replmsg_head h = { 0, 7 };
	char actors[1][REPLMSG_NAME_MAX + 1] = { "00aa11bb22cc33dd" };
	uint8_t buf[512];
	int n, i;

	memset(&m, 0, sizeof(m));
	memset(ch, 0, sizeof(ch));
	snprintf(ch[0].tbl, sizeof(ch[0].tbl), "tokens");
	ch[0].pk = (struct replmsg_value){ .type = REPLMSG_V_TEXT,
	    .p = (const uint8_t *)"tok_1", .len = 5 };
	snprintf(ch[0].col, sizeof(ch[0].col), "note");
	ch[0].val = (struct replmsg_value){ .type = REPLMSG_V_TEXT,
	    .p = (const uint8_t *)"hello", .len = 5 };
	ch[0].hlc = 123456789;
	ch[0].version = 7;
	snprintf(ch[1].tbl, sizeof(ch[1].tbl), "backends");
	ch[1].pk = (struct replmsg_value){ .type = REPLMSG_V_INT, .i = -5 };
	ch[1].val = (struct replmsg_value){ .type = REPLMSG_V_REAL, .r = 2.5 };
	ch[1].version = 7;
	m.type = REPLMSG_CHANGES;
	m.flags = REPLMSG_F_COMPLETE;
	m.ttl = 3;
	m.nactors = 1;
	m.actors = actors;
	m.nheads = 1;
	m.heads = &h;
	m.nchanges = 2;
	m.changes = ch;
	n = replmsg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, replmsg_size(&m));
	assert_true(replmsg_is(buf, (size_t)n));
	assert_int_equal(replmsg_decode(&d, buf, (size_t)n), 0);
	assert_int_equal(d.type, REPLMSG_CHANGES);
	assert_int_equal(d.ttl, 3);
	assert_string_equal(d.actors[0], actors[0]);
	assert_int_equal(d.heads[0].version, 7);
	assert_int_equal(d.nchanges, 2);
	assert_string_equal(d.changes[0].col, "note");
	assert_memory_equal(d.changes[0].val.p, "hello", 5);
	assert_int_equal(d.changes[1].pk.i, -5);
	assert_true(d.changes[1].val.r == 2.5);
	assert_string_equal(d.changes[1].col, "");
	replmsg_fini(&d);
	/* every truncation is malformed, never a crash */
	for (i = 0; i < n; i++)
		assert_int_equal(replmsg_decode(&d, buf, (size_t)i), -EINVAL);
	/* a trailing byte, a bad actor index, too small a buffer */
	assert_int_equal(replmsg_decode(&d, buf, (size_t)n + 1), -EINVAL);
	h.actor = 1;
	assert_int_equal(replmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
	h.actor = 0;
	assert_int_equal(replmsg_encode(&m, buf, 20), -ENOSPC);
}

/* ---- merge rules on real databases -------------------------------------- */

struct db {
	struct store *st;
	struct repldb *rd;
	struct repldb_set out[8];       /* captured, not yet shipped */
	int nout;
};

static void
db_open(struct db *d)
{
	char err[256];

	memset(d, 0, sizeof(*d));
	assert_int_equal(store_open(&d->st, ":memory:", "eu"), 0);
	assert_int_equal(repldb_open(&d->rd, store_db(d->st), err, sizeof(err)), 0);
}

static void
db_close(struct db *d)
{
	int i;

	for (i = 0; i < d->nout; i++)
		repldb_set_fini(&d->out[i]);
	repldb_free(d->rd);
	store_close(d->st);
}

static void
db_exec(struct db *d, const char *sql)
{
	char *e = NULL;

	if (sqlite3_exec(store_db(d->st), sql, NULL, NULL, &e) != SQLITE_OK)
		fail_msg("%s: %s", sql, e);
}

static long long
db_int(struct db *d, const char *sql)
{
	sqlite3_stmt *s;
	long long v = -1;

	assert_int_equal(sqlite3_prepare_v2(store_db(d->st), sql, -1, &s, NULL),
	    SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Applies a set on `to` through the wire format; a local write waiting on
 * `to` is captured first (into its outbox), as the agent does. */
static uint32_t
db_deliver(struct db *to, const struct replmsg *msg, uint64_t wall)
{
	struct replmsg m;
	uint8_t *buf;
	size_t size = replmsg_size(msg);
	int rc;

	assert_non_null(buf = malloc(size));
	assert_int_equal(replmsg_encode(msg, buf, size), (int)size);
	assert_int_equal(replmsg_decode(&m, buf, size), 0);
	while ((rc = repldb_apply(to->rd, &m, 0, m.nchanges, wall)) == -EAGAIN) {
		assert_true(to->nout < 8);
		assert_true(repldb_capture(to->rd, wall, &to->out[to->nout]) >= 0);
		to->nout++;
	}
	assert_true(rc >= 0);
	replmsg_fini(&m);
	free(buf);
	return msg->nchanges;
}

/* Ships what `from` captured earlier and what is pending on it now to `to`.
 * Returns the number of changes. */
static uint32_t
db_ship(struct db *from, struct db *to, uint64_t wall)
{
	struct repldb_set set;
	uint32_t n = 0;
	int left, i;

	for (i = 0; i < from->nout; i++) {
		n += db_deliver(to, &from->out[i].msg, wall);
		repldb_set_fini(&from->out[i]);
	}
	from->nout = 0;
	do {
		left = repldb_capture(from->rd, wall, &set);
		assert_true(left >= 0);
		if (set.msg.nchanges > 0)
			n += db_deliver(to, &set.msg, wall);
		repldb_set_fini(&set);
	} while (left > 0);
	return n;
}

static void
db_digests_equal(struct db *a, struct db *b)
{
	char da[REPLDB_DIGEST_LEN + 1], dbb[REPLDB_DIGEST_LEN + 1];

	assert_int_equal(repldb_digest(a->rd, da, NULL), 0);
	assert_int_equal(repldb_digest(b->rd, dbb, NULL), 0);
	assert_string_equal(da, dbb);
}

static void
test_lww_columns_and_tombstones(void **state)
{
	struct db a, b;

	db_open(&a);
	db_open(&b);
	/* an edgeProxy-style insert on a */
	db_exec(&a, "INSERT INTO backends VALUES ('b1', 'app', 'us', '10.50.1.1',"
	    " 8080, 1, 2, 100, 150, 0)");
	assert_true(db_ship(&a, &b, WALL0_MS) > 0);
	assert_int_equal(db_int(&b, "SELECT weight FROM backends WHERE id = 'b1'"), 2);
	db_digests_equal(&a, &b);
	/* what b applied from a is not captured again */
	assert_false(repldb_pending(b.rd));
	assert_int_equal(db_ship(&b, &a, WALL0_MS), 0);

	/* concurrent writes to different columns both survive */
	db_exec(&a, "UPDATE backends SET weight = 5 WHERE id = 'b1'");
	db_exec(&b, "UPDATE backends SET healthy = 0 WHERE id = 'b1'");
	db_ship(&a, &b, WALL0_MS + 10);
	db_ship(&b, &a, WALL0_MS + 10);
	assert_int_equal(db_int(&a, "SELECT weight * 10 + healthy FROM backends"), 50);
	db_digests_equal(&a, &b);

	/* concurrent writes to one column: the later stamp wins everywhere */
	db_exec(&a, "UPDATE backends SET port = 1 WHERE id = 'b1'");
	db_ship(&a, &a, WALL0_MS + 20);         /* stamps a's write first */
	db_exec(&b, "UPDATE backends SET port = 2 WHERE id = 'b1'");
	db_ship(&b, &a, WALL0_MS + 30);
	assert_int_equal(db_int(&a, "SELECT port FROM backends"), 2);

	/* a delete is a tombstone: an older update does not bring it back */
	db_exec(&b, "UPDATE backends SET region = 'eu' WHERE id = 'b1'");
	{
		struct repldb_set late;

		assert_true(repldb_capture(b.rd, WALL0_MS + 40, &late) >= 0);
		db_exec(&a, "DELETE FROM backends WHERE id = 'b1'");
		db_ship(&a, &b, WALL0_MS + 50);
		assert_int_equal(db_int(&b, "SELECT count(*) FROM backends"), 0);
		/* the older update reaches a after the delete */
		assert_true(repldb_apply(a.rd, &late.msg, 0, late.msg.nchanges,
		    WALL0_MS + 50) >= 0);
		repldb_set_fini(&late);
	}
	assert_int_equal(db_int(&a, "SELECT count(*) FROM backends"), 0);
	db_digests_equal(&a, &b);
	/* a later insert of the same key does count */
	db_exec(&b, "INSERT INTO backends VALUES ('b1', 'app', 'sa', '10.50.2.1',"
	    " 9090, 1, 1, 10, 20, 0)");
	db_ship(&b, &a, WALL0_MS + 60);
	assert_int_equal(db_int(&a, "SELECT port FROM backends"), 9090);
	db_digests_equal(&a, &b);
	db_close(&a);
	db_close(&b);
}

static void
test_revoked_stays_revoked(void **state)
{
	struct db a, b;

	db_open(&a);
	db_open(&b);
	db_exec(&a, "INSERT INTO tokens (id, hash) VALUES ('tok_1', 'h1')");
	db_ship(&a, &b, WALL0_MS);
	/* b revokes; a (later by its clock) writes the token's note and,
	 * through a careless shell, revoked = 0 */
	db_exec(&b, "UPDATE tokens SET revoked = 1700000000 WHERE id = 'tok_1'");
	db_ship(&b, &a, WALL0_MS + 1);
	assert_int_equal(db_int(&a, "SELECT revoked FROM tokens"), 1700000000);
	db_exec(&a, "UPDATE tokens SET revoked = 0, note = 'x' WHERE id = 'tok_1'");
	db_ship(&a, &b, WALL0_MS + 100000);
	assert_int_equal(db_int(&a, "SELECT revoked FROM tokens"), 1700000000);
	assert_int_equal(db_int(&b, "SELECT revoked FROM tokens"), 1700000000);
	assert_int_equal(db_int(&b, "SELECT note = 'x' FROM tokens"), 1);
	assert_true(repldb_stats(a.rd)->revoke_kept >= 1);
	db_digests_equal(&a, &b);
	/* a peer's revoked = 0 stamped far later (a clock ahead, a node that
	 * never saw the revocation) loses too; its other columns still merge */
	{
		struct replmsg m;
		struct replmsg_change ch[2];
		struct replmsg_head h = { 0, 1 };
		char actors[1][REPLMSG_NAME_MAX + 1] = { "ffffffffffffffff" };

		memset(&m, 0, sizeof(m));
		memset(ch, 0, sizeof(ch));
		snprintf(ch[0].tbl, sizeof(ch[0].tbl), "tokens");
		ch[0].pk = (struct replmsg_value){ .type = REPLMSG_V_TEXT,
		    .p = (const uint8_t *)"tok_1", .len = 5 };
		snprintf(ch[0].col, sizeof(ch[0].col), "revoked");
		ch[0].val = (struct replmsg_value){ .type = REPLMSG_V_INT, .i = 0 };
		ch[0].hlc = UINT64_MAX / 2;
		ch[0].version = 1;
		ch[1] = ch[0];
		snprintf(ch[1].col, sizeof(ch[1].col), "note");
		ch[1].val = (struct replmsg_value){ .type = REPLMSG_V_TEXT,
		    .p = (const uint8_t *)"late", .len = 4 };
		m.type = REPLMSG_CHANGES;
		m.nactors = 1;
		m.actors = actors;
		m.nheads = 1;
		m.heads = &h;
		m.nchanges = 2;
		m.changes = ch;
		assert_int_equal(repldb_apply(b.rd, &m, 0, 2, WALL0_MS + 200000), 1);
		assert_int_equal(db_int(&b, "SELECT revoked FROM tokens"), 1700000000);
		assert_int_equal(db_int(&b, "SELECT note = 'late' FROM tokens"), 1);
	}
	db_close(&a);
	db_close(&b);
}

static void
test_existing_rows_are_stamped(void **state)
{
	char err[256];
	struct db a, b;

	/* a database from before replication (or edgeProxy's) */
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_open(&a.st, ":memory:", "eu"), 0);
	db_exec(&a, "INSERT INTO backends VALUES ('old', 'app', 'eu', '10.1.1.1',"
	    " 80, 1, 1, 10, 20, 0)");
	db_exec(&a, "INSERT INTO domains (domain, app) VALUES ('a.example', 'app')");
	assert_int_equal(repldb_open(&a.rd, store_db(a.st), err, sizeof(err)), 0);
	assert_true(repldb_pending(a.rd));
	db_open(&b);
	db_ship(&a, &b, WALL0_MS);
	assert_int_equal(db_int(&b, "SELECT count(*) FROM backends"), 1);
	assert_int_equal(db_int(&b, "SELECT count(*) FROM domains"), 1);
	db_digests_equal(&a, &b);
	db_close(&a);
	db_close(&b);
}

/* ---- the cluster simulation --------------------------------------------- */

struct rnode {
	struct store *st;
	struct repldb *rd;
	struct repl *r;
	int64_t skew_ms;
};

struct rsim {
	struct sim *sim;
	struct rnode *n;
	struct repl_config cfg;
	uint64_t seed;
};

static struct rsim *rs_of(struct sim *sim) { return sim->user; }

static uint64_t
rs_wall(struct sim *sim, int id)
{
	return WALL0_MS + sim->now / 1000 + (uint64_t)rs_of(sim)->n[id].skew_ms;
}

static void
rs_send(void *arg, const struct swimmsg_addr *to, const uint8_t *pkt, size_t len)
{
	struct sim_node *nd = arg;

	sim_send_raw(nd->sim, nd->id, sim_addr_id(nd->sim, to), pkt, len);
}

static size_t
rs_peers(void *arg, struct repl_peer *out, size_t max)
{
	struct sim_node *nd = arg;
	struct swim_member m;
	size_t i, n = 0;

	for (i = 0; i < swim_member_count(nd->s) && n < max; i++) {
		if (swim_member_at(nd->s, i, &m) != 0 ||
		    (m.state != SWIM_ALIVE && m.state != SWIM_SUSPECT))
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", m.name);
		out[n].addr = m.addr;
		n++;
	}
	return n;
}

static void
rs_sync(void *arg, const struct swimmsg_addr *to, const uint8_t *req, size_t len)
{
	struct sim_node *nd = arg;

	sim_x_request(nd->sim, nd->id, sim_addr_id(nd->sim, to), req, len);
}

static uint64_t
rs_deadline(struct sim *sim, int id)
{
	struct rnode *rn = &rs_of(sim)->n[id];

	return rn->r != NULL ? repl_next_deadline(rn->r) : UINT64_MAX;
}

static void
rs_tick(struct sim *sim, int id)
{
	struct rnode *rn = &rs_of(sim)->n[id];

	if (rn->r != NULL)
		repl_tick(rn->r, sim->now, rs_wall(sim, id));
}

static void
rs_packet(struct sim *sim, int dst, int src, const uint8_t *p, size_t len)
{
	struct rnode *rn = &rs_of(sim)->n[dst];
	struct swimmsg_addr from;

	sim_addr(src, &from);
	if (rn->r != NULL)
		repl_recv(rn->r, sim->now, rs_wall(sim, dst), &from, p, len);
}

static uint8_t *
rs_serve(struct sim *sim, int dst, int src, const uint8_t *req, size_t len,
    size_t *alen)
{
	struct rnode *rn = &rs_of(sim)->n[dst];
	uint8_t *out = NULL;

	if (rn->r == NULL || repl_serve(rn->r, req, len, &out, alen) != 0)
		return NULL;
	return out;
}

static void
rs_answer(struct sim *sim, int dst, uint8_t *ans, size_t len)
{
	struct rnode *rn = &rs_of(sim)->n[dst];

	if (rn->r == NULL) {
		free(ans);
		return;
	}
	if (ans == NULL)
		repl_sync_failed(rn->r, sim->now);
	else
		repl_sync_done(rn->r, sim->now, ans, len);
}

static const struct sim_ext rs_ext = {
	rs_deadline, rs_tick, rs_packet, rs_serve, rs_answer,
};

/* (Re)starts node id's replication; keep_data false: an empty database. */
static void
rs_start(struct rsim *rs, int id, bool keep_data)
{
	struct rnode *rn = &rs->n[id];
	struct sim_node *nd = &rs->sim->nodes[id];
	struct repl_io io = { nd, rs_send, rs_peers, rs_sync, NULL };
	struct repl_config cfg = rs->cfg;
	char err[256];

	repl_free(rn->r);
	rn->r = NULL;
	if (!keep_data || rn->st == NULL) {
		repldb_free(rn->rd);
		store_close(rn->st);
		rn->rd = NULL;
		assert_int_equal(store_open(&rn->st, ":memory:", "eu"), 0);
		assert_int_equal(repldb_open(&rn->rd, store_db(rn->st), err,
		    sizeof(err)), 0);
	}
	cfg.seed = rs->seed * 31 + (uint64_t)id + rs->sim->now;
	assert_int_equal(repl_new(&rn->r, &cfg, &io, rn->rd, rs->sim->now), 0);
}

static struct rsim *
rs_new(int n, uint64_t seed)
{
	struct swim_config cfg;
	struct rsim *rs = calloc(1, sizeof(*rs));
	int i;

	assert_non_null(rs);
	swim_config_lan(&cfg);
	rs->seed = seed;
	rs->sim = sim_new(n, seed, &cfg);
	rs->sim->user = rs;
	rs->sim->ext = &rs_ext;
	assert_non_null(rs->n = calloc((size_t)n, sizeof(*rs->n)));
	repl_config_default(&rs->cfg);
	for (i = 0; i < n; i++) {
		/* clocks up to half a second apart */
		rs->n[i].skew_ms = (int64_t)sim_below(rs->sim, 1001) - 500;
		rs_start(rs, i, false);
	}
	if (sim_boot(rs->sim) == UINT64_MAX)
		fail_msg("seed %" PRIu64 ": membership did not converge", seed);
	return rs;
}

static void
rs_free(struct rsim *rs)
{
	int i;

	for (i = 0; i < rs->sim->n; i++) {
		repl_free(rs->n[i].r);
		repldb_free(rs->n[i].rd);
		store_close(rs->n[i].st);
	}
	sim_free(rs->sim);
	free(rs->n);
	free(rs);
}

/* A write on node id as an operator's shell would make it, then the
 * capture gossip makes after it. */
static void
rs_write(struct rsim *rs, int id, const char *sql)
{
	struct rnode *rn = &rs->n[id];
	char *e = NULL;

	if (getenv("REPL_TRACE") != NULL && strstr(sql, getenv("REPL_TRACE")) != NULL)
		printf("  seed %" PRIu64 " t=%.3f node %d (%s v%" PRIu64 "): %s\n",
		    rs->seed, (double)rs->sim->now / 1e6, id, repldb_actor(rn->rd),
		    repldb_contig(rn->rd, repldb_actor(rn->rd)) + 1, sql);
	if (sqlite3_exec(store_db(rn->st), sql, NULL, NULL, &e) != SQLITE_OK)
		fail_msg("seed %" PRIu64 ": %s: %s", rs->seed, sql, e);
	assert_int_equal(repl_local(rn->r, rs->sim->now, rs_wall(rs->sim, id)), 0);
	sim_reschedule(&rs->sim->nodes[id]);
}

static bool
rs_has(struct rsim *rs, int id, const char *key)
{
	sqlite3_stmt *s;
	bool found;

	sqlite3_prepare_v2(store_db(rs->n[id].st), "SELECT 1 FROM backends"
	    " WHERE id = ?1", -1, &s, NULL);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	found = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return found;
}

static bool
rs_digests_equal(struct rsim *rs, char *first)
{
	char d[REPLDB_DIGEST_LEN + 1];
	int i, k = -1;

	for (i = 0; i < rs->sim->n; i++) {
		if (!rs->sim->nodes[i].up)
			continue;
		assert_int_equal(repldb_digest(rs->n[i].rd, d, NULL), 0);
		if (k < 0) {
			strcpy(first, d);
			k = i;
		} else if (strcmp(first, d) != 0) {
			return false;
		}
	}
	return true;
}

/* Prints every node's view, for a failure. */
static void
rs_dump(struct rsim *rs)
{
	char d[REPLDB_DIGEST_LEN + 1];
	uint64_t rows, contig;
	size_t a;
	int i;

	for (i = 0; i < rs->sim->n; i++) {
		if (!rs->sim->nodes[i].up)
			continue;
		repldb_digest(rs->n[i].rd, d, &rows);
		printf("  node %d actor %s digest %.12s rows %" PRIu64 " busy %d heads:",
		    i, repldb_actor(rs->n[i].rd), d, rows, repl_busy(rs->n[i].r));
		for (a = 0; a < repldb_actor_count(rs->n[i].rd); a++) {
			const char *id = repldb_actor_at(rs->n[i].rd, a, &contig);

			printf(" %.6s=%" PRIu64, id, contig);
		}
		printf("\n");
	}
	/* the rows where node 0 and node 1 differ */
	{
		sqlite3_stmt *q0, *q1;
		const char *sql = "SELECT id || ':' || weight || ':' || port FROM backends ORDER BY id";
		int r0, r1;

		sqlite3_prepare_v2(store_db(rs->n[0].st), sql, -1, &q0, NULL);
		sqlite3_prepare_v2(store_db(rs->n[1].st), sql, -1, &q1, NULL);
		r0 = sqlite3_step(q0);
		r1 = sqlite3_step(q1);
		while (r0 == SQLITE_ROW || r1 == SQLITE_ROW) {
			const char *x = r0 == SQLITE_ROW ? (const char *)sqlite3_column_text(q0, 0) : "~";
			const char *y = r1 == SQLITE_ROW ? (const char *)sqlite3_column_text(q1, 0) : "~";
			int c = strcmp(x, y);

			if (c != 0)
				printf("  differ: node0 %s node1 %s\n", x, y);
			if (c <= 0)
				r0 = sqlite3_step(q0);
			if (c >= 0)
				r1 = sqlite3_step(q1);
		}
		sqlite3_finalize(q0);
		sqlite3_finalize(q1);
	}
}

/* Runs until every live node holds the same data; returns the time taken
 * or UINT64_MAX. */
static uint64_t
rs_converge(struct rsim *rs, uint64_t limit)
{
	char d[REPLDB_DIGEST_LEN + 1];
	uint64_t t0 = rs->sim->now;

	while (rs->sim->now - t0 < limit) {
		sim_run_until(rs->sim, rs->sim->now + 100 * SIM_MS);
		if (rs_digests_equal(rs, d))
			return rs->sim->now - t0;
	}
	return UINT64_MAX;
}

/* Time from one write to every live node holding it: the largest over a
 * few writes, each on a random node. */
static uint64_t
rs_propagation(struct rsim *rs, int writes, uint64_t *p99)
{
	uint64_t *lat = calloc((size_t)writes, sizeof(*lat)), worst = 0, t0;
	char sql[256], key[32];
	int w, i, id, left;

	assert_non_null(lat);
	for (w = 0; w < writes; w++) {
		id = (int)sim_below(rs->sim, (uint64_t)rs->sim->n);
		snprintf(key, sizeof(key), "p%d", w);
		snprintf(sql, sizeof(sql), "INSERT INTO backends VALUES ('%s',"
		    " 'app', 'eu', '10.9.0.1', 80, 1, 1, 10, 20, 0)", key);
		t0 = rs->sim->now;
		rs_write(rs, id, sql);
		for (;;) {
			sim_run_until(rs->sim, rs->sim->now + 10 * SIM_MS);
			for (i = 0, left = 0; i < rs->sim->n; i++)
				left += !rs_has(rs, i, key);
			if (left == 0 || rs->sim->now - t0 > 30 * SIM_S)
				break;
		}
		if (left != 0)
			fail_msg("seed %" PRIu64 ": write %s not everywhere after 30 s",
			    rs->seed, key);
		lat[w] = rs->sim->now - t0;
		if (lat[w] > worst)
			worst = lat[w];
		sim_run_until(rs->sim, rs->sim->now + 50 * SIM_MS);
	}
	*p99 = sim_percentile(lat, (size_t)writes, 99);
	free(lat);
	return worst;
}

static void
propagation(int n, unsigned k)
{
	struct rsim *rs = rs_new(n, test_seed(k));
	uint64_t worst, p99;

	worst = rs_propagation(rs, 40, &p99);
	printf("  repl n=%d: a write on every node p99 %.0f ms, max %.0f ms\n",
	    n, (double)p99 / 1000, (double)worst / 1000);
	if (p99 > 2 * SIM_S)
		fail_msg("seed %" PRIu64 ": p99 %.3f s > 2 s at n=%d", rs->seed,
		    (double)p99 / 1e6, n);
	rs_free(rs);
}

static void test_propagation_10(void **state) { propagation(10, 1); }
static void test_propagation_50(void **state) { propagation(50, 2); }
static void test_propagation_100(void **state) { propagation(100, 3); }

/* The storm: random inserts, updates and deletes on random nodes under 5 %
 * loss, a partition with writes on both sides, a node restarted with its
 * data and one without it, then heal. Asserted: every digest equal, every
 * key that was inserted and never deleted is on every node (no lost
 * write), every deleted key is gone everywhere (no resurrection). */
static void
storm(uint64_t seed, int n)
{
	struct rsim *rs = rs_new(n, seed);
	struct sim *sim = rs->sim;
	enum { KEYS = 200 };
	int state_of[KEYS];             /* 0 never, 1 inserted, 2 deleted */
	char sql[256], key[32], d[REPLDB_DIGEST_LEN + 1];
	int step, id, k, i;
	uint64_t t;

	memset(state_of, 0, sizeof(state_of));
	sim->loss = 0.05;
	for (step = 0; step < 600; step++) {
		if (step == 150) {
			/* partition: even nodes and odd nodes */
			for (i = 0; i < n; i++)
				sim->nodes[i].group = i % 2;
			sim->partitioned = true;
		}
		if (step == 300) {
			sim->partitioned = false;
			/* node 1 restarts with its data, node 2 from nothing */
			sim_crash(sim, 1);
			sim_crash(sim, 2);
		}
		if (step == 320) {
			sim_node_start(sim, 1);
			rs_start(rs, 1, true);
			sim_join(sim, 1, 0);
			sim_node_start(sim, 2);
			rs_start(rs, 2, false);
			sim_join(sim, 2, 0);
		}
		/* node 2, which will lose its disk, writes nothing: a write that
		 * never left a node that then loses its data is lost by
		 * definition, and the oracle below could not tell */
		do
			id = (int)sim_below(sim, (uint64_t)n);
		while (!sim->nodes[id].up || id == 2);
		k = (int)sim_below(sim, KEYS);
		snprintf(key, sizeof(key), "k%d", k);
		if (state_of[k] == 1 && rs_has(rs, id, key) &&
		    sim_below(sim, 4) == 0) {
			/* a delete by a node that sees the row */
			snprintf(sql, sizeof(sql), "DELETE FROM backends WHERE id = '%s'",
			    key);
			rs_write(rs, id, sql);
			state_of[k] = 2;
		} else if (state_of[k] == 0) {
			snprintf(sql, sizeof(sql), "INSERT INTO backends VALUES ('%s',"
			    " 'app%d', 'r%d', '10.0.0.%d', %d, 1, 1, 10, 20, 0)",
			    key, k % 7, id, id, 1000 + step);
			rs_write(rs, id, sql);
			state_of[k] = 1;
		} else if (state_of[k] == 1 && rs_has(rs, id, key)) {
			snprintf(sql, sizeof(sql), "UPDATE backends SET weight = %d"
			    " WHERE id = '%s'", step, key);
			rs_write(rs, id, sql);
		}
		sim_run_until(sim, sim->now + 20 * SIM_MS +
		    sim_below(sim, 30 * SIM_MS));
	}
	sim->loss = 0;
	t = rs_converge(rs, 60 * SIM_S);
	if (t == UINT64_MAX) {
		rs_dump(rs);
		fail_msg("seed %" PRIu64 ": digests differ 60 s after healing", seed);
	}
	assert_true(rs_digests_equal(rs, d));
	printf("  repl storm n=%d seed=%" PRIu64 ": digests equal %.2f s after "
	    "healing (%s)\n", n, seed, (double)t / 1e6, d);
	for (i = 0; i < n; i++) {
		for (k = 0; k < KEYS; k++) {
			snprintf(key, sizeof(key), "k%d", k);
			if (state_of[k] == 1 && !rs_has(rs, i, key))
				fail_msg("seed %" PRIu64 ": node %d lost %s", seed, i, key);
			if (state_of[k] == 2 && rs_has(rs, i, key))
				fail_msg("seed %" PRIu64 ": node %d brought back deleted "
				    "%s", seed, i, key);
		}
	}
	assert_true(rs_digests_equal(rs, d));
	rs_free(rs);
}

static void
test_storm(void **state)
{
	unsigned k;

	for (k = 0; k < 3; k++)
		storm(test_seed(100 + k), 8);
}

/* A fresh node joins a cluster that holds many rows: a full copy arrives
 * by sync in batches. */
static void
test_fresh_node_catches_up(void **state)
{
	struct rsim *rs = rs_new(4, test_seed(200));
	struct rnode *rn = &rs->n[0];
	char d[REPLDB_DIGEST_LEN + 1];
	uint64_t t;
	int i;

	sqlite3_exec(store_db(rn->st), "BEGIN", NULL, NULL, NULL);
	for (i = 0; i < 5000; i++) {
		char sql[200];

		snprintf(sql, sizeof(sql), "INSERT INTO backends VALUES ('bulk%d',"
		    " 'app', 'eu', '10.0.1.1', %d, 1, 1, 10, 20, 0)", i, i);
		sqlite3_exec(store_db(rn->st), sql, NULL, NULL, NULL);
	}
	sqlite3_exec(store_db(rn->st), "COMMIT", NULL, NULL, NULL);
	assert_int_equal(repl_local(rn->r, rs->sim->now,
	    rs_wall(rs->sim, 0)), 0);
	sim_reschedule(&rs->sim->nodes[0]);
	t = rs_converge(rs, 60 * SIM_S);
	if (t == UINT64_MAX)
		fail_msg("seed %" PRIu64 ": 5000 rows not everywhere in 60 s",
		    rs->seed);
	/* node 3 loses everything and comes back */
	sim_crash(rs->sim, 3);
	sim_run_until(rs->sim, rs->sim->now + 200 * SIM_MS);
	sim_node_start(rs->sim, 3);
	rs_start(rs, 3, false);
	sim_join(rs->sim, 3, 0);
	t = rs_converge(rs, 60 * SIM_S);
	if (t == UINT64_MAX)
		fail_msg("seed %" PRIu64 ": wiped node did not catch up", rs->seed);
	printf("  repl: wiped node holds all 5000 rows again %.2f s after "
	    "rejoining\n", (double)t / 1e6);
	assert_true(rs_digests_equal(rs, d));
	rs_free(rs);
}

/* A version too large for one datagram goes out in parts of whole rows:
 * a receiver applying each part never holds a row half-written (a tunnel
 * claim without its group, say). */
struct cap_pkts {
	uint8_t *p[16];
	size_t len[16];
	int n;
};

static void
cap_send(void *arg, const struct swimmsg_addr *to, const uint8_t *pkt, size_t len)
{
	struct cap_pkts *c = arg;

	(void)to;
	if (c->n < 16 && (c->p[c->n] = malloc(len)) != NULL) {
		memcpy(c->p[c->n], pkt, len);
		c->len[c->n++] = len;
	}
}

static size_t
cap_peers(void *arg, struct repl_peer *out, size_t max)
{
	(void)arg;
	if (max < 1)
		return 0;
	snprintf(out[0].name, sizeof(out[0].name), "peer");
	memset(&out[0].addr, 0, sizeof(out[0].addr));
	return 1;
}

static void
test_partial_broadcast_whole_rows(void **state)
{
	struct cap_pkts cap = { .n = 0 };
	struct repl_io io = { &cap, cap_send, cap_peers, NULL, NULL };
	struct repl_config cfg;
	struct repl *r;
	struct db a;
	int i, k, total = 0, parts = 0;

	(void)state;
	db_open(&a);
	repl_config_default(&cfg);
	cfg.fanout = 1;
	cfg.max_packet = 900;           /* one backends row fits, three do not */
	cfg.broadcast_packets = 8;
	assert_int_equal(repl_new(&r, &cfg, &io, a.rd, 0), 0);
	db_exec(&a, "BEGIN; INSERT INTO backends VALUES ('row-one', 'app', 'us',"
	    " '10.50.1.1', 8080, 1, 2, 50, 100, 0); INSERT INTO backends VALUES"
	    " ('row-two', 'app', 'eu', '10.50.1.2', 8081, 1, 3, 60, 110, 0);"
	    " INSERT INTO backends VALUES ('row-three', 'app', 'sa', '10.50.1.3',"
	    " 8082, 1, 4, 70, 120, 0); COMMIT");
	assert_true(repl_local(r, 1000, WALL0_MS) >= 0);
	assert_true(cap.n >= 2);        /* split: the check below means something */
	for (i = 0; i < cap.n; i++) {
		struct replmsg m;

		if (replmsg_decode(&m, cap.p[i], cap.len[i]) != 0)
			continue;
		if (m.type == REPLMSG_CHANGES) {
			parts++;
			/* each row whole: all ten columns of a backend */
			for (k = 0; k < (int)m.nchanges; k++) {
				int same = 0;

				for (int j = 0; j < (int)m.nchanges; j++)
					same += m.changes[j].pk.len == m.changes[k].pk.len &&
					    memcmp(m.changes[j].pk.p, m.changes[k].pk.p,
					    m.changes[k].pk.len) == 0;
				assert_int_equal(same, 10);
			}
			total += (int)m.nchanges;
		}
		replmsg_fini(&m);
		free(cap.p[i]);
	}
	assert_true(parts >= 2);
	assert_int_equal(total, 30);
	repl_free(r);

	/* a row larger than a datagram goes whole, alone, in a larger one */
	cap.n = 0;
	cfg.max_packet = 300;
	assert_int_equal(repl_new(&r, &cfg, &io, a.rd, 0), 0);
	db_exec(&a, "BEGIN; UPDATE backends SET weight = weight + 10, soft_limit ="
	    " soft_limit + 1, hard_limit = hard_limit + 1, region = region || '-x',"
	    " port = port + 1, wg_ip = wg_ip || '0', app = 'app2', healthy = 0;"
	    " COMMIT");
	assert_true(repl_local(r, 2000, WALL0_MS + 1000) >= 0);
	parts = total = 0;
	for (i = 0; i < cap.n; i++) {
		struct replmsg m;

		assert_true(cap.len[i] > 300);
		assert_int_equal(replmsg_decode(&m, cap.p[i], cap.len[i]), 0);
		if (m.type == REPLMSG_CHANGES) {
			parts++;
			assert_int_equal(m.nchanges, 8);        /* one row's changes */
			total += (int)m.nchanges;
		}
		replmsg_fini(&m);
		free(cap.p[i]);
	}
	assert_int_equal(parts, 3);
	assert_int_equal(total, 24);
	repl_free(r);
	db_close(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replmsg_roundtrip),
		cmocka_unit_test(test_lww_columns_and_tombstones),
		cmocka_unit_test(test_revoked_stays_revoked),
		cmocka_unit_test(test_existing_rows_are_stamped),
		cmocka_unit_test(test_partial_broadcast_whole_rows),
		cmocka_unit_test(test_propagation_10),
		cmocka_unit_test(test_propagation_50),
		cmocka_unit_test(test_propagation_100),
		cmocka_unit_test(test_storm),
		cmocka_unit_test(test_fresh_node_catches_up),
	};

	(void)sim_bytes;        /* swimsim.inc's, for the membership figures */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
