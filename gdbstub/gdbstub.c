/* gdbstub/gdbstub.c: RSP commands against struct gdbstub_target_ops (see
 * gdbstub.h). Packets are dispatched through one table of (name, handler);
 * every handler gets the bytes after the name as [a, end) and checks every
 * length itself: nothing here trusts the peer. */
#include "gdbstub/gdbstub.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/regs.h"
#include "core/x86_mmu.h"

/* Handler results besides "reply is in g->reply". */
enum {
	H_REPLY = 0,
	H_NOREPLY = 1,	/* resumed asynchronously, or killed */
};

/* A tiny translation cache: memory reads of a stopped guest translate the
 * same pages again and again (gdb reads code, stack, then data). Cleared on
 * every resume and on every register or memory write. */
#define TLB_SIZE 64

struct tlb_entry {
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
	bool whole_reads;		/* no short 'm' replies (lldb, below) */
	unsigned g_thread;		/* Hg: registers and memory */
	unsigned c_thread;		/* Hc: step/continue */
	struct gdbstub_stop last_stop;

	char *xml;
	size_t xml_len;
	uint8_t *mem;			/* memory transfer buffer */
	struct tlb_entry tlb[TLB_SIZE];
	struct gdbstub_stats stats;
};

struct gdbstub_out {
	struct gdbstub *g;
};

/* ------------------------------------------------------------ helpers */

static void tlb_flush(struct gdbstub *g)
{
	for (size_t i = 0; i < TLB_SIZE; i++)
		g->tlb[i].vpage = UINT64_MAX;
}

static unsigned nthreads(struct gdbstub *g)
{
	unsigned n = g->ops->nthreads(g->t);
	return n ? n : 1;
}

static void reply_str(struct gdbstub *g, const char *s)
{
	rsp_buf_puts(&g->reply, s);
}

static void reply_err(struct gdbstub *g, int code)
{
	/* gdb shows E-codes as numbers; use errno values, capped to a byte. */
	int e = code < 0 ? -code : code;
	rsp_buf_printf(&g->reply, "E%02x", (unsigned)(e & 0xff));
}

static void send_packet(struct gdbstub *g, const void *p, size_t len)
{
	size_t start = g->out.len;

	rsp_put_packet(&g->out, p, len);
	if (!g->noack && !g->out.failed) {
		rsp_buf_reset(&g->last);
		rsp_buf_put(&g->last, g->out.data + start, g->out.len - start);
	}
}

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
		send_packet(o->g, b.data, b.len);
	rsp_buf_free(&b);
}

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
	if (v > nthreads(g))
		return -EINVAL;
	*tid = (int)(v - 1);
	return 0;
}

static int get_state(struct gdbstub *g, unsigned thread, struct vcr_vcpu_state *st,
		     unsigned *avail)
{
	unsigned a = 0;
	memset(st, 0, sizeof(*st));
	int rc = g->ops->get_state(g->t, thread, st, &a);
	if (avail)
		*avail = a;
	return rc;
}

/* Bytes of register r on the wire. */
static size_t reg_wire_bytes(const struct vcr_reg *r)
{
	return (r->gdb_bits + 7u) / 8u;
}

static void put_reg(struct gdbstub *g, const struct vcr_vcpu_state *st, unsigned avail,
		    const struct vcr_reg *r)
{
	size_t n = reg_wire_bytes(r);

	if (r->fmt == VCR_REG_NONE || !(avail & r->cls)) {
		for (size_t i = 0; i < 2 * n; i++)
			rsp_buf_putc(&g->reply, 'x');
		return;
	}
	uint64_t v = vcr_reg_get(st, r);
	uint8_t bytes[16] = { 0 };
	memcpy(bytes, &v, sizeof(v));	/* little-endian host */
	rsp_buf_put_hex(&g->reply, bytes, n < sizeof(bytes) ? n : sizeof(bytes));
}

/* Decode a register value of n wire bytes from hex; 'x' digits mean "leave
 * it". Returns 1 if a value was decoded, 0 for all-'x', -EINVAL otherwise. */
static int get_reg_value(const char *s, size_t n, uint64_t *v)
{
	uint8_t bytes[16] = { 0 };

	if (n > sizeof(bytes))
		return -EINVAL;
	if (s[0] == 'x')
		return 0;
	if (rsp_unhex(s, 2 * n, bytes, n) != (ssize_t)n)
		return -EINVAL;
	memcpy(v, bytes, sizeof(*v));
	return 1;
}

/* ------------------------------------------------------------ memory */

struct phys_ctx {
	struct gdbstub *g;
};

static int phys_read_cb(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct phys_ctx *c = ctx;
	return c->g->ops->read_phys(c->g->t, gpa, buf, len);
}

static int translate(struct gdbstub *g, const struct vcr_vcpu_state *st, unsigned thread,
		     uint64_t va, uint64_t *gpa, uint64_t *left)
{
	uint64_t vp = va >> 12;
	struct tlb_entry *e = &g->tlb[vp % TLB_SIZE];
	int rc;

	if (e->vpage == vp && e->thread == thread) {
		*gpa = e->gpage << 12 | (va & 4095);
		*left = 4096 - (va & 4095);
		return 0;
	}
	struct phys_ctx c = { g };
	rc = vcr_mmu_translate(st, va, phys_read_cb, &c, gpa, left);
	if (rc)
		return rc;
	if (*left > 4096 - (va & 4095))
		*left = 4096 - (va & 4095);
	e->vpage = vp;
	e->gpage = *gpa >> 12;
	e->thread = thread;
	return 0;
}

/* Read or write guest-virtual memory of the Hg thread. Returns the number of
 * bytes transferred (short at the first untranslatable or unavailable
 * byte), or -errno if not even the first byte could be. */
static ssize_t mem_access(struct gdbstub *g, uint64_t va, uint8_t *buf, size_t len,
			  bool write)
{
	struct vcr_vcpu_state st;
	unsigned avail;
	size_t done = 0;
	int rc = get_state(g, g->g_thread, &st, &avail);

	if (rc)
		return rc;
	if (write && !g->ops->write_phys)
		return -EROFS;
	while (done < len) {
		uint64_t gpa, left;

		rc = translate(g, &st, g->g_thread, va + done, &gpa, &left);
		if (rc)
			break;
		size_t n = len - done;
		if (n > left)
			n = (size_t)left;
		if (write)
			rc = g->ops->write_phys(g->t, gpa, buf + done, n);
		else
			rc = g->ops->read_phys(g->t, gpa, buf + done, n);
		if (rc == -ENOENT && !write && n > 1 && !g->whole_reads) {
			/* A trace may hold only part of the page: return the
			 * readable prefix (gdb accepts short reads). */
			size_t k = 0;
			while (k < n && g->ops->read_phys(g->t, gpa + k, buf + done + k, 1) == 0)
				k++;
			done += k;
			break;
		}
		if (rc)
			break;
		done += n;
	}
	if (write)
		tlb_flush(g);	/* the guest's page tables may have changed */
	if (!write && g->whole_reads && done < len)
		return rc ? rc : -EFAULT;
	return done ? (ssize_t)done : rc;
}

/* ------------------------------------------------------------ target XML */

static const char eflags_type[] =
	"<flags id=\"i386_eflags\" size=\"4\">"
	"<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"PF\" start=\"2\" end=\"2\"/>"
	"<field name=\"AF\" start=\"4\" end=\"4\"/><field name=\"ZF\" start=\"6\" end=\"6\"/>"
	"<field name=\"SF\" start=\"7\" end=\"7\"/><field name=\"TF\" start=\"8\" end=\"8\"/>"
	"<field name=\"IF\" start=\"9\" end=\"9\"/><field name=\"DF\" start=\"10\" end=\"10\"/>"
	"<field name=\"OF\" start=\"11\" end=\"11\"/><field name=\"NT\" start=\"14\" end=\"14\"/>"
	"<field name=\"RF\" start=\"16\" end=\"16\"/><field name=\"VM\" start=\"17\" end=\"17\"/>"
	"<field name=\"AC\" start=\"18\" end=\"18\"/><field name=\"VIF\" start=\"19\" end=\"19\"/>"
	"<field name=\"VIP\" start=\"20\" end=\"20\"/><field name=\"ID\" start=\"21\" end=\"21\"/>"
	"</flags>";

/* One <feature> per distinct gdb_feature, in register-number order; the
 * table keeps each feature's registers contiguous. */
static int build_xml(struct gdbstub *g)
{
	struct rsp_buf b;
	const char *cur = NULL;
	size_t n = vcr_gdb_nregs();

	rsp_buf_init(&b);
	rsp_buf_puts(&b, "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
			 "<target version=\"1.0\">\n<architecture>i386:x86-64</architecture>\n"
			 /* A whole machine, not a Linux process: no signal
			  * trampolines to sniff (gdb's GNU/Linux ABI reads the
			  * byte at pc for that after every stop), no solibs.
			  * An ELF with an OS ABI note still wins; `set osabi`
			  * overrides. */
			 "<osabi>none</osabi>\n");
	for (unsigned i = 0; i < n; i++) {
		const struct vcr_reg *r = vcr_reg_by_gdb(i);
		if (!r || !(r->flags & VCR_REG_F_GDB))
			continue;
		if (!cur || strcmp(cur, r->gdb_feature)) {
			if (cur)
				rsp_buf_puts(&b, "</feature>\n");
			cur = r->gdb_feature;
			rsp_buf_printf(&b, "<feature name=\"%s\">\n", cur);
			if (!strcmp(cur, "org.gnu.gdb.i386.core"))
				rsp_buf_puts(&b, eflags_type);
		}
		rsp_buf_printf(&b, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%u\"",
			       r->gdb_name ? r->gdb_name : r->name, r->gdb_bits,
			       r->gdb_type, i);
		if (r->gdb_group)
			rsp_buf_printf(&b, " group=\"%s\"", r->gdb_group);
		rsp_buf_puts(&b, "/>\n");
	}
	if (cur)
		rsp_buf_puts(&b, "</feature>\n");
	rsp_buf_puts(&b, "</target>\n");
	rsp_buf_putc(&b, 0);
	if (b.failed) {
		rsp_buf_free(&b);
		return -ENOMEM;
	}
	g->xml = (char *)b.data;
	g->xml_len = b.len - 1;
	return 0;
}

const char *gdbstub_target_xml(struct gdbstub *g, size_t *len)
{
	*len = g->xml_len;
	return g->xml;
}

/* ------------------------------------------------------------ stop replies */

/* Registers sent with every stop reply ("n:value;"), as gdbserver does: rip,
 * rsp and rbp are what gdb needs to print the stop and build the frame id
 * after a stepi, so it does not have to fetch the whole 'g' block (one round
 * trip less per step). gdb caches them for the stopped thread. */
static void put_expedited(struct gdbstub *g, unsigned thread)
{
	static const char *const names[] = { "rip", "rsp", "rbp" };
	struct vcr_vcpu_state st;
	unsigned avail;

	if (thread >= nthreads(g) || get_state(g, thread, &st, &avail))
		return;
	for (size_t i = 0; i < VCR_ARRAY_SIZE(names); i++) {
		const struct vcr_reg *r = vcr_reg_by_name(names[i]);
		if (!r || r->gdb_regnum < 0 || r->fmt == VCR_REG_NONE || !(avail & r->cls))
			continue;
		rsp_buf_printf(&g->reply, "%x:", (unsigned)r->gdb_regnum);
		put_reg(g, &st, avail, r);
		rsp_buf_putc(&g->reply, ';');
	}
}

static void put_stop(struct gdbstub *g, const struct gdbstub_stop *s)
{
	if (s->reason == GDBSTUB_STOP_EXITED) {
		rsp_buf_printf(&g->reply, "W%02x", (unsigned)(s->exit_code & 0xff));
		return;
	}
	rsp_buf_printf(&g->reply, "T%02xthread:%x;", (unsigned)(s->signal ? s->signal : 5),
		       s->thread + 1);
	put_expedited(g, s->thread);
	switch (s->reason) {
	case GDBSTUB_STOP_SWBREAK:
		reply_str(g, "swbreak:;");
		break;
	case GDBSTUB_STOP_HWBREAK:
		reply_str(g, "hwbreak:;");
		break;
	case GDBSTUB_STOP_WATCH:
		rsp_buf_printf(&g->reply, "watch:%llx;", (unsigned long long)s->addr);
		break;
	case GDBSTUB_STOP_AWATCH:
		rsp_buf_printf(&g->reply, "awatch:%llx;", (unsigned long long)s->addr);
		break;
	case GDBSTUB_STOP_REPLAY_BEGIN:
		reply_str(g, "replaylog:begin;");
		break;
	case GDBSTUB_STOP_REPLAY_END:
		reply_str(g, "replaylog:end;");
		break;
	default:
		break;
	}
}

static void stopped(struct gdbstub *g, const struct gdbstub_stop *s)
{
	g->running = false;
	g->last_stop = *s;
	if (s->thread < nthreads(g))
		g->g_thread = g->c_thread = s->thread;
	tlb_flush(g);
}

/* ------------------------------------------------------------ handlers */

typedef int (*handler_fn)(struct gdbstub *g, const char *a, const char *end);

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
		reply_str(g, ";binary-upload+");
	if (g->flags & GDBSTUB_F_REVERSE)
		reply_str(g, ";ReverseStep+;ReverseContinue+");
	return H_REPLY;
}

static int h_noack(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	g->noack_pending = true;
	reply_str(g, "OK");
	return H_REPLY;
}

/* "vCPU N, MODE": what `info threads` shows beside each thread. */
static void thread_extra_text(struct gdbstub *g, unsigned thread, char *text, size_t len)
{
	struct vcr_vcpu_state st;
	unsigned avail;

	if (get_state(g, thread, &st, &avail) || !(avail & VCR_CLASS_SREGS))
		snprintf(text, len, "vCPU %u", thread);
	else
		snprintf(text, len, "vCPU %u, %s", thread, vcr_cpu_mode(&st));
}

/* A qXfer read of [off, off+len) of an object: 'm' + data, or 'l' + the
 * last data. */
static void xfer_reply(struct gdbstub *g, const char *obj, size_t objlen, uint64_t off,
		       uint64_t len)
{
	if (off >= objlen) {
		reply_str(g, "l");
		return;
	}
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
}

static int h_xfer_features(struct gdbstub *g, const char *a, const char *end)
{
	static const char annex[] = "target.xml:";
	uint64_t off, len;

	if ((size_t)(end - a) < sizeof(annex) - 1 || memcmp(a, annex, sizeof(annex) - 1)) {
		reply_err(g, ENOENT);
		return H_REPLY;
	}
	a += sizeof(annex) - 1;
	if (rsp_parse_hex(&a, end, &off) || a >= end || *a++ != ',' ||
	    rsp_parse_hex(&a, end, &len) || a != end) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	xfer_reply(g, g->xml, g->xml_len, off, len);
	return H_REPLY;
}

/* qXfer:threads:read::OFF,LEN: the thread list in one packet (gdb asks for
 * it after every stop; qfThreadInfo + qsThreadInfo take two round trips),
 * with the qThreadExtraInfo text as each thread's body. The XML is rebuilt
 * when gdb reads from offset 0. */
static int h_xfer_threads(struct gdbstub *g, const char *a, const char *end)
{
	uint64_t off, len;

	if (a >= end || *a++ != ':' || rsp_parse_hex(&a, end, &off) || a >= end ||
	    *a++ != ',' || rsp_parse_hex(&a, end, &len) || a != end) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	if (off == 0 || !g->threads_xml.len) {
		struct rsp_buf *b = &g->threads_xml;
		unsigned n = nthreads(g);
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
			reply_err(g, ENOMEM);
			return H_REPLY;
		}
	}
	xfer_reply(g, (const char *)g->threads_xml.data, g->threads_xml.len, off, len);
	return H_REPLY;
}

static int h_stopq(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	put_stop(g, &g->last_stop);
	return H_REPLY;
}

static int h_read_regs(struct gdbstub *g, const char *a, const char *end)
{
	struct vcr_vcpu_state st;
	unsigned avail;
	(void)a;
	(void)end;

	int rc = get_state(g, g->g_thread, &st, &avail);
	if (rc) {
		reply_err(g, rc);
		return H_REPLY;
	}
	size_t n = vcr_gdb_nregs();
	for (unsigned i = 0; i < n; i++) {
		const struct vcr_reg *r = vcr_reg_by_gdb(i);
		if (r)
			put_reg(g, &st, avail, r);
	}
	return H_REPLY;
}

static int write_state(struct gdbstub *g, const struct vcr_vcpu_state *st, unsigned dirty)
{
	if (!g->ops->set_state)
		return -EROFS;
	tlb_flush(g);
	return g->ops->set_state(g->t, g->g_thread, st, dirty);
}

static int h_write_regs(struct gdbstub *g, const char *a, const char *end)
{
	struct vcr_vcpu_state st;
	unsigned avail, dirty = 0;
	int rc = get_state(g, g->g_thread, &st, &avail);

	if (rc)
		goto fail;
	size_t n = vcr_gdb_nregs();
	for (unsigned i = 0; i < n && a < end; i++) {
		const struct vcr_reg *r = vcr_reg_by_gdb(i);
		if (!r)
			continue;
		size_t w = reg_wire_bytes(r);
		uint64_t v;
		if ((size_t)(end - a) < 2 * w) {
			rc = -EINVAL;
			goto fail;
		}
		int got = get_reg_value(a, w, &v);
		if (got < 0 && r->fmt != VCR_REG_NONE) {
			rc = got;
			goto fail;
		}
		a += 2 * w;
		if (got <= 0 || r->fmt == VCR_REG_NONE || (r->flags & VCR_REG_F_READONLY) ||
		    !(avail & r->cls))
			continue;
		if (vcr_reg_get(&st, r) != v) {
			vcr_reg_set(&st, r, v);
			dirty |= r->cls;
		}
	}
	rc = dirty ? write_state(g, &st, dirty) : 0;
	if (rc)
		goto fail;
	reply_str(g, "OK");
	return H_REPLY;
fail:
	reply_err(g, rc);
	return H_REPLY;
}

static int h_read_reg(struct gdbstub *g, const char *a, const char *end)
{
	struct vcr_vcpu_state st;
	unsigned avail;
	uint64_t n;

	if (rsp_parse_hex(&a, end, &n) || a != end) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	const struct vcr_reg *r = n < 0x10000 ? vcr_reg_by_gdb((unsigned)n) : NULL;
	if (!r) {
		reply_err(g, ENOENT);
		return H_REPLY;
	}
	int rc = get_state(g, g->g_thread, &st, &avail);
	if (rc) {
		reply_err(g, rc);
		return H_REPLY;
	}
	put_reg(g, &st, avail, r);
	return H_REPLY;
}

static int h_write_reg(struct gdbstub *g, const char *a, const char *end)
{
	struct vcr_vcpu_state st;
	unsigned avail;
	uint64_t n, v = 0;
	int rc;

	if (rsp_parse_hex(&a, end, &n) || a >= end || *a++ != '=') {
		rc = -EINVAL;
		goto fail;
	}
	const struct vcr_reg *r = n < 0x10000 ? vcr_reg_by_gdb((unsigned)n) : NULL;
	if (!r) {
		rc = -ENOENT;
		goto fail;
	}
	size_t w = reg_wire_bytes(r);
	if ((size_t)(end - a) != 2 * w) {
		rc = -EINVAL;
		goto fail;
	}
	int got = get_reg_value(a, w, &v);
	if (got < 0) {
		rc = got;
		goto fail;
	}
	if (r->fmt == VCR_REG_NONE || (r->flags & VCR_REG_F_READONLY)) {
		rc = -EPERM;
		goto fail;
	}
	if ((rc = get_state(g, g->g_thread, &st, &avail)))
		goto fail;
	if (got) {
		vcr_reg_set(&st, r, v);
		if ((rc = write_state(g, &st, r->cls)))
			goto fail;
	}
	reply_str(g, "OK");
	return H_REPLY;
fail:
	reply_err(g, rc);
	return H_REPLY;
}

/* "ADDR,LEN" then `sep` (or the end when sep is 0). */
static int parse_addr_len(const char **a, const char *end, char sep, uint64_t *addr,
			  uint64_t *len)
{
	if (rsp_parse_hex(a, end, addr) || *a >= end || *(*a)++ != ',' ||
	    rsp_parse_hex(a, end, len))
		return -EINVAL;
	if (sep) {
		if (*a >= end || **a != sep)
			return -EINVAL;
		(*a)++;
	} else if (*a != end) {
		return -EINVAL;
	}
	return 0;
}

static int read_mem_common(struct gdbstub *g, const char *a, const char *end, bool binary)
{
	uint64_t addr, len;

	if (parse_addr_len(&a, end, 0, &addr, &len)) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	/* Replies must fit PacketSize: hex doubles, escaping may double. */
	uint64_t max = (GDBSTUB_PACKET_SIZE - 8) / 2;
	if (len > max)
		len = max;
	if (len == 0) {
		if (binary)
			reply_str(g, "b");
		else
			reply_str(g, "OK");
		return H_REPLY;
	}
	ssize_t n = mem_access(g, addr, g->mem, (size_t)len, false);
	if (n < 0) {
		reply_err(g, n == -ENOENT ? ENOENT : EFAULT);
		return H_REPLY;
	}
	if (binary) {
		/* Raw bytes: send_packet escapes the whole payload once
		 * (escaping here too would double every '}' '#' '$' '*'). */
		rsp_buf_putc(&g->reply, 'b');
		rsp_buf_put(&g->reply, g->mem, (size_t)n);
	} else {
		rsp_buf_put_hex(&g->reply, g->mem, (size_t)n);
	}
	return H_REPLY;
}

static int h_read_mem(struct gdbstub *g, const char *a, const char *end)
{
	return read_mem_common(g, a, end, false);
}

static int h_read_mem_bin(struct gdbstub *g, const char *a, const char *end)
{
	/* Only for clients that asked (gdb 16+); others (lldb) must not get a
	 * format they did not negotiate: empty means "not supported". */
	if (!g->binary_upload)
		return H_REPLY;
	return read_mem_common(g, a, end, true);
}

static int write_mem_common(struct gdbstub *g, const char *a, const char *end, bool binary)
{
	uint64_t addr, len;
	int rc;

	if (parse_addr_len(&a, end, ':', &addr, &len) || len > GDBSTUB_PACKET_SIZE) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	size_t have = (size_t)(end - a);
	if (binary) {
		if (have != len) {
			reply_err(g, EINVAL);
			return H_REPLY;
		}
		memcpy(g->mem, a, have);
	} else if (have != 2 * len || rsp_unhex(a, have, g->mem, (size_t)len) != (ssize_t)len) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	if (len == 0) {
		reply_str(g, "OK");
		return H_REPLY;
	}
	ssize_t n = mem_access(g, addr, g->mem, (size_t)len, true);
	if (n < 0 || (uint64_t)n != len) {
		rc = n < 0 ? (int)n : -EFAULT;
		reply_err(g, rc);
		return H_REPLY;
	}
	reply_str(g, "OK");
	return H_REPLY;
}

static int h_write_mem(struct gdbstub *g, const char *a, const char *end)
{
	return write_mem_common(g, a, end, false);
}

static int h_write_mem_bin(struct gdbstub *g, const char *a, const char *end)
{
	return write_mem_common(g, a, end, true);
}

static int do_resume(struct gdbstub *g, enum gdbstub_action act, unsigned thread, bool rev)
{
	struct gdbstub_resume r = { .action = act, .thread = thread, .reverse = rev };
	struct gdbstub_stop s = { 0 };

	if (rev && !(g->flags & GDBSTUB_F_REVERSE))
		return H_REPLY;	/* empty: not supported */
	g->stats.resumes++;
	tlb_flush(g);
	int rc = g->ops->resume(g->t, &r, &s);
	if (rc < 0) {
		reply_err(g, rc);
		return H_REPLY;
	}
	if (rc == 0) {
		g->running = true;
		return H_NOREPLY;
	}
	stopped(g, &s);
	put_stop(g, &s);
	return H_REPLY;
}

static unsigned resume_thread(struct gdbstub *g)
{
	return g->c_thread < nthreads(g) ? g->c_thread : g->g_thread;
}

/* c [addr], s [addr], C sig[;addr], S sig[;addr]: a resume address is
 * not supported (gdb never sends one nowadays): refuse it. */
static int plain_resume(struct gdbstub *g, const char *a, const char *end,
			enum gdbstub_action act, bool sig)
{
	if (sig) {
		uint64_t v;
		if (rsp_parse_hex(&a, end, &v)) {
			reply_err(g, EINVAL);
			return H_REPLY;
		}
	}
	if (a != end) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
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

static int h_rev_cont(struct gdbstub *g, const char *a, const char *end)
{
	if (a != end) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	return do_resume(g, GDBSTUB_CONTINUE, resume_thread(g), true);
}

static int h_rev_step(struct gdbstub *g, const char *a, const char *end)
{
	if (a != end) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	return do_resume(g, GDBSTUB_STEP, resume_thread(g), true);
}

static int h_vcont_query(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	reply_str(g, "vCont;c;C;s;S");
	return H_REPLY;
}

/* vCont;ACTION[:TID];... All-stop: a step action wins (that vCPU steps while
 * the others stay stopped; see docs/gdb.md); else continue all. */
static int h_vcont(struct gdbstub *g, const char *a, const char *end)
{
	int step_tid = -3;	/* none */
	bool cont = false;

	while (a < end) {
		if (*a++ != ';')
			goto bad;
		if (a >= end)
			goto bad;
		char act = *a++;
		if (act == 'C' || act == 'S') {
			uint64_t sig;
			if (rsp_parse_hex(&a, end, &sig))
				goto bad;
		} else if (act != 'c' && act != 's') {
			goto bad;	/* 't', 'r': not offered */
		}
		int tid = -1;
		if (a < end && *a == ':') {
			a++;
			if (parse_tid(g, &a, end, &tid))
				goto bad;
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
bad:
	reply_err(g, EINVAL);
	return H_REPLY;
}

static int h_breakpoint(struct gdbstub *g, const char *a, const char *end, bool insert)
{
	uint64_t type, addr, kind;

	if (rsp_parse_hex(&a, end, &type) || a >= end || *a++ != ',' ||
	    rsp_parse_hex(&a, end, &addr) || a >= end || *a++ != ',' ||
	    rsp_parse_hex(&a, end, &kind) || (a != end && *a != ';')) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	if (type > GDBSTUB_WP_ACCESS || !g->ops->breakpoint)
		return H_REPLY;	/* empty: not supported */
	int rc = g->ops->breakpoint(g->t, (enum gdbstub_bp_type)type, addr,
				    (unsigned)(kind > 64 ? 64 : kind), insert);
	if (rc == -EOPNOTSUPP)
		return H_REPLY;
	if (rc)
		reply_err(g, rc);
	else
		reply_str(g, "OK");
	return H_REPLY;
}

static int h_zset(struct gdbstub *g, const char *a, const char *end)
{
	return h_breakpoint(g, a, end, true);
}

static int h_zclr(struct gdbstub *g, const char *a, const char *end)
{
	return h_breakpoint(g, a, end, false);
}

static int h_thread_sel(struct gdbstub *g, const char *a, const char *end)
{
	int tid;

	if (a >= end) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	char op = *a++;
	if ((op != 'g' && op != 'c') || parse_tid(g, &a, end, &tid) || a != end) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	if (tid >= 0) {
		if (op == 'g')
			g->g_thread = (unsigned)tid;
		else
			g->c_thread = (unsigned)tid;
	} else if (op == 'c') {
		g->c_thread = UINT32_MAX;	/* all / any: the current one */
	}
	reply_str(g, "OK");
	return H_REPLY;
}

static int h_thread_alive(struct gdbstub *g, const char *a, const char *end)
{
	int tid;

	if (parse_tid(g, &a, end, &tid) || a != end)
		reply_err(g, ESRCH);
	else
		reply_str(g, "OK");
	return H_REPLY;
}

static int h_qc(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	rsp_buf_printf(&g->reply, "QC%x", g->g_thread + 1);
	return H_REPLY;
}

static int h_qfthread(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	unsigned n = nthreads(g);
	reply_str(g, "m");
	for (unsigned i = 0; i < n; i++)
		rsp_buf_printf(&g->reply, "%s%x", i ? "," : "", i + 1);
	return H_REPLY;
}

static int h_qsthread(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	reply_str(g, "l");
	return H_REPLY;
}

static int h_qthread_extra(struct gdbstub *g, const char *a, const char *end)
{
	char text[128];
	int tid;

	if (parse_tid(g, &a, end, &tid) || a != end || tid < 0) {
		reply_err(g, ESRCH);
		return H_REPLY;
	}
	thread_extra_text(g, (unsigned)tid, text, sizeof(text));
	rsp_buf_put_hex(&g->reply, text, strlen(text));
	return H_REPLY;
}

static int h_qattached(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	/* 1: we attached to an existing guest; quitting gdb detaches. */
	reply_str(g, "1");
	return H_REPLY;
}

/* qHostInfo: only lldb asks. A short 'm' reply is legal (the protocol lets
 * the stub return the readable prefix, and gdb uses it), but lldb 14 reads
 * on after it, gets an error for the rest and aborts (std::length_error):
 * lldb gets all-or-error reads. The reply stays empty (not supported). */
static int h_qhostinfo(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	g->whole_reads = true;
	return H_REPLY;
}

static int h_ok(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	reply_str(g, "OK");
	return H_REPLY;
}

static int h_empty(struct gdbstub *g, const char *a, const char *end)
{
	(void)g;
	(void)a;
	(void)end;
	return H_REPLY;
}

static int h_detach(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	if (g->ops->detach)
		g->ops->detach(g->t, false);
	g->done = true;
	reply_str(g, "OK");
	return H_REPLY;
}

static int h_kill(struct gdbstub *g, const char *a, const char *end)
{
	(void)a;
	(void)end;
	if (g->ops->detach)
		g->ops->detach(g->t, true);
	g->done = true;
	return H_NOREPLY;
}

static int h_vkill(struct gdbstub *g, const char *a, const char *end)
{
	h_kill(g, a, end);
	reply_str(g, "OK");
	return H_REPLY;
}

static void monitor_events(struct gdbstub *g, struct gdbstub_out *o)
{
	struct vcr_vcpu_state st;
	unsigned avail;

	if (get_state(g, g->g_thread, &st, &avail) || !(avail & VCR_CLASS_EVENTS)) {
		gdbstub_printf(o, "vCPU %u: events unavailable\n", g->g_thread);
		return;
	}
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
	unsigned avail;

	if (get_state(g, g->g_thread, &st, &avail) || !(avail & VCR_CLASS_SREGS)) {
		gdbstub_printf(o, "vCPU %u: mode unknown\n", g->g_thread);
		return;
	}
	const char *m = vcr_cpu_mode(&st);
	gdbstub_printf(o, "vCPU %u: %s, paging %d-level, cr0=0x%llx cr4=0x%llx efer=0x%llx\n",
		       g->g_thread, m, vcr_mmu_levels(&st), (unsigned long long)st.sregs.cr0,
		       (unsigned long long)st.sregs.cr4, (unsigned long long)st.sregs.efer);
	if (!strcmp(m, "real") || !strcmp(m, "v8086"))
		gdbstub_printf(o, "  gdb does not apply segmentation: code is at "
				  "cs.base+ip = 0x%llx (x/4i $cs_base+$pc)\n",
			       (unsigned long long)(st.sregs.cs.base + (st.regs.rip & 0xffff)));
}

static int h_qrcmd(struct gdbstub *g, const char *a, const char *end)
{
	char cmd[256];
	struct gdbstub_out o = { g };
	size_t hl = (size_t)(end - a);

	if (hl % 2 || hl / 2 >= sizeof(cmd)) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	ssize_t n = rsp_unhex(a, hl, (uint8_t *)cmd, sizeof(cmd) - 1);
	if (n < 0) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	cmd[n] = 0;
	if (memchr(cmd, 0, (size_t)n)) {
		reply_err(g, EINVAL);
		return H_REPLY;
	}
	/* Trim and split off the first word. */
	char *c = cmd;
	while (*c == ' ')
		c++;
	size_t l = strlen(c);
	while (l && (c[l - 1] == ' ' || c[l - 1] == '\n'))
		c[--l] = 0;
	if (!strcmp(c, "help") || !*c) {
		gdbstub_printf(&o, "vcr gdbstub monitor commands:\n"
				   "  help              this text\n"
				   "  mode              CPU mode and paging of the current vCPU\n"
				   "  events            pending/injected exception, interrupt, NMI\n");
		if (g->ops->monitor_help)
			g->ops->monitor_help(g->t, &o);
	} else if (!strcmp(c, "mode")) {
		monitor_mode(g, &o);
	} else if (!strcmp(c, "events")) {
		monitor_events(g, &o);
	} else {
		int rc = g->ops->monitor ? g->ops->monitor(g->t, c, &o) : 0;
		if (rc == 0)
			gdbstub_printf(&o, "unknown monitor command '%s' (try: monitor help)\n", c);
		else if (rc < 0) {
			reply_err(g, rc);
			return H_REPLY;
		}
		tlb_flush(g);	/* e.g. seek moved the cursor */
		if (rc > 0 && g->ops->initial_stop)
			g->ops->initial_stop(g->t, &g->last_stop);
	}
	reply_str(g, "OK");
	return H_REPLY;
}

/* The command table: longest names first where one prefixes another.
 * `exact` entries match only the whole packet. */
struct cmd {
	const char *name;
	bool exact;
	handler_fn fn;
};

static const struct cmd cmds[] = {
	{ "qSupported", false, h_qsupported },
	{ "QStartNoAckMode", true, h_noack },
	{ "qXfer:features:read:", false, h_xfer_features },
	{ "qXfer:threads:read:", false, h_xfer_threads },
	{ "qfThreadInfo", true, h_qfthread },
	{ "qsThreadInfo", true, h_qsthread },
	{ "qThreadExtraInfo,", false, h_qthread_extra },
	{ "qAttached", false, h_qattached },
	{ "qC", true, h_qc },
	{ "qRcmd,", false, h_qrcmd },
	{ "qSymbol:", false, h_ok },
	{ "qHostInfo", true, h_qhostinfo },
	{ "vCont?", true, h_vcont_query },
	{ "vCont", false, h_vcont },
	{ "vKill", false, h_vkill },
	{ "vMustReplyEmpty", true, h_empty },
	{ "bc", true, h_rev_cont },
	{ "bs", true, h_rev_step },
	{ "?", true, h_stopq },
	{ "g", true, h_read_regs },
	{ "G", false, h_write_regs },
	{ "p", false, h_read_reg },
	{ "P", false, h_write_reg },
	{ "m", false, h_read_mem },
	{ "M", false, h_write_mem },
	{ "x", false, h_read_mem_bin },
	{ "X", false, h_write_mem_bin },
	{ "c", false, h_cont },
	{ "s", false, h_step },
	{ "C", false, h_cont_sig },
	{ "S", false, h_step_sig },
	{ "Z", false, h_zset },
	{ "z", false, h_zclr },
	{ "H", false, h_thread_sel },
	{ "T", false, h_thread_alive },
	{ "D", false, h_detach },
	{ "k", true, h_kill },
};

static void dispatch(struct gdbstub *g, const char *p, size_t len)
{
	const char *end = p + len;
	int rc = H_REPLY;

	rsp_buf_reset(&g->reply);
	for (size_t i = 0; i < VCR_ARRAY_SIZE(cmds); i++) {
		size_t nl = strlen(cmds[i].name);
		if (len < nl || memcmp(p, cmds[i].name, nl))
			continue;
		if (cmds[i].exact && len != nl)
			continue;
		rc = cmds[i].fn(g, p + nl, end);
		break;
	}
	/* Unknown packets get the empty reply: "not supported". */
	if (rc == H_REPLY) {
		if (g->reply.failed) {
			rsp_buf_reset(&g->reply);
			reply_err(g, ENOMEM);
		}
		send_packet(g, g->reply.data, g->reply.len);
	}
	if (g->noack_pending) {
		g->noack_pending = false;
		g->noack = true;
		g->rx.noack = true;
	}
}

/* ------------------------------------------------------------ server */

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
	if ((rc = build_xml(g)))
		goto fail;
	tlb_flush(g);
	g->c_thread = UINT32_MAX;
	g->last_stop.signal = 5;
	if (ops->initial_stop)
		ops->initial_stop(t, &g->last_stop);
	if (g->last_stop.thread < nthreads(g))
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
	stopped(g, &s);
	rsp_buf_reset(&g->reply);
	put_stop(g, &s);
	send_packet(g, g->reply.data, g->reply.len);
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
				send_packet(g, "E16", 3);
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
			dispatch(g, (const char *)g->rx.pkt, g->rx.pkt_len);
			break;
		}
		if (g->out.failed)
			return -ENOMEM;
	}
	return g->done ? 1 : 0;
}

/* ------------------------------------------------------------ sockets */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int gdbstub_serve_fd(struct gdbstub *g, int fd)
{
	static const size_t bufsz = 1 << 16;
	uint8_t *buf = malloc(bufsz);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (g->out.len) {
			rc = write_all(fd, g->out.data, g->out.len);
			rsp_buf_reset(&g->out);
			if (rc)
				break;
		}
		if (g->done)
			break;
		struct pollfd pf[2] = { { .fd = fd, .events = POLLIN } };
		nfds_t np = 1;
		if (g->running && g->ops->stop_fd) {
			pf[1].fd = g->ops->stop_fd(g->t);
			pf[1].events = POLLIN;
			np = 2;
		}
		if (poll(pf, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (np == 2 && (pf[1].revents & POLLIN)) {
			rc = gdbstub_target_stopped(g);
			if (rc < 0)
				break;
			continue;	/* send the stop reply first */
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, buf, bufsz);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				/* gdb went away: let the guest go on (or
				 * the replay end) as after a detach. */
				rc = n < 0 ? -errno : 0;
				if (g->running && g->ops->interrupt) {
					g->ops->interrupt(g->t);
					struct gdbstub_stop s;
					while (g->ops->wait_stop(g->t, &s) == 0) {
						struct pollfd sp = { .fd = g->ops->stop_fd(g->t),
								     .events = POLLIN };
						poll(&sp, 1, 1000);
					}
					g->running = false;
				}
				if (g->ops->detach)
					g->ops->detach(g->t, false);
				break;
			}
			rc = gdbstub_feed(g, buf, (size_t)n);
			if (rc < 0)
				break;
			rc = 0;
		}
	}
	free(buf);
	return rc;
}

int gdbstub_listen(const char *addr, int *lfd_out, struct vcr_err *err)
{
	char host[256] = "127.0.0.1";
	const char *port;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int lfd = -1, rc, one = 1;

	*lfd_out = -1;
	const char *colon = strrchr(addr, ':');
	if (colon) {
		size_t hl = (size_t)(colon - addr);
		if (hl >= sizeof(host))
			return vcr_err_set(err, -EINVAL, UINT64_MAX, "gdb address too long");
		if (hl) {
			memcpy(host, addr, hl);
			host[hl] = 0;
		}
		port = colon + 1;
	} else {
		port = addr;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "gdb address '%s': %s", addr,
				   gai_strerror(rc));
	lfd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		rc = vcr_err_set(err, -errno, UINT64_MAX, "socket: %s", strerror(errno));
		goto out;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, res->ai_addr, res->ai_addrlen) || listen(lfd, 1)) {
		rc = vcr_err_set(err, -errno, UINT64_MAX, "listen on %s: %s", addr,
				 strerror(errno));
		close(lfd);
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	if (!getsockname(lfd, (struct sockaddr *)&ss, &sl) &&
	    !getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
			 NI_NUMERICHOST | NI_NUMERICSERV))
		vcr_log("gdbstub: waiting for gdb on %s:%s", hbuf, pbuf);
	*lfd_out = lfd;
	rc = 0;
out:
	freeaddrinfo(res);
	return rc;
}

int gdbstub_accept_on(int lfd, int *fd_out, struct vcr_err *err)
{
	int fd, one = 1;

	*fd_out = -1;
	do {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return vcr_err_set(err, -errno, UINT64_MAX, "accept: %s", strerror(errno));
	/* One small packet per round trip: Nagle would add 40 ms to each. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	vcr_log("gdbstub: gdb connected");
	*fd_out = fd;
	return 0;
}

int gdbstub_accept(const char *addr, int *fd_out, struct vcr_err *err)
{
	int lfd, rc = gdbstub_listen(addr, &lfd, err);

	if (rc)
		return rc;
	rc = gdbstub_accept_on(lfd, fd_out, err);
	close(lfd);
	return rc;
}
