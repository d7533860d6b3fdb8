/* gdbstub/session.c: one gdb session's state and its life: gdbstub_new and
 * gdbstub_free, the byte feed (framing events from rsp.h: acks, nacks,
 * interrupts, bad packets, packets to dispatch) and collecting a stop while
 * the target runs. Outgoing framing is wire.c's, the target's state and
 * memory target.c's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub/gdbstub_int.h"

int gdbstub_new(struct gdbstub **out, const struct gdbstub_target_ops *ops, void *t,
		unsigned flags)
{
	struct gdbstub *g = calloc(1, sizeof(*g));
	int rc = -ENOMEM;

	*out = NULL;
	if (!g)
		return -ENOMEM;
	g->ops = ops;
	g->t = t;
	g->flags = flags;
	rsp_buf_init(&g->out);
	rsp_buf_init(&g->reply);
	rsp_buf_init(&g->last);
	rsp_buf_init(&g->threads_xml);
	g->reply.limit = GDBSTUB_PACKET_SIZE;
	g->mem = malloc(GDBSTUB_PACKET_SIZE);
	if (!g->mem)
		goto fail;
	if ((rc = rsp_parser_init(&g->rx, GDBSTUB_PACKET_SIZE)))
		goto fail;
	if ((rc = gdbstub_build_tdesc(g)))
		goto fail;
	gdbstub_tlb_flush(g);
	g->c_thread = UINT32_MAX;
	g->last_stop.signal = 5;
	if (ops->initial_stop)
		ops->initial_stop(t, &g->last_stop);
	if (g->last_stop.thread < gdbstub_nthreads(g))
		g->g_thread = g->last_stop.thread;
	*out = g;
	return 0;
fail:
	gdbstub_free(g);
	return rc;
}

void gdbstub_free(struct gdbstub *g)
{
	if (!g)
		return;
	rsp_parser_free(&g->rx);
	rsp_buf_free(&g->out);
	rsp_buf_free(&g->reply);
	rsp_buf_free(&g->last);
	rsp_buf_free(&g->threads_xml);
	free(g->mem);
	free(g->xml);
	free(g);
}

struct rsp_buf *gdbstub_output(struct gdbstub *g)
{
	return &g->out;
}

bool gdbstub_running(const struct gdbstub *g)
{
	return g->running;
}

void gdbstub_get_stats(const struct gdbstub *g, struct gdbstub_stats *st)
{
	*st = g->stats;
}

int gdbstub_target_stopped(struct gdbstub *g)
{
	struct gdbstub_stop s = { 0 };

	if (!g->running || !g->ops->wait_stop)
		return 0;
	int rc = g->ops->wait_stop(g->t, &s);
	if (rc <= 0)
		return rc;
	gdbstub_stopped(g, &s);
	rsp_buf_reset(&g->reply);
	gdbstub_put_stop(g, &s);
	gdbstub_send_packet(g, g->reply.data, g->reply.len);
	if (s.reason == GDBSTUB_STOP_EXITED)
		g->done = true;
	return 1;
}

int gdbstub_feed(struct gdbstub *g, const uint8_t *in, size_t len)
{
	while (len && !g->done) {
		enum rsp_event ev;
		size_t used = rsp_parse(&g->rx, in, len, &ev);

		in += used;
		len -= used;
		switch (ev) {
		case RSP_EV_NONE:
		case RSP_EV_ACK:
			break;
		case RSP_EV_NACK:
			if (!g->noack && g->last.len)
				rsp_buf_put(&g->out, g->last.data, g->last.len);
			break;
		case RSP_EV_INTERRUPT:
			g->stats.interrupts++;
			if (g->running && g->ops->interrupt) {
				/* Logged: the live test checks that gdb's
				 * Ctrl-C came this way. */
				vcr_log("gdbstub: interrupt (0x03) from gdb: stopping the guest");
				g->ops->interrupt(g->t);
			}
			break;
		case RSP_EV_BAD:
			g->stats.bad_packets++;
			if (g->rx.bad_why == RSP_BAD_CHECKSUM) {
				/* Ask for it again (ack mode only: in no-ack
				 * mode checksums are not verified). */
				rsp_buf_putc(&g->out, '-');
				break;
			}
			/* Too long or undecodable: retransmission would not
			 * help. Take it and say it was wrong. */
			if (!g->noack)
				rsp_buf_putc(&g->out, '+');
			if (!g->running)
				gdbstub_send_packet(g, "E16", 3);
			break;
		case RSP_EV_PACKET:
			g->stats.packets++;
			if (!g->noack)
				rsp_buf_putc(&g->out, '+');
			if (g->running) {
				/* All-stop: gdb sends nothing but 0x03 while
				 * the target runs. Ignore anything else. */
				break;
			}
			gdbstub_dispatch(g, (const char *)g->rx.pkt, g->rx.pkt_len);
			break;
		}
		if (g->out.failed)
			return -ENOMEM;
	}
	return g->done ? 1 : 0;
}

