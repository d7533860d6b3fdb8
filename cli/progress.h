/*
 * cli/progress.h: the progress line of long commands (replay --verify and
 * --resync, diff, dump to a file, timeline, core): on stderr, only when
 * stderr is a terminal and the user did not ask for --quiet, redrawn in
 * place (\r) at most four times a second:
 *
 *     vcr dump: 1.20M/10.0M exits (12%), 3.10M exits/s, 0:03 left
 *
 * Use: cli_progress_start gives the struct vcr_progress to hand to library
 * code (core/progress.h), or to feed with vcr_progress_add from the
 * command's own loop; NULL when no line is to be drawn, which the library
 * and vcr_progress_add take as "no progress". cli_progress_clear before
 * printing anything else on the terminal (the next report redraws it);
 * cli_progress_end once the work is done (erases the line).
 *
 * Threading: the callback may run on any thread (core/progress.h keeps it
 * to one at a time); start, clear and end on the command's thread while no
 * library call is feeding it.
 */
#ifndef VCR_CLI_PROGRESS_H
#define VCR_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/progress.h"

struct cli_progress {
	struct vcr_progress p;
	const char *cmd;	/* "dump": the line reads "vcr dump: ..." */
	const char *unit;	/* "exits" */
	bool on;		/* a line may be drawn */
	bool shown;		/* a line is on the terminal now */
	uint64_t t0_ns, last_ns;
};

/* Start reporting `total` units (0: not known). quiet: never draw. */
struct vcr_progress *cli_progress_start(struct cli_progress *cp, const char *cmd,
					const char *unit, uint64_t total, bool quiet);

/* Erase the line if one is shown. */
void cli_progress_clear(struct cli_progress *cp);

/* Done: erase the line and draw no more. */
void cli_progress_end(struct cli_progress *cp);

#endif
