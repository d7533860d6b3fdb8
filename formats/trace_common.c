/* formats/trace_common.c: pieces shared by the trace writer and reader. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include "formats/trace.h"
#include "formats/trace_fmt.h"

uint64_t trf_hash(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void trf_hash_n(uint64_t *h, const uint8_t *const *p, const size_t *len, unsigned n)
{
	const uint64_t m = 0x100000001b3ull;
	uint64_t x[4];
	const uint8_t *q[4];
	size_t left[4];
	if (n > 4)
		n = 4;
	for (unsigned k = 0; k < n; k++) {
		x[k] = h[k];
		q[k] = p[k];
		left[k] = len[k];
	}
	/* Rounds over the lanes with bytes left, as far as the shortest goes;
	 * a finished or absent lane hashes lane 0's bytes into a scratch
	 * value (four chains cost what one does). */
	for (;;) {
		size_t run = SIZE_MAX;
		unsigned live = 0;
		for (unsigned k = 0; k < n; k++)
			if (left[k]) {
				live++;
				if (left[k] < run)
					run = left[k];
			}
		if (!live)
			break;
		const uint8_t *b[4];
		uint64_t y[4], scratch = 0;
		unsigned src = 0;
		while (!left[src])
			src++;
		for (unsigned k = 0; k < 4; k++) {
			bool on = k < n && left[k];
			b[k] = on ? q[k] : q[src];
			y[k] = on ? x[k] : scratch;
		}
		for (size_t i = 0; i < run; i++) {
			y[0] = (y[0] ^ b[0][i]) * m;
			y[1] = (y[1] ^ b[1][i]) * m;
			y[2] = (y[2] ^ b[2][i]) * m;
			y[3] = (y[3] ^ b[3][i]) * m;
		}
		for (unsigned k = 0; k < n; k++)
			if (left[k]) {
				x[k] = y[k];
				q[k] += run;
				left[k] -= run;
			}
	}
	for (unsigned k = 0; k < n; k++)
		h[k] = x[k];
}

const struct trf_class trf_classes[3] = {
	{ VCR_CLASS_REGS, 0, TRF_WORDS_REGS },
	{ VCR_CLASS_SREGS, TRF_WORDS_REGS, TRF_WORDS_SREGS },
	{ VCR_CLASS_EVENTS, TRF_WORDS_REGS + TRF_WORDS_SREGS, TRF_WORDS_EVENTS },
};

const char *vcr_trace_info_get(const struct vcr_trace_info *info, const char *key)
{
	for (uint32_t i = 0; i < info->nkv; i++)
		if (info->kv[i].key && !strcmp(info->kv[i].key, key))
			return info->kv[i].value;
	return NULL;
}

const char *vcr_rec_type_name(uint32_t type)
{
	switch (type) {
	case VCR_REC_EXIT: return "exit";
	case VCR_REC_INPUT: return "input";
	case VCR_REC_SET_STATE: return "set_state";
	case VCR_REC_INJECT: return "inject";
	case VCR_REC_MEM_WRITE: return "mem_write";
	case VCR_REC_MEM_PAGES: return "mem_pages";
	case VCR_REC_MARKER: return "marker";
	case VCR_REC_END: return "end";
	case VCR_REC_IRQ_LINE: return "irq_line";
	case VCR_REC_NOTE: return "note";
	case VCR_REC_CKPT: return "ckpt";
	case VCR_REC_CKPT_PAGES: return "ckpt_pages";
	default: return "unknown";
	}
}

const char *vcr_input_kind_name(uint32_t kind)
{
	switch (kind) {
	case VCR_INPUT_IO_IN: return "io_in";
	case VCR_INPUT_MMIO_READ: return "mmio_read";
	default: return "unknown";
	}
}

const char *vcr_note_kind_name(uint32_t kind)
{
	return kind == VCR_NOTE_CONSOLE_TAIL ? "console-tail" : "unknown";
}

int trf_grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	uint8_t *p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static bool ckpt_zero(const uint8_t *p)
{
	uint64_t acc = 0;
	for (size_t i = 0; i < VCR_CKPT_PAGE; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	return acc == 0;
}

size_t vcr_ckpt_page_put(uint8_t *dst, const uint8_t *page, uint64_t ref)
{
	if (ckpt_zero(page)) {
		dst[0] = VCR_CKPT_ZERO;
		return 1;
	}
	if (ref != UINT64_MAX) {
		dst[0] = VCR_CKPT_REPEAT;
		return 1 + trf_put_varint(dst + 1, ref);
	}
	dst[0] = VCR_CKPT_RAW;
	memcpy(dst + 1, page, VCR_CKPT_PAGE);
	return 1 + VCR_CKPT_PAGE;
}

/* XOR runs (docs/format.md, CKPT_PAGES): varint nruns (1..2048), then per
 * run varint gap (bytes left as they were since the previous run's end,
 * or the page's start), varint len (>= 1), len bytes to XOR in; the runs
 * end inside the page. Two runs closer than 3 bytes cost more apart than
 * joined (a run costs 2 bytes of varints at least), so they are joined. */
#define XOR_JOIN 3u
#define XOR_MAX_RUNS (VCR_CKPT_PAGE / 2)

size_t vcr_ckpt_page_put_xor(uint8_t *dst, const uint8_t *page, const uint8_t *prev,
			     uint64_t back)
{
	/* Runs as (start, end) first: the count goes before them. */
	uint16_t rs[XOR_MAX_RUNS], re[XOR_MAX_RUNS];
	uint32_t nr = 0, i = 0;
	size_t cost = 1 + 10 + 2;	/* tag, back, nruns */
	if (!back)
		return 0;
	while (i < VCR_CKPT_PAGE) {
		/* Equal words skipped 8 bytes at a time. */
		if (i % 8 == 0 && i + 8 <= VCR_CKPT_PAGE) {
			uint64_t a, b;
			memcpy(&a, page + i, 8);
			memcpy(&b, prev + i, 8);
			if (a == b) {
				i += 8;
				continue;
			}
		}
		if (page[i] == prev[i]) {
			i++;
			continue;
		}
		if (nr && i - re[nr - 1] < XOR_JOIN) {
			cost += i + 1 - re[nr - 1];
			re[nr - 1] = (uint16_t)(i + 1);
		} else {
			if (nr == XOR_MAX_RUNS)
				return 0;
			rs[nr] = (uint16_t)i;
			re[nr] = (uint16_t)(i + 1);
			nr++;
			cost += 2 + 2 + 1;	/* varints of up to 2 bytes each */
		}
		if (cost >= 1 + VCR_CKPT_PAGE)
			return 0;
		i++;
	}
	if (!nr)
		return 0;	/* unchanged: a writer stores such a page otherwise */
	uint8_t *p = dst;
	*p++ = VCR_CKPT_XOR;
	p += trf_put_varint(p, back);
	p += trf_put_varint(p, nr);
	uint32_t at = 0;
	for (uint32_t k = 0; k < nr; k++) {
		p += trf_put_varint(p, rs[k] - at);
		p += trf_put_varint(p, (uint64_t)(re[k] - rs[k]));
		for (uint32_t b = rs[k]; b < re[k]; b++)
			*p++ = page[b] ^ prev[b];
		at = re[k];
	}
	return (size_t)(p - dst);
}

/* The runs' bytes: their end, or NULL when malformed. */
static const uint8_t *xor_walk(const uint8_t *p, const uint8_t *end, uint8_t *page)
{
	uint64_t nr, gap, n, at = 0;
	if (!trf_get_varint(&p, end, &nr) || nr == 0 || nr > XOR_MAX_RUNS)
		return NULL;
	for (uint64_t k = 0; k < nr; k++) {
		if (!trf_get_varint(&p, end, &gap) || !trf_get_varint(&p, end, &n) || n == 0 ||
		    gap > VCR_CKPT_PAGE - at || n > VCR_CKPT_PAGE - at - gap ||
		    n > (uint64_t)(end - p))
			return NULL;
		at += gap;
		for (uint64_t b = 0; page && b < n; b++)
			page[at + b] ^= p[b];
		at += n;
		p += n;
	}
	return p;
}

int vcr_ckpt_xor_apply(uint8_t *page, const uint8_t *runs, uint32_t len)
{
	/* Checked before the page is touched: unchanged on -EBADMSG. */
	if (xor_walk(runs, runs + len, NULL) != runs + len)
		return -EBADMSG;
	xor_walk(runs, runs + len, page);
	return 0;
}

int vcr_ckpt_pages_scan(const uint8_t *data, uint64_t len, uint64_t first, uint32_t count,
			struct vcr_ckpt_page *out)
{
	const uint8_t *p = data, *end = data + len;
	for (uint32_t i = 0; i < count; i++) {
		if (p >= end)
			return -EBADMSG;
		uint8_t enc = *p++;
		out[i].enc = enc;
		out[i].off = 0;
		out[i].ref = 0;
		out[i].len = 0;
		switch (enc) {
		case VCR_CKPT_ZERO:
			break;
		case VCR_CKPT_RAW:
			if ((size_t)(end - p) < VCR_CKPT_PAGE)
				return -EBADMSG;
			out[i].off = (uint32_t)(p - data);
			p += VCR_CKPT_PAGE;
			break;
		case VCR_CKPT_REPEAT:
			if (!trf_get_varint(&p, end, &out[i].ref) || out[i].ref >= first + i)
				return -EBADMSG;
			break;
		case VCR_CKPT_XOR: {
			const uint8_t *q;
			if (!trf_get_varint(&p, end, &out[i].ref) || out[i].ref == 0 ||
			    !(q = xor_walk(p, end, NULL)))
				return -EBADMSG;
			out[i].off = (uint32_t)(p - data);
			out[i].len = (uint32_t)(q - p);
			p = q;
			break;
		}
		default:
			return -EBADMSG;
		}
	}
	return p == end ? 0 : -EBADMSG;
}
