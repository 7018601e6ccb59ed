#ifndef YOUJU_MAIL_USER_H
#define YOUJU_MAIL_USER_H
/*
 * A user's mail store: the folder tree under one Maildir root
 * (mail_dir/DOMAIN/LOCALPART/), special-use folders, subscriptions and
 * quota usage.
 *
 * Layout (Maildir++, as Courier and Dovecot write it, DESIGN.md 9):
 *   ROOT/{cur,new,tmp}            INBOX
 *   ROOT/.Sent/{cur,new,tmp}      "Sent"; each folder also holds an empty
 *                                 "maildirfolder" file (Maildir++)
 *   ROOT/.a.b/                    "a/b": the IMAP hierarchy separator is
 *                                 '/', stored as '.' on disk
 *   ROOT/.INBOX.x/                "INBOX/x" (children of INBOX)
 *   ROOT/youju.subscriptions      subscribed names, one UTF-8 name a line
 *   ROOT/youju.uidvalidity        last UIDVALIDITY handed out to a new folder
 * Each name component is stored in modified UTF-7 (RFC 3501 5.1.3), which
 * is what Dovecot and Courier write, so "Entwürfe" is ".Entw&APw-rfe".
 * A '.' inside a component cannot be stored as itself (it is the on-disk
 * separator): youju encodes it in the base64 run like a non-ASCII
 * character ("v1.2" -> ".v1&AC4-2"). Dovecot's default configuration
 * forbids such names, so this adds no incompatibility.
 *
 * Names (UTF-8, '/'-separated) are refused when they are empty, not valid
 * UTF-8, hold a control character (C0, DEL, C1), start or end with '/',
 * hold "//", "..", or a component starting with '.', or encode to more than
 * 255 bytes on disk. CREATE and RENAME also refuse '%' and '*' (LIST
 * wildcards). "INBOX" is case-insensitive (RFC 9051 5.1); children of INBOX
 * are allowed. Nothing a client names can leave ROOT (anchors IMAP-8,
 * MD-6): every folder is one directory entry of ROOT starting with '.'.
 *
 * Ownership: mail_user_open() returns the one object of that root in this
 * process (reference counted), so every session and delivery of a user
 * shares folders and indexes (DESIGN.md 2: one user, one mail process).
 * Single-threaded.
 *
 * Errors: functions returning int give 0 on success or a negative enum
 * mail_error with a malloc'd *error_r (caller frees; error_r may be NULL).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mail_user;

enum mail_error {
	MAIL_ERR_TEMP = -1,		/* system error (I/O, disk full): try later */
	MAIL_ERR_NOTFOUND = -2,		/* no such folder ([NONEXISTENT]) */
	MAIL_ERR_EXISTS = -3,		/* [ALREADYEXISTS] */
	MAIL_ERR_INVALID = -4,		/* bad name or argument ([CANNOT]) */
	MAIL_ERR_OVERQUOTA = -5,	/* [OVERQUOTA] (RFC 9208) */
	MAIL_ERR_LIMIT = -6,		/* too many keywords ([LIMIT]) */
	MAIL_ERR_EXPUNGED = -7,		/* the message is gone ([EXPUNGEISSUED]) */
};

/* RFC 6154 special uses, in the order of mail_user_settings.special. */
enum mail_special {
	MAIL_SPECIAL_DRAFTS = 0,
	MAIL_SPECIAL_SENT,
	MAIL_SPECIAL_TRASH,
	MAIL_SPECIAL_JUNK,
	MAIL_SPECIAL_ARCHIVE,
	MAIL_SPECIAL_COUNT
};

#define MAIL_SEPARATOR '/'
#define MAIL_SUBSCRIPTIONS_FILE "youju.subscriptions"
#define MAIL_UIDVALIDITY_FILE "youju.uidvalidity"

struct mail_user_settings {
	const char *hostname;		/* for Maildir file names; NULL: gethostname() */
	/* folder names (settings); NULL or "" for none */
	const char *special[MAIL_SPECIAL_COUNT];
	uint64_t quota_bytes;		/* from the directory; 0 = no limit */
	uint64_t quota_messages;	/* 0 = no limit */
};

/*
 * Opens (creating ROOT and its INBOX Maildir if needed) or shares the user
 * at root. set is copied; for a user already open, the quota limits and
 * names are replaced by the new ones (a fresh directory lookup wins).
 */
int mail_user_open(const char *root, const struct mail_user_settings *set, struct mail_user **u_r,
		   char **error_r);
/* Drops one reference; the last one closes every folder. *u = NULL. */
void mail_user_close(struct mail_user **u);
const char *mail_user_root(const struct mail_user *u);

/* LIST attributes (RFC 9051 7.3.1, RFC 5258, RFC 6154). */
enum mail_folder_attr {
	MAIL_FOLDER_NOSELECT = 0x0001,
	MAIL_FOLDER_NONEXISTENT = 0x0002,	/* a parent with no folder of its own,
						   or a subscription to nothing */
	MAIL_FOLDER_HAS_CHILDREN = 0x0004,
	MAIL_FOLDER_HAS_NO_CHILDREN = 0x0008,
	MAIL_FOLDER_SUBSCRIBED = 0x0010,
	MAIL_FOLDER_DRAFTS = 0x0100,		/* MAIL_FOLDER_SPECIAL(MAIL_SPECIAL_x) */
	MAIL_FOLDER_SENT = 0x0200,
	MAIL_FOLDER_TRASH = 0x0400,
	MAIL_FOLDER_JUNK = 0x0800,
	MAIL_FOLDER_ARCHIVE = 0x1000,
};
#define MAIL_FOLDER_SPECIAL(s) (0x0100u << (s))

struct mail_folder_info {
	char *name;		/* UTF-8, '/'-separated, canonical */
	unsigned attrs;		/* enum mail_folder_attr */
};

struct mail_folder_list {
	struct mail_folder_info *items;
	size_t count;
};

/*
 * Every folder: INBOX first, then the others in byte order. Includes the
 * missing parents of existing folders (NONEXISTENT | NOSELECT |
 * HAS_CHILDREN) and subscribed names that do not exist (NONEXISTENT |
 * NOSELECT | SUBSCRIBED): plain LIST shows the first kind, LSUB and
 * LIST (SUBSCRIBED) both. Pattern matching is the caller's. Folders on disk
 * whose names do not decode are skipped (and logged).
 */
int mail_user_list(struct mail_user *u, struct mail_folder_list *list_r, char **error_r);
void mail_folder_list_free(struct mail_folder_list *list);

/* Is there a folder of that name? 1 yes, 0 no, <0 error (invalid name). */
int mail_user_exists(struct mail_user *u, const char *name, char **error_r);
/* RFC 9051 6.3.4: one trailing '/' is dropped; missing parents are created
 * too. EXISTS if the name is taken (INBOX always is). */
int mail_user_create(struct mail_user *u, const char *name, char **error_r);
/* RFC 9051 6.3.5: the folder and its messages go; its children stay
 * (their parent becomes NONEXISTENT). INBOX cannot be deleted (INVALID).
 * Sessions with the folder selected get NOTFOUND from their next sync. */
int mail_user_delete(struct mail_user *u, const char *name, char **error_r);
/*
 * RFC 9051 6.3.6: renames the folder and all its children, and their
 * subscriptions; missing parents of the new name are created. Renaming
 * INBOX moves its messages into a new folder (new UIDs there) and leaves
 * INBOX empty; children of INBOX stay. EXISTS if the new name (or one of
 * the renamed children's) is taken; INVALID for a rename into itself.
 */
int mail_user_rename(struct mail_user *u, const char *oldname, const char *newname,
		     char **error_r);
/* Subscriptions need not exist (RFC 9051 6.3.7); stored atomically. */
int mail_user_subscribe(struct mail_user *u, const char *name, bool subscribe, char **error_r);
/* Creates and subscribes the special-use folders of the settings that do
 * not exist yet (call at each login: five stat() when they exist). */
int mail_user_ensure_special(struct mail_user *u, char **error_r);
/* MAIL_FOLDER_SPECIAL bits of a folder name (0 for none). */
unsigned mail_user_special_use(const struct mail_user *u, const char *name);

/*
 * Quota usage (RFC 9208 STORAGE and MESSAGE): bytes are Maildir file sizes
 * (like Maildir++ S=), over every folder. Computed on first use from each
 * folder's index header and log (opening a folder that has no index), then
 * kept up to date by every change youju makes or finds.
 */
int mail_user_quota(struct mail_user *u, uint64_t *bytes_r, uint64_t *messages_r,
		    char **error_r);
void mail_user_quota_limits(const struct mail_user *u, uint64_t *bytes_r, uint64_t *messages_r);

/* Validation alone (the rules above); create = the stricter CREATE rules. */
int mail_user_name_check(const char *name, bool create, char **error_r);

#endif
