/* formats/trace_writer.c: the trace writer (see trace.h, docs/format.md).
 *
 * Why one file of this size: one concern, turning records into a trace
 * file, and one state all of it shares (struct vcr_writer: the per-vCPU
 * states deltas are taken against, the open chunk's buffers, the index the
 * footer writes). Inside, in the order a trace is written:
 *   header   the versioned header and its fields (layout, KVM, CPUID,
 *            memory layout, image)
 *   chunks   when a chunk ends (exit count, compressed-size target, probe
 *            of the ratio), keyframes, zstd, payload hashes, ring mode
 *   records  record encoding (XOR deltas against each vCPU's last state,
 *            exit payloads), append, flush, the footer and close */
#include "formats/trace.h"
#include "formats/trace_fmt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define W_DEFAULT_CHUNK_EXITS 3072u
/* With the default chunk size, a chunk also ends early (at an exit, after
 * at least one), because a seek decodes one chunk and its cost (checksum,
 * zstd, delta walk) grows with the chunk's compressed bytes:
 *  - once the records other than memory would compress to about
 *    W_CHUNK_TARGET_COMP bytes, estimated from their raw size at the last
 *    chunk's compression ratio. Before any chunk tells the ratio, the
 *    records so far are compressed as a probe when they reach W_PROBE_RAW
 *    bytes; a small sample compresses worse than a whole chunk, so while
 *    the ratio is only a probe's, reaching the target it predicts means
 *    compressing again: the chunk ends if that comes to at least 3/4 of
 *    the target, else the new, better ratio sets a larger target (each
 *    such step grows it by over a third, so there are few). Exits that
 *    compress well (port I/O loops: < 1 byte each) keep 3072 as their
 *    limit, so keyframes stay a small share; the target grows to 16
 *    keyframes' size so that the keyframes of many vCPUs never dominate.
 *  - once memory records (the loader's writes, page snapshots) reach
 *    W_CHUNK_MEM_ALONE bytes: they then sit in a chunk with only the exits
 *    they belong to, and seeks to the exits after them do not decompress
 *    them again. Chunks mostly made of memory do not set the ratio.
 * 4 KiB rather than 6 KiB: a cold seek is mostly this chunk's decode
 * (bench/cursor_bench: worst target 40 -> 30 us) for 4% more bytes on a
 * stream of 6 bytes an exit (docs/format.md, "Chunk size"). */
#define W_CHUNK_TARGET_COMP 4096u
#define W_PROBE_RAW (2 * W_CHUNK_TARGET_COMP)
#define W_CHUNK_MEM_ALONE (16u << 10)
#define W_RATIO_MIN_EXITS 64u
#define W_DEFAULT_FLUSH_EXITS 4096u
#define W_DEFAULT_LEVEL 1
/* Finish a chunk at a record boundary once its records reach this size, so
 * that a chunk never exceeds TRF_MAX_CHUNK_RAW (a record adds at most
 * TRF_MAX_REC_DATA plus a little). */
#define W_CHUNK_SOFT_RAW (8u << 20)
/* write() the pending chunks once they exceed this, whatever flush_exits. */
#define W_OUT_SOFT (8u << 20)
#define W_EXIT_BODY_MAX (2048u + VCR_EXIT_DATA_MAX)

struct w_chunk {
	uint64_t off, first_seq;
	uint32_t nexits, nrecords, size, kf_comp;
};

struct vcr_writer {
	int fd;
	uint32_t nvcpus;
	uint32_t chunk_exits, flush_exits;
	bool adaptive;			/* chunk_exits is the default: see W_CHUNK_TARGET_COMP */
	uint32_t ratio_q16;		/* records compressed/raw, 16.16; 0: unknown */
	bool ratio_probed;		/* ratio_q16 comes from a probe, not a chunk */
	uint64_t c_target;		/* raw non-memory bytes that end a chunk */
	size_t c_mem;			/* bytes of memory records in the chunk */
	size_t c_check;			/* rec_len below which w_chunk_full is false */
	int level;
	uint64_t ring_bytes;
	ZSTD_CCtx *cctx;

	struct vcr_vcpu_state *state;	/* per vCPU: last state */
	uint8_t *known;			/* per vCPU: state has been set */
	uint64_t *vexits;		/* per vCPU: exits so far */

	/* The chunk being built. */
	bool open;
	uint64_t c_first_seq;
	uint32_t c_exits, c_records;
	uint64_t *c_vfirst;		/* per vCPU exits before this chunk */
	uint8_t *kf;
	size_t kf_len, kf_cap;
	uint8_t *rec;
	size_t rec_len, rec_cap;

	/* Finished chunks not yet written, placed at file offset out_off. */
	uint8_t *out;
	size_t out_len, out_cap;
	uint64_t out_off;
	uint32_t out_exits;

	uint64_t data_start;		/* first chunk byte */
	uint64_t end_off;		/* file offset after the last chunk */
	uint64_t ring_end;		/* ring: the chunk area's size limit */

	struct w_chunk *idx;
	uint64_t *idx_vfirst;		/* nidx * nvcpus */
	size_t nidx, idx_cap;

	uint64_t seq;			/* exits so far */
	uint64_t nrecords;
	bool has_end;
	int failed;			/* sticky error */
	struct vcr_writer_stats st;
};

static int w_pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off,
			uint64_t *calls)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		(*calls)++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ------------------------------------------------------------- header */

struct w_buf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static uint8_t *wb_reserve(struct w_buf *b, size_t n)
{
	if (b->err)
		return NULL;
	if (trf_grow(&b->p, &b->cap, b->len + n)) {
		b->err = -ENOMEM;
		return NULL;
	}
	uint8_t *r = b->p + b->len;
	b->len += n;
	return r;
}

/* Start a TLV; returns the offset of its length field. */
static size_t wb_tlv(struct w_buf *b, uint16_t tag, uint16_t flags)
{
	uint8_t *p = wb_reserve(b, 8);
	if (!p)
		return 0;
	trf_put16(p, tag);
	trf_put16(p + 2, flags);
	trf_put32(p + 4, 0);
	return b->len - 4;
}

static void wb_tlv_end(struct w_buf *b, size_t lenpos)
{
	if (!b->err)
		trf_put32(b->p + lenpos, (uint32_t)(b->len - lenpos - 4));
}

static void wb_bytes(struct w_buf *b, const void *d, size_t n)
{
	uint8_t *p = wb_reserve(b, n);
	if (p && n)
		memcpy(p, d, n);
}

static void wb_u32(struct w_buf *b, uint32_t v)
{
	uint8_t *p = wb_reserve(b, 4);
	if (p)
		trf_put32(p, v);
}

static void wb_u64(struct w_buf *b, uint64_t v)
{
	uint8_t *p = wb_reserve(b, 8);
	if (p)
		trf_put64(p, v);
}

static void wb_str_tlv(struct w_buf *b, uint16_t tag, const char *s)
{
	size_t l = wb_tlv(b, tag, 0);
	wb_bytes(b, s, strlen(s));
	wb_tlv_end(b, l);
}

static int w_build_header(struct w_buf *b, const struct vcr_trace_info *info,
			  uint32_t chunk_exits, uint64_t ring_bytes,
			  int level, struct vcr_err *err)
{
	size_t l;
	uint8_t *fixed = wb_reserve(b, TRF_FILE_HDR_SIZE);
	if (!fixed)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");

	wb_str_tlv(b, TRF_TAG_TOOL_VERSION, VCR_VERSION);
	l = wb_tlv(b, TRF_TAG_ARCH, TRF_TLV_REQUIRED);
	wb_u32(b, info->arch ? info->arch : VCR_ARCH_X86_64);
	wb_tlv_end(b, l);
	l = wb_tlv(b, TRF_TAG_LAYOUT, TRF_TLV_REQUIRED);
	wb_u32(b, sizeof(struct kvm_regs));
	wb_u32(b, sizeof(struct kvm_sregs));
	wb_u32(b, sizeof(struct kvm_vcpu_events));
	wb_tlv_end(b, l);
	l = wb_tlv(b, TRF_TAG_KVM, 0);
	wb_u32(b, info->kvm_api_version);
	wb_u32(b, info->sync_regs_mask);
	wb_tlv_end(b, l);
	l = wb_tlv(b, TRF_TAG_NVCPUS, TRF_TLV_REQUIRED);
	wb_u32(b, info->nvcpus);
	wb_tlv_end(b, l);
	for (uint32_t i = 0; i < info->nmem; i++) {
		l = wb_tlv(b, TRF_TAG_MEM_REGION, 0);
		wb_u64(b, info->mem[i].gpa);
		wb_u64(b, info->mem[i].size);
		wb_u32(b, info->mem[i].flags);
		wb_tlv_end(b, l);
	}
	if (info->ncpuid) {
		l = wb_tlv(b, TRF_TAG_CPUID, 0);
		for (uint32_t i = 0; i < info->ncpuid; i++) {
			const struct kvm_cpuid_entry2 *e = &info->cpuid[i];
			wb_u32(b, e->function);
			wb_u32(b, e->index);
			wb_u32(b, e->flags);
			wb_u32(b, e->eax);
			wb_u32(b, e->ebx);
			wb_u32(b, e->ecx);
			wb_u32(b, e->edx);
		}
		wb_tlv_end(b, l);
	}
	if (info->image_mode != VCR_IMAGE_NONE) {
		const char *path = info->image_path ? info->image_path : "";
		if (info->image_mode != VCR_IMAGE_EMBEDDED &&
		    info->image_mode != VCR_IMAGE_REFERENCE)
			return vcr_err_set(err, -EINVAL, UINT64_MAX, "bad image mode %u",
					   info->image_mode);
		if (info->image_size > TRF_MAX_IMAGE)
			return vcr_err_set(err, -EFBIG, UINT64_MAX,
					   "guest image of %llu bytes is over the %llu limit",
					   (unsigned long long)info->image_size,
					   (unsigned long long)TRF_MAX_IMAGE);
		l = wb_tlv(b, TRF_TAG_IMAGE, 0);
		wb_u32(b, info->image_mode);
		wb_bytes(b, info->image_sha256, 32);
		wb_u64(b, info->image_size);
		wb_u32(b, (uint32_t)strlen(path));
		wb_bytes(b, path, strlen(path));
		if (info->image_mode == VCR_IMAGE_EMBEDDED) {
			size_t bound = ZSTD_compressBound(info->image_size);
			uint8_t *p = wb_reserve(b, bound);
			if (p) {
				size_t n = ZSTD_compress(p, bound, info->image, info->image_size,
							 level > 3 ? level : 3);
				if (ZSTD_isError(n))
					return vcr_err_set(err, -EIO, UINT64_MAX,
							   "compressing the guest image: %s",
							   ZSTD_getErrorName(n));
				b->len -= bound - n;
			}
		}
		wb_tlv_end(b, l);
	}
	if (info->cmdline)
		wb_str_tlv(b, TRF_TAG_CMDLINE, info->cmdline);
	for (uint32_t i = 0; i < info->nkv; i++) {
		const char *k = info->kv[i].key ? info->kv[i].key : "";
		const char *v = info->kv[i].value ? info->kv[i].value : "";
		l = wb_tlv(b, TRF_TAG_KV, 0);
		wb_u32(b, (uint32_t)strlen(k));
		wb_bytes(b, k, strlen(k));
		wb_bytes(b, v, strlen(v));
		wb_tlv_end(b, l);
	}
	l = wb_tlv(b, TRF_TAG_CHUNK_EXITS, 0);
	wb_u32(b, chunk_exits);
	wb_tlv_end(b, l);
	if (ring_bytes) {
		l = wb_tlv(b, TRF_TAG_RING, 0);
		wb_u64(b, ring_bytes);
		wb_tlv_end(b, l);
	}
	if (b->err)
		return vcr_err_set(err, b->err, UINT64_MAX, "out of memory");
	if (b->len - TRF_FILE_HDR_SIZE > UINT32_MAX)
		return vcr_err_set(err, -EFBIG, UINT64_MAX, "trace header too large");

	fixed = b->p;
	memcpy(fixed, TRF_FILE_MAGIC, 8);
	trf_put16(fixed + 8, TRF_MAJOR);
	trf_put16(fixed + 10, TRF_MINOR);
	trf_put32(fixed + 12, (uint32_t)(b->len - TRF_FILE_HDR_SIZE));
	/* The hash covers everything but itself: the fixed fields (so a
	 * flipped version is noticed) and the fields. */
	trf_put64(fixed + 16, trf_hash(trf_hash(TRF_HASH_INIT, fixed, 16),
				       b->p + TRF_FILE_HDR_SIZE, b->len - TRF_FILE_HDR_SIZE));
	return 0;
}

/* ------------------------------------------------------------- chunks */

static uint8_t *w_delta(uint8_t *p, struct vcr_vcpu_state *prev,
			const struct vcr_vcpu_state *cur, unsigned mask, unsigned *changed);

static void w_set_check(struct vcr_writer *w);

static void w_chunk_begin(struct vcr_writer *w)
{
	w->open = true;
	w->c_first_seq = w->seq;
	w->c_exits = 0;
	w->c_records = 0;
	w->rec_len = 0;
	w->c_mem = 0;
	w_set_check(w);
	memcpy(w->c_vfirst, w->vexits, w->nvcpus * sizeof(uint64_t));

	/* Keyframe: every vCPU whose state is known, in full, encoded as a
	 * delta against zeros (most words of a state are zero, so this is a
	 * third of the raw size before zstd). Capacity was reserved in
	 * vcr_writer_open. */
	uint32_t n = 0;
	for (uint32_t v = 0; v < w->nvcpus; v++)
		n += w->known[v];
	uint8_t *p = w->kf;
	p += trf_put_varint(p, n);
	for (uint32_t v = 0; v < w->nvcpus; v++) {
		struct vcr_vcpu_state zero;
		unsigned changed;
		if (!w->known[v])
			continue;
		memset(&zero, 0, sizeof(zero));
		p += trf_put_varint(p, v);
		uint8_t *flags = p++;
		p = w_delta(p, &zero, &w->state[v], VCR_CLASS_ALL, &changed);
		*flags = (uint8_t)(VCR_CLASS_ALL | changed << 3);
	}
	w->kf_len = (size_t)(p - w->kf);
}

static int w_write_out(struct vcr_writer *w)
{
	if (!w->out_len)
		return 0;
	int rc = w_pwrite_all(w->fd, w->out, w->out_len, w->out_off, &w->st.write_calls);
	if (rc)
		return rc;
	w->out_off += w->out_len;
	w->out_len = 0;
	w->out_exits = 0;
	return 0;
}

static int w_index_add(struct vcr_writer *w, const struct w_chunk *c)
{
	if (w->nidx == w->idx_cap) {
		size_t n = w->idx_cap ? 2 * w->idx_cap : 64;
		struct w_chunk *ni = realloc(w->idx, n * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		w->idx = ni;
		uint64_t *nv = realloc(w->idx_vfirst, n * w->nvcpus * sizeof(uint64_t));
		if (!nv)
			return -ENOMEM;
		w->idx_vfirst = nv;
		w->idx_cap = n;
	}
	w->idx[w->nidx] = *c;
	memcpy(w->idx_vfirst + w->nidx * w->nvcpus, w->c_vfirst,
	       w->nvcpus * sizeof(uint64_t));
	w->nidx++;
	return 0;
}

/* Ring mode: the chunk area [data_start, data_start + ring_bytes) wraps.
 * Drop from the index every chunk that the range [off, off+size) overwrites. */
static void w_ring_drop(struct vcr_writer *w, uint64_t off, uint64_t size)
{
	size_t j = 0;
	for (size_t i = 0; i < w->nidx; i++) {
		const struct w_chunk *c = &w->idx[i];
		bool overlap = c->off < off + size && off < c->off + c->size;
		if (overlap)
			continue;
		if (j != i) {
			w->idx[j] = w->idx[i];
			memmove(w->idx_vfirst + j * w->nvcpus, w->idx_vfirst + i * w->nvcpus,
				w->nvcpus * sizeof(uint64_t));
		}
		j++;
	}
	w->nidx = j;
}

/* w_chunk_full can be true only once rec_len - c_mem reaches the raw
 * threshold (the probe's or the ratio's), or c_mem reaches
 * W_CHUNK_MEM_ALONE: one compare per exit on the common path. */
static void w_set_check(struct vcr_writer *w)
{
	if (!w->adaptive)
		w->c_check = SIZE_MAX;
	else if (w->c_mem >= W_CHUNK_MEM_ALONE)
		w->c_check = 0;
	else
		w->c_check = (size_t)(w->ratio_q16 ? w->c_target : W_PROBE_RAW) + w->c_mem;
}

static void w_set_ratio(struct vcr_writer *w, size_t comp, size_t raw, size_t kf_comp)
{
	uint64_t q = raw ? (uint64_t)comp * 65536 / raw : 65536;
	uint64_t target = W_CHUNK_TARGET_COMP > 16 * (uint64_t)kf_comp ? W_CHUNK_TARGET_COMP
								     : 16 * (uint64_t)kf_comp;
	w->ratio_q16 = q ? (q > 65536 ? 65536 : (uint32_t)q) : 1;
	w->c_target = target * 65536 / w->ratio_q16;
	w_set_check(w);
}

/* Compress the open chunk's records as they are; their compressed size,
 * or 0 when that fails (out of memory). */
static size_t w_probe(struct vcr_writer *w)
{
	size_t bound = ZSTD_compressBound(w->rec_len);
	uint8_t *tmp = malloc(bound);
	size_t n = tmp ? ZSTD_compressCCtx(w->cctx, tmp, bound, w->rec, w->rec_len, w->level) : 0;
	free(tmp);
	return ZSTD_isError(n) ? 0 : n;
}

/* Adaptive chunks (see W_CHUNK_TARGET_COMP): should the open chunk end
 * before the next exit? */
static bool w_chunk_full(struct vcr_writer *w)
{
	if (!w->adaptive || !w->c_exits)
		return false;
	if (w->c_mem >= W_CHUNK_MEM_ALONE)
		return true;
	size_t raw = w->rec_len - w->c_mem;
	if (!w->ratio_q16 || (w->ratio_probed && raw >= w->c_target)) {
		if (!w->ratio_q16 && raw < W_PROBE_RAW)
			return false;
		/* No chunk told the ratio yet: measure what there is. */
		size_t n = w_probe(w);
		if (!n)
			n = w->rec_len / 4;
		if (w->ratio_q16 && n >= W_CHUNK_TARGET_COMP / 4 * 3)
			return true;
		w_set_ratio(w, n, w->rec_len, 0);
		w->ratio_probed = true;
	}
	return raw >= w->c_target;
}

static int w_chunk_finish(struct vcr_writer *w)
{
	int rc;
	if (!w->open)
		return 0;
	w->open = false;
	if (!w->c_records && !w->c_exits)
		return 0;

	size_t hdr = TRF_CHUNK_HDR_FIXED + 8 * (size_t)w->nvcpus + 8;
	size_t kb = ZSTD_compressBound(w->kf_len), rb = ZSTD_compressBound(w->rec_len);
	rc = trf_grow(&w->out, &w->out_cap, w->out_len + hdr + kb + rb + TRF_ALIGN);
	if (rc)
		return rc;
	uint8_t *h = w->out + w->out_len;
	uint8_t *pay = h + hdr;
	size_t kc = ZSTD_compressCCtx(w->cctx, pay, kb, w->kf, w->kf_len, w->level);
	if (ZSTD_isError(kc))
		return -EIO;
	size_t rcsz = ZSTD_compressCCtx(w->cctx, pay + kc, rb, w->rec, w->rec_len, w->level);
	if (ZSTD_isError(rcsz))
		return -EIO;
	size_t total = trf_align(hdr + kc + rcsz);
	memset(pay + kc + rcsz, 0, total - (hdr + kc + rcsz));
	if (w->adaptive && w->c_exits >= W_RATIO_MIN_EXITS && w->c_mem <= w->rec_len / 2) {
		w_set_ratio(w, rcsz, w->rec_len, kc);
		w->ratio_probed = false;
	}

	uint64_t off = w->out_off + w->out_len;
	if (w->ring_bytes && off + total > w->ring_end && off > w->data_start) {
		/* Wrap: write what is pending, then place this chunk (moved to
		 * the buffer's start) at the start of the chunk area. */
		size_t keep_from = w->out_len;
		rc = w_pwrite_all(w->fd, w->out, keep_from, w->out_off, &w->st.write_calls);
		if (rc)
			return rc;
		memmove(w->out, w->out + keep_from, total);
		w->out_len = 0;
		w->out_exits = 0;
		w->out_off = w->data_start;
		h = w->out;
		pay = h + hdr;
		off = w->data_start;
	}

	memcpy(h, TRF_CHUNK_MAGIC, 8);
	trf_put64(h + 8, w->st.chunks);
	trf_put64(h + 16, w->c_first_seq);
	trf_put32(h + 24, w->c_exits);
	trf_put32(h + 28, w->c_records);
	trf_put32(h + 32, (uint32_t)kc);
	trf_put32(h + 36, (uint32_t)w->kf_len);
	trf_put32(h + 40, (uint32_t)rcsz);
	trf_put32(h + 44, (uint32_t)w->rec_len);
	trf_put32(h + 48, w->nvcpus);
	trf_put32(h + 52, 0);
	trf_put64(h + 56, trf_hash(TRF_HASH_INIT, pay, total - hdr));
	for (uint32_t v = 0; v < w->nvcpus; v++)
		trf_put64(h + TRF_CHUNK_HDR_FIXED + 8 * v, w->c_vfirst[v]);
	trf_put64(h + hdr - 8, trf_hash(TRF_HASH_INIT, h, hdr - 8));

	if (w->ring_bytes)
		w_ring_drop(w, off, total);
	struct w_chunk c = {
		.off = off, .first_seq = w->c_first_seq, .nexits = w->c_exits,
		.nrecords = w->c_records, .size = (uint32_t)total, .kf_comp = (uint32_t)kc,
	};
	rc = w_index_add(w, &c);
	if (rc)
		return rc;
	w->out_len += total;
	w->out_exits += w->c_exits;
	if (off + total > w->end_off)
		w->end_off = off + total;
	w->st.chunks++;
	w->st.chunk_bytes_total += total;
	w->st.bytes_written = w->end_off;
	if (w->out_exits >= w->flush_exits || w->out_len >= W_OUT_SOFT)
		return w_write_out(w);
	return 0;
}

/* ------------------------------------------------------------- records */

/* Bit i set when 8-byte word i of a and b differ (65 words: bits 0-63 in
 * lo, bit 64 in hi). This runs on every exit over 520 bytes, so it compares
 * 16 bytes at a time where SSE2 exists (every x86-64). */
static inline void w_changed_words(const uint8_t *a, const uint8_t *b, uint64_t *lo, uint64_t *hi)
{
	uint64_t l = 0;
#ifdef __SSE2__
	for (unsigned k = 0; k < 32; k++) {
		__m128i x = _mm_loadu_si128((const __m128i *)(a + 16 * k));
		__m128i y = _mm_loadu_si128((const __m128i *)(b + 16 * k));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, y));
		if (m == 0xffff)
			continue;	/* the common case: nothing changed here */
		l |= (uint64_t)((m & 0xff) != 0xff) << (2 * k);
		l |= (uint64_t)((m >> 8) != 0xff) << (2 * k + 1);
	}
#else
	for (unsigned i = 0; i < 64; i++) {
		uint64_t x, y;
		memcpy(&x, a + 8 * i, 8);
		memcpy(&y, b + 8 * i, 8);
		l |= (uint64_t)(x != y) << i;
	}
#endif
	uint64_t x, y;
	memcpy(&x, a + 8 * 64, 8);
	memcpy(&y, b + 8 * 64, 8);
	*lo = l;
	*hi = x != y;
}
_Static_assert(TRF_WORDS_ALL == 65, "w_changed_words knows 65 words");

/* Delta-encode the classes in `mask` of cur against prev (8-byte words, XOR,
 * bitmap of changed words + varints), updating prev. Returns the new write
 * pointer; *changed gets the classes that had a delta. */
static uint8_t *w_delta(uint8_t *p, struct vcr_vcpu_state *prev,
			const struct vcr_vcpu_state *cur, unsigned mask, unsigned *changed)
{
	uint8_t *pv = (uint8_t *)prev;
	const uint8_t *cv = (const uint8_t *)cur;
	uint64_t lo, hi;
	w_changed_words(pv, cv, &lo, &hi);
	*changed = 0;
	for (int c = 0; c < 3; c++) {
		const struct trf_class *k = &trf_classes[c];
		if (!(mask & k->bit))
			continue;
		uint64_t bits = lo >> k->first;
		if (k->first + k->nwords > 64)
			bits |= hi << (64 - k->first);
		bits &= (1ull << k->nwords) - 1;
		if (!bits)
			continue;
		*changed |= k->bit;
		unsigned nb = (k->nwords + 7) / 8;
		for (unsigned b = 0; b < nb; b++)
			p[b] = (uint8_t)(bits >> (8 * b));
		p += nb;
		while (bits) {
			unsigned i = k->first + (unsigned)__builtin_ctzll(bits);
			uint64_t a, b;
			bits &= bits - 1;
			memcpy(&a, pv + 8 * i, 8);
			memcpy(&b, cv + 8 * i, 8);
			p += trf_put_varint(p, a ^ b);
			memcpy(pv + 8 * i, &b, 8);
		}
	}
	return p;
}

static uint8_t *w_exit_payload(uint8_t *p, const struct vcr_exit *e)
{
	switch (e->reason) {
	case KVM_EXIT_IO:
		*p++ = e->u.io.direction;
		*p++ = e->u.io.size;
		p += trf_put_varint(p, e->u.io.port);
		p += trf_put_varint(p, e->u.io.count);
		break;
	case KVM_EXIT_MMIO:
		p += trf_put_varint(p, e->u.mmio.phys_addr);
		p += trf_put_varint(p, e->u.mmio.len);
		*p++ = e->u.mmio.is_write;
		break;
	case KVM_EXIT_DEBUG:
		p += trf_put_varint(p, e->u.debug.exception);
		p += trf_put_varint(p, e->u.debug.pc);
		p += trf_put_varint(p, e->u.debug.dr6);
		p += trf_put_varint(p, e->u.debug.dr7);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		p += trf_put_varint(p, e->u.fail_entry.hardware_entry_failure_reason);
		p += trf_put_varint(p, e->u.fail_entry.cpu);
		break;
	case KVM_EXIT_INTERNAL_ERROR: {
		uint32_t n = e->u.internal.ndata > 16 ? 16 : e->u.internal.ndata;
		p += trf_put_varint(p, e->u.internal.suberror);
		p += trf_put_varint(p, n);
		for (uint32_t i = 0; i < n; i++)
			p += trf_put_varint(p, e->u.internal.data[i]);
		break;
	}
	case KVM_EXIT_SYSTEM_EVENT: {
		uint32_t n = e->u.system_event.ndata > 16 ? 16 : e->u.system_event.ndata;
		p += trf_put_varint(p, e->u.system_event.type);
		p += trf_put_varint(p, n);
		for (uint32_t i = 0; i < n; i++)
			p += trf_put_varint(p, e->u.system_event.data[i]);
		break;
	}
	case KVM_EXIT_HYPERCALL:
		p += trf_put_varint(p, e->u.hypercall.nr);
		for (int i = 0; i < 6; i++)
			p += trf_put_varint(p, e->u.hypercall.args[i]);
		p += trf_put_varint(p, e->u.hypercall.ret);
		p += trf_put_varint(p, e->u.hypercall.longmode);
		break;
	case KVM_EXIT_UNKNOWN:
		p += trf_put_varint(p, e->u.unknown.hardware_exit_reason);
		break;
	default: {
		/* Reasons without a layout here: the raw union, trailing zeros
		 * trimmed. */
		size_t n = sizeof(e->u.raw);
		while (n && !e->u.raw[n - 1])
			n--;
		p += trf_put_varint(p, n);
		memcpy(p, e->u.raw, n);
		p += n;
		break;
	}
	}
	return p;
}

/* Make room for a record whose body is at most `body_max` bytes; returns the
 * body start (tag and a 1-byte length are written by w_rec_end). */
static uint8_t *w_rec_begin(struct vcr_writer *w, size_t body_max)
{
	if (trf_grow(&w->rec, &w->rec_cap, w->rec_len + 6 + body_max))
		return NULL;
	return w->rec + w->rec_len + 2;
}

static void w_rec_end(struct vcr_writer *w, uint8_t type, uint8_t *end)
{
	uint8_t *r = w->rec + w->rec_len;
	size_t body = (size_t)(end - (r + 2));
	r[0] = type;
	if (body < 0x80) {
		r[1] = (uint8_t)body;
		w->rec_len += 2 + body;
	} else {
		size_t k = trf_varint_len(body);
		memmove(r + 1 + k, r + 2, body);
		trf_put_varint(r + 1, body);
		w->rec_len += 1 + k + body;
	}
	w->c_records++;
	w->nrecords++;
	w->st.records++;
}

static int w_append_mem(struct vcr_writer *w, const struct vcr_record *rec)
{
	const uint8_t *d = rec->u.mem.data;
	uint64_t gpa = rec->u.mem.gpa, left = rec->u.mem.len;
	if (left && !d)
		return -EINVAL;
	/* Large writes are split into pieces of TRF_MAX_REC_DATA at most, so a
	 * chunk stays bounded; each piece is a record of its own. */
	do {
		size_t n = left > TRF_MAX_REC_DATA ? TRF_MAX_REC_DATA : (size_t)left;
		if (w->rec_len >= W_CHUNK_SOFT_RAW) {
			int rc = w_chunk_finish(w);
			if (rc)
				return rc;
			w_chunk_begin(w);
		}
		uint8_t *p = w_rec_begin(w, 32 + n);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, rec->vcpu);
		p += trf_put_varint(p, gpa);
		memcpy(p, d, n);
		w_rec_end(w, (uint8_t)rec->type, p + n);
		w->c_mem += n;
		w_set_check(w);
		w->st.raw_bytes += 16 + n;
		d += n;
		gpa += n;
		left -= n;
	} while (left);
	return 0;
}

static int w_append(struct vcr_writer *w, const struct vcr_record *rec)
{
	uint32_t v = rec->vcpu;
	uint8_t *p;
	int rc;

	bool irq_async = rec->type == VCR_REC_IRQ_LINE && (rec->u.irq_line.flags & VCR_IRQ_ASYNC);
	if (v >= w->nvcpus && (rec->type == VCR_REC_EXIT || rec->type == VCR_REC_SET_STATE ||
			       rec->type == VCR_REC_INPUT || rec->type == VCR_REC_INJECT ||
			       (rec->type == VCR_REC_IRQ_LINE && !irq_async)))
		return -EINVAL;
	if (v >= w->nvcpus || irq_async)
		v = 0;
	if (rec->type == VCR_REC_EXIT && w->open &&
	    (w->c_exits >= w->chunk_exits || (w->rec_len >= w->c_check && w_chunk_full(w)))) {
		rc = w_chunk_finish(w);
		if (rc)
			return rc;
	}
	if (w->open && w->rec_len >= W_CHUNK_SOFT_RAW) {
		rc = w_chunk_finish(w);
		if (rc)
			return rc;
	}
	if (!w->open)
		w_chunk_begin(w);

	switch (rec->type) {
	case VCR_REC_EXIT: {
		const struct vcr_exit *e = &rec->u.exit.exit;
		unsigned valid = rec->u.exit.valid & VCR_CLASS_ALL, changed;
		if (e->data_len > VCR_EXIT_DATA_MAX)
			return -EINVAL;
		p = w_rec_begin(w, W_EXIT_BODY_MAX);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		uint8_t *flags = p++;
		p = w_delta(p, &w->state[v], &rec->u.exit.state, valid, &changed);
		*flags = (uint8_t)(valid | changed << 3);
		p += trf_put_varint(p, e->reason);
		p = w_exit_payload(p, e);
		p += trf_put_varint(p, e->data_len);
		memcpy(p, e->data, e->data_len);
		p += e->data_len;
		w_rec_end(w, VCR_REC_EXIT, p);
		w->known[v] = 1;
		w->vexits[v]++;
		w->seq++;
		w->c_exits++;
		w->st.exits++;
		w->st.raw_bytes += sizeof(struct vcr_vcpu_state) + 8 + sizeof(e->u) + e->data_len;
		return 0;
	}
	case VCR_REC_SET_STATE: {
		unsigned dirty = rec->u.set_state.dirty & VCR_CLASS_ALL, changed;
		p = w_rec_begin(w, 2048);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		uint8_t *flags = p++;
		p = w_delta(p, &w->state[v], &rec->u.set_state.state, dirty, &changed);
		*flags = (uint8_t)(dirty | changed << 3);
		w_rec_end(w, VCR_REC_SET_STATE, p);
		w->known[v] = 1;
		w->st.raw_bytes += sizeof(struct vcr_vcpu_state) + 8;
		return 0;
	}
	case VCR_REC_INPUT: {
		uint32_t len = rec->u.input.len;
		if (len > VCR_EXIT_DATA_MAX)
			return -EINVAL;
		p = w_rec_begin(w, 32 + len);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		p += trf_put_varint(p, rec->u.input.kind);
		memcpy(p, rec->u.input.data, len);
		w_rec_end(w, VCR_REC_INPUT, p + len);
		w->st.raw_bytes += 8 + len;
		return 0;
	}
	case VCR_REC_INJECT:
		p = w_rec_begin(w, 32);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		p += trf_put_varint(p, rec->u.inject.kind);
		p += trf_put_varint(p, rec->u.inject.vector);
		w_rec_end(w, VCR_REC_INJECT, p);
		w->st.raw_bytes += 16;
		return 0;
	case VCR_REC_MEM_WRITE:
	case VCR_REC_MEM_PAGES:
		return w_append_mem(w, rec);
	case VCR_REC_MARKER: {
		const char *t = rec->u.marker.text ? rec->u.marker.text : "";
		size_t n = strnlen(t, TRF_MAX_REC_DATA);
		p = w_rec_begin(w, 16 + n);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		memcpy(p, t, n);
		w_rec_end(w, VCR_REC_MARKER, p + n);
		w->st.raw_bytes += 8 + n;
		return 0;
	}
	case VCR_REC_IRQ_LINE:
		if (rec->u.irq_line.flags & ~VCR_IRQ_ASYNC)
			return -EINVAL;
		p = w_rec_begin(w, 32);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		p += trf_put_varint(p, rec->u.irq_line.gsi);
		p += trf_put_varint(p, rec->u.irq_line.level);
		p += trf_put_varint(p, rec->u.irq_line.flags);
		w_rec_end(w, VCR_REC_IRQ_LINE, p);
		w->st.raw_bytes += 16;
		return 0;
	case VCR_REC_NOTE: {
		/* Too long: keep the end (a console's newest lines). */
		const char *t = rec->u.note.text;
		size_t n = t ? rec->u.note.len : 0;
		if (n > VCR_NOTE_MAX) {
			t += n - VCR_NOTE_MAX;
			n = VCR_NOTE_MAX;
		}
		p = w_rec_begin(w, 32 + n);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		p += trf_put_varint(p, rec->u.note.kind);
		if (n)
			memcpy(p, t, n);
		w_rec_end(w, VCR_REC_NOTE, p + n);
		w->st.raw_bytes += 16 + n;
		return 0;
	}
	case VCR_REC_CKPT: {
		uint64_t np = rec->u.ckpt.npages, nb = (np + 7) / 8;
		bool full = rec->u.ckpt.flags & VCR_CKPT_FULL;
		if ((rec->u.ckpt.flags & ~VCR_CKPT_FLAGS) || np == 0 || np > VCR_CKPT_MAX_PAGES ||
		    (rec->u.ckpt.gpa % VCR_CKPT_PAGE) || !rec->u.ckpt.dirty ||
		    (full && !rec->u.ckpt.stored))
			return -EINVAL;
		p = w_rec_begin(w, 64 + nb * (full ? 2 : 1));
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		p += trf_put_varint(p, rec->u.ckpt.number);
		p += trf_put_varint(p, rec->u.ckpt.flags);
		p += trf_put_varint(p, rec->u.ckpt.gpa);
		p += trf_put_varint(p, np);
		memcpy(p, rec->u.ckpt.dirty, nb);
		p += nb;
		if (full) {
			memcpy(p, rec->u.ckpt.stored, nb);
			p += nb;
		}
		w_rec_end(w, VCR_REC_CKPT, p);
		w->c_mem += nb;
		w_set_check(w);
		w->st.raw_bytes += 32 + nb;
		return 0;
	}
	case VCR_REC_CKPT_PAGES: {
		uint64_t n = rec->u.ckpt_pages.len;
		uint32_t cnt = rec->u.ckpt_pages.count;
		if (cnt == 0 || cnt > VCR_CKPT_RUN_MAX ||
		    n > (uint64_t)cnt * (11 + VCR_CKPT_PAGE) || (n && !rec->u.ckpt_pages.data))
			return -EINVAL;
		p = w_rec_begin(w, 64 + n);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		p += trf_put_varint(p, rec->u.ckpt_pages.number);
		p += trf_put_varint(p, rec->u.ckpt_pages.gpa);
		p += trf_put_varint(p, rec->u.ckpt_pages.first);
		p += trf_put_varint(p, cnt);
		memcpy(p, rec->u.ckpt_pages.data, n);
		w_rec_end(w, VCR_REC_CKPT_PAGES, p + n);
		w->c_mem += n;
		w_set_check(w);
		w->st.raw_bytes += 32 + n;
		return 0;
	}
	case VCR_REC_END: {
		const char *m = rec->u.end.msg ? rec->u.end.msg : "";
		size_t n = strnlen(m, 65536);
		if (w->has_end)
			return -EEXIST;
		p = w_rec_begin(w, 32 + n);
		if (!p)
			return -ENOMEM;
		p += trf_put_varint(p, v);
		p += trf_put_varint(p, rec->u.end.how);
		p += trf_put_varint(p, trf_zigzag(rec->u.end.status));
		memcpy(p, m, n);
		w_rec_end(w, VCR_REC_END, p + n);
		w->has_end = true;
		w->st.raw_bytes += 16 + n;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int vcr_writer_append(struct vcr_writer *w, const struct vcr_record *rec)
{
	if (w->failed)
		return w->failed;
	int rc = w_append(w, rec);
	/* -EINVAL/-EEXIST reject one record; anything else (memory, disk)
	 * leaves the chunk in an unknown state: stop writing. */
	if (rc && rc != -EINVAL && rc != -EEXIST)
		w->failed = rc;
	return rc;
}

#ifdef VCR_TEST_HOOKS
int trf_writer_append_raw(struct vcr_writer *w, uint8_t tag, const void *body, size_t len)
{
	if (w->failed)
		return w->failed;
	if (!w->open)
		w_chunk_begin(w);
	uint8_t *p = w_rec_begin(w, len);
	if (!p)
		return -ENOMEM;
	memcpy(p, body, len);
	w_rec_end(w, tag, p + len);
	return 0;
}
#endif

int vcr_writer_flush(struct vcr_writer *w)
{
	if (w->failed)
		return w->failed;
	int rc = w_chunk_finish(w);
	if (!rc)
		rc = w_write_out(w);
	if (rc)
		w->failed = rc;
	return rc;
}

/* The index: entries as varint deltas from the previous entry, compressed
 * (regular chunks make near-constant deltas: a few bytes per chunk). */
static int w_write_footer(struct vcr_writer *w)
{
	uint32_t nv = w->nvcpus;
	size_t raw_max = w->nidx * 10 * (6 + (size_t)nv) + 1;
	uint8_t *raw = malloc(raw_max);
	size_t bound = ZSTD_compressBound(raw_max);
	uint8_t *b = malloc(TRF_INDEX_HDR_SIZE + bound + TRF_TRAILER_SIZE);
	int rc = -ENOMEM;
	if (!raw || !b)
		goto out;
	/* Ring: list chunks in seq order (the file order wrapped). */
	size_t start = 0;
	for (size_t i = 1; i < w->nidx; i++)
		if (w->idx[i].first_seq < w->idx[start].first_seq)
			start = i;
	uint8_t *p = raw;
	uint64_t poff = 0, pseq = 0;
	const uint64_t *pvf = NULL;
	for (size_t k = 0; k < w->nidx; k++) {
		size_t i = (start + k) % w->nidx;
		const struct w_chunk *c = &w->idx[i];
		const uint64_t *vf = w->idx_vfirst + i * nv;
		p += trf_put_varint(p, trf_zigzag((int64_t)(c->off - poff)));
		p += trf_put_varint(p, c->first_seq - pseq);
		p += trf_put_varint(p, c->nexits);
		p += trf_put_varint(p, c->nrecords);
		p += trf_put_varint(p, c->size);
		p += trf_put_varint(p, c->kf_comp);
		for (uint32_t v = 0; v < nv; v++)
			p += trf_put_varint(p, vf[v] - (pvf ? pvf[v] : 0));
		poff = c->off + c->size;
		pseq = c->first_seq;
		pvf = vf;
	}
	size_t rawlen = (size_t)(p - raw);
	size_t clen = ZSTD_compressCCtx(w->cctx, b + TRF_INDEX_HDR_SIZE, bound, raw, rawlen, 3);
	rc = -EIO;
	if (ZSTD_isError(clen) || rawlen > UINT32_MAX)
		goto out;
	memcpy(b, TRF_INDEX_MAGIC, 8);
	trf_put32(b + 8, (uint32_t)w->nidx);
	trf_put32(b + 12, nv);
	trf_put64(b + 16, w->seq);
	trf_put32(b + 24, w->has_end ? 1 : 0);
	trf_put32(b + 28, (uint32_t)rawlen);
	size_t isz = TRF_INDEX_HDR_SIZE + clen;
	uint8_t *t = b + isz;
	uint64_t ioff = w->end_off;
	trf_put64(t, ioff);
	trf_put64(t + 8, isz);
	trf_put64(t + 16, trf_hash(TRF_HASH_INIT, b, isz));
	memcpy(t + 24, TRF_TRAIL_MAGIC, 8);
	rc = w_pwrite_all(w->fd, b, isz + TRF_TRAILER_SIZE, ioff, &w->st.write_calls);
	if (rc)
		goto out;
	if (ftruncate(w->fd, (off_t)(ioff + isz + TRF_TRAILER_SIZE))) {
		rc = -errno;
		goto out;
	}
	w->st.bytes_written = ioff + isz + TRF_TRAILER_SIZE;
out:
	free(raw);
	free(b);
	return rc;
}

static void w_free(struct vcr_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	ZSTD_freeCCtx(w->cctx);
	free(w->state);
	free(w->known);
	free(w->vexits);
	free(w->c_vfirst);
	free(w->kf);
	free(w->rec);
	free(w->out);
	free(w->idx);
	free(w->idx_vfirst);
	free(w);
}

int vcr_writer_close(struct vcr_writer *w)
{
	if (!w)
		return 0;
	int rc = vcr_writer_flush(w);
	if (!rc)
		rc = w_write_footer(w);
	if (!rc && close(w->fd))
		rc = -errno;
	w->fd = -1;
	w_free(w);
	return rc;
}

void vcr_writer_abort(struct vcr_writer *w)
{
	w_free(w);
}

void vcr_writer_get_stats(const struct vcr_writer *w, struct vcr_writer_stats *st)
{
	*st = w->st;
	if (w->out_off + w->out_len > st->bytes_written)
		st->bytes_written = w->out_off + w->out_len;
}

int vcr_writer_open(struct vcr_writer **out, const char *path,
		    const struct vcr_trace_info *info,
		    const struct vcr_writer_opts *opts, struct vcr_err *err)
{
	struct w_buf hb = { 0 };
	struct vcr_writer *w;
	int rc;

	*out = NULL;
	vcr_err_clear(err);
	if (!info->nvcpus || info->nvcpus > VCR_TRACE_MAX_VCPUS)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "nvcpus %u not in 1..%u",
				   info->nvcpus, VCR_TRACE_MAX_VCPUS);
	if (info->arch && info->arch != VCR_ARCH_X86_64)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "unsupported arch %u", info->arch);
	w = calloc(1, sizeof(*w));
	if (!w)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	w->fd = -1;
	w->nvcpus = info->nvcpus;
	w->chunk_exits = opts && opts->chunk_exits ? opts->chunk_exits : W_DEFAULT_CHUNK_EXITS;
	w->adaptive = !(opts && opts->chunk_exits);
	w->ratio_q16 = 0;	/* unknown until a chunk or a probe tells */
	w->flush_exits = opts && opts->flush_exits ? opts->flush_exits : W_DEFAULT_FLUSH_EXITS;
	w->level = opts && opts->zstd_level ? opts->zstd_level : W_DEFAULT_LEVEL;
	w->ring_bytes = opts ? opts->ring_bytes : 0;

	w->cctx = ZSTD_createCCtx();
	w->state = calloc(w->nvcpus, sizeof(*w->state));
	w->known = calloc(w->nvcpus, 1);
	w->vexits = calloc(w->nvcpus, sizeof(uint64_t));
	w->c_vfirst = calloc(w->nvcpus, sizeof(uint64_t));
	w->kf_cap = 10 + (size_t)w->nvcpus * TRF_KF_VCPU_MAX;
	w->kf = malloc(w->kf_cap);
	if (!w->cctx || !w->state || !w->known || !w->vexits || !w->c_vfirst || !w->kf) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
		goto fail;
	}
	rc = w_build_header(&hb, info, w->chunk_exits, w->ring_bytes, w->level, err);
	if (rc)
		goto fail;
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = vcr_err_set(err, -errno, UINT64_MAX, "%s: %s", path, strerror(errno));
		goto fail;
	}
	rc = w_pwrite_all(w->fd, hb.p, hb.len, 0, &w->st.write_calls);
	if (rc) {
		vcr_err_set(err, rc, 0, "%s: writing header: %s", path, strerror(-rc));
		goto fail;
	}
	w->data_start = hb.len;
	w->out_off = hb.len;
	w->end_off = hb.len;
	if (w->ring_bytes) {
		/* At least a few chunks must fit, or the ring holds nothing. */
		if (w->ring_bytes < (1u << 14))
			w->ring_bytes = 1u << 14;
		w->ring_end = w->data_start + w->ring_bytes;
	}
	w->st.bytes_written = hb.len;
	free(hb.p);
	*out = w;
	return 0;
fail:
	free(hb.p);
	w_free(w);
	return rc;
}
