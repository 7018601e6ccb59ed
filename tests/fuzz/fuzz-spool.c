/*
 * libFuzzer target for the spool file reader (spool_open) and the recipient
 * state log reader (spool_load_state).
 *
 * The first input byte picks a mode: with bit 0 set, the target appends a
 * correct trailer (length and SHA-256 of everything after the first empty
 * line), so the fuzzer reaches deep into header parsing without having to
 * forge a checksum; otherwise the bytes are stored as they are.
 *
 * Whatever spool_open accepts must round-trip: the decoded envelope and
 * content, written again through spool_writer and reopened, come back equal.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "spool.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)
#define FUZZ_ID "0123456789abcdef"

static char fuzz_dir[64];

/* Durability means nothing here; skipping fsync keeps the round trips fast. */
static int fuzz_no_fsync(int fd)
{
	(void)fd;
	return 0;
}

static void fuzz_init(void)
{
	static const struct spool_io_hooks hooks = { NULL, fuzz_no_fsync };

	if (fuzz_dir[0] != '\0')
		return;
	spool_set_io_hooks(&hooks);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/youju-fuzz-spool-XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL || spool_init_dirs(fuzz_dir, NULL) < 0)
		abort();
	log_set_level(LOG_LVL_ERROR);	/* state log skips warn */
}

static void fuzz_write(const char *name, const void *data, size_t len)
{
	char *path = xasprintf("%s/queue/%s", fuzz_dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(len == 0 || write(fd, data, len) == (ssize_t)len);
	close(fd);
	free(path);
}

/* Input as a spool file, with a correct trailer when asked to. */
static void fuzz_build(buf_t *file, const uint8_t *data, size_t size, bool add_trailer)
{
	const uint8_t *end = memmem(data, size, "\n\n", 2);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t clen;

	buf_append(file, data, size);
	if (!add_trailer || end == NULL)
		return;
	clen = size - (size_t)(end + 2 - data);
	FUZZ_ASSERT(EVP_Digest(end + 2, clen, md, &mdlen, EVP_sha256(), NULL) == 1);
	buf_printf(file, "\n.YOUJU-END %zu ", clen);
	for (unsigned i = 0; i < mdlen; i++)
		buf_printf(file, "%02x", md[i]);
	buf_append_byte(file, '\n');
}

static bool fuzz_streq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void fuzz_env_equal(const struct spool_envelope *a, const struct spool_envelope *b)
{
	FUZZ_ASSERT(fuzz_streq(a->sender, b->sender) && a->arrival == b->arrival);
	FUZZ_ASSERT(fuzz_streq(a->client_ip, b->client_ip));
	FUZZ_ASSERT(fuzz_streq(a->client_helo, b->client_helo));
	FUZZ_ASSERT(fuzz_streq(a->client_name, b->client_name));
	FUZZ_ASSERT(fuzz_streq(a->tls, b->tls) && fuzz_streq(a->auth_user, b->auth_user));
	FUZZ_ASSERT(fuzz_streq(a->envid, b->envid) && fuzz_streq(a->body, b->body));
	FUZZ_ASSERT(a->ret == b->ret && a->smtputf8 == b->smtputf8 && a->nrcpts == b->nrcpts);
	for (size_t i = 0; i < a->nrcpts; i++) {
		const struct spool_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		FUZZ_ASSERT(fuzz_streq(x->address, y->address) && fuzz_streq(x->orig, y->orig));
		FUZZ_ASSERT(fuzz_streq(x->orcpt, y->orcpt) && x->notify == y->notify);
		FUZZ_ASSERT(x->local == y->local);
	}
}

/* Accepted file: check the content slice, then write it again and compare. */
static void fuzz_roundtrip(struct spool_envelope *env, int fd, int64_t off, int64_t len,
			   const buf_t *file)
{
	struct spool_envelope again;
	struct spool_writer *w;
	char *content = xmalloc((size_t)len + 1);
	int64_t off2, len2;
	int fd2;

	FUZZ_ASSERT(off >= 0 && len >= 0 && (uint64_t)(off + len) <= file->used);
	FUZZ_ASSERT(pread(fd, content, (size_t)len, off) == (ssize_t)len);
	FUZZ_ASSERT(memcmp(content, file->data + off, (size_t)len) == 0);
	FUZZ_ASSERT(spool_writer_create(fuzz_dir, env, &w, NULL) == 0);
	FUZZ_ASSERT(spool_writer_write(w, content, (size_t)len, NULL) == 0);
	FUZZ_ASSERT(spool_writer_commit(&w, NULL) == 0);
	FUZZ_ASSERT(spool_open(fuzz_dir, env->id, &again, &fd2, &off2, &len2, NULL) == 0);
	fuzz_env_equal(env, &again);
	FUZZ_ASSERT(len2 == len);
	FUZZ_ASSERT(pread(fd2, content, (size_t)len, off2) == (ssize_t)len);
	FUZZ_ASSERT(memcmp(content, file->data + off, (size_t)len) == 0);
	close(fd2);
	FUZZ_ASSERT(spool_remove(fuzz_dir, again.id, NULL) == 0);
	spool_envelope_free(&again);
	free(content);
}

static void fuzz_state(const uint8_t *data, size_t size)
{
	enum spool_rcpt_state st[4];

	fuzz_write(FUZZ_ID ".state", data, size);
	FUZZ_ASSERT(spool_load_state(fuzz_dir, FUZZ_ID, 4, st, NULL) == 0);
	for (size_t i = 0; i < 4; i++)
		FUZZ_ASSERT(st[i] <= SPOOL_RCPT_FAILED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_envelope env;
	char *err = NULL;
	int64_t off = -1, len = -1;
	int fd = -1;
	buf_t file;

	if (size == 0)
		return 0;
	fuzz_init();
	buf_init(&file, 0);
	fuzz_build(&file, data + 1, size - 1, (data[0] & 1) != 0);
	fuzz_write(FUZZ_ID, file.data, file.used);
	if (spool_open(fuzz_dir, FUZZ_ID, &env, &fd, &off, &len, &err) == 0) {
		FUZZ_ASSERT(err == NULL && fd >= 0 && strcmp(env.id, FUZZ_ID) == 0);
		FUZZ_ASSERT(env.sender != NULL && env.nrcpts > 0);
		fuzz_roundtrip(&env, fd, off, len, &file);
		close(fd);
		spool_envelope_free(&env);
	} else {
		FUZZ_ASSERT(err != NULL && fd == -1 && env.sender == NULL && env.rcpts == NULL);
		free(err);
	}
	if (data[0] & 2)
		fuzz_state(data + 1, size - 1);
	buf_free(&file);
	return 0;
}
