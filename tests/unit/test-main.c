/* Unit test runner: runs every registered TEST, or those whose name contains
 * argv[1]; prints one line per failure and ends with "N passed, N failed". */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ftw.h>

#include "test.h"

static struct test_case *tests;
bool test_current_failed;
static char tmpdir[256];

void test_register(struct test_case *tc)
{
	tc->next = tests;
	tests = tc;
}

void test_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, expr);
	test_current_failed = true;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void tmpdir_cleanup(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

const char *test_tmpdir(void)
{
	tmpdir_cleanup();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/youju-unit-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	return tmpdir;
}

int main(int argc, char **argv)
{
	/* registration order is reverse; reverse back for stable output */
	struct test_case *rev = NULL;
	while (tests) {
		struct test_case *n = tests->next;
		tests->next = rev;
		rev = tests;
		tests = n;
	}
	int passed = 0, failed = 0;
	for (struct test_case *tc = rev; tc; tc = tc->next) {
		if (argc > 1 && strstr(tc->name, argv[1]) == NULL)
			continue;
		test_current_failed = false;
		tc->fn();
		tmpdir_cleanup();
		if (test_current_failed) {
			failed++;
			printf("FAIL %s (%s)\n", tc->name, tc->file);
		} else {
			passed++;
			if (getenv("TEST_VERBOSE"))
				printf("ok   %s\n", tc->name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
