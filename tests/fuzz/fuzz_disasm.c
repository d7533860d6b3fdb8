/*
 * fuzz_disasm: core/disasm.h on any vCPU state and guest memory. Input: a
 * struct vcr_vcpu_state, one flags byte, then guest-physical memory from
 * gpa 0 (reads past it are -ENOENT, and so are reads that touch the 16
 * bytes at 64 * (flags >> 1), a hole, so that instructions and page
 * walks run into unknown bytes). With flag bit 0 the state's cr3, rip and
 * cs.base are folded into the memory, where page walks get somewhere. Checks what the contract promises:
 * nbytes <= 15, len <= nbytes when decoded, NUL-terminated text, formats
 * that fit, and the same result from vcr_disasm_bytes on the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/disasm.h"

struct mem {
	const uint8_t *p;
	size_t n;
	uint64_t hole;		/* 16 unknown bytes from here */
};

static int rd(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct mem *m = ctx;
	if (gpa >= m->n || len > m->n - gpa)
		return -ENOENT;
	if (len && gpa < m->hole + 16 && gpa + len > m->hole)
		return -ENOENT;
	memcpy(buf, m->p + gpa, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vcr_disasm *d;
	struct vcr_vcpu_state st;
	struct vcr_insn in, again;
	struct mem m;
	char buf[VCR_INSN_TEXT + 100];

	if (size < sizeof(st) + 1)
		return 0;
	if (!d && vcr_disasm_open(&d) != 0)
		abort();
	memcpy(&st, data, sizeof(st));
	m.p = data + sizeof(st) + 1;
	m.n = size - sizeof(st) - 1;
	m.hole = 64u * (data[sizeof(st)] >> 1);
	if ((data[sizeof(st)] & 1) && m.n) {
		st.sregs.cr3 %= m.n;
		st.regs.rip %= m.n;
		st.sregs.cs.base %= m.n;
	}
	if (vcr_disasm_at(d, &st, rd, &m, &in) != 0)
		abort();	/* only -ENOENT comes from rd */
	if (in.nbytes > VCR_INSN_MAX || (in.status == VCR_INSN_OK && (!in.len || in.len > in.nbytes)))
		abort();
	if (!memchr(in.text, 0, sizeof(in.text)))
		abort();
	if (in.mode != vcr_disasm_mode(&st))
		abort();
	int n = vcr_insn_format(&in, buf, sizeof(buf));
	if (n < 0 || (size_t)n >= sizeof(buf))
		abort();
	if (vcr_disasm_bytes(d, in.bytes, in.nbytes, in.mode, in.rip, &again) != 0 ||
	    again.status != in.status || again.len != in.len || strcmp(again.text, in.text))
		abort();
	return 0;
}
