/* IMAP search programs and search text matching (see imap-search-parse.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-search-parse.h"
#include "imap-seqset.h"
#include "imap-write.h"
#include "mail-index.h"
#include "rfc2047.h"
#include "xalloc.h"

struct parse_ctx {
	struct imap_search_program *prog;
	const char *charset;		/* NULL: UTF-8 / US-ASCII */
	size_t strings_total;
	size_t texts_alloc;
	const char *error;
	int ret;
};

static void *parse_fail(struct parse_ctx *p, int ret, const char *error)
{
	if (p->ret == IMAP_SEARCH_OK) {
		p->ret = ret;
		p->error = error;
	}
	return NULL;
}

static struct imap_search_key *key_new(struct parse_ctx *p, enum imap_search_type type)
{
	if (p->prog->nkeys >= IMAP_SEARCH_MAX_KEYS)
		return parse_fail(p, IMAP_SEARCH_BAD, "Too many search keys");
	struct imap_search_key *k = xcalloc(1, sizeof(*k));
	k->type = type;
	k->all_next = p->prog->all;
	p->prog->all = k;
	p->prog->nkeys++;
	return k;
}

/* Append child to parent's list, keeping a tail pointer. */
static void child_append(struct imap_search_key *parent, struct imap_search_key ***tail,
			 struct imap_search_key *child)
{
	if (*tail == NULL)
		*tail = &parent->children;
	**tail = child;
	*tail = &child->next;
}

/* Cost of a composite node, and its children cheapest first (stable: a
 * bucket per cost class, so linear in the number of children). */
static void node_finish(struct imap_search_key *k)
{
	struct imap_search_key *head[IMAP_SEARCH_COST_BODY + 1] = { NULL };
	struct imap_search_key **tail[IMAP_SEARCH_COST_BODY + 1];
	enum imap_search_cost cost = IMAP_SEARCH_COST_RECORD;

	for (int i = 0; i <= IMAP_SEARCH_COST_BODY; i++)
		tail[i] = &head[i];
	for (struct imap_search_key *c = k->children, *next; c != NULL; c = next) {
		next = c->next;
		c->next = NULL;
		*tail[c->cost] = c;
		tail[c->cost] = &c->next;
		if (c->cost > cost)
			cost = c->cost;
	}
	struct imap_search_key **out = &k->children;
	for (int i = 0; i <= IMAP_SEARCH_COST_BODY; i++) {
		if (head[i] == NULL)
			continue;
		*out = head[i];
		out = tail[i];
	}
	*out = NULL;
	k->cost = cost;
}

/* The next argument of a key, or NULL (error set) at the end. */
static const struct imap_arg *next_arg(struct parse_ctx *p, const struct imap_arg **ap)
{
	const struct imap_arg *a = *ap;
	if (a->type == IMAP_ARG_EOL)
		return parse_fail(p, IMAP_SEARCH_BAD, "Missing argument for search key");
	*ap = a + 1;
	return a;
}

/* A search string: astring, converted to UTF-8 and folded into k->str. */
static bool parse_string(struct parse_ctx *p, const struct imap_arg **ap, char **str_r,
			 size_t *len_r)
{
	const struct imap_arg *a = next_arg(p, ap);
	const char *s;
	size_t len;

	if (a == NULL)
		return false;
	if (!imap_arg_get_astring(a, &s, &len)) {
		parse_fail(p, IMAP_SEARCH_BAD, "Invalid search string");
		return false;
	}
	if (len > IMAP_SEARCH_MAX_STRING) {
		parse_fail(p, IMAP_SEARCH_BAD, "Search string too long");
		return false;
	}
	buf_t utf8, folded;
	int r;
	buf_init(&utf8, 4 * IMAP_SEARCH_MAX_STRING);
	buf_init(&folded, IMAP_SEARCH_MAX_STRING);
	if (p->charset == NULL)
		r = rfc2047_utf8_sanitize(slice_make(s, len), &utf8);
	else
		r = rfc2047_charset_to_utf8(p->charset, slice_make(s, len), &utf8);
	if (r == -2) {
		parse_fail(p, IMAP_SEARCH_BADCHARSET, "Unknown charset");
	} else if (r < 0 || imap_search_fold(buf_slice(&utf8).ptr, utf8.used, true, &folded) < 0 ||
		   p->strings_total + folded.used > IMAP_SEARCH_MAX_STRINGS) {
		parse_fail(p, IMAP_SEARCH_BAD, "Search string too long");
		r = -1;
	}
	buf_free(&utf8);
	if (r < 0) {
		buf_free(&folded);
		return false;
	}
	p->strings_total += folded.used;
	*len_r = folded.used;
	*str_r = slice_dup(buf_slice(&folded));
	buf_free(&folded);
	return true;
}

static bool parse_number(struct parse_ctx *p, const struct imap_arg **ap, bool allow_zero,
			 uint64_t *num_r)
{
	const struct imap_arg *a = next_arg(p, ap);
	const char *s;
	uint64_t n = 0;

	if (a == NULL)
		return false;
	if (!imap_arg_get_atom(a, &s) || s[0] == '\0')
		goto bad;
	/* RFC 9051 9 number64: 0 .. 2^63-1, digit by digit */
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			goto bad;
		uint64_t d = (uint64_t)(*s - '0');
		if (n > (((uint64_t)INT64_MAX) - d) / 10)
			goto bad;
		n = n * 10 + d;
	}
	if (n == 0 && !allow_zero)
		goto bad;
	*num_r = n;
	return true;
bad:
	parse_fail(p, IMAP_SEARCH_BAD, "Invalid number");
	return false;
}

static bool is_set_atom(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || *s == ':' || *s == ',' || *s == '*' || *s == '$'))
			return false;
	return true;
}

/* A sequence set: syntax checked now, resolved by the command. */
static bool check_set(struct parse_ctx *p, const struct imap_arg *a)
{
	const char *s, *error;
	struct imap_seqset set;

	if (!imap_arg_get_atom(a, &s) || !is_set_atom(s)) {
		parse_fail(p, IMAP_SEARCH_BAD, "Invalid sequence set");
		return false;
	}
	imap_seqset_init(&set, 0);
	int r = imap_seqset_parse(&set, s, a->len, UINT32_MAX, &error);
	imap_seqset_free(&set);
	if (r < 0) {
		parse_fail(p, IMAP_SEARCH_BAD, error);
		return false;
	}
	return true;
}

int64_t imap_search_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* days before March 1 of year 0 shifted so that the leap day ends
	 * the (March-based) year; 400-year eras of 146097 days */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int imap_search_parse_date(const struct imap_arg *arg, int64_t *day_r)
{
	static const char months[12][4] = { "jan", "feb", "mar", "apr", "may", "jun",
					     "jul", "aug", "sep", "oct", "nov", "dec" };
	static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *s;
	size_t len, i = 0;
	unsigned day = 0, month = 12, year = 0;

	if (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_STRING)
		return -1;
	s = arg->str;
	len = arg->len;
	/* RFC 9051 9: date-day "-" date-month "-" date-year, 1*2DIGIT day */
	while (i < len && i < 2 && s[i] >= '0' && s[i] <= '9')
		day = day * 10 + (unsigned)(s[i++] - '0');
	if (i == 0 || i >= len || s[i] != '-' || len - i != 9 || s[i + 4] != '-')
		return -1;
	for (unsigned m = 0; m < 12; m++)
		if (strncasecmp(s + i + 1, months[m], 3) == 0)
			month = m;
	if (month == 12)
		return -1;
	for (size_t j = i + 5; j < len; j++) {
		if (s[j] < '0' || s[j] > '9')
			return -1;
		year = year * 10 + (unsigned)(s[j] - '0');
	}
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (day == 0 || day > mdays[month] || (month == 1 && day == 29 && !leap))
		return -1;
	*day_r = imap_search_days_from_civil(year, month + 1, day);
	return 0;
}

static struct imap_search_key *parse_key(struct parse_ctx *p, const struct imap_arg **ap,
					 unsigned depth);

/* "( key *(SP key) )" */
static struct imap_search_key *parse_group(struct parse_ctx *p, const struct imap_arg *list,
					   unsigned depth)
{
	if (depth > IMAP_SEARCH_MAX_DEPTH)
		return parse_fail(p, IMAP_SEARCH_BAD, "Search keys nested too deeply");
	if (list->type == IMAP_ARG_EOL)
		return parse_fail(p, IMAP_SEARCH_BAD, "Empty search key list");
	struct imap_search_key *k = key_new(p, IMAP_SEARCH_AND), **tail = NULL;
	if (k == NULL)
		return NULL;
	while (list->type != IMAP_ARG_EOL) {
		struct imap_search_key *c = parse_key(p, &list, depth);
		if (c == NULL)
			return NULL;
		child_append(k, &tail, c);
	}
	node_finish(k);
	return k;
}

/* A run of OR atoms and its operands, as one OR node: an operand that is
 * itself an OR adds its operands to this node instead of nesting. */
static struct imap_search_key *parse_or(struct parse_ctx *p, const struct imap_arg **ap,
					unsigned depth)
{
	if (depth > IMAP_SEARCH_MAX_DEPTH)
		return parse_fail(p, IMAP_SEARCH_BAD, "Search keys nested too deeply");
	struct imap_search_key *k = key_new(p, IMAP_SEARCH_OR), **tail = NULL;
	size_t needed = 1;

	if (k == NULL)
		return NULL;
	while (needed > 0) {
		if (imap_arg_atom_equals(*ap, "OR")) {
			/* one operand becomes two */
			(*ap)++;
			needed++;
			continue;
		}
		struct imap_search_key *c = parse_key(p, ap, depth);
		if (c == NULL)
			return NULL;
		child_append(k, &tail, c);
		needed--;
	}
	node_finish(k);
	return k;
}

static const struct {
	const char *name;
	enum imap_search_type type;
	uint32_t flag;
	bool neg;
} simple_keys[] = {
	{ "ALL", IMAP_SEARCH_ALL, 0, false },
	{ "ANSWERED", IMAP_SEARCH_FLAG, MAIL_ANSWERED, false },
	{ "DELETED", IMAP_SEARCH_FLAG, MAIL_DELETED, false },
	{ "DRAFT", IMAP_SEARCH_FLAG, MAIL_DRAFT, false },
	{ "FLAGGED", IMAP_SEARCH_FLAG, MAIL_FLAGGED, false },
	{ "SEEN", IMAP_SEARCH_FLAG, MAIL_SEEN, false },
	{ "UNANSWERED", IMAP_SEARCH_FLAG, MAIL_ANSWERED, true },
	{ "UNDELETED", IMAP_SEARCH_FLAG, MAIL_DELETED, true },
	{ "UNDRAFT", IMAP_SEARCH_FLAG, MAIL_DRAFT, true },
	{ "UNFLAGGED", IMAP_SEARCH_FLAG, MAIL_FLAGGED, true },
	{ "UNSEEN", IMAP_SEARCH_FLAG, MAIL_SEEN, true },
	{ "RECENT", IMAP_SEARCH_RECENT, 0, false },
	{ "OLD", IMAP_SEARCH_RECENT, 0, true },
	{ "BEFORE", IMAP_SEARCH_BEFORE, 0, false },
	{ "ON", IMAP_SEARCH_ON, 0, false },
	{ "SINCE", IMAP_SEARCH_SINCE, 0, false },
	{ "SENTBEFORE", IMAP_SEARCH_SENTBEFORE, 0, false },
	{ "SENTON", IMAP_SEARCH_SENTON, 0, false },
	{ "SENTSINCE", IMAP_SEARCH_SENTSINCE, 0, false },
	{ "LARGER", IMAP_SEARCH_LARGER, 0, false },
	{ "SMALLER", IMAP_SEARCH_SMALLER, 0, false },
	{ "MODSEQ", IMAP_SEARCH_MODSEQ, 0, false },
	{ "BCC", IMAP_SEARCH_BCC, 0, false },
	{ "CC", IMAP_SEARCH_CC, 0, false },
	{ "FROM", IMAP_SEARCH_FROM, 0, false },
	{ "SUBJECT", IMAP_SEARCH_SUBJECT, 0, false },
	{ "TO", IMAP_SEARCH_TO, 0, false },
	{ "HEADER", IMAP_SEARCH_HEADER, 0, false },
	{ "BODY", IMAP_SEARCH_BODY, 0, false },
	{ "TEXT", IMAP_SEARCH_TEXT, 0, false },
	{ "KEYWORD", IMAP_SEARCH_KEYWORD, 0, false },
	{ "UNKEYWORD", IMAP_SEARCH_KEYWORD, 0, true },
	{ "UID", IMAP_SEARCH_UIDSET, 0, false },
};

bool imap_search_header_in_envelope(const char *field)
{
	return strcasecmp(field, "Subject") == 0 || strcasecmp(field, "Message-ID") == 0 ||
	       strcasecmp(field, "In-Reply-To") == 0 || strcasecmp(field, "Date") == 0;
}

/* RFC 7162 3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer */
static bool parse_modseq(struct parse_ctx *p, const struct imap_arg **ap, uint64_t *num_r)
{
	const struct imap_arg *a = *ap;
	if (a->type == IMAP_ARG_STRING || a->type == IMAP_ARG_LITERAL) {
		const char *s;
		size_t len;
		if (!imap_arg_get_string(a, &s, &len) || len < 8 ||
		    strncasecmp(s, "/flags/", 7) != 0) {
			parse_fail(p, IMAP_SEARCH_BAD, "Invalid MODSEQ entry name");
			return false;
		}
		(*ap)++;
		a = next_arg(p, ap);
		if (a == NULL)
			return false;
		if (!imap_arg_atom_equals(a, "priv") && !imap_arg_atom_equals(a, "shared") &&
		    !imap_arg_atom_equals(a, "all")) {
			parse_fail(p, IMAP_SEARCH_BAD, "Invalid MODSEQ entry type");
			return false;
		}
	}
	return parse_number(p, ap, true, num_r);
}

static struct imap_search_key *parse_key(struct parse_ctx *p, const struct imap_arg **ap,
					 unsigned depth)
{
	const struct imap_arg *a = *ap;
	struct imap_search_key *k;
	const char *name;

	if (a->type == IMAP_ARG_EOL)
		return parse_fail(p, IMAP_SEARCH_BAD, "Missing search key");
	if (a->type == IMAP_ARG_LIST) {
		*ap = a + 1;
		return parse_group(p, a->list, depth + 1);
	}
	if (!imap_arg_get_atom(a, &name))
		return parse_fail(p, IMAP_SEARCH_BAD, "Invalid search key");
	*ap = a + 1;

	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*' || name[0] == '$') {
		if (!check_set(p, a) || (k = key_new(p, IMAP_SEARCH_SEQSET)) == NULL)
			return NULL;
		k->set = a;
		k->slot = p->prog->nslots++;
		return k;
	}
	if (strcasecmp(name, "NOT") == 0) {
		/* NOT NOT x is x: count the run */
		bool neg = true;
		while (imap_arg_atom_equals(*ap, "NOT")) {
			(*ap)++;
			neg = !neg;
		}
		if (!neg)
			return parse_key(p, ap, depth);
		if (depth + 1 > IMAP_SEARCH_MAX_DEPTH)
			return parse_fail(p, IMAP_SEARCH_BAD, "Search keys nested too deeply");
		struct imap_search_key *c = parse_key(p, ap, depth + 1);
		if (c == NULL || (k = key_new(p, IMAP_SEARCH_NOT)) == NULL)
			return NULL;
		k->children = c;
		k->cost = c->cost;
		return k;
	}
	if (strcasecmp(name, "OR") == 0) {
		(*ap)--;
		return parse_or(p, ap, depth + 1);
	}
	if (strcasecmp(name, "NEW") == 0) {
		/* RFC 3501 6.4.4: RECENT UNSEEN */
		struct imap_search_key *r, *u;
		if ((k = key_new(p, IMAP_SEARCH_AND)) == NULL ||
		    (r = key_new(p, IMAP_SEARCH_RECENT)) == NULL ||
		    (u = key_new(p, IMAP_SEARCH_FLAG)) == NULL)
			return NULL;
		u->flag = MAIL_SEEN;
		u->neg = true;
		r->next = u;
		k->children = r;
		return k;
	}

	size_t i;
	for (i = 0; i < sizeof(simple_keys) / sizeof(simple_keys[0]); i++)
		if (strcasecmp(name, simple_keys[i].name) == 0)
			break;
	if (i == sizeof(simple_keys) / sizeof(simple_keys[0]))
		return parse_fail(p, IMAP_SEARCH_BAD, "Unknown search key");
	if ((k = key_new(p, simple_keys[i].type)) == NULL)
		return NULL;
	k->flag = simple_keys[i].flag;
	k->neg = simple_keys[i].neg;
	k->cost = IMAP_SEARCH_COST_RECORD;

	switch (k->type) {
	case IMAP_SEARCH_BEFORE:
	case IMAP_SEARCH_ON:
	case IMAP_SEARCH_SINCE:
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		if ((a = next_arg(p, ap)) == NULL)
			return NULL;
		if (imap_search_parse_date(a, &k->day) < 0)
			return parse_fail(p, IMAP_SEARCH_BAD, "Invalid search date");
		if (k->type >= IMAP_SEARCH_SENTBEFORE)
			k->cost = IMAP_SEARCH_COST_ENVELOPE;
		break;
	case IMAP_SEARCH_LARGER:
	case IMAP_SEARCH_SMALLER:
		if (!parse_number(p, ap, true, &k->num))
			return NULL;
		break;
	case IMAP_SEARCH_MODSEQ:
		if (!parse_modseq(p, ap, &k->num))
			return NULL;
		p->prog->uses_modseq = true;
		break;
	case IMAP_SEARCH_UIDSET:
		if ((a = next_arg(p, ap)) == NULL || !check_set(p, a))
			return NULL;
		k->set = a;
		k->slot = p->prog->nslots++;
		break;
	case IMAP_SEARCH_KEYWORD: {
		const char *kw;
		size_t len;
		if ((a = next_arg(p, ap)) == NULL)
			return NULL;
		/* flag-keyword: an atom; "\..." would be a system flag */
		if (!imap_arg_get_astring(a, &kw, &len) || len > MAIL_INDEX_KEYWORD_MAX_LEN ||
		    kw[0] == '\\' || !imap_flag_is_valid(kw))
			return parse_fail(p, IMAP_SEARCH_BAD, "Invalid keyword");
		k->str = xstrdup(kw);
		k->len = len;
		k->slot = p->prog->nslots++;
		break;
	}
	case IMAP_SEARCH_HEADER: {
		const char *field;
		size_t len;
		if ((a = next_arg(p, ap)) == NULL)
			return NULL;
		/* RFC 5322 2.2 field-name: printable US-ASCII except ':' */
		if (!imap_arg_get_astring(a, &field, &len) || len == 0 || len > 256)
			return parse_fail(p, IMAP_SEARCH_BAD, "Invalid header field name");
		for (size_t j = 0; j < len; j++)
			if ((unsigned char)field[j] <= 0x20 || (unsigned char)field[j] >= 0x7f ||
			    field[j] == ':')
				return parse_fail(p, IMAP_SEARCH_BAD, "Invalid header field name");
		k->field = xstrdup(field);
		if (!parse_string(p, ap, &k->str, &k->len))
			return NULL;
		k->cost = imap_search_header_in_envelope(k->field) ? IMAP_SEARCH_COST_ENVELOPE
						       : IMAP_SEARCH_COST_HEADER;
		break;
	}
	case IMAP_SEARCH_BCC:
	case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM:
	case IMAP_SEARCH_SUBJECT:
	case IMAP_SEARCH_TO:
		if (!parse_string(p, ap, &k->str, &k->len))
			return NULL;
		k->cost = IMAP_SEARCH_COST_ENVELOPE;
		break;
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_TEXT: {
		struct imap_search_program *prog = p->prog;
		if (!parse_string(p, ap, &k->str, &k->len))
			return NULL;
		k->cost = IMAP_SEARCH_COST_BODY;
		if (prog->ntexts == p->texts_alloc) {
			p->texts_alloc = p->texts_alloc ? p->texts_alloc * 2 : 4;
			prog->texts = xreallocarray(prog->texts, p->texts_alloc,
						    sizeof(*prog->texts));
		}
		k->text_idx = prog->ntexts;
		prog->texts[prog->ntexts++] = k;
		break;
	}
	default:
		break;
	}
	return k;
}

/* RFC 4731 3.1: "RETURN (" [opt *(SP opt)] ")" */
static bool parse_return(struct parse_ctx *p, const struct imap_arg *a)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {
		{ "MIN", IMAP_SEARCH_RETURN_MIN }, { "MAX", IMAP_SEARCH_RETURN_MAX },
		{ "ALL", IMAP_SEARCH_RETURN_ALL }, { "COUNT", IMAP_SEARCH_RETURN_COUNT },
		{ "SAVE", IMAP_SEARCH_RETURN_SAVE },
	};
	const struct imap_arg *list;
	size_t count;

	if (!imap_arg_get_list(a, &list, &count)) {
		parse_fail(p, IMAP_SEARCH_BAD, "Invalid RETURN options");
		return false;
	}
	p->prog->return_given = true;
	for (size_t i = 0; i < count; i++) {
		size_t j;
		for (j = 0; j < sizeof(opts) / sizeof(opts[0]); j++)
			if (imap_arg_atom_equals(&list[i], opts[j].name))
				break;
		if (j == sizeof(opts) / sizeof(opts[0])) {
			parse_fail(p, IMAP_SEARCH_BAD, "Unknown RETURN option");
			return false;
		}
		p->prog->return_opts |= opts[j].bit;
	}
	/* RFC 4731 3.1: "RETURN ()" is "RETURN (ALL)" */
	if (count == 0)
		p->prog->return_opts = IMAP_SEARCH_RETURN_ALL;
	return true;
}

static bool parse_charset(struct parse_ctx *p, const struct imap_arg *a)
{
	const char *cs;
	size_t len;
	buf_t tmp;

	if (!imap_arg_get_astring(a, &cs, &len) || len == 0 || memchr(cs, '\0', len) != NULL) {
		parse_fail(p, IMAP_SEARCH_BAD, "Invalid charset");
		return false;
	}
	p->prog->charset = xstrdup(cs);
	if (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "US-ASCII") == 0 ||
	    strcasecmp(cs, "UTF8") == 0 || strcasecmp(cs, "ASCII") == 0)
		return true;
	/* other charsets through iconv, when it knows them */
	buf_init(&tmp, 64);
	int r = len > RFC2047_MAX_CHARSET_LEN || strchr(cs, '*') != NULL ? -2
		: rfc2047_charset_to_utf8(cs, SLICE_LIT("a"), &tmp);
	buf_free(&tmp);
	if (r == -2) {
		parse_fail(p, IMAP_SEARCH_BADCHARSET, "Unknown charset");
		return false;
	}
	p->charset = p->prog->charset;
	return true;
}

int imap_search_parse(const struct imap_arg *args, size_t count, enum imap_search_syntax syntax,
		      struct imap_search_program **prog_r, const char **error_r)
{
	struct parse_ctx p = { .ret = IMAP_SEARCH_OK };
	const struct imap_arg *a = args;
	struct imap_search_key **tail = NULL;

	(void)count;
	*prog_r = NULL;
	*error_r = NULL;
	p.prog = xcalloc(1, sizeof(*p.prog));

	if (syntax == IMAP_SEARCH_SYNTAX_CHARSET_FIRST) {
		if (a->type == IMAP_ARG_EOL) {
			parse_fail(&p, IMAP_SEARCH_BAD, "Missing charset");
			goto out;
		}
		if (!parse_charset(&p, a++))
			goto out;
	} else {
		if (imap_arg_atom_equals(a, "RETURN")) {
			if (!parse_return(&p, a + 1))
				goto out;
			a += 2;
		}
		if (imap_arg_atom_equals(a, "CHARSET")) {
			if (a[1].type == IMAP_ARG_EOL) {
				parse_fail(&p, IMAP_SEARCH_BAD, "Missing charset");
				goto out;
			}
			if (!parse_charset(&p, a + 1))
				goto out;
			a += 2;
		}
	}
	if ((p.prog->root = key_new(&p, IMAP_SEARCH_AND)) == NULL)
		goto out;
	if (a->type == IMAP_ARG_EOL) {
		parse_fail(&p, IMAP_SEARCH_BAD, "Missing search keys");
		goto out;
	}
	while (a->type != IMAP_ARG_EOL) {
		struct imap_search_key *k = parse_key(&p, &a, 1);
		if (k == NULL)
			goto out;
		child_append(p.prog->root, &tail, k);
	}
	node_finish(p.prog->root);
	p.prog->cost = p.prog->root->cost;
out:
	if (p.ret != IMAP_SEARCH_OK) {
		imap_search_program_free(&p.prog);
		*error_r = p.error;
		return p.ret;
	}
	*prog_r = p.prog;
	return IMAP_SEARCH_OK;
}

void imap_search_program_free(struct imap_search_program **progp)
{
	struct imap_search_program *prog = *progp;
	if (prog == NULL)
		return;
	for (struct imap_search_key *k = prog->all, *next; k != NULL; k = next) {
		next = k->all_next;
		free(k->field);
		free(k->str);
		free(k);
	}
	free(prog->texts);
	free(prog->charset);
	free(prog);
	*progp = NULL;
}

/* ---- SORT criteria ---- */

int imap_sort_parse(const struct imap_arg *arg, struct imap_sort_criterion *crit, size_t max,
		    size_t *count_r, const char **error_r)
{
	static const struct {
		const char *name;
		enum imap_sort_key key;
	} keys[] = {
		{ "ARRIVAL", IMAP_SORT_ARRIVAL }, { "CC", IMAP_SORT_CC },
		{ "DATE", IMAP_SORT_DATE }, { "FROM", IMAP_SORT_FROM },
		{ "SIZE", IMAP_SORT_SIZE }, { "SUBJECT", IMAP_SORT_SUBJECT },
		{ "TO", IMAP_SORT_TO }, { "DISPLAYFROM", IMAP_SORT_DISPLAYFROM },
		{ "DISPLAYTO", IMAP_SORT_DISPLAYTO },
	};
	const struct imap_arg *list;
	size_t count, n = 0;
	bool reverse = false;

	*count_r = 0;
	if (!imap_arg_get_list(arg, &list, &count) || count == 0) {
		*error_r = "Invalid sort criteria";
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (imap_arg_atom_equals(&list[i], "REVERSE")) {
			if (reverse) {
				*error_r = "Invalid sort criteria";
				return -1;
			}
			reverse = true;
			continue;
		}
		size_t j;
		for (j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
			if (imap_arg_atom_equals(&list[i], keys[j].name))
				break;
		if (j == sizeof(keys) / sizeof(keys[0])) {
			*error_r = "Unknown sort criterion";
			return -1;
		}
		if (n >= max || n >= IMAP_SORT_MAX_CRITERIA) {
			*error_r = "Too many sort criteria";
			return -1;
		}
		crit[n].key = keys[j].key;
		crit[n].reverse = reverse;
		n++;
		reverse = false;
	}
	if (reverse) {
		*error_r = "REVERSE without a sort criterion";
		return -1;
	}
	*count_r = n;
	return 0;
}

/* ---- case folding ---- */

static uint32_t fold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c < 0x100)
		return c >= 0xc0 && c <= 0xde && c != 0xd7 ? c + 32 : c;
	if (c < 0x180) {
		/* Latin Extended-A: pairs, capital first, with a few shifts */
		if (c == 0x130)
			return 'i';
		if (c == 0x178)
			return 0xff;
		if (c == 0x17f)
			return 's';
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		if (c == 0x131 || c == 0x138 || c == 0x149)
			return c;
		return (c & 1) ? c : c + 1;
	}
	if (c < 0x250) {
		if ((c >= 0x1cd && c <= 0x1dc))
			return (c & 1) ? c + 1 : c;
		if ((c >= 0x1de && c <= 0x1ef) || (c >= 0x1f8 && c <= 0x21f) ||
		    (c >= 0x222 && c <= 0x233))
			return (c & 1) ? c : c + 1;
		return c;
	}
	if (c >= 0x370 && c < 0x400) {
		if (c == 0x386)
			return 0x3ac;
		if (c >= 0x388 && c <= 0x38a)
			return c + 37;
		if (c == 0x38c)
			return 0x3cc;
		if (c == 0x38e || c == 0x38f)
			return c + 63;
		if ((c >= 0x391 && c <= 0x3a1) || (c >= 0x3a3 && c <= 0x3ab))
			return c + 32;
		if (c == 0x3c2)
			return 0x3c3;	/* final sigma */
		return c;
	}
	if (c >= 0x400 && c < 0x530) {
		if (c < 0x410)
			return c + 80;
		if (c < 0x430)
			return c + 32;
		if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) ||
		    (c >= 0x4d0 && c <= 0x52f))
			return (c & 1) ? c : c + 1;
		if (c == 0x4c0)
			return 0x4cf;
		if (c >= 0x4c1 && c <= 0x4ce)
			return (c & 1) ? c + 1 : c;
		return c;
	}
	if (c >= 0x531 && c <= 0x556)
		return c + 48;		/* Armenian */
	if (c >= 0x1e00 && c <= 0x1eff) {
		if (c == 0x1e9e)
			return 0xdf;	/* capital sharp s */
		if (c <= 0x1e95 || c >= 0x1ea0)
			return (c & 1) ? c : c + 1;
		return c;
	}
	if (c == 0x212a)
		return 'k';		/* Kelvin sign */
	if (c == 0x212b)
		return 0xe5;		/* Angstrom sign */
	if (c >= 0xff21 && c <= 0xff3a)
		return c + 32;		/* fullwidth Latin */
	return c;
}

static size_t utf8_len(uint32_t c)
{
	return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

static size_t utf8_put(char *p, uint32_t c)
{
	if (c < 0x80) {
		p[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		p[0] = (char)(0xc0 | (c >> 6));
		p[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		p[0] = (char)(0xe0 | (c >> 12));
		p[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		p[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | (c >> 18));
	p[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	p[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	p[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

ssize_t imap_search_fold(const char *in, size_t len, bool final, buf_t *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;

	if (buf_reserve(out, len) < 0)
		return -1;
	char *o = out->data + out->used;
	while (i < len) {
		unsigned char b = s[i];
		if (b < 0x80) {
			*o++ = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
			i++;
			continue;
		}
		size_t n = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3
			 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
		if (n == 0) {
			*o++ = (char)b;		/* not a lead byte: as it is */
			i++;
			continue;
		}
		if (i + n > len) {
			/* possibly a sequence cut by the end of this piece */
			bool cont = true;
			for (size_t j = i + 1; j < len; j++)
				if ((s[j] & 0xc0) != 0x80)
					cont = false;
			if (!final && cont)
				break;
			*o++ = (char)b;
			i++;
			continue;
		}
		uint32_t c = b & (0x7f >> n);
		size_t j;
		for (j = 1; j < n && (s[i + j] & 0xc0) == 0x80; j++)
			c = (c << 6) | (s[i + j] & 0x3f);
		if (j < n) {
			*o++ = (char)b;
			i++;
			continue;
		}
		uint32_t f = fold_cp(c);
		if (f != c && utf8_len(f) <= n)
			o += utf8_put(o, f);
		else {
			memcpy(o, s + i, n);
			o += n;
		}
		i += n;
	}
	out->used = (size_t)(o - out->data);
	out->data[out->used] = '\0';
	return (ssize_t)i;
}

/* ---- streaming search ---- */

void imap_search_scan_init(struct imap_search_scan *s,
			   const struct imap_search_key *const *needles, size_t count)
{
	size_t longest = 0;

	memset(s, 0, sizeof(*s));
	s->needles = needles;
	s->count = count;
	s->found = xcalloc(count ? count : 1, sizeof(*s->found));
	for (size_t i = 0; i < count; i++)
		if (needles[i]->len > longest)
			longest = needles[i]->len;
	s->keep = longest > 0 ? longest - 1 : 0;
	buf_init(&s->partial, 0);
	buf_init(&s->window, 0);
	imap_search_scan_reset(s);
}

void imap_search_scan_deinit(struct imap_search_scan *s)
{
	free(s->found);
	s->found = NULL;
	buf_free(&s->partial);
	buf_free(&s->window);
}

void imap_search_scan_reset(struct imap_search_scan *s)
{
	s->left = s->count;
	for (size_t i = 0; i < s->count; i++) {
		s->found[i] = s->needles[i]->len == 0;
		if (s->found[i])
			s->left--;
	}
	buf_reset(&s->partial);
	buf_reset(&s->window);
}

void imap_search_scan_break(struct imap_search_scan *s)
{
	buf_reset(&s->partial);
	buf_reset(&s->window);
}

static void scan_window(struct imap_search_scan *s)
{
	for (size_t i = 0; i < s->count && s->left > 0; i++) {
		const struct imap_search_key *n = s->needles[i];
		if (s->found[i] || n->len > s->window.used)
			continue;
		if (memmem(s->window.data, s->window.used, n->str, n->len) != NULL) {
			s->found[i] = true;
			s->left--;
		}
	}
	if (s->window.used > s->keep)
		buf_consume(&s->window, s->window.used - s->keep);
}

void imap_search_scan_feed(struct imap_search_scan *s, const char *text, size_t len)
{
	bool pending = false;

	if (s->left == 0)
		return;
	/* complete a sequence cut at the end of the previous piece */
	while (s->partial.used > 0 && len > 0) {
		buf_append_byte(&s->partial, *text++);
		len--;
		ssize_t r = imap_search_fold(s->partial.data, s->partial.used, false, &s->window);
		if (r > 0) {
			buf_consume(&s->partial, (size_t)r);
			pending = true;
		}
	}
	while (len > 0) {
		size_t piece = len < IMAP_SEARCH_SCAN_PIECE ? len : IMAP_SEARCH_SCAN_PIECE;
		ssize_t r = imap_search_fold(text, piece, false, &s->window);
		size_t used = r > 0 ? (size_t)r : 0;
		if (used < piece && piece == len) {
			/* a sequence cut by the end: it waits for the next feed
			 * (in the middle of the text the next piece takes it) */
			buf_append(&s->partial, text + used, len - used);
			used = len;
		}
		text += used;
		len -= used;
		scan_window(s);
		pending = false;
		if (s->left == 0)
			return;
	}
	if (pending)
		scan_window(s);
}

/* ---- ENVELOPE text ---- */

struct env_reader {
	const char *s;
	size_t len, pos;
	buf_t *strings;
};

static void env_skip_sp(struct env_reader *r)
{
	while (r->pos < r->len && r->s[r->pos] == ' ')
		r->pos++;
}

static int env_nstring(struct env_reader *r, slice_t *out)
{
	env_skip_sp(r);
	*out = (slice_t){ NULL, 0 };
	if (r->pos >= r->len)
		return -1;
	const char *p = r->s + r->pos;
	size_t left = r->len - r->pos;
	if (left >= 3 && strncasecmp(p, "NIL", 3) == 0) {
		r->pos += 3;
		return 0;
	}
	if (*p == '"') {
		size_t start = r->strings->used;
		r->pos++;
		while (r->pos < r->len && r->s[r->pos] != '"') {
			if (r->s[r->pos] == '\\' && r->pos + 1 < r->len)
				r->pos++;
			/* never reallocates: reserved for the whole text */
			buf_append_byte(r->strings, r->s[r->pos++]);
		}
		if (r->pos >= r->len)
			return -1;
		r->pos++;
		*out = slice_make(r->strings->data + start, r->strings->used - start);
		return 0;
	}
	if (*p == '{') {
		uint64_t n = 0;
		size_t i = 1;
		while (i < left && p[i] >= '0' && p[i] <= '9' && n <= r->len)
			n = n * 10 + (uint64_t)(p[i++] - '0');
		if (i == 1 || i + 3 > left || p[i] != '}' || p[i + 1] != '\r' || p[i + 2] != '\n' ||
		    n > left - i - 3)
			return -1;
		*out = slice_make(p + i + 3, (size_t)n);
		r->pos += i + 3 + (size_t)n;
		return 0;
	}
	return -1;
}

static int env_addresses(struct env_reader *r, struct imap_search_addr **addrs_r,
			 size_t *count_r)
{
	size_t alloc = 0;

	env_skip_sp(r);
	if (r->pos < r->len && r->s[r->pos] != '(') {
		slice_t nil;
		return env_nstring(r, &nil) < 0 || nil.ptr != NULL ? -1 : 0;
	}
	r->pos++;
	for (;;) {
		env_skip_sp(r);
		if (r->pos >= r->len)
			return -1;
		if (r->s[r->pos] == ')') {
			r->pos++;
			return 0;
		}
		if (r->s[r->pos] != '(')
			return -1;
		r->pos++;
		if (*count_r == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			*addrs_r = xreallocarray(*addrs_r, alloc, sizeof(**addrs_r));
		}
		struct imap_search_addr *a = &(*addrs_r)[*count_r];
		if (env_nstring(r, &a->name) < 0 || env_nstring(r, &a->adl) < 0 ||
		    env_nstring(r, &a->mailbox) < 0 || env_nstring(r, &a->host) < 0)
			return -1;
		env_skip_sp(r);
		if (r->pos >= r->len || r->s[r->pos] != ')')
			return -1;
		r->pos++;
		(*count_r)++;
	}
}

int imap_search_envelope_parse(const char *s, size_t len, struct imap_search_envelope *env)
{
	struct env_reader r = { s, len, 0, &env->strings };

	memset(env, 0, sizeof(*env));
	buf_init(&env->strings, 0);
	buf_reserve(&env->strings, len + 1);
	if (len == 0 || s[0] != '(')
		goto bad;
	r.pos = 1;
	if (env_nstring(&r, &env->date) < 0 || env_nstring(&r, &env->subject) < 0)
		goto bad;
	for (int i = 0; i < IMAP_ENV_ADDR_LISTS; i++)
		if (env_addresses(&r, &env->addrs[i], &env->naddrs[i]) < 0)
			goto bad;
	if (env_nstring(&r, &env->in_reply_to) < 0 || env_nstring(&r, &env->message_id) < 0)
		goto bad;
	env_skip_sp(&r);
	if (r.pos != len - 1 || s[r.pos] != ')')
		goto bad;
	return 0;
bad:
	imap_search_envelope_free(env);
	buf_init(&env->strings, 0);
	return -1;
}

void imap_search_envelope_free(struct imap_search_envelope *env)
{
	for (int i = 0; i < IMAP_ENV_ADDR_LISTS; i++)
		free(env->addrs[i]);
	buf_free(&env->strings);
	memset(env, 0, sizeof(*env));
}
