/* SMTP command line parser: RFC 5321 4.1, ESMTP parameters of RFC 1870
 * (SIZE), RFC 3030 (BDAT, BINARYMIME), RFC 3461 (DSN), RFC 4954 (AUTH),
 * RFC 6152 (8BITMIME) and RFC 6531 (SMTPUTF8). See smtp-command.h. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "smtp-command.h"
#include "xalloc.h"

#define SMTP_HELO_LITERAL_MAX 64	/* "[IPv6:" + 45-char text + "]" fits */

struct smtp_verb_def {
	const char *name;
	enum smtp_verb verb;
};

static const struct smtp_verb_def smtp_verbs[] = {
	{ "EHLO", SMTP_EHLO }, { "HELO", SMTP_HELO }, { "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT }, { "DATA", SMTP_DATA }, { "BDAT", SMTP_BDAT },
	{ "RSET", SMTP_RSET }, { "NOOP", SMTP_NOOP }, { "QUIT", SMTP_QUIT },
	{ "HELP", SMTP_HELP }, { "VRFY", SMTP_VRFY }, { "EXPN", SMTP_EXPN },
	{ "STARTTLS", SMTP_STARTTLS }, { "AUTH", SMTP_AUTH },
};
#define SMTP_VERB_COUNT (sizeof(smtp_verbs) / sizeof(smtp_verbs[0]))

static int smtp_fail(struct smtp_error *err_r, int code, const char *enhanced,
		     const char *text)
{
	err_r->code = code;
	err_r->enhanced = enhanced;
	err_r->text = text;
	return -1;
}

static int smtp_syntax(struct smtp_error *err_r, const char *text)
{
	return smtp_fail(err_r, 501, "5.5.4", text);
}

const char *smtp_verb_name(enum smtp_verb v)
{
	for (size_t i = 0; i < SMTP_VERB_COUNT; i++)
		if (smtp_verbs[i].verb == v)
			return smtp_verbs[i].name;
	return "UNKNOWN";
}

/* ---- bytes and tokens ---- */

static bool smtp_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static int smtp_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Length of the well-formed UTF-8 sequence at p[0] >= 0x80 (RFC 3629 4:
 * no overlongs, no surrogates, nothing above U+10FFFF), or 0. */
static size_t smtp_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static bool smtp_utf8_valid(slice_t s)
{
	const unsigned char *p = (const unsigned char *)s.ptr;

	for (size_t i = 0; i < s.len;) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = smtp_utf8_len(p + i, s.len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

static bool smtp_has_control(slice_t s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

static bool smtp_has_8bit(slice_t s)
{
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.ptr[i] >= 0x80)
			return true;
	return false;
}

/* Checks on the whole line before any token is looked at: NUL and bad
 * UTF-8 anywhere (PARSE-6, PARSE-11). Other controls are refused by each
 * field's own syntax. */
static int smtp_check_line(slice_t line, struct smtp_error *err_r)
{
	if (line.len > 0 && memchr(line.ptr, '\0', line.len) != NULL)
		return smtp_fail(err_r, 500, "5.5.2", "Error: NUL character in command");
	if (!smtp_utf8_valid(line))
		return smtp_fail(err_r, 500, "5.5.2", "Error: bad UTF-8 syntax");
	return 0;
}

static slice_t smtp_skip_sp(slice_t s)
{
	while (s.len > 0 && s.ptr[0] == ' ') {
		s.ptr++;
		s.len--;
	}
	return s;
}

/* Next SP-separated token of *s; *s moves past it and the SPs after it. */
static slice_t smtp_next_token(slice_t *s)
{
	size_t n = 0;

	while (n < s->len && s->ptr[n] != ' ')
		n++;
	slice_t tok = slice_make(s->ptr, n);
	*s = smtp_skip_sp(slice_sub(*s, n, s->len - n));
	return tok;
}

static size_t smtp_count_tokens(slice_t s)
{
	size_t n = 0;

	for (s = smtp_skip_sp(s); s.len > 0; n++)
		(void)smtp_next_token(&s);
	return n;
}

/* ---- xtext (RFC 3461 4) ---- */

/* xchar = "!".."~" except "+" and "=" */
static bool smtp_is_xchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '+' && c != '=';
}

int smtp_xtext_decode(const char *in, size_t len, buf_t *out)
{
	const unsigned char *p = (const unsigned char *)in;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c == '+') {
			int hi, lo;
			if (len - i < 3 || (hi = smtp_hex_value(p[i + 1])) < 0 ||
			    (lo = smtp_hex_value(p[i + 2])) < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (!smtp_is_xchar(c)) {
			return -1;
		}
		/* printable US-ASCII only: nothing that could split a spool
		 * record or a header (Exim CVE-2020-28021/28026) */
		if (c < 0x20 || c >= 0x7f)
			return -1;
		if (buf_append_byte(out, (char)c) < 0)
			return -1;
	}
	return 0;
}

void smtp_xtext_encode(const char *in, size_t len, buf_t *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char enc[3] = { '+', hex[c >> 4], hex[c & 0xf] };
		int ret = smtp_is_xchar(c) ? buf_append_byte(out, (char)c) :
			  buf_append(out, enc, sizeof(enc));
		if (ret < 0)
			return;
	}
}

/* Decode an xtext value of at most max encoded octets into a new string. */
static char *smtp_xtext_dup(slice_t val, size_t max)
{
	buf_t b;
	char *s = NULL;

	if (val.len == 0 || val.len > max)
		return NULL;
	buf_init(&b, max);
	if (smtp_xtext_decode(val.ptr, val.len, &b) == 0 && b.used > 0)
		s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

/* ---- ESMTP parameters (RFC 5321 4.1.2 esmtp-param) ---- */

static bool smtp_param_size(struct smtp_params *p, slice_t val)
{
	/* RFC 1870 6: size-value = 1*20DIGIT; overflow is a syntax error,
	 * a value over the limit is the caller's 552 */
	p->has_size = slice_to_u64(val, &p->size) == 0;
	return p->has_size;
}

static bool smtp_param_body(struct smtp_params *p, slice_t val)
{
	if (slice_eq_cstr_ci(val, "7BIT"))
		p->body = SMTP_BODY_7BIT;
	else if (slice_eq_cstr_ci(val, "8BITMIME"))	/* RFC 6152 2 */
		p->body = SMTP_BODY_8BITMIME;
	else if (slice_eq_cstr_ci(val, "BINARYMIME"))	/* RFC 3030 3 */
		p->body = SMTP_BODY_BINARYMIME;
	return p->body != SMTP_BODY_NONE;
}

static bool smtp_param_smtputf8(struct smtp_params *p, slice_t val)
{
	(void)val;
	p->smtputf8 = true;	/* RFC 6531 3.4: no value */
	return true;
}

static bool smtp_param_ret(struct smtp_params *p, slice_t val)
{
	if (slice_eq_cstr_ci(val, "FULL"))
		p->ret = SMTP_RET_FULL;
	else if (slice_eq_cstr_ci(val, "HDRS"))
		p->ret = SMTP_RET_HDRS;
	return p->ret != SMTP_RET_NONE;	/* RFC 3461 4.3 */
}

static bool smtp_param_envid(struct smtp_params *p, slice_t val)
{
	p->envid = smtp_xtext_dup(val, SMTP_ENVID_MAX);	/* RFC 3461 4.4 */
	return p->envid != NULL;
}

/* RFC 4954 5: AUTH=<>, or an xtext-encoded addr-spec. */
static bool smtp_param_auth(struct smtp_params *p, slice_t val)
{
	struct mail_address a;
	const char *error;

	p->auth = smtp_xtext_dup(val, SMTP_AUTH_PARAM_MAX);
	if (p->auth == NULL)
		return false;
	if (strcmp(p->auth, "<>") == 0)
		return true;
	if (address_parse(p->auth, 0, &a, &error) < 0)
		return false;
	mail_address_free(&a);
	return true;
}

static unsigned smtp_notify_word(slice_t w)
{
	if (slice_eq_cstr_ci(w, "NEVER"))
		return SMTP_NOTIFY_NEVER;
	if (slice_eq_cstr_ci(w, "SUCCESS"))
		return SMTP_NOTIFY_SUCCESS;
	if (slice_eq_cstr_ci(w, "FAILURE"))
		return SMTP_NOTIFY_FAILURE;
	if (slice_eq_cstr_ci(w, "DELAY"))
		return SMTP_NOTIFY_DELAY;
	return 0;
}

/* RFC 3461 4.1: "NEVER" alone, or a comma list of SUCCESS/FAILURE/DELAY. */
static bool smtp_param_notify(struct smtp_params *p, slice_t val)
{
	slice_t word;
	bool more;

	do {
		more = slice_split(val, ',', &word, &val);
		unsigned bit = smtp_notify_word(word);
		if (bit == 0 || (p->notify & bit) != 0)
			return false;
		p->notify |= bit;
	} while (more);
	return (p->notify & SMTP_NOTIFY_NEVER) == 0 || p->notify == SMTP_NOTIFY_NEVER;
}

/* RFC 3461 4.2: ORCPT=addr-type ";" xtext, addr-type an atom such as
 * "rfc822"; the whole value is at most 500 characters. */
static bool smtp_param_orcpt(struct smtp_params *p, slice_t val)
{
	slice_t type, addr;

	if (val.len > SMTP_ORCPT_MAX || !slice_split(val, ';', &type, &addr) ||
	    type.len == 0)
		return false;
	for (size_t i = 0; i < type.len; i++) {
		unsigned char c = (unsigned char)type.ptr[i];
		if (!smtp_is_alnum(c) && c != '-')
			return false;
	}
	p->orcpt_addr = smtp_xtext_dup(addr, SMTP_ORCPT_MAX);
	if (p->orcpt_addr == NULL)
		return false;
	p->orcpt_type = slice_dup(type);
	return true;
}

struct smtp_param_def {
	const char *keyword;
	enum smtp_verb verb;	/* MAIL or RCPT */
	bool has_value;		/* keyword=value, or a bare keyword */
	bool (*parse)(struct smtp_params *p, slice_t val);
	const char *error;	/* 501 5.5.4 text when parse() fails */
};

static const struct smtp_param_def smtp_param_defs[] = {
	{ "SIZE", SMTP_MAIL, true, smtp_param_size, "Error: bad SIZE value" },
	{ "BODY", SMTP_MAIL, true, smtp_param_body, "Error: bad BODY value" },
	{ "SMTPUTF8", SMTP_MAIL, false, smtp_param_smtputf8, "Error: SMTPUTF8 takes no value" },
	{ "RET", SMTP_MAIL, true, smtp_param_ret, "Error: bad RET value" },
	{ "ENVID", SMTP_MAIL, true, smtp_param_envid, "Error: bad ENVID value" },
	{ "AUTH", SMTP_MAIL, true, smtp_param_auth, "Error: bad AUTH value" },
	{ "NOTIFY", SMTP_RCPT, true, smtp_param_notify, "Error: bad NOTIFY value" },
	{ "ORCPT", SMTP_RCPT, true, smtp_param_orcpt, "Error: bad ORCPT value" },
};
#define SMTP_PARAM_DEF_COUNT (sizeof(smtp_param_defs) / sizeof(smtp_param_defs[0]))

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool smtp_keyword_valid(slice_t kw)
{
	if (kw.len == 0 || !smtp_is_alnum((unsigned char)kw.ptr[0]))
		return false;
	for (size_t i = 1; i < kw.len; i++)
		if (!smtp_is_alnum((unsigned char)kw.ptr[i]) && kw.ptr[i] != '-')
			return false;
	return true;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531 3.3; the
 * line was checked to be valid UTF-8 and split at SP). */
static bool smtp_value_valid(slice_t val)
{
	return val.len > 0 && slice_find(val, '=') < 0 && !smtp_has_control(val);
}

static int smtp_parse_param(slice_t tok, enum smtp_verb verb, unsigned *seen,
			    struct smtp_params *p, struct smtp_error *err_r)
{
	slice_t kw, val;
	bool has_value = slice_split(tok, '=', &kw, &val);

	if (!smtp_keyword_valid(kw) || (has_value && !smtp_value_valid(val)))
		return smtp_syntax(err_r, "Error: bad parameter syntax");
	for (size_t i = 0; i < SMTP_PARAM_DEF_COUNT; i++) {
		const struct smtp_param_def *def = &smtp_param_defs[i];
		if (def->verb != verb || !slice_eq_cstr_ci(kw, def->keyword))
			continue;
		if ((*seen & (1u << i)) != 0)
			return smtp_syntax(err_r, "Error: duplicate parameter");
		*seen |= 1u << i;
		if (has_value != def->has_value || !def->parse(p, val))
			return smtp_syntax(err_r, def->error);
		return 0;
	}
	return smtp_fail(err_r, 555, "5.5.4", "Error: unsupported option");
}

static int smtp_parse_params(slice_t s, enum smtp_verb verb,
			     struct smtp_params *p, struct smtp_error *err_r)
{
	unsigned seen = 0;

	if (smtp_count_tokens(s) > SMTP_PARAMS_MAX)
		return smtp_syntax(err_r, "Error: too many parameters");
	for (s = smtp_skip_sp(s); s.len > 0;) {
		if (smtp_parse_param(smtp_next_token(&s), verb, &seen, p, err_r) < 0)
			return -1;
	}
	return 0;
}

/* ---- MAIL, RCPT (RFC 5321 4.1.1.2, 4.1.1.3) ---- */

struct smtp_path_rule {
	const char *prefix;	/* "FROM:" / "TO:" */
	unsigned addr_flags;
	const char *enhanced;	/* bad sender 5.1.7, bad recipient 5.1.3 */
	const char *usage;
};

static const struct smtp_path_rule smtp_mail_rule = {
	"FROM:", ADDR_ALLOW_NULL | ADDR_SMTPUTF8, "5.1.7", "Syntax: MAIL FROM:<address>"
};
static const struct smtp_path_rule smtp_rcpt_rule = {
	"TO:", ADDR_ALLOW_POSTMASTER | ADDR_SMTPUTF8, "5.1.3", "Syntax: RCPT TO:<address>"
};

/* Parse "FROM:<path>" / "TO:<path>"; *rest_r gets what follows the path. */
static int smtp_parse_path(slice_t args, const struct smtp_path_rule *rule,
			   struct smtp_command *cmd, slice_t *path_r,
			   slice_t *rest_r, struct smtp_error *err_r)
{
	size_t plen = strlen(rule->prefix);
	const char *error;

	if (!slice_starts_with_ci(args, rule->prefix))
		return smtp_fail(err_r, 501, "5.5.4", rule->usage);
	args = slice_sub(args, plen, args.len - plen);
	/* one SP after the colon, as Postfix tolerates */
	if (args.len > 0 && args.ptr[0] == ' ')
		args = slice_sub(args, 1, args.len - 1);
	ssize_t n = address_parse_path(args.ptr, args.len, rule->addr_flags,
				       &cmd->addr, &error);
	if (n < 0)
		return smtp_fail(err_r, 501, rule->enhanced, error);
	*path_r = slice_make(args.ptr, (size_t)n);
	*rest_r = slice_sub(args, (size_t)n, args.len - (size_t)n);
	if (rest_r->len > 0 && rest_r->ptr[0] != ' ')
		return smtp_fail(err_r, 501, rule->enhanced,
				 "Error: junk after address");
	return 0;
}

/* RFC 6531 3.5: a non-ASCII address needs SMTPUTF8 (X.6.7, RFC 5248). */
static int smtp_check_utf8_path(slice_t path, bool allowed, struct smtp_error *err_r)
{
	if (!allowed && smtp_has_8bit(path))
		return smtp_fail(err_r, 553, "5.6.7",
				 "Error: non-ASCII addresses not permitted without SMTPUTF8");
	return 0;
}

static int smtp_parse_mail(slice_t args, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	slice_t path, rest;

	if (smtp_parse_path(args, &smtp_mail_rule, cmd, &path, &rest, err_r) < 0 ||
	    smtp_parse_params(rest, SMTP_MAIL, &cmd->params, err_r) < 0)
		return -1;
	return smtp_check_utf8_path(path, cmd->params.smtputf8, err_r);
}

static int smtp_parse_rcpt(slice_t args, unsigned flags, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	slice_t path, rest;

	if (smtp_parse_path(args, &smtp_rcpt_rule, cmd, &path, &rest, err_r) < 0 ||
	    smtp_parse_params(rest, SMTP_RCPT, &cmd->params, err_r) < 0)
		return -1;
	return smtp_check_utf8_path(path, (flags & SMTP_PARSE_UTF8) != 0, err_r);
}

/* ---- EHLO/HELO (RFC 5321 4.1.1.1), BDAT (RFC 3030 2), AUTH (RFC 4954 4) ---- */

/* address-literal = "[" ( IPv4 / "IPv6:" IPv6 ) "]" (RFC 5321 4.1.3) */
static bool smtp_helo_literal_valid(slice_t s)
{
	char text[SMTP_HELO_LITERAL_MAX];
	unsigned char bin[16];
	int af = AF_INET;

	if (s.len < 3 || s.len >= sizeof(text) || s.ptr[s.len - 1] != ']')
		return false;
	s = slice_sub(s, 1, s.len - 2);
	if (slice_starts_with_ci(s, "IPv6:")) {
		af = AF_INET6;
		s = slice_sub(s, 5, s.len - 5);
	}
	memcpy(text, s.ptr, s.len);
	text[s.len] = '\0';
	return inet_pton(af, text, bin) == 1;
}

static int smtp_parse_helo(slice_t args, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	slice_t name = smtp_next_token(&args);

	if (name.len == 0 || args.len > 0)
		return smtp_syntax(err_r, "Syntax: EHLO hostname");
	if (name.len > ADDR_DOMAIN_MAX)
		return smtp_syntax(err_r, "Error: invalid hostname");
	cmd->arg = slice_dup(name);
	if (name.ptr[0] == '[' ? !smtp_helo_literal_valid(name) :
	    !domain_is_valid(cmd->arg, 0))
		return smtp_syntax(err_r, "Error: invalid hostname");
	return 0;
}

static int smtp_parse_bdat(slice_t args, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	slice_t size = smtp_next_token(&args);
	slice_t last = smtp_next_token(&args);

	/* digit by digit with overflow checks; must fit in an off_t */
	if (slice_to_u64(size, &cmd->bdat_size) < 0 ||
	    cmd->bdat_size > (uint64_t)INT64_MAX)
		return smtp_syntax(err_r, "Syntax: BDAT size [LAST]");
	if (last.len > 0 && !slice_eq_cstr_ci(last, "LAST"))
		return smtp_syntax(err_r, "Syntax: BDAT size [LAST]");
	if (args.len > 0)
		return smtp_syntax(err_r, "Syntax: BDAT size [LAST]");
	cmd->bdat_last = last.len > 0;
	return 0;
}

/* sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_") (RFC 4422 3.1; case
 * ignored); initial-response = base64 / "=" (RFC 4954 4). */
static bool smtp_auth_token_valid(slice_t t, const char *extra, size_t max)
{
	if (t.len == 0 || t.len > max)
		return false;
	for (size_t i = 0; i < t.len; i++)
		if (!smtp_is_alnum((unsigned char)t.ptr[i]) && strchr(extra, t.ptr[i]) == NULL)
			return false;
	return true;
}

static int smtp_parse_auth(slice_t args, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	slice_t mech = smtp_next_token(&args);
	slice_t ir = smtp_next_token(&args);

	if (args.len > 0 || !smtp_auth_token_valid(mech, "-_", SMTP_SASL_MECH_MAX) ||
	    (ir.len > 0 && !smtp_auth_token_valid(ir, "+/=", SIZE_MAX)))
		return smtp_syntax(err_r, "Syntax: AUTH mechanism [initial-response]");
	/* "MECH" or "MECH initial", SP runs collapsed */
	char *s = xmalloc(mech.len + 1 + ir.len + 1);
	memcpy(s, mech.ptr, mech.len);
	s[mech.len] = '\0';
	if (ir.len > 0) {
		s[mech.len] = ' ';
		memcpy(s + mech.len + 1, ir.ptr, ir.len);
		s[mech.len + 1 + ir.len] = '\0';
	}
	cmd->arg = s;
	return 0;
}

/* ---- dispatch ---- */

static int smtp_parse_text(slice_t args, bool required, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	if (args.len == 0)
		return required ? smtp_syntax(err_r, "Syntax error: argument required") : 0;
	if (smtp_has_control(args))
		return smtp_syntax(err_r, "Error: control character in argument");
	cmd->arg = slice_dup(args);
	return 0;
}

static int smtp_parse_args(slice_t args, unsigned flags, struct smtp_command *cmd,
			   struct smtp_error *err_r)
{
	switch (cmd->verb) {
	case SMTP_EHLO:
	case SMTP_HELO:
		return smtp_parse_helo(args, cmd, err_r);
	case SMTP_MAIL:
		return smtp_parse_mail(args, cmd, err_r);
	case SMTP_RCPT:
		return smtp_parse_rcpt(args, flags, cmd, err_r);
	case SMTP_BDAT:
		return smtp_parse_bdat(args, cmd, err_r);
	case SMTP_AUTH:
		return smtp_parse_auth(args, cmd, err_r);
	case SMTP_NOOP:		/* RFC 5321 4.1.1.9, 4.1.1.8 */
	case SMTP_HELP:
		return smtp_parse_text(args, false, cmd, err_r);
	case SMTP_VRFY:		/* RFC 5321 4.1.1.6, 4.1.1.7 */
	case SMTP_EXPN:
		return smtp_parse_text(args, true, cmd, err_r);
	case SMTP_DATA:
	case SMTP_RSET:
	case SMTP_QUIT:
	case SMTP_STARTTLS:	/* RFC 3207 4 */
		return args.len == 0 ? 0 : smtp_syntax(err_r, "Syntax error");
	case SMTP_UNKNOWN:
		break;
	}
	return smtp_fail(err_r, 500, "5.5.2", "Error: command not recognized");
}

static enum smtp_verb smtp_lookup_verb(slice_t name)
{
	for (size_t i = 0; i < SMTP_VERB_COUNT; i++)
		if (slice_eq_cstr_ci(name, smtp_verbs[i].name))
			return smtp_verbs[i].verb;
	return SMTP_UNKNOWN;
}

int smtp_command_parse(const char *line, size_t len, unsigned flags,
		       struct smtp_command *cmd, struct smtp_error *err_r)
{
	slice_t s = slice_make(line, len);

	memset(cmd, 0, sizeof(*cmd));
	cmd->verb = SMTP_UNKNOWN;
	if (smtp_check_line(s, err_r) < 0)
		return -1;
	while (s.len > 0 && s.ptr[s.len - 1] == ' ')
		s.len--;
	cmd->verb = smtp_lookup_verb(smtp_next_token(&s));
	if (smtp_parse_args(s, flags, cmd, err_r) < 0) {
		enum smtp_verb verb = cmd->verb;
		smtp_command_free(cmd);
		cmd->verb = verb;
		return -1;
	}
	return 0;
}

static void smtp_free_secret(char **s)
{
	if (*s != NULL)
		explicit_bzero(*s, strlen(*s));
	xfree(s);
}

void smtp_command_free(struct smtp_command *cmd)
{
	if (cmd->verb == SMTP_AUTH)
		smtp_free_secret(&cmd->arg);
	xfree(&cmd->arg);
	mail_address_free(&cmd->addr);
	xfree(&cmd->params.envid);
	xfree(&cmd->params.orcpt_type);
	xfree(&cmd->params.orcpt_addr);
	xfree(&cmd->params.auth);
	memset(cmd, 0, sizeof(*cmd));
}
