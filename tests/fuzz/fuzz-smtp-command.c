/*
 * libFuzzer target for SMTP command lines (src/lib-smtp/smtp-command.c) and
 * the line reader (src/lib-smtp/smtp-input.c).
 *
 * The input is parsed as one command line, with and without
 * SMTP_PARSE_UTF8, and must satisfy the contract:
 *  - success: the verb is known, no returned string holds a control
 *    character, decoded xtext values are printable ASCII, a BDAT size fits
 *    in int64_t, and nothing non-ASCII is in an address without SMTPUTF8;
 *  - failure: a 5xx reply with enhanced code and text, nothing allocated.
 * It is also framed by smtp_line_next, whole and one byte at a time: the
 * events must match, no line holds CR or LF or exceeds the maximum, and the
 * bytes consumed add up to at most the input. Finally xtext must round-trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp-command.h"
#include "smtp-input.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

static void fuzz_no_controls(const char *s, bool ascii_only)
{
	if (s == NULL)
		return;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		FUZZ_ASSERT(*p >= 0x20 && *p != 0x7f);
		FUZZ_ASSERT(!ascii_only || *p < 0x80);
	}
}

static bool fuzz_has_8bit(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p >= 0x80)
			return true;
	return false;
}

static void fuzz_check_ok(const struct smtp_command *cmd, unsigned flags)
{
	FUZZ_ASSERT(cmd->verb != SMTP_UNKNOWN);
	fuzz_no_controls(cmd->arg, false);
	fuzz_no_controls(cmd->addr.local, false);
	fuzz_no_controls(cmd->addr.domain, false);
	fuzz_no_controls(cmd->params.envid, true);
	fuzz_no_controls(cmd->params.orcpt_type, true);
	fuzz_no_controls(cmd->params.orcpt_addr, true);
	fuzz_no_controls(cmd->params.auth, true);
	FUZZ_ASSERT(cmd->bdat_size <= (uint64_t)INT64_MAX);
	if (cmd->verb == SMTP_MAIL || cmd->verb == SMTP_RCPT) {
		FUZZ_ASSERT(cmd->addr.local != NULL && cmd->addr.domain != NULL);
		bool utf8 = cmd->verb == SMTP_MAIL ? cmd->params.smtputf8 :
			    (flags & SMTP_PARSE_UTF8) != 0;
		if (!utf8)
			FUZZ_ASSERT(!fuzz_has_8bit(cmd->addr.local) &&
				    !fuzz_has_8bit(cmd->addr.domain));
	}
	if (cmd->params.notify & SMTP_NOTIFY_NEVER)
		FUZZ_ASSERT(cmd->params.notify == SMTP_NOTIFY_NEVER);
	(void)smtp_verb_name(cmd->verb);
}

static void fuzz_command(const char *line, size_t len, unsigned flags)
{
	struct smtp_command cmd;
	struct smtp_error err = { 0, NULL, NULL };

	if (smtp_command_parse(line, len, flags, &cmd, &err) == 0) {
		fuzz_check_ok(&cmd, flags);
	} else {
		FUZZ_ASSERT(err.code >= 500 && err.code <= 555);
		FUZZ_ASSERT(err.enhanced != NULL && err.enhanced[0] == '5');
		FUZZ_ASSERT(err.text != NULL && err.text[0] != '\0');
		FUZZ_ASSERT(cmd.arg == NULL && cmd.addr.local == NULL &&
			    cmd.params.envid == NULL && cmd.params.auth == NULL &&
			    cmd.params.orcpt_addr == NULL && cmd.params.orcpt_type == NULL);
	}
	smtp_command_free(&cmd);
}

/* Frame data chunk bytes at a time; events go to ev. */
static void fuzz_lines(const uint8_t *data, size_t size, size_t max, size_t chunk, buf_t *ev)
{
	struct smtp_line_reader r;
	size_t pos = 0, total = 0;
	buf_t b;

	smtp_line_reader_init(&r, max);
	buf_init(&b, 0);
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		buf_append(&b, data + pos, n);
		pos += n;
		for (;;) {
			size_t line_len, consumed;
			enum smtp_line_error error;
			int ret = smtp_line_next(&r, b.data, b.used, &line_len, &consumed, &error);
			FUZZ_ASSERT(consumed <= b.used);
			if (ret == 1) {
				FUZZ_ASSERT(line_len <= max && consumed == line_len + 2);
				FUZZ_ASSERT(memchr(b.data, '\r', line_len) == NULL);
				FUZZ_ASSERT(memchr(b.data, '\n', line_len) == NULL);
				buf_append_byte(ev, 'L');
				buf_append(ev, b.data, line_len);
			} else if (ret < 0) {
				FUZZ_ASSERT(error != SMTP_LINE_OK);
				buf_append_byte(ev, (char)('0' + error));
			}
			total += consumed;
			buf_consume(&b, consumed);
			if (ret == 0 && consumed == 0)
				break;
		}
		FUZZ_ASSERT(b.used <= max + 1);
	}
	FUZZ_ASSERT(total + b.used == size);
	buf_free(&b);
}

static void fuzz_framing(const uint8_t *data, size_t size, size_t max)
{
	buf_t whole, trickle;

	buf_init(&whole, 0);
	buf_init(&trickle, 0);
	fuzz_lines(data, size, max, size, &whole);
	fuzz_lines(data, size, max, 1, &trickle);
	FUZZ_ASSERT(slice_eq(buf_slice(&whole), buf_slice(&trickle)));
	buf_free(&whole);
	buf_free(&trickle);
}

static void fuzz_xtext(const char *in, size_t len)
{
	buf_t enc, dec;
	bool printable = true;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)in[i] < 0x20 || (unsigned char)in[i] >= 0x7f)
			printable = false;
	buf_init(&enc, 0);
	buf_init(&dec, 0);
	smtp_xtext_encode(in, len, &enc);
	int ret = smtp_xtext_decode(enc.data ? enc.data : "", enc.used, &dec);
	FUZZ_ASSERT((ret == 0) == printable);
	if (ret == 0)
		FUZZ_ASSERT(slice_eq(buf_slice(&dec), slice_make(in, len)));
	buf_reset(&dec);
	(void)smtp_xtext_decode(in, len, &dec);	/* raw input as xtext */
	buf_free(&enc);
	buf_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size copy, so reading past `size` is caught by ASan */
	char *copy = xmalloc(size ? size : 1);

	memcpy(copy, data, size);
	fuzz_command(copy, size, 0);
	fuzz_command(copy, size, SMTP_PARSE_UTF8);
	fuzz_framing(data, size, 16);
	fuzz_framing(data, size, 512);
	fuzz_xtext(copy, size);
	free(copy);
	return 0;
}
