/* gdbstub/monitor.c: `monitor` (qRcmd): the built-in commands (help, mode,
 * events) about the Hg vCPU, then the target's own; their text goes to gdb
 * as 'O' packets through gdbstub_printf. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/x86_mmu.h"
#include "gdbstub/gdbstub_int.h"

void gdbstub_printf(struct gdbstub_out *o, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	struct rsp_buf b;
	rsp_buf_init(&b);
	rsp_buf_putc(&b, 'O');
	rsp_buf_put_hex(&b, text, (size_t)n);
	if (!b.failed)
		gdbstub_send_packet(o->g, b.data, b.len);
	rsp_buf_free(&b);
}

/* The Hg vCPU's state if it holds class `cls`; else says `missing`. */
static bool hg_state(struct gdbstub *g, struct gdbstub_out *o, struct vcr_vcpu_state *st,
		     unsigned cls, const char *missing)
{
	unsigned avail;

	if (gdbstub_get_state(g, g->g_thread, st, &avail) || !(avail & cls)) {
		gdbstub_printf(o, "vCPU %u: %s\n", g->g_thread, missing);
		return false;
	}
	return true;
}

static void monitor_events(struct gdbstub *g, struct gdbstub_out *o)
{
	struct vcr_vcpu_state st;

	if (!hg_state(g, o, &st, VCR_CLASS_EVENTS, "events unavailable"))
		return;
	const struct kvm_vcpu_events *e = &st.events;
	gdbstub_printf(o, "vCPU %u pending/injected events:\n", g->g_thread);
	gdbstub_printf(o, "  exception: injected=%u pending=%u nr=%u error_code=%s0x%x payload=%s0x%llx\n",
		       e->exception.injected, e->exception.pending, e->exception.nr,
		       e->exception.has_error_code ? "" : "(none) ", e->exception.error_code,
		       e->exception_has_payload ? "" : "(none) ",
		       (unsigned long long)e->exception_payload);
	gdbstub_printf(o, "  interrupt: injected=%u nr=%u soft=%u shadow=%u\n",
		       e->interrupt.injected, e->interrupt.nr, e->interrupt.soft,
		       e->interrupt.shadow);
	gdbstub_printf(o, "  nmi: injected=%u pending=%u masked=%u\n", e->nmi.injected,
		       e->nmi.pending, e->nmi.masked);
	gdbstub_printf(o, "  smi: smm=%u pending=%u; triple_fault pending=%u; flags=0x%x\n",
		       e->smi.smm, e->smi.pending, e->triple_fault.pending, e->flags);
	int pend = -1;
	for (int i = 0; i < 256; i++)
		if (st.sregs.interrupt_bitmap[i / 64] & (1ull << (i % 64)))
			pend = i;
	if (pend >= 0)
		gdbstub_printf(o, "  interrupt_bitmap: vector %d pending injection\n", pend);
}

static void monitor_mode(struct gdbstub *g, struct gdbstub_out *o)
{
	struct vcr_vcpu_state st;

	if (!hg_state(g, o, &st, VCR_CLASS_SREGS, "mode unknown"))
		return;
	const char *m = vcr_cpu_mode(&st);
	gdbstub_printf(o, "vCPU %u: %s, paging %d-level, cr0=0x%llx cr4=0x%llx efer=0x%llx\n",
		       g->g_thread, m, vcr_mmu_levels(&st), (unsigned long long)st.sregs.cr0,
		       (unsigned long long)st.sregs.cr4, (unsigned long long)st.sregs.efer);
	if (!strcmp(m, "real") || !strcmp(m, "v8086"))
		gdbstub_printf(o, "  gdb does not apply segmentation: code is at "
				  "cs.base+ip = 0x%llx (x/4i $cs_base+$pc)\n",
			       (unsigned long long)(st.sregs.cs.base + (st.regs.rip & 0xffff)));
}

static int mon_read_phys(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct gdbstub *g = ctx;
	return g->ops->read_phys(g->t, gpa, buf, len);
}

/* `monitor memory ADDR`: ADDR is guest-virtual for the Hg vCPU (as gdb's
 * addresses are); its page-table walk reads the tables through the target,
 * so a table page the target does not serve (stale in a trace) stops it. */
static bool monitor_memory_addr(struct gdbstub *g, struct gdbstub_out *o, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long long va = strtoull(arg, &end, 0);
	if (!*arg || *end || errno || *arg == '-')
		return false;
	struct vcr_vcpu_state st;
	if (!hg_state(g, o, &st, VCR_CLASS_SREGS, "no state: address not translated"))
		return true;
	uint64_t gpa, left;
	int rc = vcr_mmu_translate(&st, va, mon_read_phys, g, &gpa, &left);
	if (rc == -ENOENT) {
		gdbstub_printf(o, "0x%llx: the page tables of vCPU %u are not known exactly here "
				  "(a page-table page is stale or unknown): not translated; "
				  "monitor memory lenient uses stale tables\n", va, g->g_thread);
		return true;
	}
	if (rc) {
		gdbstub_printf(o, "0x%llx: not mapped by vCPU %u's page tables (%s)\n", va,
			       g->g_thread, strerror(-rc));
		return true;
	}
	if (vcr_mmu_levels(&st))
		gdbstub_printf(o, "0x%llx: guest-physical 0x%llx (%d-level paging, vCPU %u)\n", va,
			       (unsigned long long)gpa, vcr_mmu_levels(&st), g->g_thread);
	else
		gdbstub_printf(o, "0x%llx: guest-physical (paging off)\n", va);
	if (g->ops->mem_describe)
		g->ops->mem_describe(g->t, gpa, o);
	else
		gdbstub_printf(o, "  live guest memory: every byte is current\n");
	return true;
}

/* Decode the hex command into cmd[0..size), trimmed of blanks around it;
 * NULL for bad hex, an embedded NUL or a command too long. */
static char *decode_cmd(const char *a, const char *end, char *cmd, size_t size)
{
	size_t hl = (size_t)(end - a);

	if (hl % 2 || hl / 2 >= size)
		return NULL;
	ssize_t n = rsp_unhex(a, hl, (uint8_t *)cmd, size - 1);
	if (n < 0)
		return NULL;
	cmd[n] = 0;
	if (memchr(cmd, 0, (size_t)n))
		return NULL;
	char *c = cmd;
	while (*c == ' ')
		c++;
	size_t l = strlen(c);
	while (l && (c[l - 1] == ' ' || c[l - 1] == '\n'))
		c[--l] = 0;
	return c;
}

int gdbstub_cmd_monitor(struct gdbstub *g, const char *a, const char *end)
{
	char cmd[256];
	struct gdbstub_out o = { g };
	char *c = decode_cmd(a, end, cmd, sizeof(cmd));

	if (!c)
		return gdbstub_reply_err(g, EINVAL);
	if (!strcmp(c, "help") || !*c) {
		gdbstub_printf(&o, "vcr gdbstub monitor commands:\n"
				   "  help              this text\n"
				   "  mode              CPU mode and paging of the current vCPU\n"
				   "  events            pending/injected exception, interrupt, NMI\n"
				   "  memory ADDR       what is known of the bytes at virtual ADDR\n");
		if (g->ops->monitor_help)
			g->ops->monitor_help(g->t, &o);
	} else if (!strcmp(c, "mode")) {
		monitor_mode(g, &o);
	} else if (!strcmp(c, "events")) {
		monitor_events(g, &o);
	} else if (!strncmp(c, "memory ", 7) && monitor_memory_addr(g, &o, c + 7)) {
		/* done */
	} else {
		int rc = g->ops->monitor ? g->ops->monitor(g->t, c, &o) : 0;
		if (rc == 0)
			gdbstub_printf(&o, "unknown monitor command '%s' (try: monitor help)\n", c);
		else if (rc < 0)
			return gdbstub_reply_err(g, rc);
		gdbstub_tlb_flush(g);	/* e.g. seek moved the cursor */
		if (rc > 0 && g->ops->initial_stop)
			g->ops->initial_stop(g->t, &g->last_stop);
	}
	return gdbstub_reply_str(g, "OK");
}
