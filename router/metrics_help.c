#include "metrics_help.h"

#include <string.h>

static const struct {
	const char *family, *type, *help;
} metrics_help_table[] = {
	{ "connections", "gauge", "Public connections open." },
	{ "connections_total", "counter", "Public connections accepted." },
	{ "sessions", "gauge", "Tunnel client sessions open." },
	{ "sessions_total", "counter", "Tunnel client sessions opened." },
	{ "session_protocol_errors_total", "counter",
	    "Tunnel sessions closed for a protocol error (bad frame or control message)." },
	{ "http_requests_total", "counter", "Public HTTP requests routed." },
	{ "http_errors_total", "counter",
	    "HTTP answers the edge gave itself, by status." },
	{ "registrations_total", "counter",
	    "Tunnel registrations the acceptor saw answered, by result." },
	{ "accept_errors_total", "counter",
	    "accept() failures (EMFILE and the like) on the listeners." },
	{ "conns_idle_closed_total", "counter",
	    "Public connections closed after --idle-timeout." },
	{ "spliced_bytes_total", "counter",
	    "Tunnel payload bytes moved with splice(2), without a copy." },
	{ "tls_bad_hello_total", "counter",
	    "Connections on the HTTPS port that did not start with a TLS ClientHello." },
	{ "conns_refused_total", "counter",
	    "Public connections refused, by reason (per_ip cap, policy)." },
	{ "proxy_protocol_errors_total", "counter",
	    "Missing or malformed PROXY headers from trusted load balancers." },
	{ "public_bytes_total", "counter",
	    "Bytes from (in) and to (out) public clients, by listener kind." },
	{ "tunnel_requests_total", "counter",
	    "HTTP requests (connections for tcp and TLS passthrough) by tunnel: "
	    "the busiest by name, the rest as \"other\"." },
	{ "request_first_byte_seconds", "histogram",
	    "Public HTTP requests: from the request head going to the tunnel "
	    "to the first byte of the answer, by listener kind." },
	{ "lb_connections", "gauge", "Load balancer (--lb-listen) connections open." },
	{ "lb_connections_total", "counter",
	    "Load balancer (--lb-listen) connections accepted." },
	{ "lb_by_name_total", "counter",
	    "Public connections whose Host or SNI is a domains entry, handed to "
	    "the load balancer for their app's backends." },
	{ "replica_checks_total", "counter",
	    "Health checks of tunnel replicas from this node's router: relayed "
	    "to the replica's session, or refused (bad line, no such session)." },
	{ "lb_to_replica_total", "counter",
	    "Load balancer connections whose pick was a tunnel replica, relayed "
	    "through a stream to its session (here or over the mesh)." },
	{ "xff_invalid_total", "counter",
	    "X-Forwarded-For from a --xff-from balancer whose last entry is not "
	    "an address (the connection's address is used)." },
	{ "replica_picks_total", "counter",
	    "Public connections given a replica of a grouped tunnel (--group)." },
	{ "lb_refused_total", "counter",
	    "Load balancer connections closed without a backend, by reason." },
	{ "lb_dial_failures_total", "counter",
	    "Dials to backends that failed (refused, unreachable, timed out)." },
	{ "lb_dial_timeouts_total", "counter",
	    "Dials to backends that took longer than --lb-connect-timeout." },
	{ "lb_failovers_total", "counter",
	    "Connections sent to another candidate after a failed dial." },
	{ "lb_affinity_hits_total", "counter",
	    "Decisions made by a client's affinity binding." },
	{ "lb_bindings", "gauge", "Client affinity bindings held." },
	{ "lb_proxy_protocol_errors_total", "counter",
	    "Load balancer connections from a trusted balancer without a valid PROXY header." },
	{ "lb_bytes_total", "counter",
	    "Load balancer bytes from (in) and to (out) clients." },
	{ "lb_backend_connections", "gauge",
	    "Connections open to each backend (the busiest 32 by name)." },
	{ "lb_backend_connections_total", "counter",
	    "Connections given to each backend (the busiest 32 by name)." },
	{ "lb_backend_dial_failures_total", "counter",
	    "Failed dials per backend (the busiest 32 by name)." },
	{ "lb_tls_connections", "gauge",
	    "TLS connections ended here for the load balancer (--lb-tls-listen, "
	    "HTTPS for domains) open, handshakes included." },
	{ "lb_tls_connections_total", "counter",
	    "Connections accepted on the --lb-tls-listen listeners." },
	{ "lb_tls_handshakes_total", "counter",
	    "TLS handshakes on the --lb-tls-listen listeners, by result." },
	{ "lb_tls_proxy_protocol_errors_total", "counter",
	    "--lb-tls-listen connections from a trusted balancer without a valid PROXY header." },
	{ "lb_tls_https_handoffs_total", "counter",
	    "HTTPS connections ended here handed, decrypted, to a domains name's app." },
	{ "lb_tls_bridge_errors_total", "counter",
	    "TLS connections the load balancer could not take (socketpair, memory)." },
	{ "lb_tls_refused_total", "counter",
	    "TLS load balancer connections refused before their handshake, by "
	    "reason (per_ip: over --max-conns-per-ip)." },
	{ "tunnel_bytes_total", "counter",
	    "Bytes from (in) and to (out) public clients by tunnel: the busiest "
	    "by name, the rest as \"other\"." },
};

size_t
metrics_help(const char *sample, const char **help, const char **type,
    double *scale)
{
	static const char *const suffix[] = { "_bucket", "_sum", "_count" };
	size_t n = strcspn(sample, "{");

	*scale = 1;
	for (size_t i = 0; i < sizeof(metrics_help_table) /
	    sizeof(metrics_help_table[0]); i++) {
		const char *f = metrics_help_table[i].family;
		size_t fl = strlen(f);

		if (fl == n && strncmp(f, sample, n) == 0) {
			*help = metrics_help_table[i].help;
			*type = metrics_help_table[i].type;
			return n;
		}
		if (strcmp(metrics_help_table[i].type, "histogram") != 0 ||
		    fl >= n || strncmp(f, sample, fl) != 0)
			continue;
		for (int k = 0; k < 3; k++) {
			if (strlen(suffix[k]) == n - fl &&
			    strncmp(sample + fl, suffix[k], n - fl) == 0) {
				*help = metrics_help_table[i].help;
				*type = "histogram";
				if (k == 1)
					*scale = 1e-6;
				return fl;
			}
		}
	}
	*help = "Acceptor figure (no description yet).";
	*type = n > 6 && strncmp(sample + n - 6, "_total", 6) == 0 ?
	    "counter" : "gauge";
	return n;
}
