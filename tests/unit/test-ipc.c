/* Tests for the typed IPC layer: fields, framing, fd passing, the libevent
 * channel against well-behaved and broken peers, and the blocking helpers. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "test.h"
#include "buf.h"
#include "fdpass.h"
#include "ipc.h"

#define T_TIMEOUT_MS 5000

enum { T_PING = 100, T_PONG, T_FILES, T_BIG };

static int64_t t_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One short turn of the loop: a broken channel can never hang a test. */
static void t_loop_once(struct event_base *base)
{
	struct timeval tv = { 0, 5000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

#define RUN_UNTIL(base, cond) do {                                       \
	int64_t end_ = t_now_ms() + T_TIMEOUT_MS;                        \
	while (!(cond) && t_now_ms() < end_)                             \
		t_loop_once(base);                                       \
} while (0)

/* A channel owner that records what it is told. */
#define T_MAXMSG 16
struct t_peer {
	struct ipc_channel *ch;
	struct ipc_msg msgs[T_MAXMSG];
	unsigned nmsgs;
	char error[160];
	bool destroy_on_msg;
	bool destroy_on_error;
	/* if set, called instead of storing the message */
	void (*hook)(struct t_peer *p, struct ipc_msg *msg);
	unsigned next;		/* for hooks: next expected sequence number */
	unsigned bad;		/* for hooks: mismatches seen */
};

static void t_on_msg(struct ipc_channel *ch, struct ipc_msg *msg, void *ctx)
{
	struct t_peer *p = ctx;

	CHECK(ch == p->ch);
	if (p->hook != NULL)
		p->hook(p, msg);
	else if (p->nmsgs < T_MAXMSG)
		ipc_msg_move(&p->msgs[p->nmsgs], msg);
	p->nmsgs++;
	if (p->destroy_on_msg)
		ipc_channel_destroy(&p->ch);
}

static void t_on_error(struct ipc_channel *ch, const char *reason, void *ctx)
{
	struct t_peer *p = ctx;

	CHECK(ch == p->ch);
	CHECK(p->error[0] == '\0');	/* reported once */
	snprintf(p->error, sizeof(p->error), "%s", reason);
	if (p->destroy_on_error)
		ipc_channel_destroy(&p->ch);
}

static void t_peer_open(struct t_peer *p, struct event_base *base, int fd, const char *name)
{
	memset(p, 0, sizeof(*p));
	p->ch = ipc_channel_create(base, fd, name, t_on_msg, t_on_error, p);
}

static void t_peer_close(struct t_peer *p)
{
	ipc_channel_destroy(&p->ch);
	for (unsigned i = 0; i < p->nmsgs && i < T_MAXMSG; i++)
		ipc_msg_free(&p->msgs[i]);
}

/* ---- raw wire bytes, written from the format documented in ipc.h ---- */

static void t_le(buf_t *b, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		buf_append_byte(b, (char)(uint8_t)(v >> (8 * i)));
}

static void t_header(buf_t *b, uint32_t len, uint16_t type, uint16_t nfds, uint64_t reqid)
{
	t_le(b, len, 4);
	t_le(b, type, 2);
	t_le(b, nfds, 2);
	t_le(b, reqid, 8);
}

static void t_frame(buf_t *b, uint16_t type, uint16_t nfds, uint64_t reqid,
		    const void *body, size_t len)
{
	t_header(b, (uint32_t)(IPC_HEADER_SIZE + len), type, nfds, reqid);
	buf_append(b, body, len);
}

static void t_hello(buf_t *b, uint32_t magic, uint32_t version)
{
	buf_t body;
	buf_init(&body, 0);
	buf_append_byte(&body, IPC_TAG_U32);
	t_le(&body, magic, 4);
	buf_append_byte(&body, IPC_TAG_U32);
	t_le(&body, version, 4);
	t_frame(b, IPC_TYPE_HELLO, 0, 0, body.data, body.used);
	buf_free(&body);
}

/* Everything readable on fd right now. */
static void t_drain(int fd, buf_t *out)
{
	char tmp[4096];
	ssize_t n;
	while ((n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT)) > 0)
		buf_append(out, tmp, (size_t)n);
}

/* The exact bytes ipc_sync_send puts on the wire for m (small m only). */
static void t_serialize(struct ipc_msg *m, buf_t *out)
{
	int sp[2];
	REQUIRE(ipc_socketpair(sp) == 0);
	CHECK(ipc_sync_send(sp[0], m, T_TIMEOUT_MS) == 0);
	t_drain(sp[1], out);
	close(sp[0]);
	close(sp[1]);
}

/* Write p to fd chunk bytes at a time, running the loop after every write so
 * the reader sees the stream in pieces. */
static void t_pump(struct event_base *base, int fd, const void *p, size_t len, size_t chunk)
{
	size_t off = 0;
	int64_t end = t_now_ms() + T_TIMEOUT_MS;

	while (off < len && t_now_ms() < end) {
		size_t n = len - off < chunk ? len - off : chunk;
		ssize_t w = send(fd, (const char *)p + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	CHECK(off == len);
}

static void t_set_bufsizes(int fd, int size)
{
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/* 0 at EOF: every write end of the pipe is closed. */
static ssize_t t_read_nb(int fd, char *p, size_t len)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return read(fd, p, len);
}

/* ---- one message with every field type ---- */

static const uint8_t t_bin[] = { 0, 1, 2, 0xff, 0, 'x' };

static void t_fill_all(struct ipc_msg *m)
{
	ipc_add_u32(m, 0);
	ipc_add_u32(m, UINT32_MAX);
	ipc_add_u64(m, UINT64_MAX);
	ipc_add_i64(m, INT64_MIN);
	ipc_add_i64(m, -1);
	ipc_add_str(m, "user@example.org");
	ipc_add_str(m, "");
	ipc_add_str(m, NULL);
	ipc_add_str(m, "\xe9\x82\xae\xe5\xb1\x80");
	ipc_add_data(m, t_bin, sizeof(t_bin));
	ipc_add_data(m, NULL, 0);
}

static void t_check_all(struct ipc_msg *m)
{
	uint32_t a = 1, b = 0;
	uint64_t c = 0;
	int64_t d = 0, e = 0;
	const char *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL;
	slice_t d1 = { 0 }, d2 = { "x", 1 };

	CHECK(ipc_get_u32(m, &a) == 0);
	CHECK(a == 0);
	CHECK(ipc_get_u32(m, &b) == 0);
	CHECK(b == UINT32_MAX);
	CHECK(ipc_get_u64(m, &c) == 0);
	CHECK(c == UINT64_MAX);
	CHECK(ipc_get_i64(m, &d) == 0);
	CHECK(d == INT64_MIN);
	CHECK(ipc_get_i64(m, &e) == 0);
	CHECK(e == -1);
	CHECK(ipc_get_str(m, &s1) == 0);
	CHECK_STREQ(s1, "user@example.org");
	CHECK(ipc_get_str(m, &s2) == 0);
	CHECK_STREQ(s2, "");
	CHECK(ipc_get_str(m, &s3) == 0);
	CHECK_STREQ(s3, "");
	CHECK(ipc_get_str(m, &s4) == 0);
	CHECK_STREQ(s4, "\xe9\x82\xae\xe5\xb1\x80");
	CHECK(ipc_get_data(m, &d1) == 0);
	CHECK(d1.len == sizeof(t_bin) && memcmp(d1.ptr, t_bin, sizeof(t_bin)) == 0);
	CHECK(ipc_get_data(m, &d2) == 0);
	CHECK_INTEQ(d2.len, 0);
	CHECK(ipc_get_end(m) == 0);
	CHECK(!m->bad);
}

TEST(ipc_fields_local)
{
	struct ipc_msg m;
	ipc_msg_init(&m, T_PING, 7);
	t_fill_all(&m);
	t_check_all(&m);
	ipc_msg_free(&m);
	ipc_msg_free(&m);	/* twice is harmless */
}

TEST(ipc_strict_reading)
{
	struct ipc_msg m;
	uint32_t u32;
	uint64_t u64;
	const char *s;
	slice_t d;
	int fd;

	/* wrong tag, and failure is sticky */
	ipc_msg_init(&m, T_PING, 0);
	ipc_add_u32(&m, 5);
	ipc_add_u32(&m, 6);
	CHECK(ipc_get_u64(&m, &u64) == -1);
	CHECK(m.bad);
	CHECK(ipc_get_u32(&m, &u32) == -1);
	CHECK(ipc_get_end(&m) == -1);
	ipc_msg_free(&m);

	/* trailing field */
	ipc_msg_init(&m, T_PING, 0);
	ipc_add_u32(&m, 5);
	ipc_add_str(&m, "more");
	CHECK(ipc_get_u32(&m, &u32) == 0);
	CHECK(ipc_get_end(&m) == -1);
	CHECK(ipc_get_str(&m, &s) == 0);
	CHECK(ipc_get_end(&m) == 0);
	CHECK(ipc_get_u32(&m, &u32) == -1);	/* nothing left */
	ipc_msg_free(&m);

	/* empty body */
	ipc_msg_init(&m, T_PING, 0);
	CHECK(ipc_get_end(&m) == 0);
	CHECK(ipc_get_data(&m, &d) == -1);
	ipc_msg_free(&m);

	/* short integer */
	ipc_msg_init(&m, T_PING, 0);
	buf_append(&m.body, "\x02\x01\x02\x03", 4);
	CHECK(ipc_get_u64(&m, &u64) == -1);
	ipc_msg_free(&m);

	/* short string, and a length near 4 GiB */
	ipc_msg_init(&m, T_PING, 0);
	buf_append(&m.body, "\x04\x0a\x00\x00\x00" "abc", 8);
	CHECK(ipc_get_str(&m, &s) == -1);
	ipc_msg_free(&m);
	ipc_msg_init(&m, T_PING, 0);
	buf_append(&m.body, "\x05\xff\xff\xff\xff" "abc", 8);
	CHECK(ipc_get_data(&m, &d) == -1);
	ipc_msg_free(&m);

	/* STR with a NUL inside, and without its terminator */
	ipc_msg_init(&m, T_PING, 0);
	buf_append(&m.body, "\x04\x03\x00\x00\x00" "a\0b" "\0", 9);
	CHECK(ipc_get_str(&m, &s) == -1);
	ipc_msg_free(&m);
	ipc_msg_init(&m, T_PING, 0);
	buf_append(&m.body, "\x04\x03\x00\x00\x00" "abcx", 9);
	CHECK(ipc_get_str(&m, &s) == -1);
	ipc_msg_free(&m);
	/* ...but DATA may hold NULs */
	ipc_msg_init(&m, T_PING, 0);
	buf_append(&m.body, "\x05\x03\x00\x00\x00" "a\0b", 8);
	CHECK(ipc_get_data(&m, &d) == 0);
	CHECK(d.len == 3 && memcmp(d.ptr, "a\0b", 3) == 0);
	CHECK(ipc_get_end(&m) == 0);
	ipc_msg_free(&m);

	/* unknown tag; FD tag without an fd */
	ipc_msg_init(&m, T_PING, 0);
	buf_append(&m.body, "\x7f", 1);
	CHECK(ipc_get_u32(&m, &u32) == -1);
	ipc_msg_free(&m);
	ipc_msg_init(&m, T_PING, 0);
	buf_append(&m.body, "\x06", 1);
	CHECK(ipc_get_fd(&m, &fd) == -1);
	ipc_msg_free(&m);

	/* an fd is a field like the others: order matters */
	int p[2];
	REQUIRE(pipe(p) == 0);
	close(p[0]);
	ipc_msg_init(&m, T_PING, 0);
	ipc_add_fd(&m, p[1]);
	ipc_add_u32(&m, 1);
	CHECK(ipc_get_u32(&m, &u32) == -1);
	ipc_msg_free(&m);	/* closes p[1] */
}

TEST(ipc_sync_roundtrip)
{
	int sp[2];
	struct ipc_msg m, r;
	const char *error = NULL;

	REQUIRE(ipc_socketpair(sp) == 0);
	ipc_msg_init(&m, T_PING, 42);
	t_fill_all(&m);
	REQUIRE(ipc_sync_send(sp[0], &m, T_TIMEOUT_MS) == 0);
	CHECK(m.body.used == 0);	/* consumed */
	ipc_msg_free(&m);

	ipc_msg_init(&m, T_PONG, UINT64_MAX);
	REQUIRE(ipc_sync_send(sp[0], &m, T_TIMEOUT_MS) == 0);

	REQUIRE(ipc_sync_recv(sp[1], &r, T_TIMEOUT_MS, &error) == 0);
	CHECK_INTEQ(r.type, T_PING);
	CHECK(r.reqid == 42);
	t_check_all(&r);
	ipc_msg_free(&r);
	REQUIRE(ipc_sync_recv(sp[1], &r, T_TIMEOUT_MS, &error) == 0);
	CHECK_INTEQ(r.type, T_PONG);
	CHECK(r.reqid == UINT64_MAX);
	CHECK(ipc_get_end(&r) == 0);
	ipc_msg_free(&r);

	/* nothing more: times out */
	CHECK(ipc_sync_recv(sp[1], &r, 20, &error) == -1);
	CHECK_STREQ(error, "timeout");
	close(sp[0]);
	close(sp[1]);
}

TEST(ipc_sync_hello)
{
	int sp[2];
	const char *error = NULL;
	buf_t raw, want;

	buf_init(&raw, 0);
	buf_init(&want, 0);
	t_hello(&want, IPC_HELLO_MAGIC, IPC_VERSION);
	CHECK_INTEQ(want.used, 26);

	/* the peer's hello is already waiting */
	REQUIRE(ipc_socketpair(sp) == 0);
	CHECK(send(sp[1], want.data, want.used, 0) == (ssize_t)want.used);
	CHECK(ipc_sync_hello(sp[0], T_TIMEOUT_MS, &error) == 0);
	t_drain(sp[1], &raw);
	CHECK(slice_eq(buf_slice(&raw), buf_slice(&want)));	/* wire format as documented */
	close(sp[0]);
	close(sp[1]);

	/* a peer of another version */
	REQUIRE(ipc_socketpair(sp) == 0);
	buf_reset(&raw);
	t_hello(&raw, IPC_HELLO_MAGIC, 2);
	CHECK(send(sp[1], raw.data, raw.used, 0) == (ssize_t)raw.used);
	CHECK(ipc_sync_hello(sp[0], T_TIMEOUT_MS, &error) == -1);
	CHECK_STREQ(error, "version mismatch: peer 2, ours 1");
	close(sp[0]);
	close(sp[1]);

	/* a silent peer */
	REQUIRE(ipc_socketpair(sp) == 0);
	CHECK(ipc_sync_hello(sp[0], 30, &error) == -1);
	CHECK_STREQ(error, "timeout");
	close(sp[1]);
	CHECK(ipc_sync_hello(sp[0], T_TIMEOUT_MS, &error) == -1);
	CHECK_STREQ(error, "closed");
	close(sp[0]);
	buf_free(&raw);
	buf_free(&want);
}

/* Feed raw bytes to ipc_sync_recv and expect an error containing want. */
static void t_sync_expect_error(const buf_t *raw, const char *want)
{
	int sp[2];
	struct ipc_msg m;
	const char *error = NULL;

	REQUIRE(ipc_socketpair(sp) == 0);
	CHECK(send(sp[0], raw->data, raw->used, 0) == (ssize_t)raw->used);
	close(sp[0]);
	CHECK(ipc_sync_recv(sp[1], &m, T_TIMEOUT_MS, &error) == -1);
	if (error == NULL || strstr(error, want) == NULL) {
		fprintf(stderr, "  want \"%s\", got \"%s\"\n", want, error ? error : "(null)");
		CHECK(!"sync error reason");
	}
	CHECK(m.body.data == NULL && m.nfds == 0);
	close(sp[1]);
}

TEST(ipc_sync_recv_rejects)
{
	buf_t raw;
	buf_init(&raw, 0);

	t_header(&raw, 0x80000000u, T_PING, 0, 1);
	t_sync_expect_error(&raw, "too long");
	buf_reset(&raw);
	t_header(&raw, 3, T_PING, 0, 1);
	t_sync_expect_error(&raw, "shorter");
	buf_reset(&raw);
	t_frame(&raw, T_PING, 3, 1, "\x06\x06\x06", 3);
	t_sync_expect_error(&raw, "fds missing");
	buf_reset(&raw);
	t_hello(&raw, IPC_HELLO_MAGIC, IPC_VERSION);
	t_sync_expect_error(&raw, "unexpected hello");
	buf_reset(&raw);
	t_frame(&raw, T_PING, 0, 1, "\x05\x10\x00\x00\x00", 5);
	t_sync_expect_error(&raw, "truncated");
	buf_reset(&raw);
	t_header(&raw, 100, T_PING, 0, 1);
	t_sync_expect_error(&raw, "closed");
	buf_free(&raw);
}

TEST(ipc_async_roundtrip)
{
	struct event_base *base = event_base_new();
	struct t_peer a, b;
	int sp[2];
	struct ipc_msg m;

	REQUIRE(base != NULL);
	REQUIRE(ipc_socketpair(sp) == 0);
	t_peer_open(&a, base, sp[0], "a");
	t_peer_open(&b, base, sp[1], "b");
	CHECK_STREQ(ipc_channel_peer(a.ch), "a");
	CHECK_INTEQ(ipc_channel_fd(b.ch), sp[1]);
	CHECK(ipc_channel_pending(a.ch) == 26);	/* the queued hello */

	uint64_t id = ipc_next_reqid(a.ch);
	CHECK(id == 1);
	CHECK(ipc_next_reqid(a.ch) == 2);
	ipc_msg_init(&m, T_PING, id);
	t_fill_all(&m);
	ipc_send(a.ch, &m);
	ipc_msg_free(&m);	/* harmless after send */

	RUN_UNTIL(base, b.nmsgs >= 1);
	REQUIRE(b.nmsgs == 1);	/* the hello is not delivered */
	CHECK_INTEQ(b.msgs[0].type, T_PING);
	CHECK(b.msgs[0].reqid == 1);
	t_check_all(&b.msgs[0]);

	/* reply with the request's id */
	ipc_msg_init(&m, T_PONG, b.msgs[0].reqid);
	ipc_add_str(&m, "pong");
	ipc_send(b.ch, &m);
	RUN_UNTIL(base, a.nmsgs >= 1);
	REQUIRE(a.nmsgs == 1);
	const char *s = NULL;
	CHECK(a.msgs[0].reqid == 1);
	CHECK(ipc_get_str(&a.msgs[0], &s) == 0);
	CHECK_STREQ(s, "pong");
	CHECK(ipc_get_end(&a.msgs[0]) == 0);
	CHECK(ipc_channel_pending(a.ch) == 0);
	CHECK(ipc_channel_pending(b.ch) == 0);
	CHECK(a.error[0] == '\0' && b.error[0] == '\0');

	t_peer_close(&a);
	t_peer_close(&b);
	CHECK(a.ch == NULL);
	event_base_free(base);
}

TEST(ipc_fd_passing_sync)
{
	int sp[2], p[2];
	char path[512], got[32];
	struct ipc_msg m;
	const char *error = NULL, *s = NULL;

	REQUIRE(ipc_socketpair(sp) == 0);
	REQUIRE(pipe(p) == 0);
	snprintf(path, sizeof(path), "%s/file", test_tmpdir());
	int ffd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(ffd >= 0);
	CHECK(write(ffd, "stored", 6) == 6);

	ipc_msg_init(&m, T_FILES, 9);
	ipc_add_str(&m, "files");
	ipc_add_fd(&m, p[1]);
	ipc_add_fd(&m, ffd);
	ipc_add_u32(&m, 7);
	REQUIRE(ipc_sync_send(sp[0], &m, T_TIMEOUT_MS) == 0);

	int w = -1, f = -1;
	uint32_t v = 0;
	REQUIRE(ipc_sync_recv(sp[1], &m, T_TIMEOUT_MS, &error) == 0);
	CHECK_INTEQ(m.nfds, 2);
	CHECK(ipc_get_str(&m, &s) == 0);
	CHECK(ipc_get_fd(&m, &w) == 0);
	CHECK(ipc_get_fd(&m, &f) == 0);
	CHECK(ipc_get_u32(&m, &v) == 0);
	CHECK(ipc_get_end(&m) == 0);
	CHECK(v == 7);
	ipc_msg_free(&m);	/* must not close fds we took */
	CHECK((fcntl(w, F_GETFD) & FD_CLOEXEC) != 0);

	CHECK(write(w, "through", 7) == 7);
	CHECK(read(p[0], got, sizeof(got)) == 7);
	CHECK(memcmp(got, "through", 7) == 0);
	CHECK(pread(f, got, sizeof(got), 0) == 6);
	CHECK(memcmp(got, "stored", 6) == 0);
	close(w);
	close(f);
	/* the sender closed its copy after sending: EOF now */
	CHECK(t_read_nb(p[0], got, sizeof(got)) == 0);
	close(p[0]);
	close(sp[0]);
	close(sp[1]);
}

/* Send a few bytes on the pipe end w, then close it. */
static void t_write_fd(int w, const char *text)
{
	CHECK(write(w, text, strlen(text)) == (ssize_t)strlen(text));
	close(w);
}

static void t_expect_pipe(int r, const char *text)
{
	char got[64];
	ssize_t n = t_read_nb(r, got, sizeof(got));
	CHECK(n == (ssize_t)strlen(text) && memcmp(got, text, (size_t)n) == 0);
	CHECK(t_read_nb(r, got, sizeof(got)) == 0);	/* EOF: no copy leaked */
	close(r);
}

TEST(ipc_fd_passing_async)
{
	struct event_base *base = event_base_new();
	struct t_peer a, b;
	int sp[2], pipes[6][2];
	struct ipc_msg m;
	uint32_t v;
	int fd;

	REQUIRE(ipc_socketpair(sp) == 0);
	for (int i = 0; i < 6; i++)
		REQUIRE(pipe(pipes[i]) == 0);
	t_peer_open(&a, base, sp[0], "a");
	t_peer_open(&b, base, sp[1], "b");

	/* interleave messages with and without fds, all queued at once */
	for (uint32_t i = 0; i < 6; i++) {
		ipc_msg_init(&m, T_FILES, i);
		ipc_add_u32(&m, i);
		if (i == 1 || i == 5)
			ipc_add_fd(&m, pipes[i == 1 ? 0 : 5][1]);
		if (i == 3)
			for (int k = 1; k <= IPC_MAX_FDS; k++)
				ipc_add_fd(&m, pipes[k][1]);
		ipc_send(a.ch, &m);
	}
	RUN_UNTIL(base, b.nmsgs >= 6);
	REQUIRE(b.nmsgs == 6);
	for (uint32_t i = 0; i < 6; i++) {
		CHECK(ipc_get_u32(&b.msgs[i], &v) == 0);
		CHECK(v == i);
	}
	CHECK(ipc_get_end(&b.msgs[0]) == 0);
	CHECK(ipc_get_fd(&b.msgs[1], &fd) == 0);
	t_write_fd(fd, "one");
	CHECK(ipc_get_end(&b.msgs[2]) == 0);
	const char *words[] = { "", "w1", "w2", "w3", "w4" };
	for (int k = 1; k <= IPC_MAX_FDS; k++) {
		CHECK(ipc_get_fd(&b.msgs[3], &fd) == 0);
		t_write_fd(fd, words[k]);
	}
	CHECK(ipc_get_end(&b.msgs[3]) == 0);
	CHECK(ipc_get_end(&b.msgs[4]) == 0);
	/* message 5's fd is never claimed: freeing the message closes it */
	t_peer_close(&a);
	t_peer_close(&b);

	t_expect_pipe(pipes[0][0], "one");
	for (int k = 1; k <= IPC_MAX_FDS; k++)
		t_expect_pipe(pipes[k][0], words[k]);
	t_expect_pipe(pipes[5][0], "");
	event_base_free(base);
}

TEST(ipc_unclaimed_fds_closed_on_destroy)
{
	struct event_base *base = event_base_new();
	struct t_peer b;
	int sp[2], p[2];
	buf_t raw;

	REQUIRE(ipc_socketpair(sp) == 0);
	REQUIRE(pipe(p) == 0);
	t_peer_open(&b, base, sp[1], "b");
	buf_init(&raw, 0);
	t_hello(&raw, IPC_HELLO_MAGIC, IPC_VERSION);
	t_header(&raw, 100, T_PING, 1, 0);	/* a frame that never completes */
	struct iovec iov = { raw.data, raw.used };
	CHECK(fdpass_send(sp[0], &iov, 1, &p[1], 1) == (ssize_t)raw.used);
	close(p[1]);
	for (int i = 0; i < 10; i++)
		t_loop_once(base);
	CHECK(b.error[0] == '\0');
	t_peer_close(&b);
	char c;
	CHECK(t_read_nb(p[0], &c, 1) == 0);
	close(p[0]);
	close(sp[0]);
	buf_free(&raw);
	event_base_free(base);
}

/* Give a channel raw bytes and expect on_error with a reason containing
 * want (NULL: any reason). The writer stays open, so a specific reason
 * cannot be masked by "closed". */
static void t_expect_error(const buf_t *raw, const char *want)
{
	struct event_base *base = event_base_new();
	struct t_peer b;
	int sp[2];

	REQUIRE(ipc_socketpair(sp) == 0);
	t_peer_open(&b, base, sp[1], "b");
	CHECK(send(sp[0], raw->data, raw->used, 0) == (ssize_t)raw->used);
	RUN_UNTIL(base, b.error[0] != '\0');
	CHECK(b.error[0] != '\0');
	if (want != NULL && strstr(b.error, want) == NULL) {
		fprintf(stderr, "  want \"%s\", got \"%s\"\n", want, b.error);
		CHECK(!"error reason");
	}
	CHECK_INTEQ(b.nmsgs, 0);
	/* a dead channel drops what it is given */
	struct ipc_msg m;
	ipc_msg_init(&m, T_PING, 0);
	ipc_add_str(&m, "into the void");
	ipc_send(b.ch, &m);
	t_peer_close(&b);
	close(sp[0]);
	event_base_free(base);
}

TEST(ipc_garbage_rejected)
{
	buf_t raw, ok;
	buf_init(&raw, 0);
	buf_init(&ok, 0);
	t_hello(&ok, IPC_HELLO_MAGIC, IPC_VERSION);

	/* random bytes (fixed seed) */
	uint32_t x = 12345;
	for (int i = 0; i < 4096; i++) {
		x = x * 1103515245u + 12345u;
		buf_append_byte(&raw, (char)(x >> 16));
	}
	t_expect_error(&raw, NULL);

#define T_AFTER_HELLO(stmt, want) do {                                   \
	buf_reset(&raw);                                                 \
	buf_append(&raw, ok.data, ok.used);                              \
	stmt;                                                            \
	t_expect_error(&raw, want);                                      \
} while (0)
	T_AFTER_HELLO(t_header(&raw, 3, T_PING, 0, 0), "shorter than its header");
	/* 2 GB and 4 GB claims fail on the header alone, nothing allocated */
	T_AFTER_HELLO(t_header(&raw, 0x80000000u, T_PING, 0, 0), "too long");
	T_AFTER_HELLO(t_header(&raw, 0xffffffffu, T_PING, 0, 0), "too long");
	T_AFTER_HELLO(t_header(&raw, IPC_MAX_FRAME + 1, T_PING, 0, 0), "too long");
	T_AFTER_HELLO(t_frame(&raw, T_PING, 3, 0, "\x06\x06\x06", 3), "fds missing");
	T_AFTER_HELLO(t_header(&raw, 16, T_PING, IPC_MAX_FDS + 1, 0), "too many fds");
	T_AFTER_HELLO(t_frame(&raw, T_PING, 0, 0, "\x06", 1), "fd fields");
	T_AFTER_HELLO(t_hello(&raw, IPC_HELLO_MAGIC, IPC_VERSION), "unexpected hello");
	T_AFTER_HELLO(t_frame(&raw, T_PING, 0, 0, "\x7f", 1), "unknown field tag");
	T_AFTER_HELLO(t_frame(&raw, T_PING, 0, 0, "\x05\x64\x00\x00\x00" "abc", 8), "truncated");
	T_AFTER_HELLO(t_frame(&raw, T_PING, 0, 0, "\x04\x03\x00\x00\x00" "a\0b\0", 9), "NUL");
	T_AFTER_HELLO(t_frame(&raw, T_PING, 0, 0, "\x01\x00\x00\x00", 4), "truncated");
#undef T_AFTER_HELLO

	buf_reset(&raw);
	t_hello(&raw, 0x12345678, IPC_VERSION);
	t_expect_error(&raw, "bad magic");
	buf_reset(&raw);
	t_hello(&raw, IPC_HELLO_MAGIC, IPC_VERSION + 1);
	t_expect_error(&raw, "version mismatch: peer 2, ours 1");
	buf_reset(&raw);
	t_frame(&raw, T_PING, 0, 0, "\x01\x00\x00\x00\x00", 5);
	t_expect_error(&raw, "expected hello");
	buf_reset(&raw);
	t_frame(&raw, IPC_TYPE_HELLO, 0, 0, "\x01\x4a\x55\x4f\x59", 5);
	t_expect_error(&raw, "expected hello: no version");
	buf_free(&raw);
	buf_free(&ok);
}

TEST(ipc_peer_closed)
{
	struct event_base *base = event_base_new();
	struct t_peer a, b;
	int sp[2], p[2];

	/* closed before anything was said */
	REQUIRE(ipc_socketpair(sp) == 0);
	t_peer_open(&b, base, sp[1], "b");
	close(sp[0]);
	RUN_UNTIL(base, b.error[0] != '\0');
	CHECK_STREQ(b.error, "closed");
	/* sending on the dead channel closes the fd it was given */
	REQUIRE(pipe(p) == 0);
	struct ipc_msg m;
	ipc_msg_init(&m, T_FILES, 0);
	ipc_add_fd(&m, p[1]);
	ipc_send(b.ch, &m);
	char c;
	CHECK(t_read_nb(p[0], &c, 1) == 0);
	close(p[0]);
	t_peer_close(&b);

	/* closed after a while; the owner destroys inside on_error */
	REQUIRE(ipc_socketpair(sp) == 0);
	t_peer_open(&a, base, sp[0], "a");
	t_peer_open(&b, base, sp[1], "b");
	b.destroy_on_error = true;
	ipc_msg_init(&m, T_PING, 0);
	ipc_send(a.ch, &m);
	RUN_UNTIL(base, b.nmsgs == 1);
	t_peer_close(&a);
	RUN_UNTIL(base, b.error[0] != '\0');
	CHECK_STREQ(b.error, "closed");
	CHECK(b.ch == NULL);
	t_peer_close(&b);
	event_base_free(base);
}

TEST(ipc_destroy_in_on_msg)
{
	struct event_base *base = event_base_new();
	struct t_peer a, b;
	int sp[2], p[2];
	struct ipc_msg m;

	REQUIRE(ipc_socketpair(sp) == 0);
	REQUIRE(pipe(p) == 0);
	t_peer_open(&a, base, sp[0], "a");
	t_peer_open(&b, base, sp[1], "b");
	b.destroy_on_msg = true;
	/* several frames in one read, one carrying an fd, behind the first */
	for (uint32_t i = 0; i < 5; i++) {
		ipc_msg_init(&m, T_PING, i);
		ipc_add_u32(&m, i);
		if (i == 3)
			ipc_add_fd(&m, p[1]);
		ipc_send(a.ch, &m);
	}
	RUN_UNTIL(base, b.nmsgs >= 1);
	for (int i = 0; i < 5; i++)
		t_loop_once(base);
	CHECK_INTEQ(b.nmsgs, 1);
	CHECK(b.ch == NULL);
	CHECK(b.error[0] == '\0');
	RUN_UNTIL(base, a.error[0] != '\0');
	CHECK_STREQ(a.error, "closed");
	/* the fd that never got delivered was closed along with the channel */
	char c;
	CHECK(t_read_nb(p[0], &c, 1) == 0);
	close(p[0]);
	t_peer_close(&a);
	t_peer_close(&b);
	event_base_free(base);
}

/* Hook: each message carries u32 seq and str "message <seq>". */
static void t_check_seq(struct t_peer *p, struct ipc_msg *msg)
{
	uint32_t seq = UINT32_MAX;
	const char *s = NULL;
	char want[32];

	snprintf(want, sizeof(want), "message %u", p->next);
	if (msg->reqid != p->next + 1 || ipc_get_u32(msg, &seq) < 0 || seq != p->next ||
	    ipc_get_str(msg, &s) < 0 || strcmp(s, want) != 0 || ipc_get_end(msg) < 0)
		p->bad++;
	p->next++;
}

/* Hook: send every message back from inside the callback. */
static void t_echo(struct t_peer *p, struct ipc_msg *msg)
{
	struct ipc_msg reply;
	ipc_msg_move(&reply, msg);
	reply.type = T_PONG;
	ipc_send(p->ch, &reply);
}

TEST(ipc_many_in_order)
{
	struct event_base *base = event_base_new();
	struct t_peer a, b;
	int sp[2];
	const unsigned n = 3000;

	REQUIRE(ipc_socketpair(sp) == 0);
	t_set_bufsizes(sp[0], 4096);
	t_set_bufsizes(sp[1], 4096);
	t_peer_open(&a, base, sp[0], "a");
	t_peer_open(&b, base, sp[1], "b");
	a.hook = t_check_seq;
	b.hook = t_echo;
	for (unsigned i = 0; i < n; i++) {
		struct ipc_msg m;
		char text[32];
		ipc_msg_init(&m, T_PING, ipc_next_reqid(a.ch));
		ipc_add_u32(&m, i);
		snprintf(text, sizeof(text), "message %u", i);
		ipc_add_str(&m, text);
		ipc_send(a.ch, &m);
	}
	CHECK(ipc_channel_pending(a.ch) > 4096);
	RUN_UNTIL(base, a.nmsgs >= n);
	CHECK_INTEQ(a.nmsgs, n);
	CHECK_INTEQ(b.nmsgs, n);
	CHECK_INTEQ(a.bad, 0);
	CHECK(ipc_channel_pending(a.ch) == 0 && ipc_channel_pending(b.ch) == 0);
	CHECK(a.error[0] == '\0' && b.error[0] == '\0');
	t_peer_close(&a);
	t_peer_close(&b);
	event_base_free(base);
}

TEST(ipc_big_frame_partial_writes)
{
	struct event_base *base = event_base_new();
	struct t_peer a, c;
	int sp[2], feed[2];
	const size_t dlen = IPC_MAX_BODY - 5;	/* frame of exactly IPC_MAX_FRAME */
	uint8_t *data = malloc(dlen);
	buf_t wire;
	struct ipc_msg m;

	REQUIRE(data != NULL);
	for (size_t i = 0; i < dlen; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	REQUIRE(ipc_socketpair(sp) == 0);
	t_set_bufsizes(sp[0], 4096);
	t_set_bufsizes(sp[1], 4096);
	t_peer_open(&a, base, sp[0], "a");
	ipc_msg_init(&m, T_BIG, 77);
	ipc_add_data(&m, data, dlen);
	CHECK(m.body.used == IPC_MAX_BODY);
	ipc_send(a.ch, &m);
	const size_t total = 26 + IPC_MAX_FRAME;
	CHECK(ipc_channel_pending(a.ch) == total);

	/* a slow reader: 4 KiB per turn of the loop */
	buf_init(&wire, 0);
	bool partial = false;
	int64_t end = t_now_ms() + T_TIMEOUT_MS;
	while (wire.used < total && t_now_ms() < end) {
		char tmp[4096];
		event_base_loop(base, EVLOOP_NONBLOCK);
		size_t pend = ipc_channel_pending(a.ch);
		if (pend > 0 && pend < total)
			partial = true;
		ssize_t r = recv(sp[1], tmp, sizeof(tmp), MSG_DONTWAIT);
		if (r > 0)
			buf_append(&wire, tmp, (size_t)r);
	}
	CHECK(partial);
	REQUIRE(wire.used == total);
	CHECK(ipc_channel_pending(a.ch) == 0);
	CHECK(a.error[0] == '\0');

	/* what came out decodes back to the same message */
	REQUIRE(ipc_socketpair(feed) == 0);
	t_peer_open(&c, base, feed[1], "c");
	t_pump(base, feed[0], wire.data, wire.used, 65536);
	RUN_UNTIL(base, c.nmsgs >= 1 || c.error[0] != '\0');
	REQUIRE(c.nmsgs == 1);
	slice_t d;
	CHECK(c.msgs[0].reqid == 77);
	CHECK(ipc_get_data(&c.msgs[0], &d) == 0);
	CHECK(d.len == dlen && memcmp(d.ptr, data, dlen) == 0);
	CHECK(ipc_get_end(&c.msgs[0]) == 0);

	t_peer_close(&a);
	t_peer_close(&c);
	close(sp[1]);
	close(feed[0]);
	buf_free(&wire);
	free(data);
	event_base_free(base);
}

TEST(ipc_trickle)
{
	struct event_base *base = event_base_new();
	struct t_peer c;
	int sp[2];
	buf_t wire;
	struct ipc_msg m;
	uint8_t blob[3000];

	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i ^ (i >> 8));
	buf_init(&wire, 0);
	t_hello(&wire, IPC_HELLO_MAGIC, IPC_VERSION);
	ipc_msg_init(&m, T_PING, 1);
	t_fill_all(&m);
	t_serialize(&m, &wire);
	ipc_msg_init(&m, T_PONG, 2);
	t_serialize(&m, &wire);
	ipc_msg_init(&m, T_BIG, UINT64_MAX);
	ipc_add_data(&m, blob, sizeof(blob));
	t_serialize(&m, &wire);

	REQUIRE(ipc_socketpair(sp) == 0);
	t_peer_open(&c, base, sp[1], "c");
	t_pump(base, sp[0], wire.data, wire.used, 1);
	RUN_UNTIL(base, c.nmsgs >= 3 || c.error[0] != '\0');
	REQUIRE(c.nmsgs == 3);
	CHECK(c.error[0] == '\0');
	CHECK(c.msgs[0].type == T_PING && c.msgs[0].reqid == 1);
	t_check_all(&c.msgs[0]);
	CHECK(c.msgs[1].type == T_PONG && c.msgs[1].reqid == 2);
	CHECK(ipc_get_end(&c.msgs[1]) == 0);
	slice_t d;
	CHECK(c.msgs[2].reqid == UINT64_MAX);
	CHECK(ipc_get_data(&c.msgs[2], &d) == 0);
	CHECK(d.len == sizeof(blob) && memcmp(d.ptr, blob, sizeof(blob)) == 0);
	CHECK(ipc_get_end(&c.msgs[2]) == 0);

	t_peer_close(&c);
	close(sp[0]);
	buf_free(&wire);
	event_base_free(base);
}

/* Run fn in a child and expect it to abort (a caller bug). */
static void t_expect_abort(void (*fn)(void))
{
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDERR_FILENO);
		fn();
		_exit(0);
	}
	int status = 0;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static void t_overfill(void)
{
	static uint8_t data[IPC_MAX_BODY];
	struct ipc_msg m;

	ipc_msg_init(&m, T_BIG, 0);
	ipc_add_data(&m, data, IPC_MAX_BODY - 5);	/* exactly full: fine */
	if (m.body.used != IPC_MAX_BODY)
		_exit(1);
	ipc_add_fd(&m, 0);	/* one byte more: abort */
}

static void t_too_many_fds(void)
{
	struct ipc_msg m;

	ipc_msg_init(&m, T_FILES, 0);
	for (int i = 0; i <= IPC_MAX_FDS; i++)
		ipc_add_fd(&m, open("/dev/null", O_RDONLY));
}

static void t_send_hello(void)
{
	struct ipc_msg m;
	int sp[2];

	if (ipc_socketpair(sp) < 0)
		_exit(1);
	ipc_msg_init(&m, IPC_TYPE_HELLO, 0);
	ipc_sync_send(sp[0], &m, 100);
}

TEST(ipc_caller_bugs_abort)
{
	t_expect_abort(t_overfill);
	t_expect_abort(t_too_many_fds);
	t_expect_abort(t_send_hello);
}
