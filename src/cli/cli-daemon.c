/* youju serve|status|reload|stop|config|auth test|lookup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dir-resolve.h"
#include "master.h"
#include "password.h"
#include "proto.h"
#include "settings.h"
#include "xalloc.h"

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	bool daemonize = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0) {
			daemonize = true;
		} else {
			cli_error("usage: youju serve [-c FILE] [-d]");
			return CLI_USAGE;
		}
	}
	return master_serve(cli->config_path, daemonize);
}

/* Send a one-word control request and print the reply text. */
static int simple_control(struct cli *cli, int argc, char **argv, uint16_t type, const char *usage)
{
	struct cli_args a;
	struct ipc_msg req, reply;
	int64_t code;
	const char *text;
	if (cli_parse_args(argc, argv, &a, "") < 0 || cli_want_args(&a, 0, 0, usage) < 0)
		return CLI_USAGE;
	ipc_msg_init(&req, type, 1);
	if (cli_control(cli, &req, &reply, false) < 0)
		return CLI_ERR;
	if (reply.type != CTL_REPLY || ipc_get_i64(&reply, &code) < 0 || ipc_get_str(&reply, &text) < 0) {
		cli_error("malformed reply from the daemon");
		ipc_msg_free(&reply);
		return CLI_ERR;
	}
	size_t len = strlen(text);
	fprintf(code == 0 ? stdout : stderr, "%s%s", text, len && text[len - 1] == '\n' ? "" : "\n");
	ipc_msg_free(&reply);
	return code == 0 ? CLI_OK : CLI_ERR;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	return simple_control(cli, argc, argv, CTL_STATUS, "status");
}

int cmd_reload(struct cli *cli, int argc, char **argv)
{
	return simple_control(cli, argc, argv, CTL_RELOAD, "reload");
}

int cmd_stop(struct cli *cli, int argc, char **argv)
{
	return simple_control(cli, argc, argv, CTL_STOP, "stop");
}

int cmd_config_check(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	if (cli_parse_args(argc, argv, &a, "") < 0 || cli_want_args(&a, 0, 0, "config check") < 0)
		return CLI_USAGE;
	if (cli_config(cli) < 0)
		return CLI_ERR;
	printf("%s: ok\n", cli->config_path);
	return CLI_OK;
}

int cmd_config_show(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	buf_t out;
	if (cli_parse_args(argc, argv, &a, "c") < 0 || cli_want_args(&a, 0, 0, "config show [--changed]") < 0)
		return CLI_USAGE;
	if (cli_config(cli) < 0)
		return CLI_ERR;
	buf_init(&out, 0);
	settings_dump(youju_settings, cli->cfg, cli->cfg->is_set, a.changed, &out);
	fwrite(out.data ? out.data : "", 1, out.used, stdout);
	buf_free(&out);
	return CLI_OK;
}

int cmd_config_doc(struct cli *cli, int argc, char **argv)
{
	buf_t out;
	buf_init(&out, 0);
	settings_doc_markdown(youju_settings, "youju.conf reference", &out);
	fwrite(out.data ? out.data : "", 1, out.used, stdout);
	buf_free(&out);
	return CLI_OK;
}

/* ---- lookups: through the daemon's auth role, or --direct ---- */

struct lookup_answer {
	int64_t result;
	char *error;
	char *email;
	bool cached;
	struct resolve_result rr;
};

static void answer_free(struct lookup_answer *ans)
{
	free(ans->error);
	free(ans->email);
	resolve_result_free(&ans->rr);
}

/* Ask the auth role (sub = MSG_AUTH_*); -1 if the daemon is not running. */
static int ask_daemon(struct cli *cli, uint32_t sub, const char *key, const char *password,
		      struct lookup_answer *ans, bool *reached_r)
{
	struct ipc_msg req, reply;
	int64_t code;
	const char *text;
	*reached_r = false;
	ipc_msg_init(&req, CTL_AUTH, 1);
	ipc_add_u32(&req, sub);
	ipc_add_str(&req, key);
	if (sub == MSG_AUTH_PASSWORD)
		ipc_add_data(&req, password, strlen(password));
	int r = cli_control(cli, &req, &reply, true);
	if (r < 0)
		return -1;
	*reached_r = true;
	if (reply.type != CTL_REPLY || ipc_get_i64(&reply, &code) < 0 || ipc_get_str(&reply, &text) < 0)
		goto bad;
	if (code != 0) {
		ans->result = DIR_TEMPFAIL;
		ans->error = xstrdup(text);
		ipc_msg_free(&reply);
		return 0;
	}
	if (ipc_get_i64(&reply, &ans->result) < 0)
		goto bad;
	if (sub == MSG_AUTH_RESOLVE) {
		const char *err, *addr;
		uint32_t n, local;
		if (ipc_get_str(&reply, &err) < 0 || ipc_get_u32(&reply, &n) < 0 || n > 100000)
			goto bad;
		ans->error = err[0] ? xstrdup(err) : NULL;
		ans->rr.targets = xcalloc(n ? n : 1, sizeof(*ans->rr.targets));
		for (uint32_t i = 0; i < n; i++) {
			if (ipc_get_str(&reply, &addr) < 0 || ipc_get_u32(&reply, &local) < 0)
				goto bad;
			ans->rr.targets[i].address = xstrdup(addr);
			ans->rr.targets[i].local = local != 0;
			ans->rr.count++;
		}
	} else if (sub == MSG_AUTH_MAILBOX) {
		const char *email;
		int64_t quota;
		if (ipc_get_str(&reply, &email) < 0 || ipc_get_i64(&reply, &quota) < 0)
			goto bad;
		ans->email = xstrdup(email);
	} else if (sub == MSG_AUTH_PASSWORD) {
		const char *email;
		uint32_t cached;
		if (ipc_get_str(&reply, &email) < 0 || ipc_get_u32(&reply, &cached) < 0)
			goto bad;
		ans->email = xstrdup(email);
		ans->cached = cached != 0;
	}
	if (ipc_get_end(&reply) < 0)
		goto bad;
	ipc_msg_free(&reply);
	return 0;
bad:
	ipc_msg_free(&reply);
	cli_error("malformed reply from the daemon");
	ans->result = DIR_TEMPFAIL;
	return 0;
}

/* The same questions answered from the directory file itself. */
static int ask_direct(struct cli *cli, uint32_t sub, const char *key, const char *password,
		      struct lookup_answer *ans)
{
	struct directory *dir = NULL;
	char *error = NULL;
	if (cli_config(cli) < 0)
		return -1;
	if (dir_open_sqlite(cli->cfg->sqlite_path, true, &dir, &error) < 0) {
		ans->result = DIR_TEMPFAIL;
		ans->error = error;
		return 0;
	}
	if (sub == MSG_AUTH_DOMAIN) {
		ans->result = dir_domain_exists(dir, key);
	} else if (sub == MSG_AUTH_RESOLVE) {
		const char *err = NULL;
		struct resolve_opts o = { .delimiter = cli->cfg->recipient_delimiter,
					  .max_depth = (int)cli->cfg->alias_max_depth };
		ans->result = dir_resolve(dir, key, &o, &ans->rr, &err);
		ans->error = err ? xstrdup(err) : NULL;
	} else {
		struct dir_user u = { 0 };
		ans->result = dir_user_lookup(dir, key, &u);
		if (ans->result == DIR_FOUND) {
			ans->email = xstrdup(u.email);
			if (sub == MSG_AUTH_PASSWORD) {
				const char *perr = NULL;
				int v = password_verify(password, strlen(password), u.password,
							cli->cfg->default_pass_scheme, &perr);
				if (v < 0)
					ans->error = xasprintf("stored password unusable: %s", perr);
				if (v != 1)
					ans->result = AUTH_R_MISMATCH;
			}
		}
		dir_user_free(&u);
	}
	dir_close(&dir);
	return 0;
}

static int ask(struct cli *cli, bool direct, uint32_t sub, const char *key, const char *password,
	       struct lookup_answer *ans)
{
	bool reached = false;
	if (!direct && ask_daemon(cli, sub, key, password, ans, &reached) == 0)
		return 0;
	return ask_direct(cli, sub, key, password, ans);
}

static int tempfail(struct lookup_answer *ans)
{
	cli_error("temporary failure: %s", ans->error ? ans->error : "directory unavailable");
	return CLI_TEMPFAIL;
}

int cmd_lookup(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct lookup_answer ans = { 0 };
	uint32_t sub;
	if (cli_parse_args(argc, argv, &a, "d") < 0 ||
	    cli_want_args(&a, 2, 2, "lookup domain|mailbox|alias KEY [--direct]") < 0)
		return CLI_USAGE;
	if (strcmp(a.pos[0], "domain") == 0)
		sub = MSG_AUTH_DOMAIN;
	else if (strcmp(a.pos[0], "mailbox") == 0)
		sub = MSG_AUTH_MAILBOX;
	else if (strcmp(a.pos[0], "alias") == 0)
		sub = MSG_AUTH_RESOLVE;
	else {
		cli_error("unknown table '%s' (domain, mailbox or alias)", a.pos[0]);
		return CLI_USAGE;
	}
	if (ask(cli, a.direct, sub, a.pos[1], NULL, &ans) < 0)
		return CLI_ERR;
	int r = CLI_ERR;
	switch (ans.result) {
	case DIR_FOUND:
		if (sub == MSG_AUTH_DOMAIN)
			printf("%s\n", a.pos[1]);
		else if (sub == MSG_AUTH_MAILBOX)
			printf("%s\n", ans.email);
		for (size_t i = 0; i < ans.rr.count; i++)
			printf("%s%s\n", ans.rr.targets[i].address, ans.rr.targets[i].local ? "" : " (remote)");
		r = CLI_OK;
		break;
	case DIR_TEMPFAIL:
		r = tempfail(&ans);
		break;
	case RESOLVE_LOOP:
		cli_error("alias loop: %s", ans.error ? ans.error : a.pos[1]);
		break;
	case RESOLVE_NOT_LOCAL:
		if (sub == MSG_AUTH_RESOLVE)
			printf("%s (remote: not a local domain)\n", a.pos[1]);
		r = sub == MSG_AUTH_RESOLVE ? CLI_OK : CLI_ERR;
		break;
	default:
		break;	/* not found: no output, exit 1, like postmap -q */
	}
	answer_free(&ans);
	return r;
}

int cmd_auth_test(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct lookup_answer ans = { 0 };
	if (cli_parse_args(argc, argv, &a, "pd") < 0 ||
	    cli_want_args(&a, 1, 2, "auth test USER [PASSWORD] [--password-stdin] [--direct]") < 0)
		return CLI_USAGE;
	char *pw = a.npos > 1 ? xstrdup(a.pos[1]) : cli_read_password(a.password_stdin, false);
	if (pw == NULL)
		return CLI_ERR;
	bool reached = false;
	int r;
	if (!a.direct && ask_daemon(cli, MSG_AUTH_PASSWORD, a.pos[0], pw, &ans, &reached) == 0)
		r = 0;
	else
		r = ask_direct(cli, MSG_AUTH_PASSWORD, a.pos[0], pw, &ans);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	if (r < 0)
		return CLI_ERR;
	const char *via = reached ? "daemon" : "directory";
	switch (ans.result) {
	case DIR_FOUND:
		printf("auth succeeded: user=%s via=%s%s\n", ans.email, via, ans.cached ? " (cached)" : "");
		r = CLI_OK;
		break;
	case DIR_TEMPFAIL:
		r = tempfail(&ans);
		break;
	default:
		/* the admin may know which; clients never see the difference */
		printf("auth failed: user=%s via=%s (%s)\n", a.pos[0], via,
		       ans.result == AUTH_R_MISMATCH ? "password mismatch" : "no such user");
		r = CLI_ERR;
	}
	answer_free(&ans);
	return r;
}
