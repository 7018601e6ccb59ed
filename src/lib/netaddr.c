/* IP addresses and networks: parsing, formatting, matching. Contracts and
 * decisions are in netaddr.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "netaddr.h"
#include "xalloc.h"

/* RFC 4291 2.5.5.2: the first 96 bits of an IPv4-mapped IPv6 address */
static const uint8_t netaddr_v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static unsigned netaddr_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static bool netaddr_is_v4mapped(const uint8_t v6[16])
{
	return memcmp(v6, netaddr_v4mapped_prefix, sizeof(netaddr_v4mapped_prefix)) == 0;
}

static void netaddr_set_v4(struct netaddr *a, const uint8_t v4[4])
{
	uint8_t copy[4];

	memcpy(copy, v4, sizeof(copy));	/* v4 may point into *a */
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	memcpy(a->addr, copy, sizeof(copy));
}

static void netaddr_set_v6(struct netaddr *a, const uint8_t v6[16])
{
	if (netaddr_is_v4mapped(v6)) {
		netaddr_set_v4(a, v6 + 12);
		return;
	}
	a->family = AF_INET6;
	memcpy(a->addr, v6, 16);
}

/* Parse without mapping v4-mapped to v4: netmask_parse must see the prefix
 * the admin wrote against the IPv6 form first. inet_pton is strict enough
 * for us (tests pin it): no leading zeros in IPv4, no zone, no spaces. */
static int netaddr_parse_raw(const char *s, struct netaddr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->addr) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -1;
}

int netaddr_parse(const char *s, struct netaddr *a)
{
	struct netaddr raw;

	if (netaddr_parse_raw(s, &raw) < 0)
		return -1;
	if (raw.family == AF_INET)
		*a = raw;
	else
		netaddr_set_v6(a, raw.addr);
	return 0;
}

int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *a)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		netaddr_set_v4(a, (const uint8_t *)&sin->sin_addr);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		netaddr_set_v6(a, sin6->sin6_addr.s6_addr);
		return 0;
	}
	return -1;
}

void netaddr_format(const struct netaddr *a, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    inet_ntop(a->family, a->addr, out, (socklen_t)outlen) == NULL)
		out[0] = '\0';
}

bool netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	return a->family == b->family &&
		memcmp(a->addr, b->addr, netaddr_bits(a->family) / 8) == 0;
}

/* Do the first `prefix` bits of x and y agree? */
static bool netaddr_prefix_equal(const uint8_t *x, const uint8_t *y, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(x, y, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return ((x[full] ^ y[full]) & mask) == 0;
}

/* Clear every bit after the first `prefix`. */
static void netaddr_clear_host_bits(uint8_t *addr, unsigned prefix, unsigned bits)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (rest != 0) {
		addr[full] &= (uint8_t)(0xff << (8 - rest));
		full++;
	}
	if (full < bits / 8)
		memset(addr + full, 0, bits / 8 - full);
}

/* Decimal prefix length: digits only, no leading zero, at most max. */
static int netmask_parse_prefix(const char *s, unsigned max, unsigned *prefix_r)
{
	unsigned v = 0;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
		if (v > max)	/* also bounds v, so no overflow */
			return -1;
	}
	*prefix_r = v;
	return 0;
}

/* Copy the address part of "addr/len" or "[addr]/len" into buf (size
 * NETADDR_STRLEN); *rest_r points at the '/' or the end. */
static int netmask_split(const char *s, char *buf, const char **rest_r,
			 const char **error_r)
{
	const char *start = s, *end;

	if (*s == '[') {
		start = s + 1;
		end = strchr(start, ']');
		if (end == NULL) {
			*error_r = "missing ']'";
			return -1;
		}
		*rest_r = end + 1;
		if (**rest_r != '\0' && **rest_r != '/') {
			*error_r = "junk after ']'";
			return -1;
		}
	} else {
		end = strchr(s, '/');
		if (end == NULL)
			end = s + strlen(s);
		*rest_r = end;
	}
	/* the limit is checked before anything is copied */
	if ((size_t)(end - start) >= NETADDR_STRLEN || end == start) {
		*error_r = "invalid IP address";
		return -1;
	}
	memcpy(buf, start, (size_t)(end - start));
	buf[end - start] = '\0';
	return 0;
}

int netmask_parse(const char *s, struct netmask *m, const char **error_r)
{
	char addrbuf[NETADDR_STRLEN];
	const char *rest;
	struct netaddr raw;
	unsigned bits, prefix;

	if (netmask_split(s, addrbuf, &rest, error_r) < 0)
		return -1;
	if (netaddr_parse_raw(addrbuf, &raw) < 0) {
		*error_r = "invalid IP address";
		return -1;
	}
	bits = netaddr_bits(raw.family);
	prefix = bits;
	if (*rest == '/' && netmask_parse_prefix(rest + 1, bits, &prefix) < 0) {
		*error_r = raw.family == AF_INET ?
			"invalid prefix length (0..32)" : "invalid prefix length (0..128)";
		return -1;
	}
	if (raw.family == AF_INET6 && prefix >= 96 && netaddr_is_v4mapped(raw.addr)) {
		/* RFC 4291 2.5.5.2: the same network, written the IPv4 way */
		netaddr_set_v4(&raw, raw.addr + 12);
		prefix -= 96;
		bits = 32;
	}
	netaddr_clear_host_bits(raw.addr, prefix, bits);
	m->net = raw;
	m->prefix = prefix;
	return 0;
}

void netmask_format(const struct netmask *m, char *out, size_t outlen)
{
	char addr[NETADDR_STRLEN];

	netaddr_format(&m->net, addr, sizeof(addr));
	if (outlen == 0)
		return;
	if (addr[0] == '\0' ||
	    (size_t)snprintf(out, outlen, "%s/%u", addr, m->prefix) >= outlen)
		out[0] = '\0';
}

bool netmask_match(const struct netmask *m, const struct netaddr *a)
{
	if (m->net.family != a->family || m->prefix > netaddr_bits(a->family))
		return false;
	return netaddr_prefix_equal(m->net.addr, a->addr, m->prefix);
}

int netmask_list_parse(const char *const *items, size_t count,
		       struct netmask_list *out, const char **error_r)
{
	/* names the bad item; per thread so concurrent parsers cannot mix */
	static _Thread_local char errbuf[160];
	const char *error;

	out->items = count > 0 ? xcalloc(count, sizeof(*out->items)) : NULL;
	out->count = count;
	for (size_t i = 0; i < count; i++) {
		if (netmask_parse(items[i], &out->items[i], &error) == 0)
			continue;
		snprintf(errbuf, sizeof(errbuf), "invalid network \"%.64s%s\": %s",
			 items[i], strlen(items[i]) > 64 ? "..." : "", error);
		*error_r = errbuf;
		netmask_list_free(out);
		return -1;
	}
	return 0;
}

bool netmask_list_match(const struct netmask_list *l, const struct netaddr *a)
{
	for (size_t i = 0; i < l->count; i++) {
		if (netmask_match(&l->items[i], a))
			return true;
	}
	return false;
}

void netmask_list_free(struct netmask_list *l)
{
	free(l->items);
	l->items = NULL;
	l->count = 0;
}
