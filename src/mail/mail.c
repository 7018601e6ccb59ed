/*
 * The mail role (the vmail user): the only opener of the mail store. Local
 * delivery and IMAP/POP3 sessions after login arrive with later issues;
 * today the role runs under its own user, keeps its peer channels and
 * reports its status.
 */
#include "log.h"
#include "role.h"

static void mail_configure(struct role_ctx *ctx, bool reload)
{
}

static void mail_status(struct role_ctx *ctx, buf_t *out)
{
	buf_printf(out, "mail_dir=%s", ctx->cfg->mail_dir);
}

const struct role_ops mail_role_ops = {
	.configure = mail_configure,
	.status = mail_status,
};
