#include <string.h>
#include <strings.h>

#include "base64.h"
#include "sasl.h"

#define SASL_FIELD_MAX 1024	/* authcid, authzid and password each */

int sasl_mech_parse(const char *name, enum sasl_mech *mech_r)
{
	if (strcasecmp(name, "PLAIN") == 0)
		*mech_r = SASL_PLAIN;
	else if (strcasecmp(name, "LOGIN") == 0)
		*mech_r = SASL_LOGIN;
	else
		return -1;
	return 0;
}

void sasl_init(struct sasl *s, enum sasl_mech mech)
{
	memset(s, 0, sizeof(*s));
	s->mech = mech;
	buf_init(&s->user, SASL_FIELD_MAX);
	buf_init(&s->password, SASL_FIELD_MAX);
	buf_init(&s->authzid, SASL_FIELD_MAX);
}

void sasl_free(struct sasl *s)
{
	buf_free_secret(&s->user);
	buf_free_secret(&s->password);
	buf_free_secret(&s->authzid);
}

static enum sasl_status fail(struct sasl *s, const char *why)
{
	s->error = why;
	buf_free_secret(&s->password);
	return SASL_ERROR;
}

/* Decode one base64 client line into out (wiped on error). */
static int decode(const char *line, size_t len, buf_t *out)
{
	if (len > SASL_MAX_RESPONSE)
		return -1;
	if (len == 1 && line[0] == '=')
		return 0;	/* an empty response (RFC 4954 4) */
	return base64_decode(out, line, len);
}

static bool has_ctl(const buf_t *b)
{
	for (size_t i = 0; i < b->used; i++)
		if ((unsigned char)b->data[i] < 0x20 || b->data[i] == 0x7f)
			return true;
	return false;
}

/* RFC 4616 2: [authzid] NUL authcid NUL passwd, each non-empty except authzid */
static enum sasl_status plain_response(struct sasl *s, const char *line, size_t len)
{
	buf_t raw;
	buf_init(&raw, SASL_MAX_RESPONSE);
	if (decode(line, len, &raw) < 0) {
		buf_free_secret(&raw);
		return fail(s, "invalid base64");
	}
	const char *p = raw.data ? raw.data : "";
	const char *nul1 = memchr(p, '\0', raw.used);
	const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', raw.used - (size_t)(nul1 + 1 - p)) : NULL;
	if (nul1 == NULL || nul2 == NULL || nul2 == nul1 + 1 || nul2 + 1 == p + raw.used) {
		buf_free_secret(&raw);
		return fail(s, "malformed PLAIN response");
	}
	int r = buf_append(&s->authzid, p, (size_t)(nul1 - p)) |
		buf_append(&s->user, nul1 + 1, (size_t)(nul2 - nul1 - 1)) |
		buf_append(&s->password, nul2 + 1, (size_t)(p + raw.used - nul2 - 1));
	buf_free_secret(&raw);
	if (r != 0)
		return fail(s, "credentials too long");
	if (memchr(s->password.data, '\0', s->password.used) || has_ctl(&s->user) || has_ctl(&s->authzid))
		return fail(s, "malformed PLAIN response");
	return SASL_DONE;
}

enum sasl_status sasl_start(struct sasl *s, const char *initial, buf_t *challenge_r)
{
	buf_reset(challenge_r);
	if (initial != NULL && strcmp(initial, "*") == 0)
		return SASL_CANCELLED;
	if (s->mech == SASL_PLAIN) {
		if (initial == NULL) {
			s->step = 1;
			return SASL_CONTINUE;	/* empty challenge */
		}
		return plain_response(s, initial, strlen(initial));
	}
	/* LOGIN: an initial response, if any, is the user name */
	if (initial != NULL) {
		s->step = 1;
		return sasl_step(s, initial, strlen(initial), challenge_r);
	}
	s->step = 1;
	buf_append_cstr(challenge_r, "VXNlcm5hbWU6");	/* "Username:" */
	return SASL_CONTINUE;
}

enum sasl_status sasl_step(struct sasl *s, const char *line, size_t len, buf_t *challenge_r)
{
	buf_reset(challenge_r);
	if (len == 1 && line[0] == '*')
		return SASL_CANCELLED;
	if (s->mech == SASL_PLAIN)
		return plain_response(s, line, len);
	buf_t *field = s->step == 1 ? &s->user : &s->password;
	buf_reset(field);
	if (decode(line, len, field) < 0)
		return fail(s, "invalid base64 or credentials too long");
	if (s->step == 1) {
		if (s->user.used == 0 || has_ctl(&s->user))
			return fail(s, "malformed user name");
		s->step = 2;
		buf_append_cstr(challenge_r, "UGFzc3dvcmQ6");	/* "Password:" */
		return SASL_CONTINUE;
	}
	if (memchr(s->password.data ? s->password.data : "", '\0', s->password.used))
		return fail(s, "malformed password");
	return SASL_DONE;
}

const char *sasl_user(const struct sasl *s)
{
	return s->user.data ? s->user.data : "";
}

const char *sasl_password(const struct sasl *s)
{
	return s->password.data ? s->password.data : "";
}

size_t sasl_password_len(const struct sasl *s)
{
	return s->password.used;
}
