/* inspect_page — the request inspector's page (HTML, CSS, JavaScript),
 * compiled into the binary. The .c is generated at build time from the
 * files under client/inspect_page/ (see the Makefile); nothing is fetched
 * from anywhere else. */
#ifndef WARREN_INSPECT_PAGE_H
#define WARREN_INSPECT_PAGE_H

#include <stddef.h>

struct inspect_page_file {
	const char *path;               /* "/app.js" */
	const char *type;               /* Content-Type */
	const unsigned char *data;
	size_t len;
};

/* The file served at `path` ("/" is "/index.html"), or NULL. */
const struct inspect_page_file *inspect_page_find(const char *path);

#endif
