/* Typed IPC between roles: message fields, framing, the libevent channel and
 * the blocking helpers. Wire format and contracts are in ipc.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/event.h>

#include "fdpass.h"
#include "ipc.h"
#include "log.h"
#include "xalloc.h"

/* Bytes asked of each recvmsg. The input buffer then never holds more than
 * one unfinished frame plus one chunk. */
#define IPC_READ_CHUNK (64 * 1024)
/* recvmsg calls per EV_READ wake-up, so one busy peer cannot starve others */
#define IPC_READS_PER_EVENT 4
/* iovecs per sendmsg when small queued frames are written together */
#define IPC_IOV_MAX 32
/* Received fds not yet claimed by a complete frame. A correct peer needs
 * at most two frames' worth (the unfinished frame and the one read past it). */
#define IPC_MAX_PENDING_FDS FDPASS_MAX_FDS

/* Input buffer memory kept while idle; more is released once drained. */
#define IPC_INBUF_KEEP (2 * IPC_READ_CHUNK)

_Static_assert(IPC_MAX_FDS <= FDPASS_MAX_FDS, "fdpass must carry a frame's fds");
_Static_assert(IPC_MAX_FRAME <= UINT32_MAX, "frame length is a u32");

/* Caller bugs (oversized body, bad fd): crash loudly, the master restarts us. */
static void __attribute__((noreturn, format(printf, 1, 2)))
ipc_bug(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("ipc: BUG: %s", msg);
	abort();
}

/* ---- little-endian integers -------------------------------------------- */

static void ipc_put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t ipc_get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- message fields ---------------------------------------------------- */

void ipc_msg_init(struct ipc_msg *m, uint16_t type, uint64_t reqid)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->reqid = reqid;
	buf_init(&m->body, IPC_MAX_BODY);
	for (unsigned i = 0; i < IPC_MAX_FDS; i++)
		m->fds[i] = -1;
}

void ipc_msg_free(struct ipc_msg *m)
{
	/* an unsent MSG_AUTH_PASSWORD carries a password */
	buf_free_secret(&m->body);
	for (unsigned i = 0; i < m->nfds; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
	m->fd_rpos = 0;
	m->rpos = 0;
}

void ipc_msg_move(struct ipc_msg *dst, struct ipc_msg *src)
{
	*dst = *src;
	ipc_msg_init(src, src->type, src->reqid);
}

/* Room for a whole field at once, so a body is never left half-written. */
static void ipc_reserve(struct ipc_msg *m, size_t n)
{
	if (n > IPC_MAX_BODY || buf_reserve(&m->body, n) < 0)
		ipc_bug("message type %u: body over %u bytes", m->type, IPC_MAX_BODY);
}

static void ipc_add_int(struct ipc_msg *m, enum ipc_tag tag, uint64_t v, unsigned size)
{
	uint8_t f[1 + 8];

	f[0] = (uint8_t)tag;
	ipc_put_le(f + 1, v, size);
	ipc_reserve(m, 1 + size);
	buf_append(&m->body, f, 1 + size);
}

void ipc_add_u32(struct ipc_msg *m, uint32_t v)
{
	ipc_add_int(m, IPC_TAG_U32, v, 4);
}

void ipc_add_u64(struct ipc_msg *m, uint64_t v)
{
	ipc_add_int(m, IPC_TAG_U64, v, 8);
}

void ipc_add_i64(struct ipc_msg *m, int64_t v)
{
	ipc_add_int(m, IPC_TAG_I64, (uint64_t)v, 8);
}

/* Tag, u32 length, bytes, and for STR the terminating NUL. */
static void ipc_add_bytes(struct ipc_msg *m, enum ipc_tag tag, const void *p,
			  size_t len, bool nul)
{
	uint8_t h[1 + 4];

	if (len > IPC_MAX_BODY)
		ipc_bug("message type %u: field of %zu bytes", m->type, len);
	h[0] = (uint8_t)tag;
	ipc_put_le(h + 1, len, 4);
	ipc_reserve(m, sizeof(h) + len + (nul ? 1 : 0));
	buf_append(&m->body, h, sizeof(h));
	buf_append(&m->body, p, len);
	if (nul)
		buf_append_byte(&m->body, '\0');
}

void ipc_add_str(struct ipc_msg *m, const char *s)
{
	if (s == NULL)
		s = "";
	ipc_add_bytes(m, IPC_TAG_STR, s, strlen(s), true);
}

void ipc_add_data(struct ipc_msg *m, const void *p, size_t len)
{
	ipc_add_bytes(m, IPC_TAG_DATA, len > 0 ? p : "", len, false);
}

void ipc_add_fd(struct ipc_msg *m, int fd)
{
	if (fd < 0)
		ipc_bug("message type %u: invalid fd %d", m->type, fd);
	if (m->nfds >= IPC_MAX_FDS)
		ipc_bug("message type %u: more than %d fds", m->type, IPC_MAX_FDS);
	uint8_t tag = IPC_TAG_FD;
	ipc_reserve(m, 1);
	buf_append(&m->body, &tag, 1);
	m->fds[m->nfds++] = fd;
}

/* One decoded field: val points at the payload (for STR/DATA the bytes after
 * the length; len excludes STR's NUL). */
struct ipc_field {
	uint8_t tag;
	const uint8_t *val;
	size_t len;
};

/* Decode the field at *pos of p[0..size) and move *pos past it. Every length
 * is checked against what is left before it is used. */
static int ipc_field_next(const uint8_t *p, size_t size, size_t *pos,
			  struct ipc_field *f, const char **error_r)
{
	size_t left = size - *pos, head = 1, need, tail = 0;

	if (left == 0) {
		*error_r = "missing field";
		return -1;
	}
	const uint8_t *q = p + *pos;
	f->tag = q[0];
	switch (f->tag) {
	case IPC_TAG_U32:
		need = 4;
		break;
	case IPC_TAG_U64:
	case IPC_TAG_I64:
		need = 8;
		break;
	case IPC_TAG_FD:
		need = 0;
		break;
	case IPC_TAG_STR:
	case IPC_TAG_DATA:
		if (left < 1 + 4) {
			*error_r = "truncated field";
			return -1;
		}
		head = 1 + 4;
		need = (size_t)ipc_get_le(q + 1, 4);
		tail = f->tag == IPC_TAG_STR ? 1 : 0;
		break;
	default:
		*error_r = "unknown field tag";
		return -1;
	}
	if (need > left - head || tail > left - head - need) {
		*error_r = "truncated field";
		return -1;
	}
	f->val = q + head;
	f->len = need;
	if (f->tag == IPC_TAG_STR &&
	    (memchr(f->val, '\0', need) != NULL || f->val[need] != '\0')) {
		*error_r = "string with NUL or unterminated";
		return -1;
	}
	*pos += head + need + tail;
	return 0;
}

/* Whole-body structure check on receipt, so a broken frame kills the
 * channel instead of reaching a role half-parsed. */
static int ipc_body_check(const uint8_t *p, size_t size, unsigned nfds,
			  const char **error_r)
{
	struct ipc_field f;
	size_t pos = 0;
	unsigned fd_tags = 0;

	while (pos < size) {
		if (ipc_field_next(p, size, &pos, &f, error_r) < 0)
			return -1;
		if (f.tag == IPC_TAG_FD)
			fd_tags++;
	}
	if (fd_tags != nfds) {
		*error_r = "fd fields do not match the frame's fds";
		return -1;
	}
	return 0;
}

static int ipc_get_field(struct ipc_msg *m, enum ipc_tag tag, struct ipc_field *f)
{
	const char *error;
	size_t pos = m->rpos;

	if (m->bad ||
	    ipc_field_next((const uint8_t *)m->body.data, m->body.used, &pos, f, &error) < 0 ||
	    f->tag != tag) {
		m->bad = true;
		return -1;
	}
	m->rpos = pos;
	return 0;
}

int ipc_get_u32(struct ipc_msg *m, uint32_t *v_r)
{
	struct ipc_field f;

	if (ipc_get_field(m, IPC_TAG_U32, &f) < 0)
		return -1;
	*v_r = (uint32_t)ipc_get_le(f.val, 4);
	return 0;
}

int ipc_get_u64(struct ipc_msg *m, uint64_t *v_r)
{
	struct ipc_field f;

	if (ipc_get_field(m, IPC_TAG_U64, &f) < 0)
		return -1;
	*v_r = ipc_get_le(f.val, 8);
	return 0;
}

int ipc_get_i64(struct ipc_msg *m, int64_t *v_r)
{
	struct ipc_field f;

	if (ipc_get_field(m, IPC_TAG_I64, &f) < 0)
		return -1;
	*v_r = (int64_t)ipc_get_le(f.val, 8);
	return 0;
}

int ipc_get_str(struct ipc_msg *m, const char **s_r)
{
	struct ipc_field f;

	if (ipc_get_field(m, IPC_TAG_STR, &f) < 0)
		return -1;
	*s_r = (const char *)f.val;
	return 0;
}

int ipc_get_data(struct ipc_msg *m, slice_t *d_r)
{
	struct ipc_field f;

	if (ipc_get_field(m, IPC_TAG_DATA, &f) < 0)
		return -1;
	*d_r = slice_make(f.val, f.len);
	return 0;
}

int ipc_get_fd(struct ipc_msg *m, int *fd_r)
{
	struct ipc_field f;

	if (ipc_get_field(m, IPC_TAG_FD, &f) < 0)
		return -1;
	if (m->fd_rpos >= m->nfds || m->fds[m->fd_rpos] < 0) {
		m->bad = true;
		return -1;
	}
	*fd_r = m->fds[m->fd_rpos];
	m->fds[m->fd_rpos++] = -1;
	return 0;
}

int ipc_get_end(struct ipc_msg *m)
{
	return !m->bad && m->rpos == m->body.used ? 0 : -1;
}

/* ---- frames ------------------------------------------------------------ */

struct ipc_hdr {
	uint32_t len;
	uint16_t type;
	uint16_t nfds;
	uint64_t reqid;
};

static void ipc_hdr_encode(uint8_t *p, const struct ipc_hdr *h)
{
	ipc_put_le(p, h->len, 4);
	ipc_put_le(p + 4, h->type, 2);
	ipc_put_le(p + 6, h->nfds, 2);
	ipc_put_le(p + 8, h->reqid, 8);
}

/* Validates the header alone, before anything is allocated for the body. */
static int ipc_hdr_decode(const uint8_t *p, struct ipc_hdr *h, const char **error_r)
{
	h->len = (uint32_t)ipc_get_le(p, 4);
	h->type = (uint16_t)ipc_get_le(p + 4, 2);
	h->nfds = (uint16_t)ipc_get_le(p + 6, 2);
	h->reqid = ipc_get_le(p + 8, 8);
	if (h->len < IPC_HEADER_SIZE) {
		*error_r = "frame length shorter than its header";
		return -1;
	}
	if (h->len > IPC_MAX_FRAME) {
		*error_r = "frame too long";
		return -1;
	}
	if (h->nfds > IPC_MAX_FDS) {
		*error_r = "too many fds in frame";
		return -1;
	}
	return 0;
}

static void ipc_hello_build(struct ipc_msg *m)
{
	ipc_msg_init(m, IPC_TYPE_HELLO, 0);
	ipc_add_u32(m, IPC_HELLO_MAGIC);
	ipc_add_u32(m, IPC_VERSION);
}

/* Magic and version are checked before strictness, so a newer peer that
 * adds HELLO fields is still told "version mismatch". */
static int ipc_hello_check(struct ipc_msg *m, char *errbuf, size_t errsize,
			   const char **error_r)
{
	uint32_t magic, version;

	if (m->type != IPC_TYPE_HELLO) {
		*error_r = "expected hello";
		return -1;
	}
	if (ipc_get_u32(m, &magic) < 0 || magic != IPC_HELLO_MAGIC) {
		*error_r = "expected hello: bad magic";
		return -1;
	}
	if (ipc_get_u32(m, &version) < 0) {
		*error_r = "expected hello: no version";
		return -1;
	}
	if (version != IPC_VERSION) {
		snprintf(errbuf, errsize, "version mismatch: peer %u, ours %u",
			 version, IPC_VERSION);
		*error_r = errbuf;
		return -1;
	}
	if (ipc_get_end(m) < 0) {
		*error_r = "expected hello: trailing fields";
		return -1;
	}
	return 0;
}

/* An encoded frame waiting for output. The header is kept apart from the
 * body so queueing a message moves its buffer instead of copying it. */
struct ipc_out {
	struct ipc_out *next;
	uint8_t hdr[IPC_HEADER_SIZE];
	buf_t body;
	int fds[IPC_MAX_FDS];
	unsigned nfds;		/* 0 once the fds went out */
	size_t off;		/* bytes of hdr + body already written */
};

static struct ipc_out *ipc_out_new(struct ipc_msg *msg)
{
	struct ipc_out *o = xcalloc(1, sizeof(*o));
	struct ipc_msg m;

	ipc_msg_move(&m, msg);
	for (unsigned i = 0; i < m.nfds; i++) {
		if (m.fds[i] < 0)
			ipc_bug("message type %u: fd %u already taken", m.type, i);
	}
	struct ipc_hdr h = {
		.len = (uint32_t)(IPC_HEADER_SIZE + m.body.used),
		.type = m.type,
		.nfds = (uint16_t)m.nfds,
		.reqid = m.reqid,
	};
	ipc_hdr_encode(o->hdr, &h);
	o->body = m.body;
	memcpy(o->fds, m.fds, sizeof(o->fds));
	o->nfds = m.nfds;
	return o;
}

static size_t ipc_out_len(const struct ipc_out *o)
{
	return IPC_HEADER_SIZE + o->body.used;
}

/* The unwritten rest of o as at most two iovecs; returns how many. */
static int ipc_out_iov(const struct ipc_out *o, struct iovec *iov)
{
	int n = 0;
	size_t boff = 0;

	if (o->off < IPC_HEADER_SIZE)
		iov[n++] = (struct iovec){ (void *)(o->hdr + o->off), IPC_HEADER_SIZE - o->off };
	else
		boff = o->off - IPC_HEADER_SIZE;
	if (boff < o->body.used)
		iov[n++] = (struct iovec){ o->body.data + boff, o->body.used - boff };
	return n;
}

/* After the frame's first successful sendmsg the kernel holds the fds. */
static void ipc_out_fds_sent(struct ipc_out *o)
{
	for (unsigned i = 0; i < o->nfds; i++)
		close(o->fds[i]);
	o->nfds = 0;
}

static void ipc_out_free(struct ipc_out *o)
{
	ipc_out_fds_sent(o);	/* unsent: nobody else will close them */
	buf_free_secret(&o->body);	/* may hold a password */
	free(o);
}

/* ---- asynchronous channel ---------------------------------------------- */

struct ipc_channel {
	int fd;
	char *peer;
	ipc_msg_cb *on_msg;
	ipc_error_cb *on_error;
	void *ctx;
	struct event *ev_read, *ev_write;

	buf_t inbuf;
	/* fds arrive with a frame's first byte, before the frame is whole */
	int pending_fds[IPC_MAX_PENDING_FDS];
	unsigned npending;

	struct ipc_out *out_head, **out_tail;
	size_t out_bytes;
	uint64_t last_reqid;

	unsigned callback_depth; /* owner callbacks running right now */
	bool got_hello;
	bool dead;		/* on_error happened: no more I/O */
	bool destroyed;		/* destroyed inside a callback: free on return */
	char errbuf[128];
};

static void ipc_on_read(evutil_socket_t fd, short what, void *arg);
static void ipc_on_write(evutil_socket_t fd, short what, void *arg);

int ipc_socketpair(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

/* Append msg's frame to the output queue and make sure EV_WRITE is armed. */
static void ipc_queue(struct ipc_channel *ch, struct ipc_msg *msg)
{
	if (ch->dead) {
		ipc_msg_free(msg);
		return;
	}
	struct ipc_out *o = ipc_out_new(msg);
	*ch->out_tail = o;
	ch->out_tail = &o->next;
	ch->out_bytes += ipc_out_len(o);
	if (event_add(ch->ev_write, NULL) < 0)
		ipc_bug("event_add(write) failed for %s", ch->peer);
}

struct ipc_channel *ipc_channel_create(struct event_base *base, int fd,
				       const char *peer_name, ipc_msg_cb *on_msg,
				       ipc_error_cb *on_error, void *ctx)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		ipc_bug("fcntl(O_NONBLOCK) on fd %d: %s", fd, strerror(errno));
	struct ipc_channel *ch = xcalloc(1, sizeof(*ch));
	ch->fd = fd;
	ch->peer = xstrdup(peer_name != NULL ? peer_name : "?");
	ch->on_msg = on_msg;
	ch->on_error = on_error;
	ch->ctx = ctx;
	buf_init(&ch->inbuf, IPC_MAX_FRAME + IPC_READ_CHUNK);
	ch->out_tail = &ch->out_head;
	ch->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, ipc_on_read, ch);
	ch->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, ipc_on_write, ch);
	if (ch->ev_read == NULL || ch->ev_write == NULL || event_add(ch->ev_read, NULL) < 0)
		ipc_bug("cannot watch fd %d for %s", fd, ch->peer);

	struct ipc_msg hello;
	ipc_hello_build(&hello);
	ipc_queue(ch, &hello);
	return ch;
}

void ipc_send(struct ipc_channel *ch, struct ipc_msg *msg)
{
	if (msg->type == IPC_TYPE_HELLO)
		ipc_bug("ipc_send of type 0 to %s", ch->peer);
	ipc_queue(ch, msg);
}

uint64_t ipc_next_reqid(struct ipc_channel *ch)
{
	return ++ch->last_reqid;
}

size_t ipc_channel_pending(const struct ipc_channel *ch)
{
	return ch->out_bytes;
}

const char *ipc_channel_peer(const struct ipc_channel *ch)
{
	return ch->peer;
}

int ipc_channel_fd(const struct ipc_channel *ch)
{
	return ch->fd;
}

/* Everything but the struct itself and its name, which a running callback's
 * caller may still look at. */
static void ipc_channel_release(struct ipc_channel *ch)
{
	event_free(ch->ev_read);
	event_free(ch->ev_write);
	ch->ev_read = ch->ev_write = NULL;
	close(ch->fd);
	ch->fd = -1;
	while (ch->out_head != NULL) {
		struct ipc_out *o = ch->out_head;
		ch->out_head = o->next;
		ipc_out_free(o);
	}
	ch->out_tail = &ch->out_head;
	ch->out_bytes = 0;
	for (unsigned i = 0; i < ch->npending; i++)
		close(ch->pending_fds[i]);
	ch->npending = 0;
	buf_free(&ch->inbuf);
}

static void ipc_channel_free(struct ipc_channel *ch)
{
	free(ch->peer);
	free(ch);
}

void ipc_channel_destroy(struct ipc_channel **chp)
{
	struct ipc_channel *ch = *chp;

	if (ch == NULL)
		return;
	*chp = NULL;
	ipc_channel_release(ch);
	ch->dead = true;
	if (ch->callback_depth > 0) {
		/* the read/write handler up the stack frees it on return */
		ch->destroyed = true;
		return;
	}
	ipc_channel_free(ch);
}

/* Bookkeeping after an owner callback. Returns false if the channel must
 * not be touched any more (dead, or destroyed and now freed). */
static bool ipc_callback_return(struct ipc_channel *ch)
{
	ch->callback_depth--;
	if (!ch->destroyed)
		return !ch->dead;
	if (ch->callback_depth == 0)
		ipc_channel_free(ch);
	return false;
}

/* Kill the channel and tell the owner, once. Always returns false, so
 * callers can "return ipc_fail(...)": ch may be gone afterwards. */
static bool ipc_fail(struct ipc_channel *ch, const char *reason)
{
	if (ch->dead)
		return false;
	ch->dead = true;
	event_del(ch->ev_read);
	event_del(ch->ev_write);
	ch->callback_depth++;
	ch->on_error(ch, reason, ch->ctx);
	return ipc_callback_return(ch);
}

static bool ipc_fail_errno(struct ipc_channel *ch, const char *what)
{
	if (errno == EPIPE || errno == ECONNRESET)
		return ipc_fail(ch, "closed");
	if (errno == EPROTO)
		return ipc_fail(ch, "received fds lost: too many or truncated");
	snprintf(ch->errbuf, sizeof(ch->errbuf), "%s: %s", what, strerror(errno));
	return ipc_fail(ch, ch->errbuf);
}

/* One sendmsg of the queue's head, plus following frames without fds:
 * fds must ride on the first sendmsg of their own frame. */
static ssize_t ipc_channel_sendmsg(struct ipc_channel *ch)
{
	struct ipc_out *first = ch->out_head;
	struct iovec iov[IPC_IOV_MAX];
	int n = 0;

	for (struct ipc_out *o = first; o != NULL && n + 2 <= IPC_IOV_MAX; o = o->next) {
		if (o != first && o->nfds > 0)
			break;
		n += ipc_out_iov(o, iov + n);
	}
	ssize_t ret = fdpass_send(ch->fd, iov, n, first->fds,
				  first->off == 0 ? first->nfds : 0);
	if (ret > 0)
		ipc_out_fds_sent(first);
	return ret;
}

/* Drop n written bytes from the front of the queue. */
static void ipc_channel_sent(struct ipc_channel *ch, size_t n)
{
	ch->out_bytes -= n;
	while (n > 0) {
		struct ipc_out *o = ch->out_head;
		size_t rest = ipc_out_len(o) - o->off;
		if (n < rest) {
			o->off += n;
			return;
		}
		n -= rest;
		ch->out_head = o->next;
		if (ch->out_head == NULL)
			ch->out_tail = &ch->out_head;
		ipc_out_free(o);
	}
}

static void ipc_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_channel *ch = arg;

	(void)fd;
	(void)what;
	while (ch->out_head != NULL) {
		ssize_t n = ipc_channel_sendmsg(ch);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			ipc_fail_errno(ch, "write");
			return;
		}
		if (n <= 0)
			return;	/* socket full: EV_WRITE calls again */
		ipc_channel_sent(ch, (size_t)n);
	}
	event_del(ch->ev_write);
}

/* Move the first n pending fds into m, in arrival order. */
static void ipc_channel_take_fds(struct ipc_channel *ch, struct ipc_msg *m, unsigned n)
{
	memcpy(m->fds, ch->pending_fds, n * sizeof(int));
	m->nfds = n;
	ch->npending -= n;
	memmove(ch->pending_fds, ch->pending_fds + n, ch->npending * sizeof(int));
}

static bool ipc_channel_hello(struct ipc_channel *ch, struct ipc_msg *msg)
{
	const char *error;
	int ret = ipc_hello_check(msg, ch->errbuf, sizeof(ch->errbuf), &error);

	ipc_msg_free(msg);
	if (ret < 0)
		return ipc_fail(ch, error);
	ch->got_hello = true;
	return true;
}

/* Handle one complete frame. false: stop, the channel failed or is gone. */
static bool ipc_channel_frame(struct ipc_channel *ch, const struct ipc_hdr *h,
			      const uint8_t *body)
{
	size_t size = h->len - IPC_HEADER_SIZE;
	const char *error;
	struct ipc_msg msg;

	if (ipc_body_check(body, size, h->nfds, &error) < 0)
		return ipc_fail(ch, error);
	if (ch->npending < h->nfds)
		return ipc_fail(ch, "frame's fds missing");
	ipc_msg_init(&msg, h->type, h->reqid);
	ipc_channel_take_fds(ch, &msg, h->nfds);
	buf_append(&msg.body, body, size);	/* fits: size <= IPC_MAX_BODY */
	if (!ch->got_hello)
		return ipc_channel_hello(ch, &msg);
	if (h->type == IPC_TYPE_HELLO) {
		ipc_msg_free(&msg);
		return ipc_fail(ch, "unexpected hello");
	}
	ch->callback_depth++;
	ch->on_msg(ch, &msg, ch->ctx);
	ipc_msg_free(&msg);
	return ipc_callback_return(ch);
}

/* Drop n handled bytes, once per read rather than per frame (no quadratic
 * memmove). IPC carries passwords (front to auth), so no stale copy of a
 * handled frame may stay in the buffer: wipe what was consumed, and the
 * bytes left behind past the new end by the move. */
static void ipc_inbuf_consume(buf_t *in, size_t n)
{
	size_t old_used = in->used;

	if (n == 0)
		return;
	explicit_bzero(in->data, n);
	buf_consume(in, n);
	explicit_bzero(in->data + in->used, old_used - in->used);
}

/* Handle every complete frame in the input buffer. Each header is checked
 * as soon as its 16 bytes are in, so a bogus length fails before the buffer
 * grows for it. false: the channel failed or is gone. */
static bool ipc_channel_parse(struct ipc_channel *ch)
{
	size_t pos = 0;
	const char *error;

	while (ch->inbuf.used - pos >= IPC_HEADER_SIZE) {
		const uint8_t *p = (const uint8_t *)ch->inbuf.data + pos;
		struct ipc_hdr h;
		if (ipc_hdr_decode(p, &h, &error) < 0)
			return ipc_fail(ch, error);
		if (ch->inbuf.used - pos < h.len)
			break;
		if (!ipc_channel_frame(ch, &h, p + IPC_HEADER_SIZE))
			return false;
		pos += h.len;
	}
	ipc_inbuf_consume(&ch->inbuf, pos);
	if (ch->inbuf.used == 0 && ch->inbuf.alloc > IPC_INBUF_KEEP)
		buf_free(&ch->inbuf);
	return true;
}

/* One recvmsg into the input buffer: 1 got bytes, 0 nothing now, -1 the
 * channel failed (and may be gone). */
static int ipc_channel_read(struct ipc_channel *ch)
{
	buf_t *in = &ch->inbuf;

	/* cannot fail: parse leaves less than one frame behind */
	if (buf_reserve(in, IPC_READ_CHUNK) < 0)
		ipc_bug("input buffer of %s over its limit", ch->peer);
	ssize_t n = fdpass_recv(ch->fd, in->data + in->used, IPC_READ_CHUNK,
				ch->pending_fds, &ch->npending, IPC_MAX_PENDING_FDS);
	if (n > 0) {
		in->used += (size_t)n;
		in->data[in->used] = '\0';
		return 1;
	}
	if (n == 0) {
		ipc_fail(ch, "closed");
		return -1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	ipc_fail_errno(ch, "read");
	return -1;
}

static void ipc_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_channel *ch = arg;

	(void)fd;
	(void)what;
	for (int i = 0; i < IPC_READS_PER_EVENT; i++) {
		if (ipc_channel_read(ch) <= 0 || !ipc_channel_parse(ch))
			return;
	}
}

/* ---- blocking helpers -------------------------------------------------- */

static char ipc_sync_errbuf[128];

static int64_t ipc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t ipc_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : ipc_now_ms() + timeout_ms;
}

/* Wait until fd is ready for events or the deadline passes (-1, ETIMEDOUT).
 * Errors and hangups count as ready: the next I/O call reports them. */
static int ipc_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int ms = -1;
		if (deadline >= 0) {
			int64_t left = deadline - ipc_now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static const char *ipc_sync_strerror(int err)
{
	switch (err) {
	case ETIMEDOUT:
		return "timeout";
	case EPIPE:
	case ECONNRESET:
		return "closed";
	case EPROTO:
		return "received fds lost: too many or truncated";
	default:
		snprintf(ipc_sync_errbuf, sizeof(ipc_sync_errbuf), "%s", strerror(err));
		return ipc_sync_errbuf;
	}
}

static int ipc_sync_write(int fd, struct ipc_out *o, int64_t deadline)
{
	while (o->off < ipc_out_len(o)) {
		struct iovec iov[2];
		int cnt = ipc_out_iov(o, iov);
		ssize_t n = fdpass_send(fd, iov, cnt, o->fds, o->off == 0 ? o->nfds : 0);
		if (n > 0) {
			ipc_out_fds_sent(o);
			o->off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (ipc_wait(fd, POLLOUT, deadline) < 0)
			return -1;
	}
	return 0;
}

static int ipc_sync_send_frame(int fd, struct ipc_msg *msg, int64_t deadline)
{
	struct ipc_out *o = ipc_out_new(msg);
	int ret = ipc_sync_write(fd, o, deadline);
	int err = errno;

	ipc_out_free(o);
	errno = err;
	return ret;
}

int ipc_sync_send(int fd, struct ipc_msg *msg, int timeout_ms)
{
	if (msg->type == IPC_TYPE_HELLO)
		ipc_bug("ipc_sync_send of type 0");
	return ipc_sync_send_frame(fd, msg, ipc_deadline(timeout_ms));
}

/* Read exactly len bytes; fds that come along are added to m. */
static int ipc_sync_read(int fd, void *p, size_t len, struct ipc_msg *m,
			 int64_t deadline, const char **error_r)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = fdpass_recv(fd, (char *)p + got, len - got, m->fds,
					&m->nfds, IPC_MAX_FDS);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			*error_r = "closed";
			return -1;
		}
		if (errno == EINTR)
			continue;
		if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
		    ipc_wait(fd, POLLIN, deadline) < 0) {
			*error_r = ipc_sync_strerror(errno);
			return -1;
		}
	}
	return 0;
}

/* Header first, checked before the body is allocated; then the body
 * straight into m's buffer. Reads never go past this frame, so any fds
 * received belong to it and must match its nfds exactly. */
static int ipc_sync_recv_frame(int fd, struct ipc_msg *m, int64_t deadline,
			       const char **error_r)
{
	uint8_t hb[IPC_HEADER_SIZE];
	struct ipc_hdr h;

	ipc_msg_init(m, 0, 0);
	if (ipc_sync_read(fd, hb, sizeof(hb), m, deadline, error_r) < 0 ||
	    ipc_hdr_decode(hb, &h, error_r) < 0)
		goto fail;
	m->type = h.type;
	m->reqid = h.reqid;
	size_t size = h.len - IPC_HEADER_SIZE;
	if (buf_reserve(&m->body, size) < 0)
		ipc_bug("frame body over IPC_MAX_BODY after header check");
	if (ipc_sync_read(fd, m->body.data, size, m, deadline, error_r) < 0)
		goto fail;
	m->body.used = size;
	m->body.data[size] = '\0';
	if (m->nfds != h.nfds) {
		*error_r = m->nfds < h.nfds ? "frame's fds missing" : "unexpected fds";
		goto fail;
	}
	if (ipc_body_check((const uint8_t *)m->body.data, size, h.nfds, error_r) < 0)
		goto fail;
	return 0;
fail:
	ipc_msg_free(m);
	return -1;
}

int ipc_sync_recv(int fd, struct ipc_msg *msg, int timeout_ms, const char **error_r)
{
	if (ipc_sync_recv_frame(fd, msg, ipc_deadline(timeout_ms), error_r) < 0)
		return -1;
	if (msg->type == IPC_TYPE_HELLO) {
		ipc_msg_free(msg);
		*error_r = "unexpected hello";
		return -1;
	}
	return 0;
}

int ipc_sync_hello(int fd, int timeout_ms, const char **error_r)
{
	int64_t deadline = ipc_deadline(timeout_ms);
	struct ipc_msg m;

	ipc_hello_build(&m);
	if (ipc_sync_send_frame(fd, &m, deadline) < 0) {
		*error_r = ipc_sync_strerror(errno);
		return -1;
	}
	if (ipc_sync_recv_frame(fd, &m, deadline, error_r) < 0)
		return -1;
	int ret = ipc_hello_check(&m, ipc_sync_errbuf, sizeof(ipc_sync_errbuf), error_r);
	ipc_msg_free(&m);
	return ret;
}
