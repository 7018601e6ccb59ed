/*
 * libFuzzer target for modified UTF-7 (src/lib-imap/imap-utf7.c) and the
 * response string writer (src/lib-imap/imap-write.c).
 *  - the input as modified UTF-7: imap_utf7_is_valid agrees with the
 *    decoder; a valid name decodes to valid UTF-8 without NUL, and encoding
 *    that gives back exactly the input (one spelling per name);
 *  - the input as UTF-8: when valid and NUL-free it encodes, the result is
 *    printable ASCII and valid, and decodes back to the input; otherwise
 *    encoding fails and leaves the output unchanged;
 *  - the writer: the input written as astring, nstring, mailbox name and
 *    literal8 is read back by the parser as the same octets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-parser.h"
#include "imap-utf7.h"
#include "imap-write.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

static void fuzz_decode(const char *in, size_t len)
{
	buf_t dec, enc;

	buf_init(&dec, 0);
	buf_init(&enc, 0);
	int ret = imap_utf7_to_utf8(in, len, &dec);
	FUZZ_ASSERT((ret == 0) == imap_utf7_is_valid(in, len));
	if (ret == 0) {
		FUZZ_ASSERT(imap_utf8_is_valid(dec.data ? dec.data : "", dec.used));
		FUZZ_ASSERT(dec.used == 0 || memchr(dec.data, '\0', dec.used) == NULL);
		FUZZ_ASSERT(imap_utf8_to_utf7(dec.data ? dec.data : "", dec.used, &enc) == 0);
		FUZZ_ASSERT(slice_eq(buf_slice(&enc), slice_make(in, len)));
	} else {
		FUZZ_ASSERT(dec.used == 0);
	}
	buf_free(&dec);
	buf_free(&enc);
}

static void fuzz_encode(const char *in, size_t len)
{
	buf_t enc, dec;
	bool ok = imap_utf8_is_valid(in, len) && (len == 0 || memchr(in, '\0', len) == NULL);

	buf_init(&enc, 0);
	buf_init(&dec, 0);
	buf_append_cstr(&enc, "x");
	int ret = imap_utf8_to_utf7(in, len, &enc);
	FUZZ_ASSERT((ret == 0) == ok);
	if (ret == 0) {
		for (size_t i = 1; i < enc.used; i++)
			FUZZ_ASSERT(enc.data[i] >= 0x20 && enc.data[i] <= 0x7e);
		FUZZ_ASSERT(imap_utf7_is_valid(enc.data + 1, enc.used - 1));
		FUZZ_ASSERT(imap_utf7_to_utf8(enc.data + 1, enc.used - 1, &dec) == 0);
		FUZZ_ASSERT(slice_eq(buf_slice(&dec), slice_make(in, len)));
	} else {
		FUZZ_ASSERT(enc.used == 1);
	}
	buf_free(&enc);
	buf_free(&dec);
}

/* Parse "t X <written>\r\n" and return the single argument. */
static const struct imap_arg *parse_back(struct imap_parser *p, const buf_t *cmd)
{
	size_t off = 0, consumed;
	enum imap_parse_result r;

	while ((r = imap_parser_feed(p, cmd->data + off, cmd->used - off, &consumed)) ==
	       IMAP_PARSE_LITERAL_WAIT) {
		off += consumed;
		FUZZ_ASSERT(imap_parser_literal_accept(p) == 0);
	}
	FUZZ_ASSERT(r == IMAP_PARSE_DONE);
	FUZZ_ASSERT(off + consumed == cmd->used);
	const struct imap_command *c = imap_parser_command(p);
	FUZZ_ASSERT(c->count == 1);
	return &c->args[0];
}

typedef int (*write_fn)(buf_t *out, const char *s, size_t len, unsigned flags);

static void fuzz_write(const char *in, size_t len)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;
	static const write_fn fns[] = { imap_write_astring, imap_write_string,
					imap_write_nstring };
	bool has_nul = len > 0 && memchr(in, '\0', len) != NULL;

	for (unsigned flags = 0; flags <= IMAP_WRITE_UTF8; flags++) {
		for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); f++) {
			struct imap_parser *p = imap_parser_create(&lim);
			buf_t cmd;
			const char *s;
			size_t slen;

			buf_init(&cmd, 0);
			buf_append_cstr(&cmd, "t X ");
			int ret = fns[f](&cmd, in, len, flags);
			FUZZ_ASSERT((ret == 0) == !has_nul);
			if (ret == 0) {
				buf_append_cstr(&cmd, "\r\n");
				const struct imap_arg *a = parse_back(p, &cmd);
				bool got = f == 0 ? imap_arg_get_astring(a, &s, &slen) :
					   imap_arg_get_nstring(a, &s, &slen);
				FUZZ_ASSERT(got && s != NULL);
				FUZZ_ASSERT(slice_eq(slice_make(s, slen), slice_make(in, len)));
			} else {
				FUZZ_ASSERT(cmd.used == 4);
			}
			imap_parser_destroy(&p);
			buf_free(&cmd);
		}

		/* mailbox names: UTF-8 in, and back through modified UTF-7 */
		struct imap_parser *p = imap_parser_create(&lim);
		buf_t cmd, dec;
		buf_init(&cmd, 0);
		buf_init(&dec, 0);
		buf_append_cstr(&cmd, "t X ");
		if (imap_write_mailbox_name(&cmd, in, len, flags) == 0) {
			const char *s;
			size_t slen;
			buf_append_cstr(&cmd, "\r\n");
			const struct imap_arg *a = parse_back(p, &cmd);
			FUZZ_ASSERT(imap_arg_get_astring(a, &s, &slen));
			if (flags & IMAP_WRITE_UTF8) {
				FUZZ_ASSERT(slice_eq(slice_make(s, slen), slice_make(in, len)));
			} else {
				FUZZ_ASSERT(imap_utf7_to_utf8(s, slen, &dec) == 0);
				FUZZ_ASSERT(slice_eq(buf_slice(&dec), slice_make(in, len)));
			}
		} else {
			FUZZ_ASSERT(cmd.used == 4);
			FUZZ_ASSERT(has_nul || !imap_utf8_is_valid(in, len));
		}
		imap_parser_destroy(&p);
		buf_free(&cmd);
		buf_free(&dec);
	}

	/* literal8 carries anything */
	struct imap_parser *p = imap_parser_create(&lim);
	buf_t cmd;
	buf_init(&cmd, 0);
	buf_append_cstr(&cmd, "t X ");
	FUZZ_ASSERT(imap_write_literal8(&cmd, in, len) == 0);
	buf_append_cstr(&cmd, "\r\n");
	const struct imap_arg *a = parse_back(p, &cmd);
	FUZZ_ASSERT(a->type == IMAP_ARG_LITERAL && a->literal8);
	FUZZ_ASSERT(slice_eq(slice_make(a->str, a->len), slice_make(in, len)));
	imap_parser_destroy(&p);
	buf_free(&cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size copy, so reading past `size` is caught by ASan */
	char *copy = xmalloc(size ? size : 1);

	memcpy(copy, data, size);
	fuzz_decode(copy, size);
	fuzz_encode(copy, size);
	if (size <= 4096)
		fuzz_write(copy, size);
	free(copy);
	return 0;
}
