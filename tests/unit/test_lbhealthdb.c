/* lbhealthdb: row keys and rows, the merge of every node's view, and the
 * sync against a real checker (lbhealth on libev, TCP checks of a loopback
 * listener) and a real SQLite file, with a write function that applies
 * rows as gossip would: one row on a first result and per transition,
 * none for checks that change nothing, stale rows deleted, failed writes
 * retried, other nodes' rows never touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipcmsg.h"
#include "router/lbhealthdb.h"

static void
test_key(void **state)
{
	char k[64];

	assert_int_equal(lbhealthdb_key(k, sizeof(k), "n1", "app", "b1"), 0);
	assert_string_equal(k, "n1/app/b1");
	assert_int_equal(lbhealthdb_key(k, sizeof(k), "n/1", "a%p", "b/%"), 0);
	assert_string_equal(k, "n%2F1/a%25p/b%2F%25");
	/* parts that would collide unescaped do not */
	{
		char k2[64];

		assert_int_equal(lbhealthdb_key(k2, sizeof(k2), "n", "a/b", "c"), 0);
		assert_int_equal(lbhealthdb_key(k, sizeof(k), "n", "a", "b/c"), 0);
		assert_string_not_equal(k, k2);
	}
	assert_int_equal(lbhealthdb_key(k, 9, "n1", "app", "b1"), -ENAMETOOLONG);
	assert_int_equal(lbhealthdb_key(k, 10, "n1", "app", "b1"), 0);
	assert_int_equal(lbhealthdb_key(k, 10, "n1", "app", "b%"), -ENAMETOOLONG);
	assert_int_equal(lbhealthdb_key(k, 0, "", "", ""), -ENAMETOOLONG);
	assert_int_equal(lbhealthdb_key(k, 3, "", "", ""), 0);
	assert_string_equal(k, "//");
}

static void
test_row(void **state)
{
	struct lbhealth_result r = {
		.app = "app", .id = "b1", .addr = "127.0.0.9:80",
		.check = "http:/health", .checked = true, .down = true,
		.since = 1700000000.1234, .last_error = "connect: Connection refused",
		.ok_run = 0, .fail_run = 3,
	};
	char *s, big[IPCMSG_STR_MAX];
	json_t *j;

	s = lbhealthdb_row("n1", &r, 1700000005000LL);
	assert_non_null(s);
	j = json_loads(s, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "n1/app/b1");
	assert_string_equal(json_string_value(json_object_get(j, "node")), "n1");
	assert_string_equal(json_string_value(json_object_get(j, "backend")), "b1");
	assert_string_equal(json_string_value(json_object_get(j, "state")), "down");
	assert_string_equal(json_string_value(json_object_get(j, "health_check")),
	    "http:/health");
	assert_int_equal(json_integer_value(json_object_get(j, "since_ms")),
	    1700000000123LL);
	assert_int_equal(json_integer_value(json_object_get(j, "reported_ms")),
	    1700000005000LL);
	assert_int_equal(json_integer_value(json_object_get(j, "fail_run")), 3);
	assert_string_equal(json_string_value(json_object_get(j, "last_error")),
	    "connect: Connection refused");
	/* never a column the table lacks, never healthy */
	assert_int_equal(json_object_size(j), 12);
	assert_null(json_object_get(j, "healthy"));
	json_decref(j);
	free(s);

	r.checked = false;              /* no result yet: no row */
	assert_null(lbhealthdb_row("n1", &r, 0));
	r.checked = true;

	/* a row too long loses its last error first, then is not written */
	memset(big, 'e', 900);
	big[900] = '\0';
	r.last_error = big;
	s = lbhealthdb_row("n1", &r, 0);
	assert_non_null(s);
	assert_true(strlen(s) <= IPCMSG_STR_MAX);
	j = json_loads(s, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "last_error")), "");
	json_decref(j);
	free(s);
	memset(big, 'x', 480);
	big[480] = '\0';
	r.last_error = "";
	r.id = big;                     /* twice in the row: key and backend */
	assert_null(lbhealthdb_row("n1", &r, 0));
}

static json_t *
entry(json_t *arr, const char *node, const char *id)
{
	json_t *o;
	size_t i;

	json_array_foreach(arr, i, o)
		if (strcmp(json_string_value(json_object_get(o, "node")), node) == 0 &&
		    strcmp(json_string_value(json_object_get(o, "id")), id) == 0)
			return o;
	return NULL;
}

static const char *
str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
test_merge(void **state)
{
	const char *nodes[] = { "n3", "n1", "n2", "n4", "n1" };
	json_t *local, *remote, *out, *o;
	const char *order[][2] = {
		{ "b1", "n1" }, { "b1", "n2" }, { "b1", "n3" }, { "b1", "n4" },
		{ "b2", "n1" }, { "b2", "n2" }, { "b2", "n3" }, { "b2", "n4" },
	};
	size_t i;

	local = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:I, s:I},"
	    " {s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:I, s:I}]",
	    "app", "a", "id", "b2", "addr", "10.0.0.2:80", "check", "tcp",
	    "state", "up", "since_s", 5.0, "last_error", "", "checks", 9,
	    "failed", 0,
	    "app", "a", "id", "b1", "addr", "10.0.0.1:80", "check", "tcp",
	    "state", "unchecked", "since_s", 0.5, "last_error", "", "checks", 0,
	    "failed", 0);
	remote = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I,"
	    " s:I}, {s:s, s:s, s:s, s:s, s:s, s:s, s:I}, {s:s, s:s, s:s, s:s},"
	    " {s:s, s:s, s:s, s:s}, i]",
	    "node", "n2", "app", "a", "backend", "b1", "addr", "10.0.0.1:80",
	    "health_check", "tcp", "state", "down", "since_ms", (json_int_t)90000,
	    "reported_ms", (json_int_t)90001, "last_error", "connect: refused",
	    "ok_run", (json_int_t)0, "fail_run", (json_int_t)2,
	    /* ours in the table: the live view wins */
	    "node", "n1", "app", "a", "backend", "b1", "addr", "x",
	    "health_check", "tcp", "state", "down", "since_ms", (json_int_t)1,
	    /* a malformed state is shown as unknown */
	    "node", "n3", "app", "a", "backend", "b2", "state", "sideways",
	    /* a node outside the live list still shows (the caller filtered) */
	    "node", "n5", "app", "a", "backend", "b2", "state", "up", 7);
	assert_non_null(local);
	assert_non_null(remote);
	out = lbhealthdb_merge("n1", local, remote, nodes, 5, 100000);
	assert_non_null(out);
	/* b1, b2 x n1..n4, plus n5's b2 */
	assert_int_equal(json_array_size(out), 9);
	for (i = 0; i < 8; i++) {
		o = json_array_get(out, i);
		assert_string_equal(str(o, "id"), order[i][0]);
		assert_string_equal(str(o, "node"), order[i][1]);
	}
	assert_string_equal(str(json_array_get(out, 8), "node"), "n5");
	o = entry(out, "n1", "b1");
	assert_string_equal(str(o, "state"), "unchecked");
	assert_string_equal(str(o, "source"), "local");
	assert_string_equal(str(o, "addr"), "10.0.0.1:80");
	assert_int_equal(json_integer_value(json_object_get(o, "since_ms")), 99500);
	o = entry(out, "n2", "b1");
	assert_string_equal(str(o, "state"), "down");
	assert_string_equal(str(o, "source"), "replicated");
	assert_string_equal(str(o, "last_error"), "connect: refused");
	assert_true(json_real_value(json_object_get(o, "since_s")) == 10.0);
	assert_int_equal(json_integer_value(json_object_get(o, "fail_run")), 2);
	o = entry(out, "n3", "b1");
	assert_string_equal(str(o, "state"), "unknown");
	assert_string_equal(str(o, "source"), "none");
	assert_string_equal(str(o, "addr"), "10.0.0.1:80");
	assert_string_equal(str(entry(out, "n3", "b2"), "state"), "unknown");
	assert_string_equal(str(entry(out, "n3", "b2"), "source"), "replicated");
	assert_string_equal(str(entry(out, "n4", "b2"), "source"), "none");
	json_decref(out);

	/* membership unknown: nothing made up */
	out = lbhealthdb_merge("n1", json_array(), json_pack("[{s:s, s:s, s:s,"
	    " s:s}]", "node", "n2", "app", "a", "backend", "b1", "state", "up"),
	    NULL, 0, 0);
	assert_int_equal(json_array_size(out), 1);
	json_decref(out);
	/* nothing at all */
	out = lbhealthdb_merge("n1", json_array(), json_array(), nodes, 5, 0);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
}

/* ---- the sync, with a real checker and a real database ---- */

struct world {
	char dir[64], path[128];
	sqlite3 *db;                    /* read-write: plays gossip */
	int puts, dels;
	bool fail;
	char last_row[IPCMSG_STR_MAX + 1];
};

static int
fake_write(void *arg, const struct ipcmsg_write *w, char *err, size_t errlen)
{
	struct world *wd = arg;
	sqlite3_stmt *s;
	json_t *j;
	int rc;

	assert_string_equal(w->table, "lb_health");
	assert_string_equal(w->route.node, "n1");
	if (wd->fail) {
		snprintf(err, errlen, "the node's gossip process is not running");
		return IPCMSG_S_UNAVAILABLE;
	}
	if (w->op == WRITE_ROW_DEL) {
		assert_int_equal(sqlite3_prepare_v2(wd->db, "DELETE FROM lb_health"
		    " WHERE id = ?1", -1, &s, NULL), SQLITE_OK);
		sqlite3_bind_text(s, 1, w->row, -1, SQLITE_STATIC);
		wd->dels++;
	} else {
		assert_int_equal(w->op, WRITE_ROW_PUT);
		j = json_loads(w->row, 0, NULL);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "node")), "n1");
		assert_int_equal(sqlite3_prepare_v2(wd->db, "INSERT OR REPLACE INTO"
		    " lb_health (id, node, app, backend, addr, health_check, state,"
		    " since_ms, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
		    " ?9)", -1, &s, NULL), SQLITE_OK);
		sqlite3_bind_text(s, 1, json_string_value(json_object_get(j, "id")),
		    -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, "n1", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, json_string_value(json_object_get(j, "app")),
		    -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 4, json_string_value(json_object_get(j,
		    "backend")), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 5, json_string_value(json_object_get(j, "addr")),
		    -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 6, json_string_value(json_object_get(j,
		    "health_check")), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 7, json_string_value(json_object_get(j, "state")),
		    -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 8, json_integer_value(json_object_get(j,
		    "since_ms")));
		sqlite3_bind_text(s, 9, json_string_value(json_object_get(j,
		    "last_error")), -1, SQLITE_TRANSIENT);
		json_decref(j);
		snprintf(wd->last_row, sizeof(wd->last_row), "%s", w->row);
		wd->puts++;
	}
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	assert_int_equal(rc, SQLITE_DONE);
	return IPCMSG_S_OK;
}

static int
world_count(struct world *wd, const char *where)
{
	sqlite3_stmt *s;
	char sql[256];
	int n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM lb_health WHERE %s", where);
	assert_int_equal(sqlite3_prepare_v2(wd->db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void
world_open(struct world *wd)
{
	memset(wd, 0, sizeof(*wd));
	snprintf(wd->dir, sizeof(wd->dir), "/tmp/lbhealthdb.XXXXXX");
	assert_non_null(mkdtemp(wd->dir));
	snprintf(wd->path, sizeof(wd->path), "%s/routing.db", wd->dir);
	assert_int_equal(sqlite3_open(wd->path, &wd->db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(wd->db, "PRAGMA journal_mode=WAL;"
	    "CREATE TABLE lb_health (id TEXT PRIMARY KEY,"
	    " node TEXT NOT NULL DEFAULT '', app TEXT NOT NULL DEFAULT '',"
	    " backend TEXT NOT NULL DEFAULT '', addr TEXT NOT NULL DEFAULT '',"
	    " health_check TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT '',"
	    " since_ms INTEGER NOT NULL DEFAULT 0,"
	    " reported_ms INTEGER NOT NULL DEFAULT 0,"
	    " last_error TEXT NOT NULL DEFAULT '', ok_run INTEGER NOT NULL DEFAULT 0,"
	    " fail_run INTEGER NOT NULL DEFAULT 0);", NULL, NULL, NULL), SQLITE_OK);
}

static void
world_close(struct world *wd)
{
	char p[200];

	sqlite3_close(wd->db);
	snprintf(p, sizeof(p), "%s-wal", wd->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", wd->path);
	unlink(p);
	unlink(wd->path);
	rmdir(wd->dir);
}

static int
listener(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*bound = ntohs(sa.sin_port);
	return fd;
}

static void
noop_change(void *arg)
{
}

/* Runs the loop for `secs`, or until cond(wd) holds when cond is given;
 * returns whether it held. */
static bool
run(struct ev_loop *loop, double secs, struct world *wd,
    bool (*cond)(struct world *))
{
	double end = ev_time() + secs;

	while (ev_time() < end) {
		if (cond != NULL && cond(wd))
			return true;
		ev_run(loop, EVRUN_ONCE);
	}
	return cond != NULL && cond(wd);
}

static bool
one_up(struct world *wd)
{
	return world_count(wd, "id = 'n1/a/t1' AND state = 'up' AND since_ms >"
	    " 1000") == 1;
}

static bool
one_down(struct world *wd)
{
	return world_count(wd, "id = 'n1/a/t1' AND state = 'down'") == 1;
}

static bool
none_of_t1(struct world *wd)
{
	return world_count(wd, "id = 'n1/a/t1'") == 0;
}

static void
test_sync(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct lbhealth_check c = { .kind = LBHEALTH_TCP, .interval_ms = 100,
	    .timeout_ms = 100, .rise = 1, .fall = 1 };
	struct lbhealth *h;
	struct lbhealthdb *d;
	struct world wd;
	uint16_t port;
	int fd;
	json_t *v;
	const char *nodes[] = { "n1", "n2" };
	char err[128], sql[512];

	world_open(&wd);
	fd = listener(0, &port);
	/* a previous run's rows: t1 (stands until overwritten), one for a
	 * target no longer checked (deleted), and another node's (untouched) */
	snprintf(sql, sizeof(sql), "INSERT INTO lb_health (id, node, app, backend,"
	    " addr, health_check, state, since_ms) VALUES"
	    " ('n1/a/t1', 'n1', 'a', 't1', '127.0.0.1:%u', 'tcp', 'down', 5),"
	    " ('n1/a/gone', 'n1', 'a', 'gone', '127.0.0.1:1', 'tcp', 'up', 5),"
	    " ('n2/a/t1', 'n2', 'a', 't1', 'y', 'tcp', 'down', 5)",
	    (unsigned)port);
	assert_int_equal(sqlite3_exec(wd.db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_non_null(loop);
	assert_int_equal(lbhealth_new(&h, loop, noop_change, NULL), 0);
	assert_int_equal(lbhealthdb_new(&d, loop, wd.path, "n1", fake_write, &wd), 0);
	lbhealth_begin(h);
	assert_int_equal(lbhealth_set(h, "a", "t1", "127.0.0.1", port, &c), 0);
	lbhealth_end(h);
	lbhealthdb_attach(d, h);

	/* the first result: one row, the stale one gone, n2's kept */
	assert_true(run(loop, 5, &wd, one_up));
	run(loop, 0.6, &wd, NULL);
	assert_int_equal(wd.puts, 1);
	assert_int_equal(wd.dels, 1);
	assert_int_equal(world_count(&wd, "node = 'n1'"), 1);
	assert_int_equal(world_count(&wd, "node = 'n2' AND state = 'down'"), 1);
	assert_true(strstr(wd.last_row, "\"state\":\"up\"") != NULL);
	assert_true(lbhealth_stats(h)->checks >= 4);    /* checks: no writes */

	/* the view: ours live, n2's row */
	v = lbhealthdb_view(d, NULL, NULL, nodes, 2, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(str(entry(v, "n1", "t1"), "source"), "local");
	assert_string_equal(str(entry(v, "n1", "t1"), "state"), "up");
	assert_string_equal(str(entry(v, "n2", "t1"), "state"), "down");
	json_decref(v);

	/* down: one row more, then nothing while it stays down */
	close(fd);
	assert_true(run(loop, 5, &wd, one_down));
	run(loop, 0.6, &wd, NULL);
	assert_int_equal(wd.puts, 2);
	assert_int_equal(wd.dels, 1);
	assert_true(strstr(wd.last_row, "connect") != NULL);

	/* back up while gossip is away: retried once it answers */
	wd.fail = true;
	fd = listener(port, &port);
	run(loop, 0.6, &wd, NULL);
	assert_true(lbhealthdb_stats(d)->failed >= 1);
	assert_true(one_down(&wd));
	wd.fail = false;
	assert_true(run(loop, 3, &wd, one_up));
	assert_int_equal(wd.puts, 3);

	/* no longer checked: its row is deleted */
	lbhealth_begin(h);
	lbhealth_end(h);
	assert_true(run(loop, 3, &wd, none_of_t1));
	assert_int_equal(wd.dels, 2);
	assert_int_equal(world_count(&wd, "1"), 1);     /* n2's */
	assert_int_equal(lbhealthdb_stats(d)->puts, 3);
	assert_int_equal(lbhealthdb_stats(d)->dels, 2);

	lbhealthdb_free(d);
	lbhealth_free(h);
	close(fd);
	ev_loop_destroy(loop);
	world_close(&wd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_row),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_sync),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
