/*
 * tests/unit/ckpt_xor.c: the XOR page encoding of CKPT_PAGES (tag 3,
 * docs/format.md): the bytes vcr_ckpt_page_put_xor writes, worked out by
 * hand from the format; vcr_ckpt_xor_apply and vcr_ckpt_pages_scan on
 * good and malformed runs; and the cursor serving XOR pages at exits of a
 * trace: a chain of two XORs on a raw page, a repeat of an XOR page, an
 * XOR whose `back` names a checkpoint that did not store the page (the
 * writer's previous version was lost: unknown), and one whose base record
 * is damaged (unknown).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/trace.h"
#include "replayer/cursor.h"
#include "tests/lib/tap.h"

#define PG VCR_CKPT_PAGE

static uint8_t prev[PG], page[PG], enc[4 * (PG + 11)];

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

/* CKPT number n of a 4-page region at 0 storing `stored`, then one
 * CKPT_PAGES of `count` encodings (len bytes at enc). */
static int put_ckpt(struct vcr_writer *w, uint64_t n, uint8_t stored, uint32_t count, size_t len)
{
	struct vcr_record r;
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_CKPT;
	r.u.ckpt.number = n;
	r.u.ckpt.npages = 4;
	r.u.ckpt.dirty = r.u.ckpt.stored = &stored;
	int rc = vcr_writer_append(w, &r);
	if (rc || !count)
		return rc;
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_CKPT_PAGES;
	r.u.ckpt_pages.number = n;
	r.u.ckpt_pages.count = count;
	r.u.ckpt_pages.len = len;
	r.u.ckpt_pages.data = enc;
	return vcr_writer_append(w, &r);
}

static int read_page(struct vcr_cursor *c, uint64_t e, uint32_t p, uint8_t *out)
{
	int rc = vcr_cursor_seek(c, e);
	return rc ? rc : vcr_cursor_read_mem_stale(c, (uint64_t)p * PG, out, PG);
}

int main(void)
{
	static struct vcr_ckpt_page sc[4];
	static uint8_t p0[PG], p1[PG], p2[PG], q0[PG], q1[PG], got[PG], t[PG];
	tap_plan(16);

	/* prev all 'A'; page: "BCDE" at 100 and 'Z' at 4000. XOR bytes
	 * 'A'^'B' = 03, ^'C' = 02, ^'D' = 05, ^'E' = 04, ^'Z' = 1b; the
	 * second run's gap is 4000 - 104 = 3896 = varint b8 1e. */
	memset(prev, 'A', PG);
	memcpy(page, prev, PG);
	memcpy(page + 100, "BCDE", 4);
	page[4000] = 'Z';
	static const uint8_t want1[] = { 3, 2, 2, 100, 4, 0x03, 0x02, 0x05, 0x04, 0xb8, 0x1e,
					 1, 0x1b };
	size_t n = vcr_ckpt_page_put_xor(enc, page, prev, 2);
	tap_ok(n == sizeof(want1) && !memcmp(enc, want1, n),
	       "two runs: tag 3, back 2, 2 runs, (100, 4, 03 02 05 04), (3896, 1, 1b): 13 bytes (%zu)",
	       n);
	/* Diffs at 10 and 12 (one equal byte between): one run of 3 with the
	 * XOR zero inside. */
	memset(prev, 0, PG);
	memset(page, 0, PG);
	page[10] = 1;
	page[12] = 2;
	static const uint8_t want2[] = { 3, 1, 1, 10, 3, 1, 0, 2 };
	n = vcr_ckpt_page_put_xor(enc, page, prev, 1);
	tap_ok(n == sizeof(want2) && !memcmp(enc, want2, n), "1 equal byte between: one run (%zu)", n);
	/* Diffs at 10 and 14 (three equal bytes): two runs. */
	page[12] = 0;
	page[14] = 2;
	static const uint8_t want3[] = { 3, 1, 2, 10, 1, 1, 3, 1, 2 };
	n = vcr_ckpt_page_put_xor(enc, page, prev, 1);
	tap_ok(n == sizeof(want3) && !memcmp(enc, want3, n), "3 equal bytes between: two runs (%zu)",
	       n);
	/* Every byte changed: 4096 bytes of runs and their varints, more than
	 * raw's 4097. Nothing changed, or back 0: no XOR either. */
	memset(page, 0xff, PG);
	tap_ok(vcr_ckpt_page_put_xor(enc, page, prev, 1) == 0, "a page changed everywhere: not XOR");
	tap_ok(vcr_ckpt_page_put_xor(enc, prev, prev, 1) == 0 &&
	       vcr_ckpt_page_put_xor(enc, page, prev, 0) == 0, "an unchanged page, back 0: not XOR");

	/* Apply: want1's runs (after tag and back) on 'A's give the page. */
	memset(t, 'A', PG);
	int rc = vcr_ckpt_xor_apply(t, want1 + 2, sizeof(want1) - 2);
	tap_ok(rc == 0 && !memcmp(t + 100, "BCDE", 4) && t[4000] == 'Z' && t[99] == 'A' &&
	       t[104] == 'A' && t[4001] == 'A', "apply gives BCDE at 100 and Z at 4000");
	static const uint8_t past[] = { 1, 0x80, 0x20, 1, 7 };		/* gap 4096, len 1 */
	static const uint8_t none[] = { 0 };				/* no runs */
	static const uint8_t zlen[] = { 1, 5, 0 };			/* a run of 0 */
	static const uint8_t cut[] = { 1, 5, 4, 1, 2 };			/* 2 of 4 bytes */
	memset(t, 'A', PG);
	tap_ok(vcr_ckpt_xor_apply(t, past, sizeof(past)) == -EBADMSG &&
	       vcr_ckpt_xor_apply(t, none, sizeof(none)) == -EBADMSG &&
	       vcr_ckpt_xor_apply(t, zlen, sizeof(zlen)) == -EBADMSG &&
	       vcr_ckpt_xor_apply(t, cut, sizeof(cut)) == -EBADMSG &&
	       vcr_ckpt_xor_apply(t, want1 + 2, sizeof(want1) - 3) == -EBADMSG && t[100] == 'A',
	       "apply refuses runs past the page, none, of length 0, cut short; page unchanged");

	/* Scan: zero, then want1 as a page, then raw. */
	memset(page, 7, PG);
	n = 0;
	enc[n++] = 0;
	memcpy(enc + n, want1, sizeof(want1));
	n += sizeof(want1);
	n += vcr_ckpt_page_put(enc + n, page, UINT64_MAX);
	rc = vcr_ckpt_pages_scan(enc, n, 0, 3, sc);
	tap_ok(rc == 0 && sc[1].enc == VCR_CKPT_XOR && sc[1].ref == 2 && sc[1].off == 3 &&
	       sc[1].len == sizeof(want1) - 2 && sc[2].enc == VCR_CKPT_RAW && sc[2].off == 15,
	       "scan: XOR with back 2, runs at 3, 11 bytes; the raw page after it at 15");
	enc[2] = 0;	/* back 0 */
	int r0 = vcr_ckpt_pages_scan(enc, n, 0, 3, sc);
	enc[2] = 2;
	enc[4] = 0xff;	/* first gap 639, len 3: the second run ends past the page */
	int r1 = vcr_ckpt_pages_scan(enc, n, 0, 3, sc);
	tap_ok(r0 == -EBADMSG && r1 == -EBADMSG, "scan refuses back 0 and runs that do not fit");

	/* Through the cursor. Page 0: raw P0 at #0, XOR P1 at #1, XOR P2 at
	 * #2 (a chain of two). Page 1: raw Q0 at #0, XOR Q1 at #1, and at #2
	 * a repeat of ordinal 0 (page 0's XOR). Page 2: raw at #0, not at
	 * #1, XOR with back 1 at #2 (names #1, which did not store it: the
	 * writer's previous version is lost). Page 3: raw at #0 in a record
	 * of its own, damaged (tag 9), XOR at #1. */
	for (uint32_t i = 0; i < PG; i++) {
		p0[i] = (uint8_t)("static int x;\n"[i % 14]);
		q0[i] = (uint8_t)(i * 13 + 5);
	}
	memcpy(p1, p0, PG);
	memcpy(p1 + 64, "changed", 7);
	memcpy(p2, p1, PG);
	p2[3000] ^= 0x55;
	memcpy(q1, q0, PG);
	q1[0] ^= 1;
	char path[] = "/tmp/vcr-ckpt-xor-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd);
	const struct vcr_mem_region mem = { 0, 4 * PG, 0 };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = 1, .mem = &mem, .nmem = 1,
	};
	struct vcr_writer *w;
	struct vcr_err err;
	if (vcr_writer_open(&w, path, &info, NULL, &err))
		tap_bail("writer: %s", err.msg);
	rc = put_exit(w, 0);
	n = vcr_ckpt_page_put(enc, p0, UINT64_MAX);
	n += vcr_ckpt_page_put(enc + n, q0, UINT64_MAX);
	n += vcr_ckpt_page_put(enc + n, p0, UINT64_MAX);
	rc = rc ? rc : put_ckpt(w, 0, 0x0f, 3, n);
	{
		/* Page 3 (ordinal 3): tag 9, no such encoding. */
		struct vcr_record r;
		memset(&r, 0, sizeof(r));
		enc[0] = 9;
		r.type = VCR_REC_CKPT_PAGES;
		r.u.ckpt_pages.number = 0;
		r.u.ckpt_pages.first = 3;
		r.u.ckpt_pages.count = 1;
		r.u.ckpt_pages.len = 1;
		r.u.ckpt_pages.data = enc;
		rc = rc ? rc : vcr_writer_append(w, &r);
	}
	rc = rc ? rc : put_exit(w, 1);
	n = vcr_ckpt_page_put_xor(enc, p1, p0, 1);
	size_t n1 = n;
	n += vcr_ckpt_page_put_xor(enc + n, q1, q0, 1);
	size_t n2 = n;
	memcpy(page, p0, PG);
	page[5] ^= 1;
	n += vcr_ckpt_page_put_xor(enc + n, page, p0, 1);	/* page 3 */
	rc = rc ? rc : (n1 && n2 > n1 && n > n2 ? 0 : -EINVAL);
	rc = rc ? rc : put_ckpt(w, 1, 0x0b, 3, n);
	rc = rc ? rc : put_exit(w, 2);
	n = vcr_ckpt_page_put_xor(enc, p2, p1, 1);
	enc[n++] = VCR_CKPT_REPEAT;
	enc[n++] = 0;
	memcpy(page, p0, PG);
	page[7] ^= 1;
	n += vcr_ckpt_page_put_xor(enc + n, page, p0, 1);	/* page 2: back 1 */
	rc = rc ? rc : put_ckpt(w, 2, 0x07, 3, n);
	rc = rc ? rc : put_exit(w, 3);
	rc = rc ? rc : put_ckpt(w, 3, 0x00, 0, 0);
	if (rc) {
		vcr_writer_abort(w);
		tap_bail("writing the trace: %d", rc);
	}
	if (vcr_writer_close(w))
		tap_bail("closing the trace");
	struct vcr_cursor *c;
	if (vcr_cursor_open(&c, path, &err))
		tap_bail("cursor: %s", err.msg);
	tap_ok(read_page(c, 1, 0, got) == 0 && !memcmp(got, p1, PG) &&
	       read_page(c, 1, 1, t) == 0 && !memcmp(t, q1, PG),
	       "exit 1: pages 0 and 1 are P0 XOR their runs (P1, Q1)");
	tap_ok(read_page(c, 2, 0, got) == 0 && !memcmp(got, p2, PG),
	       "exit 2: page 0 through a chain of two XORs (P2)");
	/* Page 1 at #2 repeats ordinal 0: page 0's XOR, applied to page 0's
	 * previous version (P1), not page 1's. */
	tap_ok(read_page(c, 2, 1, got) == 0 && !memcmp(got, p2, PG),
	       "exit 2: page 1, a repeat of page 0's XOR, is P2");
	tap_ok(read_page(c, 2, 2, got) == -ENOENT,
	       "exit 2: page 2's XOR names checkpoint #1, which did not store it: unknown");
	tap_ok(read_page(c, 1, 3, got) == -ENOENT && read_page(c, 3, 3, got) == -ENOENT,
	       "page 3's XOR on a damaged base: unknown at exits 1 and 3");
	/* Fresh cursor, straight to the end: the chain decodes from cold. */
	vcr_cursor_close(c);
	if (vcr_cursor_open(&c, path, &err))
		tap_bail("cursor: %s", err.msg);
	tap_ok(read_page(c, 3, 1, got) == 0 && !memcmp(got, p2, PG) &&
	       read_page(c, 3, 0, t) == 0 && !memcmp(t, p2, PG) &&
	       read_page(c, 0, 0, got) == 0 && !memcmp(got, p0, PG),
	       "a fresh cursor: pages 1 and 0 at exit 3 (P2), page 0 at exit 0 (P0)");
	struct vcr_cursor_mem_info mi;
	rc = vcr_cursor_mem_info(c, &mi);
	tap_ok(rc == 0 && mi.damaged == 1,
	       "one damaged record (page 3's raw), %llu", (unsigned long long)mi.damaged);
	vcr_cursor_close(c);
	unlink(path);
	return tap_exit_status();
}
