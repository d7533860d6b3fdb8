/*
 * tests/unit/trace_ring.c: ring mode (opts.ring_bytes). The file stays
 * within the ring size; a reader gets the newest contiguous run of exits,
 * identical to what was written, with seq numbers that start above 0, both
 * from the footer and, when the writer died, by scanning; seeking works
 * inside the run and refuses exits that were overwritten.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "formats/trace.h"
#include "tests/lib/tap.h"
#include "tests/unit/trace_gen.h"

#define NRECS 20000
#define RING (48u << 10)

static struct tgen gen;
static struct vcr_record rec, want, got;
static struct vcr_record *exits;
static uint64_t nexits;

static int write_ring(const char *path, bool close_it, uint64_t *size)
{
	struct vcr_trace_info info;
	struct vcr_writer_opts o = { .chunk_exits = 64, .ring_bytes = RING };
	struct vcr_writer *w;
	struct vcr_err err;
	tgen_info(&info, 2);
	if (vcr_writer_open(&w, path, &info, &o, &err))
		return -1;
	tgen_init(&gen, 77, 2);
	gen.small = true;
	for (int i = 0; i < NRECS; i++) {
		tgen_next(&gen, &rec, &want);
		if (vcr_writer_append(w, &rec))
			return -1;
	}
	if (!close_it) {
		int rc = vcr_writer_flush(w);
		vcr_writer_abort(w);
		if (rc)
			return rc;
	} else if (vcr_writer_close(w)) {
		return -1;
	}
	struct stat sb;
	stat(path, &sb);
	*size = (uint64_t)sb.st_size;
	return 0;
}

static void check(const char *path, const char *what, uint64_t size)
{
	struct vcr_reader *r;
	struct vcr_err err;
	struct vcr_reader_stats st;
	int rc = vcr_reader_open(&r, path, &err);
	if (!tap_ok(rc == 0, "%s: open (%s)", what, rc ? err.msg : "ok")) {
		for (int i = 0; i < 4; i++)
			tap_ok(0, "skipped");
		return;
	}
	vcr_reader_get_stats(r, &st);
	tap_ok(size <= st.header_bytes + RING + 4096 + st.index_bytes,
	       "%s: file of %llu bytes stays within the ring (%u) + header + index", what,
	       (unsigned long long)size, RING);
	uint64_t n = 0, first = UINT64_MAX, last = 0;
	bool same = true, contiguous = true;
	char why[320] = "";
	while ((rc = vcr_reader_next(r, &got)) == 1) {
		if (got.type != VCR_REC_EXIT)
			continue;
		if (first == UINT64_MAX)
			first = got.seq;
		else if (got.seq != last + 1)
			contiguous = false;
		last = got.seq;
		n++;
		if (got.seq >= nexits || !tgen_same(&got, &exits[got.seq], why, sizeof(why)))
			same = false;
	}
	tap_ok(rc == 0 && same && contiguous && n == st.exits && first == st.first_seq &&
	       first > 0 && last == nexits - 1,
	       "%s: newest %llu exits (%llu..%llu of %llu) read back identical%s%s", what,
	       (unsigned long long)n, (unsigned long long)first, (unsigned long long)last,
	       (unsigned long long)nexits, why[0] ? ": " : "", why);
	bool seek_ok = true;
	for (uint64_t s = first; s <= last && seek_ok; s += 37) {
		if (vcr_reader_seek(r, s) || vcr_reader_next(r, &got) != 1 ||
		    !tgen_same(&got, &exits[s], why, sizeof(why)))
			seek_ok = false;
	}
	tap_ok(seek_ok, "%s: seek inside the run", what);
	tap_ok(vcr_reader_seek(r, first - 1) == -ERANGE, "%s: seek to an overwritten exit: -ERANGE",
	       what);
	vcr_reader_close(r);
}

int main(void)
{
	char path[256];
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/vcr-ring-%d.vcr", tmp ? tmp : "/tmp", getpid());
	exits = calloc(NRECS, sizeof(*exits));
	tgen_init(&gen, 77, 2);
	gen.small = true;
	for (int i = 0; i < NRECS; i++) {
		tgen_next(&gen, &rec, &want);
		if (want.type == VCR_REC_EXIT)
			exits[nexits++] = want;
	}
	tap_plan(10);
	uint64_t size = 0;
	if (write_ring(path, true, &size))
		tap_bail("cannot write the ring trace");
	check(path, "closed ring", size);
	if (write_ring(path, false, &size))
		tap_bail("cannot write the ring trace");
	check(path, "killed ring (no footer)", size);
	unlink(path);
	free(exits);
	return tap_exit_status();
}
