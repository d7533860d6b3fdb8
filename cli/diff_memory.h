/*
 * cli/diff_memory.h: `vcr diff --memory`'s report (cli/diff_memory.c), kept
 * apart from cmd_diff.c's exit report.
 */
#ifndef VCR_CLI_DIFF_MEMORY_H
#define VCR_CLI_DIFF_MEMORY_H

#include <stdio.h>
#include "core/json.h"
#include "replayer/diff.h"

/* Compare memory at the aligned exits of traces a and b and print the
 * result on f (JSON Lines on j when not NULL). Returns the exit status
 * part: 0 same, 1 different, 2 trouble (message on stderr). */
int cli_diff_memory(FILE *f, struct vcr_json *j, const char *a, const char *b,
		    const struct vcr_diff_opts *o);

#endif
