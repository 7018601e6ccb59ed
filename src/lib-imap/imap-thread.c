/* RFC 5256 base subjects and THREAD (see imap-thread.h). */
#include <stdlib.h>
#include <string.h>

#include "imap-thread.h"
#include "rfc2047.h"
#include "xalloc.h"

/* ---- base subject (RFC 5256 2.1) ---- */

/* subj-blob = "[" *BLOBCHAR "]" *WSP at s[p]; returns its end or 0. */
static size_t blob_end(const char *s, size_t p, size_t e)
{
	if (p >= e || s[p] != '[')
		return 0;
	for (size_t i = p + 1; i < e; i++) {
		if (s[i] == '[')
			return 0;
		if (s[i] == ']') {
			i++;
			while (i < e && s[i] == ' ')
				i++;
			return i;
		}
	}
	return 0;
}

/* subj-leader "*subj-blob subj-refwd" at s[p] (text upper-cased): its end,
 * or 0. subj-refwd = ("RE" / ("FW" ["D"])) *WSP [subj-blob] ":" */
static size_t leader_end(const char *s, size_t p, size_t e)
{
	size_t q;
	while ((q = blob_end(s, p, e)) != 0)
		p = q;
	if (e - p >= 2 && s[p] == 'R' && s[p + 1] == 'E')
		p += 2;
	else if (e - p >= 2 && s[p] == 'F' && s[p + 1] == 'W')
		p += e - p >= 3 && s[p + 2] == 'D' ? 3 : 2;
	else
		return 0;
	while (p < e && s[p] == ' ')
		p++;
	if ((q = blob_end(s, p, e)) != 0)
		p = q;
	return p < e && s[p] == ':' ? p + 1 : 0;
}

int imap_base_subject(slice_t raw, buf_t *out, bool *is_reply_r)
{
	buf_t dec;
	bool reply = false;

	if (is_reply_r != NULL)
		*is_reply_r = false;
	/* (1) encoded words to UTF-8, tabs and line breaks to spaces, runs of
	 * spaces to one; upper-case ASCII for i;ascii-casemap */
	buf_init(&dec, 0);
	if (rfc2047_decode(raw, &dec) < 0) {
		buf_free(&dec);
		return -1;
	}
	char *s = dec.data != NULL ? dec.data : (char *)"";
	size_t e = 0;
	for (size_t i = 0; i < dec.used; i++) {
		char c = s[i];
		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && e > 0 && s[e - 1] == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		s[e++] = c;
	}
	size_t b = 0;
	for (;;) {
		/* (2) trailing subj-trailer: "(fwd)" / WSP */
		for (;;) {
			if (e > b && s[e - 1] == ' ')
				e--;
			else if (e - b >= 5 && memcmp(s + e - 5, "(FWD)", 5) == 0) {
				e -= 5;
				reply = true;
			} else
				break;
		}
		/* (3) subj-leader, (4) a subj-blob that leaves a non-empty
		 * subj-base, (5) until neither matches */
		bool changed;
		do {
			changed = false;
			size_t q;
			for (;;) {
				if (b < e && s[b] == ' ')
					b++;
				else if ((q = leader_end(s, b, e)) != 0) {
					b = q;
					reply = true;
				} else
					break;
				changed = true;
			}
			q = blob_end(s, b, e);
			if (q != 0 && q < e) {
				b = q;
				changed = true;
			}
		} while (changed);
		/* (6) "[FWD:" subject "]": strip and go again from (2) */
		if (e - b >= 6 && memcmp(s + b, "[FWD:", 5) == 0 && s[e - 1] == ']') {
			b += 5;
			e--;
			reply = true;
			continue;
		}
		break;
	}
	int r = buf_append(out, s + b, e - b);
	buf_free(&dec);
	if (r == 0 && is_reply_r != NULL)
		*is_reply_r = reply;
	return r;
}

/* Octet order, shorter first on a common prefix; NULL is empty. */
static int subject_cmp(slice_t a, slice_t b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int r = n > 0 ? memcmp(a.ptr, b.ptr, n) : 0;
	if (r != 0)
		return r;
	return a.len < b.len ? -1 : a.len > b.len;
}

/* ---- the container tree ---- */

#define NONE UINT32_MAX

struct node {
	uint32_t parent, child, last, prev, next;
	uint32_t msg;		/* index into msgs, NONE for a dummy */
	uint32_t nchildren;
};

struct tree {
	const struct imap_thread_msg *msgs;
	struct node *n;
	uint32_t count, alloc;
	uint32_t root;
	uint64_t budget;
	uint32_t *stack;	/* count entries, for walks */
};

static uint32_t node_new(struct tree *t, uint32_t msg)
{
	if (t->count == t->alloc) {
		t->alloc = t->alloc ? t->alloc * 2 : 64;
		t->n = xreallocarray(t->n, t->alloc, sizeof(*t->n));
	}
	uint32_t i = t->count++;
	t->n[i] = (struct node){ NONE, NONE, NONE, NONE, NONE, msg, 0 };
	return i;
}

static void node_unlink(struct tree *t, uint32_t x)
{
	struct node *c = &t->n[x];
	if (c->parent == NONE)
		return;
	struct node *p = &t->n[c->parent];
	if (c->prev != NONE)
		t->n[c->prev].next = c->next;
	else
		p->child = c->next;
	if (c->next != NONE)
		t->n[c->next].prev = c->prev;
	else
		p->last = c->prev;
	p->nchildren--;
	c->parent = c->prev = c->next = NONE;
}

static void node_append(struct tree *t, uint32_t parent, uint32_t x)
{
	struct node *p = &t->n[parent], *c = &t->n[x];
	c->parent = parent;
	c->next = NONE;
	c->prev = p->last;
	if (p->last != NONE)
		t->n[p->last].next = x;
	else
		p->child = x;
	p->last = x;
	p->nchildren++;
}

/* Is a (or an ancestor of a) equal to x? Unsure (too deep, budget
 * spent) counts as yes: the caller then makes no link. */
static bool reaches(struct tree *t, uint32_t a, uint32_t x)
{
	for (uint32_t steps = 0; a != NONE; steps++) {
		if (a == x || steps >= IMAP_THREAD_MAX_WALK || t->budget == 0)
			return true;
		t->budget--;
		a = t->n[a].parent;
	}
	return false;
}

static const struct imap_thread_msg *node_msg(const struct tree *t, uint32_t x)
{
	/* a dummy sorts and is named by its first child */
	if (t->n[x].msg == NONE && t->n[x].child != NONE)
		x = t->n[x].child;
	return t->n[x].msg == NONE ? NULL : &t->msgs[t->n[x].msg];
}

static int msg_cmp_date(const struct imap_thread_msg *a, const struct imap_thread_msg *b)
{
	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int node_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct tree *t = ctx;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	return msg_cmp_date(node_msg(t, a), node_msg(t, b));
}

/* Pre-order of the nodes under the root (root first) into t->stack-sized
 * out; returns how many. */
static uint32_t preorder(struct tree *t, uint32_t *out)
{
	uint32_t sp = 0, n = 0;
	t->stack[sp++] = t->root;
	while (sp > 0) {
		uint32_t x = t->stack[--sp];
		out[n++] = x;
		for (uint32_t c = t->n[x].child; c != NONE; c = t->n[c].next)
			t->stack[sp++] = c;
	}
	return n;
}

/* Sort every set of siblings by sent date, deepest first (a dummy sorts
 * by its first child, so its children are sorted before its parent's). */
static void sort_all(struct tree *t)
{
	uint32_t *order = xreallocarray(NULL, t->count, sizeof(*order));
	uint32_t *kids = xreallocarray(NULL, t->count, sizeof(*kids));
	uint32_t n = preorder(t, order);

	while (n > 0) {
		uint32_t x = order[--n], k = 0;
		if (t->n[x].nchildren < 2)
			continue;
		for (uint32_t c = t->n[x].child; c != NONE; c = t->n[c].next)
			kids[k++] = c;
		qsort_r(kids, k, sizeof(*kids), node_cmp, t);
		t->n[x].child = t->n[x].last = NONE;
		t->n[x].nchildren = 0;
		for (uint32_t i = 0; i < k; i++)
			node_append(t, x, kids[i]);
	}
	free(order);
	free(kids);
}

/* ---- Message-IDs ---- */

struct idref {
	const char *p;
	uint32_t len;
	uint32_t ord;		/* position in the refs array, for a stable sort */
};

/* The next valid "<...@...>" of s from *pos, whitespace dropped, copied
 * into ids (a buffer the tree owns). */
static bool next_msgid(slice_t s, size_t *pos, buf_t *ids, size_t *off_r, size_t *len_r)
{
	while (*pos < s.len) {
		const char *lt = memchr(s.ptr + *pos, '<', s.len - *pos);
		if (lt == NULL)
			break;
		size_t i = (size_t)(lt - s.ptr) + 1;
		const char *gt = memchr(s.ptr + i, '>', s.len - i);
		if (gt == NULL)
			break;
		size_t end = (size_t)(gt - s.ptr);
		*pos = end + 1;
		size_t start = ids->used;
		bool at = false, ok = true;
		buf_append_byte(ids, '<');
		for (size_t j = i; j < end; j++) {
			char c = s.ptr[j];
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
				continue;
			if (c == '<')
				ok = false;
			at |= c == '@';
			buf_append_byte(ids, c);
		}
		buf_append_byte(ids, '>');
		if (ok && at && ids->used - start > 3) {
			*off_r = start;
			*len_r = ids->used - start;
			return true;
		}
		buf_truncate(ids, start);
	}
	return false;
}

static int idref_cmp(const void *pa, const void *pb)
{
	const struct idref *a = pa, *b = pb;
	int r = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);
	if (r != 0)
		return r;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->ord < b->ord ? -1 : a->ord > b->ord;
}

static int seq_cmp(const void *pa, const void *pb)
{
	const struct imap_thread_msg *a = *(const struct imap_thread_msg *const *)pa;
	const struct imap_thread_msg *b = *(const struct imap_thread_msg *const *)pb;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* RFC 5256 3 REFERENCES steps 1-4 (links, root set, pruning). */
static void build_references(struct tree *t, const struct imap_thread_msg *const *bymsg,
			     size_t count)
{
	buf_t ids;
	/* per message: [first, end) in refs; own id at first when has_own */
	struct span { uint32_t first, end; bool has_own; } *sp = xcalloc(count, sizeof(*sp));
	struct { size_t off, len; } *raw = NULL;
	size_t nraw = 0, alloc = 0;

	buf_init(&ids, 0);
	for (size_t i = 0; i < count; i++) {
		const struct imap_thread_msg *m = bymsg[i];
		size_t off, len, pos = 0;
		size_t want = 1 + IMAP_THREAD_MAX_REFS;
		if (nraw + want > alloc) {
			alloc = (nraw + want) * 2;
			raw = xreallocarray(raw, alloc, sizeof(*raw));
		}
		sp[i].first = (uint32_t)nraw;
		if (m->message_id.ptr != NULL &&
		    next_msgid(m->message_id, &pos, &ids, &off, &len)) {
			raw[nraw].off = off;
			raw[nraw++].len = len;
			sp[i].has_own = true;
		}
		/* References, or else the first ID of In-Reply-To; only the
		 * last IMAP_THREAD_MAX_REFS are kept (a ring) */
		size_t base = nraw, n = 0;
		pos = 0;
		while (m->references.ptr != NULL &&
		       next_msgid(m->references, &pos, &ids, &off, &len)) {
			raw[base + n % IMAP_THREAD_MAX_REFS].off = off;
			raw[base + n % IMAP_THREAD_MAX_REFS].len = len;
			n++;
		}
		if (n > IMAP_THREAD_MAX_REFS) {
			/* rotate the ring into order */
			size_t k = n % IMAP_THREAD_MAX_REFS, m2 = IMAP_THREAD_MAX_REFS;
			for (size_t r = 0; r < k; r++) {
				size_t o = raw[base].off, l = raw[base].len;
				memmove(&raw[base], &raw[base + 1], (m2 - 1) * sizeof(*raw));
				raw[base + m2 - 1].off = o;
				raw[base + m2 - 1].len = l;
			}
			n = IMAP_THREAD_MAX_REFS;
		}
		pos = 0;
		if (n == 0 && m->in_reply_to.ptr != NULL &&
		    next_msgid(m->in_reply_to, &pos, &ids, &off, &len)) {
			raw[base].off = off;
			raw[base].len = len;
			n = 1;
		}
		nraw = base + n;
		sp[i].end = (uint32_t)nraw;
	}

	/* one node per distinct ID, found by sorting */
	struct idref *refs = xreallocarray(NULL, nraw ? nraw : 1, sizeof(*refs));
	uint32_t *node_of = xreallocarray(NULL, nraw ? nraw : 1, sizeof(*node_of));
	for (size_t i = 0; i < nraw; i++)
		refs[i] = (struct idref){ ids.data + raw[i].off, (uint32_t)raw[i].len,
					  (uint32_t)i };
	qsort(refs, nraw, sizeof(*refs), idref_cmp);
	for (size_t i = 0; i < nraw; i++) {
		if (i == 0 || refs[i].len != refs[i - 1].len ||
		    memcmp(refs[i].p, refs[i - 1].p, refs[i].len) != 0)
			node_new(t, NONE);
		node_of[refs[i].ord] = t->count - 1;
	}
	free(refs);

	/* (1) A: the message's container; B: link the References chain;
	 * C: the message's parent is the last reference */
	for (size_t i = 0; i < count; i++) {
		uint32_t msg = (uint32_t)(bymsg[i] - t->msgs), m;
		uint32_t r = sp[i].first;
		if (sp[i].has_own && t->n[node_of[r]].msg == NONE) {
			m = node_of[r];
			t->n[m].msg = msg;
		} else {
			/* no ID, or a duplicate: a container of its own */
			m = node_new(t, msg);
		}
		if (sp[i].has_own)
			r++;
		for (uint32_t j = r; j + 1 < sp[i].end; j++) {
			uint32_t p = node_of[j], c = node_of[j + 1];
			if (t->n[c].parent == NONE && p != c && !reaches(t, p, c))
				node_append(t, p, c);
		}
		node_unlink(t, m);
		if (r < sp[i].end) {
			uint32_t last = node_of[sp[i].end - 1];
			if (!reaches(t, last, m))
				node_append(t, last, m);
		}
	}
	free(node_of);
	free(raw);
	free(sp);
	buf_free(&ids);

	/* (2) the root set */
	t->root = node_new(t, NONE);
	for (uint32_t x = 0; x < t->root; x++)
		if (t->n[x].parent == NONE)
			node_append(t, t->root, x);
}

/* (4) Prune dummies: children before parents (reverse pre-order), so a
 * node's children are final when it is looked at. */
static void prune(struct tree *t)
{
	uint32_t *order = xreallocarray(NULL, t->count, sizeof(*order));
	uint32_t *kids = xreallocarray(NULL, t->count, sizeof(*kids));
	uint32_t n = preorder(t, order);

	while (n > 0) {
		uint32_t x = order[--n], k = 0;
		for (uint32_t c = t->n[x].child; c != NONE; c = t->n[c].next)
			kids[k++] = c;
		for (uint32_t i = 0; i < k; i++) {
			uint32_t c = kids[i];
			if (t->n[c].msg != NONE)
				continue;
			if (t->n[c].nchildren == 0) {
				node_unlink(t, c);
				continue;
			}
			/* promote the children, except to the root level
			 * when there are several */
			if (x == t->root && t->n[c].nchildren > 1)
				continue;
			uint32_t after = c;
			while (t->n[c].child != NONE) {
				uint32_t g = t->n[c].child;
				node_unlink(t, g);
				/* in the dummy's place, in order */
				struct node *gn = &t->n[g], *an = &t->n[after];
				gn->parent = x;
				gn->prev = after;
				gn->next = an->next;
				if (an->next != NONE)
					t->n[an->next].prev = g;
				else
					t->n[x].last = g;
				an->next = g;
				t->n[x].nchildren++;
				after = g;
			}
			node_unlink(t, c);
		}
	}
	free(order);
	free(kids);
}

/* ---- subject merging, REFERENCES step 6 ---- */

struct subj_ref {
	const struct imap_thread_msg *m;	/* names the thread's subject */
	uint32_t node;
	uint32_t pos;
};

static int subj_cmp(const void *pa, const void *pb)
{
	const struct subj_ref *a = pa, *b = pb;
	int r = subject_cmp(a->m->subject, b->m->subject);
	if (r != 0)
		return r;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static bool is_dummy(const struct tree *t, uint32_t x)
{
	return t->n[x].msg == NONE;
}

static bool is_reply(const struct tree *t, uint32_t x)
{
	return !is_dummy(t, x) && t->msgs[t->n[x].msg].is_reply;
}

static void merge_subjects(struct tree *t)
{
	struct subj_ref *s = xreallocarray(NULL, t->n[t->root].nchildren + 1, sizeof(*s));
	uint32_t n = 0, pos = 0;

	for (uint32_t c = t->n[t->root].child; c != NONE; c = t->n[c].next, pos++) {
		const struct imap_thread_msg *m = node_msg(t, c);
		if (m != NULL && m->subject.len > 0)
			s[n++] = (struct subj_ref){ m, c, pos };
	}
	qsort(s, n, sizeof(*s), subj_cmp);
	for (uint32_t g = 0; g < n;) {
		uint32_t end = g + 1;
		while (end < n && subject_cmp(s[end].m->subject, s[g].m->subject) == 0)
			end++;
		/* (B) which thread the subject table holds */
		uint32_t table = s[g].node, orig;
		for (uint32_t i = g + 1; i < end; i++) {
			uint32_t cur = s[i].node;
			if (!is_dummy(t, table) &&
			    (is_dummy(t, cur) || (is_reply(t, table) && !is_reply(t, cur))))
				table = cur;
		}
		/* (C) merge the others into it */
		orig = table;
		for (uint32_t i = g; i < end; i++) {
			uint32_t cur = s[i].node;
			if (cur == table || cur == orig)
				continue;
			if (is_dummy(t, cur) && is_dummy(t, table)) {
				while (t->n[cur].child != NONE) {
					uint32_t k = t->n[cur].child;
					node_unlink(t, k);
					node_append(t, table, k);
				}
				node_unlink(t, cur);
			} else if (is_dummy(t, table) ||
				   (is_reply(t, cur) && !is_reply(t, table))) {
				node_unlink(t, cur);
				node_append(t, table, cur);
			} else {
				uint32_t d = node_new(t, NONE);
				node_unlink(t, cur);
				node_unlink(t, table);
				node_append(t, t->root, d);
				node_append(t, d, table);
				node_append(t, d, cur);
				table = d;
			}
		}
		g = end;
	}
	free(s);
}

/* ---- output ---- */

/* Each thread under the root as "(...)": a chain "a b c" while a message
 * has one child, then "(...)(...)" for several (RFC 5256 4 thread-list);
 * iterative, a stack of the sibling lists being written. */
static int write_threads(struct tree *t, buf_t *out)
{
	uint32_t sp = 0;
	int r = 0;

	for (uint32_t top = t->n[t->root].child; top != NONE && r == 0; top = t->n[top].next) {
		uint32_t cur = top;
		r |= buf_append_byte(out, '(');
		for (;;) {
			/* a chain from cur */
			bool first = true;
			for (;;) {
				struct node *x = &t->n[cur];
				if (x->msg != NONE) {
					if (!first)
						r |= buf_append_byte(out, ' ');
					r |= buf_printf(out, "%u", t->msgs[x->msg].id);
				}
				first = false;
				if (x->child == NONE)
					break;
				if (x->msg != NONE && x->nchildren == 1) {
					cur = x->child;
					continue;
				}
				if (x->msg != NONE)
					r |= buf_append_byte(out, ' ');
				t->stack[sp++] = t->n[x->child].next;
				r |= buf_append_byte(out, '(');
				cur = x->child;
				first = true;
			}
			r |= buf_append_byte(out, ')');
			/* the next sibling of the innermost open list */
			while (sp > 0 && t->stack[sp - 1] == NONE) {
				sp--;
				r |= buf_append_byte(out, ')');
			}
			if (sp == 0)
				break;
			cur = t->stack[sp - 1];
			t->stack[sp - 1] = t->n[cur].next;
			r |= buf_append_byte(out, '(');
		}
	}
	return r < 0 ? -1 : 0;
}

static int ordered_cmp(const void *pa, const void *pb)
{
	const struct imap_thread_msg *a = *(const struct imap_thread_msg *const *)pa;
	const struct imap_thread_msg *b = *(const struct imap_thread_msg *const *)pb;
	int r = subject_cmp(a->subject, b->subject);
	return r != 0 ? r : msg_cmp_date(a, b);
}

int imap_thread(enum imap_thread_alg alg, const struct imap_thread_msg *msgs, size_t count,
		buf_t *out)
{
	struct tree t = { .msgs = msgs, .budget = IMAP_THREAD_WALK_BUDGET };
	const struct imap_thread_msg **by = xreallocarray(NULL, count ? count : 1, sizeof(*by));
	size_t start = out->used;

	for (size_t i = 0; i < count; i++)
		by[i] = &msgs[i];
	if (alg == IMAP_THREAD_REFERENCES) {
		qsort(by, count, sizeof(*by), seq_cmp);
		build_references(&t, by, count);
		t.stack = xreallocarray(NULL, t.count + count + 1, sizeof(*t.stack));
		prune(&t);
		sort_all(&t);		/* (5) */
		merge_subjects(&t);	/* (6) */
		t.stack = xreallocarray(t.stack, t.count + 1, sizeof(*t.stack));
		sort_all(&t);		/* (7) */
	} else {
		/* sorted by base subject, then date; each run of one subject
		 * is a thread: the first message with the others as its
		 * children; threads ordered by their first message */
		qsort(by, count, sizeof(*by), ordered_cmp);
		t.root = node_new(&t, NONE);
		uint32_t head = NONE;
		for (size_t i = 0; i < count; i++) {
			uint32_t x = node_new(&t, (uint32_t)(by[i] - msgs));
			if (head != NONE && subject_cmp(by[i - 1]->subject, by[i]->subject) == 0)
				node_append(&t, head, x);
			else {
				node_append(&t, t.root, x);
				head = x;
			}
		}
		t.stack = xreallocarray(NULL, t.count + 1, sizeof(*t.stack));
		sort_all(&t);
	}
	int r = write_threads(&t, out);
	if (r < 0)
		buf_truncate(out, start);
	free(t.stack);
	free(t.n);
	free(by);
	return r;
}
