#include <string.h>

#include "line-input.h"
#include "xalloc.h"

int line_input_next(struct evbuffer *in, struct smtp_line_reader *r, size_t max, char **line_r,
		    size_t *len_r, enum smtp_line_error *error_r)
{
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		if (avail == 0)
			return 0;
		size_t want = avail > max + 2 ? max + 2 : avail;
		char *p = (char *)evbuffer_pullup(in, (ssize_t)want);
		size_t line_len = 0, consumed = 0;
		int ret = smtp_line_next(r, p, want, &line_len, &consumed, error_r);
		/* lines may hold passwords (PASS, AUTH): wipe what we read
		   before libevent frees or reuses it */
		if (ret == 0) {
			explicit_bzero(p, consumed);
			evbuffer_drain(in, consumed);
			if (consumed == 0)
				return 0;
			continue;	/* skipped part of an over-long line */
		}
		if (ret < 0) {
			explicit_bzero(p, consumed);
			evbuffer_drain(in, consumed);
			return -1;
		}
		*line_r = xstrndup(p, line_len);
		*len_r = line_len;
		explicit_bzero(p, consumed);
		evbuffer_drain(in, consumed);
		return 1;
	}
}
