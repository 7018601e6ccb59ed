/* Content-Transfer-Encoding decoders: RFC 2045 sections 6.7 and 6.8. */
#include <string.h>

#include "mime-decode.h"

enum qp_state {
	QP_TEXT = 0,
	QP_CR,		/* saw CR in text */
	QP_EQ,		/* saw '=' */
	QP_EQ_HEX,	/* saw '=' and one hex digit (in hex1) */
	QP_EQ_WS,	/* saw '=' then whitespace (kept in ws[]) */
	QP_EQ_CR,	/* saw '=' [whitespace] CR */
};

static const char *const cte_names[] = {
	[MIME_CTE_7BIT] = "7bit",
	[MIME_CTE_8BIT] = "8bit",
	[MIME_CTE_BINARY] = "binary",
	[MIME_CTE_QP] = "quoted-printable",
	[MIME_CTE_BASE64] = "base64",
};

enum mime_cte mime_cte_parse(slice_t value)
{
	value = slice_trim(value);
	if (value.len == 0)
		return MIME_CTE_7BIT;
	for (size_t i = 0; i < MIME_CTE_UNKNOWN; i++)
		if (slice_eq_cstr_ci(value, cte_names[i]))
			return (enum mime_cte)i;
	return MIME_CTE_UNKNOWN;
}

const char *mime_cte_name(enum mime_cte cte)
{
	return cte < MIME_CTE_UNKNOWN ? cte_names[cte] : NULL;
}

int mime_decoder_init(struct mime_decoder *d, enum mime_cte cte)
{
	memset(d, 0, offsetof(struct mime_decoder, ws));
	d->cte = cte;
	return cte == MIME_CTE_UNKNOWN ? -1 : 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* End of a group (at '=' or end of input): emit the whole bytes it holds. */
static int b64_flush_group(struct mime_decoder *d, buf_t *out)
{
	char tmp[2];
	int r = 0;

	if (d->count == 2) {
		tmp[0] = (char)(d->bits >> 4);
		r = buf_append(out, tmp, 1);
	} else if (d->count == 3) {
		tmp[0] = (char)(d->bits >> 10);
		tmp[1] = (char)(d->bits >> 2);
		r = buf_append(out, tmp, 2);
	} else if (d->count == 1) {
		d->invalid = true;
	}
	d->count = 0;
	d->bits = 0;
	return r;
}

static int b64_feed(struct mime_decoder *d, const unsigned char *p, size_t len,
		    buf_t *out)
{
	char chunk[768];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int v = b64_value(p[i]);
		if (v < 0) {
			if (p[i] == '=') {
				/* padding: a group with no data is stray '=' */
				if (d->count == 0 && d->state == 0)
					d->invalid = true;
				if (buf_append(out, chunk, n) < 0)
					return -1;
				n = 0;
				if (b64_flush_group(d, out) < 0)
					return -1;
				d->state = 1; /* further '=' are padding */
			} else if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' &&
				   p[i] != '\n') {
				d->invalid = true;
			}
			continue;
		}
		if (d->state == 1 && d->count == 0)
			d->invalid = true; /* data after padding */
		d->state = 0;
		d->bits = (d->bits << 6) | (unsigned int)v;
		if (++d->count == 4) {
			chunk[n++] = (char)(d->bits >> 16);
			chunk[n++] = (char)(d->bits >> 8);
			chunk[n++] = (char)d->bits;
			d->bits = 0;
			d->count = 0;
			if (n == sizeof(chunk)) {
				if (buf_append(out, chunk, n) < 0)
					return -1;
				n = 0;
			}
		}
	}
	return buf_append(out, chunk, n);
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int qp_flush_ws(struct mime_decoder *d, buf_t *out)
{
	int r = buf_append(out, d->ws, d->ws_len);
	d->ws_len = 0;
	return r;
}

static int qp_add_ws(struct mime_decoder *d, char c, buf_t *out)
{
	if (d->ws_len == sizeof(d->ws) && qp_flush_ws(d, out) < 0)
		return -1;
	d->ws[d->ws_len++] = c;
	return 0;
}

/* Process one byte in the QP state machine; may reprocess it after an
 * invalid '=' sequence has been emitted literally. */
static int qp_byte(struct mime_decoder *d, unsigned char c, buf_t *out)
{
	int v;

	for (;;) {
		switch ((enum qp_state)d->state) {
		case QP_TEXT:
			if (c == ' ' || c == '\t')
				return qp_add_ws(d, (char)c, out);
			if (c == '\n') {
				/* rule 3: trailing whitespace is transport padding */
				d->ws_len = 0;
				return buf_append_byte(out, '\n');
			}
			if (c == '\r') {
				d->state = QP_CR;
				return 0;
			}
			if (qp_flush_ws(d, out) < 0)
				return -1;
			if (c == '=') {
				d->state = QP_EQ;
				return 0;
			}
			return buf_append_byte(out, (char)c);
		case QP_CR:
			d->state = QP_TEXT;
			if (c == '\n') {
				d->ws_len = 0;
				return buf_append(out, "\r\n", 2);
			}
			if (qp_flush_ws(d, out) < 0 || buf_append_byte(out, '\r') < 0)
				return -1;
			continue;
		case QP_EQ:
			if ((v = hex_value(c)) >= 0) {
				d->hex1 = (char)c;
				d->state = QP_EQ_HEX;
				return 0;
			}
			if (c == '\n') {
				d->state = QP_TEXT; /* soft line break */
				return 0;
			}
			if (c == '\r') {
				d->state = QP_EQ_CR;
				return 0;
			}
			if (c == ' ' || c == '\t') {
				d->state = QP_EQ_WS;
				return qp_add_ws(d, (char)c, out);
			}
			d->invalid = true;
			d->state = QP_TEXT;
			if (buf_append_byte(out, '=') < 0)
				return -1;
			continue;
		case QP_EQ_HEX:
			d->state = QP_TEXT;
			if ((v = hex_value(c)) >= 0) {
				char b = (char)((hex_value((unsigned char)d->hex1) << 4) | v);
				return buf_append_byte(out, b);
			}
			d->invalid = true;
			if (buf_append_byte(out, '=') < 0 ||
			    buf_append_byte(out, d->hex1) < 0)
				return -1;
			continue;
		case QP_EQ_WS:
			if (c == ' ' || c == '\t')
				return qp_add_ws(d, (char)c, out);
			if (c == '\n') {
				d->ws_len = 0;
				d->state = QP_TEXT;
				return 0;
			}
			if (c == '\r') {
				d->state = QP_EQ_CR;
				return 0;
			}
			/* "=" then spaces then text: all of it was literal */
			d->invalid = true;
			d->state = QP_TEXT;
			if (buf_append_byte(out, '=') < 0 || qp_flush_ws(d, out) < 0)
				return -1;
			continue;
		case QP_EQ_CR:
			if (c == '\n') {
				d->ws_len = 0;
				d->state = QP_TEXT;
				return 0;
			}
			d->invalid = true;
			d->state = QP_TEXT;
			if (buf_append_byte(out, '=') < 0 || qp_flush_ws(d, out) < 0 ||
			    buf_append_byte(out, '\r') < 0)
				return -1;
			continue;
		}
		return 0;
	}
}

static int qp_feed(struct mime_decoder *d, const unsigned char *p, size_t len,
		   buf_t *out)
{
	size_t i = 0;

	while (i < len) {
		/* fast path: copy a run of plain text in one append */
		if (d->state == QP_TEXT && d->ws_len == 0) {
			size_t j = i;
			while (j < len && p[j] != '=' && p[j] != ' ' && p[j] != '\t' &&
			       p[j] != '\r' && p[j] != '\n')
				j++;
			if (j > i) {
				if (buf_append(out, p + i, j - i) < 0)
					return -1;
				i = j;
				continue;
			}
		}
		if (qp_byte(d, p[i++], out) < 0)
			return -1;
	}
	return 0;
}

int mime_decoder_feed(struct mime_decoder *d, const void *in, size_t len,
		      buf_t *out)
{
	switch (d->cte) {
	case MIME_CTE_BASE64:
		return b64_feed(d, in, len, out);
	case MIME_CTE_QP:
		return qp_feed(d, in, len, out);
	case MIME_CTE_UNKNOWN:
		return -1;
	default:
		return buf_append(out, in, len);
	}
}

int mime_decoder_finish(struct mime_decoder *d, buf_t *out)
{
	int r = 0;

	if (d->cte == MIME_CTE_BASE64) {
		r = b64_flush_group(d, out);
	} else if (d->cte == MIME_CTE_QP) {
		switch ((enum qp_state)d->state) {
		case QP_TEXT:
		case QP_EQ_WS:
			break;	/* trailing whitespace / soft break at the end */
		case QP_CR:
			r = buf_append_byte(out, '\r');
			break;
		case QP_EQ:
			break;	/* a soft line break at the very end */
		case QP_EQ_HEX:
			d->invalid = true;
			r = buf_append(out, "=", 1) < 0 ? -1 :
				buf_append_byte(out, d->hex1);
			break;
		case QP_EQ_CR:
			d->invalid = true;
			r = buf_append(out, "=\r", 2);
			break;
		}
		d->ws_len = 0;
		d->state = QP_TEXT;
	}
	return r;
}

int mime_decode(enum mime_cte cte, const void *in, size_t len, buf_t *out,
		bool *invalid_r)
{
	struct mime_decoder d;
	int r;

	if (mime_decoder_init(&d, cte) < 0)
		return -1;
	r = mime_decoder_feed(&d, in, len, out);
	if (r == 0)
		r = mime_decoder_finish(&d, out);
	if (invalid_r != NULL)
		*invalid_r = d.invalid;
	return r;
}
