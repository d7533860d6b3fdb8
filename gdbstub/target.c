/* gdbstub/target.c: the target as the commands see it, below every other
 * file of the stub: the thread count, one thread's state, and guest-virtual
 * memory of the Hg thread (translated through its page tables by
 * core/x86_mmu.h, with a small TLB, served by the target's guest-physical
 * read/write). */
#include <errno.h>
#include <string.h>

#include "core/x86_mmu.h"
#include "gdbstub/gdbstub_int.h"

unsigned gdbstub_nthreads(struct gdbstub *g)
{
	unsigned n = g->ops->nthreads(g->t);
	return n ? n : 1;
}

int gdbstub_get_state(struct gdbstub *g, unsigned thread, struct vcr_vcpu_state *st,
		      unsigned *avail)
{
	unsigned a = 0;
	memset(st, 0, sizeof(*st));
	int rc = g->ops->get_state(g->t, thread, st, &a);
	if (avail)
		*avail = a;
	return rc;
}

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
ssize_t gdbstub_mem_access(struct gdbstub *g, uint64_t va, uint8_t *buf, size_t len,
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
