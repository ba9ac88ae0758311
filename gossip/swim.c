#include "swim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SWIM_RELAY_MAX          64      /* ping-reqs served at once */
#define SWIM_CONFIRM_MAX        16      /* k is capped to this - 1 */
#define SWIM_MS                 1000ULL /* microseconds per millisecond */

enum swim_phase { SWIM_PROBE_IDLE = 0, SWIM_PROBE_DIRECT, SWIM_PROBE_INDIRECT };

/* A queued update: one per member, the newest replaces the older. */
struct swim_bcast {
	struct swim_node *node;
	uint64_t id;                    /* enqueue order: newer first */
	unsigned transmits;
	size_t len;
	uint8_t data[];                 /* one encoded message */
};

struct swim_node {
	char name[SWIMMSG_NAME_MAX + 1];
	char region[SWIMMSG_REGION_MAX + 1];
	struct swimmsg_addr addr;
	uint64_t inc;
	enum swim_state state;
	uint8_t *meta;
	uint16_t meta_len;
	uint64_t hash;
	uint64_t changed;               /* when the state last changed */
	size_t idx;                     /* in swim.nodes */
	size_t sidx;                    /* in swim.suspects, SIZE_MAX if none */
	struct swim_node *hnext;
	struct swim_bcast *bcast;
	/* suspicion (state SUSPECT) */
	uint64_t s_start, s_min, s_max, s_deadline;
	unsigned s_k, s_n;
	uint64_t s_confirm[SWIM_CONFIRM_MAX];   /* [0] = first accuser */
};

/* A ping we send for another member's ping-req. */
struct swim_relay {
	bool used;
	uint32_t seq, req_seq;
	struct swimmsg_addr req_addr;
	uint64_t t_nack;                /* 0 = no nack wanted or already sent */
	uint64_t expire;
};

struct swim_probe {
	struct swim_node *node;
	enum swim_phase phase;
	uint32_t seq;
	uint64_t t_direct, t_end;
	unsigned nacks_expected, nacks;
};

struct swim {
	struct swim_config cfg;
	struct swim_io io;
	uint64_t now;
	uint64_t rng;
	struct swim_node self;
	bool leaving;

	struct swim_node **nodes;       /* everyone but us, probe order */
	size_t n_nodes, cap_nodes;
	struct swim_node **buckets;     /* name hash -> chain */
	size_t n_buckets;
	struct swim_node **suspects;
	size_t n_suspects, cap_suspects;
	size_t n_live;                  /* alive + suspect */
	size_t n_dead;                  /* dead, not left */

	struct swim_bcast **queue;
	size_t q_len, q_cap;
	uint64_t q_id;
	bool q_sorted;

	size_t probe_idx;
	struct swim_probe probe;
	struct swim_relay relays[SWIM_RELAY_MAX];
	uint32_t seq;
	unsigned health;

	uint64_t next_probe, next_gossip, next_pushpull, next_reconnect;
	struct swim_stats stats;
	uint8_t pkt[SWIMMSG_PACKET_MAX];
};

/* --- defaults ----------------------------------------------------------- */

void
swim_config_lan(struct swim_config *c)
{
	memset(c, 0, sizeof(*c));
	c->probe_interval_ms = 1000;
	c->probe_timeout_ms = 500;
	c->indirect_checks = 3;
	c->suspicion_mult = 4;
	c->suspicion_max_mult = 6;
	c->gossip_interval_ms = 200;
	c->gossip_nodes = 3;
	c->retransmit_mult = 4;
	c->pushpull_interval_ms = 30000;
	c->gossip_to_dead_ms = 30000;
	c->awareness_max = 8;
	c->reconnect_interval_ms = 5000;
	c->reconnect_timeout_ms = 24 * 3600 * 1000;
	c->dead_keep_ms = 3600 * 1000;
	c->max_packet = SWIMMSG_PACKET_MAX - 64;        /* room for the seal */
	c->lifeguard = true;
}

void
swim_config_wan(struct swim_config *c)
{
	swim_config_lan(c);
	c->probe_interval_ms = 5000;
	c->probe_timeout_ms = 3000;
	c->suspicion_mult = 6;
	c->gossip_interval_ms = 500;
	c->gossip_nodes = 4;
	c->pushpull_interval_ms = 60000;
	c->gossip_to_dead_ms = 60000;
	c->reconnect_interval_ms = 30000;
}

/* --- small helpers ------------------------------------------------------ */

static uint64_t
swim_rand(struct swim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t
swim_rand_below(struct swim *s, size_t n)
{
	return n ? (size_t)(swim_rand(s) % n) : 0;
}

static uint64_t
swim_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*name) {
		h ^= (uint8_t)*name++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
swim_ms(unsigned ms)
{
	return (uint64_t)ms * SWIM_MS;
}

/* A probe interval or timeout scaled by the local health score. */
static uint64_t
swim_scale(const struct swim *s, unsigned ms)
{
	return swim_ms(ms) * (s->cfg.lifeguard ? s->health + 1 : 1);
}

static void
swim_health_add(struct swim *s, int delta)
{
	int h = (int)s->health + delta;

	if (!s->cfg.lifeguard)
		return;
	if (h < 0)
		h = 0;
	if (h > (int)s->cfg.awareness_max - 1)
		h = (int)s->cfg.awareness_max - 1;
	s->health = (unsigned)h;
}

/* Estimated cluster size: members alive or suspect, plus us. */
static size_t
swim_est(const struct swim *s)
{
	return s->n_live + 1;
}

static unsigned
swim_retransmit_limit(const struct swim *s)
{
	double n = (double)swim_est(s);

	return s->cfg.retransmit_mult * (unsigned)ceil(log10(n + 1.0));
}

static bool
swim_is_self(const struct swim *s, const char *name)
{
	return strcmp(name, s->self.name) == 0;
}

static void
swim_view(const struct swim_node *n, struct swim_member *m)
{
	m->name = n->name;
	m->region = n->region;
	m->addr = n->addr;
	m->incarnation = n->inc;
	m->state = n->state;
	m->meta = n->meta;
	m->meta_len = n->meta_len;
}

static void
swim_emit(struct swim *s, enum swim_event ev, const struct swim_node *n)
{
	struct swim_member m;

	if (s->io.event == NULL)
		return;
	swim_view(n, &m);
	s->io.event(s->io.arg, ev, &m);
}

/* --- member table ------------------------------------------------------- */

static struct swim_node *
swim_lookup(const struct swim *s, const char *name)
{
	uint64_t h = swim_hash(name);
	struct swim_node *n;

	if (s->n_buckets == 0)
		return NULL;
	for (n = s->buckets[h & (s->n_buckets - 1)]; n != NULL; n = n->hnext)
		if (n->hash == h && strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

static int
swim_rehash(struct swim *s, size_t want)
{
	struct swim_node **nb;
	size_t nbk = s->n_buckets ? s->n_buckets : 16, i;

	while (nbk < want * 2)
		nbk *= 2;
	if (nbk == s->n_buckets)
		return 0;
	if ((nb = calloc(nbk, sizeof(*nb))) == NULL)
		return -ENOMEM;
	for (i = 0; i < s->n_nodes; i++) {
		struct swim_node *n = s->nodes[i];

		n->hnext = nb[n->hash & (nbk - 1)];
		nb[n->hash & (nbk - 1)] = n;
	}
	free(s->buckets);
	s->buckets = nb;
	s->n_buckets = nbk;
	return 0;
}

static int
swim_set_meta_bytes(struct swim_node *n, const void *meta, size_t len)
{
	uint8_t *p = NULL;

	if (len > SWIMMSG_META_MAX)
		return -EINVAL;
	if (len && (p = malloc(len)) == NULL)
		return -ENOMEM;
	if (len)
		memcpy(p, meta, len);
	free(n->meta);
	n->meta = p;
	n->meta_len = (uint16_t)len;
	return 0;
}

static void
swim_suspect_remove(struct swim *s, struct swim_node *n)
{
	size_t i = n->sidx;

	if (i == SIZE_MAX)
		return;
	s->suspects[i] = s->suspects[--s->n_suspects];
	s->suspects[i]->sidx = i;
	n->sidx = SIZE_MAX;
}

/* Room is reserved by swim_node_add (cap_suspects >= cap_nodes). */
static void
swim_suspect_add(struct swim *s, struct swim_node *n)
{
	n->sidx = s->n_suspects;
	s->suspects[s->n_suspects++] = n;
}

static void
swim_set_state(struct swim *s, struct swim_node *n, enum swim_state st)
{
	if (n->state == SWIM_ALIVE || n->state == SWIM_SUSPECT)
		s->n_live--;
	else if (n->state == SWIM_DEAD)
		s->n_dead--;
	if (n->state == SWIM_SUSPECT)
		swim_suspect_remove(s, n);
	n->state = st;
	n->changed = s->now;
	if (st == SWIM_ALIVE || st == SWIM_SUSPECT)
		s->n_live++;
	else if (st == SWIM_DEAD)
		s->n_dead++;
}

static void
swim_bcast_drop(struct swim *s, struct swim_node *n)
{
	size_t i;

	if (n->bcast == NULL)
		return;
	for (i = 0; i < s->q_len; i++)
		if (s->queue[i] == n->bcast) {
			s->queue[i] = s->queue[--s->q_len];
			s->q_sorted = false;
			break;
		}
	free(n->bcast);
	n->bcast = NULL;
}

/* Adds an alive member from an ALIVE or STATE message. */
static struct swim_node *
swim_node_add(struct swim *s, const struct swimmsg *m)
{
	struct swim_node *n;
	size_t j;

	if (s->n_nodes == s->cap_nodes) {
		size_t nc = s->cap_nodes ? s->cap_nodes * 2 : 16;
		struct swim_node **nn = realloc(s->nodes, nc * sizeof(*nn));

		if (nn == NULL)
			return NULL;
		s->nodes = nn;
		s->cap_nodes = nc;
	}
	if (s->cap_suspects < s->cap_nodes) {
		struct swim_node **ns = realloc(s->suspects,
		    s->cap_nodes * sizeof(*ns));

		if (ns == NULL)
			return NULL;
		s->suspects = ns;
		s->cap_suspects = s->cap_nodes;
	}
	if (swim_rehash(s, s->n_nodes + 1) != 0)
		return NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	if (swim_set_meta_bytes(n, m->meta, m->meta_len) != 0) {
		free(n);
		return NULL;
	}
	memcpy(n->name, m->name, sizeof(n->name));
	memcpy(n->region, m->region, sizeof(n->region));
	n->addr = m->addr;
	n->inc = m->incarnation;
	n->state = SWIM_ALIVE;
	n->changed = s->now;
	n->hash = swim_hash(n->name);
	n->sidx = SIZE_MAX;
	n->hnext = s->buckets[n->hash & (s->n_buckets - 1)];
	s->buckets[n->hash & (s->n_buckets - 1)] = n;
	s->n_live++;
	/* a random place in the probe order (memberlist does the same) */
	j = swim_rand_below(s, s->n_nodes + 1);
	if (j < s->n_nodes) {
		s->nodes[s->n_nodes] = s->nodes[j];
		s->nodes[s->n_nodes]->idx = s->n_nodes;
	}
	s->nodes[j] = n;
	n->idx = j;
	s->n_nodes++;
	return n;
}

static void
swim_node_free(struct swim *s, struct swim_node *n)
{
	struct swim_node **pp = &s->buckets[n->hash & (s->n_buckets - 1)];
	size_t i = n->idx;

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	s->nodes[i] = s->nodes[--s->n_nodes];
	s->nodes[i]->idx = i;
	swim_set_state(s, n, SWIM_LEFT);
	swim_bcast_drop(s, n);
	if (s->probe.node == n) {
		s->probe.node = NULL;
		s->probe.phase = SWIM_PROBE_IDLE;
	}
	free(n->meta);
	free(n);
}

/* --- dissemination queue ------------------------------------------------ */

static void
swim_enqueue(struct swim *s, struct swim_node *n, const struct swimmsg *m)
{
	struct swim_bcast *b;
	int len;

	if (s->q_len == s->q_cap && n->bcast == NULL) {
		size_t nc = s->q_cap ? s->q_cap * 2 : 16;
		struct swim_bcast **nq = realloc(s->queue, nc * sizeof(*nq));

		if (nq == NULL)
			return;
		s->queue = nq;
		s->q_cap = nc;
	}
	if ((b = malloc(sizeof(*b) + swimmsg_size(m))) == NULL)
		return;
	if ((len = swimmsg_encode(b->data, swimmsg_size(m), m)) < 0) {
		free(b);
		return;
	}
	b->node = n;
	b->id = ++s->q_id;
	b->transmits = 0;
	b->len = (size_t)len;
	swim_bcast_drop(s, n);
	n->bcast = b;
	s->queue[s->q_len++] = b;
	s->q_sorted = false;
}

static int
swim_bcast_cmp(const void *pa, const void *pb)
{
	const struct swim_bcast *a = *(const struct swim_bcast *const *)pa;
	const struct swim_bcast *b = *(const struct swim_bcast *const *)pb;

	if (a->transmits != b->transmits)
		return a->transmits < b->transmits ? -1 : 1;
	return a->id > b->id ? -1 : a->id < b->id;
}

/* Piggybacks queued updates, least sent and newest first, into the room
 * left in w; drops the ones sent often enough. */
static void
swim_fill(struct swim *s, struct swimmsg_writer *w)
{
	unsigned limit;
	size_t i, j;
	bool sent = false;

	if (s->q_len == 0)
		return;
	if (!s->q_sorted) {
		qsort(s->queue, s->q_len, sizeof(*s->queue), swim_bcast_cmp);
		s->q_sorted = true;
	}
	for (i = 0; i < s->q_len; i++) {
		struct swim_bcast *b = s->queue[i];

		if (w->cap - w->len < SWIMMSG_HDR_LEN + 8)
			break;
		if (swimmsg_put_raw(w, b->data, b->len) != 0)
			continue;
		b->transmits++;
		sent = true;
	}
	if (!sent)
		return;
	s->q_sorted = false;
	limit = swim_retransmit_limit(s);
	for (i = j = 0; i < s->q_len; i++) {
		struct swim_bcast *b = s->queue[i];

		if (b->transmits >= limit) {
			b->node->bcast = NULL;
			free(b);
		} else
			s->queue[j++] = b;
	}
	s->q_len = j;
}

/* --- sending ------------------------------------------------------------ */

static void
swim_send(struct swim *s, const struct swimmsg_addr *to,
    const struct swimmsg *m, const struct swimmsg *m2)
{
	struct swimmsg_writer w;

	swimmsg_writer_init(&w, s->pkt, s->cfg.max_packet);
	if (m != NULL && swimmsg_put(&w, m) != 0)
		return;
	if (m2 != NULL)
		(void)swimmsg_put(&w, m2);
	swim_fill(s, &w);
	if (w.len <= 1)
		return;
	s->stats.tx_packets++;
	s->stats.tx_bytes += w.len;
	s->io.send(s->io.arg, to, w.p, w.len);
}

static void
swim_msg_alive(const struct swim_node *n, struct swimmsg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = SWIMMSG_ALIVE;
	m->incarnation = n->inc;
	memcpy(m->name, n->name, sizeof(m->name));
	memcpy(m->region, n->region, sizeof(m->region));
	m->addr = n->addr;
	m->meta = n->meta;
	m->meta_len = n->meta_len;
}

static void
swim_msg_accuse(struct swimmsg *m, uint8_t type, uint64_t inc,
    const char *name, const char *from)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->incarnation = inc;
	memcpy(m->name, name, strnlen(name, SWIMMSG_NAME_MAX));
	memcpy(m->from, from, strnlen(from, SWIMMSG_NAME_MAX));
}

/* --- state changes ------------------------------------------------------ */

static void
swim_refute(struct swim *s, uint64_t accused)
{
	struct swimmsg m;
	uint64_t inc = s->self.inc + 1;

	if (accused >= inc)
		inc = accused + 1;
	s->self.inc = inc;
	s->stats.refutes++;
	swim_health_add(s, 1);
	swim_msg_alive(&s->self, &m);
	swim_enqueue(s, &s->self, &m);
}

static bool
swim_differs(const struct swim_node *n, const struct swimmsg *m)
{
	return strcmp(n->region, m->region) != 0 ||
	    !swimmsg_addr_eq(&n->addr, &m->addr) || n->meta_len != m->meta_len ||
	    (m->meta_len && memcmp(n->meta, m->meta, m->meta_len) != 0);
}

static void
swim_on_alive(struct swim *s, const struct swimmsg *m)
{
	struct swim_node *n;
	struct swimmsg out;
	enum swim_state old;
	bool changed;

	if (swim_is_self(s, m->name)) {
		if (s->leaving)
			return;
		if (m->incarnation > s->self.inc ||
		    (m->incarnation == s->self.inc && swim_differs(&s->self, m)))
			swim_refute(s, m->incarnation);
		return;
	}
	if ((n = swim_lookup(s, m->name)) == NULL) {
		if ((n = swim_node_add(s, m)) == NULL)
			return;
		swim_msg_alive(n, &out);
		swim_enqueue(s, n, &out);
		swim_emit(s, SWIM_EV_JOIN, n);
		return;
	}
	if (m->incarnation <= n->inc)
		return;
	old = n->state;
	changed = swim_differs(n, m);
	if (changed) {
		if (swim_set_meta_bytes(n, m->meta, m->meta_len) != 0)
			return;
		memcpy(n->region, m->region, sizeof(n->region));
		n->addr = m->addr;
	}
	n->inc = m->incarnation;
	if (old != SWIM_ALIVE)
		swim_set_state(s, n, SWIM_ALIVE);
	swim_msg_alive(n, &out);
	swim_enqueue(s, n, &out);
	if (old == SWIM_DEAD || old == SWIM_LEFT) {
		swim_emit(s, SWIM_EV_JOIN, n);
		return;
	}
	if (old == SWIM_SUSPECT)
		swim_emit(s, SWIM_EV_ALIVE, n);
	if (changed)
		swim_emit(s, SWIM_EV_META, n);
}

/* Suspicion timeout after c confirmations (memberlist's formula). */
static void
swim_suspicion_deadline(struct swim_node *n)
{
	double frac, raw;

	if (n->s_k == 0) {
		n->s_deadline = n->s_start + n->s_min;
		return;
	}
	frac = log((double)n->s_n + 1.0) / log((double)n->s_k + 1.0);
	raw = (double)n->s_max - frac * (double)(n->s_max - n->s_min);
	raw = floor(raw / (double)SWIM_MS) * (double)SWIM_MS;
	if (raw < (double)n->s_min)
		raw = (double)n->s_min;
	n->s_deadline = n->s_start + (uint64_t)raw;
}

static void
swim_suspicion_start(struct swim *s, struct swim_node *n, const char *from)
{
	double est = (double)swim_est(s);
	double scale = fmax(1.0, log10(fmax(1.0, est)));
	unsigned k = s->cfg.suspicion_mult > 2 ? s->cfg.suspicion_mult - 2 : 0;

	/* fewer members than expected confirmations: expect none */
	if (est - 2.0 < (double)k || !s->cfg.lifeguard)
		k = 0;
	if (k > SWIM_CONFIRM_MAX - 1)
		k = SWIM_CONFIRM_MAX - 1;
	n->s_start = s->now;
	n->s_min = (uint64_t)((double)s->cfg.suspicion_mult * scale *
	    (double)swim_ms(s->cfg.probe_interval_ms));
	n->s_max = s->cfg.lifeguard ?
	    n->s_min * s->cfg.suspicion_max_mult : n->s_min;
	n->s_k = k;
	n->s_n = 0;
	n->s_confirm[0] = swim_hash(from);
	swim_suspicion_deadline(n);
}

/* Counts an independent confirmation; true if it was new. */
static bool
swim_suspicion_confirm(struct swim_node *n, const char *from)
{
	uint64_t h = swim_hash(from);
	unsigned i;

	if (n->s_k == 0 || n->s_n >= n->s_k)
		return false;
	for (i = 0; i <= n->s_n; i++)
		if (n->s_confirm[i] == h)
			return false;
	n->s_confirm[++n->s_n] = h;
	swim_suspicion_deadline(n);
	return true;
}

static void
swim_on_suspect(struct swim *s, uint64_t inc, const char *name,
    const char *from)
{
	struct swim_node *n;
	struct swimmsg out;

	if (swim_is_self(s, name)) {
		if (!s->leaving && inc >= s->self.inc)
			swim_refute(s, inc);
		return;
	}
	if ((n = swim_lookup(s, name)) == NULL || inc < n->inc)
		return;
	if (n->state == SWIM_SUSPECT) {
		if (swim_suspicion_confirm(n, from)) {
			swim_msg_accuse(&out, SWIMMSG_SUSPECT, n->inc, name, from);
			swim_enqueue(s, n, &out);
		}
		return;
	}
	if (n->state != SWIM_ALIVE)
		return;
	n->inc = inc;
	swim_set_state(s, n, SWIM_SUSPECT);
	swim_suspect_add(s, n);
	swim_suspicion_start(s, n, from);
	s->stats.suspicions++;
	if (swim_is_self(s, from))
		s->stats.suspicions_raised++;
	swim_msg_accuse(&out, SWIMMSG_SUSPECT, inc, name, from);
	swim_enqueue(s, n, &out);
	swim_emit(s, SWIM_EV_SUSPECT, n);
}

static void
swim_on_dead(struct swim *s, uint64_t inc, const char *name, const char *from)
{
	struct swim_node *n;
	struct swimmsg out;

	if (swim_is_self(s, name)) {
		if (!s->leaving && inc >= s->self.inc)
			swim_refute(s, inc);
		return;
	}
	if ((n = swim_lookup(s, name)) == NULL || inc < n->inc ||
	    n->state == SWIM_DEAD || n->state == SWIM_LEFT)
		return;
	n->inc = inc;
	swim_set_state(s, n, SWIM_DEAD);
	swim_msg_accuse(&out, SWIMMSG_DEAD, inc, name, from);
	swim_enqueue(s, n, &out);
	swim_emit(s, SWIM_EV_DEAD, n);
}

static void
swim_on_leave(struct swim *s, uint64_t inc, const char *name)
{
	struct swim_node *n;
	struct swimmsg out;

	if (swim_is_self(s, name)) {
		/* our own leave from an earlier life, replayed */
		if (!s->leaving && inc >= s->self.inc)
			swim_refute(s, inc);
		return;
	}
	if ((n = swim_lookup(s, name)) == NULL || inc < n->inc ||
	    n->state == SWIM_LEFT)
		return;
	n->inc = inc;
	swim_set_state(s, n, SWIM_LEFT);
	memset(&out, 0, sizeof(out));
	out.type = SWIMMSG_LEAVE;
	out.incarnation = inc;
	memcpy(out.name, n->name, sizeof(out.name));
	swim_enqueue(s, n, &out);
	swim_emit(s, SWIM_EV_LEFT, n);
}

/* --- peer selection ----------------------------------------------------- */

enum swim_pick { SWIM_PICK_ALIVE, SWIM_PICK_GOSSIP, SWIM_PICK_DEAD };

static bool
swim_pick_ok(const struct swim *s, const struct swim_node *n,
    enum swim_pick kind)
{
	switch (kind) {
	case SWIM_PICK_ALIVE:
		return n->state == SWIM_ALIVE;
	case SWIM_PICK_GOSSIP:
		return n->state == SWIM_ALIVE || n->state == SWIM_SUSPECT ||
		    (n->state == SWIM_DEAD &&
		    s->now - n->changed < swim_ms(s->cfg.gossip_to_dead_ms));
	case SWIM_PICK_DEAD:
		return n->state == SWIM_DEAD &&
		    s->now - n->changed < swim_ms(s->cfg.reconnect_timeout_ms);
	}
	return false;
}

/* Picks up to k distinct random members of a kind, never `skip`. */
static size_t
swim_pick(struct swim *s, struct swim_node **out, size_t k,
    enum swim_pick kind, const struct swim_node *skip)
{
	size_t got = 0, tries, i, j;

	if (s->n_nodes <= 4 * k + 8) {
		/* small table: reservoir over everyone */
		size_t seen = 0;

		for (i = 0; i < s->n_nodes; i++) {
			struct swim_node *n = s->nodes[i];

			if (n == skip || !swim_pick_ok(s, n, kind))
				continue;
			if (seen < k)
				out[got++] = n;
			else if ((j = swim_rand_below(s, seen + 1)) < k)
				out[j] = n;
			seen++;
		}
		return got;
	}
	for (tries = 0; tries < 8 * k + 16 && got < k; tries++) {
		struct swim_node *n = s->nodes[swim_rand_below(s, s->n_nodes)];

		if (n == skip || !swim_pick_ok(s, n, kind))
			continue;
		for (j = 0; j < got && out[j] != n; j++)
			;
		if (j == got)
			out[got++] = n;
	}
	return got;
}

/* --- probing ------------------------------------------------------------ */

/* Forgets members dead or left for longer than dead_keep_ms, then
 * shuffles the probe order. */
static void
swim_reshuffle(struct swim *s)
{
	size_t i;

	for (i = s->n_nodes; i-- > 0;) {
		struct swim_node *n = s->nodes[i];

		if ((n->state == SWIM_DEAD || n->state == SWIM_LEFT) &&
		    s->now - n->changed >= swim_ms(s->cfg.dead_keep_ms))
			swim_node_free(s, n);
	}
	for (i = s->n_nodes; i > 1; i--) {
		size_t j = swim_rand_below(s, i);
		struct swim_node *t = s->nodes[i - 1];

		s->nodes[i - 1] = s->nodes[j];
		s->nodes[j] = t;
		s->nodes[i - 1]->idx = i - 1;
		s->nodes[j]->idx = j;
	}
}

static struct swim_node *
swim_probe_next(struct swim *s)
{
	size_t tries;

	for (tries = 0; tries <= s->n_nodes + 1; tries++) {
		struct swim_node *n;

		if (s->probe_idx >= s->n_nodes) {
			swim_reshuffle(s);
			s->probe_idx = 0;
			if (s->n_nodes == 0)
				return NULL;
		}
		n = s->nodes[s->probe_idx++];
		if (n->state == SWIM_ALIVE || n->state == SWIM_SUSPECT)
			return n;
	}
	return NULL;
}

static void
swim_probe_start(struct swim *s)
{
	struct swim_node *n;
	struct swimmsg ping, buddy;

	s->next_probe = s->now + swim_scale(s, s->cfg.probe_interval_ms);
	if ((n = swim_probe_next(s)) == NULL)
		return;
	s->probe.node = n;
	s->probe.phase = SWIM_PROBE_DIRECT;
	s->probe.seq = ++s->seq;
	s->probe.t_direct = s->now + swim_scale(s, s->cfg.probe_timeout_ms);
	s->probe.t_end = s->next_probe;
	s->probe.nacks = s->probe.nacks_expected = 0;
	s->stats.probes++;
	memset(&ping, 0, sizeof(ping));
	ping.type = SWIMMSG_PING;
	ping.seq = s->probe.seq;
	memcpy(ping.name, n->name, sizeof(ping.name));
	if (s->cfg.lifeguard && n->state == SWIM_SUSPECT) {
		/* buddy system: tell the suspect at once */
		swim_msg_accuse(&buddy, SWIMMSG_SUSPECT, n->inc, n->name,
		    s->self.name);
		swim_send(s, &n->addr, &ping, &buddy);
	} else
		swim_send(s, &n->addr, &ping, NULL);
}

static void
swim_probe_indirect(struct swim *s)
{
	struct swim_node *helpers[SWIM_CONFIRM_MAX];
	struct swim_node *t = s->probe.node;
	struct swimmsg req;
	size_t k = s->cfg.indirect_checks, got, i;

	s->probe.phase = SWIM_PROBE_INDIRECT;
	if (k > SWIM_CONFIRM_MAX)
		k = SWIM_CONFIRM_MAX;
	got = swim_pick(s, helpers, k, SWIM_PICK_ALIVE, t);
	memset(&req, 0, sizeof(req));
	req.type = SWIMMSG_PING_REQ;
	req.seq = s->probe.seq;
	req.flags = s->cfg.lifeguard ? SWIMMSG_F_NACK : 0;
	memcpy(req.name, t->name, sizeof(req.name));
	req.addr = t->addr;
	for (i = 0; i < got; i++) {
		swim_send(s, &helpers[i]->addr, &req, NULL);
		s->stats.indirect_probes++;
	}
	if (s->cfg.lifeguard)
		s->probe.nacks_expected = (unsigned)got;
}

static void
swim_probe_fail(struct swim *s)
{
	struct swim_node *n = s->probe.node;
	unsigned exp = s->probe.nacks_expected, got = s->probe.nacks;

	s->probe.node = NULL;
	s->probe.phase = SWIM_PROBE_IDLE;
	s->stats.probe_failures++;
	/* Lifeguard: missing nacks mean we, not the target, may be slow */
	if (exp > 0)
		swim_health_add(s, (int)(exp - (got < exp ? got : exp)));
	else
		swim_health_add(s, 1);
	if (n->state == SWIM_ALIVE || n->state == SWIM_SUSPECT)
		swim_on_suspect(s, n->inc, n->name, s->self.name);
}

/* --- receiving ---------------------------------------------------------- */

static void
swim_on_ping(struct swim *s, const struct swimmsg_addr *from,
    const struct swimmsg *m)
{
	struct swimmsg ack;

	if (m->name[0] != '\0' && !swim_is_self(s, m->name)) {
		s->stats.rx_misdirected++;
		return;
	}
	memset(&ack, 0, sizeof(ack));
	ack.type = SWIMMSG_ACK;
	ack.seq = m->seq;
	swim_send(s, from, &ack, NULL);
}

static void
swim_on_ping_req(struct swim *s, const struct swimmsg_addr *from,
    const struct swimmsg *m)
{
	struct swim_relay *r = NULL;
	struct swimmsg ping;
	size_t i;

	for (i = 0; i < SWIM_RELAY_MAX; i++)
		if (!s->relays[i].used) {
			r = &s->relays[i];
			break;
		}
	if (r == NULL) {
		s->stats.relay_dropped++;
		return;
	}
	r->used = true;
	r->seq = ++s->seq;
	r->req_seq = m->seq;
	r->req_addr = *from;
	/* the nack must reach the requester before its probe ends: it waits
	 * probe_interval - probe_timeout after asking us */
	r->t_nack = (m->flags & SWIMMSG_F_NACK) ?
	    s->now + swim_ms(s->cfg.probe_timeout_ms) * 8 / 10 : 0;
	r->expire = s->now + swim_ms(s->cfg.probe_timeout_ms);
	memset(&ping, 0, sizeof(ping));
	ping.type = SWIMMSG_PING;
	ping.seq = r->seq;
	memcpy(ping.name, m->name, sizeof(ping.name));
	swim_send(s, &m->addr, &ping, NULL);
}

static void
swim_on_ack(struct swim *s, const struct swimmsg *m)
{
	struct swimmsg ack;
	size_t i;

	if (s->probe.phase != SWIM_PROBE_IDLE && m->seq == s->probe.seq) {
		s->probe.node = NULL;
		s->probe.phase = SWIM_PROBE_IDLE;
		swim_health_add(s, -1);
		return;
	}
	for (i = 0; i < SWIM_RELAY_MAX; i++) {
		struct swim_relay *r = &s->relays[i];

		if (!r->used || r->seq != m->seq)
			continue;
		r->used = false;
		memset(&ack, 0, sizeof(ack));
		ack.type = SWIMMSG_ACK;
		ack.seq = r->req_seq;
		swim_send(s, &r->req_addr, &ack, NULL);
		return;
	}
}

static void
swim_dispatch(struct swim *s, const struct swimmsg_addr *from,
    const struct swimmsg *m)
{
	switch (m->type) {
	case SWIMMSG_PING:
		swim_on_ping(s, from, m);
		break;
	case SWIMMSG_PING_REQ:
		swim_on_ping_req(s, from, m);
		break;
	case SWIMMSG_ACK:
		swim_on_ack(s, m);
		break;
	case SWIMMSG_NACK:
		if (s->probe.phase == SWIM_PROBE_INDIRECT &&
		    m->seq == s->probe.seq) {
			s->probe.nacks++;
			s->stats.nacks_received++;
		}
		break;
	case SWIMMSG_ALIVE:
		swim_on_alive(s, m);
		break;
	case SWIMMSG_SUSPECT:
		swim_on_suspect(s, m->incarnation, m->name, m->from);
		break;
	case SWIMMSG_DEAD:
		swim_on_dead(s, m->incarnation, m->name, m->from);
		break;
	case SWIMMSG_LEAVE:
		swim_on_leave(s, m->incarnation, m->name);
		break;
	default:
		break;                  /* push-pull records never come by UDP */
	}
}

/* Up to SWIM_STALE_MAX members a packet showed an out-of-date view of. */
#define SWIM_STALE_MAX          4

struct swim_stale {
	struct swim_node *n[SWIM_STALE_MAX];
	size_t len;
};

/* Notes a suspicion or death older than what we know of a live member (or
 * of ourselves): the sender missed a refutation, and gets it straight back
 * instead of waiting for a push-pull. */
static void
swim_note_stale(struct swim *s, struct swim_stale *st, const struct swimmsg *m)
{
	struct swim_node *n;
	size_t i;

	if (m->type != SWIMMSG_SUSPECT && m->type != SWIMMSG_DEAD)
		return;
	if (swim_is_self(s, m->name))
		n = s->leaving ? NULL : &s->self;
	else if ((n = swim_lookup(s, m->name)) != NULL &&
	    n->state != SWIM_ALIVE)
		n = NULL;
	if (n == NULL || m->incarnation >= n->inc)
		return;
	for (i = 0; i < st->len; i++)
		if (st->n[i] == n)
			return;
	if (st->len < SWIM_STALE_MAX)
		st->n[st->len++] = n;
}

static void
swim_send_stale(struct swim *s, const struct swimmsg_addr *to,
    const struct swim_stale *st)
{
	struct swimmsg_writer w;
	struct swimmsg m;
	size_t i;

	swimmsg_writer_init(&w, s->pkt, s->cfg.max_packet);
	for (i = 0; i < st->len; i++) {
		swim_msg_alive(st->n[i], &m);
		(void)swimmsg_put(&w, &m);
	}
	if (w.len <= 1)
		return;
	s->stats.corrections++;
	s->stats.tx_packets++;
	s->stats.tx_bytes += w.len;
	s->io.send(s->io.arg, to, w.p, w.len);
}

int
swim_recv(struct swim *s, uint64_t now, const struct swimmsg_addr *from,
    const void *pkt, size_t len)
{
	struct swimmsg_reader r;
	struct swimmsg m;
	struct swim_stale st = { .len = 0 };
	size_t count;

	s->now = now;
	s->stats.rx_packets++;
	s->stats.rx_bytes += len;
	if (swimmsg_validate(pkt, len, &count) != SWIMMSG_OK) {
		s->stats.rx_malformed++;
		return -EINVAL;
	}
	/* updates first, pings last: an ack then carries what the ping's
	 * piggyback made us say (a refutation for the buddy system) */
	(void)swimmsg_reader_init(&r, pkt, len);
	while (swimmsg_next(&r, &m) == SWIMMSG_OK) {
		if (m.type == SWIMMSG_PING)
			continue;
		swim_note_stale(s, &st, &m);
		swim_dispatch(s, from, &m);
	}
	(void)swimmsg_reader_init(&r, pkt, len);
	while (swimmsg_next(&r, &m) == SWIMMSG_OK)
		if (m.type == SWIMMSG_PING)
			swim_dispatch(s, from, &m);
	if (st.len > 0)
		swim_send_stale(s, from, &st);
	return 0;
}

/* --- timers ------------------------------------------------------------- */

static uint64_t
swim_pushpull_interval(const struct swim *s)
{
	double n = (double)swim_est(s);
	double mult = 1.0;

	/* memberlist: back off above 32 members so TCP load stays flat */
	if (n > 32.0)
		mult = ceil(log2(n) - log2(32.0)) + 1.0;
	return (uint64_t)((double)swim_ms(s->cfg.pushpull_interval_ms) * mult);
}

static void
swim_gossip(struct swim *s)
{
	struct swim_node *to[SWIM_CONFIRM_MAX];
	size_t k = s->cfg.gossip_nodes, got, i;

	if (k > SWIM_CONFIRM_MAX)
		k = SWIM_CONFIRM_MAX;
	got = swim_pick(s, to, k, SWIM_PICK_GOSSIP, NULL);
	for (i = 0; i < got && s->q_len > 0; i++)
		swim_send(s, &to[i]->addr, NULL, NULL);
}

static void
swim_relays_tick(struct swim *s)
{
	struct swimmsg nack;
	size_t i;

	for (i = 0; i < SWIM_RELAY_MAX; i++) {
		struct swim_relay *r = &s->relays[i];

		if (!r->used)
			continue;
		if (r->t_nack != 0 && s->now >= r->t_nack) {
			r->t_nack = 0;
			memset(&nack, 0, sizeof(nack));
			nack.type = SWIMMSG_NACK;
			nack.seq = r->req_seq;
			swim_send(s, &r->req_addr, &nack, NULL);
			s->stats.nacks_sent++;
		}
		if (s->now >= r->expire && r->t_nack == 0)
			r->used = false;
	}
}

static void
swim_suspicions_tick(struct swim *s)
{
	size_t i;

	for (i = s->n_suspects; i-- > 0;) {
		struct swim_node *n;

		if (i >= s->n_suspects)
			continue;
		n = s->suspects[i];
		if (s->now < n->s_deadline)
			continue;
		s->stats.deaths_declared++;
		swim_on_dead(s, n->inc, n->name, s->self.name);
	}
}

void
swim_tick(struct swim *s, uint64_t now)
{
	struct swim_node *n;

	s->now = now;
	if (s->probe.phase == SWIM_PROBE_DIRECT && now >= s->probe.t_direct)
		swim_probe_indirect(s);
	if (s->probe.phase != SWIM_PROBE_IDLE && now >= s->probe.t_end)
		swim_probe_fail(s);
	swim_relays_tick(s);
	swim_suspicions_tick(s);
	if (!s->leaving && now >= s->next_probe)
		swim_probe_start(s);
	if (now >= s->next_gossip && s->q_len > 0) {
		swim_gossip(s);
		s->next_gossip = now + swim_ms(s->cfg.gossip_interval_ms);
	}
	if (s->cfg.pushpull_interval_ms && s->io.pushpull != NULL &&
	    !s->leaving && now >= s->next_pushpull) {
		s->next_pushpull = now + swim_pushpull_interval(s);
		if (swim_pick(s, &n, 1, SWIM_PICK_ALIVE, NULL) == 1) {
			s->stats.pushpulls++;
			s->io.pushpull(s->io.arg, &n->addr, n->name);
		}
	}
	if (s->cfg.reconnect_interval_ms && s->io.pushpull != NULL &&
	    !s->leaving && now >= s->next_reconnect) {
		s->next_reconnect = now + swim_ms(s->cfg.reconnect_interval_ms);
		if (s->n_dead > 0 &&
		    swim_pick(s, &n, 1, SWIM_PICK_DEAD, NULL) == 1) {
			s->stats.reconnects++;
			s->io.pushpull(s->io.arg, &n->addr, n->name);
		}
	}
}

static uint64_t
swim_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t
swim_next_deadline(const struct swim *s)
{
	uint64_t d = UINT64_MAX;
	size_t i;

	if (!s->leaving)
		d = s->next_probe;
	if (s->probe.phase == SWIM_PROBE_DIRECT)
		d = swim_min(d, s->probe.t_direct);
	if (s->probe.phase != SWIM_PROBE_IDLE)
		d = swim_min(d, s->probe.t_end);
	if (s->q_len > 0)
		d = swim_min(d, s->next_gossip);
	for (i = 0; i < s->n_suspects; i++)
		d = swim_min(d, s->suspects[i]->s_deadline);
	for (i = 0; i < SWIM_RELAY_MAX; i++) {
		const struct swim_relay *r = &s->relays[i];

		if (r->used)
			d = swim_min(d, r->t_nack ? r->t_nack : r->expire);
	}
	if (s->cfg.pushpull_interval_ms && s->io.pushpull != NULL &&
	    !s->leaving && s->n_live > 0)
		d = swim_min(d, s->next_pushpull);
	if (s->cfg.reconnect_interval_ms && s->io.pushpull != NULL &&
	    !s->leaving && s->n_dead > 0)
		d = swim_min(d, s->next_reconnect);
	return d;
}

/* --- push-pull ---------------------------------------------------------- */

static void
swim_msg_state(const struct swim_node *n, struct swimmsg *m)
{
	swim_msg_alive(n, m);
	m->type = SWIMMSG_STATE;
	m->state = (uint8_t)n->state;
}

int
swim_state_encode(struct swim *s, bool join, uint8_t **out, size_t *len)
{
	struct swimmsg_writer w;
	struct swimmsg m;
	size_t need, i, count = s->n_nodes + 1;
	uint8_t *buf;

	if (count > SWIMMSG_STATE_MAX_COUNT)
		count = SWIMMSG_STATE_MAX_COUNT;
	memset(&m, 0, sizeof(m));
	m.type = SWIMMSG_STATE_HEAD;
	m.flags = join ? SWIMMSG_F_JOIN : 0;
	m.seq = (uint32_t)count;
	memcpy(m.from, s->self.name, sizeof(m.from));
	need = 1 + swimmsg_size(&m);
	swim_msg_state(&s->self, &m);
	need += swimmsg_size(&m);
	for (i = 0; i + 1 < count; i++) {
		swim_msg_state(s->nodes[i], &m);
		need += swimmsg_size(&m);
	}
	if ((buf = malloc(need)) == NULL)
		return -ENOMEM;
	swimmsg_writer_init(&w, buf, need);
	memset(&m, 0, sizeof(m));
	m.type = SWIMMSG_STATE_HEAD;
	m.flags = join ? SWIMMSG_F_JOIN : 0;
	m.seq = (uint32_t)count;
	memcpy(m.from, s->self.name, sizeof(m.from));
	(void)swimmsg_put(&w, &m);
	swim_msg_state(&s->self, &m);
	(void)swimmsg_put(&w, &m);
	for (i = 0; i + 1 < count; i++) {
		swim_msg_state(s->nodes[i], &m);
		(void)swimmsg_put(&w, &m);
	}
	s->stats.state_tx_bytes += w.len;
	*out = buf;
	*len = w.len;
	return 0;
}

int
swim_state_merge(struct swim *s, uint64_t now, const void *buf, size_t len)
{
	struct swimmsg_reader r;
	struct swimmsg m;
	char from[SWIMMSG_NAME_MAX + 1];
	size_t count;

	s->now = now;
	if (swimmsg_validate(buf, len, &count) != SWIMMSG_OK || count == 0) {
		s->stats.rx_malformed++;
		return -EINVAL;
	}
	(void)swimmsg_reader_init(&r, buf, len);
	if (swimmsg_next(&r, &m) != SWIMMSG_OK ||
	    m.type != SWIMMSG_STATE_HEAD) {
		s->stats.rx_malformed++;
		return -EINVAL;
	}
	memcpy(from, m.from, sizeof(from));
	s->stats.state_rx_bytes += len;
	while (swimmsg_next(&r, &m) == SWIMMSG_OK) {
		if (m.type != SWIMMSG_STATE)
			continue;
		switch (m.state) {
		case SWIMMSG_S_ALIVE:
			m.type = SWIMMSG_ALIVE;
			swim_on_alive(s, &m);
			break;
		case SWIMMSG_S_SUSPECT:
		case SWIMMSG_S_DEAD:
			/* memberlist: a remote death is only a suspicion here */
			swim_on_suspect(s, m.incarnation, m.name, from);
			break;
		case SWIMMSG_S_LEFT:
			swim_on_leave(s, m.incarnation, m.name);
			break;
		}
	}
	return 0;
}

/* --- lifecycle and getters ---------------------------------------------- */

int
swim_new(struct swim **out, const struct swim_config *cfg,
    const struct swim_io *io, uint64_t now)
{
	struct swim *s;
	size_t nlen, rlen;

	if (cfg->name == NULL || io == NULL || io->send == NULL)
		return -EINVAL;
	nlen = strnlen(cfg->name, SWIMMSG_NAME_MAX + 1);
	rlen = cfg->region ? strnlen(cfg->region, SWIMMSG_REGION_MAX + 1) : 0;
	if (nlen == 0 || nlen > SWIMMSG_NAME_MAX || rlen > SWIMMSG_REGION_MAX ||
	    cfg->meta_len > SWIMMSG_META_MAX ||
	    (cfg->addr.family != 4 && cfg->addr.family != 6) ||
	    cfg->probe_interval_ms == 0 || cfg->probe_timeout_ms == 0 ||
	    cfg->probe_timeout_ms > cfg->probe_interval_ms ||
	    cfg->gossip_interval_ms == 0 || cfg->suspicion_mult == 0 ||
	    cfg->suspicion_max_mult == 0 || cfg->awareness_max == 0 ||
	    cfg->retransmit_mult == 0 || cfg->max_packet < 256 ||
	    cfg->max_packet > SWIMMSG_PACKET_MAX)
		return -EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	s->io = *io;
	s->now = now;
	s->rng = cfg->seed ^ swim_hash(cfg->name);
	memcpy(s->self.name, cfg->name, nlen);
	if (rlen)
		memcpy(s->self.region, cfg->region, rlen);
	s->self.addr = cfg->addr;
	s->self.inc = cfg->incarnation;
	s->self.state = SWIM_ALIVE;
	s->self.hash = swim_hash(s->self.name);
	s->self.sidx = SIZE_MAX;
	s->self.idx = SIZE_MAX;
	if (swim_set_meta_bytes(&s->self, cfg->meta, cfg->meta_len) != 0) {
		free(s);
		return -ENOMEM;
	}
	s->cfg.name = s->self.name;
	s->cfg.region = s->self.region;
	s->cfg.meta = NULL;
	s->cfg.meta_len = 0;
	if (swim_rehash(s, 8) != 0) {
		swim_free(s);
		return -ENOMEM;
	}
	/* random phases, so members started together do not probe in step */
	s->next_probe = now + swim_rand_below(s, swim_ms(cfg->probe_interval_ms));
	s->next_gossip = now + swim_ms(cfg->gossip_interval_ms);
	s->next_pushpull = now + swim_ms(cfg->pushpull_interval_ms) / 2 +
	    swim_rand_below(s, swim_ms(cfg->pushpull_interval_ms) + 1);
	s->next_reconnect = now +
	    swim_rand_below(s, swim_ms(cfg->reconnect_interval_ms) + 1);
	*out = s;
	return 0;
}

void
swim_free(struct swim *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->q_len; i++)
		free(s->queue[i]);
	for (i = 0; i < s->n_nodes; i++) {
		free(s->nodes[i]->meta);
		free(s->nodes[i]);
	}
	free(s->queue);
	free(s->nodes);
	free(s->buckets);
	free(s->suspects);
	free(s->self.meta);
	free(s);
}

int
swim_leave(struct swim *s, uint64_t now)
{
	struct swimmsg m;

	s->now = now;
	if (s->leaving)
		return 0;
	s->leaving = true;
	s->probe.node = NULL;
	s->probe.phase = SWIM_PROBE_IDLE;
	memset(&m, 0, sizeof(m));
	m.type = SWIMMSG_LEAVE;
	m.incarnation = s->self.inc;
	memcpy(m.name, s->self.name, sizeof(m.name));
	swim_enqueue(s, &s->self, &m);
	s->next_gossip = now;
	return 0;
}

bool
swim_leave_done(const struct swim *s)
{
	return s->leaving && (s->self.bcast == NULL || s->n_live == 0);
}

int
swim_set_meta(struct swim *s, uint64_t now, const char *region,
    const void *meta, size_t len)
{
	struct swimmsg m;
	size_t rlen = region ? strnlen(region, SWIMMSG_REGION_MAX + 1) : 0;
	int rc;

	s->now = now;
	if (rlen > SWIMMSG_REGION_MAX || len > SWIMMSG_META_MAX)
		return -EINVAL;
	if ((rc = swim_set_meta_bytes(&s->self, meta, len)) != 0)
		return rc;
	memset(s->self.region, 0, sizeof(s->self.region));
	if (rlen)
		memcpy(s->self.region, region, rlen);
	if (s->leaving)
		return 0;       /* a newer alive would undo the leave */
	s->self.inc++;
	swim_msg_alive(&s->self, &m);
	swim_enqueue(s, &s->self, &m);
	return 0;
}

size_t
swim_member_count(const struct swim *s)
{
	return s->n_nodes;
}

int
swim_member_at(const struct swim *s, size_t i, struct swim_member *m)
{
	if (i >= s->n_nodes)
		return -ENOENT;
	swim_view(s->nodes[i], m);
	return 0;
}

int
swim_member_find(const struct swim *s, const char *name, struct swim_member *m)
{
	const struct swim_node *n;

	if (swim_is_self(s, name))
		n = &s->self;
	else if ((n = swim_lookup(s, name)) == NULL)
		return -ENOENT;
	swim_view(n, m);
	return 0;
}

size_t
swim_alive_count(const struct swim *s)
{
	return s->n_live;
}

uint64_t
swim_incarnation(const struct swim *s)
{
	return s->self.inc;
}

unsigned
swim_health(const struct swim *s)
{
	return s->health;
}

const struct swim_stats *
swim_stats(const struct swim *s)
{
	return &s->stats;
}
