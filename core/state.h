/*
 * core/state.h: the one vCPU state snapshot and the one exit description
 * shared by the recorder, the trace library, the replayer, the gdbstub, diff
 * and dump.
 *
 * A snapshot is exactly what KVM_CAP_SYNC_REGS copies into kvm_run->s.regs on
 * x86-64 (Documentation/virt/kvm/api.rst, "KVM_CAP_SYNC_REGS"): kvm_regs,
 * kvm_sregs and kvm_vcpu_events. Plain data: copy it by value, compare it with
 * memcmp only after vcr_state_normalize() (the uapi structs have padding and
 * reserved bytes that KVM leaves alone).
 *
 * No KVM ioctl is made here; this header needs only the uapi definitions.
 */
#ifndef VCR_CORE_STATE_H
#define VCR_CORE_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

/* Register classes, with the same bit values as KVM_SYNC_X86_* so that a
 * class mask can be stored in kvm_valid_regs / kvm_dirty_regs unchanged. */
enum vcr_class {
	VCR_CLASS_REGS   = KVM_SYNC_X86_REGS,   /* 1: struct kvm_regs */
	VCR_CLASS_SREGS  = KVM_SYNC_X86_SREGS,  /* 2: struct kvm_sregs */
	VCR_CLASS_EVENTS = KVM_SYNC_X86_EVENTS, /* 4: struct kvm_vcpu_events */
	VCR_CLASS_ALL    = 7,
};

struct vcr_vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_vcpu_events events;
};

/* Byte range of one class inside struct vcr_vcpu_state. */
size_t vcr_class_offset(enum vcr_class c);
size_t vcr_class_size(enum vcr_class c);

/* Copy the classes in `mask` from src to dst. */
void vcr_state_copy(struct vcr_vcpu_state *dst, const struct vcr_vcpu_state *src,
		    unsigned mask);

/* Zero every byte that carries no architectural state (struct padding,
 * kvm_segment.padding, kvm_vcpu_events.reserved and nmi.pad), so that two
 * snapshots of the same state compare equal with memcmp and delta-encode to
 * zeros. Call it on every snapshot taken from KVM. */
void vcr_state_normalize(struct vcr_vcpu_state *st);

/* Mask of classes whose bytes differ between a and b (both normalized). */
unsigned vcr_state_diff_mask(const struct vcr_vcpu_state *a,
			     const struct vcr_vcpu_state *b);

/*
 * One exit as seen by userspace after KVM_RUN returned: the reason and the
 * payload KVM put in struct kvm_run for it. Decoded from kvm_run by
 * vcr_exit_from_run(); the trace stores it; dump prints it.
 *
 * `data` carries variable-length bytes: for KVM_EXIT_IO with direction OUT the
 * bytes the guest wrote (size * count, at most VCR_EXIT_DATA_MAX); for MMIO
 * writes the (at most 8) bytes written. IN and MMIO-read data is an *input*
 * (what the VMM answered), recorded separately (see formats/trace.h).
 */
#define VCR_EXIT_DATA_MAX 4096u

struct vcr_exit {
	uint32_t reason;		/* KVM_EXIT_* */
	uint32_t data_len;		/* bytes valid in data[] */
	union {
		struct {
			uint8_t direction;	/* KVM_EXIT_IO_IN / _OUT */
			uint8_t size;		/* 1, 2 or 4 bytes */
			uint16_t port;
			uint32_t count;		/* > 1 for string I/O */
		} io;
		struct {
			uint64_t phys_addr;
			uint32_t len;		/* 1..8 */
			uint8_t is_write;
		} mmio;
		struct {
			uint32_t exception;	/* vector: 1 = #DB, 3 = #BP */
			uint64_t pc;
			uint64_t dr6, dr7;
		} debug;
		struct {
			uint64_t hardware_entry_failure_reason;
			uint32_t cpu;
		} fail_entry;
		struct {
			uint32_t suberror;
			uint32_t ndata;		/* <= 16 */
			uint64_t data[16];
		} internal;
		struct {
			uint32_t type;		/* KVM_SYSTEM_EVENT_* */
			uint32_t ndata;		/* <= 16 */
			uint64_t data[16];
		} system_event;
		struct {
			uint64_t nr;
			uint64_t args[6];
			uint64_t ret;
			uint32_t longmode;
		} hypercall;
		struct {
			uint64_t hardware_exit_reason;
		} unknown;
		uint8_t raw[160];
	} u;
	uint8_t data[VCR_EXIT_DATA_MAX];
};

/* Fill `e` from a kvm_run page of `run_size` bytes (KVM_GET_VCPU_MMAP_SIZE),
 * bounds-checking io.data_offset against run_size. Returns 0, or -EINVAL when
 * the payload points outside the page. Bytes of e->u that the reason does
 * not use are zero. */
int vcr_exit_from_run(struct vcr_exit *e, const struct kvm_run *run, size_t run_size);

/* Name of a KVM_EXIT_* reason ("IO", "MMIO", "HLT", ...), or NULL. */
const char *vcr_exit_reason_name(uint32_t reason);

/* Format the payload of `e` on one line, e.g. "out port=0x3f8 size=1 count=1
 * data=48", into buf (always NUL-terminated). Returns the length that would
 * have been written, like snprintf. */
int vcr_exit_format(const struct vcr_exit *e, char *buf, size_t len);

#endif
