/* Tests for src/lib-imap/imap-fetch-parse.c (RFC 9051 6.4.5 FETCH items). */
#include <stdlib.h>
#include <string.h>

#include "imap-fetch-parse.h"
#include "imap-parser.h"
#include "test.h"

/* Parse one item; expect its response name, or NULL for an error. */
static void check_item(const char *in, const char *expect, int line)
{
	struct imap_fetch_item item;
	const char *error = NULL;
	int ret = imap_fetch_parse_item(in, strlen(in), &item, &error);
	char m[512];

	if (expect == NULL) {
		if (ret != -1 || error == NULL) {
			snprintf(m, sizeof(m), "\"%s\" should fail, got \"%s\"", in,
				 ret == 0 ? item.name : "?");
			test_fail(__FILE__, line, m);
		}
		if (item.name != NULL || item.section.parts != NULL || item.section.fields != NULL)
			test_fail(__FILE__, line, "item not empty after error");
	} else if (ret != 0) {
		snprintf(m, sizeof(m), "\"%s\": %s", in, error ? error : "failed");
		test_fail(__FILE__, line, m);
	} else if (strcmp(item.name, expect) != 0) {
		snprintf(m, sizeof(m), "\"%s\": got \"%s\" want \"%s\"", in, item.name, expect);
		test_fail(__FILE__, line, m);
	}
	if (ret == 0)
		imap_fetch_item_free(&item);
}

#define CHECK_ITEM(in, expect) check_item(in, expect, __LINE__)

TEST(imap_fetch_parse_plain_items)
{
	CHECK_ITEM("FLAGS", "FLAGS");
	CHECK_ITEM("flags", "FLAGS");
	CHECK_ITEM("InternalDate", "INTERNALDATE");
	CHECK_ITEM("rfc822.size", "RFC822.SIZE");
	CHECK_ITEM("ENVELOPE", "ENVELOPE");
	CHECK_ITEM("BODY", "BODY");
	CHECK_ITEM("BODYSTRUCTURE", "BODYSTRUCTURE");
	CHECK_ITEM("UID", "UID");
	CHECK_ITEM("MODSEQ", "MODSEQ");
	CHECK_ITEM("RFC822", "RFC822");
	CHECK_ITEM("RFC822.HEADER", "RFC822.HEADER");
	CHECK_ITEM("rfc822.text", "RFC822.TEXT");
	CHECK_ITEM("FLAG", NULL);
	CHECK_ITEM("", NULL);
	CHECK_ITEM("BODY.PEEK", NULL);		/* needs a section */
	CHECK_ITEM("BINARY", NULL);
	CHECK_ITEM("BINARY.SIZE", NULL);
	CHECK_ITEM("ALL", NULL);		/* macros are not items */
	CHECK_ITEM("RFC822.SIZE[]", NULL);
	CHECK_ITEM("UID ", NULL);
}

TEST(imap_fetch_parse_sections)
{
	CHECK_ITEM("BODY[]", "BODY[]");
	CHECK_ITEM("body.peek[]", "BODY[]");
	CHECK_ITEM("BODY[HEADER]", "BODY[HEADER]");
	CHECK_ITEM("BODY[header]", "BODY[HEADER]");
	CHECK_ITEM("BODY[TEXT]", "BODY[TEXT]");
	CHECK_ITEM("BODY[1]", "BODY[1]");
	CHECK_ITEM("BODY[1.2.3]", "BODY[1.2.3]");
	CHECK_ITEM("BODY[2.HEADER]", "BODY[2.HEADER]");
	CHECK_ITEM("BODY[2.text]", "BODY[2.TEXT]");
	CHECK_ITEM("BODY[1.MIME]", "BODY[1.MIME]");
	CHECK_ITEM("BODY[1.2.mime]", "BODY[1.2.MIME]");
	CHECK_ITEM("BODY[4294967295]", "BODY[4294967295]");
	CHECK_ITEM("BODY[HEADER.FIELDS (FROM TO)]", "BODY[HEADER.FIELDS (FROM TO)]");
	CHECK_ITEM("BODY.PEEK[header.fields (from to)]", "BODY[HEADER.FIELDS (FROM TO)]");
	CHECK_ITEM("BODY[HEADER.FIELDS.NOT (Subject)]", "BODY[HEADER.FIELDS.NOT (SUBJECT)]");
	CHECK_ITEM("BODY[1.HEADER.FIELDS (X-A)]", "BODY[1.HEADER.FIELDS (X-A)]");
	CHECK_ITEM("BODY[HEADER.FIELDS (\"From\" Date)]", "BODY[HEADER.FIELDS (FROM DATE)]");
	CHECK_ITEM("BODY[HEADER.FIELDS  ( From  Date )]", "BODY[HEADER.FIELDS (FROM DATE)]");
	/* names that cannot be atoms are quoted back */
	CHECK_ITEM("BODY[HEADER.FIELDS (\"X\\\"Q\")]", "BODY[HEADER.FIELDS (\"X\\\"Q\")]");
	CHECK_ITEM("BODY[HEADER.FIELDS (\"a[b]\")]", "BODY[HEADER.FIELDS (\"A[B]\")]");

	CHECK_ITEM("BODY[", NULL);
	CHECK_ITEM("BODY[]]", NULL);
	CHECK_ITEM("BODY[MIME]", NULL);			/* MIME needs a part */
	CHECK_ITEM("BODY[0]", NULL);
	CHECK_ITEM("BODY[01]", NULL);
	CHECK_ITEM("BODY[1.0]", NULL);
	CHECK_ITEM("BODY[4294967296]", NULL);
	CHECK_ITEM("BODY[1.]", NULL);
	CHECK_ITEM("BODY[.1]", NULL);
	CHECK_ITEM("BODY[1..2]", NULL);
	CHECK_ITEM("BODY[1.FOO]", NULL);
	CHECK_ITEM("BODY[HEADERS]", NULL);
	CHECK_ITEM("BODY[TEXT.HEADER]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS ()]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS (FROM]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS (FROM:)]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS (\"\")]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS (\"a b\")]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS (\"a\\b\")]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS (\"abc)]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS (A\"B\")]", NULL);
	CHECK_ITEM("BODY[HEADER.FIELDS(FROM)]", NULL);
	CHECK_ITEM("BODY[HEADER] ", NULL);
	CHECK_ITEM("BODYX[]", NULL);
	CHECK_ITEM("BODY.PEEK.X[]", NULL);
}

TEST(imap_fetch_parse_section_parts)
{
	struct imap_fetch_item item;
	const char *error;
	const char *in = "BODY.PEEK[3.1.HEADER.FIELDS.NOT (a \"b\")]<5.10>";

	REQUIRE(imap_fetch_parse_item(in, strlen(in), &item, &error) == 0);
	CHECK(item.att == IMAP_FETCH_BODY_SECTION);
	CHECK(item.peek);
	CHECK_INTEQ(item.section.nparts, 2);
	CHECK_INTEQ(item.section.parts[0], 3);
	CHECK_INTEQ(item.section.parts[1], 1);
	CHECK(item.section.text == IMAP_FETCH_TEXT_FIELDS_NOT);
	CHECK_INTEQ(item.section.nfields, 2);
	CHECK_STREQ(item.section.fields[0], "A");
	CHECK_STREQ(item.section.fields[1], "B");
	CHECK(item.partial);
	CHECK_INTEQ(item.partial_offset, 5);
	CHECK_INTEQ(item.partial_len, 10);
	CHECK_STREQ(item.name, "BODY[3.1.HEADER.FIELDS.NOT (A B)]<5>");
	imap_fetch_item_free(&item);

	/* a path as deep as allowed, and one deeper */
	char deep[IMAP_FETCH_MAX_PARTS * 2 + 16];
	size_t n = 0;
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, "BODY[");
	for (size_t i = 0; i < IMAP_FETCH_MAX_PARTS; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "%s1", i ? "." : "");
	snprintf(deep + n, sizeof(deep) - n, "]");
	REQUIRE(imap_fetch_parse_item(deep, strlen(deep), &item, &error) == 0);
	CHECK_INTEQ(item.section.nparts, IMAP_FETCH_MAX_PARTS);
	imap_fetch_item_free(&item);
	snprintf(deep + n, sizeof(deep) - n, ".1]");
	CHECK(imap_fetch_parse_item(deep, strlen(deep), &item, &error) == -1);
}

TEST(imap_fetch_parse_partial_binary)
{
	CHECK_ITEM("BODY[]<0.10>", "BODY[]<0>");
	CHECK_ITEM("BODY.PEEK[TEXT]<100.1>", "BODY[TEXT]<100>");
	CHECK_ITEM("BODY[]<00.1>", "BODY[]<0>");		/* number allows zeros */
	CHECK_ITEM("BODY[]<9223372036854775807.9223372036854775807>",
		   "BODY[]<9223372036854775807>");
	CHECK_ITEM("BODY[]<9223372036854775808.1>", NULL);
	CHECK_ITEM("BODY[]<0.9223372036854775808>", NULL);
	CHECK_ITEM("BODY[]<0.0>", NULL);
	CHECK_ITEM("BODY[]<0.01>", NULL);
	CHECK_ITEM("BODY[]<0>", NULL);
	CHECK_ITEM("BODY[]<.5>", NULL);
	CHECK_ITEM("BODY[]<1.5", NULL);
	CHECK_ITEM("BODY[]<1.5>>", NULL);
	CHECK_ITEM("BODY[]<-1.5>", NULL);
	CHECK_ITEM("BODY<0.5>", NULL);

	CHECK_ITEM("BINARY[]", "BINARY[]");
	CHECK_ITEM("BINARY[1]", "BINARY[1]");
	CHECK_ITEM("binary.peek[1.2]<0.100>", "BINARY[1.2]<0>");
	CHECK_ITEM("BINARY.SIZE[1]", "BINARY.SIZE[1]");
	CHECK_ITEM("BINARY.SIZE[]", "BINARY.SIZE[]");
	CHECK_ITEM("BINARY[HEADER]", NULL);
	CHECK_ITEM("BINARY[1.TEXT]", NULL);
	CHECK_ITEM("BINARY[1.MIME]", NULL);
	CHECK_ITEM("BINARY.SIZE[1]<0.1>", NULL);
	CHECK_ITEM("BINARY.PEEK.SIZE[1]", NULL);
}

/* Parse "t FETCH 1 <rest>\r\n" and hand over its arguments. */
static struct imap_parser *parse_cmd(const char *rest, const struct imap_command **cmd_r)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;
	struct imap_parser *p = imap_parser_create(&lim);
	char line[1024];
	size_t consumed;

	snprintf(line, sizeof(line), "t FETCH 1 %s\r\n", rest);
	if (imap_parser_feed(p, line, strlen(line), &consumed) != IMAP_PARSE_DONE) {
		imap_parser_destroy(&p);
		return NULL;
	}
	*cmd_r = imap_parser_command(p);
	return p;
}

/* Parse the attributes (and modifiers, when given) and return the item
 * names joined by spaces in *out, or the error. */
static int parse_request(const char *rest, struct imap_fetch_request *req, char *out,
			 size_t outlen, const char **error_r)
{
	const struct imap_command *cmd;
	struct imap_parser *p = parse_cmd(rest, &cmd);
	int ret = -1;

	memset(req, 0, sizeof(*req));
	*error_r = "imap parser";
	if (p == NULL)
		return -1;
	if (cmd->count >= 2 && imap_fetch_parse_atts(&cmd->args[1], req, error_r) == 0) {
		ret = 0;
		if (cmd->count >= 3 &&
		    imap_fetch_parse_modifiers(&cmd->args[2], req, error_r) < 0)
			ret = -1;
	}
	out[0] = '\0';
	for (size_t i = 0; ret == 0 && i < req->count; i++) {
		size_t n = strlen(out);
		snprintf(out + n, outlen - n, "%s%s", i ? " " : "", req->items[i].name);
	}
	imap_parser_destroy(&p);
	return ret;
}

TEST(imap_fetch_parse_atts_lists)
{
	struct imap_fetch_request req;
	const char *error;
	char names[256];

	REQUIRE(parse_request("ALL", &req, names, sizeof(names), &error) == 0);
	CHECK_STREQ(names, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE");
	CHECK(req.has_flags && !req.has_uid && !req.sets_seen);
	imap_fetch_request_free(&req);

	REQUIRE(parse_request("fast", &req, names, sizeof(names), &error) == 0);
	CHECK_STREQ(names, "FLAGS INTERNALDATE RFC822.SIZE");
	imap_fetch_request_free(&req);

	REQUIRE(parse_request("Full", &req, names, sizeof(names), &error) == 0);
	CHECK_STREQ(names, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY");
	imap_fetch_request_free(&req);

	REQUIRE(parse_request("UID", &req, names, sizeof(names), &error) == 0);
	CHECK_STREQ(names, "UID");
	CHECK(req.has_uid && !req.has_flags);
	imap_fetch_request_free(&req);

	REQUIRE(parse_request("(UID BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> MODSEQ)", &req,
			      names, sizeof(names), &error) == 0);
	CHECK_STREQ(names, "UID BODY[HEADER.FIELDS (FROM TO)]<0> MODSEQ");
	CHECK(req.has_uid && req.has_modseq && !req.sets_seen);
	imap_fetch_request_free(&req);

	/* the items that set \Seen */
	static const char *const seen[] = { "BODY[]", "BODY[1]", "BINARY[1]", "RFC822",
					    "RFC822.TEXT", "(FLAGS BODY[TEXT])" };
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		REQUIRE(parse_request(seen[i], &req, names, sizeof(names), &error) == 0);
		CHECK(req.sets_seen);
		imap_fetch_request_free(&req);
	}
	static const char *const peek[] = { "BODY.PEEK[]", "BINARY.PEEK[1]", "BINARY.SIZE[1]",
					    "RFC822.HEADER", "RFC822.SIZE", "BODY",
					    "BODYSTRUCTURE" };
	for (size_t i = 0; i < sizeof(peek) / sizeof(peek[0]); i++) {
		REQUIRE(parse_request(peek[i], &req, names, sizeof(names), &error) == 0);
		CHECK(!req.sets_seen);
		imap_fetch_request_free(&req);
	}

	static const char *const bad[] = {
		"()", "(ALL)", "(FLAGS FAST)", "\"FLAGS\"", "(FLAGS \"UID\")", "NIL", "(FLAGS NIL)",
		"((FLAGS))", "(FLAGS BOGUS)", "BODY[X]", "(UID) (FOO)", "(UID) ()", "(UID) FOO",
		"(UID) (VANISHED)", "(UID) (CHANGEDSINCE)", "(UID) (CHANGEDSINCE x)",
		"(UID) (CHANGEDSINCE -1)", "(UID) (CHANGEDSINCE 01)",
		"(UID) (CHANGEDSINCE 9223372036854775808)", "(UID) (CHANGEDSINCE 1 CHANGEDSINCE 2)",
		"(UID) (CHANGEDSINCE 1 VANISHED VANISHED)", "(UID) (CHANGEDSINCE \"1\")",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = parse_request(bad[i], &req, names, sizeof(names), &error);
		if (ret != -1)
			test_fail(__FILE__, __LINE__, bad[i]);
		imap_fetch_request_free(&req);
	}
}

TEST(imap_fetch_parse_modifiers)
{
	struct imap_fetch_request req;
	const char *error;
	char names[256];

	REQUIRE(parse_request("(FLAGS) (CHANGEDSINCE 12345)", &req, names, sizeof(names),
			      &error) == 0);
	CHECK(req.changedsince_set && req.changedsince == 12345 && !req.vanished);
	imap_fetch_request_free(&req);

	REQUIRE(parse_request("(FLAGS) (changedsince 0 vanished)", &req, names, sizeof(names),
			      &error) == 0);
	CHECK(req.changedsince_set && req.changedsince == 0 && req.vanished);
	imap_fetch_request_free(&req);

	REQUIRE(parse_request("FLAGS (VANISHED CHANGEDSINCE 9223372036854775807)", &req, names,
			      sizeof(names), &error) == 0);
	CHECK(req.changedsince == 9223372036854775807ull && req.vanished);
	imap_fetch_request_free(&req);
}
