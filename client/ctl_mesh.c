/* ctl_mesh — clusterctl mesh init|add|show. */
#include "client/ctl_mesh.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/ctl.h"

#define CTL_MESH_NODES_MAX      1024
#define CTL_MESH_KEY_B64        45      /* 32 bytes in base64, NUL */
#define CTL_MESH_NAME_MAX       64
#define CTL_MESH_HOST_MAX       256
#define CTL_MESH_PATH_MAX       4096

#define CTL_MESH_FORWARD_PORT   7001    /* warren-node's --mesh-listen default */

static const char ctl_mesh_usage[] =
    "usage: clusterctl mesh init DIR NODE... [--range CIDR] [--port N]\n"
    "           [--gossip-port N] [--interface NAME] [--etc-dir DIR]\n"
    "           [--data-dir DIR] [--domain NAME] [--gossip-profile lan|wan]\n"
    "       clusterctl mesh add DIR NODE...\n"
    "       clusterctl mesh show DIR [--keys]\n"
    "\n"
    "NODE is NAME,REGION,ENDPOINT: ENDPOINT is the public address (host or\n"
    "IP, optional :PORT) where the other nodes reach its WireGuard port.\n"
    "init plans a mesh in DIR: every node gets a WireGuard key, an address\n"
    "from --range (default 10.77.0.0/24) and every other node as a peer.\n"
    "add puts new nodes into an existing mesh and rewrites every node's\n"
    "files. For each node, DIR/nodes/NAME/ holds what it installs:\n"
    "  INTERFACE.conf  -> /etc/wireguard/ (wg-quick up INTERFACE)\n"
    "  node.conf, cluster.keys -> the --etc-dir (default /etc/warren)\n"
    "Keys are written to files (mode 0600) and printed only by show --keys.\n"
    "\n"
    "options (init):\n"
    "  --range CIDR          mesh addresses (IPv4, /8 to /30)\n"
    "  --port N              WireGuard UDP port (default 51820)\n"
    "  --gossip-port N       gossip on the mesh address (default 7946)\n"
    "  --interface NAME      WireGuard interface (default warren0)\n"
    "  --etc-dir DIR         where node.conf and cluster.keys go (/etc/warren)\n"
    "  --data-dir DIR        the nodes' --data-dir (default /var/lib/warren)\n"
    "  --domain NAME         the nodes' --domain (default: the node's)\n"
    "  --gossip-profile P    lan or wan (default: the node's, lan)\n";

struct ctl_mesh_node {
	char name[CTL_MESH_NAME_MAX];
	char region[CTL_MESH_NAME_MAX];
	char endpoint[CTL_MESH_HOST_MAX];       /* host:port or [v6]:port */
	uint32_t addr;                          /* host order */
	char pub[CTL_MESH_KEY_B64];
	char priv[CTL_MESH_KEY_B64];            /* from keys/NAME.key */
	bool fresh;                             /* added by this run */
};

struct ctl_mesh {
	const char *prog;
	const char *dir;
	uint32_t net;                           /* host order */
	int prefix;
	int port, gossip_port;
	char iface[16];
	char etc_dir[CTL_MESH_HOST_MAX];
	char data_dir[CTL_MESH_HOST_MAX];
	char domain[CTL_MESH_HOST_MAX];
	char profile[8];
	char cluster_key[CTL_MESH_KEY_B64];
	size_t n;
	struct ctl_mesh_node nodes[CTL_MESH_NODES_MAX];
	char err[512];                          /* parse errors of mesh.ini */
};

/* Names and regions: what may appear unquoted in a config file and a path. */
static bool
ctl_mesh_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= CTL_MESH_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return false;
	return true;
}

/* A DNS name for --domain: labels of letters, digits and '-'. */
static bool
ctl_mesh_domain_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return strstr(s, "..") == NULL;
}

static bool
ctl_mesh_path_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= CTL_MESH_HOST_MAX || s[0] != '/')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("/-_.", s[i]) == NULL)
			return false;
	return true;
}

static bool
ctl_mesh_port_ok(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < 1 || v > 65535)
		return false;
	*out = (int)v;
	return true;
}

/* ENDPOINT -> "host:port" or "[v6]:port" in out, port defaulting to `port`.
 * Returns false when it is not a host, IPv4, IPv6 or bracketed form. */
static bool
ctl_mesh_endpoint(char *out, size_t len, const char *ep, int port)
{
	char host[CTL_MESH_HOST_MAX];
	const char *colon, *p;
	int pt = port, n;
	struct in6_addr a6;
	size_t hl;

	if (strlen(ep) == 0 || strlen(ep) >= CTL_MESH_HOST_MAX - 8)
		return false;
	for (p = ep; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".:-[]", *p) == NULL)
			return false;
	if (ep[0] == '[') {
		if ((p = strchr(ep, ']')) == NULL)
			return false;
		hl = (size_t)(p - ep - 1);
		memcpy(host, ep + 1, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return false;
		if (p[1] == ':' && !ctl_mesh_port_ok(p + 2, &pt))
			return false;
		if (p[1] != '\0' && p[1] != ':')
			return false;
		n = snprintf(out, len, "[%s]:%d", host, pt);
	} else if ((colon = strchr(ep, ':')) != NULL && strchr(colon + 1, ':') ==
	    NULL) {
		hl = (size_t)(colon - ep);
		if (hl == 0 || !ctl_mesh_port_ok(colon + 1, &pt))
			return false;
		memcpy(host, ep, hl);
		host[hl] = '\0';
		if (strchr(host, '[') != NULL || strchr(host, ']') != NULL)
			return false;
		n = snprintf(out, len, "%s:%d", host, pt);
	} else if (colon != NULL) {
		if (inet_pton(AF_INET6, ep, &a6) != 1)
			return false;
		n = snprintf(out, len, "[%s]:%d", ep, pt);
	} else {
		if (strchr(ep, '[') != NULL || strchr(ep, ']') != NULL ||
		    ep[0] == '-' || ep[0] == '.')
			return false;
		n = snprintf(out, len, "%s:%d", ep, pt);
	}
	return n > 0 && (size_t)n < len;
}

static bool
ctl_mesh_range(struct ctl_mesh *m, const char *s)
{
	char ip[INET_ADDRSTRLEN + 4], *slash, *end;
	struct in_addr a;
	long bits;
	uint32_t mask;

	if (strlen(s) >= sizeof(ip))
		return false;
	strcpy(ip, s);
	if ((slash = strchr(ip, '/')) == NULL)
		return false;
	*slash = '\0';
	bits = strtol(slash + 1, &end, 10);
	if (*end != '\0' || end == slash + 1 || bits < 8 || bits > 30 ||
	    inet_pton(AF_INET, ip, &a) != 1)
		return false;
	mask = 0xffffffffu << (32 - bits);
	m->net = ntohl(a.s_addr) & mask;
	m->prefix = (int)bits;
	return true;
}

static void
ctl_mesh_ntoa(uint32_t addr, char out[INET_ADDRSTRLEN])
{
	struct in_addr a = { htonl(addr) };

	inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

static struct ctl_mesh_node *
ctl_mesh_find(struct ctl_mesh *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->nodes[i].name, name) == 0)
			return &m->nodes[i];
	return NULL;
}

/* A fresh X25519 key pair, as WireGuard writes them (base64). */
static int
ctl_mesh_keypair(char priv[CTL_MESH_KEY_B64], char pub[CTL_MESH_KEY_B64])
{
	unsigned char raw[32];
	size_t len;
	EVP_PKEY *k;
	int rc = -1;

	if ((k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519")) == NULL)
		return -1;
	len = sizeof(raw);
	if (EVP_PKEY_get_raw_private_key(k, raw, &len) != 1 || len != 32)
		goto out;
	EVP_EncodeBlock((unsigned char *)priv, raw, 32);
	len = sizeof(raw);
	if (EVP_PKEY_get_raw_public_key(k, raw, &len) != 1 || len != 32)
		goto out;
	EVP_EncodeBlock((unsigned char *)pub, raw, 32);
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	EVP_PKEY_free(k);
	return rc;
}

/* The public key of a base64 private key; -1 if it is not one. */
static int
ctl_mesh_pubkey(const char *priv, char pub[CTL_MESH_KEY_B64])
{
	unsigned char raw[33];
	size_t len = 32;
	EVP_PKEY *k;

	if (strlen(priv) != 44 ||
	    EVP_DecodeBlock(raw, (const unsigned char *)priv, 44) != 33)
		return -1;
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, raw, 32);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (k == NULL)
		return -1;
	if (EVP_PKEY_get_raw_public_key(k, raw, &len) != 1 || len != 32) {
		EVP_PKEY_free(k);
		return -1;
	}
	EVP_PKEY_free(k);
	EVP_EncodeBlock((unsigned char *)pub, raw, 32);
	return 0;
}

static int
ctl_mesh_mkdir(const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Writes text to dir/name through a temporary file and rename(2), with
 * mode. Returns 0 or -errno. */
static int
ctl_mesh_write(const char *path, mode_t mode, const char *text, size_t len)
{
	char tmp[CTL_MESH_PATH_MAX];
	ssize_t k;
	size_t off = 0;
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd == -1)
		return -errno;
	if (fchmod(fd, mode) == -1)
		rc = -errno;
	while (rc == 0 && off < len) {
		k = write(fd, text + off, len - off);
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1)
			rc = -errno;
		else
			off += (size_t)k;
	}
	if (rc == 0 && fsync(fd) == -1)
		rc = -errno;
	if (close(fd) == -1 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) == -1)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* Reads the first line of a small file into out (without the newline). */
static int
ctl_mesh_read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL)
		return -errno;
	if (fgets(out, (int)len, f) == NULL) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	return 0;
}

static int
ctl_mesh_ini_line(void *user, const char *section, const char *key,
    const char *value)
{
	struct ctl_mesh *m = user;
	struct ctl_mesh_node *nd;
	char ep[CTL_MESH_HOST_MAX];
	struct in_addr a;

	if (m->err[0] != '\0')
		return 1;
	if (strcmp(section, "mesh") == 0) {
		if (strcmp(key, "range") == 0) {
			if (!ctl_mesh_range(m, value))
				goto bad;
		} else if (strcmp(key, "port") == 0) {
			if (!ctl_mesh_port_ok(value, &m->port))
				goto bad;
		} else if (strcmp(key, "gossip_port") == 0) {
			if (!ctl_mesh_port_ok(value, &m->gossip_port))
				goto bad;
		} else if (strcmp(key, "interface") == 0) {
			if (!ctl_mesh_name_ok(value) || strlen(value) > 15)
				goto bad;
			strcpy(m->iface, value);
		} else if (strcmp(key, "etc_dir") == 0) {
			if (!ctl_mesh_path_ok(value))
				goto bad;
			strcpy(m->etc_dir, value);
		} else if (strcmp(key, "data_dir") == 0) {
			if (!ctl_mesh_path_ok(value))
				goto bad;
			strcpy(m->data_dir, value);
		} else if (strcmp(key, "domain") == 0) {
			if (value[0] != '\0' && !ctl_mesh_domain_ok(value))
				goto bad;
			strcpy(m->domain, value);
		} else if (strcmp(key, "gossip_profile") == 0) {
			if (value[0] != '\0' && strcmp(value, "lan") != 0 &&
			    strcmp(value, "wan") != 0)
				goto bad;
			strcpy(m->profile, value);
		} else {
			goto bad;
		}
		return 1;
	}
	if (strncmp(section, "node ", 5) != 0 || !ctl_mesh_name_ok(section + 5))
		goto bad;
	if ((nd = ctl_mesh_find(m, section + 5)) == NULL) {
		if (m->n == CTL_MESH_NODES_MAX)
			goto bad;
		nd = &m->nodes[m->n++];
		strcpy(nd->name, section + 5);
	}
	if (strcmp(key, "region") == 0) {
		if (!ctl_mesh_name_ok(value))
			goto bad;
		strcpy(nd->region, value);
	} else if (strcmp(key, "endpoint") == 0) {
		if (!ctl_mesh_endpoint(ep, sizeof(ep), value, 1))
			goto bad;
		strcpy(nd->endpoint, value);
	} else if (strcmp(key, "address") == 0) {
		if (inet_pton(AF_INET, value, &a) != 1)
			goto bad;
		nd->addr = ntohl(a.s_addr);
	} else if (strcmp(key, "public_key") == 0) {
		if (strlen(value) != 44)
			goto bad;
		strcpy(nd->pub, value);
	} else {
		goto bad;
	}
	return 1;
bad:
	snprintf(m->err, sizeof(m->err), "[%s] %s = %s is not valid", section,
	    key, value);
	return 1;
}

static void
ctl_mesh_defaults(struct ctl_mesh *m)
{
	ctl_mesh_range(m, "10.77.0.0/24");
	m->port = 51820;
	m->gossip_port = 7946;
	strcpy(m->iface, "warren0");
	strcpy(m->etc_dir, "/etc/warren");
	strcpy(m->data_dir, "/var/lib/warren");
}

/* Loads DIR/mesh.ini and the keys. Returns 0 or 1 after printing why. */
static int
ctl_mesh_load(struct ctl_mesh *m)
{
	char path[CTL_MESH_PATH_MAX], pub[CTL_MESH_KEY_B64];
	struct ctl_mesh_node *nd;
	uint32_t host_max;
	size_t i, j;
	int rc;

	ctl_mesh_defaults(m);
	snprintf(path, sizeof(path), "%s/mesh.ini", m->dir);
	rc = ini_parse(path, ctl_mesh_ini_line, m);
	if (rc < 0) {
		fprintf(stderr, "%s: mesh: cannot read %s: %s (create it with "
		    "'clusterctl mesh init')\n", m->prog, path, strerror(errno));
		return 1;
	}
	if (rc > 0 || m->err[0] != '\0') {
		fprintf(stderr, "%s: mesh: %s: %s\n", m->prog, path,
		    rc > 0 ? "syntax error" : m->err);
		return 1;
	}
	host_max = (1u << (32 - m->prefix)) - 2;
	for (i = 0; i < m->n; i++) {
		nd = &m->nodes[i];
		if (nd->region[0] == '\0' || nd->endpoint[0] == '\0' ||
		    nd->addr <= m->net || nd->addr > m->net + host_max) {
			fprintf(stderr, "%s: mesh: %s: node %s lacks a region, an "
			    "endpoint or an address in the range\n", m->prog, path,
			    nd->name);
			return 1;
		}
		for (j = 0; j < i; j++)
			if (m->nodes[j].addr == nd->addr) {
				fprintf(stderr, "%s: mesh: %s: nodes %s and %s have the "
				    "same address\n", m->prog, path, m->nodes[j].name,
				    nd->name);
				return 1;
			}
		snprintf(path, sizeof(path), "%s/keys/%s.key", m->dir, nd->name);
		if (ctl_mesh_read_line(path, nd->priv, sizeof(nd->priv)) != 0 ||
		    ctl_mesh_pubkey(nd->priv, pub) != 0) {
			fprintf(stderr, "%s: mesh: cannot read the private key %s\n",
			    m->prog, path);
			return 1;
		}
		if (strcmp(pub, nd->pub) != 0) {
			fprintf(stderr, "%s: mesh: %s does not match node %s's "
			    "public_key in mesh.ini\n", m->prog, path, nd->name);
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/keys/cluster.keys", m->dir);
	if (ctl_mesh_read_line(path, m->cluster_key, sizeof(m->cluster_key)) != 0 ||
	    strlen(m->cluster_key) != 44) {
		fprintf(stderr, "%s: mesh: cannot read the cluster key %s\n",
		    m->prog, path);
		return 1;
	}
	return 0;
}

/* Parses NAME,REGION,ENDPOINT, gives it a key and the lowest free address. */
static int
ctl_mesh_add_node(struct ctl_mesh *m, const char *spec)
{
	char buf[512], *name, *region, *ep, *save = NULL;
	struct ctl_mesh_node *nd;
	uint32_t a, host_max = (1u << (32 - m->prefix)) - 2;
	char probe[CTL_MESH_HOST_MAX];
	size_t i;

	if (strlen(spec) >= sizeof(buf))
		goto bad;
	strcpy(buf, spec);
	name = strtok_r(buf, ",", &save);
	region = strtok_r(NULL, ",", &save);
	ep = strtok_r(NULL, "", &save);
	if (name == NULL || region == NULL || ep == NULL ||
	    !ctl_mesh_name_ok(name) || !ctl_mesh_name_ok(region) ||
	    !ctl_mesh_endpoint(probe, sizeof(probe), ep, m->port))
		goto bad;
	if (ctl_mesh_find(m, name) != NULL) {
		fprintf(stderr, "%s: mesh: node %s is already in the mesh\n",
		    m->prog, name);
		return 2;
	}
	if (m->n == CTL_MESH_NODES_MAX) {
		fprintf(stderr, "%s: mesh: at most %d nodes\n", m->prog,
		    CTL_MESH_NODES_MAX);
		return 2;
	}
	for (a = m->net + 1; a <= m->net + host_max; a++) {
		for (i = 0; i < m->n; i++)
			if (m->nodes[i].addr == a)
				break;
		if (i == m->n)
			break;
	}
	if (a > m->net + host_max) {
		fprintf(stderr, "%s: mesh: no free address left in the range for "
		    "%s\n", m->prog, name);
		return 2;
	}
	nd = &m->nodes[m->n];
	memset(nd, 0, sizeof(*nd));
	strcpy(nd->name, name);
	strcpy(nd->region, region);
	strcpy(nd->endpoint, ep);
	nd->addr = a;
	nd->fresh = true;
	if (ctl_mesh_keypair(nd->priv, nd->pub) != 0) {
		fprintf(stderr, "%s: mesh: cannot make a key pair (OpenSSL "
		    "X25519)\n", m->prog);
		return 1;
	}
	m->n++;
	return 0;
bad:
	fprintf(stderr, "%s: mesh: '%s' is not NAME,REGION,ENDPOINT (names and "
	    "regions: letters, digits, '-', '_', '.'; ENDPOINT: host or IP with an "
	    "optional :PORT)\n", m->prog, spec);
	return 2;
}

static char *
ctl_mesh_render_ini(const struct ctl_mesh *m, size_t *len)
{
	char net[INET_ADDRSTRLEN], a[INET_ADDRSTRLEN], *text = NULL;
	FILE *f = open_memstream(&text, len);
	size_t i;

	if (f == NULL)
		return NULL;
	ctl_mesh_ntoa(m->net, net);
	fprintf(f, "# The WireGuard mesh of a warren cluster, kept by clusterctl "
	    "mesh.\n# Private keys are under keys/, never here.\n"
	    "[mesh]\nrange = %s/%d\nport = %d\ngossip_port = %d\n"
	    "interface = %s\netc_dir = %s\ndata_dir = %s\ndomain = %s\n"
	    "gossip_profile = %s\n", net, m->prefix, m->port, m->gossip_port,
	    m->iface, m->etc_dir, m->data_dir, m->domain, m->profile);
	for (i = 0; i < m->n; i++) {
		ctl_mesh_ntoa(m->nodes[i].addr, a);
		fprintf(f, "\n[node %s]\nregion = %s\nendpoint = %s\naddress = %s\n"
		    "public_key = %s\n", m->nodes[i].name, m->nodes[i].region,
		    m->nodes[i].endpoint, a, m->nodes[i].pub);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* wg-quick configuration of node nd: its address, key, port, every other
 * node as a peer. */
static char *
ctl_mesh_render_wg(const struct ctl_mesh *m, const struct ctl_mesh_node *nd,
    size_t *len)
{
	char a[INET_ADDRSTRLEN], ep[CTL_MESH_HOST_MAX], *text = NULL;
	FILE *f = open_memstream(&text, len);
	const struct ctl_mesh_node *p;
	size_t i;

	if (f == NULL)
		return NULL;
	ctl_mesh_ntoa(nd->addr, a);
	fprintf(f, "# WireGuard mesh interface of warren node %s (region %s), "
	    "written by clusterctl mesh.\n# Install as /etc/wireguard/%s.conf "
	    "(mode 0600), then: wg-quick up %s\n"
	    "[Interface]\nAddress = %s/%d\nListenPort = %d\nPrivateKey = %s\n",
	    nd->name, nd->region, m->iface, m->iface, a, m->prefix, m->port,
	    nd->priv);
	for (i = 0; i < m->n; i++) {
		p = &m->nodes[i];
		if (p == nd)
			continue;
		ctl_mesh_ntoa(p->addr, a);
		ctl_mesh_endpoint(ep, sizeof(ep), p->endpoint, m->port);
		fprintf(f, "\n[Peer]\n# %s (region %s)\nPublicKey = %s\n"
		    "Endpoint = %s\nAllowedIPs = %s/32\nPersistentKeepalive = 25\n",
		    p->name, p->region, p->pub, ep, a);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* warren-node configuration of node nd: gossip on its mesh address, every
 * node's mesh address as a seed, the cluster key file. */
static char *
ctl_mesh_render_node(const struct ctl_mesh *m, const struct ctl_mesh_node *nd,
    size_t *len)
{
	char a[INET_ADDRSTRLEN], *text = NULL;
	FILE *f = open_memstream(&text, len);
	size_t i;

	if (f == NULL)
		return NULL;
	ctl_mesh_ntoa(nd->addr, a);
	fprintf(f, "# warren-node configuration of node %s (region %s), written "
	    "by clusterctl mesh.\n# Install as %s/node.conf; gossip runs on the "
	    "WireGuard interface %s, and so do the forwarding links.\n"
	    "name = %s\nregion = %s\ndata-dir = %s\ngossip-listen = %s:%d\n"
	    "mesh-listen = %s:%d\n",
	    nd->name, nd->region, m->etc_dir, m->iface, nd->name, nd->region,
	    m->data_dir, a, m->gossip_port, a, CTL_MESH_FORWARD_PORT);
	fprintf(f, "join = ");
	for (i = 0; i < m->n; i++) {
		ctl_mesh_ntoa(m->nodes[i].addr, a);
		fprintf(f, "%s%s:%d", i ? "," : "", a, m->gossip_port);
	}
	fprintf(f, "\ncluster-key-file = %s/cluster.keys\n", m->etc_dir);
	if (m->domain[0] != '\0')
		fprintf(f, "domain = %s\n", m->domain);
	if (m->profile[0] != '\0')
		fprintf(f, "gossip-profile = %s\n", m->profile);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static int
ctl_mesh_put(const struct ctl_mesh *m, const char *path, mode_t mode,
    char *text, size_t len)
{
	int rc;

	if (text == NULL) {
		fprintf(stderr, "%s: mesh: out of memory\n", m->prog);
		return 1;
	}
	rc = ctl_mesh_write(path, mode, text, len);
	OPENSSL_cleanse(text, len);
	free(text);
	if (rc != 0) {
		fprintf(stderr, "%s: mesh: cannot write %s: %s\n", m->prog, path,
		    strerror(-rc));
		return 1;
	}
	return 0;
}

/* Writes mesh.ini, the keys of fresh nodes and every node's files. */
static int
ctl_mesh_save(struct ctl_mesh *m)
{
	static const char *const dirs[] = { "", "/keys", "/nodes" };
	char path[CTL_MESH_PATH_MAX], line[CTL_MESH_KEY_B64 + 1];
	struct ctl_mesh_node *nd;
	size_t i, len;
	char *text;
	int rc;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", m->dir, dirs[i]);
		if ((rc = ctl_mesh_mkdir(path)) != 0) {
			fprintf(stderr, "%s: mesh: cannot create %s: %s\n", m->prog,
			    path, strerror(-rc));
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/keys/cluster.keys", m->dir);
	snprintf(line, sizeof(line), "%s\n", m->cluster_key);
	if (ctl_mesh_put(m, path, 0600, strdup(line), strlen(line)))
		return 1;
	for (i = 0; i < m->n; i++) {
		nd = &m->nodes[i];
		if (!nd->fresh)
			continue;
		snprintf(path, sizeof(path), "%s/keys/%s.key", m->dir, nd->name);
		snprintf(line, sizeof(line), "%s\n", nd->priv);
		if (ctl_mesh_put(m, path, 0600, strdup(line), strlen(line)))
			return 1;
	}
	for (i = 0; i < m->n; i++) {
		nd = &m->nodes[i];
		snprintf(path, sizeof(path), "%s/nodes/%s", m->dir, nd->name);
		if ((rc = ctl_mesh_mkdir(path)) != 0) {
			fprintf(stderr, "%s: mesh: cannot create %s: %s\n", m->prog,
			    path, strerror(-rc));
			return 1;
		}
		snprintf(path, sizeof(path), "%s/nodes/%s/%s.conf", m->dir,
		    nd->name, m->iface);
		text = ctl_mesh_render_wg(m, nd, &len);
		if (ctl_mesh_put(m, path, 0600, text, len))
			return 1;
		snprintf(path, sizeof(path), "%s/nodes/%s/node.conf", m->dir,
		    nd->name);
		text = ctl_mesh_render_node(m, nd, &len);
		if (ctl_mesh_put(m, path, 0644, text, len))
			return 1;
		snprintf(path, sizeof(path), "%s/nodes/%s/cluster.keys", m->dir,
		    nd->name);
		snprintf(line, sizeof(line), "%s\n", m->cluster_key);
		if (ctl_mesh_put(m, path, 0600, strdup(line), strlen(line)))
			return 1;
	}
	/* the plan last: a run that failed above leaves the old plan */
	snprintf(path, sizeof(path), "%s/mesh.ini", m->dir);
	text = ctl_mesh_render_ini(m, &len);
	return ctl_mesh_put(m, path, 0644, text, len);
}

static void
ctl_mesh_table(const struct ctl_mesh *m, bool keys)
{
	char net[INET_ADDRSTRLEN], a[INET_ADDRSTRLEN], ep[CTL_MESH_HOST_MAX];
	const struct ctl_mesh_node *nd;
	size_t i;

	ctl_mesh_ntoa(m->net, net);
	printf("mesh %s/%d: WireGuard interface %s on UDP %d, gossip on port %d\n",
	    net, m->prefix, m->iface, m->port, m->gossip_port);
	printf("%-16s %-10s %-16s %-28s %s\n", "NAME", "REGION", "MESH ADDRESS",
	    "ENDPOINT", "PUBLIC KEY");
	for (i = 0; i < m->n; i++) {
		nd = &m->nodes[i];
		ctl_mesh_ntoa(nd->addr, a);
		ctl_mesh_endpoint(ep, sizeof(ep), nd->endpoint, m->port);
		printf("%-16s %-10s %-16s %-28s %s\n", nd->name, nd->region, a, ep,
		    nd->pub);
	}
	if (!keys)
		return;
	printf("\n%-16s %s\n", "NAME", "PRIVATE KEY");
	for (i = 0; i < m->n; i++)
		printf("%-16s %s\n", m->nodes[i].name, m->nodes[i].priv);
	printf("\ncluster key: %s\n", m->cluster_key);
}

static void
ctl_mesh_next_steps(const struct ctl_mesh *m)
{
	printf("\nfiles for each node are in %s/nodes/NAME/:\n"
	    "  %s.conf      -> /etc/wireguard/%s.conf, then: wg-quick up %s\n"
	    "  node.conf, cluster.keys -> %s/, then: systemctl restart "
	    "warren-node\n"
	    "keys are in %s/keys/ (mode 0600); 'clusterctl mesh show %s --keys' "
	    "prints them\n", m->dir, m->iface, m->iface, m->iface, m->etc_dir,
	    m->dir, m->dir);
}

/* Option --NAME VALUE or --NAME=VALUE at argv[*i]; advances *i. */
static const char *
ctl_mesh_opt(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strcmp(argv[*i], name) == 0 && *i + 1 < argc) {
		*i += 1;
		return argv[*i];
	}
	if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	return NULL;
}

static int
ctl_mesh_init(struct ctl_mesh *m, int argc, char **argv)
{
	char path[CTL_MESH_PATH_MAX];
	unsigned char raw[32];
	const char *v, *specs[CTL_MESH_NODES_MAX];
	size_t nspecs = 0, i;
	struct stat st;
	int j, rc;

	ctl_mesh_defaults(m);
	for (j = 1; j < argc; j++) {
		if ((v = ctl_mesh_opt(argc, argv, &j, "--range")) != NULL) {
			if (!ctl_mesh_range(m, v))
				goto usage_bad;
		} else if ((v = ctl_mesh_opt(argc, argv, &j, "--port")) != NULL) {
			if (!ctl_mesh_port_ok(v, &m->port))
				goto usage_bad;
		} else if ((v = ctl_mesh_opt(argc, argv, &j, "--gossip-port")) !=
		    NULL) {
			if (!ctl_mesh_port_ok(v, &m->gossip_port))
				goto usage_bad;
		} else if ((v = ctl_mesh_opt(argc, argv, &j, "--interface")) != NULL) {
			if (!ctl_mesh_name_ok(v) || strlen(v) > 15)
				goto usage_bad;
			strcpy(m->iface, v);
		} else if ((v = ctl_mesh_opt(argc, argv, &j, "--etc-dir")) != NULL) {
			if (!ctl_mesh_path_ok(v))
				goto usage_bad;
			strcpy(m->etc_dir, v);
		} else if ((v = ctl_mesh_opt(argc, argv, &j, "--data-dir")) != NULL) {
			if (!ctl_mesh_path_ok(v))
				goto usage_bad;
			strcpy(m->data_dir, v);
		} else if ((v = ctl_mesh_opt(argc, argv, &j, "--domain")) != NULL) {
			if (!ctl_mesh_domain_ok(v))
				goto usage_bad;
			strcpy(m->domain, v);
		} else if ((v = ctl_mesh_opt(argc, argv, &j, "--gossip-profile")) !=
		    NULL) {
			if (strcmp(v, "lan") != 0 && strcmp(v, "wan") != 0)
				goto usage_bad;
			strcpy(m->profile, v);
		} else if (argv[j][0] == '-') {
			v = argv[j];
			goto usage_bad;
		} else if (m->dir == NULL) {
			m->dir = argv[j];
		} else if (nspecs < CTL_MESH_NODES_MAX) {
			specs[nspecs++] = argv[j];
		} else {
			fprintf(stderr, "%s: mesh: at most %d nodes\n", m->prog,
			    CTL_MESH_NODES_MAX);
			return 2;
		}
	}
	if (m->dir == NULL || nspecs == 0) {
		fprintf(stderr, "%s", ctl_mesh_usage);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/mesh.ini", m->dir);
	if (stat(path, &st) == 0) {
		fprintf(stderr, "%s: mesh: %s already exists; add nodes with "
		    "'clusterctl mesh add %s NAME,REGION,ENDPOINT'\n", m->prog, path,
		    m->dir);
		return 2;
	}
	for (i = 0; i < nspecs; i++)
		if ((rc = ctl_mesh_add_node(m, specs[i])) != 0)
			return rc;
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		fprintf(stderr, "%s: mesh: no random bytes for the cluster key\n",
		    m->prog);
		return 1;
	}
	EVP_EncodeBlock((unsigned char *)m->cluster_key, raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	if ((rc = ctl_mesh_save(m)) != 0)
		return rc;
	ctl_mesh_table(m, false);
	ctl_mesh_next_steps(m);
	return 0;
usage_bad:
	fprintf(stderr, "%s: mesh init: bad option or value '%s'\n%s", m->prog,
	    argv[j], ctl_mesh_usage);
	return 2;
}

static int
ctl_mesh_add(struct ctl_mesh *m, int argc, char **argv)
{
	int j, rc;

	if (argc < 3) {
		fprintf(stderr, "%s", ctl_mesh_usage);
		return 2;
	}
	m->dir = argv[1];
	if ((rc = ctl_mesh_load(m)) != 0)
		return rc;
	for (j = 2; j < argc; j++)
		if ((rc = ctl_mesh_add_node(m, argv[j])) != 0)
			return rc;
	if ((rc = ctl_mesh_save(m)) != 0)
		return rc;
	ctl_mesh_table(m, false);
	printf("\nadded:");
	for (j = 0; (size_t)j < m->n; j++)
		if (m->nodes[j].fresh)
			printf(" %s", m->nodes[j].name);
	printf("\nevery node's files changed (a new peer, a longer join list): "
	    "on the existing nodes\ninstall them and run: wg syncconf %s <(wg-quick "
	    "strip %s)\n", m->iface, m->iface);
	ctl_mesh_next_steps(m);
	return 0;
}

static int
ctl_mesh_show(struct ctl_mesh *m, int argc, char **argv)
{
	bool keys = false;
	int j, rc;

	for (j = 1; j < argc; j++) {
		if (strcmp(argv[j], "--keys") == 0)
			keys = true;
		else if (argv[j][0] != '-' && m->dir == NULL)
			m->dir = argv[j];
		else {
			fprintf(stderr, "%s", ctl_mesh_usage);
			return 2;
		}
	}
	if (m->dir == NULL) {
		fprintf(stderr, "%s", ctl_mesh_usage);
		return 2;
	}
	if ((rc = ctl_mesh_load(m)) != 0)
		return rc;
	ctl_mesh_table(m, keys);
	return 0;
}

int
ctl_mesh_main(struct ctl *c, int argc, char **argv)
{
	struct ctl_mesh *m;
	int rc;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		printf("%s", ctl_mesh_usage);
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "%s", ctl_mesh_usage);
		return 2;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		fprintf(stderr, "%s: out of memory\n", c->prog);
		return 1;
	}
	m->prog = c->prog;
	umask(077);
	if (strcmp(argv[1], "init") == 0)
		rc = ctl_mesh_init(m, argc - 1, argv + 1);
	else if (strcmp(argv[1], "add") == 0)
		rc = ctl_mesh_add(m, argc - 1, argv + 1);
	else if (strcmp(argv[1], "show") == 0)
		rc = ctl_mesh_show(m, argc - 1, argv + 1);
	else {
		fprintf(stderr, "%s: mesh: unknown command '%s'\n%s", c->prog,
		    argv[1], ctl_mesh_usage);
		rc = 2;
	}
	OPENSSL_cleanse(m, sizeof(*m));
	free(m);
	return rc;
}
