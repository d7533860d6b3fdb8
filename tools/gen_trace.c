/* tools/gen_trace.c: write a synthetic test-guest trace (see tools/gen.h).
 * Used by tests/host/{dump,diff,stats}_*.sh. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/gen.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gen_trace [OPTIONS] OUT.vcr\n"
		"  --exits N          total exits (default 1000)\n"
		"  --vcpus N          vCPUs, exits round robin (default 1)\n"
		"  --chunk N          exits per chunk\n"
		"  --ring BYTES       ring mode: keep only about the newest BYTES\n"
		"  --variant-vcpu V   vCPU the variants below apply to (default 0)\n"
		"  --input-at E       XOR the input served at exit E (e %% 8 in 3,6,7) with 0x5a\n"
		"  --extra-at E       insert --extra K exits (OUT 0xe9) before exit E\n"
		"  --extra K          (default 3)\n"
		"  --reg-at E         set rdi to --reg-value at exit E\n"
		"  --reg-value X\n"
		"  --end-status S     status of the END record (default 0)\n"
		"  --no-end           no END record\n"
		"  --cut              leave the file as a crash would: no footer\n"
		"  --marker           a memory write and a marker before the first exit\n"
		"  --code             page tables and the model's instructions in memory\n");
}

static int num(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || !*s || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "exits", 1, 0, 'n' }, { "vcpus", 1, 0, 'v' }, { "chunk", 1, 0, 'c' }, { "ring", 1, 0, 'g' },
		{ "variant-vcpu", 1, 0, 'V' }, { "input-at", 1, 0, 'i' },
		{ "extra-at", 1, 0, 'x' }, { "extra", 1, 0, 'k' }, { "reg-at", 1, 0, 'r' },
		{ "reg-value", 1, 0, 'R' }, { "end-status", 1, 0, 's' },
		{ "no-end", 0, 0, 'E' }, { "cut", 0, 0, 'C' }, { "marker", 0, 0, 'm' },
		{ "code", 0, 0, 'K' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct vcr_gen_opts o;
	struct vcr_err err;
	uint64_t v = 0;
	int c;

	vcr_gen_opts_init(&o);
	o.extra = 3;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == '?') {
			usage(stderr);
			return 2;
		}
		if (strchr("nvcgVixkrRs", c) && num(optarg, &v)) {
			fprintf(stderr, "gen_trace: bad number '%s'\n", optarg);
			return 2;
		}
		switch (c) {
		case 'n': o.exits = v; break;
		case 'v': o.vcpus = (uint32_t)v; break;
		case 'c': o.chunk_exits = (uint32_t)v; break;
		case 'g': o.ring_bytes = v; break;
		case 'V': o.variant_vcpu = (uint32_t)v; break;
		case 'i': o.input_at = (int64_t)v; break;
		case 'x': o.extra_at = (int64_t)v; break;
		case 'k': o.extra = (uint32_t)v; break;
		case 'r': o.reg_at = (int64_t)v; break;
		case 'R': o.reg_value = v; break;
		case 's': o.end_status = (int32_t)v; break;
		case 'E': o.no_end = true; break;
		case 'C': o.cut = true; break;
		case 'm': o.marker = true; break;
		case 'K': o.code = true; break;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	vcr_err_clear(&err);
	if (vcr_gen_trace(argv[optind], &o, &err) < 0) {
		fprintf(stderr, "gen_trace: %s: %s\n", argv[optind], err.msg);
		return 1;
	}
	return 0;
}
