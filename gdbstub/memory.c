/* gdbstub/memory.c: guest memory for m/M/x/X. Addresses are guest-virtual:
 * translated through the Hg thread's page tables (core/x86_mmu.h), with a
 * small TLB, and served by the target's guest-physical read/write. */
#include <errno.h>
#include <string.h>

#include "core/x86_mmu.h"
#include "gdbstub/gdbstub_int.h"

void gdbstub_tlb_flush(struct gdbstub *g)
{
	for (size_t i = 0; i < GDBSTUB_TLB_SIZE; i++)
		g->tlb[i].vpage = UINT64_MAX;
}

static int phys_read_cb(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct gdbstub *g = ctx;
	return g->ops->read_phys(g->t, gpa, buf, len);
}

static int translate(struct gdbstub *g, const struct vcr_vcpu_state *st, unsigned thread,
		     uint64_t va, uint64_t *gpa, uint64_t *left)
{
	uint64_t vp = va >> 12;
	struct gdbstub_tlb_entry *e = &g->tlb[vp % GDBSTUB_TLB_SIZE];
	int rc;

	if (e->vpage == vp && e->thread == thread) {
		*gpa = e->gpage << 12 | (va & 4095);
		*left = 4096 - (va & 4095);
		return 0;
	}
	rc = vcr_mmu_translate(st, va, phys_read_cb, g, gpa, left);
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
	int rc = gdbstub_get_state(g, g->g_thread, &st, &avail);

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
		gdbstub_tlb_flush(g);	/* the guest's page tables may have changed */
	if (!write && g->whole_reads && done < len)
		return rc ? rc : -EFAULT;
	return done ? (ssize_t)done : rc;
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

	if (parse_addr_len(&a, end, 0, &addr, &len))
		return gdbstub_reply_err(g, EINVAL);
	/* Replies must fit PacketSize: hex doubles, escaping may double. */
	uint64_t max = (GDBSTUB_PACKET_SIZE - 8) / 2;
	if (len > max)
		len = max;
	if (len == 0)
		return gdbstub_reply_str(g, binary ? "b" : "OK");
	ssize_t n = mem_access(g, addr, g->mem, (size_t)len, false);
	if (n < 0)
		return gdbstub_reply_err(g, n == -ENOENT ? ENOENT : EFAULT);
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

int gdbstub_cmd_read_mem(struct gdbstub *g, const char *a, const char *end)
{
	return read_mem_common(g, a, end, false);
}

int gdbstub_cmd_read_mem_bin(struct gdbstub *g, const char *a, const char *end)
{
	/* Only for clients that asked (gdb 16+); others (lldb) must not get a
	 * format they did not negotiate: empty means "not supported". */
	if (!g->binary_upload)
		return H_REPLY;
	return read_mem_common(g, a, end, true);
}

/* M/X: the bytes into g->mem, then to the guest; -errno for the E reply. */
static int write_mem_common(struct gdbstub *g, const char *a, const char *end, bool binary)
{
	uint64_t addr, len;

	if (parse_addr_len(&a, end, ':', &addr, &len) || len > GDBSTUB_PACKET_SIZE)
		return -EINVAL;
	size_t have = (size_t)(end - a);
	if (binary) {
		if (have != len)
			return -EINVAL;
		memcpy(g->mem, a, have);
	} else if (have != 2 * len || rsp_unhex(a, have, g->mem, (size_t)len) != (ssize_t)len) {
		return -EINVAL;
	}
	if (len == 0)
		return 0;
	ssize_t n = mem_access(g, addr, g->mem, (size_t)len, true);
	if (n < 0 || (uint64_t)n != len)
		return n < 0 ? (int)n : -EFAULT;
	return 0;
}

int gdbstub_cmd_write_mem(struct gdbstub *g, const char *a, const char *end)
{
	return gdbstub_reply_rc(g, write_mem_common(g, a, end, false));
}

int gdbstub_cmd_write_mem_bin(struct gdbstub *g, const char *a, const char *end)
{
	return gdbstub_reply_rc(g, write_mem_common(g, a, end, true));
}
