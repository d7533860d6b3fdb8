/*
 * bench/trace_bench.c: write and read 1,000,000 exits of a realistic
 * register stream with the trace library and with two baselines in the same
 * run: raw structs written with write() (buffered, 125 exits = 65,000 bytes per call) and zstd
 * without delta encoding (same 1024-exit chunks, same level).
 *
 * The stream: one vCPU in a loop doing port I/O. rip cycles over 4
 * addresses; OUT to 0x3f8 (data = al) and IN from 0x61 (with the INPUT
 * record the VMM answered) alternate; rax, rcx, rsi and rflags change a
 * little per exit; CR3 changes every 1,000 exits among 8 address spaces;
 * the rest of sregs and the events are constant.
 *
 * Prints "name value unit" lines; times are thread CPU time (see now()).
 * Modes for tools:
 *   trace_bench                   the full benchmark
 *   trace_bench --gen FILE N      write N exits to FILE with the library
 *   trace_bench --encode N        encode N exits to $TMPDIR (callgrind)
 *   trace_bench --decode FILE N   read the first N exits of FILE (callgrind)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>
#include "formats/trace.h"

#define NEXITS 1000000u
#define CHUNK 1024u
#define RB 125u
/* Seeks: each of 2000 random targets is sought TRIES times, every time
 * cold (the library reader first seeks to two chunks far away: it keeps
 * the last two decoded), and its best
 * try counts: on this shared VM, preemption and steal time are charged to
 * the thread's CPU time and would otherwise make the worst case a figure
 * of the machine (a single pread of the raw baseline peaked at 35-92 us).
 * trace_seek_1try_us is the worst single try; mean and p99 are over all
 * tries. The baselines are measured the same way. */
#define TRIES 3		/* raw baseline: exits per write() (divides NEXITS) */

static struct vcr_record rec, input_rec;

/* Times are CPU time of this thread (user + system, syscalls included), so
 * that the figures say what one core does even when the machine is shared;
 * VCR_BENCH_WALL=1 measures wall time instead. */
static double now(void)
{
	static int wall = -1;
	struct timespec ts;
	if (wall < 0)
		wall = getenv("VCR_BENCH_WALL") != NULL;
	clock_gettime(wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void stream_init(struct vcr_vcpu_state *s)
{
	memset(s, 0, sizeof(*s));
	s->regs.rsp = 0x7ff0;
	s->regs.rflags = 0x2;
	s->regs.rcx = 1000000;
	s->regs.rsi = 0x200000;
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 11,
				    .present = 1, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment data = { .base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 3,
				    .present = 1, .s = 1, .db = 1, .g = 1 };
	s->sregs.cs = code;
	s->sregs.ds = s->sregs.es = s->sregs.ss = s->sregs.fs = s->sregs.gs = data;
	s->sregs.tr = (struct kvm_segment){ .limit = 0x67, .type = 11, .present = 1 };
	s->sregs.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	s->sregs.gdt.base = 0x500;
	s->sregs.gdt.limit = 0x1f;
	s->sregs.idt.limit = 0xfff;
	s->sregs.cr0 = 0x80050033;
	s->sregs.cr3 = 0x1000;
	s->sregs.cr4 = 0x6a0;
	s->sregs.efer = 0xd01;
	s->sregs.apic_base = 0xfee00900;
	vcr_state_normalize(s);
}

/* Exit i of the stream into rec; returns true when an INPUT record (the IN
 * data) follows it. */
static bool stream_next(struct vcr_vcpu_state *s, uint64_t i)
{
	static const uint64_t rips[4] = { 0x100012, 0x100019, 0x100024, 0x10002d };
	struct vcr_exit *e = &rec.u.exit.exit;
	bool in = i & 1;
	s->regs.rip = rips[i & 3];
	if (!in) {
		s->regs.rax = (s->regs.rax & ~0xffull) | ((i / 2) & 0x7f) | 0x20;
		s->regs.rsi++;
	} else {
		s->regs.rax = (s->regs.rax & ~0xffull) | 0x10;
	}
	if ((i & 3) == 3)
		s->regs.rcx--;
	s->regs.rflags = 0x2 | (s->regs.rcx & 1 ? 0x4 : 0) | (i & 2 ? 0x40 : 0);
	if (i % 1000 == 999)
		s->sregs.cr3 = 0x1000 + 0x1000 * ((i / 1000) % 8);
	rec.type = VCR_REC_EXIT;
	rec.vcpu = 0;
	rec.u.exit.valid = VCR_CLASS_ALL;
	rec.u.exit.state = *s;
	e->reason = KVM_EXIT_IO;
	memset(&e->u, 0, sizeof(e->u));
	e->u.io.direction = in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
	e->u.io.size = 1;
	e->u.io.port = in ? 0x61 : 0x3f8;
	e->u.io.count = 1;
	e->data_len = in ? 0 : 1;
	e->data[0] = (uint8_t)s->regs.rax;
	if (in) {
		input_rec.type = VCR_REC_INPUT;
		input_rec.vcpu = 0;
		input_rec.u.input.kind = VCR_INPUT_IO_IN;
		input_rec.u.input.len = 1;
		input_rec.u.input.data[0] = 0x10;
	}
	return in;
}

static void info_init(struct vcr_trace_info *info)
{
	memset(info, 0, sizeof(*info));
	info->arch = VCR_ARCH_X86_64;
	info->kvm_api_version = 12;
	info->sync_regs_mask = 7;
	info->nvcpus = 1;
	info->cmdline = "trace_bench";
}

static int lib_write(const char *path, uint64_t n, struct vcr_writer_stats *ws)
{
	struct vcr_trace_info info;
	struct vcr_writer *w;
	struct vcr_err err;
	struct vcr_vcpu_state s;
	info_init(&info);
	/* VCR_BENCH_CHUNK_EXITS / VCR_BENCH_LEVEL: for tuning runs only. */
	struct vcr_writer_opts o = { 0 };
	if (getenv("VCR_BENCH_CHUNK_EXITS"))
		o.chunk_exits = (uint32_t)strtoul(getenv("VCR_BENCH_CHUNK_EXITS"), NULL, 0);
	if (getenv("VCR_BENCH_LEVEL"))
		o.zstd_level = atoi(getenv("VCR_BENCH_LEVEL"));
	if (vcr_writer_open(&w, path, &info, &o, &err)) {
		fprintf(stderr, "trace_bench: %s\n", err.msg);
		return -1;
	}
	stream_init(&s);
	for (uint64_t i = 0; i < n; i++) {
		bool in = stream_next(&s, i);
		if (vcr_writer_append(w, &rec) || (in && vcr_writer_append(w, &input_rec))) {
			vcr_writer_abort(w);
			return -1;
		}
	}
	if (ws)
		vcr_writer_get_stats(w, ws);
	return vcr_writer_close(w);
}

/* Read up to n exits; returns the number read or -1. */
static int64_t lib_read(const char *path, uint64_t n, uint64_t *check)
{
	struct vcr_reader *r;
	struct vcr_err err;
	int64_t k = 0;
	if (vcr_reader_open(&r, path, &err)) {
		fprintf(stderr, "trace_bench: %s\n", err.msg);
		return -1;
	}
	int rc;
	while ((uint64_t)k < n && (rc = vcr_reader_next(r, &rec)) == 1) {
		if (rec.type == VCR_REC_EXIT) {
			*check += rec.u.exit.state.regs.rip ^ rec.u.exit.state.sregs.cr3;
			k++;
		}
	}
	vcr_reader_close(r);
	return k;
}

static int full_bench(void)
{
	char path[256], rpath[256], zpath[256];
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/vcr-bench-%d.vcr", tmp ? tmp : "/tmp", getpid());
	snprintf(rpath, sizeof(rpath), "%s/vcr-bench-%d.raw", tmp ? tmp : "/tmp", getpid());
	snprintf(zpath, sizeof(zpath), "%s/vcr-bench-%d.zst", tmp ? tmp : "/tmp", getpid());
	struct vcr_vcpu_state s;
	struct vcr_writer_stats ws;
	uint64_t check_lib = 0, check_raw = 0, check_z = 0;
	double t0, t1;
	const size_t SZ = sizeof(struct vcr_vcpu_state);

	/* --- the library */
	t0 = now();
	if (lib_write(path, NEXITS, &ws))
		return 1;
	t1 = now();
	double lib_w = NEXITS / (t1 - t0);
	t0 = now();
	int64_t got = lib_read(path, UINT64_MAX, &check_lib);
	t1 = now();
	if (got != NEXITS) {
		fprintf(stderr, "trace_bench: read %lld exits\n", (long long)got);
		return 1;
	}
	double lib_r = NEXITS / (t1 - t0);

	struct vcr_reader *r;
	struct vcr_err err;
	struct vcr_reader_stats rs;
	if (vcr_reader_open(&r, path, &err))
		return 1;
	vcr_reader_get_stats(r, &rs);
	double worst = 0, worst1 = 0, total = 0;
	uint64_t rng = 12345;
	enum { NSEEK = 2000 };
	static double times[NSEEK * TRIES];
	/* Warm up (first decode sizes the buffers), then measure. */
	for (int i = 0; i < 8; i++)
		if (vcr_reader_seek(r, (uint64_t)i * 100003 % NEXITS) || vcr_reader_next(r, &rec) != 1)
			return 1;
	for (int i = 0; i < NSEEK; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t target = (rng >> 20) % NEXITS;
		double best = 1e30;
		for (int k = 0; k < TRIES; k++) {
			/* Cold every time: the reader keeps the last two decoded
			 * chunks, so first visit two others, a quarter and half
			 * the trace away. */
			if (vcr_reader_seek(r, (target + NEXITS / 4 + 7919 * (uint64_t)k) % NEXITS) ||
			    vcr_reader_seek(r, (target + NEXITS / 2 + 7919 * (uint64_t)k) % NEXITS))
				return 1;
			t0 = now();
			int rc = vcr_reader_seek(r, target);
			if (!rc)
				rc = vcr_reader_next(r, &rec) == 1 ? 0 : -1;
			t1 = now();
			if (rc || rec.seq != target) {
				fprintf(stderr, "trace_bench: seek %llu failed\n", (unsigned long long)target);
				return 1;
			}
			total += t1 - t0;
			times[i * TRIES + k] = t1 - t0;
			if (t1 - t0 > worst1)
				worst1 = t1 - t0;
			if (t1 - t0 < best)
				best = t1 - t0;
		}
		if (best > worst)
			worst = best;
	}
	vcr_reader_close(r);
	qsort(times, NSEEK * TRIES, sizeof(times[0]), cmp_double);

	/* --- baseline 1: raw structs with write() */
	uint8_t *buf = malloc(RB * SZ);
	int fd = open(rpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	t0 = now();
	stream_init(&s);
	for (uint64_t i = 0; i < NEXITS; i++) {
		stream_next(&s, i);
		memcpy(buf + (i % RB) * SZ, &rec.u.exit.state, SZ);
		if (i % RB == RB - 1 && write(fd, buf, RB * SZ) != (ssize_t)(RB * SZ))
			return 1;
	}
	close(fd);
	t1 = now();
	double raw_w = NEXITS / (t1 - t0);
	fd = open(rpath, O_RDONLY);
	t0 = now();
	for (uint64_t i = 0; i < NEXITS; i += RB) {
		if (read(fd, buf, RB * SZ) != (ssize_t)(RB * SZ))
			return 1;
		for (unsigned k = 0; k < RB; k++) {
			memcpy(&rec.u.exit.state, buf + k * SZ, SZ);
			check_raw += rec.u.exit.state.regs.rip ^ rec.u.exit.state.sregs.cr3;
		}
	}
	t1 = now();
	double raw_r = NEXITS / (t1 - t0);
	double raw_seek_worst = 0;
	for (int i = 0; i < NSEEK; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t target = (rng >> 20) % NEXITS;
		double best = 1e30;
		for (int k = 0; k < TRIES; k++) {
			t0 = now();
			if (pread(fd, &rec.u.exit.state, SZ, (off_t)(target * SZ)) != (ssize_t)SZ)
				return 1;
			t1 = now();
			if (t1 - t0 < best)
				best = t1 - t0;
		}
		if (best > raw_seek_worst)
			raw_seek_worst = best;
	}
	close(fd);

	/* --- baseline 2: zstd without delta, 1024-exit chunks (u32 size
	 * prefix each), same level as the library's default. */
	size_t cbound = ZSTD_compressBound(CHUNK * SZ);
	uint8_t *raw = malloc(CHUNK * SZ), *comp = malloc(cbound + 4);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	uint64_t *offs = malloc((NEXITS / CHUNK + 2) * sizeof(uint64_t));
	uint64_t zoff = 0;
	fd = open(zpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	t0 = now();
	stream_init(&s);
	for (uint64_t i = 0; i < NEXITS; i++) {
		stream_next(&s, i);
		memcpy(raw + (i % CHUNK) * SZ, &rec.u.exit.state, SZ);
		if (i % CHUNK == CHUNK - 1 || i == NEXITS - 1) {
			size_t n = (i % CHUNK + 1) * SZ;
			size_t c = ZSTD_compressCCtx(cc, comp + 4, cbound, raw, n, 1);
			comp[0] = (uint8_t)c; comp[1] = (uint8_t)(c >> 8);
			comp[2] = (uint8_t)(c >> 16); comp[3] = (uint8_t)(c >> 24);
			offs[i / CHUNK] = zoff;
			if (write(fd, comp, c + 4) != (ssize_t)(c + 4))
				return 1;
			zoff += c + 4;
		}
	}
	close(fd);
	t1 = now();
	double z_w = NEXITS / (t1 - t0);
	uint64_t nz = (NEXITS + CHUNK - 1) / CHUNK;
	fd = open(zpath, O_RDONLY);
	t0 = now();
	for (uint64_t c = 0; c < nz; c++) {
		uint8_t l[4];
		if (read(fd, l, 4) != 4)
			return 1;
		size_t n = l[0] | l[1] << 8 | l[2] << 16 | (size_t)l[3] << 24;
		if (read(fd, comp, n) != (ssize_t)n)
			return 1;
		size_t d = ZSTD_decompressDCtx(dc, raw, CHUNK * SZ, comp, n);
		for (size_t k = 0; k < d / SZ; k++) {
			memcpy(&rec.u.exit.state, raw + k * SZ, SZ);
			check_z += rec.u.exit.state.regs.rip ^ rec.u.exit.state.sregs.cr3;
		}
	}
	t1 = now();
	double z_r = NEXITS / (t1 - t0);
	double z_seek_worst = 0;
	for (int i = 0; i < NSEEK; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t target = (rng >> 20) % NEXITS;
		double best = 1e30;
		for (int k = 0; k < TRIES; k++) {
			uint8_t l[4];
			t0 = now();
			uint64_t c = target / CHUNK;
			if (pread(fd, l, 4, (off_t)offs[c]) != 4)
				return 1;
			size_t n = l[0] | l[1] << 8 | l[2] << 16 | (size_t)l[3] << 24;
			if (pread(fd, comp, n, (off_t)offs[c] + 4) != (ssize_t)n)
				return 1;
			ZSTD_decompressDCtx(dc, raw, CHUNK * SZ, comp, n);
			memcpy(&rec.u.exit.state, raw + (target % CHUNK) * SZ, SZ);
			t1 = now();
			if (t1 - t0 < best)
				best = t1 - t0;
		}
		if (best > z_seek_worst)
			z_seek_worst = best;
	}
	close(fd);
	if (check_lib != check_raw || check_raw != check_z) {
		fprintf(stderr, "trace_bench: the three readers disagree\n");
		return 1;
	}

	uint64_t kfidx = rs.keyframe_bytes + rs.index_bytes;
	uint64_t framing = rs.chunks * (64 + 8 * 1 + 8);	/* chunk headers */
	printf("trace_write_exits_per_s %.0f exits/s\n", lib_w);
	printf("trace_read_exits_per_s %.0f exits/s\n", lib_r);
	printf("trace_bytes_per_exit %.2f bytes\n", (double)rs.file_size / NEXITS);
	printf("trace_seek_us %.1f us\n", worst * 1e6);
	printf("trace_seek_1try_us %.1f us\n", worst1 * 1e6);
	printf("trace_seek_mean_us %.1f us\n", total / (NSEEK * TRIES) * 1e6);
	printf("trace_seek_p99_us %.1f us\n", times[NSEEK * TRIES * 99 / 100] * 1e6);
	printf("trace_keyframe_index_pct %.2f %%\n", 100.0 * (double)kfidx / (double)rs.file_size);
	printf("trace_chunk_header_pct %.2f %%\n", 100.0 * (double)framing / (double)rs.file_size);
	printf("trace_write_calls_per_1k_exits %.3f calls\n", 1000.0 * (double)ws.write_calls / NEXITS);
	printf("raw_write_exits_per_s %.0f exits/s\n", raw_w);
	printf("raw_read_exits_per_s %.0f exits/s\n", raw_r);
	printf("raw_bytes_per_exit %.2f bytes\n", (double)SZ);
	printf("raw_seek_us %.1f us\n", raw_seek_worst * 1e6);
	printf("zstd_nodelta_write_exits_per_s %.0f exits/s\n", z_w);
	printf("zstd_nodelta_read_exits_per_s %.0f exits/s\n", z_r);
	printf("zstd_nodelta_bytes_per_exit %.2f bytes\n", (double)zoff / NEXITS);
	printf("zstd_nodelta_seek_us %.1f us\n", z_seek_worst * 1e6);
	unlink(path);
	unlink(rpath);
	unlink(zpath);
	free(buf); free(raw); free(comp); free(offs);
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	return 0;
}

/* Streams captured from real runs (the .vcr files of tests/corpus, by the
 * recorder on KVM): re-encode each with the current writer and report bytes
 * per exit of its records (chunks only: the header, with its embedded guest
 * image, would dominate such short runs) and decode speed. */
static void corpus_bench(void)
{
	const char *root = getenv("VCR_ROOT") ? getenv("VCR_ROOT") : ".";
	static const char *const names[] = { "count64", "crash64", "hello16", "smp64" };
	char in[512], out[512];
	const char *tmp = getenv("TMPDIR");
	snprintf(out, sizeof(out), "%s/vcr-bench-corpus-%d.vcr", tmp ? tmp : "/tmp", getpid());
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct vcr_reader *r, *r2;
		struct vcr_writer *w;
		struct vcr_err err;
		struct vcr_reader_stats st;
		snprintf(in, sizeof(in), "%s/tests/corpus/%s.vcr", root, names[i]);
		if (access(in, R_OK) || vcr_reader_open(&r, in, &err))
			continue;
		if (vcr_writer_open(&w, out, vcr_reader_info(r), NULL, &err)) {
			vcr_reader_close(r);
			continue;
		}
		int rc;
		while ((rc = vcr_reader_next(r, &rec)) == 1)
			if (vcr_writer_append(w, &rec))
				break;
		vcr_reader_close(r);
		if (rc != 0 || vcr_writer_close(w) || vcr_reader_open(&r2, out, &err))
			continue;
		vcr_reader_get_stats(r2, &st);
		double t0 = now();
		uint64_t n = 0;
		for (int rep = 0; rep < 200; rep++) {
			vcr_reader_seek(r2, st.first_seq);
			while (vcr_reader_next(r2, &rec) == 1)
				n += rec.type == VCR_REC_EXIT;
		}
		double t1 = now();
		if (st.exits) {
			printf("trace_corpus_%s_exits %llu exits\n", names[i], (unsigned long long)st.exits);
			printf("trace_corpus_%s_bytes_per_exit %.2f bytes\n", names[i],
			       (double)st.chunk_bytes / (double)st.exits);
			printf("trace_corpus_%s_read_exits_per_s %.0f exits/s\n", names[i],
			       (double)n / (t1 - t0));
		}
		vcr_reader_close(r2);
	}
	unlink(out);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--gen"))
		return lib_write(argv[2], strtoull(argv[3], NULL, 0), NULL) ? 1 : 0;
	if (argc == 3 && !strcmp(argv[1], "--encode")) {
		char path[256];
		const char *tmp = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/vcr-bench-enc-%d.vcr", tmp ? tmp : "/tmp", getpid());
		int rc = lib_write(path, strtoull(argv[2], NULL, 0), NULL);
		unlink(path);
		return rc ? 1 : 0;
	}
	if (argc == 4 && !strcmp(argv[1], "--decode")) {
		uint64_t check = 0;
		return lib_read(argv[2], strtoull(argv[3], NULL, 0), &check) < 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: trace_bench [--gen FILE N | --encode N | --decode FILE N]\n");
		return 2;
	}
	int rc = full_bench();
	if (!rc)
		corpus_bench();
	return rc;
}
