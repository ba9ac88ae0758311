#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONF_MAX_OPTS 128

static const struct conf_opt *
conf_find(const struct conf_opt *opts, const char *name)
{
	for (; opts->name != NULL; opts++)
		if (strcmp(opts->name, name) == 0)
			return opts;
	return NULL;
}

int
conf_parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1") ||
	    !strcasecmp(s, "on"))
		*out = true;
	else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") ||
	    !strcmp(s, "0") || !strcasecmp(s, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

bool
conf_bool_word(const char *s)
{
	static const char *const words[] = { "true", "false", "yes", "no", "on",
	    "off" };
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

int
conf_parse_size(const char *s, size_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	/* strtoull takes leading blanks and a sign (" -1" wraps around):
	 * only digits may start a size */
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	while (*end == ' ')
		end++;
	if (*end == '\0' || !strcasecmp(end, "b"))
		mul = 1;
	else if (!strcasecmp(end, "k") || !strcasecmp(end, "kib") || !strcasecmp(end, "kb"))
		mul = 1ULL << 10;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "mib") || !strcasecmp(end, "mb"))
		mul = 1ULL << 20;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "gib") || !strcasecmp(end, "gb"))
		mul = 1ULL << 30;
	else
		return -1;
	if (v > SIZE_MAX / mul)
		return -1;
	*out = (size_t)(v * mul);
	return 0;
}

int
conf_parse_ms(const char *s, long long *out)
{
	long long v, mul;
	char *end;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	if (*end == '\0' || !strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "s"))
		mul = 1000;
	else if (!strcmp(end, "m"))
		mul = 60 * 1000;
	else if (!strcmp(end, "h"))
		mul = 3600 * 1000;
	else
		return -1;
	if (v > INT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int
conf_apply(const struct conf_opt *o, void *cfg, const char *value,
    const char *origin, bool append)
{
	char *p = (char *)cfg + o->offset;
	long long ll;
	char *end;
	int rc = 0;

	switch (o->type) {
	case CONF_LIST: {
		const char *old = *(char **)p;
		char *joined;

		if (!append || old == NULL || old[0] == '\0' || value[0] == '\0')
			joined = strdup(value);
		else if (asprintf(&joined, "%s,%s", old, value) == -1)
			joined = NULL;
		if (joined == NULL)
			return -1;
		free(*(char **)p);
		*(char **)p = joined;
		break;
	}
	case CONF_STR: {
		char *dup = strdup(value);
		if (dup == NULL)
			return -1;
		free(*(char **)p);
		*(char **)p = dup;
		break;
	}
	case CONF_INT:
		errno = 0;
		ll = strtoll(value, &end, 10);
		if (errno || end == value || *end != '\0')
			rc = -1;
		else
			*(long long *)p = ll;
		break;
	case CONF_BOOL:
		rc = conf_parse_bool(value, (bool *)p);
		break;
	case CONF_SIZE:
		rc = conf_parse_size(value, (size_t *)p);
		break;
	case CONF_MS:
		rc = conf_parse_ms(value, (long long *)p);
		break;
	}
	if (rc != 0)
		fprintf(stderr, "warren: bad value '%s' for %s (from %s)\n", value,
		    o->name, origin);
	return rc;
}

int
conf_set(const struct conf_opt *opts, void *cfg, const char *name,
    const char *value, const char *origin)
{
	const struct conf_opt *o = conf_find(opts, name);

	if (o == NULL) {
		fprintf(stderr, "warren: unknown option '%s' (from %s)\n", name,
		    origin);
		return -1;
	}
	return conf_apply(o, cfg, value, origin, false);
}

struct conf_file_ctx {
	const struct conf_opt *opts;
	void *cfg;
	const char *path;
	int failed;
	bool seen[CONF_MAX_OPTS];       /* lists: the next line appends */
};

static int
conf_file_line(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_file_ctx *fc = user;
	const struct conf_opt *o;
	char origin[512];

	if (section[0] != '\0' && strcmp(section, "common") != 0)
		return 1;
	snprintf(origin, sizeof(origin), "config file %s", fc->path);
	o = conf_find(fc->opts, name);
	if (o != NULL && o->type == CONF_LIST && (size_t)(o - fc->opts) <
	    CONF_MAX_OPTS) {
		if (conf_apply(o, fc->cfg, value, origin, fc->seen[o - fc->opts]) != 0)
			fc->failed = 1;
		fc->seen[o - fc->opts] = true;
		return 1;
	}
	if (conf_set(fc->opts, fc->cfg, name, value, origin) != 0)
		fc->failed = 1;
	return 1;
}

static void
conf_env_name(const char *name, char *out, size_t len)
{
	size_t i = 0, j;

	j = (size_t)snprintf(out, len, "WARREN_");
	for (; name[i] != '\0' && j + 1 < len; i++)
		out[j++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	out[j] = '\0';
}

static void
conf_usage(const struct conf_opt *opts, const char *usage)
{
	char env[96], flag[64];

	printf("%s\n\nOptions (each also from the environment and the config file):\n",
	    usage);
	for (; opts->name != NULL; opts++) {
		conf_env_name(opts->name, env, sizeof(env));
		snprintf(flag, sizeof(flag), "--%s%s", opts->name,
		    opts->type == CONF_BOOL ? " [BOOL]" : opts->type == CONF_LIST ?
		    " VALUE..." : " VALUE");
		printf("  %-28s %s", flag, opts->help);
		if (opts->def != NULL && opts->def[0] != '\0')
			printf(" [default: %s]", opts->def);
		printf(" (%s)\n", env);
	}
	printf("  %-28s %s\n", "--config FILE", "read options from FILE (WARREN_CONFIG)");
	printf("  %-28s %s\n", "--print-config", "print the effective configuration and exit");
	printf("  %-28s %s\n", "--help", "show this help");
}

static void
conf_print(const struct conf_opt *opts, const void *cfg)
{
	for (; opts->name != NULL; opts++) {
		const char *p = (const char *)cfg + opts->offset;

		printf("%s = ", opts->name);
		switch (opts->type) {
		case CONF_STR:
		case CONF_LIST:
			printf("%s\n", *(char *const *)p ? *(char *const *)p : "");
			break;
		case CONF_INT:
		case CONF_MS:
			printf("%lld%s\n", *(const long long *)p,
			    opts->type == CONF_MS ? "ms" : "");
			break;
		case CONF_BOOL:
			printf("%s\n", *(const bool *)p ? "true" : "false");
			break;
		case CONF_SIZE:
			printf("%zu\n", *(const size_t *)p);
			break;
		}
	}
}

int
conf_load(const struct conf_opt *opts, void *cfg, int argc, char **argv,
    const char *usage, int *argind)
{
	struct option lopts[CONF_MAX_OPTS + 4];
	const struct conf_opt *o;
	const char *file;
	char env[96];
	bool print = false, seen[CONF_MAX_OPTS] = { false };
	int n = 0, c, idx, i;

	for (o = opts; o->name != NULL; o++) {
		if (n >= CONF_MAX_OPTS)
			return -1;
		lopts[n++] = (struct option){ o->name,
		    o->type == CONF_BOOL ? optional_argument : required_argument,
		    NULL, 0 };
		if (o->def != NULL && conf_apply(o, cfg, o->def, "default", false) != 0)
			return -1;
	}
	lopts[n++] = (struct option){ "config", required_argument, NULL, 0 };
	lopts[n++] = (struct option){ "print-config", no_argument, NULL, 0 };
	lopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lopts[n] = (struct option){ NULL, 0, NULL, 0 };

	/* First pass: find --config and --help without applying flags. */
	file = getenv("WARREN_CONFIG");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			conf_usage(opts, usage);
			exit(0);
		}
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			file = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			file = argv[i] + 9;
	}
	if (file != NULL && file[0] != '\0') {
		struct conf_file_ctx fc = { opts, cfg, file, 0, { false } };
		int rc = ini_parse(file, conf_file_line, &fc);

		if (rc < 0) {
			fprintf(stderr, "warren: cannot read config file %s\n", file);
			return -1;
		}
		if (rc > 0) {
			fprintf(stderr, "warren: config file %s: syntax error on line %d\n",
			    file, rc);
			return -1;
		}
		if (fc.failed)
			return -1;
	}
	for (o = opts; o->name != NULL; o++) {
		const char *v;

		conf_env_name(o->name, env, sizeof(env));
		if ((v = getenv(env)) != NULL && conf_apply(o, cfg, v, env, false) != 0)
			return -1;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lopts, &idx)) != -1) {
		if (c == '?') {
			fprintf(stderr, "warren: unknown or incomplete option '%s' (try --help)\n",
			    argv[optind - 1]);
			return -1;
		}
		if (c == 'h')
			continue;
		if (!strcmp(lopts[idx].name, "config"))
			continue;
		if (!strcmp(lopts[idx].name, "print-config")) {
			print = true;
			continue;
		}
		o = &opts[idx];
		/* a boolean takes "--flag", "--flag=VALUE" and "--flag WORD"
		 * (true/false/yes/no/on/off: a word, so a positional number
		 * after a bare flag stays positional) */
		if (o->type == CONF_BOOL && optarg == NULL && optind < argc &&
		    conf_bool_word(argv[optind]))
			optarg = argv[optind++];
		if (o->type == CONF_BOOL && optarg == NULL)
			*(bool *)((char *)cfg + o->offset) = true;
		else if (conf_apply(o, cfg, optarg, "command line", seen[idx]) != 0)
			return -1;
		seen[idx] = true;
	}
	if (print) {
		conf_print(opts, cfg);
		exit(0);
	}
	*argind = optind;
	return 0;
}

void
conf_fini(const struct conf_opt *opts, void *cfg)
{
	for (; opts->name != NULL; opts++) {
		if (opts->type == CONF_STR || opts->type == CONF_LIST) {
			char **p = (char **)((char *)cfg + opts->offset);
			free(*p);
			*p = NULL;
		}
	}
}
