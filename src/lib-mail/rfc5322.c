/*
 * RFC 5322 header fields (2.2), address lists (3.4, 4.4) and dates (3.3,
 * 4.3). See rfc5322.h for the decisions.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rfc5322.h"
#include "xalloc.h"

/* ---- header fields -------------------------------------------------- */

void rfc5322_header_init(struct rfc5322_header *h,
			 const struct rfc5322_limits *limits)
{
	memset(h, 0, sizeof(*h));
	if (limits != NULL)
		h->limits = *limits;
	if (h->limits.max_fields == 0)
		h->limits.max_fields = RFC5322_DEFAULT_MAX_FIELDS;
	if (h->limits.max_header_size == 0)
		h->limits.max_header_size = RFC5322_DEFAULT_MAX_HEADER_SIZE;
	if (h->limits.max_value_len == 0)
		h->limits.max_value_len = RFC5322_DEFAULT_MAX_VALUE_LEN;
}

void rfc5322_header_deinit(struct rfc5322_header *h)
{
	xfree(&h->fields);
	h->count = h->alloc = 0;
}

void rfc5322_header_set_stop(struct rfc5322_header *h, rfc5322_stop_fn *stop,
			     void *context)
{
	h->stop = stop;
	h->stop_context = context;
}

static void field_set_value_end(struct rfc5322_header *h,
				struct rfc5322_field *f, size_t line_end)
{
	size_t len = line_end - f->value_off;

	if (len > h->limits.max_value_len) {
		len = h->limits.max_value_len;
		f->flags |= RFC5322_FIELD_CLIPPED;
	}
	f->value_len = len;
}

static void field_start(struct rfc5322_header *h, const char *data,
			size_t pos, size_t line_end, size_t next)
{
	struct rfc5322_field *f;
	const char *colon;
	size_t name_end;

	if (h->count >= h->limits.max_fields || pos >= h->limits.max_header_size) {
		h->truncated = true;
		h->skipping = true;
		h->in_field = true;
		return;
	}
	if (h->count == h->alloc) {
		h->alloc = h->alloc ? h->alloc * 2 : 16;
		h->fields = xreallocarray(h->fields, h->alloc, sizeof(*h->fields));
	}
	f = &h->fields[h->count++];
	memset(f, 0, sizeof(*f));
	f->start = pos;
	f->end = next;
	colon = memchr(data + pos, ':', line_end - pos);
	if (colon == NULL) {
		f->flags = RFC5322_FIELD_NO_COLON;
		f->name_len = line_end - pos;
		f->value_off = line_end;
		f->value_len = 0;
	} else {
		name_end = (size_t)(colon - data);
		f->value_off = name_end + 1;
		/* RFC 5322 4.5: obs-optional allows WSP before the colon */
		while (name_end > pos &&
		       (data[name_end - 1] == ' ' || data[name_end - 1] == '\t'))
			name_end--;
		f->name_len = name_end - pos;
		field_set_value_end(h, f, line_end);
	}
	h->skipping = false;
	h->in_field = true;
}

int rfc5322_header_parse(struct rfc5322_header *h, const char *data,
			 size_t len, bool eof)
{
	h->base = data;
	while (!h->done) {
		size_t pos = h->pos, line_end, next;
		const char *lf = NULL;

		if (h->scan < len)
			lf = memchr(data + h->scan, '\n', len - h->scan);
		if (lf == NULL) {
			if (!eof) {
				h->scan = len;
				return 0;
			}
			if (pos >= len) {
				h->size = len;
				h->done = true;
				break;
			}
			line_end = next = len;
		} else {
			next = (size_t)(lf - data) + 1;
			line_end = next - 1;
			if (line_end > pos && data[line_end - 1] == '\r')
				line_end--;
		}

		if (line_end == pos && lf != NULL) {
			/* the empty line: end of the header (RFC 5322 2.1) */
			h->lf_count++;
			if (next - pos == 1)
				h->bare_lf++;
			h->size = next;
			h->blank_line = true;
			h->done = true;
			break;
		}
		if (h->stop != NULL && line_end - pos >= 2 && data[pos] == '-' &&
		    data[pos + 1] == '-' &&
		    h->stop(h->stop_context, slice_make(data + pos, line_end - pos))) {
			h->size = pos;
			h->done = true;
			break;
		}
		if (lf != NULL) {
			h->lf_count++;
			if (line_end == next - 1)
				h->bare_lf++;
		}
		if ((data[pos] == ' ' || data[pos] == '\t') && h->in_field) {
			/* RFC 5322 2.2.3: folded continuation */
			if (!h->skipping) {
				struct rfc5322_field *f = &h->fields[h->count - 1];
				f->end = next;
				if ((f->flags & RFC5322_FIELD_NO_COLON) == 0)
					field_set_value_end(h, f, line_end);
			}
		} else {
			field_start(h, data, pos, line_end, next);
		}
		h->pos = h->scan = next;
		if (lf == NULL) {
			h->size = len;
			h->done = true;
		}
	}
	return 1;
}

void rfc5322_header_parse_all(struct rfc5322_header *h, const char *data,
			      size_t len, const struct rfc5322_limits *limits)
{
	rfc5322_header_init(h, limits);
	(void)rfc5322_header_parse(h, data, len, true);
}

slice_t rfc5322_field_name(const struct rfc5322_header *h,
			   const struct rfc5322_field *f)
{
	return slice_make(h->base + f->start, f->name_len);
}

slice_t rfc5322_field_value(const struct rfc5322_header *h,
			    const struct rfc5322_field *f)
{
	return slice_make(h->base + f->value_off, f->value_len);
}

slice_t rfc5322_field_raw(const struct rfc5322_header *h,
			  const struct rfc5322_field *f)
{
	return slice_make(h->base + f->start, f->end - f->start);
}

size_t rfc5322_header_find(const struct rfc5322_header *h, const char *name,
			   size_t from)
{
	slice_t want = slice_cstr(name);

	for (size_t i = from; i < h->count; i++) {
		const struct rfc5322_field *f = &h->fields[i];
		if ((f->flags & RFC5322_FIELD_NO_COLON) == 0 &&
		    slice_eq_ci(rfc5322_field_name(h, f), want))
			return i;
	}
	return SIZE_MAX;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

int rfc5322_unfold(slice_t value, bool squeeze, buf_t *out)
{
	size_t i = 0, start = out->used;
	bool space = false;

	while (i < value.len && (is_wsp(value.ptr[i]) || value.ptr[i] == '\r' ||
				 value.ptr[i] == '\n'))
		i++;
	for (; i < value.len; i++) {
		char c = value.ptr[i];
		if (c == '\r' || c == '\n')
			continue;
		if (squeeze && is_wsp(c)) {
			space = true;
			continue;
		}
		if (space) {
			space = false;
			if (buf_append_byte(out, ' ') < 0)
				goto full;
		}
		if (buf_append_byte(out, c) < 0)
			goto full;
	}
	return 0;
full:
	buf_truncate(out, start);
	return -1;
}

/* ---- address lists -------------------------------------------------- */

struct rfc5322_chunk {
	struct rfc5322_chunk *next;
	size_t used, size;
	char data[];
};

/* Copy into the list's storage; returned pointers never move. */
static slice_t list_store(struct rfc5322_address_list *list, const buf_t *b)
{
	struct rfc5322_chunk *c = list->chunks;
	char *p;

	if (c == NULL || c->size - c->used < b->used + 1) {
		size_t size = b->used + 1 > 4000 ? b->used + 1 : 4000;
		c = xmalloc(sizeof(*c) + size);
		c->size = size;
		c->used = 0;
		c->next = list->chunks;
		list->chunks = c;
	}
	p = c->data + c->used;
	if (b->used > 0)
		memcpy(p, b->data, b->used);
	p[b->used] = '\0';
	c->used += b->used + 1;
	return slice_make(p, b->used);
}

void rfc5322_address_list_free(struct rfc5322_address_list *list)
{
	while (list->chunks != NULL) {
		struct rfc5322_chunk *c = list->chunks;
		list->chunks = c->next;
		free(c);
	}
	xfree(&list->addrs);
	list->count = list->alloc = 0;
	list->truncated = false;
}

struct addr_parser {
	slice_t in;
	size_t i;
	struct rfc5322_address_list *list;
	buf_t phrase;	/* display-name form: words joined by one space */
	buf_t name;	/* the display name before '<' */
	buf_t local;	/* local-part form: words concatenated */
	buf_t route;
	buf_t domain;
	buf_t comment;	/* first comment after the address */
	bool have_comment;
};

static bool is_special(char c)
{
	/* RFC 5322 3.2.3 specials that delimit address parts */
	return c == '<' || c == '>' || c == '@' || c == ',' || c == ';' ||
		c == ':' || c == '"' || c == '(' || c == ')' || c == '.' ||
		c == '[' || c == ']' || c == '\\';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip a (nested) comment at in[i] == '('; capture its text if asked. */
static void skip_comment(struct addr_parser *p, buf_t *capture)
{
	size_t depth = 0;

	for (; p->i < p->in.len; p->i++) {
		char c = p->in.ptr[p->i];
		if (c == '\\' && p->i + 1 < p->in.len) {
			p->i++;
			if (capture != NULL && depth > 0)
				buf_append_byte(capture, p->in.ptr[p->i]);
			continue;
		}
		if (c == '(' && depth++ == 0)
			continue;
		if (c == ')' && --depth == 0) {
			p->i++;
			return;
		}
		if (capture != NULL && c != '\r' && c != '\n')
			buf_append_byte(capture, c);
	}
}

/* Skip whitespace and comments; the first comment may become the name. */
static void skip_cfws(struct addr_parser *p, bool capture)
{
	while (p->i < p->in.len) {
		char c = p->in.ptr[p->i];
		if (is_space(c)) {
			p->i++;
		} else if (c == '(') {
			bool take = capture && !p->have_comment;
			skip_comment(p, take ? &p->comment : NULL);
			if (take)
				p->have_comment = true;
		} else {
			break;
		}
	}
}

/* Quoted string at in[i] == '"': append the content, unquoted and
 * unfolded, to dst. */
static void read_quoted(struct addr_parser *p, buf_t *dst, buf_t *dst2)
{
	for (p->i++; p->i < p->in.len; p->i++) {
		char c = p->in.ptr[p->i];
		if (c == '"') {
			p->i++;
			return;
		}
		if (c == '\r' || c == '\n')
			continue;
		if (c == '\\' && p->i + 1 < p->in.len)
			c = p->in.ptr[++p->i];
		buf_append_byte(dst, c);
		if (dst2 != NULL)
			buf_append_byte(dst2, c);
	}
}

/* Read words, quoted strings and dots up to a delimiter; fills phrase and
 * local. Returns true if anything was read. */
static bool read_phrase(struct addr_parser *p)
{
	bool any = false, space = false;

	buf_reset(&p->phrase);
	buf_reset(&p->local);
	while (p->i < p->in.len) {
		char c = p->in.ptr[p->i];

		if (is_space(c)) {
			space = true;
			p->i++;
			continue;
		}
		if (c == '(') {
			skip_comment(p, NULL);
			space = true;
			continue;
		}
		if (c == '<' || c == '>' || c == '@' || c == ',' || c == ';' ||
		    c == ':')
			break;
		if (space && p->phrase.used > 0 && c != '.')
			buf_append_byte(&p->phrase, ' ');
		space = false;
		any = true;
		if (c == '"') {
			read_quoted(p, &p->phrase, &p->local);
			continue;
		}
		if (c == '.' || c == ')' || c == '\\' || c == '[' || c == ']') {
			buf_append_byte(&p->phrase, c);
			buf_append_byte(&p->local, c);
			p->i++;
			continue;
		}
		size_t start = p->i;
		while (p->i < p->in.len && !is_special(p->in.ptr[p->i]) &&
		       !is_space(p->in.ptr[p->i]))
			p->i++;
		buf_append(&p->phrase, p->in.ptr + start, p->i - start);
		buf_append(&p->local, p->in.ptr + start, p->i - start);
	}
	return any;
}

/* Domain after '@' (dot-atom, domain literal or obs-domain with CFWS),
 * without whitespace or comments; stops at , ; < > @ : or the end. */
static void read_domain(struct addr_parser *p, bool capture_comment)
{
	buf_reset(&p->domain);
	while (p->i < p->in.len) {
		char c = p->in.ptr[p->i];
		if (is_space(c) || c == '(') {
			skip_cfws(p, capture_comment);
			continue;
		}
		if (c == ',' || c == ';' || c == '<' || c == '>' || c == '@' ||
		    c == ':')
			break;
		if (c == '[') {
			/* RFC 5322 3.4.1 domain-literal, kept with brackets */
			for (; p->i < p->in.len && p->in.ptr[p->i] != ']'; p->i++) {
				c = p->in.ptr[p->i];
				if (c == '\\' && p->i + 1 < p->in.len)
					c = p->in.ptr[++p->i];
				if (!is_space(c))
					buf_append_byte(&p->domain, c);
			}
			if (p->i < p->in.len) {
				buf_append_byte(&p->domain, ']');
				p->i++;
			}
			continue;
		}
		if (c == '"') {
			read_quoted(p, &p->domain, NULL);
			continue;
		}
		buf_append_byte(&p->domain, c);
		p->i++;
	}
}

static bool list_full(struct addr_parser *p, size_t max)
{
	if (p->list->count < max)
		return false;
	p->list->truncated = true;
	return true;
}

static void emit(struct addr_parser *p, enum rfc5322_addr_kind kind,
		 const buf_t *name, const buf_t *route, const buf_t *mailbox,
		 const buf_t *domain)
{
	struct rfc5322_address_list *list = p->list;
	struct rfc5322_address *a;

	if (list->count == list->alloc) {
		list->alloc = list->alloc ? list->alloc * 2 : 8;
		list->addrs = xreallocarray(list->addrs, list->alloc, sizeof(*a));
	}
	a = &list->addrs[list->count++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	if (name != NULL)
		a->name = list_store(list, name);
	if (route != NULL)
		a->route = list_store(list, route);
	if (mailbox != NULL)
		a->mailbox = list_store(list, mailbox);
	if (domain != NULL)
		a->domain = list_store(list, domain);
}

/* Skip what is left of a malformed entry, up to the next ',' or ';'. */
static void skip_to_delimiter(struct addr_parser *p)
{
	while (p->i < p->in.len) {
		char c = p->in.ptr[p->i];
		if (c == ',' || c == ';')
			return;
		if (c == '"') {
			buf_t scratch;
			buf_init(&scratch, 1);	/* discards */
			read_quoted(p, &scratch, NULL);
			buf_free(&scratch);
		} else if (c == '(') {
			skip_comment(p, NULL);
		} else {
			p->i++;
		}
	}
}

/* "<" [route ":"] [local] ["@" domain] ">" at in[i] == '<'. */
static void read_angle(struct addr_parser *p, bool have_name)
{
	bool have_route = false, have_local, have_domain = false;

	buf_reset(&p->name);
	if (have_name)
		buf_append(&p->name, p->phrase.data, p->phrase.used);
	p->i++;
	buf_reset(&p->route);
	skip_cfws(p, false);
	if (p->i < p->in.len && p->in.ptr[p->i] == '@') {
		/* RFC 5322 4.4 obs-route: "@a,@b:"; a lone "@x" is a domain */
		size_t save = p->i;
		const char *colon = memchr(p->in.ptr + p->i, ':', p->in.len - p->i);
		const char *gt = memchr(p->in.ptr + p->i, '>', p->in.len - p->i);
		if (colon != NULL && (gt == NULL || colon < gt)) {
			for (; p->in.ptr + p->i < colon; p->i++)
				if (!is_space(p->in.ptr[p->i]))
					buf_append_byte(&p->route, p->in.ptr[p->i]);
			p->i++;
			have_route = true;
		} else {
			p->i = save;
		}
	}
	have_local = read_phrase(p);
	if (p->i < p->in.len && p->in.ptr[p->i] == '@') {
		p->i++;
		read_domain(p, false);
		have_domain = true;
	}
	while (p->i < p->in.len && p->in.ptr[p->i] != '>' &&
	       p->in.ptr[p->i] != ',' && p->in.ptr[p->i] != ';')
		p->i++;	/* garbage inside the brackets */
	if (p->i < p->in.len && p->in.ptr[p->i] == '>')
		p->i++;
	emit(p, RFC5322_ADDR_MAILBOX, have_name ? &p->name : NULL,
	     have_route ? &p->route : NULL, have_local ? &p->local : NULL,
	     have_domain && p->domain.used > 0 ? &p->domain : NULL);
}

void rfc5322_address_parse(slice_t value, size_t max_addresses,
			   struct rfc5322_address_list *list)
{
	struct addr_parser p;
	bool in_group = false;
	size_t max = max_addresses ? max_addresses : RFC5322_DEFAULT_MAX_ADDRESSES;

	memset(&p, 0, sizeof(p));
	p.in = value;
	p.list = list;
	buf_init(&p.phrase, 0);
	buf_init(&p.name, 0);
	buf_init(&p.local, 0);
	buf_init(&p.route, 0);
	buf_init(&p.domain, 0);
	buf_init(&p.comment, 0);

	while (p.i < p.in.len) {
		bool words;
		char c;

		skip_cfws(&p, false);
		if (p.i >= p.in.len)
			break;
		c = p.in.ptr[p.i];
		if (c == ',' || c == '>') {
			p.i++;
			continue;
		}
		if (c == ';') {
			p.i++;
			if (in_group) {
				emit(&p, RFC5322_ADDR_GROUP_END, NULL, NULL, NULL, NULL);
				in_group = false;
			}
			continue;
		}
		/* a group end needs one slot beyond the cap */
		if (list_full(&p, in_group ? max - 1 : max))
			break;
		p.have_comment = false;
		buf_reset(&p.comment);
		words = read_phrase(&p);
		c = p.i < p.in.len ? p.in.ptr[p.i] : '\0';
		if (c == ':') {
			p.i++;
			if (!in_group) {
				/* start and end marker must both fit */
				if (list->count + 2 > max) {
					list->truncated = true;
					break;
				}
				/* RFC 5322 3.4: group = display-name ":" ... ";" */
				emit(&p, RFC5322_ADDR_GROUP_START, NULL, NULL,
				     &p.phrase, NULL);
				in_group = true;
			}
		} else if (c == '<') {
			read_angle(&p, words && p.phrase.used > 0);
			skip_to_delimiter(&p);
		} else if (c == '@') {
			p.i++;
			read_domain(&p, true);
			skip_cfws(&p, true);
			emit(&p, RFC5322_ADDR_MAILBOX,
			     p.have_comment ? &p.comment : NULL, NULL,
			     words ? &p.local : NULL,
			     p.domain.used > 0 ? &p.domain : NULL);
			skip_to_delimiter(&p);
		} else if (words) {
			/* a bare word: local part without a domain */
			emit(&p, RFC5322_ADDR_MAILBOX, NULL, NULL, &p.local, NULL);
			skip_to_delimiter(&p);
		} else {
			skip_to_delimiter(&p);
		}
	}
	if (in_group)
		emit(&p, RFC5322_ADDR_GROUP_END, NULL, NULL, NULL, NULL);
	buf_free(&p.phrase);
	buf_free(&p.name);
	buf_free(&p.local);
	buf_free(&p.route);
	buf_free(&p.domain);
	buf_free(&p.comment);
}

/* ---- dates ---------------------------------------------------------- */

struct date_lexer {
	slice_t in;
	size_t i;
};

static void date_skip(struct date_lexer *l)
{
	while (l->i < l->in.len) {
		char c = l->in.ptr[l->i];
		if (is_space(c) || c == ',') {
			l->i++;
		} else if (c == '(') {
			size_t depth = 0;
			for (; l->i < l->in.len; l->i++) {
				if (l->in.ptr[l->i] == '\\')
					l->i++;
				else if (l->in.ptr[l->i] == '(')
					depth++;
				else if (l->in.ptr[l->i] == ')' && --depth == 0)
					break;
			}
			if (l->i < l->in.len)
				l->i++;
		} else {
			break;
		}
	}
}

/* Up to max_digits digits; returns the count read (0 = none). */
static int date_number(struct date_lexer *l, int max_digits, int *value_r)
{
	int n = 0, v = 0;

	while (l->i < l->in.len && n < max_digits &&
	       l->in.ptr[l->i] >= '0' && l->in.ptr[l->i] <= '9') {
		v = v * 10 + (l->in.ptr[l->i++] - '0');
		n++;
	}
	*value_r = v;
	return n;
}

static slice_t date_word(struct date_lexer *l)
{
	size_t start = l->i;
	while (l->i < l->in.len &&
	       ((l->in.ptr[l->i] | 0x20) >= 'a' && (l->in.ptr[l->i] | 0x20) <= 'z'))
		l->i++;
	return slice_make(l->in.ptr + start, l->i - start);
}

static int month_index(slice_t w)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	if (w.len < 3)
		return -1;
	for (int m = 0; m < 12; m++)
		if (strncasecmp(w.ptr, months + m * 3, 3) == 0)
			return m;
	return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int zone_offset(slice_t w, int *minutes_r)
{
	static const struct { const char *name; int hours; } zones[] = {
		/* RFC 5322 4.3 obs-zone */
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -5 }, { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 },
		{ "MST", -7 }, { "MDT", -6 }, { "PST", -8 }, { "PDT", -7 },
	};
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (slice_eq_cstr_ci(w, zones[i].name)) {
			*minutes_r = zones[i].hours * 60;
			return 0;
		}
	}
	/* military zones and anything else: unknown, RFC 5322 4.3 says
	 * to treat as -0000 */
	*minutes_r = 0;
	return 0;
}

int rfc5322_date_parse(slice_t value, time_t *time_r, int *tz_offset_r)
{
	struct date_lexer l = { value, 0 };
	int day, month, year, hour, min, sec = 0, tz = 0, n;
	slice_t w;
	int64_t t;

	date_skip(&l);
	w = date_word(&l);
	if (w.len > 0) {
		/* day-name (any word that is not a month: be lenient) */
		if (month_index(w) >= 0)
			return -1;
		date_skip(&l);
	}
	if (date_number(&l, 2, &day) == 0 || day < 1 || day > 31)
		return -1;
	date_skip(&l);
	if (l.i < l.in.len && l.in.ptr[l.i] == '-')
		l.i++;	/* "21-Nov-1997" */
	if ((month = month_index(date_word(&l))) < 0)
		return -1;
	date_skip(&l);
	if (l.i < l.in.len && l.in.ptr[l.i] == '-')
		l.i++;
	n = date_number(&l, 4, &year);
	if (n == 0 || (l.i < l.in.len && l.in.ptr[l.i] >= '0' && l.in.ptr[l.i] <= '9'))
		return -1;
	if (n <= 2)
		year += year < 50 ? 2000 : 1900;	/* RFC 5322 4.3 */
	else if (n == 3)
		year += 1900;
	if (year < 1900)
		return -1;
	date_skip(&l);
	if (date_number(&l, 2, &hour) == 0 || l.i >= l.in.len ||
	    (l.in.ptr[l.i] != ':' && l.in.ptr[l.i] != '.'))
		return -1;
	l.i++;
	if (date_number(&l, 2, &min) == 0)
		return -1;
	if (l.i < l.in.len && (l.in.ptr[l.i] == ':' || l.in.ptr[l.i] == '.')) {
		l.i++;
		if (date_number(&l, 2, &sec) == 0)
			return -1;
	}
	if (hour > 23 || min > 59 || sec > 60)
		return -1;
	date_skip(&l);
	if (l.i < l.in.len && (l.in.ptr[l.i] == '+' || l.in.ptr[l.i] == '-')) {
		int sign = l.in.ptr[l.i++] == '-' ? -1 : 1, hhmm;
		if (date_number(&l, 4, &hhmm) != 4 || hhmm % 100 > 59)
			return -1;
		tz = sign * ((hhmm / 100) * 60 + hhmm % 100);
	} else if ((w = date_word(&l)).len > 0) {
		(void)zone_offset(w, &tz);
	}
	{
		static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
		if (day > mdays[month])
			return -1;
	}
	t = days_from_civil(year, month + 1, day) * 86400 +
		hour * 3600 + min * 60 + sec - (int64_t)tz * 60;
	if ((int64_t)(time_t)t != t)
		return -1;
	*time_r = (time_t)t;
	*tz_offset_r = tz;
	return 0;
}
