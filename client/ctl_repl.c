/* ctl_repl — clusterctl routes, sync, backends, domains: the replicated
 * routing.db as operators see it. */
#include "client/ctl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *
ctl_s(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : "-";
}

static long long
ctl_i(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}


int
ctl_routes_main(struct ctl *c, int argc, char **argv)
{
	json_t *arr, *o;
	char name[280], age[32], state[32];
	size_t i;
	int rc;

	if ((rc = ctl_get_array(c, "/v1/routes", "routes", argc, argv, &arr)) != 0)
		return rc < 0 ? 1 : 0;
	printf("%-36s %-5s %-14s %-8s %-18s %-18s %-16s %-16s %s\n", "NAME",
	    "KIND", "NODE", "REGION", "CLIENT", "TOKEN", "STATE", "SESSION", "AGE");
	json_array_foreach(arr, i, o) {
		if (strcmp(ctl_s(o, "kind"), "tcp") == 0)
			snprintf(name, sizeof(name), ":%lld", ctl_i(o, "port"));
		else
			snprintf(name, sizeof(name), "%s", ctl_s(o, "host"));
		snprintf(state, sizeof(state), "%s%s", ctl_s(o, "state"),
		    json_is_true(json_object_get(o, "holder")) ? " *" :
		    !json_is_true(json_object_get(o, "node_alive")) ? " (down)" : "");
		ctl_ago(age, sizeof(age), ctl_i(o, "age_s"));
		printf("%-36s %-5s %-14s %-8s %-18.18s %-18s %-16s %-16s %s\n", name,
		    ctl_s(o, "kind"), ctl_s(o, "node"), ctl_s(o, "region"),
		    ctl_s(o, "client_id"), ctl_s(o, "token_id"), state,
		    ctl_s(o, "session"), age);
	}
	printf("(* = the claim that holds the name; a name has one holder "
	    "cluster-wide)\n");
	json_decref(arr);
	return 0;
}

int
ctl_sync_main(struct ctl *c, int argc, char **argv)
{
	json_t *j, *nodes, *o, *self;
	size_t i;
	int ok = 1, rc;

	if ((rc = ctl_get_json(c, "/v1/sync", "sync", argc, argv, false, &j)) != 0)
		return rc < 0 ? 1 : 0;
	self = json_object_get(j, "self");
	nodes = json_object_get(j, "nodes");
	printf("%-20s %-8s %-18s %-9s %-18s %-8s %-7s %s\n", "NODE", "STATE",
	    "ACTOR", "VERSION", "DIGEST", "ROWS", "BEHIND", "DATA");
	json_array_foreach(nodes, i, o) {
		char name[80], behind[24];
		json_t *b = json_object_get(o, "behind");

		snprintf(name, sizeof(name), "%s%s", ctl_s(o, "name"),
		    json_is_true(json_object_get(o, "self")) ? " *" : "");
		if (json_is_integer(b))
			snprintf(behind, sizeof(behind), "%lld", (long long)
			    json_integer_value(b));
		else
			snprintf(behind, sizeof(behind), "-");
		if (strcmp(ctl_s(o, "state"), "alive") == 0 &&
		    !json_is_true(json_object_get(o, "same_data")))
			ok = 0;
		printf("%-20s %-8s %-18s %-9lld %-18s %-8lld %-7s %s\n", name,
		    ctl_s(o, "state"), ctl_s(o, "actor"), ctl_i(o, "version"),
		    ctl_s(o, "digest"), ctl_i(o, "rows"), behind,
		    json_is_true(json_object_get(o, "same_data")) ? "same" :
		    json_object_get(o, "same_data") != NULL ? "differs" : "-");
	}
	printf("\nthis node: digest %s, %lld rows, hlc %lld ms; %s\n",
	    ctl_s(self, "digest"), ctl_i(self, "rows"), ctl_i(self, "hlc_ms"),
	    ok ? "every live node holds the same data" :
	    "some live nodes differ (changes in flight, or a partition)");
	json_decref(j);
	return 0;
}

/* "KEY=VALUE" arguments into a JSON object; numbers stay numbers for the
 * integer columns. */
static json_t *
ctl_row(int argc, char **argv, int from, const char *const *ints)
{
	json_t *o = json_object();
	int i, k;

	for (i = from; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		bool num = false;

		if (eq == NULL || eq == argv[i]) {
			json_decref(o);
			return NULL;
		}
		*eq = '\0';
		for (k = 0; ints[k] != NULL; k++)
			if (strcmp(ints[k], argv[i]) == 0)
				num = true;
		json_object_set_new(o, argv[i], num ?
		    json_integer(strtoll(eq + 1, NULL, 10)) : json_string(eq + 1));
		*eq = '=';
	}
	return o;
}

int
ctl_backends_main(struct ctl *c, int argc, char **argv)
{
	static const char *const ints[] = { "port", "healthy", "weight",
	    "soft_limit", "hard_limit", "deleted", NULL };
	static const char *const cols[] = { "id", "app", "region", "wg_ip",
	    "port", "healthy", "weight", "soft_limit", "hard_limit", NULL };
	json_t *arr, *o;
	char path[512], *body;
	size_t i;
	int rc, k;

	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		if ((rc = ctl_get_array(c, "/v1/backends", "backends list", argc,
		    argv, &arr)) != 0)
			return rc < 0 ? 1 : 0;
		printf("%-16s %-12s %-8s %-16s %-6s %-7s %-6s %-5s %-5s %s\n", "ID",
		    "APP", "REGION", "WG_IP", "PORT", "HEALTHY", "WEIGHT", "SOFT",
		    "HARD", "DELETED");
		json_array_foreach(arr, i, o)
			printf("%-16s %-12s %-8s %-16s %-6lld %-7lld %-6lld %-5lld "
			    "%-5lld %lld\n", ctl_s(o, "id"), ctl_s(o, "app"),
			    ctl_s(o, "region"), ctl_s(o, "wg_ip"), ctl_i(o, "port"),
			    ctl_i(o, "healthy"), ctl_i(o, "weight"),
			    ctl_i(o, "soft_limit"), ctl_i(o, "hard_limit"),
			    ctl_i(o, "deleted"));
		json_decref(arr);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "add") == 0) {
		/* positional as edgeProxy's INSERT, or KEY=VALUE pairs */
		if (strchr(argv[2], '=') != NULL) {
			o = ctl_row(argc, argv, 2, ints);
		} else {
			o = json_object();
			for (k = 0; cols[k] != NULL && 2 + k < argc; k++) {
				bool num = k >= 4;

				json_object_set_new(o, cols[k], num ?
				    json_integer(strtoll(argv[2 + k], NULL, 10)) :
				    json_string(argv[2 + k]));
			}
			if (2 + k < argc) {
				json_decref(o);
				o = NULL;
			}
		}
		if (o == NULL) {
			fprintf(stderr, "%s: usage: %s backends add ID APP REGION WG_IP "
			    "PORT [HEALTHY WEIGHT SOFT HARD] | KEY=VALUE...\n", c->prog,
			    c->prog);
			return 2;
		}
		if (json_object_get(o, "healthy") == NULL)
			json_object_set_new(o, "healthy", json_integer(1));
		if (json_object_get(o, "weight") == NULL)
			json_object_set_new(o, "weight", json_integer(1));
		if (json_object_get(o, "deleted") == NULL)
			json_object_set_new(o, "deleted", json_integer(0));
		body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		rc = ctl_write(c, "backends add", "POST", "/v1/backends", body);
		free(body);
		return rc;
	}
	if (argc == 3 && strcmp(argv[1], "rm") == 0) {
		snprintf(path, sizeof(path), "/v1/backends/%s", argv[2]);
		return ctl_write(c, "backends rm", "DELETE", path, NULL);
	}
	fprintf(stderr, "%s: usage: %s backends list [--json] | add ID APP REGION "
	    "WG_IP PORT [HEALTHY WEIGHT SOFT HARD] | rm ID\n", c->prog, c->prog);
	return 2;
}

int
ctl_domains_main(struct ctl *c, int argc, char **argv)
{
	json_t *arr, *o;
	char path[512], *body;
	size_t i;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		if ((rc = ctl_get_array(c, "/v1/domains", "domains list", argc, argv,
		    &arr)) != 0)
			return rc < 0 ? 1 : 0;
		printf("%-40s %s\n", "DOMAIN", "APP");
		json_array_foreach(arr, i, o)
			printf("%-40s %s\n", ctl_s(o, "domain"), ctl_s(o, "app"));
		json_decref(arr);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "add") == 0) {
		o = json_pack("{s:s, s:s, s:i}", "domain", argv[2], "app", argv[3],
		    "deleted", 0);
		body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		rc = ctl_write(c, "domains add", "POST", "/v1/domains", body);
		free(body);
		return rc;
	}
	if (argc == 3 && strcmp(argv[1], "rm") == 0) {
		snprintf(path, sizeof(path), "/v1/domains/%s", argv[2]);
		return ctl_write(c, "domains rm", "DELETE", path, NULL);
	}
	fprintf(stderr, "%s: usage: %s domains list [--json] | add DOMAIN APP | "
	    "rm DOMAIN\n", c->prog, c->prog);
	return 2;
}
