/*
 * tests/fuzz/fuzz_trace.c: libFuzzer target for the trace reader. The input
 * is a trace file: it is written to a memfd and opened, iterated to the end
 * (continuing past damaged chunks), seeked to a few exits and read on from
 * there (vcr_reader_next and vcr_reader_next_ref), and asked for
 * per-vCPU exits and states; checkpoint pages are scanned and their XOR
 * runs applied. The reader must never crash, hang or allocate without
 * bound, whatever the bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include "tests/fuzz/fuzz_file.h"
#include "formats/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vcr_record rec;
static volatile uint8_t sink;
static struct vcr_ckpt_page scan[VCR_CKPT_RUN_MAX];
static uint8_t page[VCR_CKPT_PAGE];

static void pages(const struct vcr_record *r)
{
	if (r->type != VCR_REC_CKPT_PAGES ||
	    vcr_ckpt_pages_scan(r->u.ckpt_pages.data, r->u.ckpt_pages.len, r->u.ckpt_pages.first,
				r->u.ckpt_pages.count, scan))
		return;
	for (uint32_t k = 0; k < r->u.ckpt_pages.count; k++)
		if (scan[k].enc == VCR_CKPT_XOR &&
		    vcr_ckpt_xor_apply(page, r->u.ckpt_pages.data + scan[k].off, scan[k].len))
			__builtin_trap();	/* scan accepted what apply refuses */
	sink += page[r->u.ckpt_pages.first % VCR_CKPT_PAGE];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct vcr_reader *r;
	struct vcr_err err;
	int fd = fuzz_file(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	if (vcr_reader_open(&r, path, &err) == 0) {
		struct vcr_reader_stats st;
		struct vcr_vcpu_state s;
		const struct vcr_trace_info *info = vcr_reader_info(r);
		vcr_reader_get_stats(r, &st);
		(void)vcr_trace_info_get(info, "mode");
		/* Every record; errors are allowed, loops are not (a chunk
		 * error advances to the next chunk). */
		for (unsigned n = 0; n < 1000000; n++) {
			int rc = vcr_reader_next(r, &rec);
			if (rc == 0)
				break;
			if (rc > 0)
				pages(&rec);
		}
		uint64_t seqs[4] = { 0, st.exits / 2, st.exits ? st.exits - 1 : 0, st.exits + 3 };
		for (int i = 0; i < 4; i++) {
			if (vcr_reader_seek(r, seqs[i]) == 0)
				(void)vcr_reader_next(r, &rec);
			/* The zero-copy read too, touching what it points to
			 * (ASan checks the bounds). */
			for (int k = 0; k < 64; k++) {
				struct vcr_record_ref ref;
				if (vcr_reader_next_ref(r, &rec, &ref) <= 0)
					break;
				size_t n = rec.type == VCR_REC_EXIT ? rec.u.exit.exit.data_len :
					   rec.type == VCR_REC_INPUT ? rec.u.input.len : 0;
				if (ref.state)
					s = *ref.state;
				for (size_t j = 0; ref.data && j < n; j++)
					sink += ref.data[j];
			}
			for (uint32_t v = 0; v < info->nvcpus && v < 4; v++)
				(void)vcr_reader_state(r, v, &s);
		}
		for (uint32_t v = 0; v < info->nvcpus && v < 4; v++) {
			uint64_t seq;
			(void)vcr_reader_vcpu_exit_seq(r, v, 0, &seq);
			(void)vcr_reader_vcpu_exit_seq(r, v, st.vcpu_exits[v] / 2, &seq);
		}
		vcr_reader_close(r);
	}
	close(fd);
	return 0;
}
