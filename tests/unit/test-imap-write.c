/* Tests for src/lib-imap/imap-write.c: which form each string takes, and
 * that the parser reads every written string back unchanged. */
#include <string.h>

#include "buf.h"
#include "imap-parser.h"
#include "imap-write.h"
#include "test.h"

typedef int (*write_fn)(buf_t *out, const char *s, size_t len, unsigned flags);

static void check_write(write_fn fn, const char *s, size_t len, unsigned flags,
			const char *expect, size_t expect_len, int line)
{
	buf_t out;
	buf_init(&out, 0);
	buf_append_cstr(&out, "* ");
	int ret = fn(&out, s, len, flags);
	if (expect == NULL) {
		if (ret != -1 || strcmp(buf_cstr(&out), "* ") != 0)
			test_fail(__FILE__, line, "expected -1 and no output");
	} else if (ret != 0 || out.used != expect_len + 2 ||
		   memcmp(out.data + 2, expect, expect_len) != 0) {
		char m[512];
		snprintf(m, sizeof(m), "got ret %d \"%s\", want \"%s\"", ret, buf_cstr(&out),
			 expect);
		test_fail(__FILE__, line, m);
	}
	buf_free(&out);
}

#define CHECK_W(fn, s, flags, expect) \
	check_write(fn, s, sizeof(s) - 1, flags, expect, sizeof(expect) - 1, __LINE__)
#define CHECK_W_FAIL(fn, s, flags) \
	check_write(fn, s, sizeof(s) - 1, flags, NULL, 0, __LINE__)

TEST(imap_write_astring_forms)
{
	CHECK_W(imap_write_astring, "INBOX", 0, "INBOX");
	CHECK_W(imap_write_astring, "foo]bar", 0, "foo]bar");	/* "]" is ASTRING-CHAR */
	CHECK_W(imap_write_astring, "", 0, "\"\"");
	CHECK_W(imap_write_astring, "NIL", 0, "\"NIL\"");
	CHECK_W(imap_write_astring, "nil", 0, "\"nil\"");
	CHECK_W(imap_write_astring, "a b", 0, "\"a b\"");
	CHECK_W(imap_write_astring, "a%", 0, "\"a%\"");
	CHECK_W(imap_write_astring, "a*", 0, "\"a*\"");
	CHECK_W(imap_write_astring, "(x)", 0, "\"(x)\"");
	CHECK_W(imap_write_astring, "{5}", 0, "\"{5}\"");
	CHECK_W(imap_write_astring, "[Gmail]/Sent", 0, "\"[Gmail]/Sent\"");
	CHECK_W(imap_write_astring, "a[b", 0, "\"a[b\"");
	/* DQUOTE and backslash: a literal, not escapes */
	CHECK_W(imap_write_astring, "say \"hi\"", 0, "{8}\r\nsay \"hi\"");
	CHECK_W(imap_write_astring, "a\\b", 0, "{3}\r\na\\b");
	/* CR, LF, controls */
	CHECK_W(imap_write_astring, "a\r\nb", 0, "{4}\r\na\r\nb");
	CHECK_W(imap_write_astring, "a\tb", 0, "{3}\r\na\tb");
	/* 8-bit: literal, or quoted UTF-8 with UTF8=ACCEPT */
	CHECK_W(imap_write_astring, "caf\xc3\xa9", 0, "{5}\r\ncaf\xc3\xa9");
	CHECK_W(imap_write_astring, "caf\xc3\xa9", IMAP_WRITE_UTF8, "\"caf\xc3\xa9\"");
	CHECK_W(imap_write_astring, "caf\xe9", IMAP_WRITE_UTF8, "{4}\r\ncaf\xe9");
	/* NUL cannot be written */
	CHECK_W_FAIL(imap_write_astring, "a\0b", 0);
	CHECK_W_FAIL(imap_write_astring, "a\0b", IMAP_WRITE_UTF8);
}

TEST(imap_write_string_forms)
{
	/* string never uses an atom */
	CHECK_W(imap_write_string, "INBOX", 0, "\"INBOX\"");
	CHECK_W(imap_write_string, "", 0, "\"\"");
	CHECK_W(imap_write_string, "Re: \"x\"", 0, "{7}\r\nRe: \"x\"");
	CHECK_W(imap_write_nstring, "NIL", 0, "\"NIL\"");
	CHECK_W(imap_write_nstring, "x", 0, "\"x\"");

	buf_t out;
	buf_init(&out, 0);
	CHECK(imap_write_nstring(&out, NULL, 0, 0) == 0);
	CHECK_STREQ(buf_cstr(&out), "NIL");
	buf_free(&out);

	/* long strings become literals */
	char longs[IMAP_WRITE_QUOTED_MAX + 1];
	memset(longs, 'x', sizeof(longs));
	buf_init(&out, 0);
	CHECK(imap_write_astring(&out, longs, IMAP_WRITE_QUOTED_MAX, 0) == 0);
	CHECK(out.data[0] == 'x');
	buf_reset(&out);
	CHECK(imap_write_string(&out, longs, IMAP_WRITE_QUOTED_MAX, 0) == 0);
	CHECK(out.data[0] == '"');
	buf_reset(&out);
	CHECK(imap_write_astring(&out, longs, sizeof(longs), 0) == 0);
	CHECK(strncmp(out.data, "{1025}\r\nxxx", 11) == 0);
	buf_free(&out);
}

TEST(imap_write_literals)
{
	buf_t out;

	buf_init(&out, 0);
	CHECK(imap_write_literal(&out, "ab\r\n", 4) == 0);
	CHECK_STREQ(buf_cstr(&out), "{4}\r\nab\r\n");
	buf_reset(&out);
	CHECK(imap_write_literal(&out, "", 0) == 0);
	CHECK_STREQ(buf_cstr(&out), "{0}\r\n");
	buf_reset(&out);
	CHECK(imap_write_literal(&out, "a\0", 2) == -1);
	CHECK_INTEQ(out.used, 0);
	CHECK(imap_write_literal8(&out, "a\0", 2) == 0);
	CHECK_INTEQ(out.used, 8);
	CHECK(memcmp(out.data, "~{2}\r\na\0", 8) == 0);
	buf_free(&out);

	/* the output maximum leaves out unchanged */
	buf_init(&out, 8);
	buf_append_cstr(&out, "* ");
	CHECK(imap_write_literal(&out, "abcdef", 6) == -1);
	CHECK_STREQ(buf_cstr(&out), "* ");
	CHECK(imap_write_astring(&out, "a b c d", 7, 0) == -1);
	CHECK_STREQ(buf_cstr(&out), "* ");
	CHECK(imap_write_astring(&out, "abcdef", 6, 0) == 0);
	buf_free(&out);
}

TEST(imap_write_mailbox_names)
{
	CHECK_W(imap_write_mailbox_name, "INBOX", 0, "INBOX");
	CHECK_W(imap_write_mailbox_name, "Entw\xc3\xbcrfe", 0, "Entw&APw-rfe");
	CHECK_W(imap_write_mailbox_name, "Entw\xc3\xbcrfe", IMAP_WRITE_UTF8,
		"\"Entw\xc3\xbcrfe\"");
	CHECK_W(imap_write_mailbox_name, "A & B", 0, "\"A &- B\"");
	CHECK_W(imap_write_mailbox_name, "\xe6\x97\xa5\xe6\x9c\xac/x", 0, "&ZeVnLA-/x");
	CHECK_W(imap_write_mailbox_name, "Sent Items", 0, "\"Sent Items\"");
	CHECK_W(imap_write_mailbox_name, "", 0, "\"\"");
	CHECK_W(imap_write_mailbox_name, "nil", 0, "\"nil\"");
	CHECK_W(imap_write_mailbox_name, "a\\b", 0, "{3}\r\na\\b");
	CHECK_W_FAIL(imap_write_mailbox_name, "\xff", 0);
	CHECK_W_FAIL(imap_write_mailbox_name, "\xff", IMAP_WRITE_UTF8);
	CHECK_W_FAIL(imap_write_mailbox_name, "a\0b", 0);
	CHECK_W_FAIL(imap_write_mailbox_name, "a\0b", IMAP_WRITE_UTF8);
}

TEST(imap_write_flag_lists)
{
	static const char *const flags[] = { "\\Seen", "\\Deleted", "$Forwarded", "custom" };
	static const char *const perm[] = { "\\Answered", "\\*" };
	static const char *const bad1[] = { "\\Seen", "a b" };
	static const char *const bad2[] = { "" };
	static const char *const bad3[] = { "\\" };
	static const char *const bad4[] = { "a(b" };
	static const char *const bad5[] = { "caf\xc3\xa9" };
	static const char *const bad6[] = { "x]" };
	buf_t out;

	buf_init(&out, 0);
	CHECK(imap_write_flags(&out, flags, 4) == 0);
	CHECK_STREQ(buf_cstr(&out), "(\\Seen \\Deleted $Forwarded custom)");
	buf_reset(&out);
	CHECK(imap_write_flags(&out, NULL, 0) == 0);
	CHECK_STREQ(buf_cstr(&out), "()");
	buf_reset(&out);
	CHECK(imap_write_flags(&out, perm, 2) == 0);
	CHECK_STREQ(buf_cstr(&out), "(\\Answered \\*)");
	buf_reset(&out);
	CHECK(imap_write_flags(&out, bad1, 2) == -1);
	CHECK(imap_write_flags(&out, bad2, 1) == -1);
	CHECK(imap_write_flags(&out, bad3, 1) == -1);
	CHECK(imap_write_flags(&out, bad4, 1) == -1);
	CHECK(imap_write_flags(&out, bad5, 1) == -1);
	CHECK(imap_write_flags(&out, bad6, 1) == -1);
	CHECK_INTEQ(out.used, 0);
	CHECK(!imap_flag_is_valid("*"));
	CHECK(!imap_flag_is_valid("%"));
	CHECK(imap_flag_is_valid("\\Recent"));
	buf_free(&out);
}

/* Whatever the writer produces, the parser reads back as the same octets. */
TEST(imap_write_parser_round_trip)
{
	static const char *const values[] = {
		"INBOX", "", "NIL", "a b", "say \"hi\"", "a\\b", "x\r\ny", "caf\xc3\xa9",
		"]", "%*", "{3}", "~{2}", "\x01\x7f", "(", "tab\there", "a[b", "~x",
	};
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;

	for (unsigned flags = 0; flags <= IMAP_WRITE_UTF8; flags++) {
		for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
			struct imap_parser *p = imap_parser_create(&lim);
			buf_t cmd;
			size_t off = 0, consumed;
			enum imap_parse_result r;

			buf_init(&cmd, 0);
			buf_append_cstr(&cmd, "t X ");
			REQUIRE(imap_write_astring(&cmd, values[i], strlen(values[i]), flags) == 0);
			buf_append_byte(&cmd, ' ');
			REQUIRE(imap_write_nstring(&cmd, values[i], strlen(values[i]), flags) == 0);
			buf_append_cstr(&cmd, "\r\n");
			while ((r = imap_parser_feed(p, cmd.data + off, cmd.used - off,
						     &consumed)) == IMAP_PARSE_LITERAL_WAIT) {
				off += consumed;
				REQUIRE(imap_parser_literal_accept(p) == 0);
			}
			REQUIRE(r == IMAP_PARSE_DONE);
			const struct imap_command *c = imap_parser_command(p);
			const char *s;
			size_t len;
			REQUIRE(c->count == 2);
			CHECK(imap_arg_get_astring(&c->args[0], &s, &len));
			CHECK(len == strlen(values[i]) && memcmp(s, values[i], len) == 0);
			CHECK(imap_arg_get_nstring(&c->args[1], &s, &len));
			CHECK(s != NULL && len == strlen(values[i]) &&
			      memcmp(s, values[i], len) == 0);
			imap_parser_destroy(&p);
			buf_free(&cmd);
		}
	}
}
