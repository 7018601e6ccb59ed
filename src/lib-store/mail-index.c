/*
 * The folder index: snapshot + log + backup generation + cache (formats and
 * recovery rules in mail-index.h). Everything read from disk is validated
 * before use; a file that does not validate is treated as missing, and the
 * recovery rules decide what can still be trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mail-index.h"
#include "mail-store-private.h"
#include "xalloc.h"

#define INDEX_MAGIC 0x58494a59u		/* "YJIX" */
#define LOG_MAGIC 0x474c4a59u		/* "YJLG" */
#define CACHE_MAGIC 0x41434a59u		/* "YJCA" */
#define CACHE_ENTRY_MAGIC 0x45434a59u	/* "YJCE" */
#define INDEX_VERSION 1
#define INDEX_ENDIAN 0x01020304u
#define INDEX_MAX_FILE (UINT64_C(1) << 32)
#define LOG_MAX_FILE (UINT64_C(1) << 30)
#define LOG_MAX_PAYLOAD 1024
#define LOG_REWRITE_MIN (256 * 1024)
#define CACHE_COMPACT_MIN (4u * 1024 * 1024)
#define CACHE_MAX_ENTRY (32u * 1024 * 1024)
/* the largest MODSEQ a file may hold; loaded states above
   MAIL_INDEX_MODSEQ_LIMIT start over, so what we write stays below this */
#define REPLAY_MAX_MODSEQ (UINT64_C(1) << 62)

struct index_header {
	uint32_t magic;
	uint32_t version;
	uint32_t endian;
	uint32_t header_size;
	uint32_t record_size;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;
	uint64_t gen;
	uint64_t highestmodseq;
	uint32_t first_recent_uid;
	uint32_t keywords_count;
	uint32_t keywords_size;
	uint32_t expunged_count;
	uint64_t strings_size;
	int64_t new_stamp;
	int64_t cur_stamp;
	uint64_t cache_id;
	uint64_t expunge_floor;
	uint64_t psize_sum;
	uint64_t reserved;
	uint64_t hash;		/* over the file with this field zero */
};

struct log_header {
	uint32_t magic;
	uint32_t version;
	uint32_t uidvalidity;
	uint32_t start_uidnext;	/* of the snapshot this log continues */
	uint64_t gen;
	uint64_t start_hms;
	uint64_t hash;
};

struct cache_header {
	uint32_t magic;
	uint32_t version;
	uint64_t id;
};

_Static_assert(sizeof(struct index_header) == 128, "index header size");
_Static_assert(sizeof(struct mail_index_record) == 64, "index record size");
_Static_assert(sizeof(struct mail_index_expunge) == 16, "expunge entry size");
_Static_assert(sizeof(struct log_header) == 40, "log header size");

/* Log records: [u32 type][u32 payload length][payload][u64 hash]. */
enum log_type {
	LREC_APPEND = 1,	/* uid flags keywords modseq psize vsize idate name */
	LREC_FLAGS,		/* uid flags keywords modseq name ("" = same name) */
	LREC_EXPUNGE,		/* uid 0 modseq psize */
	LREC_KEYWORD,		/* number name */
	LREC_HEADER,		/* first_recent uidnext hms new_stamp cur_stamp cache_id */
	LREC_CACHE,		/* uid len off */
	LREC_VSIZE,		/* uid 0 vsize */
	LREC_COMMIT,		/* (empty) the records before it take effect */
};

/* ---- I/O with test hooks ---- */

static struct mail_store_io_hooks io_hooks;

void mail_store_set_io_hooks(const struct mail_store_io_hooks *hooks)
{
	io_hooks = hooks ? *hooks : (struct mail_store_io_hooks){ NULL, NULL, NULL };
}

void store_step(const char *op, const char *path)
{
	if (io_hooks.step != NULL)
		io_hooks.step(op, path);
}

int store_write_all(int fd, const void *data, size_t len, const char *path)
{
	const char *p = data;

	store_step("write", path);
	while (len > 0) {
		ssize_t n = io_hooks.write ? io_hooks.write(fd, p, len) : write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int store_fsync(int fd, const char *path)
{
	store_step("fsync", path);
	return io_hooks.fsync ? io_hooks.fsync(fd) : fsync(fd);
}

int store_fdatasync(int fd, const char *path)
{
	store_step("fsync", path);
	return io_hooks.fsync ? io_hooks.fsync(fd) : fdatasync(fd);
}

int store_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret, saved;

	if (fd < 0)
		return -1;
	ret = store_fsync(fd, dir);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int store_rename(const char *from, const char *to)
{
	store_step("rename", to);
	return rename(from, to);
}

int store_link(const char *from, const char *to)
{
	store_step("link", to);
	return link(from, to);
}

int store_unlink(const char *path)
{
	store_step("unlink", path);
	return unlink(path);
}

int store_ftruncate(int fd, off_t len, const char *path)
{
	store_step("truncate", path);
	return ftruncate(fd, len);
}

static int store_vfail(int code, char **error_r, const char *fmt, va_list ap)
{
	buf_t b;

	if (error_r == NULL)
		return code;
	buf_init(&b, 0);
	if (buf_vprintf(&b, fmt, ap) < 0 || b.data == NULL)
		buf_append_cstr(&b, "mail store error");
	*error_r = b.data;
	return code;
}

int store_fail(char **error_r, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = store_vfail(-1, error_r, fmt, ap);
	va_end(ap);
	return ret;
}

int store_fail_code(int code, char **error_r, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = store_vfail(code, error_r, fmt, ap);
	va_end(ap);
	return ret;
}

int64_t store_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- hash ---- */

#define HASH_K1 UINT64_C(0x9e3779b97f4a7c15)
#define HASH_K2 UINT64_C(0xc2b2ae3d27d4eb4f)

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t hash_word(uint64_t w)
{
	return rotl64(w * HASH_K2, 31);
}

uint64_t mail_index_hash(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ^ ((uint64_t)len * HASH_K1);

	if (len >= 32) {
		/* four independent lanes: the CPU overlaps them */
		uint64_t v[4] = { h, h ^ HASH_K2, h + HASH_K1, h - HASH_K2 };
		while (len >= 32) {
			for (int i = 0; i < 4; i++) {
				uint64_t w;
				memcpy(&w, p + 8 * i, 8);
				v[i] = rotl64(v[i] ^ hash_word(w), 27) * 5 + 0x52dce729;
			}
			p += 32;
			len -= 32;
		}
		h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18);
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h ^= hash_word(w);
		h = rotl64(h, 27) * 5 + 0x52dce729;
		p += 8;
		len -= 8;
	}
	if (len > 0) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h ^= hash_word(w);
	}
	h ^= h >> 33;
	h *= HASH_K2;
	h ^= h >> 29;
	return h;
}

/* ---- validation ---- */

static bool name_valid(const char *s, size_t len)
{
	return len > 0 && len <= MAIL_INDEX_NAME_MAX && s[0] != '.' &&
	       memchr(s, '/', len) == NULL && memchr(s, '\0', len) == NULL;
}

/* RFC 9051 flag-keyword = atom: any CHAR except atom-specials */
bool mail_index_keyword_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > MAIL_INDEX_KEYWORD_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

static uint64_t keyword_mask(unsigned n)
{
	return n >= 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
}

/* ---- in-memory primitives (shared by replay and live changes) ---- */

static struct mail_index *index_new(const char *dir)
{
	struct mail_index *idx = xcalloc(1, sizeof(*idx));

	idx->dir = xstrdup(dir);
	buf_init(&idx->names, 0);
	buf_init(&idx->pending, 0);
	idx->log_fd = -1;
	idx->cache_fd = -1;
	idx->uidnext = 1;
	idx->highestmodseq = 1;
	idx->first_recent_uid = 1;
	return idx;
}

static char *index_path(const struct mail_index *idx, const char *file)
{
	return xasprintf("%s/%s", idx->dir, file);
}

static void recs_grow(struct mail_index *idx, uint32_t need)
{
	if (need <= idx->alloc)
		return;
	uint32_t na = idx->alloc ? idx->alloc : 64;
	while (na < need)
		na = na > UINT32_MAX / 2 ? need : na * 2;
	idx->recs = xreallocarray(idx->recs, na, sizeof(*idx->recs));
	idx->alloc = na;
}

/* Stores name in the arena; false if the arena would pass 4 GiB. name may
 * point into the arena itself. */
static bool names_add(struct mail_index *idx, const char *name, size_t len, uint32_t *off_r)
{
	char *copy = NULL;

	if (idx->names.used + len + 1 > UINT32_MAX)
		return false;
	if (idx->names.data != NULL && name >= idx->names.data &&
	    name < idx->names.data + idx->names.alloc)
		name = copy = xstrndup(name, len);
	*off_r = (uint32_t)idx->names.used;
	buf_append(&idx->names, name, len);
	buf_append_byte(&idx->names, '\0');
	free(copy);
	return true;
}

static bool index_push(struct mail_index *idx, const struct mail_index_record *rec,
		       const char *name, size_t len)
{
	struct mail_index_record r = *rec;

	if (!names_add(idx, name, len, &r.name_off))
		return false;
	recs_grow(idx, idx->count + 1);
	idx->recs[idx->count++] = r;
	idx->psize_sum += r.psize;
	if (r.uid >= idx->uidnext)
		idx->uidnext = r.uid + 1;
	if (r.modseq > idx->highestmodseq)
		idx->highestmodseq = r.modseq;
	return true;
}

static void history_add(struct mail_index *idx, uint32_t uid, uint64_t modseq)
{
	if (idx->nexpunged >= 2 * MAIL_INDEX_EXPUNGE_HISTORY) {
		size_t drop = idx->nexpunged - MAIL_INDEX_EXPUNGE_HISTORY;
		idx->expunge_floor = idx->expunged[drop - 1].modseq;
		memmove(idx->expunged, idx->expunged + drop,
			MAIL_INDEX_EXPUNGE_HISTORY * sizeof(*idx->expunged));
		idx->nexpunged = MAIL_INDEX_EXPUNGE_HISTORY;
	}
	if (idx->nexpunged == idx->expunged_alloc) {
		idx->expunged_alloc = idx->expunged_alloc ? idx->expunged_alloc * 2 : 64;
		idx->expunged = xreallocarray(idx->expunged, idx->expunged_alloc,
					      sizeof(*idx->expunged));
	}
	/* ascending, even if a damaged log says otherwise */
	if (idx->nexpunged > 0 && modseq < idx->expunged[idx->nexpunged - 1].modseq)
		modseq = idx->expunged[idx->nexpunged - 1].modseq;
	idx->expunged[idx->nexpunged++] = (struct mail_index_expunge){ uid, 0, modseq };
}

static void index_mark(struct mail_index *idx, uint32_t pos, uint64_t modseq)
{
	struct mail_index_record *r = &idx->recs[pos];

	r->flags |= MAIL_REC_EXPUNGED;
	r->modseq = modseq;
	idx->marked++;
	idx->psize_sum -= r->psize;
	if (r->cache_off != 0)
		idx->cache_live -= r->cache_len;
	if (modseq > idx->highestmodseq)
		idx->highestmodseq = modseq;
	history_add(idx, r->uid, modseq);
}

static void cache_forget_all(struct mail_index *idx)
{
	for (uint32_t i = 0; i < idx->count; i++) {
		idx->recs[i].cache_off = 0;
		idx->recs[i].cache_len = 0;
	}
	idx->cache_live = 0;
}

bool mail_index_lookup_uid(const struct mail_index *idx, uint32_t uid, uint32_t *pos_r)
{
	uint32_t pos = mail_index_lower_bound(idx, uid);

	if (pos < idx->count && idx->recs[pos].uid == uid) {
		*pos_r = pos;
		return true;
	}
	return false;
}

uint32_t mail_index_lower_bound(const struct mail_index *idx, uint32_t uid)
{
	uint32_t lo = 0, hi = idx->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (idx->recs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void mail_index_compact(struct mail_index *idx)
{
	uint32_t j = 0;

	if (idx->marked == 0)
		return;
	for (uint32_t i = 0; i < idx->count; i++)
		if ((idx->recs[i].flags & MAIL_REC_EXPUNGED) == 0)
			idx->recs[j++] = idx->recs[i];
	idx->count = j;
	idx->marked = 0;
}

int mail_index_keyword_lookup(const struct mail_index *idx, const char *name)
{
	for (unsigned i = 0; i < idx->nkeywords; i++)
		if (strcasecmp(idx->keywords[i], name) == 0)
			return (int)i;
	return -1;
}

/* ---- reading the snapshot ---- */

struct snap {
	struct index_header hdr;
	struct mail_index_record *recs;
	char *strings;
	char *kw[MAIL_INDEX_MAX_KEYWORDS];
	unsigned nkw;
	struct mail_index_expunge *exp;
	dev_t dev;
	ino_t ino;
	uint64_t size;
};

static void snap_free(struct snap *s)
{
	free(s->recs);
	free(s->strings);
	free(s->exp);
	for (unsigned i = 0; i < s->nkw; i++)
		free(s->kw[i]);
	memset(s, 0, sizeof(*s));
}

/* 0 read all, 1 file shorter, -1 error */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static bool snap_parse_keywords(struct snap *s, const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n = p[i++];
		if (s->nkw == MAIL_INDEX_MAX_KEYWORDS || n > len - i)
			return false;
		s->kw[s->nkw] = xstrndup((const char *)p + i, n);
		if (strlen(s->kw[s->nkw]) != n || !mail_index_keyword_valid(s->kw[s->nkw])) {
			free(s->kw[s->nkw]);
			return false;
		}
		for (unsigned k = 0; k < s->nkw; k++)
			if (strcasecmp(s->kw[k], s->kw[s->nkw]) == 0) {
				free(s->kw[s->nkw]);
				return false;
			}
		s->nkw++;
		i += n;
	}
	return s->nkw == s->hdr.keywords_count;
}

static const char *snap_check_records(const struct snap *s)
{
	const struct index_header *h = &s->hdr;
	uint64_t kwmask = keyword_mask(s->nkw);
	uint32_t prev = 0;

	for (uint32_t i = 0; i < h->messages; i++) {
		const struct mail_index_record *r = &s->recs[i];
		const char *name;
		size_t max;

		if (r->uid <= prev || r->uid >= h->uidnext)
			return "UIDs out of order";
		prev = r->uid;
		if ((r->flags & ~MAIL_REC_DISK_MASK) != 0 || (r->keywords & ~kwmask) != 0)
			return "bad flags";
		if (r->modseq == 0 || r->modseq > h->highestmodseq)
			return "bad modseq";
		if (r->name_off >= h->strings_size)
			return "bad name offset";
		name = s->strings + r->name_off;
		max = (size_t)(h->strings_size - r->name_off);
		if (max > MAIL_INDEX_NAME_MAX + 1)
			max = MAIL_INDEX_NAME_MAX + 1;
		const char *nul = memchr(name, '\0', max);
		if (nul == NULL || nul == name || name[0] == '.' ||
		    memchr(name, '/', (size_t)(nul - name)) != NULL)
			return "bad file name";
		if (r->psize > INT64_MAX)
			return "bad size";
		if (r->cache_off == 0 && r->cache_len != 0)
			return "bad cache pointer";
	}
	for (uint32_t i = 0; i < h->expunged_count; i++) {
		const struct mail_index_expunge *e = &s->exp[i];
		if (e->uid == 0 || e->uid >= h->uidnext || e->modseq > h->highestmodseq ||
		    (i > 0 && e->modseq < s->exp[i - 1].modseq))
			return "bad expunge history";
	}
	if (h->expunge_floor > h->highestmodseq)
		return "bad expunge floor";
	return NULL;
}

/*
 * Loads dir/file. 1 valid, 0 missing or invalid (logged), -1 system error.
 * The largest UIDVALIDITY and generation of a readable header go to
 * *max_uidv / *max_gen even when the rest does not validate; *exists is set
 * when the file exists at all.
 */
static int snap_load(const char *dir, const char *file, struct snap *s, uint32_t *max_uidv,
		     uint64_t *max_gen, bool *exists, char **error_r)
{
	char *path = xasprintf("%s/%s", dir, file);
	struct index_header *h = &s->hdr;
	const char *why = NULL;
	unsigned char *kwbuf = NULL;
	struct stat st;
	uint64_t size, hash;
	int fd, ret = 0, r;

	memset(s, 0, sizeof(*s));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			ret = store_fail(error_r, "index: open %s: %s", path, strerror(errno));
		free(path);
		return ret;
	}
	*exists = true;
	if (fstat(fd, &st) < 0) {
		ret = store_fail(error_r, "index: fstat %s: %s", path, strerror(errno));
		goto out;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = (uint64_t)st.st_size;
	r = pread_full(fd, h, sizeof(*h), 0);
	if (r < 0) {
		ret = store_fail(error_r, "index: read %s: %s", path, strerror(errno));
		goto out;
	}
	if (r > 0 || h->magic != INDEX_MAGIC) {
		why = "not an index";
		goto out;
	}
	if (h->version != INDEX_VERSION || h->endian != INDEX_ENDIAN ||
	    h->header_size != sizeof(*h) || h->record_size != sizeof(struct mail_index_record)) {
		why = "unknown version or byte order";
		goto out;
	}
	if (h->uidvalidity > *max_uidv)
		*max_uidv = h->uidvalidity;
	if (h->gen > *max_gen && h->gen < UINT64_MAX / 2)
		*max_gen = h->gen;
	size = sizeof(*h) + (uint64_t)h->messages * sizeof(struct mail_index_record) +
	       h->keywords_size + (uint64_t)h->expunged_count * sizeof(struct mail_index_expunge);
	if (h->strings_size > INDEX_MAX_FILE || size + h->strings_size != (uint64_t)st.st_size ||
	    (uint64_t)st.st_size > INDEX_MAX_FILE) {
		why = "size mismatch";
		goto out;
	}
	if (h->uidvalidity == 0 || h->uidnext == 0 || h->highestmodseq == 0 ||
	    h->highestmodseq > REPLAY_MAX_MODSEQ || h->first_recent_uid > h->uidnext ||
	    h->keywords_count > MAIL_INDEX_MAX_KEYWORDS || h->keywords_size > 64 * 256 ||
	    h->gen >= UINT64_MAX / 2) {
		why = "bad header";
		goto out;
	}
	s->recs = xreallocarray(NULL, h->messages ? h->messages : 1, sizeof(*s->recs));
	kwbuf = xmalloc(h->keywords_size + 1);
	s->exp = xreallocarray(NULL, h->expunged_count ? h->expunged_count : 1, sizeof(*s->exp));
	s->strings = xmalloc((size_t)h->strings_size + 1);
	s->strings[h->strings_size] = '\0';
	{
		uint64_t off = sizeof(*h);
		size_t lens[4] = { (size_t)h->messages * sizeof(*s->recs), h->keywords_size,
				   (size_t)h->expunged_count * sizeof(*s->exp),
				   (size_t)h->strings_size };
		void *dsts[4] = { s->recs, kwbuf, s->exp, s->strings };
		struct index_header hz = *h;

		hz.hash = 0;
		hash = mail_index_hash(&hz, sizeof(hz), 0);
		for (int i = 0; i < 4; i++) {
			r = pread_full(fd, dsts[i], lens[i], off);
			if (r < 0) {
				ret = store_fail(error_r, "index: read %s: %s", path,
						 strerror(errno));
				goto out;
			}
			if (r > 0) {
				why = "truncated";
				goto out;
			}
			hash = mail_index_hash(dsts[i], lens[i], hash);
			off += lens[i];
		}
	}
	if (hash != h->hash) {
		why = "checksum mismatch";
		goto out;
	}
	if (!snap_parse_keywords(s, kwbuf, h->keywords_size)) {
		why = "bad keywords";
		goto out;
	}
	why = snap_check_records(s);
	if (why == NULL)
		ret = 1;
out:
	if (why != NULL)
		log_warn("index: ignoring path=%s reason=\"%s\"", path, why);
	if (ret != 1)
		snap_free(s);
	free(kwbuf);
	close(fd);
	free(path);
	return ret;
}

/* Moves a validated snapshot into idx. */
static void index_adopt(struct mail_index *idx, struct snap *s)
{
	const struct index_header *h = &s->hdr;

	idx->uidvalidity = h->uidvalidity;
	idx->uidnext = h->uidnext;
	idx->first_recent_uid = h->first_recent_uid;
	idx->highestmodseq = h->highestmodseq;
	idx->new_stamp = h->new_stamp;
	idx->cur_stamp = h->cur_stamp;
	idx->cache_id = h->cache_id;
	idx->expunge_floor = h->expunge_floor;
	idx->gen = h->gen;
	idx->snap_uidnext = h->uidnext;
	idx->snap_hms = h->highestmodseq;
	idx->snap_size = s->size;
	idx->dev = s->dev;
	free(idx->recs);
	idx->recs = s->recs;
	idx->count = idx->alloc = h->messages;
	if (idx->alloc == 0)
		idx->alloc = 1;
	buf_free(&idx->names);
	idx->names.data = s->strings;	/* allocated strings_size + 1, NUL-ended */
	idx->names.used = (size_t)h->strings_size;
	idx->names.alloc = (size_t)h->strings_size + 1;
	for (unsigned i = 0; i < s->nkw; i++)
		idx->keywords[i] = s->kw[i];
	idx->nkeywords = s->nkw;
	free(idx->expunged);
	idx->expunged = s->exp;
	idx->nexpunged = idx->expunged_alloc = h->expunged_count;
	if (idx->expunged_alloc == 0)
		idx->expunged_alloc = 1;
	idx->psize_sum = 0;
	idx->cache_live = 0;
	for (uint32_t i = 0; i < idx->count; i++) {
		idx->psize_sum += idx->recs[i].psize;
		idx->cache_live += idx->recs[i].cache_len;
	}
	memset(s, 0, sizeof(*s));
}

/* ---- reading the log ---- */

struct logfile {
	struct log_header hdr;
	unsigned char *data;
	size_t size;
	size_t commit_end;	/* bytes up to the end of the last COMMIT */
	ino_t ino;
	bool ok;
};

struct cursor {
	const unsigned char *p;
	size_t left;
	bool bad;
};

static uint32_t cur_u32(struct cursor *c)
{
	uint32_t v = 0;

	if (c->left < 4) {
		c->bad = true;
		return 0;
	}
	memcpy(&v, c->p, 4);
	c->p += 4;
	c->left -= 4;
	return v;
}

static uint64_t cur_u64(struct cursor *c)
{
	uint64_t v = 0;

	if (c->left < 8) {
		c->bad = true;
		return 0;
	}
	memcpy(&v, c->p, 8);
	c->p += 8;
	c->left -= 8;
	return v;
}

/* u16 length + bytes; returns a NUL-terminated copy in buf (size 256+) */
static bool cur_name(struct cursor *c, char *buf, size_t *len_r)
{
	uint16_t n;

	if (c->left < 2) {
		c->bad = true;
		return false;
	}
	memcpy(&n, c->p, 2);
	c->p += 2;
	c->left -= 2;
	if (n > c->left || n > MAIL_INDEX_NAME_MAX) {
		c->bad = true;
		return false;
	}
	memcpy(buf, c->p, n);
	buf[n] = '\0';
	c->p += n;
	c->left -= n;
	*len_r = n;
	return true;
}

static uint64_t log_header_hash(const struct log_header *h)
{
	struct log_header hz = *h;

	hz.hash = 0;
	return mail_index_hash(&hz, sizeof(hz), 0);
}

/* Frames the records; commit_end = end of the last complete transaction. */
static void log_scan(struct logfile *l)
{
	size_t pos = sizeof(struct log_header);

	l->commit_end = pos;
	while (l->size - pos >= 16) {
		uint32_t type, len;
		uint64_t hash;

		memcpy(&type, l->data + pos, 4);
		memcpy(&len, l->data + pos + 4, 4);
		if (len > LOG_MAX_PAYLOAD || l->size - pos - 16 < len)
			break;
		memcpy(&hash, l->data + pos + 8 + len, 8);
		if (mail_index_hash(l->data + pos, 8 + (size_t)len, 0) != hash)
			break;
		pos += 16 + (size_t)len;
		if (type == LREC_COMMIT)
			l->commit_end = pos;
	}
}

static int log_load(const char *dir, const char *file, struct logfile *l, uint32_t *max_uidv,
		    uint64_t *max_gen, bool *exists, char **error_r)
{
	char *path = xasprintf("%s/%s", dir, file);
	struct stat st;
	int fd, r, ret = 0;

	memset(l, 0, sizeof(*l));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			ret = store_fail(error_r, "index: open %s: %s", path, strerror(errno));
		free(path);
		return ret;
	}
	*exists = true;
	if (fstat(fd, &st) < 0) {
		ret = store_fail(error_r, "index: fstat %s: %s", path, strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size < sizeof(l->hdr) || (uint64_t)st.st_size > LOG_MAX_FILE) {
		log_warn("index: ignoring path=%s reason=\"bad size\"", path);
		goto out;
	}
	l->size = (size_t)st.st_size;
	l->ino = st.st_ino;
	l->data = xmalloc(l->size);
	r = pread_full(fd, l->data, l->size, 0);
	if (r < 0) {
		ret = store_fail(error_r, "index: read %s: %s", path, strerror(errno));
		goto out;
	}
	if (r > 0) {
		log_warn("index: ignoring path=%s reason=\"truncated\"", path);
		goto out;
	}
	memcpy(&l->hdr, l->data, sizeof(l->hdr));
	if (l->hdr.magic != LOG_MAGIC || l->hdr.version != INDEX_VERSION ||
	    log_header_hash(&l->hdr) != l->hdr.hash || l->hdr.uidvalidity == 0 ||
	    l->hdr.start_uidnext == 0 || l->hdr.start_hms == 0 ||
	    l->hdr.start_hms > REPLAY_MAX_MODSEQ || l->hdr.gen >= UINT64_MAX / 2) {
		log_warn("index: ignoring path=%s reason=\"bad header\"", path);
		goto out;
	}
	if (l->hdr.uidvalidity > *max_uidv)
		*max_uidv = l->hdr.uidvalidity;
	if (l->hdr.gen > *max_gen)
		*max_gen = l->hdr.gen;
	log_scan(l);
	l->ok = true;
out:
	if (!l->ok) {
		free(l->data);
		l->data = NULL;
	}
	close(fd);
	free(path);
	return ret;
}

static void log_free(struct logfile *l)
{
	free(l->data);
	memset(l, 0, sizeof(*l));
}

/* Applies one record. Records that do not fit the state (a uid that is not
 * there, out of order...) are skipped: never trusted, never fatal. */
static void replay_record(struct mail_index *idx, uint32_t type, struct cursor *c)
{
	char name[MAIL_INDEX_NAME_MAX + 1];
	struct mail_index_record r;
	uint32_t uid, pos;
	uint64_t modseq;
	size_t len = 0;

	switch (type) {
	case LREC_APPEND:
		memset(&r, 0, sizeof(r));
		r.uid = cur_u32(c);
		r.flags = cur_u32(c) & MAIL_REC_DISK_MASK;
		r.keywords = cur_u64(c) & keyword_mask(idx->nkeywords);
		r.modseq = cur_u64(c);
		r.psize = cur_u64(c);
		r.vsize = cur_u64(c);
		r.idate = (int64_t)cur_u64(c);
		if (!cur_name(c, name, &len) || c->bad || !name_valid(name, len))
			return;
		if (r.uid == 0 || r.uid == UINT32_MAX || r.modseq == 0 || r.modseq > REPLAY_MAX_MODSEQ ||
		    r.psize > INT64_MAX || (idx->count > 0 && r.uid <= idx->recs[idx->count - 1].uid))
			return;
		(void)index_push(idx, &r, name, len);
		return;
	case LREC_FLAGS: {
		uint32_t flags;
		uint64_t kw;

		uid = cur_u32(c);
		flags = cur_u32(c);
		kw = cur_u64(c);
		modseq = cur_u64(c);
		if (!cur_name(c, name, &len) || c->bad || !mail_index_lookup_uid(idx, uid, &pos) ||
		    modseq > REPLAY_MAX_MODSEQ || (len > 0 && !name_valid(name, len)))
			return;
		struct mail_index_record *rec = &idx->recs[pos];
		if (rec->flags & MAIL_REC_EXPUNGED)
			return;
		if (len > 0 && !names_add(idx, name, len, &rec->name_off))
			return;
		rec->flags = (rec->flags & MAIL_REC_VSIZE) |
			     (flags & (MAIL_FLAGS_MASK | MAIL_REC_IN_NEW));
		rec->keywords = kw & keyword_mask(idx->nkeywords);
		if (modseq > rec->modseq)
			rec->modseq = modseq;
		if (modseq > idx->highestmodseq)
			idx->highestmodseq = modseq;
		return;
	}
	case LREC_EXPUNGE:
		uid = cur_u32(c);
		(void)cur_u32(c);
		modseq = cur_u64(c);
		(void)cur_u64(c);
		if (c->bad || modseq > REPLAY_MAX_MODSEQ || !mail_index_lookup_uid(idx, uid, &pos) ||
		    (idx->recs[pos].flags & MAIL_REC_EXPUNGED))
			return;
		index_mark(idx, pos, modseq);
		return;
	case LREC_KEYWORD: {
		uint32_t n = cur_u32(c);

		if (!cur_name(c, name, &len) || c->bad || n != idx->nkeywords ||
		    n >= MAIL_INDEX_MAX_KEYWORDS || strlen(name) != len ||
		    !mail_index_keyword_valid(name) || mail_index_keyword_lookup(idx, name) >= 0)
			return;
		idx->keywords[idx->nkeywords++] = xstrdup(name);
		return;
	}
	case LREC_HEADER: {
		uint32_t first_recent = cur_u32(c), uidnext = cur_u32(c);
		uint64_t hms = cur_u64(c);
		int64_t ns = (int64_t)cur_u64(c), cs = (int64_t)cur_u64(c);
		uint64_t cache_id = cur_u64(c);

		if (c->bad || hms > REPLAY_MAX_MODSEQ || uidnext == UINT32_MAX)
			return;
		if (uidnext > idx->uidnext)
			idx->uidnext = uidnext;
		if (hms > idx->highestmodseq)
			idx->highestmodseq = hms;
		if (first_recent <= idx->uidnext)
			idx->first_recent_uid = first_recent;
		idx->new_stamp = ns;
		idx->cur_stamp = cs;
		if (cache_id != idx->cache_id) {
			idx->cache_id = cache_id;
			cache_forget_all(idx);
		}
		return;
	}
	case LREC_CACHE: {
		uint32_t clen;
		uint64_t off;

		uid = cur_u32(c);
		clen = cur_u32(c);
		off = cur_u64(c);
		if (c->bad || !mail_index_lookup_uid(idx, uid, &pos) ||
		    (idx->recs[pos].flags & MAIL_REC_EXPUNGED) || (off == 0) != (clen == 0))
			return;
		idx->cache_live += clen;
		idx->cache_live -= idx->recs[pos].cache_len;
		idx->recs[pos].cache_off = off;
		idx->recs[pos].cache_len = clen;
		return;
	}
	case LREC_VSIZE:
		uid = cur_u32(c);
		(void)cur_u32(c);
		modseq = cur_u64(c);	/* the vsize */
		if (c->bad || !mail_index_lookup_uid(idx, uid, &pos))
			return;
		idx->recs[pos].vsize = modseq;
		idx->recs[pos].flags |= MAIL_REC_VSIZE;
		return;
	default:
		return;
	}
}

static void log_replay(struct mail_index *idx, const struct logfile *l)
{
	size_t pos = sizeof(struct log_header);

	while (pos < l->commit_end) {
		uint32_t type, len;
		struct cursor c;

		memcpy(&type, l->data + pos, 4);
		memcpy(&len, l->data + pos + 4, 4);
		c = (struct cursor){ l->data + pos + 8, len, false };
		replay_record(idx, type, &c);
		pos += 16 + (size_t)len;
	}
}

/* ---- open ---- */

static bool raise_bounds(struct mail_index *idx, uint64_t uid_bound, uint64_t modseq_bound)
{
	if (uid_bound >= UINT32_MAX || modseq_bound > MAIL_INDEX_MODSEQ_LIMIT)
		return false;
	if (uid_bound > idx->uidnext)
		idx->uidnext = (uint32_t)uid_bound;
	if (modseq_bound > idx->highestmodseq)
		idx->highestmodseq = modseq_bound;
	return true;
}

static void index_reset_fresh(struct mail_index *idx, uint32_t max_uidv)
{
	uint64_t now = (uint64_t)time(NULL);
	uint32_t uidv = now > UINT32_MAX ? UINT32_MAX : (uint32_t)now;

	if (max_uidv != 0 && uidv <= max_uidv)
		uidv = max_uidv == UINT32_MAX ? 1 : max_uidv + 1;
	if (uidv == 0)
		uidv = 1;
	for (unsigned i = 0; i < idx->nkeywords; i++)
		free(idx->keywords[i]);
	idx->nkeywords = 0;
	idx->count = 0;
	idx->marked = 0;
	idx->nexpunged = 0;
	idx->psize_sum = 0;
	idx->cache_live = 0;
	buf_reset(&idx->names);
	idx->uidvalidity = uidv;
	idx->uidnext = 1;
	idx->highestmodseq = 1;
	idx->first_recent_uid = 1;
	idx->expunge_floor = 0;
	idx->new_stamp = idx->cur_stamp = 0;
	idx->cache_id = 0;
	idx->snap_uidnext = 1;
	idx->snap_hms = 1;
}

static void cache_open(struct mail_index *idx)
{
	char *path = index_path(idx, MAIL_INDEX_CACHE_FILE);
	struct cache_header h;
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	free(path);
	if (fd >= 0 && fstat(fd, &st) == 0 && pread_full(fd, &h, sizeof(h), 0) == 0 &&
	    h.magic == CACHE_MAGIC && h.version == INDEX_VERSION && h.id != 0 &&
	    h.id == idx->cache_id) {
		idx->cache_fd = fd;
		idx->cache_size = (uint64_t)st.st_size;
		return;
	}
	if (fd >= 0)
		close(fd);
	/* the entries the records point at are gone */
	cache_forget_all(idx);
}

/* After mail_index_release_fds: the cache file again, if it is still ours. */
static void cache_reopen(struct mail_index *idx)
{
	if (idx->cache_released) {
		idx->cache_released = false;
		cache_open(idx);
	}
}

void mail_index_release_fds(struct mail_index *idx)
{
	if (idx->log_fd >= 0) {
		close(idx->log_fd);
		idx->log_fd = -1;
	}
	if (idx->cache_fd >= 0) {
		close(idx->cache_fd);
		idx->cache_fd = -1;
		idx->cache_released = true;
	}
}

int mail_index_open(const char *dir, struct mail_index **idx_r, enum mail_index_state *state_r,
		    char **error_r)
{
	struct snap I, B;
	struct logfile L, L1;
	uint32_t max_uidv = 0;
	uint64_t max_gen = 0;
	bool exists = false, have_i = false, have_b = false;
	enum mail_index_state state = MAIL_INDEX_EXACT;
	struct mail_index *idx;
	int r;

	*idx_r = NULL;
	memset(&B, 0, sizeof(B));
	memset(&L1, 0, sizeof(L1));
	r = snap_load(dir, MAIL_INDEX_FILE, &I, &max_uidv, &max_gen, &exists, error_r);
	if (r < 0)
		return -1;
	have_i = r > 0;
	if (log_load(dir, MAIL_INDEX_LOG_FILE, &L, &max_uidv, &max_gen, &exists, error_r) < 0) {
		snap_free(&I);
		return -1;
	}
	if (log_load(dir, MAIL_INDEX_LOG1_FILE, &L1, &max_uidv, &max_gen, &exists, error_r) < 0 ||
	    (r = snap_load(dir, MAIL_INDEX_BAK_FILE, &B, &max_uidv, &max_gen, &exists,
			   error_r)) < 0) {
		snap_free(&I);
		log_free(&L);
		log_free(&L1);
		return -1;
	}
	have_b = r > 0;

	idx = index_new(dir);
	if (have_i) {
		uint32_t uidv = I.hdr.uidvalidity;
		uint64_t gen = I.hdr.gen;
		bool same = L.ok && L.hdr.uidvalidity == uidv;

		idx->index_ino = I.ino;
		index_adopt(idx, &I);
		if (same && L.hdr.gen == gen) {
			log_replay(idx, &L);
			idx->log_ino = L.ino;
			idx->log_size = L.commit_end;
		} else if (same && L.hdr.gen + 1 == gen) {
			/* killed between renaming the snapshot and the log:
			   the snapshot already holds what that log says */
			idx->need_rewrite = true;
		} else {
			state = MAIL_INDEX_PARTIAL;
		}
		if (state == MAIL_INDEX_PARTIAL &&
		    !raise_bounds(idx, (uint64_t)idx->snap_uidnext + MAIL_INDEX_UID_RESERVE,
				  idx->snap_hms + MAIL_INDEX_MODSEQ_RESERVE))
			state = MAIL_INDEX_LOST;
	} else if (have_b) {
		uint32_t uidv = B.hdr.uidvalidity;
		uint64_t gen = B.hdr.gen;
		bool same = L.ok && L.hdr.uidvalidity == uidv;
		bool same1 = L1.ok && L1.hdr.uidvalidity == uidv && L1.hdr.gen == gen;

		index_adopt(idx, &B);
		idx->need_rewrite = true;
		if (same && L.hdr.gen == gen) {
			/* the rewrite never got to the snapshot rename; .log.1,
			   if any, is a link of this same log */
			log_replay(idx, &L);
		} else if (same && L.hdr.gen + 1 == gen) {
			/* .bak was written from the new snapshot (see rewrite) */
		} else {
			if (same1)
				log_replay(idx, &L1);
			if (same && L.hdr.gen == gen + 1)
				log_replay(idx, &L);
			if (!(same1 && same && L.hdr.gen == gen + 1)) {
				uint64_t ub = (uint64_t)idx->snap_uidnext + 2 * MAIL_INDEX_UID_RESERVE;
				uint64_t mb = idx->snap_hms + 2 * MAIL_INDEX_MODSEQ_RESERVE;
				state = MAIL_INDEX_PARTIAL;
				if (same && L.hdr.start_uidnext + (uint64_t)MAIL_INDEX_UID_RESERVE > ub)
					ub = L.hdr.start_uidnext + (uint64_t)MAIL_INDEX_UID_RESERVE;
				if (same && L.hdr.start_hms + MAIL_INDEX_MODSEQ_RESERVE > mb)
					mb = L.hdr.start_hms + MAIL_INDEX_MODSEQ_RESERVE;
				if (!raise_bounds(idx, ub, mb))
					state = MAIL_INDEX_LOST;
			}
		}
	} else if (L.ok) {
		/* only the log survives: its header knows where its UIDs start */
		index_reset_fresh(idx, 0);
		idx->uidvalidity = L.hdr.uidvalidity;
		idx->uidnext = idx->snap_uidnext = L.hdr.start_uidnext;
		idx->highestmodseq = idx->snap_hms = L.hdr.start_hms;
		if (L1.ok && L1.hdr.uidvalidity == L.hdr.uidvalidity && L1.hdr.gen + 1 == L.hdr.gen)
			log_replay(idx, &L1);
		log_replay(idx, &L);
		idx->need_rewrite = true;
		state = MAIL_INDEX_PARTIAL;
		if (!raise_bounds(idx, (uint64_t)L.hdr.start_uidnext + MAIL_INDEX_UID_RESERVE,
				  L.hdr.start_hms + MAIL_INDEX_MODSEQ_RESERVE))
			state = MAIL_INDEX_LOST;
	} else {
		state = exists ? MAIL_INDEX_LOST : MAIL_INDEX_CREATED;
	}
	if (state != MAIL_INDEX_LOST && state != MAIL_INDEX_CREATED &&
	    idx->highestmodseq > MAIL_INDEX_MODSEQ_LIMIT) {
		/* RFC 7162 3.1.2: MODSEQs only grow; near the end of the
		   63-bit range, start over under a new UIDVALIDITY */
		state = MAIL_INDEX_LOST;
	}
	if (state == MAIL_INDEX_LOST || state == MAIL_INDEX_CREATED)
		index_reset_fresh(idx, max_uidv);
	if (state != MAIL_INDEX_EXACT) {
		idx->need_rewrite = true;
		idx->log_ino = 0;
		idx->new_stamp = idx->cur_stamp = 0;
	}
	if (idx->uidnext < idx->first_recent_uid)
		idx->first_recent_uid = idx->uidnext;
	idx->gen_max = max_gen > idx->gen ? max_gen : idx->gen;
	mail_index_compact(idx);
	cache_open(idx);
	snap_free(&I);
	snap_free(&B);
	log_free(&L);
	log_free(&L1);
	if (state == MAIL_INDEX_LOST)
		log_warn("index: rebuilding path=%s with a new uidvalidity=%" PRIu32, dir,
			 idx->uidvalidity);
	else if (state == MAIL_INDEX_PARTIAL)
		log_warn("index: rebuilding path=%s keeping uidvalidity=%" PRIu32
			 " uidnext=%" PRIu32, dir, idx->uidvalidity, idx->uidnext);
	*idx_r = idx;
	*state_r = state;
	return 0;
}

void mail_index_close(struct mail_index **idxp)
{
	struct mail_index *idx = *idxp;

	if (idx == NULL)
		return;
	*idxp = NULL;
	if (idx->log_fd >= 0)
		close(idx->log_fd);
	if (idx->cache_fd >= 0)
		close(idx->cache_fd);
	for (unsigned i = 0; i < idx->nkeywords; i++)
		free(idx->keywords[i]);
	free(idx->recs);
	free(idx->expunged);
	buf_free(&idx->names);
	buf_free(&idx->pending);
	free(idx->dir);
	free(idx);
}

/* ---- the log, writing ---- */

static size_t lrec_begin(struct mail_index *idx, uint32_t type)
{
	size_t off = idx->pending.used;
	uint32_t zero = 0;

	buf_append(&idx->pending, &type, 4);
	buf_append(&idx->pending, &zero, 4);
	return off;
}

static void lrec_u32(struct mail_index *idx, uint32_t v)
{
	buf_append(&idx->pending, &v, 4);
}

static void lrec_u64(struct mail_index *idx, uint64_t v)
{
	buf_append(&idx->pending, &v, 8);
}

static void lrec_name(struct mail_index *idx, const char *name)
{
	uint16_t n = (uint16_t)strlen(name);

	buf_append(&idx->pending, &n, 2);
	buf_append(&idx->pending, name, n);
}

static void lrec_end(struct mail_index *idx, size_t off)
{
	uint32_t len = (uint32_t)(idx->pending.used - off - 8);
	uint64_t hash;

	memcpy(idx->pending.data + off + 4, &len, 4);
	hash = mail_index_hash(idx->pending.data + off, 8 + (size_t)len, 0);
	buf_append(&idx->pending, &hash, 8);
}

static void log_header_record(struct mail_index *idx)
{
	size_t off = lrec_begin(idx, LREC_HEADER);

	lrec_u32(idx, idx->first_recent_uid);
	lrec_u32(idx, idx->uidnext);
	lrec_u64(idx, idx->highestmodseq);
	lrec_u64(idx, (uint64_t)idx->new_stamp);
	lrec_u64(idx, (uint64_t)idx->cur_stamp);
	lrec_u64(idx, idx->cache_id);
	lrec_end(idx, off);
}

/* Before handing out the next UID or MODSEQ: a new snapshot first when the
 * reserve of the last one is used up (the PARTIAL recovery bound). */
static int reserve_check(struct mail_index *idx, char **error_r)
{
	if ((uint64_t)idx->uidnext + 1 < (uint64_t)idx->snap_uidnext + MAIL_INDEX_UID_RESERVE &&
	    idx->highestmodseq + 1 < idx->snap_hms + MAIL_INDEX_MODSEQ_RESERVE)
		return 0;
	return mail_index_rewrite(idx, error_r);
}

int mail_index_append(struct mail_index *idx, const struct mail_index_record *rec, const char *name,
		      uint32_t *pos_r, char **error_r)
{
	struct mail_index_record r = *rec;
	size_t len = strlen(name), off;

	if (!name_valid(name, len))
		return store_fail(error_r, "index: invalid file name");
	if (rec->uid > idx->uidnext && rec->uid < UINT32_MAX - 1)
		idx->uidnext = rec->uid;	/* the reserve check sees the jump */
	if (idx->uidnext >= UINT32_MAX - 1)
		return store_fail(error_r, "index: UIDs of %s used up", idx->dir);
	if (reserve_check(idx, error_r) < 0)
		return -1;
	r.uid = idx->uidnext;
	r.modseq = idx->highestmodseq + 1;
	r.flags &= MAIL_REC_DISK_MASK;
	r.keywords &= keyword_mask(idx->nkeywords);
	r.cache_off = 0;
	r.cache_len = 0;
	if (!index_push(idx, &r, name, len))
		return store_fail(error_r, "index: %s too large", idx->dir);
	off = lrec_begin(idx, LREC_APPEND);
	lrec_u32(idx, r.uid);
	lrec_u32(idx, r.flags);
	lrec_u64(idx, r.keywords);
	lrec_u64(idx, r.modseq);
	lrec_u64(idx, r.psize);
	lrec_u64(idx, r.vsize);
	lrec_u64(idx, (uint64_t)r.idate);
	lrec_name(idx, name);
	lrec_end(idx, off);
	idx->pending_sync = true;
	*pos_r = idx->count - 1;
	return 0;
}

int mail_index_update(struct mail_index *idx, uint32_t pos, uint32_t flags, uint64_t keywords,
		      const char *name, char **error_r)
{
	struct mail_index_record *r = &idx->recs[pos];
	const uint32_t bits = MAIL_FLAGS_MASK | MAIL_REC_IN_NEW;
	uint32_t nflags = (r->flags & ~bits) | (flags & bits);
	bool changed, renamed;
	size_t off;

	keywords &= keyword_mask(idx->nkeywords);
	changed = ((nflags ^ r->flags) & MAIL_FLAGS_MASK) != 0 || keywords != r->keywords;
	renamed = ((nflags ^ r->flags) & MAIL_REC_IN_NEW) != 0 ||
		  (name != NULL && strcmp(name, mail_index_name(idx, pos)) != 0);
	if (!changed && !renamed)
		return 0;
	if (name != NULL && !name_valid(name, strlen(name)))
		return store_fail(error_r, "index: invalid file name");
	if (changed && reserve_check(idx, error_r) < 0)
		return -1;
	r = &idx->recs[pos];
	if (name != NULL && strcmp(name, mail_index_name(idx, pos)) != 0 &&
	    !names_add(idx, name, strlen(name), &r->name_off))
		return store_fail(error_r, "index: %s too large", idx->dir);
	r->flags = nflags;
	r->keywords = keywords;
	if (changed) {
		r->modseq = ++idx->highestmodseq;
		idx->pending_sync = true;
	}
	off = lrec_begin(idx, LREC_FLAGS);
	lrec_u32(idx, r->uid);
	lrec_u32(idx, r->flags & MAIL_REC_DISK_MASK);
	lrec_u64(idx, r->keywords);
	lrec_u64(idx, r->modseq);
	lrec_name(idx, renamed ? mail_index_name(idx, pos) : "");
	lrec_end(idx, off);
	return 0;
}

int mail_index_expunge(struct mail_index *idx, uint32_t pos, char **error_r)
{
	size_t off;

	if (idx->recs[pos].flags & MAIL_REC_EXPUNGED)
		return 0;
	if (reserve_check(idx, error_r) < 0)
		return -1;
	index_mark(idx, pos, idx->highestmodseq + 1);
	off = lrec_begin(idx, LREC_EXPUNGE);
	lrec_u32(idx, idx->recs[pos].uid);
	lrec_u32(idx, 0);
	lrec_u64(idx, idx->recs[pos].modseq);
	lrec_u64(idx, idx->recs[pos].psize);
	lrec_end(idx, off);
	idx->pending_sync = true;
	return 0;
}

int mail_index_keyword_add(struct mail_index *idx, const char *name)
{
	int n = mail_index_keyword_lookup(idx, name);
	size_t off;

	if (n >= 0)
		return n;
	if (!mail_index_keyword_valid(name) || idx->nkeywords >= MAIL_INDEX_MAX_KEYWORDS)
		return -1;
	idx->keywords[idx->nkeywords] = xstrdup(name);
	off = lrec_begin(idx, LREC_KEYWORD);
	lrec_u32(idx, idx->nkeywords);
	lrec_name(idx, name);
	lrec_end(idx, off);
	idx->pending_sync = true;
	return (int)idx->nkeywords++;
}

void mail_index_reset(struct mail_index *idx, uint32_t uidvalidity)
{
	index_reset_fresh(idx, 0);
	idx->uidvalidity = uidvalidity != 0 ? uidvalidity : 1;
	buf_reset(&idx->pending);
	idx->pending_sync = false;
	idx->need_rewrite = true;
	idx->log_ino = 0;
}

void mail_index_init_uidvalidity(struct mail_index *idx, uint32_t uidvalidity)
{
	if (idx->count == 0 && idx->uidnext == 1 && uidvalidity != 0)
		idx->uidvalidity = uidvalidity;
}

void mail_index_raise_uidnext(struct mail_index *idx, uint32_t uidnext)
{
	if (uidnext > idx->uidnext && uidnext < UINT32_MAX) {
		idx->uidnext = uidnext;
		log_header_record(idx);
		idx->pending_sync = true;
	}
}

void mail_index_set_first_recent(struct mail_index *idx, uint32_t uid)
{
	if (uid != idx->first_recent_uid) {
		idx->first_recent_uid = uid;
		log_header_record(idx);
	}
}

void mail_index_set_stamps(struct mail_index *idx, int64_t new_stamp, int64_t cur_stamp)
{
	if (new_stamp != idx->new_stamp || cur_stamp != idx->cur_stamp) {
		idx->new_stamp = new_stamp;
		idx->cur_stamp = cur_stamp;
		log_header_record(idx);
	}
}

void mail_index_set_vsize(struct mail_index *idx, uint32_t pos, uint64_t vsize)
{
	struct mail_index_record *r = &idx->recs[pos];
	size_t off;

	r->vsize = vsize;
	r->flags |= MAIL_REC_VSIZE;
	off = lrec_begin(idx, LREC_VSIZE);
	lrec_u32(idx, r->uid);
	lrec_u32(idx, 0);
	lrec_u64(idx, vsize);
	lrec_end(idx, off);
}

bool mail_index_expunged_since(const struct mail_index *idx, uint64_t modseq, uint32_t **uids_r,
			       size_t *count_r)
{
	size_t n = 0, i;
	uint32_t *uids;

	*uids_r = NULL;
	*count_r = 0;
	if (modseq < idx->expunge_floor)
		return false;
	for (i = idx->nexpunged; i > 0 && idx->expunged[i - 1].modseq > modseq; i--)
		;
	if (i == idx->nexpunged)
		return true;
	uids = xreallocarray(NULL, idx->nexpunged - i, sizeof(*uids));
	for (; i < idx->nexpunged; i++)
		uids[n++] = idx->expunged[i].uid;
	/* insertion sort: expunges mostly come in uid order already */
	for (size_t a = 1; a < n; a++) {
		uint32_t v = uids[a];
		size_t b = a;
		while (b > 0 && uids[b - 1] > v) {
			uids[b] = uids[b - 1];
			b--;
		}
		uids[b] = v;
	}
	*uids_r = uids;
	*count_r = n;
	return true;
}

/* ---- snapshot writing ---- */

static int write_file(const char *path, const void *data, size_t len, int *fd_r)
{
	int fd, saved;

	store_step("create", path);
	(void)unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	if (store_write_all(fd, data, len, path) < 0 || store_fsync(fd, path) < 0) {
		saved = errno;
		close(fd);
		(void)unlink(path);
		errno = saved;
		return -1;
	}
	if (fd_r != NULL)
		*fd_r = fd;
	else
		close(fd);
	return 0;
}

/* link(from, to) replacing to, through to.tmp so the name never points at
 * nothing */
static int link_replace(const char *from, const char *to)
{
	char *tmp = xasprintf("%s.tmp", to);
	int ret;

	(void)unlink(tmp);
	ret = store_link(from, tmp);
	if (ret == 0 && (ret = store_rename(tmp, to)) < 0)
		(void)unlink(tmp);
	free(tmp);
	return ret;
}

static int copy_replace(const buf_t *data, const char *to)
{
	char *tmp = xasprintf("%s.tmp", to);
	int ret = write_file(tmp, data->data, data->used, NULL);

	if (ret == 0 && (ret = store_rename(tmp, to)) < 0)
		(void)unlink(tmp);
	free(tmp);
	return ret;
}

/* Serializes the unmarked records; the name arena is compacted in passing
 * (new_names receives every record's name, marked ones included, so the
 * in-memory records can switch to it). */
static void snapshot_build(struct mail_index *idx, uint64_t gen, buf_t *out, buf_t *new_names,
			   uint32_t *new_offs)
{
	struct index_header h;
	uint32_t messages = idx->count - idx->marked;
	size_t nexp = idx->nexpunged > MAIL_INDEX_EXPUNGE_HISTORY ? MAIL_INDEX_EXPUNGE_HISTORY
								  : idx->nexpunged;
	size_t first_exp = idx->nexpunged - nexp;
	size_t kw_off, str_off;
	uint64_t hash;

	for (uint32_t i = 0; i < idx->count; i++) {
		const char *name = mail_index_name(idx, i);
		new_offs[i] = (uint32_t)new_names->used;
		buf_append(new_names, name, strlen(name) + 1);
	}
	memset(&h, 0, sizeof(h));
	h.magic = INDEX_MAGIC;
	h.version = INDEX_VERSION;
	h.endian = INDEX_ENDIAN;
	h.header_size = sizeof(h);
	h.record_size = sizeof(struct mail_index_record);
	h.uidvalidity = idx->uidvalidity;
	h.uidnext = idx->uidnext;
	h.messages = messages;
	h.gen = gen;
	h.highestmodseq = idx->highestmodseq;
	h.first_recent_uid = idx->first_recent_uid;
	h.keywords_count = idx->nkeywords;
	h.expunged_count = (uint32_t)nexp;
	h.strings_size = new_names->used;
	h.new_stamp = idx->new_stamp;
	h.cur_stamp = idx->cur_stamp;
	h.cache_id = idx->cache_id;
	h.expunge_floor = first_exp > 0 ? idx->expunged[first_exp - 1].modseq : idx->expunge_floor;
	h.psize_sum = idx->psize_sum;
	buf_append(out, &h, sizeof(h));
	for (uint32_t i = 0; i < idx->count; i++) {
		struct mail_index_record r = idx->recs[i];
		if (r.flags & MAIL_REC_EXPUNGED)
			continue;
		r.flags &= MAIL_REC_DISK_MASK;
		r.name_off = new_offs[i];
		buf_append(out, &r, sizeof(r));
	}
	kw_off = out->used;
	for (unsigned i = 0; i < idx->nkeywords; i++) {
		size_t n = strlen(idx->keywords[i]);
		buf_append_byte(out, (char)n);
		buf_append(out, idx->keywords[i], n);
	}
	h.keywords_size = (uint32_t)(out->used - kw_off);
	if (nexp > 0)
		buf_append(out, idx->expunged + first_exp, nexp * sizeof(*idx->expunged));
	str_off = out->used;
	buf_append(out, new_names->data, new_names->used);
	memcpy(out->data, &h, sizeof(h));
	hash = mail_index_hash(out->data, sizeof(h), 0);
	hash = mail_index_hash(out->data + sizeof(h), messages * sizeof(struct mail_index_record),
			       hash);
	hash = mail_index_hash(out->data + kw_off, h.keywords_size, hash);
	hash = mail_index_hash(out->data + kw_off + h.keywords_size,
			       nexp * sizeof(*idx->expunged), hash);
	hash = mail_index_hash(out->data + str_off, new_names->used, hash);
	h.hash = hash;
	memcpy(out->data, &h, sizeof(h));
}

int mail_index_rewrite(struct mail_index *idx, char **error_r)
{
	char *ipath = index_path(idx, MAIL_INDEX_FILE), *itmp = index_path(idx, "youju.index.tmp");
	char *lpath = index_path(idx, MAIL_INDEX_LOG_FILE), *ltmp = index_path(idx, "youju.log.tmp");
	char *bpath = index_path(idx, MAIL_INDEX_BAK_FILE);
	char *l1path = index_path(idx, MAIL_INDEX_LOG1_FILE);
	uint64_t gen = idx->gen_max + 1;
	uint32_t *new_offs = xreallocarray(NULL, idx->count ? idx->count : 1, sizeof(uint32_t));
	struct log_header lh;
	buf_t out, new_names;
	struct stat st;
	int lfd = -1, ret = -1;
	bool renamed_index = false;

	buf_init(&out, 0);
	buf_init(&new_names, 0);
	snapshot_build(idx, gen, &out, &new_names, new_offs);
	if (write_file(itmp, out.data, out.used, NULL) < 0) {
		store_fail(error_r, "index: write %s: %s", itmp, strerror(errno));
		goto out;
	}
	memset(&lh, 0, sizeof(lh));
	lh.magic = LOG_MAGIC;
	lh.version = INDEX_VERSION;
	lh.uidvalidity = idx->uidvalidity;
	lh.start_uidnext = idx->uidnext;
	lh.gen = gen;
	lh.start_hms = idx->highestmodseq;
	lh.hash = log_header_hash(&lh);
	if (write_file(ltmp, &lh, sizeof(lh), &lfd) < 0) {
		store_fail(error_r, "index: write %s: %s", ltmp, strerror(errno));
		(void)unlink(itmp);
		goto out;
	}
	/* .bak = the snapshot we are replacing if it is valid and ours, else a
	   copy of the new one (its own inode: damage to one is not damage to
	   both); either way at most one generation behind */
	if ((idx->index_ino != 0 ? link_replace(ipath, bpath) : copy_replace(&out, bpath)) < 0 ||
	    (idx->log_ino != 0 ? link_replace(lpath, l1path)
			       : (store_unlink(l1path) < 0 && errno != ENOENT ? -1 : 0)) < 0) {
		store_fail(error_r, "index: backup in %s: %s", idx->dir, strerror(errno));
		(void)unlink(itmp);
		(void)unlink(ltmp);
		goto out;
	}
	if (store_rename(itmp, ipath) < 0) {
		store_fail(error_r, "index: rename %s: %s", ipath, strerror(errno));
		(void)unlink(itmp);
		(void)unlink(ltmp);
		goto out;
	}
	renamed_index = true;
	if (store_rename(ltmp, lpath) < 0) {
		store_fail(error_r, "index: rename %s: %s", lpath, strerror(errno));
		(void)unlink(ltmp);
		goto out;
	}
	if (store_fsync_dir(idx->dir) < 0) {
		store_fail(error_r, "index: fsync %s: %s", idx->dir, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (renamed_index) {
		/* the new snapshot is in place: the old log no longer counts */
		idx->index_ino = 0;
		if (stat(ipath, &st) == 0) {
			idx->index_ino = st.st_ino;
			idx->dev = st.st_dev;
		}
		idx->gen = idx->gen_max = gen;
		idx->snap_uidnext = idx->uidnext;
		idx->snap_hms = idx->highestmodseq;
		idx->snap_size = out.used;
		if (idx->log_fd >= 0)
			close(idx->log_fd);
		idx->log_fd = -1;
		idx->log_ino = 0;
		buf_reset(&idx->pending);
		idx->pending_sync = false;
		for (uint32_t i = 0; i < idx->count; i++)
			idx->recs[i].name_off = new_offs[i];
		buf_free(&idx->names);
		idx->names = new_names;
		buf_init(&new_names, 0);
	}
	if (ret == 0 && lfd >= 0 && fstat(lfd, &st) == 0) {
		idx->log_fd = lfd;
		idx->log_ino = st.st_ino;
		idx->log_size = sizeof(lh);
		idx->need_rewrite = false;
		lfd = -1;
	} else if (renamed_index) {
		/* no usable log for the new snapshot: the next commit retries */
		idx->need_rewrite = true;
	}
	if (lfd >= 0)
		close(lfd);
	buf_free(&out);
	buf_free(&new_names);
	free(new_offs);
	free(ipath);
	free(itmp);
	free(lpath);
	free(ltmp);
	free(bpath);
	free(l1path);
	return ret;
}

/* ---- commit ---- */

static int log_open_append(struct mail_index *idx)
{
	char *path = index_path(idx, MAIL_INDEX_LOG_FILE);
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	int ret = -1;

	if (fd < 0)
		goto out;
	if (fstat(fd, &st) < 0 || st.st_ino != idx->log_ino ||
	    (uint64_t)st.st_size < idx->log_size)
		goto out;
	/* cut a torn tail off, or appends would land behind it */
	if ((uint64_t)st.st_size != idx->log_size &&
	    store_ftruncate(fd, (off_t)idx->log_size, path) < 0)
		goto out;
	idx->log_fd = fd;
	fd = -1;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}

static int cache_compact(struct mail_index *idx);

int mail_index_commit(struct mail_index *idx, char **error_r)
{
	char *path;
	struct stat st;
	size_t off;
	bool want_rewrite;

	if (idx->pending.used == 0 && !idx->need_rewrite)
		return 0;
	if (idx->cache_fd >= 0 && idx->cache_size > CACHE_COMPACT_MIN &&
	    idx->cache_size / 2 > idx->cache_live)
		(void)cache_compact(idx);
	if (!idx->need_rewrite && idx->log_fd < 0 && log_open_append(idx) < 0)
		idx->need_rewrite = true;
	if (!idx->need_rewrite && (fstat(idx->log_fd, &st) < 0 ||
				   (uint64_t)st.st_size != idx->log_size)) {
		log_warn("index: log of path=%s changed by someone else, rewriting", idx->dir);
		idx->need_rewrite = true;
	}
	if (idx->need_rewrite)
		return mail_index_rewrite(idx, error_r);
	off = lrec_begin(idx, LREC_COMMIT);
	lrec_end(idx, off);
	path = index_path(idx, MAIL_INDEX_LOG_FILE);
	if (store_write_all(idx->log_fd, idx->pending.data, idx->pending.used, path) < 0 ||
	    (idx->pending_sync && store_fdatasync(idx->log_fd, path) < 0)) {
		int saved = errno;
		(void)ftruncate(idx->log_fd, (off_t)idx->log_size);
		idx->need_rewrite = true;
		free(path);
		return store_fail(error_r, "index: write %s/%s: %s", idx->dir, MAIL_INDEX_LOG_FILE,
				  strerror(saved));
	}
	free(path);
	idx->log_size += idx->pending.used;
	buf_reset(&idx->pending);
	idx->pending_sync = false;
	want_rewrite = idx->log_size > LOG_REWRITE_MIN && idx->log_size > idx->snap_size / 2;
	if (want_rewrite) {
		char *err = NULL;
		/* the changes are durable in the log already */
		if (mail_index_rewrite(idx, &err) < 0) {
			log_warn("index: %s", err);
			free(err);
		}
	}
	return 0;
}

/* ---- totals without records (quota) ---- */

int mail_index_read_totals(const char *dir, uint64_t *bytes_r, uint64_t *messages_r)
{
	char *path = xasprintf("%s/%s", dir, MAIL_INDEX_FILE);
	struct index_header h;
	struct logfile l;
	uint32_t uidv = 0;
	uint64_t gen = 0, bytes, msgs;
	bool exists = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret;

	free(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	ret = pread_full(fd, &h, sizeof(h), 0);
	close(fd);
	if (ret < 0)
		return -1;
	if (ret > 0 || h.magic != INDEX_MAGIC || h.version != INDEX_VERSION ||
	    h.endian != INDEX_ENDIAN || h.header_size != sizeof(h))
		return 0;
	bytes = h.psize_sum;
	msgs = h.messages;
	if (log_load(dir, MAIL_INDEX_LOG_FILE, &l, &uidv, &gen, &exists, NULL) < 0)
		return -1;
	if (l.ok && l.hdr.gen == h.gen && l.hdr.uidvalidity == h.uidvalidity) {
		size_t pos = sizeof(struct log_header);
		while (pos < l.commit_end) {
			uint32_t type, len;
			struct cursor c;

			memcpy(&type, l.data + pos, 4);
			memcpy(&len, l.data + pos + 4, 4);
			c = (struct cursor){ l.data + pos + 8, len, false };
			if (type == LREC_APPEND || type == LREC_EXPUNGE) {
				uint64_t psize;
				(void)cur_u64(&c);	/* uid + flags / uid + pad */
				if (type == LREC_APPEND) {
					(void)cur_u64(&c);
					(void)cur_u64(&c);
				} else {
					(void)cur_u64(&c);
				}
				psize = cur_u64(&c);
				if (!c.bad && type == LREC_APPEND) {
					bytes += psize;
					msgs++;
				} else if (!c.bad) {
					bytes = psize > bytes ? 0 : bytes - psize;
					msgs = msgs > 0 ? msgs - 1 : 0;
				}
			}
			pos += 16 + (size_t)len;
		}
	}
	log_free(&l);
	*bytes_r = bytes;
	*messages_r = msgs;
	return 1;
}

/* ---- cache ---- */

static uint64_t cache_new_id(void)
{
	static uint64_t counter;
	uint64_t id = (uint64_t)store_now_ns() ^ ((uint64_t)getpid() << 40) ^
		      (++counter * HASH_K1);

	return id != 0 ? id : 1;
}

/* A new empty cache file (under a new id) in place of youju.cache. */
static int cache_create(struct mail_index *idx, const char *file, uint64_t id, int *fd_r)
{
	char *path = index_path(idx, file);
	struct cache_header h = { CACHE_MAGIC, INDEX_VERSION, id };
	int ret = 0;

	store_step("create", path);
	(void)unlink(path);
	*fd_r = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd_r < 0 || store_write_all(*fd_r, &h, sizeof(h), path) < 0) {
		ret = -1;
		if (*fd_r >= 0)
			close(*fd_r);
		*fd_r = -1;
	}
	free(path);
	return ret;
}

/* Reads and checks the entry of record pos into *out (the whole entry). */
static int cache_read_entry(struct mail_index *idx, uint32_t pos, buf_t *out)
{
	const struct mail_index_record *r = &idx->recs[pos];
	uint32_t magic, uid, nfields, dlen;
	uint64_t hash;

	cache_reopen(idx);

	if (idx->cache_fd < 0 || r->cache_off == 0 || r->cache_len < 24 ||
	    r->cache_len > CACHE_MAX_ENTRY || r->cache_off > idx->cache_size ||
	    r->cache_len > idx->cache_size - r->cache_off)
		return 0;
	buf_reset(out);
	if (buf_reserve(out, r->cache_len) < 0)
		return 0;
	int rr = pread_full(idx->cache_fd, out->data, r->cache_len, r->cache_off);
	if (rr < 0)
		return -1;
	if (rr > 0)
		return 0;
	out->used = r->cache_len;
	memcpy(&magic, out->data, 4);
	memcpy(&uid, out->data + 4, 4);
	memcpy(&nfields, out->data + 8, 4);
	memcpy(&dlen, out->data + 12, 4);
	memcpy(&hash, out->data + r->cache_len - 8, 8);
	if (magic != CACHE_ENTRY_MAGIC || uid != r->uid || nfields > MAIL_CACHE_FIELDS ||
	    (uint64_t)dlen + 24 != r->cache_len ||
	    mail_index_hash(out->data, r->cache_len - 8, 0) != hash)
		return 0;
	return 1;
}

/* Splits a checked entry into its fields; false if they do not add up. */
static bool cache_fields(const buf_t *entry, unsigned *fields_r, const char **data_r,
			 uint32_t *lens_r)
{
	uint32_t nfields, dlen;
	size_t pos = 16, end;

	memcpy(&nfields, entry->data + 8, 4);
	memcpy(&dlen, entry->data + 12, 4);
	end = 16 + (size_t)dlen;
	for (uint32_t i = 0; i < nfields; i++) {
		uint32_t field, len;
		if (end - pos < 8)
			return false;
		memcpy(&field, entry->data + pos, 4);
		memcpy(&len, entry->data + pos + 4, 4);
		pos += 8;
		if (field >= MAIL_CACHE_FIELDS || len > end - pos)
			return false;
		fields_r[i] = field;
		data_r[i] = entry->data + pos;
		lens_r[i] = len;
		pos += len;
	}
	return pos == end;
}

int mail_index_cache_get(struct mail_index *idx, uint32_t pos, unsigned field, buf_t *out,
			 char **error_r)
{
	unsigned fields[MAIL_CACHE_FIELDS];
	const char *data[MAIL_CACHE_FIELDS];
	uint32_t lens[MAIL_CACHE_FIELDS], nfields;
	buf_t entry;
	int ret;

	buf_init(&entry, 0);
	ret = cache_read_entry(idx, pos, &entry);
	if (ret < 0) {
		buf_free(&entry);
		return store_fail(error_r, "cache: read %s/%s: %s", idx->dir,
				  MAIL_INDEX_CACHE_FILE, strerror(errno));
	}
	if (ret > 0) {
		ret = 0;
		memcpy(&nfields, entry.data + 8, 4);
		if (cache_fields(&entry, fields, data, lens)) {
			for (uint32_t i = 0; i < nfields; i++)
				if (fields[i] == field) {
					buf_append(out, data[i], lens[i]);
					ret = 1;
					break;
				}
		}
	}
	buf_free(&entry);
	return ret;
}

static void cache_log(struct mail_index *idx, uint32_t pos)
{
	size_t off = lrec_begin(idx, LREC_CACHE);

	lrec_u32(idx, idx->recs[pos].uid);
	lrec_u32(idx, idx->recs[pos].cache_len);
	lrec_u64(idx, idx->recs[pos].cache_off);
	lrec_end(idx, off);
}

/* Appends an entry with these fields for record pos and points the record
 * at it. */
static int cache_write_entry(struct mail_index *idx, uint32_t pos, const unsigned *fields,
			     const char *const *data, const uint32_t *lens, uint32_t n,
			     char **error_r)
{
	struct mail_index_record *r;
	uint32_t magic = CACHE_ENTRY_MAGIC, dlen;
	uint64_t hash, total = 24, at;
	buf_t entry;
	char *path;
	int ret = 0;

	cache_reopen(idx);

	for (uint32_t i = 0; i < n; i++)
		total += 8 + (uint64_t)lens[i];
	if (total > CACHE_MAX_ENTRY)
		return store_fail(error_r, "cache: entry too large");
	if (idx->cache_fd < 0) {
		uint64_t id = cache_new_id();
		if (cache_create(idx, MAIL_INDEX_CACHE_FILE, id, &idx->cache_fd) < 0)
			return store_fail(error_r, "cache: create in %s: %s", idx->dir,
					  strerror(errno));
		idx->cache_size = sizeof(struct cache_header);
		idx->cache_id = id;
		cache_forget_all(idx);
		log_header_record(idx);
	}
	r = &idx->recs[pos];
	dlen = (uint32_t)(total - 24);
	buf_init(&entry, 0);
	buf_append(&entry, &magic, 4);
	buf_append(&entry, &r->uid, 4);
	buf_append(&entry, &n, 4);
	buf_append(&entry, &dlen, 4);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t f32 = fields[i];
		buf_append(&entry, &f32, 4);
		buf_append(&entry, &lens[i], 4);
		buf_append(&entry, data[i], lens[i]);
	}
	hash = mail_index_hash(entry.data, entry.used, 0);
	buf_append(&entry, &hash, 8);
	path = index_path(idx, MAIL_INDEX_CACHE_FILE);
	store_step("write", path);
	free(path);
	at = idx->cache_size;
	for (size_t done = 0; done < entry.used;) {
		ssize_t w = pwrite(idx->cache_fd, entry.data + done, entry.used - done,
				   (off_t)(at + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = store_fail(error_r, "cache: write %s/%s: %s", idx->dir,
					 MAIL_INDEX_CACHE_FILE, w < 0 ? strerror(errno) : "no space");
			goto out;
		}
		done += (size_t)w;
	}
	if (r->cache_off != 0)
		idx->cache_live -= r->cache_len;
	r->cache_off = at;
	r->cache_len = (uint32_t)entry.used;
	idx->cache_size += entry.used;
	idx->cache_live += entry.used;
	cache_log(idx, pos);
out:
	buf_free(&entry);
	return ret;
}

int mail_index_cache_set(struct mail_index *idx, uint32_t pos, unsigned field, const void *blob,
			 size_t len, char **error_r)
{
	unsigned fields[MAIL_CACHE_FIELDS];
	const char *data[MAIL_CACHE_FIELDS];
	uint32_t lens[MAIL_CACHE_FIELDS], nfields = 0, n = 0;
	buf_t old;
	int ret;

	if (field >= MAIL_CACHE_FIELDS || len > MAIL_CACHE_MAX_BLOB)
		return store_fail(error_r, "cache: field or blob too large");
	buf_init(&old, 0);
	if (cache_read_entry(idx, pos, &old) > 0 && cache_fields(&old, fields, data, lens))
		memcpy(&nfields, old.data + 8, 4);
	for (uint32_t i = 0; i < nfields; i++) {
		if (fields[i] == field)
			continue;
		fields[n] = fields[i];
		data[n] = data[i];
		lens[n++] = lens[i];
	}
	fields[n] = field;
	data[n] = blob;
	lens[n++] = (uint32_t)len;
	ret = cache_write_entry(idx, pos, fields, data, lens, n, error_r);
	buf_free(&old);
	return ret;
}

int mail_index_cache_copy(struct mail_index *src, uint32_t spos, struct mail_index *dst,
			  uint32_t dpos, char **error_r)
{
	unsigned fields[MAIL_CACHE_FIELDS];
	const char *data[MAIL_CACHE_FIELDS];
	uint32_t lens[MAIL_CACHE_FIELDS], nfields = 0;
	buf_t old;
	int ret = 0, r;

	buf_init(&old, 0);
	r = cache_read_entry(src, spos, &old);
	if (r < 0)
		ret = store_fail(error_r, "cache: read %s/%s: %s", src->dir, MAIL_INDEX_CACHE_FILE,
				 strerror(errno));
	else if (r > 0 && cache_fields(&old, fields, data, lens)) {
		memcpy(&nfields, old.data + 8, 4);
		if (nfields > 0)
			ret = cache_write_entry(dst, dpos, fields, data, lens, nfields, error_r);
	}
	buf_free(&old);
	return ret;
}

/* Copies the live entries into a new file under a new id. The new offsets
 * are persisted by a snapshot rewrite (forced here); a crash before it only
 * loses the cache. */
static int cache_compact(struct mail_index *idx)
{
	char *tmp = index_path(idx, "youju.cache.tmp"), *path = index_path(idx,
									    MAIL_INDEX_CACHE_FILE);
	uint64_t id = cache_new_id(), size = sizeof(struct cache_header), live = 0;
	uint64_t *offs = xreallocarray(NULL, idx->count ? idx->count : 1, sizeof(uint64_t));
	uint32_t *lens = xreallocarray(NULL, idx->count ? idx->count : 1, sizeof(uint32_t));
	buf_t entry;
	int fd, ret = -1;

	buf_init(&entry, 0);
	if (cache_create(idx, "youju.cache.tmp", id, &fd) < 0)
		goto out;
	for (uint32_t i = 0; i < idx->count; i++) {
		offs[i] = 0;
		lens[i] = 0;
		if ((idx->recs[i].flags & MAIL_REC_EXPUNGED) || cache_read_entry(idx, i, &entry) <= 0)
			continue;
		if (store_write_all(fd, entry.data, entry.used, tmp) < 0)
			goto fail;
		offs[i] = size;
		lens[i] = (uint32_t)entry.used;
		size += entry.used;
		live += entry.used;
	}
	if (store_rename(tmp, path) < 0)
		goto fail;
	close(idx->cache_fd);
	idx->cache_fd = fd;
	idx->cache_size = size;
	idx->cache_live = live;
	idx->cache_id = id;
	for (uint32_t i = 0; i < idx->count; i++) {
		idx->recs[i].cache_off = offs[i];
		idx->recs[i].cache_len = lens[i];
	}
	idx->need_rewrite = true;
	ret = 0;
	goto out;
fail:
	close(fd);
	(void)unlink(tmp);
out:
	buf_free(&entry);
	free(offs);
	free(lens);
	free(tmp);
	free(path);
	return ret;
}
