/* gdbstub/rsp.c: RSP framing (see rsp.h). */
#include "gdbstub/rsp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <emmintrin.h>

enum {
	ST_IDLE,	/* between packets */
	ST_DATA,	/* inside "$...": payload bytes */
	ST_ESC,		/* after '}' */
	ST_RLE,		/* after '*': the count byte comes next */
	ST_SUM1,	/* after '#' */
	ST_SUM2,
};

int rsp_parser_init(struct rsp_parser *p, size_t max)
{
	memset(p, 0, sizeof(*p));
	if (max < 16)
		return -EINVAL;
	p->pkt = malloc(max + 1);
	if (!p->pkt)
		return -ENOMEM;
	p->max = max;
	p->state = ST_IDLE;
	return 0;
}

void rsp_parser_free(struct rsp_parser *p)
{
	if (!p)
		return;
	free(p->pkt);
	p->pkt = NULL;
}

static void store(struct rsp_parser *p, uint8_t c)
{
	if (p->pkt_len >= p->max) {
		p->overflow = true;
		return;
	}
	p->pkt[p->pkt_len++] = c;
	p->have_last = true;
}

static void begin_packet(struct rsp_parser *p)
{
	p->state = ST_DATA;
	p->pkt_len = 0;
	p->sum = 0;
	p->overflow = false;
	p->badenc = false;
	p->have_last = false;
}

size_t rsp_parse(struct rsp_parser *p, const uint8_t *in, size_t n, enum rsp_event *ev)
{
	size_t i = 0;

	*ev = RSP_EV_NONE;
	while (i < n) {
		uint8_t c = in[i++];
		int h;

		switch (p->state) {
		case ST_IDLE:
			if (c == '$') {
				begin_packet(p);
			} else if (c == 0x03) {
				*ev = RSP_EV_INTERRUPT;
				return i;
			} else if (c == '+') {
				*ev = RSP_EV_ACK;
				return i;
			} else if (c == '-') {
				*ev = RSP_EV_NACK;
				return i;
			}
			/* Anything else between packets is line noise. */
			break;
		case ST_DATA:
			if (c == '#') {
				p->state = ST_SUM1;
				break;
			}
			if (c == '$') {
				/* The peer restarted (we lost the tail of a
				 * packet): resynchronise on the new one. */
				begin_packet(p);
				break;
			}
			p->sum += c;
			if (c == '}')
				p->state = ST_ESC;
			else if (c == '*')
				p->state = ST_RLE;
			else
				store(p, c);
			break;
		case ST_ESC:
			if (c == '#' || c == '$') {
				/* An escape cannot escape the framing. */
				p->badenc = true;
				p->state = c == '#' ? ST_SUM1 : ST_DATA;
				if (c == '$')
					begin_packet(p);
				break;
			}
			p->sum += c;
			store(p, c ^ 0x20);
			p->state = ST_DATA;
			break;
		case ST_RLE:
			if (c == '#' || c == '$') {
				p->badenc = true;
				if (c == '$')
					begin_packet(p);
				else
					p->state = ST_SUM1;
				break;
			}
			p->sum += c;
			p->state = ST_DATA;
			/* "X*n": X repeated n - 29 more times; n is printable,
			 * from ' '+3 upwards (gdb docs, "Run-length encoding"). */
			if (!p->have_last || c < 29 + 3 || c > 126) {
				p->badenc = true;
				break;
			}
			for (unsigned k = 0; k < (unsigned)(c - 29); k++)
				store(p, p->pkt_len ? p->pkt[p->pkt_len - 1] : 0);
			break;
		case ST_SUM1:
			h = rsp_hexval(c);
			p->sum_rx = (uint8_t)((h < 0 ? 0 : h) << 4);
			if (h < 0)
				p->badenc = true;
			p->state = ST_SUM2;
			break;
		case ST_SUM2:
			h = rsp_hexval(c);
			p->sum_rx |= (uint8_t)(h < 0 ? 0 : h);
			if (h < 0)
				p->badenc = true;
			p->state = ST_IDLE;
			p->pkt[p->pkt_len] = 0;
			if (p->overflow) {
				p->bad_why = RSP_BAD_TOO_LONG;
				*ev = RSP_EV_BAD;
			} else if (p->badenc) {
				p->bad_why = RSP_BAD_ENCODING;
				*ev = RSP_EV_BAD;
			} else if (!p->noack && p->sum_rx != p->sum) {
				p->bad_why = RSP_BAD_CHECKSUM;
				*ev = RSP_EV_BAD;
			} else {
				p->bad_why = RSP_BAD_NONE;
				*ev = RSP_EV_PACKET;
			}
			return i;
		}
	}
	return i;
}

/* ------------------------------------------------------------ output */

void rsp_buf_init(struct rsp_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void rsp_buf_free(struct rsp_buf *b)
{
	if (!b)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int rsp_buf_reserve(struct rsp_buf *b, size_t extra)
{
	size_t limit = b->limit ? b->limit : (size_t)64 << 20;

	if (b->failed)
		return -ENOMEM;
	if (extra <= b->cap - b->len)
		return 0;
	if (extra > limit || b->len > limit - extra) {
		b->failed = true;
		return -ENOBUFS;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < extra)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (!d) {
		b->failed = true;
		return -ENOMEM;
	}
	b->data = d;
	b->cap = cap;
	return 0;
}

int rsp_buf_put(struct rsp_buf *b, const void *data, size_t len)
{
	int rc = rsp_buf_reserve(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

int rsp_buf_putc(struct rsp_buf *b, uint8_t c)
{
	return rsp_buf_put(b, &c, 1);
}

int rsp_buf_puts(struct rsp_buf *b, const char *s)
{
	return rsp_buf_put(b, s, strlen(s));
}

int rsp_buf_printf(struct rsp_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return rsp_buf_put(b, small, (size_t)n);
	int rc = rsp_buf_reserve(b, (size_t)n + 1);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* An encoder of s[0..len) into o: at most 2 * len bytes kept, returns how
 * many; it may store (not keep) up to the slack its caller reserves. */
typedef size_t (*encode_fn)(uint8_t *o, const uint8_t *s, size_t len);

/* Append data encoded by enc: room for 2 * len + slack bytes first (every
 * byte may become two: hex digits, an escape). */
static int put_encoded(struct rsp_buf *b, const void *data, size_t len, size_t slack,
		       encode_fn enc)
{
	int rc;

	if (len > (SIZE_MAX - slack) / 2)
		return -EOVERFLOW;
	if ((rc = rsp_buf_reserve(b, 2 * len + slack)))
		return rc;
	b->len += enc(b->data + b->len, data, len);
	return 0;
}

static const char hexdig[] = "0123456789abcdef";

/* Two hex digits per byte, one 16-bit store (little-endian: the high
 * nibble's digit first). Built by the compiler. */
#define HEXD(n) ((n) < 10 ? '0' + (n) : 'a' + (n) - 10)
#define HEXP(i) (uint16_t)(HEXD((i) >> 4) | HEXD((i) & 15) << 8)
#define HEXP4(i) HEXP(i), HEXP((i) + 1), HEXP((i) + 2), HEXP((i) + 3)
#define HEXP16(i) HEXP4(i), HEXP4((i) + 4), HEXP4((i) + 8), HEXP4((i) + 12)
#define HEXP64(i) HEXP16(i), HEXP16((i) + 16), HEXP16((i) + 32), HEXP16((i) + 48)
static const uint16_t hexpair[256] = { HEXP64(0), HEXP64(64), HEXP64(128), HEXP64(192) };

static size_t encode_hex(uint8_t *o, const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		memcpy(o + 2 * i, &hexpair[s[i]], 2);
	return 2 * len;
}

int rsp_buf_put_hex(struct rsp_buf *b, const void *data, size_t len)
{
	return put_encoded(b, data, len, 0, encode_hex);
}

static inline bool needs_escape(uint8_t c)
{
	return c == '#' || c == '$' || c == '}' || c == '*';
}

static size_t encode_escaped(uint8_t *o, const uint8_t *s, size_t len)
{
	uint8_t *o0 = o;

	for (size_t i = 0; i < len; i++) {
		if (needs_escape(s[i])) {
			*o++ = '}';
			*o++ = s[i] ^ 0x20;
		} else {
			*o++ = s[i];
		}
	}
	return (size_t)(o - o0);
}

int rsp_buf_put_escaped(struct rsp_buf *b, const void *data, size_t len)
{
	return put_encoded(b, data, len, 0, encode_escaped);
}

/* One step of the encoder at s[i] (i < len): an escape, a run of 4 or more
 * equal bytes as "c*N" (N - 29 more copies of c, as gdbserver does: a run of
 * zeros or of gdb's 'x' (unavailable register) digits costs gdb 3
 * characters to read instead of up to 98; gdb reads replies one character
 * at a time, so fewer characters are less of its time), or one plain byte.
 * Only plain bytes are repeated; N avoids '#' and '$'. Returns the bytes of
 * s consumed. */
static inline size_t put_one(uint8_t **op, const uint8_t *s, size_t i, size_t len)
{
	uint8_t *o = *op;
	uint8_t c = s[i];
	if (needs_escape(c)) {
		*o++ = '}';
		*o++ = c ^ 0x20;
		*op = o;
		return 1;
	}
	size_t run = 1;
	while (i + run < len && s[i + run] == c && run < 98)
		run++;
	*o++ = c;
	size_t extra = run - 1;
	if (extra < 3) {
		*op = o;
		return 1;
	}
	while (extra + 29 == '#' || extra + 29 == '$')
		extra--;
	*o++ = '*';
	*o++ = (uint8_t)(extra + 29);
	*op = o;
	return extra + 1;
}

/* The reference encoder: put_one at every position. rsp_put_packet gives
 * the same bytes faster; tests/unit/rsp_parser_test compares them. */
size_t rsp_encode_ref(uint8_t *o, const void *payload, size_t len)
{
	const uint8_t *s = payload;
	uint8_t *o0 = o;
	for (size_t i = 0; i < len;)
		i += put_one(&o, s, i, len);
	return (size_t)(o - o0);
}

/* The encoder of rsp_put_packet. An 8 KiB memory read is 16 KiB of hex:
 * byte by byte, the encoder cost the stub ~40 us a read, a fifth of what
 * gdb itself spends. 16 bytes at a time (SSE2, baseline x86-64): a block
 * where no byte needs an escape and no run of 4 equal bytes starts is
 * copied whole; else the bytes before the first such position are, and
 * put_one handles that position. A run of 4 starting at j is
 * s[j] == s[j+1] == s[j+2] == s[j+3], one compare mask per shift, so the
 * output is byte for byte that of rsp_encode_ref. */
static size_t encode_fast(uint8_t *o, const uint8_t *s, size_t len)
{
	uint8_t *o0 = o;
	size_t i = 0;
	const __m128i hash = _mm_set1_epi8('#'), dollar = _mm_set1_epi8('$');
	const __m128i brace = _mm_set1_epi8('}'), star = _mm_set1_epi8('*');

	while (i + 19 <= len) {
		__m128i v0 = _mm_loadu_si128((const __m128i *)(s + i));
		__m128i v1 = _mm_loadu_si128((const __m128i *)(s + i + 1));
		__m128i v2 = _mm_loadu_si128((const __m128i *)(s + i + 2));
		__m128i v3 = _mm_loadu_si128((const __m128i *)(s + i + 3));
		__m128i run = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(v0, v1),
							  _mm_cmpeq_epi8(v0, v2)),
					    _mm_cmpeq_epi8(v0, v3));
		__m128i esc = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v0, hash),
							_mm_cmpeq_epi8(v0, dollar)),
					   _mm_or_si128(_mm_cmpeq_epi8(v0, brace),
							_mm_cmpeq_epi8(v0, star)));
		unsigned stop = (unsigned)_mm_movemask_epi8(_mm_or_si128(run, esc));
		_mm_storeu_si128((__m128i *)o, v0);
		if (!stop) {
			o += 16;
			i += 16;
			continue;
		}
		unsigned k = (unsigned)__builtin_ctz(stop);
		o += k;
		i += k;
		i += put_one(&o, s, i, len);
	}
	while (i < len)
		i += put_one(&o, s, i, len);
	return (size_t)(o - o0);
}

static uint8_t sum_bytes(const uint8_t *p, size_t n)
{
	__m128i acc = _mm_setzero_si128();
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128((const __m128i *)(p + i)),
						      _mm_setzero_si128()));
	uint64_t sum = (uint64_t)_mm_cvtsi128_si64(acc) +
		       (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
	for (; i < n; i++)
		sum += p[i];
	return (uint8_t)sum;
}

int rsp_put_packet(struct rsp_buf *out, const void *payload, size_t len)
{
	int rc;

	if ((rc = rsp_buf_putc(out, '$')))
		return rc;
	/* Worst case: every byte escaped, plus the 3-byte tail; the fast
	 * encoder stores 16 bytes where it may keep fewer. */
	size_t start = out->len;
	if ((rc = put_encoded(out, payload, len, 19, encode_fast)))
		return rc;
	uint8_t sum = sum_bytes(out->data + start, out->len - start);
	uint8_t tail[3] = { '#', (uint8_t)hexdig[sum >> 4], (uint8_t)hexdig[sum & 15] };
	return rsp_buf_put(out, tail, 3);
}

/* ------------------------------------------------------------ parsing */

int rsp_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t rsp_unhex(const char *s, size_t len, uint8_t *out, size_t max)
{
	if (len % 2)
		return -EINVAL;
	size_t n = len / 2;
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		int hi = rsp_hexval((unsigned char)s[2 * i]);
		int lo = rsp_hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (ssize_t)n;
}

int rsp_parse_hex(const char **s, const char *end, uint64_t *v)
{
	const char *p = *s;
	uint64_t x = 0;
	int nd = 0;
	bool any = false;

	while (p < end) {
		int h = rsp_hexval((unsigned char)*p);
		if (h < 0)
			break;
		if (nd == 16)
			return -EINVAL;
		x = x << 4 | (uint64_t)h;
		if (x)		/* leading zeros do not count */
			nd++;
		p++;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*v = x;
	*s = p;
	return 0;
}
