/*
 * SEARCH, SORT and THREAD, with their UID forms (RFC 9051 6.4.4, RFC 3501
 * 6.4.4; RFC 4731 ESEARCH; RFC 5182 SEARCHRES; RFC 7162 3.1.5 MODSEQ;
 * RFC 5256 SORT and THREAD; RFC 5957 DISPLAYFROM/DISPLAYTO).
 *
 * The program is parsed by lib-imap (imap-search-parse.h) and evaluated
 * here against the selected view, message by message, loading only what
 * the keys need, cheapest keys first:
 *  - record: flags, keywords, UID, internal date, MODSEQ, RFC822.SIZE come
 *    from the index; no message file is opened (a size the index does not
 *    know yet is computed once by the store).
 *  - envelope: FROM TO CC BCC SUBJECT, SENT* and HEADER of Subject,
 *    Message-ID, In-Reply-To or Date use the cached ENVELOPE; on a miss
 *    the header is read and the ENVELOPE cached for FETCH as well.
 *  - header: other HEADER keys and THREAD=REFERENCES (References:) read
 *    the header, at most mime_max_header octets.
 *  - body: BODY and TEXT map the file read-only (no heap copy), parse its
 *    MIME structure (mime_max_* limits), and stream the text parts through
 *    transfer-decoding, charset conversion to UTF-8 and the matcher in
 *    64 KiB pieces; embedded messages' headers count as body text; parts
 *    that are not text (images, attachments) are not searched.
 * Header values are matched after RFC 2047 decoding; all text is folded
 * (imap_search_fold) like the search strings.
 *
 * Dates: BEFORE/ON/SINCE compare the internal date's calendar day in the
 * server's time zone (as FETCH INTERNALDATE shows it); SENT* compare the
 * Date: header's day in its own zone. A message without a usable Date:
 * uses its internal date (as RFC 5256 2.2 does for sorting).
 *
 * A message expunged by someone else (no record, or its file gone) never
 * matches. SORT and THREAD keep their per-message keys in memory for the
 * command only, strings capped at SORT_STRING_MAX octets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "imap-client.h"
#include "imap-envelope.h"
#include "imap-search-parse.h"
#include "imap-thread.h"
#include "imap-write.h"
#include "log.h"
#include "mime-decode.h"
#include "mime.h"
#include "rfc2047.h"
#include "rfc5322.h"
#include "xalloc.h"

#define SEARCH_CHUNK (64 * 1024)	/* header reads, body decoding */
#define SEARCH_FLUSH (64 * 1024)	/* response octets held before imap_out */
#define SORT_STRING_MAX 1024		/* per sort key / thread field */
#define THREAD_REFS_MAX 4096		/* the tail of References kept */

/* evaluation results */
#define EV_FALSE 0
#define EV_TRUE 1
#define EV_SKIP (-1)		/* the message is gone: it does not match */
#define EV_FAIL (-2)		/* a store error ends the command (ctx->err) */

/* envelope strings, folded for matching */
enum env_text {
	ENVT_SUBJECT, ENVT_DATE, ENVT_MSGID, ENVT_IRT,
	ENVT_ADDR,	/* + enum imap_search_env_addr */
	ENVT_COUNT = ENVT_ADDR + IMAP_ENV_ADDR_LISTS,
};

struct kw_match {
	uint64_t mask;		/* keyword bits */
	uint32_t flag;		/* $Forwarded */
};

struct search_ctx {
	struct imap_cmd *cmd;
	struct imap_client *c;
	struct mailbox *box;
	struct imap_search_program *prog;
	struct mime_limits mlim;
	size_t max_header;
	struct imap_seqset *sets;	/* per slot: SEQSET/UIDSET as seqs */
	struct kw_match *kws;		/* per slot: KEYWORD */
	/* BODY and TEXT keys, split by what they look at */
	const struct imap_search_key **body_keys, **text_keys;
	size_t nbody, ntext;
	struct imap_search_scan body_scan, text_scan;
	/* the store error that ended the command */
	int err;
	char *error;
};

struct msg {
	struct search_ctx *s;
	uint32_t seq;
	const struct mail_index_record *rec;
	bool have_day;
	int64_t local_day;
	/* ENVELOPE: 0 not loaded, 1 loaded */
	int env_state;
	buf_t env_text;
	struct imap_search_envelope env;
	buf_t folded[ENVT_COUNT];
	bool folded_done[ENVT_COUNT];
	/* Date: */
	bool have_sent, sent_valid;
	int64_t sent_time;
	int sent_tz;
	/* header */
	bool hdr_loaded;
	buf_t hdr_data;
	struct rfc5322_header hdr;
	/* BODY/TEXT results, per program->texts index */
	bool texts_done;
	bool *text_found;
};

/* ---- errors ---- */

static int store_fail(struct search_ctx *s, int err, char *error)
{
	if (err == MAIL_ERR_EXPUNGED) {
		free(error);
		return EV_SKIP;
	}
	if (s->err == 0) {
		s->err = err;
		s->error = error;
	} else {
		free(error);
	}
	return EV_FAIL;
}

/* ---- one message ---- */

static void msg_init(struct msg *m, struct search_ctx *s, uint32_t seq)
{
	memset(m, 0, sizeof(*m));
	m->s = s;
	m->seq = seq;
	m->rec = mailbox_record(s->box, seq);
}

static void msg_free(struct msg *m)
{
	if (m->env_state > 0)
		imap_search_envelope_free(&m->env);
	buf_free(&m->env_text);
	for (int i = 0; i < ENVT_COUNT; i++)
		buf_free(&m->folded[i]);
	if (m->hdr_loaded)
		rfc5322_header_deinit(&m->hdr);
	buf_free(&m->hdr_data);
	free(m->text_found);
}

/* The header, read up to mime_max_header octets. */
static int msg_header(struct msg *m)
{
	struct search_ctx *s = m->s;
	char *error = NULL;
	uint64_t size;
	int fd, ret;

	if (m->hdr_loaded)
		return 0;
	ret = mailbox_open_message(s->box, m->seq, &fd, &size, &error);
	if (ret < 0)
		return store_fail(s, ret, error);
	buf_init(&m->hdr_data, s->max_header);
	rfc5322_header_init(&m->hdr, &s->mlim.header);
	m->hdr_loaded = true;
	for (;;) {
		size_t room = s->max_header - m->hdr_data.used;
		bool eof = room == 0;
		if (!eof) {
			size_t want = room < SEARCH_CHUNK ? room : SEARCH_CHUNK;
			buf_reserve(&m->hdr_data, want);
			ssize_t n = read(fd, m->hdr_data.data + m->hdr_data.used, want);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				int e = errno;
				close(fd);
				return store_fail(s, MAIL_ERR_TEMP, xasprintf("read message %u: %s",
									      m->seq, strerror(e)));
			}
			m->hdr_data.used += (size_t)n;
			m->hdr_data.data[m->hdr_data.used] = '\0';
			eof = n == 0;
		}
		if (rfc5322_header_parse(&m->hdr, m->hdr_data.data ? m->hdr_data.data : "",
					 m->hdr_data.used, eof) == 1)
			break;
	}
	close(fd);
	return 0;
}

/* The cached ENVELOPE, or one made from the header (and cached). */
static int msg_envelope(struct msg *m)
{
	struct search_ctx *s = m->s;
	char *error = NULL;
	int ret;

	if (m->env_state > 0)
		return 0;
	buf_init(&m->env_text, 0);
	ret = mailbox_cache_get(s->box, m->seq, IMAP_CACHE_ENVELOPE, &m->env_text, &error);
	free(error);
	error = NULL;
	if (ret > 0 && imap_search_envelope_parse(m->env_text.data, m->env_text.used,
						  &m->env) == 0) {
		m->env_state = 1;
		return 0;
	}
	/* not cached (or unreadable, which a cache may be): from the header */
	buf_reset(&m->env_text);
	if ((ret = msg_header(m)) < 0)
		return ret;
	if (imap_envelope_write(&m->hdr, &m->env_text) < 0 ||
	    imap_search_envelope_parse(m->env_text.data, m->env_text.used, &m->env) < 0)
		return store_fail(s, MAIL_ERR_TEMP, xasprintf("message %u: envelope", m->seq));
	if (mailbox_cache_set(s->box, m->seq, IMAP_CACHE_ENVELOPE, m->env_text.data,
			      m->env_text.used, &error) < 0)
		free(error);
	m->env_state = 1;
	return 0;
}

/* Append "Name <mailbox@host>, ..." (names decoded) for matching. */
static void addresses_text(const struct imap_search_addr *a, size_t n, buf_t *out)
{
	for (size_t i = 0; i < n; i++) {
		if (out->used > 0)
			buf_append_cstr(out, ", ");
		if (a[i].host.ptr == NULL) {
			/* group start "name:" and end ";" (RFC 3501 7.4.2) */
			if (a[i].mailbox.ptr != NULL) {
				buf_append_slice(out, a[i].mailbox);
				buf_append_byte(out, ':');
			} else {
				buf_append_byte(out, ';');
			}
			continue;
		}
		bool named = a[i].name.ptr != NULL && a[i].name.len > 0;
		if (named) {
			rfc2047_decode(a[i].name, out);
			buf_append_cstr(out, " <");
		}
		if (a[i].mailbox.ptr != NULL)
			buf_append_slice(out, a[i].mailbox);
		buf_append_byte(out, '@');
		buf_append_slice(out, a[i].host);
		if (named)
			buf_append_byte(out, '>');
	}
}

/* A folded envelope string; *absent_r when the field is NIL. */
static int msg_env_text(struct msg *m, enum env_text which, const buf_t **text_r,
			bool *absent_r)
{
	int ret;

	if ((ret = msg_envelope(m)) < 0)
		return ret;
	const struct imap_search_envelope *e = &m->env;
	slice_t raw = { NULL, 0 };
	switch (which) {
	case ENVT_SUBJECT: raw = e->subject; break;
	case ENVT_DATE: raw = e->date; break;
	case ENVT_MSGID: raw = e->message_id; break;
	case ENVT_IRT: raw = e->in_reply_to; break;
	default: break;
	}
	if (which >= ENVT_ADDR)
		*absent_r = e->naddrs[which - ENVT_ADDR] == 0;
	else
		*absent_r = raw.ptr == NULL;
	if (!m->folded_done[which]) {
		buf_t dec;
		buf_init(&dec, 0);
		if (which >= ENVT_ADDR)
			addresses_text(e->addrs[which - ENVT_ADDR], e->naddrs[which - ENVT_ADDR],
				       &dec);
		else if (raw.ptr != NULL)
			rfc2047_decode(raw, &dec);
		buf_init(&m->folded[which], 0);
		imap_search_fold(buf_slice(&dec).ptr, dec.used, true, &m->folded[which]);
		buf_free(&dec);
		m->folded_done[which] = true;
	}
	*text_r = &m->folded[which];
	return 0;
}

static bool text_contains(const buf_t *text, const struct imap_search_key *k)
{
	if (k->len == 0)
		return true;
	return text->used >= k->len && memmem(text->data, text->used, k->str, k->len) != NULL;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The internal date's day in the server's zone. */
static int64_t msg_local_day(struct msg *m)
{
	if (!m->have_day) {
		time_t t = (time_t)m->rec->idate;
		struct tm tm;
		if (localtime_r(&t, &tm) != NULL)
			m->local_day = imap_search_days_from_civil((int64_t)tm.tm_year + 1900,
								   (unsigned)tm.tm_mon + 1,
								   (unsigned)tm.tm_mday);
		else
			m->local_day = floor_div(m->rec->idate, 86400);
		m->have_day = true;
	}
	return m->local_day;
}

/* The Date: header as UTC seconds and zone, or invalid. */
static int msg_sent(struct msg *m)
{
	int ret;

	if (m->have_sent)
		return 0;
	if ((ret = msg_envelope(m)) < 0)
		return ret;
	time_t t;
	int tz;
	m->sent_valid = m->env.date.ptr != NULL && rfc5322_date_parse(m->env.date, &t, &tz) == 0;
	if (m->sent_valid) {
		m->sent_time = (int64_t)t;
		m->sent_tz = tz;
	}
	m->have_sent = true;
	return 0;
}

/* RFC 5256 2.2: the sent date, or the internal date. */
static int msg_sent_time(struct msg *m, int64_t *time_r)
{
	int ret = msg_sent(m);
	if (ret < 0)
		return ret;
	*time_r = m->sent_valid ? m->sent_time : m->rec->idate;
	return 0;
}

static int msg_vsize(struct msg *m, uint64_t *vsize_r)
{
	char *error = NULL;

	if (m->rec->flags & MAIL_REC_VSIZE) {
		*vsize_r = m->rec->vsize;
		return 0;
	}
	int ret = mailbox_get_vsize(m->s->box, m->seq, vsize_r, &error);
	if (ret < 0)
		return store_fail(m->s, ret, error);
	/* the store may have moved the record while remembering the size */
	m->rec = mailbox_record(m->s->box, m->seq);
	return m->rec != NULL ? 0 : EV_SKIP;
}

/* ---- BODY and TEXT ---- */

/* Header fields as "Name: decoded value", each a text of its own. */
static void scan_header(struct search_ctx *s, slice_t header, bool body_too)
{
	struct rfc5322_header h;
	buf_t dec;

	rfc5322_header_parse_all(&h, header.ptr, header.len, &s->mlim.header);
	buf_init(&dec, 0);
	for (size_t i = 0; i < h.count; i++) {
		const struct rfc5322_field *f = &h.fields[i];
		if (f->flags & RFC5322_FIELD_NO_COLON)
			continue;
		buf_reset(&dec);
		buf_append_slice(&dec, rfc5322_field_name(&h, f));
		buf_append_cstr(&dec, ": ");
		rfc2047_decode(rfc5322_field_value(&h, f), &dec);
		if (s->ntext > 0) {
			imap_search_scan_feed(&s->text_scan, dec.data, dec.used);
			imap_search_scan_break(&s->text_scan);
		}
		if (body_too && s->nbody > 0) {
			imap_search_scan_feed(&s->body_scan, dec.data, dec.used);
			imap_search_scan_break(&s->body_scan);
		}
	}
	buf_free(&dec);
	rfc5322_header_deinit(&h);
}

static bool scans_done(struct search_ctx *s)
{
	return (s->ntext == 0 || imap_search_scan_done(&s->text_scan)) &&
	       (s->nbody == 0 || imap_search_scan_done(&s->body_scan));
}

/* Convert decoded octets up to the last line break (all when final: a
 * character is never cut) to UTF-8 and feed both scanners. */
static void scan_flush(struct search_ctx *s, const char *charset, buf_t *dec, bool final)
{
	size_t cut = dec->used;

	if (!final) {
		const char *lf = dec->used > 0 ? memrchr(dec->data, '\n', dec->used) : NULL;
		if (lf != NULL)
			cut = (size_t)(lf - dec->data) + 1;
		else if (dec->used < SEARCH_CHUNK / 4)
			return;
	}
	if (cut == 0)
		return;
	buf_t utf8;
	buf_init(&utf8, 0);
	slice_t in = slice_make(dec->data, cut);
	if (charset == NULL || rfc2047_charset_to_utf8(charset, in, &utf8) == -2)
		rfc2047_utf8_sanitize(in, &utf8);
	if (s->ntext > 0)
		imap_search_scan_feed(&s->text_scan, buf_slice(&utf8).ptr, utf8.used);
	if (s->nbody > 0)
		imap_search_scan_feed(&s->body_scan, buf_slice(&utf8).ptr, utf8.used);
	buf_free(&utf8);
	buf_consume(dec, cut);
}

/* A text part's body: transfer encoding, charset, matcher. */
static void scan_part_body(struct search_ctx *s, const struct mime_message *msg,
			   const struct mime_part *part)
{
	slice_t body = mime_part_body(msg, part);
	const struct mime_param *cs = mime_part_param(part, "charset");
	char charset[RFC2047_MAX_CHARSET_LEN + 1];
	struct mime_decoder d;
	buf_t dec;

	charset[0] = '\0';
	if (cs != NULL && !cs->extended && cs->value.len > 0 &&
	    cs->value.len <= RFC2047_MAX_CHARSET_LEN &&
	    memchr(cs->value.ptr, '\0', cs->value.len) == NULL) {
		memcpy(charset, cs->value.ptr, cs->value.len);
		charset[cs->value.len] = '\0';
	}
	/* an unknown transfer encoding is searched as it is */
	if (mime_decoder_init(&d, part->cte) < 0)
		mime_decoder_init(&d, MIME_CTE_8BIT);
	buf_init(&dec, 0);
	for (size_t off = 0; off < body.len && !scans_done(s); off += SEARCH_CHUNK) {
		size_t n = body.len - off < SEARCH_CHUNK ? body.len - off : SEARCH_CHUNK;
		mime_decoder_feed(&d, body.ptr + off, n, &dec);
		scan_flush(s, charset[0] != '\0' ? charset : NULL, &dec, false);
	}
	mime_decoder_finish(&d, &dec);
	scan_flush(s, charset[0] != '\0' ? charset : NULL, &dec, true);
	buf_free(&dec);
	if (s->ntext > 0)
		imap_search_scan_break(&s->text_scan);
	if (s->nbody > 0)
		imap_search_scan_break(&s->body_scan);
}

static const struct mime_part *part_next(const struct mime_part *p)
{
	if (p->children != NULL)
		return p->children;
	while (p != NULL && p->next == NULL)
		p = p->parent;
	return p != NULL ? p->next : NULL;
}

/* Decide every BODY and TEXT key of the program for this message in one
 * pass over the message. */
static int msg_texts(struct msg *m)
{
	struct search_ctx *s = m->s;
	char *error = NULL;
	uint64_t size;
	int fd, ret;

	if (m->texts_done)
		return 0;
	ret = mailbox_open_message(s->box, m->seq, &fd, &size, &error);
	if (ret < 0)
		return store_fail(s, ret, error);
	void *map = NULL;
	if (size > 0) {
		map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			int e = errno;
			close(fd);
			return store_fail(s, MAIL_ERR_TEMP,
					  xasprintf("mmap message %u: %s", m->seq, strerror(e)));
		}
	}
	close(fd);
	const char *data = map != NULL ? map : "";
	struct mime_message *msg = mime_parse(data, (size_t)size, &s->mlim);

	if (s->ntext > 0)
		imap_search_scan_reset(&s->text_scan);
	if (s->nbody > 0)
		imap_search_scan_reset(&s->body_scan);
	/* TEXT: the message header first */
	if (s->ntext > 0)
		scan_header(s, mime_part_header(msg, msg->root), false);
	for (const struct mime_part *p = msg->root; p != NULL && !scans_done(s); p = part_next(p)) {
		/* the header of an embedded message is body text */
		if (p->parent != NULL && (p->parent->flags & MIME_PART_MESSAGE))
			scan_header(s, mime_part_header(msg, p), true);
		if (p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
			continue;
		if (mime_part_is(p, "text", NULL))
			scan_part_body(s, msg, p);
	}
	mime_message_destroy(&msg);
	if (map != NULL)
		munmap(map, (size_t)size);

	m->text_found = xcalloc(s->prog->ntexts ? s->prog->ntexts : 1, sizeof(bool));
	for (size_t i = 0; i < s->ntext; i++)
		m->text_found[s->text_keys[i]->text_idx] = s->text_scan.found[i];
	for (size_t i = 0; i < s->nbody; i++)
		m->text_found[s->body_keys[i]->text_idx] = s->body_scan.found[i];
	m->texts_done = true;
	return 0;
}

/* ---- evaluation ---- */

static int eval_header(struct msg *m, const struct imap_search_key *k)
{
	int ret;
	const buf_t *text;
	bool absent;

	if (imap_search_header_in_envelope(k->field)) {
		enum env_text which = strcasecmp(k->field, "Subject") == 0	? ENVT_SUBJECT
				      : strcasecmp(k->field, "Date") == 0	? ENVT_DATE
				      : strcasecmp(k->field, "Message-ID") == 0 ? ENVT_MSGID
										: ENVT_IRT;
		if ((ret = msg_env_text(m, which, &text, &absent)) < 0)
			return ret;
		return !absent && text_contains(text, k);
	}
	if ((ret = msg_header(m)) < 0)
		return ret;
	buf_t dec, folded;
	bool found = false;
	buf_init(&dec, 0);
	buf_init(&folded, 0);
	for (size_t i = rfc5322_header_find(&m->hdr, k->field, 0); i != SIZE_MAX && !found;
	     i = rfc5322_header_find(&m->hdr, k->field, i + 1)) {
		if (k->len == 0) {
			found = true;	/* RFC 9051 6.4.4: the field exists */
			break;
		}
		buf_reset(&dec);
		buf_reset(&folded);
		rfc2047_decode(rfc5322_field_value(&m->hdr, &m->hdr.fields[i]), &dec);
		imap_search_fold(buf_slice(&dec).ptr, dec.used, true, &folded);
		found = text_contains(&folded, k);
	}
	buf_free(&dec);
	buf_free(&folded);
	return found;
}

static int eval(struct msg *m, const struct imap_search_key *k);

static int eval_leaf(struct msg *m, const struct imap_search_key *k)
{
	struct search_ctx *s = m->s;
	const buf_t *text;
	bool absent;
	int ret;

	switch (k->type) {
	case IMAP_SEARCH_ALL:
		return EV_TRUE;
	case IMAP_SEARCH_SEQSET:
	case IMAP_SEARCH_UIDSET:
		return imap_seqset_contains(&s->sets[k->slot], m->seq);
	case IMAP_SEARCH_FLAG:
		return (m->rec->flags & k->flag) != 0;
	case IMAP_SEARCH_KEYWORD:
		return (m->rec->keywords & s->kws[k->slot].mask) != 0 ||
		       (m->rec->flags & s->kws[k->slot].flag) != 0;
	case IMAP_SEARCH_RECENT:
		return mailbox_is_recent(s->box, m->seq);
	case IMAP_SEARCH_BEFORE:
		return msg_local_day(m) < k->day;
	case IMAP_SEARCH_ON:
		return msg_local_day(m) == k->day;
	case IMAP_SEARCH_SINCE:
		return msg_local_day(m) >= k->day;
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE: {
		if ((ret = msg_sent(m)) < 0)
			return ret;
		int64_t day = m->sent_valid
			? floor_div(m->sent_time + (int64_t)m->sent_tz * 60, 86400)
			: msg_local_day(m);
		return k->type == IMAP_SEARCH_SENTBEFORE ? day < k->day
		       : k->type == IMAP_SEARCH_SENTON	 ? day == k->day
							 : day >= k->day;
	}
	case IMAP_SEARCH_LARGER:
	case IMAP_SEARCH_SMALLER: {
		uint64_t vsize;
		if ((ret = msg_vsize(m, &vsize)) < 0)
			return ret;
		return k->type == IMAP_SEARCH_LARGER ? vsize > k->num : vsize < k->num;
	}
	case IMAP_SEARCH_MODSEQ:
		return m->rec->modseq >= k->num;
	case IMAP_SEARCH_BCC:
	case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM:
	case IMAP_SEARCH_TO:
	case IMAP_SEARCH_SUBJECT: {
		enum env_text which =
			k->type == IMAP_SEARCH_BCC ? ENVT_ADDR + IMAP_ENV_BCC
			: k->type == IMAP_SEARCH_CC ? ENVT_ADDR + IMAP_ENV_CC
			: k->type == IMAP_SEARCH_FROM ? ENVT_ADDR + IMAP_ENV_FROM
			: k->type == IMAP_SEARCH_TO ? ENVT_ADDR + IMAP_ENV_TO
						    : ENVT_SUBJECT;
		if ((ret = msg_env_text(m, which, &text, &absent)) < 0)
			return ret;
		return !absent && text_contains(text, k);
	}
	case IMAP_SEARCH_HEADER:
		return eval_header(m, k);
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_TEXT:
		if ((ret = msg_texts(m)) < 0)
			return ret;
		return m->text_found[k->text_idx];
	default:
		return EV_FALSE;
	}
}

/* Depth is bounded by the parser (IMAP_SEARCH_MAX_DEPTH). */
static int eval(struct msg *m, const struct imap_search_key *k)
{
	int ret;

	switch (k->type) {
	case IMAP_SEARCH_AND:
		for (const struct imap_search_key *c = k->children; c != NULL; c = c->next)
			if ((ret = eval(m, c)) != EV_TRUE)
				return ret;
		return EV_TRUE;
	case IMAP_SEARCH_OR:
		for (const struct imap_search_key *c = k->children; c != NULL; c = c->next)
			if ((ret = eval(m, c)) != EV_FALSE)
				return ret;
		return EV_FALSE;
	case IMAP_SEARCH_NOT:
		ret = eval(m, k->children);
		return ret < 0 ? ret : !ret;
	default:
		ret = eval_leaf(m, k);
		if (ret < 0)
			return ret;
		return k->neg ? !ret : ret;
	}
}

/* ---- the command around it ---- */

static void ctx_free(struct search_ctx *s)
{
	if (s->prog != NULL && s->sets != NULL)
		for (size_t i = 0; i < s->prog->nslots; i++)
			imap_seqset_free(&s->sets[i]);
	free(s->sets);
	free(s->kws);
	if (s->ntext > 0)
		imap_search_scan_deinit(&s->text_scan);
	if (s->nbody > 0)
		imap_search_scan_deinit(&s->body_scan);
	free(s->text_keys);
	free(s->body_keys);
	free(s->error);
	imap_search_program_free(&s->prog);
}

/* Resolve the program's sets and keywords against the view. -1 with a
 * static *error_r for BAD. */
static int ctx_prepare(struct search_ctx *s, struct imap_cmd *cmd, const char **error_r)
{
	struct imap_client *c = cmd->c;
	const struct youju_config *cfg = c->ctx->cfg;
	struct imap_search_program *prog = s->prog;

	s->cmd = cmd;
	s->c = c;
	s->box = c->box;
	s->max_header = (size_t)cfg->mime_max_header;
	s->mlim = (struct mime_limits){
		.max_depth = (unsigned)cfg->mime_max_depth,
		.max_parts = (unsigned)cfg->mime_max_parts,
		.header = { .max_header_size = (size_t)cfg->mime_max_header },
	};
	s->sets = xcalloc(prog->nslots ? prog->nslots : 1, sizeof(*s->sets));
	s->kws = xcalloc(prog->nslots ? prog->nslots : 1, sizeof(*s->kws));
	for (size_t i = 0; i < prog->nslots; i++)
		imap_seqset_init(&s->sets[i], 0);
	for (const struct imap_search_key *k = prog->all; k != NULL; k = k->all_next) {
		if (k->type == IMAP_SEARCH_SEQSET || k->type == IMAP_SEARCH_UIDSET) {
			if (imap_arg_seqset(c, k->set, k->type == IMAP_SEARCH_UIDSET,
					    &s->sets[k->slot], error_r) < 0)
				return -1;
		} else if (k->type == IMAP_SEARCH_KEYWORD) {
			struct kw_match *kw = &s->kws[k->slot];
			if (strcasecmp(k->str, "$Forwarded") == 0)
				kw->flag = MAIL_FORWARDED;
			for (unsigned j = 0; j < mailbox_keyword_count(s->box) && j < 64; j++)
				if (strcasecmp(mailbox_keyword_name(s->box, j), k->str) == 0)
					kw->mask |= UINT64_C(1) << j;
		}
	}
	s->text_keys = xcalloc(prog->ntexts ? prog->ntexts : 1, sizeof(*s->text_keys));
	s->body_keys = xcalloc(prog->ntexts ? prog->ntexts : 1, sizeof(*s->body_keys));
	for (size_t i = 0; i < prog->ntexts; i++) {
		const struct imap_search_key *k = prog->texts[i];
		if (k->type == IMAP_SEARCH_TEXT)
			s->text_keys[s->ntext++] = k;
		else
			s->body_keys[s->nbody++] = k;
	}
	if (s->ntext > 0)
		imap_search_scan_init(&s->text_scan, s->text_keys, s->ntext);
	if (s->nbody > 0)
		imap_search_scan_init(&s->body_scan, s->body_keys, s->nbody);
	if (prog->uses_modseq)
		imap_enable_condstore(c);	/* RFC 7162 3.1 */
	return 0;
}

/* The messages to look at: the smallest top-level set, or all. */
static const struct imap_seqset *candidates(struct search_ctx *s)
{
	const struct imap_seqset *best = NULL;
	for (const struct imap_search_key *k = s->prog->root->children; k != NULL; k = k->next) {
		if (k->type != IMAP_SEARCH_SEQSET && k->type != IMAP_SEARCH_UIDSET)
			continue;
		const struct imap_seqset *set = &s->sets[k->slot];
		if (best == NULL || imap_seqset_count(set) < imap_seqset_count(best))
			best = set;
	}
	return best;
}

/* Evaluate for every candidate; the matching sequence numbers ascend in
 * *seqs_r (malloc'd). -1 on a store error (s->err). */
static int run_search(struct search_ctx *s, uint32_t **seqs_r, size_t *count_r)
{
	const struct imap_seqset *only = candidates(s);
	uint32_t count = mailbox_count(s->box), seq = 0;
	struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
	uint32_t *seqs = xreallocarray(NULL, count ? count : 1, sizeof(*seqs));
	size_t n = 0;

	for (;;) {
		if (only != NULL) {
			if (!imap_seqset_next(only, &it, &seq))
				break;
		} else if (++seq > count) {
			break;
		}
		if (seq > count)
			break;
		struct msg m;
		msg_init(&m, s, seq);
		int ret = m.rec != NULL ? eval(&m, s->prog->root) : EV_SKIP;
		msg_free(&m);
		if (ret == EV_FAIL) {
			free(seqs);
			return -1;
		}
		if (ret == EV_TRUE)
			seqs[n++] = seq;
	}
	*seqs_r = seqs;
	*count_r = n;
	return 0;
}

/* Did the arguments ask for RETURN (SAVE)? (Checked on errors too: RFC
 * 5182 2.1, a failed SEARCH with SAVE empties the saved result.) */
static bool args_want_save(const struct imap_cmd *cmd)
{
	const struct imap_arg *list;
	size_t n;
	if (cmd->count < 2 || !imap_arg_atom_equals(&cmd->args[0], "RETURN") ||
	    !imap_arg_get_list(&cmd->args[1], &list, &n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (imap_arg_atom_equals(&list[i], "SAVE"))
			return true;
	return false;
}

/* Parse errors and store errors end the command here; returns false
 * when it ended. */
static bool parse_program(struct imap_cmd *cmd, const struct imap_arg *args, size_t count,
			  enum imap_search_syntax syntax, struct search_ctx *s)
{
	const char *error;
	int r = imap_search_parse(args, count, syntax, &s->prog, &error);
	if (r == IMAP_SEARCH_BADCHARSET) {
		imap_cmd_no(cmd, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return false;
	}
	if (r != IMAP_SEARCH_OK) {
		imap_cmd_bad(cmd, "%s", error);
		return false;
	}
	if (ctx_prepare(s, cmd, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return false;
	}
	return true;
}

static void end_with_store_error(struct imap_cmd *cmd, struct search_ctx *s)
{
	imap_cmd_mail_error(cmd, s->err ? s->err : MAIL_ERR_TEMP, s->error, false);
}

static uint32_t result_id(struct search_ctx *s, bool uid, uint32_t seq)
{
	return uid ? mailbox_uid(s->box, seq) : seq;
}

static void out_flush(struct imap_client *c, buf_t *b, bool force)
{
	if (b->used >= SEARCH_FLUSH || (force && b->used > 0)) {
		imap_out_buf(c, b);
		buf_reset(b);
	}
}

static uint64_t max_modseq(struct search_ctx *s, const uint32_t *seqs, size_t n)
{
	uint64_t hi = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mail_index_record *rec = mailbox_record(s->box, seqs[i]);
		if (rec != NULL && rec->modseq > hi)
			hi = rec->modseq;
	}
	return hi;
}

/* RFC 4731 3.1 ESEARCH, with RFC 7162 3.1.5 MODSEQ */
static void write_esearch(struct search_ctx *s, struct imap_cmd *cmd, const uint32_t *seqs,
			  size_t n, buf_t *b)
{
	unsigned opts = s->prog->return_given ? s->prog->return_opts : IMAP_SEARCH_RETURN_ALL;

	buf_append_cstr(b, "* ESEARCH (TAG ");
	imap_write_string(b, cmd->tag, strlen(cmd->tag), 0);
	buf_append_byte(b, ')');
	if (cmd->uid)
		buf_append_cstr(b, " UID");
	if (n > 0 && (opts & IMAP_SEARCH_RETURN_MIN))
		buf_printf(b, " MIN %u", result_id(s, cmd->uid, seqs[0]));
	if (n > 0 && (opts & IMAP_SEARCH_RETURN_MAX))
		buf_printf(b, " MAX %u", result_id(s, cmd->uid, seqs[n - 1]));
	if (n > 0 && (opts & IMAP_SEARCH_RETURN_ALL)) {
		struct imap_seqset set;
		imap_seqset_init(&set, SIZE_MAX / 2);
		for (size_t i = 0; i < n; i++) {
			uint32_t id = result_id(s, cmd->uid, seqs[i]);
			imap_seqset_add(&set, id, id);
		}
		buf_append_cstr(b, " ALL ");
		imap_seqset_format(&set, b);
		imap_seqset_free(&set);
	}
	if (opts & IMAP_SEARCH_RETURN_COUNT)
		buf_printf(b, " COUNT %zu", n);
	if (s->prog->uses_modseq && n > 0) {
		uint64_t hi;
		if (opts & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) {
			hi = max_modseq(s, seqs, n);
		} else {
			/* only MIN and/or MAX: the messages returned */
			uint32_t ends[2] = { seqs[0], seqs[n - 1] };
			hi = 0;
			if (opts & IMAP_SEARCH_RETURN_MIN)
				hi = max_modseq(s, &ends[0], 1);
			if (opts & IMAP_SEARCH_RETURN_MAX) {
				uint64_t h2 = max_modseq(s, &ends[1], 1);
				hi = h2 > hi ? h2 : hi;
			}
		}
		if (hi > 0)
			buf_printf(b, " MODSEQ %llu", (unsigned long long)hi);
	}
	buf_append_cstr(b, "\r\n");
}

/* RFC 5182 2.4: what SAVE keeps, as UIDs. */
static void save_result(struct search_ctx *s, const uint32_t *seqs, size_t n)
{
	struct imap_client *c = s->c;
	unsigned opts = s->prog->return_opts;

	imap_seqset_free(&c->searchres);
	imap_seqset_init(&c->searchres, (size_t)mailbox_count(s->box) + 1);
	if (n == 0)
		return;
	if ((opts & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) ||
	    !(opts & (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX))) {
		for (size_t i = 0; i < n; i++) {
			uint32_t uid = mailbox_uid(s->box, seqs[i]);
			imap_seqset_add(&c->searchres, uid, uid);
		}
		return;
	}
	if (opts & IMAP_SEARCH_RETURN_MIN) {
		uint32_t uid = mailbox_uid(s->box, seqs[0]);
		imap_seqset_add(&c->searchres, uid, uid);
	}
	if (opts & IMAP_SEARCH_RETURN_MAX) {
		uint32_t uid = mailbox_uid(s->box, seqs[n - 1]);
		imap_seqset_add(&c->searchres, uid, uid);
	}
}

enum imap_cmd_result imap_cmd_search(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	struct search_ctx s = { 0 };
	uint32_t *seqs = NULL;
	size_t n = 0;

	if (!parse_program(cmd, cmd->args, cmd->count, IMAP_SEARCH_SYNTAX_SEARCH, &s)) {
		if (args_want_save(cmd))
			imap_seqset_clear(&c->searchres);
		ctx_free(&s);
		return IMAP_CMD_DONE;
	}
	if (run_search(&s, &seqs, &n) < 0) {
		if (s.prog->return_opts & IMAP_SEARCH_RETURN_SAVE)
			imap_seqset_clear(&c->searchres);
		end_with_store_error(cmd, &s);
		ctx_free(&s);
		return IMAP_CMD_DONE;
	}

	buf_t b;
	buf_init(&b, 0);
	if (s.prog->return_given || c->rev2) {
		/* RFC 5182 2.1: SAVE alone answers with no ESEARCH */
		if (!s.prog->return_given || s.prog->return_opts != IMAP_SEARCH_RETURN_SAVE)
			write_esearch(&s, cmd, seqs, n, &b);
	} else {
		buf_append_cstr(&b, "* SEARCH");
		for (size_t i = 0; i < n; i++) {
			buf_printf(&b, " %u", result_id(&s, cmd->uid, seqs[i]));
			out_flush(c, &b, false);
		}
		if (s.prog->uses_modseq && n > 0)
			buf_printf(&b, " (MODSEQ %llu)",
				   (unsigned long long)max_modseq(&s, seqs, n));
		buf_append_cstr(&b, "\r\n");
	}
	out_flush(c, &b, true);
	buf_free(&b);
	if (s.prog->return_opts & IMAP_SEARCH_RETURN_SAVE)
		save_result(&s, seqs, n);
	free(seqs);
	ctx_free(&s);
	imap_cmd_ok(cmd, "%sSEARCH completed", cmd->uid ? "UID " : "");
	return IMAP_CMD_DONE;
}

/* ---- SORT ---- */

union sort_value {
	int64_t num;
	struct {
		uint32_t off, len;
	} str;
};

struct sort_ctx {
	const struct imap_sort_criterion *crit;
	size_t ncrit;
	const union sort_value *values;	/* ncrit per item */
	const char *arena;
};

struct sort_item {
	uint32_t seq;
	uint32_t index;		/* into values */
};

static void upper_ascii(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 32);
}

/* Append the string key for a criterion to arena (capped), as
 * i;ascii-casemap upper case. */
static int sort_string(struct msg *m, enum imap_sort_key key, buf_t *arena,
		       union sort_value *v)
{
	buf_t tmp;
	int ret;

	if ((ret = msg_envelope(m)) < 0)
		return ret;
	buf_init(&tmp, 0);
	if (key == IMAP_SORT_SUBJECT) {
		/* RFC 5256 2.1 */
		if (m->env.subject.ptr != NULL)
			imap_base_subject(m->env.subject, &tmp, NULL);
	} else {
		/* RFC 5256 3: addr-mailbox of the first address;
		 * RFC 5957: the display name, else mailbox@host */
		enum imap_search_env_addr list =
			key == IMAP_SORT_CC ? IMAP_ENV_CC
			: key == IMAP_SORT_FROM || key == IMAP_SORT_DISPLAYFROM ? IMAP_ENV_FROM
			: IMAP_ENV_TO;
		const struct imap_search_addr *a = NULL;
		for (size_t i = 0; i < m->env.naddrs[list] && a == NULL; i++)
			if (m->env.addrs[list][i].host.ptr != NULL)
				a = &m->env.addrs[list][i];
		if (a != NULL) {
			bool display = key == IMAP_SORT_DISPLAYFROM || key == IMAP_SORT_DISPLAYTO;
			if (display && a->name.ptr != NULL && a->name.len > 0)
				rfc2047_decode(a->name, &tmp);
			if (tmp.used == 0) {
				if (a->mailbox.ptr != NULL)
					buf_append_slice(&tmp, a->mailbox);
				if (display) {
					buf_append_byte(&tmp, '@');
					buf_append_slice(&tmp, a->host);
				}
			}
		}
		upper_ascii(tmp.data, tmp.used);
	}
	size_t len = tmp.used < SORT_STRING_MAX ? tmp.used : SORT_STRING_MAX;
	v->str.off = (uint32_t)arena->used;
	v->str.len = (uint32_t)len;
	ret = arena->used + len > UINT32_MAX ? -1 : buf_append(arena, tmp.data, len);
	buf_free(&tmp);
	if (ret < 0)
		return store_fail(m->s, MAIL_ERR_TEMP, xstrdup("SORT: too much data"));
	return 0;
}

static int sort_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct sort_item *a = pa, *b = pb;
	const struct sort_ctx *sc = ctx;

	for (size_t i = 0; i < sc->ncrit; i++) {
		const union sort_value *va = &sc->values[a->index * sc->ncrit + i];
		const union sort_value *vb = &sc->values[b->index * sc->ncrit + i];
		int r;
		switch (sc->crit[i].key) {
		case IMAP_SORT_ARRIVAL:
		case IMAP_SORT_DATE:
		case IMAP_SORT_SIZE:
			r = va->num < vb->num ? -1 : va->num > vb->num;
			break;
		default: {
			size_t n = va->str.len < vb->str.len ? va->str.len : vb->str.len;
			r = n > 0 ? memcmp(sc->arena + va->str.off, sc->arena + vb->str.off, n) : 0;
			if (r == 0)
				r = va->str.len < vb->str.len ? -1 : va->str.len > vb->str.len;
			break;
		}
		}
		if (r != 0)
			return sc->crit[i].reverse ? -r : r;
	}
	/* RFC 5256 3: equal keys keep mailbox order */
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

enum imap_cmd_result imap_cmd_sort(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	struct imap_sort_criterion crit[IMAP_SORT_MAX_CRITERIA];
	struct search_ctx s = { 0 };
	const char *error;
	size_t ncrit, n = 0;
	uint32_t *seqs = NULL;

	if (cmd->count < 3) {
		imap_cmd_bad(cmd, "SORT needs criteria, a charset and search keys");
		return IMAP_CMD_DONE;
	}
	if (imap_sort_parse(&cmd->args[0], crit, IMAP_SORT_MAX_CRITERIA, &ncrit, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return IMAP_CMD_DONE;
	}
	if (!parse_program(cmd, cmd->args + 1, cmd->count - 1, IMAP_SEARCH_SYNTAX_CHARSET_FIRST,
			   &s)) {
		ctx_free(&s);
		return IMAP_CMD_DONE;
	}
	if (run_search(&s, &seqs, &n) < 0) {
		end_with_store_error(cmd, &s);
		ctx_free(&s);
		return IMAP_CMD_DONE;
	}

	struct sort_item *items = xreallocarray(NULL, n ? n : 1, sizeof(*items));
	union sort_value *values = xreallocarray(NULL, n ? n * ncrit : 1, sizeof(*values));
	buf_t arena;
	size_t kept = 0;
	int ret = 0;
	buf_init(&arena, 0);
	for (size_t i = 0; i < n && ret != EV_FAIL; i++) {
		struct msg m;
		msg_init(&m, &s, seqs[i]);
		ret = m.rec != NULL ? 0 : EV_SKIP;
		for (size_t j = 0; j < ncrit && ret == 0; j++) {
			union sort_value *v = &values[kept * ncrit + j];
			uint64_t vsize;
			switch (crit[j].key) {
			case IMAP_SORT_ARRIVAL:
				v->num = m.rec->idate;
				break;
			case IMAP_SORT_DATE:
				ret = msg_sent_time(&m, &v->num);
				break;
			case IMAP_SORT_SIZE:
				ret = msg_vsize(&m, &vsize);
				v->num = (int64_t)vsize;
				break;
			default:
				ret = sort_string(&m, crit[j].key, &arena, v);
				break;
			}
		}
		msg_free(&m);
		if (ret == 0) {
			items[kept].seq = seqs[i];
			items[kept].index = (uint32_t)kept;
			kept++;
		}
	}
	if (ret == EV_FAIL) {
		end_with_store_error(cmd, &s);
	} else {
		struct sort_ctx sc = { crit, ncrit, values, arena.data };
		qsort_r(items, kept, sizeof(*items), sort_cmp, &sc);
		buf_t b;
		buf_init(&b, 0);
		buf_append_cstr(&b, "* SORT");
		for (size_t i = 0; i < kept; i++) {
			buf_printf(&b, " %u", result_id(&s, cmd->uid, items[i].seq));
			out_flush(c, &b, false);
		}
		if (s.prog->uses_modseq && kept > 0) {
			uint64_t hi = 0;
			for (size_t i = 0; i < kept; i++) {
				uint64_t h = max_modseq(&s, &items[i].seq, 1);
				hi = h > hi ? h : hi;
			}
			buf_printf(&b, " (MODSEQ %llu)", (unsigned long long)hi);
		}
		buf_append_cstr(&b, "\r\n");
		out_flush(c, &b, true);
		buf_free(&b);
		imap_cmd_ok(cmd, "%sSORT completed", cmd->uid ? "UID " : "");
	}
	buf_free(&arena);
	free(values);
	free(items);
	free(seqs);
	ctx_free(&s);
	return IMAP_CMD_DONE;
}

/* ---- THREAD ---- */

struct thread_strings {
	uint32_t off[4], len[4];	/* subject, message-id, in-reply-to, references */
	bool has[4];
};

static void keep_string(buf_t *arena, slice_t v, bool tail, struct thread_strings *ts, int i)
{
	if (v.ptr == NULL)
		return;
	if (v.len > (tail ? THREAD_REFS_MAX : SORT_STRING_MAX)) {
		size_t cap = tail ? THREAD_REFS_MAX : SORT_STRING_MAX;
		v = tail ? slice_make(v.ptr + v.len - cap, cap) : slice_make(v.ptr, cap);
	}
	ts->off[i] = (uint32_t)arena->used;
	ts->len[i] = (uint32_t)v.len;
	ts->has[i] = true;
	buf_append_slice(arena, v);
}

enum imap_cmd_result imap_cmd_thread(struct imap_cmd *cmd)
{
	struct imap_client *c = cmd->c;
	struct search_ctx s = { 0 };
	enum imap_thread_alg alg;
	uint32_t *seqs = NULL;
	size_t n = 0;

	if (cmd->count < 3) {
		imap_cmd_bad(cmd, "THREAD needs an algorithm, a charset and search keys");
		return IMAP_CMD_DONE;
	}
	if (imap_arg_atom_equals(&cmd->args[0], "REFERENCES"))
		alg = IMAP_THREAD_REFERENCES;
	else if (imap_arg_atom_equals(&cmd->args[0], "ORDEREDSUBJECT"))
		alg = IMAP_THREAD_ORDEREDSUBJECT;
	else {
		imap_cmd_bad(cmd, "Unknown thread algorithm");
		return IMAP_CMD_DONE;
	}
	if (!parse_program(cmd, cmd->args + 1, cmd->count - 1, IMAP_SEARCH_SYNTAX_CHARSET_FIRST,
			   &s)) {
		ctx_free(&s);
		return IMAP_CMD_DONE;
	}
	if (run_search(&s, &seqs, &n) < 0) {
		end_with_store_error(cmd, &s);
		ctx_free(&s);
		return IMAP_CMD_DONE;
	}

	struct imap_thread_msg *tm = xcalloc(n ? n : 1, sizeof(*tm));
	struct thread_strings *ts = xcalloc(n ? n : 1, sizeof(*ts));
	buf_t arena, subj;
	size_t kept = 0;
	int ret = 0;
	buf_init(&arena, 0);
	buf_init(&subj, 0);
	for (size_t i = 0; i < n && ret != EV_FAIL; i++) {
		struct msg m;
		bool reply = false;
		int64_t date = 0;
		msg_init(&m, &s, seqs[i]);
		ret = m.rec != NULL ? msg_sent_time(&m, &date) : EV_SKIP;
		if (ret == 0 && alg == IMAP_THREAD_REFERENCES)
			ret = msg_header(&m);
		if (ret == 0 && arena.used > UINT32_MAX - 16 * 1024)
			ret = store_fail(&s, MAIL_ERR_TEMP, xstrdup("THREAD: too much data"));
		if (ret == 0) {
			buf_reset(&subj);
			if (m.env.subject.ptr != NULL)
				imap_base_subject(m.env.subject, &subj, &reply);
			keep_string(&arena, buf_slice(&subj), false, &ts[kept], 0);
			if (alg == IMAP_THREAD_REFERENCES) {
				size_t f = rfc5322_header_find(&m.hdr, "References", 0);
				keep_string(&arena, m.env.message_id, false, &ts[kept], 1);
				keep_string(&arena, m.env.in_reply_to, false, &ts[kept], 2);
				if (f != SIZE_MAX)
					keep_string(&arena,
						    rfc5322_field_value(&m.hdr, &m.hdr.fields[f]),
						    true, &ts[kept], 3);
			}
			tm[kept] = (struct imap_thread_msg){
				.id = result_id(&s, cmd->uid, seqs[i]), .seq = seqs[i],
				.date = date, .is_reply = reply,
			};
			kept++;
		}
		msg_free(&m);
	}
	if (ret == EV_FAIL) {
		end_with_store_error(cmd, &s);
	} else {
		/* the arena no longer moves: point into it */
		for (size_t i = 0; i < kept; i++) {
			slice_t *f[4] = { &tm[i].subject, &tm[i].message_id, &tm[i].in_reply_to,
					  &tm[i].references };
			for (int j = 0; j < 4; j++)
				if (ts[i].has[j])
					*f[j] = slice_make(arena.data + ts[i].off[j], ts[i].len[j]);
		}
		buf_t b;
		buf_init(&b, 0);
		buf_append_cstr(&b, "* THREAD");
		if (kept > 0) {
			buf_append_byte(&b, ' ');
			imap_thread(alg, tm, kept, &b);
		}
		buf_append_cstr(&b, "\r\n");
		out_flush(c, &b, true);
		buf_free(&b);
		imap_cmd_ok(cmd, "%sTHREAD completed", cmd->uid ? "UID " : "");
	}
	buf_free(&subj);
	buf_free(&arena);
	free(ts);
	free(tm);
	free(seqs);
	ctx_free(&s);
	return IMAP_CMD_DONE;
}
