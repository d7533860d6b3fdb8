/*
 * core/mem.h: one guest physical memory slot, as the VMM gives it to KVM
 * (KVM_SET_USER_MEMORY_REGION) and as a trace header lists it. Shared by
 * vmm/ and formats/ so that neither includes the other. Plain data.
 */
#ifndef VCR_CORE_MEM_H
#define VCR_CORE_MEM_H

#include <stdint.h>

struct vcr_mem_region {
	uint64_t gpa;
	uint64_t size;		/* bytes */
	uint32_t flags;		/* KVM_MEM_* */
};

#endif
