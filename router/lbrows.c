#include "router/lbrows.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t
lbrows_u32(sqlite3_int64 v)
{
	return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static char *
lbrows_dup(const unsigned char *t)
{
	return strdup(t != NULL ? (const char *)t : "");
}

static void
lbrows_fini_rows(struct lbrows *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->rows[i].id);
		free(r->rows[i].app);
		free(r->rows[i].region);
		free(r->rows[i].wg_ip);
		free(r->rows[i].country);
	}
}

void
lbrows_fini(struct lbrows *r)
{
	lbrows_fini_rows(r);
	free(r->rows);
	free(r->cands);
	memset(r, 0, sizeof(*r));
}

/* One row's columns into *w and *c; false on out of memory. */
static bool
lbrows_row(sqlite3_stmt *s, struct lbrow *w, struct lbpick_cand *c,
    int64_t now)
{
	const unsigned char *lease_country = NULL;
	int i;

	memset(w, 0, sizeof(*w));
	memset(c, 0, sizeof(*c));
	w->healthy = true;
	for (i = 0; i < sqlite3_column_count(s); i++) {
		const char *col = sqlite3_column_name(s, i);
		const unsigned char *t = sqlite3_column_text(s, i);
		sqlite3_int64 iv = sqlite3_column_int64(s, i);
		bool null = sqlite3_column_type(s, i) == SQLITE_NULL;

		if (strcmp(col, "id") == 0) {
			w->id = lbrows_dup(t);
		} else if (strcmp(col, "app") == 0) {
			w->app = lbrows_dup(t);
		} else if (strcmp(col, "region") == 0) {
			w->region = lbrows_dup(t);
		} else if (strcmp(col, "country") == 0) {
			if (t != NULL && t[0] != '\0' &&
			    (w->country = lbrows_dup(t)) == NULL)
				return false;
		} else if (strcmp(col, "wg_ip") == 0) {
			w->wg_ip = lbrows_dup(t);
		} else if (strcmp(col, "port") == 0) {
			w->port = iv;
		} else if (strcmp(col, "healthy") == 0) {
			w->healthy = null || iv != 0;
		} else if (strcmp(col, "deleted") == 0) {
			w->deleted = !null && iv != 0;
		} else if (strcmp(col, "weight") == 0) {
			c->weight = lbrows_u32(iv);
			w->has_weight = !null;
		} else if (strcmp(col, "soft_limit") == 0) {
			c->soft_limit = lbrows_u32(iv);
			w->has_soft = !null;
		} else if (strcmp(col, "hard_limit") == 0) {
			c->hard_limit = lbrows_u32(iv);
			w->has_hard = !null;
		} else if (strcmp(col, "__lease_expires") == 0 && !null) {
			w->has_lease = true;
			w->lease_expires = iv;
			w->stale = iv <= now;
		} else if (strcmp(col, "__lease_country") == 0 && t != NULL &&
		    t[0] != '\0') {
			lease_country = t;
		}
	}
	if (w->country == NULL && lease_country != NULL &&
	    (w->country = lbrows_dup(lease_country)) == NULL)
		return false;
	if (w->id == NULL || w->app == NULL || w->region == NULL ||
	    w->wg_ip == NULL)
		return false;
	c->id = lbpick_id(w->id, strlen(w->id));
	lbpick_region(&c->region, w->region, strlen(w->region));
	if (w->country != NULL)
		c->country = lbpick_country(w->country);
	if (!w->healthy || w->stale)
		c->flags |= LBPICK_UNHEALTHY;
	if (w->deleted)
		c->flags |= LBPICK_DELETED;
	return true;
}

int
lbrows_load(sqlite3 *db, const char *app, bool live_only, size_t max,
    int64_t now, struct lbrows *out, char *err, size_t errlen)
{
	struct lbrow *nr;
	struct lbpick_cand *nc;
	sqlite3_stmt *s;
	size_t cap = 0;
	char sql[256];
	int rc;

	memset(out, 0, sizeof(*out));
	/* with the API's leases; a database without their table (edgeProxy's
	 * own, before gossip has opened it) has none */
	snprintf(sql, sizeof(sql), "SELECT b.*, l.expires_at AS __lease_expires,"
	    " l.country AS __lease_country FROM backends b LEFT JOIN"
	    " backend_leases l ON l.id = b.id WHERE %s%s"
	    " ORDER BY b.app, b.region, b.id", app != NULL ? "b.app = ?1" : "1",
	    live_only ? " AND coalesce(b.deleted, 0) = 0 AND"
	    " coalesce(b.healthy, 1) != 0" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		snprintf(sql, sizeof(sql), "SELECT * FROM backends WHERE %s%s"
		    " ORDER BY app, region, id", app != NULL ? "app = ?1" : "1",
		    live_only ? " AND coalesce(deleted, 0) = 0 AND"
		    " coalesce(healthy, 1) != 0" : "");
		s = NULL;
	}
	if (s == NULL && sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (app != NULL)
		sqlite3_bind_text(s, 1, app, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && out->n < max) {
		if (out->n == cap) {
			cap = cap != 0 ? cap * 2 : 16;
			nr = realloc(out->rows, cap * sizeof(*nr));
			if (nr != NULL)
				out->rows = nr;
			nc = realloc(out->cands, cap * sizeof(*nc));
			if (nc != NULL)
				out->cands = nc;
			if (nr == NULL || nc == NULL)
				goto nomem;
		}
		if (!lbrows_row(s, &out->rows[out->n], &out->cands[out->n], now)) {
			out->n++;
			goto nomem;
		}
		if (out->rows[out->n].has_lease && !out->rows[out->n].stale &&
		    (out->next_expiry == 0 ||
		    out->rows[out->n].lease_expires < out->next_expiry))
			out->next_expiry = out->rows[out->n].lease_expires;
		if (live_only && out->rows[out->n].stale) {
			struct lbrows one = { 1, &out->rows[out->n], NULL, 0 };

			lbrows_fini_rows(&one);
			continue;
		}
		out->n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(s);
		lbrows_fini(out);
		return -EIO;
	}
	sqlite3_finalize(s);
	lbpick_prepare(out->cands, out->n);
	return 0;
nomem:
	sqlite3_finalize(s);
	lbrows_fini(out);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}
