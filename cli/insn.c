/* cli/insn.c: the instruction at an exit of a trace (see insn.h). */
#include "cli/insn.h"

#include <errno.h>
#include <string.h>

#include "core/json.h"
#include "replayer/cursor.h"

void cli_insn_init(struct cli_insn *x, const char *cmd, const char *path)
{
	memset(x, 0, sizeof(*x));
	x->cmd = cmd;
	x->path = path;
}

void cli_insn_fini(struct cli_insn *x)
{
	vcr_cursor_close(x->c);
	vcr_disasm_close(x->d);
	x->c = NULL;
	x->d = NULL;
}

int cli_insn_read_cursor(void *cursor, uint64_t gpa, void *buf, size_t len)
{
	return vcr_cursor_read_mem(cursor, gpa, buf, len);
}

int cli_insn_read_lenient(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct cli_insn *x = ctx;
	int rc = vcr_cursor_read_mem(x->c, gpa, buf, len);
	if (rc != -ENOENT)
		return rc;
	rc = vcr_cursor_read_mem_stale(x->c, gpa, buf, len);
	if (rc == 0)
		x->stale = 1;
	return rc;
}

/* Decode with the lenient reader; mark what it says. */
static int insn_decode(struct cli_insn *x, const struct vcr_vcpu_state *st, struct vcr_insn *out)
{
	x->stale = 0;
	int rc = vcr_disasm_at(x->d, st, cli_insn_read_lenient, x, out);
	if (rc == 0)
		out->stale = (uint8_t)x->stale;
	return rc;
}

static int insn_open(struct cli_insn *x)
{
	struct vcr_err err;
	int rc;

	if (x->failed)
		return x->failed;
	if (x->c)
		return 0;
	vcr_err_clear(&err);
	if ((rc = vcr_disasm_open(&x->d)) < 0) {
		fprintf(stderr, "vcr %s: cannot start the disassembler: %s\n", x->cmd,
			strerror(-rc));
	} else if ((rc = vcr_cursor_open(&x->c, x->path, &err)) < 0) {
		fprintf(stderr, "vcr %s: %s: instructions: %s\n", x->cmd, x->path,
			err.msg[0] ? err.msg : strerror(-rc));
	}
	if (rc < 0) {
		cli_insn_fini(x);
		x->failed = rc;
	}
	return rc;
}

static int insn_seek(struct cli_insn *x, uint64_t seq)
{
	int rc = insn_open(x);
	if (rc < 0)
		return rc;
	if (vcr_cursor_pos(x->c) != seq && (rc = vcr_cursor_seek(x->c, seq)) < 0)
		return rc;
	return 0;
}

int cli_insn_at(struct cli_insn *x, uint64_t seq, const struct vcr_vcpu_state *st,
		struct vcr_insn *out)
{
	int rc = insn_seek(x, seq);
	if (rc < 0)
		return rc;
	return insn_decode(x, st, out);
}

int cli_insn_at_vcpu(struct cli_insn *x, uint64_t seq, uint32_t vcpu, struct vcr_insn *out)
{
	const struct vcr_vcpu_state *st;
	int rc = insn_seek(x, seq);
	if (rc < 0)
		return rc;
	if (!(st = vcr_cursor_state_ref(x->c, vcpu)))
		return -ENOENT;
	return insn_decode(x, st, out);
}

void cli_insn_print(FILE *f, int rc, const struct vcr_insn *in)
{
	char buf[VCR_INSN_TEXT + 100];

	if (rc < 0) {
		fputs("error", f);
		return;
	}
	if (in->status != VCR_INSN_OK) {
		vcr_insn_format(in, buf, sizeof(buf));
		fputs(buf, f);
		return;
	}
	vcr_json_quote(f, in->text);
	if (in->stale)
		fputs(" (stale)", f);
}
