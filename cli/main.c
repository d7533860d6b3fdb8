/* cli/main.c: `vcr COMMAND [ARGS]`, dispatching through the command table. */
#include "cli/cli.h"

#include <string.h>

#include "core/util.h"

extern const struct vcr_command __start_vcr_cmds[];
extern const struct vcr_command __stop_vcr_cmds[];

int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vcr COMMAND [ARGS...]\n\n"
		   "Record, replay and debug KVM vCPU state.\n\ncommands:\n");
	size_t n = (size_t)(__stop_vcr_cmds - __start_vcr_cmds);
	/* Print in `order`; the section is in link order. */
	for (int ord = 0, printed = 0; (size_t)printed < n && ord < 1000; ord++)
		for (const struct vcr_command *c = __start_vcr_cmds; c < __stop_vcr_cmds; c++)
			if (c->order == ord) {
				fprintf(f, "  %-8s %s\n", c->name, c->summary);
				printed++;
			}
	fprintf(f, "\n`vcr COMMAND --help` describes each command. vcr %s\n", VCR_VERSION);
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: vcr help [COMMAND]\n\nWithout COMMAND, list the commands; "
		       "with one, print its --help.\n");
		return 0;
	}
	if (argc > 1) {
		for (const struct vcr_command *c = __start_vcr_cmds; c < __stop_vcr_cmds; c++)
			if (!strcmp(c->name, argv[1])) {
				char *av[] = { argv[1], "--help", NULL };
				return c->main(2, av);
			}
		fprintf(stderr, "vcr: no command '%s'\n", argv[1]);
		return 2;
	}
	usage(stdout);
	return 0;
}
VCR_COMMAND("help", 90, cmd_help, "describe the commands (vcr help COMMAND)");

static int cmd_version(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		printf("usage: vcr version\n\nPrint vcr's version.\n");
		return 0;
	}
	printf("vcr %s\n", VCR_VERSION);
	return 0;
}
VCR_COMMAND("version", 91, cmd_version, "print vcr's version");

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (!strcmp(name, "-h") || !strcmp(name, "--help"))
		name = "help";
	if (!strcmp(name, "--version"))
		name = "version";
	for (const struct vcr_command *c = __start_vcr_cmds; c < __stop_vcr_cmds; c++)
		if (!strcmp(c->name, name))
			return c->main(argc - 1, argv + 1);
	fprintf(stderr, "vcr: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
