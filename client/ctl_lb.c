/* ctl_lb — clusterctl lb: the load balancer as operators see it.
 *
 *   clusterctl lb explain --app APP --client-ip IP [--json]
 *   clusterctl lb health [--node NAME] [--local] [--json]
 *
 * explain asks the node which of APP's backends a client at IP would get,
 * and why: every candidate with its tier, load and score, computed by the
 * decision the node runs. health shows every live node's health-check
 * results (each node checks from where it stands and publishes its own in
 * routing.db), one row per node and backend, and says which backends are
 * down and where the nodes disagree; --local: only the asked node's live
 * view (GET /v1/lb/health, as before). */
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

/* Fetches path into *out (a JSON array). Returns 0, 404 when the node does
 * not know the path, or -1 after printing why. */
static int
ctl_lb_fetch(struct ctl *c, const char *path, json_t **out)
{
	struct ctl_resp r;
	json_error_t je;
	char err[512];

	*out = NULL;
	if (ctl_http(c, "GET", path, NULL, 0, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", c->prog, err);
		return -1;
	}
	if (r.status == 404) {
		ctl_resp_fini(&r);
		return 404;
	}
	if (r.status != 200) {
		ctl_print_error(c, "lb health", &r);
		ctl_resp_fini(&r);
		return -1;
	}
	if ((*out = json_loadb(r.body, r.len, 0, &je)) == NULL ||
	    !json_is_array(*out)) {
		fprintf(stderr, "%s: lb health: the node answered %s with something "
		    "that is not a JSON array (%s)\n", c->prog, path, je.text);
		json_decref(*out);
		*out = NULL;
		ctl_resp_fini(&r);
		return -1;
	}
	ctl_resp_fini(&r);
	return 0;
}

static bool
ctl_lb_same_target(json_t *a, json_t *b)
{
	return strcmp(ctl_lb_s(a, "app"), ctl_lb_s(b, "app")) == 0 &&
	    strcmp(ctl_lb_s(a, "id"), ctl_lb_s(b, "id")) == 0;
}

/* Appends ", name" (or "name" first) to list. */
static void
ctl_lb_list_add(char *list, size_t len, const char *name)
{
	size_t n = strlen(list);

	if (n + 1 < len)
		snprintf(list + n, len - n, "%s%s", n > 0 ? ", " : "", name);
}

/* Is the target of arr[i] (entries of one target are adjacent) down on
 * some nodes and up on others? */
static bool
ctl_lb_split(json_t *arr, size_t i)
{
	size_t j = i, n = json_array_size(arr);
	bool up = false, down = false;

	while (j > 0 && ctl_lb_same_target(json_array_get(arr, j - 1),
	    json_array_get(arr, i)))
		j--;
	for (; j < n && ctl_lb_same_target(json_array_get(arr, j),
	    json_array_get(arr, i)); j++) {
		const char *st = ctl_lb_s(json_array_get(arr, j), "state");

		up |= strcmp(st, "up") == 0;
		down |= strcmp(st, "down") == 0;
	}
	return up && down;
}

/* One line per backend that is not up on every node. Returns how many. */
static int
ctl_lb_summary(json_t *arr)
{
	char up[1024], down[1024], other[1024];
	size_t i = 0, j, n = json_array_size(arr);
	int lines = 0;

	while (i < n) {
		json_t *first = json_array_get(arr, i);

		up[0] = down[0] = other[0] = '\0';
		for (j = i; j < n && ctl_lb_same_target(json_array_get(arr, j),
		    first); j++) {
			json_t *o = json_array_get(arr, j);
			const char *st = ctl_lb_s(o, "state");

			ctl_lb_list_add(strcmp(st, "up") == 0 ? up :
			    strcmp(st, "down") == 0 ? down : other,
			    sizeof(up), ctl_lb_s(o, "node"));
		}
		i = j;
		if (down[0] == '\0' && other[0] == '\0')
			continue;
		if (lines++ == 0)
			printf("\n");
		printf("%s/%s: ", ctl_lb_s(first, "app"), ctl_lb_s(first, "id"));
		if (down[0] != '\0' && up[0] != '\0')
			printf("NODES DISAGREE: down on %s; up on %s", down, up);
		else if (down[0] != '\0')
			printf("down on every node that checked it (%s)", down);
		else
			printf("up on %s", up[0] != '\0' ? up : "no node");
		if (other[0] != '\0')
			printf("; no result yet from %s", other);
		printf("\n");
	}
	return lines;
}

/* Every node's view of every candidate that has a health check. */
static int
ctl_lb_health(struct ctl *c, int argc, char **argv)
{
	const char *only = ctl_lb_opt(argc, argv, "--node");
	bool local = ctl_flag(argc, argv, "--local");
	json_t *arr, *shown, *o;
	char since[32], *text;
	size_t i;
	int rc, splits = 0;
	bool split;

	rc = ctl_lb_fetch(c, local ? "/v1/lb/health" : "/v1/lb/health/all", &arr);
	if (rc == 404 && !local) {
		/* a node from before every node's results were replicated */
		fprintf(stderr, "%s: lb health: the node shows only its own "
		    "view (it predates /v1/lb/health/all)\n", c->prog);
		rc = ctl_lb_fetch(c, "/v1/lb/health", &arr);
	}
	if (rc == 404)
		fprintf(stderr, "%s: lb health: the node has no /v1/lb/health\n",
		    c->prog);
	if (rc != 0)
		return 1;
	if ((shown = json_array()) == NULL) {
		json_decref(arr);
		return 1;
	}
	json_array_foreach(arr, i, o)
		if (only == NULL || strcmp(ctl_lb_s(o, "node"), only) == 0)
			json_array_append(shown, o);
	if (ctl_flag(argc, argv, "--json")) {
		if ((text = json_dumps(shown, JSON_COMPACT)) != NULL)
			printf("%s\n", text);
		free(text);
		json_decref(shown);
		json_decref(arr);
		return text != NULL ? 0 : 1;
	}
	printf("  %-14s %-14s %-18s %-22s %-16s %-8s %-6s %s\n", "NODE", "APP",
	    "BACKEND", "ADDRESS", "CHECK", "STATE", "SINCE", "LAST ERROR");
	json_array_foreach(arr, i, o) {
		const char *st = ctl_lb_s(o, "state");

		if (only != NULL && strcmp(ctl_lb_s(o, "node"), only) != 0)
			continue;
		if (strcmp(st, "unknown") == 0)
			snprintf(since, sizeof(since), "-");
		else
			ctl_ago(since, sizeof(since), (long long)json_real_value(
			    json_object_get(o, "since_s")));
		split = ctl_lb_split(arr, i);
		splits += split;
		printf("%s %-14s %-14s %-18s %-22s %-16s %-8s %-6s %s\n",
		    split ? "!" : " ", ctl_lb_s(o, "node"), ctl_lb_s(o, "app"),
		    ctl_lb_s(o, "id"), ctl_lb_s(o, "addr"), ctl_lb_s(o, "check"), st,
		    since, strcmp(st, "up") == 0 ? "-" : ctl_lb_s(o, "last_error"));
	}
	if (json_array_size(shown) == 0 && only != NULL)
		printf("  (no health checks reported by node %s)\n", only);
	else if (json_array_size(arr) == 0)
		printf("  (no health checks: clusterctl apps set APP --check ...)\n");
	else if (ctl_lb_summary(arr) == 0)
		printf("\nevery checked backend is up on every node\n");
	if (splits > 0)
		printf("(! marks backends the nodes disagree on)\n");
	json_decref(shown);
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
	    "       %s lb health [--node NAME] [--local] [--json]\n", c->prog, c->prog, c->prog);
	return 2;
}
