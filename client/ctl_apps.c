/* ctl_apps — clusterctl apps: per-app settings of the load balancer,
 * replicated to every node (the `apps` table of routing.db).
 *
 *   clusterctl apps set APP --check tcp|http:/PATH [--interval 5s]
 *       [--timeout 2s] [--rise 2] [--fall 3] [--expect 200]
 *   clusterctl apps set APP --check none
 *   clusterctl apps list [--json]
 *   clusterctl apps rm APP
 *
 * Every node checks each backend of APP from where it stands and skips
 * the ones failing there (clusterctl lb health shows every node's view). */
#include "client/ctl.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static const char ctl_apps_usage[] =
    "usage: %s apps set APP --check tcp|http:/PATH|none [--interval 5s] "
    "[--timeout 2s] [--rise 2] [--fall 3] [--expect 200]\n"
    "       %s apps list [--json]\n"
    "       %s apps rm APP\n";

static bool
ctl_apps_check_ok(const char *v)
{
	return strcmp(v, "tcp") == 0 || strcmp(v, "none") == 0 ||
	    (strncmp(v, "http:/", 6) == 0 && strlen(v) < 260 &&
	    strcspn(v, " \t\r\n") == strlen(v));
}

static int
ctl_apps_set(struct ctl *c, int argc, char **argv)
{
	static const struct { const char *flag, *col; bool ms; } nums[] = {
		{ "--interval", "interval_ms", true },
		{ "--timeout", "timeout_ms", true },
		{ "--rise", "rise", false },
		{ "--fall", "fall", false },
		{ "--expect", "expect", false },
	};
	const char *app, *check = NULL;
	json_t *row;
	char *body;
	size_t k;
	int i, rc;

	if (argc < 2 || argv[1][0] == '-' || strchr(argv[1], '/') != NULL) {
		fprintf(stderr, ctl_apps_usage, c->prog, c->prog, c->prog);
		return 2;
	}
	app = argv[1];
	row = json_pack("{s:s}", "app", app);
	for (i = 2; i < argc; i++) {
		const char *flag = argv[i], *val = NULL;
		char name[32];
		const char *eq = strchr(flag, '=');

		if (eq != NULL) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - flag), flag);
			flag = name;
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		}
		if (val == NULL)
			goto usage;
		if (strcmp(flag, "--check") == 0) {
			if (!ctl_apps_check_ok(val)) {
				fprintf(stderr, "%s: --check takes tcp, http:/PATH or none, "
				    "not '%s'\n", c->prog, val);
				json_decref(row);
				return 2;
			}
			check = val;
			json_object_set_new(row, "health_check",
			    json_string(strcmp(val, "none") == 0 ? "" : val));
			continue;
		}
		for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
			if (strcmp(flag, nums[k].flag) == 0)
				break;
		if (k == sizeof(nums) / sizeof(nums[0]))
			goto usage;
		{
			long long v;
			char *end;

			if (nums[k].ms) {
				if (conf_parse_ms(val, &v) != 0 || v <= 0 || v > 86400000) {
					fprintf(stderr, "%s: %s takes a duration (500ms, 5s), "
					    "not '%s'\n", c->prog, nums[k].flag, val);
					json_decref(row);
					return 2;
				}
			} else {
				errno = 0;
				v = strtoll(val, &end, 10);
				if (errno || *end != '\0' || v < 1 || v > 999) {
					fprintf(stderr, "%s: %s takes a number from 1 to 999, "
					    "not '%s'\n", c->prog, nums[k].flag, val);
					json_decref(row);
					return 2;
				}
			}
			json_object_set_new(row, nums[k].col, json_integer(v));
		}
	}
	if (check == NULL) {
		fprintf(stderr, "%s: apps set needs --check tcp|http:/PATH|none\n",
		    c->prog);
		json_decref(row);
		return 2;
	}
	json_object_set_new(row, "deleted", json_integer(0));
	body = json_dumps(row, JSON_COMPACT);
	json_decref(row);
	if (body == NULL)
		return 1;
	rc = ctl_write(c, "apps set", "POST", "/v1/apps", body);
	free(body);
	return rc;
usage:
	json_decref(row);
	fprintf(stderr, ctl_apps_usage, c->prog, c->prog, c->prog);
	return 2;
}

static int
ctl_apps_list(struct ctl *c, int argc, char **argv)
{
	json_t *arr, *o;
	size_t i;
	int rc;

	if ((rc = ctl_get_array(c, "/v1/apps", "apps list", argc, argv, &arr)) != 0)
		return rc < 0 ? 1 : 0;
	printf("%-24s %-24s %-10s %-10s %-5s %-5s %s\n", "APP", "CHECK",
	    "INTERVAL", "TIMEOUT", "RISE", "FALL", "EXPECT");
	json_array_foreach(arr, i, o) {
		const char *chk = json_string_value(json_object_get(o, "health_check"));

		printf("%-24s %-24s %-10lld %-10lld %-5lld %-5lld %lld\n",
		    json_string_value(json_object_get(o, "app")),
		    chk != NULL && chk[0] != '\0' ? chk : "none",
		    (long long)json_integer_value(json_object_get(o, "interval_ms")),
		    (long long)json_integer_value(json_object_get(o, "timeout_ms")),
		    (long long)json_integer_value(json_object_get(o, "rise")),
		    (long long)json_integer_value(json_object_get(o, "fall")),
		    (long long)json_integer_value(json_object_get(o, "expect")));
	}
	json_decref(arr);
	return 0;
}

int
ctl_apps_main(struct ctl *c, int argc, char **argv)
{
	char path[512];

	if (argc >= 2 && strcmp(argv[1], "set") == 0)
		return ctl_apps_set(c, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return ctl_apps_list(c, argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[1], "rm") == 0 &&
	    strchr(argv[2], '/') == NULL) {
		snprintf(path, sizeof(path), "/v1/apps/%s", argv[2]);
		return ctl_write(c, "apps rm", "DELETE", path, NULL);
	}
	fprintf(stderr, ctl_apps_usage, c->prog, c->prog, c->prog);
	return 2;
}
