/*
 * tests/unit/trace_gen.h: deterministic random record streams for the trace
 * tests: several vCPUs, every record type and exit reason, states that
 * change a few words at a time (as real ones do) and sometimes a lot.
 * The same seed gives the same stream, so a test writes a stream, then
 * regenerates it to compare with what the reader returns.
 */
#ifndef VCR_TESTS_TRACE_GEN_H
#define VCR_TESTS_TRACE_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "formats/trace.h"

struct tgen {
	uint64_t rng;
	uint32_t nvcpus;
	struct vcr_vcpu_state st[VCR_TRACE_MAX_VCPUS];	/* model: last state */
	bool known[VCR_TRACE_MAX_VCPUS];
	uint64_t seq, vexits[VCR_TRACE_MAX_VCPUS];
	uint64_t last_seq;
	bool ended;
	bool small;		/* MEM records of at most 300 bytes */
	uint8_t buf[70000];			/* MEM data, marker text */
};

static inline uint64_t tgen_rand(struct tgen *g)
{
	/* splitmix64 */
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t tgen_below(struct tgen *g, uint64_t n)
{
	return n ? tgen_rand(g) % n : 0;
}

static inline void tgen_init(struct tgen *g, uint64_t seed, uint32_t nvcpus)
{
	memset(g, 0, sizeof(*g));
	g->rng = seed;
	g->nvcpus = nvcpus;
	g->last_seq = UINT64_MAX;
}

static inline void tgen_mutate(struct tgen *g, struct vcr_vcpu_state *s)
{
	uint64_t w[sizeof(*s) / 8];
	memcpy(w, s, sizeof(w));
	unsigned n = tgen_below(g, 8) == 0 ? 40 : (unsigned)tgen_below(g, 5);
	for (unsigned i = 0; i < n; i++) {
		unsigned k = tgen_below(g, 4) ? (unsigned)tgen_below(g, 18) /* regs */
					      : (unsigned)tgen_below(g, sizeof(w) / 8);
		switch (tgen_below(g, 3)) {
		case 0: w[k] += 1 + tgen_below(g, 16); break;
		case 1: w[k] ^= 1ull << tgen_below(g, 64); break;
		default: w[k] = tgen_rand(g); break;
		}
	}
	memcpy(s, w, sizeof(w));
	vcr_state_normalize(s);
}

static inline void tgen_exit_payload(struct tgen *g, struct vcr_exit *e)
{
	static const uint32_t reasons[] = {
		KVM_EXIT_IO, KVM_EXIT_IO, KVM_EXIT_IO, KVM_EXIT_MMIO, KVM_EXIT_MMIO,
		KVM_EXIT_DEBUG, KVM_EXIT_HLT, KVM_EXIT_SHUTDOWN, KVM_EXIT_FAIL_ENTRY,
		KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_SYSTEM_EVENT, KVM_EXIT_HYPERCALL,
		KVM_EXIT_UNKNOWN, KVM_EXIT_IRQ_WINDOW_OPEN, KVM_EXIT_X86_RDMSR,
	};
	memset(&e->u, 0, sizeof(e->u));
	e->reason = reasons[tgen_below(g, sizeof(reasons) / sizeof(reasons[0]))];
	e->data_len = 0;
	switch (e->reason) {
	case KVM_EXIT_IO:
		e->u.io.direction = (uint8_t)tgen_below(g, 2);
		e->u.io.size = (uint8_t)(1u << tgen_below(g, 3));
		e->u.io.port = (uint16_t)tgen_rand(g);
		e->u.io.count = tgen_below(g, 10) ? 1 : 1 + (uint32_t)tgen_below(g, 64);
		if (e->u.io.direction == KVM_EXIT_IO_OUT) {
			e->data_len = e->u.io.size * e->u.io.count;
			for (uint32_t i = 0; i < e->data_len; i++)
				e->data[i] = (uint8_t)tgen_rand(g);
		}
		break;
	case KVM_EXIT_MMIO:
		e->u.mmio.phys_addr = tgen_rand(g);
		e->u.mmio.len = 1 + (uint32_t)tgen_below(g, 8);
		e->u.mmio.is_write = (uint8_t)tgen_below(g, 2);
		if (e->u.mmio.is_write) {
			e->data_len = e->u.mmio.len;
			for (uint32_t i = 0; i < e->data_len; i++)
				e->data[i] = (uint8_t)tgen_rand(g);
		}
		break;
	case KVM_EXIT_DEBUG:
		e->u.debug.exception = tgen_below(g, 2) ? 1 : 3;
		e->u.debug.pc = tgen_rand(g);
		e->u.debug.dr6 = tgen_rand(g);
		e->u.debug.dr7 = tgen_rand(g);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		e->u.fail_entry.hardware_entry_failure_reason = tgen_rand(g);
		e->u.fail_entry.cpu = (uint32_t)tgen_rand(g);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		e->u.internal.suberror = (uint32_t)tgen_below(g, 5);
		e->u.internal.ndata = (uint32_t)tgen_below(g, 17);
		for (uint32_t i = 0; i < e->u.internal.ndata; i++)
			e->u.internal.data[i] = tgen_rand(g);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		e->u.system_event.type = (uint32_t)tgen_below(g, 5);
		e->u.system_event.ndata = (uint32_t)tgen_below(g, 17);
		for (uint32_t i = 0; i < e->u.system_event.ndata; i++)
			e->u.system_event.data[i] = tgen_rand(g);
		break;
	case KVM_EXIT_HYPERCALL:
		e->u.hypercall.nr = tgen_rand(g);
		for (int i = 0; i < 6; i++)
			e->u.hypercall.args[i] = tgen_rand(g);
		e->u.hypercall.ret = tgen_rand(g);
		e->u.hypercall.longmode = (uint32_t)tgen_below(g, 2);
		break;
	case KVM_EXIT_UNKNOWN:
		e->u.unknown.hardware_exit_reason = tgen_rand(g);
		break;
	case KVM_EXIT_X86_RDMSR:
		for (int i = 0; i < 24; i++)
			e->u.raw[i] = (uint8_t)tgen_rand(g);
		break;
	default:
		break;
	}
}

/* Next record of the stream into rec (as given to the writer) and the
 * record a reader must return for it into want (seq, full state...). */
static inline void tgen_next(struct tgen *g, struct vcr_record *rec, struct vcr_record *want)
{
	uint32_t v = (uint32_t)tgen_below(g, g->nvcpus);
	unsigned t = (unsigned)tgen_below(g, 100);
	memset(rec, 0, offsetof(struct vcr_record, u));
	rec->vcpu = v;
	if (t < 70 || g->ended) {
		rec->type = VCR_REC_EXIT;
		struct vcr_vcpu_state s = g->st[v];
		tgen_mutate(g, &s);
		unsigned valid = tgen_below(g, 6) ? VCR_CLASS_ALL : 1 + (unsigned)tgen_below(g, 7);
		rec->u.exit.valid = valid;
		rec->u.exit.state = s;
		/* Classes not in valid: the writer must ignore what is there. */
		for (int c = 0; c < 3; c++) {
			unsigned bit = 1u << c;
			if (!(valid & bit))
				memset((uint8_t *)&rec->u.exit.state + vcr_class_offset(bit), 0xa5,
				       vcr_class_size(bit));
		}
		tgen_exit_payload(g, &rec->u.exit.exit);
		vcr_state_copy(&g->st[v], &s, valid);
		g->known[v] = true;
		rec->seq = g->seq++;
		rec->vcpu_exit = g->vexits[v]++;
		g->last_seq = rec->seq;
		memcpy(want, rec, offsetof(struct vcr_record, u));
		want->u.exit.valid = valid;
		want->u.exit.exit.reason = rec->u.exit.exit.reason;
		want->u.exit.exit.data_len = rec->u.exit.exit.data_len;
		want->u.exit.exit.u = rec->u.exit.exit.u;
		memcpy(want->u.exit.exit.data, rec->u.exit.exit.data, rec->u.exit.exit.data_len);
		want->u.exit.state = g->st[v];
		return;
	}
	rec->seq = g->last_seq;
	if (t < 78) {
		rec->type = VCR_REC_INPUT;
		rec->u.input.kind = 1 + (uint32_t)tgen_below(g, 2);
		rec->u.input.len = (uint32_t)tgen_below(g, 9);
		for (uint32_t i = 0; i < rec->u.input.len; i++)
			rec->u.input.data[i] = (uint8_t)tgen_rand(g);
	} else if (t < 83) {
		rec->type = VCR_REC_SET_STATE;
		struct vcr_vcpu_state s = g->st[v];
		tgen_mutate(g, &s);
		unsigned dirty = 1 + (unsigned)tgen_below(g, 7);
		rec->u.set_state.dirty = dirty;
		rec->u.set_state.state = s;
		vcr_state_copy(&g->st[v], &s, dirty);
		g->known[v] = true;
		memcpy(want, rec, offsetof(struct vcr_record, u));
		want->u.set_state.dirty = dirty;
		want->u.set_state.state = g->st[v];
		return;
	} else if (t < 86) {
		rec->type = VCR_REC_INJECT;
		rec->u.inject.kind = 1 + (uint32_t)tgen_below(g, 2);
		rec->u.inject.vector = (uint32_t)tgen_below(g, 256);
	} else if (t < 89) {
		rec->type = VCR_REC_IRQ_LINE;
		rec->u.irq_line.gsi = tgen_below(g, 4) ? 4 : (uint32_t)tgen_rand(g);
		rec->u.irq_line.level = tgen_below(g, 8) ? (uint32_t)tgen_below(g, 2)
							 : (uint32_t)tgen_rand(g);
		rec->u.irq_line.flags = tgen_below(g, 3) ? 0 : VCR_IRQ_ASYNC;
		*want = *rec;
		if (rec->u.irq_line.flags & VCR_IRQ_ASYNC)
			want->vcpu = 0;	/* the writer ties it to no vCPU */
		return;
	} else if (t < 95) {
		rec->type = tgen_below(g, 2) ? VCR_REC_MEM_WRITE : VCR_REC_MEM_PAGES;
		rec->u.mem.gpa = tgen_rand(g) & ~0xfffull;
		rec->u.mem.len = tgen_below(g, 10) || g->small ? tgen_below(g, 300)
									    : 4096 * (1 + tgen_below(g, 16));
		for (uint64_t i = 0; i < rec->u.mem.len; i++)
			g->buf[i] = (uint8_t)(tgen_below(g, 4) ? 0 : tgen_rand(g));
		rec->u.mem.data = g->buf;
	} else if (t < 97) {
		rec->type = VCR_REC_MARKER;
		size_t n = tgen_below(g, 40);
		for (size_t i = 0; i < n; i++)
			g->buf[i] = (uint8_t)('a' + tgen_below(g, 26));
		g->buf[n] = 0;
		rec->u.marker.text = (const char *)g->buf;
	} else if (t < 99) {
		rec->type = VCR_REC_NOTE;
		rec->u.note.kind = tgen_below(g, 4) ? VCR_NOTE_CONSOLE_TAIL : (uint32_t)tgen_rand(g);
		rec->u.note.len = (uint32_t)tgen_below(g, 120);
		/* Console lines, a NUL now and then (the text has a length). */
		for (uint32_t i = 0; i < rec->u.note.len; i++)
			g->buf[i] = (uint8_t)(tgen_below(g, 10) == 0 ? '\n' : tgen_below(g, 50) == 0
					      ? 0 : ' ' + tgen_below(g, 95));
		g->buf[rec->u.note.len] = 0;
		rec->u.note.text = (const char *)g->buf;
		rec->vcpu = tgen_below(g, 2) ? v : 0;
	} else {
		rec->type = VCR_REC_END;
		rec->u.end.how = 1 + (uint32_t)tgen_below(g, 9);
		rec->u.end.status = (int32_t)tgen_rand(g);
		strcpy((char *)g->buf, "the end");
		rec->u.end.msg = (const char *)g->buf;
		g->ended = true;
	}
	*want = *rec;
}

/* Compare a record from the reader with the expected one; describe the
 * first difference in why. */
static inline bool tgen_same(const struct vcr_record *a, const struct vcr_record *b,
			     char *why, size_t wlen)
{
#define TG_FAIL(...) do { snprintf(why, wlen, __VA_ARGS__); return false; } while (0)
	if (a->type != b->type || a->vcpu != b->vcpu || a->seq != b->seq)
		TG_FAIL("type/vcpu/seq %u/%u/%llu vs %u/%u/%llu", a->type, a->vcpu,
			(unsigned long long)a->seq, b->type, b->vcpu, (unsigned long long)b->seq);
	switch (a->type) {
	case VCR_REC_EXIT:
		if (a->vcpu_exit != b->vcpu_exit || a->u.exit.valid != b->u.exit.valid)
			TG_FAIL("vcpu_exit/valid differ");
		if (a->u.exit.exit.reason != b->u.exit.exit.reason ||
		    a->u.exit.exit.data_len != b->u.exit.exit.data_len ||
		    memcmp(&a->u.exit.exit.u, &b->u.exit.exit.u, sizeof(a->u.exit.exit.u)) ||
		    memcmp(a->u.exit.exit.data, b->u.exit.exit.data, a->u.exit.exit.data_len))
			TG_FAIL("exit payload differs (reason %u)", a->u.exit.exit.reason);
		if (memcmp(&a->u.exit.state, &b->u.exit.state, sizeof(a->u.exit.state)))
			TG_FAIL("exit state differs");
		return true;
	case VCR_REC_SET_STATE:
		if (a->u.set_state.dirty != b->u.set_state.dirty ||
		    memcmp(&a->u.set_state.state, &b->u.set_state.state, sizeof(a->u.set_state.state)))
			TG_FAIL("set_state differs");
		return true;
	case VCR_REC_INPUT:
		if (a->u.input.kind != b->u.input.kind || a->u.input.len != b->u.input.len ||
		    memcmp(a->u.input.data, b->u.input.data, a->u.input.len))
			TG_FAIL("input differs");
		return true;
	case VCR_REC_INJECT:
		if (a->u.inject.kind != b->u.inject.kind || a->u.inject.vector != b->u.inject.vector)
			TG_FAIL("inject differs");
		return true;
	case VCR_REC_MEM_WRITE:
	case VCR_REC_MEM_PAGES:
		if (a->u.mem.gpa != b->u.mem.gpa || a->u.mem.len != b->u.mem.len ||
		    (a->u.mem.len && memcmp(a->u.mem.data, b->u.mem.data, a->u.mem.len)))
			TG_FAIL("mem differs (gpa %llx len %llu vs %llx len %llu)",
				(unsigned long long)a->u.mem.gpa, (unsigned long long)a->u.mem.len,
				(unsigned long long)b->u.mem.gpa, (unsigned long long)b->u.mem.len);
		return true;
	case VCR_REC_MARKER:
		if (strcmp(a->u.marker.text, b->u.marker.text))
			TG_FAIL("marker differs");
		return true;
	case VCR_REC_IRQ_LINE:
		if (a->u.irq_line.gsi != b->u.irq_line.gsi ||
		    a->u.irq_line.level != b->u.irq_line.level ||
		    a->u.irq_line.flags != b->u.irq_line.flags)
			TG_FAIL("irq_line differs (gsi %u level %u flags %u vs %u %u %u)",
				a->u.irq_line.gsi, a->u.irq_line.level, a->u.irq_line.flags,
				b->u.irq_line.gsi, b->u.irq_line.level, b->u.irq_line.flags);
		return true;
	case VCR_REC_NOTE:
		if (a->u.note.kind != b->u.note.kind || a->u.note.len != b->u.note.len ||
		    memcmp(a->u.note.text, b->u.note.text, a->u.note.len) ||
		    a->u.note.text[a->u.note.len])
			TG_FAIL("note differs (kind %u len %u vs %u %u)", a->u.note.kind,
				a->u.note.len, b->u.note.kind, b->u.note.len);
		return true;
	case VCR_REC_END:
		if (a->u.end.how != b->u.end.how || a->u.end.status != b->u.end.status ||
		    strcmp(a->u.end.msg, b->u.end.msg))
			TG_FAIL("end differs");
		return true;
	}
	TG_FAIL("unknown type %u", a->type);
#undef TG_FAIL
}

/* A header with every field set. */
static inline void tgen_info(struct vcr_trace_info *info, uint32_t nvcpus)
{
	static const struct vcr_mem_region mem[2] = {
		{ 0, 0x8000000, 0 }, { 0xfffc0000, 0x40000, 2 },
	};
	static struct kvm_cpuid_entry2 cpuid[3] = {
		{ .function = 0, .eax = 0xd, .ebx = 0x756e6547 },
		{ .function = 1, .eax = 0x806f8, .ecx = 0x80000000, .edx = 0x178bfbff },
		{ .function = 7, .index = 0, .flags = 1, .ebx = 0x219c91a9 },
	};
	static const struct vcr_kv kv[2] = { { "loader", "flat" }, { "mode", "long" } };
	static const uint8_t image[] = "\xf4\xeb\xfd guest image bytes guest image bytes";
	memset(info, 0, sizeof(*info));
	info->arch = VCR_ARCH_X86_64;
	info->kvm_api_version = 12;
	info->sync_regs_mask = 7;
	info->nvcpus = nvcpus;
	info->mem = mem;
	info->nmem = 2;
	info->cpuid = cpuid;
	info->ncpuid = 3;
	info->image_mode = VCR_IMAGE_EMBEDDED;
	info->image_path = "guest.bin";
	info->image = image;
	info->image_size = sizeof(image);
	info->cmdline = "vcr run --record t.vcr guest.bin";
	info->kv = kv;
	info->nkv = 2;
}

/* Write nrecs records of a small-MEM stream (g restarted from seed) to
 * path, chunk_exits a chunk (0: the writer's default); rec and want are
 * scratch. 0, or the writer's error (a TAP diagnostic says which). */
static inline int tgen_write_small(struct tgen *g, const char *path, uint64_t seed,
				   uint32_t nvcpus, uint32_t nrecs, uint32_t chunk_exits,
				   struct vcr_record *rec, struct vcr_record *want)
{
	struct vcr_trace_info info;
	struct vcr_writer_opts o = { .chunk_exits = chunk_exits };
	struct vcr_writer *w;
	struct vcr_err err;
	tgen_info(&info, nvcpus);
	int rc = vcr_writer_open(&w, path, &info, &o, &err);
	if (rc) {
		printf("# writer_open: %s\n", err.msg);
		return rc;
	}
	tgen_init(g, seed, nvcpus);
	g->small = true;
	for (uint32_t i = 0; i < nrecs; i++) {
		tgen_next(g, rec, want);
		rc = vcr_writer_append(w, rec);
		if (rc) {
			vcr_writer_abort(w);
			return rc;
		}
	}
	return vcr_writer_close(w);
}

#endif
