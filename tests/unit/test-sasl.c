#include <stdlib.h>
#include "test.h"
#include "sasl.h"

TEST(sasl_plain_initial_response)
{
	struct sasl s;
	buf_t ch;
	buf_init(&ch, 0);
	sasl_init(&s, SASL_PLAIN);
	/* "\0alice\0secret" (RFC 4616 example layout) */
	CHECK(sasl_start(&s, "AGFsaWNlAHNlY3JldA==", &ch) == SASL_DONE);
	CHECK_STREQ(sasl_user(&s), "alice");
	CHECK_STREQ(sasl_password(&s), "secret");
	sasl_free(&s);
	/* with an authzid, and in a second step */
	sasl_init(&s, SASL_PLAIN);
	CHECK(sasl_start(&s, NULL, &ch) == SASL_CONTINUE);
	CHECK_INTEQ(ch.used, 0);
	const char *r = "Ym9iAGJvYgBwdw=="; /* bob\0bob\0pw */
	CHECK(sasl_step(&s, r, strlen(r), &ch) == SASL_DONE);
	CHECK_STREQ(sasl_user(&s), "bob");
	CHECK_STREQ(sasl_password(&s), "pw");
	sasl_free(&s);
	buf_free(&ch);
}

TEST(sasl_plain_malformed)
{
	const char *bad[] = {
		"@@@",			/* not base64 (AUTH-5) */
		"YWxpY2U=",		/* "alice": no NULs */
		"AGFsaWNl",		/* "\0alice": one NUL */
		"AABzZWNyZXQ=",		/* "\0\0secret": empty authcid */
		"AGFsaWNlAA==",		/* "\0alice\0": empty password */
		"AGFsaWNlAHNlYwByZXQ=",	/* NUL inside the password */
		"AGFsaQFjZQBzZWNyZXQ=",	/* control byte in the user name */
		"YWJj",	"YQ", "YQ=", "YQ===",
	};
	buf_t ch;
	buf_init(&ch, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sasl s;
		sasl_init(&s, SASL_PLAIN);
		CHECK(sasl_start(&s, bad[i], &ch) == SASL_ERROR);
		CHECK(s.error != NULL);
		sasl_free(&s);
	}
	/* over-long responses are refused before decoding (AUTH-9) */
	char *huge = malloc(SASL_MAX_RESPONSE + 5);
	memset(huge, 'A', SASL_MAX_RESPONSE + 4);
	huge[SASL_MAX_RESPONSE + 4] = '\0';
	struct sasl s;
	sasl_init(&s, SASL_PLAIN);
	CHECK(sasl_start(&s, NULL, &ch) == SASL_CONTINUE);
	CHECK(sasl_step(&s, huge, strlen(huge), &ch) == SASL_ERROR);
	sasl_free(&s);
	free(huge);
	buf_free(&ch);
}

TEST(sasl_login_steps_and_cancel)
{
	struct sasl s;
	buf_t ch;
	buf_init(&ch, 0);
	sasl_init(&s, SASL_LOGIN);
	CHECK(sasl_start(&s, NULL, &ch) == SASL_CONTINUE);
	CHECK_STREQ(buf_cstr(&ch), "VXNlcm5hbWU6");
	CHECK(sasl_step(&s, "YWxpY2U=", 8, &ch) == SASL_CONTINUE);
	CHECK_STREQ(buf_cstr(&ch), "UGFzc3dvcmQ6");
	CHECK(sasl_step(&s, "c2VjcmV0", 8, &ch) == SASL_DONE);
	CHECK_STREQ(sasl_user(&s), "alice");
	CHECK_STREQ(sasl_password(&s), "secret");
	CHECK_INTEQ(sasl_password_len(&s), 6);
	sasl_free(&s);
	/* initial response carries the user name */
	sasl_init(&s, SASL_LOGIN);
	CHECK(sasl_start(&s, "YWxpY2U=", &ch) == SASL_CONTINUE);
	CHECK_STREQ(buf_cstr(&ch), "UGFzc3dvcmQ6");
	CHECK(sasl_step(&s, "*", 1, &ch) == SASL_CANCELLED);	/* AUTH-4 */
	sasl_free(&s);
	sasl_init(&s, SASL_LOGIN);
	CHECK(sasl_start(&s, "*", &ch) == SASL_CANCELLED);
	sasl_free(&s);
	sasl_init(&s, SASL_LOGIN);
	CHECK(sasl_start(&s, NULL, &ch) == SASL_CONTINUE);
	CHECK(sasl_step(&s, "=", 1, &ch) == SASL_ERROR);	/* empty user */
	sasl_free(&s);
	enum sasl_mech m;
	CHECK(sasl_mech_parse("plain", &m) == 0 && m == SASL_PLAIN);
	CHECK(sasl_mech_parse("LOGIN", &m) == 0 && m == SASL_LOGIN);
	CHECK(sasl_mech_parse("CRAM-MD5", &m) < 0);
	buf_free(&ch);
}
