/*
 * tests/unit/core_elf.c: the ELF core of replayer/core.h, read back by an
 * ELF reader of the test's own and by readelf (no warning allowed) and gdb.
 *
 * The trace is built here: a 2-vCPU long-mode guest whose loader wrote
 * 4-level page tables at 0x1000..0x5000 (cr3 = 0x1000) that map, in the
 * kernel half,
 *   0xffffffff80000000  2 MiB page at 0x200000 (only 0x200000..0x210000 known)
 *   0xffffffff80200000  4 KiB at 0x600000
 *   0xffffffff80201000  4 KiB at 0x602000
 *   0xffffffff80202000  4 KiB at 0x200000 (a second mapping of that page)
 *   0xffffffffc0000000  1 GiB page at 0x40000000 (nothing known there)
 * plus known memory at 0x601000 (no kernel mapping) and 0x9000 ("hello",
 * overwritten with "HELLO" while serving exit 1). So the expected PT_LOADs,
 * every value below, come from this construction, not from the writer.
 * Then: the PN_XNUM form (more than 65535 segments), errors (exit out of
 * range, unwritable fd, /dev/full), and damaged copies of the trace: an
 * error or a core, never a crash.
 * Usage: core_elf [SEED.vcr]
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/reg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/trace.h"
#include "replayer/core.h"
#include "replayer/cursor.h"
#include "tests/lib/tap.h"

#define MIB (1ull << 20)
#define REGION (16 * MIB)

static uint8_t pat(uint64_t gpa)
{
	return (uint8_t)(gpa * 7 + (gpa >> 12) + 1);
}

static uint8_t tables[0x4000];	/* 0x1000..0x5000 as written */

static void pte(uint64_t gpa, uint64_t v)
{
	memcpy(tables + (gpa - 0x1000), &v, 8);
}

static void build_tables(void)
{
	memset(tables, 0, sizeof(tables));
	pte(0x1000 + 511 * 8, 0x2000 | 3);		/* PML4[511] -> PDPT */
	pte(0x2000 + 510 * 8, 0x3000 | 3);		/* PDPT[510]: 0xffffffff80000000 */
	pte(0x2000 + 511 * 8, 0x40000000 | 0x83);	/* PDPT[511]: 1 GiB page */
	pte(0x3000 + 0 * 8, 0x200000 | 0x83);		/* PD[0]: 2 MiB page */
	pte(0x3000 + 1 * 8, 0x4000 | 3);		/* PD[1] -> PT */
	pte(0x4000 + 0 * 8, 0x600000 | 3);
	pte(0x4000 + 1 * 8, 0x602000 | 3);
	pte(0x4000 + 2 * 8, 0x200000 | 3);
}

static struct vcr_vcpu_state st[2];

static void make_state(struct vcr_vcpu_state *s, uint64_t k)
{
	memset(s, 0, sizeof(*s));
	__u64 *g = &s->regs.rax;	/* kvm_regs: 16 GPRs, rip, rflags */
	for (int i = 0; i < 16; i++)
		g[i] = k * 0x1000 + (uint64_t)i;
	s->regs.rip = 0xffffffff80000010ull + k;
	s->regs.rflags = 0x246;
	s->sregs.cr0 = 0x80000011;
	s->sregs.cr2 = 0xdead0000 + k;
	s->sregs.cr3 = 0x1000;
	s->sregs.cr4 = 0x20;
	s->sregs.efer = 0x500;
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 0x10,
				    .type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment data = { .base = 0, .limit = 0xffffffff, .selector = 0x18,
				    .type = 0x3, .present = 1, .s = 1, .db = 1, .g = 1 };
	s->sregs.cs = code;
	s->sregs.ds = s->sregs.es = s->sregs.ss = data;
	s->sregs.fs = data;
	s->sregs.fs.base = 0x7000 + k;
	s->sregs.gs = data;
	s->sregs.gs.base = 0xffff888000000000ull + k;
	s->sregs.gdt.base = 0x8000;
	s->sregs.gdt.limit = 0x37;
	s->sregs.idt.base = 0x8800;
	s->sregs.idt.limit = 0xfff;
	vcr_state_normalize(s);
}

static int add_mem(struct vcr_writer *w, uint64_t gpa, const void *d, uint64_t len)
{
	struct vcr_record r;
	memset(&r, 0, offsetof(struct vcr_record, u));
	r.type = VCR_REC_MEM_WRITE;
	r.u.mem.gpa = gpa;
	r.u.mem.len = len;
	r.u.mem.data = d;
	return vcr_writer_append(w, &r);
}

static int add_exit(struct vcr_writer *w, uint32_t vcpu, const struct vcr_vcpu_state *s)
{
	static struct vcr_record r;
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_EXIT;
	r.vcpu = vcpu;
	r.u.exit.valid = VCR_CLASS_ALL;
	r.u.exit.exit.reason = KVM_EXIT_HLT;
	r.u.exit.state = *s;
	return vcr_writer_append(w, &r);
}

static void info_init(struct vcr_trace_info *info, const struct vcr_mem_region *mem, uint32_t nmem)
{
	memset(info, 0, sizeof(*info));
	info->arch = VCR_ARCH_X86_64;
	info->kvm_api_version = 12;
	info->sync_regs_mask = 7;
	info->nvcpus = 2;
	info->mem = mem;
	info->nmem = nmem;
	info->image_mode = VCR_IMAGE_NONE;
	info->cmdline = "core_elf";
}

static int write_trace(const char *path)
{
	static const struct vcr_mem_region mem[1] = { { 0, REGION, 0 } };
	static uint8_t buf[0x10000];
	struct vcr_trace_info info;
	struct vcr_writer *w;
	struct vcr_err err;
	int rc;

	info_init(&info, mem, 1);
	if ((rc = vcr_writer_open(&w, path, &info, NULL, &err)))
		return rc;
	build_tables();
	for (uint64_t a = 0x1000; a < 0x5000; a += 0x1000)
		rc |= add_mem(w, a, tables + (a - 0x1000), 0x1000);
	for (uint64_t i = 0; i < sizeof(buf); i++)
		buf[i] = pat(0x200000 + i);
	rc |= add_mem(w, 0x200000, buf, 0x10000);
	for (uint64_t i = 0; i < 0x3000; i++)
		buf[i] = pat(0x600000 + i);
	rc |= add_mem(w, 0x600000, buf, 0x3000);
	rc |= add_mem(w, 0x9000, "hello", 5);
	make_state(&st[0], 1);
	make_state(&st[1], 2);
	rc |= add_exit(w, 0, &st[0]);
	rc |= add_exit(w, 1, &st[1]);
	rc |= add_mem(w, 0x9000, "HELLO", 5);	/* served with exit 1 */
	rc |= add_exit(w, 0, &st[0]);
	if (rc) {
		vcr_writer_abort(w);
		return -EIO;
	}
	return vcr_writer_close(w);
}

/* ------------------------------------------------ the test's ELF reader */

struct elf {
	uint8_t *b;
	size_t n;
	const Elf64_Ehdr *eh;
	uint64_t phnum;
	const Elf64_Phdr *ph;
};

static int elf_load(struct elf *e, const char *path)
{
	memset(e, 0, sizeof(*e));
	int fd = open(path, O_RDONLY);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0)
		return -1;
	e->n = (size_t)sb.st_size;
	e->b = malloc(e->n ? e->n : 1);
	if (!e->b || pread(fd, e->b, e->n, 0) != (ssize_t)e->n) {
		close(fd);
		return -1;
	}
	close(fd);
	if (e->n < sizeof(Elf64_Ehdr))
		return -1;
	e->eh = (const Elf64_Ehdr *)e->b;
	e->phnum = e->eh->e_phnum;
	if (e->phnum == PN_XNUM) {
		if (e->eh->e_shoff + sizeof(Elf64_Shdr) > e->n)
			return -1;
		e->phnum = ((const Elf64_Shdr *)(e->b + e->eh->e_shoff))->sh_info;
	}
	if (e->eh->e_phoff + e->phnum * sizeof(Elf64_Phdr) > e->n)
		return -1;
	e->ph = (const Elf64_Phdr *)(e->b + e->eh->e_phoff);
	for (uint64_t i = 0; i < e->phnum; i++)
		if (e->ph[i].p_offset + e->ph[i].p_filesz > e->n)
			return -1;
	return 0;
}

/* The i-th note of `name` and `type` in the PT_NOTE: descriptor or NULL. */
static const uint8_t *elf_note(const struct elf *e, const char *name, uint32_t type,
			       unsigned idx, uint32_t *len)
{
	for (uint64_t i = 0; i < e->phnum; i++) {
		if (e->ph[i].p_type != PT_NOTE)
			continue;
		const uint8_t *p = e->b + e->ph[i].p_offset, *end = p + e->ph[i].p_filesz;
		while (p + sizeof(Elf64_Nhdr) <= end) {
			const Elf64_Nhdr *h = (const Elf64_Nhdr *)p;
			const char *nm = (const char *)(p + sizeof(*h));
			const uint8_t *d = p + sizeof(*h) + ((h->n_namesz + 3) & ~3u);
			if (h->n_namesz == strlen(name) + 1 && !memcmp(nm, name, h->n_namesz) &&
			    h->n_type == type && idx-- == 0) {
				*len = h->n_descsz;
				return d;
			}
			p = d + ((h->n_descsz + 3) & ~3u);
		}
	}
	return NULL;
}

static const Elf64_Phdr *elf_load_at(const struct elf *e, uint64_t vaddr)
{
	for (uint64_t i = 0; i < e->phnum; i++)
		if (e->ph[i].p_type == PT_LOAD && e->ph[i].p_vaddr == vaddr)
			return &e->ph[i];
	return NULL;
}

static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* ------------------------------------------------------------ helpers */

static int core_at(const char *trace, uint64_t at, const char *out,
		   struct vcr_core_result *res, struct vcr_err *err)
{
	struct vcr_cursor *c;
	int rc = vcr_cursor_open(&c, trace, err);
	if (rc)
		return rc;
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		vcr_cursor_close(c);
		return -errno;
	}
	struct vcr_core_opts o = { .at = at, .trace_path = trace };
	rc = vcr_core_write(c, fd, &o, res, err);
	close(fd);
	vcr_cursor_close(c);
	return rc;
}

/* readelf -a -W exits 0 and prints nothing on stderr (but lines holding
 * `allowed`, when not NULL). */
static int readelf_clean(const char *core, const char *tmpdir, const char *allowed)
{
	char cmd[1024], errf[512], line[512];
	snprintf(errf, sizeof(errf), "%s/readelf.err", tmpdir);
	snprintf(cmd, sizeof(cmd), "readelf -a -W '%s' >/dev/null 2>'%s'", core, errf);
	int status = system(cmd);
	FILE *f = fopen(errf, "r");
	int bad = status != 0 || !f;
	while (f && fgets(line, sizeof(line), f)) {
		if (allowed && strstr(line, allowed))
			continue;
		tap_diag("readelf: %s", line);
		bad = 1;
	}
	if (f)
		fclose(f);
	return bad ? -1 : 0;
}

/* Segment (vaddr, paddr, len): present, and its bytes are `want`'s. */
static int seg_ok(const struct elf *e, uint64_t va, uint64_t pa, uint64_t len,
		  uint8_t (*want)(uint64_t))
{
	const Elf64_Phdr *p = elf_load_at(e, va);
	if (!p || p->p_paddr != pa || p->p_filesz != len || p->p_memsz != len) {
		tap_diag("segment 0x%llx: %s", (unsigned long long)va, p ? "wrong" : "missing");
		if (p)
			tap_diag("  paddr 0x%llx len 0x%llx", (unsigned long long)p->p_paddr,
				 (unsigned long long)p->p_filesz);
		return 0;
	}
	for (uint64_t i = 0; i < len; i++)
		if (e->b[p->p_offset + i] != want(pa + i)) {
			tap_diag("segment 0x%llx: byte %llu differs", (unsigned long long)va,
				 (unsigned long long)i);
			return 0;
		}
	return 1;
}

static uint8_t want_table(uint64_t gpa)
{
	return tables[gpa - 0x1000];
}

/* With an argument, the trace is also written there (the seed of the core
 * fuzzer: tests/fuzz/corpus/core/paging.vcr). */
int main(int argc, char **argv)
{
	if (argc > 1 && write_trace(argv[1]))
		tap_bail("cannot write %s", argv[1]);
	char dir[] = "/tmp/vcr-core-elf-XXXXXX";
	if (!mkdtemp(dir))
		tap_bail("mkdtemp: %s", strerror(errno));
	char trace[600], core1[600], core2[600], big[600], bigcore[600], bad[600];
	snprintf(trace, sizeof(trace), "%s/t.vcr", dir);
	snprintf(core1, sizeof(core1), "%s/t1.core", dir);
	snprintf(core2, sizeof(core2), "%s/t2.core", dir);
	snprintf(big, sizeof(big), "%s/big.vcr", dir);
	snprintf(bigcore, sizeof(bigcore), "%s/big.core", dir);
	snprintf(bad, sizeof(bad), "%s/bad.vcr", dir);
	struct vcr_core_result res;
	struct vcr_err err;
	struct elf e;

	tap_plan(26);
	if (write_trace(trace))
		tap_bail("cannot write the trace");

	/* exit 1: vCPU 1's exit; 0x9000 still "hello" */
	int rc = core_at(trace, 1, core1, &res, &err);
	tap_ok(rc == 0, "core at exit 1 written (%s)", rc ? err.msg : "ok");
	tap_ok(readelf_clean(core1, dir, NULL) == 0, "readelf -a -W: status 0, nothing on stderr");
	tap_ok(elf_load(&e, core1) == 0 && e.eh->e_type == ET_CORE &&
	       e.eh->e_machine == EM_X86_64 && e.eh->e_ident[EI_CLASS] == ELFCLASS64 &&
	       e.ph[0].p_type == PT_NOTE, "ELF64 ET_CORE EM_X86_64, PT_NOTE first");
	tap_is_u64(e.phnum, 1 + 7, "one PT_NOTE and seven PT_LOADs");
	uint64_t last = 0;
	int sorted = 1;
	for (uint64_t i = 1; i < e.phnum; i++) {
		sorted &= e.ph[i].p_type == PT_LOAD && e.ph[i].p_vaddr >= last;
		last = e.ph[i].p_vaddr;
	}
	tap_ok(sorted, "PT_LOADs in p_vaddr order");
	tap_ok(seg_ok(&e, 0x1000, 0x1000, 0x4000, want_table),
	       "page tables: identity segment 0x1000..0x5000 with their bytes");
	tap_ok(seg_ok(&e, 0x601000, 0x601000, 0x1000, pat),
	       "0x601000 (no kernel mapping): p_vaddr = p_paddr");
	tap_ok(seg_ok(&e, 0xffffffff80000000ull, 0x200000, 0x10000, pat),
	       "2 MiB page: its known 64 KiB at 0xffffffff80000000");
	tap_ok(seg_ok(&e, 0xffffffff80200000ull, 0x600000, 0x1000, pat) &&
	       seg_ok(&e, 0xffffffff80201000ull, 0x602000, 0x1000, pat),
	       "4 KiB pages at 0xffffffff80200000/201000 -> 0x600000/0x602000");
	const Elf64_Phdr *a1 = elf_load_at(&e, 0xffffffff80000000ull);
	const Elf64_Phdr *a2 = elf_load_at(&e, 0xffffffff80202000ull);
	tap_ok(seg_ok(&e, 0xffffffff80202000ull, 0x200000, 0x1000, pat) && a1 && a2 &&
	       a1->p_offset == a2->p_offset, "second mapping of 0x200000 shares its file bytes");
	const Elf64_Phdr *h = elf_load_at(&e, 0x9000);
	tap_ok(h && h->p_paddr == 0x9000 && h->p_filesz == 5 &&
	       !memcmp(e.b + h->p_offset, "hello", 5), "0x9000 holds \"hello\" at exit 1");

	uint32_t len = 0;
	const uint8_t *n0 = elf_note(&e, "CORE", NT_PRSTATUS, 0, &len);
	const uint8_t *n1 = elf_note(&e, "CORE", NT_PRSTATUS, 1, &len);
	struct elf_prstatus p0, p1;
	if (n0 && n1 && len == sizeof(p0)) {
		memcpy(&p0, n0, sizeof(p0));
		memcpy(&p1, n1, sizeof(p1));
	}
	tap_ok(n0 && n1 && len == sizeof(p0) && p0.pr_pid == 1 && p1.pr_pid == 2,
	       "two NT_PRSTATUS, pr_pid 1 and 2");
	tap_ok(n0 && n1 && p0.pr_reg[RAX] == 0x1000 && p0.pr_reg[R15] == 0x100f &&
	       p0.pr_reg[RSP] == 0x1006 && p0.pr_reg[RIP] == 0xffffffff80000011ull &&
	       p1.pr_reg[RIP] == 0xffffffff80000012ull && p1.pr_reg[RBX] == 0x2001 &&
	       p0.pr_reg[EFLAGS] == 0x246 && p0.pr_reg[CS] == 0x10 && p0.pr_reg[SS] == 0x18 &&
	       p0.pr_reg[FS_BASE] == 0x7001 && p1.pr_reg[GS_BASE] == 0xffff888000000002ull,
	       "pr_reg in user_regs_struct order: the states the trace holds");
	const uint8_t *q = elf_note(&e, "QEMU", 0, 1, &len);
	/* QEMUCPUState v1: 8 + 18 * 8 bytes, then cs, ds, es, fs, gs, ss, ldt,
	 * tr, gdt, idt (24 bytes each), then cr[5]. QEMU's flags: type << 8,
	 * S 1 << 12, P 1 << 15, L 1 << 21, B 1 << 22, G 1 << 23. */
	tap_ok(q && len == 432 && get32(q) == 1 && get32(q + 4) == 432 &&
	       get64(q + 8) == 0x2000 && get64(q + 8 + 16 * 8) == 0xffffffff80000012ull,
	       "QEMU note of vCPU 1: version 1, size 432, rax, rip");
	const uint8_t *cs = q ? q + 152 : NULL, *fs = q ? q + 152 + 3 * 24 : NULL;
	const uint8_t *gdt = q ? q + 152 + 8 * 24 : NULL, *cr = q ? q + 152 + 10 * 24 : NULL;
	tap_ok(q && get32(cs) == 0x10 && get32(cs + 4) == 0xffffffff &&
	       get32(cs + 8) == (0xbu << 8 | 1u << 12 | 1u << 15 | 1u << 21 | 1u << 23) &&
	       get64(fs + 16) == 0x7002 &&
	       get32(fs + 8) == (0x3u << 8 | 1u << 12 | 1u << 15 | 1u << 22 | 1u << 23) &&
	       get64(gdt + 16) == 0x8000 && get32(gdt + 4) == 0x37 &&
	       get64(gdt + 24 + 16) == 0x8800 && get32(gdt + 24 + 4) == 0xfff,
	       "QEMU note: cs/fs selector, limit, flags, base; gdt and idt");
	tap_ok(q && get64(cr) == 0x80000011 && get64(cr + 16) == 0xdead0002 &&
	       get64(cr + 24) == 0x1000 && get64(cr + 32) == 0x20, "QEMU note: cr0, cr2, cr3, cr4");

	const uint8_t *v = elf_note(&e, "VCR", VCR_CORE_NOTE_TYPE, 0, &len);
	uint64_t nr = v ? get64(v + 96) : 0, unknown = 0, untracked = 0, plen = v ? get32(v + 104) : 0;
	int order = 1;
	for (uint64_t i = 0; v && i < nr && 112 + nr * 24 + plen <= len; i++) {
		const uint8_t *r = v + 112 + i * 24;
		if (get32(r + 16) == VCR_MEM_UNKNOWN)
			unknown += get64(r + 8);
		else if (get32(r + 16) == VCR_MEM_UNTRACKED)
			untracked += get64(r + 8);
		if (i && get64(r) < get64(r - 24) + get64(r - 24 + 8))
			order = 0;
	}
	uint64_t known = 0x4000 + 0x10000 + 0x3000 + 5;
	tap_ok(v && get32(v) == 1 && (get32(v + 4) & VCR_CORE_F_UNTRACKED) &&
	       get64(v + 8) == 1 && get64(v + 16) == 0 && get64(v + 24) == 3 &&
	       get32(v + 32) == 1 && get32(v + 36) == 2 && get64(v + 88) == known,
	       "VCR note: exit 1 of 0..2, vCPU 1, 2 vCPUs, known bytes, untracked flag");
	tap_ok(v && order && unknown == REGION - known && untracked == known &&
	       plen == strlen(trace) && 112 + nr * 24 + plen == len &&
	       !memcmp(v + 112 + nr * 24, trace, plen),
	       "VCR note: untracked and unknown ranges cover the layout, in order; the path");
	free(e.b);
	e.b = NULL;

	/* The last exit (default): "HELLO"; gdb reads it and a kernel address. */
	rc = core_at(trace, UINT64_MAX, core2, &res, &err);
	tap_ok(rc == 0 && res.exit == 2 && elf_load(&e, core2) == 0 &&
	       (h = elf_load_at(&e, 0x9000)) && !memcmp(e.b + h->p_offset, "HELLO", 5),
	       "default: the last exit (2), with the memory written while serving exit 1");
	free(e.b);
	e.b = NULL;
	if (system("command -v gdb >/dev/null") == 0) {
		char cmd[1400];
		snprintf(cmd, sizeof(cmd),
			 "gdb -nx -batch -ex 'x/4xb 0xffffffff80201000' -ex 'p/x $rip' -ex 'x/s 0x9000' "
			 "-c '%s' 2>&1", core2);
		FILE *f = popen(cmd, "r");
		char out[4096] = "";
		size_t got = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
		out[got] = 0;
		if (f)
			pclose(f);
		char want[200];
		snprintf(want, sizeof(want), "0x%02x\t0x%02x\t0x%02x\t0x%02x", pat(0x602000),
			 pat(0x602001), pat(0x602002), pat(0x602003));
		int ok = strstr(out, want) && strstr(out, "0xffffffff80000011") &&
			 strstr(out, "\"HELLO\"");
		if (!ok)
			tap_diag("gdb said:\n%s", out);
		tap_ok(ok, "gdb reads a kernel-half address, rip and the string at 0x9000");
	} else {
		tap_ok(1, "# SKIP gdb not installed");
	}

	/* 70,000 separate ranges: PN_XNUM, real count in section header 0. */
	{
		static const struct vcr_mem_region mem[1] = { { 0, REGION, 0 } };
		struct vcr_trace_info info;
		struct vcr_writer *w;
		info_init(&info, mem, 1);
		rc = vcr_writer_open(&w, big, &info, NULL, &err);
		for (uint64_t i = 0; !rc && i < 70000; i++) {
			uint8_t b = pat(i);
			rc = add_mem(w, 0x100000 + 2 * i, &b, 1);
		}
		rc = rc ? rc : add_exit(w, 0, &st[0]);
		rc = rc ? (vcr_writer_abort(w), rc) : vcr_writer_close(w);
	}
	rc = rc ? rc : core_at(big, UINT64_MAX, bigcore, &res, &err);
	tap_ok(rc == 0 && elf_load(&e, bigcore) == 0 && e.eh->e_phnum == PN_XNUM &&
	       e.phnum == 70001 && e.eh->e_shnum == 1, "70,000 segments: PN_XNUM, sh_info 70001");
	free(e.b);
	e.b = NULL;
	/* readelf checks section 0 like any SHT_NULL section and warns about
	 * the count the gABI puts in its sh_info (Linux cores get the same
	 * line): that line is the only one allowed. */
	tap_ok(rc == 0 && readelf_clean(bigcore, dir, "[ 0]: Unexpected value (70001) in info field") == 0,
	       "readelf takes the PN_XNUM core (only its warning about sh_info)");

	/* Errors. */
	rc = core_at(trace, 3, core1, &res, &err);
	tap_ok(rc == -ERANGE && strstr(err.msg, "0..2"), "exit 3: -ERANGE, says 0..2 (%s)", err.msg);
	{
		struct vcr_cursor *c;
		struct vcr_core_opts o = { .at = UINT64_MAX };
		int fd = open(core1, O_RDONLY);
		rc = vcr_cursor_open(&c, trace, &err);
		int r1 = rc ? rc : vcr_core_write(c, fd, &o, &res, &err);
		close(fd);
		fd = open("/dev/full", O_WRONLY);
		int r2 = rc || fd < 0 ? -1 : vcr_core_write(c, fd, &o, &res, &err);
		if (fd >= 0)
			close(fd);
		if (!rc)
			vcr_cursor_close(c);
		tap_ok(r1 == -EBADF, "read-only fd: -EBADF (%d)", r1);
		tap_ok(r2 == -ENOSPC && strstr(err.msg, "No space"), "/dev/full: -ENOSPC (%s)",
		       err.msg);
	}

	/* Damaged traces: flip bytes all over a copy; an error or a core. */
	{
		struct stat sb;
		int fd = open(trace, O_RDONLY);
		uint8_t *b = NULL;
		int survived = 1;
		if (fd >= 0 && fstat(fd, &sb) == 0 && (b = malloc((size_t)sb.st_size)) &&
		    pread(fd, b, (size_t)sb.st_size, 0) == sb.st_size) {
			uint64_t x = 88172645463325252ull;
			for (int round = 0; round < 200; round++) {
				uint8_t *d = malloc((size_t)sb.st_size);
				memcpy(d, b, (size_t)sb.st_size);
				for (int k = 0; k < 1 + round % 8; k++) {
					x ^= x << 13; x ^= x >> 7; x ^= x << 17;
					d[x % (uint64_t)sb.st_size] ^= (uint8_t)(1u << (x >> 60) % 8);
				}
				int o = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
				if (o < 0 || write(o, d, (size_t)sb.st_size) != sb.st_size)
					survived = 0;
				close(o);
				free(d);
				rc = core_at(bad, UINT64_MAX, core1, &res, &err);
				if (rc > 0)
					survived = 0;
			}
		} else {
			survived = 0;
		}
		if (fd >= 0)
			close(fd);
		free(b);
		tap_ok(survived, "200 damaged copies of the trace: an error or a core each");
	}

	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	return tap_exit_status();
}
