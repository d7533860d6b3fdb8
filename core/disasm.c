/* core/disasm.c: the instruction at rip (see disasm.h). Mode and address
 * rules: Intel SDM vol. 1, 3.3 "Memory organization" and vol. 3, 2.2
 * "Modes of operation"; decoding is capstone's (cs_disasm_iter on a
 * preallocated cs_insn, so a decode allocates nothing). */
#include "core/disasm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <capstone.h>

#define CR0_PE		(1ull << 0)
#define EFER_LMA	(1ull << 10)
#define RFLAGS_VM	(1ull << 17)

enum { MODE16, MODE32, MODE64, NMODES };

struct vcr_disasm {
	csh h[NMODES];
	cs_insn *insn[NMODES];
};

void vcr_disasm_close(struct vcr_disasm *d)
{
	if (!d)
		return;
	for (int m = 0; m < NMODES; m++) {
		if (d->insn[m])
			cs_free(d->insn[m], 1);
		if (d->h[m])
			cs_close(&d->h[m]);
	}
	free(d);
}

int vcr_disasm_open(struct vcr_disasm **out)
{
	static const cs_mode modes[NMODES] = { CS_MODE_16, CS_MODE_32, CS_MODE_64 };
	struct vcr_disasm *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return -ENOMEM;
	for (int m = 0; m < NMODES; m++) {
		cs_err e = cs_open(CS_ARCH_X86, modes[m], &d->h[m]);
		if (e != CS_ERR_OK) {
			d->h[m] = 0;
			vcr_disasm_close(d);
			return e == CS_ERR_MEM ? -ENOMEM : -ENOSYS;
		}
		/* AT&T, as the guests' GNU as sources and gdb write it. */
		if (cs_option(d->h[m], CS_OPT_SYNTAX, CS_OPT_SYNTAX_ATT) != CS_ERR_OK ||
		    !(d->insn[m] = cs_malloc(d->h[m]))) {
			vcr_disasm_close(d);
			return -ENOMEM;
		}
	}
	*out = d;
	return 0;
}

unsigned vcr_disasm_mode(const struct vcr_vcpu_state *st)
{
	const struct kvm_sregs *s = &st->sregs;

	if (!(s->cr0 & CR0_PE) || (st->regs.rflags & RFLAGS_VM))
		return 16;
	if ((s->efer & EFER_LMA) && s->cs.l)
		return 64;
	return s->cs.db ? 32 : 16;
}

uint64_t vcr_disasm_linear(const struct vcr_vcpu_state *st)
{
	if (vcr_disasm_mode(st) == 64)
		return st->regs.rip;
	return (st->sregs.cs.base + st->regs.rip) & 0xffffffffull;
}

static void hex_bytes(char *buf, size_t len, const uint8_t *p, unsigned n)
{
	size_t off = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%02x", i ? " " : "", p[i]);
}

int vcr_disasm_bytes(struct vcr_disasm *d, const uint8_t *bytes, size_t n, unsigned mode,
		     uint64_t rip, struct vcr_insn *out)
{
	int m = mode == 16 ? MODE16 : mode == 32 ? MODE32 : mode == 64 ? MODE64 : -1;

	if (m < 0)
		return -EINVAL;
	if (n > VCR_INSN_MAX)
		n = VCR_INSN_MAX;
	memset(out, 0, sizeof(*out));
	out->mode = mode;
	out->rip = rip;
	out->nbytes = (uint8_t)n;
	memcpy(out->bytes, bytes, n);

	const uint8_t *code = out->bytes;
	size_t size = n;
	uint64_t addr = rip;
	cs_insn *in = d->insn[m];
	/* capstone fails alike on bytes that end too soon and on bytes that
	 * are no instruction: only a full 15 tells them apart. A success on
	 * fewer is final: the decoder never needed the missing ones. */
	if (n == 0 || !cs_disasm_iter(d->h[m], &code, &size, &addr, in)) {
		out->status = n == VCR_INSN_MAX ? VCR_INSN_INVALID : VCR_INSN_UNKNOWN;
		out->why = n == VCR_INSN_MAX ? VCR_INSN_WHY_NONE : VCR_INSN_WHY_SHORT;
		return 0;
	}
	out->status = VCR_INSN_OK;
	out->len = (uint8_t)in->size;
	snprintf(out->text, sizeof(out->text), "%s%s%s", in->mnemonic, in->op_str[0] ? " " : "",
		 in->op_str);
	return 0;
}

/* The read callback, noting the address of the first failure. */
struct fetch {
	vcr_mmu_read_fn read;
	void *ctx;
	uint64_t failed_gpa;
};

static int fetch_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct fetch *f = ctx;
	int rc = f->read(f->ctx, gpa, buf, len);
	if (rc)
		f->failed_gpa = gpa;
	return rc;
}

/* The longest readable prefix of [gpa, gpa + n), n >= 1 bytes, whose full
 * read failed with -ENOENT: readability is monotonic in the length (a
 * shorter range holds only bytes of the longer), so bisect. */
static int known_prefix(struct fetch *f, uint64_t gpa, uint8_t *buf, size_t n, size_t *got)
{
	size_t lo = 0, hi = n;	/* lo bytes known readable; hi are not */

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		int rc = f->read(f->ctx, gpa, buf, mid);
		if (rc == 0)
			lo = mid;
		else if (rc == -ENOENT)
			hi = mid;
		else
			return rc;
	}
	if (lo && f->read(f->ctx, gpa, buf, lo))
		return -EIO;	/* it was readable a moment ago */
	*got = lo;
	return 0;
}

int vcr_disasm_at(struct vcr_disasm *d, const struct vcr_vcpu_state *st,
		  vcr_mmu_read_fn read, void *ctx, struct vcr_insn *out)
{
	struct fetch f = { .read = read, .ctx = ctx };
	unsigned mode = vcr_disasm_mode(st);
	uint64_t linear = vcr_disasm_linear(st), gpa0 = 0;
	uint8_t buf[VCR_INSN_MAX];
	size_t got = 0;
	enum vcr_insn_why why = VCR_INSN_WHY_NONE;
	uint64_t where = 0;
	int rc;

	while (got < VCR_INSN_MAX) {
		uint64_t lin = linear + got, gpa, left;
		if (mode != 64)
			lin &= 0xffffffffull;
		rc = vcr_mmu_translate(st, lin, fetch_read, &f, &gpa, &left);
		if (rc == -EFAULT) {
			why = VCR_INSN_WHY_NOT_MAPPED;
			where = lin;
			break;
		}
		if (rc == -ENOENT) {
			why = VCR_INSN_WHY_NO_TABLES;
			where = f.failed_gpa;
			break;
		}
		if (rc)
			return rc;
		if (!got)
			gpa0 = gpa;
		size_t n = VCR_INSN_MAX - got;
		if (left < n)
			n = (size_t)left;
		rc = read(ctx, gpa, buf + got, n);
		if (rc == -ENOENT) {
			size_t k;
			if ((rc = known_prefix(&f, gpa, buf + got, n, &k)))
				return rc;
			got += k;
			why = VCR_INSN_WHY_NO_BYTES;
			where = gpa + k;
			break;
		}
		if (rc)
			return rc;
		got += n;
	}
	rc = vcr_disasm_bytes(d, buf, got, mode, st->regs.rip, out);
	if (rc)
		return rc;
	out->linear = linear;
	out->gpa = got ? gpa0 : 0;
	if (out->status == VCR_INSN_UNKNOWN) {
		out->why = why;
		out->where = where;
	}
	return 0;
}

int vcr_insn_format(const struct vcr_insn *in, char *buf, size_t len)
{
	char hex[3 * VCR_INSN_MAX + 1], known[3 * VCR_INSN_MAX + 40] = "";
	unsigned long long w = (unsigned long long)in->where;

	hex_bytes(hex, sizeof(hex), in->bytes, in->nbytes);
	switch (in->status) {
	case VCR_INSN_OK:
		return snprintf(buf, len, "%s", in->text);
	case VCR_INSN_INVALID:
		return snprintf(buf, len, "invalid (%s)", hex);
	case VCR_INSN_UNKNOWN:
		break;
	}
	if (in->nbytes)
		snprintf(known, sizeof(known), "%u byte%s known: %s; then ", in->nbytes,
			 in->nbytes == 1 ? "" : "s", hex);
	switch (in->why) {
	case VCR_INSN_WHY_NO_BYTES:
		return snprintf(buf, len, "unknown (%sno bytes at gpa %#llx)", known, w);
	case VCR_INSN_WHY_NOT_MAPPED:
		return snprintf(buf, len, "unknown (%slinear %#llx not mapped)", known, w);
	case VCR_INSN_WHY_NO_TABLES:
		return snprintf(buf, len, "unknown (%spage table entry at gpa %#llx not known)",
				known, w);
	case VCR_INSN_WHY_SHORT:
	case VCR_INSN_WHY_NONE:
		break;
	}
	return snprintf(buf, len, "unknown (%sno more bytes)", known);
}

const char *vcr_insn_status_name(enum vcr_insn_status s)
{
	return s == VCR_INSN_OK ? "ok" : s == VCR_INSN_INVALID ? "invalid" : "unknown";
}

const char *vcr_insn_why_name(enum vcr_insn_why w)
{
	switch (w) {
	case VCR_INSN_WHY_NO_BYTES: return "no_bytes";
	case VCR_INSN_WHY_NOT_MAPPED: return "not_mapped";
	case VCR_INSN_WHY_NO_TABLES: return "no_tables";
	case VCR_INSN_WHY_SHORT: return "short";
	case VCR_INSN_WHY_NONE: break;
	}
	return "";
}
