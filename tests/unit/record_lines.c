/*
 * record_lines: the recorder's irq_line and note hooks, called through the
 * vmm_observer the recorder fills (as the pc machine calls them), with
 * synthesized kvm_run pages (no KVM: the recorder never touches it; what is
 * tested is where the records land).
 *
 *  1. vCPU 0 (its thread) raises gsi 4 after every 10th exit it serves, at
 *     exit i with level i & 1: IRQ_LINE right after that exit among vCPU
 *     0's records (vCPU 1's may come between), vcpu 0, flags 0.
 *  2. another thread lowers gsi 4 with VMM_NO_VCPU whenever vCPU 0 asks
 *     it (after every 100th exit, which then waits): IRQ_LINE with
 *     VCR_IRQ_ASYNC and vcpu 0, after every exit vCPU 0 had published and
 *     before its next one; vCPU 1 makes exits all along.
 *  3. notes: one from vCPU 1's thread (after its last exit), one from the
 *     main thread after the run with VMM_NO_VCPU (a console tail with a
 *     NUL in it, its length kept), one longer than a ring can carry (the
 *     minimum ring: 64 KiB), which keeps its end.
 *  4. no record is lost, END is last.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/trace.h"
#include "recorder/recorder.h"
#include "tests/lib/tap.h"
#include "vmm/vmm.h"

#define RUN_SIZE (3 * 4096)
#define DATA_OFF 4096
#define NEXITS 5000
#define GSI 4
#define TAIL "[    1.234] Kernel panic - not syncing: VFS\n\0[ end Kernel panic ]---\n"
#define TAIL_LEN (sizeof(TAIL) - 1)
#define BIG (200u << 10)	/* bytes of the long note: more than a ring carries */

struct vcpu_arg {
	struct vmm_observer *obs;
	struct kvm_run *run;
	uint32_t vcpu;
	uint64_t published;	/* atomic: exit index + 1 waiting for main */
	uint64_t acked;		/* atomic */
};

static void make_out(struct kvm_run *run, uint64_t i, uint32_t vcpu)
{
	run->exit_reason = KVM_EXIT_IO;
	run->kvm_valid_regs = 7;
	run->kvm_dirty_regs = 0;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.count = 1;
	run->io.port = 0x3f8;
	run->io.data_offset = DATA_OFF;
	((uint8_t *)run)[DATA_OFF] = 'a' + (uint8_t)(i % 26);
	run->s.regs.regs.rax = i;
	run->s.regs.regs.rbx = vcpu;
	run->s.regs.regs.rip = 0x1000 + (i & 0xff);
}

static void *vcpu_main(void *p)
{
	struct vcpu_arg *a = p;
	struct vmm_observer *o = a->obs;
	for (uint64_t i = 0; i < NEXITS; i++) {
		make_out(a->run, i, a->vcpu);
		o->after_run(o->ctx, a->vcpu, a->run);
		if (a->vcpu == 0 && i % 10 == 3)
			o->irq_line(o->ctx, 0, GSI, (uint32_t)(i & 1));
		o->before_run(o->ctx, a->vcpu, a->run);
		if (a->vcpu == 0 && i % 100 == 50) {
			__atomic_store_n(&a->published, i + 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&a->acked, __ATOMIC_ACQUIRE) != i + 1)
				usleep(10);
		}
	}
	if (a->vcpu == 1)
		o->note(o->ctx, 1, VCR_NOTE_CONSOLE_TAIL, "vcpu1 note", 10);
	if (a->vcpu == 0)
		__atomic_store_n(&a->published, UINT64_MAX, __ATOMIC_RELEASE);
	return NULL;
}

struct result {
	uint64_t exits[2], own, own_bad, async, async_bad, lost;
	uint64_t notes, note_bad;
	bool end_last, other;
	int rc;
};

static void check(const char *path, const char *big, struct result *c)
{
	struct vcr_reader *rd;
	struct vcr_err err;
	struct vcr_record r;
	int n;
	memset(c, 0, sizeof(*c));
	if ((c->rc = vcr_reader_open(&rd, path, &err)) < 0) {
		tap_diag("reader: %s", err.msg);
		return;
	}
	/* vCPU 0's record before (in its own order: the writer interleaves
	 * vCPUs' records in batches, so another vCPU's exits may come
	 * between): its exit i, or UINT64_MAX after anything else of it. */
	uint64_t last_exit0 = UINT64_MAX;
	bool end_seen = false;
	while ((n = vcr_reader_next(rd, &r)) > 0) {
		if (end_seen)
			c->end_last = false;
		switch (r.type) {
		case VCR_REC_EXIT:
			if (r.vcpu < 2)
				c->exits[r.vcpu]++;
			if (r.vcpu == 0)
				last_exit0 = r.u.exit.state.regs.rax;
			continue;
		case VCR_REC_IRQ_LINE:
			if (r.u.irq_line.gsi != GSI) {
				c->other = true;
				break;
			}
			if (!(r.u.irq_line.flags & VCR_IRQ_ASYNC)) {
				/* Right after exit i of vCPU 0, i % 10 == 3. */
				uint64_t i = c->exits[0] - 1;
				c->own++;
				if (r.vcpu != 0 || last_exit0 != i || i % 10 != 3 ||
				    r.u.irq_line.level != (i & 1))
					c->own_bad++;
			} else {
				/* After exit 100k + 50 of vCPU 0, before the next. */
				c->async++;
				uint64_t want = 100 * (c->async - 1) + 50 + 1;
				if (r.vcpu != 0 || r.u.irq_line.level != 0 || c->exits[0] != want) {
					if (c->async_bad++ < 3)
						tap_diag("async line %llu after %llu exits of vCPU 0",
							 (unsigned long long)c->async,
							 (unsigned long long)c->exits[0]);
				}
			}
			break;
		case VCR_REC_NOTE:
			c->notes++;
			if (c->notes == 1) {
				/* vCPU 1's, after its last exit. */
				if (r.vcpu != 1 || c->exits[1] != NEXITS || r.u.note.len != 10 ||
				    memcmp(r.u.note.text, "vcpu1 note", 10))
					c->note_bad++;
			} else if (c->notes == 2) {
				if (r.vcpu != 0 || r.u.note.kind != VCR_NOTE_CONSOLE_TAIL ||
				    r.u.note.len != TAIL_LEN || memcmp(r.u.note.text, TAIL, TAIL_LEN + 1))
					c->note_bad++;
			} else {
				/* Cut to what a 64 KiB ring carries: its end kept. */
				uint32_t k = r.u.note.len;
				if (k < 16384 || k >= BIG || memcmp(r.u.note.text, big + BIG - k, k)) {
					c->note_bad++;
					tap_diag("long note of %u bytes", k);
				}
			}
			break;
		case VCR_REC_END:
			end_seen = true;
			c->end_last = true;
			break;
		default:
			break;
		}
		if (r.vcpu == 0 && r.type != VCR_REC_INPUT &&
		    !(r.type == VCR_REC_IRQ_LINE && (r.u.irq_line.flags & VCR_IRQ_ASYNC)))
			last_exit0 = UINT64_MAX;
	}
	c->rc = n;
	vcr_reader_close(rd);
}

int main(void)
{
	char path[] = "/tmp/vcr-record-lines-XXXXXX";
	struct vcr_err err;
	struct vcr_recorder *rec;
	struct vcr_recorder_summary sum;
	int fd = mkstemp(path);
	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd);
	tap_plan(6);

	static const struct vcr_mem_region region = { .gpa = 0, .size = 1 << 20 };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = 2, .mem = &region, .nmem = 1, .cmdline = "record_lines",
	};
	struct vcr_recorder_opts opts = { .run_size = RUN_SIZE, .buffer_bytes = 1 };
	if (vcr_recorder_open(&rec, path, &info, &opts, &err) < 0)
		tap_bail("open: %s", err.msg);
	struct vmm_observer obs;
	vcr_recorder_observer(rec, &obs);
	tap_ok(obs.irq_line && obs.note, "the observer has irq_line and note");

	struct vcpu_arg a[2];
	pthread_t th[2];
	for (uint32_t i = 0; i < 2; i++) {
		a[i] = (struct vcpu_arg){ .obs = &obs, .run = calloc(1, RUN_SIZE), .vcpu = i };
		pthread_create(&th[i], NULL, vcpu_main, &a[i]);
	}
	for (;;) {
		uint64_t pub = __atomic_load_n(&a[0].published, __ATOMIC_ACQUIRE);
		if (pub == UINT64_MAX)
			break;
		if (pub == 0 || pub == __atomic_load_n(&a[0].acked, __ATOMIC_RELAXED)) {
			usleep(10);
			continue;
		}
		/* The UART's input thread, say: no exit being served. */
		obs.irq_line(obs.ctx, VMM_NO_VCPU, GSI, 0);
		__atomic_store_n(&a[0].acked, pub, __ATOMIC_RELEASE);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	char *big = malloc(BIG);
	for (uint32_t i = 0; i < BIG; i++)
		big[i] = (char)('A' + (i * 7) % 26);
	obs.note(obs.ctx, VMM_NO_VCPU, VCR_NOTE_CONSOLE_TAIL, TAIL, TAIL_LEN);
	obs.note(obs.ctx, VMM_NO_VCPU, VCR_NOTE_CONSOLE_TAIL, big, BIG);
	obs.end(obs.ctx, VCR_END_SHUTDOWN, 0, "triple fault");
	int rc = vcr_recorder_close(rec, &sum);
	tap_ok(rc == 0 && sum.exits == 2 * NEXITS && sum.dropped == 0,
	       "close ok, %llu exits, none dropped", (unsigned long long)sum.exits);

	struct result c;
	check(path, big, &c);
	tap_ok(c.rc == 0 && c.exits[0] == NEXITS && c.exits[1] == NEXITS && !c.other,
	       "every exit read back");
	tap_ok(c.own == NEXITS / 10 && c.own_bad == 0,
	       "%llu lines from vCPU 0's thread, each right after its exit with its level",
	       (unsigned long long)c.own);
	tap_ok(c.async == NEXITS / 100 && c.async_bad == 0,
	       "%llu lines from another thread: async, after vCPU 0's published exits",
	       (unsigned long long)c.async);
	tap_ok(c.notes == 3 && c.note_bad == 0 && c.end_last,
	       "notes: vCPU 1's after its exit, the console tail with its NUL, the long one's end; END last");
	free(big);
	free(a[0].run);
	free(a[1].run);
	unlink(path);
	return tap_exit_status();
}
