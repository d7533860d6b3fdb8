/*
 * linux_boot_test: the Linux boot protocol loader (vmm/loader_linux.h) on
 * synthetic bzImages whose setup headers are written here byte by byte, and
 * on Debian's own bzImage ($HOME/.cache/vcr/kernel/vmlinuz, skipped if absent).
 *
 * The oracle is the protocol, not the loader: header fields are written and
 * read back at the offsets of Documentation/arch/x86/boot.rst and
 * zero-page.rst, the e820 table and initrd address are the ones the rules
 * give for the chosen numbers, page tables are walked and GDT descriptors
 * decoded with the SDM's formats.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/tap.h"
#include "vmm/loader_linux.h"

#define MiB (1ull << 20)

/* Synthetic image: 2 setup sectors + the boot sector, 0x3000 bytes of
 * protected-mode kernel. */
#define S_SETUP		0x600u
#define S_KERNEL	0x3000u
#define S_SIZE		(S_SETUP + S_KERNEL)

static void w8(uint8_t *p, unsigned off, uint8_t v) { p[off] = v; }
static void w16(uint8_t *p, unsigned off, uint16_t v) { p[off] = (uint8_t)v; p[off + 1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, unsigned off, uint32_t v) { w16(p, off, (uint16_t)v); w16(p, off + 2, (uint16_t)(v >> 16)); }
static void w64(uint8_t *p, unsigned off, uint64_t v) { w32(p, off, (uint32_t)v); w32(p, off + 4, (uint32_t)(v >> 32)); }
static uint16_t r16(const uint8_t *p, uint64_t off) { return (uint16_t)(p[off] | p[off + 1] << 8); }
static uint32_t r32(const uint8_t *p, uint64_t off) { return r16(p, off) | (uint32_t)r16(p, off + 2) << 16; }
static uint64_t r64(const uint8_t *p, uint64_t off) { return r32(p, off) | (uint64_t)r32(p, off + 4) << 32; }

static void synth(uint8_t *img)
{
	/* Garbage where no header is: the loader must copy only the header. */
	memset(img, 0xcc, S_SETUP);
	for (unsigned i = 0; i < S_KERNEL; i++)
		img[S_SETUP + i] = (uint8_t)(i * 7 + 1);
	w8(img, 0x1f1, 2);			/* setup_sects */
	w16(img, 0x1f2, 0);			/* root_flags */
	w32(img, 0x1f4, S_KERNEL / 16);		/* syssize */
	w16(img, 0x1f8, 0);
	w16(img, 0x1fa, 0xffff);		/* vid_mode */
	w16(img, 0x1fc, 0);
	w16(img, 0x1fe, 0xaa55);		/* boot_flag */
	w8(img, 0x200, 0xeb);			/* jump: jmp short 0x26c */
	w8(img, 0x201, 0x6a);
	memcpy(img + 0x202, "HdrS", 4);
	w16(img, 0x206, 0x020f);		/* version 2.15 */
	w32(img, 0x208, 0);
	w16(img, 0x20c, 0x1000);
	w16(img, 0x20e, 0x0200);		/* kernel_version at 0x400 */
	w8(img, 0x210, 0);			/* type_of_loader */
	w8(img, 0x211, 0x01);			/* loadflags: LOADED_HIGH */
	w16(img, 0x212, 0);
	w32(img, 0x214, 0x100000);		/* code32_start */
	w32(img, 0x218, 0);
	w32(img, 0x21c, 0);
	w32(img, 0x220, 0);
	w16(img, 0x224, 0);
	w8(img, 0x226, 0);
	w8(img, 0x227, 0);
	w32(img, 0x228, 0);
	w32(img, 0x22c, 0x37ffffff);		/* initrd_addr_max */
	w32(img, 0x230, 0x200000);		/* kernel_alignment */
	w8(img, 0x234, 1);			/* relocatable_kernel */
	w8(img, 0x235, 21);			/* min_alignment */
	w16(img, 0x236, 0x0001);		/* xloadflags: XLF_KERNEL_64 */
	w32(img, 0x238, 0x7ff);			/* cmdline_size */
	w32(img, 0x23c, 0);
	w64(img, 0x240, 0);
	w32(img, 0x248, 0x100);			/* payload_offset */
	w32(img, 0x24c, 0x1000);		/* payload_length */
	w64(img, 0x250, 0);
	w64(img, 0x258, 0x1000000);		/* pref_address: 16 MiB */
	w32(img, 0x260, 0x800000);		/* init_size: 8 MiB */
	w32(img, 0x264, 0);			/* handover_offset */
	w32(img, 0x268, 0);
	memcpy(img + 0x400, "9.9.9-test (tap) #1", 20);
}

/* One damaged header, what the loader must say. */
struct bad {
	const char *what;
	unsigned off, width;
	uint64_t value;
	int code;
	uint64_t err_off;
	const char *msg;
};

static void poke(uint8_t *img, unsigned off, unsigned width, uint64_t v)
{
	switch (width) {
	case 1: w8(img, off, (uint8_t)v); break;
	case 2: w16(img, off, (uint16_t)v); break;
	case 4: w32(img, off, (uint32_t)v); break;
	default: w64(img, off, v); break;
	}
}

static int expect_err(int r, const struct vcr_err *e, int code, uint64_t off, const char *msg,
		      const char *what)
{
	int ok = r == code && e->code == code && strstr(e->msg, msg) &&
		 (off == UINT64_MAX || e->offset == off);
	tap_ok(ok, "%s: %d at %#llx, \"%s\"", what, code, (unsigned long long)off, msg);
	if (!ok)
		tap_diag("  got %d at %#llx: %s", r, (unsigned long long)e->offset, e->msg);
	return ok;
}

static const struct bad bads[] = {
	{ "magic", 0x202, 4, 0x53726449, -EINVAL, 0x202, "HdrS" },
	{ "protocol 2.05", 0x206, 2, 0x0205, -EINVAL, 0x206, "protocol 2.05, need 2.06" },
	{ "boot_flag", 0x1fe, 2, 0x55aa, -EINVAL, 0x1fe, "boot_flag 0x55aa" },
	{ "jump opcode", 0x200, 1, 0xe9, -EINVAL, 0x200, "not a short jump" },
	{ "jump backwards", 0x201, 1, 0x80, -EINVAL, 0x200, "not a short jump" },
	/* 0x202 + 0x50 = 0x252: 2.15 defines fields up to handover_offset's end 0x268. */
	{ "header too short", 0x201, 1, 0x50, -EINVAL, 0x200, "ends at 0x252" },
	{ "setup beyond the file", 0x1f1, 1, 0x20, -EINVAL, 0x1f1, "setup_sects 32" },
	{ "zImage", 0x211, 1, 0x00, -EINVAL, 0x211, "LOADED_HIGH" },
	{ "32-bit only", 0x236, 2, 0x0002, -EINVAL, 0x236, "XLF_KERNEL_64" },
	/* 2.11 has no xloadflags: whatever is there, there is no 64-bit entry. */
	{ "protocol 2.11", 0x206, 2, 0x020b, -EINVAL, 0x236, "protocol 2.11, xloadflags 0" },
	{ "syssize 0", 0x1f4, 4, 0, -EINVAL, 0x1f4, "syssize 0" },
	{ "syssize past the file", 0x1f4, 4, S_KERNEL / 16 + 1, -EINVAL, 0x1f4, "syssize 0x301" },
	{ "alignment", 0x230, 4, 0x3000, -EINVAL, 0x230, "kernel_alignment 0x3000" },
	{ "payload", 0x24c, 4, S_KERNEL - 0x100 + 1, -EINVAL, 0x248, "payload [0x100, +0x2f01)" },
	{ "pref_address low", 0x258, 8, 0x80000, -EINVAL, 0x258, "pref_address 0x80000" },
	{ "pref_address odd", 0x258, 8, 0x1000800, -EINVAL, 0x258, "pref_address 0x1000800" },
	{ "pref_address high", 0x258, 8, 1ull << 32, -EINVAL, 0x258, "pref_address 0x100000000" },
	{ "init_size", 0x260, 4, 0, -EINVAL, 0x260, "init_size 0" },
	{ "handover", 0x264, 4, S_KERNEL, -EINVAL, 0x264, "handover_offset 0x3000" },
};

/* Walk 4-level paging (SDM vol. 3 4.5) at cr3; -1 if not present. */
static int64_t walk(const uint8_t *mem, uint64_t mem_size, uint64_t cr3, uint64_t va)
{
	uint64_t table = cr3 & ~0xfffull;
	const uint64_t mask = 0x000ffffffffff000ull;

	for (int level = 3; level >= 0; level--) {
		unsigned idx = (va >> (12 + 9 * level)) & 511;
		if (table + 8 * idx + 8 > mem_size)
			return -1;
		uint64_t e = r64(mem, table + 8 * idx);
		if (!(e & 1) || !(e & 2))
			return -1;
		if (level == 1 && (e & 0x80))	/* 2 MiB page */
			return (int64_t)((e & mask & ~0x1fffffull) | (va & 0x1fffff));
		if (level == 0)
			return (int64_t)((e & mask) | (va & 0xfff));
		table = e & mask;
	}
	return -1;
}

/* Decode one GDT descriptor (SDM vol. 3 3.4.5). */
struct desc {
	uint32_t base, limit;
	unsigned type, s, dpl, p, l, db, g;
};

static struct desc decode(uint64_t d)
{
	struct desc x;

	x.limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	x.base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000));
	x.type = (d >> 40) & 0xf;
	x.s = (d >> 44) & 1;
	x.dpl = (d >> 45) & 3;
	x.p = (d >> 47) & 1;
	x.l = (d >> 53) & 1;
	x.db = (d >> 54) & 1;
	x.g = (d >> 55) & 1;
	return x;
}

static const struct vmm_linux_range *find_written(const struct vmm_linux_plan *p, uint64_t gpa)
{
	for (uint32_t i = 0; i < p->nwritten; i++)
		if (p->written[i].gpa == gpa)
			return &p->written[i];
	return NULL;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static void test_probe(void)
{
	static uint8_t img[S_SIZE], bad[S_SIZE];
	struct vmm_linux_kernel k;
	struct vcr_err e = { 0 };
	int r;

	synth(img);
	tap_ok(vmm_linux_is_bzimage(img, S_SIZE), "a synthetic bzImage is detected");
	tap_ok(!vmm_linux_is_bzimage((const uint8_t *)"\177ELF\2\1\1", 7) &&
	       !vmm_linux_is_bzimage(img, 0x205), "an ELF and a header cut before HdrS are not");

	r = vmm_linux_probe(&k, img, S_SIZE, "synth", &e);
	if (!tap_ok(r == 0, "probe accepts the synthetic image"))
		tap_diag("  %d: %s", r, e.msg);
	tap_is_u64(k.version, 0x020f, "protocol version from 0x206");
	tap_is_u64(k.hdr_end, 0x26c, "header end = 0x202 + the byte at 0x201");
	tap_is_u64(k.kernel_offset, 3 * 512, "protected-mode kernel after (setup_sects + 1) sectors");
	tap_is_u64(k.kernel_size, S_KERNEL, "protected-mode kernel is the rest of the file");
	tap_ok(k.relocatable && k.kernel_alignment == 0x200000 && k.init_size == 0x800000 &&
	       k.cmdline_size == 0x7ff && k.initrd_addr_max == 0x37ffffff,
	       "relocatable, alignment, init_size, cmdline_size, initrd_addr_max");
	tap_is_u64(k.load_addr, 0x1000000, "loads at pref_address");
	tap_is_u64(k.entry, 0x1000200, "64-bit entry at load address + 0x200");
	tap_ok(!strcmp(k.version_str, "9.9.9-test (tap) #1"),
	       "kernel_version string at its pointer + 0x200 (\"%s\")", k.version_str);

	/* setup_sects 0 means 4. */
	{
		static uint8_t big[5 * 512 + S_KERNEL];
		memcpy(big, img, S_SETUP);
		memcpy(big + 5 * 512, img + S_SETUP, S_KERNEL);
		w8(big, 0x1f1, 0);
		r = vmm_linux_probe(&k, big, sizeof(big), "synth", &e);
		tap_ok(r == 0 && k.kernel_offset == 5 * 512 && k.setup_sects == 4,
		       "setup_sects 0 reads as 4");
	}
	/* Not relocatable, no pref_address: 1 MiB, whatever the alignment. */
	memcpy(bad, img, S_SIZE);
	w8(bad, 0x234, 0);
	w64(bad, 0x258, 0);
	w32(bad, 0x230, 0x3000);
	r = vmm_linux_probe(&k, bad, S_SIZE, "synth", &e);
	tap_ok(r == 0 && k.load_addr == 0x100000 && k.entry == 0x100200,
	       "fixed kernel without pref_address loads at 1 MiB");
	/* Relocatable with pref_address below its alignment: aligned up. */
	memcpy(bad, img, S_SIZE);
	w64(bad, 0x258, 0x101000);
	r = vmm_linux_probe(&k, bad, S_SIZE, "synth", &e);
	tap_ok(r == 0 && k.load_addr == 0x200000, "relocatable load address aligned up to 2 MiB");

	for (size_t i = 0; i < VCR_ARRAY_SIZE(bads); i++) {
		const struct bad *b = &bads[i];
		memcpy(bad, img, S_SIZE);
		poke(bad, b->off, b->width, b->value);
		vcr_err_clear(&e);
		r = vmm_linux_probe(&k, bad, S_SIZE, "synth", &e);
		expect_err(r, &e, b->code, b->err_off, b->msg, b->what);
	}
	r = vmm_linux_probe(&k, img, S_SETUP, "synth", &e);
	expect_err(r, &e, -EINVAL, 0x1f1, "leaves no kernel", "file cut after the setup code");
}

static void test_plan(void)
{
	static uint8_t img[S_SIZE];
	struct vmm_linux_kernel k;
	struct vmm_linux_plan p;
	struct vmm_linux_layout l;
	struct vcr_err e = { 0 };
	int r;

	synth(img);
	vmm_linux_probe(&k, img, S_SIZE, "synth", &e);
	memset(&l, 0, sizeof(l));
	l.ram_size = 64 * MiB;

	r = vmm_linux_plan(&p, &k, &l, 0, 13, &e);
	tap_ok(r == 0 && p.kernel_addr == 0x1000000 && p.kernel_end == 0x1800000 &&
	       p.initrd_addr == 0 && p.initrd_size == 0,
	       "64 MiB: kernel [16 MiB, 24 MiB) (init_size), no initrd");
	tap_ok(p.ne820 == 3 &&
	       p.e820[0].addr == 0 && p.e820[0].size == 0x9fc00 && p.e820[0].type == 1 &&
	       p.e820[1].addr == 0x9fc00 && p.e820[1].size == 0x60400 && p.e820[1].type == 2 &&
	       p.e820[2].addr == 0x100000 && p.e820[2].size == 63 * MiB && p.e820[2].type == 1,
	       "e820: RAM < 0x9fc00, reserved to 1 MiB, RAM 1 MiB - 64 MiB");

	/* Highest page below min(initrd_addr_max + 1, RAM end). */
	r = vmm_linux_plan(&p, &k, &l, 0x5000, 13, &e);
	tap_is_u64(p.initrd_addr, 64 * MiB - 0x5000, "initrd at the top of RAM");
	r = vmm_linux_plan(&p, &k, &l, 0x1001, 13, &e);
	tap_is_u64(p.initrd_addr, (64 * MiB - 0x1001) & ~0xfffull, "initrd start page aligned");
	k.initrd_addr_max = 0x1ffffff;
	r = vmm_linux_plan(&p, &k, &l, 0x5000, 13, &e);
	tap_is_u64(p.initrd_addr, 32 * MiB - 0x5000, "initrd below initrd_addr_max + 1");
	k.initrd_addr_max = 0x17fffff;	/* the kernel's range ends at its limit */
	r = vmm_linux_plan(&p, &k, &l, 0x5000, 13, &e);
	tap_is_u64(p.initrd_addr, 16 * MiB - 0x5000, "initrd below the kernel when above is full");
	k.initrd_addr_max = 0x37ffffff;
	l.ram_size = 32 * MiB;
	r = vmm_linux_plan(&p, &k, &l, 20 * MiB, 13, &e);
	expect_err(r, &e, -EFBIG, UINT64_MAX, "initrd of 20971520 bytes does not fit",
		   "initrd larger than any free range");

	l.ram_size = 20 * MiB;
	r = vmm_linux_plan(&p, &k, &l, 0, 0, &e);
	expect_err(r, &e, -EFBIG, UINT64_MAX, "needs [0x1000000, 0x1800000)",
		   "init_size beyond the end of RAM");
	tap_ok(strstr(e.msg, "at least 24 MiB") != NULL, "the message says how much: %s", e.msg);

	l.ram_size = 64 * MiB;
	r = vmm_linux_plan(&p, &k, &l, 0, 0x7ff, &e);
	tap_ok(r == 0, "a command line of cmdline_size bytes fits");
	r = vmm_linux_plan(&p, &k, &l, 0, 0x800, &e);
	expect_err(r, &e, -E2BIG, UINT64_MAX, "2048 bytes: the kernel takes 2047",
		   "command line longer than cmdline_size");
	k.cmdline_size = 0x100000;
	r = vmm_linux_plan(&p, &k, &l, 0, VMM_LINUX_CMDLINE_MAX, &e);
	expect_err(r, &e, -E2BIG, UINT64_MAX, "Linux command line", "command line beyond the loader's area");
	k.cmdline_size = 0x7ff;

	l.ram_size = 1 * MiB;
	r = vmm_linux_plan(&p, &k, &l, 0, 0, &e);
	expect_err(r, &e, -EINVAL, UINT64_MAX, "RAM size 0x100000", "1 MiB of RAM");
	l.ram_size = 64 * MiB + 0x800;
	r = vmm_linux_plan(&p, &k, &l, 0, 0, &e);
	expect_err(r, &e, -EINVAL, UINT64_MAX, "not a page multiple", "RAM not a page multiple");
	l.ram_size = 5ull << 30;
	r = vmm_linux_plan(&p, &k, &l, 0, 0, &e);
	expect_err(r, &e, -EINVAL, UINT64_MAX, "RAM size 0x140000000", "RAM beyond 4 GiB");
	l.ram_size = 64 * MiB;
	l.nreserved = 1;
	l.reserved[0] = (struct vmm_linux_range){ 0x8800, 0x100 };
	r = vmm_linux_plan(&p, &k, &l, 0, 0, &e);
	expect_err(r, &e, -EINVAL, UINT64_MAX, "overlaps the boot structures",
		   "reserved range on the zero page");
	l.reserved[0] = (struct vmm_linux_range){ 0x17ff000, 0x2000 };
	r = vmm_linux_plan(&p, &k, &l, 0, 0, &e);
	expect_err(r, &e, -EINVAL, UINT64_MAX, "overlaps the kernel", "reserved range on init_size");
	l.reserved[0] = (struct vmm_linux_range){ UINT64_MAX - 0xfff, 0x1000 };
	r = vmm_linux_plan(&p, &k, &l, 0, 0, &e);
	expect_err(r, &e, -EINVAL, UINT64_MAX, "beyond 4 GiB", "reserved range that wraps");

	/* Holes: one in RAM, one inside the legacy hole, one MMIO page beyond. */
	l.nreserved = 3;
	l.reserved[0] = (struct vmm_linux_range){ 0x3000000, 0x100000 };
	l.reserved[1] = (struct vmm_linux_range){ 0xf0000, 0x10000 };
	l.reserved[2] = (struct vmm_linux_range){ 0xfec00000, 0x1000 };
	r = vmm_linux_plan(&p, &k, &l, 16 * MiB, 0, &e);
	tap_ok(r == 0 && p.ne820 == 6 &&
	       p.e820[0].addr == 0 && p.e820[0].size == 0x9fc00 && p.e820[0].type == 1 &&
	       p.e820[1].addr == 0x9fc00 && p.e820[1].size == 0x60400 && p.e820[1].type == 2 &&
	       p.e820[2].addr == 0x100000 && p.e820[2].size == 0x2f00000 && p.e820[2].type == 1 &&
	       p.e820[3].addr == 0x3000000 && p.e820[3].size == 0x100000 && p.e820[3].type == 2 &&
	       p.e820[4].addr == 0x3100000 && p.e820[4].size == 0xf00000 && p.e820[4].type == 1 &&
	       p.e820[5].addr == 0xfec00000 && p.e820[5].size == 0x1000 && p.e820[5].type == 2,
	       "e820 with reserved ranges carved out of RAM, merged into the hole, beyond RAM");
	/* 16 MiB fits neither [49 MiB, 64 MiB) nor under the kernel; it does
	 * between the kernel's end (24 MiB) and the hole at 48 MiB. */
	tap_is_u64(p.initrd_addr, 0x2000000, "initrd skips a reserved range");
}

static void test_build(void)
{
	static uint8_t img[S_SIZE];
	struct vmm_linux_kernel k;
	struct vmm_linux_plan p;
	struct vmm_linux_layout l = { .ram_size = 64 * MiB };
	struct vcr_err e = { 0 };
	struct vcr_vcpu_state st;
	const char *cmd = "console=ttyS0 panic=-1";
	uint8_t initrd[0x1001];
	uint8_t *mem = malloc(l.ram_size);
	int r;

	if (!mem)
		tap_bail("malloc");
	memset(mem, 0xa5, l.ram_size);	/* what the loader must not touch */
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	synth(img);
	vmm_linux_probe(&k, img, S_SIZE, "synth", &e);
	vmm_linux_plan(&p, &k, &l, sizeof(initrd), strlen(cmd), &e);
	r = vmm_linux_build(&p, &k, img, S_SIZE, initrd, sizeof(initrd), "console=ttyS0", mem,
			    l.ram_size, &e);
	expect_err(r, &e, -EINVAL, UINT64_MAX, "differ from the plan", "build refuses a different command line");
	r = vmm_linux_build(&p, &k, img, S_SIZE, initrd, sizeof(initrd), cmd, mem, l.ram_size, &e);
	if (!tap_ok(r == 0, "build"))
		tap_diag("  %d: %s", r, e.msg);

	memset(&st, 0, sizeof(st));
	st.sregs.tr.selector = 0x77;	/* stands for KVM's reset state */
	vmm_linux_set_state(&k, &st);
	const struct kvm_regs *g = &st.regs;
	const struct kvm_sregs *s = &st.sregs;
	tap_is_u64(g->rip, 0x1000000 + 0x200, "rip = pref_address + 0x200");
	tap_ok(!(g->rflags & 0x200) && (g->rflags & 2), "interrupts off (rflags %#llx)",
	       (unsigned long long)g->rflags);
	tap_ok(s->cs.selector == 0x10 && s->ds.selector == 0x18 && s->es.selector == 0x18 &&
	       s->ss.selector == 0x18, "CS = __BOOT_CS 0x10, DS = ES = SS = __BOOT_DS 0x18");
	tap_ok((s->cr0 & 0x80000001) == 0x80000001 && (s->cr4 & 0x20) && (s->efer & 0x500) == 0x500 &&
	       s->cs.l == 1 && s->cs.db == 0, "64-bit mode: PE, PG, PAE, LME, LMA, CS.L");
	tap_ok(s->tr.selector == 0x77, "state not of the protocol is left alone");

	/* Zero page, at the protocol's offsets. */
	const uint8_t *zp = mem + g->rsi;
	tap_ok(g->rsi + 0x1000 <= 0x100000 && !memcmp(zp + 0x202, "HdrS", 4) &&
	       r16(zp, 0x206) == 0x020f && zp[0x1f1] == 2 && r32(zp, 0x1f4) == S_KERNEL / 16 &&
	       r64(zp, 0x258) == 0x1000000 && r32(zp, 0x260) == 0x800000 &&
	       r32(zp, 0x238) == 0x7ff && r16(zp, 0x1fe) == 0xaa55,
	       "rsi: zero page below 1 MiB with the image's setup header copied");
	int stray = 0;
	for (unsigned i = 0; i < 0x1000; i++) {
		bool field = (i >= 0x1f1 && i < 0x26c) || i == 0x1e8 ||
			     (i >= 0x2d0 && i < 0x2d0 + 3 * 20);
		if (!field && zp[i])
			stray++;
	}
	tap_ok(stray == 0 && zp[0x1ef] == 0, "the rest of the zero page is zero, sentinel included");
	tap_is_u64(zp[0x210], 0xff, "type_of_loader 0xff");
	tap_is_u64(zp[0x211], 0x81, "loadflags: the image's LOADED_HIGH + CAN_USE_HEAP");
	tap_ok(r16(zp, 0x224) != 0, "heap_end_ptr set");
	tap_ok(r32(zp, 0x218) == (64 * MiB - 0x1001) / 0x1000 * 0x1000 && r32(zp, 0x21c) == 0x1001 &&
	       r32(zp, 0xc0) == 0 && r32(zp, 0xc4) == 0,
	       "ramdisk_image/size (+ ext_ halves) where the initrd goes");
	uint64_t clp = r32(zp, 0x228) | (uint64_t)r32(zp, 0xc8) << 32;
	tap_ok(clp + strlen(cmd) + 1 <= 0x100000 && !strcmp((char *)mem + clp, cmd),
	       "cmd_line_ptr (+ ext_cmd_line_ptr) points to the command line");
	tap_ok(r64(zp, 0x250) == 0 && r32(zp, 0x23c) == 0, "no setup_data, subarch PC");
	tap_ok(zp[0x1e8] == 3 &&
	       r64(zp, 0x2d0) == 0 && r64(zp, 0x2d8) == 0x9fc00 && r32(zp, 0x2e0) == 1 &&
	       r64(zp, 0x2e4) == 0x9fc00 && r64(zp, 0x2ec) == 0x60400 && r32(zp, 0x2f4) == 2 &&
	       r64(zp, 0x2f8) == 0x100000 && r64(zp, 0x300) == 63 * MiB && r32(zp, 0x308) == 1,
	       "e820_entries and e820_table (20-byte entries at 0x2d0)");

	tap_ok(!memcmp(mem + 0x1000000, img + S_SETUP, S_KERNEL),
	       "protected-mode kernel at pref_address");
	tap_ok(!memcmp(mem + r32(zp, 0x218), initrd, sizeof(initrd)), "initrd bytes in place");

	/* Identity mapping over what the protocol names, and all of RAM. */
	uint64_t vas[] = { 0, g->rip, g->rsi, clp, 0x1000000 + 0x800000 - 1, p.initrd_addr,
			   l.ram_size - 1, 0xffffffff };
	int bad_map = 0;
	for (size_t i = 0; i < VCR_ARRAY_SIZE(vas); i++)
		if (walk(mem, l.ram_size, s->cr3, vas[i]) != (int64_t)vas[i])
			bad_map++;
	tap_ok(bad_map == 0 && walk(mem, l.ram_size, s->cr3, 1ull << 32) == -1,
	       "page tables at cr3 map 0-4 GiB identically, writable");

	/* GDT: __BOOT_CS / __BOOT_DS flat, code execute/read, data read/write. */
	tap_ok(s->gdt.limit >= 0x1f && s->gdt.base + s->gdt.limit < 0x100000, "GDT covers 0x18");
	struct desc cs = decode(r64(mem, s->gdt.base + 0x10));
	struct desc ds = decode(r64(mem, s->gdt.base + 0x18));
	tap_ok(cs.base == 0 && cs.limit == 0xfffff && cs.g && cs.p && cs.s && cs.dpl == 0 &&
	       (cs.type & 0xa) == 0xa && cs.l && !cs.db, "GDT 0x10: flat 64-bit code, execute/read");
	tap_ok(ds.base == 0 && ds.limit == 0xfffff && ds.g && ds.p && ds.s && ds.dpl == 0 &&
	       (ds.type & 0xa) == 0x2 && ds.db, "GDT 0x18: flat data, read/write");
	tap_ok(s->cs.type == cs.type && s->cs.l == cs.l && s->ds.type == ds.type &&
	       s->cs.base == 0 && s->cs.limit == 0xffffffff, "segment registers match their descriptors");

	/* What was written: the ranges listed, nothing else, no two overlapping,
	 * the boot structures clear of kernel (init_size) and initrd. */
	bool listed = find_written(&p, 0x1000000) && find_written(&p, p.initrd_addr) &&
		      find_written(&p, g->rsi) && find_written(&p, clp) &&
		      find_written(&p, s->gdt.base) && find_written(&p, s->cr3);
	int ov = 0;
	for (uint32_t i = 0; i < p.nwritten; i++) {
		const struct vmm_linux_range *a = &p.written[i];
		for (uint32_t j = i + 1; j < p.nwritten; j++)
			ov += overlap(a->gpa, a->size, p.written[j].gpa, p.written[j].size);
		if (a->gpa != 0x1000000)
			ov += overlap(a->gpa, a->size, 0x1000000, 0x800000);
		if (a->gpa != p.initrd_addr)
			ov += overlap(a->gpa, a->size, p.initrd_addr, sizeof(initrd));
		ov += overlap(a->gpa, a->size, g->rsp - 0x1000, 0x1000);	/* the stack */
	}
	tap_ok(listed && ov == 0, "written: kernel, initrd, zero page, cmdline, GDT, page "
	       "tables, none overlapping another or the stack (%u ranges)", p.nwritten);
	/* The expected memory: 0xa5 but for the listed ranges, taken as is. */
	uint8_t *want = malloc(l.ram_size);
	uint64_t touched = 0;
	if (want) {
		memset(want, 0xa5, l.ram_size);
		for (uint32_t i = 0; i < p.nwritten; i++)
			memcpy(want + p.written[i].gpa, mem + p.written[i].gpa, p.written[i].size);
		for (uint64_t a = 0; a < l.ram_size; a++)
			touched += mem[a] != want[a];
	}
	tap_ok(want && touched == 0, "no byte outside the listed ranges changed (%llu did)",
	       (unsigned long long)touched);
	free(want);
	free(mem);
}

static uint8_t *read_file(const char *path, uint64_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*size = (uint64_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

#define REAL_POINTS 7

static void test_real(void)
{
	char path[4096], vpath[4096], ver[128] = "";
	const char *home = getenv("HOME");
	uint64_t size = 0;
	uint8_t *img;

	snprintf(path, sizeof(path), "%s/.cache/vcr/kernel/vmlinuz", home ? home : "");
	snprintf(vpath, sizeof(vpath), "%s/.cache/vcr/kernel/version", home ? home : "");
	img = read_file(path, &size);
	if (!img) {
		for (int i = 0; i < REAL_POINTS; i++)
			tap_ok(1, "Debian bzImage point %d # SKIP %s absent", i + 1, path);
		return;
	}
	FILE *vf = fopen(vpath, "r");
	if (vf) {
		if (!fgets(ver, sizeof(ver), vf))
			ver[0] = 0;
		ver[strcspn(ver, "\n")] = 0;
		fclose(vf);
	}
	struct vmm_linux_kernel k;
	struct vmm_linux_plan p;
	struct vcr_err e = { 0 };
	int r;

	tap_ok(vmm_linux_is_bzimage(img, size), "Debian vmlinuz is a bzImage");
	r = vmm_linux_probe(&k, img, size, path, &e);
	if (!tap_ok(r == 0, "probe accepts it"))
		tap_diag("  %d: %s", r, e.msg);
	unsigned ss = img[0x1f1] ? img[0x1f1] : 4;
	tap_ok(k.version == r16(img, 0x206) && k.version >= 0x20c && (k.xloadflags & 1) &&
	       k.kernel_offset == (ss + 1) * 512ull && k.kernel_size == size - (ss + 1) * 512ull &&
	       k.load_addr == r64(img, 0x258) && k.init_size == r32(img, 0x260),
	       "version %#x, setup %u sectors, 64-bit, loads at pref_address %#llx", k.version,
	       ss, (unsigned long long)r64(img, 0x258));
	tap_ok(ver[0] && !strncmp(k.version_str, ver, strlen(ver)),
	       "kernel_version \"%.40s\" starts with %s", k.version_str, ver);

	/* 256 MiB, a 1 MiB initrd. */
	struct vmm_linux_layout l = { .ram_size = 256 * MiB };
	uint64_t limit = (uint64_t)r32(img, 0x22c) + 1;
	uint64_t want = (limit < l.ram_size ? limit : l.ram_size) - MiB;
	const char *cmd = "console=ttyS0 nokaslr";
	uint8_t *initrd = calloc(1, MiB);
	r = vmm_linux_plan(&p, &k, &l, MiB, strlen(cmd), &e);
	tap_ok(r == 0 && p.initrd_addr == want && p.kernel_end == k.load_addr + k.init_size,
	       "256 MiB: initrd at %#llx, kernel up to %#llx", (unsigned long long)p.initrd_addr,
	       (unsigned long long)p.kernel_end);
	uint8_t *mem = calloc(1, l.ram_size);
	r = mem && initrd ? vmm_linux_build(&p, &k, img, size, initrd, MiB, cmd, mem, l.ram_size, &e)
			  : -ENOMEM;
	tap_ok(r == 0 && !memcmp(mem + k.load_addr, img + k.kernel_offset, k.kernel_size),
	       "build: the protected-mode kernel at its load address");
	free(mem);
	l.ram_size = 64 * MiB;
	r = vmm_linux_plan(&p, &k, &l, 0, 0, &e);
	if (r64(img, 0x258) + r32(img, 0x260) > 64 * MiB)
		expect_err(r, &e, -EFBIG, UINT64_MAX, "init_size", "64 MiB is too small for its init_size");
	else
		tap_ok(r == 0, "64 MiB holds its init_size");
	free(initrd);
	free(img);
}

int main(void)
{
	tap_plan(14 + (int)VCR_ARRAY_SIZE(bads) + 1 + 20 + 25 + REAL_POINTS);
	test_probe();
	test_plan();
	test_build();
	test_real();
	return tap_exit_status();
}
