/*
 * vmm/loader_multiboot.c: multiboot v1 kernels (the Multiboot Specification
 * 0.6.96). The header lies 4-byte aligned in the first 8 KiB; with flag 16
 * its address fields say where to load (the "a.out kludge"), else the image
 * is an ELF loaded by its segments. The kernel starts in 32-bit protected
 * mode, paging off, EAX = 0x2BADB002, EBX = the multiboot information (mbi):
 * memory sizes, memory map, command line, loader name, and one module when
 * the config names one.
 *
 * Where things go, as QEMU does it so that kernels built for QEMU boot: the
 * kernel may be linked anywhere above page 0 except over vcr's GDT at
 * VMM_BOOT_GDT (prot32 needs no page tables). The mbi block (mbi, memory
 * map, names, command line) goes at VMM_BOOT_INFO when the kernel is not
 * there, else on the first page past the kernel; the module on the first
 * page past both. The command line is "GUEST_PATH ARGS", as QEMU's -kernel
 * and -append give it (kernels take argv[0] from it).
 */
#include "vmm/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MB_MAGIC	0x1badb002u
#define MB_BOOT_MAGIC	0x2badb002u
#define MB_SEARCH	8192
#define MB_F_ALIGN	(1u << 0)	/* modules page aligned: always are */
#define MB_F_MEMINFO	(1u << 1)	/* mem_* and mmap: always given */
#define MB_F_VIDEO	(1u << 2)	/* video mode: not offered */
#define MB_F_AOUT	(1u << 16)
#define EI_CLASS_OFF	4		/* e_ident[EI_CLASS] */

/* The mbi block, at g->mb_info: offsets. */
#define MBI_MMAP	0x100	/* VMM_BOOT_MAX_RANGES entries */
#define MBI_NAME	0x200
#define MBI_MOD		0x280	/* one module entry, 16 bytes */
#define MBI_MOD_STR	0x300	/* its string: the module's path, cut */
#define MBI_MOD_STR_MAX	0x100
#define MBI_CMDLINE	0x400	/* "GUEST_PATH ARGS", to the block's end */
#define MB_PAGE		0x1000ull
#define MB_GDT_END	(VMM_BOOT_GDT + 0x20)	/* boot.c's four descriptors */
#define MB_LOW_END	0xa0000ull		/* end of conventional memory */

#define MBI_F_MEM	(1u << 0)
#define MBI_F_CMDLINE	(1u << 2)
#define MBI_F_MODS	(1u << 3)
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

static uint64_t mb_page_up(uint64_t a)
{
	return (a + MB_PAGE - 1) & ~(MB_PAGE - 1);
}

static bool mb_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Bytes of the mbi block: the fixed part and "GUEST_PATH ARGS\0". */
static uint64_t mb_info_size(const struct vmm *vm)
{
	const char *args = vm->cfg.cmdline ? vm->cfg.cmdline : "";

	return mb_page_up(MBI_CMDLINE + strlen(vm->cfg.guest_path) + 1 + strlen(args) + 1);
}

/* Decide g->mb_info (after the kernel's extent is known). */
static int mb_place(struct vmm *vm, struct vcr_err *err)
{
	const struct vmm_config *cfg = &vm->cfg;
	struct vmm_guest *g = &vm->guest;
	uint64_t size = mb_info_size(vm), len = g->img_hi - g->img_lo;

	if (mb_overlaps(g->img_lo, len, 0, MB_GDT_END))
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "%s: kernel [%#llx, %#llx) overlaps page 0 or vcr's GDT at "
				   "%#llx", cfg->guest_path, (unsigned long long)g->img_lo,
				   (unsigned long long)g->img_hi, VMM_BOOT_GDT);
	if (VMM_BOOT_INFO + size <= MB_LOW_END &&
	    !mb_overlaps(g->img_lo, len, VMM_BOOT_INFO, size))
		g->mb_info = VMM_BOOT_INFO;
	else
		g->mb_info = mb_page_up(g->img_hi);
	if (g->mb_info + size > cfg->mem_size)
		return vcr_err_set(err, -EFBIG, UINT64_MAX,
				   "%s: no room for the multiboot information past the kernel "
				   "in %llu bytes of memory", cfg->guest_path,
				   (unsigned long long)cfg->mem_size);
	return 0;
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
		g->img_lo = h.load_addr;
		g->img_hi = end;
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
	return mb_place(vm, err);
}

struct mb_mmap_entry {
	uint32_t size;		/* of the rest of the entry: 20 */
	uint64_t base, len;
	uint32_t type;		/* 1 available, 2 reserved */
} __attribute__((packed));

struct mb_module {
	uint32_t start, end, string, reserved;
};

/* The whole file at `path` (malloc'ed), or -errno. */
static int mb_read_file(const char *path, uint64_t max, uint8_t **out, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		r = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	*out = malloc((size_t)st.st_size + 1);
	if (!*out) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t off = 0; off < (uint64_t)st.st_size; ) {
		ssize_t n = pread(fd, *out + off, (size_t)st.st_size - off, (off_t)off);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		off += (uint64_t)n;
	}
	*size = (uint64_t)st.st_size;
out:
	if (r) {
		free(*out);
		*out = NULL;
	}
	close(fd);
	return r;
}

/* Load the module (if any) past the kernel and the mbi block; fill *mod. */
static int mb_load_module(struct vmm *vm, struct mb_module *mod, struct vcr_err *err)
{
	const struct vmm_config *cfg = &vm->cfg;
	const struct vmm_guest *g = &vm->guest;
	uint64_t at = mb_page_up(g->img_hi), info_end = g->mb_info + mb_info_size(vm), size = 0;
	uint8_t *buf;
	int r;

	if (at < info_end)
		at = info_end;
	if (at >= cfg->mem_size)
		return vcr_err_set(err, -EFBIG, UINT64_MAX, "no room for the multiboot module");
	r = mb_read_file(cfg->module_path, cfg->mem_size - at, &buf, &size);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "multiboot module %s: %s%s",
				   cfg->module_path, strerror(-r),
				   r == -EFBIG ? " (past the end of guest memory)" : "");
	r = size ? vmm_mem_write(vm, at, buf, size) : 0;
	free(buf);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot write the multiboot module");
	*mod = (struct mb_module){ (uint32_t)at, (uint32_t)(at + size),
				   (uint32_t)(g->mb_info + MBI_MOD_STR), 0 };
	return 0;
}

static int mb_write_info(struct vmm *vm, const struct mb_module *mod)
{
	uint64_t mem = vm->cfg.mem_size, base = vm->guest.mb_info;
	struct vmm_boot_range map[VMM_BOOT_MAX_RANGES];
	struct mb_mmap_entry mm[VMM_BOOT_MAX_RANGES];
	unsigned n = vmm_boot_mem_map(vm, map);
	uint32_t mbi[22] = { 0 };	/* 88 bytes: up to apm_table */
	static const char name[] = "vcr " VCR_VERSION;
	size_t plen = strlen(vm->cfg.guest_path), alen = strlen(vm->cmdline);
	char *cmd = malloc(plen + 1 + alen + 1);
	int r;

	if (!cmd)
		return -ENOMEM;
	memcpy(cmd, vm->cfg.guest_path, plen);
	cmd[plen] = ' ';
	memcpy(cmd + plen + 1, vm->cmdline, alen + 1);
	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct mb_mmap_entry){ 20, map[i].base, map[i].len,
						map[i].usable ? 1 : 2 };

	mbi[0] = MBI_F_MEM | MBI_F_CMDLINE | MBI_F_MMAP | MBI_F_NAME;
	mbi[1] = 640;					/* mem_lower, KiB */
	mbi[2] = (uint32_t)((mem - 0x100000) / 1024);	/* mem_upper, KiB */
	mbi[4] = (uint32_t)(base + MBI_CMDLINE);
	if (mod) {
		mbi[0] |= MBI_F_MODS;
		mbi[5] = 1;				/* mods_count */
		mbi[6] = (uint32_t)(base + MBI_MOD);
	}
	mbi[11] = n * (uint32_t)sizeof(mm[0]);		/* mmap_length */
	mbi[12] = (uint32_t)(base + MBI_MMAP);
	mbi[16] = (uint32_t)(base + MBI_NAME);		/* boot_loader_name */

	r = vmm_mem_write(vm, base, mbi, sizeof(mbi));
	if (!r)
		r = vmm_mem_write(vm, base + MBI_MMAP, mm, n * sizeof(mm[0]));
	if (!r)
		r = vmm_mem_write(vm, base + MBI_NAME, name, sizeof(name));
	if (!r && mod) {
		char str[MBI_MOD_STR_MAX] = { 0 };
		strncpy(str, vm->cfg.module_path, sizeof(str) - 1);
		r = vmm_mem_write(vm, base + MBI_MOD, mod, sizeof(*mod));
		if (!r)
			r = vmm_mem_write(vm, base + MBI_MOD_STR, str, strlen(str) + 1);
	}
	if (!r)	/* mb_info_size made room for it */
		r = vmm_mem_write(vm, base + MBI_CMDLINE, cmd, plen + 1 + alen + 1);
	free(cmd);
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
	struct mb_module mod;
	if (vm->cfg.module_path) {
		r = mb_load_module(vm, &mod, err);
		if (r)
			return r;
	}
	r = mb_write_info(vm, vm->cfg.module_path ? &mod : NULL);
	if (!r)
		r = vmm_boot_write_tables(vm, VMM_MODE_PROT32);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot write the multiboot information");
	r = vmm_boot_set_state(vm, VMM_MODE_PROT32, g->entry, MB_BOOT_MAGIC, g->mb_info);
	if (r)
		return vcr_err_set(err, r, UINT64_MAX, "cannot set the initial vCPU state");
	return 0;
}
