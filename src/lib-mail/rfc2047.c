/*
 * RFC 2047 encoded words, RFC 2045 5.1 / RFC 2231 parameters, and charset
 * conversion to UTF-8 with iconv. See rfc2047.h for the decisions.
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime-decode.h"
#include "rfc2047.h"
#include "xalloc.h"

/* ---- UTF-8 ---------------------------------------------------------- */

static const char utf8_replacement[] = "\xEF\xBF\xBD";	/* U+FFFD */

/* Length of the valid UTF-8 sequence at p (RFC 3629 4), or 0. */
static size_t utf8_seq_len(const unsigned char *p, size_t len)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;	/* no overlongs */
		else if (c == 0xED)
			hi = 0x9F;	/* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;	/* <= U+10FFFF */
	} else
		return 0;
	if (len < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

int rfc2047_utf8_sanitize(slice_t in, buf_t *out)
{
	const unsigned char *p = (const unsigned char *)in.ptr;
	size_t i = 0, run = 0;

	while (i < in.len) {
		size_t n = utf8_seq_len(p + i, in.len - i);
		if (n > 0) {
			i += n;
			continue;
		}
		if (buf_append(out, p + run, i - run) < 0 ||
		    buf_append(out, utf8_replacement, 3) < 0)
			return -1;
		run = ++i;
	}
	return buf_append(out, p + run, i - run);
}

/* ---- charset conversion --------------------------------------------- */

/* Conversions opened during one call, so that a header alternating
 * charsets costs at most RFC2047_MAX_CHARSETS iconv_open calls. */
struct conv_cache {
	char name[RFC2047_MAX_CHARSET_LEN + 1];
	iconv_t cd;
	bool valid;	/* name is cached: cd usable, or known unknown */
	bool known;
	unsigned int opens;
};

static bool charset_is_utf8(const char *cs)
{
	return strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0 ||
		strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0 ||
		cs[0] == '\0';
}

static void conv_cache_clear(struct conv_cache *c)
{
	if (c->valid && c->known)
		iconv_close(c->cd);
	c->valid = false;
}

/* Is `cs` convertible? Opens (and caches) the conversion if needed. */
static bool conv_cache_get(struct conv_cache *c, const char *cs)
{
	if (charset_is_utf8(cs))
		return true;
	if (c->valid && strcasecmp(c->name, cs) == 0)
		return c->known;
	conv_cache_clear(c);
	if (c->opens >= RFC2047_MAX_CHARSETS || strlen(cs) >= sizeof(c->name))
		return false;
	c->opens++;
	strcpy(c->name, cs);
	c->valid = true;
	c->cd = iconv_open("UTF-8", cs);
	c->known = c->cd != (iconv_t)-1;
	return c->known;
}

static int iconv_convert(iconv_t cd, slice_t in, buf_t *out)
{
	char chunk[4096];
	char *ip = (char *)in.ptr;
	size_t ileft = in.len;

	iconv(cd, NULL, NULL, NULL, NULL);
	while (ileft > 0) {
		char *op = chunk;
		size_t oleft = sizeof(chunk);
		size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
		int err = errno;

		if (buf_append(out, chunk, (size_t)(op - chunk)) < 0)
			return -1;
		if (r != (size_t)-1)
			continue;
		if (err == E2BIG)
			continue;
		/* EILSEQ: skip one byte; EINVAL: truncated at the end */
		if (buf_append(out, utf8_replacement, 3) < 0)
			return -1;
		if (err == EINVAL)
			break;
		ip++;
		ileft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	/* flush any shift state (ISO-2022-JP) */
	{
		char *op = chunk;
		size_t oleft = sizeof(chunk);
		iconv(cd, NULL, NULL, &op, &oleft);
		if (buf_append(out, chunk, (size_t)(op - chunk)) < 0)
			return -1;
	}
	return 0;
}

/* Copy the charset name, dropping an RFC 2231 5 "*language" suffix. */
static void charset_copy(char *dst, size_t dstsize, slice_t cs)
{
	ssize_t star = slice_find(cs, '*');
	if (star >= 0)
		cs.len = (size_t)star;
	if (cs.len >= dstsize)
		cs.len = dstsize - 1;
	memcpy(dst, cs.ptr, cs.len);
	dst[cs.len] = '\0';
}

static int convert_cached(struct conv_cache *c, const char *cs, slice_t in,
			  buf_t *out)
{
	if (charset_is_utf8(cs))
		return rfc2047_utf8_sanitize(in, out);
	if (!conv_cache_get(c, cs))
		return -2;
	return iconv_convert(c->cd, in, out);
}

int rfc2047_charset_to_utf8(const char *charset, slice_t in, buf_t *out)
{
	struct conv_cache c = { .valid = false };
	char cs[RFC2047_MAX_CHARSET_LEN + 1];
	int r;

	if (charset == NULL)
		charset = "";
	if (strlen(charset) > RFC2047_MAX_CHARSET_LEN)
		return -2;
	charset_copy(cs, sizeof(cs), slice_cstr(charset));
	r = convert_cached(&c, cs, in, out);
	conv_cache_clear(&c);
	return r;
}

/* ---- encoded words (RFC 2047) --------------------------------------- */

static bool is_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct encoded_word {
	slice_t charset;
	char encoding;		/* 'B' or 'Q' */
	slice_t text;
	size_t end;		/* offset just after "?=" */
};

/* Parse an encoded word at in[p] == "=?". On failure returns false and
 * sets *resume_r to where the search for the next "=?" may continue
 * without missing one (text and charset cannot contain '?'). */
static bool encoded_word_parse(slice_t in, size_t p, struct encoded_word *w,
			       size_t *resume_r)
{
	size_t i = p + 2, start = i;

	*resume_r = p + 2;
	while (i < in.len && in.ptr[i] != '?' && !is_lwsp(in.ptr[i]) &&
	       (unsigned char)in.ptr[i] > 0x20 && (unsigned char)in.ptr[i] < 0x7f &&
	       i - start <= RFC2047_MAX_CHARSET_LEN)
		i++;
	if (i == start || i + 2 >= in.len || in.ptr[i] != '?' ||
	    i - start > RFC2047_MAX_CHARSET_LEN)
		return false;
	w->charset = slice_make(in.ptr + start, i - start);
	w->encoding = (char)(in.ptr[i + 1] & ~0x20);
	if ((w->encoding != 'B' && w->encoding != 'Q') || in.ptr[i + 2] != '?')
		return false;
	i += 3;
	start = i;
	while (i < in.len && in.ptr[i] != '?' && !is_lwsp(in.ptr[i]))
		i++;
	if (i + 1 >= in.len || in.ptr[i] != '?' || in.ptr[i + 1] != '=') {
		*resume_r = i > start ? i - 1 : start;
		return false;
	}
	w->text = slice_make(in.ptr + start, i - start);
	w->end = i + 2;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c & ~0x20);
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 2047 4.2: "_" is space, "=XX" a byte, everything else itself. */
static int q_decode(slice_t text, buf_t *out)
{
	for (size_t i = 0; i < text.len; i++) {
		char c = text.ptr[i];
		if (c == '_')
			c = ' ';
		else if (c == '=' && i + 2 < text.len &&
			 hexval(text.ptr[i + 1]) >= 0 &&
			 hexval(text.ptr[i + 2]) >= 0) {
			c = (char)(hexval(text.ptr[i + 1]) << 4 | hexval(text.ptr[i + 2]));
			i += 2;
		}
		if (buf_append_byte(out, c) < 0)
			return -1;
	}
	return 0;
}

/* Append literal header text, unfolding (RFC 5322 2.2.3: CR and LF go). */
static int append_unfolded(buf_t *out, slice_t s)
{
	size_t run = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (s.ptr[i] != '\r' && s.ptr[i] != '\n')
			continue;
		if (buf_append(out, s.ptr + run, i - run) < 0)
			return -1;
		run = i + 1;
	}
	return buf_append(out, s.ptr + run, s.len - run);
}

static bool all_lwsp(slice_t s)
{
	for (size_t i = 0; i < s.len; i++)
		if (!is_lwsp(s.ptr[i]))
			return false;
	return true;
}

struct ew_pending {
	buf_t bytes;	/* decoded bytes of adjacent words in one charset */
	char charset[RFC2047_MAX_CHARSET_LEN + 1];
};

static int ew_flush(struct conv_cache *c, struct ew_pending *pend, buf_t *out)
{
	int r = 0;

	if (pend->bytes.used > 0) {
		r = convert_cached(c, pend->charset, buf_slice(&pend->bytes), out);
		if (r == -2)	/* checked before decoding; cannot happen */
			r = rfc2047_utf8_sanitize(buf_slice(&pend->bytes), out);
	}
	buf_reset(&pend->bytes);
	return r;
}

int rfc2047_decode(slice_t in, buf_t *out)
{
	struct conv_cache cache = { .valid = false };
	struct ew_pending pend;
	size_t i = 0, lit = 0;
	bool prev_word = false;
	int r = 0;

	buf_init(&pend.bytes, 0);
	pend.charset[0] = '\0';
	while (r == 0 && i + 1 < in.len) {
		const char *q = memmem(in.ptr + i, in.len - i, "=?", 2);
		struct encoded_word w;
		char cs[RFC2047_MAX_CHARSET_LEN + 1];
		size_t resume;
		slice_t between;

		if (q == NULL)
			break;
		i = (size_t)(q - in.ptr);
		if (!encoded_word_parse(in, i, &w, &resume)) {
			i = resume;
			continue;
		}
		charset_copy(cs, sizeof(cs), w.charset);
		if (!charset_is_utf8(cs) && !conv_cache_get(&cache, cs)) {
			i = w.end;	/* unknown charset: stays literal text */
			continue;
		}
		between = slice_make(in.ptr + lit, i - lit);
		if (!(prev_word && all_lwsp(between))) {
			/* RFC 2047 6.2: only space between words is dropped */
			r = ew_flush(&cache, &pend, out);
			if (r == 0)
				r = append_unfolded(out, between);
		}
		if (r == 0 && strcasecmp(cs, pend.charset) != 0) {
			r = ew_flush(&cache, &pend, out);
			strcpy(pend.charset, cs);
		}
		if (r == 0) {
			if (w.encoding == 'B')
				r = mime_decode(MIME_CTE_BASE64, w.text.ptr, w.text.len,
						&pend.bytes, NULL);
			else
				r = q_decode(w.text, &pend.bytes);
		}
		prev_word = true;
		i = lit = w.end;
	}
	if (r == 0)
		r = ew_flush(&cache, &pend, out);
	if (r == 0)
		r = append_unfolded(out, slice_make(in.ptr + lit, in.len - lit));
	buf_free(&pend.bytes);
	conv_cache_clear(&cache);
	return r < 0 ? -1 : 0;
}

/* ---- parameters (RFC 2045 5.1, RFC 2231) ----------------------------- */

struct raw_param {
	size_t order;		/* position in the header */
	slice_t name;		/* base name, no "*N" / "*" */
	long section;		/* -1 when not sectioned */
	bool extended;
	buf_t value;
};

/* Skip a comment at in[i] == '(' (nested; RFC 5322 3.2.2). */
static size_t skip_comment(slice_t in, size_t i)
{
	size_t depth = 0;

	for (; i < in.len; i++) {
		if (in.ptr[i] == '\\')
			i++;
		else if (in.ptr[i] == '(')
			depth++;
		else if (in.ptr[i] == ')' && --depth == 0)
			return i + 1;
	}
	return in.len;
}

static size_t skip_quoted(slice_t in, size_t i)
{
	for (i++; i < in.len; i++) {
		if (in.ptr[i] == '\\')
			i++;
		else if (in.ptr[i] == '"')
			return i + 1;
	}
	return in.len;
}

static size_t skip_cfws(slice_t in, size_t i)
{
	while (i < in.len) {
		if (is_lwsp(in.ptr[i]))
			i++;
		else if (in.ptr[i] == '(')
			i = skip_comment(in, i);
		else
			break;
	}
	return i;
}

/* Find the next ';' at or after i outside quotes and comments. */
static size_t next_semicolon(slice_t in, size_t i)
{
	while (i < in.len && in.ptr[i] != ';') {
		if (in.ptr[i] == '"')
			i = skip_quoted(in, i);
		else if (in.ptr[i] == '(')
			i = skip_comment(in, i);
		else
			i++;
	}
	return i;
}

static bool is_name_char(char c)
{
	return !is_lwsp(c) && c != '=' && c != ';' && c != '(' && c != '"' &&
		(unsigned char)c > 0x20 && c != 0x7f;
}

/* Split "name*N*" into base name, section and extended flag. */
static void param_name_split(struct raw_param *p)
{
	slice_t n = p->name;
	size_t j;

	p->section = -1;
	p->extended = false;
	if (n.len > 1 && n.ptr[n.len - 1] == '*') {
		p->extended = true;
		n.len--;
	}
	j = n.len;
	while (j > 0 && n.ptr[j - 1] >= '0' && n.ptr[j - 1] <= '9')
		j--;
	if (j < n.len && j > 1 && n.ptr[j - 1] == '*' && n.len - j <= 5 &&
	    (n.ptr[j] != '0' || n.len - j == 1)) {
		long sec = 0;
		for (size_t k = j; k < n.len; k++)
			sec = sec * 10 + (n.ptr[k] - '0');
		if (sec <= RFC2231_MAX_SECTION) {
			p->section = sec;
			n.len = j - 1;
		}
	}
	p->name = n;
}

/* Parse one "name=value" at in[i]; returns the offset after it. */
static size_t param_parse_one(slice_t in, size_t i, struct raw_param *p,
			      bool *ok_r)
{
	size_t start;

	*ok_r = false;
	i = skip_cfws(in, i);
	start = i;
	while (i < in.len && is_name_char(in.ptr[i]))
		i++;
	if (i == start)
		return i;
	p->name = slice_make(in.ptr + start, i - start);
	i = skip_cfws(in, i);
	if (i >= in.len || in.ptr[i] != '=')
		return i;
	i = skip_cfws(in, i + 1);
	buf_init(&p->value, 0);
	if (i < in.len && in.ptr[i] == '"') {
		for (i++; i < in.len && in.ptr[i] != '"'; i++) {
			if (in.ptr[i] == '\r' || in.ptr[i] == '\n')
				continue;	/* unfold */
			if (in.ptr[i] == '\\' && i + 1 < in.len)
				i++;
			buf_append_byte(&p->value, in.ptr[i]);
		}
		if (i < in.len)
			i++;
	} else {
		start = i;
		while (i < in.len && in.ptr[i] != ';' && !is_lwsp(in.ptr[i]))
			i++;
		buf_append(&p->value, in.ptr + start, i - start);
	}
	param_name_split(p);
	*ok_r = p->name.len > 0;
	if (!*ok_r)
		buf_free(&p->value);
	return i;
}

static int raw_param_cmp(const void *a, const void *b)
{
	const struct raw_param *x = *(const struct raw_param *const *)a;
	const struct raw_param *y = *(const struct raw_param *const *)b;
	size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
	int c = strncasecmp(x->name.ptr, y->name.ptr, n);

	if (c != 0)
		return c;
	if (x->name.len != y->name.len)
		return x->name.len < y->name.len ? -1 : 1;
	if ((x->section < 0) != (y->section < 0))
		return x->section < 0 ? -1 : 1;
	if (x->section != y->section)
		return x->section < y->section ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static bool is_attr_char(unsigned char c)
{
	/* RFC 2231 7 attribute-char: token chars except '*', '\'', '%' */
	return c > 0x20 && c < 0x7f && strchr("*'%()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Append a plain section to an extended value, percent-escaping it. */
static void append_pct_escaped(buf_t *dst, slice_t s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (is_attr_char(c)) {
			buf_append_byte(dst, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			buf_append(dst, e, 3);
		}
	}
}

static void append_pct_decoded(buf_t *dst, slice_t s)
{
	for (size_t i = 0; i < s.len; i++) {
		if (s.ptr[i] == '%' && i + 2 < s.len &&
		    hexval(s.ptr[i + 1]) >= 0 && hexval(s.ptr[i + 2]) >= 0) {
			buf_append_byte(dst, (char)(hexval(s.ptr[i + 1]) << 4 |
						    hexval(s.ptr[i + 2])));
			i += 2;
		} else {
			buf_append_byte(dst, s.ptr[i]);
		}
	}
}

struct joined_param {
	size_t order;
	bool rfc2231;	/* sectioned or extended: sorted after the others */
	struct rfc2231_param p;
};

static int joined_cmp(const void *a, const void *b)
{
	const struct joined_param *x = a, *y = b;
	if (x->rfc2231 != y->rfc2231)
		return x->rfc2231 ? 1 : -1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void joined_set(struct joined_param *j, const struct raw_param *first,
		       buf_t *value, bool extended)
{
	j->order = first->order;
	j->p.name = slice_dup(first->name);
	j->p.value_len = value->used;
	j->p.value = xmalloc(value->used + 1);
	memcpy(j->p.value, value->data ? value->data : "", value->used);
	j->p.value[value->used] = '\0';
	j->p.extended = extended;
	j->rfc2231 = extended || first->section >= 0;
}

size_t rfc2231_parse_params(slice_t in, struct rfc2231_param **params_r)
{
	struct raw_param *raw = NULL, **sorted;
	struct joined_param *joined;
	size_t nraw = 0, alloc = 0, njoined = 0, i = 0;

	*params_r = NULL;
	while ((i = next_semicolon(in, i)) < in.len && nraw < RFC2231_MAX_PARAMS) {
		struct raw_param p;
		bool ok;

		i = param_parse_one(in, i + 1, &p, &ok);
		if (!ok)
			continue;
		if (nraw == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			raw = xreallocarray(raw, alloc, sizeof(*raw));
		}
		p.order = nraw;
		raw[nraw++] = p;
	}
	if (nraw == 0)
		return 0;

	sorted = xreallocarray(NULL, nraw, sizeof(*sorted));
	for (i = 0; i < nraw; i++)
		sorted[i] = &raw[i];
	qsort(sorted, nraw, sizeof(*sorted), raw_param_cmp);

	joined = xcalloc(nraw, sizeof(*joined));
	for (i = 0; i < nraw; ) {
		struct raw_param *first = sorted[i];
		size_t g = i + 1;

		if (first->section < 0) {
			joined_set(&joined[njoined++], first, &first->value,
				   first->extended);
			i++;
			continue;
		}
		while (g < nraw && sorted[g]->section >= 0 &&
		       slice_eq_ci(sorted[g]->name, first->name))
			g++;
		if (first->section == 0) {
			/* RFC 2231 3: join sections 0, 1, 2, ... in order */
			buf_t v;
			long want = 0;
			bool ext = first->extended;

			buf_init(&v, 0);
			for (size_t k = i; k < g; k++) {
				struct raw_param *s = sorted[k];
				if (s->section < want)
					continue;	/* duplicate section */
				if (s->section != want)
					break;		/* gap */
				if (!ext && s->extended)
					append_pct_decoded(&v, buf_slice(&s->value));
				else if (ext && !s->extended && k != i)
					append_pct_escaped(&v, buf_slice(&s->value));
				else
					buf_append_slice(&v, buf_slice(&s->value));
				want++;
			}
			joined_set(&joined[njoined++], first, &v, ext);
			buf_free(&v);
		}
		i = g;
	}
	qsort(joined, njoined, sizeof(*joined), joined_cmp);

	if (njoined > 0) {
		*params_r = xcalloc(njoined, sizeof(**params_r));
		for (i = 0; i < njoined; i++)
			(*params_r)[i] = joined[i].p;
	}
	for (i = 0; i < nraw; i++)
		buf_free(&raw[i].value);
	free(raw);
	free(sorted);
	free(joined);
	return njoined;
}

void rfc2231_params_free(struct rfc2231_param **params, size_t count)
{
	if (*params == NULL)
		return;
	for (size_t i = 0; i < count; i++) {
		free((*params)[i].name);
		free((*params)[i].value);
	}
	xfree(params);
}

const struct rfc2231_param *
rfc2231_param_find(const struct rfc2231_param *params, size_t count,
		   const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (strcasecmp(params[i].name, name) == 0)
			return &params[i];
	return NULL;
}

int rfc2231_param_decode(const struct rfc2231_param *param, buf_t *out)
{
	slice_t v = slice_make(param->value, param->value_len);
	char cs[RFC2047_MAX_CHARSET_LEN + 1];
	slice_t charset, rest;
	buf_t bytes;
	int r;

	if (!param->extended)
		return rfc2047_decode(v, out);
	/* RFC 2231 4: charset'language'percent-encoded-octets */
	if (slice_split(v, '\'', &charset, &rest)) {
		slice_t lang;
		if (!slice_split(rest, '\'', &lang, &rest)) {
			rest = v;
			charset = slice_make("", 0);
		}
	} else {
		charset = slice_make("", 0);
		rest = v;
	}
	buf_init(&bytes, 0);
	append_pct_decoded(&bytes, rest);
	if (charset.len > RFC2047_MAX_CHARSET_LEN)
		charset.len = 0;
	charset_copy(cs, sizeof(cs), charset);
	r = rfc2047_charset_to_utf8(cs, buf_slice(&bytes), out);
	if (r == -2)
		r = rfc2047_utf8_sanitize(buf_slice(&bytes), out);
	buf_free(&bytes);
	return r < 0 ? -1 : 0;
}
