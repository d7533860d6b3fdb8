/*
 * bench/core_bench.c: how fast `vcr core` writes known guest memory.
 *
 * Writes a trace holding MIB MiB of guest memory (default 256) as 1 MiB
 * MEM_PAGES records of text-like bytes (a loaded image, say), two exits,
 * then writes the core of the last exit with vcr_core_write into a file
 * next to the trace (the page cache: a disk's speed is not the writer's):
 *   core_gb_per_s        included memory bytes / wall time of
 *                        vcr_core_write, median of 5 writes on one open
 *                        cursor (its memory map built by the first)
 *   core_gb_per_s_cold   the first write on a fresh cursor: it also
 *                        scans the trace to build the memory map (what a
 *                        user of `vcr core` waits for)
 *   core_cpu_gb_per_s    the same median in this thread's CPU time (user +
 *                        system: the kernel's copies into the page cache
 *                        are in it), the figure to trust on a loaded
 *                        machine
 *   core_ranges_gb_per_s the same memory per second of CPU time for
 *                        vcr_cursor_mem_ranges alone (median of 5), the
 *                        cursor's classing that vcr_core_write starts with:
 *                        the ceiling the writer cannot pass
 *   core_mem_mib         the memory in the core
 * Goal (issue 12): core_gb_per_s >= 1. The cursor's classing works per
 * page and per bitmap word (replayer/memory.c, page_fill); what is left is
 * the copies (read_mem into the buffer, pwrite into the page cache) and,
 * in the cold figure, the index pass over the trace.
 * Usage: core_bench [MIB]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/trace.h"
#include "replayer/core.h"
#include "replayer/cursor.h"

#define ROUNDS 5

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int no_range(void *arg, const struct vcr_mem_range *r)
{
	*(uint64_t *)arg += r->len;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int write_trace(const char *path, uint64_t mib, struct vcr_err *err)
{
	const struct vcr_mem_region mem[1] = { { 0, (mib + 16) << 20, 0 } };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = 1, .mem = mem, .nmem = 1, .cmdline = "core_bench",
	};
	static uint8_t page[1 << 20];
	static const char words[] = "the quick brown fox jumps over the lazy dog; ";
	struct vcr_writer *w;
	int rc = vcr_writer_open(&w, path, &info, NULL, err);
	if (rc)
		return rc;
	static struct vcr_record r;
	for (uint64_t m = 0; m < mib && !rc; m++) {
		for (size_t i = 0; i < sizeof(page); i++)
			page[i] = (uint8_t)(words[(i + m * 7) % (sizeof(words) - 1)] ^ ((i >> 12) & 7));
		memset(&r, 0, sizeof(r));
		r.type = VCR_REC_MEM_PAGES;
		r.u.mem.gpa = (1ull << 20) + (m << 20);
		r.u.mem.len = sizeof(page);
		r.u.mem.data = page;
		rc = vcr_writer_append(w, &r);
	}
	for (int e = 0; e < 2 && !rc; e++) {
		memset(&r, 0, sizeof(r));
		r.type = VCR_REC_EXIT;
		r.u.exit.valid = VCR_CLASS_ALL;
		r.u.exit.exit.reason = KVM_EXIT_HLT;
		r.u.exit.state.regs.rip = 0x100000 + (uint64_t)e;
		r.u.exit.state.sregs.cr0 = 0x11;
		rc = vcr_writer_append(w, &r);
	}
	if (rc) {
		vcr_writer_abort(w);
		return vcr_err_set(err, rc, UINT64_MAX, "writing the trace");
	}
	return vcr_writer_close(w);
}

static int one(struct vcr_cursor *c, const char *out, uint64_t *ns, uint64_t *cpu,
	       uint64_t *bytes, struct vcr_err *err)
{
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "%s: %s", out, strerror(errno));
	struct vcr_core_opts o = { .at = UINT64_MAX };
	struct vcr_core_result res;
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	int rc = vcr_core_write(c, fd, &o, &res, err);
	*ns = now_ns() - t0;
	*cpu = cpu_ns() - c0;
	*bytes = res.mem_bytes;
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 256;
	char dir[] = "/tmp/vcr-core-bench-XXXXXX", trace[64], out[64];
	struct vcr_err err = { 0 };
	struct vcr_cursor *c = NULL;
	uint64_t ns[ROUNDS], cpu[ROUNDS], cold, cold_cpu, bytes = 0;
	int rc;

	if (!mib || mib > 65536 || !mkdtemp(dir)) {
		fprintf(stderr, "usage: core_bench [MIB]\n");
		return 2;
	}
	snprintf(trace, sizeof(trace), "%s/t.vcr", dir);
	snprintf(out, sizeof(out), "%s/t.core", dir);
	rc = write_trace(trace, mib, &err);
	if (!rc)
		rc = vcr_cursor_open(&c, trace, &err);
	if (!rc)
		rc = one(c, out, &cold, &cold_cpu, &bytes, &err);
	for (int i = 0; i < ROUNDS && !rc; i++)
		rc = one(c, out, &ns[i], &cpu[i], &bytes, &err);
	uint64_t rng[ROUNDS], seen = 0;
	for (int i = 0; i < ROUNDS && !rc; i++) {
		uint64_t c0 = cpu_ns();
		rc = vcr_cursor_mem_ranges(c, no_range, &seen);
		rng[i] = cpu_ns() - c0;
	}
	vcr_cursor_close(c);
	unlink(out);
	unlink(trace);
	rmdir(dir);
	if (rc) {
		fprintf(stderr, "core_bench: %s\n", err.msg[0] ? err.msg : strerror(-rc));
		return 1;
	}
	qsort(ns, ROUNDS, sizeof(ns[0]), cmp_u64);
	qsort(cpu, ROUNDS, sizeof(cpu[0]), cmp_u64);
	qsort(rng, ROUNDS, sizeof(rng[0]), cmp_u64);
	printf("core_gb_per_s %.2f GB/s\n", (double)bytes / (double)ns[ROUNDS / 2]);
	printf("core_gb_per_s_cold %.2f GB/s\n", (double)bytes / (double)cold);
	printf("core_cpu_gb_per_s %.2f GB/s\n", (double)bytes / (double)cpu[ROUNDS / 2]);
	printf("core_ranges_gb_per_s %.2f GB/s\n", (double)bytes / (double)rng[ROUNDS / 2]);
	printf("core_mem_mib %llu MiB\n", (unsigned long long)(bytes >> 20));
	return 0;
}
