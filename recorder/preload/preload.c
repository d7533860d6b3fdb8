/*
 * recorder/preload/preload.c: libvcr-preload.so, loaded into a VMM vcr did
 * not write (`vcr record -- COMMAND`) to copy every KVM_RUN exit into the
 * rings of recorder/preload/shm.h, which vcr drains into a trace.
 *
 * It interposes ioctl (KVM_RUN and the few VM/vCPU ioctls the trace needs),
 * close and dup/dup2/dup3 (to keep its fd -> vCPU table right). vCPU fds
 * come from KVM_CREATE_VCPU results, or lazily from their /proc/self/fd
 * name (anon_inode:kvm-vcpu:N) at their first KVM_RUN; each vCPU's kvm_run
 * is mapped by the library itself at that point (one mmap per vCPU, never
 * unmapped, so a VMM that unmaps or closes its own cannot leave a dangling
 * pointer here).
 *
 * Per KVM_RUN, on the vCPU's own thread: before it, a BEFORE record when
 * the VMM answered an IN / MMIO-read exit or set kvm_dirty_regs, and
 * KVM_SYNC_X86_REGS|SREGS|EVENTS ORed into kvm_valid_regs (the VMM's bits
 * kept, kvm_dirty_regs untouched); after it, an EXIT record. No syscall and
 * no lock there unless the ring is full. That path (pre_run_fast) is inlined
 * into ioctl itself, built twice (AVX2 and baseline x86-64) and picked by an
 * ifunc at relocation; everything rarer (a vCPU's first run, other ioctls,
 * a full ring) is out of line. bench/preload_callgrind.sh counts it.
 *
 * KVM_IRQ_LINE(_STATUS): the line and level (taken before the call: the
 * _STATUS variant overwrites irq with the status) into the calling
 * thread's vCPU ring when it is a vCPU thread (pre_tls_vcpu, set at each
 * KVM_RUN), else into the VM ring under the header's lock.
 *
 * Safety: a VM whose KVM_CAP_SYNC_REGS lacks those classes (protected
 * state: SEV-ES/SNP/TDX), or whose first KVM_RUN fails with EINVAL once our
 * bits are set (then retried without them), is left alone for good, with
 * the reason in the shared header. A forked child, a second process
 * (exec'd programs inherit LD_PRELOAD, not the fd) and anything after a
 * failure stay passive: the real call, nothing else.
 *
 * Interposition is process-global by nature, so this file's state is one
 * static struct; it is written at start-up, by KVM_CREATE_VCPU (under the
 * shared header's lock) and by each vCPU's own thread for its own entry.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "recorder/preload/producer.h"

#ifndef __x86_64__
#error "ioctl below relies on the x86-64 SysV calling convention"
#endif

#define PRE_MAX_FD 4096
#define PRE_CLASS_ALL 7u
#define VCR_PRE_PENDING_IN 1u
#define VCR_PRE_PENDING_MMIO 2u
#define PRE_UNION_SMALL 24u	/* io, mmio: recorder/layout.h's REC_UNION_SMALL */

#ifndef KVM_SET_USER_MEMORY_REGION2
/* struct kvm_userspace_memory_region2 is 160 bytes, its first five fields
 * those of struct kvm_userspace_memory_region. */
#define KVM_SET_USER_MEMORY_REGION2 _IOC(_IOC_WRITE, KVMIO, 0x49, 160)
#endif


typedef int (*pre_ioctl_fn)(int, unsigned long, ...);

/* Index + 1 of the vCPU this thread last ran, 0 none. initial-exec: no
 * __tls_get_addr call on the KVM_RUN path (an LD_PRELOAD library gets
 * static TLS). */
static __thread int pre_tls_vcpu __attribute__((tls_model("initial-exec")));

static struct {
	struct vcr_pre_hdr *hdr;
	int active;
	int avx2;
	uint64_t valid_bits;
	pre_ioctl_fn ioctl;
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int16_t fdtab[PRE_MAX_FD];	/* vCPU index + 1; -1: not a vCPU */
	struct vcr_pre_prod v[VCR_PRE_MAX_VCPUS];
	struct vcr_pre_prod vm;		/* the VM ring; producers hold hdr->lock */
} pre;

static void pre_resolve(void)
{
	if (pre.ioctl)
		return;
	pre.close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	pre.dup = (int (*)(int))dlsym(RTLD_NEXT, "dup");
	pre.dup2 = (int (*)(int, int))dlsym(RTLD_NEXT, "dup2");
	pre.dup3 = (int (*)(int, int, int))dlsym(RTLD_NEXT, "dup3");
	__atomic_store_n(&pre.ioctl, (pre_ioctl_fn)dlsym(RTLD_NEXT, "ioctl"), __ATOMIC_RELEASE);
}

#ifdef VCR_PRE_BENCH
/* bench/preload_bench.c: KVM_RUN replays captured kvm_run pages instead. */
int vcr_pre_bench_kvm_run(int fd);
void vcr_pre_bench_init(void);
#endif

static int pre_real_ioctl(int fd, unsigned long req, void *arg)
{
#ifdef VCR_PRE_BENCH
	if (req == KVM_RUN)
		return vcr_pre_bench_kvm_run(fd);
#endif
	if (__builtin_expect(!pre.ioctl, 0))
		pre_resolve();
	if (!pre.ioctl)
		return (int)syscall(SYS_ioctl, fd, req, arg);
	return pre.ioctl(fd, req, arg);
}

static void pre_lock(void)
{
	while (__atomic_exchange_n(&pre.hdr->lock, 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
}

static void pre_unlock(void)
{
	__atomic_store_n(&pre.hdr->lock, 0, __ATOMIC_RELEASE);
}

static void pre_disable(uint32_t status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void pre_disable(uint32_t status, const char *fmt, ...)
{
	va_list ap;

	pre.active = 0;
	pre_lock();
	if (!pre.hdr->status) {
		va_start(ap, fmt);
		vsnprintf(pre.hdr->msg, sizeof(pre.hdr->msg), fmt, ap);
		va_end(ap);
	}
	__atomic_or_fetch(&pre.hdr->status, status, __ATOMIC_RELEASE);
	pre_unlock();
}

__attribute__((target("avx2"))) static void
pre_exit_avx2(struct vcr_pre_prod *v, const struct kvm_run *run, int intr)
{
	vcr_pre_exit_body(v, run, intr);
}

static void pre_exit_sse2(struct vcr_pre_prod *v, const struct kvm_run *run, int intr)
{
	vcr_pre_exit_body(v, run, intr);
}

static void pre_exit(struct vcr_pre_prod *v, const struct kvm_run *run, int intr)
{
	if (pre.avx2)
		pre_exit_avx2(v, run, intr);
	else
		pre_exit_sse2(v, run, intr);
}

/* ---- vCPUs ---------------------------------------------------------------- */

/* The vCPU with KVM id `id`, claimed if new; fd becomes its fd. Returns its
 * index + 1, or -1. */
static int pre_claim(int fd, uint32_t id)
{
	struct vcr_pre_hdr *h = pre.hdr;
	int fresh = 0;

	pre_lock();
	int idx = vcr_pre_claim_slot(h, id, &fresh);
	if (fresh) {
		struct vcr_pre_prod *v = &pre.v[idx];
		vcr_pre_prod_init(v, h, (uint32_t)idx);
		v->first = 1;
		vcr_pre_claim_publish(h, (uint32_t)idx);
	}
	pre_unlock();
	if (idx < 0) {
		pre_disable(VCR_PRE_S_TOO_MANY, "more than %u vCPUs: not recorded",
			    VCR_PRE_MAX_VCPUS);
		return -1;
	}
	if (fd >= 0 && fd < PRE_MAX_FD)
		pre.fdtab[fd] = (int16_t)(idx + 1);
	return idx + 1;
}

/* An fd we know nothing of was given KVM_RUN: a vCPU fd we did not see
 * created (dup'ed by fcntl, inherited, ...)? Its /proc name says. */
static struct vcr_pre_prod *pre_lookup(int fd)
{
	char path[64], name[64];
	unsigned id;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, name, sizeof(name) - 1);
	if (n <= 0) {
		pre.fdtab[fd] = -1;
		return NULL;
	}
	name[n] = 0;
	if (sscanf(name, "anon_inode:kvm-vcpu:%u", &id) != 1) {
		pre.fdtab[fd] = -1;
		return NULL;
	}
	int s = pre_claim(fd, id);
	return s > 0 ? &pre.v[s - 1] : NULL;
}

/* First KVM_RUN of vCPU v on fd: map its kvm_run, note the thread. */
static int pre_map(struct vcr_pre_prod *v, int fd)
{
	uint32_t size = pre.hdr->run_size ? pre.hdr->run_size : 2 * 4096;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		pre_disable(VCR_PRE_S_FAILED, "cannot map the kvm_run of vCPU %u: %s",
			    v->sh->id, strerror(errno));
		return -1;
	}
	v->run_size = size;
	v->sh->tid = (int32_t)syscall(SYS_gettid);
	__atomic_store_n(&v->run, (struct kvm_run *)p, __ATOMIC_RELEASE);
	return 0;
}

/* KVM_RUN when the fast path (pre_run_fast) does not apply: the library is
 * not active, the fd is not a known vCPU's, or this is the vCPU's first run
 * (map its kvm_run; the protected-state rule). */
static __attribute__((noinline)) int pre_run_slow(int fd, void *arg)
{
	struct vcr_pre_prod *v = NULL;
	int s = 0;

	if (pre.active && (unsigned)fd < PRE_MAX_FD) {
		s = pre.fdtab[fd];
		if (s > 0)
			v = &pre.v[s - 1];
		else if (s == 0 && (v = pre_lookup(fd)))
			s = pre.fdtab[fd];
	}
	if (!v || !pre.active)
		return pre_real_ioctl(fd, KVM_RUN, arg);
	if (!v->run) {
		int e = errno;
		if (pre_map(v, fd))
			return pre_real_ioctl(fd, KVM_RUN, arg);
		errno = e;
	}

	pre_tls_vcpu = s;
	struct kvm_run *run = v->run;
	uint64_t old = vcr_pre_enter(v, run, pre.valid_bits);

	int r = pre_real_ioctl(fd, KVM_RUN, arg);
	if (r == 0 || errno == EINTR) {
		int e = errno;
		v->first = 0;
		pre_exit(v, run, r != 0);
		errno = e;
		return r;
	}
	if (v->first && errno == EINVAL && (old | pre.valid_bits) != old) {
		/* Protected state (or a KVM that refuses sync regs): undo our
		 * bits, leave this VM alone, let the VMM have its run. */
		run->kvm_valid_regs = old;
		pre_disable(VCR_PRE_S_PROTECTED, "the first KVM_RUN of vCPU %u failed "
			    "with EINVAL once vcr asked for synced registers "
			    "(a protected-state VM?): not recorded", v->sh->id);
		return pre_real_ioctl(fd, KVM_RUN, arg);
	}
	return r;
}

/* The real KVM_RUN once the library is active (pre_init resolved ioctl). */
static inline __attribute__((always_inline)) int pre_kvm_run(int fd, void *arg)
{
#ifdef VCR_PRE_BENCH
	(void)arg;
	return vcr_pre_bench_kvm_run(fd);
#else
	return pre.ioctl(fd, KVM_RUN, arg);
#endif
}

/* Every KVM_RUN but a vCPU's first: the fd's vCPU, the BEFORE record and
 * our sync bits, the call, the EXIT record. Inlined into each of ioctl's
 * two builds (AVX2 and baseline) so that the EXIT copy is not a call. */
static inline __attribute__((always_inline)) int pre_run_fast(int fd, void *arg)
{
	int s = (unsigned)fd < PRE_MAX_FD ? pre.fdtab[fd] : 0;

	if (__builtin_expect(s <= 0 || !pre.active, 0))
		return pre_run_slow(fd, arg);
	struct vcr_pre_prod *v = &pre.v[s - 1];
	if (__builtin_expect(v->first, 0))
		return pre_run_slow(fd, arg);
	pre_tls_vcpu = s;
	struct kvm_run *run = v->run;
	vcr_pre_enter(v, run, pre.valid_bits);
	int r = pre_kvm_run(fd, arg);
	if (__builtin_expect(r != 0, 0)) {
		if (errno != EINTR)
			return r;
		int e = errno;
		vcr_pre_exit_body(v, run, 1);
		errno = e;
		return r;
	}
	vcr_pre_exit_body(v, run, 0);
	return r;
}

/* ---- the other ioctls ------------------------------------------------------ */

static void pre_set_state(int fd, uint32_t cls, const void *arg, size_t n, size_t off)
{
	int s = (unsigned)fd < PRE_MAX_FD ? pre.fdtab[fd] : 0;
	struct kvm_sync_regs sync;

	if (s <= 0)
		return;
	memset(&sync, 0, sizeof(sync));
	memcpy((uint8_t *)&sync + off, arg, n);
	vcr_pre_before_rec(&pre.v[s - 1], cls, &sync);
}

static void pre_memslot(const struct kvm_userspace_memory_region *m)
{
	pre_lock();
	vcr_pre_table_memslot(pre.hdr, m);
	pre_unlock();
}

static void pre_cpuid(int fd, const struct kvm_cpuid2 *c)
{
	if ((unsigned)fd >= PRE_MAX_FD || pre.fdtab[fd] != 1)
		return;		/* the first vCPU's CPUID stands for all */
	pre_lock();
	vcr_pre_table_cpuid(pre.hdr, c->entries, c->nent);
	pre_unlock();
}

static void pre_after(int fd, unsigned long req, void *arg, int r)
{
	if (r < 0)
		return;
	switch (req) {
	case KVM_GET_API_VERSION:
		pre.hdr->api_version = (uint32_t)r;
		break;
	case KVM_GET_VCPU_MMAP_SIZE:
		pre.hdr->run_size = (uint32_t)r;
		break;
	case KVM_CREATE_VCPU: {
		if (!pre.hdr->nvcpus) {
			int m = pre_real_ioctl(fd, KVM_CHECK_EXTENSION,
					       (void *)(uintptr_t)KVM_CAP_SYNC_REGS);
			pre.hdr->sync_mask = m > 0 ? (uint32_t)m : 0;
			if (m < 0 || ((uint32_t)m & pre.valid_bits) != pre.valid_bits) {
				pre_disable(VCR_PRE_S_PROTECTED, "KVM_CAP_SYNC_REGS of this VM "
					    "is %#x, not the %#x vcr needs (a protected-state "
					    "VM: SEV-ES, SNP, TDX?): not recorded",
					    m < 0 ? 0u : (unsigned)m, (unsigned)pre.valid_bits);
				return;
			}
		}
		pre_claim(r, (uint32_t)(uintptr_t)arg);
		break;
	}
	case KVM_SET_USER_MEMORY_REGION:
	case KVM_SET_USER_MEMORY_REGION2:
		pre_memslot(arg);
		break;
	case KVM_SET_CPUID2:
		pre_cpuid(fd, arg);
		break;
	case KVM_SET_REGS:
		pre_set_state(fd, KVM_SYNC_X86_REGS, arg, sizeof(struct kvm_regs),
			      offsetof(struct kvm_sync_regs, regs));
		break;
	case KVM_SET_SREGS:
		pre_set_state(fd, KVM_SYNC_X86_SREGS, arg, sizeof(struct kvm_sregs),
			      offsetof(struct kvm_sync_regs, sregs));
		break;
	case KVM_SET_SREGS2:
		/* Same fields as kvm_sregs up to apic_base; kvm_sregs'
		 * interrupt_bitmap has no counterpart (stays 0). */
		pre_set_state(fd, KVM_SYNC_X86_SREGS, arg,
			      offsetof(struct kvm_sregs, interrupt_bitmap),
			      offsetof(struct kvm_sync_regs, sregs));
		break;
	case KVM_SET_VCPU_EVENTS:
		pre_set_state(fd, KVM_SYNC_X86_EVENTS, arg, sizeof(struct kvm_vcpu_events),
			      offsetof(struct kvm_sync_regs, events));
		break;
	case KVM_INTERRUPT:
	case KVM_NMI: {
		int s = (unsigned)fd < PRE_MAX_FD ? pre.fdtab[fd] : 0;
		if (s > 0)
			vcr_pre_inject_rec(&pre.v[s - 1], req == KVM_NMI ? 2 : 1,
				   req == KVM_NMI ? 0 : ((const struct kvm_interrupt *)arg)->irq);
		break;
	}
	default:
		break;
	}
}

/* KVM_IRQ_LINE / KVM_IRQ_LINE_STATUS: the call, then the record. */
static int pre_irq_line(int fd, unsigned long req, struct kvm_irq_level *arg)
{
	uint32_t gsi = arg ? arg->irq : 0, level = arg ? arg->level : 0;
	int r = pre_real_ioctl(fd, req, arg);
	if (!pre.active || r < 0)
		return r;
	int e = errno;
	int s = pre_tls_vcpu;
	struct vcr_pre_prod *v = s > 0 ? &pre.v[s - 1] : &pre.vm;
	if (s <= 0)
		pre_lock();
	vcr_pre_irq_line_rec(v, gsi, level);
	if (s <= 0)
		pre_unlock();
	errno = e;
	return r;
}

/* ---- interposed functions ---------------------------------------------- */

/* Every ioctl but KVM_RUN and the interrupt lines. */
static __attribute__((noinline)) int pre_ioctl_other(int fd, unsigned long req, void *arg)
{
	int r = pre_real_ioctl(fd, req, arg);
	if (pre.active && r >= 0 && _IOC_TYPE(req) == KVMIO) {
		int e = errno;
		pre_after(fd, req, arg, r);
		errno = e;
	}
	return r;
}

static inline __attribute__((always_inline)) int
pre_ioctl_body(int fd, unsigned long req, void *arg)
{
	if (__builtin_expect(req == KVM_RUN, 1))
		return pre_run_fast(fd, arg);
	if (req == KVM_IRQ_LINE || req == KVM_IRQ_LINE_STATUS)
		return pre_irq_line(fd, req, arg);
	return pre_ioctl_other(fd, req, arg);
}

__attribute__((target("avx2"))) static int pre_ioctl_avx2(int fd, unsigned long req, void *arg)
{
	return pre_ioctl_body(fd, req, arg);
}

static int pre_ioctl_sse2(int fd, unsigned long req, void *arg)
{
	return pre_ioctl_body(fd, req, arg);
}

typedef int (*pre_ioctl3_fn)(int, unsigned long, void *);

static pre_ioctl3_fn pre_ioctl_resolve(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") ? pre_ioctl_avx2 : pre_ioctl_sse2;
}

/* glibc's ioctl is variadic (int, unsigned long, ...); the x86-64 SysV ABI
 * passes its third argument in rdx either way, so this definition takes it
 * as a named one and needs no va_list. An ifunc picks the build once, at
 * relocation: no dispatch per call. (No <sys/ioctl.h> here: its prototype
 * would conflict with this one.) */
int ioctl(int fd, unsigned long req, void *arg) __attribute__((ifunc("pre_ioctl_resolve")));

int close(int fd)
{
	pre_resolve();
	if ((unsigned)fd < PRE_MAX_FD)
		pre.fdtab[fd] = 0;
	return pre.close(fd);
}

static int pre_dup_done(int old, int r)
{
	if (r >= 0 && (unsigned)r < PRE_MAX_FD)
		pre.fdtab[r] = (unsigned)old < PRE_MAX_FD && pre.fdtab[old] > 0 ?
			pre.fdtab[old] : 0;
	return r;
}

int dup(int fd)
{
	pre_resolve();
	return pre_dup_done(fd, pre.dup(fd));
}

int dup2(int fd, int fd2)
{
	pre_resolve();
	return pre_dup_done(fd, pre.dup2(fd, fd2));
}

int dup3(int fd, int fd2, int flags)
{
	pre_resolve();
	return pre_dup_done(fd, pre.dup3(fd, fd2, flags));
}

static void pre_atfork_child(void)
{
	pre.active = 0;
}

__attribute__((constructor)) static void pre_init(void)
{
	pre_resolve();
	const char *s = getenv(VCR_PRE_ENV_FD);
	if (!s)
		return;
	int fd = atoi(s);
	unsetenv(VCR_PRE_ENV_FD);
	/* pre_kvm_run calls pre.ioctl unchecked once active. */
	if (!pre.ioctl || !pre.close) {
		syscall(SYS_close, fd);
		return;
	}

	struct vcr_pre_hdr *h = mmap(NULL, vcr_pre_hdr_bytes(), PROT_READ, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		goto out;
	uint64_t rb = h->ring_bytes;
	int ok = h->magic == VCR_PRE_MAGIC && h->version == VCR_PRE_VERSION &&
		 rb >= 4096 && !(rb & (rb - 1)) && h->ring_off == vcr_pre_hdr_bytes();
	munmap(h, vcr_pre_hdr_bytes());
	if (!ok)
		goto out;
	h = mmap(NULL, vcr_pre_total_bytes(rb), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		goto out;
	int32_t zero = 0;
	if (!__atomic_compare_exchange_n(&h->owner_pid, &zero, (int32_t)getpid(), 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		munmap(h, vcr_pre_total_bytes(rb));
		goto out;
	}
	pre.hdr = h;
	vcr_pre_prod_init(&pre.vm, h, VCR_PRE_MAX_VCPUS);
	pre.valid_bits = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS |
			 (h->flags & VCR_PRE_F_NO_EVENTS ? 0 : KVM_SYNC_X86_EVENTS);
	pre.avx2 = __builtin_cpu_supports("avx2");
	pthread_atfork(NULL, NULL, pre_atfork_child);
	pre.active = 1;
out:
	pre.close(fd);
}

#ifdef VCR_PRE_BENCH
void vcr_pre_bench_init(void)
{
	pre_init();
}
#endif
