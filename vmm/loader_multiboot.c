/*
 * vmm/loader_multiboot.c: multiboot v1 kernels (the Multiboot Specification
 * 0.6.96). The header lies 4-byte aligned in the first 8 KiB; with flag 16
 * its address fields say where to load (the "a.out kludge"), else the image
 * is an ELF loaded by its segments. The kernel starts in 32-bit protected
 * mode, paging off, EAX = 0x2BADB002, EBX = the multiboot information (mbi):
 * memory sizes, memory map, command line, loader name.
 */
#include "vmm/boot.h"

#include <errno.h>
#include <string.h>

#define MB_MAGIC	0x1badb002u
#define MB_BOOT_MAGIC	0x2badb002u
#define MB_SEARCH	8192
#define MB_F_ALIGN	(1u << 0)	/* modules page aligned: we load none */
#define MB_F_MEMINFO	(1u << 1)	/* mem_* and mmap: always given */
#define MB_F_VIDEO	(1u << 2)	/* video mode: not offered */
#define MB_F_AOUT	(1u << 16)
#define EI_CLASS_OFF	4		/* e_ident[EI_CLASS] */

/* In the boot area's information block (vmm/boot.h). */
#define MBI_ADDR	VMM_BOOT_INFO
#define MBI_MMAP	(VMM_BOOT_INFO + 0x100)	/* VMM_BOOT_MAX_RANGES entries */
#define MBI_NAME	(VMM_BOOT_INFO + 0x200)
#define MBI_CMDLINE	(VMM_BOOT_INFO + 0x400)	/* VMM_CMDLINE_MAX bytes, ends
						 * <= 0x9400 */

#define MBI_F_MEM	(1u << 0)
#define MBI_F_CMDLINE	(1u << 2)
#define MBI_F_MMAP	(1u << 6)
#define MBI_F_NAME	(1u << 9)

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

/* Offset of a valid header, or -ENOENT. */
static int64_t mb_find(const uint8_t *img, uint64_t size)
{
	uint64_t lim = size < MB_SEARCH ? size : MB_SEARCH;

	for (uint64_t off = 0; off + 12 <= lim; off += 4) {
		uint32_t w[3];
		memcpy(w, img + off, sizeof(w));
		if (w[0] == MB_MAGIC && (uint32_t)(w[0] + w[1] + w[2]) == 0)
			return (int64_t)off;
	}
	return -ENOENT;
}

int vmm_mb_probe(struct vmm *vm, struct vcr_err *err)
{
	const struct vmm_config *cfg = &vm->cfg;
	struct vmm_guest *g = &vm->guest;
	struct mb_header h = { 0 };
	int64_t off = mb_find(vm->image, vm->image_size);

	if (off < 0)
		return vcr_err_set(err, -ENOENT, UINT64_MAX,
				   "%s: no multiboot header in the first 8 KiB", cfg->guest_path);
	memcpy(&h, vm->image + off, vcr_range_ok((uint64_t)off, sizeof(h), vm->image_size) ?
	       sizeof(h) : 12);
	if (h.flags & MB_F_VIDEO)
		return vcr_err_set(err, -ENOTSUP, (uint64_t)off + 4,
				   "%s: multiboot kernel requires a video mode, vcr has none",
				   cfg->guest_path);
	if (h.flags & 0xfff8u)
		return vcr_err_set(err, -ENOTSUP, (uint64_t)off + 4,
				   "%s: multiboot flags %#x require features vcr does not know",
				   cfg->guest_path, h.flags);
	g->format = VMM_FORMAT_MULTIBOOT;
	g->format_name = "multiboot";
	g->mode = VMM_MODE_PROT32;
	if (h.flags & MB_F_AOUT) {
		uint64_t len, end;
		if (!vcr_range_ok((uint64_t)off, sizeof(h), vm->image_size))
			return vcr_err_set(err, -EINVAL, (uint64_t)off,
					   "%s: truncated multiboot header", cfg->guest_path);
		if (h.load_addr > h.header_addr || h.header_addr - h.load_addr > (uint64_t)off)
			return vcr_err_set(err, -EINVAL, (uint64_t)off + 12,
					   "%s: multiboot header_addr %#x / load_addr %#x do not "
					   "match the header's file offset %#llx", cfg->guest_path,
					   h.header_addr, h.load_addr, (unsigned long long)off);
		g->mb_load_off = (uint64_t)off - (h.header_addr - h.load_addr);
		if (h.load_end_addr) {
			if (h.load_end_addr < h.load_addr)
				return vcr_err_set(err, -EINVAL, (uint64_t)off + 20,
						   "%s: multiboot load_end_addr below load_addr",
						   cfg->guest_path);
			len = h.load_end_addr - h.load_addr;
		} else {
			len = vm->image_size - g->mb_load_off;
		}
		if (!vcr_range_ok(g->mb_load_off, len, vm->image_size))
			return vcr_err_set(err, -EINVAL, (uint64_t)off + 20,
					   "%s: multiboot load range past the end of the file",
					   cfg->guest_path);
		g->load_addr = h.load_addr;
		g->mb_load_len = len;
		end = h.load_addr + len;
		if (h.bss_end_addr && h.bss_end_addr < end)
			return vcr_err_set(err, -EINVAL, (uint64_t)off + 24,
					   "%s: multiboot bss_end_addr below the loaded end",
					   cfg->guest_path);
		g->mb_bss_end = h.bss_end_addr;
		if (h.bss_end_addr)
			end = h.bss_end_addr;
		if (end > cfg->mem_size)
			return vcr_err_set(err, -EFBIG, (uint64_t)off + 12,
					   "%s: kernel [%#x, %#llx) does not fit in %llu bytes of "
					   "memory", cfg->guest_path, h.load_addr,
					   (unsigned long long)end, (unsigned long long)cfg->mem_size);
		if (vmm_boot_overlaps(h.load_addr, end - h.load_addr))
			return vcr_err_set(err, -EINVAL, (uint64_t)off + 12,
					   "%s: kernel overlaps the boot area [%#llx, %#llx)",
					   cfg->guest_path, VMM_BOOT_AREA, VMM_BOOT_AREA_END);
		g->entry = cfg->entry_set ? cfg->entry : h.entry_addr;
		g->mb_elf = false;
	} else {
		int r = vmm_elf_probe(vm, vm->image, vm->image_size, true, err);
		if (r)
			return r;
		/* e_entry sits at offset 24 in ELF32 and ELF64; only its
		 * width differs (the header was validated above). */
		uint64_t e64 = 0;
		if (vm->image[EI_CLASS_OFF] == 2) {
			memcpy(&e64, vm->image + 24, 8);
		} else {
			uint32_t e32;
			memcpy(&e32, vm->image + 24, 4);
			e64 = e32;
		}
		g->entry = cfg->entry_set ? cfg->entry : e64;
		g->mb_elf = true;
	}
	if (g->entry >= cfg->mem_size)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "%s: entry %#llx is outside memory",
				   cfg->guest_path, (unsigned long long)g->entry);
	return 0;
}

struct mb_mmap_entry {
	uint32_t size;		/* of the rest of the entry: 20 */
	uint64_t base, len;
	uint32_t type;		/* 1 available, 2 reserved */
} __attribute__((packed));

static int mb_write_info(struct vmm *vm)
{
	uint64_t mem = vm->cfg.mem_size;
	struct vmm_boot_range map[VMM_BOOT_MAX_RANGES];
	struct mb_mmap_entry mm[VMM_BOOT_MAX_RANGES];
	unsigned n = vmm_boot_mem_map(vm, map);
	uint32_t mbi[22] = { 0 };	/* 88 bytes: up to apm_table */
	static const char name[] = "vcr " VCR_VERSION;
	int r;

	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct mb_mmap_entry){ 20, map[i].base, map[i].len,
						map[i].usable ? 1 : 2 };

	mbi[0] = MBI_F_MEM | MBI_F_CMDLINE | MBI_F_MMAP | MBI_F_NAME;
	mbi[1] = 640;					/* mem_lower, KiB */
	mbi[2] = (uint32_t)((mem - 0x100000) / 1024);	/* mem_upper, KiB */
	mbi[4] = (uint32_t)MBI_CMDLINE;
	mbi[11] = n * (uint32_t)sizeof(mm[0]);		/* mmap_length */
	mbi[12] = (uint32_t)MBI_MMAP;
	mbi[16] = (uint32_t)MBI_NAME;			/* boot_loader_name */

	r = vmm_mem_write(vm, MBI_ADDR, mbi, sizeof(mbi));
	if (!r)
		r = vmm_mem_write(vm, MBI_MMAP, mm, n * sizeof(mm[0]));
	if (!r)
		r = vmm_mem_write(vm, MBI_NAME, name, sizeof(name));
	if (!r)	/* length checked by vmm_config_validate */
		r = vmm_mem_write(vm, MBI_CMDLINE, vm->cmdline, strlen(vm->cmdline) + 1);
	return r;
}

int vmm_mb_load(struct vmm *vm, struct vcr_err *err)
{
	struct vmm_guest *g = &vm->guest;
	int r;

	if (g->mb_elf) {
		r = vmm_elf_load(vm, vm->image, vm->image_size, err);
		if (r)
			return r;
	} else {
		r = vmm_mem_write(vm, g->load_addr, vm->image + g->mb_load_off, g->mb_load_len);
		if (r)
			return vcr_err_set(err, r, UINT64_MAX, "cannot write the kernel");
		/* bss: RAM starts zeroed. */
	}
	r = mb_write_info(vm);
	if (!r)
		r = vmm_boot_write_tables(vm, VMM_MODE_PROT32);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot write the multiboot information");
	r = vmm_boot_set_state(vm, VMM_MODE_PROT32, g->entry, MB_BOOT_MAGIC, MBI_ADDR);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot set the initial vCPU state");
	return 0;
}
