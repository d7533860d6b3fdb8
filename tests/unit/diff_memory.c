/*
 * tests/unit/diff_memory.c: vcr_diff_memory (replayer/diff.h) on two traces
 * built here with the same exits (so every exit aligns) and memory that
 * differs in known places:
 *   both     loader: 0x1000..0x3000 the same, 0x5000 one byte apart
 *            (+0x123: A 0x11, B 0x22); A alone: 0x8000..0x8100; B alone:
 *            0x9000..0x9200
 *   exit 3   served with a write to 0x3000: A 0xaa.., B the same but +0x40
 *            is 0xbb (visible from exit 4)
 *   exit 6   served with a write to 0x1000 that makes it equal in both
 * So: the first point (exit 0) differs in page 0x5000; with `all`, exit 4
 * adds page 0x3000; the not-compared ranges are A's 0x100 and B's 0x200
 * bytes with their classes. Identical traces compare the same.
 * Usage: diff_memory [A.vcr B.vcr]: also writes the two traces there (for
 * tests/host/diff_memory.sh).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/trace.h"
#include "replayer/cursor.h"
#include "replayer/diff.h"
#include "tests/lib/tap.h"

static int add_mem(struct vcr_writer *w, uint64_t gpa, const void *d, uint64_t len)
{
	struct vcr_record r;
	memset(&r, 0, offsetof(struct vcr_record, u));
	r.type = VCR_REC_MEM_WRITE;
	r.u.mem.gpa = gpa;
	r.u.mem.len = len;
	r.u.mem.data = d;
	return vcr_writer_append(w, &r);
}

static int add_exit(struct vcr_writer *w, uint64_t k)
{
	static struct vcr_record r;
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_EXIT;
	r.u.exit.valid = VCR_CLASS_ALL;
	r.u.exit.exit.reason = KVM_EXIT_IO;
	r.u.exit.exit.u.io.direction = KVM_EXIT_IO_OUT;
	r.u.exit.exit.u.io.size = 1;
	r.u.exit.exit.u.io.port = 0x80;
	r.u.exit.exit.u.io.count = 1;
	r.u.exit.exit.data_len = 1;
	r.u.exit.exit.data[0] = (uint8_t)k;
	r.u.exit.state.regs.rip = 0x100000 + k * 2;
	r.u.exit.state.regs.rax = k;
	r.u.exit.state.regs.rflags = 2;
	return vcr_writer_append(w, &r);
}

/* side 0: A, 1: B, 2: a copy of A */
static int write_trace(const char *path, int side)
{
	static const struct vcr_mem_region mem[1] = { { 0, 1 << 20, 0 } };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = 1, .mem = mem, .nmem = 1, .cmdline = "diff_memory",
	};
	static uint8_t buf[0x2000];
	struct vcr_writer *w;
	struct vcr_err err;
	int rc = vcr_writer_open(&w, path, &info, NULL, &err);
	if (rc)
		return rc;
	bool b = side == 1;
	memset(buf, 0x5a, sizeof(buf));
	rc |= add_mem(w, 0x1000, buf, 0x2000);
	memset(buf, 0x33, 0x1000);
	buf[0x123] = b ? 0x22 : 0x11;
	rc |= add_mem(w, 0x5000, buf, 0x1000);
	memset(buf, 0x77, 0x200);
	rc |= b ? add_mem(w, 0x9000, buf, 0x200) : add_mem(w, 0x8000, buf, 0x100);
	for (uint64_t k = 0; k < 10 && !rc; k++) {
		rc |= add_exit(w, k);
		if (k == 3) {
			memset(buf, 0xaa, 0x1000);
			if (b)
				buf[0x40] = 0xbb;
			rc |= add_mem(w, 0x3000, buf, 0x1000);
		}
		if (k == 6) {
			memset(buf, 0x5a, 0x1000);
			rc |= add_mem(w, 0x1000, buf, 0x1000);
		}
	}
	if (rc) {
		vcr_writer_abort(w);
		return -EIO;
	}
	return vcr_writer_close(w);
}

struct seen {
	struct vcr_diff_mem_point p[4];
	unsigned n;
};

static int on_point(void *ctx, const struct vcr_diff_mem_point *p)
{
	struct seen *s = ctx;
	if (s->n < 4)
		s->p[s->n] = *p;
	s->n++;
	return 0;
}

int main(int argc, char **argv)
{
	char a[64], b[64], c[64];
	snprintf(a, sizeof(a), "/tmp/vcr-diffmem-a-%d.vcr", (int)getpid());
	snprintf(b, sizeof(b), "/tmp/vcr-diffmem-b-%d.vcr", (int)getpid());
	snprintf(c, sizeof(c), "/tmp/vcr-diffmem-c-%d.vcr", (int)getpid());
	tap_plan(9);
	if (write_trace(a, 0) || write_trace(b, 1) || write_trace(c, 2))
		tap_bail("cannot write the traces");
	if (argc > 2 && (write_trace(argv[1], 0) || write_trace(argv[2], 1)))
		tap_bail("cannot write %s, %s", argv[1], argv[2]);

	struct vcr_diff_opts o;
	struct vcr_diff_mem_summary sum;
	struct vcr_err err;
	struct seen s = { .n = 0 };
	vcr_diff_opts_init(&o);
	int rc = vcr_diff_memory(a, b, &o, on_point, &s, &sum, &err);
	tap_ok(rc == 0 && sum.pairs == 10, "A vs B: 10 aligned pairs (%s)", rc ? err.msg : "ok");
	const struct vcr_diff_mem_point *p = &s.p[0];
	tap_ok(s.n == 1 && sum.differing == 1 && p->seq_a == 0 && p->seq_b == 0 &&
	       p->pages_differing == 1 && p->npages == 1,
	       "first point: exit 0, one page differs (reported once without all)");
	tap_ok(p->pages[0].gpa == 0x5000 && p->pages[0].offset == 0x123 && p->pages[0].a == 0x11 &&
	       p->pages[0].b == 0x22, "page 0x5000, first difference at +0x123: 0x11 / 0x22");
	tap_ok(p->bytes_compared == 0x3000 && p->only_a == 0x100 && p->only_b == 0x200,
	       "compared 0x3000 bytes; 0x100 in A only, 0x200 in B only");
	tap_ok(p->ngaps == 2 && p->gaps[0].gpa == 0x8000 && p->gaps[0].len == 0x100 &&
	       p->gaps[0].cls_a == VCR_MEM_UNTRACKED && p->gaps[0].cls_b == VCR_MEM_UNKNOWN &&
	       p->gaps[1].gpa == 0x9000 && p->gaps[1].len == 0x200 &&
	       p->gaps[1].cls_a == VCR_MEM_UNKNOWN && p->gaps[1].cls_b == VCR_MEM_UNTRACKED,
	       "not compared: 0x8000 (A untracked, B unknown), 0x9000 (the other way)");

	o.all = true;
	s.n = 0;
	rc = vcr_diff_memory(a, b, &o, on_point, &s, &sum, &err);
	/* points: exit 0 (0x5000), exit 4 (+0x3000), exit 7 (0x1000 rewritten
	 * the same: still 0x3000 and 0x5000) */
	tap_ok(rc == 0 && sum.points == 3 && s.n == 3 && sum.differing == 3,
	       "all: compared where memory changed (exits 0, 4, 7), all three differ (%llu points)",
	       (unsigned long long)sum.points);
	p = &s.p[1];
	tap_ok(s.n >= 2 && p->seq_a == 4 && p->pages_differing == 2 && p->pages[0].gpa == 0x3000 &&
	       p->pages[0].offset == 0x40 && p->pages[0].a == 0xaa && p->pages[0].b == 0xbb &&
	       p->pages[1].gpa == 0x5000 && p->bytes_compared == 0x4000,
	       "exit 4: page 0x3000 at +0x40 (0xaa / 0xbb), then 0x5000");

	s.n = 0;
	rc = vcr_diff_memory(a, c, &o, on_point, &s, &sum, &err);
	tap_ok(rc == 0 && s.n == 0 && sum.differing == 0 && sum.points == 3 && sum.have_last &&
	       sum.last.seq_a == 7 && sum.last.only_a == 0 && sum.last.bytes_compared == 0x4100,
	       "A vs its copy: same at 3 points, the last at exit 7, nothing left out");
	rc = vcr_diff_memory(a, "/nonexistent.vcr", &o, on_point, &s, &sum, &err);
	tap_ok(rc < 0 && err.msg[0], "a missing trace: an error (%s)", err.msg);
	unlink(a);
	unlink(b);
	unlink(c);
	return tap_exit_status();
}
