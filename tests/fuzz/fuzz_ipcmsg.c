/* Fuzz target for every ipcmsg decoder (STATS and REPL_INFO included),
 * chosen by the type byte.
 *
 * The encoding is canonical (fixed-width integers, exact string lengths, no
 * trailing bytes), so whatever decodes must re-encode to the same bytes.
 *
 * The seed corpus in tests/fuzz/corpus/fuzz_ipcmsg/ is written by this file
 * built with -DFUZZ_IPCMSG_SEEDS (a main() that takes the output dir):
 *   cc -std=c11 -D_GNU_SOURCE -DFUZZ_IPCMSG_SEEDS -Iproto \
 *       tests/fuzz/fuzz_ipcmsg.c proto/ipcmsg.c -lnng -o /tmp/seeds
 *   /tmp/seeds tests/fuzz/corpus/fuzz_ipcmsg
 */
#include <errno.h>
#include <nng/nng.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_same(nng_msg *msg, const uint8_t *data, size_t size)
{
	if (msg == NULL)
		return;         /* ENOMEM only: decoded strings are within bounds */
	if (nng_msg_len(msg) != size || memcmp(nng_msg_body(msg), data, size) != 0)
		abort();
	nng_msg_free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipcmsg_ok ok;
	struct ipcmsg_register reg;
	struct ipcmsg_registered regd;
	struct ipcmsg_table tab;
	struct ipcmsg_write wr;
	struct ipcmsg_kick kick;
	struct ipcmsg_members mem;
	struct ipcmsg_stats stats;
	char *text;
	uint64_t v;

	switch (ipcmsg_type(data, size)) {
	case IPCMSG_OK:
		if (ipcmsg_ok_decode(&ok, data, size) == 0) {
			fuzz_same(ipcmsg_ok_encode(&ok), data, size);
			ipcmsg_ok_fini(&ok);
		}
		break;
	case IPCMSG_ACCEPTOR_HELLO:
		if (ipcmsg_hello_decode(&v, data, size) == 0)
			fuzz_same(ipcmsg_hello_encode(v), data, size);
		break;
	case IPCMSG_REGISTER:
		if (ipcmsg_register_decode(&reg, data, size) == 0) {
			fuzz_same(ipcmsg_register_encode(&reg), data, size);
			ipcmsg_register_fini(&reg);
		}
		break;
	case IPCMSG_REGISTERED:
		if (ipcmsg_registered_decode(&regd, data, size) == 0) {
			fuzz_same(ipcmsg_registered_encode(&regd), data, size);
			ipcmsg_registered_fini(&regd);
		}
		break;
	case IPCMSG_UNREGISTER:
		if (ipcmsg_unregister_decode(&v, data, size) == 0)
			fuzz_same(ipcmsg_unregister_encode(v), data, size);
		break;
	case IPCMSG_SNAPSHOT_REQ:
		if (ipcmsg_snapshot_req_decode(data, size) == 0)
			fuzz_same(ipcmsg_snapshot_req_encode(), data, size);
		break;
	case IPCMSG_TABLE:
		if (ipcmsg_table_decode(&tab, data, size) == 0) {
			fuzz_same(ipcmsg_table_encode(&tab), data, size);
			ipcmsg_table_fini(&tab);
		}
		break;
	case IPCMSG_WRITE:
		if (ipcmsg_write_decode(&wr, data, size) == 0) {
			fuzz_same(ipcmsg_write_encode(&wr), data, size);
			ipcmsg_write_fini(&wr);
		}
		break;
	case IPCMSG_KICK:
		if (ipcmsg_kick_decode(&kick, data, size) == 0) {
			fuzz_same(ipcmsg_kick_encode(&kick), data, size);
			ipcmsg_kick_fini(&kick);
		}
		break;
	case IPCMSG_MEMBERS:
		if (ipcmsg_members_decode(&mem, data, size) == 0) {
			fuzz_same(ipcmsg_members_encode(&mem), data, size);
			ipcmsg_members_fini(&mem);
		}
		break;
	case IPCMSG_REPL_INFO:
		if (ipcmsg_text_decode(IPCMSG_REPL_INFO, &text, data, size) == 0) {
			fuzz_same(ipcmsg_text_encode(IPCMSG_REPL_INFO, text), data, size);
			free(text);
		}
		break;
	case IPCMSG_STATS:
		if (ipcmsg_stats_decode(&stats, data, size) == 0) {
			if (stats.n > IPCMSG_STATS_MAX)
				abort();
			fuzz_same(ipcmsg_stats_encode(&stats), data, size);
			ipcmsg_stats_fini(&stats);
		}
		break;
	case IPCMSG_MEMBERS_REQ:
	case IPCMSG_LEAVE:
	case IPCMSG_KEYS_RELOAD:
	case IPCMSG_REPL_INFO_REQ:
		if (ipcmsg_empty_decode(data[1], data, size) == 0)
			fuzz_same(ipcmsg_empty_encode(data[1]), data, size);
		break;
	default:
		break;
	}
	return 0;
}

#ifdef FUZZ_IPCMSG_SEEDS
int main(int argc, char **argv);

static void
seed(const char *dir, const char *name, nng_msg *msg)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (msg == NULL || (f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(nng_msg_body(msg), 1, nng_msg_len(msg), f);
	fclose(f);
	nng_msg_free(msg);
}

int
main(int argc, char **argv)
{
	struct ipcmsg_ok ok = { IPCMSG_S_TAKEN, "subdomain alice is in use by another client" };
	struct ipcmsg_register reg = { 1, 2, TUNNEL_HTTP, "client-1", "", "alice",
	    "www.example.org,example.net", 0 };
	struct ipcmsg_register tcp = { 3, 4, TUNNEL_TCP, "client-2", "", "", "", 20001 };
	struct ipcmsg_registered regd = { 0, "", "alice.example.com,www.example.org", 0 };
	struct ipcmsg_route routes[2] = {
		{ TUNNEL_HTTP, ROUTE_ONLINE, "alice.example.com", 0, "node-a", 1, 2 },
		{ TUNNEL_TCP, ROUTE_OFFLINE, "", 20001, "node-b", 3, 4 },
	};
	struct ipcmsg_table tab = { 0x1234567890abcdefull, 7, 1, 2, routes };
	struct ipcmsg_write wr = { WRITE_TUNNEL_UPSERT, routes[0], "client-1",
	    "tok_0123456789ab", { NULL, NULL, NULL, NULL, NULL } };
	struct ipcmsg_write tw = { WRITE_TOKEN_CREATE, routes[0], "", "",
	    { "tok_0123456789ab", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	    "alice.*,app.example.com", "20000-20010", "laptop" } };
	struct ipcmsg_kick kick = { "tok_0123456789ab", "the token was revoked" };
	struct ipcmsg_member mv[2] = {
		{ MEMBER_ALIVE, 1, "node-a", "eu", "10.0.0.1:7946", "10.0.0.1:8080",
		    "10.0.0.1:7000", "0.1.0", 1700000000123ull, 1700000000000ull, 250,
		    "10.0.0.1:7001", "node-a:12:0123456789abcdef:40" },
		{ MEMBER_SUSPECT, 0, "node-b", "us", "[fd00::2]:7946", "", "", "",
		    1700000000456ull, 0, 0 },
	};
	struct ipcmsg_members mems = { MEMBERS_SNAPSHOT, 0, 0x1122334455667788ull,
	    42, { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 2, mv };
	struct ipcmsg_stat st[3] = {
		{ "http_errors_total{status=\"404\"}", 7 },
		{ "conns_refused_total{reason=\"policy\"}", 0 },
		{ "session_protocol_errors_total", 0xffffffffffull },
	};
	struct ipcmsg_stats stats = { 3, st };

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	seed(argv[1], "ok", ipcmsg_ok_encode(&ok));
	seed(argv[1], "hello", ipcmsg_hello_encode(0xfeedfacecafebeefull));
	seed(argv[1], "register_http", ipcmsg_register_encode(&reg));
	seed(argv[1], "register_tcp", ipcmsg_register_encode(&tcp));
	seed(argv[1], "registered", ipcmsg_registered_encode(&regd));
	seed(argv[1], "unregister", ipcmsg_unregister_encode(99));
	seed(argv[1], "snapshot_req", ipcmsg_snapshot_req_encode());
	seed(argv[1], "table_delta", ipcmsg_table_encode(&tab));
	tab.delta = 0;
	tab.n = 0;
	seed(argv[1], "table_empty", ipcmsg_table_encode(&tab));
	seed(argv[1], "write_upsert", ipcmsg_write_encode(&wr));
	wr.op = WRITE_SESSION_OFFLINE;
	seed(argv[1], "write_session_offline", ipcmsg_write_encode(&wr));
	wr.op = WRITE_NODE_OFFLINE;
	seed(argv[1], "write_node_offline", ipcmsg_write_encode(&wr));
	seed(argv[1], "write_token_create", ipcmsg_write_encode(&tw));
	tw.op = WRITE_TOKEN_REVOKE;
	seed(argv[1], "write_token_revoke", ipcmsg_write_encode(&tw));
	seed(argv[1], "kick", ipcmsg_kick_encode(&kick));
	seed(argv[1], "members_snapshot", ipcmsg_members_encode(&mems));
	mems.kind = MEMBERS_EVENT;
	mems.event = MEMBER_EV_SUSPECT;
	mems.n = 1;
	seed(argv[1], "members_event", ipcmsg_members_encode(&mems));
	mems.kind = MEMBERS_BEACON;
	mems.n = 0;
	seed(argv[1], "members_beacon", ipcmsg_members_encode(&mems));
	seed(argv[1], "members_req", ipcmsg_empty_encode(IPCMSG_MEMBERS_REQ));
	seed(argv[1], "leave", ipcmsg_empty_encode(IPCMSG_LEAVE));
	seed(argv[1], "keys_reload", ipcmsg_empty_encode(IPCMSG_KEYS_RELOAD));
	seed(argv[1], "repl_info_req", ipcmsg_empty_encode(IPCMSG_REPL_INFO_REQ));
	seed(argv[1], "repl_info_json", ipcmsg_text_encode(IPCMSG_REPL_INFO,
	    "{\"actor\":\"node-a\",\"version\":12,\"peers\":[]}"));
	kick.token_id = "";
	kick.session = 0x1122334455667788ull;
	seed(argv[1], "kick_session", ipcmsg_kick_encode(&kick));
	seed(argv[1], "stats", ipcmsg_stats_encode(&stats));
	stats.n = 0;
	seed(argv[1], "stats_empty", ipcmsg_stats_encode(&stats));
	return 0;
}
#endif
