/*
 * tests/fuzz/trace_corpus_gen.c: writes the seed corpus of the trace fuzzer
 * (tests/fuzz/corpus/trace/): small traces of every shape the reader
 * handles: with and without footer, several vCPUs, tiny chunks, every record
 * type, a ring, a cut one. Usage: trace_corpus_gen DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "formats/trace.h"
#include "tests/unit/trace_gen.h"

static struct tgen gen;
static struct vcr_record rec, want;

static int one(const char *dir, const char *name, uint64_t seed, uint32_t nvcpus,
	       uint32_t nrecs, uint32_t chunk, uint64_t ring, int how)
{
	char path[512];
	struct vcr_trace_info info;
	struct vcr_writer_opts o = { .chunk_exits = chunk, .ring_bytes = ring };
	struct vcr_writer *w;
	struct vcr_err err;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	tgen_info(&info, nvcpus);
	if (vcr_writer_open(&w, path, &info, &o, &err)) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		return 1;
	}
	tgen_init(&gen, seed, nvcpus);
	gen.small = true;
	for (uint32_t i = 0; i < nrecs; i++) {
		tgen_next(&gen, &rec, &want);
		if (vcr_writer_append(w, &rec))
			return 1;
	}
	if (how == 1) {		/* killed writer: no footer */
		if (vcr_writer_flush(w))
			return 1;
		vcr_writer_abort(w);
		return 0;
	}
	if (vcr_writer_close(w))
		return 1;
	if (how == 2) {		/* cut in the middle */
		FILE *f = fopen(path, "r+");
		if (!f || fseek(f, 0, SEEK_END))
			return 1;
		long n = ftell(f);
		fclose(f);
		if (truncate(path, n * 2 / 3))
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: trace_corpus_gen DIR\n");
		return 2;
	}
	int rc = 0;
	rc |= one(argv[1], "one-vcpu.vcr", 1, 1, 12, 0, 0, 0);
	rc |= one(argv[1], "three-vcpus-small-chunks.vcr", 2, 3, 40, 3, 0, 0);
	rc |= one(argv[1], "no-footer.vcr", 3, 2, 30, 4, 0, 1);
	rc |= one(argv[1], "cut.vcr", 4, 2, 30, 4, 0, 2);
	rc |= one(argv[1], "empty.vcr", 5, 1, 0, 0, 0, 0);
	rc |= one(argv[1], "ring.vcr", 6, 1, 3000, 8, 1, 1);
	return rc;
}
