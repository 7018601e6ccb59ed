/*
 * libFuzzer target for DATA and BDAT content (src/lib-smtp/smtp-input.c).
 *
 * The first byte picks the flags (bits 0-1), small or no limits (bit 2) and
 * a chunk size (bits 3-7, 1..32). The rest is fed as DATA content whole and
 * in chunks, and as BDAT chunks whole and in pieces; each pair must agree
 * on output, status, size and end position. Contract checks:
 *  - the end is found only right after CRLF "." CRLF (or "." CRLF at the
 *    very start), and nothing is consumed after it;
 *  - output never exceeds the limits; OK output (not binary) has only CRLF
 *    line ends, and dot-stuffing it again and decoding gives it back with
 *    the end at the same place (the round trip a relay does).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp-input.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

struct fuzz_limits {
	uint64_t max_size;
	size_t max_line, max_header;
	unsigned flags;
};

struct fuzz_result {
	buf_t out;
	enum smtp_data_status status;
	uint64_t size;
	size_t consumed;
	bool done;
};

static struct smtp_data_decoder *fuzz_decoder(const struct fuzz_limits *lim)
{
	return smtp_data_decoder_create(lim->max_size, lim->max_line, lim->max_header,
					lim->flags);
}

static void fuzz_finish(struct smtp_data_decoder **d, struct fuzz_result *res)
{
	res->status = smtp_data_status(*d);
	res->size = smtp_data_size(*d);
	smtp_data_decoder_destroy(d);
}

static void fuzz_data(const char *in, size_t len, const struct fuzz_limits *lim,
		      size_t chunk, struct fuzz_result *res)
{
	struct smtp_data_decoder *d = fuzz_decoder(lim);
	buf_t out;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, 0);
	buf_init(&out, 2 * chunk);	/* the documented per-call bound */
	for (size_t pos = 0; pos < len && !res->done; pos += chunk) {
		size_t n = len - pos < chunk ? len - pos : chunk, used;
		res->done = smtp_data_feed(d, in + pos, n, &used, &out) == 1;
		FUZZ_ASSERT(used <= n && (res->done || used == n));
		res->consumed += used;
		buf_append(&res->out, out.data, out.used);
		buf_reset(&out);
	}
	buf_free(&out);
	fuzz_finish(&d, res);
}

static void fuzz_bdat(const char *in, size_t len, const struct fuzz_limits *lim,
		      size_t piece, struct fuzz_result *res)
{
	struct smtp_data_decoder *d = fuzz_decoder(lim);

	memset(res, 0, sizeof(*res));
	buf_init(&res->out, 0);
	for (size_t pos = 0; pos < len; pos += piece)
		smtp_bdat_feed(d, in + pos, len - pos < piece ? len - pos : piece, &res->out);
	smtp_bdat_finish(d);
	res->consumed = len;
	fuzz_finish(&d, res);
}

static void fuzz_same(const struct fuzz_result *a, const struct fuzz_result *b)
{
	FUZZ_ASSERT(a->status == b->status && a->size == b->size);
	FUZZ_ASSERT(a->consumed == b->consumed && a->done == b->done);
	FUZZ_ASSERT(slice_eq(buf_slice(&a->out), buf_slice(&b->out)));
}

/* The end marker sits right before `consumed`. */
static void fuzz_check_end(const char *in, const struct fuzz_result *r)
{
	if (!r->done)
		return;
	FUZZ_ASSERT(r->consumed >= 3 && memcmp(in + r->consumed - 3, ".\r\n", 3) == 0);
	FUZZ_ASSERT(r->consumed == 3 || (r->consumed >= 5 &&
					 memcmp(in + r->consumed - 5, "\r\n", 2) == 0));
}

/* OK text output: CR and LF only as CRLF; limits hold. */
static void fuzz_check_output(const struct fuzz_result *r, const struct fuzz_limits *lim,
			      bool text)
{
	const char *p = r->out.data;
	size_t n = r->out.used, line = 0;

	if (lim->max_size != 0)
		FUZZ_ASSERT(n <= lim->max_size);
	if (r->status != SMTP_DATA_OK || !text)
		return;
	FUZZ_ASSERT(r->size == n);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			FUZZ_ASSERT(i + 1 < n && p[i + 1] == '\n');
			line = 0;
			i++;
			continue;
		}
		FUZZ_ASSERT(p[i] != '\n');
		line++;
		FUZZ_ASSERT(lim->max_line == 0 || line <= lim->max_line);
	}
}

/* Dot-stuff decoded output as a sending MTA would, decode it again. */
static void fuzz_round_trip(const struct fuzz_result *r)
{
	struct fuzz_limits none = { 0, 0, 0, 0 };
	struct fuzz_result again;
	bool bol = true;
	buf_t s;

	if (!r->done || r->status != SMTP_DATA_OK)
		return;
	buf_init(&s, 0);
	for (size_t i = 0; i < r->out.used; i++) {
		char c = r->out.data[i];
		if (bol && c == '.')
			buf_append_byte(&s, '.');
		buf_append_byte(&s, c);
		bol = c == '\n';
	}
	if (!bol)
		buf_append(&s, "\r\n", 2);
	buf_append(&s, ".\r\nX", 4);
	fuzz_data(s.data, s.used, &none, s.used, &again);
	FUZZ_ASSERT(again.done && again.status == SMTP_DATA_OK);
	FUZZ_ASSERT(again.consumed == s.used - 1);
	FUZZ_ASSERT(slice_eq(buf_slice(&again.out), buf_slice(&r->out)));
	buf_free(&again.out);
	buf_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_result whole, part;
	struct fuzz_limits lim = { 0, 0, 0, 0 };

	if (size < 1)
		return 0;
	lim.flags = data[0] & 3;
	if (data[0] & 4) {
		lim.max_size = 200;
		lim.max_line = 20;
		lim.max_header = 60;
	}
	size_t chunk = (size_t)(data[0] >> 3) + 1;
	size_t len = size - 1;
	char *in = xmalloc(len ? len : 1);	/* exact size for ASan */
	memcpy(in, data + 1, len);

	fuzz_data(in, len, &lim, len ? len : 1, &whole);
	fuzz_data(in, len, &lim, chunk, &part);
	fuzz_same(&whole, &part);
	fuzz_check_end(in, &whole);
	fuzz_check_output(&whole, &lim, true);	/* DATA is always text */
	fuzz_round_trip(&whole);
	buf_free(&part.out);
	buf_free(&whole.out);

	fuzz_bdat(in, len, &lim, len ? len : 1, &whole);
	fuzz_bdat(in, len, &lim, chunk, &part);
	fuzz_same(&whole, &part);
	fuzz_check_output(&whole, &lim, (lim.flags & SMTP_DATA_BINARY) == 0);
	buf_free(&part.out);
	buf_free(&whole.out);
	free(in);
	return 0;
}
