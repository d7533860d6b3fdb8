/*
 * bench/diff_bench.c: `vcr diff` engine speed on two generated traces of
 * 1,000,000 exits each (override with VCR_BENCH_EXITS).
 *
 *   diff_exits_per_s        identical runs: exit pairs compared per second,
 *                           wall time of vcr_diff_files (open, decode both
 *                           files, align, compare) — the goal is >= 5e6
 *   diff_exits_per_cpu_s    the same per second of CPU time (robust on a
 *                           shared, loaded machine)
 *   diff_thread_exits_per_s  the same with B decoded on a reader thread
 *   diff_read_exits_per_s   the same two files only read (vcr_reader_next),
 *                           no comparison: what decoding alone allows
 *   diff_inserted_exits_per_s  B has 3 extra exits in the middle, --all:
 *                           one gap found and realigned, rest compared
 *   diff_max_rss_kib        peak resident memory of this process
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "formats/trace.h"
#include "replayer/diff.h"
#include "tools/gen.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int gaps;

static int count_events(void *ctx, const struct vcr_diff_event *ev)
{
	(void)ctx;
	if (ev->type == VCR_DIFF_EV_GAP)
		gaps++;
	return 0;
}

static int read_all(const char *path, uint64_t *exits)
{
	struct vcr_reader *r;
	struct vcr_err err;
	static struct vcr_record rec;
	int rc = vcr_reader_open(&r, path, &err);
	if (rc < 0) {
		fprintf(stderr, "diff_bench: %s: %s\n", path, err.msg);
		return rc;
	}
	while ((rc = vcr_reader_next(r, &rec)) > 0)
		if (rec.type == VCR_REC_EXIT)
			(*exits)++;
	vcr_reader_close(r);
	return rc;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	uint64_t n = 1000000;
	if (getenv("VCR_BENCH_EXITS"))
		n = strtoull(getenv("VCR_BENCH_EXITS"), NULL, 0);
	char pa[512], pb[512], pc[512];
	snprintf(pa, sizeof(pa), "%s/diff_bench_a.%d.vcr", tmp, (int)getpid());
	snprintf(pb, sizeof(pb), "%s/diff_bench_b.%d.vcr", tmp, (int)getpid());
	snprintf(pc, sizeof(pc), "%s/diff_bench_c.%d.vcr", tmp, (int)getpid());
	struct vcr_gen_opts g;
	struct vcr_err err;
	int rc = 1;

	vcr_gen_opts_init(&g);
	g.exits = n;
	double t0 = now();
	if (vcr_gen_trace(pa, &g, &err) < 0 || vcr_gen_trace(pb, &g, &err) < 0)
		goto fail;
	g.exits = n + 3;
	g.extra_at = (int64_t)(n / 2);
	g.extra = 3;
	if (vcr_gen_trace(pc, &g, &err) < 0)
		goto fail;
	double tgen = now() - t0;
	printf("diff_bench_gen_exits_per_s %.0f exits/s\n", 3.0 * (double)n / tgen);

	struct vcr_diff_opts o;
	struct vcr_diff_summary sum;
	vcr_diff_opts_init(&o);

	/* Best of three: the machine is shared. CPU time too, which a loaded
	 * machine does not distort. */
	double best = 1e30, best_cpu = 1e30;
	for (int i = 0; i < 3; i++) {
		t0 = now();
		double c0 = cpu_now();
		if (vcr_diff_files(pa, pb, &o, count_events, NULL, &sum, &err) < 0)
			goto fail;
		double t = now() - t0, c = cpu_now() - c0;
		if (t < best)
			best = t;
		if (c < best_cpu)
			best_cpu = c;
	}
	if (sum.pairs != n || sum.stretches != 0 || sum.end_differs) {
		fprintf(stderr, "diff_bench: identical traces: %llu pairs, %llu stretches\n",
			(unsigned long long)sum.pairs, (unsigned long long)sum.stretches);
		goto out;
	}
	printf("diff_exits_per_s %.0f exits/s\n", (double)n / best);
	printf("diff_exits_per_cpu_s %.0f exits/s\n", (double)n / best_cpu);

	/* The same with B decoded on a reader thread (opts.reader_thread). */
	o.reader_thread = true;
	best = 1e30;
	for (int i = 0; i < 3; i++) {
		t0 = now();
		if (vcr_diff_files(pa, pb, &o, count_events, NULL, &sum, &err) < 0)
			goto fail;
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	if (sum.pairs != n || sum.stretches != 0)
		goto out;
	printf("diff_thread_exits_per_s %.0f exits/s\n", (double)n / best);
	o.reader_thread = false;

	best = 1e30;
	for (int i = 0; i < 3; i++) {
		uint64_t ea = 0, eb = 0;
		t0 = now();
		if (read_all(pa, &ea) < 0 || read_all(pb, &eb) < 0)
			goto out;
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	printf("diff_read_exits_per_s %.0f exits/s\n", (double)n / best);

	o.all = true;
	best = 1e30;
	for (int i = 0; i < 3; i++) {
		gaps = 0;
		t0 = now();
		if (vcr_diff_files(pa, pc, &o, count_events, NULL, &sum, &err) < 0)
			goto fail;
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	if (gaps != 1 || sum.stretches != 1 || sum.pairs != n) {
		fprintf(stderr, "diff_bench: 3 inserted: %d gaps, %llu stretches, %llu pairs\n",
			gaps, (unsigned long long)sum.stretches, (unsigned long long)sum.pairs);
		goto out;
	}
	printf("diff_inserted_exits_per_s %.0f exits/s\n", (double)n / best);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("diff_max_rss_kib %ld KiB\n", ru.ru_maxrss);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "diff_bench: %s\n", err.msg);
out:
	unlink(pa);
	unlink(pb);
	unlink(pc);
	return rc;
}
