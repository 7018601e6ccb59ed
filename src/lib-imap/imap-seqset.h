#ifndef YOUJU_IMAP_SEQSET_H
#define YOUJU_IMAP_SEQSET_H
/*
 * Sequence sets (RFC 9051 9 sequence-set; RFC 5182 "$" for SEARCHRES), for
 * message sequence numbers and UIDs alike.
 *
 * A set is kept normalized: ranges sorted, lo <= hi, neither overlapping nor
 * adjacent ("1:3,4" is stored as 1:4), so membership is a binary search and
 * the text form is the shortest one. Numbers are nz-number: 1 .. 2^32-1.
 * The number of ranges is bounded (max_ranges) so memory is too; parsing
 * counts the elements as written, before merging, so it can reject a list
 * before it grows.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define IMAP_SEQSET_MAX_RANGES_DEFAULT 100000

struct imap_seq_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	struct imap_seq_range *ranges;	/* count normalized ranges */
	size_t count;
	size_t alloc;
	size_t max_ranges;
	/* The set was "$" (RFC 5182 2.1): the caller substitutes the saved
	 * search result; ranges is empty. */
	bool dollar;
};

/* An empty set holding at most max_ranges ranges (0: the default). */
void imap_seqset_init(struct imap_seqset *set, size_t max_ranges);
/* Frees the ranges; the set is empty and reusable. */
void imap_seqset_free(struct imap_seqset *set);
/* Empties the set, keeping memory. */
void imap_seqset_clear(struct imap_seqset *set);

/*
 * Parse s[0..len) into set (its previous contents are dropped).
 * "*" stands for star, the largest number in use (message count or the
 * highest UID); "n:m" with n > m is the same as "m:n" (RFC 9051 9). When the
 * mailbox is empty (star == 0), "*" alone stands for nothing and "n:*"
 * for n alone, which the caller then finds absent.
 * Returns 0, or -1 with *error_r (static text) on: empty input, "0", a
 * number over 2^32-1 or with a leading zero (nz-number), empty elements
 * ("1,,2", "1,"), "$" combined with anything, or more than max_ranges
 * elements. On error the set is empty.
 */
int imap_seqset_parse(struct imap_seqset *set, const char *s, size_t len, uint32_t star,
		      const char **error_r);

/* Add lo..hi (either order; both >= 1). Returns -1 if a number is 0 or the
 * set would need more than max_ranges ranges (then unchanged). Appending
 * in ascending order is O(1). */
int imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi);

/* O(log ranges). */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
/* How many numbers the set holds. */
uint64_t imap_seqset_count(const struct imap_seqset *set);
/* Smallest and largest number; 0 when empty. */
uint32_t imap_seqset_min(const struct imap_seqset *set);
uint32_t imap_seqset_max(const struct imap_seqset *set);

/* Ascending iteration:
 *	struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
 *	uint32_t n;
 *	while (imap_seqset_next(set, &it, &n)) ...
 * The set must not change during the iteration. */
struct imap_seqset_iter {
	size_t range;
	uint64_t next;		/* 0: start of the range */
};
#define IMAP_SEQSET_ITER_INIT ((struct imap_seqset_iter){ 0, 0 })
bool imap_seqset_next(const struct imap_seqset *set, struct imap_seqset_iter *it,
		      uint32_t *n_r);

/* Append the set as text ("1,3:5,7") to out, e.g. for ESEARCH (RFC 4731)
 * or COPYUID/APPENDUID (RFC 4315). Returns -1 if the set is empty (a
 * sequence-set cannot be) or out is full (out unchanged). */
int imap_seqset_format(const struct imap_seqset *set, buf_t *out);

#endif
