/* LIST mailbox patterns (RFC 9051 6.3.9). See imap-match.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-match.h"
#include "xalloc.h"

enum tok_type { TOK_LITERAL, TOK_PERCENT, TOK_STAR };

struct tok {
	enum tok_type type;
	size_t off, len;	/* TOK_LITERAL: pattern[off..off+len) */
};

struct imap_match {
	char *pattern;
	size_t len;
	char sep;
	bool ends_percent;
	struct tok *toks;
	size_t ntoks;
	size_t literal_len;	/* octets every matching name has at least */
	/* position sets: cur[j] says "name[0..j) is matched so far" */
	unsigned char *cur, *next;
	size_t positions;	/* room in cur and next */
};

struct imap_match *imap_match_create(const char *pattern, size_t len, char sep,
				     const char **error_r)
{
	size_t wildcards = 0;

	if (len > IMAP_MATCH_MAX_LEN) {
		*error_r = "Mailbox pattern too long";
		return NULL;
	}
	if (len > 0 && memchr(pattern, '\0', len) != NULL) {
		*error_r = "Mailbox pattern contains NUL";
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
		if (pattern[i] == '*' || pattern[i] == '%')
			wildcards++;
	if (wildcards > IMAP_MATCH_MAX_WILDCARDS) {
		*error_r = "Too many wildcards in mailbox pattern";
		return NULL;
	}

	struct imap_match *m = xcalloc(1, sizeof(*m));
	m->pattern = xstrndup(pattern, len);
	m->len = len;
	m->sep = sep;
	m->ends_percent = len > 0 && pattern[len - 1] == '%';
	/* at most one token per wildcard and one literal run around each */
	m->toks = xcalloc(2 * wildcards + 1, sizeof(*m->toks));
	for (size_t i = 0; i < len;) {
		struct tok *t = &m->toks[m->ntoks];
		if (pattern[i] == '*' || pattern[i] == '%') {
			/* a run of wildcards is "*" if it holds one, else "%" */
			t->type = TOK_PERCENT;
			for (; i < len && (pattern[i] == '*' || pattern[i] == '%'); i++)
				if (pattern[i] == '*')
					t->type = TOK_STAR;
		} else {
			t->type = TOK_LITERAL;
			t->off = i;
			for (; i < len && pattern[i] != '*' && pattern[i] != '%'; i++)
				t->len++;
			m->literal_len += t->len;
		}
		m->ntoks++;
	}
	return m;
}

void imap_match_destroy(struct imap_match **mp)
{
	struct imap_match *m = *mp;

	if (m == NULL)
		return;
	free(m->pattern);
	free(m->toks);
	free(m->cur);
	free(m->next);
	free(m);
	*mp = NULL;
}

bool imap_match_ends_with_percent(const struct imap_match *m)
{
	return m->ends_percent;
}

static unsigned char ascii_upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
}

/* name[at..at+n) == lit[0..n), folding case below name position fold */
static bool literal_at(const char *name, size_t at, const char *lit, size_t n, size_t fold)
{
	for (size_t k = 0; k < n; k++) {
		unsigned char a = (unsigned char)name[at + k], b = (unsigned char)lit[k];
		if (at + k < fold) {
			a = ascii_upper(a);
			b = ascii_upper(b);
		}
		if (a != b)
			return false;
	}
	return true;
}

bool imap_match(struct imap_match *m, const char *name, size_t len)
{
	size_t fold = 0;

	if (m->literal_len > len || len == SIZE_MAX)
		return false;
	if (len + 1 > m->positions) {
		m->positions = len + 1;
		m->cur = xrealloc(m->cur, m->positions);
		m->next = xrealloc(m->next, m->positions);
	}
	/* RFC 9051 5.1: the INBOX of "INBOX" or "INBOX/x" in any case */
	if (len >= 5 && strncasecmp(name, "INBOX", 5) == 0 && (len == 5 || name[5] == m->sep))
		fold = 5;

	unsigned char *cur = m->cur, *next = m->next;
	size_t lo = 0, hi = 0;	/* smallest and largest position in cur */

	memset(cur, 0, len + 1);
	cur[0] = 1;
	for (size_t t = 0; t < m->ntoks; t++) {
		const struct tok *tk = &m->toks[t];
		size_t nlo = len + 1, nhi = 0;

		memset(next, 0, len + 1);
		switch (tk->type) {
		case TOK_LITERAL: {
			const char *lit = m->pattern + tk->off;
			size_t from = lo, to = hi;
			if (tk->len > len)
				return false;
			if (to > len - tk->len)
				to = len - tk->len;
			if (t + 1 == m->ntoks) {
				/* the last literal can only end at the end */
				from = to = len - tk->len;
				if (from < lo || from > hi)
					return false;
			}
			for (size_t j = from; j <= to; j++) {
				if (!cur[j] || !literal_at(name, j, lit, tk->len, fold))
					continue;
				next[j + tk->len] = 1;
				if (nlo > len)
					nlo = j + tk->len;
				nhi = j + tk->len;
			}
			break;
		}
		case TOK_STAR:
			/* everything from the first reachable position on */
			memset(next + lo, 1, len + 1 - lo);
			nlo = lo;
			nhi = len;
			break;
		case TOK_PERCENT: {
			bool active = false;
			for (size_t j = lo; j <= len; j++) {
				if (active && name[j - 1] == m->sep)
					active = false;	/* "%" stops before a separator */
				if (j <= hi && cur[j])
					active = true;
				if (!active) {
					if (j > hi)
						break;
					continue;
				}
				next[j] = 1;
				if (nlo > len)
					nlo = j;
				nhi = j;
			}
			break;
		}
		}
		if (nlo > len)
			return false;	/* nothing reachable */
		lo = nlo;
		hi = nhi;
		unsigned char *tmp = cur;
		cur = next;
		next = tmp;
	}
	return cur[len] != 0;
}
