/*
 * record_ring: the recorder's rings and writer thread on the host, fed with
 * synthesized kvm_run pages (no KVM needed: this tests the copy/ring/writer
 * path, not KVM; tests/kvm/record_* test it against real exits).
 *
 *  1. one vCPU, a ring of the minimum size, a producer far faster than the
 *     writer: the vCPU stalls (counted), no record is lost, every exit comes
 *     back with its registers (sregs and events too, which change now and
 *     then: short and full EXITs mixed) and OUT byte, INPUT after each IN
 *     exit.
 *  2. four vCPU threads at once: each vCPU's records in its own order, the
 *     total right.
 *  3. memory writes through the observer (vmm_observer.mem_write): with a
 *     vCPU index, on that vCPU's thread, right after the exit being served;
 *     with VMM_NO_VCPU, from another thread while two vCPUs run, after every
 *     exit the vCPU had published and before its next one.
 *  4. the file stops growing (RLIMIT_FSIZE, as a stand-in for a full disk):
 *     the error is reported once through on_error, the producers never block,
 *     lost records are counted, and the trace still reads up to its last
 *     complete chunk.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "formats/trace.h"
#include "recorder/recorder.h"
#include "tests/lib/tap.h"
#include "vmm/vmm.h"

#define RUN_SIZE (3 * 4096)
#define DATA_OFF 4096

static void make_out(struct kvm_run *run, uint64_t i, uint32_t vcpu)
{
	run->exit_reason = KVM_EXIT_IO;
	run->kvm_valid_regs = 7;
	run->kvm_dirty_regs = 0;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.count = 1;
	run->io.port = 0xf1;
	run->io.data_offset = DATA_OFF;
	((uint8_t *)run)[DATA_OFF] = (uint8_t)(i * 13);
	run->s.regs.regs.rax = i;
	run->s.regs.regs.rbx = vcpu;
	run->s.regs.regs.rip = 0x1000 + (i & 0xff);
	run->s.regs.sregs.cr0 = 0x11;
	/* The first and the last word of sregs + events change now and
	 * then: the recorder sends them only when they differ from the
	 * vCPU's previous exit, and the writer fills in the others. */
	run->s.regs.sregs.cs.base = (i / 37) * 0x1000 + vcpu;
	run->s.regs.events.exception_payload = i / 41;
}

static void make_in(struct kvm_run *run, uint64_t i)
{
	run->io.direction = KVM_EXIT_IO_IN;
	run->s.regs.regs.rax = i;
	((uint8_t *)run)[DATA_OFF] = 0;
}

struct prod {
	struct vcr_recorder_vcpu *v;
	uint32_t vcpu;
	uint64_t n;
	struct kvm_run *run;
	bool noise;	/* registers that compress badly */
};

/* Exit i is an OUT, except every 8th, which is an IN answered with i*5. */
static void *produce(void *arg)
{
	struct prod *p = arg;
	for (uint64_t i = 0; i < p->n; i++) {
		make_out(p->run, i, p->vcpu);
		if (p->noise) {
			p->run->s.regs.regs.rdx = i * 0x9e3779b97f4a7c15ull;
			p->run->s.regs.regs.rsi = (i * 0xff51afd7ed558ccdull) ^ (i >> 7);
		}
		if (i % 8 == 7)
			make_in(p->run, i);
		vcr_recorder_after_run(p->v, p->run);
		if (i % 8 == 7)
			((uint8_t *)p->run)[DATA_OFF] = (uint8_t)(i * 5);
		vcr_recorder_before_run(p->v, p->run);
	}
	return NULL;
}

struct check {
	uint64_t exits[4], bad[4], inputs[4], bad_inputs[4];
	uint64_t last_in[4];
	uint64_t readable;
	bool end;
	int rc;
};

static void check_trace(const char *path, struct check *c)
{
	struct vcr_reader *rd;
	struct vcr_err err;
	struct vcr_record r;
	int n;

	memset(c, 0, sizeof(*c));
	c->rc = vcr_reader_open(&rd, path, &err);
	if (c->rc < 0) {
		tap_diag("reader: %s", err.msg);
		return;
	}
	while ((n = vcr_reader_next(rd, &r)) > 0) {
		uint32_t v = r.vcpu & 3;
		if (r.type == VCR_REC_EXIT) {
			uint64_t i = c->exits[v]++;
			const struct vcr_exit *e = &r.u.exit.exit;
			bool in = i % 8 == 7;
			if (r.u.exit.state.regs.rax != i || r.u.exit.state.regs.rbx != r.vcpu ||
			    r.u.exit.state.sregs.cr0 != 0x11 ||
			    r.u.exit.state.sregs.cs.base != (i / 37) * 0x1000 + r.vcpu ||
			    r.u.exit.state.events.exception_payload != i / 41 ||
			    e->reason != KVM_EXIT_IO ||
			    e->u.io.direction != (in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT) ||
			    (!in && (e->data_len != 1 || e->data[0] != (uint8_t)(i * 13))))
				c->bad[v]++;
			if (in)
				c->last_in[v] = i;
		} else if (r.type == VCR_REC_INPUT) {
			c->inputs[v]++;
			if (r.u.input.len != 1 || r.u.input.data[0] != (uint8_t)(c->last_in[v] * 5))
				c->bad_inputs[v]++;
		} else if (r.type == VCR_REC_END) {
			c->end = true;
		}
	}
	if (n < 0)
		tap_diag("reader stopped: %s", vcr_reader_error(rd)->msg);
	c->rc = n;
	vcr_reader_close(rd);
}

/* Test 3: vCPU 0 makes exits through the observer, writes memory for
 * itself after every 10th (value = exit index, gpa ORD_OWN), and after
 * every 100th waits until the main thread has written memory for no vCPU
 * (value = exit index, gpa ORD_CTL). vCPU 1 makes exits meanwhile. */
#define ORD_OWN 0x2000
#define ORD_CTL 0x3000
#define ORD_EXITS 20000

struct ord {
	struct vmm_observer obs;
	struct kvm_run *run;
	uint32_t vcpu;
	uint64_t published;	/* atomic: exit index + 1 waiting for main */
	uint64_t acked;		/* atomic */
};

static void *ord_vcpu(void *arg)
{
	struct ord *o = arg;
	for (uint64_t i = 0; i < ORD_EXITS; i++) {
		make_out(o->run, i, o->vcpu);
		o->obs.after_run(o->obs.ctx, o->vcpu, o->run);
		if (o->vcpu == 0 && i % 10 == 5)
			o->obs.mem_write(o->obs.ctx, 0, ORD_OWN, &i, sizeof(i));
		o->obs.before_run(o->obs.ctx, o->vcpu, o->run);
		if (o->vcpu == 0 && i % 100 == 50) {
			__atomic_store_n(&o->published, i + 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&o->acked, __ATOMIC_ACQUIRE) != i + 1)
				usleep(10);
		}
	}
	if (o->vcpu == 0)
		__atomic_store_n(&o->published, UINT64_MAX, __ATOMIC_RELEASE);
	return NULL;
}

struct ord_check {
	uint64_t exits0, own, own_bad, ctl, ctl_bad;
	int rc;
};

static void ord_check_trace(const char *path, struct ord_check *c)
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
	bool last_was_exit0 = false;
	while ((n = vcr_reader_next(rd, &r)) > 0) {
		if (r.type == VCR_REC_EXIT && r.vcpu == 0) {
			c->exits0++;
			last_was_exit0 = true;
			continue;
		}
		if (r.type == VCR_REC_MEM_WRITE && r.u.mem.len == 8) {
			uint64_t v;
			memcpy(&v, r.u.mem.data, 8);
			if (r.u.mem.gpa == ORD_OWN) {
				/* Right after exit v of vCPU 0, on vCPU 0. */
				c->own++;
				if (r.vcpu != 0 || !last_was_exit0 || c->exits0 != v + 1)
					c->own_bad++;
			} else if (r.u.mem.gpa == ORD_CTL) {
				/* After exit v of vCPU 0, before exit v + 1. */
				c->ctl++;
				if (c->exits0 != v + 1) {
					if (c->ctl_bad++ < 3)
						tap_diag("control write %llu after %llu exits of vCPU 0",
							 (unsigned long long)v,
							 (unsigned long long)c->exits0);
				}
			}
		}
		if (!(r.type == VCR_REC_EXIT || r.type == VCR_REC_INPUT))
			last_was_exit0 = false;
	}
	c->rc = n;
	vcr_reader_close(rd);
}

static struct vcr_trace_info info_for(uint32_t nvcpus)
{
	static const struct vcr_mem_region region = { .gpa = 0, .size = 1 << 20 };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = nvcpus, .mem = &region, .nmem = 1, .cmdline = "record_ring",
	};
	return info;
}

static int error_calls;
static int error_code;
static void on_error(void *arg, int err, const char *msg)
{
	(void)arg;
	error_calls++;
	error_code = err;
	tap_diag("on_error: %s", msg);
}

int main(void)
{
	char path[] = "/tmp/vcr-record-ring-XXXXXX";
	struct vcr_err err;
	struct vcr_recorder *rec;
	struct vcr_recorder_summary sum;
	struct check c;
	struct kvm_run *runs[4];
	int fd = mkstemp(path);

	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd);
	for (int i = 0; i < 4; i++)
		runs[i] = calloc(1, RUN_SIZE);
	tap_plan(14);

	/* 1. one vCPU, smallest ring: stalls, nothing lost. */
	const uint64_t n1 = 100000;
	struct vcr_trace_info info = info_for(1);
	struct vcr_recorder_opts opts = { .run_size = RUN_SIZE, .buffer_bytes = 1 };
	if (vcr_recorder_open(&rec, path, &info, &opts, &err) < 0)
		tap_bail("open: %s", err.msg);
	struct prod p = { .v = vcr_recorder_vcpu(rec, 0), .vcpu = 0, .n = n1, .run = runs[0] };
	produce(&p);
	vcr_recorder_end(rec, VCR_END_EXIT_PORT, 0, "done");
	int rc = vcr_recorder_close(rec, &sum);
	char line[512];
	vcr_recorder_summary_format(&sum, path, line, sizeof(line));
	tap_diag("%s", line);
	tap_ok(rc == 0 && sum.exits == n1 && sum.dropped == 0,
	       "1 vCPU: close ok, %llu exits written, none lost", (unsigned long long)n1);
	tap_ok(sum.stalls > 0, "a full ring stalls the vCPU and the stall is counted (%llu)",
	       (unsigned long long)sum.stalls);
	check_trace(path, &c);
	tap_ok(c.rc == 0 && c.exits[0] == n1 && c.bad[0] == 0 && c.end,
	       "every exit read back with its registers and OUT byte, END last");
	tap_ok(c.inputs[0] == n1 / 8 && c.bad_inputs[0] == 0, "INPUT after every IN exit");

	/* 2. four vCPUs on four threads. */
	const uint64_t n2 = 30000;
	info = info_for(4);
	opts.buffer_bytes = 1;
	if (vcr_recorder_open(&rec, path, &info, &opts, &err) < 0)
		tap_bail("open: %s", err.msg);
	pthread_t th[4];
	struct prod ps[4];
	for (uint32_t i = 0; i < 4; i++) {
		ps[i] = (struct prod){ .v = vcr_recorder_vcpu(rec, i), .vcpu = i, .n = n2,
				       .run = runs[i] };
		pthread_create(&th[i], NULL, produce, &ps[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	vcr_recorder_end(rec, VCR_END_EXIT_PORT, 0, "done");
	rc = vcr_recorder_close(rec, &sum);
	tap_ok(rc == 0 && sum.exits == 4 * n2 && sum.dropped == 0,
	       "4 vCPUs: %llu exits written, none lost", (unsigned long long)sum.exits);
	check_trace(path, &c);
	bool all = c.rc == 0 && c.end;
	for (int i = 0; i < 4; i++)
		all = all && c.exits[i] == n2 && c.bad[i] == 0 && c.inputs[i] == n2 / 8 &&
		      c.bad_inputs[i] == 0;
	tap_ok(all, "each vCPU's records complete and in its own order");

	/* 3. memory writes through the observer, with and without a vCPU. */
	info = info_for(2);
	opts.buffer_bytes = 1;
	if (vcr_recorder_open(&rec, path, &info, &opts, &err) < 0)
		tap_bail("open: %s", err.msg);
	struct ord ords[2];
	for (uint32_t i = 0; i < 2; i++) {
		memset(&ords[i], 0, sizeof(ords[i]));
		vcr_recorder_observer(rec, &ords[i].obs);
		ords[i].run = runs[i];
		ords[i].vcpu = i;
		pthread_create(&th[i], NULL, ord_vcpu, &ords[i]);
	}
	for (;;) {
		uint64_t pub = __atomic_load_n(&ords[0].published, __ATOMIC_ACQUIRE);
		if (pub == UINT64_MAX)
			break;
		if (pub == 0 || pub == __atomic_load_n(&ords[0].acked, __ATOMIC_RELAXED)) {
			usleep(10);
			continue;
		}
		uint64_t v = pub - 1;
		ords[0].obs.mem_write(ords[0].obs.ctx, VMM_NO_VCPU, ORD_CTL, &v, sizeof(v));
		__atomic_store_n(&ords[0].acked, pub, __ATOMIC_RELEASE);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	vcr_recorder_end(rec, VCR_END_EXIT_PORT, 0, "done");
	rc = vcr_recorder_close(rec, &sum);
	struct ord_check oc;
	ord_check_trace(path, &oc);
	tap_ok(rc == 0 && oc.rc == 0 && oc.exits0 == ORD_EXITS && oc.own == ORD_EXITS / 10 &&
	       oc.own_bad == 0,
	       "mem_write for vCPU 0 on its thread: right after the exit it served (%llu writes)",
	       (unsigned long long)oc.own);
	tap_ok(oc.ctl == ORD_EXITS / 100 && oc.ctl_bad == 0,
	       "mem_write for no vCPU while vCPUs run: after the exits published before it, "
	       "before the next (%llu writes, %llu misplaced)", (unsigned long long)oc.ctl,
	       (unsigned long long)oc.ctl_bad);

	/* 4. the file cannot grow past 256 KiB. */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = { .rlim_cur = 256 << 10, .rlim_max = RLIM_INFINITY };
	getrlimit(RLIMIT_FSIZE, &rl);
	struct rlimit small = { .rlim_cur = 256 << 10, .rlim_max = rl.rlim_max };
	if (setrlimit(RLIMIT_FSIZE, &small) < 0)
		tap_bail("setrlimit: %s", strerror(errno));
	const uint64_t n3 = 400000;
	info = info_for(1);
	opts = (struct vcr_recorder_opts){ .run_size = RUN_SIZE, .buffer_bytes = 1,
					   .on_error = on_error, .chunk_exits = 1024,
					   .flush_exits = 1024 };
	if (vcr_recorder_open(&rec, path, &info, &opts, &err) < 0)
		tap_bail("open: %s", err.msg);
	p = (struct prod){ .v = vcr_recorder_vcpu(rec, 0), .vcpu = 0, .n = n3, .run = runs[0],
			   .noise = true };
	/* A vCPU blocked for good would hang the test until tests/run's
	 * timeout with no point saying why: the producer runs in a thread
	 * and a join bounded far above its real time (well under a second)
	 * turns a hang into a failed point. */
	pthread_t pt;
	pthread_create(&pt, NULL, produce, &p);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 120;
	int jr = pthread_timedjoin_np(pt, NULL, &dl);
	tap_ok(jr == 0, "the vCPU never blocked for good after the write error (%llu exits, "
	       "join: %s)", (unsigned long long)n3, jr ? strerror(jr) : "ok");
	if (jr)
		tap_bail("the producer is stuck in a hook");
	int live_err = vcr_recorder_error(rec);
	vcr_recorder_end(rec, VCR_END_ERROR, live_err, "write failed");
	rc = vcr_recorder_close(rec, &sum);
	setrlimit(RLIMIT_FSIZE, &rl);
	vcr_recorder_summary_format(&sum, path, line, sizeof(line));
	tap_diag("%s", line);
	tap_ok(live_err == -EFBIG && rc == -EFBIG && error_calls == 1 && error_code == -EFBIG,
	       "write error kept, reported once through on_error (%d, %d calls)", live_err,
	       error_calls);
	tap_ok(sum.dropped > 0 && sum.exits + sum.dropped >= n3,
	       "records lost after the error are counted (%llu)", (unsigned long long)sum.dropped);
	tap_ok(strstr(line, "LOST") != NULL, "the end-of-run line says records were lost");
	check_trace(path, &c);
	tap_ok(c.exits[0] > 0 && c.bad[0] == 0,
	       "trace readable up to its last complete chunk (%llu exits)",
	       (unsigned long long)c.exits[0]);
	tap_ok(!c.end, "no END record (it could not be written)");

	for (int i = 0; i < 4; i++)
		free(runs[i]);
	unlink(path);
	return tap_exit_status();
}
