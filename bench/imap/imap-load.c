/*
 * imap-load: a load generator for IMAP and POP3 servers (bench/imap).
 *
 * N clients in one process, one epoll loop, non-blocking sockets. Each
 * client runs sessions one after another over new connections; the session
 * depends on the mode:
 *
 *   mix     LOGIN, SELECT INBOX, FETCH 1:* (UID FLAGS), FETCH a:b
 *           (BODY.PEEK[HEADER]) of ~10 messages, FETCH n (BODY.PEEK[]),
 *           STORE +FLAGS (\Seen), STORE -FLAGS (\Seen), STORE +FLAGS
 *           (\Deleted), APPEND of a 2-5 KB message, EXPUNGE, LOGOUT: the
 *           mailbox keeps its size (one message in, one out)
 *   idle    LOGIN, SELECT INBOX, IDLE; prints "READY n" once every client
 *           idles, and waits for end of input (or a signal, or -d) before
 *           DONE and LOGOUT
 *   select  LOGIN, SELECT INBOX, FETCH 1:* (UID FLAGS), LOGOUT, -r times
 *           per client; every SELECT and FETCH time is printed
 *   pop3    USER, PASS, STAT, RETR of every message, QUIT (no DELE)
 *
 * Responses are parsed as far as a client must: lines, literals ({n}
 * followed by n octets, RFC 9051 4.3), tagged completions, the untagged
 * EXISTS and EXPUNGE that keep the message count, FETCH responses counted
 * and checked against what was asked; POP3 status lines and dot-stuffed
 * multi-line replies (RFC 1939 3). A NO, BAD, -ERR, unexpected BYE,
 * closed connection or short answer is an error: the connection is dropped
 * and the client starts a new session after a pause. A run with errors is
 * not a valid measurement; the counts and the first error lines are in the
 * report, a JSON object on stdout (progress and errors go to stderr).
 *
 * Build: cc -O2 -o imap-load imap-load.c (bench/imap/Makefile).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESPONSE (64u * 1024 * 1024)	/* one response with its literals */
#define RETRY_DELAY_NS (200 * 1000000ULL)	/* pause after an error */
#define ERROR_SAMPLES 10
#define APPEND_POOL 32

enum mode { MODE_MIX, MODE_IDLE, MODE_SELECT, MODE_POP3 };

enum op {
	OP_CONNECT, OP_LOGIN, OP_SELECT, OP_FETCH_ALL, OP_FETCH_HDR, OP_FETCH_BODY,
	OP_STORE, OP_APPEND, OP_EXPUNGE, OP_LOGOUT, OP_IDLE, OP_DONE,
	OP_USER, OP_PASS, OP_STAT, OP_RETR, OP_QUIT, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"connect", "login", "select", "fetch_all", "fetch_headers", "fetch_body",
	"store", "append", "expunge", "logout", "idle", "done",
	"user", "pass", "stat", "retr", "quit",
};

/* The steps of a session, in order; each mode uses a subset. */
enum step {
	ST_GREETING, ST_LOGIN, ST_SELECT, ST_FETCH_ALL, ST_FETCH_HDR, ST_FETCH_BODY,
	ST_STORE_SEEN, ST_STORE_UNSEEN, ST_STORE_DEL, ST_APPEND, ST_EXPUNGE,
	ST_IDLE, ST_IDLING, ST_DONE, ST_LOGOUT,
	ST_P_USER, ST_P_PASS, ST_P_STAT, ST_P_RETR, ST_P_QUIT,
};

static const enum op step_op[] = {
	[ST_GREETING] = OP_CONNECT, [ST_LOGIN] = OP_LOGIN, [ST_SELECT] = OP_SELECT,
	[ST_FETCH_ALL] = OP_FETCH_ALL, [ST_FETCH_HDR] = OP_FETCH_HDR,
	[ST_FETCH_BODY] = OP_FETCH_BODY, [ST_STORE_SEEN] = OP_STORE,
	[ST_STORE_UNSEEN] = OP_STORE, [ST_STORE_DEL] = OP_STORE, [ST_APPEND] = OP_APPEND,
	[ST_EXPUNGE] = OP_EXPUNGE, [ST_IDLE] = OP_IDLE, [ST_IDLING] = OP_IDLE,
	[ST_DONE] = OP_DONE, [ST_LOGOUT] = OP_LOGOUT, [ST_P_USER] = OP_USER,
	[ST_P_PASS] = OP_PASS, [ST_P_STAT] = OP_STAT, [ST_P_RETR] = OP_RETR,
	[ST_P_QUIT] = OP_QUIT,
};

enum conn { C_WAIT, C_CONNECTING, C_OPEN, C_FINISHED };

struct buffer {
	char *data;
	size_t len, cap;
};

struct client {
	unsigned id;
	unsigned user;			/* 1-based user number */
	int fd;
	enum conn conn;
	enum step step;
	uint64_t wake_ns;		/* C_WAIT: when to connect */
	uint64_t sent_ns;		/* when the current step's command went out */
	uint64_t rng;
	unsigned tagno;
	char tag[16];
	unsigned rounds;		/* sessions completed (for -r) */

	struct buffer in;		/* parse state over in: */
	size_t resp_start;		/* first byte of the response being read */
	size_t cursor;			/* how far it has been scanned */
	size_t line_start;		/* start of the current line segment */
	uint64_t literal_left;		/* octets of a literal still to skip */
	uint64_t literal_bytes;		/* literal octets in this response */

	struct buffer out;
	size_t out_off;
	bool want_out;			/* EPOLLOUT registered */

	uint32_t exists;		/* messages in the selected mailbox */
	uint32_t fetch_seen;		/* untagged FETCH during this command */
	uint32_t fetch_want;
	uint64_t fetch_literals;	/* literal octets during this command */
	const char *append_msg;
	size_t append_len;
	bool logged_in;
	bool bye_seen;
	bool in_setup;			/* idle mode: counted in setup_active */
	bool check_fetch;		/* fetch_want must match */

	uint32_t pop_count, pop_next;	/* POP3: messages, next to RETR */
	bool pop_multiline;		/* inside a RETR reply */
	uint64_t pop_bytes;		/* octets of the message being read */
};

struct samples {
	uint32_t *v;			/* latencies in microseconds */
	size_t n, cap;
	uint64_t count;
};

static struct {
	enum mode mode;
	const char *host, *port;
	unsigned clients, users, rounds, max_setup;
	const char *user_fmt, *password;
	double duration, warmup;
	uint64_t seed;
	bool verbose;
} opt = {
	.mode = MODE_MIX, .clients = 10, .max_setup = 50,
	.user_fmt = "bench%u@bench.test", .password = "bench-pw",
	.duration = 30, .warmup = 2, .seed = 1,
};

static struct sockaddr_storage server_addr;
static socklen_t server_addrlen;
static int epfd;
static struct client *clients;
static struct samples samples[OP_COUNT];
static uint64_t errors_by_op[OP_COUNT];
static uint64_t errors, sessions, bytes_in, bytes_out, messages_in, message_bytes_in;
static char *error_lines[ERROR_SAMPLES];
static unsigned error_lines_n;
static uint64_t t_begin, t_measure, t_end;
static bool measuring, draining;
static volatile sig_atomic_t got_signal;
static unsigned setup_active, ready_count, ready_peak;
static struct { char *data; size_t len; } append_pool[APPEND_POOL];

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("imap-load: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		die("out of memory");
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(struct client *c)
{
	/* xorshift64* */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1DULL;
}

static uint32_t rnd_range(struct client *c, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rnd(c) % ((uint64_t)hi - lo + 1));
}

static void buf_reserve(struct buffer *b, size_t more)
{
	if (b->cap - b->len >= more)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2)
			die("buffer too large");
		cap *= 2;
	}
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

static void buf_add(struct buffer *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void __attribute__((format(printf, 2, 3))) buf_addf(struct buffer *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("vsnprintf");
	buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sample_add(enum op op, uint64_t ns)
{
	struct samples *s = &samples[op];
	uint64_t us = ns / 1000;

	s->count++;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* ---- connection handling ---- */

static void setup_done(struct client *c)
{
	if (c->in_setup) {
		c->in_setup = false;
		setup_active--;
	}
}

static void client_close(struct client *c)
{
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->in.len = c->resp_start = c->cursor = c->line_start = 0;
	c->literal_left = c->literal_bytes = 0;
	c->out.len = c->out_off = 0;
	c->want_out = false;
	c->logged_in = c->bye_seen = c->pop_multiline = false;
	c->exists = 0;
	setup_done(c);
	if (c->step == ST_IDLING)
		ready_count--;
}

static bool stopping(void)
{
	return draining || got_signal;
}

/* Schedules the next session (or none: C_FINISHED). */
static void client_next_session(struct client *c, uint64_t delay_ns)
{
	client_close(c);
	if (stopping() || (opt.rounds > 0 && c->rounds >= opt.rounds)) {
		c->conn = C_FINISHED;
		return;
	}
	c->conn = C_WAIT;
	c->wake_ns = now_ns() + delay_ns;
}

static void __attribute__((format(printf, 2, 3))) client_error(struct client *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	enum op op = step_op[c->step];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errors++;
	errors_by_op[op]++;
	if (error_lines_n < ERROR_SAMPLES) {
		char line[700];
		snprintf(line, sizeof(line), "client %u user %u %s: %s", c->id, c->user, op_names[op], msg);
		error_lines[error_lines_n++] = strdup(line);
		fprintf(stderr, "imap-load: %s\n", line);
	}
	client_next_session(c, RETRY_DELAY_NS);
}

static void set_events(struct client *c)
{
	struct epoll_event ev = { .events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* Writes what is pending; false when the connection failed (error given). */
static bool client_flush(struct client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			client_error(c, "send: %s", strerror(errno));
			return false;
		}
		c->out_off += (size_t)n;
		if (measuring)
			bytes_out += (uint64_t)n;
	}
	bool want = c->out_off < c->out.len;
	if (c->out_off == c->out.len)
		c->out.len = c->out_off = 0;
	if (want != c->want_out) {
		c->want_out = want;
		set_events(c);
	}
	return true;
}

static void client_connect(struct client *c)
{
	int fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		die("socket: %s (raise the open files limit?)", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->step = ST_GREETING;
	c->sent_ns = now_ns();
	c->conn = C_CONNECTING;
	c->want_out = true;
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	if (opt.mode == MODE_IDLE) {
		c->in_setup = true;
		setup_active++;
	}
	if (connect(fd, (struct sockaddr *)&server_addr, server_addrlen) < 0 && errno != EINPROGRESS)
		client_error(c, "connect: %s", strerror(errno));
}

/* ---- commands ---- */

static void next_tag(struct client *c)
{
	snprintf(c->tag, sizeof(c->tag), "a%u", ++c->tagno);
}

static void send_cmd(struct client *c, enum step step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void send_cmd(struct client *c, enum step step, const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->step = step;
	c->fetch_seen = 0;
	c->fetch_want = 0;
	c->fetch_literals = 0;
	c->check_fetch = false;
	if (opt.mode == MODE_POP3) {
		buf_addf(&c->out, "%s\r\n", line);
	} else {
		next_tag(c);
		buf_addf(&c->out, "%s %s\r\n", c->tag, line);
	}
	c->sent_ns = now_ns();
	client_flush(c);
}

static void send_logout(struct client *c)
{
	if (opt.mode == MODE_POP3)
		send_cmd(c, ST_P_QUIT, "QUIT");
	else
		send_cmd(c, ST_LOGOUT, "LOGOUT");
}

/* IMAP quoted string (RFC 9051 4.3): user names and passwords here are plain ASCII. */
static const char *quoted(char *dst, size_t size, const char *s)
{
	size_t o = 0;
	dst[o++] = '"';
	for (; *s && o + 3 < size; s++) {
		if (*s == '"' || *s == '\\')
			dst[o++] = '\\';
		dst[o++] = *s;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}

static void user_name(const struct client *c, char *dst, size_t size)
{
	const char *p = strstr(opt.user_fmt, "%u");
	if (p == NULL) {
		snprintf(dst, size, "%s", opt.user_fmt);
		return;
	}
	snprintf(dst, size, "%.*s%u%s", (int)(p - opt.user_fmt), opt.user_fmt, c->user, p + 2);
}

/* The step after `done` completed, and its command sent. */
static void advance(struct client *c, enum step done)
{
	char user[256], q1[300], q2[300];
	uint32_t a, b;

	if (stopping() && c->logged_in && done != ST_LOGOUT && done != ST_P_QUIT &&
	    done != ST_IDLING && done != ST_IDLE) {
		send_logout(c);
		return;
	}
	if (stopping() && !c->logged_in && done == ST_GREETING) {
		client_next_session(c, 0);
		return;
	}
	switch (done) {
	case ST_GREETING:
		user_name(c, user, sizeof(user));
		if (opt.mode == MODE_POP3)
			send_cmd(c, ST_P_USER, "USER %s", user);
		else
			send_cmd(c, ST_LOGIN, "LOGIN %s %s", quoted(q1, sizeof(q1), user),
				 quoted(q2, sizeof(q2), opt.password));
		return;
	case ST_LOGIN:
		c->logged_in = true;
		send_cmd(c, ST_SELECT, "SELECT INBOX");
		return;
	case ST_SELECT:
		if (opt.mode == MODE_IDLE) {
			send_cmd(c, ST_IDLE, "IDLE");
			return;
		}
		if (c->exists == 0) {
			client_error(c, "SELECT INBOX: the mailbox is empty");
			return;
		}
		send_cmd(c, ST_FETCH_ALL, "FETCH 1:* (UID FLAGS)");
		c->fetch_want = c->exists;
		c->check_fetch = true;
		return;
	case ST_FETCH_ALL:
		if (opt.mode == MODE_SELECT) {
			send_logout(c);
			return;
		}
		a = rnd_range(c, 1, c->exists > 9 ? c->exists - 9 : 1);
		b = a + 9 < c->exists ? a + 9 : c->exists;
		send_cmd(c, ST_FETCH_HDR, "FETCH %u:%u (BODY.PEEK[HEADER])", a, b);
		c->fetch_want = b - a + 1;
		c->check_fetch = true;
		return;
	case ST_FETCH_HDR:
		send_cmd(c, ST_FETCH_BODY, "FETCH %u (BODY.PEEK[])", rnd_range(c, 1, c->exists));
		c->fetch_want = 1;
		c->check_fetch = true;
		return;
	case ST_FETCH_BODY:
		send_cmd(c, ST_STORE_SEEN, "STORE %u +FLAGS (\\Seen)", rnd_range(c, 1, c->exists));
		return;
	case ST_STORE_SEEN:
		send_cmd(c, ST_STORE_UNSEEN, "STORE %u -FLAGS (\\Seen)", rnd_range(c, 1, c->exists));
		return;
	case ST_STORE_UNSEEN:
		send_cmd(c, ST_STORE_DEL, "STORE %u +FLAGS (\\Deleted)", rnd_range(c, 1, c->exists));
		return;
	case ST_STORE_DEL: {
		unsigned i = (unsigned)(rnd(c) % APPEND_POOL);
		c->append_msg = append_pool[i].data;
		c->append_len = append_pool[i].len;
		/* a synchronizing literal: the message goes after the "+" */
		send_cmd(c, ST_APPEND, "APPEND INBOX {%zu}", c->append_len);
		return;
	}
	case ST_APPEND:
		send_cmd(c, ST_EXPUNGE, "EXPUNGE");
		return;
	case ST_EXPUNGE:
		send_logout(c);
		return;
	case ST_DONE:
		send_logout(c);
		return;
	case ST_P_USER:
		send_cmd(c, ST_P_PASS, "PASS %s", opt.password);
		return;
	case ST_P_PASS:
		c->logged_in = true;
		send_cmd(c, ST_P_STAT, "STAT");
		return;
	case ST_P_STAT:
		c->pop_next = 1;
		/* fall through */
	case ST_P_RETR:
		if (c->pop_next <= c->pop_count && !stopping()) {
			c->pop_bytes = 0;
			send_cmd(c, ST_P_RETR, "RETR %u", c->pop_next++);
		} else {
			send_logout(c);
		}
		return;
	default:
		client_error(c, "internal: no step after %d", (int)done);
		return;
	}
}

/* A step finished successfully at time t: count it, go on. */
static void step_done(struct client *c, uint64_t t)
{
	enum step done = c->step;
	enum op op = step_op[done];

	if (measuring || opt.mode == MODE_SELECT)
		sample_add(op, t - c->sent_ns);
	if (done == ST_LOGOUT || done == ST_P_QUIT) {
		if (measuring)
			sessions++;
		c->rounds++;
		client_next_session(c, 0);
		return;
	}
	advance(c, done);
}

/* ---- IMAP responses ---- */

static bool starts_word(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(end - p) >= n && strncasecmp(p, word, n) == 0 &&
	       ((size_t)(end - p) == n || p[n] == ' ' || p[n] == '\r');
}

/* "* N WORD": N, with *word_r pointing at WORD; false otherwise. */
static bool untagged_number(const char *p, const char *end, uint32_t *n_r, const char **word_r)
{
	uint64_t n = 0;
	const char *q = p + 2;

	if (q >= end || *q < '0' || *q > '9')
		return false;
	while (q < end && *q >= '0' && *q <= '9') {
		n = n * 10 + (uint64_t)(*q++ - '0');
		if (n > UINT32_MAX)
			return false;
	}
	if (q >= end || *q != ' ')
		return false;
	*n_r = (uint32_t)n;
	*word_r = q + 1;
	return true;
}

static void error_text(struct client *c, const char *p, const char *end, const char *what)
{
	size_t n = (size_t)(end - p);
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	if (n > 300)
		n = 300;
	client_error(c, "%s: %.*s", what, (int)n, p);
}

/* One complete response [p, end) (end after its final CRLF). */
static void imap_response(struct client *c, const char *p, const char *end, uint64_t t)
{
	if (end - p >= 2 && p[0] == '*' && p[1] == ' ') {
		uint32_t n;
		const char *w;
		if (c->step == ST_GREETING) {
			if (!starts_word(p + 2, end, "OK")) {
				error_text(c, p, end, "greeting");
				return;
			}
			step_done(c, t);
			return;
		}
		if (starts_word(p + 2, end, "BYE")) {
			c->bye_seen = true;
			if (c->step != ST_LOGOUT)
				error_text(c, p, end, "unexpected BYE");
			return;
		}
		if (untagged_number(p, end, &n, &w)) {
			if (starts_word(w, end, "EXISTS")) {
				c->exists = n;
			} else if (starts_word(w, end, "EXPUNGE")) {
				if (n == 0 || n > c->exists) {
					error_text(c, p, end, "EXPUNGE of a message that does not exist");
					return;
				}
				c->exists--;
			} else if (starts_word(w, end, "FETCH")) {
				if (n == 0 || n > c->exists) {
					error_text(c, p, end, "FETCH of a message that does not exist");
					return;
				}
				c->fetch_seen++;
				c->fetch_literals += c->literal_bytes;
			}
		}
		if (c->step == ST_IDLING && opt.verbose)
			fprintf(stderr, "imap-load: client %u in IDLE: %.*s", c->id, (int)(end - p), p);
		return;
	}
	if (end - p >= 1 && p[0] == '+') {
		if (c->step == ST_APPEND && c->append_msg != NULL) {
			buf_add(&c->out, c->append_msg, c->append_len);
			buf_add(&c->out, "\r\n", 2);
			c->append_msg = NULL;
			client_flush(c);
		} else if (c->step == ST_IDLE) {
			/* RFC 2177: idling from here on; the time to "+" is the IDLE latency */
			if (measuring || opt.mode == MODE_IDLE)
				sample_add(OP_IDLE, t - c->sent_ns);
			c->step = ST_IDLING;
			if (++ready_count > ready_peak)
				ready_peak = ready_count;
			setup_done(c);
		} else {
			error_text(c, p, end, "unexpected continuation");
		}
		return;
	}
	/* tagged */
	size_t tl = strlen(c->tag);
	if ((size_t)(end - p) < tl + 1 || memcmp(p, c->tag, tl) != 0 || p[tl] != ' ') {
		error_text(c, p, end, "unexpected response");
		return;
	}
	const char *st = p + tl + 1;
	if (!starts_word(st, end, "OK")) {
		error_text(c, p, end, "failed");
		return;
	}
	switch (c->step) {
	case ST_FETCH_ALL:
	case ST_FETCH_HDR:
	case ST_FETCH_BODY:
		if (c->check_fetch && c->fetch_seen != c->fetch_want) {
			client_error(c, "%u FETCH responses for %u messages", c->fetch_seen, c->fetch_want);
			return;
		}
		if (c->step != ST_FETCH_ALL && c->fetch_literals == 0) {
			client_error(c, "FETCH without a literal");
			return;
		}
		if (measuring && c->step == ST_FETCH_BODY) {
			messages_in++;
			message_bytes_in += c->fetch_literals;
		}
		break;
	case ST_APPEND:
		if (c->append_msg != NULL) {
			client_error(c, "APPEND completed before the literal was sent");
			return;
		}
		break;
	case ST_IDLE:
		client_error(c, "IDLE ended before it started");
		return;
	default:
		break;
	}
	step_done(c, t);
}

/* Splits c->in into responses; a line ending in {n} continues after n octets. */
static void imap_input(struct client *c, uint64_t t)
{
	while (c->fd >= 0) {
		if (c->literal_left > 0) {
			size_t avail = c->in.len - c->cursor;
			size_t take = avail < c->literal_left ? avail : (size_t)c->literal_left;
			c->cursor += take;
			c->literal_left -= take;
			if (c->literal_left > 0)
				return;
			c->line_start = c->cursor;
		}
		char *nl = memchr(c->in.data + c->cursor, '\n', c->in.len - c->cursor);
		if (nl == NULL) {
			c->cursor = c->in.len;
			if (c->in.len - c->resp_start > MAX_RESPONSE)
				client_error(c, "response longer than %u octets", MAX_RESPONSE);
			return;
		}
		size_t eol = (size_t)(nl - c->in.data);
		c->cursor = eol + 1;
		/* "{123}" or "{123+}" just before CRLF opens a literal */
		size_t e = eol;
		if (e > c->line_start && c->in.data[e - 1] == '\r')
			e--;
		if (e > c->line_start && c->in.data[e - 1] == '}') {
			size_t q = e - 1;
			uint64_t n = 0, mul = 1;
			bool digits = false;
			if (q > c->line_start && c->in.data[q - 1] == '+')
				q--;
			while (q > c->line_start && c->in.data[q - 1] >= '0' && c->in.data[q - 1] <= '9') {
				n += (uint64_t)(c->in.data[q - 1] - '0') * mul;
				mul *= 10;
				digits = true;
				q--;
				if (mul > 1000000000000ULL)
					break;
			}
			if (digits && q > c->line_start && c->in.data[q - 1] == '{') {
				if (n > MAX_RESPONSE) {
					client_error(c, "literal of %llu octets", (unsigned long long)n);
					return;
				}
				c->literal_left = n;
				c->literal_bytes += n;
				continue;
			}
		}
		/* a complete response */
		size_t start = c->resp_start;
		c->resp_start = c->line_start = c->cursor;
		imap_response(c, c->in.data + start, c->in.data + c->cursor, t);
		c->literal_bytes = 0;
	}
}

/* ---- POP3 responses ---- */

static void pop3_input(struct client *c, uint64_t t)
{
	while (c->fd >= 0) {
		char *nl = memchr(c->in.data + c->cursor, '\n', c->in.len - c->cursor);
		if (nl == NULL) {
			if (c->in.len - c->cursor > 65536)
				client_error(c, "line longer than 64 KB");
			return;
		}
		const char *p = c->in.data + c->cursor;
		size_t len = (size_t)(nl - p) + 1;
		c->cursor += len;
		c->resp_start = c->cursor;
		if (c->pop_multiline) {
			if (len == 3 && p[0] == '.' && p[1] == '\r') {
				c->pop_multiline = false;
				if (measuring) {
					messages_in++;
					message_bytes_in += c->pop_bytes;
				}
				step_done(c, t);
				continue;
			}
			/* RFC 1939 3: a leading dot was doubled */
			c->pop_bytes += len - (p[0] == '.' ? 1 : 0);
			continue;
		}
		if (len >= 3 && memcmp(p, "+OK", 3) == 0) {
			if (c->step == ST_P_STAT) {
				unsigned long n = strtoul(p + 3, NULL, 10);
				c->pop_count = (uint32_t)n;
				if (n == 0) {
					client_error(c, "STAT: the mailbox is empty");
					return;
				}
			}
			if (c->step == ST_P_RETR) {
				c->pop_multiline = true;
				continue;
			}
			step_done(c, t);
			continue;
		}
		error_text(c, p, p + len, c->step == ST_GREETING ? "greeting" : "failed");
		return;
	}
}

static void client_read(struct client *c)
{
	for (;;) {
		buf_reserve(&c->in, 65536);
		ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			client_error(c, "recv: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			if (c->step == ST_LOGOUT && c->bye_seen)
				client_next_session(c, 0);
			else
				client_error(c, "connection closed by the server");
			return;
		}
		if (measuring)
			bytes_in += (uint64_t)n;
		c->in.len += (size_t)n;
		uint64_t t = now_ns();
		if (opt.mode == MODE_POP3)
			pop3_input(c, t);
		else
			imap_input(c, t);
		if (c->fd < 0)
			return;
		/* drop what has been handled */
		if (c->resp_start > 0 && c->resp_start == c->in.len) {
			c->in.len = c->cursor = c->line_start = c->resp_start = 0;
		} else if (c->resp_start > 65536) {
			size_t s = c->resp_start;
			memmove(c->in.data, c->in.data + s, c->in.len - s);
			c->in.len -= s;
			c->cursor -= s;
			c->line_start -= s;
			c->resp_start = 0;
		}
	}
}

static void client_event(struct client *c, uint32_t events)
{
	if (c->conn == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == 0 && !(events & (EPOLLOUT | EPOLLIN)))
			return;
		if (err != 0) {
			client_error(c, "connect: %s", strerror(err));
			return;
		}
		c->conn = C_OPEN;
		c->want_out = false;
		set_events(c);
	}
	if ((events & EPOLLOUT) && !client_flush(c))
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		client_read(c);
}

/* ---- set-up and report ---- */

static void make_append_pool(void)
{
	static const char *const words[] = {
		"lorem", "ipsum", "dolor", "sit", "amet", "mail", "server", "benchmark", "message",
		"append", "quota", "folder", "index", "literal", "octet", "response", "client",
	};
	uint64_t r = opt.seed * 0x9E3779B97F4A7C15ULL + 1;
	for (unsigned i = 0; i < APPEND_POOL; i++) {
		struct buffer b = { 0 };
		r = r * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t size = 2048 + (size_t)((r >> 33) % 3073);	/* 2-5 KB */
		buf_addf(&b, "From: Load Generator <load@client.test>\r\n"
			 "To: <user@bench.test>\r\n"
			 "Subject: imap-load append %u\r\n"
			 "Date: Sat, 21 Nov 2026 08:00:%02u +0000\r\n"
			 "Message-ID: <append.%u@client.test>\r\n"
			 "MIME-Version: 1.0\r\n"
			 "Content-Type: text/plain; charset=us-ascii\r\n\r\n", i, i % 60, i);
		size_t col = 0;
		while (b.len < size) {
			r = r * 6364136223846793005ULL + 1442695040888963407ULL;
			const char *w = words[(r >> 33) % (sizeof(words) / sizeof(words[0]))];
			if (col + strlen(w) + 1 > 72) {
				buf_add(&b, "\r\n", 2);
				col = 0;
			} else if (col > 0) {
				buf_add(&b, " ", 1);
				col++;
			}
			buf_add(&b, w, strlen(w));
			col += strlen(w);
		}
		buf_add(&b, "\r\n", 2);
		append_pool[i].data = b.data;
		append_pool[i].len = b.len;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t percentile(const struct samples *s, double p)
{
	if (s->n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
	return s->v[i];
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void report(double measured_s)
{
	static const char *const mode_names[] = { "mix", "idle", "select", "pop3" };
	struct rusage ru;
	uint64_t total = 0;
	bool first = true;

	getrusage(RUSAGE_SELF, &ru);
	printf("{\"mode\": \"%s\", \"clients\": %u, \"users\": %u, \"seconds\": %.3f,\n",
	       mode_names[opt.mode], opt.clients, opt.users, measured_s);
	if (opt.mode == MODE_SELECT) {
		/* few: every time, in completion order (the first SELECT of a
		 * mailbox is the one that builds the index) */
		printf(" \"times_us\": {");
		for (int op = 0; op < OP_COUNT; op++) {
			if (samples[op].n == 0)
				continue;
			printf("%s\"%s\": [", first ? "" : ", ", op_names[op]);
			for (size_t i = 0; i < samples[op].n; i++)
				printf("%s%u", i ? ", " : "", samples[op].v[i]);
			printf("]");
			first = false;
		}
		printf("},\n");
		first = true;
	}
	printf(" \"ops\": {");
	for (int op = 0; op < OP_COUNT; op++) {
		struct samples *s = &samples[op];
		if (s->count == 0 && errors_by_op[op] == 0)
			continue;
		qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
		double sum = 0;
		for (size_t i = 0; i < s->n; i++)
			sum += s->v[i];
		if (op != OP_CONNECT && op != OP_IDLE && op != OP_DONE)
			total += s->count;
		printf("%s\n  \"%s\": {\"count\": %llu, \"rate\": %.2f, \"errors\": %llu, "
		       "\"mean_us\": %.0f, \"p50_us\": %u, \"p90_us\": %u, \"p99_us\": %u, \"max_us\": %u",
		       first ? "" : ",", op_names[op], (unsigned long long)s->count,
		       measured_s > 0 ? (double)s->count / measured_s : 0.0,
		       (unsigned long long)errors_by_op[op], s->n ? sum / (double)s->n : 0.0,
		       percentile(s, 0.5), percentile(s, 0.9), percentile(s, 0.99),
		       s->n ? s->v[s->n - 1] : 0);
		printf("}");
		first = false;
	}
	printf("},\n \"commands\": %llu, \"commands_per_s\": %.2f, \"sessions\": %llu, "
	       "\"sessions_per_s\": %.2f,\n",
	       (unsigned long long)total, measured_s > 0 ? (double)total / measured_s : 0.0,
	       (unsigned long long)sessions, measured_s > 0 ? (double)sessions / measured_s : 0.0);
	printf(" \"messages\": %llu, \"message_bytes\": %llu, \"bytes_in\": %llu, \"bytes_out\": %llu,\n",
	       (unsigned long long)messages_in, (unsigned long long)message_bytes_in,
	       (unsigned long long)bytes_in, (unsigned long long)bytes_out);
	printf(" \"ready\": %u, \"cpu_user_s\": %.3f, \"cpu_sys_s\": %.3f, \"max_rss_kb\": %ld,\n",
	       ready_peak, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
	printf(" \"errors\": %llu, \"error_lines\": [", (unsigned long long)errors);
	for (unsigned i = 0; i < error_lines_n; i++) {
		if (i)
			printf(", ");
		json_string(error_lines[i]);
	}
	printf("]}\n");
	fflush(stdout);
}

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: imap-load [options] HOST PORT\n"
		"  -m MODE   mix (default), idle, select or pop3\n"
		"  -c N      concurrent clients (10)\n"
		"  -n N      users; client i logs in as user (i %% N) + 1 (default: one per client)\n"
		"  -u NAME   user name; %%u in it is the user number (bench%%u@bench.test)\n"
		"  -w PASS   password (bench-pw)\n"
		"  -d SECS   measured time (mix, pop3: 30; idle: longest wait for end of input)\n"
		"  -W SECS   warm-up before measuring (2)\n"
		"  -r N      sessions per client, then stop (select mode: 3; others: no limit)\n"
		"  -L N      idle mode: connections being set up at once (50)\n"
		"  -s SEED   random seed (1)\n"
		"  -v        verbose\n");
	exit(2);
}

static unsigned parse_uint(const char *s, unsigned min)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > 10000000)
		usage();
	return (unsigned)v;
}

static double parse_secs(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (*end || v < 0 || v > 86400)
		usage();
	return v;
}

static void resolve(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(opt.host, opt.port, &hints, &res);
	if (rc != 0)
		die("%s:%s: %s", opt.host, opt.port, gai_strerror(rc));
	memcpy(&server_addr, res->ai_addr, res->ai_addrlen);
	server_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < opt.clients + 16)
		die("%u clients need more open files than RLIMIT_NOFILE %llu", opt.clients,
		    (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
	int ch;
	bool stdin_open = false;

	while ((ch = getopt(argc, argv, "m:c:n:u:w:d:W:r:L:s:v")) != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "mix") == 0)
				opt.mode = MODE_MIX;
			else if (strcmp(optarg, "idle") == 0)
				opt.mode = MODE_IDLE;
			else if (strcmp(optarg, "select") == 0)
				opt.mode = MODE_SELECT;
			else if (strcmp(optarg, "pop3") == 0)
				opt.mode = MODE_POP3;
			else
				usage();
			break;
		case 'c': opt.clients = parse_uint(optarg, 1); break;
		case 'n': opt.users = parse_uint(optarg, 1); break;
		case 'u': opt.user_fmt = optarg; break;
		case 'w': opt.password = optarg; break;
		case 'd': opt.duration = parse_secs(optarg); break;
		case 'W': opt.warmup = parse_secs(optarg); break;
		case 'r': opt.rounds = parse_uint(optarg, 1); break;
		case 'L': opt.max_setup = parse_uint(optarg, 1); break;
		case 's': opt.seed = parse_uint(optarg, 0); break;
		case 'v': opt.verbose = true; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	opt.host = argv[optind];
	opt.port = argv[optind + 1];
	if (opt.users == 0)
		opt.users = opt.clients;
	if (opt.mode == MODE_SELECT && opt.rounds == 0)
		opt.rounds = 3;
	{
		/* at most one %u, no other conversion */
		const char *p = strchr(opt.user_fmt, '%');
		if (p != NULL && (p[1] != 'u' || strchr(p + 2, '%') != NULL))
			die("-u takes one %%u at most");
	}
	if (opt.mode == MODE_MIX && opt.users < opt.clients)
		fprintf(stderr, "imap-load: warning: %u clients share %u mailboxes; "
			"expunges of one can make another's commands fail\n", opt.clients, opt.users);
	resolve();
	raise_nofile();
	make_append_pool();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	clients = calloc(opt.clients, sizeof(*clients));
	if (clients == NULL)
		die("out of memory");
	t_begin = now_ns();
	for (unsigned i = 0; i < opt.clients; i++) {
		struct client *c = &clients[i];
		c->id = i;
		c->user = i % opt.users + 1;
		c->fd = -1;
		c->rng = (opt.seed + 1) * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)i * 0xBF58476D1CE4E5B9ULL);
		if (c->rng == 0)
			c->rng = 1;
		c->conn = C_WAIT;
		/* spread the first connections over 100 ms */
		c->wake_ns = t_begin + (uint64_t)i * 100000000ULL / opt.clients;
	}
	if (opt.mode == MODE_IDLE) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == 0)
			stdin_open = true;
		t_measure = t_begin;
		t_end = t_begin + (uint64_t)(opt.duration * 1e9);
		measuring = true;
	} else if (opt.mode == MODE_SELECT) {
		t_measure = t_begin;
		measuring = true;
		t_end = UINT64_MAX;
	} else {
		t_measure = t_begin + (uint64_t)(opt.warmup * 1e9);
		t_end = t_measure + (uint64_t)(opt.duration * 1e9);
	}

	bool announced = false;
	uint64_t drain_deadline = 0, measured_ns = 0;
	struct epoll_event evs[256];
	for (;;) {
		uint64_t t = now_ns();
		if (!measuring && !draining && t >= t_measure && opt.mode != MODE_IDLE) {
			measuring = true;
			fprintf(stderr, "imap-load: measuring\n");
		}
		if ((t >= t_end || got_signal) && !draining) {
			draining = true;
			if (opt.mode == MODE_IDLE) {
				measured_ns = t - t_begin;
			} else if (measuring) {
				measured_ns = (t < t_end ? t : t_end) - t_measure;
				if (opt.mode == MODE_SELECT)
					measured_ns = t - t_begin;
			}
			if (opt.mode != MODE_IDLE)
				measuring = false;
			drain_deadline = t + 30000000000ULL;
			/* idle: leave IDLE */
			for (unsigned i = 0; i < opt.clients; i++) {
				struct client *c = &clients[i];
				if (c->conn == C_WAIT) {
					c->conn = C_FINISHED;
				} else if (c->conn == C_OPEN && c->step == ST_IDLING) {
					c->step = ST_DONE;
					c->sent_ns = t;
					buf_add(&c->out, "DONE\r\n", 6);
					client_flush(c);
				}
			}
		}
		if (opt.mode == MODE_IDLE && !announced && ready_count == opt.clients) {
			announced = true;
			printf("READY %u %.3f\n", ready_count, (double)(t - t_begin) / 1e9);
			fflush(stdout);
			fprintf(stderr, "imap-load: %u connections idle after %.1f s\n", ready_count,
				(double)(t - t_begin) / 1e9);
		}
		/* start what is due */
		unsigned active = 0;
		for (unsigned i = 0; i < opt.clients; i++) {
			struct client *c = &clients[i];
			if (c->conn == C_WAIT && t >= c->wake_ns && !draining &&
			    (opt.mode != MODE_IDLE || setup_active < opt.max_setup))
				client_connect(c);
			if (c->conn != C_FINISHED)
				active++;
		}
		if (active == 0)
			break;
		if (draining && t > drain_deadline) {
			fprintf(stderr, "imap-load: %u clients did not finish in 30 s\n", active);
			for (unsigned i = 0; i < opt.clients; i++)
				if (clients[i].conn != C_FINISHED) {
					client_error(&clients[i], "did not finish after the run");
					client_close(&clients[i]);
					clients[i].conn = C_FINISHED;
				}
			break;
		}
		int n = epoll_wait(epfd, evs, 256, 10);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;
			if (c == NULL) {
				char tmp[256];
				ssize_t r = read(STDIN_FILENO, tmp, sizeof(tmp));
				if (r <= 0 || memchr(tmp, '\n', (size_t)r) != NULL) {
					epoll_ctl(epfd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
					stdin_open = false;
					t_end = now_ns();	/* end of input: finish */
				}
				continue;
			}
			if (c->fd >= 0)
				client_event(c, evs[i].events);
		}
	}
	(void)stdin_open;
	if (measured_ns == 0)
		measured_ns = now_ns() - t_measure;
	report((double)measured_ns / 1e9);
	return errors ? 1 : 0;
}
