/*
 * tests/tools/trace_future.c: copy a trace as a newer vcr might have written
 * it: after every Nth exit, an optional record of a type this vcr does not
 * know (a record type added later, e.g. a memory checkpoint), which readers
 * are to skip (docs/format.md). For the tests of commands that walk traces
 * (tests/host/timeline.sh): the output must not change.
 *
 *   trace_future IN OUT N
 *
 * Linked with libvcr-test.a for trf_writer_append_raw (formats/trace_fmt.h).
 */
#define VCR_TEST_HOOKS
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/trace.h"
#include "formats/trace_fmt.h"

int main(int argc, char **argv)
{
	static struct vcr_record rec;
	struct vcr_reader *r;
	struct vcr_writer *w;
	struct vcr_err err;
	char *end;

	if (argc != 4) {
		fprintf(stderr, "usage: trace_future IN OUT N\n");
		return 2;
	}
	unsigned long every = strtoul(argv[3], &end, 0);
	if (*end || !every) {
		fprintf(stderr, "trace_future: bad N '%s'\n", argv[3]);
		return 2;
	}
	vcr_err_clear(&err);
	if (vcr_reader_open(&r, argv[1], &err) < 0) {
		fprintf(stderr, "trace_future: %s: %s\n", argv[1], err.msg);
		return 1;
	}
	if (vcr_writer_open(&w, argv[2], vcr_reader_info(r), NULL, &err) < 0) {
		fprintf(stderr, "trace_future: %s: %s\n", argv[2], err.msg);
		vcr_reader_close(r);
		return 1;
	}
	unsigned long exits = 0, added = 0;
	int rc;
	while ((rc = vcr_reader_next(r, &rec)) > 0) {
		if ((rc = vcr_writer_append(w, &rec)) < 0)
			break;
		if (rec.type != VCR_REC_EXIT || ++exits % every)
			continue;
		/* Types past VCR_REC_LAST, optional (no TRF_REC_REQUIRED). */
		uint8_t type = (uint8_t)(VCR_REC_LAST + 1 + added % 8);
		uint8_t body[24];
		for (size_t i = 0; i < sizeof(body); i++)
			body[i] = (uint8_t)(i * 37 + added);
		if ((rc = trf_writer_append_raw(w, type, body, sizeof(body))) < 0)
			break;
		added++;
	}
	vcr_reader_close(r);
	if (rc < 0) {
		fprintf(stderr, "trace_future: %s\n", strerror(-rc));
		vcr_writer_abort(w);
		return 1;
	}
	if ((rc = vcr_writer_close(w)) < 0) {
		fprintf(stderr, "trace_future: %s: %s\n", argv[2], strerror(-rc));
		return 1;
	}
	printf("%lu unknown records added\n", added);
	return 0;
}
