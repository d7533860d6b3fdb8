/*
 * tests/fuzz/fuzz_cursor.c: libFuzzer target for the replay cursor
 * (replayer/cursor.h), which gdb's replay target, dump and diff put on
 * traces users hand them. The input is a trace file (written to a memfd):
 * the cursor walks it forwards and backwards (any vCPU and per vCPU),
 * seeks to exits chosen from the input's last bytes, reads every vCPU's
 * state (by copy and by pointer, which must agree), the extras and a few
 * memory ranges. Walking and seeking must give the same state at the same
 * position (the cursor follows the reader's deltas on a walk and takes
 * states afresh on a seek); nothing may crash, hang or allocate without
 * bound, whatever the bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/fuzz/fuzz_file.h"
#include "replayer/cursor.h"

static int count_range(void *arg, const struct vcr_mem_range *r)
{
	(void)arg;
	if (!r->len || r->cls == VCR_MEM_UNKNOWN)
		abort();	/* ranges are known, non-empty runs */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

/* Every vCPU's state at the position, by copy and by pointer; they must
 * be the same. Returns a hash of them, for walk/seek comparisons. */
static uint64_t touch(struct vcr_cursor *c, uint32_t nvcpus)
{
	uint64_t h = 1469598103934665603ull;
	for (uint32_t v = 0; v < nvcpus && v < 8; v++) {
		struct vcr_vcpu_state st;
		const struct vcr_vcpu_state *p = vcr_cursor_state_ref(c, v);
		int rc = vcr_cursor_state(c, v, &st);
		if ((rc == 0) != (p != NULL))
			abort();
		if (rc == 0) {
			if (memcmp(&st, p, sizeof(st)))
				abort();
			const uint8_t *b = (const uint8_t *)&st;
			for (size_t i = 0; i < sizeof(st); i++)
				h = (h ^ b[i]) * 1099511628211ull;
		}
		uint64_t n;
		(void)vcr_cursor_vcpu_index(c, v, &n);
	}
	size_t nx = 0;
	const struct vcr_record *x = vcr_cursor_extras(c, &nx);
	for (size_t i = 0; i < nx; i++) {
		sink += (uint8_t)x[i].type;
		if (x[i].type == VCR_REC_INPUT && x[i].u.input.len)
			sink += x[i].u.input.data[x[i].u.input.len - 1];
	}
	const struct vcr_record *e = vcr_cursor_exit(c);
	if (e && e->u.exit.exit.data_len)
		sink += e->u.exit.exit.data[e->u.exit.exit.data_len - 1];
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct vcr_cursor *c;
	struct vcr_err err;
	int fd = fuzz_file(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	if (vcr_cursor_open(&c, path, &err) == 0) {
		uint32_t nvcpus = vcr_cursor_info(c)->nvcpus;
		uint64_t first = vcr_cursor_first(c), n = vcr_cursor_nexits(c);
		/* Forward walk (bounded), remembering a few positions' states. */
		uint64_t pos[4] = { 0 }, hash[4] = { 0 };
		int npos = 0;
		for (unsigned k = 0; k < 20000; k++) {
			uint64_t h = touch(c, nvcpus);
			if (npos < 4 && (k == 0 || k % 97 == 5)) {
				pos[npos] = vcr_cursor_pos(c);
				hash[npos++] = h;
			}
			if (vcr_cursor_step(c, 1, UINT32_MAX))
				break;
		}
		/* Backward, then per vCPU both ways. */
		for (unsigned k = 0; k < 300; k++)
			if (vcr_cursor_step(c, -1, UINT32_MAX))
				break;
		for (uint32_t v = 0; v < nvcpus && v < 4; v++) {
			for (unsigned k = 0; k < 50; k++)
				if (vcr_cursor_step(c, 1, v))
					break;
			for (unsigned k = 0; k < 20; k++)
				if (vcr_cursor_step(c, -1, v))
					break;
			(void)touch(c, nvcpus);
			(void)vcr_cursor_seek_vcpu(c, v, size % 7);
		}
		/* Seeks back to the walked positions give the walk's states. */
		for (int i = 0; i < npos; i++)
			if (vcr_cursor_seek(c, pos[i]) == 0 && touch(c, nvcpus) != hash[i])
				abort();
		/* Seeks chosen by the input, and past the end. */
		for (size_t i = 0; i < 4 && i < size; i++) {
			uint64_t s = first + (n ? data[size - 1 - i] * 2654435761u % n : 0);
			if (vcr_cursor_seek(c, s) == 0)
				(void)touch(c, nvcpus);
		}
		(void)vcr_cursor_seek(c, first + n);
		/* Memory: low memory, the usual load address, and an address
		 * from the input. */
		uint8_t buf[64];
		uint64_t gpa = size >= 8 ? *(const uint64_t *)(const void *)data : 0;
		(void)vcr_cursor_read_mem(c, 0x7c00, buf, sizeof(buf));
		(void)vcr_cursor_read_mem(c, 0x100000, buf, sizeof(buf));
		(void)vcr_cursor_read_mem(c, gpa, buf, 16);
		(void)vcr_cursor_read_mem(c, UINT64_MAX - 3, buf, 16);
		/* Memory classes (checkpoints) at the last exit and at one the
		 * input chooses: a served byte must be of a served class. */
		for (int k = 0; k < 2; k++) {
			if (k && vcr_cursor_seek(c, first + (n ? gpa % n : 0)))
				break;
			struct vcr_mem_range mr;
			struct vcr_cursor_mem_info mi;
			uint64_t a = k ? (gpa & 0xfffff) : 0x5000 + (size & 0xfff);
			(void)vcr_cursor_mem_info(c, &mi);
			(void)vcr_cursor_mem_ranges(c, count_range, NULL);
			if (vcr_cursor_mem_class(c, a, &mr) == 0) {
				int strict = vcr_cursor_read_mem(c, a, buf, 1);
				int lenient = vcr_cursor_read_mem_stale(c, a, buf, 1);
				bool served = mr.cls == VCR_MEM_EXACT || mr.cls == VCR_MEM_UNTRACKED;
				if ((strict == 0) != served ||
				    (lenient == 0) != (served || mr.cls == VCR_MEM_STALE))
					abort();
			}
			(void)vcr_cursor_read_mem_stale(c, a, buf, sizeof(buf));
		}
		vcr_cursor_close(c);
	}
	close(fd);
	return 0;
}
