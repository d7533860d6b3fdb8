/*
 * record_hooks: the recorder on real KVM, without vcr's VMM.
 *
 * A real-mode guest driven by raw ioctls (a dozen lines of host loop, so
 * that this test depends on recorder/ and formats/ only) performs a known
 * sequence of exits; the host serves each one, calling the recorder hooks
 * exactly where a VMM does (after_run after KVM_RUN, before_run before it).
 * The trace is then read back with the trace reader and compared with what
 * the host saw and what the guest computed:
 *
 *   loop k = 1..N:  cx = k, ax = 3k + bx, out 0xf1 (al)   EXIT IO out, regs
 *                   in al, 0xf0 (host answers in_val(k))  EXIT IO in + INPUT
 *                   dl = al                               seen at exit k+1
 *   at OUT k = SET_K the host sets rbx = BX2 through kvm_dirty_regs: a
 *   SET_STATE record, and ax uses the new bx from then on.
 *   mov ax, ds:[0x10] with ds = 0x2000 (no memory there): MMIO read, host
 *   answers 0xbeef                                         EXIT + INPUT
 *   mov ds:[0x20], ax: MMIO write of 0xbeef                EXIT with data
 *   rep outsb of a 12-byte message to port 0xf2           EXIT(s) with data
 *   hlt                                                    EXIT HLT, END
 *
 * Needs /dev/kvm: fails without it unless VCR_ALLOW_SKIP_KVM=1 (then skips).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/trace.h"
#include "recorder/recorder.h"
#include "tests/lib/tap.h"

#define MEM_SIZE	0x10000
#define CODE_GPA	0x1000
#define MSG_GPA		0x1800
#define N		20
#define SET_K		5
#define BX1		0x0100
#define BX2		0x0200
#define MMIO_VAL	0xbeef
#define MMIO_RD_GPA	0x20010
#define MMIO_WR_GPA	0x20020
#define MSG		"hello, vcr!\n"

__asm__(
	".pushsection .rodata\n"
	".code16\n"
	".globl rh_guest_start, rh_guest_end\n"
	"rh_guest_start:\n"
	"	xorw %cx, %cx\n"
	"	movw $0x0100, %bx\n"
	"1:	incw %cx\n"
	"	movw %cx, %ax\n"
	"	addw %cx, %ax\n"
	"	addw %cx, %ax\n"
	"	addw %bx, %ax\n"
	"	outb %al, $0xf1\n"
	"	inb $0xf0, %al\n"
	"	movb %al, %dl\n"
	"	cmpw $20, %cx\n"
	"	jne 1b\n"
	"	movw $0x2000, %ax\n"
	"	movw %ax, %ds\n"
	"	movw 0x10, %ax\n"
	"	movw %ax, 0x20\n"
	"	xorw %ax, %ax\n"
	"	movw %ax, %ds\n"
	"	movw $0x1800, %si\n"
	"	movw $12, %cx\n"
	"	movw $0xf2, %dx\n"
	"	cld\n"
	"	rep outsb\n"
	"	hlt\n"
	"rh_guest_end:\n"
	".code64\n"
	".popsection\n");

extern const unsigned char rh_guest_start[], rh_guest_end[];

static uint8_t in_val(uint32_t k)
{
	return (uint8_t)(k * 7 + 1);
}

struct host {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
};

static void host_setup(struct host *h)
{
	h->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (h->kvm < 0) {
		if (getenv("VCR_ALLOW_SKIP_KVM"))
			tap_skip_all("no /dev/kvm");
		tap_bail("open /dev/kvm: %s", strerror(errno));
	}
	h->vm = ioctl(h->kvm, KVM_CREATE_VM, 0);
	if (h->vm < 0)
		tap_bail("KVM_CREATE_VM: %s", strerror(errno));
	if (ioctl(h->vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		tap_bail("KVM_SET_TSS_ADDR: %s", strerror(errno));
	h->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->mem == MAP_FAILED)
		tap_bail("mmap guest memory: %s", strerror(errno));
	struct kvm_userspace_memory_region reg = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)h->mem,
	};
	if (ioctl(h->vm, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
		tap_bail("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	h->vcpu = ioctl(h->vm, KVM_CREATE_VCPU, 0);
	if (h->vcpu < 0)
		tap_bail("KVM_CREATE_VCPU: %s", strerror(errno));
	int sz = ioctl(h->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run))
		tap_bail("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	h->run_size = (size_t)sz;
	h->run = mmap(NULL, h->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, h->vcpu, 0);
	if (h->run == MAP_FAILED)
		tap_bail("mmap kvm_run: %s", strerror(errno));

	memcpy(h->mem + CODE_GPA, rh_guest_start, (size_t)(rh_guest_end - rh_guest_start));
	memcpy(h->mem + MSG_GPA, MSG, strlen(MSG));

	/* Initial state through the sync area, as vcr's VMM does it: fetch
	 * once with KVM_GET_*, edit, mark dirty; the recorder sees the first
	 * before_run carry it as SET_STATE. */
	if (ioctl(h->vcpu, KVM_GET_REGS, &h->run->s.regs.regs) < 0 ||
	    ioctl(h->vcpu, KVM_GET_SREGS, &h->run->s.regs.sregs) < 0 ||
	    ioctl(h->vcpu, KVM_GET_VCPU_EVENTS, &h->run->s.regs.events) < 0)
		tap_bail("KVM_GET_*: %s", strerror(errno));
	struct kvm_sregs *s = &h->run->s.regs.sregs;
	s->cs.base = 0;
	s->cs.selector = 0;
	s->ds.base = 0;
	s->ds.selector = 0;
	memset(&h->run->s.regs.regs, 0, sizeof(h->run->s.regs.regs));
	h->run->s.regs.regs.rip = CODE_GPA;
	h->run->s.regs.regs.rflags = 2;
	h->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
	h->run->kvm_dirty_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
}

/* What the host saw, to compare with the trace. */
struct seen {
	uint64_t exits;
	uint64_t out_exits, in_exits, mmio_exits, hlt_exits, other_exits;
	uint8_t out_bytes[4096];
	size_t nout_bytes;
};

static void run_guest(struct host *h, struct vcr_recorder_vcpu *v, struct seen *s)
{
	uint32_t k_out = 0, k_in = 0;

	for (;;) {
		vcr_recorder_before_run(v, h->run);
		if (ioctl(h->vcpu, KVM_RUN, 0) < 0)
			tap_bail("KVM_RUN: %s", strerror(errno));
		vcr_recorder_after_run(v, h->run);
		s->exits++;
		struct kvm_run *run = h->run;
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *d = (uint8_t *)run + run->io.data_offset;
			size_t n = (size_t)run->io.size * run->io.count;
			if (run->io.direction == KVM_EXIT_IO_OUT) {
				s->out_exits++;
				if (n <= sizeof(s->out_bytes) - s->nout_bytes) {
					memcpy(s->out_bytes + s->nout_bytes, d, n);
					s->nout_bytes += n;
				}
				if (run->io.port == 0xf1 && ++k_out == SET_K) {
					run->s.regs.regs.rbx = BX2;
					run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
				}
			} else {
				s->in_exits++;
				memset(d, in_val(++k_in), n);
			}
			break;
		}
		case KVM_EXIT_MMIO:
			s->mmio_exits++;
			if (!run->mmio.is_write) {
				uint64_t val = MMIO_VAL;
				memcpy(run->mmio.data, &val, 8);
			}
			break;
		case KVM_EXIT_HLT:
			s->hlt_exits++;
			return;
		default:
			s->other_exits++;
			tap_diag("unexpected exit %u", run->exit_reason);
			return;
		}
	}
}

int main(void)
{
	struct host h;
	struct seen s;
	char path[] = "/tmp/vcr-record-hooks-XXXXXX";
	struct vcr_err err;

	memset(&s, 0, sizeof(s));
	host_setup(&h);
	tap_plan(17);

	int fd = mkstemp(path);
	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd);

	struct vcr_mem_region region = { .gpa = 0, .size = MEM_SIZE };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64,
		.kvm_api_version = 12,
		.sync_regs_mask = 7,
		.nvcpus = 1,
		.mem = &region,
		.nmem = 1,
		.cmdline = "record_hooks",
	};
	struct vcr_recorder_opts opts = { .run_size = h.run_size };
	struct vcr_recorder *rec;
	if (vcr_recorder_open(&rec, path, &info, &opts, &err) < 0)
		tap_bail("vcr_recorder_open: %s", err.msg);
	struct vcr_recorder_vcpu *v = vcr_recorder_vcpu(rec, 0);

	vcr_recorder_mem_write(rec, CODE_GPA, h.mem + CODE_GPA,
			       (size_t)(rh_guest_end - rh_guest_start));
	run_guest(&h, v, &s);
	vcr_recorder_end(rec, VCR_END_HLT, 0, "halted");
	struct vcr_recorder_summary sum;
	int rc = vcr_recorder_close(rec, &sum);
	char line[512];
	vcr_recorder_summary_format(&sum, path, line, sizeof(line));
	tap_diag("%s", line);
	tap_ok(rc == 0 && sum.error == 0 && sum.dropped == 0, "recorder closed without error");
	tap_is_u64(sum.exits, s.exits, "summary counts every exit");

	/* ---- read it back ---- */
	struct vcr_reader *rd;
	if (vcr_reader_open(&rd, path, &err) < 0)
		tap_bail("vcr_reader_open: %s", err.msg);
	struct vcr_record r;
	uint64_t exits = 0, ins = 0, outs = 0, mmios = 0, set_states = 0, inputs = 0;
	uint64_t regs_bad = 0, dl_bad = 0, input_bad = 0, order_bad = 0;
	uint8_t out_bytes[4096];
	size_t nout = 0;
	bool saw_mmio_input = false, mmio_write_ok = false, set_state_ok = false;
	bool end_ok = false, after_end = false, last_hlt = false, mem_ok = false;
	uint32_t k_out = 0, k_in = 0;
	uint32_t last_exit_reason = 0, last_exit_dir = 0, last_mmio_write = 0;
	int n;

	while ((n = vcr_reader_next(rd, &r)) > 0) {
		if (end_ok)
			after_end = true;
		switch (r.type) {
		case VCR_REC_EXIT: {
			const struct vcr_exit *e = &r.u.exit.exit;
			const struct kvm_regs *g = &r.u.exit.state.regs;
			if (r.seq != exits || r.vcpu_exit != exits)
				order_bad++;
			exits++;
			last_exit_reason = e->reason;
			last_exit_dir = e->u.io.direction;
			last_mmio_write = e->u.mmio.is_write;
			last_hlt = e->reason == KVM_EXIT_HLT;
			if (e->reason == KVM_EXIT_IO && e->u.io.direction == KVM_EXIT_IO_OUT) {
				outs++;
				if (nout + e->data_len <= sizeof(out_bytes)) {
					memcpy(out_bytes + nout, e->data, e->data_len);
					nout += e->data_len;
				}
				if (e->u.io.port == 0xf1) {
					k_out++;
					uint64_t bx = k_out > SET_K ? BX2 : BX1;
					if ((g->rcx & 0xffff) != k_out ||
					    (g->rax & 0xffff) != ((3 * k_out + bx) & 0xffff) ||
					    (g->rbx & 0xffff) != bx ||
					    e->data_len != 1 || e->data[0] != (uint8_t)(3 * k_out + bx)) {
						if (regs_bad++ < 3)
							tap_diag("out %u: rcx=%llx rax=%llx rbx=%llx data=%x",
								 k_out, (unsigned long long)g->rcx,
								 (unsigned long long)g->rax,
								 (unsigned long long)g->rbx, e->data[0]);
					}
					if (k_out > 1 && (g->rdx & 0xff) != in_val(k_out - 1))
						dl_bad++;
				}
			} else if (e->reason == KVM_EXIT_IO) {
				ins++;
			} else if (e->reason == KVM_EXIT_MMIO) {
				mmios++;
				if (e->u.mmio.is_write)
					mmio_write_ok = e->u.mmio.phys_addr == MMIO_WR_GPA &&
							e->u.mmio.len == 2 && e->data_len == 2 &&
							e->data[0] == 0xef && e->data[1] == 0xbe;
			}
			break;
		}
		case VCR_REC_INPUT:
			inputs++;
			if (r.u.input.kind == VCR_INPUT_IO_IN) {
				k_in++;
				if (last_exit_reason != KVM_EXIT_IO || last_exit_dir != KVM_EXIT_IO_IN ||
				    r.u.input.len != 1 || r.u.input.data[0] != in_val(k_in))
					input_bad++;
			} else if (r.u.input.kind == VCR_INPUT_MMIO_READ) {
				saw_mmio_input = last_exit_reason == KVM_EXIT_MMIO && !last_mmio_write &&
						 r.u.input.len == 2 && r.u.input.data[0] == 0xef &&
						 r.u.input.data[1] == 0xbe;
			} else {
				input_bad++;
			}
			break;
		case VCR_REC_SET_STATE:
			set_states++;
			/* The first carries the initial state; the second
			 * the host's rbx change at OUT SET_K. */
			if (set_states == 2)
				set_state_ok = r.u.set_state.dirty == KVM_SYNC_X86_REGS &&
					       r.u.set_state.state.regs.rbx == BX2 &&
					       r.seq == 2 * (SET_K - 1);
			break;
		case VCR_REC_MEM_WRITE:
			mem_ok = r.u.mem.gpa == CODE_GPA &&
				 r.u.mem.len == (uint64_t)(rh_guest_end - rh_guest_start) &&
				 !memcmp(r.u.mem.data, rh_guest_start, r.u.mem.len) &&
				 r.seq == UINT64_MAX;
			break;
		case VCR_REC_END:
			end_ok = r.u.end.how == VCR_END_HLT && r.u.end.msg &&
				 !strcmp(r.u.end.msg, "halted");
			break;
		}
	}
	if (n < 0)
		tap_diag("reader: %s", vcr_reader_error(rd)->msg);
	tap_ok(n == 0, "trace reads to the end without error");
	tap_is_u64(exits, s.exits, "EXIT records == exits the host saw");
	tap_is_u64(outs, s.out_exits, "OUT exits recorded");
	tap_is_u64(ins, N, "IN exits recorded == the guest's N");
	tap_ok(s.out_exits >= N + 1 && mmios == 2 && s.hlt_exits == 1 && last_hlt,
	       "guest's exit sequence: N outs + string out, 2 MMIO, ends with HLT");
	tap_ok(regs_bad == 0 && k_out == N, "registers at each OUT equal the guest's values");
	tap_ok(dl_bad == 0, "each IN's data reached the guest (dl at the next OUT)");
	tap_ok(input_bad == 0 && k_in == N, "INPUT after each IN exit holds the host's byte");
	tap_ok(saw_mmio_input, "INPUT MMIO_READ holds the host's answer");
	tap_ok(mmio_write_ok, "MMIO write exit carries the written bytes");
	tap_ok(set_states == 2 && set_state_ok, "SET_STATE records the kvm_dirty_regs change");
	tap_ok(nout == N + strlen(MSG) && nout == s.nout_bytes &&
	       !memcmp(out_bytes + N, MSG, strlen(MSG)),
	       "OUT data (incl. rep outsb) recorded byte for byte");
	tap_ok(mem_ok, "MEM_WRITE of the loader's bytes, before the first exit");
	tap_ok(end_ok && !after_end, "END record last, says halted");
	tap_ok(order_bad == 0, "EXIT seq and vcpu_exit number the exits in order");
	vcr_reader_close(rd);
	unlink(path);
	return tap_exit_status();
}
