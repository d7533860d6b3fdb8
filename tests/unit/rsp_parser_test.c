/* rsp_parser_test: RSP framing: checksums, escapes, run-length, interrupt,
 * size limit, resynchronisation, and the encoder round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub/rsp.h"
#include "tests/lib/tap.h"

/* Feed s (n bytes) in pieces of `chunk` bytes; record the events. */
static int feed(struct rsp_parser *p, const void *s, size_t n, size_t chunk,
		enum rsp_event *evs, int max)
{
	const uint8_t *in = s;
	int nev = 0;

	while (n) {
		size_t k = n < chunk ? n : chunk;
		size_t off = 0;
		while (off < k) {
			enum rsp_event ev;
			size_t used = rsp_parse(p, in + off, k - off, &ev);
			if (used == 0 && ev == RSP_EV_NONE)
				return -1;	/* would loop */
			off += used;
			if (ev != RSP_EV_NONE && nev < max)
				evs[nev++] = ev;
		}
		in += k;
		n -= k;
	}
	return nev;
}

static const char *frame(const char *payload, char *buf, size_t len)
{
	uint8_t sum = 0;
	for (const char *c = payload; *c; c++)
		sum += (uint8_t)*c;
	snprintf(buf, len, "$%s#%02x", payload, sum);
	return buf;
}

int main(void)
{
	struct rsp_parser p;
	enum rsp_event ev[16];
	char buf[512];
	int n;

	tap_plan(21);
	if (rsp_parser_init(&p, 64))
		tap_bail("init");

	frame("qSupported:xyz", buf, sizeof(buf));
	n = feed(&p, buf, strlen(buf), 1000, ev, 16);
	tap_ok(n == 1 && ev[0] == RSP_EV_PACKET && p.pkt_len == 14 &&
	       !memcmp(p.pkt, "qSupported:xyz", 14), "a framed packet is decoded");

	n = feed(&p, buf, strlen(buf), 1, ev, 16);
	tap_ok(n == 1 && ev[0] == RSP_EV_PACKET && !strcmp((char *)p.pkt, "qSupported:xyz"),
	       "the same packet fed one byte at a time");

	n = feed(&p, "$g#00", 5, 100, ev, 16);
	tap_ok(n == 1 && ev[0] == RSP_EV_BAD && p.bad_why == RSP_BAD_CHECKSUM,
	       "a wrong checksum is reported");

	p.noack = true;
	n = feed(&p, "$g#00", 5, 100, ev, 16);
	tap_ok(n == 1 && ev[0] == RSP_EV_PACKET, "no-ack mode does not verify checksums");
	p.noack = false;

	n = feed(&p, "+-\x03junk+", 8, 3, ev, 16);
	tap_ok(n == 4 && ev[0] == RSP_EV_ACK && ev[1] == RSP_EV_NACK &&
	       ev[2] == RSP_EV_INTERRUPT && ev[3] == RSP_EV_ACK,
	       "acks, nack and the interrupt byte between packets; noise skipped");

	/* "X}\x03#" escaped: '}' followed by '#'^0x20 = 0x03. */
	{
		const char raw[] = "X}\x03Y";
		uint8_t sum = 0;
		for (size_t i = 0; i < 4; i++)
			sum += (uint8_t)raw[i];
		snprintf(buf, sizeof(buf), "$%s#%02x", raw, sum);
		n = feed(&p, buf, strlen(buf), 2, ev, 16);
		tap_ok(n == 1 && ev[0] == RSP_EV_PACKET && p.pkt_len == 3 && p.pkt[1] == '#',
		       "an escaped '#' is decoded");
	}

	/* Run-length: "0* " = '0' + 3 more ('*' count ' ' = 32 - 29). */
	frame("a0* b", buf, sizeof(buf));
	n = feed(&p, buf, strlen(buf), 100, ev, 16);
	tap_ok(n == 1 && ev[0] == RSP_EV_PACKET && !strcmp((char *)p.pkt, "a0000b"),
	       "run-length encoding is expanded");

	frame("*a", buf, sizeof(buf));
	n = feed(&p, buf, strlen(buf), 100, ev, 16);
	tap_ok(n == 1 && ev[0] == RSP_EV_BAD && p.bad_why == RSP_BAD_ENCODING,
	       "a run-length with nothing to repeat is refused");

	/* Over the limit (64): consumed to its end, reported, next one fine. */
	{
		char big[300];
		memset(big, 'a', 200);
		big[200] = 0;
		char fr[400];
		frame(big, fr, sizeof(fr));
		strcat(fr, frame("g", buf, sizeof(buf)));
		n = feed(&p, fr, strlen(fr), 7, ev, 16);
		tap_ok(n == 2 && ev[0] == RSP_EV_BAD && ev[1] == RSP_EV_PACKET &&
		       !strcmp((char *)p.pkt, "g"),
		       "an oversized packet is refused and the next one parsed");
	}

	/* RLE that expands past the limit. */
	{
		char rl[200] = "a";
		for (int i = 0; i < 10; i++)
			strcat(rl, "a*~");	/* 1 + 97 each */
		frame(rl, buf, sizeof(buf));
		n = feed(&p, buf, strlen(buf), 100, ev, 16);
		tap_ok(n == 1 && ev[0] == RSP_EV_BAD && p.bad_why == RSP_BAD_TOO_LONG,
		       "run-length expansion is bounded by the limit");
	}

	/* A truncated packet followed by a new '$': resynchronise. */
	n = feed(&p, "$m10,", 5, 100, ev, 16);
	tap_ok(n == 0, "a truncated packet produces no event");
	frame("qC", buf, sizeof(buf));
	n = feed(&p, buf, strlen(buf), 100, ev, 16);
	tap_ok(n == 1 && ev[0] == RSP_EV_PACKET && !strcmp((char *)p.pkt, "qC"),
	       "a new '$' restarts after a truncated packet");

	n = feed(&p, "$g#zz", 5, 100, ev, 16);
	tap_ok(n == 1 && ev[0] == RSP_EV_BAD, "non-hex checksum digits are refused");

	/* Encoder round trip over all byte values. */
	{
		struct rsp_buf out;
		uint8_t data[60];
		struct rsp_parser q;
		rsp_buf_init(&out);
		rsp_parser_init(&q, 64);
		int good = 1;
		srand(1);
		for (int round = 0; round < 200 && good; round++) {
			size_t len = (size_t)(rand() % 60);
			for (size_t i = 0; i < len; i++)
				data[i] = (uint8_t)(round < 5 ? "#$}*\x03"[round] : rand());
			rsp_buf_reset(&out);
			rsp_put_packet(&out, data, len);
			n = feed(&q, out.data, out.len, 5, ev, 16);
			good = n == 1 && ev[0] == RSP_EV_PACKET && q.pkt_len == len &&
			       !memcmp(q.pkt, data, len);
		}
		tap_ok(good, "encode then parse returns the payload (200 random payloads)");
		rsp_buf_free(&out);
		rsp_parser_free(&q);
	}

	/* Run-length encoding of runs, including lengths whose count byte would
	 * be '#' (6 more) or '$' (7 more), and runs longer than one count. */
	{
		struct rsp_buf out;
		static uint8_t data[4096];
		struct rsp_parser q;
		rsp_buf_init(&out);
		rsp_parser_init(&q, sizeof(data));
		int good = 1, framing = 1;
		srand(2);
		for (int round = 0; round < 300 && good; round++) {
			size_t len = 0;
			while (len < sizeof(data) - 300) {
				size_t run = round < 120 ? (size_t)round % 120 + 1
							 : (size_t)(rand() % 200) + 1;
				uint8_t c = (uint8_t)("0x}a#"[rand() % 5]);
				memset(data + len, c, run);
				len += run;
				if (round < 120)
					break;
			}
			rsp_buf_reset(&out);
			rsp_put_packet(&out, data, len);
			/* No '#' or '$' inside the frame but the delimiters. */
			for (size_t i = 1; i + 3 < out.len; i++)
				if (out.data[i] == '#' || out.data[i] == '$')
					framing = 0;
			n = feed(&q, out.data, out.len, 7, ev, 16);
			good = n == 1 && ev[0] == RSP_EV_PACKET && q.pkt_len == len &&
			       !memcmp(q.pkt, data, len);
		}
		tap_ok(good && framing, "run-length encoded payloads parse back (300 payloads)");
		memset(data, '0', 2048);
		rsp_buf_reset(&out);
		rsp_put_packet(&out, data, 2048);
		tap_ok(out.len < 100, "2048 '0' digits travel in %zu bytes", out.len);
		rsp_buf_free(&out);
		rsp_parser_free(&q);
	}

	/* The vectorised encoder of rsp_put_packet gives exactly the bytes of
	 * the byte-at-a-time reference: payloads mixing runs of every length
	 * near 4, escapes and hex text, at every length 0..300 and start. */
	{
		struct rsp_buf out;
		static uint8_t data[600], ref[1300];
		rsp_buf_init(&out);
		int same = 1, sums = 1;
		srand(3);
		for (int round = 0; round < 3000 && same && sums; round++) {
			size_t len = (size_t)round % 301;
			for (size_t i = 0; i < len;) {
				size_t run = (size_t)(rand() % 7) + 1;
				if (rand() % 8 == 0)
					run = (size_t)(rand() % 120) + 1;
				uint8_t c = (uint8_t)("0123456789abcdef#$}*x"[rand() % 21]);
				for (size_t k = 0; k < run && i < len; k++)
					data[i++] = c;
			}
			size_t nref = rsp_encode_ref(ref, data, len);
			rsp_buf_reset(&out);
			rsp_put_packet(&out, data, len);
			same = out.len == nref + 4 && out.data[0] == '$' &&
			       !memcmp(out.data + 1, ref, nref) && out.data[nref + 1] == '#';
			uint8_t sum = 0;
			for (size_t i = 0; i < nref; i++)
				sum += ref[i];
			char cs[3];
			snprintf(cs, sizeof(cs), "%02x", sum);
			sums = same && !memcmp(out.data + nref + 2, cs, 2);
			if (!same || !sums)
				tap_diag("round %d, length %zu", round, len);
		}
		tap_ok(same, "the fast encoder matches the reference encoder byte for byte (3000 payloads)");
		tap_ok(sums, "the fast checksum matches a byte-by-byte sum");
		rsp_buf_free(&out);
	}

	{
		uint8_t out[4];
		tap_ok(rsp_unhex("0aFf", 4, out, 4) == 2 && out[0] == 0x0a && out[1] == 0xff &&
		       rsp_unhex("0g", 2, out, 4) < 0 && rsp_unhex("abc", 3, out, 4) < 0,
		       "hex decoding checks digits and length");
		const char *s = "00000000000000000000ffff,";
		uint64_t v;
		tap_ok(rsp_parse_hex(&s, s + 25, &v) == 0 && v == 0xffff && *s == ',',
		       "hex numbers with leading zeros");
		const char *t = "12345678123456781";
		tap_ok(rsp_parse_hex(&t, t + 17, &v) < 0, "a 17-digit hex number overflows");
	}

	rsp_parser_free(&p);
	return tap_exit_status();
}
