/* gdbstub/commands.c: the RSP command table and dispatch, with the handlers
 * for queries, threads, resume (c/s/C/S, vCont, bc/bs), breakpoints and the
 * end of a session (D, k, vKill). Registers (regs.c), memory (memory.c) and
 * monitor commands (monitor.c) have files of their own; the table names
 * them all. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gdbstub/gdbstub_int.h"

/* Thread id on the wire -> 0-based index. "0" means any: the current one;
 * -1 means all. Returns -EINVAL for ids that do not exist. */
static int parse_tid(struct gdbstub *g, const char **s, const char *end, int *tid)
{
	uint64_t v;

	if (*s < end && **s == '-') {
		if (end - *s < 2 || (*s)[1] != '1')
			return -EINVAL;
		*s += 2;
		*tid = -1;
		return 0;
	}
	if (*s < end && **s == 'p') {
		/* multiprocess form pPID.TID: accept it even though we do not
		 * offer multiprocess (lldb may send it). */
		(*s)++;
		if (*s < end && **s == '-') {
			(*s) += 2;
		} else if (rsp_parse_hex(s, end, &v)) {
			return -EINVAL;
		}
		if (*s >= end || **s != '.') {
			*tid = -1;
			return 0;
		}
		(*s)++;
		return parse_tid(g, s, end, tid);
	}
	if (rsp_parse_hex(s, end, &v))
		return -EINVAL;
	if (v == 0) {
		*tid = -2;	/* any */
		return 0;
	}
	if (v > gdbstub_nthreads(g))
		return -EINVAL;
	*tid = (int)(v - 1);
	return 0;
}

/* ------------------------------------------------------------ queries */

static int h_qsupported(struct gdbstub *g, const char *a, const char *end)
{
	/* gdb lists its features after ':'; we only care about one. */
	static const char bu[] = "binary-upload+";
	for (const char *p = a; p + sizeof(bu) - 1 <= end; p++)
		if (!memcmp(p, bu, sizeof(bu) - 1))
			g->binary_upload = true;
	rsp_buf_printf(&g->reply,
		       "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;"
		       "swbreak+;hwbreak+;vContSupported+;qXfer:threads:read+",
		       GDBSTUB_PACKET_SIZE);
	if (g->binary_upload)
		gdbstub_reply_str(g, ";binary-upload+");
	if (g->flags & GDBSTUB_F_REVERSE)
		gdbstub_reply_str(g, ";ReverseStep+;ReverseContinue+");
	return H_REPLY;
}

static int h_noack(struct gdbstub *g)
{
	g->noack_pending = true;
	return gdbstub_reply_str(g, "OK");
}

/* "vCPU N, MODE": what `info threads` shows beside each thread. */
static void thread_extra_text(struct gdbstub *g, unsigned thread, char *text, size_t len)
{
	struct vcr_vcpu_state st;
	unsigned avail;

	if (gdbstub_get_state(g, thread, &st, &avail) || !(avail & VCR_CLASS_SREGS))
		snprintf(text, len, "vCPU %u", thread);
	else
		snprintf(text, len, "vCPU %u, %s", thread, vcr_cpu_mode(&st));
}

/* "OFF,LEN" ending the packet, as in every qXfer read. */
static int parse_off_len(const char *a, const char *end, uint64_t *off, uint64_t *len)
{
	if (rsp_parse_hex(&a, end, off) || a >= end || *a++ != ',' ||
	    rsp_parse_hex(&a, end, len) || a != end)
		return -EINVAL;
	return 0;
}

/* A qXfer read of [off, off+len) of an object: 'm' + data, or 'l' + the
 * last data. */
static int xfer_reply(struct gdbstub *g, const char *obj, size_t objlen, uint64_t off,
		      uint64_t len)
{
	if (off >= objlen)
		return gdbstub_reply_str(g, "l");
	/* Escaping can double the size: keep the reply within PacketSize. */
	uint64_t max = GDBSTUB_PACKET_SIZE / 2 - 8;
	if (len > max)
		len = max;
	uint64_t n = objlen - off;
	bool last = n <= len;
	if (!last)
		n = len;
	rsp_buf_putc(&g->reply, last ? 'l' : 'm');
	/* Raw bytes: send_packet escapes the whole payload once. */
	rsp_buf_put(&g->reply, obj + off, (size_t)n);
	return H_REPLY;
}

static int h_xfer_features(struct gdbstub *g, const char *a, const char *end)
{
	static const char annex[] = "target.xml:";
	uint64_t off, len;

	if ((size_t)(end - a) < sizeof(annex) - 1 || memcmp(a, annex, sizeof(annex) - 1))
		return gdbstub_reply_err(g, ENOENT);
	if (parse_off_len(a + sizeof(annex) - 1, end, &off, &len))
		return gdbstub_reply_err(g, EINVAL);
	return xfer_reply(g, g->xml, g->xml_len, off, len);
}

/* qXfer:threads:read::OFF,LEN: the thread list in one packet (gdb asks for
 * it after every stop; qfThreadInfo + qsThreadInfo take two round trips),
 * with the qThreadExtraInfo text as each thread's body. The XML is rebuilt
 * when gdb reads from offset 0. */
static int h_xfer_threads(struct gdbstub *g, const char *a, const char *end)
{
	uint64_t off, len;

	if (a >= end || *a++ != ':' || parse_off_len(a, end, &off, &len))
		return gdbstub_reply_err(g, EINVAL);
	if (off == 0 || !g->threads_xml.len) {
		struct rsp_buf *b = &g->threads_xml;
		unsigned n = gdbstub_nthreads(g);
		rsp_buf_reset(b);
		rsp_buf_puts(b, "<?xml version=\"1.0\"?>\n<threads>\n");
		for (unsigned i = 0; i < n; i++) {
			char text[128];
			thread_extra_text(g, i, text, sizeof(text));
			rsp_buf_printf(b, "<thread id=\"%x\">%s</thread>\n", i + 1, text);
		}
		rsp_buf_puts(b, "</threads>\n");
		if (b->failed) {
			rsp_buf_reset(b);
			return gdbstub_reply_err(g, ENOMEM);
		}
	}
	return xfer_reply(g, (const char *)g->threads_xml.data, g->threads_xml.len, off, len);
}

static int h_stopq(struct gdbstub *g)
{
	gdbstub_put_stop(g, &g->last_stop);
	return H_REPLY;
}

/* qHostInfo: only lldb asks. A short 'm' reply is legal (the protocol lets
 * the stub return the readable prefix, and gdb uses it), but lldb 14 reads
 * on after it, gets an error for the rest and aborts (std::length_error):
 * lldb gets all-or-error reads. The reply stays empty (not supported). */
static int h_qhostinfo(struct gdbstub *g)
{
	g->whole_reads = true;
	return H_REPLY;
}

/* ------------------------------------------------------------ threads */

static int h_thread_sel(struct gdbstub *g, const char *a, const char *end)
{
	int tid;

	if (a >= end)
		return gdbstub_reply_err(g, EINVAL);
	char op = *a++;
	if ((op != 'g' && op != 'c') || parse_tid(g, &a, end, &tid) || a != end)
		return gdbstub_reply_err(g, EINVAL);
	if (tid >= 0) {
		if (op == 'g')
			g->g_thread = (unsigned)tid;
		else
			g->c_thread = (unsigned)tid;
	} else if (op == 'c') {
		g->c_thread = UINT32_MAX;	/* all / any: the current one */
	}
	return gdbstub_reply_str(g, "OK");
}

static int h_thread_alive(struct gdbstub *g, const char *a, const char *end)
{
	int tid;

	if (parse_tid(g, &a, end, &tid) || a != end)
		return gdbstub_reply_err(g, ESRCH);
	return gdbstub_reply_str(g, "OK");
}

static int h_qc(struct gdbstub *g)
{
	rsp_buf_printf(&g->reply, "QC%x", g->g_thread + 1);
	return H_REPLY;
}

static int h_qfthread(struct gdbstub *g)
{
	unsigned n = gdbstub_nthreads(g);
	gdbstub_reply_str(g, "m");
	for (unsigned i = 0; i < n; i++)
		rsp_buf_printf(&g->reply, "%s%x", i ? "," : "", i + 1);
	return H_REPLY;
}

static int h_qthread_extra(struct gdbstub *g, const char *a, const char *end)
{
	char text[128];
	int tid;

	if (parse_tid(g, &a, end, &tid) || a != end || tid < 0)
		return gdbstub_reply_err(g, ESRCH);
	thread_extra_text(g, (unsigned)tid, text, sizeof(text));
	rsp_buf_put_hex(&g->reply, text, strlen(text));
	return H_REPLY;
}

/* ------------------------------------------------------------ resume */

static int do_resume(struct gdbstub *g, enum gdbstub_action act, unsigned thread, bool rev)
{
	struct gdbstub_resume r = { .action = act, .thread = thread, .reverse = rev };
	struct gdbstub_stop s = { 0 };

	if (rev && !(g->flags & GDBSTUB_F_REVERSE))
		return H_REPLY;	/* empty: not supported */
	g->stats.resumes++;
	gdbstub_tlb_flush(g);
	int rc = g->ops->resume(g->t, &r, &s);
	if (rc < 0)
		return gdbstub_reply_err(g, rc);
	if (rc == 0) {
		g->running = true;
		return H_NOREPLY;
	}
	gdbstub_stopped(g, &s);
	gdbstub_put_stop(g, &s);
	return H_REPLY;
}

static unsigned resume_thread(struct gdbstub *g)
{
	return g->c_thread < gdbstub_nthreads(g) ? g->c_thread : g->g_thread;
}

/* c [addr], s [addr], C sig[;addr], S sig[;addr]: a resume address is
 * not supported (gdb never sends one nowadays): refuse it. */
static int plain_resume(struct gdbstub *g, const char *a, const char *end,
			enum gdbstub_action act, bool sig)
{
	uint64_t v;

	if ((sig && rsp_parse_hex(&a, end, &v)) || a != end)
		return gdbstub_reply_err(g, EINVAL);
	return do_resume(g, act, resume_thread(g), false);
}

static int h_cont(struct gdbstub *g, const char *a, const char *end)
{
	return plain_resume(g, a, end, GDBSTUB_CONTINUE, false);
}

static int h_step(struct gdbstub *g, const char *a, const char *end)
{
	return plain_resume(g, a, end, GDBSTUB_STEP, false);
}

static int h_cont_sig(struct gdbstub *g, const char *a, const char *end)
{
	return plain_resume(g, a, end, GDBSTUB_CONTINUE, true);
}

static int h_step_sig(struct gdbstub *g, const char *a, const char *end)
{
	return plain_resume(g, a, end, GDBSTUB_STEP, true);
}

static int h_rev_cont(struct gdbstub *g)
{
	return do_resume(g, GDBSTUB_CONTINUE, resume_thread(g), true);
}

static int h_rev_step(struct gdbstub *g)
{
	return do_resume(g, GDBSTUB_STEP, resume_thread(g), true);
}

/* vCont;ACTION[:TID];... All-stop: a step action wins (that vCPU steps while
 * the others stay stopped; see docs/gdb.md); else continue all. */
static int h_vcont(struct gdbstub *g, const char *a, const char *end)
{
	int step_tid = -3;	/* none */
	bool cont = false;

	while (a < end) {
		if (*a++ != ';' || a >= end)
			return gdbstub_reply_err(g, EINVAL);
		char act = *a++;
		uint64_t sig;
		if ((act == 'C' || act == 'S') ? rsp_parse_hex(&a, end, &sig)
					       : act != 'c' && act != 's')
			return gdbstub_reply_err(g, EINVAL);	/* 't', 'r': not offered */
		int tid = -1;
		if (a < end && *a == ':') {
			a++;
			if (parse_tid(g, &a, end, &tid))
				return gdbstub_reply_err(g, EINVAL);
		}
		if (act == 's' || act == 'S') {
			if (step_tid == -3)
				step_tid = tid;
		} else {
			cont = true;
		}
	}
	if (step_tid != -3) {
		unsigned th = step_tid >= 0 ? (unsigned)step_tid : resume_thread(g);
		return do_resume(g, GDBSTUB_STEP, th, false);
	}
	if (cont)
		return do_resume(g, GDBSTUB_CONTINUE, resume_thread(g), false);
	return gdbstub_reply_err(g, EINVAL);
}

/* ------------------------------------------------------------ breakpoints */

static int breakpoint(struct gdbstub *g, const char *a, const char *end, bool insert)
{
	uint64_t type, addr, kind;

	if (rsp_parse_hex(&a, end, &type) || a >= end || *a++ != ',' ||
	    rsp_parse_hex(&a, end, &addr) || a >= end || *a++ != ',' ||
	    rsp_parse_hex(&a, end, &kind) || (a != end && *a != ';'))
		return gdbstub_reply_err(g, EINVAL);
	if (type > GDBSTUB_WP_ACCESS || !g->ops->breakpoint)
		return H_REPLY;	/* empty: not supported */
	int rc = g->ops->breakpoint(g->t, (enum gdbstub_bp_type)type, addr,
				    (unsigned)(kind > 64 ? 64 : kind), insert);
	if (rc == -EOPNOTSUPP)
		return H_REPLY;
	return gdbstub_reply_rc(g, rc);
}

static int h_zset(struct gdbstub *g, const char *a, const char *end)
{
	return breakpoint(g, a, end, true);
}

static int h_zclr(struct gdbstub *g, const char *a, const char *end)
{
	return breakpoint(g, a, end, false);
}

/* ------------------------------------------------------------ the end */

static int h_detach(struct gdbstub *g)
{
	if (g->ops->detach)
		g->ops->detach(g->t, false);
	g->done = true;
	return gdbstub_reply_str(g, "OK");
}

static void kill_target(struct gdbstub *g)
{
	if (g->ops->detach)
		g->ops->detach(g->t, true);
	g->done = true;
}

/* gdb expects no reply to k, lldb waits for the process's end (an X or W
 * stop reply, as lldb-server sends) and otherwise reports "failed to send
 * the k packet": X09, killed by SIGKILL, serves both. */
static int h_kill(struct gdbstub *g)
{
	kill_target(g);
	return gdbstub_reply_str(g, "X09");
}

static int h_vkill(struct gdbstub *g)
{
	kill_target(g);
	return gdbstub_reply_str(g, "OK");
}

/* ------------------------------------------------------------ the table */

/*
 * Longest names first where one prefixes another. An `exact` entry matches
 * only the whole packet. What an entry does, the first that is set:
 *   fn     a handler of the bytes after the name;
 *   fn0    a handler that takes no arguments (any bytes after the name are
 *          ignored);
 *   reply  a fixed reply ("" is the empty one: "not supported").
 */
struct cmd {
	const char *name;
	bool exact;
	gdbstub_handler_fn fn;
	int (*fn0)(struct gdbstub *g);
	const char *reply;
};

static const struct cmd cmds[] = {
	{ "qSupported", false, .fn = h_qsupported },
	{ "QStartNoAckMode", true, .fn0 = h_noack },
	{ "qXfer:features:read:", false, .fn = h_xfer_features },
	{ "qXfer:threads:read:", false, .fn = h_xfer_threads },
	{ "qfThreadInfo", true, .fn0 = h_qfthread },
	{ "qsThreadInfo", true, .reply = "l" },
	{ "qThreadExtraInfo,", false, .fn = h_qthread_extra },
	/* 1: we attached to an existing guest; quitting gdb detaches. */
	{ "qAttached", false, .reply = "1" },
	{ "qC", true, .fn0 = h_qc },
	{ "qRcmd,", false, .fn = gdbstub_cmd_monitor },
	{ "qSymbol:", false, .reply = "OK" },
	{ "qHostInfo", true, .fn0 = h_qhostinfo },
	{ "vCont?", true, .reply = "vCont;c;C;s;S" },
	{ "vCont", false, .fn = h_vcont },
	{ "vKill", false, .fn0 = h_vkill },
	{ "vMustReplyEmpty", true, .reply = "" },
	{ "bc", true, .fn0 = h_rev_cont },
	{ "bs", true, .fn0 = h_rev_step },
	{ "?", true, .fn0 = h_stopq },
	{ "g", true, .fn0 = gdbstub_cmd_read_regs },
	{ "G", false, .fn = gdbstub_cmd_write_regs },
	{ "p", false, .fn = gdbstub_cmd_read_reg },
	{ "P", false, .fn = gdbstub_cmd_write_reg },
	{ "m", false, .fn = gdbstub_cmd_read_mem },
	{ "M", false, .fn = gdbstub_cmd_write_mem },
	{ "x", false, .fn = gdbstub_cmd_read_mem_bin },
	{ "X", false, .fn = gdbstub_cmd_write_mem_bin },
	{ "c", false, .fn = h_cont },
	{ "s", false, .fn = h_step },
	{ "C", false, .fn = h_cont_sig },
	{ "S", false, .fn = h_step_sig },
	{ "Z", false, .fn = h_zset },
	{ "z", false, .fn = h_zclr },
	{ "H", false, .fn = h_thread_sel },
	{ "T", false, .fn = h_thread_alive },
	{ "D", false, .fn0 = h_detach },
	{ "k", true, .fn0 = h_kill },
};

static int run_cmd(struct gdbstub *g, const struct cmd *c, const char *a, const char *end)
{
	if (c->fn)
		return c->fn(g, a, end);
	if (c->fn0)
		return c->fn0(g);
	return gdbstub_reply_str(g, c->reply);
}

void gdbstub_dispatch(struct gdbstub *g, const char *p, size_t len)
{
	int rc = H_REPLY;

	rsp_buf_reset(&g->reply);
	for (size_t i = 0; i < VCR_ARRAY_SIZE(cmds); i++) {
		size_t nl = strlen(cmds[i].name);
		if (len < nl || memcmp(p, cmds[i].name, nl))
			continue;
		if (cmds[i].exact && len != nl)
			continue;
		rc = run_cmd(g, &cmds[i], p + nl, p + len);
		break;
	}
	/* Unknown packets get the empty reply: "not supported". */
	if (rc == H_REPLY) {
		if (g->reply.failed) {
			rsp_buf_reset(&g->reply);
			gdbstub_reply_err(g, ENOMEM);
		}
		gdbstub_send_packet(g, g->reply.data, g->reply.len);
	}
	if (g->noack_pending) {
		g->noack_pending = false;
		g->noack = true;
		g->rx.noack = true;
	}
}
