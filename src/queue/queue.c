/*
 * The queue role: the only writer of the spool. Spooling, scheduling and
 * remote delivery arrive with the SMTP issues; today the role runs under
 * its own user, keeps its peer channels and reports its status.
 */
#include "log.h"
#include "role.h"

static void queue_configure(struct role_ctx *ctx, bool reload)
{
}

static void queue_status(struct role_ctx *ctx, buf_t *out)
{
	buf_printf(out, "spool=%s", ctx->cfg->spool_dir);
}

const struct role_ops queue_role_ops = {
	.configure = queue_configure,
	.status = queue_status,
};
