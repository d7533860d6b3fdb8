/*
 * cli/insn.h: the instruction at an exit of a trace, as `vcr dump --insn`,
 * `vcr diff` and `vcr stats` show it: core/disasm.h on the exit's state,
 * reading guest memory as the trace holds it at that exit through the
 * replay cursor (vcr_cursor_read_mem), and its text form. Where the trace
 * holds only older contents (STALE: a checkpoint's copy of a page the guest
 * wrote before the next one; page tables whose accessed bits the CPU set
 * are the common case), those are used and the instruction is marked
 * stale: `"TEXT" (stale)` in text, "stale": true in JSON.
 *
 * Lifecycle: cli_insn_init (nothing opened), cli_insn_at any number of
 * times (the first opens a cursor on the trace and the disassembler; the
 * cursor's first memory read scans the trace once), cli_insn_fini. A
 * failure to open is reported once on stderr ("vcr CMD: PATH: ...") and
 * every later call fails alike without retrying.
 */
#ifndef VCR_CLI_INSN_H
#define VCR_CLI_INSN_H

#include <stdint.h>
#include <stdio.h>

#include "core/disasm.h"
#include "core/state.h"

struct vcr_cursor;

struct cli_insn {
	const char *cmd, *path;
	struct vcr_cursor *c;
	struct vcr_disasm *d;
	int failed;		/* opening failed: its -errno */
	int stale;		/* the last decode read stale bytes */
};

void cli_insn_init(struct cli_insn *x, const char *cmd, const char *path);
void cli_insn_fini(struct cli_insn *x);

/* The instruction at st's rip, st being the state of a vCPU at exit
 * `seq`, with memory as the trace holds it at that exit. 0 with *out
 * filled (whatever its status), or -errno (nothing could be read: the
 * cursor could not open or seek). */
int cli_insn_at(struct cli_insn *x, uint64_t seq, const struct vcr_vcpu_state *st,
		struct vcr_insn *out);

/* The same for vCPU `vcpu` with its state at exit seq as the cursor
 * knows it. */
int cli_insn_at_vcpu(struct cli_insn *x, uint64_t seq, uint32_t vcpu, struct vcr_insn *out);

/* The text form: "\"TEXT\"" (then " (stale)") when decoded (quoted as vcr_json_quote
 * quotes), "unknown (...)" / "invalid (...)" otherwise (vcr_insn_format),
 * and "error" when rc (cli_insn_at's result) is negative. */
void cli_insn_print(FILE *f, int rc, const struct vcr_insn *in);

/* The guest-physical reader for core/disasm.h over the live VMM is in
 * cli/cmd_run.c; this one reads the cursor at its position. */
int cli_insn_read_cursor(void *cursor, uint64_t gpa, void *buf, size_t len);
/* The same, falling back on stale bytes (ctx: the struct cli_insn, whose
 * `stale` it sets when it did). */
int cli_insn_read_lenient(void *ctx, uint64_t gpa, void *buf, size_t len);

#endif
