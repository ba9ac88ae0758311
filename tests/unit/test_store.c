/* gossip store: schema, WAL, and every write op of store_apply(). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "gossip/store.h"
#include "ipcmsg.h"

struct ctx {
	char dir[256];
	char path[300];
	struct store *st;
	sqlite3 *db;            /* a second connection, like the router's */
};

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	const char *tmp = getenv("TMPDIR");

	if (c == NULL)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "%s/warren-test-store-XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(c->dir) == NULL)
		return -1;
	snprintf(c->path, sizeof(c->path), "%s/%s", c->dir, STORE_DB_NAME);
	if (store_open(&c->st, c->path, "eu-1") != 0)
		return -1;
	if (sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return -1;
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;
	char p[400];

	sqlite3_close(c->db);
	store_close(c->st);
	snprintf(p, sizeof(p), "%s-wal", c->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", c->path);
	unlink(p);
	unlink(c->path);
	rmdir(c->dir);
	free(c);
	return 0;
}

/* First column of the first row as text (static buffer), "" if none. */
static const char *
q(struct ctx *c, const char *sql)
{
	static char out[1024];
	sqlite3_stmt *s;

	out[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(c->db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
		snprintf(out, sizeof(out), "%s", sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return out;
}

static int
apply(struct ctx *c, uint8_t op, uint8_t kind, const char *host, uint16_t port,
    const char *node, uint64_t session, const char *client, int64_t now)
{
	struct ipcmsg_write w = { .op = op, .route = { .kind = kind,
	    .state = ROUTE_ONLINE, .host = (char *)host, .port = port,
	    .node = (char *)node, .session = session, .tunnel_id = 3 },
	    .client_id = (char *)client };
	char err[256] = "";
	int rc = store_apply(c->st, &w, now, (uint64_t)now << 16, err, sizeof(err));

	if (rc < 0)
		assert_true(err[0] != '\0');
	return rc;
}

static void
test_schema(void **state)
{
	struct ctx *c = *state;

	assert_string_equal(q(c, "PRAGMA journal_mode"), "wal");
	assert_string_equal(q(c, "PRAGMA user_version"), "2");
	assert_string_equal(q(c, "SELECT group_concat(name, ',') FROM "
	    "pragma_table_info('backends')"),
	    "id,app,region,wg_ip,port,healthy,weight,soft_limit,hard_limit,deleted");
	assert_string_equal(q(c, "SELECT count(*) FROM sqlite_master WHERE type = "
	    "'table' AND name IN ('tunnels','reservations','tokens','domains')"), "4");
	/* an edgeProxy-style insert works as it is */
	assert_int_equal(sqlite3_exec(c->db, "INSERT INTO backends (id, app, region,"
	    " wg_ip, port, healthy, weight, soft_limit, hard_limit) VALUES"
	    " ('b1', 'app', 'eu', '10.0.0.2', 8080, 1, 2, 100, 200)", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_string_equal(q(c, "SELECT deleted FROM backends WHERE id = 'b1'"), "0");
	/* opening again is harmless */
	{
		struct store *st2;

		assert_int_equal(store_open(&st2, c->path, "eu-1"), 0);
		store_close(st2);
	}
	store_close(NULL);
}

static void
test_upsert(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "a.example.com",
	    0, "n1", 7, "client-a", 1000), 1);
	assert_string_equal(q(c, "SELECT name || ' ' || kind || ' ' || host || ' ' ||"
	    " port || ' ' || node || ' ' || region || ' ' || session || ' ' ||"
	    " tunnel_id || ' ' || client_id || ' ' || state || ' ' || started_at"
	    " || ' ' || (claimed >> 16) || ' ' || deleted FROM tunnels WHERE id ="
	    " 'http:a.example.com@n1/0000000000000007'"),
	    "http:a.example.com http a.example.com 0 n1 eu-1 7 3 client-a online"
	    " 1000 1000 0");
	assert_string_equal(q(c, "SELECT client_id FROM reservations WHERE id ="
	    " 'http:a.example.com'"), "client-a");
	/* same session again: started_at and the claim stay */
	assert_int_equal(apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "a.example.com",
	    0, "n1", 7, "client-a", 2000), 1);
	assert_string_equal(q(c, "SELECT started_at || ' ' || updated_at || ' ' ||"
	    " (claimed >> 16) FROM tunnels"), "1000 2000 1000");
	/* a new session is a row of its own (single writer per row): the
	 * reader decides who holds the name */
	assert_int_equal(apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "a.example.com",
	    0, "n1", 8, "client-b", 3000), 1);
	assert_string_equal(q(c, "SELECT count(*) || ' ' || count(DISTINCT name)"
	    " FROM tunnels"), "2 1");
	assert_string_equal(q(c, "SELECT client_id FROM reservations"), "client-b");
	/* tcp, and a session id above INT64_MAX survives the round trip */
	assert_int_equal(apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_TCP, NULL, 20001,
	    "n1", UINT64_MAX, "client-c", 3000), 1);
	assert_string_equal(q(c, "SELECT host || '|' || port || '|' || session FROM"
	    " tunnels WHERE name = 'tcp:20001'"), "|20001|-1");
	/* a TLS passthrough name is a name of its own */
	assert_int_equal(apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_TLS, "s.example.com",
	    0, "n1", 9, "client-d", 3000), 1);
	assert_string_equal(q(c, "SELECT token_id FROM reservations WHERE id ="
	    " 'tls:s.example.com'"), "");
	assert_string_equal(q(c, "SELECT client_id FROM reservations WHERE id ="
	    " 'tls:s.example.com'"), "client-d");
}

static void
test_offline(void **state)
{
	struct ctx *c = *state;

	apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "a.x", 0, "n1", 1, "a", 10);
	apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "b.x", 0, "n1", 1, "a", 10);
	apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "c.x", 0, "n1", 2, "b", 10);
	apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "d.x", 0, "n2", 1, "c", 10);
	assert_int_equal(apply(c, WRITE_SESSION_OFFLINE, 0, NULL, 0, "n1", 1, NULL,
	    20), 2);
	assert_int_equal(apply(c, WRITE_SESSION_OFFLINE, 0, NULL, 0, "n1", 1, NULL,
	    21), 0);
	assert_string_equal(q(c, "SELECT group_concat(host || '=' || state, ',') FROM"
	    " (SELECT * FROM tunnels ORDER BY host)"),
	    "a.x=offline,b.x=offline,c.x=online,d.x=online");
	assert_int_equal(apply(c, WRITE_NODE_OFFLINE, 0, NULL, 0, "n1", 0, NULL,
	    30), 1);
	assert_string_equal(q(c, "SELECT group_concat(host || '=' || state, ',') FROM"
	    " (SELECT * FROM tunnels ORDER BY host)"),
	    "a.x=offline,b.x=offline,c.x=offline,d.x=online");
	/* back online on upsert */
	assert_int_equal(apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "a.x", 0, "n1",
	    5, "a", 40), 1);
	assert_string_equal(q(c, "SELECT group_concat(session || '=' || state, ',')"
	    " FROM (SELECT * FROM tunnels WHERE host = 'a.x' ORDER BY session)"),
	    "1=offline,5=online");
}

static int
token_op(struct ctx *c, uint8_t op, const char *id, const char *hash,
    int64_t now)
{
	struct ipcmsg_write w;
	char err[256] = "";

	memset(&w, 0, sizeof(w));
	w.op = op;
	w.tok.id = (char *)id;
	w.tok.hash = (char *)hash;
	w.tok.allow = "alice.*,app.example.com";
	w.tok.ports = "20000-20010";
	w.tok.note = "laptop";
	return store_apply(c->st, &w, now, (uint64_t)now << 16, err, sizeof(err));
}

static void
test_tokens(void **state)
{
	struct ctx *c = *state;
	struct ipcmsg_write w;

	assert_int_equal(token_op(c, WRITE_TOKEN_CREATE, "tok_1", "h1", 100), 1);
	assert_string_equal(q(c, "SELECT hash || ' ' || hosts || ' ' || ports ||"
	    " ' ' || note || ' ' || created_at || ' ' || revoked FROM tokens"
	    " WHERE id = 'tok_1'"),
	    "h1 alice.*,app.example.com 20000-20010 laptop 100 0");
	/* same id or same hash twice is refused */
	assert_int_equal(token_op(c, WRITE_TOKEN_CREATE, "tok_1", "h2", 100), -EIO);
	assert_int_equal(token_op(c, WRITE_TOKEN_CREATE, "tok_2", "h1", 100), -EIO);
	assert_int_equal(token_op(c, WRITE_TOKEN_CREATE, "tok_2", "", 100), -EINVAL);
	assert_int_equal(token_op(c, WRITE_TOKEN_REVOKE, "tok_1", NULL, 200), 1);
	assert_int_equal(token_op(c, WRITE_TOKEN_REVOKE, "tok_1", NULL, 300), 0);
	assert_int_equal(token_op(c, WRITE_TOKEN_REVOKE, "tok_9", NULL, 300), 0);
	assert_int_equal(token_op(c, WRITE_TOKEN_REVOKE, "", NULL, 300), -EINVAL);
	assert_string_equal(q(c, "SELECT revoked FROM tokens WHERE id = 'tok_1'"),
	    "200");

	/* tunnels and reservations carry the token; going offline stamps the
	 * reservation (the grace period counts from there) */
	memset(&w, 0, sizeof(w));
	w.op = WRITE_TUNNEL_UPSERT;
	w.route.kind = TUNNEL_HTTP;
	w.route.host = "alice.x";
	w.route.node = "n1";
	w.route.session = 4;
	w.client_id = "cl";
	w.token_id = "tok_1";
	{
		char err[256];

		assert_int_equal(store_apply(c->st, &w, 500, 500u << 16, err, sizeof(err)), 1);
	}
	assert_string_equal(q(c, "SELECT token_id FROM tunnels"), "tok_1");
	assert_string_equal(q(c, "SELECT token_id || ' ' || updated_at FROM"
	    " reservations"), "tok_1 500");
	assert_int_equal(apply(c, WRITE_SESSION_OFFLINE, 0, NULL, 0, "n1", 4, NULL,
	    600), 1);
	assert_string_equal(q(c, "SELECT updated_at FROM reservations"), "600");
	/* already offline: the stamp stays */
	assert_int_equal(apply(c, WRITE_NODE_OFFLINE, 0, NULL, 0, "n1", 0, NULL,
	    700), 0);
	assert_string_equal(q(c, "SELECT updated_at FROM reservations"), "600");
}

static void
test_gc(void **state)
{
	struct ctx *c = *state;

	/* n1: one claim online, one offline since 100, one offline since 900;
	 * n2's offline claim is n2's to remove */
	apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "on.x", 0, "n1", 1, "a", 50);
	apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "old.x", 0, "n1", 2, "b", 50);
	apply(c, WRITE_SESSION_OFFLINE, 0, NULL, 0, "n1", 2, NULL, 100);
	apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "new.x", 0, "n1", 3, "c", 50);
	apply(c, WRITE_SESSION_OFFLINE, 0, NULL, 0, "n1", 3, NULL, 900);
	apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "far.x", 0, "n2", 4, "d", 50);
	apply(c, WRITE_SESSION_OFFLINE, 0, NULL, 0, "n2", 4, NULL, 100);
	/* offline claims of n1 before 500 go; reservations not refreshed
	 * since 500 go unless their name is held online */
	assert_int_equal(store_gc(c->st, "n1", 500, 500), 1 + 2);
	assert_string_equal(q(c, "SELECT group_concat(host, ',') FROM (SELECT host"
	    " FROM tunnels ORDER BY host)"), "far.x,new.x,on.x");
	assert_string_equal(q(c, "SELECT group_concat(id, ',') FROM (SELECT id"
	    " FROM reservations ORDER BY id)"), "http:new.x,http:on.x");
	assert_int_equal(store_gc(c->st, "n1", 500, 500), 0);
}

static void
test_bad_ops(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(apply(c, 99, TUNNEL_HTTP, "a.x", 0, "n1", 1, "a", 1),
	    -EINVAL);
	assert_int_equal(apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_HTTP, "", 0, "n1", 1,
	    "a", 1), -EINVAL);
	assert_int_equal(apply(c, WRITE_TUNNEL_UPSERT, TUNNEL_TCP, "", 0, "n1", 1,
	    "a", 1), -EINVAL);
	assert_int_equal(apply(c, WRITE_TUNNEL_UPSERT, 7, "a.x", 0, "n1", 1, "a",
	    1), -EINVAL);
	assert_int_equal(apply(c, WRITE_NODE_OFFLINE, 0, NULL, 0, "", 0, NULL, 1),
	    -EINVAL);
	assert_int_equal(apply(c, WRITE_NODE_OFFLINE, 0, NULL, 0, NULL, 0, NULL, 1),
	    -EINVAL);
	assert_string_equal(q(c, "SELECT count(*) FROM tunnels"), "0");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upsert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ops, setup, teardown),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
