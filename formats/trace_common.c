/* formats/trace_common.c: pieces shared by the trace writer and reader. */
#include <errno.h>
#include <stdlib.h>
#include "formats/trace.h"
#include "formats/trace_fmt.h"

uint64_t trf_hash(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

const struct trf_class trf_classes[3] = {
	{ VCR_CLASS_REGS, 0, TRF_WORDS_REGS },
	{ VCR_CLASS_SREGS, TRF_WORDS_REGS, TRF_WORDS_SREGS },
	{ VCR_CLASS_EVENTS, TRF_WORDS_REGS + TRF_WORDS_SREGS, TRF_WORDS_EVENTS },
};

const char *vcr_trace_info_get(const struct vcr_trace_info *info, const char *key)
{
	for (uint32_t i = 0; i < info->nkv; i++)
		if (info->kv[i].key && !strcmp(info->kv[i].key, key))
			return info->kv[i].value;
	return NULL;
}

const char *vcr_rec_type_name(uint32_t type)
{
	switch (type) {
	case VCR_REC_EXIT: return "exit";
	case VCR_REC_INPUT: return "input";
	case VCR_REC_SET_STATE: return "set_state";
	case VCR_REC_INJECT: return "inject";
	case VCR_REC_MEM_WRITE: return "mem_write";
	case VCR_REC_MEM_PAGES: return "mem_pages";
	case VCR_REC_MARKER: return "marker";
	case VCR_REC_END: return "end";
	default: return "unknown";
	}
}

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
	default: return "unknown";
	}
}

int trf_grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	uint8_t *p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}
