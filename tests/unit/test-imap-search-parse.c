/* Tests for src/lib-imap/imap-search-parse.c: search programs, SORT
 * criteria, case folding, the streaming matcher and the ENVELOPE reader. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-envelope.h"
#include "imap-parser.h"
#include "imap-search-parse.h"
#include "mail-index.h"
#include "test.h"
#include "xalloc.h"

/* ---- parsing a command line into arguments ---- */

struct cmdline {
	struct imap_parser *p;
	const struct imap_command *cmd;
};

/* "t SEARCH " + args + CRLF through the real parser (literals accepted). */
static bool cmdline_parse(struct cmdline *c, const char *args, size_t args_len)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;
	buf_t in;
	size_t off = 0, consumed;
	enum imap_parse_result r;

	c->p = imap_parser_create(&lim);
	buf_init(&in, 0);
	buf_append_cstr(&in, "t SEARCH ");
	buf_append(&in, args, args_len);
	buf_append_cstr(&in, "\r\n");
	while ((r = imap_parser_feed(c->p, in.data + off, in.used - off, &consumed)) ==
	       IMAP_PARSE_LITERAL_WAIT) {
		off += consumed;
		imap_parser_literal_accept(c->p);
	}
	buf_free(&in);
	c->cmd = r == IMAP_PARSE_DONE ? imap_parser_command(c->p) : NULL;
	return c->cmd != NULL;
}

static void cmdline_free(struct cmdline *c)
{
	imap_parser_destroy(&c->p);
}

/* ---- a program as text, for comparing ---- */

static void dump_key(buf_t *out, const struct imap_search_key *k)
{
	static const char *const names[] = {
		"AND", "OR", "NOT", "ALL", "SEQ", "UID", "FLAG", "KEYWORD", "RECENT",
		"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "LARGER",
		"SMALLER", "MODSEQ", "BCC", "CC", "FROM", "SUBJECT", "TO", "HEADER", "BODY",
		"TEXT",
	};
	if (k->neg)
		buf_append_byte(out, '!');
	buf_append_cstr(out, names[k->type]);
	switch (k->type) {
	case IMAP_SEARCH_AND:
	case IMAP_SEARCH_OR:
	case IMAP_SEARCH_NOT:
		buf_append_byte(out, '(');
		for (const struct imap_search_key *c = k->children; c != NULL; c = c->next) {
			dump_key(out, c);
			if (c->next != NULL)
				buf_append_byte(out, ' ');
		}
		buf_append_byte(out, ')');
		break;
	case IMAP_SEARCH_SEQSET:
	case IMAP_SEARCH_UIDSET:
		buf_printf(out, ":%s", k->set->str);
		break;
	case IMAP_SEARCH_FLAG:
		buf_printf(out, ":%u", k->flag);
		break;
	case IMAP_SEARCH_BEFORE:
	case IMAP_SEARCH_ON:
	case IMAP_SEARCH_SINCE:
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		buf_printf(out, ":%lld", (long long)k->day);
		break;
	case IMAP_SEARCH_LARGER:
	case IMAP_SEARCH_SMALLER:
	case IMAP_SEARCH_MODSEQ:
		buf_printf(out, ":%llu", (unsigned long long)k->num);
		break;
	case IMAP_SEARCH_HEADER:
		buf_printf(out, ":%s", k->field);
		/* fall through */
	case IMAP_SEARCH_KEYWORD:
	case IMAP_SEARCH_BCC:
	case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM:
	case IMAP_SEARCH_SUBJECT:
	case IMAP_SEARCH_TO:
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_TEXT:
		buf_printf(out, ":\"%s\"", k->str);
		break;
	default:
		break;
	}
}

/* Parse and return the dump (or "BAD: error" / "BADCHARSET"), malloc'd. */
static char *parse_dump_syntax(const char *args, size_t len, enum imap_search_syntax syntax)
{
	struct cmdline c;
	struct imap_search_program *prog = NULL;
	const char *error;
	buf_t out;

	buf_init(&out, 0);
	if (!cmdline_parse(&c, args, len)) {
		buf_append_cstr(&out, "PARSER ERROR");
	} else {
		int r = imap_search_parse(c.cmd->args, c.cmd->count, syntax, &prog, &error);
		if (r == IMAP_SEARCH_BAD) {
			buf_printf(&out, "BAD: %s", error);
			if (prog != NULL)
				buf_append_cstr(&out, " (prog not NULL)");
		} else if (r == IMAP_SEARCH_BADCHARSET) {
			buf_append_cstr(&out, "BADCHARSET");
		} else {
			if (prog->return_given)
				buf_printf(&out, "RETURN %u ", prog->return_opts);
			if (prog->charset != NULL)
				buf_printf(&out, "CHARSET %s ", prog->charset);
			dump_key(&out, prog->root);
			imap_search_program_free(&prog);
		}
	}
	char *s = xstrdup(buf_cstr(&out));
	cmdline_free(&c);
	buf_free(&out);
	return s;
}

static void check_parse(const char *args, const char *want, int line)
{
	char *got = parse_dump_syntax(args, strlen(args), IMAP_SEARCH_SYNTAX_SEARCH);
	bool ok = strncmp(want, "BAD", 3) == 0 && strcmp(want, "BADCHARSET") != 0
		  ? strncmp(got, "BAD:", 4) == 0 : strcmp(got, want) == 0;
	if (!ok) {
		char m[1024];
		snprintf(m, sizeof(m), "[%s]: got \"%.300s\" want \"%.300s\"", args, got, want);
		test_fail(__FILE__, line, m);
	}
	free(got);
}

#define CHECK_PARSE(args, want) check_parse(args, want, __LINE__)

TEST(imap_search_parse_keys)
{
	CHECK_PARSE("ALL", "AND(ALL)");
	CHECK_PARSE("all seen", "AND(ALL FLAG:8)");
	CHECK_PARSE("ANSWERED DELETED DRAFT FLAGGED SEEN", "AND(FLAG:1 FLAG:4 FLAG:16 FLAG:2 FLAG:8)");
	CHECK_PARSE("UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
		    "AND(!FLAG:1 !FLAG:4 !FLAG:16 !FLAG:2 !FLAG:8)");
	CHECK_PARSE("RECENT OLD NEW", "AND(RECENT !RECENT AND(RECENT !FLAG:8))");
	CHECK_PARSE("KEYWORD $Junk UNKEYWORD foo", "AND(KEYWORD:\"$Junk\" !KEYWORD:\"foo\")");
	CHECK_PARSE("1:3,5 UID 1:* $ UID $ *", "AND(SEQ:1:3,5 UID:1:* SEQ:$ UID:$ SEQ:*)");
	CHECK_PARSE("LARGER 100 SMALLER 0 LARGER 9223372036854775807",
		    "AND(LARGER:100 SMALLER:0 LARGER:9223372036854775807)");
	CHECK_PARSE("SINCE 1-Feb-2024 BEFORE \"29-Feb-2024\" ON 01-jan-1970",
		    "AND(SINCE:19754 BEFORE:19782 ON:0)");
	CHECK_PARSE("SENTSINCE 1-Mar-2000 SENTON 31-Dec-1969 SENTBEFORE 1-Feb-2024",
		    "AND(SENTSINCE:11017 SENTON:-1 SENTBEFORE:19754)");
	CHECK_PARSE("MODSEQ 0 MODSEQ \"/flags/\\\\seen\" all 5",
		    "AND(MODSEQ:0 MODSEQ:5)");
	/* strings: astring forms, folded */
	CHECK_PARSE("SUBJECT Hello FROM \"Alice Smith\" TO {3}\r\nBOB CC x BCC y",
		    "AND(SUBJECT:\"hello\" FROM:\"alice smith\" TO:\"bob\" CC:\"x\" BCC:\"y\")");
	CHECK_PARSE("HEADER X-Spam-Flag YES", "AND(HEADER:X-Spam-Flag:\"yes\")");
	CHECK_PARSE("HEADER Message-ID \"\"", "AND(HEADER:Message-ID:\"\")");
	CHECK_PARSE("BODY \"caf\xc3\x89\" TEXT NIL", "AND(BODY:\"caf\xc3\xa9\" TEXT:\"nil\")");
}

TEST(imap_search_parse_structure)
{
	CHECK_PARSE("OR SEEN FLAGGED", "AND(OR(FLAG:8 FLAG:2))");
	/* runs of OR flatten, on either side */
	CHECK_PARSE("OR OR SEEN FLAGGED DRAFT", "AND(OR(FLAG:8 FLAG:2 FLAG:16))");
	CHECK_PARSE("OR SEEN OR FLAGGED DRAFT", "AND(OR(FLAG:8 FLAG:2 FLAG:16))");
	CHECK_PARSE("OR (SEEN FLAGGED) NOT DRAFT", "AND(OR(AND(FLAG:8 FLAG:2) NOT(FLAG:16)))");
	CHECK_PARSE("NOT NOT SEEN", "AND(FLAG:8)");
	CHECK_PARSE("NOT NOT NOT SEEN", "AND(NOT(FLAG:8))");
	CHECK_PARSE("(SEEN (FLAGGED))", "AND(AND(FLAG:8 AND(FLAG:2)))");
	CHECK_PARSE("NOT (OR 1 2)", "AND(NOT(AND(OR(SEQ:1 SEQ:2))))");
	/* cheapest first: record keys, envelope, header, body */
	CHECK_PARSE("BODY x HEADER X-A y SUBJECT z SEEN",
		    "AND(FLAG:8 SUBJECT:\"z\" HEADER:X-A:\"y\" BODY:\"x\")");
	CHECK_PARSE("OR TEXT a (SUBJECT b HEADER Subject c)",
		    "AND(OR(AND(SUBJECT:\"b\" HEADER:Subject:\"c\") TEXT:\"a\"))");
}

TEST(imap_search_parse_return_charset)
{
	CHECK_PARSE("RETURN (MIN MAX) ALL", "RETURN 3 AND(ALL)");
	CHECK_PARSE("RETURN () ALL", "RETURN 4 AND(ALL)");
	CHECK_PARSE("RETURN (SAVE) ALL", "RETURN 16 AND(ALL)");
	CHECK_PARSE("RETURN (count all save min max) ALL", "RETURN 31 AND(ALL)");
	CHECK_PARSE("CHARSET UTF-8 SUBJECT x", "CHARSET UTF-8 AND(SUBJECT:\"x\")");
	CHECK_PARSE("CHARSET us-ascii SUBJECT x", "CHARSET us-ascii AND(SUBJECT:\"x\")");
	CHECK_PARSE("RETURN (COUNT) CHARSET UTF-8 ALL", "RETURN 8 CHARSET UTF-8 AND(ALL)");
	/* converted from ISO-8859-1, then folded */
	CHECK_PARSE("CHARSET ISO-8859-1 SUBJECT {4}\r\nCAF\xc9",
		    "CHARSET ISO-8859-1 AND(SUBJECT:\"caf\xc3\xa9\")");
	CHECK_PARSE("CHARSET X-NO-SUCH-CHARSET ALL", "BADCHARSET");
	CHECK_PARSE("CHARSET \"utf-8*en\" ALL", "BADCHARSET");
	/* invalid UTF-8 becomes U+FFFD */
	CHECK_PARSE("SUBJECT {2}\r\na\xff", "AND(SUBJECT:\"a\xef\xbf\xbd\")");
	/* SORT/THREAD form: the charset comes first, without CHARSET */
	char *got = parse_dump_syntax("UTF-8 SEEN", 10, IMAP_SEARCH_SYNTAX_CHARSET_FIRST);
	CHECK_STREQ(got, "CHARSET UTF-8 AND(FLAG:8)");
	free(got);
	got = parse_dump_syntax("FOO-BAR-BAZ SEEN", 16, IMAP_SEARCH_SYNTAX_CHARSET_FIRST);
	CHECK_STREQ(got, "BADCHARSET");
	free(got);
	got = parse_dump_syntax("UTF-8", 5, IMAP_SEARCH_SYNTAX_CHARSET_FIRST);
	CHECK(strncmp(got, "BAD:", 4) == 0);
	free(got);
}

TEST(imap_search_parse_errors)
{
	static const char *const bad[] = {
		"FOO", "SEEN FOO", "\"SEEN\"", "SINCE", "SINCE 32-Jan-2024", "SINCE 1-Foo-2024",
		"SINCE 29-Feb-2023", "SINCE 0-Jan-2024", "SINCE 1-Jan-24", "SINCE 1-Jan-20240",
		"SINCE 123-Jan-2024", "SINCE Jan-1-2024", "SINCE 1-Jan-2024x", "SINCE (1-Jan-2024)",
		"LARGER", "LARGER x", "LARGER -1", "LARGER 9223372036854775808",
		"LARGER 99999999999999999999", "OR SEEN", "OR", "NOT", "NOT NOT", "()",
		"(SEEN ())", "1:x", "0", "1,", "UID", "UID x", "UID 0", "KEYWORD", "KEYWORD \\Seen",
		"KEYWORD (a)", "KEYWORD a%", "HEADER", "HEADER X", "HEADER \"a b\" x", "HEADER a: x",
		"HEADER \"\" x", "SUBJECT", "SUBJECT (a)", "RETURN (FOO) ALL", "RETURN ALL",
		"RETURN (MIN)", "CHARSET", "CHARSET (x) ALL", "MODSEQ", "MODSEQ x",
		"MODSEQ \"/flags/x\" foo 1", "MODSEQ \"/other\" all 1", "MODSEQ \"/flags/x\" all",
		"BODY ~{1}\r\nx",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_parse(bad[i], "BAD", __LINE__);

	/* an empty program (the parser gives "t SEARCH" no arguments) */
	struct imap_search_program *prog = (void *)1;
	const char *error;
	struct imap_arg eol = { .type = IMAP_ARG_EOL };
	CHECK(imap_search_parse(&eol, 0, IMAP_SEARCH_SYNTAX_SEARCH, &prog, &error) ==
	      IMAP_SEARCH_BAD);
	CHECK(prog == NULL && error != NULL);
}

TEST(imap_search_parse_limits)
{
	buf_t b;
	char *got;

	/* NOT ( ... ) nesting: at most IMAP_SEARCH_MAX_DEPTH levels */
	buf_init(&b, 0);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH / 2 - 1; i++)
		buf_append_cstr(&b, "NOT (");
	buf_append_cstr(&b, "SEEN");
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH / 2 - 1; i++)
		buf_append_byte(&b, ')');
	got = parse_dump_syntax(b.data, b.used, IMAP_SEARCH_SYNTAX_SEARCH);
	CHECK(strncmp(got, "AND(NOT(AND(NOT(", 16) == 0);
	free(got);
	buf_reset(&b);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH; i++)
		buf_append_cstr(&b, "NOT (");
	buf_append_cstr(&b, "SEEN");
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH; i++)
		buf_append_byte(&b, ')');
	got = parse_dump_syntax(b.data, b.used, IMAP_SEARCH_SYNTAX_SEARCH);
	CHECK_STREQ(got, "BAD: Search keys nested too deeply");
	free(got);

	/* parentheses alone */
	buf_reset(&b);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH + 1; i++)
		buf_append_byte(&b, '(');
	buf_append_cstr(&b, "SEEN");
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH + 1; i++)
		buf_append_byte(&b, ')');
	got = parse_dump_syntax(b.data, b.used, IMAP_SEARCH_SYNTAX_SEARCH);
	CHECK_STREQ(got, "BAD: Search keys nested too deeply");
	free(got);

	/* long OR chains stay flat, both ways */
	buf_reset(&b);
	for (int i = 0; i < 1999; i++)
		buf_append_cstr(&b, "OR ");
	for (int i = 0; i < 2000; i++)
		buf_printf(&b, "HEADER Message-ID <%d@x> ", i);
	got = parse_dump_syntax(b.data, b.used - 1, IMAP_SEARCH_SYNTAX_SEARCH);
	CHECK(strncmp(got, "AND(OR(HEADER:Message-ID:\"<0@x>\" ", 33) == 0);
	free(got);
	struct cmdline c;
	struct imap_search_program *prog;
	const char *error;
	REQUIRE(cmdline_parse(&c, b.data, b.used - 1));
	REQUIRE(imap_search_parse(c.cmd->args, c.cmd->count, IMAP_SEARCH_SYNTAX_SEARCH, &prog,
				  &error) == IMAP_SEARCH_OK);
	CHECK_INTEQ(prog->nkeys, 2000 + 2);
	CHECK(prog->cost == IMAP_SEARCH_COST_ENVELOPE);
	imap_search_program_free(&prog);
	CHECK(prog == NULL);
	cmdline_free(&c);
	buf_reset(&b);
	for (int i = 0; i < 3000; i++)
		buf_printf(&b, "OR UID %d ", i + 1);
	buf_append_cstr(&b, "SEEN");
	got = parse_dump_syntax(b.data, b.used, IMAP_SEARCH_SYNTAX_SEARCH);
	CHECK(strncmp(got, "AND(OR(UID:1 UID:2 ", 19) == 0);
	free(got);

	/* NOT runs collapse */
	buf_reset(&b);
	for (int i = 0; i < 5001; i++)
		buf_append_cstr(&b, "NOT ");
	buf_append_cstr(&b, "SEEN");
	got = parse_dump_syntax(b.data, b.used, IMAP_SEARCH_SYNTAX_SEARCH);
	CHECK_STREQ(got, "AND(NOT(FLAG:8))");
	free(got);

	/* key count */
	buf_reset(&b);
	for (int i = 0; i < IMAP_SEARCH_MAX_KEYS; i++)
		buf_append_cstr(&b, "ALL ");
	got = parse_dump_syntax(b.data, b.used - 1, IMAP_SEARCH_SYNTAX_SEARCH);
	CHECK_STREQ(got, "BAD: Too many search keys");
	free(got);

	/* string length, after conversion */
	buf_reset(&b);
	buf_printf(&b, "SUBJECT {%d}\r\n", IMAP_SEARCH_MAX_STRING + 1);
	for (int i = 0; i < IMAP_SEARCH_MAX_STRING + 1; i++)
		buf_append_byte(&b, 'a');
	got = parse_dump_syntax(b.data, b.used, IMAP_SEARCH_SYNTAX_SEARCH);
	CHECK_STREQ(got, "BAD: Search string too long");
	free(got);
	buf_reset(&b);
	buf_printf(&b, "CHARSET ISO-8859-1 SUBJECT {%d}\r\n", IMAP_SEARCH_MAX_STRING / 2 + 1);
	for (int i = 0; i < IMAP_SEARCH_MAX_STRING / 2 + 1; i++)
		buf_append_byte(&b, '\xe9');
	got = parse_dump_syntax(b.data, b.used, IMAP_SEARCH_SYNTAX_SEARCH);
	CHECK_STREQ(got, "BAD: Search string too long");
	free(got);
	buf_free(&b);
}

static void check_sort(const char *args, const char *want, int line)
{
	struct cmdline c;
	struct imap_sort_criterion crit[IMAP_SORT_MAX_CRITERIA];
	size_t n;
	const char *error;
	buf_t out;

	buf_init(&out, 0);
	if (!cmdline_parse(&c, args, strlen(args)))
		buf_append_cstr(&out, "PARSER ERROR");
	else if (imap_sort_parse(&c.cmd->args[0], crit, IMAP_SORT_MAX_CRITERIA, &n, &error) < 0)
		buf_append_cstr(&out, "BAD");
	else
		for (size_t i = 0; i < n; i++)
			buf_printf(&out, "%s%d ", crit[i].reverse ? "-" : "", (int)crit[i].key);
	if (strcmp(buf_cstr(&out), want) != 0) {
		char m[512];
		snprintf(m, sizeof(m), "[%s]: got \"%s\" want \"%s\"", args, buf_cstr(&out), want);
		test_fail(__FILE__, line, m);
	}
	cmdline_free(&c);
	buf_free(&out);
}

TEST(imap_sort_parse_criteria)
{
	check_sort("(ARRIVAL)", "0 ", __LINE__);
	check_sort("(REVERSE DATE subject)", "-2 5 ", __LINE__);
	check_sort("(CC FROM SIZE TO REVERSE ARRIVAL DISPLAYFROM DISPLAYTO)", "1 3 4 6 -0 7 8 ",
		   __LINE__);
	check_sort("()", "BAD", __LINE__);
	check_sort("(REVERSE)", "BAD", __LINE__);
	check_sort("(REVERSE REVERSE DATE)", "BAD", __LINE__);
	check_sort("(DATE FOO)", "BAD", __LINE__);
	check_sort("DATE", "BAD", __LINE__);
	check_sort("(DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE "
		   "DATE DATE)", "BAD", __LINE__);
}

/* ---- folding and matching ---- */

static void check_fold(const char *in, const char *want, int line)
{
	buf_t out;
	buf_init(&out, 0);
	ssize_t r = imap_search_fold(in, strlen(in), true, &out);
	if (r != (ssize_t)strlen(in) || strcmp(buf_cstr(&out), want) != 0) {
		char m[512];
		snprintf(m, sizeof(m), "fold \"%s\": got \"%s\"", in, buf_cstr(&out));
		test_fail(__FILE__, line, m);
	}
	buf_free(&out);
}

TEST(imap_search_fold_text)
{
	check_fold("Hello WORLD 123", "hello world 123", __LINE__);
	check_fold("\xc3\x80\xc3\x89\xc3\x8e\xc3\x97\xc3\x9f", "\xc3\xa0\xc3\xa9\xc3\xae\xc3\x97\xc3\x9f",
		   __LINE__);				/* ÀÉÎ×ß -> àéî×ß */
	check_fold("\xc5\x81\xc3\x93\xc5\xbd", "\xc5\x82\xc3\xb3\xc5\xbe", __LINE__);	/* ŁÓŽ */
	check_fold("\xce\xa3\xce\x91\xcf\x82", "\xcf\x83\xce\xb1\xcf\x83", __LINE__);	/* ΣΑς */
	check_fold("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x81", "\xd0\xbf\xd1\x80\xd0\xb8\xd1\x91",
		   __LINE__);				/* ПРИЁ */
	check_fold("\xe1\xba\x9e\xe2\x84\xaa", "\xc3\x9fk", __LINE__);	/* ẞ K (Kelvin) */
	check_fold("\xef\xbc\xa1", "\xef\xbd\x81", __LINE__);		/* fullwidth A */
	check_fold("\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac", __LINE__);
	/* invalid UTF-8 is copied */
	check_fold("A\xff\xc3(B\x80", "a\xff\xc3(b\x80", __LINE__);
	check_fold("\xc3", "\xc3", __LINE__);

	/* a cut sequence waits unless final */
	buf_t out;
	buf_init(&out, 0);
	CHECK(imap_search_fold("a\xc3", 2, false, &out) == 1);
	CHECK(imap_search_fold("a\xe2\x84", 3, false, &out) == 1);
	CHECK(imap_search_fold("a\xc3(", 3, false, &out) == 3);
	CHECK_STREQ(buf_cstr(&out), "aaa\xc3(");
	buf_free(&out);
	/* output maximum */
	buf_init(&out, 3);
	CHECK(imap_search_fold("abcd", 4, true, &out) == -1);
	CHECK(out.used == 0);
	buf_free(&out);
}

static struct imap_search_key *needle(const char *s)
{
	struct imap_search_key *k = xcalloc(1, sizeof(*k));
	k->type = IMAP_SEARCH_BODY;
	k->str = xstrdup(s);
	k->len = strlen(s);
	return k;
}

TEST(imap_search_scan_stream)
{
	struct imap_search_key *n[4] = {
		needle("hello"), needle("w\xc3\xb6rld"), needle(""), needle("xyz"),
	};
	struct imap_search_scan s;

	imap_search_scan_init(&s, (const struct imap_search_key *const *)n, 4);
	CHECK(s.found[2] && s.left == 3);	/* "" matches at once */
	/* one octet at a time, across a UTF-8 sequence, folded */
	const char *text = "Say HEL" "LO to the W\xc3\x96RLD!";
	for (size_t i = 0; text[i] != '\0'; i++)
		imap_search_scan_feed(&s, text + i, 1);
	CHECK(s.found[0] && s.found[1] && !s.found[3]);
	CHECK_INTEQ(s.left, 1);
	CHECK(!imap_search_scan_done(&s));

	/* a break: no match spans it */
	imap_search_scan_reset(&s);
	imap_search_scan_feed(&s, "xy", 2);
	imap_search_scan_break(&s);
	imap_search_scan_feed(&s, "z", 1);
	CHECK(!s.found[3]);
	imap_search_scan_feed(&s, "XyZ", 3);
	CHECK(s.found[3]);

	/* large pieces: a match across the piece boundary */
	imap_search_scan_reset(&s);
	size_t big = IMAP_SEARCH_SCAN_PIECE * 2 + 7;
	char *data = xmalloc(big);
	memset(data, '.', big);
	memcpy(data + IMAP_SEARCH_SCAN_PIECE - 2, "HELLO", 5);
	memcpy(data + big - 6, "w\xc3\xb6rld", 6);
	imap_search_scan_feed(&s, data, big);
	CHECK(s.found[0] && s.found[1]);
	/* and the window stays small */
	CHECK(s.window.used <= 6);
	free(data);

	imap_search_scan_deinit(&s);
	for (int i = 0; i < 4; i++) {
		free(n[i]->str);
		free(n[i]);
	}
}

TEST(imap_search_envelope_read)
{
	static const char msg[] =
		"Date: Thu, 1 Feb 2024 10:00:00 +0100\n"
		"Subject: =?UTF-8?Q?caf=C3=A9?= \"quoted\" \\ back\n"
		"From: \"Smith, Alice\" <alice@example.test>\n"
		"To: bob@example.test, undisclosed:;\n"
		"Cc: Carol <carol@example.test>\n"
		"Message-ID: <m1@example.test>\n"
		"In-Reply-To: <m0@example.test>\n"
		"\n"
		"body\n";
	struct imap_search_envelope env;
	buf_t text;

	buf_init(&text, 0);
	REQUIRE(imap_envelope_write_data(msg, sizeof(msg) - 1, &text) == 0);
	REQUIRE(imap_search_envelope_parse(text.data, text.used, &env) == 0);
	CHECK(slice_eq_cstr(env.date, "Thu, 1 Feb 2024 10:00:00 +0100"));
	CHECK(slice_eq_cstr(env.subject, "=?UTF-8?Q?caf=C3=A9?= \"quoted\" \\ back"));
	CHECK(slice_eq_cstr(env.message_id, "<m1@example.test>"));
	CHECK(slice_eq_cstr(env.in_reply_to, "<m0@example.test>"));
	REQUIRE(env.naddrs[IMAP_ENV_FROM] == 1);
	CHECK(slice_eq_cstr(env.addrs[IMAP_ENV_FROM][0].name, "Smith, Alice"));
	CHECK(slice_eq_cstr(env.addrs[IMAP_ENV_FROM][0].mailbox, "alice"));
	CHECK(slice_eq_cstr(env.addrs[IMAP_ENV_FROM][0].host, "example.test"));
	CHECK(env.addrs[IMAP_ENV_FROM][0].adl.ptr == NULL);
	CHECK_INTEQ(env.naddrs[IMAP_ENV_SENDER], 1);	/* defaults to From */
	CHECK_INTEQ(env.naddrs[IMAP_ENV_TO], 3);	/* bob, group start, group end */
	CHECK(env.addrs[IMAP_ENV_TO][0].name.ptr == NULL);
	CHECK(env.addrs[IMAP_ENV_TO][1].host.ptr == NULL);
	CHECK_INTEQ(env.naddrs[IMAP_ENV_CC], 1);
	CHECK_INTEQ(env.naddrs[IMAP_ENV_BCC], 0);
	imap_search_envelope_free(&env);

	/* literals, NIL, and broken text */
	static const char lit[] = "(NIL {5}\r\na\"b\\c NIL NIL NIL NIL NIL NIL NIL \"<x@y>\")";
	REQUIRE(imap_search_envelope_parse(lit, sizeof(lit) - 1, &env) == 0);
	CHECK(env.date.ptr == NULL);
	CHECK(slice_eq_cstr(env.subject, "a\"b\\c"));
	CHECK(slice_eq_cstr(env.message_id, "<x@y>"));
	imap_search_envelope_free(&env);
	static const char *const bad[] = {
		"", "(", "()", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)", "(NIL {9}\r\nab NIL)",
		"(NIL \"x NIL NIL NIL NIL NIL NIL NIL NIL)", "(NIL NIL ((NIL NIL NIL)) NIL NIL NIL NIL NIL NIL NIL)",
		"(NIL NIL (x) NIL NIL NIL NIL NIL NIL NIL)", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)x",
		"(NIL {99999999999999999999}\r\n NIL NIL NIL NIL NIL NIL NIL NIL)",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (imap_search_envelope_parse(bad[i], strlen(bad[i]), &env) == 0)
			test_fail(__FILE__, __LINE__, bad[i]);
		imap_search_envelope_free(&env);
	}
	buf_free(&text);
}

TEST(imap_search_days)
{
	CHECK_INTEQ(imap_search_days_from_civil(1970, 1, 1), 0);
	CHECK_INTEQ(imap_search_days_from_civil(2024, 2, 1), 19754);
	CHECK_INTEQ(imap_search_days_from_civil(2000, 3, 1), 11017);
	CHECK_INTEQ(imap_search_days_from_civil(1969, 12, 31), -1);
	CHECK_INTEQ(imap_search_days_from_civil(1600, 1, 1), -135140);
}
