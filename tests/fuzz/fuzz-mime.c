/*
 * libFuzzer target for the MIME structure parser and the IMAP writers: any
 * input is parsed as a message (with small limits too, to reach the limit
 * paths) and must give a well-formed tree:
 *  - every part's header and body lie inside the message, in order, and a
 *    child lies inside its parent's body;
 *  - CRLF sizes are never below the raw sizes and lines never exceed them;
 *  - part counts and depths respect the limits;
 * then BODY, BODYSTRUCTURE and ENVELOPE are written (balanced parentheses
 * outside strings), every part body is decoded, and section lookup is run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap-bodystructure.h"
#include "imap-envelope.h"
#include "mime.h"
#include "mime-decode.h"
#include "rfc2047.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

/* Parentheses balance, skipping quoted strings and literals. */
static void check_balanced(const buf_t *b)
{
	long depth = 0;

	for (size_t i = 0; i < b->used; i++) {
		char c = b->data[i];
		if (c == '"') {
			for (i++; i < b->used && b->data[i] != '"'; i++)
				if (b->data[i] == '\\')
					i++;
			FUZZ_ASSERT(i < b->used);
		} else if (c == '{') {
			size_t n = 0;
			for (i++; b->data[i] >= '0' && b->data[i] <= '9'; i++)
				n = n * 10 + (size_t)(b->data[i] - '0');
			FUZZ_ASSERT(b->data[i] == '}' && b->data[i + 1] == '\r' &&
				    b->data[i + 2] == '\n');
			i += 2 + n;
			FUZZ_ASSERT(i < b->used);
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			FUZZ_ASSERT(--depth >= 0);
		} else {
			FUZZ_ASSERT(c != '\r' && c != '\n' && c != '\0');
		}
	}
	FUZZ_ASSERT(depth == 0);
}

static void check_part(const struct mime_message *m, const struct mime_part *p,
		       const struct mime_limits *lim, size_t *count)
{
	const struct mime_part *c;
	size_t end = p->body_offset + p->body_size;

	FUZZ_ASSERT(p->hdr_offset + p->hdr_size == p->body_offset);
	FUZZ_ASSERT(end <= m->size);
	FUZZ_ASSERT(p->hdr_size_crlf >= p->hdr_size);
	FUZZ_ASSERT(p->body_size_crlf >= p->body_size);
	FUZZ_ASSERT(p->body_size_crlf <= 2 * p->body_size);
	FUZZ_ASSERT(p->body_lines <= p->body_size);
	FUZZ_ASSERT(p->type.ptr != NULL && p->subtype.ptr != NULL);
	FUZZ_ASSERT(p->depth < lim->max_depth);
	(*count)++;
	for (c = p->children; c != NULL; c = c->next) {
		FUZZ_ASSERT(c->parent == p);
		FUZZ_ASSERT(c->hdr_offset >= p->body_offset);
		FUZZ_ASSERT(c->body_offset + c->body_size <= end);
		if (c->next != NULL)
			FUZZ_ASSERT(c->next->hdr_offset >= c->body_offset + c->body_size);
		check_part(m, c, lim, count);
	}
	if (p->flags & MIME_PART_MESSAGE)
		FUZZ_ASSERT(p->children != NULL && p->children->next == NULL);

	/* decode the body as BINARY would */
	{
		buf_t out;
		buf_init(&out, 1 << 20);
		(void)mime_decode(p->cte, m->data + p->body_offset, p->body_size,
				  &out, NULL);
		buf_free(&out);
	}
	for (size_t i = 0; i < p->disp_params_count; i++) {
		struct rfc2231_param rp = {
			(char *)"x", (char *)p->disp_params[i].value.ptr,
			p->disp_params[i].value.len, p->disp_params[i].extended };
		buf_t out;
		buf_init(&out, 1 << 20);
		(void)rfc2231_param_decode(&rp, &out);
		buf_free(&out);
	}
}

static void fuzz_one(const char *data, size_t size, const struct mime_limits *lim)
{
	struct mime_message *m = mime_parse(data, size, lim);
	struct mime_limits eff = *lim;
	size_t count = 0;
	buf_t b;

	if (eff.max_depth == 0)
		eff.max_depth = MIME_DEFAULT_MAX_DEPTH;
	if (eff.max_parts == 0)
		eff.max_parts = MIME_DEFAULT_MAX_PARTS;
	FUZZ_ASSERT(m->root->hdr_offset == 0);
	FUZZ_ASSERT(m->root->body_offset + m->root->body_size == size);
	check_part(m, m->root, &eff, &count);
	FUZZ_ASSERT(count == m->part_count);
	FUZZ_ASSERT(count <= eff.max_parts);

	buf_init(&b, 0);
	FUZZ_ASSERT(imap_bodystructure_write(m, true, &b) == 0);
	check_balanced(&b);
	buf_reset(&b);
	FUZZ_ASSERT(imap_bodystructure_write(m, false, &b) == 0);
	check_balanced(&b);
	buf_reset(&b);
	FUZZ_ASSERT(imap_envelope_write_data(data, m->root->hdr_size, &b) == 0);
	check_balanced(&b);
	buf_free(&b);

	for (uint32_t a = 0; a < 4; a++) {
		uint32_t sec[3] = { a, 1, 2 };
		for (size_t n = 0; n <= 3; n++)
			(void)mime_part_by_section(m, sec, n);
	}
	mime_message_destroy(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size copy, so reading past `size` is caught by ASan */
	char *copy = xmalloc(size ? size : 1);
	static const struct mime_limits defaults = { 0 };
	static const struct mime_limits tight = {
		.max_depth = 3, .max_parts = 4,
		.header = { .max_fields = 4, .max_header_size = 64, .max_value_len = 16 },
	};

	memcpy(copy, data, size);
	fuzz_one(copy, size, &defaults);
	fuzz_one(copy, size, &tight);
	free(copy);
	return 0;
}
