/*
 * libFuzzer target for the RFC 5322 address-list, date, header and
 * encoded-word parsers. Contracts checked:
 *  - address parsing never fails, respects the address cap, and group
 *    markers pair up (every GROUP_START is followed by a GROUP_END before
 *    the next GROUP_START);
 *  - every slice points into the list's storage and is not longer than
 *    twice the input;
 *  - the header parser fed one byte at a time agrees with one call;
 *  - dates that parse have a sane zone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rfc2047.h"
#include "rfc5322.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

static void fuzz_addresses(slice_t in, size_t max)
{
	struct rfc5322_address_list l = { 0 };
	bool in_group = false;

	rfc5322_address_parse(in, max, &l);
	FUZZ_ASSERT(l.count <= (max ? max : RFC5322_DEFAULT_MAX_ADDRESSES));
	for (size_t i = 0; i < l.count; i++) {
		const struct rfc5322_address *a = &l.addrs[i];
		const slice_t *s[4] = { &a->name, &a->route, &a->mailbox, &a->domain };
		for (int k = 0; k < 4; k++) {
			if (s[k]->ptr == NULL)
				continue;
			FUZZ_ASSERT(s[k]->len <= in.len);
			FUZZ_ASSERT(s[k]->ptr[s[k]->len] == '\0');
		}
		switch (a->kind) {
		case RFC5322_ADDR_GROUP_START:
			FUZZ_ASSERT(!in_group);
			FUZZ_ASSERT(a->mailbox.ptr != NULL);
			in_group = true;
			break;
		case RFC5322_ADDR_GROUP_END:
			FUZZ_ASSERT(in_group);
			in_group = false;
			break;
		case RFC5322_ADDR_MAILBOX:
			break;
		}
	}
	FUZZ_ASSERT(!in_group);
	rfc5322_address_list_free(&l);
}

static void fuzz_header(const char *data, size_t size)
{
	struct rfc5322_header whole, t;
	static const struct rfc5322_limits lim = { 3, 40, 8 };

	rfc5322_header_parse_all(&whole, data, size, &lim);
	rfc5322_header_init(&t, &lim);
	for (size_t n = 0; n <= size; n++)
		if (rfc5322_header_parse(&t, data, n, n == size) == 1)
			break;
	FUZZ_ASSERT(t.size == whole.size && t.count == whole.count);
	FUZZ_ASSERT(t.lf_count == whole.lf_count && t.bare_lf == whole.bare_lf);
	FUZZ_ASSERT(whole.size <= size && whole.count <= 3);
	for (size_t i = 0; i < whole.count; i++) {
		const struct rfc5322_field *f = &whole.fields[i];
		FUZZ_ASSERT(memcmp(f, &t.fields[i], sizeof(*f)) == 0);
		FUZZ_ASSERT(f->end <= whole.size);
		FUZZ_ASSERT(f->value_off + f->value_len <= f->end);
		FUZZ_ASSERT(f->value_len <= 8);
	}
	rfc5322_header_deinit(&whole);
	rfc5322_header_deinit(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size copy, so reading past `size` is caught by ASan */
	char *copy = xmalloc(size ? size : 1);
	slice_t in;
	time_t t;
	int tz;
	buf_t out;

	memcpy(copy, data, size);
	in = slice_make(copy, size);
	fuzz_addresses(in, 0);
	fuzz_addresses(in, 3);
	if (rfc5322_date_parse(in, &t, &tz) == 0)
		FUZZ_ASSERT(tz > -24 * 60 && tz < 24 * 60);
	fuzz_header(copy, size);
	buf_init(&out, 1 << 20);
	(void)rfc2047_decode(in, &out);
	buf_reset(&out);
	(void)rfc5322_unfold(in, true, &out);
	buf_free(&out);
	{
		struct rfc2231_param *p;
		size_t n = rfc2231_parse_params(in, &p);
		rfc2231_params_free(&p, n);
	}
	free(copy);
	return 0;
}
