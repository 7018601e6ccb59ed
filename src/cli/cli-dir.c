/* youju domain|user|alias: directory administration, one transaction per
 * command, straight on the configured directory. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "cli.h"
#include "password.h"
#include "settings.h"
#include "xalloc.h"

static int finish(struct directory **dir, int r, char *error, const char *done, const char *arg)
{
	if (r < 0) {
		cli_error("%s", error ? error : "failed");
		free(error);
	} else if (done) {
		printf("%s %s\n", done, arg);
	}
	dir_close(dir);
	return r < 0 ? CLI_ERR : CLI_OK;
}

static void print_list(struct dir_strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		printf("%s\n", l->items[i]);
	dir_strlist_free(l);
}

int cmd_domain_add(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	char *error = NULL;
	if (cli_parse_args(argc, argv, &a, "") < 0 || cli_want_args(&a, 1, 1, "domain add DOMAIN") < 0)
		return CLI_USAGE;
	if (!domain_is_valid(a.pos[0], 0)) {
		cli_error("'%s' is not a valid domain name", a.pos[0]);
		return CLI_ERR;
	}
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	int r = dir_domain_add(dir, a.pos[0], &error);
	return finish(&dir, r, error, "added domain", a.pos[0]);
}

int cmd_domain_del(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	char *error = NULL;
	if (cli_parse_args(argc, argv, &a, "") < 0 || cli_want_args(&a, 1, 1, "domain del DOMAIN") < 0)
		return CLI_USAGE;
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	int r = dir_domain_del(dir, a.pos[0], &error);
	return finish(&dir, r, error, "deleted domain", a.pos[0]);
}

int cmd_domain_list(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	struct dir_strlist l = { 0 };
	char *error = NULL;
	if (cli_parse_args(argc, argv, &a, "") < 0 || cli_want_args(&a, 0, 0, "domain list") < 0)
		return CLI_USAGE;
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	int r = dir_domain_list(dir, &l, &error);
	if (r == 0)
		print_list(&l);
	return finish(&dir, r, error, NULL, NULL);
}

/* Parse and check an address given on the command line; prints why not. */
static int check_address(const char *s, struct mail_address *addr)
{
	const char *error = NULL;
	if (address_parse(s, 0, addr, &error) < 0) {
		cli_error("'%s' is not a valid address: %s", s, error);
		return -1;
	}
	return 0;
}

static int hash_new_password(struct cli *cli, bool from_stdin, char **hash_r)
{
	const char *error = NULL;
	char *pw = cli_read_password(from_stdin, !from_stdin);
	if (pw == NULL)
		return -1;
	int r = password_hash(pw, cli->cfg->password_scheme, hash_r, &error);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	if (r < 0)
		cli_error("cannot hash the password: %s", error);
	return r;
}

int cmd_user_add(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	struct mail_address addr = { 0 };
	char *error = NULL, *hash = NULL;
	int64_t quota = 0;

	if (cli_parse_args(argc, argv, &a, "pq") < 0 ||
	    cli_want_args(&a, 1, 1, "user add ADDRESS [--quota SIZE] [--password-stdin]") < 0)
		return CLI_USAGE;
	if (check_address(a.pos[0], &addr) < 0)
		return CLI_ERR;
	if (!address_local_is_safe_for_path(addr.local)) {
		cli_error("'%s' cannot be a mailbox name (no '/', control characters, leading '.' or '..')", addr.local);
		mail_address_free(&addr);
		return CLI_ERR;
	}
	mail_address_free(&addr);
	if (a.quota) {
		static const struct setting_def quota_row = { "--quota", SET_SIZE, "0", 0, INT64_MAX, false, 0, "", NULL };
		char *err = NULL;
		if (settings_parse_value(&quota_row, a.quota, &quota, &err) < 0) {
			cli_error("bad --quota: %s", err);
			free(err);
			return CLI_USAGE;
		}
	}
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	if (hash_new_password(cli, a.password_stdin, &hash) < 0) {
		dir_close(&dir);
		return CLI_ERR;
	}
	int r = dir_user_add(dir, a.pos[0], hash, quota, &error);
	free(hash);
	return finish(&dir, r, error, "added user", a.pos[0]);
}

int cmd_user_passwd(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	char *error = NULL, *hash = NULL;
	if (cli_parse_args(argc, argv, &a, "p") < 0 ||
	    cli_want_args(&a, 1, 1, "user passwd ADDRESS [--password-stdin]") < 0)
		return CLI_USAGE;
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	if (hash_new_password(cli, a.password_stdin, &hash) < 0) {
		dir_close(&dir);
		return CLI_ERR;
	}
	int r = dir_user_passwd(dir, a.pos[0], hash, &error);
	free(hash);
	return finish(&dir, r, error, "changed the password of", a.pos[0]);
}

int cmd_user_list(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	struct dir_strlist l = { 0 };
	char *error = NULL;
	if (cli_parse_args(argc, argv, &a, "") < 0 || cli_want_args(&a, 0, 1, "user list [DOMAIN]") < 0)
		return CLI_USAGE;
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	int r = dir_user_list(dir, a.npos ? a.pos[0] : NULL, &l, &error);
	if (r == 0)
		print_list(&l);
	return finish(&dir, r, error, NULL, NULL);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	int r = flag == FTW_DP ? rmdir(path) : unlink(path);
	if (r < 0)
		cli_error("cannot remove %s: %s", path, strerror(errno));
	return r < 0 ? -1 : 0;
}

/* Remove <mail_dir>/<domain>/<local>/ without following symlinks. */
static int purge_maildir(struct cli *cli, const char *email)
{
	struct mail_address addr = { 0 };
	if (check_address(email, &addr) < 0)
		return -1;
	if (!address_local_is_safe_for_path(addr.local) || !domain_is_valid(addr.domain, 0)) {
		cli_error("refusing to purge a Maildir for '%s'", email);
		mail_address_free(&addr);
		return -1;
	}
	char *path = xasprintf("%s/%s/%s", cli->cfg->mail_dir, addr.domain, addr.local);
	mail_address_free(&addr);
	struct stat st;
	int r = 0;
	if (lstat(path, &st) == 0) {
		r = nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
		if (r == 0)
			printf("removed %s\n", path);
	} else if (errno != ENOENT) {
		cli_error("cannot inspect %s: %s", path, strerror(errno));
		r = -1;
	}
	free(path);
	return r;
}

int cmd_user_del(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	char *error = NULL;
	if (cli_parse_args(argc, argv, &a, "u") < 0 || cli_want_args(&a, 1, 1, "user del ADDRESS [--purge]") < 0)
		return CLI_USAGE;
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	int r = dir_user_del(dir, a.pos[0], &error);
	r = finish(&dir, r, error, "deleted user", a.pos[0]);
	if (r == CLI_OK && a.purge && purge_maildir(cli, a.pos[0]) < 0)
		r = CLI_ERR;
	return r;
}

int cmd_alias_add(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	char *error = NULL;
	if (cli_parse_args(argc, argv, &a, "") < 0 || cli_want_args(&a, 2, 2, "alias add SOURCE DESTINATION") < 0)
		return CLI_USAGE;
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	int r = dir_alias_add(dir, a.pos[0], a.pos[1], (int)cli->cfg->alias_max_depth, &error);
	if (r == 0)
		printf("added alias %s -> %s\n", a.pos[0], a.pos[1]);
	return finish(&dir, r, error, NULL, NULL);
}

int cmd_alias_del(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	char *error = NULL;
	if (cli_parse_args(argc, argv, &a, "") < 0 || cli_want_args(&a, 1, 2, "alias del SOURCE [DESTINATION]") < 0)
		return CLI_USAGE;
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	int r = dir_alias_del(dir, a.pos[0], a.npos > 1 ? a.pos[1] : NULL, &error);
	return finish(&dir, r, error, "deleted alias", a.pos[0]);
}

int cmd_alias_list(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	struct directory *dir = NULL;
	struct dir_strlist src = { 0 }, dst = { 0 };
	char *error = NULL;
	if (cli_parse_args(argc, argv, &a, "") < 0 || cli_want_args(&a, 0, 1, "alias list [DOMAIN]") < 0)
		return CLI_USAGE;
	if (cli_dir_open(cli, &dir) < 0)
		return CLI_ERR;
	int r = dir_alias_list(dir, a.npos ? a.pos[0] : NULL, &src, &dst, &error);
	if (r == 0) {
		for (size_t i = 0; i < src.count && i < dst.count; i++)
			printf("%s -> %s\n", src.items[i], dst.items[i]);
		dir_strlist_free(&src);
		dir_strlist_free(&dst);
	}
	return finish(&dir, r, error, NULL, NULL);
}

