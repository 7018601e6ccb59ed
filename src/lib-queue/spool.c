/*
 * Spool: the queue's durable message files. Format and contract in spool.h.
 *
 * The commit path is the one place where "250" is earned: content and trailer
 * are written, the file is fsync'd, renamed from incoming/ into queue/ and the
 * queue/ directory is fsync'd (reliability anchors DUR-1, DUR-6, DUR-7). Any
 * failure on that path removes the file so nothing half-visible remains.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "spool.h"
#include "xalloc.h"

#define SPOOL_IOBUF_SIZE (64 * 1024)
#define SPOOL_MAGIC "YOUJU-SPOOL 1"
#define SPOOL_MAGIC_PREFIX "YOUJU-SPOOL "
#define SPOOL_END_TAG ".YOUJU-END"
#define SPOOL_SHA256_LEN 32
#define SPOOL_HASH_HEX_LEN (SPOOL_SHA256_LEN * 2)
/* "\n.YOUJU-END " + 20 digits + " " + 64 hex + "\n" */
#define SPOOL_TRAILER_MAX (1 + sizeof(SPOOL_END_TAG) + 20 + 1 + SPOOL_HASH_HEX_LEN + 1)
#define SPOOL_STATE_MAX (16u * 1024 * 1024)
#define SPOOL_STATE_SUFFIX ".state"
#define SPOOL_ID_ATTEMPTS 10
#define SPOOL_QUARANTINE_ATTEMPTS 1000

/* Internal outcome of validating a file: malformed content is quarantined by
 * recovery, an I/O error is not (the disk may come back). */
enum spool_check { SPOOL_CHECK_OK = 0, SPOOL_CHECK_BAD = -1, SPOOL_CHECK_IO = -2 };

struct spool_writer {
	int fd;
	char id[SPOOL_ID_LEN + 1];
	char *incoming_path, *queue_path, *queue_dir;
	unsigned char *iobuf;
	size_t iobuf_used;
	EVP_MD_CTX *md;
	uint64_t content_len;
	char *error;		/* first error, sticky */
};

static struct spool_io_hooks spool_hooks;

/* ---- errors and system call wrappers ---- */

static char * __attribute__((format(printf, 1, 0)))
spool_vfmt(const char *fmt, va_list ap)
{
	buf_t b;

	buf_init(&b, 0);
	if (buf_vprintf(&b, fmt, ap) < 0 || b.data == NULL)
		buf_append_cstr(&b, "error");
	return b.data;
}

static int __attribute__((format(printf, 2, 3)))
spool_fail(char **error_r, const char *fmt, ...)
{
	va_list ap;

	if (error_r == NULL)
		return -1;
	va_start(ap, fmt);
	*error_r = spool_vfmt(fmt, ap);
	va_end(ap);
	return -1;
}

void spool_set_io_hooks(const struct spool_io_hooks *hooks)
{
	spool_hooks = hooks ? *hooks : (struct spool_io_hooks){ NULL, NULL };
}

static ssize_t spool_sys_write(int fd, const void *p, size_t n)
{
	return spool_hooks.write ? spool_hooks.write(fd, p, n) : write(fd, p, n);
}

static int spool_sys_fsync(int fd)
{
	return spool_hooks.fsync ? spool_hooks.fsync(fd) : fsync(fd);
}

/* write(2) until done; 0, or -1 with errno. A zero-length write means no
 * space was found for the bytes. */
static int spool_write_full(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = spool_sys_write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* pread(2) until len bytes or EOF; bytes read, or -1 with errno. */
static ssize_t spool_pread_full(int fd, void *data, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)data + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* spool_fail for the validation functions, which also say what kind of
 * failure it was. */
static enum spool_check __attribute__((format(printf, 3, 4)))
spool_check_fail(enum spool_check kind, char **error_r, const char *fmt, ...)
{
	va_list ap;

	if (error_r != NULL) {
		va_start(ap, fmt);
		*error_r = spool_vfmt(fmt, ap);
		va_end(ap);
	}
	return kind;
}

/* fsync a directory so a rename/unlink/create in it survives a crash. */
static int spool_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret, saved;

	if (fd < 0)
		return -1;
	ret = spool_sys_fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

/* ---- envelope ---- */

void spool_envelope_free(struct spool_envelope *e)
{
	for (size_t i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].address);
		free(e->rcpts[i].orig);
		free(e->rcpts[i].orcpt);
	}
	free(e->rcpts);
	free(e->sender);
	free(e->client_ip);
	free(e->client_helo);
	free(e->client_name);
	free(e->tls);
	free(e->auth_user);
	free(e->envid);
	free(e->body);
	memset(e, 0, sizeof(*e));
}

void spool_envelope_add_rcpt(struct spool_envelope *e, const char *address, const char *orig,
			     const char *orcpt, unsigned notify, bool local)
{
	struct spool_rcpt *r;

	e->rcpts = xreallocarray(e->rcpts, e->nrcpts + 1, sizeof(*e->rcpts));
	r = &e->rcpts[e->nrcpts++];
	r->address = xstrdup(address);
	r->orig = xstrdup(orig);
	r->orcpt = orcpt ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	r->local = local;
}

/* Optional string fields, in the order they are written. */
static const struct spool_strfield {
	const char *key;
	size_t off;
} spool_strfields[] = {
	{ "client-ip", offsetof(struct spool_envelope, client_ip) },
	{ "client-helo", offsetof(struct spool_envelope, client_helo) },
	{ "client-name", offsetof(struct spool_envelope, client_name) },
	{ "tls", offsetof(struct spool_envelope, tls) },
	{ "auth-user", offsetof(struct spool_envelope, auth_user) },
	{ "envid", offsetof(struct spool_envelope, envid) },
	{ "body", offsetof(struct spool_envelope, body) },
};
#define SPOOL_NSTRFIELDS (sizeof(spool_strfields) / sizeof(spool_strfields[0]))

static char **spool_strfield_ptr(const struct spool_envelope *e, size_t i)
{
	return (char **)((char *)e + spool_strfields[i].off);
}

/* ---- ids ---- */

bool spool_id_is_valid(const char *id)
{
	size_t i;

	if (id == NULL)
		return false;
	for (i = 0; i < SPOOL_ID_LEN; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return id[i] == '\0';
}

/* 13 hex digits of microseconds, kept strictly increasing in this process
 * so two ids from one process never share a prefix, then 12 random bits so
 * processes (or a clock stepped back across a restart) rarely collide. */
static void spool_id_generate(char id[SPOOL_ID_LEN + 1])
{
	static uint64_t last_usec;
	struct timespec ts;
	uint64_t usec;
	uint16_t rnd;

	clock_gettime(CLOCK_REALTIME, &ts);
	usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (usec <= last_usec)
		usec = last_usec + 1;
	last_usec = usec;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint16_t)(usec ^ (uint64_t)getpid());
	snprintf(id, SPOOL_ID_LEN + 1, "%013" PRIx64 "%03x",
		 usec & ((UINT64_C(1) << 52) - 1), (unsigned)rnd & 0xfffu);
}

/* ---- value encoding (see spool.h) ---- */

static bool spool_must_escape(unsigned char c, size_t pos)
{
	return c <= 0x20 || c >= 0x7f || c == '%' || (pos == 0 && c == '-');
}

static void spool_encode(buf_t *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	if (*s == '\0') {
		buf_append_byte(b, '%');
		return;
	}
	for (size_t i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!spool_must_escape(c, i)) {
			buf_append_byte(b, (char)c);
			continue;
		}
		buf_append_byte(b, '%');
		buf_append_byte(b, hex[c >> 4]);
		buf_append_byte(b, hex[c & 15]);
	}
}

static void spool_encode_opt(buf_t *b, const char *s)
{
	if (s == NULL)
		buf_append_byte(b, '-');
	else
		spool_encode(b, s);
}

static int spool_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Strict inverse of spool_encode[_opt]: only the canonical encoding of a
 * string is accepted. 0 with *out_r malloc'd (NULL for "-" if nullable). */
static int spool_decode(slice_t tok, bool nullable, char **out_r)
{
	buf_t b;

	*out_r = NULL;
	if (slice_eq_cstr(tok, "-"))
		return nullable ? 0 : -1;
	if (slice_eq_cstr(tok, "%")) {
		*out_r = xstrdup("");
		return 0;
	}
	if (tok.len == 0)
		return -1;
	buf_init(&b, 0);
	for (size_t i = 0; i < tok.len; i++) {
		unsigned char c = (unsigned char)tok.ptr[i];
		if (c == '%') {
			int hi = i + 2 < tok.len ? spool_hexval(tok.ptr[i + 1]) : -1;
			int lo = hi >= 0 ? spool_hexval(tok.ptr[i + 2]) : -1;
			if (lo < 0)
				goto bad;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			/* only bytes that must be escaped may be */
			if (c == 0 || !spool_must_escape(c, b.used))
				goto bad;
		} else if (spool_must_escape(c, b.used)) {
			goto bad;
		}
		buf_append_byte(&b, (char)c);
	}
	*out_r = b.data;
	return 0;
bad:
	buf_free(&b);
	return -1;
}

/* Canonical unsigned decimal: digits only, no leading zero, <= max. */
static int spool_parse_uint(slice_t s, uint64_t max, uint64_t *out_r)
{
	uint64_t v;

	if (s.len > 1 && s.ptr[0] == '0')
		return -1;
	if (slice_to_u64(s, &v) < 0 || v > max)
		return -1;
	*out_r = v;
	return 0;
}

/* Canonical signed decimal ("-0" is not canonical). */
static int spool_parse_int64(slice_t s, int64_t *out_r)
{
	uint64_t v;

	if (s.len > 0 && s.ptr[0] == '-') {
		s = slice_sub(s, 1, s.len - 1);
		if (spool_parse_uint(s, (uint64_t)INT64_MAX + 1, &v) < 0 || v == 0)
			return -1;
		*out_r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		return 0;
	}
	if (spool_parse_uint(s, INT64_MAX, &v) < 0)
		return -1;
	*out_r = (int64_t)v;
	return 0;
}

/* Splits s at single spaces into at most max tokens; returns the number of
 * tokens, or max + 1 if there are more. Empty tokens are kept (and rejected
 * by the callers' parsers), so "a  b" never equals "a b". */
static size_t spool_split(slice_t s, slice_t *toks, size_t max)
{
	size_t n = 0;
	slice_t head, tail = s;

	for (;;) {
		bool more = slice_split(tail, ' ', &head, &tail);
		if (n == max)
			return max + 1;
		toks[n++] = head;
		if (!more)
			return n;
	}
}

/* ---- header ---- */

static void spool_format_rcpt(buf_t *b, size_t index, const struct spool_rcpt *r)
{
	buf_printf(b, "rcpt %zu %c %u ", index, r->local ? 'L' : 'R', r->notify);
	spool_encode(b, r->address);
	buf_append_byte(b, ' ');
	spool_encode(b, r->orig);
	buf_append_byte(b, ' ');
	spool_encode_opt(b, r->orcpt);
	buf_append_byte(b, '\n');
}

/* The header exactly as spool_parse_header wants it, ending in the empty
 * line. The buffer is unbounded here; the caller checks the size. */
static void spool_format_header(buf_t *b, const char *id, const struct spool_envelope *e)
{
	buf_printf(b, SPOOL_MAGIC "\nid %s\narrival %" PRId64 "\nsender ", id, e->arrival);
	spool_encode(b, e->sender);
	buf_append_byte(b, '\n');
	for (size_t i = 0; i < SPOOL_NSTRFIELDS; i++) {
		const char *v = *spool_strfield_ptr(e, i);
		if (v == NULL)
			continue;
		buf_printf(b, "%s ", spool_strfields[i].key);
		spool_encode(b, v);
		buf_append_byte(b, '\n');
	}
	buf_printf(b, "ret %d\nsmtputf8 %d\n", e->ret, e->smtputf8 ? 1 : 0);
	for (size_t i = 0; i < e->nrcpts; i++)
		spool_format_rcpt(b, i, &e->rcpts[i]);
	buf_append_byte(b, '\n');
}

/* Which once-only keys a header has shown; the required ones must all be. */
enum {
	SPOOL_SEEN_ID = 1u << 0,
	SPOOL_SEEN_ARRIVAL = 1u << 1,
	SPOOL_SEEN_SENDER = 1u << 2,
	SPOOL_SEEN_RET = 1u << 3,
	SPOOL_SEEN_SMTPUTF8 = 1u << 4,
	SPOOL_SEEN_STR0 = 1u << 5,	/* + index into spool_strfields */
};
#define SPOOL_SEEN_REQUIRED \
	(SPOOL_SEEN_ID | SPOOL_SEEN_ARRIVAL | SPOOL_SEEN_SENDER | SPOOL_SEEN_RET | \
	 SPOOL_SEEN_SMTPUTF8)

static int spool_parse_rcpt(slice_t value, struct spool_envelope *e, char **error_r)
{
	slice_t t[6];
	uint64_t index, notify;
	char *addr = NULL, *orig = NULL, *orcpt = NULL;
	int ret = -1;

	if (spool_split(value, t, 6) != 6)
		return spool_fail(error_r, "rcpt %zu: wrong number of fields", e->nrcpts);
	if (spool_parse_uint(t[0], SIZE_MAX, &index) < 0 || index != e->nrcpts)
		return spool_fail(error_r, "rcpt %zu: bad index", e->nrcpts);
	if (!slice_eq_cstr(t[1], "L") && !slice_eq_cstr(t[1], "R"))
		return spool_fail(error_r, "rcpt %zu: bad local flag", e->nrcpts);
	if (spool_parse_uint(t[2], UINT_MAX, &notify) < 0)
		return spool_fail(error_r, "rcpt %zu: bad notify", e->nrcpts);
	if (spool_decode(t[3], false, &addr) < 0 || spool_decode(t[4], false, &orig) < 0 ||
	    spool_decode(t[5], true, &orcpt) < 0) {
		spool_fail(error_r, "rcpt %zu: bad address encoding", e->nrcpts);
		goto out;
	}
	spool_envelope_add_rcpt(e, addr, orig, orcpt, (unsigned)notify, t[1].ptr[0] == 'L');
	ret = 0;
out:
	free(addr);
	free(orig);
	free(orcpt);
	return ret;
}

static int spool_parse_small(slice_t v, uint64_t max, int *out_r)
{
	uint64_t n;

	if (spool_parse_uint(v, max, &n) < 0)
		return -1;
	*out_r = (int)n;
	return 0;
}

/* One "key value" line other than rcpt; *seen guards against repeats. */
static int spool_parse_field(slice_t key, slice_t v, const char *id, struct spool_envelope *e,
			     unsigned *seen, char **error_r)
{
	unsigned bit = 0;
	int r = -1, n = 0;

	if (slice_eq_cstr(key, "id")) {
		bit = SPOOL_SEEN_ID;
		r = slice_eq_cstr(v, id) ? 0 : -1;
	} else if (slice_eq_cstr(key, "arrival")) {
		bit = SPOOL_SEEN_ARRIVAL;
		r = spool_parse_int64(v, &e->arrival);
	} else if (slice_eq_cstr(key, "sender")) {
		bit = SPOOL_SEEN_SENDER;
		r = (*seen & bit) ? -1 : spool_decode(v, false, &e->sender);
	} else if (slice_eq_cstr(key, "ret")) {
		bit = SPOOL_SEEN_RET;
		r = spool_parse_small(v, 2, &e->ret);
	} else if (slice_eq_cstr(key, "smtputf8")) {
		bit = SPOOL_SEEN_SMTPUTF8;
		r = spool_parse_small(v, 1, &n);
		e->smtputf8 = r == 0 && n == 1;
	} else {
		for (size_t i = 0; i < SPOOL_NSTRFIELDS && bit == 0; i++) {
			if (!slice_eq_cstr(key, spool_strfields[i].key))
				continue;
			bit = SPOOL_SEEN_STR0 << i;
			if ((*seen & bit) == 0)
				r = spool_decode(v, false, spool_strfield_ptr(e, i));
		}
		if (bit == 0)
			return spool_fail(error_r, "unknown header key \"%.*s\"", SLICE_ARG(key));
	}
	if (*seen & bit)
		return spool_fail(error_r, "duplicate header key %.*s", SLICE_ARG(key));
	*seen |= bit;
	if (r < 0)
		return spool_fail(error_r, "bad value for header key %.*s", SLICE_ARG(key));
	return 0;
}

static int spool_parse_version(slice_t line, char **error_r)
{
	if (slice_eq_cstr(line, SPOOL_MAGIC))
		return 0;
	if (line.len > strlen(SPOOL_MAGIC_PREFIX) &&
	    memcmp(line.ptr, SPOOL_MAGIC_PREFIX, strlen(SPOOL_MAGIC_PREFIX)) == 0) {
		slice_t v = slice_sub(line, strlen(SPOOL_MAGIC_PREFIX), 32);
		for (size_t i = 0; i < v.len; i++)
			if (v.ptr[i] < 0x21 || v.ptr[i] > 0x7e)
				return spool_fail(error_r, "not a spool file");
		return spool_fail(error_r, "unsupported spool version %.*s", SLICE_ARG(v));
	}
	return spool_fail(error_r, "not a spool file");
}

/* hdr: the header lines, each ending in '\n', without the empty line. */
static int spool_parse_header(slice_t hdr, const char *id, struct spool_envelope *e,
			      char **error_r)
{
	slice_t line, rest = hdr, key, value;
	unsigned seen = 0;

	memset(e, 0, sizeof(*e));
	slice_split(rest, '\n', &line, &rest);
	if (spool_parse_version(line, error_r) < 0)
		return -1;
	while (rest.len > 0) {
		slice_split(rest, '\n', &line, &rest);
		if (!slice_split(line, ' ', &key, &value))
			return spool_fail(error_r, "header line without a value");
		if (slice_eq_cstr(key, "rcpt")) {
			if (spool_parse_rcpt(value, e, error_r) < 0)
				return -1;
		} else if (spool_parse_field(key, value, id, e, &seen, error_r) < 0) {
			return -1;
		}
	}
	if ((seen & SPOOL_SEEN_REQUIRED) != SPOOL_SEEN_REQUIRED)
		return spool_fail(error_r, "header misses a required key");
	if (e->nrcpts == 0)
		return spool_fail(error_r, "no recipients");
	memcpy(e->id, id, SPOOL_ID_LEN + 1);
	return 0;
}

/* ---- trailer and checksum ---- */

static void spool_hex(const unsigned char *md, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * len] = '\0';
}

static EVP_MD_CTX *spool_md_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	/* allocation or a missing SHA-256 is a broken environment */
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		fatal("spool: cannot initialise SHA-256");
	return md;
}

static void spool_md_final_hex(EVP_MD_CTX *md, char out[SPOOL_HASH_HEX_LEN + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(md, digest, &len) != 1 || len != SPOOL_SHA256_LEN)
		fatal("spool: SHA-256 failed");
	spool_hex(digest, len, out);
}

struct spool_trailer {
	uint64_t content_len;
	size_t size;		/* bytes of the trailer, its leading '\n' included */
	char hash[SPOOL_HASH_HEX_LEN + 1];
};

/* tail: the last bytes of the file (after the header). The trailer is its
 * last line: no trailer line contains '\n', so fake trailers inside the
 * content can never be taken for it. */
static int spool_parse_trailer(slice_t tail, struct spool_trailer *t)
{
	slice_t toks[3], line;
	const char *nl;

	if (tail.len < 2 || tail.ptr[tail.len - 1] != '\n')
		return -1;
	nl = memrchr(tail.ptr, '\n', tail.len - 1);
	if (nl == NULL)
		return -1;
	line = slice_make(nl + 1, (size_t)(tail.ptr + tail.len - 1 - (nl + 1)));
	if (spool_split(line, toks, 3) != 3 || !slice_eq_cstr(toks[0], SPOOL_END_TAG) ||
	    spool_parse_uint(toks[1], INT64_MAX, &t->content_len) < 0 ||
	    toks[2].len != SPOOL_HASH_HEX_LEN)
		return -1;
	for (size_t i = 0; i < SPOOL_HASH_HEX_LEN; i++) {
		char c = toks[2].ptr[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
	}
	memcpy(t->hash, toks[2].ptr, SPOOL_HASH_HEX_LEN);
	t->hash[SPOOL_HASH_HEX_LEN] = '\0';
	t->size = (size_t)(tail.ptr + tail.len - nl);
	return 0;
}

/* ---- reading ---- */

/* Reads the header up to and including its empty line into hdr.
 * *hdr_len_r = offset of the content. */
static enum spool_check spool_read_header(int fd, uint64_t fsize, buf_t *hdr, size_t *hdr_len_r,
					  char **error_r)
{
	const size_t chunk = 16 * 1024;
	uint64_t limit = fsize < SPOOL_HEADER_MAX ? fsize : SPOOL_HEADER_MAX;

	while (hdr->used < limit) {
		size_t want = limit - hdr->used < chunk ? (size_t)(limit - hdr->used) : chunk;
		size_t from = hdr->used > 0 ? hdr->used - 1 : 0;
		ssize_t n;
		char *end;

		if (buf_reserve(hdr, want) < 0)
			return spool_check_fail(SPOOL_CHECK_BAD, error_r, "header too long");
		n = spool_pread_full(fd, hdr->data + hdr->used, want, (off_t)hdr->used);
		if (n < 0)
			return spool_check_fail(SPOOL_CHECK_IO, error_r, "read: %s",
						strerror(errno));
		if (n == 0)
			break;
		hdr->used += (size_t)n;
		hdr->data[hdr->used] = '\0';
		end = memmem(hdr->data + from, hdr->used - from, "\n\n", 2);
		if (end != NULL) {
			*hdr_len_r = (size_t)(end - hdr->data) + 2;
			return SPOOL_CHECK_OK;
		}
	}
	return spool_check_fail(SPOOL_CHECK_BAD, error_r,
				"header is incomplete or longer than %u bytes", SPOOL_HEADER_MAX);
}

static enum spool_check spool_read_trailer(int fd, uint64_t fsize, size_t hdr_len,
					   struct spool_trailer *t, char **error_r)
{
	char tail[SPOOL_TRAILER_MAX];
	uint64_t avail = fsize - hdr_len;
	size_t want = avail < sizeof(tail) ? (size_t)avail : sizeof(tail);
	ssize_t n = spool_pread_full(fd, tail, want, (off_t)(fsize - want));

	if (n < 0)
		return spool_check_fail(SPOOL_CHECK_IO, error_r, "read: %s", strerror(errno));
	if ((size_t)n != want || spool_parse_trailer(slice_make(tail, want), t) < 0)
		return spool_check_fail(SPOOL_CHECK_BAD, error_r, "trailer missing or malformed");
	if (t->content_len != fsize - hdr_len - t->size)
		return spool_check_fail(SPOOL_CHECK_BAD, error_r,
					"content length does not match the trailer");
	return SPOOL_CHECK_OK;
}

static enum spool_check spool_check_hash(int fd, uint64_t off, uint64_t len,
					 const struct spool_trailer *t, char **error_r)
{
	unsigned char *chunk = xmalloc(SPOOL_IOBUF_SIZE);
	EVP_MD_CTX *md = spool_md_new();
	enum spool_check ret = SPOOL_CHECK_OK;
	char hex[SPOOL_HASH_HEX_LEN + 1];

	while (len > 0 && ret == SPOOL_CHECK_OK) {
		size_t want = len < SPOOL_IOBUF_SIZE ? (size_t)len : SPOOL_IOBUF_SIZE;
		ssize_t n = spool_pread_full(fd, chunk, want, (off_t)off);
		if (n < 0 || (size_t)n != want) {
			ret = spool_check_fail(n < 0 ? SPOOL_CHECK_IO : SPOOL_CHECK_BAD, error_r,
					       "read: %s", n < 0 ? strerror(errno) : "file shrank");
			break;
		}
		if (EVP_DigestUpdate(md, chunk, want) != 1)
			fatal("spool: SHA-256 failed");
		off += want;
		len -= want;
	}
	if (ret == SPOOL_CHECK_OK) {
		spool_md_final_hex(md, hex);
		if (strcmp(hex, t->hash) != 0)
			ret = spool_check_fail(SPOOL_CHECK_BAD, error_r,
					       "content checksum mismatch");
	}
	EVP_MD_CTX_free(md);
	free(chunk);
	return ret;
}

/* Validates the open file fd as queue file `id`; fills e on success. */
static enum spool_check spool_check_fd(int fd, const char *id, struct spool_envelope *e,
				       int64_t *off_r, int64_t *len_r, char **error_r)
{
	struct stat st;
	buf_t hdr;
	size_t hdr_len = 0;
	struct spool_trailer t;
	enum spool_check ret;

	if (fstat(fd, &st) < 0)
		return spool_check_fail(SPOOL_CHECK_IO, error_r, "fstat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return spool_check_fail(SPOOL_CHECK_BAD, error_r, "not a regular file");
	buf_init(&hdr, SPOOL_HEADER_MAX + 1);
	ret = spool_read_header(fd, (uint64_t)st.st_size, &hdr, &hdr_len, error_r);
	if (ret == SPOOL_CHECK_OK &&
	    spool_parse_header(slice_make(hdr.data, hdr_len - 1), id, e, error_r) < 0)
		ret = SPOOL_CHECK_BAD;
	buf_free(&hdr);
	if (ret == SPOOL_CHECK_OK)
		ret = spool_read_trailer(fd, (uint64_t)st.st_size, hdr_len, &t, error_r);
	if (ret == SPOOL_CHECK_OK)
		ret = spool_check_hash(fd, hdr_len, t.content_len, &t, error_r);
	if (ret != SPOOL_CHECK_OK) {
		spool_envelope_free(e);
		return ret;
	}
	*off_r = (int64_t)hdr_len;
	*len_r = (int64_t)t.content_len;
	return SPOOL_CHECK_OK;
}

static enum spool_check spool_open_check(const char *spool_dir, const char *id,
					 struct spool_envelope *e, int *fd_r, int64_t *off_r,
					 int64_t *len_r, char **error_r)
{
	char *path, idcopy[SPOOL_ID_LEN + 1];
	int fd, saved;
	enum spool_check ret;
	int64_t off = 0, len = 0;

	if (fd_r != NULL)
		*fd_r = -1;
	if (!spool_id_is_valid(id)) {
		memset(e, 0, sizeof(*e));
		return spool_check_fail(SPOOL_CHECK_BAD, error_r, "invalid queue id");
	}
	/* id may point into *e (spool_open(dir, e.id, &e, ...)) */
	memcpy(idcopy, id, sizeof(idcopy));
	id = idcopy;
	memset(e, 0, sizeof(*e));
	path = xasprintf("%s/queue/%s", spool_dir, id);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	saved = errno;
	free(path);
	if (fd < 0) {
		spool_fail(error_r, "open queue/%s: %s", id, strerror(saved));
		/* a symlink in queue/ is foreign, not an outage */
		return saved == ELOOP ? SPOOL_CHECK_BAD : SPOOL_CHECK_IO;
	}
	ret = spool_check_fd(fd, id, e, &off, &len, error_r);
	if (ret != SPOOL_CHECK_OK || fd_r == NULL)
		close(fd);
	else
		*fd_r = fd;
	if (ret == SPOOL_CHECK_OK && off_r != NULL)
		*off_r = off;
	if (ret == SPOOL_CHECK_OK && len_r != NULL)
		*len_r = len;
	return ret;
}

int spool_open(const char *spool_dir, const char *id, struct spool_envelope *env, int *fd_r,
	       int64_t *content_off_r, int64_t *content_len_r, char **error_r)
{
	return spool_open_check(spool_dir, id, env, fd_r, content_off_r, content_len_r,
				error_r) == SPOOL_CHECK_OK ? 0 : -1;
}

/* ---- writing ---- */

static void __attribute__((format(printf, 2, 3)))
spool_writer_seterr(struct spool_writer *w, const char *fmt, ...)
{
	va_list ap;

	if (w->error != NULL)
		return;
	va_start(ap, fmt);
	w->error = spool_vfmt(fmt, ap);
	va_end(ap);
}

static void spool_writer_flush(struct spool_writer *w)
{
	if (w->error == NULL && w->iobuf_used > 0 &&
	    spool_write_full(w->fd, w->iobuf, w->iobuf_used) < 0)
		spool_writer_seterr(w, "write %s: %s", w->incoming_path, strerror(errno));
	w->iobuf_used = 0;
}

/* Buffered write of raw file bytes (header, content or trailer). */
static void spool_writer_put(struct spool_writer *w, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0 && w->error == NULL) {
		size_t n;
		if (w->iobuf_used == 0 && len >= SPOOL_IOBUF_SIZE) {
			/* large chunk: skip the copy */
			if (spool_write_full(w->fd, p, len) < 0)
				spool_writer_seterr(w, "write %s: %s", w->incoming_path,
						    strerror(errno));
			return;
		}
		n = SPOOL_IOBUF_SIZE - w->iobuf_used;
		if (n > len)
			n = len;
		memcpy(w->iobuf + w->iobuf_used, p, n);
		w->iobuf_used += n;
		p += n;
		len -= n;
		if (w->iobuf_used == SPOOL_IOBUF_SIZE)
			spool_writer_flush(w);
	}
}

static void spool_writer_destroy(struct spool_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	EVP_MD_CTX_free(w->md);
	free(w->incoming_path);
	free(w->queue_path);
	free(w->queue_dir);
	free(w->iobuf);
	free(w->error);
	free(w);
}

static int spool_envelope_check(const struct spool_envelope *e, char **error_r)
{
	if (e->sender == NULL)
		return spool_fail(error_r, "envelope has no sender");
	if (e->nrcpts == 0)
		return spool_fail(error_r, "envelope has no recipients");
	if (e->ret < 0 || e->ret > 2)
		return spool_fail(error_r, "envelope RET out of range");
	for (size_t i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i].address == NULL || e->rcpts[i].orig == NULL)
			return spool_fail(error_r, "recipient %zu has no address", i);
	return 0;
}

/* Creates incoming/<new id> exclusively; a collision just draws a new id. */
static int spool_writer_open(struct spool_writer *w, const char *spool_dir, char **error_r)
{
	for (int attempt = 0; attempt < SPOOL_ID_ATTEMPTS; attempt++) {
		spool_id_generate(w->id);
		free(w->incoming_path);
		w->incoming_path = xasprintf("%s/incoming/%s", spool_dir, w->id);
		w->fd = open(w->incoming_path,
			     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
		if (w->fd >= 0)
			return 0;
		if (errno != EEXIST)
			return spool_fail(error_r, "create %s: %s", w->incoming_path,
					  strerror(errno));
	}
	return spool_fail(error_r, "create in %s/incoming: no unused queue id", spool_dir);
}

int spool_writer_create(const char *spool_dir, struct spool_envelope *env,
			struct spool_writer **w_r, char **error_r)
{
	struct spool_writer *w;
	buf_t hdr;

	*w_r = NULL;
	if (spool_envelope_check(env, error_r) < 0)
		return -1;
	w = xcalloc(1, sizeof(*w));
	w->fd = -1;
	if (spool_writer_open(w, spool_dir, error_r) < 0) {
		spool_writer_destroy(w);
		return -1;
	}
	buf_init(&hdr, 0);
	spool_format_header(&hdr, w->id, env);
	if (hdr.used > SPOOL_HEADER_MAX) {
		buf_free(&hdr);
		spool_writer_abort(&w);
		return spool_fail(error_r, "envelope too large for the spool header");
	}
	w->queue_path = xasprintf("%s/queue/%s", spool_dir, w->id);
	w->queue_dir = xasprintf("%s/queue", spool_dir);
	w->iobuf = xmalloc(SPOOL_IOBUF_SIZE);
	w->md = spool_md_new();
	spool_writer_put(w, hdr.data, hdr.used);
	buf_free(&hdr);
	memcpy(env->id, w->id, sizeof(env->id));
	*w_r = w;
	return 0;
}

int spool_writer_write(struct spool_writer *w, const void *data, size_t len, char **error_r)
{
	if (w->error == NULL && len > 0) {
		if (EVP_DigestUpdate(w->md, data, len) != 1)
			fatal("spool: SHA-256 failed");
		w->content_len += len;
		spool_writer_put(w, data, len);
	}
	if (w->error != NULL)
		return spool_fail(error_r, "%s", w->error);
	return 0;
}

uint64_t spool_writer_size(const struct spool_writer *w)
{
	return w->content_len;
}

/* Trailer, flush, fsync, close: everything before the file may become visible. */
static void spool_writer_finish_file(struct spool_writer *w)
{
	char hex[SPOOL_HASH_HEX_LEN + 1];
	char trailer[SPOOL_TRAILER_MAX + 1];
	int n;

	spool_md_final_hex(w->md, hex);
	n = snprintf(trailer, sizeof(trailer), "\n" SPOOL_END_TAG " %" PRIu64 " %s\n",
		     w->content_len, hex);
	spool_writer_put(w, trailer, (size_t)n);
	spool_writer_flush(w);
	if (w->error == NULL && spool_sys_fsync(w->fd) < 0)
		spool_writer_seterr(w, "fsync %s: %s", w->incoming_path, strerror(errno));
	if (w->error == NULL) {
		int ret = close(w->fd);
		w->fd = -1;
		if (ret < 0)
			spool_writer_seterr(w, "close %s: %s", w->incoming_path,
					    strerror(errno));
	}
}

int spool_writer_commit(struct spool_writer **wp, char **error_r)
{
	struct spool_writer *w = *wp;
	bool renamed = false;
	int ret = 0;

	*wp = NULL;
	spool_writer_finish_file(w);
	if (w->error == NULL) {
		if (rename(w->incoming_path, w->queue_path) < 0)
			spool_writer_seterr(w, "rename %s: %s", w->incoming_path,
					    strerror(errno));
		else
			renamed = true;
	}
	if (w->error == NULL && spool_fsync_dir(w->queue_dir) < 0)
		spool_writer_seterr(w, "fsync %s: %s", w->queue_dir, strerror(errno));
	if (w->error != NULL) {
		/* not acknowledged: take it back, wherever it got to */
		(void)unlink(renamed ? w->queue_path : w->incoming_path);
		if (renamed)
			(void)spool_fsync_dir(w->queue_dir);
		ret = spool_fail(error_r, "%s", w->error);
	}
	spool_writer_destroy(w);
	return ret;
}

void spool_writer_abort(struct spool_writer **wp)
{
	struct spool_writer *w = *wp;

	if (w == NULL)
		return;
	*wp = NULL;
	if (w->fd >= 0)
		(void)unlink(w->incoming_path);
	spool_writer_destroy(w);
}

/* ---- directories ---- */

int spool_init_dirs(const char *spool_dir, char **error_r)
{
	static const char *const subdirs[] = { "incoming", "queue", "corrupt" };

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *path = xasprintf("%s/%s", spool_dir, subdirs[i]);
		struct stat st;
		int ret = mkdir(path, 0750);

		if (ret < 0 && errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			ret = 0;
		else if (ret < 0 && errno == EEXIST)
			errno = ENOTDIR;
		if (ret < 0) {
			spool_fail(error_r, "mkdir %s: %s", path, strerror(errno));
			free(path);
			return -1;
		}
		free(path);
	}
	return 0;
}

int spool_has_space(const char *spool_dir, uint64_t min_free)
{
	struct statvfs sv;
	uint64_t bsize;

	if (statvfs(spool_dir, &sv) < 0)
		return -1;
	bsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	if (bsize != 0 && (uint64_t)sv.f_bavail > UINT64_MAX / bsize)
		return 1;
	return (uint64_t)sv.f_bavail * bsize >= min_free ? 1 : 0;
}

static int spool_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void spool_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Sorted entry names of dir (without . and ..); count, or -1 with errno. */
static ssize_t spool_list_dir(const char *dir, char ***names_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	*names_r = NULL;
	if (d == NULL)
		return -1;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
		errno = 0;
	}
	if (errno != 0) {
		int saved = errno;
		closedir(d);
		spool_names_free(names, n);
		errno = saved;
		return -1;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), spool_name_cmp);
	*names_r = names;
	return (ssize_t)n;
}

/* ---- recipient state log ---- */

static const char *spool_state_name(enum spool_rcpt_state s)
{
	return s == SPOOL_RCPT_DELIVERED ? "delivered" : s == SPOOL_RCPT_FAILED ? "failed" : NULL;
}

/* Opens queue/<id>.state for appending; *created_r if it did not exist. */
static int spool_state_open(const char *path, bool *created_r)
{
	/* read access too: the append looks at the last byte first */
	int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);

	*created_r = false;
	if (fd >= 0 || errno != ENOENT)
		return fd;
	*created_r = true;
	return open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
}

/* Appends rec as one write; if the log ends in a torn record (a crash
 * mid-append), a '\n' first ends it so the new record stays whole. A failed
 * append is cut back off so a later append is not glued to it. */
static int spool_state_append(int fd, const buf_t *rec)
{
	struct stat st;
	char last = '\n';
	buf_t out;
	int ret, saved;

	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size > 0 && spool_pread_full(fd, &last, 1, st.st_size - 1) != 1)
		return -1;
	buf_init(&out, 0);
	if (last != '\n')
		buf_append_byte(&out, '\n');
	buf_append(&out, rec->data, rec->used);
	ret = spool_write_full(fd, out.data, out.used);
	if (ret == 0)
		ret = spool_sys_fsync(fd);
	saved = errno;
	if (ret < 0)
		(void)!ftruncate(fd, st.st_size);
	buf_free(&out);
	errno = saved;
	return ret;
}

int spool_mark(const char *spool_dir, const char *id, size_t rcpt_index,
	       enum spool_rcpt_state state, const char *reason, char **error_r)
{
	const char *sname = spool_state_name(state);
	char *path, *dir;
	bool created;
	buf_t rec;
	int fd, ret = 0;

	if (!spool_id_is_valid(id) || sname == NULL)
		return spool_fail(error_r, "spool_mark: invalid queue id or state");
	buf_init(&rec, 0);
	buf_printf(&rec, "%zu %s ", rcpt_index, sname);
	spool_encode(&rec, reason ? reason : "");
	buf_append_byte(&rec, '\n');
	path = xasprintf("%s/queue/%s" SPOOL_STATE_SUFFIX, spool_dir, id);
	dir = xasprintf("%s/queue", spool_dir);
	fd = spool_state_open(path, &created);
	if (fd < 0)
		ret = spool_fail(error_r, "open %s: %s", path, strerror(errno));
	else if (spool_state_append(fd, &rec) < 0)
		ret = spool_fail(error_r, "append %s: %s", path, strerror(errno));
	if (fd >= 0 && close(fd) < 0 && ret == 0)
		ret = spool_fail(error_r, "close %s: %s", path, strerror(errno));
	if (ret == 0 && created && spool_fsync_dir(dir) < 0)
		ret = spool_fail(error_r, "fsync %s: %s", dir, strerror(errno));
	free(path);
	free(dir);
	buf_free(&rec);
	return ret;
}

/* One complete record line; -1 if it does not parse (then it is skipped). */
static int spool_state_line(slice_t line, size_t nrcpts, enum spool_rcpt_state *states)
{
	slice_t t[3];
	uint64_t index;
	char *reason = NULL;
	enum spool_rcpt_state s;

	if (spool_split(line, t, 3) != 3 || spool_parse_uint(t[0], SIZE_MAX, &index) < 0 ||
	    index >= nrcpts)
		return -1;
	if (slice_eq_cstr(t[1], "delivered"))
		s = SPOOL_RCPT_DELIVERED;
	else if (slice_eq_cstr(t[1], "failed"))
		s = SPOOL_RCPT_FAILED;
	else
		return -1;
	if (spool_decode(t[2], false, &reason) < 0)
		return -1;
	free(reason);
	states[index] = s;
	return 0;
}

/* Reads the whole log (bounded) into b; ENOENT leaves b empty. */
static int spool_state_read(const char *path, buf_t *b, char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		spool_fail(error_r, "open %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_size > SPOOL_STATE_MAX || buf_reserve(b, (size_t)st.st_size) < 0) {
		close(fd);
		return spool_fail(error_r, "%s: larger than %u bytes", path, SPOOL_STATE_MAX);
	}
	n = spool_pread_full(fd, b->data, (size_t)st.st_size, 0);
	if (n < 0) {
		spool_fail(error_r, "read %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	b->used = (size_t)n;
	close(fd);
	return 0;
}

int spool_load_state(const char *spool_dir, const char *id, size_t nrcpts,
		     enum spool_rcpt_state *states_out, char **error_r)
{
	char *path;
	buf_t b;
	slice_t rest, line;
	int ret;

	if (!spool_id_is_valid(id))
		return spool_fail(error_r, "spool_load_state: invalid queue id");
	for (size_t i = 0; i < nrcpts; i++)
		states_out[i] = SPOOL_RCPT_PENDING;
	path = xasprintf("%s/queue/%s" SPOOL_STATE_SUFFIX, spool_dir, id);
	buf_init(&b, SPOOL_STATE_MAX);
	ret = spool_state_read(path, &b, error_r);
	rest = buf_slice(&b);
	while (ret == 0 && rest.len > 0) {
		if (!slice_split(rest, '\n', &line, &rest)) {
			log_warn("spool: queue=%s ignoring torn last state record", id);
			break;
		}
		if (spool_state_line(line, nrcpts, states_out) < 0)
			log_warn("spool: queue=%s skipping unreadable state record", id);
	}
	buf_free(&b);
	free(path);
	return ret;
}

int spool_remove(const char *spool_dir, const char *id, char **error_r)
{
	char *msg, *state, *dir;
	int ret = 0;

	if (!spool_id_is_valid(id))
		return spool_fail(error_r, "spool_remove: invalid queue id");
	msg = xasprintf("%s/queue/%s", spool_dir, id);
	state = xasprintf("%s" SPOOL_STATE_SUFFIX, msg);
	dir = xasprintf("%s/queue", spool_dir);
	if (unlink(msg) < 0 && errno != ENOENT)
		ret = spool_fail(error_r, "unlink %s: %s", msg, strerror(errno));
	else if (unlink(state) < 0 && errno != ENOENT)
		ret = spool_fail(error_r, "unlink %s: %s", state, strerror(errno));
	/* No fsync of queue/: if a crash undoes the unlink, the message comes
	 * back and is delivered again, and the mail role recognises the
	 * earlier copy by its delivery key (maildir_has_key). Removal needs no
	 * durability; it is one flush fewer per message. */
	(void)dir;
	free(msg);
	free(state);
	free(dir);
	return ret;
}

/* ---- recovery ---- */

/* Moves queue/<name> to corrupt/<name>[.N] without ever replacing a file
 * there (link fails with EEXIST, rename would overwrite). */
static int spool_quarantine(const char *spool_dir, const char *name, const char *reason,
			    char **error_r)
{
	char *src = xasprintf("%s/queue/%s", spool_dir, name);
	char *dst = NULL;
	int ret = -1;

	for (int n = 0; n < SPOOL_QUARANTINE_ATTEMPTS; n++) {
		free(dst);
		dst = n == 0 ? xasprintf("%s/corrupt/%s", spool_dir, name)
			     : xasprintf("%s/corrupt/%s.%d", spool_dir, name, n);
		ret = link(src, dst);
		if (ret == 0 || errno != EEXIST)
			break;
	}
	if (ret < 0)
		spool_fail(error_r, "quarantine %s: %s", src, strerror(errno));
	else if ((ret = unlink(src)) < 0)
		spool_fail(error_r, "unlink %s: %s", src, strerror(errno));
	else
		log_warn("spool: quarantined file=%s to=%s reason=%s", src, dst, reason);
	free(src);
	free(dst);
	return ret;
}

/* incoming/ holds only files that were never acknowledged: drop them all. */
static int spool_recover_incoming(const char *spool_dir, char **error_r)
{
	char *dir = xasprintf("%s/incoming", spool_dir);
	char **names;
	ssize_t n = spool_list_dir(dir, &names);
	size_t removed = 0;

	if (n < 0) {
		spool_fail(error_r, "read %s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	for (ssize_t i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);
		if (unlink(path) == 0)
			removed++;
		else
			log_warn("spool: cannot remove path=%s error=%s", path, strerror(errno));
		free(path);
	}
	if (removed > 0) {
		log_info("spool: removed %zu unacknowledged file(s) from %s", removed, dir);
		(void)spool_fsync_dir(dir);
	}
	spool_names_free(names, (size_t)n);
	free(dir);
	return 0;
}

/* "<id>.state" → true and id copied out. */
static bool spool_state_name_parse(const char *name, char id[SPOOL_ID_LEN + 1])
{
	if (strlen(name) != SPOOL_ID_LEN + strlen(SPOOL_STATE_SUFFIX) ||
	    strcmp(name + SPOOL_ID_LEN, SPOOL_STATE_SUFFIX) != 0)
		return false;
	memcpy(id, name, SPOOL_ID_LEN);
	id[SPOOL_ID_LEN] = '\0';
	return spool_id_is_valid(id);
}

/* Directories and other odd entries cannot be hard-linked into corrupt/;
 * they are left alone with a warning (a symlink counts as a file). */
static bool spool_entry_is_file(const char *spool_dir, const char *name)
{
	char *path = xasprintf("%s/queue/%s", spool_dir, name);
	struct stat st;
	bool ok = lstat(path, &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode));

	if (!ok)
		log_warn("spool: ignoring non-file path=%s", path);
	free(path);
	return ok;
}

/* One queue/ entry, first pass: messages are validated, unknown names moved
 * away, state logs left for the second pass. *moved_r counts quarantines. */
static int spool_recover_entry(const char *spool_dir, const char *name,
			       void (*cb)(void *ctx, const char *id), void *ctx,
			       size_t *moved_r, char **error_r)
{
	char id[SPOOL_ID_LEN + 1];
	struct spool_envelope e;
	char *why = NULL;
	enum spool_check r;
	int ret = 0;

	if (spool_state_name_parse(name, id))
		return 0;
	if (!spool_entry_is_file(spool_dir, name))
		return 0;
	if (!spool_id_is_valid(name)) {
		(*moved_r)++;
		return spool_quarantine(spool_dir, name, "unknown file name", error_r);
	}
	r = spool_open_check(spool_dir, name, &e, NULL, NULL, NULL, &why);
	if (r == SPOOL_CHECK_OK) {
		spool_envelope_free(&e);
		cb(ctx, name);
	} else if (r == SPOOL_CHECK_IO) {
		/* the disk may come back: leave the file, do not report it */
		log_error("spool: queue=%s unreadable, left in place: %s", name, why);
	} else {
		(*moved_r)++;
		ret = spool_quarantine(spool_dir, name, why, error_r);
	}
	free(why);
	return ret;
}

/* Second pass: a state log whose message is gone is an orphan. */
static int spool_recover_state(const char *spool_dir, const char *name, size_t *moved_r,
			       char **error_r)
{
	char id[SPOOL_ID_LEN + 1];
	struct stat st;
	char *msg;
	int exists;

	if (!spool_state_name_parse(name, id))
		return 0;
	msg = xasprintf("%s/queue/%s", spool_dir, id);
	exists = lstat(msg, &st) == 0;
	free(msg);
	if (exists)
		return 0;
	(*moved_r)++;
	return spool_quarantine(spool_dir, name, "orphan state log", error_r);
}

int spool_recover(const char *spool_dir, void (*cb)(void *ctx, const char *id), void *ctx,
		  char **error_r)
{
	char *qdir, *cdir, **names;
	ssize_t n;
	size_t moved = 0;
	int ret = 0;

	if (spool_recover_incoming(spool_dir, error_r) < 0)
		return -1;
	qdir = xasprintf("%s/queue", spool_dir);
	cdir = xasprintf("%s/corrupt", spool_dir);
	n = spool_list_dir(qdir, &names);
	if (n < 0)
		ret = spool_fail(error_r, "read %s: %s", qdir, strerror(errno));
	for (ssize_t i = 0; i < n && ret == 0; i++)
		ret = spool_recover_entry(spool_dir, names[i], cb, ctx, &moved, error_r);
	for (ssize_t i = 0; i < n && ret == 0; i++)
		ret = spool_recover_state(spool_dir, names[i], &moved, error_r);
	if (ret == 0 && moved > 0 && (spool_fsync_dir(cdir) < 0 || spool_fsync_dir(qdir) < 0))
		ret = spool_fail(error_r, "fsync after quarantine: %s", strerror(errno));
	if (n > 0)
		spool_names_free(names, (size_t)n);
	free(qdir);
	free(cdir);
	return ret;
}
