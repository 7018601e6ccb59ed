/* Tests for src/lib-imap/imap-match.c (LIST patterns, RFC 9051 6.3.9). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap-match.h"
#include "test.h"

static int match_once(const char *pattern, const char *name)
{
	const char *error = NULL;
	struct imap_match *m = imap_match_create(pattern, strlen(pattern), '/', &error);

	if (m == NULL)
		return -1;
	int ret = imap_match(m, name, strlen(name)) ? 1 : 0;
	imap_match_destroy(&m);
	CHECK(m == NULL);
	return ret;
}

#define MATCHES(p, n) CHECK_INTEQ(match_once(p, n), 1)
#define NO_MATCH(p, n) CHECK_INTEQ(match_once(p, n), 0)

TEST(imap_match_literal)
{
	MATCHES("Sent", "Sent");
	NO_MATCH("Sent", "sent");		/* case-sensitive */
	NO_MATCH("Sent", "Sent2");
	NO_MATCH("Sent2", "Sent");
	NO_MATCH("Sent", "");
	MATCHES("a/b/c", "a/b/c");
	NO_MATCH("a/b", "a/b/c");
	MATCHES("v1.2", "v1.2");
	NO_MATCH("", "a");
	MATCHES("", "");
	MATCHES("Entwürfe", "Entwürfe");	/* UTF-8 octets as they are */
	NO_MATCH("Entwürfe", "EntwÜrfe");
}

TEST(imap_match_star)
{
	MATCHES("*", "INBOX");
	MATCHES("*", "a/b/c");
	MATCHES("*", "");
	MATCHES("a*", "a");
	MATCHES("a*", "a/b/c");
	NO_MATCH("a*", "ba");
	MATCHES("*c", "a/b/c");
	MATCHES("a/*", "a/b");
	MATCHES("a/*", "a/b/c");
	NO_MATCH("a/*", "a");
	MATCHES("a*c", "abc");
	MATCHES("a*c", "a/b/c");
	NO_MATCH("a*c", "a/b/cd");
	MATCHES("**", "x/y");
	MATCHES("*a*b*", "xaybz");
	NO_MATCH("*a*b*", "xbyaz");
}

TEST(imap_match_percent)
{
	MATCHES("%", "Sent");
	MATCHES("%", "");
	NO_MATCH("%", "a/b");
	MATCHES("%/%", "a/b");
	NO_MATCH("%/%", "a/b/c");
	MATCHES("a/%", "a/b");
	NO_MATCH("a/%", "a/b/c");
	NO_MATCH("a/%", "a");
	MATCHES("a%", "abc");
	NO_MATCH("a%", "ab/c");
	MATCHES("%c", "abc");
	NO_MATCH("%c", "a/c");
	MATCHES("%/c", "a/c");
	MATCHES("a%c%e", "abcde");
	NO_MATCH("a%c%e", "ab/cde");
	MATCHES("%%", "abc");		/* folded into one */
	MATCHES("%*", "a/b");		/* a run with "*" is "*" */
	MATCHES("*%", "a/b");
	MATCHES("%/*", "a/b/c");
	NO_MATCH("%/*", "abc");
}

TEST(imap_match_inbox)
{
	MATCHES("INBOX", "INBOX");
	MATCHES("inbox", "INBOX");
	MATCHES("InBoX", "INBOX");
	MATCHES("inbox/%", "INBOX/sub");
	MATCHES("Inbox/sub", "INBOX/sub");
	NO_MATCH("inbox/SUB", "INBOX/sub");	/* only INBOX folds */
	MATCHES("i*", "INBOX");
	MATCHES("%x", "INBOX");
	MATCHES("INBO%", "INBOX");
	NO_MATCH("inbox", "INBOX2");
	NO_MATCH("inbox2", "INBOX2");		/* "INBOX2" is not INBOX */
	NO_MATCH("inbox*", "INBOXES");
	MATCHES("INBOX*", "INBOXES");
	NO_MATCH("inbox", "inboxes");
	/* the store's names are canonical, but the rule is the name's */
	MATCHES("INBOX", "inbox");
}

TEST(imap_match_other_separator)
{
	const char *error;
	struct imap_match *m = imap_match_create("a.%", 3, '.', &error);
	REQUIRE(m != NULL);
	CHECK(imap_match(m, "a.b", 3));
	CHECK(!imap_match(m, "a.b.c", 5));
	CHECK(imap_match(m, "a.b/c", 5));
	imap_match_destroy(&m);
}

TEST(imap_match_limits)
{
	const char *error = NULL;
	char pat[IMAP_MATCH_MAX_LEN + 2];
	struct imap_match *m;

	/* wildcards: the limit holds, one more is refused */
	memset(pat, '*', IMAP_MATCH_MAX_WILDCARDS);
	m = imap_match_create(pat, IMAP_MATCH_MAX_WILDCARDS, '/', &error);
	REQUIRE(m != NULL);
	CHECK(imap_match(m, "x/y", 3));
	imap_match_destroy(&m);
	memset(pat, '%', IMAP_MATCH_MAX_WILDCARDS + 1);
	m = imap_match_create(pat, IMAP_MATCH_MAX_WILDCARDS + 1, '/', &error);
	CHECK(m == NULL);
	CHECK(error != NULL && strstr(error, "wildcards") != NULL);

	/* length */
	memset(pat, 'a', sizeof(pat));
	m = imap_match_create(pat, IMAP_MATCH_MAX_LEN, '/', &error);
	REQUIRE(m != NULL);
	CHECK(imap_match(m, pat, IMAP_MATCH_MAX_LEN));
	CHECK(!imap_match(m, pat, IMAP_MATCH_MAX_LEN - 1));
	imap_match_destroy(&m);
	error = NULL;
	m = imap_match_create(pat, IMAP_MATCH_MAX_LEN + 1, '/', &error);
	CHECK(m == NULL && error != NULL);

	/* NUL */
	error = NULL;
	m = imap_match_create("a\0b", 3, '/', &error);
	CHECK(m == NULL && error != NULL);

	imap_match_destroy(&m);	/* NULL-safe */
}

TEST(imap_match_ends_with_percent)
{
	const char *error;
	struct imap_match *m = imap_match_create("a/%", 3, '/', &error);
	REQUIRE(m != NULL);
	CHECK(imap_match_ends_with_percent(m));
	imap_match_destroy(&m);
	m = imap_match_create("a/*", 3, '/', &error);
	REQUIRE(m != NULL);
	CHECK(!imap_match_ends_with_percent(m));
	imap_match_destroy(&m);
	m = imap_match_create("", 0, '/', &error);
	REQUIRE(m != NULL);
	CHECK(!imap_match_ends_with_percent(m));
	imap_match_destroy(&m);
}

/* The definition, by exhaustive backtracking: only for tiny inputs. */
static bool ref_match(const char *p, const char *n, bool inbox, size_t at)
{
	if (*p == '\0')
		return *n == '\0';
	if (*p == '*' || *p == '%') {
		/* try every length the wildcard may take */
		for (size_t k = 0;; k++) {
			if (ref_match(p + 1, n + k, inbox, at + k))
				return true;
			if (n[k] == '\0' || (*p == '%' && n[k] == '/'))
				return false;
		}
	}
	if (*n == '\0')
		return false;
	char a = *p, b = *n;
	if (inbox && at < 5) {
		a = (char)(a >= 'a' && a <= 'z' ? a - 32 : a);
		b = (char)(b >= 'a' && b <= 'z' ? b - 32 : b);
	}
	return a == b && ref_match(p + 1, n + 1, inbox, at + 1);
}

/* A string of 0..max-1 characters from alphabet (a fixed LCG: the same
 * cases every run). */
static void random_string(char *out, size_t max, const char *alphabet, unsigned *seed)
{
	size_t n, len;

	*seed = *seed * 1103515245u + 12345u;
	len = (*seed >> 16) % max;
	n = strlen(alphabet);
	for (size_t i = 0; i < len; i++) {
		*seed = *seed * 1103515245u + 12345u;
		out[i] = alphabet[(*seed >> 16) % n];
	}
	out[len] = '\0';
}

TEST(imap_match_random_against_reference)
{
	static const char *const names_fixed[] = { "INBOX", "inbox/a", "INBOX/b/a", "Inbox" };
	static const char *const pats_fixed[] = { "inbox", "i%", "I*", "inbox/%", "%/a", "*x*" };
	unsigned seed = 12345;
	int mismatches = 0;

	for (int iter = 0; iter < 20000; iter++) {
		char p[10], n[12];
		random_string(p, 8, "ab/*%", &seed);
		random_string(n, 11, "ab/", &seed);
		if (match_once(p, n) != (ref_match(p, n, false, 0) ? 1 : 0) && mismatches++ < 5) {
			char msg[64];
			snprintf(msg, sizeof(msg), "pattern \"%s\" name \"%s\"", p, n);
			test_fail(__FILE__, __LINE__, msg);
		}
	}
	for (size_t i = 0; i < sizeof(names_fixed) / sizeof(names_fixed[0]); i++) {
		const char *nm = names_fixed[i];
		bool inbox = strncasecmp(nm, "INBOX", 5) == 0 && (nm[5] == '\0' || nm[5] == '/');
		for (size_t j = 0; j < sizeof(pats_fixed) / sizeof(pats_fixed[0]); j++)
			CHECK_INTEQ(match_once(pats_fixed[j], nm),
				    ref_match(pats_fixed[j], nm, inbox, 0) ? 1 : 0);
	}
	CHECK_INTEQ(mismatches, 0);
}

/* Patterns that make a backtracking matcher explode stay cheap: 200 names
 * of 1000 octets against a pattern of many wildcards. With backtracking
 * this would not finish; here it is a few million octet steps. */
TEST(imap_match_bounded_work)
{
	char name[1001], pattern[64];
	const char *error;
	size_t p = 0;

	memset(name, 'a', 1000);
	name[1000] = '\0';
	for (int i = 0; i < 15; i++) {
		pattern[p++] = '*';
		pattern[p++] = 'a';
	}
	pattern[p++] = '*';
	pattern[p++] = 'b';
	struct imap_match *m = imap_match_create(pattern, p, '/', &error);
	REQUIRE(m != NULL);
	struct imap_match *m2 = imap_match_create("%a%a%a%a%a%a%a%a%a%a%b", 22, '/', &error);
	REQUIRE(m2 != NULL);

	clock_t start = clock();
	for (int i = 0; i < 200; i++) {
		CHECK(!imap_match(m, name, 1000));
		CHECK(!imap_match(m2, name, 1000));
	}
	name[999] = 'b';
	CHECK(imap_match(m, name, 1000));
	CHECK(imap_match(m2, name, 1000));
	double secs = (double)(clock() - start) / CLOCKS_PER_SEC;
	CHECK(secs < 2.0);
	imap_match_destroy(&m);
	imap_match_destroy(&m2);
}
