/*
 * libFuzzer target for FETCH attribute parsing (src/lib-imap/imap-fetch-parse.c).
 *  - the input as one attribute atom: parsing never reads past it, and a
 *    parsed item's response name (without the partial origin) is canonical:
 *    parsed again it gives itself;
 *  - the input as the rest of a FETCH command line ("t FETCH 1 " input
 *    CRLF) through the IMAP parser: attributes and modifiers parse or fail
 *    cleanly, and every item of a parsed request has a name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-fetch-parse.h"
#include "imap-parser.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

static void check_canonical(const struct imap_fetch_item *item)
{
	struct imap_fetch_item again;
	const char *error;
	size_t len = strlen(item->name);

	/* "BODY[]<5>" is a response form; the request form needs a length */
	if (item->partial) {
		const char *lt = strrchr(item->name, '<');
		FUZZ_ASSERT(lt != NULL);
		len = (size_t)(lt - item->name);
	}
	char *copy = xstrndup(item->name, len);
	FUZZ_ASSERT(imap_fetch_parse_item(copy, len, &again, &error) == 0);
	FUZZ_ASSERT(strcmp(again.name, copy) == 0);
	FUZZ_ASSERT(again.att == item->att);
	FUZZ_ASSERT(again.section.nparts == item->section.nparts);
	FUZZ_ASSERT(again.section.nfields == item->section.nfields);
	for (size_t i = 0; i < item->section.nfields; i++)
		FUZZ_ASSERT(strcmp(again.section.fields[i], item->section.fields[i]) == 0);
	imap_fetch_item_free(&again);
	free(copy);
}

static void fuzz_item(const char *in, size_t len)
{
	struct imap_fetch_item item;
	const char *error = NULL;

	if (imap_fetch_parse_item(in, len, &item, &error) == 0) {
		FUZZ_ASSERT(item.name != NULL);
		FUZZ_ASSERT(item.section.nparts <= IMAP_FETCH_MAX_PARTS);
		FUZZ_ASSERT(!item.partial || item.partial_len > 0);
		check_canonical(&item);
		imap_fetch_item_free(&item);
	} else {
		FUZZ_ASSERT(error != NULL && item.name == NULL);
	}
}

static void fuzz_command(const char *in, size_t len)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;
	struct imap_parser *p = imap_parser_create(&lim);
	buf_t line;
	size_t consumed;

	buf_init(&line, 0);
	buf_append_cstr(&line, "t FETCH 1 ");
	buf_append(&line, in, len);
	buf_append_cstr(&line, "\r\n");
	if (imap_parser_feed(p, line.data, line.used, &consumed) == IMAP_PARSE_DONE) {
		const struct imap_command *cmd = imap_parser_command(p);
		struct imap_fetch_request req;
		const char *error;
		if (cmd->count >= 2 && imap_fetch_parse_atts(&cmd->args[1], &req, &error) == 0) {
			FUZZ_ASSERT(req.count > 0);
			for (size_t i = 0; i < req.count; i++)
				FUZZ_ASSERT(req.items[i].name != NULL);
			if (cmd->count >= 3 &&
			    imap_fetch_parse_modifiers(&cmd->args[2], &req, &error) == 0)
				FUZZ_ASSERT(!req.vanished || req.changedsince_set);
			imap_fetch_request_free(&req);
		}
	}
	imap_parser_destroy(&p);
	buf_free(&line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size copy, so reading past `size` is caught by ASan */
	char *copy = xmalloc(size ? size : 1);

	if (size > 65536) {
		free(copy);
		return 0;
	}
	memcpy(copy, data, size);
	fuzz_item(copy, size);
	fuzz_command(copy, size);
	free(copy);
	return 0;
}
