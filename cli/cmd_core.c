/*
 * cli/cmd_core.c: `vcr core TRACE [--at N] -o FILE`: an ELF core of the
 * guest at one exit (replayer/core.h writes it; this file parses options,
 * opens the files and removes a partial core).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "core/util.h"
#include "replayer/core.h"
#include "replayer/cursor.h"

static void core_usage(FILE *f)
{
	fprintf(f,
		"usage: vcr core [OPTIONS] TRACE -o FILE\n\n"
		"Write an ELF core file of the guest at one exit of TRACE, for gdb\n"
		"(`gdb GUEST.elf FILE`), crash and the tools that read QEMU's\n"
		"dump-guest-memory cores: the guest memory the trace knows at that exit\n"
		"(one PT_LOAD per range, physical address in p_paddr; with paging on, the\n"
		"kernel half's virtual addresses in p_vaddr), every vCPU's registers\n"
		"(NT_PRSTATUS), the system registers (QEMU note) and a VCR note naming the\n"
		"exit, the trace and the memory left out (stale or unknown) or included\n"
		"but untracked. docs/tools.md describes the layout.\n\n"
		"  --at N           global exit number (default: the last exit)\n"
		"  -o, --output FILE  the core file to write (replaced)\n"
		"  -q, --quiet      no summary line on stderr\n"
		"  -h, --help       this text\n\n"
		"Exit status: 0 written, 2 trouble (no such exit, unreadable trace,\n"
		"unwritable FILE, disk full: nothing is left behind).\n");
}

static int cmd_core(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vcr_core_opts o = { .at = UINT64_MAX };
	const char *out = NULL;
	bool quiet = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:q", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (cli_number("core", "at", optarg, 0, 0, UINT64_MAX - 1, &o.at))
				return 2;
			break;
		case 'o':
			out = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			core_usage(stdout);
			return 0;
		default:
			core_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1 || !out) {
		if (!out && argc - optind == 1)
			fprintf(stderr, "vcr core: -o FILE is required\n");
		core_usage(stderr);
		return 2;
	}
	o.trace_path = argv[optind];

	struct vcr_cursor *cur = NULL;
	struct vcr_err err;
	vcr_err_clear(&err);
	int rc = vcr_cursor_open(&cur, o.trace_path, &err);
	if (rc) {
		if (rc == -ENODATA)
			fprintf(stderr, "vcr core: %s: the trace holds no exit\n", o.trace_path);
		else
			fprintf(stderr, "vcr core: %s: %s\n", o.trace_path,
				err.msg[0] ? err.msg : strerror(-rc));
		return 2;
	}
	uint64_t first = vcr_cursor_first(cur), n = vcr_cursor_nexits(cur);
	if (o.at != UINT64_MAX && (o.at < first || o.at - first >= n)) {
		fprintf(stderr, "vcr core: --at %llu: %s holds exits %llu..%llu\n",
			(unsigned long long)o.at, o.trace_path, (unsigned long long)first,
			(unsigned long long)(first + n - 1));
		vcr_cursor_close(cur);
		return 2;
	}

	/* Only a regular file this command made or replaced is removed after
	 * an error: -o /dev/full must stay. */
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "vcr core: %s: %s\n", out, strerror(errno));
		vcr_cursor_close(cur);
		return 2;
	}
	struct stat sb;
	bool regular = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);

	struct vcr_core_result res;
	rc = vcr_core_write(cur, fd, &o, &res, &err);
	if (!rc && close(fd)) {
		rc = -errno;
		snprintf(err.msg, sizeof(err.msg), "closing the core: %s", strerror(errno));
	} else if (rc) {
		close(fd);
	}
	vcr_cursor_close(cur);
	if (rc) {
		fprintf(stderr, "vcr core: %s: %s%s\n", out, err.msg[0] ? err.msg : strerror(-rc),
			regular ? " (partial core removed)" : "");
		if (regular)
			unlink(out);
		return 2;
	}
	if (!quiet)
		fprintf(stderr, "vcr core: %s: exit %llu, %u vCPU%s, %llu bytes of memory in %llu "
			"segment%s (%llu untracked), left out %llu stale, %llu unknown\n", out,
			(unsigned long long)res.exit, res.nvcpus, res.nvcpus == 1 ? "" : "s",
			(unsigned long long)res.mem_bytes, (unsigned long long)res.nloads,
			res.nloads == 1 ? "" : "s", (unsigned long long)res.untracked_bytes,
			(unsigned long long)res.stale_bytes, (unsigned long long)res.unknown_bytes);
	return 0;
}
VCR_COMMAND("core", 43, cmd_core, "write an ELF core of the guest at one exit (gdb, crash)");
