/*
 * libFuzzer target for the settings parser. Three properties, any breach
 * aborts:
 *   - chunking never changes the result (the first input byte picks the
 *     chunk size; the rest is the config text);
 *   - a successful parse dumps to text that parses back to the same dump;
 *   - youju's own table and config_validate() survive the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "settings.h"

/* One row of every type, including an unbounded integer. */
struct fuzz_conf {
	char *str;
	int64_t num;
	int64_t unbounded;
	int64_t size;
	int64_t duration;
	bool flag;
	struct setting_list list;
	char *addr;
	char *choice;
};

#define FF(field) offsetof(struct fuzz_conf, field)
static const struct setting_def fuzz_defs[] = {
	{ "s", SET_STRING, "x", 0, 0, true, FF(str), "string", NULL },
	{ "i", SET_INT, "1", -5, 5000, true, FF(num), "int", NULL },
	{ "u", SET_INT, "0", 0, 0, true, FF(unbounded), "unbounded int", NULL },
	{ "z", SET_SIZE, "1k", 0, INT64_C(1) << 50, false, FF(size), "size", NULL },
	{ "d", SET_DURATION, "1s", 1, INT64_C(86400000) * 3650, true, FF(duration), "duration", NULL },
	{ "b", SET_BOOL, "no", 0, 0, true, FF(flag), "bool", NULL },
	{ "l", SET_LIST, "", 0, 0, true, FF(list), "list", NULL },
	{ "a", SET_ADDRESS, "*:25", 0, 0, false, FF(addr), "address", NULL },
	{ "e", SET_ENUM, "on", 0, 0, true, FF(choice), "enum", "on|off|\"q" },
	{ NULL, SET_STRING, NULL, 0, 0, false, 0, NULL, NULL }
};
#define FUZZ_ROWS 9

struct fuzz_result {
	int ret;
	char *error;
	buf_t dump;
	bool is_set[FUZZ_ROWS];
};

static void fuzz_parse(const uint8_t *data, size_t size, size_t step, struct fuzz_result *r)
{
	struct fuzz_conf c;
	memset(&c, 0, sizeof(c));
	memset(r->is_set, 0, sizeof(r->is_set));
	if (settings_set_defaults(fuzz_defs, &c, NULL) < 0)
		abort();
	struct settings_parser *p = settings_parser_create(fuzz_defs, &c, r->is_set, "f.conf");
	for (size_t off = 0; off < size;) {
		size_t n = step == 0 || size - off < step ? size - off : step;
		settings_parser_feed(p, data + off, n);
		off += n;
	}
	r->ret = settings_parser_finish(p);
	const char *error = settings_parser_error(p);
	if ((r->ret < 0) != (error != NULL))
		abort();
	r->error = error != NULL ? strdup(error) : NULL;
	buf_init(&r->dump, 0);
	settings_dump(fuzz_defs, &c, NULL, false, &r->dump);
	settings_parser_destroy(&p);
	settings_free_values(fuzz_defs, &c);
}

static void fuzz_result_free(struct fuzz_result *r)
{
	free(r->error);
	buf_free(&r->dump);
}

static void fuzz_same(const struct fuzz_result *a, const struct fuzz_result *b)
{
	if (a->ret != b->ret || !slice_eq(buf_slice(&a->dump), buf_slice(&b->dump)) ||
	    memcmp(a->is_set, b->is_set, sizeof(a->is_set)) != 0)
		abort();
	if ((a->error == NULL) != (b->error == NULL) ||
	    (a->error != NULL && strcmp(a->error, b->error) != 0))
		abort();
}

static void fuzz_youju(const uint8_t *data, size_t size)
{
	struct youju_config *cfg = NULL;
	char *error = NULL;
	if (config_load_text("youju.conf", (const char *)data, size, &cfg, &error) == 0) {
		buf_t out;
		buf_init(&out, 0);
		settings_dump(youju_settings, cfg, cfg->is_set, true, &out);
		config_free(&cfg);
		buf_free(&out);
	}
	free(error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t step = (size_t)data[0] % 17 + 1;
	data++;
	size--;

	struct fuzz_result whole, chunked;
	fuzz_parse(data, size, 0, &whole);
	fuzz_parse(data, size, step, &chunked);
	fuzz_same(&whole, &chunked);
	if (whole.ret == 0) {
		/* the dump is config text: it must read back to itself */
		struct fuzz_result again;
		fuzz_parse((const uint8_t *)whole.dump.data, whole.dump.used, 0, &again);
		if (again.ret != 0 || !slice_eq(buf_slice(&again.dump), buf_slice(&whole.dump)))
			abort();
		fuzz_result_free(&again);
	}
	fuzz_result_free(&whole);
	fuzz_result_free(&chunked);
	fuzz_youju(data, size);
	return 0;
}
