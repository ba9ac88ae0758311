/* router + gossip, driven as real processes: build/warren-gossip and
 * build/warren-router on a temporary data dir, talked to over router.ipc
 * (nng req), table.ipc (nng sub) and the admin API. The binaries come from
 * $WARREN_BIN (default "build"); without them the tests fail (make unit
 * builds them first).
 * Every wait is bounded. The tests run in order and share the processes. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#include "ipcmsg.h"

#define T_DOMAIN        "example.test"
#define T_NODE          "testnode"
#define T_WAIT_MS       10000

struct fixture {
	char dir[256];
	char bin[256];
	pid_t gossip, router;
	int router_runs;        /* log file per run */
	int admin_port;
	nng_socket req, sub;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static pid_t
spawn(struct fixture *f, const char *prog, const char *log)
{
	char path[512], logpath[512], dd[300];
	pid_t pid;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->bin, prog);
	snprintf(logpath, sizeof(logpath), "%s/%s", f->dir, log);
	snprintf(dd, sizeof(dd), "%s/data", f->dir);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd != -1) {
			dup2(fd, 2);
			close(fd);
		}
		execl(path, prog, "--data-dir", dd, "--name", T_NODE,
		    "--domain", T_DOMAIN, "--region", "test-1",
		    "--admin-listen", "127.0.0.1:0",
		    "--tcp-port-range", "20000-20010", "--log-level", "debug",
		    "--allow-anonymous",
		    (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Waits (bounded) for `needle` in the log file; copies the rest of its line
 * into rest if not NULL. Returns true when found. */
static bool
wait_log(struct fixture *f, const char *log, const char *needle, char *rest,
    size_t restlen)
{
	char path[512], buf[65536], *p, *e;
	long long deadline = now_ms() + T_WAIT_MS;
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, log);
	while (now_ms() < deadline) {
		if ((fp = fopen(path, "r")) != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, fp);
			fclose(fp);
			buf[n] = '\0';
			if ((p = strstr(buf, needle)) != NULL) {
				if (rest != NULL) {
					p += strlen(needle);
					e = strchr(p, '\n');
					n = e != NULL ? (size_t)(e - p) : strlen(p);
					if (n >= restlen)
						n = restlen - 1;
					memcpy(rest, p, n);
					rest[n] = '\0';
				}
				return true;
			}
		}
		sleep_ms(20);
	}
	return false;
}

static bool
start_router(struct fixture *f)
{
	char log[64], addr[128], *colon;

	snprintf(log, sizeof(log), "router%d.log", ++f->router_runs);
	f->router = spawn(f, "warren-router", log);
	if (f->router <= 0 || !wait_log(f, log, "ev=router.start ", NULL, 0) ||
	    !wait_log(f, log, "ev=admin.listen addr=", addr, sizeof(addr)))
		return false;
	if ((colon = strrchr(addr, ':')) == NULL)
		return false;
	f->admin_port = atoi(colon + 1);
	return f->admin_port > 0;
}

/* Waits (bounded) for pid to exit; returns its wait status or -1. */
static int
reap(pid_t pid, long timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int st;

	while (now_ms() < deadline) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR"), *bin = getenv("WARREN_BIN");
	char path[512], url[512];

	if (f == NULL)
		return -1;
	snprintf(f->bin, sizeof(f->bin), "%s", bin != NULL ? bin : "build");
	snprintf(path, sizeof(path), "%s/warren-router", f->bin);
	if (access(path, X_OK) != 0) {
		fprintf(stderr, "test_router: %s is not built (run make, or set "
		    "WARREN_BIN)\n", path);
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/warren-test-router-XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	/* the router waits for gossip to create routing.db: start it first
	 * anyway, and the router a little later shows the wait works */
	f->router_runs = 0;
	if ((f->gossip = spawn(f, "warren-gossip", "gossip.log")) <= 0 ||
	    !wait_log(f, "gossip.log", "ev=gossip.start ", NULL, 0) ||
	    !start_router(f))
		return -1;
	snprintf(url, sizeof(url), "ipc://%s/data/router.ipc", f->dir);
	if (nng_req0_open(&f->req) != 0)
		return -1;
	nng_socket_set_ms(f->req, NNG_OPT_RECVTIMEO, 5000);
	nng_socket_set_ms(f->req, NNG_OPT_SENDTIMEO, 5000);
	nng_socket_set_ms(f->req, NNG_OPT_REQ_RESENDTIME, 1000);
	nng_socket_set_ms(f->req, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(f->req, NNG_OPT_RECONNMAXT, 200);
	if (nng_dial(f->req, url, NULL, NNG_FLAG_NONBLOCK) != 0)
		return -1;
	snprintf(url, sizeof(url), "ipc://%s/data/table.ipc", f->dir);
	if (nng_sub0_open(&f->sub) != 0)
		return -1;
	nng_socket_set(f->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_ms(f->sub, NNG_OPT_RECVTIMEO, 3000);
	nng_socket_set_ms(f->sub, NNG_OPT_RECONNMINT, 20);
	if (nng_dial(f->sub, url, NULL, NNG_FLAG_NONBLOCK) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f == NULL)
		return 0;
	if (f->dir[0] != '\0') {
		nng_close(f->req);
		nng_close(f->sub);
		if (f->router > 0) {
			kill(f->router, SIGKILL);
			reap(f->router, 2000);
		}
		if (f->gossip > 0) {
			kill(f->gossip, SIGKILL);
			reap(f->gossip, 2000);
		}
		if (getenv("WARREN_KEEP") == NULL)
			nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	free(f);
	return 0;
}

static struct fixture *
fixture(void **state)
{
	struct fixture *f = *state;

	assert_true(f->dir[0] != '\0');
	return f;
}

/* One request/reply on router.ipc; consumes msg, returns the reply. */
static nng_msg *
call(struct fixture *f, nng_msg *msg)
{
	nng_msg *reply = NULL;

	assert_non_null(msg);
	assert_int_equal(nng_sendmsg(f->req, msg, 0), 0);
	assert_int_equal(nng_recvmsg(f->req, &reply, 0), 0);
	return reply;
}

static int
do_register(struct fixture *f, uint8_t kind, uint64_t session,
    const char *client, const char *sub, const char *domains, uint16_t port,
    struct ipcmsg_registered *out)
{
	struct ipcmsg_register req = { .session = session, .tunnel_id = 1,
	    .kind = kind, .client_id = (char *)client, .token = "",
	    .subdomain = (char *)sub, .domains = (char *)domains, .port = port };
	nng_msg *reply = call(f, ipcmsg_register_encode(&req));

	assert_int_equal(ipcmsg_registered_decode(out, nng_msg_body(reply),
	    nng_msg_len(reply)), 0);
	nng_msg_free(reply);
	return out->status;
}

static uint8_t
ok_call(struct fixture *f, nng_msg *msg, char *err, size_t errlen)
{
	struct ipcmsg_ok ok;
	nng_msg *reply = call(f, msg);
	uint8_t st;

	assert_int_equal(ipcmsg_ok_decode(&ok, nng_msg_body(reply),
	    nng_msg_len(reply)), 0);
	nng_msg_free(reply);
	st = ok.status;
	if (err != NULL)
		snprintf(err, errlen, "%s", ok.error);
	ipcmsg_ok_fini(&ok);
	return st;
}

static void
snapshot(struct fixture *f, struct ipcmsg_table *t)
{
	nng_msg *reply = call(f, ipcmsg_snapshot_req_encode());

	assert_int_equal(ipcmsg_table_decode(t, nng_msg_body(reply),
	    nng_msg_len(reply)), 0);
	nng_msg_free(reply);
	assert_int_equal(t->delta, 0);
}

static const struct ipcmsg_route *
find_route(const struct ipcmsg_table *t, const char *host, uint16_t port)
{
	uint32_t i;

	for (i = 0; i < t->n; i++)
		if ((host != NULL && strcmp(t->routes[i].host, host) == 0) ||
		    (host == NULL && t->routes[i].kind == TUNNEL_TCP &&
		    t->routes[i].port == port))
			return &t->routes[i];
	return NULL;
}

/* GET on the admin API; returns the status and a malloc'ed body. */
static int
http_get(struct fixture *f, const char *path, char **body)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { 3, 0 };
	char req[256], *buf, *p;
	size_t len = 0, cap = 1 << 16;
	ssize_t n;
	int fd, status = -1;

	*body = NULL;
	sin.sin_port = htons((uint16_t)f->admin_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	buf = malloc(cap + 1);
	assert_non_null(buf);
	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
		status = -1;
	if ((p = strstr(buf, "\r\n\r\n")) != NULL)
		*body = strdup(p + 4);
	free(buf);
	return status;
}

/* The next TABLE on table.ipc: with changes only, or any (beacons too). */
static void
next_delta(struct fixture *f, struct ipcmsg_table *t, bool changes)
{
	nng_msg *msg;
	int i;

	for (i = 0; i < 10; i++) {
		assert_int_equal(nng_recvmsg(f->sub, &msg, 0), 0);
		if (ipcmsg_type(nng_msg_body(msg), nng_msg_len(msg)) == IPCMSG_LB) {
			/* the load balancer's candidates share the publisher */
			nng_msg_free(msg);
			continue;
		}
		assert_int_equal(ipcmsg_table_decode(t, nng_msg_body(msg),
		    nng_msg_len(msg)), 0);
		nng_msg_free(msg);
		if (!changes || t->n > 0)
			return;
		ipcmsg_table_fini(t);
	}
	fail_msg("no delta with changes");
}

static void
test_hello(void **state)
{
	struct fixture *f = fixture(state);

	assert_int_equal(ok_call(f, ipcmsg_hello_encode(1), NULL, 0), IPCMSG_S_OK);
}

static void
test_register_http(void **state)
{
	struct fixture *f = fixture(state);
	struct ipcmsg_registered r;
	struct ipcmsg_table delta;

	/* a beacon proves the subscriber is connected: deltas published
	 * before that would be lost */
	next_delta(f, &delta, false);
	ipcmsg_table_fini(&delta);
	assert_int_equal(do_register(f, TUNNEL_HTTP, 1, "client-a", "alice",
	    "www.example.org, Example.NET", 0, &r), IPCMSG_S_OK);
	assert_string_equal(r.hosts, "alice." T_DOMAIN ",www.example.org,example.net");
	ipcmsg_registered_fini(&r);

	/* one delta with the three hosts online (skipping beacons) */
	next_delta(f, &delta, true);
	assert_int_equal(delta.delta, 1);
	assert_int_equal(delta.n, 3);
	assert_true(delta.version >= 1);
	assert_int_equal(delta.routes[0].state, ROUTE_ONLINE);
	assert_string_equal(delta.routes[0].node, T_NODE);
	ipcmsg_table_fini(&delta);
}

static void
test_conflict(void **state)
{
	struct fixture *f = fixture(state);
	struct ipcmsg_registered r;

	assert_int_equal(do_register(f, TUNNEL_HTTP, 2, "client-b", "alice", "",
	    0, &r), IPCMSG_S_TAKEN);
	assert_string_equal(r.error, "subdomain alice is in use by another client");
	ipcmsg_registered_fini(&r);
	/* a custom domain held by another client */
	assert_int_equal(do_register(f, TUNNEL_HTTP, 2, "client-b", "bob",
	    "www.example.org", 0, &r), IPCMSG_S_TAKEN);
	assert_non_null(strstr(r.error, "www.example.org is in use"));
	ipcmsg_registered_fini(&r);
	/* the same client reconnecting reclaims it (case does not matter) */
	assert_int_equal(do_register(f, TUNNEL_HTTP, 3, "client-a", "ALICE", "",
	    0, &r), IPCMSG_S_OK);
	assert_string_equal(r.hosts, "alice." T_DOMAIN);
	ipcmsg_registered_fini(&r);
}

static void
test_invalid_and_random(void **state)
{
	struct fixture *f = fixture(state);
	struct ipcmsg_registered r;
	size_t n;

	assert_int_equal(do_register(f, TUNNEL_HTTP, 5, "client-c", "bad_label",
	    "", 0, &r), IPCMSG_S_INVALID);
	assert_non_null(strstr(r.error, "not valid"));
	ipcmsg_registered_fini(&r);
	assert_int_equal(do_register(f, TUNNEL_HTTP, 5, "client-c", "-x", "", 0,
	    &r), IPCMSG_S_INVALID);
	ipcmsg_registered_fini(&r);
	assert_int_equal(do_register(f, TUNNEL_HTTP, 5, "client-c", "ok",
	    "sub." T_DOMAIN, 0, &r), IPCMSG_S_INVALID);
	ipcmsg_registered_fini(&r);
	assert_int_equal(do_register(f, 9, 5, "client-c", "", "", 0, &r),
	    IPCMSG_S_INVALID);
	ipcmsg_registered_fini(&r);
	/* empty subdomain: a random 8-character label */
	assert_int_equal(do_register(f, TUNNEL_HTTP, 5, "client-c", "", "", 0,
	    &r), IPCMSG_S_OK);
	n = strlen(r.hosts);
	assert_int_equal(n, 8 + 1 + strlen(T_DOMAIN));
	assert_string_equal(r.hosts + 9, T_DOMAIN);
	assert_int_equal(strspn(r.hosts, "abcdefghijklmnopqrstuvwxyz0123456789"), 8);
	ipcmsg_registered_fini(&r);
}

static void
test_tcp(void **state)
{
	struct fixture *f = fixture(state);
	struct ipcmsg_registered r;

	assert_int_equal(do_register(f, TUNNEL_TCP, 6, "client-d", "", "", 20005,
	    &r), IPCMSG_S_OK);
	assert_int_equal(r.port, 20005);
	ipcmsg_registered_fini(&r);
	assert_int_equal(do_register(f, TUNNEL_TCP, 7, "client-e", "", "", 20005,
	    &r), IPCMSG_S_TAKEN);
	assert_string_equal(r.error, "port 20005 is in use by another client");
	ipcmsg_registered_fini(&r);
	assert_int_equal(do_register(f, TUNNEL_TCP, 7, "client-e", "", "", 30000,
	    &r), IPCMSG_S_INVALID);
	ipcmsg_registered_fini(&r);
}

static void
test_unregister(void **state)
{
	struct fixture *f = fixture(state);
	struct ipcmsg_registered r;
	struct ipcmsg_table t;
	const struct ipcmsg_route *rt;

	/* sessions 1 and 3 of client-a both claimed alice: 3, the newer, is
	 * the route; when it ends, 1 (the same client, still online) holds
	 * it again */
	assert_int_equal(ok_call(f, ipcmsg_unregister_encode(3), NULL, 0),
	    IPCMSG_S_OK);
	usleep(300 * 1000);     /* the router recompiles from routing.db */
	snapshot(f, &t);
	assert_non_null(rt = find_route(&t, "alice." T_DOMAIN, 0));
	assert_int_equal(rt->state, ROUTE_ONLINE);
	assert_true(rt->session == 1);
	ipcmsg_table_fini(&t);
	assert_int_equal(do_register(f, TUNNEL_HTTP, 8, "client-b", "alice", "",
	    0, &r), IPCMSG_S_TAKEN);
	ipcmsg_registered_fini(&r);
	/* 1 ends too: alice is offline; its custom domains go with it */
	assert_int_equal(ok_call(f, ipcmsg_unregister_encode(1), NULL, 0),
	    IPCMSG_S_OK);
	usleep(300 * 1000);
	snapshot(f, &t);
	assert_non_null(rt = find_route(&t, "alice." T_DOMAIN, 0));
	assert_int_equal(rt->state, ROUTE_OFFLINE);
	assert_non_null(rt = find_route(&t, "www.example.org", 0));
	assert_int_equal(rt->state, ROUTE_OFFLINE);
	ipcmsg_table_fini(&t);
	snapshot(f, &t);
	assert_non_null(rt = find_route(&t, NULL, 20005));
	assert_int_equal(rt->state, ROUTE_ONLINE);
	ipcmsg_table_fini(&t);
	/* held offline: another client may claim it */
	assert_int_equal(do_register(f, TUNNEL_HTTP, 8, "client-b", "alice", "",
	    0, &r), IPCMSG_S_OK);
	ipcmsg_registered_fini(&r);
}

static void
test_admin(void **state)
{
	struct fixture *f = fixture(state);
	json_t *j, *e;
	json_error_t jerr;
	char *body;
	size_t i;
	bool seen = false;

	assert_int_equal(http_get(f, "/v1/tunnels", &body), 200);
	j = json_loads(body, 0, &jerr);
	free(body);
	assert_non_null(j);
	assert_true(json_is_array(j));
	json_array_foreach(j, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "host")),
		    "alice." T_DOMAIN) == 0) {
			seen = true;
			assert_string_equal(json_string_value(json_object_get(e,
			    "state")), "online");
			assert_string_equal(json_string_value(json_object_get(e,
			    "session")), "0000000000000008");
			assert_string_equal(json_string_value(json_object_get(e,
			    "kind")), "http");
		}
	}
	assert_true(seen);
	json_decref(j);

	assert_int_equal(http_get(f, "/v1/status?x=1", &body), 200);
	j = json_loads(body, 0, &jerr);
	free(body);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "name")), T_NODE);
	assert_string_equal(json_string_value(json_object_get(j, "domain")), T_DOMAIN);
	assert_true(json_integer_value(json_object_get(j, "version")) > 0);
	json_decref(j);

	assert_int_equal(http_get(f, "/metrics", &body), 200);
	assert_non_null(strstr(body, "warren_router_registrations_total{result=\"ok\"}"));
	assert_non_null(strstr(body, "warren_router_ipc_errors_total 0"));
	free(body);

	assert_int_equal(http_get(f, "/nope", &body), 404);
	free(body);
}

static void
test_router_restart(void **state)
{
	struct fixture *f = fixture(state);
	struct ipcmsg_table before, after;
	const struct ipcmsg_route *rt;
	uint32_t i;

	snapshot(f, &before);
	kill(f->router, SIGKILL);
	assert_true(reap(f->router, 3000) != -1);
	f->router = 0;
	assert_true(start_router(f));
	snapshot(f, &after);
	assert_true(after.epoch != before.epoch);
	assert_true(after.version == 0);
	assert_int_equal(after.n, before.n);
	for (i = 0; i < before.n; i++) {
		rt = find_route(&after, before.routes[i].kind == TUNNEL_TCP ? NULL :
		    before.routes[i].host, before.routes[i].port);
		assert_non_null(rt);
		assert_int_equal(rt->state, before.routes[i].state);
		assert_true(rt->session == before.routes[i].session);
		assert_string_equal(rt->node, before.routes[i].node);
	}
	/* without any change, the beacon tells subscribers the new epoch */
	{
		struct ipcmsg_table b;
		long long deadline = now_ms() + 3000;

		do {
			next_delta(f, &b, false);
			if (b.epoch == after.epoch)
				break;
			ipcmsg_table_fini(&b);
		} while (now_ms() < deadline);
		assert_true(b.epoch == after.epoch);
		assert_int_equal(b.n, 0);
		assert_true(b.version == after.version);
		ipcmsg_table_fini(&b);
	}
	/* the reloaded table still knows who holds what */
	{
		struct ipcmsg_registered r;

		assert_int_equal(do_register(f, TUNNEL_HTTP, 9, "client-a",
		    "alice", "", 0, &r), IPCMSG_S_TAKEN);
		ipcmsg_registered_fini(&r);
	}
	ipcmsg_table_fini(&before);
	ipcmsg_table_fini(&after);
}

static void
test_hello_offlines_node(void **state)
{
	struct fixture *f = fixture(state);
	struct ipcmsg_table t;
	uint32_t i;

	assert_int_equal(ok_call(f, ipcmsg_hello_encode(2), NULL, 0), IPCMSG_S_OK);
	snapshot(f, &t);
	assert_true(t.n > 0);
	for (i = 0; i < t.n; i++)
		assert_int_equal(t.routes[i].state, ROUTE_OFFLINE);
	ipcmsg_table_fini(&t);
}

/* gossip connected but not answering: the write times out after ~2 s */
static void
test_gossip_stalled(void **state)
{
	struct fixture *f = fixture(state);
	struct ipcmsg_registered r;
	long long t0;
	int st;

	kill(f->gossip, SIGSTOP);
	t0 = now_ms();
	st = do_register(f, TUNNEL_HTTP, 11, "client-y", "stalled", "", 0, &r);
	kill(f->gossip, SIGCONT);
	assert_int_equal(st, IPCMSG_S_UNAVAILABLE);
	assert_true(now_ms() - t0 >= 1500);
	assert_true(now_ms() - t0 < 5000);
	assert_non_null(strstr(r.error, "did not answer"));
	ipcmsg_registered_fini(&r);
	/* and it recovers */
	assert_int_equal(do_register(f, TUNNEL_HTTP, 11, "client-y", "stalled",
	    "", 0, &r), IPCMSG_S_OK);
	ipcmsg_registered_fini(&r);
}

static void
test_gossip_down(void **state)
{
	struct fixture *f = fixture(state);
	struct ipcmsg_registered r;
	long long t0;

	kill(f->gossip, SIGTERM);
	assert_true(reap(f->gossip, 3000) == 0);      /* clean exit, status 0 */
	f->gossip = 0;
	t0 = now_ms();
	assert_int_equal(do_register(f, TUNNEL_HTTP, 10, "client-z", "zed", "",
	    0, &r), IPCMSG_S_UNAVAILABLE);
	assert_true(now_ms() - t0 < 4000);
	assert_non_null(strstr(r.error, "gossip"));
	ipcmsg_registered_fini(&r);
}

static void
test_clean_exit(void **state)
{
	struct fixture *f = fixture(state);

	kill(f->router, SIGTERM);
	assert_true(reap(f->router, 3000) == 0);
	f->router = 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_register_http),
		cmocka_unit_test(test_conflict),
		cmocka_unit_test(test_invalid_and_random),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_unregister),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_router_restart),
		cmocka_unit_test(test_hello_offlines_node),
		cmocka_unit_test(test_gossip_stalled),
		cmocka_unit_test(test_gossip_down),
		cmocka_unit_test(test_clean_exit),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("router", tests, setup, teardown);
}
