/* Tests for the settings library (src/lib/settings.c) and youju's table
 * (src/config/config.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "buf.h"
#include "settings.h"
#include "config.h"

/* A table with one row of every type, so the library is tested apart
 * from youju's own settings. */
struct tconf {
	char *name;
	int64_t count;
	int64_t limit;
	int64_t timeout;
	bool flag;
	struct setting_list items;
	char *listen;
	char *mode;
	int64_t big;
};

#define TF(field) offsetof(struct tconf, field)
#define KIB INT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

static const struct setting_def tdefs[] = {
	{ "name", SET_STRING, "default name", 0, 0, true, TF(name), "A string.", NULL },
	{ "count", SET_INT, "5", -10, 100, true, TF(count), "An integer.", NULL },
	{ "limit", SET_SIZE, "25M", 1024, 2 * GIB, false, TF(limit), "A size.", NULL },
	{ "timeout", SET_DURATION, "30s", 100, 7 * 86400000LL, true, TF(timeout), "A duration.", NULL },
	{ "flag", SET_BOOL, "no", 0, 0, false, TF(flag), "A boolean.", NULL },
	{ "items", SET_LIST, "a, b", 0, 0, true, TF(items), "A list.", NULL },
	{ "listen", SET_ADDRESS, "*:25", 0, 0, false, TF(listen), "An address.", NULL },
	{ "mode", SET_ENUM, "fast", 0, 0, true, TF(mode), "A choice.", "fast|slow|off" },
	{ "big", SET_INT, "0", 0, 0, true, TF(big), "An unbounded integer.", NULL },
	{ NULL, SET_STRING, NULL, 0, 0, false, 0, NULL, NULL }
};
#define TDEFS_COUNT 9

static void tconf_init(struct tconf *c, bool *is_set)
{
	char *error = NULL;
	memset(c, 0, sizeof(*c));
	if (is_set != NULL)
		memset(is_set, 0, TDEFS_COUNT * sizeof(bool));
	if (settings_set_defaults(tdefs, c, &error) < 0) {
		fprintf(stderr, "test table default broken: %s\n", error);
		abort();
	}
}

/* Defaults, then text; returns the parse result, *error_r NULL on success. */
static int tparse(const char *text, struct tconf *c, bool *is_set, char **error_r)
{
	*error_r = NULL;
	tconf_init(c, is_set);
	return settings_parse_text(tdefs, c, is_set, "t.conf", text, strlen(text), error_r);
}

/* Parse "key = value" alone; on success leaves the result in *c. */
static int tvalue(const char *key, const char *value, struct tconf *c, char **error_r)
{
	char line[256];
	snprintf(line, sizeof(line), "%s = %s\n", key, value);
	return tparse(line, c, NULL, error_r);
}

static bool tvalue_ok(const char *key, const char *value)
{
	struct tconf c;
	char *error;
	int r = tvalue(key, value, &c, &error);
	if (r < 0)
		fprintf(stderr, "  unexpected error: %s\n", error);
	free(error);
	settings_free_values(tdefs, &c);
	return r == 0;
}

static int64_t tvalue_num(const char *key, const char *value)
{
	struct tconf c;
	char *error;
	int64_t n = INT64_MIN;
	if (tvalue(key, value, &c, &error) == 0) {
		int idx = settings_find(tdefs, key);
		n = *(int64_t *)((char *)&c + tdefs[idx].offset);
	}
	free(error);
	settings_free_values(tdefs, &c);
	return n;
}

/* True if the value is rejected with a message containing want. */
static bool tvalue_err(const char *key, const char *value, const char *want)
{
	struct tconf c;
	char *error;
	bool ok = tvalue(key, value, &c, &error) < 0 && error != NULL &&
		strstr(error, want) != NULL;
	if (!ok)
		fprintf(stderr, "  %s = %s: got error '%s', want '%s'\n", key, value,
			error ? error : "(none)", want);
	free(error);
	settings_free_values(tdefs, &c);
	return ok;
}

static char *tdump(const struct tconf *c)
{
	buf_t out;
	buf_init(&out, 0);
	settings_dump(tdefs, c, NULL, false, &out);
	char *s = strdup(buf_cstr(&out));
	buf_free(&out);
	return s;
}

TEST(settings_youju_defaults_parse)
{
	struct youju_config cfg;
	char *error = NULL;
	memset(&cfg, 0, sizeof(cfg));
	CHECK_INTEQ(settings_set_defaults(youju_settings, &cfg, &error), 0);
	CHECK(error == NULL);
	CHECK_STREQ(cfg.state_dir, "/var/lib/youju");
	CHECK_INTEQ(cfg.auth_cache_ttl, 5 * 60 * 1000);
	CHECK_INTEQ(cfg.role_restart_delay, 1000);
	CHECK_INTEQ(cfg.max_connections_per_ip, 50);
	CHECK_STREQ(cfg.smtp_listen, "*:25");
	CHECK_STREQ(cfg.hostname, "");
	/* setting defaults again frees the old values (ASan checks) */
	CHECK_INTEQ(settings_set_defaults(youju_settings, &cfg, &error), 0);
	settings_free_values(youju_settings, &cfg);
	CHECK(cfg.state_dir == NULL);
}

TEST(settings_youju_table_sane)
{
	int n = settings_count(youju_settings);
	CHECK(n >= 36);
	CHECK(YOUJU_SETTINGS_MAX >= n);
	for (int i = 0; i < n; i++) {
		const struct setting_def *row = &youju_settings[i];
		CHECK_INTEQ(settings_find(youju_settings, row->name), i);
		CHECK(row->doc != NULL && row->doc[0] != '\0');
		CHECK(row->def != NULL);
		CHECK((row->type == SET_ENUM) == (row->choices != NULL));
	}
	CHECK_INTEQ(settings_find(youju_settings, "no_such_thing"), -1);
	CHECK_INTEQ(settings_count(tdefs), TDEFS_COUNT);
}

TEST(settings_youju_default_config_valid)
{
	struct youju_config *cfg = NULL;
	char *error = NULL;
	CHECK_INTEQ(config_load_text("empty.conf", "", 0, &cfg, &error), 0);
	CHECK(error == NULL);
	REQUIRE(cfg != NULL);
	CHECK_STREQ(cfg->source_text, "");
	CHECK_INTEQ(cfg->source_len, 0);
	CHECK_STREQ(cfg->source_path, "empty.conf");
	config_free(&cfg);
	CHECK(cfg == NULL);
	free(error);
}

TEST(settings_int_values)
{
	CHECK_INTEQ(tvalue_num("count", "0"), 0);
	CHECK_INTEQ(tvalue_num("count", "-10"), -10);
	CHECK_INTEQ(tvalue_num("count", "100"), 100);
	CHECK_INTEQ(tvalue_num("count", "042"), 42);
	CHECK(tvalue_err("count", "abc", "t.conf:1: count: invalid value 'abc'"));
	CHECK(tvalue_err("count", "1.5", "invalid value"));
	CHECK(tvalue_err("count", "+5", "invalid value"));
	CHECK(tvalue_err("count", "-", "invalid value"));
	CHECK(tvalue_err("count", "", "invalid value ''"));
	CHECK(tvalue_err("count", "101", "count: value 101 is out of bounds (max 100)"));
	CHECK(tvalue_err("count", "-11", "value -11 is out of bounds (min -10)"));
	CHECK(tvalue_err("count", "99999999999999999999", "out of bounds (max 100)"));
	CHECK(tvalue_err("count", "-99999999999999999999", "out of bounds (min -10)"));
	/* min == max == 0: the whole int64_t range */
	CHECK_INTEQ(tvalue_num("big", "9223372036854775807"), INT64_MAX);
	CHECK(tvalue_num("big", "-9223372036854775808") == INT64_MIN);
	CHECK(tvalue_err("big", "9223372036854775808", "(max 9223372036854775807)"));
	CHECK(tvalue_err("big", "-9223372036854775809", "(min -9223372036854775808)"));
}

TEST(settings_size_values)
{
	CHECK_INTEQ(tvalue_num("limit", "1234"), 1234);
	CHECK_INTEQ(tvalue_num("limit", "15k"), 15 * KIB);
	CHECK_INTEQ(tvalue_num("limit", "15K"), 15 * KIB);
	CHECK_INTEQ(tvalue_num("limit", "15M"), 15 * MIB);
	CHECK_INTEQ(tvalue_num("limit", "15m"), 15 * MIB);
	CHECK_INTEQ(tvalue_num("limit", "1G"), GIB);
	CHECK_INTEQ(tvalue_num("limit", "2G"), 2 * GIB);
	CHECK_INTEQ(tvalue_num("limit", "1k"), 1024);
	CHECK(tvalue_err("limit", "2049M", "limit: value 2049M is out of bounds (max 2G)"));
	CHECK(tvalue_err("limit", "99T", "t.conf:1: limit: value 99T is out of bounds (max 2G)"));
	CHECK(tvalue_err("limit", "1023", "value 1023 is out of bounds (min 1k)"));
	CHECK(tvalue_err("limit", "0", "(min 1k)"));
	/* digit overflow, and overflow when scaling */
	CHECK(tvalue_err("limit", "99999999999999999999M", "out of bounds (max 2G)"));
	CHECK(tvalue_err("limit", "99999999999999999999", "out of bounds (max 2G)"));
	CHECK(tvalue_err("limit", "8388608T", "out of bounds (max 2G)"));
	CHECK(tvalue_err("limit", "8388607T", "out of bounds (max 2G)"));
	CHECK(tvalue_err("limit", "15x", "invalid value '15x' (expected a number with"));
	CHECK(tvalue_err("limit", "k", "invalid value"));
	CHECK(tvalue_err("limit", "1.5M", "invalid value"));
	CHECK(tvalue_err("limit", "-1", "invalid value"));
	CHECK(tvalue_err("limit", "15 M", "invalid value"));
	CHECK(tvalue_err("limit", "15MB", "invalid value"));
}

TEST(settings_duration_values)
{
	CHECK_INTEQ(tvalue_num("timeout", "500ms"), 500);
	CHECK_INTEQ(tvalue_num("timeout", "30s"), 30000);
	CHECK_INTEQ(tvalue_num("timeout", "5m"), 300000);
	CHECK_INTEQ(tvalue_num("timeout", "2h"), 7200000);
	CHECK_INTEQ(tvalue_num("timeout", "1d"), 86400000);
	CHECK_INTEQ(tvalue_num("timeout", "1w"), 604800000);
	CHECK_INTEQ(tvalue_num("timeout", "10"), 10000);	/* bare = seconds */
	CHECK_INTEQ(tvalue_num("timeout", "100ms"), 100);
	CHECK(tvalue_err("timeout", "99ms", "timeout: value 99ms is out of bounds (min 100ms)"));
	CHECK(tvalue_err("timeout", "8d", "value 8d is out of bounds (max 1w)"));
	CHECK(tvalue_err("timeout", "99999999999999999999w", "out of bounds (max 1w)"));
	CHECK(tvalue_err("timeout", "9223372036854775807s", "out of bounds (max 1w)"));
	CHECK(tvalue_err("timeout", "5M", "invalid value '5M' (expected a number with an ms"));
	CHECK(tvalue_err("timeout", "5mins", "invalid value"));
	CHECK(tvalue_err("timeout", "ms", "invalid value"));
	CHECK(tvalue_err("timeout", "1.5s", "invalid value"));
	CHECK(tvalue_err("timeout", "1h30m", "invalid value"));
}

TEST(settings_bool_values)
{
	static const char *const yes[] = { "yes", "YES", "true", "True", "on", "1" };
	static const char *const no[] = { "no", "No", "false", "FALSE", "off", "0" };
	struct tconf c;
	char *error;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		CHECK_INTEQ(tvalue("flag", yes[i], &c, &error), 0);
		CHECK(c.flag);
		settings_free_values(tdefs, &c);
		CHECK_INTEQ(tvalue("flag", no[i], &c, &error), 0);
		CHECK(!c.flag);
		settings_free_values(tdefs, &c);
	}
	CHECK(tvalue_err("flag", "maybe", "flag: invalid boolean 'maybe' (expected yes or no)"));
	CHECK(tvalue_err("flag", "", "invalid boolean"));
	CHECK(tvalue_err("flag", "yess", "invalid boolean"));
}

TEST(settings_list_values)
{
	struct tconf c;
	char *error;
	CHECK_INTEQ(tvalue("items", "a,b c\t d,,e ,", &c, &error), 0);
	REQUIRE(c.items.count == 5);
	CHECK_STREQ(c.items.items[0], "a");
	CHECK_STREQ(c.items.items[1], "b");
	CHECK_STREQ(c.items.items[2], "c");
	CHECK_STREQ(c.items.items[3], "d");
	CHECK_STREQ(c.items.items[4], "e");
	settings_free_values(tdefs, &c);
	CHECK(c.items.items == NULL && c.items.count == 0);

	CHECK_INTEQ(tvalue("items", "", &c, &error), 0);
	CHECK_INTEQ(c.items.count, 0);
	settings_free_values(tdefs, &c);
	CHECK_INTEQ(tvalue("items", " , ,", &c, &error), 0);
	CHECK_INTEQ(c.items.count, 0);
	settings_free_values(tdefs, &c);
	CHECK_INTEQ(tvalue("items", "single", &c, &error), 0);
	CHECK_INTEQ(c.items.count, 1);
	settings_free_values(tdefs, &c);
}

TEST(settings_address_values)
{
	static const char *const good[] = {
		"*:25", "127.0.0.1:25", "[::1]:587", "[2001:db8::1]:25", "[::]:143",
		"mail.example.com:25", "localhost:65535", "0.0.0.0:1", "",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(tvalue_ok("listen", good[i]));
	CHECK(tvalue_err("listen", "25", "listen: invalid listen address '25': missing ':port'"));
	CHECK(tvalue_err("listen", "*:0", "port must be"));
	CHECK(tvalue_err("listen", "*:65536", "port must be"));
	CHECK(tvalue_err("listen", "*:000025", "port must be"));
	CHECK(tvalue_err("listen", "*:2a", "port must be"));
	CHECK(tvalue_err("listen", "*:", "missing port"));
	CHECK(tvalue_err("listen", ":25", "missing host"));
	CHECK(tvalue_err("listen", "::1:25", "need brackets"));
	CHECK(tvalue_err("listen", "[::1]25", "expected ':port'"));
	CHECK(tvalue_err("listen", "[::1]", "expected ':port'"));
	CHECK(tvalue_err("listen", "[::1:25", "missing ']'"));
	CHECK(tvalue_err("listen", "[1.2.3.4]:25", "invalid IPv6"));
	CHECK(tvalue_err("listen", "[]:25", "invalid IPv6"));
	CHECK(tvalue_err("listen", "1.2.3.999:25", "invalid IPv4"));
	CHECK(tvalue_err("listen", "exa_mple:25", "host must be"));
	CHECK(tvalue_err("listen", "[*]:25", "invalid IPv6"));
}

TEST(settings_enum_values)
{
	CHECK(tvalue_ok("mode", "slow"));
	CHECK(tvalue_ok("mode", "off"));
	CHECK(tvalue_err("mode", "Slow", "mode: invalid value 'Slow' (expected one of fast|slow|off)"));
	CHECK(tvalue_err("mode", "", "invalid value ''"));
	CHECK(tvalue_err("mode", "fast|slow", "invalid value"));
	CHECK(tvalue_err("mode", "fas", "invalid value"));
}

TEST(settings_string_quotes_comments)
{
	struct tconf c;
	char *error;
	CHECK_INTEQ(tvalue("name", "value # not a comment", &c, &error), 0);
	CHECK_STREQ(c.name, "value # not a comment");
	settings_free_values(tdefs, &c);
	CHECK_INTEQ(tvalue("name", "\"  spaced  \"", &c, &error), 0);
	CHECK_STREQ(c.name, "  spaced  ");
	settings_free_values(tdefs, &c);
	CHECK_INTEQ(tvalue("name", "\"a \\\"q\\\" \\\\ b\"", &c, &error), 0);
	CHECK_STREQ(c.name, "a \"q\" \\ b");
	settings_free_values(tdefs, &c);
	CHECK_INTEQ(tvalue("name", "a\"b\" C:\\dir", &c, &error), 0);	/* literal */
	CHECK_STREQ(c.name, "a\"b\" C:\\dir");
	settings_free_values(tdefs, &c);
	CHECK_INTEQ(tvalue("name", "\"\"", &c, &error), 0);
	CHECK_STREQ(c.name, "");
	settings_free_values(tdefs, &c);
	CHECK_INTEQ(tvalue("name", "x = y", &c, &error), 0);	/* split at first '=' */
	CHECK_STREQ(c.name, "x = y");
	settings_free_values(tdefs, &c);
	CHECK(tvalue_err("name", "\"unterminated", "name: missing closing quote"));
	CHECK(tvalue_err("name", "\"a\" b", "text after the closing quote"));
	CHECK(tvalue_err("name", "\"a\\nb\"", "invalid escape"));
	CHECK(tvalue_err("name", "\"a\\\"", "missing closing quote"));
	CHECK(tvalue_err("name", "a\x01z", "control character"));
	CHECK(tvalue_err("name", "a\rz", "control character"));
	/* quoting works for every type */
	CHECK_INTEQ(tvalue_num("count", "\"7\""), 7);
}

TEST(settings_file_syntax)
{
	struct tconf c;
	bool is_set[TDEFS_COUNT];
	char *error;
	const char *text =
		"# a comment\n"
		"   # an indented comment = with an equals sign\n"
		"\n"
		"  \t \n"
		"count=7\n"
		"   limit   =   3M   \r\n"
		"\tname\t=\tx y\t\n"
		"flag = yes";	/* no final newline */
	CHECK_INTEQ(tparse(text, &c, is_set, &error), 0);
	CHECK(error == NULL);
	CHECK_INTEQ(c.count, 7);
	CHECK_INTEQ(c.limit, 3 * MIB);
	CHECK_STREQ(c.name, "x y");
	CHECK(c.flag);
	CHECK(is_set[settings_find(tdefs, "count")]);
	CHECK(is_set[settings_find(tdefs, "flag")]);
	CHECK(!is_set[settings_find(tdefs, "timeout")]);
	CHECK(!is_set[settings_find(tdefs, "mode")]);
	CHECK_INTEQ(c.timeout, 30000);	/* default kept */
	settings_free_values(tdefs, &c);
}

TEST(settings_duplicate_last_wins)
{
	struct tconf c;
	bool is_set[TDEFS_COUNT];
	char *error;
	CHECK_INTEQ(tparse("count = 1\nname = first\ncount = 2\nname = second\n", &c, is_set,
			   &error), 0);
	CHECK_INTEQ(c.count, 2);
	CHECK_STREQ(c.name, "second");
	settings_free_values(tdefs, &c);
}

TEST(settings_error_messages)
{
	struct tconf c;
	char *error;
	CHECK_INTEQ(tparse("# header\n\nsmtp_lisen = *:25\n", &c, NULL, &error), -1);
	CHECK_STREQ(error, "t.conf:3: unknown setting 'smtp_lisen'");
	free(error);
	settings_free_values(tdefs, &c);

	CHECK_INTEQ(tparse("count 5\n", &c, NULL, &error), -1);
	CHECK_STREQ(error, "t.conf:1: count: missing '=' (expected: key = value)");
	free(error);
	settings_free_values(tdefs, &c);

	CHECK_INTEQ(tparse(" = 5\n", &c, NULL, &error), -1);
	CHECK_STREQ(error, "t.conf:1: missing setting name before '='");
	free(error);
	settings_free_values(tdefs, &c);

	/* untrusted bytes are escaped in messages and long ones cut */
	CHECK_INTEQ(tparse("k\x1b[31m = 1\n", &c, NULL, &error), -1);
	CHECK_STREQ(error, "t.conf:1: unknown setting 'k\\x1b[31m'");
	free(error);
	settings_free_values(tdefs, &c);
	char line[300];
	memset(line, 'x', 200);
	memcpy(line + 200, " = 1\n", 6);
	CHECK_INTEQ(tparse(line, &c, NULL, &error), -1);
	CHECK(strlen(error) < 120 && strstr(error, "...'") != NULL);
	free(error);
	settings_free_values(tdefs, &c);
}

TEST(settings_errors_collected)
{
	struct tconf c;
	bool is_set[TDEFS_COUNT];
	char *error;
	const char *text = "count = 200\nname = ok\nbogus = 1\nlimit = 1X\nmode = turbo\n";
	CHECK_INTEQ(tparse(text, &c, is_set, &error), -1);
	/* too long for CHECK_STREQ's message buffer */
	static const char want[] =
		"t.conf:1: count: value 200 is out of bounds (max 100)\n"
		"t.conf:3: unknown setting 'bogus'\n"
		"t.conf:4: limit: invalid value '1X' (expected a number with an optional "
		"k, M, G or T suffix)\n"
		"t.conf:5: mode: invalid value 'turbo' (expected one of fast|slow|off)";
	CHECK(error != NULL && strcmp(error, want) == 0);
	/* bad lines leave the old value and is_set alone */
	CHECK_INTEQ(c.count, 5);
	CHECK(!is_set[settings_find(tdefs, "count")]);
	CHECK(is_set[settings_find(tdefs, "name")]);
	free(error);
	settings_free_values(tdefs, &c);

	/* the cap: 20 errors, then one line saying there were more */
	buf_t many;
	buf_init(&many, 0);
	for (int i = 0; i < 30; i++)
		buf_printf(&many, "nope%d = 1\n", i);
	CHECK_INTEQ(tparse(buf_cstr(&many), &c, NULL, &error), -1);
	int lines = 1;
	for (const char *s = error; *s; s++)
		lines += *s == '\n';
	CHECK_INTEQ(lines, SETTINGS_ERRORS_MAX + 1);
	CHECK(strstr(error, "t.conf:20: unknown setting 'nope19'\n") != NULL);
	CHECK(strstr(error, "nope20") == NULL);
	CHECK(strstr(error, "t.conf: more than 20 errors") != NULL);
	free(error);
	settings_free_values(tdefs, &c);
	buf_free(&many);
}

TEST(settings_line_too_long)
{
	struct tconf c;
	char *error;
	buf_t text;
	buf_init(&text, 0);
	/* exactly SETTINGS_LINE_MAX bytes is fine */
	buf_append_cstr(&text, "name = ");
	while (text.used < SETTINGS_LINE_MAX)
		buf_append_byte(&text, 'a');
	buf_append_cstr(&text, "\ncount = 9\n");
	CHECK_INTEQ(tparse(buf_cstr(&text), &c, NULL, &error), 0);
	CHECK_INTEQ(strlen(c.name), SETTINGS_LINE_MAX - 7);
	CHECK_INTEQ(c.count, 9);
	settings_free_values(tdefs, &c);

	/* one more byte is an error; the next line is still read and counted */
	buf_reset(&text);
	buf_append_cstr(&text, "# first\nname = ");
	while (text.used < 8 + SETTINGS_LINE_MAX + 1)
		buf_append_byte(&text, 'a');
	buf_append_cstr(&text, "\ncount = 9\ncount = 500\n");
	CHECK_INTEQ(tparse(buf_cstr(&text), &c, NULL, &error), -1);
	CHECK_STREQ(error, "t.conf:2: name: line too long (max 8192 bytes)\n"
		    "t.conf:4: count: value 500 is out of bounds (max 100)");
	CHECK_STREQ(c.name, "default name");
	CHECK_INTEQ(c.count, 9);
	free(error);
	settings_free_values(tdefs, &c);

	/* a long comment too */
	buf_reset(&text);
	buf_append_byte(&text, '#');
	while (text.used < SETTINGS_LINE_MAX + 100)
		buf_append_byte(&text, '#');
	CHECK_INTEQ(tparse(buf_cstr(&text), &c, NULL, &error), -1);
	CHECK_STREQ(error, "t.conf:1: line too long (max 8192 bytes)");
	free(error);
	settings_free_values(tdefs, &c);
	buf_free(&text);
}

TEST(settings_nul_byte)
{
	static const char text[] = "# comment \0 with NUL\ncount = 3\n";
	struct tconf c;
	char *error = NULL;
	tconf_init(&c, NULL);
	CHECK_INTEQ(settings_parse_text(tdefs, &c, NULL, "t.conf", text, sizeof(text) - 1,
					&error), -1);
	CHECK_STREQ(error, "t.conf:1: NUL byte in line");
	free(error);
	settings_free_values(tdefs, &c);
}

TEST(settings_dump_and_only_changed)
{
	struct tconf c;
	bool is_set[TDEFS_COUNT];
	char *error;
	CHECK_INTEQ(tparse("count = 7\nlisten =\nitems = x y\ntimeout = 90s\n", &c, is_set,
			   &error), 0);
	char *all = tdump(&c);
	CHECK_STREQ(all,
		    "name = default name\n"
		    "count = 7\n"
		    "limit = 25M\n"
		    "timeout = 90s\n"
		    "flag = no\n"
		    "items = x, y\n"
		    "listen =\n"
		    "mode = fast\n"
		    "big = 0\n");
	free(all);
	buf_t out;
	buf_init(&out, 0);
	settings_dump(tdefs, &c, is_set, true, &out);
	CHECK_STREQ(buf_cstr(&out), "count = 7\ntimeout = 90s\nitems = x, y\nlisten =\n");
	buf_reset(&out);
	settings_dump(tdefs, &c, NULL, true, &out);
	CHECK_INTEQ(out.used, 0);
	buf_free(&out);
	settings_free_values(tdefs, &c);
}

TEST(settings_format_values)
{
	static const struct {
		const char *key, *in, *out;
	} cases[] = {
		{ "limit", "1024", "1k" }, { "limit", "1025", "1025" },
		{ "limit", "2048M", "2G" }, { "limit", "1536k", "1536k" },
		{ "timeout", "60s", "1m" }, { "timeout", "1500ms", "1500ms" },
		{ "timeout", "168h", "1w" }, { "timeout", "90", "90s" },
		{ "flag", "on", "yes" }, { "flag", "0", "no" },
		{ "items", ",a,,b,", "a, b" }, { "items", "", "" },
		{ "name", "\" lead\"", "\" lead\"" }, { "name", "\"trail\t\"", "\"trail\t\"" },
		{ "name", "\"\\\"q\"", "\"\\\"q\"" }, { "name", "in\"side", "in\"side" },
		{ "name", "\"\\\"a b\"", "\"\\\"a b\"" },
		{ "items", "\"\\\"a b\"", "\"\\\"a, b\"" },	/* first item starts with '"' */
		{ "big", "-12", "-12" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tconf c;
		char *error;
		buf_t out;
		buf_init(&out, 0);
		CHECK_INTEQ(tvalue(cases[i].key, cases[i].in, &c, &error), 0);
		settings_format_value(&tdefs[settings_find(tdefs, cases[i].key)], &c, &out);
		CHECK_STREQ(buf_cstr(&out), cases[i].out);
		/* and the formatted text reads back to the same value */
		struct tconf again;
		char *d1 = tdump(&c);
		CHECK_INTEQ(tvalue(cases[i].key, buf_cstr(&out), &again, &error), 0);
		char *d2 = tdump(&again);
		CHECK_STREQ(d1, d2);
		free(d1);
		free(d2);
		settings_free_values(tdefs, &again);
		settings_free_values(tdefs, &c);
		buf_free(&out);
	}
}

/* Format every youju setting, parse that text into fresh defaults, and
 * compare: the dump is a faithful copy of the config. */
static void youju_round_trip(const struct youju_config *cfg)
{
	int n = settings_count(youju_settings);
	for (int i = 0; i < n; i++) {
		const struct setting_def *row = &youju_settings[i];
		buf_t line, v1, v2;
		buf_init(&line, 0);
		buf_init(&v1, 0);
		buf_init(&v2, 0);
		settings_format_value(row, cfg, &v1);
		buf_printf(&line, "%s = %s\n", row->name, buf_cstr(&v1));
		struct youju_config *back = NULL;
		char *error = NULL;
		CHECK_INTEQ(config_load_text("rt.conf", line.data, line.used, &back, &error), 0);
		if (back != NULL) {
			settings_format_value(row, back, &v2);
			CHECK_STREQ(buf_cstr(&v1), buf_cstr(&v2));
			CHECK(back->is_set[i]);
		} else {
			fprintf(stderr, "  %s: %s\n", row->name, error);
		}
		free(error);
		config_free(&back);
		buf_free(&line);
		buf_free(&v1);
		buf_free(&v2);
	}
}

TEST(settings_youju_format_round_trip)
{
	struct youju_config *cfg = NULL;
	char *error = NULL;
	REQUIRE(config_load_text("d.conf", "", 0, &cfg, &error) == 0);
	youju_round_trip(cfg);
	config_free(&cfg);

	static const char text[] =
		"hostname = mx.example.org\n"
		"state_dir = \"/srv/youju state \"\n"
		"log_level = debug\n"
		"smtp_listen = [::1]:2525\n"
		"imap_listen =\n"
		"auth_cache_ttl = 90s\n"
		"role_restart_delay = 250ms\n"
		"shutdown_timeout = 0\n"
		"recipient_delimiter = \"\"\n"
		"max_connections = 123456\n";
	REQUIRE(config_load_text("x.conf", text, sizeof(text) - 1, &cfg, &error) == 0);
	CHECK_STREQ(cfg->state_dir, "/srv/youju state ");
	CHECK_INTEQ(cfg->role_restart_delay, 250);
	youju_round_trip(cfg);
	config_free(&cfg);
}

TEST(settings_youju_dump_reparses)
{
	static const char text[] = "log_level = debug\nauth_cache_size = 77\n";
	struct youju_config *cfg = NULL, *back = NULL;
	char *error = NULL;
	REQUIRE(config_load_text("a.conf", text, sizeof(text) - 1, &cfg, &error) == 0);
	buf_t all, changed, again;
	buf_init(&all, 0);
	buf_init(&changed, 0);
	buf_init(&again, 0);
	settings_dump(youju_settings, cfg, cfg->is_set, false, &all);
	settings_dump(youju_settings, cfg, cfg->is_set, true, &changed);
	CHECK_STREQ(buf_cstr(&changed), "log_level = debug\nauth_cache_size = 77\n");
	REQUIRE(config_load_text("b.conf", all.data, all.used, &back, &error) == 0);
	settings_dump(youju_settings, back, NULL, false, &again);
	CHECK_STREQ(buf_cstr(&all), buf_cstr(&again));
	config_free(&cfg);
	config_free(&back);
	buf_free(&all);
	buf_free(&changed);
	buf_free(&again);
}

TEST(settings_doc_markdown_lists_all)
{
	buf_t doc;
	buf_init(&doc, 0);
	settings_doc_markdown(youju_settings, "youju.conf reference", &doc);
	const char *s = buf_cstr(&doc);
	CHECK(strncmp(s, "# youju.conf reference\n", 23) == 0);
	CHECK(strstr(s, "1024-based") != NULL);
	for (int i = 0; youju_settings[i].name != NULL; i++) {
		char head[128];
		snprintf(head, sizeof(head), "\n## %s\n\n%s\n", youju_settings[i].name,
			 youju_settings[i].doc);
		CHECK(strstr(s, head) != NULL);
	}
	CHECK(strstr(s, "## auth_cache_ttl\n") != NULL);
	CHECK(strstr(s, "- Type: duration, 0 to 1d\n- Default: `5m`\n- Reloadable: yes\n") != NULL);
	CHECK(strstr(s, "- Type: one of `syslog`, `stderr`, `file`\n") != NULL);
	CHECK(strstr(s, "## hostname\n") != NULL);
	CHECK(strstr(s, "- Default: empty\n") != NULL);
	buf_free(&doc);
}

TEST(settings_diff_nonreloadable)
{
	static const char a_text[] = "log_level = info\n";
	static const char b_text[] =
		"log_level = debug\nstate_dir = /srv/youju\nsmtp_listen = *:2525\n"
		"alias_max_depth = 5\n";
	struct youju_config *a = NULL, *b = NULL;
	char *error = NULL;
	REQUIRE(config_load_text("a.conf", a_text, sizeof(a_text) - 1, &a, &error) == 0);
	REQUIRE(config_load_text("b.conf", b_text, sizeof(b_text) - 1, &b, &error) == 0);
	buf_t names;
	buf_init(&names, 0);
	CHECK_INTEQ(settings_diff_nonreloadable(youju_settings, a, b, &names), 2);
	CHECK_STREQ(buf_cstr(&names), "state_dir, smtp_listen");
	buf_reset(&names);
	CHECK_INTEQ(settings_diff_nonreloadable(youju_settings, a, a, &names), 0);
	CHECK_INTEQ(names.used, 0);
	config_free(&a);
	config_free(&b);
	buf_free(&names);
}

TEST(settings_parse_value_alone)
{
	static const struct setting_def quota = {
		"quota", SET_SIZE, "0", 0, INT64_C(1) << 40, false, 0, "", NULL };
	static const struct setting_def word = {
		"word", SET_STRING, "", 0, 0, false, 0, "", NULL };
	int64_t n = 0;
	char *s = NULL, *error = NULL;
	CHECK_INTEQ(settings_parse_value(&quota, " 15M ", &n, &error), 0);
	CHECK_INTEQ(n, 15 * MIB);
	CHECK_INTEQ(settings_parse_value(&quota, "2T", &n, &error), -1);
	CHECK_STREQ(error, "value 2T is out of bounds (max 1T)");
	CHECK_INTEQ(n, 15 * MIB);
	free(error);
	CHECK_INTEQ(settings_parse_value(&word, "\"a b \"", &s, &error), 0);
	CHECK_STREQ(s, "a b ");
	CHECK_INTEQ(settings_parse_value(&word, "again", &s, &error), 0);	/* frees "a b " */
	CHECK_STREQ(s, "again");
	free(s);
	buf_t big;
	buf_init(&big, 0);
	while (big.used <= SETTINGS_LINE_MAX)
		buf_append_byte(&big, 'x');
	s = NULL;
	CHECK_INTEQ(settings_parse_value(&word, buf_cstr(&big), &s, &error), -1);
	CHECK(s == NULL);
	CHECK_STREQ(error, "value too long (max 8192 bytes)");
	free(error);
	buf_free(&big);
}

/* ---- trickle: chunking never changes the result ---- */

struct trickle_result {
	int ret;
	char *error;
	char *dump;
	bool is_set[TDEFS_COUNT];
};

/* Feed text in chunks of `step` bytes (0: all at once). */
static void trickle_run(const char *text, size_t len, size_t step, struct trickle_result *r)
{
	struct tconf c;
	tconf_init(&c, r->is_set);
	struct settings_parser *p = settings_parser_create(tdefs, &c, r->is_set, "t.conf");
	size_t off = 0;
	while (off < len) {
		size_t n = step == 0 || len - off < step ? len - off : step;
		settings_parser_feed(p, text + off, n);
		off += n;
	}
	r->ret = settings_parser_finish(p);
	const char *error = settings_parser_error(p);
	r->error = error != NULL ? strdup(error) : NULL;
	r->dump = tdump(&c);
	settings_parser_destroy(&p);
	CHECK(p == NULL);
	settings_free_values(tdefs, &c);
}

static void trickle_check(const char *text, size_t len, bool expect_ok)
{
	struct trickle_result whole, part;
	trickle_run(text, len, 0, &whole);
	CHECK_INTEQ(whole.ret, expect_ok ? 0 : -1);
	static const size_t steps[] = { 1, 2, 3, 7, 64, 8191, 8193 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		trickle_run(text, len, steps[i], &part);
		CHECK_INTEQ(part.ret, whole.ret);
		CHECK((part.error == NULL) == (whole.error == NULL));
		if (part.error != NULL && whole.error != NULL)
			CHECK_STREQ(part.error, whole.error);
		CHECK_STREQ(part.dump, whole.dump);
		CHECK(memcmp(part.is_set, whole.is_set, sizeof(whole.is_set)) == 0);
		free(part.error);
		free(part.dump);
	}
	free(whole.error);
	free(whole.dump);
}

TEST(settings_trickle)
{
	static const char *const good[] = {
		"",
		"count = 7\nlimit = 3M\r\nname = \"  q \\\" \\\\ \"\n# c\n\nitems = a,b c\n",
		"flag = yes\nmode = slow\nlisten = [::1]:25\ntimeout = 500ms",
		"count = 1\ncount = 2\ncount = 3\n\n\n",
	};
	static const char *const bad[] = {
		"nope = 1\ncount = 1000\nlimit = 99T\nname = \"open\n",
		"count\nx = \n = 3\nmode = SLOW\nlisten = ::1:25\nflag = maybe",
		"timeout = 99999999999999999999w\nitems = ok\n",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		trickle_check(good[i], strlen(good[i]), true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		trickle_check(bad[i], strlen(bad[i]), false);

	/* long lines around the limit, a NUL, and the error cap */
	buf_t t;
	buf_init(&t, 0);
	buf_append_cstr(&t, "name = ");
	while (t.used < SETTINGS_LINE_MAX)
		buf_append_byte(&t, 'x');
	buf_append_cstr(&t, "\nname = ");
	while (t.used < 2 * SETTINGS_LINE_MAX + 50)
		buf_append_byte(&t, 'y');
	buf_append(&t, "\ncount = 2\n#\0\n", 14);
	for (int i = 0; i < 25; i++)
		buf_printf(&t, "bad%d\n", i);
	trickle_check(t.data, t.used, false);
	buf_free(&t);
}

/* ---- files ---- */

static char *write_file(const char *name, const char *text, size_t len)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s", test_tmpdir(), name) < 0)
		abort();
	FILE *f = fopen(path, "w");
	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0)
		abort();
	return path;
}

TEST(settings_load_file)
{
	static const char text[] = "count = 8\nname = from file\n";
	char *path = write_file("t.conf", text, sizeof(text) - 1);
	struct tconf c;
	bool is_set[TDEFS_COUNT];
	char *raw = NULL, *error = NULL;
	tconf_init(&c, is_set);
	CHECK_INTEQ(settings_load_file(tdefs, &c, is_set, path, &raw, &error), 0);
	CHECK_STREQ(raw, text);
	CHECK_INTEQ(c.count, 8);
	CHECK_STREQ(c.name, "from file");
	free(raw);
	settings_free_values(tdefs, &c);

	/* errors name the path */
	free(path);
	path = write_file("bad.conf", "count = x\n", 10);
	tconf_init(&c, NULL);
	CHECK_INTEQ(settings_load_file(tdefs, &c, NULL, path, &raw, &error), -1);
	CHECK(raw == NULL);
	CHECK(error != NULL && strstr(error, "bad.conf:1: count: invalid value 'x'") != NULL);
	free(error);
	settings_free_values(tdefs, &c);
	free(path);
}

TEST(settings_load_file_errors)
{
	struct tconf c;
	char *raw = (char *)"sentinel", *error = NULL;
	tconf_init(&c, NULL);
	CHECK_INTEQ(settings_load_file(tdefs, &c, NULL, "/nonexistent/youju.conf", &raw, &error), -1);
	CHECK(raw == NULL);
	CHECK(error != NULL && strstr(error, "/nonexistent/youju.conf: cannot open") != NULL);
	free(error);

	/* the 1 MiB cap: comment lines up to just past it */
	buf_t big;
	buf_init(&big, 0);
	while (big.used <= SETTINGS_FILE_MAX)
		buf_append_cstr(&big, "# padding padding padding padding padding padding\n");
	char *path = write_file("big.conf", big.data, big.used);
	CHECK_INTEQ(settings_load_file(tdefs, &c, NULL, path, NULL, &error), -1);
	CHECK(error != NULL && strstr(error, "big.conf: file is larger than 1048576 bytes") != NULL);
	free(error);
	free(path);
	/* exactly at the cap is fine */
	buf_truncate(&big, SETTINGS_FILE_MAX - 1);
	buf_append_byte(&big, '\n');
	path = write_file("cap.conf", big.data, big.used);
	CHECK_INTEQ(settings_load_file(tdefs, &c, NULL, path, &raw, &error), 0);
	CHECK(raw != NULL && strlen(raw) == SETTINGS_FILE_MAX);
	free(raw);
	free(path);
	buf_free(&big);
	settings_free_values(tdefs, &c);
}

/* ---- youju's config ---- */

static bool config_err(const char *text, const char *want)
{
	struct youju_config *cfg = (struct youju_config *)1;
	char *error = NULL;
	int r = config_load_text("youju.conf", text, strlen(text), &cfg, &error);
	bool ok = r == -1 && cfg == NULL && error != NULL && strstr(error, want) != NULL;
	if (!ok)
		fprintf(stderr, "  got '%s', want '%s'\n", error ? error : "(none)", want);
	free(error);
	config_free(&cfg);
	return ok;
}

TEST(settings_youju_config_load)
{
	static const char text[] = "# test\nhostname = mx.example.com\nlog_target = stderr\n";
	struct youju_config *cfg = NULL;
	char *error = NULL;
	REQUIRE(config_load_text("youju.conf", text, sizeof(text) - 1, &cfg, &error) == 0);
	CHECK_STREQ(cfg->hostname, "mx.example.com");
	CHECK_STREQ(cfg->log_target, "stderr");
	CHECK_STREQ(cfg->source_text, text);
	CHECK_INTEQ(cfg->source_len, sizeof(text) - 1);
	CHECK(cfg->is_set[settings_find(youju_settings, "hostname")]);
	CHECK(!cfg->is_set[settings_find(youju_settings, "state_dir")]);
	config_free(&cfg);

	char *path = write_file("youju.conf", text, sizeof(text) - 1);
	REQUIRE(config_load_file(path, &cfg, &error) == 0);
	CHECK_STREQ(cfg->source_text, text);
	CHECK_INTEQ(cfg->source_len, sizeof(text) - 1);
	CHECK_STREQ(cfg->source_path, path);
	config_free(&cfg);
	free(path);

	CHECK(config_err("smtp_lisen = *:25\n", "youju.conf:1: unknown setting 'smtp_lisen'"));
	CHECK(config_err("\n\nauth_cache_ttl = 2d\n",
			 "youju.conf:3: auth_cache_ttl: value 2d is out of bounds (max 1d)"));
	CHECK(config_err("role_restart_delay = 50ms\n", "(min 100ms)"));
	CHECK(config_err("log_level = verbose\n", "log_level: invalid value 'verbose'"));
	CHECK(config_err("password_scheme = yescrypt\n", "password_scheme: invalid value"));
	CHECK(config_err("max_connections = 0\n", "max_connections: value 0 is out of bounds (min 1)"));
}

TEST(settings_youju_config_validate)
{
	CHECK(config_err("state_dir = var/lib/youju\n",
			 "youju.conf: state_dir: must be an absolute path, not 'var/lib/youju'"));
	CHECK(config_err("tls_key =\n", "tls_key: must be an absolute path"));
	CHECK(config_err("role_restart_delay = 50s\nrole_restart_max_delay = 10s\n",
			 "youju.conf: role_restart_delay: 50s must not be longer than "
			 "role_restart_max_delay (10s)"));
	CHECK(config_err("recipient_delimiter = +-_=.~!%x\n",
			 "recipient_delimiter: '+-_=.~!%x' is longer than 8 characters"));
	CHECK(config_err("recipient_delimiter = @\n", "recipient_delimiter: '@' must not contain"));
	CHECK(config_err("recipient_delimiter = \"+ \"\n", "must not contain '@' or whitespace"));
	CHECK(config_err("log_target = file\nlog_file =\n",
			 "log_file: must be set when log_target is file"));
	CHECK(config_err("hostname = mx example\n", "hostname: 'mx example' is not a host name"));
	CHECK(config_err("mail_user =\n", "mail_user: must not be empty"));
	/* all problems at once */
	CHECK(config_err("state_dir = a\nspool_dir = b\n",
			 "state_dir: must be an absolute path, not 'a'\n"
			 "youju.conf: spool_dir: must be an absolute path, not 'b'"));

	static const char ok[] =
		"log_target = stderr\nlog_file =\nrecipient_delimiter = +-\n"
		"role_restart_delay = 1m\nrole_restart_max_delay = 1m\n";
	struct youju_config *cfg = NULL;
	char *error = NULL;
	CHECK_INTEQ(config_load_text("youju.conf", ok, sizeof(ok) - 1, &cfg, &error), 0);
	config_free(&cfg);
	free(error);
}
