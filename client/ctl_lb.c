/* ctl_lb — clusterctl lb: the load balancer as operators see it.
 *
 *   clusterctl lb explain --app APP --client-ip IP [--json]
 *   clusterctl lb health [--json]
 *
 * asks the node which of APP's backends a client at IP would get, and why:
 * every candidate with its tier, load and score, computed by the decision
 * the node runs. */
#include "client/ctl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
ctl_lb_opt(int argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], name) == 0 && i + 1 < argc)
			return argv[i + 1];
		if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
			return argv[i] + n + 1;
	}
	return NULL;
}

static const char *
ctl_lb_s(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : "-";
}

static int
ctl_lb_explain(struct ctl *c, int argc, char **argv)
{
	const char *app = ctl_lb_opt(argc, argv, "--app");
	const char *ip = ctl_lb_opt(argc, argv, "--client-ip");
	static const char *const tiers[] = { "country", "region", "this node's",
	    "other" };
	char path[512];
	json_t *j, *arr, *o;
	size_t i;
	int rc;

	if (app == NULL || ip == NULL || strchr(app, '/') != NULL ||
	    strchr(ip, '/') != NULL) {
		fprintf(stderr, "%s: usage: %s lb explain --app APP --client-ip IP "
		    "[--json]\n", c->prog, c->prog);
		return 2;
	}
	snprintf(path, sizeof(path), "/v1/lb/explain/%s/%s", app, ip);
	if ((rc = ctl_get_json(c, path, "lb explain", argc, argv, false, &j)) != 0)
		return rc < 0 ? 1 : 0;
	printf("client %s: country %s, region %s (GeoIP: %s); this node's region %s\n",
	    ctl_lb_s(j, "client_ip"), ctl_lb_s(j, "client_country"),
	    ctl_lb_s(j, "client_region"), ctl_lb_s(j, "geoip"),
	    ctl_lb_s(j, "node_region"));
	printf("score = geo * 100 + (conns / soft_limit) / weight; lowest wins\n\n");
	printf("  %-20s %-8s %-7s %-21s %-6s %-6s %-5s %-5s %-4s %-12s %-9s %s\n",
	    "BACKEND", "REGION", "COUNTRY", "ADDRESS", "WEIGHT", "SOFT", "HARD",
	    "CONNS", "GEO", "TIER", "SCORE", "STATE");
	arr = json_object_get(j, "candidates");
	json_array_foreach(arr, i, o) {
		char addr[80], score[32];
		long long geo = json_integer_value(json_object_get(o, "geo"));

		if (strcmp(ctl_lb_s(o, "kind"), "replica") == 0)
			snprintf(addr, sizeof(addr), "tunnel@%s", ctl_lb_s(o, "node"));
		else
			snprintf(addr, sizeof(addr), "%s:%lld", ctl_lb_s(o, "wg_ip"),
			    (long long)json_integer_value(json_object_get(o, "port")));
		if (json_is_true(json_object_get(o, "eligible")))
			snprintf(score, sizeof(score), "%.4f",
			    json_real_value(json_object_get(o, "score")));
		else
			snprintf(score, sizeof(score), "-");
		printf("%s %-20s %-8s %-7s %-21s %-6lld %-6lld %-5lld %-5lld %-4lld "
		    "%-12s %-9s %s\n",
		    json_is_true(json_object_get(o, "winner")) ? "*" : " ",
		    ctl_lb_s(o, "id"), ctl_lb_s(o, "region"), ctl_lb_s(o, "country"),
		    addr, (long long)json_integer_value(json_object_get(o, "weight")),
		    (long long)json_integer_value(json_object_get(o, "soft_limit")),
		    (long long)json_integer_value(json_object_get(o, "hard_limit")),
		    (long long)json_integer_value(json_object_get(o, "conns")), geo,
		    geo >= 0 && geo <= 3 ? tiers[geo] : "?", score,
		    ctl_lb_s(o, "why"));
	}
	if (json_array_size(arr) == 0)
		printf("  (no backends for app %s)\n", ctl_lb_s(j, "app"));
	if (json_is_string(json_object_get(j, "winner")))
		printf("\nwinner: %s\n", ctl_lb_s(j, "winner"));
	else
		printf("\nwinner: none (no eligible backend)\n");
	json_decref(j);
	return 0;
}

/* This node's view of every candidate that has a health check. */
static int
ctl_lb_health(struct ctl *c, int argc, char **argv)
{
	json_t *arr, *o;
	char since[32];
	size_t i;
	int rc;

	if ((rc = ctl_get_array(c, "/v1/lb/health", "lb health", argc, argv,
	    &arr)) != 0)
		return rc < 0 ? 1 : 0;
	printf("%-16s %-20s %-22s %-18s %-10s %-8s %-9s %s\n", "APP", "BACKEND",
	    "ADDRESS", "CHECK", "STATE", "SINCE", "FAILED", "LAST ERROR");
	json_array_foreach(arr, i, o) {
		ctl_ago(since, sizeof(since), (long long)json_real_value(
		    json_object_get(o, "since_s")));
		printf("%-16s %-20s %-22s %-18s %-10s %-8s %lld/%-6lld %s\n",
		    ctl_lb_s(o, "app"), ctl_lb_s(o, "id"), ctl_lb_s(o, "addr"),
		    ctl_lb_s(o, "check"), ctl_lb_s(o, "state"), since,
		    (long long)json_integer_value(json_object_get(o, "failed")),
		    (long long)json_integer_value(json_object_get(o, "checks")),
		    ctl_lb_s(o, "last_error"));
	}
	if (json_array_size(arr) == 0)
		printf("  (no health checks: clusterctl apps set APP --check ...)\n");
	json_decref(arr);
	return 0;
}

int
ctl_lb_main(struct ctl *c, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "explain") == 0)
		return ctl_lb_explain(c, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "health") == 0)
		return ctl_lb_health(c, argc - 1, argv + 1);
	fprintf(stderr, "%s: usage: %s lb explain --app APP --client-ip IP [--json]\n"
	    "       %s lb health [--json]\n", c->prog, c->prog, c->prog);
	return 2;
}
