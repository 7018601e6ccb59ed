/*
 * libFuzzer target for search programs, SORT criteria, text matching and
 * threading (src/lib-imap/imap-search-parse.c, src/lib-imap/imap-thread.c).
 *
 * The first input byte picks what the rest is:
 *  0  SEARCH arguments ("t SEARCH <rest>" through the command parser): a
 *     program that parses is well formed (depth, key count, OR/NOT arity,
 *     children cheapest first, each node's cost the maximum of its
 *     children's, strings within limits and folded); a failure leaves no
 *     program and an error text (BAD) or is BADCHARSET.
 *  1  the same with the charset first (SORT/THREAD), and the first
 *     argument as SORT criteria.
 *  2  messages for THREAD, one per line "subject|message-id|references|
 *     in-reply-to": both algorithms write every message exactly once, in
 *     balanced parentheses with no empty group.
 *  3  text: folding is idempotent and never grows; the streaming matcher,
 *     fed in pieces whose sizes come from the input, finds exactly the
 *     needles a plain search of the folded whole finds; the ENVELOPE
 *     reader takes the text without reading out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-parser.h"
#include "imap-search-parse.h"
#include "imap-thread.h"
#include "xalloc.h"

#define FUZZ_ASSERT(x) do { if (!(x)) abort(); } while (0)

static void check_fold(const char *s, size_t len)
{
	buf_t once, twice;
	buf_init(&once, 0);
	buf_init(&twice, 0);
	FUZZ_ASSERT(imap_search_fold(s, len, true, &once) == (ssize_t)len);
	FUZZ_ASSERT(once.used <= len);
	FUZZ_ASSERT(imap_search_fold(buf_slice(&once).ptr, once.used, true, &twice) ==
		    (ssize_t)once.used);
	FUZZ_ASSERT(slice_eq(buf_slice(&once), buf_slice(&twice)));
	buf_free(&once);
	buf_free(&twice);
}

/* Walk the tree with an explicit stack: structure and limits. */
static void check_program(const struct imap_search_program *prog)
{
	struct item {
		const struct imap_search_key *k;
		unsigned depth;
	} *stack = xreallocarray(NULL, prog->nkeys + 1, sizeof(*stack));
	size_t sp = 0, seen = 0, texts = 0, strings = 0;

	FUZZ_ASSERT(prog->root != NULL && prog->root->type == IMAP_SEARCH_AND);
	FUZZ_ASSERT(prog->nkeys <= IMAP_SEARCH_MAX_KEYS);
	stack[sp++] = (struct item){ prog->root, 0 };
	while (sp > 0) {
		struct item it = stack[--sp];
		const struct imap_search_key *k = it.k;
		seen++;
		FUZZ_ASSERT(seen <= prog->nkeys);
		FUZZ_ASSERT(it.depth <= IMAP_SEARCH_MAX_DEPTH + 1);
		size_t n = 0;
		enum imap_search_cost prev = IMAP_SEARCH_COST_RECORD, hi = IMAP_SEARCH_COST_RECORD;
		for (const struct imap_search_key *c = k->children; c != NULL; c = c->next) {
			FUZZ_ASSERT(c->cost >= prev);
			prev = c->cost;
			hi = c->cost > hi ? c->cost : hi;
			n++;
			stack[sp++] = (struct item){ c, it.depth + 1 };
			FUZZ_ASSERT(sp <= prog->nkeys);
		}
		switch (k->type) {
		case IMAP_SEARCH_AND:
			FUZZ_ASSERT(k == prog->root || n >= 1);
			FUZZ_ASSERT(k->cost == hi);
			break;
		case IMAP_SEARCH_OR:
			FUZZ_ASSERT(n >= 2 && k->cost == hi);
			break;
		case IMAP_SEARCH_NOT:
			FUZZ_ASSERT(n == 1 && k->cost == hi);
			break;
		case IMAP_SEARCH_SEQSET:
		case IMAP_SEARCH_UIDSET:
			FUZZ_ASSERT(n == 0 && k->set != NULL && k->set->type == IMAP_ARG_ATOM);
			FUZZ_ASSERT(k->slot < prog->nslots);
			break;
		case IMAP_SEARCH_BODY:
		case IMAP_SEARCH_TEXT:
			FUZZ_ASSERT(k->text_idx < prog->ntexts && prog->texts[k->text_idx] == k);
			texts++;
			/* fall through */
		case IMAP_SEARCH_BCC:
		case IMAP_SEARCH_CC:
		case IMAP_SEARCH_FROM:
		case IMAP_SEARCH_SUBJECT:
		case IMAP_SEARCH_TO:
		case IMAP_SEARCH_HEADER:
			FUZZ_ASSERT(n == 0 && k->str != NULL && k->len <= IMAP_SEARCH_MAX_STRING);
			FUZZ_ASSERT(k->str[k->len] == '\0');
			FUZZ_ASSERT(k->type != IMAP_SEARCH_HEADER || k->field != NULL);
			strings += k->len;
			check_fold(k->str, k->len);
			buf_t again;
			buf_init(&again, 0);
			imap_search_fold(k->str, k->len, true, &again);
			FUZZ_ASSERT(slice_eq(buf_slice(&again), slice_make(k->str, k->len)));
			buf_free(&again);
			break;
		default:
			FUZZ_ASSERT(n == 0);
			break;
		}
	}
	FUZZ_ASSERT(seen == prog->nkeys);	/* every node is in the tree */
	FUZZ_ASSERT(texts == prog->ntexts);
	FUZZ_ASSERT(strings <= IMAP_SEARCH_MAX_STRINGS);
	free(stack);
}

static void fuzz_program(const char *data, size_t size, enum imap_search_syntax syntax)
{
	struct imap_parser_limits lim = IMAP_PARSER_LIMITS_DEFAULT;
	struct imap_parser *p = imap_parser_create(&lim);
	buf_t in;
	size_t off = 0, consumed;
	enum imap_parse_result r;

	buf_init(&in, 0);
	buf_append_cstr(&in, "t SEARCH ");
	buf_append(&in, data, size);
	buf_append_cstr(&in, "\r\n");
	while ((r = imap_parser_feed(p, in.data + off, in.used - off, &consumed)) ==
	       IMAP_PARSE_LITERAL_WAIT) {
		off += consumed;
		if (imap_parser_literal_accept(p) < 0)
			break;
	}
	if (r == IMAP_PARSE_DONE) {
		const struct imap_command *cmd = imap_parser_command(p);
		struct imap_search_program *prog = (void *)&prog;
		const char *error = NULL;
		int ret = imap_search_parse(cmd->args, cmd->count, syntax, &prog, &error);
		if (ret == IMAP_SEARCH_OK) {
			FUZZ_ASSERT(prog != NULL);
			check_program(prog);
			if (prog->return_given)
				FUZZ_ASSERT(prog->return_opts != 0);
		} else {
			FUZZ_ASSERT(prog == NULL);
			FUZZ_ASSERT(ret == IMAP_SEARCH_BADCHARSET ||
				    (ret == IMAP_SEARCH_BAD && error != NULL));
		}
		imap_search_program_free(&prog);
		FUZZ_ASSERT(prog == NULL);

		if (syntax == IMAP_SEARCH_SYNTAX_CHARSET_FIRST && cmd->count > 0) {
			struct imap_sort_criterion crit[IMAP_SORT_MAX_CRITERIA];
			size_t n = 99;
			if (imap_sort_parse(&cmd->args[0], crit, IMAP_SORT_MAX_CRITERIA, &n,
					    &error) == 0)
				FUZZ_ASSERT(n >= 1 && n <= IMAP_SORT_MAX_CRITERIA);
			else
				FUZZ_ASSERT(n == 0 && error != NULL);
		}
	}
	imap_parser_destroy(&p);
	buf_free(&in);
}

/* ---- threads ---- */

static slice_t field(slice_t *line)
{
	slice_t head, tail;
	slice_split(*line, '|', &head, &tail);
	*line = tail;
	return head;
}

static void check_thread_text(const buf_t *out, size_t n)
{
	unsigned char *seen = xcalloc(n + 1, 1);
	long depth = 0;
	size_t count = 0;

	for (size_t i = 0; i < out->used; i++) {
		char c = out->data[i];
		if (c == '(') {
			depth++;
			FUZZ_ASSERT(i + 1 < out->used && out->data[i + 1] != ')');
		} else if (c == ')') {
			FUZZ_ASSERT(--depth >= 0);
		} else if (c >= '1' && c <= '9') {
			uint64_t id = 0;
			FUZZ_ASSERT(depth > 0);
			while (i < out->used && out->data[i] >= '0' && out->data[i] <= '9')
				id = id * 10 + (uint64_t)(out->data[i++] - '0');
			i--;
			FUZZ_ASSERT(id >= 1 && id <= n && !seen[id]);
			seen[id] = 1;
			count++;
		} else {
			FUZZ_ASSERT(c == ' ' && depth > 0);
		}
	}
	FUZZ_ASSERT(depth == 0 && count == n);
	free(seen);
}

static void fuzz_thread(const char *data, size_t size)
{
	enum { MAX_MSGS = 2000 };
	struct imap_thread_msg *m = xcalloc(MAX_MSGS, sizeof(*m));
	buf_t *subj = xcalloc(MAX_MSGS, sizeof(*subj));
	slice_t rest = slice_make(data, size), line;
	size_t n = 0;

	while (rest.len > 0 && n < MAX_MSGS) {
		slice_split(rest, '\n', &line, &rest);
		slice_t s = field(&line), id = field(&line), refs = field(&line), irt = field(&line);
		bool reply;
		buf_init(&subj[n], 0);
		FUZZ_ASSERT(imap_base_subject(s, &subj[n], &reply) == 0);
		FUZZ_ASSERT(subj[n].used <= 3 * s.len);
		m[n] = (struct imap_thread_msg){
			.id = (uint32_t)n + 1, .seq = (uint32_t)n + 1,
			/* dates that repeat and go backwards */
			.date = (int64_t)((n * 7919) % 13),
			.subject = buf_slice(&subj[n]), .is_reply = reply,
			.message_id = id, .references = refs,
			.in_reply_to = irt.len > 0 ? irt : (slice_t){ NULL, 0 },
		};
		n++;
	}
	for (int alg = 0; alg < 2; alg++) {
		buf_t out;
		buf_init(&out, 0);
		FUZZ_ASSERT(imap_thread(alg == 0 ? IMAP_THREAD_ORDEREDSUBJECT : IMAP_THREAD_REFERENCES,
					m, n, &out) == 0);
		check_thread_text(&out, n);
		buf_free(&out);
	}
	for (size_t i = 0; i < n; i++)
		buf_free(&subj[i]);
	free(subj);
	free(m);
}

/* ---- text ---- */

static void fuzz_text(const char *data, size_t size)
{
	struct imap_search_key keys[4];
	const struct imap_search_key *needles[4];
	buf_t folded[4], whole;
	struct imap_search_scan scan;
	size_t nn = 0;

	check_fold(data, size);

	/* needles: folded slices of the input at places it chooses */
	for (size_t i = 0; i < 4 && size >= 2; i++) {
		size_t at = (unsigned char)data[i % size] % size;
		size_t len = (unsigned char)data[(i + 1) % size] % 9;
		if (at + len > size)
			len = size - at;
		buf_init(&folded[nn], 0);
		imap_search_fold(data + at, len, true, &folded[nn]);
		keys[nn] = (struct imap_search_key){ .type = IMAP_SEARCH_BODY,
						     .str = folded[nn].data ? folded[nn].data : (char *)"",
						     .len = folded[nn].used };
		needles[nn] = &keys[nn];
		nn++;
	}
	buf_init(&whole, 0);
	ssize_t consumed = imap_search_fold(data, size, false, &whole);
	FUZZ_ASSERT(consumed >= 0 && (size_t)consumed + 3 >= size);

	imap_search_scan_init(&scan, needles, nn);
	size_t off = 0, step = 0;
	while (off < size) {
		size_t piece = 1 + (unsigned char)data[step++ % size] % 17;
		if (step % 5 == 0)
			piece *= 4099;
		if (piece > size - off)
			piece = size - off;
		imap_search_scan_feed(&scan, data + off, piece);
		off += piece;
	}
	for (size_t i = 0; i < nn; i++) {
		bool want = keys[i].len == 0 ||
			    (whole.used >= keys[i].len &&
			     memmem(whole.data, whole.used, keys[i].str, keys[i].len) != NULL);
		FUZZ_ASSERT(scan.found[i] == want);
	}
	FUZZ_ASSERT(scan.window.used <= IMAP_SEARCH_SCAN_PIECE + scan.keep + 4);
	imap_search_scan_deinit(&scan);
	for (size_t i = 0; i < nn; i++)
		buf_free(&folded[i]);
	buf_free(&whole);

	struct imap_search_envelope env;
	if (imap_search_envelope_parse(data, size, &env) == 0) {
		FUZZ_ASSERT(size >= 2 && data[0] == '(' && data[size - 1] == ')');
		for (int i = 0; i < IMAP_ENV_ADDR_LISTS; i++)
			for (size_t j = 0; j < env.naddrs[i]; j++)
				FUZZ_ASSERT(env.addrs[i][j].name.len <= size);
	}
	imap_search_envelope_free(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	/* exact-size copy, so reading past the end is caught by ASan */
	char *copy = xmalloc(size - 1 ? size - 1 : 1);
	memcpy(copy, data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		fuzz_program(copy, size - 1, IMAP_SEARCH_SYNTAX_SEARCH);
		break;
	case 1:
		fuzz_program(copy, size - 1, IMAP_SEARCH_SYNTAX_CHARSET_FIRST);
		break;
	case 2:
		if (size - 1 <= 200000)
			fuzz_thread(copy, size - 1);
		break;
	default:
		fuzz_text(copy, size - 1);
		break;
	}
	free(copy);
	return 0;
}
