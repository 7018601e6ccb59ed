#ifndef YOUJU_PRIVSEP_H
#define YOUJU_PRIVSEP_H
/*
 * Privilege separation helpers. When the process is root, each role gives
 * up root for its configured user (and front also chroots to an empty
 * directory) before it reads a single byte from the network. When not root
 * (dev mode) every role stays the invoking user: same code paths, no-ops.
 */
#include <stdbool.h>
#include <sys/types.h>

bool privsep_is_root(void);
/* Resolve a user name; -1 with *error_r (malloc'd) when it does not exist. */
int privsep_lookup_user(const char *user, uid_t *uid_r, gid_t *gid_r, char **error_r);
/* chroot (if dir != NULL) then drop to user for good. Root only; no-op in
 * dev mode. Returns -1 with *error_r (malloc'd) on failure. */
int privsep_drop(const char *user, const char *chroot_dir, char **error_r);

#endif
