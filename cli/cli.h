/*
 * cli/cli.h: the vcr command table. Each subcommand lives in its own file
 * cli/cmd_NAME.c and registers itself with VCR_COMMAND; main.c lists and
 * dispatches them. Commands return the process exit status.
 */
#ifndef VCR_CLI_H
#define VCR_CLI_H

#include <stdio.h>

struct vcr_command {
	const char *name;
	const char *summary;	/* one line for `vcr help` */
	int order;		/* position in `vcr help` */
	int (*main)(int argc, char **argv);	/* argv[0] is the command name */
};

/* Registers a command by placing its descriptor in the "vcr_cmds" section. */
#define VCR_COMMAND(nm, ord, fn, sum)                                          \
	static const struct vcr_command vcr_cmd_##fn                           \
		__attribute__((used, section("vcr_cmds"), aligned(8))) = {     \
		.name = nm, .summary = sum, .order = ord, .main = fn }

/* True if argv[1] asks for help (-h or --help). */
int cli_wants_help(int argc, char **argv);

#endif
