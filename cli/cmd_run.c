/*
 * cli/cmd_run.c: `vcr run [options] GUEST`: run a guest on vcr's own VMM,
 * optionally recording every exit (--record, --ring) or serving gdb (--gdb).
 *
 * Order: parse and check the input (no KVM needed: bad input exits 2), build
 * the VM, open the recorder and install its observer, load the guest (so the
 * loader's writes are recorded), block SIGINT/SIGTERM/SIGHUP and serve them
 * from a thread (vmm_stop), run, close the trace, exit with the run's status
 * (docs/vmm.md, "Exit status").
 */
#include "cli/cli.h"
#include "cli/common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/disasm.h"
#include "core/util.h"
#include "formats/sha256.h"
#include "formats/trace.h"
#include "recorder/oracle.h"
#include "recorder/recorder.h"
#include "vmm/vmm.h"

/* --gdb: the live gdb target is the gdbstub's (gdbstub/gdbstub.h,
 * gdbstub_live_start / gdbstub_live_stop, announced by GDBSTUB_LIVE_API);
 * a build without it refuses --gdb. */
#if __has_include("gdbstub/gdbstub.h")
#include "gdbstub/gdbstub.h"
#endif

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: vcr run [options] GUEST\n"
		"       vcr run [options] --kernel BZIMAGE [--initrd FILE] [--cmdline STR]\n"
		"\n"
		"Run GUEST on vcr's VMM until it stops: it writes the exit port (vcr exits\n"
		"with the byte it wrote), every vCPU halts (0), it resets the machine (0),\n"
		"or it crashes (triple fault 3, KVM internal error 4, failed entry 5, other\n"
		"6, kernel panic 7). Bad input exits 2, a vcr failure 1, SIGINT/SIGTERM\n"
		"128+signal. COM1 goes to stdout, stdin to COM1.\n"
		"\n"
		"A Linux bzImage (given with --kernel, or as GUEST: found by its setup\n"
		"header) boots on the pc machine through its 64-bit entry, with 512M of RAM\n"
		"unless -m, and the command line\n"
		"  \"" VMM_LINUX_CMDLINE_DEFAULT "\"\n"
		"followed by --cmdline STR. reboot ends the run (reset), so do halt -f\n"
		"(every vCPU halted) and a kernel panic (7; with --record the console's\n"
		"last lines go into the trace). A guest that runs 30 s without any exit\n"
		"gets a \"no progress seen\" line on stderr (it may spin). Kernel\n"
		"debugging with gdb: docs/gdb.md; the machine: docs/vmm.md.\n"
		"\n"
		"options:\n"
		"  -m, --memory SIZE    guest RAM (default 64M, Linux 512M; suffixes K M G;\n"
		"                       max 3G)\n"
		"  -c, --cpus N         vCPUs (default 1, max %d); each starts at the entry\n"
		"                       (Linux: the kernel starts them, MP table)\n"
		"      --kernel FILE    a Linux bzImage (same as GUEST with --format linux)\n"
		"      --initrd FILE    Linux: the initrd / initramfs\n"
		"      --cmdline STR    Linux: appended to the default command line;\n"
		"                       multiboot: the command line (the kernel sees\n"
		"                       \"GUEST STR\", as from QEMU)\n"
		"      --no-default-cmdline  Linux: --cmdline alone, without the default\n"
		"      --machine M      auto|bare|pc (default auto: pc for Linux, else bare):\n"
		"                       pc adds the in-kernel irqchip and PIT, UART IRQ 4,\n"
		"                       i8042, CMOS and the VMware backdoor port (0x5658)\n"
		"      --format F       auto|flat|elf|multiboot|linux (default auto: Linux\n"
		"                       setup header, multiboot header, ELF, else flat)\n"
		"      --mode M         real|prot32|long64: start mode of a flat image\n"
		"                       (default real), or override an ELF's\n"
		"      --load ADDR      flat: load address (default 0x7c00 real, else 0x100000)\n"
		"      --entry ADDR     start here instead of the image's entry\n"
		"      --record FILE    record every exit of every vCPU into trace FILE\n"
		"      --ring SIZE      with --record: keep only about the newest SIZE of trace\n"
		"      --embed-image    with --record: the guest image file in the trace too\n"
		"                       (default: named and hashed; replay does not need\n"
		"                       it, the trace holds the memory the loader wrote)\n"
		"      --mem-checkpoints off|final|periodic\n"
		"                       with --record: guest memory in the trace (default\n"
		"                       periodic where KVM logs dirty pages, else final;\n"
		"                       final with --gdb): dirty pages every interval and at\n"
		"                       the end, or only at the end\n"
		"      --mem-interval I periodic checkpoints every I: a time (500ms, 2s) and/or\n"
		"                       a count of one vCPU's exits (100000x), comma-separated\n"
		"                       (default 500ms)\n"
		"      --mem-budget B   how much checkpoints may cost: page bytes per second\n"
		"                       (SIZE) and/or the share of the run's time their work\n"
		"                       takes (N%%: pre-copy, pause, encoding), comma-separated;\n"
		"                       the next checkpoint waits longer (default 32MiB,5%%;\n"
		"                       0: none)\n"
		"      --gdb ADDR       serve gdb on ADDR (host:port or :port), waiting for it\n"
		"                       before the first instruction\n"
		"      --no-stdin       do not connect stdin to COM1\n"
		"      --module FILE    multiboot: load FILE as the kernel's one module\n"
		"                       (QEMU's -initrd for multiboot kernels)\n"
		"      --isa-debug-exit port 0xf4 as QEMU's isa-debug-exit: a 1/2/4-byte\n"
		"                       write of v exits with (v << 1) | 1\n"
		"      --cpuid SPEC     edit KVM's CPUID as QEMU's -cpu flags do:\n"
		"                       MODEL[,+FLAG|-FLAG|FLAG=on|off|vendor=ID]...\n"
		"                       (MODEL is not emulated: host, max or a name);\n"
		"                       hv-passthrough offers KVM's Hyper-V emulation\n"
		"                       (the SynIC on; where KVM has it: not on PVM)\n"
		"  -v, --verbose        say how the run ended; debug logs (repeat)\n"
		"  -h, --help           this text\n",
		VMM_MAX_VCPUS);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

/* The vcr command line, for the trace header. */
static char *join_args(int argc, char **argv)
{
	size_t len = 8;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *s = malloc(len);
	if (!s)
		return NULL;
	strcpy(s, "vcr");
	for (int i = 0; i < argc; i++) {
		strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* ---- signals: a thread turns SIGINT/SIGTERM/SIGHUP into vmm_stop -------- */

struct sig_thread {
	pthread_t thread;
	struct vmm *vm;
	sigset_t set;
	volatile int done;	/* set before the wake-up signal at the end */
};

static void *sig_main(void *arg)
{
	struct sig_thread *st = arg;

	for (;;) {
		int sig;
		if (sigwait(&st->set, &sig))
			continue;
		if (st->done)
			return NULL;
		char msg[64];
		snprintf(msg, sizeof(msg), "stopped by %s", sigabbrev_np(sig) ?
			 sigabbrev_np(sig) : "a signal");
		vmm_stop(st->vm, VCR_END_SIGNAL, sig, msg);
	}
}

static void recorder_failed(void *arg, int err, const char *msg)
{
	char buf[320];

	snprintf(buf, sizeof(buf), "recording failed: %s (%s)", msg, strerror(-err));
	vmm_stop(arg, VCR_END_ERROR, err, buf);
}

struct run_opts {
	struct vmm_config cfg;
	const char *record;
	uint64_t ring;
	const char *gdb;
	const char *oracle;	/* hidden --oracle-log FILE (recorder/oracle.h) */
	bool no_stdin;
	bool embed_image;	/* --embed-image */
	int ckpt_mode;		/* enum ckpt_mode */
	uint64_t ckpt_ns, ckpt_exits, ckpt_budget;
	uint32_t ckpt_share;
};

enum ckpt_mode { CKPT_DEFAULT = 0, CKPT_OFF, CKPT_FINAL, CKPT_PERIODIC };

/* "32MiB", "5%", both comma-separated, or "0" (no budget at all). */
static int parse_budget(const char *s, uint64_t *bytes, uint32_t *share)
{
	char item[64];
	*bytes = 0;
	*share = 0;
	if (!strcmp(s, "0"))
		return 0;
	while (*s) {
		size_t n = strcspn(s, ",");
		if (!n || n >= sizeof(item))
			return -EINVAL;
		memcpy(item, s, n);
		item[n] = 0;
		if (item[n - 1] == '%') {
			char *end;
			errno = 0;
			unsigned long v = strtoul(item, &end, 10);
			if (errno || end == item || *end != '%' || v < 1 || v > 99 || *share)
				return -EINVAL;
			*share = (uint32_t)v;
		} else if (cli_parse_size(item, bytes) || !*bytes) {
			return -EINVAL;
		}
		s += n;
		if (*s == ',' && *++s == 0)
			return -EINVAL;
	}
	return 0;
}

/* "500ms", "2s", "100000x", or both comma-separated. */
static int parse_interval(const char *s, uint64_t *ns, uint64_t *exits)
{
	*ns = *exits = 0;
	while (*s) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 10);
		if (errno || end == s || *s == '-')
			return -EINVAL;
		size_t ul = strcspn(end, ",");
		if (ul == 1 && *end == 'x')
			*exits = v;
		else if (ul == 2 && !strncmp(end, "ms", 2))
			*ns = v * 1000000ull;
		else if (ul == 2 && !strncmp(end, "us", 2))
			*ns = v * 1000ull;
		else if (ul == 1 && *end == 's')
			*ns = v * 1000000000ull;
		else
			return -EINVAL;
		s = end + ul;
		if (*s == ',')
			s++;
	}
	return *ns || *exits ? 0 : -EINVAL;
}

static int run_parse(struct run_opts *o, int argc, char **argv)
{
	enum { O_FORMAT = 256, O_MODE, O_LOAD, O_ENTRY, O_CMDLINE, O_RECORD, O_RING,
	       O_GDB, O_NOSTDIN, O_KERNEL, O_INITRD, O_MACHINE, O_NODEFCMD,
	       /* QEMU-compatible devices and boot (docs/vmm.md, "Guests built for
	        * QEMU") */
	       O_MODULE, O_ISA_DEBUG_EXIT, O_CPUID, O_ORACLE, O_MEM_CKPT, O_MEM_INTERVAL, O_MEM_BUDGET,
	       O_EMBED_IMAGE };
	static const struct option longopts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "mode", required_argument, NULL, O_MODE },
		{ "load", required_argument, NULL, O_LOAD },
		{ "entry", required_argument, NULL, O_ENTRY },
		{ "cmdline", required_argument, NULL, O_CMDLINE },
		{ "record", required_argument, NULL, O_RECORD },
		{ "ring", required_argument, NULL, O_RING },
		{ "mem-checkpoints", required_argument, NULL, O_MEM_CKPT },
		{ "mem-interval", required_argument, NULL, O_MEM_INTERVAL },
		{ "mem-budget", required_argument, NULL, O_MEM_BUDGET },
		{ "embed-image", no_argument, NULL, O_EMBED_IMAGE },
		{ "gdb", required_argument, NULL, O_GDB },
		{ "no-stdin", no_argument, NULL, O_NOSTDIN },
		{ "module", required_argument, NULL, O_MODULE },
		{ "isa-debug-exit", no_argument, NULL, O_ISA_DEBUG_EXIT },
		{ "cpuid", required_argument, NULL, O_CPUID },
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "machine", required_argument, NULL, O_MACHINE },
		{ "no-default-cmdline", no_argument, NULL, O_NODEFCMD },
		/* not in --help: the tests' oracle, docs/testing.md */
		{ "oracle-log", required_argument, NULL, O_ORACLE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *kernel = NULL;
	uint64_t v;
	int c;

	vmm_config_init(&o->cfg);
	o->ckpt_budget = 32ull << 20;
	o->ckpt_share = 5;
	optind = 1;
	/* '+': stop at the guest path; the guest's own arguments never
	 * become ours. */
	while ((c = getopt_long(argc, argv, "+m:c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (cli_parse_size(optarg, &o->cfg.mem_size)) {
				vcr_log("run: bad memory size '%s'", optarg);
				return -EINVAL;
			}
			o->cfg.mem_size_set = true;
			break;
		case 'c':
			if (parse_u64(optarg, &v) || v < 1 || v > VMM_MAX_VCPUS) {
				vcr_log("run: bad vCPU count '%s' (1..%d)", optarg, VMM_MAX_VCPUS);
				return -EINVAL;
			}
			o->cfg.nvcpus = (uint32_t)v;
			break;
		case O_FORMAT:
			if (!strcmp(optarg, "auto"))
				o->cfg.format = VMM_FORMAT_AUTO;
			else if (!strcmp(optarg, "flat"))
				o->cfg.format = VMM_FORMAT_FLAT;
			else if (!strcmp(optarg, "elf"))
				o->cfg.format = VMM_FORMAT_ELF;
			else if (!strcmp(optarg, "multiboot"))
				o->cfg.format = VMM_FORMAT_MULTIBOOT;
			else if (!strcmp(optarg, "linux"))
				o->cfg.format = VMM_FORMAT_LINUX;
			else {
				vcr_log("run: bad format '%s' (auto|flat|elf|multiboot|linux)",
					optarg);
				return -EINVAL;
			}
			break;
		case O_KERNEL:
			kernel = optarg;
			o->cfg.format = VMM_FORMAT_LINUX;
			break;
		case O_INITRD:
			o->cfg.initrd_path = optarg;
			break;
		case O_NODEFCMD:
			o->cfg.cmdline_replace = true;
			break;
		case O_MACHINE:
			if (!strcmp(optarg, "auto"))
				o->cfg.machine = VMM_MACHINE_AUTO;
			else if (!strcmp(optarg, "bare"))
				o->cfg.machine = VMM_MACHINE_BARE;
			else if (!strcmp(optarg, "pc"))
				o->cfg.machine = VMM_MACHINE_PC;
			else {
				vcr_log("run: bad machine '%s' (auto|bare|pc)", optarg);
				return -EINVAL;
			}
			break;
		case O_MODE:
			if (!strcmp(optarg, "real"))
				o->cfg.mode = VMM_MODE_REAL;
			else if (!strcmp(optarg, "prot32"))
				o->cfg.mode = VMM_MODE_PROT32;
			else if (!strcmp(optarg, "long64"))
				o->cfg.mode = VMM_MODE_LONG64;
			else {
				vcr_log("run: bad mode '%s' (real|prot32|long64)", optarg);
				return -EINVAL;
			}
			break;
		case O_LOAD:
		case O_ENTRY:
			if (parse_u64(optarg, &v)) {
				vcr_log("run: bad address '%s'", optarg);
				return -EINVAL;
			}
			if (c == O_LOAD) {
				o->cfg.load_addr = v;
				o->cfg.load_addr_set = true;
			} else {
				o->cfg.entry = v;
				o->cfg.entry_set = true;
			}
			break;
		case O_CMDLINE:
			o->cfg.cmdline = optarg;
			break;
		case O_RECORD:
			o->record = optarg;
			break;
		case O_ORACLE:
			o->oracle = optarg;
			break;
		case O_RING:
			if (cli_parse_size(optarg, &o->ring) || o->ring == 0) {
				vcr_log("run: bad ring size '%s'", optarg);
				return -EINVAL;
			}
			break;
		case O_MEM_CKPT:
			if (!strcmp(optarg, "off"))
				o->ckpt_mode = CKPT_OFF;
			else if (!strcmp(optarg, "final"))
				o->ckpt_mode = CKPT_FINAL;
			else if (!strcmp(optarg, "periodic"))
				o->ckpt_mode = CKPT_PERIODIC;
			else {
				vcr_log("run: --mem-checkpoints off|final|periodic, not '%s'", optarg);
				return -EINVAL;
			}
			break;
		case O_MEM_INTERVAL:
			if (parse_interval(optarg, &o->ckpt_ns, &o->ckpt_exits)) {
				vcr_log("run: bad --mem-interval '%s' (500ms, 2s, 100000x, or "
					"500ms,100000x)", optarg);
				return -EINVAL;
			}
			break;
		case O_EMBED_IMAGE:
			o->embed_image = true;
			break;
		case O_MEM_BUDGET:
			if (parse_budget(optarg, &o->ckpt_budget, &o->ckpt_share)) {
				vcr_log("run: bad --mem-budget '%s' (32MiB, 5%%, 32MiB,5%% or 0)", optarg);
				return -EINVAL;
			}
			break;
		case O_GDB:
			o->gdb = optarg;
			break;
		case O_NOSTDIN:
			o->no_stdin = true;
			break;
		case O_MODULE:
			if (access(optarg, R_OK)) {
				vcr_log("run: module %s: %s", optarg, strerror(errno));
				return -EINVAL;
			}
			o->cfg.module_path = optarg;
			break;
		case O_ISA_DEBUG_EXIT:
			o->cfg.isa_debug_exit = true;
			break;
		case O_CPUID:
			o->cfg.cpuid = optarg;
			break;
		case 'v':
			vcr_verbose++;
			break;
		case 'h':
			run_usage(stdout);
			return 1;
		default:
			fprintf(stderr, "Try 'vcr run --help'.\n");
			return -EINVAL;
		}
	}
	if (kernel && optind != argc) {
		vcr_log("run: --kernel %s and a guest image %s: give one", kernel, argv[optind]);
		return -EINVAL;
	}
	if (!kernel && optind != argc - 1) {
		vcr_log("run: %s", optind >= argc ? "no guest image given" :
			"one guest image, then nothing (options go before it)");
		fprintf(stderr, "Try 'vcr run --help'.\n");
		return -EINVAL;
	}
	if (!o->record && (o->ckpt_mode || o->ckpt_ns || o->ckpt_exits)) {
		vcr_log("run: --mem-checkpoints and --mem-interval need --record FILE");
		return -EINVAL;
	}
	if (o->embed_image && !o->record) {
		vcr_log("run: --embed-image needs --record FILE");
		return -EINVAL;
	}
	if (o->ring && !o->record) {
		vcr_log("run: --ring needs --record FILE");
		return -EINVAL;
	}
	o->cfg.guest_path = kernel ? kernel : argv[optind];
	o->cfg.uart_in_fd = o->no_stdin ? -1 : 0;
	return 0;
}

/* Dirty logging, before the recorder opens: the trace's header says how
 * KVM's log is read (docs/recorder.md, "Memory checkpoints"). *mode: the
 * checkpoint mode that results. */
static int setup_dirty_log(struct vmm *vm, const struct run_opts *o, int *mode)
{
	struct vcr_err err = { 0 };

	*mode = o->ckpt_mode;
	if (*mode == CKPT_OFF)
		return 0;
	int lr = vmm_dirty_log_enable(vm, &err);
	if (lr) {
		if (*mode == CKPT_PERIODIC) {
			vcr_log("run: --mem-checkpoints periodic: this KVM has no dirty page log (%s)",
				err.msg);
			return -EOPNOTSUPP;
		}
		vcr_log("run: KVM has no dirty page log (%s): memory checkpoint at the end only",
			err.msg);
		*mode = CKPT_FINAL;
	} else {
		vcr_debug("run: dirty page log read with %s", vmm_dirty_log_mode(vm));
	}
	return 0;
}

/* The checkpoint schedule, mode from setup_dirty_log. */
static void setup_checkpoints(struct vmm *vm, struct vcr_recorder *rec, const struct run_opts *o,
			      int mode)
{
	if (mode == CKPT_OFF)
		return;
	if (mode == CKPT_DEFAULT)
		mode = o->gdb ? CKPT_FINAL : CKPT_PERIODIC;
	uint64_t ns = o->ckpt_ns, ex = o->ckpt_exits;
	if (!ns && !ex)
		ns = 500000000ull;
	if (mode == CKPT_FINAL)
		ns = ex = 0;
	vcr_debug("run: memory checkpoints %s (interval %" PRIu64 " ns, %" PRIu64 " exits)",
		  mode == CKPT_FINAL ? "final" : "periodic", ns, ex);
	vmm_set_checkpoints(vm, vcr_recorder_checkpoint, vcr_recorder_checkpoint_pre, rec, ns, ex);
}

static int open_recorder(struct vcr_recorder **rec, struct vmm *vm, const struct run_opts *o,
			 const char *vcr_cmdline, struct vcr_err *err)
{
	const struct vmm_config *cfg = vmm_get_config(vm);
	struct vcr_trace_info info = { 0 };
	struct vcr_recorder_opts ropts = { 0 };
	char entry[32], mem[32], ncpu[16];
	uint32_t n;

	snprintf(entry, sizeof(entry), "%#" PRIx64, vmm_entry(vm));
	snprintf(mem, sizeof(mem), "%" PRIu64, cfg->mem_size);
	snprintf(ncpu, sizeof(ncpu), "%u", cfg->nvcpus);
	const struct vcr_kv kv[] = {
		{ "vmm", "vcr" },
		{ "loader", vmm_format_name(vm) },
		{ "mode", vmm_mode_name(vm) },
		{ "entry", entry },
		{ "mem_size", mem },
		{ "vcpus", ncpu },
		{ "machine", vmm_machine_name(vm) },
		{ "guest_cmdline", vmm_guest_cmdline(vm) },
		/* How KVM's dirty log was read: clear-dirty-log (manual
		 * protection), get-dirty-log, none (no periodic checkpoints). */
		{ "dirty_log", vmm_dirty_log_mode(vm) ? vmm_dirty_log_mode(vm) : "none" },
	};

	info.arch = VCR_ARCH_X86_64;
	info.kvm_api_version = vmm_api_version(vm);
	info.sync_regs_mask = vmm_sync_regs_mask(vm);
	info.nvcpus = vmm_nvcpus(vm);
	info.mem = vmm_mem_regions(vm, &n);
	info.nmem = n;
	info.cpuid = vmm_cpuid(vm, &n);
	info.ncpuid = n;
	/* By reference: replay needs only the trace's memory records (the
	 * loader's writes); the image file is named and hashed, so that a
	 * replay told where it is (--image) checks it. --embed-image carries
	 * the file itself too (a Linux kernel: 8 MB more, hashed, compressed
	 * and checksummed before the guest starts). */
	info.image_mode = o->embed_image ? VCR_IMAGE_EMBEDDED : VCR_IMAGE_REFERENCE;
	/* An absolute path, for a replay started elsewhere. */
	char *abs = realpath(cfg->guest_path, NULL);
	info.image_path = abs ? abs : cfg->guest_path;
	info.image = vmm_image(vm, &info.image_size);
	vcr_sha256(info.image, info.image_size, info.image_sha256);
	info.cmdline = vcr_cmdline;
	info.kv = kv;
	info.nkv = VCR_ARRAY_SIZE(kv);

	ropts.run_size = vmm_run_size(vm);
	ropts.ring_bytes = o->ring;
	ropts.ckpt_budget = o->ckpt_budget;
	ropts.ckpt_share = o->ckpt_share;
	ropts.on_error = recorder_failed;
	ropts.on_error_arg = vm;
	int rc = vcr_recorder_open(rec, o->record, &info, &ropts, err);
	free(abs);
	return rc;
}

/* Guest memory for core/disasm.h: what is outside RAM is not known. */
static int run_read_mem(void *vm, uint64_t gpa, void *buf, size_t len)
{
	int rc = vmm_mem_read(vm, gpa, buf, len);
	return rc == -EFAULT ? -ENOENT : rc;
}

/* After a crash, the instruction at the rip of the vCPU that crashed, from
 * its state at its last exit (the crash's) and guest memory as it is now.
 * After a triple fault on AMD that state is the reset state (the message
 * above says so), whose rip has no memory behind it: unknown. */
static void log_crash_insn(struct vmm *vm, const struct vmm_result *res)
{
	struct vcr_vcpu_state st;
	struct vcr_disasm *d;
	struct vcr_insn in;
	char text[VCR_INSN_TEXT + 100];

	if (res->how != VCR_END_SHUTDOWN && res->how != VCR_END_INTERNAL_ERROR &&
	    res->how != VCR_END_FAIL_ENTRY)
		return;
	if (vmm_vcpu_get_state(vm, res->vcpu, &st) < 0 || vcr_disasm_open(&d) < 0)
		return;
	if (vcr_disasm_at(d, &st, run_read_mem, vm, &in) == 0) {
		vcr_insn_format(&in, text, sizeof(text));
		vcr_log("run: instruction at the crash (vcpu %u, rip=%#llx, %u-bit): %s", res->vcpu,
			(unsigned long long)st.regs.rip, in.mode, text);
	}
	vcr_disasm_close(d);
}

#ifdef GDBSTUB_LIVE_API
/* A gdb stop in the recording (after the exits the vCPUs published: the
 * stop's), for `vcr timeline` and readers: "vcr.gdb.stop vcpu=V signal=S
 * reason=R". */
static void run_gdb_stop_marker(void *ctx, const struct gdbstub_stop *s)
{
	static const char *const names[] = { "stop", "swbreak", "hwbreak", "watch", "awatch" };
	char text[96];
	snprintf(text, sizeof(text), "vcr.gdb.stop vcpu=%u signal=%d reason=%s", s->thread,
		 s->signal, (unsigned)s->reason < VCR_ARRAY_SIZE(names) ? names[s->reason] : "other");
	vcr_recorder_marker(ctx, text);
}
#endif

static int cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	struct vcr_err err = { 0 };
	struct vmm *vm = NULL;
	struct vcr_recorder *rec = NULL;
	struct vcr_oracle *oracle = NULL;
	struct vmm_result res = { 0 };
	struct sig_thread st = { 0 };
	bool sig_started = false;
	char *vcr_cmdline = NULL;
	int status = VMM_STATUS_ERROR, r;

	r = run_parse(&o, argc, argv);
	if (r)
		return r > 0 ? 0 : VMM_STATUS_USAGE;
	if (o.gdb) {
#ifndef GDBSTUB_LIVE_API
		vcr_log("run: --gdb: this vcr has no live gdb target yet");
		return VMM_STATUS_USAGE;
#endif
	}
	/* Input first: a missing file or a bad ELF is the user's, whatever
	 * the machine can do. */
	r = vmm_check(&o.cfg, &err);
	if (r) {
		vcr_log("run: %s", err.msg);
		return VMM_STATUS_USAGE;
	}
	/* Blocked before any thread exists, so that every thread created from
	 * now on (recorder writer, gdb server, vCPUs) inherits the mask and
	 * only sig_main takes them; one that comes early stays pending and
	 * ends the run as soon as it starts. A closed stdout must not kill
	 * the run either. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&st.set);
	sigaddset(&st.set, SIGINT);
	sigaddset(&st.set, SIGTERM);
	sigaddset(&st.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &st.set, NULL);

	r = vmm_create(&vm, &o.cfg, &err);
	if (r) {
		vcr_log("run: %s", err.msg);
		return VMM_STATUS_ERROR;
	}
	vcr_debug("run: %s as %s, %s mode, entry %#" PRIx64 ", %u vCPU(s), %" PRIu64
		  " MiB, machine %s", o.cfg.guest_path, vmm_format_name(vm), vmm_mode_name(vm),
		  vmm_entry(vm), o.cfg.nvcpus, vmm_get_config(vm)->mem_size >> 20,
		  vmm_machine_name(vm));
	if (!strcmp(vmm_format_name(vm), "bzimage"))
		vcr_debug("run: Linux command line: %s", vmm_guest_cmdline(vm));

	if (o.record) {
		struct vmm_observer obs;
		int ckpt_mode;
		vcr_cmdline = join_args(argc, argv);
		if (setup_dirty_log(vm, &o, &ckpt_mode)) {
			snprintf(err.msg, sizeof(err.msg), "no dirty page log for periodic checkpoints");
			status = VMM_STATUS_ERROR;
			goto out;
		}
		r = open_recorder(&rec, vm, &o, vcr_cmdline ? vcr_cmdline : "vcr run", &err);
		if (r) {
			vcr_log("run: --record %s: %s", o.record, err.msg);
			goto out;
		}
		vcr_recorder_observer(rec, &obs);
		vmm_set_observer(vm, &obs);
		setup_checkpoints(vm, rec, &o, ckpt_mode);
	}
	if (o.oracle) {
		struct vmm_observer rec_obs, obs;
		r = vcr_oracle_open(&oracle, o.oracle, vm, &err);
		if (r) {
			vcr_log("run: --oracle-log %s", err.msg);
			goto out;
		}
		if (rec)
			vcr_recorder_observer(rec, &rec_obs);
		vcr_oracle_observer(oracle, rec ? &rec_obs : NULL, &obs);
		vmm_set_observer(vm, &obs);
	}

#ifdef GDBSTUB_LIVE_API
	struct gdbstub_live *gdb = NULL;
	if (o.gdb) {
		r = gdbstub_live_start(&gdb, vm, o.gdb, &err);
		if (r) {
			vcr_log("run: --gdb %s: %s", o.gdb, err.msg);
			goto out;
		}
		if (rec)
			gdbstub_live_on_stop(gdb, run_gdb_stop_marker, rec);
	}
#endif

	r = vmm_load(vm, &err);
	if (r) {
		vcr_log("run: loading %s: %s", o.cfg.guest_path, err.msg);
		goto out;
	}

	st.vm = vm;
	if (pthread_create(&st.thread, NULL, sig_main, &st) == 0)
		sig_started = true;

	r = vmm_run(vm, &res);
	if (r) {
		vcr_log("run: cannot run: %s", strerror(-r));
		goto out;
	}
	status = res.exit_status;
#ifdef GDBSTUB_LIVE_API
	gdbstub_live_exited(gdb, status);	/* gdb: "exited with code N" */
#endif
	if ((res.how != VCR_END_EXIT_PORT && res.how != VCR_END_HLT && res.how != VCR_END_RESET) ||
	    vcr_verbose)
		vcr_log("run: %s (%s, exit status %d; %" PRIu64 " exits, %" PRIu64
			" unknown I/O accesses)", res.msg, vcr_end_how_name(res.how), status,
			res.exits, res.unknown_io);
	log_crash_insn(vm, &res);
out:
#ifdef GDBSTUB_LIVE_API
	gdbstub_live_stop(gdb);
#endif
	if (rec) {
		struct vcr_recorder_summary sum;
		char line[768];
		if (r)	/* the run never started or failed: say so in the trace */
			vcr_recorder_end(rec, VCR_END_ERROR, r, err.msg[0] ? err.msg : "vcr failed");
		int cr = vcr_recorder_close(rec, &sum);
		vcr_recorder_summary_format(&sum, o.record, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
		if (sum.ckpts && vcr_verbose)
			vcr_log("record: memory checkpoints: %" PRIu64 " taken (%" PRIu64
				" skipped), %" PRIu64 " dirty pages, %" PRIu64 " stored; vCPUs "
				"paused %.1f us per checkpoint (max %.1f), %.3f us per dirty page",
				sum.ckpts, sum.ckpt_skipped, sum.ckpt_dirty, sum.ckpt_stored,
				(double)sum.ckpt_copy_ns / 1e3 / (double)sum.ckpts,
				(double)sum.ckpt_copy_max_ns / 1e3,
				sum.ckpt_dirty ? (double)sum.ckpt_copy_ns / 1e3 / (double)sum.ckpt_dirty : 0.0);
		if (sum.ckpt_pre && vcr_verbose)
			vcr_log("record: pre-copies: %" PRIu64 ", %.1f us each (vCPUs running); "
				"%" PRIu64 " of the %" PRIu64 " stored pages came from them",
				sum.ckpt_pre, (double)sum.ckpt_pre_ns / 1e3 / (double)sum.ckpt_pre,
				sum.ckpt_pre_served, sum.ckpt_stored);
		if (cr && status == 0)
			status = VMM_STATUS_ERROR;
	}
	if (oracle && vcr_oracle_close(oracle, &err)) {
		vcr_log("run: --oracle-log %s: %s", o.oracle, err.msg);
		if (status == 0)
			status = VMM_STATUS_ERROR;
	}
	if (sig_started) {
		st.done = 1;
		pthread_kill(st.thread, SIGTERM);
		pthread_join(st.thread, NULL);
	}
	vmm_destroy(vm);
	free(vcr_cmdline);
	return status;
}
VCR_COMMAND("run", 10, cmd_run, "run a guest on vcr's VMM, optionally recording it");
