/*
 * vmm/vmm_int.h: the inside of struct vmm, shared by the vmm/ sources only.
 * Nothing outside vmm/ includes this.
 */
#ifndef VCR_VMM_VMM_INT_H
#define VCR_VMM_VMM_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "vmm/bus.h"
#include "vmm/loader_linux.h"
#include "vmm/vmm.h"

#define VMM_MAX_SLOTS 8

struct vmm_slot {
	struct vcr_mem_region r;
	uint8_t *host;			/* mmap'ed, r.size bytes */
};

struct vmm_vcpu {
	struct vmm *vm;
	uint32_t index;
	int fd;
	struct kvm_run *run;		/* run_size bytes, mmap'ed from fd */
	pthread_t thread;
	bool thread_started;
	atomic_bool kick_pending;	/* set by vmm_kick, consumed by the loop */
	struct kvm_guest_debug dbg;	/* what vmm_vcpu_set_guest_debug asked */
	bool dbg_dirty;			/* dbg not yet given to KVM */
	uint64_t exits;			/* KVM_RUN returns, this vCPU (atomic
					 * adds: the pc watchdog reads it) */
	/* pc watchdog (vmm/run.c): probe asks the vCPU, at its next -EINTR,
	 * whether it is stopped; probe_result says 1 stopped (halted with
	 * IF=0, or an AP never started), 2 not, 0 not answered. */
	atomic_bool probe;
	atomic_int probe_result;
	uint64_t probe_rip;		/* rip when it answered (before the result) */
	uint32_t probe_mp;		/* KVM_MP_STATE_* when it answered */
	uint64_t probe_exits;		/* of exits, the probes' own (atomic) */
	uint64_t last_rip;		/* rip at the previous exit (messages) */
	uint32_t last_reason;
	uint64_t ckpt_mark;		/* exits at which this vCPU asks for a
					 * checkpoint (UINT64_MAX: never) */
};

/* Memory checkpoints (vmm/ckpt.c). */
struct vmm_ckpt {
	vmm_ckpt_fn fn;
	vmm_ckpt_pre_fn pre;
	void *ctx;
	uint64_t interval_ns, interval_exits;
	bool dirty_log;			/* slots carry KVM_MEM_LOG_DIRTY_PAGES */
	bool manual_protect;		/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on:
					 * KVM_CLEAR_DIRTY_LOG clears the log */
	atomic_bool pause;		/* vCPUs wait at their loop top (one
					 * vCPU: it checkpoints there) */
	_Atomic int64_t next_ns;	/* one vCPU: fn's last answer */
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* paused/gone changed, gen, due, stop */
	uint32_t paused;		/* vCPUs waiting for gen to move */
	uint32_t gone;			/* vCPU threads out of their loop */
	uint64_t gen;			/* bumped at each release */
	bool due;			/* a vCPU reached its exit mark */
	bool stop;
	pthread_t thread;
	bool started;
};
/* vmm/ckpt.c, for vmm/run.c: the vCPU's side (loop top when ckpt.pause is
 * set; after an exit that reached ckpt_mark; leaving the loop), and the run's
 * (start the thread before the vCPUs run... stop it, the final call). */
void vmm_ckpt_pause_here(struct vmm *vm, struct vmm_vcpu *c);
void vmm_ckpt_exits_due(struct vmm *vm, struct vmm_vcpu *c);
void vmm_ckpt_vcpu_gone(struct vmm *vm);
int vmm_ckpt_start(struct vmm *vm);
void vmm_ckpt_stop(struct vmm *vm);
void vmm_ckpt_final(struct vmm *vm);

/* What a loader decided from the image (vmm_create) and applies (vmm_load). */
struct vmm_guest {
	enum vmm_format format;
	enum vmm_mode mode;
	const char *format_name;	/* "flat", "elf32", "elf64", "multiboot" */
	uint64_t entry;
	uint64_t load_addr;		/* flat / multiboot a.out kludge */
	uint64_t mb_load_off;		/* multiboot kludge: file offset to load */
	uint64_t mb_load_len;		/* bytes copied from the file */
	uint64_t mb_bss_end;		/* end of zeroed bss (0: none) */
	bool mb_elf;			/* multiboot kernel loaded as ELF */
	uint64_t img_lo, img_hi;	/* ELF / multiboot: the loaded extent,
					 * bss included */
	uint64_t mb_info;		/* multiboot: where the mbi block goes */
	struct vmm_linux_kernel lk;	/* VMM_FORMAT_LINUX */
	struct vmm_linux_plan lplan;
};

struct vmm {
	int kvm_fd, vm_fd;
	uint32_t api_version, sync_mask;
	size_t run_size;

	struct vmm_slot slots[VMM_MAX_SLOTS];
	struct vcr_mem_region regions[VMM_MAX_SLOTS];
	uint32_t nslots;

	struct kvm_cpuid2 *cpuid;	/* header + ncpuid entries */
	bool irqchip;			/* the in-kernel irqchip exists (kvm_pc.c) */

	uint32_t nvcpus;
	struct vmm_vcpu *vcpus;		/* nvcpus entries */

	struct vmm_observer obs;
	vmm_debug_fn dbg_fn;
	void *dbg_ctx;

	/* High level only. */
	bool have_cfg;
	struct vmm_config cfg;		/* strings point into the copies below */
	char *guest_path, *cmdline;
	uint8_t *image;
	uint64_t image_size;
	uint8_t *initrd;		/* Linux (vmm/loader_bzimage.c) */
	uint64_t initrd_size;
	char *initrd_path;		/* cfg.initrd_path's copy */
	char *linux_cmdline;		/* default + user's, as the kernel gets it */
	struct vmm_guest guest;
	const struct vmm_machine *machine;	/* NULL: no devices (low level) */
	struct vmm_bus bus;		/* filled by the devices' create */
	struct vmm_dev *devs;		/* ndevs entries (vmm/dev.h) */
	uint32_t ndevs;

	/* Run state. */
	pthread_mutex_t end_lock;
	pthread_cond_t end_cond;	/* vmm_run waits for end_kicked */
	bool end_kicked;		/* the ender has kicked every vCPU */
	pthread_mutex_t kick_lock;	/* signals only to live threads */
	atomic_bool ended;
	struct vmm_result result;
	atomic_uint active;		/* vCPUs neither halted nor ended */
	atomic_ulong unknown_io;
	bool running;
	pthread_t watchdog;		/* pc machine: halted-with-IF=0 check */
	bool watchdog_started;
	/* The panic line the UART saw (vmm_panic_seen), for the end message. */
	pthread_mutex_t panic_lock;
	bool panicked;
	char panic_line[200];
	struct vmm_ckpt ckpt;
};

/* vmm/kvm_pc.c: the pc machine's side of the KVM layer. */
int vmm_pc_create_irqchip(struct vmm *vm, struct vcr_err *err);	/* before vCPUs */
int vmm_pc_setup_vcpus(struct vmm *vm, struct vcr_err *err);	/* after them */
/* A guest that is not Linux starts every vCPU at its entry, as on bare:
 * the APs are made runnable instead of waiting for a SIPI. */
int vmm_pc_start_aps(struct vmm *vm, struct vcr_err *err);
/* vmm/pc_bios.c: the real-mode IVT and its stubs a BIOS leaves (multiboot on pc). */
int vmm_pc_bios_write(struct vmm *vm);
int vmm_pc_bios_timer(struct vmm *vm);
/* KVM_IRQ_LINE, then the observer's irq_line. vcpu: see vmm.h irq_line. */
int vmm_irq_line(struct vmm *vm, uint32_t vcpu, uint32_t gsi, uint32_t level);
/* KVM_GET_MP_STATE of the vCPU (its own thread, out of KVM_RUN). */
int vmm_vcpu_mp_state(struct vmm *vm, uint32_t vcpu, uint32_t *state);

/* KVM_GET_SUPPORTED_CPUID or _HV_CPUID on fd into a new table (*out, to
 * free): first entries, doubled while the kernel says E2BIG, up to max.
 * -errno. */
int vmm_kvm_cpuid_get(int fd, unsigned long req, uint32_t first, uint32_t max,
		      struct kvm_cpuid2 **out);

/* vmm/hyperv.c: KVM's Hyper-V emulation (--cpuid ...,hv-passthrough). */
bool vmm_hyperv_in_cpuid(const struct kvm_cpuid_entry2 *e, uint32_t n);
/* Add KVM_GET_SUPPORTED_HV_CPUID's leaves to vm->cpuid (before vCPUs). */
int vmm_hyperv_cpuid(struct vmm *vm, struct vcr_err *err);
/* After KVM_SET_CPUID2: the SynIC on, when the table offers it. -errno. */
int vmm_hyperv_vcpu(struct vmm *vm, struct vmm_vcpu *c);
/* The answer to a KVM_EXIT_HYPERV, written into kvm_run. */
void vmm_hyperv_exit(struct kvm_run *run);

/* vmm/mptable.c: the MP table (floating pointer + configuration table) of
 * the pc machine at VMM_MPTABLE_BASE, reserved in the e820 map. */
#define VMM_MPTABLE_BASE	0xf0000ull
#define VMM_MPTABLE_SIZE	0x1000ull
int vmm_mptable_write(struct vmm *vm, struct vcr_err *err);

/* The UART saw a kernel panic line: remember it (the first), so a reset
 * that follows ends the run as a panic. */
void vmm_panic_seen(struct vmm *vm, const char *line);
bool vmm_panic_line(struct vmm *vm, char *buf, size_t len);

/* vmm/end.c: record how the run ended (first caller wins) and kick all.
 * A kick is immediate_exit plus this signal (vmm/run.c installs its
 * handler, which does nothing: KVM_RUN returns -EINTR). */
#define VMM_KICK_SIGNAL SIGUSR1
void vmm_end(struct vmm *vm, uint32_t vcpu, uint32_t how, int32_t status,
	     const char *fmt, ...) VCR_PRINTF(5, 6);

#endif
