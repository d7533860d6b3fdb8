/* fuzz_rsp: libFuzzer target for the gdbstub: the input is a byte stream
 * from a "gdb" (packets, garbage, interrupts), fed in pieces to a server on
 * the in-memory target (tests/unit/rsp_memtarget.h). Every reply must be a
 * well-formed packet stream, and nothing may crash, leak or hang. The first
 * byte picks options (reverse target, feeding chunk size). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub/gdbstub.h"
#include "tests/unit/rsp_memtarget.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memtarget m;
	struct gdbstub *g;

	if (size < 1)
		return 0;
	uint8_t opt = data[0];
	data++;
	size--;
	if (mt_init(&m))
		return 0;
	if (gdbstub_new(&g, &mt_ops, &m, (opt & 1) ? GDBSTUB_F_REVERSE : 0)) {
		mt_free(&m);
		return 0;
	}
	size_t chunk = 1 + (size_t)(opt >> 1) * 7;
	struct rsp_parser check;
	rsp_parser_init(&check, GDBSTUB_PACKET_SIZE + 16);
	check.noack = true;	/* checksums are verified below by re-framing */
	while (size) {
		size_t n = size < chunk ? size : chunk;
		int rc = gdbstub_feed(g, data, n);
		data += n;
		size -= n;
		/* Every byte we sent must parse as acks and packets. */
		struct rsp_buf *out = gdbstub_output(g);
		size_t off = 0;
		while (off < out->len) {
			enum rsp_event ev;
			off += rsp_parse(&check, out->data + off, out->len - off, &ev);
			if (ev == RSP_EV_BAD || ev == RSP_EV_INTERRUPT)
				abort();
		}
		rsp_buf_reset(out);
		if (rc)
			break;
	}
	rsp_parser_free(&check);
	gdbstub_free(g);
	mt_free(&m);
	return 0;
}
