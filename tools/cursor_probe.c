/*
 * tools/cursor_probe.c: print what the replay cursor (replayer/cursor.h)
 * says about every exit of a trace, one JSON object a line:
 *   {"seq":N,"vcpu":V,"vcpu_exit":I,"reason":"IO","regs":{"rax":"0x...",...}}
 * with every register of the table. tests/host/dump_json.sh compares this
 * with `vcr dump --json --full`, which reads through the sequential reader:
 * two library paths that must agree. Seeks to each exit (random access
 * path), in the order given by --stride, so seeking is exercised too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/regs.h"
#include "core/json.h"
#include "replayer/cursor.h"

int main(int argc, char **argv)
{
	struct vcr_cursor *c;
	struct vcr_err err;
	struct vcr_vcpu_state st;

	if (argc != 2) {
		fprintf(stderr, "usage: cursor_probe FILE.vcr\n");
		return 2;
	}
	vcr_err_clear(&err);
	if (vcr_cursor_open(&c, argv[1], &err) < 0) {
		fprintf(stderr, "cursor_probe: %s: %s\n", argv[1], err.msg);
		return 2;
	}
	uint64_t n = vcr_cursor_nexits(c);
	/* Visit exits in a scrambled order (a stride coprime with n) so that
	 * every seek lands away from the previous position. */
	uint64_t stride = 1;
	if (n > 2)
		for (stride = n / 2 + 1; stride < n; stride++) {
			uint64_t a = stride, b = n;
			while (b) {
				uint64_t t = a % b;
				a = b;
				b = t;
			}
			if (a == 1)
				break;
		}
	for (uint64_t k = 0, seq = 0; k < n; k++, seq = (seq + stride) % n) {
		if (vcr_cursor_seek(c, seq) < 0) {
			fprintf(stderr, "cursor_probe: seek %llu: %s\n", (unsigned long long)seq,
				vcr_cursor_error(c)->msg);
			return 1;
		}
		const struct vcr_record *rec = vcr_cursor_exit(c);
		if (vcr_cursor_state(c, rec->vcpu, &st) < 0) {
			fprintf(stderr, "cursor_probe: state at %llu: %s\n", (unsigned long long)seq,
				vcr_cursor_error(c)->msg);
			return 1;
		}
		const char *name = vcr_exit_reason_name(rec->u.exit.exit.reason);
		printf("{\"seq\":%llu,\"vcpu\":%u,\"vcpu_exit\":%llu,\"reason\":\"%s\",\"regs\":{",
		       (unsigned long long)rec->seq, rec->vcpu, (unsigned long long)rec->vcpu_exit,
		       name ? name : "?");
		int first = 1;
		for (size_t i = 0; i < vcr_nregs; i++) {
			if (vcr_regs[i].fmt == VCR_REG_NONE)
				continue;
			char v[40];
			vcr_reg_format(&st, &vcr_regs[i], v, sizeof(v));
			printf("%s\"%s\":", first ? "" : ",", vcr_regs[i].name);
			vcr_json_quote(stdout, v);
			first = 0;
		}
		printf("}}\n");
	}
	vcr_cursor_close(c);
	return fflush(stdout) ? 1 : 0;
}
