/*
 * libFuzzer target for netaddr_parse and netmask_parse. Whatever parses must
 * satisfy the contract:
 *  - the family is AF_INET or AF_INET6, the prefix within its bits;
 *  - a network has no host bits set and contains its own address;
 *  - the formatted form parses back to the same address / network;
 *  - a failed netmask_parse gives an error message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

static void fuzz_addr(const char *s)
{
	struct netaddr a, b;
	char text[NETADDR_STRLEN];

	if (netaddr_parse(s, &a) < 0)
		return;
	FUZZ_ASSERT(a.family == AF_INET || a.family == AF_INET6);
	netaddr_format(&a, text, sizeof(text));
	FUZZ_ASSERT(text[0] != '\0');
	FUZZ_ASSERT(netaddr_parse(text, &b) == 0 && netaddr_equal(&a, &b));
}

static void fuzz_mask(const char *s)
{
	struct netmask m, m2;
	const char *error = NULL;
	char text[NETMASK_STRLEN];
	struct netmask_list l;

	if (netmask_parse(s, &m, &error) < 0) {
		FUZZ_ASSERT(error != NULL);
		FUZZ_ASSERT(netmask_list_parse(&s, 1, &l, &error) < 0);
		FUZZ_ASSERT(l.items == NULL && l.count == 0 && error != NULL);
		return;
	}
	FUZZ_ASSERT(m.net.family == AF_INET || m.net.family == AF_INET6);
	FUZZ_ASSERT(m.prefix <= (m.net.family == AF_INET ? 32u : 128u));
	/* host bits are clear: the network is its own first address */
	FUZZ_ASSERT(netmask_match(&m, &m.net));
	for (unsigned bit = m.prefix; bit < (m.net.family == AF_INET ? 32u : 128u); bit++)
		FUZZ_ASSERT((m.net.addr[bit / 8] & (0x80 >> (bit % 8))) == 0);
	netmask_format(&m, text, sizeof(text));
	FUZZ_ASSERT(netmask_parse(text, &m2, &error) == 0);
	FUZZ_ASSERT(netaddr_equal(&m.net, &m2.net) && m.prefix == m2.prefix);
	FUZZ_ASSERT(netmask_list_parse(&s, 1, &l, &error) == 0 && l.count == 1);
	FUZZ_ASSERT(netmask_list_match(&l, &m.net));
	netmask_list_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size NUL-terminated copy, so overreads are caught by ASan */
	char *str = xmalloc(size + 1);

	memcpy(str, data, size);
	str[size] = '\0';
	fuzz_addr(str);
	fuzz_mask(str);
	free(str);
	return 0;
}
