/* gdbstub/regs.c: registers on the wire. g/G/p/P and the values in stop
 * replies, all in the 64-bit layout of the one register table (core/regs.h):
 * gdb register n is vcr_reg_by_gdb(n), little-endian hex of its gdb_bits,
 * 'x' digits for a class the target does not hold. */
#include <errno.h>
#include <string.h>

#include "gdbstub/gdbstub_int.h"

/* Bytes of register r on the wire. */
static size_t reg_wire_bytes(const struct vcr_reg *r)
{
	return (r->gdb_bits + 7u) / 8u;
}

void gdbstub_put_reg(struct gdbstub *g, const struct vcr_vcpu_state *st, unsigned avail,
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

static int write_state(struct gdbstub *g, const struct vcr_vcpu_state *st, unsigned dirty)
{
	if (!g->ops->set_state)
		return -EROFS;
	gdbstub_tlb_flush(g);
	return g->ops->set_state(g->t, g->g_thread, st, dirty);
}

/* "Pn=" / "pn": register number n of the table, or NULL. */
static const struct vcr_reg *reg_by_wire(uint64_t n)
{
	return n < 0x10000 ? vcr_reg_by_gdb((unsigned)n) : NULL;
}

int gdbstub_cmd_read_regs(struct gdbstub *g)
{
	struct vcr_vcpu_state st;
	unsigned avail;

	int rc = gdbstub_get_state(g, g->g_thread, &st, &avail);
	if (rc)
		return gdbstub_reply_err(g, rc);
	size_t n = vcr_gdb_nregs();
	for (unsigned i = 0; i < n; i++) {
		const struct vcr_reg *r = vcr_reg_by_gdb(i);
		if (r)
			gdbstub_put_reg(g, &st, avail, r);
	}
	return H_REPLY;
}

/* Decode the G block into st, marking in *dirty the classes of registers
 * that changed; registers past the end of the block are left alone. */
static int decode_regs(const char *a, const char *end, struct vcr_vcpu_state *st,
		       unsigned avail, unsigned *dirty)
{
	size_t n = vcr_gdb_nregs();

	for (unsigned i = 0; i < n && a < end; i++) {
		const struct vcr_reg *r = vcr_reg_by_gdb(i);
		if (!r)
			continue;
		size_t w = reg_wire_bytes(r);
		uint64_t v;
		if ((size_t)(end - a) < 2 * w)
			return -EINVAL;
		int got = get_reg_value(a, w, &v);
		if (got < 0 && r->fmt != VCR_REG_NONE)
			return got;
		a += 2 * w;
		if (got <= 0 || r->fmt == VCR_REG_NONE || (r->flags & VCR_REG_F_READONLY) ||
		    !(avail & r->cls))
			continue;
		if (vcr_reg_get(st, r) != v) {
			vcr_reg_set(st, r, v);
			*dirty |= r->cls;
		}
	}
	return 0;
}

int gdbstub_cmd_write_regs(struct gdbstub *g, const char *a, const char *end)
{
	struct vcr_vcpu_state st;
	unsigned avail, dirty = 0;
	int rc = gdbstub_get_state(g, g->g_thread, &st, &avail);

	if (!rc)
		rc = decode_regs(a, end, &st, avail, &dirty);
	if (!rc && dirty)
		rc = write_state(g, &st, dirty);
	return gdbstub_reply_rc(g, rc);
}

int gdbstub_cmd_read_reg(struct gdbstub *g, const char *a, const char *end)
{
	struct vcr_vcpu_state st;
	unsigned avail;
	uint64_t n;

	if (rsp_parse_hex(&a, end, &n) || a != end)
		return gdbstub_reply_err(g, EINVAL);
	const struct vcr_reg *r = reg_by_wire(n);
	if (!r)
		return gdbstub_reply_err(g, ENOENT);
	int rc = gdbstub_get_state(g, g->g_thread, &st, &avail);
	if (rc)
		return gdbstub_reply_err(g, rc);
	gdbstub_put_reg(g, &st, avail, r);
	return H_REPLY;
}

/* "Pn=VALUE": one register; -errno for the E reply. */
static int write_reg(struct gdbstub *g, const char *a, const char *end)
{
	struct vcr_vcpu_state st;
	unsigned avail;
	uint64_t n, v = 0;
	int rc;

	if (rsp_parse_hex(&a, end, &n) || a >= end || *a++ != '=')
		return -EINVAL;
	const struct vcr_reg *r = reg_by_wire(n);
	if (!r)
		return -ENOENT;
	size_t w = reg_wire_bytes(r);
	if ((size_t)(end - a) != 2 * w)
		return -EINVAL;
	int got = get_reg_value(a, w, &v);
	if (got < 0)
		return got;
	if (r->fmt == VCR_REG_NONE || (r->flags & VCR_REG_F_READONLY))
		return -EPERM;
	if ((rc = gdbstub_get_state(g, g->g_thread, &st, &avail)))
		return rc;
	if (!got)
		return 0;
	vcr_reg_set(&st, r, v);
	return write_state(g, &st, r->cls);
}

int gdbstub_cmd_write_reg(struct gdbstub *g, const char *a, const char *end)
{
	return gdbstub_reply_rc(g, write_reg(g, a, end));
}
