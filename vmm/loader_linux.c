/*
 * vmm/loader_linux.c: the Linux x86 boot protocol, 64-bit entry (see
 * loader_linux.h). The layouts are the uapi ones (asm/bootparam.h); the
 * asserts below pin the offsets boot.rst and zero-page.rst give, so a
 * different header cannot silently move a field.
 */
#include "vmm/loader_linux.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ZP(f, off) _Static_assert(offsetof(struct boot_params, f) == (off), #f)
ZP(ext_ramdisk_image, 0x0c0);
ZP(ext_ramdisk_size, 0x0c4);
ZP(ext_cmd_line_ptr, 0x0c8);
ZP(e820_entries, 0x1e8);
ZP(sentinel, 0x1ef);
ZP(hdr, 0x1f1);
ZP(hdr.syssize, 0x1f4);
ZP(hdr.boot_flag, 0x1fe);
ZP(hdr.jump, 0x200);
ZP(hdr.header, 0x202);
ZP(hdr.version, 0x206);
ZP(hdr.kernel_version, 0x20e);
ZP(hdr.type_of_loader, 0x210);
ZP(hdr.loadflags, 0x211);
ZP(hdr.ramdisk_image, 0x218);
ZP(hdr.ramdisk_size, 0x21c);
ZP(hdr.heap_end_ptr, 0x224);
ZP(hdr.cmd_line_ptr, 0x228);
ZP(hdr.initrd_addr_max, 0x22c);
ZP(hdr.kernel_alignment, 0x230);
ZP(hdr.relocatable_kernel, 0x234);
ZP(hdr.xloadflags, 0x236);
ZP(hdr.cmdline_size, 0x238);
ZP(hdr.hardware_subarch, 0x23c);
ZP(hdr.payload_offset, 0x248);
ZP(hdr.payload_length, 0x24c);
ZP(hdr.setup_data, 0x250);
ZP(hdr.pref_address, 0x258);
ZP(hdr.init_size, 0x260);
ZP(hdr.handover_offset, 0x264);
ZP(e820_table, 0x2d0);
_Static_assert(sizeof(struct boot_params) == 4096, "zero page");
_Static_assert(sizeof(struct boot_e820_entry) == 20, "e820 entry");

#define HDR_OFF		0x1f1u
#define SETUP_MAGIC	0x53726448u	/* "HdrS" */
#define BOOT_FLAG	0xaa55u
#define LOW_RAM_END	0x9fc00ull	/* EBDA below 640 KiB */
#define HIGH_RAM	0x100000ull
#define PAGE		0x1000ull
#define LOW_BOOT_END	VMM_LINUX_STACK_TOP	/* the boot structures end here */

/* The file offset just past the field, for "header too short" checks. */
#define FEND(f) (offsetof(struct boot_params, hdr.f) + sizeof(((struct setup_header *)0)->f))

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

#define HOFF(f) offsetof(struct boot_params, hdr.f)

bool vmm_linux_is_bzimage(const uint8_t *img, uint64_t size)
{
	return size >= HOFF(header) + 4 && rd32(img + HOFF(header)) == SETUP_MAGIC;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* The header fields as of a protocol version: which one must the header
 * reach for version v (so a field the version defines is not read past the
 * header's end, where the setup code starts)? */
static uint64_t hdr_needed(uint16_t v)
{
	if (v >= 0x20b)
		return FEND(handover_offset);
	if (v >= 0x20a)
		return FEND(init_size);
	if (v >= 0x208)
		return FEND(payload_length);
	return FEND(cmdline_size);
}

static void version_string(struct vmm_linux_kernel *k, const uint8_t *img)
{
	uint16_t ptr = rd16(img + HOFF(kernel_version));
	uint64_t off = (uint64_t)ptr + 0x200, n;

	k->version_str[0] = 0;
	/* Inside the setup code (where the string lives), NUL-terminated. */
	if (!ptr || off >= k->kernel_offset)
		return;
	for (n = 0; off + n < k->kernel_offset && n < sizeof(k->version_str) - 1; n++) {
		char c = (char)img[off + n];
		if (!c)
			break;
		k->version_str[n] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	k->version_str[n] = 0;
}

int vmm_linux_probe(struct vmm_linux_kernel *k, const uint8_t *img, uint64_t size,
		    const char *path, struct vcr_err *err)
{
	const uint8_t *h = img;
	uint64_t setup;

	memset(k, 0, sizeof(*k));
	if (!vmm_linux_is_bzimage(img, size))
		return vcr_err_set(err, -EINVAL, HOFF(header),
				   "%s: no Linux setup header (\"HdrS\" at 0x202)", path);
	k->version = rd16(h + HOFF(version));
	if (k->version < 0x206)
		return vcr_err_set(err, -EINVAL, HOFF(version),
				   "%s: Linux boot protocol %u.%02u, need 2.06 or later", path,
				   k->version >> 8, k->version & 0xff);
	if (rd16(h + HOFF(boot_flag)) != BOOT_FLAG)
		return vcr_err_set(err, -EINVAL, HOFF(boot_flag),
				   "%s: boot_flag %#x, expected 0xaa55", path,
				   rd16(h + HOFF(boot_flag)));
	/* jump is "jmp short" (0xeb, rel8) over the header: its target is the
	 * header's end (boot.rst: 0x202 + the byte at 0x201). */
	if (h[HOFF(jump)] != 0xeb || h[HOFF(jump) + 1] > 0x7f)
		return vcr_err_set(err, -EINVAL, HOFF(jump),
				   "%s: setup header jump %02x %02x is not a short jump forward",
				   path, h[HOFF(jump)], h[HOFF(jump) + 1]);
	k->hdr_end = 0x202 + (uint64_t)h[HOFF(jump) + 1];
	if (k->hdr_end < hdr_needed(k->version))
		return vcr_err_set(err, -EINVAL, HOFF(jump),
				   "%s: setup header ends at %#llx, protocol %u.%02u defines "
				   "fields up to %#llx", path, (unsigned long long)k->hdr_end,
				   k->version >> 8, k->version & 0xff,
				   (unsigned long long)hdr_needed(k->version));
	k->setup_sects = h[HDR_OFF] ? h[HDR_OFF] : 4;
	setup = ((uint64_t)k->setup_sects + 1) * 512;
	if (setup < k->hdr_end || setup >= size)
		return vcr_err_set(err, -EINVAL, HDR_OFF,
				   "%s: setup_sects %u: setup code [0, %#llx) leaves no kernel "
				   "in a file of %#llx bytes", path, h[HDR_OFF],
				   (unsigned long long)setup, (unsigned long long)size);
	k->kernel_offset = setup;
	k->kernel_size = size - setup;
	version_string(k, img);

	k->loadflags = h[HOFF(loadflags)];
	if (!(k->loadflags & LOADED_HIGH))
		return vcr_err_set(err, -EINVAL, HOFF(loadflags),
				   "%s: a zImage (loadflags %#x without LOADED_HIGH): only "
				   "bzImage kernels load at 1 MiB", path, k->loadflags);
	if (k->version >= 0x20c)
		k->xloadflags = rd16(h + HOFF(xloadflags));
	if (!(k->xloadflags & XLF_KERNEL_64))
		return vcr_err_set(err, -EINVAL, HOFF(xloadflags),
				   "%s: no 64-bit entry point (protocol %u.%02u, xloadflags %#x "
				   "without XLF_KERNEL_64)", path, k->version >> 8,
				   k->version & 0xff, k->xloadflags);

	k->syssize = rd32(h + HOFF(syssize));
	/* syssize is rounded up to 16 bytes; the file may also carry a few
	 * bytes past it (the build tool's trailer), which are loaded too. */
	if (!k->syssize || (uint64_t)k->syssize * 16 > k->kernel_size + 15)
		return vcr_err_set(err, -EINVAL, HOFF(syssize),
				   "%s: syssize %#x (%#llx bytes) but the file has %#llx bytes "
				   "after the setup code", path, k->syssize,
				   (unsigned long long)k->syssize * 16,
				   (unsigned long long)k->kernel_size);

	k->relocatable = h[HOFF(relocatable_kernel)] != 0;
	k->kernel_alignment = rd32(h + HOFF(kernel_alignment));
	if (k->relocatable && (k->kernel_alignment < PAGE || k->kernel_alignment > (1u << 30) ||
			       (k->kernel_alignment & (k->kernel_alignment - 1))))
		return vcr_err_set(err, -EINVAL, HOFF(kernel_alignment),
				   "%s: kernel_alignment %#x is not a power of two in [4 KiB, "
				   "1 GiB]", path, k->kernel_alignment);
	k->cmdline_size = rd32(h + HOFF(cmdline_size));
	k->initrd_addr_max = rd32(h + HOFF(initrd_addr_max));
	if (k->version >= 0x208) {
		uint32_t po = rd32(h + HOFF(payload_offset)), pl = rd32(h + HOFF(payload_length));
		if (!vcr_range_ok(po, pl, k->kernel_size))
			return vcr_err_set(err, -EINVAL, HOFF(payload_offset),
					   "%s: payload [%#x, +%#x) outside the %#llx-byte "
					   "protected-mode kernel", path, po, pl,
					   (unsigned long long)k->kernel_size);
	}
	if (k->version >= 0x20a) {
		k->pref_address = rd64(h + HOFF(pref_address));
		k->init_size = rd32(h + HOFF(init_size));
		if (k->pref_address && (k->pref_address < HIGH_RAM ||
					k->pref_address >= VMM_LINUX_RAM_MAX ||
					k->pref_address & (PAGE - 1)))
			return vcr_err_set(err, -EINVAL, HOFF(pref_address),
					   "%s: pref_address %#llx is not a page in [1 MiB, 4 GiB)",
					   path, (unsigned long long)k->pref_address);
		if (!k->init_size)
			return vcr_err_set(err, -EINVAL, HOFF(init_size), "%s: init_size 0",
					   path);
	}
	if (k->version >= 0x20b) {
		k->handover_offset = rd32(h + HOFF(handover_offset));
		if (k->handover_offset >= k->kernel_size)
			return vcr_err_set(err, -EINVAL, HOFF(handover_offset),
					   "%s: handover_offset %#x outside the %#llx-byte "
					   "protected-mode kernel", path, k->handover_offset,
					   (unsigned long long)k->kernel_size);
	}
	/* A relocatable kernel runs at max(align_up(load, kernel_alignment),
	 * pref_address) (boot.rst, "kernel runtime start address"): loading it
	 * right there spares the decompressor a copy. A fixed one runs at
	 * pref_address whatever. */
	k->load_addr = k->pref_address ? k->pref_address : HIGH_RAM;
	if (k->relocatable)
		k->load_addr = align_up(k->load_addr, k->kernel_alignment);
	if (k->load_addr >= VMM_LINUX_RAM_MAX)
		return vcr_err_set(err, -EINVAL, HOFF(pref_address),
				   "%s: load address %#llx above 4 GiB", path,
				   (unsigned long long)k->load_addr);
	k->entry = k->load_addr + 0x200;
	return 0;
}

/* ---------------------------------------------------------------- plan */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The type of [a, b), an interval no range boundary cuts: reserved beats
 * RAM; 0 when it is neither. */
static uint32_t e820_type(const struct vmm_linux_layout *l, uint64_t a)
{
	for (uint32_t i = 0; i < l->nreserved; i++)
		if (a >= l->reserved[i].gpa && a - l->reserved[i].gpa < l->reserved[i].size)
			return VMM_E820_RESERVED;
	if (a >= LOW_RAM_END && a < HIGH_RAM)
		return VMM_E820_RESERVED;
	return a < l->ram_size ? VMM_E820_RAM : 0;
}

static void e820_build(struct vmm_linux_plan *p, const struct vmm_linux_layout *l)
{
	uint64_t pts[4 + 2 * VMM_LINUX_MAX_RESERVED];
	uint32_t n = 0;

	pts[n++] = 0;
	pts[n++] = LOW_RAM_END;
	pts[n++] = HIGH_RAM;
	pts[n++] = l->ram_size;
	for (uint32_t i = 0; i < l->nreserved; i++) {
		pts[n++] = l->reserved[i].gpa;
		pts[n++] = l->reserved[i].gpa + l->reserved[i].size;
	}
	qsort(pts, n, sizeof(pts[0]), cmp_u64);
	p->ne820 = 0;
	for (uint32_t i = 0; i + 1 < n; i++) {
		uint64_t a = pts[i], b = pts[i + 1];
		uint32_t t;
		if (a == b)
			continue;
		t = e820_type(l, a);
		if (!t)
			continue;
		struct vmm_linux_e820 *last = p->ne820 ? &p->e820[p->ne820 - 1] : NULL;
		if (last && last->type == t && last->addr + last->size == a) {
			last->size += b - a;
			continue;
		}
		p->e820[p->ne820++] = (struct vmm_linux_e820){ a, b - a, t };
	}
}

/* Highest page-aligned start for size bytes in [lo, hi), or 0 if none. */
static uint64_t fit_top(uint64_t lo, uint64_t hi, uint64_t size)
{
	uint64_t a;

	if (hi <= lo || hi - lo < size)
		return 0;
	a = (hi - size) & ~(PAGE - 1);
	return a >= lo ? a : 0;
}

static uint64_t initrd_place(const struct vmm_linux_plan *p, const struct vmm_linux_kernel *k,
			     uint64_t size)
{
	/* initrd_addr_max is the highest byte the initrd may occupy. */
	uint64_t limit = (uint64_t)k->initrd_addr_max + 1, best = 0;

	if (limit > p->ram_size)
		limit = p->ram_size;
	for (uint32_t i = 0; i < p->ne820; i++) {
		const struct vmm_linux_e820 *e = &p->e820[i];
		uint64_t lo = e->addr, hi = e->addr + e->size, a;
		if (e->type != VMM_E820_RAM)
			continue;
		if (lo < HIGH_RAM)
			lo = HIGH_RAM;
		if (hi > limit)
			hi = limit;
		/* Above the kernel's range, then below it. */
		a = fit_top(lo > p->kernel_end ? lo : p->kernel_end, hi, size);
		if (!a)
			a = fit_top(lo, hi < p->kernel_addr ? hi : p->kernel_addr, size);
		if (a > best)
			best = a;
	}
	return best;
}

static int layout_check(const struct vmm_linux_layout *l, struct vcr_err *err)
{
	if (l->ram_size <= HIGH_RAM || l->ram_size > VMM_LINUX_RAM_MAX ||
	    l->ram_size & (PAGE - 1))
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "Linux boot: RAM size %#llx is not a page multiple in "
				   "(1 MiB, 4 GiB]", (unsigned long long)l->ram_size);
	if (l->nreserved > VMM_LINUX_MAX_RESERVED)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "Linux boot: %u reserved ranges, at most %u", l->nreserved,
				   VMM_LINUX_MAX_RESERVED);
	for (uint32_t i = 0; i < l->nreserved; i++) {
		const struct vmm_linux_range *r = &l->reserved[i];
		uint64_t end;
		if (!r->size || vcr_add_overflow(r->gpa, r->size, &end) ||
		    end > VMM_LINUX_RAM_MAX)
			return vcr_err_set(err, -EINVAL, UINT64_MAX,
					   "Linux boot: reserved range %u [%#llx, +%#llx) is empty "
					   "or beyond 4 GiB", i, (unsigned long long)r->gpa,
					   (unsigned long long)r->size);
		if (overlaps(r->gpa, r->size, VMM_LINUX_GDT, LOW_BOOT_END - VMM_LINUX_GDT))
			return vcr_err_set(err, -EINVAL, UINT64_MAX,
					   "Linux boot: reserved range %u [%#llx, +%#llx) overlaps "
					   "the boot structures [%#llx, %#llx)", i,
					   (unsigned long long)r->gpa, (unsigned long long)r->size,
					   VMM_LINUX_GDT, LOW_BOOT_END);
	}
	return 0;
}

int vmm_linux_plan(struct vmm_linux_plan *p, const struct vmm_linux_kernel *k,
		   const struct vmm_linux_layout *layout, uint64_t initrd_size,
		   uint64_t cmdline_len, struct vcr_err *err)
{
	uint64_t span = k->kernel_size > k->init_size ? k->kernel_size : k->init_size;
	int r;

	memset(p, 0, sizeof(*p));
	r = layout_check(layout, err);
	if (r)
		return r;
	p->ram_size = layout->ram_size;
	p->kernel_addr = k->load_addr;
	p->kernel_end = k->load_addr + span;	/* < 4 GiB + a file size: no overflow */
	if (p->kernel_end > p->ram_size)
		return vcr_err_set(err, -EFBIG, UINT64_MAX,
				   "Linux kernel needs [%#llx, %#llx) (init_size %#x at its load "
				   "address) but RAM ends at %#llx: give at least %llu MiB",
				   (unsigned long long)p->kernel_addr,
				   (unsigned long long)p->kernel_end, k->init_size,
				   (unsigned long long)p->ram_size,
				   (unsigned long long)((p->kernel_end + (1 << 20) - 1) >> 20));
	for (uint32_t i = 0; i < layout->nreserved; i++)
		if (overlaps(layout->reserved[i].gpa, layout->reserved[i].size, p->kernel_addr,
			     span))
			return vcr_err_set(err, -EINVAL, UINT64_MAX,
					   "Linux boot: reserved range %u at %#llx overlaps the "
					   "kernel [%#llx, %#llx)", i,
					   (unsigned long long)layout->reserved[i].gpa,
					   (unsigned long long)p->kernel_addr,
					   (unsigned long long)p->kernel_end);
	if (cmdline_len > k->cmdline_size || cmdline_len >= VMM_LINUX_CMDLINE_MAX)
		return vcr_err_set(err, -E2BIG, UINT64_MAX,
				   "Linux command line of %llu bytes: the kernel takes %u, this "
				   "loader %u", (unsigned long long)cmdline_len, k->cmdline_size,
				   VMM_LINUX_CMDLINE_MAX - 1);
	p->cmdline_len = cmdline_len;
	e820_build(p, layout);
	if (initrd_size) {
		p->initrd_addr = initrd_place(p, k, initrd_size);
		if (!p->initrd_addr)
			return vcr_err_set(err, -EFBIG, UINT64_MAX,
					   "initrd of %llu bytes does not fit in RAM above 1 MiB "
					   "below %#llx outside the kernel [%#llx, %#llx)",
					   (unsigned long long)initrd_size,
					   (unsigned long long)((uint64_t)k->initrd_addr_max + 1),
					   (unsigned long long)p->kernel_addr,
					   (unsigned long long)p->kernel_end);
		p->initrd_size = initrd_size;
	}
	return 0;
}

/* --------------------------------------------------------------- build */

static void put(struct vmm_linux_plan *p, uint8_t *mem, uint64_t gpa, const void *src,
		uint64_t len)
{
	memcpy(mem + gpa, src, len);
	p->written[p->nwritten++] = (struct vmm_linux_range){ gpa, len };
}

static void wr64(uint8_t *dst, uint64_t v)
{
	memcpy(dst, &v, sizeof(v));	/* x86: little-endian like the guest */
}

/* Filled in place: struct boot_params is packed, so any address will do. */
static void zero_page(struct boot_params *bp, const struct vmm_linux_plan *p,
		      const uint8_t *img, const struct vmm_linux_kernel *k)
{
	memset(bp, 0, sizeof(*bp));
	/* The image's own header, up to its end: the rest of the page stays
	 * zero (sentinel included, so the kernel trusts the other fields). */
	memcpy((uint8_t *)bp + HDR_OFF, img + HDR_OFF, k->hdr_end - HDR_OFF);
	bp->hdr.type_of_loader = 0xff;	/* "undefined" boot loader */
	/* The heap only matters to the 16-bit setup code, which the 64-bit
	 * entry skips; filled as boot.rst's sample loader does. */
	bp->hdr.heap_end_ptr = 0xe000 - 0x200;
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.cmd_line_ptr = (uint32_t)VMM_LINUX_CMDLINE;
	bp->ext_cmd_line_ptr = (uint32_t)(VMM_LINUX_CMDLINE >> 32);
	bp->hdr.ramdisk_image = (uint32_t)p->initrd_addr;
	bp->hdr.ramdisk_size = (uint32_t)p->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(p->initrd_addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)(p->initrd_size >> 32);
	bp->hdr.setup_data = 0;		/* no setup_data chain */
	bp->hdr.hardware_subarch = X86_SUBARCH_PC;
	bp->hdr.hardware_subarch_data = 0;
	bp->e820_entries = (uint8_t)p->ne820;
	for (uint32_t i = 0; i < p->ne820; i++) {
		bp->e820_table[i].addr = p->e820[i].addr;
		bp->e820_table[i].size = p->e820[i].size;
		bp->e820_table[i].type = p->e820[i].type;
	}
}

int vmm_linux_build(struct vmm_linux_plan *p, const struct vmm_linux_kernel *k,
		    const uint8_t *img, uint64_t img_size, const uint8_t *initrd,
		    uint64_t initrd_size, const char *cmdline, uint8_t *mem, uint64_t mem_size,
		    struct vcr_err *err)
{
	/* Accessed bits preset (0x9b / 0x93) so the CPU never writes the GDT. */
	static const uint64_t gdt[4] = {
		0,
		0,
		0x00af9b000000ffffull,	/* 0x10 __BOOT_CS: code, 64-bit, 4 GiB */
		0x00cf93000000ffffull,	/* 0x18 __BOOT_DS: data, 4 GiB */
	};
	size_t cl = cmdline ? strlen(cmdline) : 0;
	uint8_t *pt = mem + VMM_LINUX_PML4;

	_Static_assert(VMM_LINUX_PML4 + 0x1000 == VMM_LINUX_PDPT &&
		       VMM_LINUX_PDPT + 0x1000 == VMM_LINUX_PD &&
		       VMM_LINUX_PD + 0x4000 == VMM_LINUX_ZERO_PAGE &&
		       VMM_LINUX_ZERO_PAGE + 0x1000 == VMM_LINUX_CMDLINE &&
		       VMM_LINUX_CMDLINE + VMM_LINUX_CMDLINE_MAX <= VMM_LINUX_STACK_TOP - 0x1000,
		       "boot structures in order, none overlapping");
	if (mem_size != p->ram_size || img_size != k->kernel_offset + k->kernel_size ||
	    initrd_size != p->initrd_size || (initrd_size && !initrd) || cl != p->cmdline_len)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "Linux boot: memory, image, initrd or command line differ "
				   "from the plan");
	p->nwritten = 0;
	put(p, mem, p->kernel_addr, img + k->kernel_offset, k->kernel_size);
	if (initrd_size)
		put(p, mem, p->initrd_addr, initrd, initrd_size);
	zero_page((struct boot_params *)(mem + VMM_LINUX_ZERO_PAGE), p, img, k);
	p->written[p->nwritten++] = (struct vmm_linux_range){ VMM_LINUX_ZERO_PAGE, 0x1000 };
	put(p, mem, VMM_LINUX_CMDLINE, cmdline ? cmdline : "", cl + 1);
	put(p, mem, VMM_LINUX_GDT, gdt, sizeof(gdt));

	/* PML4, PDPT, then four page directories of 2 MiB pages: 1 GiB pages
	 * need pdpe1gb, which not every (nested) CPU offers. */
	memset(pt, 0, 6 * 0x1000);
	wr64(pt, VMM_LINUX_PDPT | 3);			/* present, writable */
	for (unsigned i = 0; i < 4; i++)
		wr64(pt + 0x1000 + 8 * i, (VMM_LINUX_PD + i * 0x1000ull) | 3);
	for (unsigned j = 0; j < 4 * 512; j++)		/* present, writable, PS */
		wr64(pt + 0x2000 + 8 * j, ((uint64_t)j << 21) | 0x83);
	p->written[p->nwritten++] = (struct vmm_linux_range){ VMM_LINUX_PML4, 6 * 0x1000 };
	return 0;
}

/* ---------------------------------------------------------- vCPU state */

static void seg_flat(struct kvm_segment *s, uint16_t sel, bool code)
{
	memset(s, 0, sizeof(*s));
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = code ? 0xb : 0x3;	/* execute/read accessed, read/write accessed */
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

void vmm_linux_set_state(const struct vmm_linux_kernel *k, struct vcr_vcpu_state *st)
{
	struct kvm_regs *g = &st->regs;
	struct kvm_sregs *s = &st->sregs;

	memset(g, 0, sizeof(*g));
	g->rflags = 0x2;			/* IF = 0 */
	g->rip = k->entry;
	g->rsi = VMM_LINUX_ZERO_PAGE;
	g->rsp = VMM_LINUX_STACK_TOP;
	seg_flat(&s->cs, VMM_LINUX_BOOT_CS, true);
	seg_flat(&s->ds, VMM_LINUX_BOOT_DS, false);
	s->es = s->fs = s->gs = s->ss = s->ds;
	s->gdt.base = VMM_LINUX_GDT;
	s->gdt.limit = 4 * 8 - 1;
	s->idt.base = 0;
	s->idt.limit = 0;
	s->cr0 = (1ull << 0) | (1ull << 4) | (1ull << 31);	/* PE, ET, PG */
	s->cr3 = VMM_LINUX_PML4;
	s->cr4 = 1ull << 5;					/* PAE */
	s->efer = (1ull << 8) | (1ull << 10);			/* LME, LMA */
}
