#ifndef YOUJU_IMAP_THREAD_H
#define YOUJU_IMAP_THREAD_H
/*
 * RFC 5256 base subjects (2.1) and the THREAD algorithms ORDEREDSUBJECT and
 * REFERENCES (3): pure functions of per-message data the caller gathered
 * (header values, sent dates), writing the thread-list text of the THREAD
 * response.
 *
 * Bounds: memory is linear in the messages and the Message-IDs they carry
 * (at most IMAP_THREAD_MAX_REFS of each References, the last ones); no
 * recursion anywhere (trees are walked with explicit stacks); the loop
 * checks of REFERENCES step 1 walk at most IMAP_THREAD_MAX_WALK parents
 * each and IMAP_THREAD_WALK_BUDGET in all, and a link whose check would go
 * further is not made (a thread that deep is cut, never looped). Message-
 * IDs are matched by sorting, not hashing, so crafted IDs cannot make the
 * work quadratic.
 *
 * Decisions:
 * - A valid Message-ID is "<" ... ">" with an "@" inside; whitespace in
 *   it (folding) is dropped; IDs compare octet by octet.
 * - Dates (RFC 5256 2.2) and ties: messages compare by sent date, then by
 *   seq (their order in the mailbox), so output is deterministic.
 * - ORDEREDSUBJECT groups messages with empty base subjects together like
 *   any other subject; REFERENCES step 6 skips them, as the RFC says.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define IMAP_THREAD_MAX_REFS 32
#define IMAP_THREAD_MAX_WALK 4096
#define IMAP_THREAD_WALK_BUDGET (1u << 25)

/*
 * RFC 5256 2.1: the base subject of a raw Subject value (folded or not,
 * with RFC 2047 encoded words), appended to out as UTF-8 with ASCII letters
 * upper-cased (the i;ascii-casemap form, so base subjects compare with
 * memcmp). *is_reply_r (may be NULL) says whether the extraction removed a
 * reply/forward marker (a subj-refwd, a "(fwd)" trailer or "[fwd: ]"),
 * which REFERENCES step 6 uses. Returns 0, or -1 if out's maximum was
 * reached.
 */
int imap_base_subject(slice_t raw, buf_t *out, bool *is_reply_r);

enum imap_thread_alg {
	IMAP_THREAD_ORDEREDSUBJECT,
	IMAP_THREAD_REFERENCES,
};

struct imap_thread_msg {
	uint32_t id;		/* written in the output: seq or UID */
	uint32_t seq;		/* mailbox order, breaks ties */
	int64_t date;		/* sent date (RFC 5256 2.2), seconds */
	slice_t subject;	/* base subject (imap_base_subject) */
	bool is_reply;
	/* raw header values, .ptr NULL when absent (REFERENCES only) */
	slice_t message_id, in_reply_to, references;
};

/*
 * Thread msgs[0..count) and append the thread list "(1 2)(3 (4)(5))"
 * (without "* THREAD ") to out. Returns 0, or -1 if out's maximum was
 * reached. msgs is not modified.
 */
int imap_thread(enum imap_thread_alg alg, const struct imap_thread_msg *msgs, size_t count,
		buf_t *out);

#endif
