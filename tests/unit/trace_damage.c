/*
 * tests/unit/trace_damage.c: damaged and foreign traces.
 *  - a trace cut at every byte offset reads back every chunk that lies
 *    wholly before the cut, identical, and reports the cut;
 *  - a bit flipped at every byte offset is detected (checksum) and reported
 *    with an offset, and never yields a wrong record;
 *  - a trace with another struct layout, arch or major version is refused
 *    with a message saying so;
 *  - unknown optional records and header fields are skipped, unknown
 *    required ones refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "formats/trace.h"
#define VCR_TEST_HOOKS	/* trf_writer_append_raw (libvcr-test.a) */
#include "formats/trace_fmt.h"
#include "tests/lib/tap.h"
#include "tests/unit/trace_gen.h"

#define NRECS 200
#define NVCPUS 2

static char dir[200], full[256], part[256];
static struct tgen gen;
static struct vcr_record rec, want, got;
static struct vcr_record *exits;	/* expected EXIT records by seq */
static uint64_t nexits;

static uint8_t *slurp(const char *p, size_t *len)
{
	struct stat sb;
	int fd = open(p, O_RDONLY);
	if (fd < 0 || fstat(fd, &sb))
		return NULL;
	uint8_t *b = malloc((size_t)sb.st_size + 1);
	if (b && read(fd, b, (size_t)sb.st_size) != sb.st_size) {
		free(b);
		b = NULL;
	}
	close(fd);
	*len = (size_t)sb.st_size;
	return b;
}

static int spit(const char *p, const uint8_t *b, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, b, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Write the sample: NRECS records, small chunks; with unknown records of
 * tag `extra_tag` after every 10th record when extra_tag != 0. */
static int write_sample(const char *p, uint8_t extra_tag)
{
	struct vcr_trace_info info;
	struct vcr_writer_opts o = { .chunk_exits = 16 };
	struct vcr_writer *w;
	struct vcr_err err;
	tgen_info(&info, NVCPUS);
	if (vcr_writer_open(&w, p, &info, &o, &err))
		return -1;
	tgen_init(&gen, 42, NVCPUS);
	gen.small = true;
	for (int i = 0; i < NRECS; i++) {
		tgen_next(&gen, &rec, &want);
		if (vcr_writer_append(w, &rec))
			return -1;
		if (extra_tag && i % 10 == 5) {
			static const uint8_t body[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
			if (trf_writer_append_raw(w, extra_tag, body, sizeof(body)))
				return -1;
		}
	}
	return vcr_writer_close(w);
}

struct result {
	int open_rc;
	struct vcr_err open_err;
	int nerr;			/* next() errors */
	struct vcr_err first_err;
	uint64_t nrecs, nexits;
	bool wrong;			/* a record that is not the one written */
	struct vcr_reader_stats st;
};

/* Open and read everything, checking each EXIT against the expected one. */
static void read_all(const char *p, struct result *res)
{
	struct vcr_reader *r;
	memset(res, 0, sizeof(*res));
	res->open_rc = vcr_reader_open(&r, p, &res->open_err);
	if (res->open_rc)
		return;
	for (int guard = 0; guard < 100000; guard++) {
		int rc = vcr_reader_next(r, &got);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (!res->nerr++)
				res->first_err = *vcr_reader_error(r);
			continue;
		}
		res->nrecs++;
		if (got.type == VCR_REC_EXIT) {
			char why[320];
			res->nexits++;
			if (got.seq >= nexits || !tgen_same(&got, &exits[got.seq], why, sizeof(why)))
				res->wrong = true;
		}
	}
	vcr_reader_get_stats(r, &res->st);
	vcr_reader_close(r);
}

/* Chunk boundaries of the sample, from its chunk headers. */
static size_t chunk_ends(const uint8_t *b, size_t len, uint64_t start, uint64_t *ends,
			 uint64_t *exits_before, size_t max)
{
	size_t n = 0;
	uint64_t pos = start, ex = 0;
	while (n < max && pos + TRF_CHUNK_HDR_FIXED <= len && !memcmp(b + pos, TRF_CHUNK_MAGIC, 8)) {
		size_t hs = TRF_CHUNK_HDR_FIXED + 8 * NVCPUS + 8;
		uint64_t size = trf_align(hs + trf_get32(b + pos + 32) + trf_get32(b + pos + 40));
		ex += trf_get32(b + pos + 24);
		pos += size;
		exits_before[n] = ex;
		ends[n++] = pos;
	}
	return n;
}

static void test_cuts(const uint8_t *b, size_t len, uint64_t hdr)
{
	uint64_t ends[256], exb[256];
	size_t nch = chunk_ends(b, len, hdr, ends, exb, 256);
	size_t bad = 0, first_bad = 0;
	char why[400] = "";
	tap_diag("sample: %zu bytes, header %llu, %zu chunks", len, (unsigned long long)hdr, nch);
	for (size_t k = 0; k < len; k++) {
		struct result res;
		if (spit(part, b, k)) {
			bad++;
			continue;
		}
		read_all(part, &res);
		bool ok;
		if (k < hdr) {
			ok = res.open_rc < 0 && res.open_err.msg[0];
			if (!ok)
				snprintf(why, sizeof(why), "cut %zu in header: open rc %d", k, res.open_rc);
		} else {
			size_t whole = 0;
			while (whole < nch && ends[whole] <= k)
				whole++;
			uint64_t want_exits = whole ? exb[whole - 1] : 0;
			bool at_boundary = k == hdr || (whole && ends[whole - 1] == k);
			ok = res.open_rc == 0 && res.nerr == 0 && !res.wrong &&
			     res.nexits == want_exits && res.st.chunks == whole &&
			     !res.st.has_footer && res.st.truncated == !at_boundary;
			if (!ok)
				snprintf(why, sizeof(why),
					 "cut %zu: open %d (%s) errors %d wrong %d exits %llu/%llu chunks %llu/%zu truncated %d",
					 k, res.open_rc, res.open_err.msg, res.nerr, res.wrong,
					 (unsigned long long)res.nexits, (unsigned long long)want_exits,
					 (unsigned long long)res.st.chunks, whole, res.st.truncated);
		}
		if (!ok && !bad++)
			first_bad = k;
	}
	if (bad)
		tap_diag("%s", why);
	tap_ok(bad == 0, "cut at each of %zu offsets: complete chunks read, cut reported (%zu bad, first %zu)",
	       len, bad, first_bad);
}

static void test_flips(uint8_t *b, size_t len, uint64_t hdr)
{
	size_t undetected = 0, wrong = 0, no_offset = 0, first = SIZE_MAX;
	uint64_t rng = 7;
	for (size_t k = 0; k < len; k++) {
		struct result res;
		unsigned bit = (unsigned)((rng = rng * 6364136223846793005ull + 1) >> 61);
		b[k] ^= (uint8_t)(1u << bit);
		spit(part, b, len);
		b[k] ^= (uint8_t)(1u << bit);
		read_all(part, &res);
		bool detected = res.open_rc < 0 || res.nerr > 0 || !res.st.has_footer ||
				res.st.damaged_chunks > 0;
		if (!detected) {
			if (first == SIZE_MAX)
				first = k;
			undetected++;
		}
		if (res.wrong)
			wrong++;
		if (res.open_rc < 0 && res.open_err.offset == UINT64_MAX)
			no_offset++;
		if (res.nerr && (res.first_err.offset == UINT64_MAX || res.first_err.offset >= len))
			no_offset++;
		(void)hdr;
	}
	tap_ok(undetected == 0, "bit flip at each of %zu offsets detected (%zu undetected%s)",
	       len, undetected, first == SIZE_MAX ? "" : ", see the first below");
	if (first != SIZE_MAX)
		tap_diag("first undetected flip at offset %zu", first);
	tap_ok(wrong == 0, "no flipped trace yields a wrong record (%zu did)", wrong);
	tap_ok(no_offset == 0, "every reported damage names an offset inside the file (%zu did not)",
	       no_offset);
}

/* Find the header field `tag`: offset of its value in b, or 0. */
static size_t find_tlv(const uint8_t *b, size_t len, uint16_t tag)
{
	size_t end = TRF_FILE_HDR_SIZE + trf_get32(b + 12);
	for (size_t p = TRF_FILE_HDR_SIZE; p + 8 <= end && p + 8 <= len;
	     p += 8 + trf_get32(b + p + 4))
		if (trf_get16(b + p) == tag)
			return p + 8;
	return 0;
}

static void rehash_header(uint8_t *b)
{
	uint32_t flen = trf_get32(b + 12);
	trf_put64(b + 16, trf_hash(trf_hash(TRF_HASH_INIT, b, 16), b + TRF_FILE_HDR_SIZE, flen));
}

static void test_foreign(const uint8_t *b, size_t len)
{
	uint8_t *c = malloc(len + 64);
	struct result res;

	memcpy(c, b, len);
	size_t lay = find_tlv(c, len, TRF_TAG_LAYOUT);
	trf_put32(c + lay + 4, sizeof(struct kvm_sregs) + 8);
	rehash_header(c);
	spit(part, c, len);
	read_all(part, &res);
	char want_msg[128];
	snprintf(want_msg, sizeof(want_msg), "trace made with struct kvm_sregs of %zu bytes, this vcr has %zu",
		 sizeof(struct kvm_sregs) + 8, sizeof(struct kvm_sregs));
	tap_ok(lay && res.open_rc == -EPROTO && strstr(res.open_err.msg, want_msg),
	       "other kvm_sregs layout refused: \"%s\"", res.open_err.msg);

	memcpy(c, b, len);
	size_t arch = find_tlv(c, len, TRF_TAG_ARCH);
	trf_put32(c + arch, 2);
	rehash_header(c);
	spit(part, c, len);
	read_all(part, &res);
	tap_ok(arch && res.open_rc < 0 && strstr(res.open_err.msg, "architecture 2"),
	       "other architecture refused: \"%s\"", res.open_err.msg);

	memcpy(c, b, len);
	trf_put16(c + 8, TRF_MAJOR + 1);
	trf_put16(c + 10, 0);	/* the message names the file's minor: 2.0 */
	rehash_header(c);
	spit(part, c, len);
	read_all(part, &res);
	tap_ok(res.open_rc == -EPROTONOSUPPORT && strstr(res.open_err.msg, "format 2.0"),
	       "newer major version refused: \"%s\"", res.open_err.msg);

	/* Newer minor with an unknown optional header field: read as usual.
	 * The field shifts the chunks, so drop the footer (the reader scans). */
	size_t hdr = TRF_FILE_HDR_SIZE + trf_get32(b + 12);
	uint64_t ends[256], exb[256];
	size_t nch = chunk_ends(b, len, hdr, ends, exb, 256);
	size_t body = ends[nch - 1];
	static const uint8_t extra[12] = { 99, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4 };
	memcpy(c, b, hdr);
	memcpy(c + hdr, extra, sizeof(extra));
	memcpy(c + hdr + sizeof(extra), b + hdr, body - hdr);
	trf_put16(c + 10, TRF_MINOR + 3);
	trf_put32(c + 12, trf_get32(b + 12) + sizeof(extra));
	rehash_header(c);
	spit(part, c, body + sizeof(extra));
	read_all(part, &res);
	tap_ok(res.open_rc == 0 && res.nerr == 0 && !res.wrong && res.nexits == nexits,
	       "newer minor with unknown optional header field: %llu/%llu exits read (%s)",
	       (unsigned long long)res.nexits, (unsigned long long)nexits,
	       res.open_rc ? res.open_err.msg : "ok");
	c[hdr + 2] = TRF_TLV_REQUIRED;
	rehash_header(c);
	spit(part, c, body + sizeof(extra));
	read_all(part, &res);
	tap_ok(res.open_rc == -EPROTONOSUPPORT && strstr(res.open_err.msg, "required"),
	       "unknown required header field refused: \"%s\"", res.open_err.msg);
	free(c);
}

static void test_unknown_records(void)
{
	struct result res;
	int rc = write_sample(part, 0x30);
	read_all(part, &res);
	tap_ok(rc == 0 && res.open_rc == 0 && res.nerr == 0 && !res.wrong && res.nexits == nexits &&
	       res.nrecs == NRECS, "unknown optional record type skipped: %llu records, %llu exits",
	       (unsigned long long)res.nrecs, (unsigned long long)res.nexits);
	rc = write_sample(part, 0x80 | 0x30);
	read_all(part, &res);
	tap_ok(rc == 0 && res.open_rc == 0 && res.nerr > 0 && !res.wrong &&
	       res.first_err.code == -EPROTONOSUPPORT && strstr(res.first_err.msg, "record type 48"),
	       "unknown required record type reported: \"%s\"", res.first_err.msg);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s", tmp ? tmp : "/tmp");
	snprintf(full, sizeof(full), "%s/vcr-dmg-%d.vcr", dir, getpid());
	snprintf(part, sizeof(part), "%s/vcr-dmg-%d-part.vcr", dir, getpid());
	tap_plan(12);

	/* The expected exits, by seq. */
	exits = calloc(NRECS, sizeof(*exits));
	tgen_init(&gen, 42, NVCPUS);
	gen.small = true;
	for (int i = 0; i < NRECS; i++) {
		tgen_next(&gen, &rec, &want);
		if (want.type == VCR_REC_EXIT)
			exits[nexits++] = want;
	}
	size_t len = 0;
	uint8_t *b = NULL;
	if (write_sample(full, 0) || !(b = slurp(full, &len)))
		tap_bail("cannot write the sample trace");
	struct result res;
	read_all(full, &res);
	tap_ok(res.open_rc == 0 && res.nerr == 0 && !res.wrong && res.nexits == nexits &&
	       res.st.has_footer, "intact sample reads back (%llu exits, %zu bytes)",
	       (unsigned long long)res.nexits, len);
	uint64_t hdr = res.st.header_bytes;

	test_cuts(b, len, hdr);
	test_flips(b, len, hdr);
	test_foreign(b, len);
	test_unknown_records();
	unlink(full);
	unlink(part);
	free(b);
	free(exits);
	return tap_exit_status();
}
