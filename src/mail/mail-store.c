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

/* The most recently used users, each held open by one extra reference
 * (mail_user_open shares an open user): the next session or delivery of
 * one of them finds its indexes in memory instead of reading them again. */
struct kept_user {
	struct mail_user *u;
	uint64_t used;
};
static struct kept_user *kept;
static size_t nkept, kept_alloc;
static uint64_t use_clock;

static void keep(const struct youju_config *cfg, const char *root, const struct mail_user_settings *set)
{
	size_t max = (size_t)cfg->mail_keep_users, oldest = 0;
	for (size_t i = 0; i < nkept; i++) {
		if (strcmp(mail_user_root(kept[i].u), root) == 0) {
			kept[i].used = ++use_clock;
			return;
		}
		if (kept[i].used < kept[oldest].used)
			oldest = i;
	}
	while (nkept > max) {
		/* the setting was lowered: shrink from the end */
		mail_user_close(&kept[--nkept].u);
		oldest = 0;
	}
	if (max == 0)
		return;
	struct mail_user *u;
	if (mail_user_open(root, set, &u, NULL) < 0)
		return;
	if (nkept == max) {
		mail_user_close(&kept[oldest].u);
		kept[oldest] = (struct kept_user){ u, ++use_clock };
		return;
	}
	if (nkept == kept_alloc) {
		kept_alloc = kept_alloc ? kept_alloc * 2 : 16;
		kept = xreallocarray(kept, kept_alloc, sizeof(*kept));
	}
	kept[nkept++] = (struct kept_user){ u, ++use_clock };
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
	if (r == 0)
		keep(cfg, root, &set);
	free(root);
	return r;
}
