/*
 * Unit tests for imap-envelope.c. The golden strings were compared with
 * Dovecot 2.3.19 (doveadm fetch imap.envelope on the same messages in a
 * Maildir); they match it except where imap-envelope.h says otherwise:
 * a1 (Dovecot sends the subject and the name a"b as literals), c3 (the
 * name "Joe  Smith" likewise).
 */
#include <stdlib.h>
#include <string.h>

#include "imap-envelope.h"
#include "rfc5322.h"
#include "test.h"
#include "xalloc.h"

/* a1.eml */
static const char a1_msg[] =
	"From: \"Joe Q. Public\" <joe@example.org>, Mary  Smith <mary@x.test>, "
	"jdoe@one.test (John Doe), \"john doe\"@q.test, undisclosed-recipients:;\n"
	"To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, "
	"<@r1,@r2:u@d.test>, nodomain, =?utf-8?q?J=C3=B6rg?= <j@x>, \"a\\\"b\" "
	"<ab@x>, <>, @nolocal, bad@, Joe.  Q.  Public <j@x>\n"
	"Cc: x@y (comment only), (lead) y@z, a@b(c)\n"
	"Subject:    hello  world  \n"
	"\x09""folded  \n"
	"Date: Fri, 21 Nov 1997 09:55:06 -0600\n"
	"Message-ID:  <1234@local.machine.example> \n"
	"In-Reply-To: <a@b>\n"
	"  <c@d>\n"
	"\n"
	"body\n";
static const char a1_env[] =
	"(\"Fri, 21 Nov 1997 09:55:06 -0600\" \"hello world folded\" ((\"Joe Q. "
	"Public\" NIL \"joe\" \"example.org\")(\"Mary Smith\" NIL \"mary\" "
	"\"x.test\")(\"John Doe\" NIL \"jdoe\" \"one.test\")(NIL NIL \"john doe\" "
	"\"q.test\")(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
	"((\"Joe Q. Public\" NIL \"joe\" \"example.org\")(\"Mary Smith\" NIL "
	"\"mary\" \"x.test\")(\"John Doe\" NIL \"jdoe\" \"one.test\")(NIL NIL "
	"\"john doe\" \"q.test\")(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL "
	"NIL NIL)) ((\"Joe Q. Public\" NIL \"joe\" \"example.org\")(\"Mary "
	"Smith\" NIL \"mary\" \"x.test\")(\"John Doe\" NIL \"jdoe\" "
	"\"one.test\")(NIL NIL \"john doe\" \"q.test\")(NIL NIL "
	"\"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"A Group\" "
	"NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" "
	"\"where.test\")(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)(NIL "
	"\"@r1,@r2\" \"u\" \"d.test\")(NIL NIL \"nodomain\" "
	"\"MISSING_DOMAIN\")(\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" "
	"\"x\")(\"a\\\"b\" NIL \"ab\" \"x\")(NIL NIL \"MISSING_MAILBOX\" "
	"\"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" \"nolocal\")(NIL NIL "
	"\"bad\" \"MISSING_DOMAIN\")(\"Joe. Q. Public\" NIL \"j\" \"x\")) "
	"((\"comment only\" NIL \"x\" \"y\")(NIL NIL \"y\" \"z\")(\"c\" NIL \"a\" "
	"\"b\")) NIL \"<a@b>  <c@d>\" \"<1234@local.machine.example> \")";
/* a2.eml */
static const char a2_msg[] =
	"Subject: no from\n"
	"\n"
	"x";
static const char a2_env[] =
	"(NIL \"no from\" NIL NIL NIL NIL NIL NIL NIL NIL)";
/* a3.eml */
static const char a3_msg[] =
	"From: a@b\n"
	"From: c@d\n"
	"Subject: first\n"
	"Subject: second\n"
	"Sender: \n"
	"Reply-To:\n"
	"Bcc: group: ;\n"
	"\n";
static const char a3_env[] =
	"(NIL \"second\" ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) ((NIL NIL "
	"\"a\" \"b\")(NIL NIL \"c\" \"d\")) ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" "
	"\"d\")) NIL NIL ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)) NIL NIL)";
/* a5.eml */
static const char a5_msg[] =
	"From: a@b\r\n"
	"Subject: \xc3""\xa4"" 8bit\r\n"
	"X: y\r\n"
	"\r\n"
	"line1\r\n"
	"line2";
static const char a5_env[] =
	"(NIL {7}\r\n"
	"\xc3""\xa4"" 8bit ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL "
	"NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)";
/* c3.eml */
static const char c3_msg[] =
	"Subject:\n"
	"Date: \n"
	"Content-Type: text/plain; charset=us-ascii\n"
	"Content-Type: text/html\n"
	"From: =?utf-8?q?a?= =?utf-8?q?b?= <x@y>, \"Joe  Smith\" <a@b>\n"
	"To: <a@b>\n"
	"X-A\x00""B: v\x00""w\n"
	"nocolon line here\n"
	"Message-ID: <x@y>\n"
	"\n"
	"body\x00""x\n";
static const char c3_env[] =
	"(\"\" \"\" ((\"=?utf-8?q?a?= =?utf-8?q?b?=\" NIL \"x\" \"y\")(\"Joe "
	"Smith\" NIL \"a\" \"b\")) ((\"=?utf-8?q?a?= =?utf-8?q?b?=\" NIL \"x\" "
	"\"y\")(\"Joe Smith\" NIL \"a\" \"b\")) ((\"=?utf-8?q?a?= =?utf-8?q?b?=\" "
	"NIL \"x\" \"y\")(\"Joe Smith\" NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) "
	"NIL NIL NIL \"<x@y>\")";

static void check_env(const char *msg, size_t len, const char *want)
{
	buf_t b;

	buf_init(&b, 0);
	CHECK_INTEQ(imap_envelope_write_data(msg, len, &b), 0);
	CHECK_STREQ(buf_cstr(&b), want);
	buf_free(&b);
}

#define GOLDEN(name) check_env(name##_msg, sizeof(name##_msg) - 1, name##_env)

TEST(imap_envelope_golden)
{
	GOLDEN(a1);	/* names, comments, groups, routes, missing parts */
	GOLDEN(a2);	/* no From: */
	GOLDEN(a3);	/* duplicate fields, empty Sender/Reply-To, empty group */
	GOLDEN(a5);	/* CRLF, 8-bit subject as a literal */
	GOLDEN(c3);	/* empty Subject/Date, encoded words, NUL, no-colon line */
}

TEST(imap_envelope_lf_crlf)
{
	static const char lf[] = "From: A <a@b>\nSubject: x\n y\nTo: c@d\n\nbody\n";
	static const char crlf[] = "From: A <a@b>\r\nSubject: x\r\n y\r\nTo: c@d\r\n\r\nbody\r\n";
	buf_t a, b;

	buf_init(&a, 0);
	buf_init(&b, 0);
	CHECK_INTEQ(imap_envelope_write_data(lf, sizeof(lf) - 1, &a), 0);
	CHECK_INTEQ(imap_envelope_write_data(crlf, sizeof(crlf) - 1, &b), 0);
	CHECK_STREQ(buf_cstr(&a), buf_cstr(&b));
	CHECK_STREQ(buf_cstr(&a), "(NIL \"x y\" ((\"A\" NIL \"a\" \"b\")) "
		    "((\"A\" NIL \"a\" \"b\")) ((\"A\" NIL \"a\" \"b\")) "
		    "((NIL NIL \"c\" \"d\")) NIL NIL NIL NIL)");
	buf_free(&a);
	buf_free(&b);
}

TEST(imap_envelope_strings)
{
	buf_t b;

	buf_init(&b, 0);
	imap_envelope_append_nstring(&b, (slice_t){ NULL, 0 });
	imap_envelope_append_nstring(&b, SLICE_LIT(""));
	imap_envelope_append_nstring(&b, SLICE_LIT("a\"b\\c"));
	imap_envelope_append_nstring(&b, SLICE_LIT("\xc3\xa4"));
	imap_envelope_append_nstring(&b, slice_make("a\0b", 3));
	CHECK_STREQ(buf_cstr(&b), "NIL\"\"\"a\\\"b\\\\c\"{2}\r\n\xc3\xa4{5}\r\na\xef\xbf\xbd" "b");
	buf_free(&b);
}

TEST(imap_envelope_limits)
{
	/* MIME-5: 500,000 addresses in To: and 10,000 Cc: fields */
	buf_t msg, out;
	size_t n = 0;

	buf_init(&msg, 0);
	buf_init(&out, 0);
	buf_append_cstr(&msg, "To: ");
	for (int i = 0; i < 500000; i++)
		buf_append_cstr(&msg, "u@example.org, ");
	buf_append_cstr(&msg, "\n");
	for (int i = 0; i < 10000; i++)
		buf_append_cstr(&msg, "Cc: a@b, c@d\n");
	buf_append_cstr(&msg, "\nbody");
	CHECK_INTEQ(imap_envelope_write_data(msg.data, msg.used, &out), 0);
	for (const char *p = out.data; (p = strstr(p, "\"u\" \"example.org\"")) != NULL; p++)
		n++;
	CHECK_INTEQ(n, RFC5322_DEFAULT_MAX_ADDRESSES);
	/* 10,000 Cc fields hold 20,000 addresses: capped over the field */
	n = 0;
	for (const char *p = out.data; (p = strstr(p, "\"c\" \"d\"")) != NULL; p++)
		n++;
	CHECK_INTEQ(n, RFC5322_DEFAULT_MAX_ADDRESSES / 2);

	/* a full output buffer fails cleanly */
	buf_free(&out);
	buf_init(&out, 100);
	buf_append_cstr(&out, "x");
	CHECK_INTEQ(imap_envelope_write_data(msg.data, msg.used, &out), -1);
	CHECK_INTEQ(out.used, 1);
	buf_free(&out);
	buf_free(&msg);
}
