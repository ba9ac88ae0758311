/* swimmsg: every message round-trips; truncations, overlong lengths and bad
 * fields are malformed; unknown types are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "gossip/swimmsg.h"

static void
fill(struct swimmsg *m, uint8_t type)
{
	static const uint8_t meta[] = "mesh=10.0.0.1:7001;v=1";

	memset(m, 0, sizeof(*m));
	m->type = type;
	m->seq = 0x01020304;
	m->incarnation = 0x1122334455667788ULL;
	m->addr.family = 4;
	m->addr.ip[0] = 10;
	m->addr.ip[3] = 7;
	m->addr.port = 7946;
	strcpy(m->name, "node-a");
	strcpy(m->from, "node-b");
	strcpy(m->region, "eu-west");
	m->meta = meta;
	m->meta_len = sizeof(meta) - 1;
	if (type == SWIMMSG_STATE)
		m->state = SWIMMSG_S_SUSPECT;
	if (type == SWIMMSG_PING_REQ)
		m->flags = SWIMMSG_F_NACK;
	if (type == SWIMMSG_STATE_HEAD)
		m->seq = 12;
}

static void
check_same(const struct swimmsg *a, const struct swimmsg *b)
{
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case SWIMMSG_PING:
		assert_int_equal(a->seq, b->seq);
		assert_string_equal(a->name, b->name);
		break;
	case SWIMMSG_PING_REQ:
		assert_int_equal(a->seq, b->seq);
		assert_int_equal(a->flags, b->flags);
		assert_string_equal(a->name, b->name);
		assert_true(swimmsg_addr_eq(&a->addr, &b->addr));
		break;
	case SWIMMSG_ACK:
	case SWIMMSG_NACK:
		assert_int_equal(a->seq, b->seq);
		break;
	case SWIMMSG_ALIVE:
	case SWIMMSG_STATE:
		assert_int_equal(a->state, b->state);
		assert_true(a->incarnation == b->incarnation);
		assert_string_equal(a->name, b->name);
		assert_string_equal(a->region, b->region);
		assert_true(swimmsg_addr_eq(&a->addr, &b->addr));
		assert_int_equal(a->meta_len, b->meta_len);
		assert_memory_equal(a->meta, b->meta, a->meta_len);
		break;
	case SWIMMSG_SUSPECT:
	case SWIMMSG_DEAD:
		assert_true(a->incarnation == b->incarnation);
		assert_string_equal(a->name, b->name);
		assert_string_equal(a->from, b->from);
		break;
	case SWIMMSG_LEAVE:
		assert_true(a->incarnation == b->incarnation);
		assert_string_equal(a->name, b->name);
		break;
	case SWIMMSG_STATE_HEAD:
		assert_int_equal(a->flags, b->flags);
		assert_int_equal(a->seq, b->seq);
		assert_string_equal(a->from, b->from);
		break;
	}
}

static void
test_roundtrip_all(void **state)
{
	uint8_t buf[SWIMMSG_PACKET_MAX];
	struct swimmsg_writer w;
	struct swimmsg_reader r;
	struct swimmsg in[10], out;
	size_t count;
	int t;

	swimmsg_writer_init(&w, buf, sizeof(buf));
	for (t = SWIMMSG_PING; t <= SWIMMSG_STATE; t++) {
		fill(&in[t - 1], (uint8_t)t);
		assert_int_not_equal(swimmsg_size(&in[t - 1]), 0);
		assert_int_equal(swimmsg_put(&w, &in[t - 1]), 0);
	}
	assert_int_equal(swimmsg_validate(buf, w.len, &count), SWIMMSG_OK);
	assert_int_equal(count, 10);
	assert_int_equal(swimmsg_reader_init(&r, buf, w.len), SWIMMSG_OK);
	for (t = SWIMMSG_PING; t <= SWIMMSG_STATE; t++) {
		assert_int_equal(swimmsg_next(&r, &out), SWIMMSG_OK);
		check_same(&in[t - 1], &out);
	}
	assert_int_equal(swimmsg_next(&r, &out), SWIMMSG_END);
}

static void
test_every_truncation_malformed(void **state)
{
	uint8_t buf[SWIMMSG_PACKET_MAX];
	struct swimmsg_writer w;
	struct swimmsg m;
	size_t cut, count;
	int t;

	for (t = SWIMMSG_PING; t <= SWIMMSG_STATE; t++) {
		swimmsg_writer_init(&w, buf, sizeof(buf));
		fill(&m, (uint8_t)t);
		assert_int_equal(swimmsg_put(&w, &m), 0);
		for (cut = 2; cut < w.len; cut++)
			assert_int_equal(swimmsg_validate(buf, cut, &count),
			    SWIMMSG_MALFORMED);
		/* a body length shortened by one cuts the last field */
		buf[2]--;
		assert_int_equal(swimmsg_validate(buf, w.len - 1, &count),
		    SWIMMSG_MALFORMED);
	}
}

static void
test_lengths_never_trusted(void **state)
{
	/* body length 0xffff with 3 bytes present */
	const uint8_t big[] = { SWIMMSG_VERSION, SWIMMSG_ACK, 0xff, 0xff, 1, 2, 3 };
	/* name length 200 > SWIMMSG_NAME_MAX */
	const uint8_t name[] = { SWIMMSG_VERSION, SWIMMSG_PING, 5, 0, 1, 0, 0,
	    0, 200 };
	/* meta length over SWIMMSG_META_MAX */
	uint8_t alive[64] = { SWIMMSG_VERSION, SWIMMSG_ALIVE };
	/* NUL inside a name */
	const uint8_t nul[] = { SWIMMSG_VERSION, SWIMMSG_LEAVE, 11, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 2, 'a', 0 };
	/* bad address family */
	const uint8_t fam[] = { SWIMMSG_VERSION, SWIMMSG_PING_REQ, 11, 0,
	    1, 0, 0, 0, 0, 1, 'x', 9, 0, 0, 0 };
	size_t count, n = 0;

	assert_int_equal(swimmsg_validate(big, sizeof(big), &count),
	    SWIMMSG_MALFORMED);
	assert_int_equal(swimmsg_validate(name, sizeof(name), &count),
	    SWIMMSG_MALFORMED);
	n = 4;
	memset(alive + n, 0, 8);                /* incarnation */
	n += 8;
	alive[n++] = 1;
	alive[n++] = 'n';                       /* name */
	alive[n++] = 0;                         /* region */
	alive[n++] = 0;                         /* family none */
	alive[n++] = 0;
	alive[n++] = 0;                         /* port */
	alive[n++] = 0x01;
	alive[n++] = 0x10;                      /* meta len 4097 */
	alive[2] = (uint8_t)(n - 4);
	assert_int_equal(swimmsg_validate(alive, n, &count), SWIMMSG_MALFORMED);
	assert_int_equal(swimmsg_validate(nul, sizeof(nul), &count),
	    SWIMMSG_MALFORMED);
	assert_int_equal(swimmsg_validate(fam, sizeof(fam), &count),
	    SWIMMSG_MALFORMED);
}

static void
test_version_and_unknown(void **state)
{
	const uint8_t v2[] = { 2, SWIMMSG_ACK, 4, 0, 1, 2, 3, 4 };
	/* unknown type 77 with a body, then an ACK */
	const uint8_t unk[] = { SWIMMSG_VERSION, 77, 2, 0, 9, 9,
	    SWIMMSG_ACK, 5, 0, 1, 0, 0, 0, 0xee };
	struct swimmsg_reader r;
	struct swimmsg m;
	size_t count;

	assert_int_equal(swimmsg_reader_init(&r, v2, sizeof(v2)),
	    SWIMMSG_UNSUPPORTED);
	assert_int_equal(swimmsg_next(&r, &m), SWIMMSG_MALFORMED);
	assert_int_equal(swimmsg_reader_init(&r, "", 0), SWIMMSG_MALFORMED);
	/* a longer ACK body than v1 knows is fine (later fields) */
	assert_int_equal(swimmsg_validate(unk, sizeof(unk), &count), SWIMMSG_OK);
	assert_int_equal(count, 1);
	assert_int_equal(swimmsg_reader_init(&r, unk, sizeof(unk)), SWIMMSG_OK);
	assert_int_equal(swimmsg_next(&r, &m), SWIMMSG_OK);
	assert_int_equal(m.type, SWIMMSG_ACK);
	assert_int_equal(m.seq, 1);
}

static void
test_encode_rejects(void **state)
{
	uint8_t buf[16];
	struct swimmsg m;
	struct swimmsg_writer w;

	fill(&m, SWIMMSG_ALIVE);
	assert_int_equal(swimmsg_encode(buf, sizeof(buf), &m), -ENOSPC);
	swimmsg_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(swimmsg_put(&w, &m), -ENOSPC);
	assert_int_equal(w.len, 1);
	m.meta_len = SWIMMSG_META_MAX + 1;
	assert_int_equal(swimmsg_size(&m), 0);
	fill(&m, SWIMMSG_SUSPECT);
	m.from[0] = '\0';
	assert_int_equal(swimmsg_encode(buf, sizeof(buf), &m), -EINVAL);
	fill(&m, SWIMMSG_PING_REQ);
	m.addr.family = 0;
	assert_int_equal(swimmsg_size(&m), 0);
	m.type = 200;
	assert_int_equal(swimmsg_size(&m), 0);
}

static void
test_addr_conversions(void **state)
{
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
	struct swimmsg_addr a, b;
	unsigned len;

	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(7946);
	in6.sin6_addr.s6_addr[15] = 1;
	assert_int_equal(swimmsg_addr_from_sockaddr(&a,
	    (struct sockaddr *)&in6), 0);
	assert_int_equal(a.family, 6);
	assert_int_equal(a.port, 7946);
	assert_int_equal(swimmsg_addr_to_sockaddr(&a, &ss, &len), 0);
	assert_int_equal(len, sizeof(in6));
	assert_int_equal(swimmsg_addr_from_sockaddr(&b,
	    (struct sockaddr *)&ss), 0);
	assert_true(swimmsg_addr_eq(&a, &b));
	b.port++;
	assert_false(swimmsg_addr_eq(&a, &b));
	a.family = 0;
	assert_int_equal(swimmsg_addr_to_sockaddr(&a, &ss, &len),
	    -EAFNOSUPPORT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all),
		cmocka_unit_test(test_every_truncation_malformed),
		cmocka_unit_test(test_lengths_never_trusted),
		cmocka_unit_test(test_version_and_unknown),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_addr_conversions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
