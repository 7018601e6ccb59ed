/* Unit tests for rfc2047.c: encoded words, charsets, RFC 2231 parameters. */
#include <stdlib.h>
#include <string.h>

#include "rfc2047.h"
#include "test.h"
#include "xalloc.h"

static void check_decode(const char *in, const char *want)
{
	buf_t b;

	buf_init(&b, 0);
	CHECK_INTEQ(rfc2047_decode(slice_cstr(in), &b), 0);
	CHECK_STREQ(buf_cstr(&b), want);
	buf_free(&b);
}

TEST(rfc2047_encoded_words)
{
	check_decode("plain text", "plain text");
	check_decode("=?utf-8?q?J=C3=B6rg?=", "J\xc3\xb6rg");
	check_decode("=?UTF-8?B?SsO2cmc=?=", "J\xc3\xb6rg");
	check_decode("=?iso-8859-1?q?caf=E9_au_lait?=", "caf\xc3\xa9 au lait");
	/* RFC 2047 6.2: space between adjacent words goes, other text stays */
	check_decode("=?utf-8?q?a?= =?utf-8?q?b?=", "ab");
	check_decode("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab");
	check_decode("=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b");
	check_decode("x =?utf-8?q?a?=", "x a");
	/* a UTF-8 character split across two words */
	check_decode("=?utf-8?b?w6=?= =?utf-8?b?pA==?=", "\xc3\xa4");
	/* RFC 2231 5 language suffix */
	check_decode("=?utf-8*en?q?hi?=", "hi");
	/* unknown charset stays raw; so does a malformed word */
	check_decode("=?x-no-such?q?a?= b", "=?x-no-such?q?a?= b");
	check_decode("=?utf-8?x?a?=", "=?utf-8?x?a?=");
	check_decode("=?utf-8?q?a b?=", "=?utf-8?q?a b?=");
	check_decode("=?utf-8?q?", "=?utf-8?q?");
	check_decode("=?=?utf-8?q?x?=", "=?x");
	/* invalid UTF-8 becomes U+FFFD */
	check_decode("=?utf-8?q?=FF?=", "\xef\xbf\xbd");
	/* folding outside words is unfolded */
	check_decode("a\r\n b", "a b");
	check_decode("=?utf-8?q?empty?= =?utf-8?q?" "?=", "empty");
}

TEST(rfc2047_long_and_many)
{
	/* UTF8-7: a very long encoded word and many charset switches */
	buf_t in, out;
	size_t n = 1000000;

	buf_init(&in, 0);
	buf_init(&out, 0);
	buf_append_cstr(&in, "=?utf-8?B?");
	for (size_t i = 0; i < n / 4; i++)
		buf_append_cstr(&in, "QUJD");
	buf_append_cstr(&in, "?=");
	CHECK_INTEQ(rfc2047_decode(buf_slice(&in), &out), 0);
	CHECK_INTEQ(out.used, n / 4 * 3);

	buf_reset(&in);
	buf_reset(&out);
	for (size_t i = 0; i < 20000; i++)
		buf_append_cstr(&in, i % 2 ? "=?iso-8859-1?q?a?= " : "=?koi8-r?q?b?= ");
	CHECK_INTEQ(rfc2047_decode(buf_slice(&in), &out), 0);
	CHECK(out.used > 0);

	/* "=?" everywhere with no end: still one pass */
	buf_reset(&in);
	buf_reset(&out);
	for (size_t i = 0; i < 200000; i++)
		buf_append_cstr(&in, "=?a?q?");
	CHECK_INTEQ(rfc2047_decode(buf_slice(&in), &out), 0);
	CHECK_INTEQ(out.used, in.used);

	/* a full output buffer is reported */
	buf_free(&out);
	buf_init(&out, 10);
	CHECK_INTEQ(rfc2047_decode(SLICE_LIT("=?utf-8?q?0123456789abcdef?="), &out), -1);
	buf_free(&in);
	buf_free(&out);
}

TEST(rfc2047_charset_to_utf8)
{
	buf_t b;

	buf_init(&b, 0);
	CHECK_INTEQ(rfc2047_charset_to_utf8("ISO-8859-1", SLICE_LIT("\xe9"), &b), 0);
	CHECK_STREQ(buf_cstr(&b), "\xc3\xa9");
	buf_reset(&b);
	CHECK_INTEQ(rfc2047_charset_to_utf8("us-ascii", SLICE_LIT("a\xc3\xa9\xc0\x80"), &b), 0);
	CHECK_STREQ(buf_cstr(&b), "a\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
	buf_reset(&b);
	CHECK_INTEQ(rfc2047_charset_to_utf8("x-unknown", SLICE_LIT("a"), &b), -2);
	CHECK_INTEQ(b.used, 0);
	/* invalid input in a multibyte charset */
	CHECK_INTEQ(rfc2047_charset_to_utf8("shift_jis", SLICE_LIT("a\x82"), &b), 0);
	CHECK_STREQ(buf_cstr(&b), "a\xef\xbf\xbd");
	buf_reset(&b);
	/* surrogates and overlongs are not UTF-8 */
	CHECK_INTEQ(rfc2047_utf8_sanitize(SLICE_LIT("\xed\xa0\x80\xe0\x80\x80\xf4\x90\x80\x80ok"), &b), 0);
	CHECK_INTEQ(b.used, 10 * 3 + 2);	/* one U+FFFD per bad byte */
	buf_free(&b);
}

static char *params_dump(slice_t in)
{
	struct rfc2231_param *p;
	size_t n = rfc2231_parse_params(in, &p);
	buf_t b;

	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		buf_printf(&b, "%s%s=", p[i].name, p[i].extended ? "*" : "");
		buf_append(&b, p[i].value, p[i].value_len);
		buf_append_byte(&b, ';');
	}
	rfc2231_params_free(&p, n);
	char *s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

static void check_params(const char *in, const char *want)
{
	char *got = params_dump(slice_cstr(in));
	CHECK_STREQ(got, want);
	free(got);
}

TEST(rfc2231_params)
{
	check_params("text/plain; charset=us-ascii", "charset=us-ascii;");
	check_params("text/plain; charset=\"a\\\"b\" (comment); format = flowed",
		     "charset=a\"b;format=flowed;");
	check_params("x/y; boundary=----=_Part_1_2.3", "boundary=----=_Part_1_2.3;");
	check_params("x/y;name*0=\"a\";name*1=\"b c\"", "name=ab c;");
	check_params("x/y; name*1=b; name*0=a; name*2=c", "name=abc;");
	/* extended: plain later sections are escaped into the encoded form */
	check_params("x/y; name*0*=utf-8''%E2%82%AC; name*1=\" rate.pdf\"",
		     "name*=utf-8''%E2%82%AC%20rate.pdf;");
	check_params("x/y; filename*=utf-8''%E2%82%AC%20rate.pdf; size=123",
		     "size=123;filename*=utf-8''%E2%82%AC%20rate.pdf;");
	/* a gap stops the join; a missing section 0 drops the parameter */
	check_params("x/y; a*0=1; a*2=3", "a=1;");
	check_params("x/y; a*1=1", "");
	/* garbage is skipped */
	check_params("x/y; ; =v; novalue; ok=1;", "ok=1;");
	check_params("x/y (a;b); c=d", "c=d;");
	check_params("x/y; q=\"unterminated", "q=unterminated;");
	check_params("", "");
}

TEST(rfc2231_many_continuations)
{
	/* UTF8-7: 10,000 continuations, in reverse order */
	buf_t in;
	struct rfc2231_param *p;
	size_t n;

	buf_init(&in, 0);
	buf_append_cstr(&in, "application/x");
	for (int i = 9999; i >= 0; i--)
		buf_printf(&in, "; name*%d*=%s", i, i == 0 ? "utf-8''x" : "x");
	n = rfc2231_parse_params(buf_slice(&in), &p);
	REQUIRE(n == 1);
	CHECK(p[0].extended);
	CHECK_INTEQ(p[0].value_len, 10000 + 7);
	rfc2231_params_free(&p, n);

	/* more than RFC2231_MAX_PARAMS: the rest is ignored */
	buf_reset(&in);
	for (int i = 0; i < RFC2231_MAX_PARAMS + 100; i++)
		buf_printf(&in, "; p%d=v", i);
	n = rfc2231_parse_params(buf_slice(&in), &p);
	CHECK_INTEQ(n, RFC2231_MAX_PARAMS);
	rfc2231_params_free(&p, n);
	buf_free(&in);
}

TEST(rfc2231_param_decode)
{
	struct rfc2231_param p = { "name", NULL, 0, true };
	buf_t b;

	buf_init(&b, 0);
	p.value = "utf-8''%E2%82%AC%20rate.pdf";
	p.value_len = strlen(p.value);
	CHECK_INTEQ(rfc2231_param_decode(&p, &b), 0);
	CHECK_STREQ(buf_cstr(&b), "\xe2\x82\xac rate.pdf");
	buf_reset(&b);
	p.value = "iso-8859-1'fr'caf%E9";
	p.value_len = strlen(p.value);
	CHECK_INTEQ(rfc2231_param_decode(&p, &b), 0);
	CHECK_STREQ(buf_cstr(&b), "caf\xc3\xa9");
	buf_reset(&b);
	p.value = "x-unknown''%C3%A9%FF";
	p.value_len = strlen(p.value);
	CHECK_INTEQ(rfc2231_param_decode(&p, &b), 0);
	CHECK_STREQ(buf_cstr(&b), "\xc3\xa9\xef\xbf\xbd");
	buf_reset(&b);
	/* not extended: encoded words, as many mailers write filenames */
	p.extended = false;
	p.value = "=?utf-8?q?J=C3=B6rg?=.txt";
	p.value_len = strlen(p.value);
	CHECK_INTEQ(rfc2231_param_decode(&p, &b), 0);
	CHECK_STREQ(buf_cstr(&b), "J\xc3\xb6rg.txt");
	buf_free(&b);
}
