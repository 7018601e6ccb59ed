#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "dir.h"
#include "log.h"
#include "master.h"
#include "privsep.h"
#include "xalloc.h"

/* mkdir -p; the last component gets mode, parents 0755. */
static int mkdir_p(const char *path, mode_t mode, char **error_r)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			*error_r = xasprintf("mkdir %s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		*error_r = xasprintf("mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("%s is not a directory", path);
		return -1;
	}
	return 0;
}

static int mkdir_parent(const char *file, char **error_r)
{
	char *copy = xstrdup(file);
	int r = mkdir_p(dirname(copy), 0755, error_r);
	free(copy);
	return r;
}

/* Give a path to a role user (root only; dev mode keeps the invoking user). */
static int own(const char *path, const char *user, bool group_only, mode_t mode, char **error_r)
{
	uid_t uid;
	gid_t gid;
	if (!privsep_is_root())
		return 0;
	if (privsep_lookup_user(user, &uid, &gid, error_r) < 0)
		return -1;
	if (chown(path, group_only ? 0 : uid, gid) < 0 || chmod(path, mode) < 0) {
		*error_r = xasprintf("cannot set owner of %s to %s: %s", path, user, strerror(errno));
		return -1;
	}
	return 0;
}

int master_setup_dirs(const struct youju_config *cfg, char **error_r)
{
	if (privsep_is_root()) {
		/* every role user must exist before anything is created */
		const char *users[] = { cfg->front_user, cfg->auth_user, cfg->queue_user, cfg->mail_user };
		for (size_t i = 0; i < 4; i++) {
			uid_t uid;
			gid_t gid;
			if (privsep_lookup_user(users[i], &uid, &gid, error_r) < 0)
				return -1;
		}
	}
	if (mkdir_p(cfg->state_dir, 0755, error_r) < 0 ||
	    mkdir_parent(cfg->control_socket, error_r) < 0 ||
	    mkdir_parent(cfg->pid_file, error_r) < 0 ||
	    mkdir_p(cfg->spool_dir, 0750, error_r) < 0 ||
	    own(cfg->spool_dir, cfg->queue_user, false, 0750, error_r) < 0 ||
	    mkdir_p(cfg->mail_dir, 0750, error_r) < 0 ||
	    own(cfg->mail_dir, cfg->mail_user, false, 0750, error_r) < 0)
		return -1;
	if (privsep_is_root()) {
		/* front's chroot: empty and not writable by the role */
		if (mkdir_p(cfg->front_chroot, 0755, error_r) < 0)
			return -1;
		if (chown(cfg->front_chroot, 0, 0) < 0 || chmod(cfg->front_chroot, 0755) < 0) {
			*error_r = xasprintf("cannot secure %s: %s", cfg->front_chroot, strerror(errno));
			return -1;
		}
	}
	/* create or upgrade the directory schema now, as the one writer at
	 * start; the auth role then opens it read-only */
	if (mkdir_parent(cfg->sqlite_path, error_r) < 0)
		return -1;
	struct directory *dir = NULL;
	char *err = NULL;
	if (dir_open_sqlite(cfg->sqlite_path, false, &dir, &err) < 0) {
		*error_r = xasprintf("directory %s: %s", cfg->sqlite_path, err);
		free(err);
		return -1;
	}
	dir_close(&dir);
	return own(cfg->sqlite_path, cfg->auth_user, true, 0640, error_r);
}
