/* Unit tests for the address parser (src/lib-mail/address.c). */
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "test.h"
#include "xalloc.h"

#define F_NULL ADDR_ALLOW_NULL
#define F_UTF8 ADDR_SMTPUTF8
#define F_PM ADDR_ALLOW_POSTMASTER

struct path_case {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	unsigned flags;
	ssize_t consumed;	/* -1: must fail */
	const char *local;	/* expected on success */
	const char *domain;
	const char *error;	/* expected error on failure (NULL: any) */
};

static const struct path_case path_cases[] = {
	/* plain */
	{ "<a@b.example>", 0, 0, 13, "a", "b.example", NULL },
	{ "<First.Last@Example.ORG>", 0, 0, 24, "First.Last", "example.org", NULL },
	{ "<a!#$%&'*+-/=?^_`{|}~@x.example>", 0, 0, 32, "a!#$%&'*+-/=?^_`{|}~", "x.example", NULL },
	{ "<a@localhost>", 0, 0, 13, "a", "localhost", NULL },
	{ "<a@x-y.example>", 0, 0, 15, "a", "x-y.example", NULL },
	/* ESMTP parameters after the path are not ours */
	{ "<a@b> SIZE=100 BODY=8BITMIME", 0, 0, 5, "a", "b", NULL },
	{ "<a@b>>", 0, 0, 5, "a", "b", NULL },
	/* null path */
	{ "<>", 0, F_NULL, 2, "", "", NULL },
	{ "<> SIZE=1", 0, F_NULL, 2, "", "", NULL },
	{ "<>", 0, 0, -1, NULL, NULL, "null path not allowed" },
	/* source routes are dropped (RFC 5321 Appendix C) */
	{ "<@relay.example:a@b.example>", 0, 0, 28, "a", "b.example", NULL },
	{ "<@r1.example,@r2.example:a@b.example>", 0, 0, 37, "a", "b.example", NULL },
	{ "<@r1.example:@r2.example:a@b>", 0, 0, -1, NULL, NULL, NULL },
	{ "<@r1.example,a@b>", 0, 0, -1, NULL, NULL, "invalid source route" },
	{ "<@[192.0.2.1]:a@b>", 0, 0, -1, NULL, NULL, "address literal in source route" },
	{ "<@:a@b>", 0, 0, -1, NULL, NULL, NULL },
	{ "<@x>", 0, 0, -1, NULL, NULL, "invalid source route" },
	/* quoted local parts */
	{ "<\"a b\"@x.example>", 0, 0, 17, "a b", "x.example", NULL },
	{ "<\"a\\\"b\\\\c\"@x>", 0, 0, 13, "a\"b\\c", "x", NULL },
	{ "<\"\\a\"@x>", 0, 0, 8, "a", "x", NULL },
	{ "<\"\"@x.example>", 0, 0, 14, "", "x.example", NULL },
	{ "<\"abc\"@x>", 0, 0, 9, "abc", "x", NULL },
	{ "<\"a>b\"@x>", 0, 0, 9, "a>b", "x", NULL },
	{ "<\"a@b\"@x>", 0, 0, 9, "a@b", "x", NULL },
	{ "<\"a\tb\"@x>", 0, 0, -1, NULL, NULL, "control character in address" },
	{ "<\"ab@x>", 0, 0, -1, NULL, NULL, "unterminated quoted string" },
	{ "<\"ab\\", 0, 0, -1, NULL, NULL, "unterminated quoted string" },
	{ "<a\"b\"@x>", 0, 0, -1, NULL, NULL, "invalid character in local part" },
	/* domain literals */
	{ "<a@[192.0.2.1]>", 0, 0, 15, "a", "[192.0.2.1]", NULL },
	{ "<a@[IPv6:2001:db8::1]>", 0, 0, 22, "a", "[ipv6:2001:db8::1]", NULL },
	{ "<a@[ipv6:::ffff:192.0.2.1]>", 0, 0, 27, "a", "[ipv6:::ffff:192.0.2.1]", NULL },
	{ "<a@[IPv6:2001:db8::g]>", 0, 0, -1, NULL, NULL, "invalid address literal" },
	{ "<a@[256.1.1.1]>", 0, 0, -1, NULL, NULL, "invalid address literal" },
	{ "<a@[1.2.3]>", 0, 0, -1, NULL, NULL, "invalid address literal" },
	{ "<a@[2001:db8::1]>", 0, 0, -1, NULL, NULL, "invalid address literal" },
	{ "<a@[x-tag:foo]>", 0, 0, -1, NULL, NULL, "invalid address literal" },
	{ "<a@[]>", 0, 0, -1, NULL, NULL, "invalid address literal" },
	{ "<a@[1.2.3.4>", 0, 0, -1, NULL, NULL, "unterminated address literal" },
	{ "<a@[1.2.3.4 ]>", 0, 0, -1, NULL, NULL, "invalid address literal" },
	/* postmaster (RFC 5321 4.1.1.3) */
	{ "<Postmaster>", 0, F_PM, 12, "postmaster", "", NULL },
	{ "<POSTMASTER> NOTIFY=NEVER", 0, F_PM, 12, "postmaster", "", NULL },
	{ "<Postmaster>", 0, 0, -1, NULL, NULL, "missing '@' in address" },
	{ "<\"postmaster\">", 0, F_PM, -1, NULL, NULL, "missing '@' in address" },
	{ "<postmaster@x.example>", 0, F_PM, 22, "postmaster", "x.example", NULL },
	{ "<postmasterx>", 0, F_PM, -1, NULL, NULL, "missing '@' in address" },
	/* structure */
	{ "a@b", 0, 0, -1, NULL, NULL, "path does not start with '<'" },
	{ " <a@b>", 0, 0, -1, NULL, NULL, "path does not start with '<'" },
	{ "", 0, F_NULL, -1, NULL, NULL, "path does not start with '<'" },
	{ "<a@b", 0, 0, -1, NULL, NULL, "missing '>'" },
	{ "<ab>", 0, 0, -1, NULL, NULL, "missing '@' in address" },
	{ "<a@b@c>", 0, 0, -1, NULL, NULL, "more than one '@' in address" },
	{ "<a@>", 0, 0, -1, NULL, NULL, "missing domain" },
	{ "<@>", 0, 0, -1, NULL, NULL, NULL },
	{ "<", 0, 0, -1, NULL, NULL, NULL },
	/* dots */
	{ "<.a@x>", 0, 0, -1, NULL, NULL, "misplaced '.' in local part" },
	{ "<a.@x>", 0, 0, -1, NULL, NULL, "misplaced '.' in local part" },
	{ "<a..b@x>", 0, 0, -1, NULL, NULL, "misplaced '.' in local part" },
	{ "<a@.x>", 0, 0, -1, NULL, NULL, "invalid domain" },
	{ "<a@x.>", 0, 0, -1, NULL, NULL, "invalid domain" },
	{ "<a@x..y>", 0, 0, -1, NULL, NULL, "invalid domain" },
	{ "<a@-x.y>", 0, 0, -1, NULL, NULL, "invalid domain" },
	{ "<a@x-.y>", 0, 0, -1, NULL, NULL, "invalid domain" },
	{ "<a@x_y.z>", 0, 0, -1, NULL, NULL, "invalid character in domain" },
	{ "<a@1.2.3.4>", 0, 0, -1, NULL, NULL, "invalid domain" },
	{ "<a@123>", 0, 0, -1, NULL, NULL, "invalid domain" },
	{ "<a@x.1a>", 0, 0, 8, "a", "x.1a", NULL },
	/* unquoted specials */
	{ "<a b@x>", 0, 0, -1, NULL, NULL, "invalid character in local part" },
	{ "<a(b)@x>", 0, 0, -1, NULL, NULL, "invalid character in local part" },
	{ "<a,b@x>", 0, 0, -1, NULL, NULL, "invalid character in local part" },
	{ "<a:b@x>", 0, 0, -1, NULL, NULL, "invalid character in local part" },
	{ "<a;b@x>", 0, 0, -1, NULL, NULL, "invalid character in local part" },
	{ "<a[b@x>", 0, 0, -1, NULL, NULL, "invalid character in local part" },
	{ "<a\\b@x>", 0, 0, -1, NULL, NULL, "invalid character in local part" },
	{ "<a<b@x>", 0, 0, -1, NULL, NULL, "invalid character in local part" },
	{ "<a@b c>", 0, 0, -1, NULL, NULL, "invalid character in domain" },
	/* control characters, NUL, bare CR / LF */
	{ "<a\x01@b>", 0, 0, -1, NULL, NULL, "control character in address" },
	{ "<a@b\x7f>", 0, 0, -1, NULL, NULL, "control character in address" },
	{ "<a\r@b>", 0, 0, -1, NULL, NULL, "control character in address" },
	{ "<a@b\n>", 0, 0, -1, NULL, NULL, "control character in address" },
	{ "<a@b\r\n>", 0, 0, -1, NULL, NULL, "control character in address" },
	{ "<a\0b@x>", 7, 0, -1, NULL, NULL, "control character in address" },
	{ "<a@x\0>", 6, 0, -1, NULL, NULL, "control character in address" },
	{ "<\"a\0\"@x>", 8, 0, -1, NULL, NULL, "control character in address" },
	/* routing shapes parse; address_has_routing flags them (tested below) */
	{ "<a%b@relay.example>", 0, 0, 19, "a%b", "relay.example", NULL },
	{ "<b!a@relay.example>", 0, 0, 19, "b!a", "relay.example", NULL },
	/* UTF-8 only with SMTPUTF8 (RFC 6531 3.3) */
	{ "<δοκιμή@παράδειγμα.δοκιμή>", 0, F_UTF8, 48,
	  "δοκιμή", "παράδειγμα.δοκιμή", NULL },
	{ "<用户@例子.广告>", 0, F_UTF8, 22, "用户", "例子.广告", NULL },
	{ "<\"ü x\"@x>", 0, F_UTF8, 10, "ü x", "x", NULL },
	{ "<ü@Xn--Bcher-kva.example>", 0, F_UTF8, 26, "ü", "xn--bcher-kva.example", NULL },
	{ "<a@b\xf4\x8f\xbf\xbf>", 0, F_UTF8, 9, "a", "b\xf4\x8f\xbf\xbf", NULL },
	{ "<δοκιμή@x>", 0, 0, -1, NULL, NULL, "non-ASCII character without SMTPUTF8" },
	{ "<a@例子.广告>", 0, 0, -1, NULL, NULL, "non-ASCII character without SMTPUTF8" },
	{ "<\"ü\"@x>", 0, 0, -1, NULL, NULL, "non-ASCII character without SMTPUTF8" },
	/* invalid UTF-8 is refused even with SMTPUTF8 */
	{ "<\xc0\xaf@x>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<\xe0\x80\xaf@x>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<\xf0\x80\x80\xaf@x>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<\xed\xa0\x80@x>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<\xf4\x90\x80\x80@x>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<\xf5\x80\x80\x80@x>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<\x80@x>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<a\xc3@x>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<a@x\xc3>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<a@x\xc3", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<\"\xff\"@x>", 0, F_UTF8, -1, NULL, NULL, "invalid UTF-8 in address" },
	{ "<\"\\\xc3\xbc\"@x>", 0, F_UTF8, -1, NULL, NULL, "invalid quoted-pair" },
};

static void check_path_case(const struct path_case *tc)
{
	struct mail_address a = { NULL, NULL };
	const char *error = NULL;
	size_t len = tc->len != 0 ? tc->len : strlen(tc->in);
	ssize_t ret = address_parse_path(tc->in, len, tc->flags, &a, &error);

	if (ret != tc->consumed)
		fprintf(stderr, "  case \"%s\": got %zd (%s)\n", tc->in, ret,
			ret < 0 ? error : "ok");
	CHECK_INTEQ(ret, tc->consumed);
	if (ret >= 0 && tc->consumed >= 0) {
		CHECK_STREQ(a.local, tc->local);
		CHECK_STREQ(a.domain, tc->domain);
	} else if (ret < 0) {
		CHECK(a.local == NULL && a.domain == NULL);
		if (tc->error != NULL)
			CHECK_STREQ(error, tc->error);
	}
	mail_address_free(&a);
}

TEST(address_path_table)
{
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++)
		check_path_case(&path_cases[i]);
}

/* n octets of c */
static char *rep(char c, size_t n)
{
	char *s = xmalloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A valid hostname of exactly n octets: 63-octet labels of 'a'. */
static char *make_domain(size_t n)
{
	char *s = rep('a', n);
	for (size_t i = 63; i < n; i += 64)
		s[i] = '.';
	if (s[n - 1] == '.') {
		s[n - 1] = 'a';
		s[n - 2] = '.';
	}
	return s;
}

static ssize_t parse_lp(const char *local, const char *domain, const char **error_r)
{
	struct mail_address a;
	char *in = xasprintf("<%s@%s>", local, domain);
	ssize_t ret = address_parse_path(in, strlen(in), 0, &a, error_r);
	mail_address_free(&a);
	free(in);
	return ret;
}

TEST(address_local_part_limit)
{
	char *l64 = rep('l', 64), *l65 = rep('l', 65);
	char *q64 = rep('q', 64), *q65 = rep('q', 65);
	const char *error = NULL;

	q64[0] = q64[63] = '"';	/* "qqq...": 64 octets on the wire */
	q65[0] = q65[64] = '"';
	CHECK_INTEQ(parse_lp(l64, "x.example", &error), 64 + 12);
	CHECK_INTEQ(parse_lp(l65, "x.example", &error), -1);
	CHECK_STREQ(error, "local part too long");
	CHECK_INTEQ(parse_lp(q64, "x.example", &error), 64 + 12);
	CHECK_INTEQ(parse_lp(q65, "x.example", &error), -1);
	CHECK_STREQ(error, "local part too long");
	free(l64);
	free(l65);
	free(q64);
	free(q65);
}

TEST(address_domain_limit)
{
	char *d252 = make_domain(252), *d253 = make_domain(253);
	char *d255 = make_domain(255), *d256 = make_domain(256);
	const char *error = NULL;

	CHECK(domain_is_valid(d253, 0));
	CHECK(!domain_is_valid(d255, 0));	/* RFC 1035: 253 as text */
	/* "<a@" + 252 + ">" is exactly 256 octets */
	CHECK_INTEQ(parse_lp("a", d252, &error), 256);
	CHECK_INTEQ(parse_lp("a", d253, &error), -1);
	CHECK_STREQ(error, "path too long");
	CHECK_INTEQ(parse_lp("a", d255, &error), -1);
	CHECK_STREQ(error, "invalid domain");
	CHECK_INTEQ(parse_lp("a", d256, &error), -1);
	CHECK_STREQ(error, "domain too long");
	free(d252);
	free(d253);
	free(d255);
	free(d256);
}

TEST(address_path_limit)
{
	/* local 64 + "@" + 189 + "<>" = 256; one more octet is 257 */
	char *l64 = rep('l', 64), *d189 = make_domain(189), *d190 = make_domain(190);
	const char *error = NULL;
	struct mail_address a;

	CHECK_INTEQ(parse_lp(l64, d189, &error), 256);
	CHECK_INTEQ(parse_lp(l64, d190, &error), -1);
	CHECK_STREQ(error, "path too long");

	/* a source route counts too */
	char *in = xasprintf("<@r.example:%s@%s>", l64, d189);
	CHECK_INTEQ(address_parse_path(in, strlen(in), 0, &a, &error), -1);
	CHECK_STREQ(error, "path too long");
	free(in);

	/* a bare address must fit in a path */
	in = xasprintf("%s@%s", l64, d189);
	CHECK_INTEQ(address_parse(in, 0, &a, &error), 0);
	mail_address_free(&a);
	free(in);
	in = xasprintf("%s@%s", l64, d190);
	CHECK_INTEQ(address_parse(in, 0, &a, &error), -1);
	CHECK_STREQ(error, "address too long");
	free(in);
	free(l64);
	free(d189);
	free(d190);
}

TEST(address_domain_is_valid)
{
	char *label63 = rep('a', 63), *label64 = rep('a', 64);

	CHECK(domain_is_valid("example.org", 0));
	CHECK(domain_is_valid("EXAMPLE.org", 0));
	CHECK(domain_is_valid("localhost", 0));	/* single label: allowed */
	CHECK(domain_is_valid("a-b.c0", 0));
	CHECK(domain_is_valid("xn--bcher-kva.example", 0));
	CHECK(domain_is_valid("1.example", 0));
	CHECK(domain_is_valid(label63, 0));
	CHECK(!domain_is_valid(label64, 0));
	CHECK(!domain_is_valid(NULL, 0));
	CHECK(!domain_is_valid("", 0));
	CHECK(!domain_is_valid(".", 0));
	CHECK(!domain_is_valid("example.org.", 0));
	CHECK(!domain_is_valid("-a.b", 0));
	CHECK(!domain_is_valid("a_b.c", 0));
	CHECK(!domain_is_valid("a b.c", 0));
	CHECK(!domain_is_valid("192.0.2.1", 0));
	CHECK(!domain_is_valid("[192.0.2.1]", 0));
	CHECK(!domain_is_valid("bücher.example", 0));
	CHECK(domain_is_valid("bücher.example", ADDR_SMTPUTF8));
	CHECK(!domain_is_valid("b\xed\xa0\x80.example", ADDR_SMTPUTF8));
	free(label63);
	free(label64);
}

TEST(address_parse_bare)
{
	struct mail_address a;
	const char *error = NULL;

	CHECK_INTEQ(address_parse("Alice@Example.ORG", 0, &a, &error), 0);
	CHECK_STREQ(a.local, "Alice");
	CHECK_STREQ(a.domain, "example.org");
	mail_address_free(&a);
	CHECK(a.local == NULL && a.domain == NULL);

	CHECK_INTEQ(address_parse("\"a b\"@x", 0, &a, &error), 0);
	CHECK_STREQ(a.local, "a b");
	mail_address_free(&a);

	CHECK_INTEQ(address_parse("", ADDR_ALLOW_NULL, &a, &error), 0);
	CHECK_STREQ(a.local, "");
	CHECK_STREQ(a.domain, "");
	mail_address_free(&a);

	CHECK_INTEQ(address_parse("postmaster", ADDR_ALLOW_POSTMASTER, &a, &error), 0);
	CHECK_STREQ(a.local, "postmaster");
	CHECK_STREQ(a.domain, "");
	mail_address_free(&a);

	static const struct { const char *in; const char *error; } bad[] = {
		{ "", "empty address" },
		{ "<a@b>", "invalid character in local part" },
		{ "a@b>", "invalid character in domain" },
		{ "a@b ", "invalid character in domain" },
		{ " a@b", "invalid character in local part" },
		{ "a@b@c", "more than one '@' in address" },
		{ "@r.example:a@b", "empty local part" },
		{ "ab", "missing '@' in address" },
		{ "a@", "missing domain" },
		{ "a@b\n", "control character in address" },
		{ "ü@x", "non-ASCII character without SMTPUTF8" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		CHECK_INTEQ(address_parse(bad[i].in, 0, &a, &error), -1);
		CHECK_STREQ(error, bad[i].error);
		CHECK(a.local == NULL && a.domain == NULL);
	}
}

static void check_to_string(const char *local, const char *domain, const char *want)
{
	struct mail_address a = { (char *)local, (char *)domain }, b;
	const char *error = NULL;
	char *s = mail_address_to_string(&a);

	CHECK_STREQ(s, want);
	/* what we render parses back to the same parts */
	CHECK_INTEQ(address_parse(s, ADDR_ALLOW_NULL | ADDR_SMTPUTF8 | ADDR_ALLOW_POSTMASTER,
				  &b, &error), 0);
	if (b.local != NULL) {
		CHECK_STREQ(b.local, local);
		CHECK_STREQ(b.domain, domain);
	}
	mail_address_free(&b);
	free(s);
}

TEST(address_to_string_quoting)
{
	check_to_string("a.b", "x.example", "a.b@x.example");
	check_to_string("a+tag", "x", "a+tag@x");
	check_to_string("a b", "x", "\"a b\"@x");
	check_to_string("a\"b\\c", "x", "\"a\\\"b\\\\c\"@x");
	check_to_string("", "x", "\"\"@x");
	check_to_string(".a", "x", "\".a\"@x");
	check_to_string("a.", "x", "\"a.\"@x");
	check_to_string("a..b", "x", "\"a..b\"@x");
	check_to_string("a@b", "x", "\"a@b\"@x");
	check_to_string("a,b", "x", "\"a,b\"@x");
	check_to_string("用户", "例子.广告", "用户@例子.广告");
	check_to_string("a", "[192.0.2.1]", "a@[192.0.2.1]");
	check_to_string("", "", "");
	check_to_string("postmaster", "", "postmaster");
}

TEST(address_routing_flag)
{
	static const struct { const char *in; bool routing; } cases[] = {
		{ "<a%b@relay.example>", true },
		{ "<b!a@relay.example>", true },
		{ "<\"a@b\"@relay.example>", true },
		{ "<\"a%b\"@relay.example>", true },
		{ "<ab@relay.example>", false },
		{ "<a+b@relay.example>", false },
		{ "<@r.example:a@b.example>", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mail_address a;
		const char *error;
		REQUIRE(address_parse_path(cases[i].in, strlen(cases[i].in), 0, &a, &error) > 0);
		CHECK(address_has_routing(&a) == cases[i].routing);
		mail_address_free(&a);
	}
}

TEST(address_safe_for_path)
{
	char *l64 = rep('a', 64), *l65 = rep('a', 65);

	CHECK(address_local_is_safe_for_path("user"));
	CHECK(address_local_is_safe_for_path("user+tag"));
	CHECK(address_local_is_safe_for_path("first.last"));
	CHECK(address_local_is_safe_for_path("a b"));
	CHECK(address_local_is_safe_for_path("a..b"));
	CHECK(address_local_is_safe_for_path("用户"));
	CHECK(address_local_is_safe_for_path(l64));
	CHECK(!address_local_is_safe_for_path(l65));
	CHECK(!address_local_is_safe_for_path(NULL));
	CHECK(!address_local_is_safe_for_path(""));
	CHECK(!address_local_is_safe_for_path("."));
	CHECK(!address_local_is_safe_for_path(".."));
	CHECK(!address_local_is_safe_for_path(".hidden"));
	CHECK(!address_local_is_safe_for_path("a/b"));
	CHECK(!address_local_is_safe_for_path("../../etc"));
	CHECK(!address_local_is_safe_for_path("/"));
	CHECK(!address_local_is_safe_for_path("a\nb"));
	CHECK(!address_local_is_safe_for_path("a\x7f"));
	free(l64);
	free(l65);
}

TEST(address_free_is_idempotent)
{
	struct mail_address a = { NULL, NULL };

	mail_address_free(&a);
	CHECK(a.local == NULL);
	a.local = xstrdup("x");
	a.domain = xstrdup("y");
	mail_address_free(&a);
	mail_address_free(&a);
	CHECK(a.local == NULL && a.domain == NULL);
}
