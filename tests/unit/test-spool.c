/* Unit tests for the spool (src/lib-queue/spool.c): format round trips with
 * hostile values, truncation and checksum detection, recovery, the state log,
 * and disk faults injected through spool_set_io_hooks() and a small tmpfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "spool.h"
#include "test.h"
#include "xalloc.h"

#define FAKE_ID "0123456789abcdef"

/* ---- helpers ---- */

static const char *spool_test_dir(void)
{
	const char *dir = test_tmpdir();
	char *err = NULL;

	if (spool_init_dirs(dir, &err) < 0) {
		fprintf(stderr, "spool_init_dirs: %s\n", err);
		exit(2);
	}
	return dir;
}

static size_t dir_count(const char *dir, const char *sub)
{
	char *path = xasprintf("%s/%s", dir, sub);
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;

	free(path);
	if (d == NULL)
		return (size_t)-1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static bool path_exists(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	bool ok = lstat(path, &st) == 0;

	free(path);
	return ok;
}

static void simple_env(struct spool_envelope *e)
{
	memset(e, 0, sizeof(*e));
	e->sender = xstrdup("alice@example.org");
	e->arrival = 1700000000;
	spool_envelope_add_rcpt(e, "bob@example.net", "Bob@Example.NET", NULL, 0, true);
}

/* Writes content in pieces of `step` bytes and commits; 0 or -1. */
static int write_message(const char *dir, struct spool_envelope *e, const void *content,
			 size_t len, size_t step, char **err)
{
	struct spool_writer *w = NULL;

	if (spool_writer_create(dir, e, &w, err) < 0)
		return -1;
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		if (spool_writer_write(w, (const char *)content + off, n, err) < 0) {
			spool_writer_abort(&w);
			return -1;
		}
	}
	return spool_writer_commit(&w, err);
}

static char *read_file(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	char *data;

	*len_r = 0;
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	data = xmalloc((size_t)st.st_size + 1);
	*len_r = (size_t)pread(fd, data, (size_t)st.st_size, 0);
	close(fd);
	return data;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static char *read_content(int fd, int64_t off, int64_t len)
{
	char *p = xmalloc((size_t)len + 1);

	if (pread(fd, p, (size_t)len, off) != (ssize_t)len) {
		free(p);
		return NULL;
	}
	return p;
}

static bool streq_null(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool env_equal(const struct spool_envelope *a, const struct spool_envelope *b)
{
	if (!streq_null(a->sender, b->sender) || a->arrival != b->arrival ||
	    !streq_null(a->client_ip, b->client_ip) ||
	    !streq_null(a->client_helo, b->client_helo) ||
	    !streq_null(a->client_name, b->client_name) || !streq_null(a->tls, b->tls) ||
	    !streq_null(a->auth_user, b->auth_user) || !streq_null(a->envid, b->envid) ||
	    !streq_null(a->body, b->body) || a->ret != b->ret || a->smtputf8 != b->smtputf8 ||
	    a->nrcpts != b->nrcpts)
		return false;
	for (size_t i = 0; i < a->nrcpts; i++) {
		const struct spool_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		if (!streq_null(x->address, y->address) || !streq_null(x->orig, y->orig) ||
		    !streq_null(x->orcpt, y->orcpt) || x->notify != y->notify ||
		    x->local != y->local)
			return false;
	}
	return true;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* queue/<FAKE_ID> = header + content + a correct trailer (or `trailer`). */
static void write_raw(const char *dir, const char *header, const char *content,
		      const char *trailer)
{
	char hex[65];
	buf_t b;
	char *path = xasprintf("%s/queue/" FAKE_ID, dir);

	buf_init(&b, 0);
	buf_append_cstr(&b, header);
	buf_append_cstr(&b, content);
	sha256_hex(content, strlen(content), hex);
	if (trailer != NULL)
		buf_append_cstr(&b, trailer);
	else
		buf_printf(&b, "\n.YOUJU-END %zu %s\n", strlen(content), hex);
	write_file(path, b.data, b.used);
	buf_free(&b);
	free(path);
}

static int open_fake(const char *dir, char **err)
{
	struct spool_envelope e;
	int fd = 123;
	int ret = spool_open(dir, FAKE_ID, &e, &fd, NULL, NULL, err);

	if (ret == 0) {
		CHECK(fd >= 0);
		close(fd);
	} else {
		CHECK_INTEQ(fd, -1);
		CHECK(e.sender == NULL && e.nrcpts == 0);
	}
	spool_envelope_free(&e);
	return ret;
}

/* ---- round trips ---- */

static void set_all_fields(struct spool_envelope *e, const char *v)
{
	memset(e, 0, sizeof(*e));
	e->sender = xstrdup(v);
	e->arrival = -12345;
	e->client_ip = xstrdup(v);
	e->client_helo = xstrdup(v);
	e->client_name = xstrdup(v);
	e->tls = xstrdup(v);
	e->auth_user = xstrdup(v);
	e->envid = xstrdup(v);
	e->body = xstrdup(v);
	e->ret = 2;
	e->smtputf8 = true;
	spool_envelope_add_rcpt(e, v, v, v, 0xffffffffu, true);
	spool_envelope_add_rcpt(e, "r@x", v, NULL, 5, false);
}

/* Every header byte printable ASCII, and exactly the expected line count. */
static void check_header_shape(const char *dir, const char *id, size_t nlines)
{
	char *path = xasprintf("%s/queue/%s", dir, id);
	size_t len, lines = 0;
	char *data = read_file(path, &len);
	char *end = data ? memmem(data, len, "\n\n", 2) : NULL;

	REQUIRE(end != NULL);
	for (char *p = data; p <= end; p++) {
		if (*p == '\n')
			lines++;
		else
			CHECK(*p >= 0x20 && *p <= 0x7e);
	}
	CHECK_INTEQ(lines, nlines);
	free(data);
	free(path);
}

static void roundtrip_value(const char *dir, const char *v)
{
	struct spool_envelope in, out;
	const char content[] = "Subject: t\r\n\r\nbody\r\n";
	char *err = NULL, *back;
	int64_t off, len;
	int fd;

	set_all_fields(&in, v);
	REQUIRE(write_message(dir, &in, content, sizeof(content) - 1, 5, &err) == 0);
	CHECK(spool_id_is_valid(in.id));
	if (spool_open(dir, in.id, &out, &fd, &off, &len, &err) < 0) {
		fprintf(stderr, "  spool_open: %s\n", err);
		free(err);
		CHECK(false);
		spool_envelope_free(&in);
		return;
	}
	CHECK(env_equal(&in, &out));
	CHECK_STREQ(out.id, in.id);
	CHECK_INTEQ(len, sizeof(content) - 1);
	back = read_content(fd, off, len);
	CHECK(back != NULL && memcmp(back, content, sizeof(content) - 1) == 0);
	/* magic id arrival sender 7 optional ret smtputf8 2 rcpts */
	check_header_shape(dir, in.id, 1 + 3 + 7 + 2 + 2);
	free(back);
	close(fd);
	spool_envelope_free(&in);
	spool_envelope_free(&out);
}

TEST(spool_roundtrip_hostile_values)
{
	static const char *const values[] = {
		"plain@example.org", "", " ", "a b", "line\r\nbreak", "\n", "\r", "tab\there",
		"\x01\x02\x1f\x7f", "100%", "%41", "%", "%%", "-", "-x", "--", "x-", "-%-",
		"Ünïcödé 日本語 😀", "\xff\xfe\x80\xc0", "sender x\nrcpt 5 L 0 a b -",
		"v\n\nINJECT", "\n.YOUJU-END 1 00\n", "YOUJU-SPOOL 1",
	};
	const char *dir = spool_test_dir();
	char *big = xmalloc(100001);

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		roundtrip_value(dir, values[i]);
	for (size_t i = 0; i < 100000; i++)
		big[i] = (char)(1 + i % 255);
	big[100000] = '\0';
	roundtrip_value(dir, big);
	free(big);
}

TEST(spool_roundtrip_binary_content)
{
	const char *dir = spool_test_dir();
	static const char content[] =
		"a\0b\rc\nd\r\n\0\0\r\r\n\n\n.\r\n\n.YOUJU-END 3 abc\n\n\nYOUJU-SPOOL 1\n\xff\x80";
	size_t clen = sizeof(content) - 1;
	struct spool_envelope in, out;
	char *err = NULL, *back;
	int64_t off, len;
	int fd;

	for (size_t step = 1; step <= clen; step += 7) {
		simple_env(&in);
		REQUIRE(write_message(dir, &in, content, clen, step, &err) == 0);
		REQUIRE(spool_open(dir, in.id, &out, &fd, &off, &len, &err) == 0);
		CHECK(env_equal(&in, &out));
		CHECK_INTEQ(len, clen);
		back = read_content(fd, off, len);
		CHECK(back != NULL && memcmp(back, content, clen) == 0);
		free(back);
		close(fd);
		spool_envelope_free(&in);
		spool_envelope_free(&out);
	}
}

TEST(spool_roundtrip_empty_content)
{
	const char *dir = spool_test_dir();
	struct spool_envelope in, out;
	char *err = NULL;
	int64_t off = -1, len = -1;

	simple_env(&in);
	REQUIRE(write_message(dir, &in, "", 0, 1, &err) == 0);
	REQUIRE(spool_open(dir, in.id, &out, NULL, &off, &len, &err) == 0);
	CHECK_INTEQ(len, 0);
	CHECK(off > 0);
	spool_envelope_free(&in);
	spool_envelope_free(&out);
}

static unsigned char big_byte(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 13));
}

TEST(spool_20mb_content)
{
	const size_t total = 20u * 1024 * 1024;
	static const size_t steps[] = { 1, 13, 4096, 65535, 65536, 65537, 200000 };
	const char *dir = spool_test_dir();
	struct spool_envelope in, out;
	struct spool_writer *w;
	unsigned char *chunk = xmalloc(200000);
	char *err = NULL;
	size_t off = 0, k = 0;
	int64_t coff, clen;
	int fd;
	bool same = true;

	simple_env(&in);
	REQUIRE(spool_writer_create(dir, &in, &w, &err) == 0);
	while (off < total) {
		size_t n = steps[k++ % 7];
		if (n > total - off)
			n = total - off;
		for (size_t i = 0; i < n; i++)
			chunk[i] = big_byte(off + i);
		REQUIRE(spool_writer_write(w, chunk, n, &err) == 0);
		off += n;
	}
	CHECK_INTEQ(spool_writer_size(w), total);
	REQUIRE(spool_writer_commit(&w, &err) == 0);
	CHECK(w == NULL);
	REQUIRE(spool_open(dir, in.id, &out, &fd, &coff, &clen, &err) == 0);
	CHECK_INTEQ(clen, total);
	for (off = 0; off < total && same; off += 200000) {
		size_t n = total - off < 200000 ? total - off : 200000;
		REQUIRE(pread(fd, chunk, n, coff + (off_t)off) == (ssize_t)n);
		for (size_t i = 0; i < n; i++)
			same = same && chunk[i] == big_byte(off + i);
	}
	CHECK(same);
	close(fd);
	free(chunk);
	spool_envelope_free(&in);
	spool_envelope_free(&out);
}

/* ---- incomplete and malformed files ---- */

TEST(spool_truncated_rejected)
{
	const char *dir = spool_test_dir();
	struct spool_envelope in;
	char *err = NULL, *path, *data;
	char content[5000];
	size_t len;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (char)("abc\r\n"[i % 5]);
	simple_env(&in);
	REQUIRE(write_message(dir, &in, content, sizeof(content), 999, &err) == 0);
	path = xasprintf("%s/queue/%s", dir, in.id);
	data = read_file(path, &len);
	REQUIRE(data != NULL && len > sizeof(content));
	/* every 1 KB step, then every byte of the trailer and just before it */
	for (size_t cut = 0; cut < len; cut += (cut + 200 < len ? 1024 : 1)) {
		struct spool_envelope e;
		write_file(path, data, cut);
		err = NULL;
		CHECK_INTEQ(spool_open(dir, in.id, &e, NULL, NULL, NULL, &err), -1);
		CHECK(err != NULL);
		free(err);
	}
	write_file(path, data, len);
	{
		struct spool_envelope e;
		/* the id may live inside the envelope being filled */
		memset(&e, 0, sizeof(e));
		memcpy(e.id, in.id, sizeof(e.id));
		CHECK_INTEQ(spool_open(dir, e.id, &e, NULL, NULL, NULL, NULL), 0);
		CHECK(env_equal(&in, &e));
		spool_envelope_free(&e);
	}
	free(data);
	free(path);
	spool_envelope_free(&in);
}

TEST(spool_checksum_and_trailer_rejected)
{
	const char *dir = spool_test_dir();
	struct spool_envelope in, e;
	char *err = NULL, *path, *data;
	size_t len;
	const char content[] = "Subject: x\r\n\r\nhello\r\n";

	simple_env(&in);
	REQUIRE(write_message(dir, &in, content, sizeof(content) - 1, 100, &err) == 0);
	path = xasprintf("%s/queue/%s", dir, in.id);
	data = read_file(path, &len);
	REQUIRE(data != NULL);
	/* flip one bit in every byte of content and trailer in turn */
	for (size_t i = len - (sizeof(content) - 1) - 80; i < len; i++) {
		data[i] ^= 0x20;
		write_file(path, data, len);
		CHECK_INTEQ(spool_open(dir, in.id, &e, NULL, NULL, NULL, NULL), -1);
		data[i] ^= 0x20;
	}
	/* bytes appended after the trailer */
	write_file(path, data, len);
	{
		int fd = open(path, O_WRONLY | O_APPEND);
		CHECK(write(fd, "x\n", 2) == 2);
		close(fd);
	}
	err = NULL;
	CHECK_INTEQ(spool_open(dir, in.id, &e, NULL, NULL, NULL, &err), -1);
	free(err);
	write_file(path, data, len);
	CHECK_INTEQ(spool_open(dir, in.id, &e, NULL, NULL, NULL, NULL), 0);
	spool_envelope_free(&e);
	free(data);
	free(path);
	spool_envelope_free(&in);
}

#define HDR_HEAD "YOUJU-SPOOL 1\nid " FAKE_ID "\narrival 1700000000\n"
#define HDR_TAIL "ret 0\nsmtputf8 0\nrcpt 0 L 0 c@d c@d -\n\n"

TEST(spool_hand_written_valid)
{
	static const char *const good[] = {
		HDR_HEAD "sender a@b\n" HDR_TAIL,
		HDR_HEAD "sender %\n" HDR_TAIL,
		HDR_HEAD "sender %2Da%0A%0D%20%25\n" HDR_TAIL,
		HDR_HEAD "sender a\n" "envid x-\n" HDR_TAIL,
		HDR_HEAD "sender %2D-\n" HDR_TAIL,
		HDR_HEAD "sender a-%0A\n" HDR_TAIL,
		/* keys in another order are still one envelope */
		"YOUJU-SPOOL 1\nrcpt 0 R 9 c@d c@d rfc822;c@d\nsmtputf8 1\nret 1\nsender a@b\n"
		"envid x\narrival -5\nid " FAKE_ID "\n\n",
	};
	const char *dir = spool_test_dir();

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *err = NULL;
		write_raw(dir, good[i], "body\r\n", NULL);
		if (open_fake(dir, &err) != 0) {
			fprintf(stderr, "  case %zu: %s\n", i, err);
			CHECK(false);
		}
		free(err);
	}
}

TEST(spool_hand_written_invalid)
{
	static const char *const bad[] = {
		"YOUJU-SPOOL 2\nid " FAKE_ID "\narrival 1\nsender a@b\n" HDR_TAIL,
		"YOUJU-SPOOL 1 \nid " FAKE_ID "\narrival 1\nsender a@b\n" HDR_TAIL,
		"YOUJU-SPOOL\nid " FAKE_ID "\narrival 1\nsender a@b\n" HDR_TAIL,
		"\nYOUJU-SPOOL 1\nid " FAKE_ID "\narrival 1\nsender a@b\n" HDR_TAIL,
		"YOUJU-SPOOL 1\narrival 1\nsender a@b\n" HDR_TAIL,		/* no id */
		"YOUJU-SPOOL 1\nid 0123456789abcdee\narrival 1\nsender a@b\n" HDR_TAIL,
		"YOUJU-SPOOL 1\nid " FAKE_ID "\nsender a@b\n" HDR_TAIL,	/* no arrival */
		"YOUJU-SPOOL 1\nid " FAKE_ID "\narrival 01\nsender a@b\n" HDR_TAIL,
		"YOUJU-SPOOL 1\nid " FAKE_ID "\narrival -0\nsender a@b\n" HDR_TAIL,
		"YOUJU-SPOOL 1\nid " FAKE_ID "\narrival +1\nsender a@b\n" HDR_TAIL,
		"YOUJU-SPOOL 1\nid " FAKE_ID "\narrival 9223372036854775808\nsender a@b\n" HDR_TAIL,
		HDR_HEAD HDR_TAIL,				/* no sender */
		HDR_HEAD "sender a%40b\n" HDR_TAIL,		/* needless escape */
		HDR_HEAD "sender %0a\n" HDR_TAIL,		/* lowercase escape */
		HDR_HEAD "sender %0\n" HDR_TAIL,
		HDR_HEAD "sender a%\n" HDR_TAIL,
		HDR_HEAD "sender %zz\n" HDR_TAIL,
		HDR_HEAD "sender %00\n" HDR_TAIL,
		HDR_HEAD "sender -\n" HDR_TAIL,			/* absent is not allowed */
		HDR_HEAD "sender -a\n" HDR_TAIL,		/* leading '-' unescaped */
		HDR_HEAD "sender %2D%2D\n" HDR_TAIL,		/* second '-' needs none */
		HDR_HEAD "sender a b\n" HDR_TAIL,
		HDR_HEAD "sender \n" HDR_TAIL,
		HDR_HEAD "sender\n" HDR_TAIL,
		HDR_HEAD "sender a\r\n" HDR_TAIL,
		HDR_HEAD "sender a\x01\n" HDR_TAIL,
		HDR_HEAD "sender \xc3\xa9\n" HDR_TAIL,		/* raw UTF-8 */
		HDR_HEAD "sender a\nsender a\n" HDR_TAIL,
		HDR_HEAD "sender a\nenvid x\nenvid x\n" HDR_TAIL,
		HDR_HEAD "sender a\nenvid -\n" HDR_TAIL,
		HDR_HEAD "sender a\nfoo bar\n" HDR_TAIL,
		HDR_HEAD "sender a\nret 3\nsmtputf8 0\nrcpt 0 L 0 c@d c@d -\n\n",
		HDR_HEAD "sender a\nret 00\nsmtputf8 0\nrcpt 0 L 0 c@d c@d -\n\n",
		HDR_HEAD "sender a\nret 0\nret 0\nsmtputf8 0\nrcpt 0 L 0 c@d c@d -\n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 2\nrcpt 0 L 0 c@d c@d -\n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\n\n",			/* no rcpt */
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\nrcpt 1 L 0 c@d c@d -\n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\nrcpt 0 X 0 c@d c@d -\n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\nrcpt 0 L 0 c@d c@d\n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\nrcpt 0 L 0 c@d c@d - x\n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\nrcpt 0 L 0  c@d c@d -\n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\nrcpt 0 L 0 c@d c@d - \n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\nrcpt 0 L 4294967296 c@d c@d -\n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\nrcpt 0 L 0 - c@d -\n\n",
		HDR_HEAD "sender a\nret 0\nsmtputf8 0\nrcpt 0 L 0 c@d c@d -\n"
			 "rcpt 0 L 0 c@d c@d -\n\n",
		"YOUJU-SPOOL 1\r\nid " FAKE_ID "\r\narrival 1\r\nsender a\r\nret 0\r\n"
		"smtputf8 0\r\nrcpt 0 L 0 c@d c@d -\r\n\r\n",
	};
	const char *dir = spool_test_dir();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err = NULL;
		write_raw(dir, bad[i], "body\r\n", NULL);
		if (open_fake(dir, &err) != -1) {
			fprintf(stderr, "  case %zu accepted\n", i);
			CHECK(false);
		}
		CHECK(err != NULL);
		if (i == 0)
			CHECK_STREQ(err, "unsupported spool version 2");
		free(err);
	}
}

TEST(spool_bad_trailers)
{
	char hex[65], other[65], upper[65];
	const char *dir = spool_test_dir();
	const char *body = "body\r\n";
	char *trailers[9];

	sha256_hex(body, strlen(body), hex);
	sha256_hex("bodY\r\n", strlen(body), other);
	for (size_t i = 0; i < 65; i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	trailers[0] = xasprintf("\n.YOUJU-END 6 %s", hex);	/* no final LF */
	trailers[1] = xasprintf("\n.YOUJU-END 6 %s\n", upper);
	trailers[2] = xasprintf("\n.YOUJU-END 5 %s\n", hex);
	trailers[3] = xasprintf("\n.YOUJU-END 7 %s\n", hex);
	trailers[4] = xasprintf("\n.YOUJU-END 06 %s\n", hex);
	trailers[5] = xasprintf("\n.YOUJU-END  6 %s\n", hex);
	trailers[6] = xasprintf("\n.YOUJU-END 6 %s\n", other);
	trailers[7] = xasprintf("\n.YOUJU-END 6 %s \n", hex);
	trailers[8] = xasprintf(".YOUJU-END 6 %s\n", hex);	/* no leading LF */
	for (size_t i = 0; i < 9; i++) {
		write_raw(dir, HDR_HEAD "sender a\n" HDR_TAIL, body, trailers[i]);
		if (open_fake(dir, NULL) != -1) {
			fprintf(stderr, "  trailer %zu accepted\n", i);
			CHECK(false);
		}
		free(trailers[i]);
	}
	write_raw(dir, HDR_HEAD "sender a\n" HDR_TAIL, body, NULL);
	CHECK_INTEQ(open_fake(dir, NULL), 0);
}

TEST(spool_open_rejects_bad_ids_and_links)
{
	const char *dir = spool_test_dir();
	struct spool_envelope e, in;
	char *err = NULL, *target, *link_path;

	CHECK_INTEQ(spool_open(dir, "../queue/x", &e, NULL, NULL, NULL, NULL), -1);
	CHECK_INTEQ(spool_open(dir, "0123456789ABCDEF", &e, NULL, NULL, NULL, NULL), -1);
	CHECK_INTEQ(spool_open(dir, FAKE_ID "0", &e, NULL, NULL, NULL, NULL), -1);
	CHECK_INTEQ(spool_open(dir, FAKE_ID, &e, NULL, NULL, NULL, &err), -1);	/* ENOENT */
	free(err);
	/* a symlink in queue/ is not followed, even to a valid file */
	simple_env(&in);
	REQUIRE(write_message(dir, &in, "x", 1, 1, &err) == 0);
	target = xasprintf("%s/queue/%s", dir, in.id);
	link_path = xasprintf("%s/queue/" FAKE_ID, dir);
	REQUIRE(symlink(target, link_path) == 0);
	CHECK_INTEQ(spool_open(dir, FAKE_ID, &e, NULL, NULL, NULL, NULL), -1);
	free(target);
	free(link_path);
	spool_envelope_free(&in);
}

/* ---- writer lifecycle ---- */

TEST(spool_writer_rejects_bad_envelopes)
{
	const char *dir = spool_test_dir();
	struct spool_envelope e;
	struct spool_writer *w = (struct spool_writer *)1;
	char *err = NULL;

	memset(&e, 0, sizeof(e));
	spool_envelope_add_rcpt(&e, "a@b", "a@b", NULL, 0, false);
	CHECK_INTEQ(spool_writer_create(dir, &e, &w, &err), -1);	/* no sender */
	CHECK(w == NULL && err != NULL);
	free(err);
	spool_envelope_free(&e);
	e.sender = xstrdup("");
	CHECK_INTEQ(spool_writer_create(dir, &e, &w, NULL), -1);	/* no rcpt */
	spool_envelope_add_rcpt(&e, "a@b", "a@b", NULL, 0, false);
	e.ret = 3;
	CHECK_INTEQ(spool_writer_create(dir, &e, &w, NULL), -1);
	CHECK_INTEQ(dir_count(dir, "incoming"), 0);
	CHECK_INTEQ(spool_writer_create("/nonexistent-youju", &e, &w, NULL), -1);
	e.ret = 0;
	CHECK_INTEQ(spool_writer_create("/nonexistent-youju", &e, &w, &err), -1);
	CHECK(err != NULL);
	free(err);
	spool_envelope_free(&e);
}

TEST(spool_abort_leaves_nothing)
{
	const char *dir = spool_test_dir();
	struct spool_envelope e;
	struct spool_writer *w;

	simple_env(&e);
	REQUIRE(spool_writer_create(dir, &e, &w, NULL) == 0);
	CHECK_INTEQ(dir_count(dir, "incoming"), 1);
	CHECK(spool_writer_write(w, "hello", 5, NULL) == 0);
	spool_writer_abort(&w);
	CHECK(w == NULL);
	spool_writer_abort(&w);		/* NULL-safe */
	CHECK_INTEQ(dir_count(dir, "incoming"), 0);
	CHECK_INTEQ(dir_count(dir, "queue"), 0);
	spool_envelope_free(&e);
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

TEST(spool_ids_unique)
{
	const size_t n = 10000;
	const char *dir = spool_test_dir();
	char (*ids)[SPOOL_ID_LEN + 1] = xcalloc(n, sizeof(*ids));
	struct spool_envelope e;
	struct spool_writer *w;
	bool ordered = true;

	simple_env(&e);
	for (size_t i = 0; i < n; i++) {
		REQUIRE(spool_writer_create(dir, &e, &w, NULL) == 0);
		memcpy(ids[i], e.id, sizeof(ids[i]));
		CHECK(spool_id_is_valid(ids[i]));
		/* the 13-digit time prefix grows strictly within a process */
		if (i > 0 && memcmp(ids[i - 1], ids[i], 13) >= 0)
			ordered = false;
		spool_writer_abort(&w);
	}
	CHECK(ordered);
	qsort(ids, n, sizeof(*ids), id_cmp);
	for (size_t i = 1; i < n; i++)
		CHECK(strcmp(ids[i - 1], ids[i]) != 0);
	free(ids);
	spool_envelope_free(&e);
}

/* ---- fault injection ---- */

static int hook_errno;		/* errno the next failing call reports */
static long hook_write_budget;	/* bytes that may still be written; < 0: no limit */
static int hook_fsync_fail;	/* 1: regular files, 2: directories */
static size_t hook_max_chunk;	/* short writes: at most this many bytes per call */

static ssize_t hook_write(int fd, const void *p, size_t n)
{
	if (hook_max_chunk > 0 && n > hook_max_chunk)
		n = hook_max_chunk;
	if (hook_write_budget >= 0 && (long)n > hook_write_budget) {
		if (hook_write_budget == 0) {
			errno = hook_errno;
			return -1;
		}
		n = (size_t)hook_write_budget;	/* a short write, then the error */
	}
	if (hook_write_budget >= 0)
		hook_write_budget -= (long)n;
	return write(fd, p, n);
}

static int hook_fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && ((hook_fsync_fail == 1 && S_ISREG(st.st_mode)) ||
				    (hook_fsync_fail == 2 && S_ISDIR(st.st_mode)))) {
		errno = hook_errno;
		return -1;
	}
	return fsync(fd);
}

static void hooks_set(int err, long budget, int fsync_fail, size_t max_chunk)
{
	static const struct spool_io_hooks hooks = { hook_write, hook_fsync };

	hook_errno = err;
	hook_write_budget = budget;
	hook_fsync_fail = fsync_fail;
	hook_max_chunk = max_chunk;
	spool_set_io_hooks(&hooks);
}

/* One message of `size` bytes under the current hooks; must fail cleanly. */
static void commit_must_fail(const char *dir, size_t size, const char *expect)
{
	struct spool_envelope e;
	char *content = xmalloc(size), *err = NULL;

	memset(content, 'x', size);
	simple_env(&e);
	CHECK_INTEQ(write_message(dir, &e, content, size, 4000, &err), -1);
	CHECK(err != NULL && strstr(err, expect) != NULL);
	if (err != NULL && strstr(err, expect) == NULL)
		fprintf(stderr, "  error was: %s\n", err);
	CHECK_INTEQ(dir_count(dir, "incoming"), 0);
	CHECK_INTEQ(dir_count(dir, "queue"), 0);
	free(err);
	free(content);
	spool_envelope_free(&e);
}

TEST(spool_write_faults)
{
	const char *dir = spool_test_dir();

	hooks_set(ENOSPC, 0, 0, 0);
	commit_must_fail(dir, 10, "No space left");	/* fails at commit's flush */
	hooks_set(ENOSPC, 100000, 0, 0);
	commit_must_fail(dir, 1000000, "No space left");	/* mid-content, short write */
	hooks_set(EIO, 70000, 0, 0);
	commit_must_fail(dir, 1000000, "Input/output error");
	hooks_set(EDQUOT, 0, 0, 0);
	commit_must_fail(dir, 100, "quota");
	spool_set_io_hooks(NULL);
}

TEST(spool_write_fault_is_sticky)
{
	const char *dir = spool_test_dir();
	struct spool_envelope e;
	struct spool_writer *w;
	char big[70000];
	char *err = NULL;

	memset(big, 'y', sizeof(big));
	simple_env(&e);
	hooks_set(ENOSPC, 10, 0, 0);
	REQUIRE(spool_writer_create(dir, &e, &w, NULL) == 0);
	CHECK_INTEQ(spool_writer_write(w, big, sizeof(big), &err), -1);
	free(err);
	hook_write_budget = -1;		/* space is back: the error must stay */
	CHECK_INTEQ(spool_writer_write(w, "z", 1, NULL), -1);
	CHECK_INTEQ(spool_writer_commit(&w, NULL), -1);
	CHECK(w == NULL);
	CHECK_INTEQ(dir_count(dir, "incoming"), 0);
	CHECK_INTEQ(dir_count(dir, "queue"), 0);
	spool_set_io_hooks(NULL);
	spool_envelope_free(&e);
}

TEST(spool_fsync_faults)
{
	const char *dir = spool_test_dir();

	hooks_set(EIO, -1, 1, 0);
	commit_must_fail(dir, 100, "fsync");
	hooks_set(EIO, -1, 2, 0);	/* renamed already: must be taken back */
	commit_must_fail(dir, 100, "fsync");
	spool_set_io_hooks(NULL);
}

TEST(spool_short_writes_still_commit)
{
	const char *dir = spool_test_dir();
	struct spool_envelope e, out;
	char content[300000];
	char *back;
	int64_t off, len;
	int fd;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (char)(i % 251);
	simple_env(&e);
	hooks_set(0, -1, 0, 777);
	REQUIRE(write_message(dir, &e, content, sizeof(content), 70001, NULL) == 0);
	spool_set_io_hooks(NULL);
	REQUIRE(spool_open(dir, e.id, &out, &fd, &off, &len, NULL) == 0);
	back = read_content(fd, off, len);
	CHECK(len == (int64_t)sizeof(content) && back != NULL &&
	      memcmp(back, content, sizeof(content)) == 0);
	free(back);
	close(fd);
	spool_envelope_free(&e);
	spool_envelope_free(&out);
}

/* Real ENOSPC: a 256 KiB tmpfs in a private mount namespace (child process,
 * so nothing leaks into the host's mounts). Exit 77 = cannot mount. */
static int tmpfs_child(const char *dir)
{
	char *mnt = xasprintf("%s/small", dir);
	struct spool_envelope e;
	char *big = xmalloc(1024 * 1024), *err = NULL;

	mkdir(mnt, 0700);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=256k") < 0)
		return 77;
	if (spool_init_dirs(mnt, &err) < 0)
		return 1;
	memset(big, 'q', 1024 * 1024);
	simple_env(&e);
	CHECK_INTEQ(write_message(mnt, &e, big, 1024 * 1024, 65536, &err), -1);
	CHECK(err != NULL && strstr(err, "No space left") != NULL);
	free(err);
	CHECK_INTEQ(dir_count(mnt, "incoming"), 0);
	CHECK_INTEQ(dir_count(mnt, "queue"), 0);
	/* the space came back with the removed file */
	CHECK_INTEQ(write_message(mnt, &e, big, 1000, 100, NULL), 0);
	CHECK_INTEQ(dir_count(mnt, "queue"), 1);
	CHECK_INTEQ(spool_has_space(mnt, 1024 * 1024), 0);
	CHECK_INTEQ(spool_has_space(mnt, 4096), 1);
	spool_envelope_free(&e);
	umount(mnt);
	free(big);
	free(mnt);
	return test_current_failed ? 1 : 0;
}

TEST(spool_real_enospc_tmpfs)
{
	const char *dir = spool_test_dir();
	int status = 0;
	pid_t pid = fork();

	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(tmpfs_child(dir));
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		/* said out loud: the hook tests above still cover ENOSPC */
		fprintf(stderr, "  note: spool_real_enospc_tmpfs: cannot mount tmpfs here; "
			"ENOSPC covered only by the write hook\n");
		return;
	}
	CHECK_INTEQ(WEXITSTATUS(status), 0);
}

/* ---- state log ---- */

static void state_append_raw(const char *dir, const char *id, const char *text)
{
	char *path = xasprintf("%s/queue/%s.state", dir, id);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0640);

	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	free(path);
}

TEST(spool_state_log)
{
	const char *dir = spool_test_dir();
	enum spool_rcpt_state st[4];
	char *err = NULL, *path, *data;
	size_t len;

	log_set_level(LOG_LVL_ERROR);	/* the torn-line skips warn */
	CHECK_INTEQ(spool_load_state(dir, FAKE_ID, 4, st, &err), 0);	/* no log yet */
	CHECK(st[0] == SPOOL_RCPT_PENDING && st[3] == SPOOL_RCPT_PENDING);
	CHECK_INTEQ(spool_mark(dir, FAKE_ID, 0, SPOOL_RCPT_DELIVERED, "250 ok", &err), 0);
	CHECK_INTEQ(spool_mark(dir, FAKE_ID, 2, SPOOL_RCPT_FAILED, "550 no\r\nsuch user %", &err),
		    0);
	CHECK_INTEQ(spool_mark(dir, FAKE_ID, 3, SPOOL_RCPT_FAILED, NULL, &err), 0);
	CHECK_INTEQ(spool_mark(dir, FAKE_ID, 1, SPOOL_RCPT_PENDING, "x", NULL), -1);
	CHECK_INTEQ(spool_mark(dir, "../x", 1, SPOOL_RCPT_DELIVERED, "x", NULL), -1);
	REQUIRE(spool_load_state(dir, FAKE_ID, 4, st, &err) == 0);
	CHECK(st[0] == SPOOL_RCPT_DELIVERED && st[1] == SPOOL_RCPT_PENDING);
	CHECK(st[2] == SPOOL_RCPT_FAILED && st[3] == SPOOL_RCPT_FAILED);

	/* one record per line, nothing the reason could break */
	path = xasprintf("%s/queue/" FAKE_ID ".state", dir);
	data = read_file(path, &len);
	CHECK(data != NULL && len > 0 && memchr(data, '\r', len) == NULL);
	CHECK(data != NULL &&
	      memcmp(data, "0 delivered 250%20ok\n2 failed 550%20no%0D%0A", 44) == 0);
	free(data);

	/* a crash mid-append leaves a torn last line: ignored */
	state_append_raw(dir, FAKE_ID, "1 delivered");
	REQUIRE(spool_load_state(dir, FAKE_ID, 4, st, NULL) == 0);
	CHECK(st[1] == SPOOL_RCPT_PENDING && st[0] == SPOOL_RCPT_DELIVERED);
	/* the next mark ends the torn line first, so its own record is whole */
	CHECK_INTEQ(spool_mark(dir, FAKE_ID, 1, SPOOL_RCPT_FAILED, "later", NULL), 0);
	REQUIRE(spool_load_state(dir, FAKE_ID, 4, st, NULL) == 0);
	CHECK(st[1] == SPOOL_RCPT_FAILED);
	/* unreadable and out-of-range lines are skipped, the rest still counts */
	state_append_raw(dir, FAKE_ID, "garbage\n9 delivered x\n3 deliv\n0 failed a b\n");
	REQUIRE(spool_load_state(dir, FAKE_ID, 4, st, NULL) == 0);
	CHECK(st[0] == SPOOL_RCPT_DELIVERED && st[3] == SPOOL_RCPT_FAILED);
	/* fewer recipients than records: indexes past the end are ignored */
	REQUIRE(spool_load_state(dir, FAKE_ID, 1, st, NULL) == 0);
	CHECK(st[0] == SPOOL_RCPT_DELIVERED);
	log_set_level(LOG_LVL_INFO);
	free(path);
}

TEST(spool_state_append_fault_truncated)
{
	const char *dir = spool_test_dir();
	enum spool_rcpt_state st[2];
	char *path = xasprintf("%s/queue/" FAKE_ID ".state", dir);
	struct stat sb;

	CHECK_INTEQ(spool_mark(dir, FAKE_ID, 0, SPOOL_RCPT_DELIVERED, "ok", NULL), 0);
	REQUIRE(stat(path, &sb) == 0);
	hooks_set(ENOSPC, 5, 0, 0);		/* a short write, then ENOSPC */
	CHECK_INTEQ(spool_mark(dir, FAKE_ID, 1, SPOOL_RCPT_DELIVERED, "ok", NULL), -1);
	hooks_set(EIO, -1, 1, 0);
	CHECK_INTEQ(spool_mark(dir, FAKE_ID, 1, SPOOL_RCPT_DELIVERED, "ok", NULL), -1);
	spool_set_io_hooks(NULL);
	{
		struct stat sa;
		CHECK(stat(path, &sa) == 0 && sa.st_size == sb.st_size);
	}
	REQUIRE(spool_load_state(dir, FAKE_ID, 2, st, NULL) == 0);
	CHECK(st[0] == SPOOL_RCPT_DELIVERED && st[1] == SPOOL_RCPT_PENDING);
	free(path);
}

TEST(spool_remove_message_and_state)
{
	const char *dir = spool_test_dir();
	struct spool_envelope e;

	simple_env(&e);
	REQUIRE(write_message(dir, &e, "x", 1, 1, NULL) == 0);
	CHECK_INTEQ(spool_mark(dir, e.id, 0, SPOOL_RCPT_DELIVERED, "", NULL), 0);
	CHECK_INTEQ(dir_count(dir, "queue"), 2);
	CHECK_INTEQ(spool_remove(dir, e.id, NULL), 0);
	CHECK_INTEQ(dir_count(dir, "queue"), 0);
	CHECK_INTEQ(spool_remove(dir, e.id, NULL), 0);	/* already gone */
	CHECK_INTEQ(spool_remove(dir, "nope", NULL), -1);
	spool_envelope_free(&e);
}

/* ---- recovery ---- */

struct recover_seen {
	char ids[8][SPOOL_ID_LEN + 1];
	size_t n;
};

static void recover_cb(void *ctx, const char *id)
{
	struct recover_seen *s = ctx;

	if (s->n < 8)
		snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", id);
	s->n++;
}

static char *commit_simple(const char *dir, const char *content)
{
	struct spool_envelope e;
	char *id;

	simple_env(&e);
	if (write_message(dir, &e, content, strlen(content), 3, NULL) < 0)
		return NULL;
	id = xstrdup(e.id);
	spool_envelope_free(&e);
	return id;
}

static void touch(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);

	write_file(path, text, strlen(text));
	free(path);
}

TEST(spool_recover_sorts_things_out)
{
	const char *dir = spool_test_dir();
	struct recover_seen seen = { .n = 0 };
	char *good1 = commit_simple(dir, "one\r\n");
	char *bad = commit_simple(dir, "two\r\n");
	char *good2 = commit_simple(dir, "three\r\n");
	char *name, *err = NULL;
	struct stat st;

	REQUIRE(good1 && bad && good2);
	log_set_level(LOG_LVL_ERROR);	/* quarantines warn */
	/* the "bad" one lost its end: as after a torn write */
	name = xasprintf("%s/queue/%s", dir, bad);
	REQUIRE(stat(name, &st) == 0 && truncate(name, st.st_size - 10) == 0);
	free(name);
	CHECK_INTEQ(spool_mark(dir, good1, 0, SPOOL_RCPT_DELIVERED, "ok", NULL), 0);
	CHECK_INTEQ(spool_mark(dir, bad, 0, SPOOL_RCPT_DELIVERED, "ok", NULL), 0);
	touch(dir, "queue/ffffffffffffffff.state", "0 delivered x\n");
	touch(dir, "queue/junk", "junk");
	touch(dir, "incoming/" FAKE_ID, "YOUJU-SPOOL 1\npartial");
	touch(dir, "incoming/other", "");
	name = xasprintf("%s/queue/subdir", dir);
	REQUIRE(mkdir(name, 0700) == 0);
	free(name);

	REQUIRE(spool_recover(dir, recover_cb, &seen, &err) == 0);
	CHECK_INTEQ(seen.n, 2);
	CHECK_STREQ(seen.ids[0], good1);
	CHECK_STREQ(seen.ids[1], good2);
	CHECK_INTEQ(dir_count(dir, "incoming"), 0);
	/* good1, good1.state, good2, subdir */
	CHECK_INTEQ(dir_count(dir, "queue"), 4);
	CHECK_INTEQ(dir_count(dir, "corrupt"), 4);
	name = xasprintf("corrupt/%s", bad);
	CHECK(path_exists(dir, name));
	free(name);
	name = xasprintf("corrupt/%s.state", bad);
	CHECK(path_exists(dir, name));
	free(name);
	CHECK(path_exists(dir, "corrupt/ffffffffffffffff.state"));
	CHECK(path_exists(dir, "corrupt/junk"));

	/* a second "junk" never overwrites the first */
	touch(dir, "queue/junk", "junk 2");
	seen.n = 0;
	REQUIRE(spool_recover(dir, recover_cb, &seen, &err) == 0);
	CHECK_INTEQ(seen.n, 2);
	CHECK(path_exists(dir, "corrupt/junk.1"));
	log_set_level(LOG_LVL_INFO);
	free(good1);
	free(bad);
	free(good2);
}

TEST(spool_recover_missing_dirs)
{
	char *err = NULL;

	CHECK_INTEQ(spool_recover("/nonexistent-youju", recover_cb, NULL, &err), -1);
	CHECK(err != NULL);
	free(err);
}

TEST(spool_init_dirs_and_space)
{
	const char *dir = test_tmpdir();
	char *path = xasprintf("%s/queue", dir);
	struct stat st;
	char *err = NULL;

	CHECK_INTEQ(spool_init_dirs(dir, NULL), 0);
	CHECK_INTEQ(spool_init_dirs(dir, NULL), 0);	/* again: fine */
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0750);
	free(path);
	touch(dir, "file", "");
	path = xasprintf("%s/file", dir);
	CHECK_INTEQ(spool_init_dirs(path, &err), -1);
	free(err);
	free(path);
	CHECK_INTEQ(spool_has_space(dir, 0), 1);
	CHECK_INTEQ(spool_has_space(dir, UINT64_MAX), 0);
	CHECK_INTEQ(spool_has_space("/nonexistent-youju", 0), -1);
}
