/*
 * libFuzzer target for the folder index reader (mail_index_open) and the
 * Maildir sync/rebuild on top of it (mailbox_open).
 *
 * Input: byte 0 is the mode, the rest is split at "YJ--" into up to three
 * parts written as youju.index, youju.log and youju.cache (a missing part
 * is a missing file). With mode bit 0 set the target first writes correct
 * hashes into the index header, the log header and each framed log
 * record, so the fuzzer gets past the checksums into the validation of
 * records, keywords, names and log replay.
 *
 * What must hold, whatever the bytes:
 *  - mail_index_open() succeeds and gives sane records (ascending UIDs
 *    below UIDNEXT, file names without '/', MODSEQs <= HIGHESTMODSEQ);
 *    cache lookups never crash;
 *  - mailbox_open() on a Maildir holding two messages shows exactly those
 *    two messages (the files are the truth, the index only describes them);
 *  - a rewrite of what was loaded reopens EXACT with the same UIDs.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mail-index.h"
#include "mail-user.h"
#include "mailbox.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

static char fuzz_root[64];
static struct mail_user *fuzz_user;

static int fuzz_no_fsync(int fd)
{
	(void)fd;
	return 0;
}

static void fuzz_put(const char *name, const char *data)
{
	char *path = xasprintf("%s/cur/%s", fuzz_root, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	FUZZ_ASSERT(fd >= 0 && write(fd, data, strlen(data)) == (ssize_t)strlen(data));
	close(fd);
	free(path);
}

static void fuzz_init(void)
{
	static const struct mail_store_io_hooks hooks = { NULL, NULL, fuzz_no_fsync };
	struct mail_user_settings set = { .hostname = "fuzz.example" };

	if (fuzz_root[0] != '\0')
		return;
	log_set_level(LOG_LVL_ERROR);
	mail_store_set_io_hooks(&hooks);
	snprintf(fuzz_root, sizeof(fuzz_root), "/tmp/youju-fuzz-index-XXXXXX");
	FUZZ_ASSERT(mkdtemp(fuzz_root) != NULL);
	FUZZ_ASSERT(mail_user_open(fuzz_root, &set, &fuzz_user, NULL) == 0);
	fuzz_put("1500000000.M1P1Q1.fuzz.example,S=14:2,S", "Subject: 1\n\nx\n");
	fuzz_put("1500000001.M1P1Q2.fuzz.example,S=14:2,", "Subject: 2\n\ny\n");
}

/* Removes every youju.* file (index, log, backups, cache, leftovers). */
static void fuzz_clean(void)
{
	DIR *d = opendir(fuzz_root);
	struct dirent *de;

	FUZZ_ASSERT(d != NULL);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "youju.", 6) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static void fuzz_write(const char *file, const uint8_t *data, size_t len)
{
	char *path = xasprintf("%s/%s", fuzz_root, file);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(len == 0 || write(fd, data, len) == (ssize_t)len);
	close(fd);
	free(path);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* The index hash as mail_index_open checks it: header with the hash field
 * zeroed, then records, keywords, expunges and names. */
static void fuzz_fix_index(uint8_t *p, size_t len)
{
	uint64_t lens[4], hash, zero = 0, off = 128;
	uint8_t hdr[128];

	if (len < 128)
		return;
	lens[0] = (uint64_t)get32(p + 28) * 64;
	lens[1] = get32(p + 56);
	lens[2] = (uint64_t)get32(p + 60) * 16;
	lens[3] = get64(p + 64);
	if (lens[3] > len || off + lens[0] + lens[1] + lens[2] + lens[3] != len)
		return;
	memcpy(hdr, p, 128);
	memcpy(hdr + 120, &zero, 8);
	hash = mail_index_hash(hdr, 128, 0);
	for (int i = 0; i < 4; i++) {
		hash = mail_index_hash(p + off, (size_t)lens[i], hash);
		off += lens[i];
	}
	memcpy(p + 120, &hash, 8);
}

static void fuzz_fix_log(uint8_t *p, size_t len)
{
	uint64_t hash, zero = 0;
	uint8_t hdr[40];
	size_t pos = 40;

	if (len < 40)
		return;
	memcpy(hdr, p, 40);
	memcpy(hdr + 32, &zero, 8);
	hash = mail_index_hash(hdr, 40, 0);
	memcpy(p + 32, &hash, 8);
	while (len - pos >= 16) {
		uint32_t rlen = get32(p + pos + 4);
		if (rlen > 1024 || len - pos - 16 < rlen)
			break;
		hash = mail_index_hash(p + pos, 8 + (size_t)rlen, 0);
		memcpy(p + pos + 8 + rlen, &hash, 8);
		pos += 16 + (size_t)rlen;
	}
}

static void fuzz_check_index(const struct mail_index *idx)
{
	FUZZ_ASSERT(idx->uidvalidity != 0 && idx->nkeywords <= MAIL_INDEX_MAX_KEYWORDS);
	for (uint32_t i = 0; i < idx->count; i++) {
		const struct mail_index_record *r = &idx->recs[i];
		const char *name = mail_index_name(idx, i);
		FUZZ_ASSERT(r->uid != 0 && r->uid < idx->uidnext);
		FUZZ_ASSERT(i == 0 || r->uid > idx->recs[i - 1].uid);
		FUZZ_ASSERT(r->modseq <= idx->highestmodseq);
		FUZZ_ASSERT(name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL);
		FUZZ_ASSERT((r->flags & MAIL_REC_EXPUNGED) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *parts[3] = { NULL, NULL, NULL };
	size_t lens[3] = { 0, 0, 0 }, nparts = 0;
	const uint8_t *p, *end;
	struct mail_index *idx;
	enum mail_index_state state;
	struct mailbox *box;
	uint32_t *uids;
	uint32_t count;
	uint64_t hms;

	if (size == 0)
		return 0;
	fuzz_init();
	fuzz_clean();
	p = data + 1;
	end = data + size;
	while (nparts < 3) {
		const uint8_t *sep = memmem(p, (size_t)(end - p), "YJ--", 4);
		parts[nparts] = p;
		lens[nparts] = sep ? (size_t)(sep - p) : (size_t)(end - p);
		nparts++;
		if (sep == NULL)
			break;
		p = sep + 4;
	}
	{
		static const char *const files[3] = { MAIL_INDEX_FILE, MAIL_INDEX_LOG_FILE,
						      MAIL_INDEX_CACHE_FILE };
		for (size_t i = 0; i < nparts; i++) {
			uint8_t *copy = xmalloc(lens[i] + 1);
			memcpy(copy, parts[i], lens[i]);
			if ((data[0] & 1) && i == 0)
				fuzz_fix_index(copy, lens[i]);
			if ((data[0] & 1) && i == 1)
				fuzz_fix_log(copy, lens[i]);
			fuzz_write(files[i], copy, lens[i]);
			free(copy);
		}
	}

	/* the reader alone */
	FUZZ_ASSERT(mail_index_open(fuzz_root, &idx, &state, NULL) == 0);
	fuzz_check_index(idx);
	for (uint32_t i = 0; i < idx->count; i++) {
		buf_t out;
		buf_init(&out, 0);
		FUZZ_ASSERT(mail_index_cache_get(idx, i, i % MAIL_CACHE_FIELDS, &out, NULL) >= 0);
		buf_free(&out);
	}
	mail_index_close(&idx);

	/* the Maildir decides what exists; the directories look changed */
	{
		char *cur = xasprintf("%s/cur", fuzz_root), *newd = xasprintf("%s/new", fuzz_root);
		utimensat(AT_FDCWD, cur, NULL, 0);
		utimensat(AT_FDCWD, newd, NULL, 0);
		free(cur);
		free(newd);
	}
	{
		/* the files changed behind the store's back: as after a
		   restart, the user (and its in-memory folders) is new */
		struct mail_user_settings set = { .hostname = "fuzz.example" };
		char *err = NULL;
		mail_user_close(&fuzz_user);
		FUZZ_ASSERT(mail_user_open(fuzz_root, &set, &fuzz_user, NULL) == 0);
		if (mailbox_open(fuzz_user, "INBOX", 0, &box, &err) < 0) {
			fprintf(stderr, "mailbox_open: %s\n", err);
			abort();
		}
	}
	count = mailbox_count(box);
	FUZZ_ASSERT(count == 2);
	FUZZ_ASSERT(mailbox_uid(box, 1) < mailbox_uid(box, 2));
	for (uint32_t seq = 1; seq <= count; seq++) {
		int fd = -1;
		uint64_t len;
		FUZZ_ASSERT(mailbox_record(box, seq) != NULL);
		FUZZ_ASSERT(mailbox_open_message(box, seq, &fd, &len, NULL) == 0 && len == 14);
		close(fd);
	}
	hms = mailbox_highestmodseq(box);
	mailbox_close(&box);

	/* what was written back reads back the same (unless it went past the
	   MODSEQ limit, which starts over by design) */
	FUZZ_ASSERT(mail_index_open(fuzz_root, &idx, &state, NULL) == 0);
	if (state == MAIL_INDEX_LOST && hms > MAIL_INDEX_MODSEQ_LIMIT - (UINT64_C(1) << 32)) {
		mail_index_close(&idx);
		return 0;
	}
	if (state != MAIL_INDEX_EXACT || idx->count != 2) {
		fprintf(stderr, "reopen: state %d count %u\n", (int)state, idx->count);
		abort();
	}
	fuzz_check_index(idx);
	uids = xmalloc(sizeof(uint32_t) * 2);
	uids[0] = idx->recs[0].uid;
	uids[1] = idx->recs[1].uid;
	FUZZ_ASSERT(mail_index_rewrite(idx, NULL) == 0);
	mail_index_close(&idx);
	FUZZ_ASSERT(mail_index_open(fuzz_root, &idx, &state, NULL) == 0);
	FUZZ_ASSERT(state == MAIL_INDEX_EXACT && idx->count == 2);
	FUZZ_ASSERT(idx->recs[0].uid == uids[0] && idx->recs[1].uid == uids[1]);
	mail_index_close(&idx);
	free(uids);
	return 0;
}
