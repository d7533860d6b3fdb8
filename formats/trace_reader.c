/* formats/trace_reader.c: the trace reader (see trace.h, docs/format.md).
 *
 * Everything read from the file is hostile until checked: every length is
 * checked against the file size and the limits in trace_fmt.h before it is
 * used or allocated, every chunk against its hashes before it is decoded.
 *
 * Why one file of this size: it has one concern, turning a trace file back
 * into records, and one state that all of it shares (struct vcr_reader):
 * the header gives the vCPU count every chunk header and state array is
 * sized by, the index is what seeks and per-vCPU lookups search, the chunk
 * decoder fills the buffers the record decoder walks, and the per-vCPU
 * states it keeps are what a seek rebuilds. Split into files, each would
 * need the whole struct, and the per-exit path (r_next -> r_step ->
 * r_record -> r_delta, always inlined into vcr_reader_next) would cross
 * them. Inside, in the order a reader lives:
 *   header   r_parse_header: pass 1 validates every field and counts its
 *            storage (r_hdr_count_fields), pass 2 fills vcr_trace_info
 *            (r_hdr_fill_field)
 *   chunks   chunk headers, read-ahead and payload hashes, zstd decode of a
 *            chunk and its keyframe (struct r_dec), entering a chunk
 *   records  the record decoder (XOR deltas, exit payloads, one record:
 *            r_record), the iteration and seek API, per-vCPU exit lookups
 *   open     the index: from the footer, or rebuilt by scanning the chunks
 *            (a trace cut short), ordered for ring mode; open and close
 */
#include "formats/trace.h"
#include "formats/trace_fmt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

struct r_chunk {
	uint64_t off, first_seq;
	uint64_t idx;			/* chunk number from its header (scan only) */
	uint32_t nexits, nrecords, size, kf_comp;
};

/* One decoded chunk: its keyframe and its records, decompressed. */
struct r_dec {
	size_t ci;			/* chunk index, SIZE_MAX when none */
	uint8_t *cbuf, *kf, *raw;
	size_t cbuf_cap, kf_cap, raw_cap;
	size_t kf_len, raw_len;
	/* A seek's payload hash still to finish: hleft bytes of cbuf from
	 * hp, continuing from h (see vcr_reader_seek); hleft 0 when none. */
	const uint8_t *hp;
	size_t hleft;
	uint64_t h, hwant;
};

/* A sequential read (vcr_reader_next) reads up to R_AHEAD contiguous
 * chunks at once, up to R_AHEAD_BYTES, and hashes their payloads
 * together: FNV-1a is a chain of dependent multiplies (about 1 ns a byte),
 * and R_AHEAD independent chains run in the time of one. A seek reads only
 * its chunk (unless it is already read ahead). */
#define R_AHEAD 4u
#define R_AHEAD_BYTES (256u << 10)

struct vcr_reader {
	int fd;
	uint64_t file_size;
	struct vcr_err err;
	ZSTD_DCtx *dctx;

	/* Header, with owned storage behind the info pointers. */
	struct vcr_trace_info info;
	uint8_t *hdr;			/* the raw header; strings point into copies */
	struct vcr_mem_region *mem;
	struct kvm_cpuid_entry2 *cpuid;
	struct vcr_kv *kv;
	char *strs;			/* NUL-terminated copies of header strings */
	uint8_t *image;
	uint32_t nvcpus;
	uint64_t ring_bytes;
	uint64_t data_start;

	/* Index. */
	struct r_chunk *chunks;
	uint64_t *vfirst;		/* nchunks * nvcpus: exits of v before chunk */
	size_t nchunks;
	uint64_t *vtotal;		/* per vCPU exits in readable chunks */
	bool footer_has_end;
	struct vcr_reader_stats st;
	char damaged_record_msg[192];	/* st.damaged_record_msg */

	/* Iteration. */
	struct r_dec dec;		/* the chunk being iterated */
	struct r_dec aux;		/* scratch for vcpu_exit_seq and open */
	size_t cur;			/* chunk being iterated */
	bool loaded;			/* dec holds chunk cur, positioned at pos */
	size_t pos;
	size_t rec_start;	/* payload byte of the record r_step returned last */
	uint32_t recs_done, exits_done;
	uint64_t next_seq;		/* seq of the next EXIT */
	uint64_t last_seq;		/* seq of the last EXIT passed */
	struct vcr_vcpu_state *state;
	uint8_t *known;
	uint64_t *vexit;		/* per vCPU: ordinal of its next exit */
	char *text;			/* NUL-terminated marker/end text */
	size_t text_cap;
	bool rebased;			/* states set from a keyframe or a seek since
					 * the last record returned */
	struct {			/* the last record's delta (next_ref) */
		uint32_t n;
		uint8_t word[TRF_WORDS_ALL];
		uint64_t x[TRF_WORDS_ALL];
	} dlog;
	struct {			/* chunks read ahead by a sequential read */
		uint8_t *buf;		/* chunks ci0 .. ci0 + n - 1, contiguous */
		size_t cap, ci0, n;
		uint64_t off0;
		uint64_t hash[R_AHEAD];	/* their payload hashes, computed */
	} ahead;
	struct r_dec prev;		/* the one decoded before it: going back
					 * to it (a seek back over a chunk
					 * boundary, a reverse step) costs no
					 * decode */
};

#define R_ERR(r, code, off, ...) vcr_err_set(&(r)->err, (code), (off), __VA_ARGS__)

static int r_pread(struct vcr_reader *r, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(r->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return R_ERR(r, -errno, off, "read at offset %llu: %s",
				     (unsigned long long)off, strerror(errno));
		if (n == 0)
			return R_ERR(r, -EIO, off, "unexpected end of file at offset %llu",
				     (unsigned long long)off);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ------------------------------------------------------------- header */

static char *r_strdup_n(struct vcr_reader *r, size_t *used, const uint8_t *s, size_t n)
{
	char *d = r->strs + *used;
	memcpy(d, s, n);
	d[n] = 0;
	*used += n + 1;
	return d;
}

/* What pass 1 over the header fields learns: which were there, and how
 * much storage pass 2 fills. */
struct r_hdr_count {
	bool have_arch, have_layout, have_nvcpus;
	uint32_t nmem, ncpuid, nkv;
	uint32_t seen;			/* once-only tags met, 1 << tag */
	size_t strbytes;
};

/* Fields that may appear once (the others repeat: one per region, CPUID
 * block or key/value). */
#define R_HDR_ONCE (1u << TRF_TAG_TOOL_VERSION | 1u << TRF_TAG_ARCH | \
		    1u << TRF_TAG_LAYOUT | 1u << TRF_TAG_KVM | 1u << TRF_TAG_NVCPUS | \
		    1u << TRF_TAG_IMAGE | 1u << TRF_TAG_CMDLINE | \
		    1u << TRF_TAG_CHUNK_EXITS | 1u << TRF_TAG_RING)

static int r_hdr_short(struct vcr_reader *r, uint16_t tag, uint64_t off, uint32_t len)
{
	return R_ERR(r, -EINVAL, off, "header field %u at offset %llu is too short (%u bytes)",
		     tag, (unsigned long long)off, len);
}

/* The recording's struct sizes must be ours: states are copied as bytes. */
static int r_hdr_check_layout(struct vcr_reader *r, const uint8_t *v, uint64_t off)
{
	static const char *const names[3] = { "kvm_regs", "kvm_sregs", "kvm_vcpu_events" };
	const uint32_t ours[3] = { sizeof(struct kvm_regs), sizeof(struct kvm_sregs),
				   sizeof(struct kvm_vcpu_events) };
	for (int i = 0; i < 3; i++)
		if (trf_get32(v + 4 * i) != ours[i])
			return R_ERR(r, -EPROTO, off,
				     "trace made with struct %s of %u bytes, this vcr has %u",
				     names[i], trf_get32(v + 4 * i), ours[i]);
	return 0;
}

static int r_hdr_check_image(struct vcr_reader *r, const uint8_t *v, uint32_t len,
			     uint64_t off, struct r_hdr_count *c)
{
	if (len < 48)
		return r_hdr_short(r, TRF_TAG_IMAGE, off, len);
	uint32_t mode = trf_get32(v), plen = trf_get32(v + 44);
	uint64_t isz = trf_get64(v + 36);
	if (mode != VCR_IMAGE_EMBEDDED && mode != VCR_IMAGE_REFERENCE)
		return R_ERR(r, -EINVAL, off, "unknown guest image mode %u", mode);
	if (plen > len - 48)
		return R_ERR(r, -EINVAL, off, "image path length %u past its field", plen);
	c->strbytes += plen + 1;
	if (mode == VCR_IMAGE_EMBEDDED) {
		uint64_t clen = len - 48 - plen;
		/* A decompression bomb must not make us allocate: the
		 * declared size is bounded by the bytes stored. */
		if (isz > TRF_MAX_IMAGE || (isz > (64u << 20) && isz / 1024 > clen))
			return R_ERR(r, -EINVAL, off,
				     "embedded image of %llu bytes is implausible for %llu stored bytes",
				     (unsigned long long)isz, (unsigned long long)clen);
	}
	return 0;
}

/* Pass 1, one field (value v, len bytes, at file offset off): validate it,
 * count its storage in c. The architecture, vCPU count and ring size go
 * straight to r. */
static int r_hdr_check_field(struct vcr_reader *r, uint16_t tag, uint16_t flags,
			     const uint8_t *v, uint32_t len, uint64_t off, struct r_hdr_count *c)
{
	switch (tag) {
	case TRF_TAG_TOOL_VERSION:
	case TRF_TAG_CMDLINE:
		c->strbytes += len + 1;
		return 0;
	case TRF_TAG_ARCH:
		if (len < 4)
			return r_hdr_short(r, tag, off, len);
		c->have_arch = true;
		if (trf_get32(v) != VCR_ARCH_X86_64)
			return R_ERR(r, -EPROTONOSUPPORT, off,
				     "trace is for architecture %u, this vcr reads x86-64 (%u)",
				     trf_get32(v), VCR_ARCH_X86_64);
		return 0;
	case TRF_TAG_LAYOUT:
		if (len < 12)
			return r_hdr_short(r, tag, off, len);
		c->have_layout = true;
		return r_hdr_check_layout(r, v, off);
	case TRF_TAG_NVCPUS:
		if (len < 4)
			return r_hdr_short(r, tag, off, len);
		c->have_nvcpus = true;
		r->nvcpus = trf_get32(v);
		if (!r->nvcpus || r->nvcpus > VCR_TRACE_MAX_VCPUS)
			return R_ERR(r, -EINVAL, off, "vCPU count %u not in 1..%u",
				     r->nvcpus, VCR_TRACE_MAX_VCPUS);
		return 0;
	case TRF_TAG_MEM_REGION:
		if (len < 20)
			return r_hdr_short(r, tag, off, len);
		if (++c->nmem > TRF_MAX_NMEM)
			return R_ERR(r, -EINVAL, off, "more than %u memory regions", TRF_MAX_NMEM);
		return 0;
	case TRF_TAG_CPUID:
		if (len % 28)
			return R_ERR(r, -EINVAL, off, "CPUID field of %u bytes is not a multiple of 28", len);
		c->ncpuid += len / 28;
		if (c->ncpuid > TRF_MAX_NCPUID)
			return R_ERR(r, -EINVAL, off, "more than %u CPUID entries", TRF_MAX_NCPUID);
		return 0;
	case TRF_TAG_IMAGE:
		return r_hdr_check_image(r, v, len, off, c);
	case TRF_TAG_KV:
		if (len < 4 || trf_get32(v) > len - 4)
			return R_ERR(r, -EINVAL, off, "key/value field at offset %llu is malformed",
				     (unsigned long long)off);
		if (++c->nkv > TRF_MAX_NKV)
			return R_ERR(r, -EINVAL, off, "more than %u key/values", TRF_MAX_NKV);
		c->strbytes += len + 2;
		return 0;
	case TRF_TAG_KVM:
		return len < 8 ? r_hdr_short(r, tag, off, len) : 0;
	case TRF_TAG_CHUNK_EXITS:
		return len < 4 ? r_hdr_short(r, tag, off, len) : 0;
	case TRF_TAG_RING:
		if (len < 8)
			return r_hdr_short(r, tag, off, len);
		r->ring_bytes = trf_get64(v);
		return 0;
	default:
		if (flags & TRF_TLV_REQUIRED)
			return R_ERR(r, -EPROTONOSUPPORT, off,
				     "header field %u at offset %llu is required but unknown to this vcr",
				     tag, (unsigned long long)off);
		return 0;
	}
}

/* Pass 1: validate every field (f: the fields, flen bytes, after the file
 * header) and count what needs storage. */
static int r_hdr_count_fields(struct vcr_reader *r, const uint8_t *f, size_t flen,
			      struct r_hdr_count *c)
{
	const uint64_t base = TRF_FILE_HDR_SIZE;

	for (size_t p = 0; p < flen;) {
		if (flen - p < 8)
			return R_ERR(r, -EINVAL, base + p, "header field at offset %llu is cut short",
				     (unsigned long long)(base + p));
		uint16_t tag = trf_get16(f + p), flags = trf_get16(f + p + 2);
		uint32_t len = trf_get32(f + p + 4);
		uint64_t off = base + p;
		if (len > flen - p - 8)
			return R_ERR(r, -EINVAL, off, "header field %u at offset %llu: length %u past the header end",
				     tag, (unsigned long long)off, len);
		if (tag < 32 && (R_HDR_ONCE >> tag & 1)) {
			if (c->seen >> tag & 1)
				return R_ERR(r, -EINVAL, off, "header field %u at offset %llu appears twice",
					     tag, (unsigned long long)off);
			c->seen |= 1u << tag;
		}
		int rc = r_hdr_check_field(r, tag, flags, f + p + 8, len, off, c);
		if (rc)
			return rc;
		p += 8 + (size_t)len;
	}
	if (!c->have_arch || !c->have_layout || !c->have_nvcpus)
		return R_ERR(r, -EINVAL, 0, "header lacks the %s field",
			     !c->have_arch ? "architecture" : !c->have_layout ? "struct layout" :
			     "vCPU count");
	return 0;
}

/* The embedded (decompressed) or referenced guest image, field at off. */
static int r_hdr_fill_image(struct vcr_reader *r, const uint8_t *v, uint32_t len,
			    uint64_t off, size_t *used)
{
	struct vcr_trace_info *in = &r->info;
	uint32_t plen = trf_get32(v + 44);

	in->image_mode = trf_get32(v);
	memcpy(in->image_sha256, v + 4, 32);
	in->image_size = trf_get64(v + 36);
	in->image_path = r_strdup_n(r, used, v + 48, plen);
	if (in->image_mode != VCR_IMAGE_EMBEDDED)
		return 0;
	const uint8_t *c = v + 48 + plen;
	size_t clen = len - 48 - plen;
	r->image = malloc(in->image_size ? in->image_size : 1);
	if (!r->image)
		return R_ERR(r, -ENOMEM, off, "out of memory for the guest image");
	size_t n = ZSTD_decompressDCtx(r->dctx, r->image, in->image_size, c, clen);
	if (ZSTD_isError(n) || n != in->image_size)
		return R_ERR(r, -EINVAL, off,
			     "embedded guest image at offset %llu does not decompress to %llu bytes",
			     (unsigned long long)off, (unsigned long long)in->image_size);
	in->image = r->image;
	return 0;
}

static void r_hdr_fill_cpuid(struct vcr_reader *r, const uint8_t *v, uint32_t len)
{
	struct vcr_trace_info *in = &r->info;

	for (uint32_t i = 0; i < len / 28; i++) {
		struct kvm_cpuid_entry2 *e = &r->cpuid[in->ncpuid++];
		const uint8_t *q = v + 28 * i;
		e->function = trf_get32(q);
		e->index = trf_get32(q + 4);
		e->flags = trf_get32(q + 8);
		e->eax = trf_get32(q + 12);
		e->ebx = trf_get32(q + 16);
		e->ecx = trf_get32(q + 20);
		e->edx = trf_get32(q + 24);
	}
}

/* Pass 2, one field already validated by pass 1: into r->info and the
 * storage behind it. */
static int r_hdr_fill_field(struct vcr_reader *r, uint16_t tag, const uint8_t *v, uint32_t len,
			    uint64_t off, size_t *used)
{
	struct vcr_trace_info *in = &r->info;

	switch (tag) {
	case TRF_TAG_TOOL_VERSION:
		in->tool_version = r_strdup_n(r, used, v, len);
		break;
	case TRF_TAG_CMDLINE:
		in->cmdline = r_strdup_n(r, used, v, len);
		break;
	case TRF_TAG_KVM:
		in->kvm_api_version = trf_get32(v);
		in->sync_regs_mask = trf_get32(v + 4);
		break;
	case TRF_TAG_MEM_REGION: {
		struct vcr_mem_region *m = &r->mem[in->nmem++];
		m->gpa = trf_get64(v);
		m->size = trf_get64(v + 8);
		m->flags = trf_get32(v + 16);
		break;
	}
	case TRF_TAG_CPUID:
		r_hdr_fill_cpuid(r, v, len);
		break;
	case TRF_TAG_IMAGE:
		return r_hdr_fill_image(r, v, len, off, used);
	case TRF_TAG_KV: {
		uint32_t kl = trf_get32(v);
		struct vcr_kv *kv = &r->kv[in->nkv++];
		kv->key = r_strdup_n(r, used, v + 4, kl);
		kv->value = r_strdup_n(r, used, v + 4 + kl, len - 4 - kl);
		break;
	}
	default:
		break;
	}
	return 0;
}

static int r_parse_header(struct vcr_reader *r, const uint8_t *f, size_t flen)
{
	struct r_hdr_count c = { 0 };
	int rc = r_hdr_count_fields(r, f, flen, &c);
	if (rc)
		return rc;

	r->mem = calloc(c.nmem ? c.nmem : 1, sizeof(*r->mem));
	r->cpuid = calloc(c.ncpuid ? c.ncpuid : 1, sizeof(*r->cpuid));
	r->kv = calloc(c.nkv ? c.nkv : 1, sizeof(*r->kv));
	r->strs = malloc(c.strbytes + 1);
	if (!r->mem || !r->cpuid || !r->kv || !r->strs)
		return R_ERR(r, -ENOMEM, UINT64_MAX, "out of memory");

	/* Pass 2: fill the info. */
	struct vcr_trace_info *in = &r->info;
	size_t used = 0;
	in->arch = VCR_ARCH_X86_64;
	in->nvcpus = r->nvcpus;
	in->mem = r->mem;
	in->cpuid = r->cpuid;
	in->kv = r->kv;
	in->tool_version = "";
	in->image_path = "";
	for (size_t p = 0; p < flen;) {
		uint32_t len = trf_get32(f + p + 4);
		rc = r_hdr_fill_field(r, trf_get16(f + p), f + p + 8, len, TRF_FILE_HDR_SIZE + p,
				      &used);
		if (rc)
			return rc;
		p += 8 + (size_t)len;
	}
	return 0;
}

/* ------------------------------------------------------------- chunks */

static size_t r_chunk_hdr_size(uint32_t nvcpus)
{
	return TRF_CHUNK_HDR_FIXED + 8 * (size_t)nvcpus + 8;
}

/* Check a chunk header in buf (hdr bytes). Fills c and vfirst (nvcpus
 * entries). Returns 0, or negative with r->err set. */
static int r_check_chunk_hdr(struct vcr_reader *r, const uint8_t *h, uint64_t off,
			     struct r_chunk *c, uint64_t *vfirst)
{
	size_t hs = r_chunk_hdr_size(r->nvcpus);
	if (memcmp(h, TRF_CHUNK_MAGIC, 8))
		return R_ERR(r, -EINVAL, off, "no chunk magic at offset %llu",
			     (unsigned long long)off);
	if (trf_get32(h + 48) != r->nvcpus)
		return R_ERR(r, -EINVAL, off, "chunk at offset %llu: vCPU table of %u entries, header says %u vCPUs",
			     (unsigned long long)off, trf_get32(h + 48), r->nvcpus);
	if (TRF_HASH_BAD(trf_get64(h + hs - 8), trf_hash(TRF_HASH_INIT, h, hs - 8)))
		return R_ERR(r, -EILSEQ, off, "chunk header at offset %llu: checksum mismatch",
			     (unsigned long long)off);
	uint32_t kc = trf_get32(h + 32), kr = trf_get32(h + 36);
	uint32_t rc = trf_get32(h + 40), rr = trf_get32(h + 44);
	uint32_t nexits = trf_get32(h + 24), nrec = trf_get32(h + 28);
	uint64_t kf_max = 10 + (uint64_t)r->nvcpus * TRF_KF_VCPU_MAX;
	if (trf_get32(h + 52) || kr > kf_max || rr > TRF_MAX_CHUNK_RAW ||
	    nexits > nrec || nrec > rr / 2 + 1 || !kc)
		return R_ERR(r, -EINVAL, off, "chunk at offset %llu: implausible sizes or counts",
			     (unsigned long long)off);
	uint64_t total = trf_align(hs + (uint64_t)kc + rc);
	if (total > UINT32_MAX)
		return R_ERR(r, -EINVAL, off, "chunk at offset %llu: too large",
			     (unsigned long long)off);
	c->off = off;
	c->idx = trf_get64(h + 8);
	c->first_seq = trf_get64(h + 16);
	c->nexits = nexits;
	c->nrecords = nrec;
	c->size = (uint32_t)total;
	c->kf_comp = kc;
	if (c->first_seq > UINT64_MAX / 2)
		return R_ERR(r, -EINVAL, off, "chunk at offset %llu: implausible sequence number",
			     (unsigned long long)off);
	for (uint32_t v = 0; v < r->nvcpus; v++)
		vfirst[v] = trf_get64(h + TRF_CHUNK_HDR_FIXED + 8 * v);
	return 0;
}

static void r_dec_reset(struct r_dec *d)
{
	d->ci = SIZE_MAX;
	d->hleft = 0;
}

static int r_payload_mismatch(struct vcr_reader *r, size_t ci)
{
	const struct r_chunk *c = &r->chunks[ci];
	uint64_t hs = r_chunk_hdr_size(r->nvcpus);
	return R_ERR(r, -EILSEQ, c->off + hs,
		     "chunk at offset %llu: payload checksum mismatch (bytes %llu..%llu)",
		     (unsigned long long)c->off, (unsigned long long)(c->off + hs),
		     (unsigned long long)(c->off + c->size));
}

/* Finish d's deferred payload hash (chunk ci): 0, or the mismatch (d then
 * holds no chunk). */
static int r_hash_finish(struct vcr_reader *r, struct r_dec *d, size_t ci)
{
	if (!d->hleft)
		return 0;
	uint64_t h = trf_hash(d->h, d->hp, d->hleft);
	d->hleft = 0;
	if (TRF_HASH_BAD(d->hwant, h)) {
		d->ci = SIZE_MAX;
		return r_payload_mismatch(r, ci);
	}
	return 0;
}

/* Read chunks ci .. (up to R_AHEAD, contiguous, R_AHEAD_BYTES) into
 * r->ahead with one pread, and hash their payloads together. Payload
 * bounds come from the index (checked at open); headers are checked when
 * each chunk is used. */
static int r_read_ahead(struct vcr_reader *r, size_t ci)
{
	size_t hs = r_chunk_hdr_size(r->nvcpus), n = 1;
	const struct r_chunk *c = &r->chunks[ci];
	uint64_t len = c->size;
	while (n < R_AHEAD && ci + n < r->nchunks) {
		const struct r_chunk *x = &r->chunks[ci + n];
		if (x->off != c->off + len || len + x->size > R_AHEAD_BYTES || x->size < hs)
			break;
		len += x->size;
		n++;
	}
	r->ahead.n = 0;
	if (c->size < hs || !vcr_range_ok(c->off, len, r->file_size))
		return R_ERR(r, -EINVAL, c->off, "chunk at offset %llu lies outside the file",
			     (unsigned long long)c->off);
	if (trf_grow(&r->ahead.buf, &r->ahead.cap, len))
		return R_ERR(r, -ENOMEM, c->off, "out of memory");
	int rc = r_pread(r, r->ahead.buf, len, c->off);
	if (rc)
		return rc;
	const uint8_t *p[R_AHEAD];
	size_t plen[R_AHEAD];
	for (size_t k = 0; k < n; k++) {
		const struct r_chunk *x = &r->chunks[ci + k];
		p[k] = r->ahead.buf + (x->off - c->off) + hs;
		plen[k] = x->size - hs;
		r->ahead.hash[k] = TRF_HASH_INIT;
	}
	trf_hash_n(r->ahead.hash, p, plen, (unsigned)n);
	r->ahead.ci0 = ci;
	r->ahead.off0 = c->off;
	r->ahead.n = n;
	return 0;
}

/* Read, verify and decompress chunk ci into d. seq: a sequential read,
 * which reads chunks ahead (r_read_ahead). defer: a seek, which leaves the
 * payload hash of a chunk it reads to r_hash_finish, so that the hash (a
 * chain of dependent multiplies) runs interleaved with the delta walk up
 * to the target (r_skip_to); zstd decodes hostile input safely, and
 * nothing from the chunk is returned before the hash matched. */
static int r_dec_load(struct vcr_reader *r, struct r_dec *d, size_t ci, bool seq, bool defer)
{
	const struct r_chunk *c = &r->chunks[ci];
	size_t hs = r_chunk_hdr_size(r->nvcpus);
	uint64_t vfirst[VCR_TRACE_MAX_VCPUS];
	struct r_chunk hc;
	const uint8_t *h;
	uint64_t payload_hash;
	int rc;

	d->ci = SIZE_MAX;
	d->hleft = 0;
	if (seq && !(r->ahead.n && ci >= r->ahead.ci0 && ci - r->ahead.ci0 < r->ahead.n)) {
		rc = r_read_ahead(r, ci);
		if (rc)
			return rc;
	}
	if (r->ahead.n && ci >= r->ahead.ci0 && ci - r->ahead.ci0 < r->ahead.n) {
		h = r->ahead.buf + (c->off - r->ahead.off0);
		payload_hash = r->ahead.hash[ci - r->ahead.ci0];
	} else {
		if (c->size < hs || !vcr_range_ok(c->off, c->size, r->file_size))
			return R_ERR(r, -EINVAL, c->off, "chunk at offset %llu lies outside the file",
				     (unsigned long long)c->off);
		if (trf_grow(&d->cbuf, &d->cbuf_cap, c->size))
			return R_ERR(r, -ENOMEM, c->off, "out of memory");
		rc = r_pread(r, d->cbuf, c->size, c->off);
		if (rc)
			return rc;
		h = d->cbuf;
		payload_hash = UINT64_MAX;	/* computed below, once the header is checked */
	}
	rc = r_check_chunk_hdr(r, h, c->off, &hc, vfirst);
	if (rc)
		return rc;
	if (hc.first_seq != c->first_seq || hc.nexits != c->nexits ||
	    hc.nrecords != c->nrecords || hc.size != c->size || hc.kf_comp != c->kf_comp ||
	    memcmp(vfirst, r->vfirst + ci * r->nvcpus, r->nvcpus * sizeof(uint64_t)))
		return R_ERR(r, -EINVAL, c->off, "chunk at offset %llu does not match the index",
			     (unsigned long long)c->off);
	const uint8_t *pay = h + hs;
	if (h == d->cbuf && defer) {
		d->hp = pay;
		d->hleft = c->size - hs;
		d->h = TRF_HASH_INIT;
		d->hwant = trf_get64(h + 56);
	} else {
		if (h == d->cbuf)
			payload_hash = trf_hash(TRF_HASH_INIT, pay, c->size - hs);
		if (TRF_HASH_BAD(trf_get64(h + 56), payload_hash))
			return r_payload_mismatch(r, ci);
	}
	uint32_t kc = trf_get32(h + 32), kr = trf_get32(h + 36);
	uint32_t rcs = trf_get32(h + 40), rr = trf_get32(h + 44);
	if (trf_grow(&d->kf, &d->kf_cap, kr ? kr : 1) || trf_grow(&d->raw, &d->raw_cap, rr ? rr : 1))
		return R_ERR(r, -ENOMEM, c->off, "out of memory");
	size_t n = ZSTD_decompressDCtx(r->dctx, d->kf, kr, pay, kc);
	if (ZSTD_isError(n) || n != kr)
		return R_ERR(r, -EINVAL, c->off + hs, "chunk at offset %llu: keyframe does not decompress to %u bytes",
			     (unsigned long long)c->off, kr);
	n = ZSTD_decompressDCtx(r->dctx, d->raw, rr, pay + kc, rcs);
	if (ZSTD_isError(n) || n != rr)
		return R_ERR(r, -EINVAL, c->off + hs + kc,
			     "chunk at offset %llu: records do not decompress to %u bytes",
			     (unsigned long long)c->off, rr);
	d->kf_len = kr;
	d->raw_len = rr;
	d->ci = ci;
	return 0;
}

static inline bool r_delta(struct vcr_reader *r, uint32_t v, unsigned classes,
			   const uint8_t **pp, const uint8_t *end, bool log);

/* Apply the keyframe of the loaded chunk and position at its first record. */
static int r_start_chunk(struct vcr_reader *r)
{
	const struct r_chunk *c = &r->chunks[r->cur];
	const uint8_t *p = r->dec.kf, *end = p + r->dec.kf_len;
	uint64_t n, v, prev = 0;
	/* A vCPU absent from the keyframe has no state yet: its first delta
	 * is against zeros, as the writer encoded it. */
	memset(r->known, 0, r->nvcpus);
	memset(r->state, 0, r->nvcpus * sizeof(*r->state));
	if (!trf_get_varint(&p, end, &n) || n > r->nvcpus)
		goto bad;
	for (uint64_t i = 0; i < n; i++) {
		if (!trf_get_varint(&p, end, &v) || v >= r->nvcpus || (i && v <= prev) || p >= end)
			goto bad;
		unsigned fl = *p++;
		if (fl >> 6 || (fl & 7) != VCR_CLASS_ALL ||
		    !r_delta(r, (uint32_t)v, (fl >> 3) & 7, &p, end, false))
			goto bad;
		r->known[v] = 1;
		prev = v;
	}
	memcpy(r->vexit, r->vfirst + r->cur * r->nvcpus, r->nvcpus * sizeof(uint64_t));
	r->pos = 0;
	r->recs_done = 0;
	r->exits_done = 0;
	r->next_seq = c->first_seq;
	r->last_seq = c->first_seq ? c->first_seq - 1 : UINT64_MAX;
	r->loaded = true;
	r->rebased = true;
	return 0;
bad:
	return R_ERR(r, -EINVAL, c->off, "chunk at offset %llu: malformed keyframe",
		     (unsigned long long)c->off);
}

/* ------------------------------------------------------------- records */

/* One class of a delta: bitmap then varints, XORed into `words`. Inlined
 * with constant nwords per class: this runs for every exit read or skipped.
 * With log, the changed words (numbered from `first`) and their XORs are
 * also appended to r->dlog at *ln (at most TRF_WORDS_ALL over the three
 * classes: each class comes once and its bits stop at its words). *ln is
 * the caller's local: a count kept in r would be reloaded after every
 * store into the state (bytes may alias it). */
static inline __attribute__((always_inline)) bool
r_delta_class(struct vcr_reader *r, uint8_t *words, unsigned first, unsigned nwords,
	      const uint8_t **pp, const uint8_t *end, bool log, uint32_t *ln)
{
	const uint8_t *p = *pp;
	const unsigned nb = (nwords + 7) / 8;
	if ((size_t)(end - p) < nb)
		return false;
	uint64_t bits = 0;
	for (unsigned b = 0; b < nb; b++)
		bits |= (uint64_t)p[b] << (8 * b);
	p += nb;
	if (bits >> nwords)
		return false;	/* bits past the class */
	while (bits) {
		unsigned i = (unsigned)__builtin_ctzll(bits);
		uint64_t x, w;
		bits &= bits - 1;
		if (!trf_get_varint(&p, end, &x))
			return false;
		memcpy(&w, words + 8 * i, 8);
		w ^= x;
		memcpy(words + 8 * i, &w, 8);
		if (log) {
			r->dlog.word[*ln] = (uint8_t)(first + i);
			r->dlog.x[(*ln)++] = x;
		}
	}
	*pp = p;
	return true;
}

static inline __attribute__((always_inline)) bool
r_delta(struct vcr_reader *r, uint32_t v, unsigned classes, const uint8_t **pp,
	const uint8_t *end, bool log)
{
	uint8_t *st = (uint8_t *)&r->state[v];
	const unsigned s0 = TRF_WORDS_REGS, e0 = TRF_WORDS_REGS + TRF_WORDS_SREGS;
	uint32_t n = 0;
	if ((classes & VCR_CLASS_REGS) &&
	    !r_delta_class(r, st, 0, TRF_WORDS_REGS, pp, end, log, &n))
		return false;
	if ((classes & VCR_CLASS_SREGS) &&
	    !r_delta_class(r, st + 8 * s0, s0, TRF_WORDS_SREGS, pp, end, log, &n))
		return false;
	if ((classes & VCR_CLASS_EVENTS) &&
	    !r_delta_class(r, st + 8 * e0, e0, TRF_WORDS_EVENTS, pp, end, log, &n))
		return false;
	if (log)
		r->dlog.n = n;
	return true;
}

/* Seeking: walk the loaded chunk up to the EXIT numbered stop_seq, applying
 * only what changes vCPU states (EXIT and SET_STATE deltas). This is the
 * cost of every seek, so it skips other records by their length without
 * decoding them. Returns 2 when positioned on stop_seq; anything unusual
 * (damage, an unknown required record, the chunk's end) is left to r_step,
 * which reports it. */
static int r_skip_to(struct vcr_reader *r, uint64_t stop_seq)
{
	const uint8_t *base = r->dec.raw, *end = base + r->dec.raw_len;
	const uint8_t *p = base + r->pos;
	const struct r_chunk *c = &r->chunks[r->cur];
	/* Counters live in locals in the loop and go back to r at the end. */
	uint32_t recs = r->recs_done, exits = r->exits_done;
	uint64_t next_seq = r->next_seq;
	/* A deferred payload hash (r_dec_load) advances 8 bytes a record: its
	 * chain of multiplies overlaps the walk's own dependencies. */
	const uint8_t *hp = r->dec.hp;
	size_t hleft = r->dec.hleft;
	uint64_t h = r->dec.h;
	const uint64_t m = 0x100000001b3ull;
	int rc = 0;
	while (p < end && recs < c->nrecords) {
		if (hleft >= 8) {
			h = (h ^ hp[0]) * m;
			h = (h ^ hp[1]) * m;
			h = (h ^ hp[2]) * m;
			h = (h ^ hp[3]) * m;
			h = (h ^ hp[4]) * m;
			h = (h ^ hp[5]) * m;
			h = (h ^ hp[6]) * m;
			h = (h ^ hp[7]) * m;
			hp += 8;
			hleft -= 8;
		}
		unsigned tag = *p, type = tag & TRF_REC_TYPE_MASK;
		const uint8_t *q = p + 1;
		uint64_t len, v;
		if (!trf_get_varint(&q, end, &len) || len > (uint64_t)(end - q))
			break;
		const uint8_t *body_end = q + len;
		if (type != VCR_REC_EXIT && type != VCR_REC_SET_STATE) {
			if ((tag & TRF_REC_REQUIRED) && (type < VCR_REC_EXIT || type > VCR_REC_LAST))
				break;
			p = body_end;
			recs++;
			continue;
		}
		if (type == VCR_REC_EXIT && (next_seq == stop_seq || exits >= c->nexits)) {
			rc = next_seq == stop_seq ? 2 : 0;
			break;
		}
		if (!trf_get_varint(&q, body_end, &v) || v >= r->nvcpus || q >= body_end)
			break;
		unsigned fl = *q++, mask = fl & 7, changed = (fl >> 3) & 7;
		if ((fl >> 6) || (changed & ~mask) ||
		    !r_delta(r, (uint32_t)v, changed, &q, body_end, false))
			break;
		r->known[v] = 1;
		if (type == VCR_REC_EXIT) {
			next_seq++;
			exits++;
			r->vexit[v]++;
		}
		p = body_end;
		recs++;
	}
	r->dec.hp = hp;
	r->dec.hleft = hleft;
	r->dec.h = h;
	r->pos = (size_t)(p - base);
	r->recs_done = recs;
	r->exits_done = exits;
	if (next_seq != r->next_seq) {
		r->next_seq = next_seq;
		r->last_seq = next_seq - 1;
	}
	return rc;
}

#define GETV(dst) do { uint64_t t_; if (!trf_get_varint(&p, end, &t_)) return false; (dst) = t_; } while (0)
#define GETV_MAX(dst, max) do { uint64_t t_; if (!trf_get_varint(&p, end, &t_) || t_ > (max)) return false; (dst) = t_; } while (0)

static bool r_exit_payload(struct vcr_exit *e, const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;
	vcr_zero16n(&e->u, sizeof(e->u));
	switch (e->reason) {
	case KVM_EXIT_IO:
		if (end - p < 2)
			return false;
		e->u.io.direction = p[0];
		e->u.io.size = p[1];
		p += 2;
		GETV_MAX(e->u.io.port, UINT16_MAX);
		GETV_MAX(e->u.io.count, UINT32_MAX);
		break;
	case KVM_EXIT_MMIO:
		GETV(e->u.mmio.phys_addr);
		GETV_MAX(e->u.mmio.len, UINT32_MAX);
		if (p >= end)
			return false;
		e->u.mmio.is_write = *p++;
		break;
	case KVM_EXIT_DEBUG:
		GETV_MAX(e->u.debug.exception, UINT32_MAX);
		GETV(e->u.debug.pc);
		GETV(e->u.debug.dr6);
		GETV(e->u.debug.dr7);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		GETV(e->u.fail_entry.hardware_entry_failure_reason);
		GETV_MAX(e->u.fail_entry.cpu, UINT32_MAX);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		GETV_MAX(e->u.internal.suberror, UINT32_MAX);
		GETV_MAX(e->u.internal.ndata, 16);
		for (uint32_t i = 0; i < e->u.internal.ndata; i++)
			GETV(e->u.internal.data[i]);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		GETV_MAX(e->u.system_event.type, UINT32_MAX);
		GETV_MAX(e->u.system_event.ndata, 16);
		for (uint32_t i = 0; i < e->u.system_event.ndata; i++)
			GETV(e->u.system_event.data[i]);
		break;
	case KVM_EXIT_HYPERCALL:
		GETV(e->u.hypercall.nr);
		for (int i = 0; i < 6; i++)
			GETV(e->u.hypercall.args[i]);
		GETV(e->u.hypercall.ret);
		GETV_MAX(e->u.hypercall.longmode, UINT32_MAX);
		break;
	case KVM_EXIT_UNKNOWN:
		GETV(e->u.unknown.hardware_exit_reason);
		break;
	default: {
		size_t n;
		GETV_MAX(n, sizeof(e->u.raw));
		if ((size_t)(end - p) < n)
			return false;
		memcpy(e->u.raw, p, n);
		p += n;
		break;
	}
	}
	*pp = p;
	return true;
}

static const char *r_text(struct vcr_reader *r, const uint8_t *p, size_t n)
{
	if (trf_grow((uint8_t **)&r->text, &r->text_cap, n + 1))
		return NULL;
	memcpy(r->text, p, n);
	r->text[n] = 0;
	return r->text;
}

/* Decode the record body [p, end) of `type`; apply its effect on the vCPU
 * states; fill rec when not NULL. false when malformed. */
static bool r_record(struct vcr_reader *r, unsigned type, const uint8_t *p,
		     const uint8_t *end, struct vcr_record *rec, struct vcr_record_ref *ref)
{
	uint64_t v;
	GETV(v);
	if (v >= r->nvcpus)
		return false;
	if (rec) {
		rec->type = type;
		rec->vcpu = (uint32_t)v;
		rec->seq = r->last_seq;
		rec->vcpu_exit = 0;
	}
	switch (type) {
	case VCR_REC_EXIT:
	case VCR_REC_SET_STATE: {
		if (p >= end)
			return false;
		unsigned fl = *p++, mask = fl & 7, changed = (fl >> 3) & 7;
		if ((fl >> 6) || (changed & ~mask))
			return false;
		if (ref) {
			if (!r_delta(r, (uint32_t)v, changed, &p, end, true))
				return false;
			ref->delta_n = r->dlog.n;
			ref->delta_word = r->dlog.word;
			ref->delta_xor = r->dlog.x;
		} else if (!r_delta(r, (uint32_t)v, changed, &p, end, false)) {
			return false;
		}
		r->known[v] = 1;
		if (type == VCR_REC_SET_STATE) {
			if (rec) {
				rec->u.set_state.dirty = mask;
				if (ref)
					ref->state = &r->state[v];
				else
					vcr_copy8n(&rec->u.set_state.state, &r->state[v],
						   sizeof(r->state[v]));
			}
			return true;
		}
		uint64_t seq = r->next_seq++;
		r->last_seq = seq;
		r->exits_done++;
		uint64_t vx = r->vexit[v]++;
		if (!rec) {
			/* Seeking: the payload is not needed, only the delta. */
			return true;
		}
		struct vcr_exit *e = &rec->u.exit.exit;
		rec->seq = seq;
		rec->vcpu_exit = vx;
		rec->u.exit.valid = mask;
		GETV_MAX(e->reason, UINT32_MAX);
		if (!r_exit_payload(e, &p, end))
			return false;
		GETV_MAX(e->data_len, VCR_EXIT_DATA_MAX);
		if ((size_t)(end - p) < e->data_len)
			return false;
		if (ref) {
			ref->state = &r->state[v];
			ref->data = p;
		} else {
			memcpy(e->data, p, e->data_len);
			vcr_copy8n(&rec->u.exit.state, &r->state[v], sizeof(r->state[v]));
		}
		return true;
	}
	case VCR_REC_INPUT:
		if (!rec)
			return true;
		GETV_MAX(rec->u.input.kind, UINT32_MAX);
		if ((size_t)(end - p) > VCR_EXIT_DATA_MAX)
			return false;
		rec->u.input.len = (uint32_t)(end - p);
		if (ref)
			ref->data = p;
		else
			memcpy(rec->u.input.data, p, rec->u.input.len);
		return true;
	case VCR_REC_INJECT:
		if (!rec)
			return true;
		GETV_MAX(rec->u.inject.kind, UINT32_MAX);
		GETV_MAX(rec->u.inject.vector, UINT32_MAX);
		return true;
	case VCR_REC_MEM_WRITE:
	case VCR_REC_MEM_PAGES:
		if (!rec)
			return true;
		GETV(rec->u.mem.gpa);
		rec->u.mem.len = (uint64_t)(end - p);
		rec->u.mem.data = p;
		return true;
	case VCR_REC_MARKER:
		if (!rec)
			return true;
		rec->u.marker.text = r_text(r, p, (size_t)(end - p));
		return rec->u.marker.text != NULL;
	case VCR_REC_IRQ_LINE:
		if (!rec)
			return true;
		GETV_MAX(rec->u.irq_line.gsi, UINT32_MAX);
		GETV_MAX(rec->u.irq_line.level, UINT32_MAX);
		GETV_MAX(rec->u.irq_line.flags, VCR_IRQ_ASYNC);
		/* An asynchronous line change belongs to no vCPU. */
		return !(rec->u.irq_line.flags & VCR_IRQ_ASYNC) || rec->vcpu == 0;
	case VCR_REC_NOTE:
		if (!rec)
			return true;
		GETV_MAX(rec->u.note.kind, UINT32_MAX);
		if ((size_t)(end - p) > TRF_MAX_REC_DATA)
			return false;
		rec->u.note.len = (uint32_t)(end - p);
		rec->u.note.text = r_text(r, p, (size_t)(end - p));
		return rec->u.note.text != NULL;
	case VCR_REC_CKPT: {
		if (!rec)
			return true;
		uint64_t np, nb;
		GETV(rec->u.ckpt.number);
		GETV_MAX(rec->u.ckpt.flags, VCR_CKPT_FLAGS);
		GETV(rec->u.ckpt.gpa);
		GETV_MAX(np, VCR_CKPT_MAX_PAGES);
		if (np == 0 || rec->u.ckpt.gpa % VCR_CKPT_PAGE ||
		    rec->u.ckpt.gpa > UINT64_MAX - np * VCR_CKPT_PAGE)
			return false;
		nb = (np + 7) / 8;
		bool full = rec->u.ckpt.flags & VCR_CKPT_FULL;
		if ((uint64_t)(end - p) != nb * (full ? 2 : 1))
			return false;
		rec->u.ckpt.npages = np;
		rec->u.ckpt.dirty = p;
		rec->u.ckpt.stored = full ? p + nb : p;
		return true;
	}
	case VCR_REC_CKPT_PAGES: {
		if (!rec)
			return true;
		GETV(rec->u.ckpt_pages.number);
		GETV(rec->u.ckpt_pages.gpa);
		GETV_MAX(rec->u.ckpt_pages.first, VCR_CKPT_MAX_PAGES - 1);
		GETV_MAX(rec->u.ckpt_pages.count, VCR_CKPT_RUN_MAX);
		if (rec->u.ckpt_pages.count == 0 || rec->u.ckpt_pages.gpa % VCR_CKPT_PAGE ||
		    rec->u.ckpt_pages.first + rec->u.ckpt_pages.count > VCR_CKPT_MAX_PAGES)
			return false;
		rec->u.ckpt_pages.len = (uint64_t)(end - p);
		rec->u.ckpt_pages.data = p;
		return true;
	}
	case VCR_REC_END:
		if (!rec)
			return true;
		GETV_MAX(rec->u.end.how, UINT32_MAX);
		GETV(v);
		rec->u.end.status = (int32_t)trf_unzigzag(v);
		rec->u.end.msg = r_text(r, p, (size_t)(end - p));
		return rec->u.end.msg != NULL;
	}
	return false;
}

/* Abandon the current chunk after damage: iteration goes on with the next. */
static int r_chunk_fail(struct vcr_reader *r, int rc)
{
	r->loaded = false;
	r->dec.ci = SIZE_MAX;
	r->cur++;
	r->st.damaged_chunks++;
	return rc;
}

/* Step over or decode the next record of the loaded chunk.
 * 1: a record (filled when rec), 0: chunk finished, <0: damage. stop_seq:
 * return 2 without consuming when the next record is the EXIT with that seq. */
static int r_step(struct vcr_reader *r, struct vcr_record *rec, struct vcr_record_ref *ref,
		  uint64_t stop_seq)
{
	const struct r_chunk *c = &r->chunks[r->cur];
	for (;;) {
		const uint8_t *base = r->dec.raw, *p = base + r->pos, *end = base + r->dec.raw_len;
		if (p == end) {
			if (r->recs_done != c->nrecords || r->exits_done != c->nexits)
				return R_ERR(r, -EINVAL, c->off,
					     "chunk at offset %llu holds %u records/%u exits, its header says %u/%u",
					     (unsigned long long)c->off, r->recs_done, r->exits_done,
					     c->nrecords, c->nexits);
			return 0;
		}
		r->rec_start = r->pos;
		unsigned tag = *p++;
		uint64_t len;
		if (!trf_get_varint(&p, end, &len) || len > (uint64_t)(end - p))
			return R_ERR(r, -EINVAL, c->off,
				     "chunk at offset %llu: record at payload byte %zu runs past the chunk",
				     (unsigned long long)c->off, r->pos);
		unsigned type = tag & TRF_REC_TYPE_MASK;
		if (type == VCR_REC_EXIT && r->next_seq == stop_seq)
			return 2;
		if (type < VCR_REC_EXIT || type > VCR_REC_LAST) {
			if (tag & TRF_REC_REQUIRED)
				return R_ERR(r, -EPROTONOSUPPORT, c->off,
					     "chunk at offset %llu: record type %u at payload byte %zu is required but unknown",
					     (unsigned long long)c->off, type, r->pos);
			/* Unknown, optional: skip by its length. */
			r->pos = (size_t)(p + len - base);
			r->recs_done++;
			continue;
		}
		if (!r_record(r, type, p, p + len, rec, ref)) {
			if (type != VCR_REC_CKPT && type != VCR_REC_CKPT_PAGES)
				return R_ERR(r, -EINVAL, c->off,
					     "chunk at offset %llu: malformed record (type %u) at payload byte %zu",
					     (unsigned long long)c->off, type, r->pos);
			/* Nothing else depends on a checkpoint record's bytes
			 * (no delta chain): skip it alone; the memory index
			 * treats what it lacks as damage (docs/format.md). */
			if (!r->st.damaged_records++)
				snprintf(r->damaged_record_msg, sizeof(r->damaged_record_msg),
					 "chunk at offset %llu: malformed %s record at payload byte %zu, skipped",
					 (unsigned long long)c->off,
					 type == VCR_REC_CKPT ? "CKPT" : "CKPT_PAGES", r->pos);
			r->pos = (size_t)(p + len - base);
			r->recs_done++;
			continue;
		}
		r->pos = (size_t)(p + len - base);
		r->recs_done++;
		if (r->recs_done > c->nrecords || r->exits_done > c->nexits)
			return R_ERR(r, -EINVAL, c->off,
				     "chunk at offset %llu holds more records than its header says",
				     (unsigned long long)c->off);
		return 1;
	}
}

static int r_load_cur(struct vcr_reader *r, bool seq, bool defer)
{
	int rc = 0;
	if (r->dec.ci != r->cur) {
		/* The decoded chunk becomes prev; prev's buffers take the new
		 * chunk, unless prev is that chunk already. */
		struct r_dec t = r->prev;
		r->prev = r->dec;
		r->dec = t;
		if (r->dec.ci != r->cur)
			rc = r_dec_load(r, &r->dec, r->cur, seq, defer);
	}
	if (!rc)
		rc = r_start_chunk(r);
	return rc;
}

static inline __attribute__((always_inline)) int
r_next(struct vcr_reader *r, struct vcr_record *rec, struct vcr_record_ref *ref)
{
	for (;;) {
		if (!r->loaded) {
			if (r->cur >= r->nchunks)
				return 0;
			int rc = r_load_cur(r, true, false);
			if (rc)
				return r_chunk_fail(r, rc);
		}
		int rc = r_step(r, rec, ref, UINT64_MAX);
		if (rc > 0)
			return 1;
		if (rc < 0)
			return r_chunk_fail(r, rc);
		r->loaded = false;
		r->cur++;
	}
}

int vcr_reader_next(struct vcr_reader *r, struct vcr_record *rec)
{
	int rc = r_next(r, rec, NULL);
	if (rc > 0)
		r->rebased = false;
	return rc;
}

int vcr_reader_next_ref(struct vcr_reader *r, struct vcr_record *rec, struct vcr_record_ref *ref)
{
	ref->state = NULL;
	ref->data = NULL;
	ref->delta_n = 0;
	int rc = r_next(r, rec, ref);
	if (rc > 0) {
		ref->rebased = r->rebased;
		r->rebased = false;
	}
	return rc;
}

void vcr_reader_tell(const struct vcr_reader *r, struct vcr_reader_pos *pos)
{
	pos->chunk = r->cur;
	pos->byte = r->rec_start;
}

int vcr_reader_read_at(struct vcr_reader *r, const struct vcr_reader_pos *pos,
		       struct vcr_record *rec)
{
	vcr_err_clear(&r->err);
	if (pos->chunk >= r->nchunks)
		return R_ERR(r, -ERANGE, UINT64_MAX, "no chunk %llu", (unsigned long long)pos->chunk);
	/* Whatever the reader was reading, it reads from a seek on. */
	r->loaded = false;
	r->rebased = true;
	if (r->dec.ci != pos->chunk) {
		struct r_dec t = r->prev;
		r->prev = r->dec;
		r->dec = t;
		if (r->dec.ci != pos->chunk) {
			int rc = r_dec_load(r, &r->dec, pos->chunk, false, false);
			if (rc)
				return rc;
		}
	}
	const struct r_chunk *c = &r->chunks[pos->chunk];
	const uint8_t *base = r->dec.raw, *end = base + r->dec.raw_len;
	if (pos->byte >= r->dec.raw_len)
		return R_ERR(r, -EINVAL, c->off, "chunk at offset %llu: no record at payload byte %llu",
			     (unsigned long long)c->off, (unsigned long long)pos->byte);
	const uint8_t *p = base + pos->byte;
	unsigned type = *p++ & TRF_REC_TYPE_MASK;
	uint64_t len;
	if (!trf_get_varint(&p, end, &len) || len > (uint64_t)(end - p) ||
	    (type != VCR_REC_CKPT && type != VCR_REC_CKPT_PAGES && type != VCR_REC_MEM_WRITE &&
	     type != VCR_REC_MEM_PAGES) || !r_record(r, type, p, p + len, rec, NULL))
		return R_ERR(r, -EINVAL, c->off,
			     "chunk at offset %llu: no memory record at payload byte %llu",
			     (unsigned long long)c->off, (unsigned long long)pos->byte);
	return 1;
}

int vcr_reader_seek(struct vcr_reader *r, uint64_t seq)
{
	vcr_err_clear(&r->err);
	r->rebased = true;	/* states jump over the records skipped */
	if (!r->nchunks) {
		r->cur = 0;
		r->loaded = false;
		return 0;
	}
	const struct r_chunk *last = &r->chunks[r->nchunks - 1];
	if (seq >= last->first_seq + last->nexits) {
		r->cur = r->nchunks;
		r->loaded = false;
		return 0;
	}
	if (seq < r->chunks[0].first_seq)
		return R_ERR(r, -ERANGE, UINT64_MAX, "exit %llu is before the first exit kept (%llu)",
			     (unsigned long long)seq, (unsigned long long)r->chunks[0].first_seq);
	/* Last chunk with first_seq <= seq. */
	size_t lo = 0, hi = r->nchunks;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->chunks[mid].first_seq <= seq)
			lo = mid;
		else
			hi = mid;
	}
	const struct r_chunk *c = &r->chunks[lo];
	if (seq >= c->first_seq + c->nexits)
		return R_ERR(r, -ENOENT, UINT64_MAX, "exit %llu was in a lost chunk",
			     (unsigned long long)seq);
	if (!(r->loaded && r->cur == lo && r->next_seq <= seq)) {
		r->cur = lo;
		int rc = r_load_cur(r, false, true);
		if (rc) {
			/* A damaged payload says so first, rather than what
			 * decoding it tripped on. */
			int hrc = r_hash_finish(r, &r->dec, lo);
			r->dec.ci = SIZE_MAX;
			r->loaded = false;
			return hrc ? hrc : rc;
		}
	}
	int src = r_skip_to(r, seq);
	int hrc = r_hash_finish(r, &r->dec, lo);
	if (hrc) {
		r->loaded = false;
		return hrc;
	}
	if (src == 2)
		return 0;
	for (;;) {
		int rc = r_step(r, NULL, NULL, seq);
		if (rc == 2)
			return 0;
		if (rc <= 0) {
			r->loaded = false;
			return rc < 0 ? rc : R_ERR(r, -EINVAL, c->off,
						   "chunk at offset %llu lacks exit %llu",
						   (unsigned long long)c->off, (unsigned long long)seq);
		}
	}
}

/* Walk the records of chunk ci in r->aux without touching the iteration:
 * count exits per vCPU; stop at exit n of vCPU v (v < nvcpus) with *seq.
 * Also notes an END record. */
static int r_scan_chunk(struct vcr_reader *r, size_t ci, uint32_t v, uint64_t n,
			uint64_t *seq, uint64_t *vcount, bool *has_end)
{
	const struct r_chunk *c = &r->chunks[ci];
	int rc = 0;
	if (r->aux.ci != ci)
		rc = r_dec_load(r, &r->aux, ci, false, false);
	if (rc)
		return rc;
	const uint8_t *p = r->aux.raw, *end = p + r->aux.raw_len;
	const uint64_t *vf = r->vfirst + ci * r->nvcpus;
	uint64_t k = 0;
	if (vcount)
		memset(vcount, 0, r->nvcpus * sizeof(uint64_t));
	while (p < end) {
		unsigned tag = *p++;
		uint64_t len, vc;
		const uint8_t *q;
		if (!trf_get_varint(&p, end, &len) || len > (uint64_t)(end - p))
			goto bad;
		q = p;
		p += len;
		if ((tag & TRF_REC_TYPE_MASK) == VCR_REC_END && has_end)
			*has_end = true;
		if ((tag & TRF_REC_TYPE_MASK) != VCR_REC_EXIT)
			continue;
		if (!trf_get_varint(&q, p, &vc) || vc >= r->nvcpus)
			goto bad;
		if (vc == v && vf[v] + (vcount ? vcount[v] : 0) == n && seq) {
			*seq = c->first_seq + k;
			return 1;
		}
		if (vcount)
			vcount[vc]++;
		k++;
	}
	return 0;
bad:
	return R_ERR(r, -EINVAL, c->off, "chunk at offset %llu: malformed record",
		     (unsigned long long)c->off);
}

int vcr_reader_vcpu_exit_seq(struct vcr_reader *r, uint32_t vcpu, uint64_t n, uint64_t *seq)
{
	uint64_t cnt[VCR_TRACE_MAX_VCPUS];
	if (vcpu >= r->nvcpus || !r->nchunks || n >= r->vtotal[vcpu])
		return -ERANGE;
	size_t lo = 0, hi = r->nchunks;
	if (r->vfirst[vcpu] > n)
		return -ERANGE;	/* before the first chunk kept (ring) */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->vfirst[mid * r->nvcpus + vcpu] <= n)
			lo = mid;
		else
			hi = mid;
	}
	int rc = r_scan_chunk(r, lo, vcpu, n, seq, cnt, NULL);
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ERANGE;
}

int vcr_reader_state(const struct vcr_reader *r, uint32_t vcpu, struct vcr_vcpu_state *st)
{
	if (vcpu >= r->nvcpus || !r->known[vcpu])
		return -ENOENT;
	*st = r->state[vcpu];
	return 0;
}

const struct vcr_trace_info *vcr_reader_info(const struct vcr_reader *r)
{
	return &r->info;
}

const struct vcr_err *vcr_reader_error(const struct vcr_reader *r)
{
	return &r->err;
}

void vcr_reader_get_stats(const struct vcr_reader *r, struct vcr_reader_stats *st)
{
	*st = r->st;
	st->damaged_record_msg = r->damaged_record_msg;
}

uint64_t vcr_reader_chunk_offset(const struct vcr_reader *r, const struct vcr_reader_pos *pos)
{
	return pos->chunk < r->nchunks ? r->chunks[pos->chunk].off : UINT64_MAX;
}

uint64_t vcr_reader_chunk_bytes(const struct vcr_reader *r, uint64_t chunk)
{
	return chunk < r->nchunks ? r->chunks[chunk].size : 0;
}

/* ------------------------------------------------------------- open */

static int r_add_chunk(struct vcr_reader *r, size_t *cap, const struct r_chunk *c,
		       const uint64_t *vfirst)
{
	if (r->nchunks == *cap) {
		size_t n = *cap ? 2 * *cap : 64;
		struct r_chunk *nc = realloc(r->chunks, n * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		r->chunks = nc;
		uint64_t *nv = realloc(r->vfirst, n * r->nvcpus * sizeof(uint64_t));
		if (!nv)
			return -ENOMEM;
		r->vfirst = nv;
		*cap = n;
	}
	r->chunks[r->nchunks] = *c;
	memcpy(r->vfirst + r->nchunks * r->nvcpus, vfirst, r->nvcpus * sizeof(uint64_t));
	r->nchunks++;
	return 0;
}

/* Index entries must describe chunks in seq order, inside the chunk area,
 * with per-vCPU counts that never go down. */
static bool r_index_sane(const struct vcr_reader *r, uint64_t area_end)
{
	size_t hs = r_chunk_hdr_size(r->nvcpus);
	for (size_t i = 0; i < r->nchunks; i++) {
		const struct r_chunk *c = &r->chunks[i];
		if (c->off < r->data_start || (c->off - r->data_start) % TRF_ALIGN ||
		    c->size < hs || !vcr_range_ok(c->off, c->size, area_end) ||
		    c->first_seq > UINT64_MAX / 2)
			return false;
		if (!i)
			continue;
		const struct r_chunk *p = &r->chunks[i - 1];
		if (c->first_seq != p->first_seq + p->nexits)
			return false;
		if (!r->ring_bytes && c->off < p->off + p->size)
			return false;
		for (uint32_t v = 0; v < r->nvcpus; v++)
			if (r->vfirst[i * r->nvcpus + v] < r->vfirst[(i - 1) * r->nvcpus + v])
				return false;
	}
	return true;
}

static int r_load_footer(struct vcr_reader *r)
{
	uint8_t t[TRF_TRAILER_SIZE];
	if (r->file_size < r->data_start + TRF_TRAILER_SIZE + TRF_INDEX_HDR_SIZE)
		return -ENOENT;
	uint64_t toff = r->file_size - TRF_TRAILER_SIZE;
	if (r_pread(r, t, sizeof(t), toff))
		return -EIO;
	if (memcmp(t + 24, TRF_TRAIL_MAGIC, 8))
		return -ENOENT;
	uint64_t ioff = trf_get64(t), isz = trf_get64(t + 8);
	if (ioff < r->data_start || isz < TRF_INDEX_HDR_SIZE || ioff > toff || isz != toff - ioff)
		return -EINVAL;
	uint8_t *b = malloc(isz), *raw = NULL;
	if (!b)
		return -ENOMEM;
	int rc = -EINVAL;
	size_t cap = 0;
	if (r_pread(r, b, isz, ioff) || TRF_HASH_BAD(trf_get64(t + 16), trf_hash(TRF_HASH_INIT, b, isz)) ||
	    memcmp(b, TRF_INDEX_MAGIC, 8) || trf_get32(b + 12) != r->nvcpus)
		goto out;
	uint32_t n = trf_get32(b + 8), rawlen = trf_get32(b + 28);
	/* Every chunk takes at least its header in the chunk area, every
	 * entry at most 10 bytes per varint: both bound the allocation. */
	if (n > (ioff - r->data_start) / r_chunk_hdr_size(r->nvcpus) ||
	    rawlen > (uint64_t)n * 10 * (6 + r->nvcpus) || rawlen > TRF_MAX_CHUNK_RAW)
		goto out;
	raw = malloc(rawlen ? rawlen : 1);
	if (!raw) {
		rc = -ENOMEM;
		goto out;
	}
	size_t dl = ZSTD_decompressDCtx(r->dctx, raw, rawlen, b + TRF_INDEX_HDR_SIZE,
					isz - TRF_INDEX_HDR_SIZE);
	if (ZSTD_isError(dl) || dl != rawlen)
		goto out;
	const uint8_t *p = raw, *end = raw + rawlen;
	uint64_t poff = 0, pseq = 0, vf[VCR_TRACE_MAX_VCPUS] = { 0 };
	for (uint32_t i = 0; i < n; i++) {
		uint64_t d[6];
		for (int k = 0; k < 6; k++)
			if (!trf_get_varint(&p, end, &d[k]))
				goto out;
		if (d[2] > UINT32_MAX || d[3] > UINT32_MAX || d[4] > UINT32_MAX || d[5] > UINT32_MAX)
			goto out;
		struct r_chunk c = {
			.off = poff + (uint64_t)trf_unzigzag(d[0]), .first_seq = pseq + d[1],
			.nexits = (uint32_t)d[2], .nrecords = (uint32_t)d[3],
			.size = (uint32_t)d[4], .kf_comp = (uint32_t)d[5],
		};
		for (uint32_t v = 0; v < r->nvcpus; v++) {
			uint64_t x;
			if (!trf_get_varint(&p, end, &x))
				goto out;
			vf[v] += x;
		}
		if (r_add_chunk(r, &cap, &c, vf)) {
			rc = -ENOMEM;
			goto out;
		}
		poff = c.off + c.size;
		pseq = c.first_seq;
	}
	if (p != end || !r_index_sane(r, ioff))
		goto out;
	r->footer_has_end = trf_get32(b + 24) & 1;
	r->st.index_bytes = isz + TRF_TRAILER_SIZE;
	rc = 0;
out:
	if (rc)
		r->nchunks = 0;
	free(raw);
	free(b);
	return rc;
}

/* The next position after pos, 8-aligned from data_start, holding a chunk
 * or index magic, in *found; file_size if none. Reads 1 MiB windows, so that
 * walking past a large damaged region costs few syscalls. -ENOMEM when the
 * window cannot be had: "no more chunks" would silently drop every chunk
 * after the damage. */
static int r_next_magic(struct vcr_reader *r, uint64_t pos, uint64_t *found)
{
	enum { WIN = 1 << 20 };
	uint8_t *buf = malloc(WIN);
	*found = r->file_size;
	if (!buf)
		return -ENOMEM;
	pos += TRF_ALIGN;
	while (pos + 8 <= r->file_size) {
		size_t n = r->file_size - pos < WIN ? (size_t)(r->file_size - pos) : WIN;
		if (r_pread(r, buf, n, pos))
			break;
		for (size_t i = 0; i + 8 <= n; i += TRF_ALIGN)
			if (!memcmp(buf + i, TRF_CHUNK_MAGIC, 8) || !memcmp(buf + i, TRF_INDEX_MAGIC, 8)) {
				*found = pos + i;
				goto out;
			}
		pos += n & ~(size_t)(TRF_ALIGN - 1);
		if (n < WIN)
			break;
	}
out:
	free(buf);
	return 0;
}

/* No usable footer: find the chunks by walking the chunk area, resyncing on
 * 8-byte boundaries past damage. */
static int r_scan(struct vcr_reader *r)
{
	size_t hs = r_chunk_hdr_size(r->nvcpus), cap = 0;
	uint8_t *h = malloc(hs);
	uint64_t vf[VCR_TRACE_MAX_VCPUS];
	uint64_t pos = r->data_start;
	bool in_damage = false;
	if (!h)
		return R_ERR(r, -ENOMEM, UINT64_MAX, "out of memory");
	while (pos < r->file_size) {
		struct r_chunk c;
		if (r->file_size - pos < hs) {
			/* Too short for a chunk header: a cut, unless it is all
			 * zeros (never written, sparse). */
			r->st.truncated = true;
			break;
		}
		if (r_pread(r, h, hs, pos))
			break;
		if (!memcmp(h, TRF_INDEX_MAGIC, 8) && !r->ring_bytes)
			break;	/* a damaged footer follows the last chunk */
		if (r_check_chunk_hdr(r, h, pos, &c, vf)) {
			/* Damage (or, in a ring, stale bytes): resync on the
			 * next aligned chunk magic. */
			if (!in_damage && !r->ring_bytes)
				r->st.damaged_chunks++;
			in_damage = true;
			if (r_next_magic(r, pos, &pos))
				goto nomem;
			continue;
		}
		in_damage = false;
		if (!vcr_range_ok(pos, c.size, r->file_size)) {
			r->st.truncated = true;
			break;
		}
		if (r->ring_bytes) {
			/* A ring overwrites old chunks in place: keep only chunks
			 * whose payload is intact. */
			/* A payload that cannot be checked is not a stale one:
			 * out of memory, not a skipped chunk. */
			uint8_t *pay = malloc(c.size - hs);
			if (!pay)
				goto nomem;
			bool ok = !r_pread(r, pay, c.size - hs, pos + hs) &&
				  !TRF_HASH_BAD(trf_get64(h + 56), trf_hash(TRF_HASH_INIT, pay, c.size - hs));
			free(pay);
			if (!ok) {
				if (r_next_magic(r, pos, &pos))
					goto nomem;
				continue;
			}
		}
		if (r_add_chunk(r, &cap, &c, vf))
			goto nomem;
		pos += c.size;
	}
	free(h);
	/* Bytes after the last complete chunk that are not a footer: the
	 * writer died mid-chunk, or the file was cut. */
	if (pos < r->file_size && !r->ring_bytes)
		r->st.truncated = true;
	if (!r->ring_bytes) {
		/* Seeking needs chunks in seq order; a chunk whose numbers go
		 * back (a stray copy in damaged bytes) is dropped. */
		size_t j = 0;
		for (size_t i = 0; i < r->nchunks; i++) {
			if (j && r->chunks[i].first_seq < r->chunks[j - 1].first_seq +
							     r->chunks[j - 1].nexits) {
				r->st.damaged_chunks++;
				continue;
			}
			if (i != j) {
				r->chunks[j] = r->chunks[i];
				memmove(r->vfirst + j * r->nvcpus, r->vfirst + i * r->nvcpus,
					r->nvcpus * sizeof(uint64_t));
			}
			j++;
		}
		r->nchunks = j;
	}
	return 0;
nomem:
	free(h);
	return R_ERR(r, -ENOMEM, UINT64_MAX, "out of memory");
}

static int r_cmp_chunk(const void *a, const void *b)
{
	const struct r_chunk *x = a, *y = b;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Ring index: sort by chunk number, keep the newest contiguous run. */
static int r_ring_order(struct vcr_reader *r)
{
	size_t n = r->nchunks, nv = r->nvcpus;
	if (n < 2)
		return 0;
	/* Sort an index array so the vCPU tables move along. */
	struct r_chunk *c = malloc(n * sizeof(*c));
	uint64_t *vf = malloc(n * nv * sizeof(uint64_t));
	size_t *ord = malloc(n * sizeof(size_t));
	if (!c || !vf || !ord) {
		free(c); free(vf); free(ord);
		return -ENOMEM;
	}
	memcpy(c, r->chunks, n * sizeof(*c));
	for (size_t i = 0; i < n; i++)
		c[i].off = i;	/* remember the original slot in off */
	qsort(c, n, sizeof(*c), r_cmp_chunk);
	for (size_t i = 0; i < n; i++)
		ord[i] = (size_t)c[i].off;
	/* Chunk numbers are unique in a ring unless stale bytes repeat one;
	 * r_cmp_chunk orders by number, the chain below needs consecutive
	 * numbers and sequence numbers. */
	for (size_t i = 0; i < n; i++) {
		c[i] = r->chunks[ord[i]];
		memcpy(vf + i * nv, r->vfirst + ord[i] * nv, nv * sizeof(uint64_t));
	}
	size_t start = n - 1;
	while (start > 0 && c[start - 1].idx + 1 == c[start].idx &&
	       c[start - 1].first_seq + c[start - 1].nexits == c[start].first_seq)
		start--;
	r->nchunks = n - start;
	memcpy(r->chunks, c + start, r->nchunks * sizeof(*c));
	memcpy(r->vfirst, vf + start * nv, r->nchunks * nv * sizeof(uint64_t));
	free(c); free(vf); free(ord);
	return 0;
}

void vcr_reader_close(struct vcr_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	free(r->hdr);
	free(r->mem);
	free(r->cpuid);
	free(r->kv);
	free(r->strs);
	free(r->image);
	free(r->chunks);
	free(r->vfirst);
	free(r->vtotal);
	free(r->dec.cbuf); free(r->dec.kf); free(r->dec.raw);
	free(r->prev.cbuf); free(r->prev.kf); free(r->prev.raw);
	free(r->aux.cbuf); free(r->aux.kf); free(r->aux.raw);
	free(r->ahead.buf);
	free(r->state);
	free(r->known);
	free(r->vexit);
	free(r->text);
	free(r);
}

static int r_open(struct vcr_reader *r, const char *path)
{
	uint8_t fh[TRF_FILE_HDR_SIZE];
	struct stat sb;
	int rc;

	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return R_ERR(r, -errno, UINT64_MAX, "%s: %s", path, strerror(errno));
	if (fstat(r->fd, &sb))
		return R_ERR(r, -errno, UINT64_MAX, "%s: %s", path, strerror(errno));
	r->file_size = (uint64_t)sb.st_size;
	r->st.file_size = r->file_size;
	if (r->file_size < TRF_FILE_HDR_SIZE)
		return R_ERR(r, -EINVAL, 0, "%s: %llu bytes is too short for a trace header",
			     path, (unsigned long long)r->file_size);
	rc = r_pread(r, fh, sizeof(fh), 0);
	if (rc)
		return rc;
	if (memcmp(fh, TRF_FILE_MAGIC, 8))
		return R_ERR(r, -EINVAL, 0, "%s: not a vcr trace (bad magic at offset 0)", path);
	r->info.version_major = trf_get16(fh + 8);
	r->info.version_minor = trf_get16(fh + 10);
	if (r->info.version_major != TRF_MAJOR)
		return R_ERR(r, -EPROTONOSUPPORT, 8,
			     "%s: trace format %u.%u, this vcr reads %u.x", path,
			     r->info.version_major, r->info.version_minor, TRF_MAJOR);
	uint32_t flen = trf_get32(fh + 12);
	if (!vcr_range_ok(TRF_FILE_HDR_SIZE, flen, r->file_size))
		return R_ERR(r, -EINVAL, 12,
			     "%s: header of %u bytes runs past the end of the file (%llu bytes): cut short?",
			     path, flen, (unsigned long long)r->file_size);
	r->hdr = malloc(flen ? flen : 1);
	if (!r->hdr)
		return R_ERR(r, -ENOMEM, UINT64_MAX, "out of memory");
	rc = r_pread(r, r->hdr, flen, TRF_FILE_HDR_SIZE);
	if (rc)
		return rc;
	if (TRF_HASH_BAD(trf_get64(fh + 16), trf_hash(trf_hash(TRF_HASH_INIT, fh, 16), r->hdr, flen)))
		return R_ERR(r, -EILSEQ, TRF_FILE_HDR_SIZE,
			     "%s: header checksum mismatch (bytes 0..%u)", path,
			     TRF_FILE_HDR_SIZE + flen);
	rc = r_parse_header(r, r->hdr, flen);
	if (rc)
		return rc;
	r->data_start = TRF_FILE_HDR_SIZE + (uint64_t)flen;
	r->st.header_bytes = r->data_start;

	r->state = calloc(r->nvcpus, sizeof(*r->state));
	r->known = calloc(r->nvcpus, 1);
	r->vexit = calloc(r->nvcpus, sizeof(uint64_t));
	r->vtotal = calloc(r->nvcpus, sizeof(uint64_t));
	if (!r->state || !r->known || !r->vexit || !r->vtotal)
		return R_ERR(r, -ENOMEM, UINT64_MAX, "out of memory");

	rc = r_load_footer(r);
	if (rc == -ENOMEM)
		return R_ERR(r, rc, UINT64_MAX, "out of memory");
	r->st.has_footer = rc == 0;
	if (rc) {
		rc = r_scan(r);
		if (rc)
			return rc;
		if (r->ring_bytes && r_ring_order(r))
			return R_ERR(r, -ENOMEM, UINT64_MAX, "out of memory");
	}

	for (size_t i = 0; i < r->nchunks; i++) {
		r->st.exits += r->chunks[i].nexits;
		r->st.chunk_bytes += r->chunks[i].size;
		r->st.keyframe_bytes += r->chunks[i].kf_comp;
	}
	r->st.chunks = r->nchunks;
	r->st.raw_bytes = r->st.exits * (sizeof(struct vcr_vcpu_state) + sizeof(struct vcr_exit) -
					 VCR_EXIT_DATA_MAX);
	if (r->nchunks) {
		/* Exit counts per vCPU: the last chunk's table plus a walk of
		 * its records. */
		size_t li = r->nchunks - 1;
		uint64_t cnt[VCR_TRACE_MAX_VCPUS] = { 0 };
		bool has_end = false;
		int src = r_scan_chunk(r, li, UINT32_MAX, 0, NULL, cnt, &has_end);
		for (uint32_t v = 0; v < r->nvcpus; v++) {
			r->vtotal[v] = r->vfirst[li * r->nvcpus + v] + (src >= 0 ? cnt[v] : 0);
			r->st.vcpu_exits[v] = r->vtotal[v] - r->vfirst[v];
		}
		if (src < 0)
			r->st.damaged_chunks++;
		r->st.has_end = has_end || r->footer_has_end;
		vcr_err_clear(&r->err);
	}
	r->next_seq = r->nchunks ? r->chunks[0].first_seq : 0;
	r->st.first_seq = r->next_seq;
	return 0;
}

int vcr_reader_open(struct vcr_reader **out, const char *path, struct vcr_err *err)
{
	struct vcr_reader *r = calloc(1, sizeof(*r));
	*out = NULL;
	vcr_err_clear(err);
	if (!r)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "out of memory");
	r->fd = -1;
	vcr_err_clear(&r->err);
	r_dec_reset(&r->dec);
	r_dec_reset(&r->prev);
	r_dec_reset(&r->aux);
	r->dctx = ZSTD_createDCtx();
	int rc = r->dctx ? r_open(r, path) : R_ERR(r, -ENOMEM, UINT64_MAX, "out of memory");
	if (rc) {
		if (err)
			*err = r->err;
		vcr_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}
