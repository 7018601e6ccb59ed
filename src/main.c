/* youju: one binary. "youju role NAME" is how the master re-executes a
 * daemon role; everything else is the admin command line. */
#include <string.h>

#include "cli.h"
#include "role.h"

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "role") == 0)
		return role_main(argv[2]);
	return cli_main(argc, argv);
}
