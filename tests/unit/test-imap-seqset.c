/* Tests for src/lib-imap/imap-seqset.c (RFC 9051 9 sequence-set). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-seqset.h"
#include "test.h"

/* Parse with star and format back; NULL expect means a parse error. */
static void check_seqset(const char *in, uint32_t star, const char *expect, int line)
{
	struct imap_seqset set;
	const char *error = NULL;
	buf_t out;
	int ret;

	imap_seqset_init(&set, 0);
	buf_init(&out, 0);
	ret = imap_seqset_parse(&set, in, strlen(in), star, &error);
	if (expect == NULL) {
		if (ret != -1 || error == NULL)
			test_fail(__FILE__, line, in);
		if (set.count != 0)
			test_fail(__FILE__, line, "set not empty after error");
	} else if (ret != 0) {
		test_fail(__FILE__, line, error ? error : "parse failed");
	} else {
		if (set.count > 0)
			imap_seqset_format(&set, &out);
		else if (set.dollar)
			buf_append_cstr(&out, "$");
		if (strcmp(buf_cstr(&out), expect) != 0) {
			char m[512];
			snprintf(m, sizeof(m), "\"%s\" star %u: got \"%s\" want \"%s\"", in,
				 star, buf_cstr(&out), expect);
			test_fail(__FILE__, line, m);
		}
	}
	buf_free(&out);
	imap_seqset_free(&set);
}

#define CHECK_SEQ(in, star, expect) check_seqset(in, star, expect, __LINE__)

TEST(imap_seqset_parse_valid)
{
	CHECK_SEQ("1", 10, "1");
	CHECK_SEQ("1,3:5,7:*,*", 10, "1,3:5,7:10");
	CHECK_SEQ("1:*", 10, "1:10");
	CHECK_SEQ("*", 10, "10");
	CHECK_SEQ("*:4", 10, "4:10");
	CHECK_SEQ("5:3", 10, "3:5");			/* n > m is m:n */
	CHECK_SEQ("20:*", 10, "10:20");			/* beyond the last one */
	CHECK_SEQ("3,1,2", 10, "1:3");			/* sorted, adjacent merged */
	CHECK_SEQ("1:5,2:3,4:8", 10, "1:8");		/* overlaps */
	CHECK_SEQ("1,3,5,7", 10, "1,3,5,7");
	CHECK_SEQ("7,5,3,1,2", 10, "1:3,5,7");
	CHECK_SEQ("1,1,1", 10, "1");
	CHECK_SEQ("4294967295", 10, "4294967295");
	CHECK_SEQ("4294967294:4294967295,1", 10, "1,4294967294:4294967295");
	CHECK_SEQ("1:4294967295", 10, "1:4294967295");
	CHECK_SEQ("4294967295:1", 4294967295u, "1:4294967295");
	CHECK_SEQ("*", 4294967295u, "4294967295");
	CHECK_SEQ("$", 10, "$");
	/* an empty mailbox: "*" is nothing, "n:*" is n */
	CHECK_SEQ("*", 0, "");
	CHECK_SEQ("1:*", 0, "1");
	CHECK_SEQ("5:*,2", 0, "2,5");
	CHECK_SEQ("*:5", 0, "5");
}

TEST(imap_seqset_parse_invalid)
{
	static const char *const bad[] = {
		"", "0", "0:5", "5:0", "4294967296", "1:4294967296", "99999999999999999999",
		"01", "1:02", ",", "1,", ",1", "1,,2", "1:", ":1", "1::2", "1:2:3", "*:",
		"a", "1 ", " 1", "-1", "1-2", "$,1", "1,$", "$$", "**", "1*", "+1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_seqset(bad[i], 10, NULL, __LINE__);
}

TEST(imap_seqset_max_ranges)
{
	struct imap_seqset set;
	const char *error;
	buf_t in;

	/* 1,3,5,... 20 elements with room for 10: refused before growing */
	imap_seqset_init(&set, 10);
	buf_init(&in, 0);
	for (int i = 0; i < 20; i++)
		buf_printf(&in, "%s%d", i ? "," : "", 2 * i + 1);
	CHECK(imap_seqset_parse(&set, in.data, in.used, 100, &error) == -1);
	CHECK(set.alloc <= 10);
	/* elements are counted as written */
	CHECK(imap_seqset_parse(&set, "1,1,1,1,1,1,1,1,1,1,1", 21, 100, &error) == -1);
	CHECK(imap_seqset_parse(&set, "1,1,1,1,1,1,1,1,1,1", 19, 100, &error) == 0);
	CHECK_INTEQ(set.count, 1);
	imap_seqset_free(&set);
	buf_free(&in);

	/* a huge list within the default bound: 50,000 elements, reversed */
	imap_seqset_init(&set, 0);
	buf_init(&in, 0);
	for (int i = 50000; i > 0; i--)
		buf_printf(&in, "%d,", 2 * i);
	buf_truncate(&in, in.used - 1);
	REQUIRE(imap_seqset_parse(&set, in.data, in.used, 0, &error) == 0);
	CHECK_INTEQ(set.count, 50000);
	CHECK_INTEQ(imap_seqset_count(&set), 50000);
	CHECK(imap_seqset_contains(&set, 2));
	CHECK(imap_seqset_contains(&set, 100000));
	CHECK(!imap_seqset_contains(&set, 99999));
	CHECK(!imap_seqset_contains(&set, 100002));
	CHECK_INTEQ(imap_seqset_min(&set), 2);
	CHECK_INTEQ(imap_seqset_max(&set), 100000);
	imap_seqset_free(&set);
	buf_free(&in);
}

TEST(imap_seqset_membership_iter)
{
	struct imap_seqset set;
	const char *error;

	imap_seqset_init(&set, 0);
	REQUIRE(imap_seqset_parse(&set, "2,4:6,9,4294967294:*", 8, 4294967295u, &error) == -1);
	REQUIRE(imap_seqset_parse(&set, "2,4:6,9,4294967294:*", 20, 4294967295u, &error) == 0);
	CHECK(!imap_seqset_contains(&set, 0));
	CHECK(!imap_seqset_contains(&set, 1));
	CHECK(imap_seqset_contains(&set, 2));
	CHECK(!imap_seqset_contains(&set, 3));
	CHECK(imap_seqset_contains(&set, 4));
	CHECK(imap_seqset_contains(&set, 5));
	CHECK(imap_seqset_contains(&set, 6));
	CHECK(!imap_seqset_contains(&set, 7));
	CHECK(imap_seqset_contains(&set, 9));
	CHECK(!imap_seqset_contains(&set, 10));
	CHECK(imap_seqset_contains(&set, 4294967295u));
	CHECK_INTEQ(imap_seqset_count(&set), 7);

	struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
	uint32_t n;
	buf_t seen;
	buf_init(&seen, 0);
	while (imap_seqset_next(&set, &it, &n))
		buf_printf(&seen, "%u ", n);
	CHECK_STREQ(buf_cstr(&seen), "2 4 5 6 9 4294967294 4294967295 ");
	buf_free(&seen);

	/* empty set */
	imap_seqset_clear(&set);
	it = IMAP_SEQSET_ITER_INIT;
	CHECK(!imap_seqset_next(&set, &it, &n));
	CHECK(!imap_seqset_contains(&set, 1));
	CHECK_INTEQ(imap_seqset_count(&set), 0);
	CHECK_INTEQ(imap_seqset_max(&set), 0);
	buf_t out;
	buf_init(&out, 0);
	CHECK(imap_seqset_format(&set, &out) == -1);
	buf_free(&out);
	imap_seqset_free(&set);
}

TEST(imap_seqset_add)
{
	struct imap_seqset set;
	buf_t out;

	imap_seqset_init(&set, 4);
	buf_init(&out, 0);
	/* ascending appends, as for COPYUID */
	CHECK(imap_seqset_add(&set, 1, 1) == 0);
	CHECK(imap_seqset_add(&set, 2, 2) == 0);
	CHECK(imap_seqset_add(&set, 5, 7) == 0);
	CHECK(imap_seqset_add(&set, 10, 10) == 0);
	CHECK(imap_seqset_format(&set, &out) == 0);
	CHECK_STREQ(buf_cstr(&out), "1:2,5:7,10");
	/* out of order, reversed, bridging, overlapping */
	CHECK(imap_seqset_add(&set, 4, 3) == 0);	/* joins 1:2 and 5:7 */
	CHECK(imap_seqset_add(&set, 20, 30) == 0);
	CHECK(imap_seqset_add(&set, 40, 40) == 0);
	CHECK_INTEQ(set.count, 4);
	CHECK(imap_seqset_add(&set, 50, 50) == -1);	/* a fifth range */
	CHECK_INTEQ(set.count, 4);
	CHECK(imap_seqset_add(&set, 8, 9) == 0);	/* 1:10 now */
	CHECK(imap_seqset_add(&set, 25, 45) == 0);	/* 20:45 */
	CHECK(imap_seqset_add(&set, 0, 5) == -1);
	buf_reset(&out);
	CHECK(imap_seqset_format(&set, &out) == 0);
	CHECK_STREQ(buf_cstr(&out), "1:10,20:45");
	CHECK(imap_seqset_add(&set, 4294967295u, 4294967294u) == 0);
	CHECK(imap_seqset_add(&set, 11, 19) == 0);
	buf_reset(&out);
	CHECK(imap_seqset_format(&set, &out) == 0);
	CHECK_STREQ(buf_cstr(&out), "1:45,4294967294:4294967295");
	CHECK(imap_seqset_add(&set, 46, 4294967293u) == 0);
	buf_reset(&out);
	CHECK(imap_seqset_format(&set, &out) == 0);
	CHECK_STREQ(buf_cstr(&out), "1:4294967295");
	CHECK_INTEQ(imap_seqset_count(&set), 4294967295u);
	buf_free(&out);

	/* format honours the output maximum and leaves out unchanged */
	buf_init(&out, 5);
	buf_append_cstr(&out, "ab");
	CHECK(imap_seqset_format(&set, &out) == -1);
	CHECK_STREQ(buf_cstr(&out), "ab");
	buf_free(&out);
	imap_seqset_free(&set);
}

/* Random additions against a bitmap. */
TEST(imap_seqset_add_random)
{
	struct imap_seqset set;
	unsigned char bits[512];
	uint32_t x = 12345;

	imap_seqset_init(&set, 0);
	memset(bits, 0, sizeof(bits));
	for (int i = 0; i < 2000; i++) {
		x = x * 1103515245 + 12345;
		uint32_t a = 1 + (x >> 8) % 4000;
		x = x * 1103515245 + 12345;
		uint32_t b = a + (x >> 8) % 8;
		if (b > 4000)
			b = 4000;
		REQUIRE(imap_seqset_add(&set, b, a) == 0);
		for (uint32_t n = a; n <= b; n++)
			bits[n / 8] |= (unsigned char)(1u << (n % 8));
	}
	size_t bad = 0;
	uint64_t total = 0;
	for (uint32_t n = 0; n < 4096; n++) {
		bool in = (bits[n / 8] >> (n % 8)) & 1;
		total += in;
		if (imap_seqset_contains(&set, n) != in)
			bad++;
	}
	CHECK_INTEQ(bad, 0);
	CHECK_INTEQ(imap_seqset_count(&set), total);
	for (size_t i = 1; i < set.count; i++)
		CHECK((uint64_t)set.ranges[i - 1].hi + 1 < set.ranges[i].lo);
	imap_seqset_free(&set);
}
