/*
 * tests/unit/trace_ckpt.c: the memory checkpoint records (CKPT, CKPT_PAGES)
 * through the writer and the reader: page encodings (zero, raw, repeat)
 * round-trip, vcr_ckpt_pages_scan refuses malformed encodings, the writer
 * refuses bad flags, the reader's tell/read_at finds a record again, and a
 * damaged checkpoint chunk is reported with its offset and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/trace.h"
#include "tests/lib/tap.h"

static struct vcr_record exit_rec(void)
{
	struct vcr_record r;
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_EXIT;
	r.u.exit.valid = VCR_CLASS_ALL;
	r.u.exit.exit.reason = KVM_EXIT_HLT;
	vcr_state_normalize(&r.u.exit.state);
	return r;
}

int main(void)
{
	static uint8_t pages[4][VCR_CKPT_PAGE], enc[4 * (VCR_CKPT_PAGE + 11)];
	static struct vcr_record rec;
	static struct vcr_ckpt_page sc[8];
	char path[] = "/tmp/vcr-trace-ckpt-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd);
	tap_plan(12);

	/* Page 0 zero, 1 and 3 equal (3 repeats 1), 2 another pattern. */
	for (int i = 0; i < (int)VCR_CKPT_PAGE; i++) {
		pages[1][i] = (uint8_t)(i * 7 + 1);
		pages[2][i] = (uint8_t)(i ^ 0x5a);
		pages[3][i] = pages[1][i];
	}
	size_t n = 0;
	n += vcr_ckpt_page_put(enc + n, pages[0], UINT64_MAX);
	n += vcr_ckpt_page_put(enc + n, pages[1], UINT64_MAX);
	n += vcr_ckpt_page_put(enc + n, pages[2], UINT64_MAX);
	n += vcr_ckpt_page_put(enc + n, pages[3], 1);
	tap_is_u64(n, 1 + (1 + VCR_CKPT_PAGE) * 2 + 2, "zero page 1 byte, raw 4097, repeat 2");
	int rc = vcr_ckpt_pages_scan(enc, n, 0, 4, sc);
	tap_ok(rc == 0 && sc[0].enc == VCR_CKPT_ZERO && sc[1].enc == VCR_CKPT_RAW &&
	       !memcmp(enc + sc[1].off, pages[1], VCR_CKPT_PAGE) && sc[2].enc == VCR_CKPT_RAW &&
	       !memcmp(enc + sc[2].off, pages[2], VCR_CKPT_PAGE) &&
	       sc[3].enc == VCR_CKPT_REPEAT && sc[3].ref == 1, "scan finds the four encodings");
	tap_ok(vcr_ckpt_pages_scan(enc, n - 1, 0, 4, sc) == -EBADMSG &&
	       vcr_ckpt_pages_scan(enc, n, 0, 3, sc) == -EBADMSG,
	       "scan refuses a cut record and trailing bytes");
	uint8_t bad[3] = { VCR_CKPT_REPEAT, 5, 7 };
	tap_ok(vcr_ckpt_pages_scan(bad, 2, 5, 1, sc) == -EBADMSG &&
	       vcr_ckpt_pages_scan(bad, 2, 6, 1, sc) == 0 &&
	       vcr_ckpt_pages_scan(bad + 2, 1, 0, 1, sc) == -EBADMSG,
	       "a repeat must point below its ordinal; unknown tags are refused");

	struct vcr_mem_region mr = { .gpa = 0, .size = 1 << 20 };
	struct vcr_trace_info info = { .arch = VCR_ARCH_X86_64, .nvcpus = 1, .mem = &mr, .nmem = 1 };
	struct vcr_writer *w;
	struct vcr_err err;
	if (vcr_writer_open(&w, path, &info, NULL, &err))
		tap_bail("writer: %s", err.msg);
	uint8_t dirty[32] = { 0 }, stored[32] = { 0 };
	dirty[0] = 0x0f;	/* pages 0-3 */
	stored[0] = 0x0f;
	stored[1] = 0x01;	/* and page 8: a full checkpoint stores more */
	struct vcr_record e = exit_rec();
	int wrc = vcr_writer_append(w, &e);
	memset(&rec, 0, sizeof(rec));
	rec.type = VCR_REC_CKPT;
	rec.u.ckpt.number = 0;
	rec.u.ckpt.flags = 4;
	rec.u.ckpt.gpa = 0;
	rec.u.ckpt.npages = 256;
	rec.u.ckpt.dirty = dirty;
	int bad_flags = vcr_writer_append(w, &rec);
	rec.u.ckpt.flags = VCR_CKPT_FULL;
	rec.u.ckpt.gpa = 0x800;
	int bad_gpa = vcr_writer_append(w, &rec);
	tap_ok(bad_flags == -EINVAL && bad_gpa == -EINVAL, "writer refuses bad flags, unaligned gpa");
	rec.u.ckpt.gpa = 0;
	rec.u.ckpt.stored = stored;
	wrc |= vcr_writer_append(w, &rec);
	memset(&rec, 0, sizeof(rec));
	rec.type = VCR_REC_CKPT_PAGES;
	rec.u.ckpt_pages.number = 0;
	rec.u.ckpt_pages.first = 0;
	rec.u.ckpt_pages.count = 4;
	rec.u.ckpt_pages.len = n;
	rec.u.ckpt_pages.data = enc;
	wrc |= vcr_writer_append(w, &rec);
	e = exit_rec();
	wrc |= vcr_writer_append(w, &e);
	wrc |= vcr_writer_close(w);
	tap_ok(wrc == 0, "writer takes a full checkpoint between two exits");

	struct vcr_reader *rd;
	if (vcr_reader_open(&rd, path, &err))
		tap_bail("reader: %s", err.msg);
	struct vcr_reader_pos pos = { 0, 0 };
	bool ck = false, pg = false;
	while ((rc = vcr_reader_next(rd, &rec)) > 0) {
		if (rec.type == VCR_REC_CKPT) {
			ck = rec.seq == 0 && rec.u.ckpt.flags == VCR_CKPT_FULL &&
			     rec.u.ckpt.npages == 256 && !memcmp(rec.u.ckpt.dirty, dirty, 32) &&
			     !memcmp(rec.u.ckpt.stored, stored, 32);
		} else if (rec.type == VCR_REC_CKPT_PAGES) {
			pg = rec.seq == 0 && rec.u.ckpt_pages.count == 4 && rec.u.ckpt_pages.len == n &&
			     !memcmp(rec.u.ckpt_pages.data, enc, n);
			vcr_reader_tell(rd, &pos);
		}
	}
	tap_ok(rc == 0 && ck, "CKPT reads back: seq, flags, both bitmaps");
	tap_ok(pg, "CKPT_PAGES reads back byte for byte");
	memset(&rec, 0, sizeof(rec));
	rc = vcr_reader_read_at(rd, &pos, &rec);
	tap_ok(rc == 1 && rec.type == VCR_REC_CKPT_PAGES && rec.u.ckpt_pages.len == n &&
	       !memcmp(rec.u.ckpt_pages.data, enc, n), "read_at decodes the record again");
	struct vcr_reader_pos nowhere = { pos.chunk, pos.byte + 1 };
	tap_ok(vcr_reader_read_at(rd, &nowhere, &rec) < 0, "read_at refuses a position inside a record");
	vcr_reader_close(rd);

	/* Damage: flip a byte in the middle of the file (the page data sits
	 * in the one chunk): the reader reports the chunk by offset and
	 * goes on. */
	fd = open(path, O_RDWR);
	off_t size = lseek(fd, 0, SEEK_END);
	uint8_t b;
	if (fd < 0 || pread(fd, &b, 1, size / 2) != 1)
		tap_bail("reopen: %s", strerror(errno));
	b ^= 0x40;
	if (pwrite(fd, &b, 1, size / 2) != 1)
		tap_bail("pwrite: %s", strerror(errno));
	close(fd);
	rc = vcr_reader_open(&rd, path, &err);
	int saw_err = 0;
	if (!rc) {
		while ((rc = vcr_reader_next(rd, &rec)) != 0)
			if (rc < 0) {
				saw_err = strstr(vcr_reader_error(rd)->msg, "offset") != NULL;
				tap_diag("%s", vcr_reader_error(rd)->msg);
			}
		vcr_reader_close(rd);
	}
	tap_ok(saw_err || (rc && strstr(err.msg, "offset")), "damage is reported with its offset");
	/* Hostile encodings: every single-byte change of the encoded pages is
	 * either a valid scan or -EBADMSG, never a read past the record. */
	int ok = 1;
	for (size_t i = 0; i < 16 && ok; i++) {
		uint8_t c = enc[i * 257 % n];
		for (int v = 0; v < 256; v += 17) {
			enc[i * 257 % n] = (uint8_t)v;
			rc = vcr_ckpt_pages_scan(enc, n, 0, 4, sc);
			for (int k = 0; !rc && k < 4; k++)
				if (sc[k].enc == VCR_CKPT_RAW && sc[k].off + VCR_CKPT_PAGE > n)
					ok = 0;
			if (rc && rc != -EBADMSG)
				ok = 0;
		}
		enc[i * 257 % n] = c;
	}
	tap_ok(ok, "changed encodings scan or fail cleanly");
	unlink(path);
	return tap_exit_status();
}
