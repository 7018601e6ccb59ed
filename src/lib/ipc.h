#ifndef YOUJU_IPC_H
#define YOUJU_IPC_H
/*
 * ipc: the one typed message layer between youju's daemon roles (master,
 * front, auth, queue, mail), over AF_UNIX SOCK_STREAM socketpairs.
 *
 * Peers are trusted processes of the same binary, so anything malformed a
 * peer sends is a protocol error that kills the channel: the channel reports
 * it once through ipc_error_cb and stops; the role decides to exit or to
 * restart the peer. The library never delivers a partly valid frame.
 *
 * Wire format. All integers are little-endian (fixed rather than native so
 * the bytes are the same on every host: fuzz corpora and test vectors stay
 * valid; on x86 and arm64 it costs nothing).
 *
 *   frame  = header body
 *   header = u32 length   whole frame, header included:
 *                         IPC_HEADER_SIZE <= length <= IPC_MAX_FRAME
 *            u16 type     0 = IPC_TYPE_HELLO, the rest belong to the roles
 *            u16 nfds     fds carried by this frame, <= IPC_MAX_FDS
 *            u64 reqid    0 = not a request/reply (see ipc_next_reqid)
 *   body   = *field, each field one tag byte then its payload:
 *            IPC_TAG_U32   4 bytes
 *            IPC_TAG_U64   8 bytes
 *            IPC_TAG_I64   8 bytes (two's complement)
 *            IPC_TAG_STR   u32 n, n bytes without NUL, then one NUL byte
 *                          (the NUL travels so ipc_get_str can hand out a
 *                          pointer into the body without copying)
 *            IPC_TAG_DATA  u32 n, n bytes, binary
 *            IPC_TAG_FD    no payload: marks where the next passed fd sits
 *                          among the fields, so fds are read in order and
 *                          strictly like every other field
 *
 * File descriptors ride as SCM_RIGHTS on the first sendmsg() of their frame.
 * The receiver queues every fd it gets and a completed frame takes its nfds
 * fds from that queue; too few is a protocol error, and so is a body whose
 * IPC_TAG_FD count differs from nfds. Received fds are close-on-exec.
 *
 * Handshake: each side sends HELLO first (type 0, reqid 0, body
 * u32 IPC_HELLO_MAGIC, u32 IPC_VERSION). The first frame received must be a
 * HELLO with the same magic and version; a HELLO later is a protocol error.
 * The library sends and consumes HELLO itself; roles never see type 0.
 *
 * Secrets: bodies may carry passwords, so the library wipes its own copies
 * (the channel's input buffer once frames are handled, queued output once
 * written or dropped). The body of a message handed to or received by a
 * role is the role's to wipe (explicit_bzero) before ipc_msg_free.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct event_base;

#define IPC_VERSION 1
#define IPC_HELLO_MAGIC 0x594f554aU	/* "YOUJ" */
#define IPC_TYPE_HELLO 0

#define IPC_HEADER_SIZE 16
#define IPC_MAX_BODY (1024 * 1024)
#define IPC_MAX_FRAME (IPC_MAX_BODY + IPC_HEADER_SIZE)
#define IPC_MAX_FDS 4

enum ipc_tag {
	IPC_TAG_U32 = 1,
	IPC_TAG_U64 = 2,
	IPC_TAG_I64 = 3,
	IPC_TAG_STR = 4,
	IPC_TAG_DATA = 5,
	IPC_TAG_FD = 6,
};

/*
 * One message. Build it with ipc_msg_init + ipc_add_*, hand it to ipc_send
 * or ipc_sync_send (which consume it); read a received one with ipc_get_*
 * in the order the sender added the fields, then ipc_get_end.
 */
struct ipc_msg {
	uint16_t type;
	uint64_t reqid;
	buf_t body;		/* encoded fields; max IPC_MAX_BODY */
	int fds[IPC_MAX_FDS];	/* -1 once taken by ipc_get_fd */
	unsigned nfds;
	unsigned fd_rpos;	/* next fd for ipc_get_fd */
	size_t rpos;		/* read position in body for ipc_get_* */
	bool bad;		/* an ipc_get_* failed: sticky */
};

void ipc_msg_init(struct ipc_msg *m, uint16_t type, uint64_t reqid);
/* Frees the body and closes the fds the message still owns. Safe on a
 * moved-from or consumed message, and safe to call twice. */
void ipc_msg_free(struct ipc_msg *m);
/* Moves everything from src to dst (dst must not own anything). src is left
 * empty, so a later ipc_msg_free(src) does nothing. This is how an on_msg
 * callback keeps a message past its return. */
void ipc_msg_move(struct ipc_msg *dst, struct ipc_msg *src);

/*
 * Adding fields. A body growing past IPC_MAX_BODY, or a fifth fd, is a bug in
 * the caller: the process logs it and aborts.
 */
void ipc_add_u32(struct ipc_msg *m, uint32_t v);
void ipc_add_u64(struct ipc_msg *m, uint64_t v);
void ipc_add_i64(struct ipc_msg *m, int64_t v);
/* s is a C string (so it holds no NUL); NULL is sent as "". */
void ipc_add_str(struct ipc_msg *m, const char *s);
void ipc_add_data(struct ipc_msg *m, const void *p, size_t len);
/* The message takes ownership of fd: it is closed once sent, or by
 * ipc_msg_free if never sent. */
void ipc_add_fd(struct ipc_msg *m, int fd);

/*
 * Reading fields: 0 on success, -1 if the next field has another tag, is
 * truncated, or (STR) holds a NUL or lacks its terminator. A failure sets
 * m->bad, and every later ipc_get_* then fails too, so a handler may read
 * all fields and check once.
 */
int ipc_get_u32(struct ipc_msg *m, uint32_t *v_r);
int ipc_get_u64(struct ipc_msg *m, uint64_t *v_r);
int ipc_get_i64(struct ipc_msg *m, int64_t *v_r);
/* *s_r points into the body, NUL-terminated, valid until the msg is freed. */
int ipc_get_str(struct ipc_msg *m, const char **s_r);
/* *d_r points into the body, valid until the msg is freed. */
int ipc_get_data(struct ipc_msg *m, slice_t *d_r);
/* The caller owns *fd_r. */
int ipc_get_fd(struct ipc_msg *m, int *fd_r);
/* Strict parsing: -1 if a get failed or unread fields remain. */
int ipc_get_end(struct ipc_msg *m);

/* socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC). Callers clear CLOEXEC on
 * the end they pass to an exec'd child. 0 or -1 with errno. */
int ipc_socketpair(int fds[2]);

/*
 * Asynchronous channel on libevent.
 */
struct ipc_channel;

/* A message arrived. msg is freed when the callback returns; to keep it,
 * ipc_msg_move it elsewhere. The callback may ipc_send on any channel and
 * may destroy this channel. */
typedef void ipc_msg_cb(struct ipc_channel *ch, struct ipc_msg *msg, void *ctx);
/* The channel died: reason is "closed" when the peer went away, otherwise a
 * description of the protocol or I/O error (valid during the callback). Called
 * at most once; afterwards the channel does no I/O and ipc_send discards
 * messages. The owner destroys it, which is safe inside this callback. */
typedef void ipc_error_cb(struct ipc_channel *ch, const char *reason, void *ctx);

/* Takes ownership of fd (sets it O_NONBLOCK; closed by destroy; an invalid
 * fd is a bug and aborts) and queues our HELLO at once. peer_name is copied;
 * it is for the owner's log lines. */
struct ipc_channel *ipc_channel_create(struct event_base *base, int fd,
				       const char *peer_name, ipc_msg_cb *on_msg,
				       ipc_error_cb *on_error, void *ctx);
/* Queues msg for output and consumes it: the body and fds move into the
 * channel, fds are closed once sent, and *msg is left empty (ipc_msg_free on
 * it is harmless). Never blocks and does no I/O itself, so a write error is
 * reported later, from the event loop, never from inside ipc_send. The output
 * queue is unbounded: peers are trusted to read. type must not be 0. */
void ipc_send(struct ipc_channel *ch, struct ipc_msg *msg);
/* A fresh request id for this channel: 1, 2, 3, ... (0 means "none"). The
 * reply carries the request's reqid back. */
uint64_t ipc_next_reqid(struct ipc_channel *ch);
/* Bytes queued and not yet written. */
size_t ipc_channel_pending(const struct ipc_channel *ch);
const char *ipc_channel_peer(const struct ipc_channel *ch);
int ipc_channel_fd(const struct ipc_channel *ch);
/* Closes the fd and any received fds nobody claimed, drops unsent output,
 * frees the channel and sets *ch = NULL. NULL-safe. Safe inside on_msg and
 * on_error: no further callbacks happen for this channel. */
void ipc_channel_destroy(struct ipc_channel **ch);

/*
 * Blocking helpers for the CLI and tests. They work on blocking and
 * non-blocking fds alike (each call uses MSG_DONTWAIT plus poll). timeout_ms
 * bounds the whole call; negative means no limit. An ipc_channel must not be
 * running on the same fd.
 */
/* Sends our HELLO, then reads and checks the peer's. 0, or -1 with *error_r
 * ("timeout", "closed", "version mismatch: ...", ...) valid until the next
 * ipc_sync_* call. */
int ipc_sync_hello(int fd, int timeout_ms, const char **error_r);
/* Writes one whole frame. Consumes msg like ipc_send (fds are closed and the
 * body freed whether or not it succeeds). 0, or -1 with errno (ETIMEDOUT,
 * EPIPE, ...). */
int ipc_sync_send(int fd, struct ipc_msg *msg, int timeout_ms);
/* Reads one whole frame with its fds into msg, which the call initializes.
 * 0: the caller frees msg. -1 with *error_r (as for ipc_sync_hello, also
 * "unexpected hello" for type 0): msg is empty. After a failure the stream
 * position is unknown; give up on the fd. */
int ipc_sync_recv(int fd, struct ipc_msg *msg, int timeout_ms, const char **error_r);

#endif
