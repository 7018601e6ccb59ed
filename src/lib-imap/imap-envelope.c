/* IMAP ENVELOPE: RFC 3501 7.4.2 / RFC 9051 7.5.2. See imap-envelope.h. */
#include <string.h>

#include "imap-envelope.h"

static const char nul_replacement[] = "\xEF\xBF\xBD";	/* U+FFFD */

int imap_envelope_append_nstring(buf_t *out, slice_t s)
{
	bool literal = s.len > IMAP_STRING_QUOTED_MAX;
	size_t nuls = 0, start = out->used;
	int r = 0;

	if (s.ptr == NULL)
		return buf_append(out, "NIL", 3);
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (c == '\0')
			nuls++;
		if (c >= 0x80 || c == '\r' || c == '\n' || c == '\0')
			literal = true;
	}
	if (literal) {
		/* RFC 3501 4.3: {n}CRLF then n octets; no NUL allowed */
		r = buf_printf(out, "{%zu}\r\n", s.len + nuls * 2);
		for (size_t i = 0, run = 0; r == 0 && i <= s.len; i++) {
			if (i < s.len && s.ptr[i] != '\0')
				continue;
			r = buf_append(out, s.ptr + run, i - run);
			if (r == 0 && i < s.len)
				r = buf_append(out, nul_replacement, 3);
			run = i + 1;
		}
	} else {
		/* RFC 3501 9: quoted-specials are '"' and '\\' */
		r = buf_append_byte(out, '"');
		for (size_t i = 0, run = 0; r == 0 && i <= s.len; i++) {
			if (i < s.len && s.ptr[i] != '"' && s.ptr[i] != '\\')
				continue;
			r = buf_append(out, s.ptr + run, i - run);
			if (r == 0 && i < s.len) {
				char esc[2] = { '\\', s.ptr[i] };
				r = buf_append(out, esc, 2);
			}
			run = i + 1;
		}
		if (r == 0)
			r = buf_append_byte(out, '"');
	}
	if (r < 0)
		buf_truncate(out, start);
	return r;
}

enum env_field {
	ENV_DATE, ENV_SUBJECT, ENV_FROM, ENV_SENDER, ENV_REPLY_TO, ENV_TO,
	ENV_CC, ENV_BCC, ENV_IN_REPLY_TO, ENV_MESSAGE_ID, ENV_COUNT
};

static const char *const env_names[ENV_COUNT] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"In-Reply-To", "Message-ID",
};

static bool env_is_address(enum env_field f)
{
	return f >= ENV_FROM && f <= ENV_BCC;
}

/* Unfolded (optionally squeezed) string, or NIL for an absent field. */
static int write_text(buf_t *out, slice_t raw, bool present, bool squeeze)
{
	buf_t tmp;
	int r;

	if (!present)
		return buf_append(out, "NIL", 3);
	buf_init(&tmp, 0);
	(void)rfc5322_unfold(raw, squeeze, &tmp);
	r = imap_envelope_append_nstring(out, buf_slice(&tmp));
	buf_free(&tmp);
	return r;
}

static int write_name(buf_t *out, slice_t name)
{
	if (name.ptr == NULL)
		return buf_append(out, "NIL", 3);
	return write_text(out, name, true, true);
}

static int write_addresses(buf_t *out, const struct rfc5322_address_list *l)
{
	int r = 0;

	if (l->count == 0)
		return buf_append(out, "NIL", 3);
	r = buf_append_byte(out, '(');
	for (size_t i = 0; r == 0 && i < l->count; i++) {
		const struct rfc5322_address *a = &l->addrs[i];
		slice_t mailbox = a->mailbox, domain = a->domain;

		switch (a->kind) {
		case RFC5322_ADDR_GROUP_START:
			r = buf_append(out, "(NIL NIL ", 9);
			if (r == 0)
				r = imap_envelope_append_nstring(out, a->mailbox);
			if (r == 0)
				r = buf_append(out, " NIL)", 5);
			continue;
		case RFC5322_ADDR_GROUP_END:
			r = buf_append(out, "(NIL NIL NIL NIL)", 17);
			continue;
		case RFC5322_ADDR_MAILBOX:
			break;
		}
		if (mailbox.ptr == NULL || mailbox.len == 0)
			mailbox = SLICE_LIT("MISSING_MAILBOX");
		if (domain.ptr == NULL || domain.len == 0)
			domain = SLICE_LIT("MISSING_DOMAIN");
		r = buf_append_byte(out, '(');
		if (r == 0)
			r = write_name(out, a->name);
		if (r == 0)
			r = buf_append_byte(out, ' ');
		if (r == 0)
			r = imap_envelope_append_nstring(out, a->route);
		if (r == 0)
			r = buf_append_byte(out, ' ');
		if (r == 0)
			r = imap_envelope_append_nstring(out, mailbox);
		if (r == 0)
			r = buf_append_byte(out, ' ');
		if (r == 0)
			r = imap_envelope_append_nstring(out, domain);
		if (r == 0)
			r = buf_append_byte(out, ')');
	}
	if (r == 0)
		r = buf_append_byte(out, ')');
	return r;
}

int imap_envelope_write(const struct rfc5322_header *h, buf_t *out)
{
	struct rfc5322_address_list lists[ENV_COUNT];
	slice_t text[ENV_COUNT];
	bool present[ENV_COUNT];
	size_t start = out->used;
	int r;

	memset(lists, 0, sizeof(lists));
	memset(present, 0, sizeof(present));
	for (size_t i = 0; i < h->count; i++) {
		const struct rfc5322_field *f = &h->fields[i];
		slice_t name = rfc5322_field_name(h, f);

		if ((f->flags & RFC5322_FIELD_NO_COLON) != 0)
			continue;
		for (int e = 0; e < ENV_COUNT; e++) {
			slice_t v;
			if (!slice_eq_cstr_ci(name, env_names[e]))
				continue;
			v = rfc5322_field_value(h, f);
			if (env_is_address(e)) {
				/* joined; the cap counts over the field */
				rfc5322_address_parse(v, 0, &lists[e]);
			} else {
				text[e] = v;	/* the last one counts */
				present[e] = true;
			}
			break;
		}
	}

	r = buf_append_byte(out, '(');
	for (int e = 0; r == 0 && e < ENV_COUNT; e++) {
		const struct rfc5322_address_list *l = &lists[e];

		if (e > 0)
			r = buf_append_byte(out, ' ');
		if (r < 0)
			break;
		if ((e == ENV_SENDER || e == ENV_REPLY_TO) && l->count == 0)
			l = &lists[ENV_FROM];	/* RFC 3501 7.4.2 defaults */
		if (env_is_address(e))
			r = write_addresses(out, l);
		else
			r = write_text(out, text[e], present[e], e == ENV_SUBJECT);
	}
	if (r == 0)
		r = buf_append_byte(out, ')');
	for (int e = 0; e < ENV_COUNT; e++)
		rfc5322_address_list_free(&lists[e]);
	if (r < 0)
		buf_truncate(out, start);
	return r;
}

int imap_envelope_write_data(const char *data, size_t len, buf_t *out)
{
	struct rfc5322_header h;
	int r;

	rfc5322_header_parse_all(&h, data, len, NULL);
	r = imap_envelope_write(&h, out);
	rfc5322_header_deinit(&h);
	return r;
}
