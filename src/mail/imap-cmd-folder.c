/*
 * Folder commands: CREATE, DELETE, RENAME (RFC 9051 6.3.4-6.3.6),
 * SUBSCRIBE and UNSUBSCRIBE (6.3.7, 6.3.8), LIST (6.3.9 with LIST-EXTENDED
 * RFC 5258, SPECIAL-USE RFC 6154, LIST-STATUS RFC 5819), LSUB (RFC 3501
 * 6.3.9), STATUS (6.3.11 with SIZE RFC 8438, HIGHESTMODSEQ RFC 7162,
 * APPENDLIMIT RFC 7889), GETQUOTA and GETQUOTAROOT (RFC 9208; SETQUOTA is
 * refused: limits come from the directory).
 *
 * One personal namespace, "" with separator "/" (mail-user.h). LIST works
 * on a snapshot of the folder tree taken when the command starts and
 * writes it in slices (cont), so a huge tree or LIST-STATUS never piles
 * more than IMAP_OUTPUT_HIGH octets on a client that does not read.
 *
 * Attributes in LIST responses:
 *  - a name with no folder of its own (a parent, or a subscription to
 *    nothing): \Noselect in basic LIST and LSUB, \NonExistent (which
 *    implies \Noselect, RFC 5258 3) in extended LIST;
 *  - \HasChildren / \HasNoChildren always in LIST (CHILDREN, RFC 3348; RFC
 *    9051 6.3.9.5 lets the server send them unasked), never in LSUB (RFC
 *    3348 3: LSUB carries no hierarchy information);
 *  - special uses (\Drafts \Sent \Trash \Junk \Archive) on existing
 *    folders, in every LIST and LSUB (RFC 6154 2 allows them unasked);
 *  - \Subscribed only when asked for (SUBSCRIBED selection or return
 *    option).
 * These are the same after ENABLE IMAP4rev2: RFC 9051 still returns
 * \Noselect for the hierarchy levels a basic LIST "%" reaches (6.3.9),
 * keeps LIST-EXTENDED's \NonExistent, and the children attributes are
 * already always there. LSUB and STATUS RECENT stay available in rev2 mode
 * for clients that mix the two (a rev2-only client never sends them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "imap-client.h"
#include "imap-match.h"
#include "imap-utf7.h"
#include "imap-write.h"
#include "log.h"
#include "xalloc.h"

/* Patterns in one LIST command (RFC 5258 allows a list of them). */
#define LIST_MAX_PATTERNS 32

#define SPECIAL_USE_MASK (MAIL_FOLDER_DRAFTS | MAIL_FOLDER_SENT | MAIL_FOLDER_TRASH | \
			  MAIL_FOLDER_JUNK | MAIL_FOLDER_ARCHIVE)

/* Decoded mailbox name argument, or BAD. Returns -1 after the reply. */
static int arg_mailbox(struct imap_cmd *cmd, const struct imap_arg *arg, char **name_r)
{
	const char *error;

	if (imap_arg_mailbox(cmd->c, arg, name_r, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return -1;
	}
	return 0;
}

/* ---- CREATE, DELETE, RENAME ---- */

enum imap_cmd_result imap_cmd_create(struct imap_cmd *cmd)
{
	char *name, *error = NULL;
	int ret;

	/* CREATE-SPECIAL-USE (RFC 6154 3) is not offered: no parameters */
	if (cmd->count != 1) {
		imap_cmd_bad(cmd, "CREATE needs one mailbox name");
		return IMAP_CMD_DONE;
	}
	if (arg_mailbox(cmd, &cmd->args[0], &name) < 0)
		return IMAP_CMD_DONE;
	ret = mail_user_create(cmd->c->mu, name, &error);
	if (ret < 0) {
		imap_cmd_mail_error(cmd, ret, error, false);
	} else {
		log_info("imap user=%s create mailbox=%s", cmd->c->user, name);
		imap_cmd_ok(cmd, "Create completed.");
	}
	free(error);
	free(name);
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_cmd_delete(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	char *name, *error = NULL;
	int ret;

	if (cmd->count != 1) {
		imap_cmd_bad(cmd, "DELETE needs one mailbox name");
		return IMAP_CMD_DONE;
	}
	if (arg_mailbox(cmd, &cmd->args[0], &name) < 0)
		return IMAP_CMD_DONE;
	/* The selected mailbox may go too. Other sessions find it gone at
	   their next sync; this one leaves it first (back to the
	   authenticated state, as Dovecot does) so that it gets its OK. */
	if (c->box != NULL && strcmp(mailbox_name(c->box), name) == 0 &&
	    strcmp(name, "INBOX") != 0 && mail_user_exists(c->mu, name, NULL) == 1) {
		imap_client_unselect(c);
		imap_out_cstr(c, "* OK [CLOSED] The selected mailbox is being deleted\r\n");
	}
	ret = mail_user_delete(c->mu, name, &error);
	if (ret < 0) {
		imap_cmd_mail_error(cmd, ret, error, false);
	} else {
		log_info("imap user=%s delete mailbox=%s", c->user, name);
		imap_cmd_ok(cmd, "Delete completed.");
	}
	free(error);
	free(name);
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_cmd_rename(struct imap_cmd *cmd)
{
	char *from = NULL, *to = NULL, *error = NULL;
	int ret;

	if (cmd->count != 2) {
		imap_cmd_bad(cmd, "RENAME needs two mailbox names");
		return IMAP_CMD_DONE;
	}
	if (arg_mailbox(cmd, &cmd->args[0], &from) < 0 ||
	    arg_mailbox(cmd, &cmd->args[1], &to) < 0)
		goto out;
	/* RFC 9051 6.3.6: renaming INBOX moves its messages and leaves it
	   empty; the store does that */
	ret = mail_user_rename(cmd->c->mu, from, to, &error);
	if (ret < 0) {
		imap_cmd_mail_error(cmd, ret, error, false);
	} else {
		log_info("imap user=%s rename mailbox=%s to=%s", cmd->c->user, from, to);
		imap_cmd_ok(cmd, "Rename completed.");
	}
out:
	free(error);
	free(from);
	free(to);
	return IMAP_CMD_DONE;
}

/* ---- SUBSCRIBE, UNSUBSCRIBE ---- */

enum imap_cmd_result imap_cmd_subscribe(struct imap_cmd *cmd)
{
	bool subscribe = strcmp(cmd->name, "SUBSCRIBE") == 0;
	char *name, *error = NULL;
	int ret;

	if (cmd->count != 1) {
		imap_cmd_bad(cmd, "%s needs one mailbox name", cmd->name);
		return IMAP_CMD_DONE;
	}
	if (arg_mailbox(cmd, &cmd->args[0], &name) < 0)
		return IMAP_CMD_DONE;
	/* RFC 9051 6.3.7: the name need not exist; 6.3.8: unsubscribing a
	   name that is not subscribed is no error */
	ret = mail_user_subscribe(cmd->c->mu, name, subscribe, &error);
	if (ret < 0)
		imap_cmd_mail_error(cmd, ret, error, false);
	else
		imap_cmd_ok(cmd, "%s completed.", subscribe ? "Subscribe" : "Unsubscribe");
	free(error);
	free(name);
	return IMAP_CMD_DONE;
}

/* ---- STATUS items (STATUS and LIST RETURN (STATUS ...)) ---- */

enum status_item {
	ST_MESSAGES,
	ST_RECENT,
	ST_UIDNEXT,
	ST_UIDVALIDITY,
	ST_UNSEEN,
	ST_DELETED,
	ST_SIZE,
	ST_HIGHESTMODSEQ,
	ST_APPENDLIMIT,
	ST_COUNT
};

static const char *const status_names[ST_COUNT] = {
	"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE",
	"HIGHESTMODSEQ", "APPENDLIMIT",
};

/* The items in the client's order, each once. */
struct status_req {
	enum status_item items[ST_COUNT];
	size_t n;
};

static bool status_wants(const struct status_req *r, enum status_item it)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i] == it)
			return true;
	return false;
}

/* RFC 9051 6.3.11: "(" status-att *(SP status-att) ")". RECENT (RFC 3501
 * only) is answered in both modes: a number never hurts a client that asks.
 * Returns NULL or a static error for BAD. */
static const char *status_parse(const struct imap_arg *list, size_t n, struct status_req *r)
{
	memset(r, 0, sizeof(*r));
	if (n == 0)
		return "Empty list of STATUS items";
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t k;
		if (!imap_arg_get_atom(&list[i], &s))
			return "Invalid STATUS item";
		for (k = 0; k < ST_COUNT; k++)
			if (strcasecmp(s, status_names[k]) == 0)
				break;
		if (k == ST_COUNT)
			return "Unknown STATUS item";
		if (!status_wants(r, (enum status_item)k))
			r->items[r->n++] = (enum status_item)k;
	}
	return NULL;
}

/* RFC 7162 3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling command. */
static void status_enable(struct imap_client *c, const struct status_req *r)
{
	if (status_wants(r, ST_HIGHESTMODSEQ))
		imap_enable_condstore(c);
}

/*
 * Appends "* STATUS name (...)" CRLF for the folder name (the selected
 * view when it is that folder). Returns 0, or a negative enum mail_error
 * with *error_r (malloc'd) and out unchanged.
 */
static int status_write(struct imap_client *c, const char *name, const struct status_req *r,
			buf_t *out, char **error_r)
{
	struct mailbox *box = NULL, *own = NULL;
	struct mailbox_status st;
	uint64_t size = 0;
	size_t start = out->used;
	int ret;

	if (c->box != NULL && strcmp(mailbox_name(c->box), name) == 0) {
		box = c->box;
	} else {
		ret = mailbox_open(c->mu, name, MAILBOX_OPEN_READONLY, &own, error_r);
		if (ret < 0)
			return ret;
		box = own;
	}
	mailbox_get_status(box, &st);
	if (status_wants(r, ST_SIZE)) {
		ret = mailbox_get_vsize_total(box, &size, error_r);
		if (ret < 0) {
			mailbox_close(&own);
			return ret;
		}
	}
	mailbox_close(&own);

	buf_append_cstr(out, "* STATUS ");
	if (imap_write_mailbox_name(out, name, strlen(name), c->wflags) < 0) {
		buf_truncate(out, start);
		*error_r = xstrdup("Mailbox name cannot be written");
		return MAIL_ERR_TEMP;
	}
	buf_append_cstr(out, " (");
	for (size_t i = 0; i < r->n; i++) {
		unsigned long long v = 0;
		switch (r->items[i]) {
		case ST_MESSAGES: v = st.messages; break;
		case ST_RECENT: v = st.recent; break;
		case ST_UIDNEXT: v = st.uidnext; break;
		case ST_UIDVALIDITY: v = st.uidvalidity; break;
		case ST_UNSEEN: v = st.unseen; break;
		case ST_DELETED: v = st.deleted; break;
		case ST_SIZE: v = size; break;
		case ST_HIGHESTMODSEQ: v = st.highestmodseq; break;
		case ST_APPENDLIMIT: v = (unsigned long long)c->ctx->cfg->imap_append_limit; break;
		case ST_COUNT: break;
		}
		buf_printf(out, "%s%s %llu", i ? " " : "", status_names[r->items[i]], v);
	}
	buf_append_cstr(out, ")\r\n");
	return 0;
}

enum imap_cmd_result imap_cmd_status(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	const struct imap_arg *list;
	struct status_req req;
	const char *perr;
	char *name, *error = NULL;
	size_t n;
	buf_t b;
	int ret;

	if (cmd->count != 2 || !imap_arg_get_list(&cmd->args[1], &list, &n)) {
		imap_cmd_bad(cmd, "STATUS needs a mailbox name and a list of items");
		return IMAP_CMD_DONE;
	}
	if (arg_mailbox(cmd, &cmd->args[0], &name) < 0)
		return IMAP_CMD_DONE;
	perr = status_parse(list, n, &req);
	if (perr != NULL) {
		imap_cmd_bad(cmd, "%s", perr);
		free(name);
		return IMAP_CMD_DONE;
	}
	status_enable(c, &req);
	buf_init(&b, 0);
	ret = status_write(c, name, &req, &b, &error);
	if (ret < 0) {
		imap_cmd_mail_error(cmd, ret, error, false);
	} else {
		imap_out_buf(c, &b);
		imap_cmd_ok(cmd, "Status completed.");
	}
	buf_free(&b);
	free(error);
	free(name);
	return IMAP_CMD_DONE;
}

/* ---- LIST, LSUB ---- */

enum list_select {
	SEL_SUBSCRIBED = 0x1,
	SEL_SPECIAL_USE = 0x2,
	SEL_RECURSIVEMATCH = 0x4,
};

struct list_entry {
	char *name;
	unsigned attrs;		/* enum mail_folder_attr */
	bool ancestor;		/* added here as a parent of a subscription */
	bool selected;		/* meets the selection criteria itself */
	bool child_selected;	/* a descendant does (RECURSIVEMATCH, LSUB "%") */
};

struct list_state {
	bool lsub;
	bool extended;		/* RFC 5258 syntax in use */
	unsigned select;	/* enum list_select */
	bool ret_subscribed;
	bool ret_status;
	struct status_req status;
	struct imap_match *patterns[LIST_MAX_PATTERNS];
	size_t npatterns;
	struct list_entry *entries;
	size_t count, alloc, next;
};

static void list_state_free(void *p)
{
	struct list_state *st = p;

	for (size_t i = 0; i < st->npatterns; i++)
		imap_match_destroy(&st->patterns[i]);
	for (size_t i = 0; i < st->count; i++)
		free(st->entries[i].name);
	free(st->entries);
	free(st);
}

static const char *list_parse_select(struct list_state *st, const struct imap_arg *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *s;
		if (!imap_arg_get_atom(&list[i], &s))
			return "Invalid LIST selection option";
		if (strcasecmp(s, "SUBSCRIBED") == 0)
			st->select |= SEL_SUBSCRIBED;
		else if (strcasecmp(s, "SPECIAL-USE") == 0)
			st->select |= SEL_SPECIAL_USE;
		else if (strcasecmp(s, "RECURSIVEMATCH") == 0)
			st->select |= SEL_RECURSIVEMATCH;
		else if (strcasecmp(s, "REMOTE") != 0)	/* no remote mailboxes: nothing to add */
			return "Unknown LIST selection option";
	}
	/* RFC 5258 3.1: not alone, nor with REMOTE only */
	if ((st->select & SEL_RECURSIVEMATCH) && !(st->select & (SEL_SUBSCRIBED | SEL_SPECIAL_USE)))
		return "RECURSIVEMATCH needs another selection option";
	return NULL;
}

static const char *list_parse_return(struct list_state *st, const struct imap_arg *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *items;
		size_t nitems;
		const char *s, *err;
		if (!imap_arg_get_atom(&list[i], &s))
			return "Invalid LIST return option";
		if (strcasecmp(s, "SUBSCRIBED") == 0) {
			st->ret_subscribed = true;
		} else if (strcasecmp(s, "CHILDREN") == 0 || strcasecmp(s, "SPECIAL-USE") == 0) {
			/* sent in any case */
		} else if (strcasecmp(s, "STATUS") == 0) {
			/* RFC 5819: STATUS (items) */
			if (i + 1 >= n || !imap_arg_get_list(&list[i + 1], &items, &nitems))
				return "STATUS return option needs a list of items";
			err = status_parse(items, nitems, &st->status);
			if (err != NULL)
				return err;
			st->ret_status = true;
			i++;
		} else {
			return "Unknown LIST return option";
		}
	}
	return NULL;
}

/* A list-mailbox argument (RFC 9051 9: astring or atom with "%" and "*"),
 * decoded like imap_arg_mailbox() but kept as sent otherwise. */
static char *arg_pattern(struct imap_client *c, const struct imap_arg *arg, const char **error_r)
{
	const char *s;
	size_t len;
	buf_t b;
	char *ret;

	if (!imap_arg_get_list_mailbox(arg, &s, &len) || memchr(s, '\0', len) != NULL) {
		*error_r = "Invalid mailbox pattern";
		return NULL;
	}
	if (len > IMAP_MATCH_MAX_LEN) {
		*error_r = "Mailbox pattern too long";
		return NULL;
	}
	buf_init(&b, IMAP_MATCH_MAX_LEN * 4);
	if (c->utf8) {
		if (!imap_utf8_is_valid(s, len) || buf_append(&b, s, len) < 0) {
			buf_free(&b);
			*error_r = "Mailbox pattern is not valid UTF-8";
			return NULL;
		}
	} else if (imap_utf7_to_utf8(s, len, &b) < 0) {
		buf_free(&b);
		*error_r = "Mailbox pattern is not valid modified UTF-7";
		return NULL;
	}
	ret = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return ret;
}

/* Compiles reference + pattern (RFC 9051 6.3.9: the reference is
 * prepended; names here have no root to go back to). */
static const char *list_add_pattern(struct list_state *st, const char *ref, const char *pattern)
{
	const char *err = NULL;
	char *full;

	if (st->npatterns == LIST_MAX_PATTERNS)
		return "Too many mailbox patterns";
	full = xasprintf("%s%s", ref, pattern);
	st->patterns[st->npatterns] = imap_match_create(full, strlen(full), MAIL_SEPARATOR, &err);
	free(full);
	if (st->patterns[st->npatterns] == NULL)
		return err;
	st->npatterns++;
	return NULL;
}

/* INBOX first, then byte order (as mail_user_list sorts). */
static int entry_name_cmp(const void *a, const void *b)
{
	const struct list_entry *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;

	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The same, and for one name the store's entry before a parent added
 * here. */
static int entry_cmp(const void *a, const void *b)
{
	const struct list_entry *x = a, *y = b;
	int d = entry_name_cmp(a, b);

	return d != 0 ? d : (int)x->ancestor - (int)y->ancestor;
}

/* After list_build() made the names unique. */
static struct list_entry *entry_find(struct list_state *st, char *name)
{
	struct list_entry key = { .name = name };
	return bsearch(&key, st->entries, st->count, sizeof(key), entry_name_cmp);
}

static void entry_add(struct list_state *st, char *name, unsigned attrs, bool ancestor)
{
	if (st->count == st->alloc) {
		st->alloc = st->alloc ? st->alloc * 2 : 32;
		st->entries = xreallocarray(st->entries, st->alloc, sizeof(*st->entries));
	}
	st->entries[st->count++] = (struct list_entry){ .name = name, .attrs = attrs,
							.ancestor = ancestor };
}

static bool entry_selected(const struct list_state *st, const struct list_entry *e)
{
	bool exists = !(e->attrs & MAIL_FOLDER_NONEXISTENT);

	if (st->lsub)
		return (e->attrs & MAIL_FOLDER_SUBSCRIBED) != 0;
	if (st->select & (SEL_SUBSCRIBED | SEL_SPECIAL_USE)) {
		if ((st->select & SEL_SUBSCRIBED) && !(e->attrs & MAIL_FOLDER_SUBSCRIBED))
			return false;
		if ((st->select & SEL_SPECIAL_USE) &&
		    !(exists && (e->attrs & SPECIAL_USE_MASK)))
			return false;
		return true;
	}
	/* plain: folders, and the levels of hierarchy above them */
	return exists || (e->attrs & MAIL_FOLDER_HAS_CHILDREN);
}

/* The snapshot: the store's list, the parents of subscriptions (LSUB and
 * RECURSIVEMATCH report them), and which entries are selected. */
static int list_build(struct imap_client *c, struct list_state *st, char **error_r)
{
	struct mail_folder_list fl;
	bool parents = st->lsub || (st->select & SEL_RECURSIVEMATCH);
	size_t nstore;
	int ret;

	ret = mail_user_list(c->mu, &fl, error_r);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < fl.count; i++) {
		entry_add(st, fl.items[i].name, fl.items[i].attrs, false);
		fl.items[i].name = NULL;
	}
	mail_folder_list_free(&fl);
	nstore = st->count;
	if (parents) {
		/* The store's list is sorted, so an ancestor shared with an
		 * earlier subscription is shared with the one just before:
		 * stop there, and every ancestor is added about once (no
		 * blow-up from many deep subscriptions). */
		const char *prev = NULL;
		for (size_t i = 0; i < nstore; i++) {
			if (!(st->entries[i].attrs & MAIL_FOLDER_SUBSCRIBED))
				continue;
			char *name = xstrdup(st->entries[i].name);
			for (char *slash = strrchr(name, MAIL_SEPARATOR); slash != NULL;
			     slash = strrchr(name, MAIL_SEPARATOR)) {
				size_t len = (size_t)(slash - name);
				*slash = '\0';
				if (prev != NULL && strncmp(prev, name, len) == 0 &&
				    prev[len] == MAIL_SEPARATOR)
					break;
				entry_add(st, xstrdup(name),
					  MAIL_FOLDER_NONEXISTENT | MAIL_FOLDER_NOSELECT, true);
			}
			free(name);
			prev = st->entries[i].name;
		}
	}
	qsort(st->entries, st->count, sizeof(*st->entries), entry_cmp);
	/* one entry per name: the first (the store's) wins */
	size_t w = 0;
	for (size_t i = 0; i < st->count; i++) {
		if (w > 0 && strcmp(st->entries[w - 1].name, st->entries[i].name) == 0) {
			free(st->entries[i].name);
			continue;
		}
		st->entries[w++] = st->entries[i];
	}
	st->count = w;
	for (size_t i = 0; i < st->count; i++)
		st->entries[i].selected = entry_selected(st, &st->entries[i]);
	if (parents) {
		for (size_t i = 0; i < st->count; i++) {
			if (!st->entries[i].selected)
				continue;
			char *name = xstrdup(st->entries[i].name);
			for (char *slash = strrchr(name, MAIL_SEPARATOR); slash != NULL;
			     slash = strrchr(name, MAIL_SEPARATOR)) {
				*slash = '\0';
				struct list_entry *p = entry_find(st, name);
				if (p == NULL)
					continue;
				if (p->child_selected)
					break;	/* the ones above are marked too */
				p->child_selected = true;
			}
			free(name);
		}
	}
	return 0;
}

static bool list_matches(struct list_state *st, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < st->npatterns; i++)
		if (imap_match(st->patterns[i], name, len))
			return true;
	return false;
}

static void attr_add(buf_t *b, const char *attr)
{
	if (b->used > 0 && b->data[b->used - 1] != '(')
		buf_append_byte(b, ' ');
	buf_append_cstr(b, attr);
}

/* "* LIST (...) "/" name [extended items]" CRLF, and the STATUS line
 * after it when asked for. */
static void list_write_entry(struct imap_client *c, struct list_state *st,
			     const struct list_entry *e, buf_t *b)
{
	static const char *const special[MAIL_SPECIAL_COUNT] = {
		"\\Drafts", "\\Sent", "\\Trash", "\\Junk", "\\Archive",
	};
	bool exists = !(e->attrs & MAIL_FOLDER_NONEXISTENT), noselect = false;
	buf_t status;
	size_t start = b->used;

	buf_init(&status, 0);
	/* RFC 5819 2: STATUS for each selectable mailbox that meets the
	   selection; one that cannot be opened is \Noselect instead */
	if (st->ret_status && exists && e->selected) {
		char *error = NULL;
		int ret = status_write(c, e->name, &st->status, &status, &error);
		if (ret == MAIL_ERR_NOTFOUND)
			noselect = true;	/* gone since the snapshot */
		else if (ret < 0)
			log_warn("imap user=%s LIST-STATUS mailbox=%s: %s", c->user, e->name,
				 error != NULL ? error : "failed");
		free(error);
	}

	buf_printf(b, "* %s (", st->lsub ? "LSUB" : "LIST");
	if (st->lsub) {
		/* RFC 3501 6.3.9: a parent of subscriptions, not subscribed */
		if (!e->selected)
			attr_add(b, "\\Noselect");
	} else {
		if (!exists)
			attr_add(b, st->extended ? "\\NonExistent" : "\\Noselect");
		else if (noselect)
			attr_add(b, "\\Noselect");
		if (e->attrs & MAIL_FOLDER_HAS_CHILDREN)
			attr_add(b, "\\HasChildren");
		else if (e->attrs & MAIL_FOLDER_HAS_NO_CHILDREN)
			attr_add(b, "\\HasNoChildren");
		if (((st->select & SEL_SUBSCRIBED) || st->ret_subscribed) &&
		    (e->attrs & MAIL_FOLDER_SUBSCRIBED))
			attr_add(b, "\\Subscribed");
	}
	if (exists)
		for (int i = 0; i < MAIL_SPECIAL_COUNT; i++)
			if (e->attrs & MAIL_FOLDER_SPECIAL(i))
				attr_add(b, special[i]);
	buf_printf(b, ") \"%c\" ", MAIL_SEPARATOR);
	if (imap_write_mailbox_name(b, e->name, strlen(e->name), c->wflags) < 0) {
		/* the store hands out valid UTF-8 only */
		log_warn("imap user=%s LIST: cannot write mailbox=%s", c->user, e->name);
		buf_truncate(b, start);
		buf_free(&status);
		return;
	}
	/* RFC 5258 3.5: which criteria the descendants meet */
	if (st->extended && (st->select & SEL_RECURSIVEMATCH) && e->child_selected) {
		buf_append_cstr(b, " (\"CHILDINFO\" (");
		if (st->select & SEL_SUBSCRIBED)
			buf_append_cstr(b, "\"SUBSCRIBED\"");
		if (st->select & SEL_SPECIAL_USE)
			buf_printf(b, "%s\"SPECIAL-USE\"", st->select & SEL_SUBSCRIBED ? " " : "");
		buf_append_cstr(b, "))");
	}
	buf_append_cstr(b, "\r\n");
	if (status.used > 0)
		buf_append(b, status.data, status.used);
	buf_free(&status);
}

static enum imap_cmd_result list_cont(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	struct list_state *st = cmd->state;
	bool parents_too = st->lsub ? imap_match_ends_with_percent(st->patterns[0])
				    : (st->select & SEL_RECURSIVEMATCH) != 0;
	buf_t b;

	buf_init(&b, 0);
	while (st->next < st->count) {
		const struct list_entry *e = &st->entries[st->next++];
		if (!(e->selected || (parents_too && e->child_selected)) ||
		    !list_matches(st, e->name))
			continue;
		list_write_entry(c, st, e, &b);
		if (b.used >= 16384) {
			imap_out_buf(c, &b);
			buf_reset(&b);
			if (imap_output_pending(c) > IMAP_OUTPUT_HIGH)
				break;	/* go on when the client has read it */
		}
	}
	imap_out_buf(c, &b);
	buf_free(&b);
	if (st->next < st->count)
		return IMAP_CMD_MORE;
	imap_cmd_ok(cmd, "%s completed.", st->lsub ? "Lsub" : "List");
	return IMAP_CMD_DONE;
}

/*
 * LIST [(selection options)] reference (pattern | (patterns...))
 *      [RETURN (return options)]
 * LSUB reference pattern
 * Returns NULL or a static error for BAD.
 */
static const char *list_parse(struct imap_cmd *cmd, struct list_state *st, bool *root_r)
{
	struct imap_client *c = cmd->c;
	const struct imap_arg *args = cmd->args, *list;
	size_t i = 0, n;
	const char *err = NULL;
	char *ref = NULL;

	*root_r = false;
	if (!st->lsub && i < cmd->count && imap_arg_get_list(&args[i], &list, &n)) {
		st->extended = true;
		if ((err = list_parse_select(st, list, n)) != NULL)
			return err;
		i++;
	}
	if (cmd->count - i < 2)
		return "LIST needs a reference and a mailbox pattern";
	if (imap_arg_mailbox(c, &args[i], &ref, &err) < 0)
		return err;
	i++;
	if (!st->lsub && imap_arg_get_list(&args[i], &list, &n)) {
		/* RFC 5258: a list of patterns */
		st->extended = true;
		if (n == 0)
			err = "Empty list of mailbox patterns";
		for (size_t k = 0; k < n && err == NULL; k++) {
			char *p = arg_pattern(c, &list[k], &err);
			if (p != NULL) {
				err = list_add_pattern(st, ref, p);
				free(p);
			}
		}
	} else {
		char *p = arg_pattern(c, &args[i], &err);
		if (p != NULL) {
			/* RFC 9051 6.3.9: LIST ref "" asks for the delimiter */
			*root_r = p[0] == '\0' && !st->lsub;
			err = list_add_pattern(st, ref, p);
			free(p);
		}
	}
	free(ref);
	if (err != NULL)
		return err;
	i++;
	if (!st->lsub && i < cmd->count && imap_arg_atom_equals(&args[i], "RETURN")) {
		st->extended = true;
		if (i + 1 >= cmd->count || !imap_arg_get_list(&args[i + 1], &list, &n))
			return "RETURN needs a list of options";
		if ((err = list_parse_return(st, list, n)) != NULL)
			return err;
		i += 2;
	}
	if (i != cmd->count)
		return "Unexpected LIST arguments";
	/* the delimiter request is basic LIST only */
	if (st->extended)
		*root_r = false;
	return NULL;
}

enum imap_cmd_result imap_cmd_list(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	struct list_state *st = xcalloc(1, sizeof(*st));
	const char *perr;
	char *error = NULL;
	bool root;
	int ret;

	st->lsub = strcmp(cmd->name, "LSUB") == 0;
	perr = list_parse(cmd, st, &root);
	if (perr != NULL) {
		list_state_free(st);
		imap_cmd_bad(cmd, "%s", perr);
		return IMAP_CMD_DONE;
	}
	if (st->ret_status)
		status_enable(c, &st->status);
	if (root) {
		/* the root of a name without one is "" (RFC 9051 6.3.9) */
		list_state_free(st);
		imap_outf(c, "* LIST (\\Noselect) \"%c\" \"\"\r\n", MAIL_SEPARATOR);
		imap_cmd_ok(cmd, "List completed.");
		return IMAP_CMD_DONE;
	}
	ret = list_build(c, st, &error);
	if (ret < 0) {
		list_state_free(st);
		imap_cmd_mail_error(cmd, ret, error, false);
		free(error);
		return IMAP_CMD_DONE;
	}
	cmd->state = st;
	cmd->state_free = list_state_free;
	cmd->cont = list_cont;
	return list_cont(cmd);
}

/* ---- QUOTA (RFC 9208) ---- */

/* "* QUOTA "" (STORAGE used limit MESSAGE used limit)" for the user's one
 * quota root "", with only the resources that have a limit. Returns 0 or
 * a mail error. */
static int quota_write(struct imap_client *c, buf_t *out, char **error_r)
{
	uint64_t lim_bytes, lim_msgs, used_bytes, used_msgs;
	int ret;

	mail_user_quota_limits(c->mu, &lim_bytes, &lim_msgs);
	ret = mail_user_quota(c->mu, &used_bytes, &used_msgs, error_r);
	if (ret < 0)
		return ret;
	buf_append_cstr(out, "* QUOTA \"\" (");
	/* STORAGE counts units of 1024 octets, rounded up */
	if (lim_bytes != 0)
		buf_printf(out, "STORAGE %llu %llu",
			   (unsigned long long)(used_bytes / 1024 + (used_bytes % 1024 != 0)),
			   (unsigned long long)(lim_bytes / 1024 + (lim_bytes % 1024 != 0)));
	if (lim_msgs != 0)
		buf_printf(out, "%sMESSAGE %llu %llu", lim_bytes != 0 ? " " : "",
			   (unsigned long long)used_msgs, (unsigned long long)lim_msgs);
	buf_append_cstr(out, ")\r\n");
	return 0;
}

static bool quota_limited(struct imap_client *c)
{
	uint64_t lim_bytes, lim_msgs;

	mail_user_quota_limits(c->mu, &lim_bytes, &lim_msgs);
	return lim_bytes != 0 || lim_msgs != 0;
}

/*
 * GETQUOTAROOT mailbox, GETQUOTA root, SETQUOTA (refused).
 *
 * A user with a limit has one quota root, "", for every folder. A user
 * without one has no quota root at all: "* QUOTAROOT INBOX" lists none
 * and GETQUOTA "" is NO, since RFC 9208's quota-list needs at least one
 * resource and a resource needs a limit (Thunderbird then shows no quota).
 */
enum imap_cmd_result imap_cmd_getquota(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	char *name = NULL, *error = NULL;
	buf_t b;
	int ret;

	if (strcmp(cmd->name, "SETQUOTA") == 0) {
		imap_cmd_no(cmd, "[NOPERM] Quota limits are set by the administrator");
		return IMAP_CMD_DONE;
	}
	if (cmd->count != 1) {
		imap_cmd_bad(cmd, "%s needs one argument", cmd->name);
		return IMAP_CMD_DONE;
	}
	buf_init(&b, 0);
	if (strcmp(cmd->name, "GETQUOTA") == 0) {
		const char *root;
		size_t len;
		if (!imap_arg_get_astring(&cmd->args[0], &root, &len)) {
			imap_cmd_bad(cmd, "Invalid quota root");
			goto out;
		}
		if (len != 0 || !quota_limited(c)) {
			imap_cmd_no(cmd, "[NONEXISTENT] No such quota root");
			goto out;
		}
		ret = quota_write(c, &b, &error);
		if (ret < 0) {
			imap_cmd_mail_error(cmd, ret, error, false);
			goto out;
		}
		imap_out_buf(c, &b);
		imap_cmd_ok(cmd, "Getquota completed.");
		goto out;
	}

	if (arg_mailbox(cmd, &cmd->args[0], &name) < 0)
		goto out;
	ret = mail_user_exists(c->mu, name, &error);
	if (ret < 0) {
		imap_cmd_mail_error(cmd, ret, error, false);
		goto out;
	}
	if (ret == 0) {
		imap_cmd_no(cmd, "[NONEXISTENT] Mailbox does not exist");
		goto out;
	}
	buf_append_cstr(&b, "* QUOTAROOT ");
	if (imap_write_mailbox_name(&b, name, strlen(name), c->wflags) < 0) {
		imap_cmd_bad(cmd, "Invalid mailbox name");
		goto out;
	}
	if (quota_limited(c)) {
		buf_append_cstr(&b, " \"\"\r\n");
		ret = quota_write(c, &b, &error);
		if (ret < 0) {
			imap_cmd_mail_error(cmd, ret, error, false);
			goto out;
		}
	} else {
		buf_append_cstr(&b, "\r\n");
	}
	imap_out_buf(c, &b);
	imap_cmd_ok(cmd, "Getquotaroot completed.");
out:
	buf_free(&b);
	free(error);
	free(name);
	return IMAP_CMD_DONE;
}
