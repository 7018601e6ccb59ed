/*
 * The mail role (the vmail user): the only opener of the mail store.
 *  - Local delivery: the queue role passes a spool file descriptor and the
 *    recipients (MSG_DELIVER); each recipient's quota comes from the
 *    directory (MSG_AUTH_MAILBOX to auth), then the message goes into the
 *    INBOX through the store (lib-store mailbox_append: Maildir tmp, fsync,
 *    rename into new, fsync, index), which wakes that user's IDLE sessions.
 *    A delivery key "<queue id>R<index>" in the file name makes a retry
 *    after a crash find the message instead of delivering it twice.
 *  - IMAP and POP3 sessions after login (MSG_MAIL_LOGIN from front).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap-client.h"
#include "log.h"
#include "mail-store.h"
#include "maildir.h"
#include "mailbox.h"
#include "pop3-session.h"
#include "role.h"
#include "xalloc.h"

struct mail_state {
	uint64_t delivered, deferred, failed;
	uint64_t next_lookup;
	struct lookup *lookups;
};

static struct mail_state mst;

/* ---- quota lookups in the directory (through auth) ---- */

typedef void lookup_cb(struct role_ctx *ctx, void *arg, uint32_t i, int64_t result, uint64_t quota);

struct lookup {
	struct lookup *next;
	uint64_t id;
	lookup_cb *cb;
	void *arg;
	uint32_t i;
};

/* Ask auth for the mailbox of address; cb(arg, i, ...) runs with
 * AUTH_R_FOUND and the quota, AUTH_R_NOTFOUND or AUTH_R_TEMPFAIL (at once
 * when auth is not connected). */
static void lookup_start(struct role_ctx *ctx, const char *address, lookup_cb *cb, void *arg,
			 uint32_t i)
{
	struct lookup *l = xcalloc(1, sizeof(*l));
	l->id = ++mst.next_lookup;
	l->cb = cb;
	l->arg = arg;
	l->i = i;
	l->next = mst.lookups;
	mst.lookups = l;
	struct ipc_msg m;
	ipc_msg_init(&m, MSG_AUTH_MAILBOX, l->id);
	ipc_add_str(&m, address);
	if (role_send(ctx, ROLE_AUTH, &m) < 0) {
		mst.lookups = l->next;
		free(l);
		cb(ctx, arg, i, AUTH_R_TEMPFAIL, 0);
	}
}

static void on_auth_reply(struct role_ctx *ctx, struct ipc_msg *msg)
{
	struct lookup **pp = &mst.lookups;
	while (*pp && (*pp)->id != msg->reqid)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return;
	struct lookup *l = *pp;
	*pp = l->next;
	int64_t result, quota;
	const char *email;
	if (ipc_get_i64(msg, &result) < 0 || ipc_get_str(msg, &email) < 0 || ipc_get_i64(msg, &quota) < 0)
		fatal("malformed MSG_AUTH_REPLY");
	l->cb(ctx, l->arg, l->i, result, quota > 0 ? (uint64_t)quota : 0);
	free(l);
}

static void mail_peer_down(struct role_ctx *ctx, enum youju_role peer)
{
	if (peer != ROLE_AUTH)
		return;
	while (mst.lookups != NULL) {
		struct lookup *l = mst.lookups;
		mst.lookups = l->next;
		l->cb(ctx, l->arg, l->i, AUTH_R_TEMPFAIL, 0);
		free(l);
	}
}

/* ---- local delivery ---- */

struct delivery_rcpt {
	uint32_t idx;
	char *address;
	int64_t lookup;		/* AUTH_R_* */
	uint64_t quota;
};

struct delivery {
	struct ipc_channel *from;
	uint64_t reqid;
	char *id, *sender;
	uint32_t attempt;
	int64_t off, len;
	int fd;
	struct delivery_rcpt *rcpts;
	uint32_t n, waiting;
};

/* Deliver one recipient; appends (idx, status, reason) to result:
 * status 1 delivered, 0 try again later, -1 failed for good. */
static void deliver_one(struct role_ctx *ctx, struct delivery *d, struct delivery_rcpt *r,
			struct ipc_msg *result)
{
	char *error = NULL;
	int64_t status = 0;
	const char *reason = NULL;
	const char *perr;
	struct mail_user *mu = NULL;
	struct mailbox *box = NULL;
	char key[64];
	snprintf(key, sizeof(key), "%sR%u", d->id, r->idx);

	char *root = mail_store_root(ctx->cfg, r->address, &perr);
	if (root == NULL) {
		status = -1;
		reason = perr;
		goto out;
	}
	if (r->lookup == AUTH_R_TEMPFAIL) {
		reason = "directory lookup failed (quota unknown)";
		goto out;
	}
	if (d->attempt > 0 && maildir_has_key(root, key) == 1) {
		/* delivered before a crash kept the queue from recording it:
		   do not deliver twice */
		status = 1;
		reason = "already delivered";
		log_info("id=%s to=<%s> already delivered (found %s)", d->id, r->address, key);
		goto out;
	}
	int ret = mail_store_open(ctx->cfg, r->address, r->quota, &mu, &error);
	if (ret == 0)
		ret = mailbox_open(mu, "INBOX", MAILBOX_OPEN_DELIVERY, &box, &error);
	if (ret == 0) {
		/* RFC 5321 4.4: Return-Path at final delivery; Delivered-To
		 * (qmail, Postfix) names the mailbox, for loop detection */
		char *prefix = xasprintf("Return-Path: <%s>\r\nDelivered-To: %s\r\n", d->sender, r->address);
		struct mailbox_append m = { 0 };
		m.fd = d->fd;
		m.offset = d->off;
		m.size = d->len;
		m.prefix = prefix;
		m.prefix_len = strlen(prefix);
		m.key = key;
		uint32_t uid;
		ret = mailbox_append(box, &m, &uid, &error);
		if (ret == 0)
			ret = mailbox_commit(box, &error);
		free(prefix);
		if (ret == 0) {
			status = 1;
			reason = "delivered to maildir";
			log_info("id=%s to=<%s> delivered maildir=%s uid=%u", d->id, r->address, root, uid);
		}
	}
	if (ret < 0) {
		/* RFC 3463 5.2.2 mailbox full: a bounce, as Dovecot does by
		   default; every other store trouble is temporary */
		status = ret == MAIL_ERR_OVERQUOTA ? -1 : 0;
		reason = ret == MAIL_ERR_OVERQUOTA ? "mailbox is over quota" : error;
	}
out:
	if (status == 1)
		mst.delivered++;
	else if (status == 0)
		mst.deferred++;
	else
		mst.failed++;
	if (status != 1)
		log_warn("id=%s to=<%s> delivery failed (%s): %s", d->id, r->address,
			 status == 0 ? "temporary" : "permanent", reason ? reason : "?");
	if (box != NULL)
		mailbox_close(&box);
	if (mu != NULL)
		mail_user_close(&mu);
	ipc_add_u32(result, r->idx);
	ipc_add_i64(result, status);
	ipc_add_str(result, reason ? reason : "");
	free(error);
	free(root);
}

static void delivery_run(struct role_ctx *ctx, struct delivery *d)
{
	struct ipc_msg result;
	ipc_msg_init(&result, MSG_DELIVER_RESULT, d->reqid);
	ipc_add_str(&result, d->id);
	ipc_add_u32(&result, d->n);
	for (uint32_t i = 0; i < d->n; i++)
		deliver_one(ctx, d, &d->rcpts[i], &result);
	close(d->fd);
	/* the queue may have restarted meanwhile: its channel is new */
	if (ctx->peers[ROLE_QUEUE] == d->from)
		ipc_send(d->from, &result);
	else
		ipc_msg_free(&result);
	for (uint32_t i = 0; i < d->n; i++)
		free(d->rcpts[i].address);
	free(d->rcpts);
	free(d->id);
	free(d->sender);
	free(d);
}

static void delivery_lookup_done(struct role_ctx *ctx, void *arg, uint32_t i, int64_t result,
				 uint64_t quota)
{
	struct delivery *d = arg;
	d->rcpts[i].lookup = result;
	d->rcpts[i].quota = quota;
	if (--d->waiting == 0)
		delivery_run(ctx, d);
}

static void on_deliver(struct role_ctx *ctx, struct ipc_channel *from, struct ipc_msg *msg)
{
	const char *id, *sender, *rcpt;
	uint32_t attempt, n, idx;
	int64_t off, len;
	int fd;

	if (ipc_get_str(msg, &id) < 0 || ipc_get_str(msg, &sender) < 0 || ipc_get_u32(msg, &attempt) < 0 ||
	    ipc_get_i64(msg, &off) < 0 || ipc_get_i64(msg, &len) < 0 || ipc_get_fd(msg, &fd) < 0 ||
	    ipc_get_u32(msg, &n) < 0 || n == 0 || n > 100000)
		fatal("malformed MSG_DELIVER");
	struct delivery *d = xcalloc(1, sizeof(*d));
	d->from = from;
	d->reqid = msg->reqid;
	d->id = xstrdup(id);
	d->sender = xstrdup(sender);
	d->attempt = attempt;
	d->off = off;
	d->len = len;
	d->fd = fd;
	d->n = n;
	d->rcpts = xcalloc(n, sizeof(*d->rcpts));
	for (uint32_t i = 0; i < n; i++) {
		if (ipc_get_u32(msg, &idx) < 0 || ipc_get_str(msg, &rcpt) < 0)
			fatal("malformed MSG_DELIVER");
		d->rcpts[i].idx = idx;
		d->rcpts[i].address = xstrdup(rcpt);
	}
	if (ipc_get_end(msg) < 0)
		fatal("malformed MSG_DELIVER");
	/* one lookup per recipient, then all of them in one go; waiting
	   counts one extra so the last reply cannot run it before the loop
	   has started every lookup */
	d->waiting = n + 1;
	for (uint32_t i = 0; i < n; i++)
		lookup_start(ctx, d->rcpts[i].address, delivery_lookup_done, d, i);
	if (--d->waiting == 0)
		delivery_run(ctx, d);
}

/* ---- sessions after login ---- */

struct login {
	uint32_t proto;
	char *user, *ip, *tls;
	char *pending;
	size_t pending_len;
	int fd;
};

static void login_lookup_done(struct role_ctx *ctx, void *arg, uint32_t i, int64_t result,
			      uint64_t quota)
{
	struct login *l = arg;
	if (result == AUTH_R_TEMPFAIL) {
		static const char imap[] = "* BYE [UNAVAILABLE] Temporary directory failure, try again later\r\n";
		static const char pop3[] = "-ERR [SYS/TEMP] Temporary directory failure, try again later\r\n";
		if (l->proto == 1)
			(void)!write(l->fd, imap, sizeof(imap) - 1);
		else
			(void)!write(l->fd, pop3, sizeof(pop3) - 1);
		log_warn("login user=%s: quota lookup failed, session refused", l->user);
		close(l->fd);
	} else if (l->proto == 1) {
		imap_client_start(ctx, l->user, l->ip, l->tls, l->pending, l->pending_len, quota, l->fd);
	} else {
		pop3_session_start(ctx, l->user, l->ip, l->tls, l->pending, l->pending_len, quota, l->fd);
	}
	free(l->user);
	free(l->ip);
	free(l->tls);
	free(l->pending);
	free(l);
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
	if (proto != 1 && proto != 2) {
		log_error("login for an unsupported protocol %u", proto);
		close(fd);
		return;
	}
	struct login *l = xcalloc(1, sizeof(*l));
	l->proto = proto;
	l->user = xstrdup(user);
	l->ip = xstrdup(ip);
	l->tls = xstrdup(tls);
	l->pending = xmalloc(pending.len + 1);
	memcpy(l->pending, pending.ptr, pending.len);
	l->pending_len = pending.len;
	l->fd = fd;
	/* the quota is the directory's word at each login (RFC 9208) */
	lookup_start(ctx, user, login_lookup_done, l, 0);
}

static void mail_message(struct role_ctx *ctx, struct ipc_channel *from, struct ipc_msg *msg)
{
	if (msg->type == MSG_DELIVER)
		on_deliver(ctx, from, msg);
	else if (msg->type == MSG_MAIL_LOGIN)
		on_login(ctx, msg);
	else if (msg->type == MSG_AUTH_REPLY)
		on_auth_reply(ctx, msg);
	else
		fatal("unexpected message type %u from %s", msg->type, ipc_channel_peer(from));
}

static void mail_status(struct role_ctx *ctx, buf_t *out)
{
	buf_printf(out, "mail_dir=%s delivered=%llu deferred=%llu failed=%llu imap_sessions=%u pop3_sessions=%u",
		   ctx->cfg->mail_dir, (unsigned long long)mst.delivered, (unsigned long long)mst.deferred,
		   (unsigned long long)mst.failed, imap_client_count(), pop3_session_count());
}

const struct role_ops mail_role_ops = {
	.message = mail_message,
	.status = mail_status,
	.peer_down = mail_peer_down,
};
