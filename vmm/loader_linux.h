/*
 * vmm/loader_linux.h: the Linux x86 boot protocol (Documentation/arch/x86/
 * boot.rst, zero-page.rst) for a bzImage, through its 64-bit entry point.
 * Self-contained: no KVM, no struct vmm. Guest memory is a plain buffer, so
 * every step runs in a unit test or a fuzzer.
 *
 * Lifecycle, each step pure except where it says it writes:
 *   vmm_linux_is_bzimage   "HdrS" at 0x202: is this meant to be a bzImage?
 *   vmm_linux_probe        parse and check the setup header against the
 *                          file alone (version, sizes, offsets, 64-bit entry)
 *   vmm_linux_plan         place everything in a RAM layout: kernel (with
 *                          init_size), initrd, boot structures, e820 table;
 *                          checks that all of it fits and nothing overlaps
 *   vmm_linux_build        writes the plan into guest memory (the only step
 *                          that writes, and only inside [0, ram_size))
 *   vmm_linux_set_state    turns a vCPU state (KVM's reset state) into the
 *                          one the 64-bit entry needs; the caller hands it to
 *                          KVM (vmm_vcpu_set_state, REGS | SREGS)
 * A failure of probe or plan is bad user input (a damaged image, too little
 * memory, a command line too long) and happens before any write.
 *
 * The 64-bit entry (boot.rst, "64-bit Boot Protocol"): long mode, paging on
 * with the kernel's init_size range, the zero page and the command line
 * identity mapped; a GDT with __BOOT_CS (0x10) and __BOOT_DS (0x18) flat 4 GiB
 * segments, CS = __BOOT_CS, DS = ES = SS = __BOOT_DS; interrupts off; rsi =
 * the zero page; rip = the protected-mode kernel's load address + 0x200.
 * Only the bootstrap vCPU starts there: the kernel wakes the others itself
 * (INIT/SIPI), which needs an in-kernel local APIC.
 *
 * Guest physical layout (all boot structures below 64 KiB, the kernel and
 * initrd at or above 1 MiB, so they never overlap):
 *   0x01000  GDT: 0x00 null, 0x08 null, 0x10 64-bit code, 0x18 data (flat)
 *   0x02000  PML4, 0x3000 PDPT, 0x4000-0x7fff four page directories:
 *            0-4 GiB identity mapped with 2 MiB pages
 *   0x08000  struct boot_params (the zero page), 4 KiB
 *   0x09000  command line, NUL-terminated, up to VMM_LINUX_CMDLINE_MAX
 *   0x10000  initial rsp (stack below it, down to 0xc000)
 *   0x9fc00-0x100000  e820 reserved (EBDA, VGA, option ROMs, BIOS)
 *   pref_address (or 1 MiB, aligned up to kernel_alignment): the protected-
 *            mode kernel, followed by the rest of its init_size
 *   initrd:  page aligned, as high as it fits below min(initrd_addr_max + 1,
 *            ram_size), outside the kernel's range and reserved ranges
 * The e820 table is RAM [0, 0x9fc00), reserved [0x9fc00, 0x100000), RAM
 * [0x100000, ram_size), with the caller's extra reserved ranges (an MP
 * table, an APIC page...) carved out of RAM or added beyond it.
 *
 * Errors: 0 or negative errno, with one line in struct vcr_err (offset: the
 * file offset of the offending header field, or UINT64_MAX): -EINVAL a
 * damaged or unsupported image or layout, -EFBIG something does not fit in
 * RAM, -E2BIG a command line longer than the kernel accepts. Threading: none
 * (no shared state).
 */
#ifndef VCR_VMM_LOADER_LINUX_H
#define VCR_VMM_LOADER_LINUX_H

#include <stdbool.h>
#include <stdint.h>

#include "core/state.h"
#include "core/util.h"

#define VMM_LINUX_GDT		0x1000ull
#define VMM_LINUX_PML4		0x2000ull
#define VMM_LINUX_PDPT		0x3000ull
#define VMM_LINUX_PD		0x4000ull	/* 4 pages */
#define VMM_LINUX_ZERO_PAGE	0x8000ull
#define VMM_LINUX_CMDLINE	0x9000ull
#define VMM_LINUX_CMDLINE_MAX	0x3000u		/* bytes with the NUL */
#define VMM_LINUX_STACK_TOP	0x10000ull
#define VMM_LINUX_BOOT_CS	0x10
#define VMM_LINUX_BOOT_DS	0x18
#define VMM_LINUX_RAM_MAX	(4ull << 30)	/* what the boot page tables map */
#define VMM_LINUX_MAX_RESERVED	8
#define VMM_LINUX_MAX_E820	(2 * VMM_LINUX_MAX_RESERVED + 4)
#define VMM_LINUX_MAX_WRITTEN	6

#define VMM_E820_RAM		1
#define VMM_E820_RESERVED	2

/* What vmm_linux_probe read from the setup header (file offsets 0x1f1..).
 * Fields a protocol older than the image's does not define are 0. */
struct vmm_linux_kernel {
	uint16_t version;		/* boot protocol, 0x020f = 2.15 */
	uint8_t setup_sects;		/* 512-byte sectors of setup code (0 read as 4) */
	uint64_t hdr_end;		/* file offset just past the setup header */
	uint64_t kernel_offset;		/* file offset of the protected-mode kernel */
	uint64_t kernel_size;		/* its bytes: the rest of the file */
	uint32_t syssize;		/* protected-mode size, 16-byte units */
	uint8_t loadflags;		/* LOADED_HIGH, ... */
	uint16_t xloadflags;		/* XLF_KERNEL_64, ... */
	uint32_t kernel_alignment;	/* bytes, a power of two if relocatable */
	bool relocatable;
	uint64_t pref_address;		/* preferred load address (0: none) */
	uint32_t init_size;		/* bytes needed from the load address */
	uint32_t initrd_addr_max;	/* highest byte an initrd may occupy */
	uint32_t cmdline_size;		/* longest command line, without the NUL */
	uint32_t handover_offset;	/* EFI handover entry (not used here) */
	uint64_t load_addr;		/* where vmm_linux_plan puts the kernel */
	uint64_t entry;			/* load_addr + 0x200: the 64-bit entry */
	char version_str[128];		/* kernel_version string ("" if none) */
};

struct vmm_linux_range {
	uint64_t gpa, size;		/* bytes */
};

/* The guest's RAM as the machine lays it out: [0, ram_size) is RAM except
 * the legacy hole and the extra reserved ranges (which may also lie beyond
 * ram_size, e.g. MMIO pages the kernel must not use). */
struct vmm_linux_layout {
	uint64_t ram_size;		/* bytes, page multiple, > 1 MiB, <= RAM_MAX */
	uint32_t nreserved;
	struct vmm_linux_range reserved[VMM_LINUX_MAX_RESERVED];
};

struct vmm_linux_e820 {
	uint64_t addr, size;		/* bytes */
	uint32_t type;			/* VMM_E820_* */
};

/* Where everything goes (vmm_linux_plan), and what vmm_linux_build wrote. */
struct vmm_linux_plan {
	uint64_t ram_size;
	uint64_t kernel_addr;		/* == kernel.load_addr */
	uint64_t kernel_end;		/* end of the load address + init_size range */
	uint64_t initrd_addr, initrd_size;	/* 0, 0: no initrd */
	uint64_t cmdline_len;		/* bytes, without the NUL */
	uint32_t ne820;
	struct vmm_linux_e820 e820[VMM_LINUX_MAX_E820];
	/* Filled by vmm_linux_build: every range it wrote, so that the machine
	 * can report them to its observer as memory writes (the recorder must
	 * see the initial memory). */
	uint32_t nwritten;
	struct vmm_linux_range written[VMM_LINUX_MAX_WRITTEN];
};

/* True when img carries the setup header magic "HdrS" at 0x202 (then it is
 * meant as a Linux kernel: vmm_linux_probe says whether it is a usable one). */
bool vmm_linux_is_bzimage(const uint8_t *img, uint64_t size);

/* Parse the setup header of img (size bytes) into *k and check every field
 * used: boot_flag, jump, HdrS, version >= 2.06, a bzImage (LOADED_HIGH) with
 * the 64-bit entry (XLF_KERNEL_64, 2.12+), setup_sects, syssize and the
 * payload inside the file, kernel_alignment, pref_address, init_size, and
 * the header long enough for the fields its version defines. path (not
 * NULL) names the image in messages. Also sets k->load_addr and k->entry. */
int vmm_linux_probe(struct vmm_linux_kernel *k, const uint8_t *img, uint64_t size,
		    const char *path, struct vcr_err *err);

/* Lay out the kernel k, an initrd of initrd_size bytes (0: none) and a
 * command line of cmdline_len bytes in *layout: checks the layout itself,
 * that [load_addr, load_addr + max(kernel_size, init_size)) lies in RAM above
 * 1 MiB clear of reserved ranges, that the command line fits both the kernel
 * (cmdline_size) and VMM_LINUX_CMDLINE_MAX, and finds the initrd's place. */
int vmm_linux_plan(struct vmm_linux_plan *p, const struct vmm_linux_kernel *k,
		   const struct vmm_linux_layout *layout, uint64_t initrd_size,
		   uint64_t cmdline_len, struct vcr_err *err);

/* Write plan p into guest memory mem (mem_size bytes, guest physical 0 at
 * mem[0]; mem_size must equal the plan's ram_size): kernel, initrd, zero page
 * (the image's setup header, then the loader's fields and the e820 table),
 * command line, GDT, page tables. img/initrd/cmdline must be the ones probed
 * and planned (their sizes are checked again). Writes only the ranges it
 * lists in p->written; the rest of mem is left as it is (the machine's RAM
 * starts zeroed). */
int vmm_linux_build(struct vmm_linux_plan *p, const struct vmm_linux_kernel *k,
		    const uint8_t *img, uint64_t img_size, const uint8_t *initrd,
		    uint64_t initrd_size, const char *cmdline, uint8_t *mem, uint64_t mem_size,
		    struct vcr_err *err);

/* Set the registers of the 64-bit entry in st (regs: all zero but rip, rsi,
 * rsp, rflags = 0x2; sregs: segments, GDT, no IDT, cr0/cr3/cr4/efer for long
 * mode). Other fields (tr, ldt, apic_base, events) keep their values, which
 * should be KVM's reset state. */
void vmm_linux_set_state(const struct vmm_linux_kernel *k, struct vcr_vcpu_state *st);

#endif
