#include <assert.h>
/*
 * Folders and their views (see mailbox.h): syncing the index with the
 * Maildir directories, flags in file names, append/copy/move/expunge, and
 * each view's own message sequence.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include "maildir.h"
#include "mailbox.h"
#include "xalloc.h"

/* a directory mtime younger than this may hide a change made in the same
 * clock tick (file systems with 1 s or 2 s timestamps included) */
#define STAMP_SAFE_NS (INT64_C(2) * 1000000000)
/* maildir(5): tmp/ files untouched for 36 hours are litter */
#define TMP_MAX_AGE_SECS (36 * 3600)
/* views that claim no \Recent and move nothing */
#define MAILBOX_OPEN_PASSIVE (MAILBOX_OPEN_READONLY | MAILBOX_OPEN_DELIVERY)

struct recent_range {
	uint32_t lo, hi;	/* [lo, hi) */
};

struct own_change {
	uint32_t uid;
	uint64_t modseq;
};

struct mailbox {
	struct mailbox *next;		/* in f->views */
	struct mail_folder *f;
	unsigned flags;			/* enum mailbox_open_flags */
	uint32_t count;
	uint32_t *uids;			/* NULL: the first count records of the folder */
	uint32_t uid_limit;		/* UIDs below were known to the view at its sync */
	uint64_t modseq_seen;
	struct recent_range *recent;
	size_t nrecent, recent_alloc;
	struct own_change *own;		/* changes this view made since its sync */
	size_t nown, own_alloc;
	void (*notify)(struct mailbox *box, void *ctx);
	void *notify_ctx;
};

static unsigned long readdir_calls;

unsigned long mailbox_debug_readdirs(void)
{
	return readdir_calls;
}

/* ---- file names and flags ---- */

static const struct {
	char letter;
	uint32_t flag;
} info_letters[] = {
	{ 'D', MAIL_DRAFT }, { 'F', MAIL_FLAGGED }, { 'P', MAIL_FORWARDED },
	{ 'R', MAIL_ANSWERED }, { 'S', MAIL_SEEN }, { 'T', MAIL_DELETED },
};

static size_t name_base_len(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon ? (size_t)(colon - name) : strlen(name);
}

/* the letters after ":2,", or NULL */
static const char *name_info(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon != NULL && colon[1] == '2' && colon[2] == ',' ? colon + 3 : NULL;
}

static uint32_t name_flags(const char *name)
{
	const char *info = name_info(name);
	uint32_t flags = 0;

	for (; info != NULL && *info != '\0'; info++)
		for (size_t i = 0; i < sizeof(info_letters) / sizeof(info_letters[0]); i++)
			if (*info == info_letters[i].letter)
				flags |= info_letters[i].flag;
	return flags;
}

/* BASE:2,LETTERS: the letters of flags plus the name's other letters
 * (kept as they were), in ASCII order (maildir(5)). malloc'd. */
static char *name_with_flags(const char *name, uint32_t flags)
{
	bool on[128] = { false };
	const char *info = name_info(name);
	buf_t b;

	for (; info != NULL && *info != '\0'; info++) {
		unsigned char c = (unsigned char)*info;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
			on[c] = true;
	}
	for (size_t i = 0; i < sizeof(info_letters) / sizeof(info_letters[0]); i++)
		on[(unsigned char)info_letters[i].letter] = (flags & info_letters[i].flag) != 0;
	buf_init(&b, 0);
	buf_append(&b, name, name_base_len(name));
	buf_append_cstr(&b, ":2,");
	for (int c = 'A'; c <= 'z'; c++)
		if (on[c])
			buf_append_byte(&b, (char)c);
	return b.data;
}

/* ",W=<n>" in the base name: the RFC822.SIZE written by Dovecot */
static bool name_vsize(const char *name, uint64_t *vsize_r)
{
	size_t blen = name_base_len(name);
	const char *p = memmem(name, blen, ",W=", 3);
	size_t n = 0;

	if (p == NULL)
		return false;
	p += 3;
	while (p + n < name + blen && p[n] >= '0' && p[n] <= '9')
		n++;
	return slice_to_u64(slice_make(p, n), vsize_r) == 0;
}

/* "<sec>.M<usec>..." sort keys; names without them sort first, by name */
static void name_time(const char *name, uint64_t *sec_r, uint64_t *usec_r)
{
	uint64_t sec = 0, usec = 0;
	const char *p = name;

	for (; *p >= '0' && *p <= '9' && sec < UINT64_MAX / 100; p++)
		sec = sec * 10 + (uint64_t)(*p - '0');
	if (p[0] == '.' && p[1] == 'M')
		for (p += 2; *p >= '0' && *p <= '9' && usec < UINT64_MAX / 100; p++)
			usec = usec * 10 + (uint64_t)(*p - '0');
	*sec_r = sec;
	*usec_r = usec;
}

/* A new unique base name for a copy in this process. */
static char *unique_base(const struct mail_user *u, uint64_t psize)
{
	static uint64_t counter;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return xasprintf("%lld.M%ldP%ldC%" PRIu64 ".%s,S=%" PRIu64, (long long)ts.tv_sec,
			 (long)(ts.tv_nsec / 1000), (long)getpid(), ++counter, u->hostname_esc,
			 psize);
}

static char *msg_path(const struct mail_folder *f, const char *name, bool in_new)
{
	return xasprintf("%s/%s/%s", f->path, in_new ? "new" : "cur", name);
}

static char *rec_path(const struct mail_folder *f, uint32_t pos)
{
	const struct mail_index *idx = f->index;

	return msg_path(f, mail_index_name(idx, pos), (idx->recs[pos].flags & MAIL_REC_IN_NEW) != 0);
}

/* RFC822.SIZE of an LF file: every LF not after a CR becomes CRLF. */
static int fd_vsize(int fd, uint64_t *vsize_r)
{
	char chunk[65536];
	uint64_t size = 0, lfs = 0;
	off_t off = 0;
	char prev = '\0';

	for (;;) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n' && prev != '\r')
				lfs++;
			prev = chunk[i];
		}
		size += (uint64_t)n;
		off += n;
	}
	*vsize_r = size + lfs;
	return 0;
}

/* ---- directory stamps ---- */

static int64_t dir_mtime_path(const char *dir, const char *sub)
{
	char *path = xasprintf("%s/%s", dir, sub);
	struct stat st;
	int64_t ns = stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? store_stat_mtime_ns(&st) : -1;

	free(path);
	return ns;
}

static int64_t dir_mtime(const struct mail_folder *f, const char *sub)
{
	return dir_mtime_path(f->path, sub);
}

/*
 * Must the directory be read? Not when its mtime is the stamp saved at the
 * last full read (trusted: old enough when read). Not either when it is the
 * mtime we last saw and that is younger than STAMP_SAFE_NS: one read after
 * it has aged catches a change hidden in the same tick.
 */
static bool dir_needs_scan(int64_t mtime, int64_t stamp, int64_t seen, int64_t now)
{
	if (mtime < 0)
		return true;
	if (stamp != 0 && mtime == stamp)
		return false;
	if (seen != 0 && mtime == seen && now - mtime < STAMP_SAFE_NS)
		return false;
	return true;
}

struct dir_marks {
	int64_t pre_new, pre_cur;
};

/* Around a change youju makes itself in new/ and/or cur/: if the directory
 * was known before, it is known after. */
static void own_begin(const struct mail_folder *f, bool new_dir, bool cur_dir, struct dir_marks *m)
{
	m->pre_new = new_dir ? dir_mtime(f, "new") : -1;
	m->pre_cur = cur_dir ? dir_mtime(f, "cur") : -1;
}

static void own_end(struct mail_folder *f, const struct dir_marks *m)
{
	const struct mail_index *idx = f->index;

	if (m->pre_new >= 0 && (m->pre_new == idx->new_stamp || m->pre_new == f->seen_new_ns))
		f->seen_new_ns = dir_mtime(f, "new");
	if (m->pre_cur >= 0 && (m->pre_cur == idx->cur_stamp || m->pre_cur == f->seen_cur_ns))
		f->seen_cur_ns = dir_mtime(f, "cur");
}

/* ---- views and folder-wide changes ---- */

static void view_materialize(struct mailbox *v)
{
	const struct mail_index *idx = v->f->index;

	if (v->uids != NULL)
		return;
	v->uids = xreallocarray(NULL, v->count ? v->count : 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < v->count; i++)
		v->uids[i] = idx->recs[i].uid;
}

/* Removes expunged records; views in step with the folder keep their
 * numbering by taking a copy of their UID list first. */
static void folder_compact(struct mail_folder *f)
{
	if (f->index->marked == 0)
		return;
	for (struct mailbox *v = f->views; v != NULL; v = v->next)
		view_materialize(v);
	mail_index_compact(f->index);
}

static bool view_pos(const struct mailbox *box, uint32_t seq, uint32_t *pos_r)
{
	const struct mail_index *idx = box->f->index;
	uint32_t pos;

	if (seq == 0 || seq > box->count)
		return false;
	if (box->uids == NULL)
		pos = seq - 1;
	else if (!mail_index_lookup_uid(idx, box->uids[seq - 1], &pos))
		return false;
	if (pos >= idx->count || (idx->recs[pos].flags & MAIL_REC_EXPUNGED))
		return false;
	*pos_r = pos;
	return true;
}

static void own_add(struct mailbox *box, uint32_t uid, uint64_t modseq)
{
	if (box->nown == box->own_alloc) {
		box->own_alloc = box->own_alloc ? box->own_alloc * 2 : 16;
		box->own = xreallocarray(box->own, box->own_alloc, sizeof(*box->own));
	}
	box->own[box->nown++] = (struct own_change){ uid, modseq };
}

static int own_cmp(const void *a, const void *b)
{
	const struct own_change *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->modseq < y->modseq ? -1 : x->modseq > y->modseq;
}

/* Did this view make the record's latest change itself? (own is sorted) */
static bool own_is(const struct mailbox *box, uint32_t uid, uint64_t modseq)
{
	size_t lo = 0, hi = box->nown;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct own_change *o = &box->own[mid];
		if (o->uid < uid || (o->uid == uid && o->modseq < modseq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < box->nown && box->own[lo].uid == uid && box->own[lo].modseq == modseq;
}

static void recent_add(struct mailbox *box, uint32_t lo, uint32_t hi)
{
	if (lo >= hi)
		return;
	if (box->nrecent > 0 && box->recent[box->nrecent - 1].hi == lo) {
		box->recent[box->nrecent - 1].hi = hi;
		return;
	}
	if (box->nrecent == box->recent_alloc) {
		box->recent_alloc = box->recent_alloc ? box->recent_alloc * 2 : 4;
		box->recent = xreallocarray(box->recent, box->recent_alloc, sizeof(*box->recent));
	}
	box->recent[box->nrecent++] = (struct recent_range){ lo, hi };
}

static uint32_t view_recent_count(const struct mailbox *box)
{
	const struct mail_index *idx = box->f->index;
	uint32_t n = 0;

	if (box->flags & MAILBOX_OPEN_PASSIVE)
		return box->count + 1 - mailbox_seq_ge(box, idx->first_recent_uid);
	for (size_t i = 0; i < box->nrecent; i++)
		n += mailbox_seq_ge(box, box->recent[i].hi) - mailbox_seq_ge(box, box->recent[i].lo);
	return n;
}

static void folder_notify(struct mail_folder *f, const struct mailbox *origin)
{
	f->notify_pending = false;
	for (struct mailbox *v = f->views; v != NULL; v = v->next)
		if (v != origin && v->notify != NULL)
			v->notify(v, v->notify_ctx);
}

static int folder_commit(struct mail_folder *f, const struct mailbox *origin, char **error_r)
{
	folder_compact(f);
	if (f->cur_dirty) {
		char *cur = xasprintf("%s/cur", f->path);
		int r = store_fsync_dir(cur);
		if (r < 0)
			store_fail(error_r, "mailbox: fsync %s: %s", cur, strerror(errno));
		free(cur);
		if (r < 0)
			return MAIL_ERR_TEMP;
		f->cur_dirty = false;
	}
	if (mail_index_commit(f->index, error_r) < 0)
		return MAIL_ERR_TEMP;
	if (f->notify_pending)
		folder_notify(f, origin);
	return 0;
}

/* ---- reading the directories ---- */

struct scan_entry {
	uint32_t off;		/* name in the scan arena */
	uint32_t pos;		/* matched record, or UINT32_MAX */
	bool in_new;
	bool dup;		/* a second file with a base name already seen */
};

struct scan {
	buf_t arena;
	struct scan_entry *e;
	size_t n, alloc;
};

static const char *scan_name(const struct scan *s, size_t i)
{
	return s->arena.data + s->e[i].off;
}

static int scan_dir(struct mail_folder *f, const char *sub, struct scan *s, char **error_r)
{
	char *path = xasprintf("%s/%s", f->path, sub);
	struct dirent *de;
	DIR *d;

	readdir_calls++;
	d = opendir(path);
	if (d == NULL) {
		int ret = errno == ENOENT ? 0 : store_fail(error_r, "mailbox: opendir %s: %s", path,
							   strerror(errno));
		free(path);
		return ret;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len > MAIL_INDEX_NAME_MAX ||
		    s->arena.used + len + 1 > UINT32_MAX)
			continue;
		if (s->n == s->alloc) {
			s->alloc = s->alloc ? s->alloc * 2 : 256;
			s->e = xreallocarray(s->e, s->alloc, sizeof(*s->e));
		}
		s->e[s->n++] = (struct scan_entry){ (uint32_t)s->arena.used, UINT32_MAX,
						    sub[0] == 'n', false };
		buf_append(&s->arena, de->d_name, len + 1);
	}
	if (errno != 0) {
		int ret = store_fail(error_r, "mailbox: readdir %s: %s", path, strerror(errno));
		closedir(d);
		free(path);
		return ret;
	}
	closedir(d);
	free(path);
	return 0;
}

/* maildir(5): remove tmp/ files nobody has touched for 36 hours */
static void clean_tmp(struct mail_folder *f)
{
	char *path = xasprintf("%s/tmp", f->path);
	time_t limit = time(NULL) - TMP_MAX_AGE_SECS;
	struct dirent *de;
	DIR *d;

	readdir_calls++;
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			struct stat st;
			if (de->d_name[0] == '.' ||
			    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode) || st.st_mtime >= limit)
				continue;
			store_step("unlink", de->d_name);
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				log_info("mailbox: removed stale path=%s/%s", path, de->d_name);
		}
		closedir(d);
	}
	free(path);
}

/* Base-name hash table over the records: slot = position + 1. */
struct base_table {
	uint32_t *slots;
	uint32_t mask;
};

static uint64_t base_hash(const char *name, size_t len)
{
	return mail_index_hash(name, len, 0x6d61696c);
}

static void base_table_build(struct base_table *t, const struct mail_index *idx)
{
	uint32_t size = 16;

	while (size < idx->count * 2u && size < (UINT32_C(1) << 31))
		size *= 2;
	t->slots = xcalloc(size, sizeof(uint32_t));
	t->mask = size - 1;
	for (uint32_t pos = 0; pos < idx->count; pos++) {
		const char *name = mail_index_name(idx, pos);
		uint32_t h = (uint32_t)base_hash(name, name_base_len(name)) & t->mask;
		while (t->slots[h] != 0)
			h = (h + 1) & t->mask;
		t->slots[h] = pos + 1;
	}
}

static bool base_table_find(const struct base_table *t, const struct mail_index *idx,
			    const char *name, uint32_t *pos_r)
{
	size_t blen = name_base_len(name);
	uint32_t h = (uint32_t)base_hash(name, blen) & t->mask;

	for (; t->slots[h] != 0; h = (h + 1) & t->mask) {
		uint32_t pos = t->slots[h] - 1;
		const char *other = mail_index_name(idx, pos);
		if (name_base_len(other) == blen && memcmp(other, name, blen) == 0) {
			*pos_r = pos;
			return true;
		}
	}
	return false;
}

struct fresh_order {
	const struct scan *s;
	const uint32_t *import_uid;	/* per scan entry, 0 = none; or NULL */
};

/* Imported UIDs first (ascending), then delivery time, then name. */
static int new_entry_cmp(const void *a, const void *b, void *ctx)
{
	const struct fresh_order *o = ctx;
	const struct scan *s = o->s;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	const struct scan_entry *x = &s->e[ia], *y = &s->e[ib];
	const char *xn = s->arena.data + x->off, *yn = s->arena.data + y->off;
	uint32_t xi = o->import_uid ? o->import_uid[ia] : 0, yi = o->import_uid ? o->import_uid[ib] : 0;
	uint64_t xs, xu, ys, yu;

	if ((xi != 0) != (yi != 0))
		return xi != 0 ? -1 : 1;
	if (xi != yi)
		return xi < yi ? -1 : 1;

	name_time(xn, &xs, &xu);
	name_time(yn, &ys, &yu);
	if (xs != ys)
		return xs < ys ? -1 : 1;
	if (xu != yu)
		return xu < yu ? -1 : 1;
	return strcmp(xn, yn);
}

/* new/NAME -> cur/NAME:2,LETTERS; the new name, or NULL (left in new/) */
static char *move_to_cur(struct mail_folder *f, const char *name, uint32_t flags)
{
	char *curname = name_with_flags(name, flags);
	char *from = msg_path(f, name, true), *to = msg_path(f, curname, false);

	if (strlen(curname) > MAIL_INDEX_NAME_MAX || store_rename(from, to) < 0) {
		free(curname);
		curname = NULL;
	}
	free(from);
	free(to);
	return curname;
}

/* ---- dovecot-uidlist (migration from Dovecot, DESIGN.md 9) ---- */

#define UIDLIST_MAX_SIZE (64u * 1024 * 1024)

static int import_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct uid_import_entry *)a)->base,
		      ((const struct uid_import_entry *)b)->base);
}

static uint32_t import_lookup(const struct uid_import *imp, const char *name)
{
	size_t blen = name_base_len(name), lo = 0, hi = imp->n;
	char *base = xstrndup(name, blen);
	uint32_t uid = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(imp->v[mid].base, base);
		if (c == 0) {
			uid = imp->v[mid].uid;
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	free(base);
	return uid;
}

static void import_free(struct uid_import *imp)
{
	for (size_t i = 0; i < imp->n; i++)
		free(imp->v[i].base);
	free(imp->v);
	memset(imp, 0, sizeof(*imp));
}

static bool parse_u32(const char *s, size_t len, uint32_t *v_r)
{
	uint64_t v;

	if (slice_to_u64(slice_make(s, len), &v) < 0 || v == 0 || v >= UINT32_MAX)
		return false;
	*v_r = (uint32_t)v;
	return true;
}

/*
 * Reads DIR/dovecot-uidlist: "1 UIDVALIDITY NEXTUID" then "UID NAME"
 * lines, or (version 3) "3 V<uidvalidity> N<nextuid> G<guid>" then
 * "UID [extensions] :NAME" lines. false if missing or malformed; lines
 * that make no sense are skipped.
 */
static bool import_load(const char *dir, struct uid_import *imp)
{
	char *path = xasprintf("%s/dovecot-uidlist", dir), *data, *line, *save = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), version;
	size_t alloc = 0;
	uint32_t prev = 0;
	struct stat st;

	memset(imp, 0, sizeof(*imp));
	free(path);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > UIDLIST_MAX_SIZE) {
		close(fd);
		return false;
	}
	data = xmalloc((size_t)st.st_size + 1);
	if (read(fd, data, (size_t)st.st_size) != st.st_size) {
		close(fd);
		free(data);
		return false;
	}
	close(fd);
	data[st.st_size] = '\0';
	line = strtok_r(data, "\n", &save);
	if (line == NULL || (line[0] != '1' && line[0] != '3') || line[1] != ' ') {
		free(data);
		return false;
	}
	version = line[0] - '0';
	int n = 0;
	char *tsave = NULL;
	for (char *tok = strtok_r(line + 2, " ", &tsave); tok != NULL;
	     tok = strtok_r(NULL, " ", &tsave), n++) {
		if (version == 1 && n == 0)
			(void)parse_u32(tok, strlen(tok), &imp->uidvalidity);
		else if (version == 1 && n == 1)
			(void)parse_u32(tok, strlen(tok), &imp->uidnext);
		else if (version == 3 && tok[0] == 'V')
			(void)parse_u32(tok + 1, strlen(tok + 1), &imp->uidvalidity);
		else if (version == 3 && tok[0] == 'N')
			(void)parse_u32(tok + 1, strlen(tok + 1), &imp->uidnext);
	}
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		char *sp = strchr(line, ' '), *name;
		uint32_t uid;

		if (sp == NULL || !parse_u32(line, (size_t)(sp - line), &uid) || uid <= prev)
			continue;
		name = version == 3 ? strstr(sp, " :") : sp;
		if (name == NULL)
			continue;
		name += version == 3 ? 2 : 1;
		name[name_base_len(name)] = '\0';
		if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL ||
		    strlen(name) > MAIL_INDEX_NAME_MAX)
			continue;
		if (imp->n == alloc) {
			alloc = alloc ? alloc * 2 : 256;
			imp->v = xreallocarray(imp->v, alloc, sizeof(*imp->v));
		}
		imp->v[imp->n++] = (struct uid_import_entry){ xstrdup(name), uid };
		prev = uid;
	}
	free(data);
	if (imp->uidvalidity == 0) {
		import_free(imp);
		return false;
	}
	if (imp->n > 1)
		qsort(imp->v, imp->n, sizeof(*imp->v), import_entry_cmp);
	if (prev >= imp->uidnext)
		imp->uidnext = prev + 1;
	return true;
}

/* A file that appeared: give it a UID. */
static int scan_add_new(struct mail_folder *f, const char *name, bool in_new, bool dup,
			bool readonly, uint32_t uid, char **error_r)
{
	struct mail_index *idx = f->index;
	struct mail_index_record rec;
	char *final = NULL, *path = msg_path(f, name, in_new);
	struct stat st;
	uint32_t pos;
	int ret = 0;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;	/* gone again, or not a message */
	memset(&rec, 0, sizeof(rec));
	rec.uid = uid;
	rec.psize = (uint64_t)st.st_size;
	rec.idate = st.st_mtime;
	if (name_vsize(name, &rec.vsize))
		rec.flags |= MAIL_REC_VSIZE;
	if (!in_new)
		rec.flags |= name_flags(name);
	if (dup) {
		/* the same base name twice (a copy made by hand): the second
		   file becomes a message of its own under a new name */
		char *base = unique_base(f->user, rec.psize);
		char *to;
		if (readonly)
			goto out;
		final = name_with_flags(base, rec.flags & MAIL_FLAGS_MASK);
		free(base);
		to = msg_path(f, final, false);
		if (store_rename(path, to) < 0) {
			free(to);
			goto out;
		}
		free(to);
		in_new = false;
	} else if (in_new && !readonly) {
		final = move_to_cur(f, name, 0);
		if (final != NULL)
			in_new = false;
	}
	if (final == NULL)
		final = xstrdup(name);
	if (in_new) {
		rec.flags |= MAIL_REC_IN_NEW;
		f->maybe_in_new = true;
	}
	if (mail_index_append(idx, &rec, final, &pos, error_r) < 0)
		ret = MAIL_ERR_TEMP;
	else
		mail_user_quota_add(f->user, (int64_t)rec.psize, 1);
out:
	free(final);
	free(path);
	return ret;
}

/*
 * Reads new/ and/or cur/ and brings the index in line: new files get UIDs,
 * vanished ones are expunged, changed info letters are flag changes, files
 * in new/ go to cur/ (writable only). A record missing from a directory
 * read here may have moved to the other one: then that one is read too.
 */
static int folder_scan(struct mail_folder *f, bool scan_new, bool scan_cur, bool readonly,
		       char **error_r)
{
	struct mail_index *idx = f->index;
	struct scan s = { .e = NULL };
	struct base_table t = { NULL, 0 };
	size_t *fresh = NULL, nfresh = 0;
	uint8_t *matched = NULL;
	int64_t now, pre_new, pre_cur;
	bool moved = false, again;
	int ret = 0;

	buf_init(&s.arena, 0);
	do {
		again = false;
		now = store_now_ns();
		pre_new = dir_mtime(f, "new");
		pre_cur = dir_mtime(f, "cur");
		s.n = 0;
		buf_reset(&s.arena);
		if ((scan_new && (ret = scan_dir(f, "new", &s, error_r)) < 0) ||
		    (scan_cur && (ret = scan_dir(f, "cur", &s, error_r)) < 0))
			goto out;
		free(t.slots);
		free(matched);
		base_table_build(&t, idx);
		matched = xcalloc(idx->count ? idx->count : 1, 1);
		for (size_t i = 0; i < s.n; i++) {
			uint32_t pos;
			if (!base_table_find(&t, idx, scan_name(&s, i), &pos) ||
			    (idx->recs[pos].flags & MAIL_REC_EXPUNGED))
				continue;
			if (matched[pos])
				s.e[i].dup = true;
			else {
				matched[pos] = 1;
				s.e[i].pos = pos;
			}
		}
		/* a record gone from the directory it was in, while the other
		   directory was not read: read that one too, it may be there */
		for (uint32_t pos = 0; pos < idx->count && !(scan_new && scan_cur); pos++) {
			bool in_new = (idx->recs[pos].flags & MAIL_REC_IN_NEW) != 0;
			if (!matched[pos] && !(idx->recs[pos].flags & MAIL_REC_EXPUNGED) &&
			    (in_new ? scan_new : scan_cur)) {
				scan_new = scan_cur = true;
				again = true;
			}
		}
	} while (again);

	for (size_t i = 0; i < s.n; i++) {
		const struct scan_entry *e = &s.e[i];
		const char *name = scan_name(&s, i);
		struct mail_index_record *r;
		bool rec_new;

		if (e->pos == UINT32_MAX) {
			if (nfresh % 256 == 0)
				fresh = xreallocarray(fresh, nfresh + 256, sizeof(*fresh));
			fresh[nfresh++] = i;
			continue;
		}
		r = &idx->recs[e->pos];
		rec_new = (r->flags & MAIL_REC_IN_NEW) != 0;
		if (e->in_new && !readonly) {
			/* in new/: to cur/ with the index's flags */
			char *curname = move_to_cur(f, name, r->flags & MAIL_FLAGS_MASK);
			moved = true;
			if (curname != NULL) {
				ret = mail_index_update(idx, e->pos, r->flags & MAIL_FLAGS_MASK,
							r->keywords, curname, error_r);
				free(curname);
				if (ret < 0)
					goto fail;
				continue;
			}
		}
		if (e->in_new == rec_new && strcmp(name, mail_index_name(idx, e->pos)) == 0)
			continue;
		if (e->in_new) {
			/* new/ files carry no flags: the index's stand */
			ret = mail_index_update(idx, e->pos, (r->flags & MAIL_FLAGS_MASK) | MAIL_REC_IN_NEW,
						r->keywords, name, error_r);
			f->maybe_in_new = true;
		} else {
			/* renamed by someone else: the letters are the flags */
			ret = mail_index_update(idx, e->pos, name_flags(name), r->keywords, name,
						error_r);
		}
		if (ret < 0)
			goto fail;
	}
	for (uint32_t pos = 0; pos < idx->count; pos++) {
		struct mail_index_record *r = &idx->recs[pos];
		bool in_new = (r->flags & MAIL_REC_IN_NEW) != 0;

		if (matched[pos] || (r->flags & MAIL_REC_EXPUNGED) || !(in_new ? scan_new : scan_cur))
			continue;
		if (mail_index_expunge(idx, pos, error_r) < 0)
			goto fail;
		mail_user_quota_add(f->user, -(int64_t)r->psize, -1);
		f->notify_pending = true;
	}
	if (nfresh > 0 && (uint64_t)idx->uidnext + nfresh + 1 >= UINT32_MAX) {
		/* RFC 9051 2.3.1.1: out of UIDs, so a new UIDVALIDITY. Open
		   sessions cannot follow: the folder is gone for them. */
		uint32_t v;
		if (f->nviews > 0) {
			f->deleted = true;
			ret = store_fail_code(MAIL_ERR_NOTFOUND, error_r,
					      "Mailbox %s ran out of UIDs", f->name);
			goto out;
		}
		v = mail_user_new_uidvalidity(f->user, idx->uidvalidity + 1, error_r);
		if (v == 0)
			goto fail;
		log_warn("mailbox: UIDs of path=%s used up, new uidvalidity=%" PRIu32, f->path, v);
		mail_user_quota_add(f->user, -(int64_t)idx->psize_sum,
				    -(int64_t)(idx->count - idx->marked));
		mail_index_reset(idx, v);
		ret = 1;	/* read everything again */
		goto out;
	}
	if (nfresh > 0) {
		struct fresh_order order = { &s, NULL };
		uint32_t *import_uid = NULL;

		if (f->import != NULL) {
			import_uid = xcalloc(s.n, sizeof(uint32_t));
			for (size_t i = 0; i < nfresh; i++)
				if (!s.e[fresh[i]].dup)
					import_uid[fresh[i]] = import_lookup(f->import,
									     scan_name(&s, fresh[i]));
			order.import_uid = import_uid;
		}
		qsort_r(fresh, nfresh, sizeof(*fresh), new_entry_cmp, &order);
		/* files Dovecot did not know come after its NEXTUID */
		for (size_t i = 0; import_uid != NULL && i < nfresh; i++)
			if (import_uid[fresh[i]] == 0) {
				import_uid[fresh[i]] = f->import->uidnext;
				break;
			}
		for (size_t i = 0; i < nfresh; i++) {
			const struct scan_entry *e = &s.e[fresh[i]];
			if (e->in_new || e->dup)
				moved = moved || !readonly;
			if (scan_add_new(f, scan_name(&s, fresh[i]), e->in_new, e->dup, readonly,
					 import_uid ? import_uid[fresh[i]] : 0, error_r) < 0) {
				free(import_uid);
				goto fail;
			}
		}
		free(import_uid);
		f->notify_pending = true;
	}
	if (scan_cur)
		clean_tmp(f);
	{
		int64_t new_stamp = idx->new_stamp, cur_stamp = idx->cur_stamp;
		if (moved) {
			/* our own renames changed both mtimes: known, not trusted */
			new_stamp = cur_stamp = 0;
			f->seen_new_ns = dir_mtime(f, "new");
			f->seen_cur_ns = dir_mtime(f, "cur");
		} else {
			if (scan_new) {
				new_stamp = now - pre_new >= STAMP_SAFE_NS ? pre_new : 0;
				f->seen_new_ns = pre_new;
			}
			if (scan_cur) {
				cur_stamp = now - pre_cur >= STAMP_SAFE_NS ? pre_cur : 0;
				f->seen_cur_ns = pre_cur;
			}
		}
		mail_index_set_stamps(idx, new_stamp, cur_stamp);
	}
	goto out;
fail:
	ret = MAIL_ERR_TEMP;
out:
	free(t.slots);
	free(matched);
	free(fresh);
	free(s.e);
	buf_free(&s.arena);
	return ret;
}

/* Moves records still in new/ to cur/ (left there by a read-only sync or a
 * failed rename). */
static int folder_move_new(struct mail_folder *f, char **error_r)
{
	struct mail_index *idx = f->index;
	struct dir_marks m;
	bool any = false;

	for (uint32_t pos = 0; pos < idx->count; pos++)
		if ((idx->recs[pos].flags & (MAIL_REC_IN_NEW | MAIL_REC_EXPUNGED)) == MAIL_REC_IN_NEW)
			any = true;
	f->maybe_in_new = false;
	if (!any)
		return 0;
	own_begin(f, true, true, &m);
	for (uint32_t pos = 0; pos < idx->count; pos++) {
		struct mail_index_record *r = &idx->recs[pos];
		char *curname;
		if ((r->flags & (MAIL_REC_IN_NEW | MAIL_REC_EXPUNGED)) != MAIL_REC_IN_NEW)
			continue;
		curname = move_to_cur(f, mail_index_name(idx, pos), r->flags & MAIL_FLAGS_MASK);
		if (curname == NULL) {
			f->maybe_in_new = true;
			continue;
		}
		if (mail_index_update(idx, pos, r->flags & MAIL_FLAGS_MASK, r->keywords, curname,
				      error_r) < 0) {
			free(curname);
			return MAIL_ERR_TEMP;
		}
		free(curname);
	}
	own_end(f, &m);
	return 0;
}

static int folder_sync_disk(struct mail_folder *f, bool force, bool readonly, char **error_r)
{
	const struct mail_index *idx = f->index;
	int64_t now = store_now_ns(), mnew, mcur;
	struct stat st;
	bool scan_new, scan_cur;
	int ret;

	if (f->deleted || stat(f->path, &st) < 0) {
		f->deleted = true;
		return store_fail_code(MAIL_ERR_NOTFOUND, error_r, "Mailbox %s does not exist",
				       f->name);
	}
	mnew = dir_mtime(f, "new");
	mcur = dir_mtime(f, "cur");
	if ((mnew < 0 || mcur < 0) && maildir_ensure(f->path, error_r) < 0)
		return MAIL_ERR_TEMP;
	scan_new = force || dir_needs_scan(mnew, idx->new_stamp, f->seen_new_ns, now);
	scan_cur = force || dir_needs_scan(mcur, idx->cur_stamp, f->seen_cur_ns, now);
	if (scan_new || scan_cur) {
		ret = folder_scan(f, scan_new, scan_cur, readonly, error_r);
		if (ret > 0)	/* the index was reset */
			ret = folder_scan(f, true, true, readonly, error_r);
		if (ret < 0)
			return ret;
	}
	if (!readonly && f->maybe_in_new)
		return folder_move_new(f, error_r);
	return 0;
}

/* ---- folders ---- */

struct mail_folder *mail_user_find_folder(struct mail_user *u, const char *canonical)
{
	for (struct mail_folder *f = u->folders; f != NULL; f = f->next)
		if (!f->deleted && strcmp(f->name, canonical) == 0)
			return f;
	return NULL;
}

static void folder_free(struct mail_folder *f)
{
	struct mail_folder **fp;

	for (fp = &f->user->folders; *fp != NULL; fp = &(*fp)->next)
		if (*fp == f) {
			*fp = f->next;
			break;
		}
	mail_index_close(&f->index);
	free(f->name);
	free(f->path);
	free(f);
}

static int folder_open(struct mail_user *u, const char *canonical, bool readonly,
		       struct mail_folder **f_r, char **error_r)
{
	char *path = mail_user_folder_path(u, canonical);
	enum mail_index_state state;
	struct uid_import imp = { 0, 0, NULL, 0 };
	struct mail_index *idx;
	struct mail_folder *f;
	struct stat st;
	int ret;

	ret = 0;
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			ret = store_fail(error_r, "mailbox: stat %s: %s", path, strerror(errno));
		else if (strcmp(canonical, "INBOX") != 0)
			ret = MAIL_ERR_NOTFOUND;
	} else if (!S_ISDIR(st.st_mode)) {
		ret = MAIL_ERR_NOTFOUND;
	}
	if (ret < 0) {
		if (ret == MAIL_ERR_NOTFOUND)
			store_fail_code(ret, error_r, "Mailbox %s does not exist", canonical);
		free(path);
		return ret;
	}
	/* cur/ new/ tmp/ (and INBOX itself) may be missing: make them */
	if (dir_mtime_path(path, "cur") < 0 || dir_mtime_path(path, "new") < 0 ||
	    dir_mtime_path(path, "tmp") < 0) {
		if (maildir_ensure(path, error_r) < 0) {
			free(path);
			return MAIL_ERR_TEMP;
		}
	}
	if (mail_index_open(path, &idx, &state, error_r) < 0) {
		free(path);
		return MAIL_ERR_TEMP;
	}
	if (state == MAIL_INDEX_CREATED && import_load(path, &imp)) {
		/* first open of a folder Dovecot served: keep its UIDs (and
		   so the clients' caches and POP3 UIDLs) */
		log_info("mailbox: importing path=%s/dovecot-uidlist uidvalidity=%" PRIu32
			 " entries=%zu", path, imp.uidvalidity, imp.n);
		mail_index_init_uidvalidity(idx, imp.uidvalidity);
	} else if (state == MAIL_INDEX_LOST || state == MAIL_INDEX_CREATED) {
		uint32_t v = mail_user_new_uidvalidity(u, idx->uidvalidity, error_r);
		if (v == 0) {
			mail_index_close(&idx);
			free(path);
			return MAIL_ERR_TEMP;
		}
		mail_index_init_uidvalidity(idx, v);
	}
	f = xcalloc(1, sizeof(*f));
	f->user = u;
	f->name = xstrdup(canonical);
	f->path = path;
	f->index = idx;
	f->next = u->folders;
	u->folders = f;
	f->maybe_in_new = true;
	f->import = imp.uidvalidity != 0 ? &imp : NULL;
	ret = folder_sync_disk(f, state != MAIL_INDEX_EXACT, readonly, error_r);
	f->import = NULL;
	if (ret == 0 && imp.uidvalidity != 0)
		mail_index_raise_uidnext(idx, imp.uidnext);
	import_free(&imp);
	if (ret == 0)
		ret = folder_commit(f, NULL, error_r);
	if (ret < 0) {
		folder_free(f);
		return ret;
	}
	*f_r = f;
	return 0;
}

int mailbox_folder_totals(struct mail_user *u, const char *canonical, uint64_t *bytes_r,
			  uint64_t *messages_r, char **error_r)
{
	struct mail_folder *f = mail_user_find_folder(u, canonical);
	struct mailbox *box;
	char *path;
	int ret;

	if (f == NULL) {
		path = mail_user_folder_path(u, canonical);
		ret = mail_index_read_totals(path, bytes_r, messages_r);
		free(path);
		if (ret > 0)
			return 0;
		if (ret < 0)
			return store_fail(error_r, "mailbox: reading index of %s: %s", canonical,
					  strerror(errno));
		/* no index: build one */
		ret = mailbox_open(u, canonical, MAILBOX_OPEN_READONLY, &box, error_r);
		if (ret < 0)
			return ret;
		*bytes_r = box->f->index->psize_sum;
		*messages_r = box->f->index->count - box->f->index->marked;
		mailbox_close(&box);
		return 0;
	}
	*bytes_r = f->index->psize_sum;
	*messages_r = f->index->count - f->index->marked;
	return 0;
}

void mailbox_folder_gone(struct mail_folder *f)
{
	f->deleted = true;
	if (f->nviews == 0)
		folder_free(f);
}

void mailbox_folders_free(struct mail_user *u)
{
	while (u->folders != NULL) {
		assert(u->folders->nviews == 0);
		folder_free(u->folders);
	}
}

void mailbox_folder_renamed(struct mail_folder *f, const char *new_name, const char *new_path)
{
	free(f->name);
	free(f->path);
	free(f->index->dir);
	f->name = xstrdup(new_name);
	f->path = xstrdup(new_path);
	f->index->dir = xstrdup(new_path);
}

/* ---- views ---- */

/* Moves the view to the folder's state; fills ch when not NULL. */
static void view_catch_up(struct mailbox *box, bool keep_expunged, struct mailbox_changes *ch)
{
	struct mail_index *idx = box->f->index;
	uint32_t old_count = box->count, old_limit = box->uid_limit, first_new;
	uint32_t *exp_seqs = NULL, *exp_uids = NULL, *changed = NULL;
	size_t nexp = 0, nchanged = 0;

	/* expunged: UIDs of the view the folder no longer has */
	if (box->uids != NULL) {
		for (uint32_t i = 0; i < box->count; i++) {
			uint32_t pos;
			if (mail_index_lookup_uid(idx, box->uids[i], &pos) &&
			    !(idx->recs[pos].flags & MAIL_REC_EXPUNGED))
				continue;
			if (nexp % 64 == 0) {
				exp_seqs = xreallocarray(exp_seqs, nexp + 64, sizeof(uint32_t));
				exp_uids = xreallocarray(exp_uids, nexp + 64, sizeof(uint32_t));
			}
			exp_seqs[nexp] = i + 1;
			exp_uids[nexp++] = box->uids[i];
		}
	}
	first_new = mail_index_lower_bound(idx, old_limit);
	if (nexp > 0 && keep_expunged) {
		/* the list keeps the expunged messages, plus the new ones */
		uint32_t add = idx->count - first_new;
		box->uids = xreallocarray(box->uids, box->count + add + 1, sizeof(uint32_t));
		for (uint32_t pos = first_new; pos < idx->count; pos++)
			box->uids[box->count++] = idx->recs[pos].uid;
		nexp = 0;
	} else {
		/* without the expunged ones, the view's list is the folder's
		   records below old_limit: with the new ones, all of them */
		free(box->uids);
		box->uids = NULL;
		box->count = idx->count;
	}
	/* flags changed by others since the view's last sync */
	if (idx->highestmodseq > box->modseq_seen) {
		if (box->nown > 1)
			qsort(box->own, box->nown, sizeof(*box->own), own_cmp);
		for (uint32_t pos = 0; pos < first_new; pos++) {
			const struct mail_index_record *r = &idx->recs[pos];
			uint32_t seq;
			if (r->modseq <= box->modseq_seen || (r->flags & MAIL_REC_EXPUNGED) ||
			    own_is(box, r->uid, r->modseq))
				continue;
			seq = box->uids == NULL ? pos + 1 : mailbox_seq(box, r->uid);
			if (seq == 0)
				continue;
			if (nchanged % 64 == 0)
				changed = xreallocarray(changed, nchanged + 64, sizeof(uint32_t));
			changed[nchanged++] = seq;
		}
	}
	/* \Recent: a writable view claims what nobody has seen */
	if (!(box->flags & MAILBOX_OPEN_PASSIVE) && idx->first_recent_uid < idx->uidnext) {
		recent_add(box, idx->first_recent_uid, idx->uidnext);
		mail_index_set_first_recent(idx, idx->uidnext);
	}
	box->uid_limit = idx->uidnext;
	box->modseq_seen = idx->highestmodseq;
	box->nown = 0;
	if (box->own_alloc > 1024) {
		/* an idle view stays small after a big STORE */
		free(box->own);
		box->own = NULL;
		box->own_alloc = 0;
	}
	if (ch != NULL) {
		/* EXPUNGE responses from the highest number down */
		for (size_t i = 0; i < nexp / 2; i++) {
			uint32_t tmp = exp_seqs[i];
			exp_seqs[i] = exp_seqs[nexp - 1 - i];
			exp_seqs[nexp - 1 - i] = tmp;
		}
		ch->expunged_seqs = exp_seqs;
		ch->expunged_uids = exp_uids;
		ch->n_expunged = nexp;
		ch->changed_seqs = changed;
		ch->n_changed = nchanged;
		ch->old_count = old_count;
		ch->count = box->count;
		ch->recent = view_recent_count(box);
	} else {
		free(exp_seqs);
		free(exp_uids);
		free(changed);
	}
}

void mailbox_changes_free(struct mailbox_changes *ch)
{
	free(ch->expunged_seqs);
	free(ch->expunged_uids);
	free(ch->changed_seqs);
	memset(ch, 0, sizeof(*ch));
}

int mailbox_open(struct mail_user *u, const char *name, unsigned flags, struct mailbox **box_r,
		 char **error_r)
{
	struct mail_folder *f;
	struct mailbox *box;
	char *canonical;
	int ret;

	*box_r = NULL;
	ret = mail_user_canonical_name(name, &canonical, error_r);
	if (ret < 0)
		return ret;
	f = mail_user_find_folder(u, canonical);
	if (f == NULL) {
		ret = folder_open(u, canonical, (flags & MAILBOX_OPEN_PASSIVE) != 0, &f, error_r);
	} else {
		ret = folder_sync_disk(f, false, (flags & MAILBOX_OPEN_PASSIVE) != 0, error_r);
		if (ret == 0)
			ret = folder_commit(f, NULL, error_r);
		if (ret < 0 && f->nviews == 0 && f->deleted) {
			/* an idle folder whose directory went away behind
			   our back: forget it and open afresh (so INBOX is
			   made again, as for a folder never opened); what
			   was counted for quota went with it */
			u->quota_known = false;
			folder_free(f);
			if (error_r != NULL) {
				free(*error_r);
				*error_r = NULL;
			}
			ret = folder_open(u, canonical, (flags & MAILBOX_OPEN_PASSIVE) != 0, &f, error_r);
		}
	}
	free(canonical);
	if (ret < 0)
		return ret;
	box = xcalloc(1, sizeof(*box));
	box->f = f;
	box->flags = flags;
	box->modseq_seen = f->index->highestmodseq;
	box->next = f->views;
	f->views = box;
	f->nviews++;
	view_catch_up(box, false, NULL);
	*box_r = box;
	return 0;
}

void mailbox_close(struct mailbox **boxp)
{
	struct mailbox *box = *boxp, **vp;
	struct mail_folder *f;
	char *err = NULL;

	if (box == NULL)
		return;
	*boxp = NULL;
	f = box->f;
	if (!f->deleted && folder_commit(f, box, &err) < 0) {
		log_error("mailbox: commit of %s failed: %s", f->name, err);
		free(err);
	}
	for (vp = &f->views; *vp != NULL; vp = &(*vp)->next)
		if (*vp == box) {
			*vp = box->next;
			break;
		}
	/* an idle folder stays in memory with its index as long as its user
	   is open (the mail role keeps recent users open: mail_keep_users),
	   so the next SELECT or delivery neither re-reads the index nor
	   rescans the directories */
	if (--f->nviews == 0 && f->deleted)
		folder_free(f);
	else if (f->nviews == 0)
		mail_index_release_fds(f->index);	/* idle: no descriptors held */
	free(box->uids);
	free(box->recent);
	free(box->own);
	free(box);
}

const char *mailbox_name(const struct mailbox *box)
{
	return box->f->name;
}

int mailbox_sync(struct mailbox *box, unsigned flags, struct mailbox_changes *ch_r,
		 char **error_r)
{
	struct mail_folder *f = box->f;
	int ret;

	if (ch_r != NULL)
		memset(ch_r, 0, sizeof(*ch_r));
	ret = folder_sync_disk(f, (flags & MAILBOX_SYNC_FORCE) != 0,
			       (box->flags & MAILBOX_OPEN_PASSIVE) != 0, error_r);
	if (ret == 0)
		ret = folder_commit(f, box, error_r);
	if (ret < 0)
		return ret;
	view_catch_up(box, (flags & MAILBOX_SYNC_NO_EXPUNGE) != 0, ch_r);
	return 0;
}

int mailbox_commit(struct mailbox *box, char **error_r)
{
	if (box->f->deleted)
		return store_fail_code(MAIL_ERR_NOTFOUND, error_r, "Mailbox %s does not exist",
				       box->f->name);
	return folder_commit(box->f, box, error_r);
}

void mailbox_set_notify(struct mailbox *box, void (*cb)(struct mailbox *box, void *ctx),
			void *ctx)
{
	box->notify = cb;
	box->notify_ctx = ctx;
}

uint32_t mailbox_count(const struct mailbox *box)
{
	return box->count;
}

uint32_t mailbox_uidvalidity(const struct mailbox *box)
{
	return box->f->index->uidvalidity;
}

uint32_t mailbox_uidnext(const struct mailbox *box)
{
	return box->f->index->uidnext;
}

uint64_t mailbox_highestmodseq(const struct mailbox *box)
{
	return box->f->index->highestmodseq;
}

const struct mail_index_record *mailbox_record(const struct mailbox *box, uint32_t seq)
{
	uint32_t pos;

	return view_pos(box, seq, &pos) ? &box->f->index->recs[pos] : NULL;
}

uint32_t mailbox_uid(const struct mailbox *box, uint32_t seq)
{
	if (seq == 0 || seq > box->count)
		return 0;
	return box->uids != NULL ? box->uids[seq - 1] : box->f->index->recs[seq - 1].uid;
}

uint32_t mailbox_seq_ge(const struct mailbox *box, uint32_t uid)
{
	uint32_t lo = 0, hi = box->count;

	if (box->uids == NULL) {
		lo = mail_index_lower_bound(box->f->index, uid);
		return (lo < box->count ? lo : box->count) + 1;
	}
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (box->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1;
}

uint32_t mailbox_seq(const struct mailbox *box, uint32_t uid)
{
	uint32_t seq = mailbox_seq_ge(box, uid);

	return seq <= box->count && mailbox_uid(box, seq) == uid ? seq : 0;
}

bool mailbox_is_recent(const struct mailbox *box, uint32_t seq)
{
	uint32_t uid = mailbox_uid(box, seq);

	if (uid == 0)
		return false;
	if (box->flags & MAILBOX_OPEN_PASSIVE)
		return uid >= box->f->index->first_recent_uid;
	for (size_t i = 0; i < box->nrecent; i++)
		if (uid >= box->recent[i].lo && uid < box->recent[i].hi)
			return true;
	return false;
}

unsigned mailbox_keyword_count(const struct mailbox *box)
{
	return box->f->index->nkeywords;
}

const char *mailbox_keyword_name(const struct mailbox *box, unsigned i)
{
	return i < box->f->index->nkeywords ? box->f->index->keywords[i] : NULL;
}

bool mailbox_keywords_room(const struct mailbox *box)
{
	return box->f->index->nkeywords < MAIL_INDEX_MAX_KEYWORDS;
}

void mailbox_get_status(struct mailbox *box, struct mailbox_status *st)
{
	const struct mail_index *idx = box->f->index;

	memset(st, 0, sizeof(*st));
	st->messages = box->count;
	st->recent = view_recent_count(box);
	st->uidvalidity = idx->uidvalidity;
	st->uidnext = idx->uidnext;
	st->highestmodseq = idx->highestmodseq;
	st->disk_size = idx->psize_sum;
	for (uint32_t seq = 1; seq <= box->count; seq++) {
		const struct mail_index_record *r = mailbox_record(box, seq);
		if (r == NULL)
			continue;
		if (!(r->flags & MAIL_SEEN)) {
			st->unseen++;
			if (st->first_unseen_seq == 0)
				st->first_unseen_seq = seq;
		}
		if (r->flags & MAIL_DELETED)
			st->deleted++;
	}
}

/* ---- messages ---- */

/* The record's file is not where the index says: look for its base name
 * in cur/ and new/ (another tool renamed it). true if found (the index now
 * has the new name). */
static bool folder_locate(struct mail_folder *f, uint32_t pos)
{
	struct mail_index *idx = f->index;
	const char *name = mail_index_name(idx, pos);
	size_t blen = name_base_len(name);
	char *base = xstrndup(name, blen);
	bool found = false;

	for (int i = 0; i < 2 && !found; i++) {
		const char *sub = i == 0 ? "cur" : "new";
		char *path = xasprintf("%s/%s", f->path, sub);
		struct dirent *de;
		DIR *d;

		readdir_calls++;
		d = opendir(path);
		free(path);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			const struct mail_index_record *r = &idx->recs[pos];
			if (name_base_len(de->d_name) != blen || memcmp(de->d_name, base, blen) != 0)
				continue;
			found = mail_index_update(idx, pos,
						  i == 0 ? name_flags(de->d_name)
							 : (r->flags & MAIL_FLAGS_MASK) | MAIL_REC_IN_NEW,
						  r->keywords, de->d_name, NULL) == 0;
			break;
		}
		closedir(d);
	}
	free(base);
	return found;
}

int mailbox_open_message(struct mailbox *box, uint32_t seq, int *fd_r, uint64_t *size_r,
			 char **error_r)
{
	struct mail_folder *f = box->f;
	struct stat st;
	uint32_t pos;
	char *path;
	int fd;

	*fd_r = -1;
	if (!view_pos(box, seq, &pos))
		return store_fail_code(MAIL_ERR_EXPUNGED, error_r, "Message %" PRIu32
				       " was expunged", seq);
	path = rec_path(f, pos);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && folder_locate(f, pos)) {
		free(path);
		path = rec_path(f, pos);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		int ret = errno == ENOENT
			? store_fail_code(MAIL_ERR_EXPUNGED, error_r, "Message %" PRIu32
					  " was expunged", seq)
			: store_fail(error_r, "mailbox: open %s: %s", path, strerror(errno));
		free(path);
		return ret;
	}
	free(path);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return store_fail(error_r, "mailbox: fstat: %s", strerror(errno));
	}
	*fd_r = fd;
	*size_r = (uint64_t)st.st_size;
	return 0;
}

int mailbox_get_vsize(struct mailbox *box, uint32_t seq, uint64_t *vsize_r, char **error_r)
{
	const struct mail_index_record *r = mailbox_record(box, seq);
	uint64_t size, vsize;
	uint32_t pos;
	int fd, ret;

	if (r != NULL && (r->flags & MAIL_REC_VSIZE)) {
		*vsize_r = r->vsize;
		return 0;
	}
	ret = mailbox_open_message(box, seq, &fd, &size, error_r);
	if (ret < 0)
		return ret;
	ret = fd_vsize(fd, &vsize);
	close(fd);
	if (ret < 0)
		return store_fail(error_r, "mailbox: read message: %s", strerror(errno));
	if (view_pos(box, seq, &pos))
		mail_index_set_vsize(box->f->index, pos, vsize);
	*vsize_r = vsize;
	return 0;
}

int mailbox_get_vsize_total(struct mailbox *box, uint64_t *size_r, char **error_r)
{
	uint64_t sum = 0, v;

	for (uint32_t seq = 1; seq <= box->count; seq++) {
		char *err = NULL;
		int ret = mailbox_get_vsize(box, seq, &v, &err);
		if (ret == MAIL_ERR_EXPUNGED) {
			free(err);
			continue;
		}
		if (ret < 0) {
			if (error_r != NULL)
				*error_r = err;
			else
				free(err);
			return ret;
		}
		sum += v;
	}
	*size_r = sum;
	return 0;
}

/* Keyword names -> bits of idx (creating them unless remove). */
static int map_keywords(struct mail_index *idx, const char *const *kw, size_t n, bool create,
			uint64_t *mask_r, uint32_t *flags_r, char **error_r)
{
	*mask_r = 0;
	for (size_t i = 0; i < n; i++) {
		int k;
		if (strcasecmp(kw[i], "$Forwarded") == 0) {
			*flags_r |= MAIL_FORWARDED;
			continue;
		}
		if (!mail_index_keyword_valid(kw[i]))
			return store_fail_code(MAIL_ERR_INVALID, error_r, "Invalid keyword");
		k = create ? mail_index_keyword_add(idx, kw[i]) : mail_index_keyword_lookup(idx, kw[i]);
		if (k < 0 && create)
			return store_fail_code(MAIL_ERR_LIMIT, error_r, "Too many keywords");
		if (k >= 0)
			*mask_r |= UINT64_C(1) << k;
	}
	return 0;
}

/* Renames the record's file for new flags (and into cur/ if in new/). */
static int rename_for_flags(struct mail_folder *f, uint32_t pos, uint32_t flags, char **name_r,
			    char **error_r)
{
	struct mail_index *idx = f->index;
	bool in_new = (idx->recs[pos].flags & MAIL_REC_IN_NEW) != 0;
	char *newname = name_with_flags(mail_index_name(idx, pos), flags);
	char *from, *to;
	struct dir_marks m;
	int r, ret = 0;

	*name_r = NULL;
	if (!in_new && strcmp(newname, mail_index_name(idx, pos)) == 0) {
		free(newname);
		return 0;
	}
	own_begin(f, in_new, true, &m);
	from = rec_path(f, pos);
	to = msg_path(f, newname, false);
	r = store_rename(from, to);
	if (r < 0 && errno == ENOENT && folder_locate(f, pos)) {
		free(from);
		free(newname);
		free(to);
		in_new = (idx->recs[pos].flags & MAIL_REC_IN_NEW) != 0;
		newname = name_with_flags(mail_index_name(idx, pos), flags);
		from = rec_path(f, pos);
		to = msg_path(f, newname, false);
		r = store_rename(from, to);
	}
	if (r < 0)
		ret = errno == ENOENT
			? store_fail_code(MAIL_ERR_EXPUNGED, error_r, "Message was expunged")
			: store_fail(error_r, "mailbox: rename %s: %s", from, strerror(errno));
	else
		*name_r = newname;
	own_end(f, &m);
	if (ret < 0)
		free(newname);
	free(from);
	free(to);
	return ret;
}

int mailbox_set_flags(struct mailbox *box, uint32_t seq, enum mailbox_flags_mode mode,
		      uint32_t flags, const char *const *keywords, size_t nkeywords,
		      uint64_t unchangedsince, char **error_r)
{
	struct mail_folder *f = box->f;
	struct mail_index *idx = f->index;
	uint32_t pos, fl = flags & MAIL_FLAGS_MASK, nf, cf;
	uint64_t kw, nk, ck;
	char *newname = NULL;
	int ret;

	if (f->deleted)
		return store_fail_code(MAIL_ERR_NOTFOUND, error_r, "Mailbox was deleted");
	if (!view_pos(box, seq, &pos))
		return store_fail_code(MAIL_ERR_EXPUNGED, error_r, "Message was expunged");
	if (unchangedsince != 0 && idx->recs[pos].modseq > unchangedsince)
		return 1;
	ret = map_keywords(idx, keywords, nkeywords, mode != MAILBOX_FLAGS_REMOVE, &kw, &fl,
			   error_r);
	if (ret < 0)
		return ret;
	cf = idx->recs[pos].flags & MAIL_FLAGS_MASK;
	ck = idx->recs[pos].keywords;
	switch (mode) {
	case MAILBOX_FLAGS_ADD:
		nf = cf | fl;
		nk = ck | kw;
		break;
	case MAILBOX_FLAGS_REMOVE:
		nf = cf & ~fl;
		nk = ck & ~kw;
		break;
	default:
		nf = fl;
		nk = kw;
		break;
	}
	if (nf == cf && nk == ck)
		return 0;
	if (nf != cf || (idx->recs[pos].flags & MAIL_REC_IN_NEW)) {
		ret = rename_for_flags(f, pos, nf, &newname, error_r);
		if (ret < 0)
			return ret;
	}
	ret = mail_index_update(idx, pos, nf, nk, newname, error_r);
	free(newname);
	if (ret < 0)
		return MAIL_ERR_TEMP;
	own_add(box, idx->recs[pos].uid, idx->recs[pos].modseq);
	f->notify_pending = true;
	return 0;
}

int mailbox_expunge(struct mailbox *box, uint32_t seq, char **error_r)
{
	struct mail_folder *f = box->f;
	struct mail_index *idx = f->index;
	struct dir_marks m;
	uint32_t pos;
	char *path;
	int r;

	if (f->deleted)
		return store_fail_code(MAIL_ERR_NOTFOUND, error_r, "Mailbox was deleted");
	if (!view_pos(box, seq, &pos))
		return 0;
	own_begin(f, (idx->recs[pos].flags & MAIL_REC_IN_NEW) != 0,
		  !(idx->recs[pos].flags & MAIL_REC_IN_NEW), &m);
	path = rec_path(f, pos);
	r = store_unlink(path);
	if (r < 0 && errno == ENOENT && folder_locate(f, pos)) {
		free(path);
		path = rec_path(f, pos);
		r = store_unlink(path);
	}
	if (r < 0 && errno != ENOENT) {
		r = store_fail(error_r, "mailbox: unlink %s: %s", path, strerror(errno));
		free(path);
		return r;
	}
	free(path);
	own_end(f, &m);
	if (mail_index_expunge(idx, pos, error_r) < 0)
		return MAIL_ERR_TEMP;
	mail_user_quota_add(f->user, -(int64_t)idx->recs[pos].psize, -1);
	f->notify_pending = true;
	return 0;
}

int mailbox_append(struct mailbox *box, const struct mailbox_append *msg, uint32_t *uid_r,
		   char **error_r)
{
	struct mail_folder *f = box->f;
	struct mail_index *idx = f->index;
	struct mail_index_record rec;
	uint64_t size = msg->data != NULL ? msg->len : (uint64_t)msg->size + msg->prefix_len, kw;
	uint32_t flags = msg->flags & MAIL_FLAGS_MASK, pos;
	char *name = NULL, *newpath = NULL, *curname, *final;
	struct dir_marks m;
	struct stat st;
	bool temporary;
	int ret, fd;

	*uid_r = 0;
	if (f->deleted)
		return store_fail_code(MAIL_ERR_NOTFOUND, error_r, "Mailbox was deleted");
	if (msg->data == NULL && (msg->fd < 0 || msg->offset < 0 || msg->size < 0))
		return store_fail_code(MAIL_ERR_INVALID, error_r, "mailbox: no message to append");
	ret = mail_user_quota_check(f->user, size, 1, error_r);
	if (ret < 0)
		return ret;
	ret = map_keywords(idx, msg->keywords, msg->nkeywords, true, &kw, &flags, error_r);
	if (ret < 0)
		return ret;
	own_begin(f, true, true, &m);
	if (maildir_deliver(f->path, f->user->hostname, msg->key,
			    msg->data != NULL ? msg->data : msg->prefix,
			    msg->data != NULL ? msg->len : msg->prefix_len, msg->data != NULL ? -1 : msg->fd,
			    msg->data != NULL ? 0 : msg->offset, msg->data != NULL ? 0 : msg->size,
			    &name, &temporary, error_r) < 0)
		return temporary ? MAIL_ERR_TEMP : MAIL_ERR_INVALID;
	memset(&rec, 0, sizeof(rec));
	newpath = msg_path(f, name, true);
	fd = open(newpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || fd_vsize(fd, &rec.vsize) < 0) {
		ret = store_fail(error_r, "mailbox: read back %s: %s", newpath, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	rec.psize = (uint64_t)st.st_size;
	rec.flags = flags | MAIL_REC_VSIZE;
	rec.keywords = kw;
	rec.idate = st.st_mtime;
	if (msg->internal_date != 0) {
		struct timespec ts[2] = { { msg->internal_date, 0 }, { msg->internal_date, 0 } };
		if (utimensat(AT_FDCWD, newpath, ts, 0) == 0)
			rec.idate = msg->internal_date;
	}
	/* a delivery stays in new/ (maildir(5): not seen by a client yet);
	   its flags, if any, are in the index until a session moves it */
	curname = (box->flags & MAILBOX_OPEN_DELIVERY) ? NULL : move_to_cur(f, name, flags);
	final = curname != NULL ? curname : name;
	if (curname == NULL) {
		rec.flags |= MAIL_REC_IN_NEW;
		f->maybe_in_new = true;
	}
	ret = mail_index_append(idx, &rec, final, &pos, error_r);
	free(curname);
	if (ret < 0) {
		/* the file stays: the next directory read finds it */
		ret = MAIL_ERR_TEMP;
		goto out;
	}
	own_end(f, &m);
	mail_user_quota_add(f->user, (int64_t)rec.psize, 1);
	f->notify_pending = true;
	*uid_r = idx->recs[pos].uid;
out:
	free(name);
	free(newpath);
	return ret;
}

/* Copies the file's bytes into dst (when it cannot be linked): new/ via
 * maildir_deliver, then cur/. The new name in *name_r. */
static int copy_content(struct mail_folder *src, uint32_t pos, struct mail_folder *dst,
			uint32_t flags, char **name_r, char **error_r)
{
	const struct mail_index_record *r = &src->index->recs[pos];
	char *path = rec_path(src, pos), *name = NULL, *curname;
	struct stat st;
	bool temporary;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret;

	free(path);
	if (fd < 0)
		return errno == ENOENT ? store_fail_code(MAIL_ERR_EXPUNGED, error_r,
							 "Message was expunged")
				       : store_fail(error_r, "mailbox: open: %s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		close(fd);
		return store_fail(error_r, "mailbox: fstat: %s", strerror(errno));
	}
	ret = maildir_deliver(dst->path, dst->user->hostname, NULL, NULL, 0, fd, 0, st.st_size,
			      &name, &temporary, error_r);
	close(fd);
	if (ret < 0)
		return MAIL_ERR_TEMP;
	path = msg_path(dst, name, true);
	{
		struct timespec ts[2] = { { r->idate, 0 }, { r->idate, 0 } };
		(void)utimensat(AT_FDCWD, path, ts, 0);
	}
	free(path);
	curname = move_to_cur(dst, name, flags);
	if (curname == NULL) {
		*name_r = name;
		return 1;	/* left in new/ */
	}
	free(name);
	*name_r = curname;
	return 0;
}

static int copy_or_move(struct mailbox *box, uint32_t seq, struct mailbox *dstbox, bool move,
			uint32_t *uid_r, char **error_r)
{
	struct mail_folder *f = box->f, *g = dstbox->f;
	struct mail_index_record rec;
	uint32_t pos, dpos, flags;
	uint64_t kw = 0;
	const char *kwnames[MAIL_INDEX_MAX_KEYWORDS];
	size_t nkw = 0;
	char *name = NULL, *from = NULL, *to = NULL;
	struct dir_marks m;
	bool in_new = false;
	int ret;

	*uid_r = 0;
	if (f->deleted || g->deleted)
		return store_fail_code(MAIL_ERR_NOTFOUND, error_r, "Mailbox was deleted");
	if (!view_pos(box, seq, &pos))
		return store_fail_code(MAIL_ERR_EXPUNGED, error_r, "Message was expunged");
	rec = f->index->recs[pos];
	flags = rec.flags & MAIL_FLAGS_MASK;
	if (!move || f->user != g->user) {
		ret = mail_user_quota_check(g->user, rec.psize, 1, error_r);
		if (ret < 0)
			return ret;
	}
	for (unsigned i = 0; i < f->index->nkeywords; i++)
		if (rec.keywords & (UINT64_C(1) << i))
			kwnames[nkw++] = f->index->keywords[i];
	ret = map_keywords(g->index, kwnames, nkw, true, &kw, &flags, error_r);
	if (ret < 0)
		return ret;
	own_begin(g, false, true, &m);
	from = rec_path(f, pos);
	if (access(from, F_OK) < 0 && errno == ENOENT && folder_locate(f, pos)) {
		free(from);
		from = rec_path(f, pos);
	}
	if (move && f != g) {
		/* Maildir names are unique everywhere: keep it */
		name = name_with_flags(mail_index_name(f->index, pos), flags);
		to = msg_path(g, name, false);
		ret = store_link(from, to);
		if (ret < 0 && errno == EEXIST) {
			free(name);
			free(to);
			name = NULL;
		}
	} else {
		ret = -1;
		errno = EEXIST;
	}
	if (ret < 0 && errno == EEXIST) {
		char *base = unique_base(g->user, rec.psize);
		name = name_with_flags(base, flags);
		free(base);
		to = msg_path(g, name, false);
		ret = store_link(from, to);
	}
	if (ret < 0 && errno == ENOENT) {
		ret = store_fail_code(MAIL_ERR_EXPUNGED, error_r, "Message was expunged");
		goto out;
	}
	if (ret < 0) {
		/* another file system, or no hard links here */
		free(name);
		name = NULL;
		ret = copy_content(f, pos, g, flags, &name, error_r);
		if (ret < 0)
			goto out;
		in_new = ret > 0;
	} else {
		g->cur_dirty = true;
	}
	rec.uid = 0;	/* a new UID in dst */
	rec.cache_off = 0;
	rec.cache_len = 0;
	rec.flags = flags | (rec.flags & MAIL_REC_VSIZE) | (in_new ? MAIL_REC_IN_NEW : 0);
	rec.keywords = kw;
	if (mail_index_append(g->index, &rec, name, &dpos, error_r) < 0) {
		ret = MAIL_ERR_TEMP;
		goto out;
	}
	own_end(g, &m);
	if (in_new)
		g->maybe_in_new = true;
	{
		char *err = NULL;
		if (mail_index_cache_copy(f->index, pos, g->index, dpos, &err) < 0) {
			log_warn("mailbox: cache copy: %s", err);
			free(err);
		}
	}
	*uid_r = g->index->recs[dpos].uid;
	g->notify_pending = true;
	if (!move || f->user != g->user)
		mail_user_quota_add(g->user, (int64_t)rec.psize, 1);
	if (move) {
		struct dir_marks ms;
		own_begin(f, (f->index->recs[pos].flags & MAIL_REC_IN_NEW) != 0, true, &ms);
		if (store_unlink(from) < 0 && errno != ENOENT)
			log_warn("mailbox: move: unlink %s: %s", from, strerror(errno));
		own_end(f, &ms);
		if (mail_index_expunge(f->index, pos, error_r) < 0) {
			ret = MAIL_ERR_TEMP;
			goto out;
		}
		if (f->user != g->user)
			mail_user_quota_add(f->user, -(int64_t)rec.psize, -1);
		f->notify_pending = true;
	}
	ret = 0;
out:
	free(name);
	free(from);
	free(to);
	return ret;
}

int mailbox_copy(struct mailbox *box, uint32_t seq, struct mailbox *dst, uint32_t *uid_r,
		 char **error_r)
{
	return copy_or_move(box, seq, dst, false, uid_r, error_r);
}

int mailbox_move(struct mailbox *box, uint32_t seq, struct mailbox *dst, uint32_t *uid_r,
		 char **error_r)
{
	return copy_or_move(box, seq, dst, true, uid_r, error_r);
}

int mailbox_cache_get(struct mailbox *box, uint32_t seq, unsigned field, buf_t *out,
		      char **error_r)
{
	uint32_t pos;

	int ret;

	if (!view_pos(box, seq, &pos) || field >= MAIL_CACHE_FIELDS)
		return 0;
	ret = mail_index_cache_get(box->f->index, pos, field, out, error_r);
	return ret < 0 ? MAIL_ERR_TEMP : ret;
}

int mailbox_cache_set(struct mailbox *box, uint32_t seq, unsigned field, const void *data,
		      size_t len, char **error_r)
{
	uint32_t pos;

	if (!view_pos(box, seq, &pos))
		return store_fail_code(MAIL_ERR_EXPUNGED, error_r, "Message was expunged");
	if (field >= MAIL_CACHE_FIELDS || len > MAIL_CACHE_MAX_BLOB)
		return store_fail_code(MAIL_ERR_INVALID, error_r, "cache: bad field or size");
	return mail_index_cache_set(box->f->index, pos, field, data, len, error_r) < 0
		? MAIL_ERR_TEMP : 0;
}

bool mailbox_expunged_since(const struct mailbox *box, uint64_t modseq, uint32_t **uids_r,
			    size_t *count_r)
{
	return mail_index_expunged_since(box->f->index, modseq, uids_r, count_r);
}
