/* Unit tests for SMTP input framing (src/lib-smtp/smtp-input.c): command
 * lines, DATA and BDAT, including reliability anchors SMUG-1..5, 7, 9, 12,
 * 13 and PARSE-1. Every input is also fed in small pieces ("trickle") and
 * must give the same result as when fed whole. */
#include <stdlib.h>
#include <string.h>

#include "smtp-input.h"
#include "test.h"
#include "xalloc.h"

#define LIT(s) s, sizeof(s) - 1

static const size_t chunk_sizes[] = { 1, 2, 3, 5, 7, 64 };
#define CHUNK_COUNT (sizeof(chunk_sizes) / sizeof(chunk_sizes[0]))

/* ---- command lines ---- */

/* Feed in[] chunk bytes at a time as a caller would (append, then call
 * until 0 with nothing consumed). Events: "L<line>|" or "E<n>|". Returns the
 * most bytes ever left in the caller's buffer after a round. */
static size_t line_run(const char *in, size_t len, size_t max, size_t chunk, buf_t *events)
{
	struct smtp_line_reader r;
	size_t peak = 0, pos = 0;
	buf_t b;

	smtp_line_reader_init(&r, max);
	buf_init(&b, 0);
	while (pos < len) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		buf_append(&b, in + pos, n);
		pos += n;
		for (;;) {
			size_t line_len, consumed;
			enum smtp_line_error error;
			int ret = smtp_line_next(&r, b.data, b.used, &line_len, &consumed, &error);
			if (ret == 1) {
				CHECK(line_len <= max && consumed == line_len + 2);
				buf_append_byte(events, 'L');
				buf_append(events, b.data, line_len);
				buf_append_byte(events, '|');
			} else if (ret < 0) {
				buf_printf(events, "E%d|", (int)error);
			}
			CHECK(consumed <= b.used);
			buf_consume(&b, consumed);
			if (ret == 0 && consumed == 0)
				break;
		}
		if (b.used > peak)
			peak = b.used;
	}
	buf_free(&b);
	return peak;
}

/* Run with every chunk size; all must match; check the events. */
static void line_check(const char *in, size_t len, size_t max, const char *expected)
{
	buf_t whole, part;

	buf_init(&whole, 0);
	line_run(in, len, max, len ? len : 1, &whole);
	if (strcmp(buf_cstr(&whole), expected) != 0)
		fprintf(stderr, "  events \"%s\", expected \"%s\"\n", buf_cstr(&whole), expected);
	CHECK_STREQ(buf_cstr(&whole), expected);
	for (size_t i = 0; i < CHUNK_COUNT; i++) {
		buf_init(&part, 0);
		line_run(in, len, max, chunk_sizes[i], &part);
		CHECK_STREQ(buf_cstr(&part), buf_cstr(&whole));
		buf_free(&part);
	}
	buf_free(&whole);
}

TEST(smtp_line_basic)
{
	line_check(LIT("EHLO x\r\nMAIL FROM:<a@b>\r\n"), 512, "LEHLO x|LMAIL FROM:<a@b>|");
	line_check(LIT("\r\n\r\nQUIT\r\n"), 512, "L|L|LQUIT|");
	line_check(LIT("NOOP\r\nDATA"), 512, "LNOOP|");		/* incomplete */
	line_check(LIT("NOOP\r"), 512, "");
	line_check(LIT("a\0b\x80\xff\r\n"), 512, "La\0b\x80\xff|");
	/* exactly max is fine, max + 1 is not */
	line_check(LIT("12345678\r\n123456789\r\nok\r\n"), 8, "L12345678|E1|Lok|");
}

TEST(smtp_line_bare_endings)
{
	/* SMUG-7: a bare LF never ends a line, so MAIL is never parsed */
	line_check(LIT("EHLO x\nMAIL FROM:<a@b>\r\nNOOP\r\n"), 512, "E2|LNOOP|");
	line_check(LIT("\n\r\nNOOP\r\n"), 512, "E2|LNOOP|");
	line_check(LIT("EHLO x\rMAIL FROM:<a@b>\r\nNOOP\r\n"), 512, "E3|LNOOP|");
	line_check(LIT("EHLO x\r\r\nNOOP\r\n"), 512, "E3|LNOOP|");
	line_check(LIT("\r\r\n"), 512, "E3|");
	line_check(LIT("a\nb\rc\r\n"), 512, "E2|");		/* first one wins */
	line_check(LIT("a\rb\nc\r\n"), 512, "E3|");
	line_check(LIT("a\n\n\n"), 512, "");			/* no line end yet */
}

TEST(smtp_line_too_long)
{
	char big[3000];

	/* PARSE-1 with CRLF: reported once, then the next line is fine */
	memcpy(big, "EHLO ", 5);
	memset(big + 5, 'a', 2000);
	memcpy(big + 2005, "\r\nNOOP\r\n", 8);
	line_check(big, 2013, 512, "E1|LNOOP|");
	/* over-long and ending in CR LF split at the limit */
	line_check(LIT("abcdefgh\r\r\nok\r\n"), 8, "E1|Lok|");
	line_check(LIT("abcdefghi\r\nok\r\n"), 8, "E1|Lok|");
	line_check(LIT("abcdefgh\rx\r\nok\r\n"), 8, "E1|Lok|");
	/* a bare LF in a line that then becomes too long: one error */
	line_check(LIT("ab\ncdefghijk\r\nok\r\n"), 8, "E1|Lok|");
	/* the skipped part ends in CR, the next piece starts with LF */
	line_check(LIT("abcdefghijkl\r\nok\r\n"), 4, "E1|Lok|");
	line_check(LIT("abcdefghijkl\n\r\nok\r\n"), 4, "E1|Lok|");
}

TEST(smtp_line_too_long_no_crlf_bounded)
{
	size_t len = 1024 * 1024;
	char *big = xmalloc(len + 8);
	buf_t ev;

	/* PARSE-1: 1 MB with no CRLF; the caller's buffer stays small */
	memset(big, 'a', len);
	memcpy(big + len, "\r\nQUIT\r\n", 8);
	buf_init(&ev, 0);
	size_t peak = line_run(big, len + 8, 512, 4096, &ev);
	CHECK_STREQ(buf_cstr(&ev), "E1|LQUIT|");
	CHECK(peak <= 512);
	buf_reset(&ev);
	peak = line_run(big, len + 8, 512, 1, &ev);
	CHECK_STREQ(buf_cstr(&ev), "E1|LQUIT|");
	CHECK(peak <= 512);
	buf_free(&ev);
	free(big);
}

TEST(smtp_line_skip_then_pipelined)
{
	struct smtp_line_reader r;
	size_t line_len, consumed;
	enum smtp_line_error error;
	const char *in = "abcdefghij";
	const char *rest = "klm\r\nNOOP\r\n";

	/* the skipped line ends inside a later buffer with a command behind it */
	smtp_line_reader_init(&r, 4);
	CHECK_INTEQ(smtp_line_next(&r, in, 10, &line_len, &consumed, &error), -1);
	CHECK_INTEQ(error, SMTP_LINE_TOO_LONG);
	CHECK_INTEQ(consumed, 10);
	CHECK(r.skipping);
	CHECK_INTEQ(smtp_line_next(&r, rest, 11, &line_len, &consumed, &error), 0);
	CHECK_INTEQ(consumed, 5);
	CHECK(!r.skipping);
	CHECK_INTEQ(smtp_line_next(&r, rest + 5, 6, &line_len, &consumed, &error), 1);
	CHECK_INTEQ(line_len, 4);
	CHECK_INTEQ(consumed, 6);
}

/* ---- DATA ---- */

struct data_limits {
	uint64_t max_size;
	size_t max_line, max_header;
	unsigned flags;
};

struct data_result {
	buf_t out;
	enum smtp_data_status status;
	size_t consumed;
	bool done;
	uint64_t size;
};

static const struct data_limits no_limits = { 0, 0, 0, 0 };
static const struct data_limits normalize = { 0, 0, 0, SMTP_DATA_NORMALIZE_BARE_LF };

/* Feed chunk bytes at a time into a fresh decoder, draining out after each
 * call into res->out; out's maximum is the documented 2 * len. */
static void data_run(const char *in, size_t len, const struct data_limits *lim,
		     size_t chunk, struct data_result *res)
{
	struct smtp_data_decoder *d =
		smtp_data_decoder_create(lim->max_size, lim->max_line, lim->max_header, lim->flags);
	buf_t out;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, 0);
	buf_init(&out, 2 * chunk);
	for (size_t pos = 0; pos < len && !res->done;) {
		size_t n = len - pos < chunk ? len - pos : chunk, consumed;
		int ret = smtp_data_feed(d, in + pos, n, &consumed, &out);
		CHECK(consumed <= n);
		CHECK(ret == 1 || consumed == n);
		res->done = ret == 1;
		res->consumed += consumed;
		pos += n;
		buf_append(&res->out, out.data, out.used);
		buf_reset(&out);
	}
	res->status = smtp_data_status(d);
	res->size = smtp_data_size(d);
	buf_free(&out);
	smtp_data_decoder_destroy(&d);
	CHECK(d == NULL);
}

static bool data_same(const struct data_result *a, const struct data_result *b)
{
	return a->status == b->status && a->consumed == b->consumed && a->done == b->done &&
	       a->size == b->size && slice_eq(buf_slice(&a->out), buf_slice(&b->out));
}

/* Whole, then every chunk size (TRICKLE): all the same. */
static void data_run_all(const char *in, size_t len, const struct data_limits *lim,
			 struct data_result *res)
{
	struct data_result part;

	data_run(in, len, lim, len ? len : 1, res);
	for (size_t i = 0; i < CHUNK_COUNT; i++) {
		data_run(in, len, lim, chunk_sizes[i], &part);
		if (!data_same(res, &part))
			fprintf(stderr, "  chunk %zu differs: status %d/%d consumed %zu/%zu\n",
				chunk_sizes[i], part.status, res->status, part.consumed,
				res->consumed);
		CHECK(data_same(res, &part));
		buf_free(&part.out);
	}
}

static void data_expect(const char *in, size_t len, const struct data_limits *lim,
			enum smtp_data_status status, const char *out, size_t out_len,
			size_t consumed)
{
	struct data_result res;

	data_run_all(in, len, lim, &res);
	CHECK(res.done);
	CHECK_INTEQ(res.consumed, consumed);
	CHECK_INTEQ(res.status, status);
	if (out != NULL) {
		if (!slice_eq(buf_slice(&res.out), slice_make(out, out_len)))
			fprintf(stderr, "  output \"%s\"\n", buf_cstr(&res.out));
		CHECK(slice_eq(buf_slice(&res.out), slice_make(out, out_len)));
	}
	buf_free(&res.out);
}

#define EXPECT(in, lim, st, out) \
	data_expect(LIT(in), lim, st, LIT(out), sizeof(in) - 1)

TEST(smtp_data_dot_unstuffing)
{
	/* SMUG-12, RFC 5321 4.5.2 */
	EXPECT("..hello\r\n.\r\n", &no_limits, SMTP_DATA_OK, ".hello\r\n");
	EXPECT("a\r\n..\r\nb\r\n.\r\n", &no_limits, SMTP_DATA_OK, "a\r\n.\r\nb\r\n");
	EXPECT("...\r\n.\r\n", &no_limits, SMTP_DATA_OK, "..\r\n");
	EXPECT("a.\r\n .\r\n.x\r\n.\r\n", &no_limits, SMTP_DATA_OK, "a.\r\n .\r\nx\r\n");
	/* empty message: the data starts at a line start */
	EXPECT(".\r\n", &no_limits, SMTP_DATA_OK, "");
	EXPECT("\r\n.\r\n", &no_limits, SMTP_DATA_OK, "\r\n");
	EXPECT("Subject: x\r\n\r\nbody\r\n.\r\n", &no_limits, SMTP_DATA_OK,
	       "Subject: x\r\n\r\nbody\r\n");
}

TEST(smtp_data_end_position)
{
	/* what follows the end marker is not consumed */
	static const char in[] = "a\r\n.\r\nQUIT\r\n";
	data_expect(in, sizeof(in) - 1, &no_limits, SMTP_DATA_OK, LIT("a\r\n"), 6);

	/* feeding after the end consumes nothing */
	struct smtp_data_decoder *d = smtp_data_decoder_create(0, 0, 0, 0);
	buf_t out;
	size_t consumed;
	buf_init(&out, 0);
	CHECK_INTEQ(smtp_data_feed(d, LIT(".\r\nX"), &consumed, &out), 1);
	CHECK_INTEQ(consumed, 3);
	CHECK_INTEQ(smtp_data_feed(d, LIT("X"), &consumed, &out), 1);
	CHECK_INTEQ(consumed, 0);
	CHECK_INTEQ(out.used, 0);
	CHECK_INTEQ(smtp_data_feed(d, "", 0, &consumed, &out), 1);
	buf_free(&out);
	smtp_data_decoder_destroy(&d);

	/* no end yet */
	struct data_result res;
	data_run_all(LIT("a\r\n.\r"), &no_limits, &res);
	CHECK(!res.done);
	CHECK_INTEQ(res.consumed, 5);
	CHECK_STREQ(buf_cstr(&res.out), "a\r\n");
	buf_free(&res.out);
}

struct smuggle_case {
	const char *ending;
	enum smtp_data_status reject, normal;
	const char *normal_out;	/* body part of the normalize-mode output, or NULL */
	size_t normal_len;	/* 0: strlen(normal_out) */
};

static const struct smuggle_case smuggle_cases[] = {
	/* SMUG-1, 2 */
	{ "\n.\n", SMTP_DATA_BARE_LF, SMTP_DATA_OK, "body\r\n.\r\n", 0 },
	{ "\n.\r\n", SMTP_DATA_BARE_LF, SMTP_DATA_OK, "body\r\n.\r\n", 0 },
	/* SMUG-3 */
	{ "\r.\r", SMTP_DATA_BARE_CR, SMTP_DATA_BARE_CR, NULL, 0 },
	{ "\r.\n", SMTP_DATA_BARE_CR, SMTP_DATA_BARE_CR, NULL, 0 },
	{ "\r\n.\r", SMTP_DATA_BARE_CR, SMTP_DATA_BARE_CR, NULL, 0 },
	{ "\r\n.\n", SMTP_DATA_BARE_LF, SMTP_DATA_OK, "body\r\n\r\n", 0 },
	{ "\n.\r", SMTP_DATA_BARE_LF, SMTP_DATA_BARE_CR, NULL, 0 },
	/* SMUG-5 */
	{ "\r\n.\r\r\n", SMTP_DATA_BARE_CR, SMTP_DATA_BARE_CR, NULL, 0 },
	{ "\r\r\n.\r\r\n", SMTP_DATA_BARE_CR, SMTP_DATA_BARE_CR, NULL, 0 },
	/* SMUG-4: NUL before the dot is content */
	{ "\r\n\0.\r\n", SMTP_DATA_OK, SMTP_DATA_OK, "body\r\n\0.\r\n", 10 },
};

#define SMUGGLED "MAIL FROM:<s@evil>\r\nRCPT TO:<v@local>\r\nDATA\r\n" \
		 "From: s@evil\r\n\r\nsmuggled\r\n"
#define HEAD "Subject: x\r\n\r\n"

TEST(smtp_data_smuggling)
{
	for (size_t i = 0; i < sizeof(smuggle_cases) / sizeof(smuggle_cases[0]); i++) {
		const struct smuggle_case *sc = &smuggle_cases[i];
		size_t elen = sc->ending[0] == '\r' && sc->ending[1] == '\n' &&
			      sc->ending[2] == '\0' ? 6 : strlen(sc->ending);
		buf_t in, want;
		struct data_result res;

		buf_init(&in, 0);
		buf_append_cstr(&in, HEAD "body");
		buf_append(&in, sc->ending, elen);
		buf_append_cstr(&in, SMUGGLED ".\r\n");
		size_t end = in.used;
		buf_append_cstr(&in, "QUIT\r\n");

		/* exactly one end, at the real marker, in both modes */
		data_run_all(in.data, in.used, &no_limits, &res);
		CHECK(res.done);
		CHECK_INTEQ(res.consumed, end);
		if (res.status != sc->reject)
			fprintf(stderr, "  ending %zu: reject-mode status %d\n", i, res.status);
		CHECK_INTEQ(res.status, sc->reject);
		buf_free(&res.out);

		data_run_all(in.data, in.used, &normalize, &res);
		CHECK(res.done);
		CHECK_INTEQ(res.consumed, end);
		if (res.status != sc->normal)
			fprintf(stderr, "  ending %zu: normalize-mode status %d\n", i, res.status);
		CHECK_INTEQ(res.status, sc->normal);
		if (sc->normal_out != NULL) {
			buf_init(&want, 0);
			buf_append_cstr(&want, HEAD);
			buf_append(&want, sc->normal_out, sc->normal_len ? sc->normal_len :
				   strlen(sc->normal_out));
			buf_append_cstr(&want, SMUGGLED);
			CHECK(slice_eq(buf_slice(&res.out), buf_slice(&want)));
			buf_free(&want);
		}
		buf_free(&res.out);
		buf_free(&in);
	}
}

TEST(smtp_data_too_big_then_bad_end)
{
	/* SMUG-13: over the limit, then "\n.\n", then the real end */
	static const struct data_limits small = { 20, 0, 0, 0 };
	static const struct data_limits small_norm = { 20, 0, 0, SMTP_DATA_NORMALIZE_BARE_LF };
	static const char in[] = "Subject: x\r\n\r\n0123456789012345\r\n\n.\nxxx\r\n.\r\nNOOP\r\n";
	struct data_result res;

	data_run_all(LIT(in), &small, &res);
	CHECK(res.done);
	CHECK_INTEQ(res.consumed, sizeof(in) - 1 - 6);
	CHECK_INTEQ(res.status, SMTP_DATA_TOO_BIG);
	CHECK(res.out.used <= 20);
	CHECK(memcmp(res.out.data, "Subject: x\r\n\r\n012345", res.out.used) == 0);
	CHECK_INTEQ(res.out.used, 20);
	CHECK(res.size > 20);
	buf_free(&res.out);

	data_run_all(LIT(in), &small_norm, &res);
	CHECK(res.done);
	CHECK_INTEQ(res.consumed, sizeof(in) - 1 - 6);
	CHECK_INTEQ(res.status, SMTP_DATA_TOO_BIG);
	buf_free(&res.out);

	/* a bare LF first, then too big: the first problem wins */
	static const struct data_limits tiny = { 4, 0, 0, 0 };
	EXPECT("a\nbcdefgh\r\n.\r\n", &tiny, SMTP_DATA_BARE_LF, "a");
}

TEST(smtp_data_size_limit_exact)
{
	static const struct data_limits lim = { 7, 0, 0, 0 };
	static const struct data_limits lim8 = { 8, 0, 0, 0 };
	static const struct data_limits lim6 = { 6, 0, 0, 0 };

	EXPECT("abc\r\nd\r\n.\r\n", &lim, SMTP_DATA_TOO_BIG, "abc\r\nd");
	EXPECT("abc\r\nde\r\n.\r\n", &lim, SMTP_DATA_TOO_BIG, "abc\r\nde");
	EXPECT("abc\r\nd\r\n.\r\n", &lim8, SMTP_DATA_OK,
	       "abc\r\nd\r\n");
	/* dot-stuffing does not count */
	EXPECT("..abc\r\n.\r\n", &lim6, SMTP_DATA_OK,
	       ".abc\r\n");
}

TEST(smtp_data_line_too_long)
{
	static const struct data_limits lim = { 0, 10, 0, 0 };

	EXPECT("0123456789\r\n\r\n0123456789\r\n.\r\n", &lim, SMTP_DATA_OK,
	       "0123456789\r\n\r\n0123456789\r\n");
	EXPECT("a\r\n\r\n01234567890\r\nmore\r\n.\r\n", &lim, SMTP_DATA_LINE_TOO_LONG,
	       "a\r\n\r\n0123456789");
	/* the leading dot removed by unstuffing does not count (RFC 5321 4.5.3.1.6) */
	EXPECT("..23456789\r\n.\r\n", &lim, SMTP_DATA_OK, ".23456789\r\n");
	/* a bare CR at the limit is a bare CR first */
	EXPECT("0123456789\rx\r\n.\r\n", &lim, SMTP_DATA_BARE_CR, "0123456789");
}

TEST(smtp_data_header_too_big)
{
	static const struct data_limits lim = { 0, 0, 20, 0 };

	EXPECT("Subject: 0123456\r\n\r\nbody\r\n.\r\n", &lim, SMTP_DATA_OK,
	       "Subject: 0123456\r\n\r\nbody\r\n");
	EXPECT("Subject: 012345678\r\n\r\nbody\r\n.\r\n", &lim, SMTP_DATA_OK,
	       "Subject: 012345678\r\n\r\nbody\r\n");
	/* the CRLF that crosses the limit is not written */
	EXPECT("Subject: 0123456789\r\n\r\nbody\r\n.\r\n", &lim, SMTP_DATA_HEADER_TOO_BIG,
	       "Subject: 0123456789");
	EXPECT("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nbody\r\n.\r\n", &lim,
	       SMTP_DATA_HEADER_TOO_BIG, "A: 1\r\nB: 2\r\nC: 3\r\nD:");
	/* a big body after a small header is fine */
	EXPECT("A: 1\r\n\r\n0123456789012345678901234567890123456789\r\n.\r\n", &lim,
	       SMTP_DATA_OK, "A: 1\r\n\r\n0123456789012345678901234567890123456789\r\n");
	/* no empty line: everything is header */
	EXPECT("0123456789\r\n0123456789\r\n.\r\n", &lim, SMTP_DATA_HEADER_TOO_BIG,
	       "0123456789\r\n01234567");
	/* normalize mode: "\n\n" is an empty line in the output */
	static const struct data_limits lim_norm = { 0, 0, 20, SMTP_DATA_NORMALIZE_BARE_LF };
	EXPECT("A: 1\n\n0123456789012345678901234567890\r\n.\r\n", &lim_norm, SMTP_DATA_OK,
	       "A: 1\r\n\r\n0123456789012345678901234567890\r\n");
}

TEST(smtp_data_8bit_and_nul_kept)
{
	/* UTF8-4, UTF8-5 */
	EXPECT("Subject: \xe4\0\xff\r\nX-A\0B: v\r\n\r\n\0\x80\xc3\xa9 body\0\r\n.\r\n",
	       &no_limits, SMTP_DATA_OK,
	       "Subject: \xe4\0\xff\r\nX-A\0B: v\r\n\r\n\0\x80\xc3\xa9 body\0\r\n");
}

TEST(smtp_data_normalize)
{
	EXPECT("a\nb\r\n.\r\n", &normalize, SMTP_DATA_OK, "a\r\nb\r\n");
	/* a bare LF is no line start for dot handling */
	EXPECT("a\n..b\r\n.\r\n", &normalize, SMTP_DATA_OK, "a\r\n..b\r\n");
	EXPECT("a\n.\r\n.\r\n", &normalize, SMTP_DATA_OK, "a\r\n.\r\n");
	EXPECT("\n.\r\n.\r\n", &normalize, SMTP_DATA_OK, "\r\n.\r\n");
	/* bare CR is never normalised */
	EXPECT("a\rb\r\n.\r\n", &normalize, SMTP_DATA_BARE_CR, "a");
	EXPECT("a\nb\r\n.\r\n", &no_limits, SMTP_DATA_BARE_LF, "a");
}

TEST(smtp_data_out_buffer_full)
{
	struct smtp_data_decoder *d = smtp_data_decoder_create(0, 0, 0, 0);
	size_t consumed;
	buf_t out;

	buf_init(&out, 4);
	CHECK_INTEQ(smtp_data_feed(d, LIT("abcdefgh\r\n.\r\n"), &consumed, &out), 1);
	CHECK_INTEQ(smtp_data_status(d), SMTP_DATA_TOO_BIG);
	CHECK_INTEQ(out.used, 0);
	buf_free(&out);
	smtp_data_decoder_destroy(&d);
}

TEST(smtp_data_status_texts)
{
	CHECK_STREQ(smtp_data_status_text(SMTP_DATA_OK), "ok");
	CHECK_STREQ(smtp_data_status_text(SMTP_DATA_BARE_LF), "bare <LF> received");
	CHECK_STREQ(smtp_data_status_text(SMTP_DATA_BARE_CR), "bare <CR> received");
	CHECK(smtp_data_status_text(SMTP_DATA_TOO_BIG)[0] != '\0');
	CHECK(smtp_data_status_text(SMTP_DATA_LINE_TOO_LONG)[0] != '\0');
	CHECK(smtp_data_status_text(SMTP_DATA_HEADER_TOO_BIG)[0] != '\0');
}

/* ---- BDAT ---- */

/* Feed the chunks (separated by '|' in spec) pieces bytes at a time. */
static void bdat_run(const char *const *chunks, size_t nchunks, const struct data_limits *lim,
		     size_t piece, struct data_result *res)
{
	struct smtp_data_decoder *d =
		smtp_data_decoder_create(lim->max_size, lim->max_line, lim->max_header, lim->flags);
	buf_t out;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, 0);
	buf_init(&out, 0);
	for (size_t c = 0; c < nchunks; c++) {
		size_t len = strlen(chunks[c]);
		for (size_t pos = 0; pos < len; pos += piece) {
			size_t n = len - pos < piece ? len - pos : piece;
			smtp_bdat_feed(d, chunks[c] + pos, n, &out);
			buf_append(&res->out, out.data, out.used);
			buf_reset(&out);
		}
	}
	smtp_bdat_finish(d);
	res->status = smtp_data_status(d);
	res->size = smtp_data_size(d);
	buf_free(&out);
	smtp_data_decoder_destroy(&d);
}

static void bdat_expect(const char *const *chunks, size_t nchunks, const struct data_limits *lim,
			enum smtp_data_status status, const char *out)
{
	struct data_result whole, part;

	bdat_run(chunks, nchunks, lim, SIZE_MAX, &whole);
	CHECK_INTEQ(whole.status, status);
	if (out != NULL)
		CHECK_STREQ(buf_cstr(&whole.out), out);
	for (size_t i = 0; i < CHUNK_COUNT; i++) {
		bdat_run(chunks, nchunks, lim, chunk_sizes[i], &part);
		CHECK(data_same(&whole, &part));
		buf_free(&part.out);
	}
	buf_free(&whole.out);
}

#define CHUNKS(...) (const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)

TEST(smtp_bdat)
{
	/* CR at a chunk end, LF at the next start: one CRLF */
	bdat_expect(CHUNKS("abc\r", "\ndef\r\n"), &no_limits, SMTP_DATA_OK, "abc\r\ndef\r\n");
	/* no dot handling: a lone dot line is content */
	bdat_expect(CHUNKS("a\r\n.\r\n", "..b\r\n"), &no_limits, SMTP_DATA_OK,
		    "a\r\n.\r\n..b\r\n");
	/* SMUG-9: bare LF */
	bdat_expect(CHUNKS("abc\ndef\r\n"), &no_limits, SMTP_DATA_BARE_LF, "abc");
	bdat_expect(CHUNKS("abc\r\n", "\ndef\r\n"), &no_limits, SMTP_DATA_BARE_LF, "abc\r\n");
	bdat_expect(CHUNKS("abc\ndef\r\n"), &normalize, SMTP_DATA_OK, "abc\r\ndef\r\n");
	/* bare CR inside and at the end */
	bdat_expect(CHUNKS("abc\r", "def\r\n"), &no_limits, SMTP_DATA_BARE_CR, "abc");
	bdat_expect(CHUNKS("abc\r\n", "def\r"), &no_limits, SMTP_DATA_BARE_CR, "abc\r\ndef");
	bdat_expect(CHUNKS("abc\r\n", "", "def"), &no_limits, SMTP_DATA_OK, "abc\r\ndef");
	/* limits apply across chunks */
	bdat_expect(CHUNKS("abc\r\n", "defgh"), &(struct data_limits){ 8, 0, 0, 0 },
		    SMTP_DATA_TOO_BIG, "abc\r\ndef");
	bdat_expect(CHUNKS("abcd", "efgh\r\n"), &(struct data_limits){ 0, 6, 0, 0 },
		    SMTP_DATA_LINE_TOO_LONG, "abcdef");
	bdat_expect(CHUNKS("A: 1\r\n", "B: 2\r\n\r\n"), &(struct data_limits){ 0, 0, 8, 0 },
		    SMTP_DATA_HEADER_TOO_BIG, "A: 1\r\nB:");
}

TEST(smtp_bdat_binary)
{
	static const struct data_limits bin = { 0, 4, 0, SMTP_DATA_BINARY };
	static const char in[] = "A: 1\r\n\r\n\0\n\r\rlonger than four\r";
	struct smtp_data_decoder *d = smtp_data_decoder_create(0, 4, 0, SMTP_DATA_BINARY);
	buf_t out;

	/* BINARYMIME: the body is taken as is, line length unchecked */
	buf_init(&out, 0);
	smtp_bdat_feed(d, LIT(in), &out);
	smtp_bdat_finish(d);
	CHECK_INTEQ(smtp_data_status(d), SMTP_DATA_OK);
	CHECK(slice_eq(buf_slice(&out), slice_make(in, sizeof(in) - 1)));
	CHECK_INTEQ(smtp_data_size(d), sizeof(in) - 1);
	buf_free(&out);
	smtp_data_decoder_destroy(&d);
	/* the header section is still text */
	bdat_expect(CHUNKS("A: 1\n\r\n"), &bin, SMTP_DATA_BARE_LF, "A: 1");
	bdat_expect(CHUNKS("A: 12\r\n\r\n"), &bin, SMTP_DATA_LINE_TOO_LONG, "A: 1");
	bdat_expect(CHUNKS("A: 1\r", "\n\r", "\n\n\rxyzzy"), &bin, SMTP_DATA_OK,
		    "A: 1\r\n\r\n\n\rxyzzy");
}
