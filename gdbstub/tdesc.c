/* gdbstub/tdesc.c: the target description gdb reads with
 * qXfer:features:read, generated from the one register table (core/regs.h),
 * always in the 64-bit layout (gdb cannot change layout within a session). */
#include <errno.h>
#include <string.h>

#include "gdbstub/gdbstub_int.h"

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
int gdbstub_build_tdesc(struct gdbstub *g)
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
