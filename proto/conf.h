/* conf — one option table per program drives getopt_long, the environment,
 * the config file, --help and --print-config.
 *
 * Precedence: defaults < file < environment < flags. The file is given by
 * --config FILE (or WARREN_CONFIG) and holds `name = value` lines (INI; keys
 * outside any section, or in a [common] section). The environment variable for
 * option "data-dir" is WARREN_DATA_DIR. */
#ifndef WARREN_CONF_H
#define WARREN_CONF_H

#include <stdbool.h>
#include <stddef.h>

enum conf_type {
	CONF_STR,       /* char *, strdup'ed, owned by the config struct */
	CONF_INT,       /* long long */
	CONF_BOOL,      /* bool: true/false/yes/no/on/off/1/0; a bare flag sets
	                 * true; "--flag=VALUE" or "--flag WORD" (a word, not
	                 * 1/0) sets VALUE */
	CONF_SIZE,      /* size_t: 4096, 64KiB, 1MiB, 2GiB */
	CONF_MS,        /* long long milliseconds: 250ms, 10s, 5m, 24h (bare = ms) */
	CONF_LIST,      /* char *, comma-separated: the option may be given
	                 * several times in the file or on the command line,
	                 * each value appended; a later source (env over file,
	                 * flags over env) replaces the whole list */
};

struct conf_opt {
	const char *name;       /* long flag, file key, env suffix */
	enum conf_type type;
	size_t offset;          /* offsetof() into the program's config struct */
	const char *def;        /* default as text, NULL for none */
	const char *help;
};

#define CONF_END { NULL, 0, 0, NULL, NULL }

/* Fills *cfg from defaults, file, env and argv[1..]. Positional arguments are
 * left in argv order; *argind is the index of the first. On --help prints the
 * usage and exits 0; on --print-config prints the effective config and exits
 * 0. Returns 0, or -1 after printing a sentence naming the bad option. */
int conf_load(const struct conf_opt *opts, void *cfg, int argc, char **argv,
    const char *usage, int *argind);

/* Sets one option from text; returns 0 or -1 after printing why. */
int conf_set(const struct conf_opt *opts, void *cfg, const char *name,
    const char *value, const char *origin);

/* Frees the strings conf_load() allocated. */
void conf_fini(const struct conf_opt *opts, void *cfg);

/* Parsers shared with other modules; return 0 or -1 on bad text. */
int conf_parse_size(const char *s, size_t *out);
int conf_parse_ms(const char *s, long long *out);
int conf_parse_bool(const char *s, bool *out);
/* True for the words a boolean flag takes as its next argument
 * ("--tunnel-tls false"): true, false, yes, no, on, off. */
bool conf_bool_word(const char *s);

#endif
