/* rsp_server_test: the gdbstub command layer against the in-memory target
 * (tests/unit/rsp_memtarget.h): handshake, target XML, registers, memory
 * through page tables, breakpoints, resume and stop replies, threads,
 * monitor, malformed packets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/regs.h"
#include "gdbstub/gdbstub.h"
#include "tests/lib/tap.h"
#include "tests/unit/rsp_memtarget.h"

static char reply[GDBSTUB_PACKET_SIZE + 1];
static size_t reply_len;
static char console[4096];	/* decoded 'O' output */
static int acks;

/* Send one packet (framed, correct checksum), decode what came back: the
 * last non-'O' packet lands in reply[], 'O' text in console[]. Returns the
 * number of reply packets (0 when the stub stayed silent). */
static int req_raw(struct gdbstub *g, const void *payload, size_t len)
{
	struct rsp_buf b;
	struct rsp_parser p;
	int npk = 0;

	rsp_buf_init(&b);
	rsp_put_packet(&b, payload, len);
	gdbstub_feed(g, b.data, b.len);
	rsp_buf_free(&b);

	struct rsp_buf *out = gdbstub_output(g);
	rsp_parser_init(&p, GDBSTUB_PACKET_SIZE);
	console[0] = 0;
	reply[0] = 0;
	reply_len = 0;
	acks = 0;
	size_t off = 0;
	while (off < out->len) {
		enum rsp_event ev;
		off += rsp_parse(&p, out->data + off, out->len - off, &ev);
		if (ev == RSP_EV_ACK)
			acks++;
		if (ev != RSP_EV_PACKET)
			continue;
		if (p.pkt_len > 1 && p.pkt[0] == 'O' && p.pkt[1] != 'K') {
			size_t cl = strlen(console);
			uint8_t tmp[2048];
			ssize_t n = rsp_unhex((char *)p.pkt + 1, p.pkt_len - 1, tmp,
					      sizeof(console) - cl - 1 < sizeof(tmp)
						      ? sizeof(console) - cl - 1 : sizeof(tmp));
			if (n > 0) {
				memcpy(console + cl, tmp, (size_t)n);
				console[cl + (size_t)n] = 0;
			}
			continue;
		}
		npk++;
		memcpy(reply, p.pkt, p.pkt_len);
		reply[p.pkt_len] = 0;
		reply_len = p.pkt_len;
	}
	rsp_parser_free(&p);
	rsp_buf_reset(out);
	return npk;
}

static const char *req(struct gdbstub *g, const char *s)
{
	req_raw(g, s, strlen(s));
	return reply;
}

static const char *monitor(struct gdbstub *g, const char *cmd)
{
	char pkt[600] = "qRcmd,";
	for (const char *c = cmd; *c; c++)
		sprintf(pkt + strlen(pkt), "%02x", (unsigned char)*c);
	return req(g, pkt);
}

/* The stop reply the stub must send: thread, the expedited rip/rsp/rbp of
 * that vCPU as in the target (gdb regnums 0x10, 7, 6), then `tail`. */
static const char *stop_want(const struct memtarget *m, unsigned tid, const char *tail)
{
	static char w[256];
	const struct kvm_regs *r = &m->st[tid - 1].regs;
	const uint64_t v[3] = { r->rip, r->rsp, r->rbp };
	const unsigned num[3] = { 0x10, 7, 6 };

	int n = snprintf(w, sizeof(w), "T05thread:%x;", tid);
	for (int i = 0; i < 3; i++) {
		n += snprintf(w + n, sizeof(w) - (size_t)n, "%x:", num[i]);
		for (int b = 0; b < 8; b++)
			n += snprintf(w + n, sizeof(w) - (size_t)n, "%02x",
				      (unsigned)(v[i] >> (8 * b)) & 0xff);
		n += snprintf(w + n, sizeof(w) - (size_t)n, ";");
	}
	snprintf(w + n, sizeof(w) - (size_t)n, "%s", tail);
	return w;
}

/* A one-vCPU target that holds no registers and stops with `next_stop` at
 * every resume: for the stop reasons memtarget never produces. */
static struct gdbstub_stop next_stop;

static unsigned fixed_nthreads(void *t)
{
	(void)t;
	return 1;
}

static int fixed_get_state(void *t, unsigned th, struct vcr_vcpu_state *st, unsigned *avail)
{
	(void)t;
	(void)th;
	(void)st;
	*avail = 0;
	return 0;
}

static int fixed_resume(void *t, const struct gdbstub_resume *r, struct gdbstub_stop *stop)
{
	(void)t;
	(void)r;
	*stop = next_stop;
	return 1;
}

static const struct gdbstub_target_ops fixed_ops = {
	.nthreads = fixed_nthreads,
	.get_state = fixed_get_state,
	.resume = fixed_resume,
};

/* What gdb must see ('c' answered) for each stop reason: gdb's "Stop Reply
 * Packets" (swbreak and hwbreak are checked against memtarget above). */
static void test_stop_reasons(void)
{
	static const struct {
		enum gdbstub_stop_reason reason;
		uint64_t addr;
		const char *want, *what;
	} cases[] = {
		{ GDBSTUB_STOP_WATCH, 0x20008, "T05thread:1;watch:20008;",
		  "a write watchpoint stop names its address (watch:ADDR)" },
		{ GDBSTUB_STOP_AWATCH, 0xfff0, "T05thread:1;awatch:fff0;",
		  "an access watchpoint stop names its address (awatch:ADDR)" },
		{ GDBSTUB_STOP_REPLAY_BEGIN, 0, "T05thread:1;replaylog:begin;",
		  "the start of a trace is replaylog:begin" },
		{ GDBSTUB_STOP_REPLAY_END, 0, "T05thread:1;replaylog:end;",
		  "the end of a trace is replaylog:end" },
		{ GDBSTUB_STOP_NONE, 0, "T05thread:1;", "a plain stop has no reason" },
		{ GDBSTUB_STOP_EXITED, 0, "W03", "an ended guest is W with its exit code" },
	};
	struct gdbstub *g;

	if (gdbstub_new(&g, &fixed_ops, NULL, 0))
		tap_bail("setup of the fixed target");
	for (size_t i = 0; i < VCR_ARRAY_SIZE(cases); i++) {
		next_stop = (struct gdbstub_stop){ .reason = cases[i].reason, .signal = 5,
						   .addr = cases[i].addr, .exit_code = 3 };
		tap_ok(!strcmp(req(g, "c"), cases[i].want), "%s", cases[i].what);
	}
	gdbstub_free(g);
}

static size_t g_len(void)
{
	size_t n = 0;
	for (unsigned i = 0; i < vcr_gdb_nregs(); i++) {
		const struct vcr_reg *r = vcr_reg_by_gdb(i);
		if (r)
			n += 2 * ((r->gdb_bits + 7u) / 8u);
	}
	return n;
}

/* lldb's `kill` sends k and waits for the end of the process (X or W): with
 * no reply it reports "failed to send the k packet". gdb does not wait, and
 * the reply costs it nothing. */
static void test_kill(void)
{
	struct memtarget m;
	struct gdbstub *g;

	if (mt_init(&m) || gdbstub_new(&g, &mt_ops, &m, 0))
		tap_bail("setup");
	req(g, "qSupported:xmlRegisters=i386");
	int n = req_raw(g, "k", 1);
	tap_ok(n == 1 && !strcmp(reply, "X09") && m.killed == 1,
	       "k kills and replies X09 (process killed by signal 9), as lldb waits for");
	gdbstub_free(g);
	mt_free(&m);
}

int main(void)
{
	struct memtarget m;
	struct gdbstub *g;
	char buf[256];

	tap_plan(50);
	if (mt_init(&m) || gdbstub_new(&g, &mt_ops, &m, 0))
		tap_bail("setup");

	req(g, "qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
	tap_ok(strstr(reply, "PacketSize=20000") && strstr(reply, "qXfer:features:read+") &&
	       strstr(reply, "swbreak+") && strstr(reply, "hwbreak+") &&
	       strstr(reply, "vContSupported+") && strstr(reply, "QStartNoAckMode+"),
	       "qSupported offers PacketSize, target XML, swbreak, hwbreak, vCont, no-ack");
	tap_ok(!strstr(reply, "ReverseStep") && !strstr(reply, "binary-upload"),
	       "no reverse features on a non-replay target, no binary-upload unasked");
	tap_ok(acks == 1, "the packet was acked");

	/* Target XML, read in small pieces like gdb does. */
	{
		static char xml[65536];
		size_t xl = 0;
		int ok = 1;
		for (;;) {
			snprintf(buf, sizeof(buf), "qXfer:features:read:target.xml:%zx,200", xl);
			req(g, buf);
			if (reply_len < 1 || (reply[0] != 'm' && reply[0] != 'l') ||
			    xl + reply_len > sizeof(xml)) {
				ok = 0;
				break;
			}
			memcpy(xml + xl, reply + 1, reply_len - 1);
			xl += reply_len - 1;
			if (reply[0] == 'l')
				break;
		}
		xml[xl] = 0;
		size_t want;
		const char *ref = gdbstub_target_xml(g, &want);
		tap_ok(ok && xl == want && !strcmp(xml, ref), "qXfer reassembles the target XML");
		tap_ok(strstr(xml, "<architecture>i386:x86-64</architecture>") &&
		       strstr(xml, "<feature name=\"org.gnu.gdb.i386.core\">") &&
		       strstr(xml, "<flags id=\"i386_eflags\""),
		       "XML: x86-64, core feature with the eflags type");
		const char *seg = strstr(xml, "<feature name=\"org.gnu.gdb.i386.segments\">");
		const char *fsb = strstr(xml, "name=\"fs_base\"");
		const char *after = seg ? strstr(seg + 1, "<feature") : NULL;
		tap_ok(seg && fsb && fsb > seg && (!after || fsb < after),
		       "XML: fs_base inside org.gnu.gdb.i386.segments");
		tap_ok(strstr(xml, "<reg name=\"cr3\" bitsize=\"64\" type=\"uint64\" regnum=\"44\" group=\"system\"/>") &&
		       strstr(xml, "name=\"efer\"") && strstr(xml, "name=\"cs_base\"") &&
		       strstr(xml, "name=\"exc_pending\""),
		       "XML: control registers, EFER, segment caches, events in system group");
		int nreg = 0;
		for (const char *s = xml; (s = strstr(s, "<reg ")); s++)
			nreg++;
		tap_ok(nreg == (int)vcr_gdb_nregs(), "XML: one <reg> per table register (%d)",
		       nreg);
		req(g, "qXfer:features:read:other.xml:0,100");
		tap_ok(reply[0] == 'E', "an unknown annex is an error");
	}

	req(g, "QStartNoAckMode");
	tap_ok(!strcmp(reply, "OK") && acks == 1, "QStartNoAckMode acked and OK");
	req(g, "?");
	tap_ok(!strcmp(reply, stop_want(&m, 1, "")) && acks == 0,
	       "'?' gives the initial stop, no more acks after no-ack mode");

	req(g, "g");
	tap_ok(reply_len == g_len() && !strncmp(reply, "8877665544332211", 16),
	       "'g' has the layout width (%zu) and rax little-endian", g_len());
	{
		/* st0 (regnum 24) is unavailable: 'x'. */
		size_t off = 0;
		for (unsigned i = 0; i < 24; i++)
			off += 2 * ((vcr_reg_by_gdb(i)->gdb_bits + 7u) / 8u);
		tap_ok(reply[off] == 'x' && reply[off + 19] == 'x',
		       "x87 registers are reported unavailable");
	}
	req(g, "p10");
	tap_ok(!strcmp(reply, "0000010000000000"), "'p' rip = 0x10000");
	req(g, "p28");	/* fs_base */
	tap_ok(!strcmp(reply, "0df0edfe00000000"), "'p' fs_base");
	req(g, "P0=efbeadde00000000");
	tap_ok(!strcmp(reply, "OK") && m.st[0].regs.rax == 0xdeadbeef, "'P' writes rax");
	req(g, "P54=01");	/* exc_pending: read-only */
	tap_ok(reply[0] == 'E', "'P' on a read-only register is refused");
	req(g, "P0=12");
	tap_ok(reply[0] == 'E' && m.st[0].regs.rax == 0xdeadbeef, "'P' with a short value is refused");
	/* G round trip: read, change rbx, write back. */
	{
		static char gp[GDBSTUB_PACKET_SIZE + 2];
		req(g, "g");
		snprintf(gp, sizeof(gp), "G%s", reply);
		memcpy(gp + 1 + 16, "0100000000000000", 16);
		req(g, gp);
		tap_ok(!strcmp(reply, "OK") && m.st[0].regs.rbx == 1 &&
		       m.st[0].regs.rax == 0xdeadbeef, "'G' writes what changed");
	}

	req(g, "m10000,8");
	tap_ok(!strcmp(reply, "0001020304050607"), "'m' through the page tables");
	req(g, "m100000,8");
	tap_ok(reply[0] == 'E', "'m' beyond memory is an error");
	req(g, "mffffc0000000000,4");
	tap_ok(reply[0] == 'E', "'m' on an unmapped address is an error");
	req(g, "mffffe,4");
	tap_ok(!strcmp(reply, "0000"), "'m' across the end of memory is a short read");
	req(g, "M20000,3:aabbcc");
	tap_ok(!strcmp(reply, "OK") && m.mem[0x20001] == 0xbb, "'M' writes memory");
	{
		/* req_raw escapes like gdb does: '#' and '}' travel as "}\x03", "}]". */
		const char x[] = "X20010,3:#}\x01";
		req_raw(g, x, sizeof(x) - 1);
		tap_ok(!strcmp(reply, "OK") && m.mem[0x20010] == '#' && m.mem[0x20011] == '}' &&
		       m.mem[0x20012] == 1, "'X' writes escaped binary");
	}
	req(g, "x10000,4");
	tap_ok(reply_len == 0, "'x' is not supported unless binary-upload was negotiated");
	req(g, "qSupported:binary-upload+");
	req(g, "x20010,3");
	tap_ok(reply_len == 4 && !memcmp(reply, "b#}\x01", 4),
	       "'x' after binary-upload+: binary reply, special bytes escaped once");

	req(g, "Z0,10005,1");
	tap_ok(!strcmp(reply, "OK"), "Z0 accepted");
	req(g, "vCont;c");
	tap_ok(!strcmp(reply, stop_want(&m, 1, "swbreak:;")) && m.st[0].regs.rip == 0x10005,
	       "continue stops on the software breakpoint with swbreak");
	req(g, "z0,10005,1");
	req(g, "Z1,10009,1");
	req(g, "c");
	tap_ok(!strcmp(reply, stop_want(&m, 1, "hwbreak:;")) && m.st[0].regs.rip == 0x10009,
	       "hardware breakpoint reported with hwbreak");
	req(g, "Z3,20000,4");
	tap_ok(reply_len == 0, "Z3 (read watchpoint) refused with the empty reply");
	req(g, "Z2,20000,4");
	req(g, "Z2,20008,4");
	req(g, "Z4,20010,4");
	req(g, "Z2,20018,4");
	tap_ok(reply[0] == 'E', "a fifth debug-register user is refused (E)");

	req(g, "qfThreadInfo");
	tap_ok(!strcmp(reply, "m1,2"), "qfThreadInfo lists both vCPUs");
	req(g, "Hg2");
	req(g, "p10");
	tap_ok(!strcmp(reply, "f0ff000000000000"), "Hg2 selects vCPU 1's registers");
	req(g, "qThreadExtraInfo,2");
	{
		uint8_t t[64] = { 0 };
		rsp_unhex(reply, reply_len, t, sizeof(t) - 1);
		tap_ok(strstr((char *)t, "real") != NULL, "qThreadExtraInfo names the CPU mode (%s)", t);
	}
	req(g, "vCont;s:2;c");
	tap_ok(!strcmp(reply, stop_want(&m, 2, "")) && m.st[1].regs.rip == 0xfff1,
	       "vCont;s:2 steps vCPU 1");
	req(g, "bs");
	tap_ok(reply_len == 0, "reverse step refused without the reverse flag");

	monitor(g, "mode");
	tap_ok(!strcmp(reply, "OK") && strstr(console, "real") &&
	       strstr(console, "0xfffffff1"), "monitor mode shows real mode and cs.base+ip");
	req(g, "Hg1");
	monitor(g, "events");
	tap_ok(strstr(console, "pending=1 nr=14") != NULL, "monitor events shows the pending #PF");
	monitor(g, "resumes");
	tap_ok(strstr(console, "resumes=") != NULL, "target monitor commands are reached");

	/* Garbage: the stub answers and goes on. */
	{
		const char *junk[] = { "m", "mzz,1", "m1,", "M1,2:zz", "X1,5:ab", "Hx1",
				       "p", "pffffffff", "qXfer:features:read:target.xml:z",
				       "vCont;q", "qRcmd,zz", "T99", "G12" };
		int ok = 1;
		for (size_t i = 0; i < VCR_ARRAY_SIZE(junk); i++) {
			if (req_raw(g, junk[i], strlen(junk[i])) != 1 || reply[0] != 'E') {
				tap_diag("'%s' -> '%s'", junk[i], reply);
				ok = 0;
			}
		}
		req(g, "qC");
		tap_ok(ok && !strcmp(reply, "QC1"), "malformed packets get E replies, session goes on");
	}

	/* lldb (it sends qHostInfo) gets no short reads: lldb 14 aborts on a
	 * short read followed by an error. */
	req(g, "qHostInfo");
	req(g, "mffffe,4");
	tap_ok(reply[0] == 'E', "after qHostInfo (lldb), a read across the end of memory is an error");

	req(g, "D");
	tap_ok(!strcmp(reply, "OK") && m.detached == 1, "D detaches");

	gdbstub_free(g);
	mt_free(&m);
	test_stop_reasons();
	test_kill();
	return tap_exit_status();
}
