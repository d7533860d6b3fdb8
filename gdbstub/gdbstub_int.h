/*
 * gdbstub/gdbstub_int.h: what the server's own files share (not for other
 * modules: they use gdbstub/gdbstub.h).
 *
 * The server is split by concern, all around one struct gdbstub:
 *   session.c   lifecycle, the byte feed, reply framing, stop collection
 *   socket.c    the session loop on a socket; listen and accept
 *   commands.c  the command table, dispatch, thread/resume/breakpoint and
 *               query handlers
 *   regs.c      registers on the wire (g/G/p/P, the stop reply's values)
 *   memory.c    m/M/x/X; guest-virtual addresses through the page tables,
 *               with a small TLB
 *   stop.c      stop replies (T/W) and the state a stop leaves
 *   tdesc.c     the target description XML, from the register table
 *   monitor.c   qRcmd: the built-in monitor commands, then the target's
 * beside rsp.c (framing) and the targets, which see only gdbstub.h:
 * target_replay.c, and target_live.c with live_debug.c (live_int.h).
 * Threading and errors as in gdbstub.h: one thread, 0 or -errno.
 */
#ifndef VCR_GDBSTUB_GDBSTUB_INT_H
#define VCR_GDBSTUB_GDBSTUB_INT_H

#include "core/regs.h"
#include "gdbstub/gdbstub.h"

/* Handler results besides "reply is in g->reply". */
enum {
	H_REPLY = 0,
	H_NOREPLY = 1,	/* resumed asynchronously, or killed */
};

/* A tiny translation cache: memory reads of a stopped guest translate the
 * same pages again and again (gdb reads code, stack, then data). Cleared on
 * every resume and on every register or memory write. */
#define GDBSTUB_TLB_SIZE 64

struct gdbstub_tlb_entry {
	uint64_t vpage;		/* va >> 12, UINT64_MAX when empty */
	uint64_t gpage;		/* gpa >> 12 */
	unsigned thread;
};

struct gdbstub {
	const struct gdbstub_target_ops *ops;
	void *t;
	unsigned flags;

	struct rsp_parser rx;
	struct rsp_buf out;		/* bytes to send */
	struct rsp_buf reply;		/* payload of the reply being built */
	struct rsp_buf last;		/* last framed packet, for '-' */
	struct rsp_buf threads_xml;	/* qXfer:threads:read object */

	bool noack;
	bool noack_pending;		/* switch after sending the OK */
	bool running;
	bool done;
	bool binary_upload;		/* the client offered binary-upload+ */
	bool whole_reads;		/* no short 'm' replies (lldb: commands.c) */
	unsigned g_thread;		/* Hg: registers and memory */
	unsigned c_thread;		/* Hc: step/continue */
	struct gdbstub_stop last_stop;

	char *xml;
	size_t xml_len;
	uint8_t *mem;			/* memory transfer buffer */
	struct gdbstub_tlb_entry tlb[GDBSTUB_TLB_SIZE];
	struct gdbstub_stats stats;
};

struct gdbstub_out {
	struct gdbstub *g;
};

/* A command handler gets the bytes after the command's name as [a, end)
 * and checks every length itself: nothing trusts the peer. */
typedef int (*gdbstub_handler_fn)(struct gdbstub *g, const char *a, const char *end);

/* target.c */
unsigned gdbstub_nthreads(struct gdbstub *g);
/* The target's state of `thread`, zeroed first; avail may be NULL. */
int gdbstub_get_state(struct gdbstub *g, unsigned thread, struct vcr_vcpu_state *st,
		      unsigned *avail);
void gdbstub_tlb_flush(struct gdbstub *g);
/* Read or write guest-virtual memory of the Hg thread: bytes transferred
 * (short at the first untranslatable or unavailable byte), or -errno if not
 * even the first byte could be. */
ssize_t gdbstub_mem_access(struct gdbstub *g, uint64_t va, uint8_t *buf, size_t len,
			   bool write);

/* wire.c: frame p as one packet into g->out (kept for a '-' in ack mode). */
void gdbstub_send_packet(struct gdbstub *g, const void *p, size_t len);

static inline int gdbstub_reply_str(struct gdbstub *g, const char *s)
{
	rsp_buf_puts(&g->reply, s);
	return H_REPLY;
}

/* An E-code reply (errno values, either sign, capped to a byte: gdb shows
 * them as numbers); returns H_REPLY for `return gdbstub_reply_err(...)`. */
static inline int gdbstub_reply_err(struct gdbstub *g, int code)
{
	int e = code < 0 ? -code : code;
	rsp_buf_printf(&g->reply, "E%02x", (unsigned)(e & 0xff));
	return H_REPLY;
}

/* "OK" when rc is 0, else its E-code. */
static inline int gdbstub_reply_rc(struct gdbstub *g, int rc)
{
	return rc ? gdbstub_reply_err(g, rc) : gdbstub_reply_str(g, "OK");
}

/* commands.c: handle one packet payload and queue its reply. */
void gdbstub_dispatch(struct gdbstub *g, const char *p, size_t len);

/* regs.c */
void gdbstub_put_reg(struct gdbstub *g, const struct vcr_vcpu_state *st, unsigned avail,
		     const struct vcr_reg *r);
int gdbstub_cmd_read_regs(struct gdbstub *g);
int gdbstub_cmd_write_regs(struct gdbstub *g, const char *a, const char *end);
int gdbstub_cmd_read_reg(struct gdbstub *g, const char *a, const char *end);
int gdbstub_cmd_write_reg(struct gdbstub *g, const char *a, const char *end);

/* memory.c */
int gdbstub_cmd_read_mem(struct gdbstub *g, const char *a, const char *end);
int gdbstub_cmd_read_mem_bin(struct gdbstub *g, const char *a, const char *end);
int gdbstub_cmd_write_mem(struct gdbstub *g, const char *a, const char *end);
int gdbstub_cmd_write_mem_bin(struct gdbstub *g, const char *a, const char *end);

/* stop.c */
/* Append the stop reply for s to g->reply. */
void gdbstub_put_stop(struct gdbstub *g, const struct gdbstub_stop *s);
/* The target stopped with s: not running, threads follow it, TLB dropped. */
void gdbstub_stopped(struct gdbstub *g, const struct gdbstub_stop *s);

/* tdesc.c: build g->xml once, at gdbstub_new. */
int gdbstub_build_tdesc(struct gdbstub *g);

/* monitor.c */
int gdbstub_cmd_monitor(struct gdbstub *g, const char *a, const char *end);

#endif
