/*
 * cli/cmd_replay.c: `vcr replay`: re-execute a trace on KVM (--verify,
 * --resync, see replayer/replay.h) or serve it to gdb (--gdb, through the
 * gdbstub's replay target over a cursor).
 *
 * Exit status: 0 identical (verify) / no correction needed (resync) / gdb
 * session ended; 1 diverged (verify) / corrections were needed (resync);
 * 2 the replay could not start or broke down (the message says why).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "core/util.h"
#include "gdbstub/gdbstub.h"
#include "replayer/cursor.h"
#include "replayer/replay.h"

static void replay_usage(FILE *f)
{
	fprintf(f,
		"usage: vcr replay --verify [OPTIONS] TRACE\n"
		"       vcr replay --resync [OPTIONS] TRACE\n"
		"       vcr replay --gdb [HOST]:PORT TRACE\n\n"
		"Re-execute a recorded trace on KVM.\n\n"
		"  --verify        feed the recorded inputs back, compare every exit and the\n"
		"                  vCPU state with the recording; report the first divergence\n"
		"  --resync        load the recorded state back wherever it differs, so that\n"
		"                  execution follows the recording; count the corrections\n"
		"  --gdb ADDR      serve the trace to gdb (reverse stepping) on ADDR\n"
		"  --image PATH    where the guest image the trace references is now\n"
		"  --timeout MS    give up when no exit comes for MS milliseconds (10000)\n"
		"  --stats         print the replay counters (KVM_RUN calls, dirty flags)\n"
		"  -q, --quiet     no progress line on a terminal\n"
		"  -h, --help      this text\n\n"
		"exit status: 0 identical, 1 diverged (or corrected), 2 could not replay\n");
}

static int cmd_replay(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verify", no_argument, NULL, 'V' },
		{ "resync", no_argument, NULL, 'R' },
		{ "gdb", required_argument, NULL, 'g' },
		{ "image", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "stats", no_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vcr_replay_opts o = { 0 };
	const char *gdb_addr = NULL;
	bool stats = false, quiet = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		switch (c) {
		case 'V':
		case 'R':
			if (o.mode) {
				fprintf(stderr, "vcr replay: choose one of --verify and --resync\n");
				return 2;
			}
			o.mode = c == 'V' ? VCR_REPLAY_VERIFY : VCR_REPLAY_RESYNC;
			break;
		case 'g':
			gdb_addr = optarg;
			break;
		case 'i':
			o.image = optarg;
			break;
		case 't': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || !v || v > 86400000) {
				fprintf(stderr, "vcr replay: --timeout wants milliseconds, 1..86400000\n");
				return 2;
			}
			o.timeout_ms = (unsigned)v;
			break;
		}
		case 's':
			stats = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			replay_usage(stdout);
			return 0;
		default:
			replay_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || (!o.mode && !gdb_addr) || (o.mode && gdb_addr)) {
		replay_usage(stderr);
		return 2;
	}
	const char *path = argv[optind];
	struct vcr_err err = { 0 };

	if (gdb_addr) {
		struct vcr_cursor *cur;
		int rc = vcr_cursor_open(&cur, path, &err);
		if (rc) {
			fprintf(stderr, "vcr replay: cannot open %s: %s\n", path, err.msg);
			return 2;
		}
		rc = gdbstub_serve_replay(cur, gdb_addr, &err);
		vcr_cursor_close(cur);
		if (rc) {
			fprintf(stderr, "vcr replay: gdb: %s\n", err.msg);
			return 2;
		}
		return 0;
	}

	struct vcr_replay_result *res = malloc(sizeof(*res));
	if (!res) {
		fprintf(stderr, "vcr replay: out of memory\n");
		return 2;
	}
	struct cli_progress prog;
	o.progress = cli_progress_start(&prog, "replay", "exits", 0, quiet);
	/* vcr_replay tells progress in batches, ten times a second. */
	prog.p.step = 1;
	int rc = vcr_replay(path, &o, res, &err);
	cli_progress_end(&prog);
	if (res->image_note[0])
		fprintf(stderr, "vcr replay: note: %s\n", res->image_note);
	if (rc) {
		fprintf(stderr, "vcr replay: cannot replay %s: %s\n", path,
			err.msg[0] ? err.msg : strerror(-rc));
		if (stats)
			vcr_replay_print_counters(stdout, res);
		free(res);
		return 2;
	}
	vcr_replay_print(stdout, &o, res);
	if (stats)
		vcr_replay_print_counters(stdout, res);
	int status = res->diverged || res->corrections || res->damaged ? 1 : 0;
	free(res);
	return status;
}
VCR_COMMAND("replay", 20, cmd_replay,
	    "re-execute a trace on KVM (--verify, --resync) or serve it to gdb (--gdb)");
