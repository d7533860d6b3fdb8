/*
 * vmm/boot.h: putting a guest image into a machine (vmm/ internal). One
 * file per boot protocol, standing on shared boot structures:
 *
 *   loader.c            which protocol an image uses (vmm_loader_probe, at
 *                       vmm_create), and running it (vmm_loader_load)
 *   loader_flat.c       flat binaries at --load, real / prot32 / long64
 *   loader_elf.c        ELF32 / ELF64 executables (also multiboot's ELF case)
 *   loader_multiboot.c  multiboot v1, and its information structure (mbi)
 *   loader_linux.c      the Linux boot protocol, self-contained
 *                       (vmm/loader_linux.h: a plain buffer, no struct vmm)
 *   loader_bzimage.c    loader_linux.c on the machine: initrd, command
 *                       line, RAM layout with the MP table, the BSP's state
 *   boot.c              what every protocol shares: the boot area layout,
 *                       the GDT, identity page tables, the memory map, the
 *                       initial vCPU state
 *
 * A probe reads only vm->cfg and vm->image and fills vm->guest: it checks
 * everything (overflow-safe) and touches neither KVM nor guest memory, so
 * bad input fails before a VM exists and the fuzzer (tests/fuzz/
 * fuzz_loader.c) can drive it with no /dev/kvm. A load writes only through
 * vmm_mem_write (the observer sees MEM_WRITE) and sets state only through
 * vmm_vcpu_set_state. Errors: -errno with err filled, naming the file.
 *
 * Boot area, [VMM_BOOT_AREA, VMM_BOOT_AREA_END) (docs/vmm.md): nothing but
 * the structures below is written there, and protected / long-mode images
 * may not overlap it.
 */
#ifndef VCR_VMM_BOOT_H
#define VCR_VMM_BOOT_H

#include "vmm/vmm_int.h"

#define VMM_BOOT_GDT	0x1000ull	/* 4 descriptors, see boot.c */
#define VMM_BOOT_PML4	0x2000ull
#define VMM_BOOT_PDPT	0x3000ull
#define VMM_BOOT_PD	0x4000ull	/* 4 pages: 0-4 GiB in 2 MiB pages */
#define VMM_BOOT_INFO	0x8000ull	/* the protocol's boot information
					 * (multiboot: mbi, mmap, name,
					 * command line), up to VMM_BOOT_AREA_END */

/* vmm/loader.c */
int vmm_loader_probe(struct vmm *vm, struct vcr_err *err);
int vmm_loader_load(struct vmm *vm, struct vcr_err *err);

/* vmm/loader_flat.c */
int vmm_flat_probe(struct vmm *vm, struct vcr_err *err);
int vmm_flat_load(struct vmm *vm, struct vcr_err *err);

/* vmm/loader_elf.c. for_multiboot: the caller sets the mode and entry. */
int vmm_elf_probe(struct vmm *vm, const uint8_t *img, uint64_t size, bool for_multiboot,
		  struct vcr_err *err);
int vmm_elf_load(struct vmm *vm, const uint8_t *img, uint64_t size, struct vcr_err *err);
/* The image as an ELF executable: its segments, then vmm_boot_start. */
int vmm_elf_exec_load(struct vmm *vm, struct vcr_err *err);

/* vmm/loader_multiboot.c: -ENOENT (err filled) when there is no header. */
int vmm_mb_probe(struct vmm *vm, struct vcr_err *err);
int vmm_mb_load(struct vmm *vm, struct vcr_err *err);

/* vmm/loader_bzimage.c: a Linux bzImage (and its initrd, command line). */
int vmm_bzimage_probe(struct vmm *vm, struct vcr_err *err);
int vmm_bzimage_load(struct vmm *vm, struct vcr_err *err);

/* vmm/vmm.c: read a whole regular, non-empty file of at most max bytes into
 * a new buffer (*buf, *size; the caller frees it). */
int vmm_read_file(const char *path, uint64_t max, uint8_t **buf, uint64_t *size,
		  struct vcr_err *err);

/* vmm/boot.c */
/* True when [gpa, gpa+len) overlaps the boot area. */
bool vmm_boot_overlaps(uint64_t gpa, uint64_t len);
/* The structures `mode` needs (GDT for prot32, GDT and page tables for
 * long64, nothing for real mode). */
int vmm_boot_write_tables(struct vmm *vm, enum vmm_mode mode);
/* Every vCPU: `mode` at `entry` with flat segments, the stack at
 * VMM_STACK_TOP (real mode: 0x7c00), rax/rbx as given, IF off, no IDT. */
int vmm_boot_set_state(struct vmm *vm, enum vmm_mode mode, uint64_t entry,
		       uint64_t eax, uint64_t ebx);
/* vmm_boot_write_tables + vmm_boot_set_state with rax = rbx = 0, err
 * filled: how flat and ELF images start. */
int vmm_boot_start(struct vmm *vm, enum vmm_mode mode, uint64_t entry, struct vcr_err *err);

/* Guest physical memory as a firmware memory map describes it (the
 * multiboot mmap; an e820 table for Linux): ascending, non-overlapping. */
struct vmm_boot_range {
	uint64_t base, len;	/* bytes */
	bool usable;		/* false: reserved (the boot area) */
};
#define VMM_BOOT_MAX_RANGES 4
/* Fill out (VMM_BOOT_MAX_RANGES entries); returns how many. */
unsigned vmm_boot_mem_map(const struct vmm *vm, struct vmm_boot_range *out);

#endif
