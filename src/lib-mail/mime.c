/*
 * MIME structure parser: RFC 2045 (header fields), RFC 2046 (multipart 5.1,
 * message 5.2), RFC 2183 (Content-Disposition), RFC 3282, RFC 2557, RFC 1864.
 * See mime.h for the decisions.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime.h"
#include "rfc2047.h"
#include "xalloc.h"

/* ---- arena: every string and part of one tree, freed in one call ---- */

struct mime_arena {
	struct mime_arena *next;
	size_t used, size;
	max_align_t data[];
};

static void *arena_alloc(struct mime_message *msg, size_t n)
{
	struct mime_arena *a = msg->arena;
	const size_t align = sizeof(max_align_t);
	char *p;

	n = (n + align - 1) / align * align;
	if (a == NULL || a->size - a->used < n) {
		size_t size = n > 16384 ? n : 16384;
		a = xmalloc(sizeof(*a) + size);
		a->size = size;
		a->used = 0;
		a->next = msg->arena;
		msg->arena = a;
	}
	p = (char *)a->data + a->used;
	a->used += n;
	memset(p, 0, n);
	return p;
}

static slice_t arena_slice(struct mime_message *msg, slice_t s)
{
	char *p = arena_alloc(msg, s.len + 1);
	if (s.len > 0)
		memcpy(p, s.ptr, s.len);
	p[s.len] = '\0';
	return slice_make(p, s.len);
}

void mime_message_destroy(struct mime_message **msgp)
{
	struct mime_message *msg = *msgp;

	if (msg == NULL)
		return;
	while (msg->arena != NULL) {
		struct mime_arena *a = msg->arena;
		msg->arena = a->next;
		free(a);
	}
	free(msg);
	*msgp = NULL;
}

/* ---- header field values -------------------------------------------- */

static bool is_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 2045 5.1 token character */
static bool is_token_char(char c)
{
	return (unsigned char)c > 0x20 && c != 0x7f &&
		strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static size_t skip_cfws(slice_t s, size_t i)
{
	while (i < s.len) {
		if (is_lwsp(s.ptr[i])) {
			i++;
		} else if (s.ptr[i] == '(') {
			size_t depth = 0;
			for (; i < s.len; i++) {
				if (s.ptr[i] == '\\')
					i++;
				else if (s.ptr[i] == '(')
					depth++;
				else if (s.ptr[i] == ')' && --depth == 0)
					break;
			}
			if (i < s.len)
				i++;
		} else {
			break;
		}
	}
	return i;
}

static slice_t read_token(slice_t s, size_t *i)
{
	size_t start = *i = skip_cfws(s, *i);
	while (*i < s.len && is_token_char(s.ptr[*i]))
		(*i)++;
	return slice_make(s.ptr + start, *i - start);
}

/* Unfolded copy of a value for storing (mime.h: clipped). */
static slice_t store_unfolded(struct mime_message *msg, slice_t v)
{
	buf_t b;
	slice_t r;

	buf_init(&b, MIME_MAX_VALUE_LEN);
	if (v.len > MIME_MAX_VALUE_LEN * 2)
		v.len = MIME_MAX_VALUE_LEN * 2;
	if (rfc5322_unfold(v, false, &b) < 0) {
		/* too long: keep the first MIME_MAX_VALUE_LEN bytes */
		buf_t c;
		buf_init(&c, 0);
		(void)rfc5322_unfold(v, false, &c);
		buf_truncate(&c, MIME_MAX_VALUE_LEN);
		r = arena_slice(msg, buf_slice(&c));
		buf_free(&c);
	} else {
		r = arena_slice(msg, buf_slice(&b));
	}
	buf_free(&b);
	return r;
}

static void store_params(struct mime_message *msg, slice_t v,
			 struct mime_param **params_r, size_t *count_r)
{
	struct rfc2231_param *raw;
	size_t n = rfc2231_parse_params(v, &raw);

	*count_r = n;
	*params_r = NULL;
	if (n == 0)
		return;
	*params_r = arena_alloc(msg, n * sizeof(**params_r));
	for (size_t i = 0; i < n; i++) {
		(*params_r)[i].name = arena_slice(msg, slice_cstr(raw[i].name));
		(*params_r)[i].value = arena_slice(msg,
			slice_make(raw[i].value, raw[i].value_len));
		(*params_r)[i].extended = raw[i].extended;
	}
	rfc2231_params_free(&raw, n);
}

static void parse_content_type(struct mime_message *msg, struct mime_part *part,
			       slice_t v)
{
	size_t i = 0;
	slice_t type = read_token(v, &i), subtype;

	i = skip_cfws(v, i);
	if (type.len == 0 || i >= v.len || v.ptr[i] != '/')
		return;	/* RFC 2045 5.2: invalid is as absent */
	i++;
	subtype = read_token(v, &i);
	if (subtype.len == 0)
		return;
	part->type = arena_slice(msg, type);
	part->subtype = arena_slice(msg, subtype);
	part->flags &= ~MIME_PART_DEFAULT_TYPE;
	store_params(msg, slice_make(v.ptr + i, v.len - i), &part->params,
		     &part->params_count);
}

static void parse_disposition(struct mime_message *msg, struct mime_part *part,
			      slice_t v)
{
	size_t i = 0;
	slice_t type = read_token(v, &i);

	if (type.len == 0)
		return;
	part->disposition = arena_slice(msg, type);
	store_params(msg, slice_make(v.ptr + i, v.len - i), &part->disp_params,
		     &part->disp_params_count);
}

/* RFC 3282 2: Language-List = Language-Tag [CFWS] *("," [CFWS] Language-Tag) */
static void parse_languages(struct mime_message *msg, struct mime_part *part,
			    slice_t v)
{
	slice_t tags[MIME_MAX_LANGUAGES];
	size_t n = 0, i = 0;

	while (i < v.len && n < MIME_MAX_LANGUAGES) {
		slice_t t = read_token(v, &i);
		if (t.len > 0)
			tags[n++] = t;
		i = skip_cfws(v, i);
		if (t.len == 0 || (i < v.len && v.ptr[i] != ','))
			while (i < v.len && v.ptr[i] != ',')
				i++;	/* garbage up to the next tag */
		if (i < v.len)
			i++;
	}
	if (n == 0)
		return;
	part->languages = arena_alloc(msg, n * sizeof(*tags));
	for (size_t k = 0; k < n; k++)
		part->languages[k] = arena_slice(msg, tags[k]);
	part->languages_count = n;
}

/* Fill the MIME fields of `part` from its parsed header. */
static void part_read_fields(struct mime_message *msg, struct mime_part *part,
			     const struct rfc5322_header *h, bool in_digest)
{
	part->flags |= MIME_PART_DEFAULT_TYPE;
	for (size_t i = 0; i < h->count; i++) {
		const struct rfc5322_field *f = &h->fields[i];
		slice_t name = rfc5322_field_name(h, f);
		slice_t v = rfc5322_field_value(h, f);

		if ((f->flags & RFC5322_FIELD_NO_COLON) != 0)
			continue;
		if (slice_eq_cstr_ci(name, "MIME-Version")) {
			part->flags |= MIME_PART_HAS_MIME_VERSION;
			continue;
		}
		if (!slice_starts_with_ci(name, "Content-"))
			continue;
		name = slice_sub(name, 8, name.len);
		if (slice_eq_cstr_ci(name, "Type")) {
			if ((part->flags & MIME_PART_DEFAULT_TYPE) != 0 &&
			    part->type.ptr == NULL)
				parse_content_type(msg, part, v);
		} else if (slice_eq_cstr_ci(name, "Transfer-Encoding")) {
			if (part->encoding.ptr == NULL) {
				part->encoding = store_unfolded(msg, v);
				part->encoding = slice_trim(part->encoding);
				part->cte = mime_cte_parse(part->encoding);
			}
		} else if (slice_eq_cstr_ci(name, "ID")) {
			if (part->id.ptr == NULL)
				part->id = store_unfolded(msg, v);
		} else if (slice_eq_cstr_ci(name, "Description")) {
			if (part->description.ptr == NULL)
				part->description = store_unfolded(msg, v);
		} else if (slice_eq_cstr_ci(name, "Disposition")) {
			if (part->disposition.ptr == NULL)
				parse_disposition(msg, part, v);
		} else if (slice_eq_cstr_ci(name, "Language")) {
			if (part->languages == NULL)
				parse_languages(msg, part, v);
		} else if (slice_eq_cstr_ci(name, "Location")) {
			if (part->location.ptr == NULL)
				part->location = store_unfolded(msg, v);
		} else if (slice_eq_cstr_ci(name, "MD5")) {
			if (part->md5.ptr == NULL)
				part->md5 = store_unfolded(msg, v);
		}
	}
	if (part->type.ptr == NULL) {
		/* RFC 2045 5.2, RFC 2046 5.1.5 */
		part->type = in_digest ? SLICE_LIT("message") : SLICE_LIT("text");
		part->subtype = in_digest ? SLICE_LIT("rfc822") : SLICE_LIT("plain");
	}
	if (part->encoding.ptr == NULL)
		part->cte = MIME_CTE_7BIT;
}

bool mime_part_is(const struct mime_part *part, const char *type,
		  const char *subtype)
{
	return slice_eq_cstr_ci(part->type, type) &&
		(subtype == NULL || slice_eq_cstr_ci(part->subtype, subtype));
}

const struct mime_param *mime_part_param(const struct mime_part *part,
					 const char *name)
{
	for (size_t i = 0; i < part->params_count; i++)
		if (slice_eq_cstr_ci(part->params[i].name, name))
			return &part->params[i];
	return NULL;
}

/* ---- structure ------------------------------------------------------ */

struct mime_frame {
	struct mime_part *part;
	slice_t boundary;	/* .len == 0: none or closed */
	uint64_t hash;
	size_t lf0, bare0;	/* counters at the part's body start */
	struct mime_part *tail;	/* last child so far */
};

struct mime_parser {
	struct mime_message *msg;
	const char *data;
	size_t size;
	struct mime_limits limits;
	struct mime_frame *stack;
	size_t depth;		/* frames in use */
	size_t active;		/* frames with a boundary */
	size_t pos;		/* start of the next line to look at */
	size_t lf, bare;	/* LFs (bare LFs) before pos */
	bool scan;		/* boundaries are still looked for */
	size_t after_close;	/* line start after a close delimiter */
};

static uint64_t hash_bytes(const char *p, size_t n)
{
	/* FNV-1a; only a filter before memcmp, so collisions cost time, not
	 * correctness, and at most max_depth compares per line */
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Is line (without its line break) a boundary of an open multipart?
 * Returns the frame index, or -1; *close_r for a close delimiter. */
static ssize_t boundary_match(const struct mime_parser *p, slice_t line,
			      bool *close_r)
{
	const char *c;
	size_t n;
	uint64_t h_full = 0, h_short = 0;
	bool hashed = false;

	if (p->active == 0 || line.len < 3 || line.ptr[0] != '-' ||
	    line.ptr[1] != '-')
		return -1;
	while (line.len > 2 && (line.ptr[line.len - 1] == ' ' ||
				line.ptr[line.len - 1] == '\t'))
		line.len--;
	c = line.ptr + 2;
	n = line.len - 2;
	for (size_t k = p->depth; k-- > 0; ) {
		const struct mime_frame *f = &p->stack[k];
		bool full = f->boundary.len == n;
		bool shrt = n >= 2 && f->boundary.len == n - 2 &&
			c[n - 2] == '-' && c[n - 1] == '-';

		if (f->boundary.len == 0 || (!full && !shrt))
			continue;
		if (!hashed) {
			h_full = hash_bytes(c, n);
			h_short = n >= 2 ? hash_bytes(c, n - 2) : 0;
			hashed = true;
		}
		if (full && f->hash == h_full &&
		    memcmp(c, f->boundary.ptr, n) == 0) {
			*close_r = false;
			return (ssize_t)k;
		}
		if (shrt && f->hash == h_short &&
		    memcmp(c, f->boundary.ptr, n - 2) == 0) {
			*close_r = true;
			return (ssize_t)k;
		}
	}
	return -1;
}

static bool header_stop(void *context, slice_t line)
{
	bool close;
	return boundary_match(context, line, &close) >= 0;
}

/* A new last child of the part open in `pf` (NULL for the root). */
static struct mime_part *part_new(struct mime_parser *p, struct mime_frame *pf)
{
	struct mime_part *part = arena_alloc(p->msg, sizeof(*part));

	if (pf != NULL) {
		part->parent = pf->part;
		part->depth = pf->part->depth + 1;
		if (pf->tail == NULL)
			pf->part->children = part;
		else
			pf->tail->next = part;
		pf->tail = part;
	}
	p->msg->part_count++;
	return part;
}

/* End the part at `end` (counters lf, bare there). If its header took the
 * line break that the boundary claims, it ends at its body start instead,
 * and the end is moved there for the enclosing parts too, so that a child
 * never reaches past its parent. */
static void part_close(struct mime_parser *p, struct mime_frame *f,
		       size_t *end, size_t *lf, size_t *bare)
{
	struct mime_part *part = f->part;

	if (*end < part->body_offset) {
		*end = part->body_offset;
		*lf = f->lf0;
		*bare = f->bare0;
	}
	part->body_size = *end - part->body_offset;
	part->body_lines = *lf - f->lf0;
	part->body_size_crlf = part->body_size + (*bare - f->bare0);
}

/* Parse the header at p->pos of a new part and open its frame; for an
 * embedded message, go on with the message's own header (a loop, not
 * recursion). */
static void part_begin(struct mime_parser *p, struct mime_part *part)
{
	for (;;) {
		struct rfc5322_header h;
		struct mime_frame *f;
		bool in_digest = part->parent != NULL &&
			(part->parent->flags & MIME_PART_MULTIPART) != 0 &&
			mime_part_is(part->parent, "multipart", "digest");
		bool at_limit = p->msg->part_count >= p->limits.max_parts;

		rfc5322_header_init(&h, &p->limits.header);
		if (p->active > 0)
			rfc5322_header_set_stop(&h, header_stop, p);
		(void)rfc5322_header_parse(&h, p->data + p->pos, p->size - p->pos, true);
		part->hdr_offset = p->pos;
		part->hdr_size = h.size;
		part->hdr_size_crlf = h.size + h.bare_lf;
		part->hdr_lines = h.lf_count;
		part->body_offset = p->pos + h.size;
		part_read_fields(p->msg, part, &h, in_digest);
		rfc5322_header_deinit(&h);
		p->pos += h.size;
		p->lf += h.lf_count;
		p->bare += h.bare_lf;

		f = &p->stack[p->depth++];
		memset(f, 0, sizeof(*f));
		f->part = part;
		f->lf0 = p->lf;
		f->bare0 = p->bare;

		if (at_limit) {
			/* mime.h: the last part allowed; nothing after it is
			 * looked into */
			part->flags |= MIME_PART_LIMIT;
			p->msg->limit_hit = true;
			p->scan = false;
			return;
		}
		if (mime_part_is(part, "multipart", NULL)) {
			const struct mime_param *b = mime_part_param(part, "boundary");
			part->flags |= MIME_PART_MULTIPART;
			if (part->depth + 1 >= p->limits.max_depth) {
				part->flags &= ~MIME_PART_MULTIPART;
				part->flags |= MIME_PART_LIMIT;
				p->msg->limit_hit = true;
			} else if (b != NULL && b->value.len > 0 &&
				   b->value.len <= MIME_MAX_BOUNDARY_LEN) {
				f->boundary = b->value;
				f->hash = hash_bytes(b->value.ptr, b->value.len);
				p->active++;
			}
			return;
		}
		if ((mime_part_is(part, "message", "rfc822") ||
		     mime_part_is(part, "message", "global")) &&
		    (part->cte == MIME_CTE_7BIT || part->cte == MIME_CTE_8BIT ||
		     part->cte == MIME_CTE_BINARY)) {
			if (part->depth + 1 >= p->limits.max_depth) {
				part->flags |= MIME_PART_LIMIT;
				p->msg->limit_hit = true;
				return;
			}
			part->flags |= MIME_PART_MESSAGE;
			part = part_new(p, f);
			continue;
		}
		return;
	}
}

/* Close frames above `keep` at the line starting at `ls`. */
static void close_above(struct mime_parser *p, size_t keep, size_t ls)
{
	size_t end = ls, lf = p->lf, bare = p->bare;

	/* RFC 2046 5.1.1: the CRLF before the boundary is part of it, unless
	 * it ends a close delimiter line (as Dovecot reads "--in--\n--out") */
	if (ls > 0 && p->data[ls - 1] == '\n' && ls != p->after_close) {
		end--;
		lf--;
		if (ls > 1 && p->data[ls - 2] == '\r')
			end--;
		else
			bare--;
	}
	while (p->depth > keep + 1) {
		struct mime_frame *f = &p->stack[--p->depth];
		if (f->boundary.len > 0)
			p->active--;
		part_close(p, f, &end, &lf, &bare);
	}
}

static void count_rest(struct mime_parser *p)
{
	const char *s = p->data + p->pos, *e = p->data + p->size;

	while (s < e) {
		const char *lf = memchr(s, '\n', (size_t)(e - s));
		if (lf == NULL)
			break;
		p->lf++;
		if (lf == p->data || lf[-1] != '\r')
			p->bare++;
		s = lf + 1;
	}
	p->pos = p->size;
}

struct mime_message *mime_parse(const char *data, size_t size,
				const struct mime_limits *limits)
{
	struct mime_message *msg = xcalloc(1, sizeof(*msg));
	struct mime_parser p;

	memset(&p, 0, sizeof(p));
	msg->data = data;
	msg->size = size;
	p.msg = msg;
	p.data = data;
	p.size = size;
	p.scan = true;
	if (limits != NULL)
		p.limits = *limits;
	if (p.limits.max_depth == 0)
		p.limits.max_depth = MIME_DEFAULT_MAX_DEPTH;
	if (p.limits.max_parts == 0)
		p.limits.max_parts = MIME_DEFAULT_MAX_PARTS;
	p.stack = xcalloc(p.limits.max_depth + 2, sizeof(*p.stack));

	msg->root = part_new(&p, NULL);
	part_begin(&p, msg->root);

	while (p.pos < p.size) {
		size_t ls = p.pos, next, le;
		const char *nl;
		ssize_t k;
		bool close;

		if (!p.scan || p.active == 0) {
			/* nothing can end a part before the end */
			count_rest(&p);
			break;
		}
		nl = memchr(data + ls, '\n', size - ls);
		next = nl != NULL ? (size_t)(nl - data) + 1 : size;
		le = nl != NULL ? next - 1 : size;
		if (le > ls && data[le - 1] == '\r')
			le--;
		k = boundary_match(&p, slice_make(data + ls, le - ls), &close);
		if (k >= 0) {
			close_above(&p, (size_t)k, ls);
			if (close) {
				p.stack[k].boundary.len = 0;
				p.active--;
				p.after_close = next;
			}
		}
		if (nl != NULL) {
			p.lf++;
			if (le == next - 1)
				p.bare++;
		}
		p.pos = next;
		if (k >= 0 && !close) {
			/* RFC 2046 5.1.1: a body part follows the delimiter */
			struct mime_part *part = part_new(&p, &p.stack[k]);
			part_begin(&p, part);
		}
	}
	{
		size_t end = size, lf = p.lf, bare = p.bare;
		while (p.depth > 0)
			part_close(&p, &p.stack[--p.depth], &end, &lf, &bare);
	}
	free(p.stack);
	return msg;
}

const struct mime_part *mime_part_by_section(const struct mime_message *msg,
					     const uint32_t *nums, size_t n)
{
	const struct mime_part *part = msg->root;

	for (size_t i = 0; i < n && part != NULL; i++) {
		if ((part->flags & MIME_PART_MULTIPART) != 0) {
			uint32_t k = nums[i];
			part = k == 0 ? NULL : part->children;
			while (part != NULL && --k > 0)
				part = part->next;
		} else if (nums[i] != 1) {
			part = NULL;	/* only "1" in a non-multipart */
		}
		/* more numbers after a message/rfc822 part address the
		 * parts of the embedded message */
		if (part != NULL && i + 1 < n &&
		    (part->flags & MIME_PART_MESSAGE) != 0)
			part = part->children;
	}
	return part;
}
