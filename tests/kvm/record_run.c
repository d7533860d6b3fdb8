/*
 * record_run: `vcr run --record` end to end on real KVM, each trace read back
 * with the trace reader and compared with what the test guests know about
 * themselves (tests/guests/guest.h):
 *
 *   count64   the number of EXIT records equals the count the guest reports
 *             in rax of its last data-port exit; at the k-th data-port exit
 *             rax, rbx, rcx are the guest's G_COUNT_F(k), G_COUNT_G(k), k;
 *             every MMIO read has its INPUT with the device's value; the
 *             loader's image (MEM_WRITE) and initial state (SET_STATE) come
 *             before the first exit; END says exit-port 0x40; the end-of-run
 *             line is printed
 *   crash64   the last EXIT is KVM_EXIT_SHUTDOWN; its rip is crash_rip
 *             (Intel) or, where SVM resets the vCPU before reporting
 *             (AMD, see NESTED-KVM.md), the exit before it is the data-port
 *             exit at last_exit_rip, right before crash_rip; END shutdown
 *   smp64     two vCPUs: per-vCPU numbering consecutive, both present
 *   spin64    SIGINT: status 130, END signal 2, footer written
 *             SIGKILL (once a chunk is on disk): no footer, still
 *             readable, rax counts up by one per exit in every readable exit
 *             --ring 64K, stopped once the ring has wrapped: the file stays
 *             near 64 KiB, the oldest exits are gone, END present
 *             full disk (a 192 KiB tmpfs): vcr stops with status 1 and says
 *             the disk is full; the trace reads up to its last complete chunk
 *
 * Env: VCR (vcr binary), VCR_BUILD (guests in $VCR_BUILD/tests/guests).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "formats/trace.h"
#include "recorder/recorder.h"
#include "tests/lib/tap.h"

#define G_PORT_DATA 0xf1
#define G_PORT_EXIT 0xf4
#define G_MMIO_BASE 0xd0000000ull
#define G_MMIO_VALUE 0x5643522d4d4d494full
#define G_COUNT_ITERS 100
#define G_COUNT_F(i) ((i) * (i) * 3 + 0x1234)
#define G_COUNT_G(i) (((i) << 8) ^ 0xabcdef)

/* How long a vcr run that should end by itself, or a trace that should
 * grow, may take before the test gives up on it: a hang guard, not a timing
 * assertion (nested KVM under TCG on two loaded cores took 85 s to fill
 * the 192 KiB disk), so generous; tests/run allows a KVM test 600 s. */
#define HANG_MS 300000

static char tmpdir[] = "/tmp/vcr-record-run-XXXXXX";
static const char *vcr;
static char guests[512];

/* Start `vcr run ARGS` with stdout/stderr to files TAG.out / TAG.err. */
static pid_t start_vcr(const char *const *args, const char *tag)
{
	char out[600], err[600];
	const char *argv[32];
	int n = 0;

	argv[n++] = vcr;
	argv[n++] = "run";
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/%s.out", tmpdir, tag);
	snprintf(err, sizeof(err), "%s/%s.err", tmpdir, tag);
	pid_t pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fi = open("/dev/null", O_RDONLY);
		dup2(fo, 1);
		dup2(fe, 2);
		dup2(fi, 0);
		execv(vcr, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Wait for pid; if it still runs after kill_ms (when > 0), send sig.
 * Returns the exit status, or 128+signal if killed. */
static int wait_vcr(pid_t pid, int kill_ms, int sig)
{
	int st;
	const struct timespec tick = { 0, 10 * 1000000 };
	for (int waited = 0;; waited += 10) {
		pid_t w = waitpid(pid, &st, kill_ms > 0 ? WNOHANG : 0);
		if (w < 0)
			tap_bail("waitpid: %s", strerror(errno));
		if (w == pid)
			break;
		if (waited >= kill_ms) {
			kill(pid, sig);
			if (waitpid(pid, &st, 0) < 0)
				tap_bail("waitpid: %s", strerror(errno));
			break;
		}
		nanosleep(&tick, NULL);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* True once the (live) trace at path can be opened and holds an exit
 * (wrapped: once its oldest kept exit is not exit 0). */
static bool trace_has_exits(const char *path, bool wrapped)
{
	struct vcr_reader *rd;
	struct vcr_err err;
	struct vcr_reader_stats rs = { 0 };

	if (vcr_reader_open(&rd, path, &err) == 0) {
		vcr_reader_get_stats(rd, &rs);
		vcr_reader_close(rd);
	}
	return wrapped ? rs.first_seq > 0 : rs.exits > 0;
}

/* Poll until trace_has_exits(path, wrapped), at most HANG_MS: however slow
 * this KVM is, the signal the caller sends next lands on a running
 * recorder. */
static void wait_trace(const char *path, bool wrapped)
{
	const struct timespec half = { 0, 500 * 1000000 };
	for (int ms = 0; ms < HANG_MS && !trace_has_exits(path, wrapped); ms += 500)
		nanosleep(&half, NULL);
}

static int run_vcr(const char *const *args, int kill_ms, int sig, const char *tag)
{
	return wait_vcr(start_vcr(args, tag), kill_ms, sig);
}

static bool file_has(const char *tag, const char *ext, const char *needle, char *line,
		     size_t len)
{
	char p[600], buf[1024];
	snprintf(p, sizeof(p), "%s/%s.%s", tmpdir, tag, ext);
	FILE *f = fopen(p, "r");
	bool found = false;
	if (!f)
		return false;
	while (fgets(buf, sizeof(buf), f)) {
		if (strstr(buf, needle)) {
			found = true;
			if (line)
				snprintf(line, len, "%.*s", (int)(len - 1), buf);
			break;
		}
	}
	fclose(f);
	return found;
}

static void show_err(const char *tag)
{
	char p[600], buf[512];
	snprintf(p, sizeof(p), "%s/%s.err", tmpdir, tag);
	FILE *f = fopen(p, "r");
	if (!f)
		return;
	for (int i = 0; i < 10 && fgets(buf, sizeof(buf), f); i++)
		tap_diag("  stderr: %s", strtok(buf, "\n") ? buf : "");
	fclose(f);
}

static uint64_t nm_addr(const char *elf, const char *sym)
{
	char cmd[700], line[256];
	uint64_t addr = 0;
	snprintf(cmd, sizeof(cmd), "nm %s", elf);
	FILE *p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		char name[128], type;
		unsigned long long a;
		if (sscanf(line, "%llx %c %127s", &a, &type, name) == 3 && !strcmp(name, sym))
			addr = a;
	}
	pclose(p);
	return addr;
}

/* What a trace holds, as far as these tests care. */
#define MAX_KEEP 128
struct tr {
	int open_rc, next_rc;
	struct vcr_reader_stats st;
	uint64_t exits, records, inputs_mmio, inputs_mmio_ok, mem_writes, set_states;
	uint64_t first_mem_seq, first_set_seq;
	uint64_t first_set_rip;
	uint64_t vcpu_exits[4];
	bool vcpu_order_ok;
	uint64_t first_seq;		/* seq of the first readable EXIT */
	/* data-port exits, in order */
	uint64_t ndata;
	struct kvm_regs data_regs[MAX_KEEP];
	uint64_t mmio_exits, mmio_writes_ok;
	/* the last three exits */
	struct vcr_exit last[3];
	struct kvm_regs last_regs[3];
	uint64_t spin_bad;		/* spin64: rax not +1 per exit */
	bool has_end;
	uint32_t end_how;
	int32_t end_status;
	char end_msg[256];
	bool has_duration, duration_before_end;	/* the recorder's MARKER */
	uint64_t duration_ns;
	uint32_t last_type;
};

static void read_trace(const char *path, struct tr *t)
{
	struct vcr_reader *rd;
	struct vcr_err err;
	struct vcr_record r;
	uint64_t prev_rax = 0;
	bool have_prev = false;

	memset(t, 0, sizeof(*t));
	t->first_mem_seq = t->first_set_seq = UINT64_MAX - 1;
	t->vcpu_order_ok = true;
	t->open_rc = vcr_reader_open(&rd, path, &err);
	if (t->open_rc < 0) {
		tap_diag("reader: %s: %s", path, err.msg);
		return;
	}
	bool first_mem = true, first_set = true;
	int n;
	while ((n = vcr_reader_next(rd, &r)) > 0) {
		t->records++;
		switch (r.type) {
		case VCR_REC_EXIT: {
			const struct vcr_exit *e = &r.u.exit.exit;
			const struct kvm_regs *g = &r.u.exit.state.regs;
			if (!t->exits)
				t->first_seq = r.seq;
			t->exits++;
			if (r.vcpu < 4) {
				if (r.vcpu_exit != t->vcpu_exits[r.vcpu] && t->first_seq == 0)
					t->vcpu_order_ok = false;
				t->vcpu_exits[r.vcpu] = r.vcpu_exit + 1;
			}
			memmove(&t->last[0], &t->last[1], 2 * sizeof(t->last[0]));
			memmove(&t->last_regs[0], &t->last_regs[1], 2 * sizeof(t->last_regs[0]));
			t->last[2] = *e;
			t->last_regs[2] = *g;
			if (e->reason == KVM_EXIT_IO && e->u.io.port == G_PORT_DATA &&
			    e->u.io.direction == KVM_EXIT_IO_OUT) {
				if (t->ndata < MAX_KEEP)
					t->data_regs[t->ndata] = *g;
				t->ndata++;
				if (have_prev && g->rax != prev_rax + 1)
					t->spin_bad++;
				prev_rax = g->rax;
				have_prev = true;
			}
			if (e->reason == KVM_EXIT_MMIO) {
				t->mmio_exits++;
				if (e->u.mmio.is_write && e->data_len == 8 &&
				    !memcmp(e->data, &g->rax, 8))
					t->mmio_writes_ok++;
			}
			break;
		}
		case VCR_REC_INPUT:
			if (r.u.input.kind == VCR_INPUT_MMIO_READ) {
				uint64_t v = 0;
				t->inputs_mmio++;
				memcpy(&v, r.u.input.data, r.u.input.len <= 8 ? r.u.input.len : 8);
				if (r.u.input.len == 8 && v == G_MMIO_VALUE)
					t->inputs_mmio_ok++;
			}
			break;
		case VCR_REC_MEM_WRITE:
			t->mem_writes++;
			if (first_mem) {
				t->first_mem_seq = r.seq;
				first_mem = false;
			}
			break;
		case VCR_REC_SET_STATE:
			t->set_states++;
			if (first_set) {
				t->first_set_seq = r.seq;
				t->first_set_rip = r.u.set_state.state.regs.rip;
				first_set = false;
			}
			break;
		case VCR_REC_MARKER: {
			const char *m = r.u.marker.text;
			size_t pl = strlen(VCR_RECORDER_DURATION_MARKER);
			if (m && !strncmp(m, VCR_RECORDER_DURATION_MARKER, pl)) {
				t->has_duration = true;
				t->duration_ns = strtoull(m + pl, NULL, 10);
			}
			break;
		}
		case VCR_REC_END:
			t->duration_before_end = t->last_type == VCR_REC_MARKER && t->has_duration;
			t->has_end = true;
			t->end_how = r.u.end.how;
			t->end_status = r.u.end.status;
			snprintf(t->end_msg, sizeof(t->end_msg), "%s", r.u.end.msg ? r.u.end.msg : "");
			break;
		}
		t->last_type = r.type;
	}
	t->next_rc = n;
	if (n < 0)
		tap_diag("reader stopped: %s", vcr_reader_error(rd)->msg);
	vcr_reader_get_stats(rd, &t->st);
	vcr_reader_close(rd);
}

static void trace_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s.vcr", tmpdir, name);
}

static struct tr t;	/* large: static */

static void test_count64(void)
{
	char path[600], elf[600], line[512] = "";
	trace_path(path, sizeof(path), "count64");
	snprintf(elf, sizeof(elf), "%s/count64.elf", guests);
	const char *args[] = { "--record", path, elf, NULL };
	uint64_t t0 = mono_ns();
	int st = run_vcr(args, 0, 0, "count64");
	uint64_t wall = mono_ns() - t0;
	bool line_ok = file_has("count64", "err", "exits recorded", line, sizeof(line));
	if (!tap_ok(st == 0x40 && line_ok, "count64 --record: status 0x40, end-of-run line"))
		show_err("count64");
	else
		tap_diag("%s", strtok(line, "\n") ? line : "");
	read_trace(path, &t);
	/* The second-to-last exit is `out %eax, $G_PORT_DATA` with eax = the
	 * guest's own count of its exits, those two included. */
	uint64_t guest_count = t.last[1].reason == KVM_EXIT_IO &&
			       t.last[1].u.io.port == G_PORT_DATA ? (uint32_t)t.last_regs[1].rax : 0;
	tap_ok(t.open_rc == 0 && t.next_rc == 0 && t.st.has_footer,
	       "count64: trace reads to the end, footer present");
	tap_is_u64(t.exits, guest_count, "count64: EXIT records == exits the guest counted");
	tap_ok(t.last[2].reason == KVM_EXIT_IO && t.last[2].u.io.port == G_PORT_EXIT &&
	       t.last[2].data_len == 1 && t.last[2].data[0] == 0x40,
	       "count64: last exit is the exit-port write of 0x40");
	uint64_t bad = 0;
	for (uint64_t k = 0; k < G_COUNT_ITERS && k < t.ndata; k++) {
		const struct kvm_regs *g = &t.data_regs[k];
		if (g->rax != G_COUNT_F(k) || g->rbx != G_COUNT_G(k) || g->rcx != k) {
			if (bad++ < 3)
				tap_diag("port exit %" PRIu64 ": rax=%#llx rbx=%#llx rcx=%#llx", k,
					 (unsigned long long)g->rax, (unsigned long long)g->rbx,
					 (unsigned long long)g->rcx);
		}
	}
	tap_ok(t.ndata == G_COUNT_ITERS + 1 && bad == 0,
	       "count64: at the k-th port exit rax, rbx, rcx are the guest's values (k < %d)",
	       G_COUNT_ITERS);
	tap_ok(t.mmio_exits == 2 * G_COUNT_ITERS && t.inputs_mmio == G_COUNT_ITERS &&
	       t.inputs_mmio_ok == G_COUNT_ITERS && t.mmio_writes_ok == G_COUNT_ITERS,
	       "count64: 200 MMIO exits, each read's INPUT holds the device value, writes carry rax");
	uint64_t entry = nm_addr(elf, "_start");
	tap_ok(t.mem_writes > 0 && t.first_mem_seq == UINT64_MAX && t.first_set_seq == UINT64_MAX &&
	       t.first_set_rip == entry && entry != 0,
	       "count64: loader's MEM_WRITE and initial SET_STATE (rip = _start) before exit 0");
	tap_ok(t.has_end && t.end_how == VCR_END_EXIT_PORT && t.end_status == 0x40,
	       "count64: END exit-port 0x40");
	/* A bound, not a speed figure: the run cannot have lasted longer
	 * than the process that made it. */
	tap_ok(t.duration_before_end && t.duration_ns > 0 && t.duration_ns <= wall,
	       "count64: duration MARKER right before END (%llu ns, process %llu ns)",
	       (unsigned long long)t.duration_ns, (unsigned long long)wall);
}

static void test_crash64(void)
{
	char path[600], elf[600];
	trace_path(path, sizeof(path), "crash64");
	snprintf(elf, sizeof(elf), "%s/crash64.elf", guests);
	const char *args[] = { "--record", path, elf, NULL };
	int st = run_vcr(args, 0, 0, "crash64");
	read_trace(path, &t);
	uint64_t crash_rip = nm_addr(elf, "crash_rip");
	uint64_t last_exit_rip = nm_addr(elf, "last_exit_rip");
	const struct vcr_exit *e = &t.last[2];
	bool at_crash = t.last_regs[2].rip == crash_rip;
	bool before = t.last[1].reason == KVM_EXIT_IO && t.last[1].u.io.port == G_PORT_DATA &&
		      t.last_regs[1].rip == last_exit_rip && t.last_regs[1].rax == 0xdead;
	if (!tap_ok(st == 3 && t.next_rc == 0 && e->reason == KVM_EXIT_SHUTDOWN &&
		    (at_crash || before),
		    "crash64: status 3, trace ends with SHUTDOWN at crash_rip %#llx (%s)",
		    (unsigned long long)crash_rip,
		    at_crash ? "rip reported at the fault"
			     : "vCPU reset before the exit; previous exit at last_exit_rip")) {
		tap_diag("status %d, reader %d/%d, %llu exits, last reasons %u %u %u", st,
			 t.open_rc, t.next_rc, (unsigned long long)t.exits, t.last[0].reason,
			 t.last[1].reason, t.last[2].reason);
		show_err("crash64");
	}
	if (!at_crash)
		tap_diag("SHUTDOWN exit rip=%#llx (reset state), previous exit rip=%#llx",
			 (unsigned long long)t.last_regs[2].rip,
			 (unsigned long long)t.last_regs[1].rip);
	tap_ok(t.has_end && t.end_how == VCR_END_SHUTDOWN, "crash64: END shutdown (%s)",
	       t.end_msg);
}

static void test_smp64(void)
{
	char path[600], elf[600];
	trace_path(path, sizeof(path), "smp64");
	snprintf(elf, sizeof(elf), "%s/smp64.elf", guests);
	const char *args[] = { "-c", "2", "--record", path, elf, NULL };
	int st = run_vcr(args, 0, 0, "smp64");
	read_trace(path, &t);
	tap_ok(st == 0x52 && t.next_rc == 0 && t.vcpu_exits[0] > 0 && t.vcpu_exits[1] > 0 &&
	       t.vcpu_exits[0] + t.vcpu_exits[1] == t.exits && t.vcpu_order_ok &&
	       t.st.vcpu_exits[0] == t.vcpu_exits[0] && t.st.vcpu_exits[1] == t.vcpu_exits[1],
	       "smp64 on 2 vCPUs: both recorded (%llu + %llu exits), per-vCPU numbering intact",
	       (unsigned long long)t.vcpu_exits[0], (unsigned long long)t.vcpu_exits[1]);
}

static void test_spin64(void)
{
	char path[600], elf[600], line[512] = "";
	snprintf(elf, sizeof(elf), "%s/spin64.elf", guests);

	trace_path(path, sizeof(path), "sigint");
	const char *a1[] = { "--record", path, elf, NULL };
	uint64_t t0 = mono_ns();
	/* SIGINT once exits are on disk, not after a fixed delay: a
	 * sanitizer build on a loaded nested L1 may not have opened the trace
	 * after 1.5 s. */
	pid_t ip = start_vcr(a1, "sigint");
	wait_trace(path, false);
	int st = wait_vcr(ip, 1, SIGINT);
	uint64_t wall = mono_ns() - t0;
	read_trace(path, &t);
	bool line_ok = file_has("sigint", "err", "exits recorded", line, sizeof(line));
	if (!tap_ok(st == 130 && line_ok && t.has_end && t.end_how == VCR_END_SIGNAL &&
		    t.end_status == SIGINT && t.st.has_footer && t.exits > 0 && t.spin_bad == 0,
		    "SIGINT: status 130, END signal 2, footer, %llu exits", (unsigned long long)t.exits))
		show_err("sigint");
	tap_ok(t.duration_before_end && t.duration_ns > 0 && t.duration_ns <= wall,
	       "SIGINT: duration MARKER right before END (%llu ns, process %llu ns)",
	       (unsigned long long)t.duration_ns, (unsigned long long)wall);

	trace_path(path, sizeof(path), "sigkill");
	const char *a2[] = { "--record", path, elf, NULL };
	/* Kill once some chunk is on disk, however fast this KVM is, and
	 * then at a random point of the writer's work. */
	pid_t kp = start_vcr(a2, "sigkill");
	wait_trace(path, false);
	st = wait_vcr(kp, 1 + (int)(getpid() % 300), SIGKILL);
	read_trace(path, &t);
	tap_ok(st == 128 + SIGKILL && t.open_rc == 0 && !t.st.has_footer && !t.has_end &&
	       t.exits > 0 && t.spin_bad == 0,
	       "SIGKILL: no footer, trace still readable, %llu exits in order",
	       (unsigned long long)t.exits);

	trace_path(path, sizeof(path), "ring");
	const char *a3[] = { "--record", path, "--ring", "64K", elf, NULL };
	/* Stop once the ring has wrapped (the live file, read by scanning,
	 * starts after exit 0), however fast this KVM is. */
	pid_t pid = start_vcr(a3, "ring");
	wait_trace(path, true);
	st = wait_vcr(pid, 1, SIGINT);
	read_trace(path, &t);
	struct stat sb;
	stat(path, &sb);
	if (!tap_ok(st == 130 && t.next_rc == 0 && t.has_end && t.exits > 0 && t.spin_bad == 0 &&
		    t.first_seq > 0 && (uint64_t)sb.st_size <= (64 << 10) + (64 << 10),
		    "--ring 64K: file %lld bytes, exits %llu.. kept (oldest dropped), END present",
		    (long long)sb.st_size, (unsigned long long)t.first_seq))
		show_err("ring");
}

static void test_disk_full(void)
{
	char dir[600], path[700], elf[600], line[512] = "";
	snprintf(dir, sizeof(dir), "%s/full", tmpdir);
	snprintf(path, sizeof(path), "%s/full.vcr", dir);
	snprintf(elf, sizeof(elf), "%s/spin64.elf", guests);
	mkdir(dir, 0755);
	if (mount("vcr-full", dir, "tmpfs", 0, "size=192k") < 0) {
		tap_ok(1, "disk full # SKIP cannot mount a small tmpfs: %s", strerror(errno));
		tap_ok(1, "disk full trace # SKIP no tmpfs");
		return;
	}
	const char *args[] = { "--record", path, elf, NULL };
	int st = run_vcr(args, HANG_MS, SIGKILL, "full");	/* must stop by itself */
	bool says = file_has("full", "err", "disk full", line, sizeof(line));
	if (!tap_ok(st == 1 && says, "full disk: vcr stops by itself, status 1, says disk full"))
		show_err("full");
	else
		tap_diag("%s", strtok(line, "\n") ? line : "");
	read_trace(path, &t);
	tap_ok(t.open_rc == 0 && t.exits > 0 && t.spin_bad == 0,
	       "full disk: trace readable up to its last complete chunk (%llu exits)",
	       (unsigned long long)t.exits);
	umount(dir);
}

int main(void)
{
	vcr = getenv("VCR");
	const char *build = getenv("VCR_BUILD");
	if (!vcr || !build) {
		static char v[512];
		build = build ? build : "build";
		snprintf(v, sizeof(v), "%s/vcr", build);
		vcr = vcr ? vcr : v;
	}
	snprintf(guests, sizeof(guests), "%s/tests/guests", build);
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		if (getenv("VCR_ALLOW_SKIP_KVM"))
			tap_skip_all("no /dev/kvm");
		tap_bail("no /dev/kvm");
	}
	if (!mkdtemp(tmpdir))
		tap_bail("mkdtemp: %s", strerror(errno));
	tap_plan(18);
	test_count64();
	test_crash64();
	test_smp64();
	test_spin64();
	test_disk_full();
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (tap_exit_status() == 0 || !getenv("VCR_KEEP"))
		(void)!system(cmd);
	return tap_exit_status();
}
