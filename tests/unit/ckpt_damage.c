/*
 * tests/unit/ckpt_damage.c: checkpoint records damaged inside a chunk whose
 * checksums match (a buggy or hostile writer: trf_writer_append_raw puts
 * the bytes in, the writer hashes them). Each is reported by its chunk's
 * file offset and skipped; the exits and other records of the chunk still
 * read, and the pages it should have held are unknown, never guessed.
 *
 * One vCPU, one region of 4 pages. Trace A:
 *   exit 0, CKPT #0 (pages 0-3 dirty, raw A0..A3); a new chunk
 *   exit 1, exit 2, CKPT #1 (0, 1 dirty): page 0 raw B0 (a good record),
 *           page 1 in a record whose encoding tag is 7 (no such encoding)
 *   exit 3, exit 4, CKPT #2 (2 dirty): its pages record has count 0 (a
 *           malformed header: the reader skips the record)
 *   exit 5, CKPT #3 (nothing dirty, final)
 * Classes by the model (docs/replay.md), by hand:
 *   exit 3 (checkpoint #1 at 2, #2 next): page 0 exact B0 (not dirty in
 *     #2); page 1 unknown (its version's record is damaged); page 2 stale
 *     with A2 (dirty in #2); page 3 exact A3
 *   exit 5 (checkpoint #3 at 5): page 0 exact B0, page 1 unknown, page 2
 *     unknown (#2's record lost), page 3 exact A3
 * Trace B: as A, but CKPT #1 itself is malformed (flags bit 5): the reader
 * skips it, its one good pages record then names no checkpoint (damage 2),
 * and the first damage described is the reader's.
 * Usage: ckpt_damage [SEED.vcr] (also writes trace A there: the fuzzers'
 * seed tests/fuzz/corpus/trace/ckpt-damaged-records.vcr).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/trace.h"
#define VCR_TEST_HOOKS	/* trf_writer_append_raw (libvcr-test.a) */
#include "formats/trace_fmt.h"
#include "replayer/cursor.h"
#include "tests/lib/tap.h"

#define PG VCR_CKPT_PAGE
#define NP 4

static uint8_t pa[NP][PG], b0[PG];

static int put_exit(struct vcr_writer *w, uint64_t e)
{
	struct vcr_record r;
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_EXIT;
	r.u.exit.valid = VCR_CLASS_ALL;
	r.u.exit.exit.reason = KVM_EXIT_HLT;
	r.u.exit.state.regs.rip = 0x1000 + e;
	vcr_state_normalize(&r.u.exit.state);
	return vcr_writer_append(w, &r);
}

static int put_ckpt(struct vcr_writer *w, uint64_t number, uint8_t dirty, uint32_t flags)
{
	struct vcr_record r;
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_CKPT;
	r.u.ckpt.number = number;
	r.u.ckpt.flags = flags;
	r.u.ckpt.gpa = 0;
	r.u.ckpt.npages = NP;
	r.u.ckpt.dirty = r.u.ckpt.stored = &dirty;
	return vcr_writer_append(w, &r);
}

static int put_pages(struct vcr_writer *w, uint64_t number, uint32_t first, uint32_t count,
		     const uint8_t (*pages)[PG])
{
	static uint8_t enc[NP * (PG + 11)];
	struct vcr_record r;
	size_t n = 0;
	for (uint32_t k = 0; k < count; k++)
		n += vcr_ckpt_page_put(enc + n, pages[k], UINT64_MAX);
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_CKPT_PAGES;
	r.u.ckpt_pages.number = number;
	r.u.ckpt_pages.gpa = 0;
	r.u.ckpt_pages.first = first;
	r.u.ckpt_pages.count = count;
	r.u.ckpt_pages.len = n;
	r.u.ckpt_pages.data = enc;
	return vcr_writer_append(w, &r);
}

/* Body bytes by hand (docs/format.md, record types 11 and 12, after the
 * body's varint vcpu, 0 here; all varints below 128 are one byte). */
static int put_raw(struct vcr_writer *w, unsigned type, const uint8_t *body, size_t len)
{
	return trf_writer_append_raw(w, (uint8_t)type, body, len);
}

static int write_trace(const char *path, bool bad_ckpt)
{
	const struct vcr_mem_region mem = { 0, NP * PG, 0 };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = 1, .mem = &mem, .nmem = 1,
	};
	struct vcr_writer *w;
	struct vcr_err err;
	int rc = vcr_writer_open(&w, path, &info, NULL, &err);
	if (rc)
		return rc;
	rc = put_exit(w, 0);
	rc = rc ? rc : put_ckpt(w, 0, 0x0f, 0);
	rc = rc ? rc : put_pages(w, 0, 0, NP, (const uint8_t (*)[PG])pa);
	/* The rest in a chunk of its own, whose offset the test knows. */
	rc = rc ? rc : vcr_writer_flush(w);
	rc = rc ? rc : put_exit(w, 1);
	rc = rc ? rc : put_exit(w, 2);
	if (bad_ckpt) {
		/* number 1, flags 0x20 (undefined), gpa 0, npages 4, dirty 0x03 */
		static const uint8_t ck[] = { 0, 1, 0x20, 0, NP, 0x03 };
		rc = rc ? rc : put_raw(w, VCR_REC_CKPT, ck, sizeof(ck));
	} else {
		rc = rc ? rc : put_ckpt(w, 1, 0x03, 0);
	}
	rc = rc ? rc : put_pages(w, 1, 0, 1, (const uint8_t (*)[PG])b0);
	if (!bad_ckpt) {
		/* number 1, gpa 0, first 1, count 1, then tag 7 and 4096 bytes */
		static uint8_t pg[5 + 1 + PG] = { 0, 1, 0, 1, 1, 7 };
		rc = rc ? rc : put_raw(w, VCR_REC_CKPT_PAGES, pg, sizeof(pg));
	}
	rc = rc ? rc : put_exit(w, 3);
	rc = rc ? rc : put_exit(w, 4);
	rc = rc ? rc : put_ckpt(w, 2, 0x04, 0);
	{
		/* number 2, gpa 0, first 0, count 0 (count is 1..1024), a raw page */
		static uint8_t pg[5 + 1 + PG] = { 0, 2, 0, 0, 0, 1 };
		rc = rc ? rc : put_raw(w, VCR_REC_CKPT_PAGES, pg, sizeof(pg));
	}
	rc = rc ? rc : put_exit(w, 5);
	rc = rc ? rc : put_ckpt(w, 3, 0x00, VCR_CKPT_FINAL);
	if (rc) {
		vcr_writer_abort(w);
		return rc;
	}
	return vcr_writer_close(w);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The file offset of the second chunk (the first starts at data_start = 24
 * + fields_len, the u32 at offset 12; a chunk's size is align8(72 + 8 *
 * nvcpus + kf_comp + rec_comp), docs/format.md), -1 unless the magic is
 * at both. */
static long second_chunk(const char *path)
{
	uint8_t h[16], c[48];
	int fd = open(path, O_RDONLY);
	long off = -1;
	if (fd >= 0 && pread(fd, h, 16, 0) == 16) {
		long ds = 24 + (long)le32(h + 12);
		if (pread(fd, c, 48, ds) == 48 && !memcmp(c, "VCRCHUNK", 8)) {
			long o = ds + (long)((72 + 8 + le32(c + 32) + le32(c + 40) + 7) & ~7u);
			if (pread(fd, c, 8, o) == 8 && !memcmp(c, "VCRCHUNK", 8))
				off = o;
		}
	}
	if (fd >= 0)
		close(fd);
	return off;
}

/* Class of page p at exit e, and its bytes when read lenient (or -1). */
static int class_at(struct vcr_cursor *c, uint64_t e, int p, const uint8_t *want)
{
	struct vcr_mem_range r;
	static uint8_t buf[PG];
	if (vcr_cursor_seek(c, e) || vcr_cursor_mem_class(c, (uint64_t)p * PG, &r))
		return -1;
	if (r.cls != VCR_MEM_UNKNOWN && r.len != PG)
		return -2;
	if (want && (vcr_cursor_read_mem_stale(c, (uint64_t)p * PG, buf, PG) ||
		     memcmp(buf, want, PG)))
		return -3;
	if (!want && vcr_cursor_read_mem_stale(c, (uint64_t)p * PG, buf, PG) != -ENOENT)
		return -4;
	return (int)r.cls;
}

int main(int argc, char **argv)
{
	char path[] = "/tmp/vcr-ckpt-damage-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd);
	tap_plan(13);
	for (int p = 0; p < NP; p++)
		for (unsigned i = 0; i < PG; i++)
			pa[p][i] = (uint8_t)(i * (2 * p + 3) + p + 1);
	for (unsigned i = 0; i < PG; i++)
		b0[i] = (uint8_t)(0xb0 ^ i);

	if (argc > 1 && write_trace(argv[1], false))
		tap_bail("cannot write %s", argv[1]);
	if (write_trace(path, false))
		tap_bail("writing trace A");
	long coff = second_chunk(path);
	char want_off[64];
	snprintf(want_off, sizeof(want_off), "chunk at offset %ld,", coff);

	/* The reader: every exit, one record skipped, named by offset. */
	struct vcr_reader *rd;
	struct vcr_err err;
	static struct vcr_record rec;
	int rc = vcr_reader_open(&rd, path, &err), errs = 0, nexit = 0, npages = 0;
	if (rc)
		tap_bail("reader: %s", err.msg);
	while ((rc = vcr_reader_next(rd, &rec)) != 0) {
		if (rc < 0) {
			errs++;
			continue;
		}
		nexit += rec.type == VCR_REC_EXIT;
		npages += rec.type == VCR_REC_CKPT_PAGES;
	}
	struct vcr_reader_stats st;
	vcr_reader_get_stats(rd, &st);
	char want_rd[96];
	snprintf(want_rd, sizeof(want_rd), "chunk at offset %ld: malformed CKPT_PAGES record", coff);
	tap_ok(errs == 0 && nexit == 6 && npages == 3 && st.damaged_chunks == 0,
	       "reader: 6 exits, 3 good pages records, no error, no chunk lost (%d errors, %d exits, %d pages)",
	       errs, nexit, npages);
	tap_ok(st.damaged_records == 1 && strstr(st.damaged_record_msg, want_rd) &&
	       strstr(st.damaged_record_msg, "payload byte"),
	       "reader: the count-0 record skipped alone, named by chunk offset %ld (%s)", coff,
	       st.damaged_record_msg);
	vcr_reader_close(rd);

	/* The cursor. */
	struct vcr_cursor *c;
	if (vcr_cursor_open(&c, path, &err))
		tap_bail("cursor: %s", err.msg);
	struct vcr_cursor_mem_info mi;
	rc = vcr_cursor_mem_info(c, &mi);
	tap_ok(rc == 0 && vcr_cursor_nexits(c) == 6 && mi.checkpoints == 4 && mi.damaged == 2,
	       "cursor: 6 exits, 4 checkpoints, 2 damaged records (%llu, %llu)",
	       (unsigned long long)mi.checkpoints, (unsigned long long)mi.damaged);
	tap_ok(rc == 0 && strstr(mi.damage_msg, "checkpoint #1 pages 1..1") &&
	       strstr(mi.damage_msg, want_off) && strstr(mi.damage_msg, "malformed page encodings"),
	       "cursor: the first damage is #1's tag-7 page, by chunk offset (%s)",
	       rc ? "" : mi.damage_msg);
	tap_ok(class_at(c, 0, 1, pa[1]) == VCR_MEM_EXACT && class_at(c, 0, 2, pa[2]) == VCR_MEM_EXACT,
	       "exit 0: pages 1 and 2 exact, as checkpoint #0 stored them");
	tap_ok(class_at(c, 3, 0, b0) == VCR_MEM_EXACT, "exit 3: page 0 exact, B0 (#1's good record)");
	tap_ok(class_at(c, 3, 1, NULL) == VCR_MEM_UNKNOWN,
	       "exit 3: page 1 unknown (its version's record is damaged), refused (%d)",
	       class_at(c, 3, 1, NULL));
	tap_ok(class_at(c, 3, 2, pa[2]) == VCR_MEM_STALE && class_at(c, 3, 3, pa[3]) == VCR_MEM_EXACT,
	       "exit 3: page 2 stale with A2 (dirty in #2), page 3 exact A3");
	tap_ok(class_at(c, 5, 0, b0) == VCR_MEM_EXACT && class_at(c, 5, 3, pa[3]) == VCR_MEM_EXACT &&
	       class_at(c, 5, 1, NULL) == VCR_MEM_UNKNOWN && class_at(c, 5, 2, NULL) == VCR_MEM_UNKNOWN,
	       "exit 5: pages 0 and 3 exact, 1 and 2 unknown (#2's pages record lost)");
	vcr_cursor_close(c);

	/* Trace B: the CKPT itself malformed. */
	if (write_trace(path, true))
		tap_bail("writing trace B");
	coff = second_chunk(path);
	snprintf(want_rd, sizeof(want_rd), "chunk at offset %ld: malformed CKPT record", coff);
	if (vcr_cursor_open(&c, path, &err))
		tap_bail("cursor B: %s", err.msg);
	rc = vcr_cursor_mem_info(c, &mi);
	tap_ok(rc == 0 && vcr_cursor_nexits(c) == 6 && mi.checkpoints == 3 && mi.damaged == 3,
	       "B: 6 exits, 3 checkpoints, 3 damaged: CKPT #1, its pages, #2's pages (%llu, %llu)",
	       (unsigned long long)mi.checkpoints, (unsigned long long)mi.damaged);
	tap_ok(rc == 0 && strstr(mi.damage_msg, want_rd),
	       "B: the first damage described is the skipped CKPT, by chunk offset (%s)",
	       rc ? "" : mi.damage_msg);
	/* #1 lost: a missing number between #0 and #2. At exit 3 page 0's
	 * source is #0 (before the gap): stale, A0; page 3 too. */
	tap_ok(class_at(c, 3, 0, pa[0]) == VCR_MEM_STALE && class_at(c, 3, 3, pa[3]) == VCR_MEM_STALE,
	       "B: exit 3: pages 0 and 3 stale with #0's bytes (checkpoint #1 is missing)");
	tap_ok(class_at(c, 1, 0, pa[0]) == VCR_MEM_STALE,
	       "B: exit 1: page 0 stale (the checkpoint after it is missing)");
	vcr_cursor_close(c);
	unlink(path);
	return tap_exit_status();
}
