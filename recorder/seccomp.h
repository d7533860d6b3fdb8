/*
 * recorder/seccomp.h: `vcr record --backend seccomp`: record a VMM with no
 * code of ours inside it (static executables, raw ioctl syscalls: what
 * libvcr-preload.so cannot see). A seccomp filter in the VMM sends its KVM
 * ioctls (_IOC_TYPE KVMIO) to vcr's tracer thread as ptrace stops; the
 * tracer maps each vCPU's kvm_run itself (pidfd_getfd + mmap: the pages the
 * VMM sees) and, with the calling thread stopped, writes the same records
 * into the same rings (recorder/preload/shm.h, producer.h) the preload
 * library writes, which recorder/foreign.c drains unchanged.
 *
 * Lifecycle:
 *   fork
 *   child:  vcr_seccomp_child_setup (the filter, then SIGSTOP), exec COMMAND
 *   parent: vcr_seccomp_start (the tracer thread: seizes the child, runs
 *           until every traced thread is gone); drain the rings with
 *           vcr_foreign_drain while vcr_seccomp_done says no;
 *           vcr_seccomp_free (joins; the trace's END uses the status
 *           vcr_seccomp_done returned).
 *
 * Threading: the tracer thread is the only ptrace user and the only
 * waiter for the traced processes: the caller must not wait for COMMAND
 * itself (wait would take the tracer's stops). It is the only producer of
 * the rings, so it takes no lock; the caller's thread consumes.
 * Forked children of COMMAND are detached (they keep the filter: a KVM
 * ioctl of theirs fails with ENOSYS); COMMAND's threads and exec are
 * followed.
 * Errors: 0 or -errno, with err filled.
 */
#ifndef VCR_RECORDER_SECCOMP_H
#define VCR_RECORDER_SECCOMP_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/util.h"
#include "recorder/foreign.h"

struct vcr_seccomp;

/* In the child between fork and exec: install the filter (setting
 * no_new_privs if the caller lacks CAP_SYS_ADMIN) and stop until the
 * tracer seized us. Async-signal-safe. Returns 0 or -errno. */
int vcr_seccomp_child_setup(void);

/* Trace child `pid` (which runs or will run vcr_seccomp_child_setup) and
 * record into f's shared memory. */
int vcr_seccomp_start(struct vcr_seccomp **out, pid_t pid, struct vcr_foreign *f,
		      struct vcr_err *err);

/* true once COMMAND's main process has been reaped and every traced thread
 * is gone; *wstatus: its wait status. */
bool vcr_seccomp_done(struct vcr_seccomp *s, int *wstatus);

/* Why tracing failed (a ptrace error), or NULL. */
const char *vcr_seccomp_error(struct vcr_seccomp *s);

/* Join the tracer (call after done) and free. Accepts NULL. */
void vcr_seccomp_free(struct vcr_seccomp *s);

#endif
