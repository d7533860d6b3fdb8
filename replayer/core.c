/* replayer/core.c: ELF core of the guest at one exit (see core.h). The
 * layout follows what gdb and crash read in the cores of QEMU's
 * dump-guest-memory: notes first, then the memory; written here from the
 * ELF gABI and the x86-64 psABI's core conventions. */
#include "replayer/core.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/reg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/regs.h"
#include "core/x86_mmu.h"

#define CORE_DATA_ALIGN 4096u
#define CORE_BUF (1u << 20)		/* memory copied per pwrite: the cursor's copies
					 * and pwrite's stay in the cache */
/* Work bounds for the page-table walk of a damaged or hostile trace: page
 * tables can share tables or point back at themselves. */
#define CORE_MAX_TABLES (1u << 16)	/* table reads (256 MiB of tables) */
#define CORE_MAX_MAPS (1u << 20)	/* merged kernel-half mappings */
#define CORE_MAX_PHDRS (1u << 22)

/* QEMU's QEMUCPUState, version 1 (target/i386/arch_dump.c), without the
 * optional kernel_gs_base (its `size` says so to readers). */
struct core_qemu_seg {
	uint32_t selector, limit, flags, pad;
	uint64_t base;
};
struct core_qemu_cpu {
	uint32_t version, size;
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	struct core_qemu_seg cs, ds, es, fs, gs, ss, ldt, tr, gdt, idt;
	uint64_t cr[5];
};
_Static_assert(sizeof(struct core_qemu_cpu) == 432, "QEMUCPUState v1 layout");

/* A run of guest-physical memory; `off`: its bytes' file offset (loads). */
struct core_range {
	uint64_t gpa, len;
	uint32_t cls;
	uint64_t off;
};

struct core_map {
	uint64_t va, pa, len;
};

struct core_vec {
	void *p;
	size_t n, cap, size;
};

struct core_ctx {
	struct vcr_cursor *c;
	struct vcr_err *err;
	struct core_vec known;		/* core_range, from the cursor */
	struct core_vec loads;		/* core_range: included, merged */
	struct core_vec listed;		/* core_range: for the VCR note */
	struct core_vec maps;		/* core_map: kernel half, merged */
	struct core_vec covered;	/* core_map: pa intervals mapped */
	struct core_vec phdrs;		/* Elf64_Phdr, PT_LOADs */
	uint64_t tables;
	bool walk_cut;
};

static int vec_push(struct core_vec *v, const void *e)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void *p = realloc(v->p, cap * v->size);
		if (!p)
			return -ENOMEM;
		v->p = p;
		v->cap = cap;
	}
	memcpy((char *)v->p + v->n * v->size, e, v->size);
	v->n++;
	return 0;
}

static void *vec_at(const struct core_vec *v, size_t i)
{
	return (char *)v->p + i * v->size;
}

static int on_range(void *arg, const struct vcr_mem_range *r)
{
	struct core_ctx *x = arg;
	struct core_range e = { r->gpa, r->len, (uint32_t)r->cls, 0 };
	return vec_push(&x->known, &e);
}

static bool included(uint32_t cls)
{
	return cls == VCR_MEM_EXACT || cls == VCR_MEM_UNTRACKED;
}

static int cmp_region(const void *a, const void *b)
{
	const struct vcr_mem_region *x = a, *y = b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Known range i goes to the note unless exact (once: it may span regions). */
static int list_known(struct core_ctx *x, size_t i, size_t *pushed)
{
	const struct core_range *k = vec_at(&x->known, i);
	if (i < *pushed)
		return 0;
	*pushed = i + 1;
	return k->cls == VCR_MEM_EXACT ? 0 : vec_push(&x->listed, k);
}

/* loads: included ranges, adjacent ones merged; listed: UNTRACKED and
 * STALE ones as they are, and the holes of the memory layout as UNKNOWN. */
static int core_classify(struct core_ctx *x, const struct vcr_trace_info *info,
			 struct vcr_core_result *res)
{
	struct core_range *k = x->known.p;
	int rc;

	for (size_t i = 0; i < x->known.n; i++) {
		if (included(k[i].cls)) {
			struct core_range *last = x->loads.n ? vec_at(&x->loads, x->loads.n - 1) : NULL;
			res->mem_bytes += k[i].len;
			if (k[i].cls == VCR_MEM_UNTRACKED)
				res->untracked_bytes += k[i].len;
			if (last && last->gpa + last->len == k[i].gpa)
				last->len += k[i].len;
			else if ((rc = vec_push(&x->loads, &k[i])))
				return rc;
		} else {
			res->stale_bytes += k[i].len;
		}
	}
	/* Walk the layout (regions sorted here) and the known ranges, both
	 * in address order, for the listed ones; a known range may span two
	 * adjacent regions. */
	struct vcr_mem_region *reg = NULL;
	if (info->nmem) {
		reg = malloc(info->nmem * sizeof(*reg));
		if (!reg)
			return -ENOMEM;
		memcpy(reg, info->mem, info->nmem * sizeof(*reg));
		qsort(reg, info->nmem, sizeof(*reg), cmp_region);
	}
	size_t ki = 0, pushed = 0;
	rc = 0;
	for (uint32_t m = 0; m < info->nmem && !rc; m++) {
		uint64_t at = reg[m].gpa, hi;
		if (vcr_add_overflow(at, reg[m].size, &hi))
			hi = UINT64_MAX;
		while (!rc && ki < x->known.n && k[ki].gpa + k[ki].len <= at)
			rc = list_known(x, ki++, &pushed);
		while (!rc && at < hi) {
			if (ki < x->known.n && k[ki].gpa <= at) {
				uint64_t end = k[ki].gpa + k[ki].len;
				rc = list_known(x, ki, &pushed);
				if (end > hi) {
					at = hi;
				} else {
					at = end;
					ki++;
				}
				continue;
			}
			uint64_t next = ki < x->known.n && k[ki].gpa < hi ? k[ki].gpa : hi;
			struct core_range u = { at, next - at, VCR_MEM_UNKNOWN, 0 };
			res->unknown_bytes += u.len;
			rc = vec_push(&x->listed, &u);
			at = next;
		}
	}
	while (!rc && ki < x->known.n)
		rc = list_known(x, ki++, &pushed);
	free(reg);
	return rc;
}

/* ---------------------------------------------------- virtual addresses */

static int walk_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct core_ctx *x = ctx;
	if (++x->tables > CORE_MAX_TABLES)
		return -E2BIG;
	return vcr_cursor_read_mem(x->c, gpa, buf, len);
}

static int walk_map(void *arg, uint64_t va, uint64_t gpa, uint64_t len)
{
	struct core_ctx *x = arg;
	struct core_map *last = x->maps.n ? vec_at(&x->maps, x->maps.n - 1) : NULL;
	if (last && last->va + last->len == va && last->pa + last->len == gpa) {
		last->len += len;
		return 0;
	}
	if (x->maps.n >= CORE_MAX_MAPS)
		return -E2BIG;
	struct core_map m = { va, gpa, len };
	return vec_push(&x->maps, &m);
}

/* Index of the load holding gpa, or of the first one above it. */
static size_t load_find(const struct core_ctx *x, uint64_t gpa)
{
	const struct core_range *l = x->loads.p;
	size_t lo = 0, hi = x->loads.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l[mid].gpa + l[mid].len <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int add_load(struct core_ctx *x, uint64_t va, uint64_t pa, uint64_t len, uint64_t off)
{
	if (x->phdrs.n >= CORE_MAX_PHDRS)
		return vcr_err_set(x->err, -E2BIG, UINT64_MAX,
				   "more than %u memory segments", CORE_MAX_PHDRS);
	Elf64_Phdr ph = {
		.p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X, .p_offset = off,
		.p_vaddr = va, .p_paddr = pa, .p_filesz = len, .p_memsz = len,
	};
	return vec_push(&x->phdrs, &ph) ? vcr_err_set(x->err, -ENOMEM, UINT64_MAX, "out of memory") : 0;
}

static int cmp_map_pa(const void *a, const void *b)
{
	const struct core_map *x = a, *y = b;
	return x->pa < y->pa ? -1 : x->pa > y->pa;
}

static int cmp_phdr(const void *a, const void *b)
{
	const Elf64_Phdr *x = a, *y = b;
	if (x->p_vaddr != y->p_vaddr)
		return x->p_vaddr < y->p_vaddr ? -1 : 1;
	return x->p_paddr < y->p_paddr ? -1 : x->p_paddr > y->p_paddr;
}

/* PT_LOADs for the kernel-half mappings onto included memory, then for the
 * included bytes none of them reaches. */
static int core_segments(struct core_ctx *x, const struct vcr_vcpu_state *st,
			 struct vcr_core_result *res)
{
	int levels = st ? vcr_mmu_levels(st) : 0;
	int rc;

	if (levels) {
		uint64_t lo = levels == 5 ? 0xff00000000000000ull :
			      levels == 4 ? 0xffff800000000000ull : 0x80000000ull;
		uint64_t hi = levels >= 4 ? UINT64_MAX : 0xffffffffull;
		rc = vcr_mmu_walk(st, lo, hi, walk_read, x, walk_map, x, &res->unreadable_tables);
		if (rc == -E2BIG)
			x->walk_cut = true;
		else if (rc == -ENOMEM)
			return vcr_err_set(x->err, rc, UINT64_MAX, "out of memory");
		else if (rc)
			return vcr_err_set(x->err, rc, UINT64_MAX, "reading the page tables: %s",
					   vcr_cursor_error(x->c)->msg[0] ?
					   vcr_cursor_error(x->c)->msg : strerror(-rc));
	}
	const struct core_range *l = x->loads.p;
	const struct core_map *m = x->maps.p;
	for (size_t i = 0; i < x->maps.n; i++) {
		uint64_t pa = m[i].pa, end = m[i].pa + m[i].len;
		for (size_t j = load_find(x, pa); j < x->loads.n && l[j].gpa < end; j++) {
			uint64_t a = pa > l[j].gpa ? pa : l[j].gpa;
			uint64_t b = end < l[j].gpa + l[j].len ? end : l[j].gpa + l[j].len;
			if ((rc = add_load(x, m[i].va + (a - pa), a, b - a, l[j].off + (a - l[j].gpa))))
				return rc;
			struct core_map cv = { 0, a, b - a };
			if (vec_push(&x->covered, &cv))
				return vcr_err_set(x->err, -ENOMEM, UINT64_MAX, "out of memory");
			res->nvirt++;
		}
	}
	/* The included bytes outside every mapping: p_vaddr = p_paddr. */
	if (x->covered.n)
		qsort(x->covered.p, x->covered.n, sizeof(struct core_map), cmp_map_pa);
	const struct core_map *cv = x->covered.p;
	size_t ci = 0;
	for (size_t j = 0; j < x->loads.n; j++) {
		uint64_t at = l[j].gpa, end = l[j].gpa + l[j].len;
		while (at < end) {
			while (ci < x->covered.n && cv[ci].pa + cv[ci].len <= at)
				ci++;
			uint64_t next = end;
			if (ci < x->covered.n && cv[ci].pa <= at) {
				/* skip the covered run (overlapping ones too) */
				uint64_t c_end = cv[ci].pa + cv[ci].len;
				for (size_t k = ci + 1; k < x->covered.n && cv[k].pa <= c_end; k++)
					if (cv[k].pa + cv[k].len > c_end)
						c_end = cv[k].pa + cv[k].len;
				at = c_end < end ? c_end : end;
				continue;
			}
			if (ci < x->covered.n && cv[ci].pa < end)
				next = cv[ci].pa;
			if ((rc = add_load(x, at, at, next - at, l[j].off + (at - l[j].gpa))))
				return rc;
			at = next;
		}
	}
	if (x->phdrs.n)
		qsort(x->phdrs.p, x->phdrs.n, sizeof(Elf64_Phdr), cmp_phdr);
	res->nloads = x->phdrs.n;
	return 0;
}

/* ------------------------------------------------------------- notes */

static uint32_t pad4(uint32_t n)
{
	return (n + 3u) & ~3u;
}

static size_t note_size(const char *name, size_t desc)
{
	return sizeof(Elf64_Nhdr) + pad4((uint32_t)strlen(name) + 1) + pad4((uint32_t)desc);
}

/* Append one note at p; returns the bytes used. */
static size_t note_put(uint8_t *p, const char *name, uint32_t type, const void *desc,
		       size_t len)
{
	Elf64_Nhdr h = { (Elf64_Word)strlen(name) + 1, (Elf64_Word)len, type };
	size_t o = 0;
	memcpy(p, &h, sizeof(h));
	o += sizeof(h);
	memset(p + o, 0, pad4(h.n_namesz));
	memcpy(p + o, name, h.n_namesz);
	o += pad4(h.n_namesz);
	memset(p + o, 0, pad4(h.n_descsz));
	if (len)
		memcpy(p + o, desc, len);
	return o + pad4(h.n_descsz);
}

static uint64_t reg(const struct vcr_vcpu_state *st, const char *name)
{
	const struct vcr_reg *r = vcr_reg_by_name(name);
	return r && r->fmt != VCR_REG_NONE ? vcr_reg_get(st, r) : 0;
}

/* NT_PRSTATUS: pr_reg in user_regs_struct order (<sys/reg.h> indexes). */
static void prstatus(const struct vcr_vcpu_state *st, uint32_t vcpu, struct elf_prstatus *ps)
{
	static const struct { int slot; const char *name; } gregs[] = {
		{ R15, "r15" }, { R14, "r14" }, { R13, "r13" }, { R12, "r12" },
		{ RBP, "rbp" }, { RBX, "rbx" }, { R11, "r11" }, { R10, "r10" },
		{ R9, "r9" }, { R8, "r8" }, { RAX, "rax" }, { RCX, "rcx" },
		{ RDX, "rdx" }, { RSI, "rsi" }, { RDI, "rdi" }, { RIP, "rip" },
		{ CS, "cs" }, { EFLAGS, "rflags" }, { RSP, "rsp" }, { SS, "ss" },
		{ FS_BASE, "fs.base" }, { GS_BASE, "gs.base" }, { DS, "ds" },
		{ ES, "es" }, { FS, "fs" }, { GS, "gs" },
	};
	memset(ps, 0, sizeof(*ps));
	ps->pr_pid = (pid_t)vcpu + 1;	/* gdb's thread ids; 0 means none */
	for (size_t i = 0; i < VCR_ARRAY_SIZE(gregs); i++)
		ps->pr_reg[gregs[i].slot] = reg(st, gregs[i].name);
	ps->pr_reg[ORIG_RAX] = UINT64_MAX;	/* not in a system call */
}

static void qemu_seg(const struct vcr_vcpu_state *st, const char *seg,
		     struct core_qemu_seg *q)
{
	char n[16];
	snprintf(n, sizeof(n), "%s", seg);
	q->selector = (uint32_t)reg(st, n);
	snprintf(n, sizeof(n), "%s.base", seg);
	q->base = reg(st, n);
	snprintf(n, sizeof(n), "%s.limit", seg);
	q->limit = (uint32_t)reg(st, n);
	snprintf(n, sizeof(n), "%s.attr", seg);
	/* VMX access rights (the table's form) to QEMU's descriptor flags:
	 * type/S/DPL/P at bits 8-15, AVL/L/DB/G at 20-23. */
	uint64_t ar = reg(st, n);
	q->flags = (uint32_t)(((ar & 0xff) << 8) | ((ar & 0xf000) << 8));
	q->pad = 0;
}

static void qemu_cpu(const struct vcr_vcpu_state *st, struct core_qemu_cpu *q)
{
	memset(q, 0, sizeof(*q));
	q->version = 1;
	q->size = sizeof(*q);
	uint64_t *g = &q->rax;
	static const char *const gnames[] = {
		"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10",
		"r11", "r12", "r13", "r14", "r15", "rip", "rflags",
	};
	for (size_t i = 0; i < VCR_ARRAY_SIZE(gnames); i++)
		g[i] = reg(st, gnames[i]);
	qemu_seg(st, "cs", &q->cs);
	qemu_seg(st, "ds", &q->ds);
	qemu_seg(st, "es", &q->es);
	qemu_seg(st, "fs", &q->fs);
	qemu_seg(st, "gs", &q->gs);
	qemu_seg(st, "ss", &q->ss);
	qemu_seg(st, "ldt", &q->ldt);
	qemu_seg(st, "tr", &q->tr);
	q->gdt.base = reg(st, "gdt.base");
	q->gdt.limit = (uint32_t)reg(st, "gdt.limit");
	q->idt.base = reg(st, "idt.base");
	q->idt.limit = (uint32_t)reg(st, "idt.limit");
	q->cr[0] = reg(st, "cr0");
	q->cr[2] = reg(st, "cr2");
	q->cr[3] = reg(st, "cr3");
	q->cr[4] = reg(st, "cr4");
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

#define VCR_NOTE_FIXED 112u
#define VCR_NOTE_RANGE 24u

/* The VCR note's descriptor (layout in docs/tools.md). */
static uint8_t *vcr_note(const struct core_ctx *x, const struct vcr_core_opts *o,
			 uint64_t seq, uint32_t vcpu, uint32_t nstates,
			 const struct vcr_core_result *res, size_t *len)
{
	const struct vcr_trace_info *info = vcr_cursor_info(x->c);
	const char *path = o->trace_path ? o->trace_path : "";
	size_t plen = strlen(path);
	size_t n = VCR_NOTE_FIXED + x->listed.n * VCR_NOTE_RANGE + plen;
	if (n > UINT32_MAX - 3)
		return NULL;
	uint8_t *d = calloc(1, n);
	if (!d)
		return NULL;
	struct stat sb;
	bool have = o->trace_path && stat(o->trace_path, &sb) == 0;
	put32(d + 0, VCR_CORE_NOTE_VERSION);
	put32(d + 4, res->untracked_bytes ? VCR_CORE_F_UNTRACKED : 0);
	put64(d + 8, seq);
	put64(d + 16, vcr_cursor_first(x->c));
	put64(d + 24, vcr_cursor_nexits(x->c));
	put32(d + 32, vcpu);
	put32(d + 36, nstates);
	put64(d + 40, have ? (uint64_t)sb.st_size : 0);
	put64(d + 48, have ? (uint64_t)sb.st_mtim.tv_sec * 1000000000ull +
	      (uint64_t)sb.st_mtim.tv_nsec : 0);
	memcpy(d + 56, info->image_sha256, 32);
	put64(d + 88, res->mem_bytes);
	put64(d + 96, x->listed.n);
	put32(d + 104, (uint32_t)plen);
	put32(d + 108, x->walk_cut ? 1u : 0u);
	const struct core_range *r = x->listed.p;
	for (size_t i = 0; i < x->listed.n; i++) {
		uint8_t *e = d + VCR_NOTE_FIXED + i * VCR_NOTE_RANGE;
		put64(e, r[i].gpa);
		put64(e + 8, r[i].len);
		put32(e + 16, r[i].cls);
	}
	memcpy(d + VCR_NOTE_FIXED + x->listed.n * VCR_NOTE_RANGE, path, plen);
	*len = n;
	return d;
}

/* ------------------------------------------------------------- write */

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off, struct vcr_err *err)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : ENOSPC;
			return vcr_err_set(err, -e, off, "writing the core at offset %llu: %s",
					   (unsigned long long)off, strerror(e));
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void core_free(struct core_ctx *x)
{
	free(x->known.p);
	free(x->loads.p);
	free(x->listed.p);
	free(x->maps.p);
	free(x->covered.p);
	free(x->phdrs.p);
}

int vcr_core_write(struct vcr_cursor *c, int fd, const struct vcr_core_opts *o,
		   struct vcr_core_result *res, struct vcr_err *err)
{
	struct core_ctx x = {
		.c = c, .err = err,
		.known = { .size = sizeof(struct core_range) },
		.loads = { .size = sizeof(struct core_range) },
		.listed = { .size = sizeof(struct core_range) },
		.maps = { .size = sizeof(struct core_map) },
		.covered = { .size = sizeof(struct core_map) },
		.phdrs = { .size = sizeof(Elf64_Phdr) },
	};
	const struct vcr_trace_info *info = vcr_cursor_info(c);
	uint64_t first = vcr_cursor_first(c), nexits = vcr_cursor_nexits(c);
	uint8_t *head = NULL, *vnote = NULL, *buf = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	if (!nexits)
		return vcr_err_set(err, -ENODATA, UINT64_MAX, "the trace holds no exit");
	uint64_t seq = o->at == UINT64_MAX ? first + nexits - 1 : o->at;
	if (seq < first || seq - first >= nexits)
		return vcr_err_set(err, -ERANGE, UINT64_MAX,
				   "exit %llu is not in the trace (it holds exits %llu..%llu)",
				   (unsigned long long)seq, (unsigned long long)first,
				   (unsigned long long)(first + nexits - 1));
	if ((rc = vcr_cursor_seek(c, seq)))
		return vcr_err_set(err, rc, UINT64_MAX, "seeking exit %llu: %s",
				   (unsigned long long)seq, vcr_cursor_error(c)->msg);
	res->exit = seq;

	rc = vcr_cursor_mem_ranges(c, on_range, &x);
	if (rc) {
		rc = rc == -ENOMEM ? vcr_err_set(err, rc, UINT64_MAX, "out of memory") :
		     vcr_err_set(err, rc, UINT64_MAX, "reading the trace's memory: %s",
				 vcr_cursor_error(c)->msg[0] ? vcr_cursor_error(c)->msg :
				 strerror(-rc));
		goto out;
	}
	if ((rc = core_classify(&x, info, res))) {
		vcr_err_set(err, rc, UINT64_MAX, "out of memory");
		goto out;
	}
	/* File offsets of the included memory, from a page boundary after
	 * the headers and notes (computed below). */
	uint32_t vcpu = vcr_cursor_vcpu(c);
	const struct vcr_vcpu_state *st[VCR_TRACE_MAX_VCPUS];
	uint32_t nstates = 0, nv = info->nvcpus < VCR_TRACE_MAX_VCPUS ? info->nvcpus :
				  VCR_TRACE_MAX_VCPUS;
	for (uint32_t v = 0; v < nv; v++)
		if ((st[v] = vcr_cursor_state_ref(c, v)))
			nstates++;
	const struct vcr_vcpu_state *mmu_st = vcpu < nv ? st[vcpu] : NULL;
	if (!mmu_st)
		for (uint32_t v = 0; v < nv && !mmu_st; v++)
			mmu_st = st[v];
	/* Offsets relative to the data start first; shifted once it is known. */
	uint64_t rel = 0;
	for (size_t j = 0; j < x.loads.n; j++) {
		struct core_range *l = vec_at(&x.loads, j);
		l->off = rel;
		rel += l->len;
	}
	if ((rc = core_segments(&x, mmu_st, res)))
		goto out;

	size_t vlen = 0;
	vnote = vcr_note(&x, o, seq, vcpu, nstates, res, &vlen);
	if (!vnote) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto out;
	}
	uint64_t nph = 1 + x.phdrs.n;
	bool xnum = nph >= PN_XNUM;
	uint64_t notes_len = nstates * (note_size("CORE", sizeof(struct elf_prstatus)) +
					note_size("QEMU", sizeof(struct core_qemu_cpu))) +
			     note_size("VCR", vlen);
	uint64_t ph_off = sizeof(Elf64_Ehdr), sh_off = ph_off + nph * sizeof(Elf64_Phdr);
	uint64_t note_off = sh_off + (xnum ? sizeof(Elf64_Shdr) : 0);
	uint64_t data_off = (note_off + notes_len + CORE_DATA_ALIGN - 1) & ~(uint64_t)(CORE_DATA_ALIGN - 1);
	head = calloc(1, data_off);
	if (!head) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto out;
	}
	Elf64_Ehdr *eh = (Elf64_Ehdr *)head;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = ph_off;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = xnum ? PN_XNUM : (Elf64_Half)nph;
	if (xnum) {
		/* gABI: the real count in section header 0's sh_info. */
		Elf64_Shdr sh = { .sh_info = (Elf64_Word)nph };
		eh->e_shoff = sh_off;
		eh->e_shentsize = sizeof(Elf64_Shdr);
		eh->e_shnum = 1;
		memcpy(head + sh_off, &sh, sizeof(sh));
	}
	Elf64_Phdr note = {
		.p_type = PT_NOTE, .p_offset = note_off, .p_filesz = notes_len,
	};
	memcpy(head + ph_off, &note, sizeof(note));
	Elf64_Phdr *ph = x.phdrs.p;
	for (size_t i = 0; i < x.phdrs.n; i++) {
		ph[i].p_offset += data_off;
		memcpy(head + ph_off + (1 + i) * sizeof(Elf64_Phdr), &ph[i], sizeof(ph[i]));
	}
	uint8_t *p = head + note_off;
	for (uint32_t v = 0; v < nv; v++) {
		if (!st[v])
			continue;
		struct elf_prstatus ps;
		prstatus(st[v], v, &ps);
		p += note_put(p, "CORE", NT_PRSTATUS, &ps, sizeof(ps));
	}
	for (uint32_t v = 0; v < nv; v++) {
		if (!st[v])
			continue;
		struct core_qemu_cpu q;
		qemu_cpu(st[v], &q);
		p += note_put(p, "QEMU", 0, &q, sizeof(q));
	}
	p += note_put(p, "VCR", VCR_CORE_NOTE_TYPE, vnote, vlen);
	res->nvcpus = nstates;
	if ((rc = pwrite_all(fd, head, data_off, 0, err)))
		goto out;

	buf = malloc(CORE_BUF);
	if (!buf) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto out;
	}
	uint64_t off = data_off;
	for (size_t j = 0; j < x.loads.n; j++) {
		const struct core_range *l = vec_at(&x.loads, j);
		for (uint64_t done = 0; done < l->len;) {
			size_t n = l->len - done < CORE_BUF ? (size_t)(l->len - done) : CORE_BUF;
			rc = vcr_cursor_read_mem(c, l->gpa + done, buf, n);
			if (rc) {
				vcr_err_set(err, rc, UINT64_MAX,
					    "reading guest memory at 0x%llx: %s",
					    (unsigned long long)(l->gpa + done),
					    vcr_cursor_error(c)->msg[0] ?
					    vcr_cursor_error(c)->msg : strerror(-rc));
				goto out;
			}
			if ((rc = pwrite_all(fd, buf, n, off, err)))
				goto out;
			done += n;
			off += n;
		}
	}
	res->file_bytes = off;
	rc = 0;
out:
	free(buf);
	free(head);
	free(vnote);
	core_free(&x);
	return rc;
}
