/* cli/cmd_dump.c: `vcr dump FILE`: every record of a trace as text or JSON
 * Lines. Register names and formats come from core/regs.h, exit reasons and
 * payloads from core/state.h; the JSON shapes are shared with `vcr diff`
 * (replayer/diff.h) and documented in docs/tools.md. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/regs.h"
#include "formats/trace.h"
#include "replayer/diff.h"

#define DUMP_WRAP 100		/* text: wrap register lists at this column */
#define DUMP_MEM_SHOWN 16	/* bytes of memory writes shown */
#define DUMP_MAX_ERRORS 64	/* damaged chunks reported before giving up */

struct dump {
	FILE *f;
	bool json, full;
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
		"(inputs, state set by the VMM, injections, memory writes, markers, end).\n"
		"\n"
		"  --from N     start at exit N (global exit number)\n"
		"  --to N       stop after exit N\n"
		"  --vcpu V     only vCPU V\n"
		"  --full       every register at every exit\n"
		"  --json       JSON Lines: one object per record, registers by name\n"
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
		fputs(",\"regs\":{", d->f);
	for (size_t i = 0; i < vcr_nregs; i++) {
		const struct vcr_reg *r = &vcr_regs[i];
		if (r->fmt == VCR_REG_NONE || !(r->cls & mask))
			continue;
		if (!d->full && !vcr_reg_differs(st, prev, r))
			continue;
		if (d->json) {
			fputs(first ? "" : ",", d->f);
			vcr_diff_json_string(d->f, r->name);
			putc(':', d->f);
			vcr_diff_json_reg(d->f, st, r);
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
		putc('}', d->f);
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

static void json_seq(struct dump *d, const struct vcr_record *rec)
{
	fprintf(d->f, "{\"type\":\"%s\",\"seq\":", vcr_rec_type_name(rec->type));
	if (rec->seq == UINT64_MAX)
		fputs("null", d->f);
	else
		fprintf(d->f, "%llu", (unsigned long long)rec->seq);
}

static void dump_exit(struct dump *d, const struct vcr_record *rec)
{
	const struct vcr_exit *e = &rec->u.exit.exit;
	const struct vcr_vcpu_state *st = &rec->u.exit.state;
	const struct vcr_vcpu_state *prev = &d->prev[rec->vcpu];

	if (d->json) {
		json_seq(d, rec);
		fprintf(d->f, ",\"vcpu\":%u,\"vcpu_exit\":%llu", rec->vcpu,
			(unsigned long long)rec->vcpu_exit);
		vcr_diff_json_exit(d->f, e, VCR_EXIT_DATA_MAX);
		fprintf(d->f, ",\"rip\":\"0x%llx\",\"valid\":%u", (unsigned long long)st->regs.rip,
			rec->u.exit.valid);
		print_regs(d, st, prev, VCR_CLASS_ALL, "");
		fputs("}\n", d->f);
	} else {
		char pay[512];
		const char *name = vcr_exit_reason_name(e->reason);
		vcr_exit_format(e, pay, sizeof(pay));
		fprintf(d->f, "#%llu vcpu %u exit %llu: ", (unsigned long long)rec->seq, rec->vcpu,
			(unsigned long long)rec->vcpu_exit);
		if (name)
			fputs(name, d->f);
		else
			fprintf(d->f, "reason %u", e->reason);
		fprintf(d->f, "%s%s rip=0x%llx\n", pay[0] ? " " : "", pay,
			(unsigned long long)st->regs.rip);
		print_regs(d, st, prev, VCR_CLASS_ALL, "    ");
	}
	d->prev[rec->vcpu] = *st;
}

static void dump_other(struct dump *d, const struct vcr_record *rec)
{
	FILE *f = d->f;
	char buf[64];

	if (d->json) {
		json_seq(d, rec);
		if (rec->type == VCR_REC_INPUT || rec->type == VCR_REC_SET_STATE ||
		    rec->type == VCR_REC_INJECT)
			fprintf(f, ",\"vcpu\":%u", rec->vcpu);
	} else {
		fprintf(f, "  %s", vcr_rec_type_name(rec->type));
		if (rec->type == VCR_REC_INPUT || rec->type == VCR_REC_SET_STATE ||
		    rec->type == VCR_REC_INJECT)
			fprintf(f, " vcpu %u", rec->vcpu);
		fputs(":", f);
	}
	switch (rec->type) {
	case VCR_REC_INPUT: {
		uint32_t n = rec->u.input.len > VCR_EXIT_DATA_MAX ? VCR_EXIT_DATA_MAX : rec->u.input.len;
		fprintf(f, d->json ? ",\"kind\":\"%s\",\"len\":%u,\"data\":\"" : " %s len=%u data=",
			vcr_diff_input_kind_name(rec->u.input.kind), rec->u.input.len);
		hex(f, rec->u.input.data, n);
		fputs(d->json ? "\"}\n" : "\n", f);
		break;
	}
	case VCR_REC_SET_STATE: {
		unsigned dirty = rec->u.set_state.dirty & VCR_CLASS_ALL;
		struct vcr_vcpu_state *prev = &d->prev[rec->vcpu];
		if (d->json) {
			fputs(",\"dirty\":[", f);
			bool first = true;
			for (unsigned c = VCR_CLASS_REGS; c <= VCR_CLASS_EVENTS; c <<= 1)
				if (dirty & c) {
					fprintf(f, "%s\"%s\"", first ? "" : ",", class_names(c, buf, sizeof(buf)));
					first = false;
				}
			putc(']', f);
			print_regs(d, &rec->u.set_state.state, prev, dirty, "");
			fputs("}\n", f);
		} else {
			fprintf(f, " dirty=%s\n", class_names(dirty, buf, sizeof(buf)));
			print_regs(d, &rec->u.set_state.state, prev, dirty, "    ");
		}
		/* The next exit's changes are against what the VMM loaded. */
		vcr_state_copy(prev, &rec->u.set_state.state, dirty);
		break;
	}
	case VCR_REC_INJECT: {
		const char *k = rec->u.inject.kind == VCR_INJECT_NMI ? "nmi" :
				rec->u.inject.kind == VCR_INJECT_IRQ ? "irq" : "unknown";
		fprintf(f, d->json ? ",\"kind\":\"%s\",\"vector\":%u}\n" : " %s vector=%u\n", k,
			rec->u.inject.vector);
		break;
	}
	case VCR_REC_MEM_WRITE:
	case VCR_REC_MEM_PAGES: {
		uint64_t n = rec->u.mem.len < DUMP_MEM_SHOWN ? rec->u.mem.len : DUMP_MEM_SHOWN;
		fprintf(f, d->json ? ",\"gpa\":\"0x%llx\",\"len\":%llu,\"head\":\"" :
				     " gpa=0x%llx len=%llu data=",
			(unsigned long long)rec->u.mem.gpa, (unsigned long long)rec->u.mem.len);
		if (rec->u.mem.data)
			hex(f, rec->u.mem.data, n);
		if (d->json)
			fputs("\"}\n", f);
		else
			fputs(n < rec->u.mem.len ? "...\n" : "\n", f);
		break;
	}
	case VCR_REC_MARKER:
		fputs(d->json ? ",\"text\":" : " ", f);
		vcr_diff_json_string(f, rec->u.marker.text);
		fputs(d->json ? "}\n" : "\n", f);
		break;
	case VCR_REC_END:
		if (d->json) {
			fprintf(f, ",\"how\":\"%s\",\"status\":%d,\"msg\":",
				vcr_end_how_name(rec->u.end.how), rec->u.end.status);
			vcr_diff_json_string(f, rec->u.end.msg ? rec->u.end.msg : "");
			fputs("}\n", f);
		} else {
			fprintf(f, " %s status=%d", vcr_end_how_name(rec->u.end.how),
				rec->u.end.status);
			if (rec->u.end.msg && rec->u.end.msg[0]) {
				fputs(" msg=", f);
				vcr_diff_json_string(f, rec->u.end.msg);
			}
			putc('\n', f);
		}
		break;
	default:
		fputs(d->json ? "}\n" : "\n", f);
		break;
	}
}

/* --------------------------------------------------------------- main */

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || !*s || *end || s[0] == '-' ? -1 : 0;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "from", 1, 0, 'f' }, { "to", 1, 0, 't' }, { "vcpu", 1, 0, 'v' },
		{ "full", 0, 0, 'F' }, { "json", 0, 0, 'j' }, { "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct dump d = { .f = stdout, .vcpu = UINT32_MAX, .to = UINT64_MAX };
	struct vcr_reader *r = NULL;
	struct vcr_record *rec = NULL;
	struct vcr_err err;
	uint64_t v = 0;
	int c, status = 0, nerr = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == '?') {
			usage(stderr);
			return 2;
		}
		if ((c == 'f' || c == 't' || c == 'v') && parse_u64(optarg, &v)) {
			fprintf(stderr, "vcr dump: bad number '%s'\n", optarg);
			return 2;
		}
		switch (c) {
		case 'f': d.from = v; break;
		case 't': d.to = v; break;
		case 'v':
			if (v >= VCR_TRACE_MAX_VCPUS) {
				fprintf(stderr, "vcr dump: bad --vcpu %llu\n", (unsigned long long)v);
				return 2;
			}
			d.vcpu = (uint32_t)v;
			break;
		case 'F': d.full = true; break;
		case 'j': d.json = true; break;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return 2;
	}
	if (d.from > d.to) {
		fprintf(stderr, "vcr dump: --from is after --to\n");
		return 2;
	}
	const char *path = argv[optind];
	vcr_err_clear(&err);
	int rc = vcr_reader_open(&r, path, &err);
	if (rc < 0) {
		fprintf(stderr, "vcr dump: %s: %s\n", path, err.msg[0] ? err.msg : strerror(-rc));
		return 2;
	}
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
	for (;;) {
		rc = vcr_reader_next(r, rec);
		if (rc == 0)
			break;
		if (rc < 0) {
			const struct vcr_err *re = vcr_reader_error(r);
			fflush(d.f);
			fprintf(stderr, "vcr dump: %s: %s (offset %llu)\n", path,
				re->msg[0] ? re->msg : strerror(-rc), (unsigned long long)re->offset);
			status = 1;
			if (++nerr >= DUMP_MAX_ERRORS || rc == -EIO || rc == -ENOMEM)
				break;
			continue;	/* the next chunk may be fine */
		}
		bool pre = rec->seq == UINT64_MAX;
		if (rec->type == VCR_REC_EXIT && rec->seq > d.to)
			break;
		if (!pre && rec->seq < d.from)
			continue;
		if (pre && d.from > 0)
			continue;
		if (rec->vcpu >= d.nvcpus && (rec->type == VCR_REC_EXIT ||
		    rec->type == VCR_REC_INPUT || rec->type == VCR_REC_SET_STATE ||
		    rec->type == VCR_REC_INJECT)) {
			fprintf(stderr, "vcr dump: record for vCPU %u of %u\n", rec->vcpu, d.nvcpus);
			status = 1;
			continue;
		}
		bool per_vcpu = rec->type == VCR_REC_EXIT || rec->type == VCR_REC_INPUT ||
				rec->type == VCR_REC_SET_STATE || rec->type == VCR_REC_INJECT;
		if (d.vcpu != UINT32_MAX && per_vcpu && rec->vcpu != d.vcpu) {
			if (rec->type == VCR_REC_EXIT)
				d.prev[rec->vcpu] = rec->u.exit.state;
			else if (rec->type == VCR_REC_SET_STATE)
				vcr_state_copy(&d.prev[rec->vcpu], &rec->u.set_state.state,
					       rec->u.set_state.dirty);
			continue;
		}
		if (rec->type == VCR_REC_EXIT)
			dump_exit(&d, rec);
		else
			dump_other(&d, rec);
		if (ferror(d.f))
			break;
	}
	if (fflush(d.f) || ferror(d.f)) {
		fprintf(stderr, "vcr dump: write error\n");
		status = 2;
	}
out:
	free(rec);
	free(d.prev);
	vcr_reader_close(r);
	return status;
}
VCR_COMMAND("dump", 41, cmd_dump, "print a trace's records as text or JSON Lines");
