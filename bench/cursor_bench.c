/*
 * bench/cursor_bench.c: how fast the replay cursor seeks and walks.
 *
 * Writes a 1,000,000-exit trace with the writer's defaults (a guest doing
 * port I/O and MMIO the way the test guests do: serial output, status-port
 * polls answered by INPUT records, MMIO reads, a few registers changing per
 * exit, a SET_STATE now and then, 2 vCPUs), then measures:
 *   cursor_seek_us_{start,middle,end}_p99 / _max
 *                                      99th percentile and maximum of 600
 *                                      single seeks (200 random exits in the
 *                                      first, middle and last 1% of the
 *                                      trace, 3 tries each), every one from
 *                                      far away: a cold decoder (never served
 *                                      from the decoded window or the
 *                                      reader's last two decoded chunks)
 *                                      over a file in the page cache (just
 *                                      written: no disk read is timed)
 *   cursor_seek_us_p99 / _max          the same over all 1,800 seeks
 *   cursor_seek_us_median              median of all those seeks
 *   cursor_seek_wall_us_p99            the 99th percentile in wall-clock time
 * Seek and walk times are this thread's CPU time (user + system): the
 * machines are shared, and preemption would otherwise decide the worst case.
 *   cursor_trace_bytes_per_exit        file size per exit
 *   the same seeks again, suffixed _chunk256, on the same stream written
 *   with 256 exits per chunk instead of the writer's default
 *   cursor_exits_per_s                 forward walk over every exit, with the
 *                                      full state of the exit's vCPU read at
 *                                      each through vcr_cursor_state_ref
 *                                      (state reconstruction; no guest
 *                                      execution)
 *   cursor_exits_per_s_copy            the same walk copying the state out
 *                                      with vcr_cursor_state (520 bytes an
 *                                      exit): the method used before
 *                                      vcr_cursor_state_ref existed
 * Goals (issue 5): seek < 100 us anywhere, >= 10,000,000 exits/s.
 * Usage: cursor_bench [NEXITS]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replayer/cursor.h"

#define SEEK_TRIES 3	/* cold tries per seek target; every one counts */

/* This thread's CPU time (user + system): the machines that run the
 * benches are shared, and a preempted seek says nothing about the cursor. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void initial_state(struct vcr_vcpu_state *s, uint32_t v)
{
	memset(s, 0, sizeof(*s));
	s->regs.rip = 0x100000;
	s->regs.rsp = 0x9fff0 - 0x1000 * v;
	s->regs.rflags = 2;
	s->sregs.cr0 = 0x80050033;
	s->sregs.cr3 = 0x2000;
	s->sregs.cr4 = 0x6a0;
	s->sregs.efer = 0xd01;
	s->sregs.cs = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = 8,
					    .type = 11, .present = 1, .s = 1, .l = 1, .g = 1 };
	s->sregs.ds = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = 16,
					    .type = 3, .present = 1, .s = 1, .db = 1, .g = 1 };
	s->sregs.es = s->sregs.ss = s->sregs.fs = s->sregs.gs = s->sregs.ds;
	s->sregs.apic_base = 0xfee00900;
	vcr_state_normalize(s);
}

static int write_trace(const char *path, uint64_t nexits, uint32_t chunk_exits)
{
	static const struct vcr_mem_region mem[1] = { { 0, 64ull << 20, 0 } };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = 2, .mem = mem, .nmem = 1, .cmdline = "cursor_bench",
	};
	struct vcr_writer *w;
	struct vcr_err err;
	static struct vcr_record rec;
	struct vcr_vcpu_state st[2];
	static uint8_t image[64 << 10];

	struct vcr_writer_opts wo = { .chunk_exits = chunk_exits };
	if (vcr_writer_open(&w, path, &info, &wo, &err)) {
		fprintf(stderr, "cursor_bench: %s\n", err.msg);
		return -1;
	}
	/* The loader's writes and initial states. */
	memset(&rec, 0, sizeof(rec));
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7);
	rec.type = VCR_REC_MEM_WRITE;
	rec.u.mem.gpa = 0x100000;
	rec.u.mem.len = sizeof(image);
	rec.u.mem.data = image;
	vcr_writer_append(w, &rec);
	for (uint32_t v = 0; v < 2; v++) {
		initial_state(&st[v], v);
		memset(&rec, 0, sizeof(rec));
		rec.type = VCR_REC_SET_STATE;
		rec.vcpu = v;
		rec.u.set_state.dirty = VCR_CLASS_ALL;
		rec.u.set_state.state = st[v];
		vcr_writer_append(w, &rec);
	}
	for (uint64_t i = 0; i < nexits; i++) {
		uint32_t v = rnd() % 8 == 0 ? 1 : 0;
		struct vcr_vcpu_state *s = &st[v];
		unsigned kind = (unsigned)(rnd() % 10);
		memset(&rec, 0, offsetof(struct vcr_record, u));
		rec.type = VCR_REC_EXIT;
		rec.vcpu = v;
		rec.u.exit.valid = VCR_CLASS_ALL;
		struct vcr_exit *e = &rec.u.exit.exit;
		memset(&e->u, 0, sizeof(e->u));
		e->data_len = 0;
		s->regs.rip += 2 + rnd() % 24;
		s->regs.rcx -= 1;
		if (kind < 5) {			/* serial output */
			e->reason = KVM_EXIT_IO;
			e->u.io.direction = KVM_EXIT_IO_OUT;
			e->u.io.size = 1;
			e->u.io.port = 0x3f8;
			e->u.io.count = 1;
			e->data_len = 1;
			e->data[0] = (uint8_t)('a' + rnd() % 26);
			s->regs.rax = e->data[0];
			s->regs.rsi += 1;
		} else if (kind < 8) {		/* status poll: IN + INPUT */
			e->reason = KVM_EXIT_IO;
			e->u.io.direction = KVM_EXIT_IO_IN;
			e->u.io.size = 1;
			e->u.io.port = 0x3fd;
			e->u.io.count = 1;
			s->regs.rdx = 0x3fd;
		} else {			/* MMIO read + INPUT */
			e->reason = KVM_EXIT_MMIO;
			e->u.mmio.phys_addr = 0xd0000000 + (rnd() % 512) * 8;
			e->u.mmio.len = 8;
			s->regs.rbx = e->u.mmio.phys_addr;
		}
		rec.u.exit.state = *s;
		if (vcr_writer_append(w, &rec))
			return -1;
		if (kind >= 5) {
			memset(&rec, 0, offsetof(struct vcr_record, u));
			rec.type = VCR_REC_INPUT;
			rec.vcpu = v;
			rec.u.input.kind = kind < 8 ? VCR_INPUT_IO_IN : VCR_INPUT_MMIO_READ;
			rec.u.input.len = kind < 8 ? 1 : 8;
			memset(rec.u.input.data, 0x60, rec.u.input.len);
			if (vcr_writer_append(w, &rec))
				return -1;
		}
		if (rnd() % 1000 == 0) {	/* the VMM moves rip (a rare SET_STATE) */
			s->regs.rip += 1;
			memset(&rec, 0, offsetof(struct vcr_record, u));
			rec.type = VCR_REC_SET_STATE;
			rec.vcpu = v;
			rec.u.set_state.dirty = VCR_CLASS_REGS;
			rec.u.set_state.state = *s;
			if (vcr_writer_append(w, &rec))
				return -1;
		}
	}
	return vcr_writer_close(w);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Seeks and a walk over the trace at path; names get `sfx`. */
static int measure(const char *path, uint64_t nexits, const char *sfx, bool walk)
{
	struct vcr_cursor *c;
	struct vcr_err err;
	if (vcr_cursor_open(&c, path, &err)) {
		fprintf(stderr, "cursor_bench: %s\n", err.msg);
		return 1;
	}

	/* Seeks. */
	static const char *names[3] = { "start", "middle", "end" };
	uint64_t span = nexits / 100, wall[600 * SEEK_TRIES], one[600 * SEEK_TRIES];
	size_t none = 0;
	printf("# seeks%s: %d single tries, each from far away (cold decoder) over a trace "
	       "in the page cache (just written, no disk read timed); thread CPU time\n", sfx,
	       600 * SEEK_TRIES);
	for (int region = 0; region < 3; region++) {
		uint64_t base = region == 0 ? 0 : region == 1 ? nexits / 2 - span / 2 : nexits - span;
		size_t first = none;
		for (int i = 0; i < 200; i++) {
			uint64_t s = base + rnd() % span;
			for (int k = 0; k < SEEK_TRIES; k++) {
				/* Two far seeks, to different chunks: the reader
				 * keeps the last two decoded. */
				uint64_t far = base < nexits / 2 ? nexits - 1 - rnd() % (span / 2)
								 : rnd() % (span / 2);
				uint64_t far2 = base < nexits / 2 ? far - span / 2 : far + span / 2;
				if (vcr_cursor_seek(c, far2) || vcr_cursor_seek(c, far))
					return 1;
				uint64_t w0 = now_ns(), t0 = cpu_ns();
				int rc = vcr_cursor_seek(c, s);
				uint64_t dt = cpu_ns() - t0, dw = now_ns() - w0;
				struct vcr_vcpu_state st;
				if (rc || vcr_cursor_pos(c) != s ||
				    vcr_cursor_state(c, vcr_cursor_exit(c)->vcpu, &st)) {
					fprintf(stderr, "cursor_bench: seek to %" PRIu64 " failed\n", s);
					return 1;
				}
				wall[none] = dw;
				one[none++] = dt;
			}
		}
		size_t m = none - first;
		qsort(one + first, m, sizeof(one[0]), cmp_u64);
		printf("cursor_seek_us_%s_p99%s %.1f us\n", names[region], sfx,
		       (double)one[first + m * 99 / 100] / 1000.0);
		printf("cursor_seek_us_%s_max%s %.1f us\n", names[region], sfx,
		       (double)one[none - 1] / 1000.0);
	}
	/* Every seek counts, preempted ones too: steal time on this shared
	 * VM counts as the thread's CPU time, and shows in the maximum. */
	qsort(one, none, sizeof(one[0]), cmp_u64);
	printf("cursor_seek_us_p99%s %.1f us\n", sfx, (double)one[none * 99 / 100] / 1000.0);
	printf("cursor_seek_us_max%s %.1f us\n", sfx, (double)one[none - 1] / 1000.0);
	printf("cursor_seek_us_median%s %.1f us\n", sfx, (double)one[none / 2] / 1000.0);
	qsort(wall, none, sizeof(wall[0]), cmp_u64);
	printf("cursor_seek_wall_us_p99%s %.1f us\n", sfx, (double)wall[none * 99 / 100] / 1000.0);
	if (!walk) {
		vcr_cursor_close(c);
		return 0;
	}

	/* Forward walks with state reconstruction: the exit's vCPU state
	 * looked at through vcr_cursor_state_ref (what a caller that visits
	 * every exit uses), then copied out with vcr_cursor_state (the method
	 * of the figure before vcr_cursor_state_ref existed, kept beside it). */
	for (int copy = 0; copy < 2; copy++) {
		if (vcr_cursor_seek(c, 0))
			return 1;
		struct vcr_vcpu_state st;
		uint64_t sum = 0, n = 0;
		uint64_t t0 = cpu_ns();
		do {
			const struct vcr_vcpu_state *sp;
			if (copy) {
				if (vcr_cursor_state(c, vcr_cursor_vcpu(c), &st))
					return 1;
				sp = &st;
			} else if (!(sp = vcr_cursor_state_ref(c, vcr_cursor_vcpu(c)))) {
				return 1;
			}
			sum += sp->regs.rip;
			n++;
		} while (vcr_cursor_step(c, 1, UINT32_MAX) == 0);
		uint64_t dt = cpu_ns() - t0;
		if (n != nexits) {
			fprintf(stderr, "cursor_bench: walked %" PRIu64 " exits of %" PRIu64 "\n", n,
				nexits);
			return 1;
		}
		printf("cursor_exits_per_s%s %.0f exits/s\n", copy ? "_copy" : "",
		       (double)n / ((double)dt * 1e-9));
		fprintf(stderr, "# checksum %" PRIx64 "\n", sum);
	}
	vcr_cursor_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t nexits = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	char path[] = "/tmp/vcr-cursor-bench-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || nexits < 1000)
		return 1;
	close(fd);
	/* The writer's default chunk size, then 256 exits per chunk: the seek
	 * time is one chunk decode, so this is the trade-off to choose from. */
	static const uint32_t chunks[2] = { 0, 256 };
	static const char *sfx[2] = { "", "_chunk256" };
	for (int i = 0; i < 2; i++) {
		struct stat sb;
		if (write_trace(path, nexits, chunks[i]) || stat(path, &sb) ||
		    measure(path, nexits, sfx[i], i == 0)) {
			unlink(path);
			return 1;
		}
		printf("cursor_trace_bytes_per_exit%s %.2f bytes\n", sfx[i],
		       (double)sb.st_size / (double)nexits);
	}
	if (getenv("CURSOR_BENCH_KEEP"))
		fprintf(stderr, "# trace kept: %s\n", path);
	else
		unlink(path);
	return 0;
}
