#ifndef YOUJU_BUF_H
#define YOUJU_BUF_H
/*
 * buf_t: the one growable byte buffer; slice_t: the one non-owning byte view.
 *
 * A buf is binary-safe, always keeps a NUL after its last byte (a safety net,
 * not a terminator: data may contain NULs), and has a hard maximum size.
 * Appending past the maximum fails with -1 and leaves the buffer unchanged;
 * allocation failure aborts (see xalloc.h), so callers never check for NULL.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdarg.h>
#include <sys/types.h>

typedef struct {
	const char *ptr;
	size_t len;
} slice_t;

typedef struct {
	char *data;	/* data[used] == '\0' always (when data != NULL) */
	size_t used;
	size_t alloc;
	size_t max;	/* hard limit on used; 0 means SIZE_MAX */
} buf_t;

#define SLICE_LIT(s) ((slice_t){ (s), sizeof(s) - 1 })
#define SLICE_FMT "%.*s"
#define SLICE_ARG(s) (int)(s).len, (s).ptr

static inline slice_t slice_make(const void *p, size_t len)
{
	return (slice_t){ (const char *)p, len };
}
slice_t slice_cstr(const char *s);
bool slice_eq(slice_t a, slice_t b);
bool slice_eq_ci(slice_t a, slice_t b);		/* ASCII case-insensitive */
bool slice_eq_cstr(slice_t a, const char *s);
bool slice_eq_cstr_ci(slice_t a, const char *s);
bool slice_starts_with_ci(slice_t a, const char *prefix);
slice_t slice_trim(slice_t s);			/* strip ASCII space/tab/CR/LF */
slice_t slice_sub(slice_t s, size_t off, size_t len);	/* clamped */
/* Index of first c in s, or -1. */
ssize_t slice_find(slice_t s, char c);
/* Split at first c: *head = before, *tail = after. Returns false if c absent
 * (then *head = s, *tail = empty). */
bool slice_split(slice_t s, char c, slice_t *head, slice_t *tail);
/* Parse an unsigned decimal with overflow checks; whole slice must be digits. */
int slice_to_u64(slice_t s, uint64_t *out_r);
/* Returns a malloc'd NUL-terminated copy (xalloc semantics). */
char *slice_dup(slice_t s);

void buf_init(buf_t *b, size_t max);
void buf_free(buf_t *b);			/* frees memory, keeps max; reusable */
void buf_reset(buf_t *b);			/* used = 0, keeps memory */
/* Make room for n more bytes; -1 if used + n would exceed max. */
int buf_reserve(buf_t *b, size_t n);
int buf_append(buf_t *b, const void *p, size_t n);
int buf_append_slice(buf_t *b, slice_t s);
int buf_append_cstr(buf_t *b, const char *s);
int buf_append_byte(buf_t *b, char c);
int buf_printf(buf_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Remove the first n bytes (n clamped to used). */
void buf_consume(buf_t *b, size_t n);
void buf_truncate(buf_t *b, size_t len);
static inline slice_t buf_slice(const buf_t *b)
{
	return (slice_t){ b->data ? b->data : "", b->used };
}
/* NUL-terminated view of the contents (valid until next modification). */
const char *buf_cstr(buf_t *b);
/* Wipe the contents with explicit_bzero, then free (for secrets). */
void buf_free_secret(buf_t *b);

#endif
