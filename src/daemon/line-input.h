#ifndef YOUJU_LINE_INPUT_H
#define YOUJU_LINE_INPUT_H
/*
 * Take one CRLF-terminated line from a bufferevent's input (POP3 and other
 * line protocols), with the framing rules of smtp_line_next(): CRLF only,
 * bare CR/LF and over-long lines are errors, and the bad line is drained so
 * the next call starts on the next line.
 */
#include <stddef.h>
#include <event2/buffer.h>

#include "smtp-input.h"

/* 1: *line_r (malloc'd, NUL-terminated, without CRLF; wipe it if it may
 * hold a password) of *len_r bytes; 0: no complete line buffered;
 * -1: a bad line was dropped, *error_r says why. max is the reader's. */
int line_input_next(struct evbuffer *in, struct smtp_line_reader *r, size_t max, char **line_r,
		    size_t *len_r, enum smtp_line_error *error_r);

#endif
