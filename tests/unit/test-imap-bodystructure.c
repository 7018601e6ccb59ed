/*
 * Unit tests for imap-bodystructure.c. The golden strings were compared with
 * Dovecot 2.3.19 (doveadm fetch imap.bodystructure / imap.body on the same
 * messages in a Maildir); they match it except where
 * imap-bodystructure.h says otherwise: b2 (name* continuation escaped:
 * "%20rate.pdf", Dovecot " rate.pdf"), c2 ("--b garbage" is no boundary
 * here; "Content-Type: foo" is text/plain here), c4 (message/global
 * parsed here).
 */
#include <stdlib.h>
#include <string.h>

#include "imap-bodystructure.h"
#include "mime.h"
#include "test.h"
#include "xalloc.h"

/* b1.eml */
static const char b1_msg[] =
	"From: a@b\n"
	"Subject: alt\n"
	"MIME-Version: 1.0\n"
	"Content-Type: Multipart/Alternative; boundary=\"XX\"; Foo=Bar\n"
	"\n"
	"preamble\n"
	"--XX\n"
	"Content-Type: text/plain; charset=UTF-8\n"
	"Content-Transfer-Encoding: quoted-printable\n"
	"\n"
	"caf=C3=A9\n"
	"--XX\n"
	"Content-Type: text/html; charset=\"utf-8\"\n"
	"Content-ID: <id1@x>\n"
	"Content-Description: the html\n"
	"Content-Transfer-Encoding: BASE64\n"
	"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
	"Content-Language: en, de\n"
	"Content-Location: http://x/y\n"
	"\n"
	"PGI+aGk8L2I+\n"
	"--XX--\n"
	"epilogue\n";
static const char b1_bs[] =
	"((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL "
	"\"quoted-printable\" 9 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" "
	"\"utf-8\") \"<id1@x>\" \"the html\" \"BASE64\" 12 0 "
	"\"Q2hlY2sgSW50ZWdyaXR5IQ==\" NIL (\"en\" \"de\") \"http://x/y\") "
	"\"Alternative\" (\"boundary\" \"XX\" \"Foo\" \"Bar\") NIL NIL NIL)";
static const char b1_body[] =
	"((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL "
	"\"quoted-printable\" 9 0)(\"text\" \"html\" (\"charset\" \"utf-8\") "
	"\"<id1@x>\" \"the html\" \"BASE64\" 12 0) \"Alternative\")";
/* b2.eml */
static const char b2_msg[] =
	"From: a@b\n"
	"Content-Type: multipart/mixed; boundary=bb\n"
	"\n"
	"--bb\n"
	"Content-Type: text/plain\n"
	"\n"
	"hello\n"
	"--bb\n"
	"Content-Type: application/octet-stream; name*0*=utf-8''%E2%82%AC; "
	"name*1=\" rate.pdf\"\n"
	"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rate.pdf; "
	"size=123\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"AAAA\n"
	"--bb\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"From: inner@x\n"
	"Subject: inner\n"
	"Content-Type: multipart/mixed; boundary=in\n"
	"\n"
	"--in\n"
	"Content-Type: text/plain\n"
	"\n"
	"inner body\n"
	"--in--\n"
	"--bb--\n";
static const char b2_bs[] =
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL "
	"NIL NIL NIL)(\"application\" \"octet-stream\" (\"name*\" "
	"\"utf-8''%E2%82%AC%20rate.pdf\") NIL NIL \"base64\" 4 NIL "
	"(\"attachment\" (\"size\" \"123\" \"filename*\" "
	"\"utf-8''%E2%82%AC%20rate.pdf\")) NIL NIL)(\"message\" \"rfc822\" NIL "
	"NIL NIL \"7bit\" 131 (NIL \"inner\" ((NIL NIL \"inner\" \"x\")) ((NIL "
	"NIL \"inner\" \"x\")) ((NIL NIL \"inner\" \"x\")) NIL NIL NIL NIL NIL) "
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 "
	"NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"in\") NIL NIL NIL) 9 NIL NIL "
	"NIL NIL) \"mixed\" (\"boundary\" \"bb\") NIL NIL NIL)";
static const char b2_body[] =
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 "
	"0)(\"application\" \"octet-stream\" (\"name*\" "
	"\"utf-8''%E2%82%AC%20rate.pdf\") NIL NIL \"base64\" 4)(\"message\" "
	"\"rfc822\" NIL NIL NIL \"7bit\" 131 (NIL \"inner\" ((NIL NIL \"inner\" "
	"\"x\")) ((NIL NIL \"inner\" \"x\")) ((NIL NIL \"inner\" \"x\")) NIL NIL "
	"NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	"\"7bit\" 10 0) \"mixed\") 9) \"mixed\")";
/* b3.eml */
static const char b3_msg[] =
	"Content-Type: multipart/mixed; boundary=q\n"
	"\n"
	"--q\n"
	"Content-Type: text/plain\n"
	"--q\n"
	"\n"
	"no header part\n"
	"--q\n"
	"--q--\n";
static const char b3_bs[] =
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL "
	"NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	"\"7bit\" 14 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
	"\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" "
	"(\"boundary\" \"q\") NIL NIL NIL)";
static const char b3_body[] =
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 "
	"0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 "
	"0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) "
	"\"mixed\")";
/* b4.eml */
static const char b4_msg[] =
	"Content-Type: multipart/mixed\n"
	"\n"
	"no boundary\n";
static const char b4_bs[] =
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL "
	"NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)";
static const char b4_body[] =
	"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) "
	"\"mixed\")";
/* b5.eml */
static const char b5_msg[] =
	"Content-Type: multipart/mixed; boundary=o\n"
	"\n"
	"--o\n"
	"Content-Type: multipart/alternative; boundary=i\n"
	"\n"
	"--i\n"
	"\n"
	"inner1\n"
	"--o\n"
	"\n"
	"after outer\n";
static const char b5_bs[] =
	"(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0 "
	"NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"i\") NIL NIL "
	"NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1 "
	"NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"o\") NIL NIL NIL)";
static const char b5_body[] =
	"(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0) "
	"\"alternative\")(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	"\"7bit\" 13 1) \"mixed\")";
/* b6.eml */
static const char b6_msg[] =
	"Content-Type: message/rfc822\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"RnJvbTogYUBiCgpoaQo=\n";
static const char b6_bs[] =
	"(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 22 (NIL NIL NIL NIL NIL "
	"NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	"NIL \"7bit\" 0 0 NIL NIL NIL NIL) 1 NIL NIL NIL NIL)";
static const char b6_body[] =
	"(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 22 (NIL NIL NIL NIL NIL "
	"NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	"NIL \"7bit\" 0 0) 1)";
/* b7.eml */
static const char b7_msg[] =
	"Content-Type: multipart/digest; boundary=d\n"
	"\n"
	"--d\n"
	"\n"
	"From: x@y\n"
	"Subject: digest\n"
	"\n"
	"hi\n"
	"--d--\n";
static const char b7_bs[] =
	"((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 32 (NIL \"digest\" ((NIL "
	"NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) NIL "
	"NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	"\"7bit\" 2 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) \"digest\" "
	"(\"boundary\" \"d\") NIL NIL NIL)";
static const char b7_body[] =
	"((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 32 (NIL \"digest\" ((NIL "
	"NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) NIL "
	"NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	"\"7bit\" 2 0) 3) \"digest\")";
/* b8.eml */
static const char b8_msg[] =
	"Content-Type: TEXT/Plain; CharSet=ISO-8859-1; format=flowed (comment)\n"
	"Content-Disposition: INLINE\n"
	"Content-Language: en\n"
	"\n"
	"x\n";
static const char b8_bs[] =
	"(\"TEXT\" \"Plain\" (\"CharSet\" \"ISO-8859-1\" \"format\" \"flowed\") "
	"NIL NIL \"7bit\" 3 1 NIL (\"INLINE\" NIL) (\"en\") NIL)";
static const char b8_body[] =
	"(\"TEXT\" \"Plain\" (\"CharSet\" \"ISO-8859-1\" \"format\" \"flowed\") "
	"NIL NIL \"7bit\" 3 1)";
/* c2.eml */
static const char c2_msg[] =
	"Content-Type: multipart/mixed; boundary=\"b\"\n"
	"\n"
	"--b\n"
	"Content-Type: text/html\n"
	"\n"
	"<p>x</p>\n"
	"--b\n"
	"Content-Type: text/plain; format=flowed\n"
	"\n"
	"no newline at end\n"
	"--b  \n"
	"Content-Type: foo\n"
	"\n"
	"invalid ct\n"
	"--b garbage\n"
	"still part 3\n"
	"--b--\n";
static const char c2_bs[] =
	"((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0 NIL "
	"NIL NIL NIL)(\"text\" \"plain\" (\"format\" \"flowed\" \"charset\" "
	"\"us-ascii\") NIL NIL \"7bit\" 17 0 NIL NIL NIL NIL)(\"text\" \"plain\" "
	"(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 37 2 NIL NIL NIL NIL) "
	"\"mixed\" (\"boundary\" \"b\") NIL NIL NIL)";
static const char c2_body[] =
	"((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 "
	"0)(\"text\" \"plain\" (\"format\" \"flowed\" \"charset\" \"us-ascii\") "
	"NIL NIL \"7bit\" 17 0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	"NIL \"7bit\" 37 2) \"mixed\")";
/* c4.eml */
static const char c4_msg[] =
	"From: a@b\n"
	"Content-Type: message/global\n"
	"\n"
	"From: c@d\n"
	"Subject: glob\n"
	"\n"
	"hi\n";
static const char c4_bs[] =
	"(\"message\" \"global\" NIL NIL NIL \"7bit\" 32 (NIL \"glob\" ((NIL NIL "
	"\"c\" \"d\")) ((NIL NIL \"c\" \"d\")) ((NIL NIL \"c\" \"d\")) NIL NIL "
	"NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	"\"7bit\" 4 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)";
static const char c4_body[] =
	"(\"message\" \"global\" NIL NIL NIL \"7bit\" 32 (NIL \"glob\" ((NIL NIL "
	"\"c\" \"d\")) ((NIL NIL \"c\" \"d\")) ((NIL NIL \"c\" \"d\")) NIL NIL "
	"NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	"\"7bit\" 4 1) 4)";
/* c5.eml */
static const char c5_msg[] =
	"Content-Type: multipart/mixed; boundary=b\n"
	"\n"
	"--b\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: inner\n"
	"\n"
	"inner text\n"
	"--b\n"
	"Content-Type: text/plain\n"
	"\n"
	"last";
static const char c5_bs[] =
	"((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 28 (NIL \"inner\" NIL NIL "
	"NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") "
	"NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL)(\"text\" "
	"\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0 NIL NIL NIL "
	"NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)";
static const char c5_body[] =
	"((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 28 (NIL \"inner\" NIL NIL "
	"NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") "
	"NIL NIL \"7bit\" 10 0) 2)(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
	"NIL NIL \"7bit\" 4 0) \"mixed\")";
/* c9.eml */
static const char c9_msg[] =
	"\n"
	"\n"
	"body only";
static const char c9_bs[] =
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1 NIL "
	"NIL NIL NIL)";
static const char c9_body[] =
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1)";

static void check_bs(const char *msg, size_t len, const char *want_bs,
		     const char *want_body)
{
	struct mime_message *m = mime_parse(msg, len, NULL);
	buf_t b;

	buf_init(&b, 0);
	CHECK_INTEQ(imap_bodystructure_write(m, true, &b), 0);
	CHECK_STREQ(buf_cstr(&b), want_bs);
	buf_reset(&b);
	CHECK_INTEQ(imap_bodystructure_write(m, false, &b), 0);
	CHECK_STREQ(buf_cstr(&b), want_body);
	buf_free(&b);
	mime_message_destroy(&m);
}

#define GOLDEN(name) check_bs(name##_msg, sizeof(name##_msg) - 1, name##_bs, name##_body)

TEST(imap_bodystructure_golden)
{
	GOLDEN(b1);	/* multipart/alternative, all extension fields */
	GOLDEN(b2);	/* mixed, RFC 2231 attachment, nested message/rfc822 */
	GOLDEN(b3);	/* parts without header / body */
	GOLDEN(b4);	/* multipart without boundary */
	GOLDEN(b5);	/* outer boundary ends the inner multipart */
	GOLDEN(b6);	/* base64 message/rfc822: not parsed */
	GOLDEN(b7);	/* multipart/digest default type */
	GOLDEN(b8);	/* case kept, comment skipped */
	GOLDEN(c2);	/* strict boundary lines, invalid Content-Type */
	GOLDEN(c4);	/* message/global */
	GOLDEN(c5);	/* message/rfc822 in a multipart, last part w/o newline */
	GOLDEN(c9);	/* empty header */
}

/* Same message with CRLF line ends gives the same text. */
TEST(imap_bodystructure_lf_crlf)
{
	const char *msgs[] = { b1_msg, b2_msg, b3_msg, b5_msg, b7_msg, c2_msg, c5_msg };

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t n = strlen(msgs[i]), k = 0;
		char *crlf = xmalloc(n * 2 + 1);
		struct mime_message *a, *b;
		buf_t x, y;

		for (size_t j = 0; j < n; j++) {
			if (msgs[i][j] == '\n' && (j == 0 || msgs[i][j - 1] != '\r'))
				crlf[k++] = '\r';
			crlf[k++] = msgs[i][j];
		}
		a = mime_parse(msgs[i], n, NULL);
		b = mime_parse(crlf, k, NULL);
		buf_init(&x, 0);
		buf_init(&y, 0);
		imap_bodystructure_write(a, true, &x);
		imap_bodystructure_write(b, true, &y);
		CHECK_STREQ(buf_cstr(&x), buf_cstr(&y));
		buf_free(&x);
		buf_free(&y);
		mime_message_destroy(&a);
		mime_message_destroy(&b);
		free(crlf);
	}
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

TEST(imap_bodystructure_limits)
{
	/* MIME-1 and MIME-3: the cut-off part is application/octet-stream
	 * (as Dovecot) and the text stays bounded */
	buf_t msg, out;
	struct mime_message *m;

	buf_init(&msg, 0);
	buf_init(&out, 0);
	buf_append_cstr(&msg, "Content-Type: multipart/mixed; boundary=b0\n\n");
	for (int i = 1; i < 10000; i++)
		buf_printf(&msg, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n",
			   i - 1, i);
	m = mime_parse(msg.data, msg.used, NULL);
	CHECK_INTEQ(imap_bodystructure_write(m, true, &out), 0);
	CHECK_INTEQ(count_str(out.data, "\"mixed\""), MIME_DEFAULT_MAX_DEPTH - 1);
	CHECK_INTEQ(count_str(out.data, "\"application\" \"octet-stream\" (\"boundary\" \"b99\")"), 1);
	mime_message_destroy(&m);

	buf_reset(&msg);
	buf_reset(&out);
	for (int i = 0; i < 1000; i++)
		buf_printf(&msg, "Subject: m%d\nContent-Type: message/rfc822\n\n", i);
	m = mime_parse(msg.data, msg.used, NULL);
	CHECK_INTEQ(imap_bodystructure_write(m, true, &out), 0);
	CHECK_INTEQ(count_str(out.data, "\"rfc822\""), MIME_DEFAULT_MAX_DEPTH - 1);
	CHECK_INTEQ(count_str(out.data, "\"application\" \"octet-stream\""), 1);
	mime_message_destroy(&m);

	/* MIME-2: 100,000 siblings: 10,000 parts written */
	buf_reset(&msg);
	buf_reset(&out);
	buf_append_cstr(&msg, "Content-Type: multipart/mixed; boundary=b\n\n");
	for (int i = 0; i < 100000; i++)
		buf_append_cstr(&msg, "--b\n\nx\n");
	m = mime_parse(msg.data, msg.used, NULL);
	CHECK_INTEQ(imap_bodystructure_write(m, false, &out), 0);
	CHECK_INTEQ(count_str(out.data, "(\"text\""), MIME_DEFAULT_MAX_PARTS - 1);

	/* out of room: -1 and out unchanged */
	buf_free(&out);
	buf_init(&out, 1000);
	CHECK_INTEQ(imap_bodystructure_write(m, true, &out), -1);
	CHECK_INTEQ(out.used, 0);
	mime_message_destroy(&m);
	buf_free(&out);
	buf_free(&msg);
}
