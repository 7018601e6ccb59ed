/* Tests for src/lib-imap/imap-thread.c: RFC 5256 base subjects and the
 * ORDEREDSUBJECT and REFERENCES threading algorithms. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-thread.h"
#include "test.h"
#include "xalloc.h"

static void check_base(const char *in, const char *want, bool want_reply, int line)
{
	buf_t out;
	bool reply = !want_reply;

	buf_init(&out, 0);
	if (imap_base_subject(slice_cstr(in), &out, &reply) < 0)
		test_fail(__FILE__, line, "imap_base_subject failed");
	if (strcmp(buf_cstr(&out), want) != 0 || reply != want_reply) {
		char m[512];
		snprintf(m, sizeof(m), "\"%s\": got \"%s\" reply=%d, want \"%s\" reply=%d", in,
			 buf_cstr(&out), reply, want, want_reply);
		test_fail(__FILE__, line, m);
	}
	buf_free(&out);
}

#define CHECK_BASE(in, want, reply) check_base(in, want, reply, __LINE__)

TEST(imap_base_subject_rfc5256)
{
	CHECK_BASE("Hello", "HELLO", false);
	CHECK_BASE("Re: hello", "HELLO", true);
	CHECK_BASE("re:hello", "HELLO", true);
	CHECK_BASE("RE: Re: re: hello", "HELLO", true);
	CHECK_BASE("Fw: x", "X", true);
	CHECK_BASE("Fwd:x", "X", true);
	CHECK_BASE("Fwd : x", "X", true);		/* *WSP before ":" */
	CHECK_BASE("Re[2]: hi", "HI", true);		/* subj-blob inside subj-refwd */
	CHECK_BASE("Re [2]: hi", "HI", true);
	CHECK_BASE("[list] Re: hello", "HELLO", true);	/* *subj-blob subj-refwd */
	CHECK_BASE("[list] hello", "HELLO", false);	/* step 4 */
	CHECK_BASE("[list] [tag] hello", "HELLO", false);
	CHECK_BASE("[only blob]", "[ONLY BLOB]", false);	/* subj-base may be a blob */
	CHECK_BASE("[a] [b]", "[B]", false);
	CHECK_BASE("Re: Re: Fwd:  [a] [b] subject", "SUBJECT", true);
	CHECK_BASE("hello (fwd)", "HELLO", true);
	CHECK_BASE("hello (fwd) (FWD)  ", "HELLO", true);
	CHECK_BASE("[Fwd: Re: test]", "TEST", true);
	CHECK_BASE("[fwd: [fwd: x]]", "X", true);
	CHECK_BASE("[fwd: x] y", "Y", false);	/* a subj-blob, not subj-fwd */
	CHECK_BASE("  multiple   spaces\there ", "MULTIPLE SPACES HERE", false);
	CHECK_BASE("folded\r\n line", "FOLDED LINE", false);
	CHECK_BASE("Refwd: x", "REFWD: X", false);
	CHECK_BASE("Re", "RE", false);
	CHECK_BASE("Re:", "", true);
	CHECK_BASE("", "", false);
	CHECK_BASE("   ", "", false);
	/* encoded words are decoded first; only ASCII is upper-cased */
	CHECK_BASE("=?UTF-8?Q?Re:_caf=C3=A9?=", "CAF\xc3\xa9", true);
	CHECK_BASE("=?ISO-8859-1?Q?=E9t=E9?= Re: x", "\xc3\xa9T\xc3\xa9 RE: X", false);
}

TEST(imap_base_subject_bounded)
{
	/* a long subject of nested markers: linear work, bounded output */
	buf_t in, out;
	buf_init(&in, 0);
	buf_init(&out, 64);
	for (int i = 0; i < 20000; i++)
		buf_append_cstr(&in, "Re: [x] ");
	buf_append_cstr(&in, "end");
	CHECK(imap_base_subject(buf_slice(&in), &out, NULL) == 0);
	CHECK_STREQ(buf_cstr(&out), "END");
	buf_reset(&in);
	for (int i = 0; i < 100; i++)
		buf_append_cstr(&in, "abcdefghij");
	CHECK(imap_base_subject(buf_slice(&in), &out, NULL) == -1);	/* out's max */
	buf_free(&in);
	buf_free(&out);
}

/* ---- threading ---- */

struct tmsg {
	const char *subject, *msgid, *refs, *irt;
	int64_t date;
};

static void check_thread(enum imap_thread_alg alg, const struct tmsg *t, size_t n,
			 const char *want, int line)
{
	struct imap_thread_msg *m = xcalloc(n ? n : 1, sizeof(*m));
	buf_t *subj = xcalloc(n ? n : 1, sizeof(*subj));
	buf_t out;

	for (size_t i = 0; i < n; i++) {
		bool reply;
		buf_init(&subj[i], 0);
		imap_base_subject(slice_cstr(t[i].subject ? t[i].subject : ""), &subj[i], &reply);
		m[i].id = (uint32_t)(i + 1);
		m[i].seq = (uint32_t)(i + 1);
		m[i].date = t[i].date;
		m[i].subject = buf_slice(&subj[i]);
		m[i].is_reply = reply;
		m[i].message_id = t[i].msgid ? slice_cstr(t[i].msgid) : (slice_t){ NULL, 0 };
		m[i].references = t[i].refs ? slice_cstr(t[i].refs) : (slice_t){ NULL, 0 };
		m[i].in_reply_to = t[i].irt ? slice_cstr(t[i].irt) : (slice_t){ NULL, 0 };
	}
	buf_init(&out, 0);
	if (imap_thread(alg, m, n, &out) < 0)
		test_fail(__FILE__, line, "imap_thread failed");
	if (strcmp(buf_cstr(&out), want) != 0) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "got \"%.400s\" want \"%.400s\"", buf_cstr(&out), want);
		test_fail(__FILE__, line, msg);
	}
	for (size_t i = 0; i < n; i++)
		buf_free(&subj[i]);
	buf_free(&out);
	free(subj);
	free(m);
}

#define REFS(t, want) check_thread(IMAP_THREAD_REFERENCES, t, sizeof(t) / sizeof(t[0]), want, __LINE__)
#define ORDERED(t, want) \
	check_thread(IMAP_THREAD_ORDEREDSUBJECT, t, sizeof(t) / sizeof(t[0]), want, __LINE__)

TEST(imap_thread_references_chain)
{
	static const struct tmsg chain[] = {
		{ "hello", "<a@x>", NULL, NULL, 100 },
		{ "Re: hello", "<b@x>", "<a@x>", "<a@x>", 200 },
		{ "Re: hello", "<c@x>", "<a@x> <b@x>", NULL, 300 },
		{ "Re: hello", "<d@x>", NULL, "<a@x> (comment) <zzz@x>", 400 },
		{ "other", "<e@x>", NULL, NULL, 50 },
	};
	/* threads by date; 1 has children 2 (with 3) and 4 */
	REFS(chain, "(5)(1 (2 3)(4))");

	static const struct tmsg missing_parent[] = {
		{ "a", "<a@x>", "<gone@x>", NULL, 100 },
		{ "b", "<b@x>", "<gone@x>", NULL, 200 },
		{ "c", "<c@x>", "<gone2@x>", NULL, 300 },
	};
	/* a dummy root keeps two children; one child is promoted */
	REFS(missing_parent, "((1)(2))(3)");

	static const struct tmsg folded_ids[] = {
		{ "a", "<a@\r\n x>", NULL, NULL, 100 },
		{ "b", "<b@x>", "<junk> <a@x>", NULL, 200 },
	};
	REFS(folded_ids, "(1 2)");

	static const struct tmsg no_ids[] = {
		{ "a", NULL, NULL, NULL, 100 },
		{ "b", "not-an-id", "nothing", NULL, 50 },
	};
	REFS(no_ids, "(2)(1)");

	static const struct tmsg reordered[] = {
		/* the reply arrives first */
		{ "Re: t", "<b@x>", "<a@x>", NULL, 200 },
		{ "t", "<a@x>", NULL, NULL, 100 },
	};
	REFS(reordered, "(2 1)");
}

TEST(imap_thread_references_subjects)
{
	static const struct tmsg reply_by_subject[] = {
		{ "Hello", "<a@x>", NULL, NULL, 100 },
		{ "Re: Hello", "<b@x>", NULL, NULL, 200 },
	};
	/* (6) a reply joins the non-reply with its subject */
	REFS(reply_by_subject, "(1 2)");

	static const struct tmsg same_subject[] = {
		{ "Hello", "<a@x>", NULL, NULL, 100 },
		{ "hello", "<b@x>", NULL, NULL, 200 },
	};
	/* two non-replies: a new dummy holds both */
	REFS(same_subject, "((1)(2))");

	static const struct tmsg replies_only[] = {
		{ "Re: x", "<a@x>", NULL, NULL, 100 },
		{ "Re: x", "<b@x>", NULL, NULL, 200 },
		{ "Re: x", "<c@x>", NULL, NULL, 300 },
	};
	REFS(replies_only, "((1)(2)(3))");

	static const struct tmsg dummy_and_msg[] = {
		{ "s", "<a@x>", "<gone@x>", NULL, 100 },
		{ "s", "<b@x>", "<gone@x>", NULL, 200 },
		{ "Re: s", "<c@x>", NULL, NULL, 300 },
	};
	/* the dummy is the table entry; the message becomes its child */
	REFS(dummy_and_msg, "((1)(2)(3))");

	static const struct tmsg empty_subjects[] = {
		{ "", "<a@x>", NULL, NULL, 100 },
		{ "Re:", "<b@x>", NULL, NULL, 200 },
	};
	/* empty thread subjects are not merged */
	REFS(empty_subjects, "(1)(2)");
}

TEST(imap_thread_references_loops_and_duplicates)
{
	static const struct tmsg loop[] = {
		{ "a", "<a@x>", "<b@x>", NULL, 100 },
		{ "b", "<b@x>", "<a@x>", NULL, 200 },
	};
	REFS(loop, "(2 1)");

	static const struct tmsg self[] = {
		{ "a", "<a@x>", "<a@x>", NULL, 100 },
		{ "b", "<b@x>", "<a@x> <b@x> <a@x>", NULL, 200 },
	};
	REFS(self, "(1 2)");

	static const struct tmsg dup[] = {
		{ "a", "<a@x>", NULL, NULL, 100 },
		{ "b", "<a@x>", NULL, NULL, 200 },
		{ "c", "<c@x>", "<a@x>", NULL, 300 },
	};
	/* the second <a@x> gets a container of its own */
	REFS(dup, "(1 3)(2)");

	static const struct tmsg same_date[] = {
		{ "a", "<a@x>", NULL, NULL, 100 },
		{ "b", "<b@x>", NULL, NULL, 100 },
		{ "c", "<c@x>", NULL, NULL, 100 },
	};
	/* ties: mailbox order */
	REFS(same_date, "(1)(2)(3)");
}

TEST(imap_thread_orderedsubject)
{
	static const struct tmsg t[] = {
		{ "A", NULL, NULL, NULL, 100 },
		{ "B", NULL, NULL, NULL, 50 },
		{ "Re: A", NULL, NULL, NULL, 300 },
		{ "a", NULL, NULL, NULL, 200 },
		{ "Fwd: b", NULL, NULL, NULL, 60 },
		{ "C", NULL, NULL, NULL, 10 },
	};
	ORDERED(t, "(6)(2 5)(1 (4)(3))");

	static const struct tmsg empty[] = {
		{ "", NULL, NULL, NULL, 100 },
		{ NULL, NULL, NULL, NULL, 50 },
	};
	ORDERED(empty, "(2 1)");

	static const struct tmsg none[] = { { "x", NULL, NULL, NULL, 1 } };
	check_thread(IMAP_THREAD_ORDEREDSUBJECT, none, 0, "", __LINE__);
	check_thread(IMAP_THREAD_REFERENCES, none, 0, "", __LINE__);
}

TEST(imap_thread_deep_and_wide)
{
	enum { N = 20000 };
	struct imap_thread_msg *m = xcalloc(N, sizeof(*m));
	char (*ids)[32] = xcalloc(N, sizeof(*ids));
	char (*refs)[32] = xcalloc(N, sizeof(*refs));
	buf_t out, want;

	/* a reply chain N deep: no recursion, one long chain "1 2 3 ..." */
	buf_init(&want, 0);
	buf_append_byte(&want, '(');
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "<%d@x>", i);
		snprintf(refs[i], sizeof(refs[i]), "<%d@x>", i - 1);
		m[i] = (struct imap_thread_msg){
			.id = (uint32_t)i + 1, .seq = (uint32_t)i + 1, .date = i,
			.subject = SLICE_LIT("S"), .message_id = slice_cstr(ids[i]),
			.references = i > 0 ? slice_cstr(refs[i]) : (slice_t){ NULL, 0 },
		};
		buf_printf(&want, i ? " %d" : "%d", i + 1);
	}
	buf_append_byte(&want, ')');
	buf_init(&out, 0);
	/* the loop-check walk is cut at IMAP_THREAD_MAX_WALK: the chain
	 * breaks into pieces there, which subject merging puts back under
	 * one dummy; the first piece is intact */
	CHECK(imap_thread(IMAP_THREAD_REFERENCES, m, N, &out) == 0);
	CHECK(out.used > 0 && strstr(out.data, "(1 2 3 4 5 6 7 8 9 10 ") != NULL);
	/* every message is written once */
	size_t numbers = 0;
	for (size_t i = 0; i < out.used; i++)
		if (out.data[i] >= '0' && out.data[i] <= '9' &&
		    (i + 1 == out.used || out.data[i + 1] < '0' || out.data[i + 1] > '9'))
			numbers++;
	CHECK_INTEQ(numbers, N);

	/* N replies to one message */
	buf_reset(&want);
	buf_append_cstr(&want, "(1 ");
	for (int i = 1; i < N; i++) {
		m[i].references = slice_cstr(ids[0]);
		buf_printf(&want, "(%d)", i + 1);
	}
	buf_append_byte(&want, ')');
	buf_reset(&out);
	CHECK(imap_thread(IMAP_THREAD_REFERENCES, m, N, &out) == 0);
	CHECK_STREQ(buf_cstr(&out), buf_cstr(&want));

	/* ORDEREDSUBJECT of N messages with one subject */
	buf_reset(&out);
	CHECK(imap_thread(IMAP_THREAD_ORDEREDSUBJECT, m, N, &out) == 0);
	CHECK_STREQ(buf_cstr(&out), buf_cstr(&want));

	/* output maximum: -1 and out unchanged */
	buf_t small;
	buf_init(&small, 100);
	buf_append_cstr(&small, "x");
	CHECK(imap_thread(IMAP_THREAD_ORDEREDSUBJECT, m, N, &small) == -1);
	CHECK_STREQ(buf_cstr(&small), "x");
	buf_free(&small);

	buf_free(&out);
	buf_free(&want);
	free(ids);
	free(refs);
	free(m);
}

TEST(imap_thread_many_references)
{
	/* more References than kept: the last IMAP_THREAD_MAX_REFS count */
	buf_t refs;
	struct imap_thread_msg m[2];
	buf_t out;

	buf_init(&refs, 0);
	for (int i = 0; i < 500; i++)
		buf_printf(&refs, "<r%d@x> ", i);
	buf_append_cstr(&refs, "<a@x>");
	m[0] = (struct imap_thread_msg){ .id = 1, .seq = 1, .date = 1,
					 .subject = SLICE_LIT("A"),
					 .message_id = SLICE_LIT("<a@x>") };
	m[1] = (struct imap_thread_msg){ .id = 2, .seq = 2, .date = 2,
					 .subject = SLICE_LIT("B"),
					 .message_id = SLICE_LIT("<b@x>"),
					 .references = buf_slice(&refs) };
	buf_init(&out, 0);
	CHECK(imap_thread(IMAP_THREAD_REFERENCES, m, 2, &out) == 0);
	/* r468..r499 form a dummy chain above <a@x>; they are pruned */
	CHECK_STREQ(buf_cstr(&out), "(1 2)");
	buf_free(&out);
	buf_free(&refs);
}
