/* Unit tests for mime.c (structure) and mime-decode.c (CTE decoders). */
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "mime-decode.h"
#include "test.h"
#include "xalloc.h"

static const char mixed_msg[] =
	"From: a@b\n"
	"Content-Type: multipart/mixed; boundary=bb\n"
	"\n"
	"preamble\n"
	"--bb\n"
	"Content-Type: text/plain\n"
	"\n"
	"hello\n"
	"--bb\n"
	"Content-Type: application/octet-stream\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"aGk=\n"
	"--bb\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: inner\n"
	"Content-Type: multipart/alternative; boundary=in\n"
	"\n"
	"--in\n"
	"\n"
	"inner body\n"
	"--in--\n"
	"--bb--\n"
	"epilogue\n";

/* The same message with CRLF line ends. */
static char *to_crlf(const char *lf, size_t *len_r)
{
	size_t n = strlen(lf), k = 0;
	char *out = xmalloc(n * 2 + 1);

	for (size_t i = 0; i < n; i++) {
		if (lf[i] == '\n')
			out[k++] = '\r';
		out[k++] = lf[i];
	}
	out[k] = '\0';
	*len_r = k;
	return out;
}

static char *body_str(const struct mime_message *m, const struct mime_part *p)
{
	return slice_dup(mime_part_body(m, p));
}

TEST(mime_structure)
{
	struct mime_message *m = mime_parse(mixed_msg, sizeof(mixed_msg) - 1, NULL);
	const struct mime_part *root = m->root, *p1, *p2, *p3, *emb, *in1;
	char *s;

	CHECK_INTEQ(m->part_count, 6);
	CHECK(!m->limit_hit);
	CHECK(root->flags & MIME_PART_MULTIPART);
	CHECK_INTEQ(root->hdr_offset, 0);
	CHECK_INTEQ(root->body_offset, 54);
	CHECK_INTEQ(root->body_size, sizeof(mixed_msg) - 1 - 54);
	p1 = root->children;
	REQUIRE(p1 != NULL && p1->next != NULL && p1->next->next != NULL);
	p2 = p1->next;
	p3 = p2->next;
	CHECK(p3->next == NULL);
	s = body_str(m, p1);
	CHECK_STREQ(s, "hello");
	free(s);
	CHECK_INTEQ(p1->body_lines, 0);
	CHECK_INTEQ(p1->hdr_size, 26);
	s = slice_dup(mime_part_header(m, p1));
	CHECK_STREQ(s, "Content-Type: text/plain\n\n");
	free(s);
	CHECK(mime_part_is(p2, "application", "octet-stream"));
	CHECK(p2->cte == MIME_CTE_BASE64);
	CHECK(p3->flags & MIME_PART_MESSAGE);
	emb = p3->children;
	REQUIRE(emb != NULL && emb->next == NULL);
	CHECK_INTEQ(emb->hdr_offset, p3->body_offset);
	CHECK(emb->flags & MIME_PART_MULTIPART);
	/* the line break after "--in--" stays with the message (as Dovecot) */
	s = body_str(m, p3);
	CHECK(s[strlen(s) - 1] == '\n');
	CHECK(strncmp(s, "Subject: inner\n", 15) == 0);
	free(s);
	in1 = emb->children;
	REQUIRE(in1 != NULL);
	s = body_str(m, in1);
	CHECK_STREQ(s, "inner body");
	free(s);
	CHECK(in1->flags & MIME_PART_DEFAULT_TYPE);
	CHECK(mime_part_is(in1, "text", "plain"));
	CHECK_INTEQ(in1->depth, 3);

	/* RFC 3501 6.4.5 section numbers */
	{
		uint32_t s1[] = { 1 }, s3[] = { 3 }, s31[] = { 3, 1 }, s9[] = { 9 },
			 s311[] = { 3, 1, 1 }, s0[] = { 0 };
		CHECK(mime_part_by_section(m, s1, 1) == p1);
		CHECK(mime_part_by_section(m, s3, 1) == p3);
		CHECK(mime_part_by_section(m, s31, 2) == in1);
		/* a leaf's "1" is itself (as Dovecot resolves it) */
		CHECK(mime_part_by_section(m, s311, 3) == in1);
		CHECK(mime_part_by_section(m, s9, 1) == NULL);
		CHECK(mime_part_by_section(m, s0, 1) == NULL);
		CHECK(mime_part_by_section(m, NULL, 0) == root);
	}
	mime_message_destroy(&m);
	CHECK(m == NULL);
}

static void check_same_shape(const struct mime_part *a, const struct mime_part *b)
{
	/* walk both trees in step (small trees: recursion is fine in a test) */
	CHECK_INTEQ(a->flags, b->flags);
	CHECK_INTEQ(a->hdr_size_crlf, b->hdr_size_crlf);
	CHECK_INTEQ(a->body_size_crlf, b->body_size_crlf);
	CHECK_INTEQ(a->body_lines, b->body_lines);
	CHECK_INTEQ(a->hdr_lines, b->hdr_lines);
	CHECK_INTEQ(b->body_size, b->body_size_crlf);	/* b is CRLF input */
	for (a = a->children, b = b->children; a != NULL && b != NULL;
	     a = a->next, b = b->next)
		check_same_shape(a, b);
	CHECK(a == NULL && b == NULL);
}

TEST(mime_lf_crlf_sizes)
{
	size_t len;
	char *crlf = to_crlf(mixed_msg, &len);
	struct mime_message *a = mime_parse(mixed_msg, sizeof(mixed_msg) - 1, NULL);
	struct mime_message *b = mime_parse(crlf, len, NULL);

	check_same_shape(a->root, b->root);
	CHECK_INTEQ(a->root->hdr_size_crlf + a->root->body_size_crlf, len);
	mime_message_destroy(&a);
	mime_message_destroy(&b);
	free(crlf);
}

TEST(mime_boundaries)
{
	/* no preamble, whitespace after the boundary, an empty part with no
	 * header, a boundary inside a part header, missing close delimiter,
	 * an outer boundary ending an inner multipart, one-letter boundary */
	static const char msg[] =
		"Content-Type: multipart/mixed; boundary=o\n\n"
		"--o \t\n"
		"Content-Type: text/plain\n"
		"--o\n"
		"\n"
		"no header\n"
		"--o garbage\n"
		"--o\n"
		"Content-Type: multipart/alternative; boundary=\"i\"\n\n"
		"--i\n\ninner\n"
		"--o\n\nlast";
	struct mime_message *m = mime_parse(msg, sizeof(msg) - 1, NULL);
	const struct mime_part *p;
	char *s;

	p = m->root->children;
	REQUIRE(p != NULL);
	CHECK_INTEQ(p->body_size, 0);
	CHECK(mime_part_is(p, "text", "plain"));
	p = p->next;
	REQUIRE(p != NULL);
	s = body_str(m, p);
	CHECK_STREQ(s, "no header\n--o garbage");	/* strict RFC 2046 match */
	free(s);
	p = p->next;
	REQUIRE(p != NULL);
	CHECK(p->flags & MIME_PART_MULTIPART);
	REQUIRE(p->children != NULL);
	s = body_str(m, p->children);
	CHECK_STREQ(s, "inner");
	free(s);
	p = p->next;
	REQUIRE(p != NULL);
	s = body_str(m, p);
	CHECK_STREQ(s, "last");
	free(s);
	CHECK(p->next == NULL);
	mime_message_destroy(&m);
}

TEST(mime_defaults_and_fields)
{
	static const char msg[] =
		"Content-Type: multipart/digest; boundary=d\n\n"
		"--d\n\nSubject: x\n\nhi\n"
		"--d\n"
		"Content-Type: Text/HTML; charset=\"UTF-8\"; name*0*=utf-8''%E2; name*1*=%82%AC\n"
		"Content-ID: <id@x>\n"
		"Content-Description: \n desc\n"
		"Content-Transfer-Encoding:  Quoted-Printable \n"
		"Content-Disposition: attachment; filename=\"a b.txt\"\n"
		"Content-Language: en, (comment) de-AT,\n"
		"Content-Location: http://x/y\n"
		"Content-MD5: abc=\n"
		"Content-Type: text/plain\n\n"
		"x\n--d--\n";
	struct mime_message *m = mime_parse(msg, sizeof(msg) - 1, NULL);
	const struct mime_part *p = m->root->children;
	const struct mime_param *pa;
	char *s;

	REQUIRE(p != NULL && p->next != NULL);
	/* RFC 2046 5.1.5: digest parts default to message/rfc822 */
	CHECK(mime_part_is(p, "message", "rfc822"));
	CHECK(p->flags & MIME_PART_MESSAGE);
	p = p->next;
	CHECK(mime_part_is(p, "text", "html"));
	s = slice_dup(p->type);
	CHECK_STREQ(s, "Text");
	free(s);
	pa = mime_part_param(p, "CHARSET");
	REQUIRE(pa != NULL);
	CHECK(slice_eq_cstr(pa->value, "UTF-8"));
	pa = mime_part_param(p, "name");
	REQUIRE(pa != NULL);
	CHECK(pa->extended && slice_eq_cstr(pa->value, "utf-8''%E2%82%AC"));
	CHECK(slice_eq_cstr(p->id, "<id@x>"));
	CHECK(slice_eq_cstr(p->description, "desc"));
	CHECK(slice_eq_cstr(p->encoding, "Quoted-Printable"));
	CHECK(p->cte == MIME_CTE_QP);
	CHECK(slice_eq_cstr(p->disposition, "attachment"));
	REQUIRE(p->disp_params_count == 1);
	CHECK(slice_eq_cstr(p->disp_params[0].value, "a b.txt"));
	REQUIRE(p->languages_count == 2);
	CHECK(slice_eq_cstr(p->languages[0], "en"));
	CHECK(slice_eq_cstr(p->languages[1], "de-AT"));
	CHECK(slice_eq_cstr(p->location, "http://x/y"));
	CHECK(slice_eq_cstr(p->md5, "abc="));
	mime_message_destroy(&m);
}

TEST(mime_message_encodings)
{
	/* RFC 2046 5.2.1: a base64 message/rfc822 is not looked into */
	static const char b64[] =
		"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
		"RnJvbTogYUBiCgpoaQo=\n";
	static const char plain[] = "Content-Type: message/rfc822\n\nSubject: s\n\nb";
	struct mime_message *m = mime_parse(b64, sizeof(b64) - 1, NULL);

	CHECK(m->root->children == NULL);
	CHECK((m->root->flags & MIME_PART_MESSAGE) == 0);
	mime_message_destroy(&m);
	m = mime_parse(plain, sizeof(plain) - 1, NULL);
	CHECK(m->root->flags & MIME_PART_MESSAGE);
	REQUIRE(m->root->children != NULL);
	{
		uint32_t s1[] = { 1 }, s11[] = { 1, 1 };
		CHECK(mime_part_by_section(m, s1, 1) == m->root);
		CHECK(mime_part_by_section(m, s11, 2) == m->root->children);
	}
	mime_message_destroy(&m);
}

/* Every part lies in the message and every child in its parent's body. */
static void check_nested(const struct mime_part *p, size_t size)
{
	size_t end = p->body_offset + p->body_size;

	CHECK_INTEQ(p->hdr_offset + p->hdr_size, p->body_offset);
	CHECK(end <= size);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		CHECK(c->hdr_offset >= p->body_offset);
		CHECK(c->body_offset + c->body_size <= end);
		check_nested(c, size);
	}
}

TEST(mime_empty_and_odd)
{
	static const char *const inputs[] = {
		"", "\n", "\r\n", "x", "Content-Type: multipart/mixed\n\nno boundary",
		"Content-Type: multipart/mixed; boundary=b\n\n--b",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n--b--",
		"Content-Type: message/rfc822\n\n",
		"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n",
		/* fuzz find: an embedded header running into the boundary
		 * took the line break before it */
		"Content-Type: multipart/mixed; boundary=bb\n\n--bb\n"
		"Content-Type: message/rfc822\n\nFrom: a@b\nX:y\n--in--\n--bb--\n",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t len = strlen(inputs[i]);
		struct mime_message *m = mime_parse(inputs[i], len, NULL);
		CHECK_INTEQ(m->root->hdr_size + m->root->body_size, len);
		check_nested(m->root, len);
		mime_message_destroy(&m);
	}
}

/* ---- MIME bombs: the limits hold (no timing assertions here) ---- */

TEST(mime_bomb_deep_multipart)
{
	/* MIME-1: 10,000 nested multipart/mixed */
	buf_t b;
	struct mime_message *m;
	const struct mime_part *p;
	unsigned depth = 0;

	buf_init(&b, 0);
	buf_append_cstr(&b, "Content-Type: multipart/mixed; boundary=b0\n\n");
	for (int i = 1; i < 10000; i++)
		buf_printf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n",
			   i - 1, i);
	buf_append_cstr(&b, "--b9999\n\nleaf\n");
	m = mime_parse(b.data, b.used, NULL);
	CHECK(m->limit_hit);
	for (p = m->root; p->children != NULL; p = p->children)
		depth++;
	CHECK_INTEQ(depth, MIME_DEFAULT_MAX_DEPTH - 1);
	CHECK(p->flags & MIME_PART_LIMIT);
	CHECK_INTEQ(m->part_count, MIME_DEFAULT_MAX_DEPTH);
	/* the leaf at the cap holds the rest of the message */
	CHECK_INTEQ(p->body_offset + p->body_size, b.used);
	mime_message_destroy(&m);
	buf_free(&b);
}

TEST(mime_bomb_siblings)
{
	/* MIME-2: 100,000 sibling parts */
	buf_t b;
	struct mime_message *m;
	size_t n = 0;
	const struct mime_part *p, *last = NULL;

	buf_init(&b, 0);
	buf_append_cstr(&b, "Content-Type: multipart/mixed; boundary=b\n\n");
	for (int i = 0; i < 100000; i++)
		buf_append_cstr(&b, "--b\n\nx\n");
	buf_append_cstr(&b, "--b--\n");
	m = mime_parse(b.data, b.used, NULL);
	CHECK(m->limit_hit);
	CHECK_INTEQ(m->part_count, MIME_DEFAULT_MAX_PARTS);
	for (p = m->root->children; p != NULL; p = p->next) {
		last = p;
		n++;
	}
	CHECK_INTEQ(n, MIME_DEFAULT_MAX_PARTS - 1);
	REQUIRE(last != NULL);
	CHECK(last->flags & MIME_PART_LIMIT);
	CHECK_INTEQ(last->body_offset + last->body_size, b.used);
	mime_message_destroy(&m);

	/* a settable limit */
	struct mime_limits lim = { .max_parts = 5 };
	m = mime_parse(b.data, b.used, &lim);
	CHECK_INTEQ(m->part_count, 5);
	mime_message_destroy(&m);
	buf_free(&b);
}

TEST(mime_bomb_nested_messages)
{
	/* MIME-3: 1,000 levels of forwarded messages, and base64 inside */
	buf_t b;
	struct mime_message *m;
	const struct mime_part *p;
	unsigned depth = 0;

	buf_init(&b, 0);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "Subject: m%d\nContent-Type: message/rfc822\n\n", i);
	buf_append_cstr(&b, "Subject: last\n\nbody\n");
	m = mime_parse(b.data, b.used, NULL);
	CHECK(m->limit_hit);
	for (p = m->root; p->children != NULL; p = p->children)
		depth++;
	CHECK_INTEQ(depth, MIME_DEFAULT_MAX_DEPTH - 1);
	CHECK(p->flags & MIME_PART_LIMIT);
	mime_message_destroy(&m);
	buf_free(&b);
}

TEST(mime_bomb_huge_header)
{
	/* MIME-4: a 20 MB header field in a part */
	size_t n = 20 * 1024 * 1024;
	buf_t b;
	struct mime_message *m;

	buf_init(&b, 0);
	buf_append_cstr(&b, "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
			    "Content-Description: ");
	buf_reserve(&b, n);
	memset(b.data + b.used, 'd', n);
	b.used += n;
	buf_append_cstr(&b, "\nContent-Type: text/plain\n\nbody\n--b--\n");
	m = mime_parse(b.data, b.used, NULL);
	REQUIRE(m->root->children != NULL);
	CHECK_INTEQ(m->root->children->description.len, MIME_MAX_VALUE_LEN);
	CHECK(mime_part_is(m->root->children, "text", "plain"));
	CHECK_INTEQ(m->root->children->body_size, 4);
	mime_message_destroy(&m);
	buf_free(&b);
}

/* ---- decoders ---- */

static char *decode(enum mime_cte cte, const char *in, bool *invalid_r)
{
	buf_t b;
	char *s;

	buf_init(&b, 0);
	CHECK_INTEQ(mime_decode(cte, in, strlen(in), &b, invalid_r), 0);
	s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

#define CHECK_DECODE(cte, in, want, want_invalid) do {        \
	bool inv_;                                             \
	char *got_ = decode(cte, in, &inv_);                   \
	CHECK_STREQ(got_, want);                               \
	CHECK_INTEQ(inv_, want_invalid);                       \
	free(got_);                                            \
} while (0)

TEST(mime_decode_base64)
{
	CHECK_DECODE(MIME_CTE_BASE64, "aGVsbG8=", "hello", false);
	CHECK_DECODE(MIME_CTE_BASE64, "aGVs\r\nbG8=\r\n", "hello", false);
	CHECK_DECODE(MIME_CTE_BASE64, "aGVsbG8", "hello", false);
	CHECK_DECODE(MIME_CTE_BASE64, "aG!Vs*bG8=", "hello", true);
	CHECK_DECODE(MIME_CTE_BASE64, "aGk=aGk=", "hihi", true);
	CHECK_DECODE(MIME_CTE_BASE64, "aGVsbG8=a", "hello", true);
	CHECK_DECODE(MIME_CTE_BASE64, "", "", false);
	CHECK_DECODE(MIME_CTE_BASE64, "====", "", true);
}

TEST(mime_decode_qp)
{
	CHECK_DECODE(MIME_CTE_QP, "caf=C3=A9", "caf\xc3\xa9", false);
	CHECK_DECODE(MIME_CTE_QP, "caf=c3=a9", "caf\xc3\xa9", false);
	CHECK_DECODE(MIME_CTE_QP, "soft=\nbreak", "softbreak", false);
	CHECK_DECODE(MIME_CTE_QP, "soft= \t\r\nbreak", "softbreak", false);
	CHECK_DECODE(MIME_CTE_QP, "trail  \r\nx \t\ny  ", "trail\r\nx\ny", false);
	CHECK_DECODE(MIME_CTE_QP, "a = b", "a = b", true);
	CHECK_DECODE(MIME_CTE_QP, "=ZZ=4", "=ZZ=4", true);
	CHECK_DECODE(MIME_CTE_QP, "end=", "end", false);
	CHECK_DECODE(MIME_CTE_QP, "a\rb", "a\rb", false);
	CHECK_DECODE(MIME_CTE_7BIT, "as is =41\n", "as is =41\n", false);
	{
		buf_t b;
		buf_init(&b, 0);
		CHECK_INTEQ(mime_decode(MIME_CTE_UNKNOWN, "x", 1, &b, NULL), -1);
		buf_free(&b);
	}
	CHECK(mime_cte_parse(SLICE_LIT(" BASE64 ")) == MIME_CTE_BASE64);
	CHECK(mime_cte_parse(SLICE_LIT("")) == MIME_CTE_7BIT);
	CHECK(mime_cte_parse(SLICE_LIT("x-uuencode")) == MIME_CTE_UNKNOWN);
	CHECK_STREQ(mime_cte_name(MIME_CTE_QP), "quoted-printable");
}

TEST(mime_decode_trickle)
{
	/* streaming: any split gives the same output */
	static const char *const inputs[][2] = {
		{ "b", "aGVs\r\nbG8gd29y=bGQ=\n!!aGk=" },
		{ "q", "a=3D=\r\nb  \r\nc =\n= =4x=C3=A9 \t" },
	};
	for (size_t t = 0; t < 2; t++) {
		enum mime_cte cte = inputs[t][0][0] == 'b' ? MIME_CTE_BASE64 : MIME_CTE_QP;
		const char *in = inputs[t][1];
		size_t len = strlen(in);
		buf_t whole, part;
		struct mime_decoder d;

		buf_init(&whole, 0);
		buf_init(&part, 0);
		CHECK_INTEQ(mime_decode(cte, in, len, &whole, NULL), 0);
		mime_decoder_init(&d, cte);
		for (size_t i = 0; i < len; i++)
			CHECK_INTEQ(mime_decoder_feed(&d, in + i, 1, &part), 0);
		CHECK_INTEQ(mime_decoder_finish(&d, &part), 0);
		CHECK(slice_eq(buf_slice(&whole), buf_slice(&part)));
		buf_free(&whole);
		buf_free(&part);
	}
}

TEST(mime_decode_full_buffer)
{
	buf_t b;

	buf_init(&b, 3);
	CHECK_INTEQ(mime_decode(MIME_CTE_BASE64, "aGVsbG8=", 8, &b, NULL), -1);
	CHECK(b.used <= 3);
	buf_free(&b);
}
