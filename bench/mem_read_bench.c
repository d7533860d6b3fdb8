/*
 * bench/mem_read_bench.c: what a memory read at a random exit of a
 * checkpointed trace costs (replayer/memory.c).
 *
 * Writes a 1,000,000-exit trace of one vCPU with 64 MiB of RAM: a first
 * checkpoint at exit 0 storing 4096 text-like pages (16 MiB: a booted
 * guest's working set), then every 1000 exits a checkpoint of 32 pages the
 * guest dirtied (random among those 4096), as the recorder writes them.
 * Then, from a fresh cursor:
 *   mem_index_ms                 the first read: the whole-trace index pass
 *   mem_read_us_p50 / _p99 / _max  2000 reads of 64 bytes, each at a random
 *                                exit and a random page of the 4096 (strict
 *                                reads: exact bytes served, stale refused),
 *                                after a seek there (not timed): this
 *                                thread's CPU time
 *   mem_read_served_pct          reads that were served (exact)
 *   mem_bytes_per_dirty_page     trace bytes per stored page (text-like)
 * Goal (issue 12): a read at a random exit of a 10^6-exit trace <= 200 us.
 * Then the same trace with the periodic checkpoints' pages written as the
 * recorder writes a page the guest edits (one 128-byte line changed since
 * its last version): XOR against that version, raw again after 4 XORs in a
 * row (VCR_CKPT_XOR_WRITE_DEPTH), so that a read may decode a chain of up
 * to 5 chunks: the same figures with the prefix mem_xor_, and
 * mem_xor_pages_pct (stored pages that are XORs).
 * Usage: mem_read_bench [NEXITS]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "replayer/cursor.h"

#define NPAGES 16384u		/* 64 MiB region */
#define WORKSET 4096u		/* pages the guest uses */
#define INTERVAL 1000u		/* exits between checkpoints */
#define DIRTY 32u		/* pages per periodic checkpoint */
#define READS 2000

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void text_page(uint8_t *p, uint64_t seed)
{
	static const char words[] = "static int vcr_cursor_read_mem(struct vcr_cursor *c, "
				    "uint64_t gpa, void *buf, size_t len) { return 0; }\n";
	for (size_t i = 0; i < VCR_CKPT_PAGE; i++)
		p[i] = (uint8_t)words[(i + seed * 13) % (sizeof(words) - 1)];
	memcpy(p, &seed, sizeof(seed));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* XOR mode: every page as last stored, the checkpoint that stored it + 1,
 * XORs in a row since its last raw version. */
static uint8_t *shadow;
static uint64_t last[NPAGES];
static uint8_t depth[NPAGES];
static uint64_t nxor;

static int put_ckpt(struct vcr_writer *w, uint64_t number, const uint32_t *pages, uint32_t n,
		    uint8_t *bm, uint8_t *enc, bool xor)
{
	static uint8_t pg[VCR_CKPT_PAGE];
	struct vcr_record rec;
	memset(bm, 0, NPAGES / 8);
	for (uint32_t i = 0; i < n; i++)
		bm[pages[i] / 8] |= (uint8_t)(1u << (pages[i] % 8));
	memset(&rec, 0, sizeof(rec));
	rec.type = VCR_REC_CKPT;
	rec.u.ckpt.number = number;
	rec.u.ckpt.npages = NPAGES;
	rec.u.ckpt.dirty = rec.u.ckpt.stored = bm;
	int rc = vcr_writer_append(w, &rec);
	/* Pages in bitmap order, 32 a record, a flush after each full one: as
	 * recorder/ckpt.c writes them. */
	uint32_t ord = 0;
	for (uint32_t p = 0; p < NPAGES && !rc; p++) {
		if (!(bm[p / 8] >> (p % 8) & 1))
			continue;
		size_t len = 0;
		uint32_t first = ord, k = 0;
		for (; p < NPAGES && k < 32; p++) {
			if (!(bm[p / 8] >> (p % 8) & 1))
				continue;
			size_t x = 0;
			uint8_t *sh = shadow ? shadow + (uint64_t)p * VCR_CKPT_PAGE : NULL;
			if (xor && last[p]) {
				/* The guest edits one line of what it had. */
				memcpy(pg, sh, VCR_CKPT_PAGE);
				memset(pg + (number * 7 % 32) * 128, (int)('a' + number % 26), 127);
				if (depth[p] < VCR_CKPT_XOR_WRITE_DEPTH)
					x = vcr_ckpt_page_put_xor(enc + len, pg, sh, number - (last[p] - 1));
			} else {
				text_page(pg, number * NPAGES + p);
			}
			if (x) {
				depth[p]++;
				nxor++;
			} else {
				x = vcr_ckpt_page_put(enc + len, pg, UINT64_MAX);
				depth[p] = 0;
			}
			len += x;
			if (sh) {
				memcpy(sh, pg, VCR_CKPT_PAGE);
				last[p] = number + 1;
			}
			k++;
			ord++;
		}
		p--;
		memset(&rec, 0, sizeof(rec));
		rec.type = VCR_REC_CKPT_PAGES;
		rec.u.ckpt_pages.number = number;
		rec.u.ckpt_pages.first = first;
		rec.u.ckpt_pages.count = k;
		rec.u.ckpt_pages.len = len;
		rec.u.ckpt_pages.data = enc;
		rc = vcr_writer_append(w, &rec);
		if (!rc && k == 32)
			rc = vcr_writer_flush(w);
	}
	return rc;
}

static int run(uint64_t nexits, bool xor, const char *pre)
{
	char path[] = "/tmp/vcr-mem-read-bench-XXXXXX";
	memset(last, 0, sizeof(last));
	memset(depth, 0, sizeof(depth));
	nxor = 0;
	int fd = mkstemp(path);
	if (fd < 0)
		return 1;
	close(fd);
	static uint8_t bm[NPAGES / 8], enc[64 * (VCR_CKPT_PAGE + 11)];
	static uint32_t pages[WORKSET];
	struct vcr_mem_region mr = { .gpa = 0, .size = (uint64_t)NPAGES * VCR_CKPT_PAGE };
	struct vcr_trace_info info = { .arch = VCR_ARCH_X86_64, .nvcpus = 1, .mem = &mr, .nmem = 1 };
	struct vcr_writer *w;
	struct vcr_err err;
	if (vcr_writer_open(&w, path, &info, NULL, &err)) {
		fprintf(stderr, "mem_read_bench: %s\n", err.msg);
		return 1;
	}
	struct vcr_record rec;
	uint64_t number = 0, stored = 0;
	int rc = 0;
	for (uint64_t e = 0; e < nexits && !rc; e++) {
		memset(&rec, 0, sizeof(rec));
		rec.type = VCR_REC_EXIT;
		rec.u.exit.valid = VCR_CLASS_ALL;
		rec.u.exit.exit.reason = KVM_EXIT_IO;
		rec.u.exit.exit.u.io.port = 0xf1;
		rec.u.exit.exit.u.io.size = 1;
		rec.u.exit.exit.u.io.count = 1;
		rec.u.exit.exit.u.io.direction = KVM_EXIT_IO_OUT;
		rec.u.exit.state.regs.rip = 0x100000 + (e % 64) * 4;
		rec.u.exit.state.regs.rax = e;
		vcr_state_normalize(&rec.u.exit.state);
		rc = vcr_writer_append(w, &rec);
		if (e == 0) {
			for (uint32_t i = 0; i < WORKSET; i++)
				pages[i] = 256 + i;
			rc |= put_ckpt(w, number++, pages, WORKSET, bm, enc, xor);
			stored += WORKSET;
		} else if (e % INTERVAL == 0 || e == nexits - 1) {
			uint32_t d[DIRTY];
			for (uint32_t i = 0; i < DIRTY; i++)
				d[i] = 256 + (uint32_t)(rnd() % WORKSET);
			rc |= put_ckpt(w, number++, d, DIRTY, bm, enc, xor);
			stored += DIRTY;	/* (a duplicate counts once in the bitmap) */
		}
	}
	if (rc || vcr_writer_close(w)) {
		fprintf(stderr, "mem_read_bench: writing failed\n");
		return 1;
	}
	struct stat sb;
	stat(path, &sb);

	struct vcr_cursor *c;
	if (vcr_cursor_open(&c, path, &err)) {
		fprintf(stderr, "mem_read_bench: %s\n", err.msg);
		return 1;
	}
	uint8_t buf[64];
	uint64_t t0 = cpu_ns();
	(void)vcr_cursor_read_mem(c, 256 * VCR_CKPT_PAGE, buf, sizeof(buf));
	uint64_t t_index = cpu_ns() - t0;
	static uint64_t t[READS];
	int served = 0;
	for (int i = 0; i < READS; i++) {
		uint64_t s = rnd() % nexits;
		if (vcr_cursor_seek(c, s))
			return 1;
		uint64_t gpa = (256 + rnd() % WORKSET) * VCR_CKPT_PAGE + (rnd() % 64) * 64;
		t0 = cpu_ns();
		served += vcr_cursor_read_mem(c, gpa, buf, sizeof(buf)) == 0;
		t[i] = cpu_ns() - t0;
	}
	qsort(t, READS, sizeof(t[0]), cmp_u64);
	printf("%sindex_ms %.1f ms\n", pre, (double)t_index / 1e6);
	printf("%sread_us_p50 %.1f us\n", pre, (double)t[READS / 2] / 1e3);
	printf("%sread_us_p99 %.1f us\n", pre, (double)t[READS * 99 / 100] / 1e3);
	printf("%sread_us_max %.1f us\n", pre, (double)t[READS - 1] / 1e3);
	printf("%sread_served_pct %.1f %%\n", pre, 100.0 * served / READS);
	printf("%sbytes_per_dirty_page %.0f bytes\n", pre, (double)sb.st_size / (double)stored);
	if (xor)
		printf("%spages_pct %.1f %% (XOR pages of those stored)\n", pre,
		       100.0 * (double)nxor / (double)stored);
	vcr_cursor_close(c);
	unlink(path);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t nexits = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	shadow = calloc(NPAGES, VCR_CKPT_PAGE);
	if (!shadow)
		return 1;
	int rc = run(nexits, false, "mem_");
	rng = 88172645463325252ull;	/* the same reads */
	return rc ? rc : run(nexits, true, "mem_xor_");
}
