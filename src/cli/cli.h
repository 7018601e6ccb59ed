#ifndef YOUJU_CLI_H
#define YOUJU_CLI_H
/*
 * The admin command line: one table of commands (cli.c), each with its
 * usage and help text, so `youju help` and every `--help` come from it.
 */
#include <stdbool.h>

#include "config.h"
#include "dir.h"
#include "ipc.h"

#define CLI_OK 0
#define CLI_ERR 1		/* failed, or "not found" for lookups */
#define CLI_USAGE 2
#define CLI_TEMPFAIL 75		/* EX_TEMPFAIL: try again later */

struct cli {
	const char *config_path;
	struct youju_config *cfg;	/* loaded on demand */
};

struct cli_cmd {
	const char *group;	/* "domain", "user", ... or the command itself */
	const char *name;	/* "add", ... or NULL for a one-word command */
	int (*run)(struct cli *cli, int argc, char **argv);	/* argv after the command words */
	const char *usage;	/* arguments */
	const char *help;	/* what it does */
};

extern const struct cli_cmd cli_commands[];

int cli_main(int argc, char **argv);
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Load the configuration (once); prints the error and returns -1. */
int cli_config(struct cli *cli);
/* Open the directory read-write; prints the error and returns -1. */
int cli_dir_open(struct cli *cli, struct directory **dir_r);
/* Read a password: --password-stdin (one line) or a no-echo prompt on the
 * terminal (twice when confirm). Returns a malloc'd string the caller wipes. */
char *cli_read_password(bool from_stdin, bool confirm);
/* One request on the control socket. Returns 0 with the reply in *reply,
 * -1 when the daemon is not reachable (error printed unless quiet). */
int cli_control(struct cli *cli, struct ipc_msg *req, struct ipc_msg *reply, bool quiet);
/* Positionals and the flags a command knows: allowed holds p (--password-stdin),
 * u (--purge), c (--changed), d (--direct), q (--quota SIZE). Prints the error. */
struct cli_args {
	const char *pos[8];
	int npos;
	bool password_stdin, purge, changed, direct;
	const char *quota;
};
int cli_parse_args(int argc, char **argv, struct cli_args *a, const char *allowed);
/* Between min and max positionals, else prints "usage: youju USAGE". */
int cli_want_args(const struct cli_args *a, int min, int max, const char *usage);
/* true if argv holds --help / -h */
bool cli_wants_help(int argc, char **argv);
void cli_print_usage(const struct cli_cmd *cmd);

int cmd_domain_add(struct cli *cli, int argc, char **argv);
int cmd_domain_list(struct cli *cli, int argc, char **argv);
int cmd_domain_del(struct cli *cli, int argc, char **argv);
int cmd_user_add(struct cli *cli, int argc, char **argv);
int cmd_user_passwd(struct cli *cli, int argc, char **argv);
int cmd_user_list(struct cli *cli, int argc, char **argv);
int cmd_user_del(struct cli *cli, int argc, char **argv);
int cmd_alias_add(struct cli *cli, int argc, char **argv);
int cmd_alias_list(struct cli *cli, int argc, char **argv);
int cmd_alias_del(struct cli *cli, int argc, char **argv);
int cmd_auth_test(struct cli *cli, int argc, char **argv);
int cmd_lookup(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_reload(struct cli *cli, int argc, char **argv);
int cmd_stop(struct cli *cli, int argc, char **argv);
int cmd_config_check(struct cli *cli, int argc, char **argv);
int cmd_config_show(struct cli *cli, int argc, char **argv);
int cmd_config_doc(struct cli *cli, int argc, char **argv);
int cmd_serve(struct cli *cli, int argc, char **argv);
int cmd_version(struct cli *cli, int argc, char **argv);
int cmd_help(struct cli *cli, int argc, char **argv);

#endif
