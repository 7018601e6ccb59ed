#ifndef YOUJU_MAIL_STORE_H
#define YOUJU_MAIL_STORE_H
/*
 * How the mail role finds a user's store: <mail_dir>/<domain>/<localpart>
 * (domain lower-cased), refusing any address that could name a path
 * outside mail_dir, and opened with the configured special-use folder
 * names and the user's quota from the directory.
 */
#include <stdint.h>

#include "config.h"
#include "mail-user.h"

/* malloc'd root path, or NULL with a static *error_r. */
char *mail_store_root(const struct youju_config *cfg, const char *address, const char **error_r);
/* quota_bytes: from the directory (0 = unlimited). -1 with *error_r. */
int mail_store_open(const struct youju_config *cfg, const char *address, uint64_t quota_bytes,
		    struct mail_user **u_r, char **error_r);

#endif
