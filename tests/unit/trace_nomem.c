/*
 * tests/unit/trace_nomem.c: the reader under allocation failures. A trace
 * without its footer and with one damaged chunk makes vcr_reader_open
 * rebuild the index by scanning (and resync past the damage). Failing the
 * n-th malloc of the open, for every n the open makes, must give either
 * -ENOMEM or a reader that holds every intact chunk: never a successful
 * open that silently lost chunks.
 *
 * malloc is wrapped at link time (tests/module.mk: -Wl,--wrap=malloc for
 * this test only), so the library's calls come here; nothing of it is in
 * libvcr.a.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/trace.h"
#include "formats/trace_fmt.h"
#include "tests/lib/tap.h"
#include "tests/unit/trace_gen.h"

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);

/* 0: off; else the number of the call that fails (1 = the next one). */
static unsigned long fail_at, calls;

void *__wrap_malloc(size_t n)
{
	if (fail_at && ++calls == fail_at)
		return NULL;
	return __real_malloc(n);
}

/* The offsets of the chunk magics (8-aligned from the data start, which
 * need not be 8-aligned in the file); the index magic's in *index. */
static size_t find_magics(const uint8_t *b, size_t n, size_t *chunks, size_t max,
			  size_t *index)
{
	size_t k = 0;
	*index = 0;
	for (size_t i = 0; i + 8 <= n; i++) {
		if (!memcmp(b + i, TRF_CHUNK_MAGIC, 8) && k < max)
			chunks[k++] = i;
		else if (!memcmp(b + i, TRF_INDEX_MAGIC, 8))
			*index = i;
	}
	return k;
}

int main(void)
{
	static struct tgen g;
	static struct vcr_record rec, want;
	char path[] = "/tmp/vcr-trace-nomem-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd);
	tap_plan(4);

	if (tgen_write_small(&g, path, 42, 2, 3000, 64, &rec, &want))
		tap_bail("cannot write the trace");
	struct stat sb;
	if (stat(path, &sb) < 0)
		tap_bail("stat: %s", strerror(errno));
	size_t n = (size_t)sb.st_size;
	uint8_t *b = __real_malloc(n);
	fd = open(path, O_RDWR);
	if (!b || fd < 0 || pread(fd, b, n, 0) != (ssize_t)n)
		tap_bail("read back: %s", strerror(errno));
	size_t ch[256], index;
	size_t nch = find_magics(b, n, ch, 256, &index);
	if (nch < 6 || !index)
		tap_bail("want >= 6 chunks and an index, found %zu chunks, index at %zu", nch, index);
	/* No footer (cut at the index), chunk 3's magic damaged: the scan
	 * resyncs on the next chunk magic. */
	if (ftruncate(fd, (off_t)index) < 0 ||
	    pwrite(fd, "XXXXXXXX", 8, (off_t)ch[3]) != 8)
		tap_bail("damage: %s", strerror(errno));
	close(fd);

	struct vcr_reader *rd;
	struct vcr_err err;
	struct vcr_reader_stats st;
	int rc = vcr_reader_open(&rd, path, &err);
	if (rc)
		tap_bail("open without failures: %s", err.msg);
	vcr_reader_get_stats(rd, &st);
	vcr_reader_close(rd);
	uint64_t full = st.chunks;
	tap_ok(!st.has_footer && st.damaged_chunks == 1 && full == nch - 1,
	       "the damaged, footer-less trace opens by scanning: %llu of %zu chunks, "
	       "%llu damaged", (unsigned long long)full, nch, (unsigned long long)st.damaged_chunks);

	/* Every allocation of the open, failed in turn. */
	unsigned long tried = 0, nomem = 0, lost = 0, other = 0;
	for (unsigned long k = 1; k < 100000; k++) {
		calls = 0;
		fail_at = k;
		rc = vcr_reader_open(&rd, path, &err);
		unsigned long made = calls;
		fail_at = 0;
		if (made < k) {	/* the open made fewer allocations: done */
			if (!rc)
				vcr_reader_close(rd);
			break;
		}
		tried++;
		if (rc == -ENOMEM) {
			nomem++;
			continue;
		}
		if (rc) {
			other++;
			tap_diag("allocation %lu failed: open returned %d (%s)", k, rc, err.msg);
			continue;
		}
		vcr_reader_get_stats(rd, &st);
		if (st.chunks != full) {
			lost++;
			tap_diag("allocation %lu failed: open succeeded with %llu of %llu chunks", k,
				 (unsigned long long)st.chunks, (unsigned long long)full);
		}
		vcr_reader_close(rd);
	}
	tap_ok(tried > 3, "the open allocates (%lu allocations failed in turn)", tried);
	tap_ok(lost == 0, "no failed allocation gives a reader with fewer chunks (%lu did)", lost);
	tap_ok(other == 0 && nomem > 0, "each failure that is reported is -ENOMEM (%lu, %lu other)",
	       nomem, other);
	free(b);
	unlink(path);
	return tap_exit_status();
}
