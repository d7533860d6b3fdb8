/*
 * core/end.h: how a run ends, named once for everything that speaks of it:
 * the VMM decides it (vmm/end.c), the trace stores it in its END record
 * (formats/, docs/format.md), dump, stats, diff and the CLI print it.
 *
 * The numbers are part of the trace format: never renumber, only append.
 * Plain data; no state, any thread.
 */
#ifndef VCR_CORE_END_H
#define VCR_CORE_END_H

#include <stdint.h>

enum vcr_end_how {
	VCR_END_EXIT_PORT = 1,	/* guest wrote the test exit port: status */
	VCR_END_HLT = 2,	/* halted with nothing to wake it */
	VCR_END_SHUTDOWN = 3,	/* triple fault */
	VCR_END_INTERNAL_ERROR = 4,
	VCR_END_FAIL_ENTRY = 5,
	VCR_END_SIGNAL = 6,	/* SIGINT/SIGTERM: status = signal number */
	VCR_END_ERROR = 7,	/* vcr itself failed (e.g. disk full): see msg */
	VCR_END_GDB_KILL = 8,	/* gdb's 'k' */
	VCR_END_SYSTEM_EVENT = 9,
	VCR_END_VMM_EXIT = 10,	/* a foreign VMM (vcr record) exited: status */
	VCR_END_RESET = 11,	/* guest reset the machine (i8042 pulse: reboot) */
	VCR_END_PANIC = 12,	/* the console said "Kernel panic - not syncing" */
};

/* Stable lower-case names, used by dump, stats, diff, JSON and messages:
 * "exit_port", "hlt", "shutdown", ...; "unknown" for values this vcr does
 * not know. */
const char *vcr_end_how_name(uint32_t how);

#endif
