#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "mail-store.h"
#include "xalloc.h"

char *mail_store_root(const struct youju_config *cfg, const char *address, const char **error_r)
{
	const char *at = strrchr(address, '@');
	if (at == NULL || at == address || at[1] == '\0') {
		*error_r = "address has no domain";
		return NULL;
	}
	char *local = xstrndup(address, (size_t)(at - address));
	char *domain = xstrdup(at + 1);
	for (char *p = domain; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	char *path = NULL;
	if (!address_local_is_safe_for_path(local) || !domain_is_valid(domain, 0))
		*error_r = "address cannot be a mailbox path";
	else
		path = xasprintf("%s/%s/%s", cfg->mail_dir, domain, local);
	free(local);
	free(domain);
	return path;
}

int mail_store_open(const struct youju_config *cfg, const char *address, uint64_t quota_bytes,
		    struct mail_user **u_r, char **error_r)
{
	const char *err;
	struct mail_user_settings set = { 0 };
	set.hostname = cfg->hostname[0] ? cfg->hostname : NULL;
	set.special[MAIL_SPECIAL_DRAFTS] = cfg->mailbox_drafts;
	set.special[MAIL_SPECIAL_SENT] = cfg->mailbox_sent;
	set.special[MAIL_SPECIAL_TRASH] = cfg->mailbox_trash;
	set.special[MAIL_SPECIAL_JUNK] = cfg->mailbox_junk;
	set.special[MAIL_SPECIAL_ARCHIVE] = cfg->mailbox_archive;
	set.quota_bytes = quota_bytes;
	char *root = mail_store_root(cfg, address, &err);
	if (root == NULL) {
		*error_r = xstrdup(err);
		return -1;
	}
	int r = mail_user_open(root, &set, u_r, error_r);
	free(root);
	return r;
}
