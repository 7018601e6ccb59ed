/* Tests for src/lib-imap/imap-parser.c: valid commands, the IMAP-1..IMAP-5
 * abuse rows of reliability-anchors.md 2.8, and every input again fed in
 * small chunks down to one byte at a time ("trickle") with the same
 * result. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-parser.h"
#include "test.h"
#include "xalloc.h"

/* ---- a transcript of what the parser reports ---- */

static void dump_bytes(buf_t *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f)
			buf_printf(out, "\\x%02x", c);
		else
			buf_append_byte(out, (char)c);
	}
}

static void dump_args(buf_t *out, const struct imap_arg *args, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		if (i > 0)
			buf_append_byte(out, ' ');
		switch (a->type) {
		case IMAP_ARG_ATOM:
			dump_bytes(out, a->str, a->len);
			break;
		case IMAP_ARG_NIL:
			buf_printf(out, "<NIL:%s>", a->str);
			break;
		case IMAP_ARG_STRING:
			buf_append_byte(out, '"');
			dump_bytes(out, a->str, a->len);
			buf_append_byte(out, '"');
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(out, "%s{%zu}", a->literal8 ? "~" : "", a->len);
			dump_bytes(out, a->str, a->len);
			break;
		case IMAP_ARG_LIST:
			buf_append_byte(out, '(');
			dump_args(out, a->list, a->list_count);
			buf_append_byte(out, ')');
			/* the list is terminated */
			if (a->list[a->list_count].type != IMAP_ARG_EOL)
				buf_append_cstr(out, "<NO-EOL>");
			break;
		case IMAP_ARG_EOL:
			buf_append_cstr(out, "<EOL>");
			break;
		}
		if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL &&
		    a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_LITERAL)
			continue;
		/* the copy is NUL-terminated */
		if (a->str[a->len] != '\0')
			buf_append_cstr(out, "<NO-NUL>");
	}
}

static const char *err_name(enum imap_parse_error e)
{
	switch (e) {
	case IMAP_PARSE_ERR_NONE: return "NONE";
	case IMAP_PARSE_ERR_SYNTAX: return "SYNTAX";
	case IMAP_PARSE_ERR_LINE_TOO_LONG: return "LINE";
	case IMAP_PARSE_ERR_TOO_DEEP: return "DEEP";
	case IMAP_PARSE_ERR_TOO_MANY_ARGS: return "ARGS";
	case IMAP_PARSE_ERR_LITERAL_TOO_BIG: return "TOOBIG";
	case IMAP_PARSE_ERR_UNFRAMED: return "UNFRAMED";
	}
	return "?";
}

struct run_result {
	buf_t log;
	size_t max_mem;
	size_t left;		/* input never consumed (after a fatal error) */
};

/*
 * Feed in[0..len) in pieces of chunk octets (0: all at once) the way a
 * server does: keep unconsumed input, append new input behind it.
 * Synchronizing literals are accepted unless too big (then refused).
 */
static void run(const struct imap_parser_limits *lim, const char *in, size_t len,
		size_t chunk, struct run_result *res)
{
	struct imap_parser *p = imap_parser_create(lim);
	buf_t pend;
	size_t pos = 0;
	bool dead = false;

	buf_init(&res->log, 0);
	res->max_mem = 0;
	buf_init(&pend, 0);
	while (!dead && (pos < len || pend.used > 0)) {
		size_t n = chunk == 0 || len - pos < chunk ? len - pos : chunk;
		buf_append(&pend, in + pos, n);
		pos += n;
		for (;;) {
			size_t consumed;
			enum imap_parse_result r =
				imap_parser_feed(p, pend.data ? pend.data : "", pend.used, &consumed);
			size_t mem = imap_parser_mem_used(p);
			if (mem > res->max_mem)
				res->max_mem = mem;
			buf_consume(&pend, consumed);
			if (r == IMAP_PARSE_NEED_MORE) {
				CHECK(pend.used == 0);
				break;
			}
			if (r == IMAP_PARSE_DONE) {
				const struct imap_command *cmd = imap_parser_command(p);
				buf_printf(&res->log, "DONE %s %s", cmd->tag, cmd->name);
				if (cmd->count > 0)
					buf_append_byte(&res->log, ' ');
				dump_args(&res->log, cmd->args, cmd->count);
				if (cmd->args[cmd->count].type != IMAP_ARG_EOL)
					buf_append_cstr(&res->log, "<NO-EOL>");
				buf_append_byte(&res->log, '\n');
				imap_parser_reset(p);
			} else if (r == IMAP_PARSE_LITERAL_WAIT) {
				bool lit8, big;
				uint64_t size = imap_parser_literal_size(p, &lit8, &big);
				buf_printf(&res->log, "WAIT %s %llu%s%s\n", imap_parser_name(p),
					   (unsigned long long)size, lit8 ? " lit8" : "",
					   big ? " big" : "");
				if (big) {
					CHECK(imap_parser_literal_accept(p) == -1);
					buf_printf(&res->log, "REFUSE %s\n", imap_parser_tag(p));
				} else {
					CHECK(imap_parser_literal_accept(p) == 0);
				}
			} else {
				enum imap_parse_error code;
				bool sync;
				const char *text = imap_parser_error(p, &code, &sync);
				const char *tag = imap_parser_tag(p);
				CHECK(text != NULL && text[0] != '\0');
				buf_printf(&res->log, "ERR %s %s %s\n", err_name(code),
					   sync ? "sync" : "nosync", tag ? tag : "*");
				if (!sync) {
					/* dead: nothing more is consumed */
					size_t c2;
					CHECK(imap_parser_feed(p, "x", 1, &c2) == IMAP_PARSE_ERROR);
					CHECK(c2 == 0);
					dead = true;
					break;
				}
				imap_parser_reset(p);
			}
		}
	}
	res->left = pend.used + (len - pos);
	buf_free(&pend);
	imap_parser_destroy(&p);
	CHECK(p == NULL);
}

/* Run whole and in chunks of 1, 2, 3 and 7: the transcripts must match
 * each other and expect. */
static void check_parse_lim(const struct imap_parser_limits *lim, const char *in, size_t len,
			    const char *expect, int line)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 7 };
	struct run_result whole;

	run(lim, in, len, 0, &whole);
	if (strcmp(buf_cstr(&whole.log), expect) != 0) {
		char m[4096];
		snprintf(m, sizeof(m), "line %d: got\n%s-- expected\n%s", line,
			 buf_cstr(&whole.log), expect);
		test_fail(__FILE__, line, m);
	}
	for (size_t i = 1; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct run_result t;
		run(lim, in, len, chunks[i], &t);
		if (strcmp(buf_cstr(&t.log), buf_cstr(&whole.log)) != 0) {
			char m[4096];
			snprintf(m, sizeof(m), "line %d chunk %zu: got\n%s-- whole gave\n%s",
				 line, chunks[i], buf_cstr(&t.log), buf_cstr(&whole.log));
			test_fail(__FILE__, line, m);
		}
		CHECK_INTEQ(t.left, whole.left);
		buf_free(&t.log);
	}
	buf_free(&whole.log);
}

#define LIM_DEFAULT IMAP_PARSER_LIMITS_DEFAULT
#define CHECK_PARSE(in, expect) do {                                            \
	struct imap_parser_limits l_ = LIM_DEFAULT;                              \
	check_parse_lim(&l_, in, sizeof(in) - 1, expect, __LINE__);              \
} while (0)
#define CHECK_PARSE_LIM(lim, in, expect) \
	check_parse_lim(lim, in, sizeof(in) - 1, expect, __LINE__)

/* ---- valid commands ---- */

TEST(imap_parser_login)
{
	CHECK_PARSE("a1 LOGIN \"user\" \"pa\\\"ss\\\\\"\r\n",
		    "DONE a1 LOGIN \"user\" \"pa\"ss\\\"\n");
	CHECK_PARSE("a2 login {4}\r\nuser {4}\r\npass\r\n",
		    "WAIT LOGIN 4\nWAIT LOGIN 4\nDONE a2 LOGIN {4}user {4}pass\n");
	CHECK_PARSE("a3 LOGIN user {3+}\r\np w\r\n",
		    "DONE a3 LOGIN user {3}p w\n");
	CHECK_PARSE("a4 LoGiN \"\" {0}\r\n\r\n",
		    "WAIT LOGIN 0\nDONE a4 LOGIN \"\" {0}\n");
}

TEST(imap_parser_simple)
{
	CHECK_PARSE("a3 select INBOX\r\n", "DONE a3 SELECT INBOX\n");
	CHECK_PARSE("x NOOP\r\n", "DONE x NOOP\n");
	/* bare LF ends a line too */
	CHECK_PARSE("x NOOP\n", "DONE x NOOP\n");
	CHECK_PARSE("x NOOP \n", "DONE x NOOP\n");
	CHECK_PARSE("x LOGIN {3}\nabc d\n", "WAIT LOGIN 3\nDONE x LOGIN {3}abc d\n");
	/* pipelining: one command per DONE */
	CHECK_PARSE("a NOOP\r\nb CAPABILITY\r\nc LOGOUT\r\n",
		    "DONE a NOOP\nDONE b CAPABILITY\nDONE c LOGOUT\n");
	/* tags may hold "]" and "[" */
	CHECK_PARSE("]t[ NOOP\r\n", "DONE ]t[ NOOP\n");
	CHECK_PARSE("a SELECT [Gmail]/Sent\r\n", "DONE a SELECT [Gmail]/Sent\n");
	CHECK_PARSE("a LIST \"\" %/*\r\n", "DONE a LIST \"\" %/*\n");
	CHECK_PARSE("a X NIL nil \"NIL\" Nil\r\n",
		    "DONE a X <NIL:NIL> <NIL:nil> \"NIL\" <NIL:Nil>\n");
	CHECK_PARSE("a X x~{\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X ~foo ~\r\n", "DONE a X ~foo ~\n");
	/* runs of SP and SP before ")" or the line end are tolerated */
	CHECK_PARSE("a FETCH 1  ( FLAGS  UID ) \r\n", "DONE a FETCH 1 (FLAGS UID)\n");
	/* 8-bit UTF-8 in quoted strings is kept */
	CHECK_PARSE("a CREATE \"caf\xc3\xa9\"\r\n", "DONE a CREATE \"caf\\xc3\\xa9\"\n");
	CHECK_PARSE("a X () ((a) (b c)) (\"\")\r\n", "DONE a X () ((a) (b c)) (\"\")\n");
	CHECK_PARSE("a ID (\"name\" \"x\" \"version\" NIL)\r\n",
		    "DONE a ID (\"name\" \"x\" \"version\" <NIL:NIL>)\n");
	CHECK_PARSE("a ID NIL\r\n", "DONE a ID <NIL:NIL>\n");
}

TEST(imap_parser_fetch_atts)
{
	CHECK_PARSE("a4 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)]<0.1024>)\r\n",
		    "DONE a4 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)]<0.1024>)\n");
	CHECK_PARSE("a UID FETCH 1,3:5 BODY[1.2.HEADER.FIELDS.NOT (\"X-A\" \"Y\\\"\")]\r\n",
		    "DONE a UID FETCH 1,3:5 BODY[1.2.HEADER.FIELDS.NOT (\"X-A\" \"Y\\\"\")]\n");
	CHECK_PARSE("a FETCH 2 (BODY[] BINARY.PEEK[1]<0.100> BODY[TEXT])\r\n",
		    "DONE a FETCH 2 (BODY[] BINARY.PEEK[1]<0.100> BODY[TEXT])\n");
	/* a bracket section does not take part in list nesting */
	CHECK_PARSE("a FETCH 1 (BODY[HEADER.FIELDS ((A))])\r\n",
		    "DONE a FETCH 1 (BODY[HEADER.FIELDS ((A))])\n");
}

TEST(imap_parser_search)
{
	CHECK_PARSE("a5 UID SEARCH NOT (OR FROM \"x\" (TO y SUBJECT {3}\r\nabc)) UNSEEN\r\n",
		    "WAIT UID 3\n"
		    "DONE a5 UID SEARCH NOT (OR FROM \"x\" (TO y SUBJECT {3}abc)) UNSEEN\n");
	CHECK_PARSE("a SEARCH CHARSET UTF-8 OR (SEEN) (NOT (DELETED)) 1:5,*\r\n",
		    "DONE a SEARCH CHARSET UTF-8 OR (SEEN) (NOT (DELETED)) 1:5,*\n");
	CHECK_PARSE("a SEARCH RETURN (SAVE) $\r\n", "DONE a SEARCH RETURN (SAVE) $\n");
}

TEST(imap_parser_append)
{
	CHECK_PARSE("a6 APPEND INBOX (\\Seen) \"21-Nov-2026 06:00:00 +0000\" {12}\r\n"
		    "Hello world!\r\n",
		    "WAIT APPEND 12\n"
		    "DONE a6 APPEND INBOX (\\Seen) \"21-Nov-2026 06:00:00 +0000\" {12}Hello world!\n");
	/* literal octets are data, even when they look like commands */
	CHECK_PARSE("a7 APPEND INBOX {16+}\r\nb NOOP\r\nc NOOP\r\n\r\nd NOOP\r\n",
		    "DONE a7 APPEND INBOX {16}b NOOP\\x0d\\x0ac NOOP\\x0d\\x0a\nDONE d NOOP\n");
	/* literal8 may carry NUL (RFC 3516) */
	CHECK_PARSE("a8 APPEND INBOX ~{3}\r\na\0b\r\n",
		    "WAIT APPEND 3 lit8\nDONE a8 APPEND INBOX ~{3}a\\x00b\n");
	CHECK_PARSE("a9 APPEND INBOX ~{3+}\r\n\0\0\0\r\n",
		    "DONE a9 APPEND INBOX ~{3}\\x00\\x00\\x00\n");
	/* MULTIAPPEND with a zero-length non-synchronizing literal */
	CHECK_PARSE("a APPEND INBOX {1+}\r\nx {0+}\r\n\r\n",
		    "DONE a APPEND INBOX {1}x {0}\n");
	/* leading zeros in a literal size are digits (1*DIGIT) */
	CHECK_PARSE("a LOGIN {00000000001}\r\nx y\r\n",
		    "WAIT LOGIN 1\nDONE a LOGIN {1}x y\n");
}

TEST(imap_parser_store)
{
	CHECK_PARSE("a STORE 1:3 +FLAGS.SILENT (\\Deleted)\r\n",
		    "DONE a STORE 1:3 +FLAGS.SILENT (\\Deleted)\n");
	CHECK_PARSE("a UID STORE 5 -FLAGS ($Forwarded \\Seen)\r\n",
		    "DONE a UID STORE 5 -FLAGS ($Forwarded \\Seen)\n");
}

TEST(imap_parser_big_append)
{
	/* megabytes up to max_literal, fed in chunks */
	size_t size = 5u << 20;
	const char *head = "a APPEND INBOX {5242880}\r\n";
	buf_t in;
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;

	buf_init(&in, 0);
	buf_append_cstr(&in, head);
	for (size_t i = 0; i < size; i++)
		buf_append_byte(&in, (char)('a' + i % 26));
	buf_append_cstr(&in, "\r\nb NOOP\r\n");

	struct imap_parser *p = imap_parser_create(&lim);
	size_t off = 0, consumed;
	enum imap_parse_result r = imap_parser_feed(p, in.data, in.used, &consumed);
	REQUIRE(r == IMAP_PARSE_LITERAL_WAIT);
	CHECK_INTEQ(consumed, strlen(head));
	off += consumed;
	REQUIRE(imap_parser_literal_accept(p) == 0);
	while (off < in.used) {
		size_t n = in.used - off < 65536 ? in.used - off : 65536;
		r = imap_parser_feed(p, in.data + off, n, &consumed);
		off += consumed;
		if (r != IMAP_PARSE_NEED_MORE)
			break;
	}
	REQUIRE(r == IMAP_PARSE_DONE);
	const struct imap_command *cmd = imap_parser_command(p);
	REQUIRE(cmd->count == 2);
	CHECK(cmd->args[1].type == IMAP_ARG_LITERAL);
	CHECK_INTEQ(cmd->args[1].len, size);
	CHECK(memcmp(cmd->args[1].str, in.data + strlen(head), size) == 0);
	/* the memory is given back when the next command starts */
	r = imap_parser_feed(p, in.data + off, in.used - off, &consumed);
	CHECK(r == IMAP_PARSE_DONE);
	CHECK(imap_parser_mem_used(p) < 20000);
	imap_parser_destroy(&p);
	buf_free(&in);
}

/* ---- IMAP-1: literal memory exhaustion before login ---- */

TEST(imap_parser_imap1_prelogin_literal)
{
	struct imap_parser_limits pre = IMAP_PARSER_LIMITS_PRELOGIN;
	struct run_result res;
	const char in[] = "a1 LOGIN {400000000}\r\na2 NOOP\r\n";

	CHECK_PARSE_LIM(&pre, "a1 LOGIN {400000000}\r\na2 NOOP\r\n",
			"WAIT LOGIN 400000000 big\nREFUSE a1\nDONE a2 NOOP\n");
	/* nothing proportional to the claimed size was allocated */
	run(&pre, in, sizeof(in) - 1, 1, &res);
	CHECK(res.max_mem < 2048);
	buf_free(&res.log);

	/* the server may refuse a literal that fits, too (e.g. before login) */
	struct imap_parser *p = imap_parser_create(&pre);
	size_t consumed;
	bool big;
	CHECK(imap_parser_feed(p, "t LOGIN {10}\r\nt2 NOOP\r\n", 23, &consumed) ==
	      IMAP_PARSE_LITERAL_WAIT);
	CHECK_INTEQ(consumed, 14);
	CHECK_INTEQ(imap_parser_literal_size(p, NULL, &big), 10);
	CHECK(!big);
	/* until decided, feed consumes nothing */
	size_t c2;
	CHECK(imap_parser_feed(p, "t2", 2, &c2) == IMAP_PARSE_LITERAL_WAIT);
	CHECK_INTEQ(c2, 0);
	imap_parser_literal_refuse(p);
	CHECK_STREQ(imap_parser_tag(p), "t");
	CHECK_STREQ(imap_parser_name(p), "LOGIN");
	CHECK(imap_parser_feed(p, "t2 NOOP\r\n", 9, &consumed) == IMAP_PARSE_DONE);
	CHECK_STREQ(imap_parser_command(p)->tag, "t2");
	imap_parser_destroy(&p);

	/* a client that sends the literal anyway has its octets parsed as
	 * commands, as RFC 9051 7.5 implies; they are then syntax errors */
	CHECK_PARSE_LIM(&pre, "a1 LOGIN {400000000}\r\nxxx\r\n",
			"WAIT LOGIN 400000000 big\nREFUSE a1\nERR SYNTAX sync xxx\n");
}

/* ---- IMAP-2: bogus literal sizes ---- */

TEST(imap_parser_imap2_literal_numbers)
{
	/* too big for max_literal (clamped to 2^32-1): refused, in sync */
	CHECK_PARSE("a LOGIN {4294967296}\r\nb NOOP\r\n",
		    "WAIT LOGIN 4294967296 big\nREFUSE a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {9223372036854775807}\r\nb NOOP\r\n",
		    "WAIT LOGIN 9223372036854775807 big\nREFUSE a\nDONE b NOOP\n");
	/* over number64: BAD; a synchronizing one is in sync */
	CHECK_PARSE("a LOGIN {9223372036854775808}\r\nb NOOP\r\n",
		    "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {99999999999999999999}\r\nb NOOP\r\n",
		    "ERR SYNTAX sync a\nDONE b NOOP\n");
	/* ... a non-synchronizing one cannot be skipped: close */
	CHECK_PARSE("a LOGIN {99999999999999999999+}\r\nb NOOP\r\n",
		    "ERR UNFRAMED nosync a\n");
	CHECK_PARSE("a LOGIN {-1}\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {}\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {+}\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {1 }\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {0x10}\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {5}x\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {5+\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {5}\rb NOOP\r\n", "ERR SYNTAX sync a\n");
	CHECK_PARSE("a LOGIN {00000000001}\r\nx \"y\"\r\n",
		    "WAIT LOGIN 1\nDONE a LOGIN {1}x \"y\"\n");
	CHECK_PARSE("a LOGIN ~{x}\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
}

/* ---- IMAP-3: non-synchronizing literal too large ---- */

static void make_literal_minus_input(buf_t *in, size_t n, const char *before,
				     const char *after)
{
	buf_init(in, 0);
	buf_printf(in, "%s{%zu+}\r\n", before, n);
	/* the literal looks like commands; none may be parsed */
	for (size_t i = 0; i < n; i++)
		buf_append_byte(in, "x NOOP\r\n"[i % 8]);
	buf_append_cstr(in, after);
}

TEST(imap_parser_imap3_literal_minus)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;
	buf_t in;

	lim.literal_plus = false;	/* LITERAL- */
	make_literal_minus_input(&in, 5000, "a APPEND INBOX ", "\r\nc NOOP\r\n");
	check_parse_lim(&lim, in.data, in.used, "ERR TOOBIG sync a\nDONE c NOOP\n", __LINE__);
	buf_free(&in);

	/* 4096 is still fine with LITERAL- */
	make_literal_minus_input(&in, 4096, "a APPEND INBOX ", "\r\nc NOOP\r\n");
	struct run_result res;
	run(&lim, in.data, in.used, 0, &res);
	CHECK(strncmp(buf_cstr(&res.log), "DONE a APPEND INBOX {4096}", 26) == 0);
	CHECK(strstr(buf_cstr(&res.log), "\nDONE c NOOP\n") != NULL);
	buf_free(&res.log);
	buf_free(&in);

	/* the rest of the failed command is skipped, later literals included */
	make_literal_minus_input(&in, 5000, "a APPEND INBOX ",
				 " (\\Seen) {8+}\r\nz NOOP\r\n {3}\r\nc NOOP\r\n");
	check_parse_lim(&lim, in.data, in.used,
			"ERR TOOBIG sync a\nDONE c NOOP\n", __LINE__);
	buf_free(&in);

	/* with LITERAL+ the limit is max_literal */
	lim.literal_plus = true;
	lim.max_literal = 4999;
	make_literal_minus_input(&in, 5000, "a APPEND INBOX ", "\r\nc NOOP\r\n");
	check_parse_lim(&lim, in.data, in.used, "ERR TOOBIG sync a\nDONE c NOOP\n", __LINE__);
	buf_free(&in);

	/* max_literal_total over several literals (MULTIAPPEND) */
	lim.max_literal = 10;
	lim.max_literal_total = 15;
	CHECK_PARSE_LIM(&lim, "a APPEND A {10+}\r\n0123456789 B {6+}\r\nx NOOP\r\nc NOOP\r\n",
			"ERR TOOBIG sync a\nDONE c NOOP\n");
	CHECK_PARSE_LIM(&lim, "a APPEND A {10+}\r\n0123456789 B {6}\r\nc NOOP\r\n",
			"WAIT APPEND 6 big\nREFUSE a\nDONE c NOOP\n");
	CHECK_PARSE_LIM(&lim, "a APPEND A {10+}\r\n0123456789 B {5+}\r\n01234\r\n",
			"DONE a APPEND A {10}0123456789 B {5}01234\n");
}

/* ---- IMAP-4: parenthesis nesting ---- */

TEST(imap_parser_imap4_nesting)
{
	struct imap_parser_limits def = IMAP_PARSER_LIMITS_DEFAULT;
	struct imap_parser_limits pre = IMAP_PARSER_LIMITS_PRELOGIN;
	const char *cmds[] = { "a ID ", "a SEARCH " };
	buf_t in;

	for (size_t k = 0; k < 2; k++) {
		buf_init(&in, 0);
		buf_append_cstr(&in, cmds[k]);
		for (size_t i = 0; i < 100000; i++)
			buf_append_byte(&in, '(');
		buf_append_cstr(&in, "\r\nb NOOP\r\n");
		check_parse_lim(&def, in.data, in.used, "ERR DEEP sync a\nDONE b NOOP\n",
				__LINE__);
		check_parse_lim(&pre, in.data, in.used, "ERR DEEP sync a\nDONE b NOOP\n",
				__LINE__);
		struct run_result res;
		run(&def, in.data, in.used, 1, &res);
		CHECK(res.max_mem < 16384);
		buf_free(&res.log);
		buf_free(&in);
	}
	/* exactly max_depth levels are fine */
	pre.max_depth = 3;
	CHECK_PARSE_LIM(&pre, "a X (((a)))\r\n", "DONE a X (((a)))\n");
	CHECK_PARSE_LIM(&pre, "a X ((((a))))\r\nb NOOP\r\n", "ERR DEEP sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&pre, "a FETCH 1 BODY[X (((a)))]\r\n", "DONE a FETCH 1 BODY[X (((a)))]\n");
	CHECK_PARSE_LIM(&pre, "a FETCH 1 BODY[X ((((a))))]\r\nb NOOP\r\n",
			"ERR DEEP sync a\nDONE b NOOP\n");
}

/* ---- IMAP-5: NUL in quoted strings ---- */

TEST(imap_parser_imap5_nul)
{
	CHECK_PARSE("a LOGIN \"us\0er\" \"p\"\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN \"us\\\0er\" \"p\"\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN us\0er p\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a\0 NOOP\r\nb NOOP\r\n", "ERR SYNTAX sync *\nDONE b NOOP\n");
	/* NUL in a plain literal (RFC 9051 CHAR8): the rest of the literal
	 * and of the line are skipped */
	CHECK_PARSE("a LOGIN {5}\r\nu\0\r\nx \"p\"\r\nb NOOP\r\n",
		    "WAIT LOGIN 5\nERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a LOGIN {5+}\r\nu\0\r\nx {3+}\r\nc\r\n \"p\"\r\nb NOOP\r\n",
		    "ERR SYNTAX sync a\nDONE b NOOP\n");
}

/* ---- other errors, each followed by a good command ---- */

TEST(imap_parser_errors)
{
	CHECK_PARSE("\r\nb NOOP\r\n", "ERR SYNTAX sync *\nDONE b NOOP\n");
	CHECK_PARSE("\nb NOOP\r\n", "ERR SYNTAX sync *\nDONE b NOOP\n");
	CHECK_PARSE("+ NOOP\r\nb NOOP\r\n", "ERR SYNTAX sync *\nDONE b NOOP\n");
	CHECK_PARSE("* NOOP\r\nb NOOP\r\n", "ERR SYNTAX sync *\nDONE b NOOP\n");
	CHECK_PARSE("a+ NOOP\r\nb NOOP\r\n", "ERR SYNTAX sync *\nDONE b NOOP\n");
	CHECK_PARSE("a\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a \r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a  NOOP\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a NO\"OP\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	/* CR without LF */
	CHECK_PARSE("a NOOP\rb NOOP\r\nc NOOP\r\n", "ERR SYNTAX sync a\nDONE c NOOP\n");
	CHECK_PARSE("a X y\rz\r\nc NOOP\r\n", "ERR SYNTAX sync a\nDONE c NOOP\n");
	/* lists */
	CHECK_PARSE("a FETCH 1 (FLAGS\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X )\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X (a))\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X a(b)\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X (a)b\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	/* quoted strings */
	CHECK_PARSE("a X \"a\"\"b\"\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X \"a\\d\"\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X \"abc\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X \"abc\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	/* atoms: no 8-bit, no "{" inside */
	CHECK_PARSE("a CREATE caf\xc3\xa9\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X ab{3}\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X \x01\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	/* brackets */
	CHECK_PARSE("a FETCH 1 BODY[TEXT\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[HEADER.FIELDS (A B]\r\nb NOOP\r\n",
		    "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[A)]\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[A[1]]\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[{3}\r\nxyz]\r\nb NOOP\r\n",
		    "ERR SYNTAX sync a\nERR SYNTAX sync xyz]\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[\"a\rb\"]\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[\"a\\b\"]\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a FETCH 1 BODY[\"\xc3\xa9\"]\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	/* a failed line ending in {n+} has its literal skipped */
	CHECK_PARSE("a X ) {6+}\r\nx NOOP\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X ) ~{6+}\r\nx NOOP\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	/* ... but a synchronizing one is never sent */
	CHECK_PARSE("a X ) {6}\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X ) {+}\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X ) {}\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X ) {5+}x\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X ) {5+}\r\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	CHECK_PARSE("a X ) {5+}\nx NOOP\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	/* after a {0+} the command goes on: "b NOOP" is still command a */
	CHECK_PARSE("a X ) {0+}\r\nb NOOP\r\n", "ERR SYNTAX sync a\n");
	CHECK_PARSE("a X ) {0+}\r\n\r\nb NOOP\r\n", "ERR SYNTAX sync a\nDONE b NOOP\n");
	/* ... and an unreadable size while skipping loses the framing */
	CHECK_PARSE("a X ) {99999999999999999999+}\r\nb NOOP\r\n",
		    "ERR SYNTAX sync a\nERR UNFRAMED nosync *\n");
}

TEST(imap_parser_line_too_long)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_PRELOGIN;
	buf_t in;

	buf_init(&in, 0);
	buf_append_cstr(&in, "a LOGIN ");
	for (size_t i = 0; i < 9000; i++)
		buf_append_byte(&in, 'x');
	buf_append_cstr(&in, " y\r\nb NOOP\r\n");
	check_parse_lim(&lim, in.data, in.used, "ERR LINE sync a\nDONE b NOOP\n", __LINE__);
	struct run_result res;
	run(&lim, in.data, in.used, 1, &res);
	CHECK(res.max_mem < 3 * 8192);
	buf_free(&res.log);
	buf_free(&in);

	/* max_line counts the octets of all lines of a command, CRLF
	 * included, but not literal data */
	lim.max_line = 20;
	CHECK_PARSE_LIM(&lim, "a LOGIN {3+}\r\nabc x\r\n", "DONE a LOGIN {3}abc x\n");
	CHECK_PARSE_LIM(&lim, "a LOGIN {3+}\r\nabc xxx\r\n", "DONE a LOGIN {3}abc xxx\n");
	CHECK_PARSE_LIM(&lim, "a LOGIN {3+}\r\nabc xxxx\r\nb NOOP\r\n",
			"ERR LINE sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a LOGIN {30+}\r\n012345678901234567890123456789 x\r\n",
			"DONE a LOGIN {30}012345678901234567890123456789 x\n");
	/* the limit hits inside a literal announcement: it is still skipped */
	lim.max_line = 10;
	CHECK_PARSE_LIM(&lim, "a X yy {5+}\r\nx NOOP\r\nb NOOP\r\n",
			"ERR LINE sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X yyy {5+}\r\nx NOOP\r\nb NOOP\r\n",
			"ERR LINE sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X yyyy {5+}\r\nx NOOP\r\nb NOOP\r\n",
			"ERR LINE sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X y {5+}\r\nx NOOP\r\nb NOOP\r\n",
			"ERR LINE sync a\nDONE b NOOP\n");
	lim.max_line = 9;	/* over at the LF after "}" CR */
	CHECK_PARSE_LIM(&lim, "a X {5+}\r\nx NOOP\r\nb NOOP\r\n",
			"ERR LINE sync a\nDONE b NOOP\n");
	lim.max_line = 10;
	CHECK_PARSE_LIM(&lim, "a X yyy {99999999999999999999+}\r\nb NOOP\r\n",
			"ERR LINE sync a\nERR UNFRAMED nosync *\n");
}

TEST(imap_parser_too_many_args)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_PRELOGIN;

	lim.max_args = 3;
	CHECK_PARSE_LIM(&lim, "a X a (b)\r\n", "DONE a X a (b)\n");
	CHECK_PARSE_LIM(&lim, "a X a (b c)\r\nb NOOP\r\n", "ERR ARGS sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X a b \"c\" d\r\nb NOOP\r\n", "ERR ARGS sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X a b c {1}\r\nb NOOP\r\n", "ERR ARGS sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X a b c {6+}\r\nx NOOP\r\nb NOOP\r\n",
			"ERR ARGS sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X a b c ~x\r\nb NOOP\r\n", "ERR ARGS sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X a b c \"d\"\r\nb NOOP\r\n", "ERR ARGS sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X a b c ~{1}\r\nb NOOP\r\n", "ERR ARGS sync a\nDONE b NOOP\n");
	CHECK_PARSE_LIM(&lim, "a X a b c (\r\nb NOOP\r\n", "ERR ARGS sync a\nDONE b NOOP\n");
}

TEST(imap_parser_typed_access)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;
	struct imap_parser *p = imap_parser_create(&lim);
	const char in[] = "t X NIL abc \"q s\" {2+}\r\nl\0 ~{2+}\r\nb\0 (x) %a* \\Seen foo]\r\n";
	size_t consumed;
	const char *s;
	size_t len, n;
	const struct imap_arg *list;

	/* "l\0" is a NUL in a plain literal: use a clean one */
	CHECK(imap_parser_feed(p, in, sizeof(in) - 1, &consumed) == IMAP_PARSE_ERROR);
	imap_parser_destroy(&p);

	const char in2[] = "t X NIL abc \"q s\" {2+}\r\nlt ~{2+}\r\nb\0 (x) %a* \\Seen foo]\r\n";
	p = imap_parser_create(&lim);
	REQUIRE(imap_parser_feed(p, in2, sizeof(in2) - 1, &consumed) == IMAP_PARSE_DONE);
	CHECK_INTEQ(consumed, sizeof(in2) - 1);
	const struct imap_command *cmd = imap_parser_command(p);
	REQUIRE(cmd->count == 9);
	const struct imap_arg *a = cmd->args;

	CHECK(imap_arg_get_astring(&a[0], &s, &len) && strcmp(s, "NIL") == 0);
	CHECK(imap_arg_get_nstring(&a[0], &s, &len) && s == NULL && len == 0);
	CHECK(!imap_arg_get_string(&a[0], &s, &len));
	CHECK(imap_arg_atom_equals(&a[0], "nil"));
	CHECK(!imap_arg_get_atom(&a[0], &s));

	CHECK(imap_arg_get_atom(&a[1], &s) && strcmp(s, "abc") == 0);
	CHECK(imap_arg_atom_equals(&a[1], "ABC"));
	CHECK(imap_arg_get_astring(&a[1], &s, &len) && len == 3);
	CHECK(!imap_arg_get_nstring(&a[1], &s, &len));
	CHECK(!imap_arg_get_list(&a[1], &list, &n));

	CHECK(imap_arg_get_string(&a[2], &s, &len) && strcmp(s, "q s") == 0 && len == 3);
	CHECK(imap_arg_get_astring(&a[2], &s, &len));
	CHECK(!imap_arg_atom_equals(&a[2], "q s"));

	CHECK(imap_arg_get_nstring(&a[3], &s, &len) && len == 2 && memcmp(s, "lt", 2) == 0);

	/* literal8 is not a string */
	CHECK(a[4].literal8 && a[4].len == 2);
	CHECK(!imap_arg_get_string(&a[4], &s, &len));
	CHECK(!imap_arg_get_astring(&a[4], &s, &len));

	CHECK(imap_arg_get_list(&a[5], &list, &n) && n == 1 && list[1].type == IMAP_ARG_EOL);
	CHECK(!imap_arg_get_astring(&a[5], &s, &len));

	/* wildcards: list-mailbox yes, astring no */
	CHECK(!imap_arg_get_astring(&a[6], &s, &len));
	CHECK(imap_arg_get_list_mailbox(&a[6], &s, &len) && strcmp(s, "%a*") == 0);
	/* flags are atoms but not astrings */
	CHECK(imap_arg_get_atom(&a[7], &s) && strcmp(s, "\\Seen") == 0);
	CHECK(!imap_arg_get_astring(&a[7], &s, &len));
	/* "]" is an ASTRING-CHAR */
	CHECK(imap_arg_get_astring(&a[8], &s, &len) && strcmp(s, "foo]") == 0);
	CHECK(a[9].type == IMAP_ARG_EOL);
	imap_parser_destroy(&p);
}

TEST(imap_parser_set_limits_after_login)
{
	struct imap_parser_limits pre = IMAP_PARSER_LIMITS_PRELOGIN;
	struct imap_parser_limits def = IMAP_PARSER_LIMITS_DEFAULT;
	struct imap_parser *p = imap_parser_create(&pre);
	size_t consumed;
	bool big;

	CHECK(imap_parser_feed(p, "a APPEND x {100000}\r\n", 21, &consumed) ==
	      IMAP_PARSE_LITERAL_WAIT);
	imap_parser_literal_size(p, NULL, &big);
	CHECK(big);
	imap_parser_literal_refuse(p);
	imap_parser_set_limits(p, &def);
	CHECK(imap_parser_feed(p, "a APPEND x {100000}\r\n", 21, &consumed) ==
	      IMAP_PARSE_LITERAL_WAIT);
	imap_parser_literal_size(p, NULL, &big);
	CHECK(!big);
	CHECK(imap_parser_literal_accept(p) == 0);
	imap_parser_destroy(&p);
	imap_parser_destroy(&p);	/* NULL-safe */
}

/* ---- raw lines (IDLE DONE, AUTHENTICATE) ---- */

static void read_lines(const char *in, size_t len, size_t chunk, size_t max, buf_t *log)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_PRELOGIN;
	struct imap_parser *p;
	buf_t pend;
	size_t pos = 0;

	lim.max_line = max;
	p = imap_parser_create(&lim);
	buf_init(log, 0);
	buf_init(&pend, 0);
	while (pos < len) {
		size_t n = chunk == 0 || len - pos < chunk ? len - pos : chunk;
		buf_append(&pend, in + pos, n);
		pos += n;
		for (;;) {
			const char *line;
			size_t line_len, consumed;
			enum imap_parse_result r;
			r = imap_parser_read_line(p, pend.data, pend.used, &line, &line_len,
						  &consumed);
			buf_consume(&pend, consumed);
			if (r == IMAP_PARSE_NEED_MORE)
				break;
			if (r == IMAP_PARSE_DONE) {
				CHECK(line[line_len] == '\0');
				buf_append_cstr(log, "L:");
				dump_bytes(log, line, line_len);
				buf_append_byte(log, '\n');
			} else {
				enum imap_parse_error code;
				bool sync;
				imap_parser_error(p, &code, &sync);
				buf_printf(log, "ERR %s%s\n", err_name(code), sync ? "" : " nosync");
				if (!sync) {
					pos = len;
					break;
				}
			}
		}
	}
	/* what is left is parsed as commands */
	size_t consumed;
	if (pend.used > 0 &&
	    imap_parser_feed(p, pend.data, pend.used, &consumed) == IMAP_PARSE_DONE)
		buf_printf(log, "DONE %s\n", imap_parser_command(p)->tag);
	buf_free(&pend);
	imap_parser_destroy(&p);
}

static void check_lines(const char *in, size_t len, size_t max, const char *expect, int line)
{
	for (size_t chunk = 0; chunk < 4; chunk++) {
		buf_t log;
		read_lines(in, len, chunk, max, &log);
		if (strcmp(buf_cstr(&log), expect) != 0) {
			char m[1024];
			snprintf(m, sizeof(m), "chunk %zu: got\n%s-- expected\n%s", chunk,
				 buf_cstr(&log), expect);
			test_fail(__FILE__, line, m);
		}
		buf_free(&log);
	}
}

#define CHECK_LINES(in, max, expect) check_lines(in, sizeof(in) - 1, max, expect, __LINE__)

TEST(imap_parser_read_line)
{
	CHECK_LINES("DONE\r\n", 100, "L:DONE\n");
	CHECK_LINES("DONE\n", 100, "L:DONE\n");
	CHECK_LINES("dXNlcgBwYXNz\r\n*\r\n\r\n", 100, "L:dXNlcgBwYXNz\nL:*\nL:\n");
	CHECK_LINES("ab\rc\r\nok\r\n", 100, "ERR SYNTAX\nL:ok\n");
	CHECK_LINES("0123456789\r\nok\r\n", 10, "L:0123456789\nL:ok\n");
	CHECK_LINES("0123456789x\r\nok\r\n", 10, "ERR LINE\nL:ok\n");
	/* a bad line is skipped to its end even when commands follow */
	CHECK_LINES("0123456789xyz", 10, "ERR LINE\n");
	CHECK_LINES("DONE\r\na NOOP\r\n", 100, "L:DONE\nL:a NOOP\n");
	/* a skipped line that announces {n+} has those octets skipped too */
	CHECK_LINES("0123456789x {4+}\r\nabcd\r\nok\r\n", 10, "ERR LINE\nL:ok\n");
	CHECK_LINES("0123456789x {99999999999999999999+}\r\nok\r\n", 10,
		    "ERR LINE\nERR UNFRAMED nosync\n");
}

TEST(imap_parser_read_line_then_command)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_PRELOGIN;
	struct imap_parser *p = imap_parser_create(&lim);
	const char in[] = "a IDLE\r\nDONE\r\nb NOOP\r\n";
	const char *line;
	size_t line_len, consumed, off = 0;

	REQUIRE(imap_parser_feed(p, in, sizeof(in) - 1, &consumed) == IMAP_PARSE_DONE);
	CHECK_STREQ(imap_parser_command(p)->name, "IDLE");
	off += consumed;
	REQUIRE(imap_parser_read_line(p, in + off, sizeof(in) - 1 - off, &line, &line_len,
				      &consumed) == IMAP_PARSE_DONE);
	CHECK_STREQ(line, "DONE");
	off += consumed;
	REQUIRE(imap_parser_feed(p, in + off, sizeof(in) - 1 - off, &consumed) ==
		IMAP_PARSE_DONE);
	CHECK_STREQ(imap_parser_command(p)->tag, "b");
	CHECK_INTEQ(off + consumed, sizeof(in) - 1);

	/* an over-long raw line is skipped before the next command */
	lim.max_line = 8;
	imap_parser_set_limits(p, &lim);
	const char in2[] = "0123456789abcdef\r\nc NOOP\r\n";
	off = 0;
	CHECK(imap_parser_read_line(p, in2, 10, &line, &line_len, &consumed) ==
	      IMAP_PARSE_ERROR);
	off += consumed;
	CHECK(imap_parser_feed(p, in2 + off, sizeof(in2) - 1 - off, &consumed) ==
	      IMAP_PARSE_DONE);
	CHECK_STREQ(imap_parser_command(p)->tag, "c");
	imap_parser_destroy(&p);
}

TEST(imap_parser_command_lifetime)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;
	struct imap_parser *p = imap_parser_create(&lim);
	size_t consumed;

	/* only the first of two pipelined commands is consumed */
	CHECK(imap_parser_feed(p, "a NOOP\r\nb NOOP\r\n", 16, &consumed) == IMAP_PARSE_DONE);
	CHECK_INTEQ(consumed, 8);
	CHECK_STREQ(imap_parser_tag(p), "a");
	imap_parser_reset(p);
	CHECK(imap_parser_tag(p) == NULL);
	imap_parser_reset(p);	/* twice is fine */
	/* feed without reset releases too */
	CHECK(imap_parser_feed(p, "b NOOP\r\n", 8, &consumed) == IMAP_PARSE_DONE);
	CHECK(imap_parser_feed(p, "c NO", 4, &consumed) == IMAP_PARSE_NEED_MORE);
	CHECK_STREQ(imap_parser_tag(p), "c");
	CHECK(imap_parser_name(p) == NULL);
	CHECK(imap_parser_feed(p, "OP", 2, &consumed) == IMAP_PARSE_NEED_MORE);
	CHECK(imap_parser_feed(p, "\r", 1, &consumed) == IMAP_PARSE_NEED_MORE);
	CHECK_STREQ(imap_parser_name(p), "NOOP");
	CHECK(imap_parser_feed(p, "\n", 1, &consumed) == IMAP_PARSE_DONE);
	CHECK(imap_parser_feed(p, "", 0, &consumed) == IMAP_PARSE_NEED_MORE);
	imap_parser_destroy(&p);
}
