/*
 * A user's folder tree (see mail-user.h): IMAP names <-> Maildir++
 * directories, LIST, CREATE/DELETE/RENAME, subscriptions, special-use
 * folders and quota usage.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mail-store-private.h"
#include "mail-user.h"
#include "maildir.h"
#include "mailbox.h"
#include "xalloc.h"

#define NAME_MAX_BYTES 1024
#define DELETED_PREFIX "..youju-deleted."

static struct mail_user *open_users;

/* ---- UTF-8 and modified UTF-7 (RFC 3501 5.1.3) ---- */

/* One code point from s (len > 0): bytes used, or -1 for invalid UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included). */
static int utf8_next(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	uint32_t cp;
	int n;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		cp = s[0] & 0x1f;
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		cp = s[0] & 0x0f;
		n = 3;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		cp = s[0] & 0x07;
		n = 4;
	} else {
		return -1;
	}
	if ((size_t)n > len)
		return -1;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*cp_r = cp;
	return n;
}

static void utf8_put(buf_t *b, uint32_t cp)
{
	char s[4];

	if (cp < 0x80) {
		buf_append_byte(b, (char)cp);
	} else if (cp < 0x800) {
		s[0] = (char)(0xc0 | (cp >> 6));
		s[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, s, 2);
	} else if (cp < 0x10000) {
		s[0] = (char)(0xe0 | (cp >> 12));
		s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		s[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, s, 3);
	} else {
		s[0] = (char)(0xf0 | (cp >> 18));
		s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		s[3] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, s, 4);
	}
}

static const char utf7_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static void utf7_flush(buf_t *out, const uint16_t *units, size_t n)
{
	uint32_t bits = 0;
	int nbits = 0;

	if (n == 0)
		return;
	buf_append_byte(out, '&');
	for (size_t i = 0; i < n; i++) {
		bits = ((bits << 16) | units[i]) & 0x3fffff;
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			buf_append_byte(out, utf7_alphabet[(bits >> nbits) & 0x3f]);
		}
	}
	if (nbits > 0)
		buf_append_byte(out, utf7_alphabet[(bits << (6 - nbits)) & 0x3f]);
	buf_append_byte(out, '-');
}

/* One name component (valid UTF-8) in modified UTF-7, with '.' inside the
 * base64 run (see mail-user.h). */
static void component_encode(buf_t *out, const char *s, size_t len)
{
	uint16_t units[NAME_MAX_BYTES * 2];
	size_t nunits = 0;

	for (size_t i = 0; i < len;) {
		uint32_t cp = 0;
		int n = utf8_next((const unsigned char *)s + i, len - i, &cp);
		if (n < 0)
			n = 1;	/* cannot happen: validated before */
		i += (size_t)n;
		if (cp >= 0x20 && cp <= 0x7e && cp != '&' && cp != '.') {
			utf7_flush(out, units, nunits);
			nunits = 0;
			buf_append_byte(out, (char)cp);
		} else if (cp == '&') {
			utf7_flush(out, units, nunits);
			nunits = 0;
			buf_append_cstr(out, "&-");
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			units[nunits++] = (uint16_t)(0xd800 | (cp >> 10));
			units[nunits++] = (uint16_t)(0xdc00 | (cp & 0x3ff));
		} else {
			units[nunits++] = (uint16_t)cp;
		}
	}
	utf7_flush(out, units, nunits);
}

static int utf7_value(char c)
{
	const char *p = c != '\0' ? strchr(utf7_alphabet, c) : NULL;

	return p != NULL ? (int)(p - utf7_alphabet) : -1;
}

/* Modified UTF-7 -> UTF-8; false for anything malformed, or for a decoded
 * '/' or control character. */
static bool component_decode(buf_t *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint32_t bits = 0, high = 0;
		int nbits = 0;
		char c = s[i++];

		if (c < 0x20 || c > 0x7e)
			return false;
		if (c != '&') {
			buf_append_byte(out, c);
			continue;
		}
		if (i < len && s[i] == '-') {
			buf_append_byte(out, '&');
			i++;
			continue;
		}
		for (;;) {
			int v;
			if (i >= len)
				return false;
			c = s[i++];
			if (c == '-')
				break;
			v = utf7_value(c);
			if (v < 0)
				return false;
			bits = ((bits << 6) | (uint32_t)v) & 0xffffff;
			nbits += 6;
			if (nbits >= 16) {
				uint32_t unit;
				nbits -= 16;
				unit = (bits >> nbits) & 0xffff;
				if (high != 0) {
					if (unit < 0xdc00 || unit > 0xdfff)
						return false;
					utf8_put(out, 0x10000 + ((high - 0xd800) << 10) +
							      (unit - 0xdc00));
					high = 0;
				} else if (unit >= 0xd800 && unit <= 0xdbff) {
					high = unit;
				} else if (unit >= 0xdc00 && unit <= 0xdfff) {
					return false;
				} else if (unit < 0x20 || unit == 0x7f || (unit >= 0x80 && unit < 0xa0) ||
					   unit == '/') {
					return false;
				} else {
					utf8_put(out, unit);
				}
			}
		}
		if (high != 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
			return false;
	}
	return true;
}

/* ---- names ---- */

static bool is_inbox(const char *s, size_t len)
{
	return len == 5 && strncasecmp(s, "INBOX", 5) == 0;
}

/* The Maildir++ directory name (".a.b", no ROOT) of a checked name. */
static void dir_name(buf_t *out, const char *name)
{
	const char *p = name;

	buf_append_byte(out, '.');
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (p == name && is_inbox(p, len))
			buf_append_cstr(out, "INBOX");
		else
			component_encode(out, p, len);
		if (slash == NULL)
			break;
		buf_append_byte(out, '.');
		p = slash + 1;
	}
}

int mail_user_name_check(const char *name, bool create, char **error_r)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t len = strlen(name), comp_start = 0;
	buf_t dn;
	bool ok;

	if (len == 0 || len > NAME_MAX_BYTES)
		return store_fail_code(MAIL_ERR_INVALID, error_r, "Invalid mailbox name length");
	if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//") != NULL ||
	    strstr(name, "..") != NULL)
		return store_fail_code(MAIL_ERR_INVALID, error_r, "Invalid mailbox name");
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int n = utf8_next(s + i, len - i, &cp);
		if (n < 0)
			return store_fail_code(MAIL_ERR_INVALID, error_r,
					       "Mailbox name is not valid UTF-8");
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return store_fail_code(MAIL_ERR_INVALID, error_r,
					       "Control character in mailbox name");
		if (create && (cp == '%' || cp == '*'))
			return store_fail_code(MAIL_ERR_INVALID, error_r,
					       "Wildcards are not allowed in mailbox names");
		if (i == comp_start && cp == '.')
			return store_fail_code(MAIL_ERR_INVALID, error_r,
					       "Mailbox name components cannot start with '.'");
		if (cp == '/')
			comp_start = i + 1;
		i += (size_t)n;
	}
	buf_init(&dn, 0);
	dir_name(&dn, name);
	ok = dn.used <= MAIL_INDEX_NAME_MAX;
	buf_free(&dn);
	if (!ok)
		return store_fail_code(MAIL_ERR_INVALID, error_r, "Mailbox name too long");
	return 0;
}

int mail_user_canonical_name(const char *name, char **canonical_r, char **error_r)
{
	const char *slash = strchr(name, '/');
	size_t first = slash ? (size_t)(slash - name) : strlen(name);
	int ret = mail_user_name_check(name, false, error_r);

	*canonical_r = NULL;
	if (ret < 0)
		return ret;
	*canonical_r = xstrdup(name);
	if (is_inbox(name, first))
		memcpy(*canonical_r, "INBOX", 5);
	return 0;
}

char *mail_user_folder_path(const struct mail_user *u, const char *canonical)
{
	buf_t b;

	if (strcmp(canonical, "INBOX") == 0)
		return xstrdup(u->root);
	buf_init(&b, 0);
	buf_append_cstr(&b, u->root);
	buf_append_byte(&b, '/');
	dir_name(&b, canonical);
	return b.data;
}

/* ".a.b" -> "a/b" (canonical), or NULL when it does not decode. */
static char *name_from_dir(const char *d)
{
	const char *p = d + 1;
	buf_t b;

	if (d[0] != '.' || p[0] == '\0' || p[0] == '.')
		return NULL;
	buf_init(&b, 0);
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (len == 0 || !component_decode(&b, p, len))
			goto bad;
		if (dot == NULL)
			break;
		buf_append_byte(&b, '/');
		p = dot + 1;
	}
	if (b.data == NULL || mail_user_name_check(b.data, false, NULL) < 0)
		goto bad;
	/* ".INBOX" would be INBOX itself; ".inbox.x" is "INBOX/x" */
	if (is_inbox(b.data, b.used))
		goto bad;
	if (b.used > 5 && b.data[5] == '/' && is_inbox(b.data, 5))
		memcpy(b.data, "INBOX", 5);
	return b.data;
bad:
	buf_free(&b);
	return NULL;
}

/* ---- users ---- */

static char *escape_host(const char *host)
{
	buf_t b;

	buf_init(&b, 0);
	for (const char *p = host; *p != '\0'; p++) {
		if (*p == '/' || *p == ':' || *p == ',' || (unsigned char)*p < 0x20)
			buf_printf(&b, "\\%03o", (unsigned)(unsigned char)*p);
		else
			buf_append_byte(&b, *p);
	}
	if (b.data == NULL)
		buf_append_cstr(&b, "localhost");
	return b.data;
}

static void user_apply_settings(struct mail_user *u, const struct mail_user_settings *set)
{
	u->quota_bytes = set->quota_bytes;
	u->quota_messages = set->quota_messages;
	for (int i = 0; i < MAIL_SPECIAL_COUNT; i++) {
		char *canonical = NULL, *err = NULL;
		xfree(&u->special[i]);
		if (set->special[i] == NULL || set->special[i][0] == '\0')
			continue;
		if (mail_user_canonical_name(set->special[i], &canonical, &err) < 0 ||
		    strcmp(canonical, "INBOX") == 0) {
			log_warn("mail: ignoring special-use folder name=\"%s\": %s",
				 set->special[i], err ? err : "INBOX");
			free(err);
			free(canonical);
			continue;
		}
		u->special[i] = canonical;
	}
}

int mail_user_open(const char *root, const struct mail_user_settings *set, struct mail_user **u_r,
		   char **error_r)
{
	struct mail_user *u;
	char host[256];
	size_t len = strlen(root);

	*u_r = NULL;
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (len == 0)
		return store_fail_code(MAIL_ERR_INVALID, error_r, "mail: empty Maildir root");
	for (u = open_users; u != NULL; u = u->next)
		if (strlen(u->root) == len && memcmp(u->root, root, len) == 0) {
			u->refcount++;
			user_apply_settings(u, set);
			*u_r = u;
			return 0;
		}
	u = xcalloc(1, sizeof(*u));
	u->root = xstrndup(root, len);
	if (maildir_ensure(u->root, error_r) < 0) {
		free(u->root);
		free(u);
		return MAIL_ERR_TEMP;
	}
	if (set->hostname != NULL && set->hostname[0] != '\0') {
		u->hostname = xstrdup(set->hostname);
	} else {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		u->hostname = xstrdup(host);
	}
	u->hostname_esc = escape_host(u->hostname);
	user_apply_settings(u, set);
	u->refcount = 1;
	u->next = open_users;
	open_users = u;
	*u_r = u;
	return 0;
}

void mail_user_close(struct mail_user **up)
{
	struct mail_user *u = *up, **p;

	if (u == NULL)
		return;
	*up = NULL;
	if (--u->refcount > 0)
		return;
	/* every view must be closed first; idle folders go now */
	mailbox_folders_free(u);
	for (p = &open_users; *p != NULL; p = &(*p)->next)
		if (*p == u) {
			*p = u->next;
			break;
		}
	for (int i = 0; i < MAIL_SPECIAL_COUNT; i++)
		free(u->special[i]);
	free(u->root);
	free(u->hostname);
	free(u->hostname_esc);
	free(u);
}

const char *mail_user_root(const struct mail_user *u)
{
	return u->root;
}

/* ---- small files in ROOT ---- */

/* Replaces ROOT/file with data: tmp, fsync, rename, fsync ROOT. */
static int root_write_file(struct mail_user *u, const char *file, const void *data, size_t len,
			   char **error_r)
{
	char *path = xasprintf("%s/%s", u->root, file), *tmp = xasprintf("%s.tmp", path);
	int fd, ret = 0;

	store_step("create", tmp);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || store_write_all(fd, data, len, tmp) < 0 || store_fsync(fd, tmp) < 0 ||
	    close(fd) < 0 || (fd = -1, store_rename(tmp, path) < 0) ||
	    store_fsync_dir(u->root) < 0) {
		ret = store_fail(error_r, "mail: write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		(void)unlink(tmp);
	}
	free(path);
	free(tmp);
	return ret;
}

/* Whole small file, NUL-terminated; NULL with errno (ENOENT: none). */
static char *root_read_file(const struct mail_user *u, const char *file, size_t max)
{
	char *path = xasprintf("%s/%s", u->root, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	buf_t b;
	char chunk[4096];
	ssize_t n;

	free(path);
	if (fd < 0)
		return NULL;
	buf_init(&b, max);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&b, chunk, (size_t)n) < 0)
			break;
	close(fd);
	if (b.data == NULL)
		buf_append_cstr(&b, "");
	return b.data;
}

uint32_t mail_user_new_uidvalidity(struct mail_user *u, uint32_t min, char **error_r)
{
	char *data = root_read_file(u, MAIL_UIDVALIDITY_FILE, 64), text[32];
	uint64_t last = 0, now = (uint64_t)time(NULL), v;
	int n;

	if (data != NULL) {
		slice_t s = slice_trim(slice_cstr(data));
		if (slice_to_u64(s, &last) < 0 || last >= UINT32_MAX)
			last = 0;
		free(data);
	}
	v = last + 1;
	if (v < min)
		v = min;
	if (v < now && now < UINT32_MAX)
		v = now;
	if (v >= UINT32_MAX)
		v = 1;	/* wrapped: a value far back is as good as new */
	n = snprintf(text, sizeof(text), "%" PRIu64 "\n", v);
	if (root_write_file(u, MAIL_UIDVALIDITY_FILE, text, (size_t)n, error_r) < 0)
		return 0;
	return (uint32_t)v;
}

/* ---- subscriptions ---- */

struct name_set {
	char **v;
	size_t n, alloc;
};

static void set_add(struct name_set *s, char *name)
{
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? s->alloc * 2 : 16;
		s->v = xreallocarray(s->v, s->alloc, sizeof(*s->v));
	}
	s->v[s->n++] = name;
}

static void set_free(struct name_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static ssize_t set_find(const struct name_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return (ssize_t)i;
	return -1;
}

static int subs_load(struct mail_user *u, struct name_set *s, char **error_r)
{
	char *data = root_read_file(u, MAIL_SUBSCRIPTIONS_FILE, 1024 * 1024), *line, *save = NULL;

	memset(s, 0, sizeof(*s));
	if (data == NULL)
		return errno == ENOENT ? 0 : store_fail(error_r, "mail: read subscriptions: %s",
							strerror(errno));
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *canonical;
		if (mail_user_canonical_name(line, &canonical, NULL) < 0)
			continue;
		if (set_find(s, canonical) >= 0)
			free(canonical);
		else
			set_add(s, canonical);
	}
	free(data);
	return 0;
}

static int subs_save(struct mail_user *u, const struct name_set *s, char **error_r)
{
	buf_t b;
	int ret;

	buf_init(&b, 0);
	for (size_t i = 0; i < s->n; i++) {
		buf_append_cstr(&b, s->v[i]);
		buf_append_byte(&b, '\n');
	}
	ret = root_write_file(u, MAIL_SUBSCRIPTIONS_FILE, b.data ? b.data : "", b.used, error_r);
	buf_free(&b);
	return ret < 0 ? MAIL_ERR_TEMP : 0;
}

int mail_user_subscribe(struct mail_user *u, const char *name, bool subscribe, char **error_r)
{
	struct name_set s;
	char *canonical;
	ssize_t i;
	int ret;

	ret = mail_user_canonical_name(name, &canonical, error_r);
	if (ret < 0)
		return ret;
	ret = subs_load(u, &s, error_r);
	if (ret < 0) {
		free(canonical);
		return MAIL_ERR_TEMP;
	}
	i = set_find(&s, canonical);
	if (subscribe && i < 0) {
		set_add(&s, canonical);
		canonical = NULL;
		ret = subs_save(u, &s, error_r);
	} else if (!subscribe && i >= 0) {
		free(s.v[i]);
		s.v[i] = s.v[--s.n];
		ret = subs_save(u, &s, error_r);
	}
	free(canonical);
	set_free(&s);
	return ret;
}

/* ---- listing ---- */

static int rm_tree_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0)
		log_warn("mail: cannot remove path=%s error=%s", path, strerror(errno));
	return 0;
}

static void rm_tree(const char *path)
{
	store_step("unlink", path);
	(void)nftw(path, rm_tree_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The folders that exist on disk (not INBOX), canonical names. */
static int list_dirs(struct mail_user *u, struct name_set *s, char **error_r)
{
	DIR *d = opendir(u->root);
	struct dirent *de;

	memset(s, 0, sizeof(*s));
	if (d == NULL)
		return store_fail(error_r, "mail: opendir %s: %s", u->root, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		char *name;

		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (strncmp(de->d_name, DELETED_PREFIX, strlen(DELETED_PREFIX)) == 0) {
			/* a DELETE that did not finish */
			char *path = xasprintf("%s/%s", u->root, de->d_name);
			rm_tree(path);
			free(path);
			continue;
		}
		bool isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK)
			isdir = fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
		if (!isdir)
			continue;
		name = name_from_dir(de->d_name);
		if (name == NULL) {
			log_warn("mail: ignoring folder path=%s/%s (name does not decode)", u->root,
				 de->d_name);
			continue;
		}
		set_add(s, name);
	}
	closedir(d);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	const struct mail_folder_info *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;

	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct mail_folder_info *list_add(struct mail_folder_list *l, size_t *alloc,
					 const char *name, unsigned attrs)
{
	if (l->count == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		l->items = xreallocarray(l->items, *alloc, sizeof(*l->items));
	}
	l->items[l->count] = (struct mail_folder_info){ xstrdup(name), attrs };
	return &l->items[l->count++];
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is there a name "parent/..." in the sorted set? */
static bool has_child(const struct name_set *sorted, const char *parent)
{
	char *prefix = xasprintf("%s/", parent);
	size_t lo = 0, hi = sorted->n, len = strlen(prefix);
	bool ret;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(sorted->v[mid], prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	ret = lo < sorted->n && strncmp(sorted->v[lo], prefix, len) == 0;
	free(prefix);
	return ret;
}

unsigned mail_user_special_use(const struct mail_user *u, const char *name)
{
	unsigned attrs = 0;

	for (int i = 0; i < MAIL_SPECIAL_COUNT; i++)
		if (u->special[i] != NULL && strcmp(u->special[i], name) == 0)
			attrs |= MAIL_FOLDER_SPECIAL(i);
	return attrs;
}

int mail_user_list(struct mail_user *u, struct mail_folder_list *list_r, char **error_r)
{
	struct mail_folder_list l = { NULL, 0 };
	struct name_set dirs, subs;
	size_t alloc = 0, nreal;

	memset(list_r, 0, sizeof(*list_r));
	if (list_dirs(u, &dirs, error_r) < 0)
		return MAIL_ERR_TEMP;
	if (subs_load(u, &subs, error_r) < 0) {
		set_free(&dirs);
		return MAIL_ERR_TEMP;
	}
	/* Every candidate once per reason (a folder, a parent of one, a
	   subscription), then sorted and merged: O(n log n) however many
	   folders and subscriptions there are. */
#define KIND_PARENT (MAIL_FOLDER_NONEXISTENT | MAIL_FOLDER_NOSELECT)
#define KIND_SUB (KIND_PARENT | MAIL_FOLDER_SUBSCRIBED)
	list_add(&l, &alloc, "INBOX", 0);
	for (size_t i = 0; i < dirs.n; i++)
		list_add(&l, &alloc, dirs.v[i], 0);
	nreal = l.count;
	for (size_t i = 0; i < nreal; i++) {
		char *name = xstrdup(l.items[i].name);
		for (char *slash = strrchr(name, '/'); slash != NULL; slash = strrchr(name, '/')) {
			*slash = '\0';
			list_add(&l, &alloc, name, KIND_PARENT);
		}
		free(name);
	}
	for (size_t i = 0; i < subs.n; i++)
		list_add(&l, &alloc, subs.v[i], KIND_SUB);
	qsort(l.items, l.count, sizeof(*l.items), name_cmp);
	size_t out = 0;
	for (size_t i = 0; i < l.count;) {
		size_t j = i;
		bool real = false, sub = false;
		for (; j < l.count && strcmp(l.items[j].name, l.items[i].name) == 0; j++) {
			real |= l.items[j].attrs == 0;
			sub |= (l.items[j].attrs & MAIL_FOLDER_SUBSCRIBED) != 0;
		}
		struct mail_folder_info fi = l.items[i];
		fi.attrs = (real ? 0 : KIND_PARENT) | (sub ? MAIL_FOLDER_SUBSCRIBED : 0);
		for (size_t k = i + 1; k < j; k++)
			free(l.items[k].name);
		l.items[out++] = fi;
		i = j;
	}
	l.count = out;
#undef KIND_PARENT
#undef KIND_SUB
	if (dirs.n > 1)
		qsort(dirs.v, dirs.n, sizeof(*dirs.v), str_cmp);
	for (size_t i = 0; i < l.count; i++) {
		struct mail_folder_info *fi = &l.items[i];

		/* children: folders that exist below it (on disk) */
		if (has_child(&dirs, fi->name))
			fi->attrs |= MAIL_FOLDER_HAS_CHILDREN;
		else if (!(fi->attrs & MAIL_FOLDER_NONEXISTENT))
			fi->attrs |= MAIL_FOLDER_HAS_NO_CHILDREN;
		fi->attrs |= mail_user_special_use(u, fi->name);
	}
	set_free(&dirs);
	set_free(&subs);
	*list_r = l;
	return 0;
}

void mail_folder_list_free(struct mail_folder_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i].name);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

/* ---- create, delete, rename ---- */

static bool folder_exists(const struct mail_user *u, const char *canonical)
{
	char *path = mail_user_folder_path(u, canonical);
	struct stat st;
	bool ret = stat(path, &st) == 0 && S_ISDIR(st.st_mode);

	free(path);
	return ret;
}

int mail_user_exists(struct mail_user *u, const char *name, char **error_r)
{
	char *canonical;
	int ret = mail_user_canonical_name(name, &canonical, error_r);

	if (ret < 0)
		return ret;
	ret = strcmp(canonical, "INBOX") == 0 || folder_exists(u, canonical);
	free(canonical);
	return ret;
}

/* mkdir ROOT/.name with cur/ new/ tmp/ and maildirfolder */
static int folder_create_dir(struct mail_user *u, const char *canonical, char **error_r)
{
	char *path = mail_user_folder_path(u, canonical), *marker;
	int fd, ret = 0;

	if (maildir_ensure(path, error_r) < 0) {
		free(path);
		return MAIL_ERR_TEMP;
	}
	marker = xasprintf("%s/maildirfolder", path);
	store_step("create", marker);
	fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		ret = store_fail(error_r, "mail: create %s: %s", marker, strerror(errno));
	else
		close(fd);
	free(marker);
	free(path);
	return ret;
}

/* Creates the missing parents of canonical (not canonical itself). */
static int create_parents(struct mail_user *u, const char *canonical, char **error_r)
{
	char *name = xstrdup(canonical);
	int ret = 0;

	for (char *slash = strchr(name, '/'); slash != NULL && ret == 0;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (strcmp(name, "INBOX") != 0 && !folder_exists(u, name))
			ret = folder_create_dir(u, name, error_r);
		*slash = '/';
	}
	free(name);
	return ret;
}

int mail_user_create(struct mail_user *u, const char *name, char **error_r)
{
	size_t len = strlen(name);
	char *copy = xstrdup(name), *canonical = NULL;
	int ret;

	if (len > 1 && copy[len - 1] == MAIL_SEPARATOR)
		copy[len - 1] = '\0';	/* RFC 9051 6.3.4: "foo/" declares a parent */
	ret = mail_user_name_check(copy, true, error_r);
	if (ret == 0)
		ret = mail_user_canonical_name(copy, &canonical, error_r);
	if (ret < 0)
		goto out;
	if (strcmp(canonical, "INBOX") == 0 || folder_exists(u, canonical)) {
		ret = store_fail_code(MAIL_ERR_EXISTS, error_r, "Mailbox already exists");
		goto out;
	}
	ret = create_parents(u, canonical, error_r);
	if (ret == 0)
		ret = folder_create_dir(u, canonical, error_r);
out:
	free(copy);
	free(canonical);
	return ret;
}

int mail_user_delete(struct mail_user *u, const char *name, char **error_r)
{
	static uint64_t counter;
	struct mail_folder *f;
	char *canonical, *path, *trash;
	uint64_t bytes = 0, msgs = 0;
	bool counted = false;
	int ret;

	ret = mail_user_canonical_name(name, &canonical, error_r);
	if (ret < 0)
		return ret;
	if (strcmp(canonical, "INBOX") == 0) {
		free(canonical);
		return store_fail_code(MAIL_ERR_INVALID, error_r, "INBOX cannot be deleted");
	}
	if (!folder_exists(u, canonical)) {
		free(canonical);
		return store_fail_code(MAIL_ERR_NOTFOUND, error_r, "Mailbox does not exist");
	}
	if (u->quota_known)
		counted = mailbox_folder_totals(u, canonical, &bytes, &msgs, NULL) == 0;
	path = mail_user_folder_path(u, canonical);
	trash = xasprintf("%s/" DELETED_PREFIX "%ld.%" PRIu64, u->root, (long)getpid(), ++counter);
	/* one rename makes the folder vanish at once; the files go after */
	if (store_rename(path, trash) < 0) {
		ret = store_fail(error_r, "mail: rename %s: %s", path, strerror(errno));
		goto out;
	}
	if (store_fsync_dir(u->root) < 0)
		log_warn("mail: fsync path=%s error=%s", u->root, strerror(errno));
	f = mail_user_find_folder(u, canonical);
	if (f != NULL)
		mailbox_folder_gone(f);
	if (counted)
		mail_user_quota_add(u, -(int64_t)bytes, -(int64_t)msgs);
	else
		u->quota_known = false;
	rm_tree(trash);
out:
	free(canonical);
	free(path);
	free(trash);
	return ret;
}

/* RFC 9051 6.3.6: INBOX's messages move to a new folder, INBOX stays. */
static int rename_inbox(struct mail_user *u, const char *newname, char **error_r)
{
	struct mailbox *src = NULL, *dst = NULL;
	uint32_t uid;
	int ret;

	ret = create_parents(u, newname, error_r);
	if (ret == 0)
		ret = folder_create_dir(u, newname, error_r);
	if (ret == 0)
		ret = mailbox_open(u, "INBOX", MAILBOX_OPEN_READONLY, &src, error_r);
	if (ret == 0)
		ret = mailbox_open(u, newname, 0, &dst, error_r);
	for (uint32_t seq = 1; ret == 0 && src != NULL && seq <= mailbox_count(src); seq++) {
		char *err = NULL;
		ret = mailbox_move(src, seq, dst, &uid, &err);
		if (ret == MAIL_ERR_EXPUNGED)
			ret = 0;
		else if (ret < 0 && error_r != NULL)
			*error_r = xstrdup(err);
		free(err);
	}
	if (ret == 0)
		ret = mailbox_commit(dst, error_r);
	if (ret == 0)
		ret = mailbox_commit(src, error_r);
	mailbox_close(&src);
	mailbox_close(&dst);
	return ret;
}

static void subs_rename(struct mail_user *u, const char *oldname, const char *newname)
{
	struct name_set s;
	size_t olen = strlen(oldname);
	bool changed = false;
	char *err = NULL;

	if (subs_load(u, &s, &err) < 0) {
		log_warn("mail: %s", err);
		free(err);
		return;
	}
	for (size_t i = 0; i < s.n; i++) {
		if (strncmp(s.v[i], oldname, olen) != 0 || (s.v[i][olen] != '\0' && s.v[i][olen] != '/'))
			continue;
		char *renamed = xasprintf("%s%s", newname, s.v[i] + olen);
		free(s.v[i]);
		s.v[i] = renamed;
		changed = true;
	}
	if (changed && subs_save(u, &s, &err) < 0) {
		log_warn("mail: %s", err);
		free(err);
	}
	set_free(&s);
}

int mail_user_rename(struct mail_user *u, const char *oldname, const char *newname,
		     char **error_r)
{
	char *from = NULL, *to = NULL, *copy = xstrdup(newname);
	struct name_set dirs = { NULL, 0, 0 }, moves = { NULL, 0, 0 };
	size_t flen, len = strlen(copy);
	int ret;

	if (len > 1 && copy[len - 1] == MAIL_SEPARATOR)
		copy[len - 1] = '\0';
	ret = mail_user_canonical_name(oldname, &from, error_r);
	if (ret == 0)
		ret = mail_user_name_check(copy, true, error_r);
	if (ret == 0)
		ret = mail_user_canonical_name(copy, &to, error_r);
	if (ret < 0)
		goto out;
	flen = strlen(from);
	if (strcmp(to, "INBOX") == 0 || strcmp(from, to) == 0 || folder_exists(u, to)) {
		ret = store_fail_code(MAIL_ERR_EXISTS, error_r, "Mailbox already exists");
		goto out;
	}
	if (strncmp(to, from, flen) == 0 && to[flen] == '/') {
		ret = store_fail_code(MAIL_ERR_INVALID, error_r,
				      "Cannot rename a mailbox into itself");
		goto out;
	}
	if (strcmp(from, "INBOX") == 0) {
		ret = rename_inbox(u, to, error_r);
		goto out;
	}
	if (list_dirs(u, &dirs, error_r) < 0) {
		ret = MAIL_ERR_TEMP;
		goto out;
	}
	/* the folder and its children: check every target first */
	for (size_t i = 0; i < dirs.n; i++) {
		const char *n = dirs.v[i];
		if (strncmp(n, from, flen) != 0 || (n[flen] != '\0' && n[flen] != '/'))
			continue;
		char *target = xasprintf("%s%s", to, n + flen);
		if (folder_exists(u, target) || mail_user_name_check(target, false, NULL) < 0) {
			ret = store_fail_code(MAIL_ERR_EXISTS, error_r, "Mailbox %s already exists",
					      target);
			free(target);
			goto out;
		}
		free(target);
		set_add(&moves, xstrdup(n));
	}
	if (moves.n == 0) {
		ret = store_fail_code(MAIL_ERR_NOTFOUND, error_r, "Mailbox does not exist");
		goto out;
	}
	ret = create_parents(u, to, error_r);
	for (size_t i = 0; i < moves.n && ret == 0; i++) {
		char *target = xasprintf("%s%s", to, moves.v[i] + flen);
		char *src = mail_user_folder_path(u, moves.v[i]), *dst = mail_user_folder_path(u, target);
		struct mail_folder *f = mail_user_find_folder(u, moves.v[i]);

		if (store_rename(src, dst) < 0)
			ret = store_fail(error_r, "mail: rename %s: %s", src, strerror(errno));
		else if (f != NULL)
			mailbox_folder_renamed(f, target, dst);
		free(target);
		free(src);
		free(dst);
	}
	if (store_fsync_dir(u->root) < 0)
		log_warn("mail: fsync path=%s error=%s", u->root, strerror(errno));
	subs_rename(u, from, to);
out:
	set_free(&dirs);
	set_free(&moves);
	free(from);
	free(to);
	free(copy);
	return ret;
}

int mail_user_ensure_special(struct mail_user *u, char **error_r)
{
	struct name_set subs;
	bool changed = false;
	int ret = 0;

	for (int i = 0; i < MAIL_SPECIAL_COUNT && ret == 0; i++) {
		if (u->special[i] == NULL || folder_exists(u, u->special[i]))
			continue;
		ret = create_parents(u, u->special[i], error_r);
		if (ret == 0)
			ret = folder_create_dir(u, u->special[i], error_r);
		changed = true;
	}
	if (ret < 0 || !changed)
		return ret;
	/* new special folders are subscribed, like Dovecot's auto=subscribe */
	if (subs_load(u, &subs, error_r) < 0)
		return MAIL_ERR_TEMP;
	changed = false;
	for (int i = 0; i < MAIL_SPECIAL_COUNT; i++)
		if (u->special[i] != NULL && set_find(&subs, u->special[i]) < 0) {
			set_add(&subs, xstrdup(u->special[i]));
			changed = true;
		}
	if (changed)
		ret = subs_save(u, &subs, error_r);
	set_free(&subs);
	return ret;
}

/* ---- quota ---- */

static int quota_compute(struct mail_user *u, char **error_r)
{
	struct name_set dirs;
	uint64_t bytes = 0, msgs = 0, b, m;
	int ret;

	if (list_dirs(u, &dirs, error_r) < 0)
		return MAIL_ERR_TEMP;
	set_add(&dirs, xstrdup("INBOX"));
	for (size_t i = 0; i < dirs.n; i++) {
		char *err = NULL;
		ret = mailbox_folder_totals(u, dirs.v[i], &b, &m, &err);
		if (ret == MAIL_ERR_NOTFOUND) {
			free(err);
			continue;
		}
		if (ret < 0) {
			if (error_r != NULL)
				*error_r = err;
			else
				free(err);
			set_free(&dirs);
			return ret;
		}
		bytes += b;
		msgs += m;
	}
	set_free(&dirs);
	u->used_bytes = bytes;
	u->used_messages = msgs;
	u->quota_known = true;
	return 0;
}

int mail_user_quota(struct mail_user *u, uint64_t *bytes_r, uint64_t *messages_r,
		    char **error_r)
{
	char *err = NULL;
	int ret = 0;

	if (!u->quota_known)
		ret = quota_compute(u, &err);
	if (ret < 0) {
		if (error_r != NULL)
			*error_r = err;
		else
			free(err);
		return ret;
	}
	*bytes_r = u->used_bytes;
	*messages_r = u->used_messages;
	return 0;
}

void mail_user_quota_limits(const struct mail_user *u, uint64_t *bytes_r, uint64_t *messages_r)
{
	*bytes_r = u->quota_bytes;
	*messages_r = u->quota_messages;
}

void mail_user_quota_add(struct mail_user *u, int64_t bytes, int64_t messages)
{
	if (!u->quota_known)
		return;
	if (bytes < 0 && (uint64_t)-bytes > u->used_bytes)
		u->used_bytes = 0;
	else
		u->used_bytes += (uint64_t)bytes;
	if (messages < 0 && (uint64_t)-messages > u->used_messages)
		u->used_messages = 0;
	else
		u->used_messages += (uint64_t)messages;
}

int mail_user_quota_check(struct mail_user *u, uint64_t add_bytes, uint64_t add_messages,
			  char **error_r)
{
	uint64_t bytes, msgs;
	int ret;

	if (u->quota_bytes == 0 && u->quota_messages == 0)
		return 0;
	ret = mail_user_quota(u, &bytes, &msgs, error_r);
	if (ret < 0)
		return ret;
	if ((u->quota_bytes != 0 && (add_bytes > u->quota_bytes || bytes > u->quota_bytes - add_bytes)) ||
	    (u->quota_messages != 0 &&
	     (add_messages > u->quota_messages || msgs > u->quota_messages - add_messages)))
		return store_fail_code(MAIL_ERR_OVERQUOTA, error_r, "Quota exceeded");
	return 0;
}
