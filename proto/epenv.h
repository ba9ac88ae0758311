/* epenv — edgeProxy's environment variables, read as they are.
 *
 * An edgeProxy operator keeps their environment: each EDGEPROXY_* variable
 * (and DEBUG) is translated into the WARREN_* variable of the warren-node
 * option that does the same, unless that WARREN_* variable is set (the warren
 * name wins; a command-line flag wins over both). The translation happens
 * before the options are read, so precedence stays defaults < file < env <
 * flags, and the processes warren-node starts inherit the result.
 *
 *   EDGEPROXY_LISTEN_ADDR            --lb-listen
 *   EDGEPROXY_DB_PATH                --db-path
 *   EDGEPROXY_REGION                 --region
 *   EDGEPROXY_GEOIP_PATH             --geoip-db
 *   EDGEPROXY_BINDING_TTL_SECS       --binding-ttl (N -> Ns)
 *   EDGEPROXY_TLS_ENABLED + _TLS_LISTEN_ADDR, _TLS_CERT, _TLS_KEY
 *                                    --lb-tls-listen, --lb-tls-cert, --lb-tls-key
 *   EDGEPROXY_API_ENABLED + _API_LISTEN_ADDR   --api-listen
 *   EDGEPROXY_HEARTBEAT_TTL_SECS     --heartbeat-ttl (N -> Ns)
 *   EDGEPROXY_REPLICATION_NODE_ID    --name
 *   EDGEPROXY_REPLICATION_GOSSIP_ADDR      --gossip-listen
 *   EDGEPROXY_REPLICATION_BOOTSTRAP_PEERS  --join
 *   EDGEPROXY_DNS_ENABLED + _DNS_LISTEN_ADDR   --dns-listen
 *   EDGEPROXY_DNS_DOMAIN             --dns-domain
 *   DEBUG (any value)                --log-level debug
 *
 * EDGEPROXY_DB_RELOAD_SECS and EDGEPROXY_BINDING_GC_INTERVAL_SECS need no
 * option: commits to routing.db are noticed within 0.1 s, and expired
 * bindings are dropped as they are met. A variable whose option this build
 * lacks is reported, not silently dropped. */
#ifndef WARREN_EPENV_H
#define WARREN_EPENV_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* Translates the environment as above for a program whose options are
 * opts[]. get/set are getenv(3)/setenv(3) (tests pass their own). When
 * warn is true, prints one line on stderr per variable that cannot be
 * honoured.
 * Returns the number of WARREN_* variables set, or -1 after printing why
 * (a value that is not a number where seconds are expected). */
typedef const char *epenv_get_fn(void *arg, const char *name);
typedef int epenv_set_fn(void *arg, const char *name, const char *value);
int epenv_apply(const struct conf_opt *opts, epenv_get_fn *get,
    epenv_set_fn *set, void *arg, bool warn);

/* epenv_apply() on the process environment. */
int epenv_apply_environ(const struct conf_opt *opts, bool warn);

#endif
