/*
 * gdbstub/rsp.h: the GDB remote serial protocol's framing layer, with no
 * knowledge of commands or machines.
 *
 * Receive side: an incremental parser fed with whatever bytes the socket gave
 * (any split, any garbage). It reports one event at a time: a complete packet
 * (checksum verified unless no-ack mode is on; `}` escapes and `*` run-length
 * encoding undone), the interrupt byte 0x03 outside a packet, a '+'/'-' ack,
 * or a bad packet (checksum mismatch, payload over the size limit, broken
 * escape or run-length). Bytes outside packets other than these are skipped.
 * The payload is bounded by `max` given at init: a longer packet is consumed
 * to its end and reported bad, never stored; nothing the peer sends can make
 * the parser allocate more than `max` bytes or loop without consuming input.
 *
 * Send side: rsp_buf is a growable byte buffer; rsp_put_packet frames a
 * payload ("$" escaped, run-length encoded payload "#" 2-hex checksum).
 *
 * Threading: one thread per parser/buffer. Errors: 0 or -errno (-ENOMEM).
 */
#ifndef VCR_GDBSTUB_RSP_H
#define VCR_GDBSTUB_RSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum rsp_event {
	RSP_EV_NONE = 0,	/* all input consumed, nothing complete yet */
	RSP_EV_PACKET,		/* rsp_parser.pkt[0..pkt_len) holds a payload */
	RSP_EV_INTERRUPT,	/* 0x03 outside a packet */
	RSP_EV_ACK,		/* '+' */
	RSP_EV_NACK,		/* '-': the peer wants the last packet again */
	RSP_EV_BAD,		/* a framed packet was rejected: see bad_why */
};

enum rsp_bad {
	RSP_BAD_NONE = 0,
	RSP_BAD_CHECKSUM,
	RSP_BAD_TOO_LONG,
	RSP_BAD_ENCODING,	/* '}' or '*' at a place that cannot be decoded */
};

struct rsp_parser {
	uint8_t *pkt;		/* decoded payload, NUL-terminated, max + 1 bytes */
	size_t pkt_len;
	size_t max;		/* payload limit after decoding */
	bool noack;		/* do not verify checksums (QStartNoAckMode) */
	enum rsp_bad bad_why;	/* valid after RSP_EV_BAD */
	/* private */
	int state;
	uint8_t sum;		/* running checksum of raw bytes */
	uint8_t sum_rx;		/* received checksum digits */
	bool overflow, badenc;
	bool have_last;		/* a decoded byte exists (for '*') */
};

/* Allocate the payload buffer (max bytes, max >= 16). */
int rsp_parser_init(struct rsp_parser *p, size_t max);
void rsp_parser_free(struct rsp_parser *p);

/* Consume bytes from in[0..n) until one event is complete. Returns the number
 * of bytes consumed (<= n) and sets *ev; *ev is RSP_EV_NONE only when all n
 * bytes were consumed without completing an event. A RSP_EV_PACKET payload
 * stays valid until the next call. */
size_t rsp_parse(struct rsp_parser *p, const uint8_t *in, size_t n, enum rsp_event *ev);

/* Output buffer. */
struct rsp_buf {
	uint8_t *data;
	size_t len, cap;
	size_t limit;		/* refuse to grow past this (0: 64 MiB) */
	bool failed;		/* an append did not fit or malloc failed */
};

void rsp_buf_init(struct rsp_buf *b);
void rsp_buf_free(struct rsp_buf *b);
static inline void rsp_buf_reset(struct rsp_buf *b)
{
	b->len = 0;
	b->failed = false;
}
int rsp_buf_reserve(struct rsp_buf *b, size_t extra);
int rsp_buf_put(struct rsp_buf *b, const void *data, size_t len);
int rsp_buf_putc(struct rsp_buf *b, uint8_t c);
int rsp_buf_puts(struct rsp_buf *b, const char *s);
int rsp_buf_printf(struct rsp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Two lower-case hex digits per byte. */
int rsp_buf_put_hex(struct rsp_buf *b, const void *data, size_t len);
/* Binary data with '#', '$', '}' and '*' escaped ('}' then byte ^ 0x20). */
int rsp_buf_put_escaped(struct rsp_buf *b, const void *data, size_t len);

/* Append "$" payload "#cc" to out, escaping the payload's special bytes
 * ('#' '$' '}' '*') and run-length encoding runs of 4 or more plain bytes
 * ("c*N", N - 29 more copies, never '#' or '$'), as gdbserver does. The
 * payload is raw: callers must not escape it themselves. */
int rsp_put_packet(struct rsp_buf *out, const void *payload, size_t len);
/* The byte-at-a-time encoder rsp_put_packet must match (payload only, no
 * framing): writes at most 2 * len bytes to o, returns how many. For the
 * tests. */
size_t rsp_encode_ref(uint8_t *o, const void *payload, size_t len);

/* Helpers for command parsing, all bounds-checked. */
int rsp_hexval(int c);	/* 0..15 or -1 */
/* Decode up to 2*max hex digits from s[0..len) into out; returns the number
 * of bytes decoded, or -EINVAL on an odd count or a non-hex digit. */
ssize_t rsp_unhex(const char *s, size_t len, uint8_t *out, size_t max);
/* Parse a hex number at *s (at least one digit, at most 16) and advance *s;
 * -EINVAL when there is none or it overflows. */
int rsp_parse_hex(const char **s, const char *end, uint64_t *v);

#endif
