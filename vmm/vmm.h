/*
 * vmm/vmm.h: vcr's own small VMM: one KVM VM, guest memory, vCPU threads,
 * loaders (flat / ELF / multiboot v1 / Linux bzImage), two machines (bare:
 * no irqchip; pc: in-kernel irqchip + PIT, i8042, CMOS, MP table, for
 * Linux) and a handful of devices, with hooks
 * for the recorder (observer) and the gdbstub (debug handler).
 *
 * Two layers share one opaque handle, struct vmm:
 *
 *   Low level (the replayer rebuilds a VM from a trace with these; no devices,
 *   no loader):
 *     vmm_open -> vmm_mem_add -> vmm_cpuid_set -> vmm_vcpus_create
 *     -> vmm_vcpu_run_once ... -> vmm_destroy
 *
 *   High level (`vcr run`):
 *     vmm_config_init / fill / vmm_config_validate
 *     vmm_create (validates, reads and checks the guest image, builds the VM,
 *                 memory, CPUID, vCPUs, devices; loads nothing yet)
 *     [vmm_set_observer, vmm_set_debug_handler]
 *     vmm_load   (writes the image into guest memory through vmm_mem_write,
 *                 sets the initial vCPU state through kvm_run->s.regs +
 *                 kvm_dirty_regs, so an observer sees MEM_WRITE / SET_STATE)
 *     vmm_run    (one thread per vCPU until the run ends; returns how)
 *     vmm_destroy
 *
 * Guest physical memory map (high level): one RAM slot [0, mem_size),
 * mem_size <= VMM_MEM_MAX (below the MMIO test device). Loaders reserve
 * [VMM_BOOT_AREA, VMM_BOOT_AREA_END) for the GDT, the identity page tables
 * and the multiboot info; images that overlap it are refused.
 *
 * Ports and MMIO (see docs/vmm.md):
 *   0x3f8-0x3ff  8250 UART (COM1): polled on bare, IRQ 4 on pc
 *   0x60, 0x64   pc: i8042 (a reset ends the run: VCR_END_RESET)
 *   0x70, 0x71   pc: CMOS RTC
 *   0xf0         in (1/2/4 bytes): vCPU index in bits 0-15, number of vCPUs
 *                in bits 16-31 (a 1-byte read gives the index only)
 *   0xf1         test data port: writes accepted and ignored (an exit the
 *                guest can make at will); reads return 0
 *   0xf4         test exit port: a write of byte v ends the run, vcr exits v
 *   0xd0000000   MMIO test device, 4 KiB: reads return VMM_MMIO_TEST_VALUE
 *                (little-endian, truncated to the access size; the recorder
 *                records it as an input); writes accepted and ignored
 *   0x510-0x511  fw_cfg (QEMU's firmware configuration, traditional
 *                interface): signature, ID, RAM size, CPU counts
 *   0xe0-0xeb, 0xff000000  pc-testdev (QEMU's test device for
 *                kvm-unit-tests): scratch port, flush page, MMIO buffer
 *   other ports: reads return all ones, writes are ignored; both counted.
 *   other MMIO: reads return 0, writes are ignored (unbacked addresses on
 *                a PC); both counted.
 *
 * Threading: vmm_run starts one thread per vCPU and blocks the caller until
 * the run ends. Observer and debug callbacks run on vCPU threads.
 * vmm_stop, vmm_kick and vmm_kick_all may be called from any thread (not from
 * a signal handler: use sigwait/signalfd in a thread, as cli/cmd_run.c does).
 * Everything else is single-threaded: call it before vmm_run, after it, or
 * from a debug handler for a vCPU that is stopped in that handler.
 *
 * Errors: 0 or a negative errno value; functions taking a struct vcr_err also
 * describe the failure there. Library code never exits or prints, except the
 * UART (guest output) and vcr_debug() logs with -v.
 */
#ifndef VCR_VMM_VMM_H
#define VCR_VMM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "core/end.h"
#include "core/mem.h"
#include "core/state.h"
#include "core/util.h"

#define VMM_MAX_VCPUS		64
#define VMM_MEM_DEFAULT		(64ull << 20)	/* bytes */
#define VMM_MEM_MIN		(1ull << 20)	/* bytes */
#define VMM_MEM_MAX		(3ull << 30)	/* bytes: below the MMIO window */

#define VMM_BOOT_AREA		0x1000ull	/* GDT, page tables, mbi */
#define VMM_BOOT_AREA_END	0xa000ull
#define VMM_STACK_TOP		0x9fff0ull	/* initial rsp/esp (prot32, long64) */
#define VMM_CMDLINE_MAX		4096		/* bytes, with the NUL */

#define VMM_PORT_COM1		0x3f8
#define VMM_PORT_VCPU_ID	0xf0
#define VMM_PORT_TEST_DATA	0xf1
#define VMM_PORT_EXIT		0xf4
#define VMM_MMIO_TEST_BASE	0xd0000000ull
#define VMM_MMIO_TEST_SIZE	0x1000ull
#define VMM_MMIO_TEST_VALUE	0x5643522d4d4d494full	/* "OIMM-RCV" LE */

/* Exit statuses of `vcr run` (docs/vmm.md). A guest writing v to the exit
 * port makes vcr exit with v itself, so a guest can produce any of these
 * numbers too; the trace's END record tells them apart. */
enum vmm_status {
	VMM_STATUS_HALTED = 0,		/* every vCPU halted */
	VMM_STATUS_ERROR = 1,		/* vcr failed (KVM ioctl, disk full...) */
	VMM_STATUS_USAGE = 2,		/* bad option, missing/bad guest image */
	VMM_STATUS_SHUTDOWN = 3,	/* triple fault */
	VMM_STATUS_INTERNAL_ERROR = 4,	/* KVM_EXIT_INTERNAL_ERROR */
	VMM_STATUS_FAIL_ENTRY = 5,	/* KVM_EXIT_FAIL_ENTRY */
	VMM_STATUS_UNEXPECTED = 6,	/* an exit this VMM cannot serve */
	VMM_STATUS_PANIC = 7,		/* guest kernel panic (console) */
	VMM_STATUS_SIGNAL_BASE = 128,	/* + signal number (SIGINT: 130) */
};

enum vmm_format {
	VMM_FORMAT_AUTO = 0,	/* multiboot header > ELF magic > flat */
	VMM_FORMAT_FLAT,
	VMM_FORMAT_ELF,		/* ELF32 or ELF64, executable, x86 */
	VMM_FORMAT_MULTIBOOT,	/* multiboot v1 (ELF or a.out-kludge addresses) */
	VMM_FORMAT_LINUX,	/* bzImage, 64-bit entry (vmm/loader_linux.h) */
};

/* Which machine the VMM builds (docs/vmm.md, "Machines"). */
enum vmm_machine_kind {
	VMM_MACHINE_AUTO = 0,	/* pc for a Linux kernel, bare for the others */
	VMM_MACHINE_BARE,	/* no irqchip: every event is an exit */
	VMM_MACHINE_PC,		/* in-kernel irqchip + PIT, UART IRQ 4, i8042,
				 * CMOS, MP table (Linux) */
};

/* A Linux guest: RAM when -m is not given, and the command line the kernel
 * gets before the user's (vmm_config.cmdline is appended after a space
 * unless cmdline_replace). */
#define VMM_LINUX_MEM_DEFAULT	(512ull << 20)
#define VMM_LINUX_CMDLINE_DEFAULT \
	"console=ttyS0 reboot=k panic=-1 pci=off acpi=off nokaslr no_timer_check"


enum vmm_mode {
	VMM_MODE_AUTO = 0,	/* flat: real; ELF32: prot32; ELF64: long64 */
	VMM_MODE_REAL,		/* 16-bit real mode, cs = entry >> 4 & 0xf000 */
	VMM_MODE_PROT32,	/* flat 32-bit protected mode, paging off */
	VMM_MODE_LONG64,	/* 64-bit mode, identity-mapped first 4 GiB */
};

/* What the user asked for. Plain data; vmm_create copies it. */
struct vmm_config {
	uint64_t mem_size;	/* bytes, VMM_MEM_MIN..VMM_MEM_MAX, 4 KiB multiple */
	uint32_t nvcpus;	/* 1..VMM_MAX_VCPUS */
	const char *guest_path;
	enum vmm_format format;
	enum vmm_mode mode;	/* flat: required unless real; ELF: override */
	uint64_t load_addr;	/* flat: where the image goes (default 0x7c00
				 * real, 0x100000 otherwise) */
	bool load_addr_set;
	uint64_t entry;		/* start address (default: ELF/multiboot entry,
				 * flat: load_addr) */
	bool entry_set;
	const char *cmdline;	/* multiboot command line (NULL: empty); the
				 * kernel sees "GUEST_PATH CMDLINE", as QEMU
				 * passes it. Linux: appended to
				 * VMM_LINUX_CMDLINE_DEFAULT */
	const char *module_path;	/* multiboot: one module (NULL: none), read
					 * by vmm_load: must stay valid until then */
	const char *cpuid;	/* QEMU -cpu style edits of KVM's CPUID
				 * ("host,-pcid,vendor=GenuineIntel"; NULL:
				 * none), see vmm_cpuid_spec_check */
	bool isa_debug_exit;	/* port 0xf4 as QEMU's isa-debug-exit: a 1-,
				 * 2- or 4-byte write of v ends the run with
				 * status (v << 1) | 1 */
	bool mem_size_set;	/* false: a Linux guest gets VMM_LINUX_MEM_DEFAULT */
	bool cmdline_replace;	/* Linux: cmdline alone, no default */
	const char *initrd_path;	/* Linux initrd / initramfs (NULL: none) */
	enum vmm_machine_kind machine;
	int uart_out_fd;	/* COM1 output; default 1 (stdout) */
	int uart_in_fd;		/* COM1 input, read non-blocking when the guest
				 * polls LSR; default -1 (none); vcr run: stdin */
};

/* Defaults (64 MiB, 1 vCPU, auto format and mode, stdout, no input). */
void vmm_config_init(struct vmm_config *cfg);
/* Check ranges and combinations without touching KVM or the file system. */
int vmm_config_validate(const struct vmm_config *cfg, struct vcr_err *err);

struct vmm;

/* ------------------------------------------------------------ low level */

/* Open /dev/kvm (clear message when absent), check KVM_GET_API_VERSION == 12
 * and KVM_CAP_SYNC_REGS covering regs|sregs|events (7), create the VM
 * (KVM_CREATE_VM, KVM_SET_TSS_ADDR). No irqchip: HLT exits to userspace. */
int vmm_open(struct vmm **out, struct vcr_err *err);

/* Add one RAM slot backed by anonymous memory (zeroed). gpa and size must be
 * page aligned; slots must not overlap. At most 8 slots. */
int vmm_mem_add(struct vmm *vm, const struct vcr_mem_region *r, struct vcr_err *err);
/* The slots, in the order added. */
const struct vcr_mem_region *vmm_mem_regions(const struct vmm *vm, uint32_t *n);

/* CPUID for every vCPU created afterwards: entries == NULL takes
 * KVM_GET_SUPPORTED_CPUID (with the hypervisor bit set); otherwise the given
 * entries (e.g. from a trace header). Per-vCPU APIC ids are patched in leaves
 * 1 and 0xb when each vCPU is created. Must precede vmm_vcpus_create. */
int vmm_cpuid_set(struct vmm *vm, const struct kvm_cpuid_entry2 *entries, uint32_t n,
		  struct vcr_err *err);
/* vmm/cpuid_spec.c: "MODEL[,+FLAG|-FLAG|FLAG=on|off|vendor=ID]..." as
 * QEMU's -cpu takes it. check: the syntax and flag names (no KVM); apply:
 * edit the table vmm_cpuid_set made (before vmm_vcpus_create), +FLAG only
 * where that table has the feature. MODEL is not emulated: only its flags apply. */
int vmm_cpuid_spec_check(const char *spec, struct vcr_err *err);
int vmm_cpuid_spec_apply(struct vmm *vm, const char *spec, struct vcr_err *err);
/* The CPUID table as set (vCPU 0's view), for the trace header. */
const struct kvm_cpuid_entry2 *vmm_cpuid(const struct vmm *vm, uint32_t *n);

/* Create n vCPUs (KVM_CREATE_VCPU, KVM_SET_CPUID2, mmap kvm_run). Each
 * vCPU's kvm_run->s.regs is filled once with KVM_GET_REGS/SREGS/VCPU_EVENTS,
 * so it holds the vCPU's state from the start, and kvm_valid_regs = 7. */
int vmm_vcpus_create(struct vmm *vm, uint32_t n, struct vcr_err *err);
/*
 * The pc machine rebuilt for a replay of one of its traces (replayer/; the
 * trace header's key machine=pc): vmm_pc_replay_irqchip between
 * vmm_cpuid_set and vmm_vcpus_create (the in-kernel PIC, IOAPIC, LAPICs and
 * PIT), vmm_pc_replay_vcpus after it (the MSRs, FPU and LAPIC wiring
 * vmm_create gives the pc machine's vCPUs; aps_runnable for a guest whose
 * APs start at the entry: vmm_pc_aps_at_entry of the trace's loader name,
 * true for flat and ELF, false for multiboot and bzimage, whose APs wait
 * for INIT/SIPI as on a PC). vmm_pc_replay_irq re-drives an
 * interrupt line (an IRQ_LINE record) without telling any observer.
 */
int vmm_pc_replay_irqchip(struct vmm *vm, struct vcr_err *err);
int vmm_pc_replay_vcpus(struct vmm *vm, bool aps_runnable, struct vcr_err *err);
bool vmm_pc_aps_at_entry(const char *format_name);
/* A multiboot kernel on pc finds what a BIOS leaves (vmm/pc_bios.c): the
 * vector table (memory: in the trace) and the PIT counting (KVM state:
 * vmm_pc_replay_bios sets it again, after vmm_pc_replay_vcpus). */
bool vmm_pc_has_bios(const char *format_name);
int vmm_pc_replay_bios(struct vmm *vm);
int vmm_pc_replay_irq(struct vmm *vm, uint32_t gsi, uint32_t level);
uint32_t vmm_nvcpus(const struct vmm *vm);
int vmm_vcpu_fd(const struct vmm *vm, uint32_t vcpu);
int vmm_kvm_fd(const struct vmm *vm);	/* /dev/kvm */
int vmm_vm_fd(const struct vmm *vm);
uint32_t vmm_api_version(const struct vmm *vm);
uint32_t vmm_sync_regs_mask(const struct vmm *vm);
/* The vCPU's kvm_run page and its size (KVM_GET_VCPU_MMAP_SIZE). */
struct kvm_run *vmm_vcpu_run_page(const struct vmm *vm, uint32_t vcpu);
size_t vmm_run_size(const struct vmm *vm);

/* One KVM_RUN of vCPU `vcpu`: sets kvm_valid_regs = 7 and applies guest debug
 * (see vmm_vcpu_set_guest_debug) first. Returns 0 after an exit, -EINTR when
 * a signal or immediate_exit cut it short (run->exit_reason is then set to
 * KVM_EXIT_INTR by this function, since KVM leaves it stale for
 * immediate_exit), other negative errno on failure. Calls no observer: it is
 * the raw building block (the replayer drives it itself). */
int vmm_vcpu_run_once(struct vmm *vm, uint32_t vcpu);

/* The vCPU's state as of its last exit (or its creation / the last
 * vmm_vcpu_set_state), from kvm_run->s.regs, normalized. Only while the
 * vCPU is not inside KVM_RUN. */
int vmm_vcpu_get_state(struct vmm *vm, uint32_t vcpu, struct vcr_vcpu_state *st);
/* Write the classes in `mask` (VCR_CLASS_*) into kvm_run->s.regs and OR them
 * into kvm_dirty_regs: KVM loads them on the next KVM_RUN. No ioctl. */
int vmm_vcpu_set_state(struct vmm *vm, uint32_t vcpu, const struct vcr_vcpu_state *st,
		       unsigned mask);

/* Guest physical memory. vmm_mem_ptr returns a pointer to [gpa, gpa+len)
 * when the range lies entirely in one slot, else NULL (overflow-safe).
 * vmm_mem_read/write return 0 or -EFAULT. vmm_mem_write and
 * vmm_mem_write_vcpu are the ONE path by which the VMM (loaders, devices,
 * gdb) writes guest memory: they notify the observer's mem_write. Writes
 * through vmm_mem_ptr are not observed.
 *
 * vmm_mem_write_vcpu: a write made on behalf of vCPU `vcpu` while serving
 * one of its exits, on that vCPU's own thread (a device answering it): the
 * observer orders it after that exit. vmm_mem_write is the same with
 * VMM_NO_VCPU: a write not made for a vCPU (the loader before the run, gdb's
 * server thread). */
#define VMM_NO_VCPU UINT32_MAX
void *vmm_mem_ptr(struct vmm *vm, uint64_t gpa, uint64_t len);
int vmm_mem_read(struct vmm *vm, uint64_t gpa, void *buf, uint64_t len);
int vmm_mem_write(struct vmm *vm, uint64_t gpa, const void *buf, uint64_t len);
int vmm_mem_write_vcpu(struct vmm *vm, uint32_t vcpu, uint64_t gpa, const void *buf,
		       uint64_t len);

/* Free everything (threads must have ended); accepts NULL and half-built. */
void vmm_destroy(struct vmm *vm);

/* Probes (vmm/probe.c): a throw-away VM to ask the host KVM how it behaves
 * (gdbstub: which debug mechanisms work; replayer: where rip stands at an
 * I/O exit). One vCPU in 64-bit mode with the loaders' GDT and identity
 * page tables, VMM_PROBE_MEM of RAM, `code` at VMM_PROBE_CODE with rip
 * there, rsp VMM_STACK_TOP, IF off, every IDT vector (IDT at VMM_PROBE_IDT)
 * leading to a "hlt" at VMM_PROBE_HLT (an exception delivered to the guest
 * ends in KVM_EXIT_HLT with rip VMM_PROBE_HLT + 1). Data may go at
 * VMM_PROBE_DATA, up to VMM_PROBE_IDT. The
 * caller runs it with vmm_vcpu_run_once and frees it with vmm_destroy.
 * Returns 0 or -errno (no /dev/kvm; code longer than the space up to
 * VMM_PROBE_DATA). */
#define VMM_PROBE_MEM 0x100000u
#define VMM_PROBE_CODE 0x10000u
#define VMM_PROBE_DATA 0x11000u
#define VMM_PROBE_IDT 0x12000u
#define VMM_PROBE_HLT 0x14000u
int vmm_probe_open(struct vmm **out, const void *code, size_t len);

/* ------------------------------------------------------------ high level */

/* Everything vmm_create checks before it touches KVM: cfg, the guest file,
 * its format and where it would load. No /dev/kvm needed. A failure here is
 * bad user input (`vcr run` exits 2); a failure of vmm_create after this
 * succeeded is the machine's (no KVM...). */
int vmm_check(const struct vmm_config *cfg, struct vcr_err *err);

/* Validate cfg, read the guest image and check its format (a damaged ELF or
 * an image too big for memory fails here with a clear message, -EINVAL /
 * -ENOENT / -EFBIG), then vmm_open, one RAM slot of cfg->mem_size at 0,
 * supported CPUID, cfg->nvcpus vCPUs, devices. Nothing is loaded yet. */
int vmm_create(struct vmm **out, const struct vmm_config *cfg, struct vcr_err *err);

/* The guest image as read by vmm_create (for the trace header), its path,
 * and what the loader decided: format/mode names ("elf64", "long64"...) and
 * entry point (valid after vmm_create). */
const uint8_t *vmm_image(const struct vmm *vm, uint64_t *size);
const struct vmm_config *vmm_get_config(const struct vmm *vm);
const char *vmm_format_name(const struct vmm *vm);
const char *vmm_mode_name(const struct vmm *vm);
const char *vmm_machine_name(const struct vmm *vm);	/* "bare", "pc" */
/* The command line the guest gets (Linux: the default + the user's). */
const char *vmm_guest_cmdline(const struct vmm *vm);
uint64_t vmm_entry(const struct vmm *vm);

/* Load the image and set every vCPU's initial state (all vCPUs start at the
 * entry with identical registers; guests tell themselves apart with port
 * 0xf0). Memory goes through vmm_mem_write, state through
 * vmm_vcpu_set_state: install the observer first to see them. */
int vmm_load(struct vmm *vm, struct vcr_err *err);

/*
 * Observer: the recorder's tap. Every pointer may be NULL. Called on the
 * vCPU thread (mem_write also on the loader's thread, before vmm_run); keep
 * them cheap: one indirect call per exit, no lock in the VMM around them.
 *   after_run   right after every KVM_RUN returns (0 or -EINTR), before the
 *               VMM reads or touches `run`. run->s.regs holds the synced
 *               state; run->exit_reason is KVM_EXIT_INTR after a kick.
 *   before_run  right before every KVM_RUN, after the VMM has written IN /
 *               MMIO-read data into `run` and set kvm_dirty_regs (the first
 *               one of each vCPU carries the loader's initial state as dirty
 *               classes). A KVM_RUN cut short by a kick still completes the
 *               pending IN/MMIO read and loads the dirty classes (KVM does
 *               both before it looks at immediate_exit), so the data handed
 *               over here is always consumed.
 *   mem_write   every vmm_mem_write(_vcpu), after the bytes are in guest
 *               memory. vcpu: the vCPU on whose behalf the VMM wrote, while
 *               serving its exit on its own thread (then ordered after that
 *               exit), or VMM_NO_VCPU (loader, gdb's server thread: any
 *               thread).
 *   inject      every interrupt/NMI the VMM injects (none today; kept so a
 *               recorder handles it when devices with interrupts arrive).
 *   irq_line    every change of an interrupt line the VMM drives into the
 *               in-kernel irqchip (KVM_IRQ_LINE { gsi, level }), after the
 *               ioctl succeeded. Interrupts the irqchip then delivers are not
 *               exits; this is what a reader can see of them. vcpu: the vCPU
 *               whose exit the device was serving when it changed the line
 *               (ordered after that exit), or VMM_NO_VCPU from any other
 *               thread (the UART's input thread, a timer).
 *   note        text with a kind (enum vcr_note_kind, formats/trace.h:
 *               1 = console-tail, the last lines the guest wrote to its
 *               console, so that what a panic printed is in the trace);
 *               len bytes, not NUL-terminated. vcpu as for mem_write: the
 *               vCPU whose exit is being served, on its thread, or
 *               VMM_NO_VCPU from any thread. Call it before end.
 *   end         exactly once, when the run has ended and before vmm_run
 *               returns (all vCPU threads joined): how (enum vcr_end_how),
 *               status (guest's byte, signal number...), msg for humans.
 */
struct vmm_observer {
	void *ctx;
	void (*after_run)(void *ctx, uint32_t vcpu, struct kvm_run *run);
	void (*before_run)(void *ctx, uint32_t vcpu, struct kvm_run *run);
	void (*mem_write)(void *ctx, uint32_t vcpu, uint64_t gpa, const void *data,
			  uint64_t len);
	void (*inject)(void *ctx, uint32_t vcpu, uint32_t kind, uint32_t vector);
	void (*irq_line)(void *ctx, uint32_t vcpu, uint32_t gsi, uint32_t level);
	void (*note)(void *ctx, uint32_t vcpu, uint32_t kind, const char *text, size_t len);
	void (*end)(void *ctx, uint32_t how, int32_t status, const char *msg);
};
/* Copies *obs (NULL removes). Before vmm_load / vmm_run. */
void vmm_set_observer(struct vmm *vm, const struct vmm_observer *obs);

/*
 * Debug controls (the gdbstub's live target).
 *
 * A debug handler, when set, is called on the vCPU thread with the vCPU out
 * of KVM_RUN, its state readable and writable (vmm_vcpu_get_state /
 * vmm_vcpu_set_state) and guest memory accessible:
 *   VMM_DEBUG_START   before the vCPU's first KVM_RUN (a `--gdb` run waits
 *                     here for gdb to continue)
 *   VMM_DEBUG_EXIT    on KVM_EXIT_DEBUG (run->debug.arch has exception, pc,
 *                     dr6, dr7)
 *   VMM_DEBUG_KICKED  the vCPU left KVM_RUN because of vmm_kick / kick_all
 *                     (all-stop: the handler of the vCPU that stopped first
 *                     calls vmm_kick_all, and every other vCPU then arrives
 *                     here). A kick requested while the vCPU is not in
 *                     KVM_RUN is delivered before its next KVM_RUN.
 * The handler may block (until gdb resumes). It returns VMM_DEBUG_CONTINUE to
 * run the vCPU on, or VMM_DEBUG_KILL to end the whole run (VCR_END_GDB_KILL).
 * Without a handler, KVM_EXIT_DEBUG ends the run as unexpected and kicks
 * only serve vmm_stop.
 */
enum vmm_debug_event {
	VMM_DEBUG_START = 1,
	VMM_DEBUG_EXIT = 2,
	VMM_DEBUG_KICKED = 3,
};
enum vmm_debug_action {
	VMM_DEBUG_CONTINUE = 0,
	VMM_DEBUG_KILL = 1,
};
typedef int (*vmm_debug_fn)(void *ctx, struct vmm *vm, uint32_t vcpu,
			    enum vmm_debug_event ev, struct kvm_run *run);
void vmm_set_debug_handler(struct vmm *vm, vmm_debug_fn fn, void *ctx);

/* Guest debug for one vCPU (KVM_SET_GUEST_DEBUG: control = KVM_GUESTDBG_*,
 * arch.debugreg[0..7]). Stored and applied by the vCPU thread before its next
 * KVM_RUN; re-applied before EVERY KVM_RUN while KVM_GUESTDBG_SINGLESTEP is
 * set (NESTED-KVM.md: stepping needs it). Call from the vCPU's debug handler
 * or before vmm_run. control = 0 turns debugging off. */
int vmm_vcpu_set_guest_debug(struct vmm *vm, uint32_t vcpu, const struct kvm_guest_debug *dbg);

/* Make vCPU `vcpu` (or all) leave KVM_RUN soon (signal + immediate_exit) and
 * report VMM_DEBUG_KICKED to the debug handler. Any thread. */
void vmm_kick(struct vmm *vm, uint32_t vcpu);
void vmm_kick_all(struct vmm *vm);

/*
 * Memory checkpoints (vmm/ckpt.c; the dirty-log ioctls in vmm/kvm.c).
 *
 * vmm_dirty_log_enable re-registers every RAM slot with
 * KVM_MEM_LOG_DIRTY_PAGES (before vmm_run; -errno when the host KVM refuses,
 * and nothing is changed then), first turning on manual protection
 * (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) where the host offers it.
 * vmm_dirty_log_get reads and clears one slot's log (one bit per 4 KiB page
 * the guest wrote since the last call, in ceil(pages / 64) words; the
 * VMM's own writes are not in it): KVM_GET_DIRTY_LOG, which also clears and
 * write-protects, or with manual protection KVM_GET_DIRTY_LOG then
 * KVM_CLEAR_DIRTY_LOG of the pages it returned (the api doc's way: only
 * those pages are write-protected again, under shorter mmu-lock holds).
 * vmm_dirty_log_mode says which: "clear-dirty-log", "get-dirty-log", or
 * NULL before vmm_dirty_log_enable succeeded. Single-threaded, or from a
 * checkpoint function.
 *
 * vmm_set_checkpoints (before vmm_run): before each timed round, pre (if
 * not NULL) on the checkpoint thread with the vCPUs running (one vCPU:
 * not while the last round's pause is still waiting for its exit); then
 * fn is called with every vCPU out of
 * KVM_RUN at an exit boundary (one vCPU: on its own thread, right after
 * serving the exit that came due, without a kick; several: the checkpoint
 * thread sets a pause flag, kicks every vCPU with immediate_exit + the kick
 * signal, waits until each one waits or has left its loop, calls fn, lets
 * them go)
 * every interval_ns (0: never by time) or after interval_exits exits of one
 * vCPU (0: never by exits), or later when fn returned a longer delay in ns
 * (a byte budget); a round gives up when a vCPU does not pause within
 * VMM_CKPT_PAUSE_MS (one blocked in a debug handler). After the run (every
 * vCPU thread joined, before the observer's end) fn is called once more
 * with final = true. fn returns the delay it wants before the next call
 * (0: the interval), or negative to stop periodic calls. A kicked vCPU
 * leaves KVM_RUN with -EINTR: the recorder records that KVM_EXIT_INTR exit
 * (with several vCPUs only; a one-vCPU guest that makes no exit gets no
 * periodic checkpoint until it does).
 */
#define VMM_CKPT_PAUSE_MS 500
typedef int64_t (*vmm_ckpt_fn)(void *ctx, struct vmm *vm, bool final);
/* pre (may be NULL) is called on the checkpoint thread before each timed
 * round, with the vCPUs running: the recorder copies the pages dirty so
 * far then, so that the paused fn copies only what the guest wrote since
 * (pre-copy, as live migration does). It returns 0 or -errno (the round
 * goes on: fn then copies everything itself). */
typedef int (*vmm_ckpt_pre_fn)(void *ctx, struct vmm *vm);
int vmm_dirty_log_enable(struct vmm *vm, struct vcr_err *err);
bool vmm_dirty_log_enabled(const struct vmm *vm);
const char *vmm_dirty_log_mode(const struct vmm *vm);
int vmm_dirty_log_get(struct vmm *vm, uint32_t slot, uint64_t *bitmap);
/* Host address of slot i's memory (size: vmm_mem_regions()[i].size). */
uint8_t *vmm_mem_slot_host(struct vmm *vm, uint32_t slot);
void vmm_set_checkpoints(struct vmm *vm, vmm_ckpt_fn fn, vmm_ckpt_pre_fn pre, void *ctx,
			 uint64_t interval_ns, uint64_t interval_exits);

/* -------------------------------------------------------------- running */

struct vmm_result {
	uint32_t how;		/* enum vcr_end_how */
	int32_t status;		/* guest's exit byte, signal number, errno... */
	int exit_status;	/* what `vcr run` should exit with (enum vmm_status) */
	uint32_t vcpu;		/* the vCPU that ended the run */
	uint64_t exits;		/* KVM_RUN exits of all vCPUs */
	uint64_t unknown_io;	/* accesses to unknown ports / MMIO */
	char msg[512];		/* one line, e.g. "triple fault (KVM_EXIT_SHUTDOWN)
				 * on vcpu 0 at rip=0x..." */
};
/* The exit_status for a run that ended `how` (enum vcr_end_how) with
 * `status`: also what a trace's END record says `vcr run` exited with. */
int vmm_end_exit_status(uint32_t how, int32_t status);

/* Run every vCPU on its own thread until the run ends: every vCPU halted,
 * the exit port, a triple fault / internal error / failed entry / unexpected
 * exit on any vCPU, vmm_stop, or a debug handler's KILL. The first ending
 * wins; the other vCPUs are kicked out of KVM_RUN and joined. Calls the
 * observer's end once. Returns 0 with *res filled however the guest ended,
 * negative errno only when the run could not start (threads). Once.
 * During the run VMM_KICK's signal, SIGUSR1, is the VMM's: vmm_run installs
 * its handler first and restores the caller's disposition before it
 * returns (the caller must not use SIGUSR1 meanwhile). */
int vmm_run(struct vmm *vm, struct vmm_result *res);

/* End the run from outside (SIGINT/SIGTERM thread, disk full in the
 * recorder): how/status/msg as for the observer's end. First ending wins.
 * Any thread. Before vmm_run: the run ends as soon as it starts. After the
 * run ended: no-op. */
void vmm_stop(struct vmm *vm, uint32_t how, int32_t status, const char *msg);

/* True once the run has ended (a blocking debug handler polls this, or is
 * woken by its own means, and returns so that vmm_run can join). */
bool vmm_ended(const struct vmm *vm);

#endif
