/*
 * recorder/seccomp.c: the seccomp + ptrace backend of `vcr record`
 * (recorder/seccomp.h).
 *
 * Per KVM ioctl the VMM makes, one seccomp stop (at syscall entry); for the
 * ioctls the trace needs, PTRACE_SYSCALL to a second stop at syscall exit.
 * KVM_RUN does at entry what preload.c does before the real call and at
 * exit what it does after (producer.h: vcr_pre_enter, vcr_pre_exit_body),
 * on this process's own mapping of the vCPU's kvm_run. The VMM's fds are
 * not followed through close/dup (the filter would have to stop every
 * close): a vCPU fd is checked with kcmp(KCMP_FILE) against our copy of
 * the vCPU's file at each KVM_RUN, and looked up by its /proc name when it
 * does not match.
 */
#include "recorder/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>

#include "recorder/preload/producer.h"

#define SC_MAX_FD 4096
#define SC_MAX_THREADS 1024

#ifndef KVM_SET_USER_MEMORY_REGION2
#define KVM_SET_USER_MEMORY_REGION2 _IOC(_IOC_WRITE, KVMIO, 0x49, 160)
#endif

enum sc_op { SC_NONE, SC_RUN, SC_IRQ, SC_AFTER };

struct sc_thread {
	pid_t tid;			/* 0: free */
	int vcpu;			/* index + 1 of the vCPU it last ran, 0 none */
	enum sc_op op;			/* what its syscall-exit stop finishes */
	int fd, op_vcpu;
	unsigned long req;
	uint64_t arg;
	uint64_t old_valid;		/* kvm_valid_regs before our bits */
	uint32_t gsi, level;
};

struct vcr_seccomp {
	pthread_t th;
	bool started;
	pid_t pid;
	int pidfd;
	struct vcr_pre_hdr *hdr;
	uint64_t valid_bits;
	bool active;
	bool kcmp_ok;
	bool sync_seen;			/* the VMM asked KVM_CAP_SYNC_REGS */
	uint32_t sync_mask;		/* and was told this */
	int done;			/* atomic */
	int wstatus;
	char error[160];
	int16_t fdtab[SC_MAX_FD];	/* vCPU index + 1 */
	int vfd[VCR_PRE_MAX_VCPUS];	/* our copy of each vCPU's file */
	struct vcr_pre_prod v[VCR_PRE_MAX_VCPUS];
	struct vcr_pre_prod vm;
	struct kvm_cpuid_entry2 cpuid[VCR_PRE_MAX_CPUID];	/* scratch */
	struct sc_thread t[SC_MAX_THREADS];
};

/* ---- the child ---------------------------------------------------------- */

int vcr_seccomp_child_setup(void)
{
	/* ioctl with _IOC_TYPE(request) == KVMIO: to the tracer; the rest,
	 * and anything not x86-64, runs as if we were not here. */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff00),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KVMIO << 8, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
		if (errno != EACCES)
			return -errno;
		/* Without CAP_SYS_ADMIN a filter needs no_new_privs. */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			return -errno;
	}
	/* Until the tracer seized us, a KVM ioctl would fail (ENOSYS). */
	if (kill(getpid(), SIGSTOP))
		return -errno;
	return 0;
}

/* ---- helpers --------------------------------------------------------------- */

static void sc_disable(struct vcr_seccomp *s, uint32_t status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sc_disable(struct vcr_seccomp *s, uint32_t status, const char *fmt, ...)
{
	va_list ap;

	s->active = false;
	if (!s->hdr->status) {
		va_start(ap, fmt);
		vsnprintf(s->hdr->msg, sizeof(s->hdr->msg), fmt, ap);
		va_end(ap);
	}
	__atomic_or_fetch(&s->hdr->status, status, __ATOMIC_RELEASE);
}

static int sc_read(pid_t tid, uint64_t addr, void *buf, size_t n)
{
	struct iovec l = { buf, n };
	struct iovec r = { (void *)(uintptr_t)addr, n };

	return process_vm_readv(tid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -EFAULT;
}

/* Our copy of the VMM's fd (pidfd_getfd), or -1. */
static int sc_getfd(struct vcr_seccomp *s, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, s->pidfd, fd, 0);
}

/* Does the VMM's fd still refer to the file `mine` is our copy of? */
static bool sc_same_file(struct vcr_seccomp *s, int fd, int mine)
{
	if (mine < 0)
		return false;
	if (!s->kcmp_ok)
		return true;	/* no kcmp here: trust the table */
	long r = syscall(SYS_kcmp, s->pid, getpid(), KCMP_FILE, fd, mine);
	if (r < 0 && errno != EBADF) {
		/* no kcmp (ENOSYS: CONFIG_KCMP off) or not allowed: trust
		 * the table from now on (a VMM that moves its vCPU fds is then
		 * followed only by KVM_CREATE_VCPU and /proc names) */
		s->kcmp_ok = false;
		return true;
	}
	return r == 0;
}

/* vCPU with KVM id `id` now on the VMM's fd: its index, or -1. */
static int sc_claim(struct vcr_seccomp *s, int fd, uint32_t id)
{
	int fresh = 0;
	int idx = vcr_pre_claim_slot(s->hdr, id, &fresh);

	if (idx < 0) {
		sc_disable(s, VCR_PRE_S_TOO_MANY, "more than %u vCPUs: not recorded",
			   VCR_PRE_MAX_VCPUS);
		return -1;
	}
	if (fresh) {
		vcr_pre_prod_init(&s->v[idx], s->hdr, (uint32_t)idx);
		s->v[idx].first = 1;
		vcr_pre_claim_publish(s->hdr, (uint32_t)idx);
	}
	if (!sc_same_file(s, fd, s->vfd[idx])) {
		int mine = sc_getfd(s, fd);
		if (mine < 0) {
			sc_disable(s, VCR_PRE_S_FAILED, "cannot take the fd of vCPU %u "
				   "(pidfd_getfd): %s", id, strerror(errno));
			return -1;
		}
		if (s->vfd[idx] >= 0)
			close(s->vfd[idx]);
		s->vfd[idx] = mine;
		if (s->v[idx].run) {	/* another file: map it afresh */
			munmap(s->v[idx].run, s->v[idx].run_size);
			s->v[idx].run = NULL;
		}
	}
	if (fd >= 0 && fd < SC_MAX_FD)
		s->fdtab[fd] = (int16_t)(idx + 1);
	return idx;
}

/* The vCPU the VMM's fd is, or -1 (not a vCPU fd). */
static int sc_vcpu_of(struct vcr_seccomp *s, int fd)
{
	char path[64], name[64];
	unsigned id;

	if (fd < 0 || fd >= SC_MAX_FD)
		return -1;
	int i = s->fdtab[fd];
	if (i > 0 && sc_same_file(s, fd, s->vfd[i - 1]))
		return i - 1;
	s->fdtab[fd] = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", s->pid, fd);
	ssize_t n = readlink(path, name, sizeof(name) - 1);
	if (n <= 0)
		return -1;
	name[n] = 0;
	if (sscanf(name, "anon_inode:kvm-vcpu:%u", &id) != 1)
		return -1;
	return sc_claim(s, fd, id);
}

static int sc_map(struct vcr_seccomp *s, int idx)
{
	struct vcr_pre_prod *v = &s->v[idx];
	uint32_t size = s->hdr->run_size;

	if (!size) {
		int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		int r = kvm >= 0 ? ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0) : -1;
		if (kvm >= 0)
			close(kvm);
		size = r > 0 ? (uint32_t)r : 2 * 4096;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->vfd[idx], 0);
	if (p == MAP_FAILED) {
		sc_disable(s, VCR_PRE_S_FAILED, "cannot map the kvm_run of vCPU %u: %s",
			   v->sh->id, strerror(errno));
		return -1;
	}
	v->run_size = size;
	v->run = p;
	return 0;
}

static struct sc_thread *sc_thread_get(struct vcr_seccomp *s, pid_t tid, bool *fresh)
{
	struct sc_thread *free_one = NULL;

	*fresh = false;
	for (unsigned i = 0; i < SC_MAX_THREADS; i++) {
		if (s->t[i].tid == tid)
			return &s->t[i];
		if (!s->t[i].tid && !free_one)
			free_one = &s->t[i];
	}
	if (!free_one)
		return NULL;
	memset(free_one, 0, sizeof(*free_one));
	free_one->tid = tid;
	*fresh = true;
	return free_one;
}

static void sc_thread_drop(struct vcr_seccomp *s, pid_t tid)
{
	for (unsigned i = 0; i < SC_MAX_THREADS; i++)
		if (s->t[i].tid == tid)
			s->t[i].tid = 0;
}

/* A thread of COMMAND (or of what it exec'd), not a forked child? */
static bool sc_ours(struct vcr_seccomp *s, pid_t tid)
{
	char path[64], buf[512];
	int fd;

	if (tid == s->pid)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	const char *t = strstr(buf, "\nTgid:");
	return t && atoi(t + 6) == s->pid;
}

/* ---- the KVM ioctls ---------------------------------------------------- */

static void sc_set_state(struct vcr_seccomp *s, struct sc_thread *th, uint32_t cls,
			 size_t n, size_t off)
{
	struct kvm_sync_regs sync;
	int idx = sc_vcpu_of(s, th->fd);

	if (idx < 0)
		return;
	memset(&sync, 0, sizeof(sync));
	if (sc_read(th->tid, th->arg, (uint8_t *)&sync + off, n))
		return;
	vcr_pre_before_rec(&s->v[idx], cls, &sync);
}

/* A KVM ioctl other than KVM_RUN / KVM_IRQ_LINE returned rv (>= 0):
 * preload.c's pre_after, reading the argument from the VMM. */
static void sc_after(struct vcr_seccomp *s, struct sc_thread *th, long rv)
{
	struct vcr_pre_hdr *h = s->hdr;

	switch (th->req) {
	case KVM_GET_API_VERSION:
		h->api_version = (uint32_t)rv;
		break;
	case KVM_GET_VCPU_MMAP_SIZE:
		h->run_size = (uint32_t)rv;
		break;
	case KVM_CHECK_EXTENSION:
		if (th->arg == KVM_CAP_SYNC_REGS) {
			s->sync_seen = true;
			s->sync_mask = (uint32_t)rv;
		}
		break;
	case KVM_CREATE_VCPU:
		if (!h->nvcpus) {
			/* KVM serves VM ioctls only to the VM's own process (EIO
			 * here): the VMM's own answer for its VM if it asked,
			 * else /dev/kvm's; the first KVM_RUN's EINVAL catches
			 * the rest. */
			int m = (int)s->sync_mask;
			if (!s->sync_seen) {
				int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
				m = kvm >= 0 ? ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) : -1;
				if (kvm >= 0)
					close(kvm);
			}
			h->sync_mask = m > 0 ? (uint32_t)m : 0;
			if (m < 0 || ((uint32_t)m & s->valid_bits) != s->valid_bits) {
				sc_disable(s, VCR_PRE_S_PROTECTED, "KVM_CAP_SYNC_REGS of this "
					   "VM is %#x, not the %#x vcr needs (a protected-"
					   "state VM: SEV-ES, SNP, TDX?): not recorded",
					   m < 0 ? 0u : (unsigned)m, (unsigned)s->valid_bits);
				return;
			}
		}
		sc_claim(s, (int)rv, (uint32_t)th->arg);
		break;
	case KVM_SET_USER_MEMORY_REGION:
	case KVM_SET_USER_MEMORY_REGION2: {
		struct kvm_userspace_memory_region m;
		if (!sc_read(th->tid, th->arg, &m, sizeof(m)))
			vcr_pre_table_memslot(h, &m);
		break;
	}
	case KVM_SET_CPUID2: {
		struct kvm_cpuid_entry2 *e = s->cpuid;
		uint32_t nent;
		if (sc_vcpu_of(s, th->fd) != 0 || sc_read(th->tid, th->arg, &nent, sizeof(nent)))
			break;	/* the first vCPU's CPUID stands for all */
		nent = nent < VCR_PRE_MAX_CPUID ? nent : VCR_PRE_MAX_CPUID;
		if (!sc_read(th->tid, th->arg + offsetof(struct kvm_cpuid2, entries), e,
			     nent * sizeof(*e)))
			vcr_pre_table_cpuid(h, e, nent);
		break;
	}
	case KVM_SET_REGS:
		sc_set_state(s, th, KVM_SYNC_X86_REGS, sizeof(struct kvm_regs),
			     offsetof(struct kvm_sync_regs, regs));
		break;
	case KVM_SET_SREGS:
		sc_set_state(s, th, KVM_SYNC_X86_SREGS, sizeof(struct kvm_sregs),
			     offsetof(struct kvm_sync_regs, sregs));
		break;
	case KVM_SET_SREGS2:
		sc_set_state(s, th, KVM_SYNC_X86_SREGS, offsetof(struct kvm_sregs, interrupt_bitmap),
			     offsetof(struct kvm_sync_regs, sregs));
		break;
	case KVM_SET_VCPU_EVENTS:
		sc_set_state(s, th, KVM_SYNC_X86_EVENTS, sizeof(struct kvm_vcpu_events),
			     offsetof(struct kvm_sync_regs, events));
		break;
	case KVM_INTERRUPT:
	case KVM_NMI: {
		int idx = sc_vcpu_of(s, th->fd);
		uint32_t irq = 0;
		if (idx < 0 || (th->req == KVM_INTERRUPT &&
				sc_read(th->tid, th->arg, &irq, sizeof(irq))))
			break;
		vcr_pre_inject_rec(&s->v[idx], th->req == KVM_NMI ? 2 : 1, irq);
		break;
	}
	default:
		break;
	}
}

/* Seccomp stop: a KVM ioctl is about to run. Returns the ptrace request
 * that resumes the thread. */
static int sc_entry(struct vcr_seccomp *s, struct sc_thread *th)
{
	struct user_regs_struct r;

	th->op = SC_NONE;
	if (!s->active || ptrace(PTRACE_GETREGS, th->tid, 0, &r) || r.orig_rax != SYS_ioctl)
		return PTRACE_CONT;
	th->fd = (int)r.rdi;
	th->req = (unsigned int)r.rsi;	/* the kernel's cmd is an unsigned int */
	th->arg = r.rdx;
	switch (th->req) {
	case KVM_RUN: {
		int idx = sc_vcpu_of(s, th->fd);
		if (idx < 0 || !s->active || (!s->v[idx].run && sc_map(s, idx)))
			return PTRACE_CONT;
		struct vcr_pre_prod *v = &s->v[idx];
		if (!v->sh->tid)
			__atomic_store_n(&v->sh->tid, th->tid, __ATOMIC_RELEASE);
		th->vcpu = idx + 1;
		th->op_vcpu = idx;
		th->old_valid = vcr_pre_enter(v, v->run, s->valid_bits);
		th->op = SC_RUN;
		return PTRACE_SYSCALL;
	}
	case KVM_IRQ_LINE:
	case KVM_IRQ_LINE_STATUS: {
		/* before the call: _STATUS overwrites irq with the status */
		struct kvm_irq_level l;
		if (sc_read(th->tid, th->arg, &l, sizeof(l)))
			return PTRACE_CONT;
		th->gsi = l.irq;
		th->level = l.level;
		th->op = SC_IRQ;
		return PTRACE_SYSCALL;
	}
	case KVM_CHECK_EXTENSION:
		if (th->arg != KVM_CAP_SYNC_REGS)
			return PTRACE_CONT;
		/* fall through */
	case KVM_GET_API_VERSION:
	case KVM_GET_VCPU_MMAP_SIZE:
	case KVM_CREATE_VCPU:
	case KVM_SET_USER_MEMORY_REGION:
	case KVM_SET_USER_MEMORY_REGION2:
	case KVM_SET_CPUID2:
	case KVM_SET_REGS:
	case KVM_SET_SREGS:
	case KVM_SET_SREGS2:
	case KVM_SET_VCPU_EVENTS:
	case KVM_INTERRUPT:
	case KVM_NMI:
		th->op = SC_AFTER;
		return PTRACE_SYSCALL;
	default:
		return PTRACE_CONT;
	}
}

/* Syscall-exit stop of an ioctl sc_entry asked to see returning. */
static void sc_exit(struct vcr_seccomp *s, struct sc_thread *th)
{
	struct user_regs_struct r;
	enum sc_op op = th->op;

	th->op = SC_NONE;
	if (op == SC_NONE || ptrace(PTRACE_GETREGS, th->tid, 0, &r))
		return;
	long rv = (long)r.rax;
	if (op == SC_RUN) {
		struct vcr_pre_prod *v = &s->v[th->op_vcpu];
		if (rv == 0 || rv == -EINTR) {
			v->first = 0;
			vcr_pre_exit_body(v, v->run, rv != 0);
		} else if (v->first && rv == -EINVAL &&
			   (th->old_valid | s->valid_bits) != th->old_valid) {
			/* Protected state: undo our bits, leave the VM alone and
			 * run the VMM's KVM_RUN again (back over `syscall`). */
			v->run->kvm_valid_regs = th->old_valid;
			sc_disable(s, VCR_PRE_S_PROTECTED, "the first KVM_RUN of vCPU %u "
				   "failed with EINVAL once vcr asked for synced registers "
				   "(a protected-state VM?): not recorded", v->sh->id);
			r.rax = r.orig_rax;
			r.rip -= 2;
			ptrace(PTRACE_SETREGS, th->tid, 0, &r);
		}
		return;
	}
	if (rv < 0 || !s->active)
		return;
	if (op == SC_IRQ)
		vcr_pre_irq_line_rec(th->vcpu > 0 ? &s->v[th->vcpu - 1] : &s->vm, th->gsi,
				     th->level);
	else
		sc_after(s, th, rv);
}

/* ---- the tracer thread ------------------------------------------------- */

static void sc_fail(struct vcr_seccomp *s, const char *what)
{
	snprintf(s->error, sizeof(s->error), "%s: %s", what, strerror(errno));
}

static void *sc_main(void *arg)
{
	struct vcr_seccomp *s = arg;
	int st = 0;
	bool reaped = false;

	/* The child stops itself once its filter is in. */
	for (;;) {
		pid_t w = waitpid(s->pid, &st, WUNTRACED | __WALL);
		if (w == s->pid)
			break;
		if (w < 0 && errno != EINTR) {
			sc_fail(s, "waitpid");
			goto out;
		}
	}
	if (!WIFSTOPPED(st)) {
		s->wstatus = st;	/* it never got as far as its exec */
		goto out;
	}
	if (ptrace(PTRACE_SEIZE, s->pid, 0,
		   (void *)(uintptr_t)(PTRACE_O_TRACESECCOMP | PTRACE_O_TRACESYSGOOD |
				       PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
				       PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC |
				       PTRACE_O_EXITKILL))) {
		sc_fail(s, "ptrace(PTRACE_SEIZE)");
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &s->wstatus, __WALL);
		goto out;
	}
	s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
	if (s->pidfd < 0) {
		sc_fail(s, "pidfd_open");
		s->active = false;
	}
	kill(s->pid, SIGCONT);

	for (;;) {
		pid_t t = waitpid(-1, &st, __WALL);
		if (t < 0) {
			if (errno == EINTR)
				continue;
			break;		/* ECHILD: every tracee is gone */
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (t == s->pid) {
				s->wstatus = st;
				reaped = true;
			}
			sc_thread_drop(s, t);
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		bool fresh;
		struct sc_thread *th = sc_thread_get(s, t, &fresh);
		int sig = WSTOPSIG(st), ev = (unsigned)st >> 16;
		if (!th) {
			ptrace(PTRACE_CONT, t, 0, 0);	/* too many threads: unrecorded */
			continue;
		}
		if (fresh) {
			if (!sc_ours(s, t)) {	/* a forked child of the VMM */
				ptrace(PTRACE_DETACH, t, 0, 0);
				sc_thread_drop(s, t);
				continue;
			}
			if (ev == PTRACE_EVENT_STOP) {	/* attach / new thread */
				ptrace(PTRACE_CONT, t, 0, 0);
				continue;
			}
		}
		if (ev == PTRACE_EVENT_SECCOMP) {
			ptrace(sc_entry(s, th), t, 0, 0);
		} else if (sig == (SIGTRAP | 0x80)) {
			sc_exit(s, th);
			ptrace(PTRACE_CONT, t, 0, 0);
		} else if (ev == PTRACE_EVENT_STOP) {
			if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
				ptrace(PTRACE_LISTEN, t, 0, 0);	/* group-stop */
			else
				ptrace(PTRACE_CONT, t, 0, 0);
		} else if (ev) {
			ptrace(PTRACE_CONT, t, 0, 0);	/* clone, fork, exec */
		} else {
			ptrace(PTRACE_CONT, t, 0, (void *)(uintptr_t)sig);	/* deliver */
		}
	}
	if (!reaped && !s->error[0])
		snprintf(s->error, sizeof(s->error), "lost track of the traced process");
out:
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

int vcr_seccomp_start(struct vcr_seccomp **out, pid_t pid, struct vcr_foreign *f,
		      struct vcr_err *err)
{
	struct vcr_seccomp *s = calloc(1, sizeof(*s));
	sigset_t all, old;

	*out = NULL;
	if (!s)
		return vcr_err_set(err, -ENOMEM, 0, "out of memory");
	s->pid = pid;
	s->pidfd = -1;
	s->hdr = vcr_foreign_shm(f);
	s->kcmp_ok = true;
	for (unsigned i = 0; i < VCR_PRE_MAX_VCPUS; i++)
		s->vfd[i] = -1;
	s->valid_bits = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS |
			(s->hdr->flags & VCR_PRE_F_NO_EVENTS ? 0 : KVM_SYNC_X86_EVENTS);
	vcr_pre_prod_init(&s->vm, s->hdr, VCR_PRE_MAX_VCPUS);
	s->hdr->owner_pid = pid;
	s->active = true;
	/* Signals go to the CLI's thread, not into the tracer's waits. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&s->th, NULL, sc_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		free(s);
		return vcr_err_set(err, -r, 0, "tracer thread: %s", strerror(r));
	}
	s->started = true;
	*out = s;
	return 0;
}

bool vcr_seccomp_done(struct vcr_seccomp *s, int *wstatus)
{
	if (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE))
		return false;
	*wstatus = s->wstatus;
	return true;
}

const char *vcr_seccomp_error(struct vcr_seccomp *s)
{
	return __atomic_load_n(&s->done, __ATOMIC_ACQUIRE) && s->error[0] ? s->error : NULL;
}

void vcr_seccomp_free(struct vcr_seccomp *s)
{
	if (!s)
		return;
	if (s->started)
		pthread_join(s->th, NULL);
	for (unsigned i = 0; i < VCR_PRE_MAX_VCPUS; i++) {
		if (s->v[i].run)
			munmap(s->v[i].run, s->v[i].run_size);
		if (s->vfd[i] >= 0)
			close(s->vfd[i]);
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	free(s);
}
