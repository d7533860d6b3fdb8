/*
 * cli/common.h: what the commands that read traces (dump, stats, diff)
 * share: the option loop with the options they have in common (--json,
 * --vcpu, --from/--to, --quiet, --help), option values as numbers, opening a trace
 * and reading it past damaged chunks, and the check that their output was
 * written.
 *
 * Messages go to stderr and start "vcr CMD: "; trouble is exit status 2,
 * what these commands document for a bad option or an unreadable trace.
 * cli_parse uses getopt_long (global optind/optarg): one at a time, on the
 * main thread.
 */
#ifndef VCR_CLI_COMMON_H
#define VCR_CLI_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "formats/trace.h"

/* The common options a command takes. */
enum {
	CLI_OPT_JSON = 1u << 0,		/* --json */
	CLI_OPT_VCPU = 1u << 1,		/* --vcpu V: 0..VCR_TRACE_MAX_VCPUS-1 */
	CLI_OPT_RANGE = 1u << 2,	/* --from N, --to N: global exit numbers */
	CLI_OPT_QUIET = 1u << 3,	/* -q, --quiet: no progress line */
};

struct cli_opts {
	bool json;
	uint32_t vcpu;		/* UINT32_MAX: no --vcpu (every vCPU) */
	uint64_t from, to;	/* inclusive; 0 and UINT64_MAX without them */
	bool quiet;
};

#define CLI_MAX_OWN 12		/* options of a command's own */
#define CLI_GO_ON (-1)		/* cli_parse: not an exit status */

struct cli_cmd {
	const char *name;		/* "dump": messages read "vcr dump: ..." */
	void (*usage)(FILE *f);
	unsigned common;		/* CLI_OPT_* */
	int nargs;			/* positional arguments, exactly */
	/* The command's own options: getopt_long entries with val in
	 * 1..255, and the function that takes one (arg: optarg): 0, or -1
	 * after printing why. */
	const struct option *own;
	unsigned nown;
	int (*own_opt)(void *ctx, int val, const char *arg);
	void *ctx;
	/* Short forms of own options, in getopt's spelling ("o:": -o is the
	 * own option whose val is 'o'); NULL: none. */
	const char *shorts;
};

/* Parse argv (argv[0] is the command's name) into *o and through
 * c->own_opt. Returns CLI_GO_ON when the command is to run, its positional
 * arguments at argv[optind..argc); else the exit status: 0 after -h or
 * --help (usage on stdout), 2 after an unknown option or a wrong number of
 * arguments (usage on stderr), a bad value or --from after --to. */
int cli_parse(const struct cli_cmd *c, struct cli_opts *o, int argc, char **argv);

/* An option value: a whole number (strtoull in `base`: 0 takes 0x and 0
 * prefixes) in min..max. Otherwise prints "vcr CMD: bad --OPT 'ARG'" (with
 * the range if it is out of it) and returns -1. */
int cli_number(const char *cmd, const char *opt, const char *arg, int base, uint64_t min,
	       uint64_t max, uint64_t *v);

/* vcr_reader_open, or NULL after printing "vcr CMD: PATH: why". */
struct vcr_reader *cli_open_trace(const char *cmd, const char *path);

/* Reading a trace to its end past damaged chunks, as far as the reader
 * can: at most CLI_MAX_READ_ERRORS errors, and none after -EIO or -ENOMEM
 * (the file or the memory is gone, not a chunk). */
#define CLI_MAX_READ_ERRORS 64

struct cli_read {
	struct vcr_reader *r;
	uint64_t errors;	/* errors returned so far */
	bool stop;
};

/* 1 with the next record in *rec; 0 at the end, or once reading has to
 * stop; a negative errno for a record that could not be read (message in
 * vcr_reader_error(rd->r)), after which the caller calls again. */
int cli_read_next(struct cli_read *rd, struct vcr_record *rec);

/* Flush f: 0, or -1 after printing "vcr CMD: write error". */
int cli_flush(const char *cmd, FILE *f);

/* A byte count: "64M", "1G", "4096", "0x1000" (K/M/G, optionally "iB" or
 * "B" after it). 0 or -EINVAL. */
int cli_parse_size(const char *s, uint64_t *out);

#endif
