/* ctl_tokens — clusterctl tokens: create, list and revoke tunnel tokens
 * through the admin API's /v1/tokens (router/tokenapi.h).
 *
 *   tokens create --allow PATTERN... [--allow-port LO-HI...] [--note TEXT]
 *                 prints the token once, alone on its last line
 *   tokens list [--json]
 *   tokens revoke ID */
#ifndef WARREN_CTL_TOKENS_H
#define WARREN_CTL_TOKENS_H

struct ctl;

/* The "tokens" subcommand (argv[0] == "tokens"); returns the exit status:
 * 0, 1 when the node refused or failed, 2 for a usage error. */
int ctl_tokens_main(struct ctl *c, int argc, char **argv);

#endif
