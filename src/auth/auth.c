/*
 * The auth role: the only process that opens the directory (and, later,
 * holds SQL credentials). It answers domain, mailbox and recipient lookups
 * and password checks for the other roles, always with one of three
 * outcomes: found, not found, temporary failure. Successful password checks
 * are cached (see auth-cache.h) so clients that reconnect often do not pay
 * the hash every time.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "auth-cache.h"
#include "dir-resolve.h"
#include "dir.h"
#include "log.h"
#include "password.h"
#include "role.h"
#include "xalloc.h"

struct auth_state {
	struct directory *dir;
	struct auth_cache *cache;
	time_t last_open_attempt;
	uint64_t lookups, auth_ok, auth_fail, tempfails;
};

static struct auth_state auth_state;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The directory handle, reopened (at most once a second) after a failure. */
static struct directory *auth_dir(struct role_ctx *ctx)
{
	struct auth_state *a = &auth_state;
	char *error = NULL;
	if (a->dir != NULL)
		return a->dir;
	time_t now = time(NULL);
	if (now == a->last_open_attempt)
		return NULL;
	a->last_open_attempt = now;
	if (dir_open_sqlite(ctx->cfg->sqlite_path, true, &a->dir, &error) < 0) {
		log_error("directory unavailable path=%s error=%s", ctx->cfg->sqlite_path, error);
		free(error);
		return NULL;
	}
	return a->dir;
}

/* After a temporary failure drop the handle, so a replaced or repaired
 * database is picked up. */
static int auth_result(int r)
{
	if (r == DIR_TEMPFAIL) {
		auth_state.tempfails++;
		dir_close(&auth_state.dir);
	}
	return r;
}

static void reply_result(struct ipc_channel *ch, uint64_t reqid, int64_t result, struct ipc_msg *r)
{
	ipc_msg_init(r, MSG_AUTH_REPLY, reqid);
	ipc_add_i64(r, result);
}

static void do_domain(struct role_ctx *ctx, struct ipc_channel *ch, struct ipc_msg *msg)
{
	const char *domain;
	struct ipc_msg r;
	if (ipc_get_str(msg, &domain) < 0 || ipc_get_end(msg) < 0)
		fatal("malformed MSG_AUTH_DOMAIN from %s", ipc_channel_peer(ch));
	struct directory *d = auth_dir(ctx);
	int res = d ? auth_result(dir_domain_exists(d, domain)) : DIR_TEMPFAIL;
	reply_result(ch, msg->reqid, res, &r);
	ipc_send(ch, &r);
}

static void do_mailbox(struct role_ctx *ctx, struct ipc_channel *ch, struct ipc_msg *msg)
{
	const char *address;
	struct ipc_msg r;
	struct dir_user u = { 0 };
	if (ipc_get_str(msg, &address) < 0 || ipc_get_end(msg) < 0)
		fatal("malformed MSG_AUTH_MAILBOX from %s", ipc_channel_peer(ch));
	struct directory *d = auth_dir(ctx);
	int res = d ? auth_result(dir_user_lookup(d, address, &u)) : DIR_TEMPFAIL;
	reply_result(ch, msg->reqid, res, &r);
	ipc_add_str(&r, res == DIR_FOUND ? u.email : "");
	ipc_add_i64(&r, res == DIR_FOUND ? u.quota : 0);
	ipc_send(ch, &r);
	dir_user_free(&u);
}

static void add_target(struct resolve_result *rr, const char *address, bool local)
{
	rr->targets = xreallocarray(rr->targets, rr->count + 1, sizeof(*rr->targets));
	rr->targets[rr->count].address = xstrdup(address);
	rr->targets[rr->count].local = local;
	rr->count++;
}

/* RFC 5321 4.5.1: postmaster@ every local domain (and a bare "Postmaster")
 * must be accepted even without a mailbox or alias. It goes to
 * postmaster_address when set, else into the Maildir DOMAIN/postmaster,
 * where it waits for the admin to add that user or an alias. */
static int resolve_postmaster(struct role_ctx *ctx, struct directory *d, const char *address,
			      const struct resolve_opts *o, struct resolve_result *rr, const char **error_r)
{
	const char *at = strchr(address, '@');
	size_t llen = at ? (size_t)(at - address) : strlen(address);
	if (llen != 10 || strncasecmp(address, "postmaster", 10) != 0)
		return DIR_NOTFOUND;
	const char *pm = ctx->cfg->postmaster_address;
	resolve_result_free(rr);
	if (pm[0]) {
		int r = dir_resolve(d, pm, o, rr, error_r);
		if (r == RESOLVE_NOT_LOCAL) {
			add_target(rr, pm, false);
			r = DIR_FOUND;
		}
		return r;
	}
	char *target;
	if (at) {
		target = xasprintf("postmaster@%s", at + 1);
	} else {
		char h[256] = "localhost";
		if (ctx->cfg->hostname[0])
			snprintf(h, sizeof(h), "%s", ctx->cfg->hostname);
		else
			gethostname(h, sizeof(h) - 1);
		target = xasprintf("postmaster@%s", h);
	}
	for (char *p = target; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	add_target(rr, target, true);
	free(target);
	return DIR_FOUND;
}

static void do_resolve(struct role_ctx *ctx, struct ipc_channel *ch, struct ipc_msg *msg)
{
	const char *address, *error = "";
	struct ipc_msg r;
	struct resolve_result rr = { 0 };
	if (ipc_get_str(msg, &address) < 0 || ipc_get_end(msg) < 0)
		fatal("malformed MSG_AUTH_RESOLVE from %s", ipc_channel_peer(ch));
	struct resolve_opts o = { .delimiter = ctx->cfg->recipient_delimiter,
				  .max_depth = (int)ctx->cfg->alias_max_depth };
	struct directory *d = auth_dir(ctx);
	int res = d ? auth_result(dir_resolve(d, address, &o, &rr, &error)) : DIR_TEMPFAIL;
	if (d == NULL)
		error = "directory unavailable";
	else if (res == DIR_NOTFOUND || (res == RESOLVE_NOT_LOCAL && strchr(address, '@') == NULL))
		res = auth_result(resolve_postmaster(ctx, d, address, &o, &rr, &error));
	reply_result(ch, msg->reqid, res, &r);
	ipc_add_str(&r, error ? error : "");
	ipc_add_u32(&r, res == DIR_FOUND ? (uint32_t)rr.count : 0);
	for (size_t i = 0; res == DIR_FOUND && i < rr.count; i++) {
		ipc_add_str(&r, rr.targets[i].address);
		ipc_add_u32(&r, rr.targets[i].local ? 1 : 0);
	}
	ipc_send(ch, &r);
	resolve_result_free(&rr);
	auth_state.lookups++;
}

static void do_password(struct role_ctx *ctx, struct ipc_channel *ch, struct ipc_msg *msg)
{
	struct auth_state *a = &auth_state;
	const char *user, *error = NULL;
	slice_t pass;
	struct ipc_msg r;
	struct dir_user u = { 0 };
	bool cached = false;

	if (ipc_get_str(msg, &user) < 0 || ipc_get_data(msg, &pass) < 0 || ipc_get_end(msg) < 0)
		fatal("malformed MSG_AUTH_PASSWORD from %s", ipc_channel_peer(ch));
	struct directory *d = auth_dir(ctx);
	int res = d ? auth_result(dir_user_lookup(d, user, &u)) : DIR_TEMPFAIL;
	if (res == DIR_FOUND) {
		int64_t now = now_ms();
		if (auth_cache_check(a->cache, u.email, pass.ptr, pass.len, u.password, now)) {
			cached = true;
		} else {
			int v = password_verify(pass.ptr, pass.len, u.password, ctx->cfg->default_pass_scheme, &error);
			if (v < 0) {
				/* a stored value we cannot check is the admin's problem, not a 4xx */
				log_error("auth user=%s stored password unusable: %s", u.email, error);
				res = AUTH_R_MISMATCH;
			} else if (v == 0) {
				res = AUTH_R_MISMATCH;
			} else {
				auth_cache_add(a->cache, u.email, pass.ptr, pass.len, u.password, now,
					       ctx->cfg->auth_cache_ttl);
			}
		}
	}
	if (res == DIR_FOUND)
		a->auth_ok++;
	else if (res != DIR_TEMPFAIL)
		a->auth_fail++;
	/* never log the password; the user name is fine */
	log_info("auth user=%s result=%s%s", user,
		 res == DIR_FOUND ? "ok" : res == DIR_TEMPFAIL ? "tempfail" : "failed",
		 cached ? " cached=1" : "");
	reply_result(ch, msg->reqid, res, &r);
	ipc_add_str(&r, res == DIR_FOUND ? u.email : "");
	ipc_add_u32(&r, cached ? 1 : 0);
	ipc_send(ch, &r);
	dir_user_free(&u);
	/* the password travelled in the message body: wipe it */
	explicit_bzero(msg->body.data, msg->body.used);
}

static void auth_message(struct role_ctx *ctx, struct ipc_channel *ch, struct ipc_msg *msg)
{
	switch (msg->type) {
	case MSG_AUTH_DOMAIN: do_domain(ctx, ch, msg); break;
	case MSG_AUTH_MAILBOX: do_mailbox(ctx, ch, msg); break;
	case MSG_AUTH_RESOLVE: do_resolve(ctx, ch, msg); break;
	case MSG_AUTH_PASSWORD: do_password(ctx, ch, msg); break;
	case MSG_AUTH_FLUSH:
		auth_cache_flush(auth_state.cache);
		log_info("auth cache flushed");
		break;
	default:
		fatal("unexpected message type %u from %s", msg->type, ipc_channel_peer(ch));
	}
}

static void auth_configure(struct role_ctx *ctx, bool reload)
{
	if (!reload) {
		/* open before dropping privileges: the database may be readable
		 * only by root and the auth group */
		auth_state.cache = auth_cache_create((size_t)ctx->cfg->auth_cache_size);
		(void)auth_dir(ctx);
	} else {
		/* a reload is how an administrator says "directory changed" */
		auth_cache_flush(auth_state.cache);
	}
}

static void auth_status(struct role_ctx *ctx, buf_t *out)
{
	struct auth_state *a = &auth_state;
	buf_printf(out, "directory=%s lookups=%llu auth_ok=%llu auth_failed=%llu tempfail=%llu cache_entries=%zu",
		   a->dir ? "open" : "unavailable", (unsigned long long)a->lookups,
		   (unsigned long long)a->auth_ok, (unsigned long long)a->auth_fail,
		   (unsigned long long)a->tempfails, auth_cache_count(a->cache));
}

const struct role_ops auth_role_ops = {
	.configure = auth_configure,
	.message = auth_message,
	.status = auth_status,
};
