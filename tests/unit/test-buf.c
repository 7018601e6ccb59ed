#include <stdint.h>
#include "test.h"
#include "buf.h"

TEST(buf_append_and_nul)
{
	buf_t b;
	buf_init(&b, 0);
	CHECK(buf_append_cstr(&b, "hello") == 0);
	CHECK(buf_append(&b, "\0x", 2) == 0);
	CHECK_INTEQ(b.used, 7);
	CHECK(b.data[7] == '\0');
	CHECK(memcmp(b.data, "hello\0x", 7) == 0);
	buf_free(&b);
	CHECK(b.data == NULL);
}

TEST(buf_max_enforced)
{
	buf_t b;
	buf_init(&b, 8);
	CHECK(buf_append_cstr(&b, "12345678") == 0);
	CHECK(buf_append_byte(&b, 'x') == -1);
	CHECK_INTEQ(b.used, 8);
	CHECK(buf_printf(&b, "%d", 1) == -1);
	buf_reset(&b);
	CHECK(buf_printf(&b, "%s-%d", "ab", 42) == 0);
	CHECK_STREQ(buf_cstr(&b), "ab-42");
	CHECK(buf_reserve(&b, SIZE_MAX) == -1);
	buf_free(&b);
}

TEST(buf_consume_truncate)
{
	buf_t b;
	buf_init(&b, 0);
	buf_append_cstr(&b, "abcdef");
	buf_consume(&b, 2);
	CHECK_STREQ(buf_cstr(&b), "cdef");
	buf_truncate(&b, 2);
	CHECK_STREQ(buf_cstr(&b), "cd");
	buf_consume(&b, 100);
	CHECK_INTEQ(b.used, 0);
	CHECK_STREQ(buf_cstr(&b), "");
	buf_free_secret(&b);
}

TEST(slice_ops)
{
	slice_t s = slice_cstr("  Key = Value \r\n");
	slice_t t = slice_trim(s);
	CHECK(slice_eq_cstr(t, "Key = Value"));
	slice_t h, r;
	CHECK(slice_split(t, '=', &h, &r));
	CHECK(slice_eq_cstr(slice_trim(h), "Key"));
	CHECK(slice_eq_cstr_ci(slice_trim(r), "VALUE"));
	CHECK(!slice_split(t, '#', &h, &r));
	CHECK(slice_eq(h, t) && r.len == 0);
	CHECK(slice_starts_with_ci(t, "key"));
	CHECK(slice_find(t, 'V') == 6);
	CHECK(slice_eq_cstr(slice_sub(t, 6, 100), "Value"));
	CHECK(slice_sub(t, 100, 1).len == 0);
}

TEST(slice_to_u64_overflow)
{
	uint64_t v;
	CHECK(slice_to_u64(slice_cstr("18446744073709551615"), &v) == 0 && v == UINT64_MAX);
	CHECK(slice_to_u64(slice_cstr("18446744073709551616"), &v) == -1);
	CHECK(slice_to_u64(slice_cstr("99999999999999999999"), &v) == -1);
	CHECK(slice_to_u64(slice_cstr(""), &v) == -1);
	CHECK(slice_to_u64(slice_cstr("-1"), &v) == -1);
	CHECK(slice_to_u64(slice_cstr("12a"), &v) == -1);
	CHECK(slice_to_u64(slice_cstr("0042"), &v) == 0 && v == 42);
}
