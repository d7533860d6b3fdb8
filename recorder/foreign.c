/*
 * recorder/foreign.c: drain libvcr-preload.so's rings into a recorder
 * (recorder/foreign.h).
 */
#include "recorder/foreign.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/state.h"
#include "recorder/preload/shm.h"

#define FOREIGN_BATCH 512		/* records per ring per round */
#define FOREIGN_MIN_RUN (2u * 4096)
#define FOREIGN_MAX_RUN (1u << 20)

struct foreign_vcpu {
	struct kvm_run *run;		/* rebuilt from the copies */
	struct vcr_recorder_vcpu *h;	/* NULL: created after the trace */
	uint64_t tail;
	bool announced;
};

struct vcr_foreign {
	int fd;
	struct vcr_pre_hdr *hdr;
	uint64_t total;
	struct vcr_foreign_opts o;
	struct vcr_kv *kv;
	struct vcr_recorder *rec;
	uint32_t nvcpus;		/* in the trace */
	uint32_t run_size;
	uint32_t gen_seen;
	struct vcr_pre_slot slots[VCR_PRE_MAX_SLOTS];	/* scratch copies */
	struct kvm_cpuid_entry2 cpuid[VCR_PRE_MAX_CPUID];
	char refused[256];
	uint64_t bad, late;
	uint64_t vm_tail;		/* the VM ring's */
	struct foreign_vcpu v[VCR_PRE_MAX_VCPUS];
};

int vcr_foreign_create(struct vcr_foreign **out, const struct vcr_foreign_opts *o,
		       struct vcr_err *err)
{
	uint64_t rb = o->buffer_bytes ? o->buffer_bytes : VCR_PRE_RING_DEFAULT;
	struct vcr_foreign *f;

	*out = NULL;
	if (rb < (64u << 10) || rb > (1ull << 30) || (rb & (rb - 1)))
		return vcr_err_set(err, -EINVAL, 0, "buffer size %" PRIu64 " is not a power "
				   "of two in 64 KiB..1 GiB", rb);
	f = calloc(1, sizeof(*f));
	if (!f)
		return vcr_err_set(err, -ENOMEM, 0, "out of memory");
	f->o = *o;
	f->fd = -1;
	f->o.path = f->o.cmdline = NULL;
	f->o.kv = NULL;
	f->o.nkv = 0;
	f->total = vcr_pre_total_bytes(rb);
	/* Not close-on-exec: COMMAND inherits it, the library closes it. */
	f->fd = memfd_create("vcr-preload", 0);
	if (f->fd < 0 || ftruncate(f->fd, (off_t)f->total)) {
		int e = -errno;
		vcr_foreign_finish(f, 0, 0, NULL, NULL, NULL);
		return vcr_err_set(err, e, 0, "shared memory: %s", strerror(-e));
	}
	f->hdr = mmap(NULL, f->total, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (f->hdr == MAP_FAILED) {
		int e = -errno;
		f->hdr = NULL;
		vcr_foreign_finish(f, 0, 0, NULL, NULL, NULL);
		return vcr_err_set(err, e, 0, "shared memory: %s", strerror(-e));
	}
	f->hdr->magic = VCR_PRE_MAGIC;
	f->hdr->version = VCR_PRE_VERSION;
	f->hdr->flags = o->no_events ? VCR_PRE_F_NO_EVENTS : 0;
	f->hdr->ring_bytes = rb;
	f->hdr->ring_off = vcr_pre_hdr_bytes();
	if (o->nkv) {
		f->kv = calloc(o->nkv, sizeof(*f->kv));
		f->o.nkv = o->nkv;
		if (!f->kv) {
			vcr_foreign_finish(f, 0, 0, NULL, NULL, NULL);
			return vcr_err_set(err, -ENOMEM, 0, "out of memory");
		}
		for (uint32_t i = 0; i < o->nkv; i++) {
			f->kv[i].key = strdup(o->kv[i].key);
			f->kv[i].value = strdup(o->kv[i].value);
			if (!f->kv[i].key || !f->kv[i].value) {
				vcr_foreign_finish(f, 0, 0, NULL, NULL, NULL);
				return vcr_err_set(err, -ENOMEM, 0, "out of memory");
			}
		}
	}
	f->o.kv = f->kv;
	if (o->cmdline && !(f->o.cmdline = strdup(o->cmdline))) {
		vcr_foreign_finish(f, 0, 0, NULL, NULL, NULL);
		return vcr_err_set(err, -ENOMEM, 0, "out of memory");
	}
	if (!(f->o.path = strdup(o->path))) {
		vcr_foreign_finish(f, 0, 0, NULL, NULL, NULL);
		return vcr_err_set(err, -ENOMEM, 0, "out of memory");
	}
	*out = f;
	return 0;
}

int vcr_foreign_fd(const struct vcr_foreign *f)
{
	return f->fd;
}

struct vcr_pre_hdr *vcr_foreign_shm(struct vcr_foreign *f)
{
	return f->hdr;
}

/* A consistent copy of the VM-wide table (memory slots, CPUID). */
static uint32_t foreign_copy_table(struct vcr_foreign *f, struct vcr_pre_slot *slots,
				   uint32_t *nslots, struct kvm_cpuid_entry2 *cpuid,
				   uint32_t *ncpuid)
{
	struct vcr_pre_hdr *h = f->hdr;

	for (;;) {
		uint32_t g = __atomic_load_n(&h->gen, __ATOMIC_ACQUIRE);
		if (g & 1)
			continue;
		uint32_t ns = h->nslots, nc = h->ncpuid;
		ns = ns < VCR_PRE_MAX_SLOTS ? ns : VCR_PRE_MAX_SLOTS;
		nc = nc < VCR_PRE_MAX_CPUID ? nc : VCR_PRE_MAX_CPUID;
		memcpy(slots, h->slots, ns * sizeof(*slots));
		if (cpuid)
			memcpy(cpuid, h->cpuid, nc * sizeof(*cpuid));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&h->gen, __ATOMIC_RELAXED) == g) {
			*nslots = ns;
			if (ncpuid)
				*ncpuid = nc;
			return g;
		}
	}
}

static int foreign_open(struct vcr_foreign *f, struct vcr_err *err)
{
	struct vcr_pre_slot *slots = f->slots;
	struct kvm_cpuid_entry2 *cpuid = f->cpuid;
	struct vcr_mem_region mem[VCR_PRE_MAX_SLOTS];
	struct vcr_trace_info info = { 0 };
	struct vcr_recorder_opts ropts = { 0 };
	uint32_t ns = 0, nc = 0;
	int r;

	f->gen_seen = foreign_copy_table(f, slots, &ns, cpuid, &nc);
	for (uint32_t i = 0; i < ns; i++)
		mem[i] = (struct vcr_mem_region){ slots[i].gpa, slots[i].size, slots[i].flags };
	f->nvcpus = __atomic_load_n(&f->hdr->nvcpus, __ATOMIC_ACQUIRE);
	if (f->nvcpus > VCR_PRE_MAX_VCPUS)
		f->nvcpus = VCR_PRE_MAX_VCPUS;
	if (!f->nvcpus)
		f->nvcpus = 1;	/* never ran a vCPU: a trace with only END */
	f->run_size = f->hdr->run_size;
	if (f->run_size < FOREIGN_MIN_RUN || f->run_size > FOREIGN_MAX_RUN)
		f->run_size = f->run_size > FOREIGN_MAX_RUN ? FOREIGN_MAX_RUN : FOREIGN_MIN_RUN;
	f->run_size = (f->run_size + 4095) & ~4095u;

	info.arch = VCR_ARCH_X86_64;
	info.kvm_api_version = f->hdr->api_version;
	info.sync_regs_mask = f->hdr->sync_mask;
	info.nvcpus = f->nvcpus;
	info.mem = mem;
	info.nmem = ns;
	info.cpuid = cpuid;
	info.ncpuid = nc;
	info.image_mode = VCR_IMAGE_NONE;
	info.cmdline = f->o.cmdline ? f->o.cmdline : "vcr record";
	info.kv = f->kv;
	info.nkv = f->o.nkv;
	ropts.run_size = f->run_size;
	ropts.ring_bytes = f->o.ring_bytes;
	r = vcr_recorder_open(&f->rec, f->o.path, &info, &ropts, err);
	if (r)
		return r;
	for (uint32_t i = 0; i < f->nvcpus; i++) {
		f->v[i].run = aligned_alloc(4096, f->run_size);
		if (!f->v[i].run)
			return vcr_err_set(err, -ENOMEM, 0, "out of memory");
		memset(f->v[i].run, 0, f->run_size);
		f->v[i].h = vcr_recorder_vcpu(f->rec, i);
	}
	return 0;
}

/* Where the VMM's answer to the last exit goes in kvm_run, or NULL. */
static uint8_t *foreign_answer(struct vcr_foreign *f, struct kvm_run *run, uint32_t n)
{
	if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN &&
	    (uint64_t)run->io.data_offset + n + 8 <= f->run_size)
		return (uint8_t *)run + run->io.data_offset;
	if (run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write && n <= 8)
		return run->mmio.data;
	return NULL;
}

/* kvm_run copied by the VMM: would the recorder read past our copy? */
static bool foreign_exit_ok(struct vcr_foreign *f, const struct kvm_run *run, uint32_t dlen)
{
	if (run->exit_reason != KVM_EXIT_IO)
		return true;
	uint64_t n = (uint64_t)run->io.size * run->io.count;
	if ((uint64_t)run->io.data_offset + n + 8 > f->run_size)
		return false;
	return run->io.direction != KVM_EXIT_IO_OUT || n == dlen;
}

/* One record of vCPU v's ring, or of the VM ring (v NULL: only IRQ_LINE
 * records belong there). */
static void foreign_record(struct vcr_foreign *f, struct foreign_vcpu *v,
			   const struct vcr_pre_rec *h)
{
	if (!v && h->kind != VCR_PRE_IRQ_LINE)
		goto bad;
	struct kvm_run *run = v ? v->run : NULL;

	switch (h->kind) {
	case VCR_PRE_EXIT: {
		const struct vcr_pre_exit *e = (const void *)h;
		if (h->len < sizeof(*e) || e->dlen > h->len - sizeof(*e))
			goto bad;
		memcpy(run, e->run, VCR_PRE_RUN_COPY);
		if (!foreign_exit_ok(f, run, e->dlen))
			goto bad;
		if (e->dlen)
			memcpy((uint8_t *)run + run->io.data_offset, e->run + VCR_PRE_RUN_COPY,
			       e->dlen);
		vcr_recorder_after_run(v->h, run);
		return;
	}
	case VCR_PRE_BEFORE: {
		const struct vcr_pre_before *b = (const void *)h;
		uint32_t slen = (b->dirty & VCR_CLASS_ALL) ? sizeof(struct kvm_sync_regs) : 0;
		if (h->len < sizeof(*b) + slen || b->in_len > h->len - sizeof(*b) - slen)
			goto bad;
		const uint8_t *p = (const uint8_t *)(b + 1);
		if (b->in_len) {
			uint8_t *dst = foreign_answer(f, run, b->in_len);
			if (!dst)
				goto bad;
			memcpy(dst, p + slen, b->in_len);
		}
		run->kvm_dirty_regs = b->dirty & VCR_CLASS_ALL;
		if (slen)
			memcpy(&run->s.regs, p, slen);
		vcr_recorder_before_run(v->h, run);
		run->kvm_dirty_regs = 0;
		return;
	}
	case VCR_PRE_IRQ_LINE: {
		const struct vcr_pre_irq_line *q = (const void *)h;
		if (h->len < sizeof(*q))
			goto bad;
		if (v)
			vcr_recorder_vcpu_irq_line(v->h, q->gsi, q->level);
		else
			vcr_recorder_irq_line(f->rec, q->gsi, q->level);
		return;
	}
	case VCR_PRE_INJECT: {
		const struct vcr_pre_inject *j = (const void *)h;
		if (h->len < sizeof(*j))
			goto bad;
		vcr_recorder_inject(v->h, h->arg == 2 ? VCR_INJECT_NMI : VCR_INJECT_IRQ,
				    j->vector);
		return;
	}
	default:
		break;
	}
bad:
	f->bad++;
}

static void foreign_markers(struct vcr_foreign *f)
{
	struct vcr_pre_hdr *hd = f->hdr;
	char text[4000];

	for (uint32_t i = 0; i < f->nvcpus; i++) {
		int32_t tid = __atomic_load_n(&hd->vcpu[i].tid, __ATOMIC_ACQUIRE);
		if (f->v[i].announced || !tid)
			continue;
		f->v[i].announced = true;
		snprintf(text, sizeof(text), "vcr.vcpu index=%u id=%u tid=%d", i,
			 hd->vcpu[i].id, tid);
		vcr_recorder_marker(f->rec, text);
	}
	if (__atomic_load_n(&hd->gen, __ATOMIC_ACQUIRE) != f->gen_seen) {
		struct vcr_pre_slot *slots = f->slots;
		uint32_t ns, len;
		f->gen_seen = foreign_copy_table(f, slots, &ns, NULL, NULL);
		len = (uint32_t)snprintf(text, sizeof(text), "vcr.memslots");
		for (uint32_t i = 0; i < ns && len < sizeof(text) - 96; i++)
			len += (uint32_t)snprintf(text + len, sizeof(text) - len,
						  " %#x:%#" PRIx64 "+%#" PRIx64 "/%#x",
						  slots[i].slot, slots[i].gpa, slots[i].size,
						  slots[i].flags);
		vcr_recorder_marker(f->rec, text);
	}
}

/* Drain up to FOREIGN_BATCH records of ring `idx` (a vCPU's, or the VM
 * ring with v NULL). A vCPU ring whose vCPU is not in the trace (v NULL,
 * idx < VCR_PRE_MAX_VCPUS) is consumed and counted as late. */
static unsigned foreign_drain_ring(struct vcr_foreign *f, struct vcr_pre_vcpu *sh,
				   uint64_t *tail, struct foreign_vcpu *v, uint32_t idx)
{
	struct vcr_pre_hdr *hd = f->hdr;
	uint64_t rb = hd->ring_bytes;
	const uint8_t *buf = (const uint8_t *)hd + hd->ring_off + idx * rb;
	uint64_t head = __atomic_load_n(&sh->head, __ATOMIC_ACQUIRE);
	unsigned n = 0;
	bool vm = idx == VCR_PRE_MAX_VCPUS;

	if (head - *tail > rb) {	/* a lying producer: resync */
		f->bad++;
		*tail = head;
	}
	while (*tail != head && n < FOREIGN_BATCH) {
		uint64_t off = *tail & (rb - 1);
		const struct vcr_pre_rec *h = (const void *)(buf + off);
		uint32_t len = h->len;
		if (len < sizeof(*h) || len % VCR_PRE_ALIGN || len > rb - off ||
		    len > head - *tail) {
			f->bad++;
			*tail = head;
			break;
		}
		if (h->kind != VCR_PRE_PAD) {
			if (v || vm)
				foreign_record(f, v, h);
			else
				f->late++;
			n++;
		}
		*tail += len;
	}
	__atomic_store_n(&sh->tail, *tail, __ATOMIC_RELEASE);
	return n;
}

ssize_t vcr_foreign_drain(struct vcr_foreign *f, struct vcr_err *err)
{
	struct vcr_pre_hdr *hd = f->hdr;
	uint32_t claimed = __atomic_load_n(&hd->nvcpus, __ATOMIC_ACQUIRE);
	ssize_t moved = 0;

	if (claimed > VCR_PRE_MAX_VCPUS)
		claimed = VCR_PRE_MAX_VCPUS;
	if (!f->rec) {
		bool any = false;
		for (uint32_t i = 0; i < claimed; i++)
			any |= __atomic_load_n(&hd->vcpu[i].head, __ATOMIC_ACQUIRE) != 0;
		if (!any)
			return 0;
		int r = foreign_open(f, err);
		if (r)
			return r;
	}
	foreign_markers(f);
	for (uint32_t i = 0; i < claimed; i++) {
		struct foreign_vcpu *v = &f->v[i];
		moved += foreign_drain_ring(f, &hd->vcpu[i], &v->tail,
					    i < f->nvcpus && v->h ? v : NULL, i);
	}
	/* The VM ring last: its records (lines raised by threads that run no
	 * vCPU) then follow every exit drained this round. */
	moved += foreign_drain_ring(f, &hd->vm, &f->vm_tail, NULL, VCR_PRE_MAX_VCPUS);
	return moved;
}

const char *vcr_foreign_refused(struct vcr_foreign *f)
{
	if (!__atomic_load_n(&f->hdr->status, __ATOMIC_ACQUIRE))
		return NULL;
	if (!f->refused[0]) {
		memcpy(f->refused, f->hdr->msg, sizeof(f->refused) - 1);
		f->refused[sizeof(f->refused) - 1] = 0;
	}
	return f->refused;
}

int vcr_foreign_finish(struct vcr_foreign *f, uint32_t how, int32_t status,
		       const char *msg, struct vcr_foreign_summary *sum, struct vcr_err *err)
{
	struct vcr_err dummy;
	int r = 0;

	if (sum)
		memset(sum, 0, sizeof(*sum));
	if (!f)
		return 0;
	if (!err)
		err = &dummy;
	if (f->hdr && f->o.path) {
		ssize_t n;
		while ((n = vcr_foreign_drain(f, err)) > 0)
			;
		r = n < 0 ? (int)n : 0;
		if (!f->rec && !r)
			r = foreign_open(f, err);
		if (f->rec) {
			const char *why = vcr_foreign_refused(f);
			char text[320];
			if (why) {
				snprintf(text, sizeof(text), "vcr.refused %s", why);
				vcr_recorder_marker(f->rec, text);
			}
			vcr_recorder_end(f->rec, how, status, msg);
			int cr = vcr_recorder_close(f->rec, sum ? &sum->rec : NULL);
			if (!r)
				r = cr;
		}
		if (sum) {
			sum->nvcpus = f->nvcpus;
			sum->bad = f->bad;
			sum->late_vcpus = f->late;
			for (uint32_t i = 0; i < VCR_PRE_MAX_VCPUS; i++)
				sum->lib_dropped += f->hdr->vcpu[i].dropped;
		}
	}
	for (uint32_t i = 0; i < VCR_PRE_MAX_VCPUS; i++)
		free(f->v[i].run);
	if (f->hdr)
		munmap(f->hdr, f->total);
	if (f->fd >= 0)
		close(f->fd);
	for (uint32_t i = 0; f->kv && i < f->o.nkv; i++) {
		free((char *)f->kv[i].key);
		free((char *)f->kv[i].value);
	}
	free(f->kv);
	free((char *)f->o.cmdline);
	free((char *)f->o.path);
	free(f);
	return r;
}
