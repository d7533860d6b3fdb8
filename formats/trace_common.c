/* formats/trace_common.c: pieces shared by the trace writer and reader. */
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
