#include <stdlib.h>
#include "test.h"
#include "pop3-command.h"

static int parse(const char *s, struct pop3_command *c, const char **err)
{
	static char line[10000];
	size_t n = strlen(s);
	memcpy(line, s, n + 1);
	return pop3_command_parse(line, n, c, err);
}

TEST(pop3_command_valid)
{
	struct pop3_command c;
	const char *err;
	CHECK(parse("user alice@example.test", &c, &err) == 0 && c.verb == POP3_USER);
	CHECK_STREQ(c.args[0], "alice@example.test");
	CHECK(parse("PASS with spaces inside", &c, &err) == 0 && c.verb == POP3_PASS);
	CHECK_STREQ(c.args[0], "with spaces inside");
	CHECK(parse("TOP 3 10", &c, &err) == 0 && c.nargs == 2);
	CHECK(parse("LIST", &c, &err) == 0 && c.nargs == 0);
	CHECK(parse("uidl 2", &c, &err) == 0 && c.verb == POP3_UIDL);
	CHECK(parse("AUTH PLAIN AGFsaWNlAHNlY3JldA==", &c, &err) == 0 && c.nargs == 2);
	CHECK(parse("CAPA", &c, &err) == 0 && c.verb == POP3_CAPA);
	CHECK(parse("stls", &c, &err) == 0 && c.verb == POP3_STLS);
}

TEST(pop3_command_invalid)
{
	struct pop3_command c;
	const char *err;
	const char *bad[] = { "", "XY", "FROBNICATE", "RETR", "RETR 1 2", "TOP 1", "STAT x",
			      "USER ", "USER a  b", "LIST 1 ", "PASS", "US\x01R a", "USER a\x00b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(parse(bad[i], &c, &err) == -1 && err != NULL);
	/* RFC 1939: arguments up to 40 octets; RFC 2449: lines up to 255 */
	char buf[400];
	snprintf(buf, sizeof(buf), "USER %041d", 0);
	CHECK(parse(buf, &c, &err) == -1);
	snprintf(buf, sizeof(buf), "USER %040d", 0);
	CHECK(parse(buf, &c, &err) == 0);
	memset(buf, 'a', 300);
	memcpy(buf, "NOOP ", 5);
	buf[300] = '\0';
	CHECK(parse(buf, &c, &err) == -1);
	uint32_t n;
	CHECK(pop3_msgnum("1", &n) == 0 && n == 1);
	CHECK(pop3_msgnum("4294967295", &n) == 0);
	CHECK(pop3_msgnum("4294967296", &n) == -1);
	CHECK(pop3_msgnum("0", &n) == -1);
	CHECK(pop3_msgnum("-1", &n) == -1);
	CHECK(pop3_msgnum("1a", &n) == -1);
}
