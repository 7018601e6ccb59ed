/* FETCH attributes and modifiers (RFC 9051 6.4.5). See imap-fetch-parse.h. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap-fetch-parse.h"
#include "xalloc.h"

/* A cursor over the atom text. */
struct cursor {
	const char *s;
	size_t len, pos;
};

static bool at_end(const struct cursor *c)
{
	return c->pos >= c->len;
}

static char peek_char(const struct cursor *c)
{
	return at_end(c) ? '\0' : c->s[c->pos];
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static char upper(char ch)
{
	return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

/* RFC 5322 3.6.8 ftext: printable US-ASCII except ':' */
static bool is_ftext(unsigned char ch)
{
	return ch >= 33 && ch <= 126 && ch != ':';
}

/* Digits at the cursor as a number <= max; leading zeros only when
 * allow_zeros (number) else refused (nz-number; "0" itself is refused
 * too). */
static int read_number(struct cursor *c, uint64_t max, bool nz, uint64_t *n_r)
{
	uint64_t n = 0;
	size_t start = c->pos;

	while (!at_end(c) && is_digit(c->s[c->pos])) {
		unsigned d = (unsigned)(c->s[c->pos] - '0');
		if (n > (max - d) / 10)
			return -1;
		n = n * 10 + d;
		c->pos++;
	}
	if (c->pos == start)
		return -1;
	if (nz && (c->s[start] == '0'))
		return -1;
	*n_r = n;
	return 0;
}

/* Case-insensitive keyword made of letters, digits and '.' at the cursor:
 * returns its length (the cursor is not moved). */
static size_t keyword_len(const struct cursor *c)
{
	size_t n = 0;

	while (c->pos + n < c->len) {
		char ch = c->s[c->pos + n];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '.'))
			break;
		n++;
	}
	return n;
}

static bool keyword_is(const struct cursor *c, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(c->s + c->pos, word, n) == 0;
}

static void section_free(struct imap_fetch_section *sec)
{
	for (size_t i = 0; i < sec->nfields; i++)
		free(sec->fields[i]);
	free(sec->fields);
	free(sec->parts);
	memset(sec, 0, sizeof(*sec));
}

/* One header-fld-name (astring) into *name_r, upper-cased. */
static int read_field_name(struct cursor *c, char **name_r, const char **error_r)
{
	buf_t b;

	buf_init(&b, 0);
	if (peek_char(c) == '"') {
		c->pos++;
		for (;;) {
			if (at_end(c)) {
				*error_r = "Unterminated quoted header field name";
				goto fail;
			}
			char ch = c->s[c->pos++];
			if (ch == '"')
				break;
			if (ch == '\\') {
				if (at_end(c) || (c->s[c->pos] != '"' && c->s[c->pos] != '\\')) {
					*error_r = "Invalid escape in header field name";
					goto fail;
				}
				ch = c->s[c->pos++];
			}
			buf_append_byte(&b, upper(ch));
		}
	} else {
		while (!at_end(c)) {
			char ch = c->s[c->pos];
			if (ch == ' ' || ch == ')' || ch == '(' || ch == ']' || ch == '"')
				break;
			buf_append_byte(&b, upper(ch));
			c->pos++;
		}
	}
	if (b.used == 0) {
		*error_r = "Empty header field name";
		goto fail;
	}
	for (size_t i = 0; i < b.used; i++) {
		if (!is_ftext((unsigned char)b.data[i])) {
			*error_r = "Invalid header field name";
			goto fail;
		}
	}
	*name_r = xstrndup(b.data, b.used);
	buf_free(&b);
	return 0;
fail:
	buf_free(&b);
	return -1;
}

/* header-list: "(" header-fld-name *(SP header-fld-name) ")" */
static int read_header_list(struct cursor *c, struct imap_fetch_section *sec,
			    const char **error_r)
{
	size_t alloc = 0;

	if (peek_char(c) != ' ') {
		*error_r = "Missing header field list";
		return -1;
	}
	while (peek_char(c) == ' ')
		c->pos++;
	if (peek_char(c) != '(') {
		*error_r = "Missing header field list";
		return -1;
	}
	c->pos++;
	for (;;) {
		while (peek_char(c) == ' ')
			c->pos++;
		if (peek_char(c) == ')') {
			c->pos++;
			break;
		}
		if (at_end(c)) {
			*error_r = "Unterminated header field list";
			return -1;
		}
		char *name;
		if (read_field_name(c, &name, error_r) < 0)
			return -1;
		if (sec->nfields == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			sec->fields = xreallocarray(sec->fields, alloc, sizeof(*sec->fields));
		}
		sec->fields[sec->nfields++] = name;
		if (peek_char(c) != ' ' && peek_char(c) != ')') {
			*error_r = "Invalid header field list";
			return -1;
		}
	}
	if (sec->nfields == 0) {
		*error_r = "Empty header field list";
		return -1;
	}
	return 0;
}

/* section-part: nz-number *("." nz-number); stops before a "." that is not
 * followed by a digit (the start of section-text). */
static int read_parts(struct cursor *c, struct imap_fetch_section *sec, const char **error_r)
{
	size_t alloc = 0;

	for (;;) {
		uint64_t n;
		if (read_number(c, UINT32_MAX, true, &n) < 0) {
			*error_r = "Invalid section part number";
			return -1;
		}
		if (sec->nparts == IMAP_FETCH_MAX_PARTS) {
			*error_r = "Section part path too deep";
			return -1;
		}
		if (sec->nparts == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			sec->parts = xreallocarray(sec->parts, alloc, sizeof(*sec->parts));
		}
		sec->parts[sec->nparts++] = (uint32_t)n;
		if (peek_char(c) == '.' && c->pos + 1 < c->len && is_digit(c->s[c->pos + 1]))
			c->pos++;
		else
			return 0;
	}
}

/* The inside of "[...]" for BODY; the cursor stops at "]". */
static int read_section(struct cursor *c, bool binary, struct imap_fetch_section *sec,
			const char **error_r)
{
	if (is_digit(peek_char(c))) {
		if (read_parts(c, sec, error_r) < 0)
			return -1;
		if (peek_char(c) != '.')
			return 0;
		if (binary) {
			*error_r = "BINARY takes only part numbers";
			return -1;
		}
		c->pos++;
	} else if (peek_char(c) == ']') {
		return 0;
	} else if (binary) {
		*error_r = "BINARY takes only part numbers";
		return -1;
	}

	size_t n = keyword_len(c);
	if (keyword_is(c, n, "HEADER")) {
		sec->text = IMAP_FETCH_TEXT_HEADER;
	} else if (keyword_is(c, n, "HEADER.FIELDS")) {
		sec->text = IMAP_FETCH_TEXT_FIELDS;
	} else if (keyword_is(c, n, "HEADER.FIELDS.NOT")) {
		sec->text = IMAP_FETCH_TEXT_FIELDS_NOT;
	} else if (keyword_is(c, n, "TEXT")) {
		sec->text = IMAP_FETCH_TEXT_TEXT;
	} else if (keyword_is(c, n, "MIME") && sec->nparts > 0) {
		sec->text = IMAP_FETCH_TEXT_MIME;
	} else {
		*error_r = "Invalid section";
		return -1;
	}
	c->pos += n;
	if (sec->text == IMAP_FETCH_TEXT_FIELDS || sec->text == IMAP_FETCH_TEXT_FIELDS_NOT)
		return read_header_list(c, sec, error_r);
	return 0;
}

/* partial: "<" number64 "." nz-number64 ">" */
static int read_partial(struct cursor *c, struct imap_fetch_item *item, const char **error_r)
{
	c->pos++;	/* "<" */
	if (read_number(c, INT64_MAX, false, &item->partial_offset) < 0 || peek_char(c) != '.') {
		*error_r = "Invalid partial offset";
		return -1;
	}
	c->pos++;
	if (read_number(c, INT64_MAX, true, &item->partial_len) < 0 || peek_char(c) != '>') {
		*error_r = "Invalid partial length";
		return -1;
	}
	c->pos++;
	item->partial = true;
	return 0;
}

/* A field name as it goes into the response: atom when it can be one,
 * else a quoted string (ftext has no CR, LF or 8-bit octets). */
static void write_field_name(buf_t *b, const char *name)
{
	if (strpbrk(name, "(){%*\"\\[]") == NULL) {
		buf_append_cstr(b, name);
		return;
	}
	buf_append_byte(b, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_append_byte(b, '\\');
		buf_append_byte(b, *p);
	}
	buf_append_byte(b, '"');
}

static void write_section(buf_t *b, const struct imap_fetch_section *sec)
{
	static const char *const text_names[] = {
		[IMAP_FETCH_TEXT_NONE] = "",
		[IMAP_FETCH_TEXT_HEADER] = "HEADER",
		[IMAP_FETCH_TEXT_FIELDS] = "HEADER.FIELDS",
		[IMAP_FETCH_TEXT_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[IMAP_FETCH_TEXT_TEXT] = "TEXT",
		[IMAP_FETCH_TEXT_MIME] = "MIME",
	};

	buf_append_byte(b, '[');
	for (size_t i = 0; i < sec->nparts; i++)
		buf_printf(b, "%s%u", i > 0 ? "." : "", sec->parts[i]);
	if (sec->text != IMAP_FETCH_TEXT_NONE) {
		if (sec->nparts > 0)
			buf_append_byte(b, '.');
		buf_append_cstr(b, text_names[sec->text]);
	}
	if (sec->nfields > 0) {
		buf_append_cstr(b, " (");
		for (size_t i = 0; i < sec->nfields; i++) {
			if (i > 0)
				buf_append_byte(b, ' ');
			write_field_name(b, sec->fields[i]);
		}
		buf_append_byte(b, ')');
	}
	buf_append_byte(b, ']');
}

static const struct {
	const char *name;
	enum imap_fetch_att att;
} plain_atts[] = {
	{ "FLAGS", IMAP_FETCH_FLAGS },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE },
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE },
	{ "BODY", IMAP_FETCH_BODY },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE },
	{ "UID", IMAP_FETCH_UID },
	{ "MODSEQ", IMAP_FETCH_MODSEQ },
	{ "RFC822", IMAP_FETCH_RFC822 },
	{ "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT },
};

static const struct {
	const char *name;
	enum imap_fetch_att att;
	bool peek;
	const char *response;
} section_atts[] = {
	{ "BODY", IMAP_FETCH_BODY_SECTION, false, "BODY" },
	{ "BODY.PEEK", IMAP_FETCH_BODY_SECTION, true, "BODY" },
	{ "BINARY", IMAP_FETCH_BINARY, false, "BINARY" },
	{ "BINARY.PEEK", IMAP_FETCH_BINARY, true, "BINARY" },
	{ "BINARY.SIZE", IMAP_FETCH_BINARY_SIZE, true, "BINARY.SIZE" },
};

void imap_fetch_item_free(struct imap_fetch_item *item)
{
	section_free(&item->section);
	free(item->name);
	memset(item, 0, sizeof(*item));
}

int imap_fetch_parse_item(const char *s, size_t len, struct imap_fetch_item *item_r,
			  const char **error_r)
{
	const char *open = memchr(s, '[', len);
	size_t nlen = open != NULL ? (size_t)(open - s) : len;

	memset(item_r, 0, sizeof(*item_r));
	if (open == NULL) {
		for (size_t i = 0; i < sizeof(plain_atts) / sizeof(plain_atts[0]); i++) {
			if (strlen(plain_atts[i].name) == nlen &&
			    strncasecmp(s, plain_atts[i].name, nlen) == 0) {
				item_r->att = plain_atts[i].att;
				item_r->name = xstrdup(plain_atts[i].name);
				return 0;
			}
		}
		*error_r = "Unknown FETCH attribute";
		return -1;
	}

	size_t k;
	for (k = 0; k < sizeof(section_atts) / sizeof(section_atts[0]); k++)
		if (strlen(section_atts[k].name) == nlen &&
		    strncasecmp(s, section_atts[k].name, nlen) == 0)
			break;
	if (k == sizeof(section_atts) / sizeof(section_atts[0])) {
		*error_r = "Unknown FETCH attribute";
		return -1;
	}
	item_r->att = section_atts[k].att;
	item_r->peek = section_atts[k].peek;

	struct cursor c = { s, len, nlen + 1 };
	if (read_section(&c, item_r->att != IMAP_FETCH_BODY_SECTION, &item_r->section,
			 error_r) < 0)
		goto fail;
	if (peek_char(&c) != ']') {
		*error_r = "Invalid section";
		goto fail;
	}
	c.pos++;
	if (peek_char(&c) == '<') {
		if (item_r->att == IMAP_FETCH_BINARY_SIZE) {
			*error_r = "BINARY.SIZE takes no partial range";
			goto fail;
		}
		if (read_partial(&c, item_r, error_r) < 0)
			goto fail;
	}
	if (!at_end(&c)) {
		*error_r = "Garbage after FETCH attribute";
		goto fail;
	}

	buf_t name;
	buf_init(&name, 0);
	buf_append_cstr(&name, section_atts[k].response);
	write_section(&name, &item_r->section);
	if (item_r->partial)
		buf_printf(&name, "<%llu>", (unsigned long long)item_r->partial_offset);
	item_r->name = xstrndup(name.data, name.used);
	buf_free(&name);
	return 0;
fail:
	imap_fetch_item_free(item_r);
	return -1;
}

static void request_add(struct imap_fetch_request *req, size_t *alloc,
			const struct imap_fetch_item *item)
{
	if (req->count == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 8;
		req->items = xreallocarray(req->items, *alloc, sizeof(*req->items));
	}
	req->items[req->count++] = *item;
	switch (item->att) {
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_BINARY:
		if (!item->peek)
			req->sets_seen = true;
		break;
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_TEXT:
		req->sets_seen = true;
		break;
	case IMAP_FETCH_UID:
		req->has_uid = true;
		break;
	case IMAP_FETCH_FLAGS:
		req->has_flags = true;
		break;
	case IMAP_FETCH_MODSEQ:
		req->has_modseq = true;
		break;
	default:
		break;
	}
}

/* RFC 9051 6.4.5 macros: FAST, then ALL adds ENVELOPE, FULL adds BODY */
static bool add_macro(struct imap_fetch_request *req, const char *s)
{
	static const enum imap_fetch_att atts[] = {
		IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE,
		IMAP_FETCH_ENVELOPE, IMAP_FETCH_BODY,
	};
	size_t n, alloc = 0;

	if (strcasecmp(s, "FAST") == 0)
		n = 3;
	else if (strcasecmp(s, "ALL") == 0)
		n = 4;
	else if (strcasecmp(s, "FULL") == 0)
		n = 5;
	else
		return false;
	for (size_t i = 0; i < n; i++) {
		struct imap_fetch_item item = { .att = atts[i] };
		for (size_t k = 0; k < sizeof(plain_atts) / sizeof(plain_atts[0]); k++)
			if (plain_atts[k].att == atts[i])
				item.name = xstrdup(plain_atts[k].name);
		request_add(req, &alloc, &item);
	}
	return true;
}

int imap_fetch_parse_atts(const struct imap_arg *arg, struct imap_fetch_request *req,
			  const char **error_r)
{
	const struct imap_arg *list;
	size_t count, alloc = 0;
	const char *s;

	memset(req, 0, sizeof(*req));
	if (imap_arg_get_atom(arg, &s)) {
		if (add_macro(req, s))
			return 0;
		list = arg;
		count = 1;
	} else if (imap_arg_get_list(arg, &list, &count)) {
		if (count == 0) {
			*error_r = "Empty FETCH attribute list";
			return -1;
		}
	} else {
		*error_r = "Invalid FETCH attribute";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		struct imap_fetch_item item;
		if (!imap_arg_get_atom(&list[i], &s)) {
			*error_r = "Invalid FETCH attribute";
			goto fail;
		}
		if (imap_fetch_parse_item(s, list[i].len, &item, error_r) < 0)
			goto fail;
		request_add(req, &alloc, &item);
	}
	return 0;
fail:
	imap_fetch_request_free(req);
	return -1;
}

int imap_fetch_parse_modifiers(const struct imap_arg *arg, struct imap_fetch_request *req,
			       const char **error_r)
{
	const struct imap_arg *list;
	size_t count;
	const char *s;

	if (!imap_arg_get_list(arg, &list, &count) || count == 0) {
		*error_r = "Invalid FETCH modifiers";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (imap_arg_atom_equals(&list[i], "CHANGEDSINCE")) {
			uint64_t n;
			if (req->changedsince_set) {
				*error_r = "CHANGEDSINCE given twice";
				return -1;
			}
			if (i + 1 == count || !imap_arg_get_atom(&list[i + 1], &s)) {
				*error_r = "CHANGEDSINCE needs a mod-sequence";
				return -1;
			}
			/* mod-sequence-valzer: "0" or 1 .. 2^63-1 */
			struct cursor c = { s, list[i + 1].len, 0 };
			bool nz = strcmp(s, "0") != 0;
			if (read_number(&c, INT64_MAX, nz, &n) < 0 || !at_end(&c)) {
				*error_r = "Invalid CHANGEDSINCE mod-sequence";
				return -1;
			}
			req->changedsince_set = true;
			req->changedsince = n;
			i++;
		} else if (imap_arg_atom_equals(&list[i], "VANISHED")) {
			if (req->vanished) {
				*error_r = "VANISHED given twice";
				return -1;
			}
			req->vanished = true;
		} else {
			*error_r = "Unknown FETCH modifier";
			return -1;
		}
	}
	if (req->vanished && !req->changedsince_set) {
		*error_r = "VANISHED needs CHANGEDSINCE";
		return -1;
	}
	return 0;
}

void imap_fetch_request_free(struct imap_fetch_request *req)
{
	for (size_t i = 0; i < req->count; i++)
		imap_fetch_item_free(&req->items[i]);
	free(req->items);
	memset(req, 0, sizeof(*req));
}
