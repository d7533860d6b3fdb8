/*
 * vmm/cpuid_spec.c: `--cpuid SPEC`, CPUID edited the way QEMU's -cpu flags
 * edit theirs (vmm.h, vmm_cpuid_spec_apply): "MODEL[,+FLAG|-FLAG|FLAG=on|
 * FLAG=off|vendor=ID]...". MODEL is "host" or "max" (KVM's supported CPUID,
 * what vcr gives anyway) or a named model, which vcr does not emulate: its
 * name is accepted and the flags are applied to KVM's CPUID all the same
 * (docs/vmm.md says so). +FLAG sets a feature only where the machine's
 * CPUID (KVM's, less what the machine cannot back) has it, as QEMU drops
 * unsupported ones; -FLAG clears it; vendor= sets leaf 0's
 * 12-byte vendor string; hv-passthrough offers KVM's Hyper-V emulation
 * (vmm/hyperv.c). A flag name vcr does not know is an error, so a
 * typo never silently tests something else.
 */
#include "vmm/vmm_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { R_EAX, R_EBX, R_ECX, R_EDX };

struct cpuid_flag {
	const char *name;
	uint32_t leaf, index;
	uint8_t reg, bit;
};

static const struct cpuid_flag cpuid_flags[] = {
	{ "sse3", 1, 0, R_ECX, 0 }, { "pclmulqdq", 1, 0, R_ECX, 1 },
	{ "monitor", 1, 0, R_ECX, 3 }, { "vmx", 1, 0, R_ECX, 5 },
	{ "ssse3", 1, 0, R_ECX, 9 }, { "fma", 1, 0, R_ECX, 12 },
	{ "cx16", 1, 0, R_ECX, 13 }, { "pdcm", 1, 0, R_ECX, 15 },
	{ "pcid", 1, 0, R_ECX, 17 }, { "sse4.1", 1, 0, R_ECX, 19 },
	{ "sse4.2", 1, 0, R_ECX, 20 }, { "x2apic", 1, 0, R_ECX, 21 },
	{ "movbe", 1, 0, R_ECX, 22 }, { "popcnt", 1, 0, R_ECX, 23 },
	{ "tsc-deadline", 1, 0, R_ECX, 24 }, { "aes", 1, 0, R_ECX, 25 },
	{ "xsave", 1, 0, R_ECX, 26 }, { "avx", 1, 0, R_ECX, 28 },
	{ "f16c", 1, 0, R_ECX, 29 }, { "rdrand", 1, 0, R_ECX, 30 },
	{ "tsc", 1, 0, R_EDX, 4 }, { "msr", 1, 0, R_EDX, 5 },
	{ "pae", 1, 0, R_EDX, 6 }, { "apic", 1, 0, R_EDX, 9 },
	{ "sep", 1, 0, R_EDX, 11 }, { "mtrr", 1, 0, R_EDX, 12 },
	{ "pge", 1, 0, R_EDX, 13 }, { "cmov", 1, 0, R_EDX, 15 },
	{ "pat", 1, 0, R_EDX, 16 }, { "pse36", 1, 0, R_EDX, 17 },
	{ "clflush", 1, 0, R_EDX, 19 }, { "mmx", 1, 0, R_EDX, 23 },
	{ "fxsr", 1, 0, R_EDX, 24 }, { "sse", 1, 0, R_EDX, 25 },
	{ "sse2", 1, 0, R_EDX, 26 },
	{ "fsgsbase", 7, 0, R_EBX, 0 }, { "tsc-adjust", 7, 0, R_EBX, 1 },
	{ "bmi1", 7, 0, R_EBX, 3 }, { "hle", 7, 0, R_EBX, 4 },
	{ "avx2", 7, 0, R_EBX, 5 }, { "smep", 7, 0, R_EBX, 7 },
	{ "bmi2", 7, 0, R_EBX, 8 }, { "erms", 7, 0, R_EBX, 9 },
	{ "invpcid", 7, 0, R_EBX, 10 }, { "rtm", 7, 0, R_EBX, 11 },
	{ "avx512f", 7, 0, R_EBX, 16 }, { "rdseed", 7, 0, R_EBX, 18 },
	{ "adx", 7, 0, R_EBX, 19 }, { "smap", 7, 0, R_EBX, 20 },
	{ "clflushopt", 7, 0, R_EBX, 23 }, { "clwb", 7, 0, R_EBX, 24 },
	{ "umip", 7, 0, R_ECX, 2 }, { "pku", 7, 0, R_ECX, 3 },
	{ "la57", 7, 0, R_ECX, 16 }, { "rdpid", 7, 0, R_ECX, 22 },
	{ "lahf-lm", 0x80000001, 0, R_ECX, 0 }, { "svm", 0x80000001, 0, R_ECX, 2 },
	{ "abm", 0x80000001, 0, R_ECX, 5 }, { "skinit", 0x80000001, 0, R_ECX, 12 },
	{ "syscall", 0x80000001, 0, R_EDX, 11 }, { "nx", 0x80000001, 0, R_EDX, 20 },
	{ "pdpe1gb", 0x80000001, 0, R_EDX, 26 }, { "rdtscp", 0x80000001, 0, R_EDX, 27 },
	{ "lm", 0x80000001, 0, R_EDX, 29 },
	{ "rdpru", 0x80000008, 0, R_EBX, 4 },
};

static uint32_t *cpuid_reg(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t index, int reg)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != leaf)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		uint32_t *r[] = { &e->eax, &e->ebx, &e->ecx, &e->edx };
		return r[reg];
	}
	return NULL;
}

/* name[0..len) is flag n; QEMU spells some with '_' too (lahf_lm,
 * tsc_deadline, hv_passthrough). */
static bool flag_name_is(const char *n, const char *name, size_t len)
{
	if (strlen(n) != len)
		return false;
	size_t k = 0;
	while (k < len && (n[k] == name[k] || (n[k] == '-' && name[k] == '_')))
		k++;
	return k == len;
}

static const struct cpuid_flag *cpuid_flag_find(const char *name, size_t len)
{
	for (size_t i = 0; i < VCR_ARRAY_SIZE(cpuid_flags); i++)
		if (flag_name_is(cpuid_flags[i].name, name, len))
			return &cpuid_flags[i];
	return NULL;
}

/* One pass over spec: check everything; apply to c when c != NULL (sup:
 * what KVM supports, for +FLAG). */
static int cpuid_spec_walk(const char *spec, struct kvm_cpuid2 *c, struct kvm_cpuid2 *sup,
			   bool *hv, struct vcr_err *err)
{
	const char *p = strchr(spec, ',');
	size_t mlen = p ? (size_t)(p - spec) : strlen(spec);

	if (!mlen)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "--cpuid %s: no model", spec);
	while (p && *p == ',') {
		const char *s = p + 1;
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		int on = -1;

		p = e;
		/* QEMU's hv-passthrough (or hv_passthrough): every Hyper-V
		 * enlightenment KVM emulates (vmm/hyperv.c), added after the
		 * flags. */
		if (flag_name_is("hv-passthrough", s, len) ||
		    (len > 3 && !strncmp(s + len - 3, "=on", 3) &&
		     flag_name_is("hv-passthrough", s, len - 3))) {
			*hv = true;
			continue;
		}
		if (len > 7 && !strncmp(s, "vendor=", 7)) {
			if (len - 7 != 12)
				return vcr_err_set(err, -EINVAL, UINT64_MAX,
						   "--cpuid: vendor must be 12 characters");
			uint32_t *b = c ? cpuid_reg(c, 0, 0, R_EBX) : NULL;
			if (c && b) {
				memcpy(b, s + 7, 4);
				memcpy(cpuid_reg(c, 0, 0, R_EDX), s + 11, 4);
				memcpy(cpuid_reg(c, 0, 0, R_ECX), s + 15, 4);
			}
			continue;
		}
		if (len && (*s == '+' || *s == '-')) {
			on = *s == '+';
			s++, len--;
		} else if (len > 3 && !strncmp(s + len - 3, "=on", 3)) {
			on = 1, len -= 3;
		} else if (len > 4 && !strncmp(s + len - 4, "=off", 4)) {
			on = 0, len -= 4;
		}
		const struct cpuid_flag *f = on < 0 ? NULL : cpuid_flag_find(s, len);
		if (!f)
			return vcr_err_set(err, -EINVAL, UINT64_MAX,
					   "--cpuid: '%.*s' is not a feature vcr knows "
					   "(+FLAG, -FLAG, FLAG=on|off, vendor=ID, hv-passthrough)",
					   (int)len, s);
		if (!c)
			continue;
		uint32_t *r = cpuid_reg(c, f->leaf, f->index, f->reg);
		uint32_t *s_r = cpuid_reg(sup, f->leaf, f->index, f->reg);
		if (!r)
			continue;	/* the leaf is absent: the feature already is */
		if (!on)
			*r &= ~(1u << f->bit);
		else if (s_r && (*s_r & (1u << f->bit)))
			*r |= 1u << f->bit;
	}
	return 0;
}

int vmm_cpuid_spec_check(const char *spec, struct vcr_err *err)
{
	bool hv = false;
	return cpuid_spec_walk(spec, NULL, NULL, &hv, err);
}

int vmm_cpuid_spec_apply(struct vmm *vm, const char *spec, struct vcr_err *err)
{
	struct kvm_cpuid2 *sup;
	size_t sz;
	int r;

	if (!vm->cpuid || vm->nvcpus)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "--cpuid: CPUID not set, or too late");
	/* The machine's own table, unedited: +FLAG may bring back only what
	 * it offers (KVM's support, less what the machine cannot back, such
	 * as x2APIC without an in-kernel LAPIC). */
	sz = sizeof(*sup) + (size_t)vm->cpuid->nent * sizeof(sup->entries[0]);
	sup = malloc(sz);
	if (!sup)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	memcpy(sup, vm->cpuid, sz);
	bool hv = false;
	r = cpuid_spec_walk(spec, vm->cpuid, sup, &hv, err);
	free(sup);
	if (!r && hv)
		r = vmm_hyperv_cpuid(vm, err);
	return r;
}
