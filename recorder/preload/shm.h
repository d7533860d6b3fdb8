/*
 * recorder/preload/shm.h: the memory shared by libvcr-preload.so (inside a
 * VMM vcr did not write) and `vcr record` (recorder/foreign.c), which reads
 * it. Header only: the preload library links nothing of libvcr.
 *
 * Lifecycle: vcr creates a memfd of vcr_pre_total_bytes(), fills the header
 * (magic, version, flags, ring_bytes), and passes the fd number to COMMAND
 * in VCR_PRELOAD_FD. The library maps it in its constructor, closes the fd
 * and removes the variable, so that programs the VMM starts do not record.
 * The first process to set owner_pid records; any other stays passive.
 *
 * One ring per vCPU (vcpu[i], created lazily in claim order: that order is
 * the vCPU index of the trace). Each ring has one producer (the thread that
 * runs the vCPU: KVM allows one KVM_RUN per vCPU at a time, and the library
 * writes only from inside ioctls on that vCPU's fd) and one consumer (vcr).
 * head and tail are monotonic byte counters published with release stores.
 * A record never wraps: the producer pads to the end of the buffer
 * (VCR_PRE_PAD) and starts again at offset 0. The producer's path makes no
 * syscall and takes no lock unless the ring is full; then it sleeps 50 us at
 * a time, and gives up after VCR_PRE_FULL_WAIT_MS without progress (the
 * record is counted in `dropped`), so a dead vcr never hangs the VMM.
 *
 * Interrupt lines (KVM_IRQ_LINE / KVM_IRQ_LINE_STATUS on the VM fd) go into
 * the ring of the vCPU whose thread raised them (while serving that vCPU's
 * exit: recorded with it), or, from any other thread, into one more ring,
 * the VM ring (index VCR_PRE_MAX_VCPUS, hdr->vm), whose producers take
 * `lock`: vcr places those records when it drains them (asynchronous).
 *
 * VM-wide facts (memory slots, CPUID, API facts) are in the header under a
 * sequence counter: writers take `lock` (a spin lock: these ioctls are rare
 * and come from any thread), make `gen` odd, change, make it even; vcr
 * copies and retries until it saw the same even gen before and after.
 *
 * The VMM is not trusted: vcr bounds-checks every length it reads here.
 */
#ifndef VCR_RECORDER_PRELOAD_SHM_H
#define VCR_RECORDER_PRELOAD_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#define VCR_PRE_MAGIC 0x31455250524356ull	/* "VCRPRE1" */
#define VCR_PRE_VERSION 2u
#define VCR_PRE_ENV_FD "VCR_PRELOAD_FD"
#define VCR_PRE_MAX_VCPUS 64u
#define VCR_PRE_MAX_SLOTS 64u
#define VCR_PRE_MAX_CPUID 256u
#define VCR_PRE_FULL_WAIT_MS 2000u
#define VCR_PRE_RING_DEFAULT (2ull << 20)
#define VCR_PRE_ALIGN 8u

/* flags, set by vcr */
#define VCR_PRE_F_NO_EVENTS 1u		/* --no-events: do not sync EVENTS */

/* status bits, set by the library */
#define VCR_PRE_S_PROTECTED 1u		/* protected state: left alone */
#define VCR_PRE_S_TOO_MANY 2u		/* more vCPUs than VCR_PRE_MAX_VCPUS */
#define VCR_PRE_S_FAILED 4u		/* could not map a kvm_run */

/* The bytes of kvm_run an EXIT record carries: everything up to the end of
 * the synced register sets, rounded so that the part from kvm_valid_regs
 * on is whole 32-byte vectors (the library copies it so). */
#define VCR_PRE_RUN_TAIL_OFF offsetof(struct kvm_run, kvm_valid_regs)
#define VCR_PRE_RUN_COPY (VCR_PRE_RUN_TAIL_OFF + \
	((offsetof(struct kvm_run, s) + sizeof(struct kvm_sync_regs) - VCR_PRE_RUN_TAIL_OFF + 31) & ~31ul))

enum vcr_pre_kind {
	VCR_PRE_PAD = 0,
	/* kvm_run's first VCR_PRE_RUN_COPY bytes after a KVM_RUN, then
	 * the OUT data (struct vcr_pre_exit). */
	VCR_PRE_EXIT = 1,
	/* What the VMM did since the last exit, as of a KVM_RUN or a
	 * KVM_SET_REGS/SREGS(2)/VCPU_EVENTS (struct vcr_pre_before). */
	VCR_PRE_BEFORE = 2,
	VCR_PRE_INJECT = 3,		/* arg: 1 IRQ (KVM_INTERRUPT), 2 NMI */
	VCR_PRE_IRQ_LINE = 4,		/* struct vcr_pre_irq_line */
};

struct vcr_pre_rec {
	uint32_t len;			/* bytes, header included, multiple of 8 */
	uint16_t kind;			/* enum vcr_pre_kind */
	uint16_t arg;
};

struct vcr_pre_exit {
	struct vcr_pre_rec h;
	uint32_t dlen;			/* OUT data bytes after run */
	uint32_t pad;
	uint8_t run[VCR_PRE_RUN_COPY];	/* then dlen bytes */
};

struct vcr_pre_before {
	struct vcr_pre_rec h;
	uint32_t dirty;			/* VCR_CLASS_* classes set */
	uint32_t in_len;		/* answer bytes (IN data / MMIO data) */
	/* then, if dirty, a struct kvm_sync_regs holding the dirty classes;
	 * then in_len bytes: the IN data the VMM put at io.data_offset, or
	 * the MMIO read data it put in mmio.data, for the previous exit */
};

struct vcr_pre_inject {
	struct vcr_pre_rec h;
	uint32_t vector;
	uint32_t pad;
};

struct vcr_pre_irq_line {
	struct vcr_pre_rec h;
	uint32_t gsi;			/* kvm_irq_level.irq */
	uint32_t level;
};

struct vcr_pre_vcpu {
	uint32_t state;			/* 0 free, 1 claimed (id/ring valid) */
	uint32_t id;			/* KVM vCPU id */
	int32_t tid;			/* thread of its first KVM_RUN, 0 before */
	uint32_t pad;
	uint64_t runs;			/* KVM_RUN calls recorded (producer) */
	uint64_t dropped;		/* records lost to a full ring */
	_Alignas(64) uint64_t head;	/* producer */
	_Alignas(64) uint64_t tail;	/* consumer */
};

struct vcr_pre_slot {
	uint32_t slot;			/* KVM slot (as2 << 16 | id) */
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;			/* 0: deleted */
	uint64_t uaddr;
};

struct vcr_pre_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t flags;			/* VCR_PRE_F_*, vcr */
	uint64_t ring_bytes;		/* per vCPU, power of two, vcr */
	uint64_t ring_off;		/* vCPU i's ring: ring_off + i * ring_bytes */
	int32_t owner_pid;		/* the recording process */
	uint32_t nvcpus;		/* vCPU slots claimed */
	uint32_t status;		/* VCR_PRE_S_* */
	uint32_t run_size;		/* KVM_GET_VCPU_MMAP_SIZE as the VMM saw it */
	uint32_t api_version;		/* KVM_GET_API_VERSION as the VMM saw it */
	uint32_t sync_mask;		/* KVM_CHECK_EXTENSION(KVM_CAP_SYNC_REGS), VM fd */
	char msg[256];			/* why status is set */
	/* VM-wide table under lock/gen */
	uint32_t lock;
	uint32_t gen;
	uint32_t nslots;
	uint32_t ncpuid;
	struct vcr_pre_slot slots[VCR_PRE_MAX_SLOTS];
	struct kvm_cpuid_entry2 cpuid[VCR_PRE_MAX_CPUID];	/* first vCPU's */
	struct vcr_pre_vcpu vcpu[VCR_PRE_MAX_VCPUS];
	struct vcr_pre_vcpu vm;		/* the VM ring: id, tid unused */
};

static inline uint64_t vcr_pre_hdr_bytes(void)
{
	return (sizeof(struct vcr_pre_hdr) + 4095) & ~4095ull;
}

static inline uint64_t vcr_pre_total_bytes(uint64_t ring_bytes)
{
	return vcr_pre_hdr_bytes() + (VCR_PRE_MAX_VCPUS + 1) * ring_bytes;
}

static inline uint32_t vcr_pre_round(uint64_t n)
{
	return (uint32_t)((n + VCR_PRE_ALIGN - 1) & ~(uint64_t)(VCR_PRE_ALIGN - 1));
}

#endif
