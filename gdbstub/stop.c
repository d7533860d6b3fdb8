/* gdbstub/stop.c: stop replies (T with the thread, the expedited registers
 * and the reason; W when the guest ended) and what a stop leaves in the
 * session (current threads, no stale translations). */
#include "gdbstub/gdbstub_int.h"

/* Registers sent with every stop reply ("n:value;"), as gdbserver does: rip,
 * rsp and rbp are what gdb needs to print the stop and build the frame id
 * after a stepi, so it does not have to fetch the whole 'g' block (one round
 * trip less per step). gdb caches them for the stopped thread. */
static void put_expedited(struct gdbstub *g, unsigned thread)
{
	static const char *const names[] = { "rip", "rsp", "rbp" };
	struct vcr_vcpu_state st;
	unsigned avail;

	if (thread >= gdbstub_nthreads(g) || gdbstub_get_state(g, thread, &st, &avail))
		return;
	for (size_t i = 0; i < VCR_ARRAY_SIZE(names); i++) {
		const struct vcr_reg *r = vcr_reg_by_name(names[i]);
		if (!r || r->gdb_regnum < 0 || r->fmt == VCR_REG_NONE || !(avail & r->cls))
			continue;
		rsp_buf_printf(&g->reply, "%x:", (unsigned)r->gdb_regnum);
		gdbstub_put_reg(g, &st, avail, r);
		rsp_buf_putc(&g->reply, ';');
	}
}

/* The stop reason's "key:value;" in a T reply. */
struct stop_reason {
	const char *key;
	const char *value;	/* NULL: the watchpoint address */
};

static const struct stop_reason reasons[] = {
	[GDBSTUB_STOP_SWBREAK] = { "swbreak", "" },
	[GDBSTUB_STOP_HWBREAK] = { "hwbreak", "" },
	[GDBSTUB_STOP_WATCH] = { "watch", NULL },
	[GDBSTUB_STOP_AWATCH] = { "awatch", NULL },
	[GDBSTUB_STOP_REPLAY_BEGIN] = { "replaylog", "begin" },
	[GDBSTUB_STOP_REPLAY_END] = { "replaylog", "end" },
};

void gdbstub_put_stop(struct gdbstub *g, const struct gdbstub_stop *s)
{
	if (s->reason == GDBSTUB_STOP_EXITED) {
		rsp_buf_printf(&g->reply, "W%02x", (unsigned)(s->exit_code & 0xff));
		return;
	}
	rsp_buf_printf(&g->reply, "T%02xthread:%x;", (unsigned)(s->signal ? s->signal : 5),
		       s->thread + 1);
	put_expedited(g, s->thread);
	if ((size_t)s->reason >= VCR_ARRAY_SIZE(reasons) || !reasons[s->reason].key)
		return;
	const struct stop_reason *r = &reasons[s->reason];
	rsp_buf_printf(&g->reply, "%s:", r->key);
	if (r->value)
		gdbstub_reply_str(g, r->value);
	else
		rsp_buf_printf(&g->reply, "%llx", (unsigned long long)s->addr);
	rsp_buf_putc(&g->reply, ';');
}

void gdbstub_stopped(struct gdbstub *g, const struct gdbstub_stop *s)
{
	g->running = false;
	g->last_stop = *s;
	if (s->thread < gdbstub_nthreads(g))
		g->g_thread = g->c_thread = s->thread;
	gdbstub_tlb_flush(g);
}
