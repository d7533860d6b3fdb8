/* cli/cmd_stats.c: `vcr stats FILE`: what a trace holds and how well it
 * compressed. One pass over the records; sizes from the reader's stats. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/insn.h"
#include "core/disasm.h"
#include "core/json.h"
#include "core/state.h"
#include "formats/trace.h"
#include "recorder/recorder.h"
#include "vmm/vmm.h"

#define STATS_REASONS 64	/* KVM_EXIT_* values counted by name */
#define STATS_MMIO_MAX (1u << 20)	/* distinct MMIO keys tracked */

/* Counts by a 64-bit key (MMIO address and direction, rip and mode), in
 * an open-addressing table: key + 1 is stored, 0 marks an empty slot. */
struct key_slot {
	uint64_t key;
	uint64_t count;
	uint64_t seq;		/* the last exit counted under this key */
	uint32_t vcpu;		/* its vCPU */
};

struct key_tab {
	struct key_slot *s;
	uint32_t cap, used;
	uint64_t untracked;	/* counts of keys past STATS_MMIO_MAX */
};

/* IRQ_LINE records by GSI, NOTE records by kind (lines_*). */
#define STATS_GSI_MAX 256	/* distinct GSIs counted; more are lumped */
#define STATS_NOTE_KINDS 8	/* kinds counted by number; more: "unknown" */
struct line_stats {
	struct gsi_count {
		uint32_t gsi;
		uint64_t raised, lowered;	/* level != 0, level 0 */
		uint64_t async;			/* VCR_IRQ_ASYNC among them */
	} g[STATS_GSI_MAX];
	uint32_t ngsi;
	uint64_t untracked;			/* changes of GSIs past the table */
	uint64_t notes[STATS_NOTE_KINDS + 1];	/* last: other kinds */
};

struct stats {
	uint64_t reasons[STATS_REASONS + 1];	/* last: other */
	uint64_t *ports;	/* [port * 2 + is_out] */
	struct key_tab mmio;	/* key: addr << 1 | is_write */
	struct key_tab rips;	/* key: rip_key() */
	uint64_t recs[VCR_REC_LAST + 2];
	uint64_t mem_bytes;
	/* Memory checkpoints: CKPT numbers seen, pages stored (by encoding),
	 * dirty pages, encoded bytes (bitmaps + pages, before zstd). */
	uint64_t ckpts, ckpt_last, ckpt_pages, ckpt_dirty, ckpt_bytes, ckpt_final;
	uint64_t ckpt_enc[4];		/* by enum vcr_ckpt_enc */
	struct line_stats lines;
	uint64_t vcpu_exits[VCR_TRACE_MAX_VCPUS];
	bool has_end;
	uint32_t end_how;
	int32_t end_status;
	char end_msg[256];
	bool has_duration;	/* the recorder's duration MARKER */
	uint64_t duration_ns;
	uint64_t errors;
	char first_error[300];
	/* Per readable chunk: exits in it, and whether it holds a memory
	 * record (MEM_*, CKPT*). The exit stream's cost is that of the chunks
	 * without memory: memory records' bytes would otherwise count as the
	 * exits' (a Linux boot's trace is mostly its kernel). */
	uint64_t nchunks;
	uint32_t *chunk_exits;
	uint8_t *chunk_mem;
	uint64_t xbytes, xchunks, xexits, mbytes, mchunks;
};

struct top {
	uint64_t key, count;
	uint64_t seq;		/* rips: the last exit at it */
	uint32_t vcpu;
};

/* What is listed: the most used ports, MMIO addresses and rips, and the
 * instruction at each rip (insn_rc: cli_insn_at's result), unless
 * --no-insn. */
struct tops {
	struct top *ports, *mmio, *rips;
	size_t nports, nmmio, nrips;
	struct vcr_insn *insn;
	int *insn_rc;
	bool show_insn;
	unsigned long n;	/* --top */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vcr stats [OPTIONS] FILE.vcr\n"
		"\n"
		"Summarize a trace: what ran, exits by reason, by vCPU, by I/O port, MMIO\n"
		"address and rip, file size, bytes per exit, the exit stream apart from\n"
		"memory (bytes per exit of the chunks without memory records, and their\n"
		"compression; the bytes of the chunks with them), duration if recorded,\n"
		"how the run ended, and whether the trace is complete; interrupt line\n"
		"changes the VMM drove, by GSI, and notes (console tail) by kind.\n"
		"\n"
		"  --top N     ports, MMIO addresses and rips listed (default 10); each\n"
		"              rip with its mode and the instruction there, decoded\n"
		"              from the memory the trace holds at its last exit there\n"
		"  --no-insn   rips without their instruction\n"
		"  --json      one JSON object\n"
		"\n"
		"Exit status: 0, 1 if the trace is damaged or cut short, 2 if unreadable.\n");
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static int tab_grow(struct key_tab *t)
{
	uint32_t ncap = t->cap ? t->cap * 2 : 256;
	struct key_slot *n = calloc(ncap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->cap; i++) {
		if (!t->s[i].key)
			continue;
		uint32_t h = (uint32_t)mix(t->s[i].key) & (ncap - 1);
		while (n[h].key)
			h = (h + 1) & (ncap - 1);
		n[h] = t->s[i];
	}
	free(t->s);
	t->s = n;
	t->cap = ncap;
	return 0;
}

static void tab_count(struct key_tab *t, uint64_t key, uint64_t seq, uint32_t vcpu)
{
	struct key_slot *slot = NULL;

	key++;
	if (!key)
		key = 1;	/* key ~0: folded onto key 0; harmless */
	if (t->used * 2 >= t->cap) {
		if (t->used >= STATS_MMIO_MAX || tab_grow(t) < 0) {
			/* Keep counting known keys; new ones are lumped. */
			for (uint32_t h = (uint32_t)mix(key) & (t->cap - 1), n = 0;
			     n < t->cap && t->s[h].key; h = (h + 1) & (t->cap - 1), n++)
				if (t->s[h].key == key) {
					slot = &t->s[h];
					break;
				}
			if (!slot) {
				t->untracked++;
				return;
			}
		}
	}
	if (!slot) {
		uint32_t h = (uint32_t)mix(key) & (t->cap - 1);
		while (t->s[h].key && t->s[h].key != key)
			h = (h + 1) & (t->cap - 1);
		slot = &t->s[h];
		if (!slot->key) {
			slot->key = key;
			t->used++;
		}
	}
	slot->count++;
	slot->seq = seq;
	slot->vcpu = vcpu;
}

/* rip and the mode it runs in, as one key: in 16- and 32-bit modes eip
 * has 32 bits and bit 62 or 63 marks the mode; a 64-bit rip is canonical,
 * so its bits 62 and 63 are equal (0 and 0 or 1 and 1) and it cannot
 * collide with either. */
#define RIP_KEY_16 (1ull << 62)
#define RIP_KEY_32 (1ull << 63)

static uint64_t rip_key(const struct vcr_vcpu_state *st)
{
	unsigned mode = vcr_disasm_mode(st);
	if (mode == 64)
		return st->regs.rip;
	return (st->regs.rip & 0xffffffffull) | (mode == 16 ? RIP_KEY_16 : RIP_KEY_32);
}

static unsigned rip_key_mode(uint64_t key)
{
	uint64_t m = key & (RIP_KEY_16 | RIP_KEY_32);
	return m == RIP_KEY_16 ? 16 : m == RIP_KEY_32 ? 32 : 64;
}

static uint64_t rip_key_rip(uint64_t key)
{
	return rip_key_mode(key) == 64 ? key : key & 0xffffffffull;
}

static int top_cmp(const void *a, const void *b)
{
	const struct top *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* Sort the k keys counted in `all` (freed here) by count then key, and
 * keep the n first in out. */
static size_t top_keep(struct top *all, size_t k, struct top *out, size_t n)
{
	qsort(all, k, sizeof(*all), top_cmp);
	if (k > n)
		k = n;
	memcpy(out, all, k * sizeof(*all));
	free(all);
	return k;
}

/* The n most used I/O ports (key: port << 1 | out). */
static size_t top_ports(const struct stats *s, struct top *out, size_t n)
{
	size_t k = 0, m = 0;
	for (uint32_t i = 0; i < 65536 * 2; i++)
		if (s->ports[i])
			m++;
	struct top *all = malloc((m ? m : 1) * sizeof(*all));
	if (!all)
		return 0;
	for (uint32_t i = 0; i < 65536 * 2; i++)
		if (s->ports[i])
			all[k++] = (struct top){ .key = i, .count = s->ports[i] };
	return top_keep(all, k, out, n);
}

/* The n most counted keys of t (MMIO: addr << 1 | write; rips: rip_key). */
static size_t top_tab(const struct key_tab *t, struct top *out, size_t n)
{
	size_t k = 0;
	struct top *all = malloc((t->used ? t->used : 1) * sizeof(*all));
	if (!all)
		return 0;
	for (uint32_t i = 0; i < t->cap; i++)
		if (t->s[i].key)
			all[k++] = (struct top){ t->s[i].key - 1, t->s[i].count, t->s[i].seq,
						 t->s[i].vcpu };
	return top_keep(all, k, out, n);
}

static const char *top_direction(bool mmio, uint64_t key)
{
	if (mmio)
		return key & 1 ? "write" : "read";
	return key & 1 ? "out" : "in";
}

/* ---- interrupt lines and notes: inputs the VMM drove, not exits ---- */

static void lines_count(struct line_stats *l, const struct vcr_record *rec)
{
	if (rec->type == VCR_REC_NOTE) {
		uint32_t k = rec->u.note.kind;
		l->notes[k < STATS_NOTE_KINDS ? k : STATS_NOTE_KINDS]++;
		return;
	}
	if (rec->type != VCR_REC_IRQ_LINE)
		return;
	/* Kept in GSI order: a few lines, found by a short scan. */
	uint32_t gsi = rec->u.irq_line.gsi, i = 0;
	while (i < l->ngsi && l->g[i].gsi < gsi)
		i++;
	if (i == l->ngsi || l->g[i].gsi != gsi) {
		if (l->ngsi == STATS_GSI_MAX) {
			l->untracked++;
			return;
		}
		memmove(&l->g[i + 1], &l->g[i], (l->ngsi - i) * sizeof(l->g[0]));
		l->g[i] = (struct gsi_count){ .gsi = gsi };
		l->ngsi++;
	}
	if (rec->u.irq_line.level)
		l->g[i].raised++;
	else
		l->g[i].lowered++;
	if (rec->u.irq_line.flags & VCR_IRQ_ASYNC)
		l->g[i].async++;
}

static const char *note_name(uint32_t k, char *buf, size_t len)
{
	if (k == STATS_NOTE_KINDS)
		return "other";
	if (k == VCR_NOTE_CONSOLE_TAIL)
		return vcr_note_kind_name(k);
	snprintf(buf, len, "kind_%u", k);
	return buf;
}

static void lines_text(FILE *f, const struct line_stats *l)
{
	char buf[32];
	if (l->ngsi || l->untracked)
		fprintf(f, "IRQ line changes by GSI      raised      lowered  (from other threads)\n");
	for (uint32_t i = 0; i < l->ngsi; i++)
		fprintf(f, "  %-18u %12llu %12llu  (%llu)\n", l->g[i].gsi,
			(unsigned long long)l->g[i].raised, (unsigned long long)l->g[i].lowered,
			(unsigned long long)l->g[i].async);
	if (l->untracked)
		fprintf(f, "  %-18s %12llu\n", "(not tracked)", (unsigned long long)l->untracked);
	bool any = false;
	for (uint32_t k = 0; k <= STATS_NOTE_KINDS; k++)
		if (l->notes[k]) {
			if (!any)
				fprintf(f, "notes by kind\n");
			any = true;
			fprintf(f, "  %-18s %12llu\n", note_name(k, buf, sizeof(buf)),
				(unsigned long long)l->notes[k]);
		}
}

static void lines_json(struct vcr_json *j, const struct line_stats *l)
{
	char buf[32];
	vcr_json_arr(j, "irq_lines");
	for (uint32_t i = 0; i < l->ngsi; i++) {
		vcr_json_obj(j, NULL);
		vcr_json_u64(j, "gsi", l->g[i].gsi);
		vcr_json_u64(j, "changes", l->g[i].raised + l->g[i].lowered);
		vcr_json_u64(j, "raised", l->g[i].raised);
		vcr_json_u64(j, "lowered", l->g[i].lowered);
		vcr_json_u64(j, "async", l->g[i].async);
		vcr_json_end(j);
	}
	vcr_json_end(j);
	vcr_json_u64(j, "irq_lines_untracked", l->untracked);
	vcr_json_obj(j, "notes");
	for (uint32_t k = 0; k <= STATS_NOTE_KINDS; k++)
		if (l->notes[k])
			vcr_json_u64(j, note_name(k, buf, sizeof(buf)), l->notes[k]);
	vcr_json_end(j);
}

static void count_record(struct stats *s, const struct vcr_record *rec)
{
	s->recs[rec->type <= VCR_REC_LAST ? rec->type : VCR_REC_LAST + 1]++;
	lines_count(&s->lines, rec);
	switch (rec->type) {
	case VCR_REC_EXIT: {
		const struct vcr_exit *e = &rec->u.exit.exit;
		s->reasons[e->reason < STATS_REASONS ? e->reason : STATS_REASONS]++;
		if (rec->vcpu < VCR_TRACE_MAX_VCPUS)
			s->vcpu_exits[rec->vcpu]++;
		if (e->reason == KVM_EXIT_IO)
			s->ports[e->u.io.port * 2u + (e->u.io.direction == KVM_EXIT_IO_OUT)]++;
		else if (e->reason == KVM_EXIT_MMIO)
			tab_count(&s->mmio, e->u.mmio.phys_addr << 1 | e->u.mmio.is_write, rec->seq,
				  rec->vcpu);
		tab_count(&s->rips, rip_key(&rec->u.exit.state), rec->seq, rec->vcpu);
		break;
	}
	case VCR_REC_MEM_WRITE:
	case VCR_REC_MEM_PAGES:
		s->mem_bytes += rec->u.mem.len;
		break;
	case VCR_REC_CKPT: {
		uint64_t nb = (rec->u.ckpt.npages + 7) / 8;
		if (!s->ckpts || rec->u.ckpt.number != s->ckpt_last)
			s->ckpts++;
		s->ckpt_last = rec->u.ckpt.number;
		if (rec->u.ckpt.flags & VCR_CKPT_FINAL)
			s->ckpt_final++;
		for (uint64_t i = 0; i < nb; i++)
			s->ckpt_dirty += (uint64_t)__builtin_popcount(rec->u.ckpt.dirty[i]);
		s->ckpt_bytes += nb * (rec->u.ckpt.flags & VCR_CKPT_FULL ? 2 : 1);
		break;
	}
	case VCR_REC_CKPT_PAGES: {
		static struct vcr_ckpt_page sc[VCR_CKPT_RUN_MAX];
		s->ckpt_pages += rec->u.ckpt_pages.count;
		s->ckpt_bytes += rec->u.ckpt_pages.len;
		/* Encodings of a well-formed record (a malformed one is damage
		 * the memory index reports). */
		if (!vcr_ckpt_pages_scan(rec->u.ckpt_pages.data, rec->u.ckpt_pages.len,
					 rec->u.ckpt_pages.first, rec->u.ckpt_pages.count, sc))
			for (uint32_t i = 0; i < rec->u.ckpt_pages.count; i++)
				if (sc[i].enc < 4)
					s->ckpt_enc[sc[i].enc]++;
		break;
	}
	case VCR_REC_MARKER: {
		/* recorder/recorder.h: "vcr.duration_ns=N" right before END. */
		const char *t = rec->u.marker.text;
		size_t n = strlen(VCR_RECORDER_DURATION_MARKER);
		if (t && !strncmp(t, VCR_RECORDER_DURATION_MARKER, n) && t[n] >= '0' && t[n] <= '9') {
			char *end;
			errno = 0;
			unsigned long long x = strtoull(t + n, &end, 10);
			if (!errno && !*end) {
				s->has_duration = true;
				s->duration_ns = x;
			}
		}
		break;
	}
	case VCR_REC_END:
		s->has_end = true;
		s->end_how = rec->u.end.how;
		s->end_status = rec->u.end.status;
		snprintf(s->end_msg, sizeof(s->end_msg), "%s", rec->u.end.msg ? rec->u.end.msg : "");
		break;
	default:
		break;
	}
}

static const char *image_mode_name(uint32_t m)
{
	return m == VCR_IMAGE_EMBEDDED ? "embedded" : m == VCR_IMAGE_REFERENCE ? "referenced" : "none";
}

/* Duration of the run, if the recorder wrote it (ns), else -1: the
 * recorder's MARKER before END, or a `duration_ns` header key. */
static int64_t duration_ns(const struct vcr_trace_info *info, const struct stats *s)
{
	if (s->has_duration && s->duration_ns <= INT64_MAX)
		return (int64_t)s->duration_ns;
	const char *v = vcr_trace_info_get(info, "duration_ns");
	if (!v)
		return -1;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	return errno || *end || x < 0 ? -1 : x;
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void text_top(FILE *f, const char *title, const struct top *t, size_t n, bool mmio,
		     unsigned long ntop, uint64_t exits)
{
	if (!n)
		return;
	fprintf(f, "%s (top %lu)\n", title, ntop);
	for (size_t i = 0; i < n; i++) {
		char k[40];
		snprintf(k, sizeof(k), mmio ? "0x%llx %s" : "0x%04llx %s",
			 (unsigned long long)(t[i].key >> 1), top_direction(mmio, t[i].key));
		fprintf(f, "  %-18s %12llu %6.2f%%\n", k, (unsigned long long)t[i].count,
			pct(t[i].count, exits));
	}
}

static void text_rips(FILE *f, const struct tops *t, uint64_t exits,
		      const struct key_tab *rips)
{
	if (!t->nrips)
		return;
	fprintf(f, "rips (top %lu)\n", t->n);
	for (size_t i = 0; i < t->nrips; i++) {
		char k[40];
		snprintf(k, sizeof(k), "0x%llx", (unsigned long long)rip_key_rip(t->rips[i].key));
		fprintf(f, "  %-18s %12llu %6.2f%%  %u-bit", k, (unsigned long long)t->rips[i].count,
			pct(t->rips[i].count, exits), rip_key_mode(t->rips[i].key));
		if (t->show_insn) {
			fputs("  ", f);
			cli_insn_print(f, t->insn_rc[i], &t->insn[i]);
		}
		putc('\n', f);
	}
	if (rips->untracked)
		fprintf(f, "  %-18s %12llu\n", "(not tracked)", (unsigned long long)rips->untracked);
}

static void print_text(FILE *f, const char *path, const struct vcr_trace_info *info,
		       const struct vcr_reader_stats *rs, const struct stats *s,
		       const struct tops *tops, bool complete)
{
	uint64_t memsz = 0;
	for (uint32_t i = 0; i < info->nmem; i++)
		memsz += info->mem[i].size;
	fprintf(f, "trace        %s\n", path);
	fprintf(f, "written by   vcr %s, format %u.%u, %s, KVM API %u, sync regs 0x%x\n",
		info->tool_version ? info->tool_version : "?", info->version_major,
		info->version_minor, info->arch == VCR_ARCH_X86_64 ? "x86-64" : "unknown arch",
		info->kvm_api_version, info->sync_regs_mask);
	fprintf(f, "guest        %s (%s", info->image_path ? info->image_path : "-",
		image_mode_name(info->image_mode));
	if (info->image_mode == VCR_IMAGE_EMBEDDED)
		fprintf(f, ", %llu bytes", (unsigned long long)info->image_size);
	fprintf(f, "), %u vCPU%s, %llu MiB of memory in %u slot%s\n", info->nvcpus,
		info->nvcpus == 1 ? "" : "s", (unsigned long long)(memsz >> 20), info->nmem,
		info->nmem == 1 ? "" : "s");
	if (info->cmdline && info->cmdline[0])
		fprintf(f, "command      %s\n", info->cmdline);
	for (uint32_t i = 0; i < info->nkv; i++)
		fprintf(f, "%s%s=%s%s", i ? ", " : "keys         ", info->kv[i].key,
			info->kv[i].value, i + 1 == info->nkv ? "\n" : "");
	int64_t dur = duration_ns(info, s);
	if (dur >= 0)
		fprintf(f, "duration     %.3f s (%.0f exits/s)\n", (double)dur * 1e-9,
			dur ? (double)rs->exits / ((double)dur * 1e-9) : 0.0);
	else
		fprintf(f, "duration     not recorded\n");
	if (s->has_end) {
		/* The END record's status is the guest's (exit port) or the
		 * signal's number; `vcr run` exits with something else for most
		 * endings (3 for a triple fault): say which is which. */
		fprintf(f, "ended        %s", vcr_end_how_name(s->end_how));
		if (s->end_how == VCR_END_EXIT_PORT)
			fprintf(f, ", guest status %d", s->end_status);
		else if (s->end_how == VCR_END_VMM_EXIT)
			fprintf(f, ", status %d", s->end_status);
		else if (s->end_how == VCR_END_SIGNAL)
			fprintf(f, " %d", s->end_status);
		if (s->end_msg[0])
			fprintf(f, " (%s)", s->end_msg);
		fprintf(f, "; vcr %s exit status %d\n",
			s->end_how == VCR_END_VMM_EXIT ? "record" : "run",
			vmm_end_exit_status(s->end_how, s->end_status));
	} else {
		fprintf(f, "ended        no END record (still running, killed, or crashed)\n");
	}
	fprintf(f, "complete     %s", complete ? "yes" : "NO");
	if (!rs->has_footer)
		fprintf(f, "; no index footer (index rebuilt by scanning)");
	if (rs->truncated)
		fprintf(f, "; cut short after the last complete chunk");
	if (rs->damaged_chunks)
		fprintf(f, "; %llu damaged chunk%s skipped", (unsigned long long)rs->damaged_chunks,
			rs->damaged_chunks == 1 ? "" : "s");
	if (s->errors)
		fprintf(f, "; %llu read error%s (first: %s)", (unsigned long long)s->errors,
			s->errors == 1 ? "" : "s", s->first_error);
	fputc('\n', f);

	uint64_t nrecs = 0;
	for (int i = 0; i <= VCR_REC_LAST + 1; i++)
		nrecs += s->recs[i];
	fprintf(f, "\nsize         %llu bytes: header %llu, %llu in %llu chunk%s (keyframes %llu), "
		"index %llu\n", (unsigned long long)rs->file_size,
		(unsigned long long)rs->header_bytes, (unsigned long long)rs->chunk_bytes,
		(unsigned long long)rs->chunks, rs->chunks == 1 ? "" : "s",
		(unsigned long long)rs->keyframe_bytes, (unsigned long long)rs->index_bytes);
	fprintf(f, "records      %llu, exits %llu", (unsigned long long)nrecs,
		(unsigned long long)rs->exits);
	if (rs->first_seq)
		fprintf(f, " (#%llu on: a ring trace, the %llu older exits were dropped)",
			(unsigned long long)rs->first_seq, (unsigned long long)rs->first_seq);
	fputc('\n', f);
	fprintf(f, "per exit     %.2f bytes in the file\n",
		rs->exits ? (double)rs->file_size / (double)rs->exits : 0.0);
	uint64_t xraw = rs->exits ? rs->raw_bytes / rs->exits * s->xexits : 0;
	fprintf(f, "exit stream  %.2f bytes per exit: %llu bytes in %llu chunk%s without memory "
		"records, %llu exits (their states %.1fx compressed)\n",
		s->xexits ? (double)s->xbytes / (double)s->xexits : 0.0,
		(unsigned long long)s->xbytes, (unsigned long long)s->xchunks,
		s->xchunks == 1 ? "" : "s", (unsigned long long)s->xexits,
		s->xbytes ? (double)xraw / (double)s->xbytes : 0.0);
	fprintf(f, "memory       %llu bytes in %llu chunk%s with memory records (the loader's, "
		"the VMM's writes, checkpoints)\n", (unsigned long long)s->mbytes,
		(unsigned long long)s->mchunks, s->mchunks == 1 ? "" : "s");

	fprintf(f, "\nexits by reason\n");
	for (uint32_t r = 0; r <= STATS_REASONS; r++) {
		if (!s->reasons[r])
			continue;
		const char *n = r < STATS_REASONS ? vcr_exit_reason_name(r) : NULL;
		char other[32];
		if (!n) {
			snprintf(other, sizeof(other), r < STATS_REASONS ? "reason %u" : "other", r);
			n = other;
		}
		fprintf(f, "  %-18s %12llu %6.2f%%\n", n, (unsigned long long)s->reasons[r],
			pct(s->reasons[r], rs->exits));
	}
	fprintf(f, "exits by vCPU\n");
	for (uint32_t v = 0; v < info->nvcpus && v < VCR_TRACE_MAX_VCPUS; v++)
		fprintf(f, "  %-18u %12llu %6.2f%%\n", v, (unsigned long long)s->vcpu_exits[v],
			pct(s->vcpu_exits[v], rs->exits));
	text_top(f, "I/O ports", tops->ports, tops->nports, false, tops->n, rs->exits);
	text_top(f, "MMIO addresses", tops->mmio, tops->nmmio, true, tops->n, rs->exits);
	if (tops->nmmio && s->mmio.untracked)
		fprintf(f, "  %-18s %12llu\n", "(not tracked)", (unsigned long long)s->mmio.untracked);
	text_rips(f, tops, rs->exits, &s->rips);
	fprintf(f, "other records\n");
	for (uint32_t t = VCR_REC_INPUT; t <= VCR_REC_LAST + 1; t++)
		if (s->recs[t])
			fprintf(f, "  %-18s %12llu\n", t <= VCR_REC_LAST ? vcr_rec_type_name(t) :
				"unknown", (unsigned long long)s->recs[t]);
	if (s->mem_bytes)
		fprintf(f, "  %-18s %12llu\n", "memory bytes", (unsigned long long)s->mem_bytes);
	if (s->ckpts) {
		fprintf(f, "memory checkpoints\n");
		fprintf(f, "  %-18s %12llu (final: %llu)\n", "checkpoints",
			(unsigned long long)s->ckpts, (unsigned long long)s->ckpt_final);
		fprintf(f, "  %-18s %12llu\n", "dirty pages", (unsigned long long)s->ckpt_dirty);
		fprintf(f, "  %-18s %12llu (zero %llu, raw %llu, repeat %llu, xor %llu)\n",
			"pages stored", (unsigned long long)s->ckpt_pages,
			(unsigned long long)s->ckpt_enc[0], (unsigned long long)s->ckpt_enc[1],
			(unsigned long long)s->ckpt_enc[2], (unsigned long long)s->ckpt_enc[3]);
		fprintf(f, "  %-18s %12llu\n", "bytes (encoded)", (unsigned long long)s->ckpt_bytes);
	}
	lines_text(f, &s->lines);
}

/* Ports as numbers, MMIO addresses as hex strings. */
static void json_top(struct vcr_json *j, const char *key, const struct top *t, size_t n,
		     bool mmio)
{
	vcr_json_arr(j, key);
	for (size_t i = 0; i < n; i++) {
		vcr_json_obj(j, NULL);
		if (mmio)
			vcr_json_hex64(j, "addr", t[i].key >> 1);
		else
			vcr_json_u64(j, "port", t[i].key >> 1);
		vcr_json_str(j, "direction", top_direction(mmio, t[i].key));
		vcr_json_u64(j, "count", t[i].count);
		vcr_json_end(j);
	}
	vcr_json_end(j);
}

static void json_rips(struct vcr_json *j, const struct tops *t, const struct key_tab *rips)
{
	vcr_json_arr(j, "top_rips");
	for (size_t i = 0; i < t->nrips; i++) {
		vcr_json_obj(j, NULL);
		vcr_json_hex64(j, "rip", rip_key_rip(t->rips[i].key));
		vcr_json_u64(j, "mode", rip_key_mode(t->rips[i].key));
		vcr_json_u64(j, "count", t->rips[i].count);
		vcr_json_u64(j, "last_seq", t->rips[i].seq);
		vcr_json_u64(j, "last_vcpu", t->rips[i].vcpu);
		if (t->show_insn)
			vcr_json_insn(j, "insn", t->insn_rc[i] < 0 ? NULL : &t->insn[i]);
		vcr_json_end(j);
	}
	vcr_json_end(j);
	vcr_json_u64(j, "rips_untracked", rips->untracked);
}

static void print_json(FILE *f, const char *path, const struct vcr_trace_info *info,
		       const struct vcr_reader_stats *rs, const struct stats *s,
		       const struct tops *tops, bool complete)
{
	struct vcr_json j;
	char buf[32];

	vcr_json_init(&j, f);
	vcr_json_obj(&j, NULL);
	vcr_json_str(&j, "path", path);
	vcr_json_str(&j, "tool_version", info->tool_version);
	snprintf(buf, sizeof(buf), "%u.%u", info->version_major, info->version_minor);
	vcr_json_str(&j, "format", buf);
	vcr_json_u64(&j, "kvm_api_version", info->kvm_api_version);
	vcr_json_u64(&j, "sync_regs_mask", info->sync_regs_mask);
	vcr_json_u64(&j, "nvcpus", info->nvcpus);
	vcr_json_obj(&j, "image");
	vcr_json_str(&j, "mode", image_mode_name(info->image_mode));
	vcr_json_str(&j, "path", info->image_path);
	vcr_json_u64(&j, "size", info->image_size);
	vcr_json_end(&j);
	vcr_json_str(&j, "cmdline", info->cmdline);
	vcr_json_obj(&j, "keys");
	for (uint32_t i = 0; i < info->nkv; i++)
		vcr_json_str(&j, info->kv[i].key, info->kv[i].value);
	vcr_json_end(&j);
	int64_t dur = duration_ns(info, s);
	if (dur >= 0)
		vcr_json_i64(&j, "duration_ns", dur);
	else
		vcr_json_null(&j, "duration_ns");
	if (s->has_end) {
		vcr_json_obj(&j, "end");
		vcr_json_str(&j, "how", vcr_end_how_name(s->end_how));
		vcr_json_i64(&j, "status", s->end_status);
		vcr_json_i64(&j, "run_exit_status", vmm_end_exit_status(s->end_how, s->end_status));
		vcr_json_str(&j, "msg", s->end_msg);
		vcr_json_end(&j);
	} else {
		vcr_json_null(&j, "end");
	}
	vcr_json_bool(&j, "complete", complete);
	vcr_json_bool(&j, "has_footer", rs->has_footer);
	vcr_json_bool(&j, "truncated", rs->truncated);
	vcr_json_u64(&j, "damaged_chunks", rs->damaged_chunks);
	vcr_json_u64(&j, "read_errors", s->errors);
	vcr_json_u64(&j, "file_size", rs->file_size);
	vcr_json_u64(&j, "header_bytes", rs->header_bytes);
	vcr_json_u64(&j, "chunk_bytes", rs->chunk_bytes);
	vcr_json_u64(&j, "chunks", rs->chunks);
	vcr_json_u64(&j, "keyframe_bytes", rs->keyframe_bytes);
	vcr_json_u64(&j, "index_bytes", rs->index_bytes);
	vcr_json_u64(&j, "raw_bytes", rs->raw_bytes);
	vcr_json_u64(&j, "exits", rs->exits);
	vcr_json_u64(&j, "first_seq", rs->first_seq);
	vcr_json_fixed(&j, "bytes_per_exit",
		       rs->exits ? (double)rs->file_size / (double)rs->exits : 0.0, 3);
	vcr_json_fixed(&j, "compression_ratio",
		       rs->file_size ? (double)rs->raw_bytes / (double)rs->file_size : 0.0, 3);
	vcr_json_obj(&j, "exit_stream");
	vcr_json_u64(&j, "bytes", s->xbytes);
	vcr_json_u64(&j, "chunks", s->xchunks);
	vcr_json_u64(&j, "exits", s->xexits);
	vcr_json_fixed(&j, "bytes_per_exit", s->xexits ? (double)s->xbytes / (double)s->xexits : 0.0, 3);
	vcr_json_end(&j);
	vcr_json_obj(&j, "memory_chunks");
	vcr_json_u64(&j, "bytes", s->mbytes);
	vcr_json_u64(&j, "chunks", s->mchunks);
	vcr_json_end(&j);
	vcr_json_obj(&j, "records");
	for (uint32_t t = VCR_REC_EXIT; t <= VCR_REC_LAST + 1; t++)
		vcr_json_u64(&j, t <= VCR_REC_LAST ? vcr_rec_type_name(t) : "unknown", s->recs[t]);
	vcr_json_end(&j);
	vcr_json_obj(&j, "exits_by_reason");
	for (uint32_t r = 0; r <= STATS_REASONS; r++) {
		if (!s->reasons[r])
			continue;
		const char *n = r < STATS_REASONS ? vcr_exit_reason_name(r) : "other";
		if (!n) {
			snprintf(buf, sizeof(buf), "reason_%u", r);
			n = buf;
		}
		vcr_json_u64(&j, n, s->reasons[r]);
	}
	vcr_json_end(&j);
	vcr_json_arr(&j, "exits_by_vcpu");
	for (uint32_t v = 0; v < info->nvcpus && v < VCR_TRACE_MAX_VCPUS; v++)
		vcr_json_u64(&j, NULL, s->vcpu_exits[v]);
	vcr_json_end(&j);
	json_top(&j, "top_ports", tops->ports, tops->nports, false);
	json_top(&j, "top_mmio", tops->mmio, tops->nmmio, true);
	json_rips(&j, tops, &s->rips);
	vcr_json_u64(&j, "memory_bytes", s->mem_bytes);
	vcr_json_obj(&j, "checkpoints");
	vcr_json_u64(&j, "count", s->ckpts);
	vcr_json_u64(&j, "final", s->ckpt_final);
	vcr_json_u64(&j, "dirty_pages", s->ckpt_dirty);
	vcr_json_u64(&j, "pages", s->ckpt_pages);
	vcr_json_u64(&j, "zero_pages", s->ckpt_enc[0]);
	vcr_json_u64(&j, "raw_pages", s->ckpt_enc[1]);
	vcr_json_u64(&j, "repeat_pages", s->ckpt_enc[2]);
	vcr_json_u64(&j, "xor_pages", s->ckpt_enc[3]);
	vcr_json_u64(&j, "bytes", s->ckpt_bytes);
	vcr_json_end(&j);
	lines_json(&j, &s->lines);
	vcr_json_end(&j);
}

static int stats_opt(void *ctx, int val, const char *arg)
{
	struct tops *t = ctx;
	uint64_t v;
	if (val == 'n') {
		t->show_insn = false;
		return 0;
	}
	if (cli_number("stats", "top", arg, 10, 0, 65536 * 2, &v))
		return -1;
	t->n = (unsigned long)v;
	return 0;
}

/* The instruction at each listed rip, at the last exit there, with the
 * state of its vCPU at that exit. */
static void rips_insn(const char *path, struct tops *t)
{
	struct cli_insn ins;

	cli_insn_init(&ins, "stats", path);
	for (size_t i = 0; i < t->nrips; i++)
		t->insn_rc[i] = cli_insn_at_vcpu(&ins, t->rips[i].seq, t->rips[i].vcpu,
						 &t->insn[i]);
	cli_insn_fini(&ins);
}

static int cmd_stats(int argc, char **argv)
{
	static const struct option own[] = { { "top", 1, 0, 't' }, { "no-insn", 0, 0, 'n' } };
	struct tops t = { .n = 10, .show_insn = true };
	const struct cli_cmd cmd = {
		.name = "stats", .usage = usage, .nargs = 1, .common = CLI_OPT_JSON,
		.own = own, .nown = VCR_ARRAY_SIZE(own), .own_opt = stats_opt, .ctx = &t,
	};
	struct cli_opts o;
	struct vcr_reader *r = NULL;
	struct vcr_record *rec = NULL;
	struct stats *s = NULL;
	int rc, status = 2;

	if ((rc = cli_parse(&cmd, &o, argc, argv)) != CLI_GO_ON)
		return rc;
	const char *path = argv[optind];
	if (!(r = cli_open_trace("stats", path)))
		return 2;
	s = calloc(1, sizeof(*s));
	rec = malloc(sizeof(*rec));
	size_t nt = t.n ? t.n : 1;
	t.ports = calloc(nt, sizeof(*t.ports));
	t.mmio = calloc(nt, sizeof(*t.mmio));
	t.rips = calloc(nt, sizeof(*t.rips));
	t.insn = calloc(nt, sizeof(*t.insn));
	t.insn_rc = calloc(nt, sizeof(*t.insn_rc));
	if (!s || !rec || !t.ports || !t.mmio || !t.rips || !t.insn || !t.insn_rc ||
	    !(s->ports = calloc(65536 * 2, sizeof(uint64_t))) || tab_grow(&s->mmio) < 0 ||
	    tab_grow(&s->rips) < 0) {
		fprintf(stderr, "vcr stats: out of memory\n");
		goto out;
	}
	struct vcr_reader_stats rs0;
	vcr_reader_get_stats(r, &rs0);
	s->nchunks = rs0.chunks;
	s->chunk_exits = calloc(s->nchunks ? s->nchunks : 1, sizeof(*s->chunk_exits));
	s->chunk_mem = calloc(s->nchunks ? s->nchunks : 1, 1);
	if (!s->chunk_exits || !s->chunk_mem) {
		fprintf(stderr, "vcr stats: out of memory\n");
		goto out;
	}
	struct cli_read rd = { .r = r };
	while ((rc = cli_read_next(&rd, rec)) != 0) {
		if (rc < 0) {
			const struct vcr_err *re = vcr_reader_error(r);
			if (!s->errors++)
				snprintf(s->first_error, sizeof(s->first_error), "%s",
					 re->msg[0] ? re->msg : strerror(-rc));
			continue;
		}
		count_record(s, rec);
		struct vcr_reader_pos pos;
		vcr_reader_tell(r, &pos);
		if (pos.chunk < s->nchunks) {
			if (rec->type == VCR_REC_EXIT)
				s->chunk_exits[pos.chunk]++;
			else if (rec->type == VCR_REC_MEM_WRITE || rec->type == VCR_REC_MEM_PAGES ||
				 rec->type == VCR_REC_CKPT || rec->type == VCR_REC_CKPT_PAGES)
				s->chunk_mem[pos.chunk] = 1;
		}
	}
	for (uint64_t k = 0; k < s->nchunks; k++) {
		uint64_t b = vcr_reader_chunk_bytes(r, k);
		if (s->chunk_mem[k]) {
			s->mbytes += b;
			s->mchunks++;
		} else {
			s->xbytes += b;
			s->xchunks++;
			s->xexits += s->chunk_exits[k];
		}
	}
	struct vcr_reader_stats rs;
	vcr_reader_get_stats(r, &rs);
	t.nports = top_ports(s, t.ports, t.n);
	t.nmmio = top_tab(&s->mmio, t.mmio, t.n);
	t.nrips = top_tab(&s->rips, t.rips, t.n);
	if (t.show_insn)
		rips_insn(path, &t);
	bool complete = rs.has_footer && !rs.truncated && !rs.damaged_chunks && !s->errors &&
			s->has_end;
	if (o.json)
		print_json(stdout, path, vcr_reader_info(r), &rs, s, &t, complete);
	else
		print_text(stdout, path, vcr_reader_info(r), &rs, s, &t, complete);
	status = complete ? 0 : 1;
	if (cli_flush("stats", stdout))
		status = 2;
out:
	if (s) {
		free(s->chunk_exits);
		free(s->chunk_mem);
		free(s->ports);
		free(s->mmio.s);
		free(s->rips.s);
	}
	free(s);
	free(rec);
	free(t.ports);
	free(t.mmio);
	free(t.rips);
	free(t.insn);
	free(t.insn_rc);
	vcr_reader_close(r);
	return status;
}
VCR_COMMAND("stats", 42, cmd_stats, "summarize a trace: exits by reason/vCPU/port, sizes, end");
