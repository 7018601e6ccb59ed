/*
 * libFuzzer target for the address parser: every input goes through
 * address_parse_path and address_parse under each flag combination, and
 * whatever parses must satisfy the contract:
 *  - the consumed length is within the input, ends at '>' and is <= 256;
 *  - the local part is <= 64 octets and the domain is lowercase;
 *  - mail_address_to_string renders something address_parse reads back to
 *    the same local part and domain.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

static const unsigned fuzz_flag_sets[] = {
	0,
	ADDR_ALLOW_NULL,
	ADDR_SMTPUTF8,
	ADDR_ALLOW_NULL | ADDR_SMTPUTF8 | ADDR_ALLOW_POSTMASTER,
};

static void fuzz_check_parts(const struct mail_address *a, unsigned flags)
{
	const char *error = NULL;
	struct mail_address b;
	char *s;

	FUZZ_ASSERT(a->local != NULL && a->domain != NULL);
	FUZZ_ASSERT(strlen(a->local) <= ADDR_LOCAL_MAX);
	for (const char *p = a->domain; *p != '\0'; p++)
		FUZZ_ASSERT(*p < 'A' || *p > 'Z');
	(void)address_has_routing(a);
	(void)address_local_is_safe_for_path(a->local);
	if (a->domain[0] != '\0' && a->domain[0] != '[')
		FUZZ_ASSERT(domain_is_valid(a->domain, flags));

	s = mail_address_to_string(a);
	FUZZ_ASSERT(address_parse(s, flags | ADDR_ALLOW_NULL | ADDR_ALLOW_POSTMASTER,
				  &b, &error) == 0);
	FUZZ_ASSERT(strcmp(a->local, b.local) == 0);
	FUZZ_ASSERT(strcmp(a->domain, b.domain) == 0);
	mail_address_free(&b);
	free(s);
}

static void fuzz_path(const uint8_t *data, size_t size, unsigned flags)
{
	struct mail_address a = { NULL, NULL };
	const char *error = NULL;
	ssize_t n = address_parse_path((const char *)data, size, flags, &a, &error);

	if (n < 0) {
		FUZZ_ASSERT(error != NULL && a.local == NULL && a.domain == NULL);
		return;
	}
	FUZZ_ASSERT((size_t)n <= size && n <= ADDR_PATH_MAX && data[n - 1] == '>');
	fuzz_check_parts(&a, flags);
	mail_address_free(&a);
}

static void fuzz_bare(const char *s, unsigned flags)
{
	struct mail_address a = { NULL, NULL };
	const char *error = NULL;

	if (address_parse(s, flags, &a, &error) < 0) {
		FUZZ_ASSERT(error != NULL && a.local == NULL && a.domain == NULL);
		return;
	}
	FUZZ_ASSERT(strlen(s) <= ADDR_PATH_MAX - 2);
	fuzz_check_parts(&a, flags);
	mail_address_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size copy, so reading past `size` is caught by ASan */
	uint8_t *copy = xmalloc(size);
	char *str = xmalloc(size + 1);

	memcpy(copy, data, size);
	memcpy(str, data, size);
	str[size] = '\0';
	for (size_t i = 0; i < sizeof(fuzz_flag_sets) / sizeof(fuzz_flag_sets[0]); i++) {
		fuzz_path(copy, size, fuzz_flag_sets[i]);
		fuzz_bare(str, fuzz_flag_sets[i]);
		(void)domain_is_valid(str, fuzz_flag_sets[i]);
	}
	free(copy);
	free(str);
	return 0;
}
