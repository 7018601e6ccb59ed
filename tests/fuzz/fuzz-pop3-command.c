/* libFuzzer: any bytes as one POP3 command line */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3-command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 20000)
		return 0;
	char *line = malloc(size + 1);
	memcpy(line, data, size);
	line[size] = '\0';
	struct pop3_command c;
	const char *err;
	if (pop3_command_parse(line, size, &c, &err) == 0) {
		uint32_t n;
		for (size_t i = 0; i < c.nargs; i++)
			(void)pop3_msgnum(c.args[i], &n);
	}
	free(line);
	return 0;
}
