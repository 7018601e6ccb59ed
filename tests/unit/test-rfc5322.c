/* Unit tests for rfc5322.c: header fields, address lists, dates. */
#include <stdlib.h>
#include <string.h>

#include "rfc5322.h"
#include "test.h"
#include "xalloc.h"

static char *field_str(const struct rfc5322_header *h, size_t i, bool value)
{
	slice_t s = value ? rfc5322_field_value(h, &h->fields[i]) :
		rfc5322_field_name(h, &h->fields[i]);
	return slice_dup(s);
}

#define CHECK_FIELD(h, i, name, value) do {                    \
	char *n_ = field_str(h, i, false), *v_ = field_str(h, i, true); \
	CHECK_STREQ(n_, name);                                  \
	CHECK_STREQ(v_, value);                                 \
	free(n_);                                               \
	free(v_);                                               \
} while (0)

TEST(rfc5322_header_basic)
{
	static const char msg[] =
		"From: a@b\r\n"
		"Subject: hello\r\n"
		"\tworld\r\n"
		"X-Empty:\r\n"
		"Obs-Name  : v\r\n"
		"\r\n"
		"body\r\n";
	struct rfc5322_header h;

	rfc5322_header_parse_all(&h, msg, sizeof(msg) - 1, NULL);
	CHECK_INTEQ(h.count, 4);
	CHECK(h.blank_line);
	CHECK_INTEQ(h.size, sizeof(msg) - 1 - 6);
	CHECK_INTEQ(h.bare_lf, 0);
	CHECK_INTEQ(h.lf_count, 6);
	CHECK_FIELD(&h, 0, "From", " a@b");
	CHECK_FIELD(&h, 1, "Subject", " hello\r\n\tworld");
	CHECK_FIELD(&h, 2, "X-Empty", "");
	CHECK_FIELD(&h, 3, "Obs-Name", " v");
	CHECK_INTEQ(rfc5322_header_find(&h, "subject", 0), 1);
	CHECK_INTEQ(rfc5322_header_find(&h, "from", 1), SIZE_MAX);
	CHECK_INTEQ(h.fields[1].start, 11);
	CHECK_INTEQ(h.fields[1].end, 11 + 24);
	rfc5322_header_deinit(&h);
}

TEST(rfc5322_header_lf_and_sizes)
{
	static const char lf[] = "A: 1\nB: 2\n folded\n\nbody\n";
	static const char crlf[] = "A: 1\r\nB: 2\r\n folded\r\n\r\nbody\r\n";
	struct rfc5322_header h1, h2;

	rfc5322_header_parse_all(&h1, lf, sizeof(lf) - 1, NULL);
	rfc5322_header_parse_all(&h2, crlf, sizeof(crlf) - 1, NULL);
	CHECK_INTEQ(h1.count, 2);
	CHECK_INTEQ(h1.size + h1.bare_lf, h2.size);
	CHECK_INTEQ(h1.lf_count, h2.lf_count);
	CHECK_INTEQ(h1.bare_lf, 4);
	CHECK_INTEQ(h2.bare_lf, 0);
	CHECK_FIELD(&h1, 1, "B", " 2\n folded");
	rfc5322_header_deinit(&h1);
	rfc5322_header_deinit(&h2);
}

TEST(rfc5322_header_garbage)
{
	/* UTF8-5: NUL in a name and a value; a line without colon; 8-bit */
	static const char msg[] = "X-A\0B: v\0w\nno colon here\n\xff\xfe: 8bit\n\nbody";
	struct rfc5322_header h;
	slice_t n;

	rfc5322_header_parse_all(&h, msg, sizeof(msg) - 1, NULL);
	REQUIRE(h.count == 3);
	n = rfc5322_field_name(&h, &h.fields[0]);
	CHECK(n.len == 5 && memcmp(n.ptr, "X-A\0B", 5) == 0);
	n = rfc5322_field_value(&h, &h.fields[0]);
	CHECK(n.len == 4 && memcmp(n.ptr, " v\0w", 4) == 0);
	CHECK(h.fields[1].flags & RFC5322_FIELD_NO_COLON);
	CHECK_FIELD(&h, 1, "no colon here", "");
	CHECK_INTEQ(rfc5322_header_find(&h, "no colon here", 0), SIZE_MAX);
	CHECK_FIELD(&h, 2, "\xff\xfe", " 8bit");
	CHECK(h.blank_line);
	CHECK_STREQ(msg + h.size, "body");
	rfc5322_header_deinit(&h);
}

TEST(rfc5322_header_no_body)
{
	struct rfc5322_header h;

	rfc5322_header_parse_all(&h, "A: b\nC: d", 9, NULL);
	CHECK_INTEQ(h.count, 2);
	CHECK(!h.blank_line);
	CHECK_INTEQ(h.size, 9);
	CHECK_FIELD(&h, 1, "C", " d");
	rfc5322_header_deinit(&h);

	rfc5322_header_parse_all(&h, "", 0, NULL);
	CHECK_INTEQ(h.count, 0);
	CHECK_INTEQ(h.size, 0);
	rfc5322_header_deinit(&h);

	rfc5322_header_parse_all(&h, "\nbody", 5, NULL);
	CHECK_INTEQ(h.count, 0);
	CHECK_INTEQ(h.size, 1);
	CHECK(h.blank_line);
	rfc5322_header_deinit(&h);
}

static bool stop_on_b(void *ctx, slice_t line)
{
	(void)ctx;
	return slice_eq_cstr(line, "--b");
}

TEST(rfc5322_header_stop)
{
	static const char msg[] = "A: 1\n--x\n--b\nbody";
	struct rfc5322_header h;

	rfc5322_header_init(&h, NULL);
	rfc5322_header_set_stop(&h, stop_on_b, NULL);
	CHECK_INTEQ(rfc5322_header_parse(&h, msg, sizeof(msg) - 1, true), 1);
	CHECK_INTEQ(h.count, 2);	/* "--x" is a garbage field */
	CHECK_INTEQ(h.size, 9);
	CHECK(!h.blank_line);
	rfc5322_header_deinit(&h);
}

TEST(rfc5322_header_trickle)
{
	static const char msg[] =
		"From: a@b\r\nSubject: x\r\n y\n z\r\nNo colon\nX-\0: \xff\r\n\r\nbody";
	size_t len = sizeof(msg) - 1;
	struct rfc5322_header whole, t;

	rfc5322_header_parse_all(&whole, msg, len, NULL);
	rfc5322_header_init(&t, NULL);
	for (size_t n = 0; n <= len; n++) {
		/* a fresh copy each time: only offsets may be kept */
		char *copy = xmalloc(n + 1);
		int r;
		memcpy(copy, msg, n);
		r = rfc5322_header_parse(&t, copy, n, n == len);
		if (r == 1) {
			CHECK_INTEQ(t.size, whole.size);
			free(copy);
			break;
		}
		CHECK(n < len);
		free(copy);
	}
	CHECK_INTEQ(t.count, whole.count);
	CHECK_INTEQ(t.size, whole.size);
	CHECK_INTEQ(t.lf_count, whole.lf_count);
	CHECK_INTEQ(t.bare_lf, whole.bare_lf);
	for (size_t i = 0; i < t.count && i < whole.count; i++) {
		CHECK_INTEQ(t.fields[i].start, whole.fields[i].start);
		CHECK_INTEQ(t.fields[i].end, whole.fields[i].end);
		CHECK_INTEQ(t.fields[i].name_len, whole.fields[i].name_len);
		CHECK_INTEQ(t.fields[i].value_len, whole.fields[i].value_len);
		CHECK_INTEQ(t.fields[i].flags, whole.fields[i].flags);
	}
	rfc5322_header_deinit(&t);
	rfc5322_header_deinit(&whole);
}

TEST(rfc5322_header_limits)
{
	/* MIME-4: a 20 MB field and 1,000,000 continuation lines */
	size_t n = 20 * 1024 * 1024, i;
	char *big = xmalloc(n + 64);
	struct rfc5322_header h;
	struct rfc5322_limits lim = { .max_fields = 3 };

	memcpy(big, "Subject: ", 9);
	memset(big + 9, 'a', n);
	for (i = 9 + 1000; i + 2 < n && (i - 1009) / 3 < 1000000; i += 3)
		memcpy(big + i, "\n b", 3);
	memcpy(big + 9 + n, "\nA: 1\nB: 2\nC: 3\nD: 4\n\nbody", 26);
	/* default limits: fields starting past 10 MB are not recorded */
	rfc5322_header_parse_all(&h, big, 9 + n + 26, NULL);
	CHECK_INTEQ(h.count, 1);
	CHECK(h.truncated);
	CHECK_INTEQ(h.size, 9 + n + 22);
	rfc5322_header_deinit(&h);

	lim.max_header_size = 64 * 1024 * 1024;
	rfc5322_header_parse_all(&h, big, 9 + n + 26, &lim);
	CHECK_INTEQ(h.count, 3);
	CHECK(h.truncated);
	CHECK(h.fields[0].flags & RFC5322_FIELD_CLIPPED);
	CHECK_INTEQ(h.fields[0].value_len, RFC5322_DEFAULT_MAX_VALUE_LEN);
	CHECK_INTEQ(h.fields[0].end - h.fields[0].start, 9 + n + 1);
	CHECK(h.blank_line);
	CHECK(memcmp(big + h.size, "body", 4) == 0);
	rfc5322_header_deinit(&h);
	free(big);
}

TEST(rfc5322_unfold)
{
	buf_t b;

	buf_init(&b, 0);
	CHECK_INTEQ(rfc5322_unfold(SLICE_LIT("  a  b\r\n\tc  "), false, &b), 0);
	CHECK_STREQ(buf_cstr(&b), "a  b\tc  ");
	buf_reset(&b);
	CHECK_INTEQ(rfc5322_unfold(SLICE_LIT("  a  b\r\n\tc  "), true, &b), 0);
	CHECK_STREQ(buf_cstr(&b), "a b c");
	buf_free(&b);
}

/* Render a list as "name|route|mailbox|domain;" with "-" for absent. */
static char *addr_dump(const struct rfc5322_address_list *l)
{
	buf_t b;

	buf_init(&b, 0);
	for (size_t i = 0; i < l->count; i++) {
		const struct rfc5322_address *a = &l->addrs[i];
		const slice_t *parts[4] = { &a->name, &a->route, &a->mailbox, &a->domain };
		if (a->kind == RFC5322_ADDR_GROUP_START)
			buf_append_cstr(&b, "G:");
		else if (a->kind == RFC5322_ADDR_GROUP_END)
			buf_append_cstr(&b, "E:");
		for (int k = 0; k < 4; k++) {
			if (parts[k]->ptr == NULL)
				buf_append_cstr(&b, "-");
			else
				buf_append_slice(&b, *parts[k]);
			buf_append_cstr(&b, k < 3 ? "|" : ";");
		}
	}
	char *s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

static void check_addr(const char *in, const char *want)
{
	struct rfc5322_address_list l = { 0 };
	char *got;

	rfc5322_address_parse(slice_cstr(in), 0, &l);
	got = addr_dump(&l);
	CHECK_STREQ(got, want);
	free(got);
	rfc5322_address_list_free(&l);
}

TEST(rfc5322_address_forms)
{
	check_addr("a@b", "-|-|a|b;");
	check_addr("\"Joe Q. Public\" <joe@example.org>",
		   "Joe Q. Public|-|joe|example.org;");
	check_addr("Mary  Smith <mary@x.test>, jdoe@one.test (John Doe)",
		   "Mary Smith|-|mary|x.test;John Doe|-|jdoe|one.test;");
	check_addr("\"john doe\"@q.test", "-|-|john doe|q.test;");
	check_addr("undisclosed-recipients:;", "G:-|-|undisclosed-recipients|-;E:-|-|-|-;");
	check_addr("A Group:Ed <c@a>,joe@w;, x@y",
		   "G:-|-|A Group|-;Ed|-|c|a;-|-|joe|w;E:-|-|-|-;-|-|x|y;");
	check_addr("<@r1,@r2:u@d.test>", "-|@r1,@r2|u|d.test;");
	check_addr("nodomain", "-|-|nodomain|-;");
	check_addr("=?utf-8?q?J=C3=B6rg?= <j@x>", "=?utf-8?q?J=C3=B6rg?=|-|j|x;");
	check_addr("\"a\\\"b\" <ab@x>", "a\"b|-|ab|x;");
	check_addr("<>, @nolocal, bad@", "-|-|-|-;-|-|-|nolocal;-|-|bad|-;");
	check_addr("Joe.  Q.  Public <j@x>", "Joe. Q. Public|-|j|x;");
	check_addr("(lead) y@z, a@b(c), x @ [1.2.3.4]",
		   "-|-|y|z;c|-|a|b;-|-|x|[1.2.3.4];");
	check_addr("john . doe @ example . org", "-|-|john.doe|example.org;");
	check_addr("unterminated: a@b", "G:-|-|unterminated|-;-|-|a|b;E:-|-|-|-;");
	check_addr("", "");
	check_addr(",,, ;;", "");
	check_addr("\"unclosed <a@b>", "-|-|unclosed <a@b>|-;");
	check_addr("<a@b", "-|-|a|b;");
}

TEST(rfc5322_address_nul)
{
	static const char in[] = "N\0x <a\0b@c>";
	struct rfc5322_address_list l = { 0 };

	rfc5322_address_parse(slice_make(in, sizeof(in) - 1), 0, &l);
	REQUIRE(l.count == 1);
	CHECK(l.addrs[0].name.len == 3 && memcmp(l.addrs[0].name.ptr, "N\0x", 3) == 0);
	CHECK(l.addrs[0].mailbox.len == 3);
	rfc5322_address_list_free(&l);
}

TEST(rfc5322_address_limit)
{
	/* MIME-5: 500,000 addresses in one field; the cap holds */
	size_t n = 500000;
	buf_t b;
	struct rfc5322_address_list l = { 0 };

	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++)
		buf_append_cstr(&b, "user@example.org, ");
	rfc5322_address_parse(buf_slice(&b), 0, &l);
	CHECK_INTEQ(l.count, RFC5322_DEFAULT_MAX_ADDRESSES);
	CHECK(l.truncated);
	/* a group cut by the cap still gets its end marker */
	rfc5322_address_list_free(&l);
	rfc5322_address_parse(SLICE_LIT("g: a@b, c@d, e@f;"), 3, &l);
	CHECK_INTEQ(l.count, 3);
	CHECK(l.addrs[2].kind == RFC5322_ADDR_GROUP_END);
	rfc5322_address_list_free(&l);
	/* fuzz find: a group start needs room for its end marker too */
	rfc5322_address_parse(SLICE_LIT("a@b, c@d, g: e@f;"), 3, &l);
	CHECK_INTEQ(l.count, 2);
	CHECK(l.truncated);
	rfc5322_address_list_free(&l);
	buf_free(&b);
}

TEST(rfc5322_date)
{
	time_t t;
	int tz;

	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("Fri, 21 Nov 1997 09:55:06 -0600"), &t, &tz), 0);
	CHECK_INTEQ(t, 880127706);
	CHECK_INTEQ(tz, -360);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("21 Nov 97 09:55:06 GMT"), &t, &tz), 0);
	CHECK_INTEQ(t, 880106106);
	CHECK_INTEQ(tz, 0);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT(" Thu,\r\n 1 Jan 1970 00:00 +0000 (UTC)"), &t, &tz), 0);
	CHECK_INTEQ(t, 0);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("1 jan 2001 12:00:00 EDT"), &t, &tz), 0);
	CHECK_INTEQ(tz, -240);
	CHECK_INTEQ(t, 978307200 + 12 * 3600 + 4 * 3600);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("29 Feb 2024 23:59:60 +0100"), &t, &tz), 0);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("Mon, 3 Mar 2025 10:00:00 Z"), &t, &tz), 0);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("3 Mar 2025 10:00:00"), &t, &tz), 0);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("32 Jan 2001 10:00:00 +0000"), &t, &tz), -1);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("1 Foo 2001 10:00:00 +0000"), &t, &tz), -1);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("1 Jan 2001 25:00:00 +0000"), &t, &tz), -1);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("1 Jan 2001 10:00:00 +0099"), &t, &tz), -1);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("1 Jan 20011 10:00:00 +0000"), &t, &tz), -1);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT(""), &t, &tz), -1);
	CHECK_INTEQ(rfc5322_date_parse(SLICE_LIT("garbage"), &t, &tz), -1);
}
