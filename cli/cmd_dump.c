/* cli/cmd_dump.c: `vcr dump FILE`: every record of a trace as text or JSON
 * Lines. Register names and formats come from core/regs.h, exit reasons and
 * payloads from core/state.h; the JSON forms of exits and registers are
 * shared with `vcr diff` (core/json.h) and documented in docs/tools.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/insn.h"
#include "cli/progress.h"
#include "core/json.h"
#include "core/regs.h"
#include "formats/trace.h"

#define DUMP_WRAP 100		/* text: wrap register lists at this column */
#define DUMP_MEM_SHOWN 16	/* bytes of memory writes shown */

struct dump {
	FILE *f;
	struct vcr_json j;	/* on f, with json */
	bool json, full, insn;
	struct cli_insn ins;	/* with insn */
	const char *out;	/* -o FILE, NULL: stdout */
	uint32_t vcpu;		/* UINT32_MAX: all */
	uint64_t from, to;	/* global exit numbers, inclusive */
	uint32_t nvcpus;
	struct vcr_vcpu_state *prev;	/* per vCPU: state at its previous exit */
	struct vcr_vcpu_state zero;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vcr dump [OPTIONS] FILE.vcr\n"
		"\n"
		"Print the records of a trace: one block per exit (exit number, vCPU and\n"
		"its exit index, reason with payload, rip, then the registers that changed\n"
		"since that vCPU's previous exit), and the records that served it\n"
		"(inputs, state set by the VMM, injections, interrupt line changes, memory\n"
		"writes, markers, notes such as the guest console's last lines, end).\n"
		"\n"
		"  --from N     start at exit N (global exit number)\n"
		"  --to N       stop after exit N\n"
		"  --vcpu V     only vCPU V\n"
		"  --full       every register at every exit\n"
		"  --insn       the instruction at each exit's rip, decoded in the vCPU's\n"
		"               mode from the memory the trace holds at that exit\n"
		"               (\"unknown\" where it does not hold the bytes)\n"
		"  --json       JSON Lines: one object per record, registers by name\n"
		"  -o, --output FILE  write to FILE instead of stdout (with a progress\n"
		"               line on stderr when it is a terminal)\n"
		"  -q, --quiet  no progress line\n"
		"\n"
		"Exit status: 0, 1 if the trace is damaged (what is readable is printed),\n"
		"2 if it cannot be read.\n");
}

/* ------------------------------------------------------------- registers */

/* Registers of the classes in `mask` that differ from `prev` (all of them
 * with d->full). Text: "name=value" wrapped; JSON: "regs":{...}. */
static void print_regs(struct dump *d, const struct vcr_vcpu_state *st,
		       const struct vcr_vcpu_state *prev, unsigned mask, const char *indent)
{
	char val[40];
	bool first = true;
	int col = 0;

	if (d->json)
		vcr_json_obj(&d->j, "regs");
	for (size_t i = 0; i < vcr_nregs; i++) {
		const struct vcr_reg *r = &vcr_regs[i];
		if (r->fmt == VCR_REG_NONE || !(r->cls & mask))
			continue;
		if (!d->full && !vcr_reg_differs(st, prev, r))
			continue;
		if (d->json) {
			vcr_json_reg(&d->j, r->name, st, r);
		} else {
			vcr_reg_format(st, r, val, sizeof(val));
			int w = (int)(strlen(r->name) + strlen(val) + 3);
			if (first || col + w > DUMP_WRAP) {
				col = fprintf(d->f, "%s%s", first ? "" : "\n", indent);
				col -= first ? 0 : 1;
			} else {
				col += fprintf(d->f, "  ");
			}
			col += fprintf(d->f, "%s=%s", r->name, val);
		}
		first = false;
	}
	if (d->json)
		vcr_json_end(&d->j);
	else if (!first)
		putc('\n', d->f);
}

static const char *class_names(unsigned mask, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", mask & VCR_CLASS_REGS ? "regs," : "",
		 mask & VCR_CLASS_SREGS ? "sregs," : "", mask & VCR_CLASS_EVENTS ? "events," : "",
		 mask ? "" : "none");
	size_t n = strlen(buf);
	if (n && buf[n - 1] == ',')
		buf[n - 1] = 0;
	return buf;
}

static void hex(FILE *f, const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

/* ------------------------------------------------------------- records */

/* Records that belong to one vCPU. */
static bool per_vcpu(uint32_t type)
{
	return type == VCR_REC_EXIT || type == VCR_REC_INPUT || type == VCR_REC_SET_STATE ||
	       type == VCR_REC_INJECT;
}

/* An IRQ_LINE belongs to a vCPU when made while serving its exit. */
static bool shows_vcpu(const struct vcr_record *rec)
{
	if (rec->type == VCR_REC_IRQ_LINE)
		return !(rec->u.irq_line.flags & VCR_IRQ_ASYNC);
	return per_vcpu(rec->type);
}

static uint32_t input_shown(const struct vcr_record *rec)
{
	return rec->u.input.len > VCR_EXIT_DATA_MAX ? VCR_EXIT_DATA_MAX : rec->u.input.len;
}

/* Set bits among the first n of a checkpoint bitmap. */
static uint64_t ckpt_bits(const uint8_t *bm, uint64_t n)
{
	uint64_t c = 0;
	for (uint64_t i = 0; i < n / 8; i++)
		c += (uint64_t)__builtin_popcount(bm[i]);
	if (n % 8)
		c += (uint64_t)__builtin_popcount(bm[n / 8] & ((1u << (n % 8)) - 1));
	return c;
}

static uint64_t mem_shown(const struct vcr_record *rec)
{
	return rec->u.mem.len < DUMP_MEM_SHOWN ? rec->u.mem.len : DUMP_MEM_SHOWN;
}

static const char *inject_kind(uint32_t kind)
{
	return kind == VCR_INJECT_NMI ? "nmi" : kind == VCR_INJECT_IRQ ? "irq" : "unknown";
}

/* The object of any record: type, seq (null before the first exit), vCPU. */
static void json_record(struct dump *d, const struct vcr_record *rec)
{
	struct vcr_json *j = &d->j;
	char buf[64];

	vcr_json_obj(j, NULL);
	vcr_json_str(j, "type", vcr_rec_type_name(rec->type));
	if (rec->seq == UINT64_MAX)
		vcr_json_null(j, "seq");
	else
		vcr_json_u64(j, "seq", rec->seq);
	if (shows_vcpu(rec))
		vcr_json_u64(j, "vcpu", rec->vcpu);
	switch (rec->type) {
	case VCR_REC_EXIT: {
		const struct vcr_vcpu_state *st = &rec->u.exit.state;
		vcr_json_u64(j, "vcpu_exit", rec->vcpu_exit);
		vcr_json_exit(j, &rec->u.exit.exit, VCR_EXIT_DATA_MAX);
		vcr_json_hex64(j, "rip", st->regs.rip);
		if (d->insn) {
			struct vcr_insn in;
			int rc = cli_insn_at(&d->ins, rec->seq, st, &in);
			vcr_json_insn(j, "insn", rc < 0 ? NULL : &in);
		}
		vcr_json_u64(j, "valid", rec->u.exit.valid);
		print_regs(d, st, &d->prev[rec->vcpu], VCR_CLASS_ALL, "");
		break;
	}
	case VCR_REC_INPUT:
		vcr_json_str(j, "kind", vcr_input_kind_name(rec->u.input.kind));
		vcr_json_u64(j, "len", rec->u.input.len);
		vcr_json_hexbytes(j, "data", rec->u.input.data, input_shown(rec));
		break;
	case VCR_REC_SET_STATE: {
		unsigned dirty = rec->u.set_state.dirty & VCR_CLASS_ALL;
		vcr_json_arr(j, "dirty");
		for (unsigned c = VCR_CLASS_REGS; c <= VCR_CLASS_EVENTS; c <<= 1)
			if (dirty & c)
				vcr_json_str(j, NULL, class_names(c, buf, sizeof(buf)));
		vcr_json_end(j);
		print_regs(d, &rec->u.set_state.state, &d->prev[rec->vcpu], dirty, "");
		break;
	}
	case VCR_REC_INJECT:
		vcr_json_str(j, "kind", inject_kind(rec->u.inject.kind));
		vcr_json_u64(j, "vector", rec->u.inject.vector);
		break;
	case VCR_REC_MEM_WRITE:
	case VCR_REC_MEM_PAGES:
		vcr_json_hex64(j, "gpa", rec->u.mem.gpa);
		vcr_json_u64(j, "len", rec->u.mem.len);
		vcr_json_hexbytes(j, "head", rec->u.mem.data,
				  rec->u.mem.data ? mem_shown(rec) : 0);
		break;
	case VCR_REC_MARKER:
		vcr_json_str(j, "text", rec->u.marker.text);
		break;
	case VCR_REC_CKPT:
		vcr_json_u64(j, "number", rec->u.ckpt.number);
		vcr_json_bool(j, "final", rec->u.ckpt.flags & VCR_CKPT_FINAL);
		vcr_json_bool(j, "full", rec->u.ckpt.flags & VCR_CKPT_FULL);
		vcr_json_hex64(j, "gpa", rec->u.ckpt.gpa);
		vcr_json_u64(j, "npages", rec->u.ckpt.npages);
		vcr_json_u64(j, "dirty", ckpt_bits(rec->u.ckpt.dirty, rec->u.ckpt.npages));
		vcr_json_u64(j, "stored", ckpt_bits(rec->u.ckpt.stored, rec->u.ckpt.npages));
		break;
	case VCR_REC_CKPT_PAGES:
		vcr_json_u64(j, "number", rec->u.ckpt_pages.number);
		vcr_json_hex64(j, "gpa", rec->u.ckpt_pages.gpa);
		vcr_json_u64(j, "first", rec->u.ckpt_pages.first);
		vcr_json_u64(j, "count", rec->u.ckpt_pages.count);
		vcr_json_u64(j, "len", rec->u.ckpt_pages.len);
		break;
	case VCR_REC_IRQ_LINE:
		vcr_json_u64(j, "gsi", rec->u.irq_line.gsi);
		vcr_json_u64(j, "level", rec->u.irq_line.level);
		vcr_json_bool(j, "async", rec->u.irq_line.flags & VCR_IRQ_ASYNC);
		break;
	case VCR_REC_NOTE:
		vcr_json_str(j, "kind", vcr_note_kind_name(rec->u.note.kind));
		vcr_json_u64(j, "kind_code", rec->u.note.kind);
		vcr_json_u64(j, "len", rec->u.note.len);
		vcr_json_str(j, "text", rec->u.note.text);
		break;
	case VCR_REC_END:
		vcr_json_str(j, "how", vcr_end_how_name(rec->u.end.how));
		vcr_json_i64(j, "status", rec->u.end.status);
		vcr_json_str(j, "msg", rec->u.end.msg ? rec->u.end.msg : "");
		break;
	default:
		break;
	}
	vcr_json_end(j);
}

static void text_exit(struct dump *d, const struct vcr_record *rec)
{
	const struct vcr_exit *e = &rec->u.exit.exit;
	const struct vcr_vcpu_state *st = &rec->u.exit.state;
	char pay[512];
	const char *name = vcr_exit_reason_name(e->reason);

	vcr_exit_format(e, pay, sizeof(pay));
	fprintf(d->f, "#%llu vcpu %u exit %llu: ", (unsigned long long)rec->seq, rec->vcpu,
		(unsigned long long)rec->vcpu_exit);
	if (name)
		fputs(name, d->f);
	else
		fprintf(d->f, "reason %u", e->reason);
	fprintf(d->f, "%s%s rip=0x%llx", pay[0] ? " " : "", pay,
		(unsigned long long)st->regs.rip);
	if (d->insn) {
		struct vcr_insn in;
		int rc = cli_insn_at(&d->ins, rec->seq, st, &in);
		fputs(" insn=", d->f);
		cli_insn_print(d->f, rc, &in);
	}
	putc('\n', d->f);
	print_regs(d, st, &d->prev[rec->vcpu], VCR_CLASS_ALL, "    ");
}

/* A note's kind and length, then its text one line at a time, indented,
 * each line quoted the way markers are (so a console's escape sequences
 * and NULs cannot reach the terminal). */
static void text_note(FILE *f, const struct vcr_record *rec)
{
	const char *t = rec->u.note.text ? rec->u.note.text : "";
	uint32_t n = rec->u.note.text ? rec->u.note.len : 0;
	char line[4096];

	fprintf(f, " %s", vcr_note_kind_name(rec->u.note.kind));
	if (rec->u.note.kind != VCR_NOTE_CONSOLE_TAIL)
		fprintf(f, " (kind %u)", rec->u.note.kind);
	fprintf(f, " len=%u\n", n);
	for (uint32_t i = 0; i < n;) {
		uint32_t k = 0;
		/* A NUL ends a line too: vcr_json_quote takes a C string. */
		while (i + k < n && t[i + k] != '\n' && t[i + k] && k < sizeof(line) - 1) {
			line[k] = t[i + k];
			k++;
		}
		line[k] = 0;
		fputs("    ", f);
		vcr_json_quote(f, line);
		putc('\n', f);
		i += k;
		if (i < n && (t[i] == '\n' || !t[i]))
			i++;
	}
}

static void text_other(struct dump *d, const struct vcr_record *rec)
{
	FILE *f = d->f;
	char buf[64];

	fprintf(f, "  %s", vcr_rec_type_name(rec->type));
	if (shows_vcpu(rec))
		fprintf(f, " vcpu %u", rec->vcpu);
	fputs(":", f);
	switch (rec->type) {
	case VCR_REC_INPUT:
		fprintf(f, " %s len=%u data=", vcr_input_kind_name(rec->u.input.kind),
			rec->u.input.len);
		hex(f, rec->u.input.data, input_shown(rec));
		fputs("\n", f);
		break;
	case VCR_REC_SET_STATE: {
		unsigned dirty = rec->u.set_state.dirty & VCR_CLASS_ALL;
		fprintf(f, " dirty=%s\n", class_names(dirty, buf, sizeof(buf)));
		print_regs(d, &rec->u.set_state.state, &d->prev[rec->vcpu], dirty, "    ");
		break;
	}
	case VCR_REC_INJECT:
		fprintf(f, " %s vector=%u\n", inject_kind(rec->u.inject.kind), rec->u.inject.vector);
		break;
	case VCR_REC_MEM_WRITE:
	case VCR_REC_MEM_PAGES: {
		uint64_t n = mem_shown(rec);
		fprintf(f, " gpa=0x%llx len=%llu data=", (unsigned long long)rec->u.mem.gpa,
			(unsigned long long)rec->u.mem.len);
		if (rec->u.mem.data)
			hex(f, rec->u.mem.data, n);
		fputs(n < rec->u.mem.len ? "...\n" : "\n", f);
		break;
	}
	case VCR_REC_MARKER:
		fputs(" ", f);
		vcr_json_quote(f, rec->u.marker.text);
		fputs("\n", f);
		break;
	case VCR_REC_CKPT:
		fprintf(f, " #%llu%s%s region=0x%llx+%llu pages dirty=%llu stored=%llu\n",
			(unsigned long long)rec->u.ckpt.number,
			rec->u.ckpt.flags & VCR_CKPT_FINAL ? " final" : "",
			rec->u.ckpt.flags & VCR_CKPT_FULL ? " full" : "",
			(unsigned long long)rec->u.ckpt.gpa, (unsigned long long)rec->u.ckpt.npages,
			(unsigned long long)ckpt_bits(rec->u.ckpt.dirty, rec->u.ckpt.npages),
			(unsigned long long)ckpt_bits(rec->u.ckpt.stored, rec->u.ckpt.npages));
		break;
	case VCR_REC_CKPT_PAGES:
		fprintf(f, " #%llu region=0x%llx pages %llu..%llu bytes=%llu\n",
			(unsigned long long)rec->u.ckpt_pages.number,
			(unsigned long long)rec->u.ckpt_pages.gpa,
			(unsigned long long)rec->u.ckpt_pages.first,
			(unsigned long long)(rec->u.ckpt_pages.first + rec->u.ckpt_pages.count - 1),
			(unsigned long long)rec->u.ckpt_pages.len);
		break;
	case VCR_REC_IRQ_LINE:
		fprintf(f, " gsi=%u level=%u%s\n", rec->u.irq_line.gsi, rec->u.irq_line.level,
			rec->u.irq_line.flags & VCR_IRQ_ASYNC ? " async" : "");
		break;
	case VCR_REC_NOTE:
		text_note(f, rec);
		break;
	case VCR_REC_END:
		fprintf(f, " %s status=%d", vcr_end_how_name(rec->u.end.how), rec->u.end.status);
		if (rec->u.end.msg && rec->u.end.msg[0]) {
			fputs(" msg=", f);
			vcr_json_quote(f, rec->u.end.msg);
		}
		putc('\n', f);
		break;
	default:
		fputs("\n", f);
		break;
	}
}

/* What the next exit of the record's vCPU is shown against: the state at
 * its previous exit, with what the VMM loaded since. */
static void track_state(struct dump *d, const struct vcr_record *rec)
{
	if (rec->type == VCR_REC_EXIT)
		d->prev[rec->vcpu] = rec->u.exit.state;
	else if (rec->type == VCR_REC_SET_STATE)
		vcr_state_copy(&d->prev[rec->vcpu], &rec->u.set_state.state,
			       rec->u.set_state.dirty);
}

static void dump_record(struct dump *d, const struct vcr_record *rec)
{
	if (d->json)
		json_record(d, rec);
	else if (rec->type == VCR_REC_EXIT)
		text_exit(d, rec);
	else
		text_other(d, rec);
	track_state(d, rec);
}

/* --------------------------------------------------------------- main */

static int dump_opt(void *ctx, int val, const char *arg)
{
	struct dump *d = ctx;
	if (val == 'F')
		d->full = true;
	else if (val == 'I')
		d->insn = true;
	else if (val == 'o')
		d->out = arg;
	return 0;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option own[] = { { "full", 0, 0, 'F' }, { "insn", 0, 0, 'I' },
					     { "output", 1, 0, 'o' } };
	struct dump d = { .f = stdout };
	const struct cli_cmd cmd = {
		.name = "dump", .usage = usage, .nargs = 1,
		.common = CLI_OPT_JSON | CLI_OPT_VCPU | CLI_OPT_RANGE | CLI_OPT_QUIET,
		.own = own, .nown = VCR_ARRAY_SIZE(own), .own_opt = dump_opt, .ctx = &d,
		.shorts = "o:",
	};
	struct cli_progress prog = { 0 };
	struct vcr_progress *p = NULL;
	struct cli_opts o;
	struct vcr_reader *r = NULL;
	struct vcr_record *rec = NULL;
	int rc, status = 0;

	if ((rc = cli_parse(&cmd, &o, argc, argv)) != CLI_GO_ON)
		return rc;
	d.json = o.json;
	d.vcpu = o.vcpu;
	d.from = o.from;
	d.to = o.to;
	const char *path = argv[optind];
	if (!(r = cli_open_trace("dump", path)))
		return 2;
	if (d.out && !(d.f = fopen(d.out, "w"))) {
		fprintf(stderr, "vcr dump: %s: %s\n", d.out, strerror(errno));
		vcr_reader_close(r);
		return 2;
	}
	vcr_json_init(&d.j, d.f);
	if (d.out) {
		/* A progress line only when the records do not go to the
		 * terminal too. */
		struct vcr_reader_stats st;
		vcr_reader_get_stats(r, &st);
		uint64_t last = st.first_seq + st.exits;
		uint64_t lo = d.from > st.first_seq ? d.from : st.first_seq;
		uint64_t hi = d.to < last ? d.to + 1 : last;
		p = cli_progress_start(&prog, "dump", "exits", hi > lo ? hi - lo : 0, o.quiet);
	}
	cli_insn_init(&d.ins, "dump", path);
	d.nvcpus = vcr_reader_info(r)->nvcpus;
	if (d.nvcpus > VCR_TRACE_MAX_VCPUS)
		d.nvcpus = VCR_TRACE_MAX_VCPUS;
	d.prev = calloc(d.nvcpus ? d.nvcpus : 1, sizeof(*d.prev));
	rec = malloc(sizeof(*rec));
	if (!d.prev || !rec) {
		fprintf(stderr, "vcr dump: out of memory\n");
		status = 2;
		goto out;
	}
	if (d.vcpu != UINT32_MAX && d.vcpu >= d.nvcpus) {
		fprintf(stderr, "vcr dump: no vCPU %u (the trace has %u)\n", d.vcpu, d.nvcpus);
		status = 2;
		goto out;
	}
	if (d.from > 0) {
		rc = vcr_reader_seek(r, d.from);
		if (rc < 0) {
			fprintf(stderr, "vcr dump: %s: seek to exit %llu: %s\n", path,
				(unsigned long long)d.from, vcr_reader_error(r)->msg);
			status = 2;
			goto out;
		}
		/* Changes at the first exit shown are against the state
		 * before it, which the reader knows after the seek. */
		for (uint32_t i = 0; i < d.nvcpus; i++)
			if (vcr_reader_state(r, i, &d.prev[i]) < 0)
				memset(&d.prev[i], 0, sizeof(d.prev[i]));
	}

	/* Records up to (and serving) exit `to`; records before the first
	 * exit (seq UINT64_MAX: loader writes, initial state) come first. */
	struct cli_read rd = { .r = r };
	while ((rc = cli_read_next(&rd, rec)) != 0) {
		if (rc < 0) {
			const struct vcr_err *re = vcr_reader_error(r);
			fflush(d.f);
			cli_progress_clear(&prog);
			fprintf(stderr, "vcr dump: %s: %s (offset %llu)\n", path,
				re->msg[0] ? re->msg : strerror(-rc), (unsigned long long)re->offset);
			status = 1;
			continue;	/* the next chunk may be fine */
		}
		bool pre = rec->seq == UINT64_MAX;
		if (rec->type == VCR_REC_EXIT && rec->seq > d.to)
			break;
		if (rec->type == VCR_REC_EXIT && rec->seq >= d.from)
			vcr_progress_add(p, 1);
		if (!pre && rec->seq < d.from)
			continue;
		if (pre && d.from > 0)
			continue;
		if (per_vcpu(rec->type) && rec->vcpu >= d.nvcpus) {
			cli_progress_clear(&prog);
			fprintf(stderr, "vcr dump: record for vCPU %u of %u\n", rec->vcpu, d.nvcpus);
			status = 1;
			continue;
		}
		if (d.vcpu != UINT32_MAX && shows_vcpu(rec) && rec->vcpu != d.vcpu)
			track_state(&d, rec);
		else
			dump_record(&d, rec);
		if (ferror(d.f))
			break;
	}
	cli_progress_end(&prog);
	if (cli_flush("dump", d.f))
		status = 2;
out:
	cli_insn_fini(&d.ins);
	cli_progress_end(&prog);
	if (d.out && d.f && fclose(d.f) && status < 2) {
		fprintf(stderr, "vcr dump: %s: %s\n", d.out, strerror(errno));
		status = 2;
	}
	free(rec);
	free(d.prev);
	vcr_reader_close(r);
	return status;
}
VCR_COMMAND("dump", 41, cmd_dump, "print a trace's records as text or JSON Lines");
