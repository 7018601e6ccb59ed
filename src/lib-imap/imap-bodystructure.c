/*
 * IMAP BODY / BODYSTRUCTURE: RFC 3501 7.4.2, RFC 9051 7.5.2 ("body"
 * grammar in RFC 3501 9). See imap-bodystructure.h for the decisions.
 */
#include <stdlib.h>
#include <string.h>

#include "imap-bodystructure.h"
#include "imap-envelope.h"
#include "rfc5322.h"
#include "xalloc.h"

#define EMPTY_TEXT_PART \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"
#define EMPTY_ENVELOPE "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

struct bs_writer {
	const struct mime_message *msg;
	bool extended;
	buf_t *out;
	int r;		/* sticky: -1 once out is full */
};

static void w_raw(struct bs_writer *w, const char *s, size_t n)
{
	if (w->r == 0)
		w->r = buf_append(w->out, s, n);
}

static void w_cstr(struct bs_writer *w, const char *s)
{
	w_raw(w, s, strlen(s));
}

static void w_nstring(struct bs_writer *w, slice_t s)
{
	if (w->r == 0)
		w->r = imap_envelope_append_nstring(w->out, s);
}

static void w_number(struct bs_writer *w, size_t n)
{
	if (w->r == 0)
		w->r = buf_printf(w->out, "%zu", n);
}

static void w_params(struct bs_writer *w, const struct mime_param *params,
		     size_t count)
{
	if (count == 0) {
		w_cstr(w, "NIL");
		return;
	}
	w_cstr(w, "(");
	for (size_t i = 0; i < count && w->r == 0; i++) {
		if (i > 0)
			w_cstr(w, " ");
		if (params[i].extended) {
			/* RFC 2231: the client decodes name*="cs'lang'..." */
			buf_t name;
			buf_init(&name, 0);
			buf_append_slice(&name, params[i].name);
			buf_append_byte(&name, '*');
			w_nstring(w, buf_slice(&name));
			buf_free(&name);
		} else {
			w_nstring(w, params[i].name);
		}
		w_cstr(w, " ");
		w_nstring(w, params[i].value);
	}
	w_cstr(w, ")");
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void w_dsp_lang_loc(struct bs_writer *w, const struct mime_part *part)
{
	if (part->disposition.ptr == NULL) {
		w_cstr(w, "NIL");
	} else {
		w_cstr(w, "(");
		w_nstring(w, part->disposition);
		w_cstr(w, " ");
		w_params(w, part->disp_params, part->disp_params_count);
		w_cstr(w, ")");
	}
	w_cstr(w, " ");
	if (part->languages_count == 0) {
		w_cstr(w, "NIL");
	} else {
		w_cstr(w, "(");
		for (size_t i = 0; i < part->languages_count; i++) {
			if (i > 0)
				w_cstr(w, " ");
			w_nstring(w, part->languages[i]);
		}
		w_cstr(w, ")");
	}
	w_cstr(w, " ");
	w_nstring(w, part->location);
}

/* A part written as a basic body: multipart and message parts that were
 * not parsed because of a limit are not describable by their own grammar
 * (as Dovecot, application/octet-stream). */
static bool part_is_opaque(const struct mime_part *part)
{
	return (part->flags & MIME_PART_LIMIT) != 0 &&
		(mime_part_is(part, "multipart", NULL) ||
		 mime_part_is(part, "message", "rfc822") ||
		 mime_part_is(part, "message", "global"));
}

static bool part_is_message(const struct mime_part *part)
{
	return !part_is_opaque(part) &&
		(mime_part_is(part, "message", "rfc822") ||
		 mime_part_is(part, "message", "global"));
}

/* "(" type subtype params id description encoding size: the fields that
 * every non-multipart body starts with (body-type-basic/-msg/-text). */
static void w_single_head(struct bs_writer *w, const struct mime_part *part)
{
	w_cstr(w, "(");
	if (part_is_opaque(part)) {
		w_cstr(w, "\"application\" \"octet-stream\"");
	} else {
		w_nstring(w, part->type);
		w_cstr(w, " ");
		w_nstring(w, part->subtype);
	}
	w_cstr(w, " ");
	if (mime_part_is(part, "text", NULL) && !part_is_opaque(part) &&
	    mime_part_param(part, "charset") == NULL) {
		/* RFC 2045 5.2: text without a charset is us-ascii */
		if (part->params_count == 0) {
			w_cstr(w, "(\"charset\" \"us-ascii\")");
		} else {
			w_params(w, part->params, part->params_count);
			if (w->r == 0)
				buf_truncate(w->out, w->out->used - 1);
			w_cstr(w, " \"charset\" \"us-ascii\")");
		}
	} else {
		w_params(w, part->params, part->params_count);
	}
	w_cstr(w, " ");
	w_nstring(w, part->id);
	w_cstr(w, " ");
	w_nstring(w, part->description);
	w_cstr(w, " ");
	if (part->encoding.ptr != NULL && part->encoding.len > 0)
		w_nstring(w, part->encoding);
	else
		w_cstr(w, "\"7bit\"");
	w_cstr(w, " ");
	w_number(w, part->body_size_crlf);
}

/* What comes after the body of a message part, or after a basic part. */
static void w_single_tail(struct bs_writer *w, const struct mime_part *part)
{
	if (!part_is_opaque(part) &&
	    (mime_part_is(part, "text", NULL) || part_is_message(part))) {
		w_cstr(w, " ");
		w_number(w, part->body_lines);
	}
	if (w->extended) {
		w_cstr(w, " ");
		w_nstring(w, part->md5);
		w_cstr(w, " ");
		w_dsp_lang_loc(w, part);
	}
	w_cstr(w, ")");
}

static void w_multipart_tail(struct bs_writer *w, const struct mime_part *part)
{
	w_cstr(w, " ");
	w_nstring(w, part->subtype);
	if (w->extended) {
		w_cstr(w, " ");
		w_params(w, part->params, part->params_count);
		w_cstr(w, " ");
		w_dsp_lang_loc(w, part);
	}
	w_cstr(w, ")");
}

static void w_empty_text_part(struct bs_writer *w)
{
	w_cstr(w, EMPTY_TEXT_PART);
	if (w->extended)
		w_cstr(w, " NIL NIL NIL NIL");
	w_cstr(w, ")");
}

static void w_envelope(struct bs_writer *w, const struct mime_part *embedded)
{
	struct rfc5322_header h;

	if (w->r != 0)
		return;
	rfc5322_header_parse_all(&h, w->msg->data + embedded->hdr_offset,
				 embedded->hdr_size, NULL);
	w->r = imap_envelope_write(&h, w->out);
	rfc5322_header_deinit(&h);
}

struct bs_frame {
	const struct mime_part *part;
	const struct mime_part *next_child;
};

int imap_bodystructure_write(const struct mime_message *msg, bool extended,
			     buf_t *out)
{
	struct bs_writer w = { msg, extended, out, 0 };
	struct bs_frame *stack = NULL;
	size_t depth = 0, alloc = 0, start = out->used;
	const struct mime_part *enter = msg->root;

	while (w.r == 0 && (enter != NULL || depth > 0)) {
		if (enter != NULL) {
			const struct mime_part *part = enter;
			struct bs_frame *f;

			enter = NULL;
			if ((part->flags & MIME_PART_MULTIPART) != 0) {
				w_cstr(&w, "(");
				if (part->children == NULL) {
					w_empty_text_part(&w);
					w_multipart_tail(&w, part);
					continue;
				}
			} else if (part_is_message(part)) {
				w_single_head(&w, part);
				w_cstr(&w, " ");
				if (part->children == NULL) {
					w_cstr(&w, EMPTY_ENVELOPE " ");
					w_empty_text_part(&w);
					w_single_tail(&w, part);
					continue;
				}
				w_envelope(&w, part->children);
				w_cstr(&w, " ");
			} else {
				w_single_head(&w, part);
				w_single_tail(&w, part);
				continue;
			}
			if (depth == alloc) {
				alloc = alloc ? alloc * 2 : 16;
				stack = xreallocarray(stack, alloc, sizeof(*stack));
			}
			f = &stack[depth++];
			f->part = part;
			f->next_child = part->children;
		}
		/* continue the innermost open part */
		struct bs_frame *f = &stack[depth - 1];
		if (f->next_child != NULL) {
			enter = f->next_child;
			f->next_child = (f->part->flags & MIME_PART_MULTIPART) != 0 ?
				enter->next : NULL;
			continue;
		}
		if ((f->part->flags & MIME_PART_MULTIPART) != 0)
			w_multipart_tail(&w, f->part);
		else
			w_single_tail(&w, f->part);
		depth--;
	}
	free(stack);
	if (w.r != 0)
		buf_truncate(out, start);
	return w.r;
}
