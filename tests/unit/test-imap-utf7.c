/* Tests for src/lib-imap/imap-utf7.c: RFC 3501 5.1.3 examples, round trips
 * over the BMP and the astral planes, and the invalid forms (UTF8-6). */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "imap-utf7.h"
#include "test.h"

struct utf7_pair {
	const char *utf7;
	const char *utf8;
};

static const struct utf7_pair utf7_pairs[] = {
	/* RFC 3501 5.1.3 and RFC 2152 examples */
	{ "&Jjo-!", "\xe2\x98\xba!" },
	{ "Hi Mom -&Jjo--!", "Hi Mom -\xe2\x98\xba-!" },
	{ "&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	  "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "&-", "&" },
	{ "&-&-", "&&" },
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "Entw&APw-rfe", "Entw\xc3\xbcrfe" },
	{ "&AOQA9g-", "\xc3\xa4\xc3\xb6" },		/* one run for two characters */
	{ "&2D3eAA-", "\xf0\x9f\x98\x80" },		/* U+1F600, a surrogate pair */
	{ "x&2D3eAA-y&IKw-", "x\xf0\x9f\x98\x80y\xe2\x82\xac" },
	{ "a&AH8-b", "a\x7f" "b" },			/* DEL is not printable */
	{ "&AAE-", "\x01" },
	{ "&- &-", "& &" },
};

TEST(imap_utf7_examples)
{
	for (size_t i = 0; i < sizeof(utf7_pairs) / sizeof(utf7_pairs[0]); i++) {
		const struct utf7_pair *t = &utf7_pairs[i];
		buf_t out;

		buf_init(&out, 0);
		CHECK(imap_utf7_to_utf8(t->utf7, strlen(t->utf7), &out) == 0);
		CHECK_STREQ(buf_cstr(&out), t->utf8);
		CHECK(imap_utf7_is_valid(t->utf7, strlen(t->utf7)));
		buf_reset(&out);
		CHECK(imap_utf8_to_utf7(t->utf8, strlen(t->utf8), &out) == 0);
		CHECK_STREQ(buf_cstr(&out), t->utf7);
		buf_free(&out);
	}
}

static const char *const utf7_invalid[] = {
	"&AGE",			/* UTF8-6: no closing "-" */
	"&AGE-",		/* "a" must stand for itself */
	"&",
	"a&",
	"&Jjo",
	"&Jj-",			/* 12 bits: no whole unit */
	"&Jjp-",		/* nonzero trailing bits */
	"&JjoA-",		/* 6 spare bits: one base64 character too many */
	"&2D0-",		/* high surrogate alone */
	"&3gA-",		/* low surrogate alone */
	"&2D3YPQ-",		/* high surrogate followed by high surrogate */
	"&AOQ-&APY-",		/* adjacent runs must be one */
	"&AAA-",		/* U+0000 */
	"&ACY-",		/* "&" encoded */
	"&AH4-",		/* "~" encoded */
	"&ACA-",		/* SP encoded */
	"&Jj/o-",		/* "/" is not modified base64 */
	"&Jjo=-",		/* no padding */
	"&Jj o-",
	"\xff",			/* UTF8-6: 8-bit octets are never modified UTF-7 */
	"caf\xc3\xa9",
	"a\tb",
	"a\x7f",
};

TEST(imap_utf7_invalid)
{
	for (size_t i = 0; i < sizeof(utf7_invalid) / sizeof(utf7_invalid[0]); i++) {
		const char *in = utf7_invalid[i];
		buf_t out;

		buf_init(&out, 0);
		buf_append_cstr(&out, "keep");
		if (imap_utf7_to_utf8(in, strlen(in), &out) != -1) {
			char m[128];
			snprintf(m, sizeof(m), "decoded invalid \"%s\"", in);
			test_fail(__FILE__, __LINE__, m);
		}
		CHECK_STREQ(buf_cstr(&out), "keep");	/* unchanged */
		CHECK(!imap_utf7_is_valid(in, strlen(in)));
		buf_free(&out);
	}
	/* NUL is not modified UTF-7 either */
	CHECK(!imap_utf7_is_valid("a\0b", 3));
	/* the output maximum is honoured */
	buf_t out;
	buf_init(&out, 3);
	buf_append_cstr(&out, "x");
	CHECK(imap_utf7_to_utf8("&Jjo-", 5, &out) == -1);
	CHECK_STREQ(buf_cstr(&out), "x");
	CHECK(imap_utf7_to_utf8("a&-", 3, &out) == 0);
	CHECK_STREQ(buf_cstr(&out), "xa&");
	CHECK(imap_utf7_to_utf8("b", 1, &out) == -1);
	buf_free(&out);
}

TEST(imap_utf7_encode_invalid_utf8)
{
	static const char *const bad[] = {
		"\xff", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80",
		"\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x98",
		"a\xe2", "\x80", "\xf0\x8f\xbf\xbf",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_t out;
		buf_init(&out, 0);
		buf_append_cstr(&out, "keep");
		CHECK(imap_utf8_to_utf7(bad[i], strlen(bad[i]), &out) == -1);
		CHECK_STREQ(buf_cstr(&out), "keep");
		CHECK(!imap_utf8_is_valid(bad[i], strlen(bad[i])));
		buf_free(&out);
	}
	buf_t out;
	buf_init(&out, 0);
	CHECK(imap_utf8_to_utf7("a\0b", 3, &out) == -1);
	CHECK(imap_utf8_is_valid("a\0b", 3));
	/* the output maximum is honoured */
	buf_free(&out);
	buf_init(&out, 4);
	CHECK(imap_utf8_to_utf7("\xe6\x97\xa5", 3, &out) == -1);
	CHECK_INTEQ(out.used, 0);
	CHECK(imap_utf8_to_utf7("abcd", 4, &out) == 0);
	buf_free(&out);
}

static size_t put_utf8(char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (char)cp;
		return 1;
	} else if (cp < 0x800) {
		p[0] = (char)(0xc0 | (cp >> 6));
		p[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	} else if (cp < 0x10000) {
		p[0] = (char)(0xe0 | (cp >> 12));
		p[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		p[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | (cp >> 18));
	p[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	p[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	p[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* utf8 -> utf7 -> utf8 gives the input back, the utf7 is valid and pure
 * printable ASCII. */
static bool round_trip(const char *s, size_t len)
{
	buf_t enc, dec;
	bool ok;

	buf_init(&enc, 0);
	buf_init(&dec, 0);
	ok = imap_utf8_to_utf7(s, len, &enc) == 0;
	for (size_t i = 0; ok && i < enc.used; i++)
		ok = enc.data[i] >= 0x20 && enc.data[i] <= 0x7e;
	ok = ok && imap_utf7_is_valid(enc.data ? enc.data : "", enc.used);
	ok = ok && imap_utf7_to_utf8(enc.data ? enc.data : "", enc.used, &dec) == 0;
	ok = ok && slice_eq(buf_slice(&dec), slice_make(s, len));
	buf_free(&enc);
	buf_free(&dec);
	return ok;
}

TEST(imap_utf7_round_trip_bmp)
{
	char s[16];
	size_t failures = 0;

	for (uint32_t cp = 1; cp < 0x10000; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		size_t n = put_utf8(s, cp);
		if (!round_trip(s, n))
			failures++;
		/* between ASCII, and twice in one run */
		s[0] = 'a';
		n = 1 + put_utf8(s + 1, cp);
		n += put_utf8(s + n, cp);
		s[n++] = 'b';
		if (!round_trip(s, n))
			failures++;
	}
	CHECK_INTEQ(failures, 0);
}

TEST(imap_utf7_round_trip_astral)
{
	char s[32];
	size_t failures = 0;

	for (uint32_t cp = 0x10000; cp <= 0x10ffff; cp += 0x3f) {
		size_t n = put_utf8(s, cp);
		if (!round_trip(s, n))
			failures++;
		/* BMP + astral + ASCII + astral in different bit alignments */
		n = put_utf8(s, 0xe9);
		n += put_utf8(s + n, cp);
		s[n++] = '&';
		n += put_utf8(s + n, 0x10ffff - (cp - 0x10000));
		n += put_utf8(s + n, 0x4e2d);
		if (!round_trip(s, n))
			failures++;
	}
	CHECK(round_trip("\xf4\x8f\xbf\xbf", 4));	/* U+10FFFF */
	CHECK_INTEQ(failures, 0);
}

TEST(imap_utf7_long_name)
{
	/* a long name with many runs */
	buf_t s;
	buf_init(&s, 0);
	for (int i = 0; i < 1000; i++)
		buf_append_cstr(&s, i % 3 ? "\xe4\xb8\xad/" : "x&\xf0\x9f\x98\x80");
	CHECK(round_trip(s.data, s.used));
	buf_free(&s);
}

TEST(imap_utf8_valid)
{
	CHECK(imap_utf8_is_valid("", 0));
	CHECK(imap_utf8_is_valid("plain", 5));
	CHECK(imap_utf8_is_valid("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 10));
	CHECK(imap_utf8_is_valid("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8));
	CHECK(imap_utf8_is_valid("\xee\x80\x80", 3));	/* U+E000, after surrogates */
	CHECK(!imap_utf8_is_valid("\xed\xbf\xbf", 3));
	CHECK(!imap_utf8_is_valid("\xe0\x9f\xbf", 3));	/* overlong */
	CHECK(!imap_utf8_is_valid("\xc3", 1));
	CHECK(!imap_utf8_is_valid("\xc3\x28", 2));
}
