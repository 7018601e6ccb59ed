/*
 * SELECT and EXAMINE (with CONDSTORE and QRESYNC, RFC 7162), CLOSE and
 * UNSELECT, EXPUNGE and UID EXPUNGE (RFC 4315), STORE (UNCHANGEDSINCE),
 * COPY and MOVE (RFC 6851) with COPYUID, APPEND with APPENDUID.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap-client.h"
#include "imap-write.h"
#include "log.h"
#include "xalloc.h"

void imap_client_unselect(struct imap_client *c)
{
	if (c->box != NULL)
		mailbox_close(&c->box);
	c->readonly = false;
	imap_seqset_clear(&c->searchres);
}

/* ---- SELECT / EXAMINE ---- */

struct qresync_args {
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imap_seqset known;	/* known UIDs (empty: all) */
	bool have;
};

static int parse_u64(const char *s, uint64_t *v_r)
{
	return s != NULL ? slice_to_u64(slice_cstr(s), v_r) : -1;
}

/* SELECT name (CONDSTORE) / (QRESYNC (uidvalidity modseq [known-uids
 * [(seqs uids)]])). Returns NULL or a static error for BAD. */
static const char *parse_select_params(struct imap_client *c, const struct imap_arg *list,
				       size_t n, struct qresync_args *q)
{
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_atom_equals(&list[i], "CONDSTORE")) {
			imap_enable_condstore(c);
			continue;
		}
		const struct imap_arg *ql;
		size_t qn;
		const char *s;
		uint64_t v;
		if (!imap_arg_atom_equals(&list[i], "QRESYNC") || i + 1 >= n ||
		    !imap_arg_get_list(&list[i + 1], &ql, &qn))
			return "Unknown SELECT parameter";
		if (!c->qresync)
			return "QRESYNC is not enabled";
		i++;
		if (qn < 2 || !imap_arg_get_atom(&ql[0], &s) || parse_u64(s, &v) < 0 || v == 0 ||
		    v > UINT32_MAX)
			return "Invalid QRESYNC UIDVALIDITY";
		q->uidvalidity = (uint32_t)v;
		if (!imap_arg_get_atom(&ql[1], &s) || parse_u64(s, &q->modseq) < 0 || q->modseq == 0)
			return "Invalid QRESYNC modseq";
		if (qn >= 3) {
			const char *err;
			if (!imap_arg_get_atom(&ql[2], &s) ||
			    imap_seqset_parse(&q->known, s, strlen(s), UINT32_MAX, &err) < 0)
				return "Invalid QRESYNC known UIDs";
		}
		/* the optional sequence match data only narrows what we would
		   report anyway; it is accepted and not needed */
		q->have = true;
	}
	return NULL;
}

/* RFC 7162 3.2.5.2: what changed since the client's modseq. */
static void qresync_report(struct imap_client *c, struct qresync_args *q)
{
	struct mailbox *box = c->box;
	if (q->uidvalidity != mailbox_uidvalidity(box))
		return;
	uint32_t *uids = NULL;
	size_t n = 0;
	struct imap_seqset vanished;
	imap_seqset_init(&vanished, SIZE_MAX / 2);
	if (mailbox_expunged_since(box, q->modseq, &uids, &n)) {
		for (size_t i = 0; i < n; i++)
			if (q->known.count == 0 || imap_seqset_contains(&q->known, uids[i]))
				imap_seqset_add(&vanished, uids[i], uids[i]);
	} else {
		/* history too short: every known UID that is not here */
		uint32_t hi = mailbox_uidnext(box) - 1, count = mailbox_count(box);
		struct imap_seqset all;
		imap_seqset_init(&all, SIZE_MAX / 2);
		if (q->known.count == 0 && hi > 0)
			imap_seqset_add(&all, 1, hi);
		else
			for (size_t i = 0; i < q->known.count; i++)
				imap_seqset_add(&all, q->known.ranges[i].lo, q->known.ranges[i].hi);
		for (size_t i = 0; i < all.count; i++) {
			uint32_t lo = all.ranges[i].lo, rhi = all.ranges[i].hi;
			uint32_t seq = mailbox_seq_ge(box, lo);
			uint32_t u = lo;
			while (u <= rhi) {
				uint32_t next = seq <= count ? mailbox_uid(box, seq) : UINT32_MAX;
				uint32_t gap_end = next == UINT32_MAX || next > rhi ? rhi : next - 1;
				if (u <= gap_end)
					imap_seqset_add(&vanished, u, gap_end);
				if (next == UINT32_MAX || next >= rhi)
					break;
				u = next + 1;
				seq++;
			}
		}
		imap_seqset_free(&all);
	}
	free(uids);
	buf_t b;
	buf_init(&b, 0);
	if (vanished.count > 0) {
		buf_append_cstr(&b, "* VANISHED (EARLIER) ");
		imap_seqset_format(&vanished, &b);
		buf_append_cstr(&b, "\r\n");
	}
	imap_seqset_free(&vanished);
	for (uint32_t seq = 1; seq <= mailbox_count(box); seq++) {
		const struct mail_index_record *r = mailbox_record(box, seq);
		if (r == NULL || r->modseq <= q->modseq)
			continue;
		if (q->known.count > 0 && !imap_seqset_contains(&q->known, r->uid))
			continue;
		buf_printf(&b, "* %u FETCH (UID %u FLAGS ", seq, r->uid);
		imap_write_msg_flags(c, seq, &b);
		buf_printf(&b, " MODSEQ (%llu))\r\n", (unsigned long long)r->modseq);
		if (b.used > IMAP_OUTPUT_LOW) {
			imap_out_buf(c, &b);
			buf_reset(&b);
		}
	}
	imap_out_buf(c, &b);
	buf_free(&b);
}

enum imap_cmd_result imap_cmd_select(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	bool examine = strcmp(cmd->name, "EXAMINE") == 0;
	const char *err;
	char *name = NULL, *error = NULL;
	struct qresync_args q = { 0 };
	const struct imap_arg *params = NULL;
	size_t nparams = 0;

	imap_seqset_init(&q.known, 0);
	if (cmd->count < 1 || cmd->count > 2 ||
	    (cmd->count == 2 && !imap_arg_get_list(&cmd->args[1], &params, &nparams))) {
		imap_cmd_bad(cmd, "%s needs a mailbox name and optional parameters", cmd->name);
		goto out;
	}
	if (imap_arg_mailbox(c, &cmd->args[0], &name, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err);
		goto out;
	}
	bool had = c->box != NULL;
	if ((err = parse_select_params(c, params, nparams, &q)) != NULL) {
		imap_cmd_bad(cmd, "%s", err);
		goto out;
	}
	/* RFC 9051 6.3.2: the old mailbox is closed even when the new
	   one cannot be opened; RFC 7162 3.2.11 [CLOSED] */
	imap_client_unselect(c);
	if (had && c->qresync)
		imap_out_cstr(c, "* OK [CLOSED] Previous mailbox closed.\r\n");
	int r = mailbox_open(c->mu, name, examine ? MAILBOX_OPEN_READONLY : 0, &c->box, &error);
	if (r < 0) {
		imap_cmd_mail_error(cmd, r, error, false);
		goto out;
	}
	c->readonly = examine;
	imap_client_selected(c);
	struct mailbox_status st;
	mailbox_get_status(c->box, &st);
	buf_t b;
	buf_init(&b, 0);
	imap_send_flags(c);
	buf_printf(&b, "* %u EXISTS\r\n", st.messages);
	if (!c->rev2) {
		buf_printf(&b, "* %u RECENT\r\n", st.recent);
		if (st.first_unseen_seq)
			buf_printf(&b, "* OK [UNSEEN %u] First unseen.\r\n", st.first_unseen_seq);
	} else {
		/* RFC 9051 6.3.2: a LIST response with the mailbox name */
		buf_append_cstr(&b, "* LIST () \"/\" ");
		imap_write_mailbox_name(&b, name, strlen(name), c->wflags);
		buf_append_cstr(&b, "\r\n");
	}
	c->recent_sent = st.recent;
	buf_printf(&b, "* OK [UIDVALIDITY %u] UIDs valid\r\n* OK [UIDNEXT %u] Predicted next UID\r\n",
		   st.uidvalidity, st.uidnext);
	buf_printf(&b, "* OK [HIGHESTMODSEQ %llu] Highest\r\n", (unsigned long long)st.highestmodseq);
	imap_out_buf(c, &b);
	buf_free(&b);
	if (q.have)
		qresync_report(c, &q);
	imap_cmd_ok(cmd, "[%s] %s completed.", examine ? "READ-ONLY" : "READ-WRITE",
		    examine ? "Examine" : "Select");
out:
	imap_seqset_free(&q.known);
	free(name);
	free(error);
	return IMAP_CMD_DONE;
}

/* A message someone else expunged since our last sync is skipped, not an
 * error (the command goes on with the others): true when *r was that,
 * which is then cleared along with its error text. */
static bool skip_expunged(int *r, char **error)
{
	if (*r != MAIL_ERR_EXPUNGED)
		return false;
	free(*error);
	*error = NULL;
	*r = 0;
	return true;
}

/* ---- EXPUNGE ---- */

/* Expunge the \Deleted messages (in uids, if given); durable on return. */
static int expunge_deleted(struct imap_client *c, const struct imap_seqset *seqs, char **error_r)
{
	int r = 0;
	for (uint32_t seq = mailbox_count(c->box); seq >= 1 && r == 0; seq--) {
		const struct mail_index_record *rec = mailbox_record(c->box, seq);
		if (rec == NULL || !(rec->flags & MAIL_DELETED))
			continue;
		if (seqs != NULL && !imap_seqset_contains(seqs, seq))
			continue;
		r = mailbox_expunge(c->box, seq, error_r);
		(void)skip_expunged(&r, error_r);
	}
	if (r == 0)
		r = mailbox_commit(c->box, error_r);
	return r;
}

enum imap_cmd_result imap_cmd_close(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	char *error = NULL;
	if (cmd->count != 0) {
		imap_cmd_bad(cmd, "%s takes no arguments", cmd->name);
		return IMAP_CMD_DONE;
	}
	/* RFC 9051 6.4.1: CLOSE expunges silently unless read-only */
	if (strcmp(cmd->name, "CLOSE") == 0 && !c->readonly && expunge_deleted(c, NULL, &error) < 0) {
		log_warn("imap user=%s CLOSE expunge: %s", c->user, error);
		free(error);
	}
	imap_client_unselect(c);
	imap_cmd_ok(cmd, "%s completed.", cmd->name[0] == 'C' ? "Close" : "Unselect");
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_cmd_expunge(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	struct imap_seqset seqs;
	const char *err;
	char *error = NULL;
	imap_seqset_init(&seqs, 0);
	if (cmd->count != (cmd->uid ? 1u : 0u)) {
		imap_cmd_bad(cmd, cmd->uid ? "UID EXPUNGE needs a UID set" : "EXPUNGE takes no arguments");
	} else if (cmd->uid && imap_arg_seqset(c, &cmd->args[0], true, &seqs, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err);
	} else if (c->readonly) {
		imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
	} else {
		int r = expunge_deleted(c, cmd->uid ? &seqs : NULL, &error);
		if (r < 0)
			imap_cmd_mail_error(cmd, r, error, false);
		else
			imap_cmd_ok(cmd, "Expunge completed.");
	}
	imap_seqset_free(&seqs);
	free(error);
	return IMAP_CMD_DONE;
}

/* ---- STORE ---- */

enum imap_cmd_result imap_cmd_store(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	struct imap_seqset seqs, modified;
	const char *err, *item;
	const char **kw = NULL;
	size_t nkw = 0, a = 1;
	uint32_t flags;
	uint64_t unchangedsince = 0;
	char *error = NULL;

	imap_seqset_init(&seqs, 0);
	imap_seqset_init(&modified, 0);
	if (cmd->count < 3 || imap_arg_seqset(c, &cmd->args[0], cmd->uid, &seqs, &err) < 0) {
		imap_cmd_bad(cmd, "%s", cmd->count < 3 ? "STORE needs a set, an item and flags" : err);
		goto out;
	}
	const struct imap_arg *mods;
	size_t nmods;
	if (imap_arg_get_list(&cmd->args[1], &mods, &nmods)) {
		/* RFC 7162 3.1.3: (UNCHANGEDSINCE modseq) */
		const char *v;
		if (nmods != 2 || !imap_arg_atom_equals(&mods[0], "UNCHANGEDSINCE") ||
		    !imap_arg_get_atom(&mods[1], &v) || parse_u64(v, &unchangedsince) < 0) {
			imap_cmd_bad(cmd, "Invalid STORE modifier");
			goto out;
		}
		imap_enable_condstore(c);
		a = 2;
	}
	if (cmd->count != a + 2 || !imap_arg_get_atom(&cmd->args[a], &item)) {
		imap_cmd_bad(cmd, "Invalid STORE arguments");
		goto out;
	}
	enum mailbox_flags_mode mode;
	const char *p = item;
	if (*p == '+') {
		mode = MAILBOX_FLAGS_ADD;
		p++;
	} else if (*p == '-') {
		mode = MAILBOX_FLAGS_REMOVE;
		p++;
	} else {
		mode = MAILBOX_FLAGS_REPLACE;
	}
	bool silent;
	if (strcasecmp(p, "FLAGS") == 0)
		silent = false;
	else if (strcasecmp(p, "FLAGS.SILENT") == 0)
		silent = true;
	else {
		imap_cmd_bad(cmd, "Invalid STORE item");
		goto out;
	}
	if (imap_arg_flags(&cmd->args[a + 1], &flags, &kw, &nkw, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err);
		goto out;
	}
	if (c->readonly) {
		imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
		goto out;
	}
	bool conditional = a == 2;
	struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
	uint32_t seq;
	int r = 0;
	bool expunged = false;
	while (imap_seqset_next(&seqs, &it, &seq)) {
		const struct mail_index_record *rec = mailbox_record(c->box, seq);
		if (rec == NULL) {
			expunged = true;
			continue;
		}
		if (conditional && rec->modseq > unchangedsince) {
			imap_seqset_add(&modified, cmd->uid ? rec->uid : seq, cmd->uid ? rec->uid : seq);
			continue;
		}
		r = mailbox_set_flags(c->box, seq, mode, flags, kw, nkw, 0, &error);
		if (skip_expunged(&r, &error))
			expunged = true;
		else if (r < 0)
			break;
	}
	if (r == 0)
		r = mailbox_commit(c->box, &error);
	if (r < 0) {
		imap_cmd_mail_error(cmd, r, error, false);
		goto out;
	}
	if (mailbox_keyword_count(c->box) != c->keywords_sent)
		imap_send_flags(c);
	/* the new flags (RFC 9051 6.4.6), also under .SILENT when
	   CONDSTORE wants the MODSEQ (RFC 7162 3.2) */
	buf_t b;
	buf_init(&b, 0);
	it = IMAP_SEQSET_ITER_INIT;
	while (imap_seqset_next(&seqs, &it, &seq)) {
		const struct mail_index_record *rec = mailbox_record(c->box, seq);
		if (rec == NULL || (conditional && imap_seqset_contains(&modified, cmd->uid ? rec->uid : seq)))
			continue;
		if (silent && !conditional)
			continue;
		buf_printf(&b, "* %u FETCH (", seq);
		if (!silent) {
			buf_append_cstr(&b, "FLAGS ");
			imap_write_msg_flags(c, seq, &b);
		}
		if (cmd->uid)
			buf_printf(&b, "%sUID %u", silent ? "" : " ", rec->uid);
		if (c->condstore)
			buf_printf(&b, "%sMODSEQ (%llu)", silent && !cmd->uid ? "" : " ",
				   (unsigned long long)rec->modseq);
		buf_append_cstr(&b, ")\r\n");
		if (b.used > IMAP_OUTPUT_LOW) {
			imap_out_buf(c, &b);
			buf_reset(&b);
		}
	}
	imap_out_buf(c, &b);
	buf_free(&b);
	if (modified.count > 0) {
		buf_t m;
		buf_init(&m, 0);
		imap_seqset_format(&modified, &m);
		imap_cmd_ok(cmd, "[MODIFIED %s] Conditional STORE failed.", buf_cstr(&m));
		buf_free(&m);
	} else if (expunged) {
		imap_cmd_no(cmd, "[EXPUNGEISSUED] Some of the requested messages no longer exist.");
	} else {
		imap_cmd_ok(cmd, "Store completed.");
	}
out:
	free(kw);
	free(error);
	imap_seqset_free(&seqs);
	imap_seqset_free(&modified);
	return IMAP_CMD_DONE;
}

/* ---- COPY / MOVE ---- */

enum imap_cmd_result imap_cmd_copy(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	bool move = strcmp(cmd->name, "MOVE") == 0;
	struct imap_seqset seqs, src_uids, dst_uids;
	const char *err;
	char *name = NULL, *error = NULL;
	struct mailbox *dst = NULL;
	int r = 0;

	imap_seqset_init(&seqs, 0);
	imap_seqset_init(&src_uids, SIZE_MAX / 2);
	imap_seqset_init(&dst_uids, SIZE_MAX / 2);
	if (cmd->count != 2 || imap_arg_seqset(c, &cmd->args[0], cmd->uid, &seqs, &err) < 0 ||
	    imap_arg_mailbox(c, &cmd->args[1], &name, &err) < 0) {
		imap_cmd_bad(cmd, "%s", cmd->count != 2 ? "Needs a message set and a mailbox" : err);
		goto out;
	}
	if (move && c->readonly) {
		imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
		goto out;
	}
	r = mailbox_open(c->mu, name, MAILBOX_OPEN_DELIVERY, &dst, &error);
	if (r < 0) {
		imap_cmd_mail_error(cmd, r, error, true);
		goto out;
	}
	struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
	uint32_t seq, uid, n = 0;
	bool expunged = false;
	while (imap_seqset_next(&seqs, &it, &seq)) {
		uint32_t src_uid = mailbox_uid(c->box, seq);
		r = move ? mailbox_move(c->box, seq, dst, &uid, &error)
			 : mailbox_copy(c->box, seq, dst, &uid, &error);
		if (skip_expunged(&r, &error)) {
			expunged = true;
			continue;
		}
		if (r < 0)
			break;
		/* UIDs rise in both lists: the sets keep their pairing */
		imap_seqset_add(&src_uids, src_uid, src_uid);
		imap_seqset_add(&dst_uids, uid, uid);
		n++;
	}
	if (r == 0)
		r = mailbox_commit(dst, &error);
	if (r == 0 && move)
		r = mailbox_commit(c->box, &error);
	if (r < 0) {
		imap_cmd_mail_error(cmd, r, error, true);
		goto out;
	}
	buf_t code;
	buf_init(&code, 0);
	if (n > 0) {
		buf_printf(&code, "[COPYUID %u ", mailbox_uidvalidity(dst));
		imap_seqset_format(&src_uids, &code);
		buf_append_byte(&code, ' ');
		imap_seqset_format(&dst_uids, &code);
		buf_append_cstr(&code, "] ");
	}
	if (expunged && n == 0) {
		imap_cmd_no(cmd, "[EXPUNGEISSUED] Some of the requested messages no longer exist.");
	} else if (move) {
		/* RFC 6851 4.3: COPYUID in an untagged OK before the expunges */
		if (n > 0)
			imap_outf(c, "* OK %sMoved UIDs.\r\n", buf_cstr(&code));
		imap_cmd_ok(cmd, "Move completed.");
	} else {
		imap_cmd_ok(cmd, "%sCopy completed.", buf_cstr(&code));
	}
	buf_free(&code);
out:
	if (dst != NULL)
		mailbox_close(&dst);
	free(name);
	free(error);
	imap_seqset_free(&seqs);
	imap_seqset_free(&src_uids);
	imap_seqset_free(&dst_uids);
	return IMAP_CMD_DONE;
}

/* ---- APPEND ---- */

/* RFC 9051 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be " d"). */
static int parse_date_time(const char *s, time_t *t_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int day, year, hh, mm, ss, zone;
	char mon[4], sign;
	if (strlen(s) != 26)
		return -1;
	if (s[0] == ' ')
		s++;
	if (sscanf(s, "%2d-%3c-%4d %2d:%2d:%2d %c%4d", &day, mon, &year, &hh, &mm, &ss, &sign, &zone) != 8)
		return -1;
	mon[3] = '\0';
	const char *m = NULL;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(months + 3 * i, mon, 3) == 0)
			m = months + 3 * i;
	if (m == NULL || day < 1 || day > 31 || year < 1900 || hh > 23 || mm > 59 || ss > 60 ||
	    (sign != '+' && sign != '-') || zone % 100 > 59 || zone > 2359)
		return -1;
	struct tm tm = { 0 };
	tm.tm_mday = day;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm);
	int off = (zone / 100) * 3600 + (zone % 100) * 60;
	*t_r = sign == '+' ? t - off : t + off;
	return 0;
}

enum imap_cmd_result imap_cmd_append(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	const char *err;
	char *name = NULL, *error = NULL;
	const char **kw = NULL;
	size_t nkw = 0, a = 1;
	uint32_t flags = 0, uid = 0;
	time_t date = 0;
	struct mailbox *dst = NULL;

	if (cmd->count < 2 || imap_arg_mailbox(c, &cmd->args[0], &name, &err) < 0) {
		imap_cmd_bad(cmd, "%s", cmd->count < 2 ? "APPEND needs a mailbox and a message" : err);
		goto out;
	}
	if (cmd->args[a].type == IMAP_ARG_LIST) {
		if (imap_arg_flags(&cmd->args[a], &flags, &kw, &nkw, &err) < 0) {
			imap_cmd_bad(cmd, "%s", err);
			goto out;
		}
		a++;
	}
	if (a < cmd->count && cmd->args[a].type == IMAP_ARG_STRING) {
		if (parse_date_time(cmd->args[a].str, &date) < 0) {
			imap_cmd_bad(cmd, "Invalid date-time");
			goto out;
		}
		a++;
	}
	const struct imap_arg *msg = a < cmd->count ? &cmd->args[a] : NULL;
	const struct imap_arg *ul;
	size_t un;
	/* RFC 6855 4: UTF8 (literal8) */
	if (msg != NULL && imap_arg_atom_equals(msg, "UTF8") && a + 1 < cmd->count &&
	    imap_arg_get_list(&cmd->args[a + 1], &ul, &un) && un == 1) {
		msg = &ul[0];
		a++;
	}
	if (msg == NULL || msg->type != IMAP_ARG_LITERAL || a + 1 != cmd->count) {
		imap_cmd_bad(cmd, "Invalid APPEND arguments (one message literal expected)");
		goto out;
	}
	if (msg->len == 0) {
		imap_cmd_no(cmd, "Cannot append an empty message");
		goto out;
	}
	/* RFC 3516 4.4: a literal8 with NUL is fine (binary); a plain
	   literal cannot carry NUL (the parser refused it) */
	int r = mailbox_open(c->mu, name, MAILBOX_OPEN_DELIVERY, &dst, &error);
	if (r == 0) {
		struct mailbox_append m = { 0 };
		m.data = msg->str;
		m.len = msg->len;
		m.fd = -1;
		m.flags = flags;
		m.keywords = kw;
		m.nkeywords = nkw;
		m.internal_date = date;
		r = mailbox_append(dst, &m, &uid, &error);
		if (r == 0)
			r = mailbox_commit(dst, &error);
	}
	if (r < 0) {
		imap_cmd_mail_error(cmd, r, error, true);
		goto out;
	}
	log_info("imap user=%s append mailbox=%s uid=%u size=%zu", c->user, name, uid, msg->len);
	imap_cmd_ok(cmd, "[APPENDUID %u %u] Append completed.", mailbox_uidvalidity(dst), uid);
out:
	if (dst != NULL)
		mailbox_close(&dst);
	free(kw);
	free(name);
	free(error);
	return IMAP_CMD_DONE;
}
