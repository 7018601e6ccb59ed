/*
 * libFuzzer target for the IMAP command parser (src/lib-imap/imap-parser.c),
 * its raw line reader, and sequence sets (src/lib-imap/imap-seqset.c).
 *
 * The first input byte picks the limits, the chunk size and whether
 * synchronizing literals are accepted; the rest is client input. It is
 * fed whole and in chunks, as a server does (unconsumed input is kept and
 * new input appended); both transcripts must be identical, and:
 *  - consumed never exceeds the input; NEED_MORE consumes everything;
 *  - every command is well formed: tag and name non-empty, name upper-case,
 *    each list terminated by EOL, each string NUL-terminated, and only a
 *    literal8 holds NUL octets;
 *  - the parser's memory stays within a bound set by the limits, never by
 *    a size the client claims;
 *  - after an out-of-sync error nothing more is consumed.
 * Each atom is also tried as a sequence set: if it parses, its text form
 * parses back to the same set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-parser.h"
#include "imap-seqset.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

static void fuzz_seqset(const char *s, size_t len)
{
	struct imap_seqset set, again;
	const char *error;
	buf_t text;

	imap_seqset_init(&set, 64);
	imap_seqset_init(&again, 64);
	buf_init(&text, 0);
	if (imap_seqset_parse(&set, s, len, 1000, &error) == 0 && set.count > 0) {
		for (size_t i = 0; i < set.count; i++) {
			FUZZ_ASSERT(set.ranges[i].lo >= 1 && set.ranges[i].lo <= set.ranges[i].hi);
			if (i > 0)
				FUZZ_ASSERT((uint64_t)set.ranges[i - 1].hi + 1 < set.ranges[i].lo);
		}
		FUZZ_ASSERT(imap_seqset_format(&set, &text) == 0);
		FUZZ_ASSERT(imap_seqset_parse(&again, text.data, text.used, 1000, &error) == 0);
		FUZZ_ASSERT(again.count == set.count);
		FUZZ_ASSERT(memcmp(again.ranges, set.ranges,
				   set.count * sizeof(*set.ranges)) == 0);
		FUZZ_ASSERT(imap_seqset_contains(&set, set.ranges[0].lo));
		FUZZ_ASSERT(imap_seqset_contains(&set, imap_seqset_max(&set)));
	} else if (!set.dollar) {
		FUZZ_ASSERT(set.count == 0);
	}
	imap_seqset_free(&set);
	imap_seqset_free(&again);
	buf_free(&text);
}

static void dump(buf_t *log, const struct imap_arg *args, size_t count, size_t depth)
{
	FUZZ_ASSERT(args[count].type == IMAP_ARG_EOL);
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		buf_printf(log, " %d:", (int)a->type);
		if (a->type == IMAP_ARG_LIST) {
			FUZZ_ASSERT(a->str == NULL);
			dump(log, a->list, a->list_count, depth + 1);
			buf_append_byte(log, ')');
			continue;
		}
		FUZZ_ASSERT(a->type != IMAP_ARG_EOL);
		FUZZ_ASSERT(a->str != NULL && a->str[a->len] == '\0');
		if (!a->literal8)
			FUZZ_ASSERT(strlen(a->str) == a->len);
		if (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL)
			FUZZ_ASSERT(a->len > 0);
		if (a->type == IMAP_ARG_ATOM && depth < 2)
			fuzz_seqset(a->str, a->len);
		buf_printf(log, "%zu:", a->len);
		buf_append(log, a->str, a->len);
	}
}

struct fuzz_cfg {
	struct imap_parser_limits lim;
	size_t mem_bound;
	bool accept;
};

static void fuzz_run(const struct fuzz_cfg *cfg, const uint8_t *data, size_t size,
		     size_t chunk, buf_t *log)
{
	struct imap_parser *p = imap_parser_create(&cfg->lim);
	buf_t pend;
	size_t pos = 0;
	bool dead = false;

	buf_init(&pend, 0);
	while (!dead && pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		buf_append(&pend, data + pos, n);
		pos += n;
		for (;;) {
			size_t consumed;
			enum imap_parse_result r =
				imap_parser_feed(p, pend.data, pend.used, &consumed);
			FUZZ_ASSERT(consumed <= pend.used);
			FUZZ_ASSERT(cfg->mem_bound == 0 || imap_parser_mem_used(p) <= cfg->mem_bound);
			buf_consume(&pend, consumed);
			if (r == IMAP_PARSE_NEED_MORE) {
				FUZZ_ASSERT(pend.used == 0);
				break;
			}
			if (r == IMAP_PARSE_DONE) {
				const struct imap_command *cmd = imap_parser_command(p);
				FUZZ_ASSERT(cmd->tag[0] != '\0' && cmd->name[0] != '\0');
				for (const char *c = cmd->name; *c != '\0'; c++)
					FUZZ_ASSERT(!(*c >= 'a' && *c <= 'z'));
				buf_printf(log, "D %s %s", cmd->tag, cmd->name);
				dump(log, cmd->args, cmd->count, 0);
				buf_append_byte(log, '\n');
			} else if (r == IMAP_PARSE_LITERAL_WAIT) {
				bool big, lit8;
				uint64_t lsize = imap_parser_literal_size(p, &lit8, &big);
				FUZZ_ASSERT(imap_parser_name(p) != NULL);
				buf_printf(log, "W %llu %d\n", (unsigned long long)lsize, big);
				if (cfg->accept && !big)
					FUZZ_ASSERT(imap_parser_literal_accept(p) == 0);
				else
					imap_parser_literal_refuse(p);
			} else {
				enum imap_parse_error code;
				bool sync;
				const char *tag = imap_parser_tag(p);
				imap_parser_error(p, &code, &sync);
				FUZZ_ASSERT(code != IMAP_PARSE_ERR_NONE);
				buf_printf(log, "E %d %d %s\n", (int)code, sync, tag ? tag : "*");
				if (!sync) {
					size_t c2;
					FUZZ_ASSERT(imap_parser_feed(p, "a", 1, &c2) ==
						    IMAP_PARSE_ERROR && c2 == 0);
					dead = true;
					break;
				}
			}
		}
	}
	buf_free(&pend);
	imap_parser_destroy(&p);
}

/* Raw lines: whole and chunked give the same lines. */
static void fuzz_lines(const uint8_t *data, size_t size, size_t chunk, buf_t *log)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_PRELOGIN;
	struct imap_parser *p;
	buf_t pend;
	size_t pos = 0;
	bool dead = false;

	lim.max_line = 32;
	p = imap_parser_create(&lim);
	buf_init(&pend, 0);
	while (!dead && pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		buf_append(&pend, data + pos, n);
		pos += n;
		for (;;) {
			const char *line;
			size_t len, consumed;
			enum imap_parse_result r =
				imap_parser_read_line(p, pend.data, pend.used, &line, &len,
						      &consumed);
			FUZZ_ASSERT(consumed <= pend.used);
			buf_consume(&pend, consumed);
			if (r == IMAP_PARSE_NEED_MORE) {
				FUZZ_ASSERT(pend.used == 0);
				break;
			}
			if (r == IMAP_PARSE_DONE) {
				FUZZ_ASSERT(len <= 32 && line[len] == '\0');
				FUZZ_ASSERT(memchr(line, '\n', len) == NULL);
				buf_append_byte(log, 'L');
				buf_append(log, line, len);
			} else {
				buf_append_byte(log, 'E');
				bool sync;
				imap_parser_error(p, NULL, &sync);
				if (!sync) {
					dead = true;
					break;
				}
			}
		}
		FUZZ_ASSERT(imap_parser_mem_used(p) <= 4096);
	}
	buf_free(&pend);
	imap_parser_destroy(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cfg cfg;
	buf_t whole, chunked;

	if (size == 0)
		return 0;
	uint8_t sel = data[0];
	data++;
	size--;

	memset(&cfg, 0, sizeof(cfg));
	switch (sel & 3) {
	case 0:
		cfg.lim = (struct imap_parser_limits){ .max_line = 64, .max_literal = 40,
			.max_literal_total = 60, .max_depth = 4, .max_args = 16,
			.literal_plus = false };
		break;
	case 1:
		cfg.lim = IMAP_PARSER_LIMITS_PRELOGIN;
		break;
	case 2:
		cfg.lim = (struct imap_parser_limits){ .max_line = 1024, .max_literal = 100000,
			.max_literal_total = 0, .max_depth = 20, .max_args = 500,
			.literal_plus = true };
		break;
	default:
		cfg.lim = IMAP_PARSER_LIMITS_DEFAULT;
		break;
	}
	/* text (line + literals, NULs, doubling) + nodes + stack + tree */
	uint64_t total = cfg.lim.max_literal_total ? cfg.lim.max_literal_total :
			 cfg.lim.max_literal;
	cfg.mem_bound = 4 * (cfg.lim.max_line + (size_t)total) + 4096 +
			(cfg.lim.max_args + 16) * 2 * (64 + sizeof(struct imap_arg)) +
			(cfg.lim.max_depth + 8) * 2 * sizeof(size_t);
	cfg.accept = (sel & 4) != 0;
	size_t chunk = 1 + ((sel >> 3) % 13);

	buf_init(&whole, 0);
	buf_init(&chunked, 0);
	fuzz_run(&cfg, data, size, size, &whole);
	fuzz_run(&cfg, data, size, chunk, &chunked);
	FUZZ_ASSERT(slice_eq(buf_slice(&whole), buf_slice(&chunked)));
	buf_reset(&whole);
	buf_reset(&chunked);
	fuzz_lines(data, size, size, &whole);
	fuzz_lines(data, size, chunk, &chunked);
	FUZZ_ASSERT(slice_eq(buf_slice(&whole), buf_slice(&chunked)));
	buf_free(&whole);
	buf_free(&chunked);
	return 0;
}
