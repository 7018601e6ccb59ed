/* IMAP sequence sets (RFC 9051 9, RFC 5182). See imap-seqset.h. */
#include <stdlib.h>
#include <string.h>

#include "imap-seqset.h"
#include "xalloc.h"

void imap_seqset_init(struct imap_seqset *set, size_t max_ranges)
{
	memset(set, 0, sizeof(*set));
	set->max_ranges = max_ranges ? max_ranges : IMAP_SEQSET_MAX_RANGES_DEFAULT;
}

void imap_seqset_free(struct imap_seqset *set)
{
	xfree(&set->ranges);
	set->alloc = 0;
	set->count = 0;
	set->dollar = false;
}

void imap_seqset_clear(struct imap_seqset *set)
{
	set->count = 0;
	set->dollar = false;
}

/* Room for one more range; -1 at max_ranges. */
static int reserve_one(struct imap_seqset *set)
{
	if (set->count >= set->max_ranges)
		return -1;
	if (set->count == set->alloc) {
		size_t n = set->alloc ? set->alloc * 2 : 8;
		if (n > set->max_ranges)
			n = set->max_ranges;
		set->ranges = xreallocarray(set->ranges, n, sizeof(*set->ranges));
		set->alloc = n;
	}
	return 0;
}

/* Index of the first range with hi + 1 >= n (where n could join it), or
 * count. */
static size_t find_from(const struct imap_seqset *set, uint64_t n)
{
	size_t lo = 0, hi = set->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uint64_t)set->ranges[mid].hi + 1 < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi)
{
	if (lo > hi) {
		uint32_t t = lo;
		lo = hi;
		hi = t;
	}
	if (lo == 0)
		return -1;

	/* ranges i..j-1 overlap or touch lo..hi */
	size_t i = find_from(set, lo), j = i;
	while (j < set->count && set->ranges[j].lo <= (uint64_t)hi + 1) {
		if (set->ranges[j].lo < lo)
			lo = set->ranges[j].lo;
		if (set->ranges[j].hi > hi)
			hi = set->ranges[j].hi;
		j++;
	}
	if (i == j) {
		if (reserve_one(set) < 0)
			return -1;
		memmove(&set->ranges[i + 1], &set->ranges[i],
			(set->count - i) * sizeof(*set->ranges));
		set->count++;
	} else if (j > i + 1) {
		memmove(&set->ranges[i + 1], &set->ranges[j],
			(set->count - j) * sizeof(*set->ranges));
		set->count -= j - i - 1;
	}
	set->ranges[i].lo = lo;
	set->ranges[i].hi = hi;
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

/* Sort and merge the ranges in place. */
static void normalize(struct imap_seqset *set)
{
	size_t out = 0;

	if (set->count == 0)
		return;
	qsort(set->ranges, set->count, sizeof(*set->ranges), range_cmp);
	for (size_t i = 1; i < set->count; i++) {
		struct imap_seq_range *last = &set->ranges[out];
		if (set->ranges[i].lo <= (uint64_t)last->hi + 1) {
			if (set->ranges[i].hi > last->hi)
				last->hi = set->ranges[i].hi;
		} else {
			set->ranges[++out] = set->ranges[i];
		}
	}
	set->count = out + 1;
}

/* seq-number (RFC 9051 9): nz-number or "*". *star_r tells which; the
 * number is at s[*pos]. Returns -1 on bad syntax. */
static int parse_number(const char *s, size_t len, size_t *pos, uint32_t *n_r, bool *star_r,
			const char **error_r)
{
	uint64_t v = 0;
	size_t start = *pos;

	if (*pos < len && s[*pos] == '*') {
		(*pos)++;
		*star_r = true;
		*n_r = 0;
		return 0;
	}
	*star_r = false;
	while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9') {
		v = v * 10 + (uint64_t)(s[*pos] - '0');
		/* digit by digit: stops before v can overflow */
		if (v > UINT32_MAX) {
			*error_r = "Number too large in sequence set";
			return -1;
		}
		(*pos)++;
	}
	if (*pos == start) {
		*error_r = "Invalid sequence set";
		return -1;
	}
	if (s[start] == '0') {
		*error_r = v == 0 ? "Sequence number 0 is invalid" :
			   "Leading zero in sequence set";
		return -1;
	}
	*n_r = (uint32_t)v;
	return 0;
}

static int parse_elements(struct imap_seqset *set, const char *s, size_t len, uint32_t star,
			  const char **error_r)
{
	size_t pos = 0;

	if (len == 0) {
		*error_r = "Empty sequence set";
		return -1;
	}
	if (len == 1 && s[0] == '$') {
		set->dollar = true;
		return 0;
	}
	for (;;) {
		uint32_t a, b;
		bool a_star, b_star;

		if (parse_number(s, len, &pos, &a, &a_star, error_r) < 0)
			return -1;
		b = a;
		b_star = a_star;
		if (pos < len && s[pos] == ':') {
			pos++;
			if (parse_number(s, len, &pos, &b, &b_star, error_r) < 0)
				return -1;
		}
		if (a_star)
			a = star;
		if (b_star)
			b = star;
		if (a == 0 && b == 0) {
			/* "*" in an empty mailbox: nothing */
		} else {
			if (reserve_one(set) < 0) {
				*error_r = "Too many ranges in sequence set";
				return -1;
			}
			/* "n:*" with star == 0 keeps n */
			if (a == 0)
				a = b;
			if (b == 0)
				b = a;
			set->ranges[set->count].lo = a < b ? a : b;
			set->ranges[set->count].hi = a < b ? b : a;
			set->count++;
		}
		if (pos == len)
			return 0;
		if (s[pos] != ',') {
			*error_r = "Invalid sequence set";
			return -1;
		}
		pos++;
	}
}

int imap_seqset_parse(struct imap_seqset *set, const char *s, size_t len, uint32_t star,
		      const char **error_r)
{
	imap_seqset_clear(set);
	if (parse_elements(set, s, len, star, error_r) < 0) {
		imap_seqset_clear(set);
		return -1;
	}
	normalize(set);
	return 0;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	size_t i = find_from(set, (uint64_t)n + 1);

	return n != 0 && i < set->count && set->ranges[i].lo <= n && n <= set->ranges[i].hi;
}

uint64_t imap_seqset_count(const struct imap_seqset *set)
{
	uint64_t total = 0;

	for (size_t i = 0; i < set->count; i++)
		total += (uint64_t)set->ranges[i].hi - set->ranges[i].lo + 1;
	return total;
}

uint32_t imap_seqset_min(const struct imap_seqset *set)
{
	return set->count ? set->ranges[0].lo : 0;
}

uint32_t imap_seqset_max(const struct imap_seqset *set)
{
	return set->count ? set->ranges[set->count - 1].hi : 0;
}

bool imap_seqset_next(const struct imap_seqset *set, struct imap_seqset_iter *it,
		      uint32_t *n_r)
{
	while (it->range < set->count) {
		const struct imap_seq_range *r = &set->ranges[it->range];
		if (it->next == 0)
			it->next = r->lo;
		if (it->next <= r->hi) {
			*n_r = (uint32_t)it->next++;
			return true;
		}
		it->range++;
		it->next = 0;
	}
	return false;
}

int imap_seqset_format(const struct imap_seqset *set, buf_t *out)
{
	size_t start = out->used;

	if (set->count == 0)
		return -1;
	for (size_t i = 0; i < set->count; i++) {
		const struct imap_seq_range *r = &set->ranges[i];
		int ret = r->lo == r->hi ?
			buf_printf(out, "%s%u", i ? "," : "", r->lo) :
			buf_printf(out, "%s%u:%u", i ? "," : "", r->lo, r->hi);
		if (ret < 0) {
			buf_truncate(out, start);
			return -1;
		}
	}
	return 0;
}
