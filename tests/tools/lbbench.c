/* lbbench — time per load-balancing decision (make bench).
 *
 *   lbbench [--candidates N] [--geoip-db FILE]
 *
 * A table of N candidates (default 1,000) in four regions with mixed
 * countries, weights, limits, loads and a few out; clients from a spread of
 * countries and some without a location. Rows, each the median over 201
 * rounds of the mean of 1,000 decisions:
 *   decision        lbpick_pick() over the whole table (sorted by region
 *                   and prepared, as the route table keeps it)
 *   one region      the same with every candidate in the client's region:
 *                   nothing to skip, the cost of a full scan
 *   affinity hit    lbbind_get() + lbpick_find() + lbpick_pick(bound)
 *   miss + bind     lbbind_get() (miss) + lbpick_pick() + lbbind_put()
 *   geoip lookup    geoip_country() (with --geoip-db)
 * Prints one line per row: "lbbench: ROW median NS ns/decision (target T)". */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "candidates", required_argument, NULL, 'n' },
		{ "geoip-db", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	static const uint8_t seed[16] = "lbbench-seed-16b";
	struct lbpick_where clients[64], local;
	uint8_t addrs[PER][16];
	struct sockaddr_in sin[PER];
	double t[ROUNDS], t0;
	struct lbpick_cand *v;
	uint32_t *conns0;
	struct regionmap rm;
	struct lbbind *b;
	const char *db = NULL;
	unsigned rs = 7;
	size_t n = 1000, i, r, k;
	long sum = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			n = (size_t)strtoul(optarg, NULL, 10);
		else if (c == 'g')
			db = optarg;
		else
			return 2;
	}
	if (n == 0 || (v = calloc(n, sizeof(*v))) == NULL)
		return 2;
	regionmap_default(&rm);
	for (i = 0; i < n; i++) {
		char id[32];
		int reg = rand_r(&rs) % 4;

		snprintf(id, sizeof(id), "%s-node-%zu", lbbench_regions[reg], i);
		v[i].id = lbpick_id(id, strlen(id));
		lbpick_region(&v[i].region, lbbench_regions[reg], 2);
		v[i].country = lbpick_country(lbbench_countries[reg][rand_r(&rs) % 3]);
		v[i].weight = 1 + (uint32_t)(rand_r(&rs) % 4);
		v[i].soft_limit = 50 + (uint32_t)(rand_r(&rs) % 150);
		v[i].conns = (uint32_t)(rand_r(&rs) % 200);
		v[i].hard_limit = rand_r(&rs) % 2 ? 0 : v[i].conns + 1 +
		    (uint32_t)(rand_r(&rs) % 100);
		v[i].flags = rand_r(&rs) % 50 == 0 ? LBPICK_UNHEALTHY : 0;
	}
	qsort(v, n, sizeof(*v), lbbench_byregion);
	lbpick_prepare(v, n);
	if ((conns0 = calloc(n, sizeof(*conns0))) == NULL)
		return 2;
	for (i = 0; i < n; i++)
		conns0[i] = v[i].conns;
	for (i = 0; i < 64; i++) {
		int reg = rand_r(&rs) % 4;

		memset(&clients[i], 0, sizeof(clients[i]));
		if (i % 8 == 7)
			continue;       /* no location */
		clients[i].country = lbpick_country(lbbench_countries[reg][rand_r(&rs) % 3]);
		clients[i].region = *regionmap_region(&rm, clients[i].country);
	}
	memset(&local, 0, sizeof(local));
	lbpick_region(&local.region, "us", 2);

	/* decision */
	for (r = 0; r < ROUNDS; r++) {
		t0 = lbbench_now();
		for (k = 0; k < PER; k++) {
			long p = lbpick_pick(v, n, &clients[k % 64], &local, -1);

			sum += p;
			if (p >= 0)     /* the chosen one takes the connection */
				v[p].conns++;
		}
		t[r] = (lbbench_now() - t0) / PER;
		for (k = 0; k < n; k++)         /* back to where it was */
			v[k].conns = conns0[k];
	}
	printf("lbbench: decision over %zu candidates median %.0f ns/decision "
	    "(target <= 2000)\n", n, lbbench_median(t));

	/* the bound: every candidate in the client's region, none skipped */
	{
		struct lbpick_cand *w = malloc(n * sizeof(*w));
		struct lbpick_where one = clients[0];

		if (w == NULL)
			return 2;
		memcpy(w, v, n * sizeof(*w));
		for (i = 0; i < n; i++)
			w[i].region = one.region;
		lbpick_prepare(w, n);
		for (r = 0; r < ROUNDS; r++) {
			t0 = lbbench_now();
			for (k = 0; k < PER; k++)
				sum += lbpick_pick(w, n, &one, &local, -1);
			t[r] = (lbbench_now() - t0) / PER;
		}
		printf("lbbench: decision over %zu candidates all in the client's "
		    "region median %.0f ns/decision (the full scan)\n", n,
		    lbbench_median(t));
		free(w);
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
	printf("lbbench: affinity hit median %.0f ns/decision (target <= 500)\n",
	    lbbench_median(t));
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
	printf("lbbench: miss + decision + bind median %.0f ns/decision "
	    "(%zu bindings held)\n", lbbench_median(t), lbbind_count(b));
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
	free(conns0);
	free(v);
	return sum == 42 ? 3 : 0;       /* keeps the loops' results alive */
}
