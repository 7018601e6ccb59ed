#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "role.h"
#include "xalloc.h"

static const char *const role_names[ROLE_COUNT] = {
	[ROLE_AUTH] = "auth", [ROLE_QUEUE] = "queue", [ROLE_MAIL] = "mail", [ROLE_FRONT] = "front",
};

const char *role_name(enum youju_role r)
{
	return (unsigned)r < ROLE_COUNT ? role_names[r] : "?";
}

int role_from_name(const char *name)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (strcmp(name, role_names[i]) == 0)
			return i;
	return -1;
}

static const struct role_ops *ops_for(enum youju_role r)
{
	switch (r) {
	case ROLE_FRONT: return &front_role_ops;
	case ROLE_AUTH: return &auth_role_ops;
	case ROLE_QUEUE: return &queue_role_ops;
	case ROLE_MAIL: return &mail_role_ops;
	default: return NULL;
	}
}

void role_exit(struct role_ctx *ctx, int code)
{
	log_info("exiting status=%d", code);
	exit(code);
}

int role_of_channel(const struct role_ctx *ctx, const struct ipc_channel *ch)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (ctx->peers[i] == ch)
			return i;
	return -1;
}

int role_send(struct role_ctx *ctx, enum youju_role to, struct ipc_msg *msg)
{
	if (ctx->peers[to] == NULL) {
		ipc_msg_free(msg);
		return -1;
	}
	ipc_send(ctx->peers[to], msg);
	return 0;
}

static void apply_log_settings(const struct youju_config *cfg, const char *name)
{
	enum log_target t = LOG_TARGET_STDERR;
	enum log_level l = LOG_LVL_INFO;
	(void)log_level_parse(cfg->log_level, &l);
	/* "file": the master opened it and gave it to us as fd 2 */
	if (strcmp(cfg->log_target, "syslog") == 0)
		t = LOG_TARGET_SYSLOG;
	log_init(name, t, l);
}

static void on_peer_msg(struct ipc_channel *ch, struct ipc_msg *msg, void *arg);
static void on_peer_error(struct ipc_channel *ch, const char *reason, void *arg);

static void handle_config(struct role_ctx *ctx, struct ipc_msg *msg)
{
	const char *text, *path;
	char *error = NULL;
	struct youju_config *cfg;

	if (ipc_get_str(msg, &text) < 0 || ipc_get_str(msg, &path) < 0 || ipc_get_end(msg) < 0)
		fatal("malformed MSG_CONFIG from master");
	if (config_load_text(path, text, strlen(text), &cfg, &error) < 0)
		fatal("configuration from master does not load: %s", error);
	bool reload = ctx->cfg != NULL;
	config_free(&ctx->cfg);
	ctx->cfg = cfg;
	apply_log_settings(cfg, role_name(ctx->role));
	if (ctx->ops->configure)
		ctx->ops->configure(ctx, reload);
	if (reload)
		log_info("configuration reloaded");
}

static void handle_peer(struct role_ctx *ctx, struct ipc_msg *msg)
{
	const char *name;
	int fd;
	if (ipc_get_str(msg, &name) < 0 || ipc_get_fd(msg, &fd) < 0 || ipc_get_end(msg) < 0)
		fatal("malformed MSG_PEER from master");
	int r = role_from_name(name);
	if (r < 0 || r == (int)ctx->role)
		fatal("MSG_PEER names an unknown role '%s'", name);
	ipc_channel_destroy(&ctx->peers[r]);
	ctx->peers[r] = ipc_channel_create(ctx->base, fd, name, on_peer_msg, on_peer_error, ctx);
	log_debug("connected to peer=%s", name);
}

static void handle_go(struct role_ctx *ctx)
{
	char *error = NULL;
	const char *user = NULL, *root = NULL;
	const struct youju_config *cfg = ctx->cfg;

	if (cfg == NULL)
		fatal("MSG_GO before MSG_CONFIG");
	switch (ctx->role) {
	case ROLE_FRONT: user = cfg->front_user; root = cfg->front_chroot; break;
	case ROLE_AUTH: user = cfg->auth_user; break;
	case ROLE_QUEUE: user = cfg->queue_user; break;
	case ROLE_MAIL: user = cfg->mail_user; break;
	default: break;
	}
	bool was_root = privsep_is_root();
	if (privsep_drop(user, root, &error) < 0)
		fatal("%s", error);
	if (was_root)
		log_info("running as user=%s%s%s", user, root ? " chroot=" : "", root ? root : "");
	ctx->started = true;
	if (ctx->ops->start)
		ctx->ops->start(ctx);
	struct ipc_msg ready;
	ipc_msg_init(&ready, MSG_READY, 0);
	ipc_add_u32(&ready, (uint32_t)getpid());
	ipc_send(ctx->master, &ready);
}

static void handle_status(struct role_ctx *ctx, struct ipc_msg *msg)
{
	struct ipc_msg reply;
	buf_t text;
	buf_init(&text, 64 * 1024);
	if (ctx->ops->status)
		ctx->ops->status(ctx, &text);
	ipc_msg_init(&reply, MSG_STATUS_REPLY, msg->reqid);
	ipc_add_str(&reply, buf_cstr(&text));
	ipc_send(ctx->master, &reply);
	buf_free(&text);
}

static void on_master_msg(struct ipc_channel *ch, struct ipc_msg *msg, void *arg)
{
	struct role_ctx *ctx = arg;
	const char *name;
	int fd;

	switch (msg->type) {
	case MSG_CONFIG:
		handle_config(ctx, msg);
		break;
	case MSG_LISTENER:
		if (ipc_get_str(msg, &name) < 0 || ipc_get_fd(msg, &fd) < 0 || ipc_get_end(msg) < 0)
			fatal("malformed MSG_LISTENER from master");
		if (ctx->ops->listener == NULL)
			fatal("role %s got a listener", role_name(ctx->role));
		ctx->ops->listener(ctx, name, fd);
		break;
	case MSG_PEER:
		handle_peer(ctx, msg);
		break;
	case MSG_GO:
		handle_go(ctx);
		break;
	case MSG_STATUS_REQ:
		handle_status(ctx, msg);
		break;
	case MSG_SHUTDOWN:
		ctx->stopping = true;
		log_info("shutdown requested");
		if (ctx->ops->shutdown)
			ctx->ops->shutdown(ctx);
		else
			role_exit(ctx, 0);
		break;
	default:
		if (ctx->ops->message)
			ctx->ops->message(ctx, ch, msg);
		else
			fatal("unexpected message type %u from master", msg->type);
	}
}

static void on_master_error(struct ipc_channel *ch, const char *reason, void *arg)
{
	struct role_ctx *ctx = arg;
	/* without its master a role has no supervisor: leave, it restarts us */
	log_error("lost the master channel: %s", reason);
	role_exit(ctx, ctx->stopping ? 0 : 1);
}

static void on_peer_msg(struct ipc_channel *ch, struct ipc_msg *msg, void *arg)
{
	struct role_ctx *ctx = arg;
	if (ctx->ops->message == NULL)
		fatal("unexpected message type %u from %s", msg->type, ipc_channel_peer(ch));
	ctx->ops->message(ctx, ch, msg);
}

static void on_peer_error(struct ipc_channel *ch, const char *reason, void *arg)
{
	struct role_ctx *ctx = arg;
	int r = role_of_channel(ctx, ch);
	/* a peer restarting is normal; anything else is a protocol error and
	 * the channel is already dead: drop it, the master sends a new one */
	if (strcmp(reason, "closed") == 0)
		log_info("peer=%s disconnected", ipc_channel_peer(ch));
	else
		log_error("peer=%s protocol error: %s", ipc_channel_peer(ch), reason);
	if (r >= 0) {
		ipc_channel_destroy(&ctx->peers[r]);
		if (ctx->ops->peer_down)
			ctx->ops->peer_down(ctx, (enum youju_role)r);
	}
}

int role_main(const char *name)
{
	static struct role_ctx ctx;
	int r = role_from_name(name);

	if (r < 0) {
		log_init("youju", LOG_TARGET_STDERR, LOG_LVL_INFO);
		fatal("unknown role '%s'", name);
	}
	log_init(name, LOG_TARGET_STDERR, LOG_LVL_INFO);
	ctx.role = (enum youju_role)r;
	ctx.ops = ops_for(ctx.role);
	signal(SIGPIPE, SIG_IGN);
	/* the master handles these (a Ctrl-C or a kill of the whole process
	 * group must not cut in-flight work short); a role stops on
	 * MSG_SHUTDOWN or when the master channel closes */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	ctx.base = event_base_new();
	if (ctx.base == NULL)
		fatal("event_base_new failed");
	ctx.master = ipc_channel_create(ctx.base, ROLE_MASTER_FD, "master", on_master_msg,
					on_master_error, &ctx);
	event_base_dispatch(ctx.base);
	role_exit(&ctx, 0);
}
