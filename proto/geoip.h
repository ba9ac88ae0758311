/* geoip — a client address's country, from a MaxMind DB file (libmaxminddb,
 * MMDB_MODE_MMAP: a lookup is memory reads, cheap enough to run inline on a
 * new connection).
 *
 * Both layouts are read: MaxMind's GeoLite2/GeoIP2 (`country.iso_code`,
 * falling back to `registered_country.iso_code`) and the flat one of the
 * ip-location-db packages (`country_code`). IPv4-mapped IPv6 addresses are
 * looked up as IPv4. Addresses off the public Internet (RFC 1918, 100.64/10,
 * loopback, link-local, multicast, fc00::/7) have no country whatever the
 * database says: a client behind the same NAT is not abroad. */
#ifndef WARREN_GEOIP_H
#define WARREN_GEOIP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct geoip;

/* Opens (maps) the database at path. Returns 0 and sets *out, or -errno /
 * -EINVAL with a sentence in err[errlen]. */
int geoip_open(struct geoip **out, const char *path, char *err, size_t errlen);
void geoip_free(struct geoip *g);
/* The country of an AF_INET / AF_INET6 address as lbpick_country() gives
 * it, or 0 when the database has none (private, loopback, unknown, other
 * families, or an entry without a usable two-letter code). */
uint16_t geoip_country(const struct geoip *g, const struct sockaddr *sa);
/* The same for an address in text form ("200.160.2.3", "2001:db8::1"). */
uint16_t geoip_country_text(const struct geoip *g, const char *ip);
/* The database's type from its metadata ("GeoLite2-Country", ...). */
const char *geoip_type(const struct geoip *g);

#endif
