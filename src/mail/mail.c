/*
 * The mail role (the vmail user): the only opener of the mail store. It
 * delivers queued messages into Maildirs (lib-store/maildir.c: tmp, fsync,
 * rename into new, fsync new) from a spool file descriptor the queue role
 * passes, so it never needs access to the spool itself. IMAP/POP3 sessions
 * after login arrive with later issues.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "log.h"
#include "maildir.h"
#include "pop3-session.h"
#include "role.h"
#include "xalloc.h"

struct mail_state {
	char *hostname;
	uint64_t delivered, deferred, failed;
};

static struct mail_state mst;

/* mail_dir/DOMAIN/LOCALPART, refusing anything that could leave mail_dir. */
static char *maildir_path(const struct youju_config *cfg, const char *address, const char **error_r)
{
	const char *at = strrchr(address, '@');
	if (at == NULL || at == address || at[1] == '\0') {
		*error_r = "recipient has no domain";
		return NULL;
	}
	char *local = xstrndup(address, (size_t)(at - address));
	char *domain = xstrdup(at + 1);
	for (char *p = domain; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	char *path = NULL;
	if (!address_local_is_safe_for_path(local) || !domain_is_valid(domain, 0))
		*error_r = "recipient cannot be a mailbox path";
	else
		path = xasprintf("%s/%s/%s", cfg->mail_dir, domain, local);
	free(local);
	free(domain);
	return path;
}

static void deliver_one(struct role_ctx *ctx, const char *id, const char *sender, const char *rcpt, int fd,
			int64_t off, int64_t len, uint32_t attempt, struct ipc_msg *result, uint32_t idx)
{
	const char *perr = NULL;
	char *error = NULL, *name = NULL;
	bool temporary = true;
	int64_t status;
	const char *reason;

	char *path = maildir_path(ctx->cfg, rcpt, &perr);
	if (path == NULL) {
		status = -1;
		reason = perr;
		log_error("id=%s to=<%s> %s", id, rcpt, perr);
	} else {
		/* RFC 5321 4.4: Return-Path at final delivery; Delivered-To
		 * (qmail, Postfix) names the mailbox, for loop detection */
		char *prefix = xasprintf("Return-Path: <%s>\r\nDelivered-To: %s\r\n", sender, rcpt);
		char key[64];
		snprintf(key, sizeof(key), "%sR%u", id, idx);
		int done = attempt > 0 ? maildir_has_key(path, key) : 0;
		if (done == 1) {
			/* delivered before a crash kept the queue from
			 * recording it: do not deliver twice */
			status = 1;
			reason = "already delivered";
			log_info("id=%s to=<%s> already delivered (found %s)", id, rcpt, key);
		} else if (maildir_deliver(path, mst.hostname, key, prefix, strlen(prefix), fd, off, len, &name,
					   &temporary, &error) == 0) {
			status = 1;
			reason = "delivered to maildir";
			mst.delivered++;
			log_info("id=%s to=<%s> delivered maildir=%s file=%s", id, rcpt, path, name);
		} else {
			status = temporary ? 0 : -1;
			reason = error;
			if (temporary)
				mst.deferred++;
			else
				mst.failed++;
			log_warn("id=%s to=<%s> delivery failed (%s): %s", id, rcpt,
				 temporary ? "temporary" : "permanent", error);
		}
		free(prefix);
	}
	ipc_add_u32(result, idx);
	ipc_add_i64(result, status);
	ipc_add_str(result, reason);
	free(error);
	free(name);
	free(path);
}

static void on_deliver(struct role_ctx *ctx, struct ipc_channel *from, struct ipc_msg *msg)
{
	const char *id, *sender, *rcpt;
	uint32_t attempt, n, idx;
	int64_t off, len;
	int fd;

	if (ipc_get_str(msg, &id) < 0 || ipc_get_str(msg, &sender) < 0 || ipc_get_u32(msg, &attempt) < 0 ||
	    ipc_get_i64(msg, &off) < 0 || ipc_get_i64(msg, &len) < 0 || ipc_get_fd(msg, &fd) < 0 ||
	    ipc_get_u32(msg, &n) < 0)
		fatal("malformed MSG_DELIVER");
	struct ipc_msg result;
	ipc_msg_init(&result, MSG_DELIVER_RESULT, msg->reqid);
	ipc_add_str(&result, id);
	ipc_add_u32(&result, n);
	for (uint32_t i = 0; i < n; i++) {
		if (ipc_get_u32(msg, &idx) < 0 || ipc_get_str(msg, &rcpt) < 0)
			fatal("malformed MSG_DELIVER");
		deliver_one(ctx, id, sender, rcpt, fd, off, len, attempt, &result, idx);
	}
	if (ipc_get_end(msg) < 0)
		fatal("malformed MSG_DELIVER");
	close(fd);
	ipc_send(from, &result);
}

static void on_login(struct role_ctx *ctx, struct ipc_msg *msg)
{
	uint32_t proto;
	const char *user, *ip, *tls;
	slice_t pending;
	int fd;
	if (ipc_get_u32(msg, &proto) < 0 || ipc_get_str(msg, &user) < 0 || ipc_get_str(msg, &ip) < 0 ||
	    ipc_get_str(msg, &tls) < 0 || ipc_get_data(msg, &pending) < 0 || ipc_get_fd(msg, &fd) < 0 ||
	    ipc_get_end(msg) < 0)
		fatal("malformed MSG_MAIL_LOGIN");
	if (proto == 2) {
		pop3_session_start(ctx, user, ip, tls, pending.ptr, pending.len, fd);
		return;
	}
	/* IMAP after login is not built yet: front does not hand it over */
	log_error("login for an unsupported protocol %u", proto);
	close(fd);
}

static void mail_message(struct role_ctx *ctx, struct ipc_channel *from, struct ipc_msg *msg)
{
	if (msg->type == MSG_DELIVER)
		on_deliver(ctx, from, msg);
	else if (msg->type == MSG_MAIL_LOGIN)
		on_login(ctx, msg);
	else
		fatal("unexpected message type %u from %s", msg->type, ipc_channel_peer(from));
}

static void mail_configure(struct role_ctx *ctx, bool reload)
{
	free(mst.hostname);
	if (ctx->cfg->hostname[0]) {
		mst.hostname = xstrdup(ctx->cfg->hostname);
	} else {
		char h[256] = "localhost";
		gethostname(h, sizeof(h) - 1);
		mst.hostname = xstrdup(h);
	}
}

static void mail_status(struct role_ctx *ctx, buf_t *out)
{
	buf_printf(out, "mail_dir=%s delivered=%llu deferred=%llu failed=%llu pop3_sessions=%u", ctx->cfg->mail_dir,
		   (unsigned long long)mst.delivered, (unsigned long long)mst.deferred,
		   (unsigned long long)mst.failed, pop3_session_count());
}

const struct role_ops mail_role_ops = {
	.configure = mail_configure,
	.message = mail_message,
	.status = mail_status,
};
