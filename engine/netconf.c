/* Network interface settings from other_config (see netconf.h).  One row
 * per key: the key, how its value is checked, and the text an error shows. */
#include "netconf.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/xalloc.h"

enum netconf_kind { NC_BOOL, NC_SPEED, NC_DUPLEX, NC_MTU, NC_ROUTES };

struct netconf_key {
	const char *key;
	enum netconf_kind kind;
};

static const struct netconf_key keys[] = {
	{ "ethtool-rx", NC_BOOL },      { "ethtool-tx", NC_BOOL },     { "ethtool-sg", NC_BOOL },
	{ "ethtool-tso", NC_BOOL },     { "ethtool-ufo", NC_BOOL },    { "ethtool-gso", NC_BOOL },
	{ "ethtool-gro", NC_BOOL },     { "ethtool-lro", NC_BOOL },    { "ethtool-autoneg", NC_BOOL },
	{ "ethtool-speed", NC_SPEED },  { "ethtool-duplex", NC_DUPLEX }, { "mtu", NC_MTU },
	{ "promiscuous", NC_BOOL },     { "static-routes", NC_ROUTES },
};

static const char *const valid_text[] = {
	[NC_BOOL] = "on, true, off, false",
	[NC_SPEED] = "10, 100, 1000",
	[NC_DUPLEX] = "half, full",
	[NC_MTU] = "68-65535",
	[NC_ROUTES] = "<subnet>/<netmask>/<gateway>[,...]",
};

static const struct netconf_key *find(const char *key)
{
	for (size_t i = 0; key && i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

bool netconf_is_setting(const char *key)
{
	return find(key) != NULL;
}

const char *netconf_valid_text(const char *key)
{
	const struct netconf_key *k = find(key);
	return k ? valid_text[k->kind] : NULL;
}

bool netconf_bool(const char *value)
{
	return value && (strcmp(value, "on") == 0 || strcmp(value, "true") == 0);
}

static bool one_of(const char *v, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(v, *words) == 0)
			return true;
	return false;
}

/* Decimal digits only (no sign, no spaces), at most 9 of them. */
static bool small_number(const char *v, unsigned long *out)
{
	size_t n = strspn(v, "0123456789");
	if (n == 0 || n > 9 || v[n])
		return false;
	*out = strtoul(v, NULL, 10);
	return true;
}

static bool ipv4(const char *s)
{
	struct in_addr a;
	return inet_pton(AF_INET, s, &a) == 1;
}

/* A dotted netmask with contiguous ones, or a prefix length 0..32. */
static bool netmask(const char *s)
{
	unsigned long len;
	if (small_number(s, &len))
		return len <= 32;
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	/* Contiguous ones from the top: the inverse is 0...01...1. */
	uint32_t inv = ~ntohl(a.s_addr);
	return (inv & (inv + 1u)) == 0;
}

/* "subnet/netmask/gateway" triples separated by commas. */
static bool routes(const char *v)
{
	if (!*v)
		return true;
	XC_AUTOFREE char *copy = xstrdup(v);
	char *save = NULL;
	size_t n = 0;
	for (char *r = strtok_r(copy, ",", &save); r; r = strtok_r(NULL, ",", &save), n++) {
		char *a = r, *b = strchr(a, '/');
		char *c = b ? strchr(b + 1, '/') : NULL;
		if (!b || !c || strchr(c + 1, '/'))
			return false;
		*b++ = '\0';
		*c++ = '\0';
		if (!ipv4(a) || !netmask(b) || !ipv4(c))
			return false;
	}
	/* strtok_r skips empty pieces: "a,,b" or a trailing comma are wrong. */
	size_t commas = 0;
	for (const char *p = v; *p; p++)
		commas += *p == ',';
	return n == commas + 1;
}

static bool valid(enum netconf_kind kind, const char *v)
{
	static const char *const bools[] = { "on", "true", "off", "false", NULL };
	static const char *const speeds[] = { "10", "100", "1000", NULL };
	static const char *const duplex[] = { "half", "full", NULL };
	unsigned long n;
	switch (kind) {
	case NC_BOOL:
		return one_of(v, bools);
	case NC_SPEED:
		return one_of(v, speeds);
	case NC_DUPLEX:
		return one_of(v, duplex);
	case NC_MTU:
		return small_number(v, &n) && n >= 68 && n <= 65535;
	case NC_ROUTES:
		return routes(v);
	}
	return false;
}

int netconf_check(const char *key, const char *value, struct xc_error *err)
{
	const struct netconf_key *k = find(key);
	const char *v = value ? value : "";
	if (!k || valid(k->kind, v))
		return 0;
	xc_error_set(err, XC_ERR_ETHTOOL_SETTING_INVALID, key, v, valid_text[k->kind]);
	return -1;
}

int netconf_check_map(const struct value *map, struct xc_error *err)
{
	if (!map || map->type != VALUE_STRUCT)
		return 0;
	for (size_t i = 0; i < map->u.st.n; i++)
		if (netconf_check(map->u.st.m[i].key, value_str(map->u.st.m[i].val), err) < 0)
			return -1;
	return 0;
}
