/* log — logfmt lines on stderr, one write(2) per line.
 *
 *   log_info("conn.open", "conn=%u peer=%s", id, peer);
 *   -> ts=2026-11-21T12:00:00.123Z lvl=info proc=acceptor ev=conn.open conn=91 peer=...
 *
 * The level is checked before the arguments are evaluated. Never log tokens,
 * keys or payloads. */
#ifndef WARREN_LOG_H
#define WARREN_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Process-wide logging settings: set once at startup, read-only afterwards. */
struct log_conf {
	const char *proc;       /* proc= attribute, e.g. "acceptor" */
	enum log_level level;
};
extern struct log_conf log_conf;

/* Sets the proc name and level ("debug", "info", "warn", "error"); returns 0
 * or -EINVAL for an unknown level name. */
int log_setup(const char *proc, const char *level);

/* Writes one line: common attributes, ev=<event>, then the formatted rest. */
void log_write(enum log_level lvl, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_at(lvl, ev, ...) \
	do { if ((lvl) >= log_conf.level) log_write((lvl), (ev), __VA_ARGS__); } while (0)
#define log_debug(ev, ...) log_at(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_at(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_at(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_at(LOG_ERROR, ev, __VA_ARGS__)

#endif
