/* Unit tests for the SMTP command parser (src/lib-smtp/smtp-command.c),
 * including reliability anchors PARSE-*, UTF8-1/2 and SMUG-10. */
#include <stdlib.h>
#include <string.h>

#include "smtp-command.h"
#include "test.h"
#include "xalloc.h"

struct cmd_case {
	const char *line;
	size_t len;		/* 0: strlen(line) */
	unsigned flags;
	enum smtp_verb verb;	/* expected verb (also after an error) */
	int code;		/* 0: must parse */
	const char *enhanced;
};

#define OK(l, v) { l, 0, 0, v, 0, NULL }
#define OKF(l, f, v) { l, 0, f, v, 0, NULL }
#define BAD(l, v, c, e) { l, 0, 0, v, c, e }
#define BADN(l, n, v, c, e) { l, n, 0, v, c, e }
#define BADF(l, f, v, c, e) { l, 0, f, v, c, e }

static const struct cmd_case cmd_cases[] = {
	/* verbs, case-insensitive (RFC 5321 2.4) */
	OK("EHLO mail.example.org", SMTP_EHLO),
	OK("ehlo Mail.Example.ORG", SMTP_EHLO),
	OK("HELO localhost", SMTP_HELO),
	OK("EHLO [192.0.2.1]", SMTP_EHLO),
	OK("EHLO [IPv6:2001:db8::1]", SMTP_EHLO),
	OK("EHLO [ipv6:::ffff:192.0.2.1]", SMTP_EHLO),
	OK("EHLO  mail.example.org  ", SMTP_EHLO),
	OK("DATA", SMTP_DATA),
	OK("data ", SMTP_DATA),
	OK("RSET", SMTP_RSET),
	OK("QUIT", SMTP_QUIT),
	OK("StartTLS", SMTP_STARTTLS),
	OK("NOOP", SMTP_NOOP),
	OK("NOOP anything at all", SMTP_NOOP),
	OK("HELP", SMTP_HELP),
	OK("HELP MAIL", SMTP_HELP),
	OK("VRFY someone", SMTP_VRFY),
	OK("EXPN list", SMTP_EXPN),
	OK("BDAT 0 LAST", SMTP_BDAT),
	OK("bdat 1000 last", SMTP_BDAT),
	OK("BDAT 1000", SMTP_BDAT),
	OK("BDAT 9223372036854775807", SMTP_BDAT),
	OK("AUTH PLAIN", SMTP_AUTH),
	OK("AUTH PLAIN AGFsaWNlAHNlY3JldA==", SMTP_AUTH),
	OK("AUTH PLAIN =", SMTP_AUTH),
	OK("auth scram-sha-256", SMTP_AUTH),
	/* MAIL */
	OK("MAIL FROM:<a@b.example>", SMTP_MAIL),
	OK("mail from:<a@b.example>", SMTP_MAIL),
	OK("MAIL FROM: <a@b.example>", SMTP_MAIL),	/* Postfix-tolerated SP */
	OK("MAIL FROM:<>", SMTP_MAIL),
	OK("MAIL FROM:<> SIZE=0", SMTP_MAIL),
	OK("MAIL FROM:<a@b> SIZE=1000 BODY=8BITMIME", SMTP_MAIL),
	OK("MAIL FROM:<a@b>  size=1000  body=7bit ", SMTP_MAIL),
	OK("MAIL FROM:<a@b> SIZE=18446744073709551615", SMTP_MAIL),	/* caller's 552 */
	OK("MAIL FROM:<a@b> BODY=BINARYMIME", SMTP_MAIL),
	OK("MAIL FROM:<j\xc3\xb6ran@x.test> SMTPUTF8", SMTP_MAIL),
	OK("MAIL FROM:<a@b> RET=HDRS ENVID=abc+2Bdef", SMTP_MAIL),
	OK("MAIL FROM:<a@b> AUTH=<>", SMTP_MAIL),
	OK("MAIL FROM:<a@b> AUTH=u+2Bx@example.org", SMTP_MAIL),
	OK("MAIL FROM:<@relay.example:a@b.example>", SMTP_MAIL),
	/* PARSE-7 / PARSE-8: odd but valid atext is plain text */
	OK("MAIL FROM:<`id`@x.example>", SMTP_MAIL),
	OK("MAIL FROM:<a|b@x.example>", SMTP_MAIL),
	OK("MAIL FROM:<${run{/bin/id}}@local.test>", SMTP_MAIL),
	OK("MAIL FROM:<%s%n@x.example>", SMTP_MAIL),
	OK("VRFY ${run{/bin/id}}", SMTP_VRFY),
	OK("NOOP ;sleep 66;|`id`$(id)", SMTP_NOOP),
	/* RCPT */
	OK("RCPT TO:<c@d.example>", SMTP_RCPT),
	OK("rcpt to: <c@d.example>", SMTP_RCPT),
	OK("RCPT TO:<Postmaster>", SMTP_RCPT),
	OK("RCPT TO:<postmaster@d.example>", SMTP_RCPT),
	OK("RCPT TO:<\"\"@local.test>", SMTP_RCPT),	/* PARSE-12 */
	OK("RCPT TO:<c@d> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;c+2Bx@d", SMTP_RCPT),
	OK("RCPT TO:<c@d> notify=never", SMTP_RCPT),
	OKF("RCPT TO:<j\xc3\xb6ran@x.test>", SMTP_PARSE_UTF8, SMTP_RCPT),
	OK("RCPT TO:<c@[192.0.2.1]>", SMTP_RCPT),

	/* unknown or unusable lines */
	BAD("", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("FOO", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("GET / HTTP/1.1", SMTP_UNKNOWN, 500, "5.5.2"),	/* PARSE-14 */
	BAD("DATAX", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD(" DATA", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("EHLO\tx", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("MAILFROM:<a@b>", SMTP_UNKNOWN, 500, "5.5.2"),
	BADN("DA\0TA", 5, SMTP_UNKNOWN, 500, "5.5.2"),
	BADN("MAIL FROM:<a\0b@c>", 17, SMTP_UNKNOWN, 500, "5.5.2"),	/* PARSE-6 */
	BADN("NOOP \x01\0", 7, SMTP_UNKNOWN, 500, "5.5.2"),		/* NUL wins */
	/* PARSE-11 / UTF8-2: invalid UTF-8 anywhere */
	BAD("MAIL FROM:<\xc0\x80@x> SMTPUTF8", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("MAIL FROM:<\xff@x>", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("MAIL FROM:<\xed\xa0\x80@x> SMTPUTF8", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("MAIL FROM:<\xf4\x90\x80\x80@x> SMTPUTF8", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("MAIL FROM:<j\xf6ran@x.test> SMTPUTF8", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("NOOP \xe4\xb8", SMTP_UNKNOWN, 500, "5.5.2"),
	BAD("\xc3\xa9HLO x", SMTP_UNKNOWN, 500, "5.5.2"),

	/* EHLO/HELO: one Domain or address-literal */
	BAD("EHLO", SMTP_EHLO, 501, "5.5.4"),
	BAD("EHLO ", SMTP_EHLO, 501, "5.5.4"),
	BAD("EHLO a b", SMTP_EHLO, 501, "5.5.4"),
	BAD("HELO my_host", SMTP_HELO, 501, "5.5.4"),
	BAD("EHLO 192.0.2.1", SMTP_EHLO, 501, "5.5.4"),
	BAD("EHLO [192.0.2.1", SMTP_EHLO, 501, "5.5.4"),
	BAD("EHLO [300.0.2.1]", SMTP_EHLO, 501, "5.5.4"),
	BAD("EHLO [IPv6:2001:db8::g]", SMTP_EHLO, 501, "5.5.4"),
	BAD("EHLO []", SMTP_EHLO, 501, "5.5.4"),
	BAD("EHLO a\x01" "b", SMTP_EHLO, 501, "5.5.4"),		/* PARSE-9 */
	BAD("EHLO a(b);c", SMTP_EHLO, 501, "5.5.4"),
	BAD("EHLO h\xc3\xb6st.example", SMTP_EHLO, 501, "5.5.4"),
	BAD("EHLO -a.example", SMTP_EHLO, 501, "5.5.4"),

	/* commands without arguments */
	BAD("DATA x", SMTP_DATA, 501, "5.5.4"),
	BAD("RSET x", SMTP_RSET, 501, "5.5.4"),
	BAD("QUIT now", SMTP_QUIT, 501, "5.5.4"),
	BAD("STARTTLS x", SMTP_STARTTLS, 501, "5.5.4"),
	BAD("VRFY", SMTP_VRFY, 501, "5.5.4"),
	BAD("EXPN ", SMTP_EXPN, 501, "5.5.4"),
	BAD("NOOP a\tb", SMTP_NOOP, 501, "5.5.4"),
	BAD("HELP \x1b[2J", SMTP_HELP, 501, "5.5.4"),

	/* BDAT (SMUG-10) */
	BAD("BDAT", SMTP_BDAT, 501, "5.5.4"),
	BAD("BDAT -1", SMTP_BDAT, 501, "5.5.4"),
	BAD("BDAT +1", SMTP_BDAT, 501, "5.5.4"),
	BAD("BDAT 1x", SMTP_BDAT, 501, "5.5.4"),
	BAD("BDAT 99999999999999999999", SMTP_BDAT, 501, "5.5.4"),
	BAD("BDAT 18446744073709551615", SMTP_BDAT, 501, "5.5.4"),
	BAD("BDAT 9223372036854775808 LAST", SMTP_BDAT, 501, "5.5.4"),
	BAD("BDAT 10 FIRST", SMTP_BDAT, 501, "5.5.4"),
	BAD("BDAT 10 LAST x", SMTP_BDAT, 501, "5.5.4"),
	BAD("BDAT LAST", SMTP_BDAT, 501, "5.5.4"),

	/* AUTH (RFC 4954 4) */
	BAD("AUTH", SMTP_AUTH, 501, "5.5.4"),
	BAD("AUTH PLAIN a b", SMTP_AUTH, 501, "5.5.4"),
	BAD("AUTH PL@IN", SMTP_AUTH, 501, "5.5.4"),
	BAD("AUTH ABCDEFGHIJKLMNOPQRSTU", SMTP_AUTH, 501, "5.5.4"),
	BAD("AUTH PLAIN ab!c", SMTP_AUTH, 501, "5.5.4"),

	/* MAIL/RCPT framing */
	BAD("MAIL", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL TO:<a@b>", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM", SMTP_MAIL, 501, "5.5.4"),
	BAD("RCPT FROM:<a@b>", SMTP_RCPT, 501, "5.5.4"),
	BAD("MAIL FROM:", SMTP_MAIL, 501, "5.1.7"),
	BAD("MAIL FROM:a@b", SMTP_MAIL, 501, "5.1.7"),
	BAD("MAIL FROM:  <a@b>", SMTP_MAIL, 501, "5.1.7"),
	BAD("MAIL FROM:<a@b>SIZE=1", SMTP_MAIL, 501, "5.1.7"),
	BAD("MAIL FROM:<a@b>\tSIZE=1", SMTP_MAIL, 501, "5.1.7"),
	BAD("MAIL FROM:<a@b", SMTP_MAIL, 501, "5.1.7"),
	BAD("RCPT TO:<>", SMTP_RCPT, 501, "5.1.3"),			/* PARSE-12 */
	BAD("RCPT TO:<c>", SMTP_RCPT, 501, "5.1.3"),
	BAD("MAIL FROM:<Postmaster>", SMTP_MAIL, 501, "5.1.7"),
	/* PARSE-6: control characters in addresses */
	BAD("MAIL FROM:<a\x1b" "b@c>", SMTP_MAIL, 501, "5.1.7"),
	BAD("MAIL FROM:<\"a\\\x01\"@c>", SMTP_MAIL, 501, "5.1.7"),
	BAD("RCPT TO:<a\x7f" "b@c>", SMTP_RCPT, 501, "5.1.3"),
	/* PARSE-7: shell metacharacters that are not atext */
	BAD("MAIL FROM:<;sleep 66;@local.test>", SMTP_MAIL, 501, "5.1.7"),
	BAD("MAIL FROM:<$(id)@x.example>", SMTP_MAIL, 501, "5.1.7"),
	/* UTF8-1: non-ASCII without SMTPUTF8 */
	BAD("MAIL FROM:<j\xc3\xb6ran@x.test>", SMTP_MAIL, 553, "5.6.7"),
	BAD("MAIL FROM:<a@b\xc3\xa9.test>", SMTP_MAIL, 553, "5.6.7"),
	BAD("RCPT TO:<j\xc3\xb6ran@x.test>", SMTP_RCPT, 553, "5.6.7"),

	/* PARSE-4: ESMTP parameters */
	BAD("MAIL FROM:<a@b> SIZE=", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SIZE", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SIZE=-1", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SIZE=99999999999999999999", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SIZE=18446744073709551616", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SIZE=1k", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SIZE==1", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> BODY=8BITMIME BODY=7BIT", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SIZE=1 size=1", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> BODY=9BIT", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SMTPUTF8=yes", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> RET=ALL", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> AUTH=\"", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> AUTH=", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> AUTH=nobody", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> X=\"", SMTP_MAIL, 555, "5.5.4"),
	BAD("MAIL FROM:<a@b> FOO=bar", SMTP_MAIL, 555, "5.5.4"),
	BAD("MAIL FROM:<a@b> NOTIFY=NEVER", SMTP_MAIL, 555, "5.5.4"),
	BAD("RCPT TO:<c@d> SIZE=1", SMTP_RCPT, 555, "5.5.4"),
	BAD("MAIL FROM:<a@b> -X=1", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> =1", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SIZE=1\x01", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> X-\xc3\xa9=1", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> SIZE=\xc3\xa9", SMTP_MAIL, 501, "5.5.4"),
	/* PARSE-5: xtext must not smuggle control characters */
	BAD("MAIL FROM:<a@b> AUTH=x+0AX-Inj:+201", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> ENVID=a+0Ab", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> ENVID=a+0Db", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> ENVID=a+00b", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> ENVID=a+7Fb", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> ENVID=a+C3+A9", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> ENVID=a+2", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> ENVID=a+ZZ", SMTP_MAIL, 501, "5.5.4"),
	BAD("MAIL FROM:<a@b> ENVID=a+", SMTP_MAIL, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> ORCPT=rfc822;c+0D+0Ainjected@d", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> ORCPT=rfc822", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> ORCPT=;c@d", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> ORCPT=rfc822;", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> ORCPT=rfc.822;c@d", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> NOTIFY=NEVER,SUCCESS", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> NOTIFY=SUCCESS,NEVER", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> NOTIFY=SUCCESS,,FAILURE", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> NOTIFY=SUCCESS,", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> NOTIFY=SUCCESS,SUCCESS", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> NOTIFY=BOGUS", SMTP_RCPT, 501, "5.5.4"),
	BAD("RCPT TO:<c@d> NOTIFY=DELAY NOTIFY=DELAY", SMTP_RCPT, 501, "5.5.4"),
};

static void check_case(const struct cmd_case *tc)
{
	struct smtp_command cmd;
	struct smtp_error err = { 0, NULL, NULL };
	size_t len = tc->len ? tc->len : strlen(tc->line);
	int ret = smtp_command_parse(tc->line, len, tc->flags, &cmd, &err);

	if (tc->code == 0) {
		if (ret != 0)
			fprintf(stderr, "  line \"%s\": %d %s %s\n", tc->line, err.code,
				err.enhanced, err.text);
		CHECK_INTEQ(ret, 0);
	} else {
		if (ret != -1 || err.code != tc->code)
			fprintf(stderr, "  line \"%s\": ret %d, %d %s %s\n", tc->line, ret,
				err.code, err.enhanced ? err.enhanced : "-",
				err.text ? err.text : "-");
		CHECK_INTEQ(ret, -1);
		CHECK_INTEQ(err.code, tc->code);
		CHECK_STREQ(err.enhanced, tc->enhanced);
		CHECK(err.text != NULL && err.text[0] != '\0');
		CHECK(cmd.arg == NULL && cmd.addr.local == NULL && cmd.addr.domain == NULL);
		CHECK(cmd.params.envid == NULL && cmd.params.auth == NULL);
		CHECK(cmd.params.orcpt_type == NULL && cmd.params.orcpt_addr == NULL);
	}
	if (cmd.verb != tc->verb)
		fprintf(stderr, "  line \"%s\": verb %s\n", tc->line, smtp_verb_name(cmd.verb));
	CHECK_INTEQ(cmd.verb, tc->verb);
	smtp_command_free(&cmd);
	smtp_command_free(&cmd);	/* harmless twice */
}

TEST(smtp_command_table)
{
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++)
		check_case(&cmd_cases[i]);
}

static int parse(const char *line, unsigned flags, struct smtp_command *cmd,
		 struct smtp_error *err)
{
	return smtp_command_parse(line, strlen(line), flags, cmd, err);
}

TEST(smtp_command_ehlo_fields)
{
	struct smtp_command cmd;
	struct smtp_error err;

	REQUIRE(parse("EHLO  Mail.Example.ORG ", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.arg, "Mail.Example.ORG");
	smtp_command_free(&cmd);
	REQUIRE(parse("HELO [IPv6:2001:db8::1]", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.arg, "[IPv6:2001:db8::1]");
	smtp_command_free(&cmd);
}

TEST(smtp_command_mail_fields)
{
	struct smtp_command cmd;
	struct smtp_error err;

	REQUIRE(parse("MAIL FROM:<Joe@Example.ORG> SIZE=12345 BODY=8bitmime RET=FULL "
		      "ENVID=QQ+2B+3Dx AUTH=joe+2Btag@example.org", 0, &cmd, &err) == 0);
	CHECK_INTEQ(cmd.verb, SMTP_MAIL);
	CHECK_STREQ(cmd.addr.local, "Joe");
	CHECK_STREQ(cmd.addr.domain, "example.org");
	CHECK(cmd.params.has_size);
	CHECK_INTEQ(cmd.params.size, 12345);
	CHECK_INTEQ(cmd.params.body, SMTP_BODY_8BITMIME);
	CHECK_INTEQ(cmd.params.ret, SMTP_RET_FULL);
	CHECK(!cmd.params.smtputf8);
	CHECK_STREQ(cmd.params.envid, "QQ+=x");
	CHECK_STREQ(cmd.params.auth, "joe+tag@example.org");
	CHECK_INTEQ(cmd.params.notify, 0);
	CHECK(cmd.arg == NULL);
	smtp_command_free(&cmd);

	REQUIRE(parse("MAIL FROM:<>", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.addr.local, "");
	CHECK_STREQ(cmd.addr.domain, "");
	CHECK(!cmd.params.has_size);
	CHECK_INTEQ(cmd.params.body, SMTP_BODY_NONE);
	CHECK_INTEQ(cmd.params.ret, SMTP_RET_NONE);
	smtp_command_free(&cmd);

	REQUIRE(parse("MAIL FROM:<j\xc3\xb6ran@X.test> smtputf8 AUTH=<>", 0, &cmd, &err) == 0);
	CHECK(cmd.params.smtputf8);
	CHECK_STREQ(cmd.addr.local, "j\xc3\xb6ran");
	CHECK_STREQ(cmd.addr.domain, "x.test");
	CHECK_STREQ(cmd.params.auth, "<>");
	smtp_command_free(&cmd);
}

TEST(smtp_command_text_kept_verbatim)
{
	struct smtp_command cmd;
	struct smtp_error err;

	/* PARSE-7/8: metacharacters and expansion strings are inert text */
	REQUIRE(parse("MAIL FROM:<${run{/bin/id}}@local.test>", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.addr.local, "${run{/bin/id}}");
	smtp_command_free(&cmd);
	REQUIRE(parse("VRFY ${run{/bin/id}} ;sleep 66;", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.arg, "${run{/bin/id}} ;sleep 66;");
	smtp_command_free(&cmd);
	REQUIRE(parse("NOOP", 0, &cmd, &err) == 0);
	CHECK(cmd.arg == NULL);
	smtp_command_free(&cmd);
	REQUIRE(parse("HELP  j\xc3\xb6ran", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.arg, "j\xc3\xb6ran");
	smtp_command_free(&cmd);
}

TEST(smtp_command_rcpt_fields)
{
	struct smtp_command cmd;
	struct smtp_error err;

	REQUIRE(parse("RCPT TO:<c@d.example> NOTIFY=success,delay ORCPT=RFC822;c+2Bx+3Dy@d",
		      0, &cmd, &err) == 0);
	CHECK_INTEQ(cmd.params.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
	CHECK_STREQ(cmd.params.orcpt_type, "RFC822");
	CHECK_STREQ(cmd.params.orcpt_addr, "c+x=y@d");
	smtp_command_free(&cmd);

	REQUIRE(parse("RCPT TO:<c@d> NOTIFY=NEVER", 0, &cmd, &err) == 0);
	CHECK_INTEQ(cmd.params.notify, SMTP_NOTIFY_NEVER);
	smtp_command_free(&cmd);

	REQUIRE(parse("RCPT TO:<Postmaster>", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.addr.local, "postmaster");
	CHECK_STREQ(cmd.addr.domain, "");
	smtp_command_free(&cmd);

	REQUIRE(parse("RCPT TO:<\"\"@local.test>", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.addr.local, "");
	CHECK_STREQ(cmd.addr.domain, "local.test");
	smtp_command_free(&cmd);
}

TEST(smtp_command_bdat_auth_fields)
{
	struct smtp_command cmd;
	struct smtp_error err;

	REQUIRE(parse("BDAT 9223372036854775807 LAST", 0, &cmd, &err) == 0);
	CHECK(cmd.bdat_size == 9223372036854775807ULL);
	CHECK(cmd.bdat_last);
	smtp_command_free(&cmd);
	REQUIRE(parse("BDAT 00042", 0, &cmd, &err) == 0);
	CHECK_INTEQ(cmd.bdat_size, 42);
	CHECK(!cmd.bdat_last);
	smtp_command_free(&cmd);

	REQUIRE(parse("AUTH plain   AGFsaWNlAHNlY3JldA==", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.arg, "plain AGFsaWNlAHNlY3JldA==");
	smtp_command_free(&cmd);
	CHECK(cmd.arg == NULL);
	REQUIRE(parse("AUTH LOGIN", 0, &cmd, &err) == 0);
	CHECK_STREQ(cmd.arg, "LOGIN");
	smtp_command_free(&cmd);
}

/* Build "MAIL FROM:<a@b>" followed by n copies of param. */
static char *mail_with_params(size_t n, const char *param)
{
	buf_t b;
	char *s;

	buf_init(&b, 0);
	buf_append_cstr(&b, "MAIL FROM:<a@b>");
	for (size_t i = 0; i < n; i++) {
		buf_append_byte(&b, ' ');
		buf_append_cstr(&b, param);
	}
	s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

TEST(smtp_command_param_count)
{
	struct smtp_command cmd;
	struct smtp_error err;
	char *s;

	/* 32 unknown parameters: counted fine, then refused one by one */
	s = mail_with_params(SMTP_PARAMS_MAX, "X-FOO=1");
	CHECK_INTEQ(parse(s, 0, &cmd, &err), -1);
	CHECK_INTEQ(err.code, 555);
	free(s);
	/* 33 and 500 parameters: refused before any is looked at */
	s = mail_with_params(SMTP_PARAMS_MAX + 1, "SIZE=1");
	CHECK_INTEQ(parse(s, 0, &cmd, &err), -1);
	CHECK_INTEQ(err.code, 501);
	CHECK_STREQ(err.enhanced, "5.5.4");
	free(s);
	s = mail_with_params(500, "ENVID=x");
	CHECK_INTEQ(parse(s, 0, &cmd, &err), -1);
	CHECK_INTEQ(err.code, 501);
	CHECK(cmd.params.envid == NULL);
	free(s);
}

TEST(smtp_command_long_arguments)
{
	struct smtp_command cmd;
	struct smtp_error err;
	char line[1200];

	/* PARSE-1: a 600-character EHLO argument that fits the line reader */
	memcpy(line, "EHLO ", 5);
	memset(line + 5, 'a', 600);
	CHECK_INTEQ(smtp_command_parse(line, 605, 0, &cmd, &err), -1);
	CHECK_INTEQ(err.code, 501);
	CHECK_STREQ(err.enhanced, "5.5.4");
	/* 600 characters of labels: too long as a whole */
	for (size_t i = 0; i < 600; i += 10)
		memcpy(line + 5 + i, "abcdefghi.", 10);
	line[604] = 'x';
	CHECK_INTEQ(smtp_command_parse(line, 605, 0, &cmd, &err), -1);
	CHECK_INTEQ(err.code, 501);

	/* PARSE-2: local part of 65 octets */
	size_t n = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<%065d@b.example>", 0);
	CHECK_INTEQ(smtp_command_parse(line, n, 0, &cmd, &err), -1);
	CHECK_INTEQ(err.code, 501);
	CHECK_STREQ(err.enhanced, "5.1.7");
	n = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<%064d@b.example>", 0);
	CHECK_INTEQ(smtp_command_parse(line, n, 0, &cmd, &err), 0);
	smtp_command_free(&cmd);

	/* ENVID: 100 encoded characters is the RFC 3461 maximum */
	n = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<a@b> ENVID=%0100d", 0);
	CHECK_INTEQ(smtp_command_parse(line, n, 0, &cmd, &err), 0);
	CHECK(cmd.params.envid != NULL && strlen(cmd.params.envid) == 100);
	smtp_command_free(&cmd);
	n = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<a@b> ENVID=%0101d", 0);
	CHECK_INTEQ(smtp_command_parse(line, n, 0, &cmd, &err), -1);
	CHECK_INTEQ(err.code, 501);
	/* ORCPT over 500 characters */
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<c@d> ORCPT=rfc822;%0493d", 0);
	CHECK_INTEQ(smtp_command_parse(line, n, 0, &cmd, &err), 0);
	smtp_command_free(&cmd);
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<c@d> ORCPT=rfc822;%0494d", 0);
	CHECK_INTEQ(smtp_command_parse(line, n, 0, &cmd, &err), -1);
	CHECK_INTEQ(err.code, 501);
}

TEST(smtp_command_verb_names)
{
	CHECK_STREQ(smtp_verb_name(SMTP_EHLO), "EHLO");
	CHECK_STREQ(smtp_verb_name(SMTP_STARTTLS), "STARTTLS");
	CHECK_STREQ(smtp_verb_name(SMTP_AUTH), "AUTH");
	CHECK_STREQ(smtp_verb_name(SMTP_UNKNOWN), "UNKNOWN");
}

static int xtext_decode_str(const char *in, size_t max, char **out_r)
{
	buf_t b;
	int ret;

	buf_init(&b, max);
	ret = smtp_xtext_decode(in, strlen(in), &b);
	*out_r = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return ret;
}

TEST(smtp_command_xtext)
{
	char *s;
	buf_t b;

	CHECK_INTEQ(xtext_decode_str("", 0, &s), 0);
	CHECK_STREQ(s, "");
	free(s);
	CHECK_INTEQ(xtext_decode_str("a+2Bb+3dc+20d", 0, &s), 0);
	CHECK_STREQ(s, "a+b=c d");
	free(s);
	CHECK_INTEQ(xtext_decode_str("abc", 2, &s), -1);	/* out's max */
	free(s);
	static const char *const bad[] = {
		"a b", "a=b", "a+", "a+4", "a+4G", "+0A", "+0D", "+00", "+09", "+1F",
		"+7F", "+80", "+FF", "\xc3\xa9", "a\x01",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INTEQ(xtext_decode_str(bad[i], 0, &s), -1);
		free(s);
	}

	buf_init(&b, 0);
	smtp_xtext_encode("a+b=c d\r\n\xff~", 11, &b);
	CHECK_STREQ(buf_cstr(&b), "a+2Bb+3Dc+20d+0D+0A+FF~");
	buf_reset(&b);
	smtp_xtext_encode("joe+tag@example.org", 19, &b);
	buf_t d;
	buf_init(&d, 0);
	CHECK_INTEQ(smtp_xtext_decode(b.data, b.used, &d), 0);
	CHECK_STREQ(buf_cstr(&d), "joe+tag@example.org");
	buf_free(&d);
	buf_free(&b);
	/* encoding stops at the buffer's maximum, on a whole character */
	buf_init(&b, 4);
	smtp_xtext_encode("ab+c", 4, &b);
	CHECK_STREQ(buf_cstr(&b), "ab");
	buf_free(&b);
}

TEST(smtp_command_auth_secret_wiped_on_error)
{
	struct smtp_command cmd;
	struct smtp_error err;

	/* a rejected AUTH line leaves nothing allocated behind */
	CHECK_INTEQ(parse("AUTH PLAIN abc def", 0, &cmd, &err), -1);
	CHECK(cmd.arg == NULL);
	CHECK_INTEQ(cmd.verb, SMTP_AUTH);
}
