/*
 * cli/cmd_record.c: `vcr record [options] -- COMMAND [ARGS...]`: run a VMM
 * vcr did not write and record its vCPUs' exits (recorder/foreign.h,
 * docs/recorder.md "Recording other VMMs"), with libvcr-preload.so inside
 * it (--backend preload, the default) or with a seccomp filter and vCPU
 * pages mapped from outside (--backend seccomp, recorder/seccomp.h).
 *
 * Order: parse, pick the backend, find the library, create the shared
 * memory, fork and exec COMMAND (with LD_PRELOAD and VCR_PRELOAD_FD; or
 * with the filter, the tracer thread seizing it), drain the rings until
 * COMMAND is gone (vcr ignores SIGINT/SIGQUIT, which the terminal sends
 * COMMAND too, and passes SIGTERM/SIGHUP on), then END with how COMMAND
 * ended and exit with COMMAND's status (128 + signal if it was killed).
 */
#include "cli/cli.h"
#include "cli/common.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/end.h"
#include "core/util.h"
#include "recorder/foreign.h"
#include "recorder/seccomp.h"

#define RECORD_DEFAULT_OUT "vcr-record.vcr"
#define RECORD_LIB "libvcr-preload.so"

static void record_usage(FILE *f)
{
	fprintf(f,
		"usage: vcr record [options] -- COMMAND [ARGS...]\n"
		"\n"
		"Run COMMAND, a VMM that uses /dev/kvm (QEMU, Firecracker, ...), and record\n"
		"every exit of its vCPUs: registers, special registers and events at each\n"
		"exit, exit payloads, the answers the VMM gave\n"
		"(INPUT), the state it set (SET_STATE), interrupts it injected (INJECT),\n"
		"its memory slots and CPUID. Exits with COMMAND's status (128+N if signal N\n"
		"killed it); 2 for bad usage, 1 if vcr failed.\n"
		"\n"
		"options:\n"
		"  -o, --output FILE    the trace (default " RECORD_DEFAULT_OUT ")\n"
		"      --backend B      preload (default): libvcr-preload.so inside COMMAND,\n"
		"                       for VMMs that call glibc's ioctl; seccomp: a seccomp\n"
		"                       filter stops each KVM ioctl for vcr (ptrace), for\n"
		"                       static VMMs and raw syscalls, two stops per KVM_RUN;\n"
		"                       auto: seccomp if COMMAND is a static executable\n"
		"      --ring SIZE      keep only about the newest SIZE of trace\n"
		"      --buffer SIZE    shared ring per vCPU (default 2M, power of two)\n"
		"      --no-events      do not sync KVM_SYNC_X86_EVENTS at each exit\n"
		"  -v, --verbose        say more\n"
		"  -h, --help           this text\n"
		"\n"
		"Environment: VCR_PRELOAD_LIB, the library to use (default: next to vcr,\n"
		"else ../lib/vcr/ from it).\n");
}

/* The preload library: $VCR_PRELOAD_LIB, next to vcr, or ../lib/vcr/. */
static int record_find_lib(char *buf, size_t len)
{
	const char *env = getenv("VCR_PRELOAD_LIB");
	char exe[PATH_MAX];

	if (env && *env) {
		if (!realpath(env, buf) || access(buf, R_OK))
			return -ENOENT;
		return 0;
	}
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	if ((size_t)snprintf(buf, len, "%s/" RECORD_LIB, exe) < len && !access(buf, R_OK))
		return 0;
	if ((size_t)snprintf(buf, len, "%s/../lib/vcr/" RECORD_LIB, exe) < len &&
	    !access(buf, R_OK))
		return 0;
	return -ENOENT;
}

/* COMMAND's executable as execvp would find it (for the trace header). */
static void record_which(const char *cmd, char *buf, size_t len)
{
	const char *path = getenv("PATH");

	snprintf(buf, len, "%s", cmd);
	if (strchr(cmd, '/') || !path)
		return;
	while (*path) {
		const char *colon = strchrnul(path, ':');
		char cand[PATH_MAX];
		if ((size_t)snprintf(cand, sizeof(cand), "%.*s/%s", (int)(colon - path), path,
				     cmd) < sizeof(cand) && !access(cand, X_OK)) {
			snprintf(buf, len, "%s", cand);
			return;
		}
		path = *colon ? colon + 1 : colon;
	}
}

static char *record_join(const char *first, int argc, char **argv)
{
	size_t len = strlen(first) + 1;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *s = malloc(len);
	if (!s)
		return NULL;
	strcpy(s, first);
	for (int i = 0; i < argc; i++) {
		if (*s)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

static volatile sig_atomic_t record_child;

static void record_forward(int sig)
{
	if (record_child > 0)
		kill(record_child, sig);
}

enum record_backend { RECORD_PRELOAD, RECORD_SECCOMP, RECORD_AUTO };

struct record_opts {
	const char *out;
	uint64_t ring, buffer;
	bool no_events;
	enum record_backend backend;
};

static int record_parse(struct record_opts *o, int argc, char **argv)
{
	enum { O_RING = 256, O_BUFFER, O_NOEVENTS, O_BACKEND };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "ring", required_argument, NULL, O_RING },
		{ "buffer", required_argument, NULL, O_BUFFER },
		{ "no-events", no_argument, NULL, O_NOEVENTS },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	o->out = RECORD_DEFAULT_OUT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->out = optarg;
			break;
		case O_RING:
			if (cli_parse_size(optarg, &o->ring) || !o->ring) {
				vcr_log("record: bad ring size '%s'", optarg);
				return -EINVAL;
			}
			break;
		case O_BUFFER:
			if (cli_parse_size(optarg, &o->buffer) || o->buffer < (64u << 10) ||
			    o->buffer > (1ull << 30) || (o->buffer & (o->buffer - 1))) {
				vcr_log("record: bad buffer size '%s' (a power of two, 64K..1G)",
					optarg);
				return -EINVAL;
			}
			break;
		case O_NOEVENTS:
			o->no_events = true;
			break;
		case O_BACKEND:
			if (!strcmp(optarg, "preload")) {
				o->backend = RECORD_PRELOAD;
			} else if (!strcmp(optarg, "seccomp")) {
				o->backend = RECORD_SECCOMP;
			} else if (!strcmp(optarg, "auto")) {
				o->backend = RECORD_AUTO;
			} else {
				vcr_log("record: unknown backend '%s' (preload, seccomp, auto)",
					optarg);
				return -EINVAL;
			}
			break;
		case 'v':
			vcr_verbose++;
			break;
		case 'h':
			record_usage(stdout);
			return 1;
		default:
			fprintf(stderr, "Try 'vcr record --help'.\n");
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		vcr_log("record: no COMMAND given (vcr record [options] -- COMMAND ...)");
		fprintf(stderr, "Try 'vcr record --help'.\n");
		return -EINVAL;
	}
	return 0;
}

/* Is path an ELF executable without PT_INTERP (static: no preload)?
 * -errno if it cannot be read as one. */
static int record_is_static(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = -ENOEXEC;

	if (fd < 0)
		return -errno;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph) || eh.e_phnum > 512)
		goto out;
	r = 1;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
		    sizeof(ph)) {
			r = -ENOEXEC;
			break;
		}
		if (ph.p_type == PT_INTERP) {
			r = 0;
			break;
		}
	}
out:
	close(fd);
	return r;
}

/* Child of the seccomp backend: the filter, stop for the tracer, exec. */
static void record_exec_seccomp(int fd, char **cmd)
{
	close(fd);	/* the tracer writes the rings: COMMAND needs no memfd */
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	int r = vcr_seccomp_child_setup();
	if (r) {
		fprintf(stderr, "vcr record: seccomp filter: %s\n", strerror(-r));
		_exit(126);
	}
	execvp(cmd[0], cmd);
	fprintf(stderr, "vcr record: %s: %s\n", cmd[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* Child: LD_PRELOAD (ours first), VCR_PRELOAD_FD, default signals, exec. */
static void record_exec(const char *lib, int fd, char **cmd)
{
	const char *old = getenv("LD_PRELOAD");
	char *pre = malloc(strlen(lib) + (old ? strlen(old) : 0) + 2);
	char num[16];

	if (!pre)
		_exit(127);
	strcpy(pre, lib);
	if (old && *old) {
		strcat(pre, ":");
		strcat(pre, old);
	}
	snprintf(num, sizeof(num), "%d", fd);
	if (setenv("LD_PRELOAD", pre, 1) || setenv("VCR_PRELOAD_FD", num, 1))
		_exit(127);
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	execvp(cmd[0], cmd);
	fprintf(stderr, "vcr record: %s: %s\n", cmd[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

static int cmd_record(int argc, char **argv)
{
	struct record_opts o = { 0 };
	struct vcr_err err = { 0 };
	struct vcr_foreign *f = NULL;
	char lib[PATH_MAX], exe[PATH_MAX];
	int r = record_parse(&o, argc, argv);

	if (r)
		return r > 0 ? 0 : 2;
	char **cmd = argv + optind;
	int ncmd = argc - optind;
	record_which(cmd[0], exe, sizeof(exe));
	if (o.backend == RECORD_AUTO) {
		int st = record_is_static(exe);
		o.backend = st > 0 ? RECORD_SECCOMP : RECORD_PRELOAD;
		vcr_log("record: %s is %s: backend %s", exe,
			st > 0 ? "a static executable" : st == 0 ? "dynamically linked" :
			"not an ELF executable vcr can read",
			o.backend == RECORD_SECCOMP ? "seccomp" : "preload");
	}
	bool sec = o.backend == RECORD_SECCOMP;
	if (!sec && record_find_lib(lib, sizeof(lib))) {
		vcr_log("record: cannot find " RECORD_LIB " (set VCR_PRELOAD_LIB, or use "
			"--backend seccomp)");
		return 1;
	}
	char *vcr_cmdline = record_join("vcr", argc, argv);
	char *vmm_argv = record_join("", ncmd, cmd);
	const struct vcr_kv kv[] = {
		{ "vmm", "foreign" },
		{ "vmm_exe", exe },
		{ "vmm_argv", vmm_argv ? vmm_argv : cmd[0] },
		{ "sync_events", o.no_events ? "no" : "yes" },
		{ "backend", sec ? "seccomp" : "preload" },
		{ "preload", lib },	/* last: left out with seccomp */
	};
	struct vcr_foreign_opts fo = {
		.path = o.out, .buffer_bytes = o.buffer, .ring_bytes = o.ring,
		.no_events = o.no_events, .cmdline = vcr_cmdline ? vcr_cmdline : "vcr record",
		.kv = kv, .nkv = VCR_ARRAY_SIZE(kv) - (sec ? 1 : 0),
	};
	r = vcr_foreign_create(&f, &fo, &err);
	free(vcr_cmdline);
	free(vmm_argv);
	if (r) {
		vcr_log("record: %s", err.msg);
		return 1;
	}
	vcr_debug("record: %s with %s into %s", exe, sec ? "seccomp" : lib, o.out);

	struct sigaction sa = { 0 };
	sa.sa_handler = record_forward;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	pid_t pid = fork();
	if (pid < 0) {
		vcr_log("record: fork: %s", strerror(errno));
		vcr_foreign_finish(f, VCR_END_ERROR, -errno, "fork failed", NULL, NULL);
		return 1;
	}
	if (pid == 0) {
		if (sec)
			record_exec_seccomp(vcr_foreign_fd(f), cmd);
		record_exec(lib, vcr_foreign_fd(f), cmd);
	}
	record_child = pid;

	struct vcr_seccomp *tracer = NULL;
	if (sec) {
		r = vcr_seccomp_start(&tracer, pid, f, &err);
		if (r) {
			vcr_log("record: %s", err.msg);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			vcr_foreign_finish(f, VCR_END_ERROR, r, "no tracer", NULL, NULL);
			return 1;
		}
	}

	int wst = 0, status = 1;
	bool told = false, failed = false;
	for (;;) {
		ssize_t n = failed ? 0 : vcr_foreign_drain(f, &err);
		if (n < 0) {
			vcr_log("record: %s: %s (COMMAND keeps running, unrecorded)", o.out,
				err.msg);
			failed = true;
		}
		const char *why = vcr_foreign_refused(f);
		if (why && !told) {
			vcr_log("record: %s", why);
			told = true;
		}
		if (n > 0)
			continue;
		if (tracer) {	/* it waits for COMMAND: we must not */
			if (vcr_seccomp_done(tracer, &wst))
				break;
			usleep(1000);
			continue;
		}
		pid_t w = waitpid(pid, &wst, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			vcr_log("record: waitpid: %s", strerror(errno));
			break;
		}
		usleep(1000);
	}
	record_child = 0;
	if (tracer) {
		const char *why = vcr_seccomp_error(tracer);
		if (why)
			vcr_log("record: tracer: %s", why);
		vcr_seccomp_free(tracer);
	}

	uint32_t how = VCR_END_ERROR;
	int32_t code = 0;
	char msg[128];
	snprintf(msg, sizeof(msg), "%s: lost track of it", cmd[0]);
	if (WIFEXITED(wst)) {
		how = VCR_END_VMM_EXIT;
		code = WEXITSTATUS(wst);
		status = code;
		snprintf(msg, sizeof(msg), "%s exited with status %d", cmd[0], code);
	} else if (WIFSIGNALED(wst)) {
		how = VCR_END_SIGNAL;
		code = WTERMSIG(wst);
		status = 128 + code;
		snprintf(msg, sizeof(msg), "%s killed by %s", cmd[0],
			 sigabbrev_np(code) ? sigabbrev_np(code) : "a signal");
	}
	if (failed) {
		vcr_foreign_finish(f, how, code, msg, NULL, NULL);
		return status ? status : 1;
	}
	struct vcr_foreign_summary sum;
	r = vcr_foreign_finish(f, how, code, msg, &sum, &err);
	char line[768];
	vcr_recorder_summary_format(&sum.rec, o.out, line, sizeof(line));
	fprintf(stderr, "%s\n", line);
	if (sum.lib_dropped || sum.bad || sum.late_vcpus)
		vcr_log("record: %" PRIu64 " records lost in full rings, %" PRIu64
			" malformed, %" PRIu64 " of vCPUs created after the trace began",
			sum.lib_dropped, sum.bad, sum.late_vcpus);
	if (r) {
		vcr_log("record: %s: %s", o.out, err.msg[0] ? err.msg : strerror(-r));
		if (!status)
			status = 1;
	}
	vcr_debug("record: %s", msg);
	return status;
}
VCR_COMMAND("record", 15, cmd_record, "run another VMM (QEMU, ...) and record its vCPUs");
