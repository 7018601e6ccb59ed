#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cli.h"
#include "log.h"
#include "proto.h"
#include "settings.h"
#include "xalloc.h"

#define CLI_CONTROL_TIMEOUT_MS 10000

const struct cli_cmd cli_commands[] = {
	{ "serve", NULL, cmd_serve, "[-d]",
	  "Run the daemon in the foreground (-d: detach into the background)." },
	{ "status", NULL, cmd_status, "", "Show the running daemon's roles, pids, uptime and connection counts." },
	{ "reload", NULL, cmd_reload, "", "Reload the configuration (a bad new configuration is rejected)." },
	{ "stop", NULL, cmd_stop, "", "Stop the daemon gracefully." },
	{ "config", "check", cmd_config_check, "", "Validate the configuration file; errors name file:line and the key." },
	{ "config", "show", cmd_config_show, "[--changed]",
	  "Print every effective setting (--changed: only those set in the file)." },
	{ "config", "doc", cmd_config_doc, "", "Print the settings reference in Markdown (docs/config.md)." },
	{ "domain", "add", cmd_domain_add, "DOMAIN", "Add a virtual mail domain." },
	{ "domain", "list", cmd_domain_list, "", "List the virtual domains." },
	{ "domain", "del", cmd_domain_del, "DOMAIN", "Delete a domain with its users and aliases (mail stays on disk)." },
	{ "user", "add", cmd_user_add, "ADDRESS [--quota SIZE] [--password-stdin]",
	  "Add a mailbox; the password is prompted for (no echo) or read from stdin." },
	{ "user", "passwd", cmd_user_passwd, "ADDRESS [--password-stdin]", "Change a mailbox password." },
	{ "user", "list", cmd_user_list, "[DOMAIN]", "List mailboxes, all or of one domain." },
	{ "user", "del", cmd_user_del, "ADDRESS [--purge]",
	  "Delete a mailbox (--purge also removes its Maildir)." },
	{ "alias", "add", cmd_alias_add, "SOURCE DESTINATION...",
	  "Add an alias; SOURCE is an address or @domain (catch-all)." },
	{ "alias", "list", cmd_alias_list, "[DOMAIN]", "List aliases, all or of one domain." },
	{ "alias", "del", cmd_alias_del, "SOURCE [DESTINATION]", "Delete an alias (all its destinations if none given)." },
	{ "auth", "test", cmd_auth_test, "USER [PASSWORD] [--password-stdin] [--direct]",
	  "Check a login like a client would, through the running daemon (--direct: read the directory itself)." },
	{ "lookup", NULL, cmd_lookup, "domain|mailbox|alias KEY [--direct]",
	  "Query the directory like `postmap -q`; alias resolves fully (plus-addressing, catch-all, nesting)." },
	{ "help", NULL, cmd_help, "[COMMAND]", "Show help." },
	{ "version", NULL, cmd_version, "", "Print the version." },
	{ NULL, NULL, NULL, NULL, NULL },
};

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("youju: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

void cli_print_usage(const struct cli_cmd *cmd)
{
	printf("usage: youju [-c FILE] %s%s%s %s\n  %s\n", cmd->group, cmd->name ? " " : "",
	       cmd->name ? cmd->name : "", cmd->usage, cmd->help);
}

static void print_overview(void)
{
	printf("youju: a complete mail server in one program.\n\n"
	       "usage: youju [-c FILE] COMMAND [ARGS]\n"
	       "  -c FILE   configuration file (default: $YOUJU_CONFIG, else %s)\n\n"
	       "commands:\n", YOUJU_DEFAULT_CONFIG);
	for (const struct cli_cmd *c = cli_commands; c->group; c++) {
		char head[64];
		snprintf(head, sizeof(head), "%s%s%s", c->group, c->name ? " " : "", c->name ? c->name : "");
		printf("  %-14s %-40s %s\n", head, c->usage, c->help);
	}
	printf("\nEvery command accepts --help.\n");
}

/* help for a group ("youju user --help") */
static int print_group(const char *group)
{
	int n = 0;
	for (const struct cli_cmd *c = cli_commands; c->group; c++) {
		if (strcmp(c->group, group) == 0) {
			cli_print_usage(c);
			n++;
		}
	}
	return n;
}

int cmd_help(struct cli *cli, int argc, char **argv)
{
	if (argc == 0 || cli_wants_help(argc, argv)) {
		print_overview();
		return CLI_OK;
	}
	for (const struct cli_cmd *c = cli_commands; c->group; c++) {
		if (strcmp(c->group, argv[0]) == 0 && c->name && argc > 1 && strcmp(c->name, argv[1]) == 0) {
			cli_print_usage(c);
			return CLI_OK;
		}
	}
	if (print_group(argv[0]) == 0) {
		cli_error("unknown command '%s' (try: youju help)", argv[0]);
		return CLI_USAGE;
	}
	return CLI_OK;
}

int cmd_version(struct cli *cli, int argc, char **argv)
{
	printf("youju 0.1.0\n");
	return CLI_OK;
}

int cli_config(struct cli *cli)
{
	char *error = NULL;
	if (cli->cfg)
		return 0;
	if (config_load_file(cli->config_path, &cli->cfg, &error) < 0) {
		fprintf(stderr, "youju: %s\n", error);
		free(error);
		return -1;
	}
	return 0;
}

int cli_dir_open(struct cli *cli, struct directory **dir_r)
{
	char *error = NULL;
	if (cli_config(cli) < 0)
		return -1;
	if (dir_open_sqlite(cli->cfg->sqlite_path, false, dir_r, &error) < 0) {
		cli_error("cannot open the directory %s: %s", cli->cfg->sqlite_path, error);
		free(error);
		return -1;
	}
	return 0;
}

static char *read_line(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static char *prompt_noecho(FILE *tty, const char *prompt)
{
	struct termios old, quiet;
	fputs(prompt, stderr);
	fflush(stderr);
	int fd = fileno(tty);
	bool restore = tcgetattr(fd, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	char *line = read_line(tty);
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return line;
}

char *cli_read_password(bool from_stdin, bool confirm)
{
	char *pw;
	if (from_stdin) {
		pw = read_line(stdin);
		if (pw == NULL)
			cli_error("no password on standard input");
	} else {
		FILE *tty = fopen("/dev/tty", "r+");
		if (tty == NULL) {
			cli_error("no terminal to ask for the password; use --password-stdin");
			return NULL;
		}
		pw = prompt_noecho(tty, "Password: ");
		if (pw && confirm) {
			char *again = prompt_noecho(tty, "Again: ");
			if (again == NULL || strcmp(pw, again) != 0) {
				cli_error("the passwords do not match");
				explicit_bzero(pw, strlen(pw));
				free(pw);
				pw = NULL;
			}
			if (again) {
				explicit_bzero(again, strlen(again));
				free(again);
			}
		}
		fclose(tty);
	}
	if (pw && pw[0] == '\0') {
		cli_error("empty password");
		free(pw);
		return NULL;
	}
	return pw;
}

/* The control socket path. A configuration with errors must not lock the
 * admin out of `status` or `reload` (which then reports those errors from
 * the daemon's side), so fall back to reading just that one key. */
static char *control_socket_path(struct cli *cli)
{
	char *error = NULL;
	if (cli->cfg)
		return xstrdup(cli->cfg->control_socket);
	if (config_load_file(cli->config_path, &cli->cfg, &error) == 0)
		return xstrdup(cli->cfg->control_socket);
	free(error);
	int row = settings_find(youju_settings, "control_socket");
	char *path = xstrdup(youju_settings[row].def);
	FILE *f = fopen(cli->config_path, "r");
	char *line = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		slice_t key, value;
		if (!slice_split(slice_cstr(line), '=', &key, &value) ||
		    !slice_eq_cstr(slice_trim(key), "control_socket"))
			continue;
		value = slice_trim(value);
		if (value.len >= 2 && value.ptr[0] == '"' && value.ptr[value.len - 1] == '"')
			value = slice_sub(value, 1, value.len - 2);
		free(path);
		path = slice_dup(value);
	}
	free(line);
	if (f)
		fclose(f);
	return path;
}

int cli_control(struct cli *cli, struct ipc_msg *req, struct ipc_msg *reply, bool quiet)
{
	const char *error = NULL;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *path = control_socket_path(cli);
	if (strlen(path) >= sizeof(sun.sun_path)) {
		cli_error("control_socket path too long");
		free(path);
		ipc_msg_free(req);
		return -1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (!quiet)
			cli_error("the daemon is not running (cannot connect to %s: %s)", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		ipc_msg_free(req);
		free(path);
		return -1;
	}
	if (ipc_sync_hello(fd, CLI_CONTROL_TIMEOUT_MS, &error) < 0 ||
	    ipc_sync_send(fd, req, CLI_CONTROL_TIMEOUT_MS) < 0 ||
	    ipc_sync_recv(fd, reply, CLI_CONTROL_TIMEOUT_MS, &error) < 0) {
		if (!quiet)
			cli_error("control socket %s: %s", path, error ? error : strerror(errno));
		close(fd);
		ipc_msg_free(req);
		free(path);
		return -1;
	}
	close(fd);
	free(path);
	return 0;
}

int cli_parse_args(int argc, char **argv, struct cli_args *a, const char *allowed)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--password-stdin") == 0 && strstr(allowed, "p"))
			a->password_stdin = true;
		else if (strcmp(s, "--purge") == 0 && strstr(allowed, "u"))
			a->purge = true;
		else if (strcmp(s, "--changed") == 0 && strstr(allowed, "c"))
			a->changed = true;
		else if (strcmp(s, "--direct") == 0 && strstr(allowed, "d"))
			a->direct = true;
		else if (strcmp(s, "--quota") == 0 && strstr(allowed, "q") && i + 1 < argc)
			a->quota = argv[++i];
		else if (s[0] == '-' && s[1] != '\0') {
			cli_error("unknown option '%s'", s);
			return -1;
		} else if (a->npos < 8) {
			a->pos[a->npos++] = s;
		} else {
			cli_error("too many arguments");
			return -1;
		}
	}
	return 0;
}

/* Exactly n positionals (or between min and max). */
int cli_want_args(const struct cli_args *a, int min, int max, const char *usage)
{
	if (a->npos < min || a->npos > max) {
		cli_error("usage: youju %s", usage);
		return -1;
	}
	return 0;
}

static const struct cli_cmd *find_cmd(int argc, char **argv, int *words_r)
{
	for (const struct cli_cmd *c = cli_commands; c->group; c++) {
		if (strcmp(c->group, argv[0]) != 0)
			continue;
		if (c->name == NULL) {
			*words_r = 1;
			return c;
		}
		if (argc > 1 && strcmp(c->name, argv[1]) == 0) {
			*words_r = 2;
			return c;
		}
	}
	return NULL;
}

int cli_main(int argc, char **argv)
{
	struct cli cli = { 0 };
	char **args = xcalloc((size_t)argc + 1, sizeof(char *));
	int n = 0;

	log_init("cli", LOG_TARGET_STDERR, LOG_LVL_WARN);
	cli.config_path = getenv("YOUJU_CONFIG");
	/* -c FILE / --config FILE may stand anywhere before "--" */
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)) {
			if (i + 1 == argc) {
				cli_error("%s needs a file name", argv[i]);
				return CLI_USAGE;
			}
			cli.config_path = argv[++i];
		} else {
			args[n++] = argv[i];
		}
	}
	if (cli.config_path == NULL || cli.config_path[0] == '\0')
		cli.config_path = YOUJU_DEFAULT_CONFIG;
	if (n == 0 || strcmp(args[0], "--help") == 0 || strcmp(args[0], "-h") == 0) {
		print_overview();
		return n == 0 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(args[0], "--version") == 0)
		return cmd_version(&cli, 0, NULL);
	int words = 0;
	const struct cli_cmd *cmd = find_cmd(n, args, &words);
	if (cmd == NULL) {
		if (print_group(args[0]) > 0) {
			bool help = cli_wants_help(n - 1, args + 1);
			if (!help)
				cli_error("'%s' needs a subcommand (see above)", args[0]);
			return help ? CLI_OK : CLI_USAGE;
		}
		cli_error("unknown command '%s' (try: youju help)", args[0]);
		return CLI_USAGE;
	}
	if (strcmp(cmd->group, "help") != 0 && cli_wants_help(n - words, args + words)) {
		cli_print_usage(cmd);
		return CLI_OK;
	}
	int r = cmd->run(&cli, n - words, args + words);
	config_free(&cli.cfg);
	free(args);
	return r;
}
