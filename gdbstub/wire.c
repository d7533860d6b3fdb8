/* gdbstub/wire.c: outgoing packets: framing into g->out, and the copy kept
 * for a '-' (retransmission) while acks are on. */
#include "gdbstub/gdbstub_int.h"

void gdbstub_send_packet(struct gdbstub *g, const void *p, size_t len)
{
	size_t start = g->out.len;

	rsp_put_packet(&g->out, p, len);
	if (!g->noack && !g->out.failed) {
		rsp_buf_reset(&g->last);
		rsp_buf_put(&g->last, g->out.data + start, g->out.len - start);
	}
}
