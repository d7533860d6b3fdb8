/* tools/gen.c: synthetic test-guest traces (see gen.h). */
#include "tools/gen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/trace.h"

void vcr_gen_opts_init(struct vcr_gen_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->exits = 1000;
	o->vcpus = 1;
	o->input_at = o->extra_at = o->reg_at = -1;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t l, uint8_t db)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->l = l;
	s->db = db;
	s->g = 1;
}

/* A long-mode vCPU as a loader would leave it. */
static void initial_state(struct vcr_vcpu_state *st, uint32_t v)
{
	memset(st, 0, sizeof(*st));
	st->regs.rflags = 0x2;
	st->regs.rsp = 0x80000 - 0x1000 * (uint64_t)v;
	st->regs.rip = 0x100000;
	seg(&st->sregs.cs, 0x8, 0xb, 1, 0);
	seg(&st->sregs.ds, 0x10, 0x3, 0, 1);
	st->sregs.es = st->sregs.ss = st->sregs.fs = st->sregs.gs = st->sregs.ds;
	st->sregs.tr.type = 0xb;
	st->sregs.tr.present = 1;
	st->sregs.tr.limit = 0x67;
	st->sregs.ldt.type = 0x2;
	st->sregs.ldt.present = 1;
	st->sregs.ldt.unusable = 1;
	st->sregs.cr0 = 0x80050033;
	st->sregs.cr3 = 0x9000;
	st->sregs.cr4 = 0x20;
	st->sregs.efer = 0x500;
	st->sregs.apic_base = 0xfee00900 & ~(v ? 0x100u : 0u);
	st->sregs.gdt.base = 0x500;
	st->sregs.gdt.limit = 0x1f;
	vcr_state_normalize(st);
}

static uint8_t input_byte(uint32_t v, uint64_t e)
{
	uint64_t x = (e + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)v << 32;
	return (uint8_t)(x >> 56);
}

struct gen_vcpu {
	struct vcr_vcpu_state st;
	uint64_t e;		/* model exit index (without extras) */
	uint32_t extra_done;
};

static int append(struct vcr_writer *w, const struct vcr_record *rec, struct vcr_err *err)
{
	int rc = vcr_writer_append(w, rec);
	if (rc < 0)
		return vcr_err_set(err, rc, UINT64_MAX, "append: %s", strerror(-rc));
	return 0;
}

static int gen_check_opts(const struct vcr_gen_opts *o, struct vcr_err *err)
{
	if (o->vcpus == 0 || o->vcpus > VCR_TRACE_MAX_VCPUS)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "vcpus must be 1..%u",
				   VCR_TRACE_MAX_VCPUS);
	if (o->input_at >= 0 && o->input_at % 8 != 3 && o->input_at % 8 != 7 &&
	    o->input_at % 8 != 6)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "exit %lld takes no input (inputs are at e %% 8 = 3, 6, 7)",
				   (long long)o->input_at);
	return 0;
}

/* --marker: what a loader leaves before the first exit, a memory write and
 * a marker. */
static int gen_boot_records(struct vcr_writer *w, struct vcr_record *rec, struct vcr_err *err)
{
	static const uint8_t loaded[] = { 0xe6, 0xf8, 0xeb, 0xfc };
	int rc;

	memset(rec, 0, sizeof(*rec));
	rec->type = VCR_REC_MEM_WRITE;
	rec->u.mem.gpa = 0x100000;
	rec->u.mem.len = sizeof(loaded);
	rec->u.mem.data = loaded;
	if ((rc = append(w, rec, err)) < 0)
		return rc;
	memset(rec, 0, sizeof(*rec));
	rec->type = VCR_REC_MARKER;
	rec->u.marker.text = "boot \"gen\"\tstart";
	return append(w, rec, err);
}

/* --code: what the loader of the model guest writes: identity page tables
 * at cr3 (0x9000: PML4, PDPT at 0xa000, one 2 MiB page at 0 in the PD at
 * 0xb000) and, at each op's rip, an instruction that makes its exit (rip
 * stands on the exiting instruction, as kvm_amd reports port I/O):
 *   0,1,4  ee                       out %al,(%dx)
 *   2      a3 b0 00 e0 fe 00.. (x4) movabs %eax,0xfee000b0
 *   3,7    e4 60                    in $0x60,%al
 *   5      e6 80                    out %al,$0x80
 *   6      a1 00 00 d0 fe 00.. (x4) movabs 0xfed00000,%eax
 *   extra  e6 e9 at 0x100100 + 2k   out %al,$0xe9 (k < 64) */
static int gen_code(struct vcr_writer *w, struct vcr_record *rec, struct vcr_err *err)
{
	static const uint8_t ops[8][9] = {
		{ 0xee }, { 0xee }, { 0xa3, 0xb0, 0x00, 0xe0, 0xfe }, { 0xe4, 0x60 },
		{ 0xee }, { 0xe6, 0x80 }, { 0xa1, 0x00, 0x00, 0xd0, 0xfe }, { 0xe4, 0x60 },
	};
	static const uint64_t tables[3][2] = {
		{ 0x9000, 0xa003 }, { 0xa000, 0xb003 }, { 0xb000, 0x83 },
	};
	uint8_t code[0x100 + 2 * 64];
	int rc;

	for (int i = 0; i < 3; i++) {
		memset(rec, 0, sizeof(*rec));
		rec->type = VCR_REC_MEM_WRITE;
		rec->u.mem.gpa = tables[i][0];
		rec->u.mem.len = 8;
		rec->u.mem.data = (const uint8_t *)&tables[i][1];
		if ((rc = append(w, rec, err)) < 0)
			return rc;
	}
	memset(code, 0x90, sizeof(code));
	for (int op = 0; op < 8; op++)
		memcpy(code + op * 0x10, ops[op], sizeof(ops[op]));
	for (int k = 0; k < 64; k++) {
		code[0x100 + 2 * k] = 0xe6;
		code[0x100 + 2 * k + 1] = 0xe9;
	}
	memset(rec, 0, sizeof(*rec));
	rec->type = VCR_REC_MEM_WRITE;
	rec->u.mem.gpa = 0x100000;
	rec->u.mem.len = sizeof(code);
	rec->u.mem.data = code;
	return append(w, rec, err);
}

/* A one-byte port I/O exit. */
static void gen_io(struct vcr_exit *x, uint8_t direction, uint16_t port)
{
	x->reason = KVM_EXIT_IO;
	x->u.io.direction = direction;
	x->u.io.size = 1;
	x->u.io.port = port;
	x->u.io.count = 1;
}

/* An extra exit the variant guest makes (debug port), into rec, whose exit
 * is zeroed: the state is g's but for rip and rax. */
static void gen_extra_exit(struct gen_vcpu *g, struct vcr_record *rec)
{
	struct vcr_exit *x = &rec->u.exit.exit;

	gen_io(x, KVM_EXIT_IO_OUT, 0xe9);
	x->data[0] = (uint8_t)('0' + g->extra_done);
	x->data_len = 1;
	/* The extra code saves and restores what it uses, so the run is the
	 * same again after it. */
	rec->u.exit.state = g->st;
	rec->u.exit.state.regs.rip = 0x100100 + 2 * (uint64_t)g->extra_done;
	rec->u.exit.state.regs.rax = x->data[0];
	g->extra_done++;
}

/* What an exit asks the VMM to answer: an INPUT of len bytes, or nothing
 * (len 0). */
struct gen_input {
	uint32_t kind, len;
};

/* Model exit e (its op: e % 8) into x (zeroed), updating st. */
static struct gen_input gen_model_exit(struct vcr_exit *x, struct vcr_vcpu_state *st, uint64_t e)
{
	unsigned op = (unsigned)(e % 8);

	switch (op) {
	case 0: case 1: case 4: case 5:
		gen_io(x, KVM_EXIT_IO_OUT, op == 5 ? 0x80 : 0x3f8);
		x->data[0] = (uint8_t)('a' + e % 26);
		x->data_len = 1;
		st->regs.rax = x->data[0];
		st->regs.rdx = x->u.io.port;
		return (struct gen_input){ 0, 0 };
	case 2:
		x->reason = KVM_EXIT_MMIO;
		x->u.mmio.phys_addr = 0xfee000b0;
		x->u.mmio.len = 4;
		x->u.mmio.is_write = 1;
		memcpy(x->data, &e, 4);
		x->data_len = 4;
		return (struct gen_input){ 0, 0 };
	case 6:
		x->reason = KVM_EXIT_MMIO;
		x->u.mmio.phys_addr = 0xfed00000;
		x->u.mmio.len = 4;
		return (struct gen_input){ VCR_INPUT_MMIO_READ, 4 };
	default: /* 3, 7 */
		gen_io(x, KVM_EXIT_IO_IN, 0x60);
		st->regs.rdx = 0x60;
		return (struct gen_input){ VCR_INPUT_IO_IN, 1 };
	}
}

/* The VMM's answer b to vCPU v's exit: its first byte (the rest zero). */
static int gen_input_record(struct vcr_writer *w, struct vcr_record *rec, uint32_t v,
			    struct gen_input in, uint8_t b, struct vcr_err *err)
{
	memset(rec, 0, offsetof(struct vcr_record, u) + 16);
	rec->type = VCR_REC_INPUT;
	rec->vcpu = v;
	rec->u.input.kind = in.kind;
	rec->u.input.len = in.len;
	memset(rec->u.input.data, 0, in.len);
	rec->u.input.data[0] = b;
	return append(w, rec, err);
}

/* Trace exit n: vCPU n % vcpus makes its next model exit (or, the variant
 * vCPU at extra_at, an extra one first), with its input. */
static int gen_exit(struct vcr_writer *w, struct vcr_record *rec, const struct vcr_gen_opts *o,
		    struct gen_vcpu *vc, uint64_t n, struct vcr_err *err)
{
	uint32_t v = (uint32_t)(n % o->vcpus);
	struct gen_vcpu *g = &vc[v];
	struct vcr_vcpu_state *st = &g->st;
	bool variant = v == o->variant_vcpu;
	uint64_t e = g->e;
	int rc;

	memset(&rec->u.exit.exit, 0, offsetof(struct vcr_exit, data) + 8);
	rec->type = VCR_REC_EXIT;
	rec->vcpu = v;
	rec->u.exit.valid = VCR_CLASS_ALL;

	if (variant && o->extra_at >= 0 && e == (uint64_t)o->extra_at &&
	    g->extra_done < o->extra) {
		gen_extra_exit(g, rec);
		return append(w, rec, err);
	}

	st->regs.rip = 0x100000 + (unsigned)(e % 8) * 0x10;
	st->regs.rcx = e;
	st->regs.rdx = 0;
	if (variant && o->reg_at >= 0 && e == (uint64_t)o->reg_at)
		st->regs.rdi = o->reg_value;
	struct gen_input in = gen_model_exit(&rec->u.exit.exit, st, e);
	rec->u.exit.state = *st;
	if ((rc = append(w, rec, err)) < 0)
		return rc;
	if (in.len) {
		uint8_t b = input_byte(v, e);
		if (variant && o->input_at >= 0 && e == (uint64_t)o->input_at)
			b ^= 0x5a;
		if ((rc = gen_input_record(w, rec, v, in, b, err)) < 0)
			return rc;
		/* The guest keeps what it read: visible from the next exit
		 * on. */
		st->regs.rbx = b;
	}
	g->e++;
	return 0;
}

/* END (unless --no-end or --cut), then close the trace, or with --cut
 * leave it as a crash would (flushed, no footer). Takes w. */
static int gen_finish(struct vcr_writer *w, struct vcr_record *rec, const struct vcr_gen_opts *o,
		      struct vcr_err *err)
{
	int rc;

	if (!o->no_end && !o->cut) {
		memset(rec, 0, sizeof(*rec));
		rec->type = VCR_REC_END;
		rec->u.end.how = VCR_END_EXIT_PORT;
		rec->u.end.status = o->end_status;
		rec->u.end.msg = "";
		if ((rc = append(w, rec, err)) < 0) {
			vcr_writer_abort(w);
			return rc;
		}
	}
	if (o->cut) {
		rc = vcr_writer_flush(w);
		vcr_writer_abort(w);
		if (rc < 0)
			rc = vcr_err_set(err, rc, UINT64_MAX, "flush: %s", strerror(-rc));
		return rc;
	}
	rc = vcr_writer_close(w);
	if (rc < 0)
		rc = vcr_err_set(err, rc, UINT64_MAX, "close: %s", strerror(-rc));
	return rc;
}

int vcr_gen_trace(const char *path, const struct vcr_gen_opts *o, struct vcr_err *err)
{
	static const struct vcr_mem_region mem[1] = { { 0, 0x4000000, 0 } };
	static const struct kvm_cpuid_entry2 cpuid[1] = {
		{ .function = 0, .eax = 0xd, .ebx = 0x756e6547 },
	};
	static const struct vcr_kv kv[3] = {
		{ "loader", "synthetic" }, { "guest", "vcr_gen test guest" }, { "mode", "long" },
	};
	static const uint8_t image[] = "\xe6\xf8\xeb\xfc vcr_gen synthetic guest";
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64,
		.kvm_api_version = 12,
		.sync_regs_mask = VCR_CLASS_ALL,
		.nvcpus = o->vcpus,
		.mem = mem, .nmem = 1,
		.cpuid = cpuid, .ncpuid = 1,
		.image_mode = VCR_IMAGE_EMBEDDED,
		.image_path = "gen.bin",
		.image = image, .image_size = sizeof(image),
		.cmdline = "gen_trace",
		.kv = kv, .nkv = 3,
	};
	struct vcr_writer_opts wo = { .chunk_exits = o->chunk_exits, .ring_bytes = o->ring_bytes };
	struct vcr_writer *w = NULL;
	struct gen_vcpu *vc = NULL;
	struct vcr_record *rec = NULL;
	int rc;

	if ((rc = gen_check_opts(o, err)) < 0)
		return rc;
	vc = calloc(o->vcpus, sizeof(*vc));
	rec = calloc(1, sizeof(*rec));
	if (!vc || !rec) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto out;
	}
	if ((rc = vcr_writer_open(&w, path, &info, &wo, err)) < 0)
		goto out;
	for (uint32_t v = 0; v < o->vcpus; v++)
		initial_state(&vc[v].st, v);
	if (o->marker && (rc = gen_boot_records(w, rec, err)) < 0)
		goto out;
	if (o->code && (rc = gen_code(w, rec, err)) < 0)
		goto out;
	for (uint64_t n = 0; n < o->exits; n++)
		if ((rc = gen_exit(w, rec, o, vc, n, err)) < 0)
			goto out;
	rc = gen_finish(w, rec, o, err);
	w = NULL;
out:
	if (w)
		vcr_writer_abort(w);
	free(vc);
	free(rec);
	return rc;
}
