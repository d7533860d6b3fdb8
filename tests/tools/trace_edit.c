/*
 * tests/tools/trace_edit.c: copy a trace, changing one register of one exit,
 * to check that `vcr replay --verify` names that exit and that register.
 *
 *   trace_edit IN OUT SEQ REG VALUE
 *   trace_edit --reference IMAGE IN OUT
 *
 * The second form copies the trace unchanged except for its header, which
 * then references the guest image by path (IMAGE) and SHA-256 instead of
 * embedding it (to test what replay says when the image is missing or
 * different).
 * Every record is read with the trace reader and written again with the
 * writer (same header), so only the state of exit SEQ differs: the writer
 * delta-encodes each exit against the previous state of its vCPU, so the
 * next exit of that vCPU still carries its own, unchanged, full state.
 * REG is a name from core/regs.h; VALUE is a number (strtoull, base 0).
 * Prints the register's old and new value.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/regs.h"
#include "formats/trace.h"

int main(int argc, char **argv)
{
	struct vcr_reader *r;
	struct vcr_writer *w;
	struct vcr_err err;
	static struct vcr_record rec;

	const char *ref = NULL;
	if (argc == 5 && !strcmp(argv[1], "--reference")) {
		ref = argv[2];
		argv += 2;
	} else if (argc != 6) {
		fprintf(stderr, "usage: trace_edit IN OUT SEQ REG VALUE\n"
				"       trace_edit --reference IMAGE IN OUT\n");
		return 2;
	}
	uint64_t seq = UINT64_MAX, val = 0;
	const struct vcr_reg *reg = NULL;
	if (!ref) {
		seq = strtoull(argv[3], NULL, 0);
		val = strtoull(argv[5], NULL, 0);
		reg = vcr_reg_by_name(argv[4]);
		if (!reg || reg->fmt == VCR_REG_NONE) {
			fprintf(stderr, "trace_edit: no register '%s' in the vCPU state\n", argv[4]);
			return 2;
		}
	}
	if (vcr_reader_open(&r, argv[1], &err)) {
		fprintf(stderr, "trace_edit: %s\n", err.msg);
		return 2;
	}
	struct vcr_trace_info info = *vcr_reader_info(r);
	if (ref) {
		info.image_mode = VCR_IMAGE_REFERENCE;
		info.image_path = ref;
		info.image = NULL;
	}
	if (vcr_writer_open(&w, argv[2], &info, NULL, &err)) {
		fprintf(stderr, "trace_edit: %s\n", err.msg);
		return 2;
	}
	int rc, found = 0;
	while ((rc = vcr_reader_next(r, &rec)) > 0) {
		if (rec.type == VCR_REC_EXIT && rec.seq == seq) {
			char a[64], b[64];
			vcr_reg_format(&rec.u.exit.state, reg, a, sizeof(a));
			vcr_reg_set(&rec.u.exit.state, reg, val);
			vcr_reg_format(&rec.u.exit.state, reg, b, sizeof(b));
			printf("exit %" PRIu64 " (vCPU %u): %s %s -> %s\n", seq, rec.vcpu, reg->name, a, b);
			found = 1;
		}
		if (vcr_writer_append(w, &rec)) {
			fprintf(stderr, "trace_edit: writing failed\n");
			return 2;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "trace_edit: %s\n", vcr_reader_error(r)->msg);
		return 2;
	}
	if (vcr_writer_close(w)) {
		fprintf(stderr, "trace_edit: closing the output failed\n");
		return 2;
	}
	vcr_reader_close(r);
	if (!found && !ref) {
		fprintf(stderr, "trace_edit: no exit %" PRIu64 "\n", seq);
		return 1;
	}
	return 0;
}
