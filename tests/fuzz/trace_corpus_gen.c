/*
 * tests/fuzz/trace_corpus_gen.c: writes the seed corpus of the trace fuzzer
 * (tests/fuzz/corpus/trace/): small traces of every shape the reader
 * handles: with and without footer, several vCPUs, tiny chunks, every record
 * type (the random streams of tests/unit/trace_gen.h hold IRQ_LINE and NOTE
 * too), a ring, a cut one, and a pc-machine-like run: UART exits, IRQ 4
 * raised and lowered from a vCPU and from another thread, a console tail;
 * and memory checkpoints (CKPT / CKPT_PAGES: zero, raw and repeated pages,
 * a full checkpoint, VMM writes between them).
 * Usage: trace_corpus_gen DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* What a Linux guest on the pc machine leaves: OUTs to the UART, IRQ 4
 * raised while serving them and lowered by the input thread, then the
 * console tail and the end. Small chunks, so that records of both kinds
 * start and end chunks. */
static int pc_like(const char *dir)
{
	static const char tail[] = "Kernel panic - not syncing: Attempted to kill init!\n"
				   "---[ end Kernel panic - not syncing ]---\n";
	char path[512];
	struct vcr_trace_info info;
	struct vcr_writer_opts o = { .chunk_exits = 5 };
	struct vcr_writer *w;
	struct vcr_err err;
	int rc = 0;
	snprintf(path, sizeof(path), "%s/irq-lines-notes.vcr", dir);
	tgen_info(&info, 2);
	if (vcr_writer_open(&w, path, &info, &o, &err)) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		return 1;
	}
	for (uint32_t i = 0; i < 24 && !rc; i++) {
		memset(&rec, 0, sizeof(rec));
		rec.type = VCR_REC_EXIT;
		rec.vcpu = i % 2;
		rec.u.exit.valid = VCR_CLASS_ALL;
		rec.u.exit.state.regs.rip = 0xffffffff81000000ull + 16 * i;
		rec.u.exit.exit.reason = KVM_EXIT_IO;
		rec.u.exit.exit.u.io.direction = KVM_EXIT_IO_OUT;
		rec.u.exit.exit.u.io.size = 1;
		rec.u.exit.exit.u.io.port = 0x3f8;
		rec.u.exit.exit.u.io.count = 1;
		rec.u.exit.exit.data_len = 1;
		rec.u.exit.exit.data[0] = (uint8_t)tail[i];
		rc |= vcr_writer_append(w, &rec);
		memset(&rec, 0, sizeof(rec));
		rec.type = VCR_REC_IRQ_LINE;
		rec.vcpu = i % 2;
		rec.u.irq_line.gsi = 4;
		rec.u.irq_line.level = 1;
		if (i % 3 == 0)
			rc |= vcr_writer_append(w, &rec);
		rec.u.irq_line.level = 0;
		rec.u.irq_line.flags = VCR_IRQ_ASYNC;
		if (i % 3 == 1)
			rc |= vcr_writer_append(w, &rec);
	}
	memset(&rec, 0, sizeof(rec));
	rec.type = VCR_REC_NOTE;
	rec.u.note.kind = VCR_NOTE_CONSOLE_TAIL;
	rec.u.note.text = tail;
	rec.u.note.len = sizeof(tail) - 1;
	rc |= vcr_writer_append(w, &rec);
	memset(&rec, 0, sizeof(rec));
	rec.type = VCR_REC_END;
	rec.u.end.how = VCR_END_SHUTDOWN;
	rec.u.end.msg = "triple fault";
	rc |= vcr_writer_append(w, &rec);
	rc |= vcr_writer_close(w);
	return rc ? 1 : 0;
}

/* A guest of 8 pages, checkpointed every 4 exits (the last one final, one
 * full), with VMM writes in between; tiny chunks, so that page records and
 * their CKPT fall in different chunks. Pages are zero, repeats, XOR
 * against their previous version where smaller (not in the full one), or
 * raw, as the recorder chooses. */
static int checkpoints(const char *dir)
{
	static uint8_t mem[8][VCR_CKPT_PAGE], enc[8 * (VCR_CKPT_PAGE + 11)];
	static uint8_t last[8][VCR_CKPT_PAGE];
	int64_t lastnum[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
	char path[512];
	struct vcr_mem_region mr = { .gpa = 0, .size = sizeof(mem) };
	struct vcr_trace_info info = { .arch = VCR_ARCH_X86_64, .nvcpus = 1, .mem = &mr, .nmem = 1 };
	struct vcr_writer_opts o = { .chunk_exits = 3 };
	struct vcr_writer *w;
	struct vcr_err err;
	int rc = 0;
	snprintf(path, sizeof(path), "%s/checkpoints.vcr", dir);
	if (vcr_writer_open(&w, path, &info, &o, &err)) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		return 1;
	}
	uint8_t dirty = 0;
	for (uint32_t e = 0; e < 17 && !rc; e++) {
		uint32_t p = (e * 3) % 8;
		memset(mem[p] + 64 * (e % 8), (int)(e + 1), 64);
		if (e % 5 == 2)
			memcpy(mem[(p + 1) % 8], mem[p], VCR_CKPT_PAGE);
		if (e % 7 == 3)
			memset(mem[(p + 2) % 8], 0, VCR_CKPT_PAGE);
		dirty |= (uint8_t)(1u << p | 1u << ((p + 1) % 8) | 1u << ((p + 2) % 8));
		memset(&rec, 0, sizeof(rec));
		rec.type = VCR_REC_EXIT;
		rec.u.exit.valid = VCR_CLASS_ALL;
		rec.u.exit.exit.reason = KVM_EXIT_IO;
		rec.u.exit.state.regs.rip = 0x100000 + e;
		vcr_state_normalize(&rec.u.exit.state);
		rc |= vcr_writer_append(w, &rec);
		if (e % 3 == 1) {
			memset(&rec, 0, sizeof(rec));
			rec.type = VCR_REC_MEM_WRITE;
			rec.u.mem.gpa = 5 * VCR_CKPT_PAGE + 100 * e;
			rec.u.mem.len = 32;
			rec.u.mem.data = mem[1];
			rc |= vcr_writer_append(w, &rec);
		}
		if (e % 4 != 3 && e != 16)
			continue;
		bool full = e == 11;
		uint8_t stored = full ? 0xff : dirty;
		size_t n = 0;
		uint32_t ns = 0, ord[8];
		for (uint32_t q = 0; q < 8; q++) {
			if (!(stored >> q & 1))
				continue;
			uint64_t ref = UINT64_MAX;
			for (uint32_t k = 0; k < ns; k++)
				if (!memcmp(mem[ord[k]], mem[q], VCR_CKPT_PAGE))
					ref = k;
			ord[ns++] = q;
			size_t x = vcr_ckpt_page_put(enc + n, mem[q], ref);
			if (x == 1 + VCR_CKPT_PAGE && !full && lastnum[q] >= 0) {
				size_t y = vcr_ckpt_page_put_xor(enc + n, mem[q], last[q],
								 e / 4 - (uint64_t)lastnum[q]);
				x = y ? y : x;
			}
			n += x;
			memcpy(last[q], mem[q], VCR_CKPT_PAGE);
			lastnum[q] = e / 4;
		}
		memset(&rec, 0, sizeof(rec));
		rec.type = VCR_REC_CKPT;
		rec.u.ckpt.number = e / 4;
		rec.u.ckpt.flags = (e == 16 ? VCR_CKPT_FINAL : 0) | (full ? VCR_CKPT_FULL : 0);
		rec.u.ckpt.npages = 8;
		rec.u.ckpt.dirty = &dirty;
		rec.u.ckpt.stored = &stored;
		rc |= vcr_writer_append(w, &rec);
		memset(&rec, 0, sizeof(rec));
		rec.type = VCR_REC_CKPT_PAGES;
		rec.u.ckpt_pages.number = e / 4;
		rec.u.ckpt_pages.count = ns;
		rec.u.ckpt_pages.len = n;
		rec.u.ckpt_pages.data = enc;
		if (ns)
			rc |= vcr_writer_append(w, &rec);
		dirty = 0;
	}
	rc |= vcr_writer_close(w);
	return rc ? 1 : 0;
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
	rc |= pc_like(argv[1]);
	rc |= checkpoints(argv[1]);
	return rc;
}
