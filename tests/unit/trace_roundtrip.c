/*
 * tests/unit/trace_roundtrip.c: random multi-vCPU streams of every record
 * type are written and read back identical; seeking to any exit gives the
 * same record and vCPU states as reading from the start; per-vCPU exit
 * lookups agree with the stream; header fields survive.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "formats/trace.h"
#include "tests/lib/tap.h"
#include "tests/unit/trace_gen.h"

struct cfg {
	uint64_t seed;
	uint32_t nvcpus, nrecs, chunk_exits, flush_exits;
	int level;
};

static char path[256];
static struct tgen gen;
static struct vcr_record rec, want, got;

static int write_stream(const struct cfg *c, struct vcr_writer_stats *ws)
{
	struct vcr_trace_info info;
	struct vcr_writer_opts o = { .zstd_level = c->level, .chunk_exits = c->chunk_exits,
				     .flush_exits = c->flush_exits };
	struct vcr_writer *w;
	struct vcr_err err;
	tgen_info(&info, c->nvcpus);
	int rc = vcr_writer_open(&w, path, &info, &o, &err);
	if (rc) {
		tap_diag("writer_open: %s", err.msg);
		return rc;
	}
	tgen_init(&gen, c->seed, c->nvcpus);
	for (uint32_t i = 0; i < c->nrecs; i++) {
		tgen_next(&gen, &rec, &want);
		rc = vcr_writer_append(w, &rec);
		if (rc) {
			tap_diag("append %u: %d", i, rc);
			vcr_writer_abort(w);
			return rc;
		}
		if (i == c->nrecs / 2 && (rc = vcr_writer_flush(w)))
			return rc;
	}
	vcr_writer_get_stats(w, ws);
	return vcr_writer_close(w);
}

/* Per exit: the record and the state of every vCPU after it. */
struct snap {
	struct vcr_record rec;
	struct vcr_vcpu_state st[4];
	uint8_t known[4];
};

static void run(const struct cfg *c)
{
	struct vcr_writer_stats ws;
	struct vcr_reader *r = NULL;
	struct vcr_err err;
	char why[320] = "";
	int rc = write_stream(c, &ws);
	tap_ok(rc == 0, "seed %llu: write %u records, %u vCPUs, chunk %u",
	       (unsigned long long)c->seed, c->nrecs, c->nvcpus, c->chunk_exits);

	rc = vcr_reader_open(&r, path, &err);
	if (!tap_ok(rc == 0, "open: %s", rc ? err.msg : "ok")) {
		for (int i = 0; i < 5; i++)
			tap_ok(0, "skipped after failed open");
		return;
	}
	const struct vcr_trace_info *in = vcr_reader_info(r);
	struct vcr_trace_info ref;
	tgen_info(&ref, c->nvcpus);
	bool hdr_ok = in->nvcpus == c->nvcpus && in->kvm_api_version == 12 &&
		      in->sync_regs_mask == 7 && in->nmem == 2 && in->mem[1].gpa == 0xfffc0000 &&
		      in->mem[1].flags == 2 && in->ncpuid == 3 &&
		      !memcmp(&in->cpuid[2], &ref.cpuid[2], sizeof(ref.cpuid[2])) &&
		      in->image_mode == VCR_IMAGE_EMBEDDED && in->image_size == ref.image_size &&
		      !memcmp(in->image, ref.image, ref.image_size) &&
		      !strcmp(in->image_path, "guest.bin") && !strcmp(in->cmdline, ref.cmdline) &&
		      !strcmp(vcr_trace_info_get(in, "mode"), "long") &&
		      !strcmp(in->tool_version, VCR_VERSION) && in->version_major == 1;
	tap_ok(hdr_ok, "header fields read back");

	/* Linear read equals the stream. */
	struct vcr_reader_stats rs;
	vcr_reader_get_stats(r, &rs);
	tgen_init(&gen, c->seed, c->nvcpus);
	struct snap *snaps = calloc(ws.exits + 1, sizeof(*snaps));
	uint32_t n = 0;
	bool same = snaps != NULL;
	while (same && (rc = vcr_reader_next(r, &got)) == 1) {
		if (n >= c->nrecs) {
			same = false;
			snprintf(why, sizeof(why), "more records than written");
			break;
		}
		tgen_next(&gen, &rec, &want);
		if (!tgen_same(&got, &want, why, sizeof(why))) {
			same = false;
			break;
		}
		if (got.type == VCR_REC_EXIT) {
			struct snap *s = &snaps[got.seq];
			s->rec = got;
			for (uint32_t v = 0; v < c->nvcpus; v++)
				s->known[v] = vcr_reader_state(r, v, &s->st[v]) == 0;
		}
		n++;
	}
	if (rc < 0)
		snprintf(why, sizeof(why), "next: %s", vcr_reader_error(r)->msg);
	tap_ok(same && rc == 0 && n == c->nrecs && rs.exits == ws.exits && rs.has_footer &&
	       !rs.truncated && !rs.damaged_chunks,
	       "read back %u/%u records identical (%s)", n, c->nrecs, why[0] ? why : "ok");

	/* Seek to every exit (in a scrambled order) equals the linear read. */
	bool seek_ok = true;
	uint64_t bad = 0;
	for (uint64_t k = 0; k < ws.exits && seek_ok; k++) {
		uint64_t s = (k * 7919 + 13) % ws.exits;
		rc = vcr_reader_seek(r, s);
		if (!rc)
			rc = vcr_reader_next(r, &got) == 1 ? 0 : -1;
		struct vcr_vcpu_state st;
		if (rc || !tgen_same(&got, &snaps[s].rec, why, sizeof(why))) {
			seek_ok = false;
			bad = s;
			break;
		}
		for (uint32_t v = 0; v < c->nvcpus; v++) {
			int kr = vcr_reader_state(r, v, &st);
			if ((kr == 0) != snaps[s].known[v] ||
			    (kr == 0 && memcmp(&st, &snaps[s].st[v], sizeof(st)))) {
				seek_ok = false;
				bad = s;
				snprintf(why, sizeof(why), "state of vCPU %u differs", v);
			}
		}
	}
	tap_ok(seek_ok, "seek to each of %llu exits equals linear read%s%s (exit %llu)",
	       (unsigned long long)ws.exits, seek_ok ? "" : ": ", seek_ok ? "" : why,
	       (unsigned long long)bad);

	/* Per-vCPU lookups. */
	bool vx_ok = true;
	for (uint64_t s = 0; s < ws.exits && vx_ok; s++) {
		uint64_t q = UINT64_MAX;
		rc = vcr_reader_vcpu_exit_seq(r, snaps[s].rec.vcpu, snaps[s].rec.vcpu_exit, &q);
		if (rc || q != s) {
			vx_ok = false;
			tap_diag("vcpu %u exit %llu: rc %d seq %llu want %llu", snaps[s].rec.vcpu,
				 (unsigned long long)snaps[s].rec.vcpu_exit, rc,
				 (unsigned long long)q, (unsigned long long)s);
		}
	}
	uint64_t sum = 0, q;
	for (uint32_t v = 0; v < c->nvcpus; v++) {
		sum += rs.vcpu_exits[v];
		if (vcr_reader_vcpu_exit_seq(r, v, rs.vcpu_exits[v], &q) != -ERANGE)
			vx_ok = false;
	}
	tap_ok(vx_ok && sum == ws.exits, "per-vCPU exit lookups and counts agree");

	/* Seek past the end: next returns 0. */
	rc = vcr_reader_seek(r, ws.exits);
	tap_ok(rc == 0 && vcr_reader_next(r, &got) == 0, "seek past the last exit reads the end");
	free(snaps);
	vcr_reader_close(r);
}

int main(void)
{
	static const struct cfg cfgs[] = {
		{ 1, 1, 3000, 0, 0, 0 },
		{ 2, 4, 6000, 0, 0, 0 },
		{ 3, 3, 5000, 7, 3, 0 },
		{ 4, 2, 4000, 1, 1, 5 },
		{ 5, 4, 20000, 100, 0, -3 },
	};
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/vcr-trace-rt-%d.vcr", tmp ? tmp : "/tmp", getpid());
	tap_plan((int)(VCR_ARRAY_SIZE(cfgs) * 7));
	for (size_t i = 0; i < VCR_ARRAY_SIZE(cfgs); i++)
		run(&cfgs[i]);
	if (!getenv("KEEP")) unlink(path);
	return tap_exit_status();
}
