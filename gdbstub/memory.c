/* gdbstub/memory.c: the m/M/x/X packets: parse, bound to PacketSize, encode.
 * The guest-virtual access itself (page-table walk, TLB) is target.c's. */
#include <errno.h>
#include <string.h>

#include "gdbstub/gdbstub_int.h"

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
	ssize_t n = gdbstub_mem_access(g, addr, g->mem, (size_t)len, false);
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
	ssize_t n = gdbstub_mem_access(g, addr, g->mem, (size_t)len, true);
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
