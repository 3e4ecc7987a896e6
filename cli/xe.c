/* bin/xe: the XenServer-compatible command line.  Its commands are built by
 * a later issue; until then it says so plainly rather than pretend. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("xe (xcon) 0.1\n");
		return 0;
	}
	fprintf(stderr, "xe: no commands yet; use the XenAPI (XML-RPC on the engine's socket) meanwhile\n");
	return 1;
}
