#include "gossip/repl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/repldb.h"
#include "gossip/replmsg.h"
#include "log.h"

#define REPL_PEERS_MAX          1024
#define REPL_RECENT             512     /* datagram hashes remembered */
#define REPL_ROW_DGRAM_MAX      8192    /* a row larger than a datagram goes
                                         * alone in one of up to this size */
#define REPL_GAP_DELAY_US       200000  /* pull this soon after a gap */
#define REPL_HEADS_REPLY_US     50000   /* heads sent back at most this often */

struct repl {
	struct repl_config cfg;
	struct repl_io io;
	struct repldb *db;
	uint64_t rng;
	uint64_t next_sync;             /* monotonic us */
	uint64_t next_heads, heads_reply_at;
	size_t heads_from;              /* rotating window start */
	bool have_target;
	struct swimmsg_addr target;     /* pull from this peer next */
	uint64_t sync_deadline;         /* in flight until then */
	bool in_flight, capture_left;
	struct swimmsg_addr sync_to;
	size_t last_peers;
	/* the answer being applied, and the next one (pulls are pipelined:
	 * while one answer is applied the next is on its way) */
	uint8_t *ans_buf;
	struct replmsg ans;
	uint32_t ans_next;
	uint8_t *nxt_buf;
	struct replmsg nxt;
	uint32_t gen, pull_gen;         /* answers of an older gen are dropped */
	uint64_t recent[REPL_RECENT];
	size_t recent_next;
	struct repl_peer *peers;
	struct repl_stats st;
};

void
repl_config_default(struct repl_config *c)
{
	memset(c, 0, sizeof(*c));
	c->fanout = 3;
	c->ttl = 4;
	c->sync_interval_ms = 1000;
	c->heads_interval_ms = 200;
	c->sync_timeout_ms = 10000;
	c->batch = 2000;
	c->budget = 8192;
	c->broadcast_packets = 4;
	c->max_packet = SWIMMSG_PACKET_MAX;
}

static uint64_t
repl_rand(struct repl *r)
{
	/* xorshift64* */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 2685821657736338717ull;
}

int
repl_new(struct repl **out, const struct repl_config *cfg,
    const struct repl_io *io, struct repldb *db, uint64_t now)
{
	struct repl *r;

	if (io->send == NULL || io->peers == NULL || cfg->fanout == 0 ||
	    cfg->batch == 0 || cfg->budget == 0 || cfg->max_packet < 64)
		return -EINVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	if ((r->peers = calloc(REPL_PEERS_MAX, sizeof(*r->peers))) == NULL) {
		free(r);
		return -ENOMEM;
	}
	r->cfg = *cfg;
	r->io = *io;
	r->db = db;
	r->rng = cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ull;
	r->next_sync = now + (uint64_t)cfg->sync_interval_ms * 1000u;
	r->next_heads = now + (uint64_t)cfg->heads_interval_ms * 1000u;
	*out = r;
	return 0;
}

static void
repl_answer_drop(struct repl *r)
{
	replmsg_fini(&r->ans);
	free(r->ans_buf);
	r->ans_buf = NULL;
	r->ans_next = 0;
}

/* The queued answer becomes the one applied. */
static void
repl_answer_next(struct repl *r)
{
	repl_answer_drop(r);
	if (r->nxt_buf == NULL)
		return;
	r->ans = r->nxt;
	r->ans_buf = r->nxt_buf;
	memset(&r->nxt, 0, sizeof(r->nxt));
	r->nxt_buf = NULL;
}

/* Both answers go (the database refused one): what follows a dropped
 * answer must not be adopted. */
static void
repl_answers_drop(struct repl *r)
{
	repl_answer_drop(r);
	replmsg_fini(&r->nxt);
	free(r->nxt_buf);
	r->nxt_buf = NULL;
	r->gen++;
}

void
repl_free(struct repl *r)
{
	if (r == NULL)
		return;
	repl_answers_drop(r);
	free(r->peers);
	free(r);
}

const struct repl_stats *
repl_stats(const struct repl *r)
{
	return &r->st;
}

bool
repl_busy(const struct repl *r)
{
	return r->in_flight || r->ans_buf != NULL || r->nxt_buf != NULL;
}

/* --- broadcast ---------------------------------------------------------- */

/* FNV-1a of a datagram without its ttl byte: the same broadcast relayed
 * at another hop hashes the same. */
static uint64_t
repl_hash(const uint8_t *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < len; i++)
		if (i != 3)
			h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static bool
repl_recent(struct repl *r, uint64_t h)
{
	size_t i;

	for (i = 0; i < REPL_RECENT; i++)
		if (r->recent[i] == h)
			return true;
	r->recent[r->recent_next] = h;
	r->recent_next = (r->recent_next + 1) % REPL_RECENT;
	return false;
}

/* Sends pkt to `fanout` random live peers other than `except`. */
static void
repl_fanout(struct repl *r, const uint8_t *pkt, size_t len,
    const struct swimmsg_addr *except)
{
	size_t n = r->io.peers(r->io.arg, r->peers, REPL_PEERS_MAX), i, j, sent;
	struct repl_peer tmp;

	if (n > REPL_PEERS_MAX)
		n = REPL_PEERS_MAX;
	r->last_peers = n;
	/* a partial Fisher-Yates shuffle picks the targets */
	for (i = 0, sent = 0; i < n && sent < r->cfg.fanout; i++) {
		j = i + (size_t)(repl_rand(r) % (n - i));
		tmp = r->peers[i];
		r->peers[i] = r->peers[j];
		r->peers[j] = tmp;
		if (except != NULL && swimmsg_addr_eq(&r->peers[i].addr, except))
			continue;
		r->io.send(r->io.arg, &r->peers[i].addr, pkt, len);
		r->st.tx_packets++;
		r->st.tx_bytes += len;
		sent++;
	}
}

/* Do changes a and b write the same row (table and key) in one version? */
static bool
repl_same_row(const struct replmsg_change *a, const struct replmsg_change *b)
{
	if (a->version != b->version || a->actor != b->actor ||
	    strcmp(a->tbl, b->tbl) != 0 || a->pk.type != b->pk.type)
		return false;
	if (a->pk.p != NULL || b->pk.p != NULL)
		return a->pk.len == b->pk.len && (a->pk.len == 0 ||
		    memcmp(a->pk.p, b->pk.p, a->pk.len) == 0);
	return a->pk.i == b->pk.i && a->pk.r == b->pk.r;
}

/* One past the last change of the row changes[i] writes (a row's changes
 * are consecutive: capture stamps them together). Parts of a version go
 * out, and batches of an answer are applied, in whole rows, so a reader
 * never sees a row half-written (a claim without its group, say). */
static uint32_t
repl_row_end(const struct replmsg *m, uint32_t i)
{
	uint32_t j = i + 1;

	while (j < m->nchanges && repl_same_row(&m->changes[i], &m->changes[j]))
		j++;
	return j;
}

/* The encoded size of changes [i, end). */
static size_t
repl_row_size(const struct replmsg *m, uint32_t i, uint32_t end)
{
	size_t n = 0;

	for (; i < end; i++)
		n += replmsg_change_size(&m->changes[i]);
	return n;
}

/* Broadcasts one captured version: whole in one datagram (complete), or
 * in a few partial ones of whole rows, or not at all when it is large
 * (sync carries it). */
static void
repl_broadcast(struct repl *r, struct repldb_set *set)
{
	struct replmsg part;
	uint8_t *pkt;
	size_t cap = r->cfg.max_packet, base, size, rs, npk = 0;
	uint32_t i, start;
	int n;

	if (set->msg.nchanges == 0)
		return;
	set->msg.ttl = (uint8_t)r->cfg.ttl;
	if ((pkt = malloc(cap > REPL_ROW_DGRAM_MAX ? cap : REPL_ROW_DGRAM_MAX)) == NULL)
		return;
	if ((n = replmsg_encode(&set->msg, pkt, cap)) > 0) {
		repl_recent(r, repl_hash(pkt, (size_t)n));
		repl_fanout(r, pkt, (size_t)n, NULL);
		r->st.broadcasts++;
		free(pkt);
		return;
	}
	/* too large for one: how many datagrams would it take? Rows go
	 * whole; a row larger than a datagram goes alone in a larger one (IP
	 * fragments it), up to REPL_ROW_DGRAM_MAX */
	part = set->msg;
	part.flags = 0;
	part.nchanges = 0;
	part.changes = NULL;
	base = replmsg_size(&part);
	size = base;
	for (i = 0; i < set->msg.nchanges; ) {
		uint32_t end = repl_row_end(&set->msg, i);

		rs = repl_row_size(&set->msg, i, end);
		if (base + rs > REPL_ROW_DGRAM_MAX) {
			npk = r->cfg.broadcast_packets + 1;     /* sync carries it */
			break;
		}
		if (size > base && size + rs > cap) {
			npk++;
			size = base;
		}
		size += rs;
		i = end;
	}
	npk++;
	if (npk > r->cfg.broadcast_packets || base >= cap) {
		r->st.versions_big++;
		free(pkt);
		return;
	}
	for (start = 0; start < set->msg.nchanges; start = i) {
		size = base;
		for (i = start; i < set->msg.nchanges; ) {
			uint32_t end = repl_row_end(&set->msg, i);

			rs = repl_row_size(&set->msg, i, end);
			if (i > start && size + rs > cap)
				break;
			size += rs;
			i = end;
			if (size > cap)
				break;          /* a large row, alone */
		}
		part.changes = set->msg.changes + start;
		part.nchanges = i - start;
		if ((n = replmsg_encode(&part, pkt, size > cap ? size : cap)) > 0) {
			repl_recent(r, repl_hash(pkt, (size_t)n));
			repl_fanout(r, pkt, (size_t)n, NULL);
		}
	}
	r->st.broadcasts++;
	free(pkt);
}

int
repl_local(struct repl *r, uint64_t now, uint64_t wall_ms)
{
	struct repldb_set set;
	int left;

	left = repldb_capture(r->db, wall_ms, &set);
	if (left < 0)
		return left;
	r->capture_left = left > 0;
	if (set.msg.nchanges > 0) {
		repl_broadcast(r, &set);
		if (r->io.changed != NULL)
			r->io.changed(r->io.arg);
	}
	repldb_set_fini(&set);
	return 0;
}

/* Applies a slice of a peer's changes, capturing local writes first when
 * some are waiting. */
static int
repl_apply(struct repl *r, const struct replmsg *m, uint32_t from, uint32_t n,
    uint64_t now, uint64_t wall_ms)
{
	int rc, tries;

	for (tries = 0; tries < 4; tries++) {
		rc = repldb_apply(r->db, m, from, n, wall_ms);
		if (rc != -EAGAIN)
			return rc;
		if ((rc = repl_local(r, now, wall_ms)) != 0)
			return rc;
	}
	return -EAGAIN;
}

static void repl_send_heads(struct repl *r, uint64_t now,
    const struct swimmsg_addr *to);

/* A peer's heads: if it has seen more of some actor than we have, pull
 * from it now; if we have seen more than it, tell it ours at once so it
 * pulls (a lagging node learns it on its own next heads, not whenever
 * someone happens to pick it). */
static void
repl_on_heads(struct repl *r, uint64_t now, const struct swimmsg_addr *from,
    const struct replmsg *m)
{
	bool ahead = false;
	uint64_t mine;
	uint32_t i;

	for (i = 0; i < m->nheads; i++) {
		const char *actor = m->actors[m->heads[i].actor];

		mine = repldb_contig(r->db, actor);
		if (m->heads[i].version < mine)
			ahead = true;
		if (m->heads[i].version <= mine ||
		    strcmp(actor, repldb_actor(r->db)) == 0)
			continue;
		r->st.heads_behind++;
		if (!r->in_flight && r->ans_buf == NULL) {
			r->target = *from;
			r->have_target = true;
			r->next_sync = now;
		}
		return;
	}
	if (ahead && now >= r->heads_reply_at) {
		r->heads_reply_at = now + REPL_HEADS_REPLY_US;
		repl_send_heads(r, now, from);
	}
}

/* Tells `to` (NULL: one random peer) our heads (a window of them when
 * there are many). */
static void
repl_send_heads(struct repl *r, uint64_t now, const struct swimmsg_addr *to)
{
	struct replmsg m;
	size_t n, i, count = repldb_actor_count(r->db), k;
	uint8_t pkt[SWIMMSG_PACKET_MAX];
	uint64_t contig;
	const char *id;
	int len, ai;

	if (to == NULL) {
		r->next_heads = now + (uint64_t)r->cfg.heads_interval_ms * 500u +
		    repl_rand(r) % ((uint64_t)r->cfg.heads_interval_ms * 1000u + 1);
		n = r->io.peers(r->io.arg, r->peers, REPL_PEERS_MAX);
		if (n > REPL_PEERS_MAX)
			n = REPL_PEERS_MAX;
		r->last_peers = n;
		if (n == 0)
			return;
		to = &r->peers[repl_rand(r) % n].addr;
	}
	if (count == 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = REPLMSG_HEADS;
	if ((m.heads = calloc(count, sizeof(*m.heads))) == NULL)
		return;
	for (k = 0; k < count; k++) {
		i = (r->heads_from + k) % count;
		id = repldb_actor_at(r->db, i, &contig);
		if (id == NULL || contig == 0)
			continue;
		/* 16-byte ids: 27 bytes an actor; stop before the datagram fills */
		if (replmsg_size(&m) + 1 + strlen(id) + 10 > r->cfg.max_packet)
			break;
		if ((ai = replmsg_actor_index(&m, id)) < 0)
			break;
		m.heads[m.nheads].actor = (uint16_t)ai;
		m.heads[m.nheads].version = contig;
		m.nheads++;
	}
	r->heads_from = (r->heads_from + k) % count;
	if (m.nheads > 0 && (len = replmsg_encode(&m, pkt, sizeof(pkt))) > 0 &&
	    (size_t)len <= r->cfg.max_packet) {
		r->io.send(r->io.arg, to, pkt, (size_t)len);
		r->st.tx_packets++;
		r->st.tx_bytes += (size_t)len;
		r->st.heads_tx++;
	}
	replmsg_fini(&m);
}

int
repl_recv(struct repl *r, uint64_t now, uint64_t wall_ms,
    const struct swimmsg_addr *from, const void *pkt, size_t len)
{
	struct replmsg m;
	const char *actor;
	uint64_t version;
	uint8_t *copy;
	int rc;

	r->st.rx_packets++;
	r->st.rx_bytes += len;
	if (replmsg_decode(&m, pkt, len) == 0 && m.type == REPLMSG_HEADS) {
		repl_on_heads(r, now, from, &m);
		replmsg_fini(&m);
		return 0;
	}
	if (m.type != REPLMSG_CHANGES || m.nheads < 1) {
		if (m.type != 0)
			replmsg_fini(&m);
		r->st.rx_malformed++;
		return -EINVAL;
	}
	actor = m.actors[m.heads[0].actor];
	version = m.heads[0].version;
	if (strcmp(actor, repldb_actor(r->db)) == 0 ||
	    repldb_seen(r->db, actor, version) ||
	    repl_recent(r, repl_hash(pkt, len))) {
		r->st.rx_duplicate++;
		replmsg_fini(&m);
		return 0;
	}
	if (version > repldb_contig(r->db, actor) + 1) {
		/* a gap: some version before this one went missing */
		r->st.gaps++;
		if (r->next_sync > now + REPL_GAP_DELAY_US)
			r->next_sync = now + REPL_GAP_DELAY_US;
	}
	rc = repl_apply(r, &m, 0, m.nchanges, now, wall_ms);
	if (rc >= 0 && (m.flags & REPLMSG_F_COMPLETE))
		repldb_mark(r->db, actor, version);
	if (rc > 0 && r->io.changed != NULL)
		r->io.changed(r->io.arg);
	/* pass it on */
	if (rc >= 0 && m.ttl > 0 && (copy = malloc(len)) != NULL) {
		memcpy(copy, pkt, len);
		copy[3] = (uint8_t)(m.ttl - 1);
		repl_fanout(r, copy, len, from);
		free(copy);
	}
	replmsg_fini(&m);
	return rc < 0 ? rc : 0;
}

/* --- sync --------------------------------------------------------------- */

int
repl_serve(struct repl *r, const void *req, size_t len, uint8_t **out,
    size_t *outlen)
{
	struct repldb_set set;
	struct replmsg m;
	size_t size;
	uint8_t *buf;
	int rc;

	if (replmsg_decode(&m, req, len) != 0 || m.type != REPLMSG_SYNC_REQ) {
		if (m.type != 0)
			replmsg_fini(&m);
		r->st.rx_malformed++;
		return -EINVAL;
	}
	rc = repldb_sync_answer(r->db, &m, r->cfg.budget, &set);
	replmsg_fini(&m);
	if (rc != 0)
		return rc;
	if ((size = replmsg_size(&set.msg)) == 0 || (buf = malloc(size)) == NULL) {
		repldb_set_fini(&set);
		return -ENOMEM;
	}
	rc = replmsg_encode(&set.msg, buf, size);
	repldb_set_fini(&set);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	r->st.served++;
	r->st.sync_tx_bytes += (size_t)rc;
	*out = buf;
	*outlen = (size_t)rc;
	return 0;
}

static uint64_t
repl_interval(struct repl *r)
{
	uint64_t base = (uint64_t)r->cfg.sync_interval_ms * 1000u;

	/* 0.5x .. 1.5x: pulls of many nodes do not line up */
	return base / 2 + repl_rand(r) % (base + 1);
}

static void
repl_pull(struct repl *r, uint64_t now)
{
	struct replmsg req;
	size_t n, size;
	uint8_t *buf;
	int len;

	if (r->io.sync == NULL || r->in_flight || r->nxt_buf != NULL)
		return;
	/* pipelined behind an answer being applied: only when it said MORE,
	 * from the same peer */
	if (r->ans_buf != NULL && !((r->ans.flags & REPLMSG_F_MORE) &&
	    r->have_target))
		return;
	n = r->io.peers(r->io.arg, r->peers, REPL_PEERS_MAX);
	if (n > REPL_PEERS_MAX)
		n = REPL_PEERS_MAX;
	r->last_peers = n;
	r->next_sync = now + repl_interval(r);
	if (n == 0)
		return;
	if (repldb_sync_request(r->db, &req) != 0)
		return;
	/* what the answer being applied brings counts as seen already */
	if (r->ans_buf != NULL) {
		uint32_t i, k;

		for (i = 0; i < r->ans.nheads; i++) {
			const char *a = r->ans.actors[r->ans.heads[i].actor];

			for (k = 0; k < req.nheads; k++)
				if (strcmp(req.actors[req.heads[k].actor], a) == 0 &&
				    req.heads[k].version < r->ans.heads[i].version)
					req.heads[k].version = r->ans.heads[i].version;
		}
	}
	size = replmsg_size(&req);
	if (size == 0 || (buf = malloc(size)) == NULL) {
		replmsg_fini(&req);
		return;
	}
	len = replmsg_encode(&req, buf, size);
	replmsg_fini(&req);
	if (len > 0) {
		r->sync_to = r->have_target ? r->target :
		    r->peers[repl_rand(r) % n].addr;
		r->have_target = false;
		r->in_flight = true;
		r->pull_gen = r->gen;
		r->sync_deadline = now + (uint64_t)r->cfg.sync_timeout_ms * 1000u;
		r->st.syncs++;
		r->st.sync_tx_bytes += (size_t)len;
		r->io.sync(r->io.arg, &r->sync_to, buf, (size_t)len);
	}
	free(buf);
}

int
repl_sync_done(struct repl *r, uint64_t now, uint8_t *buf, size_t len)
{
	struct replmsg m;

	r->in_flight = false;
	r->st.sync_rx_bytes += len;
	if (r->pull_gen != r->gen) {
		free(buf);              /* asked before an answer was dropped */
		return 0;
	}
	if (replmsg_decode(&m, buf, len) != 0 || m.type != REPLMSG_SYNC_RESP) {
		if (m.type != 0)
			replmsg_fini(&m);
		free(buf);
		r->st.sync_failures++;
		r->st.rx_malformed++;
		return -EINVAL;
	}
	if (r->ans_buf == NULL) {
		r->ans = m;
		r->ans_buf = buf;
		r->ans_next = 0;
	} else {
		replmsg_fini(&r->nxt);
		free(r->nxt_buf);
		r->nxt = m;
		r->nxt_buf = buf;
	}
	/* more to come from that peer: ask for it while this is applied */
	if (m.flags & REPLMSG_F_MORE) {
		r->target = r->sync_to;
		r->have_target = true;
		r->next_sync = now;
	}
	return 0;
}

void
repl_sync_failed(struct repl *r, uint64_t now)
{
	r->in_flight = false;
	r->st.sync_failures++;
}

/* Applies the next batch of the answer; adopts its heads when done. */
static void
repl_apply_batch(struct repl *r, uint64_t now, uint64_t wall_ms)
{
	uint32_t n = r->ans.nchanges - r->ans_next, i;
	bool more;
	int rc;

	if (n > r->cfg.batch) {
		n = r->cfg.batch;
		/* ... in whole rows */
		n = repl_row_end(&r->ans, r->ans_next + n - 1) - r->ans_next;
	}
	if (n > 0) {
		rc = repl_apply(r, &r->ans, r->ans_next, n, now, wall_ms);
		if (rc < 0) {
			/* the database refused: drop the answers, pull later */
			r->st.sync_failures++;
			repl_answers_drop(r);
			return;
		}
		r->ans_next += n;
		if (rc > 0 && r->io.changed != NULL)
			r->io.changed(r->io.arg);
	}
	if (r->ans_next < r->ans.nchanges)
		return;
	for (i = 0; i < r->ans.nheads; i++)
		repldb_adopt(r->db, r->ans.actors[r->ans.heads[i].actor],
		    r->ans.heads[i].version);
	more = (r->ans.flags & REPLMSG_F_MORE) != 0;
	repl_answer_next(r);
	r->st.last_sync_ms = wall_ms;
	if (more && r->ans_buf == NULL && !r->in_flight)
		r->next_sync = now;
}

void
repl_tick(struct repl *r, uint64_t now, uint64_t wall_ms)
{
	size_t n;

	if (r->in_flight && now >= r->sync_deadline) {
		r->in_flight = false;
		r->st.sync_failures++;
	}
	if (r->ans_buf != NULL)
		repl_apply_batch(r, now, wall_ms);
	if (r->capture_left)
		repl_local(r, now, wall_ms);
	/* a peer appeared after a time alone (a join): pull at once */
	if (!r->in_flight && r->ans_buf == NULL && r->last_peers == 0) {
		n = r->io.peers(r->io.arg, r->peers, REPL_PEERS_MAX);
		if (n > 0)
			r->next_sync = now;
		r->last_peers = n;
	}
	if (now >= r->next_sync)
		repl_pull(r, now);
	if (r->cfg.heads_interval_ms > 0 && now >= r->next_heads)
		repl_send_heads(r, now, NULL);
}

uint64_t
repl_next_deadline(const struct repl *r)
{
	if (r->ans_buf != NULL || r->capture_left)
		return 0;
	uint64_t d;

	/* one pull at a time: while it is out, only its timeout is due */
	d = r->in_flight ? r->sync_deadline : r->next_sync;
	if (r->cfg.heads_interval_ms > 0 && r->next_heads < d)
		d = r->next_heads;
	return d;
}
