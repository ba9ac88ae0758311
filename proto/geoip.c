/* geoip — country of an address from a MaxMind DB (see geoip.h). */
#include "geoip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbpick.h"

struct geoip {
	MMDB_s db;
};

int
geoip_open(struct geoip **out, const char *path, char *err, size_t errlen)
{
	struct geoip *g;
	int rc;

	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(err, errlen, "out of memory opening %s", path);
		return -ENOMEM;
	}
	rc = MMDB_open(path, MMDB_MODE_MMAP, &g->db);
	if (rc != MMDB_SUCCESS) {
		int e = rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR ? errno : 0;

		snprintf(err, errlen, "cannot open GeoIP database %s: %s%s%s", path,
		    MMDB_strerror(rc), e != 0 ? ": " : "", e != 0 ? strerror(e) : "");
		free(g);
		return e != 0 ? -e : -EINVAL;
	}
	*out = g;
	return 0;
}

void
geoip_free(struct geoip *g)
{
	if (g == NULL)
		return;
	MMDB_close(&g->db);
	free(g);
}

static uint16_t
geoip_code(MMDB_entry_s *e, const char *const *path)
{
	MMDB_entry_data_s d;
	char cc[3];

	if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data ||
	    d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2)
		return 0;
	memcpy(cc, d.utf8_string, 2);
	cc[2] = '\0';
	return lbpick_country(cc);
}

/* Addresses that are not on the public Internet have no country, whatever a
 * database says (some map 172.16/12 and 192.168/16 to a registry's home). */
static bool
geoip_local4(const uint8_t a[4])
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 ||
	    (a[0] == 100 && (a[1] & 0xc0) == 64) ||            /* 100.64/10 */
	    (a[0] == 169 && a[1] == 254) ||
	    (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	    (a[0] == 192 && a[1] == 168) || a[0] >= 224;
}

static bool
geoip_local6(const struct in6_addr *a)
{
	return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) ||
	    IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_MULTICAST(a) ||
	    (a->s6_addr[0] & 0xfe) == 0xfc;                     /* fc00::/7 */
}

uint16_t
geoip_country(const struct geoip *g, const struct sockaddr *sa)
{
	static const char *const p_country[] = { "country", "iso_code", NULL };
	static const char *const p_registered[] = { "registered_country",
	    "iso_code", NULL };
	static const char *const p_flat[] = { "country_code", NULL };
	struct sockaddr_in v4;
	MMDB_lookup_result_s r;
	uint16_t c;
	int err = 0;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memset(&v4, 0, sizeof(v4));
			v4.sin_family = AF_INET;
			memcpy(&v4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
			sa = (const struct sockaddr *)&v4;
		} else if (geoip_local6(&s6->sin6_addr)) {
			return 0;
		}
	} else if (sa->sa_family != AF_INET) {
		return 0;
	}
	if (sa->sa_family == AF_INET &&
	    geoip_local4((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr))
		return 0;
	/* the library's lookup takes a non-const handle but only reads it */
	r = MMDB_lookup_sockaddr((MMDB_s *)&g->db, sa, &err);
	if (err != MMDB_SUCCESS || !r.found_entry)
		return 0;
	if ((c = geoip_code(&r.entry, p_country)) != 0)
		return c;
	if ((c = geoip_code(&r.entry, p_flat)) != 0)
		return c;
	return geoip_code(&r.entry, p_registered);
}

uint16_t
geoip_country_text(const struct geoip *g, const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		return 0;
	return geoip_country(g, (struct sockaddr *)&ss);
}

const char *
geoip_type(const struct geoip *g)
{
	return g->db.metadata.database_type != NULL ?
	    g->db.metadata.database_type : "";
}
