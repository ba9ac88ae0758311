/* Fuzz target: the configuration files a user or operator writes — the
 * client's frp-style INI (client_conf_parse) and the node's option file
 * (conf_load --config, through a memfd) with every option type. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/client_conf.h"
#include "conf.h"
#include "nodeconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_client(const uint8_t *data, size_t size)
{
	struct client_conf cc;
	char *text;

	if ((text = malloc(size + 1)) == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&cc, 0, sizeof(cc));
	client_conf_parse(&cc, text);
	client_conf_fini(&cc);
	free(text);
}

static void
fz_node(const uint8_t *data, size_t size)
{
	struct node_conf c;
	char path[64], *argv[] = { "warren-node", "--config", path, NULL };
	int fd, ind;

	if ((fd = memfd_create("conf", 0)) == -1)
		return;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(&c, 0, sizeof(c));
	/* conf_load prints its sentences on stderr: keep the output quiet */
	conf_load(nodeconf_opts, &c, 3, argv, "usage", &ind);
	conf_fini(nodeconf_opts, &c);
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	fz_client(data, size);
	fz_node(data, size);
	return 0;
}
