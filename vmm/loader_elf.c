/*
 * vmm/loader_elf.c: ELF32 / ELF64 executables (x86). Segments PT_LOAD are
 * copied to their physical address (p_paddr; our guests run identity
 * mapped), the vCPU starts at e_entry. Every field that points somewhere is
 * checked against the file and guest memory before use: a damaged ELF gives
 * a message with the offending offset, never a crash.
 */
#include "vmm/boot.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

/* One program header, whichever the class. */
struct elf_seg {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

struct elf_info {
	bool is64;
	uint64_t entry, phoff;
	uint16_t phnum, phentsize;
};

static int elf_header(struct elf_info *e, const uint8_t *img, uint64_t size,
		      const char *path, struct vcr_err *err)
{
	if (size < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG))
		return vcr_err_set(err, -EINVAL, 0, "%s: not an ELF file", path);
	if (img[EI_DATA] != ELFDATA2LSB)
		return vcr_err_set(err, -EINVAL, EI_DATA, "%s: ELF is not little-endian", path);
	if (img[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr h;
		if (size < sizeof(h))
			return vcr_err_set(err, -EINVAL, 0, "%s: truncated ELF64 header", path);
		memcpy(&h, img, sizeof(h));
		if (h.e_machine != EM_X86_64)
			return vcr_err_set(err, -EINVAL, offsetof(Elf64_Ehdr, e_machine),
					   "%s: ELF64 for machine %u, not x86-64", path,
					   h.e_machine);
		if (h.e_type != ET_EXEC)
			return vcr_err_set(err, -EINVAL, offsetof(Elf64_Ehdr, e_type),
					   "%s: ELF type %u, not an executable (ET_EXEC)",
					   path, h.e_type);
		e->is64 = true;
		e->entry = h.e_entry;
		e->phoff = h.e_phoff;
		e->phnum = h.e_phnum;
		e->phentsize = h.e_phentsize;
		if (e->phentsize != sizeof(Elf64_Phdr))
			return vcr_err_set(err, -EINVAL, offsetof(Elf64_Ehdr, e_phentsize),
					   "%s: e_phentsize %u, expected %zu", path,
					   e->phentsize, sizeof(Elf64_Phdr));
	} else if (img[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr h;
		if (size < sizeof(h))
			return vcr_err_set(err, -EINVAL, 0, "%s: truncated ELF32 header", path);
		memcpy(&h, img, sizeof(h));
		if (h.e_machine != EM_386)
			return vcr_err_set(err, -EINVAL, offsetof(Elf32_Ehdr, e_machine),
					   "%s: ELF32 for machine %u, not i386", path,
					   h.e_machine);
		if (h.e_type != ET_EXEC)
			return vcr_err_set(err, -EINVAL, offsetof(Elf32_Ehdr, e_type),
					   "%s: ELF type %u, not an executable (ET_EXEC)",
					   path, h.e_type);
		e->is64 = false;
		e->entry = h.e_entry;
		e->phoff = h.e_phoff;
		e->phnum = h.e_phnum;
		e->phentsize = h.e_phentsize;
		if (e->phentsize != sizeof(Elf32_Phdr))
			return vcr_err_set(err, -EINVAL, offsetof(Elf32_Ehdr, e_phentsize),
					   "%s: e_phentsize %u, expected %zu", path,
					   e->phentsize, sizeof(Elf32_Phdr));
	} else {
		return vcr_err_set(err, -EINVAL, EI_CLASS, "%s: bad ELF class %u", path,
				   img[EI_CLASS]);
	}
	if (e->phnum == 0 || e->phnum == PN_XNUM)
		return vcr_err_set(err, -EINVAL, 0, "%s: %u program headers", path, e->phnum);
	if (!vcr_range_ok(e->phoff, (uint64_t)e->phnum * e->phentsize, size))
		return vcr_err_set(err, -EINVAL, e->phoff,
				   "%s: program headers (%u at %#llx) outside the file", path,
				   e->phnum, (unsigned long long)e->phoff);
	return 0;
}

static void elf_seg_get(struct elf_seg *s, const struct elf_info *e, const uint8_t *img,
			unsigned i)
{
	const uint8_t *p = img + e->phoff + (uint64_t)i * e->phentsize;

	if (e->is64) {
		Elf64_Phdr ph;
		memcpy(&ph, p, sizeof(ph));
		*s = (struct elf_seg){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz,
				       ph.p_memsz };
	} else {
		Elf32_Phdr ph;
		memcpy(&ph, p, sizeof(ph));
		*s = (struct elf_seg){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz,
				       ph.p_memsz };
	}
}

static int elf_check_seg(const struct elf_seg *s, unsigned i, const struct elf_info *e,
			 uint64_t size, uint64_t mem, bool boot_area, const char *path,
			 struct vcr_err *err)
{
	uint64_t phdr_off = e->phoff + (uint64_t)i * e->phentsize, end;

	if (!vcr_range_ok(s->offset, s->filesz, size))
		return vcr_err_set(err, -EINVAL, phdr_off,
				   "%s: segment %u: file bytes [%#llx, +%#llx) outside the file",
				   path, i, (unsigned long long)s->offset,
				   (unsigned long long)s->filesz);
	if (s->filesz > s->memsz)
		return vcr_err_set(err, -EINVAL, phdr_off,
				   "%s: segment %u: p_filesz > p_memsz", path, i);
	if (vcr_add_overflow(s->paddr, s->memsz, &end) || end > mem)
		return vcr_err_set(err, -EFBIG, phdr_off,
				   "%s: segment %u: [%#llx, +%#llx) does not fit in %llu bytes "
				   "of guest memory", path, i, (unsigned long long)s->paddr,
				   (unsigned long long)s->memsz, (unsigned long long)mem);
	if (boot_area && vmm_boot_overlaps(s->paddr, s->memsz))
		return vcr_err_set(err, -EINVAL, phdr_off,
				   "%s: segment %u at %#llx overlaps the boot area [%#llx, %#llx)",
				   path, i, (unsigned long long)s->paddr, VMM_BOOT_AREA,
				   VMM_BOOT_AREA_END);
	return 0;
}

int vmm_elf_probe(struct vmm *vm, const uint8_t *img, uint64_t size, bool for_multiboot,
		  struct vcr_err *err)
{
	const struct vmm_config *cfg = &vm->cfg;
	struct vmm_guest *g = &vm->guest;
	struct elf_info e;
	unsigned nload = 0;
	int r;

	r = elf_header(&e, img, size, cfg->guest_path, err);
	if (r)
		return r;
	if (!for_multiboot) {
		g->format = VMM_FORMAT_ELF;
		g->format_name = e.is64 ? "elf64" : "elf32";
		g->mode = cfg->mode != VMM_MODE_AUTO ? cfg->mode :
			  e.is64 ? VMM_MODE_LONG64 : VMM_MODE_PROT32;
		g->entry = cfg->entry_set ? cfg->entry : e.entry;
	}
	for (unsigned i = 0; i < e.phnum; i++) {
		struct elf_seg s;
		elf_seg_get(&s, &e, img, i);
		if (s.type != PT_LOAD)
			continue;
		/* A multiboot kernel may lie anywhere: its loader moves its own
		 * structures out of the way (loader_multiboot.c). */
		r = elf_check_seg(&s, i, &e, size, cfg->mem_size,
				  !for_multiboot && g->mode != VMM_MODE_REAL,
				  cfg->guest_path, err);
		if (r)
			return r;
		if (!nload || s.paddr < g->img_lo)
			g->img_lo = s.paddr;
		if (!nload || s.paddr + s.memsz > g->img_hi)
			g->img_hi = s.paddr + s.memsz;
		nload++;
	}
	if (!nload)
		return vcr_err_set(err, -EINVAL, e.phoff, "%s: no PT_LOAD segment",
				   cfg->guest_path);
	if (!for_multiboot && g->entry >= cfg->mem_size)
		return vcr_err_set(err, -EINVAL, 0, "%s: entry %#llx is outside guest memory",
				   cfg->guest_path, (unsigned long long)g->entry);
	return 0;
}

int vmm_elf_load(struct vmm *vm, const uint8_t *img, uint64_t size, struct vcr_err *err)
{
	struct elf_info e;
	int r;

	/* vmm_elf_probe validated everything; parse again, keep no pointers. */
	r = elf_header(&e, img, size, vm->cfg.guest_path, err);
	if (r)
		return r;
	for (unsigned i = 0; i < e.phnum; i++) {
		struct elf_seg s;
		elf_seg_get(&s, &e, img, i);
		if (s.type != PT_LOAD || !s.filesz)
			continue;
		/* RAM starts zeroed, so the bss part needs no write (and no
		 * MEM_WRITE record). */
		r = vmm_mem_write(vm, s.paddr, img + s.offset, s.filesz);
		if (r)
			return vcr_err_set(err, r, UINT64_MAX, "segment %u: cannot write %#llx",
					   i, (unsigned long long)s.paddr);
	}
	return 0;
}

int vmm_elf_exec_load(struct vmm *vm, struct vcr_err *err)
{
	int r = vmm_elf_load(vm, vm->image, vm->image_size, err);

	if (r)
		return r;
	return vmm_boot_start(vm, vm->guest.mode, vm->guest.entry, err);
}
