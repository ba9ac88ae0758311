/* lbbench — time per load-balancing decision (make bench).
 *
 *   lbbench [--candidates N] [--geoip-db FILE]
 *
 * Tables of N candidates (default 1,000) sorted by region then id and
 * prepared, as the route table keeps them, with mixed countries, weights,
 * limits and loads and a few out. The node is in "us". Each row is the
 * median over 1,001 rounds of the mean of 100 decisions; in the rows marked
 * "takes it" the chosen candidate takes the connection (its count goes up,
 * so the winner moves), the counts going back after each round.
 *   4 regions          candidates in four regions, clients from a spread of
 *                      countries, one in eight without a location (takes it)
 *   4 regions, no loc  the same table, clients without a location: the
 *                      node's region (tier 2) decides
 *   all in region      every candidate in the client's region: nothing to
 *                      skip, the full scan (takes it)
 *   all, quiet         the same with no connections anywhere: every
 *                      candidate ties on load
 *   90% in region      900 of 1,000 in the client's region, the rest in
 *                      three others (takes it)
 *   all local, no loc  every candidate in the node's region, a client
 *                      without a location (takes it)
 *   affinity hit       lbbind_get() + lbpick_find() + lbpick_pick(bound)
 *   miss + bind        lbbind_get() (miss) + lbpick_pick() + lbbind_put()
 *   geoip lookup       geoip_country() (with --geoip-db)
 * Prints one line per row: "lbbench: ROW median NS ns/decision", then the
 * target and "ok" or "MISSED" where the row has one (issue 10: <= 2,000 ns
 * per decision over 1,000 candidates, <= 500 ns for an affinity hit), and a
 * tally. Exits 1 when a target is missed under BENCH_STRICT=1. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geoip.h"
#include "lbbind.h"
#include "lbpick.h"
#include "regionmap.h"

#define ROUNDS  1001
#define PER     100

static const char *const lbbench_regions[] = { "sa", "us", "eu", "ap" };
static const char *const lbbench_countries[4][3] = {
	{ "BR", "AR", "CL" }, { "US", "CA", "MX" }, { "DE", "FR", "GB" },
	{ "JP", "SG", "AU" },
};

static double
lbbench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
lbbench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* callers list candidates by region, then id */
static int
lbbench_byregion(const void *a, const void *b)
{
	const struct lbpick_cand *x = a, *y = b;
	int c = memcmp(&x->region, &y->region, sizeof(x->region));

	return c != 0 ? c : (x->id > y->id) - (x->id < y->id);
}

static double
lbbench_median(double *v)
{
	qsort(v, ROUNDS, sizeof(v[0]), lbbench_cmp);
	return v[ROUNDS / 2];
}

static unsigned lbbench_missed;

/* one row: its median, and against its target when it has one (0: none) */
static void
lbbench_row(const char *what, double ns, double target)
{
	printf("lbbench: %s median %.0f ns/decision", what, ns);
	if (target > 0) {
		printf(" (target <= %.0f: %s)", target, ns <= target ? "ok" : "MISSED");
		lbbench_missed += ns > target;
	}
	printf("\n");
}

/* Fills v[n]: each candidate in region home with probability pct percent,
 * else in one of the others (home -1: any of the four), with a country of
 * its region; conns 0 when quiet. Then sorted and prepared. */
static void
lbbench_table(struct lbpick_cand *v, size_t n, int home, unsigned pct,
    bool quiet, unsigned *rs)
{
	size_t i;

	memset(v, 0, n * sizeof(*v));
	for (i = 0; i < n; i++) {
		char id[32];
		int reg = rand_r(rs) % 4;

		if (home >= 0)
			reg = (unsigned)rand_r(rs) % 100 < pct ? home :
			    (home + 1 + rand_r(rs) % 3) % 4;
		snprintf(id, sizeof(id), "%s-node-%zu", lbbench_regions[reg], i);
		v[i].id = lbpick_id(id, strlen(id));
		lbpick_region(&v[i].region, lbbench_regions[reg], 2);
		v[i].country = lbpick_country(lbbench_countries[reg][rand_r(rs) % 3]);
		v[i].weight = 1 + (uint32_t)(rand_r(rs) % 4);
		v[i].soft_limit = 50 + (uint32_t)(rand_r(rs) % 150);
		v[i].conns = quiet ? 0 : (uint32_t)(rand_r(rs) % 200);
		v[i].hard_limit = rand_r(rs) % 2 ? 0 : v[i].conns + 1 +
		    (uint32_t)(rand_r(rs) % 100);
		v[i].flags = rand_r(rs) % 50 == 0 ? LBPICK_UNHEALTHY : 0;
	}
	qsort(v, n, sizeof(*v), lbbench_byregion);
	lbpick_prepare(v, n);
}

/* The median ns per decision over v[n], clients taken in turn from cl[ncl];
 * when takes, the chosen candidate's count goes up (back after each round). */
static double
lbbench_decide(struct lbpick_cand *v, size_t n, const struct lbpick_where *cl,
    size_t ncl, const struct lbpick_where *local, bool takes, long *sum)
{
	static double t[ROUNDS];
	uint32_t *conns0 = malloc(n * sizeof(*conns0));
	size_t i, r, k;
	double t0;

	if (conns0 == NULL)
		exit(2);
	for (i = 0; i < n; i++)
		conns0[i] = v[i].conns;
	for (r = 0; r < ROUNDS; r++) {
		t0 = lbbench_now();
		for (k = 0; k < PER; k++) {
			long p = lbpick_pick(v, n, &cl[k % ncl], local, -1);

			*sum += p;
			if (takes && p >= 0)
				v[p].conns++;
		}
		t[r] = (lbbench_now() - t0) / PER;
		for (i = 0; i < n; i++)
			v[i].conns = conns0[i];
	}
	free(conns0);
	return lbbench_median(t);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "candidates", required_argument, NULL, 'n' },
		{ "geoip-db", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	static const uint8_t seed[16] = "lbbench-seed-16b";
	struct lbpick_where clients[64], nowhere[1], local;
	uint8_t addrs[PER][16];
	struct sockaddr_in sin[PER];
	double t[ROUNDS], t0;
	struct lbpick_cand *v, *w;
	struct regionmap rm;
	struct lbbind *b;
	const char *db = NULL;
	const char *strict = getenv("BENCH_STRICT");
	unsigned rs = 7;
	size_t n = 1000, i, r, k;
	long sum = 0;
	char what[128];
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			n = (size_t)strtoul(optarg, NULL, 10);
		else if (c == 'g')
			db = optarg;
		else
			return 2;
	}
	if (n == 0 || (v = calloc(n, sizeof(*v))) == NULL ||
	    (w = calloc(n, sizeof(*w))) == NULL)
		return 2;
	regionmap_default(&rm);
	lbbench_table(v, n, -1, 0, false, &rs);
	for (i = 0; i < 64; i++) {
		int reg = rand_r(&rs) % 4;

		memset(&clients[i], 0, sizeof(clients[i]));
		if (i % 8 == 7)
			continue;       /* no location */
		clients[i].country = lbpick_country(lbbench_countries[reg][rand_r(&rs) % 3]);
		clients[i].region = *regionmap_region(&rm, clients[i].country);
	}
	memset(nowhere, 0, sizeof(nowhere));
	memset(&local, 0, sizeof(local));
	lbpick_region(&local.region, "us", 2);

	snprintf(what, sizeof(what), "decision over %zu candidates in 4 regions", n);
	lbbench_row(what, lbbench_decide(v, n, clients, 64, &local, true, &sum), 2000);
	snprintf(what, sizeof(what), "decision over %zu candidates in 4 regions, "
	    "client without location", n);
	lbbench_row(what, lbbench_decide(v, n, nowhere, 1, &local, true, &sum), 2000);

	/* the client's region (eu, clients[0] is there) holds all or most */
	{
		struct lbpick_where one[3];

		for (i = 0; i < 3; i++) {
			memset(&one[i], 0, sizeof(one[i]));
			one[i].country = lbpick_country(lbbench_countries[2][i]);
			lbpick_region(&one[i].region, "eu", 2);
		}
		lbbench_table(w, n, 2, 100, false, &rs);
		snprintf(what, sizeof(what), "decision over %zu candidates all in the "
		    "client's region", n);
		lbbench_row(what, lbbench_decide(w, n, one, 3, &local, true, &sum), 2000);
		lbbench_table(w, n, 2, 100, true, &rs);
		snprintf(what, sizeof(what), "decision over %zu candidates all in the "
		    "client's region, no connections", n);
		lbbench_row(what, lbbench_decide(w, n, one, 3, &local, true, &sum), 2000);
		lbbench_table(w, n, 2, 90, false, &rs);
		snprintf(what, sizeof(what), "decision over %zu candidates 90%% in the "
		    "client's region", n);
		lbbench_row(what, lbbench_decide(w, n, one, 3, &local, true, &sum), 2000);
		lbbench_table(w, n, 1, 100, false, &rs);
		snprintf(what, sizeof(what), "decision over %zu candidates all in this "
		    "node's region, client without location", n);
		lbbench_row(what, lbbench_decide(w, n, nowhere, 1, &local, true, &sum), 2000);
	}

	/* affinity: PER clients bound once, then every decision a hit */
	if (lbbind_new(&b, LBBIND_MAX_DEFAULT, LBBIND_TTL_DEFAULT, seed) != 0)
		return 1;
	for (k = 0; k < PER; k++) {
		long p = lbpick_pick(v, n, &clients[k % 64], &local, -1);

		memset(addrs[k], 0, 16);
		addrs[k][10] = addrs[k][11] = 0xff;
		addrs[k][12] = 198;
		addrs[k][13] = (uint8_t)(k >> 8);
		addrs[k][14] = (uint8_t)k;
		addrs[k][15] = 1;
		lbbind_put(b, 1, addrs[k], v[p].id, (uint32_t)p, 0);
	}
	for (r = 0; r < ROUNDS; r++) {
		t0 = lbbench_now();
		for (k = 0; k < PER; k++) {
			uint64_t cand;
			uint32_t hint;
			long bound = -1;

			if (lbbind_get(b, 1, addrs[k], 1 + r, &cand, &hint))
				bound = lbpick_find(v, n, cand, hint);
			sum += lbpick_pick(v, n, &clients[k % 64], &local, bound);
		}
		t[r] = (lbbench_now() - t0) / PER;
	}
	lbbench_row("affinity hit", lbbench_median(t), 500);
	if (lbbind_stats(b)->hits != (uint64_t)ROUNDS * PER) {
		fprintf(stderr, "lbbench: expected every lookup to hit\n");
		return 1;
	}

	/* a new client every time: miss, decide, bind */
	for (r = 0; r < ROUNDS; r++) {
		t0 = lbbench_now();
		for (k = 0; k < PER; k++) {
			uint64_t cand;
			uint32_t hint;
			uint8_t a[16];
			long p;

			uint32_t u = (uint32_t)(r * PER + k);

			memcpy(a, addrs[k], 16);
			a[12] = 203;
			a[13] = (uint8_t)(u >> 16);
			a[14] = (uint8_t)(u >> 8);
			a[15] = (uint8_t)u;
			if (lbbind_get(b, 2, a, 1 + r, &cand, &hint))
				continue;
			p = lbpick_pick(v, n, &clients[k % 64], &local, -1);
			if (p >= 0)
				lbbind_put(b, 2, a, v[p].id, (uint32_t)p, 1 + r);
		}
		t[r] = (lbbench_now() - t0) / PER;
	}
	snprintf(what, sizeof(what), "miss + decision + bind (%zu bindings "
	    "held)", lbbind_count(b));
	lbbench_row(what, lbbench_median(t), 0);
	lbbind_free(b);

	if (db != NULL) {
		struct geoip *g;
		char err[256];
		unsigned found = 0;

		if (geoip_open(&g, db, err, sizeof(err)) != 0) {
			fprintf(stderr, "lbbench: %s\n", err);
			return 1;
		}
		for (k = 0; k < PER; k++) {
			memset(&sin[k], 0, sizeof(sin[k]));
			sin[k].sin_family = AF_INET;
			sin[k].sin_addr.s_addr = htonl(0x01000000u +
			    (uint32_t)rand_r(&rs) % 0xdf000000u);
		}
		for (r = 0; r < ROUNDS; r++) {
			t0 = lbbench_now();
			for (k = 0; k < PER; k++)
				found += geoip_country(g, (struct sockaddr *)&sin[k]) != 0;
			t[r] = (lbbench_now() - t0) / PER;
		}
		printf("lbbench: geoip lookup median %.0f ns/lookup (%u of %u "
		    "addresses placed)\n", lbbench_median(t), found, ROUNDS * PER);
		geoip_free(g);
	}
	free(w);
	free(v);
	printf("lbbench: %u targets missed\n", lbbench_missed);
	if (sum == 42)
		return 3;       /* keeps the loops' results alive */
	return lbbench_missed > 0 && strict != NULL && strcmp(strict, "1") == 0;
}
