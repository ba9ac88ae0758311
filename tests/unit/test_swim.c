/* Deterministic simulation of the swim core: a fake clock and network
 * (swimsim.inc) with N = 10, 50, 100 members on LAN defaults.
 *
 * Every run is seeded; SWIM_SEED=<n> in the environment changes the base
 * seed and every failure message prints the seed that failed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <time.h>

#include "swimsim.inc"

static uint64_t
test_seed(unsigned k)
{
	const char *e = getenv("SWIM_SEED");
	uint64_t base = e ? strtoull(e, NULL, 0) : 20240601ULL;

	return base * 1315423911ULL + k;
}

/* What the event hook records. */
struct rec {
	const char *target;             /* name watched, or NULL */
	enum swim_event want;           /* SWIM_EV_DEAD or SWIM_EV_META */
	char meta[32];                  /* wanted metadata for META */
	uint64_t t0;
	bool done[128];
	uint64_t lat[128];
	const bool *anomalous;          /* per node, or NULL */
	uint64_t dead_events, left_events, suspect_events;
	uint64_t raised_healthy;        /* suspicions a node's own probe raised
	                                   against a member that never stalls */
	uint64_t raised_anomalous;      /* ... against a stalling member */
};

static int
rec_id(const char *name)
{
	return atoi(name + 4);          /* "node%03d" */
}

static void
rec_event(struct sim *sim, int obs, enum swim_event ev,
    const struct swim_member *m, bool here)
{
	struct rec *r = sim->user;

	if (ev == SWIM_EV_DEAD)
		r->dead_events++;
	if (ev == SWIM_EV_LEFT)
		r->left_events++;
	if (ev == SWIM_EV_SUSPECT) {
		r->suspect_events++;
		if (here && r->anomalous && r->anomalous[rec_id(m->name)])
			r->raised_anomalous++;
		else if (here)
			r->raised_healthy++;
	}
	if (r->target == NULL || strcmp(m->name, r->target) != 0 ||
	    r->done[obs])
		return;
	if (r->want == SWIM_EV_DEAD && ev == SWIM_EV_DEAD) {
		r->done[obs] = true;
		r->lat[obs] = sim->now - r->t0;
	}
	if (r->want == SWIM_EV_META && (ev == SWIM_EV_META ||
	    ev == SWIM_EV_JOIN || ev == SWIM_EV_ALIVE) &&
	    m->meta_len == strlen(r->meta) &&
	    memcmp(m->meta, r->meta, m->meta_len) == 0) {
		r->done[obs] = true;
		r->lat[obs] = sim->now - r->t0;
	}
}

static bool
rec_all_done(const struct sim *sim, const struct rec *r, int skip)
{
	int i;

	for (i = 0; i < sim->n; i++)
		if (i != skip && sim->nodes[i].up && !r->done[i])
			return false;
	return true;
}

static struct sim *
test_sim(int n, uint64_t seed, bool lifeguard, struct rec *r)
{
	struct swim_config cfg;
	struct sim *sim;
	uint64_t t;

	swim_config_lan(&cfg);
	cfg.lifeguard = lifeguard;
	sim = sim_new(n, seed, &cfg);
	memset(r, 0, sizeof(*r));
	sim->user = r;
	sim->on_event = rec_event;
	t = sim_boot(sim);
	if (t == UINT64_MAX)
		fail_msg("boot of %d nodes did not converge (seed=%" PRIu64 ")",
		    n, seed);
	return sim;
}

static double
secs(uint64_t us)
{
	return (double)us / 1e6;
}

/* --- detection and dissemination ---------------------------------------- */

/* Crashes a random member per trial; every live member must mark it dead.
 * The crashed node then restarts on the same address with the incarnation
 * it started its first life with and must come back under a new one. */
static size_t
detect_trials(struct sim *sim, struct rec *r, int trials, uint64_t *samples,
    uint64_t seed)
{
	size_t ns = 0;
	int t, i;

	for (t = 0; t < trials; t++) {
		int x = (int)sim_below(sim, (uint64_t)sim->n);
		int via = (x + 1 + (int)sim_below(sim, (uint64_t)sim->n - 1)) %
		    sim->n;
		uint64_t old_inc = swim_incarnation(sim->nodes[x].s);

		memset(r->done, 0, sizeof(r->done));
		r->target = sim->nodes[x].name;
		r->want = SWIM_EV_DEAD;
		r->t0 = sim->now;
		sim_crash(sim, x);
		while (!rec_all_done(sim, r, x) && sim->now - r->t0 < 120 * SIM_S)
			sim_run_until(sim, sim->now + 250 * SIM_MS);
		if (!rec_all_done(sim, r, x))
			fail_msg("n=%d: crash of %s not detected everywhere in "
			    "120 s (seed=%" PRIu64 ")", sim->n, r->target, seed);
		for (i = 0; i < sim->n; i++)
			if (i != x && sim->nodes[i].up)
				samples[ns++] = r->lat[i];
		r->target = NULL;
		/* restart under the same address and name, old incarnation */
		sim_run_until(sim, sim->now + SIM_S);
		sim_node_start(sim, x);
		sim_join(sim, x, via);
		if (sim_run_converge(sim, 60 * SIM_S, 100 * SIM_MS) == UINT64_MAX)
			fail_msg("n=%d: restarted %s did not rejoin (seed=%"
			    PRIu64 ")", sim->n, sim->nodes[x].name, seed);
		if (swim_incarnation(sim->nodes[x].s) <= old_inc)
			fail_msg("restarted %s kept incarnation %" PRIu64,
			    sim->nodes[x].name, old_inc);
		sim_run_until(sim, sim->now + 2 * SIM_S +
		    sim_below(sim, SIM_S));
	}
	return ns;
}

static size_t
update_trials(struct sim *sim, struct rec *r, int trials, uint64_t *samples,
    uint64_t seed)
{
	size_t ns = 0;
	int t, i;

	for (t = 0; t < trials; t++) {
		int x = (int)sim_below(sim, (uint64_t)sim->n);
		struct sim_node *nd = &sim->nodes[x];

		memset(r->done, 0, sizeof(r->done));
		snprintf(r->meta, sizeof(r->meta), "v=%d", t + 1);
		r->target = nd->name;
		r->want = SWIM_EV_META;
		r->t0 = sim->now;
		if (swim_set_meta(nd->s, sim->now, x % 2 ? "eu" : "us", r->meta,
		    strlen(r->meta)) != 0)
			fail_msg("swim_set_meta failed");
		sim_reschedule(nd);
		/* an epidemic can miss a member; push-pull then repairs it */
		while (!rec_all_done(sim, r, x) && sim->now - r->t0 < 180 * SIM_S)
			sim_run_until(sim, sim->now + 50 * SIM_MS);
		if (!rec_all_done(sim, r, x))
			fail_msg("n=%d: update of %s did not reach everyone in "
			    "180 s (seed=%" PRIu64 ")", sim->n, nd->name, seed);
		for (i = 0; i < sim->n; i++)
			if (i != x)
				samples[ns++] = r->lat[i];
		r->target = NULL;
		sim_run_until(sim, sim->now + SIM_S + sim_below(sim, SIM_S));
	}
	return ns;
}

static void
detect_and_spread(int n, int crash_trials, int update_trials_n,
    double detect_p99_max, double spread_p99_max, unsigned k)
{
	uint64_t seed = test_seed(k);
	uint64_t *samples = calloc((size_t)(crash_trials + update_trials_n) *
	    (size_t)n, sizeof(*samples));
	uint64_t p50, p99, mx;
	struct rec r;
	struct sim *sim;
	size_t ns;

	assert_non_null(samples);
	sim = test_sim(n, seed, true, &r);
	ns = detect_trials(sim, &r, crash_trials, samples, seed);
	p50 = sim_percentile(samples, ns, 50);
	p99 = sim_percentile(samples, ns, 99);
	mx = samples[ns - 1];
	printf("  n=%3d crash->dead at every live member: p50=%.2fs p99=%.2fs "
	    "max=%.2fs (%zu samples, bound %.0fs on p99 and max)\n", n,
	    secs(p50), secs(p99), secs(mx), ns, detect_p99_max);
	if (secs(p99) > detect_p99_max)
		fail_msg("n=%d: detection p99 %.2fs > %.1fs (seed=%" PRIu64 ")",
		    n, secs(p99), detect_p99_max, seed);
	/* the largest sample is the slowest trial's time until every live
	 * member knows: the bound holds for it too, not only for the p99 */
	if (secs(mx) > detect_p99_max)
		fail_msg("n=%d: every member knew of a crash only after %.2fs > "
		    "%.1fs (seed=%" PRIu64 ")", n, secs(mx), detect_p99_max, seed);
	ns = update_trials(sim, &r, update_trials_n, samples, seed);
	p50 = sim_percentile(samples, ns, 50);
	p99 = sim_percentile(samples, ns, 99);
	mx = samples[ns - 1];
	printf("  n=%3d update reaches every member:    p50=%.2fs p99=%.2fs "
	    "max=%.2fs (%zu samples, bound %.1fs on p99 and max)\n", n,
	    secs(p50), secs(p99), secs(mx), ns, spread_p99_max);
	if (secs(p99) > spread_p99_max)
		fail_msg("n=%d: dissemination p99 %.2fs > %.1fs (seed=%" PRIu64
		    ")", n, secs(p99), spread_p99_max, seed);
	if (secs(mx) > spread_p99_max)
		fail_msg("n=%d: an update reached every member only after %.2fs > "
		    "%.1fs (seed=%" PRIu64 ")", n, secs(mx), spread_p99_max, seed);
	sim_free(sim);
	free(samples);
}

static void
test_detect_spread_10(void **state)
{
	detect_and_spread(10, 100, 100, 15.0, 2.0, 1);
}

static void
test_detect_spread_50(void **state)
{
	detect_and_spread(50, 40, 40, 20.0, 2.5, 2);
}

static void
test_detect_spread_100(void **state)
{
	detect_and_spread(100, 30, 30, 24.0, 3.0, 3);
}

/* --- loss ---------------------------------------------------------------- */

static void
no_false_dead(int n, unsigned k)
{
	uint64_t seed = test_seed(k);
	int i;
	struct rec r;
	struct sim *sim = test_sim(n, seed, true, &r);
	uint64_t t0, refutes = 0, raised = 0;

	sim->loss = 0.05;
	r.dead_events = r.suspect_events = 0;
	t0 = sim->now;
	sim_run_until(sim, t0 + 3600 * SIM_S);
	for (i = 0; i < n; i++) {
		refutes += swim_stats(sim->nodes[i].s)->refutes;
		raised += swim_stats(sim->nodes[i].s)->suspicions_raised;
	}
	printf("  n=%d, 1 h at 5%% loss: %" PRIu64 " suspicions raised, %" PRIu64
	    " suspect events, %" PRIu64 " refutations, %" PRIu64
	    " false dead\n", n, raised, r.suspect_events, refutes,
	    r.dead_events);
	if (r.dead_events != 0)
		fail_msg("%" PRIu64 " false dead events at 5%% loss (seed=%"
		    PRIu64 ")", r.dead_events, seed);
	sim_free(sim);
}

static void
test_no_false_dead_5pct_loss(void **state)
{
	no_false_dead(50, 4);
	no_false_dead(100, 14);
}

static void
test_death_at_50pct_loss(void **state)
{
	uint64_t seed = test_seed(5);
	int n = 30, x = 7, i;
	struct rec r;
	struct sim *sim = test_sim(n, seed, true, &r);
	struct swim_member m;
	uint64_t t0;
	bool all = false;

	sim->loss = 0.5;
	sim_run_until(sim, sim->now + 30 * SIM_S);
	t0 = sim->now;
	sim_crash(sim, x);
	while (!all && sim->now - t0 < 600 * SIM_S) {
		sim_run_until(sim, sim->now + SIM_S);
		all = true;
		for (i = 0; i < n && all; i++)
			if (i != x && (swim_member_find(sim->nodes[i].s,
			    sim->nodes[x].name, &m) != 0 ||
			    m.state != SWIM_DEAD))
				all = false;
	}
	printf("  n=%d at 50%% loss: crash dead at every live member after "
	    "%.1fs\n", n, secs(sim->now - t0));
	if (!all)
		fail_msg("death not everywhere at 50%% loss after 600 s (seed=%"
		    PRIu64 ")", seed);
	sim_free(sim);
}

/* --- Lifeguard under stalls ---------------------------------------------- */

struct stall_result {
	uint64_t raised_healthy, raised_anomalous, dead_events, suspect_events;
	uint64_t stalls;
};

/* 10% of the members are degraded: their receive path stalls for 0.5-4 s
 * at a time, with gap_min..gap_max of normal processing in between. */
static void
stall_run(bool lifeguard, uint64_t seed, uint64_t dur, uint64_t gap_min,
    uint64_t gap_max, struct stall_result *o)
{
	int n = 50, i, na = n / 10;
	bool anomalous[128] = { false };
	uint64_t next[128], t0;
	struct rec r;
	struct sim *sim = test_sim(n, seed, lifeguard, &r);

	for (i = 0; i < na; i++)
		anomalous[i * 10 + 3] = true;
	for (i = 0; i < n; i++)
		next[i] = sim->now + sim_below(sim, 5 * SIM_S);
	memset(o, 0, sizeof(*o));
	r.anomalous = anomalous;
	r.dead_events = r.suspect_events = 0;
	t0 = sim->now;
	while (sim->now - t0 < dur) {
		sim_run_until(sim, sim->now + 20 * SIM_MS);
		for (i = 0; i < n; i++) {
			if (!anomalous[i] || sim->now < next[i])
				continue;
			sim->nodes[i].stall_until = sim->now + SIM_S / 2 +
			    sim_below(sim, 7 * SIM_S / 2);
			next[i] = sim->nodes[i].stall_until + gap_min +
			    sim_below(sim, gap_max - gap_min + 1);
			o->stalls++;
		}
	}
	o->raised_healthy = r.raised_healthy;
	o->raised_anomalous = r.raised_anomalous;
	o->dead_events = r.dead_events;
	o->suspect_events = r.suspect_events;
	sim_free(sim);
}

static void
stall_print(const char *what, const struct stall_result *on,
    const struct stall_result *off)
{
	printf("  n=50, 5 members stalling 0.5-4 s, %s:\n", what);
	printf("    false suspicions of healthy members (raised by a probe): "
	    "lifeguard=%" PRIu64 " off=%" PRIu64 "\n", on->raised_healthy,
	    off->raised_healthy);
	printf("    suspicions of the stalled members: lifeguard=%" PRIu64
	    " off=%" PRIu64 "; suspect events at all observers: lifeguard=%"
	    PRIu64 " off=%" PRIu64 "; false dead events: lifeguard=%" PRIu64
	    " off=%" PRIu64 " (%" PRIu64 " stalls)\n", on->raised_anomalous,
	    off->raised_anomalous, on->suspect_events, off->suspect_events,
	    on->dead_events, off->dead_events, on->stalls);
}

/* Degraded members (stalls back to back, up to 1 s apart): Lifeguard
 * raises at least 20x fewer false suspicions of healthy members, and no
 * member is declared dead. Isolated stalls (5-30 s apart): there the first
 * probe a stall catches fails with or without Lifeguard, which only
 * shortens the rest of the episode, so the gap is smaller; Lifeguard still
 * must not do worse (suspicions raised and suspect events) and declare no
 * one dead. */
static void
test_lifeguard_stalls(void **state)
{
	uint64_t seed = test_seed(6), dur = 600 * SIM_S;
	struct stall_result on, off;

	stall_run(true, seed, dur, 0, SIM_S, &on);
	stall_run(false, seed, dur, 0, SIM_S, &off);
	stall_print("up to 1 s apart, 600 s", &on, &off);
	if (off.raised_healthy < 20 ||
	    on.raised_healthy * 20 > off.raised_healthy)
		fail_msg("lifeguard %" PRIu64 " vs off %" PRIu64 " false "
		    "suspicions: less than 20x fewer (seed=%" PRIu64 ")",
		    on.raised_healthy, off.raised_healthy, seed);
	if (on.dead_events != 0)
		fail_msg("lifeguard: %" PRIu64 " members declared dead for stalls "
		    "(seed=%" PRIu64 ")", on.dead_events, seed);
	stall_run(true, seed, dur / 2, 5 * SIM_S, 30 * SIM_S, &on);
	stall_run(false, seed, dur / 2, 5 * SIM_S, 30 * SIM_S, &off);
	stall_print("isolated, 5-30 s apart, 300 s", &on, &off);
	if (on.stalls < 20)
		fail_msg("isolated stalls: only %" PRIu64 " stalls ran", on.stalls);
	if (on.raised_healthy > off.raised_healthy ||
	    on.suspect_events > off.suspect_events)
		fail_msg("isolated stalls: lifeguard raised %" PRIu64 " false "
		    "suspicions (%" PRIu64 " suspect events), off %" PRIu64
		    " (%" PRIu64 "): lifeguard did worse (seed=%" PRIu64 ")",
		    on.raised_healthy, on.suspect_events, off.raised_healthy,
		    off.suspect_events, seed);
	if (on.dead_events != 0)
		fail_msg("isolated stalls: lifeguard declared %" PRIu64 " dead "
		    "(seed=%" PRIu64 ")", on.dead_events, seed);
}

/* --- partition ----------------------------------------------------------- */

static void
partition_heal(int n, unsigned k)
{
	uint64_t seed = test_seed(k), t;
	struct rec r;
	struct sim *sim = test_sim(n, seed, true, &r);
	struct swim_member m;
	int i;

	for (i = 0; i < n; i++)
		sim->nodes[i].group = i < n / 2 ? 0 : 1;
	sim->partitioned = true;
	sim_run_until(sim, sim->now + 90 * SIM_S);
	if (swim_member_find(sim->nodes[0].s, sim->nodes[n - 1].name, &m) != 0 ||
	    m.state != SWIM_DEAD)
		fail_msg("partition: other half not dead after 90 s (seed=%"
		    PRIu64 ")", seed);
	sim->partitioned = false;
	t = sim_run_converge(sim, 120 * SIM_S, 100 * SIM_MS);
	printf("  n=%d: halves partitioned 90 s, healed: one view after %.1fs "
	    "(bound 30 s)\n", n, t == UINT64_MAX ? -1.0 : secs(t));
	if (t == UINT64_MAX || t > 30 * SIM_S)
		fail_msg("n=%d: no consistent view within 30 s of heal (seed=%"
		    PRIu64 ")", n, seed);
	sim_free(sim);
}

static void
test_partition_heal(void **state)
{
	partition_heal(10, 7);
	partition_heal(50, 8);
}

/* --- functional ---------------------------------------------------------- */

static void
test_leave_is_not_death(void **state)
{
	uint64_t seed = test_seed(9);
	struct rec r;
	struct sim *sim = test_sim(10, seed, true, &r);
	struct swim_member m;
	int x = 4, i;

	r.dead_events = r.left_events = 0;
	assert_int_equal(swim_leave(sim->nodes[x].s, sim->now), 0);
	sim_reschedule(&sim->nodes[x]);
	sim_run_until(sim, sim->now + 5 * SIM_MS);
	/* a metadata change while leaving (its router's last words) must not
	 * undo the leave with a newer alive */
	assert_int_equal(swim_set_meta(sim->nodes[x].s, sim->now, "eu", "x", 1), 0);
	while (!swim_leave_done(sim->nodes[x].s))
		sim_run_until(sim, sim->now + 100 * SIM_MS);
	sim_crash(sim, x);
	sim_run_until(sim, sim->now + 60 * SIM_S);
	for (i = 0; i < sim->n; i++) {
		if (i == x)
			continue;
		assert_int_equal(swim_member_find(sim->nodes[i].s,
		    sim->nodes[x].name, &m), 0);
		assert_int_equal(m.state, SWIM_LEFT);
	}
	assert_int_equal(r.dead_events, 0);
	assert_int_equal(r.left_events, 9);
	sim_free(sim);
}

static void
test_wan_defaults(void **state)
{
	struct swim_config c;

	swim_config_wan(&c);
	assert_int_equal(c.probe_interval_ms, 5000);
	assert_int_equal(c.probe_timeout_ms, 3000);
	assert_int_equal(c.suspicion_mult, 6);
	assert_int_equal(c.gossip_interval_ms, 500);
	assert_int_equal(c.gossip_nodes, 4);
	assert_int_equal(c.pushpull_interval_ms, 60000);
	swim_config_lan(&c);
	assert_int_equal(c.probe_interval_ms, 1000);
	assert_int_equal(c.probe_timeout_ms, 500);
	assert_int_equal(c.indirect_checks, 3);
	assert_int_equal(c.suspicion_max_mult, 6);
	assert_int_equal(c.retransmit_mult, 4);
	assert_true(c.lifeguard);
}

static void
test_wan_cluster(void **state)
{
	uint64_t seed = test_seed(10);
	struct swim_config cfg;
	struct rec r;
	struct sim *sim;

	swim_config_wan(&cfg);
	sim = sim_new(10, seed, &cfg);
	memset(&r, 0, sizeof(r));
	sim->user = &r;
	sim->on_event = rec_event;
	sim->delay_us = 40000;
	sim->jitter_us = 40000;
	assert_int_not_equal(sim_boot(sim), UINT64_MAX);
	sim_crash(sim, 3);
	assert_int_not_equal(sim_run_converge(sim, 300 * SIM_S, SIM_S),
	    UINT64_MAX);
	sim_free(sim);
}

static void
test_malformed_counted(void **state)
{
	uint64_t seed = test_seed(11);
	struct rec r;
	struct sim *sim = test_sim(3, seed, true, &r);
	struct swimmsg_addr from;
	const uint8_t junk[] = { SWIMMSG_VERSION, SWIMMSG_ALIVE, 0xff, 0x00 };
	struct swim *s = sim->nodes[0].s;

	sim_addr(1, &from);
	assert_int_equal(swim_recv(s, sim->now, &from, junk, sizeof(junk)),
	    -EINVAL);
	assert_int_equal(swim_recv(s, sim->now, &from, "", 0), -EINVAL);
	assert_int_equal(swim_state_merge(s, sim->now, junk, sizeof(junk)),
	    -EINVAL);
	assert_int_equal(swim_stats(s)->rx_malformed, 3);
	assert_int_equal(swim_alive_count(s), 2);
	sim_free(sim);
}

/* --- bandwidth ----------------------------------------------------------- */

/* Membership traffic per node, idle and under churn, in bytes/s of the
 * sealed UDP datagrams and TCP push-pull frames. The bounds are about twice
 * what this design sends (README: 114/641 at N=10, 149/775 at N=50): an
 * idle node sends one probe and its ack a second (each under 100 sealed
 * bytes) plus a push-pull of the whole state every 30 s, so a doubling
 * means a regression, such as piggybacking too much or probing too often. */
static void
bandwidth(int n, unsigned k, double idle_max, double churn_max)
{
	uint64_t seed = test_seed(k), b0, pkts0 = 0, pkts1 = 0;
	struct rec r;
	struct sim *sim = test_sim(n, seed, true, &r);
	double idle, churn;
	int i, s;

	sim_run_until(sim, sim->now + 30 * SIM_S);
	b0 = sim_bytes(sim);
	for (i = 0; i < n; i++)
		pkts0 += swim_stats(sim->nodes[i].s)->tx_packets;
	sim_run_until(sim, sim->now + 120 * SIM_S);
	idle = (double)(sim_bytes(sim) - b0) / n / 120.0;
	for (i = 0; i < n; i++)
		pkts1 += swim_stats(sim->nodes[i].s)->tx_packets;
	/* churn: a metadata change every second, a member leaving and
	 * rejoining every 10 s */
	b0 = sim_bytes(sim);
	for (s = 0; s < 120; s++) {
		int x = (int)sim_below(sim, (uint64_t)n);
		char meta[32];

		snprintf(meta, sizeof(meta), "v=%d", s + 1);
		if (sim->nodes[x].up && swim_set_meta(sim->nodes[x].s, sim->now,
		    "eu", meta, strlen(meta)) == 0)
			sim_reschedule(&sim->nodes[x]);
		if (s % 10 == 0) {
			x = (int)sim_below(sim, (uint64_t)n);
			if (sim->nodes[x].up) {
				swim_leave(sim->nodes[x].s, sim->now);
				sim_reschedule(&sim->nodes[x]);
			}
		}
		if (s % 10 == 3)
			for (i = 0; i < n; i++)
				if (sim->nodes[i].up &&
				    swim_leave_done(sim->nodes[i].s)) {
					sim_crash(sim, i);
					sim_node_start(sim, i);
					sim_join(sim, i, (i + 1) % n);
				}
		sim_run_until(sim, sim->now + SIM_S);
	}
	churn = (double)(sim_bytes(sim) - b0) / n / 120.0;
	printf("  n=%d membership bytes/s per node (sealed UDP + TCP "
	    "push-pull): idle=%.0f churn=%.0f (idle %.1f packets/s; bounds "
	    "%.0f, %.0f, 3.0)\n", n, idle, churn,
	    (double)(pkts1 - pkts0) / n / 120.0, idle_max, churn_max);
	if (idle <= 0 || churn <= idle)
		fail_msg("n=%d: idle %.0f B/s, churn %.0f B/s: nothing measured",
		    n, idle, churn);
	if (idle > idle_max)
		fail_msg("n=%d: idle membership traffic %.0f B/s per node > %.0f "
		    "(seed=%" PRIu64 ")", n, idle, idle_max, seed);
	if (churn > churn_max)
		fail_msg("n=%d: membership traffic under churn %.0f B/s per node "
		    "> %.0f (seed=%" PRIu64 ")", n, churn, churn_max, seed);
	if ((double)(pkts1 - pkts0) / n / 120.0 > 3.0)
		fail_msg("n=%d: %.1f idle packets/s per node > 3 (seed=%" PRIu64
		    ")", n, (double)(pkts1 - pkts0) / n / 120.0, seed);
	sim_free(sim);
}

static void
test_bandwidth(void **state)
{
	bandwidth(10, 12, 250, 1300);
	bandwidth(50, 13, 300, 1600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wan_defaults),
		cmocka_unit_test(test_malformed_counted),
		cmocka_unit_test(test_leave_is_not_death),
		cmocka_unit_test(test_wan_cluster),
		cmocka_unit_test(test_detect_spread_10),
		cmocka_unit_test(test_detect_spread_50),
		cmocka_unit_test(test_detect_spread_100),
		cmocka_unit_test(test_no_false_dead_5pct_loss),
		cmocka_unit_test(test_death_at_50pct_loss),
		cmocka_unit_test(test_lifeguard_stalls),
		cmocka_unit_test(test_partition_heal),
		cmocka_unit_test(test_bandwidth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
