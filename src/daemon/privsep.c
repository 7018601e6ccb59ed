#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "privsep.h"
#include "xalloc.h"

bool privsep_is_root(void)
{
	return geteuid() == 0;
}

int privsep_lookup_user(const char *user, uid_t *uid_r, gid_t *gid_r, char **error_r)
{
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		*error_r = errno ? xasprintf("cannot look up user %s: %s", user, strerror(errno))
				 : xasprintf("user %s does not exist (create it with: "
					     "useradd --system --no-create-home --shell /usr/sbin/nologin %s)",
					     user, user);
		return -1;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

int privsep_drop(const char *user, const char *chroot_dir, char **error_r)
{
	uid_t uid;
	gid_t gid;

	if (!privsep_is_root())
		return 0;
	/* look the user up before chroot: /etc/passwd is not inside it */
	if (privsep_lookup_user(user, &uid, &gid, error_r) < 0)
		return -1;
	if (uid == 0) {
		*error_r = xasprintf("refusing to run a role as root (user %s has uid 0)", user);
		return -1;
	}
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) < 0 || chdir("/") < 0) {
			*error_r = xasprintf("chroot(%s): %s", chroot_dir, strerror(errno));
			return -1;
		}
	}
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		*error_r = xasprintf("cannot drop privileges to %s: %s", user, strerror(errno));
		return -1;
	}
	/* paranoia: root must be gone for good */
	if (setuid(0) == 0 || seteuid(0) == 0) {
		*error_r = xasprintf("privileges could be regained after dropping to %s", user);
		return -1;
	}
	return 0;
}
