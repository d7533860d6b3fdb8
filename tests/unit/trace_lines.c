/*
 * trace_lines: the IRQ_LINE (9) and NOTE (10) records of format 1.1, byte
 * for byte as docs/format.md gives them.
 *
 *  1. what the writer puts on disk: the records frame of the first chunk,
 *     decompressed here with zstd (not with the reader), holds exactly the
 *     bytes the spec describes, tag bit 7 clear (optional);
 *  2. what the reader makes of hand-made bodies (written raw, not by the
 *     writer's encoder): every field, vCPU and seq, a note with NULs and
 *     its length, an unknown note kind kept, the required bit on a known
 *     type accepted;
 *  3. a note longer than VCR_NOTE_MAX keeps its last bytes;
 *  4. damaged bodies (truncated varints, reserved flag bits, an
 *     asynchronous line on a vCPU other than 0) are reported as a malformed
 *     record of type 9 / 10 at the chunk's offset and payload byte, and
 *     reading goes on with the next chunk;
 *  5. the writer refuses what the format cannot say (reserved flags, a
 *     vCPU past nvcpus on a line change made for an exit).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "formats/trace.h"
#define VCR_TEST_HOOKS	/* trf_writer_append_raw (libvcr-test.a) */
#include "formats/trace_fmt.h"
#include "tests/lib/tap.h"

#define NVCPUS 2

static char path[256];
static struct vcr_record rec;

static struct vcr_trace_info info(void)
{
	static const struct vcr_mem_region region = { .gpa = 0, .size = 1 << 20 };
	struct vcr_trace_info i = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = NVCPUS, .mem = &region, .nmem = 1,
	};
	return i;
}

static struct vcr_writer *wopen(void)
{
	struct vcr_trace_info in = info();
	struct vcr_writer *w;
	struct vcr_err err;
	if (vcr_writer_open(&w, path, &in, NULL, &err))
		tap_bail("writer_open: %s", err.msg);
	return w;
}

static uint8_t *slurp(size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* The first chunk's records frame, decompressed; its file offset. */
static uint8_t *first_records(size_t *raw_len, uint64_t *chunk_off)
{
	size_t len;
	uint8_t *b = slurp(&len);
	if (!b || len < 24)
		return NULL;
	uint64_t off = 24 + (uint64_t)trf_get32(b + 12);
	uint8_t *out = NULL;
	if (off + 72 + 8 * NVCPUS <= len && !memcmp(b + off, "VCRCHUNK", 8)) {
		uint32_t kf_comp = trf_get32(b + off + 32), rec_comp = trf_get32(b + off + 40);
		uint32_t rec_raw = trf_get32(b + off + 44);
		uint64_t at = off + 72 + 8 * NVCPUS + kf_comp;
		out = malloc(rec_raw ? rec_raw : 1);
		if (out && at + rec_comp <= len &&
		    ZSTD_decompress(out, rec_raw, b + at, rec_comp) == rec_raw) {
			*raw_len = rec_raw;
			*chunk_off = off;
		} else {
			free(out);
			out = NULL;
		}
	}
	free(b);
	return out;
}

static void set_irq(uint32_t vcpu, uint32_t gsi, uint32_t level, uint32_t flags)
{
	memset(&rec, 0, sizeof(rec));
	rec.type = VCR_REC_IRQ_LINE;
	rec.vcpu = vcpu;
	rec.u.irq_line.gsi = gsi;
	rec.u.irq_line.level = level;
	rec.u.irq_line.flags = flags;
}

static void set_note(uint32_t vcpu, uint32_t kind, const char *text, uint32_t len)
{
	memset(&rec, 0, sizeof(rec));
	rec.type = VCR_REC_NOTE;
	rec.vcpu = vcpu;
	rec.u.note.kind = kind;
	rec.u.note.text = text;
	rec.u.note.len = len;
}

/* An EXIT of vCPU v (HLT, all-zero state but rip). */
static void set_exit(uint32_t v, uint64_t rip)
{
	memset(&rec, 0, sizeof(rec));
	rec.type = VCR_REC_EXIT;
	rec.vcpu = v;
	rec.u.exit.valid = VCR_CLASS_ALL;
	rec.u.exit.exit.reason = KVM_EXIT_HLT;
	rec.u.exit.state.regs.rip = rip;
}

static void test_bytes(void)
{
	static const char console[] = "Kernel panic - not syncing\n";
	struct vcr_writer *w = wopen();
	set_irq(1, 4, 1, 0);
	int rc = vcr_writer_append(w, &rec);
	set_irq(1, 300, 0, VCR_IRQ_ASYNC);	/* the writer ties it to vCPU 0 */
	rc |= vcr_writer_append(w, &rec);
	set_note(0, VCR_NOTE_CONSOLE_TAIL, console, sizeof(console) - 1);
	rc |= vcr_writer_append(w, &rec);
	rc |= vcr_writer_close(w);
	size_t n = 0;
	uint64_t off = 0;
	uint8_t *raw = rc ? NULL : first_records(&n, &off);
	/* tag, len, then the body: varint vcpu, gsi, level, flags / vcpu,
	 * kind, text. 300 = 0xac 0x02 as a varint. */
	static const uint8_t want[] = {
		0x09, 0x04, 0x01, 0x04, 0x01, 0x00,
		0x09, 0x05, 0x00, 0xac, 0x02, 0x00, 0x01,
		0x0a, 29, 0x00, 0x01, 'K', 'e', 'r', 'n', 'e', 'l', ' ', 'p', 'a', 'n', 'i', 'c',
		' ', '-', ' ', 'n', 'o', 't', ' ', 's', 'y', 'n', 'c', 'i', 'n', 'g', '\n',
	};
	tap_ok(raw && n == sizeof(want) && !memcmp(raw, want, n),
	       "writer: IRQ_LINE and NOTE bodies on disk as the spec says (%zu bytes, want %zu)",
	       n, sizeof(want));
	free(raw);

	size_t len;
	uint8_t *b = slurp(&len);
	tap_ok(b && len > 12 && trf_get16(b + 8) == 1 && trf_get16(b + 10) >= 1,
	       "the file says format 1.1 or later (1.2: checkpoints)");
	free(b);
}

struct got {
	int nrec, nerr;
	struct vcr_record r[8];
	char text[8][128];
	struct vcr_err err;
};

static void read_all(struct got *g)
{
	struct vcr_reader *r;
	struct vcr_err err;
	memset(g, 0, sizeof(*g));
	if (vcr_reader_open(&r, path, &err)) {
		tap_diag("reader_open: %s", err.msg);
		g->nerr = -1;
		return;
	}
	struct vcr_record x;
	for (int guard = 0; guard < 100; guard++) {
		int rc = vcr_reader_next(r, &x);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (!g->nerr++)
				g->err = *vcr_reader_error(r);
			continue;
		}
		if (g->nrec < 8) {
			g->r[g->nrec] = x;
			if (x.type == VCR_REC_NOTE && x.u.note.len < 128) {
				memcpy(g->text[g->nrec], x.u.note.text, x.u.note.len + 1);
				g->r[g->nrec].u.note.text = g->text[g->nrec];
			}
		}
		g->nrec++;
	}
	vcr_reader_close(r);
}

static void test_reader(void)
{
	struct vcr_writer *w = wopen();
	static const uint8_t irq[] = { 0x01, 0x04, 0x01, 0x00 };	/* vCPU 1, gsi 4, raised */
	static const uint8_t irq_req[] = { 0x01, 0x04, 0x00, 0x00 };	/* required bit set */
	static const uint8_t irq_async[] = { 0x00, 0x0c, 0x81, 0x01, 0x01 };	/* gsi 12, level 129 */
	static const uint8_t note[] = { 0x01, 0x01, 'o', 'o', 'p', 's', 0, '!', '\n' };
	static const uint8_t note_kind[] = { 0x00, 0xe7, 0x07, 'x' };	/* kind 999 */
	int rc = trf_writer_append_raw(w, 0x09, irq, sizeof(irq));	/* before any exit */
	set_exit(1, 0x1234);
	rc |= vcr_writer_append(w, &rec);
	rc |= trf_writer_append_raw(w, 0x89, irq_req, sizeof(irq_req));
	rc |= trf_writer_append_raw(w, 0x09, irq_async, sizeof(irq_async));
	rc |= trf_writer_append_raw(w, 0x0a, note, sizeof(note));
	rc |= trf_writer_append_raw(w, 0x0a, note_kind, sizeof(note_kind));
	rc |= vcr_writer_close(w);
	struct got g;
	read_all(&g);
	const struct vcr_record *r = g.r;
	tap_ok(rc == 0 && g.nerr == 0 && g.nrec == 6, "hand-made records read (%d records, %d errors)",
	       g.nrec, g.nerr);
	tap_ok(r[0].type == VCR_REC_IRQ_LINE && r[0].vcpu == 1 && r[0].seq == UINT64_MAX &&
	       r[0].u.irq_line.gsi == 4 && r[0].u.irq_line.level == 1 && r[0].u.irq_line.flags == 0,
	       "IRQ_LINE before the first exit: vCPU 1, gsi 4, level 1, no seq");
	tap_ok(r[2].type == VCR_REC_IRQ_LINE && r[2].vcpu == 1 && r[2].seq == 0 &&
	       r[2].u.irq_line.level == 0,
	       "IRQ_LINE with the required bit: a known type, read (seq 0, lowered)");
	tap_ok(r[3].type == VCR_REC_IRQ_LINE && r[3].vcpu == 0 && r[3].u.irq_line.gsi == 12 &&
	       r[3].u.irq_line.level == 129 && r[3].u.irq_line.flags == VCR_IRQ_ASYNC,
	       "asynchronous IRQ_LINE: gsi 12, level 129, VCR_IRQ_ASYNC");
	tap_ok(r[4].type == VCR_REC_NOTE && r[4].vcpu == 1 && r[4].seq == 0 &&
	       r[4].u.note.kind == VCR_NOTE_CONSOLE_TAIL && r[4].u.note.len == 7 &&
	       !memcmp(r[4].u.note.text, "oops\0!\n", 8) &&
	       !strcmp(vcr_note_kind_name(r[4].u.note.kind), "console-tail"),
	       "NOTE console-tail: 7 bytes with a NUL inside, NUL-terminated after them");
	tap_ok(r[5].type == VCR_REC_NOTE && r[5].u.note.kind == 999 && r[5].u.note.len == 1 &&
	       !strcmp(r[5].u.note.text, "x") && !strcmp(vcr_note_kind_name(999), "unknown"),
	       "NOTE of an unknown kind kept with its number");
}

static void test_long_note(void)
{
	size_t n = VCR_NOTE_MAX + 1000;
	char *t = malloc(n);
	for (size_t i = 0; i < n; i++)
		t[i] = (char)('a' + i % 26);
	struct vcr_writer *w = wopen();
	set_note(0, VCR_NOTE_CONSOLE_TAIL, t, (uint32_t)n);
	int rc = vcr_writer_append(w, &rec);
	rc |= vcr_writer_close(w);
	struct vcr_reader *r;
	struct vcr_err err;
	struct vcr_record x;
	bool ok = false;
	if (!rc && !vcr_reader_open(&r, path, &err)) {
		ok = vcr_reader_next(r, &x) == 1 && x.type == VCR_REC_NOTE &&
		     x.u.note.len == 65536 && !memcmp(x.u.note.text, t + 1000, 65536);
		vcr_reader_close(r);
	}
	tap_ok(ok, "a note over VCR_NOTE_MAX keeps its last 65536 bytes");
	free(t);
}

/* A chunk holding one bad body, then a chunk with an exit and a good line. */
static void bad_body(uint8_t tag, const uint8_t *body, size_t n, const char *what)
{
	struct vcr_writer *w = wopen();
	int rc = trf_writer_append_raw(w, tag, body, n);
	rc |= vcr_writer_flush(w);
	set_exit(0, 0x10);
	rc |= vcr_writer_append(w, &rec);
	set_irq(0, 4, 1, 0);
	rc |= vcr_writer_append(w, &rec);
	rc |= vcr_writer_close(w);
	size_t len;
	uint8_t *b = slurp(&len);
	uint64_t data_start = b && len > 16 ? 24 + (uint64_t)trf_get32(b + 12) : 0;
	free(b);
	struct got g;
	read_all(&g);
	char want[64];
	snprintf(want, sizeof(want), "(type %u) at payload byte 0", tag & 0x7f);
	tap_ok(rc == 0 && g.nerr == 1 && g.err.code == -EINVAL && g.err.offset == data_start &&
	       strstr(g.err.msg, want) && g.nrec == 2 && g.r[0].type == VCR_REC_EXIT &&
	       g.r[1].type == VCR_REC_IRQ_LINE && g.r[1].u.irq_line.gsi == 4,
	       "%s: reported at offset %llu (\"%s\"), the next chunk read", what,
	       (unsigned long long)g.err.offset, g.err.msg);
}

static void test_damage(void)
{
	static const uint8_t no_level[] = { 0x00, 0x04 };
	static const uint8_t cut_varint[] = { 0x00, 0x84 };
	static const uint8_t no_flags[] = { 0x00, 0x04, 0x01 };
	static const uint8_t flag2[] = { 0x00, 0x04, 0x01, 0x02 };
	static const uint8_t async_v1[] = { 0x01, 0x04, 0x01, 0x01 };
	static const uint8_t gsi_big[] = { 0x00, 0x80, 0x80, 0x80, 0x80, 0x10, 0x01, 0x00 };
	static const uint8_t note_cut[] = { 0x00, 0x81 };
	static const uint8_t note_vcpu[] = { 0x05, 0x01, 'x' };
	bad_body(0x09, no_level, sizeof(no_level), "IRQ_LINE without level");
	bad_body(0x09, cut_varint, sizeof(cut_varint), "IRQ_LINE with a cut gsi varint");
	bad_body(0x09, no_flags, sizeof(no_flags), "IRQ_LINE without flags");
	bad_body(0x09, flag2, sizeof(flag2), "IRQ_LINE with a reserved flag bit");
	bad_body(0x09, async_v1, sizeof(async_v1), "asynchronous IRQ_LINE on vCPU 1");
	bad_body(0x09, gsi_big, sizeof(gsi_big), "IRQ_LINE with a gsi over 32 bits");
	bad_body(0x0a, note_cut, sizeof(note_cut), "NOTE with a cut kind varint");
	bad_body(0x0a, note_vcpu, sizeof(note_vcpu), "NOTE for vCPU 5 of 2");
}

static void test_refused(void)
{
	struct vcr_writer *w = wopen();
	set_irq(0, 4, 1, 2);
	int a = vcr_writer_append(w, &rec);
	set_irq(NVCPUS, 4, 1, 0);
	int b = vcr_writer_append(w, &rec);
	set_irq(NVCPUS + 7, 4, 1, VCR_IRQ_ASYNC);
	int c = vcr_writer_append(w, &rec);
	vcr_writer_abort(w);
	tap_ok(a == -EINVAL && b == -EINVAL && c == 0,
	       "writer refuses reserved flags and a vCPU past nvcpus, not an async line (%d %d %d)",
	       a, b, c);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/vcr-lines-%d.vcr", tmp ? tmp : "/tmp", getpid());
	tap_plan(18);
	test_bytes();
	test_reader();
	test_long_note();
	test_damage();
	test_refused();
	unlink(path);
	return tap_exit_status();
}
