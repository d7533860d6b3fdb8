/* core/end.c: the names of the end-of-run reasons (core/end.h). */
#include "core/end.h"

const char *vcr_end_how_name(uint32_t how)
{
	switch (how) {
	case VCR_END_EXIT_PORT: return "exit_port";
	case VCR_END_HLT: return "hlt";
	case VCR_END_SHUTDOWN: return "shutdown";
	case VCR_END_INTERNAL_ERROR: return "internal_error";
	case VCR_END_FAIL_ENTRY: return "fail_entry";
	case VCR_END_SIGNAL: return "signal";
	case VCR_END_ERROR: return "error";
	case VCR_END_GDB_KILL: return "gdb_kill";
	case VCR_END_SYSTEM_EVENT: return "system_event";
	case VCR_END_VMM_EXIT: return "vmm_exit";
	case VCR_END_RESET: return "reset";
	case VCR_END_PANIC: return "panic";
	default: return "unknown";
	}
}
