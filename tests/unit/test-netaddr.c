/* Unit tests for IP addresses and networks (src/lib/netaddr.c). */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "netaddr.h"
#include "test.h"

struct addr_case {
	const char *in;
	int family;		/* 0: must fail */
	const char *text;	/* netaddr_format of the result */
};

static const struct addr_case addr_cases[] = {
	{ "192.0.2.1", AF_INET, "192.0.2.1" },
	{ "0.0.0.0", AF_INET, "0.0.0.0" },
	{ "255.255.255.255", AF_INET, "255.255.255.255" },
	{ "2001:db8::1", AF_INET6, "2001:db8::1" },
	{ "2001:DB8:0:0:0:0:0:1", AF_INET6, "2001:db8::1" },
	{ "::", AF_INET6, "::" },
	{ "::1", AF_INET6, "::1" },
	{ "1:2:3:4:5:6:7::", AF_INET6, "1:2:3:4:5:6:7:0" },	/* RFC 5952 4.2.2 */
	{ "fe80::1", AF_INET6, "fe80::1" },
	/* v4-mapped (RFC 4291 2.5.5.2) is stored as IPv4, in either spelling */
	{ "::ffff:1.2.3.4", AF_INET, "1.2.3.4" },
	{ "::FFFF:102:304", AF_INET, "1.2.3.4" },
	{ "::ffff:0.0.0.0", AF_INET, "0.0.0.0" },
	/* v4-compatible (deprecated, 2.5.5.1) is just IPv6 */
	{ "::1.2.3.4", AF_INET6, "::1.2.3.4" },
	{ "::fffe:1.2.3.4", AF_INET6, "::fffe:102:304" },
	/* bad */
	{ "", 0, NULL },
	{ "1.2.3", 0, NULL },
	{ "1.2.3.4.5", 0, NULL },
	{ "256.0.0.1", 0, NULL },
	{ "01.2.3.4", 0, NULL },	/* octal elsewhere */
	{ "1.2.3.010", 0, NULL },
	{ "0x7f.0.0.1", 0, NULL },
	{ "1.2.3.4 ", 0, NULL },
	{ " 1.2.3.4", 0, NULL },
	{ "1.2.3.4/32", 0, NULL },
	{ "1.2.3.-4", 0, NULL },
	{ "fe80::1%eth0", 0, NULL },
	{ "1::2::3", 0, NULL },
	{ "12345::", 0, NULL },
	{ "1:2:3:4:5:6:7:8:9", 0, NULL },
	{ "[::1]", 0, NULL },
	{ "::ffff:1.2.3", 0, NULL },
	{ "localhost", 0, NULL },
};

TEST(netaddr_parse_format)
{
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct netaddr a;
		char out[NETADDR_STRLEN];
		int ret = netaddr_parse(c->in, &a);

		if (c->family == 0) {
			if (ret != -1)
				fprintf(stderr, "  case \"%s\"\n", c->in);
			CHECK_INTEQ(ret, -1);
			continue;
		}
		if (ret != 0 || a.family != c->family)
			fprintf(stderr, "  case \"%s\"\n", c->in);
		REQUIRE(ret == 0);
		CHECK_INTEQ(a.family, c->family);
		netaddr_format(&a, out, sizeof(out));
		CHECK_STREQ(out, c->text);
	}
}

TEST(netaddr_format_limits)
{
	struct netaddr a;
	char out[NETADDR_STRLEN];
	char tiny[4] = "xyz";

	REQUIRE(netaddr_parse("1111:2222:3333:4444:5555:6666:7777:8888", &a) == 0);
	netaddr_format(&a, out, sizeof(out));
	CHECK_STREQ(out, "1111:2222:3333:4444:5555:6666:7777:8888");
	netaddr_format(&a, tiny, sizeof(tiny));
	CHECK_STREQ(tiny, "");
	REQUIRE(netaddr_parse("255.255.255.255", &a) == 0);
	netaddr_format(&a, out, 16);
	CHECK_STREQ(out, "255.255.255.255");
	a.family = AF_UNIX;
	netaddr_format(&a, out, sizeof(out));
	CHECK_STREQ(out, "");
}

TEST(netaddr_from_sockaddr)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
	struct netaddr a, b;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	REQUIRE(inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr) == 1);
	REQUIRE(netaddr_from_sockaddr((struct sockaddr *)&sin, &a) == 0);
	REQUIRE(netaddr_parse("198.51.100.7", &b) == 0);
	CHECK(netaddr_equal(&a, &b));

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	REQUIRE(inet_pton(AF_INET6, "2001:db8::42", &sin6.sin6_addr) == 1);
	REQUIRE(netaddr_from_sockaddr((struct sockaddr *)&sin6, &a) == 0);
	CHECK_INTEQ(a.family, AF_INET6);
	REQUIRE(netaddr_parse("2001:db8::42", &b) == 0);
	CHECK(netaddr_equal(&a, &b));

	/* a v4 client on a dual-stack socket is the v4 address */
	REQUIRE(inet_pton(AF_INET6, "::ffff:198.51.100.7", &sin6.sin6_addr) == 1);
	REQUIRE(netaddr_from_sockaddr((struct sockaddr *)&sin6, &a) == 0);
	CHECK_INTEQ(a.family, AF_INET);
	REQUIRE(netaddr_parse("198.51.100.7", &b) == 0);
	CHECK(netaddr_equal(&a, &b));

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	CHECK_INTEQ(netaddr_from_sockaddr((struct sockaddr *)&sun, &a), -1);
}

struct mask_case {
	const char *in;
	const char *text;	/* netmask_format; NULL: must fail */
	const char *error;	/* expected error when failing (NULL: any) */
};

static const struct mask_case mask_cases[] = {
	{ "127.0.0.0/8", "127.0.0.0/8", NULL },
	{ "127.0.0.1", "127.0.0.1/32", NULL },
	{ "192.0.2.77/24", "192.0.2.0/24", NULL },	/* host bits cleared */
	{ "0.0.0.0/0", "0.0.0.0/0", NULL },
	{ "10.1.2.3/0", "0.0.0.0/0", NULL },
	{ "1.2.3.4/32", "1.2.3.4/32", NULL },
	{ "1.2.3.5/31", "1.2.3.4/31", NULL },
	{ "172.31.255.255/12", "172.16.0.0/12", NULL },
	{ "[192.0.2.1]/24", "192.0.2.0/24", NULL },
	{ "::1/128", "::1/128", NULL },
	{ "::1", "::1/128", NULL },
	{ "::/0", "::/0", NULL },
	{ "2001:db8::1/32", "2001:db8::/32", NULL },
	{ "2001:db8:ffff::/33", "2001:db8:8000::/33", NULL },
	{ "2001:db8::1/127", "2001:db8::/127", NULL },
	{ "[2001:db8::]/32", "2001:db8::/32", NULL },	/* Postfix style */
	{ "[::1]", "::1/128", NULL },
	/* v4-mapped networks become IPv4 when the prefix reaches the v4 part */
	{ "::ffff:10.0.0.0/104", "10.0.0.0/8", NULL },
	{ "::ffff:1.2.3.4", "1.2.3.4/32", NULL },
	{ "::ffff:1.2.3.4/128", "1.2.3.4/32", NULL },
	{ "::ffff:0:0/96", "0.0.0.0/0", NULL },
	{ "::ffff:1.2.3.4/80", "::/80", NULL },
	/* bad */
	{ "", NULL, "invalid IP address" },
	{ "/8", NULL, "invalid IP address" },
	{ "1.2.3.4/", NULL, "invalid prefix length (0..32)" },
	{ "1.2.3.4/33", NULL, "invalid prefix length (0..32)" },
	{ "1.2.3.4/08", NULL, "invalid prefix length (0..32)" },
	{ "1.2.3.4/-1", NULL, NULL },
	{ "1.2.3.4/+8", NULL, NULL },
	{ "1.2.3.4/ 8", NULL, NULL },
	{ "1.2.3.4/8 ", NULL, NULL },
	{ "1.2.3.4/8/8", NULL, NULL },
	{ "1.2.3.4/99999999999999999999999", NULL, NULL },
	{ "1.2.3.4/4294967304", NULL, NULL },	/* 2^32 + 8 */
	{ "2001:db8::/129", NULL, "invalid prefix length (0..128)" },
	{ "01.2.3.4/8", NULL, "invalid IP address" },
	{ "1.2.3/24", NULL, "invalid IP address" },
	{ "example.org/24", NULL, "invalid IP address" },
	{ "[::1", NULL, "missing ']'" },
	{ "[::1]x", NULL, "junk after ']'" },
	{ "[::1]/", NULL, NULL },
	{ "[]", NULL, NULL },
	{ "[::1]]", NULL, NULL },
	{ "::1]", NULL, NULL },
	{ "fe80::1%eth0/64", NULL, NULL },
};

TEST(netmask_parse_format)
{
	for (size_t i = 0; i < sizeof(mask_cases) / sizeof(mask_cases[0]); i++) {
		const struct mask_case *c = &mask_cases[i];
		struct netmask m, m2;
		const char *error = NULL;
		char out[NETMASK_STRLEN];
		int ret = netmask_parse(c->in, &m, &error);

		if ((ret == 0) != (c->text != NULL))
			fprintf(stderr, "  case \"%s\"\n", c->in);
		if (c->text == NULL) {
			CHECK_INTEQ(ret, -1);
			CHECK(error != NULL);
			if (c->error != NULL)
				CHECK_STREQ(error, c->error);
			continue;
		}
		REQUIRE(ret == 0);
		netmask_format(&m, out, sizeof(out));
		CHECK_STREQ(out, c->text);
		/* the formatted form parses back to the same network */
		REQUIRE(netmask_parse(out, &m2, &error) == 0);
		CHECK(netaddr_equal(&m.net, &m2.net) && m.prefix == m2.prefix);
	}
}

TEST(netmask_parse_long_input)
{
	char big[2000];
	struct netmask m;
	const char *error = NULL;

	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INTEQ(netmask_parse(big, &m, &error), -1);
	big[0] = '[';
	CHECK_INTEQ(netmask_parse(big, &m, &error), -1);
	memcpy(big, "1.2.3.4/", 8);
	CHECK_INTEQ(netmask_parse(big, &m, &error), -1);
}

struct match_case {
	const char *net;
	const char *addr;
	bool match;
};

static const struct match_case match_cases[] = {
	{ "127.0.0.0/8", "127.0.0.1", true },
	{ "127.0.0.0/8", "127.255.255.255", true },
	{ "127.0.0.0/8", "128.0.0.1", false },
	{ "127.0.0.0/8", "::1", false },
	{ "0.0.0.0/0", "1.2.3.4", true },
	{ "0.0.0.0/0", "255.255.255.255", true },
	{ "0.0.0.0/0", "::1", false },		/* families never cross */
	{ "::/0", "2001:db8::1", true },
	{ "::/0", "1.2.3.4", false },
	{ "::/0", "::ffff:1.2.3.4", false },	/* that is IPv4 */
	{ "10.0.0.0/8", "::ffff:10.9.8.7", true },
	{ "::ffff:10.0.0.0/104", "10.9.8.7", true },
	{ "::ffff:1.2.3.4/80", "1.2.3.4", false },
	{ "::ffff:1.2.3.4/80", "::1", true },
	{ "192.0.2.0/25", "192.0.2.127", true },
	{ "192.0.2.0/25", "192.0.2.128", false },
	{ "192.0.2.0/23", "192.0.3.1", true },
	{ "192.0.2.0/23", "192.0.4.1", false },
	{ "1.2.3.4/32", "1.2.3.4", true },
	{ "1.2.3.4/32", "1.2.3.5", false },
	{ "1.2.3.4/31", "1.2.3.5", true },
	{ "1.2.3.4/31", "1.2.3.6", false },
	{ "1.2.3.4", "1.2.3.4", true },
	{ "2001:db8::/32", "2001:db8:ffff::1", true },
	{ "2001:db8::/32", "2001:db9::1", false },
	{ "2001:db8::/33", "2001:db8:7fff::1", true },
	{ "2001:db8::/33", "2001:db8:8000::1", false },
	{ "2001:db8::1/128", "2001:db8::1", true },
	{ "2001:db8::1/128", "2001:db8::2", false },
	{ "::1", "::1", true },
	{ "fe80::/10", "febf::1", true },
	{ "fe80::/10", "fec0::1", false },
};

TEST(netmask_match_table)
{
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		struct netmask m;
		struct netaddr a;
		const char *error;

		REQUIRE(netmask_parse(c->net, &m, &error) == 0);
		REQUIRE(netaddr_parse(c->addr, &a) == 0);
		if (netmask_match(&m, &a) != c->match)
			fprintf(stderr, "  case %s vs %s\n", c->net, c->addr);
		CHECK(netmask_match(&m, &a) == c->match);
	}
}

TEST(netmask_list)
{
	static const char *const items[] = { "127.0.0.0/8", "[::1]/128", "192.0.2.0/24" };
	static const char *const bad[] = { "127.0.0.0/8", "10.0.0.0/40" };
	struct netmask_list l;
	struct netaddr a;
	const char *error = NULL;

	REQUIRE(netmask_list_parse(items, 3, &l, &error) == 0);
	CHECK_INTEQ(l.count, 3);
	REQUIRE(netaddr_parse("192.0.2.200", &a) == 0);
	CHECK(netmask_list_match(&l, &a));
	REQUIRE(netaddr_parse("::1", &a) == 0);
	CHECK(netmask_list_match(&l, &a));
	REQUIRE(netaddr_parse("::2", &a) == 0);
	CHECK(!netmask_list_match(&l, &a));
	REQUIRE(netaddr_parse("198.51.100.1", &a) == 0);
	CHECK(!netmask_list_match(&l, &a));
	netmask_list_free(&l);
	CHECK(l.items == NULL && l.count == 0);

	CHECK_INTEQ(netmask_list_parse(bad, 2, &l, &error), -1);
	CHECK_STREQ(error, "invalid network \"10.0.0.0/40\": invalid prefix length (0..32)");
	CHECK(l.items == NULL && l.count == 0);

	/* an empty list matches nothing */
	REQUIRE(netmask_list_parse(NULL, 0, &l, &error) == 0);
	REQUIRE(netaddr_parse("127.0.0.1", &a) == 0);
	CHECK(!netmask_list_match(&l, &a));
	netmask_list_free(&l);
}
