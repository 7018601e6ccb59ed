#ifndef YOUJU_NETADDR_H
#define YOUJU_NETADDR_H
/*
 * IP addresses and networks, for trusted-network lists (mynetworks-style
 * settings) and for logging peers.
 *
 * Decisions:
 * - One address, one form: an IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 *   RFC 4291 2.5.5.2) is stored as the IPv4 address, whether it comes from
 *   text or from a dual-stack socket. So "10.0.0.0/8" matches a client that
 *   a v6 listener reports as ::ffff:10.1.2.3, and a network never needs to
 *   be written twice.
 * - Families never match across: an IPv6 network (even ::/0) does not
 *   contain IPv4 addresses and the reverse.
 * - Text is strict: IPv4 is exactly four decimal octets without leading
 *   zeros ("010.0.0.1" is refused, because other parsers read it as octal);
 *   IPv6 as RFC 4291 2.2, no zone ("%eth0").
 * - A network is "addr/prefix" or a bare address (= /32 or /128). The
 *   address may be in brackets, "[2001:db8::]/32", as Postfix writes it.
 *   Host bits below the prefix are accepted and cleared ("192.0.2.1/24" is
 *   192.0.2.0/24), like Postfix mynetworks; the prefix is what the admin
 *   means. The prefix is decimal without leading zeros.
 * - A v4-mapped network with a prefix of at least 96 becomes the IPv4
 *   network ("::ffff:10.0.0.0/104" = 10.0.0.0/8); with a shorter prefix it
 *   stays IPv6 and, by the rule above, matches no IPv4 address.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Room for any netaddr_format / netmask_format output, NUL included. */
#define NETADDR_STRLEN 46	/* INET6_ADDRSTRLEN */
#define NETMASK_STRLEN (NETADDR_STRLEN + 4)

struct netaddr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network byte order; IPv4 uses the first 4 */
};

struct netmask {
	struct netaddr net;	/* host bits are zero */
	unsigned prefix;	/* 0..32 for AF_INET, 0..128 for AF_INET6 */
};

struct netmask_list {
	struct netmask *items;
	size_t count;
};

/* Parse an address ("192.0.2.1", "2001:db8::1", "::ffff:1.2.3.4").
 * Returns 0, or -1 if s is not an address (*a is then unspecified). */
int netaddr_parse(const char *s, struct netaddr *a);
/* From an AF_INET or AF_INET6 socket address (scope id dropped). Returns 0,
 * or -1 for any other family. */
int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *a);
/* Text form: dotted quad, or RFC 5952 IPv6. out gets "" if outlen is too
 * small (NETADDR_STRLEN always suffices) or the family is unknown. */
void netaddr_format(const struct netaddr *a, char *out, size_t outlen);
bool netaddr_equal(const struct netaddr *a, const struct netaddr *b);

/* Parse "addr/prefix" or "addr" (see the decisions above). Returns 0, or -1
 * with a static message in *error_r. */
int netmask_parse(const char *s, struct netmask *m, const char **error_r);
/* "net/prefix", always with the prefix. Round-trips through netmask_parse. */
void netmask_format(const struct netmask *m, char *out, size_t outlen);
bool netmask_match(const struct netmask *m, const struct netaddr *a);

/* Parse each item into out (allocated; free with netmask_list_free). On
 * error returns -1, leaves out empty and sets *error_r to a message naming
 * the bad item, valid until the next call in this thread. */
int netmask_list_parse(const char *const *items, size_t count,
		       struct netmask_list *out, const char **error_r);
bool netmask_list_match(const struct netmask_list *l, const struct netaddr *a);
void netmask_list_free(struct netmask_list *l);

#endif
