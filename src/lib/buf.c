#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

slice_t slice_cstr(const char *s)
{
	return (slice_t){ s, s ? strlen(s) : 0 };
}

bool slice_eq(slice_t a, slice_t b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

bool slice_eq_ci(slice_t a, slice_t b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (ascii_lower(a.ptr[i]) != ascii_lower(b.ptr[i]))
			return false;
	return true;
}

bool slice_eq_cstr(slice_t a, const char *s)
{
	return slice_eq(a, slice_cstr(s));
}

bool slice_eq_cstr_ci(slice_t a, const char *s)
{
	return slice_eq_ci(a, slice_cstr(s));
}

bool slice_starts_with_ci(slice_t a, const char *prefix)
{
	size_t n = strlen(prefix);
	return a.len >= n && slice_eq_ci(slice_make(a.ptr, n), slice_make(prefix, n));
}

static bool is_trim(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

slice_t slice_trim(slice_t s)
{
	while (s.len > 0 && is_trim(s.ptr[0])) {
		s.ptr++;
		s.len--;
	}
	while (s.len > 0 && is_trim(s.ptr[s.len - 1]))
		s.len--;
	return s;
}

slice_t slice_sub(slice_t s, size_t off, size_t len)
{
	if (off > s.len)
		off = s.len;
	if (len > s.len - off)
		len = s.len - off;
	return (slice_t){ s.ptr + off, len };
}

ssize_t slice_find(slice_t s, char c)
{
	const char *p = s.len ? memchr(s.ptr, c, s.len) : NULL;
	return p ? (ssize_t)(p - s.ptr) : -1;
}

bool slice_split(slice_t s, char c, slice_t *head, slice_t *tail)
{
	ssize_t i = slice_find(s, c);
	if (i < 0) {
		*head = s;
		*tail = (slice_t){ s.ptr + s.len, 0 };
		return false;
	}
	*head = (slice_t){ s.ptr, (size_t)i };
	*tail = (slice_t){ s.ptr + i + 1, s.len - (size_t)i - 1 };
	return true;
}

int slice_to_u64(slice_t s, uint64_t *out_r)
{
	uint64_t v = 0;
	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];
		if (c < '0' || c > '9')
			return -1;
		unsigned d = (unsigned)(c - '0');
		/* digit-by-digit overflow check */
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out_r = v;
	return 0;
}

char *slice_dup(slice_t s)
{
	char *p = xmalloc(s.len + 1);
	if (s.len)
		memcpy(p, s.ptr, s.len);
	p[s.len] = '\0';
	return p;
}

void buf_init(buf_t *b, size_t max)
{
	b->data = NULL;
	b->used = 0;
	b->alloc = 0;
	b->max = max ? max : SIZE_MAX - 1;
}

void buf_free(buf_t *b)
{
	free(b->data);
	b->data = NULL;
	b->used = 0;
	b->alloc = 0;
}

void buf_free_secret(buf_t *b)
{
	if (b->data)
		explicit_bzero(b->data, b->alloc);
	buf_free(b);
}

void buf_reset(buf_t *b)
{
	b->used = 0;
	if (b->data)
		b->data[0] = '\0';
}

int buf_reserve(buf_t *b, size_t n)
{
	if (n > b->max || b->used > b->max - n)
		return -1;
	size_t need = b->used + n + 1;	/* +1 for the safety NUL */
	if (need <= b->alloc)
		return 0;
	size_t na = b->alloc ? b->alloc : 64;
	while (na < need)
		na = na > SIZE_MAX / 2 ? need : na * 2;
	b->data = xrealloc(b->data, na);
	b->alloc = na;
	return 0;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->used, p, n);
	b->used += n;
	b->data[b->used] = '\0';
	return 0;
}

int buf_append_slice(buf_t *b, slice_t s)
{
	return buf_append(b, s.ptr, s.len);
}

int buf_append_cstr(buf_t *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_byte(buf_t *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->used, (size_t)n + 1, fmt, ap);
	b->used += (size_t)n;
	return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void buf_consume(buf_t *b, size_t n)
{
	if (n >= b->used) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->used - n);
	b->used -= n;
	b->data[b->used] = '\0';
}

void buf_truncate(buf_t *b, size_t len)
{
	if (len < b->used) {
		b->used = len;
		b->data[len] = '\0';
	}
}

const char *buf_cstr(buf_t *b)
{
	if (b->data == NULL)
		return "";
	return b->data;
}
