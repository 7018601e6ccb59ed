#ifndef YOUJU_ROLE_H
#define YOUJU_ROLE_H
/*
 * The common life of a daemon role (front, auth, queue, mail): started by
 * the master as "youju role NAME" with the master channel on fd 3, it
 * receives its configuration, listeners and peer channels, then MSG_GO,
 * drops privileges and serves until MSG_SHUTDOWN or until the master goes
 * away.
 */
#include <stdbool.h>
#include <event2/event.h>

#include "buf.h"
#include "config.h"
#include "ipc.h"
#include "proto.h"

#define ROLE_MASTER_FD 3

struct role_ctx;

struct role_ops {
	/* Config arrived (reload=false the first time, before privileges are
	 * dropped: open files that need root here). */
	void (*configure)(struct role_ctx *ctx, bool reload);
	/* A listening socket (front only). The role owns fd. */
	void (*listener)(struct role_ctx *ctx, const char *name, int fd);
	/* A message from a peer role or the master that role.c does not handle. */
	void (*message)(struct role_ctx *ctx, struct ipc_channel *from, struct ipc_msg *msg);
	/* Privileges are dropped; start serving. */
	void (*start)(struct role_ctx *ctx);
	/* Append "key=value ..." status fields (one line). */
	void (*status)(struct role_ctx *ctx, buf_t *out);
	/* A peer role's channel closed (it is restarting); fail whatever
	 * waits for it. May be NULL. */
	void (*peer_down)(struct role_ctx *ctx, enum youju_role peer);
	/* Begin a graceful stop; call role_exit() when idle. NULL = exit now. */
	void (*shutdown)(struct role_ctx *ctx);
};

struct role_ctx {
	enum youju_role role;
	const struct role_ops *ops;
	struct event_base *base;
	struct ipc_channel *master;
	struct ipc_channel *peers[ROLE_COUNT];
	struct youju_config *cfg;
	bool started;
	bool stopping;
	void *priv;	/* the role's own state */
};

/* Entry point for "youju role NAME". Never returns. */
int role_main(const char *name);
/* Send to a peer role; returns -1 (message freed) when that peer is not
 * connected right now (it is being restarted). */
int role_send(struct role_ctx *ctx, enum youju_role to, struct ipc_msg *msg);
/* Which role a channel belongs to, or -1 for the master. */
int role_of_channel(const struct role_ctx *ctx, const struct ipc_channel *ch);
void role_exit(struct role_ctx *ctx, int code) __attribute__((noreturn));

extern const struct role_ops front_role_ops, auth_role_ops, queue_role_ops, mail_role_ops;

#endif
