/* metrics_help — HELP text and TYPE of the acceptor's metric families, which
 * the acceptor publishes as bare name/value pairs (ipcmsg_stats) and the
 * router serves on /metrics as warren_acceptor_<name>. */
#ifndef WARREN_METRICS_HELP_H
#define WARREN_METRICS_HELP_H

#include <stddef.h>

/* For a sample name ("http_errors_total{status=\"404\"}"), the length of its
 * family name (up to '{'; for a histogram's _bucket, _sum and _count series
 * the histogram's name), its help sentence and "counter", "gauge" or
 * "histogram". A family not in the table gets a generic sentence, and
 * "counter" when the name ends in _total, else "gauge". *scale is what the
 * sample's integer value is multiplied by when printed: 1e-6 for the _sum of
 * a histogram in seconds (the acceptor counts microseconds), else 1. */
size_t metrics_help(const char *sample, const char **help, const char **type,
    double *scale);

#endif
